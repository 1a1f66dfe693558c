/*
 * vmbus_host: the paravisor's own client of the host's VMBus (hyperv-abi-facts §3.1: VTL2
 * posts to connection id 0x800074 and hears the host on its SINT 7), and the first device it
 * relays: COM1. A vmbus_client (vmbus_client.h) runs over the partition's host services
 * (devctx host_post/host_signal/host_listen/host_watch/shared_alloc).
 *
 * - Created before the partition runs: InitiateContact goes out at once (SINT 7, VTL 2, VP 0);
 *   the answers are read by the partition's host thread once it runs, which also drives every
 *   later step: offers, then for the host's VMBus serial device (class VMBUS_GUID_SERIAL,
 *   instance COM1) a GPADL over 8 pages of memory the host can reach (4 per direction:
 *   control page + 3 data pages) and OpenChannel.
 * - COM1: vmbus_host_serial_tx() takes the bytes VTL0 writes to the paravisor's 16550. They
 *   are sent to the host in inband packets framed as struct vmbus_serial_hdr + bytes (the
 *   framing is Mezzanine's own: VMBus serial's real protocol is not in the facts we have), one
 *   packet per line or per VMBUS_SERIAL_MAX_BYTES. Until the channel is open (and while its
 *   ring is full) up to VMBUS_HOST_BACKLOG bytes wait; beyond that bytes are dropped and
 *   counted. Bytes the host sends come to the `rx` callback (e.g. the UART's receive side).
 * - The host is untrusted in confidential VMs: vmbus_client checks every message, the ring
 *   views every index and descriptor; a serial packet that is not well framed is counted and
 *   skipped; a broken ring stops the relay (counted).
 *
 * - The host's SCSI controller (class VMBUS_GUID_SCSI, the first one offered): a GPADL over
 *   8 ring pages, OpenChannel, then storvsc (storvsc.h) initialises it over 64 bounce pages;
 *   when the disk is ready, cfg.disk_ready gets a scsi_disk_backend for it, which the caller
 *   serves to VTL0 (vm.c: scsi_disk + vmbus_scsi on VTL0's VMBus: the storage relay).
 *
 * Not yet: hot removal of the host's disk (a rescind stops the relay, VTL0's disk then fails
 * its I/O), rescind handling beyond forgetting the channel, reconnect after Unload.
 */
#ifndef MEZZ_DEVICES_VMBUS_VMBUS_HOST_H
#define MEZZ_DEVICES_VMBUS_VMBUS_HOST_H

#include <stdint.h>

#include "devices/vmbus/scsi_disk.h"
#include "vtl2/devctx.h"

/** The serial channel's framing, both directions: this header, then byte_count raw bytes. */
struct vmbus_serial_hdr {
	uint32_t byte_count;    /* 1 .. VMBUS_SERIAL_MAX_BYTES */
	uint32_t reserved;      /* 0 */
};
_Static_assert(sizeof(struct vmbus_serial_hdr) == 8, "Mezzanine serial framing: 8-byte header");
#define VMBUS_SERIAL_MAX_BYTES 2048u

#define VMBUS_HOST_BACKLOG (64u * 1024u)

struct vmbus_host;

struct vmbus_host_config {
	/** Bytes from the host's serial channel (NULL: counted and dropped). Host thread. */
	void (*rx)(void *ctx, const uint8_t *bytes, size_t len);
	void *rx_ctx;
	/**
	 * The host's SCSI disk is ready (storvsc.h): `be` reads and writes it (valid until
	 * vmbus_host_destroy; calls block until the host answers, up to the timeout). Host thread,
	 * once. NULL: the channel is still opened and initialised, the disk unused.
	 */
	void (*disk_ready)(void *ctx, const struct scsi_disk_backend *be);
	void *disk_ctx;
};

struct vmbus_host_stats {
	int connect_err;            /* 0 connected, -errno, 1 still connecting */
	uint32_t version;
	bool serial_open;
	uint64_t serial_bytes_out, serial_packets_out, serial_dropped;
	uint64_t serial_bytes_in, serial_bad_packets, serial_broken;
	bool disk_ready;
	uint64_t disk_bytes, disk_requests, disk_errors, disk_timeouts, disk_bad_packets;
	uint64_t disk_direct;           /* requests over VTL0's own pages (no bounce) */
};

/**
 * Start: listen on the host's SINT 7 and send InitiateContact. Before the partition runs.
 * -EINVAL when `dc` lacks the host services, -EBUSY when someone listens already, -errno.
 */
int vmbus_host_create(const struct devctx *dc, const struct vmbus_host_config *cfg,
		      struct vmbus_host **out);
/** After the partition stopped (its host thread is gone). NULL accepted. */
void vmbus_host_destroy(struct vmbus_host *h);
/** One COM1 byte for the host (any thread; never blocks on the host). */
void vmbus_host_serial_tx(struct vmbus_host *h, uint8_t byte);
void vmbus_host_get_stats(struct vmbus_host *h, struct vmbus_host_stats *st);

#endif
