/*
 * hvsim VPs: VTL0 on unicorn, the run loop behind MSHV_RETURN_TO_LOWER_VTL, intercept messages,
 * exception and interrupt delivery through the guest IDT, cancel / poll file, VTL protections.
 *
 * How exits are found (unicorn 2.0.1 facts: docs/hvsim.md, shared/docs/unicorn-notes.md):
 * unicorn has no usable hooks for RDMSR/WRMSR/HLT/VMCALL and its IN/OUT/CPUID hooks report a
 * stale RIP, so no instruction hook is used. A UC_HOOK_BLOCK hook decodes each translation
 * block (cached by address + byte hash) with arch/x86_64's x86_decode and finds the first
 * "special" instruction (IN, OUT, INS, OUTS, RDMSR, WRMSR, CPUID, HLT, VMCALL, VMMCALL,
 * SYSCALL, MOV CR/DR). Stopping inside the block hook keeps the block from executing; if the
 * special instruction is not the first of the block, the block is dropped from unicorn's cache
 * and re-run with `until` = its address, so that VTL0 stops exactly before it. hvsim then
 * handles that one instruction itself (intercept message, host answer, or a single unicorn step
 * for CPUID and architectural MSRs).
 * Memory exits (unmapped GPA, VTL protection) come from UC_HOOK_MEM_UNMAPPED / _PROT with a
 * precise RIP; exceptions from UC_HOOK_INTR (vector; CR2 for #PF; the #PF error code is
 * recomputed with the page walker).
 * Locking: hvsim_priv.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86_64/x86_emu.h"
#include "arch/x86_64/x86_pagewalk.h"
#include "hvcall/hv.h"
#include "hvcall/hv_exit.h"
#include "hvcall/mshv_abi.h"
#include "tools/hvsim/hvsim_priv.h"

/*
 * Intercept messages are built as a struct hv_exit and encoded with hvcall's hv_exit_encode:
 * the simulator produces the bytes with the same code the paravisor decodes them with (the
 * unit tests check the bytes at the offsets of hyperv-abi-facts 2.3/2.4 independently).
 */
/* cpu_context must sit where doc 1.4 says, for both layouts. */
_Static_assert(offsetof(struct mshv_abi_run, cancel) == 0, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_run, exit_message) == 16, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_run, cpu_context) == 272, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_run_ohcl, exit_message) == 16, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_run_ohcl, cpu_context) == 272, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_cpu_context, cr2) == 32, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_cpu_context, fx_state) == 128, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_fxsave, xmm) == 160, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_fxsave, mxcsr) == 24, "hyperv-abi-facts 1.4");

/* Blocks a VP runs before yielding the execution lock to a waiting VP (see exec_acquire). */
#define HVSIM_SLICE_BLOCKS 16384u

enum hvsim_stop {
	STOP_NONE = 0,
	STOP_KICK,
	STOP_SPECIAL,   /* stop_addr: a special instruction */
	STOP_INTR,      /* stop_vector */
	STOP_MEM_UNMAPPED,
	STOP_MEM_PROT,
	STOP_UNSUPPORTED, /* code through a non-identity mapping (stop_addr) */
};


static const int uc_gpr[16] = {
	UC_X86_REG_RAX, UC_X86_REG_RCX, UC_X86_REG_RDX, UC_X86_REG_RBX,
	UC_X86_REG_RSP, UC_X86_REG_RBP, UC_X86_REG_RSI, UC_X86_REG_RDI,
	UC_X86_REG_R8, UC_X86_REG_R9, UC_X86_REG_R10, UC_X86_REG_R11,
	UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15,
};
enum { R_AX, R_CX, R_DX, R_BX, R_SP, R_BP, R_SI, R_DI };

#define RFLAGS_TF (1ull << 8)
#define RFLAGS_IF (1ull << 9)
#define RFLAGS_NT (1ull << 14)
#define RFLAGS_RF (1ull << 16)
#define RFLAGS_VM (1ull << 17)
#define RFLAGS_AC (1ull << 18)

static uint64_t rd(struct hvsim_vp *vp, int reg)
{
	uint64_t v = 0;
	uc_reg_read(vp->uc, reg, &v);
	return v;
}

static void wr(struct hvsim_vp *vp, int reg, uint64_t v)
{
	uc_reg_write(vp->uc, reg, &v);
}

static uint64_t rd_msr(struct hvsim_vp *vp, uint32_t msr)
{
	uc_x86_msr m = { .rid = msr, .value = 0 };
	uc_reg_read(vp->uc, UC_X86_REG_MSR, &m);
	return m.value;
}

static struct mshv_abi_run *run_of(struct hvsim_vp *vp)
{
	return vp->run_page;
}

static _Atomic uint32_t *cancel_of(struct hvsim_vp *vp)
{
	/* The cancel word is shared with the paravisor, which stores to it atomically. */
	return (_Atomic uint32_t *)&run_of(vp)->cancel;
}

/* ---- guest memory ---- */

int hvsim_vp_read_gpa(struct hvsim *sim, uint64_t gpa, void *buf, size_t len)
{
	if (gpa >= sim->mem_size || len > sim->mem_size - gpa)
		return -EFAULT;
	memcpy(buf, sim->ram + gpa, len);
	return 0;
}

static int pw_read(void *ctx, gpa_t a, void *buf, unsigned size)
{
	return hvsim_vp_read_gpa(ctx, a.v, buf, size);
}

static int pw_cmpxchg(void *ctx, gpa_t a, uint64_t old, uint64_t new_value, unsigned size)
{
	struct hvsim *sim = ctx;
	if (a.v >= sim->mem_size || size > sim->mem_size - a.v)
		return -EFAULT;
	return x86_pw_cmpxchg_host(sim->ram + a.v, old, new_value, size);
}

static const struct x86_pw_mem_ops pw_ops = { .read = pw_read, .cmpxchg = pw_cmpxchg };

static void pw_regs(struct hvsim_vp *vp, struct x86_pw_regs *r)
{
	r->cr0 = rd(vp, UC_X86_REG_CR0);
	r->cr3 = rd(vp, UC_X86_REG_CR3);
	r->cr4 = rd(vp, UC_X86_REG_CR4);
	/* NXE as VTL0 set it: unicorn 2.0.1 cannot hold it (docs/hvsim.md) but the error codes
	 * of its NX faults (reported as reserved-bit faults) must be the architectural ones. */
	r->efer = rd_msr(vp, 0xC0000080) | vp->efer_extra;
	r->rflags = rd(vp, UC_X86_REG_RFLAGS);
	r->maxphyaddr = 0;
}

static unsigned vp_cpl(struct hvsim_vp *vp)
{
	return (unsigned)(rd(vp, UC_X86_REG_CS) & 3);
}

int hvsim_vp_translate(struct hvsim_vp *vp, uint64_t va, unsigned access, uint64_t *gpa_out,
		       uint32_t *pf_error)
{
	struct x86_pw_regs r;
	struct x86_pw_result res;
	pw_regs(vp, &r);
	int rc = x86_pw_translate(&r, gva(va), access, &pw_ops, vp->sim, &res);
	if (rc == 0)
		*gpa_out = res.gpa.v;
	else if (pf_error)
		*pf_error = res.fault ? res.pf_error : 0;
	if (rc == -EFAULT && !res.fault)
		return -ENXIO;  /* a table read hit non-RAM */
	return rc;
}

/*
 * Linear-address access for hvsim's own reads/writes (instruction bytes, interrupt frames,
 * IDT/GDT). Returns 0, -EFAULT with *pf set (a #PF to deliver, CR2 = *fault_va), -EINVAL
 * (non-canonical), -ENXIO (not RAM).
 */
static int vaccess(struct hvsim_vp *vp, uint64_t va, void *buf, size_t len, unsigned access,
		   uint32_t *pf, uint64_t *fault_va)
{
	uint8_t *b = buf;
	while (len) {
		size_t chunk = ADDR_PAGE_SIZE - (va & (ADDR_PAGE_SIZE - 1));
		if (chunk > len)
			chunk = len;
		uint64_t g;
		uint32_t err = 0;
		int rc = hvsim_vp_translate(vp, va, access, &g, &err);
		if (rc) {
			if (pf)
				*pf = err;
			if (fault_va)
				*fault_va = va;
			return rc;
		}
		if (g >= vp->sim->mem_size || chunk > vp->sim->mem_size - g)
			return -ENXIO;
		if (access & X86_PW_WRITE)
			memcpy(vp->sim->ram + g, b, chunk);
		else
			memcpy(b, vp->sim->ram + g, chunk);
		va += chunk;
		b += chunk;
		len -= chunk;
	}
	return 0;
}

/* Fetch up to 16 instruction bytes at `rip`; returns the count fetched (0 if none). */
static unsigned fetch_insn(struct hvsim_vp *vp, uint64_t rip, uint8_t bytes[16])
{
	unsigned user = vp_cpl(vp) == 3 ? X86_PW_USER : 0;
	memset(bytes, 0, 16);
	unsigned first = (unsigned)(ADDR_PAGE_SIZE - (rip & (ADDR_PAGE_SIZE - 1)));
	if (first > 16)
		first = 16;
	if (vaccess(vp, rip, bytes, first, X86_PW_FETCH | user, NULL, NULL))
		return 0;
	if (first < 16 && vaccess(vp, rip + first, bytes + first, 16 - first,
				  X86_PW_FETCH | user, NULL, NULL) == 0)
		return 16;
	return first;
}

/* ---- decoding (the project's own decoder, arch/x86_64; unicorn runs in 64-bit mode) ---- */

static bool decode(const uint8_t *bytes, size_t n, struct x86_insn *insn)
{
	return x86_decode(bytes, n, X86_MODE_64, insn) > 0;
}

/* The instructions hvsim handles itself. */
enum special {
	SP_NONE, SP_MOV_CR, SP_IN, SP_OUT, SP_INS, SP_OUTS, SP_RDMSR, SP_WRMSR, SP_CPUID, SP_HLT,
	SP_VMCALL, SP_SYSCALL, SP_MOV_DR,
};

static enum special classify(const struct x86_insn *in)
{
	if (in->vex)
		return SP_NONE;
	if (in->opcode_map == 0) {
		switch (in->opcode) {
		case 0xE4: case 0xE5: case 0xEC: case 0xED: return SP_IN;
		case 0xE6: case 0xE7: case 0xEE: case 0xEF: return SP_OUT;
		case 0x6C: case 0x6D: return SP_INS;
		case 0x6E: case 0x6F: return SP_OUTS;
		case 0xF4: return SP_HLT;
		default: return SP_NONE;
		}
	}
	if (in->opcode_map != 1)
		return SP_NONE;
	switch (in->opcode) {
	/* MOV to CRn: the block hook keys its cache on CR3 without reading it every block. */
	case 0x22: return SP_MOV_CR;
	/*
	 * MOV to/from DRn: hvsim keeps the debug registers itself (unicorn 2.0.1 crashes when a
	 * DR7 write enables a breakpoint; breakpoints are not modelled, docs/hvsim.md).
	 */
	case 0x21: case 0x23: return SP_MOV_DR;
	case 0x30: return SP_WRMSR;
	case 0x32: return SP_RDMSR;
	case 0xA2: return SP_CPUID;
	case 0x05: return SP_SYSCALL;
	case 0x01: /* VMCALL 0F 01 C1, VMMCALL 0F 01 D9 */
		return in->has_modrm && (in->modrm == 0xC1 || in->modrm == 0xD9) ? SP_VMCALL :
										   SP_NONE;
	default: return SP_NONE;
	}
}

/* Access size of IN/OUT/INS/OUTS: byte forms are even opcodes; REX.W does not widen. */
static unsigned io_size(const struct x86_insn *in)
{
	return (in->opcode & 1) ? (in->opsize_prefix ? 2 : 4) : 1;
}

/* Address-size mask of an instruction's implicit RSI/RDI/RCX use. */
static uint64_t addr_mask(const struct x86_insn *in)
{
	return in->addr_size == 8 ? ~0ull : in->addr_size == 4 ? 0xFFFFFFFFull : 0xFFFFull;
}

/*
 * Memory accesses of an instruction, for the #PF error code unicorn does not report: whether
 * its ModRM (or moffs) memory operand is written (read-modify-write counts as a write), and
 * its implicit stack / string accesses.
 */
struct mem_use {
	bool rm_write;        /* explicit memory operand is written */
	bool push, pop;       /* implicit stack write / read */
	bool str_write;       /* ES:rDI written (STOS, MOVS, INS) */
	bool str_read;        /* [rSI] / ES:[rDI] read only (LODS, MOVS source, CMPS, SCAS, OUTS) */
};

static struct mem_use mem_use_of(const struct x86_insn *in)
{
	struct mem_use u = { 0 };
	unsigned op = in->opcode, r = (in->modrm >> 3) & 7;
	if (in->opcode_map == 0 && !in->vex) {
		if (op < 0x40 && (op & 7) <= 1)
			u.rm_write = (op & 0x38) != 0x38; /* ALU r/m, reg; CMP only reads */
		switch (op) {
		case 0x80: case 0x81: case 0x83:
			u.rm_write = r != 7;
			break;
		case 0x86: case 0x87: case 0x88: case 0x89: case 0x8C:
		case 0xA2: case 0xA3: /* MOV moffs, rAX */
		case 0xC0: case 0xC1: case 0xD0: case 0xD1: case 0xD2: case 0xD3:
		case 0xC6: case 0xC7:
			u.rm_write = true;
			break;
		case 0x8F:
			u.rm_write = u.pop = true;
			break;
		case 0xD9: u.rm_write = r == 2 || r == 3 || r >= 6; break;
		case 0xDB: u.rm_write = (r >= 1 && r <= 3) || r == 7; break;
		case 0xDD: case 0xDF: u.rm_write = (r >= 1 && r <= 3) || r >= 6; break;
		case 0xF6: case 0xF7: u.rm_write = r == 2 || r == 3; break;
		case 0xFE: u.rm_write = r <= 1; break;
		case 0xFF:
			u.rm_write = r <= 1;
			u.push = r == 2 || r == 3 || r == 6;
			break;
		case 0x50: case 0x51: case 0x52: case 0x53: case 0x54: case 0x55: case 0x56:
		case 0x57: case 0x68: case 0x6A: case 0x9C: case 0xC8: case 0xE8:
			u.push = true;
			break;
		case 0x58: case 0x59: case 0x5A: case 0x5B: case 0x5C: case 0x5D: case 0x5E:
		case 0x5F: case 0x9D: case 0xC2: case 0xC3: case 0xC9: case 0xCA: case 0xCB:
		case 0xCF:
			u.pop = true;
			break;
		case 0xA4: case 0xA5: u.str_read = u.str_write = true; break;
		case 0xAA: case 0xAB: case 0x6C: case 0x6D: u.str_write = true; break;
		case 0xA6: case 0xA7: case 0xAC: case 0xAD: case 0xAE: case 0xAF: case 0x6E:
		case 0x6F:
			u.str_read = true;
			break;
		default:
			break;
		}
		return u;
	}
	if (in->opcode_map == 1) {
		switch (op) {
		case 0x00: u.rm_write = r <= 1; break;              /* SLDT, STR */
		case 0x01: u.rm_write = r <= 1 || r == 4; break;    /* SGDT, SIDT, SMSW */
		case 0x11: case 0x13: case 0x17: case 0x29: case 0x2B: case 0x7F: case 0xD6:
		case 0xE7: case 0xC3: case 0xAB: case 0xB3: case 0xBB: case 0xA4: case 0xA5:
		case 0xAC: case 0xAD: case 0xB0: case 0xB1: case 0xC0: case 0xC1:
			u.rm_write = true;
			break;
		case 0x7E: u.rm_write = in->rep != 0xF3; break;    /* F3 0F 7E is MOVQ load */
		case 0xBA: u.rm_write = r >= 5; break;              /* BTS/BTR/BTC imm */
		case 0xC7: u.rm_write = r == 1 || r == 4 || r == 5; break;
		case 0xAE: u.rm_write = r == 0 || r == 3 || r == 4 || r == 6; break;
		case 0xA0: case 0xA8: u.push = true; break;
		case 0xA1: case 0xA9: u.pop = true; break;
		default:
			u.rm_write = op >= 0x90 && op <= 0x9F;      /* SETcc */
			break;
		}
	} else if (in->opcode_map == 2) {
		u.rm_write = op == 0xF1 && in->rep != 0xF2;         /* MOVBE store */
	} else if (in->opcode_map == 3) {
		u.rm_write = op >= 0x14 && op <= 0x17;              /* PEXTRB/W/D/Q, EXTRACTPS */
	}
	return u;
}

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull ^ n;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0x100000001b3ull;
		h ^= h >> 29;
	}
	if (i < n) {
		uint64_t w = 0;
		memcpy(&w, p + i, n - i);
		h = (h ^ w) * 0x100000001b3ull;
		h ^= h >> 29;
	}
	return h;
}

/* ---- unicorn hooks ---- */

/* Relaxed per-VP counter bump: only the VP thread writes, readers tolerate tearing-free lag. */
static void stat_add(atomic_uint_fast64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/*
 * Is `insn` one hvsim must handle itself? IN/OUT with an immediate port that no intercept
 * covers, and CPUID while no CPUID intercept exists, run inside unicorn (the IN/OUT hooks give
 * the host answer; unicorn's CPUID is the default). sim->lock held.
 */
static bool needs_stop(struct hvsim_vp *vp, const struct x86_insn *insn)
{
	const struct hvsim_intercepts *ic = &vp->sim->icpt;
	enum special k = classify(insn);
	if (k == SP_NONE)
		return false;
	if (k == SP_CPUID)
		return ic->cpuid_count != 0;
	if ((k == SP_IN || k == SP_OUT) && !(insn->opcode & 0x08)) {
		unsigned size = io_size(insn);
		uint16_t port = (uint8_t)insn->imm; /* imm8 port, zero-extended */
		uint8_t acc = k == SP_OUT ? HVSIM_ACC_WRITE : HVSIM_ACC_READ;
		for (unsigned i = 0; i < size; i++)
			if (ic->io[(uint16_t)(port + i)] & acc)
				return true;
		return false;
	}
	return true;
}

/* Host pointer of the code byte at `va` (page-granular), NULL if not RAM. */
static const uint8_t *code_ptr(struct hvsim_vp *vp, uint64_t va, unsigned user_acc)
{
	uint64_t g;
	if (hvsim_vp_translate(vp, va, X86_PW_FETCH | X86_PW_NO_AD | user_acc, &g, NULL) ||
	    g >= vp->sim->mem_size)
		return NULL;
	return vp->sim->ram + g;
}

static uint64_t hash_entry(const struct hvsim_tb_entry *e)
{
	uint64_t h = hash_bytes(e->p1, e->len1);
	if (e->size > e->len1)
		h = h * 31 + hash_bytes(e->p2, e->size - e->len1);
	return h;
}

/*
 * Called before every translation block runs. The scan result of a block is cached by
 * (address, size, CR3) and revalidated with a hash of its current bytes (self-modifying code),
 * so the common case costs one register read and a short hash.
 */
static void hook_block(uc_engine *uc, uint64_t addr, uint32_t size, void *user)
{
	struct hvsim_vp *vp = user;
	if (atomic_load_explicit(&vp->kick, memory_order_relaxed)) {
		vp->stop = STOP_KICK;
		uc_emu_stop(uc);
		return;
	}
	if (atomic_load_explicit(&vp->want_window, memory_order_relaxed) &&
	    (rd(vp, UC_X86_REG_RFLAGS) & RFLAGS_IF)) {
		/* Interrupt window opened (STI, POPF, IRET): go deliver the pending interrupt. */
		vp->stop = STOP_KICK;
		uc_emu_stop(uc);
		return;
	}
	if (++vp->slice >= HVSIM_SLICE_BLOCKS &&
	    atomic_load_explicit(&vp->sim->exec_waiters, memory_order_relaxed)) {
		vp->stop = STOP_KICK; /* yield the execution lock to a waiting VP */
		uc_emu_stop(uc);
		return;
	}
	if (size == 0 || size > 8192)
		return;
	uint64_t cr3 = vp->cr3;
	uint64_t gen = atomic_load_explicit(&vp->sim->icpt_gen, memory_order_relaxed);
	struct hvsim_tb_entry *e = &vp->tb[(addr ^ (addr >> 9)) & (HVSIM_TB_CACHE - 1)];
	bool same = e->pc == addr && e->size == size && e->cr3 == cr3 && e->p1;
	uint64_t h = same ? hash_entry(e) : 0;
	if (same && h != e->hash) {
		/*
		 * The bytes changed behind unicorn's back (a host-side write through the shared
		 * mapping does not invalidate its translations): retranslate before running.
		 */
		e->p1 = NULL;
		uc_ctl_remove_cache(uc, addr, addr + size);
		vp->stop = STOP_KICK;
		uc_emu_stop(uc);
		return;
	}
	if (!(same && e->icpt_gen == gen)) {
		unsigned user_acc = vp_cpl(vp) == 3 ? X86_PW_USER : 0;
		e->pc = addr;
		e->size = size;
		e->cr3 = cr3;
		e->icpt_gen = gen;
		e->len1 = (uint32_t)(ADDR_PAGE_SIZE - (addr & (ADDR_PAGE_SIZE - 1)));
		if (e->len1 > size)
			e->len1 = size;
		e->p1 = code_ptr(vp, addr, user_acc);
		e->p2 = size > e->len1 ? code_ptr(vp, addr + e->len1, user_acc) : NULL;
		if (!e->p1 || (size > e->len1 && !e->p2)) {
			e->p1 = NULL; /* code outside RAM: unicorn cannot run it either */
			return;
		}
		/*
		 * unicorn 2.0.1 fetches through the linear address as if it were the physical
		 * one: code mapped anywhere but at its own GPA would silently run the wrong
		 * bytes. Refuse loudly instead.
		 */
		if ((uint64_t)(e->p1 - vp->sim->ram) != addr ||
		    (e->p2 && (uint64_t)(e->p2 - vp->sim->ram) != addr + e->len1)) {
			e->p1 = NULL;
			vp->stop = STOP_UNSUPPORTED;
			vp->stop_addr = addr;
			uc_emu_stop(uc);
			return;
		}
		uint8_t buf[8192];
		memcpy(buf, e->p1, e->len1);
		if (size > e->len1)
			memcpy(buf + e->len1, e->p2, size - e->len1);
		e->hash = hash_entry(e);
		e->icount = 0;
		e->special_off = -1;
		uint32_t off = 0;
		pthread_mutex_lock(&vp->sim->lock);
		while (off < size) {
			struct x86_insn insn;
			if (!decode(buf + off, size - off, &insn))
				break; /* invalid: unicorn raises #UD there */
			if (e->special_off < 0 && needs_stop(vp, &insn))
				e->special_off = (int16_t)off;
			e->icount++;
			off += insn.len;
		}
		pthread_mutex_unlock(&vp->sim->lock);
	}
	stat_add(&vp->st_blocks, 1);
	stat_add(&vp->st_insns, e->icount);
	if (e->special_off >= 0 && addr + (uint64_t)e->special_off != vp->allow_special_at) {
		vp->stop = STOP_SPECIAL;
		vp->stop_addr = addr + (uint64_t)e->special_off;
		uc_emu_stop(uc);
	}
}

/* IN/OUT that no intercept covers (the block scan let them run): the host answers. */
static uint32_t hook_in(uc_engine *uc, uint32_t port, int size, void *user)
{
	(void)uc;
	(void)port;
	struct hvsim_vp *vp = user;
	stat_add(&vp->st_host_io, 1);
	return size == 1 ? 0xFF : size == 2 ? 0xFFFF : 0xFFFFFFFFu;
}

static void hook_out(uc_engine *uc, uint32_t port, int size, uint32_t value, void *user)
{
	(void)uc;
	(void)port;
	(void)size;
	(void)value;
	struct hvsim_vp *vp = user;
	stat_add(&vp->st_host_io, 1);
}

static void hook_intr(uc_engine *uc, uint32_t intno, void *user)
{
	struct hvsim_vp *vp = user;
	vp->stop = STOP_INTR;
	vp->stop_vector = intno;
	uc_emu_stop(uc);
}

static bool hook_mem_invalid(uc_engine *uc, uc_mem_type type, uint64_t addr, int size,
			     int64_t value, void *user)
{
	(void)uc;
	(void)value;
	(void)size;
	struct hvsim_vp *vp = user;
	switch (type) {
	case UC_MEM_READ_UNMAPPED: case UC_MEM_WRITE_UNMAPPED: case UC_MEM_FETCH_UNMAPPED:
		vp->stop = STOP_MEM_UNMAPPED;
		break;
	default:
		vp->stop = STOP_MEM_PROT;
		break;
	}
	vp->stop_access = (type == UC_MEM_WRITE_UNMAPPED || type == UC_MEM_WRITE_PROT) ?
		HV_INTERCEPT_ACCESS_WRITE : (type == UC_MEM_FETCH_UNMAPPED || type == UC_MEM_FETCH_PROT) ?
		HV_INTERCEPT_ACCESS_EXECUTE : HV_INTERCEPT_ACCESS_READ;
	vp->stop_addr = addr;  /* unicorn reports the linear address */
	return false;
}

static void hook_mem_sync(uc_engine *uc, uc_mem_type type, uint64_t addr, int size,
			  int64_t value, void *user)
{
	(void)uc;
	(void)type;
	(void)addr;
	(void)size;
	(void)value;
	(void)user;
}

/* ---- segments and the intercept message header ---- */

struct seg16 {
	uint64_t base;
	uint32_t limit;
	uint16_t selector, attr;
};

static struct seg16 read_seg(struct hvsim_vp *vp, int reg)
{
	struct seg16 s = { 0 };
	s.selector = (uint16_t)rd(vp, reg);
	if (reg == UC_X86_REG_FS)
		s.base = rd(vp, UC_X86_REG_FS_BASE);
	if (reg == UC_X86_REG_GS)
		s.base = rd(vp, UC_X86_REG_GS_BASE);
	if ((s.selector & ~3u) == 0 || (s.selector & 4))
		return s;
	uc_x86_mmr gdtr = { 0 };
	uc_reg_read(vp->uc, UC_X86_REG_GDTR, &gdtr);
	uint64_t d;
	if ((uint32_t)(s.selector & ~7u) + 7 > gdtr.limit ||
	    vaccess(vp, gdtr.base + (s.selector & ~7u), &d, 8, X86_PW_READ | X86_PW_IMPLICIT |
		    X86_PW_NO_AD, NULL, NULL))
		return s;
	s.attr = (uint16_t)(((d >> 40) & 0xFF) | (((d >> 52) & 0xF) << 12));
	uint32_t limit = (uint32_t)((d & 0xFFFF) | (((d >> 48) & 0xF) << 16));
	if (s.attr & 0x8000)
		limit = (limit << 12) | 0xFFF;
	s.limit = limit;
	if (reg != UC_X86_REG_FS && reg != UC_X86_REG_GS)
		s.base = ((d >> 16) & 0xFFFFFF) | (((d >> 56) & 0xFF) << 24);
	return s;
}

static struct hv_x64_segment_register hv_seg(struct seg16 s)
{
	return (struct hv_x64_segment_register){ .base = s.base, .limit = s.limit,
						 .selector = s.selector, .attributes = s.attr };
}

/* The common intercept header (doc 2.4) for VTL0's current state. */
static struct hv_x64_intercept_header hdr(struct hvsim_vp *vp, unsigned insn_len,
					  unsigned access, uint64_t rip)
{
	struct hv_x64_intercept_header h = { .vp_index = vp->index };
	uint64_t cr8 = rd(vp, UC_X86_REG_CR8);
	h.instruction_length_cr8 = (uint8_t)((insn_len & 0xF) | ((cr8 & 0xF) << 4));
	h.intercept_access_type = (uint8_t)access;
	uint64_t cr0 = rd(vp, UC_X86_REG_CR0), efer = rd_msr(vp, 0xC0000080);
	uint16_t es = (uint16_t)(vp_cpl(vp) & HV_X64_EXEC_STATE_CPL_MASK);
	if (cr0 & 1)
		es |= HV_X64_EXEC_STATE_CR0_PE;
	if (cr0 & (1ull << 18))
		es |= HV_X64_EXEC_STATE_CR0_AM;
	if (efer & X86_EFER_LMA)
		es |= HV_X64_EXEC_STATE_EFER_LMA;
	if (vp->interrupt_shadow)
		es |= HV_X64_EXEC_STATE_INTERRUPT_SHADOW;
	/* VTL field (bits 7-10): the intercepted code runs in VTL0 */
	h.execution_state = es;
	h.cs = hv_seg(read_seg(vp, UC_X86_REG_CS));
	h.rip = rip;
	h.rflags = rd(vp, UC_X86_REG_RFLAGS);
	return h;
}

/* Encode `ex` into the run page's exit slot. */
static void put_msg(struct hvsim_vp *vp, const struct hv_exit *ex)
{
	uint8_t *slot = run_of(vp)->exit_message;
	if (hv_exit_encode(ex, slot, MSHV_ABI_MSG_SIZE) != 0)
		abort(); /* internal invariant: hvsim only encodes kinds the codec knows */
}

static void finish_exit(struct hvsim_vp *vp, enum hvsim_exit_kind kind, uint64_t rip)
{
	atomic_fetch_add_explicit(&vp->st_exits[kind], 1, memory_order_relaxed);
	hvsim_trace(vp->sim, "hvsim: vp%u exit %s rip=%#llx", vp->index,
		    hvsim_exit_kind_name(kind), (unsigned long long)rip);
}

/* ---- cpu_context and register page ---- */

static void ctx_apply(struct hvsim_vp *vp)
{
	struct mshv_abi_cpu_context *c = &run_of(vp)->cpu_context;
	const uint64_t *g = &c->rax;
	for (int i = 0; i < 16; i++) {
		uint64_t v;
		memcpy(&v, g + i, 8);
		wr(vp, i == R_SP ? UC_X86_REG_CR2 : uc_gpr[i], v);
	}
	for (int i = 0; i < 16; i++)
		uc_reg_write(vp->uc, UC_X86_REG_XMM0 + i, c->fx_state.xmm[i]);
	uint64_t mxcsr = c->fx_state.mxcsr & 0xFFFF;
	if (mxcsr)  /* 0 = a never-filled context; keep the reset value 0x1F80 */
		wr(vp, UC_X86_REG_MXCSR, mxcsr);
}

static void ctx_save(struct hvsim_vp *vp)
{
	struct mshv_abi_cpu_context *c = &run_of(vp)->cpu_context;
	uint64_t *g = &c->rax;
	for (int i = 0; i < 16; i++) {
		uint64_t v = rd(vp, i == R_SP ? UC_X86_REG_CR2 : uc_gpr[i]);
		memcpy(g + i, &v, 8);
	}
	for (int i = 0; i < 16; i++)
		uc_reg_read(vp->uc, UC_X86_REG_XMM0 + i, c->fx_state.xmm[i]);
	c->fx_state.mxcsr = (uint32_t)rd(vp, UC_X86_REG_MXCSR);
	c->fx_state.mxcsr_mask = 0xFFFF;
}

static const int uc_segs[6] = { UC_X86_REG_ES, UC_X86_REG_CS, UC_X86_REG_SS,
				UC_X86_REG_DS, UC_X86_REG_FS, UC_X86_REG_GS };

static void regpage_save(struct hvsim_vp *vp)
{
	struct hv_x64_register_page *rp = vp->reg_page;
	if (!rp)
		return;
	rp->version = 1;
	rp->vtl = 0;
	rp->dirty = 0;
	for (int i = 0; i < 16; i++)
		rp->gp[i] = rd(vp, uc_gpr[i]);
	rp->rip = rd(vp, UC_X86_REG_RIP);
	rp->rflags = rd(vp, UC_X86_REG_RFLAGS);
	for (int i = 0; i < 6; i++)
		uc_reg_read(vp->uc, UC_X86_REG_XMM0 + i, &rp->xmm[i]);
	for (int i = 0; i < 6; i++) {
		struct seg16 s = read_seg(vp, uc_segs[i]);
		rp->segment[i] = (struct hv_x64_segment_register){ s.base, s.limit, s.selector,
								      s.attr };
	}
	rp->cr0 = rd(vp, UC_X86_REG_CR0);
	rp->cr3 = rd(vp, UC_X86_REG_CR3);
	rp->cr4 = rd(vp, UC_X86_REG_CR4);
	rp->cr8 = rd(vp, UC_X86_REG_CR8);
	rp->efer = rd_msr(vp, 0xC0000080) | vp->efer_extra;
	rp->dr7 = vp->dr7;
	rp->pending_interruption = 0;
	rp->interrupt_state = vp->interrupt_shadow ? 1 : 0;
	rp->is_valid = 1;
}

static void regpage_apply(struct hvsim_vp *vp)
{
	struct hv_x64_register_page *rp = vp->reg_page;
	if (!rp || !rp->is_valid || !rp->dirty)
		return;
	uint32_t d = rp->dirty;
	if (d & HV_X64_REGISTER_PAGE_DIRTY_GP)
		wr(vp, UC_X86_REG_RSP, rp->gp[HV_X64_REGISTER_PAGE_GP_RSP]);
	if (d & HV_X64_REGISTER_PAGE_DIRTY_RIP)
		wr(vp, UC_X86_REG_RIP, rp->rip);
	if (d & HV_X64_REGISTER_PAGE_DIRTY_FLAGS)
		wr(vp, UC_X86_REG_RFLAGS, rp->rflags | 2);
	if (d & HV_X64_REGISTER_PAGE_DIRTY_XMM)
		for (int i = 0; i < 6; i++)
			uc_reg_write(vp->uc, UC_X86_REG_XMM0 + i, &rp->xmm[i]);
	if (d & HV_X64_REGISTER_PAGE_DIRTY_SEGMENTS) {
		/* unicorn loads hidden parts from the descriptor tables: selectors only. */
		for (int i = 0; i < 6; i++) {
			uint64_t sel = rp->segment[i].selector;
			if (sel != rd(vp, uc_segs[i]))
				uc_reg_write(vp->uc, uc_segs[i], &sel);
		}
		wr(vp, UC_X86_REG_FS_BASE, rp->segment[4].base);
		wr(vp, UC_X86_REG_GS_BASE, rp->segment[5].base);
	}
	rp->dirty = 0;
}

/*
 * unicorn 2.0.1 bug workaround. QEMU remembers the last contributory/#PF exception in
 * env->old_exception and only clears it when QEMU itself delivers an exception; with a
 * UC_HOOK_INTR hook it never does, so the *next* #PF or contributory fault is turned into #DF
 * (seen: a guest's second page fault arrived as vector 8). The field is not reachable through
 * the API, so hvsim finds its offset inside a saved uc_context once, by probing scratch engines
 * (-1 fresh, 0 after #DE, 11/13 after a bad segment load: exactly one 32-bit slot must match),
 * verifies the fix (a second #DE stays #DE) and then clears the slot after every exception.
 * If probing fails, the workaround stays off.
 */
static long oldexc_off = -1;
static pthread_once_t oldexc_once = PTHREAD_ONCE_INIT;
static uint32_t probe_vec;

static void probe_intr(uc_engine *uc, uint32_t intno, void *user)
{
	(void)user;
	probe_vec = intno;
	uc_emu_stop(uc);
}

static uc_engine *probe_engine(const uint8_t *code, size_t n, uc_context **ctx)
{
	uc_engine *uc;
	uc_hook h;
	uint64_t rsp = 0x8000;
	if (uc_open(UC_ARCH_X86, UC_MODE_64, &uc))
		return NULL;
	if (uc_mem_map(uc, 0, 0x10000, UC_PROT_ALL) || uc_mem_write(uc, 0x1000, code, n) ||
	    uc_hook_add(uc, &h, UC_HOOK_INTR, (void *)probe_intr, NULL, 1, 0) ||
	    uc_reg_write(uc, UC_X86_REG_RSP, &rsp) || uc_context_alloc(uc, ctx)) {
		uc_close(uc);
		return NULL;
	}
	probe_vec = ~0u;
	uc_emu_start(uc, 0x1000, 0x1000 + n, 0, 0);
	uc_context_save(uc, *ctx);
	return uc;
}

static void clear_old_exception(uc_engine *uc, uc_context *ctx)
{
	int32_t none = -1;
	if (oldexc_off < 0 || uc_context_save(uc, ctx))
		return;
	memcpy((uint8_t *)ctx + oldexc_off, &none, 4);
	uc_context_restore(uc, ctx);
}

static void oldexc_probe(void)
{
	static const uint8_t nop[] = { 0x90 };
	static const uint8_t div0[] = { 0x31, 0xC9, 0xF7, 0xF1 };              /* div ecx, ecx=0 */
	static const uint8_t badseg[] = { 0xB8, 0x50, 0, 0, 0, 0x8E, 0xD8 };     /* mov ds, 0x50 */
	uc_context *c[3] = { NULL, NULL, NULL };
	uc_engine *u[3];
	u[0] = probe_engine(nop, sizeof(nop), &c[0]);
	u[1] = probe_engine(div0, sizeof(div0), &c[1]);
	u[2] = probe_engine(badseg, sizeof(badseg), &c[2]);
	if (u[0] && u[1] && u[2]) {
		size_t sz = uc_context_size(u[0]);
		long found = -1;
		int n = 0;
		for (size_t i = 0; i + 4 <= sz; i += 4) {
			int32_t a, b, d;
			memcpy(&a, (uint8_t *)c[0] + i, 4);
			memcpy(&b, (uint8_t *)c[1] + i, 4);
			memcpy(&d, (uint8_t *)c[2] + i, 4);
			if (a == -1 && b == 0 && d >= 10 && d <= 13) {
				found = (long)i;
				n++;
			}
		}
		if (n == 1) {
			/* Verify: after clearing, a second #DE must not become #DF. */
			oldexc_off = found;
			clear_old_exception(u[1], c[1]);
			probe_vec = ~0u;
			uc_emu_start(u[1], 0x1000, 0x1000 + sizeof(div0), 0, 0);
			if (probe_vec != 0)
				oldexc_off = -1;
		}
	}
	for (int i = 0; i < 3; i++) {
		if (c[i])
			uc_context_free(c[i]);
		if (u[i])
			uc_close(u[i]);
	}
}

/* ---- exception and interrupt delivery (long mode) ---- */

static bool exc_has_error(unsigned v)
{
	return v == 8 || v == 10 || v == 11 || v == 12 || v == 13 || v == 14 || v == 17 ||
	       v == 21;
}

static bool exc_contributory(unsigned v)
{
	return v == 0 || v == 10 || v == 11 || v == 12 || v == 13;
}

struct fault {
	uint8_t vector;
	bool has_error;
	uint32_t error;
	uint64_t cr2;
};

/*
 * Push the 64-bit interrupt frame and enter the handler of `vector` through the guest IDT.
 * Returns 0, or 1 with *nested = the fault raised while delivering.
 */
static int try_deliver(struct hvsim_vp *vp, unsigned vector, bool has_err, uint32_t err,
		       bool soft, bool ext, struct fault *nested)
{
	uint32_t extbit = ext ? 1 : 0;
	uint64_t efer = rd_msr(vp, 0xC0000080);
	if (!(efer & X86_EFER_LMA))
		return -1; /* delivery outside long mode is not modelled */
	uc_x86_mmr idtr = { 0 }, gdtr = { 0 }, tr = { 0 };
	uc_reg_read(vp->uc, UC_X86_REG_IDTR, &idtr);
	uc_reg_read(vp->uc, UC_X86_REG_GDTR, &gdtr);
	uint64_t rflags = rd(vp, UC_X86_REG_RFLAGS), rsp = rd(vp, UC_X86_REG_RSP);
	uint64_t rip = rd(vp, UC_X86_REG_RIP);
	uint64_t cs = rd(vp, UC_X86_REG_CS), ss = rd(vp, UC_X86_REG_SS);
	unsigned cpl = (unsigned)(cs & 3);
	*nested = (struct fault){ .vector = 13, .has_error = true,
				  .error = vector * 8 + 2 + extbit };
	if ((uint64_t)vector * 16 + 15 > idtr.limit)
		return 1;
	uint8_t g[16];
	uint32_t pf = 0;
	uint64_t fva = 0;
	unsigned sys = X86_PW_IMPLICIT;
	if (vaccess(vp, idtr.base + vector * 16, g, 16, X86_PW_READ | sys, &pf, &fva)) {
		*nested = (struct fault){ 14, true, pf, fva };
		return 1;
	}
	unsigned type = g[5] & 0xF, dpl = (g[5] >> 5) & 3;
	if (type != 0xE && type != 0xF)
		return 1;
	if (soft && dpl < cpl)
		return 1;
	if (!(g[5] & 0x80)) {
		nested->vector = 11;
		return 1;
	}
	uint16_t sel = (uint16_t)(g[2] | (g[3] << 8));
	unsigned ist = g[4] & 7;
	uint64_t target = (uint64_t)(g[0] | (g[1] << 8)) | ((uint64_t)(g[6] | (g[7] << 8)) << 16) |
			  ((uint64_t)(g[8] | (g[9] << 8) | (g[10] << 16) | ((uint32_t)g[11] << 24))
			   << 32);
	nested->error = (uint32_t)(sel & ~3u) + extbit;
	uint64_t d;
	if ((sel & ~3u) == 0 || (sel & 4) || (uint32_t)(sel & ~7u) + 7 > gdtr.limit)
		return 1;
	if (vaccess(vp, gdtr.base + (sel & ~7u), &d, 8, X86_PW_READ | sys, &pf, &fva)) {
		*nested = (struct fault){ 14, true, pf, fva };
		return 1;
	}
	bool code = (d >> 43) & 1, present = (d >> 47) & 1, lbit = (d >> 53) & 1;
	bool conforming = (d >> 42) & 1;
	unsigned new_cpl = conforming ? cpl : (unsigned)((d >> 45) & 3);
	if (!code || !lbit || new_cpl > cpl)
		return 1;
	if (!present) {
		nested->vector = 11;
		return 1;
	}
	uint64_t new_rsp = rsp;
	if (ist || new_cpl < cpl) {
		uc_reg_read(vp->uc, UC_X86_REG_TR, &tr);
		uint64_t off = ist ? 0x24 + 8 * (ist - 1) : 4 + 8 * new_cpl;
		if (vaccess(vp, tr.base + off, &new_rsp, 8, X86_PW_READ | sys, &pf, &fva)) {
			*nested = (struct fault){ 14, true, pf, fva };
			return 1;
		}
	}
	new_rsp &= ~0xFull;
	uint64_t frame[6];
	unsigned n = 0;
	if (has_err)
		frame[n++] = err;
	frame[n++] = rip;
	frame[n++] = cs;
	frame[n++] = rflags;
	frame[n++] = rsp;
	frame[n++] = ss;
	uint64_t top = new_rsp - 8ull * n;
	if (vaccess(vp, top, frame, 8ull * n, X86_PW_WRITE | sys, &pf, &fva)) {
		*nested = (struct fault){ 14, true, pf, fva };
		return 1;
	}
	uint64_t new_cs = (sel & ~3u) | new_cpl;
	if (new_cpl != cpl) {
		uint64_t null_ss = new_cpl;
		uc_reg_write(vp->uc, UC_X86_REG_SS, &null_ss);
	}
	if (new_cs != cs)
		wr(vp, UC_X86_REG_CS, new_cs);
	wr(vp, UC_X86_REG_RSP, top);
	rflags &= ~(RFLAGS_TF | RFLAGS_NT | RFLAGS_RF | RFLAGS_VM);
	if (type == 0xE)
		rflags &= ~RFLAGS_IF;
	wr(vp, UC_X86_REG_RFLAGS, rflags);
	wr(vp, UC_X86_REG_RIP, target);
	vp->interrupt_shadow = false;
	return 0;
}

static void exit_unrecoverable(struct hvsim_vp *vp)
{
	uint64_t rip = rd(vp, UC_X86_REG_RIP);
	struct hv_exit ex = { .kind = HV_EXIT_UNRECOVERABLE };
	ex.u.header = hdr(vp, 0, 0, rip);
	put_msg(vp, &ex);
	finish_exit(vp, HVSIM_EXIT_UNRECOVERABLE, rip);
}

/*
 * Deliver an exception/interrupt; nested faults follow the SDM double-fault table.
 * Returns 0 delivered, 1 = triple fault (an UnrecoverableException message is in the slot).
 */
static int deliver(struct hvsim_vp *vp, struct fault f, bool soft, bool ext)
{
	for (int depth = 0; depth < 4; depth++) {
		if (f.vector == 14)
			wr(vp, UC_X86_REG_CR2, f.cr2);
		struct fault nested;
		int rc = try_deliver(vp, f.vector, f.has_error && !soft, f.error, soft, ext, &nested);
		if (rc == 0) {
			hvsim_trace(vp->sim, "hvsim: vp%u deliver vector %u err %#x", vp->index,
				    f.vector, f.error);
			if (ext && f.vector >= 32)
				atomic_fetch_add_explicit(&vp->st_intr, 1, memory_order_relaxed);
			else
				atomic_fetch_add_explicit(&vp->st_exc, 1, memory_order_relaxed);
			return 0;
		}
		hvsim_trace(vp->sim, "hvsim: vp%u vector %u delivery faulted: vector %u err %#x cr2 %#llx",
			    vp->index, f.vector, nested.vector, nested.error,
			    (unsigned long long)nested.cr2);
		if (rc < 0 || f.vector == 8)
			break;
		bool cur_pf = f.vector == 14, cur_con = exc_contributory(f.vector);
		bool new_pf = nested.vector == 14, new_con = exc_contributory(nested.vector);
		if ((cur_con && new_con) || (cur_pf && (new_pf || new_con)))
			f = (struct fault){ .vector = 8, .has_error = true, .error = 0 };
		else
			f = nested;
		soft = false;
		ext = false;
	}
	exit_unrecoverable(vp);
	return 1;
}

/* Exception intercept message (vector installed by VTL2). `rip` = the instruction. */
static void exit_exception(struct hvsim_vp *vp, struct fault f, bool soft, uint64_t rip)
{
	uint8_t bytes[16];
	unsigned n = fetch_insn(vp, rip, bytes), len = 0;
	struct x86_insn insn;
	if (n && decode(bytes, n, &insn))
		len = insn.len;
	wr(vp, UC_X86_REG_RIP, rip);
	if (f.vector == 14)
		wr(vp, UC_X86_REG_CR2, f.cr2);
	struct hv_exit ex = { .kind = HV_EXIT_EXCEPTION };
	struct hv_x64_exception_intercept_message *e = &ex.u.exception;
	e->header = hdr(vp, len, 0, rip);
	e->exception_vector = f.vector;
	e->exception_info = (uint8_t)((f.has_error && !soft ? HV_X64_EXCEPTION_INFO_ERROR_CODE_VALID : 0) |
				      (soft ? HV_X64_EXCEPTION_INFO_SOFTWARE_EXCEPTION : 0));
	e->instruction_byte_count = (uint8_t)n;
	e->error_code = f.has_error && !soft ? f.error : 0;
	e->exception_parameter = f.vector == 14 ? f.cr2 : 0;
	memcpy(e->instruction_bytes, bytes, 16);
	e->ds = hv_seg(read_seg(vp, UC_X86_REG_DS));
	e->ss = hv_seg(read_seg(vp, UC_X86_REG_SS));
	uint64_t *gp = &e->rax;  /* rax..r15 in architectural order (doc 2.4) */
	for (int i = 0; i < 16; i++)
		memcpy(gp + i, &(uint64_t){ rd(vp, uc_gpr[i]) }, 8);
	put_msg(vp, &ex);
	finish_exit(vp, HVSIM_EXIT_EXCEPTION, rip);
}

/* Raise an exception in VTL0 at the current RIP: intercept or IDT. 1 = exit produced. */
static int raise_exc(struct hvsim_vp *vp, struct fault f)
{
	pthread_mutex_lock(&vp->sim->lock);
	bool icpt = f.vector < 32 && (vp->sim->icpt.exceptions & (1u << f.vector));
	pthread_mutex_unlock(&vp->sim->lock);
	if (icpt) {
		exit_exception(vp, f, false, rd(vp, UC_X86_REG_RIP));
		return 1;
	}
	return deliver(vp, f, false, false);
}

static int raise_gp(struct hvsim_vp *vp)
{
	return raise_exc(vp, (struct fault){ .vector = 13, .has_error = true, .error = 0 });
}

static int raise_ud(struct hvsim_vp *vp)
{
	return raise_exc(vp, (struct fault){ .vector = 6 });
}

/* Segment base of a data access in 64-bit mode: only FS and GS have one. */
static uint64_t seg_base(struct hvsim_vp *vp, int seg)
{
	if (seg == X86_FS)
		return rd(vp, UC_X86_REG_FS_BASE);
	if (seg == X86_GS)
		return rd(vp, UC_X86_REG_GS_BASE);
	return 0;
}

/* Linear address of a decoded memory operand with the VP's current registers. */
static uint64_t mem_addr(struct hvsim_vp *vp, const struct x86_insn *in, uint64_t rip)
{
	const struct x86_memop *m = &in->mem;
	uint64_t a = (uint64_t)m->disp;
	if (m->base == X86_GPR_COUNT)
		a += rip + in->len; /* RIP-relative: from the next instruction */
	else if (m->base >= 0 && m->base < X86_GPR_COUNT)
		a += rd(vp, uc_gpr[m->base]);
	if (m->index >= 0 && m->index < X86_GPR_COUNT)
		a += rd(vp, uc_gpr[m->index]) * m->scale;
	if (m->addr_size == 4)
		a = (uint32_t)a;
	else if (m->addr_size == 2)
		a = (uint16_t)a;
	return a + seg_base(vp, m->seg);
}

/*
 * unicorn does not expose the #PF error code: decide the access kind of the faulting
 * instruction (fetch / write / read) and let the page walker compute the code.
 */
static uint32_t pf_error_code(struct hvsim_vp *vp, uint64_t rip, uint64_t cr2)
{
	unsigned user = vp_cpl(vp) == 3 ? X86_PW_USER : 0;
	uint64_t g;
	uint32_t err = 0;
	unsigned kind = X86_PW_READ;
	uint8_t bytes[16];
	unsigned n = fetch_insn(vp, rip, bytes);
	struct x86_insn insn;
	if (n == 0 || (cr2 >= rip && cr2 - rip < 16 &&
		       hvsim_vp_translate(vp, cr2, X86_PW_FETCH | X86_PW_NO_AD | user, &g, NULL))) {
		kind = X86_PW_FETCH;
	} else if (decode(bytes, n, &insn)) {
		struct mem_use u = mem_use_of(&insn);
		bool rm_write = u.rm_write && insn.has_mem;
		bool wrmem = rm_write || u.push || u.str_write;
		bool rdonly = (insn.has_mem && !u.rm_write) || u.pop || u.str_read;
		if (wrmem && !rdonly) {
			kind = X86_PW_WRITE;
		} else if (wrmem) {
			/* Both (MOVS, PUSH mem, POP mem, ...): which one faulted? Compare with the
			 * written addresses. */
			uint64_t w[2];
			unsigned nw = 0;
			if (rm_write) {
				w[nw] = mem_addr(vp, &insn, rip);
				/* POP [rSP+x] addresses with the incremented rSP. */
				if (u.pop && insn.mem.base == X86_RSP)
					w[nw] += insn.opsize_prefix ? 2 : 8;
				nw++;
			}
			if (u.push)
				w[nw++] = rd(vp, UC_X86_REG_RSP) - (insn.opsize_prefix ? 2 : 8);
			if (u.str_write && nw < 2)
				w[nw++] = rd(vp, UC_X86_REG_RDI) & addr_mask(&insn);
			for (unsigned i = 0; i < nw; i++)
				if ((w[i] >> 12) == (cr2 >> 12) || ((w[i] + 7) >> 12) == (cr2 >> 12))
					kind = X86_PW_WRITE;
		}
	}
	if (hvsim_vp_translate(vp, cr2, kind | user | X86_PW_NO_AD, &g, &err) == -EFAULT)
		return err; /* 0 is a valid code: supervisor read of a not-present page */
	/* The walk no longer faults (tables changed under us): report a protection fault. */
	return X86_PFERR_P | (kind == X86_PW_WRITE ? X86_PFERR_W : 0) |
	       (user ? X86_PFERR_U : 0) | (kind == X86_PW_FETCH ? X86_PFERR_I : 0);
}

static int handle_intr(struct hvsim_vp *vp, unsigned vector)
{
	clear_old_exception(vp->uc, vp->uc_ctx);
	uint64_t rip = rd(vp, UC_X86_REG_RIP);
	bool soft = false;
	unsigned ilen = 0;
	uint8_t b[2];
	/* INT n / INT3 / INT1 report RIP after the instruction (trap); faults at it. */
	if (vector >= 32 || vector == 3 || vector == 1 || vector == 4) {
		if (rip >= 2 && vaccess(vp, rip - 2, b, 2, X86_PW_FETCH | X86_PW_NO_AD |
					(vp_cpl(vp) == 3 ? X86_PW_USER : 0), NULL, NULL) == 0) {
			if (b[0] == 0xCD && b[1] == vector) {
				soft = true;
				ilen = 2;
			} else if ((vector == 3 && b[1] == 0xCC) || (vector == 1 && b[1] == 0xF1)) {
				soft = true;
				ilen = 1;
			}
		}
		if (vector >= 32 && !soft) {
			soft = true;
			ilen = 2;
		}
	}
	struct fault f = { .vector = (uint8_t)vector, .has_error = !soft && exc_has_error(vector) };
	if (vector == 14) {
		f.cr2 = rd(vp, UC_X86_REG_CR2);
		f.error = pf_error_code(vp, rip, f.cr2);
	}
	pthread_mutex_lock(&vp->sim->lock);
	bool icpt = vector < 32 && (vp->sim->icpt.exceptions & (1u << vector));
	pthread_mutex_unlock(&vp->sim->lock);
	if (icpt) {
		exit_exception(vp, f, soft, rip - ilen);
		return 1;
	}
	return deliver(vp, f, soft, false);
}

/* Pending PendingEvent0 exception, then the highest pending fixed interrupt if IF=1. */
static int inject_pending(struct hvsim_vp *vp)
{
	if (vp->event.pending) {
		struct hvsim_event e = vp->event;
		vp->event.pending = false;
		vp->halted = false;
		return deliver(vp, (struct fault){ e.vector, e.has_error, e.error, e.param }, false,
			       false);
	}
	uint64_t rflags = rd(vp, UC_X86_REG_RFLAGS);
	if (!(rflags & RFLAGS_IF) || vp->interrupt_shadow)
		return 0;
	for (int v = 255; v >= 16; v--) {
		if (!(vp->irr[v / 8] & (1u << (v % 8))))
			continue;
		vp->irr[v / 8] &= (uint8_t)~(1u << (v % 8));
		uint64_t rip = rd(vp, UC_X86_REG_RIP);
		uint8_t op;
		/* `sti; hlt` idiom: the HLT is in the STI shadow, so it executes first. */
		if (vaccess(vp, rip, &op, 1, X86_PW_FETCH | X86_PW_NO_AD, NULL, NULL) == 0 &&
		    op == 0xF4)
			wr(vp, UC_X86_REG_RIP, rip + 1);
		vp->halted = false;
		return deliver(vp, (struct fault){ .vector = (uint8_t)v }, false, true);
	}
	return 0;
}

static bool irr_any(const struct hvsim_vp *vp)
{
	for (int i = 2; i < 32; i++)
		if (vp->irr[i])
			return true;
	return false;
}

/* ---- special instructions ---- */

static bool msr_icpt(struct hvsim_vp *vp, bool write)
{
	pthread_mutex_lock(&vp->sim->lock);
	bool r = vp->sim->icpt.msr & (write ? HVSIM_ACC_WRITE : HVSIM_ACC_READ);
	pthread_mutex_unlock(&vp->sim->lock);
	return r;
}

static bool io_icpt(struct hvsim_vp *vp, uint16_t port, unsigned size, bool write)
{
	bool r = false;
	pthread_mutex_lock(&vp->sim->lock);
	for (unsigned i = 0; i < size; i++)
		if (vp->sim->icpt.io[(uint16_t)(port + i)] & (write ? HVSIM_ACC_WRITE : HVSIM_ACC_READ))
			r = true;
	pthread_mutex_unlock(&vp->sim->lock);
	return r;
}

static bool cpuid_icpt(struct hvsim_vp *vp, uint32_t leaf)
{
	bool r = false;
	pthread_mutex_lock(&vp->sim->lock);
	for (unsigned i = 0; i < vp->sim->icpt.cpuid_count; i++)
		if (vp->sim->icpt.cpuid_leaf[i] == leaf)
			r = true;
	pthread_mutex_unlock(&vp->sim->lock);
	return r;
}

/*
 * Run exactly the special instruction at `rip` inside unicorn: `until` = its end, after
 * dropping the cached block (unicorn applies `until` at translation time; its instruction
 * count limit is likewise not applied to already-translated blocks).
 */
static int uc_step_special(struct hvsim_vp *vp, uint64_t rip, unsigned len)
{
	vp->allow_special_at = rip;
	vp->stop = STOP_NONE;
	uc_ctl_remove_cache(vp->uc, rip, rip + 1);
	uc_err e = uc_emu_start(vp->uc, rip, rip + len, 0, 0);
	vp->allow_special_at = ~0ull;
	if (vp->stop == STOP_INTR)
		return handle_intr(vp, vp->stop_vector);
	return e == UC_ERR_OK ? 0 : -EIO;
}

/* Architectural MSRs unicorn implements: executed by unicorn itself. */
static bool msr_unicorn(uint32_t msr)
{
	switch (msr) {
	case 0x10: case 0x1B: case 0x174: case 0x175: case 0x176: case 0x277:
	case 0xC0000080: case 0xC0000081: case 0xC0000082: case 0xC0000083: case 0xC0000084:
	case 0xC0000100: case 0xC0000101: case 0xC0000102: case 0xC0000103:
		return true;
	default:
		return false;
	}
}

static void set_rax_rdx(struct hvsim_vp *vp, uint64_t v)
{
	wr(vp, UC_X86_REG_RAX, (uint32_t)v);
	wr(vp, UC_X86_REG_RDX, v >> 32);
}

uint64_t *hvsim_vp_mtrr_slot(struct hvsim_vp *vp, uint32_t msr)
{
	static const uint32_t fixed[11] = { 0x250, 0x258, 0x259, 0x268, 0x269, 0x26A,
					    0x26B, 0x26C, 0x26D, 0x26E, 0x26F };
	if (msr == 0x2FF)
		return &vp->mtrr_def;
	if (msr >= 0x200 && msr < 0x210)
		return &vp->mtrr_var[msr - 0x200];
	for (unsigned i = 0; i < 11; i++)
		if (fixed[i] == msr)
			return &vp->mtrr_fix[i];
	return NULL;
}

/* Hyper-V synthetic MSRs hvsim answers for VTL0 itself. 1 handled, 0 not hosted, -1 #GP. */
static int msr_synthetic(struct hvsim_vp *vp, uint32_t msr, bool write, uint64_t val)
{
	if (msr == 0xFE) { /* MTRRcap */
		if (write)
			return -1;
		set_rax_rdx(vp, HVSIM_MTRR_CAP);
		return 1;
	}
	uint64_t *mtrr = hvsim_vp_mtrr_slot(vp, msr);
	if (mtrr) {
		if (write)
			*mtrr = val;
		else
			set_rax_rdx(vp, *mtrr);
		return 1;
	}
	if (!write && msr >= 0x40000080 && msr <= 0x4000009F) {
		int r = hvsim_vp_synic_msr(vp, msr, false, &val);
		if (r > 0)
			set_rax_rdx(vp, val);
		return r;
	}
	switch (msr) {
	case 0x40000000: /* GUEST_OS_ID */
		if (write)
			vp->guest_os_id = val;
		else
			set_rax_rdx(vp, vp->guest_os_id);
		return 1;
	case 0x40000001: /* HYPERCALL: stored only, no hypercall page overlay (docs) */
		if (write)
			vp->hypercall_msr = val & ~2ull;
		else
			set_rax_rdx(vp, vp->hypercall_msr);
		return 1;
	case 0x40000002: /* VP_INDEX, read-only */
		if (write)
			return -1;
		set_rax_rdx(vp, vp->index);
		return 1;
	default:
		if (msr >= 0x40000080 && msr <= 0x4000009F)
			return hvsim_vp_synic_msr(vp, msr, write, &val) < 0 ? -1 : 1;
		return 0;
	}
}

static int handle_msr(struct hvsim_vp *vp, uint64_t rip, bool write, unsigned len)
{
	if (vp_cpl(vp) != 0)
		return raise_gp(vp);
	uint32_t msr = (uint32_t)rd(vp, UC_X86_REG_RCX);
	uint64_t val = ((uint64_t)(uint32_t)rd(vp, UC_X86_REG_RDX) << 32) |
		       (uint32_t)rd(vp, UC_X86_REG_RAX);
	if (msr == 0xC0000080) {
		atomic_fetch_add_explicit(&vp->st_host_msr, 1, memory_order_relaxed);
		if (write) {
			if (val & ~0xD01ull)
				return raise_gp(vp);
			uc_x86_msr m = { .rid = msr, .value = val };
			uc_reg_write(vp->uc, UC_X86_REG_MSR, &m);
			vp->efer_extra = val & 0x801;
		} else {
			set_rax_rdx(vp, rd_msr(vp, msr) | vp->efer_extra);
		}
		wr(vp, UC_X86_REG_RIP, rip + len);
		return 0;
	}
	if (msr_unicorn(msr)) {
		atomic_fetch_add_explicit(&vp->st_host_msr, 1, memory_order_relaxed);
		return uc_step_special(vp, rip, len) < 0 ? raise_gp(vp) : 0;
	}
	int s = msr_synthetic(vp, msr, write, val);
	if (s) {
		if (s < 0)
			return raise_gp(vp);
		atomic_fetch_add_explicit(&vp->st_host_msr, 1, memory_order_relaxed);
		wr(vp, UC_X86_REG_RIP, rip + len);
		return 0;
	}
	if (!msr_icpt(vp, write))
		return raise_gp(vp);
	struct hv_exit ex = { .kind = HV_EXIT_MSR };
	ex.u.msr.header = hdr(vp, len, write ? HV_INTERCEPT_ACCESS_WRITE : HV_INTERCEPT_ACCESS_READ,
			      rip);
	ex.u.msr.msr_number = msr;
	ex.u.msr.rdx = rd(vp, UC_X86_REG_RDX);
	ex.u.msr.rax = rd(vp, UC_X86_REG_RAX);
	put_msg(vp, &ex);
	finish_exit(vp, HVSIM_EXIT_MSR, rip);
	return 1;
}

static int handle_cpuid(struct hvsim_vp *vp, uint64_t rip, unsigned len)
{
	uint64_t in_rax = rd(vp, UC_X86_REG_RAX), in_rcx = rd(vp, UC_X86_REG_RCX);
	uint64_t in_rbx = rd(vp, UC_X86_REG_RBX), in_rdx = rd(vp, UC_X86_REG_RDX);
	int rc = uc_step_special(vp, rip, len);
	if (rc)
		return rc < 0 ? 0 : rc;
	if (!cpuid_icpt(vp, (uint32_t)in_rax)) {
		atomic_fetch_add_explicit(&vp->st_host_cpuid, 1, memory_order_relaxed);
		return 0;
	}
	uint64_t d[4] = { rd(vp, UC_X86_REG_RAX), rd(vp, UC_X86_REG_RCX), rd(vp, UC_X86_REG_RDX),
			  rd(vp, UC_X86_REG_RBX) };
	wr(vp, UC_X86_REG_RAX, in_rax);
	wr(vp, UC_X86_REG_RCX, in_rcx);
	wr(vp, UC_X86_REG_RBX, in_rbx);
	wr(vp, UC_X86_REG_RDX, in_rdx);
	wr(vp, UC_X86_REG_RIP, rip);
	struct hv_exit ex = { .kind = HV_EXIT_CPUID };
	struct hv_x64_cpuid_intercept_message *c = &ex.u.cpuid;
	c->header = hdr(vp, len, HV_INTERCEPT_ACCESS_READ, rip);
	c->rax = in_rax;
	c->rcx = in_rcx;
	c->rdx = in_rdx;
	c->rbx = in_rbx;
	c->default_result_rax = d[0];
	c->default_result_rcx = d[1];
	c->default_result_rdx = d[2];
	c->default_result_rbx = d[3];
	put_msg(vp, &ex);
	finish_exit(vp, HVSIM_EXIT_CPUID, rip);
	return 1;
}

static void exit_io(struct hvsim_vp *vp, uint64_t rip, const uint8_t bytes[16], unsigned n,
		    unsigned len, uint16_t port, unsigned size, bool write, bool string, bool rep)
{
	struct hv_exit ex = { .kind = HV_EXIT_IO_PORT };
	struct hv_x64_io_port_intercept_message *io = &ex.u.io;
	io->header = hdr(vp, len, write ? HV_INTERCEPT_ACCESS_WRITE : HV_INTERCEPT_ACCESS_READ, rip);
	io->port_number = port;
	io->access_info = (uint8_t)((size & HV_X64_IO_ACCESS_SIZE_MASK) |
				    (string ? HV_X64_IO_ACCESS_STRING : 0) |
				    (rep ? HV_X64_IO_ACCESS_REP : 0));
	io->instruction_byte_count = (uint8_t)n;
	io->rax = rd(vp, UC_X86_REG_RAX);
	memcpy(io->instruction_bytes, bytes, 16);
	io->ds = hv_seg(read_seg(vp, UC_X86_REG_DS));
	io->es = hv_seg(read_seg(vp, UC_X86_REG_ES));
	io->rcx = rd(vp, UC_X86_REG_RCX);
	io->rsi = rd(vp, UC_X86_REG_RSI);
	io->rdi = rd(vp, UC_X86_REG_RDI);
	put_msg(vp, &ex);
	finish_exit(vp, HVSIM_EXIT_IO, rip);
}

static void set_acc(struct hvsim_vp *vp, unsigned size, uint64_t v)
{
	uint64_t rax = rd(vp, UC_X86_REG_RAX);
	if (size == 1)
		rax = (rax & ~0xFFull) | (v & 0xFF);
	else if (size == 2)
		rax = (rax & ~0xFFFFull) | (v & 0xFFFF);
	else
		rax = (uint32_t)v;
	wr(vp, UC_X86_REG_RAX, rax);
}

static int handle_mem(struct hvsim_vp *vp, bool prot);

/* Host-side string I/O: INS stores all-ones, OUTS reads and drops. Bounded per step. */
static int host_string_io(struct hvsim_vp *vp, const struct x86_insn *insn, bool in,
			  unsigned size, uint64_t rip)
{
	bool rep = insn->rep != 0;
	uint64_t amask = addr_mask(insn);
	/* INS writes ES:rDI (no override, base 0 in 64-bit mode); OUTS reads seg:rSI. */
	uint64_t base = in || insn->seg_override < 0 ? 0 : seg_base(vp, insn->seg_override);
	int idx = in ? UC_X86_REG_RDI : UC_X86_REG_RSI;
	uint64_t cnt = rep ? rd(vp, UC_X86_REG_RCX) & amask : 1;
	int64_t step = (rd(vp, UC_X86_REG_RFLAGS) & (1ull << 10)) ? -(int64_t)size : (int64_t)size;
	unsigned user = vp_cpl(vp) == 3 ? X86_PW_USER : 0;
	uint64_t done = 0;
	while (done < cnt && done < 65536) {
		uint64_t ptr = rd(vp, idx);
		uint64_t la = (ptr & amask) + base;
		uint32_t ones = 0xFFFFFFFFu, pf = 0;
		uint64_t fva = 0, g = 0;
		unsigned acc = (in ? X86_PW_WRITE : X86_PW_READ) | user;
		/* The memory side is a VTL0 access: MMIO and VTL protections apply to it. */
		if (hvsim_vp_translate(vp, la, acc | X86_PW_NO_AD, &g, NULL) == 0) {
			bool mmio = g >= vp->sim->mem_size;
			pthread_mutex_lock(&vp->sim->lock);
			bool denied = !mmio && !(vp->sim->prot[g >> ADDR_PAGE_SHIFT] & (in ? 2 : 1));
			pthread_mutex_unlock(&vp->sim->lock);
			if (mmio || denied) {
				vp->stop_addr = la;
				vp->stop_access = in ? HV_INTERCEPT_ACCESS_WRITE : HV_INTERCEPT_ACCESS_READ;
				return handle_mem(vp, denied);
			}
		}
		int rc = vaccess(vp, la, &ones, size, acc, &pf, &fva);
		if (rc == -EFAULT)
			return raise_exc(vp, (struct fault){ 14, true, pf, fva });
		if (rc)
			return raise_gp(vp);
		wr(vp, idx, (ptr & ~amask) | ((ptr + (uint64_t)step) & amask));
		done++;
		if (rep) {
			uint64_t rcx = rd(vp, UC_X86_REG_RCX);
			wr(vp, UC_X86_REG_RCX, (rcx & ~amask) | ((rcx - 1) & amask));
		}
	}
	atomic_fetch_add_explicit(&vp->st_host_io, 1, memory_order_relaxed);
	if (done == cnt)
		wr(vp, UC_X86_REG_RIP, rip + insn->len);
	return 0;
}

/*
 * MOV to/from DRn (SDM vol. 3 17.2): CPL 0 only; DR4/DR5 alias DR6/DR7 unless CR4.DE (then
 * #UD); the upper halves of DR6/DR7 must be written as 0. The decoder rejects DR8-15 (#UD).
 */
static int handle_mov_dr(struct hvsim_vp *vp, const struct x86_insn *insn, uint64_t rip)
{
	unsigned n = insn->reg;
	if (vp_cpl(vp) != 0)
		return raise_gp(vp);
	if (n == 4 || n == 5) {
		if (rd(vp, UC_X86_REG_CR4) & (1u << 3))
			return raise_ud(vp);
		n += 2;
	}
	if (n > 7 || insn->rm >= 16)
		return raise_ud(vp);
	int gpr = uc_gpr[insn->rm];
	if (insn->opcode == 0x21) {
		wr(vp, gpr, n < 4 ? vp->dr[n] : n == 6 ? (vp->dr6 | 0xFFFF0FF0ull) :
						      (vp->dr7 | 0x400));
	} else {
		uint64_t v = rd(vp, gpr);
		if (n >= 6 && (v >> 32))
			return raise_gp(vp);
		if (n < 4)
			vp->dr[n] = v;
		else if (n == 6)
			vp->dr6 = v & 0xF00Full;
		else
			vp->dr7 = v;
	}
	wr(vp, UC_X86_REG_RIP, rip + insn->len);
	return 0;
}

static int handle_syscall(struct hvsim_vp *vp, uint64_t rip, unsigned len)
{
	uint64_t efer = rd_msr(vp, 0xC0000080) | vp->efer_extra;
	if (!(efer & 1) || !(efer & X86_EFER_LMA))
		return raise_ud(vp);
	uint64_t star = rd_msr(vp, 0xC0000081), lstar = rd_msr(vp, 0xC0000082);
	uint64_t fmask = rd_msr(vp, 0xC0000084), rflags = rd(vp, UC_X86_REG_RFLAGS);
	wr(vp, UC_X86_REG_RCX, rip + len);
	wr(vp, UC_X86_REG_R11, rflags & ~RFLAGS_RF);
	uint64_t cs = (star >> 32) & 0xFFFC, ss = cs + 8;
	wr(vp, UC_X86_REG_SS, ss);
	wr(vp, UC_X86_REG_CS, cs);
	wr(vp, UC_X86_REG_RFLAGS, (rflags & ~fmask & ~RFLAGS_RF) | 2);
	wr(vp, UC_X86_REG_RIP, lstar);
	return 0;
}

static void exit_hypercall(struct hvsim_vp *vp, uint64_t rip)
{
	struct hv_exit ex = { .kind = HV_EXIT_HYPERCALL };
	struct hv_x64_hypercall_intercept_message *hc = &ex.u.hypercall;
	hc->header = hdr(vp, 3, HV_INTERCEPT_ACCESS_EXECUTE, rip);
	hc->rax = rd(vp, UC_X86_REG_RAX);
	hc->rbx = rd(vp, UC_X86_REG_RBX);
	hc->rcx = rd(vp, UC_X86_REG_RCX);
	hc->rdx = rd(vp, UC_X86_REG_RDX);
	hc->r8 = rd(vp, UC_X86_REG_R8);
	hc->rsi = rd(vp, UC_X86_REG_RSI);
	hc->rdi = rd(vp, UC_X86_REG_RDI);
	for (int i = 0; i < 6; i++) {
		uint8_t x[16];
		uc_reg_read(vp->uc, UC_X86_REG_XMM0 + i, x);
		memcpy(&hc->xmm[i], x, 16);
	}
	put_msg(vp, &ex);
	finish_exit(vp, HVSIM_EXIT_HYPERCALL, rip);
}

/* Handle the special instruction at RIP. Returns 1 when an exit message was produced. */
static int handle_special(struct hvsim_vp *vp, uint64_t rip)
{
	uint8_t bytes[16];
	unsigned n = fetch_insn(vp, rip, bytes);
	struct x86_insn insn;
	if (n == 0 || !decode(bytes, n, &insn)) {
		/*
		 * Unreadable or undecodable now (changed under us, or a fetch fault): let unicorn
		 * execute exactly this instruction so that it raises the fault / #UD itself.
		 */
		vp->allow_special_at = rip;
		vp->stop = STOP_NONE;
		uc_ctl_remove_cache(vp->uc, rip, rip + 1);
		uc_err e = uc_emu_start(vp->uc, rip, 0, 0, 1);
		vp->allow_special_at = ~0ull;
		if (vp->stop == STOP_INTR)
			return handle_intr(vp, vp->stop_vector);
		if (vp->stop == STOP_MEM_UNMAPPED || vp->stop == STOP_MEM_PROT)
			return handle_mem(vp, vp->stop == STOP_MEM_PROT);
		if (e == UC_ERR_INSN_INVALID)
			return raise_ud(vp);
		return 0;
	}
	unsigned len = insn.len, cpl = vp_cpl(vp);
	enum special kind = classify(&insn);
	bool iopl_ok = cpl <= ((rd(vp, UC_X86_REG_RFLAGS) >> 12) & 3);
	if (kind == SP_MOV_CR) {
		/* unicorn executes it (faults included); hvsim tracks CR3. */
		int r = uc_step_special(vp, rip, len);
		vp->cr3 = rd(vp, UC_X86_REG_CR3);
		return r < 0 ? 0 : r;
	}
	switch (kind) {
	case SP_IN:
	case SP_OUT: {
		bool out = kind == SP_OUT;
		unsigned size = io_size(&insn);
		uint16_t port = (insn.opcode & 0x08) ? (uint16_t)rd(vp, UC_X86_REG_RDX)
						     : (uint8_t)insn.imm;
		if (!iopl_ok) /* no TSS I/O bitmap model: CPL > IOPL always faults */
			return raise_gp(vp);
		if (io_icpt(vp, port, size, out)) {
			exit_io(vp, rip, bytes, n, len, port, size, out, false, false);
			return 1;
		}
		atomic_fetch_add_explicit(&vp->st_host_io, 1, memory_order_relaxed);
		if (!out)
			set_acc(vp, size, 0xFFFFFFFFu);
		wr(vp, UC_X86_REG_RIP, rip + len);
		return 0;
	}
	case SP_INS:
	case SP_OUTS: {
		bool out = kind == SP_OUTS;
		unsigned size = io_size(&insn);
		uint16_t port = (uint16_t)rd(vp, UC_X86_REG_RDX);
		bool rep = insn.rep != 0;
		if (!iopl_ok)
			return raise_gp(vp);
		if (io_icpt(vp, port, size, out)) {
			exit_io(vp, rip, bytes, n, len, port, size, out, true, rep);
			return 1;
		}
		return host_string_io(vp, &insn, !out, size, rip);
	}
	case SP_RDMSR:
	case SP_WRMSR:
		return handle_msr(vp, rip, kind == SP_WRMSR, len);
	case SP_CPUID:
		return handle_cpuid(vp, rip, len);
	case SP_HLT:
		if (cpl != 0)
			return raise_gp(vp);
		if (rd(vp, UC_X86_REG_RFLAGS) & RFLAGS_IF) {
			/* The hypervisor halts the VP until an interrupt arrives. */
			wr(vp, UC_X86_REG_RIP, rip + len);
			vp->halted = true;
			return 0;
		}
		/* HLT with interrupts off would never wake: VTL2 gets a halt intercept. */
		struct hv_exit ex = { .kind = HV_EXIT_HALT };
		ex.u.header = hdr(vp, len, 0, rip);
		put_msg(vp, &ex);
		finish_exit(vp, HVSIM_EXIT_HALT, rip);
		return 1;
	case SP_VMCALL:
		if (cpl != 0)
			return raise_ud(vp);
		exit_hypercall(vp, rip);
		return 1;
	case SP_SYSCALL:
		return handle_syscall(vp, rip, len);
	case SP_MOV_DR:
		return handle_mov_dr(vp, &insn, rip);
	default:
		return 0;
	}
}

/* A memory exit (unmapped GPA or VTL-protected page). Returns 1 with an exit message. */
static int handle_mem(struct hvsim_vp *vp, bool prot)
{
	uint64_t rip = rd(vp, UC_X86_REG_RIP), va = vp->stop_addr;
	unsigned user = vp_cpl(vp) == 3 ? X86_PW_USER : 0;
	unsigned acc = vp->stop_access == HV_INTERCEPT_ACCESS_WRITE ? X86_PW_WRITE :
		       vp->stop_access == HV_INTERCEPT_ACCESS_EXECUTE ? X86_PW_FETCH : X86_PW_READ;
	uint64_t g;
	uint32_t pf = 0;
	int rc = hvsim_vp_translate(vp, va, acc | user, &g, &pf);
	if (rc == -EINVAL)
		return raise_gp(vp); /* non-canonical: unicorn reports it as unmapped */
	if (rc == -EFAULT)
		return raise_exc(vp, (struct fault){ 14, true, pf, va });
	if (rc)
		return raise_gp(vp);
	uint8_t bytes[16];
	unsigned n = fetch_insn(vp, rip, bytes), len = 0;
	struct x86_insn insn;
	if (n && decode(bytes, n, &insn))
		len = insn.len;
	bool in_ram = g < vp->sim->mem_size;
	if (in_ram && !prot) {
		/* RAM reached through a linear address outside RAM: unicorn 2.0.1 would need the
		 * linear address to be the GPA (identity mapping). Not representable. */
		hvsim_trace(vp->sim, "hvsim: vp%u access to %#llx maps to RAM GPA %#llx: unicorn "
			    "2.0.1 needs identity mappings", vp->index, (unsigned long long)va,
			    (unsigned long long)g);
		exit_unrecoverable(vp);
		return 1;
	}
	bool gpa_icpt = prot && in_ram;
	struct hv_exit ex = { .kind = HV_EXIT_MEMORY,
			      .memory_kind = gpa_icpt ? HV_EXIT_MEMORY_GPA_INTERCEPT :
							HV_EXIT_MEMORY_UNMAPPED_GPA };
	struct hv_x64_memory_intercept_message *mi = &ex.u.memory;
	mi->header = hdr(vp, len, vp->stop_access, rip);
	mi->cache_type = in_ram ? HV_CACHE_TYPE_WB : HV_CACHE_TYPE_UC;
	mi->instruction_byte_count = (uint8_t)n;
	mi->memory_access_info = 1 | 2; /* GVA valid, GVA->GPA valid */
	mi->guest_virtual_address = va;
	mi->guest_physical_address = g;
	memcpy(mi->instruction_bytes, bytes, 16);
	put_msg(vp, &ex);
	finish_exit(vp, gpa_icpt ? HVSIM_EXIT_GPA_INTERCEPT :
		    HVSIM_EXIT_UNMAPPED_GPA, rip);
	return 1;
}

/* ---- VTL protections ---- */

static uint32_t prot_to_uc(uint8_t mask)
{
	uint32_t p = 0;
	if (mask & 1)
		p |= UC_PROT_READ;
	if (mask & 2)
		p |= UC_PROT_WRITE;
	if (mask & 0xC)
		p |= UC_PROT_EXEC;
	return p;
}

static void sync_prot(struct hvsim_vp *vp)
{
	struct hvsim *sim = vp->sim;
	uint64_t gen = atomic_load(&sim->prot_gen);
	if (gen == vp->applied_gen)
		return;
	pthread_mutex_lock(&sim->lock);
	uint64_t pages = sim->mem_size >> ADDR_PAGE_SHIFT;
	for (uint64_t i = 0; i < pages; i++) {
		if (vp->applied_prot[i] == sim->prot[i])
			continue;
		/* Coalesce runs of pages with the same new mask into one uc_mem_protect. */
		uint64_t j = i + 1;
		while (j < pages && vp->applied_prot[j] != sim->prot[j] && sim->prot[j] == sim->prot[i])
			j++;
		uc_mem_protect(vp->uc, i << ADDR_PAGE_SHIFT, (j - i) << ADDR_PAGE_SHIFT,
			       prot_to_uc(sim->prot[i]));
		memcpy(vp->applied_prot + i, sim->prot + i, j - i);
		i = j - 1;
	}
	gen = atomic_load(&sim->prot_gen);
	pthread_mutex_unlock(&sim->lock);
	vp->applied_gen = gen;
}

void hvsim_vp_kick(struct hvsim_vp *vp)
{
	atomic_store(&vp->kick, true);
	if (vp->in_guest)
		uc_emu_stop(vp->uc);
	pthread_cond_broadcast(&vp->cond);
}

void hvsim_vp_sync_protections(struct hvsim *sim, uint64_t gen)
{
	for (uint32_t i = 0; i < sim->vp_count; i++) {
		struct hvsim_vp *vp = sim->vps[i];
		pthread_mutex_lock(&vp->lock);
		while (vp->in_guest && vp->applied_gen < gen) {
			hvsim_vp_kick(vp);
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&vp->cond, &vp->lock, &ts);
		}
		pthread_mutex_unlock(&vp->lock);
	}
}

/* ---- VTL0 SynIC (target of PostMessageDirect / SignalEventDirect) ---- */

void hvsim_vp_assert_sint_locked(struct hvsim_vp *vp, unsigned sint)
{
	uint64_t cfg = vp->sint[sint & 15];
	unsigned vec = cfg & 0xFF;
	if (!(vp->scontrol & 1) || (cfg & (1ull << 16)) || vec < 16)
		return;
	vp->irr[vec / 8] |= (uint8_t)(1u << (vec % 8));
	hvsim_vp_kick(vp);
}

int hvsim_vp_synic_msr(struct hvsim_vp *vp, uint32_t msr, bool write, uint64_t *val)
{
	uint64_t *reg;
	switch (msr) {
	case 0x40000080: reg = &vp->scontrol; break;
	case 0x40000081:
		if (write)
			return -1;
		*val = 1;
		return 1;
	case 0x40000082: reg = &vp->siefp; break;
	case 0x40000083: reg = &vp->simp; break;
	case 0x40000084: /* EOM: hvsim keeps no per-SINT queue behind the slot */
		if (!write)
			*val = 0;
		return 1;
	default:
		if (msr < 0x40000090 || msr > 0x4000009F)
			return 0;
		reg = &vp->sint[msr - 0x40000090];
		if (write && (*val & 0xFF) < 16 && !(*val & (1ull << 16)))
			return -1; /* vectors 0-15 are invalid for an unmasked SINT */
		break;
	}
	if (write)
		*reg = *val;
	else
		*val = *reg;
	return 1;
}

void hvsim_vp_reset_cpu(struct hvsim_vp *vp)
{
	/* Whatever VTL0 did (CPL 3, odd segments, CR4 bits), start from the reset state. */
	uc_context_restore(vp->uc, vp->reset_ctx);
	vp->event.pending = false;
	vp->interrupt_shadow = false;
	memset(vp->irr, 0, sizeof(vp->irr));
}

void hvsim_vp_ctx_save(struct hvsim_vp *vp)
{
	ctx_save(vp);
	regpage_save(vp);
}

/*
 * The execution lock: one VP at a time runs inside unicorn. unicorn 2.0.1 translates LOCK-
 * prefixed instructions into plain load/op/store sequences (it is built without parallel TCG),
 * so two engines running at once lose atomic updates (measured: every `lock xadd` of one VP
 * lost). A fair ticket lock plus time slices (the block hook yields after HVSIM_SLICE_BLOCKS
 * blocks when another VP waits) keeps x86 atomicity at the cost of parallelism.
 */
static void exec_acquire(struct hvsim *sim)
{
	pthread_mutex_lock(&sim->exec_lock);
	uint64_t ticket = sim->exec_next++;
	atomic_fetch_add(&sim->exec_waiters, 1);
	while (sim->exec_serving != ticket)
		pthread_cond_wait(&sim->exec_cond, &sim->exec_lock);
	atomic_fetch_sub(&sim->exec_waiters, 1);
	pthread_mutex_unlock(&sim->exec_lock);
}

static void exec_release(struct hvsim *sim)
{
	pthread_mutex_lock(&sim->exec_lock);
	sim->exec_serving++;
	pthread_cond_broadcast(&sim->exec_cond);
	pthread_mutex_unlock(&sim->exec_lock);
}

/*
 * Drop unicorn's translations: all of them, or those of the blocks hvsim saw run recently
 * (its scan cache), each only if its address still translates (unicorn's invalidation walks
 * the guest page tables itself and must not fault).
 */
static void flush_translations(struct hvsim_vp *vp, bool all)
{
	if (all) {
		uc_ctl(vp->uc, UC_CTL_WRITE(UC_CTL_TB_FLUSH, 0));
	} else {
		for (unsigned i = 0; i < HVSIM_TB_CACHE; i++) {
			struct hvsim_tb_entry *e = &vp->tb[i];
			uint64_t g;
			if (e->p1 && hvsim_vp_translate(vp, e->pc, X86_PW_FETCH | X86_PW_NO_AD, &g,
							NULL) == 0)
				uc_ctl_remove_cache(vp->uc, e->pc, e->pc + e->size);
		}
	}
	memset(vp->tb, 0, sizeof(vp->tb));
}

/* ---- the run loop ---- */

int hvsim_vp_run(struct hvsim *sim, uint32_t index)
{
	if (index >= sim->vp_count)
		return -EINVAL;
	struct hvsim_vp *vp = sim->vps[index];
	_Atomic uint32_t *cancel = cancel_of(vp);
	pthread_mutex_lock(&vp->lock);
	if (atomic_load(cancel)) {
		pthread_mutex_unlock(&vp->lock);
		atomic_fetch_add_explicit(&vp->st_exits[HVSIM_EXIT_CANCEL], 1, memory_order_relaxed);
		return -EINTR;
	}
	ctx_apply(vp);
	regpage_apply(vp);
	uint64_t until = 0;
	int rc;
	for (;;) {
		if (atomic_load(cancel)) {
			atomic_fetch_add_explicit(&vp->st_exits[HVSIM_EXIT_CANCEL], 1,
						  memory_order_relaxed);
			rc = -EINTR;
			break;
		}
		sync_prot(vp);
		if (inject_pending(vp)) {
			rc = 0;
			break;
		}
		if (vp->halted) {
			/* HLT: sleep until an interrupt, a pending event or a cancel. */
			atomic_store(&vp->kick, false);
			while (vp->halted && !atomic_load(cancel) && !vp->event.pending &&
			       !(irr_any(vp) && (rd(vp, UC_X86_REG_RFLAGS) & RFLAGS_IF)))
				pthread_cond_wait(&vp->cond, &vp->lock);
			continue;
		}
		unsigned flush = atomic_exchange(&vp->flush_tb, 0);
		/* A VP that never ran has nothing translated (and unicorn's TB flush is costly:
		 * it clears its whole code buffer). */
		if (flush && vp->ran)
			flush_translations(vp, flush & HVSIM_FLUSH_ALL);
		atomic_store(&vp->kick, false);
		atomic_store(&vp->want_window, irr_any(vp));
		vp->in_guest = true;
		vp->stop = STOP_NONE;
		uint64_t rip = rd(vp, UC_X86_REG_RIP);
		vp->cr3 = rd(vp, UC_X86_REG_CR3);
		vp->slice = 0;
		vp->ran = true;
		pthread_mutex_unlock(&vp->lock);
		exec_acquire(sim);
		uc_err err = uc_emu_start(vp->uc, rip, until, 0, 0);
		exec_release(sim);
		pthread_mutex_lock(&vp->lock);
		vp->in_guest = false;
		pthread_cond_broadcast(&vp->cond);
		until = 0;
		vp->interrupt_shadow = false;
		int r = 0;
		switch (vp->stop) {
		case STOP_SPECIAL: {
			uint64_t now = rd(vp, UC_X86_REG_RIP);
			if (now != vp->stop_addr) {
				/* Re-run the block up to the special instruction only. */
				uc_ctl_remove_cache(vp->uc, now, now + 1);
				until = vp->stop_addr;
				break;
			}
			r = handle_special(vp, now);
			break;
		}
		case STOP_INTR:
			r = handle_intr(vp, vp->stop_vector);
			break;
		case STOP_MEM_UNMAPPED:
		case STOP_MEM_PROT:
			r = handle_mem(vp, vp->stop == STOP_MEM_PROT);
			break;
		case STOP_KICK:
			break;
		case STOP_UNSUPPORTED:
			hvsim_trace(sim, "hvsim: vp%u code at %#llx is mapped to another GPA: unicorn "
				    "2.0.1 needs identity mappings", vp->index,
				    (unsigned long long)vp->stop_addr);
			exit_unrecoverable(vp);
			r = 1;
			break;
		case STOP_NONE:
		default:
			if (err == UC_ERR_INSN_INVALID) {
				uint64_t now = rd(vp, UC_X86_REG_RIP);
				uint8_t b[3];
				if (vaccess(vp, now, b, 3, X86_PW_FETCH | X86_PW_NO_AD, NULL,
					    NULL) == 0 && b[0] == 0x0F && b[1] == 0x01 &&
				    (b[2] == 0xC1 || b[2] == 0xD9))
					r = handle_special(vp, now);
				else
					r = raise_ud(vp);
			} else if (err != UC_ERR_OK) {
				/* unicorn gave up (e.g. fetch from nowhere): treat as #GP. */
				hvsim_trace(sim, "hvsim: vp%u unicorn error %s", vp->index,
					    uc_strerror(err));
				r = raise_gp(vp);
			}
			break;
		}
		if (r) {
			rc = 0;
			break;
		}
	}
	ctx_save(vp);
	regpage_save(vp);
	pthread_mutex_unlock(&vp->lock);
	return rc;
}

void hvsim_flush_code(struct hvsim *sim)
{
	for (uint32_t i = 0; i < sim->vp_count; i++) {
		struct hvsim_vp *vp = sim->vps[i];
		pthread_mutex_lock(&vp->lock);
		atomic_fetch_or(&vp->flush_tb, HVSIM_FLUSH_ALL);
		hvsim_vp_kick(vp);
		pthread_mutex_unlock(&vp->lock);
	}
}

int hvsim_vp_cancel(struct hvsim *sim, uint32_t index)
{
	if (index >= sim->vp_count)
		return -EINVAL;
	struct hvsim_vp *vp = sim->vps[index];
	atomic_store(cancel_of(vp), 1);
	pthread_mutex_lock(&vp->lock);
	hvsim_vp_kick(vp);
	pthread_mutex_unlock(&vp->lock);
	return 0;
}

int hvsim_assert_interrupt(struct hvsim *sim, uint32_t index, uint8_t vector)
{
	if (index >= sim->vp_count || vector < 16)
		return -EINVAL;
	struct hvsim_vp *vp = sim->vps[index];
	pthread_mutex_lock(&vp->lock);
	vp->irr[vector / 8] |= (uint8_t)(1u << (vector % 8));
	atomic_store(&vp->want_window, true);
	hvsim_vp_kick(vp);
	pthread_mutex_unlock(&vp->lock);
	return 0;
}

void *hvsim_vp_run_page(struct hvsim *sim, uint32_t index)
{
	return index < sim->vp_count ? sim->vps[index]->run_page : NULL;
}

void *hvsim_vp_register_page(struct hvsim *sim, uint32_t index)
{
	return index < sim->vp_count ? sim->vps[index]->reg_page : NULL;
}

/* ---- poll files: one watcher thread per partition ---- */

static void *watcher_main(void *arg)
{
	struct hvsim *sim = arg;
	for (;;) {
		struct epoll_event ev[8];
		int n = epoll_wait(sim->epfd, ev, 8, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return NULL;
		for (int i = 0; i < n; i++) {
			if (ev[i].data.u32 == UINT32_MAX)
				return NULL;
			hvsim_vp_cancel(sim, ev[i].data.u32);
		}
	}
}

int hvsim_vp_start_watcher(struct hvsim *sim)
{
	sim->epfd = epoll_create1(EPOLL_CLOEXEC);
	sim->watcher_stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sim->epfd < 0 || sim->watcher_stop_efd < 0)
		return -errno;
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = UINT32_MAX };
	if (epoll_ctl(sim->epfd, EPOLL_CTL_ADD, sim->watcher_stop_efd, &ev))
		return -errno;
	if (pthread_create(&sim->watcher, NULL, watcher_main, sim))
		return -EAGAIN;
	sim->watcher_started = true;
	return 0;
}

void hvsim_vp_stop_watcher(struct hvsim *sim)
{
	if (sim->watcher_started) {
		uint64_t one = 1;
		if (write(sim->watcher_stop_efd, &one, 8) != 8)
			abort(); /* internal invariant: eventfd write cannot fail here */
		pthread_join(sim->watcher, NULL);
		sim->watcher_started = false;
	}
	if (sim->epfd >= 0)
		close(sim->epfd);
	if (sim->watcher_stop_efd >= 0)
		close(sim->watcher_stop_efd);
	sim->epfd = sim->watcher_stop_efd = -1;
}

int hvsim_vp_set_poll_file(struct hvsim *sim, uint32_t index, int fd)
{
	if (index >= sim->vp_count)
		return -EINVAL;
	struct hvsim_vp *vp = sim->vps[index];
	int nfd = -1;
	if (fd >= 0) {
		/* Like the kernel's fget: the VP keeps its own reference. */
		nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (nfd < 0)
			return -errno;
	}
	pthread_mutex_lock(&vp->lock);
	if (vp->poll_fd >= 0) {
		epoll_ctl(sim->epfd, EPOLL_CTL_DEL, vp->poll_fd, NULL);
		close(vp->poll_fd);
		vp->poll_fd = -1;
	}
	int rc = 0;
	if (nfd >= 0) {
		/* Edge-triggered: every wakeup (eventfd write) cancels once, as in the driver. */
		struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.u32 = index };
		if (epoll_ctl(sim->epfd, EPOLL_CTL_ADD, nfd, &ev)) {
			rc = -errno;
			close(nfd);
		} else {
			vp->poll_fd = nfd;
		}
	}
	pthread_mutex_unlock(&vp->lock);
	return rc;
}

/* ---- creation ---- */

int hvsim_vp_init(struct hvsim *sim, uint32_t index, struct hvsim_vp **out)
{
	struct hvsim_vp *vp = calloc(1, sizeof(*vp));
	if (!vp)
		return -ENOMEM;
	vp->sim = sim;
	vp->index = index;
	vp->poll_fd = -1;
	vp->allow_special_at = ~0ull;
	pthread_mutex_init(&vp->lock, NULL);
	pthread_cond_init(&vp->cond, NULL);
	*out = vp;
	vp->run_page = aligned_alloc(ADDR_PAGE_SIZE, ADDR_PAGE_SIZE);
	if (sim->cfg.register_page)
		vp->reg_page = aligned_alloc(ADDR_PAGE_SIZE, ADDR_PAGE_SIZE);
	vp->applied_prot = malloc(sim->mem_size >> ADDR_PAGE_SHIFT);
	if (!vp->run_page || (sim->cfg.register_page && !vp->reg_page) || !vp->applied_prot)
		return -ENOMEM;
	memset(vp->run_page, 0, ADDR_PAGE_SIZE);
	if (vp->reg_page)
		memset(vp->reg_page, 0, ADDR_PAGE_SIZE);
	memset(vp->applied_prot, 0xF, sim->mem_size >> ADDR_PAGE_SHIFT);
	for (int i = 0; i < 16; i++)
		vp->sint[i] = 1ull << 16; /* masked at reset */
	pthread_once(&oldexc_once, oldexc_probe);
	if (uc_open(UC_ARCH_X86, UC_MODE_64, &vp->uc) != UC_ERR_OK) {
		vp->uc = NULL;
		return -EIO;
	}
	if (uc_context_alloc(vp->uc, &vp->uc_ctx) != UC_ERR_OK) {
		vp->uc_ctx = NULL;
		return -ENOMEM;
	}
	if (uc_context_alloc(vp->uc, &vp->reset_ctx) != UC_ERR_OK) {
		vp->reset_ctx = NULL;
		return -ENOMEM;
	}
	if (uc_context_save(vp->uc, vp->reset_ctx) != UC_ERR_OK)
		return -EIO;
	if (uc_mem_map_ptr(vp->uc, 0, sim->mem_size, UC_PROT_ALL, sim->ram) != UC_ERR_OK)
		return -EIO;
	uc_hook h;
	if (uc_hook_add(vp->uc, &h, UC_HOOK_BLOCK, (void *)hook_block, vp, 1, 0) ||
	    uc_hook_add(vp->uc, &h, UC_HOOK_INTR, (void *)hook_intr, vp, 1, 0) ||
	    uc_hook_add(vp->uc, &h, UC_HOOK_INSN, (void *)hook_in, vp, 1, 0, UC_X86_INS_IN) ||
	    uc_hook_add(vp->uc, &h, UC_HOOK_INSN, (void *)hook_out, vp, 1, 0, UC_X86_INS_OUT) ||
	    uc_hook_add(vp->uc, &h, UC_HOOK_MEM_INVALID, (void *)hook_mem_invalid, vp, 1, 0) ||
	    /*
	     * unicorn reports a stale RIP (the block start) in memory fault hooks unless some
	     * UC_HOOK_MEM_READ/WRITE hook exists: then it syncs RIP before each access. This
	     * hook's range is never accessed; it exists for that side effect (~6% cost).
	     */
	    uc_hook_add(vp->uc, &h, UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE, (void *)hook_mem_sync,
			vp, 0xFFFFFFFFFFFFF000ull, 0xFFFFFFFFFFFFFFFFull))
		return -EIO;
	/* A fresh context: MXCSR reset value so ctx_apply's "0 = untouched" rule holds. */
	run_of(vp)->cpu_context.fx_state.mxcsr = 0x1F80;
	run_of(vp)->cpu_context.fx_state.fcw = 0x37F;
	return 0;
}

void hvsim_vp_fini(struct hvsim_vp *vp)
{
	if (vp->uc_ctx)
		uc_context_free(vp->uc_ctx);
	if (vp->reset_ctx)
		uc_context_free(vp->reset_ctx);
	if (vp->uc)
		uc_close(vp->uc);
	if (vp->poll_fd >= 0)
		close(vp->poll_fd);
	free(vp->run_page);
	free(vp->reg_page);
	free(vp->applied_prot);
	pthread_mutex_destroy(&vp->lock);
	pthread_cond_destroy(&vp->cond);
	free(vp);
}
