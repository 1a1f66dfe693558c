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

/* Requests in flight at once: one batch (rw_batch), bounded by the bounce pages too. */
#define MAX_BATCH 32u

/* One request of the batch we wait for. */
struct slot {
	uint32_t sent_len;          /* bytes of vstor_packet we sent */
	bool done;
	int err;                    /* -EIO: the completion was too short to read */
	struct storvsp_vstor_packet reply;
};

/* What run() sends for one request. */
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

struct storvsc {
	struct storvsc_config cfg;
	uint64_t pfns[MAX_BOUNCE_PAGES];
	pthread_mutex_t io_lock;    /* one batch in flight: it owns the bounce pages */
	pthread_mutex_t lock;       /* everything below, the ring views */
	pthread_cond_t cond;
	struct vmbus_ring out, in;
	enum phase phase;
	bool dead;                  /* a ring broke: no more requests */
	unsigned version_idx;
	uint16_t version;
	uint32_t pkt_len;           /* 48 before a version is accepted, then 64 */
	uint32_t max_xfer;          /* bytes per request: bounce size and the host's limit */
	struct scsi_disk_backend be;
	/* The batch we wait for: transaction ids first_tid .. first_tid + count - 1. */
	uint64_t next_tid;
	uint64_t first_tid;
	uint32_t count;             /* 0: none */
	uint32_t ndone;
	struct slot slots[MAX_BATCH];
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

/* Lock held. A ring broke the protocol: no more requests, waiters stop waiting. */
static void stop_relay(struct storvsc *s, const char *whose)
{
	if (s->dead)
		return;
	s->dead = true;
	char line[64];
	snprintf(line, sizeof(line), "the host broke %s ring: disk relay stopped", whose);
	slog(s, line);
	pthread_cond_broadcast(&s->cond);
}

/* ---- sending (lock held) ---- */

/* A new batch of n requests: ids never reused, so a late answer to an old one is unknown. */
static void batch_begin(struct storvsc *s, uint32_t n)
{
	s->first_tid = s->next_tid + 1;
	s->next_tid += n;
	s->count = n;
	s->ndone = 0;
	for (uint32_t i = 0; i < n; i++)
		s->slots[i].done = false;
}

static bool batch_done(const struct storvsc *s)
{
	return s->count && s->ndone == s->count;
}

/*
 * Send request `idx` of the batch: `pk` (s->pkt_len bytes), GPA-direct when data_len > 0:
 * over bounce pages [page, page + ceil(data_len / 4096)), or with `direct` over the pages
 * from guest-physical `gpa` on. `opts`: vmbus_ring_send's. 1: signal the host; 0; -errno.
 */
static int send_locked(struct storvsc *s, uint32_t idx, const struct storvsp_vstor_packet *pk,
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
		.transaction_id = s->first_tid + idx,
		.ext = data_len ? ext : NULL,
		.ext_len = data_len ? (uint32_t)(16 + npfn * 8) : 0,
		.pieces = &piece,
		.piece_count = 1,
	};
	int rc = vmbus_ring_send(&s->out, &o, opts);
	if (rc == -EPROTO)
		stop_relay(s, "our");
	/* Our batches fit the ring (bounded by the bounce pages): a full ring is the host's. */
	if (rc < 0)
		return rc == -EAGAIN ? -EIO : rc;
	s->slots[idx].sent_len = s->pkt_len;
	return rc == VMBUS_RING_SIGNAL;
}

/* An init step: a batch of one, published at once. */
static int send_one_locked(struct storvsc *s, const struct storvsp_vstor_packet *pk,
			   uint32_t data_len)
{
	batch_begin(s, 1);
	int rc = send_locked(s, 0, pk, data_len, 0, false, 0, 0);
	if (rc < 0)
		s->count = 0;
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

/* Read the host's ring: completions for the batch we wait for. 1: signal the host. */
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
		uint64_t idx = p.desc.transaction_id - s->first_tid;    /* wraps for old ids */
		if (n < 0 || idx >= s->count || s->slots[idx].done) {
			s->bad_packets++;
		} else {
			/* Ours: a short one still ends the wait (as an error), not by timeout. */
			struct slot *sl = &s->slots[idx];
			size_t take = (size_t)n < sizeof(sl->reply) ? (size_t)n : sizeof(sl->reply);
			memset(&sl->reply, 0, sizeof(sl->reply));
			memcpy(&sl->reply, buf, take);
			sl->err = (uint32_t)n < sl->sent_len ? -EIO : 0;
			if (sl->err)
				s->bad_packets++;
			sl->done = true;
			if (++s->ndone == s->count)
				pthread_cond_broadcast(&s->cond);
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
	const struct slot *sl = &s->slots[0];
	const struct storvsp_vstor_packet *r = &sl->reply;
	s->count = 0;   /* consumed: the next step starts its own batch */
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
		pthread_mutex_unlock(&s->lock);
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
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned i = 1;; i++) {
		if (pump(s))
			return;
		cpu_relax();
		if (i % 16 == 0) {
			clock_gettime(CLOCK_MONOTONIC, &t);
			if ((t.tv_sec - t0.tv_sec) * 1000000000ll + (t.tv_nsec - t0.tv_nsec) > SPIN_NS)
				return;
		}
	}
}

/*
 * Send n requests (n <= MAX_BATCH, their bounce pages disjoint), signal once, wait for all.
 * Each r[i].err: 0 or -EIO / -ETIMEDOUT.
 */
static void run(struct storvsc *s, struct req *r, uint32_t n)
{
	pthread_mutex_lock(&s->lock);
	s->requests += n;
	uint32_t sent = 0;
	int sig = 0, rc = s->phase == PH_READY ? 0 : -EIO;
	if (rc == 0) {
		batch_begin(s, n);
		for (; sent < n; sent++) {
			struct storvsp_vstor_packet pk = make_srb(r[sent].cdb, r[sent].cdb_len,
								  r[sent].data_in, r[sent].len);
			uint32_t data = r[sent].data_in == STORVSP_SRB_DATA_NONE ? 0 : r[sent].len;
			if (send_locked(s, sent, &pk, data, r[sent].page, r[sent].direct,
					r[sent].gpa, VMBUS_RING_SEND_NO_PUBLISH) < 0)
				break;
			s->direct += r[sent].direct;
		}
		/* What was sent is published and waited for; the rest failed. */
		s->count = sent;
		if (sent) {
			int p = vmbus_ring_publish(&s->out);
			sig = p == VMBUS_RING_SIGNAL;
			if (p == -EPROTO)
				stop_relay(s, "our");
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (sig)
		s->cfg.signal(s->cfg.ctx);
	if (sent)
		poll_briefly(s);
	pthread_mutex_lock(&s->lock);
	/* The deadline only when we wait: a synchronous host has answered already. */
	struct timespec dl;
	if (sent && !batch_done(s) && !s->dead) {
		clock_gettime(CLOCK_MONOTONIC, &dl);
		uint64_t ns = (uint64_t)dl.tv_nsec + (uint64_t)s->cfg.timeout_ms * 1000000u;
		dl.tv_sec += (time_t)(ns / 1000000000u);
		dl.tv_nsec = (long)(ns % 1000000000u);
	}
	while (sent && rc == 0 && !batch_done(s) && !s->dead) {
		if (pthread_cond_timedwait(&s->cond, &s->lock, &dl) == ETIMEDOUT &&
		    !batch_done(s)) {
			s->timeouts++;
			rc = -ETIMEDOUT;
		}
	}
	for (uint32_t i = 0; i < n; i++) {
		uint32_t dtl;
		r[i].err = i >= sent ? -EIO :
			   s->slots[i].done ? srb_result(&s->slots[i], r[i].len,
							  r[i].data_in != STORVSP_SRB_DATA_NONE,
							  &dtl) :
			   rc ? rc : -EIO;
		if (r[i].err)
			s->errors++;
	}
	s->count = 0;   /* a late answer is dropped as unknown */
	pthread_mutex_unlock(&s->lock);
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
	pthread_mutex_lock(&s->io_lock);
	int rc = rw_locked(s, buf, NULL, len, off);
	pthread_mutex_unlock(&s->io_lock);
	return rc;
}

static int be_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
	struct storvsc *s = ctx;
	pthread_mutex_lock(&s->io_lock);
	int rc = rw_locked(s, NULL, buf, len, off);
	pthread_mutex_unlock(&s->io_lock);
	return rc;
}

/*
 * Several transfers in flight at once: as many as fit MAX_BATCH and the bounce pages go out
 * together (one signal, one wait); one larger than max_xfer goes alone, split.
 */
static void be_rw_batch(void *ctx, struct scsi_disk_io *ios, size_t n)
{
	struct storvsc *s = ctx;
	pthread_mutex_lock(&s->io_lock);
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
	pthread_mutex_unlock(&s->io_lock);
}

static int be_flush(void *ctx)
{
	struct storvsc *s = ctx;
	struct req r = { .cdb = { 0x35 }, .cdb_len = 10,   /* SYNCHRONIZE CACHE(10): all */
			 .data_in = STORVSP_SRB_DATA_NONE };
	pthread_mutex_lock(&s->io_lock);
	run(s, &r, 1);
	pthread_mutex_unlock(&s->io_lock);
	return r.err;
}

static const struct scsi_disk_backend_ops backend_ops = {
	.read = be_read,
	.write = be_write,
	.flush = be_flush,
	.rw_batch = be_rw_batch,
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
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->io_lock, NULL);
	*out = s;
	return 0;
}

void storvsc_destroy(struct storvsc *s)
{
	if (!s)
		return;
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
