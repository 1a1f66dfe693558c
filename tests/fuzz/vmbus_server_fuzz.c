/*
 * vmbus_server fuzz target: the input is a program of client messages and device actions
 * against a server with two offered channels. Each step is one opcode byte and its arguments
 * (see the OP_* list); structured opcodes build mostly-valid messages (contact, GPADLs with lying
 * lengths, opens with odd offsets) so the fuzzer gets deep, OP_RAW sends raw bytes.
 *
 * Checked after every step: vmbus_server_check() (open channels have their live ring GPADL,
 * counts and totals add up, nothing left behind by a disconnect), and through the fake
 * transport and devices: every message the server posts is a server-to-client type of the exact
 * size for its type and goes to a valid VP/SINT/VTL; events name a valid VP and flag; channel ops
 * come in order (open only when closed, signal only while open, close after open, released
 * last, never while open); after an accepted Unload no channel is open.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/vmbus/vmbus_server.h"
#include "hvcall/vmbus_abi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define VPS   2u
#define NDEV  2

enum {
	OP_RAW, OP_CONTACT, OP_REQUEST, OP_GPADL, OP_BODY, OP_OPEN, OP_CLOSE, OP_TEARDOWN,
	OP_RELEASED, OP_UNLOAD, OP_MODIFY, OP_RESCIND, OP_REOFFER, OP_SIGNAL_IN, OP_SIGNAL_OUT,
	OP_SLOT, OP_DEVFAIL, OP_COUNT
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

struct fdev {
	struct vmbus_channel *ch;
	bool open;
	bool fail_open;
	bool signal_back;
};

struct world {
	struct vmbus_server *s;
	struct fdev dev[NDEV];
	bool slot_full;
	uint64_t posted;
};

static void die(const char *why)
{
	fprintf(stderr, "vmbus_server_fuzz: %s\n", why);
	abort();
}

/* Size of each server-to-client message (0: never sent by a server). */
static size_t out_size(uint32_t type, size_t len)
{
	switch (type) {
	case VMBUS_MSG_OFFER_CHANNEL: return sizeof(struct vmbus_msg_offer_channel);
	case VMBUS_MSG_RESCIND_CHANNEL_OFFER: return sizeof(struct vmbus_msg_relid);
	case VMBUS_MSG_ALL_OFFERS_DELIVERED: return 8;
	case VMBUS_MSG_OPEN_CHANNEL_RESULT: return sizeof(struct vmbus_msg_open_result);
	case VMBUS_MSG_GPADL_CREATED: return sizeof(struct vmbus_msg_gpadl_created);
	case VMBUS_MSG_GPADL_TORNDOWN: return sizeof(struct vmbus_msg_gpadl_torndown);
	case VMBUS_MSG_VERSION_RESPONSE:
		return len == VMBUS_VERSION_RESPONSE_SIZE_V6 ? len : VMBUS_VERSION_RESPONSE_SIZE_V1;
	case VMBUS_MSG_UNLOAD_RESPONSE: return 8;
	case VMBUS_MSG_TL_CONNECT_RESULT: return sizeof(struct vmbus_msg_tl_connect_result);
	case VMBUS_MSG_MODIFY_CHANNEL_RESPONSE:
		return sizeof(struct vmbus_msg_modify_channel_response);
	case VMBUS_MSG_MODIFY_CONNECTION_RESPONSE: return VMBUS_MODIFY_CONNECTION_RESPONSE_SIZE;
	default: return 0;
	}
}

static int f_post(void *ctx, const struct vmbus_server_target *t, const void *msg, size_t len)
{
	struct world *w = ctx;
	struct vmbus_msg_header h;
	if (len < sizeof(h) || len > VMBUS_MSG_MAX_SIZE)
		die("posted message length");
	memcpy(&h, msg, sizeof(h));
	if (h.padding || out_size(h.msgtype, len) != len)
		die("posted message type/size");
	if (t->vp >= VPS || t->sint >= 16 || t->vtl != 0)
		die("posted message target");
	if (w->slot_full)
		return -EAGAIN;
	w->posted++;
	return 0;
}

static int f_signal(void *ctx, const struct vmbus_server_target *t, uint16_t flag)
{
	(void)ctx;
	if (t->vp >= VPS || t->sint >= 16 || t->vtl != 0 || flag >= VMBUS_EVENT_FLAGS_PER_SINT)
		die("event target");
	return 0;
}

static int f_check_pages(void *ctx, gpn_t first, uint64_t count)
{
	(void)ctx;
	/* 1 GiB of RAM with a hole at 0x100..0x10F. */
	if (first.v >= 0x40000 || count > 0x40000 - first.v)
		return -EINVAL;
	if (first.v < 0x110 && first.v + count > 0x100)
		return -EINVAL;
	return 0;
}

static const struct vmbus_server_ops f_ops = {
	.post_message = f_post,
	.signal_event = f_signal,
	.check_pages = f_check_pages,
};

static int d_open(void *ctx, struct vmbus_channel *ch, const struct vmbus_channel_open_info *info)
{
	struct fdev *d = ctx;
	if (ch != d->ch || d->open)
		die("open of an open channel");
	if (info->ring_page_count < 4 || info->downstream_offset < 2 ||
	    info->downstream_offset > info->ring_page_count - 2 || info->target_vp >= VPS)
		die("open info");
	uint64_t sum = 0;
	for (uint32_t i = 0; i < info->ring_page_count; i++)
		sum += info->ring_pfns[i];      /* ASan: the array must be live */
	if (sum == UINT64_MAX)
		die("impossible");
	if (d->fail_open)
		return -EIO;
	if (d->signal_back && vmbus_server_channel_signal(ch) != 0)
		die("signal from the open op");
	d->open = true;
	return 0;
}

static void d_close(void *ctx, struct vmbus_channel *ch)
{
	struct fdev *d = ctx;
	if (ch != d->ch || !d->open)
		die("close of a closed channel");
	d->open = false;
}

static void d_signal(void *ctx, struct vmbus_channel *ch)
{
	struct fdev *d = ctx;
	if (ch != d->ch || !d->open)
		die("signal to a closed channel");
}

static void d_released(void *ctx, struct vmbus_channel *ch)
{
	struct fdev *d = ctx;
	if (ch != d->ch || d->open)
		die("release of an open channel");
	d->ch = NULL;
}

static const struct vmbus_channel_ops d_ops = {
	.open = d_open, .close = d_close, .signal = d_signal, .released = d_released,
};

static void offer(struct world *w, int k)
{
	struct vmbus_offer_params p = { .interface_type = VMBUS_GUID_SERIAL,
					.instance = VMBUS_GUID_SERIAL_COM1 };
	p.instance.data4[7] = (uint8_t)k;
	if (vmbus_server_offer(w->s, &p, &d_ops, &w->dev[k], &w->dev[k].ch) != 0)
		die("offer");
}

static uint32_t msg_conn(struct world *w)
{
	struct vmbus_server_connection c;
	vmbus_server_get_connection(w->s, &c);
	return c.connected ? c.msg_conn_id : VMBUS_CONN_ID_MESSAGE_4;
}

static const uint32_t gpadl_ids[] = { 0, 1, 2, 3, 0xE1E10, 0xFFFFFFFFu };
static const uint32_t versions[] = {
	VMBUS_VERSION_WIN8, VMBUS_VERSION_WIN8_1, VMBUS_VERSION_WIN10, VMBUS_VERSION_WIN10_V4_1,
	VMBUS_VERSION_WIN10_V5, VMBUS_VERSION_WIN10_V5_1, VMBUS_VERSION_WIN10_V5_2,
	VMBUS_VERSION_WIN10_V5_3, VMBUS_VERSION_WIN10_V6_0, VMBUS_VERSION_WIN7, 0x00060001u, 0,
};

static int send(struct world *w, uint32_t conn, const void *m, size_t len)
{
	return vmbus_server_handle_message(w->s, conn, m, len);
}

static void op_contact(struct world *w, struct cursor *c)
{
	struct vmbus_msg_initiate_contact ic;
	memset(&ic, 0, sizeof(ic));
	ic.hdr.msgtype = VMBUS_MSG_INITIATE_CONTACT;
	ic.version_requested = versions[u8(c) % (sizeof(versions) / sizeof(versions[0]))];
	ic.target_vcpu = u8(c) % 3;
	uint8_t sint = u8(c), vtl = u8(c);
	ic.msg_sint = sint % 17;
	ic.msg_vtl = vtl % 8 == 7 ? 2 : 0;
	ic.feature_flags = u8(c);
	uint8_t pages = u8(c);
	ic.monitor_page1 = ((uint64_t)pages << 12) + (pages & 0x80 ? 8 : 0);
	ic.monitor_page2 = 0x2000;
	if (ic.version_requested < VMBUS_VERSION_WIN10_V5)
		ic.interrupt_page = 0x3000;
	uint8_t form = u8(c) % 3;
	size_t len = form == 0 ? 40 : form == 1 ? 56 : 39;
	uint8_t sel = u8(c) % 3;
	uint32_t conn = sel == 1 ? 1 : sel == 2 ? 4
		      : ic.version_requested >= VMBUS_VERSION_WIN10_V5 ? 4 : 1;
	send(w, conn, &ic, len);
}

/* A GPADL of `pages` pages in one or two ranges, maybe lying, maybe left incomplete. */
static void op_gpadl(struct world *w, struct cursor *c)
{
	static uint8_t buf[8 * 2 + 8 * 600];
	uint32_t relid = u8(c) % 4;
	uint32_t id = gpadl_ids[u8(c) % (sizeof(gpadl_ids) / sizeof(gpadl_ids[0]))];
	uint32_t pages = 1 + (u8(c) | (uint32_t)(u8(c) & 1) << 8);   /* 1..512 */
	uint8_t mode = u8(c);
	uint64_t base = (uint64_t)u8(c) << 4;
	bool two = mode & 0x04;
	uint32_t p1 = two ? (pages + 1) / 2 : pages, p2 = two ? pages - p1 : 0;
	uint16_t rangecount = two && p2 ? 2 : 1;
	size_t len = 0;
	struct vmbus_gpa_range r = { .byte_count = p1 * 4096u, .byte_offset = 0 };
	if ((mode & 3) == 3)
		r.byte_count += 1;              /* one page more than PFNs given */
	if (mode & 0x40) {
		r.byte_offset = 0x10;
		r.byte_count -= 0x10;
	}
	memcpy(buf + len, &r, 8);
	len += 8;
	for (uint32_t i = 0; i < p1; i++, len += 8) {
		uint64_t pfn = base + i;
		memcpy(buf + len, &pfn, 8);
	}
	if (rangecount == 2) {
		r = (struct vmbus_gpa_range){ .byte_count = p2 * 4096u, .byte_offset = 0 };
		memcpy(buf + len, &r, 8);
		len += 8;
		for (uint32_t i = 0; i < p2; i++, len += 8) {
			uint64_t pfn = 0x1000 + base + i * 2;
			memcpy(buf + len, &pfn, 8);
		}
	}
	uint32_t buflen = (uint32_t)len;
	if ((mode & 3) == 1)
		buflen += 8;
	else if ((mode & 3) == 2)
		buflen -= 8;
	if (mode & 0x80)
		buflen += 4;

	uint8_t m[VMBUS_MSG_MAX_SIZE];
	struct vmbus_msg_gpadl_header h = {
		.hdr.msgtype = VMBUS_MSG_GPADL_HEADER, .child_relid = relid, .gpadl = id,
		.range_buflen = (uint16_t)buflen, .rangecount = rangecount,
	};
	size_t first = ((mode >> 3) & 3) == 0 ? 216 : ((mode >> 3) & 3) * 64 + 8;
	if (first > len)
		first = len;
	memcpy(m, &h, sizeof(h));
	memcpy(m + sizeof(h), buf, first);
	uint32_t conn = msg_conn(w);
	send(w, conn, m, sizeof(h) + first);
	if (mode & 0x20)
		return;                         /* leave it waiting for bodies */
	for (size_t off = first; off < len;) {
		size_t n = len - off < 224 ? len - off : 224;
		struct vmbus_msg_gpadl_body b = { .hdr.msgtype = VMBUS_MSG_GPADL_BODY,
						  .gpadl = id };
		memcpy(m, &b, sizeof(b));
		memcpy(m + sizeof(b), buf + off, n);
		send(w, conn, m, sizeof(b) + n);
		off += n;
	}
}

static void op_body(struct world *w, struct cursor *c)
{
	uint8_t m[VMBUS_MSG_MAX_SIZE + 8];
	struct vmbus_msg_gpadl_body b = {
		.hdr.msgtype = VMBUS_MSG_GPADL_BODY,
		.gpadl = gpadl_ids[u8(c) % (sizeof(gpadl_ids) / sizeof(gpadl_ids[0]))],
	};
	size_t n = u8(c) % 30;
	bool ragged = u8(c) & 1;            /* cut the last PFN in half */
	memcpy(m, &b, sizeof(b));
	for (size_t i = 0; i < n; i++) {
		uint64_t pfn = 0x2000 + i;
		memcpy(m + sizeof(b) + i * 8, &pfn, 8);
	}
	send(w, msg_conn(w), m, sizeof(b) + n * 8 - (ragged && n ? 4 : 0));
}

static void op_open(struct world *w, struct cursor *c)
{
	struct vmbus_msg_open_channel o;
	memset(&o, 0, sizeof(o));
	o.hdr.msgtype = VMBUS_MSG_OPEN_CHANNEL;
	o.child_relid = u8(c) % 4;
	o.open_id = u8(c);
	o.ring_gpadl = gpadl_ids[u8(c) % (sizeof(gpadl_ids) / sizeof(gpadl_ids[0]))];
	o.downstream_ring_page_offset = u8(c);
	o.target_vp = u8(c) % 3;
	uint8_t form = u8(c) % 3;
	uint8_t conn = u8(c) % 4;
	static const uint32_t conns[4] = { 0, 0x9000, VMBUS_SERVER_CONN_ID_BASE + 1, 2 };
	o.connection_id = conns[conn];
	o.event_flag = (uint16_t)(u8(c) * 16u);
	o.flags = u8(c) & 1;
	static const size_t lens[3] = { VMBUS_OPEN_CHANNEL_SIZE_V1, VMBUS_OPEN_CHANNEL_SIZE_V6,
					VMBUS_OPEN_CHANNEL_SIZE_V1 - 1 };
	size_t len = lens[form];
	send(w, msg_conn(w), &o, len);
}

static void relid_msg(struct world *w, struct cursor *c, uint32_t type)
{
	struct vmbus_msg_relid m = { .hdr.msgtype = type, .child_relid = u8(c) % 4 };
	send(w, msg_conn(w), &m, sizeof(m));
}

static void check(struct world *w)
{
	char why[160];
	if (vmbus_server_check(w->s, why, sizeof(why)) != 0) {
		fprintf(stderr, "vmbus_server_fuzz: %s\n", why);
		abort();
	}
}

static void step(struct world *w, struct cursor *c)
{
	uint8_t op = u8(c) % OP_COUNT;
	switch (op) {
	case OP_RAW: {
		static const uint32_t conns[4] = { 1, 4, 2, VMBUS_SERVER_CONN_ID_BASE + 1 };
		uint32_t conn = conns[u8(c) % 4];
		size_t len = u8(c);
		uint8_t m[256] = { 0 };
		if (len > c->n)
			len = c->n;
		memcpy(m, c->p, len);
		c->p += len;
		c->n -= len;
		send(w, conn, m, len);
		break;
	}
	case OP_CONTACT:
		op_contact(w, c);
		break;
	case OP_REQUEST: {
		struct vmbus_msg_empty m = { .hdr.msgtype = VMBUS_MSG_REQUEST_OFFERS };
		send(w, msg_conn(w), &m, sizeof(m));
		break;
	}
	case OP_GPADL:
		op_gpadl(w, c);
		break;
	case OP_BODY:
		op_body(w, c);
		break;
	case OP_OPEN:
		op_open(w, c);
		break;
	case OP_CLOSE:
		relid_msg(w, c, VMBUS_MSG_CLOSE_CHANNEL);
		break;
	case OP_TEARDOWN: {
		struct vmbus_msg_gpadl_teardown t = {
			.hdr.msgtype = VMBUS_MSG_GPADL_TEARDOWN, .child_relid = u8(c) % 4,
			.gpadl = gpadl_ids[u8(c) % (sizeof(gpadl_ids) / sizeof(gpadl_ids[0]))],
		};
		send(w, msg_conn(w), &t, sizeof(t));
		break;
	}
	case OP_RELEASED:
		relid_msg(w, c, VMBUS_MSG_RELID_RELEASED);
		break;
	case OP_UNLOAD: {
		struct vmbus_msg_empty m = { .hdr.msgtype = VMBUS_MSG_UNLOAD };
		if (send(w, msg_conn(w), &m, sizeof(m)) == 0)
			for (int k = 0; k < NDEV; k++)
				if (w->dev[k].open)
					die("channel open after Unload");
		break;
	}
	case OP_MODIFY: {
		struct vmbus_msg_modify_channel m = { .hdr.msgtype = VMBUS_MSG_MODIFY_CHANNEL,
						      .child_relid = u8(c) % 4,
						      .target_vp = u8(c) % 3 };
		send(w, msg_conn(w), &m, sizeof(m));
		break;
	}
	case OP_RESCIND: {
		struct fdev *d = &w->dev[u8(c) % NDEV];
		if (d->ch) {
			struct vmbus_channel *ch = d->ch;
			int rc = vmbus_server_rescind(ch);
			if (rc != 0 && rc != -EALREADY)
				die("rescind");
		}
		break;
	}
	case OP_REOFFER: {
		int k = u8(c) % NDEV;
		if (!w->dev[k].ch)
			offer(w, k);
		break;
	}
	case OP_SIGNAL_IN: {
		uint8_t sel = u8(c) % 4;
		uint32_t conn = sel == 3 ? 0x9000 : VMBUS_SERVER_CONN_ID_BASE + sel;
		int rc = vmbus_server_signal(w->s, conn);
		if (rc != 0 && rc != -ENOENT)
			die("signal");
		break;
	}
	case OP_SIGNAL_OUT: {
		struct fdev *d = &w->dev[u8(c) % NDEV];
		if (d->ch) {
			int rc = vmbus_server_channel_signal(d->ch);
			if ((rc == 0) != d->open)
				die("device signal vs open state");
		}
		break;
	}
	case OP_SLOT:
		w->slot_full = !w->slot_full;
		vmbus_server_flush(w->s);
		break;
	case OP_DEVFAIL: {
		uint8_t v = u8(c);
		w->dev[v % NDEV].fail_open = v & 2;
		w->dev[v % NDEV].signal_back = v & 4;
		break;
	}
	default:
		break;
	}
	check(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct world w;
	struct vmbus_server_config cfg = { .vp_count = VPS };
	struct cursor c = { data, size };

	memset(&w, 0, sizeof(w));
	if (vmbus_server_create(&f_ops, &w, &cfg, &w.s) != 0)
		die("create");
	for (int k = 0; k < NDEV; k++)
		offer(&w, k);
	for (unsigned n = 0; c.n && n < 4096; n++)
		step(&w, &c);
	/* The slot frees at the end: everything queued must go out. */
	w.slot_full = false;
	vmbus_server_flush(w.s);
	if (vmbus_server_pending(w.s) != 0)
		die("outbox not drained");
	check(&w);
	vmbus_server_destroy(w.s);
	return 0;
}
