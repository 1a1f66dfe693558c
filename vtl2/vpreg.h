/*
 * vpreg: batched access to VTL0's registers of the calling thread's VP, above the kif seam
 * (the same code runs on hardware and in hvsim).
 *
 * Each register name goes the one way that gives VTL0's value (hyperv-abi-facts 1.4-1.6):
 *   VPREG_ROUTE_CONTEXT  VTL-shared registers saved in the run page's cpu_context while VTL2
 *                        runs: GPRs except RSP, CR2, XMM0-15, FpMmx0-7, FP/XMM control-status
 *                        (from the FXSAVE image). Never by hypercall: that would return VTL2's
 *                        live values.
 *   VPREG_ROUTE_IOCTL    VTL-shared registers the driver reads on the CPU: DR0-3, DR6 when DR6
 *                        is shared (cap DR6_SHARED), the MTRR MSRs. One ioctl each.
 *   VPREG_ROUTE_HVCALL   VTL-private registers (RIP, RSP, RFLAGS, segments, CRx, EFER, pending
 *                        event, ...): one batched HvCallGet/SetVpRegisters with input VTL0,
 *                        via hvcall/hv_call.h over kif_hvcall (batches, rep restarts, status).
 *   VPREG_ROUTE_PAGE     with capability REGISTER_PAGE and a valid page (VTL0's state at the
 *                        exit): RIP, RFLAGS, RSP are read and written there (writes set the
 *                        dirty bit the hypervisor applies at the next VTL return), CR0/3/4,
 *                        EFER and the segments are read there; no hypercall for them.
 *
 * Context reads/writes take effect at the next kif_vp_run (the kernel loads the context on VTL
 * return), so call these between kif_vp_run calls on the VP's own thread.
 */
#ifndef MEZZ_VTL2_VPREG_H
#define MEZZ_VTL2_VPREG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvcall/hv.h"
#include "hvcall/hv_call.h"
#include "hvcall/mshv_abi.h"
#include "vtl2/kif.h"

enum vpreg_route {
	VPREG_ROUTE_CONTEXT = 0,
	VPREG_ROUTE_IOCTL = 1,
	VPREG_ROUTE_HVCALL = 2,
	VPREG_ROUTE_PAGE = 3,   /* chosen per call from a HVCALL route (never by vpreg_route_of) */
};

/* Registers per hypercall: one page of output (get) or input (set), see hvcall/hv_call.h. */
#define VPREG_GET_BATCH HV_CALL_GET_VP_REGISTERS_BATCH
#define VPREG_SET_BATCH HV_CALL_SET_VP_REGISTERS_BATCH

/** The route of register `name`; DR6 is VTL-shared only when `dr6_shared`. */
enum vpreg_route vpreg_route_of(uint32_t name, bool dr6_shared);

/**
 * Read `count` VTL0 registers of VP `vp` (the calling thread's bound VP) into values[i].
 * Narrow registers are zero-extended to 16 bytes. 0 or -errno (-EINVAL when the VP is not
 * bound; the hypervisor's status mapped by hv_status_to_errno), values undefined on error.
 */
int vpreg_get(struct kif *kif, uint32_t vp, const uint32_t *names,
	      union hv_register_value *values, size_t count);
/**
 * Write `count` VTL0 registers. The hypercall batch goes first, then the ioctls, then the run
 * page context, so a failure reported by the hypervisor leaves every register unchanged; a
 * failing ioctl after that leaves the hypercall part applied.
 */
int vpreg_set(struct kif *kif, uint32_t vp, const uint32_t *names,
	      const union hv_register_value *values, size_t count);

/**
 * A bound VP's run-page context and register page (NULL without the capability): they do not
 * move while the VP is bound, so the hot path looks them up once. -EINVAL if not bound.
 */
struct vpreg_pages {
	struct mshv_abi_cpu_context *ctx;
	struct hv_x64_register_page *reg;
};
int vpreg_pages_of(struct kif *kif, uint32_t vp, struct vpreg_pages *out);

/**
 * All 16 GPRs in architectural order: the context ones from the run page in one copy, RSP by
 * its route (register page or hypercall). The emulator's hot path.
 */
int vpreg_get_gprs(struct kif *kif, uint32_t vp, uint64_t gpr[16]);

/**
 * The completion of an intercept, the hot path of every exit: `n` general-purpose registers
 * (names HV_X64_REGISTER_RAX..R15 except RSP: context-routed) and RIP. The GPRs go into the
 * run page's context, RIP into the register page when it is valid, else one
 * HvSetVpRegisters. Same effect as vpreg_set with those names, without its general routing.
 * `pages` (from vpreg_pages_of) saves the page lookups; NULL looks them up.
 */
int vpreg_complete(struct kif *kif, uint32_t vp, const struct vpreg_pages *pages,
		   const uint32_t *gpr_names, const uint64_t *values, size_t n, uint64_t rip);

#endif
