/*
 * hv_call: typed hypercall wrappers, independent of how a hypercall reaches the hypervisor.
 * The transport (vtl2: kif_hvcall over /dev/mshv_hvcall; tests: a scripted fake; simulator:
 * its dispatcher) only moves bytes: control word + input in, output + result value back.
 * The wrappers lay out the TLFS input (hyperv-abi-facts 2.2), split rep calls into batches
 * that fit one 4096-byte input and output page, restart rep calls where the hypervisor stopped
 * (HV_STATUS_TIME_OUT, or SUCCESS with fewer reps completed), and convert the status into 0 /
 * -errno (hv_status_to_errno). Hypercall status codes never leave hvcall/.
 *
 * Every call targets HV_PARTITION_ID_SELF (a paravisor only manages its own partition).
 * `vtl` arguments are HvInputVtl bytes: hv_input_vtl(0) (= 0x10) for VTL0, HV_INPUT_VTL_CURRENT
 * for the caller's VTL.
 */
#ifndef MEZZ_HVCALL_HV_CALL_H
#define MEZZ_HVCALL_HV_CALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/addr.h"
#include "hvcall/hv.h"

/**
 * Transport: issue hypercall `control` (never the fast bit) with in[0..in_size) as input and
 * out[0..out_size) as output (both <= 4096). Returns 0 and the raw result value in *result,
 * or -errno if the hypercall could not be issued at all. Same shape as kif_hvcall().
 */
typedef int (*hv_call_xfer_fn)(void *ctx, uint64_t control, const void *in, size_t in_size, void *out,
			       size_t out_size, uint64_t *result);

struct hv_call_ctx {
	hv_call_xfer_fn xfer;
	void *ctx;
};

/** Rep elements per call that fit one page (input: 16-byte header + elements; output: elements). */
#define HV_CALL_GET_VP_REGISTERS_BATCH      256u  /* output: 16-byte values */
#define HV_CALL_SET_VP_REGISTERS_BATCH      127u  /* input: 16 + 32n <= 4096 */
#define HV_CALL_MODIFY_VTL_PROTECTION_BATCH 510u  /* input: 16 + 8n <= 4096 */
#define HV_CALL_GET_VP_INDEX_BATCH          1020u /* input: 16 + 4n <= 4096 */
#define HV_CALL_ACCEPT_GPA_PAGES_BATCH      HV_HYPERCALL_REP_MAX
/** Restarts without any progress tolerated before giving up with -ETIMEDOUT. */
#define HV_CALL_MAX_STALLS                  16u

/* ---- registers ---- */

/**
 * HvGetVpRegisters for `count` registers of VP `vp_index` (HV_VP_INDEX_SELF allowed) at `vtl`:
 * values[i] receives names[i]. Any count (batched). On error, values of the batches that
 * completed are filled, the rest undefined.
 */
int hv_call_get_vp_registers(const struct hv_call_ctx *c, uint32_t vp_index, uint8_t vtl, size_t count,
			     const uint32_t *names, union hv_register_value *values);
/** HvSetVpRegisters for `count` name/value pairs (reserved fields are sent as zero). */
int hv_call_set_vp_registers(const struct hv_call_ctx *c, uint32_t vp_index, uint8_t vtl, size_t count,
			     const struct hv_register_assoc *regs);
/** One register. */
int hv_call_get_vp_register(const struct hv_call_ctx *c, uint32_t vp_index, uint8_t vtl, uint32_t name,
			    union hv_register_value *value);
int hv_call_set_vp_register(const struct hv_call_ctx *c, uint32_t vp_index, uint8_t vtl, uint32_t name,
			    const union hv_register_value *value);

/* ---- memory protection / acceptance ---- */

/**
 * HvModifyVtlProtectionMask: set the access lower VTLs have to each page of gpns[0..count) as seen
 * by `target_vtl` (HvInputVtl). `map_flags` is HV_MAP_GPA_*; reserved bits give -EINVAL.
 */
int hv_call_modify_vtl_protection_mask(const struct hv_call_ctx *c, uint32_t map_flags, uint8_t target_vtl,
				       const gpn_t *gpns, size_t count);
/** Same for the contiguous range [first, first + count). */
int hv_call_modify_vtl_protection_range(const struct hv_call_ctx *c, uint32_t map_flags, uint8_t target_vtl,
					gpn_t first, uint64_t count);
/**
 * HvAcceptGpaPages for [first, first + count). `attributes` is the page_attributes word
 * (HV_ACCEPT_*); vtl_perms[0] (VTL1) and vtl_perms[1] (VTL2) may be NULL for zero.
 */
int hv_call_accept_gpa_pages(const struct hv_call_ctx *c, uint32_t attributes, const uint16_t *vtl_perms,
			     gpn_t first, uint64_t count);

/**
 * HvModifySparseGpaPageHostVisibility: make gpns[0..count) private (HV_HOST_VISIBILITY_PRIVATE)
 * or shared with the host (HV_HOST_VISIBILITY_SHARED). Other visibility values give -EINVAL.
 */
int hv_call_modify_host_visibility(const struct hv_call_ctx *c, uint32_t visibility, const gpn_t *gpns,
				   size_t count);
/**
 * HvCheckSparseGpaPageVtlAccess: results[i] is the raw u64 answer for gpns[i] (bits 0-7 result,
 * 8-15 denied access, 16-19 intercepting VTL: HV_CHECK_VTL_ACCESS_*). `desired_access` is
 * HV_MAP_GPA_* bits (low 8).
 */
int hv_call_check_vtl_access(const struct hv_call_ctx *c, uint8_t target_vtl, uint8_t desired_access,
			     const gpn_t *gpns, size_t count, uint64_t *results);
/** HvFlushVirtualAddressSpace: `flags` HV_FLUSH_*, `processor_mask` VPs 0-63. */
int hv_call_flush_virtual_address_space(const struct hv_call_ctx *c, uint64_t address_space, uint64_t flags,
					uint64_t processor_mask);

/* ---- MMIO through the hypervisor ---- */

/** HvMemoryMappedIoRead of `width` (1..64) bytes at `addr` into data. */
int hv_call_mmio_read(const struct hv_call_ctx *c, gpa_t addr, void *data, uint32_t width);
/** HvMemoryMappedIoWrite of `width` (1..64) bytes from data to `addr`. */
int hv_call_mmio_write(const struct hv_call_ctx *c, gpa_t addr, const void *data, uint32_t width);

/* ---- address translation ---- */

struct hv_call_translation {
	uint32_t result_code;          /* HV_TRANSLATE_GVA_* (SUCCESS = 0) */
	uint8_t cache_type;            /* HV_CACHE_TYPE_* */
	bool overlay_page;
	gpa_t gpa;                     /* when result_code == SUCCESS: GPA of the input GVA (with offset) */
	struct hv_u128 event_info[2];  /* TranslateVirtualAddressEx only: pending event to inject */
};

/**
 * HvTranslateVirtualAddress of `gva` on VP `vp_index`. `control_flags` is HV_TRANSLATE_GVA_* |
 * (HvInputVtl << HV_TRANSLATE_GVA_INPUT_VTL_SHIFT); reserved bits give -EINVAL. Returns 0 when
 * the hypercall succeeded: a failed *translation* is reported in out->result_code.
 */
int hv_call_translate_va(const struct hv_call_ctx *c, uint32_t vp_index, uint64_t control_flags, gva_t gva,
			 struct hv_call_translation *out);
/** HvTranslateVirtualAddressEx: as above, plus the event to inject in out->event_info. */
int hv_call_translate_va_ex(const struct hv_call_ctx *c, uint32_t vp_index, uint64_t control_flags, gva_t gva,
			    struct hv_call_translation *out);

/* ---- intercepts, interrupts, SynIC ---- */

/** HvInstallIntercept: `access_mask` HV_INTERCEPT_ACCESS_MASK_*, `type` enum hv_intercept_type. */
int hv_call_install_intercept(const struct hv_call_ctx *c, uint32_t access_mask, uint32_t type,
			      uint64_t parameter);
/**
 * HvAssertVirtualInterrupt: `interrupt_control` = HV_X64_INTERRUPT_TYPE_* | HV_INTERRUPT_CONTROL_*,
 * `destination` the APIC id (or logical destination), `vector` 0..255.
 */
int hv_call_assert_virtual_interrupt(const struct hv_call_ctx *c, uint64_t interrupt_control,
				     uint64_t destination, uint32_t vector, uint8_t target_vtl);
/**
 * HvPostMessageDirect of `msg` to SINT `sint` (0..15) of VP `vp_index` at `vtl`. -EAGAIN when
 * the target slot is busy (HV_STATUS_INSUFFICIENT_BUFFERS): retry later.
 */
int hv_call_post_message_direct(const struct hv_call_ctx *c, uint32_t vp_index, uint8_t vtl, uint8_t sint,
				const struct hv_message *msg);
/** HvSignalEventDirect: flag `flag` (< 2048) of SINT `sint`. *newly_signaled may be NULL. */
int hv_call_signal_event_direct(const struct hv_call_ctx *c, uint32_t vp_index, uint8_t vtl, uint8_t sint,
				uint16_t flag, bool *newly_signaled);

/* ---- VTL and VP management ---- */

/** HvEnablePartitionVtl: `flags` HV_ENABLE_PARTITION_VTL_*. -EEXIST if already enabled. */
int hv_call_enable_partition_vtl(const struct hv_call_ctx *c, uint8_t target_vtl, uint8_t flags);
/** HvEnableVpVtl with the initial register state of the new VTL. -EEXIST if already enabled. */
int hv_call_enable_vp_vtl(const struct hv_call_ctx *c, uint32_t vp_index, uint8_t target_vtl,
			  const struct hv_initial_vp_context *context);
/** HvStartVirtualProcessor. */
int hv_call_start_virtual_processor(const struct hv_call_ctx *c, uint32_t vp_index, uint8_t target_vtl,
				    const struct hv_initial_vp_context *context);
/** HvGetVpIndexFromApicId: vp_indices[i] for apic_ids[i], any count (batched). */
int hv_call_get_vp_index_from_apic_id(const struct hv_call_ctx *c, uint8_t target_vtl, size_t count,
				      const uint32_t *apic_ids, uint32_t *vp_indices);

#endif
