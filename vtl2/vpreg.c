/* vpreg: batched VTL0 register access, routed per hyperv-abi-facts 1.4-1.6 (see vpreg.h). */
#include "vtl2/vpreg.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "hvcall/hv_call.h"
#include "hvcall/mshv_abi.h"

/*
 * Where a context-routed register lives in struct mshv_abi_cpu_context; false if `name` is not
 * in the context. FpControlStatus and XmmControlStatus are the TLFS views of FXSAVE bytes
 * 0-15 (FCW, FSW, FTW, FOP, FIP) and 16-31 (FDP, MXCSR, MXCSR_MASK).
 */
static bool vpreg_context_slot(uint32_t name, size_t *off, size_t *size)
{
	/* GPR index (HV_X64_REGISTER_RAX + i, architectural order) -> context offset */
	static const uint8_t gpr_off[16] = {
		offsetof(struct mshv_abi_cpu_context, rax),
		offsetof(struct mshv_abi_cpu_context, rcx),
		offsetof(struct mshv_abi_cpu_context, rdx),
		offsetof(struct mshv_abi_cpu_context, rbx),
		0xFF, /* RSP: VTL-private, its slot holds CR2 */
		offsetof(struct mshv_abi_cpu_context, rbp),
		offsetof(struct mshv_abi_cpu_context, rsi),
		offsetof(struct mshv_abi_cpu_context, rdi),
		offsetof(struct mshv_abi_cpu_context, r8),
		offsetof(struct mshv_abi_cpu_context, r9),
		offsetof(struct mshv_abi_cpu_context, r10),
		offsetof(struct mshv_abi_cpu_context, r11),
		offsetof(struct mshv_abi_cpu_context, r12),
		offsetof(struct mshv_abi_cpu_context, r13),
		offsetof(struct mshv_abi_cpu_context, r14),
		offsetof(struct mshv_abi_cpu_context, r15),
	};
	const size_t fx = offsetof(struct mshv_abi_cpu_context, fx_state);

	if (name >= HV_X64_REGISTER_RAX && name <= HV_X64_REGISTER_R15) {
		uint8_t o = gpr_off[name - HV_X64_REGISTER_RAX];
		if (o == 0xFF)
			return false;
		*off = o;
		*size = 8;
		return true;
	}
	if (name == HV_X64_REGISTER_CR2) {
		*off = offsetof(struct mshv_abi_cpu_context, cr2);
		*size = 8;
		return true;
	}
	if (name >= HV_X64_REGISTER_XMM0 && name <= HV_X64_REGISTER_XMM15) {
		*off = fx + offsetof(struct mshv_abi_fxsave, xmm) + 16 * (name - HV_X64_REGISTER_XMM0);
		*size = 16;
		return true;
	}
	if (name >= HV_X64_REGISTER_FP_MMX0 && name <= HV_X64_REGISTER_FP_MMX7) {
		*off = fx + offsetof(struct mshv_abi_fxsave, st) + 16 * (name - HV_X64_REGISTER_FP_MMX0);
		*size = 16;
		return true;
	}
	if (name == HV_X64_REGISTER_FP_CONTROL_STATUS) {
		*off = fx;
		*size = 16;
		return true;
	}
	if (name == HV_X64_REGISTER_XMM_CONTROL_STATUS) {
		*off = fx + offsetof(struct mshv_abi_fxsave, fdp);
		*size = 16;
		return true;
	}
	return false;
}

static bool vpreg_is_mtrr(uint32_t name)
{
	return name == HV_X64_REGISTER_MSR_MTRR_CAP || name == HV_X64_REGISTER_MSR_MTRR_DEF_TYPE ||
	       (name >= HV_X64_REGISTER_MSR_MTRR_PHYS_BASE0 &&
		name <= HV_X64_REGISTER_MSR_MTRR_PHYS_BASEF) ||
	       (name >= HV_X64_REGISTER_MSR_MTRR_PHYS_MASK0 &&
		name <= HV_X64_REGISTER_MSR_MTRR_PHYS_MASKF) ||
	       (name >= HV_X64_REGISTER_MSR_MTRR_FIX64K00000 &&
		name <= HV_X64_REGISTER_MSR_MTRR_FIX4KF8000);
}

enum vpreg_route vpreg_route_of(uint32_t name, bool dr6_shared)
{
	size_t off, size;
	if (vpreg_context_slot(name, &off, &size))
		return VPREG_ROUTE_CONTEXT;
	if ((name >= HV_X64_REGISTER_DR0 && name <= HV_X64_REGISTER_DR3) ||
	    (name == HV_X64_REGISTER_DR6 && dr6_shared) || vpreg_is_mtrr(name))
		return VPREG_ROUTE_IOCTL;
	return VPREG_ROUTE_HVCALL;
}

/* The cpu_context of a bound VP: at run-page offset 272 in both layouts (1.4). */
static struct mshv_abi_cpu_context *vpreg_context(struct kif *kif, uint32_t vp)
{
	struct mshv_abi_run *run = kif_vp_run_page(kif, vp);
	return run ? &run->cpu_context : NULL;
}

/* `rp` if it holds VTL0's state of the last exit (cap REGISTER_PAGE), else NULL. */
static struct hv_x64_register_page *vpreg_valid_page(struct hv_x64_register_page *rp)
{
	if (!rp || !__atomic_load_n(&rp->is_valid, __ATOMIC_ACQUIRE) || rp->vtl != 0)
		return NULL;
	return rp;
}

static struct hv_x64_register_page *vpreg_page(struct kif *kif, uint32_t vp)
{
	return vpreg_valid_page(kif_vp_register_page(kif, vp));
}

/*
 * Where a VTL-private register lives in the register page. Reads: RIP, RFLAGS, RSP, CR0/3/4,
 * EFER, the six segments. Writes (with their dirty bit): RIP, RFLAGS, RSP only; the rest goes
 * by hypercall (the hypervisor applies page segments as selectors only).
 */
static bool vpreg_page_slot(struct hv_x64_register_page *rp, uint32_t name, bool write,
			    void **ptr, size_t *size, uint32_t *dirty)
{
	*size = 8;
	switch (name) {
	case HV_X64_REGISTER_RIP:
		*ptr = &rp->rip;
		*dirty = HV_X64_REGISTER_PAGE_DIRTY_RIP;
		return true;
	case HV_X64_REGISTER_RFLAGS:
		*ptr = &rp->rflags;
		*dirty = HV_X64_REGISTER_PAGE_DIRTY_FLAGS;
		return true;
	case HV_X64_REGISTER_RSP:
		*ptr = &rp->gp[HV_X64_REGISTER_PAGE_GP_RSP];
		*dirty = HV_X64_REGISTER_PAGE_DIRTY_GP;
		return true;
	}
	if (write)
		return false;
	*dirty = 0;
	switch (name) {
	case HV_X64_REGISTER_CR0: *ptr = &rp->cr0; return true;
	case HV_X64_REGISTER_CR3: *ptr = &rp->cr3; return true;
	case HV_X64_REGISTER_CR4: *ptr = &rp->cr4; return true;
	case HV_X64_REGISTER_EFER: *ptr = &rp->efer; return true;
	}
	if (name >= HV_X64_REGISTER_ES && name <= HV_X64_REGISTER_GS) {
		*ptr = &rp->segment[name - HV_X64_REGISTER_ES];
		*size = sizeof(rp->segment[0]);
		return true;
	}
	return false;
}

/* hv_call's transport is kif_hvcall: the same bytes on hardware and in hvsim. */
static int vpreg_xfer(void *ctx, uint64_t control, const void *in, size_t in_size, void *out,
		      size_t out_size, uint64_t *result)
{
	return kif_hvcall(ctx, control, in, in_size, out, out_size, result);
}

int vpreg_get(struct kif *kif, uint32_t vp, const uint32_t *names,
	      union hv_register_value *values, size_t count)
{
	if (!kif || (count && (!names || !values)))
		return -EINVAL;
	if (count == 0)
		return 0;
	const struct mshv_abi_cpu_context *ctx = vpreg_context(kif, vp);
	if (!ctx)
		return -EINVAL; /* not bound */
	struct hv_x64_register_page *rp = vpreg_page(kif, vp);
	bool dr6 = kif_get_caps(kif)->dr6_shared;
	const struct hv_call_ctx hc = { .xfer = vpreg_xfer, .ctx = kif };

	/* Hypercall-routed names, gathered so each batch is one call. */
	uint32_t hv_names[VPREG_GET_BATCH];
	size_t hv_index[VPREG_GET_BATCH];
	union hv_register_value hv_values[VPREG_GET_BATCH];
	size_t nhv = 0;

	for (size_t i = 0; i <= count; i++) {
		/* flush a full batch, and the rest at the end */
		if (nhv == VPREG_GET_BATCH || (i == count && nhv)) {
			int r = hv_call_get_vp_registers(&hc, vp, hv_input_vtl(0), nhv, hv_names,
							 hv_values);
			if (r < 0)
				return r;
			for (size_t j = 0; j < nhv; j++)
				values[hv_index[j]] = hv_values[j];
			nhv = 0;
		}
		if (i == count)
			break;
		uint32_t name = names[i];
		size_t off, size;
		void *slot;
		uint32_t dirty;
		/* Page-held names are all hypercall-routed ones: try the page first (cheap). */
		if (rp && vpreg_page_slot(rp, name, false, &slot, &size, &dirty)) {
			memset(&values[i], 0, sizeof(values[i]));
			memcpy(&values[i], slot, size);
			continue;
		}
		switch (vpreg_route_of(name, dr6)) {
		case VPREG_ROUTE_CONTEXT:
			vpreg_context_slot(name, &off, &size);
			memset(&values[i], 0, sizeof(values[i]));
			memcpy(&values[i], (const uint8_t *)ctx + off, size);
			break;
		case VPREG_ROUTE_IOCTL: {
			int r = kif_vp_get_register(kif, name, &values[i]);
			if (r < 0)
				return r;
			break;
		}
		case VPREG_ROUTE_PAGE: /* never returned by vpreg_route_of */
		case VPREG_ROUTE_HVCALL:
			hv_names[nhv] = name;
			hv_index[nhv] = i;
			nhv++;
			break;
		}
	}
	return 0;
}

/* The route of `name` for a write: a hypercall-routed name the valid page holds goes there. */
static enum vpreg_route vpreg_set_route(struct hv_x64_register_page *rp, uint32_t name, bool dr6)
{
	void *slot;
	size_t size;
	uint32_t dirty;
	enum vpreg_route r = vpreg_route_of(name, dr6);
	if (r == VPREG_ROUTE_HVCALL && rp && vpreg_page_slot(rp, name, true, &slot, &size, &dirty))
		r = VPREG_ROUTE_PAGE;
	return r;
}

int vpreg_set(struct kif *kif, uint32_t vp, const uint32_t *names,
	      const union hv_register_value *values, size_t count)
{
	if (!kif || (count && (!names || !values)))
		return -EINVAL;
	if (count == 0)
		return 0;
	struct mshv_abi_cpu_context *ctx = vpreg_context(kif, vp);
	if (!ctx)
		return -EINVAL;
	struct hv_x64_register_page *rp = vpreg_page(kif, vp);
	bool dr6 = kif_get_caps(kif)->dr6_shared;
	const struct hv_call_ctx hc = { .xfer = vpreg_xfer, .ctx = kif };

	/* 1: the hypervisor's part, one hypercall per batch */
	struct hv_register_assoc assocs[VPREG_SET_BATCH];
	size_t n = 0;
	for (size_t i = 0; i <= count; i++) {
		if (n == VPREG_SET_BATCH || (i == count && n)) {
			int r = hv_call_set_vp_registers(&hc, vp, hv_input_vtl(0), n, assocs);
			if (r < 0)
				return r;
			n = 0;
		}
		if (i == count || vpreg_set_route(rp, names[i], dr6) != VPREG_ROUTE_HVCALL)
			continue;
		memset(&assocs[n], 0, sizeof(assocs[n]));
		assocs[n].name = names[i];
		assocs[n].value = values[i];
		n++;
	}
	/* 2: the driver's VTL-shared registers */
	for (size_t i = 0; i < count; i++) {
		if (vpreg_set_route(rp, names[i], dr6) != VPREG_ROUTE_IOCTL)
			continue;
		int r = kif_vp_set_register(kif, names[i], &values[i]);
		if (r < 0)
			return r;
	}
	/* 3: the run-page context and the register page, taken by the next VTL return */
	for (size_t i = 0; i < count; i++) {
		size_t off, size;
		void *slot;
		uint32_t dirty;
		switch (vpreg_set_route(rp, names[i], dr6)) {
		case VPREG_ROUTE_CONTEXT:
			vpreg_context_slot(names[i], &off, &size);
			memcpy((uint8_t *)ctx + off, &values[i], size);
			break;
		case VPREG_ROUTE_PAGE:
			vpreg_page_slot(rp, names[i], true, &slot, &size, &dirty);
			memcpy(slot, &values[i], size);
			rp->dirty |= dirty;
			break;
		case VPREG_ROUTE_IOCTL:
		case VPREG_ROUTE_HVCALL:
			break;
		}
	}
	return 0;
}

int vpreg_pages_of(struct kif *kif, uint32_t vp, struct vpreg_pages *out)
{
	struct mshv_abi_run *run = kif ? kif_vp_run_page(kif, vp) : NULL;
	if (!run)
		return -EINVAL;
	out->ctx = &run->cpu_context;
	out->reg = kif_vp_register_page(kif, vp);
	return 0;
}

int vpreg_complete(struct kif *kif, uint32_t vp, const struct vpreg_pages *pages,
		   const uint32_t *gpr_names, const uint64_t *values, size_t n, uint64_t rip)
{
	struct vpreg_pages looked;
	if (!pages) {
		if (vpreg_pages_of(kif, vp, &looked) < 0)
			return -EINVAL;
		pages = &looked;
	}
	if (n && (!gpr_names || !values))
		return -EINVAL;
	/* cpu_context holds the GPRs in architectural order with CR2 in RSP's slot (1.4). */
	_Static_assert(offsetof(struct mshv_abi_cpu_context, r15) == 15 * 8, "GPRs in order");
	for (size_t i = 0; i < n; i++) {
		uint32_t idx = gpr_names[i] - HV_X64_REGISTER_RAX;
		if (idx > 15 || idx == 4)
			return -EINVAL; /* not a context GPR: use vpreg_set */
		memcpy((uint8_t *)pages->ctx + 8 * idx, &values[i], 8);
	}
	struct hv_x64_register_page *rp = vpreg_valid_page(pages->reg);
	if (rp) {
		rp->rip = rip;
		rp->dirty |= HV_X64_REGISTER_PAGE_DIRTY_RIP;
		return 0;
	}
	static const uint32_t rip_name = HV_X64_REGISTER_RIP;
	const union hv_register_value v = { .reg64 = rip };
	return vpreg_set(kif, vp, &rip_name, &v, 1);
}

int vpreg_get_gprs(struct kif *kif, uint32_t vp, uint64_t gpr[16])
{
	if (!kif)
		return -EINVAL;
	const struct mshv_abi_cpu_context *ctx = vpreg_context(kif, vp);
	if (!ctx)
		return -EINVAL;
	memcpy(gpr, ctx, 16 * sizeof(uint64_t)); /* slot 4 is CR2: replaced below */
	static const uint32_t rsp = HV_X64_REGISTER_RSP;
	union hv_register_value v;
	int rc = vpreg_get(kif, vp, &rsp, &v, 1);
	if (rc < 0)
		return rc;
	gpr[4] = v.reg64;
	return 0;
}
