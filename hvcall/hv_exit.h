/*
 * hv_exit: turns a raw 256-byte SynIC intercept message (the run page's exit_message, or a
 * SIMP slot) into a typed, validated exit, and encodes typed exits back into the exact bytes
 * (the simulator produces messages with the same code the paravisor decodes them with).
 *
 * The raw message lives in memory shared with the kernel/hypervisor: hv_exit_decode copies it
 * exactly once and validates only the copy, so the decoded exit can be trusted afterwards.
 */
#ifndef MEZZ_HVCALL_HV_EXIT_H
#define MEZZ_HVCALL_HV_EXIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvcall/hv.h"

enum hv_exit_kind {
	HV_EXIT_NONE = 0,                 /* HVMSG_NONE: empty slot, nothing to do */
	HV_EXIT_IO_PORT,                  /* u.io */
	HV_EXIT_MEMORY,                   /* u.memory, flavour in memory_kind */
	HV_EXIT_MSR,                      /* u.msr */
	HV_EXIT_CPUID,                    /* u.cpuid */
	HV_EXIT_EXCEPTION,                /* u.exception */
	HV_EXIT_HYPERCALL,                /* u.hypercall */
	HV_EXIT_HALT,                     /* u.header only */
	HV_EXIT_UNRECOVERABLE,            /* u.header only (triple fault) */
	HV_EXIT_APIC_EOI,                 /* u.apic_eoi (no intercept header) */
	HV_EXIT_REGISTER,                 /* u.reg */
	HV_EXIT_SINT_DELIVERABLE,         /* u.sint_deliverable */
	HV_EXIT_INTERRUPTION_DELIVERABLE, /* u.interruption_deliverable */
	HV_EXIT_SIPI,                     /* u.sipi */
	HV_EXIT_INVALID_VP_REGISTER,      /* u.invalid_vp_register (no intercept header) */
	HV_EXIT_TIMER,                    /* u.timer (no intercept header) */
	HV_EXIT_UNKNOWN,                  /* type not decoded here; u.raw holds the payload */
	HV_EXIT_KIND_COUNT
};

/** Which message produced a HV_EXIT_MEMORY exit. */
enum hv_exit_memory_kind {
	HV_EXIT_MEMORY_UNMAPPED_GPA = 0, /* HVMSG_UNMAPPED_GPA */
	HV_EXIT_MEMORY_GPA_INTERCEPT,    /* HVMSG_GPA_INTERCEPT (VTL protection violation) */
	HV_EXIT_MEMORY_UNACCEPTED_GPA,   /* HVMSG_UNACCEPTED_GPA */
};

/** A decoded exit. All fields are a private copy. */
struct hv_exit {
	enum hv_exit_kind kind;
	enum hv_exit_memory_kind memory_kind; /* HV_EXIT_MEMORY only */
	uint32_t message_type;                /* HVMSG_* as received */
	uint8_t payload_size;                 /* as received (>= what the kind needs) */
	uint8_t flags;                        /* HV_MESSAGE_FLAG_PENDING: write EOM after consuming */
	uint64_t sender;
	bool has_header;                      /* u.header is valid (intercepts with the 40-B header) */
	union {
		struct hv_x64_intercept_header header; /* common initial member of the intercepts */
		struct hv_x64_io_port_intercept_message io;
		struct hv_x64_memory_intercept_message memory;
		struct hv_x64_msr_intercept_message msr;
		struct hv_x64_cpuid_intercept_message cpuid;
		struct hv_x64_exception_intercept_message exception;
		struct hv_x64_hypercall_intercept_message hypercall;
		struct hv_x64_register_intercept_message reg;
		struct hv_x64_sint_deliverable_message sint_deliverable;
		struct hv_x64_interruption_deliverable_message interruption_deliverable;
		struct hv_x64_sipi_intercept_message sipi;
		struct hv_x64_apic_eoi_message apic_eoi;
		struct hv_x64_invalid_vp_register_message invalid_vp_register;
		struct hv_timer_message_payload timer;
		uint8_t raw[HV_MESSAGE_PAYLOAD_SIZE];
	} u;
};

/**
 * Decodes the message in raw[0..len) (len >= 16 + payload_size; bytes past 256 are ignored).
 * Returns:
 *   0          *out is a decoded exit (kind NONE for an empty slot, HVMSG_NONE);
 *   -EINVAL    NULL argument, len < 16, or len too short for the payload_size the message claims;
 *   -EPROTO    malformed message: payload_size > 240 or smaller than the type's layout, or a field
 *              out of range (access type > 2, instruction_byte_count > 16, IO access size not
 *              1/2/4, IO/MSR/CPUID instruction length 0, MSR/IO access type execute, exception
 *              vector > 31, APIC EOI/SIPI vector > 255);
 *   -ENOTSUP   message type not decoded here: out->kind = HV_EXIT_UNKNOWN with message_type,
 *              payload_size, flags, sender and u.raw filled (payload_size <= 240) for logging.
 * On -EINVAL/-EPROTO *out is zeroed except message_type (when the header could be read).
 */
int hv_exit_decode(const void *raw, size_t len, struct hv_exit *out);

/**
 * Encodes `in` into a 256-byte message at raw[0..len) (len >= 256). message_type is derived from
 * in->kind (and memory_kind); payload_size is in->payload_size if it is within [layout size, 240],
 * else the layout size; flags and sender are copied; unused payload bytes are zero.
 * Returns 0, or -EINVAL for a NULL argument, len < 256 or a kind that cannot be encoded
 * (NONE encodes an empty slot; UNKNOWN encodes in->message_type with u.raw).
 */
int hv_exit_encode(const struct hv_exit *in, void *raw, size_t len);

/** Name of an exit kind ("IO_PORT"), "INVALID" when out of range. */
const char *hv_exit_kind_str(enum hv_exit_kind kind);

/** Bytes of payload the layout of `kind` needs (0 for NONE/UNKNOWN). */
size_t hv_exit_payload_min(enum hv_exit_kind kind);

/* ---- small accessors for decoded exits ---- */

/** Instruction length from the intercept header (bits 0-3). */
static inline unsigned hv_exit_insn_len(const struct hv_exit *e)
{
	return e->has_header ? (e->u.header.instruction_length_cr8 & HV_X64_INTERCEPT_INSN_LEN_MASK) : 0;
}
/** VTL the intercepted VP was running in (execution_state bits 7-10). */
static inline unsigned hv_exit_vtl(const struct hv_exit *e)
{
	return e->has_header ? (unsigned)((e->u.header.execution_state & HV_X64_EXEC_STATE_VTL_MASK) >>
					  HV_X64_EXEC_STATE_VTL_SHIFT) : 0;
}
/** CPL from execution_state. */
static inline unsigned hv_exit_cpl(const struct hv_exit *e)
{
	return e->has_header ? (e->u.header.execution_state & HV_X64_EXEC_STATE_CPL_MASK) : 0;
}
/** IO access size in bytes (1, 2 or 4) of a decoded IO exit. */
static inline unsigned hv_exit_io_size(const struct hv_exit *e)
{
	return e->u.io.access_info & HV_X64_IO_ACCESS_SIZE_MASK;
}
static inline bool hv_exit_io_is_write(const struct hv_exit *e)
{
	return e->u.header.intercept_access_type == HV_INTERCEPT_ACCESS_WRITE;
}
static inline bool hv_exit_io_is_string(const struct hv_exit *e)
{
	return (e->u.io.access_info & HV_X64_IO_ACCESS_STRING) != 0;
}
static inline bool hv_exit_io_is_rep(const struct hv_exit *e)
{
	return (e->u.io.access_info & HV_X64_IO_ACCESS_REP) != 0;
}
/** MSR write value (rdx:rax) of a decoded MSR exit. */
static inline uint64_t hv_exit_msr_value(const struct hv_exit *e)
{
	return (e->u.msr.rdx << 32) | (uint32_t)e->u.msr.rax;
}

#endif
