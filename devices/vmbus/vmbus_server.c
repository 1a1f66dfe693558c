/*
 * vmbus_server: the VMBus channel protocol, server side (see vmbus_server.h for the model, the
 * checks and the answer given to each refused message).
 *
 * Concurrency: s->lock protects everything below. Work that must run without it (channel ops,
 * post_message, signal_event) holds a reference on the channel instead: ch->busy counts the
 * threads using a channel unlocked, and nothing frees a channel or its ring GPADL, or changes
 * its open state, while busy > 0 (they wait on s->idle). Opening and closing hold busy for the
 * whole op, so busy == 0 means the channel is CLOSED or OPEN. Outgoing messages are queued under
 * the lock and posted by drain() without it, one drainer at a time so the order is kept.
 */
#include "devices/vmbus/vmbus_server.h"
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
/* Each range needs its 8-byte header and at least one PFN. */
#define RANGE_MIN_BYTES 16u
/* A ring half: its control page and at least one data page. */
#define RING_HALF_MIN_PAGES 2u
/* Refusals logged one by one, then every LOG_EVERY-th: a guest cannot flood the log. */
#define LOG_FIRST       32u
#define LOG_EVERY       1024u

#define SERVER_FEATURES (VMBUS_FEATURE_GUEST_SPECIFIED_SIGNAL | VMBUS_FEATURE_MODIFY_CONNECTION | \
			 VMBUS_FEATURE_CLIENT_ID)

/* Versions spoken, oldest first (3.4). */
static const uint32_t versions[] = { VMBUS_VERSIONS_SPOKEN };

static const char *const reject_names[VMBUS_SERVER_REJECT_COUNT] = {
	[VMBUS_SERVER_REJECT_CONN_ID] = "connection id",
	[VMBUS_SERVER_REJECT_LENGTH] = "length",
	[VMBUS_SERVER_REJECT_TYPE] = "type",
	[VMBUS_SERVER_REJECT_STATE] = "state",
	[VMBUS_SERVER_REJECT_VERSION] = "version",
	[VMBUS_SERVER_REJECT_RELID] = "relid",
	[VMBUS_SERVER_REJECT_CHANNEL_STATE] = "channel state",
	[VMBUS_SERVER_REJECT_GPADL] = "gpadl",
	[VMBUS_SERVER_REJECT_PARAM] = "parameter",
	[VMBUS_SERVER_REJECT_LIMIT] = "limit",
	[VMBUS_SERVER_REJECT_DEVICE] = "device",
};

enum conn_state {
	CONN_DISCONNECTED,
	CONN_CONNECTED,
	CONN_UNLOADING,         /* Unload in progress: every other message is refused */
};

enum ch_state {
	CH_CLOSED,
	CH_OPENING,             /* open op running */
	CH_OPEN,
	CH_CLOSING,             /* waiting for signals in flight, then the close op */
};

struct gpadl {
	uint32_t id;
	uint32_t relid;
	uint16_t range_count;
	uint16_t buf_len;           /* range_buflen: bytes of range data */
	uint32_t received;          /* range data bytes so far */
	bool complete;              /* received, parsed, answered with status 0 */
	bool teardown_pending;      /* torn down while in use: answer when released */
	bool in_use;                /* ring of a channel that is not CLOSED */
	uint8_t *raw;               /* range data while incomplete */
	uint32_t page_count;
	uint64_t *pfns;
	struct vmbus_server_gpadl_range *ranges;
};

struct vmbus_channel {
	struct vmbus_server *srv;
	uint32_t relid;
	enum ch_state state;
	bool known;                 /* OfferChannel sent to the current client */
	bool rescinded;
	unsigned busy;              /* threads using it without the lock */
	struct vmbus_offer_params offer;
	const struct vmbus_channel_ops *ops;
	void *ctx;
	/* While not CLOSED. */
	struct gpadl *ring;
	uint32_t target_vp;
	uint16_t event_flag;
	uint32_t signal_conn_id;    /* guest-specified (6.0), 0: conn_id_base + relid */
};

struct vmbus_server {
	pthread_mutex_t lock;
	pthread_cond_t idle;        /* some channel's busy count went down */
	const struct vmbus_server_ops *ops;
	void *ctx;
	struct vmbus_server_config cfg;

	enum conn_state state;
	uint32_t version;
	uint32_t msg_conn_id;
	uint32_t features;
	struct vmbus_server_target target;
	uint64_t monitor_page1, monitor_page2, interrupt_page;
	bool has_client_id;
	struct vmbus_guid client_id;
	bool offers_requested;

	struct vmbus_channel *ch[VMBUS_SERVER_MAX_CHANNELS + 1];   /* by relid */
	struct gpadl *gpadl[VMBUS_SERVER_MAX_GPADLS];                /* dense, gpadl_count used */
	uint32_t gpadl_count;
	uint32_t pending_count;     /* GPADLs waiting for bodies */
	uint64_t gpadl_pages;       /* pages of complete GPADLs */

	struct vmbus_outbox ob;

	struct vmbus_server_stats stats;
};

/* ------------------------------------------------------------------------------------------ */
/* Helpers (called with the lock held unless said otherwise)                                  */
/* ------------------------------------------------------------------------------------------ */

__attribute__((format(printf, 4, 5)))
static int refuse(struct vmbus_server *s, enum vmbus_server_reject why, int err,
		  const char *fmt, ...)
{
	s->stats.rejected++;
	s->stats.rejects[why]++;
	if (s->ops->log && (s->stats.rejected <= LOG_FIRST || s->stats.rejected % LOG_EVERY == 0)) {
		char detail[128], line[192];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(detail, sizeof(detail), fmt, ap);
		va_end(ap);
		snprintf(line, sizeof(line), "vmbus: refused (%s, %llu so far): %s",
			 reject_names[why], (unsigned long long)s->stats.rejected, detail);
		s->ops->log(s->ctx, line);
	}
	return err;
}

_Static_assert(sizeof(struct vmbus_server_target) <= sizeof(((struct vmbus_outbox_msg *)0)->dest),
	       "a target fits an outbox destination");

static void queue_to(struct vmbus_server *s, const struct vmbus_server_target *t, void *msg,
		     size_t len, uint32_t type)
{
	if (!vmbus_outbox_put(&s->ob, t, sizeof(*t), msg, len, type))
		s->stats.outbox_overflows++;
}

static void reply(struct vmbus_server *s, void *msg, size_t len, uint32_t type)
{
	queue_to(s, &s->target, msg, len, type);
}

static int post_one(void *ctx, const void *dest, const void *data, size_t len)
{
	struct vmbus_server *s = ctx;
	struct vmbus_server_target t;
	memcpy(&t, dest, sizeof(t));
	return s->ops->post_message(s->ctx, &t, data, len);
}

/* Without the lock: post the queued messages in order until empty or the client's slot is full. */
static void drain(struct vmbus_server *s)
{
	vmbus_outbox_drain(&s->ob, &s->lock, post_one, s);
}

static bool version_spoken(const struct vmbus_server *s, uint32_t v)
{
	if (v > s->cfg.max_version)
		return false;
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++)
		if (versions[i] == v)
			return true;
	return false;
}

static bool page_ok(struct vmbus_server *s, uint64_t gpa)
{
	if ((gpa & (PAGE_SIZE - 1)) || gpa >= GPA_LIMIT)
		return false;
	return !s->ops->check_pages || s->ops->check_pages(s->ctx, gpn(gpa >> PAGE_SHIFT), 1) == 0;
}

/* A channel this client was offered (maybe rescinded since). */
static struct vmbus_channel *offered_channel(struct vmbus_server *s, uint32_t relid)
{
	if (relid == 0 || relid > VMBUS_SERVER_MAX_CHANNELS)
		return NULL;
	struct vmbus_channel *ch = s->ch[relid];
	return ch && ch->known ? ch : NULL;
}

/* Wait until nobody uses channel `relid` unlocked; returns it, or NULL once it is gone. */
static struct vmbus_channel *wait_idle(struct vmbus_server *s, uint32_t relid)
{
	for (;;) {
		struct vmbus_channel *ch = s->ch[relid];
		if (!ch || ch->busy == 0)
			return ch;
		pthread_cond_wait(&s->idle, &s->lock);
	}
}

static uint32_t default_conn_id(const struct vmbus_server *s, uint32_t relid)
{
	return s->cfg.conn_id_base + relid;
}

static uint32_t channel_conn_id(const struct vmbus_channel *ch)
{
	return ch->signal_conn_id ? ch->signal_conn_id : default_conn_id(ch->srv, ch->relid);
}

/* Where the client may post channel messages: 1 and 4, or the one configured id. */
static bool is_msg_conn_id(const struct vmbus_server *s, uint32_t id)
{
	if (s->cfg.msg_conn_id)
		return id == s->cfg.msg_conn_id;
	return id == VMBUS_CONN_ID_MESSAGE || id == VMBUS_CONN_ID_MESSAGE_4;
}

/* A guest-specified signal connection id must not be mistaken for anything else. */
static bool conn_id_free(const struct vmbus_server *s, uint32_t id)
{
	if (id <= VMBUS_CONN_ID_MESSAGE_4 || id == s->cfg.msg_conn_id)
		return false;
	if (id > s->cfg.conn_id_base && id <= s->cfg.conn_id_base + VMBUS_SERVER_MAX_CHANNELS)
		return false;
	for (uint32_t r = 1; r <= VMBUS_SERVER_MAX_CHANNELS; r++) {
		const struct vmbus_channel *c = s->ch[r];
		if (c && c->state != CH_CLOSED && c->signal_conn_id == id)
			return false;
	}
	return true;
}

static struct vmbus_channel *channel_by_conn_id(struct vmbus_server *s, uint32_t id)
{
	if (id > s->cfg.conn_id_base && id <= s->cfg.conn_id_base + VMBUS_SERVER_MAX_CHANNELS) {
		struct vmbus_channel *c = s->ch[id - s->cfg.conn_id_base];
		return c && c->signal_conn_id == 0 ? c : NULL;
	}
	for (uint32_t r = 1; r <= VMBUS_SERVER_MAX_CHANNELS; r++) {
		struct vmbus_channel *c = s->ch[r];
		if (c && c->state != CH_CLOSED && c->signal_conn_id == id)
			return c;
	}
	return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* GPADL table                                                                                */
/* ------------------------------------------------------------------------------------------ */

static struct gpadl *gpadl_find(struct vmbus_server *s, uint32_t id)
{
	for (uint32_t i = 0; i < s->gpadl_count; i++)
		if (s->gpadl[i]->id == id)
			return s->gpadl[i];
	return NULL;
}

static void gpadl_free(struct gpadl *g)
{
	free(g->raw);
	free(g->pfns);
	free(g->ranges);
	free(g);
}

static void gpadl_remove(struct vmbus_server *s, struct gpadl *g)
{
	for (uint32_t i = 0; i < s->gpadl_count; i++) {
		if (s->gpadl[i] != g)
			continue;
		s->gpadl[i] = s->gpadl[--s->gpadl_count];
		s->gpadl[s->gpadl_count] = NULL;
		if (g->complete)
			s->gpadl_pages -= g->page_count;
		else
			s->pending_count--;
		gpadl_free(g);
		return;
	}
}

static void answer_created(struct vmbus_server *s, uint32_t relid, uint32_t id, uint32_t status)
{
	struct vmbus_msg_gpadl_created c = {
		.child_relid = relid, .gpadl = id, .creation_status = status,
	};
	reply(s, &c, sizeof(c), VMBUS_MSG_GPADL_CREATED);
}

static void answer_torndown(struct vmbus_server *s, uint32_t id)
{
	struct vmbus_msg_gpadl_torndown t = { .gpadl = id };
	reply(s, &t, sizeof(t), VMBUS_MSG_GPADL_TORNDOWN);
}

/* Pages a range spans: ceil((byte_offset + byte_count) / 4096), no overflow in 64 bits. */
static uint64_t range_pages(const struct vmbus_gpa_range *r)
{
	return ((uint64_t)r->byte_offset + r->byte_count + PAGE_SIZE - 1) >> PAGE_SHIFT;
}

/*
 * Parse the complete range data of `g` into ranges and PFNs. 0, -EINVAL (malformed), -ENOSPC
 * (a page limit) or -ENOMEM; *what says why for the log.
 */
static int gpadl_parse(struct vmbus_server *s, struct gpadl *g, const char **what)
{
	const uint8_t *p = g->raw;
	uint32_t len = g->buf_len, off = 0;
	uint64_t pages = 0;

	/* Pass 1: structure and sizes. */
	for (uint32_t i = 0; i < g->range_count; i++) {
		struct vmbus_gpa_range r;
		*what = "ranges run past range_buflen";
		if (len - off < sizeof(r))
			return -EINVAL;
		memcpy(&r, p + off, sizeof(r));
		*what = "empty range or byte_offset past the first page";
		if (r.byte_count == 0 || r.byte_offset >= PAGE_SIZE)
			return -EINVAL;
		uint64_t n = range_pages(&r);
		*what = "fewer PFNs than the range spans";
		if (n > (len - off - sizeof(r)) / 8u)
			return -EINVAL;
		off += (uint32_t)(sizeof(r) + n * 8u);
		pages += n;
	}
	*what = "bytes left after the last range";
	if (off != len)
		return -EINVAL;
	*what = "page limit";
	if (pages > VMBUS_SERVER_MAX_GPADL_PAGES ||
	    s->gpadl_pages + pages > VMBUS_SERVER_MAX_TOTAL_PAGES)
		return -ENOSPC;

	*what = "no memory";
	g->pfns = malloc((size_t)pages * sizeof(uint64_t));
	g->ranges = calloc(g->range_count, sizeof(*g->ranges));
	if (!g->pfns || !g->ranges)
		return -ENOMEM;
	/* Pass 2: copy, PFNs inside the physical address space and (optionally) client RAM. */
	off = 0;
	uint32_t k = 0;
	for (uint32_t i = 0; i < g->range_count; i++) {
		struct vmbus_gpa_range r;
		memcpy(&r, p + off, sizeof(r));
		off += sizeof(r);
		uint32_t n = (uint32_t)range_pages(&r);
		g->ranges[i] = (struct vmbus_server_gpadl_range){
			.byte_count = r.byte_count, .byte_offset = r.byte_offset,
			.first_page = k, .page_count = n,
		};
		memcpy(&g->pfns[k], p + off, (size_t)n * 8u);
		off += n * 8u;
		k += n;
	}
	for (uint32_t i = 0; i < k;) {
		uint32_t run = 1;
		*what = "PFN beyond the physical address space";
		if (g->pfns[i] >= PFN_LIMIT)
			return -EINVAL;
		/* One check per run of contiguous pages. */
		while (i + run < k && g->pfns[i + run] == g->pfns[i] + run)
			run++;
		*what = "PFN not client RAM";
		if (s->ops->check_pages && s->ops->check_pages(s->ctx, gpn(g->pfns[i]), run) != 0)
			return -EINVAL;
		i += run;
	}
	g->page_count = k;
	return 0;
}

/* All range data is in: parse, answer, and keep or drop the GPADL. */
static int gpadl_finish(struct vmbus_server *s, struct gpadl *g)
{
	const char *what = "";
	int rc = gpadl_parse(s, g, &what);
	uint32_t relid = g->relid, id = g->id;

	if (rc) {
		bool limit = rc == -ENOSPC || rc == -ENOMEM;
		answer_created(s, relid, id, limit ? VMBUS_STATUS_INSUFFICIENT_RESOURCES
						   : VMBUS_STATUS_INVALID_PARAMETER);
		gpadl_remove(s, g);
		return refuse(s, limit ? VMBUS_SERVER_REJECT_LIMIT : VMBUS_SERVER_REJECT_GPADL, rc,
			      "gpadl %#x of relid %u: %s", id, relid, what);
	}
	answer_created(s, relid, id, VMBUS_STATUS_SUCCESS);
	free(g->raw);
	g->raw = NULL;
	g->complete = true;
	s->pending_count--;
	s->gpadl_pages += g->page_count;
	return 0;
}

/* The ring GPADL goes back to the pool; a teardown that waited for it completes now. */
static void ring_release(struct vmbus_server *s, struct vmbus_channel *ch)
{
	struct gpadl *g = ch->ring;

	ch->ring = NULL;
	ch->signal_conn_id = 0;
	if (!g)
		return;
	g->in_use = false;
	if (g->teardown_pending) {
		answer_torndown(s, g->id);
		gpadl_remove(s, g);
	}
}

/* Drop every GPADL of `relid`; with `answer`, complete deferred teardowns with GpadlTorndown. */
static void gpadl_drop_channel(struct vmbus_server *s, uint32_t relid, bool answer)
{
	for (uint32_t i = 0; i < s->gpadl_count;) {
		struct gpadl *g = s->gpadl[i];
		if (g->relid != relid) {
			i++;
			continue;
		}
		if (answer && g->teardown_pending)
			answer_torndown(s, g->id);
		gpadl_remove(s, g);     /* moves the last one to i */
	}
}

/* ------------------------------------------------------------------------------------------ */
/* Channel lifecycle                                                                          */
/* ------------------------------------------------------------------------------------------ */

static void queue_offer(struct vmbus_server *s, struct vmbus_channel *ch)
{
	struct vmbus_msg_offer_channel o;

	memset(&o, 0, sizeof(o));
	o.interface_type = ch->offer.interface_type;
	o.instance = ch->offer.instance;
	o.flags = ch->offer.flags;
	o.mmio_megabytes = ch->offer.mmio_megabytes;
	memcpy(o.user_defined, ch->offer.user_defined, sizeof(o.user_defined));
	o.subchannel_index = ch->offer.subchannel_index;
	o.mmio_megabytes_optional = ch->offer.mmio_megabytes_optional;
	o.child_relid = ch->relid;
	/* No monitor id: the client signals with HvSignalEvent; no shared interrupt page. */
	o.monitor_id = 0;
	o.monitor_allocated = 0;
	o.is_dedicated_interrupt = 1;
	o.connection_id = default_conn_id(s, ch->relid);
	reply(s, &o, sizeof(o), VMBUS_MSG_OFFER_CHANNEL);
	ch->known = true;
}

/*
 * Close an OPEN channel: stop new signals, wait for those in flight, run the close op without
 * the lock, give the ring back. Returns with the lock held and the channel CLOSED and idle.
 */
static void close_channel(struct vmbus_server *s, struct vmbus_channel *ch)
{
	ch->state = CH_CLOSING;
	ch->busy++;
	while (ch->busy > 1)
		pthread_cond_wait(&s->idle, &s->lock);
	pthread_mutex_unlock(&s->lock);
	ch->ops->close(ch->ctx, ch);
	pthread_mutex_lock(&s->lock);
	ch->busy--;
	ch->state = CH_CLOSED;
	ring_release(s, ch);
	pthread_cond_broadcast(&s->idle);
}

/* Remove an idle, closed channel and call its released op (lock dropped around the op). */
static void release_channel(struct vmbus_server *s, struct vmbus_channel *ch)
{
	gpadl_drop_channel(s, ch->relid, true);
	s->ch[ch->relid] = NULL;
	pthread_mutex_unlock(&s->lock);
	ch->ops->released(ch->ctx, ch);
	free(ch);
	pthread_mutex_lock(&s->lock);
}

/* ------------------------------------------------------------------------------------------ */
/* Message handlers (lock held; `m` is the local copy, len >= the table's min_len)            */
/* ------------------------------------------------------------------------------------------ */

static int on_initiate_contact(struct vmbus_server *s, uint32_t conn_id, const uint8_t *m,
			       size_t len)
{
	struct vmbus_msg_initiate_contact ic;
	struct vmbus_msg_version_response vr;

	if (len < VMBUS_INITIATE_CONTACT_SIZE_V1)
		return refuse(s, VMBUS_SERVER_REJECT_LENGTH, -EMSGSIZE, "InitiateContact of %zu B",
			      len);
	memset(&ic, 0, sizeof(ic));
	memcpy(&ic, m, len < sizeof(ic) ? len : sizeof(ic));

	uint32_t ver = ic.version_requested;
	bool v5 = ver >= VMBUS_VERSION_WIN10_V5;
	/* Below 5.0 the message does not name the SINT: the fixed one (or the configured one). */
	uint8_t old_sint = s->cfg.client_sint ? s->cfg.client_sint : VMBUS_MESSAGE_SINT;
	struct vmbus_server_target t = {
		.vp = ic.target_vcpu,
		.sint = v5 ? ic.msg_sint : old_sint,
		.vtl = v5 ? ic.msg_vtl : s->cfg.client_vtl,
	};
	if (t.vp >= s->cfg.vp_count || t.sint >= SINT_COUNT || t.vtl != s->cfg.client_vtl ||
	    (s->cfg.client_sint && t.sint != s->cfg.client_sint))
		return refuse(s, VMBUS_SERVER_REJECT_PARAM, -EINVAL,
			      "InitiateContact target vp %u sint %u vtl %u", t.vp, t.sint, t.vtl);

	memset(&vr, 0, sizeof(vr));
	size_t vr_len = ver >= VMBUS_VERSION_WIN10_V6_0 ? VMBUS_VERSION_RESPONSE_SIZE_V6
						       : VMBUS_VERSION_RESPONSE_SIZE_V1;
	uint32_t want_conn = s->cfg.msg_conn_id ? s->cfg.msg_conn_id
		: v5 ? VMBUS_CONN_ID_MESSAGE_4 : VMBUS_CONN_ID_MESSAGE;
	int rc = 0;

	if (s->state != CONN_DISCONNECTED) {
		vr.connection_state = VMBUS_CONNECTION_FAILED_UNKNOWN;
		rc = refuse(s, VMBUS_SERVER_REJECT_STATE, -EISCONN,
			    "InitiateContact while connected");
	} else if (conn_id != want_conn) {
		rc = refuse(s, VMBUS_SERVER_REJECT_CONN_ID, -EINVAL,
			    "InitiateContact %#x on connection %u", ver, conn_id);
	} else if (!version_spoken(s, ver) || (s->cfg.msg_conn_id && !v5)) {
		/* A redirected client must name its SINT and VTL: only the >= 5.0 form. */
		rc = refuse(s, VMBUS_SERVER_REJECT_VERSION, -EPROTONOSUPPORT,
			    "InitiateContact version %#x", ver);
	} else if (!page_ok(s, ic.monitor_page1) || !page_ok(s, ic.monitor_page2) ||
		   (!v5 && !page_ok(s, ic.interrupt_page))) {
		vr.connection_state = VMBUS_CONNECTION_FAILED_UNKNOWN;
		rc = refuse(s, VMBUS_SERVER_REJECT_PARAM, -EINVAL,
			    "InitiateContact pages %#llx %#llx",
			    (unsigned long long)ic.monitor_page1,
			    (unsigned long long)ic.monitor_page2);
	}
	if (rc) {
		queue_to(s, &t, &vr, vr_len, VMBUS_MSG_VERSION_RESPONSE);
		return rc;
	}

	s->state = CONN_CONNECTED;
	s->version = ver;
	s->msg_conn_id = want_conn;
	s->target = t;
	s->features = ver >= VMBUS_VERSION_WIN10_V6_0 ? ic.feature_flags & SERVER_FEATURES : 0;
	s->monitor_page1 = ic.monitor_page1;
	s->monitor_page2 = ic.monitor_page2;
	s->interrupt_page = v5 ? 0 : ic.interrupt_page;
	s->has_client_id = ver >= VMBUS_VERSION_WIN10_V6_0 && len >= VMBUS_INITIATE_CONTACT_SIZE_V6;
	memset(&s->client_id, 0, sizeof(s->client_id));
	if (s->has_client_id)
		s->client_id = ic.client_id;
	s->offers_requested = false;

	vr.version_supported = 1;
	vr.connection_state = VMBUS_CONNECTION_OK;
	vr.msg_conn_id = want_conn;
	vr.supported_features = s->features;
	reply(s, &vr, vr_len, VMBUS_MSG_VERSION_RESPONSE);
	return 0;
}

static int on_request_offers(struct vmbus_server *s, const uint8_t *m, size_t len)
{
	struct vmbus_msg_empty done;

	(void)m;
	(void)len;
	if (s->offers_requested)
		return refuse(s, VMBUS_SERVER_REJECT_STATE, -EALREADY, "RequestOffers twice");
	s->offers_requested = true;
	for (uint32_t r = 1; r <= VMBUS_SERVER_MAX_CHANNELS; r++)
		if (s->ch[r] && !s->ch[r]->rescinded)
			queue_offer(s, s->ch[r]);
	memset(&done, 0, sizeof(done));
	reply(s, &done, sizeof(done), VMBUS_MSG_ALL_OFFERS_DELIVERED);
	return 0;
}

static int on_gpadl_header(struct vmbus_server *s, const uint8_t *m, size_t len)
{
	struct vmbus_msg_gpadl_header h;
	size_t chunk = len - sizeof(h);
	uint32_t status;
	int rc;

	memcpy(&h, m, sizeof(h));
	struct vmbus_channel *ch = offered_channel(s, h.child_relid);
	if (!ch || ch->rescinded) {
		status = VMBUS_STATUS_INVALID_PARAMETER;
		rc = refuse(s, VMBUS_SERVER_REJECT_RELID, -ENOENT, "GpadlHeader for relid %u",
			    h.child_relid);
	} else if (h.gpadl == 0) {
		status = VMBUS_STATUS_INVALID_PARAMETER;
		rc = refuse(s, VMBUS_SERVER_REJECT_GPADL, -EINVAL, "gpadl id 0");
	} else if (gpadl_find(s, h.gpadl)) {
		status = VMBUS_STATUS_OBJECT_NAME_COLLISION;
		rc = refuse(s, VMBUS_SERVER_REJECT_GPADL, -EEXIST, "gpadl %#x exists", h.gpadl);
	} else if (h.rangecount == 0 || h.range_buflen % 8u ||
		   (uint32_t)h.rangecount * RANGE_MIN_BYTES > h.range_buflen) {
		status = VMBUS_STATUS_INVALID_PARAMETER;
		rc = refuse(s, VMBUS_SERVER_REJECT_GPADL, -EINVAL, "gpadl %#x: %u ranges in %u B",
			    h.gpadl, h.rangecount, h.range_buflen);
	} else if (chunk == 0 || chunk % 8u || chunk > h.range_buflen) {
		status = VMBUS_STATUS_INVALID_PARAMETER;
		rc = refuse(s, VMBUS_SERVER_REJECT_LENGTH, -EMSGSIZE,
			    "gpadl %#x: %zu B of range data, range_buflen %u", h.gpadl, chunk,
			    h.range_buflen);
	} else if (s->gpadl_count >= VMBUS_SERVER_MAX_GPADLS ||
		   (chunk < h.range_buflen &&
		    s->pending_count >= VMBUS_SERVER_MAX_PENDING_GPADLS)) {
		status = VMBUS_STATUS_INSUFFICIENT_RESOURCES;
		rc = refuse(s, VMBUS_SERVER_REJECT_LIMIT, -ENOSPC, "gpadl %#x: too many GPADLs",
			    h.gpadl);
	} else {
		struct gpadl *g = calloc(1, sizeof(*g));
		uint8_t *raw = malloc(h.range_buflen);
		if (!g || !raw) {
			free(g);
			free(raw);
			status = VMBUS_STATUS_INSUFFICIENT_RESOURCES;
			rc = refuse(s, VMBUS_SERVER_REJECT_LIMIT, -ENOMEM, "gpadl %#x: no memory",
				    h.gpadl);
		} else {
			g->id = h.gpadl;
			g->relid = h.child_relid;
			g->range_count = h.rangecount;
			g->buf_len = h.range_buflen;
			g->raw = raw;
			memcpy(raw, m + sizeof(h), chunk);
			g->received = (uint32_t)chunk;
			s->gpadl[s->gpadl_count++] = g;
			s->pending_count++;
			return g->received == g->buf_len ? gpadl_finish(s, g) : 0;
		}
	}
	answer_created(s, h.child_relid, h.gpadl, status);
	return rc;
}

static int on_gpadl_body(struct vmbus_server *s, const uint8_t *m, size_t len)
{
	struct vmbus_msg_gpadl_body b;
	size_t chunk = len - sizeof(b);

	memcpy(&b, m, sizeof(b));
	struct gpadl *g = gpadl_find(s, b.gpadl);
	if (!g || g->complete)
		return refuse(s, VMBUS_SERVER_REJECT_GPADL, -ENOENT, "GpadlBody for gpadl %#x",
			      b.gpadl);
	if (chunk == 0 || chunk % 8u || chunk > (size_t)(g->buf_len - g->received)) {
		uint32_t relid = g->relid;
		answer_created(s, relid, b.gpadl, VMBUS_STATUS_INVALID_PARAMETER);
		gpadl_remove(s, g);
		return refuse(s, VMBUS_SERVER_REJECT_LENGTH, -EMSGSIZE,
			      "gpadl %#x: body of %zu B", b.gpadl, chunk);
	}
	memcpy(g->raw + g->received, m + sizeof(b), chunk);
	g->received += (uint32_t)chunk;
	return g->received == g->buf_len ? gpadl_finish(s, g) : 0;
}

static int on_gpadl_teardown(struct vmbus_server *s, const uint8_t *m, size_t len)
{
	struct vmbus_msg_gpadl_teardown t;

	(void)len;
	memcpy(&t, m, sizeof(t));
	struct gpadl *g = gpadl_find(s, t.gpadl);
	if (!g || g->relid != t.child_relid)
		return refuse(s, VMBUS_SERVER_REJECT_GPADL, -ENOENT,
			      "teardown of gpadl %#x relid %u", t.gpadl, t.child_relid);
	if (g->teardown_pending)
		return refuse(s, VMBUS_SERVER_REJECT_STATE, -EALREADY, "gpadl %#x torn down twice",
			      t.gpadl);
	if (g->in_use) {
		/* Still the ring of a channel: answered when the channel closes. */
		g->teardown_pending = true;
		s->stats.teardowns_deferred++;
		return 0;
	}
	answer_torndown(s, g->id);
	gpadl_remove(s, g);
	return 0;
}

static int on_open_channel(struct vmbus_server *s, const uint8_t *m, size_t len)
{
	struct vmbus_msg_open_channel o;
	struct vmbus_msg_open_result r;
	uint32_t status = VMBUS_STATUS_INVALID_PARAMETER;
	int rc;

	memset(&o, 0, sizeof(o));
	memcpy(&o, m, len < sizeof(o) ? len : sizeof(o));
	memset(&r, 0, sizeof(r));
	r.child_relid = o.child_relid;
	r.open_id = o.open_id;

	struct vmbus_channel *ch = offered_channel(s, o.child_relid);
	struct gpadl *g = gpadl_find(s, o.ring_gpadl);
	bool v6 = s->version >= VMBUS_VERSION_WIN10_V6_0 && len >= VMBUS_OPEN_CHANNEL_SIZE_V6;
	bool guest_signal = v6 && (s->features & VMBUS_FEATURE_GUEST_SPECIFIED_SIGNAL) &&
			    o.connection_id != 0;

	if (!ch || ch->rescinded) {
		rc = refuse(s, VMBUS_SERVER_REJECT_RELID, -ENOENT, "OpenChannel relid %u",
			    o.child_relid);
		goto answer;
	}
	if (ch->state != CH_CLOSED) {
		status = VMBUS_STATUS_INVALID_DEVICE_STATE;
		rc = refuse(s, VMBUS_SERVER_REJECT_CHANNEL_STATE, -EBUSY, "relid %u already open",
			    o.child_relid);
		goto answer;
	}
	if (!g || g->relid != o.child_relid || !g->complete || g->teardown_pending || g->in_use) {
		rc = refuse(s, VMBUS_SERVER_REJECT_GPADL, -ENOENT, "relid %u: ring gpadl %#x",
			    o.child_relid, o.ring_gpadl);
		goto answer;
	}
	for (uint32_t i = 0; i < g->range_count; i++) {
		if (g->ranges[i].byte_offset != 0 || g->ranges[i].byte_count % PAGE_SIZE) {
			rc = refuse(s, VMBUS_SERVER_REJECT_GPADL, -EINVAL,
				    "relid %u: ring gpadl %#x is not whole pages", o.child_relid,
				    o.ring_gpadl);
			goto answer;
		}
	}
	if (g->page_count < 2 * RING_HALF_MIN_PAGES ||
	    o.downstream_ring_page_offset < RING_HALF_MIN_PAGES ||
	    o.downstream_ring_page_offset > g->page_count - RING_HALF_MIN_PAGES) {
		rc = refuse(s, VMBUS_SERVER_REJECT_PARAM, -EINVAL,
			    "relid %u: downstream offset %u of %u pages", o.child_relid,
			    o.downstream_ring_page_offset, g->page_count);
		goto answer;
	}
	if (o.target_vp >= s->cfg.vp_count) {
		rc = refuse(s, VMBUS_SERVER_REJECT_PARAM, -EINVAL, "relid %u: target vp %u",
			    o.child_relid, o.target_vp);
		goto answer;
	}
	if (v6 && o.flags) {
		rc = refuse(s, VMBUS_SERVER_REJECT_PARAM, -EINVAL, "relid %u: open flags %#x",
			    o.child_relid, o.flags);
		goto answer;
	}
	if (guest_signal && (!conn_id_free(s, o.connection_id) ||
			     o.event_flag >= VMBUS_EVENT_FLAGS_PER_SINT)) {
		rc = refuse(s, VMBUS_SERVER_REJECT_PARAM, -EINVAL,
			    "relid %u: signal connection %#x flag %u", o.child_relid,
			    o.connection_id, o.event_flag);
		goto answer;
	}

	ch->state = CH_OPENING;
	ch->ring = g;
	g->in_use = true;
	ch->target_vp = o.target_vp;
	ch->event_flag = guest_signal ? o.event_flag : (uint16_t)ch->relid;
	ch->signal_conn_id = guest_signal ? o.connection_id : 0;
	ch->busy++;

	struct vmbus_channel_open_info info = {
		.relid = ch->relid,
		.open_id = o.open_id,
		.target_vp = o.target_vp,
		.ring_gpadl = g->id,
		.ring_pfns = g->pfns,
		.ring_page_count = g->page_count,
		.downstream_offset = o.downstream_ring_page_offset,
	};
	memcpy(info.user_data, o.user_data, sizeof(info.user_data));

	pthread_mutex_unlock(&s->lock);
	int dev = ch->ops->open(ch->ctx, ch, &info);
	pthread_mutex_lock(&s->lock);
	ch->busy--;
	if (dev == 0) {
		ch->state = CH_OPEN;
		status = VMBUS_STATUS_SUCCESS;
		rc = 0;
	} else {
		ch->state = CH_CLOSED;
		ring_release(s, ch);
		status = VMBUS_STATUS_UNSUCCESSFUL;
		rc = refuse(s, VMBUS_SERVER_REJECT_DEVICE, dev < 0 ? dev : -EIO,
			    "relid %u: device open failed (%d)", r.child_relid, dev);
	}
	pthread_cond_broadcast(&s->idle);
answer:
	r.status = status;
	reply(s, &r, sizeof(r), VMBUS_MSG_OPEN_CHANNEL_RESULT);
	return rc;
}

static int on_close_channel(struct vmbus_server *s, const uint8_t *m, size_t len)
{
	struct vmbus_msg_relid c;

	(void)len;
	memcpy(&c, m, sizeof(c));
	struct vmbus_channel *ch = offered_channel(s, c.child_relid);
	if (!ch)
		return refuse(s, VMBUS_SERVER_REJECT_RELID, -ENOENT, "CloseChannel relid %u",
			      c.child_relid);
	if (ch->state != CH_OPEN)
		return refuse(s, VMBUS_SERVER_REJECT_CHANNEL_STATE, -EINVAL,
			      "CloseChannel of relid %u that is not open", c.child_relid);
	close_channel(s, ch);
	return 0;
}

static int on_relid_released(struct vmbus_server *s, const uint8_t *m, size_t len)
{
	struct vmbus_msg_relid c;

	(void)len;
	memcpy(&c, m, sizeof(c));
	struct vmbus_channel *ch = offered_channel(s, c.child_relid);
	if (!ch)
		return refuse(s, VMBUS_SERVER_REJECT_RELID, -ENOENT, "RelIdReleased relid %u",
			      c.child_relid);
	if (!ch->rescinded)
		return refuse(s, VMBUS_SERVER_REJECT_CHANNEL_STATE, -EINVAL,
			      "RelIdReleased of live relid %u", c.child_relid);
	ch = wait_idle(s, c.child_relid);
	/* Another thread may have released it (or a new channel taken the relid) meanwhile. */
	if (!ch || !ch->known || !ch->rescinded)
		return refuse(s, VMBUS_SERVER_REJECT_RELID, -ENOENT, "RelIdReleased relid %u",
			      c.child_relid);
	if (ch->state == CH_OPEN)
		close_channel(s, ch);
	release_channel(s, ch);
	return 0;
}

static int on_modify_channel(struct vmbus_server *s, const uint8_t *m, size_t len)
{
	struct vmbus_msg_modify_channel mc;
	struct vmbus_msg_modify_channel_response r;
	int rc = 0;

	(void)len;
	memcpy(&mc, m, sizeof(mc));
	if (s->version < VMBUS_VERSION_WIN10_V4_1)
		return refuse(s, VMBUS_SERVER_REJECT_TYPE, -EOPNOTSUPP, "ModifyChannel below 4.1");
	struct vmbus_channel *ch = offered_channel(s, mc.child_relid);
	memset(&r, 0, sizeof(r));
	r.child_relid = mc.child_relid;
	r.status = (int32_t)VMBUS_STATUS_SUCCESS;
	if (!ch || ch->rescinded) {
		r.status = (int32_t)VMBUS_STATUS_INVALID_PARAMETER;
		rc = refuse(s, VMBUS_SERVER_REJECT_RELID, -ENOENT, "ModifyChannel relid %u",
			    mc.child_relid);
	} else if (ch->state != CH_OPEN) {
		r.status = (int32_t)VMBUS_STATUS_INVALID_DEVICE_STATE;
		rc = refuse(s, VMBUS_SERVER_REJECT_CHANNEL_STATE, -EINVAL,
			    "ModifyChannel of relid %u that is not open", mc.child_relid);
	} else if (mc.target_vp >= s->cfg.vp_count) {
		r.status = (int32_t)VMBUS_STATUS_INVALID_PARAMETER;
		rc = refuse(s, VMBUS_SERVER_REJECT_PARAM, -EINVAL, "ModifyChannel target vp %u",
			    mc.target_vp);
	} else {
		ch->target_vp = mc.target_vp;
	}
	if (s->version >= VMBUS_VERSION_WIN10_V5_3)
		reply(s, &r, sizeof(r), VMBUS_MSG_MODIFY_CHANNEL_RESPONSE);
	return rc;
}

static int on_unload(struct vmbus_server *s, const uint8_t *m, size_t len)
{
	struct vmbus_server_target old = s->target;
	struct vmbus_msg_empty resp;

	(void)m;
	(void)len;
	s->state = CONN_UNLOADING;
	s->offers_requested = false;
	/* Everything goes: deferred teardowns are not answered one by one. */
	for (uint32_t i = 0; i < s->gpadl_count; i++)
		s->gpadl[i]->teardown_pending = false;
	for (uint32_t r = 1; r <= VMBUS_SERVER_MAX_CHANNELS; r++) {
		struct vmbus_channel *ch = wait_idle(s, r);
		if (!ch)
			continue;
		if (ch->state == CH_OPEN)
			close_channel(s, ch);
		if (ch->known && ch->rescinded) {
			release_channel(s, ch);
			continue;
		}
		ch->known = false;
	}
	while (s->gpadl_count)
		gpadl_remove(s, s->gpadl[s->gpadl_count - 1]);

	s->state = CONN_DISCONNECTED;
	s->version = 0;
	s->msg_conn_id = 0;
	s->features = 0;
	memset(&s->target, 0, sizeof(s->target));
	s->monitor_page1 = s->monitor_page2 = s->interrupt_page = 0;
	s->has_client_id = false;
	memset(&s->client_id, 0, sizeof(s->client_id));

	memset(&resp, 0, sizeof(resp));
	queue_to(s, &old, &resp, sizeof(resp), VMBUS_MSG_UNLOAD_RESPONSE);
	return 0;
}

static int on_modify_connection(struct vmbus_server *s, const uint8_t *m, size_t len)
{
	struct vmbus_msg_modify_connection mc;
	struct vmbus_msg_modify_connection_response r;
	int rc = 0;

	(void)len;
	if (!(s->features & VMBUS_FEATURE_MODIFY_CONNECTION))
		return refuse(s, VMBUS_SERVER_REJECT_TYPE, -EOPNOTSUPP,
			      "ModifyConnection without the feature");
	memcpy(&mc, m, sizeof(mc));
	memset(&r, 0, sizeof(r));
	if (page_ok(s, mc.monitor_page_p2c) && page_ok(s, mc.monitor_page_c2p)) {
		s->monitor_page1 = mc.monitor_page_p2c;
		s->monitor_page2 = mc.monitor_page_c2p;
		r.connection_state = VMBUS_CONNECTION_OK;
	} else {
		r.connection_state = VMBUS_CONNECTION_FAILED_UNKNOWN;
		rc = refuse(s, VMBUS_SERVER_REJECT_PARAM, -EINVAL, "ModifyConnection pages");
	}
	reply(s, &r, VMBUS_MODIFY_CONNECTION_RESPONSE_SIZE, VMBUS_MSG_MODIFY_CONNECTION_RESPONSE);
	return rc;
}

static int on_tl_connect_request(struct vmbus_server *s, const uint8_t *m, size_t len)
{
	struct vmbus_msg_tl_connect_request q;
	struct vmbus_msg_tl_connect_result r;

	(void)len;
	if (s->version < VMBUS_VERSION_WIN10_V4_1)
		return refuse(s, VMBUS_SERVER_REJECT_TYPE, -EOPNOTSUPP,
			      "TlConnectRequest below 4.1");
	memset(&q, 0, sizeof(q));
	memcpy(&q, m, VMBUS_TL_CONNECT_REQUEST_SIZE_V1);
	memset(&r, 0, sizeof(r));
	r.endpoint_id = q.endpoint_id;
	r.service_id = q.service_id;
	r.status = (int32_t)VMBUS_STATUS_NOT_SUPPORTED;
	reply(s, &r, sizeof(r), VMBUS_MSG_TL_CONNECT_RESULT);
	return refuse(s, VMBUS_SERVER_REJECT_TYPE, -EOPNOTSUPP, "hvsock is not served");
}

struct msg_handler {
	uint16_t min_len;
	int (*fn)(struct vmbus_server *s, const uint8_t *m, size_t len);
};

/* Client-to-server messages after contact; a type without a handler is refused. */
static const struct msg_handler handlers[VMBUS_MSG_COUNT] = {
	[VMBUS_MSG_REQUEST_OFFERS] = { sizeof(struct vmbus_msg_empty), on_request_offers },
	[VMBUS_MSG_OPEN_CHANNEL] = { VMBUS_OPEN_CHANNEL_SIZE_V1, on_open_channel },
	[VMBUS_MSG_CLOSE_CHANNEL] = { sizeof(struct vmbus_msg_relid), on_close_channel },
	[VMBUS_MSG_GPADL_HEADER] = { sizeof(struct vmbus_msg_gpadl_header), on_gpadl_header },
	[VMBUS_MSG_GPADL_BODY] = { sizeof(struct vmbus_msg_gpadl_body), on_gpadl_body },
	[VMBUS_MSG_GPADL_TEARDOWN] = { sizeof(struct vmbus_msg_gpadl_teardown), on_gpadl_teardown },
	[VMBUS_MSG_RELID_RELEASED] = { sizeof(struct vmbus_msg_relid), on_relid_released },
	[VMBUS_MSG_UNLOAD] = { sizeof(struct vmbus_msg_empty), on_unload },
	[VMBUS_MSG_MODIFY_CHANNEL] = { sizeof(struct vmbus_msg_modify_channel), on_modify_channel },
	[VMBUS_MSG_MODIFY_CONNECTION] = { sizeof(struct vmbus_msg_modify_connection),
					  on_modify_connection },
	[VMBUS_MSG_TL_CONNECT_REQUEST] = { VMBUS_TL_CONNECT_REQUEST_SIZE_V1,
					   on_tl_connect_request },
};

static int dispatch(struct vmbus_server *s, uint32_t conn_id, const uint8_t *m, size_t len)
{
	struct vmbus_msg_header h;

	memcpy(&h, m, sizeof(h));
	if (h.msgtype == VMBUS_MSG_INITIATE_CONTACT)
		return on_initiate_contact(s, conn_id, m, len);
	if (s->state != CONN_CONNECTED)
		return refuse(s, VMBUS_SERVER_REJECT_STATE, -ENOTCONN, "message %u while %s",
			      h.msgtype, s->state == CONN_UNLOADING ? "unloading" : "disconnected");
	if (conn_id != s->msg_conn_id)
		return refuse(s, VMBUS_SERVER_REJECT_CONN_ID, -EINVAL,
			      "message %u on connection %u", h.msgtype, conn_id);
	if (h.msgtype >= VMBUS_MSG_COUNT || !handlers[h.msgtype].fn)
		return refuse(s, VMBUS_SERVER_REJECT_TYPE, -EOPNOTSUPP, "message type %u",
			      h.msgtype);
	if (len < handlers[h.msgtype].min_len)
		return refuse(s, VMBUS_SERVER_REJECT_LENGTH, -EMSGSIZE, "message %u of %zu B",
			      h.msgtype, len);
	return handlers[h.msgtype].fn(s, m, len);
}

/* ------------------------------------------------------------------------------------------ */
/* API                                                                                        */
/* ------------------------------------------------------------------------------------------ */

int vmbus_server_create(const struct vmbus_server_ops *ops, void *ctx,
			const struct vmbus_server_config *cfg, struct vmbus_server **out)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!ops || !ops->post_message || !ops->signal_event || !cfg || cfg->vp_count == 0 ||
	    cfg->client_vtl >= 16)
		return -EINVAL;
	struct vmbus_server_config c = *cfg;
	if (c.conn_id_base == 0)
		c.conn_id_base = VMBUS_SERVER_CONN_ID_BASE;
	/* Channel ids must not reach the message connections or wrap. */
	if (c.conn_id_base < VMBUS_CONN_ID_MESSAGE_4 ||
	    c.conn_id_base > UINT32_MAX - VMBUS_SERVER_MAX_CHANNELS)
		return -EINVAL;
	if (c.max_version == 0)
		c.max_version = VMBUS_VERSION_WIN10_V6_0;
	bool known = false;
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++)
		known |= versions[i] == c.max_version;
	if (!known || c.client_sint >= SINT_COUNT)
		return -EINVAL;
	/* A redirected message connection: not the event/monitor ids, not a channel's signal id,
	 * and some version that names the SINT must be allowed. */
	if (c.msg_conn_id &&
	    (c.msg_conn_id == VMBUS_CONN_ID_EVENT || c.msg_conn_id == VMBUS_CONN_ID_MONITOR ||
	     (c.msg_conn_id > c.conn_id_base &&
	      c.msg_conn_id <= c.conn_id_base + VMBUS_SERVER_MAX_CHANNELS) ||
	     c.max_version < VMBUS_VERSION_WIN10_V5))
		return -EINVAL;

	struct vmbus_server *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (vmbus_outbox_init_owner(&s->ob, VMBUS_SERVER_OUTBOX, &s->lock, &s->idle)) {
		free(s);
		return -ENOMEM;
	}
	s->ops = ops;
	s->ctx = ctx;
	s->cfg = c;
	s->state = CONN_DISCONNECTED;
	*out = s;
	return 0;
}

void vmbus_server_destroy(struct vmbus_server *srv)
{
	if (!srv)
		return;
	while (srv->gpadl_count)
		gpadl_remove(srv, srv->gpadl[srv->gpadl_count - 1]);
	for (uint32_t r = 1; r <= VMBUS_SERVER_MAX_CHANNELS; r++)
		free(srv->ch[r]);
	vmbus_outbox_fini_owner(&srv->ob, &srv->lock, &srv->idle);
	free(srv);
}

int vmbus_server_handle_message(struct vmbus_server *srv, uint32_t conn_id, const void *msg,
				size_t len)
{
	uint8_t m[VMBUS_MSG_MAX_SIZE];
	int rc;

	if (!srv)
		return -EINVAL;
	pthread_mutex_lock(&srv->lock);
	srv->stats.messages++;
	if (!is_msg_conn_id(srv, conn_id)) {
		rc = refuse(srv, VMBUS_SERVER_REJECT_CONN_ID, -ENOENT, "post to connection %#x",
			    conn_id);
	} else if (!msg || len < sizeof(struct vmbus_msg_header) || len > sizeof(m)) {
		rc = refuse(srv, VMBUS_SERVER_REJECT_LENGTH, -EMSGSIZE, "message of %zu B", len);
	} else {
		/* Parse our own copy: nothing below reads the caller's buffer twice. */
		memcpy(m, msg, len);
		rc = dispatch(srv, conn_id, m, len);
	}
	pthread_mutex_unlock(&srv->lock);
	drain(srv);
	return rc;
}

int vmbus_server_signal(struct vmbus_server *srv, uint32_t conn_id)
{
	if (!srv)
		return -EINVAL;
	pthread_mutex_lock(&srv->lock);
	struct vmbus_channel *ch = channel_by_conn_id(srv, conn_id);
	if (!ch || ch->state != CH_OPEN) {
		srv->stats.signals_dropped++;
		pthread_mutex_unlock(&srv->lock);
		return -ENOENT;
	}
	srv->stats.signals_in++;
	if (!ch->ops->signal) {
		pthread_mutex_unlock(&srv->lock);
		return 0;
	}
	ch->busy++;
	pthread_mutex_unlock(&srv->lock);
	ch->ops->signal(ch->ctx, ch);
	pthread_mutex_lock(&srv->lock);
	ch->busy--;
	pthread_cond_broadcast(&srv->idle);
	pthread_mutex_unlock(&srv->lock);
	return 0;
}

void vmbus_server_flush(struct vmbus_server *srv)
{
	if (srv)
		drain(srv);
}

unsigned vmbus_server_pending(struct vmbus_server *srv)
{
	if (!srv)
		return 0;
	pthread_mutex_lock(&srv->lock);
	unsigned n = srv->ob.count;
	pthread_mutex_unlock(&srv->lock);
	return n;
}

int vmbus_server_offer(struct vmbus_server *srv, const struct vmbus_offer_params *p,
		       const struct vmbus_channel_ops *ops, void *ctx, struct vmbus_channel **out)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!srv || !p || !ops || !ops->open || !ops->close || !ops->released ||
	    (p->flags & ~VMBUS_OFFER_FLAGS_KNOWN))
		return -EINVAL;
	struct vmbus_channel *ch = calloc(1, sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	ch->srv = srv;
	ch->offer = *p;
	ch->ops = ops;
	ch->ctx = ctx;
	ch->state = CH_CLOSED;

	pthread_mutex_lock(&srv->lock);
	uint32_t relid = 0;
	for (uint32_t r = 1; r <= VMBUS_SERVER_MAX_CHANNELS && !relid; r++)
		if (!srv->ch[r])
			relid = r;
	if (!relid) {
		pthread_mutex_unlock(&srv->lock);
		free(ch);
		return -ENOSPC;
	}
	ch->relid = relid;
	srv->ch[relid] = ch;
	if (srv->state == CONN_CONNECTED && srv->offers_requested)
		queue_offer(srv, ch);
	pthread_mutex_unlock(&srv->lock);
	drain(srv);
	*out = ch;
	return 0;
}

int vmbus_server_rescind(struct vmbus_channel *ch)
{
	if (!ch)
		return -EINVAL;
	struct vmbus_server *s = ch->srv;
	bool release_now = false;

	pthread_mutex_lock(&s->lock);
	if (ch->rescinded) {
		pthread_mutex_unlock(&s->lock);
		return -EALREADY;
	}
	ch->rescinded = true;
	if (ch->known && s->state == CONN_CONNECTED) {
		struct vmbus_msg_relid r = { .child_relid = ch->relid };
		reply(s, &r, sizeof(r), VMBUS_MSG_RESCIND_CHANNEL_OFFER);
	} else if (!ch->known) {
		/* The client never saw it: it cannot be open or hold GPADLs. */
		s->ch[ch->relid] = NULL;
		release_now = true;
	}
	/* else: an Unload in progress releases it. */
	pthread_mutex_unlock(&s->lock);
	drain(s);
	if (release_now) {
		ch->ops->released(ch->ctx, ch);
		free(ch);
	}
	return 0;
}

int vmbus_server_channel_signal(struct vmbus_channel *ch)
{
	if (!ch)
		return -EINVAL;
	struct vmbus_server *s = ch->srv;

	pthread_mutex_lock(&s->lock);
	if (ch->state != CH_OPEN && ch->state != CH_OPENING) {
		pthread_mutex_unlock(&s->lock);
		return -ENOTCONN;
	}
	struct vmbus_server_target t = {
		.vp = ch->target_vp, .sint = s->target.sint, .vtl = s->target.vtl,
	};
	uint16_t flag = ch->event_flag;
	pthread_mutex_unlock(&s->lock);

	int rc = s->ops->signal_event(s->ctx, &t, flag);
	if (rc == 0) {
		pthread_mutex_lock(&s->lock);
		s->stats.signals_out++;
		pthread_mutex_unlock(&s->lock);
	}
	return rc;
}

uint32_t vmbus_server_channel_relid(const struct vmbus_channel *ch)
{
	return ch ? ch->relid : 0;
}

uint32_t vmbus_server_channel_conn_id(struct vmbus_channel *ch)
{
	if (!ch)
		return 0;
	pthread_mutex_lock(&ch->srv->lock);
	uint32_t id = channel_conn_id(ch);
	pthread_mutex_unlock(&ch->srv->lock);
	return id;
}

uint32_t vmbus_server_channel_target_vp(struct vmbus_channel *ch)
{
	if (!ch)
		return 0;
	pthread_mutex_lock(&ch->srv->lock);
	uint32_t vp = ch->target_vp;
	pthread_mutex_unlock(&ch->srv->lock);
	return vp;
}

int vmbus_server_gpadl(struct vmbus_server *srv, uint32_t relid, uint32_t gpadl_id,
		       struct vmbus_server_gpadl_desc **out)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!srv)
		return -EINVAL;
	pthread_mutex_lock(&srv->lock);
	struct gpadl *g = gpadl_find(srv, gpadl_id);
	if (!g || g->relid != relid || !g->complete || g->teardown_pending) {
		pthread_mutex_unlock(&srv->lock);
		return -ENOENT;
	}
	/* One block: the descriptor, the PFNs (8-aligned after it), the ranges. */
	size_t pfn_bytes = (size_t)g->page_count * sizeof(uint64_t);
	size_t range_bytes = (size_t)g->range_count * sizeof(struct vmbus_server_gpadl_range);
	struct vmbus_server_gpadl_desc *d = malloc(sizeof(*d) + pfn_bytes + range_bytes);
	if (!d) {
		pthread_mutex_unlock(&srv->lock);
		return -ENOMEM;
	}
	uint64_t *pfns = (uint64_t *)(d + 1);
	struct vmbus_server_gpadl_range *ranges = (void *)((uint8_t *)pfns + pfn_bytes);
	memcpy(pfns, g->pfns, pfn_bytes);
	memcpy(ranges, g->ranges, range_bytes);
	d->gpadl_id = g->id;
	d->relid = g->relid;
	d->range_count = g->range_count;
	d->page_count = g->page_count;
	d->pfns = pfns;
	d->ranges = ranges;
	pthread_mutex_unlock(&srv->lock);
	*out = d;
	return 0;
}
_Static_assert(sizeof(struct vmbus_server_gpadl_desc) % sizeof(uint64_t) == 0,
	       "the PFNs follow the descriptor 8-aligned");

void vmbus_server_gpadl_free(struct vmbus_server_gpadl_desc *d)
{
	free(d);
}

void vmbus_server_get_stats(struct vmbus_server *srv, struct vmbus_server_stats *st)
{
	pthread_mutex_lock(&srv->lock);
	*st = srv->stats;
	st->posted = srv->ob.posted;
	st->post_retries = srv->ob.retries;
	st->post_errors = srv->ob.errors;
	pthread_mutex_unlock(&srv->lock);
}

void vmbus_server_get_connection(struct vmbus_server *srv, struct vmbus_server_connection *c)
{
	pthread_mutex_lock(&srv->lock);
	memset(c, 0, sizeof(*c));
	c->connected = srv->state == CONN_CONNECTED;
	c->version = srv->version;
	c->msg_conn_id = srv->msg_conn_id;
	c->features = srv->features;
	c->target = srv->target;
	c->monitor_page1 = srv->monitor_page1;
	c->monitor_page2 = srv->monitor_page2;
	c->interrupt_page = srv->interrupt_page;
	c->has_client_id = srv->has_client_id;
	c->client_id = srv->client_id;
	c->offers_requested = srv->offers_requested;
	c->gpadl_count = srv->gpadl_count;
	c->gpadl_pages = srv->gpadl_pages;
	pthread_mutex_unlock(&srv->lock);
}

/* ------------------------------------------------------------------------------------------ */
/* Consistency check                                                                          */
/* ------------------------------------------------------------------------------------------ */

static int check_gpadl(struct vmbus_server *s, const struct gpadl *g, char *why, size_t n)
{
	if (g->id == 0)
		return errbuf_set(why, n, -EPROTO, "gpadl id 0 stored");
	if (g->relid == 0 || g->relid > VMBUS_SERVER_MAX_CHANNELS || !s->ch[g->relid])
		return errbuf_set(why, n, -EPROTO, "gpadl %#x of missing relid %u", g->id, g->relid);
	if (!s->ch[g->relid]->known)
		return errbuf_set(why, n, -EPROTO, "gpadl %#x of relid %u the client does not know", g->id,
			      g->relid);
	if (!g->complete) {
		if (!g->raw || g->received >= g->buf_len || g->received % 8u || g->in_use ||
		    g->teardown_pending || g->pfns)
			return errbuf_set(why, n, -EPROTO, "pending gpadl %#x inconsistent", g->id);
		return 0;
	}
	if (g->raw || !g->pfns || !g->ranges || g->page_count == 0 ||
	    g->page_count > VMBUS_SERVER_MAX_GPADL_PAGES || g->range_count == 0)
		return errbuf_set(why, n, -EPROTO, "gpadl %#x storage", g->id);
	uint32_t next = 0;
	for (uint32_t i = 0; i < g->range_count; i++) {
		const struct vmbus_server_gpadl_range *r = &g->ranges[i];
		struct vmbus_gpa_range w = { r->byte_count, r->byte_offset };
		if (r->first_page != next || r->byte_count == 0 || r->byte_offset >= PAGE_SIZE ||
		    range_pages(&w) != r->page_count)
			return errbuf_set(why, n, -EPROTO, "gpadl %#x range %u", g->id, i);
		next += r->page_count;
	}
	if (next != g->page_count)
		return errbuf_set(why, n, -EPROTO, "gpadl %#x pages %u != ranges %u", g->id, g->page_count,
			      next);
	for (uint32_t i = 0; i < g->page_count; i++)
		if (g->pfns[i] >= PFN_LIMIT)
			return errbuf_set(why, n, -EPROTO, "gpadl %#x pfn %#llx", g->id,
				      (unsigned long long)g->pfns[i]);
	bool user = false;
	const struct vmbus_channel *c = s->ch[g->relid];
	if (c->state != CH_CLOSED && c->ring == g)
		user = true;
	if (user != g->in_use)
		return errbuf_set(why, n, -EPROTO, "gpadl %#x in_use %d but ring of an open channel: %d", g->id,
			      g->in_use, user);
	if (g->teardown_pending && !g->in_use)
		return errbuf_set(why, n, -EPROTO, "gpadl %#x teardown pending but free", g->id);
	return 0;
}

int vmbus_server_check(struct vmbus_server *srv, char *why, size_t why_len)
{
	struct vmbus_server *s = srv;
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	uint32_t pending = 0;
	uint64_t pages = 0;
	if (s->gpadl_count > VMBUS_SERVER_MAX_GPADLS) {
		rc = errbuf_set(why, why_len, -EPROTO, "gpadl_count %u", s->gpadl_count);
		goto out;
	}
	for (uint32_t i = 0; i < s->gpadl_count && !rc; i++) {
		const struct gpadl *g = s->gpadl[i];
		if (!g) {
			rc = errbuf_set(why, why_len, -EPROTO, "gpadl slot %u empty", i);
			break;
		}
		for (uint32_t j = 0; j < i; j++)
			if (s->gpadl[j]->id == g->id)
				rc = errbuf_set(why, why_len, -EPROTO, "gpadl id %#x twice", g->id);
		if (!rc)
			rc = check_gpadl(s, g, why, why_len);
		if (g->complete)
			pages += g->page_count;
		else
			pending++;
	}
	if (rc)
		goto out;
	for (uint32_t i = s->gpadl_count; i < VMBUS_SERVER_MAX_GPADLS; i++)
		if (s->gpadl[i]) {
			rc = errbuf_set(why, why_len, -EPROTO, "gpadl slot %u past the count is used", i);
			goto out;
		}
	if (pending != s->pending_count || pages != s->gpadl_pages ||
	    pending > VMBUS_SERVER_MAX_PENDING_GPADLS || pages > VMBUS_SERVER_MAX_TOTAL_PAGES) {
		rc = errbuf_set(why, why_len, -EPROTO, "gpadl totals: pending %u/%u pages %llu/%llu", pending,
			    s->pending_count, (unsigned long long)pages,
			    (unsigned long long)s->gpadl_pages);
		goto out;
	}
	for (uint32_t r = 1; r <= VMBUS_SERVER_MAX_CHANNELS; r++) {
		const struct vmbus_channel *c = s->ch[r];
		if (!c)
			continue;
		if (c->relid != r || c->srv != s || c->busy) {
			rc = errbuf_set(why, why_len, -EPROTO, "channel %u: relid %u busy %u", r, c->relid,
				    c->busy);
			goto out;
		}
		if (c->state != CH_CLOSED && c->state != CH_OPEN) {
			rc = errbuf_set(why, why_len, -EPROTO, "channel %u in transition while idle", r);
			goto out;
		}
		if (c->state == CH_OPEN) {
			const struct gpadl *g = c->ring;
			if (!g || gpadl_find(s, g->id) != g || !g->complete || g->relid != r ||
			    !g->in_use || g->page_count < 2 * RING_HALF_MIN_PAGES) {
				rc = errbuf_set(why, why_len, -EPROTO, "open channel %u without its ring", r);
				goto out;
			}
			if (!c->known || c->target_vp >= s->cfg.vp_count ||
			    c->event_flag >= VMBUS_EVENT_FLAGS_PER_SINT) {
				rc = errbuf_set(why, why_len, -EPROTO, "open channel %u state", r);
				goto out;
			}
			if (c->signal_conn_id) {
				for (uint32_t q = 1; q <= VMBUS_SERVER_MAX_CHANNELS; q++) {
					const struct vmbus_channel *o = s->ch[q];
					if (q != r && o && o->state != CH_CLOSED &&
					    channel_conn_id(o) == c->signal_conn_id) {
						rc = errbuf_set(why, why_len, -EPROTO, "signal id %#x shared",
							    c->signal_conn_id);
						goto out;
					}
				}
			}
		} else if (c->ring || c->signal_conn_id) {
			rc = errbuf_set(why, why_len, -EPROTO, "closed channel %u keeps open state", r);
			goto out;
		}
		if (c->known && s->state == CONN_DISCONNECTED) {
			rc = errbuf_set(why, why_len, -EPROTO, "channel %u known while disconnected", r);
			goto out;
		}
	}
	if (s->state == CONN_DISCONNECTED && (s->gpadl_count || s->offers_requested)) {
		rc = errbuf_set(why, why_len, -EPROTO, "disconnected with %u gpadls", s->gpadl_count);
		goto out;
	}
	if (s->state == CONN_UNLOADING) {
		rc = errbuf_set(why, why_len, -EPROTO, "unloading while idle");
		goto out;
	}
	if (s->ob.count > VMBUS_SERVER_OUTBOX || s->ob.draining) {
		rc = errbuf_set(why, why_len, -EPROTO, "outbox %u draining %d", s->ob.count, s->ob.draining);
		goto out;
	}
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}
