/*
 * storvsp fuzz target: the input is a sequence of VMBus packets (type, vstor_packet payload,
 * GPA ranges) fed to one storvsp instance over a 1 MiB memory disk and a 64 KiB fake guest
 * memory. Checks, with abort(): the completion framing (length, transaction id, COMPLETE_IO,
 * known NTSTATUS), legal init-state transitions, SRB reply consistency (data length never
 * grows, srb_status/scsi_status/sense agree), that guest memory is touched only inside the
 * pages the packet named, one page piece at a time, never more than byte_count bytes, and that
 * the disk only gets in-bounds requests and never a write when read-only.
 *
 * Batch mode (flags bit 2): up to 32 packets go through storvsp_handle_batch on one instance
 * (guest memory mappable, a disk backend with rw_batch, run in order) and one by one through
 * storvsp_handle on another (same guest memory and disk contents, no rw_batch): the results,
 * replies, guest memory, disk, state and statistics must be equal.
 *
 * Async (flags bits 2 and 3): the batched side goes through storvsp_handle_batch_async with a
 * backend that holds what rw_submit gives it and answers it (in order) after the call
 * returned, then storvsp_finish; with bit 4 rw_submit refuses and the batch runs at once.
 * Same checks.
 *
 * Input: byte 0 flags (bit 0: run the init sequence first, bit 1: read-only disk, bit 2: batch
 * mode, bit 3: async, bit 4: rw_submit refuses), then per
 * packet: mode byte (bits 1:0: 0 inband, 1 GPA direct with ranges from the input, 2 GPA direct
 * with one range sized from the SRB, 3 a raw packet type from the next byte), payload length
 * byte (0..80), payload bytes, then the ranges: mode 1: count byte (0..3), each {u32 count, u16
 * offset, pfn-count byte (0..20), pfn bytes}; mode 2: u16 offset, pfn bytes as needed. A pfn
 * byte b names guest pfn base + (b & 31) (16..31 are outside guest memory), 0xFF a huge pfn.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/vmbus/scsi_disk.h"
#include "devices/vmbus/storvsp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DISK_BYTES (1u << 20)
#define PAGE 4096u
#define GUEST_PAGES 16u
#define GUEST_BASE_PFN 0x200u
#define MAX_RANGES 3
#define MAX_PFNS 80          /* mode 2 can need (0x40000 + 4095) / 4096 + 1 = 65 */
#define MAX_PACKETS 64

struct input {
	const uint8_t *p;
	size_t n;
};

static uint8_t take8(struct input *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static uint32_t take32(struct input *in)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v |= (uint32_t)take8(in) << (8 * i);
	return v;
}

/* ---- disk backend that polices the disk ------------------------------------------------- */

struct checked_disk {
	uint8_t *mem;
	bool read_only;
};

static int cd_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	struct checked_disk *c = ctx;
	if (len == 0 || len % 512 || off % 512 || off > DISK_BYTES || len > DISK_BYTES - off)
		abort();
	memcpy(buf, c->mem + off, len);
	return 0;
}

static int cd_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
	struct checked_disk *c = ctx;
	if (c->read_only || len == 0 || len % 512 || off % 512 || off > DISK_BYTES ||
	    len > DISK_BYTES - off)
		abort();
	memcpy(c->mem + off, buf, len);
	return 0;
}

static int cd_flush(void *ctx)
{
	(void)ctx;
	return 0;
}

static const struct scsi_disk_backend_ops cd_ops = {
	.read = cd_read, .write = cd_write, .flush = cd_flush,
};

/* ---- guest memory that polices storvsp ----------------------------------------------------- */

struct guest {
	uint8_t mem[GUEST_PAGES * PAGE];
	const struct storvsp_gpa_range *range;    /* the current packet's first range, if any */
	size_t copied;
	size_t calls;
};

static struct guest guest;

static int g_copy(void *ctx, uint64_t gpa, void *buf, size_t len, bool to_guest)
{
	struct guest *g = ctx;
	const struct storvsp_gpa_range *r = g->range;

	if (!r || len == 0 || (gpa % PAGE) + len > PAGE)
		abort();
	/* The page must be one the packet named; the first one only from byte_offset on. */
	uint64_t pfn = gpa / PAGE;
	bool named = false;
	for (size_t i = 0; i < r->pfn_count; i++)
		if (r->pfns[i] == pfn && (i > 0 || gpa % PAGE >= r->byte_offset))
			named = true;
	if (!named)
		abort();
	g->calls++;
	g->copied += len;
	if (g->copied > r->byte_count)
		abort();

	uint64_t base = (uint64_t)GUEST_BASE_PFN * PAGE;
	if (gpa < base || gpa - base >= sizeof(g->mem))
		return -EFAULT;
	uint8_t *p = g->mem + (gpa - base);
	if (to_guest)
		memcpy(p, buf, len);
	else
		memcpy(buf, p, len);
	return 0;
}

/* ---- instances, built once ---------------------------------------------------------------- */

struct target {
	struct checked_disk cd;
	struct scsi_disk *disk;
	struct storvsp *s;
};

static struct target targets[2];    /* read-write, read-only */

static void init_targets(void)
{
	static bool done;
	if (done)
		return;
	done = true;
	for (int i = 0; i < 2; i++) {
		struct target *t = &targets[i];
		t->cd.mem = calloc(1, DISK_BYTES);
		t->cd.read_only = i == 1;
		if (!t->cd.mem)
			abort();
		struct scsi_disk_config dc = {
			.backend = { .ops = &cd_ops, .ctx = &t->cd, .size = DISK_BYTES },
			.read_only = t->cd.read_only,
		};
		struct storvsp_config sc = { .mem = { .copy = g_copy, .ctx = &guest } };
		if (scsi_disk_create(&dc, &t->disk) != 0)
			abort();
		sc.disk = t->disk;
		if (storvsp_create(&sc, &t->s) != 0)
			abort();
	}
}

/* ---- one packet ---------------------------------------------------------------------------- */

static uint64_t pfn_of(uint8_t b)
{
	if (b == 0xFF)
		return UINT64_MAX;
	if (b == 0xFE)
		return 1ull << 52;
	return GUEST_BASE_PFN + (b & 31u);
}

static bool known_status(uint32_t st)
{
	return st == STORVSP_STATUS_SUCCESS || st == STORVSP_STATUS_INVALID_PARAMETER ||
	       st == STORVSP_STATUS_INVALID_DEVICE_REQUEST ||
	       st == STORVSP_STATUS_REVISION_MISMATCH || st == STORVSP_STATUS_INVALID_DEVICE_STATE;
}

static bool known_version(uint16_t v)
{
	return v == STORVSP_VERSION_WIN8 || v == STORVSP_VERSION_WIN81 ||
	       v == STORVSP_VERSION_WIN10;
}

/* The state an accepted init operation leads to from `from`, or -1 if none. */
static int next_state(uint32_t op, enum storvsp_state from)
{
	switch (op) {
	case STORVSP_OP_BEGIN_INITIALIZATION:
		return from == STORVSP_WAIT_BEGIN ? STORVSP_WAIT_VERSION : -1;
	case STORVSP_OP_QUERY_PROTOCOL_VERSION:
		return from == STORVSP_WAIT_VERSION ? STORVSP_WAIT_PROPERTIES : -1;
	case STORVSP_OP_QUERY_PROPERTIES:
		return from == STORVSP_WAIT_PROPERTIES ? STORVSP_WAIT_END : -1;
	case STORVSP_OP_END_INITIALIZATION:
		return from == STORVSP_WAIT_END ? STORVSP_READY : -1;
	default:
		return -1;
	}
}

static void check_srb_reply(const struct storvsp_vstor_packet *rq,
			    const struct storvsp_vstor_packet *rp, size_t reply_len,
			    uint32_t status)
{
	const struct storvsp_vmscsi_request *a = &rq->u.srb, *b = &rp->u.srb;

	if (b->data_transfer_length > a->data_transfer_length)
		abort();
	uint8_t base = b->srb_status & 0x3F;
	if (status != STORVSP_STATUS_SUCCESS) {
		if (b->srb_status != STORVSP_SRB_INVALID_REQUEST || b->data_transfer_length ||
		    b->scsi_status)
			abort();
		return;
	}
	if (reply_len != STORVSP_PACKET_SIZE)
		abort();    /* an executed SRB always came in a full packet */
	switch (base) {
	case STORVSP_SRB_SUCCESS:
		if (b->scsi_status != SCSI_STATUS_GOOD ||
		    (b->srb_status & STORVSP_SRB_AUTOSENSE_VALID))
			abort();
		break;
	case STORVSP_SRB_ERROR:
		if (b->scsi_status != SCSI_STATUS_CHECK_CONDITION || b->data_transfer_length)
			abort();
		if (b->srb_status & STORVSP_SRB_AUTOSENSE_VALID) {
			if (b->sense_info_length == 0 || b->sense_info_length > SCSI_SENSE_LEN ||
			    b->sense_info_length > a->sense_info_length || b->cdb[0] != 0x70 ||
			    (a->srb_flags & STORVSP_SRB_FLAGS_DISABLE_AUTOSENSE))
				abort();
		} else if (b->sense_info_length) {
			abort();
		}
		break;
	default: /* no INVALID_LUN: absent LUNs are answered the SPC way */
		abort();
	}
}

/* One packet from the input, with the storage its request points into. */
struct fpkt {
	uint16_t type;
	uint8_t payload[80];
	size_t plen;
	struct storvsp_vstor_packet rqp;     /* the payload as a packet, zero-padded */
	struct storvsp_gpa_range ranges[MAX_RANGES];
	uint64_t pfns[MAX_RANGES][MAX_PFNS];
	struct storvsp_request rq;
};

static void build_packet(struct input *in, uint64_t tid, struct fpkt *f)
{
	uint8_t mode = take8(in);
	uint16_t type;
	switch (mode & 3) {
	case 0:
		type = STORVSP_PKT_INBAND;
		break;
	case 3:
		type = take8(in);
		break;
	default:
		type = STORVSP_PKT_GPA_DIRECT;
		break;
	}
	f->type = type;
	uint8_t *payload = f->payload;
	memset(payload, 0, sizeof(f->payload));
	size_t plen = take8(in) % (sizeof(f->payload) + 1);
	for (size_t i = 0; i < plen; i++)
		payload[i] = take8(in);
	f->plen = plen;
	memset(&f->rqp, 0, sizeof(f->rqp));
	memcpy(&f->rqp, payload, plen < sizeof(f->rqp) ? plen : sizeof(f->rqp));
	const struct storvsp_vstor_packet rqp = f->rqp;

	struct storvsp_gpa_range *ranges = f->ranges;
	uint64_t (*pfns)[MAX_PFNS] = f->pfns;
	size_t nranges = 0;
	if ((mode & 3) == 1) {
		nranges = take8(in) % (MAX_RANGES + 1);
		for (size_t r = 0; r < nranges; r++) {
			ranges[r].byte_count = take32(in);
			ranges[r].byte_offset = take8(in) | (uint32_t)take8(in) << 8;
			ranges[r].pfn_count = take8(in) % 21;
			for (size_t i = 0; i < ranges[r].pfn_count; i++)
				pfns[r][i] = pfn_of(take8(in));
			ranges[r].pfns = pfns[r];
		}
	} else if ((mode & 3) == 2) {
		/* One range that matches the SRB's data length, so the fuzzer reaches I/O. */
		uint32_t count = rqp.u.srb.data_transfer_length;
		if (count > 0x40000)
			count &= 0x3FFFF;
		uint32_t off = (take8(in) | (uint32_t)take8(in) << 8) % PAGE;
		size_t n = (size_t)(((uint64_t)off + count + PAGE - 1) / PAGE);
		if (n > MAX_PFNS)
			abort();
		for (size_t i = 0; i < n; i++)
			pfns[0][i] = pfn_of(take8(in));
		ranges[0] = (struct storvsp_gpa_range){ count, off, pfns[0], n };
		nranges = 1;
	}

	f->rq = (struct storvsp_request){
		.type = type, .transaction_id = tid, .payload = plen ? payload : NULL,
		.payload_len = plen, .ranges = nranges ? ranges : NULL, .range_count = nranges,
	};
}

static void one_packet(struct storvsp *s, struct input *in, uint64_t tid)
{
	static struct fpkt f;
	build_packet(in, tid, &f);
	const uint16_t type = f.type;
	const size_t plen = f.plen;
	const struct storvsp_vstor_packet rqp = f.rqp;
	const struct storvsp_request rq = f.rq;
	const size_t nranges = rq.range_count;
	const struct storvsp_gpa_range *ranges = f.ranges;
	struct storvsp_reply rp;
	enum storvsp_state before = storvsp_get_state(s);
	uint16_t ver_before = storvsp_version(s);

	guest.range = nranges ? &ranges[0] : NULL;
	guest.copied = 0;
	guest.calls = 0;
	int rc = storvsp_handle(s, &rq, &rp);
	guest.range = NULL;

	if (type != STORVSP_PKT_INBAND && type != STORVSP_PKT_GPA_DIRECT) {
		if (rc != -EPROTO || storvsp_get_state(s) != before)
			abort();
		return;
	}
	if (rc != 0 || rp.transaction_id != tid)
		abort();
	if (rp.len != (plen >= STORVSP_PACKET_SIZE ? STORVSP_PACKET_SIZE
						   : STORVSP_PACKET_SIZE_PRE_WIN8))
		abort();
	struct storvsp_vstor_packet out = { 0 };
	memcpy(&out, rp.payload, rp.len);
	if (out.operation != STORVSP_OP_COMPLETE_IO || !known_status(out.status))
		abort();

	/* Guest memory only for executed SRBs. */
	if (guest.calls &&
	    (rqp.operation != STORVSP_OP_EXECUTE_SRB || type != STORVSP_PKT_GPA_DIRECT))
		abort();

	/* State: unchanged, or exactly one legal init step on success. */
	enum storvsp_state after = storvsp_get_state(s);
	if (after != before) {
		int want = next_state(rqp.operation, before);
		if (want < 0 || (int)after != want || out.status != STORVSP_STATUS_SUCCESS ||
		    plen < STORVSP_PACKET_SIZE_PRE_WIN8 || type != STORVSP_PKT_INBAND)
			abort();
	}
	if (storvsp_version(s) != ver_before) {
		if (rqp.operation != STORVSP_OP_QUERY_PROTOCOL_VERSION ||
		    !known_version(storvsp_version(s)) ||
		    storvsp_version(s) != rqp.u.version.major_minor)
			abort();
	}
	if (rqp.operation == STORVSP_OP_QUERY_PROPERTIES && out.status == STORVSP_STATUS_SUCCESS &&
	    (out.u.properties.max_sub_channels != 0 ||
	     out.u.properties.max_transfer_bytes != 0x40000))
		abort();
	if (rqp.operation == STORVSP_OP_EXECUTE_SRB && plen >= STORVSP_PACKET_SIZE_PRE_WIN8)
		check_srb_reply(&rqp, &out, rp.len, out.status);
}

/* A correct init sequence, so inputs start deep in the SRB path when they ask to. */
static void run_init(struct storvsp *s)
{
	static const uint32_t ops[] = {
		STORVSP_OP_BEGIN_INITIALIZATION, STORVSP_OP_QUERY_PROTOCOL_VERSION,
		STORVSP_OP_QUERY_PROPERTIES, STORVSP_OP_END_INITIALIZATION,
	};
	for (size_t i = 0; i < 4; i++) {
		struct storvsp_vstor_packet p = { .operation = ops[i] };
		p.u.version.major_minor = STORVSP_VERSION_WIN10;
		struct storvsp_request rq = { .type = STORVSP_PKT_INBAND, .payload = &p,
					      .payload_len = sizeof(p) };
		struct storvsp_reply rp;
		if (storvsp_handle(s, &rq, &rp) != 0)
			abort();
		memcpy(&p, rp.payload, sizeof(p));
		if (p.status != STORVSP_STATUS_SUCCESS)
			abort();
	}
	if (storvsp_get_state(s) != STORVSP_READY)
		abort();
}

/* ---- batch mode: storvsp_handle_batch against storvsp_handle ----------------------------- */

struct bside {
	uint8_t disk[DISK_BYTES];
	uint8_t mem[GUEST_PAGES * PAGE];
	struct scsi_disk *d;
	struct storvsp *s;
};

static struct bside bsides[2][2];   /* [read-only][batched, one by one] */

static int b_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	struct bside *b = ctx;
	if (len == 0 || len % 512 || off % 512 || off > DISK_BYTES || len > DISK_BYTES - off)
		abort();
	memcpy(buf, b->disk + off, len);
	return 0;
}

static int b_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
	struct bside *b = ctx;
	if (len == 0 || len % 512 || off % 512 || off > DISK_BYTES || len > DISK_BYTES - off)
		abort();
	memcpy(b->disk + off, buf, len);
	return 0;
}

/* In order, so the batched side must end exactly where the one-by-one side does. */
static void b_rw_batch(void *ctx, struct scsi_disk_io *ios, size_t n)
{
	if (n == 0 || n > SCSI_DISK_BATCH_MAX)
		abort();
	for (size_t i = 0; i < n; i++)
		ios[i].err = ios[i].write ? b_write(ctx, ios[i].buf, ios[i].len, ios[i].offset)
					  : b_read(ctx, ios[i].buf, ios[i].len, ios[i].offset);
}

/* Async mode: what rw_submit was given, run (in order) and answered after it returned. */
static struct {
	bool refuse;                /* rw_submit says -EAGAIN: the batch runs synchronously */
	struct scsi_disk_io *ios;
	size_t n;
	void (*done)(void *);
	void *arg;
} held;

static int b_rw_submit(void *ctx, struct scsi_disk_io *ios, size_t n, void (*done)(void *),
		       void *arg)
{
	(void)ctx;
	if (n == 0 || n > SCSI_DISK_BATCH_MAX || held.ios)
		abort();
	if (held.refuse)
		return -EAGAIN;
	held.ios = ios;
	held.n = n;
	held.done = done;
	held.arg = arg;
	return 0;
}

static uint8_t *b_ptr(struct bside *b, uint64_t gpa, size_t len)
{
	uint64_t base = (uint64_t)GUEST_BASE_PFN * PAGE;
	if (gpa < base || gpa - base > sizeof(b->mem) || len > sizeof(b->mem) - (gpa - base))
		return NULL;
	return b->mem + (gpa - base);
}

static int b_copy(void *ctx, uint64_t gpa, void *buf, size_t len, bool to_guest)
{
	uint8_t *p = b_ptr(ctx, gpa, len);
	if (len == 0 || (gpa % PAGE) + len > PAGE)
		abort();
	if (!p)
		return -EFAULT;
	if (to_guest)
		memcpy(p, buf, len);
	else
		memcpy(buf, p, len);
	return 0;
}

static void *b_map(void *ctx, uint64_t gpa, size_t len)
{
	return b_ptr(ctx, gpa, len);
}

static void init_bsides(void)
{
	static bool done;
	if (done)
		return;
	done = true;
	static const struct scsi_disk_backend_ops ops[2] = {
		{ .read = b_read, .write = b_write, .rw_batch = b_rw_batch,
		  .rw_submit = b_rw_submit },
		{ .read = b_read, .write = b_write },
	};
	for (int ro = 0; ro < 2; ro++)
		for (int k = 0; k < 2; k++) {
			struct bside *b = &bsides[ro][k];
			struct scsi_disk_config dc = {
				.backend = { .ops = &ops[k], .ctx = b, .size = DISK_BYTES },
				.read_only = ro,
			};
			struct storvsp_config sc = { .mem = { .copy = b_copy, .map = b_map,
							      .ctx = b } };
			if (scsi_disk_create(&dc, &b->d) != 0)
				abort();
			sc.disk = b->d;
			if (storvsp_create(&sc, &b->s) != 0)
				abort();
		}
}

static void on_done(void *arg)
{
	*(bool *)arg = true;
}

/*
 * The batched side: storvsp_handle_batch, or (async) storvsp_handle_batch_async whose pending
 * SRBs the backend answers after it returned (`refuse`: it refuses them, so they run at once).
 */
static void batch_side(struct bside *b, const struct storvsp_request *rqs, size_t n,
		       struct storvsp_reply *rb, int *rcs, bool async, bool refuse)
{
	if (!async) {
		if (storvsp_handle_batch(b->s, rqs, n, rb, rcs) != 0)
			abort();
		return;
	}
	static struct storvsp_async a;
	bool ended = false;
	held.refuse = refuse;
	held.ios = NULL;
	int rc = storvsp_handle_batch_async(b->s, rqs, n, rb, rcs, &a, on_done, &ended);
	if (rc < 0 || ended)
		abort();
	if (rc == 0) {
		for (size_t i = 0; i < n; i++)
			if (rcs[i] == STORVSP_PENDING)
				abort();
		return;
	}
	if (refuse || !held.ios)
		abort();
	size_t pending = 0;
	for (size_t i = 0; i < n; i++)
		pending += rcs[i] == STORVSP_PENDING;
	if (pending == 0 || held.n > pending)
		abort();
	b_rw_batch(b, held.ios, held.n);
	held.done(held.arg);
	if (!ended)
		abort();
	storvsp_finish(b->s, &a);
	for (size_t i = 0; i < n; i++)
		if (rcs[i] == STORVSP_PENDING)
			rcs[i] = 0;     /* answered now: as storvsp_handle would say */
	held.ios = NULL;
}

static void batch_mode(struct input *in, int ro, bool init, bool async, bool refuse)
{
	init_bsides();
	static struct fpkt pk[STORVSP_BATCH_MAX];
	struct storvsp_request rqs[STORVSP_BATCH_MAX];
	size_t n = 0;
	for (; in->n && n < STORVSP_BATCH_MAX; n++) {
		build_packet(in, n + 1, &pk[n]);
		rqs[n] = pk[n].rq;
	}
	struct bside *b = bsides[ro];
	for (int k = 0; k < 2; k++) {
		memset(b[k].disk, 0x5A, sizeof(b[k].disk));
		memset(b[k].mem, 0xA5, sizeof(b[k].mem));
		storvsp_reset(b[k].s);
		if (init)
			run_init(b[k].s);
	}
	static struct storvsp_reply rb[STORVSP_BATCH_MAX], rs;
	int rcs[STORVSP_BATCH_MAX];
	struct storvsp_stats st0[2];
	storvsp_get_stats(b[0].s, &st0[0]);
	storvsp_get_stats(b[1].s, &st0[1]);
	batch_side(&b[0], rqs, n, rb, rcs, async, refuse);
	for (size_t i = 0; i < n; i++) {
		int rc = storvsp_handle(b[1].s, &rqs[i], &rs);
		if (rc != rcs[i])
			abort();
		if (rc == 0 && (rb[i].transaction_id != rs.transaction_id || rb[i].len != rs.len ||
				memcmp(rb[i].payload, rs.payload, rs.len)))
			abort();
	}
	struct storvsp_stats st[2];
	storvsp_get_stats(b[0].s, &st[0]);
	storvsp_get_stats(b[1].s, &st[1]);
	if (memcmp(b[0].disk, b[1].disk, DISK_BYTES) || memcmp(b[0].mem, b[1].mem, sizeof(b[0].mem)) ||
	    storvsp_get_state(b[0].s) != storvsp_get_state(b[1].s) ||
	    storvsp_version(b[0].s) != storvsp_version(b[1].s) ||
	    st[0].packets - st0[0].packets != st[1].packets - st0[1].packets ||
	    st[0].errors - st0[0].errors != st[1].errors - st0[1].errors ||
	    st[0].srbs - st0[0].srbs != st[1].srbs - st0[1].srbs ||
	    st[0].bytes_to_guest - st0[0].bytes_to_guest !=
		    st[1].bytes_to_guest - st0[1].bytes_to_guest ||
	    st[0].bytes_from_guest - st0[0].bytes_from_guest !=
		    st[1].bytes_from_guest - st0[1].bytes_from_guest)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };

	init_targets();
	uint8_t flags = take8(&in);
	if (flags & 4) {
		batch_mode(&in, (flags >> 1) & 1, flags & 1, flags & 8, flags & 16);
		return 0;
	}
	struct storvsp *s = targets[(flags >> 1) & 1].s;
	storvsp_reset(s);
	if (flags & 1)
		run_init(s);
	for (uint64_t tid = 1; in.n && tid <= MAX_PACKETS; tid++)
		one_packet(s, &in, tid);
	return 0;
}
