/*
 * hostile_rep: a REP INSB with a count of 2^40 into unbacked memory on VP 1 (the paravisor
 * emulates it in chunks, so VP 1 stays responsive), while VP 0 ends the run: the run must end
 * promptly instead of waiting for 2^40 iterations.
 */
#include "tests/guests/rt.h"

static volatile unsigned started;

void guest_main(unsigned vp, unsigned vp_count)
{
	if (vp == 1) {
		started = 1;
		uint64_t dst = 0xF0000000ul, cnt = 1ull << 40;
		__asm__ volatile("rep insb" : "+D"(dst), "+c"(cnt) : "d"(GUEST_PORT_ECHO) : "memory");
		rt_puts("hostile_rep: 2^40 iterations finished?!\n");
		rt_exit(1);
	}
	if (vp != 0)
		return;
	GUEST_ASSERT(vp_count >= 2);
	for (uint64_t spins = 0; !started && spins < 1000000000ull; spins++)
		cpu_pause();
	GUEST_ASSERT(started);
	/* Let VP 1 grind through a few chunks, then end the run. */
	for (volatile uint64_t i = 0; i < 2000000; i++)
		cpu_pause();
	rt_puts("hostile_rep: VP 1 is still inside REP INSB; ending the run\n");
}
