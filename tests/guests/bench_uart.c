/* bench_uart: GUEST_BENCH_KIND_LOOPS exits of one kind and nothing else (make bench counts the
   paravisor's instructions per exit with callgrind: tests/bench/vtl2_icount.sh). */
#include "tests/guests/rt.h"

void guest_main(unsigned vp, unsigned vp_count)
{
	(void)vp_count;
	if (vp != 0)
		return;
	*(volatile uint32_t *)RT_IOAPIC_BASE = 1; /* IOREGSEL = VER (bench_ioapic reads it) */
	for (uint32_t i = 0; i < GUEST_BENCH_KIND_LOOPS; i++) {
		outb(0x3F8, 'x');
	}
	rt_exit(0);
}
