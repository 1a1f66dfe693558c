/*
 * storvsp: VMBus synthetic SCSI server for one channel (see storvsp.h for the protocol model).
 *
 * Each packet is copied once into a local vstor_packet (never read twice from shared memory),
 * dispatched on its operation, and the same structure, updated, becomes the completion.
 */
#include "devices/vmbus/storvsp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The highest pfn whose page address still fits in 64 bits. */
#define MAX_PFN (UINT64_MAX / STORVSP_PAGE_SIZE)

struct storvsp {
	struct scsi_disk *disk;
	struct storvsp_guest_mem mem;
	uint32_t max_transfer;
	enum storvsp_state state;
	uint16_t version;
	uint8_t *bounce;                /* max_transfer bytes */
	struct storvsp_stats stats;
};

static const uint16_t accepted_versions[] = {
	STORVSP_VERSION_WIN8, STORVSP_VERSION_WIN81, STORVSP_VERSION_WIN10,
};

static bool version_ok(uint16_t v)
{
	for (size_t i = 0; i < sizeof(accepted_versions) / sizeof(accepted_versions[0]); i++)
		if (accepted_versions[i] == v)
			return true;
	return false;
}

/* Init operations: the state each one needs and the state it leads to. */
static uint32_t init_step(struct storvsp *s, enum storvsp_state need, enum storvsp_state next)
{
	if (s->state != need)
		return STORVSP_STATUS_INVALID_DEVICE_STATE;
	s->state = next;
	return STORVSP_STATUS_SUCCESS;
}

static uint32_t query_version(struct storvsp *s, struct storvsp_vstor_packet *p)
{
	if (s->state != STORVSP_WAIT_VERSION)
		return STORVSP_STATUS_INVALID_DEVICE_STATE;
	if (!version_ok(p->u.version.major_minor))
		return STORVSP_STATUS_REVISION_MISMATCH;
	s->version = p->u.version.major_minor;
	s->state = STORVSP_WAIT_PROPERTIES;
	return STORVSP_STATUS_SUCCESS;
}

static uint32_t query_properties(struct storvsp *s, struct storvsp_vstor_packet *p)
{
	uint32_t st = init_step(s, STORVSP_WAIT_PROPERTIES, STORVSP_WAIT_END);
	if (st != STORVSP_STATUS_SUCCESS)
		return st;
	memset(&p->u, 0, sizeof(p->u));
	p->u.properties.max_sub_channels = 0;
	p->u.properties.flags = 0;
	p->u.properties.max_transfer_bytes = s->max_transfer;
	return STORVSP_STATUS_SUCCESS;
}

static uint32_t create_sub_channels(struct storvsp *s, const struct storvsp_vstor_packet *p)
{
	if (s->state != STORVSP_WAIT_END && s->state != STORVSP_READY)
		return STORVSP_STATUS_INVALID_DEVICE_STATE;
	return p->u.sub_channel_count == 0 ? STORVSP_STATUS_SUCCESS
					   : STORVSP_STATUS_INVALID_PARAMETER;
}

/* ---- EXECUTE_SRB ------------------------------------------------------------------------ */

/* The one range of a GPA-direct packet must describe exactly `len` bytes. */
static bool range_ok(const struct storvsp_request *rq, uint32_t len)
{
	if (rq->range_count != 1 || !rq->ranges)
		return false;
	const struct storvsp_gpa_range *r = &rq->ranges[0];
	if (r->byte_count != len || r->byte_offset >= STORVSP_PAGE_SIZE)
		return false;
	uint64_t end = (uint64_t)r->byte_offset + r->byte_count;
	uint64_t pages = (end + STORVSP_PAGE_SIZE - 1) / STORVSP_PAGE_SIZE;
	if (r->pfn_count != pages || (pages && !r->pfns))
		return false;
	for (size_t i = 0; i < r->pfn_count; i++)
		if (r->pfns[i] > MAX_PFN)
			return false;
	return true;
}

/* Copy len bytes between buf and the (validated) range, one page piece per callback call. */
static int guest_copy(struct storvsp *s, const struct storvsp_gpa_range *r, uint8_t *buf,
		      size_t len, bool to_guest)
{
	size_t done = 0, page = 0;
	uint64_t off = r->byte_offset;

	while (done < len) {
		size_t piece = STORVSP_PAGE_SIZE - (size_t)off;
		if (piece > len - done)
			piece = len - done;
		uint64_t gpa = r->pfns[page] * STORVSP_PAGE_SIZE + off;
		int rc = s->mem.copy(s->mem.ctx, gpa, buf + done, piece, to_guest);
		if (rc != 0)
			return rc < 0 ? rc : -EFAULT;
		done += piece;
		page++;
		off = 0;
	}
	return 0;
}

/*
 * READ(6/10/12/16) and WRITE(6/10/12/16) only hand their data to the disk's backend, which
 * never parses it: for them a guest buffer can be used in place (anything the disk interprets
 * goes through the bounce buffer, read once).
 */
static bool data_in_place(uint8_t opcode)
{
	switch (opcode) {
	case 0x08: case 0x28: case 0xA8: case 0x88:
	case 0x0A: case 0x2A: case 0xAA: case 0x8A:
		return true;
	default:
		return false;
	}
}

/* The (validated) range as one host mapping, when its pages are consecutive; else NULL. */
static uint8_t *guest_map(struct storvsp *s, const struct storvsp_gpa_range *r, size_t len)
{
	if (!s->mem.map || len == 0)
		return NULL;
	for (size_t i = 1; i < r->pfn_count; i++)
		if (r->pfns[i] != r->pfns[0] + i)
			return NULL;
	return s->mem.map(s->mem.ctx, r->pfns[0] * STORVSP_PAGE_SIZE + r->byte_offset, len);
}

/* Reply fields of an SRB that never reached the disk. */
static uint32_t srb_reject(struct storvsp_vmscsi_request *srb, uint32_t status)
{
	srb->srb_status = STORVSP_SRB_INVALID_REQUEST;
	srb->scsi_status = 0;
	srb->data_transfer_length = 0;
	srb->sense_info_length = 0;
	return status;
}

/*
 * Fill the SRB of the completion: SCSI status, bytes moved, srb_status, and the sense data in
 * the CDB area when the status is not GOOD and the request left room for it (its
 * sense_info_length, at most the 20-byte area; none with DISABLE_AUTOSENSE).
 */
static uint32_t complete_srb(struct storvsp_vmscsi_request *srb, uint8_t status,
			     uint32_t transferred, const uint8_t *sense, size_t sense_len)
{
	size_t room = srb->sense_info_length;
	if (room > STORVSP_CDB_AREA)
		room = STORVSP_CDB_AREA;
	if (srb->srb_flags & STORVSP_SRB_FLAGS_DISABLE_AUTOSENSE)
		room = 0;
	memset(srb->cdb, 0, sizeof(srb->cdb));
	srb->sense_info_length = 0;
	srb->scsi_status = status;
	srb->data_transfer_length = transferred;
	if (status == SCSI_STATUS_GOOD) {
		srb->srb_status = STORVSP_SRB_SUCCESS;
		return STORVSP_STATUS_SUCCESS;
	}
	srb->srb_status = STORVSP_SRB_ERROR;
	size_t n = sense_len < room ? sense_len : room;
	if (n) {
		memcpy(srb->cdb, sense, n);
		srb->sense_info_length = (uint8_t)n;
		srb->srb_status |= STORVSP_SRB_AUTOSENSE_VALID;
	}
	return STORVSP_STATUS_SUCCESS;
}

/*
 * An SRB whose disk command waits for the rest of its batch (struct storvsp_deferred): only
 * READ/WRITE data in place, so nothing is left to copy when the disk is done.
 */
/* dispatch() with a `struct storvsp_deferred`: not a status but what became of the packet. */
#define DEFER_YES 0xFFFFFFFEu   /* the SRB waits in *df */
#define DEFER_NO  0xFFFFFFFFu   /* it must run in order: nothing was done, run it alone */

/* The SRB's result from the disk into the completion. */
static uint32_t finish_srb(struct storvsp *s, const struct storvsp_request *rq,
			   struct storvsp_vmscsi_request *srb, bool data_in, const uint8_t *direct,
			   const struct scsi_result *res)
{
	s->stats.srbs++;
	if (direct)
		s->stats.in_place++;
	if (data_in && res->transferred) {
		if (!direct &&
		    guest_copy(s, &rq->ranges[0], s->bounce, res->transferred, true) != 0)
			return srb_reject(srb, STORVSP_STATUS_INVALID_PARAMETER);
		s->stats.bytes_to_guest += res->transferred;
	}
	return complete_srb(srb, res->status, (uint32_t)res->transferred, res->sense,
			    res->sense_len);
}

/*
 * With df: an SRB whose data moves in place waits there (DEFER_YES); any other that would
 * touch the disk or guest memory is DEFER_NO before doing anything (a rejected one is
 * answered: it touches neither).
 */
static uint32_t execute_srb(struct storvsp *s, const struct storvsp_request *rq,
			    struct storvsp_vmscsi_request *srb, struct storvsp_deferred *df)
{
	if (s->state != STORVSP_READY)
		return srb_reject(srb, STORVSP_STATUS_INVALID_DEVICE_STATE);
	if (rq->payload_len < STORVSP_PACKET_SIZE)
		return srb_reject(srb, STORVSP_STATUS_INVALID_PARAMETER);

	uint32_t len = srb->data_transfer_length;
	bool gpa = rq->type == STORVSP_PKT_GPA_DIRECT;
	if (srb->cdb_length == 0 || srb->cdb_length > STORVSP_MAX_CDB ||
	    srb->data_in > STORVSP_SRB_DATA_NONE || len > s->max_transfer ||
	    (len && srb->data_in == STORVSP_SRB_DATA_NONE) || (!gpa && len) ||
	    (gpa && !range_ok(rq, len)))
		return srb_reject(srb, STORVSP_STATUS_INVALID_PARAMETER);

	if (srb->path_id != 0 || srb->target_id != 0 || srb->lun != 0) {
		if (df)
			return DEFER_NO;
		/*
		 * No device at this address: answer as a SCSI target does for a LUN it lacks
		 * (SPC-4 6.6.2, 4.5.6), not with srb_status INVALID_LUN: Linux's storvsc turns
		 * that into "remove LUN n of target 0" (dropping the real disk) and turns a failed
		 * INQUIRY into success, adding a device for whatever the buffer held.
		 */
		s->stats.invalid_lun++;
		uint32_t alloc = (uint32_t)srb->cdb[3] << 8 | srb->cdb[4];
		if (srb->cdb[0] == 0x12 && !(srb->cdb[1] & 1) && srb->cdb_length >= 6 &&
		    srb->data_in == STORVSP_SRB_DATA_IN) {
			/* Standard INQUIRY: peripheral qualifier 011b, device type 1Fh. */
			uint8_t inq[36] = { 0x7F, 0x00, 0x06, 0x02, 31 };
			uint32_t n = len < alloc ? len : alloc;
			if (n > sizeof(inq))
				n = sizeof(inq);
			if (n && guest_copy(s, &rq->ranges[0], inq, n, true) != 0)
				return srb_reject(srb, STORVSP_STATUS_INVALID_PARAMETER);
			s->stats.bytes_to_guest += n;
			return complete_srb(srb, SCSI_STATUS_GOOD, n, NULL, 0);
		}
		/* Anything else: CHECK CONDITION, ILLEGAL REQUEST, LOGICAL UNIT NOT SUPPORTED. */
		static const uint8_t lun_sense[SCSI_SENSE_LEN] = { 0x70, 0, 0x05, 0, 0, 0, 0, 10,
								   0, 0, 0, 0, 0x25, 0x00 };
		return complete_srb(srb, SCSI_STATUS_CHECK_CONDITION, 0, lun_sense,
				    sizeof(lun_sense));
	}

	bool data_in = srb->data_in == STORVSP_SRB_DATA_IN;
	uint8_t cdb[STORVSP_MAX_CDB];
	_Static_assert(sizeof(srb->cdb) >= STORVSP_MAX_CDB, "the CDB area holds the longest CDB");
	memcpy(cdb, srb->cdb, STORVSP_MAX_CDB); /* fixed size: no rep movs; cdb_length is used */
	uint8_t *direct = len && gpa && data_in_place(cdb[0]) ? guest_map(s, rq->ranges, len) : NULL;
	if (df) {
		if (!direct)
			return DEFER_NO;
		*df = (struct storvsp_deferred){ .cdb_len = srb->cdb_length, .data_in = data_in,
						 .direct = direct, .len = len,
						 .transaction_id = rq->transaction_id,
						 .payload_len = rq->payload_len };
		memcpy(df->cdb, cdb, STORVSP_MAX_CDB);
		if (!data_in)
			s->stats.bytes_from_guest += len;
		return DEFER_YES;
	}
	if (len && !data_in) {
		if (!direct && guest_copy(s, &rq->ranges[0], s->bounce, len, false) != 0)
			return srb_reject(srb, STORVSP_STATUS_INVALID_PARAMETER);
		s->stats.bytes_from_guest += len;
	}

	struct scsi_result res;
	scsi_disk_execute(s->disk, cdb, srb->cdb_length, data_in,
			  !len ? NULL : direct ? direct : s->bounce, len, &res);
	return finish_srb(s, rq, srb, data_in, direct, &res);
}

/* ---- dispatch ---------------------------------------------------------------------------- */

static uint32_t dispatch(struct storvsp *s, const struct storvsp_request *rq,
			 struct storvsp_vstor_packet *p, struct storvsp_deferred *df)
{
	if (df && p->operation != STORVSP_OP_EXECUTE_SRB)
		return DEFER_NO;
	if (rq->payload_len < STORVSP_PACKET_SIZE_PRE_WIN8)
		return STORVSP_STATUS_INVALID_PARAMETER;
	if (rq->type == STORVSP_PKT_GPA_DIRECT && p->operation != STORVSP_OP_EXECUTE_SRB)
		return STORVSP_STATUS_INVALID_PARAMETER;

	switch (p->operation) {
	case STORVSP_OP_BEGIN_INITIALIZATION:
		return init_step(s, STORVSP_WAIT_BEGIN, STORVSP_WAIT_VERSION);
	case STORVSP_OP_QUERY_PROTOCOL_VERSION:
		return query_version(s, p);
	case STORVSP_OP_QUERY_PROPERTIES:
		return query_properties(s, p);
	case STORVSP_OP_END_INITIALIZATION:
		return init_step(s, STORVSP_WAIT_END, STORVSP_READY);
	case STORVSP_OP_CREATE_SUB_CHANNELS:
		return create_sub_channels(s, p);
	case STORVSP_OP_EXECUTE_SRB:
		return execute_srb(s, rq, &p->u.srb, df);
	case STORVSP_OP_RESET_LUN:
	case STORVSP_OP_RESET_ADAPTER:
	case STORVSP_OP_RESET_BUS:
		return s->state == STORVSP_READY ? STORVSP_STATUS_SUCCESS
						 : STORVSP_STATUS_INVALID_DEVICE_STATE;
	default:    /* host-to-guest operations and unknown ones */
		return STORVSP_STATUS_INVALID_DEVICE_REQUEST;
	}
}

/* The completion's header: operation, status, id, length. */
static void epilogue(struct storvsp *s, const struct storvsp_request *rq,
		     struct storvsp_reply *reply, uint32_t status)
{
	struct storvsp_vstor_packet *p = &reply->packet;
	p->operation = STORVSP_OP_COMPLETE_IO;
	p->status = status;

	s->stats.packets++;
	if (status != STORVSP_STATUS_SUCCESS)
		s->stats.errors++;
	reply->transaction_id = rq->transaction_id;
	reply->len = rq->payload_len >= STORVSP_PACKET_SIZE ? STORVSP_PACKET_SIZE
							   : STORVSP_PACKET_SIZE_PRE_WIN8;
	/* pre-WIN8: nothing of the longer SRB past len (it is not sent; kept clean anyway) */
	if (reply->len < sizeof(reply->payload))
		memset(reply->payload + reply->len, 0, sizeof(reply->payload) - reply->len);
}

/* storvsp_handle, and with df the batch's first look: 0, -EPROTO, DEFER_YES or DEFER_NO. */
static int64_t handle(struct storvsp *s, const struct storvsp_request *rq,
		      struct storvsp_reply *reply, struct storvsp_deferred *df)
{
	if (rq->type != STORVSP_PKT_INBAND && rq->type != STORVSP_PKT_GPA_DIRECT) {
		s->stats.bad_packets++;
		return -EPROTO;
	}
	/*
	 * The request's packet is copied into the reply and answered in place (no second copy
	 * after dispatch's narrow stores); the fixed-size copy is inlined (a variable-size one
	 * became rep movs, ~10 ns a request).
	 */
	_Static_assert(sizeof(reply->payload) == sizeof(reply->packet), "one packet");
	struct storvsp_vstor_packet *p = &reply->packet;
	if (rq->payload_len >= sizeof(*p)) {
		memcpy(p, rq->payload, sizeof(*p));
	} else {
		memset(p, 0, sizeof(*p));
		if (rq->payload_len)
			memcpy(p, rq->payload, rq->payload_len);
	}
	uint32_t status = dispatch(s, rq, p, df);
	if (status == DEFER_YES || status == DEFER_NO)
		return status;
	epilogue(s, rq, reply, status);
	return 0;
}

int storvsp_handle(struct storvsp *s, const struct storvsp_request *rq,
		   struct storvsp_reply *reply)
{
	if (!s || !rq || !reply || (!rq->payload && rq->payload_len))
		return -EINVAL;
	return (int)handle(s, rq, reply, NULL);
}

_Static_assert(STORVSP_BATCH_MAX <= SCSI_DISK_BATCH_MAX, "a batch goes to the disk at once");

/* The deferred SRBs' commands for the disk. */
static void deferred_cmds(struct scsi_disk_cmd *cmds, const struct storvsp_deferred *df, size_t n)
{
	for (size_t k = 0; k < n; k++)
		cmds[k] = (struct scsi_disk_cmd){ .cdb = df[k].cdb, .cdb_len = df[k].cdb_len,
						  .data_in = df[k].data_in,
						  .buf = df[k].direct, .buf_len = df[k].len };
}

/* The deferred SRBs' completions from their commands' results. */
static void deferred_replies(struct storvsp *s, struct storvsp_reply *replies,
			     const struct storvsp_deferred *df, const struct scsi_disk_cmd *cmds,
			     size_t n)
{
	for (size_t k = 0; k < n; k++) {
		/* What finish_srb and epilogue read of the request (in place: no ranges). */
		const struct storvsp_request rq = { .type = STORVSP_PKT_GPA_DIRECT,
						    .transaction_id = df[k].transaction_id,
						    .payload_len = df[k].payload_len };
		struct storvsp_reply *rp = &replies[df[k].at];
		uint32_t status = finish_srb(s, &rq, &rp->packet.u.srb, df[k].data_in,
					     df[k].direct, &cmds[k].res);
		epilogue(s, &rq, rp, status);
	}
}

/* The deferred SRBs: to the disk together, then each one's completion. */
static void batch_flush(struct storvsp *s, struct storvsp_reply *replies,
			const struct storvsp_deferred *df, size_t n)
{
	struct scsi_disk_cmd cmds[STORVSP_BATCH_MAX];
	deferred_cmds(cmds, df, n);
	scsi_disk_execute_batch(s->disk, cmds, n);
	deferred_replies(s, replies, df, cmds, n);
}

/* Everything up to the batch's last run of deferred SRBs (left in df[0..*k)). */
static void batch_front(struct storvsp *s, const struct storvsp_request *rqs, size_t n,
			struct storvsp_reply *replies, int *rcs, struct storvsp_deferred *df,
			size_t *k)
{
	*k = 0;
	for (size_t i = 0; i < n; i++) {
		int64_t rc = handle(s, &rqs[i], &replies[i], &df[*k]);
		if (rc == DEFER_YES) {
			df[(*k)++].at = i;
			rcs[i] = 0;
			continue;
		}
		if (rc == DEFER_NO) {
			/* In order: what waits runs first, then this one alone. */
			batch_flush(s, replies, df, *k);
			*k = 0;
			rc = handle(s, &rqs[i], &replies[i], NULL);
		}
		rcs[i] = (int)rc;
	}
}

static bool batch_args_ok(const struct storvsp *s, const struct storvsp_request *rqs, size_t n,
			  const struct storvsp_reply *replies, const int *rcs)
{
	if (!s || n > STORVSP_BATCH_MAX || (n && (!rqs || !replies || !rcs)))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!rqs[i].payload && rqs[i].payload_len)
			return false;
	return true;
}

int storvsp_handle_batch(struct storvsp *s, const struct storvsp_request *rqs, size_t n,
			 struct storvsp_reply *replies, int *rcs)
{
	if (!batch_args_ok(s, rqs, n, replies, rcs))
		return -EINVAL;
	struct storvsp_deferred df[STORVSP_BATCH_MAX];
	size_t k;
	batch_front(s, rqs, n, replies, rcs, df, &k);
	batch_flush(s, replies, df, k);
	return 0;
}

int storvsp_handle_batch_async(struct storvsp *s, const struct storvsp_request *rqs, size_t n,
			       struct storvsp_reply *replies, int *rcs, struct storvsp_async *a,
			       void (*done)(void *arg), void *arg)
{
	if (!batch_args_ok(s, rqs, n, replies, rcs) || !a || !done)
		return -EINVAL;
	size_t k;
	batch_front(s, rqs, n, replies, rcs, a->df, &k);
	deferred_cmds(a->cmds, a->df, k);
	/* Complete before the submission: done() may run (and the caller finish) at once. */
	a->n = k;
	a->replies = replies;
	for (size_t j = 0; j < k; j++)
		rcs[a->df[j].at] = STORVSP_PENDING;
	int rc = k ? scsi_disk_submit(s->disk, a->cmds, k, &a->disk, done, arg) : 0;
	if (rc == 1)
		return 1;
	for (size_t j = 0; j < k; j++)
		rcs[a->df[j].at] = 0;
	if (rc < 0)     /* a disk that cannot: the commands built above, run now */
		scsi_disk_execute_batch(s->disk, a->cmds, k);
	deferred_replies(s, replies, a->df, a->cmds, k);
	a->n = 0;
	return 0;
}

void storvsp_finish(struct storvsp *s, struct storvsp_async *a)
{
	scsi_disk_finish(&a->disk);
	deferred_replies(s, a->replies, a->df, a->cmds, a->n);
	a->n = 0;
}

/* ---- lifetime ---------------------------------------------------------------------------- */

int storvsp_create(const struct storvsp_config *cfg, struct storvsp **out)
{
	if (!cfg || !out)
		return -EINVAL;
	*out = NULL;
	if (!cfg->disk || !cfg->mem.copy)
		return -EINVAL;
	uint32_t max = scsi_disk_max_transfer_bytes(cfg->disk);
	if (max == 0 || max > STORVSP_MAX_TRANSFER_LIMIT)
		return -EINVAL;

	struct storvsp *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->bounce = malloc(max);
	if (!s->bounce) {
		free(s);
		return -ENOMEM;
	}
	s->disk = cfg->disk;
	s->mem = cfg->mem;
	s->max_transfer = max;
	storvsp_reset(s);
	*out = s;
	return 0;
}

void storvsp_destroy(struct storvsp *s)
{
	if (!s)
		return;
	free(s->bounce);
	free(s);
}

void storvsp_reset(struct storvsp *s)
{
	s->state = STORVSP_WAIT_BEGIN;
	s->version = 0;
}

enum storvsp_state storvsp_get_state(const struct storvsp *s)
{
	return s->state;
}

uint16_t storvsp_version(const struct storvsp *s)
{
	return s->version;
}

uint32_t storvsp_max_transfer_bytes(const struct storvsp *s)
{
	return s->max_transfer;
}

void storvsp_get_stats(const struct storvsp *s, struct storvsp_stats *st)
{
	*st = s->stats;
}
