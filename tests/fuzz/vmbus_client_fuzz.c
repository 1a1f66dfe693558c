/*
 * vmbus_client fuzz target: the input is a program of host messages and user requests against
 * one client whose transport records what it posts. The first byte picks the configuration
 * (VTL0 or VTL2, version window, client id); then each step is one opcode byte and its
 * arguments (see the OP_* list). Structured host opcodes build mostly-valid answers to what the
 * client asked last (its InitiateContact, GpadlHeader, OpenChannel, ...) with fields and
 * lengths bent by the input, so the fuzzer reaches every state; OP_RAW sends raw bytes.
 *
 * Checked after every step (abort() on failure):
 * - vmbus_client_check(): the client's own invariants; none of its own messages lost;
 * - a shadow model fed only by the callbacks and the API's return values: every callback is
 *   one the client may make now (connected only while contacting, offers of fresh relids,
 *   rescinded for a live offer, gpadl_created / torndown / opened / event only for what the
 *   user asked and is still pending or open, unloaded only after unload), and the client's
 *   counts and state equal the model's;
 * - every posted message: a client-to-server type of the right size for its type, on the
 *   right connection id, naming only relids the host offered and GPADL ids the client made,
 *   PFNs inside the physical address space, GPADL headers and bodies that add up.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/vmbus/vmbus_client.h"
#include "hvcall/vmbus_abi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RELID     VMBUS_CLIENT_MAX_RELID
#define HISTORY       64u               /* GPADL ids remembered for the host's answers */

enum {
	/* the host */
	OP_RAW, OP_VERSION, OP_OFFER, OP_ALL_OFFERS, OP_RESCIND, OP_OPEN_RESULT, OP_CREATED,
	OP_TORNDOWN, OP_UNLOAD_RESPONSE, OP_EVENT,
	/* the user */
	OP_CONNECT, OP_UNLOAD, OP_GPADL, OP_TEARDOWN, OP_OPEN, OP_CLOSE, OP_RELEASE, OP_SIGNAL,
	/* the transport */
	OP_SLOT, OP_POST_FAIL,
	/* the host again: many distinct offers at once (the offer limit) */
	OP_FLOOD,
	OP_COUNT
};

struct cursor {
	const uint8_t *p;
	size_t n;
};

static uint8_t u8(struct cursor *c)
{
	if (!c->n)
		return 0;
	c->n--;
	return *c->p++;
}

static uint32_t u32(struct cursor *c)
{
	uint32_t v = u8(c);
	v |= (uint32_t)u8(c) << 8;
	v |= (uint32_t)u8(c) << 16;
	return v | (uint32_t)u8(c) << 24;
}

enum sh_chan { SH_NONE, SH_CLOSED, SH_OPENING, SH_OPEN };
enum sh_gpadl { SG_NONE, SG_CREATING, SG_CREATED, SG_TEARING };

struct sh_gp {
	uint32_t id;
	uint32_t relid;
	uint32_t pages;
	enum sh_gpadl state;
};

struct world {
	struct vmbus_client *cl;
	struct vmbus_client_config cfg;

	/* transport */
	bool slot_full;
	bool post_fail;
	uint32_t last_contact_version;
	bool contact_answerable;            /* nothing queued: the last contact is the one asked */
	uint32_t last_open_relid, last_open_id;
	uint32_t last_header_relid, last_header_id;
	uint32_t max_id;                    /* newest GPADL id made (returned or posted) */
	uint32_t last_teardown_id;
	uint32_t gpadl_left;                /* PFNs still due in bodies of the last header */
	uint32_t body_gpadl;

	/* the model */
	enum vmbus_client_state state;
	bool offers_done;
	uint8_t chan[MAX_RELID + 1];        /* enum sh_chan */
	bool rescinded[MAX_RELID + 1];
	bool ever_offered[MAX_RELID + 1];
	uint32_t ring[MAX_RELID + 1];       /* ring GPADL of an opening/open channel */
	uint32_t open_id[MAX_RELID + 1];    /* of the last OpenChannel posted */
	uint32_t live[VMBUS_CLIENT_MAX_CHANNELS];   /* live relids, for the input to pick */
	uint32_t nlive;
	struct sh_gp gp[VMBUS_CLIENT_MAX_GPADLS];
	uint32_t ngp;
	uint32_t history[HISTORY];
	uint32_t nhistory;
	uint64_t pfns[VMBUS_CLIENT_MAX_GPADL_PAGES + 1];
};

static void die(const char *why)
{
	fprintf(stderr, "vmbus_client_fuzz: %s\n", why);
	abort();
}

/* ------------------------------------------------------------------------------------------ */
/* The model                                                                                  */
/* ------------------------------------------------------------------------------------------ */

static struct sh_gp *sh_gpadl(struct world *w, uint32_t id)
{
	for (uint32_t i = 0; i < w->ngp; i++)
		if (w->gp[i].id == id)
			return &w->gp[i];
	return NULL;
}

static void sh_gpadl_drop(struct world *w, struct sh_gp *g)
{
	*g = w->gp[--w->ngp];
}

static void sh_live_drop(struct world *w, uint32_t relid)
{
	for (uint32_t i = 0; i < w->nlive; i++)
		if (w->live[i] == relid) {
			w->live[i] = w->live[--w->nlive];
			return;
		}
	die("model: live relid missing");
}

static void sh_release(struct world *w, uint32_t relid)
{
	for (uint32_t i = 0; i < w->ngp;) {
		if (w->gp[i].relid == relid)
			sh_gpadl_drop(w, &w->gp[i]);
		else
			i++;
	}
	w->chan[relid] = SH_NONE;
	w->rescinded[relid] = false;
	sh_live_drop(w, relid);
}

static void sh_forget_all(struct world *w)
{
	while (w->nlive)
		sh_release(w, w->live[0]);
	w->ngp = 0;
	w->offers_done = false;
	w->state = VMBUS_CLIENT_DISCONNECTED;
}

static void remember(struct world *w, uint32_t id)
{
	w->history[w->nhistory++ % HISTORY] = id;
}

/* ------------------------------------------------------------------------------------------ */
/* Callbacks                                                                                  */
/* ------------------------------------------------------------------------------------------ */

static void cb_connected(void *ctx, int err, uint32_t version)
{
	struct world *w = ctx;
	if (w->state != VMBUS_CLIENT_CONTACTING)
		die("connected while not contacting");
	if (err == 0) {
		if (w->contact_answerable && version != w->last_contact_version)
			die("connected at a version not asked last");
		w->state = VMBUS_CLIENT_CONNECTED;
		w->offers_done = false;
	} else {
		if (err != -EPROTONOSUPPORT && err != -ECONNREFUSED && err != -EPROTO)
			die("connect error");
		w->state = VMBUS_CLIENT_DISCONNECTED;
	}
}

static void cb_offer(void *ctx, const struct vmbus_client_offer *o)
{
	struct world *w = ctx;
	if (w->state != VMBUS_CLIENT_CONNECTED)
		die("offer while not connected");
	if (o->relid == 0 || o->relid > MAX_RELID || w->chan[o->relid] != SH_NONE)
		die("offer of a bad or held relid");
	if (w->nlive >= VMBUS_CLIENT_MAX_CHANNELS)
		die("more offers than the limit");
	if (!o->connection_id || (o->monitor_allocated && o->monitor_id >= 128))
		die("offer fields");
	for (uint32_t i = 0; i < w->nlive; i++) {
		struct vmbus_client_offer p;
		if (vmbus_client_get_offer(w->cl, w->live[i], &p) != 0)
			die("live offer not found");
		if (!w->rescinded[p.relid] &&
		    !memcmp(&p.interface_type, &o->interface_type, sizeof(p.interface_type)) &&
		    !memcmp(&p.instance, &o->instance, sizeof(p.instance)) &&
		    p.subchannel_index == o->subchannel_index)
			die("same device offered twice");
	}
	w->chan[o->relid] = SH_CLOSED;
	w->ever_offered[o->relid] = true;
	w->live[w->nlive++] = o->relid;
}

static void cb_offers_done(void *ctx)
{
	struct world *w = ctx;
	if (w->state != VMBUS_CLIENT_CONNECTED || w->offers_done)
		die("AllOffersDelivered reported twice or while not connected");
	w->offers_done = true;
}

static void cb_rescinded(void *ctx, uint32_t relid, void *chan_ctx)
{
	struct world *w = ctx;
	if (relid == 0 || relid > MAX_RELID || w->chan[relid] == SH_NONE || w->rescinded[relid])
		die("rescind of no live offer");
	bool open = w->chan[relid] == SH_OPENING || w->chan[relid] == SH_OPEN;
	if (chan_ctx != (open ? (void *)&w->chan[relid] : NULL))
		die("rescind chan_ctx");
	w->rescinded[relid] = true;
}

static void cb_created(void *ctx, uint32_t relid, uint32_t id, int err, uint32_t status)
{
	struct world *w = ctx;
	struct sh_gp *g = sh_gpadl(w, id);
	if (!g || g->state != SG_CREATING || g->relid != relid)
		die("gpadl_created for no GPADL being created");
	if ((err == 0) != (status == 0) || (err && err != -ECONNREFUSED))
		die("gpadl_created err/status");
	if (err)
		sh_gpadl_drop(w, g);
	else
		g->state = SG_CREATED;
}

static void cb_torndown(void *ctx, uint32_t relid, uint32_t id)
{
	struct world *w = ctx;
	struct sh_gp *g = sh_gpadl(w, id);
	if (!g || g->state != SG_TEARING || g->relid != relid)
		die("gpadl_torndown for no GPADL being torn down");
	sh_gpadl_drop(w, g);
}

static void cb_opened(void *ctx, uint32_t relid, void *chan_ctx, int err, uint32_t status)
{
	struct world *w = ctx;
	if (relid == 0 || relid > MAX_RELID || w->chan[relid] != SH_OPENING)
		die("opened for no channel being opened");
	if (chan_ctx != &w->chan[relid])
		die("opened chan_ctx");
	if ((err == 0) != (status == 0) || (err && err != -ECONNREFUSED))
		die("opened err/status");
	w->chan[relid] = err ? SH_CLOSED : SH_OPEN;
}

static void cb_event(void *ctx, uint32_t relid, void *chan_ctx)
{
	struct world *w = ctx;
	if (relid == 0 || relid > MAX_RELID ||
	    (w->chan[relid] != SH_OPENING && w->chan[relid] != SH_OPEN))
		die("event for a channel that is not open");
	if (chan_ctx != &w->chan[relid])
		die("event chan_ctx");
}

static void cb_unloaded(void *ctx)
{
	struct world *w = ctx;
	if (w->state != VMBUS_CLIENT_UNLOADING)
		die("unloaded without unload");
	sh_forget_all(w);
}

static void cb_log(void *ctx, const char *line)
{
	(void)ctx;
	if (!strstr(line, "vmbus client: refused"))
		die("log line");
}

/* ------------------------------------------------------------------------------------------ */
/* Transport: every posted message is checked                                                 */
/* ------------------------------------------------------------------------------------------ */

static bool known_version(uint32_t v)
{
	static const uint32_t vs[] = {
		VMBUS_VERSION_WIN8, VMBUS_VERSION_WIN8_1, VMBUS_VERSION_WIN10,
		VMBUS_VERSION_WIN10_V4_1, VMBUS_VERSION_WIN10_V5, VMBUS_VERSION_WIN10_V5_1,
		VMBUS_VERSION_WIN10_V5_2, VMBUS_VERSION_WIN10_V5_3, VMBUS_VERSION_WIN10_V6_0,
	};
	for (size_t i = 0; i < sizeof(vs) / sizeof(vs[0]); i++)
		if (vs[i] == v)
			return true;
	return false;
}

static void check_relid(struct world *w, uint32_t relid)
{
	if (relid == 0 || relid > MAX_RELID || !w->ever_offered[relid])
		die("posted a relid the host never offered");
}

static void check_gpadl_id(struct world *w, uint32_t id)
{
	if (id < VMBUS_CLIENT_GPADL_ID_FIRST || id > w->max_id)
		die("posted a GPADL id the client never made");
}

static void check_pfns(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t pfn;
		memcpy(&pfn, p + i * 8, 8);
		if (pfn >= (1ull << 40))
			die("posted a PFN beyond 52 bits");
	}
}

static int f_post(void *ctx, uint32_t conn, const void *msg, size_t len)
{
	struct world *w = ctx;
	const uint8_t *m = msg;
	struct vmbus_msg_header h;

	if (len < sizeof(h) || len > VMBUS_MSG_MAX_SIZE)
		die("posted length");
	if (w->slot_full)
		return -EAGAIN;
	memcpy(&h, m, sizeof(h));
	if (h.padding)
		die("posted header padding");
	if (h.msgtype != VMBUS_MSG_INITIATE_CONTACT && conn == 0)
		die("posted on connection 0");
	if (h.msgtype != VMBUS_MSG_GPADL_BODY && w->gpadl_left)
		die("GPADL bodies interrupted");
	switch (h.msgtype) {
	case VMBUS_MSG_INITIATE_CONTACT: {
		struct vmbus_msg_initiate_contact ic;
		memset(&ic, 0, sizeof(ic));
		if (len != VMBUS_INITIATE_CONTACT_SIZE_V1 && len != VMBUS_INITIATE_CONTACT_SIZE_V6)
			die("InitiateContact size");
		memcpy(&ic, m, len);
		uint32_t v = ic.version_requested;
		bool v5 = v >= VMBUS_VERSION_WIN10_V5;
		if (!known_version(v) || (len == VMBUS_INITIATE_CONTACT_SIZE_V6) !=
					 (v >= VMBUS_VERSION_WIN10_V6_0))
			die("InitiateContact version/size");
		if (v > (w->cfg.max_version ? w->cfg.max_version : VMBUS_VERSION_WIN10_V6_0) ||
		    v < (w->cfg.min_version ? w->cfg.min_version : VMBUS_VERSION_WIN8))
			die("InitiateContact outside the configured versions");
		if (conn != (v5 ? (w->cfg.contact_conn_id ? w->cfg.contact_conn_id : 4u) : 1u))
			die("InitiateContact connection id");
		if (v5 && (ic.msg_sint != w->cfg.sint || ic.msg_vtl != w->cfg.vtl))
			die("InitiateContact SINT/VTL");
		if (!v5 && (w->cfg.sint != 2 || w->cfg.vtl != 0))
			die("below 5.0 for a SINT the host cannot answer on");
		if (ic.target_vcpu != w->cfg.vp)
			die("InitiateContact VP");
		w->last_contact_version = v;
		break;
	}
	case VMBUS_MSG_REQUEST_OFFERS:
	case VMBUS_MSG_UNLOAD:
		if (len != 8)
			die("empty message size");
		break;
	case VMBUS_MSG_GPADL_HEADER: {
		struct vmbus_msg_gpadl_header gh;
		struct vmbus_gpa_range r;
		if (len < sizeof(gh) + sizeof(r) + 8 || (len - sizeof(gh) - sizeof(r)) % 8)
			die("GpadlHeader size");
		memcpy(&gh, m, sizeof(gh));
		memcpy(&r, m + sizeof(gh), sizeof(r));
		uint32_t here = (uint32_t)(len - sizeof(gh) - sizeof(r)) / 8;
		uint32_t pages = r.byte_count / 4096u;
		if (gh.rangecount != 1 || r.byte_offset || r.byte_count % 4096u || !pages ||
		    pages > VMBUS_CLIENT_MAX_GPADL_PAGES || gh.range_buflen != 8 + 8 * pages ||
		    here > 26 || here > pages || (here < 26 && here != pages))
			die("GpadlHeader fields");
		check_relid(w, gh.child_relid);
		if (gh.gpadl <= w->last_header_id && w->last_header_id)
			die("GPADL ids not increasing");
		if (gh.gpadl < VMBUS_CLIENT_GPADL_ID_FIRST)
			die("GPADL id below the first");
		if (gh.gpadl > w->max_id)
			w->max_id = gh.gpadl;
		w->last_header_id = gh.gpadl;
		w->last_header_relid = gh.child_relid;
		check_pfns(m + sizeof(gh) + sizeof(r), here);
		w->gpadl_left = pages - here;
		w->body_gpadl = gh.gpadl;
		break;
	}
	case VMBUS_MSG_GPADL_BODY: {
		struct vmbus_msg_gpadl_body b;
		if (len < sizeof(b) + 8 || (len - sizeof(b)) % 8)
			die("GpadlBody size");
		memcpy(&b, m, sizeof(b));
		uint32_t here = (uint32_t)(len - sizeof(b)) / 8;
		if (!w->gpadl_left || b.gpadl != w->body_gpadl || b.msgnumber ||
		    here > 28 || here > w->gpadl_left || (here < 28 && here != w->gpadl_left))
			die("GpadlBody out of sequence");
		check_pfns(m + sizeof(b), here);
		w->gpadl_left -= here;
		break;
	}
	case VMBUS_MSG_GPADL_TEARDOWN: {
		struct vmbus_msg_gpadl_teardown t;
		if (len != sizeof(t))
			die("GpadlTeardown size");
		memcpy(&t, m, sizeof(t));
		check_relid(w, t.child_relid);
		check_gpadl_id(w, t.gpadl);
		w->last_teardown_id = t.gpadl;
		break;
	}
	case VMBUS_MSG_OPEN_CHANNEL: {
		struct vmbus_msg_open_channel o;
		if (len != VMBUS_OPEN_CHANNEL_SIZE_V1)
			die("OpenChannel size");
		memset(&o, 0, sizeof(o));
		memcpy(&o, m, len);
		check_relid(w, o.child_relid);
		check_gpadl_id(w, o.ring_gpadl);
		if (!o.open_id || o.downstream_ring_page_offset < 2)
			die("OpenChannel fields");
		w->last_open_relid = o.child_relid;
		w->open_id[o.child_relid] = o.open_id;
		w->last_open_id = o.open_id;
		break;
	}
	case VMBUS_MSG_CLOSE_CHANNEL:
	case VMBUS_MSG_RELID_RELEASED: {
		struct vmbus_msg_relid r;
		if (len != sizeof(r))
			die("relid message size");
		memcpy(&r, m, sizeof(r));
		check_relid(w, r.child_relid);
		break;
	}
	default:
		die("posted a type a client never sends");
	}
	if (w->post_fail)
		return -EIO;
	return 0;
}

static int f_signal(void *ctx, uint32_t conn, uint16_t flag)
{
	(void)ctx;
	if (conn == 0 || flag != 0)
		die("signal");
	return 0;
}

static const struct vmbus_client_ops f_ops = {
	.post_message = f_post,
	.signal_event = f_signal,
	.log = cb_log,
	.connected = cb_connected,
	.offer = cb_offer,
	.offers_done = cb_offers_done,
	.rescinded = cb_rescinded,
	.gpadl_created = cb_created,
	.gpadl_torndown = cb_torndown,
	.opened = cb_opened,
	.event = cb_event,
	.unloaded = cb_unloaded,
};

/* ------------------------------------------------------------------------------------------ */
/* Steps                                                                                      */
/* ------------------------------------------------------------------------------------------ */

static uint32_t pick_relid(struct world *w, struct cursor *c)
{
	static const uint32_t odd[] = { 0, 1, 2, 3, 64, MAX_RELID, MAX_RELID + 1, 0xFFFFFFFFu };
	uint8_t v = u8(c);
	if (v < 160 && w->nlive)
		return w->live[v % w->nlive];
	if (v < 200)
		return 1u + v % 8u;
	return odd[v % (sizeof(odd) / sizeof(odd[0]))];
}

static uint32_t pick_gpadl(struct world *w, struct cursor *c)
{
	uint8_t v = u8(c);
	if (v < 128 && w->ngp)
		return w->gp[v % w->ngp].id;
	if (v < 192 && w->nhistory)
		return w->history[v % (w->nhistory < HISTORY ? w->nhistory : HISTORY)];
	if (v < 224)
		return w->last_header_id;
	static const uint32_t odd[] = { 0, VMBUS_CLIENT_GPADL_ID_FIRST, 1, 0xFFFFFFFFu };
	return odd[v % 4];
}

/* Send `size` bytes of `msg` as a `len`-byte host message (cut short, or padded with junk). */
static int host_sized(struct world *w, void *msg, size_t size, size_t len, uint32_t type)
{
	uint8_t buf[VMBUS_MSG_MAX_SIZE];
	struct vmbus_msg_header *h = msg;
	h->msgtype = type;
	h->padding = 0;
	memset(buf, 0xA5, sizeof(buf));
	memcpy(buf, msg, size < sizeof(buf) ? size : sizeof(buf));
	return vmbus_client_handle_message(w->cl, buf, len < sizeof(buf) ? len : sizeof(buf));
}

#define host(w, msg, len, type) host_sized(w, msg, sizeof(*(msg)), len, type)

/* The client's verdict on a host message must be the model's. */
static void expect(int rc, bool ok, const char *what)
{
	if ((rc == 0) != ok) {
		fprintf(stderr, "vmbus_client_fuzz: %s %s (%d)\n", what,
			ok ? "refused" : "accepted", rc);
		abort();
	}
}

static bool relid_ok(uint32_t relid)
{
	return relid && relid <= MAX_RELID;
}

static size_t bent_len(struct cursor *c, size_t len)
{
	uint8_t v = u8(c);
	if (v < 200)
		return len;
	if (v < 220)
		return len - 1;
	if (v < 240)
		return VMBUS_MSG_MAX_SIZE;
	return v % 8;
}

static void op_version(struct world *w, struct cursor *c)
{
	struct vmbus_msg_version_response vr;
	memset(&vr, 0, sizeof(vr));
	uint8_t s = u8(c);
	vr.version_supported = s < 100 ? 0 : s < 250 ? 1 : s;
	uint8_t st = u8(c);
	vr.connection_state = st < 230 ? 0 : st % 4;
	static const uint32_t conns[] = { 4, 4, VMBUS_CONN_ID_VTL2_REDIRECT, 0x1234, 0, 1 };
	vr.msg_conn_id = conns[u8(c) % (sizeof(conns) / sizeof(conns[0]))];
	vr.supported_features = u8(c);
	static const size_t lens[] = { VMBUS_VERSION_RESPONSE_SIZE_V1,
				       VMBUS_VERSION_RESPONSE_SIZE_V6,
				       VMBUS_VERSION_RESPONSE_SIZE_MONITOR };
	size_t len = bent_len(c, lens[u8(c) % 3]);
	w->contact_answerable = vmbus_client_pending(w->cl) == 0;
	host(w, &vr, len, VMBUS_MSG_VERSION_RESPONSE);
}

static void op_offer(struct world *w, struct cursor *c)
{
	static const struct vmbus_guid types[] = {
		VMBUS_GUID_SCSI, VMBUS_GUID_NETWORK, VMBUS_GUID_KVP, { 0, 0, 0, { 0 } },
	};
	struct vmbus_msg_offer_channel o;
	memset(&o, 0, sizeof(o));
	uint8_t v = u8(c);
	o.child_relid = v < 200 ? 1u + v % 80u : pick_relid(w, c);
	o.interface_type = types[u8(c) % 4];
	o.instance = (struct vmbus_guid)VMBUS_GUID_INIT(0x1234, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0);
	o.instance.data4[7] = u8(c) % 8;
	o.subchannel_index = u8(c) % 3;
	uint8_t f = u8(c);
	o.connection_id = f & 1 ? 0 : 0x2000 + o.child_relid;
	o.monitor_allocated = f & 2 ? (f & 4 ? 0xFF : 1) : 0;
	o.monitor_id = f & 8 ? 200 : f;
	o.is_dedicated_interrupt = f & 0x10;
	o.flags = (uint16_t)(f << 8);
	size_t len = bent_len(c, sizeof(o));
	bool ok = w->state == VMBUS_CLIENT_CONNECTED && len >= sizeof(o) &&
		  relid_ok(o.child_relid) && o.interface_type.data1 && o.connection_id &&
		  !((o.monitor_allocated & 1) && o.monitor_id >= 128) &&
		  w->chan[o.child_relid] == SH_NONE && w->nlive < VMBUS_CLIENT_MAX_CHANNELS;
	for (uint32_t i = 0; ok && i < w->nlive; i++) {
		struct vmbus_client_offer p;
		if (vmbus_client_get_offer(w->cl, w->live[i], &p) != 0)
			die("live offer not found");
		if (!w->rescinded[p.relid] &&
		    !memcmp(&p.interface_type, &o.interface_type, sizeof(p.interface_type)) &&
		    !memcmp(&p.instance, &o.instance, sizeof(p.instance)) &&
		    p.subchannel_index == o.subchannel_index)
			ok = false;
	}
	expect(host(w, &o, len, VMBUS_MSG_OFFER_CHANNEL), ok, "offer");
}

static void op_flood(struct world *w, struct cursor *c)
{
	uint32_t n = u8(c) % 80u, base = 100u + u8(c) * 4u;
	for (uint32_t k = 0; k < n; k++) {
		struct vmbus_msg_offer_channel o;
		memset(&o, 0, sizeof(o));
		o.child_relid = base + k;
		o.interface_type = (struct vmbus_guid)VMBUS_GUID_HEARTBEAT;
		o.instance.data1 = base + k;
		o.connection_id = 0x3000 + k;
		bool ok = w->state == VMBUS_CLIENT_CONNECTED && w->chan[base + k] == SH_NONE &&
			  w->nlive < VMBUS_CLIENT_MAX_CHANNELS;
		/* A live offer of the same instance (another base) makes it a duplicate. */
		for (uint32_t i = 0; ok && i < w->nlive; i++) {
			struct vmbus_client_offer p;
			if (vmbus_client_get_offer(w->cl, w->live[i], &p) != 0)
				die("live offer not found");
			if (!w->rescinded[p.relid] && !memcmp(&p.interface_type, &o.interface_type,
							      sizeof(o.interface_type)) &&
			    !memcmp(&p.instance, &o.instance, sizeof(o.instance)) &&
			    p.subchannel_index == 0)
				ok = false;
		}
		expect(host(w, &o, sizeof(o), VMBUS_MSG_OFFER_CHANNEL), ok, "flooded offer");
	}
}

static void op_rescind(struct world *w, struct cursor *c)
{
	struct vmbus_msg_relid r;
	memset(&r, 0, sizeof(r));
	r.child_relid = pick_relid(w, c);
	size_t len = bent_len(c, sizeof(r));
	bool ok = w->state == VMBUS_CLIENT_CONNECTED && len >= sizeof(r) &&
		  relid_ok(r.child_relid) && w->chan[r.child_relid] != SH_NONE &&
		  !w->rescinded[r.child_relid];
	expect(host(w, &r, len, VMBUS_MSG_RESCIND_CHANNEL_OFFER), ok, "rescind");
}

static void op_open_result(struct world *w, struct cursor *c)
{
	struct vmbus_msg_open_result r;
	memset(&r, 0, sizeof(r));
	uint8_t v = u8(c);
	r.child_relid = v < 180 ? w->last_open_relid : pick_relid(w, c);
	r.open_id = v & 1 ? w->last_open_id + (v & 2) : w->last_open_id;
	r.status = u8(c) < 200 ? 0 : VMBUS_STATUS_UNSUCCESSFUL;
	size_t len = bent_len(c, sizeof(r));
	/* The open id is known once the OpenChannel went out. */
	bool known = vmbus_client_pending(w->cl) == 0;
	bool ok = w->state == VMBUS_CLIENT_CONNECTED && len >= sizeof(r) &&
		  relid_ok(r.child_relid) && w->chan[r.child_relid] == SH_OPENING &&
		  r.open_id == w->open_id[r.child_relid];
	int rc = host(w, &r, len, VMBUS_MSG_OPEN_CHANNEL_RESULT);
	if (known)
		expect(rc, ok, "OpenChannelResult");
}

static void op_created(struct world *w, struct cursor *c)
{
	struct vmbus_msg_gpadl_created r;
	memset(&r, 0, sizeof(r));
	uint8_t v = u8(c);
	r.gpadl = v < 128 ? w->last_header_id : pick_gpadl(w, c);
	r.child_relid = v & 1 ? pick_relid(w, c) : w->last_header_relid;
	if (v < 128 && !(v & 1)) {
		struct sh_gp *g = sh_gpadl(w, r.gpadl);
		if (g)
			r.child_relid = g->relid;
	}
	r.creation_status = u8(c) < 200 ? 0 : VMBUS_STATUS_INSUFFICIENT_RESOURCES;
	size_t len = bent_len(c, sizeof(r));
	struct sh_gp *g = sh_gpadl(w, r.gpadl);
	bool ok = w->state == VMBUS_CLIENT_CONNECTED && len >= sizeof(r) && g &&
		  g->state == SG_CREATING && g->relid == r.child_relid;
	expect(host(w, &r, len, VMBUS_MSG_GPADL_CREATED), ok, "GpadlCreated");
}

static void op_torndown(struct world *w, struct cursor *c)
{
	struct vmbus_msg_gpadl_torndown r;
	memset(&r, 0, sizeof(r));
	r.gpadl = u8(c) < 160 ? w->last_teardown_id : pick_gpadl(w, c);
	size_t len = bent_len(c, sizeof(r));
	struct sh_gp *g = sh_gpadl(w, r.gpadl);
	bool ok = w->state == VMBUS_CLIENT_CONNECTED && len >= sizeof(r) && g &&
		  g->state == SG_TEARING;
	expect(host(w, &r, len, VMBUS_MSG_GPADL_TORNDOWN), ok, "GpadlTorndown");
}

static void op_raw(struct world *w, struct cursor *c)
{
	uint8_t m[VMBUS_MSG_MAX_SIZE + 16];
	size_t len = u8(c);
	memset(m, 0, sizeof(m));
	if (len > c->n)
		len = c->n;
	memcpy(m, c->p, len);
	c->p += len;
	c->n -= len;
	vmbus_client_handle_message(w->cl, m, len);
}

static void op_event(struct world *w, struct cursor *c)
{
	uint32_t flag = u8(c) < 200 ? pick_relid(w, c) : u32(c);
	int rc = vmbus_client_handle_event(w->cl, flag);
	bool open = flag && flag <= MAX_RELID &&
		    (w->chan[flag] == SH_OPENING || w->chan[flag] == SH_OPEN);
	if ((rc == 0) != open)
		die("event delivery vs the model");
}

static void op_connect(struct world *w)
{
	int rc = vmbus_client_connect(w->cl);
	if ((rc == 0) != (w->state == VMBUS_CLIENT_DISCONNECTED) && rc != -ENOBUFS)
		die("connect vs the model");
	if (rc == 0 && w->state == VMBUS_CLIENT_DISCONNECTED) {
		/* The InitiateContact may still be queued: the connected op sees CONTACTING. */
		w->state = VMBUS_CLIENT_CONTACTING;
	}
}

static void op_unload(struct world *w)
{
	enum vmbus_client_state before = w->state;
	int rc = vmbus_client_unload(w->cl);
	if (rc == 0) {
		if (before != VMBUS_CLIENT_CONNECTED)
			die("unload accepted while not connected");
		w->state = VMBUS_CLIENT_UNLOADING;
	} else if (before == VMBUS_CLIENT_CONNECTED && rc != -ENOBUFS) {
		die("unload refused while connected");
	}
}

static void op_gpadl(struct world *w, struct cursor *c)
{
	static const uint32_t counts[] = { 1, 2, 4, 8, 26, 27, 54, 55, 100, 8190, 0, 8191 };
	uint32_t relid = pick_relid(w, c);
	uint8_t v = u8(c);
	uint32_t n = counts[v % (sizeof(counts) / sizeof(counts[0]))];
	for (uint32_t i = 0; i < n && i <= VMBUS_CLIENT_MAX_GPADL_PAGES; i++)
		w->pfns[i] = 0x100 + i;
	if (v & 0x80 && n)
		w->pfns[n - 1] = 1ull << 40;    /* one PFN past 52 bits */
	uint32_t id = 0;
	int rc = vmbus_client_gpadl_create(w->cl, relid, w->pfns, n, &id);
	if (rc)
		return;
	if (w->state != VMBUS_CLIENT_CONNECTED || !relid || relid > MAX_RELID ||
	    w->chan[relid] == SH_NONE || w->rescinded[relid] || !n || (v & 0x80))
		die("gpadl_create accepted against the model");
	if (id != w->last_header_id && !w->slot_full)
		die("gpadl_create id is not the header's");
	if (w->ngp >= VMBUS_CLIENT_MAX_GPADLS || sh_gpadl(w, id))
		die("gpadl_create: id in use or too many");
	/* The answer may already have come (not with this transport: it never answers). */
	w->gp[w->ngp++] = (struct sh_gp){ .id = id, .relid = relid, .pages = n,
					  .state = SG_CREATING };
	remember(w, id);
	if (id > w->max_id)
		w->max_id = id;             /* maybe still queued: the header comes later */
}

static void op_teardown(struct world *w, struct cursor *c)
{
	uint32_t relid = pick_relid(w, c);
	uint32_t id = pick_gpadl(w, c);
	int rc = vmbus_client_gpadl_teardown(w->cl, relid, id);
	struct sh_gp *g = sh_gpadl(w, id);
	bool ring = g && g->relid <= MAX_RELID && w->ring[g->relid] == id &&
		    (w->chan[g->relid] == SH_OPENING || w->chan[g->relid] == SH_OPEN);
	if (rc == 0) {
		if (w->state != VMBUS_CLIENT_CONNECTED || !g || g->relid != relid ||
		    g->state != SG_CREATED || ring)
			die("teardown accepted against the model");
		g->state = SG_TEARING;
	} else if (rc == -EBUSY && !ring) {
		die("teardown busy for a GPADL whose channel is closed");
	}
}

static void op_open(struct world *w, struct cursor *c)
{
	uint8_t ud[VMBUS_OPEN_USER_DATA_SIZE + 1];
	memset(ud, 0x77, sizeof(ud));
	uint32_t relid = pick_relid(w, c);
	struct vmbus_client_open_params p = {
		.ring_gpadl = pick_gpadl(w, c),
		.downstream_offset = u8(c) % 8u,
		.target_vp = u8(c),
		.user_data = ud,
		.user_data_len = u8(c) % 4 == 3 ? sizeof(ud) : 16,
		.chan_ctx = relid <= MAX_RELID ? &w->chan[relid] : NULL,
	};
	int rc = vmbus_client_open(w->cl, relid, &p);
	if (rc)
		return;
	struct sh_gp *g = sh_gpadl(w, p.ring_gpadl);
	if (w->state != VMBUS_CLIENT_CONNECTED || !relid || relid > MAX_RELID ||
	    w->chan[relid] != SH_CLOSED || w->rescinded[relid] || !g || g->relid != relid ||
	    g->state != SG_CREATED || g->pages < 4 || p.downstream_offset < 2 ||
	    p.downstream_offset > g->pages - 2 || p.user_data_len > VMBUS_OPEN_USER_DATA_SIZE)
		die("open accepted against the model");
	w->chan[relid] = SH_OPENING;
	w->ring[relid] = p.ring_gpadl;
}

static void op_close(struct world *w, struct cursor *c)
{
	uint32_t relid = pick_relid(w, c);
	int rc = vmbus_client_close(w->cl, relid);
	bool ok = w->state == VMBUS_CLIENT_CONNECTED && relid && relid <= MAX_RELID &&
		  w->chan[relid] == SH_OPEN;
	if (rc == 0 && !ok)
		die("close accepted against the model");
	if (rc != 0 && ok && rc != -ENOBUFS)
		die("close of an open channel refused");
	if (rc == 0)
		w->chan[relid] = SH_CLOSED;
}

static void op_release(struct world *w, struct cursor *c)
{
	uint32_t relid = pick_relid(w, c);
	int rc = vmbus_client_release(w->cl, relid);
	bool ok = w->state == VMBUS_CLIENT_CONNECTED && relid && relid <= MAX_RELID &&
		  w->chan[relid] != SH_NONE && w->rescinded[relid] && w->chan[relid] != SH_OPEN;
	if (rc == 0 && !ok)
		die("release accepted against the model");
	if (rc != 0 && ok && rc != -ENOBUFS)
		die("release refused");
	if (rc == 0)
		sh_release(w, relid);
}

static void op_signal(struct world *w, struct cursor *c)
{
	uint32_t relid = pick_relid(w, c);
	int rc = vmbus_client_signal(w->cl, relid);
	bool open = relid && relid <= MAX_RELID && w->chan[relid] == SH_OPEN;
	if ((rc == 0) != open)
		die("signal vs the model");
}

static void check(struct world *w)
{
	char why[160];
	if (vmbus_client_check(w->cl, why, sizeof(why)) != 0) {
		fprintf(stderr, "vmbus_client_fuzz: %s\n", why);
		abort();
	}
	struct vmbus_client_connection cc;
	vmbus_client_get_connection(w->cl, &cc);
	if (cc.state != w->state)
		die("state differs from the model");
	if (cc.offer_count != w->nlive || cc.gpadl_count != w->ngp)
		die("offer or GPADL count differs from the model");
	if (cc.offers_done != w->offers_done)
		die("offers_done differs from the model");
	struct vmbus_client_stats st;
	vmbus_client_get_stats(w->cl, &st);
	if (st.out_dropped)
		die("the client lost one of its own messages");
	for (uint32_t i = 0; i < w->nlive; i++) {
		struct vmbus_client_offer o;
		if (vmbus_client_get_offer(w->cl, w->live[i], &o) != 0 || o.relid != w->live[i])
			die("live offer missing");
	}
}

static void step(struct world *w, struct cursor *c)
{
	switch (u8(c) % OP_COUNT) {
	case OP_RAW: op_raw(w, c); break;
	case OP_VERSION: op_version(w, c); break;
	case OP_OFFER: op_offer(w, c); break;
	case OP_ALL_OFFERS: {
		struct vmbus_msg_empty e;
		memset(&e, 0, sizeof(e));
		bool ok = w->state == VMBUS_CLIENT_CONNECTED && !w->offers_done;
		expect(host(w, &e, sizeof(e), VMBUS_MSG_ALL_OFFERS_DELIVERED), ok,
		       "AllOffersDelivered");
		break;
	}
	case OP_RESCIND: op_rescind(w, c); break;
	case OP_OPEN_RESULT: op_open_result(w, c); break;
	case OP_CREATED: op_created(w, c); break;
	case OP_TORNDOWN: op_torndown(w, c); break;
	case OP_UNLOAD_RESPONSE: {
		struct vmbus_msg_empty e;
		memset(&e, 0, sizeof(e));
		bool ok = w->state == VMBUS_CLIENT_UNLOADING;
		expect(host(w, &e, sizeof(e), VMBUS_MSG_UNLOAD_RESPONSE), ok, "UnloadResponse");
		break;
	}
	case OP_EVENT: op_event(w, c); break;
	case OP_CONNECT: op_connect(w); break;
	case OP_UNLOAD: op_unload(w); break;
	case OP_GPADL: op_gpadl(w, c); break;
	case OP_TEARDOWN: op_teardown(w, c); break;
	case OP_OPEN: op_open(w, c); break;
	case OP_CLOSE: op_close(w, c); break;
	case OP_RELEASE: op_release(w, c); break;
	case OP_SIGNAL: op_signal(w, c); break;
	case OP_SLOT:
		w->slot_full = !w->slot_full;
		vmbus_client_flush(w->cl);
		break;
	case OP_POST_FAIL:
		w->post_fail = !w->post_fail;
		break;
	case OP_FLOOD: op_flood(w, c); break;
	default:
		break;
	}
	check(w);
}

static void configure(struct world *w, uint8_t v)
{
	memset(&w->cfg, 0, sizeof(w->cfg));
	if (v & 1) {
		w->cfg.sint = VMBUS_VTL2_SINT;
		w->cfg.vtl = 2;
		w->cfg.contact_conn_id = VMBUS_CONN_ID_VTL2_REDIRECT;
	} else {
		w->cfg.sint = VMBUS_MESSAGE_SINT;
	}
	w->cfg.vp = (v >> 1) & 1;
	static const uint32_t maxes[] = { 0, VMBUS_VERSION_WIN10_V6_0, VMBUS_VERSION_WIN10_V5_3,
					  VMBUS_VERSION_WIN10_V5 };
	static const uint32_t mins[] = { 0, VMBUS_VERSION_WIN8, VMBUS_VERSION_WIN10_V5,
					 VMBUS_VERSION_WIN10_V5_3 };
	w->cfg.max_version = maxes[(v >> 2) & 3];
	w->cfg.min_version = mins[(v >> 4) & 3];
	w->cfg.has_client_id = v & 0x40;
	w->cfg.monitor_page1 = v & 0x80 ? 0x10000 : 0;
	w->cfg.monitor_page2 = v & 0x80 ? 0x11000 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct world w;
	struct cursor c = { data, size };

	memset(&w, 0, sizeof(w));
	configure(&w, u8(&c));
	int rc = vmbus_client_create(&f_ops, &w, &w.cfg, &w.cl);
	if (rc == -EINVAL)
		return 0;               /* a crossed version window: refused, nothing to run */
	if (rc)
		die("create");
	w.state = VMBUS_CLIENT_DISCONNECTED;
	for (unsigned n = 0; c.n && n < 4096; n++)
		step(&w, &c);
	/* The host's buffers free at the end: everything queued must go out. */
	w.slot_full = false;
	vmbus_client_flush(w.cl);
	if (vmbus_client_pending(w.cl) != 0)
		die("outbox not drained");
	check(&w);
	vmbus_client_destroy(w.cl);
	return 0;
}
