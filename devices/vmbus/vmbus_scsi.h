/*
 * vmbus_scsi: a synthetic SCSI controller channel on the paravisor's VMBus for VTL0: one
 * storvsp instance (storvsp.h) with one disk at path 0, target 0, LUN 0, offered with the SCSI
 * class GUID. The disk is served by VTL2 itself (termination, e.g. an image file) or is the
 * host's, reached through storvsc (storvsc.h) on the host's VMBus: the storage relay.
 *
 * Data plane: on open the ring GPADL's pages must be ordinary VTL0 RAM; each half's data pages
 * must be contiguous in VTL2's view of VTL0 memory (pages that follow each other in guest-
 * physical memory, as Linux allocates its rings), else the open fails. A signal from VTL0 on
 * the channel's connection id drains the client-to-server ring on the signalling VP's thread:
 * every packet is copied out and handed to storvsp in batches of up to 16
 * (storvsp_handle_batch_async: their in-place reads and writes reach the disk together, so a
 * relayed disk's host serves them at once). Each batch's completions (type 0xB, same
 * transaction id, when the client asked for one) are published before the next batch is
 * taken, and the client's consumed requests committed, so a client on another CPU overlaps.
 *
 * Asynchronous disks (a backend with rw_submit: VTL2's storvsc client of the host): a batch's
 * in-place READ/WRITEs complete when the host answers, on whatever thread sees the answer
 * (the host-event thread, or a VP's own poll). Its completions then go out from that thread;
 * meanwhile the VP goes on with VTL0, and later signals take later batches: up to 16 batches
 * in flight, then draining pauses until one ends (its end resumes it). A batch that ends while
 * another thread holds the channel is left on a lock-free list for that thread, which takes
 * it before it lets go. Answers for an earlier open of the channel are dropped. Completions
 * may therefore reach the client in any order, as simple-tagged SCSI commands may.
 *
 * When the server-to-client ring is full the completions are kept (storvsp already executed
 * them), pending_send_sz asks the client to signal when there is room, and draining stops until
 * then. A ring that breaks the protocol stops the channel (nothing more is read or written
 * until the client closes and reopens it).
 */
#ifndef MEZZ_DEVICES_VMBUS_VMBUS_SCSI_H
#define MEZZ_DEVICES_VMBUS_VMBUS_SCSI_H

#include <stdint.h>

#include "devices/vmbus/scsi_disk.h"
#include "devices/vmbus/vmbus_server.h"
#include "vtl2/devctx.h"

struct vmbus_scsi;

struct vmbus_scsi_stats {
	uint64_t packets;           /* handed to storvsp */
	uint64_t completions;       /* written back */
	uint64_t ring_full;         /* a completion had to wait for room */
	uint64_t bad_packets;       /* types storvsp does not take, oversized payloads */
	uint64_t broken;            /* rings that broke the protocol */
};

/**
 * Offer a SCSI controller with `disk` (not owned; it must outlive the channel) on `srv`.
 * `dc` gives VTL0 RAM (ram_ptr) and the log. `instance` distinguishes controllers (0, 1, ...).
 * 0, -EINVAL, -ENOMEM or the server's offer error.
 */
int vmbus_scsi_create(struct vmbus_server *srv, const struct devctx *dc, struct scsi_disk *disk,
		      uint32_t instance, struct vmbus_scsi **out);
/**
 * After the partition is stopped (no VP can signal any more). Batches still in flight are
 * ended first (scsi_disk_cancel on the disk: every transfer its backend still holds, this
 * channel's or not, fails with -ECANCELED), so nothing calls back afterwards.
 */
void vmbus_scsi_destroy(struct vmbus_scsi *s);
void vmbus_scsi_get_stats(struct vmbus_scsi *s, struct vmbus_scsi_stats *st);

#endif
