/* bench_exits: N OUTs to the echo port (hvsim + mini VTL2 exits per second). */
#include "tests/guests/rt.h"

#define OUTS GUEST_BENCH_EXIT_OUTS

void guest_main(unsigned vp, unsigned vp_count)
{
	(void)vp_count;
	if (vp != 0)
		return;
	for (uint32_t i = 0; i < OUTS; i++)
		outl(GUEST_PORT_ECHO, i);
	GUEST_ASSERT_EQ(inl(GUEST_PORT_ECHO), OUTS);
	rt_printf("bench_exits: %u OUTs\n", OUTS);
}
