/*
 * devctx: the partition services a device model may use, handed to it at creation by whoever
 * builds the machine (vtl2 core, or a unit test with its own fakes). This is the whole of what
 * devices see of the paravisor besides the I/O bus, interrupt lines and the clock: no seam, no
 * hypercalls, no VP threads.
 */
#ifndef MEZZ_VTL2_DEVCTX_H
#define MEZZ_VTL2_DEVCTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "arch/addr.h"
#include "vtl2/irq.h"
#include "vtl2/vclock.h"

/** Why a device asks the VM to stop. */
enum devctx_stop {
	DEVCTX_STOP_RESET = 0,      /* reset control 0xCF9, i8042 pulse */
	DEVCTX_STOP_POWER_OFF,      /* ACPI power off */
	DEVCTX_STOP_TEST_EXIT,      /* test device exit port: `code` 0 = pass */
};

/** What a device hears from the host's VMBus (VTL2's SINT 7), on the partition's host thread. */
struct devctx_host_ops {
	/** A message the host sent (its type and payload, <= 240 bytes, copied). */
	void (*message)(void *dev, uint32_t type, const void *payload, uint32_t len);
	/** An event flag the device watches (host_watch) fired; which one is not told. */
	void (*event)(void *dev);
};

struct devctx {
	void *ctx;
	/** Stop every VP in an orderly way; the first request wins. `vp` = requesting VP. */
	void (*stop)(void *ctx, enum devctx_stop why, uint32_t code, uint32_t vp);
	/**
	 * Test device only: remove (write_protect) or restore VTL0 write access to one RAM page.
	 * 0 or -errno (-EINVAL: not RAM).
	 */
	int (*protect)(void *ctx, gpn_t page, bool write_protect);
	/** Test device only: VTL-protection intercepts handled so far. */
	uint64_t (*protect_hits)(void *ctx);
	/** The time source for timers. */
	struct vclock *clock;
	/** Interrupts for VTL0 (controllers deliver here). */
	struct irq_sink sink;
	/** Device log (rate-limited by the device where VTL0 can trigger it); NULL: stderr. */
	FILE *log;
	/*
	 * VTL0's SynIC, for VMBus: post a message (type, payload <= 240 bytes) into SINT `sint`
	 * of VTL0 VP `vp` (-EAGAIN: its slot is busy, retry later), or set event flag `flag`
	 * (< 2048) of that SINT. 0 or -errno. NULL when the partition has no SynIC access.
	 */
	int (*post_message)(void *ctx, uint32_t vp, uint8_t sint, uint32_t type,
			    const void *payload, uint32_t len);
	int (*signal_event)(void *ctx, uint32_t vp, uint8_t sint, uint16_t flag);
	/*
	 * VTL0 RAM by guest-physical address (ring buffers, GPADL pages): a host pointer to
	 * [gpa, gpa + len) when that is ordinary VTL0 RAM in one mapping (never VTL2's or withheld
	 * pages), else NULL. The memory is shared with VTL0: read each field once.
	 */
	void *(*ram_ptr)(void *ctx, gpa_t gpa, uint64_t len);
	/*
	 * The reverse, for partitions whose VTL0 memory the host can reach anyway (no hardware
	 * isolation): the guest-physical address of [host, host + len) when that is ordinary
	 * VTL0 RAM from ram_ptr, so a device may name VTL0's pages to the host instead of
	 * bouncing the data through shared pages. 0 or -errno. NULL in isolated partitions.
	 */
	int (*host_gpa)(void *ctx, const void *host, uint64_t len, gpa_t *out);
	/*
	 * The host's VMBus, seen from VTL2 (the seam's SINT 7 stream): post a message to a host
	 * connection id, signal a host event, listen (one listener, set before the partition
	 * runs) and watch event flags, and memory the host can reach (rings toward the host:
	 * contiguous pages and their guest-physical numbers). 0 or -errno; -EOPNOTSUPP where
	 * the kernel interface has no such memory (kif_shared_alloc).
	 */
	int (*host_post)(void *ctx, uint32_t conn, uint32_t type, const void *payload,
			 uint32_t len);
	int (*host_signal)(void *ctx, uint32_t conn, uint32_t flag);
	int (*host_listen)(void *ctx, const struct devctx_host_ops *ops, void *dev);
	int (*host_watch)(void *ctx, uint32_t flag);
	int (*shared_alloc)(void *ctx, size_t pages, void **host, uint64_t *pfns);
};

static inline void devctx_stop(const struct devctx *d, enum devctx_stop why, uint32_t code,
			       uint32_t vp)
{
	if (d && d->stop)
		d->stop(d->ctx, why, code, vp);
}

#endif
