/* vmbus_scsi: a storvsp SCSI controller on a VMBus channel (vmbus_scsi.h). */
#include "devices/vmbus/vmbus_scsi.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/vmbus/storvsp.h"
#include "devices/vmbus/vmbus_ring.h"
#include "hvcall/vmbus_ring_abi.h"

/* A storvsp request is a descriptor, at most one GPA-direct range of (max transfer / 4 KiB + 1)
 * PFNs and a 64-byte vstor_packet: far below this. Larger packets are not storvsp's. */
#define MAX_PACKET 4096u
#define MAX_RANGES 4u

struct vmbus_scsi {
	struct devctx dc;
	struct vmbus_server *srv;
	struct vmbus_channel *ch;
	struct storvsp *sv;
	pthread_mutex_t lock;
	bool open, broken;
	struct vmbus_ring in;           /* client -> server: we consume */
	struct vmbus_ring out;          /* server -> client: we produce */
	bool have_pending;              /* a completion waiting for room on `out` */
	struct storvsp_reply pending;
	struct vmbus_scsi_stats st;
	_Alignas(8) uint8_t pkt[MAX_PACKET];
	uint64_t pfns[MAX_PACKET / 8];
};

static void *page_ptr(void *ctx, uint64_t pfn)
{
	struct vmbus_scsi *s = ctx;
	return s->dc.ram_ptr(s->dc.ctx, gpa(pfn << ADDR_PAGE_SHIFT), ADDR_PAGE_SIZE);
}

static int guest_copy(void *ctx, uint64_t g, void *buf, size_t len, bool to_guest)
{
	struct vmbus_scsi *s = ctx;
	uint8_t *p = s->dc.ram_ptr(s->dc.ctx, gpa(g), len);
	if (!p)
		return -EFAULT;
	if (to_guest)
		memcpy(p, buf, len);
	else
		memcpy(buf, p, len);
	return 0;
}

static void *guest_map(void *ctx, uint64_t g, size_t len)
{
	struct vmbus_scsi *s = ctx;
	return s->dc.ram_ptr(s->dc.ctx, gpa(g), len);
}

static int ch_open(void *ctx, struct vmbus_channel *ch, const struct vmbus_channel_open_info *info)
{
	(void)ch;
	struct vmbus_scsi *s = ctx;
	pthread_mutex_lock(&s->lock);
	int rc = vmbus_ring_map_channel(&s->in, &s->out, info->ring_pfns, info->ring_page_count,
					info->downstream_offset, page_ptr, s);
	if (rc == 0) {
		storvsp_reset(s->sv);
		s->open = true;
		s->broken = false;
		s->have_pending = false;
	}
	pthread_mutex_unlock(&s->lock);
	return rc < 0 ? -EINVAL : 0;
}

static void ch_close(void *ctx, struct vmbus_channel *ch)
{
	(void)ch;
	struct vmbus_scsi *s = ctx;
	pthread_mutex_lock(&s->lock);
	s->open = false;
	s->have_pending = false;
	pthread_mutex_unlock(&s->lock);
}

static void ch_released(void *ctx, struct vmbus_channel *ch)
{
	(void)ch;
	struct vmbus_scsi *s = ctx;
	s->ch = NULL;
}

/* Lock held. A protocol violation on either ring: stop the channel's data plane. */
static void broke(struct vmbus_scsi *s, const char *what)
{
	if (!s->broken) {
		s->broken = true;
		s->st.broken++;
		fprintf(s->dc.log ? s->dc.log : stderr, "vmbus-scsi: %s ring broken (%s): channel stopped\n",
			what, vmbus_ring_broken_reason(what[0] == 'c' ? &s->in : &s->out));
	}
}

/* Lock held. Send the completion; 1 = the client must be signalled, 0, -EAGAIN, -EPROTO. */
static int send_completion(struct vmbus_scsi *s, const struct storvsp_reply *r)
{
	struct vmbus_ring_piece piece = { r->payload, r->len };
	struct vmbus_ring_out o = {
		.type = VMBUS_PKT_COMPLETION,
		.transaction_id = r->transaction_id,
		.pieces = &piece,
		.piece_count = 1,
	};
	/* Published once for the whole drain (ch_signal): one fence and one signalling decision
	   per batch instead of per completion. */
	int rc = vmbus_ring_send(&s->out, &o,
				 VMBUS_RING_SEND_SET_PENDING | VMBUS_RING_SEND_NO_PUBLISH);
	if (rc >= 0)
		s->st.completions++;
	return rc;
}

/*
 * Lock held. Turn the copied packet in s->pkt into a storvsp request and handle it. 1 with a
 * reply to send, 0 without one (no completion asked for, or not storvsp's).
 */
static int handle_packet(struct vmbus_scsi *s, const struct vmbus_ring_packet *p,
			 struct storvsp_reply *reply)
{
	struct storvsp_gpa_range ranges[MAX_RANGES];
	struct storvsp_request rq = {
		.type = p->desc.type,
		.transaction_id = p->desc.transaction_id,
		.payload = s->pkt + p->data_offset,
		.payload_len = p->len - p->data_offset,
	};
	if (p->desc.type == VMBUS_PKT_DATA_GPA_DIRECT) {
		/* Header then ranges, all before the payload (the ring checked the header fits). */
		struct vmbus_pkt_gpa_direct_hdr h;
		memcpy(&h, s->pkt + sizeof(struct vmbus_pkt_desc), sizeof(h));
		uint32_t off = sizeof(struct vmbus_pkt_desc) + sizeof(h), used = 0;
		if (h.range_count == 0 || h.range_count > MAX_RANGES)
			return -EINVAL;
		for (uint32_t i = 0; i < h.range_count; i++) {
			struct vmbus_pkt_gpa_range g;
			if (off + sizeof(g) > p->data_offset)
				return -EINVAL;
			memcpy(&g, s->pkt + off, sizeof(g));
			off += sizeof(g);
			uint64_t np = vmbus_pkt_gpa_range_pfns(g.byte_offset, g.byte_count);
			if (np > (p->data_offset - off) / 8 || used + np > sizeof(s->pfns) / 8)
				return -EINVAL;
			for (uint64_t k = 0; k < np; k++) /* fixed-size copies: no rep movs */
				memcpy(&s->pfns[used + k], s->pkt + off + 8 * k, 8);
			ranges[i] = (struct storvsp_gpa_range){ g.byte_count, g.byte_offset,
								s->pfns + used, (size_t)np };
			off += (uint32_t)np * 8;
			used += (uint32_t)np;
		}
		rq.ranges = ranges;
		rq.range_count = h.range_count;
	} else if (p->desc.type != VMBUS_PKT_DATA_INBAND) {
		return -EINVAL;
	}
	s->st.packets++;
	if (storvsp_handle(s->sv, &rq, reply) < 0)
		return -EINVAL;
	return (p->desc.flags & VMBUS_PKT_FLAG_COMPLETION_REQUESTED) ? 1 : 0;
}

/* The client signalled: drain its ring (on the signalling VP's thread). */
static void ch_signal(void *ctx, struct vmbus_channel *ch)
{
	struct vmbus_scsi *s = ctx;
	bool notify = false;
	pthread_mutex_lock(&s->lock);
	if (!s->open || s->broken)
		goto out;
	if (s->have_pending) {
		int rc = send_completion(s, &s->pending);
		if (rc == -EAGAIN) {
			s->st.ring_full++;
			goto out; /* still no room: the client signals again when it frees some */
		}
		if (rc < 0) {
			broke(s, "server-to-client");
			goto out;
		}
		notify |= rc == VMBUS_RING_SIGNAL;
		s->have_pending = false;
	}
	for (;;) {
		struct vmbus_ring_packet p;
		int rc = vmbus_ring_peek(&s->in, &p);
		if (rc == -EAGAIN)
			break;
		if (rc < 0) {
			broke(s, "client-to-server");
			break;
		}
		struct storvsp_reply reply;
		int h = -EINVAL;
		if (p.len <= sizeof(s->pkt) && vmbus_ring_packet_copy(&s->in, &p, 0, s->pkt, p.len) == 0)
			h = handle_packet(s, &p, &reply);
		if (h < 0)
			s->st.bad_packets++;
		if (vmbus_ring_advance(&s->in) < 0) {
			broke(s, "client-to-server");
			break;
		}
		if (h == 1) {
			rc = send_completion(s, &reply);
			if (rc == -EAGAIN) {
				/* Executed already: keep the answer, never handle the request twice. */
				s->pending = reply;
				s->have_pending = true;
				s->st.ring_full++;
				break;
			}
			if (rc < 0) {
				broke(s, "server-to-client");
				break;
			}
			notify |= rc == VMBUS_RING_SIGNAL;
		}
	}
	if (!s->broken) {
		int rc = vmbus_ring_publish(&s->out);
		if (rc < 0)
			broke(s, "server-to-client");
		notify |= rc == VMBUS_RING_SIGNAL;
	}
	if (!s->broken) {
		int rc = vmbus_ring_commit(&s->in);
		if (rc < 0)
			broke(s, "client-to-server");
		notify |= rc == VMBUS_RING_SIGNAL;
	}
out:
	pthread_mutex_unlock(&s->lock);
	if (notify)
		vmbus_server_channel_signal(ch);
}

static const struct vmbus_channel_ops scsi_ops = {
	.open = ch_open,
	.close = ch_close,
	.signal = ch_signal,
	.released = ch_released,
};

int vmbus_scsi_create(struct vmbus_server *srv, const struct devctx *dc, struct scsi_disk *disk,
		      uint32_t instance, struct vmbus_scsi **out)
{
	if (!srv || !dc || !dc->ram_ptr || !disk || !out)
		return -EINVAL;
	struct vmbus_scsi *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->dc = *dc;
	s->srv = srv;
	pthread_mutex_init(&s->lock, NULL);
	struct storvsp_config sc = { .disk = disk,
				     .mem = { .copy = guest_copy, .map = guest_map, .ctx = s } };
	int rc = storvsp_create(&sc, &s->sv);
	if (rc) {
		vmbus_scsi_destroy(s);
		return rc;
	}
	/* The instance GUID: a fixed Mezzanine prefix and the controller number. */
	struct vmbus_offer_params op = {
		.interface_type = VMBUS_GUID_SCSI,
		.instance = VMBUS_GUID_INIT(0x4d657a7a, 0x5343, 0x5349, 0x00, 0x00, 0x00, 0x00,
					    (uint8_t)(instance >> 24), (uint8_t)(instance >> 16),
					    (uint8_t)(instance >> 8), (uint8_t)instance),
	};
	rc = vmbus_server_offer(srv, &op, &scsi_ops, s, &s->ch);
	if (rc) {
		vmbus_scsi_destroy(s);
		return rc;
	}
	*out = s;
	return 0;
}

void vmbus_scsi_destroy(struct vmbus_scsi *s)
{
	if (!s)
		return;
	storvsp_destroy(s->sv);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

void vmbus_scsi_get_stats(struct vmbus_scsi *s, struct vmbus_scsi_stats *st)
{
	pthread_mutex_lock(&s->lock);
	*st = s->st;
	pthread_mutex_unlock(&s->lock);
}
