/*
 * x86 single-instruction emulator for MMIO and string port I/O intercepts.
 *
 * Works on a private copy of the CPU state and commits it only when the instruction completed
 * (or, for REP string instructions, after each completed iteration, as the hardware does), so a
 * fault or an unsupported instruction leaves the caller's state untouched. Semantics follow the
 * Intel SDM vol. 2 instruction pages; undefined flags are set as documented next to each
 * operation (chosen to match the AMD EPYC this was developed on where it was measured).
 */
#include <errno.h>
#include <string.h>

#include "arch/x86_64/x86_emu.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "x86_emu moves guest little-endian values through host integers"
#endif

__extension__ typedef unsigned __int128 u128;
__extension__ typedef __int128 s128;

#define CR0_PE     (1ull << 0)
#define CR0_EM     (1ull << 2)
#define CR0_TS     (1ull << 3)
#define CR0_AM     (1ull << 18)
#define CR4_OSFXSR (1ull << 9)
#define CR4_LA57   (1ull << 12)
#define EFER_LMA   (1ull << 10)
#define RFLAGS_RF  (1ull << 16)
#define RFLAGS_VM  (1ull << 17)

#define CF X86_FLAG_CF
#define PF X86_FLAG_PF
#define AF X86_FLAG_AF
#define ZF X86_FLAG_ZF
#define SF X86_FLAG_SF
#define OF X86_FLAG_OF
#define ARITH (CF | PF | AF | ZF | SF | OF)

/* Segment attribute bits (TLFS segment format, see x86_emu.h). */
#define SEG_CODE  0x0008u
#define SEG_RW    0x0002u /* writable data / readable code */
#define SEG_EXPDN 0x0004u
#define SEG_S     0x0010u
#define SEG_P     0x0080u
#define SEG_DB    0x4000u

typedef enum x86_emu_result res_t;
#define OK X86_EMU_OK
#define TRY(x)                          \
	do {                            \
		res_t r_ = (x);         \
		if (r_ != OK)           \
			return r_;      \
	} while (0)

/* Locked read-modify-write retries before giving up (another CPU keeps changing the value). */
#define LOCK_RETRIES 1000

struct emu {
	/* Working copies of the state an instruction can change, committed on success; the
	 * rest is read from the caller's struct directly. XMM is copied only when used. */
	uint64_t gpr[X86_GPR_COUNT];
	uint64_t rflags;
	uint8_t xmm[16][16];
	bool xmm_loaded;
	const struct x86_emu_cpu *cpu;
	struct x86_insn in;
	const struct x86_emu_ops *ops;
	void *ctx;
	struct x86_emu_fault *fault;
	unsigned mode;
	uint64_t next_rip;
	uint64_t rep_limit;
	uint64_t la;               /* linear address of the last E operand read */
	uint64_t ea_adj;           /* BT family: operand displacement from the bit offset */
	unsigned sub_op;           /* operation selector for rmw() callbacks */
	uint64_t arg2;             /* second operand for rmw() callbacks (SHLD/SHRD source) */
	bool partial;              /* REP: commit completed iterations even on a fault */
	bool rip_stays;            /* REP stopped at the iteration limit */
};

/* ---- small helpers ---- */

static inline uint64_t size_mask(unsigned size)
{
	return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

static inline uint64_t sign_bit(unsigned size)
{
	return 1ull << (size * 8 - 1);
}

static inline int64_t sext(uint64_t v, unsigned size)
{
	unsigned sh = 64 - size * 8;
	return (int64_t)(v << sh) >> sh;
}

static res_t raise(struct emu *e, uint8_t vector, bool has_ec, uint32_t ec)
{
	e->fault->vector = vector;
	e->fault->has_error_code = has_ec;
	e->fault->error_code = ec;
	e->fault->cr2 = 0;
	return X86_EMU_FAULT;
}

static res_t ud(struct emu *e)
{
	return raise(e, X86_EXC_UD, false, 0);
}

static res_t gp0(struct emu *e)
{
	return raise(e, X86_EXC_GP, true, 0);
}

static res_t cbres(int rc)
{
	if (rc == 0)
		return OK;
	return rc == -EFAULT ? X86_EMU_FAULT : X86_EMU_ERROR;
}

/* ---- registers ---- */

static uint64_t rd_reg(const struct emu *e, unsigned r, unsigned size)
{
	/* Without REX, byte registers 4-7 are AH, CH, DH, BH. */
	if (size == 1 && !e->in.rex && r >= 4 && r < 8)
		return (e->gpr[r - 4] >> 8) & 0xff;
	return e->gpr[r] & size_mask(size);
}

static void wr_reg(struct emu *e, unsigned r, unsigned size, uint64_t v)
{
	uint64_t *g;
	switch (size) {
	case 1:
		if (!e->in.rex && r >= 4 && r < 8) {
			g = &e->gpr[r - 4];
			*g = (*g & ~0xff00ull) | (v & 0xff) << 8;
		} else {
			g = &e->gpr[r];
			*g = (*g & ~0xffull) | (v & 0xff);
		}
		break;
	case 2:
		g = &e->gpr[r];
		*g = (*g & ~0xffffull) | (v & 0xffff);
		break;
	case 4:
		e->gpr[r] = (uint32_t)v; /* 32-bit writes zero-extend */
		break;
	default:
		e->gpr[r] = v;
		break;
	}
}

/* Write an address-sized register (RSI/RDI/RCX of string instructions). */
static void wr_areg(struct emu *e, unsigned r, uint64_t v)
{
	wr_reg(e, r, e->in.addr_size, v);
}

/* ---- addressing ---- */

static uint64_t ea_of(const struct emu *e)
{
	const struct x86_memop *m = &e->in.mem;
	uint64_t a = (uint64_t)m->disp;
	if (m->base == X86_GPR_COUNT)
		a += e->next_rip;
	else if (m->base >= 0)
		a += e->gpr[m->base];
	if (m->index >= 0)
		a += e->gpr[m->index] * m->scale;
	return (a + e->ea_adj) & size_mask(m->addr_size);
}

static bool canonical(const struct emu *e, uint64_t la)
{
	unsigned bits = (e->cpu->cr4 & CR4_LA57) ? 57 : 48;
	return (uint64_t)((int64_t)(la << (64 - bits)) >> (64 - bits)) == la;
}

static res_t seg_fault(struct emu *e, unsigned seg)
{
	return raise(e, seg == X86_SS ? X86_EXC_SS : X86_EXC_GP, true, 0);
}

/*
 * Effective address -> linear address with the checks the hardware makes: canonical form in
 * 64-bit mode, segment type and limit elsewhere (SDM vol. 3, 5.3-5.4), then alignment check.
 */
static res_t linearize(struct emu *e, unsigned seg, uint64_t ea, unsigned size,
		       enum x86_emu_access acc, uint64_t *la_out)
{
	uint64_t la;
	if (e->mode == X86_MODE_64) {
		la = ea;
		if (seg == X86_FS || seg == X86_GS)
			la += e->cpu->seg[seg].base;
		if (!canonical(e, la) || !canonical(e, la + size - 1))
			return seg_fault(e, seg);
	} else {
		const struct x86_segment *s = &e->cpu->seg[seg];
		bool pm = (e->cpu->cr0 & CR0_PE) && !(e->rflags & RFLAGS_VM);
		unsigned at = s->attr;
		bool code = pm && (at & SEG_CODE);
		if (pm) {
			if (!(at & SEG_P) || !(at & SEG_S))
				return seg_fault(e, seg);
			if (code) {
				if (acc == X86_EMU_WRITE || (acc == X86_EMU_READ && !(at & SEG_RW)))
					return seg_fault(e, seg);
			} else if (acc == X86_EMU_WRITE && !(at & SEG_RW)) {
				return seg_fault(e, seg);
			}
		}
		uint64_t last = ea + size - 1;
		if (pm && !code && (at & SEG_EXPDN)) {
			uint64_t upper = (at & SEG_DB) ? 0xffffffffull : 0xffffull;
			if (ea <= s->limit || last > upper)
				return seg_fault(e, seg);
		} else if (last > s->limit) {
			return seg_fault(e, seg);
		}
		la = (uint32_t)(s->base + ea);
	}
	/* #AC: data accesses of 2, 4, 8 and 16 bytes (unaligned SSE loads included, as the
	 * hardware does); 64-byte MOVDIR64B has its own #GP rule. */
	if ((size == 2 || size == 4 || size == 8 || size == 16) && acc != X86_EMU_FETCH &&
	    (la & (size - 1)) &&
	    e->cpu->cpl == 3 &&
	    (e->cpu->cr0 & CR0_AM) && (e->rflags & X86_FLAG_AC))
		return raise(e, X86_EXC_AC, true, 0);
	*la_out = la;
	return OK;
}

/*
 * Alignment-required forms (MOVAPS, CMPXCHG16B, MOVDIR64B ...) raise #GP(0) for a misaligned
 * operand before any segment or canonical fault of that operand (observed on hardware: a
 * misaligned, non-canonical SS-based MOVAPS gives #GP, not #SS). The alignment is that of the
 * linear address, i.e. including the segment base.
 */
static bool misaligned(const struct emu *e, unsigned seg, uint64_t ea, uint64_t align)
{
	uint64_t base = 0;
	if (e->mode != X86_MODE_64 || seg == X86_FS || seg == X86_GS)
		base = e->cpu->seg[seg].base;
	return ((base + ea) & (align - 1)) != 0;
}

/* `kind` is X86_EMU_WRITE for the load of a read-modify-write (write intent). */
static res_t mem_read(struct emu *e, unsigned seg, uint64_t ea, void *buf, unsigned size,
		      enum x86_emu_access kind, uint64_t *la_out)
{
	uint64_t la;
	TRY(linearize(e, seg, ea, size, kind, &la));
	if (la_out)
		*la_out = la;
	if (!e->ops->read)
		return X86_EMU_ERROR;
	return cbres(e->ops->read(e->ctx, gva(la), buf, size, kind, e->fault));
}

static res_t mem_write_la(struct emu *e, uint64_t la, const void *buf, unsigned size)
{
	if (!e->ops->write)
		return X86_EMU_ERROR;
	return cbres(e->ops->write(e->ctx, gva(la), buf, size, e->fault));
}

static res_t mem_write(struct emu *e, unsigned seg, uint64_t ea, const void *buf, unsigned size)
{
	uint64_t la;
	TRY(linearize(e, seg, ea, size, X86_EMU_WRITE, &la));
	return mem_write_la(e, la, buf, size);
}

/* ---- the ModRM E operand ---- */

static res_t e_read(struct emu *e, unsigned size, uint64_t *v, bool write_intent)
{
	if (!e->in.has_mem) {
		*v = rd_reg(e, e->in.rm, size);
		return OK;
	}
	uint64_t val = 0;
	TRY(mem_read(e, e->in.mem.seg, ea_of(e), &val, size,
		     write_intent ? X86_EMU_WRITE : X86_EMU_READ, &e->la));
	*v = val;
	return OK;
}

static res_t e_write(struct emu *e, unsigned size, uint64_t v)
{
	if (!e->in.has_mem) {
		wr_reg(e, e->in.rm, size, v);
		return OK;
	}
	return mem_write(e, e->in.mem.seg, ea_of(e), &v, size);
}

/*
 * Read-modify-write of the E operand: fn computes the new value and flags from the old one.
 * With LOCK and a cmpxchg callback the store is atomic (recomputed if memory changed).
 */
typedef uint64_t (*rmw_fn)(struct emu *e, uint64_t old, uint64_t arg, unsigned size,
			   uint64_t *flags);

static res_t rmw(struct emu *e, unsigned size, rmw_fn fn, uint64_t arg, uint64_t *old_out)
{
	uint64_t old, nv, fl;
	if (!e->in.has_mem) {
		old = rd_reg(e, e->in.rm, size);
		fl = e->rflags;
		nv = fn(e, old, arg, size, &fl);
		wr_reg(e, e->in.rm, size, nv);
		e->rflags = fl;
		if (old_out)
			*old_out = old;
		return OK;
	}
	TRY(e_read(e, size, &old, true));
	for (unsigned tries = 0;; tries++) {
		fl = e->rflags;
		nv = fn(e, old, arg, size, &fl);
		if (e->in.lock && e->ops->cmpxchg) {
			uint64_t cur = old;
			int rc = e->ops->cmpxchg(e->ctx, gva(e->la), &cur, &nv, size, e->fault);
			if (rc < 0)
				return cbres(rc);
			if (rc == 1)
				break;
			if (tries >= LOCK_RETRIES)
				return X86_EMU_ERROR;
			old = cur & size_mask(size);
			continue;
		}
		TRY(mem_write_la(e, e->la, &nv, size));
		break;
	}
	e->rflags = fl;
	if (old_out)
		*old_out = old;
	return OK;
}

/* ---- flags and ALU ---- */

static uint64_t szp(uint64_t r, unsigned size)
{
	uint64_t f = 0;
	r &= size_mask(size);
	if (!r)
		f |= ZF;
	if (r & sign_bit(size))
		f |= SF;
	if (!__builtin_parity((unsigned)(r & 0xff)))
		f |= PF;
	return f;
}

/*
 * op: 0 add, 1 or, 2 adc, 3 sbb, 4 and, 5 sub, 6 xor, 7 cmp (the ModRM.reg order of group 1).
 * Logic ops clear CF/OF; AF is undefined for them and cleared (as Intel and AMD do).
 */
static uint64_t alu(unsigned op, uint64_t a, uint64_t b, unsigned size, uint64_t *flp)
{
	uint64_t m = size_mask(size), msb = sign_bit(size), fl = *flp, r, f = 0;
	uint64_t cin = (op == 2 || op == 3) ? (fl & CF) : 0;
	a &= m;
	b &= m;
	switch (op) {
	case 0:
	case 2:
		r = (a + b + cin) & m;
		if (((a & b) | ((a | b) & ~r)) & msb)
			f |= CF;
		if ((a ^ r) & (b ^ r) & msb)
			f |= OF;
		f |= (a ^ b ^ r) & AF;
		break;
	case 3:
	case 5:
	case 7:
		r = (a - b - cin) & m;
		if (((~a & b) | ((~a | b) & r)) & msb)
			f |= CF;
		if ((a ^ b) & (a ^ r) & msb)
			f |= OF;
		f |= (a ^ b ^ r) & AF;
		break;
	case 1:
		r = a | b;
		break;
	case 4:
		r = a & b;
		break;
	default:
		r = a ^ b;
		break;
	}
	*flp = (fl & ~ARITH) | f | szp(r, size);
	return r;
}

static uint64_t rmw_alu(struct emu *e, uint64_t old, uint64_t arg, unsigned size, uint64_t *fl)
{
	return alu(e->sub_op, old, arg, size, fl);
}

/* INC/DEC: like ADD/SUB 1 but CF is preserved. */
static uint64_t rmw_incdec(struct emu *e, uint64_t old, uint64_t arg, unsigned size, uint64_t *fl)
{
	(void)arg;
	uint64_t cf = *fl & CF;
	uint64_t r = alu(e->sub_op ? 5 : 0, old, 1, size, fl);
	*fl = (*fl & ~CF) | cf;
	return r;
}

static uint64_t rmw_not(struct emu *e, uint64_t old, uint64_t arg, unsigned size, uint64_t *fl)
{
	(void)e;
	(void)arg;
	(void)fl;
	return ~old & size_mask(size);
}

static uint64_t rmw_neg(struct emu *e, uint64_t old, uint64_t arg, unsigned size, uint64_t *fl)
{
	(void)e;
	(void)arg;
	return alu(5, 0, old, size, fl);
}

/* XCHG/XADD: the new memory value comes from the register (arg). */
static uint64_t rmw_xchg(struct emu *e, uint64_t old, uint64_t arg, unsigned size, uint64_t *fl)
{
	(void)e;
	(void)old;
	(void)fl;
	return arg & size_mask(size);
}

static uint64_t rmw_xadd(struct emu *e, uint64_t old, uint64_t arg, unsigned size, uint64_t *fl)
{
	(void)e;
	return alu(0, old, arg, size, fl);
}

static bool cond(uint64_t f, unsigned cc)
{
	bool r;
	switch (cc >> 1) {
	case 0: r = f & OF; break;
	case 1: r = f & CF; break;
	case 2: r = f & ZF; break;
	case 3: r = f & (CF | ZF); break;
	case 4: r = f & SF; break;
	case 5: r = f & PF; break;
	case 6: r = !(f & SF) != !(f & OF); break;
	default: r = (f & ZF) || (!(f & SF) != !(f & OF)); break;
	}
	return (cc & 1) ? !r : r;
}

/*
 * Shifts and rotates, count already masked and non-zero (a zero count changes no flags).
 * op is the group-2 ModRM.reg: rol ror rcl rcr shl shr sal sar. OF is architecturally defined
 * only for a count of 1; for larger counts the values the AMD EPYC this was developed on
 * produces are used (measured against the hardware), likewise AF.
 */
static uint64_t shift_rot(unsigned op, uint64_t v, unsigned cnt, unsigned size, uint64_t *flp)
{
	unsigned bits = size * 8;
	uint64_t m = size_mask(size), msb = sign_bit(size), fl = *flp, r;
	bool cf, of;
	v &= m;
	switch (op) {
	case 0: { /* ROL */
		unsigned c = cnt % bits;
		r = c ? ((v << c) | (v >> (bits - c))) & m : v;
		cf = r & 1;
		of = !!(r & msb) != cf;
		*flp = (fl & ~(CF | OF)) | (cf ? CF : 0) | (of ? OF : 0);
		return r;
	}
	case 1: { /* ROR */
		unsigned c = cnt % bits;
		r = c ? ((v >> c) | (v << (bits - c))) & m : v;
		cf = r & msb;
		of = !!(r & msb) != !!(r & (msb >> 1));
		*flp = (fl & ~(CF | OF)) | (cf ? CF : 0) | (of ? OF : 0);
		return r;
	}
	case 2: { /* RCL: rotate the size+1-bit value CF:v */
		unsigned c = size == 1 ? cnt % 9 : size == 2 ? cnt % 17 : cnt;
		cf = fl & CF;
		r = v;
		for (unsigned k = 0; k < c; k++) {
			bool out = r & msb;
			r = ((r << 1) | cf) & m;
			cf = out;
		}
		of = !!(r & msb) != cf;
		*flp = (fl & ~(CF | OF)) | (cf ? CF : 0) | (of ? OF : 0);
		return r;
	}
	case 3: { /* RCR */
		unsigned c = size == 1 ? cnt % 9 : size == 2 ? cnt % 17 : cnt;
		cf = fl & CF;
		r = v;
		for (unsigned k = 0; k < c; k++) {
			bool out = r & 1;
			r = (r >> 1) | (cf ? msb : 0);
			cf = out;
		}
		/* SDM: MSB(dest) ^ CF before the rotation for a count of 1, which equals the top
		 * two result bits' XOR; AMD applies the latter for every count. */
		of = !!(r & msb) != !!(r & (msb >> 1));
		*flp = (fl & ~(CF | OF)) | (cf ? CF : 0) | (of ? OF : 0);
		return r;
	}
	case 4:
	case 6: /* SHL/SAL */
		if (size == 8) {
			r = v << cnt;
			cf = (v >> (64 - cnt)) & 1;
		} else {
			uint64_t wide = v << cnt; /* cnt <= 31, v < 2^32: fits */
			r = wide & m;
			cf = (wide >> bits) & 1;
		}
		of = !!(r & msb) != cf;
		break;
	case 5: /* SHR: OF = MSB(original) for a count of 1, 0 beyond (as AMD does) */
		r = cnt < bits ? v >> cnt : 0;
		cf = cnt <= bits ? (v >> (cnt - 1)) & 1 : 0;
		of = cnt == 1 && (v & msb);
		break;
	default: { /* SAR */
		int64_t s = sext(v, size);
		unsigned c = cnt < bits ? cnt : bits - 1;
		r = (uint64_t)(s >> c) & m;
		cf = cnt <= bits ? ((uint64_t)(s >> (cnt - 1)) & 1) : (s < 0);
		of = false;
		break;
	}
	}
	/* AF is undefined; AMD sets it for every non-zero count. */
	*flp = (fl & ~ARITH) | szp(r, size) | AF | (cf ? CF : 0) | (of ? OF : 0);
	return r;
}

static uint64_t rmw_shift(struct emu *e, uint64_t old, uint64_t arg, unsigned size, uint64_t *fl)
{
	return shift_rot(e->sub_op, old, (unsigned)arg, size, fl);
}

/*
 * SHLD/SHRD, count masked and non-zero. For 16-bit counts above 16 (undefined result) AMD
 * continues shifting in the source again (dest:src:src), which is reproduced here.
 */
static uint64_t shd(unsigned right, uint64_t d, uint64_t s, unsigned cnt, unsigned size,
		    uint64_t *flp)
{
	uint64_t m = size_mask(size), msb = sign_bit(size), r;
	bool cf;
	d &= m;
	s &= m;
	if (size == 8) {
		if (right) {
			r = (d >> cnt) | (s << (64 - cnt));
			cf = (d >> (cnt - 1)) & 1;
		} else {
			r = (d << cnt) | (s >> (64 - cnt));
			cf = (d >> (64 - cnt)) & 1;
		}
	} else if (size == 4) {
		if (right) {
			uint64_t t = (s << 32) | d;
			r = (t >> cnt) & m;
			cf = (t >> (cnt - 1)) & 1;
		} else {
			uint64_t t = (d << 32) | s;
			r = (t << cnt) >> 32 & m;
			cf = (t >> (64 - cnt)) & 1;
		}
	} else {
		if (right) {
			uint64_t t = (s << 32) | (s << 16) | d;
			r = (t >> cnt) & m;
			cf = (t >> (cnt - 1)) & 1;
		} else {
			uint64_t t = (d << 32) | (s << 16) | s;
			r = (t >> (32 - cnt)) & m;
			cf = (t >> (48 - cnt)) & 1;
		}
	}
	/* OF: sign change for a count of 1; beyond, what AMD produces (the SHL/SHR formulas on
	 * the result, which agree with the sign change at a count of 1). */
	bool of = right ? !!(r & msb) != !!(r & (msb >> 1)) : !!(r & msb) != cf;
	if (size == 2 && cnt >= 16 && !right) /* AMD: OF = CF at 16, clear beyond */
		of = cnt == 16 && cf;
	if (size == 2 && cnt > 16) /* AMD: CF clear */
		cf = false;
	*flp = (*flp & ~ARITH) | szp(r, size) | AF | (cf ? CF : 0) | (of ? OF : 0);
	return r;
}

static uint64_t rmw_shd(struct emu *e, uint64_t old, uint64_t arg, unsigned size, uint64_t *fl)
{
	return shd(e->sub_op, old, e->arg2, (unsigned)arg, size, fl);
}

/* BTS/BTR/BTC (sub_op 1/2/3): CF = old bit; other flags unchanged. */
static uint64_t rmw_bt(struct emu *e, uint64_t old, uint64_t arg, unsigned size, uint64_t *fl)
{
	(void)size;
	uint64_t bit = 1ull << arg;
	*fl = (*fl & ~CF) | ((old & bit) ? CF : 0);
	switch (e->sub_op) {
	case 1: return old | bit;
	case 2: return old & ~bit;
	default: return old ^ bit;
	}
}

/* ---- instruction groups ---- */

/* E op= src (group 1 and 00-3F forms); CMP only reads. */
static res_t alu_e(struct emu *e, unsigned op, unsigned size, uint64_t src)
{
	if (op == 7) {
		uint64_t v, fl = e->rflags;
		TRY(e_read(e, size, &v, false));
		alu(7, v, src, size, &fl);
		e->rflags = fl;
		return OK;
	}
	e->sub_op = op;
	return rmw(e, size, rmw_alu, src, NULL);
}

/* Register op= src (G forms and the accumulator-immediate forms). */
static void alu_reg(struct emu *e, unsigned op, unsigned r, unsigned size, uint64_t src)
{
	uint64_t fl = e->rflags;
	uint64_t res = alu(op, rd_reg(e, r, size), src, size, &fl);
	if (op != 7)
		wr_reg(e, r, size, res);
	e->rflags = fl;
}

static void test_flags(struct emu *e, uint64_t a, uint64_t b, unsigned size)
{
	uint64_t fl = e->rflags;
	alu(4, a, b, size, &fl);
	e->rflags = fl;
}

/*
 * MUL/IMUL/DIV/IDIV (group 3 /4-/7). MUL/IMUL: CF = OF = upper half significant; SF, ZF, AF
 * and PF are undefined and left unchanged. DIV/IDIV: all flags undefined; SF, ZF, PF are
 * cleared and AF set, CF and OF kept. Both as measured on AMD EPYC.
 */
static res_t muldiv(struct emu *e, unsigned op, unsigned size)
{
	uint64_t src, m = size_mask(size);
	TRY(e_read(e, size, &src, false));
	unsigned bits = size * 8;
	uint64_t lo, hi;
	if (op == 4 || op == 5) {
		bool ovf;
		uint64_t a = rd_reg(e, X86_RAX, size);
		if (op == 4) {
			u128 p = (u128)a * src;
			lo = (uint64_t)p & m;
			hi = (size == 8 ? (uint64_t)(p >> 64) : (uint64_t)(p >> bits)) & m;
			ovf = hi != 0;
		} else {
			s128 p = (s128)sext(a, size) * sext(src, size);
			lo = (uint64_t)p & m;
			hi = (size == 8 ? (uint64_t)((u128)p >> 64) : (uint64_t)((u128)p >> bits)) & m;
			ovf = p != (s128)sext(lo, size);
		}
		if (size == 1) {
			wr_reg(e, X86_RAX, 2, lo | hi << 8);
		} else {
			wr_reg(e, X86_RAX, size, lo);
			wr_reg(e, X86_RDX, size, hi);
		}
		e->rflags = (e->rflags & ~(CF | OF)) | (ovf ? CF | OF : 0);
		return OK;
	}
	/* Dividend: AX for bytes, else rDX:rAX. */
	u128 n;
	if (size == 1)
		n = rd_reg(e, X86_RAX, 2);
	else
		n = ((u128)rd_reg(e, X86_RDX, size) << bits) | rd_reg(e, X86_RAX, size);
	unsigned nbits = bits * 2;
	if (src == 0)
		return raise(e, X86_EXC_DE, false, 0);
	uint64_t q, r;
	if (op == 6) {
		u128 qq = n / src;
		if (qq > m)
			return raise(e, X86_EXC_DE, false, 0);
		q = (uint64_t)qq;
		r = (uint64_t)(n % src);
	} else {
		/* Signed via magnitudes: no overflow in the host arithmetic. */
		bool nneg = (n >> (nbits - 1)) & 1;
		bool dneg = (src >> (bits - 1)) & 1;
		u128 nmask = nbits == 128 ? ~(u128)0 : (((u128)1 << nbits) - 1);
		u128 nmag = nneg ? ((~n + 1) & nmask) : n;
		uint64_t dmag = dneg ? ((~src + 1) & m) : src;
		u128 qm = nmag / dmag, rm = nmag % dmag;
		bool qneg = nneg != dneg;
		u128 lim = (u128)1 << (bits - 1);
		if (qneg ? qm > lim : qm >= lim)
			return raise(e, X86_EXC_DE, false, 0);
		q = (uint64_t)(qneg ? (~qm + 1) : qm) & m;
		r = (uint64_t)(nneg ? (~rm + 1) : rm) & m;
	}
	if (size == 1) {
		wr_reg(e, X86_RAX, 2, q | r << 8);
	} else {
		wr_reg(e, X86_RAX, size, q);
		wr_reg(e, X86_RDX, size, r);
	}
	e->rflags = (e->rflags & ~(SF | ZF | PF)) | AF;
	return OK;
}

/* IMUL r, r/m [, imm]: truncated signed product; CF = OF = truncation lost bits. */
static res_t imul_g(struct emu *e, unsigned size, uint64_t a, uint64_t b)
{
	uint64_t m = size_mask(size);
	s128 p = (s128)sext(a, size) * sext(b, size);
	uint64_t lo = (uint64_t)p & m;
	bool ovf = p != (s128)sext(lo, size);
	wr_reg(e, e->in.reg, size, lo);
	e->rflags = (e->rflags & ~(CF | OF)) | (ovf ? CF | OF : 0);
	return OK;
}

/* Group 2 shifts/rotates. A zero masked count writes nothing to memory and leaves the flags;
 * a 32-bit register destination is still zero-extended. */
static res_t group2(struct emu *e, unsigned size, unsigned cnt)
{
	cnt &= size == 8 ? 63 : 31;
	unsigned op = (e->in.modrm >> 3) & 7;
	if (!cnt) {
		uint64_t v;
		TRY(e_read(e, size, &v, true));
		if (!e->in.has_mem)
			wr_reg(e, e->in.rm, size, v);
		return OK;
	}
	e->sub_op = op;
	return rmw(e, size, rmw_shift, cnt, NULL);
}

static res_t shld_shrd(struct emu *e, unsigned right, unsigned cnt)
{
	unsigned size = e->in.opsize;
	cnt &= size == 8 ? 63 : 31;
	if (!cnt) {
		uint64_t v;
		TRY(e_read(e, size, &v, true));
		if (!e->in.has_mem)
			wr_reg(e, e->in.rm, size, v);
		return OK;
	}
	e->sub_op = right;
	e->arg2 = rd_reg(e, e->in.reg, size);
	return rmw(e, size, rmw_shd, cnt, NULL);
}

/* BT/BTS/BTR/BTC. kind 0-3; a register bit offset reaches outside a memory operand. */
static res_t bt_op(struct emu *e, unsigned kind, uint64_t off, bool imm)
{
	unsigned size = e->in.opsize, bits = size * 8;
	if (!imm && e->in.has_mem) {
		int64_t so = sext(off, size);
		int64_t unit = so >> (bits == 16 ? 4 : bits == 32 ? 5 : 6); /* floor division */
		e->ea_adj = (uint64_t)(unit * (int64_t)size);
	}
	off &= bits - 1;
	if (kind == 0) {
		uint64_t v;
		TRY(e_read(e, size, &v, false));
		e->rflags = (e->rflags & ~CF) | (((v >> off) & 1) ? CF : 0);
		return OK;
	}
	e->sub_op = kind;
	return rmw(e, size, rmw_bt, off, NULL);
}

/* CMPXCHG r/m, r: compare with the accumulator (flags as CMP acc, dest). */
static res_t cmpxchg(struct emu *e)
{
	unsigned size = e->in.opsize;
	uint64_t acc = rd_reg(e, X86_RAX, size), src = rd_reg(e, e->in.reg, size), dst;
	uint64_t fl = e->rflags;
	if (!e->in.has_mem) {
		dst = rd_reg(e, e->in.rm, size);
		alu(7, acc, dst, size, &fl);
		/* Only the register actually written is zero-extended (as hardware does). */
		if (acc == dst)
			wr_reg(e, e->in.rm, size, src);
		else
			wr_reg(e, X86_RAX, size, dst);
		e->rflags = fl;
		return OK;
	}
	if (e->in.lock && e->ops->cmpxchg) {
		uint64_t la, cur = acc;
		TRY(linearize(e, e->in.mem.seg, ea_of(e), size, X86_EMU_WRITE, &la));
		int rc = e->ops->cmpxchg(e->ctx, gva(la), &cur, &src, size, e->fault);
		if (rc < 0)
			return cbres(rc);
		dst = rc == 1 ? acc : cur & size_mask(size);
	} else {
		/* Unlocked: the processor always writes the destination (old value on a miss). */
		TRY(e_read(e, size, &dst, true));
		uint64_t nv = acc == dst ? src : dst;
		TRY(mem_write_la(e, e->la, &nv, size));
	}
	alu(7, acc, dst, size, &fl);
	if (acc != dst)
		wr_reg(e, X86_RAX, size, dst);
	e->rflags = fl;
	return OK;
}

/* CMPXCHG8B / CMPXCHG16B m (0F C7 /1). */
static res_t cmpxchg8b16b(struct emu *e)
{
	if (!e->in.has_mem)
		return ud(e);
	unsigned half = (e->in.rex & 8) ? 8 : 4, size = half * 2;
	uint64_t la, ea = ea_of(e);
	if (size == 16 && misaligned(e, e->in.mem.seg, ea, 16))
		return gp0(e);
	TRY(linearize(e, e->in.mem.seg, ea, size, X86_EMU_WRITE, &la));
	uint64_t m = size_mask(half);
	uint64_t cmp[2] = { 0, 0 }, nv[2] = { 0, 0 }, cur[2] = { 0, 0 };
	if (half == 8) {
		cmp[0] = e->gpr[X86_RAX];
		cmp[1] = e->gpr[X86_RDX];
		nv[0] = e->gpr[X86_RBX];
		nv[1] = e->gpr[X86_RCX];
	} else {
		cmp[0] = (e->gpr[X86_RAX] & m) | (e->gpr[X86_RDX] & m) << 32;
		nv[0] = (e->gpr[X86_RBX] & m) | (e->gpr[X86_RCX] & m) << 32;
	}
	bool equal;
	if (e->in.lock && e->ops->cmpxchg) {
		memcpy(cur, cmp, sizeof(cur));
		int rc = e->ops->cmpxchg(e->ctx, gva(la), cur, nv, size, e->fault);
		if (rc < 0)
			return cbres(rc);
		equal = rc == 1;
		if (equal)
			memcpy(cur, cmp, sizeof(cur));
	} else {
		if (!e->ops->read)
			return X86_EMU_ERROR;
		TRY(cbres(e->ops->read(e->ctx, gva(la), cur, size, X86_EMU_WRITE, e->fault)));
		equal = memcmp(cur, cmp, size) == 0;
		TRY(mem_write_la(e, la, equal ? nv : cur, size));
	}
	if (!equal) {
		if (half == 8) {
			e->gpr[X86_RAX] = cur[0];
			e->gpr[X86_RDX] = cur[1];
		} else {
			wr_reg(e, X86_RAX, 4, cur[0]);
			wr_reg(e, X86_RDX, 4, cur[0] >> 32);
		}
	}
	e->rflags = (e->rflags & ~ZF) | (equal ? ZF : 0);
	return OK;
}

static res_t xadd(struct emu *e)
{
	unsigned size = e->in.opsize;
	uint64_t src = rd_reg(e, e->in.reg, size);
	if (!e->in.has_mem) {
		/* TEMP = SRC + DEST; SRC = DEST; DEST = TEMP (DEST wins when both are one reg). */
		uint64_t dst = rd_reg(e, e->in.rm, size), fl = e->rflags;
		uint64_t sum = alu(0, dst, src, size, &fl);
		wr_reg(e, e->in.reg, size, dst);
		wr_reg(e, e->in.rm, size, sum);
		e->rflags = fl;
		return OK;
	}
	uint64_t old;
	TRY(rmw(e, size, rmw_xadd, src, &old));
	wr_reg(e, e->in.reg, size, old);
	return OK;
}

static res_t xchg(struct emu *e)
{
	unsigned size = e->in.opsize;
	uint64_t src = rd_reg(e, e->in.reg, size);
	if (!e->in.has_mem) {
		uint64_t dst = rd_reg(e, e->in.rm, size);
		wr_reg(e, e->in.rm, size, src);
		wr_reg(e, e->in.reg, size, dst);
		return OK;
	}
	e->in.lock = true; /* XCHG with memory is always locked */
	uint64_t old;
	TRY(rmw(e, size, rmw_xchg, src, &old));
	wr_reg(e, e->in.reg, size, old);
	return OK;
}

/* ---- string instructions ---- */

static unsigned src_seg(const struct emu *e)
{
	int s = e->in.seg_override; /* already without the ones 64-bit mode ignores */
	return s >= 0 ? (unsigned)s : X86_DS;
}

static res_t io_in(struct emu *e, uint16_t port, unsigned size, uint64_t *v)
{
	uint32_t val = 0;
	if (!e->ops->io_in)
		return X86_EMU_ERROR;
	TRY(cbres(e->ops->io_in(e->ctx, port, size, &val, e->fault)));
	*v = val & size_mask(size);
	return OK;
}

static res_t io_out(struct emu *e, uint16_t port, unsigned size, uint64_t v)
{
	if (!e->ops->io_out)
		return X86_EMU_ERROR;
	return cbres(e->ops->io_out(e->ctx, port, size, (uint32_t)(v & size_mask(size)), e->fault));
}

/*
 * MOVS CMPS STOS LODS SCAS INS OUTS, with REP/REPE/REPNE. The source segment may be
 * overridden, the destination is always ES. Registers are updated per completed iteration;
 * a fault in a later iteration keeps the earlier ones (e->partial).
 */
static res_t string_loop(struct emu *e)
{
	const struct x86_insn *in = &e->in;
	unsigned op = in->opcode, size = in->opsize;
	bool io = op >= 0x6c && op <= 0x6f;
	if (io && size == 8)
		size = 4;
	uint64_t am = size_mask(in->addr_size);
	unsigned sseg = src_seg(e);
	bool rep = in->rep != 0;
	bool cmp = op == 0xa6 || op == 0xa7 || op == 0xae || op == 0xaf;
	uint64_t step = (e->rflags & X86_FLAG_DF) ? (uint64_t)-(int64_t)size : size;
	uint16_t port = (uint16_t)e->gpr[X86_RDX];
	uint64_t done = 0;

	if (rep && !(e->gpr[X86_RCX] & am))
		return OK;
	for (;;) {
		uint64_t si = e->gpr[X86_RSI] & am, di = e->gpr[X86_RDI] & am;
		uint64_t v = 0, w = 0, la, fl;
		switch (op) {
		case 0xa4: case 0xa5:
			TRY(mem_read(e, sseg, si, &v, size, X86_EMU_READ, NULL));
			TRY(mem_write(e, X86_ES, di, &v, size));
			wr_areg(e, X86_RSI, si + step);
			wr_areg(e, X86_RDI, di + step);
			break;
		case 0xa6: case 0xa7: {
			/* Segment/canonical and alignment checks of ES:DI come before those of
			 * the source (observed on hardware: ES:DI beyond the limit gives #GP
			 * even with a misaligned DS:SI, and a misaligned ES:DI gives #AC even
			 * with DS:SI beyond the limit); the reads, and so any #PF, stay in
			 * source-first order. */
			uint64_t sla, dla;
			TRY(linearize(e, X86_ES, di, size, X86_EMU_READ, &dla));
			TRY(linearize(e, sseg, si, size, X86_EMU_READ, &sla));
			if (!e->ops->read)
				return X86_EMU_ERROR;
			TRY(cbres(e->ops->read(e->ctx, gva(sla), &v, size, X86_EMU_READ, e->fault)));
			TRY(cbres(e->ops->read(e->ctx, gva(dla), &w, size, X86_EMU_READ, e->fault)));
			fl = e->rflags;
			alu(7, v, w, size, &fl);
			e->rflags = fl;
			wr_areg(e, X86_RSI, si + step);
			wr_areg(e, X86_RDI, di + step);
			break;
		}
		case 0xaa: case 0xab:
			v = rd_reg(e, X86_RAX, size);
			TRY(mem_write(e, X86_ES, di, &v, size));
			wr_areg(e, X86_RDI, di + step);
			break;
		case 0xac: case 0xad:
			TRY(mem_read(e, sseg, si, &v, size, X86_EMU_READ, NULL));
			wr_reg(e, X86_RAX, size, v);
			wr_areg(e, X86_RSI, si + step);
			break;
		case 0xae: case 0xaf:
			TRY(mem_read(e, X86_ES, di, &w, size, X86_EMU_READ, NULL));
			fl = e->rflags;
			alu(7, rd_reg(e, X86_RAX, size), w, size, &fl);
			e->rflags = fl;
			wr_areg(e, X86_RDI, di + step);
			break;
		case 0x6c: case 0x6d:
			/* Check the destination before consuming the port value. */
			TRY(linearize(e, X86_ES, di, size, X86_EMU_WRITE, &la));
			TRY(io_in(e, port, size, &v));
			TRY(mem_write_la(e, la, &v, size));
			wr_areg(e, X86_RDI, di + step);
			break;
		default: /* 6E/6F OUTS */
			TRY(mem_read(e, sseg, si, &v, size, X86_EMU_READ, NULL));
			TRY(io_out(e, port, size, v));
			wr_areg(e, X86_RSI, si + step);
			break;
		}
		if (!rep)
			return OK;
		uint64_t count = ((e->gpr[X86_RCX] & am) - 1) & am;
		wr_areg(e, X86_RCX, count);
		done++;
		e->partial = true;
		if (!count)
			return OK;
		if (cmp) {
			bool zf = e->rflags & ZF;
			if (in->rep == 0xf3 ? !zf : zf)
				return OK;
		}
		if (done >= e->rep_limit) {
			e->rip_stays = true;
			return OK;
		}
	}
}

/*
 * SDM vol. 2 (REP): a fault during REPE/REPNE CMPS or SCAS restores EFLAGS to its value
 * before the instruction, while RCX/RSI/RDI keep the completed iterations (the resumed
 * instruction does not read the flags). Observed on Intel hardware too.
 */
static res_t string_op(struct emu *e)
{
	uint64_t fl0 = e->rflags;
	unsigned op = e->in.opcode;
	res_t r = string_loop(e);
	if (r != OK && e->in.rep && (op == 0xa6 || op == 0xa7 || op == 0xae || op == 0xaf))
		e->rflags = fl0;
	return r;
}

/* ---- SSE moves ---- */

static res_t sse_check(struct emu *e)
{
	if ((e->cpu->cr0 & CR0_EM) || !(e->cpu->cr4 & CR4_OSFXSR))
		return ud(e);
	if (e->cpu->cr0 & CR0_TS)
		return raise(e, X86_EXC_NM, false, 0);
	if (!e->xmm_loaded) {
		memcpy(e->xmm, e->cpu->xmm, sizeof(e->xmm));
		e->xmm_loaded = true;
	}
	return OK;
}

/* Memory side of an SSE move; `aligned` forms need 16-byte alignment (#GP(0)). */
static res_t sse_mem_read(struct emu *e, void *buf, unsigned size, bool aligned)
{
	uint64_t la, ea = ea_of(e);
	if (aligned && misaligned(e, e->in.mem.seg, ea, 16))
		return gp0(e);
	TRY(linearize(e, e->in.mem.seg, ea, size, X86_EMU_READ, &la));
	if (!e->ops->read)
		return X86_EMU_ERROR;
	return cbres(e->ops->read(e->ctx, gva(la), buf, size, X86_EMU_READ, e->fault));
}

static res_t sse_mem_write(struct emu *e, const void *buf, unsigned size, bool aligned)
{
	uint64_t la, ea = ea_of(e);
	if (aligned && misaligned(e, e->in.mem.seg, ea, 16))
		return gp0(e);
	TRY(linearize(e, e->in.mem.seg, ea, size, X86_EMU_WRITE, &la));
	return mem_write_la(e, la, buf, size);
}

/*
 * Load into xmm[reg]: `n` bytes from memory (zeroing the rest when `zero`), or from xmm[rm]
 * (`nreg` bytes, the rest of the destination kept).
 */
static res_t xmm_load(struct emu *e, unsigned n, unsigned nreg, bool zero, bool aligned)
{
	uint8_t *x = e->xmm[e->in.reg];
	if (!e->in.has_mem) {
		memcpy(x, e->xmm[e->in.rm], nreg);
		return OK;
	}
	uint8_t t[16];
	TRY(sse_mem_read(e, t, n, aligned));
	if (zero)
		memset(x, 0, 16);
	memcpy(x, t, n);
	return OK;
}

static res_t xmm_store(struct emu *e, unsigned off, unsigned n, bool aligned, bool mem_only)
{
	uint8_t *x = e->xmm[e->in.reg];
	if (!e->in.has_mem) {
		if (mem_only)
			return ud(e);
		memcpy(e->xmm[e->in.rm], x + off, n);
		return OK;
	}
	return sse_mem_write(e, x + off, n, aligned);
}

static res_t sse_move(struct emu *e)
{
	const struct x86_insn *in = &e->in;
	unsigned pfx = in->rep ? in->rep : in->opsize_prefix ? 0x66 : 0;
	unsigned op = in->opcode;
	bool mmx = pfx == 0 && (op == 0x6e || op == 0x6f || op == 0x7e || op == 0x7f || op == 0xe7);
	if (mmx)
		return X86_EMU_UNSUPPORTED; /* MMX registers are not part of the state */
	TRY(sse_check(e));
	uint8_t *x = e->xmm[in->reg];
	switch (op) {
	case 0x10: /* MOVUPS/MOVUPD/MOVSS/MOVSD load */
		if (pfx == 0xf3)
			return xmm_load(e, 4, 4, true, false);
		if (pfx == 0xf2)
			return xmm_load(e, 8, 8, true, false);
		return xmm_load(e, 16, 16, true, false);
	case 0x11:
		if (pfx == 0xf3)
			return xmm_store(e, 0, 4, false, false);
		if (pfx == 0xf2)
			return xmm_store(e, 0, 8, false, false);
		return xmm_store(e, 0, 16, false, false);
	case 0x12: case 0x16: { /* MOVLPS/MOVLPD/MOVHPS/MOVHPD load, MOVHLPS/MOVLHPS */
		if (pfx == 0xf2 || pfx == 0xf3)
			return X86_EMU_UNSUPPORTED; /* MOVDDUP/MOVSLDUP/MOVSHDUP */
		unsigned off = op == 0x16 ? 8 : 0;
		if (!in->has_mem) {
			if (pfx == 0x66)
				return ud(e);
			memcpy(x + off, e->xmm[in->rm] + (8 - off), 8);
			return OK;
		}
		uint8_t t[8];
		TRY(sse_mem_read(e, t, 8, false));
		memcpy(x + off, t, 8);
		return OK;
	}
	case 0x13: case 0x17:
		if (pfx == 0xf2 || pfx == 0xf3)
			return ud(e);
		return xmm_store(e, op == 0x17 ? 8 : 0, 8, false, true);
	case 0x28: /* MOVAPS/MOVAPD */
		if (in->rep)
			return ud(e);
		return xmm_load(e, 16, 16, true, true);
	case 0x29:
		if (in->rep)
			return ud(e);
		return xmm_store(e, 0, 16, true, false);
	case 0x2b: /* MOVNTPS/MOVNTPD (F3/F2: AMD MOVNTSS/MOVNTSD, not emulated) */
		if (in->rep)
			return X86_EMU_UNSUPPORTED;
		return xmm_store(e, 0, 16, true, true);
	case 0x6e: { /* MOVD/MOVQ xmm, r/m */
		if (pfx != 0x66)
			return ud(e);
		unsigned n = (in->rex & 8) ? 8 : 4;
		uint64_t v;
		TRY(e_read(e, n, &v, false));
		memset(x, 0, 16);
		memcpy(x, &v, n);
		return OK;
	}
	case 0x7e:
		if (pfx == 0x66) { /* MOVD/MOVQ r/m, xmm */
			unsigned n = (in->rex & 8) ? 8 : 4;
			uint64_t v = 0;
			memcpy(&v, x, n);
			return e_write(e, n, v);
		}
		if (pfx == 0xf3) { /* MOVQ xmm, xmm/m64 */
			if (!in->has_mem) {
				uint8_t t[8];
				memcpy(t, e->xmm[in->rm], 8);
				memset(x, 0, 16);
				memcpy(x, t, 8);
				return OK;
			}
			return xmm_load(e, 8, 8, true, false);
		}
		return ud(e);
	case 0x6f: /* MOVDQA / MOVDQU */
		if (pfx == 0xf2)
			return ud(e);
		return xmm_load(e, 16, 16, true, pfx == 0x66);
	case 0x7f:
		if (pfx == 0xf2)
			return ud(e);
		return xmm_store(e, 0, 16, pfx == 0x66, false);
	case 0xd6: /* MOVQ xmm/m64, xmm */
		if (pfx != 0x66)
			return X86_EMU_UNSUPPORTED; /* MOVQ2DQ/MOVDQ2Q: MMX */
		if (!in->has_mem) {
			uint8_t *d = e->xmm[in->rm];
			uint8_t t[8];
			memcpy(t, x, 8);
			memset(d, 0, 16);
			memcpy(d, t, 8);
			return OK;
		}
		return sse_mem_write(e, x, 8, false);
	case 0xe7: /* MOVNTDQ */
		if (pfx != 0x66)
			return ud(e);
		return xmm_store(e, 0, 16, true, true);
	default:
		return X86_EMU_UNSUPPORTED;
	}
}

/*
 * MOVDIR64B r, m512: 64-byte copy to ES:[r] (64-byte aligned) from the ModRM operand. The
 * source is read first, so its faults (#SS, #GP, #PF) rank before every destination fault,
 * the destination's misalignment #GP included (observed on Intel: a misaligned or
 * non-canonical destination with a source crossing into an unmapped page gives that #PF).
 */
static res_t movdir64b(struct emu *e)
{
	if (!e->in.has_mem)
		return ud(e);
	uint64_t dea = e->gpr[e->in.reg] & size_mask(e->in.addr_size), dla, sla;
	uint8_t buf[64];
	TRY(linearize(e, e->in.mem.seg, ea_of(e), 64, X86_EMU_READ, &sla));
	if (!e->ops->read)
		return X86_EMU_ERROR;
	TRY(cbres(e->ops->read(e->ctx, gva(sla), buf, 64, X86_EMU_READ, e->fault)));
	if (misaligned(e, X86_ES, dea, 64))
		return gp0(e);
	TRY(linearize(e, X86_ES, dea, 64, X86_EMU_WRITE, &dla));
	return mem_write_la(e, dla, buf, 64);
}

/* ---- dispatch ---- */

static res_t exec_map0(struct emu *e)
{
	struct x86_insn *in = &e->in;
	unsigned op = in->opcode, size = in->opsize, regf = (in->modrm >> 3) & 7;
	uint64_t v;

	if (op < 0x40 && (op & 7) < 6) {
		unsigned aop = op >> 3;
		switch (op & 7) {
		case 0: case 1:
			return alu_e(e, aop, size, rd_reg(e, in->reg, size));
		case 2: case 3:
			TRY(e_read(e, size, &v, false));
			alu_reg(e, aop, in->reg, size, v);
			return OK;
		default:
			alu_reg(e, aop, X86_RAX, size, (uint64_t)in->imm);
			return OK;
		}
	}
	switch (op) {
	case 0x40: case 0x41: case 0x42: case 0x43: case 0x44: case 0x45: case 0x46: case 0x47:
	case 0x48: case 0x49: case 0x4a: case 0x4b: case 0x4c: case 0x4d: case 0x4e: case 0x4f: {
		/* INC/DEC r (16/32-bit modes only: REX in 64-bit mode). */
		uint64_t fl = e->rflags;
		e->sub_op = op >= 0x48;
		v = rmw_incdec(e, rd_reg(e, op & 7, size), 0, size, &fl);
		wr_reg(e, op & 7, size, v);
		e->rflags = fl;
		return OK;
	}
	case 0x63:
		if (e->mode != X86_MODE_64)
			return X86_EMU_UNSUPPORTED; /* ARPL */
		if (size == 8) {
			TRY(e_read(e, 4, &v, false));
			wr_reg(e, in->reg, 8, (uint64_t)sext(v, 4));
		} else {
			TRY(e_read(e, size, &v, false));
			wr_reg(e, in->reg, size, v);
		}
		return OK;
	case 0x69:
		TRY(e_read(e, size, &v, false));
		return imul_g(e, size, v, (uint64_t)in->imm);
	case 0x6b:
		TRY(e_read(e, size, &v, false));
		return imul_g(e, size, v, (uint64_t)in->imm);
	case 0x6c: case 0x6d: case 0x6e: case 0x6f:
	case 0xa4: case 0xa5: case 0xa6: case 0xa7:
	case 0xaa: case 0xab: case 0xac: case 0xad: case 0xae: case 0xaf:
		return string_op(e);
	case 0x80: case 0x81: case 0x82: case 0x83:
		return alu_e(e, regf, size, (uint64_t)in->imm);
	case 0x84: case 0x85:
		TRY(e_read(e, size, &v, false));
		test_flags(e, v, rd_reg(e, in->reg, size), size);
		return OK;
	case 0x86: case 0x87:
		return xchg(e);
	case 0x88: case 0x89:
		return e_write(e, size, rd_reg(e, in->reg, size));
	case 0x8a: case 0x8b:
		TRY(e_read(e, size, &v, false));
		wr_reg(e, in->reg, size, v);
		return OK;
	case 0x8c: /* MOV r/m, Sreg: memory stores 16 bits; registers get the zero-extended selector */
		if (regf >= X86_SEG_COUNT)
			return ud(e);
		return e_write(e, in->has_mem ? 2 : size, e->cpu->seg[regf].selector);
	case 0x90: case 0x91: case 0x92: case 0x93: case 0x94: case 0x95: case 0x96: case 0x97: {
		unsigned r = (op & 7) | ((in->rex & 1) << 3);
		if (r == 0)
			return OK; /* NOP / PAUSE */
		uint64_t a = rd_reg(e, X86_RAX, size), b = rd_reg(e, r, size);
		wr_reg(e, X86_RAX, size, b);
		wr_reg(e, r, size, a);
		return OK;
	}
	case 0xa0: case 0xa1:
		TRY(e_read(e, size, &v, false));
		wr_reg(e, X86_RAX, size, v);
		return OK;
	case 0xa2: case 0xa3:
		return e_write(e, size, rd_reg(e, X86_RAX, size));
	case 0xa8: case 0xa9:
		test_flags(e, rd_reg(e, X86_RAX, size), (uint64_t)in->imm, size);
		return OK;
	case 0xb0: case 0xb1: case 0xb2: case 0xb3: case 0xb4: case 0xb5: case 0xb6: case 0xb7:
	case 0xb8: case 0xb9: case 0xba: case 0xbb: case 0xbc: case 0xbd: case 0xbe: case 0xbf:
		wr_reg(e, (op & 7) | ((in->rex & 1) << 3), size, (uint64_t)in->imm);
		return OK;
	case 0xc0: case 0xc1:
		return group2(e, size, (unsigned)in->imm & 0xff);
	case 0xd0: case 0xd1:
		return group2(e, size, 1);
	case 0xd2: case 0xd3:
		return group2(e, size, (unsigned)e->gpr[X86_RCX] & 0xff);
	case 0xc6: case 0xc7:
		if (in->modrm == 0xf8)
			return X86_EMU_UNSUPPORTED; /* XABORT / XBEGIN */
		return e_write(e, size, (uint64_t)in->imm);
	case 0xe4: case 0xe5: case 0xec: case 0xed: {
		unsigned n = size > 4 ? 4 : size;
		uint16_t port = op >= 0xec ? (uint16_t)e->gpr[X86_RDX] : (uint16_t)(in->imm & 0xff);
		TRY(io_in(e, port, n, &v));
		wr_reg(e, X86_RAX, n, v);
		return OK;
	}
	case 0xe6: case 0xe7: case 0xee: case 0xef: {
		unsigned n = size > 4 ? 4 : size;
		uint16_t port = op >= 0xee ? (uint16_t)e->gpr[X86_RDX] : (uint16_t)(in->imm & 0xff);
		return io_out(e, port, n, rd_reg(e, X86_RAX, n));
	}
	case 0xf6: case 0xf7:
		switch (regf) {
		case 0: case 1:
			TRY(e_read(e, size, &v, false));
			test_flags(e, v, (uint64_t)in->imm, size);
			return OK;
		case 2:
			return rmw(e, size, rmw_not, 0, NULL);
		case 3:
			return rmw(e, size, rmw_neg, 0, NULL);
		default:
			return muldiv(e, regf, size);
		}
	case 0xfe: case 0xff:
		if (regf > 1)
			return X86_EMU_UNSUPPORTED; /* CALL/JMP/PUSH */
		e->sub_op = regf;
		return rmw(e, size, rmw_incdec, 0, NULL);
	default:
		return X86_EMU_UNSUPPORTED;
	}
}

static res_t exec_map1(struct emu *e)
{
	struct x86_insn *in = &e->in;
	unsigned op = in->opcode, size = in->opsize, regf = (in->modrm >> 3) & 7;
	uint64_t v;

	switch (op) {
	case 0x0b: case 0xb9: case 0xff: /* UD2, UD1, UD0 */
		return ud(e);
	case 0x10: case 0x11: case 0x12: case 0x13: case 0x16: case 0x17:
	case 0x28: case 0x29: case 0x2b: case 0x6e: case 0x6f: case 0x7e: case 0x7f:
	case 0xd6: case 0xe7:
		return sse_move(e);
	case 0x1f: /* NOP Ev: no memory access */
		return regf == 0 ? OK : X86_EMU_UNSUPPORTED;
	case 0x40: case 0x41: case 0x42: case 0x43: case 0x44: case 0x45: case 0x46: case 0x47:
	case 0x48: case 0x49: case 0x4a: case 0x4b: case 0x4c: case 0x4d: case 0x4e: case 0x4f:
		/* CMOVcc: the source is read either way; a 32-bit destination is always written. */
		TRY(e_read(e, size, &v, false));
		if (cond(e->rflags, op & 15))
			wr_reg(e, in->reg, size, v);
		else if (size == 4)
			wr_reg(e, in->reg, 4, rd_reg(e, in->reg, 4));
		return OK;
	case 0x90: case 0x91: case 0x92: case 0x93: case 0x94: case 0x95: case 0x96: case 0x97:
	case 0x98: case 0x99: case 0x9a: case 0x9b: case 0x9c: case 0x9d: case 0x9e: case 0x9f:
		return e_write(e, 1, cond(e->rflags, op & 15));
	case 0xa3:
		return bt_op(e, 0, rd_reg(e, in->reg, size), false);
	case 0xab:
		return bt_op(e, 1, rd_reg(e, in->reg, size), false);
	case 0xb3:
		return bt_op(e, 2, rd_reg(e, in->reg, size), false);
	case 0xbb:
		return bt_op(e, 3, rd_reg(e, in->reg, size), false);
	case 0xba:
		if (regf < 4)
			return ud(e);
		return bt_op(e, regf - 4, (uint64_t)in->imm & 0xff, true);
	case 0xa4:
		return shld_shrd(e, 0, (unsigned)in->imm & 0xff);
	case 0xa5:
		return shld_shrd(e, 0, (unsigned)e->gpr[X86_RCX] & 0xff);
	case 0xac:
		return shld_shrd(e, 1, (unsigned)in->imm & 0xff);
	case 0xad:
		return shld_shrd(e, 1, (unsigned)e->gpr[X86_RCX] & 0xff);
	case 0xaf:
		TRY(e_read(e, size, &v, false));
		return imul_g(e, size, rd_reg(e, in->reg, size), v);
	case 0xb0: case 0xb1:
		return cmpxchg(e);
	case 0xb6: case 0xb7: case 0xbe: case 0xbf: {
		unsigned ssz = (op & 1) ? 2 : 1;
		TRY(e_read(e, ssz, &v, false));
		if (op >= 0xbe)
			v = (uint64_t)sext(v, ssz);
		wr_reg(e, in->reg, size, v);
		return OK;
	}
	case 0xc0: case 0xc1:
		return xadd(e);
	case 0xc3: /* MOVNTI m, r */
		if (!in->has_mem || in->opsize_prefix || in->rep)
			return ud(e);
		return e_write(e, (in->rex & 8) ? 8 : 4, rd_reg(e, in->reg, (in->rex & 8) ? 8 : 4));
	case 0xc7:
		if (regf == 1)
			return cmpxchg8b16b(e);
		return X86_EMU_UNSUPPORTED;
	default:
		return X86_EMU_UNSUPPORTED;
	}
}

static res_t exec_map2(struct emu *e)
{
	struct x86_insn *in = &e->in;
	uint64_t v;
	switch (in->opcode) {
	case 0x2a: /* MOVNTDQA xmm, m128 */
		if (!in->opsize_prefix || in->rep)
			return X86_EMU_UNSUPPORTED;
		if (!in->has_mem)
			return ud(e);
		TRY(sse_check(e));
		return xmm_load(e, 16, 16, true, true);
	case 0xf0: case 0xf1: /* MOVBE (F2: CRC32, not emulated) */
		if (in->rep)
			return X86_EMU_UNSUPPORTED;
		if (!in->has_mem)
			return ud(e);
		if (in->opcode == 0xf0) {
			TRY(e_read(e, in->opsize, &v, false));
			v = __builtin_bswap64(v) >> (64 - 8 * in->opsize);
			wr_reg(e, in->reg, in->opsize, v);
			return OK;
		}
		v = __builtin_bswap64(rd_reg(e, in->reg, in->opsize)) >> (64 - 8 * in->opsize);
		return e_write(e, in->opsize, v);
	case 0xf8:
		if (in->opsize_prefix && !in->rep)
			return movdir64b(e);
		return X86_EMU_UNSUPPORTED; /* ENQCMD/ENQCMDS */
	default:
		return X86_EMU_UNSUPPORTED;
	}
}

/* ---- entry points ---- */

static unsigned cpu_mode(const struct x86_emu_cpu *c)
{
	if ((c->efer & EFER_LMA) && (c->seg[X86_CS].attr & 0x2000))
		return X86_MODE_64;
	return (c->seg[X86_CS].attr & SEG_DB) ? X86_MODE_32 : X86_MODE_16;
}

/*
 * Decode from the supplied bytes; when they run out, fetch the missing ones from CS:RIP one
 * at a time so that no byte past the end of the instruction is ever touched (it might be on an
 * unmapped page).
 */
static res_t fetch_decode(struct emu *e, const uint8_t *bytes, size_t size)
{
	size_t have = size < X86_MAX_INSN_LEN ? size : X86_MAX_INSN_LEN;
	int n = x86_decode(bytes, have, (enum x86_mode)e->mode, &e->in);
	if (n == -ENODATA) {
		uint8_t buf[X86_MAX_INSN_LEN];
		if (have)
			memcpy(buf, bytes, have);
		uint64_t ipmask = e->mode == X86_MODE_64 ? ~0ull : 0xffffffffull;
		while (n == -ENODATA && have < X86_MAX_INSN_LEN) {
			uint64_t la;
			TRY(linearize(e, X86_CS, (e->cpu->rip + have) & ipmask, 1, X86_EMU_FETCH, &la));
			if (!e->ops->read)
				return X86_EMU_ERROR;
			TRY(cbres(e->ops->read(e->ctx, gva(la), buf + have, 1, X86_EMU_FETCH,
					       e->fault)));
			have++;
			n = x86_decode(buf, have, (enum x86_mode)e->mode, &e->in);
		}
	}
	if (n == -EINVAL)
		return ud(e);
	if (n == -E2BIG)
		return gp0(e);
	if (n < 0)
		return X86_EMU_ERROR;
	/* Bytes handed in by the caller still have to lie within CS (limit, canonical RIP). */
	uint64_t la;
	uint64_t ip = e->mode == X86_MODE_64 ? e->cpu->rip : (uint32_t)e->cpu->rip;
	return linearize(e, X86_CS, ip, (unsigned)n, X86_EMU_FETCH, &la);
}

static res_t execute(struct emu *e)
{
	struct x86_insn *in = &e->in;
	/* LOCK misuse never gets here: x86_decode rejects it (#UD). */
	if (in->vex)
		return X86_EMU_UNSUPPORTED; /* VEX/EVEX/XOP: the YMM/ZMM state is not available */
	switch (in->opcode_map) {
	case 0:
		return exec_map0(e);
	case 1:
		return exec_map1(e);
	case 2:
		return exec_map2(e);
	default:
		return X86_EMU_UNSUPPORTED;
	}
}

enum x86_emu_result x86_emu_step_rep(struct x86_emu_cpu *cpu, const uint8_t *bytes, size_t size,
				     const struct x86_emu_ops *ops, void *ctx,
				     struct x86_emu_fault *fault, uint64_t max_iterations)
{
	struct emu e;
	static const struct x86_emu_ops no_ops;
	struct x86_emu_fault dummy;
	memcpy(e.gpr, cpu->gpr, sizeof(e.gpr));
	e.rflags = cpu->rflags;
	e.xmm_loaded = false;
	e.cpu = cpu;
	e.ops = ops ? ops : &no_ops;
	e.ctx = ctx;
	e.fault = fault ? fault : &dummy;
	e.mode = cpu_mode(cpu);
	e.rep_limit = max_iterations ? max_iterations : X86_EMU_REP_CHUNK;
	e.ea_adj = 0;
	e.la = 0;
	e.sub_op = 0;
	e.arg2 = 0;
	e.partial = false;
	e.rip_stays = false;

	res_t r = fetch_decode(&e, bytes ? bytes : (const uint8_t *)"", bytes ? size : 0);
	if (r != OK)
		return r;
	uint64_t next = cpu->rip + e.in.len;
	e.next_rip = e.mode == X86_MODE_64 ? next : (uint32_t)next;
	r = execute(&e);
	/* A fault after completed REP iterations keeps them; RIP stays on the instruction. */
	if (r == OK || (e.partial && (r == X86_EMU_FAULT || r == X86_EMU_ERROR))) {
		if (r == OK && !e.rip_stays) {
			cpu->rip = e.next_rip;
			e.rflags &= ~RFLAGS_RF; /* cleared once an instruction completes */
		}
		memcpy(cpu->gpr, e.gpr, sizeof(e.gpr));
		cpu->rflags = e.rflags;
		if (e.xmm_loaded)
			memcpy(cpu->xmm, e.xmm, sizeof(e.xmm));
	}
	return r;
}

enum x86_emu_result x86_emu_step(struct x86_emu_cpu *cpu, const uint8_t *bytes, size_t size,
				 const struct x86_emu_ops *ops, void *ctx,
				 struct x86_emu_fault *fault)
{
	return x86_emu_step_rep(cpu, bytes, size, ops, ctx, fault, 0);
}
