/*
 * VMBus client (devices/vmbus/vmbus_client.c) against the real server (vmbus_server.c) in one
 * process: the client's post_message / signal_event go straight to vmbus_server_handle_message
 * / vmbus_server_signal; the server's messages and events are queued and pumped into
 * vmbus_client_handle_message / handle_event (or delivered at once in the re-entrant tests).
 * Fake devices behind the server record what the client asked for. The hostile-host tests
 * drive a client alone with hand-made host messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/vmbus/vmbus_client.h"
#include "devices/vmbus/vmbus_server.h"
#include "hvcall/vmbus_abi.h"

#define SRV_CONN(relid) (VMBUS_SERVER_CONN_ID_BASE + (relid))
#define NDEV 4

/* ------------------------------------------------------------------------------------------ */
/* Harness                                                                                    */
/* ------------------------------------------------------------------------------------------ */

struct pmsg {
	uint32_t conn;
	size_t len;
	uint8_t data[VMBUS_MSG_MAX_SIZE];
};

struct dev {
	struct vmbus_channel *ch;
	int open_rc;
	int opens, closes, signals, releases;
	struct vmbus_channel_open_info info;
};

struct h {
	struct vmbus_server *srv;           /* NULL: hostile tests, the test is the host */
	struct vmbus_client *cl;
	struct vmbus_server_target expect;  /* where the server must answer */
	bool direct;                        /* server output delivered at once (re-entrant) */
	uint32_t redirect;                  /* client posts here reach the server's id 4 */
	int client_eagain;                  /* client posts answer -EAGAIN this many times */
	bool client_slot_full;              /* ... or while this is set */

	/* server -> client, queued */
	struct pmsg inq[2048];
	size_t in_head, in_n;
	uint16_t evq[256];
	size_t ev_n;

	/* what the client posted */
	struct pmsg posts[16384];
	size_t nposts;
	unsigned type_count[VMBUS_MSG_COUNT];
	int server_rc;
	unsigned signals;                   /* client signal_event calls */
	uint32_t signal_conn;

	/* client callbacks */
	int connected, conn_err;
	uint32_t version;
	struct vmbus_client_offer offers[80];
	int noffers, offers_done;
	int rescinds;
	uint32_t rescind_relid;
	void *rescind_ctx;
	int created, created_err;
	uint32_t created_relid, created_id, created_status;
	int torndown;
	uint32_t torndown_relid, torndown_id;
	int opened, opened_err;
	uint32_t opened_relid, opened_status;
	void *opened_ctx;
	int events;
	uint32_t event_relid;
	void *event_ctx;
	int unloaded;
	unsigned logs;

	struct dev dev[NDEV];
};

/* --- server side --- */

static int s_post(void *ctx, const struct vmbus_server_target *t, const void *msg, size_t len)
{
	struct h *h = ctx;
	assert_int_equal(t->vp, h->expect.vp);
	assert_int_equal(t->sint, h->expect.sint);
	assert_int_equal(t->vtl, h->expect.vtl);
	assert_true(len >= 8 && len <= VMBUS_MSG_MAX_SIZE);
	if (h->direct) {
		vmbus_client_handle_message(h->cl, msg, len);
		return 0;
	}
	assert_true(h->in_head + h->in_n < sizeof(h->inq) / sizeof(h->inq[0]));
	struct pmsg *p = &h->inq[h->in_head + h->in_n++];
	p->len = len;
	memcpy(p->data, msg, len);
	return 0;
}

static int s_signal(void *ctx, const struct vmbus_server_target *t, uint16_t flag)
{
	struct h *h = ctx;
	assert_int_equal(t->sint, h->expect.sint);
	assert_int_equal(t->vtl, h->expect.vtl);
	if (h->direct) {
		vmbus_client_handle_event(h->cl, flag);
		return 0;
	}
	assert_true(h->ev_n < sizeof(h->evq) / sizeof(h->evq[0]));
	h->evq[h->ev_n++] = flag;
	return 0;
}

static const struct vmbus_server_ops s_ops = { .post_message = s_post, .signal_event = s_signal };

static struct dev *dev_of(struct h *h, struct vmbus_channel *ch)
{
	for (int i = 0; i < NDEV; i++)
		if (h->dev[i].ch == ch)
			return &h->dev[i];
	fail_msg("unknown server channel");
	return NULL;
}

/* The server channel ops get the harness as ctx: the dev is found by channel. */
static int d_open(void *ctx, struct vmbus_channel *ch, const struct vmbus_channel_open_info *i)
{
	struct dev *d = dev_of(ctx, ch);
	d->opens++;
	d->info = *i;
	return d->open_rc;
}

static void d_close(void *ctx, struct vmbus_channel *ch)
{
	dev_of(ctx, ch)->closes++;
}

static void d_signal(void *ctx, struct vmbus_channel *ch)
{
	dev_of(ctx, ch)->signals++;
}

static void d_released(void *ctx, struct vmbus_channel *ch)
{
	struct dev *d = dev_of(ctx, ch);
	d->releases++;
	d->ch = NULL;
}

static const struct vmbus_channel_ops d_ops = {
	.open = d_open, .close = d_close, .signal = d_signal, .released = d_released,
};

/* --- client side --- */

static int c_post(void *ctx, uint32_t conn, const void *msg, size_t len)
{
	struct h *h = ctx;
	assert_true(len >= 8 && len <= VMBUS_MSG_MAX_SIZE);
	if (h->client_slot_full)
		return -EAGAIN;
	if (h->client_eagain > 0) {
		h->client_eagain--;
		return -EAGAIN;
	}
	assert_true(h->nposts < sizeof(h->posts) / sizeof(h->posts[0]));
	struct pmsg *p = &h->posts[h->nposts++];
	p->conn = conn;
	p->len = len;
	memcpy(p->data, msg, len);
	struct vmbus_msg_header hd;
	memcpy(&hd, msg, sizeof(hd));
	assert_int_equal(hd.padding, 0);
	assert_true(hd.msgtype < VMBUS_MSG_COUNT);
	h->type_count[hd.msgtype]++;
	if (!h->srv)
		return 0;
	if (h->redirect && conn == h->redirect)
		conn = VMBUS_CONN_ID_MESSAGE_4;     /* what the hypervisor's redirect does */
	h->server_rc = vmbus_server_handle_message(h->srv, conn, msg, len);
	/* The hypervisor refuses an unknown connection id; a delivered message is a success. */
	return h->server_rc == -ENOENT ? -ENOENT : 0;
}

static int c_signal(void *ctx, uint32_t conn, uint16_t flag)
{
	struct h *h = ctx;
	assert_int_equal(flag, 0);
	h->signals++;
	h->signal_conn = conn;
	return h->srv ? vmbus_server_signal(h->srv, conn) : 0;
}

static void c_log(void *ctx, const char *line)
{
	struct h *h = ctx;
	assert_non_null(strstr(line, "vmbus client: refused"));
	if (getenv("VMBUS_TEST_LOG"))
		fprintf(stderr, "%s\n", line);
	h->logs++;
}

static void c_connected(void *ctx, int err, uint32_t version)
{
	struct h *h = ctx;
	h->connected++;
	h->conn_err = err;
	h->version = version;
}

static void c_offer(void *ctx, const struct vmbus_client_offer *o)
{
	struct h *h = ctx;
	assert_true(h->noffers < (int)(sizeof(h->offers) / sizeof(h->offers[0])));
	h->offers[h->noffers++] = *o;
}

static void c_offers_done(void *ctx)
{
	((struct h *)ctx)->offers_done++;
}

static void c_rescinded(void *ctx, uint32_t relid, void *chan_ctx)
{
	struct h *h = ctx;
	h->rescinds++;
	h->rescind_relid = relid;
	h->rescind_ctx = chan_ctx;
}

static void c_created(void *ctx, uint32_t relid, uint32_t id, int err, uint32_t status)
{
	struct h *h = ctx;
	h->created++;
	h->created_relid = relid;
	h->created_id = id;
	h->created_err = err;
	h->created_status = status;
}

static void c_torndown(void *ctx, uint32_t relid, uint32_t id)
{
	struct h *h = ctx;
	h->torndown++;
	h->torndown_relid = relid;
	h->torndown_id = id;
}

static void c_opened(void *ctx, uint32_t relid, void *chan_ctx, int err, uint32_t status)
{
	struct h *h = ctx;
	h->opened++;
	h->opened_relid = relid;
	h->opened_ctx = chan_ctx;
	h->opened_err = err;
	h->opened_status = status;
}

static void c_event(void *ctx, uint32_t relid, void *chan_ctx)
{
	struct h *h = ctx;
	h->events++;
	h->event_relid = relid;
	h->event_ctx = chan_ctx;
}

static void c_unloaded(void *ctx)
{
	((struct h *)ctx)->unloaded++;
}

static const struct vmbus_client_ops c_ops = {
	.post_message = c_post,
	.signal_event = c_signal,
	.log = c_log,
	.connected = c_connected,
	.offer = c_offer,
	.offers_done = c_offers_done,
	.rescinded = c_rescinded,
	.gpadl_created = c_created,
	.gpadl_torndown = c_torndown,
	.opened = c_opened,
	.event = c_event,
	.unloaded = c_unloaded,
};

/* --- fixture --- */

static void check_client(struct h *h)
{
	char why[160] = "";
	if (vmbus_client_check(h->cl, why, sizeof(why)))
		fail_msg("client inconsistent: %s", why);
}

static void check_server(struct h *h)
{
	char why[160] = "";
	if (h->srv && vmbus_server_check(h->srv, why, sizeof(why)))
		fail_msg("server inconsistent: %s", why);
}

/* A harness; `scfg` NULL: no server (the test plays the host). */
static struct h *new_h(const struct vmbus_server_config *scfg,
		       const struct vmbus_client_config *ccfg)
{
	struct h *h = calloc(1, sizeof(*h));
	assert_non_null(h);
	if (scfg)
		assert_int_equal(vmbus_server_create(&s_ops, h, scfg, &h->srv), 0);
	assert_int_equal(vmbus_client_create(&c_ops, h, ccfg, &h->cl), 0);
	h->expect = (struct vmbus_server_target){ .vp = ccfg->vp, .sint = ccfg->sint,
						  .vtl = ccfg->vtl };
	return h;
}

static struct h *new_pair(uint32_t server_max)
{
	struct vmbus_server_config s = { .vp_count = 2, .max_version = server_max };
	struct vmbus_client_config c = { .sint = VMBUS_MESSAGE_SINT };
	return new_h(&s, &c);
}

static void free_h(struct h *h)
{
	check_client(h);
	check_server(h);
	vmbus_client_destroy(h->cl);
	vmbus_server_destroy(h->srv);
	free(h);
}

/* Deliver what the server queued until nothing is left. */
static void pump(struct h *h)
{
	while (h->in_n || h->ev_n) {
		if (h->in_n) {
			struct pmsg *p = &h->inq[h->in_head++];
			h->in_n--;
			if (!h->in_n)
				h->in_head = 0;
			/* Our server only sends what the client can take. */
			assert_int_equal(vmbus_client_handle_message(h->cl, p->data, p->len), 0);
			continue;
		}
		uint16_t flag = h->evq[0];
		memmove(h->evq, h->evq + 1, --h->ev_n * sizeof(h->evq[0]));
		vmbus_client_handle_event(h->cl, flag);
	}
	check_client(h);
	check_server(h);
}

static uint64_t client_rejects(struct h *h, enum vmbus_client_reject why)
{
	struct vmbus_client_stats st;
	vmbus_client_get_stats(h->cl, &st);
	return st.rejects[why];
}

static struct vmbus_channel *offer_dev(struct h *h, int i, struct vmbus_guid type)
{
	struct vmbus_offer_params p = {
		.interface_type = type,
		.instance = VMBUS_GUID_INIT(0x11111111u + (uint32_t)i, 0x2222, 0x3333, 1, 2, 3, 4,
					    5, 6, 7, (uint8_t)i),
		.flags = VMBUS_OFFER_FLAG_NAMED_PIPE_MODE,
		.mmio_megabytes = (uint16_t)(8 + i),
		.mmio_megabytes_optional = 3,
		.subchannel_index = 0,
	};
	p.user_defined[0] = VMBUS_PIPE_MODE_MESSAGE;
	p.user_defined[119] = (uint8_t)(0xA0 + i);
	assert_int_equal(vmbus_server_offer(h->srv, &p, &d_ops, h, &h->dev[i].ch), 0);
	return h->dev[i].ch;
}

static void connect_ok(struct h *h, uint32_t version)
{
	int before = h->connected;
	assert_int_equal(vmbus_client_connect(h->cl), 0);
	pump(h);
	assert_int_equal(h->connected, before + 1);
	assert_int_equal(h->conn_err, 0);
	assert_int_equal(h->version, version);
}

static uint32_t make_gpadl(struct h *h, uint32_t relid, uint32_t pages, uint64_t base)
{
	uint64_t *pfns = calloc(pages, sizeof(*pfns));
	assert_non_null(pfns);
	for (uint32_t i = 0; i < pages; i++)
		pfns[i] = base + i;
	uint32_t id = 0;
	int before = h->created;
	assert_int_equal(vmbus_client_gpadl_create(h->cl, relid, pfns, pages, &id), 0);
	free(pfns);
	pump(h);
	assert_int_equal(h->created, before + 1);
	assert_int_equal(h->created_err, 0);
	assert_int_equal(h->created_id, id);
	assert_int_equal(h->created_relid, relid);
	return id;
}

static void open_ok(struct h *h, uint32_t relid, uint32_t gpadl, void *chan_ctx)
{
	struct vmbus_client_open_params p = { .ring_gpadl = gpadl, .downstream_offset = 4,
					      .target_vp = 1, .chan_ctx = chan_ctx };
	int before = h->opened;
	assert_int_equal(vmbus_client_open(h->cl, relid, &p), 0);
	pump(h);
	assert_int_equal(h->opened, before + 1);
	assert_int_equal(h->opened_err, 0);
	assert_int_equal(h->opened_relid, relid);
	assert_ptr_equal(h->opened_ctx, chan_ctx);
}

static const struct pmsg *last_post(struct h *h, uint32_t type)
{
	for (size_t i = h->nposts; i-- > 0;) {
		struct vmbus_msg_header hd;
		memcpy(&hd, h->posts[i].data, sizeof(hd));
		if (hd.msgtype == type)
			return &h->posts[i];
	}
	fail_msg("no message of type %u posted", type);
	return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Against the server                                                                         */
/* ------------------------------------------------------------------------------------------ */

static const uint32_t all_versions[] = {
	VMBUS_VERSION_WIN8, VMBUS_VERSION_WIN8_1, VMBUS_VERSION_WIN10, VMBUS_VERSION_WIN10_V4_1,
	VMBUS_VERSION_WIN10_V5, VMBUS_VERSION_WIN10_V5_1, VMBUS_VERSION_WIN10_V5_2,
	VMBUS_VERSION_WIN10_V5_3, VMBUS_VERSION_WIN10_V6_0,
};
#define NVERSIONS (sizeof(all_versions) / sizeof(all_versions[0]))

static void test_connect_each_version(void **state)
{
	(void)state;
	for (size_t k = 0; k < NVERSIONS; k++) {
		uint32_t v = all_versions[k];
		struct vmbus_server_config s = { .vp_count = 2, .max_version = v };
		struct vmbus_client_config c = {
			.vp = 1, .sint = VMBUS_MESSAGE_SINT, .monitor_page1 = 0x10000,
			.monitor_page2 = 0x11000, .interrupt_page = 0x12000,
			.has_client_id = true,
			.client_id = VMBUS_GUID_INIT(0xc1c1c1c1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
		};
		struct h *h = new_h(&s, &c);
		connect_ok(h, v);

		/* 6.0 first, then one older per refusal, down to v. */
		size_t tries = NVERSIONS - k;
		assert_int_equal(h->type_count[VMBUS_MSG_INITIATE_CONTACT], tries);
		for (size_t i = 0; i < tries; i++) {
			struct vmbus_msg_initiate_contact ic;
			memset(&ic, 0, sizeof(ic));
			memcpy(&ic, h->posts[i].data, h->posts[i].len);
			uint32_t want = all_versions[NVERSIONS - 1 - i];
			assert_int_equal(ic.hdr.msgtype, VMBUS_MSG_INITIATE_CONTACT);
			assert_int_equal(ic.version_requested, want);
			assert_int_equal(ic.target_vcpu, 1);
			assert_int_equal(ic.monitor_page1, 0x10000);
			assert_int_equal(ic.monitor_page2, 0x11000);
			if (want >= VMBUS_VERSION_WIN10_V5) {
				assert_int_equal(h->posts[i].conn, VMBUS_CONN_ID_MESSAGE_4);
				assert_int_equal(ic.msg_sint, VMBUS_MESSAGE_SINT);
				assert_int_equal(ic.msg_vtl, 0);
			} else {
				assert_int_equal(h->posts[i].conn, VMBUS_CONN_ID_MESSAGE);
				assert_int_equal(ic.interrupt_page, 0x12000);
			}
			assert_int_equal(h->posts[i].len,
					 want >= VMBUS_VERSION_WIN10_V6_0 ? 56 : 40);
		}
		/* Then RequestOffers on the negotiated message connection. */
		const struct pmsg *ro = last_post(h, VMBUS_MSG_REQUEST_OFFERS);
		uint32_t conn = v >= VMBUS_VERSION_WIN10_V5 ? 4 : 1;
		assert_int_equal(ro->conn, conn);
		assert_int_equal(h->offers_done, 1);

		struct vmbus_server_connection sc;
		vmbus_server_get_connection(h->srv, &sc);
		assert_true(sc.connected);
		assert_int_equal(sc.version, v);
		assert_int_equal(sc.target.vp, 1);
		assert_int_equal(sc.target.sint, VMBUS_MESSAGE_SINT);
		assert_int_equal(sc.monitor_page1, 0x10000);
		assert_int_equal(sc.monitor_page2, 0x11000);
		assert_int_equal(sc.has_client_id, v == VMBUS_VERSION_WIN10_V6_0);

		struct vmbus_client_connection cc;
		vmbus_client_get_connection(h->cl, &cc);
		assert_int_equal(cc.state, VMBUS_CLIENT_CONNECTED);
		assert_int_equal(cc.version, v);
		assert_int_equal(cc.msg_conn_id, conn);
		assert_int_equal(cc.features,
				 v == VMBUS_VERSION_WIN10_V6_0 ? VMBUS_FEATURE_CLIENT_ID : 0);
		assert_true(cc.offers_done);
		assert_int_equal(vmbus_client_connect(h->cl), -EISCONN);
		if (v == VMBUS_VERSION_WIN10_V6_0) {
			struct vmbus_guid id = c.client_id;
			assert_memory_equal(&sc.client_id, &id, sizeof(id));
		}
		free_h(h);
	}
}

static void test_connect_all_refused(void **state)
{
	(void)state;
	struct vmbus_server_config s = { .vp_count = 1, .max_version = VMBUS_VERSION_WIN10_V4_1 };
	struct vmbus_client_config c = { .sint = VMBUS_MESSAGE_SINT,
					 .min_version = VMBUS_VERSION_WIN10_V5 };
	struct h *h = new_h(&s, &c);
	assert_int_equal(vmbus_client_connect(h->cl), 0);
	assert_int_equal(vmbus_client_connect(h->cl), -EBUSY);
	pump(h);
	assert_int_equal(h->connected, 1);
	assert_int_equal(h->conn_err, -EPROTONOSUPPORT);
	assert_int_equal(h->type_count[VMBUS_MSG_INITIATE_CONTACT], 5);     /* 6.0 .. 5.0 */
	assert_int_equal(h->nposts, 5);
	struct vmbus_client_connection cc;
	vmbus_client_get_connection(h->cl, &cc);
	assert_int_equal(cc.state, VMBUS_CLIENT_DISCONNECTED);
	assert_int_equal(vmbus_client_unload(h->cl), -ENOTCONN);
	/* A client that is told no may try again. */
	assert_int_equal(vmbus_client_connect(h->cl), 0);
	pump(h);
	assert_int_equal(h->connected, 2);
	assert_int_equal(h->conn_err, -EPROTONOSUPPORT);
	free_h(h);
}

/* VTL2's client: posts InitiateContact to 0x800074 naming SINT 7 / VTL 2, answers come there. */
static void test_vtl2_redirect(void **state)
{
	(void)state;
	struct vmbus_server_config s = { .vp_count = 2, .client_vtl = 2 };
	struct vmbus_client_config c = { .vp = 1, .sint = VMBUS_VTL2_SINT, .vtl = 2,
					 .contact_conn_id = VMBUS_CONN_ID_VTL2_REDIRECT };
	struct h *h = new_h(&s, &c);
	h->redirect = VMBUS_CONN_ID_VTL2_REDIRECT;
	offer_dev(h, 0, (struct vmbus_guid)VMBUS_GUID_SCSI);
	connect_ok(h, VMBUS_VERSION_WIN10_V6_0);
	assert_int_equal(h->posts[0].conn, VMBUS_CONN_ID_VTL2_REDIRECT);
	struct vmbus_msg_initiate_contact ic;
	memcpy(&ic, h->posts[0].data, sizeof(ic));
	assert_int_equal(ic.msg_sint, 7);
	assert_int_equal(ic.msg_vtl, 2);
	assert_int_equal(ic.target_vcpu, 1);
	/* Later messages: the VersionResponse's msg_conn_id (4 from this server). */
	assert_int_equal(last_post(h, VMBUS_MSG_REQUEST_OFFERS)->conn, VMBUS_CONN_ID_MESSAGE_4);
	assert_int_equal(h->noffers, 1);
	struct vmbus_server_connection sc;
	vmbus_server_get_connection(h->srv, &sc);
	assert_int_equal(sc.target.sint, 7);
	assert_int_equal(sc.target.vtl, 2);
	uint32_t g = make_gpadl(h, 1, 8, 0x500);
	open_ok(h, 1, g, h);
	assert_int_equal(vmbus_server_channel_signal(h->dev[0].ch), 0);
	pump(h);
	assert_int_equal(h->events, 1);
	free_h(h);

	/* Below 5.0 the answer could not reach SINT 7: those versions are never tried. */
	s.max_version = VMBUS_VERSION_WIN10_V4_1;
	h = new_h(&s, &c);
	h->redirect = VMBUS_CONN_ID_VTL2_REDIRECT;
	assert_int_equal(vmbus_client_connect(h->cl), 0);
	pump(h);
	assert_int_equal(h->conn_err, -EPROTONOSUPPORT);
	assert_int_equal(h->type_count[VMBUS_MSG_INITIATE_CONTACT], 5);
	for (size_t i = 0; i < h->nposts; i++)
		assert_int_equal(h->posts[i].conn, VMBUS_CONN_ID_VTL2_REDIRECT);
	free_h(h);
}

static void test_offers(void **state)
{
	(void)state;
	struct h *h = new_pair(0);
	offer_dev(h, 0, (struct vmbus_guid)VMBUS_GUID_SCSI);
	offer_dev(h, 1, (struct vmbus_guid)VMBUS_GUID_NETWORK);
	connect_ok(h, VMBUS_VERSION_WIN10_V6_0);
	assert_int_equal(h->noffers, 2);
	assert_int_equal(h->offers_done, 1);
	for (int i = 0; i < 2; i++) {
		const struct vmbus_client_offer *o = &h->offers[i];
		struct vmbus_guid type = i ? (struct vmbus_guid)VMBUS_GUID_NETWORK
					   : (struct vmbus_guid)VMBUS_GUID_SCSI;
		struct vmbus_guid inst = VMBUS_GUID_INIT(0x11111111u + (uint32_t)i, 0x2222, 0x3333,
							 1, 2, 3, 4, 5, 6, 7, (uint8_t)i);
		assert_int_equal(o->relid, i + 1);
		assert_memory_equal(&o->interface_type, &type, sizeof(type));
		assert_memory_equal(&o->instance, &inst, sizeof(inst));
		assert_int_equal(o->flags, VMBUS_OFFER_FLAG_NAMED_PIPE_MODE);
		assert_int_equal(o->mmio_megabytes, 8 + i);
		assert_int_equal(o->mmio_megabytes_optional, 3);
		assert_int_equal(o->user_defined[0], VMBUS_PIPE_MODE_MESSAGE);
		assert_int_equal(o->user_defined[119], 0xA0 + i);
		assert_int_equal(o->connection_id, SRV_CONN(i + 1));
		assert_false(o->monitor_allocated);
		assert_true(o->dedicated_interrupt);
		struct vmbus_client_offer g;
		assert_int_equal(vmbus_client_get_offer(h->cl, o->relid, &g), 0);
		assert_memory_equal(&g, o, sizeof(g));
	}
	/* A later offer is reported at once; AllOffersDelivered is not repeated. */
	offer_dev(h, 2, (struct vmbus_guid)VMBUS_GUID_KVP);
	pump(h);
	assert_int_equal(h->noffers, 3);
	assert_int_equal(h->offers[2].relid, 3);
	assert_int_equal(h->offers_done, 1);
	struct vmbus_client_connection cc;
	vmbus_client_get_connection(h->cl, &cc);
	assert_int_equal(cc.offer_count, 3);
	struct vmbus_client_offer g;
	assert_int_equal(vmbus_client_get_offer(h->cl, 9, &g), -ENOENT);
	free_h(h);
}

/* Header + bodies as §3.1 splits them, checked on the wire and in the server's copy. */
static void test_gpadl_split(void **state)
{
	(void)state;
	static const uint32_t sizes[] = { 1, 4, 26, 27, 54, 55, 59, 200, 8190 };
	struct h *h = new_pair(0);
	offer_dev(h, 0, (struct vmbus_guid)VMBUS_GUID_SCSI);
	connect_ok(h, VMBUS_VERSION_WIN10_V6_0);

	uint32_t expect_id = VMBUS_CLIENT_GPADL_ID_FIRST;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		uint32_t n = sizes[k];
		size_t first = h->nposts;
		uint64_t base = 0x100000 + 0x10000 * k;
		uint32_t id = make_gpadl(h, 1, n, base);
		assert_int_equal(id, expect_id++);

		/* On the wire: one header with min(n, 26) PFNs, then bodies of <= 28. */
		uint32_t bodies = n <= 26 ? 0 : (n - 26 + 27) / 28;
		assert_int_equal(h->nposts - first, 1 + bodies);
		struct vmbus_msg_gpadl_header hd;
		memcpy(&hd, h->posts[first].data, sizeof(hd));
		assert_int_equal(hd.hdr.msgtype, VMBUS_MSG_GPADL_HEADER);
		assert_int_equal(hd.child_relid, 1);
		assert_int_equal(hd.gpadl, id);
		assert_int_equal(hd.rangecount, 1);
		assert_int_equal(hd.range_buflen, 8 + 8 * n);
		uint32_t in_header = n < 26 ? n : 26;
		assert_int_equal(h->posts[first].len, 20 + 8 + 8 * in_header);
		struct vmbus_gpa_range r;
		memcpy(&r, h->posts[first].data + 20, sizeof(r));
		assert_int_equal(r.byte_count, n * 4096u);
		assert_int_equal(r.byte_offset, 0);
		uint32_t seen = in_header;
		for (uint32_t b = 0; b < bodies; b++) {
			const struct pmsg *p = &h->posts[first + 1 + b];
			struct vmbus_msg_gpadl_body bd;
			memcpy(&bd, p->data, sizeof(bd));
			assert_int_equal(bd.hdr.msgtype, VMBUS_MSG_GPADL_BODY);
			assert_int_equal(bd.gpadl, id);
			uint32_t k2 = n - seen < 28 ? n - seen : 28;
			assert_int_equal(p->len, 16 + 8 * k2);
			uint64_t pfn;
			memcpy(&pfn, p->data + 16, 8);
			assert_int_equal(pfn, base + seen);
			seen += k2;
		}
		assert_int_equal(seen, n);

		/* The server reassembled exactly these pages. */
		struct vmbus_server_gpadl_desc *d;
		assert_int_equal(vmbus_server_gpadl(h->srv, 1, id, &d), 0);
		assert_int_equal(d->range_count, 1);
		assert_int_equal(d->page_count, n);
		assert_int_equal(d->ranges[0].byte_count, n * 4096u);
		assert_int_equal(d->ranges[0].byte_offset, 0);
		for (uint32_t i = 0; i < n; i++)
			assert_int_equal(d->pfns[i], base + i);
		vmbus_server_gpadl_free(d);
	}
	struct vmbus_client_connection cc;
	vmbus_client_get_connection(h->cl, &cc);
	assert_int_equal(cc.gpadl_count, sizeof(sizes) / sizeof(sizes[0]));

	/* Teardown: GpadlTorndown, gone from the server. */
	uint32_t id = VMBUS_CLIENT_GPADL_ID_FIRST + 6;
	assert_int_equal(vmbus_client_gpadl_teardown(h->cl, 2, id), -ENOENT);  /* wrong relid */
	assert_int_equal(vmbus_client_gpadl_teardown(h->cl, 1, id), 0);
	assert_int_equal(vmbus_client_gpadl_teardown(h->cl, 1, id), -ENOENT);  /* tearing */
	pump(h);
	assert_int_equal(h->torndown, 1);
	assert_int_equal(h->torndown_id, id);
	assert_int_equal(h->torndown_relid, 1);
	struct vmbus_server_gpadl_desc *d;
	assert_int_equal(vmbus_server_gpadl(h->srv, 1, id, &d), -ENOENT);
	vmbus_client_get_connection(h->cl, &cc);
	assert_int_equal(cc.gpadl_count, sizeof(sizes) / sizeof(sizes[0]) - 1);

	/* Arguments. */
	uint64_t pfns[2] = { 1, 2 }, big = 1ull << 40;
	uint32_t gid = 0;
	assert_int_equal(vmbus_client_gpadl_create(h->cl, 1, pfns, 0, &gid), -EINVAL);
	assert_int_equal(vmbus_client_gpadl_create(h->cl, 1, NULL, 2, &gid), -EINVAL);
	assert_int_equal(vmbus_client_gpadl_create(h->cl, 1, pfns, 2, NULL), -EINVAL);
	assert_int_equal(vmbus_client_gpadl_create(h->cl, 1, &big, 1, &gid), -EINVAL);
	assert_int_equal(vmbus_client_gpadl_create(h->cl, 1, pfns, 8191, &gid), -EINVAL);
	assert_int_equal(vmbus_client_gpadl_create(h->cl, 7, pfns, 2, &gid), -ENOENT);
	assert_int_equal(vmbus_client_gpadl_create(h->cl, 0, pfns, 2, &gid), -ENOENT);
	free_h(h);
}

/* A GPADL the host refuses: the created op reports its status, the id is forgotten. */
static void test_gpadl_refused(void **state)
{
	(void)state;
	struct vmbus_server_config s = { .vp_count = 1 };
	struct vmbus_client_config c = { .sint = VMBUS_MESSAGE_SINT };
	struct h *h = new_h(&s, &c);
	offer_dev(h, 0, (struct vmbus_guid)VMBUS_GUID_SCSI);
	connect_ok(h, VMBUS_VERSION_WIN10_V6_0);
	/* The server limits one GPADL to 8190 pages and all of them to 2^18: fill it up. */
	uint64_t *pfns = calloc(8190, sizeof(*pfns));
	assert_non_null(pfns);
	uint32_t id;
	int ok = 0;
	for (int i = 0; i < 40 && h->created_err == 0; i++) {
		for (uint32_t k = 0; k < 8190; k++)
			pfns[k] = (uint64_t)i * 8190 + k;
		assert_int_equal(vmbus_client_gpadl_create(h->cl, 1, pfns, 8190, &id), 0);
		pump(h);
		if (h->created_err == 0)
			ok++;
	}
	free(pfns);
	assert_int_equal(ok, (1 << 18) / 8190);
	assert_int_equal(h->created_err, -ECONNREFUSED);
	assert_int_equal(h->created_status, VMBUS_STATUS_INSUFFICIENT_RESOURCES);
	assert_int_equal(h->created_id, id);
	struct vmbus_client_connection cc;
	vmbus_client_get_connection(h->cl, &cc);
	assert_int_equal(cc.gpadl_count, ok);
	assert_int_equal(vmbus_client_gpadl_teardown(h->cl, 1, id), -ENOENT);
	free_h(h);
}

static void test_open_close_reopen(void **state)
{
	(void)state;
	struct h *h = new_pair(0);
	int token;
	offer_dev(h, 0, (struct vmbus_guid)VMBUS_GUID_SCSI);
	offer_dev(h, 1, (struct vmbus_guid)VMBUS_GUID_NETWORK);
	connect_ok(h, VMBUS_VERSION_WIN10_V6_0);
	uint32_t g = make_gpadl(h, 1, 8, 0x700);
	uint32_t g2 = make_gpadl(h, 2, 8, 0x800);
	uint32_t small = make_gpadl(h, 1, 3, 0x900);

	/* Bad parameters never reach the host. */
	struct vmbus_client_open_params p = { .ring_gpadl = g, .downstream_offset = 1 };
	size_t posted = h->nposts;
	assert_int_equal(vmbus_client_open(h->cl, 1, &p), -EINVAL);
	p.downstream_offset = 7;
	assert_int_equal(vmbus_client_open(h->cl, 1, &p), -EINVAL);
	p.downstream_offset = 4;
	p.ring_gpadl = g2;                          /* another channel's */
	assert_int_equal(vmbus_client_open(h->cl, 1, &p), -EINVAL);
	p.ring_gpadl = small;
	p.downstream_offset = 2;
	assert_int_equal(vmbus_client_open(h->cl, 1, &p), -EINVAL);
	p.ring_gpadl = g;
	p.downstream_offset = 4;
	uint8_t ud[121] = "storvsc";
	p.user_data = ud;
	p.user_data_len = 121;
	assert_int_equal(vmbus_client_open(h->cl, 1, &p), -EINVAL);
	p.user_data_len = 0;
	p.user_data = NULL;
	assert_int_equal(vmbus_client_open(h->cl, 9, &p), -ENOENT);
	assert_int_equal(vmbus_client_close(h->cl, 1), -ENOTCONN);
	assert_int_equal(vmbus_client_signal(h->cl, 1), -ENOTCONN);
	assert_int_equal(h->nposts, posted);

	/* Open: the server's device sees what we asked for. */
	p.user_data = ud;
	p.user_data_len = 8;
	p.target_vp = 1;
	p.chan_ctx = &token;
	assert_int_equal(vmbus_client_open(h->cl, 1, &p), 0);
	assert_int_equal(vmbus_client_open(h->cl, 1, &p), -EBUSY);
	pump(h);
	assert_int_equal(h->opened, 1);
	assert_int_equal(h->opened_err, 0);
	assert_ptr_equal(h->opened_ctx, &token);
	assert_int_equal(vmbus_client_open(h->cl, 1, &p), -EBUSY);
	struct dev *d = &h->dev[0];
	assert_int_equal(d->opens, 1);
	assert_int_equal(d->info.relid, 1);
	assert_int_equal(d->info.ring_gpadl, g);
	assert_int_equal(d->info.ring_page_count, 8);
	assert_int_equal(d->info.downstream_offset, 4);
	assert_int_equal(d->info.target_vp, 1);
	assert_memory_equal(d->info.user_data, "storvsc", 8);
	assert_int_equal(d->info.ring_pfns[7], 0x707);
	uint32_t open_id1 = d->info.open_id;

	/* The ring cannot be torn down under the open channel. */
	assert_int_equal(vmbus_client_gpadl_teardown(h->cl, 1, g), -EBUSY);

	/* Events both ways. */
	assert_int_equal(vmbus_server_channel_signal(d->ch), 0);
	pump(h);
	assert_int_equal(h->events, 1);
	assert_int_equal(h->event_relid, 1);
	assert_ptr_equal(h->event_ctx, &token);
	assert_int_equal(vmbus_client_signal(h->cl, 1), 0);
	assert_int_equal(h->signal_conn, SRV_CONN(1));
	assert_int_equal(d->signals, 1);
	assert_int_equal(vmbus_client_signal(h->cl, 2), -ENOTCONN);     /* offered, not open */

	/* Close: the device closes; no more events either way. */
	assert_int_equal(vmbus_client_close(h->cl, 1), 0);
	pump(h);
	assert_int_equal(d->closes, 1);
	assert_int_equal(vmbus_client_close(h->cl, 1), -ENOTCONN);
	assert_int_equal(vmbus_server_channel_signal(d->ch), -ENOTCONN);
	assert_int_equal(vmbus_client_handle_event(h->cl, 1), -ENOENT);
	assert_int_equal(vmbus_client_signal(h->cl, 1), -ENOTCONN);
	assert_int_equal(h->events, 1);

	/* Reopen with a new open id. */
	open_ok(h, 1, g, &token);
	assert_int_equal(d->opens, 2);
	assert_int_not_equal(d->info.open_id, open_id1);
	assert_int_equal(vmbus_client_close(h->cl, 1), 0);
	pump(h);
	assert_int_equal(d->closes, 2);

	/* The device refuses the open: reported with the server's status, channel closed. */
	d->open_rc = -EIO;
	assert_int_equal(vmbus_client_open(h->cl, 1, &p), 0);
	pump(h);
	assert_int_equal(h->opened, 3);
	assert_int_equal(h->opened_err, -ECONNREFUSED);
	assert_int_equal(h->opened_status, VMBUS_STATUS_UNSUCCESSFUL);
	assert_ptr_equal(h->opened_ctx, &token);
	assert_int_equal(vmbus_client_close(h->cl, 1), -ENOTCONN);
	d->open_rc = 0;
	open_ok(h, 1, g, NULL);

	/* Now the ring is free again after close. */
	assert_int_equal(vmbus_client_close(h->cl, 1), 0);
	assert_int_equal(vmbus_client_gpadl_teardown(h->cl, 1, g), 0);
	pump(h);
	assert_int_equal(h->torndown, 1);
	free_h(h);
}

static void test_rescind_release_reoffer(void **state)
{
	(void)state;
	struct h *h = new_pair(VMBUS_VERSION_WIN10_V5_3);
	int token;
	struct vmbus_channel *ch = offer_dev(h, 0, (struct vmbus_guid)VMBUS_GUID_SCSI);
	offer_dev(h, 1, (struct vmbus_guid)VMBUS_GUID_NETWORK);
	connect_ok(h, VMBUS_VERSION_WIN10_V5_3);
	uint32_t g = make_gpadl(h, 1, 8, 0x700);
	make_gpadl(h, 1, 2, 0x800);
	open_ok(h, 1, g, &token);
	assert_int_equal(vmbus_client_release(h->cl, 1), -EINVAL);     /* not rescinded */

	assert_int_equal(vmbus_server_rescind(ch), 0);
	pump(h);
	assert_int_equal(h->rescinds, 1);
	assert_int_equal(h->rescind_relid, 1);
	assert_ptr_equal(h->rescind_ctx, &token);
	/* Still open: close first. Nothing new may be built on it. */
	assert_int_equal(vmbus_client_release(h->cl, 1), -EBUSY);
	uint64_t pfn = 5;
	uint32_t id;
	assert_int_equal(vmbus_client_gpadl_create(h->cl, 1, &pfn, 1, &id), -ENODEV);
	assert_int_equal(vmbus_client_signal(h->cl, 1), 0);     /* still open on both sides */
	assert_int_equal(vmbus_client_close(h->cl, 1), 0);
	struct vmbus_client_open_params p = { .ring_gpadl = g, .downstream_offset = 4 };
	assert_int_equal(vmbus_client_open(h->cl, 1, &p), -ENODEV);
	assert_int_equal(vmbus_client_release(h->cl, 1), 0);
	assert_int_equal(last_post(h, VMBUS_MSG_RELID_RELEASED)->conn, VMBUS_CONN_ID_MESSAGE_4);
	pump(h);
	assert_int_equal(h->dev[0].releases, 1);
	assert_int_equal(h->dev[0].closes, 1);
	struct vmbus_client_offer o;
	assert_int_equal(vmbus_client_get_offer(h->cl, 1, &o), -ENOENT);
	assert_int_equal(vmbus_client_release(h->cl, 1), -ENOENT);
	struct vmbus_client_connection cc;
	vmbus_client_get_connection(h->cl, &cc);
	assert_int_equal(cc.offer_count, 1);
	assert_int_equal(cc.gpadl_count, 0);        /* both GPADLs went with the relid */
	struct vmbus_server_connection sc;
	vmbus_server_get_connection(h->srv, &sc);
	assert_int_equal(sc.gpadl_count, 0);

	/* The same device again: the server gives it relid 1 again, the client takes it. */
	int before = h->noffers;
	offer_dev(h, 0, (struct vmbus_guid)VMBUS_GUID_SCSI);
	pump(h);
	assert_int_equal(h->noffers, before + 1);
	assert_int_equal(h->offers[before].relid, 1);
	g = make_gpadl(h, 1, 8, 0x1700);
	open_ok(h, 1, g, NULL);

	/* Rescinding a closed channel: release at once. */
	assert_int_equal(vmbus_server_rescind(h->dev[1].ch), 0);
	pump(h);
	assert_int_equal(h->rescinds, 2);
	assert_null(h->rescind_ctx);
	assert_int_equal(vmbus_client_release(h->cl, 2), 0);
	pump(h);
	assert_int_equal(h->dev[1].releases, 1);
	free_h(h);
}

static void test_unload_reconnect(void **state)
{
	(void)state;
	struct h *h = new_pair(VMBUS_VERSION_WIN10);
	offer_dev(h, 0, (struct vmbus_guid)VMBUS_GUID_SCSI);
	offer_dev(h, 1, (struct vmbus_guid)VMBUS_GUID_NETWORK);
	connect_ok(h, VMBUS_VERSION_WIN10);
	uint32_t g = make_gpadl(h, 1, 6, 0x700);
	open_ok(h, 1, g, NULL);
	assert_int_equal(vmbus_client_unload(h->cl), 0);
	assert_int_equal(vmbus_client_unload(h->cl), -EBUSY);
	assert_int_equal(vmbus_client_connect(h->cl), -EBUSY);
	/* Below 5.0 everything goes to connection id 1. */
	assert_int_equal(last_post(h, VMBUS_MSG_UNLOAD)->conn, VMBUS_CONN_ID_MESSAGE);
	uint32_t id;
	uint64_t pfn = 1;
	assert_int_equal(vmbus_client_gpadl_create(h->cl, 1, &pfn, 1, &id), -ENOTCONN);
	assert_int_equal(vmbus_client_close(h->cl, 1), -ENOTCONN);
	pump(h);
	assert_int_equal(h->unloaded, 1);
	assert_int_equal(h->dev[0].closes, 1);
	struct vmbus_server_connection sc;
	vmbus_server_get_connection(h->srv, &sc);
	assert_false(sc.connected);
	struct vmbus_client_connection cc;
	vmbus_client_get_connection(h->cl, &cc);
	assert_int_equal(cc.state, VMBUS_CLIENT_DISCONNECTED);
	assert_int_equal(cc.offer_count, 0);
	assert_int_equal(cc.gpadl_count, 0);
	assert_int_equal(vmbus_client_signal(h->cl, 1), -ENOENT);

	/* Connect again: same offers again, GPADL ids keep counting. */
	connect_ok(h, VMBUS_VERSION_WIN10);
	assert_int_equal(h->noffers, 4);
	assert_int_equal(h->offers_done, 2);
	uint32_t g2 = make_gpadl(h, 1, 6, 0x700);
	assert_int_not_equal(g2, g);
	open_ok(h, 1, g2, NULL);
	free_h(h);
}

/* The whole life with the server's output delivered inside the client's posts (re-entrant). */
static void test_reentrant(void **state)
{
	(void)state;
	struct h *h = new_pair(0);
	h->direct = true;
	offer_dev(h, 0, (struct vmbus_guid)VMBUS_GUID_SCSI);
	offer_dev(h, 1, (struct vmbus_guid)VMBUS_GUID_NETWORK);
	assert_int_equal(vmbus_client_connect(h->cl), 0);
	assert_int_equal(h->connected, 1);
	assert_int_equal(h->version, VMBUS_VERSION_WIN10_V6_0);
	assert_int_equal(h->noffers, 2);
	assert_int_equal(h->offers_done, 1);
	uint64_t pfns[59];
	for (int i = 0; i < 59; i++)
		pfns[i] = 0x4000 + (uint64_t)i;
	uint32_t id = 0;
	assert_int_equal(vmbus_client_gpadl_create(h->cl, 2, pfns, 59, &id), 0);
	assert_int_equal(h->created, 1);            /* answered before create returned */
	assert_int_equal(h->created_id, id);
	assert_int_equal(h->created_err, 0);
	int token;
	struct vmbus_client_open_params p = { .ring_gpadl = id, .downstream_offset = 30,
					      .chan_ctx = &token };
	assert_int_equal(vmbus_client_open(h->cl, 2, &p), 0);
	assert_int_equal(h->opened, 1);
	assert_int_equal(h->opened_err, 0);
	assert_int_equal(h->dev[1].info.downstream_offset, 30);
	assert_int_equal(vmbus_server_channel_signal(h->dev[1].ch), 0);
	assert_int_equal(h->events, 1);
	assert_int_equal(vmbus_client_signal(h->cl, 2), 0);
	assert_int_equal(h->dev[1].signals, 1);
	assert_int_equal(vmbus_server_rescind(h->dev[1].ch), 0);
	assert_int_equal(h->rescinds, 1);
	assert_int_equal(vmbus_client_close(h->cl, 2), 0);
	assert_int_equal(vmbus_client_release(h->cl, 2), 0);
	assert_int_equal(h->dev[1].releases, 1);
	assert_int_equal(vmbus_client_unload(h->cl), 0);
	assert_int_equal(h->unloaded, 1);
	check_client(h);
	free_h(h);
}

/* The host's buffers are full: messages wait in order and go out on flush. */
static void test_backpressure(void **state)
{
	(void)state;
	struct h *h = new_pair(0);
	offer_dev(h, 0, (struct vmbus_guid)VMBUS_GUID_SCSI);
	h->client_slot_full = true;
	assert_int_equal(vmbus_client_connect(h->cl), 0);
	assert_int_equal(vmbus_client_pending(h->cl), 1);
	assert_int_equal(h->nposts, 0);
	h->client_slot_full = false;
	h->client_eagain = 2;
	vmbus_client_flush(h->cl);                  /* -EAGAIN again */
	vmbus_client_flush(h->cl);
	assert_int_equal(vmbus_client_pending(h->cl), 1);
	vmbus_client_flush(h->cl);
	assert_int_equal(vmbus_client_pending(h->cl), 0);
	pump(h);
	assert_int_equal(h->conn_err, 0);
	assert_int_equal(h->noffers, 1);

	/* Two of the largest GPADLs do not fit in the FIFO at once. */
	uint64_t *pfns = calloc(8190, sizeof(*pfns));
	assert_non_null(pfns);
	for (uint32_t i = 0; i < 8190; i++)
		pfns[i] = 0x10000 + i;
	h->client_slot_full = true;
	uint32_t a, b;
	assert_int_equal(vmbus_client_gpadl_create(h->cl, 1, pfns, 8190, &a), 0);
	assert_int_equal(vmbus_client_pending(h->cl), 293);
	assert_int_equal(vmbus_client_gpadl_create(h->cl, 1, pfns, 8190, &b), -ENOBUFS);
	assert_int_equal(vmbus_client_gpadl_create(h->cl, 1, pfns, 26 + 28 * 100, &b), 0);
	h->client_slot_full = false;
	vmbus_client_flush(h->cl);
	assert_int_equal(vmbus_client_pending(h->cl), 0);
	pump(h);
	assert_int_equal(h->created, 2);
	assert_int_equal(h->created_err, 0);
	struct vmbus_server_gpadl_desc *d;
	assert_int_equal(vmbus_server_gpadl(h->srv, 1, a, &d), 0);
	assert_int_equal(d->page_count, 8190);
	assert_int_equal(d->pfns[8189], 0x10000 + 8189);
	vmbus_server_gpadl_free(d);
	free(pfns);

	struct vmbus_client_stats st;
	vmbus_client_get_stats(h->cl, &st);
	assert_true(st.post_retries >= 4);
	assert_int_equal(st.post_errors, 0);
	assert_int_equal(st.out_dropped, 0);
	assert_int_equal(st.posted, h->nposts);
	free_h(h);
}

/* ------------------------------------------------------------------------------------------ */
/* Hostile host: the test writes the host's messages                                          */
/* ------------------------------------------------------------------------------------------ */

static struct h *new_alone(void)
{
	struct vmbus_client_config c = { .sint = VMBUS_MESSAGE_SINT };
	return new_h(NULL, &c);
}

/* Send a host message; returns the client's verdict. */
static int host(struct h *h, uint32_t type, void *msg, size_t len)
{
	struct vmbus_msg_header *hd = msg;
	hd->msgtype = type;
	hd->padding = 0;
	int rc = vmbus_client_handle_message(h->cl, msg, len);
	check_client(h);
	return rc;
}

static int version_response(struct h *h, uint8_t supported, uint8_t state, uint32_t conn,
			    uint32_t features)
{
	struct vmbus_msg_version_response vr;
	memset(&vr, 0, sizeof(vr));
	vr.version_supported = supported;
	vr.connection_state = state;
	vr.msg_conn_id = conn;
	vr.supported_features = features;
	return host(h, VMBUS_MSG_VERSION_RESPONSE, &vr, VMBUS_VERSION_RESPONSE_SIZE_V6);
}

/* Connected at 6.0 with messages on connection `conn`. */
static void host_connect(struct h *h, uint32_t conn)
{
	assert_int_equal(vmbus_client_connect(h->cl), 0);
	assert_int_equal(version_response(h, 1, 0, conn, 0), 0);
	assert_int_equal(h->conn_err, 0);
	assert_int_equal(h->version, VMBUS_VERSION_WIN10_V6_0);
}

static struct vmbus_msg_offer_channel offer_msg(uint32_t relid, uint8_t inst)
{
	struct vmbus_msg_offer_channel o;
	memset(&o, 0, sizeof(o));
	o.interface_type = (struct vmbus_guid)VMBUS_GUID_SCSI;
	o.instance = (struct vmbus_guid)VMBUS_GUID_INIT(0xabcdef00u, 1, 2, 3, 4, 5, 6, 7, 8, 9,
							 inst);
	o.child_relid = relid;
	o.connection_id = 0x2000 + relid;
	o.is_dedicated_interrupt = 1;
	return o;
}

static int host_offer(struct h *h, struct vmbus_msg_offer_channel *o)
{
	return host(h, VMBUS_MSG_OFFER_CHANNEL, o, sizeof(*o));
}

static void test_hostile_lengths_types(void **state)
{
	(void)state;
	struct h *h = new_alone();
	uint8_t buf[300];
	memset(buf, 0, sizeof(buf));
	assert_int_equal(vmbus_client_handle_message(h->cl, NULL, 8), -EMSGSIZE);
	assert_int_equal(vmbus_client_handle_message(h->cl, buf, 7), -EMSGSIZE);
	assert_int_equal(vmbus_client_handle_message(h->cl, buf, 241), -EMSGSIZE);
	assert_int_equal(vmbus_client_handle_message(h->cl, buf, 0), -EMSGSIZE);
	assert_int_equal(client_rejects(h, VMBUS_CLIENT_REJECT_LENGTH), 4);

	/* Unknown, client-to-server and never-requested types, in every state. */
	static const uint32_t bad_types[] = {
		0, 3, 5, 7, 8, 9, 11, 13, 14, 16, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29,
		30, 1000, 0xFFFFFFFFu,
	};
	for (int phase = 0; phase < 3; phase++) {
		if (phase == 1)
			assert_int_equal(vmbus_client_connect(h->cl), 0);
		if (phase == 2)
			assert_int_equal(version_response(h, 1, 0, 4, 0), 0);
		for (size_t i = 0; i < sizeof(bad_types) / sizeof(bad_types[0]); i++)
			assert_int_equal(host(h, bad_types[i], buf, 240), -EOPNOTSUPP);
	}
	assert_int_equal(client_rejects(h, VMBUS_CLIENT_REJECT_TYPE),
			 3 * sizeof(bad_types) / sizeof(bad_types[0]));

	/* Each known type one byte short. */
	static const struct { uint32_t type; size_t min; } mins[] = {
		{ VMBUS_MSG_OFFER_CHANNEL, 196 }, { VMBUS_MSG_RESCIND_CHANNEL_OFFER, 12 },
		{ VMBUS_MSG_OPEN_CHANNEL_RESULT, 20 }, { VMBUS_MSG_GPADL_CREATED, 20 },
		{ VMBUS_MSG_GPADL_TORNDOWN, 12 }, { VMBUS_MSG_VERSION_RESPONSE, 16 },
	};
	for (size_t i = 0; i < sizeof(mins) / sizeof(mins[0]); i++)
		assert_int_equal(host(h, mins[i].type, buf, mins[i].min - 1), -EMSGSIZE);
	assert_int_equal(client_rejects(h, VMBUS_CLIENT_REJECT_LENGTH), 4 + 6);

	/* Wrong state: answers nobody asked for. */
	assert_int_equal(host(h, VMBUS_MSG_VERSION_RESPONSE, buf, 16), -EPROTO);   /* connected */
	assert_int_equal(host(h, VMBUS_MSG_UNLOAD_RESPONSE, buf, 8), -EPROTO);
	assert_int_equal(host(h, VMBUS_MSG_ALL_OFFERS_DELIVERED, buf, 8), 0);
	assert_int_equal(host(h, VMBUS_MSG_ALL_OFFERS_DELIVERED, buf, 8), -EALREADY);
	assert_int_equal(client_rejects(h, VMBUS_CLIENT_REJECT_STATE), 3);
	assert_int_equal(h->connected, 1);
	assert_int_equal(h->offers_done, 1);
	assert_int_equal(h->unloaded, 0);
	assert_true(h->logs > 0);
	free_h(h);

	/* Before contact nothing is accepted, not even a well-formed offer or VersionResponse. */
	h = new_alone();
	struct vmbus_msg_offer_channel o = offer_msg(1, 1);
	assert_int_equal(host_offer(h, &o), -EPROTO);
	assert_int_equal(version_response(h, 1, 0, 4, 0), -EPROTO);
	assert_int_equal(host(h, VMBUS_MSG_UNLOAD_RESPONSE, buf, 8), -EPROTO);
	/* While contacting, only VersionResponse. */
	assert_int_equal(vmbus_client_connect(h->cl), 0);
	assert_int_equal(host_offer(h, &o), -EPROTO);
	assert_int_equal(host(h, VMBUS_MSG_ALL_OFFERS_DELIVERED, buf, 8), -EPROTO);
	assert_int_equal(h->noffers, 0);
	assert_int_equal(h->connected, 0);
	assert_int_equal(h->offers_done, 0);
	free_h(h);
}

static void test_hostile_version_response(void **state)
{
	(void)state;
	/* version_supported neither 0 nor 1. */
	struct h *h = new_alone();
	assert_int_equal(vmbus_client_connect(h->cl), 0);
	assert_int_equal(version_response(h, 2, 0, 4, 0), -EPROTO);
	assert_int_equal(h->conn_err, -EPROTO);
	assert_int_equal(h->type_count[VMBUS_MSG_REQUEST_OFFERS], 0);

	/* Refused with a connection state: no retry with older versions. */
	assert_int_equal(vmbus_client_connect(h->cl), 0);
	assert_int_equal(version_response(h, 0, VMBUS_CONNECTION_LOW_RESOURCES, 0, 0), 0);
	assert_int_equal(h->conn_err, -ECONNREFUSED);
	assert_int_equal(h->type_count[VMBUS_MSG_INITIATE_CONTACT], 2);
	/* Accepted but failed. */
	assert_int_equal(vmbus_client_connect(h->cl), 0);
	assert_int_equal(version_response(h, 1, VMBUS_CONNECTION_FAILED_UNKNOWN, 4, 0), 0);
	assert_int_equal(h->conn_err, -ECONNREFUSED);
	/* >= 5.0 without a message connection id. */
	assert_int_equal(vmbus_client_connect(h->cl), 0);
	assert_int_equal(version_response(h, 1, 0, 0, 0), -EPROTO);
	assert_int_equal(h->conn_err, -EPROTO);
	assert_int_equal(h->type_count[VMBUS_MSG_REQUEST_OFFERS], 0);
	assert_int_equal(client_rejects(h, VMBUS_CLIENT_REJECT_PARAM), 2);

	/* The answer's msg_conn_id is used from then on; unrequested features are ignored. */
	assert_int_equal(vmbus_client_connect(h->cl), 0);
	assert_int_equal(version_response(h, 1, 0, 0x1234, 0xFF), 0);
	assert_int_equal(h->conn_err, 0);
	assert_int_equal(last_post(h, VMBUS_MSG_REQUEST_OFFERS)->conn, 0x1234);
	struct vmbus_client_connection cc;
	vmbus_client_get_connection(h->cl, &cc);
	assert_int_equal(cc.features, 0);
	assert_int_equal(cc.msg_conn_id, 0x1234);
	free_h(h);

	/* Refusals walk down to WIN8 and stop. */
	h = new_alone();
	assert_int_equal(vmbus_client_connect(h->cl), 0);
	for (size_t i = 0; i < NVERSIONS; i++)
		assert_int_equal(version_response(h, 0, 0, 0, 0), 0);
	assert_int_equal(h->conn_err, -EPROTONOSUPPORT);
	assert_int_equal(h->type_count[VMBUS_MSG_INITIATE_CONTACT], NVERSIONS);
	/* A tenth answer finds nobody waiting. */
	assert_int_equal(version_response(h, 1, 0, 4, 0), -EPROTO);
	/* Below 5.0 the msg_conn_id is not used: connection 1. */
	assert_int_equal(vmbus_client_connect(h->cl), 0);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(version_response(h, 0, 0, 0, 0), 0);
	assert_int_equal(version_response(h, 1, 0, 0x9999, 0xFF), 0);
	assert_int_equal(h->version, VMBUS_VERSION_WIN10_V4_1);
	assert_int_equal(last_post(h, VMBUS_MSG_REQUEST_OFFERS)->conn, VMBUS_CONN_ID_MESSAGE);
	free_h(h);
}

static void test_hostile_offers(void **state)
{
	(void)state;
	struct h *h = new_alone();
	host_connect(h, 4);

	struct vmbus_msg_offer_channel o = offer_msg(0, 1);
	assert_int_equal(host_offer(h, &o), -ERANGE);
	o = offer_msg(VMBUS_CLIENT_MAX_RELID + 1, 1);
	assert_int_equal(host_offer(h, &o), -ERANGE);
	o = offer_msg(0xFFFFFFFFu, 1);
	assert_int_equal(host_offer(h, &o), -ERANGE);
	assert_int_equal(client_rejects(h, VMBUS_CLIENT_REJECT_RELID), 3);
	o = offer_msg(5, 1);
	memset(&o.interface_type, 0, sizeof(o.interface_type));
	assert_int_equal(host_offer(h, &o), -EINVAL);
	o = offer_msg(5, 1);
	o.connection_id = 0;
	assert_int_equal(host_offer(h, &o), -EINVAL);
	o = offer_msg(5, 1);
	o.monitor_allocated = 1;
	o.monitor_id = 128;
	assert_int_equal(host_offer(h, &o), -EINVAL);
	assert_int_equal(client_rejects(h, VMBUS_CLIENT_REJECT_PARAM), 3);
	assert_int_equal(h->noffers, 0);

	/* A good one; a monitor id without monitor_allocated is ignored. */
	o = offer_msg(VMBUS_CLIENT_MAX_RELID, 1);
	o.monitor_id = 200;
	o.is_dedicated_interrupt = 0xFFFE;
	assert_int_equal(host_offer(h, &o), 0);
	assert_int_equal(h->noffers, 1);
	assert_int_equal(h->offers[0].relid, VMBUS_CLIENT_MAX_RELID);
	assert_int_equal(h->offers[0].monitor_id, 0);
	assert_false(h->offers[0].dedicated_interrupt);
	o = offer_msg(3, 2);
	o.monitor_allocated = 0xFF;
	o.monitor_id = 127;
	assert_int_equal(host_offer(h, &o), 0);
	assert_true(h->offers[1].monitor_allocated);
	assert_int_equal(h->offers[1].monitor_id, 127);

	/* Duplicates: the same relid, the same device under another relid. */
	o = offer_msg(3, 9);
	assert_int_equal(host_offer(h, &o), -EEXIST);
	o = offer_msg(4, 2);
	assert_int_equal(host_offer(h, &o), -EEXIST);
	assert_int_equal(client_rejects(h, VMBUS_CLIENT_REJECT_DUPLICATE), 2);
	/* A sub-channel of the same device is another device. */
	o = offer_msg(4, 2);
	o.subchannel_index = 1;
	assert_int_equal(host_offer(h, &o), 0);
	assert_int_equal(h->noffers, 3);

	/* Longer than an offer: the rest is ignored. */
	uint8_t big[240];
	memset(big, 0xEE, sizeof(big));
	o = offer_msg(6, 6);
	memcpy(big, &o, sizeof(o));
	assert_int_equal(host(h, VMBUS_MSG_OFFER_CHANNEL, big, sizeof(big)), 0);
	assert_int_equal(h->noffers, 4);

	/* Up to 64 offers are held; the 65th is dropped. */
	for (uint32_t r = 100; h->noffers < (int)VMBUS_CLIENT_MAX_CHANNELS; r++) {
		o = offer_msg(r, (uint8_t)r);
		assert_int_equal(host_offer(h, &o), 0);
	}
	o = offer_msg(1000, 0xFF);
	assert_int_equal(host_offer(h, &o), -ENOSPC);
	assert_int_equal(client_rejects(h, VMBUS_CLIENT_REJECT_LIMIT), 1);
	assert_int_equal(h->noffers, 64);

	/* Rescind: unknown relid, twice. A rescinded relid still blocks a duplicate relid but
	 * not its device under a new relid. */
	struct vmbus_msg_relid r = { .child_relid = 1000 };
	assert_int_equal(host(h, VMBUS_MSG_RESCIND_CHANNEL_OFFER, &r, sizeof(r)), -ENOENT);
	r.child_relid = 0;
	assert_int_equal(host(h, VMBUS_MSG_RESCIND_CHANNEL_OFFER, &r, sizeof(r)), -ENOENT);
	r.child_relid = 3;
	assert_int_equal(host(h, VMBUS_MSG_RESCIND_CHANNEL_OFFER, &r, sizeof(r)), 0);
	assert_int_equal(host(h, VMBUS_MSG_RESCIND_CHANNEL_OFFER, &r, sizeof(r)), -EALREADY);
	assert_int_equal(h->rescinds, 1);
	o = offer_msg(3, 2);
	assert_int_equal(host_offer(h, &o), -EEXIST);
	assert_int_equal(vmbus_client_release(h->cl, 3), 0);
	assert_int_equal(last_post(h, VMBUS_MSG_RELID_RELEASED)->conn, 4);
	o = offer_msg(3, 2);
	assert_int_equal(host_offer(h, &o), 0);
	assert_int_equal(h->noffers, 65);
	free_h(h);
}

static void test_hostile_gpadl_open(void **state)
{
	(void)state;
	struct h *h = new_alone();
	host_connect(h, 4);
	struct vmbus_msg_offer_channel o = offer_msg(1, 1);
	assert_int_equal(host_offer(h, &o), 0);
	o = offer_msg(2, 2);
	assert_int_equal(host_offer(h, &o), 0);

	/* GpadlCreated for an id never requested, or 0. */
	struct vmbus_msg_gpadl_created gc = { .child_relid = 1, .gpadl = 0xE1E10 };
	assert_int_equal(host(h, VMBUS_MSG_GPADL_CREATED, &gc, sizeof(gc)), -ENOENT);
	gc.gpadl = 0;
	assert_int_equal(host(h, VMBUS_MSG_GPADL_CREATED, &gc, sizeof(gc)), -ENOENT);
	uint64_t pfns[8] = { 10, 11, 12, 13, 14, 15, 16, 17 };
	uint32_t id;
	assert_int_equal(vmbus_client_gpadl_create(h->cl, 1, pfns, 8, &id), 0);
	/* For the right id but another relid. */
	gc.gpadl = id;
	gc.child_relid = 2;
	assert_int_equal(host(h, VMBUS_MSG_GPADL_CREATED, &gc, sizeof(gc)), -ENOENT);
	/* Torn down before it was created. */
	struct vmbus_msg_gpadl_torndown gt = { .gpadl = id };
	assert_int_equal(host(h, VMBUS_MSG_GPADL_TORNDOWN, &gt, sizeof(gt)), -ENOENT);
	/* Not created yet: cannot open on it or tear it down. */
	struct vmbus_client_open_params p = { .ring_gpadl = id, .downstream_offset = 4 };
	assert_int_equal(vmbus_client_open(h->cl, 1, &p), -EINVAL);
	assert_int_equal(vmbus_client_gpadl_teardown(h->cl, 1, id), -ENOENT);
	assert_int_equal(h->created, 0);
	gc.child_relid = 1;
	assert_int_equal(host(h, VMBUS_MSG_GPADL_CREATED, &gc, sizeof(gc)), 0);
	assert_int_equal(h->created, 1);
	assert_int_equal(host(h, VMBUS_MSG_GPADL_CREATED, &gc, sizeof(gc)), -ENOENT);
	assert_int_equal(host(h, VMBUS_MSG_GPADL_TORNDOWN, &gt, sizeof(gt)), -ENOENT);
	assert_int_equal(client_rejects(h, VMBUS_CLIENT_REJECT_GPADL), 6);

	/* OpenChannelResult: not opening, unknown relid, another open id. */
	struct vmbus_msg_open_result res = { .child_relid = 1, .open_id = 1 };
	assert_int_equal(host(h, VMBUS_MSG_OPEN_CHANNEL_RESULT, &res, sizeof(res)), -ENOENT);
	res.child_relid = 77;
	assert_int_equal(host(h, VMBUS_MSG_OPEN_CHANNEL_RESULT, &res, sizeof(res)), -ENOENT);
	assert_int_equal(vmbus_client_open(h->cl, 1, &p), 0);
	struct vmbus_msg_open_channel oc;
	memcpy(&oc, last_post(h, VMBUS_MSG_OPEN_CHANNEL)->data, sizeof(oc));
	assert_int_equal(last_post(h, VMBUS_MSG_OPEN_CHANNEL)->len, VMBUS_OPEN_CHANNEL_SIZE_V1);
	res.child_relid = 1;
	res.open_id = oc.open_id + 1;
	assert_int_equal(host(h, VMBUS_MSG_OPEN_CHANNEL_RESULT, &res, sizeof(res)), -ESTALE);
	assert_int_equal(client_rejects(h, VMBUS_CLIENT_REJECT_OPEN_ID), 1);
	/* Events while opening reach the channel; not while closed, nor out of range. */
	assert_int_equal(vmbus_client_handle_event(h->cl, 1), 0);
	assert_int_equal(vmbus_client_handle_event(h->cl, 2), -ENOENT);
	assert_int_equal(vmbus_client_handle_event(h->cl, 0), -ENOENT);
	assert_int_equal(vmbus_client_handle_event(h->cl, 2048), -EINVAL);
	assert_int_equal(vmbus_client_handle_event(h->cl, 0xFFFFFFFFu), -EINVAL);
	assert_int_equal(h->events, 1);
	assert_int_equal(vmbus_client_close(h->cl, 1), -EBUSY);         /* still opening */
	res.open_id = oc.open_id;
	assert_int_equal(host(h, VMBUS_MSG_OPEN_CHANNEL_RESULT, &res, sizeof(res)), 0);
	assert_int_equal(h->opened, 1);
	assert_int_equal(h->opened_err, 0);
	assert_int_equal(host(h, VMBUS_MSG_OPEN_CHANNEL_RESULT, &res, sizeof(res)), -ENOENT);
	assert_int_equal(h->opened, 1);
	assert_int_equal(vmbus_client_signal(h->cl, 1), 0);
	assert_int_equal(h->signal_conn, 0x2001);

	/* The host rescinds while an open is pending: release forgets it, late answers drop. */
	assert_int_equal(vmbus_client_gpadl_create(h->cl, 2, pfns, 8, &id), 0);
	gc = (struct vmbus_msg_gpadl_created){ .child_relid = 2, .gpadl = id };
	assert_int_equal(host(h, VMBUS_MSG_GPADL_CREATED, &gc, sizeof(gc)), 0);
	p.ring_gpadl = id;
	assert_int_equal(vmbus_client_open(h->cl, 2, &p), 0);
	uint32_t pending_open;
	memcpy(&oc, last_post(h, VMBUS_MSG_OPEN_CHANNEL)->data, sizeof(oc));
	pending_open = oc.open_id;
	uint32_t id2;
	assert_int_equal(vmbus_client_gpadl_create(h->cl, 2, pfns, 4, &id2), 0);
	struct vmbus_msg_relid rr = { .child_relid = 2 };
	assert_int_equal(host(h, VMBUS_MSG_RESCIND_CHANNEL_OFFER, &rr, sizeof(rr)), 0);
	assert_int_equal(vmbus_client_release(h->cl, 2), 0);
	struct vmbus_client_connection cc;
	vmbus_client_get_connection(h->cl, &cc);
	assert_int_equal(cc.gpadl_count, 1);
	res = (struct vmbus_msg_open_result){ .child_relid = 2, .open_id = pending_open };
	assert_int_equal(host(h, VMBUS_MSG_OPEN_CHANNEL_RESULT, &res, sizeof(res)), -ENOENT);
	gc.gpadl = id2;
	assert_int_equal(host(h, VMBUS_MSG_GPADL_CREATED, &gc, sizeof(gc)), -ENOENT);
	assert_int_equal(h->opened, 1);
	assert_int_equal(h->created, 2);

	/* UnloadResponse only after Unload; then nothing but VersionResponse after connect. */
	uint8_t e[8] = { 0 };
	assert_int_equal(host(h, VMBUS_MSG_UNLOAD_RESPONSE, e, 8), -EPROTO);
	assert_int_equal(vmbus_client_unload(h->cl), 0);
	o = offer_msg(9, 9);
	assert_int_equal(host_offer(h, &o), -EPROTO);
	assert_int_equal(vmbus_client_handle_event(h->cl, 1), 0);   /* open until the answer */
	assert_int_equal(host(h, VMBUS_MSG_UNLOAD_RESPONSE, e, 8), 0);
	assert_int_equal(h->unloaded, 1);
	assert_int_equal(host(h, VMBUS_MSG_UNLOAD_RESPONSE, e, 8), -EPROTO);
	assert_int_equal(vmbus_client_handle_event(h->cl, 1), -ENOENT);
	free_h(h);
}

static void test_create_args(void **state)
{
	(void)state;
	struct vmbus_client *cl = NULL;
	struct vmbus_client_config c = { .sint = 2 };
	static const struct vmbus_client_ops no_signal = { .post_message = c_post };
	assert_int_equal(vmbus_client_create(NULL, NULL, &c, &cl), -EINVAL);
	assert_int_equal(vmbus_client_create(&no_signal, NULL, &c, &cl), -EINVAL);
	assert_int_equal(vmbus_client_create(&c_ops, NULL, NULL, &cl), -EINVAL);
	assert_int_equal(vmbus_client_create(&c_ops, NULL, &c, NULL), -EINVAL);
	struct vmbus_client_config bad[] = {
		{ .sint = 16 },
		{ .sint = 2, .vtl = 3 },
		{ .sint = 2, .max_version = 0x00060001 },
		{ .sint = 2, .min_version = VMBUS_VERSION_WIN7 },
		{ .sint = 2, .min_version = VMBUS_VERSION_WIN10_V5_3,
		  .max_version = VMBUS_VERSION_WIN10_V5 },
		{ .sint = 2, .monitor_page1 = 0x1001 },
		{ .sint = 2, .monitor_page2 = 1ull << 52 },
		{ .sint = 2, .interrupt_page = 0x800 },
		{ .sint = 7, .vtl = 2, .max_version = VMBUS_VERSION_WIN10_V4_1 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(vmbus_client_create(&c_ops, NULL, &bad[i], &cl), -EINVAL);
		assert_null(cl);
	}
	assert_int_equal(vmbus_client_create(&c_ops, NULL, &c, &cl), 0);
	vmbus_client_destroy(cl);
	vmbus_client_destroy(NULL);
	assert_int_equal(vmbus_client_connect(NULL), -EINVAL);
	assert_int_equal(vmbus_client_handle_message(NULL, "", 0), -EINVAL);
}

/* ------------------------------------------------------------------------------------------ */
/* Threads: close waits for event callbacks in flight                                         */
/* ------------------------------------------------------------------------------------------ */

struct race {
	struct h *h;
	int in_event;                   /* __atomic */
	int after_close;                /* event callbacks that started after close returned */
	int closed;                     /* __atomic */
	int stop;                       /* __atomic */
	unsigned delivered;
	bool close_inside;              /* the callback closes its own channel */
	int close_rc;
	int bad_ctx;                    /* __atomic: cmocka asserts only on the main thread */
};

static struct race *the_race;

static void r_event(void *ctx, uint32_t relid, void *chan_ctx)
{
	struct race *r = the_race;
	(void)ctx;
	if (chan_ctx != r || relid != 1)
		__atomic_add_fetch(&r->bad_ctx, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&r->closed, __ATOMIC_SEQ_CST))
		__atomic_add_fetch(&r->after_close, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&r->in_event, 1, __ATOMIC_SEQ_CST);
	usleep(200);
	if (r->close_inside)
		r->close_rc = vmbus_client_close(r->h->cl, relid);
	__atomic_store_n(&r->in_event, 0, __ATOMIC_SEQ_CST);
}

static void *r_thread(void *arg)
{
	struct race *r = arg;
	while (!__atomic_load_n(&r->stop, __ATOMIC_SEQ_CST))
		if (vmbus_client_handle_event(r->h->cl, 1) == 0)
			r->delivered++;
	return NULL;
}

static const struct vmbus_client_ops race_ops = {
	.post_message = c_post, .signal_event = c_signal, .event = r_event,
	.opened = c_opened, .gpadl_created = c_created,
};

static struct h *race_setup(struct race *r)
{
	struct h *h = calloc(1, sizeof(*h));
	assert_non_null(h);
	struct vmbus_client_config c = { .sint = VMBUS_MESSAGE_SINT };
	assert_int_equal(vmbus_client_create(&race_ops, h, &c, &h->cl), 0);
	r->h = h;
	the_race = r;
	assert_int_equal(vmbus_client_connect(h->cl), 0);
	assert_int_equal(version_response(h, 1, 0, 4, 0), 0);
	struct vmbus_msg_offer_channel o = offer_msg(1, 1);
	assert_int_equal(host_offer(h, &o), 0);
	uint64_t pfns[4] = { 1, 2, 3, 4 };
	uint32_t id;
	assert_int_equal(vmbus_client_gpadl_create(h->cl, 1, pfns, 4, &id), 0);
	struct vmbus_msg_gpadl_created gc = { .child_relid = 1, .gpadl = id };
	assert_int_equal(host(h, VMBUS_MSG_GPADL_CREATED, &gc, sizeof(gc)), 0);
	struct vmbus_client_open_params p = { .ring_gpadl = id, .downstream_offset = 2,
					      .chan_ctx = r };
	assert_int_equal(vmbus_client_open(h->cl, 1, &p), 0);
	struct vmbus_msg_open_channel oc;
	memcpy(&oc, last_post(h, VMBUS_MSG_OPEN_CHANNEL)->data, sizeof(oc));
	struct vmbus_msg_open_result res = { .child_relid = 1, .open_id = oc.open_id };
	assert_int_equal(host(h, VMBUS_MSG_OPEN_CHANNEL_RESULT, &res, sizeof(res)), 0);
	return h;
}

static void test_close_waits_for_events(void **state)
{
	(void)state;
	for (int round = 0; round < 20; round++) {
		struct race r;
		memset(&r, 0, sizeof(r));
		struct h *h = race_setup(&r);
		pthread_t t;
		assert_int_equal(pthread_create(&t, NULL, r_thread, &r), 0);
		while (!__atomic_load_n(&r.in_event, __ATOMIC_SEQ_CST))
			usleep(10);
		assert_int_equal(vmbus_client_close(h->cl, 1), 0);
		/* No callback is running when close returns, and none starts afterwards. */
		assert_int_equal(__atomic_load_n(&r.in_event, __ATOMIC_SEQ_CST), 0);
		__atomic_store_n(&r.closed, 1, __ATOMIC_SEQ_CST);
		usleep(2000);
		__atomic_store_n(&r.stop, 1, __ATOMIC_SEQ_CST);
		pthread_join(t, NULL);
		assert_int_equal(r.after_close, 0);
		assert_int_equal(r.bad_ctx, 0);
		assert_true(r.delivered >= 1);
		check_client(h);
		vmbus_client_destroy(h->cl);
		free(h);
	}
}

/* A channel's own event callback may close it (no self-deadlock). */
static void test_close_from_event(void **state)
{
	(void)state;
	struct race r;
	memset(&r, 0, sizeof(r));
	struct h *h = race_setup(&r);
	r.close_inside = true;
	assert_int_equal(vmbus_client_handle_event(h->cl, 1), 0);
	assert_int_equal(r.close_rc, 0);
	assert_int_equal(vmbus_client_handle_event(h->cl, 1), -ENOENT);
	assert_int_equal(h->type_count[VMBUS_MSG_CLOSE_CHANNEL], 1);
	check_client(h);
	vmbus_client_destroy(h->cl);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_each_version),
		cmocka_unit_test(test_connect_all_refused),
		cmocka_unit_test(test_vtl2_redirect),
		cmocka_unit_test(test_offers),
		cmocka_unit_test(test_gpadl_split),
		cmocka_unit_test(test_gpadl_refused),
		cmocka_unit_test(test_open_close_reopen),
		cmocka_unit_test(test_rescind_release_reoffer),
		cmocka_unit_test(test_unload_reconnect),
		cmocka_unit_test(test_reentrant),
		cmocka_unit_test(test_backpressure),
		cmocka_unit_test(test_hostile_lengths_types),
		cmocka_unit_test(test_hostile_version_response),
		cmocka_unit_test(test_hostile_offers),
		cmocka_unit_test(test_hostile_gpadl_open),
		cmocka_unit_test(test_create_args),
		cmocka_unit_test(test_close_waits_for_events),
		cmocka_unit_test(test_close_from_event),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
