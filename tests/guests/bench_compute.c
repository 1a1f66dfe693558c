/* bench_compute: a long loop with no exits (hvsim guest instructions per second). */
#include "tests/guests/rt.h"

#define LOOPS GUEST_BENCH_COMPUTE_LOOPS
_Static_assert(GUEST_BENCH_COMPUTE_INSNS_PER_LOOP == 5, "the loop below is 5 instructions");

void guest_main(unsigned vp, unsigned vp_count)
{
	(void)vp_count;
	if (vp != 0)
		return;
	uint64_t x = 88172645463325252ull, n = LOOPS, t;
	__asm__ volatile("1: mov %0, %2\n shl $13, %2\n xor %2, %0\n dec %1\n jnz 1b"
			 : "+r"(x), "+r"(n), "=&r"(t));
	rt_printf("bench_compute: %lu loops of 5 instructions, x=0x%lx\n", (unsigned long)LOOPS,
		  (unsigned long)x);
}
