/*
 * smp: every VP runs concurrently, increments a shared counter with lock xadd, VP 0 checks.
 * Then cross-modifying code: VP 1 keeps calling two functions 2 MiB apart (the same slot of
 * hvsim's per-VP block cache, so each call finds the other's entry there), VP 0 rewrites the
 * immediate of one; VP 1 must run the new instruction after its next serializing instruction
 * (SDM 8.1.3), not a translation of the old bytes.
 */
#include "tests/guests/rt.h"

#define ITERATIONS 100000
#define XMOD_OLD 0x1111u
#define XMOD_NEW 0x2222u

/* Two "mov eax, imm32; ret" functions, 2 MiB apart, written at run time. */
static uint8_t xmod_code[0x200000 + 4096] __attribute__((aligned(4096)));
static volatile uint64_t xmod_calls, xmod_seen_new, xmod_patched, xmod_ready;

static void put_fn(uint8_t *p, uint32_t imm)
{
	p[0] = 0xB8;
	p[1] = (uint8_t)imm;
	p[2] = (uint8_t)(imm >> 8);
	p[3] = (uint8_t)(imm >> 16);
	p[4] = (uint8_t)(imm >> 24);
	p[5] = 0xC3;
}

static uint32_t call_fn(const uint8_t *p)
{
	uint32_t r;
	__asm__ volatile("call *%1" : "=a"(r) : "r"(p) : "rcx", "rdx", "rsi", "rdi", "r8", "r9",
			 "r10", "r11", "memory");
	return r;
}

static void serialize(void)
{
	uint32_t a = 0, b, c = 0, d;
	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d) : : "memory");
}

/* VP 1: call both functions until the patched one answers XMOD_NEW (bounded). */
static void xmod_runner(void)
{
	uint8_t *f = xmod_code, *g = xmod_code + 0x200000;
	/* VP 0 writes both functions first: VP 1 may get here before it does. */
	for (uint64_t spins = 0; !xmod_ready && spins < 2000000000ull; spins++)
		cpu_pause();
	GUEST_ASSERT(xmod_ready);
	serialize();
	for (uint64_t i = 0; i < 20000000ull; i++) {
		uint32_t r = call_fn(f);
		GUEST_ASSERT_EQ(call_fn(g), XMOD_OLD);
		xmod_calls = i + 1;
		if (r == XMOD_NEW) {
			xmod_seen_new = 1;
			return;
		}
		GUEST_ASSERT_EQ(r, XMOD_OLD);
		if (xmod_patched)
			serialize();
	}
}

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
	if (vp == 0) {
		put_fn(xmod_code, XMOD_OLD);
		put_fn(xmod_code + 0x200000, XMOD_OLD);
		xmod_ready = 1;
	}
	for (unsigned i = 0; i < ITERATIONS; i++)
		rt_xadd(&counter, 1);
	rt_xadd(&arrived, 1);
	if (vp == 1) {
		xmod_runner();
		rt_xadd(&arrived, 1);
	}
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
	/* Cross-modifying code: let VP 1 run both functions a while, then rewrite one. */
	spins = 0;
	while (xmod_calls < 2000 && spins < 2000000000ull) {
		cpu_pause();
		spins++;
	}
	GUEST_ASSERT(xmod_calls >= 2000);
	xmod_code[1] = (uint8_t)XMOD_NEW;
	xmod_code[2] = (uint8_t)(XMOD_NEW >> 8);
	xmod_patched = 1;
	spins = 0;
	while (arrived < vp_count + 1 && spins < 4000000000ull) {
		cpu_pause();
		spins++;
	}
	GUEST_ASSERT_EQ(xmod_seen_new, 1);
	rt_printf("smp: VP 1 ran the rewritten code after %lu calls\n", (unsigned long)xmod_calls);
	GUEST_ASSERT_EQ(counter, (uint64_t)ITERATIONS * vp_count);
	for (unsigned v = 0; v < vp_count; v++) {
		GUEST_ASSERT_EQ(seen_vp[v], v + 1);
		GUEST_ASSERT_EQ(seen_count[v], vp_count);
		GUEST_ASSERT_EQ(echo_ok[v], 1);
	}
}
