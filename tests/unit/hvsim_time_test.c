/*
 * hvsim's Hyper-V synthetic MSRs, clocks, synthetic timers and the VTL0 hypercalls the
 * hypervisor answers itself (hvsim_synth.c), driven by tiny VTL0 guests (byte arrays,
 * assembled from the Intel-syntax listings in the comments). Facts: linux-guest-facts 2-3,
 * hyperv-abi-facts 2.1/2.2/2.8. Interrupt handlers EOI the local APIC (xAPIC MMIO at
 * 0xFEE000B0). Each guest reports with `out 0xF4, eax` (write intercept);
 * the test reads the cpu_context and resumes after the OUT.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "hvcall/hv.h"
#include "tools/hvsim/hvsim.h"

#define CODE    0x100000ull
#define HANDLER 0x101000ull
#define IDT     0x10000ull
#define RUN_MSG 16
#define RUN_CTX 272
#define PL      16
#define REG_RIP 0x20010u
#define TSC_HZ  2000000000ull

static const uint8_t g_hcpage[] = {
	0xBC, 0x00, 0x00, 0x08, 0x00, 0xB9, 0x01, 0x00, 0x00, 0x40, 0xB8, 0x01,
	0x00, 0x20, 0x00, 0x31, 0xD2, 0x0F, 0x30, 0x0F, 0x32, 0xE7, 0xF4, 0xB9,
	0x00, 0x00, 0x00, 0x40, 0xB8, 0x00, 0x00, 0x01, 0x00, 0xBA, 0x06, 0x00,
	0x00, 0x81, 0x0F, 0x30, 0xB9, 0x01, 0x00, 0x00, 0x40, 0xB8, 0x01, 0x00,
	0x20, 0x00, 0x31, 0xD2, 0x0F, 0x30, 0x0F, 0x32, 0xE7, 0xF4, 0xB9, 0x02,
	0x00, 0x00, 0x00, 0xBA, 0x00, 0x00, 0x30, 0x00, 0x45, 0x31, 0xC0, 0xB8,
	0x00, 0x00, 0x20, 0x00, 0xFF, 0xD0, 0xE7, 0xF4, 0xB9, 0x5C, 0x00, 0x00,
	0x00, 0xB8, 0x00, 0x00, 0x20, 0x00, 0xFF, 0xD0, 0xE7, 0xF4,
};
static const uint8_t g_time[] = {
	0xB9, 0x20, 0x00, 0x00, 0x40, 0x0F, 0x32, 0xE7, 0xF4, 0xB9, 0x20, 0x00,
	0x00, 0x40, 0x0F, 0x32, 0xE7, 0xF4, 0xB9, 0x21, 0x00, 0x00, 0x40, 0xB8,
	0x01, 0x00, 0x30, 0x00, 0x31, 0xD2, 0x0F, 0x30, 0x0F, 0x31, 0x48, 0xC1,
	0xE2, 0x20, 0x48, 0x09, 0xD0, 0x49, 0x89, 0xC0, 0xB9, 0x20, 0x00, 0x00,
	0x40, 0x0F, 0x32, 0x48, 0xC1, 0xE2, 0x20, 0x48, 0x09, 0xD0, 0x49, 0x89,
	0xC1, 0x0F, 0x31, 0x48, 0xC1, 0xE2, 0x20, 0x48, 0x09, 0xD0, 0x49, 0x89,
	0xC2, 0xB9, 0x22, 0x00, 0x00, 0x40, 0x0F, 0x32, 0x49, 0x89, 0xC3, 0xB9,
	0x23, 0x00, 0x00, 0x40, 0x0F, 0x32, 0x49, 0x89, 0xC4, 0xB9, 0x10, 0x00,
	0x00, 0x00, 0x0F, 0x32, 0x48, 0xC1, 0xE2, 0x20, 0x48, 0x09, 0xD0, 0x49,
	0x89, 0xC5, 0xE7, 0xF4, 0xB9, 0x10, 0x00, 0x00, 0x00, 0xBA, 0x00, 0x01,
	0x00, 0x00, 0x31, 0xC0, 0x0F, 0x30, 0x0F, 0x31, 0xE7, 0xF4,
};
static const uint8_t g_oneshot[] = {
	0xBC, 0x00, 0x00, 0x08, 0x00, 0xB9, 0x20, 0x00, 0x00, 0x40, 0x0F, 0x32,
	0x48, 0xC1, 0xE2, 0x20, 0x48, 0x09, 0xD0, 0x48, 0x05, 0xA0, 0x86, 0x01,
	0x00, 0x48, 0x89, 0xC2, 0x48, 0xC1, 0xEA, 0x20, 0xB9, 0xB1, 0x00, 0x00,
	0x40, 0x0F, 0x30, 0xB9, 0xB0, 0x00, 0x00, 0x40, 0xB8, 0x01, 0x15, 0x00,
	0x00, 0x31, 0xD2, 0x0F, 0x30, 0xFB, 0xF4, 0xEB, 0xFE,
};
static const uint8_t g_periodic[] = {
	0xBC, 0x00, 0x00, 0x08, 0x00, 0xB9, 0xB3, 0x00, 0x00, 0x40, 0xB8, 0x20,
	0x4E, 0x00, 0x00, 0x31, 0xD2, 0x0F, 0x30, 0xB9, 0xB2, 0x00, 0x00, 0x40,
	0xB8, 0x03, 0x15, 0x00, 0x00, 0x0F, 0x30, 0xFB, 0xF4, 0xEB, 0xFD,
};
static const uint8_t g_handler[] = {
	0xB9, 0xB0, 0x00, 0x00, 0x40, 0x0F, 0x32, 0x89, 0xC3, 0xB8, 0xB0, 0x00,
	0xE0, 0xFE, 0xC7, 0x00, 0x00, 0x00, 0x00, 0x00, 0xB8, 0x50, 0x00, 0x00,
	0x00, 0xE7, 0xF4, 0x48, 0xCF,
};
static const uint8_t g_hcalls[] = {
	0xBC, 0x00, 0x00, 0x08, 0x00, 0xB9, 0x0B, 0x00, 0x01, 0x00, 0xBA, 0x60,
	0x00, 0x00, 0x00, 0x41, 0xB8, 0x01, 0x00, 0x00, 0x00, 0x0F, 0x01, 0xC1,
	0xE7, 0xF4, 0xFB, 0xF4, 0xFA, 0x48, 0xB9, 0x03, 0x00, 0x00, 0x00, 0x02,
	0x00, 0x00, 0x00, 0xBA, 0x00, 0x00, 0x30, 0x00, 0x45, 0x31, 0xC0, 0x0F,
	0x01, 0xC1, 0x48, 0xC1, 0xE8, 0x20, 0xE7, 0xF4, 0xB9, 0x02, 0x00, 0x00,
	0x00, 0xBA, 0x00, 0x01, 0x30, 0x00, 0x0F, 0x01, 0xC1, 0xE7, 0xF4, 0xB9,
	0x0B, 0x00, 0x01, 0x00, 0xBA, 0x08, 0x00, 0x00, 0x00, 0x41, 0xB8, 0x01,
	0x00, 0x00, 0x00, 0x0F, 0x01, 0xC1, 0xE7, 0xF4, 0xB9, 0x02, 0x00, 0x00,
	0x00, 0xBA, 0x04, 0x00, 0x30, 0x00, 0x0F, 0x01, 0xC1, 0xE7, 0xF4, 0x48,
	0xB9, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xBA, 0x00, 0x00,
	0x30, 0x00, 0x0F, 0x01, 0xC1, 0xE7, 0xF4, 0xB9, 0x15, 0x00, 0x00, 0x00,
	0xBA, 0x00, 0x02, 0x30, 0x00, 0x0F, 0x01, 0xC1, 0xE7, 0xF4, 0xFB, 0xF4,
	0xFA, 0xB9, 0x13, 0x00, 0x00, 0x00, 0xBA, 0x00, 0x03, 0x30, 0x00, 0x0F,
	0x01, 0xC1, 0xE7, 0xF4,
};
static const uint8_t g_hostile[] = {
	0xB9, 0xB0, 0x00, 0x00, 0x40, 0xB8, 0x00, 0x20, 0x00, 0x00, 0x31, 0xD2,
	0x0F, 0x30, 0xB9, 0x00, 0x00, 0x00, 0x40, 0xB8, 0x01, 0x00, 0x00, 0x00,
	0x0F, 0x30, 0xB9, 0x01, 0x00, 0x00, 0x40, 0xB8, 0x01, 0x00, 0x00, 0x10,
	0x0F, 0x30, 0xB9, 0x21, 0x00, 0x00, 0x40, 0xB8, 0x01, 0x00, 0x00, 0x10,
	0x0F, 0x30, 0xB9, 0x20, 0x00, 0x00, 0x40, 0x0F, 0x30, 0xB9, 0x22, 0x00,
	0x00, 0x40, 0x0F, 0x30,
};

static struct hvsim *mk(void)
{
	struct hvsim_config cfg = { .vp_count = 1, .mem_size = 8u << 20 };
	struct hvsim *sim = NULL;
	assert_int_equal(hvsim_create(&cfg, &sim), 0);
	assert_int_equal(hvsim_vp_setup_long_mode(sim, 0, CODE), 0);
	return sim;
}

static void load(struct hvsim *sim, uint64_t at, const void *code, size_t len)
{
	void *p = hvsim_gpa_ptr(sim, gpa(at), len);
	assert_non_null(p);
	memcpy(p, code, len);
}

static uint64_t u64at(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint32_t u32at(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

static void install(struct hvsim *sim, uint32_t type, uint32_t access, uint64_t param)
{
	uint8_t in[24] = { 0 };
	uint64_t self = ~0ull, result = ~0ull;
	memcpy(in, &self, 8);
	memcpy(in + 8, &access, 4);
	memcpy(in + 12, &type, 4);
	memcpy(in + 16, &param, 8);
	assert_int_equal(hvsim_hvcall(sim, 0, 0x4D, in, sizeof(in), NULL, 0, &result), 0);
	assert_int_equal(result & 0xFFFF, 0);
}

static uint64_t ctx(struct hvsim *sim, unsigned i)
{
	return u64at((uint8_t *)hvsim_vp_run_page(sim, 0) + RUN_CTX + 8 * i);
}

static void set_rip(struct hvsim *sim, uint64_t rip)
{
	union hv_register_value v = { .low = rip };
	assert_int_equal(hvsim_vp_set_register(sim, 0, REG_RIP, &v), 0);
}

/* Run to the next exit of `type`; returns the intercepted RIP. */
static uint64_t run_to(struct hvsim *sim, uint32_t type)
{
	assert_int_equal(hvsim_vp_run(sim, 0), 0);
	const uint8_t *m = (uint8_t *)hvsim_vp_run_page(sim, 0) + RUN_MSG;
	assert_int_equal(u32at(m), type);
	return u64at(m + PL + 24);
}

/* Run to the next `out 0xF4, eax`, step over it; returns EAX. */
static uint32_t report(struct hvsim *sim)
{
	uint64_t rip = run_to(sim, 0x80010000);
	set_rip(sim, rip + 2);
	return (uint32_t)ctx(sim, 0);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { 0, ms * 1000000L };
	nanosleep(&ts, NULL);
}

/* IDT gate for `vector` -> handler (interrupt gate, DPL 0, CS 0x08). */
static void gate(struct hvsim *sim, unsigned vector, uint64_t handler)
{
	uint8_t g[16] = { 0 };
	g[0] = (uint8_t)handler;
	g[1] = (uint8_t)(handler >> 8);
	g[2] = 0x08;
	g[5] = 0x8E;
	g[6] = (uint8_t)(handler >> 16);
	g[7] = (uint8_t)(handler >> 24);
	load(sim, IDT + 16 * vector, g, 16);
	union hv_register_value v = { .low = (uint64_t)0xFFF << 48, .high = IDT };
	assert_int_equal(hvsim_vp_set_register(sim, 0, 0x70000, &v), 0);
}

/*
 * HYPERCALL without GUEST_OS_ID stays disabled; with it the page at 0x200000 holds
 * VMCALL; RET, a flush called through it is answered by hvsim, code 0x5C goes to VTL2 with
 * RIP inside the page.
 */
static void test_hypercall_page(void **state)
{
	(void)state;
	struct hvsim *sim = mk();
	install(sim, 0, 2, 0xF4);
	load(sim, CODE, g_hcpage, sizeof(g_hcpage));
	uint8_t in[24] = { 0 };
	in[8] = 1; /* flags: all processors */
	load(sim, 0x300000, in, sizeof(in));
	assert_int_equal(report(sim), 0x200000);             /* enable ignored without OS id */
	assert_int_equal(report(sim), 0x200001);             /* enabled, GPN read back */
	const uint8_t *page = hvsim_gpa_ptr(sim, gpa(0x200000), 4096);
	static const uint8_t stub[4] = { 0x0F, 0x01, 0xC1, 0xC3 };
	assert_memory_equal(page, stub, 4);
	assert_int_equal(report(sim), 0);                    /* flush: SUCCESS from hvsim */
	uint64_t rip = run_to(sim, 0x80000050);              /* 0x5C: to VTL2 */
	assert_int_equal(rip, 0x200000);
	union hv_register_value v;
	assert_int_equal(hvsim_vp_get_register(sim, 0, 0x00090002, &v), 0); /* GuestOsId */
	assert_int_equal(v.low, 0x8100000600010000ull);
	hvsim_destroy(sim);
}

/* TIME_REF_COUNT, the reference TSC page, RDTSC, the frequency MSRs and IA32_TSC. */
static void test_clocks(void **state)
{
	(void)state;
	struct hvsim *sim = mk();
	install(sim, 0, 2, 0xF4);
	load(sim, CODE, g_time, sizeof(g_time));
	report(sim);
	uint64_t t1 = (ctx(sim, 2) << 32) | (uint32_t)ctx(sim, 0);
	uint64_t h1 = now_ns();
	sleep_ms(20);
	report(sim);
	uint64_t t2 = (ctx(sim, 2) << 32) | (uint32_t)ctx(sim, 0);
	uint64_t h2 = now_ns();
	assert_true(t2 > t1);
	/* 100 ns units: at least the 20 ms slept, at most the host time that passed. */
	assert_true(t2 - t1 >= 200000);
	assert_true(t2 - t1 <= (h2 - h1) / 100 + 20000);
	report(sim);
	const uint8_t *p = hvsim_gpa_ptr(sim, gpa(0x300000), 4096);
	uint32_t seq = u32at(p);
	uint64_t scale = u64at(p + 8);
	int64_t off = (int64_t)u64at(p + 16);
	assert_int_not_equal(seq, 0);
	/* scale = 2^64 * 10^7 / tsc_hz (rounded up) */
	assert_int_equal(scale, (uint64_t)((((unsigned __int128)10000000u << 64) + TSC_HZ - 1) /
					   TSC_HZ));
	uint64_t tsc_a = ctx(sim, 8), ref = ctx(sim, 9), tsc_b = ctx(sim, 10);
	uint64_t fa = (uint64_t)(((unsigned __int128)tsc_a * scale) >> 64) + (uint64_t)off;
	uint64_t fb = (uint64_t)(((unsigned __int128)tsc_b * scale) >> 64) + (uint64_t)off;
	assert_true(fa <= ref && ref <= fb);
	assert_true(tsc_b - tsc_a < TSC_HZ / 10);            /* one MSR read apart */
	assert_int_equal(ctx(sim, 11), TSC_HZ);              /* TSC_FREQUENCY */
	assert_int_equal(ctx(sim, 12), 200000000);           /* APIC_FREQUENCY */
	assert_true(ctx(sim, 13) >= tsc_b);                  /* RDMSR IA32_TSC is the same TSC */
	/* The guest's TSC advances at TSC_HZ against TIME_REF_COUNT (TSC_HZ / 10^7 per tick). */
	assert_true(tsc_a / (TSC_HZ / 10000000u) <= ref + 1);
	report(sim);                                          /* WRMSR TSC = 2^40; RDTSC */
	uint64_t tsc = (ctx(sim, 2) << 32) | (uint32_t)ctx(sim, 0);
	assert_true(tsc >= (1ull << 40) && tsc - (1ull << 40) < TSC_HZ);
	hvsim_destroy(sim);
}

/* A one-shot direct-mode STIMER0 wakes the HLTed VP with vector 0x50, then disables itself. */
static void test_stimer_oneshot(void **state)
{
	(void)state;
	struct hvsim *sim = mk();
	install(sim, 0, 2, 0xF4);
	gate(sim, 0x50, HANDLER);
	load(sim, HANDLER, g_handler, sizeof(g_handler));
	load(sim, CODE, g_oneshot, sizeof(g_oneshot));
	uint64_t t0 = now_ns();
	assert_int_equal(report(sim), 0x50);
	assert_true(now_ns() - t0 >= 9000000);                /* ~10 ms later, not at once */
	assert_int_equal(ctx(sim, 3), 0x1500);                /* enable bit cleared */
	hvsim_destroy(sim);
}

/* A periodic direct-mode STIMER1 (2 ms) fires again and again. */
static void test_stimer_periodic(void **state)
{
	(void)state;
	struct hvsim *sim = mk();
	install(sim, 0, 2, 0xF4);
	gate(sim, 0x50, HANDLER);
	load(sim, HANDLER, g_handler, sizeof(g_handler));
	load(sim, CODE, g_periodic, sizeof(g_periodic));
	uint64_t t0 = now_ns();
	for (int i = 0; i < 4; i++)
		assert_int_equal(report(sim), 0x50);
	assert_true(now_ns() - t0 >= 5000000);                /* 4 expiries >= 3 periods */
	hvsim_destroy(sim);
}

/*
 * Hypercalls answered by hvsim: fast self IPI, FlushVirtualAddressList with 2 reps, bad flush
 * flags, bad IPI vector, misaligned input, a rep count on a simple call, SendSyntheticClusterIpiEx
 * to all, FlushVirtualAddressSpaceEx whose bank list exceeds its variable header.
 */
static void test_flush_ipi_hypercalls(void **state)
{
	(void)state;
	struct hvsim *sim = mk();
	install(sim, 0, 2, 0xF4);
	/* handlers: mov eax, 0xFEE000B0; mov dword [rax], 0 (APIC EOI); mov eax, vector;
	 * out 0xF4, eax; iretq */
	static const uint8_t h60[] = { 0xB8, 0xB0, 0x00, 0xE0, 0xFE, 0xC7, 0x00, 0x00, 0x00,
				       0x00, 0x00, 0xB8, 0x60, 0x00, 0x00, 0x00, 0xE7, 0xF4,
				       0x48, 0xCF };
	static const uint8_t h61[] = { 0xB8, 0xB0, 0x00, 0xE0, 0xFE, 0xC7, 0x00, 0x00, 0x00,
				       0x00, 0x00, 0xB8, 0x61, 0x00, 0x00, 0x00, 0xE7, 0xF4,
				       0x48, 0xCF };
	gate(sim, 0x60, HANDLER);
	gate(sim, 0x61, HANDLER + 0x100);
	load(sim, HANDLER, h60, sizeof(h60));
	load(sim, HANDLER + 0x100, h61, sizeof(h61));
	uint8_t in[4096] = { 0 };
	in[8] = 1;                                    /* 0x300000: flush, all processors */
	in[0x100 + 8] = 0x10;                         /* 0x300100: reserved flag bit */
	in[0x200] = 0x61;                             /* 0x300200: IPI Ex vector 0x61, format 1 */
	in[0x208] = 1;
	in[0x300 + 24] = 1;                           /* 0x300300: FlushEx, sparse, bank 0 */
	in[0x300 + 32] = 1;
	load(sim, 0x300000, in, sizeof(in));
	load(sim, CODE, g_hcalls, sizeof(g_hcalls));
	assert_int_equal(report(sim), 0);            /* IPI: SUCCESS */
	assert_int_equal(report(sim), 0x60);         /* ... delivered after STI */
	assert_int_equal(report(sim), 2);            /* flush list: 2 reps done */
	assert_int_equal(report(sim), 5);            /* INVALID_PARAMETER */
	assert_int_equal(report(sim), 5);            /* vector 8: INVALID_PARAMETER */
	assert_int_equal(report(sim), 4);            /* INVALID_ALIGNMENT */
	assert_int_equal(report(sim), 3);            /* INVALID_HYPERCALL_INPUT */
	assert_int_equal(report(sim), 0);            /* IPI Ex to all */
	assert_int_equal(report(sim), 0x61);
	assert_int_equal(report(sim), 3);            /* bank beyond the variable header */
	hvsim_destroy(sim);
}

/* Reserved STIMER bits, HYPERCALL / REFERENCE_TSC pages outside RAM, writes to read-only
 * clocks: #GP each (seen as exception intercepts). */
static void test_hostile_msrs(void **state)
{
	(void)state;
	struct hvsim *sim = mk();
	install(sim, 3, 1, 13);
	load(sim, CODE, g_hostile, sizeof(g_hostile));
	static const uint64_t at[] = { 12, 36, 48, 55, 62 }; /* offsets of the faulting WRMSRs */
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		uint64_t rip = run_to(sim, 0x80010003);
		assert_int_equal(rip, CODE + at[i]);
		set_rip(sim, rip + 2);
	}
	union hv_register_value v;
	assert_int_equal(hvsim_vp_get_register(sim, 0, 0x00090001, &v), 0); /* Hypercall */
	assert_int_equal(v.low, 0);
	hvsim_destroy(sim);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hypercall_page),
		cmocka_unit_test(test_clocks),
		cmocka_unit_test(test_stimer_oneshot),
		cmocka_unit_test(test_stimer_periodic),
		cmocka_unit_test(test_flush_ipi_hypercalls),
		cmocka_unit_test(test_hostile_msrs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
