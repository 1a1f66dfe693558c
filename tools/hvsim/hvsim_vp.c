/*
 * hvsim VPs: VTL0 on unicorn, the run loop behind MSHV_RETURN_TO_LOWER_VTL and the VP
 * lifecycle, with what the VP modules share: guest memory access, the intercept message header,
 * memory exits, cpu_context / register page, VTL protections, VTL0 SynIC MSRs, cancel / poll
 * file. Special instructions are handled in hvsim_special.c, exceptions and interrupts are
 * delivered by hvsim_exc.c.
 *
 * How exits are found (unicorn 2.1.4 facts: docs/hvsim.md):
 * unicorn has no usable hooks for RDMSR/WRMSR/HLT/VMCALL and its IN/OUT/CPUID hooks report a
 * stale RIP, so no instruction hook is used. A UC_HOOK_BLOCK hook (hvsim_special.c) decodes
 * each translation block and stops VTL0 exactly before the first "special" instruction, which
 * hvsim then handles itself. Memory exits (unmapped GPA, VTL protection) come from
 * UC_HOOK_MEM_UNMAPPED / _PROT with a precise RIP and the GPA (the GVA is recovered from the
 * instruction); exceptions from UC_HOOK_INTR (vector; CR2 for #PF; the #PF error code is
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

const int hvsim_uc_gpr[16] = {
	UC_X86_REG_RAX, UC_X86_REG_RCX, UC_X86_REG_RDX, UC_X86_REG_RBX,
	UC_X86_REG_RSP, UC_X86_REG_RBP, UC_X86_REG_RSI, UC_X86_REG_RDI,
	UC_X86_REG_R8, UC_X86_REG_R9, UC_X86_REG_R10, UC_X86_REG_R11,
	UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15,
};
enum { R_AX, R_CX, R_DX, R_BX, R_SP, R_BP, R_SI, R_DI };

uint64_t hvsim_rd(struct hvsim_vp *vp, int reg)
{
	uint64_t v = 0;
	uc_reg_read(vp->uc, reg, &v);
	return v;
}

void hvsim_wr(struct hvsim_vp *vp, int reg, uint64_t v)
{
	uc_reg_write(vp->uc, reg, &v);
}

uint64_t hvsim_rd_msr(struct hvsim_vp *vp, uint32_t msr)
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
	r->cr0 = hvsim_rd(vp, UC_X86_REG_CR0);
	r->cr3 = hvsim_rd(vp, UC_X86_REG_CR3);
	r->cr4 = hvsim_rd(vp, UC_X86_REG_CR4);
	r->efer = hvsim_rd_msr(vp, X86_MSR_EFER);
	r->rflags = hvsim_rd(vp, UC_X86_REG_RFLAGS);
	r->maxphyaddr = 0;
}

unsigned hvsim_vp_cpl(struct hvsim_vp *vp)
{
	return (unsigned)(hvsim_rd(vp, UC_X86_REG_CS) & 3);
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
int hvsim_vaccess(struct hvsim_vp *vp, uint64_t va, void *buf, size_t len, unsigned access,
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
/*
 * Code mode and CS base. Long mode with CS.L: 64, base 0. Real mode (CR0.PE = 0, after a SIPI):
 * 16, base = selector << 4 (every real-mode CS load sets both). Otherwise the CS descriptor's D
 * bit and base, read from the GDT (hvsim cannot read unicorn's hidden CS; the tables Linux and
 * our guests use do not change under a loaded CS).
 */
unsigned hvsim_vp_mode(struct hvsim_vp *vp)
{
	uint16_t cs = (uint16_t)hvsim_rd(vp, UC_X86_REG_CS);
	if (!vp->mode_stale && cs == vp->mode_cs && vp->mode)
		return vp->mode;
	vp->mode_stale = false;
	vp->mode_cs = cs;
	if (!(hvsim_rd(vp, UC_X86_REG_CR0) & 1)) {
		vp->mode = 16;
		vp->cs_base = (uint64_t)cs << 4;
		return vp->mode;
	}
	struct hvsim_seg s = hvsim_read_seg(vp, UC_X86_REG_CS);
	bool lma = hvsim_rd_msr(vp, X86_MSR_EFER) & X86_EFER_LMA;
	/*
	 * An unreadable descriptor (attr without P: e.g. Linux's AP after switching to the
	 * kernel's page tables, before loading the kernel's GDT over the unmapped trampoline
	 * one) keeps what was loaded: 64-bit in long mode, flat 32-bit otherwise. A null CS
	 * exists only in unicorn's reset state: 64-bit there.
	 */
	bool readable = s.attr & 0x80;
	if (lma && (!readable || (s.attr >> 13) & 1 || (cs & ~3u) == 0)) {
		vp->mode = 64;
		vp->cs_base = 0;
	} else if (!readable) {
		vp->mode = 32;
		vp->cs_base = 0;
	} else {
		vp->mode = (s.attr >> 14) & 1 ? 32 : 16;
		vp->cs_base = s.base;
	}
	return vp->mode;
}

uint64_t hvsim_vp_lin(struct hvsim_vp *vp, uint64_t rip)
{
	if (hvsim_vp_mode(vp) == 64)
		return rip;
	return (rip + vp->cs_base) & 0xFFFFFFFFull;
}

unsigned hvsim_fetch_insn(struct hvsim_vp *vp, uint64_t rip, uint8_t bytes[16])
{
	unsigned user = hvsim_vp_cpl(vp) == 3 ? X86_PW_USER : 0;
	rip = hvsim_vp_lin(vp, rip);
	memset(bytes, 0, 16);
	unsigned first = (unsigned)(ADDR_PAGE_SIZE - (rip & (ADDR_PAGE_SIZE - 1)));
	if (first > 16)
		first = 16;
	if (hvsim_vaccess(vp, rip, bytes, first, X86_PW_FETCH | user, NULL, NULL))
		return 0;
	if (first < 16 && hvsim_vaccess(vp, rip + first, bytes + first, 16 - first,
					X86_PW_FETCH | user, NULL, NULL) == 0)
		return 16;
	return first;
}

/* ---- unicorn hooks (the block hook and IN/OUT hooks are in hvsim_special.c) ---- */

static void hook_intr(uc_engine *uc, uint32_t intno, void *user)
{
	struct hvsim_vp *vp = user;
	vp->stop = HVSIM_STOP_INTR;
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
		/* RAM is unmapped from the engine only where VTL0 may not read it (sync_prot). */
		vp->stop = addr < vp->sim->mem_size ? HVSIM_STOP_MEM_PROT : HVSIM_STOP_MEM_UNMAPPED;
		break;
	default:
		vp->stop = HVSIM_STOP_MEM_PROT;
		break;
	}
	vp->stop_access = (type == UC_MEM_WRITE_UNMAPPED || type == UC_MEM_WRITE_PROT) ?
		HV_INTERCEPT_ACCESS_WRITE : (type == UC_MEM_FETCH_UNMAPPED || type == UC_MEM_FETCH_PROT) ?
		HV_INTERCEPT_ACCESS_EXECUTE : HV_INTERCEPT_ACCESS_READ;
	vp->stop_addr = addr;  /* unicorn 2.1 reports the guest-physical address */
	return false;
}

/* ---- segments and the intercept message header ---- */

struct hvsim_seg hvsim_read_seg(struct hvsim_vp *vp, int reg)
{
	struct hvsim_seg s = { 0 };
	s.selector = (uint16_t)hvsim_rd(vp, reg);
	if (reg == UC_X86_REG_FS)
		s.base = hvsim_rd(vp, UC_X86_REG_FS_BASE);
	if (reg == UC_X86_REG_GS)
		s.base = hvsim_rd(vp, UC_X86_REG_GS_BASE);
	if ((s.selector & ~3u) == 0 || (s.selector & 4))
		return s;
	uc_x86_mmr gdtr = { 0 };
	uc_reg_read(vp->uc, UC_X86_REG_GDTR, &gdtr);
	uint64_t d;
	if ((uint32_t)(s.selector & ~7u) + 7 > gdtr.limit ||
	    hvsim_vaccess(vp, gdtr.base + (s.selector & ~7u), &d, 8,
			  X86_PW_READ | X86_PW_IMPLICIT | X86_PW_NO_AD, NULL, NULL))
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

struct hv_x64_segment_register hvsim_seg_to_hv(struct hvsim_seg s)
{
	return (struct hv_x64_segment_register){ .base = s.base, .limit = s.limit,
						 .selector = s.selector, .attributes = s.attr };
}

/* The common intercept header (doc 2.4) for VTL0's current state. */
struct hv_x64_intercept_header hvsim_icpt_header(struct hvsim_vp *vp, unsigned insn_len,
						 unsigned access, uint64_t rip)
{
	struct hv_x64_intercept_header h = { .vp_index = vp->index };
	uint64_t cr8 = hvsim_rd(vp, UC_X86_REG_CR8);
	h.instruction_length_cr8 = (uint8_t)((insn_len & 0xF) | ((cr8 & 0xF) << 4));
	h.intercept_access_type = (uint8_t)access;
	uint64_t cr0 = hvsim_rd(vp, UC_X86_REG_CR0), efer = hvsim_rd_msr(vp, X86_MSR_EFER);
	uint16_t es = (uint16_t)(hvsim_vp_cpl(vp) & HV_X64_EXEC_STATE_CPL_MASK);
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
	h.cs = hvsim_seg_to_hv(hvsim_read_seg(vp, UC_X86_REG_CS));
	h.rip = rip;
	h.rflags = hvsim_rd(vp, UC_X86_REG_RFLAGS);
	return h;
}

/* Encode `ex` into the run page's exit slot. */
void hvsim_put_msg(struct hvsim_vp *vp, const struct hv_exit *ex)
{
	uint8_t *slot = run_of(vp)->exit_message;
	if (hv_exit_encode(ex, slot, MSHV_ABI_MSG_SIZE) != 0)
		abort(); /* internal invariant: hvsim only encodes kinds the codec knows */
}

void hvsim_finish_exit(struct hvsim_vp *vp, enum hvsim_exit_kind kind, uint64_t rip)
{
	atomic_fetch_add_explicit(&vp->st_exits[kind], 1, memory_order_relaxed);
	hvsim_trace(vp->sim, "hvsim: vp%u exit %s rip=%#llx", vp->index,
		    hvsim_exit_kind_name(kind), (unsigned long long)rip);
}

/* Segment base of a data access in 64-bit mode: only FS and GS have one. */
uint64_t hvsim_seg_base(struct hvsim_vp *vp, int seg)
{
	if (seg == X86_FS)
		return hvsim_rd(vp, UC_X86_REG_FS_BASE);
	if (seg == X86_GS)
		return hvsim_rd(vp, UC_X86_REG_GS_BASE);
	return 0;
}

/*
 * Write a segment selector through unicorn's API, which (for DS/ES/FS/GS) reads the descriptor
 * and may set its accessed bit. A read or write it cannot do raises an exception with no
 * handler around it (a crash, found by hvsim_hvcall_fuzz), so the table entry must be present
 * in the tables and reachable through the guest's page tables first. 0, or -EINVAL.
 */
int hvsim_write_selector(struct hvsim_vp *vp, int reg, uint16_t sel)
{
	if ((sel & ~3u) != 0) {
		uc_x86_mmr dt = { 0 };
		uc_reg_read(vp->uc, (sel & 4) ? UC_X86_REG_LDTR : UC_X86_REG_GDTR, &dt);
		uint64_t at = dt.base + (sel & ~7u), gpa;
		uint8_t d[8];
		if ((uint32_t)(sel & ~7u) + 7 > dt.limit ||
		    hvsim_vaccess(vp, at, d, 8, X86_PW_READ | X86_PW_IMPLICIT | X86_PW_NO_AD, NULL,
				  NULL) ||
		    (!(d[5] & 1) && hvsim_vp_translate(vp, at + 5, X86_PW_WRITE | X86_PW_IMPLICIT |
							     X86_PW_NO_AD, &gpa, NULL)))
			return -EINVAL;
	}
	uint64_t v = sel;
	return uc_reg_write(vp->uc, reg, &v) == UC_ERR_OK ? 0 : -EINVAL;
}

/* ---- cpu_context and register page ---- */

static void ctx_apply(struct hvsim_vp *vp)
{
	struct mshv_abi_cpu_context *c = &run_of(vp)->cpu_context;
	const uint64_t *g = &c->rax;
	for (int i = 0; i < 16; i++) {
		uint64_t v;
		memcpy(&v, g + i, 8);
		hvsim_wr(vp, i == R_SP ? UC_X86_REG_CR2 : hvsim_uc_gpr[i], v);
	}
	for (int i = 0; i < 16; i++)
		uc_reg_write(vp->uc, UC_X86_REG_XMM0 + i, c->fx_state.xmm[i]);
	uint64_t mxcsr = c->fx_state.mxcsr & 0xFFFF;
	if (mxcsr)  /* 0 = a never-filled context; keep the reset value 0x1F80 */
		hvsim_wr(vp, UC_X86_REG_MXCSR, mxcsr);
}

static void ctx_save(struct hvsim_vp *vp)
{
	struct mshv_abi_cpu_context *c = &run_of(vp)->cpu_context;
	uint64_t *g = &c->rax;
	for (int i = 0; i < 16; i++) {
		uint64_t v = hvsim_rd(vp, i == R_SP ? UC_X86_REG_CR2 : hvsim_uc_gpr[i]);
		memcpy(g + i, &v, 8);
	}
	for (int i = 0; i < 16; i++)
		uc_reg_read(vp->uc, UC_X86_REG_XMM0 + i, c->fx_state.xmm[i]);
	c->fx_state.mxcsr = (uint32_t)hvsim_rd(vp, UC_X86_REG_MXCSR);
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
		rp->gp[i] = hvsim_rd(vp, hvsim_uc_gpr[i]);
	rp->rip = hvsim_rd(vp, UC_X86_REG_RIP);
	rp->rflags = hvsim_rd(vp, UC_X86_REG_RFLAGS);
	for (int i = 0; i < 6; i++)
		uc_reg_read(vp->uc, UC_X86_REG_XMM0 + i, &rp->xmm[i]);
	for (int i = 0; i < 6; i++) {
		struct hvsim_seg s = hvsim_read_seg(vp, uc_segs[i]);
		rp->segment[i] = (struct hv_x64_segment_register){ s.base, s.limit, s.selector,
								      s.attr };
	}
	rp->cr0 = hvsim_rd(vp, UC_X86_REG_CR0);
	rp->cr3 = hvsim_rd(vp, UC_X86_REG_CR3);
	rp->cr4 = hvsim_rd(vp, UC_X86_REG_CR4);
	rp->cr8 = hvsim_rd(vp, UC_X86_REG_CR8);
	rp->efer = hvsim_rd_msr(vp, X86_MSR_EFER);
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
		hvsim_wr(vp, UC_X86_REG_RSP, rp->gp[HV_X64_REGISTER_PAGE_GP_RSP]);
	if (d & HV_X64_REGISTER_PAGE_DIRTY_RIP)
		hvsim_wr(vp, UC_X86_REG_RIP, rp->rip);
	if (d & HV_X64_REGISTER_PAGE_DIRTY_FLAGS)
		hvsim_wr(vp, UC_X86_REG_RFLAGS, rp->rflags | 2);
	if (d & HV_X64_REGISTER_PAGE_DIRTY_XMM)
		for (int i = 0; i < 6; i++)
			uc_reg_write(vp->uc, UC_X86_REG_XMM0 + i, &rp->xmm[i]);
	if (d & HV_X64_REGISTER_PAGE_DIRTY_SEGMENTS) {
		/* unicorn loads hidden parts from the descriptor tables: selectors only. */
		for (int i = 0; i < 6; i++) {
			uint64_t sel = rp->segment[i].selector;
			if (sel != hvsim_rd(vp, uc_segs[i]))
				hvsim_write_selector(vp, uc_segs[i], (uint16_t)sel);
		}
		hvsim_wr(vp, UC_X86_REG_FS_BASE, rp->segment[4].base);
		hvsim_wr(vp, UC_X86_REG_GS_BASE, rp->segment[5].base);
	}
	rp->dirty = 0;
}

/* ---- memory exits ---- */

/*
 * A memory exit (unmapped GPA or VTL-protected page); unicorn 2.1 reports the GPA (stop_addr),
 * the linear address is recovered from the instruction. Returns 1 with an exit message.
 */
int hvsim_handle_mem(struct hvsim_vp *vp, bool prot)
{
	/* The xAPIC page is the hypervisor's: emulated here, never an intercept. */
	int apic = prot ? -1 : hvsim_apic_mmio(vp);
	if (apic >= 0)
		return apic;
	uint64_t rip = hvsim_rd(vp, UC_X86_REG_RIP), g = vp->stop_addr, va = 0;
	uint8_t bytes[16];
	unsigned n = hvsim_fetch_insn(vp, rip, bytes), len = 0;
	struct x86_insn insn;
	bool decoded = n && hvsim_decode(vp, bytes, n, &insn);
	if (decoded)
		len = insn.len;
	bool va_ok = hvsim_fault_gva(vp, rip, decoded ? &insn : NULL,
				     vp->stop_access == HV_INTERCEPT_ACCESS_EXECUTE, g, &va);
	bool in_ram = g < vp->sim->mem_size;
	bool gpa_icpt = prot && in_ram;
	struct hv_exit ex = { .kind = HV_EXIT_MEMORY,
			      .memory_kind = gpa_icpt ? HV_EXIT_MEMORY_GPA_INTERCEPT :
							HV_EXIT_MEMORY_UNMAPPED_GPA };
	struct hv_x64_memory_intercept_message *mi = &ex.u.memory;
	mi->header = hvsim_icpt_header(vp, len, vp->stop_access, rip);
	mi->cache_type = in_ram ? HV_CACHE_TYPE_WB : HV_CACHE_TYPE_UC;
	mi->instruction_byte_count = (uint8_t)n;
	mi->memory_access_info = va_ok ? HV_X64_MEM_ACCESS_GVA_VALID |
					 HV_X64_MEM_ACCESS_GVA_GPA_VALID : 0;
	mi->guest_virtual_address = va_ok ? va : 0;
	mi->guest_physical_address = g;
	memcpy(mi->instruction_bytes, bytes, 16);
	hvsim_put_msg(vp, &ex);
	hvsim_finish_exit(vp, gpa_icpt ? HVSIM_EXIT_GPA_INTERCEPT : HVSIM_EXIT_UNMAPPED_GPA, rip);
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

/*
 * The fault hook over RAM covers exactly the pages whose protection is not RWX. Why bounded:
 * while any UC_HOOK_MEM_*_UNMAPPED/_PROT hook covers a page, unicorn never marks its TLB entry
 * dirty again (notdirty_write), so every store to it takes the slow path (with the hook over all
 * of RAM: a third of a Linux boot).
 */
static int set_prot_hook(struct hvsim_vp *vp, uint64_t lo, uint64_t hi)
{
	if (vp->prot_hook && lo == vp->prot_lo && hi == vp->prot_hi)
		return 0;
	if (vp->prot_hook)
		uc_hook_del(vp->uc, vp->prot_hook);
	vp->prot_hook = 0;
	vp->prot_lo = lo;
	vp->prot_hi = hi;
	if (lo > hi)
		return 0;
	return uc_hook_add(vp->uc, &vp->prot_hook, UC_HOOK_MEM_INVALID, (void *)hook_mem_invalid,
			   vp, lo, hi) == UC_ERR_OK ? 0 : -EIO;
}

/*
 * Apply sim->prot to this VP's engine. A page without read access is unmapped from the engine
 * rather than protected: unicorn checks UC_PROT_READ only on its slow path, which loads take
 * only while some UC_HOOK_MEM_READ/WRITE hook exists; unmapped, every access faults (the fault
 * hook turns it back into a protection intercept). Pages with read access get uc_mem_protect
 * (write and execute protection hold on unicorn's fast path).
 */
static void sync_prot(struct hvsim_vp *vp)
{
	struct hvsim *sim = vp->sim;
	uint64_t gen = atomic_load(&sim->prot_gen);
	if (gen == vp->applied_gen)
		return;
	pthread_mutex_lock(&sim->lock);
	uint64_t pages = sim->mem_size >> ADDR_PAGE_SHIFT, lo = pages, hi = 0;
	for (uint64_t i = 0; i < pages; i++) {
		if (prot_to_uc(sim->prot[i]) != UC_PROT_ALL) {
			lo = i < lo ? i : lo;
			hi = i;
		}
	}
	for (uint64_t i = 0; i < pages; i++) {
		if (vp->applied_prot[i] == sim->prot[i])
			continue;
		/* Coalesce runs with the same new mask and the same mapped state into one call. */
		bool was = vp->applied_prot[i] & 1, now = sim->prot[i] & 1;
		uint64_t j = i + 1;
		while (j < pages && vp->applied_prot[j] != sim->prot[j] &&
		       sim->prot[j] == sim->prot[i] && (bool)(vp->applied_prot[j] & 1) == was)
			j++;
		uint64_t a = i << ADDR_PAGE_SHIFT, len = (j - i) << ADDR_PAGE_SHIFT;
		uc_err err = UC_ERR_OK;
		if (was && !now)
			err = uc_mem_unmap(vp->uc, a, len);
		else if (!was && now)
			err = uc_mem_map_ptr(vp->uc, a, len, prot_to_uc(sim->prot[i]), sim->ram + a);
		else if (now)
			err = uc_mem_protect(vp->uc, a, len, prot_to_uc(sim->prot[i]));
		if (err != UC_ERR_OK) {
			/* Internal invariant: the range is page-aligned RAM the engine mapped. */
			fprintf(stderr, "hvsim: vp%u: protections at gpa 0x%llx+0x%llx: %s\n",
				vp->index, (unsigned long long)a, (unsigned long long)len,
				uc_strerror(err));
			abort();
		}
		memcpy(vp->applied_prot + i, sim->prot + i, j - i);
		i = j - 1;
	}
	if (set_prot_hook(vp, lo << ADDR_PAGE_SHIFT, ((hi + 1) << ADDR_PAGE_SHIFT) - 1))
		abort(); /* internal invariant: uc_hook_add fails only without memory */
	gen = atomic_load(&sim->prot_gen);
	pthread_mutex_unlock(&sim->lock);
	vp->applied_gen = gen;
}

void hvsim_vp_kick(struct hvsim_vp *vp)
{
	/*
	 * Only the flag: the block hook, which runs before every translation block, stops the VP
	 * on its own thread. uc_emu_stop from another thread while the VP runs lets unicorn stop
	 * at a point whose state does not resume correctly (seen: a Debian kernel's spinlocks and
	 * preempt counts corrupted; unicorn-notes saw the same with uc_emu_start timeouts).
	 */
	atomic_store(&vp->kick, true);
	hvsim_gate_open(vp);
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
	hvsim_apic_accept(vp, vec, false, (cfg >> 17) & 1); /* bit 17: auto-EOI */
}

int hvsim_vp_synic_msr(struct hvsim_vp *vp, uint32_t msr, bool write, uint64_t *val)
{
	uint64_t *reg;
	switch (msr) {
	case HV_X64_MSR_SCONTROL: reg = &vp->scontrol; break;
	case HV_X64_MSR_SVERSION:
		if (write)
			return -1;
		*val = 1;
		return 1;
	case HV_X64_MSR_SIEFP: reg = &vp->siefp; break;
	case HV_X64_MSR_SIMP: reg = &vp->simp; break;
	case HV_X64_MSR_EOM: /* hvsim keeps no per-SINT queue behind the slot */
		if (!write)
			*val = 0;
		return 1;
	default:
		if (msr < HV_X64_MSR_SINT0 || msr > HV_X64_MSR_SINT15)
			return 0;
		reg = &vp->sint[msr - HV_X64_MSR_SINT0];
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
	hvsim_apic_init(vp);
}

void hvsim_vp_ctx_save(struct hvsim_vp *vp)
{
	ctx_save(vp);
	regpage_save(vp);
}

/*
 * The execution lock: one VP at a time runs inside unicorn. unicorn (2.0.1 and 2.1.4) translates
 * LOCK-prefixed instructions into plain load/op/store sequences (it is built without parallel
 * TCG), so two engines running at once lose atomic updates (measured on 2.1.4: two engines
 * doing `lock xadd` lost 40% of the increments). A fair ticket lock plus time slices (the block hook yields after HVSIM_SLICE_BLOCKS
 * blocks when another VP waits) keeps x86 atomicity at the cost of parallelism.
 */
static void exec_acquire(struct hvsim_vp *self)
{
	struct hvsim *sim = self->sim;
	pthread_mutex_lock(&sim->exec_lock);
	uint64_t ticket = sim->exec_next++;
	atomic_fetch_add(&sim->exec_waiters, 1);
	/* The running VP counts its time slice in the block hook: open its gate. */
	for (uint32_t i = 0; i < sim->vp_count; i++)
		if (sim->vps[i] != self)
			hvsim_gate_open(sim->vps[i]);
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

/* Drop all of unicorn's translations and hvsim's block scans. */
static void flush_translations(struct hvsim_vp *vp)
{
	uc_ctl(vp->uc, UC_CTL_WRITE(UC_CTL_TB_FLUSH, 0));
	memset(vp->tb, 0, HVSIM_TB_CACHE * sizeof(*vp->tb));
}

/* ---- the block-hook gate (docs/hvsim.md "The block-hook gate") ---- */

/*
 * Before a gated run: drop translations that host or guest stores made stale, and all of them
 * when the intercepts changed (blocks translated under the old ones skip the hook) or too many
 * pages were written to track; then close the gate unless something needs the hook now.
 * Closing comes before the checks, and the openers set their flag before opening
 * (hvsim_vp_kick, xmod_fault, the partition's timer thread for the run's APIC deadline), so an
 * event that races with the run's start leaves the gate open. vp->lock held.
 */
static void gate_run_start(struct hvsim_vp *vp)
{
	struct hvsim *sim = vp->sim;
	bool tracked = hvsim_xmod_gate_sync(vp);
	if (!tracked || vp->gate_icpt_gen != vp->icpt_gen_run) {
		if (vp->ran) {
			flush_translations(vp);
			memset((void *)vp->codepg, 0, sim->mem_size >> ADDR_PAGE_SHIFT);
			atomic_fetch_add_explicit(&vp->st_gate_flush, 1, memory_order_relaxed);
		}
		vp->gate_icpt_gen = vp->icpt_gen_run;
	}
	__atomic_store_n(&vp->gate, 0, __ATOMIC_SEQ_CST);
	uint64_t dl = vp->apic.deadline_ns;
	atomic_store(&vp->gate_deadline, dl);
	if (atomic_load(&vp->kick) || atomic_load(&vp->want_window) || vp->ring_detour ||
	    atomic_load(&sim->count_all) || atomic_load(&vp->gate_host_dirty) ||
	    atomic_load(&sim->exec_waiters) ||
	    (dl && hvsim_apic_due(vp))) {
		hvsim_gate_open(vp);
		return;
	}
	if (dl)
		hvsim_synth_gate_deadline(sim, dl);
}

bool hvsim_count_insns(struct hvsim *sim, bool on)
{
	bool was = atomic_exchange(&sim->count_all, on);
	for (uint32_t i = 0; on && i < sim->vp_count; i++)
		hvsim_gate_open(sim->vps[i]);
	return was;
}

/* ---- the run loop ---- */

/* An interrupt the local APIC would deliver now (above PPR), IF permitting. */
static bool irr_any(const struct hvsim_vp *vp)
{
	return hvsim_apic_next(vp) >= 0;
}

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
		hvsim_apic_poll(vp);
		if (hvsim_inject_pending(vp)) {
			rc = 0;
			break;
		}
		if (vp->halted) {
			/* HLT: sleep until an interrupt, a pending event or a cancel. */
			atomic_store(&vp->kick, false);
			while (vp->halted && !atomic_load(cancel) && !hvsim_apic_wakeup(vp))
				hvsim_apic_wait(vp); /* also wakes for the APIC timer */
			continue;
		}
		unsigned flush = atomic_exchange(&vp->flush_tb, 0);
		/* A VP that never ran has nothing translated (and unicorn's TB flush is costly:
		 * it clears its whole code buffer). */
		if ((flush & HVSIM_FLUSH_ALL) && vp->ran)
			flush_translations(vp);
		if (flush & HVSIM_FLUSH_TLB) {
			/* A flush hypercall: mappings changed under the same CR3 (hvsim_synth.c). */
			uc_ctl_flush_tlb(vp->uc);
			vp->tb_epoch++; /* each cached block re-checks its mapping (same_bytes_under) */
		}
		atomic_store(&vp->kick, false);
		atomic_store(&vp->want_window, irr_any(vp));
		vp->in_guest = true;
		vp->stop = HVSIM_STOP_NONE;
		uint64_t rip = hvsim_rd(vp, UC_X86_REG_RIP);
		vp->cr3 = hvsim_rd(vp, UC_X86_REG_CR3);
		vp->slice = 0;
		vp->run_seq++;
		vp->icpt_gen_run = atomic_load(&sim->icpt_gen);
		vp->mode_stale = true;
		gate_run_start(vp);
		vp->ran = true;
		pthread_mutex_unlock(&vp->lock);
		hvsim_apic_flush_ipis(vp);
		exec_acquire(vp);
		uint64_t cr2 = until ? hvsim_rd(vp, UC_X86_REG_CR2) : 0;
		vp->exec_locked = true;
		uc_err err = hvsim_vp_emu(vp, rip, until, 0);
		vp->exec_locked = false;
		atomic_store(&vp->gate_deadline, 0);
		exec_release(sim);
		if (until && vp->stop != HVSIM_STOP_INTR) {
			/*
			 * unicorn translates `until - 1` when such a run ends (unicorn-notes); a
			 * fault there is raised inside unicorn and never reaches the guest, but it
			 * would leave CR2 and the #DF state behind. Defensive: not seen since the
			 * code mode is tracked, cheap (re-runs only).
			 */
			hvsim_wr(vp, UC_X86_REG_CR2, cr2);
			hvsim_clear_old_exception(vp);
		}
		pthread_mutex_lock(&vp->lock);
		vp->in_guest = false;
		pthread_cond_broadcast(&vp->cond);
		until = 0;
		vp->interrupt_shadow = false;
		int r = 0;
		bool brk = false;
		switch (vp->stop) {
		case HVSIM_STOP_SPECIAL: {
			uint64_t now = hvsim_rd(vp, UC_X86_REG_RIP), lin = hvsim_vp_lin(vp, now);
			if (lin != vp->stop_addr) {
				/* Re-run the block up to the special instruction only, or run it as it
				 * is once that instruction has a code hook of its own. */
				if (hvsim_special_hook_rerun(vp, vp->stop_addr))
					break;
				atomic_fetch_add_explicit(&vp->st_reruns, 1, memory_order_relaxed);
				uc_ctl_remove_cache(vp->uc, lin, lin + 1);
				until = vp->stop_addr;
				break;
			}
			if (vp->bp_hook && lin == vp->bp_rip) {
				/* The block hook stopped first; the breakpoint wins. */
				brk = true;
				break;
			}
			r = hvsim_handle_special(vp, now);
			break;
		}
		case HVSIM_STOP_INTR:
			r = hvsim_handle_intr(vp, vp->stop_vector);
			break;
		case HVSIM_STOP_MEM_UNMAPPED:
		case HVSIM_STOP_MEM_PROT:
			r = hvsim_handle_mem(vp, vp->stop == HVSIM_STOP_MEM_PROT);
			break;
		case HVSIM_STOP_KICK:
			break;
		case HVSIM_STOP_BREAK:
			if (hvsim_vp_lin(vp, hvsim_rd(vp, UC_X86_REG_RIP)) == vp->bp_rip)
				brk = true;
			break;
		case HVSIM_STOP_NONE:
		default:
			if (err == UC_ERR_INSN_INVALID) {
				uint64_t now = hvsim_rd(vp, UC_X86_REG_RIP);
				uint8_t b[3];
				if (hvsim_vaccess(vp, hvsim_vp_lin(vp, now), b, 3, X86_PW_FETCH | X86_PW_NO_AD, NULL,
						  NULL) == 0 && b[0] == 0x0F && b[1] == 0x01 &&
				    (b[2] == 0xC1 || b[2] == 0xD9))
					r = hvsim_handle_special(vp, now);
				else
					r = hvsim_raise_ud(vp);
			} else if (err != UC_ERR_OK) {
				/* unicorn gave up (e.g. fetch from nowhere): treat as #GP. */
				hvsim_trace(sim, "hvsim: vp%u unicorn error %s", vp->index,
					    uc_strerror(err));
				r = hvsim_raise_gp(vp);
			}
			break;
		}
		if (brk) {
			rc = HVSIM_RUN_BREAK;
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
	hvsim_apic_flush_ipis(vp);
	return rc;
}

/* The instruction at the breakpoint has not run: uc_emu_stop from a code hook stops before it. */
static void hook_breakpoint(uc_engine *uc, uint64_t addr, uint32_t size, void *user)
{
	(void)size;
	struct hvsim_vp *vp = user;
	if (addr != vp->bp_rip)
		return;
	vp->stop = HVSIM_STOP_BREAK;
	uc_emu_stop(uc);
}

int hvsim_vp_set_breakpoint(struct hvsim *sim, uint32_t index, uint64_t rip)
{
	if (index >= sim->vp_count)
		return -EINVAL;
	struct hvsim_vp *vp = sim->vps[index];
	pthread_mutex_lock(&vp->lock);
	int rc = 0;
	if (vp->in_guest) {
		rc = -EBUSY;
		goto out;
	}
	if (vp->bp_hook) {
		uc_hook_del(vp->uc, vp->bp_hook);
		vp->bp_hook = 0;
		uc_ctl_remove_cache(vp->uc, vp->bp_rip, vp->bp_rip + 1);
	}
	vp->bp_rip = rip;
	if (rip) {
		/* A block translated before the hook existed would not call it. */
		uc_ctl_remove_cache(vp->uc, rip, rip + 1);
		if (uc_hook_add(vp->uc, &vp->bp_hook, UC_HOOK_CODE, (void *)hook_breakpoint, vp, rip,
				rip) != UC_ERR_OK) {
			vp->bp_hook = 0;
			vp->bp_rip = 0;
			rc = -EIO;
		}
	}
out:
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

int hvsim_assert_interrupt_ex(struct hvsim *sim, uint32_t index, uint8_t vector, bool level)
{
	if (index >= sim->vp_count || vector < 16)
		return -EINVAL;
	struct hvsim_vp *vp = sim->vps[index];
	pthread_mutex_lock(&vp->lock);
	hvsim_apic_accept(vp, vector, level, false);
	pthread_mutex_unlock(&vp->lock);
	return 0;
}

int hvsim_assert_interrupt(struct hvsim *sim, uint32_t index, uint8_t vector)
{
	return hvsim_assert_interrupt_ex(sim, index, vector, false);
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
	/* The block-scan table, cache-line aligned (calloc: pages touched only as used). */
	vp->tb_mem = calloc(HVSIM_TB_CACHE + 1, sizeof(struct hvsim_tb_entry));
	if (!vp->tb_mem)
		return -ENOMEM;
	vp->tb = (struct hvsim_tb_entry *)(((uintptr_t)vp->tb_mem + 63) & ~(uintptr_t)63);
	if (!vp->run_page || (sim->cfg.register_page && !vp->reg_page) || !vp->applied_prot)
		return -ENOMEM;
	memset(vp->run_page, 0, ADDR_PAGE_SIZE);
	if (vp->reg_page)
		memset(vp->reg_page, 0, ADDR_PAGE_SIZE);
	memset(vp->applied_prot, 0xF, sim->mem_size >> ADDR_PAGE_SHIFT);
	for (int i = 0; i < 16; i++)
		vp->sint[i] = 1ull << 16; /* masked at reset */
	hvsim_apic_init(vp);
	if (index > 0) {
		/* APs power up waiting for INIT/SIPI (SDM 8.4.1); a loader that sets one up
		 * (hvsim_vp_setup_long_mode) takes it out of that state. */
		vp->apic.wait_sipi = true;
		vp->halted = true;
	}
	hvsim_oldexc_init();
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
	if (uc_hook_add(vp->uc, &h, UC_HOOK_BLOCK, (void *)hvsim_hook_block, vp, 1, 0) ||
	    uc_hook_add(vp->uc, &h, UC_HOOK_INTR, (void *)hook_intr, vp, 1, 0) ||
	    uc_hook_add(vp->uc, &h, UC_HOOK_INSN, (void *)hvsim_hook_in, vp, 1, 0,
			UC_X86_INS_IN) ||
	    uc_hook_add(vp->uc, &h, UC_HOOK_INSN, (void *)hvsim_hook_out, vp, 1, 0,
			UC_X86_INS_OUT) ||
	    /* The guest TSC is hvsim's clock at HVSIM_TSC_HZ, not the host's (hvsim_synth.c). */
	    uc_hook_add(vp->uc, &h, UC_HOOK_INSN, (void *)hvsim_hook_rdtsc, vp, 1, 0,
			UC_X86_INS_RDTSC) ||
	    uc_hook_add(vp->uc, &h, UC_HOOK_INSN, (void *)hvsim_hook_rdtscp, vp, 1, 0,
			UC_X86_INS_RDTSCP) ||
	    /* Outside RAM (MMIO, unbacked); RAM pages get theirs from sync_prot. */
	    uc_hook_add(vp->uc, &h, UC_HOOK_MEM_UNMAPPED, (void *)hook_mem_invalid, vp,
			sim->mem_size, ~0ull))
		return -EIO;
	/*
	 * No exit check after every guest load and store (unicorn patch 0004): hvsim has no hook
	 * on valid accesses, and its fault hooks decline, so a fault leaves the block at once.
	 */
	if (uc_ctl(vp->uc, UC_CTL_WRITE(UC_CTL_MEM_EXIT_CHECK, 1), 0) != UC_ERR_OK)
		return -EIO;
	vp->codepg = calloc(sim->mem_size >> ADDR_PAGE_SHIFT, 1);
	if (!vp->codepg)
		return -ENOMEM;
	vp->gate = 1;
	if (uc_ctl(vp->uc, UC_CTL_WRITE(UC_CTL_BLOCK_GATE, 3), &vp->gate, hvsim_gate_filter,
		   (void *)vp) != UC_ERR_OK)
		return -EIO;
	int rc = hvsim_ring_init(vp);
	if (rc)
		return rc;
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
	hvsim_ring_fini(vp);
	if (vp->poll_fd >= 0)
		close(vp->poll_fd);
	free(vp->run_page);
	free(vp->reg_page);
	free(vp->applied_prot);
	free(vp->tb_mem);
	free((void *)vp->codepg);
	pthread_mutex_destroy(&vp->lock);
	pthread_cond_destroy(&vp->cond);
	free(vp);
}
