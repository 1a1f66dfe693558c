/*
 * The test-guest <-> paravisor contract: the test device (devices/testdev.h implements the
 * other side; tests/unit/dev_testdev_test.c checks both agree; docs/mezz-sim.md documents it). Plain #defines only: included by freestanding guest
 * code and by the host-side mini VTL2 alike.
 */
#ifndef MEZZ_TESTS_GUESTS_GUEST_ABI_H
#define MEZZ_TESTS_GUESTS_GUEST_ABI_H

/* Load address of every test guest (hvsim_vp_setup_long_mode reserves 0x1000-0x7FFF). */
#define GUEST_LOAD_BASE 0x100000
/* Entry code supports this many VPs (one stack each). */
#define GUEST_MAX_VPS 16
#define GUEST_STACK_SIZE 16384

/* COM1 (minimal 16550): THR at +0, LSR at +5 reads 0x60 (THR empty, transmitter idle). */
#define GUEST_PORT_COM1 0x3F8
#define GUEST_PORT_COM1_LSR 0x3FD
#define GUEST_COM1_LSR_THRE 0x20

/* 32-bit OUT: end the run. 0 = pass, anything else = failure code (0xFFFFFFFF reserved). */
#define GUEST_PORT_EXIT 0xF4
/* Echo register (per VP): IN returns the last OUT value + 1, at the access width. */
#define GUEST_PORT_ECHO 0xF0
/* OUT vector: the paravisor asserts that fixed interrupt vector to the writing VP now. */
#define GUEST_PORT_IRQ 0xF8
/* OUT vector: same, from a timer GUEST_IRQ_DELAY_MS milliseconds later (for HLT tests). */
#define GUEST_PORT_IRQ_DELAYED 0xF9
#define GUEST_IRQ_DELAY_MS 5
/* OUT gpn: the paravisor removes write access to that VTL0 page (ModifyVtlProtectionMask). */
#define GUEST_PORT_PROTECT 0xFA
/* OUT gpn: restore full access to the page. */
#define GUEST_PORT_UNPROTECT 0xFB
/* IN: number of VTL-protection (GPA) intercepts the paravisor has handled so far. Writes that
   hit a protected page are logged and skipped: they do not land. */
#define GUEST_PORT_PROT_COUNT 0xFC

/*
 * MMIO test device: one page at 0xFE000000. Reading byte i of the page gives byte (i & 3) of
 * the little-endian dword ((0xFE000000 + (i & ~3)) ^ 0x5A5A5A5A), so any access width and
 * offset has a known answer. Offsets 0x000-0x7FF ignore writes (the paravisor logs them);
 * offsets 0x800-0xFFF are scratch: writes land and later reads return them.
 */
#define GUEST_MMIO_BASE 0xFE000000ull
#define GUEST_MMIO_SIZE 0x1000
#define GUEST_MMIO_SCRATCH 0x800
#define GUEST_MMIO_PATTERN 0x5A5A5A5Au

/* Test MSR range: RDMSR returns the last WRMSR value (0 initially), per partition. */
#define GUEST_MSR_TEST_FIRST 0x4D5A0000u
#define GUEST_MSR_TEST_LAST 0x4D5A00FFu

/* The Hyper-V vendor leaf of the paravisor's CPUID policy (vtl2/cpuid.h). */
#define GUEST_CPUID_VENDOR_LEAF 0x40000000u
#define GUEST_CPUID_VENDOR_MAX 0x4000000Au

/* Hypercall status returned for unknown VMCALL codes. */
#define GUEST_HV_STATUS_INVALID_HYPERCALL_CODE 2

/* Benchmark guests (tests/bench/hvsim_bench.c knows these counts). */
#define GUEST_BENCH_COMPUTE_LOOPS 20000000ull /* 5 instructions each */
#define GUEST_BENCH_COMPUTE_INSNS_PER_LOOP 5
#define GUEST_BENCH_EXIT_OUTS 200000u
#define GUEST_BENCH_KIND_LOOPS 2000u /* bench_uart, bench_ioapic, bench_cpuid */

#endif
