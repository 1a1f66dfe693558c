/*
 * vmbus_server: the server side of the VMBus channel protocol (hyperv-abi-facts §3.1-3.5), the
 * "host" that a VMBus client in VTL0 (Linux's hv_vmbus, or a test client) connects to, or
 * hvsim's simulated host that VTL2's own client connects to (tools/hvsim/hvsim_vmbus.h). Device
 * code offers channels here; the client negotiates a version, asks for the offers, describes
 * its ring buffers as GPADLs and opens channels.
 *
 * Transport-agnostic. Whoever wires it up (the hypercall intercepts in vtl2/, hvsim, a test):
 * - hands it each channel message the client posted with HvPostMessage (message type 1, the
 *   bytes already copied out of guest memory): vmbus_server_handle_message(conn_id, msg, len);
 * - hands it each HvSignalEvent the client made on a channel: vmbus_server_signal(conn_id);
 * - carries what it emits through struct vmbus_server_ops: channel messages to the client's
 *   SINT on a VP (PostMessageDirect), channel events (a SIEF flag + SINT: SignalEventDirect).
 *
 * Connection (one client at a time):
 *   DISCONNECTED --InitiateContact(accepted)--> CONNECTED --Unload--> DISCONNECTED (again)
 * - Versions accepted: WIN8 (2.4), 3.0, 4.0, 4.1, 5.0, 5.1, 5.2, 5.3 and 6.0 ("Copper"), each
 *   exactly (config.max_version can lower the ceiling); anything else gets VersionResponse with
 *   version_supported = 0 so the client retries with an older one.
 * - InitiateContact for >= 5.0 must arrive on connection id 4 and names the SINT and VTL for
 *   the answers; below 5.0 it arrives on id 1 and answers go to SINT 2 of the client's VTL. The
 *   target VP must be < config.vp_count, the SINT < 16, the VTL the client's own (config
 *   client_vtl): a client cannot steer messages into another VTL. Every later message must come
 *   on the id of the VersionResponse (msg_conn_id: 4 for >= 5.0, 1 below).
 * - Redirected client (config.msg_conn_id != 0, e.g. the host serving VTL2's client, which
 *   posts to VMBUS_CONN_ID_VTL2_REDIRECT 0x800074 and is answered on VTL2's SINT 7, facts
 *   §3.1): that id is the only message connection. InitiateContact and every later message
 *   come on it, VersionResponse names it, ids 1 and 4 are not listened on (-ENOENT). Only the
 *   >= 5.0 InitiateContact is accepted, the form that names the answering SINT and VTL: an
 *   older version gets version_supported 0 (the client tries another). With
 *   config.client_sint != 0 the named SINT must be that one (else the message is dropped like
 *   any other unusable target), and the answers to a refused pre-5.0 request go there instead
 *   of SINT 2. The id may not be one a channel signals on (see conn_id_base).
 * - The monitor page GPAs (and the interrupt page below 5.0) are recorded after checks: page
 *   aligned, inside the 52-bit physical space, client RAM if ops->check_pages says so. They are
 *   not used: offers never allocate a monitor id (monitored notification is not modelled), so
 *   the client signals every channel with HvSignalEvent.
 * - 6.0 feature flags: the answer grants requested & (GUEST_SPECIFIED_SIGNAL | MODIFY_CONNECTION
 *   | CLIENT_ID). Not offered: interrupt redirection, confidential channels, pause/resume,
 *   server-specified monitor pages, GPA pinning.
 *
 * Channels: vmbus_server_offer() gives each a relid (the lowest free of 1..VMBUS_SERVER_MAX_
 * CHANNELS) and a signal connection id (config.conn_id_base + relid). RequestOffers sends an
 * OfferChannel for each channel in relid order and AllOffersDelivered; later offers are sent at
 * once. vmbus_server_rescind() sends RescindChannelOffer; the relid stays taken (and the
 * channel may stay open and keep signalling) until the client answers RelIdReleased, which
 * closes the channel if needed, drops its GPADLs and calls the released op; meanwhile the client
 * may still close the channel and tear its GPADLs down, but not create GPADLs or open it. A
 * channel the client never saw is released at once (the released op runs before
 * vmbus_server_rescind returns); Unload releases the rescinded channels the client saw.
 *
 * GPADLs: GpadlHeader + GpadlBody messages are reassembled as the byte stream of range data
 * (range_buflen bytes: rangecount x {byte_count, byte_offset, ceil((byte_offset + byte_count) /
 * 4096) PFNs}); every message chunk must be a non-empty multiple of 8 bytes and may not run
 * past range_buflen; at the end the ranges must use exactly range_buflen bytes, each with
 * byte_count > 0, byte_offset < 4096 and PFNs below 2^40. Limits: gpadl id != 0 and unique in
 * the connection; VMBUS_SERVER_MAX_GPADLS per connection, VMBUS_SERVER_MAX_PENDING_GPADLS of
 * them still waiting for bodies, VMBUS_SERVER_MAX_GPADL_PAGES per GPADL (what a 16-bit
 * range_buflen can describe) and VMBUS_SERVER_MAX_TOTAL_PAGES in all. The answer is
 * GpadlCreated with status 0 or an NTSTATUS (VMBUS_STATUS_*). GpadlTeardown answers
 * GpadlTorndown (also for a GPADL still waiting for bodies: it is abandoned); while the GPADL is
 * the ring of an open (or opening/closing) channel the teardown is deferred: GpadlTorndown goes
 * out when the channel closes or is released, and device lookups no longer find it.
 *
 * OpenChannel checks: the relid was offered to this client and is not rescinded, the channel is
 * closed, ring_gpadl is a complete GPADL of this channel made of whole pages (every range
 * byte_offset 0, byte_count a multiple of 4096) and not being torn down, the downstream offset
 * leaves at least 2 pages (control page + data) on each side, target_vp < vp_count. With 6.0 the
 * OpenChannel2 fields are read when the message carries them: flags must be 0 (redirection is not
 * granted); with GUEST_SPECIFIED_SIGNAL granted, a non-zero connection_id replaces the channel's
 * signal connection id while it is open (it must not be 1..4, the message connection, inside
 * the channel id range, or in use) and event_flag (< 2048) replaces the relid as the SIEF flag
 * the server sets. Then the channel's open op runs; its failure is answered with a non-zero
 * status. CloseChannel calls the close op. ModifyChannel (>= 4.1) moves an open channel's
 * interrupts to another VP; >= 5.3 answers ModifyChannelResponse. Unload closes every channel,
 * drops every GPADL (no GpadlTorndown), releases rescinded channels, forgets which offers were
 * sent and answers UnloadResponse; InitiateContact may follow.
 *
 * Hostile client: every message is copied to a local buffer first, lengths are checked against
 * the type (a message may be longer than its type needs: the extra bytes are ignored, except for
 * GpadlHeader/GpadlBody whose length is their data), ids and states are checked, and a bad one is
 * refused and counted (stats.rejects[reason]); nothing in it can crash, hang or corrupt the
 * server. The protocol has no general error message, so a refusal is answered only where the
 * client waits for an answer that can carry a failure:
 *   InitiateContact     VersionResponse(version_supported 0) for an unknown version or the
 *                       wrong connection id; connection_state FAILED_UNKNOWN too for bad pages
 *                       or when already connected. Dropped: shorter than 40 B, or a target
 *                       VP/SINT/VTL that may not be used (no safe place to answer).
 *   GpadlHeader         GpadlCreated(error) (dropped below 20 B, or before contact)
 *   GpadlBody           GpadlCreated(error) and the pending GPADL is discarded; dropped if no
 *                       GPADL with that id is waiting for bodies
 *   OpenChannel         OpenChannelResult(error) (dropped below 148 B)
 *   ModifyChannel       ModifyChannelResponse(error) from 5.3, dropped below
 *   ModifyConnection    ModifyConnectionResponse(FAILED_UNKNOWN) for bad pages; dropped without
 *                       the feature
 *   TlConnectRequest    TlConnectResult(STATUS_NOT_SUPPORTED) from 4.1 (hvsock is not served)
 *   everything else     dropped: RequestOffers twice, CloseChannel of a closed channel,
 *                       GpadlTeardown of an unknown GPADL, RelIdReleased of a live channel,
 *                       Unload before contact, any message before contact or on the wrong
 *                       connection id, server-to-client and unknown types, OpenReservedChannel,
 *                       CloseReservedChannel, Pause, Resume.
 *
 * Outgoing messages go through a FIFO (VMBUS_SERVER_OUTBOX entries) drained in order, without
 * the lock, by whichever thread queued them. post_message may answer -EAGAIN (the client's SINT
 * slot is full): the message stays first in line and vmbus_server_flush() must be called when the
 * slot frees (EOM, SINT deliverable, a timer). A client that never consumes its messages while
 * sending more can fill the FIFO: further answers are dropped and counted (outbox_overflows).
 *
 * Locking: one mutex per server protects all its state. Called WITHOUT it (they may call back
 * into vmbus_server_offer / rescind / channel_signal / gpadl): ops->post_message,
 * ops->signal_event, and every channel op. Called WITH it (must not call into the server):
 * ops->check_pages and ops->log. Ops of one channel never overlap its open/close/released ops:
 * open, close and released are serialised per channel, signal runs only between a successful
 * open and the matching close (close waits for signals in flight), and released comes last. A
 * channel op must never call vmbus_server_handle_message (it may wait for that op: deadlock).
 *
 * Not modelled: monitored notification (MNF) and monitor page contents, the pre-WIN8 shared
 * interrupt page, reserved channels, hvsock (TlConnect), pause/resume, confidential channels,
 * interrupt redirection, server-specified monitor pages, saving/restoring state for servicing.
 */
#ifndef MEZZ_DEVICES_VMBUS_VMBUS_SERVER_H
#define MEZZ_DEVICES_VMBUS_VMBUS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/addr.h"
#include "hvcall/vmbus_abi.h"

#define VMBUS_SERVER_MAX_CHANNELS       64u     /* relids 1..64 */
#define VMBUS_SERVER_MAX_GPADLS         256u    /* per connection */
#define VMBUS_SERVER_MAX_PENDING_GPADLS 64u     /* headers still waiting for bodies */
/** Largest GPADL: one range filling a 16-bit range_buflen, (65535 - 8) / 8 PFNs. */
#define VMBUS_SERVER_MAX_GPADL_PAGES    8190u
#define VMBUS_SERVER_MAX_TOTAL_PAGES    (1u << 18)  /* 1 GiB of client memory in GPADLs */
#define VMBUS_SERVER_OUTBOX             256u    /* queued outgoing messages */
/** Default config.conn_id_base: vmbus_conn_id_channel(0, SINT 2, VTL 0). */
#define VMBUS_SERVER_CONN_ID_BASE       0x2000u

struct vmbus_server;
struct vmbus_channel;

/** Where a message or event for the client goes. */
struct vmbus_server_target {
	uint32_t vp;        /* VP index */
	uint8_t sint;
	uint8_t vtl;
};

struct vmbus_server_ops {
	/**
	 * Post one channel message (SynIC message type 1, `len` <= 240 bytes) to the client's
	 * SINT on `t->vp`. 0 when delivered or queued by the transport; -EAGAIN when the slot is
	 * full (retried by vmbus_server_flush); any other error drops the message (counted).
	 */
	int (*post_message)(void *ctx, const struct vmbus_server_target *t, const void *msg,
			    size_t len);
	/** Set SIEF flag `flag` of the client's SINT on `t->vp` and raise it. 0 or -errno. */
	int (*signal_event)(void *ctx, const struct vmbus_server_target *t, uint16_t flag);
	/**
	 * Optional (NULL: every page is accepted): 0 if pages first .. first + count - 1 are
	 * client RAM the server may describe to devices, else -EINVAL. Called with the lock held.
	 */
	int (*check_pages)(void *ctx, gpn_t first, uint64_t count);
	/** Optional: one line about a refused message (rate-limited). Called with the lock held. */
	void (*log)(void *ctx, const char *line);
};

struct vmbus_server_config {
	uint32_t vp_count;      /* VPs of the client partition: targets must be below it (>= 1) */
	uint8_t client_vtl;     /* the client's VTL (0); the only VTL it may name */
	uint32_t conn_id_base;  /* channel relid n signals on conn_id_base + n; 0: the default */
	uint32_t max_version;   /* newest version accepted; 0: 6.0 (>= 5.0 with msg_conn_id) */
	/*
	 * 0: the standard message connections (1 and 4). Else the client's only message
	 * connection (VMBUS_CONN_ID_VTL2_REDIRECT for VTL2's client of the host): see
	 * "Redirected client" above. Not 2, 3 or a channel's signal id.
	 */
	uint32_t msg_conn_id;
	/* 0: the client may name any SINT below 16. Else the SINT it must name (1..15). */
	uint8_t client_sint;
};

/** What the device is offering (copied into OfferChannel). */
struct vmbus_offer_params {
	struct vmbus_guid interface_type;   /* device class, e.g. VMBUS_GUID_SCSI */
	struct vmbus_guid instance;
	uint16_t flags;                     /* VMBUS_OFFER_FLAG_* (known bits only) */
	uint16_t mmio_megabytes;
	uint16_t mmio_megabytes_optional;
	uint16_t subchannel_index;
	uint8_t user_defined[VMBUS_OFFER_USER_DEFINED_SIZE];
};

/** What the client asked for in OpenChannel, as checked by the server. */
struct vmbus_channel_open_info {
	uint32_t relid;
	uint32_t open_id;
	uint32_t target_vp;
	uint32_t ring_gpadl;
	/**
	 * The ring GPADL's pages: [0, downstream_offset) the client-to-server ring, then the
	 * server-to-client ring; each half starts with its control page. The array stays valid
	 * until the close op returns (the GPADL cannot be torn down while the channel is open).
	 */
	const uint64_t *ring_pfns;
	uint32_t ring_page_count;
	uint32_t downstream_offset;
	uint8_t user_data[VMBUS_OPEN_USER_DATA_SIZE];
};

/** A device's side of one channel. open, close and released are required; signal optional. */
struct vmbus_channel_ops {
	/** The client opens the channel: 0, or -errno (answered with a failure status). */
	int (*open)(void *ctx, struct vmbus_channel *ch,
		    const struct vmbus_channel_open_info *info);
	/** The channel was open and is now closed (CloseChannel, Unload, RelIdReleased). */
	void (*close)(void *ctx, struct vmbus_channel *ch);
	/** The client signalled the open channel (HvSignalEvent on its connection id). */
	void (*signal)(void *ctx, struct vmbus_channel *ch);
	/** After a rescind: the relid is free; `ch` is invalid once this returns. */
	void (*released)(void *ctx, struct vmbus_channel *ch);
};

/** Why a message was refused (index of vmbus_server_stats.rejects). */
enum vmbus_server_reject {
	VMBUS_SERVER_REJECT_CONN_ID = 0,    /* not a message connection, or not the negotiated */
	VMBUS_SERVER_REJECT_LENGTH,         /* too short for its type, > 240, or lengths disagree */
	VMBUS_SERVER_REJECT_TYPE,           /* unknown, server-to-client or unsupported type */
	VMBUS_SERVER_REJECT_STATE,          /* not now: before contact, during unload, repeated */
	VMBUS_SERVER_REJECT_VERSION,        /* InitiateContact for a version not spoken */
	VMBUS_SERVER_REJECT_RELID,          /* no such channel, not offered to this client, gone */
	VMBUS_SERVER_REJECT_CHANNEL_STATE,  /* open twice, close when closed, release when live */
	VMBUS_SERVER_REJECT_GPADL,          /* bad or duplicate gpadl id, ranges, PFNs */
	VMBUS_SERVER_REJECT_PARAM,          /* VP, SINT, VTL, page alignment, offsets, flags */
	VMBUS_SERVER_REJECT_LIMIT,          /* a VMBUS_SERVER_MAX_* limit */
	VMBUS_SERVER_REJECT_DEVICE,         /* the device's open op failed */
	VMBUS_SERVER_REJECT_COUNT
};

struct vmbus_server_stats {
	uint64_t messages;          /* handed to vmbus_server_handle_message */
	uint64_t rejected;          /* of which refused (sum of rejects[]) */
	uint64_t rejects[VMBUS_SERVER_REJECT_COUNT];
	uint64_t posted;            /* messages accepted by post_message */
	uint64_t post_retries;      /* post_message answered -EAGAIN */
	uint64_t post_errors;       /* post_message failed otherwise: message dropped */
	uint64_t outbox_overflows;  /* answers dropped because the FIFO was full */
	uint64_t signals_in;        /* client signals dispatched to a channel */
	uint64_t signals_dropped;   /* client signals on an unknown or closed channel */
	uint64_t signals_out;       /* events raised for the client */
	uint64_t teardowns_deferred;
};

/** The connection as negotiated (vmbus_server_get_connection). */
struct vmbus_server_connection {
	bool connected;
	uint32_t version;
	uint32_t msg_conn_id;
	uint32_t features;                  /* granted (6.0) */
	struct vmbus_server_target target;  /* where messages go */
	uint64_t monitor_page1, monitor_page2, interrupt_page;
	bool has_client_id;
	struct vmbus_guid client_id;
	bool offers_requested;
	uint32_t gpadl_count;
	uint64_t gpadl_pages;
};

/** A GPADL as a device sees it (vmbus_server_gpadl); free with vmbus_server_gpadl_free. */
struct vmbus_server_gpadl_range {
	uint32_t byte_count;
	uint32_t byte_offset;
	uint32_t first_page;        /* index into pfns */
	uint32_t page_count;
};
struct vmbus_server_gpadl_desc {
	uint32_t gpadl_id;
	uint32_t relid;
	uint32_t range_count;
	uint32_t page_count;
	const struct vmbus_server_gpadl_range *ranges;
	const uint64_t *pfns;
};

/**
 * Create a disconnected server. `ops` (post_message and signal_event required) must outlive it;
 * `cfg` is copied. 0, -EINVAL (bad ops/config: no VP, VTL or SINT >= 16, a channel id range
 * reaching ids 1..4 or wrapping, an unknown max_version, a msg_conn_id that is 2, 3 or inside
 * the channel id range, or with max_version below 5.0) or -ENOMEM.
 */
int vmbus_server_create(const struct vmbus_server_ops *ops, void *ctx,
			const struct vmbus_server_config *cfg, struct vmbus_server **out);
/**
 * Free the server and every channel without calling any op. NULL accepted. Only once nothing
 * else can call into it (VPs stopped, devices done with their channel handles).
 */
void vmbus_server_destroy(struct vmbus_server *srv);

/**
 * A message the client posted on connection `conn_id` (`len` bytes, already copied out of guest
 * memory; the caller checked HvPostMessage's message type is 1). 0: accepted. -ENOENT: not a
 * message connection id of this server (1 and 4, or config.msg_conn_id alone; the transport
 * answers HV_STATUS_INVALID_CONNECTION_ID). Other
 * -errno: refused and counted (the transport still answers success: it was delivered).
 * May call channel ops and ops->post_message (without the lock).
 */
int vmbus_server_handle_message(struct vmbus_server *srv, uint32_t conn_id, const void *msg,
				size_t len);
/**
 * The client's HvSignalEvent on `conn_id`: the channel's signal op runs. 0, or -ENOENT when no
 * open channel has that connection id (counted in signals_dropped).
 */
int vmbus_server_signal(struct vmbus_server *srv, uint32_t conn_id);
/** Retry the queued outgoing messages (after post_message said -EAGAIN). */
void vmbus_server_flush(struct vmbus_server *srv);
/** Messages waiting in the outbox. */
unsigned vmbus_server_pending(struct vmbus_server *srv);

/**
 * Offer a channel: `p` is copied, `ops`/`ctx` are kept until the released op. 0 and *out,
 * -EINVAL (bad params or ops), -ENOSPC (every relid taken).
 */
int vmbus_server_offer(struct vmbus_server *srv, const struct vmbus_offer_params *p,
		       const struct vmbus_channel_ops *ops, void *ctx, struct vmbus_channel **out);
/**
 * Withdraw a channel. 0 (released op now or after RelIdReleased / Unload), -EALREADY if
 * already rescinded.
 */
int vmbus_server_rescind(struct vmbus_channel *ch);
/**
 * Raise the channel's event for the client (SIEF flag relid or the guest-chosen event flag, on
 * the channel's target VP). 0, -ENOTCONN when the channel is not open (or opening), or the
 * error of ops->signal_event.
 */
int vmbus_server_channel_signal(struct vmbus_channel *ch);
uint32_t vmbus_server_channel_relid(const struct vmbus_channel *ch);
/** The connection id the client signals this channel on now. */
uint32_t vmbus_server_channel_conn_id(struct vmbus_channel *ch);
/** The VP the channel's events go to (valid while open). */
uint32_t vmbus_server_channel_target_vp(struct vmbus_channel *ch);

/**
 * A copy of the complete GPADL `gpadl_id` of channel `relid` (not one being torn down). 0 and
 * *out (one allocation, free with vmbus_server_gpadl_free), -ENOENT or -ENOMEM.
 */
int vmbus_server_gpadl(struct vmbus_server *srv, uint32_t relid, uint32_t gpadl_id,
		       struct vmbus_server_gpadl_desc **out);
void vmbus_server_gpadl_free(struct vmbus_server_gpadl_desc *d);

void vmbus_server_get_stats(struct vmbus_server *srv, struct vmbus_server_stats *st);
void vmbus_server_get_connection(struct vmbus_server *srv, struct vmbus_server_connection *c);
/**
 * Consistency check for tests and fuzzers, to be called while no other call is in flight: 0, or
 * -EPROTO with a description in `why` (if not NULL) when an internal invariant is broken (an
 * open channel without its live ring GPADL, GPADL counts or page totals wrong, state left behind
 * by a disconnect, ...).
 */
int vmbus_server_check(struct vmbus_server *srv, char *why, size_t why_len);

#endif
