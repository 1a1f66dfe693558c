/* smp: every VP runs concurrently, increments a shared counter with lock xadd, VP 0 checks. */
#include "tests/guests/rt.h"

#define ITERATIONS 100000

static volatile uint64_t counter, arrived;
static volatile uint64_t seen_vp[GUEST_MAX_VPS], seen_count[GUEST_MAX_VPS];
static volatile uint64_t echo_ok[GUEST_MAX_VPS];

void guest_main(unsigned vp, unsigned vp_count)
{
	seen_vp[vp] = vp + 1;
	seen_count[vp] = vp_count;
	/* The echo register is per VP: interleaved OUT/IN pairs must not see each other. */
	uint32_t mine = 0x1000u * (vp + 1);
	bool ok = true;
	for (uint32_t i = 0; i < 200; i++) {
		outl(GUEST_PORT_ECHO, mine + i);
		if (inl(GUEST_PORT_ECHO) != mine + i + 1)
			ok = false;
	}
	echo_ok[vp] = ok;
	for (unsigned i = 0; i < ITERATIONS; i++)
		rt_xadd(&counter, 1);
	rt_xadd(&arrived, 1);
	if (vp != 0)
		return;
	GUEST_ASSERT(vp_count >= 2);
	uint64_t spins = 0;
	while (arrived < vp_count && spins < 2000000000ull) {
		cpu_pause();
		spins++;
	}
	GUEST_ASSERT_EQ(arrived, vp_count);
	rt_printf("smp: %u VPs, counter %lu\n", vp_count, (unsigned long)counter);
	GUEST_ASSERT_EQ(counter, (uint64_t)ITERATIONS * vp_count);
	for (unsigned v = 0; v < vp_count; v++) {
		GUEST_ASSERT_EQ(seen_vp[v], v + 1);
		GUEST_ASSERT_EQ(seen_count[v], vp_count);
		GUEST_ASSERT_EQ(echo_ok[v], 1);
	}
}
