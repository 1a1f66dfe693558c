/* bench_cpuid: GUEST_BENCH_KIND_LOOPS exits of one kind and nothing else (make bench counts the
   paravisor's instructions per exit with callgrind: tests/bench/vtl2_icount.sh). */
#include "tests/guests/rt.h"

void guest_main(unsigned vp, unsigned vp_count)
{
	(void)vp_count;
	if (vp != 0)
		return;
	*(volatile uint32_t *)RT_IOAPIC_BASE = 1; /* IOREGSEL = VER (bench_ioapic reads it) */
	for (uint32_t i = 0; i < GUEST_BENCH_KIND_LOOPS; i++) {
		(void)cpuid(0x40000000, 0);
	}
	rt_exit(0);
}
