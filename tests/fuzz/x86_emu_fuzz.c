/*
 * x86 decoder/emulator fuzz target. Input layout (short inputs are zero-padded):
 *   [0]      control: bits 0-1 mode (0/3 = 64-bit, 1 = 32-bit, 2 = 16-bit), bit 2 CPL 3,
 *            bit 3 memory callbacks fault (#PF) on every other access, bit 4 a callback fails
 *            with -EIO, bit 5 no cmpxchg callback, bit 6 CR0.AM + RFLAGS.AC
 *   [1]      how many instruction bytes are handed to x86_emu_step up front (the rest is
 *            reachable only through X86_EMU_FETCH)
 *   [2..3]   low 16 bits of RFLAGS
 *   [4..131] the 16 GPRs, little endian
 *   [132..]  instruction bytes, copied into a buffer of exactly that size so that ASan
 *            catches any read past them.
 * Checks: memory callbacks never see a size outside 1..64, fetches stay within 15 bytes of RIP
 * and inside the supplied bytes (never past the end, never before RIP), x86_decode is self-consistent (length in 1..15,
 * -ENODATA for every truncation, same answer on an exact-size copy), a fault or unsupported
 * result leaves the CPU state untouched, and a success advances RIP by the decoded length.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/x86_emu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HDR_SIZE 132u
#define RIP_BASE 0x7ff0001000ull

struct fctx {
	const uint8_t *insn;  /* exact-size copy of the instruction bytes */
	size_t insn_len;
	uint64_t rip;         /* linear address of insn[0] */
	unsigned accesses;
	unsigned ctl;
};

static int maybe_fault(struct fctx *c, gva_t la, struct x86_emu_fault *fault)
{
	c->accesses++;
	if ((c->ctl & 0x08) && (c->accesses & 1)) {
		fault->vector = X86_EXC_PF;
		fault->has_error_code = true;
		fault->error_code = 2;
		fault->cr2 = la.v;
		return -EFAULT;
	}
	if ((c->ctl & 0x10) && c->accesses == 3)
		return -EIO;
	return 0;
}

static int f_read(void *ctx, gva_t la, void *buf, unsigned size, enum x86_emu_access kind,
		  struct x86_emu_fault *fault)
{
	struct fctx *c = ctx;
	if (size < 1 || size > 64)
		abort();
	if (kind == X86_EMU_FETCH) {
		/* Never more than 15 bytes from the instruction start. */
		if (la.v >= c->rip && la.v - c->rip + size > X86_MAX_INSN_LEN)
			abort();
		/* Instruction fetch: only the supplied bytes exist, at CS:RIP onwards. */
		if (la.v < c->rip || la.v - c->rip > c->insn_len || c->insn_len - (la.v - c->rip) < size) {
			if (la.v < c->rip && la.v + X86_MAX_INSN_LEN > c->rip)
				abort(); /* fetched behind RIP */
			fault->vector = X86_EXC_PF;
			fault->has_error_code = true;
			fault->error_code = 0x10;
			fault->cr2 = la.v;
			return -EFAULT;
		}
		memcpy(buf, c->insn + (la.v - c->rip), size);
		return 0;
	}
	int rc = maybe_fault(c, la, fault);
	if (rc)
		return rc;
	uint8_t *out = buf;
	for (unsigned i = 0; i < size; i++)
		out[i] = (uint8_t)((la.v + i) * 0x9Du ^ (la.v >> 8));
	return 0;
}

static int f_write(void *ctx, gva_t la, const void *buf, unsigned size, struct x86_emu_fault *fault)
{
	struct fctx *c = ctx;
	if (size < 1 || size > 64)
		abort();
	volatile uint8_t sink = 0;
	for (unsigned i = 0; i < size; i++)
		sink ^= ((const uint8_t *)buf)[i];
	(void)sink;
	return maybe_fault(c, la, fault);
}

static int f_cmpxchg(void *ctx, gva_t la, void *old, const void *new_value, unsigned size,
		     struct x86_emu_fault *fault)
{
	struct fctx *c = ctx;
	if (size < 1 || size > 16)
		abort();
	int rc = maybe_fault(c, la, fault);
	if (rc)
		return rc;
	uint8_t cur[16];
	for (unsigned i = 0; i < size; i++)
		cur[i] = (uint8_t)((la.v + i) * 0x9Du ^ (la.v >> 8));
	if (memcmp(cur, old, size) != 0) {
		memcpy(old, cur, size);
		return 0;
	}
	volatile uint8_t sink = ((const uint8_t *)new_value)[size - 1];
	(void)sink;
	return 1;
}

static int f_in(void *ctx, uint16_t port, unsigned size, uint32_t *value, struct x86_emu_fault *fault)
{
	struct fctx *c = ctx;
	if (size != 1 && size != 2 && size != 4)
		abort();
	*value = port * 0x01010101u;
	return maybe_fault(c, gva(port), fault);
}

static int f_out(void *ctx, uint16_t port, unsigned size, uint32_t value, struct x86_emu_fault *fault)
{
	struct fctx *c = ctx;
	(void)value;
	if (size != 1 && size != 2 && size != 4)
		abort();
	return maybe_fault(c, gva(port), fault);
}

/* Field-wise: padding bytes of a struct copy are unspecified. */
static bool cpu_same(const struct x86_emu_cpu *a, const struct x86_emu_cpu *b)
{
	return memcmp(a->gpr, b->gpr, sizeof(a->gpr)) == 0 && a->rip == b->rip &&
	       a->rflags == b->rflags && a->cr0 == b->cr0 && a->cr4 == b->cr4 &&
	       a->efer == b->efer && memcmp(a->seg, b->seg, sizeof(a->seg)) == 0 &&
	       memcmp(a->xmm, b->xmm, sizeof(a->xmm)) == 0 && a->cpl == b->cpl;
}

static void check_decode(const uint8_t *bytes, size_t n, enum x86_mode mode)
{
	struct x86_insn insn, again;
	int len = x86_decode(bytes, n, mode, &insn);
	if (len == -EINVAL || len == -E2BIG || len == -ENODATA)
		return;
	if (len < 1 || len > X86_MAX_INSN_LEN || (size_t)len > n || insn.len != len)
		abort();
	/* Exact-size copy: the decoder must not need (or touch) anything past the length. */
	uint8_t *exact = malloc((size_t)len);
	if (!exact)
		return;
	memcpy(exact, bytes, (size_t)len);
	if (x86_decode(exact, (size_t)len, mode, &again) != len)
		abort();
	/* Every truncation must ask for more bytes rather than decode something shorter. */
	for (int cut = 0; cut < len; cut++) {
		int r = x86_decode(exact, (size_t)cut, mode, &again);
		if (r != -ENODATA && r != -EINVAL && r != -E2BIG)
			abort();
	}
	free(exact);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t hdr[HDR_SIZE];
	memset(hdr, 0, sizeof(hdr));
	memcpy(hdr, data, size < HDR_SIZE ? size : HDR_SIZE);
	size_t n = size > HDR_SIZE ? size - HDR_SIZE : 0;
	uint8_t *insn = malloc(n ? n : 1);
	if (!insn)
		return 0;
	if (n)
		memcpy(insn, data + HDR_SIZE, n);

	unsigned ctl = hdr[0];
	enum x86_mode mode = (ctl & 3) == 1 ? X86_MODE_32 : (ctl & 3) == 2 ? X86_MODE_16 : X86_MODE_64;

	struct x86_emu_cpu cpu;
	memset(&cpu, 0, sizeof(cpu));
	for (unsigned i = 0; i < X86_GPR_COUNT; i++)
		memcpy(&cpu.gpr[i], hdr + 4 + 8 * i, 8);
	/* Keep TF clear: a single-step trap after the instruction is the caller's business. */
	cpu.rflags = 0x2 | ((uint64_t)(hdr[2] | hdr[3] << 8) & 0xfeffu & ~(uint64_t)X86_FLAG_TF);
	cpu.cr0 = 0x80000011;
	cpu.cr4 = 0x620;      /* PAE, OSFXSR, OSXMMEXCPT */
	cpu.cpl = (ctl & 4) ? 3 : 0;
	if (ctl & 0x40) {
		cpu.cr0 |= 1u << 18;
		cpu.rflags |= X86_FLAG_AC;
	}
	uint16_t data_attr = 0x93 | (cpu.cpl << 5);
	for (unsigned s = 0; s < X86_SEG_COUNT; s++) {
		cpu.seg[s].limit = 0xffffffff;
		cpu.seg[s].attr = data_attr | 0x8000 | (mode != X86_MODE_16 ? 0x4000 : 0);
		cpu.seg[s].selector = (uint16_t)(0x10 | cpu.cpl);
		cpu.seg[s].base = s == X86_FS ? 0x10000 : 0;
	}
	cpu.seg[X86_CS].attr = (uint16_t)(0x9b | (cpu.cpl << 5) | 0x8000);
	if (mode == X86_MODE_64) {
		cpu.efer = 0x500;
		cpu.seg[X86_CS].attr |= 0x2000;
		cpu.rip = RIP_BASE;
	} else {
		cpu.efer = 0;
		if (mode == X86_MODE_32)
			cpu.seg[X86_CS].attr |= 0x4000;
		else
			cpu.cr0 &= ~0x80000000u; /* 16-bit protected mode without paging */
		cpu.rip = mode == X86_MODE_32 ? 0x401000 : 0x1000;
	}
	for (unsigned r = 0; r < 16; r++)
		for (unsigned b = 0; b < 16; b++)
			cpu.xmm[r][b] = (uint8_t)(r * 16 + b);

	check_decode(insn, n, mode);

	size_t given = hdr[1] < n ? hdr[1] : n;
	uint8_t *pre = malloc(given ? given : 1);
	if (!pre) {
		free(insn);
		return 0;
	}
	memcpy(pre, insn, given);

	struct fctx c = { .insn = insn, .insn_len = n, .rip = cpu.rip, .ctl = ctl };
	struct x86_emu_ops ops = { f_read, f_write, (ctl & 0x20) ? NULL : f_cmpxchg, f_in, f_out };
	struct x86_emu_cpu before = cpu;
	struct x86_emu_fault fault;
	memset(&fault, 0, sizeof(fault));
	enum x86_emu_result r = x86_emu_step(&cpu, pre, given, &ops, &c, &fault);

	struct x86_insn d;
	int len = x86_decode(insn, n, mode, &d);
	switch (r) {
	case X86_EMU_OK:
		/* Executed: the bytes must decode, and RIP moves past them (a rep string stopped
		 * early may leave RIP on the instruction). */
		if (len < 1)
			abort();
		if (cpu.rip != before.rip + (uint64_t)len && !(d.rep && cpu.rip == before.rip))
			abort();
		break;
	case X86_EMU_FAULT:
		if (fault.vector > 31)
			abort();
		/* A rep string instruction may legitimately commit the iterations done before
		 * the fault (RCX/RSI/RDI), as the hardware does. */
		if (!(len > 0 && d.rep) && !cpu_same(&cpu, &before))
			abort();
		break;
	case X86_EMU_UNSUPPORTED:
		if (!cpu_same(&cpu, &before))
			abort();
		break;
	case X86_EMU_ERROR:
		break;
	default:
		abort();
	}
	free(pre);
	free(insn);
	return 0;
}
