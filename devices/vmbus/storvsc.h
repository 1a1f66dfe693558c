/*
 * storvsc: the paravisor as a client of the host's synthetic SCSI controller (StorVSC side of
 * hyperv-abi-facts §3.8) over one open VMBus channel, so that VTL2 can relay the host's disk
 * to VTL0 (vmbus_host opens the channel, vm.c serves the disk with scsi_disk + vmbus_scsi).
 *
 * Model:
 * - The caller owns the channel: it opened it over `ring` (first half: our outgoing ring,
 *   second half: the host's; each half a control page then data pages) and gives a way to
 *   signal the host. It calls storvsc_event() whenever the host signalled (the partition's
 *   host thread) and storvsc_start() once the channel is open.
 * - Init, asynchronous (driven by completions in storvsc_event, so the host thread never
 *   blocks): BEGIN_INITIALIZATION, QUERY_PROTOCOL_VERSION 0x0602, then 0x0600 and 0x0501 while
 *   the host answers REVISION_MISMATCH, QUERY_PROPERTIES, END_INITIALIZATION, then READ
 *   CAPACITY(16) of path 0 target 0 LUN 0 (READ CAPACITY(10) when that fails). The packets
 *   before a version is accepted are 48 bytes (the host cannot know the WIN8 SRB size yet),
 *   64 from then on. Then cfg.ready(ctx, 0, backend) runs (or with -errno when init failed),
 *   once, on the thread that completed init, without the lock.
 * - I/O: the backend (struct scsi_disk_backend: read/write/flush at byte offsets, size,
 *   rw_batch, rw_submit and cancel) issues READ(16) / WRITE(16) as GPA-direct EXECUTE_SRB
 *   packets over a bounce buffer of pages the host can reach (cfg.bounce; no VTL0 or private
 *   VTL2 page is ever named to the host, unless cfg.host_gpa says the host may reach that
 *   buffer anyway: then its own pages, no copy), split into pieces of min(bounce, the host's
 *   max_transfer_bytes) bytes, and SYNCHRONIZE CACHE(10) inband.
 * - Asynchronous batches (rw_submit): up to 32 transfers sent with one signal and left with
 *   the host; done() runs when all are answered (on the thread that reads the answers: the
 *   host thread's storvsc_event, or the submitter's own poll right after its signal, for a
 *   host that answers inside it). Up to 32 such batches and 256 requests are in flight
 *   together; each holds its own bounce pages until it ends. One that cannot go now (the
 *   synchronous batch runs, no slots, bounce pages or ring space, a transfer to split) is
 *   refused with -EAGAIN and the caller runs it synchronously. A timer thread (started with
 *   the first asynchronous batch, waking every timeout/4, 5 ms .. 1 s) ends batches past
 *   cfg.timeout_ms: their unanswered transfers fail with -ETIMEDOUT. cancel ends them all now
 *   (-ECANCELED), so their owner can go away.
 * - The synchronous batch (read/write/flush, rw_batch, init): one at a time; it first waits
 *   until no asynchronous batch is in flight (none starts meanwhile), so it has the bounce
 *   pages to itself, and for room in our ring (the host may commit what it read after
 *   answering; it is asked to signal via pending_send_sz), then sends, signals, polls the
 *   ring for up to 50 us and then sleeps on a condition variable in 1 ms steps, reading the
 *   ring (and expiring async batches) itself after each, until every request is answered, in
 *   any order: the waiter may be the very thread that runs storvsc_event or the timer (a
 *   batch's done() can resume a drain that needs a synchronous command).
 * - Only 512-byte logical blocks; offsets and lengths must be multiples of 512 (scsi_disk only
 *   asks for whole blocks), else -EINVAL.
 *
 * The host is untrusted (confidential VMs). Every packet from it is copied out of the ring
 * once and checked: type completion, a transaction id we are waiting for (ids are never
 * reused, so a late answer to an abandoned request is recognised and dropped), length at
 * least what we sent, operation COMPLETE_IO, NTSTATUS success, srb_status success (flag bits
 * masked), scsi_status GOOD, data_transfer_length equal to what was asked for reads and writes
 * (a short transfer is an error) and at most what was asked otherwise. READ CAPACITY must say
 * 512-byte blocks and a size from 1 block to STORVSC_MAX_DISK_BYTES. Any failure of an I/O is
 * -EIO; a request that gets no answer within cfg.timeout_ms is -ETIMEDOUT, the batch's other
 * answered requests keep their results (the channel stays
 * usable; the bounce pages may still be written by a late host, which a hostile host could do
 * anyway: data on shared pages is the host's to read and change). A ring that breaks the
 * protocol ends the client: every later request is -EIO. Inband packets the host sends on its
 * own (e.g. ENUMERATE_BUS) are counted and ignored.
 *
 * Not done: subchannels, other LUNs or targets, block sizes other than 512, resets or
 * re-init after a failure, hot removal (rescind) of the disk, aborting single requests (a
 * timed-out one's late answer is dropped; its pages may still be written by the host).
 */
#ifndef MEZZ_DEVICES_VMBUS_STORVSC_H
#define MEZZ_DEVICES_VMBUS_STORVSC_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/vmbus/scsi_disk.h"

/** Upper bound on a capacity the host may claim (bytes): 2^50, 1 PiB. */
#define STORVSC_MAX_DISK_BYTES (1ull << 50)
/** Default request timeout. */
#define STORVSC_TIMEOUT_MS 30000u

struct storvsc_config {
	void *ring;                 /* ring_pages pages: our ring half, then the host's half */
	uint32_t ring_pages;        /* even, >= 4 */
	void *bounce;               /* bounce_pages pages the host can reach */
	const uint64_t *bounce_pfns;    /* their guest page numbers (copied) */
	uint32_t bounce_pages;      /* 1 .. 256 */
	uint32_t timeout_ms;        /* 0: STORVSC_TIMEOUT_MS */
	/**
	 * Optional, for partitions without hardware isolation (the host reaches VTL0's memory
	 * anyway): the guest-physical address of a transfer's buffer when it is memory the host
	 * may access directly, 0; else -errno and the data goes through the bounce pages. The
	 * request then names those pages to the host (no copy). Any thread.
	 */
	int (*host_gpa)(void *ctx, const void *buf, size_t len, uint64_t *gpa);
	/** Tell the host there is something in our ring (any thread, no lock held). 0/-errno. */
	int (*signal)(void *ctx);
	/** Init finished: err 0 with the backend (valid until storvsc_destroy), else -errno. */
	void (*ready)(void *ctx, int err, const struct scsi_disk_backend *be);
	void (*log)(void *ctx, const char *line);   /* NULL: stderr */
	void *ctx;
};

struct storvsc_stats {
	bool ready;
	uint16_t version;
	uint32_t max_transfer_bytes;
	uint64_t disk_bytes;
	uint64_t requests, errors, timeouts;
	uint64_t bytes_read, bytes_written;
	uint64_t direct;            /* requests that named the caller's pages (host_gpa) */
	uint64_t bad_packets;       /* not a completion we wait for, or a malformed one */
	uint64_t broken;            /* 1 once the ring broke */
};

struct storvsc;

/** 0, -EINVAL (bad config) or -ENOMEM. Nothing is sent yet. */
int storvsc_create(const struct storvsc_config *cfg, struct storvsc **out);
/** Once nobody calls the backend or storvsc_event any more: stops the timer thread, ends what
 * is still in flight (-ECANCELED; their done() runs here). NULL accepted. */
void storvsc_destroy(struct storvsc *s);
/** The channel is open: send BEGIN_INITIALIZATION. 0, -EALREADY, or a send error. */
int storvsc_start(struct storvsc *s);
/** The host signalled the channel: read its completions (any thread). */
void storvsc_event(struct storvsc *s);
void storvsc_get_stats(struct storvsc *s, struct storvsc_stats *st);

#endif
