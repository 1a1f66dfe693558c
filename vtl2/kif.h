/*
 * kif: the kernel-interface seam. Everything the paravisor asks of the `mshv_vtl` driver goes
 * through these functions, and nothing else in Mezzanine touches /dev/mshv*.
 *
 * Two implementations exist and the choice is made at link time:
 *   vtl2/kif_mshv.c       the real driver: exactly the ioctls and mmaps of
 *                         ../shared/docs/hyperv-abi-facts.md section 1 (library `kif_mshv`)
 *   tools/hvsim/kif_sim.c the simulated hypervisor (library `kif_sim`)
 * Callers never #ifdef on the implementation.
 *
 * The seam is deliberately as thin as the driver: one function per driver operation, with the
 * driver's semantics (e.g. register ioctls act on VTL0 of the *calling thread's* CPU, the run
 * loop runs the CPU the thread is bound to). Policy that sits on top (which register goes
 * through which route, batching, rep-hypercall restarts) lives above the seam in vtl2/ and
 * hvcall/ so that it is the same code on hardware and in hvsim.
 *
 * All functions return 0 (or a non-negative count/fd where stated) or -errno.
 *
 * Threading: kif_open/kif_close from one thread. kif_vp_* calls from the thread bound to that VP
 * (kif_vp_bind), except kif_vp_cancel, which any thread may call. SINT calls from any thread.
 */
#ifndef MEZZ_VTL2_KIF_H
#define MEZZ_VTL2_KIF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/addr.h"

struct hv_message;          /* hvcall/hv.h: 256-byte SynIC message */
union hv_register_value;    /* hvcall/hv.h: 16-byte register value */

/** Which `struct mshv_vtl_run` layout the kernel uses (hyperv-abi-facts.md 1.4). */
enum kif_run_layout {
	KIF_RUN_UPSTREAM = 0,   /* Linux 6.19 upstream driver: 1552 bytes */
	KIF_RUN_OPENHCL = 1,    /* OHCL-Linux-Kernel superset: 1652 bytes */
};

/** Capabilities reported by MSHV_CHECK_EXTENSION (hyperv-abi-facts.md 1.2). */
struct kif_caps {
	bool register_page;      /* cap 1: register page mappable (mmap kind 1) */
	bool vtl_return_action;  /* cap 2: vtl_ret_actions in the run page honoured */
	bool dr6_shared;         /* cap 3: DR6 is VTL-shared */
};

/** Parameters for kif_open. */
struct kif_params {
	/* Directory holding the device nodes; NULL means "/dev". Ignored by hvsim. */
	const char *dev_dir;
	enum kif_run_layout run_layout;
	/*
	 * Hypercall codes allowed through /dev/mshv_hvcall (MSHV_HVCALL_SETUP bitmap). NULL with
	 * count 0 selects kif_default_hvcall_allow[].
	 */
	const uint16_t *hvcall_allow;
	size_t hvcall_allow_count;
};

/** The default allow list: the hypercalls the paravisor makes (ABI doc 1.7). */
extern const uint16_t kif_default_hvcall_allow[];
extern const size_t kif_default_hvcall_allow_count;

/** An open VTL: /dev/mshv + the CREATE_VTL fd + /dev/mshv_hvcall + /dev/mshv_sint + VTL0 mem. */
struct kif;

/**
 * Open the driver: CHECK_EXTENSION for each capability, CREATE_VTL, open and set up the
 * hypercall fd with the allow bitmap, open the SINT fds and the lower-VTL memory node.
 */
int kif_open(const struct kif_params *params, struct kif **out);
/** Unmap everything and close every fd. NULL is accepted. */
void kif_close(struct kif *kif);
/** Capabilities found at open. */
const struct kif_caps *kif_get_caps(const struct kif *kif);
/** Number of VPs (= VTL2 CPUs, identity-mapped to VTL0 VP indices). */
uint32_t kif_vp_count(const struct kif *kif);

/* ---- per-VP (each maps to CPU `vp` of the VTL2 kernel) ---- */

/**
 * Bind the calling thread to VP `vp`: pins it to that CPU (the driver's run loop and register
 * ioctls act on the current CPU) and maps the VP's run page (and register page if the
 * capability exists). Call once per VP thread before the other kif_vp_* functions.
 */
int kif_vp_bind(struct kif *kif, uint32_t vp);
/**
 * The run page of VP `vp` (mmap kind 0): `struct mshv_abi_run` or `struct mshv_abi_run_ohcl`
 * (hvcall/mshv_abi.h) per the run layout. NULL until the VP has been bound.
 */
void *kif_vp_run_page(struct kif *kif, uint32_t vp);
/** The hypervisor register page of VP `vp` (mmap kind 1), or NULL without the capability. */
void *kif_vp_register_page(struct kif *kif, uint32_t vp);
/**
 * MSHV_RETURN_TO_LOWER_VTL on the calling thread's VP: runs VTL0 until an intercept.
 * Returns 0 with the message in the run page's exit slot, or -EINTR when cancelled or
 * signalled (the run page's cancel flag is left set; the caller clears it).
 */
int kif_vp_run(struct kif *kif);
/**
 * Kick VP `vp` out of kif_vp_run from any thread: sets the run page's cancel flag and forces
 * the VP to return (driver: signal to the VP thread).
 */
int kif_vp_cancel(struct kif *kif, uint32_t vp);
/** MSHV_SET_POLL_FILE: a wakeup on `fd` cancels VP `vp`'s run loop. */
int kif_vp_set_poll_file(struct kif *kif, uint32_t vp, int fd);
/** MSHV_GET_VP_REGISTERS: one VTL0 register of the calling thread's VP. */
int kif_vp_get_register(struct kif *kif, uint32_t name, union hv_register_value *value);
/** MSHV_SET_VP_REGISTERS: one VTL0 register of the calling thread's VP. */
int kif_vp_set_register(struct kif *kif, uint32_t name, const union hv_register_value *value);

/* ---- hypercall passthrough (/dev/mshv_hvcall) ---- */

/**
 * MSHV_HVCALL: issue hypercall `control` (full input value: code, rep count/start, variable
 * header size; never the fast bit) with `in_size` bytes of input, copying `out_size` bytes of
 * output back. On 0, *result holds the raw 64-bit hypercall result value (status and reps
 * completed); interpreting it is hvcall/'s job. -EPERM if the code is not allowed.
 */
int kif_hvcall(struct kif *kif, uint64_t control, const void *in, size_t in_size, void *out,
	       size_t out_size, uint64_t *result);

/* ---- VTL2 SynIC SINT 7: the VMBus relay to the host (/dev/mshv_sint) ---- */

/** MSHV_SINT_PAUSE_MESSAGE_STREAM: pause (mask) or resume SINT 7. It starts paused. */
int kif_sint_pause(struct kif *kif, bool pause);
/**
 * Read one 256-byte message. Returns 1 with *msg filled, 0 at EOF (stream paused and empty),
 * -EAGAIN when `block` is false and nothing is queued.
 */
int kif_sint_read(struct kif *kif, struct hv_message *msg, bool block);
/** An fd that polls readable when kif_sint_read has something (or the stream is paused). */
int kif_sint_poll_fd(const struct kif *kif);
/**
 * MSHV_SINT_POST_MESSAGE. Returns 0, -EAGAIN when the hypervisor had no buffers
 * (HV_STATUS_INSUFFICIENT_BUFFERS: back off and retry), or -errno.
 */
int kif_sint_post_message(struct kif *kif, uint32_t connection_id, uint32_t message_type,
			  const void *payload, size_t size);
/** MSHV_SINT_SIGNAL_EVENT: signal event flag `flag` of `connection_id`. */
int kif_sint_signal_event(struct kif *kif, uint32_t connection_id, uint32_t flag);
/** MSHV_SINT_SET_EVENTFD: `fd` is signalled when SINT 7 event flag `flag` fires; -1 removes. */
int kif_sint_set_eventfd(struct kif *kif, uint32_t flag, int fd);

/* ---- memory shared with the host (VMBus rings and buffers toward the host) ---- */

/**
 * `pages` pages of VTL2 memory the host may read and write, contiguous in the paravisor
 * (*host) and guest-physically (pfns[i] = pfns[0] + i): what VTL2's VMBus client describes in
 * its GPADLs. -ENOMEM when none is left. On the mshv_vtl driver: -EOPNOTSUPP (the pool comes
 * with the boot shim's memory layout, issue 11; a usermode page has no stable physical
 * address). Never freed: channels to the host live as long as the paravisor.
 */
int kif_shared_alloc(struct kif *kif, size_t pages, void **host, uint64_t *pfns);

/* ---- VTL0 memory (/dev/mshv_vtl_low, MSHV_ADD_VTL0_MEMORY) ---- */

/**
 * Map `len` bytes of VTL0 guest-physical memory at `base` (page aligned) into the paravisor;
 * *out receives the host address. The mapping is shared with VTL0: treat every byte as
 * hostile and read each field once.
 */
int kif_vtl0_map(struct kif *kif, gpa_t base, size_t len, void **out);
/** Undo kif_vtl0_map. */
int kif_vtl0_unmap(struct kif *kif, void *addr, size_t len);
/** MSHV_ADD_VTL0_MEMORY: make [start, end) usable for DMA from the VTL2 kernel. */
int kif_vtl0_add_memory(struct kif *kif, gpn_t start, gpn_t end);

#endif
