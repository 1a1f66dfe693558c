/*
 * mshv_abi: the userspace ABI of the Linux `mshv_vtl` driver (/dev/mshv, the VTL fd,
 * /dev/mshv_hvcall, /dev/mshv_sint, /dev/mshv_vtl_low), restated from
 * ../shared/docs/hyperv-abi-facts.md section 1 ("doc 1.x" below).
 *
 * Everything is prefixed mshv_abi_/MSHV_ABI_ so that this header can be included next to
 * Linux's own <linux/mshv.h> (6.19+), which uses the mshv_ names; tests/unit/mshv_abi_test.c
 * checks that the two agree whenever the system header has the VTL section.
 *
 * The run page and CPU context are not in the kernel's uapi at all (they live in driver
 * headers), so this is the only definition userspace has of them.
 *
 * Header only; x86_64 layout.
 */
#ifndef MEZZ_HVCALL_MSHV_ABI_H
#define MEZZ_HVCALL_MSHV_ABI_H

#include <stddef.h>
#include <stdint.h>
#include <linux/ioctl.h>

/* ---- device nodes (doc 1.1) ---- */

#define MSHV_ABI_DEV_MSHV      "mshv"         /* CHECK_EXTENSION, CREATE_VTL */
#define MSHV_ABI_DEV_SINT      "mshv_sint"    /* VMBus relay on VTL2 SINT 7 */
#define MSHV_ABI_DEV_HVCALL    "mshv_hvcall"  /* hypercall passthrough (CAP_SYS_ADMIN) */
#define MSHV_ABI_DEV_VTL_LOW   "mshv_vtl_low" /* mmap of VTL0 memory, offset = GPA */
#define MSHV_ABI_DEV_DIR       "/dev"

/* ---- ioctls (doc 1.2): magic 0xB8 ---- */

#define MSHV_ABI_IOCTL_MAGIC 0xB8
#define MSHV_ABI_IO_(nr)          _IO(MSHV_ABI_IOCTL_MAGIC, nr)
#define MSHV_ABI_IOR_(nr, type)   _IOR(MSHV_ABI_IOCTL_MAGIC, nr, type)
#define MSHV_ABI_IOW_(nr, type)   _IOW(MSHV_ABI_IOCTL_MAGIC, nr, type)
#define MSHV_ABI_IOWR_(nr, type)  _IOWR(MSHV_ABI_IOCTL_MAGIC, nr, type)

/* /dev/mshv */
#define MSHV_ABI_CHECK_EXTENSION     MSHV_ABI_IOW_(0x00, uint32_t)
#define MSHV_ABI_CREATE_VTL          MSHV_ABI_IOR_(0x1D, char)
/* the VTL fd returned by CREATE_VTL */
#define MSHV_ABI_GET_VP_REGISTERS    MSHV_ABI_IOWR_(0x05, struct mshv_abi_vp_registers)
#define MSHV_ABI_SET_VP_REGISTERS    MSHV_ABI_IOW_(0x06, struct mshv_abi_vp_registers)
#define MSHV_ABI_ADD_VTL0_MEMORY     MSHV_ABI_IOW_(0x21, struct mshv_abi_ram_disposition)
#define MSHV_ABI_SET_POLL_FILE       MSHV_ABI_IOW_(0x25, struct mshv_abi_set_poll_file)
#define MSHV_ABI_RETURN_TO_LOWER_VTL MSHV_ABI_IO_(0x27)
/* /dev/mshv_sint */
#define MSHV_ABI_SINT_SIGNAL_EVENT   MSHV_ABI_IOW_(0x22, struct mshv_abi_signal_event)
#define MSHV_ABI_SINT_POST_MESSAGE   MSHV_ABI_IOW_(0x23, struct mshv_abi_sint_post_msg)
#define MSHV_ABI_SINT_SET_EVENTFD    MSHV_ABI_IOW_(0x24, struct mshv_abi_set_eventfd)
/* Same number as SET_POLL_FILE; it is told apart by the fd it is issued on. */
#define MSHV_ABI_SINT_PAUSE_MESSAGE_STREAM MSHV_ABI_IOW_(0x25, struct mshv_abi_sint_mask)
/* /dev/mshv_hvcall */
#define MSHV_ABI_HVCALL_SETUP        MSHV_ABI_IOW_(0x1E, struct mshv_abi_hvcall_setup)
#define MSHV_ABI_HVCALL              MSHV_ABI_IOWR_(0x1F, struct mshv_abi_hvcall)

/* OpenHCL-kernel-only ioctl on the VTL fd (doc 1.2 [O]); not used by kif_mshv. */
#define MSHV_ABI_OHCL_RESTORE_PARTITION_TIME_NR 0x13
#define MSHV_ABI_OHCL_KICKCPUS_NR               0x38

/* ---- capabilities for CHECK_EXTENSION (doc 1.2) ---- */

#define MSHV_ABI_CAP_CORE_API_STABLE   0u /* the driver answers 0 for this one */
#define MSHV_ABI_CAP_REGISTER_PAGE     1u
#define MSHV_ABI_CAP_VTL_RETURN_ACTION 2u
#define MSHV_ABI_CAP_DR6_SHARED        3u
#define MSHV_ABI_CAP_LOWER_VTL_TIMER_VIRT 4u /* [O], TDX only */

/* ---- limits (doc 1.3, 1.7, 1.9) ---- */

#define MSHV_ABI_MSG_SIZE            256u  /* one hv_message */
#define MSHV_ABI_MSG_PAYLOAD_MAX     240u  /* sint_post_msg.payload_size */
#define MSHV_ABI_HVCALL_DATA_MAX     4096u /* hvcall input_size / output_size */
#define MSHV_ABI_HVCALL_BITMAP_MAX   8192u /* bytes: 65536 hypercall codes */
#define MSHV_ABI_SINT_FLAG_COUNT     2048u /* event flags per SINT */
#define MSHV_ABI_VTL2_VMBUS_SINT     7u
#define MSHV_ABI_PAGE_SIZE           4096u

/* ---- argument structs (doc 1.3) ---- */

/** MSHV_GET/SET_VP_REGISTERS: count must be 1; regs_ptr -> one 32-byte hv_register_assoc. */
struct mshv_abi_vp_registers {
	uint32_t count;
	uint32_t reserved;
	uint64_t regs_ptr;
};

/** The pointee of vp_registers.regs_ptr (the TLFS HV_REGISTER_ASSOC). */
struct mshv_abi_register_assoc {
	uint32_t name;
	uint32_t reserved1;
	uint64_t reserved2;
	_Alignas(16) uint8_t value[16];
};

/** MSHV_ADD_VTL0_MEMORY: [start_pfn, last_pfn), last_pfn exclusive. */
struct mshv_abi_ram_disposition {
	uint64_t start_pfn;
	uint64_t last_pfn;
};

/** MSHV_SET_POLL_FILE: a wakeup on fd cancels CPU cpu's run loop. */
struct mshv_abi_set_poll_file {
	uint32_t cpu;
	uint32_t fd;
};

/** MSHV_SINT_SIGNAL_EVENT. */
struct mshv_abi_signal_event {
	uint32_t connection_id;
	uint32_t flag;
};

/** MSHV_SINT_POST_MESSAGE. */
struct mshv_abi_sint_post_msg {
	uint64_t message_type;
	uint32_t connection_id;
	uint32_t payload_size; /* <= MSHV_ABI_MSG_PAYLOAD_MAX */
	uint64_t payload_ptr;
};

/** MSHV_SINT_SET_EVENTFD: fd -1 unregisters; flag < MSHV_ABI_SINT_FLAG_COUNT. */
struct mshv_abi_set_eventfd {
	int32_t fd;
	uint32_t flag;
};

/** MSHV_SINT_PAUSE_MESSAGE_STREAM: mask 1 pauses (masks) SINT 7, 0 resumes. */
struct mshv_abi_sint_mask {
	uint8_t mask;
	uint8_t reserved[7];
};

/** MSHV_HVCALL_SETUP: bitmap_array_size is in bytes (<= 8192). Once per fd. */
struct mshv_abi_hvcall_setup {
	uint64_t bitmap_array_size;
	uint64_t allow_bitmap_ptr;
};

/** MSHV_HVCALL: status receives the raw 64-bit hypercall result value. */
struct mshv_abi_hvcall {
	uint64_t control;
	uint64_t input_size;
	uint64_t input_ptr;
	uint64_t status;
	uint64_t output_size;
	uint64_t output_ptr;
};

/* ---- mmap of the VTL fd (doc 1.4): file offset = ((kind << 16) | cpu) * 4096 ---- */

#define MSHV_ABI_MMAP_KIND_SHIFT     16
#define MSHV_ABI_MMAP_CPU_MASK       0xFFFFu
#define MSHV_ABI_MMAP_KIND_RUN       0u /* struct mshv_abi_run(_ohcl) */
#define MSHV_ABI_MMAP_KIND_REG_PAGE  1u /* struct hv_x64_register_page (hvcall/hv.h), cap REGISTER_PAGE only */
#define MSHV_ABI_MMAP_KIND_SNP_VMSA  2u /* [O] */
#define MSHV_ABI_MMAP_KIND_APIC_PAGE 3u /* [O] */
#define MSHV_ABI_MMAP_KIND_VTL1_VMSA 4u /* [O] */

static inline uint64_t mshv_abi_mmap_pgoff(uint32_t kind, uint32_t cpu)
{
	return ((uint64_t)kind << MSHV_ABI_MMAP_KIND_SHIFT) | (cpu & MSHV_ABI_MMAP_CPU_MASK);
}

static inline uint64_t mshv_abi_mmap_offset(uint32_t kind, uint32_t cpu)
{
	return mshv_abi_mmap_pgoff(kind, cpu) * MSHV_ABI_PAGE_SIZE;
}

/* ---- CPU context in the run page (doc 1.4 table) ---- */

/** The 512-byte FXSAVE image the kernel fxrstor's before and fxsave's after VTL0 runs. */
struct mshv_abi_fxsave {
	_Alignas(16) uint16_t fcw;
	uint16_t fsw;
	uint8_t ftw;            /* abridged tag word */
	uint8_t reserved1;
	uint16_t fop;
	uint64_t fip;
	uint64_t fdp;
	uint32_t mxcsr;
	uint32_t mxcsr_mask;
	uint8_t st[8][16];      /* ST0-7 / MM0-7, 10 bytes used of each 16 */
	uint8_t xmm[16][16];    /* XMM0-15 */
	uint8_t reserved2[96];
};

/*
 * The VTL-shared registers of VTL0 while VTL2 runs. RSP is not here (its slot holds CR2):
 * RSP is VTL-private and is read via the register page or HvCallGetVpRegisters.
 */
struct mshv_abi_cpu_context {
	uint64_t rax;
	uint64_t rcx;
	uint64_t rdx;
	uint64_t rbx;
	uint64_t cr2;
	uint64_t rbp;
	uint64_t rsi;
	uint64_t rdi;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	struct mshv_abi_fxsave fx_state;
};

/* ---- vtl_ret_actions (doc 1.4; needs cap VTL_RETURN_ACTION) ---- */

#define MSHV_ABI_VTL_RET_ACTION_SIGNAL_EVENT 1u
#define MSHV_ABI_VTL_RET_ACTIONS_SIZE        256u

/** A deferred HvSignalEventDirect executed by the hypervisor during the VTL switch. */
struct mshv_abi_vtl_ret_action_signal_event {
	uint64_t action_type; /* MSHV_ABI_VTL_RET_ACTION_SIGNAL_EVENT */
	uint32_t target_vp;
	uint8_t target_vtl;
	uint8_t target_sint;
	uint16_t flag_number;
};

/* ---- the run page (doc 1.4) ---- */

/** Upstream Linux 6.19 layout, 1552 bytes. */
struct mshv_abi_run {
	uint32_t cancel;              /* nonzero: RETURN_TO_LOWER_VTL returns -EINTR; sticky */
	uint32_t vtl_ret_action_size; /* bytes used in vtl_ret_actions */
	uint32_t pad[2];
	_Alignas(16) uint8_t exit_message[MSHV_ABI_MSG_SIZE]; /* a struct hv_message (hv.h) */
	union {
		struct mshv_abi_cpu_context cpu_context;
		uint8_t cpu_context_reserved[1024];
	};
	uint8_t vtl_ret_actions[MSHV_ABI_VTL_RET_ACTIONS_SIZE];
};

/* OpenHCL run-page flags / offload flags / enter modes (doc 1.4 [O]). */
#define MSHV_ABI_RUN_FLAG_HALTED                 (1u << 0)
#define MSHV_ABI_RUN_OFFLOAD_INTR_INJECT         (1u << 0)
#define MSHV_ABI_RUN_OFFLOAD_X2APIC              (1u << 1)
#define MSHV_ABI_RUN_OFFLOAD_HALTED_OTHER        (1u << 5)
#define MSHV_ABI_RUN_OFFLOAD_HALTED_HLT          (1u << 6)
#define MSHV_ABI_RUN_OFFLOAD_HALTED_IDLE         (1u << 7)
#define MSHV_ABI_RUN_ENTER_FAST                  0u
#define MSHV_ABI_RUN_ENTER_PLAY_IDLE             1u
#define MSHV_ABI_RUN_ENTER_IDLE_TO_VTL0          2u
/* enter_mode: low nibble first-entry mode, high nibble re-entry mode */
#define MSHV_ABI_RUN_ENTER_MODE(first, reentry)  ((uint8_t)(((reentry) << 4) | ((first) & 0xF)))

/**
 * OHCL-Linux-Kernel superset, 1652 bytes used (MSHV_ABI_RUN_OHCL_SIZE). sizeof() is larger
 * because the FXSAVE image is 16-byte aligned; only the page matters, and it is 4096 bytes.
 */
struct mshv_abi_run_ohcl {
	uint32_t cancel;
	uint32_t vtl_ret_action_size;
	uint32_t flags;               /* MSHV_ABI_RUN_FLAG_* */
	uint8_t scan_proxy_irr;
	uint8_t offload_flags;        /* MSHV_ABI_RUN_OFFLOAD_* */
	uint8_t pad;
	uint8_t enter_mode;           /* MSHV_ABI_RUN_ENTER_MODE() */
	_Alignas(16) uint8_t exit_message[MSHV_ABI_MSG_SIZE];
	union {
		struct mshv_abi_cpu_context cpu_context;
		uint8_t cpu_context_reserved[1024];
	};
	uint8_t vtl_ret_actions[MSHV_ABI_VTL_RET_ACTIONS_SIZE];
	uint32_t proxy_irr[8];
	uint8_t target_vtl;           /* HvInputVtl */
	uint8_t pad2[3];
	uint32_t proxy_irr_blocked[8];
	uint32_t proxy_irr_exit[8];
};

#define MSHV_ABI_RUN_SIZE      1552u
#define MSHV_ABI_RUN_OHCL_SIZE 1652u

/* The register page (mmap kind 1, doc 1.4) is a hypervisor structure: struct
 * hv_x64_register_page in hvcall/hv.h. */

/* ---- VP assist page (kernel-owned; doc 1.5), offsets for reference and hvsim ---- */

#define MSHV_ABI_ASSIST_ENTRY_REASON_OFF      8u   /* u32 */
#define MSHV_ABI_ASSIST_VINA_STATUS_OFF       12u  /* u8 */
#define MSHV_ABI_ASSIST_VTL_RET_RAX_OFF       16u  /* u64 */
#define MSHV_ABI_ASSIST_VTL_RET_RCX_OFF       24u  /* u64 */
#define MSHV_ABI_ASSIST_INTERCEPT_MESSAGE_OFF 112u /* 256 bytes */
#define MSHV_ABI_ASSIST_VTL_RET_ACTIONS_OFF   368u /* 256 bytes */
#define MSHV_ABI_ENTRY_REASON_LOWER_VTL_CALL  1u
#define MSHV_ABI_ENTRY_REASON_INTERRUPT       2u
#define MSHV_ABI_ENTRY_REASON_INTERCEPT       3u

/* ---- layout checks ---- */

/* ioctl numbers: hyperv-abi-facts 1.2 */
_Static_assert(MSHV_ABI_CHECK_EXTENSION == 0x4004B800u, "hyperv-abi-facts 1.2");
_Static_assert(MSHV_ABI_CREATE_VTL == 0x8001B81Du, "hyperv-abi-facts 1.2");
_Static_assert(MSHV_ABI_GET_VP_REGISTERS == 0xC010B805u, "hyperv-abi-facts 1.2");
_Static_assert(MSHV_ABI_SET_VP_REGISTERS == 0x4010B806u, "hyperv-abi-facts 1.2");
_Static_assert(MSHV_ABI_ADD_VTL0_MEMORY == 0x4010B821u, "hyperv-abi-facts 1.2");
_Static_assert(MSHV_ABI_SET_POLL_FILE == 0x4008B825u, "hyperv-abi-facts 1.2");
_Static_assert(MSHV_ABI_RETURN_TO_LOWER_VTL == 0x0000B827u, "hyperv-abi-facts 1.2");
_Static_assert(MSHV_ABI_SINT_SIGNAL_EVENT == 0x4008B822u, "hyperv-abi-facts 1.2");
_Static_assert(MSHV_ABI_SINT_POST_MESSAGE == 0x4018B823u, "hyperv-abi-facts 1.2");
_Static_assert(MSHV_ABI_SINT_SET_EVENTFD == 0x4008B824u, "hyperv-abi-facts 1.2");
_Static_assert(MSHV_ABI_SINT_PAUSE_MESSAGE_STREAM == 0x4008B825u, "hyperv-abi-facts 1.2");
_Static_assert(MSHV_ABI_HVCALL_SETUP == 0x4010B81Eu, "hyperv-abi-facts 1.2");
_Static_assert(MSHV_ABI_HVCALL == 0xC030B81Fu, "hyperv-abi-facts 1.2");

/* argument structs: hyperv-abi-facts 1.3 */
_Static_assert(sizeof(struct mshv_abi_vp_registers) == 16, "hyperv-abi-facts 1.3");
_Static_assert(offsetof(struct mshv_abi_vp_registers, count) == 0, "hyperv-abi-facts 1.3");
_Static_assert(offsetof(struct mshv_abi_vp_registers, reserved) == 4, "hyperv-abi-facts 1.3");
_Static_assert(offsetof(struct mshv_abi_vp_registers, regs_ptr) == 8, "hyperv-abi-facts 1.3");
_Static_assert(sizeof(struct mshv_abi_register_assoc) == 32, "hyperv-abi-facts 1.3");
_Static_assert(offsetof(struct mshv_abi_register_assoc, name) == 0, "hyperv-abi-facts 1.3");
_Static_assert(offsetof(struct mshv_abi_register_assoc, reserved1) == 4, "hyperv-abi-facts 1.3");
_Static_assert(offsetof(struct mshv_abi_register_assoc, reserved2) == 8, "hyperv-abi-facts 1.3");
_Static_assert(offsetof(struct mshv_abi_register_assoc, value) == 16, "hyperv-abi-facts 1.3");
_Static_assert(sizeof(struct mshv_abi_ram_disposition) == 16, "hyperv-abi-facts 1.3");
_Static_assert(offsetof(struct mshv_abi_ram_disposition, start_pfn) == 0, "hyperv-abi-facts 1.3");
_Static_assert(offsetof(struct mshv_abi_ram_disposition, last_pfn) == 8, "hyperv-abi-facts 1.3");
_Static_assert(sizeof(struct mshv_abi_set_poll_file) == 8, "hyperv-abi-facts 1.3");
_Static_assert(offsetof(struct mshv_abi_set_poll_file, cpu) == 0, "hyperv-abi-facts 1.3");
_Static_assert(offsetof(struct mshv_abi_set_poll_file, fd) == 4, "hyperv-abi-facts 1.3");
_Static_assert(sizeof(struct mshv_abi_signal_event) == 8, "hyperv-abi-facts 1.3");
_Static_assert(offsetof(struct mshv_abi_signal_event, connection_id) == 0, "hyperv-abi-facts 1.3");
_Static_assert(offsetof(struct mshv_abi_signal_event, flag) == 4, "hyperv-abi-facts 1.3");
_Static_assert(sizeof(struct mshv_abi_sint_post_msg) == 24, "hyperv-abi-facts 1.3");
_Static_assert(offsetof(struct mshv_abi_sint_post_msg, message_type) == 0, "hyperv-abi-facts 1.3");
_Static_assert(offsetof(struct mshv_abi_sint_post_msg, connection_id) == 8, "hyperv-abi-facts 1.3");
_Static_assert(offsetof(struct mshv_abi_sint_post_msg, payload_size) == 12, "hyperv-abi-facts 1.3");
_Static_assert(offsetof(struct mshv_abi_sint_post_msg, payload_ptr) == 16, "hyperv-abi-facts 1.3");
_Static_assert(sizeof(struct mshv_abi_set_eventfd) == 8, "hyperv-abi-facts 1.3");
_Static_assert(offsetof(struct mshv_abi_set_eventfd, fd) == 0, "hyperv-abi-facts 1.3");
_Static_assert(offsetof(struct mshv_abi_set_eventfd, flag) == 4, "hyperv-abi-facts 1.3");
_Static_assert(sizeof(struct mshv_abi_sint_mask) == 8, "hyperv-abi-facts 1.3");
_Static_assert(offsetof(struct mshv_abi_sint_mask, mask) == 0, "hyperv-abi-facts 1.3");
_Static_assert(offsetof(struct mshv_abi_sint_mask, reserved) == 1, "hyperv-abi-facts 1.3");
_Static_assert(sizeof(struct mshv_abi_hvcall_setup) == 16, "hyperv-abi-facts 1.3");
_Static_assert(offsetof(struct mshv_abi_hvcall_setup, bitmap_array_size) == 0,
	       "hyperv-abi-facts 1.3");
_Static_assert(offsetof(struct mshv_abi_hvcall_setup, allow_bitmap_ptr) == 8,
	       "hyperv-abi-facts 1.3");
_Static_assert(sizeof(struct mshv_abi_hvcall) == 48, "hyperv-abi-facts 1.3");
_Static_assert(offsetof(struct mshv_abi_hvcall, control) == 0, "hyperv-abi-facts 1.3");
_Static_assert(offsetof(struct mshv_abi_hvcall, input_size) == 8, "hyperv-abi-facts 1.3");
_Static_assert(offsetof(struct mshv_abi_hvcall, input_ptr) == 16, "hyperv-abi-facts 1.3");
_Static_assert(offsetof(struct mshv_abi_hvcall, status) == 24, "hyperv-abi-facts 1.3");
_Static_assert(offsetof(struct mshv_abi_hvcall, output_size) == 32, "hyperv-abi-facts 1.3");
_Static_assert(offsetof(struct mshv_abi_hvcall, output_ptr) == 40, "hyperv-abi-facts 1.3");

/* FXSAVE image and CPU context: hyperv-abi-facts 1.4 (cpu_context table) */
_Static_assert(sizeof(struct mshv_abi_fxsave) == 512, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_fxsave, fcw) == 0, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_fxsave, fsw) == 2, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_fxsave, ftw) == 4, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_fxsave, fop) == 6, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_fxsave, fip) == 8, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_fxsave, fdp) == 16, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_fxsave, mxcsr) == 24, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_fxsave, mxcsr_mask) == 28, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_fxsave, st) == 32, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_fxsave, xmm) == 160, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_fxsave, reserved2) == 416, "hyperv-abi-facts 1.4");
_Static_assert(sizeof(struct mshv_abi_cpu_context) == 640, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_cpu_context, rax) == 0, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_cpu_context, rcx) == 8, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_cpu_context, rdx) == 16, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_cpu_context, rbx) == 24, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_cpu_context, cr2) == 32, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_cpu_context, rbp) == 40, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_cpu_context, rsi) == 48, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_cpu_context, rdi) == 56, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_cpu_context, r8) == 64, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_cpu_context, r15) == 120, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_cpu_context, fx_state) == 128, "hyperv-abi-facts 1.4");

/* vtl_ret_action: hyperv-abi-facts 1.4 */
_Static_assert(sizeof(struct mshv_abi_vtl_ret_action_signal_event) == 16, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_vtl_ret_action_signal_event, action_type) == 0,
	       "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_vtl_ret_action_signal_event, target_vp) == 8,
	       "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_vtl_ret_action_signal_event, target_vtl) == 12,
	       "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_vtl_ret_action_signal_event, target_sint) == 13,
	       "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_vtl_ret_action_signal_event, flag_number) == 14,
	       "hyperv-abi-facts 1.4");

/* run page, upstream: hyperv-abi-facts 1.4 */
_Static_assert(sizeof(struct mshv_abi_run) == MSHV_ABI_RUN_SIZE, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_run, cancel) == 0, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_run, vtl_ret_action_size) == 4, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_run, pad) == 8, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_run, exit_message) == 16, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_run, cpu_context) == 272, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_run, cpu_context.fx_state.xmm) == 560,
	       "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_run, vtl_ret_actions) == 1296, "hyperv-abi-facts 1.4");

/* run page, OpenHCL: hyperv-abi-facts 1.4 */
_Static_assert(offsetof(struct mshv_abi_run_ohcl, cancel) == 0, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_run_ohcl, vtl_ret_action_size) == 4,
	       "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_run_ohcl, flags) == 8, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_run_ohcl, scan_proxy_irr) == 12, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_run_ohcl, offload_flags) == 13, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_run_ohcl, pad) == 14, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_run_ohcl, enter_mode) == 15, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_run_ohcl, exit_message) == 16, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_run_ohcl, cpu_context) == 272, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_run_ohcl, vtl_ret_actions) == 1296,
	       "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_run_ohcl, proxy_irr) == 1552, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_run_ohcl, target_vtl) == 1584, "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_run_ohcl, proxy_irr_blocked) == 1588,
	       "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_run_ohcl, proxy_irr_exit) == 1620,
	       "hyperv-abi-facts 1.4");
_Static_assert(offsetof(struct mshv_abi_run_ohcl, proxy_irr_exit) +
		       sizeof(((struct mshv_abi_run_ohcl *)0)->proxy_irr_exit) ==
		       MSHV_ABI_RUN_OHCL_SIZE,
	       "hyperv-abi-facts 1.4");
_Static_assert(sizeof(struct mshv_abi_run_ohcl) <= MSHV_ABI_PAGE_SIZE, "hyperv-abi-facts 1.4");

/* register page: hyperv-abi-facts 1.4 */

#endif
