/*
 * cpuid_msr_test: the exact CPUID policy answers (leaf 1, leaf 0xB, the Hyper-V leaves) for
 * 1, 2 and 64 VPs, that only listed leaves are ever changed, and every rule of the MSR table.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vtl2/cpuid.h"
#include "vtl2/msr.h"

/* A made-up hypervisor default for leaf 1: VMX, SMX and MONITOR set, hypervisor bit and HTT
   clear, brand/CLFLUSH in EBX[15:0], junk in the APIC-id and count fields. */
#define L1_EAX 0x000A0671u
#define L1_EBX 0xABCD5678u
#define L1_ECX 0x7FFAFBFFu
#define L1_EDX 0x0FEBFBFFu

static void apply(uint32_t vp, uint32_t n, uint32_t leaf, uint32_t sub, uint32_t r[4],
		  uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
	r[0] = a;
	r[1] = b;
	r[2] = c;
	r[3] = d;
	cpuid_apply(vp, n, leaf, sub, r);
}

static void assert_regs(const uint32_t r[4], uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
	assert_int_equal(r[0], a);
	assert_int_equal(r[1], b);
	assert_int_equal(r[2], c);
	assert_int_equal(r[3], d);
}

/* ---- CPUID ---- */

static void test_leaf1(void **state)
{
	(void)state;
	uint32_t r[4];
	/* Hypervisor bit set, VMX (5), SMX (6), MONITOR (3) cleared, the rest kept. */
	const uint32_t ecx = 0xFFFAFB97u;

	apply(0, 1, 1, 0, r, L1_EAX, L1_EBX, L1_ECX, L1_EDX);
	assert_regs(r, L1_EAX, 0x00015678u, ecx, L1_EDX);
	/* Two VPs: APIC id = VP index, count 2, HTT set. */
	apply(0, 2, 1, 0, r, L1_EAX, L1_EBX, L1_ECX, L1_EDX);
	assert_regs(r, L1_EAX, 0x00025678u, ecx, L1_EDX | (1u << 28));
	apply(1, 2, 1, 0, r, L1_EAX, L1_EBX, L1_ECX, L1_EDX);
	assert_regs(r, L1_EAX, 0x01025678u, ecx, L1_EDX | (1u << 28));
	apply(0, 64, 1, 0, r, L1_EAX, L1_EBX, L1_ECX, L1_EDX);
	assert_regs(r, L1_EAX, 0x00405678u, ecx, L1_EDX | (1u << 28));
	apply(63, 64, 1, 0, r, L1_EAX, L1_EBX, L1_ECX, L1_EDX);
	assert_regs(r, L1_EAX, 0x3F405678u, ecx, L1_EDX | (1u << 28));
	/* The subleaf is irrelevant; bits already clear stay clear. */
	apply(5, 64, 1, 7, r, 0, 0, 0, 0);
	assert_regs(r, 0, 0x05400000u, 0x80000000u, 1u << 28);
	/* More than 255 VPs saturate the 8-bit count. */
	apply(0, 300, 1, 0, r, 0, 0, 0, 0);
	assert_int_equal(r[1], 0x00FF0000u);
}

static void test_leaf_b(void **state)
{
	(void)state;
	uint32_t r[4];
	static const struct { uint32_t n, shift; } cases[] = { { 1, 0 }, { 2, 1 }, { 64, 6 },
							       { 3, 2 }, { 65, 7 } };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t n = cases[i].n;
		for (uint32_t vp = 0; vp < n; vp += (n > 2 ? n - 1 : 1)) {
			/* SMT level: 1 thread per core, shift 0. */
			apply(vp, n, 0xB, 0, r, ~0u, ~0u, ~0u, ~0u);
			assert_regs(r, 0, 1, 0x100, vp);
			/* Core level: every VP a core of the one package. */
			apply(vp, n, 0xB, 1, r, ~0u, ~0u, ~0u, ~0u);
			assert_regs(r, cases[i].shift, n, 0x201, vp);
			/* Invalid levels echo ECX[7:0] and keep the x2APIC id. */
			apply(vp, n, 0xB, 2, r, ~0u, ~0u, ~0u, ~0u);
			assert_regs(r, 0, 0, 2, vp);
			apply(vp, n, 0xB, 0x1FE, r, ~0u, ~0u, ~0u, ~0u);
			assert_regs(r, 0, 0, 0xFE, vp);
		}
	}
}

static void test_hv_leaves(void **state)
{
	(void)state;
	static const uint32_t counts[] = { 1, 2, 64 };
	uint32_t r[4];

	for (size_t i = 0; i < 3; i++) {
		uint32_t n = counts[i], vp = n - 1;
		/* Max leaf and "Microsoft Hv". */
		apply(vp, n, 0x40000000, 0, r, 1, 2, 3, 4);
		assert_regs(r, 0x4000000A, 0x7263694D, 0x666F736F, 0x76482074);
		assert_int_equal(memcmp(&r[1], "Microsoft Hv", 12), 0);
		/* Interface "Hv#1". */
		apply(vp, n, 0x40000001, 0, r, 1, 2, 3, 4);
		assert_regs(r, 0x31237648, 0, 0, 0);
		assert_int_equal(memcmp(&r[0], "Hv#1", 4), 0);
		/* Version: build 20348, 10.0. */
		apply(vp, n, 0x40000002, 0, r, 1, 2, 3, 4);
		assert_regs(r, 20348, 0x000A0000, 0, 0);
		/* Privileges: TIME_REF_COUNT, SynIC, synthetic timers, hypercall MSRs, VP index,
		 * reference TSC, frequency MSRs; post messages, signal events; EDX: frequency MSRs
		 * available, direct-mode timers (linux-guest-facts 2). */
		apply(vp, n, 0x40000003, 0, r, ~0u, ~0u, ~0u, ~0u);
		assert_regs(r, 0xA6E, 0x30, 0, 0x80100);
		assert_int_equal(r[0], CPUID_HV_PRIV_SYNIC | CPUID_HV_PRIV_HYPERCALL |
				 CPUID_HV_PRIV_VP_INDEX | CPUID_HV_PRIV_TIME_REF_COUNT |
				 CPUID_HV_PRIV_SYNTIMER | CPUID_HV_PRIV_REFERENCE_TSC |
				 CPUID_HV_PRIV_FREQUENCY_MSRS);
		assert_int_equal(r[1], CPUID_HV_PRIV_POST_MSG | CPUID_HV_PRIV_SIGNAL_EVT);
		/* Recommendations: remote TLB flush, cluster IPI, extended processor masks (bits 2,
		 * 10, 11); the APIC-access MSRs (bit 3) are not offered. */
		apply(vp, n, 0x40000004, 0, r, ~0u, ~0u, ~0u, ~0u);
		assert_regs(r, 0xC04, 0, 0, 0);
		/* Limits: max VPs and logical processors = the VP count. */
		apply(vp, n, 0x40000005, 0, r, ~0u, ~0u, ~0u, ~0u);
		assert_regs(r, n, n, 0, 0);
		for (uint32_t leaf = 0x40000006; leaf <= 0x4000000A; leaf++) {
			apply(vp, n, leaf, 0, r, ~0u, ~0u, ~0u, ~0u);
			assert_regs(r, 0, 0, 0, 0);
		}
		/* Past the max leaf: untouched. */
		apply(vp, n, 0x4000000B, 0, r, 1, 2, 3, 4);
		assert_regs(r, 1, 2, 3, 4);
	}
}

/* The intercept list is exactly the leaves the policy changes. */
static void test_leaf_list(void **state)
{
	(void)state;
	static const uint32_t expect[] = {
		0x1, 0xB, 0x40000000, 0x40000001, 0x40000002, 0x40000003, 0x40000004,
		0x40000005, 0x40000006, 0x40000007, 0x40000008, 0x40000009, 0x4000000A,
	};
	assert_int_equal(cpuid_leaf_count, sizeof(expect) / sizeof(expect[0]));
	for (size_t i = 0; i < cpuid_leaf_count; i++)
		assert_int_equal(cpuid_leaves[i], expect[i]);

	static const uint32_t bases[] = { 0, 0x40000000, 0x80000000 };
	for (size_t b = 0; b < 3; b++) {
		for (uint32_t leaf = bases[b]; leaf < bases[b] + 0x20; leaf++) {
			bool listed = false;
			for (size_t i = 0; i < cpuid_leaf_count; i++)
				listed |= cpuid_leaves[i] == leaf;
			/* A sentinel every listed leaf changes (leaf 1 sets the hypervisor bit). */
			uint32_t r[4] = { 0x5A5A5A5A, 0x5A5A5A5A, 0x5A5A5A5A, 0x5A5A5A5A };
			cpuid_apply(1, 2, leaf, 0, r);
			bool same = r[0] == 0x5A5A5A5A && r[1] == 0x5A5A5A5A &&
				    r[2] == 0x5A5A5A5A && r[3] == 0x5A5A5A5A;
			assert_int_equal(listed, !same);
		}
	}
}

/* ---- MSRs ---- */

static void assert_read(uint32_t n, uint32_t msr, uint64_t expect)
{
	uint64_t v = 0xBADBADBADull;
	assert_int_equal(msr_read(n, msr, &v), 0);
	assert_int_equal(v, expect);
}

static void assert_read_gp(uint32_t n, uint32_t msr)
{
	uint64_t v = 0xBADBADBADull;
	assert_int_equal(msr_read(n, msr, &v), -EPERM);
	assert_int_equal(v, 0xBADBADBADull);
}

static void test_msr_table(void **state)
{
	(void)state;
	static const uint32_t counts[] = { 1, 2, 64 };

	for (size_t i = 0; i < 3; i++) {
		uint32_t n = counts[i];
		/* IA32_PLATFORM_ID: read 0, read-only. */
		assert_read(n, 0x17, 0);
		assert_int_equal(msr_write(n, 0x17, 0), -EPERM);
		/* MSR_CORE_THREAD_COUNT: cores and threads = VP count, read-only. */
		assert_read(n, 0x35, ((uint64_t)n << 16) | n);
		assert_int_equal(msr_write(n, 0x35, ((uint64_t)n << 16) | n), -EPERM);
		/* IA32_FEATURE_CONTROL: locked, VMX off; no write, not even the same value. */
		assert_read(n, 0x3A, 1);
		assert_int_equal(msr_write(n, 0x3A, 1), -EPERM);
		assert_int_equal(msr_write(n, 0x3A, 5), -EPERM);
		/* IA32_BIOS_UPDT_TRIG: write-only, ignored. */
		assert_read_gp(n, 0x79);
		assert_int_equal(msr_write(n, 0x79, 0), 0);
		assert_int_equal(msr_write(n, 0x79, 0xFFFFF000ull), 0);
		/* IA32_BIOS_SIGN_ID: read 0, writes ignored (and do not change the read). */
		assert_read(n, 0x8B, 0);
		assert_int_equal(msr_write(n, 0x8B, 0x1234ull << 32), 0);
		assert_read(n, 0x8B, 0);
		/* MISC_FEATURES_ENABLES: 0 and only 0. */
		assert_read(n, 0x140, 0);
		assert_int_equal(msr_write(n, 0x140, 0), 0);
		assert_int_equal(msr_write(n, 0x140, 1), -EPERM);
		assert_int_equal(msr_write(n, 0x140, 1ull << 63), -EPERM);
		/* IA32_MISC_ENABLE: fast strings; writes keeping the value only. */
		assert_read(n, 0x1A0, 1);
		assert_int_equal(msr_write(n, 0x1A0, 1), 0);
		assert_int_equal(msr_write(n, 0x1A0, 0), -EPERM);
		assert_int_equal(msr_write(n, 0x1A0, 0x801), -EPERM);
		assert_int_equal(msr_write(n, 0x1A0, 1ull | (1ull << 32)), -EPERM);
	}
	/* The thread count fields are 16 bits wide. */
	assert_read(0x10003, 0x35, 0x30003);
}

static void test_msr_unknown(void **state)
{
	(void)state;
	static const uint32_t unknown[] = { 0x0, 0x10, 0x16, 0x18, 0x1B, 0x34, 0x36, 0x3B, 0x7A,
					    0x8A, 0x8C, 0x13F, 0x141, 0x19F, 0x1A1, 0x40000000,
					    0xC0000080, 0xFFFFFFFF };
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		assert_read_gp(2, unknown[i]);
		assert_int_equal(msr_write(2, unknown[i], 0), -EPERM);
		assert_int_equal(msr_write(2, unknown[i], 1), -EPERM);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_leaf1),
		cmocka_unit_test(test_leaf_b),
		cmocka_unit_test(test_hv_leaves),
		cmocka_unit_test(test_leaf_list),
		cmocka_unit_test(test_msr_table),
		cmocka_unit_test(test_msr_unknown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
