/*
 * vmbus_scsi end to end inside one process: a VMBus client written here (contact, offers,
 * GPADL, open) against vmbus_vtl0 + vmbus_scsi over a fake partition, then storvsp traffic over
 * real rings in the fake VTL0 RAM: init, a write and a read through GPA-direct packets, a full
 * completion ring (the answer is kept, nothing runs twice), rings whose pages are not
 * contiguous, and a client that breaks its ring. Then the same over an asynchronous disk (a
 * backend with rw_submit, as storvsc's host is): batches held by the backend and ended later,
 * out of order or from another thread, draining paused and resumed, a reopen, destroy.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/vmbus/scsi_disk.h"
#include "devices/vmbus/storvsp.h"
#include "devices/vmbus/vmbus_ring.h"
#include "devices/vmbus/vmbus_scsi.h"
#include "devices/vmbus/vmbus_vtl0.h"
#include "hvcall/vmbus_abi.h"

#define PAGES 256u
#define RING_PFN 16u     /* client-to-server ring: 16 (control) .. 19; server-to-client: 20 .. 23 */
#define DISK_SIZE (1u << 20)

/*
 * An asynchronous backend over the disk image, standing in for storvsc's host: rw_submit
 * records the batch and returns; the test ends each batch when it chooses (ab_end), from its
 * own thread or another one. The data moves only then, as with a host that answers late.
 */
#define AB_MAX 64u
enum { AB_HELD, AB_ENDING, AB_ENDED };

struct ab_batch {
	struct scsi_disk_io *ios;       /* valid until done() */
	size_t n;
	void (*done)(void *arg);
	void *arg;
	int state;
	int err;                        /* what its transfers were ended with */
	int32_t out_ready, in_room;     /* the client's rings at submit (watch_out, watch_in) */
	/* The guest page of each transfer (kept: ios is gone after done): which requests. */
	unsigned page[SCSI_DISK_BATCH_MAX];
};

struct abe {
	uint8_t *data;
	uint64_t size;
	const uint8_t *ram;
	pthread_mutex_t lock;
	struct ab_batch b[AB_MAX];
	unsigned nb;                    /* batches submitted */
	unsigned ios;                   /* transfers submitted */
	unsigned ended;                 /* batches whose done() has returned */
	unsigned in_done;               /* done() calls running now */
	unsigned rw_batches, flushes, cancels, cancelled_ios;
	bool answer_inline;             /* rw_submit ends the batch before it returns */
	/* The next submit first ends batch hook_batch on another thread (while vmbus_scsi holds
	   its channel lock, as it does around rw_submit); hook_ok: that worked. */
	bool hook, hook_ok;
	unsigned hook_batch;
	/* The client's views, looked at by each submit when set (on the submitting thread). */
	struct vmbus_ring *watch_out, *watch_in;
	char log[64];                   /* calls in order: 'b' rw_batch, 'f' flush, 's' rw_submit */
	unsigned nlog;
};

struct fx {
	struct iobus *bus;
	struct vclock *clock;
	struct devctx dc;
	struct vmbus_vtl0 *vb;
	struct scsi_disk_mem dm;
	struct scsi_disk *disk;
	struct vmbus_scsi *chan;
	_Alignas(4096) uint8_t ram[PAGES * 4096];
	uint8_t disk_data[DISK_SIZE];
	/* Messages the server posted, in order. */
	unsigned nmsg;
	_Alignas(8) uint8_t msg[64][240];
	unsigned events;
	uint32_t relid;
	struct vmbus_ring c2s, s2c;     /* the client's views */
	uint64_t tid;
	bool async;                     /* the disk is over `ab`, not `dm` */
	struct abe ab;
	/* The next signal of the client first ends ab batch signal_hook_batch on another thread
	   (vmbus_scsi may hold its channel lock then); signal_hook_ok: that worked. */
	bool signal_hook, signal_hook_ok;
	unsigned signal_hook_batch;
};

static bool ended_on_thread(struct abe *a, unsigned i);

/*
 * A gate in the client's signal for one thread (`gated`): a done() that signals the client
 * (after vmbus_scsi let go of its lock) waits there until the test releases it, or at most a
 * second while the test is not back from vmbus_scsi_destroy (a destroy that waits for it).
 * When destroy came back first, the thread is abandoned there for good: going on would run
 * in the freed channel. Static: a held thread must never see its gate reinitialised.
 */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool inside, released, abandoned;
} gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false, false };
static _Thread_local bool gated;

static void deadline_in(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void gate_hold(void)
{
	struct timespec dl;
	deadline_in(&dl, 1000);
	pthread_mutex_lock(&gate.lock);
	gate.inside = true;
	pthread_cond_broadcast(&gate.cond);
	while (!gate.released) {
		int rc = gate.abandoned ? pthread_cond_wait(&gate.cond, &gate.lock)
					: pthread_cond_timedwait(&gate.cond, &gate.lock, &dl);
		if (rc == ETIMEDOUT && !gate.abandoned)
			break;  /* the test is held in destroy, waiting for us: go on */
	}
	pthread_mutex_unlock(&gate.lock);
}

static int f_post(void *ctx, uint32_t vp, uint8_t sint, uint32_t type, const void *payload,
		  uint32_t len)
{
	(void)vp;
	(void)sint;
	(void)type;
	struct fx *f = ctx;
	if (f->nmsg < 64)
		memcpy(f->msg[f->nmsg++], payload, len);
	return 0;
}

static int f_signal(void *ctx, uint32_t vp, uint8_t sint, uint16_t flag)
{
	(void)vp;
	(void)sint;
	(void)flag;
	struct fx *f = ctx;
	f->events++;
	if (gated)
		gate_hold();
	if (f->signal_hook && !gated) {
		f->signal_hook = false;
		f->signal_hook_ok = ended_on_thread(&f->ab, f->signal_hook_batch);
	}
	return 0;
}

static void *f_ram(void *ctx, gpa_t a, uint64_t len)
{
	struct fx *f = ctx;
	if (a.v >= sizeof(f->ram) || len > sizeof(f->ram) - a.v)
		return NULL;
	return f->ram + a.v;
}

static uint32_t last_type(struct fx *f)
{
	struct vmbus_msg_header h;
	memcpy(&h, f->msg[f->nmsg - 1], sizeof(h));
	return h.msgtype;
}

static void post(struct fx *f, const void *m, uint32_t len)
{
	struct iobus_access a = { .vp = 0 };
	assert_int_equal(iobus_post_message(f->bus, &a, VMBUS_CONN_ID_MESSAGE_4, VMBUS_MESSAGE_TYPE,
					    m, len), 0);
}

/* ---- the asynchronous backend ------------------------------------------------------------ */

static void ab_log(struct abe *a, char c)
{
	if (a->nlog < sizeof(a->log) - 1)
		a->log[a->nlog++] = c;
}

static int ab_move(struct abe *a, void *buf, size_t len, uint64_t off, bool write)
{
	if (off > a->size || len > a->size - off)
		return -EIO;
	if (write)
		memcpy(a->data + off, buf, len);
	else
		memcpy(buf, a->data + off, len);
	return 0;
}

static int ab_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	return ab_move(ctx, buf, len, off, false);
}

static int ab_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
	return ab_move(ctx, (void *)buf, len, off, true);
}

static int ab_flush(void *ctx)
{
	struct abe *a = ctx;
	pthread_mutex_lock(&a->lock);
	a->flushes++;
	ab_log(a, 'f');
	pthread_mutex_unlock(&a->lock);
	return 0;
}

/* The synchronous path (transfers storvsp runs in order with other commands). */
static void ab_rw_batch(void *ctx, struct scsi_disk_io *ios, size_t n)
{
	struct abe *a = ctx;
	pthread_mutex_lock(&a->lock);
	a->rw_batches++;
	ab_log(a, 'b');
	pthread_mutex_unlock(&a->lock);
	for (size_t k = 0; k < n; k++)
		ios[k].err = ab_move(a, ios[k].buf, ios[k].len, ios[k].offset, ios[k].write);
}

/*
 * End batch i: its transfers happen now (err 0) or fail with err, then its done() runs with
 * none of our locks held (scsi_disk.h). False when it was not held (ended or ending already).
 */
static bool ab_end(struct abe *a, unsigned i, int err)
{
	pthread_mutex_lock(&a->lock);
	struct ab_batch *b = &a->b[i];
	const bool mine = i < a->nb && b->state == AB_HELD;
	if (mine) {
		b->state = AB_ENDING;
		b->err = err;
		a->in_done++;
		if (err)
			a->cancelled_ios += (unsigned)b->n;
	}
	pthread_mutex_unlock(&a->lock);
	if (!mine)
		return false;
	for (size_t k = 0; k < b->n; k++)
		b->ios[k].err = err ? err
				    : ab_move(a, b->ios[k].buf, b->ios[k].len, b->ios[k].offset,
					      b->ios[k].write);
	b->done(b->arg);
	pthread_mutex_lock(&a->lock);
	b->state = AB_ENDED;
	a->ended++;
	a->in_done--;
	pthread_mutex_unlock(&a->lock);
	return true;
}

/* ab_end(i, err) on a thread of its own (the host-event thread of storvsc), joined. */
struct end_job {
	struct abe *a;
	unsigned i;
	int err;
	bool gated;                     /* hold its signal of the client (gate_hold) */
	bool ok;
};

static void *end_job_run(void *arg)
{
	struct end_job *j = arg;
	gated = j->gated;
	j->ok = ab_end(j->a, j->i, j->err);
	return NULL;
}

/* No cmocka assert: it may run inside vmbus_scsi, whose lock a failure would leave taken. */
static bool ended_on_thread(struct abe *a, unsigned i)
{
	pthread_t th;
	struct end_job j = { .a = a, .i = i };
	if (pthread_create(&th, NULL, end_job_run, &j) != 0)
		return false;
	return pthread_join(th, NULL) == 0 && j.ok;
}

static void end_on_thread(struct abe *a, unsigned i)
{
	assert_true(ended_on_thread(a, i));
}


static int ab_submit(void *ctx, struct scsi_disk_io *ios, size_t n, void (*done)(void *arg),
		     void *arg)
{
	struct abe *a = ctx;
	pthread_mutex_lock(&a->lock);
	if (a->nb == AB_MAX || n > SCSI_DISK_BATCH_MAX) {
		pthread_mutex_unlock(&a->lock);
		return -EAGAIN;
	}
	const unsigned i = a->nb++;
	struct ab_batch *b = &a->b[i];
	*b = (struct ab_batch){ .ios = ios, .n = n, .done = done, .arg = arg, .state = AB_HELD };
	for (size_t k = 0; k < n; k++)
		b->page[k] = (unsigned)(((const uint8_t *)ios[k].buf - a->ram) / 4096);
	if (a->watch_out) {
		b->out_ready = vmbus_ring_bytes_to_read(a->watch_out);
		b->in_room = vmbus_ring_write_space(a->watch_in);
	}
	a->ios += (unsigned)n;
	ab_log(a, 's');
	const bool now = a->answer_inline, hook = a->hook;
	a->hook = false;
	pthread_mutex_unlock(&a->lock);
	if (hook)
		a->hook_ok = ended_on_thread(a, a->hook_batch);
	if (now)
		ab_end(a, i, 0);    /* a host that answers inside the signal */
	return 0;
}

/* Every batch not ended yet fails with -ECANCELED; one ending on another thread is left to it. */
static void ab_cancel(void *ctx)
{
	struct abe *a = ctx;
	pthread_mutex_lock(&a->lock);
	a->cancels++;
	const unsigned nb = a->nb;
	pthread_mutex_unlock(&a->lock);
	for (unsigned i = 0; i < nb; i++)
		ab_end(a, i, -ECANCELED);
}

static const struct scsi_disk_backend_ops ab_ops = {
	.read = ab_read,
	.write = ab_write,
	.flush = ab_flush,
	.rw_batch = ab_rw_batch,
	.rw_submit = ab_submit,
	.cancel = ab_cancel,
};

static unsigned ab_held(struct abe *a)
{
	unsigned n = 0;
	pthread_mutex_lock(&a->lock);
	for (unsigned i = 0; i < a->nb; i++)
		n += a->b[i].state == AB_HELD;
	pthread_mutex_unlock(&a->lock);
	return n;
}

static unsigned ab_in_done(struct abe *a)
{
	pthread_mutex_lock(&a->lock);
	unsigned n = a->in_done;
	pthread_mutex_unlock(&a->lock);
	return n;
}

/* ---- fixture ----------------------------------------------------------------------------- */

static int setup_with(void **state, bool async)
{
	static struct fx f;
	memset(&f, 0, sizeof(f));
	assert_int_equal(iobus_create(&f.bus), 0);
	assert_int_equal(vclock_create(true, &f.clock), 0);
	f.dc = (struct devctx){ .ctx = &f, .clock = f.clock, .post_message = f_post,
				.signal_event = f_signal, .ram_ptr = f_ram };
	assert_int_equal(vmbus_vtl0_create(f.bus, &f.dc, 1, &f.vb), 0);
	struct scsi_disk_config dcfg = { 0 };
	f.async = async;
	if (async) {
		/* An image whose every block differs, so that a read shows where it came from. */
		for (uint32_t i = 0; i < DISK_SIZE; i++)
			f.disk_data[i] = (uint8_t)(i * 13u + i / 512u);
		f.ab.data = f.disk_data;
		f.ab.size = DISK_SIZE;
		f.ab.ram = f.ram;
		pthread_mutex_init(&f.ab.lock, NULL);
		dcfg.backend = (struct scsi_disk_backend){ &ab_ops, &f.ab, DISK_SIZE };
	} else {
		scsi_disk_mem_backend(&f.dm, f.disk_data, DISK_SIZE, &dcfg.backend);
	}
	assert_int_equal(scsi_disk_create(&dcfg, &f.disk), 0);
	assert_int_equal(vmbus_scsi_create(vmbus_vtl0_server(f.vb), &f.dc, f.disk, 0, &f.chan), 0);
	iobus_freeze(f.bus);
	/* Contact (5.3) and the offers. */
	struct vmbus_msg_initiate_contact ic = { .hdr.msgtype = VMBUS_MSG_INITIATE_CONTACT,
						 .version_requested = VMBUS_VERSION_WIN10_V5_3 };
	ic.msg_sint = 2;
	post(&f, &ic, VMBUS_INITIATE_CONTACT_SIZE_V1);
	assert_int_equal(last_type(&f), VMBUS_MSG_VERSION_RESPONSE);
	struct vmbus_msg_header ro = { .msgtype = VMBUS_MSG_REQUEST_OFFERS };
	post(&f, &ro, sizeof(ro));
	assert_int_equal(f.nmsg, 3);
	struct vmbus_msg_offer_channel off;
	memcpy(&off, f.msg[1], sizeof(off));
	assert_int_equal(off.hdr.msgtype, VMBUS_MSG_OFFER_CHANNEL);
	struct vmbus_guid scsi = VMBUS_GUID_SCSI;
	assert_memory_equal(&off.interface_type, &scsi, sizeof(scsi));
	f.relid = off.child_relid;
	*state = &f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, false);
}

/* A watchdog: a done() that never comes would leave vmbus_scsi_destroy waiting for good. */
#define ASYNC_TEST_SECONDS 5u

static int setup_async(void **state)
{
	alarm(ASYNC_TEST_SECONDS);
	return setup_with(state, true);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	vclock_stop(f->clock);
	vmbus_scsi_destroy(f->chan);
	vmbus_vtl0_destroy(f->vb);
	scsi_disk_destroy(f->disk);
	iobus_destroy(f->bus);
	vclock_destroy(f->clock);
	if (f->async) {
		pthread_mutex_destroy(&f->ab.lock);
		alarm(0);
	}
	return 0;
}

/*
 * GPADL `id` over `n` PFNs, then OpenChannel with the downstream ring at page n / 2: the open
 * status, or the GPADL's creation status when that failed.
 */
static uint32_t open_channel(struct fx *f, uint32_t id, const uint64_t *pfns, unsigned n)
{
	_Alignas(8) uint8_t m[240] = { 0 };
	struct vmbus_msg_gpadl_header gh = { .hdr.msgtype = VMBUS_MSG_GPADL_HEADER,
					     .child_relid = f->relid, .gpadl = id,
					     .range_buflen = (uint16_t)(8 + 8 * n), .rangecount = 1 };
	memcpy(m, &gh, sizeof(gh));
	uint32_t count = n * 4096, offset = 0;
	memcpy(m + sizeof(gh), &count, 4);
	memcpy(m + sizeof(gh) + 4, &offset, 4);
	memcpy(m + sizeof(gh) + 8, pfns, 8 * n);
	post(f, m, (uint32_t)(sizeof(gh) + 8 + 8 * n));
	struct vmbus_msg_gpadl_created gc;
	memcpy(&gc, f->msg[f->nmsg - 1], sizeof(gc));
	assert_int_equal(gc.hdr.msgtype, VMBUS_MSG_GPADL_CREATED);
	if (gc.creation_status != 0)
		return gc.creation_status; /* refused already: no open */
	struct vmbus_msg_open_channel oc = { .hdr.msgtype = VMBUS_MSG_OPEN_CHANNEL,
					     .child_relid = f->relid, .open_id = 7,
					     .ring_gpadl = id, .downstream_ring_page_offset = n / 2 };
	post(f, &oc, VMBUS_OPEN_CHANNEL_SIZE_V1);
	struct vmbus_msg_open_result r;
	memcpy(&r, f->msg[f->nmsg - 1], sizeof(r));
	assert_int_equal(r.hdr.msgtype, VMBUS_MSG_OPEN_CHANNEL_RESULT);
	return r.status;
}

static void open_ok(struct fx *f)
{
	uint64_t pfns[8];
	for (unsigned i = 0; i < 8; i++)
		pfns[i] = RING_PFN + i;
	assert_int_equal(open_channel(f, 0xE1E10, pfns, 8), 0);
	uint8_t *r = f->ram + RING_PFN * 4096;
	assert_int_equal(vmbus_ring_init(&f->c2s, VMBUS_RING_PRODUCER, r, r + 4096, 3 * 4096), 0);
	assert_int_equal(vmbus_ring_init(&f->s2c, VMBUS_RING_CONSUMER, r + 4 * 4096, r + 5 * 4096,
					 3 * 4096), 0);
}

/* The client signals the channel (HvSignalEvent on its connection id). */
static void kick(struct fx *f)
{
	struct iobus_access a = { .vp = 0 };
	assert_int_equal(iobus_signal_event(f->bus, &a, VMBUS_SERVER_CONN_ID_BASE + f->relid, 0), 0);
}

/* Queue one vstor_packet (inband, or GPA-direct over one range); returns its transaction id. */
static uint64_t queue(struct fx *f, const struct storvsp_vstor_packet *p, uint64_t pfn,
		      uint32_t bytes)
{
	uint64_t tid = ++f->tid;
	struct vmbus_ring_piece piece = { p, sizeof(*p) };
	_Alignas(8) uint8_t ext[8 + 8 + 8];
	struct vmbus_pkt_gpa_direct_hdr h = { .range_count = 1 };
	uint32_t off = 0;
	memcpy(ext, &h, 8);
	memcpy(ext + 8, &bytes, 4);
	memcpy(ext + 12, &off, 4);
	memcpy(ext + 16, &pfn, 8);
	struct vmbus_ring_out o = {
		.type = bytes ? VMBUS_PKT_DATA_GPA_DIRECT : VMBUS_PKT_DATA_INBAND,
		.flags = VMBUS_PKT_FLAG_COMPLETION_REQUESTED,
		.transaction_id = tid,
		.ext = bytes ? ext : NULL,
		.ext_len = bytes ? sizeof(ext) : 0,
		.pieces = &piece,
		.piece_count = 1,
	};
	assert_true(vmbus_ring_send(&f->c2s, &o, 0) >= 0);
	return tid;
}

/* The next completion: its transaction id must be `tid`; the vstor_packet in *out. */
static void completion(struct fx *f, uint64_t tid, struct storvsp_vstor_packet *out)
{
	struct vmbus_ring_packet p;
	assert_int_equal(vmbus_ring_peek(&f->s2c, &p), 0);
	assert_int_equal(p.desc.type, VMBUS_PKT_COMPLETION);
	assert_int_equal(p.desc.transaction_id, tid);
	memset(out, 0, sizeof(*out));
	assert_true(vmbus_ring_packet_payload(&f->s2c, &p, out, sizeof(*out)) >= 48);
	assert_int_equal(out->operation, STORVSP_OP_COMPLETE_IO);
	if (vmbus_ring_consume(&f->s2c) == VMBUS_RING_SIGNAL)
		kick(f); /* the server asked for room (pending_send_sz) */
}

static void op(struct fx *f, uint32_t operation, uint16_t version)
{
	struct storvsp_vstor_packet p = { .operation = operation,
					  .flags = STORVSP_FLAG_REQUEST_COMPLETION };
	p.u.version.major_minor = version;
	uint64_t tid = queue(f, &p, 0, 0);
	kick(f);
	struct storvsp_vstor_packet r;
	completion(f, tid, &r);
	assert_int_equal(r.status, 0);
}

static void init_storvsp(struct fx *f)
{
	op(f, STORVSP_OP_BEGIN_INITIALIZATION, 0);
	op(f, STORVSP_OP_QUERY_PROTOCOL_VERSION, STORVSP_VERSION_WIN10);
	op(f, STORVSP_OP_QUERY_PROPERTIES, 0);
	op(f, STORVSP_OP_END_INITIALIZATION, 0);
}

static struct storvsp_vstor_packet srb(uint8_t cdb0, uint32_t lba, uint16_t blocks, int data_in,
				       uint32_t bytes)
{
	struct storvsp_vstor_packet p = { .operation = STORVSP_OP_EXECUTE_SRB,
					  .flags = STORVSP_FLAG_REQUEST_COMPLETION };
	p.u.srb.length = sizeof(p.u.srb);
	p.u.srb.cdb_length = cdb0 ? 10 : 6;
	p.u.srb.data_in = (uint8_t)data_in;
	p.u.srb.data_transfer_length = bytes;
	p.u.srb.sense_info_length = 20;
	p.u.srb.cdb[0] = cdb0;
	p.u.srb.cdb[2] = (uint8_t)(lba >> 24);
	p.u.srb.cdb[3] = (uint8_t)(lba >> 16);
	p.u.srb.cdb[4] = (uint8_t)(lba >> 8);
	p.u.srb.cdb[5] = (uint8_t)lba;
	p.u.srb.cdb[7] = (uint8_t)(blocks >> 8);
	p.u.srb.cdb[8] = (uint8_t)blocks;
	return p;
}

static void test_write_then_read_through_the_rings(void **state)
{
	struct fx *f = *state;
	open_ok(f);
	init_storvsp(f);
	unsigned ev0 = f->events;
	for (unsigned i = 0; i < 4096; i++)
		f->ram[100 * 4096 + i] = (uint8_t)(i * 7 + 3);
	struct storvsp_vstor_packet w = srb(0x2A, 16, 8, 0, 4096), r;
	uint64_t t = queue(f, &w, 100, 4096);
	kick(f);
	completion(f, t, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.u.srb.srb_status, STORVSP_SRB_SUCCESS);
	assert_memory_equal(f->disk_data + 16 * 512, f->ram + 100 * 4096, 4096);
	struct storvsp_vstor_packet rd = srb(0x28, 16, 8, 1, 4096);
	t = queue(f, &rd, 101, 4096);
	kick(f);
	completion(f, t, &r);
	assert_int_equal(r.u.srb.data_transfer_length, 4096);
	assert_memory_equal(f->ram + 101 * 4096, f->ram + 100 * 4096, 4096);
	assert_true(f->events > ev0); /* each completion into an empty ring signalled the client */
	struct vmbus_scsi_stats st;
	vmbus_scsi_get_stats(f->chan, &st);
	assert_int_equal(st.packets, 6);
	assert_int_equal(st.completions, 6);
	assert_int_equal(st.broken, 0);
}

/* More requests than one batch in the ring at one signal: all run, completions in order. */
static void test_many_requests_one_signal(void **state)
{
	struct fx *f = *state;
	open_ok(f);
	init_storvsp(f);
	enum { N = 40 };
	uint64_t t[N];
	for (unsigned i = 0; i < N; i++) {
		struct storvsp_vstor_packet rd = i % 5 == 4 ? srb(0x2A, 1000 + 8 * i, 8, 0, 4096)
							   : srb(0x28, 8 * i, 8, 1, 4096);
		memset(f->ram + (100 + i) * 4096, i % 5 == 4 ? 0x30 + i : 0xEE, 4096);
		t[i] = queue(f, &rd, 100 + i, 4096);
	}
	kick(f);
	for (unsigned i = 0; i < N; i++) {
		struct storvsp_vstor_packet r;
		completion(f, t[i], &r);
		assert_int_equal(r.u.srb.srb_status, STORVSP_SRB_SUCCESS);
		assert_int_equal(r.u.srb.data_transfer_length, 4096);
		if (i % 5 == 4)
			assert_memory_equal(f->disk_data + (1000 + 8 * i) * 512,
					    f->ram + (100 + i) * 4096, 4096);
		else
			assert_memory_equal(f->ram + (100 + i) * 4096, f->disk_data + 8 * i * 512,
					    4096);
	}
	struct vmbus_scsi_stats st;
	vmbus_scsi_get_stats(f->chan, &st);
	assert_int_equal(st.packets, N + 4);
	assert_int_equal(st.completions, N + 4);
	assert_int_equal(st.bad_packets, 0);
}

static void test_full_completion_ring_keeps_the_answer(void **state)
{
	struct fx *f = *state;
	open_ok(f);
	init_storvsp(f);
	/* Completions (16 + 64 + 8 bytes) fill the 12 KiB server-to-client ring after 139. */
	struct storvsp_vstor_packet tur = srb(0, 0, 0, 2, 0), r;
	uint64_t first = f->tid + 1;
	for (unsigned batch = 0; batch < 3; batch++) {
		for (unsigned i = 0; i < 60; i++)
			queue(f, &tur, 0, 0);
		kick(f);
	}
	struct vmbus_scsi_stats st;
	vmbus_scsi_get_stats(f->chan, &st);
	assert_true(st.ring_full >= 1);
	assert_true(st.packets < 180 + 4);
	/* Drain in order; each drain makes room and (pending_send_sz) wakes the server. */
	for (uint64_t t = first; t < first + 180; t++) {
		completion(f, t, &r);
		assert_int_equal(r.u.srb.srb_status, STORVSP_SRB_SUCCESS);
	}
	struct vmbus_ring_packet p;
	assert_int_equal(vmbus_ring_peek(&f->s2c, &p), -EAGAIN);
	vmbus_scsi_get_stats(f->chan, &st);
	assert_int_equal(st.packets, 180 + 4); /* each request ran exactly once */
	assert_int_equal(st.completions, 180 + 4);
}

static void test_scattered_ring_pages_are_refused(void **state)
{
	struct fx *f = *state;
	uint64_t pfns[8] = { 40, 42, 44, 46, 48, 50, 52, 54 };
	assert_int_not_equal(open_channel(f, 0xE1E11, pfns, 8), 0);
	/* Pages outside VTL0 RAM: refused when the GPADL is described. */
	uint64_t far[8] = { 16, 17, 18, 19, 1u << 20, (1u << 20) + 1, (1u << 20) + 2, (1u << 20) + 3 };
	assert_int_not_equal(open_channel(f, 0xE1E12, far, 8), 0);
}

static void test_broken_ring_stops_the_channel(void **state)
{
	struct fx *f = *state;
	open_ok(f);
	init_storvsp(f);
	/* The client publishes a write index that is not a multiple of 8. */
	struct vmbus_ring_control *ctl = (void *)(f->ram + RING_PFN * 4096);
	uint32_t w = ctl->write_index;
	ctl->write_index = w + 4;
	kick(f);
	struct vmbus_scsi_stats st;
	vmbus_scsi_get_stats(f->chan, &st);
	assert_int_equal(st.broken, 1);
	uint64_t s2c_w = ((struct vmbus_ring_control *)(f->ram + (RING_PFN + 4) * 4096))->write_index;
	ctl->write_index = w;
	kick(f); /* stopped: nothing read, nothing written */
	assert_int_equal(((struct vmbus_ring_control *)(f->ram + (RING_PFN + 4) * 4096))->write_index,
			 s2c_w);
	vmbus_scsi_get_stats(f->chan, &st);
	assert_int_equal(st.packets, 4);
	/* Close and reopen: a fresh start (storvsp wants its init again). */
	struct vmbus_msg_relid cc = { .hdr.msgtype = VMBUS_MSG_CLOSE_CHANNEL, .child_relid = f->relid };
	post(f, &cc, sizeof(cc));
	memset(f->ram + RING_PFN * 4096, 0, 8 * 4096);
	struct vmbus_msg_open_channel oc = { .hdr.msgtype = VMBUS_MSG_OPEN_CHANNEL,
					     .child_relid = f->relid, .open_id = 8,
					     .ring_gpadl = 0xE1E10, .downstream_ring_page_offset = 4 };
	post(f, &oc, VMBUS_OPEN_CHANNEL_SIZE_V1);
	struct vmbus_msg_open_result r;
	memcpy(&r, f->msg[f->nmsg - 1], sizeof(r));
	assert_int_equal(r.status, 0);
	uint8_t *rp = f->ram + RING_PFN * 4096;
	assert_int_equal(vmbus_ring_init(&f->c2s, VMBUS_RING_PRODUCER, rp, rp + 4096, 3 * 4096), 0);
	assert_int_equal(vmbus_ring_init(&f->s2c, VMBUS_RING_CONSUMER, rp + 4 * 4096, rp + 5 * 4096,
					 3 * 4096), 0);
	init_storvsp(f);
}

/* ---- asynchronous disk ------------------------------------------------------------------- */

#define MAX_IN_FLIGHT 16u   /* vmbus_scsi.h: up to 16 batches in flight, then draining pauses */
#define DRAIN_MAX 16u       /* vmbus_scsi.h: batches of up to 16 packets */
#define RQ_PAGE 100u        /* request i of queue_rw uses guest page RQ_PAGE + i */

/* Request i: every fifth a WRITE of page RQ_PAGE + i to LBA 1000 + 8i, else a READ of LBA 8i
   into it (filled with 0xEE first, which the image never holds 4 KiB of). */
static bool rq_write(unsigned i)
{
	return i % 5 == 4;
}

static uint64_t queue_rw(struct fx *f, unsigned i)
{
	struct storvsp_vstor_packet p = rq_write(i) ? srb(0x2A, 1000 + 8 * i, 8, 0, 4096)
						    : srb(0x28, 8 * i, 8, 1, 4096);
	memset(f->ram + (RQ_PAGE + i) * 4096, rq_write(i) ? (int)(0x30 + i) : 0xEE, 4096);
	return queue(f, &p, RQ_PAGE + i, 4096);
}

/* Request i's completion: GOOD, the whole transfer, the data where it belongs. */
static void check_rw(struct fx *f, unsigned i, const struct storvsp_vstor_packet *r)
{
	assert_int_equal(r->status, 0);
	assert_int_equal(r->u.srb.srb_status, STORVSP_SRB_SUCCESS);
	assert_int_equal(r->u.srb.scsi_status, 0);
	assert_int_equal(r->u.srb.data_transfer_length, 4096);
	const uint8_t *page = f->ram + (RQ_PAGE + i) * 4096;
	if (rq_write(i))
		assert_memory_equal(f->disk_data + (1000 + 8 * i) * 512, page, 4096);
	else
		assert_memory_equal(page, f->disk_data + 8 * i * 512, 4096);
}

/* Every completion on the ring now (at most cap): ids and packets; their count. */
static unsigned take_all(struct fx *f, uint64_t *tids, struct storvsp_vstor_packet *rs,
			 unsigned cap)
{
	unsigned n = 0;
	struct vmbus_ring_packet p;
	int rc;
	while ((rc = vmbus_ring_peek(&f->s2c, &p)) == 0) {
		assert_true(n < cap);
		assert_int_equal(p.desc.type, VMBUS_PKT_COMPLETION);
		tids[n] = p.desc.transaction_id;
		memset(&rs[n], 0, sizeof(rs[n]));
		assert_true(vmbus_ring_packet_payload(&f->s2c, &p, &rs[n], sizeof(rs[n])) >= 48);
		assert_int_equal(rs[n].operation, STORVSP_OP_COMPLETE_IO);
		n++;
		if (vmbus_ring_consume(&f->s2c) == VMBUS_RING_SIGNAL)
			kick(f);
	}
	assert_int_equal(rc, -EAGAIN);
	return n;
}

static void expect_no_completion(struct fx *f)
{
	struct vmbus_ring_packet p;
	assert_int_equal(vmbus_ring_peek(&f->s2c, &p), -EAGAIN);
}

/*
 * Backend batch bi has just ended: the ring holds exactly its requests' completions (t[] by
 * request index, nreq of them), each for the first time (seen[]), with their data in place.
 */
static void expect_batch(struct fx *f, unsigned bi, const uint64_t *t, bool *seen, unsigned nreq)
{
	const struct ab_batch *b = &f->ab.b[bi];
	uint64_t tids[2 * DRAIN_MAX];
	struct storvsp_vstor_packet rs[2 * DRAIN_MAX];
	unsigned n = take_all(f, tids, rs, 2 * DRAIN_MAX);
	assert_int_equal(n, b->n);
	for (unsigned k = 0; k < n; k++) {
		unsigned i = 0;
		while (i < nreq && t[i] != tids[k])
			i++;
		assert_true(i < nreq);          /* an id the client used */
		assert_false(seen[i]);          /* once */
		seen[i] = true;
		bool in_batch = false;
		for (size_t j = 0; j < b->n; j++)
			in_batch |= b->page[j] == RQ_PAGE + i;
		assert_true(in_batch);          /* answered by this batch's end, not another's */
		check_rw(f, i, &rs[k]);
	}
}

static void expect_stats(struct fx *f, uint64_t packets, uint64_t completions)
{
	struct vmbus_scsi_stats st;
	vmbus_scsi_get_stats(f->chan, &st);
	assert_int_equal(st.packets, packets);
	assert_int_equal(st.completions, completions);
	assert_int_equal(st.bad_packets, 0);
	assert_int_equal(st.broken, 0);
}

/*
 * 40 READ/WRITEs at one signal over a disk that answers later: nothing is answered when the
 * signal returns; the backend holds them in batches; ending those out of order (the last
 * first, one on another thread) sends each completion once, and signals the client.
 */
static void test_async_completions_later(void **state)
{
	struct fx *f = *state;
	struct abe *a = &f->ab;
	open_ok(f);
	init_storvsp(f);
	enum { N = 40 };
	uint64_t t[N];
	bool seen[N] = { false };
	for (unsigned i = 0; i < N; i++)
		t[i] = queue_rw(f, i);
	kick(f);
	expect_no_completion(f);
	const unsigned nb = a->nb;
	assert_true(nb >= (N + DRAIN_MAX - 1) / DRAIN_MAX);
	assert_int_equal(a->ios, N);
	for (unsigned bi = 0; bi < nb; bi++)
		assert_true(a->b[bi].n >= 1 && a->b[bi].n <= DRAIN_MAX);
	assert_int_equal(a->rw_batches, 0); /* none went the synchronous way */
	assert_int_equal(ab_held(a), nb);
	for (unsigned i = 0; i < N; i++)    /* nothing read yet: the host has not answered */
		if (!rq_write(i))
			assert_int_equal(f->ram[(RQ_PAGE + i) * 4096], 0xEE);
	expect_stats(f, N + 4, 4);

	unsigned ev = f->events;
	assert_true(ab_end(a, nb - 1, 0));  /* the last first, on this thread */
	assert_true(f->events > ev);
	expect_batch(f, nb - 1, t, seen, N);
	ev = f->events;
	end_on_thread(a, 0);                /* the first on another thread */
	assert_true(f->events > ev);
	expect_batch(f, 0, t, seen, N);
	for (unsigned bi = nb - 1; bi-- > 1;) {
		ev = f->events;
		assert_true(ab_end(a, bi, 0));
		assert_true(f->events > ev);
		expect_batch(f, bi, t, seen, N);
	}
	for (unsigned i = 0; i < N; i++)
		assert_true(seen[i]);
	expect_no_completion(f);
	assert_int_equal(a->ended, nb);
	expect_stats(f, N + 4, N + 4);
}

/*
 * MAX_IN_FLIGHT batches of one request each (a signal after each), then more requests: they
 * wait in the ring whatever the client signals; one batch ending (no signal) takes them, the
 * oldest first, and in the end every request is answered once.
 */
static void test_async_starved_resumes(void **state)
{
	struct fx *f = *state;
	struct abe *a = &f->ab;
	open_ok(f);
	init_storvsp(f);
	enum { N = 36 };
	uint64_t t[N];
	bool seen[N] = { false };
	for (unsigned i = 0; i < MAX_IN_FLIGHT; i++) {
		t[i] = queue_rw(f, i);
		kick(f);
		assert_int_equal(a->nb, i + 1);
		assert_int_equal(a->b[i].n, 1);
	}
	for (unsigned i = MAX_IN_FLIGHT; i < N; i++) {
		t[i] = queue_rw(f, i);
		kick(f);                        /* signals while paused take nothing */
	}
	assert_int_equal(a->nb, MAX_IN_FLIGHT);
	assert_int_equal(a->ios, MAX_IN_FLIGHT);
	expect_no_completion(f);
	expect_stats(f, MAX_IN_FLIGHT + 4, 4);

	unsigned ev = f->events;
	assert_true(ab_end(a, 0, 0));       /* from this thread, no signal with it */
	assert_true(f->events > ev);
	expect_batch(f, 0, t, seen, N);
	assert_true(a->nb > MAX_IN_FLIGHT);  /* draining resumed by itself */
	assert_int_equal(a->b[MAX_IN_FLIGHT].page[0], RQ_PAGE + MAX_IN_FLIGHT);
	assert_true(ab_held(a) <= MAX_IN_FLIGHT);

	/* The oldest held batch ends, again and again, until every request is answered. */
	for (unsigned round = 0; round < 4 * N && ab_held(a); round++) {
		unsigned bi = 0;
		while (a->b[bi].state != AB_HELD)
			bi++;
		assert_true(ab_end(a, bi, 0));
		expect_batch(f, bi, t, seen, N);
		assert_true(ab_held(a) <= MAX_IN_FLIGHT);
	}
	assert_int_equal(ab_held(a), 0);
	assert_int_equal(a->ios, N);
	for (unsigned i = 0; i < N; i++)
		assert_true(seen[i]);
	expect_no_completion(f);
	expect_stats(f, N + 4, N + 4);
}

static void close_channel(struct fx *f)
{
	struct vmbus_msg_relid cc = { .hdr.msgtype = VMBUS_MSG_CLOSE_CHANNEL, .child_relid = f->relid };
	post(f, &cc, sizeof(cc));
}

/* Open again over the same GPADL with fresh rings (as test_broken_ring_stops_the_channel). */
static void reopen(struct fx *f)
{
	memset(f->ram + RING_PFN * 4096, 0, 8 * 4096);
	struct vmbus_msg_open_channel oc = { .hdr.msgtype = VMBUS_MSG_OPEN_CHANNEL,
					     .child_relid = f->relid, .open_id = 8,
					     .ring_gpadl = 0xE1E10, .downstream_ring_page_offset = 4 };
	post(f, &oc, VMBUS_OPEN_CHANNEL_SIZE_V1);
	struct vmbus_msg_open_result r;
	memcpy(&r, f->msg[f->nmsg - 1], sizeof(r));
	assert_int_equal(r.hdr.msgtype, VMBUS_MSG_OPEN_CHANNEL_RESULT);
	assert_int_equal(r.status, 0);
	uint8_t *rp = f->ram + RING_PFN * 4096;
	assert_int_equal(vmbus_ring_init(&f->c2s, VMBUS_RING_PRODUCER, rp, rp + 4096, 3 * 4096), 0);
	assert_int_equal(vmbus_ring_init(&f->s2c, VMBUS_RING_CONSUMER, rp + 4 * 4096, rp + 5 * 4096,
					 3 * 4096), 0);
}

/*
 * Batches in flight when the client closes and reopens: their late answers (one while closed,
 * the others after the reopen, one on another thread) send nothing on the new rings; the new
 * open works, asynchronously too.
 */
static void test_async_reopen_drops_old(void **state)
{
	struct fx *f = *state;
	struct abe *a = &f->ab;
	open_ok(f);
	init_storvsp(f);
	enum { N = 20 };
	uint64_t t[N + 1];
	bool seen[N + 1] = { false };
	for (unsigned i = 0; i < N; i++)
		t[i] = queue_rw(f, i);
	kick(f);
	const unsigned nb = a->nb;
	assert_true(nb >= 2);
	close_channel(f);
	assert_true(ab_end(a, 0, 0));       /* while closed */
	reopen(f);
	/* The init answers are checked by id: a stray old completion would come first. */
	init_storvsp(f);
	struct vmbus_scsi_stats st0;
	vmbus_scsi_get_stats(f->chan, &st0);
	assert_int_equal(st0.completions, 8);
	end_on_thread(a, 1);
	for (unsigned bi = 2; bi < nb; bi++)
		assert_true(ab_end(a, bi, 0));
	expect_no_completion(f);
	expect_stats(f, N + 8, 8);

	t[N] = queue_rw(f, N);
	kick(f);
	assert_int_equal(a->nb, nb + 1);
	expect_no_completion(f);
	unsigned ev = f->events;
	assert_true(ab_end(a, nb, 0));
	assert_true(f->events > ev);
	expect_batch(f, nb, t, seen, N + 1);
	assert_true(seen[N]);
	expect_no_completion(f);
	expect_stats(f, N + 9, 9);
}

/*
 * vmbus_scsi_destroy with batches in flight: the backend's cancel ends each one still held,
 * once, with -ECANCELED, and every done() has returned when destroy does (ASan: no leak, no
 * use after free). One batch that ended before is left alone.
 */
static void test_async_destroy_cancels(void **state)
{
	struct fx *f = *state;
	struct abe *a = &f->ab;
	open_ok(f);
	init_storvsp(f);
	enum { N = 40 };
	uint64_t t[N];
	bool seen[N] = { false };
	for (unsigned i = 0; i < N; i++)
		t[i] = queue_rw(f, i);
	kick(f);
	const unsigned nb = a->nb;
	assert_true(nb >= 3);
	assert_true(ab_end(a, 0, 0));
	expect_batch(f, 0, t, seen, N);
	const unsigned held_ios = a->ios - (unsigned)a->b[0].n;
	vmbus_scsi_destroy(f->chan);
	f->chan = NULL;
	assert_true(a->cancels >= 1);
	assert_int_equal(a->ended, nb);
	assert_int_equal(ab_in_done(a), 0);
	assert_int_equal(a->cancelled_ios, held_ios);
	assert_int_equal(a->b[0].err, 0);
	for (unsigned bi = 1; bi < nb; bi++) {
		assert_int_equal(a->b[bi].state, AB_ENDED);
		assert_int_equal(a->b[bi].err, -ECANCELED);
	}
}

/*
 * A batch that ends on another thread while the signalling thread holds the channel (inside
 * the next batch's rw_submit): its done() returns at once, leaving the batch to the lock
 * holder, which sends its completions before the signal returns.
 */
static void test_async_done_while_locked(void **state)
{
	struct fx *f = *state;
	struct abe *a = &f->ab;
	open_ok(f);
	init_storvsp(f);
	enum { N = 20, FIRST = 10 };
	uint64_t t[N];
	bool seen[N] = { false };
	for (unsigned i = 0; i < FIRST; i++)
		t[i] = queue_rw(f, i);
	kick(f);
	assert_int_equal(a->nb, 1);
	expect_no_completion(f);
	a->hook = true;
	a->hook_batch = 0;
	for (unsigned i = FIRST; i < N; i++)
		t[i] = queue_rw(f, i);
	kick(f);
	assert_true(a->hook_ok);            /* its done() returned while the lock was taken */
	assert_int_equal(a->nb, 2);
	assert_int_equal(a->ended, 1);
	expect_batch(f, 0, t, seen, N);     /* sent by the lock holder */
	expect_stats(f, N + 4, FIRST + 4);
	assert_true(ab_end(a, 1, 0));
	expect_batch(f, 1, t, seen, N);
	for (unsigned i = 0; i < N; i++)
		assert_true(seen[i]);
	expect_stats(f, N + 4, N + 4);
}

/*
 * A batch that ends after the lock holder's last look at the ended ones: every batch but one
 * in flight, then an INQUIRY and more requests than one batch takes. The batch of the INQUIRY
 * and 15 READ/WRITEs fills the last place; its INQUIRY answer is published with a signal
 * under the lock, and there batch 0 ends on another thread. vmbus_scsi must look again once
 * it lets go: batch 0's completion is out when the signal returns, and draining resumed.
 */
static void test_async_done_after_last_reap(void **state)
{
	struct fx *f = *state;
	struct abe *a = &f->ab;
	open_ok(f);
	init_storvsp(f);
	enum { N = MAX_IN_FLIGHT + DRAIN_MAX };
	uint64_t t[N];
	bool seen[N] = { false };
	for (unsigned i = 0; i < MAX_IN_FLIGHT - 1; i++) {
		t[i] = queue_rw(f, i);
		kick(f);
	}
	assert_int_equal(a->nb, MAX_IN_FLIGHT - 1);
	struct storvsp_vstor_packet inq = srb(0x12, 0, 0, 1, 96);
	inq.u.srb.cdb[4] = 96;
	uint64_t t_inq = queue(f, &inq, 150, 96);
	for (unsigned i = MAX_IN_FLIGHT - 1; i < N; i++)
		t[i] = queue_rw(f, i);
	f->signal_hook = true;
	f->signal_hook_batch = 0;
	kick(f);
	assert_false(f->signal_hook);       /* the hook ran */
	assert_true(f->signal_hook_ok);
	uint64_t tids[4];
	struct storvsp_vstor_packet rs[4];
	assert_int_equal(take_all(f, tids, rs, 4), 2);
	assert_int_equal(tids[0], t_inq);
	assert_int_equal(rs[0].u.srb.srb_status, STORVSP_SRB_SUCCESS);
	assert_int_equal(tids[1], t[0]);    /* batch 0's, not left on the list */
	check_rw(f, 0, &rs[1]);
	seen[0] = true;
	/* Its end made room: the last request was taken without a signal. */
	assert_int_equal(a->ios, N);
	assert_true(ab_held(a) <= MAX_IN_FLIGHT);
	for (unsigned round = 0; round < 4 * N && ab_held(a); round++) {
		unsigned bi = 0;
		while (a->b[bi].state != AB_HELD)
			bi++;
		assert_true(ab_end(a, bi, 0));
		expect_batch(f, bi, t, seen, N);
	}
	for (unsigned i = 0; i < N; i++)
		assert_true(seen[i]);
	expect_stats(f, N + 1 + 4, N + 1 + 4);
}

/*
 * A host that answers inside rw_submit: every completion is out when the signal returns, and
 * each batch's are published (its requests' room given back) before the next batch is taken.
 */
static void test_async_done_inside_submit(void **state)
{
	struct fx *f = *state;
	struct abe *a = &f->ab;
	a->answer_inline = true;
	open_ok(f);
	init_storvsp(f);
	a->watch_out = &f->s2c;
	a->watch_in = &f->c2s;
	enum { N = 20 };
	uint64_t t[N];
	bool seen[N] = { false };
	for (unsigned i = 0; i < N; i++)
		t[i] = queue_rw(f, i);
	unsigned ev = f->events;
	kick(f);
	assert_true(a->nb >= 2);
	assert_int_equal(a->ios, N);
	assert_int_equal(a->ended, a->nb);
	assert_int_equal(a->rw_batches, 0);
	assert_true(f->events > ev);
	const int32_t per = (int32_t)vmbus_ring_packet_size(0, STORVSP_PACKET_SIZE);
	size_t before = 0;
	for (unsigned bi = 0; bi < a->nb; bi++) {
		assert_int_equal(a->b[bi].out_ready, (int32_t)before * per);
		if (bi)
			assert_true(a->b[bi].in_room > a->b[bi - 1].in_room);
		before += a->b[bi].n;
	}
	uint64_t tids[N + 1];
	struct storvsp_vstor_packet rs[N + 1];
	assert_int_equal(take_all(f, tids, rs, N + 1), N);
	for (unsigned k = 0; k < N; k++) {
		unsigned i = 0;
		while (i < N && t[i] != tids[k])
			i++;
		assert_true(i < N);
		assert_false(seen[i]);
		seen[i] = true;
		check_rw(f, i, &rs[k]);
	}
	expect_stats(f, N + 4, N + 4);
}

/*
 * One batch: WRITE, READ, INQUIRY, READ, SYNCHRONIZE CACHE, READ, WRITE (in place where they
 * move data). storvsp runs what comes before each non-RW command first, in order (rw_batch,
 * answered at once), and only the last run of in-place READ/WRITEs goes to rw_submit: those
 * are answered at done().
 */
static void test_async_mixed_with_sync(void **state)
{
	struct fx *f = *state;
	struct abe *a = &f->ab;
	open_ok(f);
	init_storvsp(f);
	/* Request indices (pages RQ_PAGE + i): 4 and 9 write (rq_write), 1, 3, 5 read. */
	uint64_t t[10];
	bool seen[10] = { false };
	t[4] = queue_rw(f, 4);
	t[1] = queue_rw(f, 1);
	struct storvsp_vstor_packet inq = srb(0x12, 0, 0, 1, 96);
	inq.u.srb.cdb[4] = 96;              /* allocation length */
	memset(f->ram + 150 * 4096, 0xEE, 4096);
	uint64_t t_inq = queue(f, &inq, 150, 96);
	t[3] = queue_rw(f, 3);
	struct storvsp_vstor_packet sync = srb(0x35, 0, 0, 2, 0);
	uint64_t t_sync = queue(f, &sync, 0, 0);
	t[5] = queue_rw(f, 5);
	t[9] = queue_rw(f, 9);
	kick(f);

	/* Answered at once, in order: the first two RW, INQUIRY, the third RW, the flush. */
	uint64_t tids[8];
	struct storvsp_vstor_packet rs[8];
	assert_int_equal(take_all(f, tids, rs, 8), 5);
	assert_int_equal(tids[0], t[4]);
	check_rw(f, 4, &rs[0]);
	assert_int_equal(tids[1], t[1]);
	check_rw(f, 1, &rs[1]);
	assert_int_equal(tids[2], t_inq);
	assert_int_equal(rs[2].u.srb.srb_status, STORVSP_SRB_SUCCESS);
	assert_true(rs[2].u.srb.data_transfer_length >= 36 && rs[2].u.srb.data_transfer_length <= 96);
	assert_int_equal(f->ram[150 * 4096], 0x00); /* peripheral device type 0: a disk */
	assert_int_equal(tids[3], t[3]);
	check_rw(f, 3, &rs[3]);
	assert_int_equal(tids[4], t_sync);
	assert_int_equal(rs[4].u.srb.srb_status, STORVSP_SRB_SUCCESS);
	/* The flush came after the writes before it, the submit last. */
	assert_string_equal(a->log, "bbfs");
	assert_int_equal(a->nb, 1);
	assert_int_equal(a->b[0].n, 2);
	assert_int_equal(f->ram[(RQ_PAGE + 5) * 4096], 0xEE); /* not read yet */
	expect_stats(f, 7 + 4, 5 + 4);

	assert_true(ab_end(a, 0, 0));
	expect_batch(f, 0, t, seen, 10);
	assert_true(seen[5] && seen[9]);
	expect_stats(f, 7 + 4, 7 + 4);
}

/*
 * vmbus_scsi_destroy while a done() runs on another thread: the done() found the channel
 * free, sent its completion, let go of the lock and signals the client (held there by the
 * gate). destroy must not come back (and free the channel) before that done() is out of
 * vmbus_scsi: scsi_disk.h's cancel contract lets a done() already running on another thread
 * finish after cancel returns, and vmbus_scsi.h promises nothing calls back afterwards.
 */
static void test_async_destroy_while_done_runs(void **state)
{
	struct fx *f = *state;
	struct abe *a = &f->ab;
	open_ok(f);
	init_storvsp(f);
	queue_rw(f, 0);
	kick(f);
	assert_int_equal(a->nb, 1);
	pthread_mutex_lock(&gate.lock);
	gate.inside = gate.released = gate.abandoned = false;
	pthread_mutex_unlock(&gate.lock);
	pthread_t th;
	static struct end_job j;            /* static: an abandoned thread keeps using it */
	j = (struct end_job){ .a = a, .i = 0, .gated = true };
	assert_int_equal(pthread_create(&th, NULL, end_job_run, &j), 0);
	struct timespec dl;
	deadline_in(&dl, 2000);
	pthread_mutex_lock(&gate.lock);
	while (!gate.inside && pthread_cond_timedwait(&gate.cond, &gate.lock, &dl) != ETIMEDOUT)
		;
	bool inside = gate.inside;
	pthread_mutex_unlock(&gate.lock);
	if (!inside)
		pthread_detach(th);
	assert_true(inside);                /* the done() signalled the client (its completion) */

	vmbus_scsi_destroy(f->chan);
	f->chan = NULL;
	const unsigned running = ab_in_done(a);
	pthread_mutex_lock(&gate.lock);
	if (running)
		gate.abandoned = true;      /* it would go on in freed memory: leave it there */
	else
		gate.released = true;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
	if (running) {
		pthread_detach(th);
		fail_msg("vmbus_scsi_destroy returned while %u done() call(s) still ran inside "
			 "vmbus_scsi (batch_ended/unlock_and_signal touch the channel after its unlock)",
			 running);
	}
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_true(j.ok);
	assert_int_equal(a->ended, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_then_read_through_the_rings, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_many_requests_one_signal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_completion_ring_keeps_the_answer, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_scattered_ring_pages_are_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_broken_ring_stops_the_channel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_completions_later, setup_async, teardown),
		cmocka_unit_test_setup_teardown(test_async_starved_resumes, setup_async, teardown),
		cmocka_unit_test_setup_teardown(test_async_reopen_drops_old, setup_async, teardown),
		cmocka_unit_test_setup_teardown(test_async_destroy_cancels, setup_async, teardown),
		cmocka_unit_test_setup_teardown(test_async_done_inside_submit, setup_async, teardown),
		cmocka_unit_test_setup_teardown(test_async_done_while_locked, setup_async, teardown),
		cmocka_unit_test_setup_teardown(test_async_done_after_last_reap, setup_async,
						teardown),
		cmocka_unit_test_setup_teardown(test_async_mixed_with_sync, setup_async, teardown),
		cmocka_unit_test_setup_teardown(test_async_destroy_while_done_runs, setup_async,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
