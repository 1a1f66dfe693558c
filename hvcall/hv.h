/*
 * Hyper-V TLFS definitions (x64): hypercall control/result words, status codes, hypercall
 * input/output layouts, SynIC messages and pages, intercept message payloads, register names,
 * the intercept register page. Pure ABI: no state, no dependencies beyond <stdint.h>.
 *
 * Every layout is restated from /work/shared/docs/hyperv-abi-facts.md (section numbers in the
 * _Static_asserts). All integers little-endian; multi-bit fields inside ABI words are described
 * with explicit shifts/masks, never C bitfields (their layout is implementation-defined).
 */
#ifndef MEZZ_HVCALL_HV_H
#define MEZZ_HVCALL_HV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HV_PAGE_SIZE 4096u

/* ------------------------------------------------------------------------------------------ */
/* 2.1 Status codes                                                                           */
/* ------------------------------------------------------------------------------------------ */

/** Hypercall status (bits 0-15 of the result value). */
typedef uint16_t hv_status_t;

enum {
	HV_STATUS_SUCCESS = 0x0,
	HV_STATUS_INVALID_HYPERCALL_CODE = 0x2,
	HV_STATUS_INVALID_HYPERCALL_INPUT = 0x3,
	HV_STATUS_INVALID_ALIGNMENT = 0x4,
	HV_STATUS_INVALID_PARAMETER = 0x5,
	HV_STATUS_ACCESS_DENIED = 0x6,
	HV_STATUS_INVALID_PARTITION_STATE = 0x7,
	HV_STATUS_OPERATION_DENIED = 0x8,
	HV_STATUS_UNKNOWN_PROPERTY = 0x9,
	HV_STATUS_PROPERTY_VALUE_OUT_OF_RANGE = 0xA,
	HV_STATUS_INSUFFICIENT_MEMORY = 0xB,
	HV_STATUS_PARTITION_TOO_DEEP = 0xC,
	HV_STATUS_INVALID_PARTITION_ID = 0xD,
	HV_STATUS_INVALID_VP_INDEX = 0xE,
	HV_STATUS_NOT_FOUND = 0x10,
	HV_STATUS_INVALID_PORT_ID = 0x11,
	HV_STATUS_INVALID_CONNECTION_ID = 0x12,
	HV_STATUS_INSUFFICIENT_BUFFERS = 0x13,
	HV_STATUS_NOT_ACKNOWLEDGED = 0x14,
	HV_STATUS_INVALID_VP_STATE = 0x15,
	HV_STATUS_ACKNOWLEDGED = 0x16,
	HV_STATUS_INVALID_SAVE_RESTORE_STATE = 0x17,
	HV_STATUS_INVALID_SYNIC_STATE = 0x18,
	HV_STATUS_OBJECT_IN_USE = 0x19,
	HV_STATUS_INVALID_PROXIMITY_DOMAIN_INFO = 0x1A,
	HV_STATUS_NO_DATA = 0x1B,
	HV_STATUS_INACTIVE = 0x1C,
	HV_STATUS_NO_RESOURCES = 0x1D,
	HV_STATUS_FEATURE_UNAVAILABLE = 0x1E,
	HV_STATUS_PARTIAL_PACKET = 0x1F,
	HV_STATUS_PROCESSOR_FEATURE_NOT_SUPPORTED = 0x20,
	HV_STATUS_INSUFFICIENT_BUFFER = 0x33,
	HV_STATUS_INVALID_LP_INDEX = 0x41,
	HV_STATUS_INVALID_REGISTER_VALUE = 0x50,
	HV_STATUS_INVALID_VTL_STATE = 0x51,
	HV_STATUS_OPERATION_FAILED = 0x71,
	HV_STATUS_TIME_OUT = 0x78,
	HV_STATUS_CALL_PENDING = 0x79,
	HV_STATUS_VTL_ALREADY_ENABLED = 0x86,
	HV_STATUS_UNKNOWN_REGISTER_NAME = 0x87,
};

/* ------------------------------------------------------------------------------------------ */
/* 2.1 Hypercall input value (control word) and result value                                  */
/* ------------------------------------------------------------------------------------------ */

#define HV_HYPERCALL_CODE_MASK        0x000000000000FFFFull
#define HV_HYPERCALL_FAST_BIT         (1ull << 16)
#define HV_HYPERCALL_VARHEAD_SHIFT    17
#define HV_HYPERCALL_VARHEAD_MASK     (0x3FFull << HV_HYPERCALL_VARHEAD_SHIFT)
#define HV_HYPERCALL_NESTED_BIT       (1ull << 31)
#define HV_HYPERCALL_REP_COUNT_SHIFT  32
#define HV_HYPERCALL_REP_COUNT_MASK   (0xFFFull << HV_HYPERCALL_REP_COUNT_SHIFT)
#define HV_HYPERCALL_REP_START_SHIFT  48
#define HV_HYPERCALL_REP_START_MASK   (0xFFFull << HV_HYPERCALL_REP_START_SHIFT)
/** Bits that must be zero in a control word: 27-30, 44-47, 60-63. */
#define HV_HYPERCALL_RSVD_MASK        (0x78000000ull | 0x0000F00000000000ull | 0xF000000000000000ull)
/** Largest rep count / rep start index a control word can hold (12 bits). */
#define HV_HYPERCALL_REP_MAX          0xFFFu
/** Largest variable header size in qwords (10 bits). */
#define HV_HYPERCALL_VARHEAD_MAX      0x3FFu

#define HV_HYPERCALL_RESULT_STATUS_MASK     0x000000000000FFFFull
#define HV_HYPERCALL_RESULT_REPS_SHIFT      32
#define HV_HYPERCALL_RESULT_REPS_MASK       (0xFFFull << HV_HYPERCALL_RESULT_REPS_SHIFT)

/**
 * Builds a hypercall input value. Out-of-range field values are truncated to their field
 * width; callers validate counts against HV_HYPERCALL_REP_MAX first.
 */
static inline uint64_t hv_control_make(uint16_t code, uint32_t rep_count, uint32_t rep_start,
				       uint32_t var_hdr_qwords, bool fast)
{
	return (uint64_t)code |
	       (fast ? HV_HYPERCALL_FAST_BIT : 0) |
	       (((uint64_t)var_hdr_qwords << HV_HYPERCALL_VARHEAD_SHIFT) & HV_HYPERCALL_VARHEAD_MASK) |
	       (((uint64_t)rep_count << HV_HYPERCALL_REP_COUNT_SHIFT) & HV_HYPERCALL_REP_COUNT_MASK) |
	       (((uint64_t)rep_start << HV_HYPERCALL_REP_START_SHIFT) & HV_HYPERCALL_REP_START_MASK);
}

static inline uint16_t hv_control_code(uint64_t control)
{
	return (uint16_t)(control & HV_HYPERCALL_CODE_MASK);
}
static inline bool hv_control_fast(uint64_t control)
{
	return (control & HV_HYPERCALL_FAST_BIT) != 0;
}
static inline uint32_t hv_control_var_hdr_qwords(uint64_t control)
{
	return (uint32_t)((control & HV_HYPERCALL_VARHEAD_MASK) >> HV_HYPERCALL_VARHEAD_SHIFT);
}
static inline uint32_t hv_control_rep_count(uint64_t control)
{
	return (uint32_t)((control & HV_HYPERCALL_REP_COUNT_MASK) >> HV_HYPERCALL_REP_COUNT_SHIFT);
}
static inline uint32_t hv_control_rep_start(uint64_t control)
{
	return (uint32_t)((control & HV_HYPERCALL_REP_START_MASK) >> HV_HYPERCALL_REP_START_SHIFT);
}

/** Status of a hypercall result value. */
static inline hv_status_t hv_result_status(uint64_t result)
{
	return (hv_status_t)(result & HV_HYPERCALL_RESULT_STATUS_MASK);
}
/** Reps completed of a hypercall result value. */
static inline uint32_t hv_result_reps(uint64_t result)
{
	return (uint32_t)((result & HV_HYPERCALL_RESULT_REPS_MASK) >> HV_HYPERCALL_RESULT_REPS_SHIFT);
}
/** Builds a result value (used by the simulator and tests). */
static inline uint64_t hv_result_make(hv_status_t status, uint32_t reps_completed)
{
	return (uint64_t)status |
	       (((uint64_t)reps_completed << HV_HYPERCALL_RESULT_REPS_SHIFT) & HV_HYPERCALL_RESULT_REPS_MASK);
}

/* Special ids (2.1). */
#define HV_PARTITION_ID_SELF  0xFFFFFFFFFFFFFFFFull
#define HV_VP_INDEX_SELF      0xFFFFFFFEu
#define HV_ANY_VP             0xFFFFFFFFu

/* HvInputVtl (u8, 2.1): bits 0-3 target VTL, bit 4 use_target_vtl (0 = caller's VTL). */
#define HV_INPUT_VTL_TARGET_MASK   0x0Fu
#define HV_INPUT_VTL_USE_TARGET    0x10u
#define HV_INPUT_VTL_CURRENT       0x00u
/** HvInputVtl naming VTL `vtl` explicitly: hv_input_vtl(0) == 0x10. */
static inline uint8_t hv_input_vtl(uint8_t vtl)
{
	return (uint8_t)((vtl & HV_INPUT_VTL_TARGET_MASK) | HV_INPUT_VTL_USE_TARGET);
}

/* ------------------------------------------------------------------------------------------ */
/* 2.2 Hypercall codes                                                                        */
/* ------------------------------------------------------------------------------------------ */

enum {
	HVCALL_SWITCH_VIRTUAL_ADDRESS_SPACE = 0x0001,
	HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE = 0x0002,
	HVCALL_FLUSH_VIRTUAL_ADDRESS_LIST = 0x0003,
	HVCALL_NOTIFY_LONG_SPIN_WAIT = 0x0008,
	HVCALL_SEND_SYNTHETIC_CLUSTER_IPI = 0x000B,
	HVCALL_MODIFY_VTL_PROTECTION_MASK = 0x000C,
	HVCALL_ENABLE_PARTITION_VTL = 0x000D,
	HVCALL_ENABLE_VP_VTL = 0x000F,
	HVCALL_VTL_CALL = 0x0011,
	HVCALL_VTL_RETURN = 0x0012,
	HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE_EX = 0x0013,
	HVCALL_FLUSH_VIRTUAL_ADDRESS_LIST_EX = 0x0014,
	HVCALL_SEND_SYNTHETIC_CLUSTER_IPI_EX = 0x0015,
	HVCALL_INSTALL_INTERCEPT = 0x004D,
	HVCALL_GET_VP_REGISTERS = 0x0050,
	HVCALL_SET_VP_REGISTERS = 0x0051,
	HVCALL_TRANSLATE_VIRTUAL_ADDRESS = 0x0052,
	HVCALL_POST_MESSAGE = 0x005C,
	HVCALL_SIGNAL_EVENT = 0x005D,
	HVCALL_OUTPUT_DEBUG_CHARACTER = 0x0071,
	HVCALL_GET_SYSTEM_PROPERTY = 0x007B,
	HVCALL_RETARGET_DEVICE_INTERRUPT = 0x007E,
	HVCALL_REGISTER_INTERCEPT_RESULT = 0x0091,
	HVCALL_ASSERT_VIRTUAL_INTERRUPT = 0x0094,
	HVCALL_START_VIRTUAL_PROCESSOR = 0x0099,
	HVCALL_GET_VP_INDEX_FROM_APIC_ID = 0x009A,
	HVCALL_TRANSLATE_VIRTUAL_ADDRESS_EX = 0x00AC,
	HVCALL_CHECK_FOR_IO_INTERCEPT = 0x00AD,
	HVCALL_FLUSH_GUEST_PHYSICAL_ADDRESS_SPACE = 0x00AF,
	HVCALL_FLUSH_GUEST_PHYSICAL_ADDRESS_LIST = 0x00B0,
	HVCALL_SIGNAL_EVENT_DIRECT = 0x00C0,
	HVCALL_POST_MESSAGE_DIRECT = 0x00C1,
	HVCALL_CHECK_SPARSE_GPA_PAGE_VTL_ACCESS = 0x00D4,
	HVCALL_ACCEPT_GPA_PAGES = 0x00D9,
	HVCALL_MODIFY_SPARSE_GPA_PAGE_HOST_VISIBILITY = 0x00DB,
	HVCALL_GET_VP_CPUID_VALUES = 0x00F4,
	HVCALL_RESTORE_PARTITION_TIME = 0x0103,
	HVCALL_MEMORY_MAPPED_IO_READ = 0x0106,
	HVCALL_MEMORY_MAPPED_IO_WRITE = 0x0107,
	HVCALL_PIN_GPA_PAGE_RANGES = 0x0112,
	HVCALL_UNPIN_GPA_PAGE_RANGES = 0x0113,
	HVCALL_QUERY_SPARSE_GPA_PAGE_HOST_VISIBILITY = 0x011C,
	HVCALL_EXT_QUERY_CAPABILITIES = 0x8001,
};

/* ------------------------------------------------------------------------------------------ */
/* 2.6 Segment / table registers, 128-bit values, register value union                        */
/* ------------------------------------------------------------------------------------------ */

/** A 128-bit value as two little-endian qwords. */
struct hv_u128 {
	uint64_t low;
	uint64_t high;
};
_Static_assert(sizeof(struct hv_u128) == 16, "hyperv-abi-facts 2.5: u128 is 16 bytes");

/** Segment register (16 B). */
struct hv_x64_segment_register {
	uint64_t base;
	uint32_t limit;
	uint16_t selector;
	uint16_t attributes;
};
_Static_assert(sizeof(struct hv_x64_segment_register) == 16, "hyperv-abi-facts 2.6: segment 16 B");
_Static_assert(offsetof(struct hv_x64_segment_register, base) == 0, "hyperv-abi-facts 2.6: base at 0");
_Static_assert(offsetof(struct hv_x64_segment_register, limit) == 8, "hyperv-abi-facts 2.6: limit at 8");
_Static_assert(offsetof(struct hv_x64_segment_register, selector) == 12, "hyperv-abi-facts 2.6: selector at 12");
_Static_assert(offsetof(struct hv_x64_segment_register, attributes) == 14, "hyperv-abi-facts 2.6: attributes at 14");

/* Segment attributes (2.6). */
#define HV_X64_SEG_ATTR_TYPE_MASK   0x000Fu
#define HV_X64_SEG_ATTR_S           0x0010u
#define HV_X64_SEG_ATTR_DPL_SHIFT   5
#define HV_X64_SEG_ATTR_DPL_MASK    0x0060u
#define HV_X64_SEG_ATTR_P           0x0080u
#define HV_X64_SEG_ATTR_AVL         0x1000u
#define HV_X64_SEG_ATTR_L           0x2000u
#define HV_X64_SEG_ATTR_DB          0x4000u
#define HV_X64_SEG_ATTR_G           0x8000u

/** Table register (IDTR/GDTR, 16 B). */
struct hv_x64_table_register {
	uint16_t pad[3];
	uint16_t limit;
	uint64_t base;
};
_Static_assert(sizeof(struct hv_x64_table_register) == 16, "hyperv-abi-facts 2.6: table 16 B");
_Static_assert(offsetof(struct hv_x64_table_register, pad) == 0, "hyperv-abi-facts 2.6: pad at 0");
_Static_assert(offsetof(struct hv_x64_table_register, limit) == 6, "hyperv-abi-facts 2.6: limit at 6");
_Static_assert(offsetof(struct hv_x64_table_register, base) == 8, "hyperv-abi-facts 2.6: base at 8");

/**
 * A register value (16 bytes). Narrow views alias the low bytes; `low`/`high` (or `reg128`)
 * is the full 128-bit value. Bitfield-like registers (pending event, pending interruption,
 * interrupt state) are read/written via reg64 / low / high and the masks below.
 */
union hv_register_value {
	struct {
		uint64_t low;
		uint64_t high;
	};
	struct hv_u128 reg128;
	uint64_t reg64;
	uint32_t reg32;
	uint16_t reg16;
	uint8_t reg8;
	struct hv_x64_segment_register segment;
	struct hv_x64_table_register table;
	uint8_t bytes[16];
};
_Static_assert(sizeof(union hv_register_value) == 16, "hyperv-abi-facts 2.5: register value 16 B");
_Static_assert(offsetof(union hv_register_value, low) == 0, "hyperv-abi-facts 2.5: low qword at 0");
_Static_assert(offsetof(union hv_register_value, high) == 8, "hyperv-abi-facts 2.5: high qword at 8");

/** Register name/value pair of SetVpRegisters (32 B). */
struct hv_register_assoc {
	uint32_t name;
	uint32_t reserved1;
	uint64_t reserved2;
	union hv_register_value value;
};
_Static_assert(sizeof(struct hv_register_assoc) == 32, "hyperv-abi-facts 2.2: register assoc 32 B");
_Static_assert(offsetof(struct hv_register_assoc, name) == 0, "hyperv-abi-facts 2.2: assoc name at 0");
_Static_assert(offsetof(struct hv_register_assoc, reserved1) == 4, "hyperv-abi-facts 2.2: assoc rsvd1 at 4");
_Static_assert(offsetof(struct hv_register_assoc, reserved2) == 8, "hyperv-abi-facts 2.2: assoc rsvd2 at 8");
_Static_assert(offsetof(struct hv_register_assoc, value) == 16, "hyperv-abi-facts 2.2: assoc value at 16");

/* ------------------------------------------------------------------------------------------ */
/* 2.5 Register names                                                                         */
/* ------------------------------------------------------------------------------------------ */

enum hv_register_name {
	/* General / misc */
	HV_REGISTER_INSTRUCTION_EMULATION_HINTS = 0x00000002,
	HV_REGISTER_INTERNAL_ACTIVITY_STATE = 0x00000004,
	HV_REGISTER_PRIVILEGES_AND_FEATURES_INFO = 0x00000200,
	HV_REGISTER_GUEST_CRASH_P0 = 0x00000210,
	HV_REGISTER_GUEST_CRASH_P1 = 0x00000211,
	HV_REGISTER_GUEST_CRASH_P2 = 0x00000212,
	HV_REGISTER_GUEST_CRASH_P3 = 0x00000213,
	HV_REGISTER_GUEST_CRASH_P4 = 0x00000214,
	HV_REGISTER_GUEST_CRASH_CTL = 0x00000215,
	HV_REGISTER_PENDING_INTERRUPTION = 0x00010002,
	HV_REGISTER_INTERRUPT_STATE = 0x00010003,
	HV_REGISTER_PENDING_EVENT0 = 0x00010004,
	HV_REGISTER_PENDING_EVENT1 = 0x00010005,
	HV_REGISTER_DELIVERABILITY_NOTIFICATIONS = 0x00010006,
	HV_REGISTER_VP_RUNTIME = 0x00090000,
	HV_REGISTER_HYPERCALL = 0x00090001,
	HV_REGISTER_GUEST_OS_ID = 0x00090002,
	HV_REGISTER_VP_INDEX = 0x00090003,
	HV_REGISTER_TIME_REF_COUNT = 0x00090004,
	HV_REGISTER_VP_ASSIST_PAGE = 0x00090013,
	HV_REGISTER_REFERENCE_TSC = 0x00090017,
	HV_X64_REGISTER_REG_PAGE = 0x0009001C,
	HV_REGISTER_REG_PAGE = 0x0009001C,
	/* SynIC */
	HV_REGISTER_SINT0 = 0x000A0000,
	HV_REGISTER_SINT1 = 0x000A0001,
	HV_REGISTER_SINT2 = 0x000A0002,
	HV_REGISTER_SINT3 = 0x000A0003,
	HV_REGISTER_SINT4 = 0x000A0004,
	HV_REGISTER_SINT5 = 0x000A0005,
	HV_REGISTER_SINT6 = 0x000A0006,
	HV_REGISTER_SINT7 = 0x000A0007,
	HV_REGISTER_SINT8 = 0x000A0008,
	HV_REGISTER_SINT9 = 0x000A0009,
	HV_REGISTER_SINT10 = 0x000A000A,
	HV_REGISTER_SINT11 = 0x000A000B,
	HV_REGISTER_SINT12 = 0x000A000C,
	HV_REGISTER_SINT13 = 0x000A000D,
	HV_REGISTER_SINT14 = 0x000A000E,
	HV_REGISTER_SINT15 = 0x000A000F,
	HV_REGISTER_SCONTROL = 0x000A0010,
	HV_REGISTER_SVERSION = 0x000A0011,
	HV_REGISTER_SIEFP = 0x000A0012,
	HV_REGISTER_SIMP = 0x000A0013,
	HV_REGISTER_EOM = 0x000A0014,
	HV_REGISTER_SIRBP = 0x000A0015,
	HV_REGISTER_STIMER0_CONFIG = 0x000B0000,
	HV_REGISTER_STIMER0_COUNT = 0x000B0001,
	HV_REGISTER_STIMER1_CONFIG = 0x000B0002,
	HV_REGISTER_STIMER1_COUNT = 0x000B0003,
	HV_REGISTER_STIMER2_CONFIG = 0x000B0004,
	HV_REGISTER_STIMER2_COUNT = 0x000B0005,
	HV_REGISTER_STIMER3_CONFIG = 0x000B0006,
	HV_REGISTER_STIMER3_COUNT = 0x000B0007,
	HV_REGISTER_CR_INTERCEPT_CONTROL = 0x000E0000,
	HV_REGISTER_CR_INTERCEPT_CR0_MASK = 0x000E0001,
	HV_REGISTER_CR_INTERCEPT_CR4_MASK = 0x000E0002,
	/* VSM */
	HV_REGISTER_VSM_CODE_PAGE_OFFSETS = 0x000D0002,
	HV_REGISTER_VSM_VP_STATUS = 0x000D0003,
	HV_REGISTER_VSM_PARTITION_STATUS = 0x000D0004,
	HV_REGISTER_VSM_VINA = 0x000D0005,
	HV_REGISTER_VSM_CAPABILITIES = 0x000D0006,
	HV_REGISTER_VSM_PARTITION_CONFIG = 0x000D0007,
	HV_REGISTER_GUEST_VSM_PARTITION_CONFIG = 0x000D0008,
	HV_REGISTER_VSM_VP_SECURE_CONFIG_VTL0 = 0x000D0010,
	HV_REGISTER_VSM_VP_SECURE_CONFIG_VTL1 = 0x000D0011,
	HV_REGISTER_VSM_VP_SECURE_CONFIG_VTL2 = 0x000D0012,
	HV_REGISTER_VSM_VP_SECURE_CONFIG_VTL3 = 0x000D0013,
	HV_REGISTER_VSM_VP_SECURE_CONFIG_VTL4 = 0x000D0014,
	HV_REGISTER_VSM_VP_SECURE_CONFIG_VTL5 = 0x000D0015,
	HV_REGISTER_VSM_VP_SECURE_CONFIG_VTL6 = 0x000D0016,
	HV_REGISTER_VSM_VP_SECURE_CONFIG_VTL7 = 0x000D0017,
	HV_REGISTER_VSM_VP_SECURE_CONFIG_VTL8 = 0x000D0018,
	HV_REGISTER_VSM_VP_SECURE_CONFIG_VTL9 = 0x000D0019,
	HV_REGISTER_VSM_VP_SECURE_CONFIG_VTL10 = 0x000D001A,
	HV_REGISTER_VSM_VP_SECURE_CONFIG_VTL11 = 0x000D001B,
	HV_REGISTER_VSM_VP_SECURE_CONFIG_VTL12 = 0x000D001C,
	HV_REGISTER_VSM_VP_SECURE_CONFIG_VTL13 = 0x000D001D,
	HV_REGISTER_VSM_VP_SECURE_CONFIG_VTL14 = 0x000D001E,
	HV_REGISTER_VSM_VP_WAIT_FOR_TLB_LOCK = 0x000D0020,
	/* x64 general purpose */
	HV_X64_REGISTER_RAX = 0x00020000,
	HV_X64_REGISTER_RCX = 0x00020001,
	HV_X64_REGISTER_RDX = 0x00020002,
	HV_X64_REGISTER_RBX = 0x00020003,
	HV_X64_REGISTER_RSP = 0x00020004,
	HV_X64_REGISTER_RBP = 0x00020005,
	HV_X64_REGISTER_RSI = 0x00020006,
	HV_X64_REGISTER_RDI = 0x00020007,
	HV_X64_REGISTER_R8 = 0x00020008,
	HV_X64_REGISTER_R9 = 0x00020009,
	HV_X64_REGISTER_R10 = 0x0002000A,
	HV_X64_REGISTER_R11 = 0x0002000B,
	HV_X64_REGISTER_R12 = 0x0002000C,
	HV_X64_REGISTER_R13 = 0x0002000D,
	HV_X64_REGISTER_R14 = 0x0002000E,
	HV_X64_REGISTER_R15 = 0x0002000F,
	HV_X64_REGISTER_RIP = 0x00020010,
	HV_X64_REGISTER_RFLAGS = 0x00020011,
	/* x64 floating point */
	HV_X64_REGISTER_XMM0 = 0x00030000,
	HV_X64_REGISTER_XMM1 = 0x00030001,
	HV_X64_REGISTER_XMM2 = 0x00030002,
	HV_X64_REGISTER_XMM3 = 0x00030003,
	HV_X64_REGISTER_XMM4 = 0x00030004,
	HV_X64_REGISTER_XMM5 = 0x00030005,
	HV_X64_REGISTER_XMM6 = 0x00030006,
	HV_X64_REGISTER_XMM7 = 0x00030007,
	HV_X64_REGISTER_XMM8 = 0x00030008,
	HV_X64_REGISTER_XMM9 = 0x00030009,
	HV_X64_REGISTER_XMM10 = 0x0003000A,
	HV_X64_REGISTER_XMM11 = 0x0003000B,
	HV_X64_REGISTER_XMM12 = 0x0003000C,
	HV_X64_REGISTER_XMM13 = 0x0003000D,
	HV_X64_REGISTER_XMM14 = 0x0003000E,
	HV_X64_REGISTER_XMM15 = 0x0003000F,
	HV_X64_REGISTER_FP_MMX0 = 0x00030010,
	HV_X64_REGISTER_FP_MMX1 = 0x00030011,
	HV_X64_REGISTER_FP_MMX2 = 0x00030012,
	HV_X64_REGISTER_FP_MMX3 = 0x00030013,
	HV_X64_REGISTER_FP_MMX4 = 0x00030014,
	HV_X64_REGISTER_FP_MMX5 = 0x00030015,
	HV_X64_REGISTER_FP_MMX6 = 0x00030016,
	HV_X64_REGISTER_FP_MMX7 = 0x00030017,
	HV_X64_REGISTER_FP_CONTROL_STATUS = 0x00030018,
	HV_X64_REGISTER_XMM_CONTROL_STATUS = 0x00030019,
	/* x64 control */
	HV_X64_REGISTER_CR0 = 0x00040000,
	HV_X64_REGISTER_CR2 = 0x00040001,
	HV_X64_REGISTER_CR3 = 0x00040002,
	HV_X64_REGISTER_CR4 = 0x00040003,
	HV_X64_REGISTER_CR8 = 0x00040004,
	HV_X64_REGISTER_XFEM = 0x00040005,
	HV_X64_REGISTER_INTERMEDIATE_CR0 = 0x00041000,
	HV_X64_REGISTER_INTERMEDIATE_CR3 = 0x00041002,
	HV_X64_REGISTER_INTERMEDIATE_CR4 = 0x00041003,
	HV_X64_REGISTER_INTERMEDIATE_CR8 = 0x00041004,
	/* x64 debug */
	HV_X64_REGISTER_DR0 = 0x00050000,
	HV_X64_REGISTER_DR1 = 0x00050001,
	HV_X64_REGISTER_DR2 = 0x00050002,
	HV_X64_REGISTER_DR3 = 0x00050003,
	HV_X64_REGISTER_DR6 = 0x00050004,
	HV_X64_REGISTER_DR7 = 0x00050005,
	/* x64 segments and tables */
	HV_X64_REGISTER_ES = 0x00060000,
	HV_X64_REGISTER_CS = 0x00060001,
	HV_X64_REGISTER_SS = 0x00060002,
	HV_X64_REGISTER_DS = 0x00060003,
	HV_X64_REGISTER_FS = 0x00060004,
	HV_X64_REGISTER_GS = 0x00060005,
	HV_X64_REGISTER_LDTR = 0x00060006,
	HV_X64_REGISTER_TR = 0x00060007,
	HV_X64_REGISTER_IDTR = 0x00070000,
	HV_X64_REGISTER_GDTR = 0x00070001,
	/* x64 MSRs */
	HV_X64_REGISTER_TSC = 0x00080000,
	HV_X64_REGISTER_EFER = 0x00080001,
	HV_X64_REGISTER_KERNEL_GS_BASE = 0x00080002,
	HV_X64_REGISTER_APIC_BASE = 0x00080003,
	HV_X64_REGISTER_PAT = 0x00080004,
	HV_X64_REGISTER_SYSENTER_CS = 0x00080005,
	HV_X64_REGISTER_SYSENTER_EIP = 0x00080006,
	HV_X64_REGISTER_SYSENTER_ESP = 0x00080007,
	HV_X64_REGISTER_STAR = 0x00080008,
	HV_X64_REGISTER_LSTAR = 0x00080009,
	HV_X64_REGISTER_CSTAR = 0x0008000A,
	HV_X64_REGISTER_SFMASK = 0x0008000B,
	HV_X64_REGISTER_INITIAL_APIC_ID = 0x0008000C,
	HV_X64_REGISTER_MSR_MTRR_CAP = 0x0008000D,
	HV_X64_REGISTER_MSR_MTRR_DEF_TYPE = 0x0008000E,
	HV_X64_REGISTER_MSR_MTRR_PHYS_BASE0 = 0x00080010,
	HV_X64_REGISTER_MSR_MTRR_PHYS_BASE1 = 0x00080011,
	HV_X64_REGISTER_MSR_MTRR_PHYS_BASE2 = 0x00080012,
	HV_X64_REGISTER_MSR_MTRR_PHYS_BASE3 = 0x00080013,
	HV_X64_REGISTER_MSR_MTRR_PHYS_BASE4 = 0x00080014,
	HV_X64_REGISTER_MSR_MTRR_PHYS_BASE5 = 0x00080015,
	HV_X64_REGISTER_MSR_MTRR_PHYS_BASE6 = 0x00080016,
	HV_X64_REGISTER_MSR_MTRR_PHYS_BASE7 = 0x00080017,
	HV_X64_REGISTER_MSR_MTRR_PHYS_BASE8 = 0x00080018,
	HV_X64_REGISTER_MSR_MTRR_PHYS_BASE9 = 0x00080019,
	HV_X64_REGISTER_MSR_MTRR_PHYS_BASEA = 0x0008001A,
	HV_X64_REGISTER_MSR_MTRR_PHYS_BASEB = 0x0008001B,
	HV_X64_REGISTER_MSR_MTRR_PHYS_BASEC = 0x0008001C,
	HV_X64_REGISTER_MSR_MTRR_PHYS_BASED = 0x0008001D,
	HV_X64_REGISTER_MSR_MTRR_PHYS_BASEE = 0x0008001E,
	HV_X64_REGISTER_MSR_MTRR_PHYS_BASEF = 0x0008001F,
	HV_X64_REGISTER_MSR_MTRR_PHYS_MASK0 = 0x00080040,
	HV_X64_REGISTER_MSR_MTRR_PHYS_MASK1 = 0x00080041,
	HV_X64_REGISTER_MSR_MTRR_PHYS_MASK2 = 0x00080042,
	HV_X64_REGISTER_MSR_MTRR_PHYS_MASK3 = 0x00080043,
	HV_X64_REGISTER_MSR_MTRR_PHYS_MASK4 = 0x00080044,
	HV_X64_REGISTER_MSR_MTRR_PHYS_MASK5 = 0x00080045,
	HV_X64_REGISTER_MSR_MTRR_PHYS_MASK6 = 0x00080046,
	HV_X64_REGISTER_MSR_MTRR_PHYS_MASK7 = 0x00080047,
	HV_X64_REGISTER_MSR_MTRR_PHYS_MASK8 = 0x00080048,
	HV_X64_REGISTER_MSR_MTRR_PHYS_MASK9 = 0x00080049,
	HV_X64_REGISTER_MSR_MTRR_PHYS_MASKA = 0x0008004A,
	HV_X64_REGISTER_MSR_MTRR_PHYS_MASKB = 0x0008004B,
	HV_X64_REGISTER_MSR_MTRR_PHYS_MASKC = 0x0008004C,
	HV_X64_REGISTER_MSR_MTRR_PHYS_MASKD = 0x0008004D,
	HV_X64_REGISTER_MSR_MTRR_PHYS_MASKE = 0x0008004E,
	HV_X64_REGISTER_MSR_MTRR_PHYS_MASKF = 0x0008004F,
	HV_X64_REGISTER_MSR_MTRR_FIX64K00000 = 0x00080070,
	HV_X64_REGISTER_MSR_MTRR_FIX16K80000 = 0x00080071,
	HV_X64_REGISTER_MSR_MTRR_FIX16KA0000 = 0x00080072,
	HV_X64_REGISTER_MSR_MTRR_FIX4KC0000 = 0x00080073,
	HV_X64_REGISTER_MSR_MTRR_FIX4KC8000 = 0x00080074,
	HV_X64_REGISTER_MSR_MTRR_FIX4KD0000 = 0x00080075,
	HV_X64_REGISTER_MSR_MTRR_FIX4KD8000 = 0x00080076,
	HV_X64_REGISTER_MSR_MTRR_FIX4KE0000 = 0x00080077,
	HV_X64_REGISTER_MSR_MTRR_FIX4KE8000 = 0x00080078,
	HV_X64_REGISTER_MSR_MTRR_FIX4KF0000 = 0x00080079,
	HV_X64_REGISTER_MSR_MTRR_FIX4KF8000 = 0x0008007A,
	HV_X64_REGISTER_TSC_AUX = 0x0008007B,
	HV_X64_REGISTER_BNDCFGS = 0x0008007C,
	HV_X64_REGISTER_DEBUG_CTL = 0x0008007D,
	HV_X64_REGISTER_SPEC_CTRL = 0x00080084,
	HV_X64_REGISTER_PRED_CMD = 0x00080085,
	HV_X64_REGISTER_XSS = 0x0008008B,
	HV_X64_REGISTER_U_CET = 0x0008008C,
	HV_X64_REGISTER_S_CET = 0x0008008D,
	HV_X64_REGISTER_SSP = 0x0008008E,
	HV_X64_REGISTER_PL0_SSP = 0x0008008F,
	HV_X64_REGISTER_PL1_SSP = 0x00080090,
	HV_X64_REGISTER_PL2_SSP = 0x00080091,
	HV_X64_REGISTER_PL3_SSP = 0x00080092,
	HV_X64_REGISTER_INTERRUPT_SSP_TABLE_ADDR = 0x00080093,
	HV_X64_REGISTER_TSC_DEADLINE = 0x00080095,
	HV_X64_REGISTER_TSC_ADJUST = 0x00080096,
	/* x64 APIC: x2APIC MSR index + 0x84000 (i.e. 0x84000 | (msr & 0xFFF)) */
	HV_X64_REGISTER_APIC_ID = 0x00084802,
	HV_X64_REGISTER_APIC_VERSION = 0x00084803,
	HV_X64_REGISTER_APIC_TPR = 0x00084808,
	HV_X64_REGISTER_APIC_PPR = 0x0008480A,
	HV_X64_REGISTER_APIC_EOI = 0x0008480B,
	HV_X64_REGISTER_APIC_LDR = 0x0008480D,
	HV_X64_REGISTER_APIC_SPURIOUS = 0x0008480F,
	HV_X64_REGISTER_APIC_ISR0 = 0x00084810,
	HV_X64_REGISTER_APIC_ISR1 = 0x00084811,
	HV_X64_REGISTER_APIC_ISR2 = 0x00084812,
	HV_X64_REGISTER_APIC_ISR3 = 0x00084813,
	HV_X64_REGISTER_APIC_ISR4 = 0x00084814,
	HV_X64_REGISTER_APIC_ISR5 = 0x00084815,
	HV_X64_REGISTER_APIC_ISR6 = 0x00084816,
	HV_X64_REGISTER_APIC_ISR7 = 0x00084817,
	HV_X64_REGISTER_APIC_TMR0 = 0x00084818,
	HV_X64_REGISTER_APIC_TMR1 = 0x00084819,
	HV_X64_REGISTER_APIC_TMR2 = 0x0008481A,
	HV_X64_REGISTER_APIC_TMR3 = 0x0008481B,
	HV_X64_REGISTER_APIC_TMR4 = 0x0008481C,
	HV_X64_REGISTER_APIC_TMR5 = 0x0008481D,
	HV_X64_REGISTER_APIC_TMR6 = 0x0008481E,
	HV_X64_REGISTER_APIC_TMR7 = 0x0008481F,
	HV_X64_REGISTER_APIC_IRR0 = 0x00084820,
	HV_X64_REGISTER_APIC_IRR1 = 0x00084821,
	HV_X64_REGISTER_APIC_IRR2 = 0x00084822,
	HV_X64_REGISTER_APIC_IRR3 = 0x00084823,
	HV_X64_REGISTER_APIC_IRR4 = 0x00084824,
	HV_X64_REGISTER_APIC_IRR5 = 0x00084825,
	HV_X64_REGISTER_APIC_IRR6 = 0x00084826,
	HV_X64_REGISTER_APIC_IRR7 = 0x00084827,
	HV_X64_REGISTER_APIC_ESR = 0x00084828,
	HV_X64_REGISTER_APIC_ICR = 0x00084830,
	HV_X64_REGISTER_APIC_LVT_TIMER = 0x00084832,
	HV_X64_REGISTER_APIC_LVT_THERMAL = 0x00084833,
	HV_X64_REGISTER_APIC_LVT_PERFMON = 0x00084834,
	HV_X64_REGISTER_APIC_LVT_LINT0 = 0x00084835,
	HV_X64_REGISTER_APIC_LVT_LINT1 = 0x00084836,
	HV_X64_REGISTER_APIC_LVT_ERROR = 0x00084837,
	HV_X64_REGISTER_APIC_INIT_COUNT = 0x00084838,
	HV_X64_REGISTER_APIC_CURRENT_COUNT = 0x00084839,
	HV_X64_REGISTER_APIC_DIVIDE = 0x0008483E,
	HV_X64_REGISTER_APIC_SELF_IPI = 0x0008483F,
};

/* Register bitfields (2.5). */
#define HV_VSM_CODE_PAGE_VTL_CALL_MASK          0x0000000000000FFFull
#define HV_VSM_CODE_PAGE_VTL_RETURN_SHIFT       12
#define HV_VSM_CODE_PAGE_VTL_RETURN_MASK        0x0000000000FFF000ull

#define HV_VSM_VP_STATUS_ACTIVE_VTL_MASK        0x000000000000000Full
#define HV_VSM_VP_STATUS_ACTIVE_MBEC            (1ull << 4)
#define HV_VSM_VP_STATUS_ENABLED_VTL_SET_SHIFT  16
#define HV_VSM_VP_STATUS_ENABLED_VTL_SET_MASK   0x00000000FFFF0000ull

#define HV_VSM_PARTITION_STATUS_ENABLED_VTL_SET_MASK 0x000000000000FFFFull
#define HV_VSM_PARTITION_STATUS_MAX_VTL_SHIFT   16
#define HV_VSM_PARTITION_STATUS_MAX_VTL_MASK    0x00000000000F0000ull

#define HV_VSM_VINA_VECTOR_MASK                 0x00000000000000FFull
#define HV_VSM_VINA_ENABLED                     (1ull << 8)
#define HV_VSM_VINA_AUTO_RESET                  (1ull << 9)
#define HV_VSM_VINA_AUTO_EOI                    (1ull << 10)

#define HV_VSM_CAP_DR6_SHARED                   (1ull << 0)
#define HV_VSM_CAP_MBEC_VTL_MASK_SHIFT          1
#define HV_VSM_CAP_MBEC_VTL_MASK                (0xFFFFull << 1)
#define HV_VSM_CAP_DENY_LOWER_VTL_STARTUP       (1ull << 17)
#define HV_VSM_CAP_SUPERVISOR_SHADOW_STACK      (1ull << 18)
#define HV_VSM_CAP_HW_HVPT                      (1ull << 19)
#define HV_VSM_CAP_SW_HVPT                      (1ull << 20)
#define HV_VSM_CAP_HVPT_RANGE_SHIFT             21
#define HV_VSM_CAP_HVPT_RANGE_MASK              (0x3Full << 21)
#define HV_VSM_CAP_INTERCEPT_PAGE_AVAILABLE     (1ull << 27)
#define HV_VSM_CAP_RETURN_ACTION_AVAILABLE      (1ull << 28)
#define HV_VSM_CAP_VTL0_ALIAS_MAP_AVAILABLE     (1ull << 29)
#define HV_VSM_CAP_INTERCEPT_NOT_PRESENT_AVAILABLE (1ull << 30)
#define HV_VSM_CAP_INSTALL_INTERCEPT_EX         (1ull << 31)
#define HV_VSM_CAP_INTERCEPT_SYSTEM_RESET_AVAILABLE (1ull << 32)
#define HV_VSM_CAP_PROXY_INTERRUPT_REDIRECT     (1ull << 34)

#define HV_VSM_CONFIG_ENABLE_VTL_PROTECTION     (1ull << 0)
#define HV_VSM_CONFIG_DEFAULT_PROT_SHIFT        1
#define HV_VSM_CONFIG_DEFAULT_PROT_MASK         (0xFull << 1)
#define HV_VSM_CONFIG_ZERO_MEMORY_ON_RESET      (1ull << 5)
#define HV_VSM_CONFIG_DENY_LOWER_VTL_STARTUP    (1ull << 6)
#define HV_VSM_CONFIG_INTERCEPT_ACCEPTANCE      (1ull << 7)
#define HV_VSM_CONFIG_INTERCEPT_ENABLE_VTL_PROTECTION (1ull << 8)
#define HV_VSM_CONFIG_INTERCEPT_VP_STARTUP      (1ull << 9)
#define HV_VSM_CONFIG_INTERCEPT_CPUID_UNIMPLEMENTED (1ull << 10)
#define HV_VSM_CONFIG_INTERCEPT_UNRECOVERABLE_EXCEPTION (1ull << 11)
#define HV_VSM_CONFIG_INTERCEPT_PAGE            (1ull << 12)
#define HV_VSM_CONFIG_INTERCEPT_RESTORE_PARTITION_TIME (1ull << 13)
#define HV_VSM_CONFIG_INTERCEPT_NOT_PRESENT     (1ull << 14)
#define HV_VSM_CONFIG_INTERCEPT_SYSTEM_RESET    (1ull << 15)

/* PendingEvent0/1 (u128, 2.5): fields of the low qword, high qword = exception parameter. */
#define HV_PENDING_EVENT_PENDING                (1ull << 0)
#define HV_PENDING_EVENT_TYPE_SHIFT             1
#define HV_PENDING_EVENT_TYPE_MASK              (0x7ull << 1)
#define HV_PENDING_EVENT_DELIVER_ERROR_CODE     (1ull << 8)
#define HV_PENDING_EVENT_VECTOR_SHIFT           16
#define HV_PENDING_EVENT_VECTOR_MASK            (0xFFFFull << 16)
#define HV_PENDING_EVENT_ERROR_CODE_SHIFT       32
#define HV_PENDING_EVENT_ERROR_CODE_MASK        (0xFFFFFFFFull << 32)
enum {
	HV_PENDING_EVENT_TYPE_EXCEPTION = 0,
	HV_PENDING_EVENT_TYPE_MEMORY_INTERCEPT = 1,
	HV_PENDING_EVENT_TYPE_NESTED_MEMORY_INTERCEPT = 2,
	HV_PENDING_EVENT_TYPE_VIRTUALIZATION_FAULT = 3,
	HV_PENDING_EVENT_TYPE_HYPERCALL_OUTPUT = 4,
	HV_PENDING_EVENT_TYPE_EXT_INT = 5,
	HV_PENDING_EVENT_TYPE_SHADOW_IPT = 6,
};

/** PendingEvent0 value injecting exception `vector` (e.g. #GP = 13) on next VTL0 entry. */
static inline union hv_register_value hv_pending_exception_make(uint8_t vector, bool deliver_error_code,
								uint32_t error_code, uint64_t parameter)
{
	union hv_register_value v = { .bytes = { 0 } };
	v.low = HV_PENDING_EVENT_PENDING |
		((uint64_t)HV_PENDING_EVENT_TYPE_EXCEPTION << HV_PENDING_EVENT_TYPE_SHIFT) |
		(deliver_error_code ? HV_PENDING_EVENT_DELIVER_ERROR_CODE : 0) |
		((uint64_t)vector << HV_PENDING_EVENT_VECTOR_SHIFT) |
		((uint64_t)error_code << HV_PENDING_EVENT_ERROR_CODE_SHIFT);
	v.high = parameter;
	return v;
}

/* PendingInterruption (u64, 2.5). */
#define HV_PENDING_INTR_PENDING                 (1ull << 0)
#define HV_PENDING_INTR_TYPE_SHIFT              1
#define HV_PENDING_INTR_TYPE_MASK               (0x7ull << 1)
#define HV_PENDING_INTR_DELIVER_ERROR_CODE      (1ull << 4)
#define HV_PENDING_INTR_INSN_LEN_SHIFT          5
#define HV_PENDING_INTR_INSN_LEN_MASK           (0xFull << 5)
#define HV_PENDING_INTR_NESTED_EVENT            (1ull << 9)
#define HV_PENDING_INTR_VECTOR_SHIFT            16
#define HV_PENDING_INTR_VECTOR_MASK             (0xFFFFull << 16)
#define HV_PENDING_INTR_ERROR_CODE_SHIFT        32
#define HV_PENDING_INTR_ERROR_CODE_MASK         (0xFFFFFFFFull << 32)
enum {
	HV_X64_PENDING_EXT_INT = 0,
	HV_X64_PENDING_NMI = 2,
	HV_X64_PENDING_HW_EXCEPTION = 3,
	HV_X64_PENDING_SW_INTERRUPT = 4,
	HV_X64_PENDING_PRIV_SW_EXCEPTION = 5,
	HV_X64_PENDING_SW_EXCEPTION = 6,
};

/** PendingInterruption register value. `type` is HV_X64_PENDING_*. */
static inline uint64_t hv_pending_interruption_make(unsigned type, uint8_t vector, bool deliver_error_code,
						    uint32_t error_code, unsigned insn_len)
{
	return HV_PENDING_INTR_PENDING |
	       (((uint64_t)type << HV_PENDING_INTR_TYPE_SHIFT) & HV_PENDING_INTR_TYPE_MASK) |
	       (deliver_error_code ? HV_PENDING_INTR_DELIVER_ERROR_CODE : 0) |
	       (((uint64_t)insn_len << HV_PENDING_INTR_INSN_LEN_SHIFT) & HV_PENDING_INTR_INSN_LEN_MASK) |
	       ((uint64_t)vector << HV_PENDING_INTR_VECTOR_SHIFT) |
	       ((uint64_t)error_code << HV_PENDING_INTR_ERROR_CODE_SHIFT);
}

/* InterruptState (2.5). */
#define HV_INTERRUPT_STATE_INTERRUPT_SHADOW     (1ull << 0)
#define HV_INTERRUPT_STATE_NMI_MASKED           (1ull << 1)

/* DeliverabilityNotifications (2.5). */
#define HV_DELIVERABILITY_NMI                   (1ull << 0)
#define HV_DELIVERABILITY_INTERRUPT             (1ull << 1)
#define HV_DELIVERABILITY_PRIORITY_SHIFT        2
#define HV_DELIVERABILITY_PRIORITY_MASK         (0xFull << 2)
#define HV_DELIVERABILITY_SINTS_SHIFT           48
#define HV_DELIVERABILITY_SINTS_MASK            (0xFFFFull << 48)

/* InternalActivityState (2.5). */
#define HV_ACTIVITY_STARTUP_SUSPEND             (1ull << 0)
#define HV_ACTIVITY_HALT_SUSPEND                (1ull << 1)
#define HV_ACTIVITY_IDLE_SUSPEND                (1ull << 2)

/* ------------------------------------------------------------------------------------------ */
/* 2.3 SynIC messages                                                                         */
/* ------------------------------------------------------------------------------------------ */

#define HV_MESSAGE_SIZE          256u
#define HV_MESSAGE_PAYLOAD_SIZE  240u
#define HV_MESSAGE_FLAG_PENDING  0x01u
#define HV_MESSAGE_SENDER_PORT_MASK 0xFFFFFFull

/* Message types (u32). Defines, not an enum: values above INT_MAX. */
#define HVMSG_NONE                              0x00000000u
#define HVMSG_VMBUS                             0x00000001u
#define HVMSG_UNMAPPED_GPA                      0x80000000u
#define HVMSG_GPA_INTERCEPT                     0x80000001u
#define HVMSG_UNACCEPTED_GPA                    0x80000003u
#define HVMSG_GPA_ATTRIBUTE_INTERCEPT           0x80000004u
#define HVMSG_ENABLE_PARTITION_VTL_INTERCEPT    0x80000005u
#define HVMSG_TIMER_EXPIRED                     0x80000010u
#define HVMSG_INVALID_VP_REGISTER_VALUE         0x80000020u
#define HVMSG_UNRECOVERABLE_EXCEPTION           0x80000021u
#define HVMSG_UNSUPPORTED_FEATURE               0x80000022u
#define HVMSG_TLB_PAGE_SIZE_MISMATCH            0x80000023u
#define HVMSG_IOMMU_FAULT                       0x80000024u
#define HVMSG_OPAQUE_INTERCEPT                  0x8000003Fu
#define HVMSG_EVENT_LOG_BUFFER_COMPLETE         0x80000040u
#define HVMSG_HYPERCALL_INTERCEPT               0x80000050u
#define HVMSG_SYNIC_EVENT_INTERCEPT             0x80000060u
#define HVMSG_SYNIC_SINT_INTERCEPT              0x80000061u
#define HVMSG_SYNIC_SINT_DELIVERABLE            0x80000062u
#define HVMSG_ASYNC_CALL_COMPLETION             0x80000070u
#define HVMSG_X64_IO_PORT_INTERCEPT             0x80010000u
#define HVMSG_X64_MSR_INTERCEPT                 0x80010001u
#define HVMSG_X64_CPUID_INTERCEPT               0x80010002u
#define HVMSG_X64_EXCEPTION_INTERCEPT           0x80010003u
#define HVMSG_X64_APIC_EOI                      0x80010004u
/* 0x80010005: IommuPrq (openvmm) vs LegacyFpError (Linux); doc 2.3 marks it conflicting. */
#define HVMSG_X64_IOMMU_PRQ                     0x80010005u
#define HVMSG_X64_LEGACY_FP_ERROR               0x80010005u
/* 0x80010006: RegisterIntercept per openvmm (Linux says IommuPrq); we follow openvmm. */
#define HVMSG_X64_REGISTER_INTERCEPT            0x80010006u
#define HVMSG_X64_HALT                          0x80010007u
#define HVMSG_X64_INTERRUPTION_DELIVERABLE      0x80010008u
#define HVMSG_X64_SIPI_INTERCEPT                0x80010009u
#define HVMSG_X64_RDTSC_INTERCEPT               0x8001000Au
#define HVMSG_X64_APIC_SMI_INTERCEPT            0x8001000Bu
#define HVMSG_ARM64_RESET_INTERCEPT             0x8001000Cu
#define HVMSG_X64_APIC_INIT_SIPI_INTERCEPT      0x8001000Du
#define HVMSG_X64_APIC_WRITE_INTERCEPT          0x8001000Eu
#define HVMSG_X64_PROXY_INTERRUPT_INTERCEPT     0x8001000Fu
#define HVMSG_X64_ISOLATION_CTRL_REG_INTERCEPT  0x80010010u
#define HVMSG_X64_SNP_GUEST_REQUEST_INTERCEPT   0x80010011u
#define HVMSG_X64_EXCEPTION_TRAP_INTERCEPT      0x80010012u
#define HVMSG_X64_SEV_VMGEXIT_INTERCEPT         0x80010013u

struct hv_message_header {
	uint32_t message_type;
	uint8_t payload_size;
	uint8_t flags;
	uint16_t reserved;
	uint64_t sender;
};
_Static_assert(sizeof(struct hv_message_header) == 16, "hyperv-abi-facts 2.3: message header 16 B");
_Static_assert(offsetof(struct hv_message_header, message_type) == 0, "hyperv-abi-facts 2.3: message_type at 0");
_Static_assert(offsetof(struct hv_message_header, payload_size) == 4, "hyperv-abi-facts 2.3: payload_size at 4");
_Static_assert(offsetof(struct hv_message_header, flags) == 5, "hyperv-abi-facts 2.3: flags at 5");
_Static_assert(offsetof(struct hv_message_header, reserved) == 6, "hyperv-abi-facts 2.3: reserved at 6");
_Static_assert(offsetof(struct hv_message_header, sender) == 8, "hyperv-abi-facts 2.3: sender at 8");

/** SynIC message (256 B, 16-byte aligned). */
struct hv_message {
	_Alignas(16) struct hv_message_header header;
	uint8_t payload[HV_MESSAGE_PAYLOAD_SIZE];
};
_Static_assert(sizeof(struct hv_message) == 256, "hyperv-abi-facts 2.3: hv_message 256 B");
_Static_assert(_Alignof(struct hv_message) == 16, "hyperv-abi-facts 2.3: hv_message 16-byte aligned");
_Static_assert(offsetof(struct hv_message, header) == 0, "hyperv-abi-facts 2.3: header at 0");
_Static_assert(offsetof(struct hv_message, payload) == 16, "hyperv-abi-facts 2.3: payload at 16");

/** Timer expired message payload (2.3). */
struct hv_timer_message_payload {
	uint32_t timer_index;
	uint32_t reserved;
	uint64_t expiration_time;
	uint64_t delivery_time;
};
_Static_assert(sizeof(struct hv_timer_message_payload) == 24, "hyperv-abi-facts 2.3: timer payload 24 B");
_Static_assert(offsetof(struct hv_timer_message_payload, timer_index) == 0, "hyperv-abi-facts 2.3: timer_index at 0");
_Static_assert(offsetof(struct hv_timer_message_payload, reserved) == 4, "hyperv-abi-facts 2.3: timer rsvd at 4");
_Static_assert(offsetof(struct hv_timer_message_payload, expiration_time) == 8, "hyperv-abi-facts 2.3: expiration at 8");
_Static_assert(offsetof(struct hv_timer_message_payload, delivery_time) == 16, "hyperv-abi-facts 2.3: delivery at 16");

/* ------------------------------------------------------------------------------------------ */
/* 2.4 x64 intercept messages (offsets within the 240-byte payload)                           */
/* ------------------------------------------------------------------------------------------ */

/* intercept_access_type */
#define HV_INTERCEPT_ACCESS_READ     0u
#define HV_INTERCEPT_ACCESS_WRITE    1u
#define HV_INTERCEPT_ACCESS_EXECUTE  2u

/* instruction_length_cr8 byte */
#define HV_X64_INTERCEPT_INSN_LEN_MASK 0x0Fu
#define HV_X64_INTERCEPT_CR8_SHIFT     4
#define HV_X64_INTERCEPT_CR8_MASK      0xF0u

/* execution_state (u16) */
#define HV_X64_EXEC_STATE_CPL_MASK                   0x0003u
#define HV_X64_EXEC_STATE_CR0_PE                     0x0004u
#define HV_X64_EXEC_STATE_CR0_AM                     0x0008u
#define HV_X64_EXEC_STATE_EFER_LMA                   0x0010u
#define HV_X64_EXEC_STATE_DEBUG_ACTIVE               0x0020u
#define HV_X64_EXEC_STATE_INTERRUPTION_PENDING       0x0040u
#define HV_X64_EXEC_STATE_VTL_SHIFT                  7
#define HV_X64_EXEC_STATE_VTL_MASK                   0x0780u
#define HV_X64_EXEC_STATE_ENCLAVE_MODE               0x0800u
#define HV_X64_EXEC_STATE_INTERRUPT_SHADOW           0x1000u
#define HV_X64_EXEC_STATE_VIRTUALIZATION_FAULT_ACTIVE 0x2000u
#define HV_X64_EXEC_STATE_RESERVED_MASK              0xC000u

/** Common intercept header (40 B). */
struct hv_x64_intercept_header {
	uint32_t vp_index;
	uint8_t instruction_length_cr8;
	uint8_t intercept_access_type;
	uint16_t execution_state;
	struct hv_x64_segment_register cs;
	uint64_t rip;
	uint64_t rflags;
};
_Static_assert(sizeof(struct hv_x64_intercept_header) == 40, "hyperv-abi-facts 2.4: intercept header 40 B");
_Static_assert(offsetof(struct hv_x64_intercept_header, vp_index) == 0, "hyperv-abi-facts 2.4: vp_index at 0");
_Static_assert(offsetof(struct hv_x64_intercept_header, instruction_length_cr8) == 4, "hyperv-abi-facts 2.4: insn len at 4");
_Static_assert(offsetof(struct hv_x64_intercept_header, intercept_access_type) == 5, "hyperv-abi-facts 2.4: access type at 5");
_Static_assert(offsetof(struct hv_x64_intercept_header, execution_state) == 6, "hyperv-abi-facts 2.4: exec state at 6");
_Static_assert(offsetof(struct hv_x64_intercept_header, cs) == 8, "hyperv-abi-facts 2.4: CS at 8");
_Static_assert(offsetof(struct hv_x64_intercept_header, rip) == 24, "hyperv-abi-facts 2.4: RIP at 24");
_Static_assert(offsetof(struct hv_x64_intercept_header, rflags) == 32, "hyperv-abi-facts 2.4: RFLAGS at 32");

/* IO port access_info */
#define HV_X64_IO_ACCESS_SIZE_MASK   0x07u
#define HV_X64_IO_ACCESS_STRING      0x08u
#define HV_X64_IO_ACCESS_REP         0x10u
#define HV_X64_MAX_INSTRUCTION_BYTES 16u

/** IO port intercept (0x80010000), 128 B. */
struct hv_x64_io_port_intercept_message {
	struct hv_x64_intercept_header header;
	uint16_t port_number;
	uint8_t access_info;
	uint8_t instruction_byte_count;
	uint32_t reserved;
	uint64_t rax;
	uint8_t instruction_bytes[16];
	struct hv_x64_segment_register ds;
	struct hv_x64_segment_register es;
	uint64_t rcx;
	uint64_t rsi;
	uint64_t rdi;
};
_Static_assert(sizeof(struct hv_x64_io_port_intercept_message) == 128, "hyperv-abi-facts 2.4: IO port intercept 128 B");
_Static_assert(offsetof(struct hv_x64_io_port_intercept_message, port_number) == 40, "hyperv-abi-facts 2.4: IO port at 40");
_Static_assert(offsetof(struct hv_x64_io_port_intercept_message, access_info) == 42, "hyperv-abi-facts 2.4: IO access_info at 42");
_Static_assert(offsetof(struct hv_x64_io_port_intercept_message, instruction_byte_count) == 43, "hyperv-abi-facts 2.4: IO insn count at 43");
_Static_assert(offsetof(struct hv_x64_io_port_intercept_message, reserved) == 44, "hyperv-abi-facts 2.4: IO rsvd at 44");
_Static_assert(offsetof(struct hv_x64_io_port_intercept_message, rax) == 48, "hyperv-abi-facts 2.4: IO port intercept rax at 48");
_Static_assert(offsetof(struct hv_x64_io_port_intercept_message, instruction_bytes) == 56, "hyperv-abi-facts 2.4: IO insn bytes at 56");
_Static_assert(offsetof(struct hv_x64_io_port_intercept_message, ds) == 72, "hyperv-abi-facts 2.4: IO DS at 72");
_Static_assert(offsetof(struct hv_x64_io_port_intercept_message, es) == 88, "hyperv-abi-facts 2.4: IO ES at 88");
_Static_assert(offsetof(struct hv_x64_io_port_intercept_message, rcx) == 104, "hyperv-abi-facts 2.4: IO rcx at 104");
_Static_assert(offsetof(struct hv_x64_io_port_intercept_message, rsi) == 112, "hyperv-abi-facts 2.4: IO rsi at 112");
_Static_assert(offsetof(struct hv_x64_io_port_intercept_message, rdi) == 120, "hyperv-abi-facts 2.4: IO rdi at 120");

/* Memory intercept access_info */
#define HV_X64_MEM_ACCESS_GVA_VALID                0x01u
#define HV_X64_MEM_ACCESS_GVA_GPA_VALID            0x02u
#define HV_X64_MEM_ACCESS_HYPERCALL_OUTPUT_PENDING 0x04u
#define HV_X64_MEM_ACCESS_TLB_LOCKED               0x08u
#define HV_X64_MEM_ACCESS_SUPERVISOR_SHADOW_STACK  0x10u

/* Cache types (memory intercept cache_type, translate result bits 32-39). */
#define HV_CACHE_TYPE_UC 0u
#define HV_CACHE_TYPE_WC 1u
#define HV_CACHE_TYPE_WT 4u
#define HV_CACHE_TYPE_WP 5u
#define HV_CACHE_TYPE_WB 6u

/** Memory intercept: UnmappedGpa, GpaIntercept, UnacceptedGpa (80 B). */
struct hv_x64_memory_intercept_message {
	struct hv_x64_intercept_header header;
	uint32_t cache_type;
	uint8_t instruction_byte_count;
	uint8_t memory_access_info;
	uint8_t tpr_priority;
	uint8_t reserved;
	uint64_t guest_virtual_address;
	uint64_t guest_physical_address;
	uint8_t instruction_bytes[16];
};
_Static_assert(sizeof(struct hv_x64_memory_intercept_message) == 80, "hyperv-abi-facts 2.4: memory intercept 80 B");
_Static_assert(offsetof(struct hv_x64_memory_intercept_message, cache_type) == 40, "hyperv-abi-facts 2.4: mem cache_type at 40");
_Static_assert(offsetof(struct hv_x64_memory_intercept_message, instruction_byte_count) == 44, "hyperv-abi-facts 2.4: mem insn count at 44");
_Static_assert(offsetof(struct hv_x64_memory_intercept_message, memory_access_info) == 45, "hyperv-abi-facts 2.4: mem access_info at 45");
_Static_assert(offsetof(struct hv_x64_memory_intercept_message, tpr_priority) == 46, "hyperv-abi-facts 2.4: mem tpr at 46");
_Static_assert(offsetof(struct hv_x64_memory_intercept_message, reserved) == 47, "hyperv-abi-facts 2.4: mem rsvd at 47");
_Static_assert(offsetof(struct hv_x64_memory_intercept_message, guest_virtual_address) == 48, "hyperv-abi-facts 2.4: mem GVA at 48");
_Static_assert(offsetof(struct hv_x64_memory_intercept_message, guest_physical_address) == 56, "hyperv-abi-facts 2.4: mem GPA at 56");
_Static_assert(offsetof(struct hv_x64_memory_intercept_message, instruction_bytes) == 64, "hyperv-abi-facts 2.4: mem insn bytes at 64");

/** MSR intercept (0x80010001), 64 B. */
struct hv_x64_msr_intercept_message {
	struct hv_x64_intercept_header header;
	uint32_t msr_number;
	uint32_t reserved;
	uint64_t rdx;
	uint64_t rax;
};
_Static_assert(sizeof(struct hv_x64_msr_intercept_message) == 64, "hyperv-abi-facts 2.4: MSR intercept 64 B");
_Static_assert(offsetof(struct hv_x64_msr_intercept_message, msr_number) == 40, "hyperv-abi-facts 2.4: MSR number at 40");
_Static_assert(offsetof(struct hv_x64_msr_intercept_message, reserved) == 44, "hyperv-abi-facts 2.4: MSR rsvd at 44");
_Static_assert(offsetof(struct hv_x64_msr_intercept_message, rdx) == 48, "hyperv-abi-facts 2.4: MSR rdx at 48");
_Static_assert(offsetof(struct hv_x64_msr_intercept_message, rax) == 56, "hyperv-abi-facts 2.4: MSR rax at 56");

/** CPUID intercept (0x80010002), 104 B. */
struct hv_x64_cpuid_intercept_message {
	struct hv_x64_intercept_header header;
	uint64_t rax;
	uint64_t rcx;
	uint64_t rdx;
	uint64_t rbx;
	uint64_t default_result_rax;
	uint64_t default_result_rcx;
	uint64_t default_result_rdx;
	uint64_t default_result_rbx;
};
_Static_assert(sizeof(struct hv_x64_cpuid_intercept_message) == 104, "hyperv-abi-facts 2.4: CPUID intercept 104 B");
_Static_assert(offsetof(struct hv_x64_cpuid_intercept_message, rax) == 40, "hyperv-abi-facts 2.4: CPUID rax at 40");
_Static_assert(offsetof(struct hv_x64_cpuid_intercept_message, rcx) == 48, "hyperv-abi-facts 2.4: CPUID rcx at 48");
_Static_assert(offsetof(struct hv_x64_cpuid_intercept_message, rdx) == 56, "hyperv-abi-facts 2.4: CPUID rdx at 56");
_Static_assert(offsetof(struct hv_x64_cpuid_intercept_message, rbx) == 64, "hyperv-abi-facts 2.4: CPUID rbx at 64");
_Static_assert(offsetof(struct hv_x64_cpuid_intercept_message, default_result_rax) == 72, "hyperv-abi-facts 2.4: CPUID default rax at 72");
_Static_assert(offsetof(struct hv_x64_cpuid_intercept_message, default_result_rcx) == 80, "hyperv-abi-facts 2.4: CPUID default rcx at 80");
_Static_assert(offsetof(struct hv_x64_cpuid_intercept_message, default_result_rdx) == 88, "hyperv-abi-facts 2.4: CPUID default rdx at 88");
_Static_assert(offsetof(struct hv_x64_cpuid_intercept_message, default_result_rbx) == 96, "hyperv-abi-facts 2.4: CPUID default rbx at 96");

/* Exception intercept exception_info */
#define HV_X64_EXCEPTION_INFO_ERROR_CODE_VALID   0x01u
#define HV_X64_EXCEPTION_INFO_SOFTWARE_EXCEPTION 0x02u

/** Exception intercept (0x80010003), 240 B. */
struct hv_x64_exception_intercept_message {
	struct hv_x64_intercept_header header;
	uint16_t exception_vector;
	uint8_t exception_info;
	uint8_t instruction_byte_count;
	uint32_t error_code;
	uint64_t exception_parameter;
	uint64_t reserved;
	uint8_t instruction_bytes[16];
	struct hv_x64_segment_register ds;
	struct hv_x64_segment_register ss;
	uint64_t rax;
	uint64_t rcx;
	uint64_t rdx;
	uint64_t rbx;
	uint64_t rsp;
	uint64_t rbp;
	uint64_t rsi;
	uint64_t rdi;
	uint64_t r8;
	uint64_t r9;
	uint64_t r10;
	uint64_t r11;
	uint64_t r12;
	uint64_t r13;
	uint64_t r14;
	uint64_t r15;
};
_Static_assert(sizeof(struct hv_x64_exception_intercept_message) == 240, "hyperv-abi-facts 2.4: exception intercept 240 B");
_Static_assert(offsetof(struct hv_x64_exception_intercept_message, exception_vector) == 40, "hyperv-abi-facts 2.4: exc vector at 40");
_Static_assert(offsetof(struct hv_x64_exception_intercept_message, exception_info) == 42, "hyperv-abi-facts 2.4: exc info at 42");
_Static_assert(offsetof(struct hv_x64_exception_intercept_message, instruction_byte_count) == 43, "hyperv-abi-facts 2.4: exc insn count at 43");
_Static_assert(offsetof(struct hv_x64_exception_intercept_message, error_code) == 44, "hyperv-abi-facts 2.4: exc error code at 44");
_Static_assert(offsetof(struct hv_x64_exception_intercept_message, exception_parameter) == 48, "hyperv-abi-facts 2.4: exc parameter at 48");
_Static_assert(offsetof(struct hv_x64_exception_intercept_message, reserved) == 56, "hyperv-abi-facts 2.4: exc rsvd at 56");
_Static_assert(offsetof(struct hv_x64_exception_intercept_message, instruction_bytes) == 64, "hyperv-abi-facts 2.4: exc insn bytes at 64");
_Static_assert(offsetof(struct hv_x64_exception_intercept_message, ds) == 80, "hyperv-abi-facts 2.4: exc DS at 80");
_Static_assert(offsetof(struct hv_x64_exception_intercept_message, ss) == 96, "hyperv-abi-facts 2.4: exc SS at 96");
_Static_assert(offsetof(struct hv_x64_exception_intercept_message, rax) == 112, "hyperv-abi-facts 2.4: exc rax at 112");
_Static_assert(offsetof(struct hv_x64_exception_intercept_message, rcx) == 120, "hyperv-abi-facts 2.4: exc rcx at 120");
_Static_assert(offsetof(struct hv_x64_exception_intercept_message, rdx) == 128, "hyperv-abi-facts 2.4: exc rdx at 128");
_Static_assert(offsetof(struct hv_x64_exception_intercept_message, rbx) == 136, "hyperv-abi-facts 2.4: exc rbx at 136");
_Static_assert(offsetof(struct hv_x64_exception_intercept_message, rsp) == 144, "hyperv-abi-facts 2.4: exc rsp at 144");
_Static_assert(offsetof(struct hv_x64_exception_intercept_message, rbp) == 152, "hyperv-abi-facts 2.4: exc rbp at 152");
_Static_assert(offsetof(struct hv_x64_exception_intercept_message, rsi) == 160, "hyperv-abi-facts 2.4: exc rsi at 160");
_Static_assert(offsetof(struct hv_x64_exception_intercept_message, rdi) == 168, "hyperv-abi-facts 2.4: exc rdi at 168");
_Static_assert(offsetof(struct hv_x64_exception_intercept_message, r8) == 176, "hyperv-abi-facts 2.4: exc r8 at 176");
_Static_assert(offsetof(struct hv_x64_exception_intercept_message, r9) == 184, "hyperv-abi-facts 2.4: exc r9 at 184");
_Static_assert(offsetof(struct hv_x64_exception_intercept_message, r10) == 192, "hyperv-abi-facts 2.4: exc r10 at 192");
_Static_assert(offsetof(struct hv_x64_exception_intercept_message, r11) == 200, "hyperv-abi-facts 2.4: exc r11 at 200");
_Static_assert(offsetof(struct hv_x64_exception_intercept_message, r12) == 208, "hyperv-abi-facts 2.4: exc r12 at 208");
_Static_assert(offsetof(struct hv_x64_exception_intercept_message, r13) == 216, "hyperv-abi-facts 2.4: exc r13 at 216");
_Static_assert(offsetof(struct hv_x64_exception_intercept_message, r14) == 224, "hyperv-abi-facts 2.4: exc r14 at 224");
_Static_assert(offsetof(struct hv_x64_exception_intercept_message, r15) == 232, "hyperv-abi-facts 2.4: exc r15 at 232");

#define HV_HYPERCALL_INTERCEPT_IS_ISOLATED 0x1u
/** Length of VMCALL / VMMCALL: RIP advance after emulating an intercepted hypercall (2.1). */
#define HV_HYPERCALL_INSN_LEN 3u

/** Hypercall intercept (0x80000050), 208 B. */
struct hv_x64_hypercall_intercept_message {
	struct hv_x64_intercept_header header;
	uint64_t rax;
	uint64_t rbx;
	uint64_t rcx;
	uint64_t rdx;
	uint64_t r8;
	uint64_t rsi;
	uint64_t rdi;
	struct hv_u128 xmm[6];
	uint32_t flags;
	uint32_t reserved[3];
};
_Static_assert(sizeof(struct hv_x64_hypercall_intercept_message) == 208, "hyperv-abi-facts 2.4: hypercall intercept 208 B");
_Static_assert(offsetof(struct hv_x64_hypercall_intercept_message, rax) == 40, "hyperv-abi-facts 2.4: hc rax at 40");
_Static_assert(offsetof(struct hv_x64_hypercall_intercept_message, rbx) == 48, "hyperv-abi-facts 2.4: hc rbx at 48");
_Static_assert(offsetof(struct hv_x64_hypercall_intercept_message, rcx) == 56, "hyperv-abi-facts 2.4: hc rcx at 56");
_Static_assert(offsetof(struct hv_x64_hypercall_intercept_message, rdx) == 64, "hyperv-abi-facts 2.4: hc rdx at 64");
_Static_assert(offsetof(struct hv_x64_hypercall_intercept_message, r8) == 72, "hyperv-abi-facts 2.4: hc r8 at 72");
_Static_assert(offsetof(struct hv_x64_hypercall_intercept_message, rsi) == 80, "hyperv-abi-facts 2.4: hc rsi at 80");
_Static_assert(offsetof(struct hv_x64_hypercall_intercept_message, rdi) == 88, "hyperv-abi-facts 2.4: hc rdi at 88");
_Static_assert(offsetof(struct hv_x64_hypercall_intercept_message, xmm) == 96, "hyperv-abi-facts 2.4: hc xmm0 at 96");
_Static_assert(offsetof(struct hv_x64_hypercall_intercept_message, flags) == 192, "hyperv-abi-facts 2.4: hc flags at 192");
_Static_assert(offsetof(struct hv_x64_hypercall_intercept_message, reserved) == 196, "hyperv-abi-facts 2.4: hc rsvd at 196");

/** Halt (0x80010007) and UnrecoverableException (0x80000021): header only, 40 B. */
struct hv_x64_halt_message {
	struct hv_x64_intercept_header header;
};
_Static_assert(sizeof(struct hv_x64_halt_message) == 40, "hyperv-abi-facts 2.4: halt 40 B");
struct hv_x64_unrecoverable_exception_message {
	struct hv_x64_intercept_header header;
};
_Static_assert(sizeof(struct hv_x64_unrecoverable_exception_message) == 40, "hyperv-abi-facts 2.4: unrecoverable 40 B");

#define HV_X64_REGISTER_INTERCEPT_IS_MEMORY_OP 0x01u

/** Register intercept (0x80010006 per openvmm), 64 B. */
struct hv_x64_register_intercept_message {
	struct hv_x64_intercept_header header;
	uint8_t flags;
	uint8_t reserved8;
	uint16_t reserved16;
	uint32_t register_name;
	union hv_register_value value;
};
_Static_assert(sizeof(struct hv_x64_register_intercept_message) == 64, "hyperv-abi-facts 2.4: register intercept 64 B");
_Static_assert(offsetof(struct hv_x64_register_intercept_message, flags) == 40, "hyperv-abi-facts 2.4: reg flags at 40");
_Static_assert(offsetof(struct hv_x64_register_intercept_message, reserved8) == 41, "hyperv-abi-facts 2.4: reg rsvd8 at 41");
_Static_assert(offsetof(struct hv_x64_register_intercept_message, reserved16) == 42, "hyperv-abi-facts 2.4: reg rsvd16 at 42");
_Static_assert(offsetof(struct hv_x64_register_intercept_message, register_name) == 44, "hyperv-abi-facts 2.4: reg name at 44");
_Static_assert(offsetof(struct hv_x64_register_intercept_message, value) == 48, "hyperv-abi-facts 2.4: reg value at 48");

/** SynicSintDeliverable (0x80000062), 48 B. */
struct hv_x64_sint_deliverable_message {
	struct hv_x64_intercept_header header;
	uint16_t deliverable_sints;
	uint16_t reserved1;
	uint32_t reserved2;
};
_Static_assert(sizeof(struct hv_x64_sint_deliverable_message) == 48, "hyperv-abi-facts 2.4: sint deliverable 48 B");
_Static_assert(offsetof(struct hv_x64_sint_deliverable_message, deliverable_sints) == 40, "hyperv-abi-facts 2.4: sints at 40");
_Static_assert(offsetof(struct hv_x64_sint_deliverable_message, reserved1) == 42, "hyperv-abi-facts 2.4: sint rsvd1 at 42");
_Static_assert(offsetof(struct hv_x64_sint_deliverable_message, reserved2) == 44, "hyperv-abi-facts 2.4: sint rsvd2 at 44");

/* Interruption deliverable types */
#define HV_X64_DELIVERABLE_TYPE_INTR 0u
#define HV_X64_DELIVERABLE_TYPE_NMI  2u

/** InterruptionDeliverable (0x80010008), 48 B. */
struct hv_x64_interruption_deliverable_message {
	struct hv_x64_intercept_header header;
	uint8_t deliverable_type;
	uint8_t reserved[3];
	uint32_t reserved2;
};
_Static_assert(sizeof(struct hv_x64_interruption_deliverable_message) == 48, "hyperv-abi-facts 2.4: interruption deliverable 48 B");
_Static_assert(offsetof(struct hv_x64_interruption_deliverable_message, deliverable_type) == 40, "hyperv-abi-facts 2.4: deliverable type at 40");
_Static_assert(offsetof(struct hv_x64_interruption_deliverable_message, reserved) == 41, "hyperv-abi-facts 2.4: deliverable rsvd at 41");
_Static_assert(offsetof(struct hv_x64_interruption_deliverable_message, reserved2) == 44, "hyperv-abi-facts 2.4: deliverable rsvd2 at 44");

/** SIPI intercept (0x80010009), 48 B. */
struct hv_x64_sipi_intercept_message {
	struct hv_x64_intercept_header header;
	uint32_t target_vp_index;
	uint32_t interrupt_vector;
};
_Static_assert(sizeof(struct hv_x64_sipi_intercept_message) == 48, "hyperv-abi-facts 2.4: SIPI 48 B");
_Static_assert(offsetof(struct hv_x64_sipi_intercept_message, target_vp_index) == 40, "hyperv-abi-facts 2.4: SIPI target at 40");
_Static_assert(offsetof(struct hv_x64_sipi_intercept_message, interrupt_vector) == 44, "hyperv-abi-facts 2.4: SIPI vector at 44");

/** APIC EOI (0x80010004), no common header, 8 B. */
struct hv_x64_apic_eoi_message {
	uint32_t vp_index;
	uint32_t interrupt_vector;
};
_Static_assert(sizeof(struct hv_x64_apic_eoi_message) == 8, "hyperv-abi-facts 2.4: APIC EOI 8 B");
_Static_assert(offsetof(struct hv_x64_apic_eoi_message, vp_index) == 0, "hyperv-abi-facts 2.4: EOI vp at 0");
_Static_assert(offsetof(struct hv_x64_apic_eoi_message, interrupt_vector) == 4, "hyperv-abi-facts 2.4: EOI vector at 4");

/** InvalidVpRegisterValue (0x80000020), no common header, 8 B. */
struct hv_x64_invalid_vp_register_message {
	uint32_t vp_index;
	uint32_t reserved;
};
_Static_assert(sizeof(struct hv_x64_invalid_vp_register_message) == 8, "hyperv-abi-facts 2.4: invalid VP register 8 B");
_Static_assert(offsetof(struct hv_x64_invalid_vp_register_message, vp_index) == 0, "hyperv-abi-facts 2.4: invalid reg vp at 0");
_Static_assert(offsetof(struct hv_x64_invalid_vp_register_message, reserved) == 4, "hyperv-abi-facts 2.4: invalid reg rsvd at 4");

/* ------------------------------------------------------------------------------------------ */
/* 1.4 Intercept register page (HvX64RegisterPage)                                            */
/* ------------------------------------------------------------------------------------------ */

#define HV_X64_REGISTER_PAGE_DIRTY_GP        0x01u
#define HV_X64_REGISTER_PAGE_DIRTY_RIP       0x02u
#define HV_X64_REGISTER_PAGE_DIRTY_XMM       0x04u
#define HV_X64_REGISTER_PAGE_DIRTY_SEGMENTS  0x08u
#define HV_X64_REGISTER_PAGE_DIRTY_FLAGS     0x10u

/* gp[] index (architectural order); only RSP is authoritative in the page. */
enum {
	HV_X64_REGISTER_PAGE_GP_RAX = 0, HV_X64_REGISTER_PAGE_GP_RCX, HV_X64_REGISTER_PAGE_GP_RDX,
	HV_X64_REGISTER_PAGE_GP_RBX, HV_X64_REGISTER_PAGE_GP_RSP, HV_X64_REGISTER_PAGE_GP_RBP,
	HV_X64_REGISTER_PAGE_GP_RSI, HV_X64_REGISTER_PAGE_GP_RDI,
};
/* segment[] index */
enum {
	HV_X64_REGISTER_PAGE_SEG_ES = 0, HV_X64_REGISTER_PAGE_SEG_CS, HV_X64_REGISTER_PAGE_SEG_SS,
	HV_X64_REGISTER_PAGE_SEG_DS, HV_X64_REGISTER_PAGE_SEG_FS, HV_X64_REGISTER_PAGE_SEG_GS,
};

struct hv_x64_register_page {
	uint16_t version;
	uint8_t is_valid;
	uint8_t vtl;
	uint32_t dirty;
	uint64_t gp[16];
	uint64_t rip;
	uint64_t rflags;
	uint64_t reserved1;
	struct hv_u128 xmm[6];
	struct hv_x64_segment_register segment[6];
	uint64_t cr0;
	uint64_t cr3;
	uint64_t cr4;
	uint64_t cr8;
	uint64_t efer;
	uint64_t dr7;
	uint64_t pending_interruption;
	uint64_t interrupt_state;
	uint64_t instruction_emulation_hints;
	uint8_t reserved2[4096 - 424];
};
_Static_assert(sizeof(struct hv_x64_register_page) == 4096, "hyperv-abi-facts 1.4: register page 4096 B");
_Static_assert(offsetof(struct hv_x64_register_page, version) == 0, "hyperv-abi-facts 1.4: version at 0");
_Static_assert(offsetof(struct hv_x64_register_page, is_valid) == 2, "hyperv-abi-facts 1.4: is_valid at 2");
_Static_assert(offsetof(struct hv_x64_register_page, vtl) == 3, "hyperv-abi-facts 1.4: vtl at 3");
_Static_assert(offsetof(struct hv_x64_register_page, dirty) == 4, "hyperv-abi-facts 1.4: dirty at 4");
_Static_assert(offsetof(struct hv_x64_register_page, gp) == 8, "hyperv-abi-facts 1.4: gp at 8");
_Static_assert(offsetof(struct hv_x64_register_page, rip) == 136, "hyperv-abi-facts 1.4: rip at 136");
_Static_assert(offsetof(struct hv_x64_register_page, rflags) == 144, "hyperv-abi-facts 1.4: rflags at 144");
_Static_assert(offsetof(struct hv_x64_register_page, reserved1) == 152, "hyperv-abi-facts 1.4: reserved at 152");
_Static_assert(offsetof(struct hv_x64_register_page, xmm) == 160, "hyperv-abi-facts 1.4: xmm at 160");
_Static_assert(offsetof(struct hv_x64_register_page, segment) == 256, "hyperv-abi-facts 1.4: segments at 256");
_Static_assert(offsetof(struct hv_x64_register_page, cr0) == 352, "hyperv-abi-facts 1.4: cr0 at 352");
_Static_assert(offsetof(struct hv_x64_register_page, cr3) == 360, "hyperv-abi-facts 1.4: cr3 at 360");
_Static_assert(offsetof(struct hv_x64_register_page, cr4) == 368, "hyperv-abi-facts 1.4: cr4 at 368");
_Static_assert(offsetof(struct hv_x64_register_page, cr8) == 376, "hyperv-abi-facts 1.4: cr8 at 376");
_Static_assert(offsetof(struct hv_x64_register_page, efer) == 384, "hyperv-abi-facts 1.4: efer at 384");
_Static_assert(offsetof(struct hv_x64_register_page, dr7) == 392, "hyperv-abi-facts 1.4: dr7 at 392");
_Static_assert(offsetof(struct hv_x64_register_page, pending_interruption) == 400, "hyperv-abi-facts 1.4: pending_interruption at 400");
_Static_assert(offsetof(struct hv_x64_register_page, interrupt_state) == 408, "hyperv-abi-facts 1.4: interrupt_state at 408");
_Static_assert(offsetof(struct hv_x64_register_page, instruction_emulation_hints) == 416, "hyperv-abi-facts 1.4: emulation hints at 416");
_Static_assert(offsetof(struct hv_x64_register_page, reserved2) == 424, "hyperv-abi-facts 1.4: reserved from 424");

/* ------------------------------------------------------------------------------------------ */
/* 2.7 VTL protection mask (HvMapGpaFlags)                                                    */
/* ------------------------------------------------------------------------------------------ */

#define HV_MAP_GPA_NONE                    0x00000000u
#define HV_MAP_GPA_READABLE                0x00000001u
#define HV_MAP_GPA_WRITABLE                0x00000002u
#define HV_MAP_GPA_KERNEL_EXECUTABLE       0x00000004u
#define HV_MAP_GPA_USER_EXECUTABLE         0x00000008u
#define HV_MAP_GPA_SUPERVISOR_SHADOW_STACK 0x00000010u
#define HV_MAP_GPA_PAGING_WRITABILITY      0x00000020u
#define HV_MAP_GPA_VERIFY_PAGING_WRITABILITY 0x00000040u
#define HV_MAP_GPA_ADJUSTABLE              0x00008000u
#define HV_MAP_GPA_ALL                     0x0000000Fu
/** Every flag bit defined by 2.7; anything else is reserved. */
#define HV_MAP_GPA_VALID_MASK              0x0000807Fu

/* ------------------------------------------------------------------------------------------ */
/* 2.2 InstallIntercept                                                                       */
/* ------------------------------------------------------------------------------------------ */

#define HV_INTERCEPT_ACCESS_MASK_NONE    0x0u
#define HV_INTERCEPT_ACCESS_MASK_READ    0x1u
#define HV_INTERCEPT_ACCESS_MASK_WRITE   0x2u
#define HV_INTERCEPT_ACCESS_MASK_EXECUTE 0x4u

enum hv_intercept_type {
	HV_INTERCEPT_TYPE_X64_IO_PORT = 0x0,
	HV_INTERCEPT_TYPE_X64_MSR = 0x1,
	HV_INTERCEPT_TYPE_X64_CPUID = 0x2,
	HV_INTERCEPT_TYPE_EXCEPTION = 0x3,
	HV_INTERCEPT_TYPE_HYPERCALL = 0x8,
	HV_INTERCEPT_TYPE_UNKNOWN_SYNIC_CONNECTION = 0xD,
	HV_INTERCEPT_TYPE_X64_APIC_EOI = 0xE,
	HV_INTERCEPT_TYPE_RETARGET_INTERRUPT_WITH_UNKNOWN_DEVICE_ID = 0xF,
	HV_INTERCEPT_TYPE_X64_IO_PORT_RANGE = 0x11,
};

/** Parameter of an X64IoPortRange intercept: ports first..last inclusive. */
static inline uint64_t hv_intercept_io_port_range(uint16_t first, uint16_t last)
{
	return (uint64_t)first | ((uint64_t)last << 16);
}

struct hv_input_install_intercept {
	uint64_t partition_id;
	uint32_t access_type_mask;
	uint32_t intercept_type;
	uint64_t intercept_parameter;
};
_Static_assert(sizeof(struct hv_input_install_intercept) == 24, "hyperv-abi-facts 2.2: InstallIntercept input 24 B");
_Static_assert(offsetof(struct hv_input_install_intercept, partition_id) == 0, "hyperv-abi-facts 2.2: II partition at 0");
_Static_assert(offsetof(struct hv_input_install_intercept, access_type_mask) == 8, "hyperv-abi-facts 2.2: II access mask at 8");
_Static_assert(offsetof(struct hv_input_install_intercept, intercept_type) == 12, "hyperv-abi-facts 2.2: II type at 12");
_Static_assert(offsetof(struct hv_input_install_intercept, intercept_parameter) == 16, "hyperv-abi-facts 2.2: II parameter at 16");

/* ------------------------------------------------------------------------------------------ */
/* 2.2 Hypercall input / output layouts                                                       */
/* ------------------------------------------------------------------------------------------ */

/** Get/SetVpRegisters fixed header (16 B); followed by u32 names (get) or assocs (set). */
struct hv_input_get_vp_registers {
	uint64_t partition_id;
	uint32_t vp_index;
	uint8_t input_vtl;
	uint8_t reserved8;
	uint16_t reserved16;
	uint32_t names[];
};
_Static_assert(sizeof(struct hv_input_get_vp_registers) == 16, "hyperv-abi-facts 2.2: GetVpRegisters header 16 B");
_Static_assert(offsetof(struct hv_input_get_vp_registers, partition_id) == 0, "hyperv-abi-facts 2.2: GVR partition at 0");
_Static_assert(offsetof(struct hv_input_get_vp_registers, vp_index) == 8, "hyperv-abi-facts 2.2: GVR vp at 8");
_Static_assert(offsetof(struct hv_input_get_vp_registers, input_vtl) == 12, "hyperv-abi-facts 2.2: GVR vtl at 12");
_Static_assert(offsetof(struct hv_input_get_vp_registers, reserved8) == 13, "hyperv-abi-facts 2.2: GVR rsvd at 13");
_Static_assert(offsetof(struct hv_input_get_vp_registers, names) == 16, "hyperv-abi-facts 2.2: GVR names at 16");

struct hv_input_set_vp_registers {
	uint64_t partition_id;
	uint32_t vp_index;
	uint8_t input_vtl;
	uint8_t reserved8;
	uint16_t reserved16;
	struct hv_register_assoc elements[];
};
_Static_assert(sizeof(struct hv_input_set_vp_registers) == 16, "hyperv-abi-facts 2.2: SetVpRegisters header 16 B");
_Static_assert(offsetof(struct hv_input_set_vp_registers, partition_id) == 0, "hyperv-abi-facts 2.2: SVR partition at 0");
_Static_assert(offsetof(struct hv_input_set_vp_registers, vp_index) == 8, "hyperv-abi-facts 2.2: SVR vp at 8");
_Static_assert(offsetof(struct hv_input_set_vp_registers, input_vtl) == 12, "hyperv-abi-facts 2.2: SVR vtl at 12");
_Static_assert(offsetof(struct hv_input_set_vp_registers, reserved8) == 13, "hyperv-abi-facts 2.2: SVR rsvd at 13");
_Static_assert(offsetof(struct hv_input_set_vp_registers, elements) == 16, "hyperv-abi-facts 2.2: SVR elements at 16");

/** ModifyVtlProtectionMask (rep: u64 GPNs). */
struct hv_input_modify_vtl_protection_mask {
	uint64_t partition_id;
	uint32_t map_flags;
	uint8_t target_vtl;
	uint8_t reserved[3];
	uint64_t gpa_page_list[];
};
_Static_assert(sizeof(struct hv_input_modify_vtl_protection_mask) == 16, "hyperv-abi-facts 2.2: MVPM header 16 B");
_Static_assert(offsetof(struct hv_input_modify_vtl_protection_mask, partition_id) == 0, "hyperv-abi-facts 2.2: MVPM partition at 0");
_Static_assert(offsetof(struct hv_input_modify_vtl_protection_mask, map_flags) == 8, "hyperv-abi-facts 2.2: MVPM flags at 8");
_Static_assert(offsetof(struct hv_input_modify_vtl_protection_mask, target_vtl) == 12, "hyperv-abi-facts 2.2: MVPM vtl at 12");
_Static_assert(offsetof(struct hv_input_modify_vtl_protection_mask, reserved) == 13, "hyperv-abi-facts 2.2: MVPM rsvd at 13");
_Static_assert(offsetof(struct hv_input_modify_vtl_protection_mask, gpa_page_list) == 16, "hyperv-abi-facts 2.2: MVPM list at 16");

#define HV_ENABLE_PARTITION_VTL_MBEC                    0x01u
#define HV_ENABLE_PARTITION_VTL_SUPERVISOR_SHADOW_STACK 0x02u
#define HV_ENABLE_PARTITION_VTL_HW_HVPT                 0x04u

struct hv_input_enable_partition_vtl {
	uint64_t partition_id;
	uint8_t target_vtl;
	uint8_t flags;
	uint16_t reserved16;
	uint32_t reserved32;
};
_Static_assert(sizeof(struct hv_input_enable_partition_vtl) == 16, "hyperv-abi-facts 2.2: EnablePartitionVtl 16 B");
_Static_assert(offsetof(struct hv_input_enable_partition_vtl, partition_id) == 0, "hyperv-abi-facts 2.2: EPV partition at 0");
_Static_assert(offsetof(struct hv_input_enable_partition_vtl, target_vtl) == 8, "hyperv-abi-facts 2.2: EPV vtl at 8");
_Static_assert(offsetof(struct hv_input_enable_partition_vtl, flags) == 9, "hyperv-abi-facts 2.2: EPV flags at 9");
_Static_assert(offsetof(struct hv_input_enable_partition_vtl, reserved16) == 10, "hyperv-abi-facts 2.2: EPV rsvd16 at 10");
_Static_assert(offsetof(struct hv_input_enable_partition_vtl, reserved32) == 12, "hyperv-abi-facts 2.2: EPV rsvd32 at 12");

/** InitialVpContext (x64, 224 B). */
struct hv_initial_vp_context {
	uint64_t rip;
	uint64_t rsp;
	uint64_t rflags;
	struct hv_x64_segment_register cs;
	struct hv_x64_segment_register ds;
	struct hv_x64_segment_register es;
	struct hv_x64_segment_register fs;
	struct hv_x64_segment_register gs;
	struct hv_x64_segment_register ss;
	struct hv_x64_segment_register tr;
	struct hv_x64_segment_register ldtr;
	struct hv_x64_table_register idtr;
	struct hv_x64_table_register gdtr;
	uint64_t efer;
	uint64_t cr0;
	uint64_t cr3;
	uint64_t cr4;
	uint64_t msr_cr_pat;
};
_Static_assert(sizeof(struct hv_initial_vp_context) == 224, "hyperv-abi-facts 2.2: InitialVpContext 224 B");
_Static_assert(offsetof(struct hv_initial_vp_context, rip) == 0, "hyperv-abi-facts 2.2: ctx rip at 0");
_Static_assert(offsetof(struct hv_initial_vp_context, rsp) == 8, "hyperv-abi-facts 2.2: ctx rsp at 8");
_Static_assert(offsetof(struct hv_initial_vp_context, rflags) == 16, "hyperv-abi-facts 2.2: ctx rflags at 16");
_Static_assert(offsetof(struct hv_initial_vp_context, cs) == 24, "hyperv-abi-facts 2.2: ctx cs at 24");
_Static_assert(offsetof(struct hv_initial_vp_context, ds) == 40, "hyperv-abi-facts 2.2: ctx ds at 40");
_Static_assert(offsetof(struct hv_initial_vp_context, es) == 56, "hyperv-abi-facts 2.2: ctx es at 56");
_Static_assert(offsetof(struct hv_initial_vp_context, fs) == 72, "hyperv-abi-facts 2.2: ctx fs at 72");
_Static_assert(offsetof(struct hv_initial_vp_context, gs) == 88, "hyperv-abi-facts 2.2: ctx gs at 88");
_Static_assert(offsetof(struct hv_initial_vp_context, ss) == 104, "hyperv-abi-facts 2.2: ctx ss at 104");
_Static_assert(offsetof(struct hv_initial_vp_context, tr) == 120, "hyperv-abi-facts 2.2: ctx tr at 120");
_Static_assert(offsetof(struct hv_initial_vp_context, ldtr) == 136, "hyperv-abi-facts 2.2: ctx ldtr at 136");
_Static_assert(offsetof(struct hv_initial_vp_context, idtr) == 152, "hyperv-abi-facts 2.2: ctx idtr at 152");
_Static_assert(offsetof(struct hv_initial_vp_context, gdtr) == 168, "hyperv-abi-facts 2.2: ctx gdtr at 168");
_Static_assert(offsetof(struct hv_initial_vp_context, efer) == 184, "hyperv-abi-facts 2.2: ctx efer at 184");
_Static_assert(offsetof(struct hv_initial_vp_context, cr0) == 192, "hyperv-abi-facts 2.2: ctx cr0 at 192");
_Static_assert(offsetof(struct hv_initial_vp_context, cr3) == 200, "hyperv-abi-facts 2.2: ctx cr3 at 200");
_Static_assert(offsetof(struct hv_initial_vp_context, cr4) == 208, "hyperv-abi-facts 2.2: ctx cr4 at 208");
_Static_assert(offsetof(struct hv_initial_vp_context, msr_cr_pat) == 216, "hyperv-abi-facts 2.2: ctx pat at 216");

struct hv_input_enable_vp_vtl {
	uint64_t partition_id;
	uint32_t vp_index;
	uint8_t target_vtl;
	uint8_t reserved[3];
	struct hv_initial_vp_context vp_context;
};
_Static_assert(sizeof(struct hv_input_enable_vp_vtl) == 240, "hyperv-abi-facts 2.2: EnableVpVtl 240 B");
_Static_assert(offsetof(struct hv_input_enable_vp_vtl, partition_id) == 0, "hyperv-abi-facts 2.2: EVV partition at 0");
_Static_assert(offsetof(struct hv_input_enable_vp_vtl, vp_index) == 8, "hyperv-abi-facts 2.2: EVV vp at 8");
_Static_assert(offsetof(struct hv_input_enable_vp_vtl, target_vtl) == 12, "hyperv-abi-facts 2.2: EVV vtl at 12");
_Static_assert(offsetof(struct hv_input_enable_vp_vtl, reserved) == 13, "hyperv-abi-facts 2.2: EVV rsvd at 13");
_Static_assert(offsetof(struct hv_input_enable_vp_vtl, vp_context) == 16, "hyperv-abi-facts 2.2: EVV context at 16");

struct hv_input_start_virtual_processor {
	uint64_t partition_id;
	uint32_t vp_index;
	uint8_t target_vtl;
	uint8_t reserved8;
	uint16_t reserved16;
	struct hv_initial_vp_context vp_context;
};
_Static_assert(sizeof(struct hv_input_start_virtual_processor) == 240, "hyperv-abi-facts 2.2: StartVirtualProcessor 240 B");
_Static_assert(offsetof(struct hv_input_start_virtual_processor, partition_id) == 0, "hyperv-abi-facts 2.2: SVP partition at 0");
_Static_assert(offsetof(struct hv_input_start_virtual_processor, vp_index) == 8, "hyperv-abi-facts 2.2: SVP vp at 8");
_Static_assert(offsetof(struct hv_input_start_virtual_processor, target_vtl) == 12, "hyperv-abi-facts 2.2: SVP vtl at 12");
_Static_assert(offsetof(struct hv_input_start_virtual_processor, reserved8) == 13, "hyperv-abi-facts 2.2: SVP rsvd8 at 13");
_Static_assert(offsetof(struct hv_input_start_virtual_processor, reserved16) == 14, "hyperv-abi-facts 2.2: SVP rsvd16 at 14");
_Static_assert(offsetof(struct hv_input_start_virtual_processor, vp_context) == 16, "hyperv-abi-facts 2.2: SVP context at 16");

/* TranslateVirtualAddress control flags (2.2). */
#define HV_TRANSLATE_GVA_VALIDATE_READ       (1ull << 0)
#define HV_TRANSLATE_GVA_VALIDATE_WRITE      (1ull << 1)
#define HV_TRANSLATE_GVA_VALIDATE_EXECUTE    (1ull << 2)
#define HV_TRANSLATE_GVA_PRIVILEGE_EXEMPT    (1ull << 3)
#define HV_TRANSLATE_GVA_SET_PAGE_TABLE_BITS (1ull << 4)
#define HV_TRANSLATE_GVA_TLB_FLUSH_INHIBIT   (1ull << 5)
#define HV_TRANSLATE_GVA_SUPERVISOR_ACCESS   (1ull << 6)
#define HV_TRANSLATE_GVA_USER_ACCESS         (1ull << 7)
#define HV_TRANSLATE_GVA_ENFORCE_SMAP        (1ull << 8)
#define HV_TRANSLATE_GVA_OVERRIDE_SMAP       (1ull << 9)
#define HV_TRANSLATE_GVA_SHADOW_STACK        (1ull << 10)
#define HV_TRANSLATE_GVA_INPUT_VTL_SHIFT     56
#define HV_TRANSLATE_GVA_INPUT_VTL_MASK      (0xFFull << 56)
#define HV_TRANSLATE_GVA_FLAGS_MASK          0x00000000000007FFull

/* Translate result (low u32 of the result qword) and extra result bits (2.2). */
enum hv_translate_gva_result_code {
	HV_TRANSLATE_GVA_SUCCESS = 0,
	HV_TRANSLATE_GVA_PAGE_NOT_PRESENT = 1,
	HV_TRANSLATE_GVA_PRIVILEGE_VIOLATION = 2,
	HV_TRANSLATE_GVA_INVALID_PAGE_TABLE_FLAGS = 3,
	HV_TRANSLATE_GVA_GPA_UNMAPPED = 4,
	HV_TRANSLATE_GVA_GPA_NO_READ_ACCESS = 5,
	HV_TRANSLATE_GVA_GPA_NO_WRITE_ACCESS = 6,
	HV_TRANSLATE_GVA_GPA_ILLEGAL_OVERLAY_ACCESS = 7,
	HV_TRANSLATE_GVA_INTERCEPT = 8,
	HV_TRANSLATE_GVA_GPA_UNACCEPTED = 9,
};
#define HV_TRANSLATE_RESULT_CODE_MASK        0x00000000FFFFFFFFull
#define HV_TRANSLATE_RESULT_CACHE_TYPE_SHIFT 32
#define HV_TRANSLATE_RESULT_CACHE_TYPE_MASK  (0xFFull << 32)
#define HV_TRANSLATE_RESULT_OVERLAY_PAGE     (1ull << 40)

struct hv_input_translate_virtual_address {
	uint64_t partition_id;
	uint32_t vp_index;
	uint32_t reserved;
	uint64_t control_flags;
	uint64_t gva_page;
};
_Static_assert(sizeof(struct hv_input_translate_virtual_address) == 32, "hyperv-abi-facts 2.2: TranslateVa input 32 B");
_Static_assert(offsetof(struct hv_input_translate_virtual_address, partition_id) == 0, "hyperv-abi-facts 2.2: TVA partition at 0");
_Static_assert(offsetof(struct hv_input_translate_virtual_address, vp_index) == 8, "hyperv-abi-facts 2.2: TVA vp at 8");
_Static_assert(offsetof(struct hv_input_translate_virtual_address, reserved) == 12, "hyperv-abi-facts 2.2: TVA rsvd at 12");
_Static_assert(offsetof(struct hv_input_translate_virtual_address, control_flags) == 16, "hyperv-abi-facts 2.2: TVA flags at 16");
_Static_assert(offsetof(struct hv_input_translate_virtual_address, gva_page) == 24, "hyperv-abi-facts 2.2: TVA gva page at 24");

struct hv_output_translate_virtual_address {
	uint64_t translation_result;
	uint64_t gpa_page;
};
_Static_assert(sizeof(struct hv_output_translate_virtual_address) == 16, "hyperv-abi-facts 2.2: TranslateVa output 16 B");
_Static_assert(offsetof(struct hv_output_translate_virtual_address, translation_result) == 0, "hyperv-abi-facts 2.2: TVA result at 0");
_Static_assert(offsetof(struct hv_output_translate_virtual_address, gpa_page) == 8, "hyperv-abi-facts 2.2: TVA gpa page at 8");

struct hv_output_translate_virtual_address_ex {
	uint64_t translation_result;
	uint64_t reserved1;
	struct hv_u128 event_info[2];
	uint64_t gpa_page;
	uint64_t reserved2;
};
_Static_assert(sizeof(struct hv_output_translate_virtual_address_ex) == 64, "hyperv-abi-facts 2.2: TranslateVaEx output 64 B");
_Static_assert(offsetof(struct hv_output_translate_virtual_address_ex, translation_result) == 0, "hyperv-abi-facts 2.2: TVAX result at 0");
_Static_assert(offsetof(struct hv_output_translate_virtual_address_ex, reserved1) == 8, "hyperv-abi-facts 2.2: TVAX rsvd at 8");
_Static_assert(offsetof(struct hv_output_translate_virtual_address_ex, event_info) == 16, "hyperv-abi-facts 2.2: TVAX event at 16");
_Static_assert(offsetof(struct hv_output_translate_virtual_address_ex, gpa_page) == 48, "hyperv-abi-facts 2.2: TVAX gpa page at 48");
_Static_assert(offsetof(struct hv_output_translate_virtual_address_ex, reserved2) == 56, "hyperv-abi-facts 2.2: TVAX rsvd2 at 56");

struct hv_input_post_message {
	uint32_t connection_id;
	uint32_t reserved;
	uint32_t message_type;
	uint32_t payload_size;
	uint8_t payload[HV_MESSAGE_PAYLOAD_SIZE];
};
_Static_assert(sizeof(struct hv_input_post_message) == 256, "hyperv-abi-facts 2.2: PostMessage 256 B");
_Static_assert(offsetof(struct hv_input_post_message, connection_id) == 0, "hyperv-abi-facts 2.2: PM connection at 0");
_Static_assert(offsetof(struct hv_input_post_message, reserved) == 4, "hyperv-abi-facts 2.2: PM pad at 4");
_Static_assert(offsetof(struct hv_input_post_message, message_type) == 8, "hyperv-abi-facts 2.2: PM type at 8");
_Static_assert(offsetof(struct hv_input_post_message, payload_size) == 12, "hyperv-abi-facts 2.2: PM size at 12");
_Static_assert(offsetof(struct hv_input_post_message, payload) == 16, "hyperv-abi-facts 2.2: PM payload at 16");

/**
 * PostMessageDirect (280 B). The hv_message sits at offset 20, not 16-byte (not even 8-byte)
 * aligned, so it is carried as raw bytes: memcpy a struct hv_message in/out of `message`.
 */
struct hv_input_post_message_direct {
	uint64_t partition_id;
	uint32_t vp_index;
	uint8_t vtl;
	uint8_t reserved0[3];
	uint8_t sint_index;
	uint8_t reserved1[3];
	uint8_t message[HV_MESSAGE_SIZE];
	uint32_t padding;
};
_Static_assert(sizeof(struct hv_input_post_message_direct) == 280, "hyperv-abi-facts 2.2: PostMessageDirect 280 B");
_Static_assert(offsetof(struct hv_input_post_message_direct, partition_id) == 0, "hyperv-abi-facts 2.2: PMD partition at 0");
_Static_assert(offsetof(struct hv_input_post_message_direct, vp_index) == 8, "hyperv-abi-facts 2.2: PMD vp at 8");
_Static_assert(offsetof(struct hv_input_post_message_direct, vtl) == 12, "hyperv-abi-facts 2.2: PMD vtl at 12");
_Static_assert(offsetof(struct hv_input_post_message_direct, reserved0) == 13, "hyperv-abi-facts 2.2: PMD rsvd0 at 13");
_Static_assert(offsetof(struct hv_input_post_message_direct, sint_index) == 16, "hyperv-abi-facts 2.2: PMD sint at 16");
_Static_assert(offsetof(struct hv_input_post_message_direct, reserved1) == 17, "hyperv-abi-facts 2.2: PMD rsvd1 at 17");
_Static_assert(offsetof(struct hv_input_post_message_direct, message) == 20, "hyperv-abi-facts 2.2: PMD message at 20");
_Static_assert(offsetof(struct hv_input_post_message_direct, padding) == 276, "hyperv-abi-facts 2.2: PMD pad at 276");

struct hv_input_signal_event {
	uint32_t connection_id;
	uint16_t flag_number;
	uint16_t reserved;
};
_Static_assert(sizeof(struct hv_input_signal_event) == 8, "hyperv-abi-facts 2.2: SignalEvent 8 B");
_Static_assert(offsetof(struct hv_input_signal_event, connection_id) == 0, "hyperv-abi-facts 2.2: SE connection at 0");
_Static_assert(offsetof(struct hv_input_signal_event, flag_number) == 4, "hyperv-abi-facts 2.2: SE flag at 4");
_Static_assert(offsetof(struct hv_input_signal_event, reserved) == 6, "hyperv-abi-facts 2.2: SE rsvd at 6");

struct hv_input_signal_event_direct {
	uint64_t target_partition;
	uint32_t target_vp;
	uint8_t target_vtl;
	uint8_t target_sint;
	uint16_t flag_number;
};
_Static_assert(sizeof(struct hv_input_signal_event_direct) == 16, "hyperv-abi-facts 2.2: SignalEventDirect 16 B");
_Static_assert(offsetof(struct hv_input_signal_event_direct, target_partition) == 0, "hyperv-abi-facts 2.2: SED partition at 0");
_Static_assert(offsetof(struct hv_input_signal_event_direct, target_vp) == 8, "hyperv-abi-facts 2.2: SED vp at 8");
_Static_assert(offsetof(struct hv_input_signal_event_direct, target_vtl) == 12, "hyperv-abi-facts 2.2: SED vtl at 12");
_Static_assert(offsetof(struct hv_input_signal_event_direct, target_sint) == 13, "hyperv-abi-facts 2.2: SED sint at 13");
_Static_assert(offsetof(struct hv_input_signal_event_direct, flag_number) == 14, "hyperv-abi-facts 2.2: SED flag at 14");

struct hv_output_signal_event_direct {
	uint8_t newly_signaled;
	uint8_t reserved[7];
};
_Static_assert(sizeof(struct hv_output_signal_event_direct) == 8, "hyperv-abi-facts 2.2: SignalEventDirect output 8 B");
_Static_assert(offsetof(struct hv_output_signal_event_direct, newly_signaled) == 0, "hyperv-abi-facts 2.2: SED newly at 0");
_Static_assert(offsetof(struct hv_output_signal_event_direct, reserved) == 1, "hyperv-abi-facts 2.2: SED out rsvd at 1");

/* AssertVirtualInterrupt interrupt_control (2.2). */
#define HV_INTERRUPT_CONTROL_TYPE_MASK        0x00000000FFFFFFFFull
#define HV_INTERRUPT_CONTROL_LEVEL_TRIGGERED  (1ull << 32)
#define HV_INTERRUPT_CONTROL_LOGICAL_DEST     (1ull << 33)
/* Interrupt types (TLFS HV_INTERRUPT_TYPE, x64 APIC delivery modes). */
#define HV_X64_INTERRUPT_TYPE_FIXED           0x0000u
#define HV_X64_INTERRUPT_TYPE_LOWEST_PRIORITY 0x0001u
#define HV_X64_INTERRUPT_TYPE_SMI             0x0002u
#define HV_X64_INTERRUPT_TYPE_REMOTE_READ     0x0003u
#define HV_X64_INTERRUPT_TYPE_NMI             0x0004u
#define HV_X64_INTERRUPT_TYPE_INIT            0x0005u
#define HV_X64_INTERRUPT_TYPE_SIPI            0x0006u
#define HV_X64_INTERRUPT_TYPE_EXTINT          0x0007u

struct hv_input_assert_virtual_interrupt {
	uint64_t partition_id;
	uint64_t interrupt_control;
	uint64_t destination_address;
	uint32_t requested_vector;
	uint8_t target_vtl;
	uint8_t reserved8;
	uint16_t reserved16;
};
_Static_assert(sizeof(struct hv_input_assert_virtual_interrupt) == 32, "hyperv-abi-facts 2.2: AssertVirtualInterrupt 32 B");
_Static_assert(offsetof(struct hv_input_assert_virtual_interrupt, partition_id) == 0, "hyperv-abi-facts 2.2: AVI partition at 0");
_Static_assert(offsetof(struct hv_input_assert_virtual_interrupt, interrupt_control) == 8, "hyperv-abi-facts 2.2: AVI control at 8");
_Static_assert(offsetof(struct hv_input_assert_virtual_interrupt, destination_address) == 16, "hyperv-abi-facts 2.2: AVI dest at 16");
_Static_assert(offsetof(struct hv_input_assert_virtual_interrupt, requested_vector) == 24, "hyperv-abi-facts 2.2: AVI vector at 24");
_Static_assert(offsetof(struct hv_input_assert_virtual_interrupt, target_vtl) == 28, "hyperv-abi-facts 2.2: AVI vtl at 28");
_Static_assert(offsetof(struct hv_input_assert_virtual_interrupt, reserved8) == 29, "hyperv-abi-facts 2.2: AVI rsvd8 at 29");
_Static_assert(offsetof(struct hv_input_assert_virtual_interrupt, reserved16) == 30, "hyperv-abi-facts 2.2: AVI rsvd16 at 30");

struct hv_input_get_vp_index_from_apic_id {
	uint64_t partition_id;
	uint8_t target_vtl;
	uint8_t reserved[7];
	uint32_t apic_ids[];
};
_Static_assert(sizeof(struct hv_input_get_vp_index_from_apic_id) == 16, "hyperv-abi-facts 2.2: GetVpIndexFromApicId header 16 B");
_Static_assert(offsetof(struct hv_input_get_vp_index_from_apic_id, partition_id) == 0, "hyperv-abi-facts 2.2: GVI partition at 0");
_Static_assert(offsetof(struct hv_input_get_vp_index_from_apic_id, target_vtl) == 8, "hyperv-abi-facts 2.2: GVI vtl at 8");
_Static_assert(offsetof(struct hv_input_get_vp_index_from_apic_id, reserved) == 9, "hyperv-abi-facts 2.2: GVI rsvd at 9");
_Static_assert(offsetof(struct hv_input_get_vp_index_from_apic_id, apic_ids) == 16, "hyperv-abi-facts 2.2: GVI ids at 16");

/* CheckSparseGpaPageVtlAccess output element (u64, 2.2). */
#define HV_CHECK_VTL_ACCESS_RESULT_MASK       0x00000000000000FFull
#define HV_CHECK_VTL_ACCESS_DENIED_SHIFT      8
#define HV_CHECK_VTL_ACCESS_DENIED_MASK       0x000000000000FF00ull
#define HV_CHECK_VTL_ACCESS_INTERCEPT_VTL_SHIFT 16
#define HV_CHECK_VTL_ACCESS_INTERCEPT_VTL_MASK 0x00000000000F0000ull

struct hv_input_check_sparse_gpa_page_vtl_access {
	uint64_t partition_id;
	uint8_t target_vtl;
	uint8_t desired_access;
	uint16_t reserved16;
	uint32_t reserved32;
	uint64_t gpa_page_list[];
};
_Static_assert(sizeof(struct hv_input_check_sparse_gpa_page_vtl_access) == 16, "hyperv-abi-facts 2.2: CheckSparseGpaPageVtlAccess header 16 B");
_Static_assert(offsetof(struct hv_input_check_sparse_gpa_page_vtl_access, partition_id) == 0, "hyperv-abi-facts 2.2: CSV partition at 0");
_Static_assert(offsetof(struct hv_input_check_sparse_gpa_page_vtl_access, target_vtl) == 8, "hyperv-abi-facts 2.2: CSV vtl at 8");
_Static_assert(offsetof(struct hv_input_check_sparse_gpa_page_vtl_access, desired_access) == 9, "hyperv-abi-facts 2.2: CSV access at 9");
_Static_assert(offsetof(struct hv_input_check_sparse_gpa_page_vtl_access, reserved16) == 10, "hyperv-abi-facts 2.2: CSV rsvd16 at 10");
_Static_assert(offsetof(struct hv_input_check_sparse_gpa_page_vtl_access, reserved32) == 12, "hyperv-abi-facts 2.2: CSV rsvd32 at 12");
_Static_assert(offsetof(struct hv_input_check_sparse_gpa_page_vtl_access, gpa_page_list) == 16, "hyperv-abi-facts 2.2: CSV list at 16");

/* AcceptGpaPages page_attributes (2.2). */
#define HV_ACCEPT_MEMORY_TYPE_MASK           0x0000003Fu
#define HV_ACCEPT_MEMORY_TYPE_ANY            0x0u
#define HV_ACCEPT_MEMORY_TYPE_RAM            0x1u
#define HV_ACCEPT_HOST_VISIBILITY_SHIFT      6
#define HV_ACCEPT_HOST_VISIBILITY_MASK       0x000000C0u
#define HV_ACCEPT_VTL_SET_SHIFT              8
#define HV_ACCEPT_VTL_SET_MASK               0x00000700u
/* Host visibility (AcceptGpaPages, ModifySparseGpaPageHostVisibility). */
#define HV_HOST_VISIBILITY_PRIVATE           0x0u
#define HV_HOST_VISIBILITY_SHARED            0x3u
#define HV_HOST_VISIBILITY_MASK              0x3u

struct hv_input_accept_gpa_pages {
	uint64_t partition_id;
	uint32_t page_attributes;
	uint16_t vtl_permission_set[2];
	uint64_t gpa_page_base;
};
_Static_assert(sizeof(struct hv_input_accept_gpa_pages) == 24, "hyperv-abi-facts 2.2: AcceptGpaPages 24 B");
_Static_assert(offsetof(struct hv_input_accept_gpa_pages, partition_id) == 0, "hyperv-abi-facts 2.2: AGP partition at 0");
_Static_assert(offsetof(struct hv_input_accept_gpa_pages, page_attributes) == 8, "hyperv-abi-facts 2.2: AGP attrs at 8");
_Static_assert(offsetof(struct hv_input_accept_gpa_pages, vtl_permission_set) == 12, "hyperv-abi-facts 2.2: AGP perms at 12");
_Static_assert(offsetof(struct hv_input_accept_gpa_pages, gpa_page_base) == 16, "hyperv-abi-facts 2.2: AGP first GPN at 16");

struct hv_input_modify_sparse_gpa_page_host_visibility {
	uint64_t partition_id;
	uint32_t host_visibility;
	uint32_t reserved;
	uint64_t gpa_page_list[];
};
_Static_assert(sizeof(struct hv_input_modify_sparse_gpa_page_host_visibility) == 16, "hyperv-abi-facts 2.2: ModifySparseGpaPageHostVisibility header 16 B");
_Static_assert(offsetof(struct hv_input_modify_sparse_gpa_page_host_visibility, partition_id) == 0, "hyperv-abi-facts 2.2: MHV partition at 0");
_Static_assert(offsetof(struct hv_input_modify_sparse_gpa_page_host_visibility, host_visibility) == 8, "hyperv-abi-facts 2.2: MHV visibility at 8");
_Static_assert(offsetof(struct hv_input_modify_sparse_gpa_page_host_visibility, reserved) == 12, "hyperv-abi-facts 2.2: MHV rsvd at 12");
_Static_assert(offsetof(struct hv_input_modify_sparse_gpa_page_host_visibility, gpa_page_list) == 16, "hyperv-abi-facts 2.2: MHV list at 16");

/* Flush flags (2.2). */
#define HV_FLUSH_ALL_PROCESSORS               (1ull << 0)
#define HV_FLUSH_ALL_VIRTUAL_ADDRESS_SPACES   (1ull << 1)
#define HV_FLUSH_NON_GLOBAL_MAPPINGS_ONLY     (1ull << 2)
#define HV_FLUSH_USE_EXTENDED_RANGE_FORMAT    (1ull << 3)
#define HV_FLUSH_USE_TARGET_VTL               (1ull << 4)
#define HV_FLUSH_TARGET_VTL0                  (1ull << 8)
#define HV_FLUSH_TARGET_VTL1                  (1ull << 9)
/* GVA range element of the flush lists: bits 0-11 additional pages, 12-63 GVN. */
#define HV_GVA_RANGE_ADDITIONAL_PAGES_MASK    0x0000000000000FFFull
#define HV_GVA_RANGE_GVN_SHIFT                12

struct hv_input_flush_virtual_address_space {
	uint64_t address_space;
	uint64_t flags;
	uint64_t processor_mask;
};
_Static_assert(sizeof(struct hv_input_flush_virtual_address_space) == 24, "hyperv-abi-facts 2.2: FlushVirtualAddressSpace 24 B");
_Static_assert(offsetof(struct hv_input_flush_virtual_address_space, address_space) == 0, "hyperv-abi-facts 2.2: FVS space at 0");
_Static_assert(offsetof(struct hv_input_flush_virtual_address_space, flags) == 8, "hyperv-abi-facts 2.2: FVS flags at 8");
_Static_assert(offsetof(struct hv_input_flush_virtual_address_space, processor_mask) == 16, "hyperv-abi-facts 2.2: FVS mask at 16");

struct hv_input_flush_virtual_address_list {
	uint64_t address_space;
	uint64_t flags;
	uint64_t processor_mask;
	uint64_t gva_range_list[];
};
_Static_assert(sizeof(struct hv_input_flush_virtual_address_list) == 24, "hyperv-abi-facts 2.2: FlushVirtualAddressList header 24 B");
_Static_assert(offsetof(struct hv_input_flush_virtual_address_list, address_space) == 0, "hyperv-abi-facts 2.2: FVL space at 0");
_Static_assert(offsetof(struct hv_input_flush_virtual_address_list, flags) == 8, "hyperv-abi-facts 2.2: FVL flags at 8");
_Static_assert(offsetof(struct hv_input_flush_virtual_address_list, processor_mask) == 16, "hyperv-abi-facts 2.2: FVL mask at 16");
_Static_assert(offsetof(struct hv_input_flush_virtual_address_list, gva_range_list) == 24, "hyperv-abi-facts 2.2: FVL list at 24");

/** HvVpSet (variable header of the *Ex calls). */
#define HV_GENERIC_SET_SPARSE_4K 0ull
#define HV_GENERIC_SET_ALL       1ull
struct hv_vp_set {
	uint64_t format;
	uint64_t valid_bank_mask;
	uint64_t bank_contents[];
};
_Static_assert(sizeof(struct hv_vp_set) == 16, "hyperv-abi-facts 2.2: HvVpSet header 16 B");
_Static_assert(offsetof(struct hv_vp_set, format) == 0, "hyperv-abi-facts 2.2: VpSet format at 0");
_Static_assert(offsetof(struct hv_vp_set, valid_bank_mask) == 8, "hyperv-abi-facts 2.2: VpSet bank mask at 8");
_Static_assert(offsetof(struct hv_vp_set, bank_contents) == 16, "hyperv-abi-facts 2.2: VpSet banks at 16");

struct hv_input_send_synthetic_cluster_ipi {
	uint32_t vector;
	uint8_t target_vtl;
	uint8_t flags;
	uint16_t reserved;
	uint64_t processor_mask;
};
_Static_assert(sizeof(struct hv_input_send_synthetic_cluster_ipi) == 16, "hyperv-abi-facts 2.2: SendSyntheticClusterIpi 16 B");
_Static_assert(offsetof(struct hv_input_send_synthetic_cluster_ipi, vector) == 0, "hyperv-abi-facts 2.2: IPI vector at 0");
_Static_assert(offsetof(struct hv_input_send_synthetic_cluster_ipi, target_vtl) == 4, "hyperv-abi-facts 2.2: IPI vtl at 4");
_Static_assert(offsetof(struct hv_input_send_synthetic_cluster_ipi, flags) == 5, "hyperv-abi-facts 2.2: IPI flags at 5");
_Static_assert(offsetof(struct hv_input_send_synthetic_cluster_ipi, reserved) == 6, "hyperv-abi-facts 2.2: IPI rsvd at 6");
_Static_assert(offsetof(struct hv_input_send_synthetic_cluster_ipi, processor_mask) == 8, "hyperv-abi-facts 2.2: IPI mask at 8");

#define HV_MMIO_MAX_ACCESS_WIDTH 64u

struct hv_input_memory_mapped_io_read {
	uint64_t gpa;
	uint32_t access_width;
	uint32_t reserved;
};
_Static_assert(sizeof(struct hv_input_memory_mapped_io_read) == 16, "hyperv-abi-facts 2.2: MmioRead input 16 B");
_Static_assert(offsetof(struct hv_input_memory_mapped_io_read, gpa) == 0, "hyperv-abi-facts 2.2: MMR gpa at 0");
_Static_assert(offsetof(struct hv_input_memory_mapped_io_read, access_width) == 8, "hyperv-abi-facts 2.2: MMR width at 8");
_Static_assert(offsetof(struct hv_input_memory_mapped_io_read, reserved) == 12, "hyperv-abi-facts 2.2: MMR rsvd at 12");

struct hv_output_memory_mapped_io_read {
	uint8_t data[HV_MMIO_MAX_ACCESS_WIDTH];
};
_Static_assert(sizeof(struct hv_output_memory_mapped_io_read) == 64, "hyperv-abi-facts 2.2: MmioRead output 64 B");

struct hv_input_memory_mapped_io_write {
	uint64_t gpa;
	uint32_t access_width;
	uint32_t reserved;
	uint8_t data[HV_MMIO_MAX_ACCESS_WIDTH];
};
_Static_assert(sizeof(struct hv_input_memory_mapped_io_write) == 80, "hyperv-abi-facts 2.2: MmioWrite input 80 B");
_Static_assert(offsetof(struct hv_input_memory_mapped_io_write, gpa) == 0, "hyperv-abi-facts 2.2: MMW gpa at 0");
_Static_assert(offsetof(struct hv_input_memory_mapped_io_write, access_width) == 8, "hyperv-abi-facts 2.2: MMW width at 8");
_Static_assert(offsetof(struct hv_input_memory_mapped_io_write, reserved) == 12, "hyperv-abi-facts 2.2: MMW rsvd at 12");
_Static_assert(offsetof(struct hv_input_memory_mapped_io_write, data) == 16, "hyperv-abi-facts 2.2: MMW data at 16");

/* ------------------------------------------------------------------------------------------ */
/* 2.8 SynIC MSRs and pages                                                                   */
/* ------------------------------------------------------------------------------------------ */

#define HV_X64_MSR_GUEST_OS_ID        0x40000000u
#define HV_X64_MSR_HYPERCALL          0x40000001u
#define HV_X64_MSR_VP_INDEX           0x40000002u
#define HV_X64_MSR_TIME_REF_COUNT     0x40000020u
#define HV_X64_MSR_REFERENCE_TSC      0x40000021u
#define HV_X64_MSR_TSC_FREQUENCY      0x40000022u
#define HV_X64_MSR_APIC_FREQUENCY     0x40000023u
#define HV_X64_MSR_EOI                0x40000070u
#define HV_X64_MSR_ICR                0x40000071u
#define HV_X64_MSR_TPR                0x40000072u
#define HV_X64_MSR_VP_ASSIST_PAGE     0x40000073u
#define HV_X64_MSR_SCONTROL           0x40000080u
#define HV_X64_MSR_SVERSION           0x40000081u
#define HV_X64_MSR_SIEFP              0x40000082u
#define HV_X64_MSR_SIMP               0x40000083u
#define HV_X64_MSR_EOM                0x40000084u
#define HV_X64_MSR_SINT0              0x40000090u
#define HV_X64_MSR_SINT15             0x4000009Fu
#define HV_X64_MSR_STIMER0_CONFIG     0x400000B0u
#define HV_X64_MSR_STIMER0_COUNT      0x400000B1u
#define HV_X64_MSR_GUEST_IDLE         0x400000F0u
#define HV_X64_MSR_CRASH_P0           0x40000100u
#define HV_X64_MSR_CRASH_P4           0x40000104u
#define HV_X64_MSR_CRASH_CTL          0x40000105u
/** SINTn MSR / STIMERn MSRs. */
static inline uint32_t hv_x64_msr_sint(unsigned n) { return HV_X64_MSR_SINT0 + (n & 0xFu); }
static inline uint32_t hv_x64_msr_stimer_config(unsigned n) { return HV_X64_MSR_STIMER0_CONFIG + 2u * (n & 3u); }
static inline uint32_t hv_x64_msr_stimer_count(unsigned n) { return HV_X64_MSR_STIMER0_COUNT + 2u * (n & 3u); }

#define HV_SYNIC_SINT_COUNT            16u
#define HV_SYNIC_VERSION               1u
/* Overlay-page MSRs (HYPERCALL, REFERENCE_TSC, VP_ASSIST_PAGE, SIEFP, SIMP): */
#define HV_MSR_PAGE_ENABLE             (1ull << 0)
#define HV_MSR_HYPERCALL_LOCKED        (1ull << 1)
#define HV_MSR_PAGE_GPN_SHIFT          12
#define HV_MSR_PAGE_GPN_MASK           0xFFFFFFFFFFFFF000ull
#define HV_SCONTROL_ENABLE             (1ull << 0)
/* SINTn */
#define HV_SINT_VECTOR_MASK            0x00000000000000FFull
#define HV_SINT_MASKED                 (1ull << 16)
#define HV_SINT_AUTO_EOI               (1ull << 17)
#define HV_SINT_POLLING                (1ull << 18)
#define HV_SINT_AS_INTERCEPT           (1ull << 19)
#define HV_SINT_PROXY                  (1ull << 20)
/* STIMERn_CONFIG */
#define HV_STIMER_ENABLE               (1ull << 0)
#define HV_STIMER_PERIODIC             (1ull << 1)
#define HV_STIMER_LAZY                 (1ull << 2)
#define HV_STIMER_AUTO_ENABLE          (1ull << 3)
#define HV_STIMER_APIC_VECTOR_SHIFT    4
#define HV_STIMER_APIC_VECTOR_MASK     (0xFFull << 4)
#define HV_STIMER_DIRECT_MODE          (1ull << 12)
#define HV_STIMER_SINT_SHIFT           16
#define HV_STIMER_SINT_MASK            (0xFull << 16)
/* CRASH_CTL */
#define HV_CRASH_CTL_CRASH_NOTIFY      (1ull << 63)
#define HV_CRASH_CTL_CRASH_NOTIFY_MSG  (1ull << 62)

/* Well-known SINTs (2.8). */
#define HV_SINT_INTERCEPTS      0u
#define HV_SINT_IOMMU_FAULT     1u
#define HV_SINT_VMBUS           2u
#define HV_SINT_VTL2_VMBUS      7u

/** SIMP page: one message slot per SINT. */
struct hv_message_page {
	struct hv_message sint_message[HV_SYNIC_SINT_COUNT];
};
_Static_assert(sizeof(struct hv_message_page) == 4096, "hyperv-abi-facts 2.8: SIMP page 16 x 256 B");

/** SIEFP page: 2048 event flags per SINT. */
#define HV_EVENT_FLAGS_COUNT 2048u
struct hv_synic_event_flags {
	uint8_t flags[HV_EVENT_FLAGS_COUNT / 8];
};
struct hv_synic_event_flags_page {
	struct hv_synic_event_flags sint_event_flags[HV_SYNIC_SINT_COUNT];
};
_Static_assert(sizeof(struct hv_synic_event_flags) == 256, "hyperv-abi-facts 2.8: SIEFP block 256 B");
_Static_assert(sizeof(struct hv_synic_event_flags_page) == 4096, "hyperv-abi-facts 2.8: SIEFP page 16 x 256 B");

/** Reference TSC page. time = ((tsc * scale) >> 64) + offset; sequence 0 = invalid. */
struct hv_reference_tsc_page {
	uint32_t tsc_sequence;
	uint32_t reserved1;
	uint64_t tsc_scale;
	int64_t tsc_offset;
	uint64_t reserved2[509];
};
_Static_assert(sizeof(struct hv_reference_tsc_page) == 4096, "hyperv-abi-facts 2.8: reference TSC page 4096 B");
_Static_assert(offsetof(struct hv_reference_tsc_page, tsc_sequence) == 0, "hyperv-abi-facts 2.8: TSC sequence at 0");
_Static_assert(offsetof(struct hv_reference_tsc_page, tsc_scale) == 8, "hyperv-abi-facts 2.8: TSC scale at 8");
_Static_assert(offsetof(struct hv_reference_tsc_page, tsc_offset) == 16, "hyperv-abi-facts 2.8: TSC offset at 16");

/** VMBus monitor page (MNF). */
struct hv_monitor_trigger_group {
	uint32_t pending;
	uint32_t armed;
};
struct hv_monitor_parameter {
	uint32_t connection_id;
	uint16_t flag_number;
	uint16_t reserved;
};
struct hv_monitor_page {
	uint32_t trigger_state;
	uint32_t reserved1;
	struct hv_monitor_trigger_group trigger_group[4];
	uint64_t reserved2[3];
	uint32_t next_check_time[4][32];
	uint16_t latency[4][32];
	uint64_t reserved3[32];
	struct hv_monitor_parameter parameter[4][32];
	uint8_t reserved4[1984];
};
_Static_assert(sizeof(struct hv_monitor_trigger_group) == 8, "hyperv-abi-facts 2.8: trigger group 8 B");
_Static_assert(sizeof(struct hv_monitor_parameter) == 8, "hyperv-abi-facts 2.8: monitor parameter 8 B");
_Static_assert(sizeof(struct hv_monitor_page) == 4096, "hyperv-abi-facts 2.8: monitor page 4096 B");
_Static_assert(offsetof(struct hv_monitor_page, trigger_state) == 0, "hyperv-abi-facts 2.8: trigger_state at 0");
_Static_assert(offsetof(struct hv_monitor_page, trigger_group) == 8, "hyperv-abi-facts 2.8: trigger_group at 8");
_Static_assert(offsetof(struct hv_monitor_page, reserved2) == 40, "hyperv-abi-facts 2.8: monitor rsvd at 40");
_Static_assert(offsetof(struct hv_monitor_page, next_check_time) == 64, "hyperv-abi-facts 2.8: next_check_time at 64");
_Static_assert(offsetof(struct hv_monitor_page, latency) == 576, "hyperv-abi-facts 2.8: latency at 576");
_Static_assert(offsetof(struct hv_monitor_page, reserved3) == 832, "hyperv-abi-facts 2.8: monitor rsvd3 at 832");
_Static_assert(offsetof(struct hv_monitor_page, parameter) == 1088, "hyperv-abi-facts 2.8: parameter at 1088");
_Static_assert(offsetof(struct hv_monitor_page, reserved4) == 2112, "hyperv-abi-facts 2.8: monitor reserved from 2112");

/* ------------------------------------------------------------------------------------------ */
/* hv.c: names and errno mapping                                                              */
/* ------------------------------------------------------------------------------------------ */

/**
 * Name of a status code ("HV_STATUS_ACCESS_DENIED"). Unknown codes give the fixed string
 * "HV_STATUS_UNKNOWN"; use hv_status_format() to include the value. Thread safe.
 */
const char *hv_status_str(hv_status_t status);
/** "NAME" or "HV_STATUS_UNKNOWN(0x1234)" into buf (always NUL-terminated); returns buf. */
const char *hv_status_format(hv_status_t status, char *buf, size_t len);
/** 0 for HV_STATUS_SUCCESS, else a negative errno (-EIO for unknown codes). */
int hv_status_to_errno(hv_status_t status);
/**
 * The hypercall result value (no reps completed) a hypervisor returns for a failure that maps
 * to `err` (0 = success): the first status whose errno is `err`, INVALID_PARAMETER if none.
 * How VTL2 answers VTL0's hypercalls without handling Hyper-V status words itself.
 */
uint64_t hv_result_from_errno(int err);
/**
 * The result VTL2 answers for VTL0's HvPostMessage / HvSignalEvent (TLFS: SynIC hypercalls):
 * 0 success, -ENOENT invalid connection id, -EAGAIN insufficient buffers, -EFAULT invalid
 * alignment (input unaligned or crossing a page), -EBADMSG invalid hypercall input (control
 * word), -EACCES access denied (input not in VTL0 RAM), any other error invalid parameter.
 */
uint64_t hv_result_synic_call(int err);
/** Name of a message type ("HVMSG_X64_IO_PORT_INTERCEPT"), "HVMSG_UNKNOWN" if not known. */
const char *hv_message_type_str(uint32_t message_type);
/** Name of a hypercall code ("HVCALL_GET_VP_REGISTERS"), "HVCALL_UNKNOWN" if not known. */
const char *hv_hypercall_code_str(uint16_t code);

#endif
