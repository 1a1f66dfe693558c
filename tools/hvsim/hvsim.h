/*
 * hvsim: a simulated Microsoft hypervisor partition for Mezzanine's tests.
 *
 * One partition = guest RAM (one host buffer, GPA 0 .. mem_size), N virtual processors whose
 * VTL0 runs on unicorn (one uc_engine per VP, all mapping the same RAM buffer), the hypervisor
 * side of VTL2 (hypercalls, intercept messages, VTL protections, VTL2's SynIC SINT 7) and a
 * "host" API for tests and the later VMBus host.
 *
 * hvsim is passive: VTL0 code of VP n runs inside hvsim_vp_run(sim, n) on the calling thread,
 * exactly like MSHV_RETURN_TO_LOWER_VTL runs it on the calling CPU. kif_sim.c implements
 * vtl2/kif.h on top of the hvsim_vp_* / hvsim_hvcall / hvsim_sint_* calls below.
 *
 * What is modelled and what is not: docs/hvsim.md.
 *
 * Threading: hvsim_vp_run, hvsim_vp_get/set_register for VP n from one thread at a time (the
 * VP's thread). Everything else may be called from any thread.
 */
#ifndef MEZZ_TOOLS_HVSIM_H
#define MEZZ_TOOLS_HVSIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "arch/addr.h"

union hv_register_value;
struct hvsim;

#define HVSIM_MAX_VPS 64
#define HVSIM_DEFAULT_MEM_SIZE (64ull << 20)

/** Partition configuration. Zero fields take defaults. */
struct hvsim_config {
	uint32_t vp_count;      /* 1..HVSIM_MAX_VPS; 0 means 1 */
	uint64_t mem_size;      /* bytes of RAM at GPA 0, multiple of 4 KiB; 0 = 64 MiB */
	bool trace;             /* one line per exit/delivery on trace_out */
	FILE *trace_out;        /* NULL = stderr */
	bool register_page;     /* expose cap REGISTER_PAGE (kind-1 page per VP) */
	bool run_layout_ohcl;   /* run page is the 1652-byte OpenHCL layout (else upstream) */
	/*
	 * Count every guest instruction (hvsim_stats.guest_insns): every translation block calls
	 * hvsim's block hook. Otherwise the hook is gated (docs/hvsim.md, "The
	 * block-hook gate"): blocks without an instruction hvsim must see skip it while nothing is
	 * pending, several times faster, and the counts cover only the blocks that called it.
	 */
	bool count_insns;
};

int hvsim_create(const struct hvsim_config *cfg, struct hvsim **out);
void hvsim_destroy(struct hvsim *sim);

/** Host pointer to [gpa, gpa + len) of guest RAM, or NULL if any of it is not RAM. */
void *hvsim_gpa_ptr(struct hvsim *sim, gpa_t gpa, size_t len);
uint64_t hvsim_mem_size(const struct hvsim *sim);
uint32_t hvsim_vp_count(const struct hvsim *sim);
bool hvsim_has_register_page(const struct hvsim *sim);

/*
 * Guest entry state (tools/hvsim contract): GDT at 0x1000 (null, 0x08 code64 DPL0, 0x10 data,
 * 0x18 code32, 0x20 user data DPL3, 0x28 user code64 DPL3), identity page tables at 0x2000
 * mapping 0..4 GiB with 2 MiB pages (P|RW|US), CR0 0x80010033, CR4 0x620, EFER 0xD01,
 * CR3 0x2000, CS 0x08, DS=ES=SS=FS=GS 0x10, RFLAGS 0x2, IDTR limit 0, RIP = rip, RDI = vp,
 * RSI = vp count, RSP = 0. The VP's CPU is first put back into its reset state (pending events
 * and interrupts dropped) and translations of code that ran before are forgotten, so a VP can
 * be set up again for a new guest. VTL0 may then install page tables of its own (any mapping).
 */
#define HVSIM_GDT_GPA       0x1000ull
#define HVSIM_PML4_GPA      0x2000ull
#define HVSIM_SETUP_END_GPA 0x8000ull
int hvsim_vp_setup_long_mode(struct hvsim *sim, uint32_t vp, uint64_t rip);

/**
 * Make every VP drop unicorn's translated code before it next runs. Needed after writing guest
 * code through hvsim_gpa_ptr / the VTL0 mapping over code that already ran (unicorn does not
 * see host-side writes; hvsim notices changed bytes of recently run blocks on its own, this
 * covers the rest). hvsim_vp_setup_long_mode does it for its VP.
 */
void hvsim_flush_code(struct hvsim *sim);

/** The partition that kif_open() (kif_sim) attaches to; NULL clears it. */
void hvsim_set_current(struct hvsim *sim);
struct hvsim *hvsim_get_current(void);

/* ---- statistics ---- */

enum hvsim_exit_kind {
	HVSIM_EXIT_IO = 0,          /* X64IoPortIntercept */
	HVSIM_EXIT_UNMAPPED_GPA,    /* UnmappedGpa (MMIO) */
	HVSIM_EXIT_GPA_INTERCEPT,   /* GpaIntercept (VTL protection) */
	HVSIM_EXIT_CPUID,
	HVSIM_EXIT_MSR,
	HVSIM_EXIT_EXCEPTION,
	HVSIM_EXIT_HYPERCALL,
	HVSIM_EXIT_HALT,
	HVSIM_EXIT_UNRECOVERABLE,   /* triple fault */
	HVSIM_EXIT_CANCEL,          /* hvsim_vp_run returned -EINTR */
	HVSIM_EXIT_APIC_EOI,        /* X64ApicEoi (EOI of a level-triggered vector) */
	HVSIM_EXIT_KIND_COUNT
};

struct hvsim_stats {
	uint64_t exits_by_kind[HVSIM_EXIT_KIND_COUNT];
	/*
	 * Guest instructions executed by unicorn: counted per executed translation block (a block
	 * cut short by an exception or exit still counts whole, so this is an upper bound). Only
	 * the blocks that called the block hook when insns_counted is false (a gated partition).
	 */
	uint64_t guest_insns;
	uint64_t guest_blocks;
	bool insns_counted;
	uint64_t gate_flushes;       /* all translations dropped after host writes to code pages */
	uint64_t host_io;            /* port accesses answered by the "host" (no intercept) */
	uint64_t host_msr;           /* MSR accesses handled by hvsim itself */
	uint64_t host_cpuid;         /* CPUIDs answered without an intercept */
	uint64_t exceptions_delivered;
	uint64_t interrupts_delivered;
	uint64_t ring0_entries;      /* CPL 3 -> 0 transitions (exceptions, interrupts, SYSCALL) */
	uint64_t xmodified_pages;    /* code pages retranslated after another VP's stores */
	uint64_t block_reruns;       /* blocks re-run with `until` to stop before a special insn */
	uint64_t unicorn_steps;      /* special instructions executed singly inside unicorn */
	uint64_t hypercalls;         /* through hvsim_hvcall */
};
void hvsim_get_stats(const struct hvsim *sim, struct hvsim_stats *st);
/** Count every guest instruction from now on (on) or only where the block hook runs anyway
 * (off, the default unless hvsim_config.count_insns); see hvsim_config.count_insns.
 * Returns the previous setting. */
bool hvsim_count_insns(struct hvsim *sim, bool on);
/** Short name of an enum hvsim_exit_kind ("io", "mmio", ...); "?" when out of range. */
const char *hvsim_exit_kind_name(unsigned kind);

/* ---- VTL0 interrupts ---- */

/**
 * Assert fixed, edge-triggered interrupt `vector` (16..255) on VP `vp`'s VTL0 (same path as
 * HvCallAssertVirtualInterrupt): pended in the VP's local APIC IRR, delivered through the
 * guest IDT once its priority class is above the PPR, RFLAGS.IF = 1 and there is no interrupt
 * shadow; wakes a VP halted in HLT.
 */
int hvsim_assert_interrupt(struct hvsim *sim, uint32_t vp, uint8_t vector);
/**
 * Same, edge- or level-triggered. A level-triggered vector sets its TMR bit; the guest's EOI
 * of it sends VTL2 an APIC EOI message (HVMSG_X64_APIC_EOI) on that VP.
 */
int hvsim_assert_interrupt_ex(struct hvsim *sim, uint32_t vp, uint8_t vector, bool level);

/** Local APIC state of a VP, for tests and diagnostics. */
struct hvsim_apic_info {
	bool wait_for_sipi;     /* INIT received, parked until a SIPI */
	int sipi_vector;        /* last SIPI received in wait-for-SIPI, -1 none (recorded only) */
	uint32_t sipi_count;
	uint64_t apic_base;     /* IA32_APIC_BASE */
	uint32_t tpr;
	uint8_t isr[32], irr[32];
};
int hvsim_apic_get_info(struct hvsim *sim, uint32_t vp, struct hvsim_apic_info *out);

/* ---- the mshv_vtl driver operations (used by kif_sim.c) ---- */

/** Run page of `vp` (4096 bytes, page aligned; layout per config run_layout_ohcl). */
void *hvsim_vp_run_page(struct hvsim *sim, uint32_t vp);
/** Register page of `vp`, or NULL without the register_page capability. */
void *hvsim_vp_register_page(struct hvsim *sim, uint32_t vp);
/**
 * MSHV_RETURN_TO_LOWER_VTL: apply the run page's cpu_context to VTL0, run it until an
 * intercept. Returns 0 with the message in the exit slot and cpu_context filled, -EINTR
 * (cancel flag set / poll file signalled / kicked), or HVSIM_RUN_BREAK (the VP reached its
 * breakpoint, hvsim_vp_set_breakpoint; no message).
 */
int hvsim_vp_run(struct hvsim *sim, uint32_t vp);
/** Set `vp`'s cancel flag and force it out of hvsim_vp_run. Any thread. */
int hvsim_vp_cancel(struct hvsim *sim, uint32_t vp);
/** MSHV_SET_POLL_FILE: each wakeup of `fd` (e.g. an eventfd write) cancels `vp`. -1 removes. */
int hvsim_vp_set_poll_file(struct hvsim *sim, uint32_t vp, int fd);
/** MSHV_GET/SET_VP_REGISTERS on `vp`'s VTL0 (one register; the driver's routing rules). */
int hvsim_vp_get_register(struct hvsim *sim, uint32_t vp, uint32_t name,
			  union hv_register_value *value);
int hvsim_vp_set_register(struct hvsim *sim, uint32_t vp, uint32_t name,
			  const union hv_register_value *value);

/**
 * A hypercall made by VTL2 on VP `caller_vp` (memory calling convention, never fast): `in` /
 * `out` stand for the input and output pages. Returns 0 with *result = the raw 64-bit result
 * value; -EINVAL for sizes over 4096 (what the driver rejects).
 */
int hvsim_hvcall(struct hvsim *sim, uint32_t caller_vp, uint64_t control, const void *in,
		 size_t in_size, void *out, size_t out_size, uint64_t *result);

/* ---- VTL2 SynIC SINT 7 (/dev/mshv_sint) ---- */

int hvsim_sint_pause(struct hvsim *sim, bool pause);
/** 1 with 256 bytes in msg256, 0 at EOF (paused and empty), -EAGAIN (non-blocking, empty). */
int hvsim_sint_read(struct hvsim *sim, void *msg256, bool block);
/** Readable when a message is queued or the stream is paused. Owned by hvsim. */
int hvsim_sint_poll_fd(const struct hvsim *sim);
/** HvCallPostMessage from VTL2 to the host. 0, -EAGAIN (no buffers), -EINVAL. */
int hvsim_sint_post_message(struct hvsim *sim, uint32_t connection_id, uint32_t message_type,
			    const void *payload, size_t size);
/** HvCallSignalEvent from VTL2 to the host. */
int hvsim_sint_signal_event(struct hvsim *sim, uint32_t connection_id, uint32_t flag);
/** Signal `fd` when SINT 7 event flag `flag` (< 2048) fires; fd -1 removes. */
int hvsim_sint_set_eventfd(struct hvsim *sim, uint32_t flag, int fd);

/*
 * VTL2's own memory the host can reach (kif_shared_alloc in kif_sim): a range of partition
 * RAM that is VTL2's (withheld from VTL0), set by whoever lays the partition out (mezz-sim:
 * the --vtl2-mem range). Pages are handed out front to back, never taken back. alloc:
 * -ENOMEM when the range is used up or was never set.
 */
int hvsim_set_vtl2_pool(struct hvsim *sim, gpa_t base, uint64_t size);
int hvsim_vtl2_alloc(struct hvsim *sim, size_t pages, gpa_t *first);
/** Bytes handed out of the pool so far. */
uint64_t hvsim_vtl2_pool_used(struct hvsim *sim);

/* ---- the "host" side (tests, later the VMBus host) ---- */

#define HVSIM_SINT_QUEUE_LEN 64
/**
 * Queue a message for VTL2's SINT 7 (message type, sender/port id, payload <= 240 bytes).
 * -EAGAIN when HVSIM_SINT_QUEUE_LEN messages are already queued.
 */
int hvsim_host_send_message(struct hvsim *sim, uint32_t message_type, uint32_t sender,
			    const void *payload, size_t size);
/** Set SINT 7 event flag `flag` of VTL2 (signals the eventfd registered for it). */
int hvsim_host_signal_flag(struct hvsim *sim, uint32_t flag);

/** What VTL2 posted to the host (PostMessage) or signalled (SignalEvent). */
struct hvsim_host_msg {
	uint32_t connection_id;
	uint32_t message_type;  /* for events: 0 */
	uint32_t flag;          /* for events: the flag number */
	uint32_t size;
	bool is_event;
	uint8_t payload[240];
};
/**
 * Optional host callbacks, called from the VTL2 thread posting or signalling. post_message
 * returns 0 (accepted) or -EAGAIN (reported to VTL2 as INSUFFICIENT_BUFFERS). Without
 * callbacks, posts and signals are queued (HVSIM_SINT_QUEUE_LEN deep; posts beyond answer
 * -EAGAIN) for hvsim_host_take().
 */
struct hvsim_host_ops {
	int (*post_message)(void *ctx, const struct hvsim_host_msg *msg);
	void (*signal_event)(void *ctx, uint32_t connection_id, uint32_t flag);
};
void hvsim_set_host_ops(struct hvsim *sim, const struct hvsim_host_ops *ops, void *ctx);
/** Take the oldest queued post/signal: 1 with *msg filled, 0 when none. */
int hvsim_host_take(struct hvsim *sim, struct hvsim_host_msg *msg);

/**
 * The host's port devices: IN/OUT (and INS/OUTS) that no intercept covers go to the host, as
 * on Hyper-V where the worker process emulates them (VTL2's COM port, for example). `in`
 * returns the value (size 1, 2 or 4 bytes, low bits); without ops every read gives all ones
 * and writes are dropped. Called from the VP's thread inside hvsim_vp_run; must not call back
 * into hvsim for that VP.
 */
struct hvsim_host_io_ops {
	uint32_t (*in)(void *ctx, uint32_t vp, uint16_t port, unsigned size);
	void (*out)(void *ctx, uint32_t vp, uint16_t port, unsigned size, uint32_t value);
};
void hvsim_set_host_io(struct hvsim *sim, const struct hvsim_host_io_ops *ops, void *ctx);

/**
 * Stop VP `vp` when it is about to execute the instruction at linear address `rip` (0
 * removes the breakpoint): hvsim_vp_run then returns HVSIM_RUN_BREAK with RIP = rip and the
 * instruction not executed. For loaders and tests (e.g. the end of a boot stage).
 */
#define HVSIM_RUN_BREAK 1
int hvsim_vp_set_breakpoint(struct hvsim *sim, uint32_t vp, uint64_t rip);

#endif
