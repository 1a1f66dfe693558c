/*
 * fake_kif: a scripted implementation of every function of vtl2/kif.h, linked instead of
 * kif_mshv / kif_sim so that vtl2/partition.c and vtl2/vp.c run unchanged in unit tests and
 * fuzzers.
 *
 *   exits      per VP a queue of 256-byte intercept messages; kif_vp_run hands them out one
 *              by one into the run page (exit_message, and cpu_context when the step has one).
 *              With the queue empty it calls the idle hook (if any) and then blocks until
 *              kif_vp_cancel, so a run ends through the partition's stop path.
 *   registers  per VP a register file behind HvGet/SetVpRegisters and the register ioctls.
 *              Delivering a message sets RIP and RFLAGS from its intercept header and clears
 *              HvRegisterPendingEvent0 (the hypervisor consumes the event on entry).
 *   results    when the paravisor resumes a step (the next kif_vp_run), the run page's
 *              context, RIP, RFLAGS and PendingEvent0 are saved as that step's observation.
 *   hypercalls every kif_hvcall is counted per code and logged (first FAKE_KIF_LOG_MAX calls);
 *              InstallIntercept, ModifyVtlProtectionMask, AssertVirtualInterrupt succeed;
 *              MemoryMappedIoRead answers fake_kif_set_mmio_fill() bytes; unknown codes get
 *              HV_STATUS_INVALID_HYPERCALL_CODE.
 *   memory     kif_vtl0_map callocs a buffer per mapping; fake_kif_ram() finds the bytes.
 *
 * One fake instance per process (tests run one partition at a time). Thread-safe: one thread
 * per VP plus the clock's and the test's.
 */
#ifndef MEZZ_TESTS_FAKE_KIF_H
#define MEZZ_TESTS_FAKE_KIF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvcall/hv.h"
#include "hvcall/mshv_abi.h"

#define FAKE_KIF_MAX_VPS 8u
#define FAKE_KIF_LOG_MAX 8192u
#define FAKE_KIF_LOG_IN 256u          /* input bytes kept per logged call */
#define FAKE_KIF_NO_VP 0xFFFFFFFFu    /* a call from a thread bound to no VP */

struct fake_kif_call {
	uint16_t code;
	uint64_t control;
	uint32_t caller_vp;           /* the calling thread's bound VP, or FAKE_KIF_NO_VP */
	size_t in_size;
	uint8_t in[FAKE_KIF_LOG_IN];
	uint64_t result;
};

/** What VTL0 would run with after the paravisor finished one step. */
struct fake_kif_obs {
	bool valid;                   /* the paravisor resumed VTL0 after this step */
	struct mshv_abi_cpu_context ctx;
	uint64_t rip, rflags;
	union hv_register_value pending;
};

/** Forget everything (queues, registers, log, failures, RAM) and offer `vp_count` VPs. */
void fake_kif_reset(uint32_t vp_count);
/** Free what the fake holds (call once at exit for leak checkers). */
void fake_kif_fini(void);

/**
 * Queue a raw 256-byte message for `vp`, delivered `repeat` times (>= 1) in a row. `ctx`
 * (may be NULL: the context stays as VTL0 left it) is loaded into the run page with it.
 * Returns the step index (for fake_kif_obs).
 */
unsigned fake_kif_push_raw(uint32_t vp, const void *msg256,
			   const struct mshv_abi_cpu_context *ctx, uint32_t repeat);
/** Steps queued for `vp` and steps delivered so far (each repeat counted once per step). */
unsigned fake_kif_steps(uint32_t vp);
unsigned fake_kif_consumed(uint32_t vp);
/** Observation of step `step` of `vp`. */
struct fake_kif_obs fake_kif_obs(uint32_t vp, unsigned step);

/**
 * Called on the VP's thread when its queue is empty, before kif_vp_run blocks (e.g. to call
 * partition_stop). NULL: just block.
 */
void fake_kif_set_idle_hook(void (*fn)(void *ctx, uint32_t vp), void *ctx);
/** VPs blocked in kif_vp_run on an empty queue right now. */
unsigned fake_kif_blocked(void);

/** The fake hypervisor's register file of `vp`. */
void fake_kif_set_reg(uint32_t vp, uint32_t name, uint64_t value);
void fake_kif_set_reg_value(uint32_t vp, uint32_t name, const union hv_register_value *v);
union hv_register_value fake_kif_get_reg(uint32_t vp, uint32_t name);

/** Answer every hypercall `code` with `status` from now on (0: back to normal). */
void fake_kif_fail_hvcall(uint16_t code, uint16_t status);
/** Bytes MemoryMappedIoRead returns (default 0xFF). */
void fake_kif_set_mmio_fill(uint8_t byte);

/** Hypercalls made so far with `code`, and the log. */
uint64_t fake_kif_hvcall_count(uint16_t code);
size_t fake_kif_log_count(void);
/** Copy of log entry `i` (i < fake_kif_log_count()). */
struct fake_kif_call fake_kif_log(size_t i);

/** Host bytes of VTL0 RAM at [gpa, gpa + len) inside one mapping, or NULL. */
void *fake_kif_ram(uint64_t gpa, size_t len);
/** VTL0 mappings currently held (0 once the partition is destroyed). */
unsigned fake_kif_maps(void);
/** Whether a kif is open (kif_open without kif_close). */
bool fake_kif_is_open(void);

#endif
