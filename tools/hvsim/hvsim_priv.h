/*
 * hvsim internals shared by hvsim.c, hvsim_vp.c, hvsim_exc.c, hvsim_special.c, hvsim_hv.c,
 * hvsim_synic.c and hvsim_apic.c. Not for users.
 *
 * Locking (documented here because every module follows it):
 *   sim->lock     the shared hypervisor state: intercept tables, VTL protection map and its
 *                 generation, the host queue/callbacks. Held briefly; never while running VTL0
 *                 and never while holding a vp->lock.
 *   vp->lock      one VP's cross-thread state: in_guest, irr and the local APIC (vp->apic),
 *                 pending event, halted, poll fd,
 *                 and the right to touch vp->uc while the VP is not in the guest. The VP
 *                 thread holds it except inside uc_emu_start/HLT waits. Lock order: a thread
 *                 may take vp->lock and then sim->lock, never the reverse; never two vp->locks
 *                 (IPIs to other VPs are queued and delivered without the sender's lock).
 *   sint.lock     VTL2's SINT 7 stream (queue, pause state, event fds).
 *   exec_lock     who may run inside unicorn (one VP at a time, see hvsim_vp.c); taken with
 *                 no other hvsim lock held.
 *   atomics       run page cancel flag, vp->kick, statistics counters.
 */
#ifndef MEZZ_TOOLS_HVSIM_PRIV_H
#define MEZZ_TOOLS_HVSIM_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <unicorn/unicorn.h>

#include "arch/addr.h"
#include "hvcall/hv.h"
#include "tools/hvsim/hvsim.h"
#include "tools/hvsim/hvsim_msr.h"

/* Intercept types (InstallIntercept, hyperv-abi-facts 2.2). */
#define HVSIM_ICPT_IO_PORT       0x0u
#define HVSIM_ICPT_MSR           0x1u
#define HVSIM_ICPT_CPUID         0x2u
#define HVSIM_ICPT_EXCEPTION     0x3u
#define HVSIM_ICPT_HYPERCALL     0x8u
#define HVSIM_ICPT_IO_PORT_RANGE 0x11u

/* InstallIntercept access mask bits. */
#define HVSIM_ACC_READ  1u
#define HVSIM_ACC_WRITE 2u
#define HVSIM_ACC_EXEC  4u

#define HVSIM_MAX_CPUID_ICPT 64

/** Intercepts installed by VTL2 (under sim->lock). */
struct hvsim_intercepts {
	uint8_t io[65536];              /* per port: HVSIM_ACC_* mask */
	uint8_t msr;                    /* HVSIM_ACC_READ/WRITE: every non-hosted MSR */
	uint32_t exceptions;            /* bit per vector 0..31 */
	uint32_t cpuid_leaf[HVSIM_MAX_CPUID_ICPT];
	unsigned cpuid_count;
	bool hypercall;                 /* VTL0 hypercalls exit anyway (but hvsim_synth.c codes) */
};

/** A pending event to inject (PendingEvent0 / hvsim exceptions). */
struct hvsim_event {
	bool pending;
	uint8_t vector;
	bool has_error;
	uint32_t error;
	uint64_t param;                 /* CR2 for #PF */
};

/* Per-VP translation block scan cache (see the block hook in hvsim_special.c). */
/*
 * Direct-mapped, 80 bytes an entry (5 MiB a VP, touched as used). A Linux boot rescanned 2.7 M
 * blocks with 4096 entries, 1.0 M with 65536, 0.26 M once entries survive CR3 switches.
 */
#define HVSIM_TB_CACHE 65536
#define HVSIM_SPECIAL_HOOKS 32
#define HVSIM_SPECIAL_HOOK_AFTER 8 /* re-runs of one address before it gets a hook */
/* flush_tb: all translations (unicorn TB flush: tens of ms; most blocks of a gated VP never
 * reach the block-scan cache, so there is no cheaper "recently run" list) / the TLB and
 * hvsim's block scans (flush hypercalls: mappings changed under the same CR3) */
#define HVSIM_FLUSH_ALL    2u
#define HVSIM_FLUSH_TLB    4u

/* Cross-modifying code between VPs, per VP and guest page (hvsim_xmod.c). */
#define HVSIM_PG_CODE   1u  /* this VP's translations of the page are current */
#define HVSIM_PG_XDIRTY 2u  /* written since: drop them before running from it */
#define HVSIM_GATE_DIRTY 256u /* written code pages a gated VP remembers per run */

/*
 * VTL0's clocks (hvsim_synth.c): RDTSC, RDTSCP and IA32_TSC follow hvsim's own clock (host
 * CLOCK_MONOTONIC since partition creation) at exactly HVSIM_TSC_HZ, not the host TSC that
 * unicorn would return; TIME_REF_COUNT and the reference TSC page derive from the same clock.
 * A multiple of 10 MHz keeps the reference TSC page exact (hvsim_synth.c ref_scale).
 * HVSIM_APIC_HZ is the local APIC timer's input clock (APIC_FREQUENCY MSR).
 */
#define HVSIM_TSC_HZ  2000000000ull
#define HVSIM_APIC_HZ 200000000ull
#define HVSIM_MSG_TIMER_EXPIRED 0x80000010u

/** One synthetic timer (STIMERn_CONFIG / COUNT), under vp->lock. */
struct hvsim_stimer {
	uint64_t config, count;
	uint64_t deadline_ns;           /* partition ns of the next expiry, 0 = not armed */
};
/*
 * One cache line: the block hook reads one entry per block of VTL0 and its misses were most
 * of the hook's cost (an 80-byte entry often spanned two lines).
 */
struct hvsim_tb_entry {
	uint64_t pc, cr3;
	const uint8_t *p1, *p2;         /* host bytes of the block (p2: part on the next page) */
	uint64_t hash;
	uint32_t size;
	uint32_t epoch;                 /* vp->tb_epoch when keyed to cr3 (flush hypercalls) */
	uint32_t icpt_gen;              /* vp->icpt_gen_run when scanned */
	uint32_t hashed_run;            /* vp->run_seq when the hash was last checked */
	uint16_t icount;
	int16_t special_off;            /* offset of the first special instruction, -1 none */
	uint16_t len1;                  /* bytes of the block on p1's page */
};
_Static_assert(sizeof(struct hvsim_tb_entry) == 64, "one cache line");

/* ---- the local APIC (hvsim_apic.c) ---- */

#define HVSIM_APIC_BASE 0xFEE00000ull
/* The timer counts at HVSIM_APIC_HZ / divide configuration; TSC-deadline uses VTL0's TSC
 * (hvsim_vp_tsc, HVSIM_TSC_HZ). */

/** An IPI waiting to reach other VPs (sent under the sender's lock, delivered without it). */
struct hvsim_apic_ipi {
	uint32_t lo, dest;              /* ICR low, destination (8-bit xAPIC / 32-bit x2APIC) */
	bool x2;
};
#define HVSIM_APIC_OUTQ 16

/** Per-VP local APIC state (vp->lock; the IRR is vp->irr). */
struct hvsim_apic {
	uint64_t base;                  /* IA32_APIC_BASE */
	uint32_t tpr, ldr, dfr, svr, esr, icr_lo, icr_hi;
	uint32_t lvt[6];                /* timer, thermal, perf, LINT0, LINT1, error */
	uint32_t timer_init, timer_div;
	uint8_t isr[32], tmr[32];
	uint8_t aeoi[32];               /* pending SynIC auto-EOI vectors: skip the ISR */
	uint64_t timer_start_ns;        /* CLOCK_MONOTONIC of the initial-count write */
	uint64_t deadline_ns;           /* next timer expiry (CLOCK_MONOTONIC), 0 = none */
	uint64_t tsc_deadline;          /* IA32_TSC_DEADLINE */
	bool nmi_pending;
	bool wait_sipi;                 /* after INIT: parked until a SIPI (not run) */
	bool in_init, in_sipi;          /* INIT / SIPI received, processed by the VP's thread */
	int pending_sipi_vector, sipi_vector;  /* -1 none */
	uint32_t sipi_count;
	int eoi_msg;                    /* level vector whose EOI VTL2 must hear of, -1 none */
	struct hvsim_apic_ipi out[HVSIM_APIC_OUTQ];
	unsigned out_n;
};

struct hvsim_vp {
	struct hvsim *sim;
	uint32_t index;
	uc_engine *uc;
	uc_context *uc_ctx;             /* scratch for the old_exception workaround */
	uc_context *reset_ctx;          /* the engine's state right after creation */
	void *run_page;                 /* 4096 bytes, page aligned */
	void *reg_page;                 /* NULL without the capability */
	uc_hook bp_hook;                /* hvsim_vp_set_breakpoint (vp->lock), 0 none */
	uint32_t icpt_gen_run;          /* sim->icpt_gen when this run started (InstallIntercept
					   kicks every VP, so a running one starts over) */
	uint64_t bp_rip;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool in_guest;                  /* inside uc_emu_start (vp->lock) */
	bool halted;                    /* waiting in HLT for an interrupt */
	uint8_t irr[32];                /* pending fixed interrupts (vp->lock) */
	struct hvsim_event event;       /* pending exception (vp->lock) */
	bool interrupt_shadow;
	int poll_fd;
	atomic_bool kick;               /* block hook stops emulation when set */
	atomic_bool want_window;        /* interrupt pending with IF=0: stop once IF=1 */
	atomic_uint flush_tb;           /* HVSIM_FLUSH_*: drop translations before the next run */
	uint32_t slice;                 /* blocks run in this slice of the execution lock */
	uint32_t run_seq;               /* bumped per uc_emu_start of the run loop (block hashes) */
	/* Code mode (16/32/64) and CS base: RIP + cs_base is the linear PC (real mode after a
	 * SIPI). Recomputed lazily (hvsim_vp_mode) when stale or when CS changed. */
	uint8_t mode;
	bool mode_stale;
	uint16_t mode_cs;
	uint64_t cs_base;
	bool ran;                       /* unicorn has executed (translated) code */
	bool exec_locked;               /* inside the run loop's uc_emu_start (execution lock) */
	_Atomic uint8_t *codepg;        /* HVSIM_PG_* per guest page (hvsim_xmod.c) */
	uint64_t cr3;                   /* CR3 while in unicorn: MOV to CRn is a special */
	uint8_t *ring_mem;              /* hvsim_ring.c: private pages of the CPL 0 detour */
	bool ring_detour;               /* running that detour: the block hook stands aside */

	/* Set by unicorn hooks during one uc_emu_start, consumed by the run loop. */
	int stop;                       /* enum hvsim_stop */
	uint32_t stop_vector;
	uint64_t stop_addr;             /* special instruction address / faulting VA */
	unsigned stop_access;           /* 0 read, 1 write, 2 execute */
	uint64_t allow_special_at;      /* the block hook lets this one special through */
	/*
	 * Special instructions inside a block that stop VTL0 often (a driver's IN/OUT loop) get a
	 * UC_HOOK_CODE hook of their own, which stops right before them: no re-run with `until`,
	 * whose truncated translation unicorn drops at the end of every such run (two
	 * translations per exit otherwise). cur_e: the block the block hook let run.
	 */
	struct { uint64_t lin; uc_hook h; } sphook[HVSIM_SPECIAL_HOOKS];
	unsigned sphook_n;
	uint8_t rerun_count[256];       /* re-runs per hashed special address, saturating */
	const struct hvsim_tb_entry *cur_e;

	/* VTL protections applied to this engine (hvsim_vp.c). */
	uint8_t *applied_prot;
	uint64_t applied_gen;
	uc_hook prot_hook;              /* fault hook over [prot_lo, prot_hi] (sync_prot), 0 none */
	uint64_t prot_lo, prot_hi;

	struct hvsim_tb_entry *tb;      /* HVSIM_TB_CACHE entries, cache-line aligned in tb_mem */
	void *tb_mem;
	uint32_t tb_epoch;              /* bumped by a TLB flush: entries re-check their mapping */

	/* VTL0-private state not kept by unicorn. */
	uint64_t guest_os_id, hypercall_msr;
	uint64_t vp_assist_msr;      /* HV_X64_MSR_VP_ASSIST_PAGE as written (stored only) */
	uint64_t tsc_offset;            /* guest TSC - hvsim clock TSC (IA32_TSC writes) */
	struct hvsim_stimer stimer[4];  /* hvsim_synth.c */
	/* VTL0's SynIC (synthetic MSRs 0x40000080..0x4000009F), target of *Direct hypercalls. */
	uint64_t scontrol, siefp, simp, sint[16];
	uint64_t dr[4], dr6, dr7;       /* unicorn has these but they are inert; see docs */
	/* MTRRs: stored only (no memory-type effects). var[] in MSR order base0, mask0, ... */
	uint64_t mtrr_def, mtrr_var[16], mtrr_fix[11];

	struct hvsim_apic apic;

	atomic_uint_fast64_t st_exits[HVSIM_EXIT_KIND_COUNT];
	atomic_uint_fast64_t st_insns, st_blocks, st_host_io, st_host_msr, st_host_cpuid;
	atomic_uint_fast64_t st_exc, st_intr, st_ring0, st_xmodify, st_reruns, st_steps;
	atomic_uint_fast64_t st_gate_flush;

	/*
	 * The block-hook gate (unicorn patch 0003, docs/hvsim.md): a block without a
	 * special instruction calls the block hook only while `gate` is 1. Whatever needs the hook
	 * opens it (hvsim_gate_open): a kick, an interrupt window, the APIC timer (the timer
	 * thread, from gate_deadline), a host write to a code page. Each run starts it closed
	 * unless something is pending.
	 */
	volatile uint8_t gate;
	_Atomic uint64_t gate_deadline;  /* APIC deadline of the running gated run, 0 none (the
					    timer thread opens the gate then, hvsim_synth.c) */
	atomic_uint gate_host_dirty;     /* host stores to this VP's code pages (xmod_fault) */
	/* Pages stored to (by anyone) since the run started: their translations are dropped
	 * before the next run (gate_run_start); under sim->xmod_lock. */
	uint32_t gate_dirty[HVSIM_GATE_DIRTY];
	unsigned gate_dirty_n;           /* > HVSIM_GATE_DIRTY: overflowed, drop everything */
	uint32_t gate_icpt_gen;          /* intercepts the translations were made under */
	atomic_bool in_uc;               /* the VP's thread is inside uc_emu_start (uc_thread) */
	pthread_t uc_thread;
};

struct hvsim_sint {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool paused;
	uint8_t queue[HVSIM_SINT_QUEUE_LEN][256];
	unsigned head, count;
	int poll_efd;                   /* eventfd, readable while queue non-empty or paused */
	int flag_fd[2048];
	uint8_t pending_flags[2048 / 8];  /* signalled while paused: delivered on resume */
};

struct hvsim {
	struct hvsim_config cfg;
	uint8_t *ram;
	uint64_t mem_size;
	uint32_t vp_count;
	struct hvsim_vp *vps[HVSIM_MAX_VPS];

	pthread_mutex_t lock;
	/* The block-hook gate (hvsim_vp.c). */
	atomic_bool count_all;           /* gate held open: every block counted (count_insns) */
	struct hvsim_intercepts icpt;
	uint8_t *prot;                  /* VTL0 protection mask per RAM page (HvMapGpaFlags) */
	uint64_t vtl2_pool_base, vtl2_pool_next, vtl2_pool_end;  /* hvsim_vtl2_alloc, under lock */
	/* hvsim_xmod.c: pages write-protected on the host, under xmod_lock. */
	uint8_t *xprot;
	atomic_flag xmod_lock;
	int xmod_slot;                  /* registry slot for the SIGSEGV handler, -1 none */
	atomic_uint_fast64_t prot_gen;
	atomic_uint_fast64_t icpt_gen;  /* bumped by InstallIntercept: block scans are redone */
	bool vtl_enabled[HVSIM_MAX_VPS];
	bool partition_vtl1_enabled;

	/* Host side (sim->lock). */
	struct hvsim_host_ops host_ops;
	void *host_ctx;
	struct hvsim_host_msg host_q[HVSIM_SINT_QUEUE_LEN];
	unsigned host_head, host_count;
	struct hvsim_host_io_ops io_ops;  /* set before VPs run; read without the lock */
	void *io_ctx;

	struct hvsim_sint sint;

	/* Poll-file watcher thread (hvsim_vp.c). */
	pthread_t watcher;
	bool watcher_started;
	int epfd, watcher_stop_efd;

	/* Execution lock (hvsim_vp.c): a fair ticket lock, one VP inside unicorn at a time. */
	pthread_mutex_t exec_lock;
	pthread_cond_t exec_cond;
	uint64_t exec_next, exec_serving;
	atomic_uint exec_waiters;

	atomic_uint_fast64_t st_hypercalls;
	pthread_mutex_t trace_lock;

	/* hvsim_synth.c: the partition clock, REFERENCE_TSC (sim->lock), the stimer thread. */
	uint64_t t0_ns;
	uint64_t ref_tsc_msr;
	pthread_mutex_t timer_lock;     /* after a vp->lock, never before one */
	pthread_cond_t timer_cond;
	pthread_t timer_thread;
	uint64_t timer_gen;
	uint64_t timer_wake;            /* CLOCK_MONOTONIC ns it sleeps until, UINT64_MAX none */
	bool timer_init, timer_started, timer_stop;
};

/* ---- shared by the VP modules: hvsim_vp.c, hvsim_exc.c, hvsim_special.c ---- */

/* Blocks a VP runs before yielding the exec lock to a waiting VP (exec_acquire, hvsim_vp.c). */
#define HVSIM_SLICE_BLOCKS 16384u

/* Why unicorn stopped: set by the hooks during one uc_emu_start, read by the run loop. */
enum hvsim_stop {
	HVSIM_STOP_NONE = 0,
	HVSIM_STOP_KICK,
	HVSIM_STOP_SPECIAL,   /* stop_addr: a special instruction */
	HVSIM_STOP_INTR,      /* stop_vector */
	HVSIM_STOP_MEM_UNMAPPED,
	HVSIM_STOP_MEM_PROT,
	HVSIM_STOP_BREAK,     /* hvsim_vp_set_breakpoint */
};

#define HVSIM_RFLAGS_TF (1ull << 8)
#define HVSIM_RFLAGS_IF (1ull << 9)
#define HVSIM_CR4_PCIDE (1ull << 17)
#define HVSIM_MAXPHYADDR 46 /* what unicorn's CPU model reports in CPUID 0x80000008 */
#define HVSIM_RFLAGS_NT (1ull << 14)
#define HVSIM_RFLAGS_RF (1ull << 16)
#define HVSIM_RFLAGS_VM (1ull << 17)

/** An exception to raise or deliver in VTL0. */
struct hvsim_fault {
	uint8_t vector;
	bool has_error;
	uint32_t error;
	uint64_t cr2;
};

/** A segment register read from the GDT (intercept message layout, minus the packing). */
struct hvsim_seg {
	uint64_t base;
	uint32_t limit;
	uint16_t selector, attr;
};

struct x86_insn;
struct hv_exit;

/* hvsim_vp.c */
/** unicorn register ids of RAX..R15, in architectural order. */
extern const int hvsim_uc_gpr[16];
uint64_t hvsim_rd(struct hvsim_vp *vp, int reg);
void hvsim_wr(struct hvsim_vp *vp, int reg, uint64_t v);
uint64_t hvsim_rd_msr(struct hvsim_vp *vp, uint32_t msr);
unsigned hvsim_vp_cpl(struct hvsim_vp *vp);
/** VTL0 linear-address access by hvsim itself; 0, -EFAULT (*pf, *fault_va set), -EINVAL, -ENXIO. */
int hvsim_vaccess(struct hvsim_vp *vp, uint64_t va, void *buf, size_t len, unsigned access,
		  uint32_t *pf, uint64_t *fault_va);
unsigned hvsim_fetch_insn(struct hvsim_vp *vp, uint64_t rip, uint8_t bytes[16]);
struct hvsim_seg hvsim_read_seg(struct hvsim_vp *vp, int reg);
struct hv_x64_segment_register hvsim_seg_to_hv(struct hvsim_seg s);
uint64_t hvsim_seg_base(struct hvsim_vp *vp, int seg);
struct hv_x64_intercept_header hvsim_icpt_header(struct hvsim_vp *vp, unsigned insn_len,
						 unsigned access, uint64_t rip);
void hvsim_put_msg(struct hvsim_vp *vp, const struct hv_exit *ex);
void hvsim_finish_exit(struct hvsim_vp *vp, enum hvsim_exit_kind kind, uint64_t rip);
/** Memory exit at vp->stop_addr / stop_access: message (1) or a fault raised in VTL0. */
int hvsim_handle_mem(struct hvsim_vp *vp, bool prot);
/** Put the VP's CPU back into unicorn's reset state (vp->lock held, not in the guest). */
void hvsim_vp_reset_cpu(struct hvsim_vp *vp);
/** Save unicorn's state into the run page context (after register changes by hvsim). */
void hvsim_vp_ctx_save(struct hvsim_vp *vp);
/** Host-side VTL0 SynIC: assert SINT `sint` of `vp` (vp->lock held). */
void hvsim_vp_assert_sint_locked(struct hvsim_vp *vp, unsigned sint);
/** VTL0 synthetic MSR access for the SynIC MSRs: 1 handled, 0 not a SynIC MSR, -1 #GP. */
int hvsim_vp_synic_msr(struct hvsim_vp *vp, uint32_t msr, bool write, uint64_t *val);
int hvsim_vp_init(struct hvsim *sim, uint32_t index, struct hvsim_vp **out);
void hvsim_vp_fini(struct hvsim_vp *vp);
int hvsim_vp_start_watcher(struct hvsim *sim);
void hvsim_vp_stop_watcher(struct hvsim *sim);
/** Read/write VTL0 guest-physical RAM; -EFAULT outside RAM. */
int hvsim_vp_read_gpa(struct hvsim *sim, uint64_t gpa, void *buf, size_t len);
/** Kick a VP out of unicorn without cancelling (pending interrupt, protection change). */
void hvsim_vp_kick(struct hvsim_vp *vp);
/** Translate a VTL0 VA of `vp` (not running) with the walker; 0 or -EFAULT/-EINVAL. */
int hvsim_vp_translate(struct hvsim_vp *vp, uint64_t va, unsigned access, uint64_t *gpa_out,
		       uint32_t *pf_error);
/** Wait until no VP runs with an older protection generation than `gen`. */
void hvsim_vp_sync_protections(struct hvsim *sim, uint64_t gen);

/* hvsim_exc.c: the functions returning int return 1 when an exit message was produced. */
/** Find unicorn's old_exception slot (once per process). */
void hvsim_oldexc_init(void);
void hvsim_exit_unrecoverable(struct hvsim_vp *vp);
/** Raise an exception at the current RIP: exception intercept or delivery through the IDT. */
int hvsim_raise_exc(struct hvsim_vp *vp, struct hvsim_fault f);
int hvsim_raise_gp(struct hvsim_vp *vp);
int hvsim_write_selector(struct hvsim_vp *vp, int reg, uint16_t sel);
int hvsim_raise_ud(struct hvsim_vp *vp);
void hvsim_clear_old_exception(struct hvsim_vp *vp);

/* hvsim_ring.c: CPL 3 -> CPL 0 through a private call gate (the pages sit at HVSIM_RING_PA). */
#define HVSIM_RING_PA 0xFFFFF00000ull
int hvsim_ring_init(struct hvsim_vp *vp);
void hvsim_ring_fini(struct hvsim_vp *vp);
int hvsim_ring_enter_cpl0(struct hvsim_vp *vp);
int hvsim_ring_start_real_mode(struct hvsim_vp *vp, unsigned vector);
/** The linear address through which `in` at `rip` reached guest-physical `gpa`, if found. */
bool hvsim_fault_gva(struct hvsim_vp *vp, uint64_t rip, const struct x86_insn *in, bool fetch,
		     uint64_t gpa, uint64_t *gva);
/** Vector `vector` reported by unicorn's UC_HOOK_INTR. */
int hvsim_handle_intr(struct hvsim_vp *vp, unsigned vector);
int hvsim_inject_pending(struct hvsim_vp *vp);

/* hvsim_special.c */
bool hvsim_decode(struct hvsim_vp *vp, const uint8_t *bytes, size_t n, struct x86_insn *insn);
/* The VP's code mode (16, 32 or 64) and CS base, refreshed if stale (hvsim_vp.c). */
unsigned hvsim_vp_mode(struct hvsim_vp *vp);
uint64_t hvsim_vp_lin(struct hvsim_vp *vp, uint64_t rip);
uint64_t hvsim_addr_mask(const struct x86_insn *in);
void hvsim_hook_block(uc_engine *uc, uint64_t addr, uint32_t size, void *user);
bool hvsim_special_hook_rerun(struct hvsim_vp *vp, uint64_t lin);
uint32_t hvsim_hook_in(uc_engine *uc, uint32_t port, int size, void *user);
void hvsim_hook_out(uc_engine *uc, uint32_t port, int size, uint32_t value, void *user);
/** The special instruction at `rip`; 1 when an exit message was produced. */
int hvsim_handle_special(struct hvsim_vp *vp, uint64_t rip);
/** MTRR storage of `vp` for MSR `msr` (0xFE is read-only, NULL for non-MTRR MSRs). */
uint64_t *hvsim_vp_mtrr_slot(struct hvsim_vp *vp, uint32_t msr);
#define HVSIM_MTRR_CAP 0x508ull  /* 8 variable ranges, fixed ranges, WC */

/* hvsim_synth.c */
int hvsim_synth_init(struct hvsim *sim);
int hvsim_synth_start(struct hvsim *sim);
/* A gated run's APIC deadline (CLOCK_MONOTONIC ns) was published: wake the timer thread if
 * it sleeps past it (timer_lock: after vp->lock). */
void hvsim_synth_gate_deadline(struct hvsim *sim, uint64_t deadline);
void hvsim_synth_fini(struct hvsim *sim);
/** Reference time (100 ns units since partition creation) and `vp`'s TSC. */
uint64_t hvsim_ref_time(struct hvsim *sim);
uint64_t hvsim_vp_tsc(struct hvsim_vp *vp);
void hvsim_vp_set_tsc(struct hvsim_vp *vp, uint64_t tsc);
int hvsim_hook_rdtsc(uc_engine *uc, void *user);
int hvsim_hook_rdtscp(uc_engine *uc, void *user);
/** Synthetic MSRs, IA32_TSC and the stimers (vp->lock held): 1 handled, 0 not ours, -1 #GP. */
int hvsim_synth_msr(struct hvsim_vp *vp, uint32_t msr, bool write, uint64_t *val);
/** VTL0 hypercalls the hypervisor answers (flush, IPI): true = RAX and RIP set. */
bool hvsim_vtl0_hypercall(struct hvsim_vp *vp, uint64_t rip);

/* hvsim_apic.c (vp->lock held unless said otherwise) */
void hvsim_apic_init(struct hvsim_vp *vp);
/** Pend `vector` in the IRR (TMR for level; auto_eoi: delivered without entering the ISR). */
void hvsim_apic_accept(struct hvsim_vp *vp, unsigned vector, bool level, bool auto_eoi);
unsigned hvsim_apic_route(struct hvsim *sim, uint32_t dest, bool logical, bool lowest,
			  uint8_t vector, bool level);
/** The vector the APIC would deliver now (IRR above PPR, APIC enabled), -1 if none. */
int hvsim_apic_next(const struct hvsim_vp *vp);
/** Deliver: hvsim_apic_next moved from the IRR into the ISR; -1 if none. */
int hvsim_apic_ack(struct hvsim_vp *vp);
/** Take a pending NMI (IPI with delivery mode NMI). */
bool hvsim_apic_take_nmi(struct hvsim_vp *vp);
/** Timer expiry and INIT/SIPI processing; call at instruction boundaries. */
void hvsim_apic_poll(struct hvsim_vp *vp);
/** The timer deadline has passed (cheap check for the block hook). */
bool hvsim_apic_due(const struct hvsim_vp *vp);
/** A halted VP must wake (interrupt deliverable with IF=1, NMI, pending event). */
bool hvsim_apic_wakeup(struct hvsim_vp *vp);
/** Sleep on vp->cond until kicked or the timer deadline, then poll. */
void hvsim_apic_wait(struct hvsim_vp *vp);
/** IA32_APIC_BASE, IA32_TSC_DEADLINE, x2APIC MSRs: 1 handled, 0 not an APIC MSR, -1 #GP. */
int hvsim_apic_msr(struct hvsim_vp *vp, uint32_t msr, bool write, uint64_t *val);
/** Memory exit at vp->stop_addr on the xAPIC page: emulated (0, or 1 with an exit message
 * or fault delivery result), -1 = not the APIC's (the UnmappedGpa path goes on). */
int hvsim_apic_mmio(struct hvsim_vp *vp);
/** After an APIC access retired: the EOI message for a level vector (1) or nothing (0). */
int hvsim_apic_post(struct hvsim_vp *vp);
/** Deliver this VP's queued IPIs to other VPs. The VP's thread, no hvsim lock held. */
void hvsim_apic_flush_ipis(struct hvsim_vp *vp);

#include "tools/hvsim/hvsim_hv.h"
#include "tools/hvsim/hvsim_synic.h"

/* hvsim_xmod.c: cross-modifying code between VPs. check: before a block from `e` runs under the
 * execution lock; true = its page(s) were claimed and its translations dropped: stop, re-run. */
int hvsim_xmod_init(struct hvsim *sim);
void hvsim_xmod_fini(struct hvsim *sim);
bool hvsim_xmod_check(struct hvsim_vp *vp, uc_engine *uc, uint64_t addr,
		      const struct hvsim_tb_entry *e);
/* A gated VP translates code from guest page `pg`: false if the page was written since its
 * translations were last dropped (the block must call its hook). */
bool hvsim_xmod_gate_claim(struct hvsim_vp *vp, uint64_t pg);
/* Run start of a gated VP: drop the translations of pages written since (xmod_fault); false
 * when there were too many to track (the caller drops all translations). */
bool hvsim_xmod_gate_sync(struct hvsim_vp *vp);

/* The block-hook gate (hvsim_special.c: the translation-time filter; hvsim_vp.c: the rest). */
bool hvsim_gate_filter(uc_engine *uc, uint64_t pc, void *user);
static inline void hvsim_gate_open(struct hvsim_vp *vp)
{
	__atomic_store_n(&vp->gate, 1, __ATOMIC_SEQ_CST);
}
/* uc_emu_start for `vp` on its thread, marked so that the fault handler tells the guest's own
 * stores (unicorn invalidates its translations itself) from hvsim's and VTL2's. */
static inline uc_err hvsim_vp_emu(struct hvsim_vp *vp, uint64_t begin, uint64_t until,
				  size_t count)
{
	vp->uc_thread = pthread_self();
	atomic_store(&vp->in_uc, true);
	uc_err e = uc_emu_start(vp->uc, begin, until, 0, count);
	atomic_store(&vp->in_uc, false);
	return e;
}

/* Guest pages of a cached block's bytes (*g2 = *g1 when it has no second page). */
static inline void hvsim_tb_pages(const struct hvsim_vp *vp, const struct hvsim_tb_entry *e,
				  uint64_t *g1, uint64_t *g2)
{
	*g1 = (uint64_t)(e->p1 - vp->sim->ram) >> ADDR_PAGE_SHIFT;
	*g2 = e->p2 ? (uint64_t)(e->p2 - vp->sim->ram) >> ADDR_PAGE_SHIFT : *g1;
}

/* Are this VP's translations of the block's page(s) current? (no side effects) */
static inline bool hvsim_xmod_current(const struct hvsim_vp *vp, const struct hvsim_tb_entry *e)
{
	uint64_t g1, g2;
	hvsim_tb_pages(vp, e, &g1, &g2);
	return atomic_load_explicit(&vp->codepg[g1], memory_order_relaxed) == HVSIM_PG_CODE &&
	       atomic_load_explicit(&vp->codepg[g2], memory_order_relaxed) == HVSIM_PG_CODE;
}

void hvsim_trace(struct hvsim *sim, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
