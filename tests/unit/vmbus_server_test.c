/*
 * VMBus server (devices/vmbus/vmbus_server.c) driven by a fake client: messages go in through
 * vmbus_server_handle_message as a VTL0 client would post them, what the server posts and
 * signals is captured by a fake transport, and fake devices record their channel ops.
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

#include "devices/vmbus/vmbus_server.h"
#include "hvcall/vmbus_abi.h"

#define VPS        4u
#define RAM_PAGES  (1ull << 20)         /* 4 GiB of client RAM ... */
#define HOLE_FIRST 0x800ull             /* ... minus 16 pages the client may not describe */
#define HOLE_PAGES 16ull
#define PAGE       4096u
#define CONN(relid) (VMBUS_SERVER_CONN_ID_BASE + (relid))

/* ------------------------------------------------------------------------------------------ */
/* Fake transport (the client's side of the hypervisor)                                       */
/* ------------------------------------------------------------------------------------------ */

struct sent {
	struct vmbus_server_target t;
	size_t len;
	uint8_t data[VMBUS_MSG_MAX_SIZE];
};

struct event {
	struct vmbus_server_target t;
	uint16_t flag;
};

struct fake {
	pthread_mutex_t lock;
	struct sent q[1024];
	size_t head, n;
	bool slot_full;                 /* post_message answers -EAGAIN */
	struct event ev[64];
	size_t nev;
	unsigned logs;
};

static int fake_post(void *ctx, const struct vmbus_server_target *t, const void *msg, size_t len)
{
	struct fake *f = ctx;
	pthread_mutex_lock(&f->lock);
	if (f->slot_full) {
		pthread_mutex_unlock(&f->lock);
		return -EAGAIN;
	}
	assert_true(len >= 8 && len <= VMBUS_MSG_MAX_SIZE);
	assert_true(f->head + f->n < sizeof(f->q) / sizeof(f->q[0]));
	struct sent *s = &f->q[f->head + f->n++];
	s->t = *t;
	s->len = len;
	memcpy(s->data, msg, len);
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static int fake_signal(void *ctx, const struct vmbus_server_target *t, uint16_t flag)
{
	struct fake *f = ctx;
	pthread_mutex_lock(&f->lock);
	/* Keep the first ones (a stress test raises thousands). */
	if (f->nev < sizeof(f->ev) / sizeof(f->ev[0])) {
		f->ev[f->nev].t = *t;
		f->ev[f->nev].flag = flag;
		f->nev++;
	}
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static int fake_check_pages(void *ctx, gpn_t first, uint64_t count)
{
	(void)ctx;
	if (first.v >= RAM_PAGES || count > RAM_PAGES - first.v)
		return -EINVAL;
	if (first.v < HOLE_FIRST + HOLE_PAGES && first.v + count > HOLE_FIRST)
		return -EINVAL;
	return 0;
}

static void fake_log(void *ctx, const char *line)
{
	struct fake *f = ctx;
	assert_non_null(strstr(line, "vmbus: refused"));
	if (getenv("VMBUS_TEST_LOG"))
		fprintf(stderr, "%s\n", line);
	f->logs++;
}

static const struct vmbus_server_ops fake_ops = {
	.post_message = fake_post,
	.signal_event = fake_signal,
	.check_pages = fake_check_pages,
	.log = fake_log,
};

/* ------------------------------------------------------------------------------------------ */
/* Fake devices                                                                               */
/* ------------------------------------------------------------------------------------------ */

struct dev {
	struct fx *fx;
	struct vmbus_channel *ch;
	int open_rc;
	int opens, closes, signals, releases;
	struct vmbus_channel_open_info info;
	uint64_t pfns[64];
	/* re-entrancy: on open, offer a sub-channel and signal the client */
	bool offer_on_open;
	struct vmbus_channel *sub;
	int sub_offer_rc, open_signal_rc;
	/* threads: the signal op sleeps, close checks no signal is running */
	unsigned signal_sleep_us;
	int in_signal;                  /* __atomic: read by another thread */
	int close_during_signal;
};

struct fx {
	struct fake fake;
	struct vmbus_server *s;
	struct dev dev[4];
	struct dev subdev;
};

static const struct vmbus_channel_ops dev_ops;

static int dev_open(void *ctx, struct vmbus_channel *ch, const struct vmbus_channel_open_info *info)
{
	struct dev *d = ctx;
	assert_ptr_equal(ch, d->ch);
	d->opens++;
	d->info = *info;
	if (info->ring_page_count <= 64)
		memcpy(d->pfns, info->ring_pfns, info->ring_page_count * sizeof(uint64_t));
	if (d->offer_on_open) {
		struct vmbus_offer_params p = { .interface_type = VMBUS_GUID_SCSI,
						.instance = VMBUS_GUID_SCSI,
						.subchannel_index = 1 };
		struct dev *sub = &d->fx->subdev;
		sub->fx = d->fx;
		d->sub_offer_rc = vmbus_server_offer(d->fx->s, &p, &dev_ops, sub, &d->sub);
		d->fx->subdev.ch = d->sub;
		d->open_signal_rc = vmbus_server_channel_signal(ch);
	}
	return d->open_rc;
}

static void dev_close(void *ctx, struct vmbus_channel *ch)
{
	struct dev *d = ctx;
	assert_ptr_equal(ch, d->ch);
	if (__atomic_load_n(&d->in_signal, __ATOMIC_SEQ_CST))
		d->close_during_signal++;
	d->closes++;
}

static void dev_signal(void *ctx, struct vmbus_channel *ch)
{
	struct dev *d = ctx;
	assert_ptr_equal(ch, d->ch);
	__atomic_store_n(&d->in_signal, 1, __ATOMIC_SEQ_CST);
	if (d->signal_sleep_us)
		usleep(d->signal_sleep_us);
	d->signals++;
	__atomic_store_n(&d->in_signal, 0, __ATOMIC_SEQ_CST);
}

static void dev_released(void *ctx, struct vmbus_channel *ch)
{
	struct dev *d = ctx;
	assert_ptr_equal(ch, d->ch);
	d->releases++;
}

static const struct vmbus_channel_ops dev_ops = {
	.open = dev_open, .close = dev_close, .signal = dev_signal, .released = dev_released,
};

/* ------------------------------------------------------------------------------------------ */
/* Fixture and client helpers                                                                 */
/* ------------------------------------------------------------------------------------------ */

static struct fx *new_fx(uint32_t max_version)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	pthread_mutex_init(&f->fake.lock, NULL);
	struct vmbus_server_config cfg = { .vp_count = VPS, .client_vtl = 0,
					   .max_version = max_version };
	assert_int_equal(vmbus_server_create(&fake_ops, &f->fake, &cfg, &f->s), 0);
	for (int i = 0; i < 4; i++)
		f->dev[i].fx = f;
	return f;
}

static void check_ok(struct fx *f)
{
	char why[160] = "";
	int rc = vmbus_server_check(f->s, why, sizeof(why));
	if (rc)
		fail_msg("server inconsistent: %s", why);
}

static void free_fx(struct fx *f)
{
	check_ok(f);
	vmbus_server_destroy(f->s);
	pthread_mutex_destroy(&f->fake.lock);
	free(f);
}

static int setup(void **state)
{
	*state = new_fx(0);
	return 0;
}

static int teardown(void **state)
{
	free_fx(*state);
	return 0;
}

static uint64_t rejects(struct fx *f, enum vmbus_server_reject why)
{
	struct vmbus_server_stats st;
	vmbus_server_get_stats(f->s, &st);
	return st.rejects[why];
}

static struct vmbus_channel *offer(struct fx *f, int i, uint16_t subchannel)
{
	struct vmbus_offer_params p = {
		.interface_type = VMBUS_GUID_SCSI,
		.instance = VMBUS_GUID_INIT(0x11111111u + (uint32_t)i, 0x2222, 0x3333, 1, 2, 3, 4,
					    5, 6, 7, (uint8_t)i),
		.flags = VMBUS_OFFER_FLAG_NAMED_PIPE_MODE,
		.mmio_megabytes = 8,
		.subchannel_index = subchannel,
	};
	p.user_defined[0] = VMBUS_PIPE_MODE_MESSAGE;
	p.user_defined[119] = (uint8_t)(0xA0 + i);
	struct vmbus_channel *ch = NULL;
	assert_int_equal(vmbus_server_offer(f->s, &p, &dev_ops, &f->dev[i], &ch), 0);
	f->dev[i].ch = ch;
	return ch;
}

static int post(struct fx *f, uint32_t conn, const void *m, size_t len)
{
	return vmbus_server_handle_message(f->s, conn, m, len);
}

static size_t queued(struct fx *f)
{
	pthread_mutex_lock(&f->fake.lock);
	size_t n = f->fake.n;
	pthread_mutex_unlock(&f->fake.lock);
	return n;
}

/* Next message the server posted: its type must be `type`; returns its length. */
static size_t pop(struct fx *f, uint32_t type, void *buf, size_t cap, struct vmbus_server_target *t)
{
	pthread_mutex_lock(&f->fake.lock);
	assert_true(f->fake.n > 0);
	struct sent *s = &f->fake.q[f->fake.head++];
	f->fake.n--;
	pthread_mutex_unlock(&f->fake.lock);
	struct vmbus_msg_header h;
	memcpy(&h, s->data, sizeof(h));
	if (h.msgtype != type)
		fail_msg("expected message %u, got %u", type, h.msgtype);
	assert_int_equal(h.padding, 0);
	memset(buf, 0, cap);
	memcpy(buf, s->data, s->len < cap ? s->len : cap);
	if (t)
		*t = s->t;
	return s->len;
}

static void expect_none(struct fx *f)
{
	size_t n = queued(f);
	if (n) {
		struct vmbus_msg_header h;
		memcpy(&h, f->fake.q[f->fake.head].data, sizeof(h));
		fail_msg("%zu unexpected message(s), first of type %u", n, h.msgtype);
	}
}

static uint32_t contact_conn(uint32_t version)
{
	return version >= VMBUS_VERSION_WIN10_V5 ? VMBUS_CONN_ID_MESSAGE_4 : VMBUS_CONN_ID_MESSAGE;
}

static struct vmbus_msg_initiate_contact contact_msg(uint32_t version, uint32_t vp)
{
	struct vmbus_msg_initiate_contact ic;
	memset(&ic, 0, sizeof(ic));
	ic.hdr.msgtype = VMBUS_MSG_INITIATE_CONTACT;
	ic.version_requested = version;
	ic.target_vcpu = vp;
	if (version >= VMBUS_VERSION_WIN10_V5) {
		ic.msg_sint = VMBUS_MESSAGE_SINT;
		ic.msg_vtl = 0;
	} else {
		ic.interrupt_page = 0x3000;
	}
	ic.monitor_page1 = 0x1000;
	ic.monitor_page2 = 0x2000;
	return ic;
}

/* InitiateContact answered with VersionResponse; returns version_supported. */
static int contact_as(struct fx *f, uint32_t conn, const struct vmbus_msg_initiate_contact *ic,
		      size_t len, struct vmbus_msg_version_response *vr)
{
	(void)post(f, conn, ic, len);
	size_t n = pop(f, VMBUS_MSG_VERSION_RESPONSE, vr, sizeof(*vr), NULL);
	bool v6 = ic->version_requested >= VMBUS_VERSION_WIN10_V6_0;
	assert_int_equal(n, v6 ? VMBUS_VERSION_RESPONSE_SIZE_V6 : VMBUS_VERSION_RESPONSE_SIZE_V1);
	return vr->version_supported;
}

static void contact(struct fx *f, uint32_t version)
{
	struct vmbus_msg_initiate_contact ic = contact_msg(version, 0);
	struct vmbus_msg_version_response vr;
	assert_int_equal(contact_as(f, contact_conn(version), &ic, VMBUS_INITIATE_CONTACT_SIZE_V1,
				    &vr), 1);
	assert_int_equal(vr.connection_state, VMBUS_CONNECTION_OK);
}

static void send_empty(struct fx *f, uint32_t conn, uint32_t type, int want_rc)
{
	struct vmbus_msg_empty m = { .hdr.msgtype = type };
	assert_int_equal(post(f, conn, &m, sizeof(m)), want_rc);
}

/* RequestOffers: `n` offers with relids in `relids`, then AllOffersDelivered. */
static void request_offers(struct fx *f, uint32_t conn, unsigned n, const uint32_t *relids)
{
	send_empty(f, conn, VMBUS_MSG_REQUEST_OFFERS, 0);
	for (unsigned i = 0; i < n; i++) {
		struct vmbus_msg_offer_channel o;
		assert_int_equal(pop(f, VMBUS_MSG_OFFER_CHANNEL, &o, sizeof(o), NULL), sizeof(o));
		assert_int_equal(o.child_relid, relids[i]);
		assert_int_equal(o.connection_id, CONN(relids[i]));
	}
	struct vmbus_msg_empty e;
	assert_int_equal(pop(f, VMBUS_MSG_ALL_OFFERS_DELIVERED, &e, sizeof(e), NULL), 8);
}

/* Handshake at `version` with channels 0..n-1 offered first. */
static uint32_t connect(struct fx *f, uint32_t version, unsigned n)
{
	uint32_t relids[4];
	for (unsigned i = 0; i < n; i++) {
		offer(f, (int)i, 0);
		relids[i] = vmbus_server_channel_relid(f->dev[i].ch);
	}
	contact(f, version);
	uint32_t conn = contact_conn(version);
	request_offers(f, conn, n, relids);
	return conn;
}

static uint64_t pfn_of(uint32_t id, uint32_t i)
{
	return 0x10000u + (uint64_t)(id & 0x7F) * 0x1000u + (uint64_t)i * 3u;
}

/* Range data of one range: byte_offset, byte_count, then its PFNs. */
static size_t put_range(uint8_t *buf, uint32_t byte_offset, uint32_t byte_count,
			const uint64_t *pfns, size_t npfns)
{
	struct vmbus_gpa_range r = { .byte_count = byte_count, .byte_offset = byte_offset };
	memcpy(buf, &r, sizeof(r));
	memcpy(buf + sizeof(r), pfns, npfns * 8u);
	return sizeof(r) + npfns * 8u;
}

/*
 * Send GpadlHeader with `first` bytes of `data` (range_buflen = `buflen`), then GpadlBody
 * messages of at most `chunk` bytes with the rest of `data` (data_len may differ from buflen to
 * lie). Returns the rc of the last message.
 */
static int send_gpadl(struct fx *f, uint32_t conn, uint32_t relid, uint32_t id,
		      uint16_t rangecount, uint16_t buflen, const uint8_t *data, size_t data_len,
		      size_t first, size_t chunk)
{
	uint8_t m[VMBUS_MSG_MAX_SIZE + 64];
	struct vmbus_msg_gpadl_header h = {
		.hdr.msgtype = VMBUS_MSG_GPADL_HEADER, .child_relid = relid, .gpadl = id,
		.range_buflen = buflen, .rangecount = rangecount,
	};
	if (first > data_len)
		first = data_len;
	memcpy(m, &h, sizeof(h));
	memcpy(m + sizeof(h), data, first);
	int rc = post(f, conn, m, sizeof(h) + first);
	for (size_t off = first; off < data_len;) {
		size_t n = data_len - off < chunk ? data_len - off : chunk;
		struct vmbus_msg_gpadl_body b = { .hdr.msgtype = VMBUS_MSG_GPADL_BODY,
						  .gpadl = id };
		memcpy(m, &b, sizeof(b));
		memcpy(m + sizeof(b), data + off, n);
		rc = post(f, conn, m, sizeof(b) + n);
		off += n;
	}
	return rc;
}

/* A GPADL as Linux sends it: one page-aligned range, 26 PFNs in the header, 28 per body. */
static int gpadl_linux(struct fx *f, uint32_t conn, uint32_t relid, uint32_t id, uint32_t pages)
{
	static uint8_t data[8 + 8 * 8190];
	static uint64_t pfns[8190];
	for (uint32_t i = 0; i < pages; i++)
		pfns[i] = pfn_of(id, i);
	size_t len = put_range(data, 0, pages * PAGE, pfns, pages);
	return send_gpadl(f, conn, relid, id, 1, (uint16_t)len, data, len,
			  8 + 8 * VMBUS_GPADL_HEADER_MAX_PFNS, 8 * VMBUS_GPADL_BODY_MAX_PFNS);
}

static uint32_t pop_created(struct fx *f, uint32_t relid, uint32_t id)
{
	struct vmbus_msg_gpadl_created c;
	assert_int_equal(pop(f, VMBUS_MSG_GPADL_CREATED, &c, sizeof(c), NULL), sizeof(c));
	assert_int_equal(c.child_relid, relid);
	assert_int_equal(c.gpadl, id);
	return c.creation_status;
}

static void make_gpadl(struct fx *f, uint32_t conn, uint32_t relid, uint32_t id, uint32_t pages)
{
	assert_int_equal(gpadl_linux(f, conn, relid, id, pages), 0);
	assert_int_equal(pop_created(f, relid, id), VMBUS_STATUS_SUCCESS);
}

static struct vmbus_msg_open_channel open_msg(uint32_t relid, uint32_t open_id, uint32_t gpadl,
					      uint32_t downstream, uint32_t vp)
{
	struct vmbus_msg_open_channel o;
	memset(&o, 0, sizeof(o));
	o.hdr.msgtype = VMBUS_MSG_OPEN_CHANNEL;
	o.child_relid = relid;
	o.open_id = open_id;
	o.ring_gpadl = gpadl;
	o.target_vp = vp;
	o.downstream_ring_page_offset = downstream;
	for (unsigned i = 0; i < sizeof(o.user_data); i++)
		o.user_data[i] = (uint8_t)(i ^ open_id);
	return o;
}

/* OpenChannel answered by OpenChannelResult: returns its status. */
static uint32_t open_raw(struct fx *f, uint32_t conn, const struct vmbus_msg_open_channel *o,
			 size_t len)
{
	struct vmbus_msg_open_result r;
	(void)post(f, conn, o, len);
	assert_int_equal(pop(f, VMBUS_MSG_OPEN_CHANNEL_RESULT, &r, sizeof(r), NULL), sizeof(r));
	assert_int_equal(r.child_relid, o->child_relid);
	assert_int_equal(r.open_id, o->open_id);
	return r.status;
}

static uint32_t open_ch(struct fx *f, uint32_t conn, uint32_t relid, uint32_t open_id,
			uint32_t gpadl, uint32_t downstream, uint32_t vp)
{
	struct vmbus_msg_open_channel o = open_msg(relid, open_id, gpadl, downstream, vp);
	return open_raw(f, conn, &o, VMBUS_OPEN_CHANNEL_SIZE_V1);
}

static void send_relid_msg(struct fx *f, uint32_t conn, uint32_t type, uint32_t relid, int want)
{
	struct vmbus_msg_relid m = { .hdr.msgtype = type, .child_relid = relid };
	assert_int_equal(post(f, conn, &m, sizeof(m)), want);
}

static int teardown_gpadl(struct fx *f, uint32_t conn, uint32_t relid, uint32_t id)
{
	struct vmbus_msg_gpadl_teardown t = { .hdr.msgtype = VMBUS_MSG_GPADL_TEARDOWN,
					      .child_relid = relid, .gpadl = id };
	return post(f, conn, &t, sizeof(t));
}

static void pop_torndown(struct fx *f, uint32_t id)
{
	struct vmbus_msg_gpadl_torndown t;
	assert_int_equal(pop(f, VMBUS_MSG_GPADL_TORNDOWN, &t, sizeof(t), NULL), sizeof(t));
	assert_int_equal(t.gpadl, id);
}

static uint32_t gpadl_count(struct fx *f)
{
	struct vmbus_server_connection c;
	vmbus_server_get_connection(f->s, &c);
	return c.gpadl_count;
}

/* ------------------------------------------------------------------------------------------ */
/* ABI                                                                                        */
/* ------------------------------------------------------------------------------------------ */

static void format_guid(const struct vmbus_guid *g, char out[37])
{
	snprintf(out, 37, "%08x-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", g->data1, g->data2,
		 g->data3, g->data4[0], g->data4[1], g->data4[2], g->data4[3], g->data4[4],
		 g->data4[5], g->data4[6], g->data4[7]);
}

static void test_guids(void **state)
{
	(void)state;
	/* hyperv-abi-facts 3.3: the wire bytes of the storvsc class. */
	static const uint8_t scsi_wire[16] = { 0xd9, 0x63, 0x61, 0xba, 0xa1, 0x04, 0x29, 0x4d,
					       0xb6, 0x05, 0x72, 0xe2, 0xff, 0xb1, 0xdc, 0x7f };
	struct vmbus_guid scsi = VMBUS_GUID_SCSI;
	assert_memory_equal(&scsi, scsi_wire, 16);

	/* hyperv-abi-facts 3.7, as text. */
	static const struct { struct vmbus_guid g; const char *text; } table[] = {
		{ VMBUS_GUID_NETWORK, "f8615163-df3e-46c5-913f-f2d2f965ed0e" },
		{ VMBUS_GUID_SCSI, "ba6163d9-04a1-4d29-b605-72e2ffb1dc7f" },
		{ VMBUS_GUID_IDE, "32412632-86cb-44a2-9b5c-50d1417354f5" },
		{ VMBUS_GUID_SERIAL, "8b60ccf6-709f-4c11-90b5-229c959a9e6a" },
		{ VMBUS_GUID_SERIAL_COM1, "700df40e-b947-4776-b839-d1b0a35af034" },
		{ VMBUS_GUID_SERIAL_COM2, "7e55f4b8-af84-4e98-9f1a-8e8d0bde3744" },
		{ VMBUS_GUID_SERIAL_COM3, "3f158fa1-b0aa-45e9-ba54-9fc73f6c59ec" },
		{ VMBUS_GUID_SERIAL_COM4, "8688a06f-9b53-48ce-b408-7581626228c5" },
		{ VMBUS_GUID_KEYBOARD, "f912ad6d-2b17-48ea-bd65-f927a61c7684" },
		{ VMBUS_GUID_KEYBOARD_INSTANCE, "d34b2567-b9b6-42b9-8778-0a4ec0b955bf" },
		{ VMBUS_GUID_MOUSE, "cfa8b69e-5b4a-4cc0-b98b-8ba1a1f3f95a" },
		{ VMBUS_GUID_MOUSE_INSTANCE, "58f75a6d-d949-4320-99e1-a2a2576d581c" },
		{ VMBUS_GUID_VIDEO, "da0a7802-e377-4aac-8e77-0558eb1073f8" },
		{ VMBUS_GUID_KVP, "a9a0f4e7-5a45-4d96-b827-8a841e8c03e6" },
		{ VMBUS_GUID_TIMESYNC, "9527e630-d0ae-497b-adce-e80ab0175caf" },
		{ VMBUS_GUID_HEARTBEAT, "57164f39-9115-4e78-ab55-382f3bd5422d" },
		{ VMBUS_GUID_SHUTDOWN, "0e0b6031-5213-4934-818b-38d90ced39db" },
		{ VMBUS_GUID_VSS, "35fa2e29-ea23-4236-96ae-3a6ebacba440" },
		{ VMBUS_GUID_FILE_COPY, "34d14be3-dee4-41c8-9ae7-6b174977c192" },
		{ VMBUS_GUID_DYNAMIC_MEMORY, "525074dc-8985-46e2-8057-a307dc18a502" },
		{ VMBUS_GUID_PCIE, "44c4f61d-4444-4400-9d52-802e27ede19f" },
		{ VMBUS_GUID_SYNTH_FC, "2f9bcc4a-0069-4af3-b76b-6fd0be528cda" },
		{ VMBUS_GUID_NETWORK_DIRECT, "8c2eaf3d-32a7-4b09-ab99-bd1f1c86b501" },
		{ VMBUS_GUID_RDV, "276aacf4-ac15-426c-98dd-7521ad3f01fe" },
		{ VMBUS_GUID_AVMA1, "f8e65716-3cb3-4a06-9a60-1889c5cccab5" },
		{ VMBUS_GUID_AVMA2, "3375baf4-9e15-4b30-b765-67acb10d607b" },
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		char text[37];
		format_guid(&table[i].g, text);
		assert_string_equal(text, table[i].text);
	}
	assert_int_equal(vmbus_conn_id_redirect(2, 0, VMBUS_VTL2_SINT),
			 VMBUS_CONN_ID_VTL2_REDIRECT);
	assert_int_equal(vmbus_conn_id_channel(0, 2, 0), VMBUS_SERVER_CONN_ID_BASE);
}

/* ------------------------------------------------------------------------------------------ */
/* Contact                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static const uint32_t good_versions[] = {
	VMBUS_VERSION_WIN8, VMBUS_VERSION_WIN8_1, VMBUS_VERSION_WIN10, VMBUS_VERSION_WIN10_V4_1,
	VMBUS_VERSION_WIN10_V5, VMBUS_VERSION_WIN10_V5_1, VMBUS_VERSION_WIN10_V5_2,
	VMBUS_VERSION_WIN10_V5_3, VMBUS_VERSION_WIN10_V6_0,
};

static void test_handshake_each_version(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(good_versions) / sizeof(good_versions[0]); i++) {
		uint32_t v = good_versions[i];
		struct fx *f = new_fx(0);
		bool v5 = v >= VMBUS_VERSION_WIN10_V5;
		uint32_t conn = contact_conn(v);
		struct vmbus_msg_initiate_contact ic = contact_msg(v, 3);
		if (v5)
			ic.msg_sint = 5;
		struct vmbus_msg_version_response vr;
		struct vmbus_server_target t;
		assert_int_equal(post(f, conn, &ic, sizeof(ic) - 16), 0);
		size_t n = pop(f, VMBUS_MSG_VERSION_RESPONSE, &vr, sizeof(vr), &t);
		assert_int_equal(n, v >= VMBUS_VERSION_WIN10_V6_0 ? 20 : 16);
		assert_int_equal(vr.version_supported, 1);
		assert_int_equal(vr.connection_state, VMBUS_CONNECTION_OK);
		assert_int_equal(vr.msg_conn_id, v5 ? 4 : 1);
		/* The answer goes where the client asked (SINT 2 below 5.0). */
		assert_int_equal(t.vp, 3);
		assert_int_equal(t.sint, v5 ? 5 : VMBUS_MESSAGE_SINT);
		assert_int_equal(t.vtl, 0);

		struct vmbus_server_connection c;
		vmbus_server_get_connection(f->s, &c);
		assert_true(c.connected);
		assert_int_equal(c.version, v);
		assert_int_equal(c.msg_conn_id, conn);
		assert_int_equal(c.monitor_page1, 0x1000);
		assert_int_equal(c.monitor_page2, 0x2000);
		assert_int_equal(c.interrupt_page, v5 ? 0 : 0x3000);

		/* Later messages: only on the negotiated connection id. */
		uint32_t other = conn == 1 ? 4 : 1;
		send_empty(f, other, VMBUS_MSG_REQUEST_OFFERS, -EINVAL);
		assert_int_equal(rejects(f, VMBUS_SERVER_REJECT_CONN_ID), 1);
		expect_none(f);
		send_empty(f, conn, VMBUS_MSG_REQUEST_OFFERS, 0);
		struct vmbus_msg_empty e;
		assert_int_equal(pop(f, VMBUS_MSG_ALL_OFFERS_DELIVERED, &e, sizeof(e), &t), 8);
		assert_int_equal(t.sint, v5 ? 5 : VMBUS_MESSAGE_SINT);
		expect_none(f);
		free_fx(f);
	}
}

static void test_version_rejected(void **state)
{
	struct fx *f = *state;
	static const uint32_t bad[] = {
		VMBUS_VERSION_WS2008, VMBUS_VERSION_WIN7, 0x00020003u, 0x00040002u, 0x00050004u,
		0x00060001u, 0x00070000u, 0xFFFFFFFFu, 0,
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct vmbus_msg_initiate_contact ic = contact_msg(bad[i], 0);
		struct vmbus_msg_version_response vr;
		assert_int_equal(contact_as(f, contact_conn(bad[i]), &ic, 40, &vr), 0);
		assert_int_equal(vr.connection_state, VMBUS_CONNECTION_OK);
		struct vmbus_server_connection c;
		vmbus_server_get_connection(f->s, &c);
		assert_false(c.connected);
	}
	assert_int_equal(rejects(f, VMBUS_SERVER_REJECT_VERSION), sizeof(bad) / sizeof(bad[0]));
	/* Linux's fallback: newest first, then older, until one is accepted. */
	contact(f, VMBUS_VERSION_WIN10_V6_0);
	expect_none(f);
}

static void test_version_ceiling(void **state)
{
	(void)state;
	struct fx *f = new_fx(VMBUS_VERSION_WIN10_V5_2);
	struct vmbus_msg_initiate_contact ic = contact_msg(VMBUS_VERSION_WIN10_V6_0, 0);
	struct vmbus_msg_version_response vr;
	assert_int_equal(contact_as(f, 4, &ic, 40, &vr), 0);
	ic = contact_msg(VMBUS_VERSION_WIN10_V5_3, 0);
	assert_int_equal(contact_as(f, 4, &ic, 40, &vr), 0);
	ic = contact_msg(VMBUS_VERSION_WIN10_V5_2, 0);
	assert_int_equal(contact_as(f, 4, &ic, 40, &vr), 1);
	free_fx(f);

	struct vmbus_server *s = NULL;
	struct vmbus_server_config cfg = { .vp_count = 1, .max_version = 0x00050004u };
	assert_int_equal(vmbus_server_create(&fake_ops, NULL, &cfg, &s), -EINVAL);
	cfg = (struct vmbus_server_config){ .vp_count = 0 };
	assert_int_equal(vmbus_server_create(&fake_ops, NULL, &cfg, &s), -EINVAL);
	cfg = (struct vmbus_server_config){ .vp_count = 1, .conn_id_base = 2 };
	assert_int_equal(vmbus_server_create(&fake_ops, NULL, &cfg, &s), -EINVAL);
	assert_null(s);
}

static void test_contact_connection_ids(void **state)
{
	struct fx *f = *state;
	struct vmbus_msg_version_response vr;
	/* 5.0 and up on id 1, older ones on id 4: refused with an answer. */
	struct vmbus_msg_initiate_contact ic = contact_msg(VMBUS_VERSION_WIN10_V5, 0);
	assert_int_equal(contact_as(f, VMBUS_CONN_ID_MESSAGE, &ic, 40, &vr), 0);
	ic = contact_msg(VMBUS_VERSION_WIN10, 0);
	assert_int_equal(contact_as(f, VMBUS_CONN_ID_MESSAGE_4, &ic, 40, &vr), 0);
	assert_int_equal(rejects(f, VMBUS_SERVER_REJECT_CONN_ID), 2);
	/* Not a message connection at all: -ENOENT, nothing posted. */
	assert_int_equal(post(f, 2, &ic, 40), -ENOENT);
	assert_int_equal(post(f, CONN(1), &ic, 40), -ENOENT);
	assert_int_equal(post(f, VMBUS_CONN_ID_VTL2_REDIRECT, &ic, 40), -ENOENT);
	expect_none(f);
	struct vmbus_server_connection c;
	vmbus_server_get_connection(f->s, &c);
	assert_false(c.connected);
}

static void test_contact_bad_target(void **state)
{
	struct fx *f = *state;
	struct vmbus_msg_initiate_contact ic = contact_msg(VMBUS_VERSION_WIN10_V5_3, VPS);
	assert_int_equal(post(f, 4, &ic, 40), -EINVAL);
	ic = contact_msg(VMBUS_VERSION_WIN10_V5_3, 0);
	ic.msg_vtl = 2;         /* a VTL0 client naming VTL2's SINT */
	assert_int_equal(post(f, 4, &ic, 40), -EINVAL);
	ic = contact_msg(VMBUS_VERSION_WIN10_V5_3, 0);
	ic.msg_sint = 16;
	assert_int_equal(post(f, 4, &ic, 40), -EINVAL);
	ic = contact_msg(VMBUS_VERSION_WIN8, 0xFFFFFFFFu);
	assert_int_equal(post(f, 1, &ic, 40), -EINVAL);
	/* Too short to read: dropped. */
	ic = contact_msg(VMBUS_VERSION_WIN10_V5_3, 0);
	assert_int_equal(post(f, 4, &ic, 39), -EMSGSIZE);
	expect_none(f);
	assert_int_equal(rejects(f, VMBUS_SERVER_REJECT_PARAM), 4);
	assert_int_equal(rejects(f, VMBUS_SERVER_REJECT_LENGTH), 1);
	contact(f, VMBUS_VERSION_WIN10_V5_3);
}

static void test_contact_bad_pages(void **state)
{
	struct fx *f = *state;
	struct vmbus_msg_version_response vr;
	static const uint64_t bad[] = { 0x1001, 0x10000000000000ull, HOLE_FIRST * PAGE,
					RAM_PAGES * PAGE };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct vmbus_msg_initiate_contact ic = contact_msg(VMBUS_VERSION_WIN10_V5, 0);
		if (i & 1)
			ic.monitor_page1 = bad[i];
		else
			ic.monitor_page2 = bad[i];
		assert_int_equal(contact_as(f, 4, &ic, 40, &vr), 0);
		assert_int_equal(vr.connection_state, VMBUS_CONNECTION_FAILED_UNKNOWN);
	}
	/* Below 5.0 the interrupt page is checked too. */
	struct vmbus_msg_initiate_contact ic = contact_msg(VMBUS_VERSION_WIN10, 0);
	ic.interrupt_page = 0x3008;
	assert_int_equal(contact_as(f, 1, &ic, 40, &vr), 0);
	assert_int_equal(rejects(f, VMBUS_SERVER_REJECT_PARAM), 5);
	struct vmbus_server_connection c;
	vmbus_server_get_connection(f->s, &c);
	assert_false(c.connected);
}

static void test_contact_features(void **state)
{
	struct fx *f = *state;
	struct vmbus_msg_initiate_contact ic = contact_msg(VMBUS_VERSION_WIN10_V6_0, 1);
	struct vmbus_msg_version_response vr;
	struct vmbus_guid id = VMBUS_GUID_INIT(0xdeadbeef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
	ic.feature_flags = 0xFFFFFFFFu;
	ic.client_id = id;
	assert_int_equal(contact_as(f, 4, &ic, sizeof(ic), &vr), 1);
	assert_int_equal(vr.supported_features, VMBUS_FEATURE_GUEST_SPECIFIED_SIGNAL |
						VMBUS_FEATURE_MODIFY_CONNECTION |
						VMBUS_FEATURE_CLIENT_ID);
	struct vmbus_server_connection c;
	vmbus_server_get_connection(f->s, &c);
	assert_int_equal(c.features, vr.supported_features);
	assert_true(c.has_client_id);
	assert_memory_equal(&c.client_id, &id, sizeof(id));

	/* Contact again while connected: refused, the connection unchanged. */
	struct vmbus_msg_initiate_contact again = contact_msg(VMBUS_VERSION_WIN8, 0);
	assert_int_equal(contact_as(f, 1, &again, 40, &vr), 0);
	assert_int_equal(vr.connection_state, VMBUS_CONNECTION_FAILED_UNKNOWN);
	assert_int_equal(rejects(f, VMBUS_SERVER_REJECT_STATE), 1);
	vmbus_server_get_connection(f->s, &c);
	assert_int_equal(c.version, VMBUS_VERSION_WIN10_V6_0);
	assert_int_equal(c.target.vp, 1);

	/* 5.x: the same bytes are not feature flags. */
	struct fx *g = new_fx(0);
	ic = contact_msg(VMBUS_VERSION_WIN10_V5_3, 0);
	ic.feature_flags = 0xFF;
	assert_int_equal(contact_as(g, 4, &ic, sizeof(ic), &vr), 1);
	vmbus_server_get_connection(g->s, &c);
	assert_int_equal(c.features, 0);
	assert_false(c.has_client_id);
	free_fx(g);

	/* 6.0 in 40 bytes: no client id. */
	g = new_fx(0);
	ic = contact_msg(VMBUS_VERSION_WIN10_V6_0, 0);
	ic.feature_flags = VMBUS_FEATURE_PAUSE_RESUME;
	assert_int_equal(contact_as(g, 4, &ic, 40, &vr), 1);
	assert_int_equal(vr.supported_features, 0);
	vmbus_server_get_connection(g->s, &c);
	assert_false(c.has_client_id);
	free_fx(g);
}

static void test_before_contact(void **state)
{
	struct fx *f = *state;
	offer(f, 0, 0);
	send_empty(f, 1, VMBUS_MSG_REQUEST_OFFERS, -ENOTCONN);
	send_empty(f, 4, VMBUS_MSG_UNLOAD, -ENOTCONN);
	assert_int_equal(gpadl_linux(f, 1, 1, 0x100, 4), -ENOTCONN);
	struct vmbus_msg_open_channel o = open_msg(1, 1, 0x100, 2, 0);
	assert_int_equal(post(f, 1, &o, sizeof(o)), -ENOTCONN);
	send_relid_msg(f, 4, VMBUS_MSG_CLOSE_CHANNEL, 1, -ENOTCONN);
	expect_none(f);
	assert_int_equal(rejects(f, VMBUS_SERVER_REJECT_STATE), 5);
	assert_int_equal(gpadl_count(f), 0);
	assert_int_equal(f->dev[0].opens, 0);
	/* Hostile framing is refused before anything else. */
	uint8_t junk[VMBUS_MSG_MAX_SIZE + 1] = { 0 };
	assert_int_equal(post(f, 1, junk, 7), -EMSGSIZE);
	assert_int_equal(post(f, 1, junk, sizeof(junk)), -EMSGSIZE);
	assert_int_equal(post(f, 1, NULL, 16), -EMSGSIZE);
	assert_true(f->fake.logs > 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Offers                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static void test_offers(void **state)
{
	struct fx *f = *state;
	offer(f, 0, 0);
	offer(f, 1, 0);
	expect_none(f);
	contact(f, VMBUS_VERSION_WIN10_V5_2);
	send_empty(f, 4, VMBUS_MSG_REQUEST_OFFERS, 0);
	for (int i = 0; i < 2; i++) {
		struct vmbus_msg_offer_channel o;
		struct vmbus_guid scsi = VMBUS_GUID_SCSI;
		struct vmbus_guid inst = VMBUS_GUID_INIT(0x11111111u + (uint32_t)i, 0x2222, 0x3333,
							 1, 2, 3, 4, 5, 6, 7, (uint8_t)i);
		assert_int_equal(pop(f, VMBUS_MSG_OFFER_CHANNEL, &o, sizeof(o), NULL), 196);
		assert_memory_equal(&o.interface_type, &scsi, 16);
		assert_memory_equal(&o.instance, &inst, 16);
		assert_int_equal(o.child_relid, (uint32_t)i + 1);
		assert_int_equal(o.connection_id, CONN((uint32_t)i + 1));
		assert_int_equal(o.flags, VMBUS_OFFER_FLAG_NAMED_PIPE_MODE);
		assert_int_equal(o.mmio_megabytes, 8);
		assert_int_equal(o.user_defined[0], VMBUS_PIPE_MODE_MESSAGE);
		assert_int_equal(o.user_defined[119], 0xA0 + i);
		assert_int_equal(o.monitor_allocated, 0);
		assert_int_equal(o.is_dedicated_interrupt, 1);
		for (int k = 0; k < 16; k++)
			assert_int_equal(o.reserved[k], 0);
	}
	struct vmbus_msg_empty e;
	pop(f, VMBUS_MSG_ALL_OFFERS_DELIVERED, &e, sizeof(e), NULL);
	/* An offer after RequestOffers goes out at once. */
	offer(f, 2, 7);
	struct vmbus_msg_offer_channel o;
	pop(f, VMBUS_MSG_OFFER_CHANNEL, &o, sizeof(o), NULL);
	assert_int_equal(o.child_relid, 3);
	assert_int_equal(o.subchannel_index, 7);
	/* RequestOffers twice: refused, silent. */
	send_empty(f, 4, VMBUS_MSG_REQUEST_OFFERS, -EALREADY);
	expect_none(f);

	/* Bad offers from devices. */
	struct vmbus_offer_params p = { .flags = 0x8000 };
	struct vmbus_channel *ch;
	assert_int_equal(vmbus_server_offer(f->s, &p, &dev_ops, NULL, &ch), -EINVAL);
	assert_null(ch);
	p.flags = 0;
	struct vmbus_channel_ops no_close = { .open = dev_open, .released = dev_released };
	assert_int_equal(vmbus_server_offer(f->s, &p, &no_close, NULL, &ch), -EINVAL);
}

static void test_offer_limit(void **state)
{
	struct fx *f = *state;
	static struct dev devs[VMBUS_SERVER_MAX_CHANNELS];
	struct vmbus_offer_params p = { .interface_type = VMBUS_GUID_KVP };
	memset(devs, 0, sizeof(devs));
	for (uint32_t i = 0; i < VMBUS_SERVER_MAX_CHANNELS; i++) {
		assert_int_equal(vmbus_server_offer(f->s, &p, &dev_ops, &devs[i], &devs[i].ch), 0);
		assert_int_equal(vmbus_server_channel_relid(devs[i].ch), i + 1);
	}
	struct vmbus_channel *ch;
	assert_int_equal(vmbus_server_offer(f->s, &p, &dev_ops, &devs[0], &ch), -ENOSPC);
	/* Rescinding one the client never saw frees its relid at once. */
	assert_int_equal(vmbus_server_rescind(devs[9].ch), 0);
	assert_int_equal(devs[9].releases, 1);
	assert_int_equal(vmbus_server_offer(f->s, &p, &dev_ops, &devs[9], &devs[9].ch), 0);
	assert_int_equal(vmbus_server_channel_relid(devs[9].ch), 10);
}

/* ------------------------------------------------------------------------------------------ */
/* GPADLs                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static void check_gpadl_pages(struct fx *f, uint32_t relid, uint32_t id, uint32_t pages)
{
	struct vmbus_server_gpadl_desc *d;
	assert_int_equal(vmbus_server_gpadl(f->s, relid, id, &d), 0);
	assert_int_equal(d->gpadl_id, id);
	assert_int_equal(d->relid, relid);
	assert_int_equal(d->page_count, pages);
	assert_int_equal(d->range_count, 1);
	assert_int_equal(d->ranges[0].byte_count, pages * PAGE);
	assert_int_equal(d->ranges[0].byte_offset, 0);
	assert_int_equal(d->ranges[0].page_count, pages);
	for (uint32_t i = 0; i < pages; i++)
		assert_int_equal(d->pfns[i], pfn_of(id, i));
	vmbus_server_gpadl_free(d);
}

static void test_gpadl_boundaries(void **state)
{
	struct fx *f = *state;
	uint32_t conn = connect(f, VMBUS_VERSION_WIN10_V5_3, 1);
	/* 26: the header alone. 27: header + 1. 54: header + one full body (240 B). 55: + 1. */
	static const uint32_t sizes[] = { 1, 25, 26, 27, 53, 54, 55, 82, 83, 300 };
	for (uint32_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t before;
		struct vmbus_server_stats st;
		vmbus_server_get_stats(f->s, &st);
		before = st.messages;
		make_gpadl(f, conn, 1, 0x100 + i, sizes[i]);
		vmbus_server_get_stats(f->s, &st);
		uint32_t rest = sizes[i] > 26 ? sizes[i] - 26 : 0;
		assert_int_equal(st.messages - before, 1 + (rest + 27) / 28);
		check_gpadl_pages(f, 1, 0x100 + i, sizes[i]);
		check_ok(f);
	}
	assert_int_equal(gpadl_count(f), sizeof(sizes) / sizeof(sizes[0]));

	/* A header with 27 PFNs or a body with 29 does not fit in 240 bytes: too long. */
	uint8_t data[8 + 8 * 60];
	uint64_t pfns[60];
	for (int i = 0; i < 60; i++)
		pfns[i] = 0x5000 + (uint64_t)i;
	size_t len = put_range(data, 0, 57 * PAGE, pfns, 57);
	assert_int_equal(send_gpadl(f, conn, 1, 0x200, 1, (uint16_t)len, data, 8 + 27 * 8,
				    8 + 27 * 8, 8), -EMSGSIZE);
	expect_none(f);
	assert_int_equal(send_gpadl(f, conn, 1, 0x200, 1, (uint16_t)len, data, 8 + 26 * 8,
				    8 + 26 * 8, 8), 0);
	uint8_t m[256];
	struct vmbus_msg_gpadl_body b = { .hdr.msgtype = VMBUS_MSG_GPADL_BODY, .gpadl = 0x200 };
	memcpy(m, &b, sizeof(b));
	memcpy(m + sizeof(b), data + 8 + 26 * 8, 29 * 8);
	assert_int_equal(post(f, conn, m, sizeof(b) + 29 * 8), -EMSGSIZE);
	expect_none(f);         /* still waiting: the refused message changed nothing */
	assert_int_equal(post(f, conn, m, sizeof(b) + 28 * 8), 0);
	expect_none(f);
	memcpy(m + sizeof(b), data + 8 + 54 * 8, 3 * 8);
	assert_int_equal(post(f, conn, m, sizeof(b) + 3 * 8), 0);
	assert_int_equal(pop_created(f, 1, 0x200), 0);
	struct vmbus_server_gpadl_desc *d;
	assert_int_equal(vmbus_server_gpadl(f->s, 1, 0x200, &d), 0);
	assert_int_equal(d->page_count, 57);
	assert_int_equal(d->pfns[56], 0x5000 + 56);
	vmbus_server_gpadl_free(d);
	/* Lookup: wrong relid, unknown id. */
	assert_int_equal(vmbus_server_gpadl(f->s, 2, 0x200, &d), -ENOENT);
	assert_int_equal(vmbus_server_gpadl(f->s, 1, 0x201, &d), -ENOENT);
	assert_null(d);
}

static void test_gpadl_multi_range(void **state)
{
	struct fx *f = *state;
	uint32_t conn = connect(f, VMBUS_VERSION_WIN10_V6_0, 2);
	uint8_t data[512];
	size_t len = 0;
	uint64_t p1[] = { 0x7001, 0x7003, 0x7002 };   /* 0x2100 bytes from 0x100: 3 pages */
	uint64_t p2[] = { 0x9000 };                    /* 1 byte */
	uint64_t p3[] = { 0xA000, 0xA001 };            /* 2 bytes straddling a page end */
	len += put_range(data + len, 0x100, 0x2000, p1, 3);
	len += put_range(data + len, 0, 1, p2, 1);
	len += put_range(data + len, 0xFFF, 2, p3, 2);
	/* Split at odd 8-byte boundaries: the range headers themselves straddle messages. */
	assert_int_equal(send_gpadl(f, conn, 2, 0xE1E10, 3, (uint16_t)len, data, len, 16, 24), 0);
	assert_int_equal(pop_created(f, 2, 0xE1E10), 0);
	struct vmbus_server_gpadl_desc *d;
	assert_int_equal(vmbus_server_gpadl(f->s, 2, 0xE1E10, &d), 0);
	assert_int_equal(d->range_count, 3);
	assert_int_equal(d->page_count, 6);
	const struct vmbus_server_gpadl_range want[3] = {
		{ 0x2000, 0x100, 0, 3 }, { 1, 0, 3, 1 }, { 2, 0xFFF, 4, 2 },
	};
	assert_memory_equal(d->ranges, want, sizeof(want));
	static const uint64_t pf[6] = { 0x7001, 0x7003, 0x7002, 0x9000, 0xA000, 0xA001 };
	assert_memory_equal(d->pfns, pf, sizeof(pf));
	vmbus_server_gpadl_free(d);
	/* Not whole pages: may not be a ring. */
	assert_int_equal(open_ch(f, conn, 2, 1, 0xE1E10, 2, 0), VMBUS_STATUS_INVALID_PARAMETER);
	assert_int_equal(f->dev[1].opens, 0);
}

/* One hostile GPADL: answered GpadlCreated(relid, id, status), then nothing kept. */
static void bad_gpadl(struct fx *f, uint32_t conn, uint32_t id, uint16_t rangecount,
		      uint16_t buflen, const uint8_t *data, size_t len, size_t first, size_t chunk,
		      uint32_t status)
{
	uint32_t before = gpadl_count(f);
	assert_true(send_gpadl(f, conn, 1, id, rangecount, buflen, data, len, first, chunk) < 0);
	assert_int_equal(pop_created(f, 1, id), status);
	expect_none(f);
	assert_int_equal(gpadl_count(f), before);
	check_ok(f);
}

static void test_gpadl_hostile(void **state)
{
	struct fx *f = *state;
	uint32_t conn = connect(f, VMBUS_VERSION_WIN10_V5_3, 1);
	uint8_t d[1024];
	uint64_t pf[64];
	for (int i = 0; i < 64; i++)
		pf[i] = 0x20000 + (uint64_t)i;
	const uint32_t INVAL = VMBUS_STATUS_INVALID_PARAMETER;
	size_t n;

	/* range_buflen promises more than the bodies bring: the overshooting body kills it. */
	n = put_range(d, 0, 30 * PAGE, pf, 30);
	bad_gpadl(f, conn, 1, 1, (uint16_t)(n - 8), d, n, 8 + 26 * 8, 64, INVAL);
	/* range_buflen not a multiple of 8, zero, or too small for the ranges. */
	n = put_range(d, 0, 2 * PAGE, pf, 2);
	bad_gpadl(f, conn, 2, 1, (uint16_t)(n + 4), d, n, n, 8, INVAL);
	bad_gpadl(f, conn, 3, 1, 0, d, n, n, 8, INVAL);
	bad_gpadl(f, conn, 4, 2, (uint16_t)n, d, n, n, 8, INVAL);
	/* rangecount 0; more ranges than range_buflen can hold, caught at the header. */
	bad_gpadl(f, conn, 5, 0, (uint16_t)n, d, n, n, 8, INVAL);
	bad_gpadl(f, conn, 5, 20, 64, d, 16, 16, 8, INVAL);
	/* The header carries more than range_buflen. */
	bad_gpadl(f, conn, 6, 1, 16, d, n, n, 8, INVAL);
	/* Header chunk not a multiple of 8 (answered at once), body chunk not a multiple of 8. */
	bad_gpadl(f, conn, 7, 1, (uint16_t)n, d, 12, 12, 8, INVAL);
	bad_gpadl(f, conn, 8, 1, (uint16_t)n, d, n, 8, 4, INVAL);
	/* Ranges use fewer bytes than range_buflen (a stray PFN at the end). */
	n = put_range(d, 0, 2 * PAGE, pf, 3);
	bad_gpadl(f, conn, 9, 1, (uint16_t)n, d, n, n, 8, INVAL);
	/* More pages than PFNs: byte_count says 3 pages, 2 PFNs given. */
	n = put_range(d, 0, 2 * PAGE + 1, pf, 2);
	bad_gpadl(f, conn, 10, 1, (uint16_t)n, d, n, n, 8, INVAL);
	/* Offset + count overflowing 32 bits: 0x100001 pages. */
	n = put_range(d, 0xFFF, 0xFFFFFFFFu, pf, 2);
	bad_gpadl(f, conn, 11, 1, (uint16_t)n, d, n, n, 8, INVAL);
	/* byte_offset outside the first page, byte_count 0. */
	n = put_range(d, PAGE, 8, pf, 2);
	bad_gpadl(f, conn, 12, 1, (uint16_t)n, d, n, n, 8, INVAL);
	n = put_range(d, 0, 0, pf, 1);
	bad_gpadl(f, conn, 13, 1, (uint16_t)n, d, n, n, 8, INVAL);
	/* An empty range (no PFNs) among good ones, sizes otherwise consistent. */
	n = put_range(d, 0, 0, pf, 0);
	n += put_range(d + n, 0, 2 * PAGE, pf, 2);
	n += put_range(d + n, 0, PAGE, pf + 2, 1);
	bad_gpadl(f, conn, 13, 3, (uint16_t)n, d, n, n, 8, INVAL);
	/* PFN beyond 52 bits; PFN in the client's hole (check_pages), at the end of a run. */
	uint64_t far[2] = { 0x20000, 1ull << 40 };
	n = put_range(d, 0, 2 * PAGE, far, 2);
	bad_gpadl(f, conn, 14, 1, (uint16_t)n, d, n, n, 8, INVAL);
	uint64_t hole[3] = { HOLE_FIRST - 2, HOLE_FIRST - 1, HOLE_FIRST };
	n = put_range(d, 0, 3 * PAGE, hole, 3);
	bad_gpadl(f, conn, 15, 1, (uint16_t)n, d, n, n, 8, INVAL);
	/* Id 0; unknown relid. */
	n = put_range(d, 0, PAGE, pf, 1);
	bad_gpadl(f, conn, 0, 1, (uint16_t)n, d, n, n, 8, INVAL);
	struct vmbus_msg_gpadl_header h = { .hdr.msgtype = VMBUS_MSG_GPADL_HEADER,
					    .child_relid = 9, .gpadl = 16,
					    .range_buflen = (uint16_t)n, .rangecount = 1 };
	uint8_t m[64];
	memcpy(m, &h, sizeof(h));
	memcpy(m + sizeof(h), d, n);
	assert_int_equal(post(f, conn, m, sizeof(h) + n), -ENOENT);
	assert_int_equal(pop_created(f, 9, 16), INVAL);

	/* Duplicate id: refused, the first one untouched. */
	make_gpadl(f, conn, 1, 0x50, 4);
	assert_int_equal(gpadl_linux(f, conn, 1, 0x50, 2), -EEXIST);
	assert_int_equal(pop_created(f, 1, 0x50), VMBUS_STATUS_OBJECT_NAME_COLLISION);
	check_gpadl_pages(f, 1, 0x50, 4);
	/* Also while the first one is still waiting for bodies. */
	n = put_range(d, 0, 30 * PAGE, pf, 26);
	assert_int_equal(send_gpadl(f, conn, 1, 0x51, 1, (uint16_t)(n + 32), d, n, n, 8), 0);
	expect_none(f);
	assert_int_equal(gpadl_linux(f, conn, 1, 0x51, 1), -EEXIST);
	assert_int_equal(pop_created(f, 1, 0x51), VMBUS_STATUS_OBJECT_NAME_COLLISION);

	/* Bodies for nobody, too short, or for a complete GPADL: dropped silently. */
	struct vmbus_msg_gpadl_body b = { .hdr.msgtype = VMBUS_MSG_GPADL_BODY, .gpadl = 0x99 };
	uint8_t bm[24] = { 0 };
	memcpy(bm, &b, sizeof(b));
	assert_int_equal(post(f, conn, bm, sizeof(bm)), -ENOENT);
	b.gpadl = 0x50;
	memcpy(bm, &b, sizeof(b));
	assert_int_equal(post(f, conn, bm, sizeof(bm)), -ENOENT);
	assert_int_equal(post(f, conn, bm, 15), -EMSGSIZE);
	assert_int_equal(post(f, conn, m, 19), -EMSGSIZE);
	expect_none(f);
	check_gpadl_pages(f, 1, 0x50, 4);
	check_ok(f);
	/* The pending one completes normally afterwards. */
	b.gpadl = 0x51;
	uint8_t full[16 + 32];
	memcpy(full, &b, sizeof(b));
	memcpy(full + 16, &pf[26], 32);
	assert_int_equal(post(f, conn, full, sizeof(full)), 0);
	assert_int_equal(pop_created(f, 1, 0x51), 0);
	struct vmbus_server_gpadl_desc *desc;
	assert_int_equal(vmbus_server_gpadl(f->s, 1, 0x51, &desc), 0);
	assert_int_equal(desc->page_count, 30);
	assert_int_equal(desc->pfns[29], pf[29]);
	vmbus_server_gpadl_free(desc);
}

/* Without check_pages every page inside the 52-bit physical space is accepted. */
static void test_gpadl_no_ram_check(void **state)
{
	(void)state;
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	pthread_mutex_init(&f->fake.lock, NULL);
	static const struct vmbus_server_ops ops = { .post_message = fake_post,
						     .signal_event = fake_signal };
	struct vmbus_server_config cfg = { .vp_count = 1 };
	assert_int_equal(vmbus_server_create(&ops, &f->fake, &cfg, &f->s), 0);
	f->dev[0].fx = f;
	uint32_t conn = connect(f, VMBUS_VERSION_WIN10_V5_3, 1);
	uint8_t d[64];
	uint64_t top[2] = { (1ull << 40) - 2, (1ull << 40) - 1 };
	size_t n = put_range(d, 0, 2 * PAGE, top, 2);
	assert_int_equal(send_gpadl(f, conn, 1, 1, 1, (uint16_t)n, d, n, n, 8), 0);
	assert_int_equal(pop_created(f, 1, 1), 0);
	top[1] = 1ull << 40;
	n = put_range(d, 0, 2 * PAGE, top, 2);
	assert_int_equal(send_gpadl(f, conn, 1, 2, 1, (uint16_t)n, d, n, n, 8), -EINVAL);
	assert_int_equal(pop_created(f, 1, 2), VMBUS_STATUS_INVALID_PARAMETER);
	free_fx(f);
}

static void test_gpadl_limits(void **state)
{
	struct fx *f = *state;
	uint32_t conn = connect(f, VMBUS_VERSION_WIN10_V5_3, 1);
	uint8_t d[8 + 8 * 26];
	uint64_t pf[26];
	for (int i = 0; i < 26; i++)
		pf[i] = 0x30000 + (uint64_t)i;
	size_t n = put_range(d, 0, 26 * PAGE, pf, 26);

	/* Headers waiting for bodies: at most VMBUS_SERVER_MAX_PENDING_GPADLS. */
	for (uint32_t i = 0; i < VMBUS_SERVER_MAX_PENDING_GPADLS; i++)
		assert_int_equal(send_gpadl(f, conn, 1, 0x1000 + i, 1, (uint16_t)(n + 8), d, n, n,
					    8), 0);
	expect_none(f);
	assert_int_equal(send_gpadl(f, conn, 1, 0x2000, 1, (uint16_t)(n + 8), d, n, n, 8), -ENOSPC);
	assert_int_equal(pop_created(f, 1, 0x2000), VMBUS_STATUS_INSUFFICIENT_RESOURCES);
	/* A complete one still fits. */
	make_gpadl(f, conn, 1, 0x2001, 3);
	/* The pending ones tear down without ever completing. */
	for (uint32_t i = 0; i < VMBUS_SERVER_MAX_PENDING_GPADLS; i++) {
		assert_int_equal(teardown_gpadl(f, conn, 1, 0x1000 + i), 0);
		pop_torndown(f, 0x1000 + i);
	}
	assert_int_equal(gpadl_count(f), 1);

	/* GPADLs per connection. */
	for (uint32_t i = 1; i < VMBUS_SERVER_MAX_GPADLS; i++)
		make_gpadl(f, conn, 1, 0x3000 + i, 1);
	assert_int_equal(gpadl_linux(f, conn, 1, 0x4000, 1), -ENOSPC);
	assert_int_equal(pop_created(f, 1, 0x4000), VMBUS_STATUS_INSUFFICIENT_RESOURCES);
	check_ok(f);
	for (uint32_t i = 1; i < VMBUS_SERVER_MAX_GPADLS; i++) {
		assert_int_equal(teardown_gpadl(f, conn, 1, 0x3000 + i), 0);
		pop_torndown(f, 0x3000 + i);
	}

	/* The biggest GPADL a 16-bit range_buflen describes; pages in all are limited. */
	uint32_t fit = VMBUS_SERVER_MAX_TOTAL_PAGES / VMBUS_SERVER_MAX_GPADL_PAGES;
	uint32_t made = 0;
	for (uint32_t i = 0; i < fit; i++, made++)
		make_gpadl(f, conn, 1, 0x5000 + i, VMBUS_SERVER_MAX_GPADL_PAGES - (i == 0 ? 3 : 0));
	assert_int_equal(gpadl_linux(f, conn, 1, 0x6000, VMBUS_SERVER_MAX_GPADL_PAGES), -ENOSPC);
	assert_int_equal(pop_created(f, 1, 0x6000), VMBUS_STATUS_INSUFFICIENT_RESOURCES);
	struct vmbus_server_connection c;
	vmbus_server_get_connection(f->s, &c);
	/* 0x2001's 3 pages, then `made` GPADLs of which the first is 3 pages short. */
	assert_int_equal(c.gpadl_pages, (uint64_t)made * VMBUS_SERVER_MAX_GPADL_PAGES);
	assert_true(c.gpadl_pages <= VMBUS_SERVER_MAX_TOTAL_PAGES);
	check_ok(f);
}

static void test_gpadl_teardown(void **state)
{
	struct fx *f = *state;
	uint32_t conn = connect(f, VMBUS_VERSION_WIN10_V5_3, 2);
	make_gpadl(f, conn, 1, 0x10, 4);
	make_gpadl(f, conn, 2, 0x20, 4);
	assert_int_equal(teardown_gpadl(f, conn, 2, 0x10), -ENOENT);   /* wrong relid */
	assert_int_equal(teardown_gpadl(f, conn, 1, 0x30), -ENOENT);   /* unknown */
	expect_none(f);
	assert_int_equal(teardown_gpadl(f, conn, 1, 0x10), 0);
	pop_torndown(f, 0x10);
	assert_int_equal(teardown_gpadl(f, conn, 1, 0x10), -ENOENT);
	expect_none(f);
	/* The id is free again. */
	make_gpadl(f, conn, 2, 0x10, 2);
	assert_int_equal(gpadl_count(f), 2);
}

/* ------------------------------------------------------------------------------------------ */
/* Channels                                                                                   */
/* ------------------------------------------------------------------------------------------ */

static void test_open_close_reopen(void **state)
{
	struct fx *f = *state;
	uint32_t conn = connect(f, VMBUS_VERSION_WIN10_V5_3, 2);
	make_gpadl(f, conn, 1, 0xE1E10, 8);
	assert_int_equal(open_ch(f, conn, 1, 0x77, 0xE1E10, 4, 2), 0);
	struct dev *d = &f->dev[0];
	assert_int_equal(d->opens, 1);
	assert_int_equal(d->info.relid, 1);
	assert_int_equal(d->info.open_id, 0x77);
	assert_int_equal(d->info.target_vp, 2);
	assert_int_equal(d->info.ring_gpadl, 0xE1E10);
	assert_int_equal(d->info.ring_page_count, 8);
	assert_int_equal(d->info.downstream_offset, 4);
	for (uint32_t i = 0; i < 8; i++)
		assert_int_equal(d->pfns[i], pfn_of(0xE1E10, i));
	for (unsigned i = 0; i < VMBUS_OPEN_USER_DATA_SIZE; i++)
		assert_int_equal(d->info.user_data[i], (uint8_t)(i ^ 0x77));

	/* Client -> device. */
	assert_int_equal(vmbus_server_channel_conn_id(d->ch), CONN(1));
	assert_int_equal(vmbus_server_signal(f->s, CONN(1)), 0);
	assert_int_equal(d->signals, 1);
	assert_int_equal(vmbus_server_signal(f->s, CONN(2)), -ENOENT);    /* relid 2 not open */
	assert_int_equal(vmbus_server_signal(f->s, 12345), -ENOENT);
	/* Device -> client: SIEF bit = relid, on the channel's VP, the client's SINT. */
	assert_int_equal(vmbus_server_channel_signal(d->ch), 0);
	assert_int_equal(f->fake.nev, 1);
	assert_int_equal(f->fake.ev[0].flag, 1);
	assert_int_equal(f->fake.ev[0].t.vp, 2);
	assert_int_equal(f->fake.ev[0].t.sint, VMBUS_MESSAGE_SINT);
	assert_int_equal(f->fake.ev[0].t.vtl, 0);
	assert_int_equal(vmbus_server_channel_signal(f->dev[1].ch), -ENOTCONN);
	check_ok(f);

	/* Close: no answer; the ring GPADL can go; signals stop. */
	send_relid_msg(f, conn, VMBUS_MSG_CLOSE_CHANNEL, 1, 0);
	expect_none(f);
	assert_int_equal(d->closes, 1);
	assert_int_equal(vmbus_server_signal(f->s, CONN(1)), -ENOENT);
	assert_int_equal(d->signals, 1);
	assert_int_equal(vmbus_server_channel_signal(d->ch), -ENOTCONN);
	send_relid_msg(f, conn, VMBUS_MSG_CLOSE_CHANNEL, 1, -EINVAL);   /* closed already */
	assert_int_equal(rejects(f, VMBUS_SERVER_REJECT_CHANNEL_STATE), 1);
	check_ok(f);

	/* Reopen with the same GPADL, another VP and split. */
	assert_int_equal(open_ch(f, conn, 1, 0x78, 0xE1E10, 2, 3), 0);
	assert_int_equal(d->opens, 2);
	assert_int_equal(d->info.downstream_offset, 2);
	assert_int_equal(vmbus_server_channel_target_vp(d->ch), 3);
	send_relid_msg(f, conn, VMBUS_MSG_CLOSE_CHANNEL, 1, 0);
	assert_int_equal(teardown_gpadl(f, conn, 1, 0xE1E10), 0);
	pop_torndown(f, 0xE1E10);
	assert_int_equal(d->closes, 2);
}

static void test_open_hostile(void **state)
{
	struct fx *f = *state;
	uint32_t conn = connect(f, VMBUS_VERSION_WIN10_V5_3, 2);
	const uint32_t INVAL = VMBUS_STATUS_INVALID_PARAMETER;
	make_gpadl(f, conn, 1, 0x10, 6);
	make_gpadl(f, conn, 2, 0x20, 6);
	make_gpadl(f, conn, 1, 0x11, 3);

	assert_int_equal(open_ch(f, conn, 1, 1, 0x99, 3, 0), INVAL);       /* no such GPADL */
	assert_int_equal(open_ch(f, conn, 1, 1, 0x20, 3, 0), INVAL);       /* another channel's */
	assert_int_equal(open_ch(f, conn, 1, 1, 0x11, 1, 0), INVAL);       /* 3 pages: too small */
	assert_int_equal(open_ch(f, conn, 1, 1, 0x10, 0, 0), INVAL);       /* empty halves */
	assert_int_equal(open_ch(f, conn, 1, 1, 0x10, 1, 0), INVAL);
	assert_int_equal(open_ch(f, conn, 1, 1, 0x10, 5, 0), INVAL);
	assert_int_equal(open_ch(f, conn, 1, 1, 0x10, 6, 0), INVAL);
	assert_int_equal(open_ch(f, conn, 1, 1, 0x10, 0xFFFFFFFFu, 0), INVAL);
	assert_int_equal(open_ch(f, conn, 1, 1, 0x10, 3, VPS), INVAL);     /* no such VP */
	assert_int_equal(open_ch(f, conn, 9, 1, 0x10, 3, 0), INVAL);       /* no such relid */
	assert_int_equal(open_ch(f, conn, 0, 1, 0x10, 3, 0), INVAL);
	struct vmbus_msg_open_channel o = open_msg(1, 1, 0x10, 3, 0);
	assert_int_equal(post(f, conn, &o, VMBUS_OPEN_CHANNEL_SIZE_V1 - 1), -EMSGSIZE);
	expect_none(f);
	assert_int_equal(f->dev[0].opens, 0);
	check_ok(f);

	/* A GPADL still waiting for bodies is no ring. */
	uint8_t d[8 + 8 * 26];
	uint64_t pf[26] = { 0 };
	for (int i = 0; i < 26; i++)
		pf[i] = 0x40000 + (uint64_t)i;
	size_t n = put_range(d, 0, 30 * PAGE, pf, 26);
	assert_int_equal(send_gpadl(f, conn, 1, 0x12, 1, (uint16_t)(n + 32), d, n, n, 8), 0);
	assert_int_equal(open_ch(f, conn, 1, 1, 0x12, 3, 0), INVAL);

	/* The device refuses: failure status, the ring is free again. */
	f->dev[0].open_rc = -EIO;
	assert_int_equal(open_ch(f, conn, 1, 2, 0x10, 3, 0), VMBUS_STATUS_UNSUCCESSFUL);
	assert_int_equal(f->dev[0].opens, 1);
	assert_int_equal(rejects(f, VMBUS_SERVER_REJECT_DEVICE), 1);
	assert_int_equal(vmbus_server_signal(f->s, CONN(1)), -ENOENT);
	check_ok(f);

	/* Open twice: the second refused, the first stays open. */
	f->dev[0].open_rc = 0;
	assert_int_equal(open_ch(f, conn, 1, 3, 0x10, 3, 1), 0);
	assert_int_equal(open_ch(f, conn, 1, 4, 0x10, 3, 1), VMBUS_STATUS_INVALID_DEVICE_STATE);
	assert_int_equal(open_ch(f, conn, 1, 4, 0x11, 2, 1), VMBUS_STATUS_INVALID_DEVICE_STATE);
	assert_int_equal(f->dev[0].opens, 2);
	assert_int_equal(vmbus_server_signal(f->s, CONN(1)), 0);
	/* ModifyChannel / Close of a channel that is not open. */
	send_relid_msg(f, conn, VMBUS_MSG_CLOSE_CHANNEL, 2, -EINVAL);
	send_relid_msg(f, conn, VMBUS_MSG_CLOSE_CHANNEL, 77, -ENOENT);
	check_ok(f);
}

static void test_teardown_in_use(void **state)
{
	struct fx *f = *state;
	uint32_t conn = connect(f, VMBUS_VERSION_WIN10_V5_3, 1);
	make_gpadl(f, conn, 1, 0x10, 4);
	assert_int_equal(open_ch(f, conn, 1, 1, 0x10, 2, 0), 0);
	/* Deferred: no GpadlTorndown while the ring is open, and no second teardown. */
	assert_int_equal(teardown_gpadl(f, conn, 1, 0x10), 0);
	expect_none(f);
	assert_int_equal(teardown_gpadl(f, conn, 1, 0x10), -EALREADY);
	struct vmbus_server_stats st;
	vmbus_server_get_stats(f->s, &st);
	assert_int_equal(st.teardowns_deferred, 1);
	struct vmbus_server_gpadl_desc *d;
	assert_int_equal(vmbus_server_gpadl(f->s, 1, 0x10, &d), -ENOENT);
	/* The channel keeps working until it closes. */
	assert_int_equal(vmbus_server_signal(f->s, CONN(1)), 0);
	assert_int_equal(f->dev[0].signals, 1);
	check_ok(f);
	send_relid_msg(f, conn, VMBUS_MSG_CLOSE_CHANNEL, 1, 0);
	assert_int_equal(f->dev[0].closes, 1);
	pop_torndown(f, 0x10);
	assert_int_equal(gpadl_count(f), 0);
	/* Gone for good: no reopen. */
	assert_int_equal(open_ch(f, conn, 1, 2, 0x10, 2, 0), VMBUS_STATUS_INVALID_PARAMETER);
}

static void test_rescind(void **state)
{
	struct fx *f = *state;
	uint32_t conn = connect(f, VMBUS_VERSION_WIN10_V5_3, 2);
	struct dev *d = &f->dev[0];
	make_gpadl(f, conn, 1, 0x10, 4);
	make_gpadl(f, conn, 1, 0x11, 1);
	assert_int_equal(open_ch(f, conn, 1, 1, 0x10, 2, 0), 0);

	/* RelIdReleased for a live channel: refused. */
	send_relid_msg(f, conn, VMBUS_MSG_RELID_RELEASED, 1, -EINVAL);
	assert_int_equal(vmbus_server_rescind(d->ch), 0);
	struct vmbus_msg_relid r;
	assert_int_equal(pop(f, VMBUS_MSG_RESCIND_CHANNEL_OFFER, &r, sizeof(r), NULL), 12);
	assert_int_equal(r.child_relid, 1);
	assert_int_equal(vmbus_server_rescind(d->ch), -EALREADY);
	/* Still open until the client lets go; no new GPADLs or opens for it. */
	assert_int_equal(vmbus_server_signal(f->s, CONN(1)), 0);
	assert_int_equal(gpadl_linux(f, conn, 1, 0x12, 1), -ENOENT);
	assert_int_equal(pop_created(f, 1, 0x12), VMBUS_STATUS_INVALID_PARAMETER);
	/* The relid is not reused before it is released. */
	struct vmbus_channel *c3 = offer(f, 2, 0);
	assert_int_equal(vmbus_server_channel_relid(c3), 3);
	struct vmbus_msg_offer_channel o;
	pop(f, VMBUS_MSG_OFFER_CHANNEL, &o, sizeof(o), NULL);
	assert_int_equal(o.child_relid, 3);
	/* A client may tear the unused GPADL down itself. */
	assert_int_equal(teardown_gpadl(f, conn, 1, 0x11), 0);
	pop_torndown(f, 0x11);
	check_ok(f);

	send_relid_msg(f, conn, VMBUS_MSG_RELID_RELEASED, 1, 0);
	expect_none(f);
	assert_int_equal(d->closes, 1);
	assert_int_equal(d->releases, 1);
	assert_int_equal(gpadl_count(f), 0);
	assert_int_equal(vmbus_server_signal(f->s, CONN(1)), -ENOENT);
	send_relid_msg(f, conn, VMBUS_MSG_RELID_RELEASED, 1, -ENOENT);
	check_ok(f);

	/* Re-offer: the lowest free relid, 1 again, sent at once. */
	d->closes = d->releases = 0;
	struct vmbus_channel *again = offer(f, 0, 0);
	assert_int_equal(vmbus_server_channel_relid(again), 1);
	pop(f, VMBUS_MSG_OFFER_CHANNEL, &o, sizeof(o), NULL);
	assert_int_equal(o.child_relid, 1);
	make_gpadl(f, conn, 1, 0x10, 4);
	assert_int_equal(open_ch(f, conn, 1, 9, 0x10, 2, 0), 0);
	assert_int_equal(d->opens, 2);

	/* Rescind of a closed channel: released by RelIdReleased without a close. */
	assert_int_equal(vmbus_server_rescind(f->dev[1].ch), 0);
	pop(f, VMBUS_MSG_RESCIND_CHANNEL_OFFER, &r, sizeof(r), NULL);
	assert_int_equal(r.child_relid, 2);
	send_relid_msg(f, conn, VMBUS_MSG_RELID_RELEASED, 2, 0);
	assert_int_equal(f->dev[1].closes, 0);
	assert_int_equal(f->dev[1].releases, 1);
}

static void test_unload_recontact(void **state)
{
	struct fx *f = *state;
	uint32_t conn = connect(f, VMBUS_VERSION_WIN10_V5_3, 3);
	make_gpadl(f, conn, 1, 0x10, 4);
	make_gpadl(f, conn, 2, 0x20, 4);
	make_gpadl(f, conn, 3, 0x30, 100);
	assert_int_equal(open_ch(f, conn, 1, 1, 0x10, 2, 0), 0);
	assert_int_equal(open_ch(f, conn, 2, 1, 0x20, 2, 0), 0);
	assert_int_equal(teardown_gpadl(f, conn, 2, 0x20), 0);    /* deferred */
	assert_int_equal(vmbus_server_rescind(f->dev[2].ch), 0);
	struct vmbus_msg_relid r;
	pop(f, VMBUS_MSG_RESCIND_CHANNEL_OFFER, &r, sizeof(r), NULL);
	/* A half-sent GPADL too. */
	uint8_t d[8 + 8];
	uint64_t pf = 0x100;
	size_t n = put_range(d, 0, PAGE, &pf, 1);
	assert_int_equal(send_gpadl(f, conn, 1, 0x40, 1, (uint16_t)(n + 8), d, n, n, 8), 0);

	send_empty(f, conn, VMBUS_MSG_UNLOAD, 0);
	struct vmbus_msg_empty e;
	assert_int_equal(pop(f, VMBUS_MSG_UNLOAD_RESPONSE, &e, sizeof(e), NULL), 8);
	expect_none(f);     /* no GpadlTorndown for the deferred teardown */
	assert_int_equal(f->dev[0].closes, 1);
	assert_int_equal(f->dev[1].closes, 1);
	assert_int_equal(f->dev[2].closes, 0);
	assert_int_equal(f->dev[2].releases, 1);     /* rescinded: gone with the client */
	assert_int_equal(gpadl_count(f), 0);
	struct vmbus_server_connection c;
	vmbus_server_get_connection(f->s, &c);
	assert_false(c.connected);
	assert_int_equal(c.gpadl_pages, 0);
	check_ok(f);

	/* Everything but InitiateContact is refused now; Unload again too. */
	send_empty(f, conn, VMBUS_MSG_REQUEST_OFFERS, -ENOTCONN);
	send_empty(f, conn, VMBUS_MSG_UNLOAD, -ENOTCONN);
	assert_int_equal(vmbus_server_signal(f->s, CONN(1)), -ENOENT);
	expect_none(f);

	/* Re-contact with an older version: the live channels are offered again. */
	contact(f, VMBUS_VERSION_WIN8_1);
	static const uint32_t relids[] = { 1, 2 };
	request_offers(f, 1, 2, relids);
	make_gpadl(f, 1, 1, 0x10, 4);           /* same id: the old one is gone */
	assert_int_equal(open_ch(f, 1, 1, 5, 0x10, 2, 0), 0);
	assert_int_equal(f->dev[0].opens, 2);
	/* Below 5.3 ModifyChannel gets no answer, below 4.1 it does not exist. */
	struct vmbus_msg_modify_channel mc = { .hdr.msgtype = VMBUS_MSG_MODIFY_CHANNEL,
					       .child_relid = 1, .target_vp = 1 };
	assert_int_equal(post(f, 1, &mc, sizeof(mc)), -EOPNOTSUPP);
	expect_none(f);
	check_ok(f);
}

static void test_modify_channel(void **state)
{
	struct fx *f = *state;
	uint32_t conn = connect(f, VMBUS_VERSION_WIN10_V5_3, 2);
	make_gpadl(f, conn, 1, 0x10, 4);
	assert_int_equal(open_ch(f, conn, 1, 1, 0x10, 2, 0), 0);
	struct vmbus_msg_modify_channel mc = { .hdr.msgtype = VMBUS_MSG_MODIFY_CHANNEL,
					       .child_relid = 1, .target_vp = 3 };
	struct vmbus_msg_modify_channel_response r;
	assert_int_equal(post(f, conn, &mc, sizeof(mc)), 0);
	pop(f, VMBUS_MSG_MODIFY_CHANNEL_RESPONSE, &r, sizeof(r), NULL);
	assert_int_equal(r.child_relid, 1);
	assert_int_equal(r.status, 0);
	assert_int_equal(vmbus_server_channel_signal(f->dev[0].ch), 0);
	assert_int_equal(f->fake.ev[0].t.vp, 3);
	/* Bad VP, closed channel, unknown relid: answered with an error. */
	mc.target_vp = VPS;
	assert_int_equal(post(f, conn, &mc, sizeof(mc)), -EINVAL);
	pop(f, VMBUS_MSG_MODIFY_CHANNEL_RESPONSE, &r, sizeof(r), NULL);
	assert_int_equal((uint32_t)r.status, VMBUS_STATUS_INVALID_PARAMETER);
	assert_int_equal(vmbus_server_channel_target_vp(f->dev[0].ch), 3);
	mc.child_relid = 2;
	mc.target_vp = 0;
	assert_int_equal(post(f, conn, &mc, sizeof(mc)), -EINVAL);
	pop(f, VMBUS_MSG_MODIFY_CHANNEL_RESPONSE, &r, sizeof(r), NULL);
	assert_int_equal((uint32_t)r.status, VMBUS_STATUS_INVALID_DEVICE_STATE);
	mc.child_relid = 50;
	assert_int_equal(post(f, conn, &mc, sizeof(mc)), -ENOENT);
	pop(f, VMBUS_MSG_MODIFY_CHANNEL_RESPONSE, &r, sizeof(r), NULL);
	assert_int_equal(r.child_relid, 50);
}

static void test_v6_guest_signal(void **state)
{
	struct fx *f = *state;
	offer(f, 0, 0);
	offer(f, 1, 0);
	struct vmbus_msg_initiate_contact ic = contact_msg(VMBUS_VERSION_WIN10_V6_0, 0);
	struct vmbus_msg_version_response vr;
	ic.feature_flags = VMBUS_FEATURE_GUEST_SPECIFIED_SIGNAL;
	assert_int_equal(contact_as(f, 4, &ic, 40, &vr), 1);
	static const uint32_t relids[] = { 1, 2 };
	request_offers(f, 4, 2, relids);
	make_gpadl(f, 4, 1, 0x10, 4);
	make_gpadl(f, 4, 2, 0x20, 4);

	struct vmbus_msg_open_channel o = open_msg(1, 1, 0x10, 2, 1);
	o.connection_id = 0x9000;
	o.event_flag = 77;
	assert_int_equal(open_raw(f, 4, &o, sizeof(o)), 0);
	assert_int_equal(vmbus_server_channel_conn_id(f->dev[0].ch), 0x9000);
	assert_int_equal(vmbus_server_signal(f->s, 0x9000), 0);
	assert_int_equal(vmbus_server_signal(f->s, CONN(1)), -ENOENT);
	assert_int_equal(f->dev[0].signals, 1);
	assert_int_equal(vmbus_server_channel_signal(f->dev[0].ch), 0);
	assert_int_equal(f->fake.ev[0].flag, 77);
	assert_int_equal(f->fake.ev[0].t.vp, 1);

	/* Ids that would be mistaken for something else, flags out of range, redirection. */
	static const uint32_t bad_ids[] = { 1, 2, 4, CONN(1), CONN(2), CONN(64), 0x9000 };
	for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
		o = open_msg(2, 2, 0x20, 2, 0);
		o.connection_id = bad_ids[i];
		assert_int_equal(open_raw(f, 4, &o, sizeof(o)), VMBUS_STATUS_INVALID_PARAMETER);
	}
	o = open_msg(2, 2, 0x20, 2, 0);
	o.connection_id = 0x9001;
	o.event_flag = VMBUS_EVENT_FLAGS_PER_SINT;
	assert_int_equal(open_raw(f, 4, &o, sizeof(o)), VMBUS_STATUS_INVALID_PARAMETER);
	o.event_flag = 5;
	o.flags = VMBUS_OPEN_FLAG_REDIRECT_INTERRUPT;
	assert_int_equal(open_raw(f, 4, &o, sizeof(o)), VMBUS_STATUS_INVALID_PARAMETER);
	assert_int_equal(f->dev[1].opens, 0);
	/* The pre-6.0 form of the message: defaults. */
	o.flags = 0;
	assert_int_equal(open_raw(f, 4, &o, VMBUS_OPEN_CHANNEL_SIZE_V1), 0);
	assert_int_equal(vmbus_server_channel_conn_id(f->dev[1].ch), CONN(2));
	assert_int_equal(vmbus_server_signal(f->s, CONN(2)), 0);
	check_ok(f);

	/* Closing gives the id back. */
	send_relid_msg(f, 4, VMBUS_MSG_CLOSE_CHANNEL, 1, 0);
	assert_int_equal(vmbus_server_signal(f->s, 0x9000), -ENOENT);
	assert_int_equal(vmbus_server_channel_conn_id(f->dev[0].ch), CONN(1));
	o = open_msg(1, 3, 0x10, 2, 1);
	assert_int_equal(open_raw(f, 4, &o, sizeof(o)), 0);    /* connection_id 0: defaults */
	assert_int_equal(vmbus_server_signal(f->s, CONN(1)), 0);
}

static void test_v6_without_feature(void **state)
{
	struct fx *f = *state;
	uint32_t conn = connect(f, VMBUS_VERSION_WIN10_V6_0, 1);
	make_gpadl(f, conn, 1, 0x10, 4);
	struct vmbus_msg_open_channel o = open_msg(1, 1, 0x10, 2, 1);
	o.connection_id = 0x9000;       /* not granted: ignored */
	o.event_flag = 3000;
	assert_int_equal(open_raw(f, conn, &o, sizeof(o)), 0);
	assert_int_equal(vmbus_server_channel_conn_id(f->dev[0].ch), CONN(1));
	assert_int_equal(vmbus_server_channel_signal(f->dev[0].ch), 0);
	assert_int_equal(f->fake.ev[0].flag, 1);
	/* ModifyConnection without the feature: dropped. */
	struct vmbus_msg_modify_connection mc = { .hdr.msgtype = VMBUS_MSG_MODIFY_CONNECTION,
						  .monitor_page_p2c = 0x5000,
						  .monitor_page_c2p = 0x6000 };
	assert_int_equal(post(f, conn, &mc, sizeof(mc)), -EOPNOTSUPP);
	expect_none(f);
}

static void test_modify_connection(void **state)
{
	struct fx *f = *state;
	struct vmbus_msg_initiate_contact ic = contact_msg(VMBUS_VERSION_WIN10_V6_0, 0);
	struct vmbus_msg_version_response vr;
	ic.feature_flags = VMBUS_FEATURE_MODIFY_CONNECTION;
	assert_int_equal(contact_as(f, 4, &ic, 40, &vr), 1);
	assert_int_equal(vr.supported_features, VMBUS_FEATURE_MODIFY_CONNECTION);
	struct vmbus_msg_modify_connection mc = { .hdr.msgtype = VMBUS_MSG_MODIFY_CONNECTION,
						  .monitor_page_p2c = 0x5000,
						  .monitor_page_c2p = 0x6000 };
	struct vmbus_msg_modify_connection_response r;
	assert_int_equal(post(f, 4, &mc, sizeof(mc)), 0);
	assert_int_equal(pop(f, VMBUS_MSG_MODIFY_CONNECTION_RESPONSE, &r, sizeof(r), NULL), 9);
	assert_int_equal(r.connection_state, VMBUS_CONNECTION_OK);
	struct vmbus_server_connection c;
	vmbus_server_get_connection(f->s, &c);
	assert_int_equal(c.monitor_page1, 0x5000);
	assert_int_equal(c.monitor_page2, 0x6000);
	mc.monitor_page_c2p = 0x6800;
	assert_int_equal(post(f, 4, &mc, sizeof(mc)), -EINVAL);
	pop(f, VMBUS_MSG_MODIFY_CONNECTION_RESPONSE, &r, sizeof(r), NULL);
	assert_int_equal(r.connection_state, VMBUS_CONNECTION_FAILED_UNKNOWN);
	vmbus_server_get_connection(f->s, &c);
	assert_int_equal(c.monitor_page2, 0x6000);
	assert_int_equal(post(f, 4, &mc, sizeof(mc) - 1), -EMSGSIZE);
	expect_none(f);
}

static void test_types_and_lengths(void **state)
{
	struct fx *f = *state;
	uint32_t conn = connect(f, VMBUS_VERSION_WIN10_V5_3, 1);
	/* Server-to-client, reserved-channel, pause/resume and unknown types: dropped. */
	static const uint32_t types[] = {
		VMBUS_MSG_INVALID, VMBUS_MSG_OFFER_CHANNEL, VMBUS_MSG_RESCIND_CHANNEL_OFFER,
		VMBUS_MSG_ALL_OFFERS_DELIVERED, VMBUS_MSG_OPEN_CHANNEL_RESULT,
		VMBUS_MSG_GPADL_CREATED, VMBUS_MSG_GPADL_TORNDOWN, VMBUS_MSG_VERSION_RESPONSE,
		VMBUS_MSG_UNLOAD_RESPONSE, VMBUS_MSG_OPEN_RESERVED_CHANNEL,
		VMBUS_MSG_CLOSE_RESERVED_CHANNEL, VMBUS_MSG_CLOSE_RESERVED_RESPONSE,
		VMBUS_MSG_TL_CONNECT_RESULT, VMBUS_MSG_MODIFY_CHANNEL_RESPONSE,
		VMBUS_MSG_MODIFY_CONNECTION_RESPONSE, VMBUS_MSG_PAUSE, VMBUS_MSG_PAUSE_RESPONSE,
		VMBUS_MSG_RESUME, VMBUS_MSG_COUNT, 0x80000001u, 0xFFFFFFFFu,
	};
	uint8_t m[VMBUS_MSG_MAX_SIZE];
	memset(m, 0, sizeof(m));
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		memcpy(m, &types[i], 4);
		assert_int_equal(post(f, conn, m, sizeof(m)), -EOPNOTSUPP);
	}
	assert_int_equal(rejects(f, VMBUS_SERVER_REJECT_TYPE), sizeof(types) / sizeof(types[0]));
	expect_none(f);
	/* Every fixed-size request one byte short. */
	static const struct { uint32_t type; size_t len; } shorts[] = {
		{ VMBUS_MSG_OPEN_CHANNEL, 148 }, { VMBUS_MSG_CLOSE_CHANNEL, 12 },
		{ VMBUS_MSG_GPADL_HEADER, 20 }, { VMBUS_MSG_GPADL_BODY, 16 },
		{ VMBUS_MSG_GPADL_TEARDOWN, 16 }, { VMBUS_MSG_RELID_RELEASED, 12 },
		{ VMBUS_MSG_MODIFY_CHANNEL, 16 }, { VMBUS_MSG_TL_CONNECT_REQUEST, 40 },
	};
	for (size_t i = 0; i < sizeof(shorts) / sizeof(shorts[0]); i++) {
		memset(m, 0, sizeof(m));
		memcpy(m, &shorts[i].type, 4);
		assert_int_equal(post(f, conn, m, shorts[i].len - 1), -EMSGSIZE);
	}
	assert_int_equal(rejects(f, VMBUS_SERVER_REJECT_LENGTH),
			 sizeof(shorts) / sizeof(shorts[0]));
	expect_none(f);
	/* Longer than needed is fine (extra bytes ignored). */
	memset(m, 0, sizeof(m));
	uint32_t t = VMBUS_MSG_GPADL_TEARDOWN;
	memcpy(m, &t, 4);
	assert_int_equal(post(f, conn, m, sizeof(m)), -ENOENT);     /* gpadl 0 unknown */
	/* hvsock is not served, but the client is told. */
	struct vmbus_msg_tl_connect_request q = { .hdr.msgtype = VMBUS_MSG_TL_CONNECT_REQUEST,
						  .endpoint_id = VMBUS_GUID_KVP,
						  .service_id = VMBUS_GUID_VSS };
	assert_int_equal(post(f, conn, &q, VMBUS_TL_CONNECT_REQUEST_SIZE_V1), -EOPNOTSUPP);
	struct vmbus_msg_tl_connect_result tr;
	assert_int_equal(pop(f, VMBUS_MSG_TL_CONNECT_RESULT, &tr, sizeof(tr), NULL), 44);
	assert_memory_equal(&tr.endpoint_id, &q.endpoint_id, 16);
	assert_memory_equal(&tr.service_id, &q.service_id, 16);
	assert_int_equal((uint32_t)tr.status, VMBUS_STATUS_NOT_SUPPORTED);
	struct vmbus_server_stats st;
	vmbus_server_get_stats(f->s, &st);
	uint64_t sum = 0;
	for (int i = 0; i < VMBUS_SERVER_REJECT_COUNT; i++)
		sum += st.rejects[i];
	assert_int_equal(st.rejected, sum);
}

/* The client's slot is full: answers wait in order, then go out on flush. */
static void test_outbox_order(void **state)
{
	struct fx *f = *state;
	for (int i = 0; i < 3; i++)
		offer(f, i, 0);
	contact(f, VMBUS_VERSION_WIN10_V5_3);
	f->fake.slot_full = true;
	send_empty(f, 4, VMBUS_MSG_REQUEST_OFFERS, 0);
	assert_int_equal(gpadl_linux(f, 4, 2, 0x10, 30), 0);
	assert_int_equal(vmbus_server_pending(f->s), 5);
	assert_int_equal(queued(f), 0);
	struct vmbus_server_stats st;
	vmbus_server_get_stats(f->s, &st);
	assert_true(st.post_retries >= 2);
	f->fake.slot_full = false;
	vmbus_server_flush(f->s);
	assert_int_equal(vmbus_server_pending(f->s), 0);
	static const uint32_t relids[] = { 1, 2, 3 };
	for (int i = 0; i < 3; i++) {
		struct vmbus_msg_offer_channel o;
		pop(f, VMBUS_MSG_OFFER_CHANNEL, &o, sizeof(o), NULL);
		assert_int_equal(o.child_relid, relids[i]);
	}
	struct vmbus_msg_empty e;
	pop(f, VMBUS_MSG_ALL_OFFERS_DELIVERED, &e, sizeof(e), NULL);
	assert_int_equal(pop_created(f, 2, 0x10), 0);
	expect_none(f);

	/* A client that never drains its slot but keeps asking fills the FIFO: bounded. */
	f->fake.slot_full = true;
	for (uint32_t i = 0; i < VMBUS_SERVER_OUTBOX + 10; i++)
		(void)teardown_gpadl(f, 4, 2, 0x10 + (i == 0 ? 0 : 0x1000));
	for (uint32_t i = 0; i < VMBUS_SERVER_OUTBOX + 10; i++)
		(void)gpadl_linux(f, 4, 2, 0x20 + i, 1);
	assert_int_equal(vmbus_server_pending(f->s), VMBUS_SERVER_OUTBOX);
	vmbus_server_get_stats(f->s, &st);
	assert_true(st.outbox_overflows >= 10);
	f->fake.slot_full = false;
	vmbus_server_flush(f->s);
	pop_torndown(f, 0x10);
	assert_int_equal(queued(f), VMBUS_SERVER_OUTBOX - 1);
	check_ok(f);
}

/* ------------------------------------------------------------------------------------------ */
/* Re-entrancy and threads                                                                    */
/* ------------------------------------------------------------------------------------------ */

static void test_reentrant_open(void **state)
{
	struct fx *f = *state;
	uint32_t conn = connect(f, VMBUS_VERSION_WIN10_V5_3, 1);
	make_gpadl(f, conn, 1, 0x10, 4);
	f->dev[0].offer_on_open = true;
	struct vmbus_msg_open_channel o = open_msg(1, 1, 0x10, 2, 0);
	assert_int_equal(post(f, conn, &o, VMBUS_OPEN_CHANNEL_SIZE_V1), 0);
	/* The open op offered a sub-channel and signalled: no deadlock, both went out, the
	 * offer before the result (it was posted from inside the op). */
	assert_int_equal(f->dev[0].sub_offer_rc, 0);
	assert_int_equal(f->dev[0].open_signal_rc, 0);
	assert_int_equal(f->fake.nev, 1);
	assert_int_equal(f->fake.ev[0].flag, 1);
	struct vmbus_msg_offer_channel off;
	pop(f, VMBUS_MSG_OFFER_CHANNEL, &off, sizeof(off), NULL);
	assert_int_equal(off.child_relid, 2);
	assert_int_equal(off.subchannel_index, 1);
	struct vmbus_msg_open_result r;
	pop(f, VMBUS_MSG_OPEN_CHANNEL_RESULT, &r, sizeof(r), NULL);
	assert_int_equal(r.status, 0);
	expect_none(f);
	assert_int_equal(vmbus_server_channel_relid(f->dev[0].sub), 2);
	check_ok(f);
}

struct signal_thread {
	struct fx *f;
	int rc;
};

static void *signal_main(void *arg)
{
	struct signal_thread *t = arg;
	t->rc = vmbus_server_signal(t->f->s, CONN(1));
	return NULL;
}

static void test_close_waits_for_signal(void **state)
{
	struct fx *f = *state;
	uint32_t conn = connect(f, VMBUS_VERSION_WIN10_V5_3, 1);
	make_gpadl(f, conn, 1, 0x10, 4);
	assert_int_equal(open_ch(f, conn, 1, 1, 0x10, 2, 0), 0);
	f->dev[0].signal_sleep_us = 100000;
	struct signal_thread t = { .f = f };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, signal_main, &t), 0);
	while (!__atomic_load_n(&f->dev[0].in_signal, __ATOMIC_SEQ_CST))
		usleep(1000);
	/* The signal op is running: Close must wait for it, not run beside it. */
	send_relid_msg(f, conn, VMBUS_MSG_CLOSE_CHANNEL, 1, 0);
	pthread_join(th, NULL);
	assert_int_equal(t.rc, 0);
	assert_int_equal(f->dev[0].signals, 1);
	assert_int_equal(f->dev[0].closes, 1);
	assert_int_equal(f->dev[0].close_during_signal, 0);
	check_ok(f);
}

struct hammer {
	struct fx *f;
	int stop;                       /* __atomic */
	unsigned dispatched, raised;
};

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;
	while (!__atomic_load_n(&h->stop, __ATOMIC_SEQ_CST)) {
		if (vmbus_server_signal(h->f->s, CONN(1)) == 0)
			h->dispatched++;
		if (vmbus_server_channel_signal(h->f->dev[0].ch) == 0)
			h->raised++;
	}
	return NULL;
}

/* Signals from another VP while the client opens and closes the channel over and over. */
static void test_signals_race_open_close(void **state)
{
	struct fx *f = *state;
	uint32_t conn = connect(f, VMBUS_VERSION_WIN10_V5_3, 1);
	make_gpadl(f, conn, 1, 0x10, 4);
	struct hammer h = { .f = f };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, hammer_main, &h), 0);
	for (uint32_t i = 0; i < 300; i++) {
		assert_int_equal(open_ch(f, conn, 1, i, 0x10, 2, i % VPS), 0);
		send_relid_msg(f, conn, VMBUS_MSG_CLOSE_CHANNEL, 1, 0);
		pthread_mutex_lock(&f->fake.lock);
		f->fake.nev = 0;        /* keep the event log from filling */
		pthread_mutex_unlock(&f->fake.lock);
	}
	__atomic_store_n(&h.stop, 1, __ATOMIC_SEQ_CST);
	pthread_join(th, NULL);
	assert_int_equal(f->dev[0].opens, 300);
	assert_int_equal(f->dev[0].closes, 300);
	assert_int_equal(f->dev[0].close_during_signal, 0);
	assert_int_equal((unsigned)f->dev[0].signals, h.dispatched);
	struct vmbus_server_stats st;
	vmbus_server_get_stats(f->s, &st);
	assert_int_equal(st.signals_in, h.dispatched);
	assert_int_equal(st.signals_out, h.raised);
	expect_none(f);
	check_ok(f);
}

/* ------------------------------------------------------------------------------------------ */
/* Redirected client: the host serving VTL2's client on 0x800074, answers on VTL2 SINT 7      */
/* ------------------------------------------------------------------------------------------ */

#define REDIR       VMBUS_CONN_ID_VTL2_REDIRECT
#define RCONN(relid) (vmbus_conn_id_channel(0, VMBUS_VTL2_SINT, 2) + (relid))

static struct fx *new_redirect_fx(void)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	pthread_mutex_init(&f->fake.lock, NULL);
	struct vmbus_server_config cfg = {
		.vp_count = VPS, .client_vtl = 2, .msg_conn_id = REDIR,
		.client_sint = VMBUS_VTL2_SINT,
		.conn_id_base = vmbus_conn_id_channel(0, VMBUS_VTL2_SINT, 2),
	};
	assert_int_equal(vmbus_server_create(&fake_ops, &f->fake, &cfg, &f->s), 0);
	for (int i = 0; i < 4; i++)
		f->dev[i].fx = f;
	return f;
}

static int setup_redirect(void **state)
{
	*state = new_redirect_fx();
	return 0;
}

static struct vmbus_msg_initiate_contact redirect_contact_msg(uint32_t version, uint32_t vp)
{
	struct vmbus_msg_initiate_contact ic = contact_msg(version, vp);
	if (version >= VMBUS_VERSION_WIN10_V5) {
		ic.msg_sint = VMBUS_VTL2_SINT;
		ic.msg_vtl = 2;
	}
	return ic;
}

static void test_redirect_config(void **state)
{
	(void)state;
	struct fake fk = { 0 };
	struct vmbus_server *s = (struct vmbus_server *)1;
	uint32_t base = vmbus_conn_id_channel(0, VMBUS_VTL2_SINT, 2);
	struct vmbus_server_config ok = { .vp_count = 1, .client_vtl = 2, .msg_conn_id = REDIR,
					  .client_sint = VMBUS_VTL2_SINT, .conn_id_base = base };
	struct vmbus_server_config c = ok;
	assert_int_equal(vmbus_server_create(&fake_ops, &fk, &c, &s), 0);
	vmbus_server_destroy(s);
	/* The message id may not be a channel's signal id, nor the event/monitor ids. */
	static const uint32_t bad_ids[] = { 2, 3, 0x27001, 0x27040 };
	for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
		c = ok;
		c.msg_conn_id = bad_ids[i];
		assert_int_equal(vmbus_server_create(&fake_ops, &fk, &c, &s), -EINVAL);
		assert_null(s);
	}
	c = ok;
	c.msg_conn_id = 0x27041;        /* just past the channel ids: fine */
	assert_int_equal(vmbus_server_create(&fake_ops, &fk, &c, &s), 0);
	vmbus_server_destroy(s);
	/* No version below 5.0 can name the SINT. */
	c = ok;
	c.max_version = VMBUS_VERSION_WIN10_V4_1;
	assert_int_equal(vmbus_server_create(&fake_ops, &fk, &c, &s), -EINVAL);
	c.max_version = VMBUS_VERSION_WIN10_V5;
	assert_int_equal(vmbus_server_create(&fake_ops, &fk, &c, &s), 0);
	vmbus_server_destroy(s);
	c = ok;
	c.client_sint = 16;
	assert_int_equal(vmbus_server_create(&fake_ops, &fk, &c, &s), -EINVAL);
}

static void test_redirect_contact(void **state)
{
	struct fx *f = *state;
	struct vmbus_msg_version_response vr;
	struct vmbus_server_target t;
	offer(f, 0, 0);

	/* The standard ids are not listened on; nor is any other id. */
	struct vmbus_msg_initiate_contact ic = redirect_contact_msg(VMBUS_VERSION_WIN10_V5_3, 0);
	assert_int_equal(post(f, VMBUS_CONN_ID_MESSAGE_4, &ic, 40), -ENOENT);
	assert_int_equal(post(f, VMBUS_CONN_ID_MESSAGE, &ic, 40), -ENOENT);
	assert_int_equal(post(f, REDIR + 0x100, &ic, 40), -ENOENT);   /* vp 1's encoding */
	expect_none(f);
	assert_int_equal(rejects(f, VMBUS_SERVER_REJECT_CONN_ID), 3);

	/* Targets the client may not name: VTL0's SINT 2, VTL 0, another VTL2 SINT: dropped. */
	ic.msg_sint = VMBUS_MESSAGE_SINT;
	assert_int_equal(post(f, REDIR, &ic, 40), -EINVAL);
	ic = redirect_contact_msg(VMBUS_VERSION_WIN10_V5_3, 0);
	ic.msg_vtl = 0;
	assert_int_equal(post(f, REDIR, &ic, 40), -EINVAL);
	ic = redirect_contact_msg(VMBUS_VERSION_WIN10_V5_3, VPS);
	assert_int_equal(post(f, REDIR, &ic, 40), -EINVAL);
	expect_none(f);
	assert_int_equal(rejects(f, VMBUS_SERVER_REJECT_PARAM), 3);

	/* A version without SINT/VTL: refused, the answer on SINT 7 of VTL 2. */
	ic = redirect_contact_msg(VMBUS_VERSION_WIN10_V4_1, 1);
	assert_int_equal(contact_as(f, REDIR, &ic, 40, &vr), 0);
	ic = redirect_contact_msg(VMBUS_VERSION_WIN8, 1);
	(void)post(f, REDIR, &ic, 40);
	pop(f, VMBUS_MSG_VERSION_RESPONSE, &vr, sizeof(vr), &t);
	assert_int_equal(vr.version_supported, 0);
	assert_int_equal(t.sint, VMBUS_VTL2_SINT);
	assert_int_equal(t.vtl, 2);
	assert_int_equal(t.vp, 1);
	assert_int_equal(rejects(f, VMBUS_SERVER_REJECT_VERSION), 2);

	/* 6.0 from VP 1: accepted, later messages on the same id. */
	ic = redirect_contact_msg(VMBUS_VERSION_WIN10_V6_0, 1);
	ic.feature_flags = VMBUS_FEATURE_GUEST_SPECIFIED_SIGNAL;
	(void)post(f, REDIR, &ic, sizeof(ic));
	pop(f, VMBUS_MSG_VERSION_RESPONSE, &vr, sizeof(vr), &t);
	assert_int_equal(vr.version_supported, 1);
	assert_int_equal(vr.connection_state, VMBUS_CONNECTION_OK);
	assert_int_equal(vr.msg_conn_id, REDIR);
	assert_int_equal(vr.supported_features, VMBUS_FEATURE_GUEST_SPECIFIED_SIGNAL);
	assert_int_equal(t.vp, 1);
	assert_int_equal(t.sint, VMBUS_VTL2_SINT);
	assert_int_equal(t.vtl, 2);
	struct vmbus_server_connection c;
	vmbus_server_get_connection(f->s, &c);
	assert_true(c.connected);
	assert_int_equal(c.msg_conn_id, REDIR);

	send_empty(f, VMBUS_CONN_ID_MESSAGE_4, VMBUS_MSG_REQUEST_OFFERS, -ENOENT);
	expect_none(f);
	send_empty(f, REDIR, VMBUS_MSG_REQUEST_OFFERS, 0);
	struct vmbus_msg_offer_channel o;
	pop(f, VMBUS_MSG_OFFER_CHANNEL, &o, sizeof(o), &t);
	assert_int_equal(o.child_relid, 1);
	assert_int_equal(o.connection_id, RCONN(1));
	assert_int_equal(t.sint, VMBUS_VTL2_SINT);
	assert_int_equal(t.vtl, 2);
	struct vmbus_msg_empty e;
	assert_int_equal(pop(f, VMBUS_MSG_ALL_OFFERS_DELIVERED, &e, sizeof(e), NULL), 8);

	/* A channel: its signal id, its events on SINT 7 of VTL 2. */
	make_gpadl(f, REDIR, 1, 0x10, 4);
	assert_int_equal(open_ch(f, REDIR, 1, 1, 0x10, 2, 3), 0);
	assert_int_equal(vmbus_server_channel_conn_id(f->dev[0].ch), RCONN(1));
	assert_int_equal(vmbus_server_signal(f->s, RCONN(1)), 0);
	assert_int_equal(vmbus_server_signal(f->s, CONN(1)), -ENOENT);
	assert_int_equal(f->dev[0].signals, 1);
	assert_int_equal(vmbus_server_channel_signal(f->dev[0].ch), 0);
	assert_int_equal(f->fake.nev, 1);
	assert_int_equal(f->fake.ev[0].t.vp, 3);
	assert_int_equal(f->fake.ev[0].t.sint, VMBUS_VTL2_SINT);
	assert_int_equal(f->fake.ev[0].t.vtl, 2);
	assert_int_equal(f->fake.ev[0].flag, 1);
	send_relid_msg(f, REDIR, VMBUS_MSG_CLOSE_CHANNEL, 1, 0);
	/* The message connection cannot become a guest-specified signal id. */
	struct vmbus_msg_open_channel op = open_msg(1, 2, 0x10, 2, 0);
	op.connection_id = REDIR;
	assert_int_equal(open_raw(f, REDIR, &op, sizeof(op)), VMBUS_STATUS_INVALID_PARAMETER);
	op.connection_id = 0x9000;
	op.event_flag = 9;
	assert_int_equal(open_raw(f, REDIR, &op, sizeof(op)), 0);
	assert_int_equal(vmbus_server_signal(f->s, 0x9000), 0);
	check_ok(f);

	/* Unload on the same id, then contact again. */
	send_empty(f, REDIR, VMBUS_MSG_UNLOAD, 0);
	pop(f, VMBUS_MSG_UNLOAD_RESPONSE, &e, sizeof(e), &t);
	assert_int_equal(t.sint, VMBUS_VTL2_SINT);
	assert_int_equal(t.vtl, 2);
	ic = redirect_contact_msg(VMBUS_VERSION_WIN10_V5_3, 0);
	assert_int_equal(contact_as(f, REDIR, &ic, 40, &vr), 1);
	assert_int_equal(vr.msg_conn_id, REDIR);
	expect_none(f);
}

/* A VTL0 server with a fixed SINT: the pre-5.0 answers go there too. */
static void test_fixed_sint(void **state)
{
	(void)state;
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	pthread_mutex_init(&f->fake.lock, NULL);
	struct vmbus_server_config cfg = { .vp_count = VPS, .client_sint = 5 };
	assert_int_equal(vmbus_server_create(&fake_ops, &f->fake, &cfg, &f->s), 0);
	struct vmbus_msg_version_response vr;
	struct vmbus_server_target t;
	struct vmbus_msg_initiate_contact ic = contact_msg(VMBUS_VERSION_WIN10_V5, 0);
	assert_int_equal(post(f, 4, &ic, 40), -EINVAL);         /* names SINT 2 */
	expect_none(f);
	ic = contact_msg(VMBUS_VERSION_WIN10, 0);
	(void)post(f, 1, &ic, 40);
	pop(f, VMBUS_MSG_VERSION_RESPONSE, &vr, sizeof(vr), &t);
	assert_int_equal(vr.version_supported, 1);
	assert_int_equal(vr.msg_conn_id, VMBUS_CONN_ID_MESSAGE);
	assert_int_equal(t.sint, 5);
	free_fx(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guids),
		cmocka_unit_test(test_handshake_each_version),
		cmocka_unit_test_setup_teardown(test_version_rejected, setup, teardown),
		cmocka_unit_test(test_version_ceiling),
		cmocka_unit_test_setup_teardown(test_contact_connection_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_contact_bad_target, setup, teardown),
		cmocka_unit_test_setup_teardown(test_contact_bad_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_contact_features, setup, teardown),
		cmocka_unit_test_setup_teardown(test_before_contact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_offers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_offer_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gpadl_boundaries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gpadl_multi_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gpadl_hostile, setup, teardown),
		cmocka_unit_test(test_gpadl_no_ram_check),
		cmocka_unit_test_setup_teardown(test_gpadl_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gpadl_teardown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_close_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_teardown_in_use, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rescind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unload_recontact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_modify_channel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v6_guest_signal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v6_without_feature, setup, teardown),
		cmocka_unit_test_setup_teardown(test_modify_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_types_and_lengths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outbox_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reentrant_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_waits_for_signal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signals_race_open_close, setup, teardown),
		cmocka_unit_test(test_redirect_config),
		cmocka_unit_test_setup_teardown(test_redirect_contact, setup_redirect, teardown),
		cmocka_unit_test(test_fixed_sint),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
