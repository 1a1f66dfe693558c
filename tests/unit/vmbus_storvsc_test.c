/*
 * storvsc against the real storvsp + scsi_disk (memory backend) in one process: both ends of a
 * channel's rings and the bounce pages live in a fake RAM; the "host" here drains storvsc's ring
 * inside the signal (as hvsim does) or from another thread, runs storvsp and completes. Then a
 * hostile host: a wrong transaction id, short completions, data_transfer_length above or below
 * the request, error statuses, a version it refuses, READ CAPACITY(16) failing or lying, no
 * completion at all (the request times out, a late answer is dropped) and a broken ring.
 * Batches (the backend's rw_batch): many transfers in flight at once, one signal a batch,
 * completions in any order, one of them missing.
 * Asynchronous batches (rw_submit): the host holds requests (f->hold) and answers them later in
 * an order the test picks (host_answer), from any thread; done() per batch, refusals, the
 * timer, cancel, a broken ring; the synchronous path waiting for them and for ring space.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/vmbus/scsi_disk.h"
#include "devices/vmbus/storvsc.h"
#include "devices/vmbus/storvsp.h"
#include "devices/vmbus/vmbus_ring.h"
#include "hvcall/vmbus_ring_abi.h"

#define PAGES 80u
#define RING_PAGES 8u       /* pages 0..3: storvsc -> host, 4..7: host -> storvsc */
#define BOUNCE_PFN 8u
#define BOUNCE_PAGES 64u
#define DISK_SIZE (1u << 20)

enum tamper {
	T_NONE,
	T_BAD_TID,          /* completion with another transaction id */
	T_SHORT,            /* 16-byte completion */
	T_DTL_BIG,          /* data_transfer_length + 512 */
	T_DTL_SHORT,        /* data_transfer_length - 512 */
	T_STATUS,           /* NTSTATUS error */
	T_SRB_ERROR,        /* srb_status error, CHECK CONDITION */
	T_DROP,             /* no completion */
	T_VERSION_MISMATCH, /* REVISION_MISMATCH for 0x0602 */
	T_CAP_4K,           /* READ CAPACITY says 4096-byte blocks */
	T_CAP_HUGE,         /* READ CAPACITY says 2^60 blocks */
	T_BREAK_RING,       /* write_index out of range */
};

/* A request the host took from the ring and holds (f->hold) until host_answer. */
struct held {
	uint16_t type;
	uint64_t tid;
	int32_t n;                      /* payload bytes */
	_Alignas(8) uint8_t payload[128];
	uint32_t ext_len;
	uint64_t ext[3 + BOUNCE_PAGES]; /* GPA-direct header, range header, PFNs */
	bool answered;
};

#define MAX_HELD 512u
#define LOG_MAX 1024u

/* The host's order log: a request arrived, an answer went out, the read index was committed. */
struct host_event {
	char kind;                      /* 'R', 'A', 'C' */
	uint64_t tid;
};

struct fx {
	_Alignas(4096) uint8_t ram[PAGES * 4096];
	uint8_t disk_data[DISK_SIZE];
	struct scsi_disk_mem dm;
	struct scsi_disk *disk;
	struct storvsp *sp;
	struct vmbus_ring h_in, h_out;  /* the host's views */
	struct storvsc *sc;
	bool sync;                      /* the host serves inside the signal */
	enum tamper tamper;
	uint8_t tamper_cdb;             /* the SRB opcode tampered with (0: any SRB) */
	unsigned signals;
	bool reverse;                   /* complete each signal's packets last to first */
	unsigned drop_nth;              /* 1..: no completion for the nth SRB served */
	unsigned srbs;
	int ready_err;
	bool ready_called;
	const struct scsi_disk_backend *be;
	uint64_t last_tid;
	/* The host may run on several threads (signal, helper threads): everything it does and
	   the fields below are under host_lock. */
	pthread_mutex_t host_lock;
	bool hold;                      /* take requests from the ring, answer them later */
	bool defer_commit;              /* advance past requests, publish read_index later */
	struct held held[MAX_HELD];
	unsigned nheld;
	unsigned nanswers;              /* answers to held requests sent so far */
	struct host_event log[LOG_MAX];
	unsigned nlog;
};

static int mem_copy(void *ctx, uint64_t gpa, void *buf, size_t len, bool to_guest)
{
	struct fx *f = ctx;
	if (gpa >= sizeof(f->ram) || len > sizeof(f->ram) - gpa)
		return -EFAULT;
	if (to_guest)
		memcpy(f->ram + gpa, buf, len);
	else
		memcpy(buf, f->ram + gpa, len);
	return 0;
}

static bool tampered(struct fx *f, const struct storvsp_vstor_packet *rq)
{
	if (f->tamper == T_NONE)
		return false;
	if (rq->operation != STORVSP_OP_EXECUTE_SRB)
		return f->tamper == T_VERSION_MISMATCH &&
		       rq->operation == STORVSP_OP_QUERY_PROTOCOL_VERSION &&
		       rq->u.version.major_minor == STORVSP_VERSION_WIN10;
	return f->tamper != T_VERSION_MISMATCH &&
	       (!f->tamper_cdb || rq->u.srb.cdb[0] == f->tamper_cdb);
}

static void host_log(struct fx *f, char kind, uint64_t tid)
{
	assert_true(f->nlog < LOG_MAX);
	f->log[f->nlog++] = (struct host_event){ kind, tid };
}

/* Copy a peeked packet out of the ring. */
static void host_take(struct fx *f, const struct vmbus_ring_packet *p, struct held *h)
{
	memset(h, 0, sizeof(*h));
	h->type = p->desc.type;
	h->tid = p->desc.transaction_id;
	h->n = vmbus_ring_packet_payload(&f->h_in, p, h->payload, sizeof(h->payload));
	assert_true(h->n >= 48);
	if (p->desc.type == VMBUS_PKT_DATA_GPA_DIRECT) {
		h->ext_len = p->data_offset - 16;
		assert_true(h->ext_len <= sizeof(h->ext));
		assert_int_equal(vmbus_ring_packet_copy(&f->h_in, p, 16, h->ext, h->ext_len), 0);
	}
	assert_true(p->desc.flags & VMBUS_PKT_FLAG_COMPLETION_REQUESTED);
}

/* Run a taken packet through storvsp (data moves now): its answer in rep, its request in req. */
static void host_exec(struct fx *f, const struct held *h, struct storvsp_reply *rep,
		      struct storvsp_vstor_packet *req)
{
	struct storvsp_gpa_range r = { 0 };
	struct storvsp_request rq = { .type = h->type, .transaction_id = h->tid,
				      .payload = h->payload, .payload_len = (size_t)h->n };
	if (h->type == VMBUS_PKT_DATA_GPA_DIRECT) {
		struct vmbus_pkt_gpa_direct_hdr gh;
		struct vmbus_pkt_gpa_range gr;
		memcpy(&gh, &h->ext[0], sizeof(gh));
		memcpy(&gr, &h->ext[1], sizeof(gr));
		assert_int_equal(gh.range_count, 1);
		r = (struct storvsp_gpa_range){ gr.byte_count, gr.byte_offset, &h->ext[2],
						(h->ext_len - 16) / 8 };
		rq.ranges = &r;
		rq.range_count = 1;
	}
	f->last_tid = h->tid;
	struct storvsp_vstor_packet *out = (void *)rep->payload;
	memset(req, 0, sizeof(*req));
	memcpy(req, h->payload, (size_t)h->n < sizeof(*req) ? (size_t)h->n : sizeof(*req));
	if (f->tamper == T_VERSION_MISMATCH && tampered(f, req)) {
		/* A host without 0x0602: storvsp must not see it (it would accept it). */
		rep->transaction_id = h->tid;
		rep->len = (size_t)h->n;
		memcpy(rep->payload, req, sizeof(*req));
		out->operation = STORVSP_OP_COMPLETE_IO;
	} else {
		assert_int_equal(storvsp_handle(f->sp, &rq, rep), 0);
	}
}

static void host_send(struct fx *f, const struct storvsp_reply *rep)
{
	struct vmbus_ring_piece piece = { rep->payload, rep->len };
	struct vmbus_ring_out o = { .type = VMBUS_PKT_COMPLETION,
				    .transaction_id = rep->transaction_id, .pieces = &piece,
				    .piece_count = 1 };
	assert_true(vmbus_ring_send(&f->h_out, &o, 0) >= 0);
	host_log(f, 'A', rep->transaction_id);
}

/* Past the packet just handled: read_index published now, or later (f->defer_commit). */
static void host_next(struct fx *f)
{
	if (f->defer_commit)
		assert_int_equal(vmbus_ring_advance(&f->h_in), 0);
	else
		assert_int_equal(vmbus_ring_consume(&f->h_in), 0);
}

/* The host (host_lock held): every packet in storvsc's ring through storvsp, completions
   back; or, with f->hold, taken and kept for host_answer. */
static void host_serve(struct fx *f)
{
	struct vmbus_ring_packet p;
	struct storvsp_reply held[64];
	unsigned nheld = 0;
	while (vmbus_ring_peek(&f->h_in, &p) == 0) {
		struct held h;
		host_take(f, &p, &h);
		host_log(f, 'R', h.tid);
		if (f->hold) {
			assert_true(f->nheld < MAX_HELD);
			f->held[f->nheld++] = h;
			host_next(f);
			continue;
		}
		struct storvsp_reply rep;
		struct storvsp_vstor_packet req, *out = (void *)rep.payload;
		host_exec(f, &h, &rep, &req);
		host_next(f);
		if (req.operation == STORVSP_OP_EXECUTE_SRB && ++f->srbs == f->drop_nth)
			continue;
		if (f->reverse) {
			assert_true(nheld < 64);
			held[nheld++] = rep;
			continue;
		}
		if (tampered(f, &req)) {
			uint8_t *bounce = f->ram + BOUNCE_PFN * 4096;
			switch (f->tamper) {
			case T_BAD_TID: rep.transaction_id += 1000; break;
			case T_SHORT: rep.len = 16; break;
			case T_DTL_BIG: out->u.srb.data_transfer_length += 512; break;
			case T_DTL_SHORT: out->u.srb.data_transfer_length -= 512; break;
			case T_STATUS: out->status = STORVSP_STATUS_INVALID_PARAMETER; break;
			case T_SRB_ERROR:
				out->u.srb.srb_status = STORVSP_SRB_ERROR;
				out->u.srb.scsi_status = 2;
				break;
			case T_DROP: continue;
			case T_VERSION_MISMATCH:
				out->status = STORVSP_STATUS_REVISION_MISMATCH;
				break;
			case T_CAP_4K: bounce[10] = 0x10; bounce[11] = 0; break;
			case T_CAP_HUGE: bounce[0] = 0x10; break;
			case T_BREAK_RING: {
				struct vmbus_ring_control *c = (void *)(f->ram + 4 * 4096);
				__atomic_store_n(&c->write_index, 0xFFFFFFF0u, __ATOMIC_RELEASE);
				return;
			}
			default: break;
			}
		}
		host_send(f, &rep);
	}
	while (nheld--)
		host_send(f, &held[nheld]);
}

/* Answer held request i now (its data moves now, as a host that DMAs late would). */
static void host_answer_locked(struct fx *f, unsigned i)
{
	assert_true(i < f->nheld);
	assert_false(f->held[i].answered);
	struct storvsp_reply rep;
	struct storvsp_vstor_packet req;
	host_exec(f, &f->held[i], &rep, &req);
	host_send(f, &rep);
	__atomic_store_n(&f->held[i].answered, true, __ATOMIC_RELEASE);
	f->nanswers++;
}

static void host_answer(struct fx *f, unsigned i)
{
	pthread_mutex_lock(&f->host_lock);
	host_answer_locked(f, i);
	pthread_mutex_unlock(&f->host_lock);
}

static int sc_signal(void *ctx)
{
	struct fx *f = ctx;
	pthread_mutex_lock(&f->host_lock);
	f->signals++;
	if (f->sync)
		host_serve(f);
	pthread_mutex_unlock(&f->host_lock);
	return 0;
}

static void sc_ready(void *ctx, int err, const struct scsi_disk_backend *be)
{
	struct fx *f = ctx;
	assert_false(f->ready_called);
	f->ready_err = err;
	f->be = be;
	__atomic_store_n(&f->ready_called, true, __ATOMIC_RELEASE); /* polled by fx_async */
}

static void sc_log(void *ctx, const char *line)
{
	(void)ctx;
	if (getenv("STORVSC_TEST_LOG"))
		fprintf(stderr, "storvsc: %s\n", line);
}

static struct fx *fx_new(bool sync, enum tamper t, uint8_t cdb)
{
	static struct fx fx;
	struct fx *f = &fx;
	memset(f, 0, sizeof(*f));
	f->sync = sync;
	f->tamper = t;
	f->tamper_cdb = cdb;
	pthread_mutex_init(&f->host_lock, NULL);
	for (size_t i = 0; i < DISK_SIZE; i++)
		f->disk_data[i] = (uint8_t)(i * 7 + (i >> 9));
	struct scsi_disk_config dcfg = { 0 };
	scsi_disk_mem_backend(&f->dm, f->disk_data, DISK_SIZE, &dcfg.backend);
	assert_int_equal(scsi_disk_create(&dcfg, &f->disk), 0);
	struct storvsp_config scfg = { .disk = f->disk, .mem = { .copy = mem_copy, .ctx = f } };
	assert_int_equal(storvsp_create(&scfg, &f->sp), 0);
	uint8_t *ring = f->ram;
	assert_int_equal(vmbus_ring_init(&f->h_in, VMBUS_RING_CONSUMER, ring, ring + 4096,
					 3 * 4096), 0);
	assert_int_equal(vmbus_ring_init(&f->h_out, VMBUS_RING_PRODUCER, ring + 4 * 4096,
					 ring + 5 * 4096, 3 * 4096), 0);
	uint64_t pfns[BOUNCE_PAGES];
	for (unsigned i = 0; i < BOUNCE_PAGES; i++)
		pfns[i] = BOUNCE_PFN + i;
	struct storvsc_config cfg = {
		.ring = ring, .ring_pages = RING_PAGES,
		.bounce = f->ram + BOUNCE_PFN * 4096, .bounce_pfns = pfns,
		.bounce_pages = BOUNCE_PAGES, .timeout_ms = 200,
		.signal = sc_signal, .ready = sc_ready, .log = sc_log, .ctx = f,
	};
	assert_int_equal(storvsc_create(&cfg, &f->sc), 0);
	return f;
}

static void fx_free(struct fx *f)
{
	storvsc_destroy(f->sc);
	storvsp_destroy(f->sp);
	scsi_disk_destroy(f->disk);
	pthread_mutex_destroy(&f->host_lock);
}

/* A synchronous host, init done, the disk ready. */
static struct fx *fx_ready(enum tamper t, uint8_t cdb)
{
	struct fx *f = fx_new(true, t, cdb);
	assert_int_equal(storvsc_start(f->sc), 0);
	assert_true(f->ready_called);
	assert_int_equal(f->ready_err, 0);
	assert_non_null(f->be);
	assert_int_equal(f->be->size, DISK_SIZE);
	return f;
}

static void test_init_and_io(void **state)
{
	(void)state;
	struct fx *f = fx_ready(T_NONE, 0);
	assert_int_equal(storvsc_start(f->sc), -EALREADY);
	struct storvsc_stats st;
	storvsc_get_stats(f->sc, &st);
	assert_true(st.ready);
	assert_int_equal(st.version, STORVSP_VERSION_WIN10);
	assert_int_equal(st.max_transfer_bytes, 0x40000); /* the host's limit = the bounce size */
	assert_int_equal(storvsp_get_state(f->sp), STORVSP_READY);
	/* 300 KiB: split in 256 + 44 KiB. */
	static uint8_t buf[300 * 1024], back[300 * 1024];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i ^ 0x5A);
	const struct scsi_disk_backend *be = f->be;
	assert_int_equal(be->ops->write(be->ctx, buf, sizeof(buf), 8192), 0);
	assert_memory_equal(f->disk_data + 8192, buf, sizeof(buf));
	assert_int_equal(be->ops->read(be->ctx, back, sizeof(back), 8192), 0);
	assert_memory_equal(back, buf, sizeof(buf));
	assert_int_equal(be->ops->read(be->ctx, back, 512, DISK_SIZE - 512), 0);
	assert_memory_equal(back, f->disk_data + DISK_SIZE - 512, 512);
	assert_int_equal(be->ops->flush(be->ctx), 0);
	/* Not whole blocks or past the end: refused before the host hears of it. */
	assert_int_equal(be->ops->read(be->ctx, back, 100, 0), -EINVAL);
	assert_int_equal(be->ops->read(be->ctx, back, 1024, DISK_SIZE - 512), -EINVAL);
	storvsc_get_stats(f->sc, &st);
	assert_int_equal(st.requests, 6);
	assert_int_equal(st.errors, 0);
	assert_int_equal(st.bytes_read, sizeof(buf) + 512);
	assert_int_equal(st.bytes_written, sizeof(buf));
	assert_int_equal(st.bad_packets, 0);
	fx_free(f);
}

/* The host completes from its own thread, later: storvsc waits on its condition variable. */
struct async_host {
	struct fx *f;
	bool stop;              /* atomic */
	bool no_event;          /* answers without calling storvsc_event (no signal comes) */
};

static void *async_thread(void *arg)
{
	struct async_host *a = arg;
	while (!__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE)) {
		usleep(1000);
		pthread_mutex_lock(&a->f->host_lock);
		host_serve(a->f);
		pthread_mutex_unlock(&a->f->host_lock);
		if (!__atomic_load_n(&a->no_event, __ATOMIC_ACQUIRE))
			storvsc_event(a->f->sc);
	}
	return NULL;
}

/* A fixture whose host runs on thread *t, init done (waited for). */
static struct fx *fx_async(struct async_host *a, pthread_t *t)
{
	struct fx *f = fx_new(false, T_NONE, 0);
	*a = (struct async_host){ .f = f };
	assert_int_equal(pthread_create(t, NULL, async_thread, a), 0);
	assert_int_equal(storvsc_start(f->sc), 0);
	for (int i = 0; i < 2000 && !__atomic_load_n(&f->ready_called, __ATOMIC_ACQUIRE); i++)
		usleep(1000);
	assert_true(f->ready_called);
	assert_int_equal(f->ready_err, 0);
	return f;
}

/*
 * A synchronous request whose answer comes with no event: the waiting thread may be the one
 * that would run storvsc_event (the host-event thread resuming a drain), so it reads the ring
 * itself while it waits, instead of waiting out the timeout.
 */
static void test_sync_without_event(void **state)
{
	(void)state;
	struct async_host a;
	pthread_t t;
	struct fx *f = fx_async(&a, &t);
	__atomic_store_n(&a.no_event, true, __ATOMIC_RELEASE);
	uint8_t buf[4096];
	memset(buf, 0x3C, sizeof(buf));
	assert_int_equal(f->be->ops->write(f->be->ctx, buf, sizeof(buf), 8192), 0);
	assert_memory_equal(f->disk_data + 8192, buf, sizeof(buf));
	assert_int_equal(f->be->ops->flush(f->be->ctx), 0);
	struct storvsc_stats st;
	storvsc_get_stats(f->sc, &st);
	assert_int_equal(st.timeouts, 0);
	__atomic_store_n(&a.stop, true, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	fx_free(f);
}

static void test_async_host(void **state)
{
	(void)state;
	struct async_host a;
	pthread_t t;
	struct fx *f = fx_async(&a, &t);
	uint8_t buf[4096];
	memset(buf, 0xA5, sizeof(buf));
	assert_int_equal(f->be->ops->write(f->be->ctx, buf, sizeof(buf), 0), 0);
	assert_memory_equal(f->disk_data, buf, sizeof(buf));
	memset(buf, 0, sizeof(buf));
	assert_int_equal(f->be->ops->read(f->be->ctx, buf, sizeof(buf), 4096), 0);
	assert_memory_equal(buf, f->disk_data + 4096, sizeof(buf));
	__atomic_store_n(&a.stop, true, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	fx_free(f);
}

static void test_version_fallback(void **state)
{
	(void)state;
	struct fx *f = fx_ready(T_VERSION_MISMATCH, 0);
	struct storvsc_stats st;
	storvsc_get_stats(f->sc, &st);
	assert_int_equal(st.version, STORVSP_VERSION_WIN81);
	fx_free(f);
}

static void test_capacity10_fallback(void **state)
{
	(void)state;
	struct fx *f = fx_ready(T_SRB_ERROR, 0x9E); /* READ CAPACITY(16) fails: (10) is used */
	uint8_t buf[512];
	assert_int_equal(f->be->ops->read(f->be->ctx, buf, 512, 512), 0);
	assert_memory_equal(buf, f->disk_data + 512, 512);
	fx_free(f);
}

static void test_capacity_lies(void **state)
{
	(void)state;
	static const enum tamper lies[] = { T_CAP_4K, T_CAP_HUGE, T_STATUS, T_SHORT };
	static const int want[] = { -ENOTSUP, -EIO, -EIO, -EIO };
	for (unsigned i = 0; i < 4; i++) {
		/* T_STATUS / T_SHORT on every READ CAPACITY: (16) then (10) fail. */
		struct fx *f = fx_new(true, lies[i], 0);
		assert_int_equal(storvsc_start(f->sc), 0);
		assert_true(f->ready_called);
		assert_int_equal(f->ready_err, want[i]);
		assert_null(f->be);
		fx_free(f);
	}
}

/* Each hostile completion of a READ(16) fails the read (and only that one). */
static void test_hostile_completions(void **state)
{
	(void)state;
	static const enum tamper ts[] = { T_SHORT, T_DTL_BIG, T_DTL_SHORT, T_STATUS, T_SRB_ERROR };
	for (unsigned i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
		struct fx *f = fx_ready(ts[i], 0x88);
		uint8_t buf[8192];
		assert_int_equal(f->be->ops->read(f->be->ctx, buf, sizeof(buf), 0), -EIO);
		/* Writes are not tampered with: the channel still works. */
		assert_int_equal(f->be->ops->write(f->be->ctx, buf, 512, 0), 0);
		struct storvsc_stats st;
		storvsc_get_stats(f->sc, &st);
		assert_int_equal(st.errors, 1);
		assert_int_equal(st.timeouts, 0);
		assert_int_equal(st.bytes_read, 0);
		fx_free(f);
	}
}

/* A flush moves no data: any data_transfer_length in its completion is a lie. */
static void test_flush_with_data(void **state)
{
	(void)state;
	struct fx *f = fx_ready(T_DTL_BIG, 0x35);
	assert_int_equal(f->be->ops->flush(f->be->ctx), -EIO);
	fx_free(f);
}

static void test_bad_tid_times_out(void **state)
{
	(void)state;
	struct fx *f = fx_ready(T_BAD_TID, 0x88);
	uint8_t buf[512];
	assert_int_equal(f->be->ops->read(f->be->ctx, buf, 512, 0), -ETIMEDOUT);
	struct storvsc_stats st;
	storvsc_get_stats(f->sc, &st);
	assert_int_equal(st.bad_packets, 1);
	assert_int_equal(st.timeouts, 1);
	assert_int_equal(f->be->ops->write(f->be->ctx, buf, 512, 0), 0);
	fx_free(f);
}

static void test_no_completion_then_late(void **state)
{
	(void)state;
	struct fx *f = fx_ready(T_DROP, 0x8A);
	uint8_t buf[512] = { 1 };
	assert_int_equal(f->be->ops->write(f->be->ctx, buf, 512, 0), -ETIMEDOUT);
	/* The late completion of the abandoned write arrives: dropped, not taken for the next. */
	uint64_t late = f->last_tid;
	struct storvsp_vstor_packet ok = { .operation = STORVSP_OP_COMPLETE_IO };
	ok.u.srb.srb_status = STORVSP_SRB_SUCCESS;
	ok.u.srb.data_transfer_length = 512;
	struct vmbus_ring_piece piece = { &ok, sizeof(ok) };
	struct vmbus_ring_out o = { .type = VMBUS_PKT_COMPLETION, .transaction_id = late,
				    .pieces = &piece, .piece_count = 1 };
	assert_true(vmbus_ring_send(&f->h_out, &o, 0) >= 0);
	assert_int_equal(f->be->ops->read(f->be->ctx, buf, 512, 512), 0);
	assert_memory_equal(buf, f->disk_data + 512, 512);
	struct storvsc_stats st;
	storvsc_get_stats(f->sc, &st);
	assert_int_equal(st.bad_packets, 1);
	assert_int_equal(st.timeouts, 1);
	fx_free(f);
}

static void test_broken_ring(void **state)
{
	(void)state;
	struct fx *f = fx_ready(T_BREAK_RING, 0x88);
	uint8_t buf[512];
	assert_int_equal(f->be->ops->read(f->be->ctx, buf, 512, 0), -EIO);
	assert_int_equal(f->be->ops->write(f->be->ctx, buf, 512, 0), -EIO);
	struct storvsc_stats st;
	storvsc_get_stats(f->sc, &st);
	assert_int_equal(st.broken, 1);
	assert_false(st.ready);
	assert_int_equal(st.timeouts, 0);
	fx_free(f);
}

/* 40 transfers through rw_batch: 4 and 8 KiB reads and writes, one larger than a request may
 * be (split, alone), one not whole blocks, one empty. */
#define NIO 40u
static uint8_t io_buf[NIO][300 * 1024];

static void batch_setup(struct scsi_disk_io *ios)
{
	for (unsigned i = 0; i < NIO; i++) {
		size_t len = i == 5 ? 300 * 1024 : i == 7 ? 100 : i == 9 ? 0 : (i % 2 + 1) * 4096;
		ios[i] = (struct scsi_disk_io){ .write = i % 3 == 0, .buf = io_buf[i], .len = len,
						.offset = (uint64_t)i * 16384, .err = 99 };
		if (i == 5)
			ios[i].offset = 640 * 1024;
		for (size_t k = 0; k < len; k++)
			io_buf[i][k] = ios[i].write ? (uint8_t)(i * 13 + k) : 0xEE;
	}
}

static void batch_check(struct fx *f, const struct scsi_disk_io *ios)
{
	for (unsigned i = 0; i < NIO; i++) {
		assert_int_equal(ios[i].err, i == 7 ? -EINVAL : 0);
		if (i != 7)
			assert_memory_equal(io_buf[i], f->disk_data + ios[i].offset, ios[i].len);
	}
}

static void test_batch_io(void **state)
{
	(void)state;
	struct fx *f = fx_ready(T_NONE, 0);
	assert_non_null(f->be->ops->rw_batch);
	static struct scsi_disk_io ios[NIO];
	batch_setup(ios);
	unsigned signals = f->signals;
	f->be->ops->rw_batch(f->be->ctx, ios, NIO);
	batch_check(f, ios);
	/* In flight together: ios 0-4, then the split one alone (two requests), then the 32
	   that fit one batch (the refused and the empty one answered without the host: 6 and
	   8 .. 39 less 9 is 32 by count, 47 bounce pages), then none left: 1 + 2 + 1. */
	assert_int_equal(f->signals - signals, 1 + 2 + 1);
	struct storvsc_stats st;
	storvsc_get_stats(f->sc, &st);
	assert_int_equal(st.errors, 0);
	assert_int_equal(st.bad_packets, 0);
	fx_free(f);
}

/* The host answers each batch last to first: every answer finds its own request. */
static void test_batch_any_order(void **state)
{
	(void)state;
	struct fx *f = fx_ready(T_NONE, 0);
	f->reverse = true;
	static struct scsi_disk_io ios[NIO];
	batch_setup(ios);
	f->be->ops->rw_batch(f->be->ctx, ios, NIO);
	batch_check(f, ios);
	fx_free(f);
}

/* One answer of a batch never comes: that transfer times out, the others succeed. */
static void test_batch_one_missing(void **state)
{
	(void)state;
	struct fx *f = fx_ready(T_NONE, 0);
	uint8_t b[4][4096];
	struct scsi_disk_io ios[4];
	for (unsigned i = 0; i < 4; i++)
		ios[i] = (struct scsi_disk_io){ .buf = b[i], .len = 4096, .offset = i * 4096u };
	f->drop_nth = f->srbs + 3;
	f->be->ops->rw_batch(f->be->ctx, ios, 4);
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(ios[i].err, i == 2 ? -ETIMEDOUT : 0);
		if (i != 2)
			assert_memory_equal(b[i], f->disk_data + i * 4096, 4096);
	}
	struct storvsc_stats st;
	storvsc_get_stats(f->sc, &st);
	assert_int_equal(st.timeouts, 1);
	assert_int_equal(st.errors, 1);
	/* Its late answer is nobody's; the next batch is unaffected. */
	f->drop_nth = 0;
	f->be->ops->rw_batch(f->be->ctx, ios, 4);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(ios[i].err, 0);
	fx_free(f);
}

/* A host on its own thread: the batch waits on the condition variable. */
static void test_batch_async_host(void **state)
{
	(void)state;
	struct async_host a;
	pthread_t t;
	struct fx *f = fx_async(&a, &t);
	static struct scsi_disk_io ios[NIO];
	batch_setup(ios);
	f->be->ops->rw_batch(f->be->ctx, ios, NIO);
	__atomic_store_n(&a.stop, true, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	batch_check(f, ios);
	fx_free(f);
}

/*
 * host_gpa: buffers in "VTL0 RAM" (here the fake RAM's pages 72..79) go to the host as their own
 * pages, at any 512-byte offset; the bounce pages stay untouched. Other buffers still bounce.
 */
static int fx_host_gpa(void *ctx, const void *buf, size_t len, uint64_t *gpa)
{
	struct fx *f = ctx;
	const uint8_t *b = buf;
	if (b < f->ram + 72 * 4096 || b + len > f->ram + PAGES * 4096)
		return -EINVAL;
	*gpa = (uint64_t)(b - f->ram);
	return 0;
}

static void test_direct_pages(void **state)
{
	(void)state;
	struct fx *f = fx_new(true, T_NONE, 0);
	storvsc_destroy(f->sc);
	uint64_t pfns[BOUNCE_PAGES];
	for (unsigned i = 0; i < BOUNCE_PAGES; i++)
		pfns[i] = BOUNCE_PFN + i;
	struct storvsc_config cfg = {
		.ring = f->ram, .ring_pages = RING_PAGES,
		.bounce = f->ram + BOUNCE_PFN * 4096, .bounce_pfns = pfns,
		.bounce_pages = 4, .timeout_ms = 200, .host_gpa = fx_host_gpa,
		.signal = sc_signal, .ready = sc_ready, .log = sc_log, .ctx = f,
	};
	assert_int_equal(storvsc_create(&cfg, &f->sc), 0);
	assert_int_equal(storvsc_start(f->sc), 0);
	assert_int_equal(f->ready_err, 0);
	uint8_t *bounce = f->ram + BOUNCE_PFN * 4096;
	memset(bounce, 0xB0, 4 * 4096);
	const struct scsi_disk_backend *be = f->be;
	/* 6 KiB at offset 0x200 of page 73: pages 73 and 74 named, byte offset 0x200. */
	uint8_t *v = f->ram + 73 * 4096 + 0x200;
	for (unsigned i = 0; i < 6144; i++)
		v[i] = (uint8_t)(i * 3 + 1);
	assert_int_equal(be->ops->write(be->ctx, v, 6144, 4096), 0);
	assert_memory_equal(f->disk_data + 4096, v, 6144);
	memset(v, 0, 6144);
	assert_int_equal(be->ops->read(be->ctx, v, 6144, 8192), 0);
	assert_memory_equal(v, f->disk_data + 8192, 6144);
	/* A batch: two direct, one from elsewhere (bounces). */
	static uint8_t other[4096];
	struct scsi_disk_io ios[3] = {
		{ .buf = f->ram + 74 * 4096, .len = 4096, .offset = 0 },
		{ .buf = other, .len = 4096, .offset = 4096 },
		{ .buf = f->ram + 76 * 4096 + 512, .len = 1024, .offset = 65536 },
	};
	be->ops->rw_batch(be->ctx, ios, 3);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(ios[i].err, 0);
		assert_memory_equal(ios[i].buf, f->disk_data + ios[i].offset, ios[i].len);
	}
	struct storvsc_stats st;
	storvsc_get_stats(f->sc, &st);
	assert_int_equal(st.direct, 4);
	assert_int_equal(st.errors, 0);
	/* Only the one from elsewhere used a bounce page. */
	for (unsigned i = 4096; i < 4 * 4096; i++)
		assert_int_equal(bounce[i], 0xB0);
	fx_free(f);
}

/* ---- asynchronous batches (rw_submit) ---- */

static uint64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

/* Bytes that differ between any two transfers' offsets (the default pattern repeats every
   128 KiB), so a transfer that got another's data is seen. */
static void disk_scramble(struct fx *f)
{
	uint32_t x = 0x12345678u;
	for (size_t i = 0; i < DISK_SIZE; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		f->disk_data[i] = (uint8_t)x;
	}
}

/* A synchronous host, init done, with this timeout and host_gpa; the disk scrambled. */
static struct fx *fx_ready_with(uint32_t timeout_ms,
				int (*host_gpa)(void *, const void *, size_t, uint64_t *))
{
	struct fx *f = fx_new(true, T_NONE, 0);
	storvsc_destroy(f->sc);
	uint64_t pfns[BOUNCE_PAGES];
	for (unsigned i = 0; i < BOUNCE_PAGES; i++)
		pfns[i] = BOUNCE_PFN + i;
	struct storvsc_config cfg = {
		.ring = f->ram, .ring_pages = RING_PAGES,
		.bounce = f->ram + BOUNCE_PFN * 4096, .bounce_pfns = pfns,
		.bounce_pages = BOUNCE_PAGES, .timeout_ms = timeout_ms, .host_gpa = host_gpa,
		.signal = sc_signal, .ready = sc_ready, .log = sc_log, .ctx = f,
	};
	assert_int_equal(storvsc_create(&cfg, &f->sc), 0);
	assert_int_equal(storvsc_start(f->sc), 0);
	assert_true(f->ready_called);
	assert_int_equal(f->ready_err, 0);
	disk_scramble(f);
	return f;
}

static void host_set(struct fx *f, bool hold)
{
	pthread_mutex_lock(&f->host_lock);
	f->hold = hold;
	pthread_mutex_unlock(&f->host_lock);
}

/* The byte offset a held READ(16) / WRITE(16) asks for. */
static uint64_t held_offset(const struct held *h)
{
	struct storvsp_vstor_packet pk;
	memset(&pk, 0, sizeof(pk));
	memcpy(&pk, h->payload, (size_t)h->n < sizeof(pk) ? (size_t)h->n : sizeof(pk));
	uint64_t lba = 0;
	for (unsigned i = 2; i < 10; i++)
		lba = lba << 8 | pk.u.srb.cdb[i];
	return lba * 512;
}

/* One batch given to rw_submit, and what its done() saw. */
#define SUB_MAX 33u     /* one more than a batch may hold */
struct sub {
	struct fx *f;
	struct scsi_disk_io ios[SUB_MAX];
	unsigned n;
	unsigned first, nsent;          /* its requests: the host's held[first .. first + nsent) */
	int calls;                      /* done() runs (atomic) */
	pthread_t thread;               /* where done() ran */
	unsigned answered;              /* of its requests, answered by the host when done() ran */
	unsigned answers;               /* all held requests answered by then */
	int err_at_done[SUB_MAX];
};

static void sub_done(void *arg)
{
	struct sub *b = arg;
	struct fx *f = b->f;
	pthread_mutex_lock(&f->host_lock);
	unsigned a = 0;
	for (unsigned i = 0; i < b->nsent; i++)
		a += __atomic_load_n(&f->held[b->first + i].answered, __ATOMIC_ACQUIRE);
	b->answered = a;
	b->answers = f->nanswers;
	pthread_mutex_unlock(&f->host_lock);
	for (unsigned i = 0; i < b->n; i++)
		b->err_at_done[i] = b->ios[i].err;
	b->thread = pthread_self();
	__atomic_add_fetch(&b->calls, 1, __ATOMIC_ACQ_REL);
}

static int sub_calls(struct sub *b)
{
	return __atomic_load_n(&b->calls, __ATOMIC_ACQUIRE);
}

/* Transfer i of b; a read's buffer is filled with 0xEE, a write's with a pattern. */
static void sub_io(struct sub *b, unsigned i, bool write, void *buf, size_t len, uint64_t off)
{
	b->ios[i] = (struct scsi_disk_io){ .write = write, .buf = buf, .len = len, .offset = off,
					   .err = 99 };
	for (size_t k = 0; k < len; k++)
		((uint8_t *)buf)[k] = write ? (uint8_t)(k * 31 + off / 512 + 1) : 0xEE;
}

static void sub_prepare(struct fx *f, struct sub *b, unsigned n)
{
	b->f = f;
	b->n = n;
	b->calls = 0;
	b->nsent = 0;
	pthread_mutex_lock(&f->host_lock);
	b->first = f->nheld;
	pthread_mutex_unlock(&f->host_lock);
}

/* rw_submit of b's first n transfers: its result; b->nsent says what the host took. */
static int sub_submit(struct fx *f, struct sub *b, unsigned n)
{
	sub_prepare(f, b, n);
	int rc = f->be->ops->rw_submit(f->be->ctx, b->ios, n, sub_done, b);
	pthread_mutex_lock(&f->host_lock);
	b->nsent = f->nheld - b->first;
	pthread_mutex_unlock(&f->host_lock);
	return rc;
}

/* Every transfer of b succeeded: reads hold the image, writes reached it. */
static void sub_check_ok(struct fx *f, const struct sub *b)
{
	for (unsigned i = 0; i < b->n; i++) {
		const struct scsi_disk_io *io = &b->ios[i];
		assert_int_equal(io->err, 0);
		assert_memory_equal(io->buf, f->disk_data + io->offset, io->len);
	}
}

/* Answer all of b's requests, last to first, and let storvsc read them. */
static void sub_answer_all(struct fx *f, struct sub *b)
{
	for (unsigned i = b->nsent; i-- > 0;)
		host_answer(f, b->first + i);
	storvsc_event(f->sc);
}

static void bytes_all(const void *p, uint8_t v, size_t len)
{
	for (size_t i = 0; i < len; i++)
		assert_int_equal(((const uint8_t *)p)[i], v);
}

/* A host thread that answers held requests in a given order, one storvsc_event each. */
struct deliverer {
	struct fx *f;
	const unsigned *order;          /* held indices */
	unsigned n;
	unsigned delay_ms;              /* before the first answer */
	bool then_serve;                /* afterwards: stop holding (under the same lock hold) */
};

static void *deliver_main(void *arg)
{
	struct deliverer *d = arg;
	usleep(d->delay_ms * 1000u);
	for (unsigned i = 0; i < d->n; i++) {
		pthread_mutex_lock(&d->f->host_lock);
		host_answer_locked(d->f, d->order[i]);
		if (d->then_serve && i == d->n - 1)
			d->f->hold = false;
		pthread_mutex_unlock(&d->f->host_lock);
		storvsc_event(d->f->sc);
	}
	return NULL;
}

#define AB 4u   /* batches in flight */
#define AN 8u   /* requests each */

static void submit_async(bool direct)
{
	struct fx *f = fx_ready_with(2000, direct ? fx_host_gpa : NULL);
	uint8_t *bounce = f->ram + BOUNCE_PFN * 4096;
	memset(bounce, 0xB0, BOUNCE_PAGES * 4096);
	host_set(f, true);
	static struct sub subs[AB];
	static uint8_t bufs[AB][AN][8192];
	uint64_t rd = 0, wr = 0;
	for (unsigned b = 0; b < AB; b++) {
		for (unsigned j = 0; j < AN; j++) {
			/* Direct: 512 / 1024 bytes at 1 KiB steps through "VTL0 RAM" (pages 72..79,
			   offsets inside pages); else 4 / 8 KiB from private memory (bounced). */
			unsigned k = b * AN + j;
			void *buf = direct ? (void *)(f->ram + 72 * 4096 + k * 1024) : bufs[b][j];
			size_t len = direct ? (j % 2 ? 1024 : 512) : (j % 2 + 1) * 4096u;
			bool write = (b + j) % 3 == 0;
			sub_io(&subs[b], j, write, buf, len, (uint64_t)k * 16384);
			*(write ? &wr : &rd) += len;
		}
		assert_int_equal(sub_submit(f, &subs[b], AN), 0);
		assert_int_equal(subs[b].nsent, AN);
	}
	/* Held in order, each batch's requests together; none done yet. */
	int owner[BOUNCE_PFN + BOUNCE_PAGES];
	for (unsigned i = 0; i < BOUNCE_PFN + BOUNCE_PAGES; i++)
		owner[i] = -1;
	for (unsigned b = 0; b < AB; b++) {
		assert_int_equal(sub_calls(&subs[b]), 0);
		for (unsigned j = 0; j < AN; j++) {
			const struct held *h = &f->held[subs[b].first + j];
			assert_int_equal(h->type, VMBUS_PKT_DATA_GPA_DIRECT);
			assert_int_equal(held_offset(h), subs[b].ios[j].offset);
			if (direct)
				continue;
			/* The bounce pages named by the 32 requests in flight are pairwise disjoint. */
			for (unsigned p = 0; p < (h->ext_len - 16) / 8; p++) {
				uint64_t pfn = h->ext[2 + p];
				assert_in_range(pfn, BOUNCE_PFN, BOUNCE_PFN + BOUNCE_PAGES - 1);
				assert_int_equal(owner[pfn], -1);
				owner[pfn] = (int)(b * AN + j);
			}
		}
	}
	/* Interleaved, each batch's requests last to first: batch 3 ends at answer 12, then
	   1 at 24, 2 at 28, 0 at 32. */
	static const unsigned order_bj[AB * AN][2] = {
		{ 3, 7 }, { 3, 6 }, { 3, 5 }, { 3, 4 }, { 2, 7 }, { 2, 6 }, { 2, 5 }, { 2, 4 },
		{ 3, 3 }, { 3, 2 }, { 3, 1 }, { 3, 0 }, { 1, 7 }, { 1, 6 }, { 1, 5 }, { 1, 4 },
		{ 0, 7 }, { 0, 6 }, { 0, 5 }, { 0, 4 }, { 1, 3 }, { 1, 2 }, { 1, 1 }, { 1, 0 },
		{ 2, 3 }, { 2, 2 }, { 2, 1 }, { 2, 0 }, { 0, 3 }, { 0, 2 }, { 0, 1 }, { 0, 0 },
	};
	static const unsigned ends_at[AB] = { 32, 24, 28, 12 };
	unsigned order[AB * AN];
	for (unsigned i = 0; i < AB * AN; i++)
		order[i] = subs[order_bj[i][0]].first + order_bj[i][1];
	const unsigned base = f->nanswers;
	struct deliverer d = { .f = f, .order = order, .n = AB * AN };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, deliver_main, &d), 0);
	pthread_join(t, NULL);
	for (unsigned b = 0; b < AB; b++) {
		struct sub *s = &subs[b];
		assert_int_equal(sub_calls(s), 1);
		assert_true(pthread_equal(s->thread, t));
		/* After all of its answers, at the very answer that completed it. */
		assert_int_equal(s->answered, AN);
		assert_int_equal(s->answers - base, ends_at[b]);
		for (unsigned j = 0; j < AN; j++)
			assert_int_equal(s->err_at_done[j], 0);
		sub_check_ok(f, s);
	}
	struct storvsc_stats st;
	storvsc_get_stats(f->sc, &st);
	assert_int_equal(st.requests, AB * AN);
	assert_int_equal(st.bytes_read, rd);
	assert_int_equal(st.bytes_written, wr);
	assert_int_equal(st.errors, 0);
	assert_int_equal(st.timeouts, 0);
	assert_int_equal(st.bad_packets, 0);
	assert_int_equal(st.direct, direct ? AB * AN : 0);
	if (direct)
		bytes_all(bounce, 0xB0, BOUNCE_PAGES * 4096);
	fx_free(f);
}

/* Several batches outstanding, answered interleaved from a host thread: done() once each. */
static void test_submit_async(void **state)
{
	(void)state;
	submit_async(false);
	submit_async(true);
}

/* What a refused submit must leave alone. */
struct probe {
	unsigned signals, nheld;
	uint32_t windex;                /* our ring's write_index */
	uint64_t requests;
};

static struct probe probe_take(struct fx *f)
{
	struct storvsc_stats st;
	storvsc_get_stats(f->sc, &st);
	pthread_mutex_lock(&f->host_lock);
	struct probe p = { f->signals, f->nheld,
			   __atomic_load_n(&((struct vmbus_ring_control *)f->ram)->write_index,
					   __ATOMIC_ACQUIRE),
			   st.requests };
	pthread_mutex_unlock(&f->host_lock);
	return p;
}

/* rw_submit of b's first n transfers is refused: -EAGAIN, nothing sent, no done(). */
static void refused(struct fx *f, struct sub *b, unsigned n)
{
	struct probe p0 = probe_take(f);
	assert_int_equal(sub_submit(f, b, n), -EAGAIN);
	struct probe p1 = probe_take(f);
	assert_int_equal(sub_calls(b), 0);
	assert_int_equal(p1.signals, p0.signals);
	assert_int_equal(p1.nheld, p0.nheld);
	assert_int_equal(p1.windex, p0.windex);
	assert_int_equal(p1.requests, p0.requests);
}

static int count_signal(void *ctx)
{
	(*(unsigned *)ctx)++;
	return 0;
}

static void test_submit_refused(void **state)
{
	(void)state;
	struct fx *f = fx_ready_with(2000, fx_host_gpa);
	host_set(f, true);
	static struct sub subs[40];
	static uint8_t big[0x40000 + 512], small[40][4096];
	uint64_t sent = 0;

	/* Before init is ready: another client whose host never answers. Its backend is only
	   handed out by ready(); storvsc's backend ctx is the client itself (checked on f). */
	assert_ptr_equal(f->be->ctx, f->sc);
	static _Alignas(4096) uint8_t mem2[8 * 4096];
	uint64_t pfn2[4] = { 0 };
	unsigned sig2 = 0;
	struct storvsc_config c2 = { .ring = mem2, .ring_pages = 4, .bounce = mem2 + 4 * 4096,
				     .bounce_pfns = pfn2, .bounce_pages = 4, .signal = count_signal,
				     .log = sc_log, .ctx = &sig2 };
	struct storvsc *s2;
	assert_int_equal(storvsc_create(&c2, &s2), 0);
	struct scsi_disk_backend be2 = { .ops = f->be->ops, .ctx = s2 };
	struct sub *b = &subs[0];
	sub_io(b, 0, false, small[0], 4096, 0);
	sub_prepare(f, b, 1);
	assert_int_equal(be2.ops->rw_submit(be2.ctx, b->ios, 1, sub_done, b), -EAGAIN);
	assert_int_equal(storvsc_start(s2), 0);     /* BEGIN_INITIALIZATION, never answered */
	const uint32_t w2 = ((struct vmbus_ring_control *)mem2)->write_index;
	assert_int_equal(sig2, 1);
	assert_int_equal(be2.ops->rw_submit(be2.ctx, b->ios, 1, sub_done, b), -EAGAIN);
	assert_int_equal(((struct vmbus_ring_control *)mem2)->write_index, w2);
	assert_int_equal(sig2, 1);
	assert_int_equal(sub_calls(b), 0);
	storvsc_destroy(s2);
	assert_int_equal(sub_calls(b), 0);

	/* Larger than a request may be (max_transfer_bytes: the 256 KiB bounce buffer). */
	struct storvsc_stats st;
	storvsc_get_stats(f->sc, &st);
	assert_int_equal(st.max_transfer_bytes, 0x40000);
	sub_io(b, 0, false, small[0], 4096, 0);
	sub_io(b, 1, false, big, 0x40000 + 512, 0);
	refused(f, b, 2);
	sub_io(b, 0, false, big, 0x40000, 0);       /* exactly the limit: goes */
	assert_int_equal(sub_submit(f, b, 1), 0);
	assert_int_equal(b->nsent, 1);
	sent += 1;
	sub_answer_all(f, b);
	assert_int_equal(sub_calls(b), 1);
	sub_check_ok(f, b);

	/* More than 32 transfers in one batch; 32 go. */
	for (unsigned i = 0; i < 33; i++)
		sub_io(b, i, i % 2, small[i], 512, i * 4096u);
	refused(f, b, 33);
	assert_int_equal(sub_submit(f, b, 32), 0);
	assert_int_equal(b->nsent, 32);
	sent += 32;
	sub_answer_all(f, b);
	assert_int_equal(sub_calls(b), 1);
	sub_check_ok(f, b);

	/* Bounce pages (64) held by outstanding batches: 60 + 4; then 8 more and 1 more do not
	   fit; once the 60 come back, 1 does. */
	struct sub *a = &subs[1], *c = &subs[2], *d = &subs[3];
	sub_io(a, 0, false, big, 60 * 4096, 0);
	assert_int_equal(sub_submit(f, a, 1), 0);
	static uint8_t mid[2][16384];
	sub_io(b, 0, false, mid[0], 16384, 0);
	sub_io(b, 1, false, mid[1], 16384, 16384);
	refused(f, b, 2);   /* 8 pages: only 4 left */
	sub_io(c, 0, false, small[2], 4096, 65536);
	sub_io(c, 1, true, small[3], 4096, 69632);
	sub_io(c, 2, false, small[4], 4096, 73728);
	sub_io(c, 3, false, small[5], 4096, 77824);
	assert_int_equal(sub_submit(f, c, 4), 0);
	sub_io(d, 0, false, small[6], 512, 81920);
	refused(f, d, 1);
	sent += 5;
	host_answer(f, a->first);
	storvsc_event(f->sc);
	assert_int_equal(sub_calls(a), 1);
	assert_int_equal(sub_calls(c), 0);
	sub_check_ok(f, a);
	assert_int_equal(sub_submit(f, d, 1), 0);
	sent += 1;
	sub_answer_all(f, c);
	sub_answer_all(f, d);
	assert_int_equal(sub_calls(c), 1);
	assert_int_equal(sub_calls(d), 1);
	sub_check_ok(f, c);
	sub_check_ok(f, d);

	/* 32 batches outstanding (one 512-byte transfer each, one bounce page): the 33rd waits. */
	for (unsigned i = 0; i < 33; i++) {
		sub_io(&subs[i], 0, i % 2, small[i], 512, 131072 + i * 1024u);
		if (i < 32) {
			assert_int_equal(sub_submit(f, &subs[i], 1), 0);
			assert_int_equal(subs[i].nsent, 1);
		}
	}
	refused(f, &subs[32], 1);
	for (unsigned i = 32; i-- > 0;)
		host_answer(f, subs[i].first);
	storvsc_event(f->sc);
	for (unsigned i = 0; i < 32; i++) {
		assert_int_equal(sub_calls(&subs[i]), 1);
		sub_check_ok(f, &subs[i]);
	}
	assert_int_equal(sub_submit(f, &subs[32], 1), 0);
	sent += 33;
	sub_answer_all(f, &subs[32]);
	assert_int_equal(sub_calls(&subs[32]), 1);
	sub_check_ok(f, &subs[32]);

	/* 256 requests outstanding (8 batches of 32, the caller's own pages): no slot left. */
	for (unsigned i = 0; i < 8; i++) {
		for (unsigned j = 0; j < 32; j++)
			sub_io(&subs[i], j, false, f->ram + 72 * 4096 + (i * 32 + j) % 64 * 512, 512,
			       (i * 32 + j) * 512u);
		assert_int_equal(sub_submit(f, &subs[i], 32), 0);
		assert_int_equal(subs[i].nsent, 32);
	}
	sent += 256;
	sub_io(&subs[8], 0, false, f->ram + 72 * 4096, 512, 0);
	refused(f, &subs[8], 1);
	f->be->ops->cancel(f->be->ctx);
	for (unsigned i = 0; i < 8; i++) {
		assert_int_equal(sub_calls(&subs[i]), 1);
		for (unsigned j = 0; j < 32; j++)
			assert_int_equal(subs[i].ios[j].err, -ECANCELED);
	}

	/* Empty and out-of-range transfers are answered without the host; the rest goes. */
	static uint8_t junk[4096];
	b = &subs[0];
	sub_io(b, 0, false, junk, 0, 4096);               /* empty: done */
	sub_io(b, 1, false, junk, 0, DISK_SIZE);          /* empty at the end: done */
	sub_io(b, 2, false, junk, 512, DISK_SIZE);        /* past the end */
	sub_io(b, 3, false, junk, 100, 0);                /* not whole blocks */
	sub_io(b, 4, true, junk, 512, 4097);              /* not at a block */
	sub_io(b, 5, false, small[0], 4096, 8192);
	sub_io(b, 6, false, junk, 0, DISK_SIZE + 512);    /* empty past the end */
	assert_int_equal(sub_submit(f, b, 7), 0);
	assert_int_equal(b->nsent, 1);
	assert_int_equal(held_offset(&f->held[b->first]), 8192);
	sent += 1;
	assert_int_equal(sub_calls(b), 0);
	sub_answer_all(f, b);
	assert_int_equal(sub_calls(b), 1);
	static const int want[7] = { 0, 0, -EINVAL, -EINVAL, -EINVAL, 0, -EINVAL };
	for (unsigned i = 0; i < 7; i++) {
		assert_int_equal(b->ios[i].err, want[i]);
		assert_int_equal(b->err_at_done[i], want[i]);
	}
	assert_memory_equal(small[0], f->disk_data + 8192, 4096);
	/* None for the host at all: done() at once, on the caller's thread, nothing sent. */
	struct probe p0 = probe_take(f);
	sub_io(b, 0, false, junk, 0, 0);
	sub_io(b, 1, false, junk, 512, DISK_SIZE);
	assert_int_equal(sub_submit(f, b, 2), 0);
	assert_int_equal(sub_calls(b), 1);
	assert_true(pthread_equal(b->thread, pthread_self()));
	assert_int_equal(b->ios[0].err, 0);
	assert_int_equal(b->ios[1].err, -EINVAL);
	struct probe p1 = probe_take(f);
	assert_int_equal(p1.signals, p0.signals);
	assert_int_equal(p1.windex, p0.windex);

	storvsc_get_stats(f->sc, &st);
	assert_int_equal(st.requests, sent);
	assert_int_equal(st.errors, 256);
	assert_int_equal(st.timeouts, 0);
	assert_int_equal(st.bad_packets, 0);
	fx_free(f);
}

/* A batch the host never answers ends by the timer; its late answers change nothing. */
static void test_submit_timeout(void **state)
{
	(void)state;
	struct fx *f = fx_ready_with(100, NULL);
	host_set(f, true);
	static struct sub a, b;
	static uint8_t buf[4][4096];
	sub_io(&a, 0, false, buf[0], 4096, 0);
	sub_io(&a, 1, false, buf[1], 4096, 8192);
	sub_io(&b, 0, true, buf[2], 4096, 16384);
	sub_io(&b, 1, false, buf[3], 4096, 24576);
	const uint64_t t0 = now_ms();
	assert_int_equal(sub_submit(f, &a, 2), 0);
	assert_int_equal(sub_submit(f, &b, 2), 0);
	/* One of a's is answered in time: it keeps its result. */
	host_answer(f, a.first);
	storvsc_event(f->sc);
	assert_true(now_ms() - t0 < 100);  /* else this machine was too slow for the test */
	assert_int_equal(sub_calls(&a), 0);
	for (unsigned i = 0; i < 5000 && !(sub_calls(&a) && sub_calls(&b)); i++)
		usleep(1000);
	const uint64_t took = now_ms() - t0;
	assert_int_equal(sub_calls(&a), 1);
	assert_int_equal(sub_calls(&b), 1);
	assert_true(took >= 100);
	assert_true(took < 5000);
	/* From the timer thread: nobody else called storvsc meanwhile. */
	assert_false(pthread_equal(a.thread, pthread_self()));
	assert_false(pthread_equal(b.thread, pthread_self()));
	assert_int_equal(a.ios[0].err, 0);
	assert_memory_equal(buf[0], f->disk_data, 4096);
	assert_int_equal(a.ios[1].err, -ETIMEDOUT);
	assert_int_equal(b.ios[0].err, -ETIMEDOUT);
	assert_int_equal(b.ios[1].err, -ETIMEDOUT);
	assert_int_equal(a.err_at_done[1], -ETIMEDOUT);
	bytes_all(buf[1], 0xEE, 4096);
	struct storvsc_stats st;
	storvsc_get_stats(f->sc, &st);
	assert_int_equal(st.timeouts, 3);
	assert_int_equal(st.errors, 3);
	assert_int_equal(st.requests, 4);
	assert_int_equal(st.bytes_read, 4096);
	assert_int_equal(st.bytes_written, 0);
	assert_int_equal(st.bad_packets, 0);
	/* The late answers: bad packets, nothing else. */
	host_answer(f, a.first + 1);
	host_answer(f, b.first);
	host_answer(f, b.first + 1);
	storvsc_event(f->sc);
	storvsc_get_stats(f->sc, &st);
	assert_int_equal(st.bad_packets, 3);
	assert_int_equal(st.timeouts, 3);
	assert_int_equal(st.errors, 3);
	assert_int_equal(st.bytes_read, 4096);
	assert_int_equal(sub_calls(&a), 1);
	assert_int_equal(sub_calls(&b), 1);
	assert_int_equal(a.ios[1].err, -ETIMEDOUT);
	bytes_all(buf[1], 0xEE, 4096);
	/* The channel still works. */
	host_set(f, false);
	assert_int_equal(f->be->ops->read(f->be->ctx, buf[1], 4096, 8192), 0);
	assert_memory_equal(buf[1], f->disk_data + 8192, 4096);
	fx_free(f);
}

/* cancel ends every outstanding batch before it returns; so does storvsc_destroy. */
static void test_submit_cancel(void **state)
{
	(void)state;
	struct fx *f = fx_ready_with(2000, NULL);
	host_set(f, true);
	static struct sub subs[3];
	static uint8_t buf[3][4][4096];
	for (unsigned i = 0; i < 3; i++) {
		for (unsigned j = 0; j < 4; j++)
			sub_io(&subs[i], j, false, buf[i][j], 4096, (i * 4 + j) * 8192u);
		assert_int_equal(sub_submit(f, &subs[i], 4), 0);
	}
	/* Batch 1's requests 0 and 2 are answered: not done yet. */
	host_answer(f, subs[1].first + 2);
	host_answer(f, subs[1].first);
	storvsc_event(f->sc);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(sub_calls(&subs[i]), 0);
	f->be->ops->cancel(f->be->ctx);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(sub_calls(&subs[i]), 1);
		assert_true(pthread_equal(subs[i].thread, pthread_self()));
		for (unsigned j = 0; j < 4; j++) {
			bool answered = i == 1 && j % 2 == 0;
			assert_int_equal(subs[i].ios[j].err, answered ? 0 : -ECANCELED);
			assert_int_equal(subs[i].err_at_done[j], answered ? 0 : -ECANCELED);
			if (answered)
				assert_memory_equal(buf[i][j], f->disk_data + subs[i].ios[j].offset,
						    4096);
			else
				bytes_all(buf[i][j], 0xEE, 4096);
		}
	}
	struct storvsc_stats st;
	storvsc_get_stats(f->sc, &st);
	assert_int_equal(st.errors, 10);
	assert_int_equal(st.timeouts, 0);
	assert_int_equal(st.bytes_read, 8192);
	/* Nothing outstanding: nothing to do. */
	f->be->ops->cancel(f->be->ctx);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(sub_calls(&subs[i]), 1);
	/* A late answer is nobody's; the bounce pages are all free again (256 KiB goes). */
	host_answer(f, subs[0].first);
	storvsc_event(f->sc);
	storvsc_get_stats(f->sc, &st);
	assert_int_equal(st.bad_packets, 1);
	static uint8_t big[0x40000];
	sub_io(&subs[0], 0, false, big, sizeof(big), 0);
	assert_int_equal(sub_submit(f, &subs[0], 1), 0);
	sub_answer_all(f, &subs[0]);
	assert_int_equal(sub_calls(&subs[0]), 1);
	sub_check_ok(f, &subs[0]);
	/* Destroyed with two batches outstanding: their done() runs there. */
	for (unsigned i = 1; i < 3; i++) {
		for (unsigned j = 0; j < 4; j++)
			sub_io(&subs[i], j, j % 2, buf[i][j], 4096, (i * 4 + j) * 8192u);
		assert_int_equal(sub_submit(f, &subs[i], 4), 0);
		assert_int_equal(subs[i].nsent, 4);
	}
	storvsc_destroy(f->sc);
	f->sc = NULL;
	for (unsigned i = 1; i < 3; i++) {
		assert_int_equal(sub_calls(&subs[i]), 1);
		for (unsigned j = 0; j < 4; j++)
			assert_int_equal(subs[i].ios[j].err, -ECANCELED);
	}
	fx_free(f);
}

/* The host breaks its ring while batches are outstanding: they end with -EIO, and so does
   everything after. */
static void test_submit_broken_ring(void **state)
{
	(void)state;
	struct fx *f = fx_ready_with(2000, NULL);
	host_set(f, true);
	static struct sub subs[3];
	static uint8_t buf[2][3][4096];
	for (unsigned i = 0; i < 2; i++) {
		for (unsigned j = 0; j < 3; j++)
			sub_io(&subs[i], j, j == 2, buf[i][j], 4096, (i * 3 + j) * 8192u);
		assert_int_equal(sub_submit(f, &subs[i], 3), 0);
	}
	host_answer(f, subs[0].first + 1);
	storvsc_event(f->sc);
	assert_int_equal(sub_calls(&subs[0]), 0);
	struct vmbus_ring_control *c = (void *)(f->ram + 4 * 4096);
	__atomic_store_n(&c->write_index, 0xFFFFFFF0u, __ATOMIC_RELEASE);
	storvsc_event(f->sc);
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(sub_calls(&subs[i]), 1);
		for (unsigned j = 0; j < 3; j++) {
			/* The answer read before the break keeps its result. */
			int want = i == 0 && j == 1 ? 0 : -EIO;
			assert_int_equal(subs[i].ios[j].err, want);
			assert_int_equal(subs[i].err_at_done[j], want);
		}
	}
	assert_memory_equal(buf[0][1], f->disk_data + 8192, 4096);
	struct storvsc_stats st;
	storvsc_get_stats(f->sc, &st);
	assert_int_equal(st.broken, 1);
	assert_false(st.ready);
	assert_int_equal(st.errors, 5);
	assert_int_equal(st.timeouts, 0);
	sub_io(&subs[2], 0, false, buf[0][0], 4096, 0);
	refused(f, &subs[2], 1);
	assert_int_equal(f->be->ops->read(f->be->ctx, buf[0][0], 4096, 0), -EIO);
	assert_int_equal(f->be->ops->write(f->be->ctx, buf[0][0], 4096, 0), -EIO);
	fx_free(f);
}

/* The host log after `mark`: the 4 async answers, then the synchronous request (which the
   host no longer holds once they are answered: it served it at once), then its answer. */
static void async_then_sync_check(struct fx *f, unsigned mark)
{
	pthread_mutex_lock(&f->host_lock);
	const unsigned n = f->nlog - mark;
	char kinds[8] = { 0 };
	for (unsigned i = 0; i < n && i < 7; i++)
		kinds[i] = f->log[mark + i].kind;
	pthread_mutex_unlock(&f->host_lock);
	assert_string_equal(kinds, "AAAARA");
}

/*
 * An async batch of 4 reads outstanding, held by a host thread that answers it after 20 ms
 * and then stops holding (in the same host_lock hold as its last answer): a synchronous
 * read or write sent before the batch ended would be held, logged before the answers, and
 * answered only with them.
 */
enum sync_op { SYNC_READ, SYNC_WRITE, SYNC_BATCH_WRITE };

static void sync_after_async(enum sync_op op)
{
	struct fx *f = fx_ready_with(2000, NULL);
	static struct sub a;
	static uint8_t abuf[4][4096], buf[8192];
	unsigned order[4];
	host_set(f, true);
	for (unsigned j = 0; j < 4; j++)
		sub_io(&a, j, false, abuf[j], 4096, (j + 1) * 65536u);
	assert_int_equal(sub_submit(f, &a, 4), 0);
	assert_int_equal(a.nsent, 4);
	for (unsigned j = 0; j < 4; j++)
		order[j] = a.first + 3 - j;
	pthread_mutex_lock(&f->host_lock);
	const unsigned mark = f->nlog;
	pthread_mutex_unlock(&f->host_lock);
	struct deliverer d = { .f = f, .order = order, .n = 4, .delay_ms = 20,
			       .then_serve = true };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, deliver_main, &d), 0);
	int rc;
	if (op != SYNC_READ) {
		for (unsigned i = 0; i < sizeof(buf); i++)
			buf[i] = (uint8_t)(i * 11 + op);
	}
	if (op == SYNC_WRITE) {
		rc = f->be->ops->write(f->be->ctx, buf, sizeof(buf), 4096);
	} else if (op == SYNC_BATCH_WRITE) {
		struct scsi_disk_io io = { .write = true, .buf = buf, .len = sizeof(buf),
					   .offset = 4096, .err = 99 };
		f->be->ops->rw_batch(f->be->ctx, &io, 1);
		rc = io.err;
	} else {
		memset(buf, 0xEE, sizeof(buf));
		rc = f->be->ops->read(f->be->ctx, buf, sizeof(buf), 4096);
	}
	pthread_join(t, NULL);
	assert_int_equal(rc, 0);
	/* The async batch used bounce pages 0..3, the synchronous transfer 0..1 after it. */
	assert_int_equal(sub_calls(&a), 1);
	sub_check_ok(f, &a);
	assert_memory_equal(buf, f->disk_data + 4096, sizeof(buf));
	async_then_sync_check(f, mark);
	struct storvsc_stats st;
	storvsc_get_stats(f->sc, &st);
	assert_int_equal(st.errors, 0);
	assert_int_equal(st.timeouts, 0);
	assert_int_equal(st.requests, 5);
	fx_free(f);
}

/* A synchronous read sends nothing until the outstanding async batch has ended. */
static void test_sync_waits_for_async(void **state)
{
	(void)state;
	sync_after_async(SYNC_READ);
}

/* The same for a write (read / write, then rw_batch): its data must not go into bounce pages
   the async batch still holds. */
static void test_sync_write_waits_for_async(void **state)
{
	(void)state;
	sync_after_async(SYNC_WRITE);
}

static void test_sync_batch_write_waits_for_async(void **state)
{
	(void)state;
	sync_after_async(SYNC_BATCH_WRITE);
}

/* The host of test_sync_waits_for_ring_space: after 20 ms it reads and answers everything in
   our ring but publishes its read index only 20 ms later; then it serves inside the signal. */
static void *serve_then_commit(void *arg)
{
	struct fx *f = arg;
	usleep(20000);
	pthread_mutex_lock(&f->host_lock);
	f->defer_commit = true;
	host_serve(f);
	pthread_mutex_unlock(&f->host_lock);
	storvsc_event(f->sc);           /* the async batches end; our ring stays full */
	usleep(20000);
	pthread_mutex_lock(&f->host_lock);
	assert_true(vmbus_ring_commit(&f->h_in) >= 0);
	host_log(f, 'C', 0);
	f->defer_commit = false;
	f->sync = true;
	pthread_mutex_unlock(&f->host_lock);
	storvsc_event(f->sc);           /* what a commit's signal would do */
	return NULL;
}

/* Our ring has no room for a synchronous read (the host read it all but has not published
   that yet): the read waits for the room instead of failing. */
static void test_sync_waits_for_ring_space(void **state)
{
	(void)state;
	struct fx *f = fx_ready_with(2000, fx_host_gpa);
	pthread_mutex_lock(&f->host_lock);
	f->sync = false;                /* the host looks at the ring only from its thread */
	pthread_mutex_unlock(&f->host_lock);
	/* Fill the ring with async batches of 512-byte reads into "VTL0 RAM" (no bounce pages):
	   32 at a time, then 1 at a time, until one is refused. */
	static struct sub subs[40];
	unsigned nb = 0, nreq = 0;
	for (unsigned per = 32; per; per = per == 32 ? 1 : 0) {
		for (;;) {
			assert_true(nb < 40);
			struct sub *b = &subs[nb];
			for (unsigned j = 0; j < per; j++)
				sub_io(b, j, false, f->ram + 72 * 4096 + (nreq + j) % 64 * 512, 512,
				       (nreq + j) * 512u);
			if (sub_submit(f, b, per) != 0)
				break;
			nb++;
			nreq += per;
		}
	}
	/* Refused for the ring: not the batch (32) or request (256) limits, no bounce pages. */
	assert_true(nb < 32);
	assert_true(nreq >= 100 && nreq < 256);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, serve_then_commit, f), 0);
	static uint8_t buf[8192];
	memset(buf, 0xEE, sizeof(buf));
	int rc = f->be->ops->read(f->be->ctx, buf, sizeof(buf), 4096);
	pthread_join(t, NULL);
	assert_int_equal(rc, 0);
	assert_memory_equal(buf, f->disk_data + 4096, sizeof(buf));
	for (unsigned i = 0; i < nb; i++) {
		assert_int_equal(sub_calls(&subs[i]), 1);
		for (unsigned j = 0; j < subs[i].n; j++)
			assert_int_equal(subs[i].ios[j].err, 0);
	}
	/* The read went out after the commit, and it is the only thing that did. */
	pthread_mutex_lock(&f->host_lock);
	unsigned c = LOG_MAX, after = 0;
	for (unsigned i = 0; i < f->nlog; i++) {
		if (f->log[i].kind == 'C')
			c = i;
		else if (c != LOG_MAX && f->log[i].kind == 'R')
			after++;
	}
	const char last = f->log[f->nlog - 1].kind;
	pthread_mutex_unlock(&f->host_lock);
	assert_true(c < LOG_MAX);
	assert_int_equal(after, 1);
	assert_int_equal(last, 'A');
	struct storvsc_stats st;
	storvsc_get_stats(f->sc, &st);
	assert_int_equal(st.errors, 0);
	assert_int_equal(st.timeouts, 0);
	assert_int_equal(st.requests, nreq + 1);
	fx_free(f);
}

static void test_bad_config(void **state)
{
	(void)state;
	uint64_t pfn = 0;
	static _Alignas(4096) uint8_t mem[8 * 4096];
	struct storvsc_config c = { .ring = mem, .ring_pages = 4, .bounce = mem + 4 * 4096,
				    .bounce_pfns = &pfn, .bounce_pages = 1, .signal = sc_signal };
	struct storvsc *s = NULL;
	assert_int_equal(storvsc_create(&c, &s), 0);
	storvsc_destroy(s);
	struct storvsc_config b = c;
	b.ring_pages = 3;
	assert_int_equal(storvsc_create(&b, &s), -EINVAL);
	b = c;
	b.signal = NULL;
	assert_int_equal(storvsc_create(&b, &s), -EINVAL);
	b = c;
	b.bounce_pages = 0;
	assert_int_equal(storvsc_create(&b, &s), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_and_io),
		cmocka_unit_test(test_async_host),
		cmocka_unit_test(test_sync_without_event),
		cmocka_unit_test(test_version_fallback),
		cmocka_unit_test(test_capacity10_fallback),
		cmocka_unit_test(test_capacity_lies),
		cmocka_unit_test(test_hostile_completions),
		cmocka_unit_test(test_flush_with_data),
		cmocka_unit_test(test_bad_tid_times_out),
		cmocka_unit_test(test_no_completion_then_late),
		cmocka_unit_test(test_broken_ring),
		cmocka_unit_test(test_batch_io),
		cmocka_unit_test(test_batch_any_order),
		cmocka_unit_test(test_batch_one_missing),
		cmocka_unit_test(test_batch_async_host),
		cmocka_unit_test(test_direct_pages),
		cmocka_unit_test(test_submit_async),
		cmocka_unit_test(test_submit_refused),
		cmocka_unit_test(test_submit_timeout),
		cmocka_unit_test(test_submit_cancel),
		cmocka_unit_test(test_submit_broken_ring),
		cmocka_unit_test(test_sync_waits_for_async),
		cmocka_unit_test(test_sync_write_waits_for_async),
		cmocka_unit_test(test_sync_batch_write_waits_for_async),
		cmocka_unit_test(test_sync_waits_for_ring_space),
		cmocka_unit_test(test_bad_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
