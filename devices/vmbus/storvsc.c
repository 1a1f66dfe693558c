/* storvsc: VTL2's client of the host's synthetic SCSI controller (storvsc.h). */
#include "devices/vmbus/storvsc.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devices/vmbus/storvsp.h"
#include "devices/vmbus/vmbus_ring.h"
#include "hvcall/vmbus_ring_abi.h"

#define PAGE 4096u
#define BLOCK 512u
#define MAX_BOUNCE_PAGES 256u

enum phase { PH_IDLE, PH_BEGIN, PH_VERSION, PH_PROPS, PH_END, PH_CAP16, PH_CAP10, PH_READY,
	     PH_FAILED };

/* Newest first: the host answers REVISION_MISMATCH for the ones it does not speak. */
static const uint16_t versions[] = { STORVSP_VERSION_WIN10, STORVSP_VERSION_WIN81,
				     STORVSP_VERSION_WIN8 };

/*
 * Requests the host may hold at once. Group 0 is the synchronous batch (init, read / write /
 * flush, rw_batch, and every fallback): it runs alone, after the asynchronous batches
 * (groups 1..) have ended, so it has the ring and the bounce pages to itself.
 */
#define MAX_BATCH 32u
#define MAX_SLOTS 256u              /* slot of transaction id t: t % MAX_SLOTS */
#define MAX_GROUPS 33u         /* more than vmbus_scsi keeps in flight */
#define SYNC 0u

/* One request the host holds. */
struct slot {
	uint64_t tid;
	bool busy, done;
	uint8_t group;
	uint32_t sent_len;          /* bytes of vstor_packet we sent */
	int err;                    /* -EIO: the completion was too short to read */
	struct storvsp_vstor_packet reply;
};

/* What run() and rw_submit send for one request. */
struct req {
	uint8_t cdb[16];
	uint8_t cdb_len;
	uint8_t data_in;            /* STORVSP_SRB_DATA_* */
	uint32_t len;               /* data bytes, over bounce pages from `page` on */
	uint32_t page;
	bool direct;                /* over the caller's own pages from guest-physical `gpa` */
	uint64_t gpa;
	int err;                    /* out: 0, -EIO or -ETIMEDOUT */
};

/* A batch of requests sent together. */
struct group {
	bool busy;
	uint32_t n, ndone;
	uint16_t slot[MAX_BATCH];
	/* Asynchronous batches (rw_submit): what each request is for, and whom to tell. */
	struct req r[MAX_BATCH];
	struct scsi_disk_io *ios;
	uint8_t which[MAX_BATCH];   /* r[j] is for ios[which[j]] */
	void (*done)(void *arg);
	void *arg;
	uint32_t first_page, pages; /* bounce pages it holds */
	uint64_t deadline;          /* ns, CLOCK_MONOTONIC */
};

/* done() calls found under the lock, made after it is released. */
struct calls {
	unsigned n;
	struct { void (*fn)(void *arg); void *arg; } c[MAX_GROUPS + 1];  /* + a batch answered here */
};

struct storvsc {
	struct storvsc_config cfg;
	uint64_t pfns[MAX_BOUNCE_PAGES];
	pthread_mutex_t io_lock;    /* one synchronous batch at a time: it owns the bounce pages */
	pthread_mutex_t lock;       /* everything below, the ring views */
	pthread_cond_t cond;        /* group 0 answered, async batches ended, relay stopped */
	struct vmbus_ring out, in;
	enum phase phase;
	bool dead;                  /* a ring broke: no more requests */
	unsigned version_idx;
	uint16_t version;
	uint32_t pkt_len;           /* 48 before a version is accepted, then 64 */
	uint32_t max_xfer;          /* bytes per request: bounce size and the host's limit */
	struct scsi_disk_backend be;
	uint64_t next_tid;          /* ids are never reused: a late answer is recognised */
	uint32_t free_slots;
	struct slot slots[MAX_SLOTS];
	struct group groups[MAX_GROUPS];
	uint32_t async_busy;        /* groups 1.. in flight */
	bool sync_active;           /* group 0 waits for them, takes no new ones meanwhile */
	uint64_t bounce_used[MAX_BOUNCE_PAGES / 64];
	struct calls calls;
	pthread_t timer;            /* ends async batches the host does not answer */
	pthread_cond_t timer_cond;
	bool timer_on, stopping;
	uint64_t requests, errors, timeouts, bytes_read, bytes_written, bad_packets, direct;
};

static void slog(struct storvsc *s, const char *line)
{
	if (s->cfg.log)
		s->cfg.log(s->cfg.ctx, line);
	else
		fprintf(stderr, "storvsc: %s\n", line);
}

static void put_be(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static uint64_t get_be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static uint64_t mono_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* When a request sent now has waited cfg.timeout_ms (mono_ns). */
static uint64_t timeout_at(const struct storvsc *s)
{
	return mono_ns() + (uint64_t)s->cfg.timeout_ms * 1000000u;
}

/* The CLOCK_MONOTONIC deadline `ns` from now, for pthread_cond_timedwait. */
static struct timespec deadline_in(uint64_t ns)
{
	uint64_t t = mono_ns() + ns;
	return (struct timespec){ .tv_sec = (time_t)(t / 1000000000u),
				  .tv_nsec = (long)(t % 1000000000u) };
}

/* ---- slots, groups, bounce pages (lock held) ---- */

/* A free slot (the caller checked free_slots) under a new transaction id. */
static uint16_t slot_take(struct storvsc *s, uint8_t group)
{
	for (;;) {
		uint64_t tid = ++s->next_tid;
		struct slot *sl = &s->slots[tid % MAX_SLOTS];
		if (sl->busy)
			continue;   /* still held by an older request: skip that id */
		sl->tid = tid;
		sl->busy = true;
		sl->done = false;
		sl->group = group;
		s->free_slots--;
		return (uint16_t)(tid % MAX_SLOTS);
	}
}

static void slot_put(struct storvsc *s, uint16_t i)
{
	s->slots[i].busy = false;
	s->free_slots++;
}

/* A synchronous batch of n requests (n <= MAX_BATCH: no async batch holds slots now). */
static void sync_begin(struct storvsc *s, uint32_t n)
{
	struct group *g = &s->groups[SYNC];
	g->busy = true;
	g->n = n;
	g->ndone = 0;
	for (uint32_t i = 0; i < n; i++)
		g->slot[i] = slot_take(s, SYNC);
}

/* Keep the first n requests of the synchronous batch (the rest were not sent). */
static void sync_trim(struct storvsc *s, uint32_t n)
{
	struct group *g = &s->groups[SYNC];
	for (uint32_t i = n; i < g->n; i++)
		slot_put(s, g->slot[i]);
	if (n < g->n)
		g->n = n;
}

/* Over: a late answer is dropped as unknown. */
static void sync_end(struct storvsc *s)
{
	sync_trim(s, 0);
	s->groups[SYNC].busy = false;
}

static bool batch_done(const struct storvsc *s)
{
	const struct group *g = &s->groups[SYNC];
	return g->n && g->ndone == g->n;
}

static bool page_used(const struct storvsc *s, uint32_t p)
{
	return s->bounce_used[p / 64] >> (p % 64) & 1;
}

static void pages_mark(struct storvsc *s, uint32_t first, uint32_t n, bool used)
{
	for (uint32_t p = first; p < first + n; p++) {
		if (used)
			s->bounce_used[p / 64] |= 1ull << (p % 64);
		else
			s->bounce_used[p / 64] &= ~(1ull << (p % 64));
	}
}

/* The first run of n free bounce pages, or -1. */
static int64_t pages_find(const struct storvsc *s, uint32_t n)
{
	for (uint32_t first = 0, len = 0, p = 0; p < s->cfg.bounce_pages; p++) {
		if (page_used(s, p)) {
			first = p + 1;
			len = 0;
		} else if (++len == n) {
			return first;
		}
	}
	return -1;
}

static void call_later(struct storvsc *s, void (*fn)(void *), void *arg)
{
	s->calls.c[s->calls.n].fn = fn;
	s->calls.c[s->calls.n].arg = arg;
	s->calls.n++;
}

/* Unlock, then make the done() calls queued meanwhile. */
static void unlock_and_call(struct storvsc *s)
{
	struct calls c;
	c.n = s->calls.n;
	for (unsigned i = 0; i < c.n; i++)
		c.c[i] = s->calls.c[i];
	s->calls.n = 0;
	pthread_mutex_unlock(&s->lock);
	for (unsigned i = 0; i < c.n; i++)
		c.c[i].fn(c.c[i].arg);
}

static int srb_result(const struct slot *sl, uint32_t requested, bool exact, uint32_t *dtl);

/*
 * An asynchronous batch ends: every answered request gets its verdict, the others `err`
 * (-ETIMEDOUT, -ECANCELED, -EIO); bounce data into the caller's buffers; its done() queued.
 */
static void async_end(struct storvsc *s, struct group *g, int err)
{
	for (uint32_t j = 0; j < g->n; j++) {
		struct slot *sl = &s->slots[g->slot[j]];
		const struct req *r = &g->r[j];
		struct scsi_disk_io *io = &g->ios[g->which[j]];
		uint32_t dtl;
		io->err = sl->done ? srb_result(sl, r->len, true, &dtl) : err;
		if (!sl->done && err == -ETIMEDOUT)
			s->timeouts++;
		if (io->err) {
			s->errors++;
		} else if (io->write) {
			s->bytes_written += io->len;
		} else {
			if (!r->direct)
				memcpy(io->buf, (uint8_t *)s->cfg.bounce + (size_t)r->page * PAGE,
				       io->len);
			s->bytes_read += io->len;
		}
		slot_put(s, g->slot[j]);
	}
	pages_mark(s, g->first_page, g->pages, false);
	g->busy = false;
	s->async_busy--;
	call_later(s, g->done, g->arg);
	if (s->sync_active)
		pthread_cond_broadcast(&s->cond);
}

/* End every asynchronous batch now, unanswered requests with err. */
static void async_end_all(struct storvsc *s, int err)
{
	for (uint32_t i = 1; i < MAX_GROUPS; i++)
		if (s->groups[i].busy)
			async_end(s, &s->groups[i], err);
}

/* Lock held. A ring broke the protocol: no more requests, waiters stop waiting. */
static void stop_relay(struct storvsc *s, const char *whose)
{
	if (s->dead)
		return;
	s->dead = true;
	char line[64];
	snprintf(line, sizeof(line), "the host broke %s ring: disk relay stopped", whose);
	slog(s, line);
	async_end_all(s, -EIO);
	pthread_cond_broadcast(&s->cond);
}

/* ---- sending (lock held) ---- */

/*
 * Send the request in slot `si`: `pk` (s->pkt_len bytes), GPA-direct when data_len > 0:
 * over bounce pages [page, page + ceil(data_len / 4096)), or with `direct` over the pages
 * from guest-physical `gpa` on. `opts`: vmbus_ring_send's. 1: signal the host; 0; -errno.
 */
static int send_locked(struct storvsc *s, uint16_t si, const struct storvsp_vstor_packet *pk,
		       uint32_t data_len, uint32_t page, bool direct, uint64_t gpa, unsigned opts)
{
	if (s->dead)
		return -EIO;
	/* GPA-direct header, one range header, its PFNs: 8-byte words. A direct buffer of up
	   to max_xfer bytes may start inside a page: one more. */
	uint64_t ext[2 + MAX_BOUNCE_PAGES + 1];
	const uint32_t first_off = direct ? (uint32_t)(gpa % PAGE) : 0;
	uint32_t npfn = (first_off + data_len + PAGE - 1) / PAGE;
	struct vmbus_pkt_gpa_direct_hdr gh = { .range_count = 1 };
	struct vmbus_pkt_gpa_range gr = { .byte_count = data_len, .byte_offset = first_off };
	memcpy(&ext[0], &gh, sizeof(gh));
	memcpy(&ext[1], &gr, sizeof(gr));
	for (uint32_t i = 0; i < npfn; i++)
		ext[2 + i] = direct ? gpa / PAGE + i : s->pfns[page + i];
	struct vmbus_ring_piece piece = { pk, s->pkt_len };
	struct vmbus_ring_out o = {
		.type = data_len ? VMBUS_PKT_DATA_GPA_DIRECT : VMBUS_PKT_DATA_INBAND,
		.flags = VMBUS_PKT_FLAG_COMPLETION_REQUESTED,
		.transaction_id = s->slots[si].tid,
		.ext = data_len ? ext : NULL,
		.ext_len = data_len ? (uint32_t)(16 + npfn * 8) : 0,
		.pieces = &piece,
		.piece_count = 1,
	};
	int rc = vmbus_ring_send(&s->out, &o, opts);
	if (rc == -EPROTO)
		stop_relay(s, "our");
	/* Synchronous batches fit the ring (bounded by the bounce pages) and async ones were
	   measured against its free space: a full ring is the host's. */
	if (rc < 0)
		return rc == -EAGAIN ? -EIO : rc;
	s->slots[si].sent_len = s->pkt_len;
	return rc == VMBUS_RING_SIGNAL;
}

/* Ring bytes of one request: descriptor, GPA-direct header and range, PFNs, packet, trailer. */
static uint32_t ring_bytes(const struct storvsc *s, uint32_t data_len, uint64_t gpa, bool direct)
{
	uint32_t off = direct ? (uint32_t)(gpa % PAGE) : 0;
	uint32_t npfn = data_len ? (off + data_len + PAGE - 1) / PAGE : 0;
	uint32_t n = 16 + (data_len ? 16 + 8 * npfn : 0) + s->pkt_len;
	return ((n + 7) & ~7u) + 8;
}

/* An init step: a batch of one, published at once. */
static int send_one_locked(struct storvsc *s, const struct storvsp_vstor_packet *pk,
			   uint32_t data_len)
{
	sync_begin(s, 1);
	int rc = send_locked(s, s->groups[SYNC].slot[0], pk, data_len, 0, false, 0, 0);
	if (rc < 0)
		sync_end(s);
	return rc;
}

static struct storvsp_vstor_packet make_op(uint32_t op)
{
	return (struct storvsp_vstor_packet){ .operation = op,
					      .flags = STORVSP_FLAG_REQUEST_COMPLETION };
}

static struct storvsp_vstor_packet make_srb(const uint8_t *cdb, uint8_t cdb_len, uint8_t data_in,
					    uint32_t len)
{
	struct storvsp_vstor_packet pk = make_op(STORVSP_OP_EXECUTE_SRB);
	pk.u.srb.length = sizeof(pk.u.srb);
	pk.u.srb.cdb_length = cdb_len;
	pk.u.srb.sense_info_length = STORVSP_CDB_AREA;
	pk.u.srb.data_in = data_in;
	pk.u.srb.data_transfer_length = len;
	memcpy(pk.u.srb.cdb, cdb, cdb_len);
	return pk;
}

/* ---- receiving (lock held) ---- */

/* Read the host's ring: completions for the requests it holds. 1: signal the host. */
static int drain_locked(struct storvsc *s)
{
	if (s->dead)
		return 0;
	int sig = 0;
again:
	for (;;) {
		struct vmbus_ring_packet p;
		int rc = vmbus_ring_peek(&s->in, &p);
		if (rc == -EAGAIN)
			break;
		if (rc < 0) {
			stop_relay(s, "its");
			return 0;
		}
		_Alignas(8) uint8_t buf[128];
		int32_t n = p.desc.type == VMBUS_PKT_COMPLETION ?
			vmbus_ring_packet_payload(&s->in, &p, buf, sizeof(buf)) : -1;
		struct slot *sl = &s->slots[p.desc.transaction_id % MAX_SLOTS];
		if (n < 0 || !sl->busy || sl->tid != p.desc.transaction_id || sl->done) {
			s->bad_packets++;
		} else {
			/* Ours: a short one still ends the wait (as an error), not by timeout. */
			size_t take = (size_t)n < sizeof(sl->reply) ? (size_t)n : sizeof(sl->reply);
			memset(&sl->reply, 0, sizeof(sl->reply));
			memcpy(&sl->reply, buf, take);
			sl->err = (uint32_t)n < sl->sent_len ? -EIO : 0;
			if (sl->err)
				s->bad_packets++;
			sl->done = true;
			struct group *g = &s->groups[sl->group];
			if (++g->ndone == g->n) {
				if (sl->group == SYNC)
					pthread_cond_broadcast(&s->cond);
				else
					async_end(s, g, -EIO);
			}
		}
		if (vmbus_ring_advance(&s->in) < 0)
			break;
	}
	/* Completions written while we finished come with no signal: read them now. */
	int rc = vmbus_ring_finish(&s->in);
	if (rc > 0)
		sig |= rc & VMBUS_RING_SIGNAL;
	if (rc > 0 && (rc & VMBUS_RING_MORE) && !s->dead)
		goto again;
	return sig;
}

/* The completion's verdict for an SRB: 0 with *dtl, or -EIO. */
static int srb_result(const struct slot *sl, uint32_t requested, bool exact, uint32_t *dtl)
{
	const struct storvsp_vstor_packet *r = &sl->reply;
	if (!sl->done || sl->err || r->operation != STORVSP_OP_COMPLETE_IO ||
	    r->status != STORVSP_STATUS_SUCCESS)
		return -EIO;
	/* 0x80 autosense valid, 0x40 queue frozen: flags, not the status. */
	if ((r->u.srb.srb_status & 0x3F) != STORVSP_SRB_SUCCESS || r->u.srb.scsi_status != 0)
		return -EIO;
	uint32_t n = r->u.srb.data_transfer_length;
	if (n > requested || (exact && n != requested))
		return -EIO;
	*dtl = n;
	return 0;
}

/* ---- init, one step per completion (lock held) ---- */

static int capacity(struct storvsc *s, uint64_t last_lba, uint64_t block_len)
{
	char line[128];
	if (block_len != BLOCK) {
		snprintf(line, sizeof(line),
			 "the host's disk has %llu-byte blocks: only 512 is relayed",
			 (unsigned long long)block_len);
		slog(s, line);
		return -ENOTSUP;
	}
	if (last_lba >= STORVSC_MAX_DISK_BYTES / BLOCK) {
		slog(s, "the host claims a disk larger than 1 PiB: refused");
		return -EIO;
	}
	s->be.size = (last_lba + 1) * BLOCK;
	return 0;
}

/* After the init transaction completed: 1 signal, 0 nothing, -errno init failed. */
static int init_step_locked(struct storvsc *s)
{
	static const uint8_t rc16[16] = { 0x9E, 0x10, [13] = 32 };
	static const uint8_t rc10[10] = { 0x25 };
	/* Consumed: the next step starts its own batch. */
	const struct slot slot = s->slots[s->groups[SYNC].slot[0]];
	const struct slot *sl = &slot;
	const struct storvsp_vstor_packet *r = &sl->reply;
	sync_end(s);
	if (sl->err || r->operation != STORVSP_OP_COMPLETE_IO)
		return -EIO;
	struct storvsp_vstor_packet pk;
	uint32_t dtl = 0;
	switch (s->phase) {
	case PH_BEGIN:
		if (r->status != STORVSP_STATUS_SUCCESS)
			return -EIO;
		s->version_idx = 0;
		goto version;
	case PH_VERSION:
		if (r->status == STORVSP_STATUS_REVISION_MISMATCH &&
		    ++s->version_idx < sizeof(versions) / sizeof(versions[0]))
			goto version;
		if (r->status != STORVSP_STATUS_SUCCESS)
			return -EPROTONOSUPPORT;
		s->version = versions[s->version_idx];
		s->pkt_len = STORVSP_PACKET_SIZE;
		s->phase = PH_PROPS;
		pk = make_op(STORVSP_OP_QUERY_PROPERTIES);
		return send_one_locked(s, &pk, 0);
	case PH_PROPS: {
		if (r->status != STORVSP_STATUS_SUCCESS)
			return -EIO;
		/* The host's limit only lowers ours (the bounce buffer); nonsense is ignored. */
		uint32_t m = r->u.properties.max_transfer_bytes;
		if (m >= BLOCK && m < s->max_xfer)
			s->max_xfer = m / BLOCK * BLOCK;
		s->phase = PH_END;
		pk = make_op(STORVSP_OP_END_INITIALIZATION);
		return send_one_locked(s, &pk, 0);
	}
	case PH_END:
		if (r->status != STORVSP_STATUS_SUCCESS)
			return -EIO;
		s->phase = PH_CAP16;
		pk = make_srb(rc16, sizeof(rc16), STORVSP_SRB_DATA_IN, 32);
		return send_one_locked(s, &pk, 32);
	case PH_CAP16: {
		if (srb_result(sl, 32, false, &dtl) == 0 && dtl >= 12) {
			uint8_t d[12];
			/* Read once: the host may still change it. */
			memcpy(d, s->cfg.bounce, sizeof(d));
			int rc = capacity(s, get_be(d, 8), get_be(d + 8, 4));
			return rc ? rc : (s->phase = PH_READY, 0);
		}
		s->phase = PH_CAP10;
		pk = make_srb(rc10, sizeof(rc10), STORVSP_SRB_DATA_IN, 8);
		return send_one_locked(s, &pk, 8);
	}
	case PH_CAP10: {
		if (srb_result(sl, 8, false, &dtl) || dtl < 8)
			return -EIO;
		uint8_t d[8];
		memcpy(d, s->cfg.bounce, sizeof(d));
		uint64_t last = get_be(d, 4);
		if (last == 0xFFFFFFFFu)
			return -EIO; /* "use READ CAPACITY(16)", which just failed */
		int rc = capacity(s, last, get_be(d + 4, 4));
		return rc ? rc : (s->phase = PH_READY, 0);
	}
	default:
		return 0;
	}
version:
	s->phase = PH_VERSION;
	pk = make_op(STORVSP_OP_QUERY_PROTOCOL_VERSION);
	pk.u.version.major_minor = versions[s->version_idx];
	return send_one_locked(s, &pk, 0);
}

/*
 * Read what the host sent, run init, signal; poll again after each signal (sync hosts).
 * True when the batch waited for is over (all answered, or the relay stopped).
 */
static bool pump(struct storvsc *s)
{
	bool over;
	for (;;) {
		pthread_mutex_lock(&s->lock);
		int sig = drain_locked(s);
		int ready = 1; /* 1: nothing to report */
		if (s->phase > PH_IDLE && s->phase < PH_READY && (batch_done(s) || s->dead)) {
			int rc = s->dead ? -EIO : init_step_locked(s);
			if (rc < 0) {
				s->phase = PH_FAILED;
				ready = rc;
			} else {
				sig |= rc;
				if (s->phase == PH_READY)
					ready = 0;
			}
		}
		over = batch_done(s) || s->dead;
		unlock_and_call(s);
		if (ready <= 0) {
			if (ready < 0) {
				char line[96];
				snprintf(line, sizeof(line), "the host's disk failed its init: %s",
					 strerror(-ready));
				slog(s, line);
			}
			if (s->cfg.ready) {
				const struct scsi_disk_backend *be = ready ? NULL : &s->be;
				s->cfg.ready(s->cfg.ctx, ready, be);
			}
		}
		if (!sig)
			return over;
		s->cfg.signal(s->cfg.ctx);
	}
}

void storvsc_event(struct storvsc *s)
{
	if (s)
		pump(s);
}

int storvsc_start(struct storvsc *s)
{
	pthread_mutex_lock(&s->lock);
	int rc = -EALREADY;
	if (s->phase == PH_IDLE) {
		struct storvsp_vstor_packet pk = make_op(STORVSP_OP_BEGIN_INITIALIZATION);
		s->phase = PH_BEGIN;
		rc = send_one_locked(s, &pk, 0);
		if (rc < 0)
			s->phase = PH_FAILED;
	}
	pthread_mutex_unlock(&s->lock);
	if (rc < 0)
		return rc;
	if (rc)
		s->cfg.signal(s->cfg.ctx);
	pump(s);
	return 0;
}

/* ---- I/O (caller's thread, io_lock held) ---- */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield" ::: "memory");
#endif
}

/*
 * Read the host's ring for the batch's answers for up to SPIN_NS before sleeping on the
 * condition variable: a host may have answered inside the signal (hvsim's does), and one that
 * answers within microseconds is seen at once (waking a sleeping thread cost ~35 us a
 * request here, more than a fast host's answer). The thread waits for the batch either way.
 */
#define SPIN_NS 50000u
static void poll_briefly(struct storvsc *s)
{
	const uint64_t end = mono_ns() + SPIN_NS;
	for (unsigned i = 1;; i++) {
		if (pump(s))
			return;
		cpu_relax();
		if (i % 16 == 0 && mono_ns() > end)
			return;
	}
}

/* Lock held (and again on return): read the host's ring, then sleep up to 1 ms (answers and
   freed space also come through pump, from the host thread or the next call here). */
static void wait_a_little(struct storvsc *s)
{
	unlock_and_call(s);
	pump(s);
	pthread_mutex_lock(&s->lock);
	struct timespec dl = deadline_in(1000000);
	pthread_cond_timedwait(&s->cond, &s->lock, &dl);
}

/* Lock held: end the asynchronous batches past their deadline (their done() queued). */
static void expire_locked(struct storvsc *s)
{
	uint64_t t = mono_ns();
	for (uint32_t i = 1; i < MAX_GROUPS; i++)
		if (s->groups[i].busy && t >= s->groups[i].deadline)
			async_end(s, &s->groups[i], -ETIMEDOUT);
}

/*
 * Lock held: until no asynchronous batch is in flight (they end by answer, timeout or a
 * broken ring). The waiter reads the ring and expires batches itself: it may be the thread
 * that would otherwise do either (the host-event thread or the timer thread, when a batch's
 * done() resumed a drain that needs a synchronous command).
 */
static void wait_async_idle(struct storvsc *s)
{
	while (s->async_busy && !s->dead) {
		wait_a_little(s);
		expire_locked(s);
	}
}

/*
 * Lock held: until our ring has `need` bytes free. The host frees them when it commits what
 * it read, which it may do after answering (a full ring is then not an error); it is asked
 * to signal (pending_send_sz). 0, -EIO (relay stopped) or -ETIMEDOUT.
 */
static int wait_ring_space(struct storvsc *s, uint32_t need)
{
	uint64_t deadline = 0;
	for (;;) {
		if (s->dead)
			return -EIO;
		int32_t room = vmbus_ring_write_space(&s->out);
		if (room < 0) {
			stop_relay(s, "its");
			return -EIO;
		}
		if ((uint32_t)room >= need)
			return 0;
		uint64_t t = mono_ns();
		if (!deadline) {
			deadline = timeout_at(s);
			uint32_t max = vmbus_ring_max_packet_size(&s->out);
			vmbus_ring_set_pending_send(&s->out, need < max ? need : max);
		} else if (t >= deadline) {
			s->timeouts++;
			return -ETIMEDOUT;
		}
		wait_a_little(s);
	}
}

/*
 * Send n requests (n <= MAX_BATCH, their bounce pages disjoint) as the synchronous batch,
 * signal once, wait for all. Each r[i].err: 0 or -EIO / -ETIMEDOUT.
 */
static void run(struct storvsc *s, struct req *r, uint32_t n)
{
	pthread_mutex_lock(&s->lock);
	s->requests += n;
	uint32_t sent = 0;
	int sig = 0, rc = s->phase == PH_READY && !s->dead ? 0 : -EIO;
	uint32_t need = 0;
	for (uint32_t i = 0; i < n; i++)
		need += ring_bytes(s, r[i].data_in == STORVSP_SRB_DATA_NONE ? 0 : r[i].len,
				   r[i].gpa, r[i].direct);
	if (rc == 0)
		rc = wait_ring_space(s, need);
	const bool begun = rc == 0;
	if (begun) {
		sync_begin(s, n);
		for (; sent < n; sent++) {
			struct storvsp_vstor_packet pk = make_srb(r[sent].cdb, r[sent].cdb_len,
								  r[sent].data_in, r[sent].len);
			uint32_t data = r[sent].data_in == STORVSP_SRB_DATA_NONE ? 0 : r[sent].len;
			if (send_locked(s, s->groups[SYNC].slot[sent], &pk, data, r[sent].page,
					r[sent].direct, r[sent].gpa, VMBUS_RING_SEND_NO_PUBLISH) < 0)
				break;
			s->direct += r[sent].direct;
		}
		/* What was sent is published and waited for; the rest failed. */
		sync_trim(s, sent);
		if (sent) {
			int p = vmbus_ring_publish(&s->out);
			sig = p == VMBUS_RING_SIGNAL;
			if (p == -EPROTO)
				stop_relay(s, "our");
		}
	}
	unlock_and_call(s);
	if (sig)
		s->cfg.signal(s->cfg.ctx);
	if (sent)
		poll_briefly(s);
	pthread_mutex_lock(&s->lock);
	/* The deadline only when we wait: a synchronous host has answered already. The wait
	   reads the ring itself every millisecond: the waiter may be the host-event thread. */
	uint64_t deadline = 0;
	if (sent && !batch_done(s) && !s->dead)
		deadline = timeout_at(s);
	while (sent && rc == 0 && !batch_done(s) && !s->dead) {
		if (mono_ns() >= deadline) {
			s->timeouts++;
			rc = -ETIMEDOUT;
			break;
		}
		wait_a_little(s);
	}
	const struct group *g = &s->groups[SYNC];
	for (uint32_t i = 0; i < n; i++) {
		uint32_t dtl;
		const struct slot *sl = i < sent ? &s->slots[g->slot[i]] : NULL;
		r[i].err = !sl ? (rc ? rc : -EIO) :
			   sl->done ? srb_result(sl, r[i].len, r[i].data_in != STORVSP_SRB_DATA_NONE,
						 &dtl) :
			   rc ? rc : -EIO;
		if (r[i].err)
			s->errors++;
	}
	if (begun)
		sync_end(s);
	unlock_and_call(s);
}

/*
 * The synchronous batch's turn (takes io_lock): no new asynchronous batch starts and those in
 * flight end first, so the bounce pages are its own before it copies anything into them.
 */
static void sync_claim(struct storvsc *s)
{
	pthread_mutex_lock(&s->io_lock);
	pthread_mutex_lock(&s->lock);
	s->sync_active = true;
	wait_async_idle(s);
	unlock_and_call(s);
}

static void sync_release(struct storvsc *s)
{
	pthread_mutex_lock(&s->lock);
	s->sync_active = false;
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_unlock(&s->io_lock);
}

static bool io_ok(const struct storvsc *s, size_t len, uint64_t off)
{
	return len % BLOCK == 0 && off % BLOCK == 0 && off <= s->be.size &&
	       len <= s->be.size - off;
}

/* A READ(16) / WRITE(16) of len bytes at off over bounce pages from `page` on. */
static void rw_req(struct req *r, bool write, uint32_t len, uint64_t off, uint32_t page)
{
	*r = (struct req){ .cdb = { write ? 0x8A : 0x88 }, .cdb_len = 16,
			   .data_in = write ? STORVSP_SRB_DATA_OUT : STORVSP_SRB_DATA_IN,
			   .len = len, .page = page };
	put_be(r->cdb + 2, off / BLOCK, 8);
	put_be(r->cdb + 10, len / BLOCK, 4);
}

/* The buffer itself when the host may reach it (cfg.host_gpa), instead of bounce pages. */
static bool try_direct(struct storvsc *s, struct req *r, const void *buf)
{
	uint64_t g;
	if (!s->cfg.host_gpa || s->cfg.host_gpa(s->cfg.ctx, buf, r->len, &g) != 0 ||
	    g / PAGE > (1ull << 52) - 1 - (r->len + PAGE) / PAGE)
		return false;
	r->direct = true;
	r->gpa = g;
	return true;
}

static void count_bytes(struct storvsc *s, bool write, uint64_t n)
{
	pthread_mutex_lock(&s->lock);
	if (write)
		s->bytes_written += n;
	else
		s->bytes_read += n;
	pthread_mutex_unlock(&s->lock);
}

/* One transfer, split into pieces of max_xfer bytes sent one after the other. */
static int rw_locked(struct storvsc *s, void *rbuf, const void *wbuf, size_t len, uint64_t off)
{
	if (!io_ok(s, len, off))
		return -EINVAL;
	int rc = 0;
	for (size_t done = 0; done < len && rc == 0;) {
		uint32_t n = len - done < s->max_xfer ? (uint32_t)(len - done) : s->max_xfer;
		struct req r;
		rw_req(&r, wbuf != NULL, n, off + done, 0);
		bool direct = try_direct(s, &r, wbuf ? (const uint8_t *)wbuf + done
						     : (const uint8_t *)rbuf + done);
		if (wbuf && !direct)
			memcpy(s->cfg.bounce, (const uint8_t *)wbuf + done, n);
		run(s, &r, 1);
		rc = r.err;
		if (rc == 0 && rbuf && !direct)
			memcpy((uint8_t *)rbuf + done, s->cfg.bounce, n);
		done += n;
	}
	if (rc == 0)
		count_bytes(s, wbuf != NULL, len);
	return rc;
}

static int be_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	struct storvsc *s = ctx;
	sync_claim(s);
	int rc = rw_locked(s, buf, NULL, len, off);
	sync_release(s);
	return rc;
}

static int be_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
	struct storvsc *s = ctx;
	sync_claim(s);
	int rc = rw_locked(s, NULL, buf, len, off);
	sync_release(s);
	return rc;
}

/*
 * Several transfers in flight at once: as many as fit MAX_BATCH and the bounce pages go out
 * together (one signal, one wait); one larger than max_xfer goes alone, split.
 */
static void be_rw_batch(void *ctx, struct scsi_disk_io *ios, size_t n)
{
	struct storvsc *s = ctx;
	sync_claim(s);
	for (size_t i = 0; i < n;) {
		struct scsi_disk_io *io = &ios[i];
		if (io->len > s->max_xfer && io_ok(s, io->len, io->offset)) {
			io->err = io->write ? rw_locked(s, NULL, io->buf, io->len, io->offset)
					    : rw_locked(s, io->buf, NULL, io->len, io->offset);
			i++;
			continue;
		}
		struct req r[MAX_BATCH];
		size_t which[MAX_BATCH];
		uint32_t k = 0, pages = 0;
		for (; i < n && k < MAX_BATCH; i++) {
			io = &ios[i];
			if (!io_ok(s, io->len, io->offset) || io->len == 0) {
				io->err = io->len == 0 && io_ok(s, 0, io->offset) ? 0 : -EINVAL;
				continue;   /* answered without the host */
			}
			if (io->len > s->max_xfer)
				break;
			rw_req(&r[k], io->write, (uint32_t)io->len, io->offset, pages);
			if (!try_direct(s, &r[k], io->buf)) {
				uint32_t np = (uint32_t)((io->len + PAGE - 1) / PAGE);
				if (pages + np > s->cfg.bounce_pages)
					break;
				if (io->write)
					memcpy((uint8_t *)s->cfg.bounce + (size_t)pages * PAGE,
					       io->buf, io->len);
				pages += np;
			}
			which[k++] = i;
		}
		if (k == 0)
			continue;
		run(s, r, k);
		uint64_t rd = 0, wr = 0;
		for (uint32_t j = 0; j < k; j++) {
			io = &ios[which[j]];
			io->err = r[j].err;
			if (io->err)
				continue;
			if (io->write) {
				wr += io->len;
			} else {
				if (!r[j].direct)
					memcpy(io->buf,
					       (uint8_t *)s->cfg.bounce + (size_t)r[j].page * PAGE,
					       io->len);
				rd += io->len;
			}
		}
		if (rd)
			count_bytes(s, false, rd);
		if (wr)
			count_bytes(s, true, wr);
	}
	sync_release(s);
}

static int be_flush(void *ctx)
{
	struct storvsc *s = ctx;
	struct req r = { .cdb = { 0x35 }, .cdb_len = 10,   /* SYNCHRONIZE CACHE(10): all */
			 .data_in = STORVSP_SRB_DATA_NONE };
	sync_claim(s);
	run(s, &r, 1);
	sync_release(s);
	return r.err;
}

/* End the asynchronous batches now: what the host has not answered fails (-ECANCELED). */
static void be_cancel(void *ctx)
{
	struct storvsc *s = ctx;
	pthread_mutex_lock(&s->lock);
	async_end_all(s, -ECANCELED);
	unlock_and_call(s);
}

/* Ends the asynchronous batches whose host stays silent past their deadline. */
static void *timer_main(void *arg)
{
	struct storvsc *s = arg;
	uint64_t period = s->cfg.timeout_ms / 4u;
	period = (period < 5 ? 5 : period > 1000 ? 1000 : period) * 1000000u;
	pthread_mutex_lock(&s->lock);
	while (!s->stopping) {
		struct timespec dl = deadline_in(period);
		pthread_cond_timedwait(&s->timer_cond, &s->lock, &dl);
		expire_locked(s);
		if (s->calls.n) {
			unlock_and_call(s);
			pthread_mutex_lock(&s->lock);
		}
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/*
 * Transfers that complete later: one asynchronous batch of up to MAX_BATCH requests, each
 * with its own pages (the caller's when the host may reach them, else bounce pages held until
 * the batch ends), sent with one signal; done() when every one is answered or the batch
 * times out. -EAGAIN (nothing sent) when it cannot go now: the synchronous batch is running,
 * not enough slots, groups, bounce pages or ring space, or a transfer needs splitting.
 */
static int be_rw_submit(void *ctx, struct scsi_disk_io *ios, size_t n, void (*done)(void *),
			void *arg)
{
	struct storvsc *s = ctx;
	if (n > MAX_BATCH)
		return -EAGAIN;
	pthread_mutex_lock(&s->lock);
	int rc = -EAGAIN, sig = 0;
	struct group *g = NULL;
	for (uint32_t i = 1; i < MAX_GROUPS && !g; i++)
		if (!s->groups[i].busy)
			g = &s->groups[i];
	if (!g || s->phase != PH_READY || s->dead || s->sync_active || s->free_slots < n)
		goto out;
	if (!s->timer_on) {
		if (pthread_create(&s->timer, NULL, timer_main, s))
			goto out;
		s->timer_on = true;
	}
	uint32_t k = 0, pages = 0;
	int64_t ring = 0;
	for (size_t i = 0; i < n; i++) {
		struct scsi_disk_io *io = &ios[i];
		if (!io_ok(s, io->len, io->offset) || io->len == 0) {
			io->err = io->len == 0 && io_ok(s, 0, io->offset) ? 0 : -EINVAL;
			continue;   /* answered without the host */
		}
		if (io->len > s->max_xfer)
			goto out;
		struct req *r = &g->r[k];
		rw_req(r, io->write, (uint32_t)io->len, io->offset, pages);
		if (!try_direct(s, r, io->buf))
			pages += (uint32_t)((io->len + PAGE - 1) / PAGE);
		ring += ring_bytes(s, r->len, r->gpa, r->direct);
		g->which[k++] = (uint8_t)i;
	}
	int64_t first = pages ? pages_find(s, pages) : 0;
	if (first < 0 || (k && vmbus_ring_write_space(&s->out) < ring))
		goto out;
	rc = 0;
	if (k == 0) {
		call_later(s, done, arg);   /* all answered here */
		goto out;
	}
	/* (g->r and g->which are filled already) */
	g->busy = true;
	g->n = k;
	g->ndone = 0;
	g->ios = ios;
	g->done = done;
	g->arg = arg;
	g->first_page = (uint32_t)first;
	g->pages = pages;
	g->deadline = timeout_at(s);
	pages_mark(s, (uint32_t)first, pages, true);
	s->async_busy++;
	s->requests += k;
	const uint8_t gi = (uint8_t)(g - s->groups);
	for (uint32_t j = 0; j < k; j++) {
		struct req *r = &g->r[j];
		struct scsi_disk_io *io = &ios[g->which[j]];
		g->slot[j] = slot_take(s, gi);
		if (!r->direct) {
			r->page += (uint32_t)first;
			if (io->write)
				memcpy((uint8_t *)s->cfg.bounce + (size_t)r->page * PAGE, io->buf,
				       io->len);
		}
	}
	uint32_t sent = 0;
	for (; sent < k; sent++) {
		struct req *r = &g->r[sent];
		struct storvsp_vstor_packet pk = make_srb(r->cdb, r->cdb_len, r->data_in, r->len);
		if (send_locked(s, g->slot[sent], &pk, r->len, r->page, r->direct, r->gpa,
				VMBUS_RING_SEND_NO_PUBLISH) < 0)
			break;
		s->direct += r->direct;
	}
	if (sent) {
		int p = vmbus_ring_publish(&s->out);
		sig = p == VMBUS_RING_SIGNAL;
		if (p == -EPROTO)
			stop_relay(s, "our");
	}
	if (sent < k && g->busy) {
		/* The ring refused (it broke): what was not sent fails now. */
		for (uint32_t j = sent; j < k; j++) {
			struct slot *sl = &s->slots[g->slot[j]];
			sl->done = true;
			sl->err = -EIO;
		}
		g->ndone += k - sent;
		if (g->ndone == g->n)
			async_end(s, g, -EIO);
	}
out:
	unlock_and_call(s);
	if (sig)
		s->cfg.signal(s->cfg.ctx);
	if (rc == 0 && sig)
		pump(s);    /* a host that answered inside the signal, as hvsim's does */
	return rc;
}

static const struct scsi_disk_backend_ops backend_ops = {
	.read = be_read,
	.write = be_write,
	.flush = be_flush,
	.rw_batch = be_rw_batch,
	.rw_submit = be_rw_submit,
	.cancel = be_cancel,
};

/* ---- life ---- */

int storvsc_create(const struct storvsc_config *cfg, struct storvsc **out)
{
	if (!cfg || !out || !cfg->ring || cfg->ring_pages < 4 || cfg->ring_pages % 2 ||
	    !cfg->bounce || !cfg->bounce_pfns || !cfg->bounce_pages ||
	    cfg->bounce_pages > MAX_BOUNCE_PAGES || !cfg->signal)
		return -EINVAL;
	struct storvsc *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	if (!s->cfg.timeout_ms)
		s->cfg.timeout_ms = STORVSC_TIMEOUT_MS;
	memcpy(s->pfns, cfg->bounce_pfns, cfg->bounce_pages * sizeof(uint64_t));
	s->pkt_len = STORVSP_PACKET_SIZE_PRE_WIN8;
	s->max_xfer = cfg->bounce_pages * PAGE;
	s->be = (struct scsi_disk_backend){ .ops = &backend_ops, .ctx = s };
	uint8_t *ring = cfg->ring;
	size_t half = (size_t)cfg->ring_pages / 2 * PAGE;
	if (vmbus_ring_init(&s->out, VMBUS_RING_PRODUCER, ring, ring + PAGE, half - PAGE) ||
	    vmbus_ring_init(&s->in, VMBUS_RING_CONSUMER, ring + half, ring + half + PAGE,
			    half - PAGE)) {
		free(s);
		return -EINVAL;
	}
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_cond_init(&s->timer_cond, &ca);
	pthread_condattr_destroy(&ca);
	s->free_slots = MAX_SLOTS;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->io_lock, NULL);
	*out = s;
	return 0;
}

void storvsc_destroy(struct storvsc *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_signal(&s->timer_cond);
	pthread_mutex_unlock(&s->lock);
	if (s->timer_on)
		pthread_join(s->timer, NULL);
	be_cancel(s);
	pthread_cond_destroy(&s->timer_cond);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->io_lock);
	free(s);
}

void storvsc_get_stats(struct storvsc *s, struct storvsc_stats *st)
{
	pthread_mutex_lock(&s->lock);
	*st = (struct storvsc_stats){
		.ready = s->phase == PH_READY && !s->dead,
		.version = s->version,
		.max_transfer_bytes = s->max_xfer,
		.disk_bytes = s->phase == PH_READY ? s->be.size : 0,
		.requests = s->requests,
		.errors = s->errors,
		.timeouts = s->timeouts,
		.bytes_read = s->bytes_read,
		.bytes_written = s->bytes_written,
		.bad_packets = s->bad_packets,
		.direct = s->direct,
		.broken = s->dead,
	};
	pthread_mutex_unlock(&s->lock);
}
