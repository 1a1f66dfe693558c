/*
 * storvsc against the real storvsp + scsi_disk (memory backend) in one process: both ends of a
 * channel's rings and the bounce pages live in a fake RAM; the "host" here drains storvsc's ring
 * inside the signal (as hvsim does) or from another thread, runs storvsp and completes. Then a
 * hostile host: a wrong transaction id, short completions, data_transfer_length above or below
 * the request, error statuses, a version it refuses, READ CAPACITY(16) failing or lying, no
 * completion at all (the request times out, a late answer is dropped) and a broken ring.
 * Batches (the backend's rw_batch): many transfers in flight at once, one signal a batch,
 * completions in any order, one of them missing.
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

/* The host: every packet in storvsc's ring through storvsp, completions back. */
static void host_serve(struct fx *f)
{
	struct vmbus_ring_packet p;
	struct storvsp_reply held[64];
	unsigned nheld = 0;
	while (vmbus_ring_peek(&f->h_in, &p) == 0) {
		_Alignas(8) uint8_t payload[128];
		int32_t n = vmbus_ring_packet_payload(&f->h_in, &p, payload, sizeof(payload));
		assert_true(n >= 48);
		uint64_t ext[2 + BOUNCE_PAGES];    /* GPA-direct header, range header, PFNs */
		struct storvsp_gpa_range r = { 0 };
		struct storvsp_request rq = { .type = p.desc.type,
					      .transaction_id = p.desc.transaction_id,
					      .payload = payload, .payload_len = (size_t)n };
		if (p.desc.type == VMBUS_PKT_DATA_GPA_DIRECT) {
			uint32_t ext_len = p.data_offset - 16;
			assert_true(ext_len <= sizeof(ext));
			assert_int_equal(vmbus_ring_packet_copy(&f->h_in, &p, 16, ext, ext_len), 0);
			struct vmbus_pkt_gpa_direct_hdr gh;
			struct vmbus_pkt_gpa_range gr;
			memcpy(&gh, &ext[0], sizeof(gh));
			memcpy(&gr, &ext[1], sizeof(gr));
			assert_int_equal(gh.range_count, 1);
			r = (struct storvsp_gpa_range){ gr.byte_count, gr.byte_offset, &ext[2],
							(ext_len - 16) / 8 };
			rq.ranges = &r;
			rq.range_count = 1;
		}
		assert_true(p.desc.flags & VMBUS_PKT_FLAG_COMPLETION_REQUESTED);
		f->last_tid = p.desc.transaction_id;
		struct storvsp_reply rep;
		struct storvsp_vstor_packet req, *out = (void *)rep.payload;
		memset(&req, 0, sizeof(req));
		memcpy(&req, payload, (size_t)n < sizeof(req) ? (size_t)n : sizeof(req));
		if (f->tamper == T_VERSION_MISMATCH && tampered(f, &req)) {
			/* A host without 0x0602: storvsp must not see it (it would accept it). */
			rep.transaction_id = p.desc.transaction_id;
			rep.len = (size_t)n;
			memcpy(rep.payload, &req, sizeof(req));
			out->operation = STORVSP_OP_COMPLETE_IO;
		} else {
			assert_int_equal(storvsp_handle(f->sp, &rq, &rep), 0);
		}
		assert_int_equal(vmbus_ring_consume(&f->h_in), 0);
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
		struct vmbus_ring_piece piece = { rep.payload, rep.len };
		struct vmbus_ring_out o = { .type = VMBUS_PKT_COMPLETION,
					    .transaction_id = rep.transaction_id, .pieces = &piece,
					    .piece_count = 1 };
		assert_true(vmbus_ring_send(&f->h_out, &o, 0) >= 0);
	}
	while (nheld--) {
		struct vmbus_ring_piece piece = { held[nheld].payload, held[nheld].len };
		struct vmbus_ring_out o = { .type = VMBUS_PKT_COMPLETION,
					    .transaction_id = held[nheld].transaction_id,
					    .pieces = &piece, .piece_count = 1 };
		assert_true(vmbus_ring_send(&f->h_out, &o, 0) >= 0);
	}
}

static int sc_signal(void *ctx)
{
	struct fx *f = ctx;
	f->signals++;
	if (f->sync)
		host_serve(f);
	return 0;
}

static void sc_ready(void *ctx, int err, const struct scsi_disk_backend *be)
{
	struct fx *f = ctx;
	assert_false(f->ready_called);
	f->ready_called = true;
	f->ready_err = err;
	f->be = be;
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
	volatile bool stop;
};

static void *async_thread(void *arg)
{
	struct async_host *a = arg;
	while (!a->stop) {
		usleep(1000);
		host_serve(a->f);
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
	for (int i = 0; i < 2000 && !f->ready_called; i++)
		usleep(1000);
	assert_true(f->ready_called);
	assert_int_equal(f->ready_err, 0);
	return f;
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
	a.stop = true;
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
	a.stop = true;
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
		cmocka_unit_test(test_bad_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
