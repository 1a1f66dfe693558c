/*
 * hvsim_vmbus: the simulated Hyper-V host's VMBus, the server that VTL2's own VMBus client
 * talks to (hyperv-abi-facts §1.9, §3.1). It is the project's vmbus_server
 * (devices/vmbus/vmbus_server.h) in its redirected-client mode, wired to hvsim's host side:
 *
 *   VTL2 (kif_sint_post_message / hvsim_sint_post_message) on 0x800074, message type 1
 *     -> host ops post_message -> vmbus_server_handle_message (after a copy)
 *   vmbus_server's messages -> hvsim_host_send_message(type 1) -> VTL2's SINT 7 stream
 *   VTL2 (kif_sint_signal_event) on a channel's connection id -> vmbus_server_signal
 *   vmbus_server's channel events -> hvsim_host_signal_flag -> VTL2's SINT 7 event flag
 *
 * The connection: VTL2 sends InitiateContact (>= 5.0, naming VP, SINT 7 and VTL 2) to
 * VMBUS_CONN_ID_VTL2_REDIRECT and every later message there too; nothing else is a message
 * connection (other ids: the post fails, VTL2 sees an error as for
 * HV_STATUS_INVALID_CONNECTION_ID). Channel n signals on connection id
 * HVSIM_VMBUS_CONN_ID_BASE + n (openvmm's numbering: n | SINT 7 << 12 | VTL 2 << 16) unless the
 * 6.0 client chose its own; the host raises SINT 7 event flag n (or the one the client chose).
 * hvsim has a single SINT 7 stream and event-flag set (the one /dev/mshv_sint reads on CPU 0),
 * so the target VP of a message or event is checked by the server but does not change where it
 * lands.
 *
 * SINT 7 full: hvsim queues HVSIM_SINT_QUEUE_LEN messages. When VTL2 has not read them, the
 * server keeps the next message first in line (post_message answered -EAGAIN) and a small
 * flusher thread of this module calls vmbus_server_flush every retry period (default 1 ms)
 * until the server's queue is empty; hvsim gives the host no "VTL2 read a message" callback,
 * so the timer is the only trigger besides VTL2's next post (every post drains the queue too).
 * hvsim_vmbus_flush() does the same on demand.
 *
 * GPADLs must be partition RAM (hvsim_gpa_ptr): a GPADL naming pages outside it is refused
 * with GpadlCreated(error). Ring halves must be contiguous pages in it.
 *
 * Backends, each one channel:
 * - serial (cfg.serial): class VMBUS_GUID_SERIAL, instance COM1. VMBus serial's real protocol
 *   is not in the facts doc, so this is Mezzanine's own framing, kept minimal: every message in
 *   either direction is one inband packet (type 6) whose payload is struct
 *   vmbus_serial_hdr (devices/vmbus/vmbus_host.h: byte_count, reserved 0) followed by byte_count raw bytes (1 ..
 *   HVSIM_VMBUS_SERIAL_MAX_BYTES); the header is needed because ring payloads are padded to 8
 *   bytes. No completions either way (a completion request is ignored). The host prints every
 *   byte VTL2 sends to cfg.serial_out, each line prefixed with "host-serial: "; any other
 *   packet is counted as bad and skipped. hvsim_vmbus_serial_send() sends bytes to VTL2.
 * - scsi (cfg.disk_path): a storvsp SCSI controller (devices/vmbus/vmbus_scsi.h) with one disk
 *   (scsi_disk over the raw image file, read-write unless cfg.disk_read_only).
 *
 * Trust: VTL2 is untrusted by the host only in confidential mode, but nothing VTL2 posts,
 * signals or writes into its rings can crash the host: the server validates every message, the
 * ring views every index and descriptor, and a ring that breaks the protocol stops its channel
 * until VTL2 closes and reopens it.
 *
 * Threads: the host ops run on the VTL2 thread that posts or signals; the flusher thread posts
 * queued messages. hvsim_vmbus_serial_send and the stats calls may come from any thread.
 */
#ifndef MEZZ_TOOLS_HVSIM_VMBUS_H
#define MEZZ_TOOLS_HVSIM_VMBUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "devices/vmbus/scsi_disk.h"
#include "devices/vmbus/vmbus_host.h"
#include "devices/vmbus/vmbus_scsi.h"
#include "devices/vmbus/vmbus_server.h"
#include "hvcall/vmbus_abi.h"

struct hvsim;
struct hvsim_vmbus;

/** Signal connection id of channel relid n: this + n (vmbus_conn_id_channel(0, 7, 2)). */
#define HVSIM_VMBUS_CONN_ID_BASE 0x27000u
/** Largest byte_count of one serial packet (the framing is the paravisor's, vmbus_host.h). */
#define HVSIM_VMBUS_SERIAL_MAX_BYTES VMBUS_SERIAL_MAX_BYTES
/** Default flush period while VTL2's SINT 7 queue is full. */
#define HVSIM_VMBUS_RETRY_US 1000u


struct hvsim_vmbus_config {
	bool serial;            /* offer the serial channel (COM1) */
	FILE *serial_out;       /* where VTL2's serial bytes are printed; NULL: stdout */
	const char *disk_path;  /* raw image for the SCSI controller; NULL: no SCSI channel */
	bool disk_read_only;
	FILE *log;              /* refused messages, broken rings; NULL: stderr */
	uint32_t max_version;   /* newest VMBus version accepted (>= 5.0); 0: 6.0 */
	uint32_t retry_us;      /* flush period while SINT 7 is full; 0: HVSIM_VMBUS_RETRY_US */
};

struct hvsim_vmbus_stats {
	/* The transport. */
	uint64_t posts;             /* messages VTL2 posted to the host */
	uint64_t posts_refused;     /* of which not type 1 or not on 0x800074 (VTL2 sees -EIO) */
	uint64_t signals;           /* VTL2's HvSignalEvents */
	uint64_t signals_dropped;   /* of which on no open channel */
	uint64_t messages_out;      /* messages put into VTL2's SINT 7 stream */
	uint64_t message_retries;   /* SINT 7 queue full: kept, retried later */
	uint64_t flushes;           /* flusher thread rounds */
	uint64_t events_out;        /* SINT 7 event flags set */
	bool connected;
	uint32_t version;
	struct vmbus_server_stats server;
	/* Serial channel (zero without it). */
	bool has_serial;
	uint64_t serial_bytes_in;   /* printed */
	uint64_t serial_packets_in;
	uint64_t serial_bytes_out;  /* sent to VTL2 */
	uint64_t serial_packets_out;
	uint64_t serial_bad_packets;
	uint64_t serial_broken;     /* rings that broke the protocol */
	/* SCSI channel (zero without a disk). */
	bool has_disk;
	struct vmbus_scsi_stats scsi;
	struct scsi_disk_stats disk;
};

/**
 * Install the host VMBus on `sim` (hvsim_set_host_ops: it replaces any host ops and the
 * hvsim_host_take queue) with the backends of `cfg`. 0, -EINVAL (NULL arguments, bad
 * max_version), -ENOMEM, -errno of opening the image, or -EINVAL for an image smaller than one
 * 512-byte block.
 */
int hvsim_vmbus_create(struct hvsim *sim, const struct hvsim_vmbus_config *cfg,
		       struct hvsim_vmbus **out);
/**
 * Remove the host ops and free everything (the image is closed, a serial line left open is
 * ended). Only when no VTL2 thread can post or signal any more. NULL accepted.
 */
void hvsim_vmbus_destroy(struct hvsim_vmbus *hv);

/** The server (to inspect the connection, offer more channels in tests). */
struct vmbus_server *hvsim_vmbus_server(struct hvsim_vmbus *hv);
/** Retry messages the full SINT 7 queue refused (what the flusher does periodically). */
void hvsim_vmbus_flush(struct hvsim_vmbus *hv);

/**
 * The host sends `len` bytes to VTL2 on the serial channel, in packets of at most
 * HVSIM_VMBUS_SERIAL_MAX_BYTES, and signals VTL2 when its ring was empty. Returns the bytes
 * sent (fewer than `len` when the ring filled up), -EAGAIN (no room for any), -ENOTCONN
 * (channel not open), -EPIPE (its ring is broken), -ENODEV (no serial channel), -EINVAL.
 */
int hvsim_vmbus_serial_send(struct hvsim_vmbus *hv, const void *buf, size_t len);

void hvsim_vmbus_get_stats(struct hvsim_vmbus *hv, struct hvsim_vmbus_stats *st);
/**
 * One summary line ("host vmbus: ...") for mezz-sim, from stats taken earlier (the host may be
 * gone: destroying it first ends VTL2's unfinished serial line before the summary).
 */
void hvsim_vmbus_print_stats(const struct hvsim_vmbus_stats *st, FILE *f);

#endif
