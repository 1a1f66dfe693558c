/* vmbus_scsi: a storvsp SCSI controller on a VMBus channel (vmbus_scsi.h). */
#include "devices/vmbus/vmbus_scsi.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
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
/*
 * Packets taken per batch. Half a Linux queue of 32: a server that works while the client
 * does (a host on its own CPU) publishes completions every 16, so the client turns them into
 * new requests meanwhile; whole queues at once made the two sides take turns (measured:
 * 16 beat 8, 4 and 32 in make bench's host-on-its-own-CPU figure).
 */
#define DRAIN_BATCH 16u

/*
 * Batches whose disk has not answered yet (storvsp_handle_batch_async). MAX_INFLIGHT of them
 * at most; then draining pauses until one ends (a batch ending resumes it).
 */
#define MAX_INFLIGHT 16u

struct batch {
	struct batch *next;             /* free list, or the list of ended ones */
	struct vmbus_scsi *s;
	uint64_t gen;                   /* the channel's open count when it was taken */
	uint32_t n;
	bool want[BATCH];               /* the client asked for a completion */
	int rcs[BATCH];
	struct storvsp_reply replies[BATCH];
	struct storvsp_async async;
};

struct vmbus_scsi {
	struct devctx dc;
	struct vmbus_server *srv;
	struct vmbus_channel *ch;
	struct storvsp *sv;
	struct scsi_disk *disk;
	pthread_mutex_t lock;
	bool open, broken;
	uint64_t gen;                   /* opens so far: answers for an older open are dropped */
	struct vmbus_ring in;           /* client -> server: we consume */
	struct vmbus_ring out;          /* server -> client: we produce */
	/* Completions that found no room on `out` (executed already), oldest first: at most
	   every batch in flight and the one being drained (draining stops while any wait). */
	struct storvsp_reply unsent[(MAX_INFLIGHT + 1) * BATCH];
	uint32_t unsent_head, unsent_n;
	struct vmbus_scsi_stats st;
	struct batch *free;             /* batches not in flight */
	uint32_t batches, inflight;
	bool starved;                   /* draining paused: every batch in flight */
	struct batch *_Atomic ended;    /* pushed by done() from any thread, taken under lock */
	atomic_uint in_done;            /* done() calls still inside: destroy waits for them */
	/* The batch being drained: the packets' private copies, their PFNs and requests. */
	_Alignas(8) uint8_t arena[ARENA];
	uint64_t pfns[ARENA / 8];
	struct storvsp_gpa_range ranges[BATCH][MAX_RANGES];
	struct storvsp_request rqs[BATCH];
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
		s->starved = false;
		s->gen++;
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
	s->gen++;
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
static int parse_packet(struct vmbus_scsi *s, struct batch *b, const struct vmbus_ring_packet *p,
			const uint8_t *pkt, uint32_t k, uint32_t *used)
{
	struct storvsp_request *rq = &s->rqs[k];
	*rq = (struct storvsp_request){
		.type = p->desc.type,
		.transaction_id = p->desc.transaction_id,
		.payload = pkt + p->data_offset,
		.payload_len = p->len - p->data_offset,
	};
	b->want[k] = p->desc.flags & VMBUS_PKT_FLAG_COMPLETION_REQUESTED;
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
static int collect(struct vmbus_scsi *s, struct batch *b, bool *empty)
{
	uint32_t k = 0, used = 0, pfns = 0;
	*empty = false;
	while (k < DRAIN_BATCH && ARENA - used >= MAX_PACKET) {
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
			  parse_packet(s, b, &p, pkt, k, &pfns) == 0;
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

/* Lock held. Send a completion, or keep it behind those waiting for room. 0 or -EPROTO. */
static int complete_one(struct vmbus_scsi *s, const struct storvsp_reply *r, bool *notify)
{
	if (!s->unsent_n) {
		int rc = send_completion(s, r);
		if (rc == -EPROTO)
			return rc;
		if (rc != -EAGAIN) {
			*notify |= rc == VMBUS_RING_SIGNAL;
			return 0;
		}
		s->st.ring_full++;
	}
	/* Executed already: keep the answer, never handle the request twice. */
	const uint32_t cap = sizeof(s->unsent) / sizeof(s->unsent[0]);
	if (s->unsent_n == cap)
		abort();    /* draining stops while any wait and each batch holds <= BATCH */
	s->unsent[(s->unsent_head + s->unsent_n++) % cap] = *r;
	return 0;
}

/*
 * Lock held. The completions of b's packets that are answered: with `ended` those the disk
 * answered later (STORVSP_PENDING), else all others. 0 or -EPROTO.
 */
static int complete_batch(struct vmbus_scsi *s, struct batch *b, bool ended, bool *notify)
{
	for (uint32_t i = 0; i < b->n; i++) {
		const bool pending = b->rcs[i] == STORVSP_PENDING;
		if (!ended) {
			s->st.packets++;
			if (b->rcs[i] < 0)
				s->st.bad_packets++;
		}
		if (pending != ended || b->rcs[i] < 0 || !b->want[i])
			continue;
		if (complete_one(s, &b->replies[i], notify) < 0)
			return -EPROTO;
	}
	return 0;
}

static void batch_put(struct vmbus_scsi *s, struct batch *b)
{
	b->next = s->free;
	s->free = b;
}

/* Lock held. The batches whose disk answered: their completions (none for an older open). */
static void reap_locked(struct vmbus_scsi *s, bool *notify)
{
	struct batch *b = atomic_exchange(&s->ended, NULL);
	while (b) {
		struct batch *next = b->next;
		storvsp_finish(s->sv, &b->async);
		s->inflight--;
		if (b->gen == s->gen && s->open && !s->broken &&
		    complete_batch(s, b, true, notify) < 0)
			broke(s, "server-to-client");
		batch_put(s, b);
		b = next;
	}
}

/* storvsp's done(): any thread. The batch is reaped by whoever holds or next takes the lock. */
static void batch_ended(void *arg);

/* Lock held. Publish the completions written so far and signal the client now if needed. */
static void publish_now(struct vmbus_scsi *s, bool *notify)
{
	int rc = vmbus_ring_publish(&s->out);
	if (rc < 0) {
		broke(s, "server-to-client");
		return;
	}
	/* The requests taken so far are done with: their room goes back to the client now. */
	int c = vmbus_ring_commit(&s->in);
	if (c < 0) {
		broke(s, "client-to-server");
		return;
	}
	if ((*notify || rc == VMBUS_RING_SIGNAL || c == VMBUS_RING_SIGNAL) && s->ch)
		vmbus_server_channel_signal(s->ch);
	*notify = false;
}

/* Lock held. Drain the client's ring: batches to storvsp, completions back. */
static void drain_locked(struct vmbus_scsi *s, bool *notify)
{
	/* What waited for room first; new requests only once all of it is out. */
	const uint32_t cap = sizeof(s->unsent) / sizeof(s->unsent[0]);
	while (s->unsent_n) {
		int rc = send_completion(s, &s->unsent[s->unsent_head]);
		if (rc == -EAGAIN) {
			s->st.ring_full++;
			goto publish; /* still no room: the client signals again when it frees some */
		}
		if (rc < 0) {
			broke(s, "server-to-client");
			return;
		}
		*notify |= rc == VMBUS_RING_SIGNAL;
		s->unsent_head = (s->unsent_head + 1) % cap;
		s->unsent_n--;
	}
drain:
	while (!s->unsent_n) {
		if (s->inflight >= MAX_INFLIGHT) {
			s->starved = true;  /* resumed when a batch ends */
			break;
		}
		struct batch *b = s->free;
		if (b)
			s->free = b->next;
		else if (!(b = calloc(1, sizeof(*b))))
			break;      /* no memory now: the next signal tries again */
		bool empty;
		int k = collect(s, b, &empty);
		if (k > 0) {
			b->s = s;
			b->gen = s->gen;
			b->n = (uint32_t)k;
			int rc = storvsp_handle_batch_async(s->sv, s->rqs, (size_t)k, b->replies,
							    b->rcs, &b->async, batch_ended, b);
			int crc = complete_batch(s, b, false, notify);
			if (rc == 1)
				s->inflight++;
			else
				batch_put(s, b);    /* all answered: free again */
			if (crc < 0) {
				broke(s, "server-to-client");
				break;
			}
			/* A disk that answered at once (a host inside the signal): send it now. */
			reap_locked(s, notify);
			/* More to drain: publish these first (and signal under the lock), so that
			   the client works on them while we go on. */
			if (!empty)
				publish_now(s, notify);
		} else {
			batch_put(s, b);
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
		*notify |= rc == VMBUS_RING_SIGNAL;
	}
	if (!s->broken && s->starved) {
		/* Paused: what was taken is committed; a batch's end drains the rest. */
		int rc = vmbus_ring_commit(&s->in);
		if (rc < 0)
			broke(s, "client-to-server");
		*notify |= rc == VMBUS_RING_SIGNAL;
	} else if (!s->broken) {
		int rc = vmbus_ring_finish(&s->in);
		if (rc < 0)
			broke(s, "client-to-server");
		*notify |= rc > 0 && (rc & VMBUS_RING_SIGNAL);
		/* Requests written while we finished come with no signal: take them now (unless
		   completions wait for room: the client signals once it makes some). */
		if (rc > 0 && (rc & VMBUS_RING_MORE) && !s->unsent_n)
			goto drain;
	}
}

/* Lock held: ended batches, then the client's ring when it signalled or draining paused. */
static bool service_locked(struct vmbus_scsi *s, bool signalled)
{
	bool notify = false;
	reap_locked(s, &notify);
	if (!s->open || s->broken)
		return false;
	if (signalled || (s->starved && s->inflight < MAX_INFLIGHT)) {
		s->starved = false;
		drain_locked(s, &notify);
	} else {
		/* The reaped completions went out unpublished (one publish per batch). */
		int rc = vmbus_ring_publish(&s->out);
		if (rc < 0)
			broke(s, "server-to-client");
		notify = rc == VMBUS_RING_SIGNAL;
	}
	return notify;
}

/*
 * Unlock, signal the client, and reap batches that ended while the lock was held (their
 * done() found it taken and left them to us).
 */
static void unlock_and_signal(struct vmbus_scsi *s, bool notify)
{
	for (;;) {
		struct vmbus_channel *ch = s->ch;
		pthread_mutex_unlock(&s->lock);
		if (notify && ch)
			vmbus_server_channel_signal(ch);
		/* Against done(): its push then trylock, our unlock then this look. */
		atomic_thread_fence(memory_order_seq_cst);
		if (!atomic_load(&s->ended) || pthread_mutex_trylock(&s->lock))
			return;
		notify = service_locked(s, false);
	}
}

static void batch_ended(void *arg)
{
	struct batch *b = arg;
	struct vmbus_scsi *s = b->s;
	atomic_fetch_add(&s->in_done, 1);
	struct batch *head = atomic_load(&s->ended);
	do
		b->next = head;
	while (!atomic_compare_exchange_weak(&s->ended, &head, b));
	if (pthread_mutex_trylock(&s->lock) == 0)
		unlock_and_signal(s, service_locked(s, false));
	atomic_fetch_sub(&s->in_done, 1);   /* the last touch of s */
}

/* The client signalled: drain its ring (on the signalling VP's thread). */
static void ch_signal(void *ctx, struct vmbus_channel *ch)
{
	(void)ch;
	struct vmbus_scsi *s = ctx;
	pthread_mutex_lock(&s->lock);
	unlock_and_signal(s, service_locked(s, true));
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
	s->disk = disk;
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
	/* Nothing may call back once we are gone: end what the disk still holds for us. */
	for (;;) {
		bool notify = false;
		pthread_mutex_lock(&s->lock);
		reap_locked(s, &notify);
		uint32_t n = s->inflight;
		pthread_mutex_unlock(&s->lock);
		/* in_done after the look at inflight: a done() that already took its batch may
		   still be inside (signalling, unlocking) */
		if (!n && !atomic_load(&s->in_done) && !atomic_load(&s->ended))
			break;
		scsi_disk_cancel(s->disk);
		sched_yield();      /* a done() already running on another thread */
	}
	for (struct batch *b = s->free, *next; b; b = next) {
		next = b->next;
		free(b);
	}
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
