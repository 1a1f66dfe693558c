/*
 * x86 guest page-table walker (Intel SDM vol. 3, chapter 4; AMD APM vol. 2, 5).
 *
 * Every paging-structure entry comes from guest memory that VTL0 controls: it is read once
 * into a local, checked for reserved bits against the paging mode and MAXPHYADDR, and only
 * then used to form the next table address. Accessed/dirty updates use compare-and-exchange
 * so that a concurrent guest change restarts the walk instead of being overwritten.
 *
 * Simplifications, stated: PAE PDPTEs are read at walk time (hardware caches them at MOV CR3,
 * where bad reserved bits raise #GP; here they raise #PF with RSVD); A/D bits are only set when
 * the whole walk succeeds; protection keys and shadow-stack pages are not modelled.
 */
#include "arch/x86_64/x86_pagewalk.h"

#include <errno.h>
#include <string.h>

#define PTE_P   (1ull << 0)
#define PTE_RW  (1ull << 1)
#define PTE_US  (1ull << 2)
#define PTE_A   (1ull << 5)
#define PTE_D   (1ull << 6)
#define PTE_PS  (1ull << 7)
#define PTE_NX  (1ull << 63)

#define MAX_AD_RETRIES 8

/** Accumulated rights along the walk. */
struct walk {
	bool writable, user, nx;
	gpa_t entry_gpa[5];
	uint64_t entry[5];
	unsigned entry_count;
	unsigned entry_size;
};

unsigned x86_pw_levels(const struct x86_pw_regs *regs)
{
	if (!(regs->cr0 & X86_CR0_PG))
		return 0;
	if (!(regs->cr4 & X86_CR4_PAE))
		return 2;
	if (!(regs->efer & X86_EFER_LMA))
		return 3;
	return (regs->cr4 & X86_CR4_LA57) ? 5 : 4;
}

static unsigned maxphyaddr(const struct x86_pw_regs *regs)
{
	unsigned m = regs->maxphyaddr;
	/* Every x86-64 CPU has at least 36 address bits; out-of-range values are clamped. */
	if (m == 0 || m > 52)
		return 52;
	return m < 36 ? 36 : m;
}

/** Bits [maxphyaddr, 51] of a 64-bit entry must be zero. */
static uint64_t phys_rsvd_mask(const struct x86_pw_regs *regs)
{
	unsigned m = maxphyaddr(regs);
	return (m >= 52) ? 0 : (((1ull << 52) - 1) & ~((1ull << m) - 1));
}

static bool canonical(uint64_t va, unsigned bits)
{
	int64_t s = (int64_t)(va << (64 - bits)) >> (64 - bits);
	return (uint64_t)s == va;
}

/** Reserved bits of a 64-bit (PAE / long mode) entry at `level` (1 = PTE) with PS as given. */
static uint64_t rsvd64(const struct x86_pw_regs *regs, unsigned levels, unsigned level,
		       bool ps)
{
	uint64_t r = phys_rsvd_mask(regs);
	if (!(regs->efer & X86_EFER_NXE))
		r |= PTE_NX;
	if (levels == 3 && level == 3) {
		/* PAE PDPTE: bits 1, 2, 5-8 and 63 are reserved (SDM table 4-8). */
		r |= (1ull << 1) | (1ull << 2) | (0xFull << 5) | PTE_NX;
		return r;
	}
	if (level >= 4)
		r |= PTE_PS; /* PML4E/PML5E: PS must be 0 */
	if (ps && level == 3)
		r |= 0x3FFFE000ull; /* 1 GiB page: bits 29:13 */
	if (ps && level == 2)
		r |= 0x1FE000ull;   /* 2 MiB page: bits 20:13 */
	return r;
}

static int pf(struct x86_pw_result *res, uint32_t code)
{
	res->fault = true;
	res->pf_error = code;
	return -EFAULT;
}

/** Error-code bits describing the access itself (W, U, I). */
static uint32_t access_bits(const struct x86_pw_regs *regs, unsigned levels, unsigned access)
{
	uint32_t code = 0;
	if (access & X86_PW_WRITE)
		code |= X86_PFERR_W;
	if ((access & X86_PW_USER) && !(access & X86_PW_IMPLICIT))
		code |= X86_PFERR_U;
	if ((access & X86_PW_FETCH) &&
	    ((regs->cr4 & X86_CR4_SMEP) || (levels >= 3 && (regs->efer & X86_EFER_NXE))))
		code |= X86_PFERR_I;
	return code;
}

/** SDM 4.6: may this access use a translation with the accumulated rights? */
static bool allowed(const struct x86_pw_regs *regs, unsigned access, const struct walk *w)
{
	bool user_access = (access & X86_PW_USER) && !(access & X86_PW_IMPLICIT);
	bool wp = regs->cr0 & X86_CR0_WP;

	if (access & X86_PW_FETCH) {
		if (w->nx)
			return false;
		if (user_access)
			return w->user;
		return !(w->user && (regs->cr4 & X86_CR4_SMEP));
	}
	if (user_access) {
		if (!w->user)
			return false;
		return !(access & X86_PW_WRITE) || w->writable;
	}
	/* Supervisor data access. */
	if (w->user && (regs->cr4 & X86_CR4_SMAP)) {
		bool explicit_ac = !(access & X86_PW_IMPLICIT) && (regs->rflags & X86_RFLAGS_AC);
		if (!explicit_ac)
			return false;
	}
	if (access & X86_PW_WRITE)
		return !wp || w->writable;
	return true;
}

static int read_entry(const struct x86_pw_mem_ops *mem, void *ctx, gpa_t at, unsigned size,
		      uint64_t *out)
{
	uint64_t v = 0;
	int rc = mem->read(ctx, at, &v, size);
	if (rc < 0)
		return -EFAULT;
	*out = (size == 4) ? (uint32_t)v : v;
	return 0;
}

/** Set A in every entry used and D in the leaf for writes. -EAGAIN: an entry changed. */
static int update_ad(const struct x86_pw_mem_ops *mem, void *ctx, struct walk *w, bool write)
{
	for (unsigned i = 0; i < w->entry_count; i++) {
		uint64_t old = w->entry[i];
		uint64_t nv = old | PTE_A;
		if (write && i + 1 == w->entry_count)
			nv |= PTE_D;
		if (nv == old)
			continue;
		if (!mem->cmpxchg)
			return -EFAULT;
		int rc = mem->cmpxchg(ctx, w->entry_gpa[i], old, nv, w->entry_size);
		if (rc == -EAGAIN)
			return -EAGAIN;
		if (rc < 0)
			return -EFAULT;
	}
	return 0;
}

static void walk_add(struct walk *w, gpa_t at, uint64_t e, bool has_nx)
{
	w->entry_gpa[w->entry_count] = at;
	w->entry[w->entry_count] = e;
	w->entry_count++;
	w->writable = w->writable && (e & PTE_RW);
	w->user = w->user && (e & PTE_US);
	if (has_nx && (e & PTE_NX))
		w->nx = true;
}

/** 32-bit paging: 2 levels of 4-byte entries, optional 4 MiB pages with PSE-36. */
static int walk32(const struct x86_pw_regs *regs, uint32_t va, const struct x86_pw_mem_ops *mem,
		  void *ctx, struct walk *w, struct x86_pw_result *res, uint32_t acc_bits)
{
	uint64_t pde, pte;
	gpa_t at = gpa((regs->cr3 & 0xFFFFF000ull) + ((va >> 22) * 4));
	if (read_entry(mem, ctx, at, 4, &pde) < 0)
		return -EFAULT;
	if (!(pde & PTE_P))
		return pf(res, acc_bits);
	if ((pde & PTE_PS) && (regs->cr4 & X86_CR4_PSE)) {
		/* PSE-36: PDE bits 20:13 are physical bits 39:32; bit 21 is reserved. */
		unsigned m = maxphyaddr(regs) > 40 ? 40 : maxphyaddr(regs);
		uint64_t hi = (pde >> 13) & 0xFF;
		uint64_t rsvd = (1ull << 21) | ((0xFFull << 13) & ~(((1ull << (m - 32)) - 1) << 13));
		if (pde & rsvd)
			return pf(res, acc_bits | X86_PFERR_P | X86_PFERR_RSVD);
		walk_add(w, at, pde, false);
		res->gpa = gpa((hi << 32) | (pde & 0xFFC00000ull) | (va & 0x3FFFFF));
		res->page_size = 4ull << 20;
		return 0;
	}
	walk_add(w, at, pde, false);
	at = gpa((pde & 0xFFFFF000ull) + (((va >> 12) & 0x3FF) * 4));
	if (read_entry(mem, ctx, at, 4, &pte) < 0)
		return -EFAULT;
	if (!(pte & PTE_P))
		return pf(res, acc_bits);
	walk_add(w, at, pte, false);
	res->gpa = gpa((pte & 0xFFFFF000ull) | (va & 0xFFF));
	res->page_size = 4096;
	return 0;
}

/** PAE, 4-level and 5-level paging: 8-byte entries, 9 bits per level (PAE top: 2 bits). */
static int walk64(const struct x86_pw_regs *regs, unsigned levels, uint64_t va,
		  const struct x86_pw_mem_ops *mem, void *ctx, struct walk *w,
		  struct x86_pw_result *res, uint32_t acc_bits)
{
	uint64_t addr_mask = ((1ull << 52) - 1) & ~0xFFFull;
	uint64_t table;

	if (levels == 3)
		table = regs->cr3 & 0xFFFFFFE0ull; /* PDPT is 32-byte aligned */
	else
		table = regs->cr3 & addr_mask;

	for (unsigned level = levels; level >= 1; level--) {
		unsigned shift = 12 + 9 * (level - 1);
		uint64_t idx = (levels == 3 && level == 3) ? ((va >> 30) & 3) : ((va >> shift) & 0x1FF);
		gpa_t at = gpa(table + idx * 8);
		uint64_t e;
		if (read_entry(mem, ctx, at, 8, &e) < 0)
			return -EFAULT;
		if (!(e & PTE_P))
			return pf(res, acc_bits);
		bool ps = (level == 2 || level == 3) && (e & PTE_PS) && !(levels == 3 && level == 3);
		if (e & rsvd64(regs, levels, level, ps))
			return pf(res, acc_bits | X86_PFERR_P | X86_PFERR_RSVD);
		if (levels == 3 && level == 3) {
			/* PAE PDPTEs carry no access rights. */
			w->entry_gpa[w->entry_count] = at;
			w->entry[w->entry_count] = e | PTE_A; /* no A bit in PDPTEs: skip update */
			w->entry_count++;
			table = e & addr_mask;
			continue;
		}
		walk_add(w, at, e, true);
		if (ps || level == 1) {
			uint64_t size = 1ull << shift;
			res->gpa = gpa((e & addr_mask & ~(size - 1)) | (va & (size - 1)));
			res->page_size = size;
			return 0;
		}
		table = e & addr_mask;
	}
	return -EFAULT; /* not reached: level 1 always returns */
}

int x86_pw_translate(const struct x86_pw_regs *regs, gva_t va, unsigned access,
		     const struct x86_pw_mem_ops *mem, void *ctx, struct x86_pw_result *res)
{
	unsigned levels = x86_pw_levels(regs);
	uint64_t addr = va.v;

	memset(res, 0, sizeof(*res));
	if (!(regs->efer & X86_EFER_LMA))
		addr &= 0xFFFFFFFFull;
	if (levels == 0) {
		res->gpa = gpa(addr);
		res->page_size = 4096;
		res->writable = res->user = res->executable = true;
		return 0;
	}
	if (levels >= 4 && !canonical(addr, levels == 5 ? 57 : 48))
		return -EINVAL;

	uint32_t acc_bits = access_bits(regs, levels, access);
	for (unsigned attempt = 0; attempt < MAX_AD_RETRIES; attempt++) {
		struct walk w = { .writable = true, .user = true, .nx = false,
				  .entry_size = levels == 2 ? 4 : 8 };
		int rc = levels == 2 ? walk32(regs, (uint32_t)addr, mem, ctx, &w, res, acc_bits)
				     : walk64(regs, levels, addr, mem, ctx, &w, res, acc_bits);
		if (rc < 0)
			return rc;
		if (!allowed(regs, access, &w))
			return pf(res, acc_bits | X86_PFERR_P);
		res->writable = w.writable;
		res->user = w.user;
		res->executable = !w.nx;
		if (access & X86_PW_NO_AD)
			return 0;
		rc = update_ad(mem, ctx, &w, access & X86_PW_WRITE);
		if (rc == 0)
			return 0;
		if (rc != -EAGAIN) {
			res->fault = false;
			return rc;
		}
	}
	return -ELOOP;
}

int x86_pw_cmpxchg_host(void *p, uint64_t old, uint64_t new_value, unsigned size)
{
	if ((size != 4 && size != 8) || ((uintptr_t)p & (size - 1)))
		return -EFAULT;
	if (size == 8)
		return __atomic_compare_exchange_n((uint64_t *)p, &old, new_value, false,
						   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST) ? 0 : -EAGAIN;
	uint32_t o = (uint32_t)old;
	return __atomic_compare_exchange_n((uint32_t *)p, &o, (uint32_t)new_value, false,
					   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST) ? 0 : -EAGAIN;
}
