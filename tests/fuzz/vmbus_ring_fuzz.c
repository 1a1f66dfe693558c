/*
 * vmbus_ring fuzz target: bytes -> a ring (1-4 data pages, control page and data area in exact
 * allocations so that ASan sees any access outside them), its initial control fields, and a
 * sequence of operations on a producer view and a consumer view of that ring, mixed with peer
 * rewrites of the control page and the data area.
 *
 * Input: [pages-1 (2 bits) | raw-control flag (bit 2) | initial mask (bit 3)] [u16 start]
 *        [20 bytes of control fields if raw] then ops until the input ends:
 *   op % 10: 0 send (u16 len, u8 kind, u8 flags: bits 0-1 descriptor flags, bit 2 NO_PUBLISH),
 *            1 peek (+ copy, check), 2 advance, 3 commit, 4 consume, 5 mask/unmask (u8),
 *            6 peer writes a control field (u8 field, u32), 7 peer writes data (u16 offset,
 *            u8 len, bytes), 8 queries / set_pending / publish (u8, u16), 9 send with
 *            SET_PENDING (u16 len)
 *
 * Invariants (abort() on violation):
 *   - every return value is one the header documents for that call;
 *   - once a view returned -EPROTO every later call on it returns -EPROTO (sticky);
 *   - our private index is always in range, a multiple of 8, and exactly where our own
 *     successful sends / advances put it, whatever the peer wrote (never corrupted);
 *   - an accepted packet satisfies the documented limits (modern type, flags <= 1,
 *     2 <= offset8 <= len8, len8 * 8 + 8 <= size - 8, segments inside the data area, range
 *     count fits for types 7/9) and copying it out touches only the ring;
 *   - while the peer has done nothing (clean start, no peer op), the ring is an exact FIFO of
 *     what was sent (bytes, descriptor fields), never -EPROTO, -EAGAIN exactly when the
 *     model says the packet does not fit, and both signalling decisions match the model.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/vmbus/vmbus_ring.h"
#include "hvcall/vmbus_ring_abi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                \
	do {                    \
		if (!(x))       \
			abort(); \
	} while (0)

struct in {
	const uint8_t *p;
	size_t n;
};

static uint32_t take(struct in *in, unsigned bytes)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < bytes; i++) {
		uint32_t b = 0;
		if (in->n) {
			b = *in->p++;
			in->n--;
		}
		v |= b << (8 * i);
	}
	return v;
}

/* Model of the honest ring: the bytes of every packet sent and not yet committed, in order. */
#define MODEL_CAP (1u << 17)
struct model {
	uint8_t bytes[MODEL_CAP]; /* FIFO of packet bytes (no trailers) */
	uint32_t lens[4096];      /* packet lengths (len8 * 8) */
	uint32_t head, tail;      /* byte FIFO positions */
	uint32_t phead, ptail;    /* packet FIFO positions */
	uint32_t adv;             /* packets advanced, not committed */
	uint32_t adv_bytes;       /* their ring bytes (with trailers) */
	uint32_t queued;          /* ring bytes of packets not committed (with trailers) */
	uint32_t unpub;           /* packets written, not published (the newest ones) */
	uint32_t unpub_bytes;
	bool owed;                /* a failed send published a batch whose signal is owed */
};

static struct model g_m;
static uint8_t g_pkt[VMBUS_PKT_MAX_LEN + 64];
static uint8_t g_src[VMBUS_PKT_MAX_LEN];

struct state {
	struct vmbus_ring_control *ctl;
	uint8_t *data;
	uint32_t size;
	struct vmbus_ring p, c;
	bool p_ok, c_ok;          /* init succeeded */
	bool p_broken, c_broken;  /* a call returned -EPROTO */
	bool peer_acted;          /* the peer did something: the model no longer applies */
	uint32_t p_pos, c_pos;    /* where our own actions put our indices */
	uint32_t c_peeked;        /* ring bytes of the last peeked packet, 0 if none */
	uint32_t c_committed;     /* the read index we last published */
	uint32_t p_published;     /* the write index we last published */
	uint64_t seq;
};

static void check_views(struct state *s)
{
	if (s->p_ok) {
		CHECK(s->p.pos < s->size && s->p.pos % 8 == 0);
		CHECK(s->p.pos == s->p_pos);
		CHECK(vmbus_ring_is_broken(&s->p) == s->p_broken);
	}
	if (s->c_ok) {
		CHECK(s->c.pos < s->size && s->c.pos % 8 == 0);
		CHECK(s->c.pos == s->c_pos);
		CHECK(vmbus_ring_is_broken(&s->c) == s->c_broken);
	}
}

static bool honest(const struct state *s)
{
	return !s->peer_acted && s->p_ok && s->c_ok;
}

static void note_p(struct state *s, int rc)
{
	if (s->p_broken)
		CHECK(rc == -EPROTO);
	if (rc == -EPROTO) {
		CHECK(!honest(s));
		s->p_broken = true;
	}
}

static void note_c(struct state *s, int rc)
{
	if (s->c_broken)
		CHECK(rc == -EPROTO);
	if (rc == -EPROTO) {
		CHECK(!honest(s));
		s->c_broken = true;
	}
}

static void do_send(struct state *s, struct in *in, unsigned opts)
{
	uint32_t len = take(in, 2);
	uint32_t kind = opts ? 0 : take(in, 1);
	uint32_t flags = opts ? 0 : take(in, 1);
	uint8_t ext[64];
	uint32_t ext_len = 0;
	uint16_t type = VMBUS_PKT_DATA_INBAND;
	bool valid = true;
	switch (kind % 8) {
	case 0: case 1: case 2: break;
	case 3: type = VMBUS_PKT_COMPLETION; break;
	case 4:
	case 5: {
		/* transfer pages / GPA direct with n ranges in 8 + 8n bytes (n may not fit) */
		type = kind % 8 == 4 ? VMBUS_PKT_DATA_XFER_PAGES : VMBUS_PKT_DATA_GPA_DIRECT;
		uint32_t n = (kind >> 3) % 8;
		ext_len = 8 + 8 * ((kind >> 6) % 8);
		memset(ext, 0, sizeof(ext));
		memcpy(ext + 4, &n, 4);
		for (uint32_t i = 8; i < ext_len; i++)
			ext[i] = (uint8_t)(i * 13 + s->seq);
		valid = n * 8 <= ext_len - 8;
		break;
	}
	case 6: type = (uint16_t)(kind >> 3); valid = vmbus_pkt_type_modern(type);
		if (type == VMBUS_PKT_DATA_XFER_PAGES || type == VMBUS_PKT_DATA_GPA_DIRECT)
			valid = false; /* no extension given */
		break;
	default: len = len * 16; break; /* large */
	}
	uint16_t f = (uint16_t)(flags & 0x3);
	if (flags & 4)
		opts |= VMBUS_RING_SEND_NO_PUBLISH;
	if (f & ~VMBUS_PKT_FLAGS_VALID)
		valid = false;
	if (len > sizeof(g_src))
		len = sizeof(g_src);
	/* Only a packet that fits the ring (at most 16 KiB) is ever read: fill that much. */
	for (uint32_t i = 0; i < len && i < 4 * VMBUS_RING_PAGE_SIZE; i++)
		g_src[i] = (uint8_t)(s->seq * 31 + i * 7 + 1);
	struct vmbus_ring_piece pcs[2] = { { g_src, len / 2 }, { g_src + len / 2, len - len / 2 } };
	struct vmbus_ring_out o = {
		.type = type, .flags = f, .transaction_id = s->seq, .ext = ext_len ? ext : NULL,
		.ext_len = ext_len, .pieces = pcs, .piece_count = 2,
	};
	size_t total_sz = vmbus_ring_packet_size(ext_len, len);
	bool too_big = !s->p_ok || total_sz > vmbus_ring_max_packet_size(&s->p);
	uint32_t published_before = g_m.queued - g_m.unpub_bytes; /* sent, visible, uncommitted */
	uint32_t mask_before = s->ctl->interrupt_mask;
	if (!s->p_ok)
		return;
	int rc = vmbus_ring_send(&s->p, &o, opts);
	CHECK(rc == 0 || rc == VMBUS_RING_SIGNAL || rc == -EINVAL || rc == -EMSGSIZE || rc == -EAGAIN ||
	      rc == -EPROTO);
	note_p(s, rc);
	if (s->p_broken)
		return;
	if (!valid)
		CHECK(rc == -EINVAL);
	else if (too_big)
		CHECK(rc == -EMSGSIZE);
	if (rc < 0 && rc != -EAGAIN)
		return;
	uint32_t total = (uint32_t)total_sz;
	if (rc == -EAGAIN && (opts & VMBUS_RING_SEND_SET_PENDING) && s->p_pos != s->p_published) {
		/* A send that does not fit publishes the unpublished batch before setting
		   pending_send_sz; its signal is owed to the next publish. */
		CHECK(s->ctl->write_index == s->p_pos);
		s->p_published = s->p_pos;
		if (honest(s)) {
			g_m.owed |= g_m.unpub != 0 && mask_before == 0 && published_before == 0;
			g_m.unpub = 0;
			g_m.unpub_bytes = 0;
		}
	}
	if (honest(s)) {
		bool fits = total <= s->size - 8 - g_m.queued;
		CHECK(fits == (rc >= 0));
		if (rc >= 0) {
			/* the batch being published started where read_index is iff nothing visible
			 * was left unread; or an earlier failed send owes its batch's signal */
			bool pub = !(opts & VMBUS_RING_SEND_NO_PUBLISH);
			bool sig = pub && ((mask_before == 0 && published_before == 0) || g_m.owed);
			CHECK((rc == VMBUS_RING_SIGNAL) == sig);
			if (pub)
				g_m.owed = false;
		}
	}
	if (rc < 0)
		return;
	s->p_pos = (s->p_pos + total) % s->size;
	if (!(opts & VMBUS_RING_SEND_NO_PUBLISH)) {
		CHECK(s->ctl->write_index == s->p_pos);
		s->p_published = s->p_pos;
	}
	if (honest(s)) {
		/* Record the expected packet bytes. */
		uint32_t plen = total - 8;
		uint8_t *b = g_pkt;
		struct vmbus_pkt_desc d = { type, (uint16_t)((16 + ext_len) / 8), (uint16_t)(plen / 8), f, s->seq };
		memset(b, 0, plen);
		memcpy(b, &d, 16);
		memcpy(b + 16, ext, ext_len);
		memcpy(b + 16 + ext_len, g_src, len);
		for (uint32_t i = 0; i < plen; i++)
			g_m.bytes[(g_m.tail + i) % MODEL_CAP] = b[i];
		g_m.tail += plen;
		g_m.lens[g_m.ptail++ % 4096] = plen;
		g_m.queued += total;
		if (opts & VMBUS_RING_SEND_NO_PUBLISH) {
			g_m.unpub++;
			g_m.unpub_bytes += total;
		} else {
			g_m.unpub = 0;
			g_m.unpub_bytes = 0;
		}
	}
	s->seq++;
}

static void do_peek(struct state *s)
{
	struct vmbus_ring_packet pk;
	int rc = vmbus_ring_peek(&s->c, &pk);
	CHECK(rc == 0 || rc == -EAGAIN || rc == -EPROTO);
	note_c(s, rc);
	unsigned unread = g_m.ptail - g_m.phead - g_m.adv - g_m.unpub;
	if (honest(s))
		CHECK((rc == -EAGAIN) == (unread == 0));
	if (rc != 0) {
		s->c_peeked = 0;
		return;
	}
	/* Documented limits of an accepted packet. */
	CHECK(vmbus_pkt_type_modern(pk.desc.type));
	CHECK((pk.desc.flags & ~VMBUS_PKT_FLAGS_VALID) == 0);
	CHECK(pk.desc.offset8 >= 2 && pk.desc.offset8 <= pk.desc.len8);
	CHECK(pk.len == pk.desc.len8 * 8u && pk.data_offset == pk.desc.offset8 * 8u);
	CHECK(pk.len + 8 <= s->size - 8);
	CHECK(pk.offset == s->c_pos);
	CHECK(pk.seg[0] == s->data + pk.offset);
	CHECK(pk.seg_len[0] + pk.seg_len[1] == pk.len);
	CHECK(pk.seg_len[0] <= s->size - pk.offset);
	CHECK(pk.seg_len[1] == 0 ? pk.seg[1] == NULL : pk.seg[1] == s->data);
	uint8_t *copy = malloc(pk.len); /* exact size: ASan checks the copy */
	CHECK(copy != NULL);
	CHECK(vmbus_ring_packet_copy(&s->c, &pk, 0, copy, pk.len) == 0);
	CHECK(memcmp(copy, &pk.desc, 16) == 0);
	if (pk.desc.type == VMBUS_PKT_DATA_XFER_PAGES || pk.desc.type == VMBUS_PKT_DATA_GPA_DIRECT) {
		uint32_t count;
		CHECK(pk.data_offset >= 24);
		memcpy(&count, copy + 20, 4);
		CHECK((uint64_t)count * 8 <= pk.data_offset - 24);
	}
	int32_t pl = vmbus_ring_packet_payload(&s->c, &pk, copy, pk.len);
	CHECK(pl == (int32_t)(pk.len - pk.data_offset));
	if (honest(s)) {
		CHECK(unread > 0);
		uint32_t idx = (g_m.phead + g_m.adv) % 4096;
		CHECK(g_m.lens[idx] == pk.len);
		uint32_t at = g_m.head;
		for (uint32_t i = 0; i < g_m.adv; i++)
			at += g_m.lens[(g_m.phead + i) % 4096];
		CHECK(vmbus_ring_packet_copy(&s->c, &pk, 0, copy, pk.len) == 0);
		for (uint32_t i = 0; i < pk.len; i++)
			CHECK(copy[i] == g_m.bytes[(at + i) % MODEL_CAP]);
	}
	free(copy);
	s->c_peeked = pk.len + 8;
}

static void do_advance(struct state *s)
{
	int rc = vmbus_ring_advance(&s->c);
	CHECK(rc == 0 || rc == -EINVAL || rc == -EPROTO);
	note_c(s, rc);
	if (s->c_broken)
		return;
	CHECK((rc == 0) == (s->c_peeked != 0));
	if (rc == 0) {
		s->c_pos = (s->c_pos + s->c_peeked) % s->size;
		if (honest(s)) {
			g_m.adv_bytes += s->c_peeked;
			g_m.adv++;
		}
	}
	s->c_peeked = 0;
}

static void do_commit(struct state *s)
{
	uint32_t pend = s->ctl->pending_send_sz & ~7u;
	bool feat = s->ctl->feature_bits & VMBUS_RING_FEAT_PENDING_SEND_SZ;
	bool stores = !s->c_broken && s->c_pos != s->c_committed;
	int rc = vmbus_ring_commit(&s->c);
	CHECK(rc == 0 || rc == VMBUS_RING_SIGNAL || rc == -EPROTO);
	note_c(s, rc);
	CHECK(!stores || rc >= 0); /* a commit on a healthy view always completes */
	if (stores) {
		CHECK(s->ctl->read_index == s->c_pos);
		s->c_committed = s->c_pos;
	} else if (rc >= 0) {
		CHECK(rc == 0);
	}
	if (s->c_broken)
		return;
	if (honest(s)) {
		/* the consumer sees only published packets */
		uint32_t free_before = s->size - 8 - (g_m.queued - g_m.unpub_bytes);
		uint32_t free_after = free_before + g_m.adv_bytes;
		bool sig = feat && pend && g_m.adv_bytes && free_before < pend && free_after >= pend;
		CHECK((rc == VMBUS_RING_SIGNAL) == sig);
		for (uint32_t i = 0; i < g_m.adv; i++)
			g_m.head += g_m.lens[g_m.phead++ % 4096];
		g_m.queued -= g_m.adv_bytes;
		g_m.adv = 0;
		g_m.adv_bytes = 0;
	}
}

static void do_peer_ctl(struct state *s, struct in *in)
{
	uint32_t f = take(in, 1);
	uint32_t v = take(in, 4);
	if (f & 0x80)
		v = (v % s->size) & ~7u; /* a plausible index */
	uint32_t *fields[] = { &s->ctl->write_index, &s->ctl->read_index, &s->ctl->interrupt_mask,
			       &s->ctl->pending_send_sz, &s->ctl->feature_bits };
	*fields[(f & 0x7f) % 5] = v;
	s->peer_acted = true;
}

static void do_peer_data(struct state *s, struct in *in)
{
	uint32_t off = take(in, 2) % s->size;
	uint32_t n = take(in, 1);
	for (uint32_t i = 0; i < n; i++)
		s->data[(off + i) % s->size] = (uint8_t)take(in, 1);
	s->peer_acted = true;
}

static void do_query(struct state *s, struct in *in)
{
	uint32_t which = take(in, 1);
	uint32_t v = take(in, 2);
	int rc;
	switch (which % 4) {
	case 0:
		rc = vmbus_ring_write_space(&s->p);
		CHECK(rc >= 0 || rc == -EPROTO);
		note_p(s, rc);
		if (rc >= 0) {
			CHECK((uint32_t)rc <= s->size - 8 && rc % 8 == 0);
			if (honest(s))
				CHECK((uint32_t)rc == s->size - 8 - g_m.queued);
		}
		break;
	case 1:
		rc = vmbus_ring_bytes_to_read(&s->c);
		CHECK(rc >= 0 || rc == -EPROTO);
		note_c(s, rc);
		if (rc >= 0) {
			CHECK((uint32_t)rc <= s->size - 8 && rc % 8 == 0);
			if (honest(s))
				CHECK((uint32_t)rc == g_m.queued - g_m.unpub_bytes - g_m.adv_bytes);
		}
		break;
	case 3: {
		uint32_t mask = s->ctl->interrupt_mask;
		uint32_t visible = g_m.queued - g_m.unpub_bytes;
		bool stores = !s->p_broken && s->p_pos != s->p_published;
		rc = vmbus_ring_publish(&s->p);
		CHECK(rc == 0 || rc == VMBUS_RING_SIGNAL || rc == -EPROTO);
		note_p(s, rc);
		bool owed = g_m.owed;
		if (rc >= 0 && honest(s)) {
			CHECK((rc == VMBUS_RING_SIGNAL) ==
			      (owed || (g_m.unpub != 0 && mask == 0 && visible == 0)));
			g_m.unpub = 0;
			g_m.unpub_bytes = 0;
			g_m.owed = false;
		}
		CHECK(!stores || rc >= 0); /* a publish on a healthy view always completes */
		if (stores) {
			CHECK(s->ctl->write_index == s->p_pos);
			s->p_published = s->p_pos;
		} else if (rc >= 0 && honest(s)) {
			CHECK(rc == (owed ? VMBUS_RING_SIGNAL : 0));
		}
		break;
	}
	default:
		v = v * 8 / 2; /* up to 256 KiB: sometimes larger than the ring */
		rc = vmbus_ring_set_pending_send(&s->p, v);
		CHECK(rc == 0 || rc == -EINVAL || rc == -EPROTO);
		note_p(s, rc);
		if (!s->p_broken)
			CHECK((rc == -EINVAL) == (v > vmbus_ring_max_packet_size(&s->p)));
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	static struct state st;
	struct state *s = &st;
	memset(s, 0, sizeof(*s));
	/* the byte and length arrays are only read where written */
	g_m.head = g_m.tail = g_m.phead = g_m.ptail = g_m.adv = g_m.adv_bytes = g_m.queued = 0;
	g_m.owed = false;
	g_m.unpub = g_m.unpub_bytes = 0;

	uint32_t hdr = take(&in, 1);
	s->size = (1 + (hdr & 3)) * VMBUS_RING_PAGE_SIZE;
	s->ctl = calloc(1, sizeof(*s->ctl));
	s->data = malloc(s->size);
	CHECK(s->ctl && s->data);
	memset(s->data, 0xEE, s->size);
	uint32_t start = (take(&in, 2) * 8) % s->size;
	if (hdr & 4) {
		s->ctl->write_index = take(&in, 4);
		s->ctl->read_index = take(&in, 4);
		s->ctl->interrupt_mask = take(&in, 4);
		s->ctl->pending_send_sz = take(&in, 4);
		s->ctl->feature_bits = take(&in, 4);
		s->peer_acted = true;
	} else {
		s->ctl->write_index = s->ctl->read_index = start;
		s->ctl->interrupt_mask = (hdr >> 3) & 1;
	}
	int rc = vmbus_ring_init(&s->p, VMBUS_RING_PRODUCER, s->ctl, s->data, s->size);
	CHECK(rc == 0 || rc == -EPROTO);
	s->p_ok = rc == 0;
	s->p_pos = s->p.pos;
	s->p_published = s->p.pos;
	rc = vmbus_ring_init(&s->c, VMBUS_RING_CONSUMER, s->ctl, s->data, s->size);
	CHECK(rc == 0 || rc == -EPROTO);
	s->c_ok = rc == 0;
	s->c_pos = s->c.pos;
	s->c_committed = s->c.pos;
	if (!s->p_ok)
		CHECK(vmbus_ring_send(&s->p, &(struct vmbus_ring_out){ .type = 6 }, 0) == -EPROTO);
	if (!s->c_ok) {
		struct vmbus_ring_packet pk;
		CHECK(vmbus_ring_peek(&s->c, &pk) == -EPROTO);
	}

	for (unsigned ops = 0; in.n && ops < 4096; ops++) {
		uint32_t op = take(&in, 1) % 10;
		if ((op == 0 || op == 8 || op == 9) && !s->p_ok) {
			take(&in, 2);
			continue;
		}
		if (op >= 1 && op <= 5 && !s->c_ok)
			continue;
		switch (op) {
		case 0: do_send(s, &in, 0); break;
		case 1: do_peek(s); break;
		case 2: do_advance(s); break;
		case 3: do_commit(s); break;
		case 4: do_advance(s); if (!s->c_broken) do_commit(s); break;
		case 5:
			if (take(&in, 1) & 1) {
				rc = vmbus_ring_mask_interrupts(&s->c);
				CHECK(rc == 0 || rc == -EPROTO);
				note_c(s, rc);
				if (rc == 0)
					CHECK(s->ctl->interrupt_mask == 1);
			} else {
				rc = vmbus_ring_unmask_interrupts(&s->c);
				CHECK(rc == 0 || rc == 1 || rc == -EPROTO);
				note_c(s, rc);
				if (rc >= 0)
					CHECK(s->ctl->interrupt_mask == 0);
				if (rc >= 0 && honest(s))
					CHECK(rc == (g_m.ptail - g_m.phead - g_m.adv - g_m.unpub != 0));
			}
			break;
		case 6: do_peer_ctl(s, &in); break;
		case 7: do_peer_data(s, &in); break;
		case 8: do_query(s, &in); break;
		default: do_send(s, &in, VMBUS_RING_SEND_SET_PENDING); break;
		}
		check_views(s);
	}
	free(s->ctl);
	free(s->data);
	return 0;
}
