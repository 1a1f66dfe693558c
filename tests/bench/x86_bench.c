/*
 * x86 decoder/emulator benchmark: a corpus of MMIO-style instructions (loads/stores of 1-8
 * bytes with various addressing, movzx, or/and/test on memory, small rep movs, movdqu) is
 * decoded+emulated by x86_emu_step with trivial memory callbacks, and decoded by x86_decode,
 * Zydis (decode only, no operands) and Capstone (detail off) in the same run. Prints ns per
 * instruction, instructions retired per instruction when perf counters are available, and
 * ratios against Zydis. The goal: our decode+emulate faster than Zydis decode alone.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <linux/perf_event.h>
#include <Zydis/Zydis.h>
/* Capstone's x86.h declares `enum x86_insn`, which clashes with our `struct x86_insn` tag:
 * rename it while its header is parsed (we use none of Capstone's x86 enums). */
#define x86_insn capstone_x86_insn
#include <capstone/capstone.h>
#undef x86_insn

#include "arch/x86_64/x86_emu.h"

struct bins {
	const char *name;
	uint8_t b[15];
	uint8_t n;
};

/* Base registers point into the fake MMIO window; RCX is the rep count. */
static const struct bins corpus[] = {
	{ "mov eax,[rbx+0x10]", { 0x8b, 0x43, 0x10 }, 3 },
	{ "mov [rbx],eax", { 0x89, 0x03 }, 2 },
	{ "mov [rdi],al", { 0x88, 0x07 }, 2 },
	{ "mov [rsi+rcx*2],ax", { 0x66, 0x89, 0x04, 0x4e }, 4 },
	{ "mov rax,[rbx+0x100]", { 0x48, 0x8b, 0x83, 0x00, 0x01, 0x00, 0x00 }, 7 },
	{ "mov [r8+0x100],rdx", { 0x49, 0x89, 0x90, 0x00, 0x01, 0x00, 0x00 }, 7 },
	{ "mov dword [rbx],imm32", { 0xc7, 0x03, 0x78, 0x56, 0x34, 0x12 }, 6 },
	{ "mov r9d,[rbx+rcx*4+0x20]", { 0x44, 0x8b, 0x4c, 0x8b, 0x20 }, 5 },
	{ "movzx eax,byte [rbx+4]", { 0x0f, 0xb6, 0x43, 0x04 }, 4 },
	{ "movzx ecx,word [rdx]", { 0x0f, 0xb7, 0x0a }, 3 },
	{ "or dword [rbx+8],0x10", { 0x83, 0x4b, 0x08, 0x10 }, 4 },
	{ "and dword [rbx],~1", { 0x83, 0x23, 0xfe }, 3 },
	{ "test byte [rbx+1],0x80", { 0xf6, 0x43, 0x01, 0x80 }, 4 },
	{ "test [rax],ecx", { 0x85, 0x08 }, 2 },
	{ "rep movsb (8)", { 0xf3, 0xa4 }, 2 },
	{ "rep movsd (8)", { 0xf3, 0xa5 }, 2 },
	{ "movdqu xmm0,[rbx]", { 0xf3, 0x0f, 0x6f, 0x03 }, 4 },
	{ "movdqu [rbx],xmm1", { 0xf3, 0x0f, 0x7f, 0x0b }, 4 },
};
#define NCORPUS (sizeof(corpus) / sizeof(corpus[0]))

#define WIN 0xfe000000ull /* fake MMIO window */
static uint8_t mmio[8192 + 64];

static int b_read(void *ctx, gva_t la, void *buf, unsigned size, enum x86_emu_access kind,
		  struct x86_emu_fault *fault)
{
	(void)ctx;
	(void)kind;
	(void)fault;
	uint64_t off = la.v - WIN;
	if (off > 8192 || size > 64)
		return -EIO;
	memcpy(buf, mmio + off, size);
	return 0;
}

static int b_write(void *ctx, gva_t la, const void *buf, unsigned size, struct x86_emu_fault *fault)
{
	(void)ctx;
	(void)fault;
	uint64_t off = la.v - WIN;
	if (off > 8192 || size > 64)
		return -EIO;
	memcpy(mmio + off, buf, size);
	return 0;
}

static const struct x86_emu_ops ops = { b_read, b_write, NULL, NULL, NULL };

static struct x86_emu_cpu tmpl;

static void init_cpu(void)
{
	memset(&tmpl, 0, sizeof(tmpl));
	for (unsigned r = 0; r < X86_GPR_COUNT; r++)
		tmpl.gpr[r] = WIN + 0x200;
	tmpl.gpr[X86_RCX] = 8;
	tmpl.gpr[X86_RSP] = 0x7ffc0000;
	tmpl.rip = 0x401000;
	tmpl.rflags = 0x202;
	tmpl.cr0 = 0x80050033;
	tmpl.cr4 = 0x3606e0;
	tmpl.efer = 0xd01;
	for (unsigned s = 0; s < X86_SEG_COUNT; s++) {
		tmpl.seg[s].limit = 0xffffffff;
		tmpl.seg[s].attr = 0xc093;
	}
	tmpl.seg[X86_CS].attr = 0xa09b;
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Instructions retired (user space) through perf_event_open; -1 when not permitted. */
static int perf_fd = -1;

static void perf_open(void)
{
	struct perf_event_attr a;
	memset(&a, 0, sizeof(a));
	a.type = PERF_TYPE_HARDWARE;
	a.size = sizeof(a);
	a.config = PERF_COUNT_HW_INSTRUCTIONS;
	a.disabled = 1;
	a.exclude_kernel = 1;
	a.exclude_hv = 1;
	perf_fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
}

static uint64_t perf_read(void)
{
	uint64_t v = 0;
	if (perf_fd >= 0 && read(perf_fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
		v = 0;
	return v;
}

enum which { W_EMU, W_DECODE, W_ZYDIS, W_CAPSTONE, W_COUNT };
static const char *const wnames[W_COUNT] = {
	"ours: decode+emulate", "ours: decode only", "Zydis: decode only", "Capstone: disasm, detail off",
};

static ZydisDecoder zdec;
static csh cs;
static cs_insn *csi;
static volatile uint64_t sink;

/* Runs `rounds` passes over the corpus (or one instruction if only >= 0); returns ns/insn. */
static double run(enum which w, unsigned rounds, int only, double *insn_per)
{
	struct x86_emu_cpu cpu = tmpl;
	struct x86_emu_fault fault;
	struct x86_insn in;
	ZydisDecodedInstruction zi;
	unsigned first = only >= 0 ? (unsigned)only : 0;
	unsigned last = only >= 0 ? (unsigned)only + 1 : NCORPUS;
	uint64_t acc = 0;
	if (perf_fd >= 0) {
		ioctl(perf_fd, PERF_EVENT_IOC_RESET, 0);
		ioctl(perf_fd, PERF_EVENT_IOC_ENABLE, 0);
	}
	double t0 = now_ns();
	for (unsigned r = 0; r < rounds; r++)
		for (unsigned i = first; i < last; i++) {
			const struct bins *c = &corpus[i];
			switch (w) {
			case W_EMU:
				/* Restore only what the instructions change (GPRs, RIP). */
				memcpy(cpu.gpr, tmpl.gpr, sizeof(cpu.gpr));
				cpu.rip = tmpl.rip;
				acc += (uint64_t)x86_emu_step(&cpu, c->b, c->n, &ops, NULL, &fault);
				break;
			case W_DECODE:
				acc += (uint64_t)x86_decode(c->b, c->n, X86_MODE_64, &in);
				break;
			case W_ZYDIS:
				acc += ZydisDecoderDecodeInstruction(&zdec, NULL, c->b, c->n, &zi);
				acc += zi.length;
				break;
			case W_CAPSTONE: {
				const uint8_t *code = c->b;
				size_t size = c->n;
				uint64_t addr = 0x401000;
				acc += cs_disasm_iter(cs, &code, &size, &addr, csi);
				break;
			}
			default:
				break;
			}
		}
	double t = now_ns() - t0;
	uint64_t ins = 0;
	if (perf_fd >= 0) {
		ioctl(perf_fd, PERF_EVENT_IOC_DISABLE, 0);
		ins = perf_read();
	}
	sink += acc;
	double n = (double)rounds * (last - first);
	if (insn_per)
		*insn_per = perf_fd >= 0 ? (double)ins / n : -1;
	return t / n;
}

/*
 * `x86_bench --count W ROUNDS`: run only implementation W (0 ours decode+emulate, 1 ours decode,
 * 2 Zydis, 3 Capstone) for ROUNDS passes and print the corpus size. tests/bench/x86_icount.sh
 * runs this under callgrind with two round counts: the difference is the instruction count per
 * decoded instruction, free of timing noise and of set-up costs.
 */
static int count_mode(int argc, char **argv)
{
	if (argc != 4 || strcmp(argv[1], "--count") != 0)
		return -1;
	int w = atoi(argv[2]);
	long rounds = atol(argv[3]);
	if (w < 0 || w >= W_COUNT || rounds < 0 || rounds > 1000000) {
		fprintf(stderr, "usage: x86_bench [--count 0-3 ROUNDS]\n");
		return 2;
	}
	run((enum which)w, (unsigned)rounds, -1, NULL);
	printf("%zu\n", NCORPUS);
	return 0;
}

int main(int argc, char **argv)
{
	init_cpu();
	memset(mmio, 0x5a, sizeof(mmio));
	if (!ZYAN_SUCCESS(ZydisDecoderInit(&zdec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64)) ||
	    cs_open(CS_ARCH_X86, CS_MODE_64, &cs) != CS_ERR_OK) {
		fprintf(stderr, "x86_bench: cannot initialise Zydis/Capstone\n");
		return 1;
	}
	cs_option(cs, CS_OPT_DETAIL, CS_OPT_OFF);
	csi = cs_malloc(cs);
	int cm = count_mode(argc, argv);
	if (cm >= 0)
		return cm;
	perf_open();

	/* Sanity: every corpus instruction must emulate (a benchmark of failures is worthless). */
	for (unsigned i = 0; i < NCORPUS; i++) {
		struct x86_emu_cpu cpu = tmpl;
		struct x86_emu_fault fault;
		enum x86_emu_result r = x86_emu_step(&cpu, corpus[i].b, corpus[i].n, &ops, NULL, &fault);
		if (r != X86_EMU_OK || cpu.rip != tmpl.rip + corpus[i].n) {
			fprintf(stderr, "x86_bench: '%s' does not emulate (result %d)\n", corpus[i].name, r);
			return 1;
		}
	}

	/* The machine is shared and noisy: many short trials, implementations interleaved,
	 * the minimum kept (the least disturbed run). Each trial ~10 ms of Zydis decoding. */
	unsigned rounds = 64;
	while (run(W_ZYDIS, rounds, -1, NULL) * rounds * NCORPUS < 1e7 && rounds < (1u << 24))
		rounds *= 2;
	double ns[W_COUNT], ipi[W_COUNT];
	for (unsigned w = 0; w < W_COUNT; w++)
		ns[w] = 1e30, ipi[w] = -1;
	for (unsigned k = 0; k < 25; k++)
		for (unsigned w = 0; w < W_COUNT; w++) {
			double ip;
			double v = run((enum which)w, rounds, -1, &ip);
			if (v < ns[w]) {
				ns[w] = v;
				ipi[w] = ip;
			}
		}
	printf("x86_bench: %zu MMIO-style instructions x %u rounds, min of 25 interleaved trials\n",
	       NCORPUS, rounds);
	for (unsigned w = 0; w < W_COUNT; w++) {
		printf("  %-30s %7.1f ns/insn", wnames[w], ns[w]);
		if (ipi[w] >= 0)
			printf("  %7.0f instructions/insn", ipi[w]);
		printf("  ratio vs Zydis decode %.2f\n", ns[w] / ns[W_ZYDIS]);
	}
	if (perf_fd < 0)
		printf("  (instruction counts: perf_event_open not permitted here)\n");
	printf("  goal (decode+emulate faster than Zydis decode-only): %s (%.2fx)\n",
	       ns[W_EMU] < ns[W_ZYDIS] ? "MET" : "NOT MET", ns[W_ZYDIS] / ns[W_EMU]);

	printf("  per instruction, ns: ours decode+emulate / Zydis decode-only (ratio)\n");
	unsigned r1 = rounds / 4 ? rounds / 4 : 1;
	for (unsigned i = 0; i < NCORPUS; i++) {
		double e = 1e30, z = 1e30;
		for (unsigned k = 0; k < 9; k++) {
			double v = run(W_EMU, r1, (int)i, NULL);
			e = v < e ? v : e;
			v = run(W_ZYDIS, r1, (int)i, NULL);
			z = v < z ? v : z;
		}
		printf("    %-26s %6.1f / %6.1f  (%.2f)\n", corpus[i].name, e, z, e / z);
	}
	cs_free(csi, 1);
	cs_close(&cs);
	return 0;
}
