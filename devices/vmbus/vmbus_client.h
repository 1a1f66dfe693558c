/*
 * vmbus_client: the client side of the VMBus channel protocol (hyperv-abi-facts §3.1-3.5): what
 * VTL2 speaks to the host's VMBus server to reach the host's devices (issue 10: VTL2 consumes
 * the host's storage as a storvsc client and relays it). vmbus_server.h is the other end.
 *
 * Transport-agnostic, like vmbus_server. Whoever wires it up (the /dev/mshv_sint reader in
 * VTL2, a test, a fuzzer):
 * - hands it every channel message the host sends, copied out of the SINT message slot:
 *   vmbus_client_handle_message(msg, len) (len = the SynIC payload size, <= 240);
 * - hands it every channel event (a SIEF flag of our SINT): vmbus_client_handle_event(flag);
 * - carries what it emits through struct vmbus_client_ops: channel messages as HvPostMessage
 *   (message type 1) on a connection id, channel signals as HvSignalEvent(connection id, flag).
 *   Completions and host news come back through the same ops table (callbacks).
 *
 * Connection (DISCONNECTED -> CONTACTING -> CONNECTED -> UNLOADING -> DISCONNECTED):
 * - vmbus_client_connect() sends InitiateContact for the newest version of config.max_version
 *   .. config.min_version (default 6.0 down to WIN8 2.4; the versions of §3.4 from WIN8 on,
 *   older ones are not spoken: no shared interrupt page, no VP-0-only channel interrupts) and,
 *   on each VersionResponse with version_supported = 0 and connection_state OK, the next older
 *   one. The connected op reports the version, or -EPROTONOSUPPORT when every version was
 *   refused, -ECONNREFUSED for connection_state != OK (no retry: an older version does not
 *   help a host that is out of resources), -EPROTO for an answer that makes no sense
 *   (version_supported > 1, msg_conn_id 0 at >= 5.0).
 * - Where InitiateContact goes: versions >= 5.0 to config.contact_conn_id (default 4, the VTL0
 *   client's; VTL2 uses VMBUS_CONN_ID_VTL2_REDIRECT, 0x800074), naming config.sint/vtl/vp for
 *   the answers; versions below 5.0 to connection id 1, whose answers always go to SINT 2 of
 *   the poster's VTL, so they are tried only when config.sint is 2 and config.vtl 0. After
 *   contact, >= 5.0 posts everything to the VersionResponse's msg_conn_id, below 5.0 to 1.
 * - Feature flags (6.0): only VMBUS_FEATURE_CLIENT_ID is requested, when config.has_client_id;
 *   the 56-byte InitiateContact carries config.client_id (zero without it). Granted bits that
 *   were not requested are ignored. OpenChannel is always the 148-byte form: no guest-specified
 *   signal ids, no interrupt redirection.
 * - Monitor pages: config.monitor_page1 (parent->child) / monitor_page2 (child->parent) are
 *   named in InitiateContact (0 if unused) and never touched: the client signals every channel
 *   with HvSignalEvent on its offer's connection id, flag 0, even when the offer allocated a
 *   monitor id (Hyper-V accepts both; Linux does the same for low-latency channels).
 * - After VersionResponse the client sends RequestOffers at once. Each OfferChannel is checked
 *   and then reported (offer op), AllOffersDelivered too (offers_done op); later offers are
 *   reported the same way.
 * - Unload (vmbus_client_unload) -> UnloadResponse: the unloaded op, every offer, channel and
 *   GPADL forgotten; connect may follow.
 *
 * Offer checks (a failing offer is dropped, counted, never reported): length >= 196; relid in
 *   1..VMBUS_CLIENT_MAX_RELID (the host signals a channel by SIEF bit = relid, 2048 bits) and
 *   not held by another offer (also a rescinded one not yet released); interface type not the
 *   zero GUID; (interface type, instance, subchannel index) not the same as a live offer's;
 *   connection id != 0; monitor id < 128 when monitor_allocated; at most
 *   VMBUS_CLIENT_MAX_CHANNELS offers held (a host cannot make the client allocate: everything
 *   lives in fixed tables). Flags and user_defined are passed on unchecked (device business).
 *
 * GPADLs (vmbus_client_gpadl_create): one range of whole pages (byte_offset 0, byte_count =
 *   pages * 4096), GpadlHeader with up to 26 PFNs then GpadlBody messages with up to 28 each
 *   (msgnumber 0: reserved), at most VMBUS_CLIENT_MAX_GPADL_PAGES pages (a 16-bit range_buflen)
 *   and PFNs below 2^40 (52-bit GPAs). Ids are unique among the client's GPADLs, counting up
 *   from VMBUS_CLIENT_GPADL_ID_FIRST (0xE1E10, as Linux), never 0. GpadlCreated completes it
 *   (gpadl_created op: status 0, or the host's NTSTATUS and the GPADL is forgotten);
 *   vmbus_client_gpadl_teardown -> GpadlTorndown (gpadl_torndown op). A GPADL that is the ring
 *   of an opening or open channel cannot be torn down (close first).
 *
 * Channels: vmbus_client_open sends OpenChannel with a fresh open_id (so a stale or forged
 *   OpenChannelResult is not taken for the current open); the ring GPADL must be a created
 *   GPADL of the channel with >= 4 pages and 2 <= downstream offset <= pages - 2 (control page
 *   + data page each way). OpenChannelResult -> opened op. vmbus_client_close sends
 *   CloseChannel (the protocol has no answer: the channel is closed when close returns).
 *   vmbus_client_signal -> ops->signal_event(offer connection id, 0) while open. Events
 *   (vmbus_client_handle_event(flag)) go to the opening or open channel whose relid is `flag`
 *   (event op); others are dropped and counted.
 * Rescind: RescindChannelOffer -> rescinded op; the relid stays held until the user calls
 *   vmbus_client_release (the channel must not be open: close first), which sends
 *   RelIdReleased, forgets the channel's GPADLs (the host frees them with the relid) and any
 *   open still waiting for its answer, without callbacks. The host may then offer the relid
 *   again. A rescinded channel may be closed and its GPADLs torn down, but not opened, and no
 *   GPADL can be created for it.
 *
 * Hostile host (confidential VMs): every message is copied once to a local buffer, its length
 * checked against its type (longer is accepted, the extra bytes ignored; more than 240 or less
 * than the header is refused) and its state checked: VersionResponse only while contacting,
 * offers and AllOffersDelivered only after RequestOffers (AllOffersDelivered once), results only
 * for what the client asked (relid, open_id, gpadl id and its relid, pending state),
 * UnloadResponse only while unloading, nothing before contact or while unloading but
 * UnloadResponse. Client-to-server, unknown and never-requested types (ModifyChannelResponse,
 * TlConnectResult, Pause, ...) are refused. A refused message is dropped and counted
 * (stats.rejects[reason]), changes nothing and calls no op; the one exception is a nonsensical
 * VersionResponse, which also ends the connect (-EPROTO) since no answer can follow it.
 *
 * Outgoing messages go through a FIFO (VMBUS_CLIENT_OUTBOX messages, allocated at creation)
 * drained in order, without the lock, by whichever thread queued them. post_message may answer
 * -EAGAIN (HV_STATUS_INSUFFICIENT_BUFFERS: the host's queue is full): the message stays first
 * in line and vmbus_client_flush() must be called later (a timer: openvmm backs off 1 ms
 * doubling to 1 s); another error drops it (counted in post_errors) and the operation it
 * belongs to never completes. User requests (connect included) that do not fit in the FIFO get
 * -ENOBUFS; a few more slots are kept for the client's own messages (InitiateContact retries,
 * RequestOffers), so none of those is ever lost.
 *
 * Locking: one mutex per client. Ops called WITHOUT it (they may call any vmbus_client_*
 * function): post_message, signal_event and every callback; with a synchronous transport a
 * completion can run before the request that caused it returns (ids are stored first). Called
 * WITH it (must not call the client): log. Event callbacks of a channel may run on any thread
 * that calls handle_event; vmbus_client_close, vmbus_client_release and the unloaded
 * transition wait for the channel's event callbacks in flight (except the caller's own, when
 * called from inside that channel's event op), so the user may free its channel state when
 * they return.
 *
 * Not modelled: versions below WIN8, the pre-5.0 interrupt page contents, monitored
 * notification, OpenChannel2 (guest-specified signal, interrupt redirection), ModifyChannel,
 * ModifyConnection, reserved channels, hvsock (TlConnect), pause/resume, confidential channels,
 * server-specified monitor pages, saving state for servicing.
 */
#ifndef MEZZ_DEVICES_VMBUS_VMBUS_CLIENT_H
#define MEZZ_DEVICES_VMBUS_VMBUS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvcall/vmbus_abi.h"

#define VMBUS_CLIENT_MAX_CHANNELS    64u     /* offers held at once */
#define VMBUS_CLIENT_MAX_RELID       (VMBUS_EVENT_FLAGS_PER_SINT - 1u)
#define VMBUS_CLIENT_MAX_GPADLS      256u
/** Largest GPADL: one range filling a 16-bit range_buflen, (65535 - 8) / 8 PFNs. */
#define VMBUS_CLIENT_MAX_GPADL_PAGES 8190u
#define VMBUS_CLIENT_OUTBOX          512u    /* queued outgoing messages (user requests) */
#define VMBUS_CLIENT_GPADL_ID_FIRST  0xE1E10u
#define VMBUS_CLIENT_MONITOR_IDS     128u    /* 4 trigger groups of 32 */

struct vmbus_client;

/** An offer as the host made it (checked). */
struct vmbus_client_offer {
	uint32_t relid;
	struct vmbus_guid interface_type;
	struct vmbus_guid instance;
	uint16_t flags;                     /* VMBUS_OFFER_FLAG_*, as sent */
	uint16_t mmio_megabytes;
	uint16_t mmio_megabytes_optional;
	uint16_t subchannel_index;
	uint8_t user_defined[VMBUS_OFFER_USER_DEFINED_SIZE];
	uint32_t connection_id;             /* vmbus_client_signal signals this */
	uint8_t monitor_id;                 /* valid if monitor_allocated */
	bool monitor_allocated;
	bool dedicated_interrupt;
};

struct vmbus_client_ops {
	/**
	 * Required. HvPostMessage(conn_id, message type 1, msg, len <= 240). 0 posted; -EAGAIN the
	 * host's buffers are full (retried by vmbus_client_flush); other -errno drops it.
	 */
	int (*post_message)(void *ctx, uint32_t conn_id, const void *msg, size_t len);
	/** Required. HvSignalEvent(conn_id, flag): 0 or -errno (vmbus_client_signal returns it). */
	int (*signal_event)(void *ctx, uint32_t conn_id, uint16_t flag);
	/** Optional: one line about a refused host message (rate-limited). Called with the lock. */
	void (*log)(void *ctx, const char *line);

	/* Callbacks, all optional, called without the lock. */
	/** Connect done: err 0 and the version, or -EPROTONOSUPPORT / -ECONNREFUSED / -EPROTO. */
	void (*connected)(void *ctx, int err, uint32_t version);
	/** A new offer (`o` valid during the call). */
	void (*offer)(void *ctx, const struct vmbus_client_offer *o);
	/** AllOffersDelivered: every offer present at RequestOffers time was reported. */
	void (*offers_done)(void *ctx);
	/** The host withdrew `relid`: close it if open, then vmbus_client_release. */
	void (*rescinded)(void *ctx, uint32_t relid, void *chan_ctx);
	/** GpadlCreated: err 0, or -ECONNREFUSED with the host's status (the GPADL is gone). */
	void (*gpadl_created)(void *ctx, uint32_t relid, uint32_t gpadl_id, int err,
			      uint32_t status);
	/** GpadlTorndown: the host no longer uses the pages. */
	void (*gpadl_torndown)(void *ctx, uint32_t relid, uint32_t gpadl_id);
	/** OpenChannelResult: err 0 (open), or -ECONNREFUSED with the host's status (closed). */
	void (*opened)(void *ctx, uint32_t relid, void *chan_ctx, int err, uint32_t status);
	/** The host signalled the (opening or open) channel. */
	void (*event)(void *ctx, uint32_t relid, void *chan_ctx);
	/** UnloadResponse: disconnected, everything forgotten. */
	void (*unloaded)(void *ctx);
};

struct vmbus_client_config {
	uint32_t vp;                /* InitiateContact target_vcpu: control messages go to it */
	uint8_t sint;               /* SINT the host answers on: 2 (VTL0), 7 (VTL2); < 16 */
	uint8_t vtl;                /* our VTL: 0 or 2 */
	/** Where InitiateContact >= 5.0 goes: 0 = 4 (VTL0); VTL2: VMBUS_CONN_ID_VTL2_REDIRECT. */
	uint32_t contact_conn_id;
	uint32_t max_version;       /* newest version tried; 0: 6.0 */
	uint32_t min_version;       /* oldest version tried; 0: WIN8 (2.4) */
	uint64_t monitor_page1;     /* parent -> child monitor page GPA: page-aligned, or 0 */
	uint64_t monitor_page2;     /* child -> parent */
	uint64_t interrupt_page;    /* sent below 5.0: page-aligned, or 0 */
	bool has_client_id;         /* 6.0: request VMBUS_FEATURE_CLIENT_ID */
	struct vmbus_guid client_id;
};

/** vmbus_client_open's parameters. */
struct vmbus_client_open_params {
	uint32_t ring_gpadl;        /* created GPADL of the channel: outgoing, then incoming ring */
	uint32_t downstream_offset; /* pages: where the host-to-client ring's control page is */
	uint32_t target_vp;         /* VP for the channel's events */
	const void *user_data;      /* OpenChannel user data, NULL or up to 120 bytes */
	size_t user_data_len;
	void *chan_ctx;             /* handed to the event / opened / rescinded callbacks */
};

enum vmbus_client_state {
	VMBUS_CLIENT_DISCONNECTED,
	VMBUS_CLIENT_CONTACTING,    /* InitiateContact sent, waiting for VersionResponse */
	VMBUS_CLIENT_CONNECTED,
	VMBUS_CLIENT_UNLOADING,     /* Unload sent, waiting for UnloadResponse */
};

/** Why a host message was refused (index of vmbus_client_stats.rejects). */
enum vmbus_client_reject {
	VMBUS_CLIENT_REJECT_LENGTH = 0,     /* shorter than the header or its type, > 240 */
	VMBUS_CLIENT_REJECT_TYPE,           /* unknown, client-to-server or never requested */
	VMBUS_CLIENT_REJECT_STATE,          /* not now (connection state, repeated) */
	VMBUS_CLIENT_REJECT_RELID,          /* out of range, unknown, or not in that state */
	VMBUS_CLIENT_REJECT_GPADL,          /* gpadl id not asked, wrong relid or state */
	VMBUS_CLIENT_REJECT_OPEN_ID,        /* OpenChannelResult for another open */
	VMBUS_CLIENT_REJECT_PARAM,          /* a field value: GUID, monitor id, ids, flags */
	VMBUS_CLIENT_REJECT_DUPLICATE,      /* relid or device offered twice */
	VMBUS_CLIENT_REJECT_LIMIT,          /* VMBUS_CLIENT_MAX_CHANNELS */
	VMBUS_CLIENT_REJECT_COUNT
};

struct vmbus_client_stats {
	uint64_t messages;          /* handed to vmbus_client_handle_message */
	uint64_t rejected;          /* of which refused (sum of rejects[]) */
	uint64_t rejects[VMBUS_CLIENT_REJECT_COUNT];
	uint64_t posted;            /* messages accepted by post_message */
	uint64_t post_retries;      /* post_message answered -EAGAIN */
	uint64_t post_errors;       /* post_message failed otherwise: message dropped */
	uint64_t out_dropped;       /* own messages dropped: FIFO full (cannot happen) */
	uint64_t events_in;         /* events dispatched to a channel */
	uint64_t events_dropped;    /* events for no opening/open channel */
	uint64_t signals_out;       /* signal_event calls that succeeded */
};

/** The connection as negotiated (vmbus_client_get_connection). */
struct vmbus_client_connection {
	enum vmbus_client_state state;
	uint32_t version;           /* negotiated (CONNECTED, UNLOADING) or being tried */
	uint32_t msg_conn_id;       /* where messages go after contact */
	uint32_t features;          /* granted & requested (6.0) */
	bool offers_done;           /* AllOffersDelivered seen */
	uint32_t offer_count;       /* offers held (rescinded ones until released) */
	uint32_t gpadl_count;
};

/**
 * Create a disconnected client. `ops` (post_message and signal_event required) must outlive
 * it; `cfg` is copied. 0, -EINVAL (bad ops/config: SINT >= 16, VTL > 2, unknown or crossed
 * versions, nothing left to try, monitor/interrupt page not page-aligned or >= 2^52) or -ENOMEM.
 */
int vmbus_client_create(const struct vmbus_client_ops *ops, void *ctx,
			const struct vmbus_client_config *cfg, struct vmbus_client **out);
/** Free the client without calling any op or posting anything. NULL accepted. */
void vmbus_client_destroy(struct vmbus_client *cl);

/**
 * Start connecting (InitiateContact). 0; -EISCONN connected; -EBUSY contacting/unloading;
 * -ENOBUFS the FIFO is still full of an earlier connection's messages.
 */
int vmbus_client_connect(struct vmbus_client *cl);
/** Disconnect (Unload). 0; -ENOTCONN not connected (-EBUSY while contacting or unloading). */
int vmbus_client_unload(struct vmbus_client *cl);

/**
 * A message the host sent (`len` bytes copied out of the SINT message slot: the SynIC payload).
 * 0: accepted; -errno: refused and counted. Calls ops (without the lock) and may post.
 */
int vmbus_client_handle_message(struct vmbus_client *cl, const void *msg, size_t len);
/**
 * SIEF flag `flag` of our SINT was set: the channel's event op runs. 0; -ENOENT no opening/open
 * channel has that relid (counted); -EINVAL flag >= 2048.
 */
int vmbus_client_handle_event(struct vmbus_client *cl, uint32_t flag);
/** Retry the queued outgoing messages (after post_message said -EAGAIN). */
void vmbus_client_flush(struct vmbus_client *cl);
/** Messages waiting in the FIFO. */
unsigned vmbus_client_pending(struct vmbus_client *cl);

/**
 * Describe `count` whole pages (`pfns`, copied) of channel `relid` to the host. 0 and
 * *gpadl_id (set before anything is posted); -ENOTCONN; -ENOENT unknown relid; -ENODEV
 * rescinded; -EINVAL count 0 or > VMBUS_CLIENT_MAX_GPADL_PAGES, a PFN >= 2^40; -ENOSPC
 * VMBUS_CLIENT_MAX_GPADLS; -ENOBUFS no room in the FIFO.
 */
int vmbus_client_gpadl_create(struct vmbus_client *cl, uint32_t relid, const uint64_t *pfns,
			      uint32_t count, uint32_t *gpadl_id);
/**
 * GpadlTeardown of a created GPADL. 0; -ENOTCONN; -ENOENT not a created GPADL of `relid`;
 * -EBUSY the ring of an opening or open channel; -ENOBUFS.
 */
int vmbus_client_gpadl_teardown(struct vmbus_client *cl, uint32_t relid, uint32_t gpadl_id);
/**
 * OpenChannel. 0; -ENOTCONN; -ENOENT unknown relid; -ENODEV rescinded; -EBUSY not closed;
 * -EINVAL bad ring GPADL, offset or user data size; -ENOBUFS.
 */
int vmbus_client_open(struct vmbus_client *cl, uint32_t relid,
		      const struct vmbus_client_open_params *p);
/**
 * CloseChannel of an open channel; waits for its event callbacks in flight. 0; -ENOTCONN (also
 * a closed channel); -ENOENT; -EBUSY still opening; -ENOBUFS.
 */
int vmbus_client_close(struct vmbus_client *cl, uint32_t relid);
/**
 * RelIdReleased for a rescinded channel: forget it and its GPADLs. 0; -ENOTCONN; -ENOENT;
 * -EINVAL not rescinded; -EBUSY still open; -ENOBUFS.
 */
int vmbus_client_release(struct vmbus_client *cl, uint32_t relid);
/**
 * Signal the open channel: ops->signal_event(offer connection id, 0) without the lock. 0,
 * -ENOTCONN (not open), -ENOENT, or the op's error.
 */
int vmbus_client_signal(struct vmbus_client *cl, uint32_t relid);

/** A copy of offer `relid` (also a rescinded one not yet released). 0 or -ENOENT. */
int vmbus_client_get_offer(struct vmbus_client *cl, uint32_t relid, struct vmbus_client_offer *o);
void vmbus_client_get_connection(struct vmbus_client *cl, struct vmbus_client_connection *c);
void vmbus_client_get_stats(struct vmbus_client *cl, struct vmbus_client_stats *st);
/**
 * Consistency check for tests and fuzzers, while no other call is in flight: 0, or -EPROTO with
 * a description in `why` (if not NULL) when an internal invariant is broken.
 */
int vmbus_client_check(struct vmbus_client *cl, char *why, size_t why_len);

#endif
