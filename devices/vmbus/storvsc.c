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

struct storvsc {
	struct storvsc_config cfg;
	uint64_t pfns[MAX_BOUNCE_PAGES];
	pthread_mutex_t io_lock;    /* one request in flight */
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
	/* The request we wait for. */
	uint64_t next_tid;
	uint64_t wait_tid;          /* 0: none */
	uint32_t wait_len;          /* bytes of vstor_packet we sent */
	bool done;
	int reply_err;              /* -EIO: the completion was too short to read */
	struct storvsp_vstor_packet reply;
	uint64_t requests, errors, timeouts, bytes_read, bytes_written, bad_packets;
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

/* ---- sending (lock held) ---- */

/*
 * Send `pk` (s->pkt_len bytes), GPA-direct over the first ceil(data_len / 4096) bounce pages
 * when data_len > 0, and wait for its transaction. 1: signal the host; 0; -errno.
 */
static int send_locked(struct storvsc *s, const struct storvsp_vstor_packet *pk, uint32_t data_len)
{
	if (s->dead)
		return -EIO;
	/* GPA-direct header, one range header, its PFNs: 8-byte words. */
	uint64_t ext[2 + MAX_BOUNCE_PAGES];
	uint32_t npfn = (data_len + PAGE - 1) / PAGE;
	struct vmbus_pkt_gpa_direct_hdr gh = { .range_count = 1 };
	struct vmbus_pkt_gpa_range gr = { .byte_count = data_len, .byte_offset = 0 };
	memcpy(&ext[0], &gh, sizeof(gh));
	memcpy(&ext[1], &gr, sizeof(gr));
	memcpy(&ext[2], s->pfns, npfn * sizeof(uint64_t));
	struct vmbus_ring_piece piece = { pk, s->pkt_len };
	uint64_t tid = ++s->next_tid;
	struct vmbus_ring_out o = {
		.type = data_len ? VMBUS_PKT_DATA_GPA_DIRECT : VMBUS_PKT_DATA_INBAND,
		.flags = VMBUS_PKT_FLAG_COMPLETION_REQUESTED,
		.transaction_id = tid,
		.ext = data_len ? ext : NULL,
		.ext_len = data_len ? (uint32_t)(16 + npfn * 8) : 0,
		.pieces = &piece,
		.piece_count = 1,
	};
	int rc = vmbus_ring_send(&s->out, &o, 0);
	if (rc == -EPROTO) {
		s->dead = true;
		slog(s, "the host broke our ring: disk relay stopped");
	}
	/* One request at a time: a full ring is the host's fault. */
	if (rc < 0)
		return rc == -EAGAIN ? -EIO : rc;
	s->wait_tid = tid;
	s->wait_len = s->pkt_len;
	s->done = false;
	return rc == VMBUS_RING_SIGNAL;
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

/* Read the host's ring: completions for the transaction we wait for. 1: signal the host. */
static int drain_locked(struct storvsc *s)
{
	if (s->dead)
		return 0;
	for (;;) {
		struct vmbus_ring_packet p;
		int rc = vmbus_ring_peek(&s->in, &p);
		if (rc == -EAGAIN)
			break;
		if (rc < 0) {
			s->dead = true;
			slog(s, "the host broke its ring: disk relay stopped");
			pthread_cond_broadcast(&s->cond);
			return 0;
		}
		_Alignas(8) uint8_t buf[128];
		int32_t n = p.desc.type == VMBUS_PKT_COMPLETION ?
			vmbus_ring_packet_payload(&s->in, &p, buf, sizeof(buf)) : -1;
		if (n < 0 || !s->wait_tid || p.desc.transaction_id != s->wait_tid) {
			s->bad_packets++;
		} else {
			/* Ours: a short one still ends the wait (as an error), not by timeout. */
			size_t take = (size_t)n < sizeof(s->reply) ? (size_t)n : sizeof(s->reply);
			memset(&s->reply, 0, sizeof(s->reply));
			memcpy(&s->reply, buf, take);
			s->reply_err = (uint32_t)n < s->wait_len ? -EIO : 0;
			if (s->reply_err)
				s->bad_packets++;
			s->done = true;
			s->wait_tid = 0;
			pthread_cond_broadcast(&s->cond);
		}
		if (vmbus_ring_advance(&s->in) < 0)
			break;
	}
	return vmbus_ring_commit(&s->in) == VMBUS_RING_SIGNAL;
}

/* The completion's verdict for an SRB: 0 with *dtl, or -EIO. */
static int srb_result(const struct storvsc *s, uint32_t requested, bool exact, uint32_t *dtl)
{
	const struct storvsp_vstor_packet *r = &s->reply;
	if (s->reply_err || r->operation != STORVSP_OP_COMPLETE_IO ||
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
	const struct storvsp_vstor_packet *r = &s->reply;
	s->done = false;
	if (s->reply_err || r->operation != STORVSP_OP_COMPLETE_IO)
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
		return send_locked(s, &pk, 0);
	case PH_PROPS: {
		if (r->status != STORVSP_STATUS_SUCCESS)
			return -EIO;
		/* The host's limit only lowers ours (the bounce buffer); nonsense is ignored. */
		uint32_t m = r->u.properties.max_transfer_bytes;
		if (m >= BLOCK && m < s->max_xfer)
			s->max_xfer = m / BLOCK * BLOCK;
		s->phase = PH_END;
		pk = make_op(STORVSP_OP_END_INITIALIZATION);
		return send_locked(s, &pk, 0);
	}
	case PH_END:
		if (r->status != STORVSP_STATUS_SUCCESS)
			return -EIO;
		s->phase = PH_CAP16;
		pk = make_srb(rc16, sizeof(rc16), STORVSP_SRB_DATA_IN, 32);
		return send_locked(s, &pk, 32);
	case PH_CAP16: {
		if (srb_result(s, 32, false, &dtl) == 0 && dtl >= 12) {
			uint8_t d[12];
			/* Read once: the host may still change it. */
			memcpy(d, s->cfg.bounce, sizeof(d));
			int rc = capacity(s, get_be(d, 8), get_be(d + 8, 4));
			return rc ? rc : (s->phase = PH_READY, 0);
		}
		s->phase = PH_CAP10;
		pk = make_srb(rc10, sizeof(rc10), STORVSP_SRB_DATA_IN, 8);
		return send_locked(s, &pk, 8);
	}
	case PH_CAP10: {
		if (srb_result(s, 8, false, &dtl) || dtl < 8)
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
	return send_locked(s, &pk, 0);
}

/* Read what the host sent, run init, signal; poll again after each signal (sync hosts). */
static void pump(struct storvsc *s)
{
	for (;;) {
		pthread_mutex_lock(&s->lock);
		int sig = drain_locked(s);
		int ready = 1; /* 1: nothing to report */
		if (s->phase > PH_IDLE && s->phase < PH_READY && (s->done || s->dead)) {
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
			break;
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
		rc = send_locked(s, &pk, 0);
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

/* ---- I/O (caller's thread) ---- */

/* One SRB over the bounce buffer, waited for. 0 or -EIO / -ETIMEDOUT. */
static int do_srb(struct storvsc *s, const uint8_t *cdb, uint8_t cdb_len, uint8_t data_in,
		  uint32_t len)
{
	struct storvsp_vstor_packet pk = make_srb(cdb, cdb_len, data_in, len);
	pthread_mutex_lock(&s->lock);
	s->requests++;
	uint32_t data = data_in == STORVSP_SRB_DATA_NONE ? 0 : len;
	int rc = s->phase == PH_READY ? send_locked(s, &pk, data) : -EIO;
	pthread_mutex_unlock(&s->lock);
	if (rc > 0)
		s->cfg.signal(s->cfg.ctx);
	if (rc >= 0)
		pump(s);
	pthread_mutex_lock(&s->lock);
	/* The deadline only when we wait: a synchronous host has answered already. */
	struct timespec dl;
	if (rc >= 0 && !s->done && !s->dead) {
		clock_gettime(CLOCK_MONOTONIC, &dl);
		uint64_t ns = (uint64_t)dl.tv_nsec + (uint64_t)s->cfg.timeout_ms * 1000000u;
		dl.tv_sec += (time_t)(ns / 1000000000u);
		dl.tv_nsec = (long)(ns % 1000000000u);
	}
	while (rc >= 0 && !s->done && !s->dead) {
		if (pthread_cond_timedwait(&s->cond, &s->lock, &dl) == ETIMEDOUT && !s->done) {
			s->wait_tid = 0; /* abandoned: a late answer is dropped as unknown */
			s->timeouts++;
			rc = -ETIMEDOUT;
		}
	}
	if (rc >= 0) {
		uint32_t dtl;
		rc = s->done ? srb_result(s, len, data_in != STORVSP_SRB_DATA_NONE, &dtl) : -EIO;
		s->done = false;
	}
	if (rc < 0)
		s->errors++;
	pthread_mutex_unlock(&s->lock);
	return rc < 0 ? rc : 0;
}

static int rw(struct storvsc *s, void *rbuf, const void *wbuf, size_t len, uint64_t off)
{
	if (len % BLOCK || off % BLOCK || off > s->be.size || len > s->be.size - off)
		return -EINVAL;
	int rc = 0;
	pthread_mutex_lock(&s->io_lock);
	for (size_t done = 0; done < len && rc == 0;) {
		uint32_t n = len - done < s->max_xfer ? (uint32_t)(len - done) : s->max_xfer;
		uint8_t cdb[16] = { rbuf ? 0x88 : 0x8A };   /* READ(16) / WRITE(16) */
		put_be(cdb + 2, (off + done) / BLOCK, 8);
		put_be(cdb + 10, n / BLOCK, 4);
		if (wbuf)
			memcpy(s->cfg.bounce, (const uint8_t *)wbuf + done, n);
		rc = do_srb(s, cdb, 16, rbuf ? STORVSP_SRB_DATA_IN : STORVSP_SRB_DATA_OUT, n);
		if (rc == 0 && rbuf)
			memcpy((uint8_t *)rbuf + done, s->cfg.bounce, n);
		done += n;
	}
	if (rc == 0) {
		pthread_mutex_lock(&s->lock);
		if (rbuf)
			s->bytes_read += len;
		else
			s->bytes_written += len;
		pthread_mutex_unlock(&s->lock);
	}
	pthread_mutex_unlock(&s->io_lock);
	return rc;
}

static int be_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	return rw(ctx, buf, NULL, len, off);
}

static int be_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
	return rw(ctx, NULL, buf, len, off);
}

static int be_flush(void *ctx)
{
	struct storvsc *s = ctx;
	static const uint8_t cdb[10] = { 0x35 };  /* SYNCHRONIZE CACHE(10): the whole disk */
	pthread_mutex_lock(&s->io_lock);
	int rc = do_srb(s, cdb, sizeof(cdb), STORVSP_SRB_DATA_NONE, 0);
	pthread_mutex_unlock(&s->io_lock);
	return rc;
}

static const struct scsi_disk_backend_ops backend_ops = {
	.read = be_read,
	.write = be_write,
	.flush = be_flush,
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
		.broken = s->dead,
	};
	pthread_mutex_unlock(&s->lock);
}
