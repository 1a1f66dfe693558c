/* The bench_uart / bench_ioapic / bench_cpuid guests: GUEST_BENCH_KIND_LOOPS exits of one kind
   and nothing else (make bench counts the paravisor's instructions per exit with callgrind:
   tests/bench/vtl2_icount.sh). Each guest is this loop around one statement. */
#ifndef MEZZ_TESTS_GUESTS_BENCH_KIND_H
#define MEZZ_TESTS_GUESTS_BENCH_KIND_H

#include "tests/guests/rt.h"

#define BENCH_KIND_GUEST(one_exit)                                            \
	void guest_main(unsigned vp, unsigned vp_count)                       \
	{                                                                     \
		(void)vp_count;                                               \
		if (vp != 0)                                                  \
			return;                                               \
		*(volatile uint32_t *)RT_IOAPIC_BASE = 1; /* IOREGSEL = VER */ \
		for (uint32_t i = 0; i < GUEST_BENCH_KIND_LOOPS; i++) {       \
			one_exit;                                             \
		}                                                             \
		rt_exit(0);                                                   \
	}

#endif
