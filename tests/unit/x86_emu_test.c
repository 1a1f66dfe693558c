/*
 * Focused tests of the x86 decoder and emulator (arch/x86_64/x86_decode.c, x86_emu.c):
 * instruction lengths and decoded fields for hand-checked encodings, each emulated family
 * with known inputs and outputs, and every fault path (#UD, #GP, #SS, #AC, #DE, #PF from a
 * callback, instruction fetch, REP interrupted by a fault). Expected values come from the
 * Intel SDM instruction pages, worked by hand.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "arch/x86_64/x86_emu.h"

/* ---- test machine: one flat window of guest memory, everything else faults ---- */

#define MEM_BASE 0x100000ull
#define MEM_SIZE 0x10000u
#define CODE     (MEM_BASE + 0x8000)
#define DATA     (MEM_BASE + 0x1000)

struct machine {
	uint8_t mem[MEM_SIZE];
	unsigned reads, writes, fetches, cmpxchgs;
	int fail_rc;             /* nonzero: every data access returns this */
	unsigned fault_after;    /* nonzero: the n-th data access (1-based) raises #PF */
	unsigned accesses;
	unsigned last_kind;
	uint16_t ports[4];       /* last OUT port/size/value log */
	uint32_t out_log[64];
	unsigned nout;
	uint32_t in_value;
	bool no_cmpxchg;
	unsigned race;           /* cmpxchg: another CPU bumps the first byte this many times */
	unsigned ins;            /* io_in calls */
};

static struct machine M;

static int pf(struct x86_emu_fault *f, uint64_t la, uint32_t ec)
{
	f->vector = X86_EXC_PF;
	f->has_error_code = true;
	f->error_code = ec;
	f->cr2 = la;
	return -EFAULT;
}

static int check(gva_t la, unsigned size, struct x86_emu_fault *f, uint32_t ec, bool data)
{
	if (data) {
		M.accesses++;
		if (M.fail_rc)
			return M.fail_rc;
		if (M.fault_after && M.accesses == M.fault_after)
			return pf(f, la.v, ec | 1);
	}
	if (la.v < MEM_BASE || la.v + size > MEM_BASE + MEM_SIZE)
		return pf(f, la.v, ec);
	return 0;
}

static int m_read(void *ctx, gva_t la, void *buf, unsigned size, enum x86_emu_access kind,
		  struct x86_emu_fault *f)
{
	(void)ctx;
	assert_true(size >= 1 && size <= 64);
	M.last_kind = kind;
	int rc = check(la, size, f, kind == X86_EMU_FETCH ? 0x10 : kind == X86_EMU_WRITE ? 2 : 0,
		       kind != X86_EMU_FETCH);
	if (rc)
		return rc;
	if (kind == X86_EMU_FETCH)
		M.fetches++;
	else
		M.reads++;
	memcpy(buf, M.mem + (la.v - MEM_BASE), size);
	return 0;
}

static int m_write(void *ctx, gva_t la, const void *buf, unsigned size, struct x86_emu_fault *f)
{
	(void)ctx;
	assert_true(size >= 1 && size <= 64);
	int rc = check(la, size, f, 2, true);
	if (rc)
		return rc;
	M.writes++;
	memcpy(M.mem + (la.v - MEM_BASE), buf, size);
	return 0;
}

static int m_cmpxchg(void *ctx, gva_t la, void *old, const void *nv, unsigned size,
		     struct x86_emu_fault *f)
{
	(void)ctx;
	int rc = check(la, size, f, 2, true);
	if (rc)
		return rc;
	M.cmpxchgs++;
	uint8_t *p = M.mem + (la.v - MEM_BASE);
	if (M.race) {
		M.race--;
		p[0]++;
	}
	if (memcmp(p, old, size)) {
		memcpy(old, p, size);
		return 0;
	}
	memcpy(p, nv, size);
	return 1;
}

static int m_in(void *ctx, uint16_t port, unsigned size, uint32_t *v, struct x86_emu_fault *f)
{
	(void)ctx;
	(void)f;
	M.ins++;
	*v = M.in_value + port;
	M.in_value += 0x11;
	(void)size;
	return 0;
}

static int m_out(void *ctx, uint16_t port, unsigned size, uint32_t v, struct x86_emu_fault *f)
{
	(void)ctx;
	(void)f;
	M.ports[0] = port;
	M.ports[1] = (uint16_t)size;
	if (M.nout < 64)
		M.out_log[M.nout++] = v;
	return 0;
}

static const struct x86_emu_ops OPS = { m_read, m_write, m_cmpxchg, m_in, m_out };
static const struct x86_emu_ops OPS_NOCX = { m_read, m_write, NULL, m_in, m_out };

static struct x86_emu_cpu cpu;
static struct x86_emu_fault flt;

static void setup_mode(enum x86_mode mode)
{
	memset(&M, 0, sizeof(M));
	memset(&cpu, 0, sizeof(cpu));
	memset(&flt, 0, sizeof(flt));
	cpu.rflags = 2;
	cpu.cr0 = 0x80000011;
	cpu.cr4 = 0x620;
	for (unsigned s = 0; s < X86_SEG_COUNT; s++) {
		cpu.seg[s].limit = 0xffffffff;
		cpu.seg[s].attr = 0x8093 | (mode != X86_MODE_16 ? 0x4000 : 0);
	}
	cpu.seg[X86_CS].attr = (uint16_t)(0x809b | (mode == X86_MODE_32 ? 0x4000 : 0));
	if (mode == X86_MODE_64) {
		cpu.efer = 0x500;
		cpu.seg[X86_CS].attr |= 0x2000;
	}
	cpu.rip = CODE;
}

static int reset(void **s)
{
	(void)s;
	setup_mode(X86_MODE_64);
	return 0;
}

/* Execute `code` at CODE (also placed in memory for fetches). */
static enum x86_emu_result run_ops(const void *code, size_t len, const struct x86_emu_ops *ops)
{
	memcpy(M.mem + (CODE - MEM_BASE), code, len);
	cpu.rip = CODE;
	return x86_emu_step(&cpu, code, len, ops, NULL, &flt);
}

static enum x86_emu_result run(const void *code, size_t len)
{
	return run_ops(code, len, &OPS);
}

#define RUN(...)                                                      \
	({                                                            \
		static const uint8_t c_[] = { __VA_ARGS__ };          \
		run(c_, sizeof(c_));                                  \
	})
#define RUN_OK(...)                                                   \
	do {                                                          \
		static const uint8_t c_[] = { __VA_ARGS__ };          \
		assert_int_equal(run(c_, sizeof(c_)), X86_EMU_OK);    \
		assert_int_equal(cpu.rip, CODE + sizeof(c_));         \
	} while (0)
#define RUN_FAULT(vec, ...)                                           \
	do {                                                          \
		static const uint8_t c_[] = { __VA_ARGS__ };          \
		struct x86_emu_cpu before_ = cpu;                     \
		before_.rip = CODE;                                   \
		assert_int_equal(run(c_, sizeof(c_)), X86_EMU_FAULT); \
		assert_int_equal(flt.vector, (vec));                  \
		assert_memory_equal(&before_, &cpu, sizeof(cpu));     \
	} while (0)

static uint64_t mem64(uint64_t la)
{
	uint64_t v;
	memcpy(&v, M.mem + (la - MEM_BASE), 8);
	return v;
}

static void set64(uint64_t la, uint64_t v)
{
	memcpy(M.mem + (la - MEM_BASE), &v, 8);
}

#define FL(f) (cpu.rflags & X86_FLAG_##f ? 1 : 0)

/* ---- decoder ---- */

struct len_case {
	enum x86_mode mode;
	int len;
	uint8_t n;
	uint8_t b[16];
};

static void test_decode_lengths(void **s)
{
	(void)s;
	static const struct len_case cases[] = {
		{ X86_MODE_64, 1, 1, { 0x90 } },
		{ X86_MODE_64, 2, 2, { 0x89, 0xc8 } },                       /* mov eax, ecx */
		{ X86_MODE_64, 3, 3, { 0x48, 0x89, 0xc8 } },                 /* mov rax, rcx */
		{ X86_MODE_64, 6, 6, { 0x8b, 0x05, 1, 2, 3, 4 } },           /* rip-relative */
		{ X86_MODE_64, 7, 7, { 0x8b, 0x04, 0x25, 1, 2, 3, 4 } },     /* [disp32] via SIB */
		{ X86_MODE_64, 4, 4, { 0x8b, 0x44, 0x24, 8 } },              /* [rsp+8] */
		{ X86_MODE_64, 3, 3, { 0x8b, 0x45, 0 } },                    /* [rbp+0] */
		{ X86_MODE_64, 4, 4, { 0x41, 0x8b, 0x45, 0 } },              /* [r13+0] */
		{ X86_MODE_64, 10, 10, { 0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8 } }, /* mov rax, imm64 */
		{ X86_MODE_64, 5, 5, { 0xb8, 1, 2, 3, 4 } },
		{ X86_MODE_64, 4, 4, { 0x66, 0xb8, 1, 2 } },
		{ X86_MODE_64, 9, 9, { 0xa1, 1, 2, 3, 4, 5, 6, 7, 8 } },     /* moffs64 */
		{ X86_MODE_64, 6, 6, { 0x67, 0xa1, 1, 2, 3, 4 } },           /* moffs32 */
		{ X86_MODE_64, 5, 5, { 0x67, 0x8b, 0x44, 0x24, 8 } },
		{ X86_MODE_64, 11, 11, { 0x48, 0xc7, 0x80, 1, 2, 3, 4, 5, 6, 7, 8 } }, /* mov [rax+d32], imm32 */
		{ X86_MODE_64, 10, 10, { 0x66, 0xc7, 0x84, 0x24, 1, 2, 3, 4, 5, 6 } },
		{ X86_MODE_64, 2, 2, { 0xf6, 0xd0 } },                       /* not al */
		{ X86_MODE_64, 3, 3, { 0xf6, 0xc0, 0x12 } },                 /* test al, 12 */
		{ X86_MODE_64, 6, 6, { 0xf7, 0xc0, 1, 2, 3, 4 } },           /* test eax, imm32 */
		{ X86_MODE_64, 5, 5, { 0x66, 0xf7, 0xc0, 1, 2 } },
		{ X86_MODE_64, 2, 2, { 0xf7, 0xd8 } },                       /* neg eax */
		{ X86_MODE_64, 4, 4, { 0xc8, 1, 2, 3 } },                    /* enter */
		{ X86_MODE_64, 5, 5, { 0xe8, 1, 2, 3, 4 } },
		{ X86_MODE_64, 6, 6, { 0x66, 0xe8, 1, 2, 3, 4 } },           /* Intel: 66 ignored */
		{ X86_MODE_64, 6, 6, { 0x0f, 0x84, 1, 2, 3, 4 } },
		{ X86_MODE_64, 2, 2, { 0x0f, 0x0b } },                       /* ud2 */
		{ X86_MODE_64, 2, 2, { 0x0f, 0xa2 } },                       /* cpuid */
		{ X86_MODE_64, 4, 4, { 0x0f, 0xba, 0xe0, 5 } },              /* bt eax, 5 */
		{ X86_MODE_64, 6, 6, { 0x66, 0x0f, 0x3a, 0x0f, 0xc1, 8 } },  /* palignr */
		{ X86_MODE_64, 5, 5, { 0x66, 0x0f, 0x38, 0x00, 0xc1 } },     /* pshufb */
		{ X86_MODE_64, 5, 5, { 0x66, 0x0f, 0x38, 0xf8, 0x01 } },     /* movdir64b */
		{ X86_MODE_64, 3, 3, { 0x0f, 0x20, 0x00 } },                 /* mov rax, cr0: mod ignored */
		{ X86_MODE_64, 4, 4, { 0xc5, 0xf8, 0x10, 0x00 } },           /* vmovups xmm0, [rax] */
		{ X86_MODE_64, 6, 6, { 0xc4, 0xe3, 0x79, 0x0f, 0xc1, 8 } },  /* vpalignr */
		{ X86_MODE_64, 3, 3, { 0xc5, 0xf8, 0x77 } },                 /* vzeroupper */
		{ X86_MODE_64, 6, 6, { 0x62, 0xf1, 0x7c, 0x48, 0x10, 0x00 } }, /* vmovups zmm0, [rax] */
		{ X86_MODE_64, 7, 7, { 0x62, 0xf1, 0x7c, 0x48, 0x10, 0x40, 1 } },
		{ X86_MODE_64, 2, 2, { 0x8f, 0xc0 } },                       /* pop rax (8F /0) */
		/* prefix soup: segment, 66, 67, F2, F3, LOCK repeated, then REX */
		{ X86_MODE_64, 9, 9, { 0x26, 0x66, 0x67, 0xf2, 0xf3, 0x64, 0x66, 0x48, 0x90 } },
		{ X86_MODE_64, 15, 15, { 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
					 0x66, 0x66, 0x66, 0x66, 0x90 } },
		/* 32-bit and 16-bit code */
		{ X86_MODE_32, 6, 6, { 0x8b, 0x05, 1, 2, 3, 4 } },           /* [disp32] */
		{ X86_MODE_32, 1, 1, { 0x40 } },                             /* inc eax */
		{ X86_MODE_32, 1, 1, { 0x06 } },                             /* push es */
		{ X86_MODE_32, 7, 7, { 0x9a, 1, 2, 3, 4, 5, 6 } },           /* call far ptr16:32 */
		{ X86_MODE_32, 6, 6, { 0x66, 0xea, 1, 2, 3, 4 } },           /* jmp far ptr16:16 */
		{ X86_MODE_32, 2, 2, { 0xc4, 0x00 } },                       /* les eax, [eax] */
		{ X86_MODE_32, 3, 3, { 0xc5, 0xf8, 0x77 } },                 /* VEX in 32-bit mode */
		{ X86_MODE_32, 4, 4, { 0x67, 0x8b, 0x46, 1 } },              /* 16-bit addr [bp+1] */
		{ X86_MODE_32, 2, 2, { 0xd4, 0x0a } },                       /* aam */
		{ X86_MODE_16, 4, 4, { 0x8b, 0x36, 1, 2 } },                 /* mov si, [disp16] */
		{ X86_MODE_16, 3, 3, { 0x8b, 0x40, 1 } },                    /* [bx+si+d8] */
		{ X86_MODE_16, 4, 4, { 0x8b, 0x80, 1, 2 } },                 /* [bx+si+d16] */
		{ X86_MODE_16, 3, 3, { 0xb8, 1, 2 } },
		{ X86_MODE_16, 6, 6, { 0x66, 0xb8, 1, 2, 3, 4 } },
		{ X86_MODE_16, 3, 3, { 0xe8, 1, 2 } },
		{ X86_MODE_16, 3, 3, { 0xa1, 1, 2 } },
		{ X86_MODE_16, 5, 5, { 0x67, 0x8b, 0x44, 0x24, 1 } },        /* 32-bit addr SIB */
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const struct len_case *c = &cases[k];
		struct x86_insn in;
		int n = x86_decode(c->b, c->n, c->mode, &in);
		int want = c->len;
		if (n != want)
			print_error("case %zu: got %d want %d\n", k, n, want);
		assert_int_equal(n, want);
		assert_int_equal(in.len, want);
		/* every truncation asks for more bytes */
		for (int cut = 0; cut < want; cut++)
			assert_int_equal(x86_decode(c->b, (size_t)cut, c->mode, &in), -ENODATA);
	}
}

static void test_decode_invalid(void **s)
{
	(void)s;
	static const uint8_t inv64[] = { 0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e, 0x1f, 0x27, 0x2f,
					 0x37, 0x3f, 0x60, 0x61, 0x82, 0x9a, 0xce, 0xd4, 0xd5,
					 0xd6, 0xea };
	struct x86_insn in;
	for (size_t k = 0; k < sizeof(inv64); k++) {
		uint8_t b[8] = { inv64[k], 0xc0, 0, 0, 0, 0, 0, 0 };
		assert_int_equal(x86_decode(b, sizeof(b), X86_MODE_64, &in), -EINVAL);
	}
	static const uint8_t two[][3] = { { 0x0f, 0x04 }, { 0x0f, 0x0f }, { 0x0f, 0x0a },
					  { 0x0f, 0x24 }, { 0x0f, 0xa6 }, { 0x0f, 0x38, 0x50 },
					  { 0x0f, 0x3a, 0x00 }, { 0xfe, 0xd0 }, { 0xff, 0xf8 },
					  { 0xc6, 0x08 }, { 0x8f, 0x20 }, { 0x8f, 0x1f } };
	for (size_t k = 0; k < sizeof(two) / sizeof(two[0]); k++) {
		uint8_t b[8] = { two[k][0], two[k][1], two[k][2], 0xc0, 0, 0, 0, 0 };
		assert_int_equal(x86_decode(b, sizeof(b), X86_MODE_64, &in), -EINVAL);
	}
	/* VEX after a 66 prefix or a REX is #UD */
	static const uint8_t vex66[] = { 0x66, 0xc5, 0xf8, 0x10, 0x00 };
	assert_int_equal(x86_decode(vex66, sizeof(vex66), X86_MODE_64, &in), -EINVAL);
	static const uint8_t vexrex[] = { 0x40, 0xc5, 0xf8, 0x10, 0x00 };
	assert_int_equal(x86_decode(vexrex, sizeof(vexrex), X86_MODE_64, &in), -EINVAL);
	/* encodings that exist only with some prefixes, operands or registers */
	static const uint8_t bad[][6] = {
		{ 2, 0x8d, 0xc0 },                   /* lea eax, eax */
		{ 3, 0xf0, 0x8b, 0x00 },             /* lock mov */
		{ 3, 0xf0, 0x01, 0xc0 },             /* lock add reg */
		{ 3, 0x0f, 0x6c, 0x00 },             /* punpcklqdq needs 66 */
		{ 4, 0xf3, 0x0f, 0x28, 0x00 },       /* movaps has no F3 form */
		{ 3, 0x0f, 0x13, 0xc0 },             /* movlps needs memory */
		{ 3, 0x0f, 0x50, 0x00 },             /* movmskps needs a register */
		{ 3, 0x0f, 0x20, 0xe8 },             /* mov rax, cr5 */
		{ 3, 0x0f, 0xba, 0x00 },             /* group 8 /0 */
		{ 4, 0x0f, 0x38, 0x50, 0x00 },       /* 0F38 50: no legacy encoding */
		{ 2, 0xdb, 0x20 },                   /* DB /4 memory */
		{ 2, 0xd9, 0xd1 },                   /* D9 D1 */
		{ 2, 0x8e, 0xc8 },                   /* mov cs, ax */
		{ 2, 0xff, 0xd8 },                   /* call far register */
		{ 4, 0xc5, 0xf8, 0x00, 0xc0 },       /* VEX map 1 opcode 00 */
		{ 4, 0xc5, 0xf8, 0x60, 0xc0 },       /* VEX punpcklbw needs 66 */
		{ 5, 0x8f, 0xe8, 0x78, 0x00, 0xc0 }, /* XOP map 8 opcode 00 */
	};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		uint8_t b[12] = { 0 };
		memcpy(b, bad[k] + 1, bad[k][0]);
		if (x86_decode(b, sizeof(b), X86_MODE_64, &in) != -EINVAL)
			print_error("bad case %zu\n", k);
		assert_int_equal(x86_decode(b, sizeof(b), X86_MODE_64, &in), -EINVAL);
	}
	/* and their valid neighbours */
	static const uint8_t good[][7] = {
		{ 4, 0x66, 0x0f, 0x6c, 0x00 },
		{ 3, 0xf0, 0x01, 0x00 },
		{ 3, 0x0f, 0x20, 0xc0 },
		{ 3, 0x0f, 0x22, 0xc0 },
		{ 4, 0x44, 0x0f, 0x20, 0xc0 },       /* cr8 */
		{ 2, 0xdf, 0xe0 },                   /* fnstsw ax */
		{ 4, 0xc5, 0xf9, 0x60, 0xc0 },
		{ 6, 0x8f, 0xe8, 0x78, 0xa2, 0xc0, 0 }, /* vpcmov */
		{ 3, 0x0f, 0x01, 0xd0 },             /* xgetbv */
		{ 4, 0x0f, 0x38, 0x00, 0x00 },       /* pshufb mm, [rax] */
	};
	for (size_t k = 0; k < sizeof(good) / sizeof(good[0]); k++) {
		uint8_t b[12] = { 0 };
		memcpy(b, good[k] + 1, good[k][0]);
		assert_int_equal(x86_decode(b, sizeof(b), X86_MODE_64, &in), good[k][0]);
	}
	/* 15-byte limit */
	uint8_t p[16];
	memset(p, 0x66, sizeof(p));
	p[15] = 0x90;
	assert_int_equal(x86_decode(p, sizeof(p), X86_MODE_64, &in), -E2BIG);
	memset(p, 0x2e, 11);
	static const uint8_t tail[] = { 0xc7, 0x00, 1, 2, 3, 4 }; /* 11 + 6 = 17 */
	memcpy(p + 11, tail, 5);
	assert_int_equal(x86_decode(p, 16, X86_MODE_64, &in), -E2BIG);
	/* never reads past size */
	assert_int_equal(x86_decode(p, 0, X86_MODE_64, &in), -ENODATA);
}

static void test_decode_fields(void **s)
{
	(void)s;
	struct x86_insn in;
	/* REX followed by a legacy prefix is ignored: 48 66 89 c8 = mov ax, cx */
	static const uint8_t a[] = { 0x48, 0x66, 0x89, 0xc8 };
	assert_int_equal(x86_decode(a, sizeof(a), X86_MODE_64, &in), 4);
	assert_int_equal(in.rex, 0);
	assert_int_equal(in.opsize, 2);
	/* last REP prefix and last segment override win */
	static const uint8_t b[] = { 0xf3, 0x2e, 0xf2, 0x65, 0x64, 0xa4 };
	assert_int_equal(x86_decode(b, sizeof(b), X86_MODE_64, &in), 6);
	assert_int_equal(in.rep, 0xf2);
	assert_int_equal(in.seg_override, X86_FS);
	/* REX.RXB: mov r9, [r10 + r11*4 + 0x10] = 4f 8b 4c 9a 10 */
	static const uint8_t c[] = { 0x4f, 0x8b, 0x4c, 0x9a, 0x10 };
	assert_int_equal(x86_decode(c, sizeof(c), X86_MODE_64, &in), 5);
	assert_int_equal(in.reg, X86_R9);
	assert_true(in.has_mem);
	assert_int_equal(in.mem.base, X86_R10);
	assert_int_equal(in.mem.index, X86_R11);
	assert_int_equal(in.mem.scale, 4);
	assert_int_equal(in.mem.disp, 0x10);
	assert_int_equal(in.mem.seg, X86_DS);
	/* [rbp-8] is SS-based; a DS override is ignored in 64-bit mode, FS is not */
	static const uint8_t d[] = { 0x3e, 0x8b, 0x45, 0xf8 };
	assert_int_equal(x86_decode(d, sizeof(d), X86_MODE_64, &in), 4);
	assert_int_equal(in.mem.seg, X86_SS);
	assert_int_equal(in.mem.disp, -8);
	assert_int_equal(x86_decode(d, sizeof(d), X86_MODE_32, &in), 4);
	assert_int_equal(in.mem.seg, X86_DS);
	/* RIP-relative and no-base SIB */
	static const uint8_t e[] = { 0x8b, 0x05, 0x78, 0x56, 0x34, 0x12 };
	assert_int_equal(x86_decode(e, sizeof(e), X86_MODE_64, &in), 6);
	assert_int_equal(in.mem.base, X86_GPR_COUNT);
	assert_int_equal(in.mem.disp, 0x12345678);
	static const uint8_t f[] = { 0x8b, 0x04, 0x8d, 0, 0, 0, 0x80 };
	assert_int_equal(x86_decode(f, sizeof(f), X86_MODE_64, &in), 7);
	assert_int_equal(in.mem.base, -1);
	assert_int_equal(in.mem.index, X86_RCX);
	assert_int_equal(in.mem.scale, 4);
	assert_int_equal(in.mem.disp, -0x80000000ll);
	/* 16-bit [bp+di+d8] is SS-based */
	static const uint8_t g[] = { 0x8b, 0x43, 0x7f };
	assert_int_equal(x86_decode(g, sizeof(g), X86_MODE_16, &in), 3);
	assert_int_equal(in.mem.base, X86_RBP);
	assert_int_equal(in.mem.index, X86_RDI);
	assert_int_equal(in.mem.seg, X86_SS);
	assert_int_equal(in.mem.addr_size, 2);
	/* imm sign extension and moffs zero extension */
	static const uint8_t h[] = { 0x48, 0x83, 0xc0, 0xff };
	assert_int_equal(x86_decode(h, sizeof(h), X86_MODE_64, &in), 4);
	assert_int_equal(in.imm, -1);
	static const uint8_t i[] = { 0xa0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	assert_int_equal(x86_decode(i, sizeof(i), X86_MODE_64, &in), 9);
	assert_true(in.has_mem);
	assert_int_equal((uint64_t)in.mem.disp, UINT64_MAX);
	/* VEX: flagged */
	static const uint8_t j[] = { 0xc4, 0x41, 0x78, 0x10, 0x08 };
	assert_int_equal(x86_decode(j, sizeof(j), X86_MODE_64, &in), 5);
	assert_true(in.vex);
	assert_int_equal(in.opcode_map, 1);
	assert_int_equal(in.reg, 9);
	assert_int_equal(in.mem.base, X86_R8);
}

/* ---- MOV family ---- */

static void test_mov(void **s)
{
	(void)s;
	cpu.gpr[X86_RBX] = DATA;
	cpu.gpr[X86_RAX] = 0x1122334455667788ull;
	RUN_OK(0x48, 0x89, 0x03);                         /* mov [rbx], rax */
	assert_int_equal(mem64(DATA), 0x1122334455667788ull);
	assert_int_equal(M.writes, 1);
	cpu.gpr[X86_RCX] = ~0ull;
	RUN_OK(0x8b, 0x0b);                               /* mov ecx, [rbx]: zero-extends */
	assert_int_equal(cpu.gpr[X86_RCX], 0x55667788ull);
	RUN_OK(0x8a, 0x63, 0x02);                         /* mov ah, [rbx+2] */
	assert_int_equal(cpu.gpr[X86_RAX], 0x1122334455666688ull);
	RUN_OK(0x40, 0x8a, 0x63, 0x02);                   /* with REX: mov spl, [rbx+2] */
	assert_int_equal(cpu.gpr[X86_RSP] & 0xff, 0x66);
	RUN_OK(0x66, 0xc7, 0x43, 0x08, 0x34, 0x12);       /* mov word [rbx+8], 0x1234 */
	assert_int_equal(mem64(DATA + 8) & 0xffff, 0x1234);
	RUN_OK(0x48, 0xc7, 0x43, 0x10, 0xfe, 0xff, 0xff, 0xff); /* sign-extended imm32 */
	assert_int_equal(mem64(DATA + 16), (uint64_t)-2);
	/* rip-relative store: disp relative to the next instruction */
	cpu.gpr[X86_RDX] = 0xabcdef;
	RUN_OK(0x89, 0x15, 0x00, 0x01, 0x00, 0x00);       /* mov [rip+0x100], edx */
	assert_int_equal(mem64(CODE + 6 + 0x100) & 0xffffffff, 0xabcdef);
	/* moffs */
	set64(DATA, 0x0102030405060708ull);
	RUN_OK(0x48, 0xa1, 0x00, 0x10, 0x10, 0, 0, 0, 0, 0); /* mov rax, [0x101000] */
	assert_int_equal(cpu.gpr[X86_RAX], 0x0102030405060708ull);
	RUN_OK(0xa2, 0x08, 0x10, 0x10, 0, 0, 0, 0, 0);    /* mov [0x101008], al */
	assert_int_equal(M.mem[0x1008], 0x08);
	/* movzx/movsx/movsxd */
	M.mem[0x1000] = 0x80;
	RUN_OK(0x48, 0x0f, 0xbe, 0x03);                   /* movsx rax, byte [rbx] */
	assert_int_equal(cpu.gpr[X86_RAX], 0xffffffffffffff80ull);
	RUN_OK(0x0f, 0xb6, 0x03);                         /* movzx eax, byte [rbx] */
	assert_int_equal(cpu.gpr[X86_RAX], 0x80);
	set64(DATA, 0x8000000080000000ull);
	RUN_OK(0x48, 0x63, 0x03);                         /* movsxd rax, [rbx] */
	assert_int_equal(cpu.gpr[X86_RAX], 0xffffffff80000000ull);
	RUN_OK(0x66, 0x0f, 0xbf, 0x03);                   /* movsx ax, word [rbx] */
	assert_int_equal(cpu.gpr[X86_RAX], 0xffffffff80000000ull);
	/* mov r/m, sreg */
	cpu.seg[X86_DS].selector = 0x2b;
	RUN_OK(0x8c, 0x1b);                               /* mov [rbx], ds */
	assert_int_equal(mem64(DATA) & 0xffff, 0x2b);
	assert_int_equal(RUN(0x8e, 0x1b), X86_EMU_UNSUPPORTED);
	assert_int_equal(cpu.rip, CODE);
}

/* ---- ALU ---- */

static void test_alu_known(void **s)
{
	(void)s;
	cpu.gpr[X86_RBX] = DATA;
	set64(DATA, 0x7fffffff);
	cpu.gpr[X86_RAX] = 1;
	RUN_OK(0x01, 0x03);                               /* add [rbx], eax */
	assert_int_equal(mem64(DATA), 0x80000000ull);
	assert_int_equal(FL(OF), 1);
	assert_int_equal(FL(SF), 1);
	assert_int_equal(FL(CF), 0);
	assert_int_equal(FL(AF), 1);
	assert_int_equal(FL(ZF), 0);
	assert_int_equal(FL(PF), 1);
	RUN_OK(0x83, 0x2b, 0x01);                         /* sub dword [rbx], 1 */
	assert_int_equal(mem64(DATA), 0x7fffffffull);
	assert_int_equal(FL(OF), 1);
	assert_int_equal(FL(CF), 0);
	/* cmp reads only */
	unsigned w = M.writes;
	RUN_OK(0x81, 0x3b, 0xff, 0xff, 0xff, 0x7f);       /* cmp dword [rbx], 0x7fffffff */
	assert_int_equal(M.writes, w);
	assert_int_equal(FL(ZF), 1);
	/* adc with carry in, sbb */
	cpu.rflags |= X86_FLAG_CF;
	set64(DATA, 0xff);
	RUN_OK(0x80, 0x13, 0x00);                         /* adc byte [rbx], 0 */
	assert_int_equal(M.mem[0x1000], 0);
	assert_int_equal(FL(CF), 1);
	assert_int_equal(FL(ZF), 1);
	RUN_OK(0x80, 0x1b, 0x00);                         /* sbb byte [rbx], 0 (CF=1) */
	assert_int_equal(M.mem[0x1000], 0xff);
	assert_int_equal(FL(CF), 1);
	assert_int_equal(FL(SF), 1);
	/* logic clears CF/OF */
	cpu.rflags |= X86_FLAG_OF | X86_FLAG_CF;
	cpu.gpr[X86_RCX] = 0xf0;
	RUN_OK(0x08, 0x0b);                               /* or [rbx], cl */
	assert_int_equal(M.mem[0x1000], 0xff);
	assert_int_equal(FL(CF) | FL(OF), 0);
	RUN_OK(0x22, 0x0b);                               /* and cl, [rbx] */
	assert_int_equal(cpu.gpr[X86_RCX], 0xf0);
	RUN_OK(0x48, 0x31, 0xc0);                         /* xor rax, rax */
	assert_int_equal(cpu.gpr[X86_RAX], 0);
	assert_int_equal(FL(ZF), 1);
	assert_int_equal(FL(PF), 1);
	RUN_OK(0x04, 0x7f);                               /* add al, 0x7f */
	assert_int_equal(cpu.gpr[X86_RAX], 0x7f);
	RUN_OK(0x66, 0x2d, 0x80, 0x00);                   /* sub ax, 0x80 */
	assert_int_equal(cpu.gpr[X86_RAX], 0xffff);
	assert_int_equal(FL(CF), 1);
	/* test, inc/dec keep CF, not, neg */
	cpu.rflags |= X86_FLAG_CF;
	RUN_OK(0xfe, 0x03);                               /* inc byte [rbx] */
	assert_int_equal(M.mem[0x1000], 0);
	assert_int_equal(FL(CF), 1);
	assert_int_equal(FL(ZF), 1);
	RUN_OK(0xff, 0x0b);                               /* dec dword [rbx] */
	assert_int_equal(mem64(DATA) & 0xffffffff, 0xffffffff);
	assert_int_equal(FL(CF), 1);
	RUN_OK(0xf7, 0x13);                               /* not dword [rbx] */
	assert_int_equal(mem64(DATA) & 0xffffffff, 0);
	M.mem[0x1000] = 0xff;
	RUN_OK(0xf6, 0x1b);                               /* neg byte [rbx] */
	assert_int_equal(M.mem[0x1000], 1);
	assert_int_equal(FL(CF), 1);
	RUN_OK(0xf6, 0x03, 0x01);                         /* test byte [rbx], 1 */
	assert_int_equal(FL(ZF), 0);
	cpu.gpr[X86_RAX] = 0xff;
	RUN_OK(0x84, 0x23);                               /* test [rbx], ah (=0) */
	assert_int_equal(FL(ZF), 1);
	/* 32-bit-mode inc reg */
	setup_mode(X86_MODE_32);
	cpu.rip = CODE;
	cpu.gpr[X86_RAX] = 0xffffffff;
	RUN_OK(0x40);
	assert_int_equal(cpu.gpr[X86_RAX], 0);
	assert_int_equal(FL(ZF), 1);
}

/* Exhaustive 8-bit add/adc/sub/sbb/cmp against arithmetic in wider integers. */
static void test_alu_exhaustive8(void **s)
{
	(void)s;
	static const uint8_t ops[] = { 0x00, 0x10, 0x28, 0x18, 0x38 }; /* add adc sub sbb cmp */
	uint8_t code[2] = { 0, 0xc8 };                                  /* op al, cl */
	for (unsigned o = 0; o < 5; o++) {
		code[0] = ops[o];
		bool sub = o >= 2;
		for (unsigned a = 0; a < 256; a += 3)
			for (unsigned b = 0; b < 256; b += 5)
				for (unsigned c = 0; c < 2; c++) {
					cpu.gpr[X86_RAX] = a;
					cpu.gpr[X86_RCX] = b;
					cpu.rflags = 2 | c;
					cpu.rip = CODE;
					assert_int_equal(x86_emu_step(&cpu, code, 2, &OPS, NULL, &flt),
							 X86_EMU_OK);
					unsigned cin = (o == 1 || o == 3) ? c : 0;
					int full = sub ? (int)a - (int)b - (int)cin : (int)(a + b + cin);
					int sfull = sub ? (int8_t)a - (int8_t)b - (int)cin
							: (int8_t)a + (int8_t)b + (int)cin;
					uint8_t r = (uint8_t)full;
					unsigned want_cf = sub ? full < 0 : full > 255;
					unsigned want_of = sfull < -128 || sfull > 127;
					unsigned want_af = sub ? (int)(a & 15) - (int)(b & 15) - (int)cin < 0
							       : (a & 15) + (b & 15) + cin > 15;
					assert_int_equal(FL(CF), want_cf);
					assert_int_equal(FL(OF), want_of);
					assert_int_equal(FL(AF), want_af);
					assert_int_equal(FL(ZF), r == 0);
					assert_int_equal(FL(SF), r >> 7);
					assert_int_equal(FL(PF), !__builtin_parity(r));
					assert_int_equal(cpu.gpr[X86_RAX], o == 4 ? a : r);
				}
	}
}

static void test_muldiv(void **s)
{
	(void)s;
	cpu.gpr[X86_RBX] = DATA;
	set64(DATA, 0x10);
	cpu.gpr[X86_RAX] = 0x20;
	RUN_OK(0xf6, 0x23);                               /* mul byte [rbx] */
	assert_int_equal(cpu.gpr[X86_RAX], 0x200);
	assert_int_equal(FL(CF), 1);
	assert_int_equal(FL(OF), 1);
	cpu.gpr[X86_RAX] = ~0ull;
	set64(DATA, 2);
	RUN_OK(0x48, 0xf7, 0x23);                         /* mul qword [rbx] */
	assert_int_equal(cpu.gpr[X86_RAX], ~0ull - 1);
	assert_int_equal(cpu.gpr[X86_RDX], 1);
	cpu.gpr[X86_RAX] = (uint64_t)-3;
	RUN_OK(0x48, 0xf7, 0x2b);                         /* imul qword [rbx] */
	assert_int_equal(cpu.gpr[X86_RAX], (uint64_t)-6);
	assert_int_equal(cpu.gpr[X86_RDX], ~0ull);
	assert_int_equal(FL(CF), 0);
	RUN_OK(0x6b, 0x03, 0x80);                         /* imul eax, [rbx], -128 */
	assert_int_equal(cpu.gpr[X86_RAX], 0xffffff00ull);
	assert_int_equal(FL(OF), 0);
	set64(DATA, 0x40000000);
	RUN_OK(0x0f, 0xaf, 0x03);                         /* imul eax, [rbx]: overflows */
	assert_int_equal(FL(OF), 1);
	assert_int_equal(FL(CF), 1);
	/* div: quotient and remainder; #DE on zero and on overflow */
	cpu.gpr[X86_RDX] = 1;
	cpu.gpr[X86_RAX] = 5;
	set64(DATA, 3);
	RUN_OK(0x48, 0xf7, 0x33);                         /* div qword [rbx]: (2^64+5)/3 */
	assert_int_equal(cpu.gpr[X86_RAX], 0x5555555555555557ull);
	assert_int_equal(cpu.gpr[X86_RDX], 0);
	set64(DATA, 0);
	RUN_FAULT(X86_EXC_DE, 0xf7, 0x33);
	assert_false(flt.has_error_code);
	set64(DATA, 1);
	cpu.gpr[X86_RDX] = 1;
	RUN_FAULT(X86_EXC_DE, 0xf7, 0x33);                /* edx:eax / 1 > 2^32 */
	/* idiv: -7 / 2 = -3 rem -1; INT_MIN / -1 is #DE */
	cpu.gpr[X86_RAX] = (uint64_t)-7;
	cpu.gpr[X86_RDX] = ~0ull;
	set64(DATA, 2);
	RUN_OK(0x48, 0xf7, 0x3b);
	assert_int_equal(cpu.gpr[X86_RAX], (uint64_t)-3);
	assert_int_equal(cpu.gpr[X86_RDX], (uint64_t)-1);
	cpu.gpr[X86_RAX] = 0x8000000000000000ull;
	cpu.gpr[X86_RDX] = ~0ull;
	set64(DATA, ~0ull);
	RUN_FAULT(X86_EXC_DE, 0x48, 0xf7, 0x3b);
	cpu.gpr[X86_RAX] = 0xff80;                        /* ax = -128 */
	M.mem[0x1000] = 0xff;
	RUN_FAULT(X86_EXC_DE, 0xf6, 0x3b);                /* idiv byte: -128 / -1 = 128 */
	cpu.gpr[X86_RAX] = 0xff81;                        /* ax = -127 */
	RUN_OK(0xf6, 0x3b);
	assert_int_equal(cpu.gpr[X86_RAX] & 0xffff, 0x007f);
}

static void test_shifts(void **s)
{
	(void)s;
	cpu.gpr[X86_RBX] = DATA;
	set64(DATA, 0x81);
	RUN_OK(0xd0, 0x23);                               /* shl byte [rbx], 1 */
	assert_int_equal(M.mem[0x1000], 0x02);
	assert_int_equal(FL(CF), 1);
	assert_int_equal(FL(OF), 1);                      /* msb(0x02)=0 ^ CF=1 */
	set64(DATA, 0x81);
	RUN_OK(0xd0, 0x2b);                               /* shr byte [rbx], 1 */
	assert_int_equal(M.mem[0x1000], 0x40);
	assert_int_equal(FL(CF), 1);
	assert_int_equal(FL(OF), 1);                      /* msb of the original */
	set64(DATA, 0x81);
	RUN_OK(0xc0, 0x3b, 0x04);                         /* sar byte [rbx], 4 */
	assert_int_equal(M.mem[0x1000], 0xf8);
	assert_int_equal(FL(CF), 0);
	assert_int_equal(FL(SF), 1);
	set64(DATA, 0x81);
	RUN_OK(0xd0, 0x03);                               /* rol byte [rbx], 1 */
	assert_int_equal(M.mem[0x1000], 0x03);
	assert_int_equal(FL(CF), 1);
	set64(DATA, 0x81);
	RUN_OK(0xd0, 0x0b);                               /* ror byte [rbx], 1 */
	assert_int_equal(M.mem[0x1000], 0xc0);
	assert_int_equal(FL(CF), 1);
	assert_int_equal(FL(OF), 0);                      /* msb ^ msb-1 = 1^1 */
	cpu.rflags &= ~X86_FLAG_CF;
	set64(DATA, 0x81);
	RUN_OK(0xd0, 0x13);                               /* rcl byte [rbx], 1 (CF=0) */
	assert_int_equal(M.mem[0x1000], 0x02);
	assert_int_equal(FL(CF), 1);
	RUN_OK(0xd0, 0x1b);                               /* rcr byte [rbx], 1 (CF=1) */
	assert_int_equal(M.mem[0x1000], 0x81);
	assert_int_equal(FL(CF), 0);
	/* rcl by 9 on a byte is the identity (count mod 9) */
	cpu.rflags |= X86_FLAG_CF;
	RUN_OK(0xc0, 0x13, 0x09);
	assert_int_equal(M.mem[0x1000], 0x81);
	assert_int_equal(FL(CF), 1);
	/* counts are masked to 5 bits (6 with REX.W); a zero count changes nothing */
	cpu.gpr[X86_RCX] = 0x20;
	set64(DATA, 1);
	cpu.rflags = 2 | X86_FLAG_OF;
	unsigned w = M.writes;
	RUN_OK(0xd3, 0x23);                               /* shl dword [rbx], cl (=0) */
	assert_int_equal(M.writes, w);
	assert_int_equal(cpu.rflags, 2 | X86_FLAG_OF);
	RUN_OK(0x48, 0xd3, 0x23);                         /* shl qword [rbx], 32 */
	assert_int_equal(mem64(DATA), 1ull << 32);
	/* 32-bit register destination is zero-extended even for count 0 */
	cpu.gpr[X86_RDX] = ~0ull;
	RUN_OK(0xd3, 0xe2);                               /* shl edx, cl (=0) */
	assert_int_equal(cpu.gpr[X86_RDX], 0xffffffffull);
	/* shld/shrd */
	cpu.gpr[X86_RAX] = 0x12345678;
	cpu.gpr[X86_RDX] = 0x9abcdef0;
	RUN_OK(0x0f, 0xa4, 0xd0, 0x08);                   /* shld eax, edx, 8 */
	assert_int_equal(cpu.gpr[X86_RAX], 0x3456789a);
	RUN_OK(0x0f, 0xac, 0xd0, 0x08);                   /* shrd eax, edx, 8 */
	assert_int_equal(cpu.gpr[X86_RAX], 0xf0345678);
	assert_int_equal(FL(CF), 1);                      /* last bit out: bit 7 of 0x9a */
}

static void test_bt(void **s)
{
	(void)s;
	cpu.gpr[X86_RBX] = DATA + 0x100;
	memset(M.mem + 0x1100 - 8, 0, 16);
	cpu.gpr[X86_RAX] = 70;                            /* beyond the operand: next qword */
	RUN_OK(0x48, 0x0f, 0xab, 0x03);                   /* bts [rbx], rax */
	assert_int_equal(mem64(DATA + 0x108), 1ull << 6);
	assert_int_equal(FL(CF), 0);
	RUN_OK(0x48, 0x0f, 0xa3, 0x03);                   /* bt */
	assert_int_equal(FL(CF), 1);
	cpu.gpr[X86_RAX] = (uint64_t)-1;                  /* bit 63 of the qword before */
	RUN_OK(0x48, 0x0f, 0xbb, 0x03);                   /* btc */
	assert_int_equal(mem64(DATA + 0xf8), 1ull << 63);
	cpu.gpr[X86_RAX] = (uint64_t)-9;                  /* 16-bit: word at -2, bit 7 */
	RUN_OK(0x66, 0x0f, 0xab, 0x03);
	assert_int_equal(M.mem[0x10fe], 0x80);
	RUN_OK(0x0f, 0xba, 0x33, 0x27);                   /* btr dword [rbx], 39 -> bit 7 */
	assert_int_equal(FL(CF), 0);
	RUN_OK(0xf0, 0x48, 0x0f, 0xb3, 0x03);             /* lock btr [rbx], rax */
	assert_int_equal(M.mem[0x10fe], 0x00);
	assert_int_equal(FL(CF), 1);
	assert_int_equal(M.cmpxchgs, 1);
	cpu.gpr[X86_RDX] = 0;
	cpu.gpr[X86_RCX] = 35;
	RUN_OK(0x0f, 0xab, 0xca);                         /* bts edx, ecx: mod 32 */
	assert_int_equal(cpu.gpr[X86_RDX], 8);
}

static void test_atomics(void **s)
{
	(void)s;
	cpu.gpr[X86_RBX] = DATA;
	set64(DATA, 5);
	cpu.gpr[X86_RAX] = 5;
	cpu.gpr[X86_RCX] = 9;
	RUN_OK(0xf0, 0x0f, 0xb1, 0x0b);                   /* lock cmpxchg [rbx], ecx */
	assert_int_equal(mem64(DATA), 9);
	assert_int_equal(FL(ZF), 1);
	assert_int_equal(M.cmpxchgs, 1);
	RUN_OK(0x0f, 0xb1, 0x0b);                         /* miss: eax <- 9 */
	assert_int_equal(cpu.gpr[X86_RAX], 9);
	assert_int_equal(FL(ZF), 0);
	assert_int_equal(mem64(DATA), 9);
	/* register form: only the written register is zero-extended */
	cpu.gpr[X86_RAX] = 0xffffffff00000001ull;
	cpu.gpr[X86_RDX] = 0xffffffff00000002ull;
	RUN_OK(0x0f, 0xb1, 0xca);                         /* cmpxchg edx, ecx: miss */
	assert_int_equal(cpu.gpr[X86_RAX], 2);
	assert_int_equal(cpu.gpr[X86_RDX], 0xffffffff00000002ull);
	/* xadd, xchg */
	set64(DATA, 10);
	cpu.gpr[X86_RCX] = 3;
	RUN_OK(0xf0, 0x0f, 0xc1, 0x0b);                   /* lock xadd [rbx], ecx */
	assert_int_equal(mem64(DATA), 13);
	assert_int_equal(cpu.gpr[X86_RCX], 10);
	cpu.gpr[X86_RCX] = 0x55;
	RUN_OK(0x86, 0x0b);                               /* xchg [rbx], cl */
	assert_int_equal(M.mem[0x1000], 0x55);
	assert_int_equal(cpu.gpr[X86_RCX], 13);
	cpu.gpr[X86_RCX] = 1;
	RUN_OK(0x0f, 0xc1, 0xc9);                         /* xadd ecx, ecx */
	assert_int_equal(cpu.gpr[X86_RCX], 2);
	/* cmpxchg8b hit and miss */
	set64(DATA, 0x0000000200000001ull);
	cpu.gpr[X86_RAX] = 1;
	cpu.gpr[X86_RDX] = 2;
	cpu.gpr[X86_RBX] = DATA;
	cpu.gpr[X86_RCX] = 0;
	cpu.gpr[X86_RSI] = DATA;
	RUN_OK(0xf0, 0x0f, 0xc7, 0x0e);                   /* lock cmpxchg8b [rsi] */
	assert_int_equal(mem64(DATA), (uint64_t)DATA & 0xffffffff);
	assert_int_equal(FL(ZF), 1);
	RUN_OK(0x0f, 0xc7, 0x0e);
	assert_int_equal(FL(ZF), 0);
	assert_int_equal(cpu.gpr[X86_RAX], (uint64_t)DATA & 0xffffffff);
	assert_int_equal(cpu.gpr[X86_RDX], 0);
	/* cmpxchg16b: 16-byte alignment, else #GP(0) */
	set64(DATA + 0x20, 7);
	set64(DATA + 0x28, 8);
	cpu.gpr[X86_RAX] = 7;
	cpu.gpr[X86_RDX] = 8;
	cpu.gpr[X86_RBX] = 0xaa;
	cpu.gpr[X86_RCX] = 0xbb;
	cpu.gpr[X86_RSI] = DATA + 0x20;
	RUN_OK(0xf0, 0x48, 0x0f, 0xc7, 0x0e);
	assert_int_equal(mem64(DATA + 0x20), 0xaa);
	assert_int_equal(mem64(DATA + 0x28), 0xbb);
	cpu.gpr[X86_RSI] = DATA + 0x28;
	RUN_FAULT(X86_EXC_GP, 0x48, 0x0f, 0xc7, 0x0e);
	assert_int_equal(flt.error_code, 0);
	RUN_FAULT(X86_EXC_UD, 0x0f, 0xc7, 0xc8);          /* register operand */
	/* another CPU changes the value between the load and the locked store: recomputed */
	set64(DATA + 0x40, 10);
	cpu.gpr[X86_RBX] = DATA + 0x40;
	M.race = 2;
	unsigned cx = M.cmpxchgs;
	RUN_OK(0xf0, 0x48, 0x83, 0x03, 0x05);             /* lock add qword [rbx], 5 */
	assert_int_equal(mem64(DATA + 0x40), 17);
	assert_int_equal(M.cmpxchgs, cx + 3);
	/* XCHG with memory is locked without a prefix */
	cpu.gpr[X86_RCX] = 0x77;
	RUN_OK(0x48, 0x87, 0x0b);
	assert_int_equal(M.cmpxchgs, cx + 4);
	assert_int_equal(cpu.gpr[X86_RCX], 17);
	assert_int_equal(mem64(DATA + 0x40), 0x77);
	/* without a cmpxchg callback LOCK falls back to read + write */
	cpu.gpr[X86_RBX] = DATA;
	set64(DATA, 1);
	static const uint8_t lock_add[] = { 0xf0, 0x83, 0x03, 0x02 };
	assert_int_equal(run_ops(lock_add, sizeof(lock_add), &OPS_NOCX), X86_EMU_OK);
	assert_int_equal(mem64(DATA), 3);
}

static void test_setcc_cmov(void **s)
{
	(void)s;
	cpu.gpr[X86_RBX] = DATA;
	set64(DATA, 0x1234);
	cpu.rflags = 2 | X86_FLAG_ZF;
	RUN_OK(0x0f, 0x94, 0x03);                         /* sete [rbx] */
	assert_int_equal(mem64(DATA), 0x1201);
	RUN_OK(0x0f, 0x9f, 0x03);                         /* setg: ZF=1 -> 0 */
	assert_int_equal(mem64(DATA), 0x1200);
	cpu.gpr[X86_RAX] = 0xffffffff00000005ull;
	RUN_OK(0x0f, 0x45, 0x03);                         /* cmovne eax, [rbx]: false */
	assert_int_equal(cpu.gpr[X86_RAX], 5);            /* still zero-extended */
	cpu.gpr[X86_RAX] = 0xffffffff00000005ull;
	RUN_OK(0x48, 0x0f, 0x45, 0x03);                   /* 64-bit false: untouched */
	assert_int_equal(cpu.gpr[X86_RAX], 0xffffffff00000005ull);
	RUN_OK(0x48, 0x0f, 0x44, 0x03);                   /* cmove rax, [rbx] */
	assert_int_equal(cpu.gpr[X86_RAX], 0x1200);
	cpu.rflags = 2 | X86_FLAG_SF;
	RUN_OK(0x0f, 0x9c, 0xc1);                         /* setl cl: SF != OF */
	assert_int_equal(cpu.gpr[X86_RCX] & 0xff, 1);
}

static void test_sse(void **s)
{
	(void)s;
	cpu.gpr[X86_RBX] = DATA;
	for (unsigned k = 0; k < 16; k++)
		M.mem[0x1000 + k] = (uint8_t)(0xa0 + k);
	memset(cpu.xmm[1], 0xee, 16);
	RUN_OK(0x0f, 0x10, 0x0b);                         /* movups xmm1, [rbx] */
	assert_memory_equal(cpu.xmm[1], M.mem + 0x1000, 16);
	RUN_OK(0xf3, 0x0f, 0x10, 0x0b);                   /* movss xmm1, [rbx]: zero upper */
	assert_int_equal(cpu.xmm[1][4], 0);
	assert_int_equal(cpu.xmm[1][0], 0xa0);
	memset(cpu.xmm[2], 0x11, 16);
	RUN_OK(0xf2, 0x0f, 0x10, 0xd1);                   /* movsd xmm2, xmm1: merge low 8 */
	assert_int_equal(cpu.xmm[2][3], 0xa3);
	assert_int_equal(cpu.xmm[2][4], 0);
	assert_int_equal(cpu.xmm[2][8], 0x11);
	RUN_OK(0x66, 0x44, 0x0f, 0x7f, 0x53, 0x10);       /* movdqa [rbx+16], xmm10 */
	assert_memory_equal(M.mem + 0x1010, cpu.xmm[10], 16);
	RUN_FAULT(X86_EXC_GP, 0x0f, 0x29, 0x4b, 0x08);    /* movaps [rbx+8]: misaligned */
	RUN_OK(0x0f, 0x11, 0x4b, 0x08);                   /* movups is fine */
	cpu.gpr[X86_RAX] = 0x1122334455667788ull;
	RUN_OK(0x66, 0x48, 0x0f, 0x6e, 0xc0);             /* movq xmm0, rax */
	assert_int_equal(cpu.xmm[0][0], 0x88);
	assert_int_equal(cpu.xmm[0][8], 0);
	RUN_OK(0x66, 0x0f, 0x7e, 0x03);                   /* movd [rbx], xmm0 */
	assert_int_equal(mem64(DATA) & 0xffffffff, 0x55667788);
	RUN_OK(0x66, 0x0f, 0xd6, 0x43, 0x20);             /* movq [rbx+32], xmm0 */
	assert_int_equal(mem64(DATA + 32), 0x1122334455667788ull);
	RUN_OK(0x66, 0x0f, 0x38, 0x2a, 0x03);             /* movntdqa xmm0, [rbx] */
	assert_memory_equal(cpu.xmm[0], M.mem + 0x1000, 16);
	RUN_OK(0x48, 0x0f, 0xc3, 0x43, 0x30);             /* movnti [rbx+48], rax */
	assert_int_equal(mem64(DATA + 48), 0x1122334455667788ull);
	/* CR0.TS -> #NM, CR4.OSFXSR=0 -> #UD; MMX and VEX forms are not emulated */
	cpu.cr0 |= 8;
	RUN_FAULT(X86_EXC_NM, 0x0f, 0x10, 0x0b);
	cpu.cr0 &= ~8ull;
	cpu.cr4 &= ~0x200ull;
	RUN_FAULT(X86_EXC_UD, 0x0f, 0x10, 0x0b);
	cpu.cr4 |= 0x200;
	assert_int_equal(RUN(0x0f, 0x6f, 0x03), X86_EMU_UNSUPPORTED);
	assert_int_equal(RUN(0xc5, 0xf8, 0x10, 0x03), X86_EMU_UNSUPPORTED);
	assert_int_equal(cpu.rip, CODE);
}

static void test_movdir64b(void **s)
{
	(void)s;
	for (unsigned k = 0; k < 64; k++)
		M.mem[0x1000 + k] = (uint8_t)k;
	cpu.gpr[X86_RSI] = DATA;
	cpu.gpr[X86_RDI] = DATA + 0x200;
	RUN_OK(0x66, 0x0f, 0x38, 0xf8, 0x3e);             /* movdir64b rdi, [rsi] */
	assert_memory_equal(M.mem + 0x1200, M.mem + 0x1000, 64);
	cpu.gpr[X86_RDI] = DATA + 0x220;
	RUN_FAULT(X86_EXC_GP, 0x66, 0x0f, 0x38, 0xf8, 0x3e);
	/* The source is read first: its #PF ranks before the destination's misalignment #GP
	 * (as on Intel hardware), and before a non-canonical destination's #GP. */
	cpu.gpr[X86_RSI] = MEM_BASE + MEM_SIZE - 32;
	RUN_FAULT(X86_EXC_PF, 0x66, 0x0f, 0x38, 0xf8, 0x3e);
	assert_int_equal(flt.cr2, MEM_BASE + MEM_SIZE - 32);
	cpu.gpr[X86_RDI] = 0x0000800000000000ull;
	RUN_FAULT(X86_EXC_PF, 0x66, 0x0f, 0x38, 0xf8, 0x3e);
	cpu.gpr[X86_RSI] = DATA;
	RUN_FAULT(X86_EXC_GP, 0x66, 0x0f, 0x38, 0xf8, 0x3e);
}

/* ---- string instructions ---- */

static void test_strings(void **s)
{
	(void)s;
	for (unsigned k = 0; k < 32; k++)
		M.mem[0x1000 + k] = (uint8_t)(k + 1);
	cpu.gpr[X86_RSI] = DATA;
	cpu.gpr[X86_RDI] = DATA + 0x100;
	cpu.gpr[X86_RCX] = 10;
	RUN_OK(0xf3, 0xa4);                               /* rep movsb */
	assert_memory_equal(M.mem + 0x1100, M.mem + 0x1000, 10);
	assert_int_equal(M.mem[0x110a], 0);
	assert_int_equal(cpu.gpr[X86_RCX], 0);
	assert_int_equal(cpu.gpr[X86_RSI], DATA + 10);
	assert_int_equal(cpu.gpr[X86_RDI], DATA + 0x10a);
	/* DF=1: backwards, dwords */
	cpu.rflags |= X86_FLAG_DF;
	cpu.gpr[X86_RSI] = DATA + 12;
	cpu.gpr[X86_RDI] = DATA + 0x20c;
	cpu.gpr[X86_RCX] = 4;
	RUN_OK(0xf3, 0xa5);                               /* rep movsd */
	assert_memory_equal(M.mem + 0x1200, M.mem + 0x1000, 16);
	assert_int_equal(cpu.gpr[X86_RSI], DATA - 4);
	cpu.rflags &= ~X86_FLAG_DF;
	/* RCX = 0: nothing happens, RIP advances */
	unsigned acc = M.reads + M.writes;
	cpu.gpr[X86_RCX] = 0;
	RUN_OK(0xf3, 0x48, 0xab);
	assert_int_equal(M.reads + M.writes, acc);
	/* stos with 32-bit address size: RCX/RDI are ECX/EDI */
	cpu.gpr[X86_RAX] = 0xcc;
	cpu.gpr[X86_RDI] = 0xffffffff00000000ull | (DATA + 0x300);
	cpu.gpr[X86_RCX] = 0xffffffff00000003ull;
	RUN_OK(0x67, 0xf3, 0xaa);
	assert_int_equal(M.mem[0x1302], 0xcc);
	assert_int_equal(cpu.gpr[X86_RCX], 0);
	assert_int_equal(cpu.gpr[X86_RDI], DATA + 0x303);
	/* lods with FS override */
	cpu.seg[X86_FS].base = 0x10;
	cpu.gpr[X86_RSI] = DATA;
	RUN_OK(0x64, 0xad);                               /* lodsd eax, fs:[rsi] */
	assert_int_equal(cpu.gpr[X86_RAX], 0x14131211);
	/* repe cmpsb stops at the first difference */
	memcpy(M.mem + 0x1400, "abcdef", 6);
	memcpy(M.mem + 0x1500, "abcxef", 6);
	cpu.gpr[X86_RSI] = DATA + 0x400;
	cpu.gpr[X86_RDI] = DATA + 0x500;
	cpu.gpr[X86_RCX] = 6;
	RUN_OK(0xf3, 0xa6);
	assert_int_equal(cpu.gpr[X86_RCX], 2);
	assert_int_equal(FL(ZF), 0);
	/* repne scasb finds the byte */
	cpu.gpr[X86_RAX] = 'e';
	cpu.gpr[X86_RDI] = DATA + 0x400;
	cpu.gpr[X86_RCX] = 100;
	RUN_OK(0xf2, 0xae);
	assert_int_equal(cpu.gpr[X86_RDI], DATA + 0x405);
	assert_int_equal(FL(ZF), 1);
	/* ins / rep outs through the port callbacks */
	cpu.gpr[X86_RDX] = 0x3f8;
	cpu.gpr[X86_RDI] = DATA + 0x600;
	M.in_value = 0x100;
	RUN_OK(0x66, 0x6d);                               /* insw */
	assert_int_equal(M.mem[0x1600] | M.mem[0x1601] << 8, 0x100 + 0x3f8);
	cpu.gpr[X86_RSI] = DATA;
	cpu.gpr[X86_RCX] = 3;
	RUN_OK(0xf3, 0x6e);                               /* rep outsb */
	assert_int_equal(M.nout, 3);
	assert_int_equal(M.out_log[2], 3);
	assert_int_equal(M.ports[0], 0x3f8);
	/* in/out */
	RUN_OK(0xe6, 0x80);                               /* out 0x80, al */
	assert_int_equal(M.ports[0], 0x80);
	RUN_OK(0xed);                                     /* in eax, dx */
	assert_int_equal(cpu.gpr[X86_RAX], M.in_value - 0x11 + 0x3f8);
}

static void test_rep_fault_and_limit(void **s)
{
	(void)s;
	cpu.gpr[X86_RSI] = DATA;
	cpu.gpr[X86_RDI] = DATA + 0x100;
	cpu.gpr[X86_RCX] = 10;
	M.fault_after = 7;                                /* 4th iteration's read */
	assert_int_equal(RUN(0xf3, 0xa4), X86_EMU_FAULT);
	assert_int_equal(flt.vector, X86_EXC_PF);
	assert_int_equal(flt.cr2, DATA + 3);
	assert_int_equal(cpu.gpr[X86_RCX], 7);            /* three iterations done */
	assert_int_equal(cpu.gpr[X86_RSI], DATA + 3);
	assert_int_equal(cpu.rip, CODE);
	/* resuming finishes the job */
	M.fault_after = 0;
	RUN_OK(0xf3, 0xa4);
	assert_int_equal(cpu.gpr[X86_RCX], 0);
	/* fault in the first iteration: nothing committed */
	cpu.gpr[X86_RCX] = 2;
	cpu.gpr[X86_RSI] = 0x10;                          /* unmapped */
	RUN_FAULT(X86_EXC_PF, 0xf3, 0xa4);
	/* repe cmpsb faulting in the 3rd iteration: two iterations kept, EFLAGS as before the
	 * instruction (SDM, REP), not those of the 2nd compare (equal bytes: ZF set) */
	memset(M.mem + 0x1600, 0x5a, 4);
	memset(M.mem + 0x1700, 0x5a, 4);
	cpu.gpr[X86_RSI] = DATA + 0x600;
	cpu.gpr[X86_RDI] = DATA + 0x700;
	cpu.gpr[X86_RCX] = 4;
	cpu.rflags = 0x2 | X86_FLAG_CF | X86_FLAG_SF;
	M.accesses = 0;
	M.fault_after = 5;                                /* 3rd iteration's source read */
	assert_int_equal(RUN(0xf3, 0xa6), X86_EMU_FAULT);
	assert_int_equal(flt.vector, X86_EXC_PF);
	assert_int_equal(cpu.gpr[X86_RCX], 2);
	assert_int_equal(cpu.gpr[X86_RSI], DATA + 0x602);
	assert_int_equal(cpu.gpr[X86_RDI], DATA + 0x702);
	assert_int_equal(cpu.rflags, 0x2 | X86_FLAG_CF | X86_FLAG_SF);
	assert_int_equal(cpu.rip, CODE);
	M.fault_after = 0;
	RUN_OK(0xf3, 0xa6);                               /* resumed: the flags of the compares */
	assert_int_equal(cpu.gpr[X86_RCX], 0);
	assert_int_equal(cpu.rflags & (X86_FLAG_CF | X86_FLAG_SF | X86_FLAG_ZF), X86_FLAG_ZF);
	/* iteration limit: RIP stays, registers show the progress */
	static const uint8_t code[] = { 0xf3, 0x48, 0xab };
	cpu.gpr[X86_RDI] = DATA;
	cpu.gpr[X86_RCX] = 5;
	memcpy(M.mem + (CODE - MEM_BASE), code, sizeof(code));
	cpu.rip = CODE;
	assert_int_equal(x86_emu_step_rep(&cpu, code, 3, &OPS, NULL, &flt, 2), X86_EMU_OK);
	assert_int_equal(cpu.rip, CODE);
	assert_int_equal(cpu.gpr[X86_RCX], 3);
	assert_int_equal(x86_emu_step_rep(&cpu, code, 3, &OPS, NULL, &flt, 2), X86_EMU_OK);
	assert_int_equal(x86_emu_step_rep(&cpu, code, 3, &OPS, NULL, &flt, 2), X86_EMU_OK);
	assert_int_equal(cpu.rip, CODE + 3);
	assert_int_equal(cpu.gpr[X86_RCX], 0);
	assert_int_equal(cpu.gpr[X86_RDI], DATA + 40);
	/* -EIO from a callback is an internal error */
	M.fail_rc = -EIO;
	cpu.gpr[X86_RBX] = DATA;
	assert_int_equal(RUN(0x8b, 0x03), X86_EMU_ERROR);
}

/* ---- faults ---- */

static void test_faults(void **s)
{
	(void)s;
	cpu.gpr[X86_RBX] = DATA;
	/* LOCK on a non-RMW form, a register destination, or CMP: #UD */
	RUN_FAULT(X86_EXC_UD, 0xf0, 0x8b, 0x03);          /* lock mov */
	RUN_FAULT(X86_EXC_UD, 0xf0, 0x01, 0xc3);          /* lock add ebx, eax */
	RUN_FAULT(X86_EXC_UD, 0xf0, 0x39, 0x03);          /* lock cmp */
	RUN_FAULT(X86_EXC_UD, 0xf0, 0x0f, 0xa3, 0x03);    /* lock bt */
	RUN_FAULT(X86_EXC_UD, 0x0f, 0x0b);                /* ud2 */
	RUN_FAULT(X86_EXC_UD, 0x06);                      /* push es in 64-bit mode */
	/* prefix soup beyond 15 bytes: #GP(0) */
	RUN_FAULT(X86_EXC_GP, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
		  0x66, 0x66, 0x66, 0x66, 0x90);
	/* non-canonical: #GP(0), or #SS(0) when SS-based */
	cpu.gpr[X86_RBX] = 0x0000800000000000ull;
	RUN_FAULT(X86_EXC_GP, 0x8b, 0x03);
	assert_true(flt.has_error_code);
	assert_int_equal(flt.error_code, 0);
	cpu.gpr[X86_RBP] = 0x0000800000000000ull;
	RUN_FAULT(X86_EXC_SS, 0x8b, 0x45, 0x00);
	RUN_FAULT(X86_EXC_SS, 0x3e, 0x8b, 0x45, 0x00);    /* DS override ignored */
	RUN_FAULT(X86_EXC_GP, 0x64, 0x8b, 0x45, 0x00);    /* FS override applies */
	cpu.cr4 |= 1u << 12;                              /* LA57: now canonical */
	assert_int_equal(RUN(0x8b, 0x45, 0x00), X86_EMU_FAULT);
	assert_int_equal(flt.vector, X86_EXC_PF);
	cpu.cr4 &= ~(1ull << 12);
	/* misalignment of an aligned-only form is checked first: #GP, not #SS */
	RUN_FAULT(X86_EXC_GP, 0x0f, 0x28, 0x45, 0x01);    /* movaps xmm0, [rbp+1] */
	RUN_FAULT(X86_EXC_SS, 0x0f, 0x28, 0x45, 0x00);
	/* an access crossing into non-canonical space */
	cpu.gpr[X86_RBX] = 0x00007ffffffffffcull;
	RUN_FAULT(X86_EXC_GP, 0x48, 0x8b, 0x03);
	/* #AC: CPL 3, CR0.AM, RFLAGS.AC, misaligned */
	cpu.gpr[X86_RBX] = DATA + 1;
	cpu.cpl = 3;
	cpu.cr0 |= 1u << 18;
	cpu.rflags |= X86_FLAG_AC;
	RUN_FAULT(X86_EXC_AC, 0x8b, 0x03);
	RUN_OK(0x8a, 0x03);                               /* byte accesses are never misaligned */
	cpu.cpl = 0;
	RUN_OK(0x8b, 0x03);
	/* #PF from the callback is passed through with its error code and CR2 */
	cpu.gpr[X86_RBX] = 0x5000;
	RUN_FAULT(X86_EXC_PF, 0x89, 0x03);
	assert_int_equal(flt.error_code, 2);
	assert_int_equal(flt.cr2, 0x5000);
	/* RMW loads carry write intent */
	cpu.gpr[X86_RBX] = DATA;
	RUN_OK(0x01, 0x03);
	assert_int_equal(M.last_kind, X86_EMU_WRITE);
	/* VEX-encoded and other unemulated instructions change nothing */
	assert_int_equal(RUN(0x0f, 0xa2), X86_EMU_UNSUPPORTED);      /* cpuid */
	assert_int_equal(RUN(0xff, 0x13), X86_EMU_UNSUPPORTED);      /* call [rbx] */
}

/*
 * Exception priority between checks of one instruction (SDM vol. 3, 6.9), as the host CPU
 * showed it in tests/unit/x86_diff_test: the 15-byte limit before LOCK misuse, fetch faults
 * before LOCK misuse, and for CMPS the ES:DI operand's checks before those of DS:SI.
 */
static void test_fault_order(void **s)
{
	(void)s;
	cpu.gpr[X86_RBX] = DATA;
	struct x86_insn in;
	/* lock cmp dword [disp32], imm32 with addr32: 15 bytes, LOCK misuse -> #UD */
	static const uint8_t lk15[] = { 0x2e, 0x3e, 0x67, 0xf0, 0x81, 0x3c, 0x25, 0x00, 0x10,
					0x10, 0x00, 0x01, 0x02, 0x03, 0x04 };
	assert_int_equal(x86_decode(lk15, sizeof(lk15), X86_MODE_64, &in), -EINVAL);
	RUN_FAULT(X86_EXC_UD, 0x2e, 0x3e, 0x67, 0xf0, 0x81, 0x3c, 0x25, 0x00, 0x10, 0x10, 0x00,
		  0x01, 0x02, 0x03, 0x04);
	/* one more prefix: 16 bytes -> #GP(0), the length limit wins (host-observed) */
	static const uint8_t lk16[] = { 0x36, 0x26, 0x67, 0xf0, 0x42, 0x81, 0xbc, 0x77, 0xff,
					0xff, 0xff, 0xff, 0xd9, 0x25, 0x3f, 0xf0 };
	assert_int_equal(x86_decode(lk16, sizeof(lk16), X86_MODE_64, &in), -E2BIG);
	RUN_FAULT(X86_EXC_GP, 0x36, 0x26, 0x67, 0xf0, 0x42, 0x81, 0xbc, 0x77, 0xff, 0xff, 0xff,
		  0xff, 0xd9, 0x25, 0x3f, 0xf0);
	assert_true(flt.has_error_code);
	assert_int_equal(flt.error_code, 0);
	RUN_FAULT(X86_EXC_GP, 0x2e, 0x2e, 0x3e, 0x67, 0xf0, 0x81, 0x3c, 0x25, 0x00, 0x10, 0x10,
		  0x00, 0x01, 0x02, 0x03, 0x04);
	/* the same LOCK misuse whose immediate lies on an unmapped page: the fetch #PF wins */
	memcpy(M.mem + MEM_SIZE - 9, lk15, 9);
	cpu.rip = MEM_BASE + MEM_SIZE - 9;
	struct x86_emu_cpu before = cpu;
	assert_int_equal(x86_emu_step(&cpu, NULL, 0, &OPS, NULL, &flt), X86_EMU_FAULT);
	assert_int_equal(flt.vector, X86_EXC_PF);
	assert_int_equal(flt.error_code, 0x10);
	assert_int_equal(flt.cr2, MEM_BASE + MEM_SIZE);
	assert_memory_equal(&before, &cpu, sizeof(cpu));

	/* CMPSD, 32-bit code, addr16, DS = ES = base DATA, limit 0xc32, #AC armed */
	setup_mode(X86_MODE_32);
	for (unsigned sg = X86_ES; sg <= X86_DS; sg += X86_DS - X86_ES) {
		cpu.seg[sg].base = DATA;
		cpu.seg[sg].limit = 0xc32;
	}
	cpu.cpl = 3;
	cpu.cr0 |= 1u << 18;
	cpu.rflags |= X86_FLAG_AC;
	/* DS:SI misaligned, ES:DI beyond the limit: #GP(0) (host-observed), not #AC */
	cpu.gpr[X86_RSI] = 0x0929;
	cpu.gpr[X86_RDI] = 0x0e37;
	RUN_FAULT(X86_EXC_GP, 0x67, 0xa7);
	assert_int_equal(flt.error_code, 0);
	/* DS:SI beyond the limit, ES:DI misaligned: #AC (host-observed), not #GP */
	cpu.gpr[X86_RSI] = 0x0e38;
	cpu.gpr[X86_RDI] = 0x0929;
	RUN_FAULT(X86_EXC_AC, 0x67, 0xa7);
	/* only one operand bad: its own fault */
	cpu.gpr[X86_RDI] = 0x0928;
	RUN_FAULT(X86_EXC_GP, 0x67, 0xa7);
	cpu.gpr[X86_RSI] = 0x0929;
	RUN_FAULT(X86_EXC_AC, 0x67, 0xa7);
	/* both fine: compares, both pointers advance */
	cpu.gpr[X86_RSI] = 0x0100;
	memcpy(M.mem + 0x1100, "\x11\x22\x33\x44", 4);
	memcpy(M.mem + 0x1928, "\x11\x22\x33\x44", 4);
	RUN_OK(0x67, 0xa7);
	assert_int_equal(FL(ZF), 1);
	assert_int_equal(cpu.gpr[X86_RSI], 0x0104);
	assert_int_equal(cpu.gpr[X86_RDI], 0x092c);
}

static void test_fetch(void **s)
{
	(void)s;
	cpu.gpr[X86_RBX] = DATA;
	set64(DATA, 42);
	static const uint8_t code[] = { 0x48, 0x8b, 0x43, 0x00 };    /* mov rax, [rbx+0] */
	memcpy(M.mem + (CODE - MEM_BASE), code, sizeof(code));
	cpu.rip = CODE;
	/* two bytes known, the rest fetched byte by byte */
	assert_int_equal(x86_emu_step(&cpu, code, 2, &OPS, NULL, &flt), X86_EMU_OK);
	assert_int_equal(cpu.gpr[X86_RAX], 42);
	assert_int_equal(M.fetches, 2);
	assert_int_equal(cpu.rip, CODE + 4);
	/* nothing known at all */
	cpu.rip = CODE;
	assert_int_equal(x86_emu_step(&cpu, NULL, 0, &OPS, NULL, &flt), X86_EMU_OK);
	assert_int_equal(M.fetches, 6);
	/* fetch runs onto an unmapped page: #PF with the fetch error code */
	uint64_t last = MEM_BASE + MEM_SIZE - 2;
	memcpy(M.mem + MEM_SIZE - 2, code, 2);
	cpu.rip = last;
	struct x86_emu_cpu before = cpu;
	assert_int_equal(x86_emu_step(&cpu, NULL, 0, &OPS, NULL, &flt), X86_EMU_FAULT);
	assert_int_equal(flt.vector, X86_EXC_PF);
	assert_int_equal(flt.error_code, 0x10);
	assert_int_equal(flt.cr2, MEM_BASE + MEM_SIZE);
	assert_memory_equal(&before, &cpu, sizeof(cpu));
	/* without a read callback the missing bytes cannot be had */
	static const struct x86_emu_ops none = { 0 };
	cpu.rip = CODE;
	assert_int_equal(x86_emu_step(&cpu, code, 2, &none, NULL, &flt), X86_EMU_ERROR);
}

static void test_segments_32(void **s)
{
	(void)s;
	setup_mode(X86_MODE_32);
	cpu.seg[X86_DS].base = DATA;
	cpu.seg[X86_DS].limit = 0xfff;
	cpu.gpr[X86_RBX] = 0x10;
	cpu.gpr[X86_RAX] = 0xdeadbeef;
	RUN_OK(0x89, 0x03);                               /* mov [ebx], eax -> DATA+0x10 */
	assert_int_equal(mem64(DATA + 0x10) & 0xffffffff, 0xdeadbeef);
	cpu.gpr[X86_RBX] = 0xffd;
	RUN_FAULT(X86_EXC_GP, 0x89, 0x03);                /* last byte 0x1000 > limit */
	/* SS limit: #SS(0) */
	cpu.seg[X86_SS].limit = 0xff;
	cpu.gpr[X86_RBP] = 0x100;
	RUN_FAULT(X86_EXC_SS, 0x8b, 0x45, 0x00);
	/* read-only data segment: #GP on write, reads fine */
	cpu.gpr[X86_RBX] = 0x10;
	cpu.seg[X86_DS].attr = 0xc091;
	RUN_FAULT(X86_EXC_GP, 0x89, 0x03);
	RUN_OK(0x8b, 0x03);
	/* expand-down: valid offsets are above the limit */
	cpu.seg[X86_ES].attr = 0xc097;
	cpu.seg[X86_ES].limit = 0xfff;
	cpu.seg[X86_ES].base = 0;
	cpu.gpr[X86_RDI] = (uint32_t)DATA;
	RUN_OK(0xaa);                                     /* stosb es:[edi] */
	cpu.gpr[X86_RDI] = 0x800;
	RUN_FAULT(X86_EXC_GP, 0xaa);
	/* INS checks the destination before reading the port */
	cpu.seg[X86_ES].attr = 0xc091;                    /* read-only */
	cpu.gpr[X86_RDI] = (uint32_t)DATA;
	M.ins = 0;
	RUN_FAULT(X86_EXC_GP, 0x6c);
	assert_int_equal(M.ins, 0);
	/* 16-bit address size: SI/DI wrap at 64 KiB, CX counts */
	cpu.seg[X86_ES].attr = 0xc093;
	cpu.seg[X86_ES].base = MEM_BASE;
	cpu.seg[X86_ES].limit = 0xffff;
	M.mem[0x1000] = 0x5a;
	M.mem[0x1003] = 0xa5;
	cpu.seg[X86_DS].attr = 0xc093;
	cpu.gpr[X86_RSI] = 0xabcd0000;
	cpu.gpr[X86_RDI] = 0xfffe;
	cpu.gpr[X86_RCX] = 0x12340002;
	RUN_OK(0x67, 0xf3, 0x66, 0xa5);                   /* rep movsw, addr16 */
	assert_int_equal(cpu.gpr[X86_RCX], 0x12340000);
	assert_int_equal(cpu.gpr[X86_RDI], 0x0002);
	assert_int_equal(cpu.gpr[X86_RSI], 0xabcd0004);
	assert_int_equal(M.mem[0xfffe], 0x5a);           /* first word at ES:FFFE */
	assert_int_equal(M.mem[0x0001], 0xa5);           /* second at ES:0000 */
	/* not-present segment */
	cpu.seg[X86_DS].attr = 0x4013;
	RUN_FAULT(X86_EXC_GP, 0x8b, 0x03);
	/* an instruction crossing the CS limit: #GP(0), even with all bytes supplied */
	setup_mode(X86_MODE_32);
	cpu.seg[X86_CS].limit = (uint32_t)CODE + 1;
	cpu.gpr[X86_RBX] = DATA;
	RUN_FAULT(X86_EXC_GP, 0x89, 0x43, 0x10);          /* last byte at CODE+2 > limit */
	cpu.seg[X86_CS].limit = (uint32_t)CODE + 2;
	RUN_OK(0x89, 0x43, 0x10);
	/* non-canonical RIP in 64-bit mode */
	setup_mode(X86_MODE_64);
	cpu.rip = 0x00007ffffffffffeull;
	static const uint8_t mov3[] = { 0x89, 0x43, 0x10 };
	assert_int_equal(x86_emu_step(&cpu, mov3, 3, &OPS, NULL, &flt), X86_EMU_FAULT);
	assert_int_equal(flt.vector, X86_EXC_GP);
	setup_mode(X86_MODE_32);
	/* EIP wraps at 4 GiB: run from the top of the address space via the callback */
	setup_mode(X86_MODE_32);
	cpu.rip = 0xfffffffe;
	static const uint8_t nop2[] = { 0x66, 0x90 };
	assert_int_equal(x86_emu_step(&cpu, nop2, 2, &OPS, NULL, &flt), X86_EMU_OK);
	assert_int_equal(cpu.rip, 0);
	/* real mode: no type checks, the hidden base and limit still apply; RF is cleared */
	setup_mode(X86_MODE_16);
	cpu.cr0 = 0;
	cpu.rflags |= 1u << 16;
	cpu.seg[X86_DS].attr = 0;                         /* ignored without CR0.PE */
	cpu.seg[X86_DS].base = DATA;
	cpu.seg[X86_DS].limit = 0xffff;
	cpu.gpr[X86_RBX] = 0x20;
	cpu.gpr[X86_RAX] = 0x1234;
	RUN_OK(0x89, 0x07);                               /* mov [bx], ax */
	assert_int_equal(M.mem[0x1020] | M.mem[0x1021] << 8, 0x1234);
	assert_int_equal(cpu.rflags & (1u << 16), 0);
	cpu.seg[X86_DS].limit = 0x20;
	RUN_FAULT(X86_EXC_GP, 0x89, 0x07);                /* bytes 0x20-0x21 pass the limit */
	/* 16-bit addressing: [bx+si] wraps at 64 KiB */
	setup_mode(X86_MODE_16);
	cpu.seg[X86_DS].base = DATA;
	cpu.seg[X86_DS].limit = 0xffff;
	cpu.gpr[X86_RBX] = 0xfff0;
	cpu.gpr[X86_RSI] = 0x20;
	cpu.gpr[X86_RAX] = 0x4242;
	RUN_OK(0x89, 0x00);                               /* mov [bx+si], ax -> DS:0x10 */
	assert_int_equal(M.mem[0x1010], 0x42);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_decode_lengths, reset),
		cmocka_unit_test_setup(test_decode_invalid, reset),
		cmocka_unit_test_setup(test_decode_fields, reset),
		cmocka_unit_test_setup(test_mov, reset),
		cmocka_unit_test_setup(test_alu_known, reset),
		cmocka_unit_test_setup(test_alu_exhaustive8, reset),
		cmocka_unit_test_setup(test_muldiv, reset),
		cmocka_unit_test_setup(test_shifts, reset),
		cmocka_unit_test_setup(test_bt, reset),
		cmocka_unit_test_setup(test_atomics, reset),
		cmocka_unit_test_setup(test_setcc_cmov, reset),
		cmocka_unit_test_setup(test_sse, reset),
		cmocka_unit_test_setup(test_movdir64b, reset),
		cmocka_unit_test_setup(test_strings, reset),
		cmocka_unit_test_setup(test_rep_fault_and_limit, reset),
		cmocka_unit_test_setup(test_faults, reset),
		cmocka_unit_test_setup(test_fault_order, reset),
		cmocka_unit_test_setup(test_fetch, reset),
		cmocka_unit_test_setup(test_segments_32, reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
