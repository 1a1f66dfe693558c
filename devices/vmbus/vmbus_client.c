/*
 * vmbus_client: the VMBus channel protocol, client side (see vmbus_client.h for the model, the
 * checks and what each host message may change).
 *
 * Concurrency: cl->lock protects everything below. Callbacks run without it: a host message is
 * handled under the lock into at most one `struct note`, which is delivered after unlocking.
 * Event callbacks hold a count on their channel slot instead (chan.busy); close, release and
 * unload mark the slot first (no new event callback starts), then wait on cl->idle until the
 * count drops. The count belongs to the slot, not to the offer in it, so a callback that
 * returns after its slot was released or reused only decrements a number. Outgoing messages
 * are queued under the lock and posted by drain() without it, one drainer at a time so the
 * order is kept (the host must see GpadlHeader before its bodies).
 */
#include "devices/vmbus/vmbus_client.h"
#include "devices/vmbus/vmbus_outbox.h"
#include "vtl2/errbuf.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_SIZE       4096u
#define PAGE_SHIFT      12
#define GPA_LIMIT       (1ull << 52)            /* architectural physical address width */
#define PFN_LIMIT       (GPA_LIMIT >> PAGE_SHIFT)
#define SINT_COUNT      16u
#define VTL_MAX         2u
/* A ring half: its control page and at least one data page. */
#define RING_HALF_MIN_PAGES 2u
/* Refusals logged one by one, then every LOG_EVERY-th: a host cannot flood the log. */
#define LOG_FIRST       32u
#define LOG_EVERY       1024u

#define HEADER_PFNS     VMBUS_GPADL_HEADER_MAX_PFNS
#define BODY_PFNS       VMBUS_GPADL_BODY_MAX_PFNS

/* Versions spoken, oldest first (3.4); the client tries them newest first. */
static const uint32_t versions[] = { VMBUS_VERSIONS_SPOKEN };
#define VERSION_COUNT ((int)(sizeof(versions) / sizeof(versions[0])))

/*
 * FIFO slots beyond the users' VMBUS_CLIENT_OUTBOX, for the messages the client queues on its
 * own while the host's buffers are full: after connect (a user request) the host's refusals
 * add at most VERSION_COUNT - 1 InitiateContacts and its acceptance one RequestOffers.
 */
#define OUTBOX_RESERVE  ((unsigned)VERSION_COUNT)
#define OUTBOX_SLOTS    (VMBUS_CLIENT_OUTBOX + OUTBOX_RESERVE)

static const char *const reject_names[VMBUS_CLIENT_REJECT_COUNT] = {
	[VMBUS_CLIENT_REJECT_LENGTH] = "length",
	[VMBUS_CLIENT_REJECT_TYPE] = "type",
	[VMBUS_CLIENT_REJECT_STATE] = "state",
	[VMBUS_CLIENT_REJECT_RELID] = "relid",
	[VMBUS_CLIENT_REJECT_GPADL] = "gpadl",
	[VMBUS_CLIENT_REJECT_OPEN_ID] = "open id",
	[VMBUS_CLIENT_REJECT_PARAM] = "parameter",
	[VMBUS_CLIENT_REJECT_DUPLICATE] = "duplicate",
	[VMBUS_CLIENT_REJECT_LIMIT] = "limit",
};

enum ch_state {
	CH_CLOSED,
	CH_OPENING,             /* OpenChannel sent, waiting for OpenChannelResult */
	CH_OPEN,
};

struct chan {
	bool used;
	bool rescinded;
	enum ch_state state;
	uint32_t open_id;           /* of the current open (OPENING, OPEN) */
	uint32_t ring_gpadl;        /* OPENING, OPEN */
	void *chan_ctx;             /* OPENING, OPEN */
	unsigned busy;              /* event callbacks running on this slot */
	struct vmbus_client_offer offer;
};

enum gp_state {
	GP_FREE,
	GP_CREATING,            /* GpadlHeader (+ bodies) sent, waiting for GpadlCreated */
	GP_CREATED,
	GP_TEARING,             /* GpadlTeardown sent, waiting for GpadlTorndown */
};

struct gpadl {
	enum gp_state state;
	uint32_t id;
	uint32_t relid;
	uint32_t pages;
};

struct vmbus_client {
	pthread_mutex_t lock;
	pthread_cond_t idle;        /* some slot's busy count went down */
	const struct vmbus_client_ops *ops;
	void *ctx;
	struct vmbus_client_config cfg;
	uint32_t requested_features;
	int vmin, vmax;             /* the versions[] tried */

	enum vmbus_client_state state;
	int vi;                     /* versions[vi]: being tried (CONTACTING) or negotiated */
	uint32_t msg_conn_id;
	uint32_t features;
	bool offers_done;

	struct chan ch[VMBUS_CLIENT_MAX_CHANNELS];
	uint32_t offer_count;
	/* relid -> slot + 1 (0: none); relids are SIEF flags, so events find a slot in O(1). */
	uint8_t slot_of[VMBUS_CLIENT_MAX_RELID + 1];
	struct gpadl gp[VMBUS_CLIENT_MAX_GPADLS];
	uint32_t gpadl_count;
	uint32_t next_gpadl_id;
	uint32_t next_open_id;

	struct vmbus_outbox ob;

	struct vmbus_client_stats stats;
};
_Static_assert(VMBUS_CLIENT_MAX_CHANNELS < 255, "slot_of holds slot + 1 in a byte");

/* The slot whose event callback this thread is running (close/release from inside it). */
static _Thread_local const struct chan *cb_chan;

/* What a host message reports to the user, delivered after the lock is dropped. */
enum note_kind {
	NOTE_NONE,
	NOTE_CONNECTED,
	NOTE_OFFER,
	NOTE_OFFERS_DONE,
	NOTE_RESCINDED,
	NOTE_GPADL_CREATED,
	NOTE_GPADL_TORNDOWN,
	NOTE_OPENED,
	NOTE_UNLOADED,
};

struct note {
	enum note_kind kind;
	int err;
	uint32_t relid;
	uint32_t id;                /* gpadl id; version for NOTE_CONNECTED */
	uint32_t status;
	void *chan_ctx;
	struct vmbus_client_offer offer;
};

/* ------------------------------------------------------------------------------------------ */
/* Helpers (lock held unless said otherwise)                                                  */
/* ------------------------------------------------------------------------------------------ */

__attribute__((format(printf, 4, 5)))
static int refuse(struct vmbus_client *cl, enum vmbus_client_reject why, int err,
		  const char *fmt, ...)
{
	cl->stats.rejected++;
	cl->stats.rejects[why]++;
	if (cl->ops->log &&
	    (cl->stats.rejected <= LOG_FIRST || cl->stats.rejected % LOG_EVERY == 0)) {
		char detail[128], line[192];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(detail, sizeof(detail), fmt, ap);
		va_end(ap);
		snprintf(line, sizeof(line), "vmbus client: refused (%s, %llu so far): %s",
			 reject_names[why], (unsigned long long)cl->stats.rejected, detail);
		cl->ops->log(cl->ctx, line);
	}
	return err;
}

static bool room(const struct vmbus_client *cl, unsigned n)
{
	return cl->ob.count + n <= VMBUS_CLIENT_OUTBOX;
}

/* Queue a message (type written into its header). User requests checked room() first. */
static void queue(struct vmbus_client *cl, uint32_t conn_id, void *msg, size_t len,
		  uint32_t type)
{
	if (!vmbus_outbox_put(&cl->ob, &conn_id, sizeof(conn_id), msg, len, type))
		cl->stats.out_dropped++;
}

static void send_msg(struct vmbus_client *cl, void *msg, size_t len, uint32_t type)
{
	queue(cl, cl->msg_conn_id, msg, len, type);
}

static int post_one(void *ctx, const void *dest, const void *data, size_t len)
{
	struct vmbus_client *cl = ctx;
	uint32_t conn_id;
	memcpy(&conn_id, dest, sizeof(conn_id));
	return cl->ops->post_message(cl->ctx, conn_id, data, len);
}

/* Without the lock: post the queued messages in order until empty or the host's queue is full. */
static void drain(struct vmbus_client *cl)
{
	vmbus_outbox_drain(&cl->ob, &cl->lock, post_one, cl);
}

/* Without the lock. */
static void notify(struct vmbus_client *cl, const struct note *n)
{
	const struct vmbus_client_ops *o = cl->ops;

	switch (n->kind) {
	case NOTE_CONNECTED:
		if (o->connected)
			o->connected(cl->ctx, n->err, n->id);
		break;
	case NOTE_OFFER:
		if (o->offer)
			o->offer(cl->ctx, &n->offer);
		break;
	case NOTE_OFFERS_DONE:
		if (o->offers_done)
			o->offers_done(cl->ctx);
		break;
	case NOTE_RESCINDED:
		if (o->rescinded)
			o->rescinded(cl->ctx, n->relid, n->chan_ctx);
		break;
	case NOTE_GPADL_CREATED:
		if (o->gpadl_created)
			o->gpadl_created(cl->ctx, n->relid, n->id, n->err, n->status);
		break;
	case NOTE_GPADL_TORNDOWN:
		if (o->gpadl_torndown)
			o->gpadl_torndown(cl->ctx, n->relid, n->id);
		break;
	case NOTE_OPENED:
		if (o->opened)
			o->opened(cl->ctx, n->relid, n->chan_ctx, n->err, n->status);
		break;
	case NOTE_UNLOADED:
		if (o->unloaded)
			o->unloaded(cl->ctx);
		break;
	case NOTE_NONE:
		break;
	}
}

static struct chan *find_chan(struct vmbus_client *cl, uint32_t relid)
{
	if (relid == 0 || relid > VMBUS_CLIENT_MAX_RELID || !cl->slot_of[relid])
		return NULL;
	return &cl->ch[cl->slot_of[relid] - 1];
}

static struct gpadl *find_gpadl(struct vmbus_client *cl, uint32_t id)
{
	if (id == 0)
		return NULL;
	for (uint32_t i = 0; i < VMBUS_CLIENT_MAX_GPADLS; i++)
		if (cl->gp[i].state != GP_FREE && cl->gp[i].id == id)
			return &cl->gp[i];
	return NULL;
}

static void gpadl_free(struct vmbus_client *cl, struct gpadl *g)
{
	g->state = GP_FREE;
	g->id = 0;
	g->relid = 0;
	g->pages = 0;
	cl->gpadl_count--;
}

/* Wait until no other thread runs an event callback on slot `c` (the lock is dropped meanwhile). */
static void wait_idle(struct vmbus_client *cl, const struct chan *c)
{
	while (c->busy > (cb_chan == c ? 1u : 0u))
		pthread_cond_wait(&cl->idle, &cl->lock);
}

/* Forget slot `c` and every GPADL of its relid. */
static void chan_free(struct vmbus_client *cl, struct chan *c)
{
	uint32_t relid = c->offer.relid;

	for (uint32_t i = 0; i < VMBUS_CLIENT_MAX_GPADLS; i++)
		if (cl->gp[i].state != GP_FREE && cl->gp[i].relid == relid)
			gpadl_free(cl, &cl->gp[i]);
	cl->slot_of[relid] = 0;
	unsigned busy = c->busy;
	memset(c, 0, sizeof(*c));
	c->busy = busy;
	cl->offer_count--;
}

/* Back to DISCONNECTED: every offer, channel and GPADL forgotten. */
static void forget_all(struct vmbus_client *cl)
{
	for (uint32_t i = 0; i < VMBUS_CLIENT_MAX_CHANNELS; i++)
		if (cl->ch[i].used)
			chan_free(cl, &cl->ch[i]);
	for (uint32_t i = 0; i < VMBUS_CLIENT_MAX_GPADLS; i++)
		if (cl->gp[i].state != GP_FREE)
			gpadl_free(cl, &cl->gp[i]);
	cl->state = VMBUS_CLIENT_DISCONNECTED;
	cl->msg_conn_id = 0;
	cl->features = 0;
	cl->offers_done = false;
	for (uint32_t i = 0; i < VMBUS_CLIENT_MAX_CHANNELS; i++)
		wait_idle(cl, &cl->ch[i]);
}

static void queue_contact(struct vmbus_client *cl)
{
	struct vmbus_msg_initiate_contact ic;
	uint32_t v = versions[cl->vi];

	memset(&ic, 0, sizeof(ic));
	ic.version_requested = v;
	ic.target_vcpu = cl->cfg.vp;
	if (v >= VMBUS_VERSION_WIN10_V5) {
		ic.msg_sint = cl->cfg.sint;
		ic.msg_vtl = cl->cfg.vtl;
		if (v >= VMBUS_VERSION_WIN10_V6_0)
			ic.feature_flags = cl->requested_features;
	} else {
		ic.interrupt_page = cl->cfg.interrupt_page;
	}
	ic.monitor_page1 = cl->cfg.monitor_page1;
	ic.monitor_page2 = cl->cfg.monitor_page2;
	size_t len = VMBUS_INITIATE_CONTACT_SIZE_V1;
	if (v >= VMBUS_VERSION_WIN10_V6_0) {
		ic.client_id = cl->cfg.client_id;
		len = VMBUS_INITIATE_CONTACT_SIZE_V6;
	}
	uint32_t conn = v >= VMBUS_VERSION_WIN10_V5 ? cl->cfg.contact_conn_id
						    : VMBUS_CONN_ID_MESSAGE;
	queue(cl, conn, &ic, len, VMBUS_MSG_INITIATE_CONTACT);
}

static void connect_failed(struct vmbus_client *cl, int err, struct note *n)
{
	cl->state = VMBUS_CLIENT_DISCONNECTED;
	cl->msg_conn_id = 0;
	cl->features = 0;
	n->kind = NOTE_CONNECTED;
	n->err = err;
	n->id = 0;
}

static bool guid_zero(const struct vmbus_guid *g)
{
	static const struct vmbus_guid zero;
	return memcmp(g, &zero, sizeof(zero)) == 0;
}

static bool guid_eq(const struct vmbus_guid *a, const struct vmbus_guid *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Host messages (lock held; `m` is the local copy, len >= the table's min_len)               */
/* ------------------------------------------------------------------------------------------ */

static int on_version_response(struct vmbus_client *cl, const uint8_t *m, size_t len,
			       struct note *n)
{
	struct vmbus_msg_version_response vr;
	uint32_t v = versions[cl->vi];

	memset(&vr, 0, sizeof(vr));
	memcpy(&vr, m, len < sizeof(vr) ? len : sizeof(vr));
	if (vr.version_supported > 1) {
		/* Neither yes nor no: nothing sensible to retry with. */
		connect_failed(cl, -EPROTO, n);
		return refuse(cl, VMBUS_CLIENT_REJECT_PARAM, -EPROTO,
			      "VersionResponse version_supported %u", vr.version_supported);
	}
	if (vr.connection_state != VMBUS_CONNECTION_OK) {
		connect_failed(cl, -ECONNREFUSED, n);
		return 0;
	}
	if (!vr.version_supported) {
		if (cl->vi > cl->vmin) {
			cl->vi--;
			queue_contact(cl);
		} else {
			connect_failed(cl, -EPROTONOSUPPORT, n);
		}
		return 0;
	}
	uint32_t conn = VMBUS_CONN_ID_MESSAGE;
	if (v >= VMBUS_VERSION_WIN10_V5) {
		conn = vr.msg_conn_id;
		if (conn == 0) {
			connect_failed(cl, -EPROTO, n);
			return refuse(cl, VMBUS_CLIENT_REJECT_PARAM, -EPROTO,
				      "VersionResponse for %#x without msg_conn_id", v);
		}
	}
	cl->state = VMBUS_CLIENT_CONNECTED;
	cl->msg_conn_id = conn;
	cl->features = 0;
	if (v >= VMBUS_VERSION_WIN10_V6_0 && len >= VMBUS_VERSION_RESPONSE_SIZE_V6)
		cl->features = vr.supported_features & cl->requested_features;
	cl->offers_done = false;

	struct vmbus_msg_empty req;
	memset(&req, 0, sizeof(req));
	queue(cl, conn, &req, sizeof(req), VMBUS_MSG_REQUEST_OFFERS);
	n->kind = NOTE_CONNECTED;
	n->err = 0;
	n->id = v;
	return 0;
}

static int on_offer(struct vmbus_client *cl, const uint8_t *m, size_t len, struct note *n)
{
	struct vmbus_msg_offer_channel o;

	(void)len;
	memcpy(&o, m, sizeof(o));
	if (o.child_relid == 0 || o.child_relid > VMBUS_CLIENT_MAX_RELID)
		return refuse(cl, VMBUS_CLIENT_REJECT_RELID, -ERANGE, "offer with relid %u",
			      o.child_relid);
	if (guid_zero(&o.interface_type))
		return refuse(cl, VMBUS_CLIENT_REJECT_PARAM, -EINVAL,
			      "offer %u without an interface type", o.child_relid);
	if (o.connection_id == 0)
		return refuse(cl, VMBUS_CLIENT_REJECT_PARAM, -EINVAL,
			      "offer %u without a connection id", o.child_relid);
	bool monitored = o.monitor_allocated & 1u;
	if (monitored && o.monitor_id >= VMBUS_CLIENT_MONITOR_IDS)
		return refuse(cl, VMBUS_CLIENT_REJECT_PARAM, -EINVAL, "offer %u monitor id %u",
			      o.child_relid, o.monitor_id);
	if (cl->slot_of[o.child_relid])
		return refuse(cl, VMBUS_CLIENT_REJECT_DUPLICATE, -EEXIST, "relid %u offered twice",
			      o.child_relid);
	for (uint32_t i = 0; i < VMBUS_CLIENT_MAX_CHANNELS; i++) {
		const struct chan *c = &cl->ch[i];
		if (c->used && !c->rescinded &&
		    guid_eq(&c->offer.interface_type, &o.interface_type) &&
		    guid_eq(&c->offer.instance, &o.instance) &&
		    c->offer.subchannel_index == o.subchannel_index)
			return refuse(cl, VMBUS_CLIENT_REJECT_DUPLICATE, -EEXIST,
				      "relid %u: device of relid %u offered again", o.child_relid,
				      c->offer.relid);
	}
	if (cl->offer_count >= VMBUS_CLIENT_MAX_CHANNELS)
		return refuse(cl, VMBUS_CLIENT_REJECT_LIMIT, -ENOSPC, "offer %u: %u offers held",
			      o.child_relid, cl->offer_count);
	uint32_t slot = 0;
	while (cl->ch[slot].used)
		slot++;         /* offer_count < MAX: there is one */
	struct chan *c = &cl->ch[slot];
	unsigned busy = c->busy;
	memset(c, 0, sizeof(*c));
	c->busy = busy;
	c->used = true;
	c->state = CH_CLOSED;
	struct vmbus_client_offer *co = &c->offer;
	co->relid = o.child_relid;
	co->interface_type = o.interface_type;
	co->instance = o.instance;
	co->flags = o.flags;
	co->mmio_megabytes = o.mmio_megabytes;
	co->mmio_megabytes_optional = o.mmio_megabytes_optional;
	co->subchannel_index = o.subchannel_index;
	memcpy(co->user_defined, o.user_defined, sizeof(co->user_defined));
	co->connection_id = o.connection_id;
	co->monitor_allocated = monitored;
	co->monitor_id = monitored ? o.monitor_id : 0;
	co->dedicated_interrupt = o.is_dedicated_interrupt & 1u;
	cl->slot_of[o.child_relid] = (uint8_t)(slot + 1);
	cl->offer_count++;
	n->kind = NOTE_OFFER;
	n->offer = *co;
	return 0;
}

static int on_all_offers(struct vmbus_client *cl, const uint8_t *m, size_t len, struct note *n)
{
	(void)m;
	(void)len;
	if (cl->offers_done)
		return refuse(cl, VMBUS_CLIENT_REJECT_STATE, -EALREADY, "AllOffersDelivered twice");
	cl->offers_done = true;
	n->kind = NOTE_OFFERS_DONE;
	return 0;
}

static int on_rescind(struct vmbus_client *cl, const uint8_t *m, size_t len, struct note *n)
{
	struct vmbus_msg_relid r;

	(void)len;
	memcpy(&r, m, sizeof(r));
	struct chan *c = find_chan(cl, r.child_relid);
	if (!c)
		return refuse(cl, VMBUS_CLIENT_REJECT_RELID, -ENOENT, "rescind of relid %u",
			      r.child_relid);
	if (c->rescinded)
		return refuse(cl, VMBUS_CLIENT_REJECT_STATE, -EALREADY, "relid %u rescinded twice",
			      r.child_relid);
	c->rescinded = true;
	n->kind = NOTE_RESCINDED;
	n->relid = r.child_relid;
	n->chan_ctx = c->chan_ctx;
	return 0;
}

static int on_open_result(struct vmbus_client *cl, const uint8_t *m, size_t len, struct note *n)
{
	struct vmbus_msg_open_result r;

	(void)len;
	memcpy(&r, m, sizeof(r));
	struct chan *c = find_chan(cl, r.child_relid);
	if (!c || c->state != CH_OPENING)
		return refuse(cl, VMBUS_CLIENT_REJECT_RELID, -ENOENT,
			      "OpenChannelResult for relid %u that is not opening", r.child_relid);
	if (r.open_id != c->open_id)
		return refuse(cl, VMBUS_CLIENT_REJECT_OPEN_ID, -ESTALE,
			      "OpenChannelResult for relid %u open %#x, waiting for %#x",
			      r.child_relid, r.open_id, c->open_id);
	n->kind = NOTE_OPENED;
	n->relid = r.child_relid;
	n->chan_ctx = c->chan_ctx;
	n->status = r.status;
	if (r.status == VMBUS_STATUS_SUCCESS) {
		c->state = CH_OPEN;
		n->err = 0;
	} else {
		c->state = CH_CLOSED;
		c->ring_gpadl = 0;
		c->open_id = 0;
		c->chan_ctx = NULL;
		n->err = -ECONNREFUSED;
	}
	return 0;
}

static int on_gpadl_created(struct vmbus_client *cl, const uint8_t *m, size_t len,
			    struct note *n)
{
	struct vmbus_msg_gpadl_created r;

	(void)len;
	memcpy(&r, m, sizeof(r));
	struct gpadl *g = find_gpadl(cl, r.gpadl);
	if (!g || g->state != GP_CREATING || g->relid != r.child_relid)
		return refuse(cl, VMBUS_CLIENT_REJECT_GPADL, -ENOENT,
			      "GpadlCreated for gpadl %#x relid %u not being created", r.gpadl,
			      r.child_relid);
	n->kind = NOTE_GPADL_CREATED;
	n->relid = g->relid;
	n->id = g->id;
	n->status = r.creation_status;
	if (r.creation_status == VMBUS_STATUS_SUCCESS) {
		g->state = GP_CREATED;
		n->err = 0;
	} else {
		gpadl_free(cl, g);
		n->err = -ECONNREFUSED;
	}
	return 0;
}

static int on_gpadl_torndown(struct vmbus_client *cl, const uint8_t *m, size_t len,
			     struct note *n)
{
	struct vmbus_msg_gpadl_torndown r;

	(void)len;
	memcpy(&r, m, sizeof(r));
	struct gpadl *g = find_gpadl(cl, r.gpadl);
	if (!g || g->state != GP_TEARING)
		return refuse(cl, VMBUS_CLIENT_REJECT_GPADL, -ENOENT,
			      "GpadlTorndown for gpadl %#x not being torn down", r.gpadl);
	n->kind = NOTE_GPADL_TORNDOWN;
	n->relid = g->relid;
	n->id = g->id;
	gpadl_free(cl, g);
	return 0;
}

static int on_unload_response(struct vmbus_client *cl, const uint8_t *m, size_t len,
			      struct note *n)
{
	(void)m;
	(void)len;
	forget_all(cl);
	n->kind = NOTE_UNLOADED;
	return 0;
}

struct msg_handler {
	uint16_t min_len;
	enum vmbus_client_state state;      /* the only state it is accepted in */
	int (*fn)(struct vmbus_client *cl, const uint8_t *m, size_t len, struct note *n);
};

/* Host-to-client messages the client asked for; a type without a handler is refused. */
static const struct msg_handler handlers[VMBUS_MSG_COUNT] = {
	[VMBUS_MSG_VERSION_RESPONSE] = { VMBUS_VERSION_RESPONSE_SIZE_V1, VMBUS_CLIENT_CONTACTING,
					 on_version_response },
	[VMBUS_MSG_OFFER_CHANNEL] = { sizeof(struct vmbus_msg_offer_channel),
				      VMBUS_CLIENT_CONNECTED, on_offer },
	[VMBUS_MSG_ALL_OFFERS_DELIVERED] = { sizeof(struct vmbus_msg_empty),
					     VMBUS_CLIENT_CONNECTED, on_all_offers },
	[VMBUS_MSG_RESCIND_CHANNEL_OFFER] = { sizeof(struct vmbus_msg_relid),
					      VMBUS_CLIENT_CONNECTED, on_rescind },
	[VMBUS_MSG_OPEN_CHANNEL_RESULT] = { sizeof(struct vmbus_msg_open_result),
					    VMBUS_CLIENT_CONNECTED, on_open_result },
	[VMBUS_MSG_GPADL_CREATED] = { sizeof(struct vmbus_msg_gpadl_created),
				      VMBUS_CLIENT_CONNECTED, on_gpadl_created },
	[VMBUS_MSG_GPADL_TORNDOWN] = { sizeof(struct vmbus_msg_gpadl_torndown),
				       VMBUS_CLIENT_CONNECTED, on_gpadl_torndown },
	[VMBUS_MSG_UNLOAD_RESPONSE] = { sizeof(struct vmbus_msg_empty), VMBUS_CLIENT_UNLOADING,
					on_unload_response },
};

static const char *const state_names[] = {
	[VMBUS_CLIENT_DISCONNECTED] = "disconnected",
	[VMBUS_CLIENT_CONTACTING] = "contacting",
	[VMBUS_CLIENT_CONNECTED] = "connected",
	[VMBUS_CLIENT_UNLOADING] = "unloading",
};

static int dispatch(struct vmbus_client *cl, const uint8_t *m, size_t len, struct note *n)
{
	struct vmbus_msg_header h;

	memcpy(&h, m, sizeof(h));
	if (h.msgtype >= VMBUS_MSG_COUNT || !handlers[h.msgtype].fn)
		return refuse(cl, VMBUS_CLIENT_REJECT_TYPE, -EOPNOTSUPP, "message type %u",
			      h.msgtype);
	const struct msg_handler *hd = &handlers[h.msgtype];
	if (len < hd->min_len)
		return refuse(cl, VMBUS_CLIENT_REJECT_LENGTH, -EMSGSIZE, "message %u of %zu B",
			      h.msgtype, len);
	if (cl->state != hd->state)
		return refuse(cl, VMBUS_CLIENT_REJECT_STATE, -EPROTO, "message %u while %s",
			      h.msgtype, state_names[cl->state]);
	return hd->fn(cl, m, len, n);
}

/* ------------------------------------------------------------------------------------------ */
/* API                                                                                        */
/* ------------------------------------------------------------------------------------------ */

static int version_index(uint32_t v)
{
	for (int i = 0; i < VERSION_COUNT; i++)
		if (versions[i] == v)
			return i;
	return -1;
}

static bool gpa_ok(uint64_t gpa)
{
	return !(gpa & (PAGE_SIZE - 1)) && gpa < GPA_LIMIT;
}

int vmbus_client_create(const struct vmbus_client_ops *ops, void *ctx,
			const struct vmbus_client_config *cfg, struct vmbus_client **out)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!ops || !ops->post_message || !ops->signal_event || !cfg || cfg->sint >= SINT_COUNT ||
	    cfg->vtl > VTL_MAX)
		return -EINVAL;
	if (!gpa_ok(cfg->monitor_page1) || !gpa_ok(cfg->monitor_page2) ||
	    !gpa_ok(cfg->interrupt_page))
		return -EINVAL;
	int vmax = version_index(cfg->max_version ? cfg->max_version : VMBUS_VERSION_WIN10_V6_0);
	int vmin = version_index(cfg->min_version ? cfg->min_version : VMBUS_VERSION_WIN8);
	if (vmax < 0 || vmin < 0)
		return -EINVAL;
	/* Below 5.0 the host answers on SINT 2 of the poster's VTL: only a VTL0 client's. */
	if (cfg->sint != VMBUS_MESSAGE_SINT || cfg->vtl != 0) {
		int v5 = version_index(VMBUS_VERSION_WIN10_V5);
		if (vmin < v5)
			vmin = v5;
	}
	if (vmin > vmax)
		return -EINVAL;

	struct vmbus_client *cl = calloc(1, sizeof(*cl));
	if (!cl)
		return -ENOMEM;
	if (vmbus_outbox_init_owner(&cl->ob, OUTBOX_SLOTS, &cl->lock, &cl->idle)) {
		free(cl);
		return -ENOMEM;
	}
	cl->ops = ops;
	cl->ctx = ctx;
	cl->cfg = *cfg;
	if (!cl->cfg.contact_conn_id)
		cl->cfg.contact_conn_id = VMBUS_CONN_ID_MESSAGE_4;
	if (!cl->cfg.has_client_id)
		memset(&cl->cfg.client_id, 0, sizeof(cl->cfg.client_id));
	cl->requested_features = cfg->has_client_id ? VMBUS_FEATURE_CLIENT_ID : 0;
	cl->vmin = vmin;
	cl->vmax = vmax;
	cl->vi = vmax;
	cl->state = VMBUS_CLIENT_DISCONNECTED;
	cl->next_gpadl_id = VMBUS_CLIENT_GPADL_ID_FIRST;
	cl->next_open_id = 1;
	*out = cl;
	return 0;
}

void vmbus_client_destroy(struct vmbus_client *cl)
{
	if (!cl)
		return;
	vmbus_outbox_fini_owner(&cl->ob, &cl->lock, &cl->idle);
	free(cl);
}

int vmbus_client_connect(struct vmbus_client *cl)
{
	if (!cl)
		return -EINVAL;
	pthread_mutex_lock(&cl->lock);
	int rc = 0;
	if (cl->state != VMBUS_CLIENT_DISCONNECTED)
		rc = cl->state == VMBUS_CLIENT_CONNECTED ? -EISCONN : -EBUSY;
	else if (!room(cl, 1))
		rc = -ENOBUFS;      /* messages of an earlier connection still wait */
	if (rc) {
		pthread_mutex_unlock(&cl->lock);
		return rc;
	}
	cl->state = VMBUS_CLIENT_CONTACTING;
	cl->vi = cl->vmax;
	queue_contact(cl);
	pthread_mutex_unlock(&cl->lock);
	drain(cl);
	return 0;
}

int vmbus_client_unload(struct vmbus_client *cl)
{
	if (!cl)
		return -EINVAL;
	pthread_mutex_lock(&cl->lock);
	int rc = 0;
	if (cl->state != VMBUS_CLIENT_CONNECTED)
		rc = cl->state == VMBUS_CLIENT_DISCONNECTED ? -ENOTCONN : -EBUSY;
	else if (!room(cl, 1))
		rc = -ENOBUFS;
	if (rc) {
		pthread_mutex_unlock(&cl->lock);
		return rc;
	}
	struct vmbus_msg_empty u;
	memset(&u, 0, sizeof(u));
	send_msg(cl, &u, sizeof(u), VMBUS_MSG_UNLOAD);
	cl->state = VMBUS_CLIENT_UNLOADING;
	pthread_mutex_unlock(&cl->lock);
	drain(cl);
	return 0;
}

int vmbus_client_handle_message(struct vmbus_client *cl, const void *msg, size_t len)
{
	uint8_t m[VMBUS_MSG_MAX_SIZE];
	struct note n = { .kind = NOTE_NONE };
	int rc;

	if (!cl)
		return -EINVAL;
	pthread_mutex_lock(&cl->lock);
	cl->stats.messages++;
	if (!msg || len < sizeof(struct vmbus_msg_header) || len > sizeof(m)) {
		rc = refuse(cl, VMBUS_CLIENT_REJECT_LENGTH, -EMSGSIZE, "message of %zu B", len);
	} else {
		/* Parse our own copy: the host cannot change a field between check and use. */
		memcpy(m, msg, len);
		rc = dispatch(cl, m, len, &n);
	}
	pthread_mutex_unlock(&cl->lock);
	/* Report before posting what it caused: with a synchronous transport the answers to
	 * those posts would otherwise overtake this report. */
	notify(cl, &n);
	drain(cl);
	return rc;
}

int vmbus_client_handle_event(struct vmbus_client *cl, uint32_t flag)
{
	if (!cl)
		return -EINVAL;
	pthread_mutex_lock(&cl->lock);
	struct chan *c = flag <= VMBUS_CLIENT_MAX_RELID ? find_chan(cl, flag) : NULL;
	if (!c || (c->state != CH_OPENING && c->state != CH_OPEN)) {
		cl->stats.events_dropped++;
		pthread_mutex_unlock(&cl->lock);
		return flag <= VMBUS_CLIENT_MAX_RELID ? -ENOENT : -EINVAL;
	}
	cl->stats.events_in++;
	if (!cl->ops->event) {
		pthread_mutex_unlock(&cl->lock);
		return 0;
	}
	void *chan_ctx = c->chan_ctx;
	c->busy++;
	pthread_mutex_unlock(&cl->lock);

	const struct chan *outer = cb_chan;
	cb_chan = c;
	cl->ops->event(cl->ctx, flag, chan_ctx);
	cb_chan = outer;

	pthread_mutex_lock(&cl->lock);
	c->busy--;
	pthread_cond_broadcast(&cl->idle);
	pthread_mutex_unlock(&cl->lock);
	return 0;
}

void vmbus_client_flush(struct vmbus_client *cl)
{
	if (cl)
		drain(cl);
}

unsigned vmbus_client_pending(struct vmbus_client *cl)
{
	if (!cl)
		return 0;
	pthread_mutex_lock(&cl->lock);
	unsigned n = cl->ob.count;
	pthread_mutex_unlock(&cl->lock);
	return n;
}

/* A channel the user may act on: 0 and *out, or -ENOTCONN / -ENOENT. Lock held. */
static int user_chan(struct vmbus_client *cl, uint32_t relid, struct chan **out)
{
	if (cl->state != VMBUS_CLIENT_CONNECTED)
		return -ENOTCONN;
	*out = find_chan(cl, relid);
	return *out ? 0 : -ENOENT;
}

static uint32_t gpadl_messages(uint32_t count)
{
	if (count <= HEADER_PFNS)
		return 1;
	return 1 + (uint32_t)((count - HEADER_PFNS + BODY_PFNS - 1) / BODY_PFNS);
}

int vmbus_client_gpadl_create(struct vmbus_client *cl, uint32_t relid, const uint64_t *pfns,
			      uint32_t count, uint32_t *gpadl_id)
{
	if (!cl || !gpadl_id || !pfns || count == 0 || count > VMBUS_CLIENT_MAX_GPADL_PAGES)
		return -EINVAL;
	for (uint32_t i = 0; i < count; i++)
		if (pfns[i] >= PFN_LIMIT)
			return -EINVAL;

	struct chan *c;
	pthread_mutex_lock(&cl->lock);
	int rc = user_chan(cl, relid, &c);
	if (!rc && c->rescinded)
		rc = -ENODEV;
	else if (!rc && cl->gpadl_count >= VMBUS_CLIENT_MAX_GPADLS)
		rc = -ENOSPC;
	else if (!rc && !room(cl, gpadl_messages(count)))
		rc = -ENOBUFS;
	if (rc) {
		pthread_mutex_unlock(&cl->lock);
		return rc;
	}
	/* A fresh id: at most MAX_GPADLS are taken, so this ends within MAX_GPADLS + 2 tries. */
	uint32_t id;
	do {
		id = cl->next_gpadl_id++;
	} while (id == 0 || find_gpadl(cl, id));
	struct gpadl *g = cl->gp;
	while (g->state != GP_FREE)
		g++;
	g->state = GP_CREATING;
	g->id = id;
	g->relid = relid;
	g->pages = count;
	cl->gpadl_count++;
	*gpadl_id = id;

	/* One range of whole pages: its header and PFNs are the range data (range_buflen). */
	uint8_t m[VMBUS_MSG_MAX_SIZE];
	struct vmbus_msg_gpadl_header h;
	struct vmbus_gpa_range r = { .byte_count = count * PAGE_SIZE, .byte_offset = 0 };
	memset(&h, 0, sizeof(h));
	h.child_relid = relid;
	h.gpadl = id;
	h.range_buflen = (uint16_t)(sizeof(r) + (size_t)count * sizeof(uint64_t));
	h.rangecount = 1;
	uint32_t n = count < HEADER_PFNS ? count : (uint32_t)HEADER_PFNS;
	memcpy(m, &h, sizeof(h));
	memcpy(m + sizeof(h), &r, sizeof(r));
	memcpy(m + sizeof(h) + sizeof(r), pfns, (size_t)n * sizeof(uint64_t));
	send_msg(cl, m, sizeof(h) + sizeof(r) + (size_t)n * sizeof(uint64_t),
		 VMBUS_MSG_GPADL_HEADER);
	for (uint32_t done = n; done < count; done += n) {
		struct vmbus_msg_gpadl_body b;
		n = count - done < BODY_PFNS ? count - done : (uint32_t)BODY_PFNS;
		memset(&b, 0, sizeof(b));
		b.gpadl = id;
		memcpy(m, &b, sizeof(b));
		memcpy(m + sizeof(b), pfns + done, (size_t)n * sizeof(uint64_t));
		send_msg(cl, m, sizeof(b) + (size_t)n * sizeof(uint64_t), VMBUS_MSG_GPADL_BODY);
	}
	pthread_mutex_unlock(&cl->lock);
	drain(cl);
	return 0;
}
_Static_assert(VMBUS_CLIENT_MAX_GPADL_PAGES * 8u + 8u <= UINT16_MAX, "range_buflen is 16 bits");
_Static_assert(VMBUS_CLIENT_OUTBOX >= 1 + (VMBUS_CLIENT_MAX_GPADL_PAGES - 26 + 27) / 28,
	       "the largest GPADL fits in the FIFO");

/* The channel whose ring `g` is, if it is opening or open. */
static bool gpadl_in_use(const struct vmbus_client *cl, const struct gpadl *g)
{
	uint32_t relid = g->relid;
	if (!relid || relid > VMBUS_CLIENT_MAX_RELID || !cl->slot_of[relid])
		return false;
	const struct chan *c = &cl->ch[cl->slot_of[relid] - 1];
	return c->state != CH_CLOSED && c->ring_gpadl == g->id;
}

int vmbus_client_gpadl_teardown(struct vmbus_client *cl, uint32_t relid, uint32_t gpadl_id)
{
	if (!cl)
		return -EINVAL;
	pthread_mutex_lock(&cl->lock);
	struct gpadl *g = find_gpadl(cl, gpadl_id);
	int rc = 0;
	if (cl->state != VMBUS_CLIENT_CONNECTED)
		rc = -ENOTCONN;
	else if (!g || g->relid != relid || g->state != GP_CREATED)
		rc = -ENOENT;
	else if (gpadl_in_use(cl, g))
		rc = -EBUSY;
	else if (!room(cl, 1))
		rc = -ENOBUFS;
	if (rc) {
		pthread_mutex_unlock(&cl->lock);
		return rc;
	}
	struct vmbus_msg_gpadl_teardown t;
	memset(&t, 0, sizeof(t));
	t.child_relid = relid;
	t.gpadl = gpadl_id;
	g->state = GP_TEARING;
	send_msg(cl, &t, sizeof(t), VMBUS_MSG_GPADL_TEARDOWN);
	pthread_mutex_unlock(&cl->lock);
	drain(cl);
	return 0;
}

int vmbus_client_open(struct vmbus_client *cl, uint32_t relid,
		      const struct vmbus_client_open_params *p)
{
	if (!cl || !p || p->user_data_len > VMBUS_OPEN_USER_DATA_SIZE ||
	    (p->user_data_len && !p->user_data))
		return -EINVAL;
	struct chan *c;
	pthread_mutex_lock(&cl->lock);
	int rc = user_chan(cl, relid, &c);
	if (!rc && c->rescinded)
		rc = -ENODEV;
	else if (!rc && c->state != CH_CLOSED)
		rc = -EBUSY;
	if (!rc) {
		const struct gpadl *g = find_gpadl(cl, p->ring_gpadl);
		if (!g || g->relid != relid || g->state != GP_CREATED ||
		    g->pages < 2 * RING_HALF_MIN_PAGES ||
		    p->downstream_offset < RING_HALF_MIN_PAGES ||
		    p->downstream_offset > g->pages - RING_HALF_MIN_PAGES)
			rc = -EINVAL;
		else if (!room(cl, 1))
			rc = -ENOBUFS;
	}
	if (rc) {
		pthread_mutex_unlock(&cl->lock);
		return rc;
	}
	/* A fresh open id per open: a result for an earlier open cannot complete this one. */
	uint32_t open_id = cl->next_open_id++;
	if (open_id == 0)
		open_id = cl->next_open_id++;
	c->state = CH_OPENING;
	c->open_id = open_id;
	c->ring_gpadl = p->ring_gpadl;
	c->chan_ctx = p->chan_ctx;

	struct vmbus_msg_open_channel o;
	memset(&o, 0, sizeof(o));
	o.child_relid = relid;
	o.open_id = open_id;
	o.ring_gpadl = p->ring_gpadl;
	o.target_vp = p->target_vp;
	o.downstream_ring_page_offset = p->downstream_offset;
	if (p->user_data_len)
		memcpy(o.user_data, p->user_data, p->user_data_len);
	send_msg(cl, &o, VMBUS_OPEN_CHANNEL_SIZE_V1, VMBUS_MSG_OPEN_CHANNEL);
	pthread_mutex_unlock(&cl->lock);
	drain(cl);
	return 0;
}

int vmbus_client_close(struct vmbus_client *cl, uint32_t relid)
{
	if (!cl)
		return -EINVAL;
	struct chan *c;
	pthread_mutex_lock(&cl->lock);
	int rc = user_chan(cl, relid, &c);
	if (!rc && c->state == CH_OPENING)
		rc = -EBUSY;
	else if (!rc && c->state != CH_OPEN)
		rc = -ENOTCONN;
	else if (!rc && !room(cl, 1))
		rc = -ENOBUFS;
	if (rc) {
		pthread_mutex_unlock(&cl->lock);
		return rc;
	}
	struct vmbus_msg_relid m;
	memset(&m, 0, sizeof(m));
	m.child_relid = relid;
	send_msg(cl, &m, sizeof(m), VMBUS_MSG_CLOSE_CHANNEL);
	/* Closed from now on: no new event callback starts, then wait for those running. */
	c->state = CH_CLOSED;
	c->open_id = 0;
	c->ring_gpadl = 0;
	c->chan_ctx = NULL;
	wait_idle(cl, c);
	pthread_mutex_unlock(&cl->lock);
	drain(cl);
	return 0;
}

int vmbus_client_release(struct vmbus_client *cl, uint32_t relid)
{
	if (!cl)
		return -EINVAL;
	struct chan *c;
	pthread_mutex_lock(&cl->lock);
	int rc = user_chan(cl, relid, &c);
	if (!rc && !c->rescinded)
		rc = -EINVAL;
	else if (!rc && c->state == CH_OPEN)
		rc = -EBUSY;
	else if (!rc && !room(cl, 1))
		rc = -ENOBUFS;
	if (rc) {
		pthread_mutex_unlock(&cl->lock);
		return rc;
	}
	struct vmbus_msg_relid m;
	memset(&m, 0, sizeof(m));
	m.child_relid = relid;
	send_msg(cl, &m, sizeof(m), VMBUS_MSG_RELID_RELEASED);
	chan_free(cl, c);
	wait_idle(cl, c);
	pthread_mutex_unlock(&cl->lock);
	drain(cl);
	return 0;
}

int vmbus_client_signal(struct vmbus_client *cl, uint32_t relid)
{
	if (!cl)
		return -EINVAL;
	pthread_mutex_lock(&cl->lock);
	const struct chan *c = find_chan(cl, relid);
	if (!c) {
		pthread_mutex_unlock(&cl->lock);
		return -ENOENT;
	}
	if (c->state != CH_OPEN) {
		pthread_mutex_unlock(&cl->lock);
		return -ENOTCONN;
	}
	uint32_t conn = c->offer.connection_id;
	pthread_mutex_unlock(&cl->lock);

	int rc = cl->ops->signal_event(cl->ctx, conn, 0);
	if (rc == 0) {
		pthread_mutex_lock(&cl->lock);
		cl->stats.signals_out++;
		pthread_mutex_unlock(&cl->lock);
	}
	return rc;
}

int vmbus_client_get_offer(struct vmbus_client *cl, uint32_t relid, struct vmbus_client_offer *o)
{
	if (!cl || !o)
		return -EINVAL;
	pthread_mutex_lock(&cl->lock);
	const struct chan *c = find_chan(cl, relid);
	if (c)
		*o = c->offer;
	pthread_mutex_unlock(&cl->lock);
	return c ? 0 : -ENOENT;
}

void vmbus_client_get_connection(struct vmbus_client *cl, struct vmbus_client_connection *c)
{
	pthread_mutex_lock(&cl->lock);
	memset(c, 0, sizeof(*c));
	c->state = cl->state;
	c->version = cl->state == VMBUS_CLIENT_DISCONNECTED ? 0 : versions[cl->vi];
	c->msg_conn_id = cl->msg_conn_id;
	c->features = cl->features;
	c->offers_done = cl->offers_done;
	c->offer_count = cl->offer_count;
	c->gpadl_count = cl->gpadl_count;
	pthread_mutex_unlock(&cl->lock);
}

void vmbus_client_get_stats(struct vmbus_client *cl, struct vmbus_client_stats *st)
{
	pthread_mutex_lock(&cl->lock);
	*st = cl->stats;
	st->posted = cl->ob.posted;
	st->post_retries = cl->ob.retries;
	st->post_errors = cl->ob.errors;
	pthread_mutex_unlock(&cl->lock);
}

/* ------------------------------------------------------------------------------------------ */
/* Consistency check                                                                          */
/* ------------------------------------------------------------------------------------------ */

static int check_locked(struct vmbus_client *cl, char *why, size_t n)
{
	bool connected = cl->state == VMBUS_CLIENT_CONNECTED ||
			 cl->state == VMBUS_CLIENT_UNLOADING;

	if (cl->vi < cl->vmin || cl->vi > cl->vmax)
		return errbuf_set(why, n, -EPROTO, "version index %d outside %d..%d", cl->vi, cl->vmin,
			      cl->vmax);
	if (connected != (cl->msg_conn_id != 0))
		return errbuf_set(why, n, -EPROTO, "msg_conn_id %#x in state %d", cl->msg_conn_id, cl->state);
	if (cl->features & ~cl->requested_features)
		return errbuf_set(why, n, -EPROTO, "features %#x not requested", cl->features);
	if (!connected && (cl->offer_count || cl->gpadl_count || cl->offers_done))
		return errbuf_set(why, n, -EPROTO, "state %d with %u offers, %u gpadls", cl->state,
			      cl->offer_count, cl->gpadl_count);

	uint32_t used = 0, mapped = 0;
	for (uint32_t r = 0; r <= VMBUS_CLIENT_MAX_RELID; r++) {
		if (!cl->slot_of[r])
			continue;
		mapped++;
		uint32_t s = cl->slot_of[r] - 1u;
		if (r == 0 || s >= VMBUS_CLIENT_MAX_CHANNELS || !cl->ch[s].used ||
		    cl->ch[s].offer.relid != r)
			return errbuf_set(why, n, -EPROTO, "relid %u maps to slot %u", r, s);
	}
	for (uint32_t i = 0; i < VMBUS_CLIENT_MAX_CHANNELS; i++) {
		const struct chan *c = &cl->ch[i];
		if (c->busy)
			return errbuf_set(why, n, -EPROTO, "slot %u busy %u while idle", i, c->busy);
		if (!c->used) {
			if (c->state != CH_CLOSED || c->rescinded || c->chan_ctx || c->ring_gpadl)
				return errbuf_set(why, n, -EPROTO, "free slot %u keeps state", i);
			continue;
		}
		used++;
		uint32_t relid = c->offer.relid;
		if (relid == 0 || relid > VMBUS_CLIENT_MAX_RELID || cl->slot_of[relid] != i + 1)
			return errbuf_set(why, n, -EPROTO, "slot %u relid %u not mapped", i, relid);
		if (guid_zero(&c->offer.interface_type) || !c->offer.connection_id ||
		    (c->offer.monitor_allocated && c->offer.monitor_id >= VMBUS_CLIENT_MONITOR_IDS))
			return errbuf_set(why, n, -EPROTO, "relid %u offer fields", relid);
		if (c->state == CH_CLOSED) {
			if (c->ring_gpadl || c->open_id || c->chan_ctx)
				return errbuf_set(why, n, -EPROTO, "closed relid %u keeps open state", relid);
		} else if (c->state == CH_OPENING || c->state == CH_OPEN) {
			const struct gpadl *g = NULL;
			for (uint32_t k = 0; k < VMBUS_CLIENT_MAX_GPADLS; k++)
				if (cl->gp[k].state != GP_FREE && cl->gp[k].id == c->ring_gpadl)
					g = &cl->gp[k];
			if (!g || g->state != GP_CREATED || g->relid != relid || !c->open_id ||
			    g->pages < 2 * RING_HALF_MIN_PAGES)
				return errbuf_set(why, n, -EPROTO, "open relid %u without its ring", relid);
		} else {
			return errbuf_set(why, n, -EPROTO, "relid %u state %d", relid, c->state);
		}
		if (!c->rescinded) {
			for (uint32_t k = 0; k < i; k++) {
				const struct chan *d = &cl->ch[k];
				if (d->used && !d->rescinded &&
				    guid_eq(&d->offer.interface_type, &c->offer.interface_type) &&
				    guid_eq(&d->offer.instance, &c->offer.instance) &&
				    d->offer.subchannel_index == c->offer.subchannel_index)
					return errbuf_set(why, n, -EPROTO, "relids %u and %u: same device",
						      d->offer.relid, relid);
			}
		}
	}
	if (used != cl->offer_count || mapped != used || used > VMBUS_CLIENT_MAX_CHANNELS)
		return errbuf_set(why, n, -EPROTO, "offers: %u used, %u mapped, count %u", used, mapped,
			      cl->offer_count);

	uint32_t gpadls = 0;
	for (uint32_t i = 0; i < VMBUS_CLIENT_MAX_GPADLS; i++) {
		const struct gpadl *g = &cl->gp[i];
		if (g->state == GP_FREE) {
			if (g->id || g->relid || g->pages)
				return errbuf_set(why, n, -EPROTO, "free gpadl slot %u keeps state", i);
			continue;
		}
		gpadls++;
		if (g->state > GP_TEARING || g->id == 0 || g->pages == 0 ||
		    g->pages > VMBUS_CLIENT_MAX_GPADL_PAGES)
			return errbuf_set(why, n, -EPROTO, "gpadl %#x state %d pages %u", g->id, g->state,
				      g->pages);
		const struct chan *c = g->relid <= VMBUS_CLIENT_MAX_RELID ? find_chan(cl, g->relid)
									  : NULL;
		if (!c)
			return errbuf_set(why, n, -EPROTO, "gpadl %#x of unknown relid %u", g->id, g->relid);
		if (g->state == GP_TEARING && gpadl_in_use(cl, g))
			return errbuf_set(why, n, -EPROTO, "gpadl %#x torn down while the ring", g->id);
		for (uint32_t k = 0; k < i; k++)
			if (cl->gp[k].state != GP_FREE && cl->gp[k].id == g->id)
				return errbuf_set(why, n, -EPROTO, "gpadl id %#x twice", g->id);
	}
	if (gpadls != cl->gpadl_count)
		return errbuf_set(why, n, -EPROTO, "gpadl count %u != %u", cl->gpadl_count, gpadls);
	if (cl->ob.count > OUTBOX_SLOTS || cl->ob.head >= OUTBOX_SLOTS || cl->ob.draining)
		return errbuf_set(why, n, -EPROTO, "outbox %u at %u draining %d", cl->ob.count, cl->ob.head,
			      cl->ob.draining);
	uint64_t sum = 0;
	for (int i = 0; i < VMBUS_CLIENT_REJECT_COUNT; i++)
		sum += cl->stats.rejects[i];
	if (sum != cl->stats.rejected || cl->stats.rejected > cl->stats.messages)
		return errbuf_set(why, n, -EPROTO, "reject counts");
	return 0;
}

int vmbus_client_check(struct vmbus_client *cl, char *why, size_t why_len)
{
	if (!cl)
		return errbuf_set(why, why_len, -EPROTO, "no client");
	pthread_mutex_lock(&cl->lock);
	int rc = check_locked(cl, why, why_len);
	pthread_mutex_unlock(&cl->lock);
	return rc;
}
