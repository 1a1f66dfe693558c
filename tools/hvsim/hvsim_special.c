/*
 * hvsim special instructions: IN, OUT, INS, OUTS, RDMSR, WRMSR, CPUID, HLT, VMCALL, VMMCALL,
 * SYSCALL, MOV CR/DR, which unicorn either lacks usable hooks for or gets wrong.
 * The UC_HOOK_BLOCK hook decodes each translation block (cached by address + byte hash) with
 * arch/x86_64's x86_decode and finds the first special instruction. Stopping inside the block
 * hook keeps the block from executing; if the special instruction is not the first of the
 * block, the run loop drops the block from unicorn's cache and re-runs it with `until` = its
 * address, so that VTL0 stops exactly before it. This file then handles that one instruction:
 * intercept message, host answer, emulation (SYSCALL, MOV DR, hosted MSRs) or a single unicorn
 * step (CPUID, MOV CR, architectural MSRs). Locking: hvsim_priv.h.
 */

#include <errno.h>
#include <string.h>

#include "arch/x86_64/x86_emu.h"
#include "arch/x86_64/x86_pagewalk.h"
#include "hvcall/hv.h"
#include "hvcall/hv_exit.h"
#include "tools/hvsim/hvsim_priv.h"
#include "vtl2/msr.h"

/* ---- decoding (the project's own decoder, arch/x86_64, in the VP's current code mode) ---- */

bool hvsim_decode(struct hvsim_vp *vp, const uint8_t *bytes, size_t n, struct x86_insn *insn)
{
	return x86_decode(bytes, n, (enum x86_mode)hvsim_vp_mode(vp), insn) > 0;
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
	 * MOV to/from DRn: hvsim keeps the debug registers itself (unicorn 2.0.1 crashed when a
	 * DR7 write enabled a breakpoint; breakpoints are not modelled, docs/hvsim.md).
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
uint64_t hvsim_addr_mask(const struct x86_insn *in)
{
	return in->addr_size == 8 ? ~0ull : in->addr_size == 4 ? 0xFFFFFFFFull : 0xFFFFull;
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

/* ---- the block scan and the IN/OUT hooks ---- */

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
 * Does the current CR3 map the cached block `e` to the same guest bytes? Then its scan
 * result holds and it is re-keyed to this CR3: a kernel that switches CR3 on every entry
 * (page-table isolation) or process would otherwise rescan all of its code each time
 * (722k of 1.03M rescans in a Linux boot). Also after a TLB flush (tb_epoch).
 */
static bool same_bytes_under(struct hvsim_vp *vp, struct hvsim_tb_entry *e)
{
	unsigned user_acc = hvsim_vp_cpl(vp) == 3 ? X86_PW_USER : 0;
	if (code_ptr(vp, e->pc, user_acc) != e->p1 ||
	    (e->p2 && code_ptr(vp, e->pc + e->len1, user_acc) != e->p2))
		return false;
	e->cr3 = vp->cr3;
	e->epoch = vp->tb_epoch;
	return true;
}

/* Stop before the block runs; the run loop re-runs from the same RIP. */
static void stop_kick(struct hvsim_vp *vp, uc_engine *uc)
{
	vp->stop = HVSIM_STOP_KICK;
	uc_emu_stop(uc);
}

/* Scan a block that is not in the cache (or whose intercepts changed) into `e`. */
static bool scan_block(struct hvsim_vp *vp, struct hvsim_tb_entry *e, uint64_t addr, uint32_t size,
		       uint64_t cr3, uint64_t gen)
{
	if ((uint16_t)hvsim_rd(vp, UC_X86_REG_CS) != vp->mode_cs)
		vp->mode_stale = true; /* a far jump, IRET or SYSRET in this run */
	unsigned user_acc = hvsim_vp_cpl(vp) == 3 ? X86_PW_USER : 0;
	e->pc = addr;
	e->size = size;
	e->cr3 = cr3;
	e->epoch = vp->tb_epoch;
	e->icpt_gen = gen;
	uint32_t len1 = (uint32_t)(ADDR_PAGE_SIZE - (addr & (ADDR_PAGE_SIZE - 1)));
	e->len1 = (uint16_t)(len1 > size ? size : len1);
	e->p1 = code_ptr(vp, addr, user_acc);
	e->p2 = size > e->len1 ? code_ptr(vp, addr + e->len1, user_acc) : NULL;
	if (!e->p1 || (size > e->len1 && !e->p2)) {
		e->p1 = NULL; /* code outside RAM: unicorn cannot run it either */
		return false;
	}
	uint8_t buf[8192];
	memcpy(buf, e->p1, e->len1);
	if (size > e->len1)
		memcpy(buf + e->len1, e->p2, size - e->len1);
	e->hash = hash_entry(e);
	e->hashed_run = vp->run_seq;
	e->icount = 0;
	e->special_off = -1;
	uint32_t off = 0;
	pthread_mutex_lock(&vp->sim->lock);
	while (off < size) {
		struct x86_insn insn;
		if (!hvsim_decode(vp, buf + off, size - off, &insn))
			break; /* invalid: unicorn raises #UD there */
		if (e->special_off < 0 && needs_stop(vp, &insn))
			e->special_off = (int16_t)off;
		e->icount++;
		off += insn.len;
	}
	pthread_mutex_unlock(&vp->sim->lock);
	return true;
}

static bool has_special_hook(const struct hvsim_vp *vp, uint64_t lin)
{
	for (unsigned i = 0; i < vp->sphook_n; i++)
		if (vp->sphook[i].lin == lin)
			return true;
	return false;
}

/* A special instruction's own code hook: stop right before it, if the block says it is one. */
static void hook_special_at(uc_engine *uc, uint64_t addr, uint32_t size, void *user)
{
	(void)size;
	struct hvsim_vp *vp = user;
	const struct hvsim_tb_entry *e = vp->cur_e;
	/* Other code at this address (another address space, rewritten code) runs on. */
	if (addr == vp->allow_special_at || !e || e->special_off < 0 ||
	    e->pc + (uint64_t)e->special_off != addr)
		return;
	vp->stop = HVSIM_STOP_SPECIAL;
	vp->stop_addr = addr;
	uc_emu_stop(uc);
}

/*
 * A block stopped before a special instruction at linear `lin`, not its first: count it, and
 * the HVSIM_SPECIAL_HOOK_AFTERth time give `lin` a code hook and drop the translations that
 * hold it (they are made again with the hook's call). True: hooked, run the block as it is.
 */
bool hvsim_special_hook_rerun(struct hvsim_vp *vp, uint64_t lin)
{
	uint8_t *c = &vp->rerun_count[(lin ^ (lin >> 8)) & 0xFF];
	if (*c < 255)
		(*c)++;
	if (*c < HVSIM_SPECIAL_HOOK_AFTER || vp->sphook_n == HVSIM_SPECIAL_HOOKS ||
	    has_special_hook(vp, lin))
		return false;
	uc_hook h;
	if (uc_hook_add(vp->uc, &h, UC_HOOK_CODE, (void *)hook_special_at, vp, lin, lin) != UC_ERR_OK)
		return false;
	vp->sphook[vp->sphook_n].lin = lin;
	vp->sphook[vp->sphook_n].h = h;
	vp->sphook_n++;
	*c = 0;
	uc_ctl_remove_cache(vp->uc, lin, lin + 1); /* every block that holds it (it is mapped) */
	return true;
}

/*
 * Called before every translation block runs. The scan result of a block is cached by
 * (address, size, CR3) and revalidated once per run with a hash of its current bytes (code
 * changed by host-side writes, which unicorn does not see), so the common case costs a few
 * loads and compares. Code changed by another VP is found per page (hvsim_xmod.c).
 */
static __attribute__((noinline)) void hook_block_slow(uc_engine *uc, uint64_t addr,
						      uint32_t size, void *user)
{
	struct hvsim_vp *vp = user;
	if (vp->ring_detour) {
		vp->cur_e = NULL;
		return; /* hvsim's own two instructions (hvsim_ring.c) */
	}
	struct hvsim_tb_entry *e = NULL;
	if (size != 0 && size <= 8192) {
		uint64_t cr3 = vp->cr3;
		uint64_t gen = vp->icpt_gen_run;
		e = &vp->tb[(addr ^ (addr >> 9)) & (HVSIM_TB_CACHE - 1)];
		bool same = e->pc == addr && e->size == size && e->cr3 == cr3 &&
			    e->epoch == vp->tb_epoch && e->p1;
		/* Another CR3 (kernel code, PTI) or a flushed TLB may map it to the same bytes. */
		if (!same && e->pc == addr && e->size == size && e->p1 && same_bytes_under(vp, e))
			same = true;
		/*
		 * Host-side writes (VTL2, hvsim) happen between runs: one hash check per block per
		 * run finds them (hashing on every execution cost 15% of a Linux boot).
		 */
		if (same && e->hashed_run != vp->run_seq) {
			e->hashed_run = vp->run_seq;
			if (hash_entry(e) != e->hash) {
				/*
				 * The bytes changed behind unicorn's back (a host-side write through the
				 * shared mapping does not invalidate its translations): retranslate.
				 */
				e->p1 = NULL;
				uc_ctl_remove_cache(uc, addr, addr + size);
				stop_kick(vp, uc);
				return;
			}
		}
		if (same && hvsim_xmod_check(vp, uc, addr, e)) {
			e->p1 = NULL;
			stop_kick(vp, uc);
			return;
		}
		if (!(same && e->icpt_gen == gen)) {
			uint64_t old_hash = e->hash;
			if (!scan_block(vp, e, addr, size, cr3, gen)) {
				e = NULL;
			} else if (hvsim_xmod_check(vp, uc, addr, e)) {
				e->p1 = NULL;
				stop_kick(vp, uc);
				return;
			} else if (same && e->hash != old_hash) {
				/* Rescanned for new intercepts, and the bytes changed too. */
				e->p1 = NULL;
				uc_ctl_remove_cache(uc, addr, addr + size);
				stop_kick(vp, uc);
				return;
			}
		}
	}
	if (atomic_load_explicit(&vp->kick, memory_order_relaxed)) {
		stop_kick(vp, uc);
		return;
	}
	if (atomic_load_explicit(&vp->want_window, memory_order_relaxed) &&
	    (hvsim_rd(vp, UC_X86_REG_RFLAGS) & HVSIM_RFLAGS_IF)) {
		/* Interrupt window opened (STI, POPF, IRET): go deliver the pending interrupt. */
		stop_kick(vp, uc);
		return;
	}
	if (++vp->slice >= HVSIM_SLICE_BLOCKS &&
	    atomic_load_explicit(&vp->sim->exec_waiters, memory_order_relaxed)) {
		stop_kick(vp, uc); /* yield the execution lock to a waiting VP */
		return;
	}
	if (vp->apic.deadline_ns && (vp->slice & 63) == 0 && hvsim_apic_due(vp)) {
		stop_kick(vp, uc); /* APIC timer expired: the run loop fires it */
		return;
	}
	vp->cur_e = e; /* for hook_special_at; a block that stops here never reaches one */
	if (!e)
		return;
	stat_add(&vp->st_blocks, 1);
	stat_add(&vp->st_insns, e->icount);
	if (e->special_off >= 0 && addr + (uint64_t)e->special_off != vp->allow_special_at) {
		if (e->special_off > 0 && has_special_hook(vp, addr + (uint64_t)e->special_off))
			return; /* its code hook stops the block there */
		vp->stop = HVSIM_STOP_SPECIAL;
		vp->stop_addr = addr + (uint64_t)e->special_off;
		uc_emu_stop(uc);
	}
}

/*
 * The block hook's common case, a leaf small enough to need no saved registers: a cached
 * block of this run whose pages no other VP rewrote, nothing pending, no special instruction. Anything else goes to
 * hook_block_slow, which decides it all again (nothing here has changed state before that).
 * Every block of VTL0 pays this call (29% of a Linux boot before the split).
 */
void hvsim_hook_block(uc_engine *uc, uint64_t addr, uint32_t size, void *user)
{
	struct hvsim_vp *vp = user;
	const struct hvsim_tb_entry *e = &vp->tb[(addr ^ (addr >> 9)) & (HVSIM_TB_CACHE - 1)];
	uint32_t slice = vp->slice + 1;
	if (__builtin_expect(e->pc != addr || e->size != size || e->cr3 != vp->cr3 ||
			     e->epoch != vp->tb_epoch || !e->p1 || e->icpt_gen != vp->icpt_gen_run ||
			     e->hashed_run != vp->run_seq || e->special_off >= 0 ||
			     !hvsim_xmod_current(vp, e) ||
			     vp->ring_detour || (slice & 63) == 0 || size > 8192 ||
			     atomic_load_explicit(&vp->kick, memory_order_relaxed) ||
			     atomic_load_explicit(&vp->want_window, memory_order_relaxed), 0)) {
		hook_block_slow(uc, addr, size, user);
		return;
	}
	vp->slice = slice;
	vp->cur_e = e;
	stat_add(&vp->st_blocks, 1);
	stat_add(&vp->st_insns, e->icount);
}

/* ---- the translation-time filter of the block-hook gate ---- */

/* Does QEMU's x86 translator always end a block at `in`? (The filter may scan further than
 * the block goes, never less far.) */
static bool ends_block(const struct x86_insn *in)
{
	if (in->opcode_map == 0) {
		uint8_t op = (uint8_t)in->opcode;
		if ((op >= 0x70 && op <= 0x7F) || (op >= 0xE0 && op <= 0xE3))
			return true; /* Jcc rel8, LOOPcc, JrCXZ */
		switch (op) {
		case 0xE8: case 0xE9: case 0xEA: case 0xEB: case 0x9A: /* CALL, JMP (near, far) */
		case 0xC2: case 0xC3: case 0xCA: case 0xCB:            /* RET, RETF */
		case 0xCC: case 0xCD: case 0xCE: case 0xCF:            /* INT3, INT, INTO, IRET */
		case 0xF4:                                             /* HLT */
			return true;
		case 0xFF: /* CALL/JMP near and far, indirect */
			return in->has_modrm && ((in->modrm >> 3) & 7) >= 2 &&
			       ((in->modrm >> 3) & 7) <= 5;
		default:
			return false;
		}
	}
	if (in->opcode_map == 1) {
		uint8_t op = (uint8_t)in->opcode;
		return (op >= 0x80 && op <= 0x8F) || op == 0x05 || op == 0x07 || op == 0x0B ||
		       op == 0x34 || op == 0x35; /* Jcc rel32, SYSCALL, SYSRET, UD2, SYSENTER/EXIT */
	}
	return false;
}

/*
 * UC_CTL_BLOCK_GATE's filter (unicorn patch 0003), called when unicorn translates a block at
 * linear `pc`, before it reads the code: true if the block must call the block hook even with
 * the gate closed - it may hold a special instruction under the current intercepts, its page
 * was written since its translations were dropped, or it is hvsim's own detour. The scan
 * starts at `pc` and goes on to an instruction that always ends a block, at most one page
 * plus an instruction (unicorn's blocks stay below a page). Claims the code pages for the
 * write tracking (hvsim_xmod.c) before unicorn reads them. Runs inside unicorn: register
 * reads only.
 */
/* Append the code page at linear `va` to the filter's buffer; false if it was written since
 * its translations were dropped. *n unchanged if `va` does not translate. */
static bool filter_page(struct hvsim_vp *vp, uint64_t va, unsigned user_acc, uint8_t *buf,
			size_t *n, size_t limit)
{
	uint64_t g;
	if (hvsim_vp_translate(vp, va, X86_PW_FETCH | X86_PW_NO_AD | user_acc, &g, NULL) ||
	    g >= vp->sim->mem_size)
		return true;
	if (!hvsim_xmod_gate_claim(vp, g >> ADDR_PAGE_SHIFT))
		return false;
	size_t chunk = ADDR_PAGE_SIZE - (size_t)(va & (ADDR_PAGE_SIZE - 1));
	if (chunk > limit - *n)
		chunk = limit - *n;
	memcpy(buf + *n, vp->sim->ram + g, chunk);
	*n += chunk;
	return true;
}

bool hvsim_gate_filter(uc_engine *uc, uint64_t pc, void *user)
{
	(void)uc;
	struct hvsim_vp *vp = user;
	if (vp->ring_detour)
		return true;
	vp->mode_stale = true; /* the mode this block is translated for, not the last cached */
	unsigned user_acc = hvsim_vp_cpl(vp) == 3 ? X86_PW_USER : 0;
	uint8_t buf[ADDR_PAGE_SIZE + 16];
	const size_t limit = sizeof(buf);
	size_t n = 0;
	if (!filter_page(vp, pc, user_acc, buf, &n, limit) || n == 0)
		return true; /* written since, or unicorn cannot fetch it either: the hook sees */
	bool second = false, hook = false;
	size_t off = 0;
	pthread_mutex_lock(&vp->sim->lock);
	while (off < n && off < ADDR_PAGE_SIZE) {
		if (!second && n - off < 15 && n < limit) {
			/* An instruction may reach into the next page: that page is code too. */
			second = true;
			if (!filter_page(vp, pc + n, user_acc, buf, &n, limit)) {
				hook = true;
				break;
			}
		}
		struct x86_insn insn;
		if (!hvsim_decode(vp, buf + off, n - off, &insn))
			break; /* unicorn ends the block there with #UD or a fetch fault */
		if (needs_stop(vp, &insn)) {
			hook = true;
			break;
		}
		if (ends_block(&insn))
			break;
		off += insn.len;
	}
	pthread_mutex_unlock(&vp->sim->lock);
	return hook;
}

/* IN/OUT that no intercept covers (the block scan let them run): the host answers. */
static uint32_t host_in(struct hvsim_vp *vp, uint32_t port, unsigned size)
{
	uint32_t mask = size == 1 ? 0xFFu : size == 2 ? 0xFFFFu : 0xFFFFFFFFu;
	const struct hvsim *sim = vp->sim;
	if (!sim->io_ops.in)
		return mask;
	return sim->io_ops.in(sim->io_ctx, vp->index, (uint16_t)port, size) & mask;
}

static void host_out(struct hvsim_vp *vp, uint32_t port, unsigned size, uint32_t value)
{
	const struct hvsim *sim = vp->sim;
	if (sim->io_ops.out)
		sim->io_ops.out(sim->io_ctx, vp->index, (uint16_t)port, size, value);
}

uint32_t hvsim_hook_in(uc_engine *uc, uint32_t port, int size, void *user)
{
	(void)uc;
	struct hvsim_vp *vp = user;
	stat_add(&vp->st_host_io, 1);
	/* The host's stores are not the guest's (hvsim_xmod.c tells them apart by in_uc). */
	atomic_store(&vp->in_uc, false);
	uint32_t v = host_in(vp, port, (unsigned)size);
	atomic_store(&vp->in_uc, true);
	return v;
}

void hvsim_hook_out(uc_engine *uc, uint32_t port, int size, uint32_t value, void *user)
{
	(void)uc;
	struct hvsim_vp *vp = user;
	stat_add(&vp->st_host_io, 1);
	atomic_store(&vp->in_uc, false);
	host_out(vp, port, (unsigned)size, value);
	atomic_store(&vp->in_uc, true);
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
	uint64_t lin = hvsim_vp_lin(vp, rip); /* `until` and unicorn's cache are linear */
	atomic_fetch_add_explicit(&vp->st_steps, 1, memory_order_relaxed);
	vp->allow_special_at = lin;
	vp->stop = HVSIM_STOP_NONE;
	uc_ctl_remove_cache(vp->uc, lin, lin + 1);
	/*
	 * The block at `until` too: a cached one never checks `until`, and the run would go on
	 * (seen: MOV CR3 on Linux's return to user ran on into user mode). Only if it translates:
	 * unicorn's removal walks the page tables and must not fault.
	 */
	uint64_t next_gpa;
	if (hvsim_vp_translate(vp, lin + len, X86_PW_FETCH | X86_PW_NO_AD, &next_gpa, NULL) == 0)
		uc_ctl_remove_cache(vp->uc, lin + len, lin + len + 1);
	uc_err e = hvsim_vp_emu(vp, rip, lin + len, 0);
	vp->mode_stale = true; /* MOV CR0, WRMSR EFER */
	vp->allow_special_at = ~0ull;
	if (vp->stop == HVSIM_STOP_INTR)
		return hvsim_handle_intr(vp, vp->stop_vector);
	return e == UC_ERR_OK ? 0 : -EIO;
}

/*
 * MOV to CR3 in 64-bit mode at CPL 0 without PCIDs, a kernel's page-table switch (Linux's PTI
 * makes two per system call): done here, unicorn's CR3 write flushing its TLB as the
 * instruction does. Stepping it inside unicorn costs three translations each time (18k of a
 * Linux boot's 21k steps). Anything else (other modes, CR4.PCIDE, bit 63, bits above
 * MAXPHYADDR) is stepped, so that unicorn answers it as before.
 */
static bool mov_to_cr3(struct hvsim_vp *vp, const struct x86_insn *insn, unsigned cpl,
		       uint64_t rip, unsigned len)
{
	if (insn->opcode != 0x22 || insn->reg != 3 || insn->lock || insn->has_mem ||
	    insn->mode != X86_MODE_64 || cpl != 0 || insn->rm >= 16)
		return false;
	uint64_t v = hvsim_rd(vp, hvsim_uc_gpr[insn->rm]);
	if ((hvsim_rd(vp, UC_X86_REG_CR4) & HVSIM_CR4_PCIDE) || (v >> HVSIM_MAXPHYADDR))
		return false;
	hvsim_wr(vp, UC_X86_REG_CR3, v);
	hvsim_wr(vp, UC_X86_REG_RIP, rip + len);
	vp->cr3 = v;
	return true;
}

/* Architectural MSRs unicorn implements: executed by unicorn itself. */
static bool msr_unicorn(uint32_t msr)
{
	switch (msr) {
	case X86_MSR_APIC_BASE: case X86_MSR_SYSENTER_CS:
	case X86_MSR_SYSENTER_ESP: case X86_MSR_SYSENTER_EIP: case X86_MSR_PAT:
	case X86_MSR_EFER: case X86_MSR_STAR: case X86_MSR_LSTAR: case X86_MSR_CSTAR:
	case X86_MSR_SFMASK: case X86_MSR_FS_BASE: case X86_MSR_GS_BASE:
	case X86_MSR_KERNEL_GS_BASE: case X86_MSR_TSC_AUX:
		return true;
	default:
		return false;
	}
}

static void set_rax_rdx(struct hvsim_vp *vp, uint64_t v)
{
	hvsim_wr(vp, UC_X86_REG_RAX, (uint32_t)v);
	hvsim_wr(vp, UC_X86_REG_RDX, v >> 32);
}

uint64_t *hvsim_vp_mtrr_slot(struct hvsim_vp *vp, uint32_t msr)
{
	static const uint32_t fixed[11] = {
		X86_MSR_MTRR_FIX64K_00000, X86_MSR_MTRR_FIX16K_80000, X86_MSR_MTRR_FIX16K_A0000,
		X86_MSR_MTRR_FIX4K_C0000, X86_MSR_MTRR_FIX4K_C8000, X86_MSR_MTRR_FIX4K_D0000,
		X86_MSR_MTRR_FIX4K_D8000, X86_MSR_MTRR_FIX4K_E0000, X86_MSR_MTRR_FIX4K_E8000,
		X86_MSR_MTRR_FIX4K_F0000, X86_MSR_MTRR_FIX4K_F8000,
	};
	if (msr == X86_MSR_MTRR_DEF_TYPE)
		return &vp->mtrr_def;
	/* 8 base/mask pairs */
	if (msr >= X86_MSR_MTRR_PHYS_BASE0 && msr < X86_MSR_MTRR_PHYS_BASE0 + 16)
		return &vp->mtrr_var[msr - X86_MSR_MTRR_PHYS_BASE0];
	for (unsigned i = 0; i < 11; i++)
		if (fixed[i] == msr)
			return &vp->mtrr_fix[i];
	return NULL;
}

/* Hyper-V synthetic MSRs hvsim answers for VTL0 itself. 1 handled, 0 not hosted, -1 #GP. */
static int msr_synthetic(struct hvsim_vp *vp, uint32_t msr, bool write, uint64_t val)
{
	if (msr == X86_MSR_MTRR_CAP) {
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
	if (!write && msr >= HV_X64_MSR_SCONTROL && msr <= HV_X64_MSR_SINT15) {
		int r = hvsim_vp_synic_msr(vp, msr, false, &val);
		if (r > 0)
			set_rax_rdx(vp, val);
		return r;
	}
	/* GUEST_OS_ID, HYPERCALL, the clocks, IA32_TSC and the stimers: hvsim_synth.c */
	int r = hvsim_synth_msr(vp, msr, write, &val);
	if (r) {
		if (r > 0 && !write)
			set_rax_rdx(vp, val);
		return r;
	}
	switch (msr) {
	case HV_X64_MSR_VP_INDEX: /* read-only */
		if (write)
			return -1;
		set_rax_rdx(vp, vp->index);
		return 1;
	default:
		if (msr >= HV_X64_MSR_SCONTROL && msr <= HV_X64_MSR_SINT15)
			return hvsim_vp_synic_msr(vp, msr, write, &val) < 0 ? -1 : 1;
		return 0;
	}
}

static int handle_msr(struct hvsim_vp *vp, uint64_t rip, bool write, unsigned len)
{
	if (hvsim_vp_cpl(vp) != 0)
		return hvsim_raise_gp(vp);
	uint32_t msr = (uint32_t)hvsim_rd(vp, UC_X86_REG_RCX);
	uint64_t val = ((uint64_t)(uint32_t)hvsim_rd(vp, UC_X86_REG_RDX) << 32) |
		       (uint32_t)hvsim_rd(vp, UC_X86_REG_RAX);
	if (msr == X86_MSR_EFER) {
		atomic_fetch_add_explicit(&vp->st_host_msr, 1, memory_order_relaxed);
		if (write) {
			if (val & ~0xD01ull)
				return hvsim_raise_gp(vp);
			uc_x86_msr m = { .rid = msr, .value = val };
			uc_reg_write(vp->uc, UC_X86_REG_MSR, &m);
		} else {
			set_rax_rdx(vp, hvsim_rd_msr(vp, msr));
		}
		hvsim_wr(vp, UC_X86_REG_RIP, rip + len);
		return 0;
	}
	int a = hvsim_apic_msr(vp, msr, write, &val);
	if (a) {
		if (a < 0)
			return hvsim_raise_gp(vp);
		atomic_fetch_add_explicit(&vp->st_host_msr, 1, memory_order_relaxed);
		if (!write)
			set_rax_rdx(vp, val);
		hvsim_wr(vp, UC_X86_REG_RIP, rip + len);
		return hvsim_apic_post(vp); /* x2APIC EOI of a level vector: message */
	}
	if (msr_unicorn(msr)) {
		atomic_fetch_add_explicit(&vp->st_host_msr, 1, memory_order_relaxed);
		return uc_step_special(vp, rip, len) < 0 ? hvsim_raise_gp(vp) : 0;
	}
	int s = msr_synthetic(vp, msr, write, val);
	if (s) {
		if (s < 0)
			return hvsim_raise_gp(vp);
		atomic_fetch_add_explicit(&vp->st_host_msr, 1, memory_order_relaxed);
		hvsim_wr(vp, UC_X86_REG_RIP, rip + len);
		return 0;
	}
	if (!msr_icpt(vp, write)) {
		/*
		 * Nobody intercepts MSRs (VTL2's own code before the paravisor: the boot stage):
		 * the hypervisor answers the platform MSRs a kernel probes (IA32_MISC_ENABLE,
		 * FEATURE_CONTROL, ...) as Hyper-V does - the same answers the paravisor's policy
		 * gives VTL0 (vtl2/msr.h) - and #GP for the rest.
		 */
		int p = write ? msr_write(vp->sim->vp_count, msr, val) :
				msr_read(vp->sim->vp_count, msr, &val);
		if (p < 0)
			return hvsim_raise_gp(vp);
		if (!write)
			set_rax_rdx(vp, val);
		atomic_fetch_add_explicit(&vp->st_host_msr, 1, memory_order_relaxed);
		hvsim_wr(vp, UC_X86_REG_RIP, rip + len);
		return 0;
	}
	struct hv_exit ex = { .kind = HV_EXIT_MSR };
	ex.u.msr.header = hvsim_icpt_header(vp, len, write ? HV_INTERCEPT_ACCESS_WRITE :
							     HV_INTERCEPT_ACCESS_READ, rip);
	ex.u.msr.msr_number = msr;
	ex.u.msr.rdx = hvsim_rd(vp, UC_X86_REG_RDX);
	ex.u.msr.rax = hvsim_rd(vp, UC_X86_REG_RAX);
	hvsim_put_msg(vp, &ex);
	hvsim_finish_exit(vp, HVSIM_EXIT_MSR, rip);
	return 1;
}

static int handle_cpuid(struct hvsim_vp *vp, uint64_t rip, unsigned len)
{
	uint64_t in_rax = hvsim_rd(vp, UC_X86_REG_RAX), in_rcx = hvsim_rd(vp, UC_X86_REG_RCX);
	uint64_t in_rbx = hvsim_rd(vp, UC_X86_REG_RBX), in_rdx = hvsim_rd(vp, UC_X86_REG_RDX);
	int rc = uc_step_special(vp, rip, len);
	if (rc)
		return rc < 0 ? 0 : rc;
	if (!cpuid_icpt(vp, (uint32_t)in_rax)) {
		atomic_fetch_add_explicit(&vp->st_host_cpuid, 1, memory_order_relaxed);
		return 0;
	}
	uint64_t d[4] = { hvsim_rd(vp, UC_X86_REG_RAX), hvsim_rd(vp, UC_X86_REG_RCX),
			  hvsim_rd(vp, UC_X86_REG_RDX), hvsim_rd(vp, UC_X86_REG_RBX) };
	hvsim_wr(vp, UC_X86_REG_RAX, in_rax);
	hvsim_wr(vp, UC_X86_REG_RCX, in_rcx);
	hvsim_wr(vp, UC_X86_REG_RBX, in_rbx);
	hvsim_wr(vp, UC_X86_REG_RDX, in_rdx);
	hvsim_wr(vp, UC_X86_REG_RIP, rip);
	struct hv_exit ex = { .kind = HV_EXIT_CPUID };
	struct hv_x64_cpuid_intercept_message *c = &ex.u.cpuid;
	c->header = hvsim_icpt_header(vp, len, HV_INTERCEPT_ACCESS_READ, rip);
	c->rax = in_rax;
	c->rcx = in_rcx;
	c->rdx = in_rdx;
	c->rbx = in_rbx;
	c->default_result_rax = d[0];
	c->default_result_rcx = d[1];
	c->default_result_rdx = d[2];
	c->default_result_rbx = d[3];
	hvsim_put_msg(vp, &ex);
	hvsim_finish_exit(vp, HVSIM_EXIT_CPUID, rip);
	return 1;
}

static void exit_io(struct hvsim_vp *vp, uint64_t rip, const uint8_t bytes[16], unsigned n,
		    unsigned len, uint16_t port, unsigned size, bool write, bool string, bool rep)
{
	struct hv_exit ex = { .kind = HV_EXIT_IO_PORT };
	struct hv_x64_io_port_intercept_message *io = &ex.u.io;
	io->header = hvsim_icpt_header(vp, len, write ? HV_INTERCEPT_ACCESS_WRITE :
							HV_INTERCEPT_ACCESS_READ, rip);
	io->port_number = port;
	io->access_info = (uint8_t)((size & HV_X64_IO_ACCESS_SIZE_MASK) |
				    (string ? HV_X64_IO_ACCESS_STRING : 0) |
				    (rep ? HV_X64_IO_ACCESS_REP : 0));
	io->instruction_byte_count = (uint8_t)n;
	io->rax = hvsim_rd(vp, UC_X86_REG_RAX);
	memcpy(io->instruction_bytes, bytes, 16);
	io->ds = hvsim_seg_to_hv(hvsim_read_seg(vp, UC_X86_REG_DS));
	io->es = hvsim_seg_to_hv(hvsim_read_seg(vp, UC_X86_REG_ES));
	io->rcx = hvsim_rd(vp, UC_X86_REG_RCX);
	io->rsi = hvsim_rd(vp, UC_X86_REG_RSI);
	io->rdi = hvsim_rd(vp, UC_X86_REG_RDI);
	hvsim_put_msg(vp, &ex);
	hvsim_finish_exit(vp, HVSIM_EXIT_IO, rip);
}

static void set_acc(struct hvsim_vp *vp, unsigned size, uint64_t v)
{
	uint64_t rax = hvsim_rd(vp, UC_X86_REG_RAX);
	if (size == 1)
		rax = (rax & ~0xFFull) | (v & 0xFF);
	else if (size == 2)
		rax = (rax & ~0xFFFFull) | (v & 0xFFFF);
	else
		rax = (uint32_t)v;
	hvsim_wr(vp, UC_X86_REG_RAX, rax);
}

/* Host-side string I/O through the host's port devices (hvsim_set_host_io). Bounded per step. */
static int host_string_io(struct hvsim_vp *vp, const struct x86_insn *insn, bool in,
			  unsigned size, uint64_t rip)
{
	bool rep = insn->rep != 0;
	uint64_t amask = hvsim_addr_mask(insn);
	/* INS writes ES:rDI (no override, base 0 in 64-bit mode); OUTS reads seg:rSI. */
	uint64_t base = in || insn->seg_override < 0 ? 0 : hvsim_seg_base(vp, insn->seg_override);
	int idx = in ? UC_X86_REG_RDI : UC_X86_REG_RSI;
	uint64_t cnt = rep ? hvsim_rd(vp, UC_X86_REG_RCX) & amask : 1;
	int64_t step = (hvsim_rd(vp, UC_X86_REG_RFLAGS) & (1ull << 10)) ? -(int64_t)size :
									  (int64_t)size;
	unsigned user = hvsim_vp_cpl(vp) == 3 ? X86_PW_USER : 0;
	uint64_t done = 0;
	while (done < cnt && done < 65536) {
		uint64_t ptr = hvsim_rd(vp, idx);
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
				vp->stop_addr = g; /* memory exits report the GPA (hvsim_handle_mem) */
				vp->stop_access = in ? HV_INTERCEPT_ACCESS_WRITE : HV_INTERCEPT_ACCESS_READ;
				return hvsim_handle_mem(vp, denied);
			}
		}
		uint16_t port = (uint16_t)hvsim_rd(vp, UC_X86_REG_RDX);
		if (in)
			ones = host_in(vp, port, size);
		int rc = hvsim_vaccess(vp, la, &ones, size, acc, &pf, &fva);
		if (rc == -EFAULT)
			return hvsim_raise_exc(vp, (struct hvsim_fault){ 14, true, pf, fva });
		if (rc)
			return hvsim_raise_gp(vp);
		if (!in)
			host_out(vp, port, size, size == 4 ? ones : ones & ((1u << (8 * size)) - 1));
		hvsim_wr(vp, idx, (ptr & ~amask) | ((ptr + (uint64_t)step) & amask));
		done++;
		if (rep) {
			uint64_t rcx = hvsim_rd(vp, UC_X86_REG_RCX);
			hvsim_wr(vp, UC_X86_REG_RCX, (rcx & ~amask) | ((rcx - 1) & amask));
		}
	}
	atomic_fetch_add_explicit(&vp->st_host_io, 1, memory_order_relaxed);
	if (done == cnt)
		hvsim_wr(vp, UC_X86_REG_RIP, rip + insn->len);
	return 0;
}

/*
 * MOV to/from DRn (SDM vol. 3 17.2): CPL 0 only; DR4/DR5 alias DR6/DR7 unless CR4.DE (then
 * #UD); the upper halves of DR6/DR7 must be written as 0. The decoder rejects DR8-15 (#UD).
 */
static int handle_mov_dr(struct hvsim_vp *vp, const struct x86_insn *insn, uint64_t rip)
{
	unsigned n = insn->reg;
	if (hvsim_vp_cpl(vp) != 0)
		return hvsim_raise_gp(vp);
	if (n == 4 || n == 5) {
		if (hvsim_rd(vp, UC_X86_REG_CR4) & (1u << 3))
			return hvsim_raise_ud(vp);
		n += 2;
	}
	if (n > 7 || insn->rm >= 16)
		return hvsim_raise_ud(vp);
	int gpr = hvsim_uc_gpr[insn->rm];
	if (insn->opcode == 0x21) {
		hvsim_wr(vp, gpr, n < 4 ? vp->dr[n] : n == 6 ? (vp->dr6 | 0xFFFF0FF0ull) :
							       (vp->dr7 | 0x400));
	} else {
		uint64_t v = hvsim_rd(vp, gpr);
		if (n >= 6 && (v >> 32))
			return hvsim_raise_gp(vp);
		if (n < 4)
			vp->dr[n] = v;
		else if (n == 6)
			vp->dr6 = v & 0xF00Full;
		else
			vp->dr7 = v;
	}
	hvsim_wr(vp, UC_X86_REG_RIP, rip + insn->len);
	return 0;
}

static int handle_syscall(struct hvsim_vp *vp, uint64_t rip, unsigned len)
{
	uint64_t efer = hvsim_rd_msr(vp, X86_MSR_EFER);
	if (!(efer & 1) || !(efer & X86_EFER_LMA))
		return hvsim_raise_ud(vp);
	uint64_t star = hvsim_rd_msr(vp, X86_MSR_STAR), lstar = hvsim_rd_msr(vp, X86_MSR_LSTAR);
	uint64_t fmask = hvsim_rd_msr(vp, X86_MSR_SFMASK), rflags = hvsim_rd(vp, UC_X86_REG_RFLAGS);
	hvsim_wr(vp, UC_X86_REG_RCX, rip + len);
	hvsim_wr(vp, UC_X86_REG_R11, rflags & ~HVSIM_RFLAGS_RF);
	uint64_t cs = (star >> 32) & 0xFFFC, ss = cs + 8;
	if (hvsim_vp_cpl(vp) != 0 && hvsim_ring_enter_cpl0(vp)) {
		hvsim_exit_unrecoverable(vp);
		return 1;
	}
	hvsim_wr(vp, UC_X86_REG_SS, ss);
	hvsim_wr(vp, UC_X86_REG_CS, cs);
	hvsim_wr(vp, UC_X86_REG_RFLAGS, (rflags & ~fmask & ~HVSIM_RFLAGS_RF) | 2);
	hvsim_wr(vp, UC_X86_REG_RIP, lstar);
	return 0;
}

static void exit_hypercall(struct hvsim_vp *vp, uint64_t rip)
{
	struct hv_exit ex = { .kind = HV_EXIT_HYPERCALL };
	struct hv_x64_hypercall_intercept_message *hc = &ex.u.hypercall;
	hc->header = hvsim_icpt_header(vp, 3, HV_INTERCEPT_ACCESS_EXECUTE, rip);
	hc->rax = hvsim_rd(vp, UC_X86_REG_RAX);
	hc->rbx = hvsim_rd(vp, UC_X86_REG_RBX);
	hc->rcx = hvsim_rd(vp, UC_X86_REG_RCX);
	hc->rdx = hvsim_rd(vp, UC_X86_REG_RDX);
	hc->r8 = hvsim_rd(vp, UC_X86_REG_R8);
	hc->rsi = hvsim_rd(vp, UC_X86_REG_RSI);
	hc->rdi = hvsim_rd(vp, UC_X86_REG_RDI);
	for (int i = 0; i < 6; i++) {
		uint8_t x[16];
		uc_reg_read(vp->uc, UC_X86_REG_XMM0 + i, x);
		memcpy(&hc->xmm[i], x, 16);
	}
	hvsim_put_msg(vp, &ex);
	hvsim_finish_exit(vp, HVSIM_EXIT_HYPERCALL, rip);
}

/* Handle the special instruction at RIP. Returns 1 when an exit message was produced. */
int hvsim_handle_special(struct hvsim_vp *vp, uint64_t rip)
{
	uint8_t bytes[16];
	unsigned n = hvsim_fetch_insn(vp, rip, bytes);
	struct x86_insn insn;
	if (n == 0 || !hvsim_decode(vp, bytes, n, &insn)) {
		/*
		 * Unreadable or undecodable now (changed under us, or a fetch fault): let unicorn
		 * execute exactly this instruction so that it raises the fault / #UD itself.
		 */
		uint64_t lin = hvsim_vp_lin(vp, rip);
		vp->allow_special_at = lin;
		vp->stop = HVSIM_STOP_NONE;
		uc_ctl_remove_cache(vp->uc, lin, lin + 1);
		uc_err e = hvsim_vp_emu(vp, rip, 0, 1);
		vp->allow_special_at = ~0ull;
		if (vp->stop == HVSIM_STOP_INTR)
			return hvsim_handle_intr(vp, vp->stop_vector);
		if (vp->stop == HVSIM_STOP_MEM_UNMAPPED || vp->stop == HVSIM_STOP_MEM_PROT)
			return hvsim_handle_mem(vp, vp->stop == HVSIM_STOP_MEM_PROT);
		if (e == UC_ERR_INSN_INVALID)
			return hvsim_raise_ud(vp);
		return 0;
	}
	unsigned len = insn.len, cpl = hvsim_vp_cpl(vp);
	enum special kind = classify(&insn);
	bool iopl_ok = cpl <= ((hvsim_rd(vp, UC_X86_REG_RFLAGS) >> 12) & 3);
	if (kind == SP_MOV_CR) {
		if (mov_to_cr3(vp, &insn, cpl, rip, len))
			return 0;
		/* unicorn executes it (faults included); hvsim tracks CR3. */
		int r = uc_step_special(vp, rip, len);
		vp->cr3 = hvsim_rd(vp, UC_X86_REG_CR3);
		return r < 0 ? 0 : r;
	}
	switch (kind) {
	case SP_IN:
	case SP_OUT: {
		bool out = kind == SP_OUT;
		unsigned size = io_size(&insn);
		uint16_t port = (insn.opcode & 0x08) ? (uint16_t)hvsim_rd(vp, UC_X86_REG_RDX)
						     : (uint8_t)insn.imm;
		if (!iopl_ok) /* no TSS I/O bitmap model: CPL > IOPL always faults */
			return hvsim_raise_gp(vp);
		if (io_icpt(vp, port, size, out)) {
			exit_io(vp, rip, bytes, n, len, port, size, out, false, false);
			return 1;
		}
		atomic_fetch_add_explicit(&vp->st_host_io, 1, memory_order_relaxed);
		if (!out) {
			set_acc(vp, size, host_in(vp, port, size));
		} else {
			uint32_t v = (uint32_t)hvsim_rd(vp, UC_X86_REG_RAX);
			host_out(vp, port, size, size == 4 ? v : v & ((1u << (8 * size)) - 1));
		}
		hvsim_wr(vp, UC_X86_REG_RIP, rip + len);
		return 0;
	}
	case SP_INS:
	case SP_OUTS: {
		bool out = kind == SP_OUTS;
		unsigned size = io_size(&insn);
		uint16_t port = (uint16_t)hvsim_rd(vp, UC_X86_REG_RDX);
		bool rep = insn.rep != 0;
		if (!iopl_ok)
			return hvsim_raise_gp(vp);
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
			return hvsim_raise_gp(vp);
		if (hvsim_rd(vp, UC_X86_REG_RFLAGS) & HVSIM_RFLAGS_IF) {
			/* The hypervisor halts the VP until an interrupt arrives. */
			hvsim_wr(vp, UC_X86_REG_RIP, rip + len);
			vp->halted = true;
			return 0;
		}
		/* HLT with interrupts off would never wake: VTL2 gets a halt intercept. */
		struct hv_exit ex = { .kind = HV_EXIT_HALT };
		ex.u.header = hvsim_icpt_header(vp, len, 0, rip);
		hvsim_put_msg(vp, &ex);
		hvsim_finish_exit(vp, HVSIM_EXIT_HALT, rip);
		return 1;
	case SP_VMCALL:
		if (cpl != 0)
			return hvsim_raise_ud(vp);
		/* Flush and IPI calls are the hypervisor's own; the rest go to VTL2. */
		if (hvsim_vtl0_hypercall(vp, rip))
			return 0;
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
