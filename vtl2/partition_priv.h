/* partition internals shared by partition.c (set-up, services, stop) and vp.c (VP loops). */
#ifndef MEZZ_VTL2_PARTITION_PRIV_H
#define MEZZ_VTL2_PARTITION_PRIV_H

#include <pthread.h>
#include <stdatomic.h>

#include "hvcall/hv_call.h"
#include "vtl2/gmem.h"
#include "vtl2/partition.h"
#include "vtl2/vpreg.h"
#include "vtl2/vtl0boot.h"

struct vp {
	struct partition *p;
	uint32_t index;
	pthread_t thread;
	atomic_bool started;
	struct iobus_hint hint;
	struct vpreg_pages pages;    /* looked up once at bind */
	/* Guard against an exit the paravisor cannot make progress on (same message at the same
	   RIP again and again): after VP_STORM_LIMIT the VM is stopped with a message. */
	uint64_t storm_rip;
	uint32_t storm_type;
	unsigned storm_count;
};

#define VP_STORM_LIMIT 100000u

struct partition {
	struct partition_config cfg;
	struct kif *kif;
	struct hv_call_ctx hc;
	uint32_t vp_count;
	struct gmem mem;
	void *map_host[PARTITION_MAX_RAM];
	uint64_t map_size[PARTITION_MAX_RAM];
	unsigned map_count;
	struct iobus *bus;
	struct vclock *clock;
	struct vclock_timer watchdog;
	struct devctx devctx;
	struct irq_eoi eoi;
	struct vp *vps;
	struct vtl0boot boot;        /* with cfg.kernel: where VP 0 starts */
	/* Cleared once the hypervisor refuses to forward unclaimed MMIO (not allowed or not
	   implemented): the paravisor then answers it itself without asking again per access. */
	atomic_bool mmio_to_host;
	FILE *trace;
	FILE *log;

	pthread_mutex_t lock;        /* result, parked, cond */
	pthread_cond_t cond;
	atomic_bool stop;
	bool result_set;
	struct partition_result *res;
	uint32_t parked;

	pthread_mutex_t out_lock;    /* trace and log lines */
	uint64_t log_window;         /* rate limit: second of the current window */
	unsigned log_lines;          /* lines in that window */
	uint64_t log_dropped;

	/* VTL2's SINT 7 (the host's VMBus): one listener, served by host_thread while running. */
	const struct devctx_host_ops *host_ops;
	void *host_dev;
	int host_efd, host_stop_efd;
	pthread_t host_thread;
	bool host_running;

	atomic_uint_fast64_t exits[PARTITION_EXIT_KIND_COUNT];
	atomic_uint_fast64_t bad_accesses, unclaimed, injected, gpa_hits;
};

/** Record the outcome (the first one wins) and stop every VP. */
__attribute__((format(printf, 5, 6)))
void partition_finish(struct partition *p, enum partition_outcome o, uint32_t code, uint32_t vp,
		      const char *fmt, ...);
/** One trace line; the macro keeps the untraced fast path free of the variadic call. */
__attribute__((format(printf, 2, 3)))
void partition_trace_line(struct vp *v, const char *fmt, ...);
#define partition_trace(v, ...)                                 \
	do {                                                    \
		if ((v)->p->cfg.trace)                          \
			partition_trace_line((v), __VA_ARGS__); \
	} while (0)
/** A warning, at most PARTITION_LOG_PER_SECOND lines a second (VTL0 can trigger them). */
#define PARTITION_LOG_PER_SECOND 20u
__attribute__((format(printf, 2, 3)))
void partition_log(struct partition *p, const char *fmt, ...);
/** Park the calling VP until the run ends (HLT with IF=0); false if it was the last one. */
bool partition_park(struct partition *p);

/** vp.c: the thread body of one VP. */
void *vp_main(void *arg);

#endif
