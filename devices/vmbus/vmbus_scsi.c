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
/* Packets handled together (storvsp_handle_batch) and the room for their copies: at least
 * four of the largest, a whole batch of Linux's (about 112 bytes each). */
#define BATCH STORVSP_BATCH_MAX
#define ARENA (4u * MAX_PACKET)

struct vmbus_scsi {
	struct devctx dc;
	struct vmbus_server *srv;
	struct vmbus_channel *ch;
	struct storvsp *sv;
	pthread_mutex_t lock;
	bool open, broken;
	struct vmbus_ring in;           /* client -> server: we consume */
	struct vmbus_ring out;          /* server -> client: we produce */
	/* Completions that found no room on `out` (executed already), oldest first. */
	struct storvsp_reply unsent[BATCH];
	uint32_t unsent_head, unsent_n;
	struct vmbus_scsi_stats st;
	/* One batch: the packets' private copies, their PFNs, requests and replies. */
	_Alignas(8) uint8_t arena[ARENA];
	uint64_t pfns[ARENA / 8];
	struct storvsp_gpa_range ranges[BATCH][MAX_RANGES];
	struct storvsp_request rqs[BATCH];
	bool want[BATCH];               /* the client asked for a completion */
	struct storvsp_reply replies[BATCH];
	int rcs[BATCH];
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
		s->unsent_n = 0;
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
	s->unsent_n = 0;
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
 * Lock held. The copied packet at `pkt` (p->len bytes) as storvsp request k of the batch, its
 * PFNs from s->pfns[*used] on. 0, or -EINVAL for a malformed GPA-direct header or a type that
 * is not storvsp's.
 */
static int parse_packet(struct vmbus_scsi *s, const struct vmbus_ring_packet *p,
			const uint8_t *pkt, uint32_t k, uint32_t *used)
{
	struct storvsp_request *rq = &s->rqs[k];
	*rq = (struct storvsp_request){
		.type = p->desc.type,
		.transaction_id = p->desc.transaction_id,
		.payload = pkt + p->data_offset,
		.payload_len = p->len - p->data_offset,
	};
	s->want[k] = p->desc.flags & VMBUS_PKT_FLAG_COMPLETION_REQUESTED;
	if (p->desc.type == VMBUS_PKT_DATA_GPA_DIRECT) {
		/* Header then ranges, all before the payload (the ring checked the header fits). */
		struct vmbus_pkt_gpa_direct_hdr h;
		memcpy(&h, pkt + sizeof(struct vmbus_pkt_desc), sizeof(h));
		uint32_t off = sizeof(struct vmbus_pkt_desc) + sizeof(h);
		if (h.range_count == 0 || h.range_count > MAX_RANGES)
			return -EINVAL;
		for (uint32_t i = 0; i < h.range_count; i++) {
			struct vmbus_pkt_gpa_range g;
			if (off + sizeof(g) > p->data_offset)
				return -EINVAL;
			memcpy(&g, pkt + off, sizeof(g));
			off += sizeof(g);
			uint64_t np = vmbus_pkt_gpa_range_pfns(g.byte_offset, g.byte_count);
			if (np > (p->data_offset - off) / 8 || *used + np > sizeof(s->pfns) / 8)
				return -EINVAL;
			for (uint64_t j = 0; j < np; j++) /* fixed-size copies: no rep movs */
				memcpy(&s->pfns[*used + j], pkt + off + 8 * j, 8);
			s->ranges[k][i] = (struct storvsp_gpa_range){ g.byte_count, g.byte_offset,
								      s->pfns + *used, (size_t)np };
			off += (uint32_t)np * 8;
			*used += (uint32_t)np;
		}
		rq->ranges = s->ranges[k];
		rq->range_count = h.range_count;
	} else if (p->desc.type != VMBUS_PKT_DATA_INBAND) {
		return -EINVAL;
	}
	return 0;
}

/*
 * Lock held. Copy up to BATCH packets off the client's ring into the batch: their count, or
 * -EPROTO when the ring broke (the batch so far is still handled). *empty: the ring ran dry.
 */
static int collect(struct vmbus_scsi *s, bool *empty)
{
	uint32_t k = 0, used = 0, pfns = 0;
	*empty = false;
	while (k < BATCH && ARENA - used >= MAX_PACKET) {
		struct vmbus_ring_packet p;
		int rc = vmbus_ring_peek(&s->in, &p);
		if (rc == -EAGAIN) {
			*empty = true;
			break;
		}
		if (rc < 0)
			return k ? (int)k : rc;
		uint8_t *pkt = s->arena + used;
		bool ok = p.len <= MAX_PACKET &&
			  vmbus_ring_packet_copy(&s->in, &p, 0, pkt, p.len) == 0 &&
			  parse_packet(s, &p, pkt, k, &pfns) == 0;
		if (vmbus_ring_advance(&s->in) < 0)
			return k ? (int)k : -EPROTO;
		if (!ok) {
			s->st.bad_packets++;
			continue;
		}
		used += (p.len + 7u) & ~7u;
		k++;
	}
	return (int)k;
}

/*
 * Lock held. Send the batch's completions (k packets handled), keeping those that find the
 * ring full. 1: signal the client; 0; -EAGAIN: the ring is full; -EPROTO.
 */
static int complete_batch(struct vmbus_scsi *s, uint32_t k)
{
	int notify = 0;
	bool full = false;
	for (uint32_t i = 0; i < k; i++) {
		s->st.packets++;
		if (s->rcs[i] < 0) {
			s->st.bad_packets++;
			continue;
		}
		if (!s->want[i])
			continue;
		if (!full) {
			int rc = send_completion(s, &s->replies[i]);
			if (rc == -EPROTO)
				return rc;
			if (rc != -EAGAIN) {
				notify |= rc == VMBUS_RING_SIGNAL;
				continue;
			}
			full = true;
			s->st.ring_full++;
		}
		/* Executed already: keep the answer, never handle the request twice. */
		s->unsent[(s->unsent_head + s->unsent_n++) % BATCH] = s->replies[i];
	}
	return full ? -EAGAIN : notify;
}

/* The client signalled: drain its ring (on the signalling VP's thread). */
static void ch_signal(void *ctx, struct vmbus_channel *ch)
{
	struct vmbus_scsi *s = ctx;
	bool notify = false;
	pthread_mutex_lock(&s->lock);
	if (!s->open || s->broken)
		goto out;
	/* What waited for room first; new requests only once all of it is out. */
	while (s->unsent_n) {
		int rc = send_completion(s, &s->unsent[s->unsent_head]);
		if (rc == -EAGAIN) {
			s->st.ring_full++;
			goto publish; /* still no room: the client signals again when it frees some */
		}
		if (rc < 0) {
			broke(s, "server-to-client");
			goto out;
		}
		notify |= rc == VMBUS_RING_SIGNAL;
		s->unsent_head = (s->unsent_head + 1) % BATCH;
		s->unsent_n--;
	}
drain:
	for (;;) {
		bool empty;
		int k = collect(s, &empty);
		if (k > 0) {
			storvsp_handle_batch(s->sv, s->rqs, (size_t)k, s->replies, s->rcs);
			int rc = complete_batch(s, (uint32_t)k);
			if (rc == -EPROTO) {
				broke(s, "server-to-client");
				break;
			}
			if (rc == -EAGAIN)
				break;
			notify |= rc == 1;
		}
		if (k < 0) {
			broke(s, "client-to-server");
			break;
		}
		if (empty || k == 0)
			break;
	}
publish:
	if (!s->broken) {
		int rc = vmbus_ring_publish(&s->out);
		if (rc < 0)
			broke(s, "server-to-client");
		notify |= rc == VMBUS_RING_SIGNAL;
	}
	if (!s->broken) {
		int rc = vmbus_ring_finish(&s->in);
		if (rc < 0)
			broke(s, "client-to-server");
		notify |= rc > 0 && (rc & VMBUS_RING_SIGNAL);
		/* Requests written while we finished come with no signal: take them now (unless
		   completions wait for room: the client signals once it makes some). */
		if (rc > 0 && (rc & VMBUS_RING_MORE) && !s->unsent_n)
			goto drain;
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
