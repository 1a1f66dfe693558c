/*
 * storvsp (devices/vmbus/storvsp.c): init state machine, version negotiation, SRBs through a
 * fake guest memory (GPA ranges over several scattered pages), bad ranges, LUN addressing,
 * sense data in the reply. The disk is a scsi_disk over memory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/vmbus/scsi_disk.h"
#include "devices/vmbus/storvsp.h"

#define DISK_BYTES (1u << 20)
#define PAGE 4096u
#define GUEST_PAGES 16u
#define GUEST_BASE_PFN 0x100u     /* guest RAM: pfns 0x100..0x10F */

struct guest {
	uint8_t mem[GUEST_PAGES * PAGE];
	unsigned calls;
	size_t bytes;
	bool bad_call;                /* a piece crossed a page or was empty */
	unsigned maps;
};

static int guest_copy(void *ctx, uint64_t gpa, void *buf, size_t len, bool to_guest)
{
	struct guest *g = ctx;
	const uint64_t base = (uint64_t)GUEST_BASE_PFN * PAGE;

	g->calls++;
	if (len == 0 || (gpa % PAGE) + len > PAGE)
		g->bad_call = true;
	if (gpa < base || gpa - base > sizeof(g->mem) || len > sizeof(g->mem) - (gpa - base))
		return -EFAULT;
	uint8_t *p = g->mem + (gpa - base);
	if (to_guest)
		memcpy(p, buf, len);
	else
		memcpy(buf, p, len);
	g->bytes += len;
	return 0;
}

/* The optional mapping: all of [gpa, gpa + len) inside guest memory, else NULL. */
static void *guest_map(void *ctx, uint64_t gpa, size_t len)
{
	struct guest *g = ctx;
	const uint64_t base = (uint64_t)GUEST_BASE_PFN * PAGE;
	g->maps++;
	if (gpa < base || gpa - base > sizeof(g->mem) || len > sizeof(g->mem) - (gpa - base))
		return NULL;
	return g->mem + (gpa - base);
}

static uint8_t *gpage(struct guest *g, uint64_t pfn)
{
	return g->mem + (pfn - GUEST_BASE_PFN) * PAGE;
}

struct fx {
	uint8_t *disk_mem;
	struct scsi_disk_mem m;
	struct scsi_disk *d;
	struct storvsp *s;
	struct guest g;
	uint64_t next_tid;
	struct storvsp_reply rp;
	struct storvsp_vstor_packet out;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->disk_mem = malloc(DISK_BYTES);
	assert_non_null(f->disk_mem);
	for (size_t i = 0; i < DISK_BYTES; i++)
		f->disk_mem[i] = (uint8_t)(i * 31 + (i >> 9));
	struct scsi_disk_config dc = { .serial = "STORVSP" };
	scsi_disk_mem_backend(&f->m, f->disk_mem, DISK_BYTES, &dc.backend);
	assert_int_equal(scsi_disk_create(&dc, &f->d), 0);
	struct storvsp_config sc = { .disk = f->d, .mem = { .copy = guest_copy, .ctx = &f->g } };
	assert_int_equal(storvsp_create(&sc, &f->s), 0);
	assert_int_equal(storvsp_get_state(f->s), STORVSP_WAIT_BEGIN);
	f->next_tid = 0x1000;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	assert_false(f->g.bad_call);
	storvsp_destroy(f->s);
	scsi_disk_destroy(f->d);
	free(f->disk_mem);
	free(f);
	return 0;
}

/* Send one packet; check the completion's framing and return its status. */
static uint32_t send(struct fx *f, uint16_t type, const void *payload, size_t len,
		     const struct storvsp_gpa_range *ranges, size_t nranges)
{
	struct storvsp_request rq = {
		.type = type, .transaction_id = ++f->next_tid, .payload = payload,
		.payload_len = len, .ranges = ranges, .range_count = nranges,
	};
	memset(&f->rp, 0xEE, sizeof(f->rp));
	assert_int_equal(storvsp_handle(f->s, &rq, &f->rp), 0);
	assert_int_equal(f->rp.transaction_id, f->next_tid);
	assert_int_equal(f->rp.len, len >= 64 ? 64 : 48);
	memset(&f->out, 0, sizeof(f->out));
	memcpy(&f->out, f->rp.payload, f->rp.len);
	assert_int_equal(f->out.operation, STORVSP_OP_COMPLETE_IO);
	return f->out.status;
}

static uint32_t send_op(struct fx *f, uint32_t op, size_t len)
{
	struct storvsp_vstor_packet p = { .operation = op,
					  .flags = STORVSP_FLAG_REQUEST_COMPLETION };
	return send(f, STORVSP_PKT_INBAND, &p, len, NULL, 0);
}

static uint32_t send_version(struct fx *f, uint16_t v, size_t len)
{
	struct storvsp_vstor_packet p = { .operation = STORVSP_OP_QUERY_PROTOCOL_VERSION };
	p.u.version.major_minor = v;
	return send(f, STORVSP_PKT_INBAND, &p, len, NULL, 0);
}

/* The Linux-style sequence: the init packets at the pre-WIN8 size until the version is known. */
static void init(struct fx *f)
{
	assert_int_equal(send_op(f, STORVSP_OP_BEGIN_INITIALIZATION, 48), STORVSP_STATUS_SUCCESS);
	assert_int_equal(send_version(f, STORVSP_VERSION_WIN10, 48), STORVSP_STATUS_SUCCESS);
	assert_int_equal(send_op(f, STORVSP_OP_QUERY_PROPERTIES, 64), STORVSP_STATUS_SUCCESS);
	assert_int_equal(send_op(f, STORVSP_OP_END_INITIALIZATION, 64), STORVSP_STATUS_SUCCESS);
	assert_int_equal(storvsp_get_state(f->s), STORVSP_READY);
}

static void srb_init(struct storvsp_vstor_packet *p, const uint8_t *cdb, size_t cdb_len,
		     uint8_t data_in, uint32_t dtl)
{
	memset(p, 0, sizeof(*p));
	p->operation = STORVSP_OP_EXECUTE_SRB;
	p->flags = STORVSP_FLAG_REQUEST_COMPLETION;
	p->u.srb.length = sizeof(p->u.srb);
	p->u.srb.cdb_length = (uint8_t)cdb_len;
	p->u.srb.sense_info_length = STORVSP_CDB_AREA;
	p->u.srb.data_in = data_in;
	p->u.srb.data_transfer_length = dtl;
	p->u.srb.srb_flags = data_in == 1 ? 0x40 : data_in == 0 ? 0x80 : 0;
	memcpy(p->u.srb.cdb, cdb, cdb_len);
}

static void rw10(uint8_t *c, uint8_t op, uint32_t lba, uint16_t blocks)
{
	memset(c, 0, 10);
	c[0] = op;
	c[2] = (uint8_t)(lba >> 24);
	c[3] = (uint8_t)(lba >> 16);
	c[4] = (uint8_t)(lba >> 8);
	c[5] = (uint8_t)lba;
	c[7] = (uint8_t)(blocks >> 8);
	c[8] = (uint8_t)blocks;
}

/* An SRB with data through one GPA range. */
static uint32_t send_srb_gpa(struct fx *f, struct storvsp_vstor_packet *p, uint32_t off,
			     const uint64_t *pfns, size_t npfn)
{
	struct storvsp_gpa_range r = {
		.byte_count = p->u.srb.data_transfer_length, .byte_offset = off,
		.pfns = pfns, .pfn_count = npfn,
	};
	return send(f, STORVSP_PKT_GPA_DIRECT, p, sizeof(*p), &r, 1);
}

static struct scsi_disk_stats disk_stats(struct fx *f)
{
	struct scsi_disk_stats st;
	scsi_disk_get_stats(f->d, &st);
	return st;
}

/* ---- lifetime, framing ------------------------------------------------------------------ */

static void test_create_validation(void **state)
{
	struct fx *f = *state;
	struct storvsp *s = (struct storvsp *)1;
	struct storvsp_config sc = { .disk = f->d };

	assert_int_equal(storvsp_create(&sc, &s), -EINVAL);    /* no copy callback */
	assert_null(s);
	sc.mem.copy = guest_copy;
	sc.disk = NULL;
	assert_int_equal(storvsp_create(&sc, &s), -EINVAL);
	assert_int_equal(storvsp_create(NULL, &s), -EINVAL);

	/* A disk whose maximum transfer is beyond what storvsp bounces. */
	struct scsi_disk_config dc = { .max_transfer_bytes = STORVSP_MAX_TRANSFER_LIMIT + 512 };
	struct scsi_disk *big;
	scsi_disk_mem_backend(&f->m, f->disk_mem, DISK_BYTES, &dc.backend);
	assert_int_equal(scsi_disk_create(&dc, &big), 0);
	sc.disk = big;
	assert_int_equal(storvsp_create(&sc, &s), -EINVAL);
	scsi_disk_destroy(big);

	assert_int_equal(storvsp_max_transfer_bytes(f->s), SCSI_DISK_DEFAULT_MAX_TRANSFER);
	assert_int_equal(storvsp_version(f->s), 0);
	storvsp_destroy(NULL);
}

static void test_framing(void **state)
{
	struct fx *f = *state;
	struct storvsp_vstor_packet p = { .operation = STORVSP_OP_BEGIN_INITIALIZATION };
	struct storvsp_request rq = { .type = 7, .payload = &p, .payload_len = 64 };
	struct storvsp_reply rp;

	/* Not inband / GPA direct: no reply at all. */
	static const uint16_t bad_types[] = { 0, 1, 7, 8, 0xB, 0xFFFF };
	for (size_t i = 0; i < sizeof(bad_types) / sizeof(bad_types[0]); i++) {
		rq.type = bad_types[i];
		assert_int_equal(storvsp_handle(f->s, &rq, &rp), -EPROTO);
	}
	rq.type = STORVSP_PKT_INBAND;
	assert_int_equal(storvsp_handle(NULL, &rq, &rp), -EINVAL);
	assert_int_equal(storvsp_handle(f->s, NULL, &rp), -EINVAL);
	assert_int_equal(storvsp_handle(f->s, &rq, NULL), -EINVAL);
	rq.payload = NULL;
	assert_int_equal(storvsp_handle(f->s, &rq, &rp), -EINVAL);
	assert_int_equal(storvsp_get_state(f->s), STORVSP_WAIT_BEGIN);

	/* Too short for even a pre-WIN8 packet: a 48-byte INVALID_PARAMETER completion. */
	assert_int_equal(send(f, STORVSP_PKT_INBAND, &p, 47, NULL, 0),
			 STORVSP_STATUS_INVALID_PARAMETER);
	assert_int_equal(send(f, STORVSP_PKT_INBAND, NULL, 0, NULL, 0),
			 STORVSP_STATUS_INVALID_PARAMETER);
	assert_int_equal(storvsp_get_state(f->s), STORVSP_WAIT_BEGIN);
	/* A GPA-direct packet that is not an SRB. */
	assert_int_equal(send(f, STORVSP_PKT_GPA_DIRECT, &p, 64, NULL, 0),
			 STORVSP_STATUS_INVALID_PARAMETER);
	assert_int_equal(storvsp_get_state(f->s), STORVSP_WAIT_BEGIN);
	/* Longer than a vstor_packet: cut at 64, still works. */
	uint8_t big[100] = { 0 };
	memcpy(big, &p, sizeof(p));
	assert_int_equal(send(f, STORVSP_PKT_INBAND, big, sizeof(big), NULL, 0),
			 STORVSP_STATUS_SUCCESS);
	assert_int_equal(storvsp_get_state(f->s), STORVSP_WAIT_VERSION);

	struct storvsp_stats st;
	storvsp_get_stats(f->s, &st);
	assert_int_equal(st.bad_packets, 6);
	assert_int_equal(st.packets, 4);
	assert_int_equal(st.errors, 3);
}

/* ---- init -------------------------------------------------------------------------------- */

static void test_init_in_order(void **state)
{
	struct fx *f = *state;
	uint8_t rest[64];

	assert_int_equal(send_op(f, STORVSP_OP_BEGIN_INITIALIZATION, 48), STORVSP_STATUS_SUCCESS);
	assert_int_equal(f->rp.len, 48);
	assert_int_equal(storvsp_get_state(f->s), STORVSP_WAIT_VERSION);
	assert_int_equal(send_version(f, STORVSP_VERSION_WIN10, 48), STORVSP_STATUS_SUCCESS);
	assert_int_equal(f->out.u.version.major_minor, STORVSP_VERSION_WIN10);
	assert_int_equal(storvsp_version(f->s), STORVSP_VERSION_WIN10);
	assert_int_equal(storvsp_get_state(f->s), STORVSP_WAIT_PROPERTIES);

	/* Properties: the reply union is the properties, whatever the request held there. */
	struct storvsp_vstor_packet p = { .operation = STORVSP_OP_QUERY_PROPERTIES };
	memset(p.u.raw, 0x5A, sizeof(p.u.raw));
	assert_int_equal(send(f, STORVSP_PKT_INBAND, &p, 64, NULL, 0), STORVSP_STATUS_SUCCESS);
	assert_int_equal(f->rp.len, 64);
	assert_int_equal(f->out.u.properties.max_sub_channels, 0);
	assert_int_equal(f->out.u.properties.flags, 0);
	assert_int_equal(f->out.u.properties.max_transfer_bytes, 0x40000);
	assert_int_equal(f->out.u.properties.reserved, 0);
	memset(rest, 0, sizeof(rest));
	assert_memory_equal(f->out.u.raw + sizeof(struct storvsp_channel_properties), rest,
			    sizeof(f->out.u.raw) - sizeof(struct storvsp_channel_properties));
	assert_int_equal(storvsp_get_state(f->s), STORVSP_WAIT_END);

	assert_int_equal(send_op(f, STORVSP_OP_END_INITIALIZATION, 64), STORVSP_STATUS_SUCCESS);
	assert_int_equal(storvsp_get_state(f->s), STORVSP_READY);

	/* Reset for a new channel open: from the start again. */
	storvsp_reset(f->s);
	assert_int_equal(storvsp_get_state(f->s), STORVSP_WAIT_BEGIN);
	assert_int_equal(storvsp_version(f->s), 0);
	init(f);
}

static void test_version_negotiation(void **state)
{
	struct fx *f = *state;
	static const uint16_t refused[] = { 0x0000, STORVSP_VERSION_WIN6, STORVSP_VERSION_WIN7,
					    0x0500, 0x0502, 0x0601, 0x0603, 0x0700, 0xFFFF };
	static const uint16_t accepted[] = { STORVSP_VERSION_WIN8, STORVSP_VERSION_WIN81,
					     STORVSP_VERSION_WIN10 };

	for (size_t a = 0; a < 3; a++) {
		storvsp_reset(f->s);
		assert_int_equal(send_op(f, STORVSP_OP_BEGIN_INITIALIZATION, 48), 0);
		for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
			assert_int_equal(send_version(f, refused[i], 48),
					 STORVSP_STATUS_REVISION_MISMATCH);
			assert_int_equal(f->out.u.version.major_minor, refused[i]);
			assert_int_equal(storvsp_get_state(f->s), STORVSP_WAIT_VERSION);
			assert_int_equal(storvsp_version(f->s), 0);
		}
		assert_int_equal(send_version(f, accepted[a], 48), STORVSP_STATUS_SUCCESS);
		assert_int_equal(storvsp_version(f->s), accepted[a]);
		/* Once agreed, another query is out of order. */
		assert_int_equal(send_version(f, accepted[a], 64),
				 STORVSP_STATUS_INVALID_DEVICE_STATE);
		assert_int_equal(storvsp_version(f->s), accepted[a]);
	}
}

static void test_init_out_of_order(void **state)
{
	struct fx *f = *state;
	static const uint32_t ops[] = {
		STORVSP_OP_BEGIN_INITIALIZATION, STORVSP_OP_QUERY_PROTOCOL_VERSION,
		STORVSP_OP_QUERY_PROPERTIES, STORVSP_OP_END_INITIALIZATION,
		STORVSP_OP_EXECUTE_SRB, STORVSP_OP_RESET_LUN, STORVSP_OP_RESET_ADAPTER,
		STORVSP_OP_RESET_BUS, STORVSP_OP_CREATE_SUB_CHANNELS,
	};
	/* The one operation each state accepts (index into ops), then the next state. */
	static const struct { enum storvsp_state st; size_t ok; } steps[] = {
		{ STORVSP_WAIT_BEGIN, 0 }, { STORVSP_WAIT_VERSION, 1 },
		{ STORVSP_WAIT_PROPERTIES, 2 }, { STORVSP_WAIT_END, 3 },
	};

	for (size_t s = 0; s < 4; s++) {
		for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
			if (i == steps[s].ok)
				continue;
			/* CREATE_SUB_CHANNELS is allowed once the properties are known. */
			if (ops[i] == STORVSP_OP_CREATE_SUB_CHANNELS &&
			    steps[s].st == STORVSP_WAIT_END)
				continue;
			struct storvsp_vstor_packet p = { .operation = ops[i] };
			p.u.version.major_minor = STORVSP_VERSION_WIN8;
			assert_int_equal(send(f, STORVSP_PKT_INBAND, &p, 64, NULL, 0),
					 STORVSP_STATUS_INVALID_DEVICE_STATE);
			assert_int_equal(storvsp_get_state(f->s), steps[s].st);
		}
		struct storvsp_vstor_packet p = { .operation = ops[steps[s].ok] };
		p.u.version.major_minor = STORVSP_VERSION_WIN8;
		assert_int_equal(send(f, STORVSP_PKT_INBAND, &p, 64, NULL, 0), 0);
	}
	assert_int_equal(storvsp_get_state(f->s), STORVSP_READY);
	/* Ready: every init operation is out of order now. */
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(send_op(f, ops[i], 64), STORVSP_STATUS_INVALID_DEVICE_STATE);
		assert_int_equal(storvsp_get_state(f->s), STORVSP_READY);
	}
	/* And the resets succeed. */
	for (size_t i = 5; i < 8; i++)
		assert_int_equal(send_op(f, ops[i], 64), STORVSP_STATUS_SUCCESS);
}

static void test_unknown_operations(void **state)
{
	struct fx *f = *state;
	static const uint32_t ops[] = {
		0, STORVSP_OP_COMPLETE_IO, STORVSP_OP_REMOVE_DEVICE, STORVSP_OP_ENUMERATE_BUS,
		STORVSP_OP_FC_HBA_DATA, STORVSP_OP_EVENT_NOTIFICATION, 15, 0x100, 0xFFFFFFFF,
	};
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
			assert_int_equal(send_op(f, ops[i], 64),
					 STORVSP_STATUS_INVALID_DEVICE_REQUEST);
		if (pass == 0) {
			assert_int_equal(storvsp_get_state(f->s), STORVSP_WAIT_BEGIN);
			init(f);
		}
	}
	assert_int_equal(storvsp_get_state(f->s), STORVSP_READY);
}

static void test_sub_channels(void **state)
{
	struct fx *f = *state;
	struct storvsp_vstor_packet p = { .operation = STORVSP_OP_CREATE_SUB_CHANNELS };

	assert_int_equal(send(f, STORVSP_PKT_INBAND, &p, 64, NULL, 0),
			 STORVSP_STATUS_INVALID_DEVICE_STATE);
	assert_int_equal(send_op(f, STORVSP_OP_BEGIN_INITIALIZATION, 48), 0);
	assert_int_equal(send_version(f, STORVSP_VERSION_WIN8, 48), 0);
	assert_int_equal(send(f, STORVSP_PKT_INBAND, &p, 64, NULL, 0),
			 STORVSP_STATUS_INVALID_DEVICE_STATE);
	assert_int_equal(send_op(f, STORVSP_OP_QUERY_PROPERTIES, 64), 0);
	/* None offered: 0 is fine, any other count is refused. */
	assert_int_equal(send(f, STORVSP_PKT_INBAND, &p, 64, NULL, 0), STORVSP_STATUS_SUCCESS);
	p.u.sub_channel_count = 1;
	assert_int_equal(send(f, STORVSP_PKT_INBAND, &p, 64, NULL, 0),
			 STORVSP_STATUS_INVALID_PARAMETER);
	assert_int_equal(storvsp_get_state(f->s), STORVSP_WAIT_END);
	assert_int_equal(send_op(f, STORVSP_OP_END_INITIALIZATION, 64), 0);
	p.u.sub_channel_count = 0xFFFF;
	assert_int_equal(send(f, STORVSP_PKT_INBAND, &p, 64, NULL, 0),
			 STORVSP_STATUS_INVALID_PARAMETER);
	p.u.sub_channel_count = 0;
	assert_int_equal(send(f, STORVSP_PKT_INBAND, &p, 64, NULL, 0), STORVSP_STATUS_SUCCESS);
	assert_int_equal(storvsp_get_state(f->s), STORVSP_READY);
}

/* ---- SRBs -------------------------------------------------------------------------------- */

static void assert_rejected(struct fx *f, uint32_t status, uint32_t want)
{
	assert_int_equal(status, want);
	assert_int_equal(f->out.u.srb.srb_status, STORVSP_SRB_INVALID_REQUEST);
	assert_int_equal(f->out.u.srb.scsi_status, 0);
	assert_int_equal(f->out.u.srb.data_transfer_length, 0);
}

static void test_srb_before_ready(void **state)
{
	struct fx *f = *state;
	struct storvsp_vstor_packet p;
	uint8_t tur[6] = { 0 };

	srb_init(&p, tur, 6, 2, 0);
	assert_rejected(f, send(f, STORVSP_PKT_INBAND, &p, 64, NULL, 0),
			STORVSP_STATUS_INVALID_DEVICE_STATE);
	assert_int_equal(send_op(f, STORVSP_OP_BEGIN_INITIALIZATION, 48), 0);
	assert_int_equal(send_version(f, STORVSP_VERSION_WIN8, 48), 0);
	assert_int_equal(send_op(f, STORVSP_OP_QUERY_PROPERTIES, 64), 0);
	assert_rejected(f, send(f, STORVSP_PKT_INBAND, &p, 64, NULL, 0),
			STORVSP_STATUS_INVALID_DEVICE_STATE);
	assert_int_equal(disk_stats(f).commands, 0);
	assert_int_equal(send_op(f, STORVSP_OP_END_INITIALIZATION, 64), 0);
	assert_int_equal(send(f, STORVSP_PKT_INBAND, &p, 64, NULL, 0), STORVSP_STATUS_SUCCESS);
	assert_int_equal(f->out.u.srb.srb_status, STORVSP_SRB_SUCCESS);
	assert_int_equal(disk_stats(f).commands, 1);
}

static void test_srb_inband(void **state)
{
	struct fx *f = *state;
	struct storvsp_vstor_packet p;
	uint8_t tur[6] = { 0 };
	uint8_t inq[6] = { 0x12, 0, 0, 0, 36, 0 };

	init(f);
	srb_init(&p, tur, 6, 2, 0);
	assert_int_equal(send(f, STORVSP_PKT_INBAND, &p, 64, NULL, 0), 0);
	assert_int_equal(f->out.u.srb.srb_status, STORVSP_SRB_SUCCESS);
	assert_int_equal(f->out.u.srb.scsi_status, 0);
	assert_int_equal(f->out.u.srb.sense_info_length, 0);
	assert_int_equal(f->out.flags, STORVSP_FLAG_REQUEST_COMPLETION);
	assert_int_equal(f->out.u.srb.cdb_length, 6);    /* untouched fields are echoed */

	/* A data-in command without data: succeeds, nothing moved. */
	srb_init(&p, inq, 6, 1, 0);
	assert_int_equal(send(f, STORVSP_PKT_INBAND, &p, 64, NULL, 0), 0);
	assert_int_equal(f->out.u.srb.srb_status, STORVSP_SRB_SUCCESS);
	assert_int_equal(f->out.u.srb.data_transfer_length, 0);
	assert_int_equal(f->g.calls, 0);

	/* Inband with a data length: there is no buffer to move it through. */
	srb_init(&p, inq, 6, 1, 36);
	assert_rejected(f, send(f, STORVSP_PKT_INBAND, &p, 64, NULL, 0),
			STORVSP_STATUS_INVALID_PARAMETER);
	/* A pre-WIN8 sized SRB after a WIN8+ negotiation. */
	srb_init(&p, tur, 6, 2, 0);
	assert_rejected(f, send(f, STORVSP_PKT_INBAND, &p, 48, NULL, 0),
			STORVSP_STATUS_INVALID_PARAMETER);
	assert_int_equal(f->rp.len, 48);
	/* CDB length and direction limits. */
	srb_init(&p, tur, 6, 2, 0);
	p.u.srb.cdb_length = 0;
	assert_rejected(f, send(f, STORVSP_PKT_INBAND, &p, 64, NULL, 0),
			STORVSP_STATUS_INVALID_PARAMETER);
	p.u.srb.cdb_length = 17;
	assert_rejected(f, send(f, STORVSP_PKT_INBAND, &p, 64, NULL, 0),
			STORVSP_STATUS_INVALID_PARAMETER);
	p.u.srb.cdb_length = 16;    /* a 6-byte CDB in a 16-byte field: the rest is ignored */
	assert_int_equal(send(f, STORVSP_PKT_INBAND, &p, 64, NULL, 0), 0);
	assert_int_equal(f->out.u.srb.srb_status, STORVSP_SRB_SUCCESS);
	p.u.srb.cdb_length = 6;
	p.u.srb.data_in = 3;
	assert_rejected(f, send(f, STORVSP_PKT_INBAND, &p, 64, NULL, 0),
			STORVSP_STATUS_INVALID_PARAMETER);
	assert_int_equal(disk_stats(f).commands, 3);
}

static void test_srb_write_read_round_trip(void **state)
{
	struct fx *f = *state;
	struct storvsp_vstor_packet p;
	uint8_t c[10];
	/* 16 blocks from byte 0x234 of the first page: three pages, scattered and out of order. */
	const uint32_t off = 0x234, len = 16 * 512;
	const uint64_t wpfn[3] = { 0x105, 0x102, 0x10A };
	const uint64_t rpfn[3] = { 0x10F, 0x100, 0x107 };
	const uint32_t lba = 77;

	init(f);
	/* Different on every page, so a piece copied from the wrong page shows. */
	for (size_t i = 0; i < sizeof(f->g.mem); i++)
		f->g.mem[i] = (uint8_t)(i * 13 + 5 + (i / PAGE) * 0x35);
	/* What the guest means to write: the bytes of its buffer, page piece by page piece. */
	uint8_t want[16 * 512];
	size_t w = 0;
	for (size_t pg = 0; pg < 3; pg++) {
		size_t start = pg == 0 ? off : 0;
		size_t n = PAGE - start;
		if (n > len - w)
			n = len - w;
		memcpy(want + w, gpage(&f->g, wpfn[pg]) + start, n);
		w += n;
	}
	assert_int_equal(w, len);

	rw10(c, 0x2A, lba, 16);
	srb_init(&p, c, 10, 0, len);
	assert_int_equal(send_srb_gpa(f, &p, off, wpfn, 3), STORVSP_STATUS_SUCCESS);
	assert_int_equal(f->out.u.srb.srb_status, STORVSP_SRB_SUCCESS);
	assert_int_equal(f->out.u.srb.scsi_status, 0);
	assert_int_equal(f->out.u.srb.data_transfer_length, len);
	assert_memory_equal(f->disk_mem + lba * 512, want, len);
	assert_int_equal(f->g.calls, 3);
	assert_int_equal(f->g.bytes, len);

	/* Read it back into other pages, at the same offset. */
	uint8_t before[GUEST_PAGES * PAGE];
	memcpy(before, f->g.mem, sizeof(before));
	rw10(c, 0x28, lba, 16);
	srb_init(&p, c, 10, 1, len);
	assert_int_equal(send_srb_gpa(f, &p, off, rpfn, 3), STORVSP_STATUS_SUCCESS);
	assert_int_equal(f->out.u.srb.srb_status, STORVSP_SRB_SUCCESS);
	assert_int_equal(f->out.u.srb.data_transfer_length, len);
	uint8_t got[16 * 512];
	size_t r = 0;
	for (size_t pg = 0; pg < 3; pg++) {
		size_t start = pg == 0 ? off : 0;
		size_t n = PAGE - start;
		if (n > len - r)
			n = len - r;
		memcpy(got + r, gpage(&f->g, rpfn[pg]) + start, n);
		r += n;
	}
	assert_memory_equal(got, want, len);
	/* Bytes outside the range are untouched: before the offset, after the end, other pages. */
	assert_memory_equal(gpage(&f->g, 0x10F), before + 0xF * PAGE, off);
	size_t tail = off + len - 2 * PAGE;
	assert_memory_equal(gpage(&f->g, 0x107) + tail, before + 7 * PAGE + tail, PAGE - tail);
	for (uint64_t pfn = GUEST_BASE_PFN; pfn < GUEST_BASE_PFN + GUEST_PAGES; pfn++) {
		if (pfn == 0x10F || pfn == 0x100 || pfn == 0x107)
			continue;
		size_t at = (pfn - GUEST_BASE_PFN) * PAGE;
		assert_memory_equal(gpage(&f->g, pfn), before + at, PAGE);
	}

	struct storvsp_stats st;
	storvsp_get_stats(f->s, &st);
	assert_int_equal(st.bytes_from_guest, len);
	assert_int_equal(st.bytes_to_guest, len);
	assert_int_equal(st.srbs, 2);
}

/*
 * With a mapping callback, READ/WRITE data moves in guest memory in place when the range's
 * pages are consecutive (no copy callback at all); scattered pages, other commands and a
 * range the mapping refuses still go through the bounce buffer. Same bytes either way.
 */
static void test_srb_in_place(void **state)
{
	struct fx *f = *state;
	storvsp_destroy(f->s);
	struct storvsp_config sc = { .disk = f->d,
				     .mem = { .copy = guest_copy, .map = guest_map, .ctx = &f->g } };
	assert_int_equal(storvsp_create(&sc, &f->s), 0);
	init(f);
	for (size_t i = 0; i < sizeof(f->g.mem); i++)
		f->g.mem[i] = (uint8_t)(i * 11 + 1);
	struct storvsp_vstor_packet p;
	uint8_t c[10];
	const uint32_t off = 0x100, len = 8 * 512;
	const uint64_t cons[2] = { 0x104, 0x105 }, scat[2] = { 0x109, 0x103 };

	/* WRITE from consecutive pages: in place, the disk holds the guest's bytes. */
	unsigned calls = f->g.calls;
	rw10(c, 0x2A, 40, 8);
	srb_init(&p, c, 10, 0, len);
	assert_int_equal(send_srb_gpa(f, &p, off, cons, 2), STORVSP_STATUS_SUCCESS);
	assert_int_equal(f->out.u.srb.srb_status, STORVSP_SRB_SUCCESS);
	assert_memory_equal(f->disk_mem + 40 * 512, gpage(&f->g, 0x104) + off, len);
	assert_int_equal(f->g.calls, calls);
	/* READ into consecutive pages: in place. */
	memset(gpage(&f->g, 0x106), 0, 2 * PAGE);
	const uint64_t cons2[2] = { 0x106, 0x107 };
	rw10(c, 0x28, 40, 8);
	srb_init(&p, c, 10, 1, len);
	assert_int_equal(send_srb_gpa(f, &p, off, cons2, 2), STORVSP_STATUS_SUCCESS);
	assert_int_equal(f->out.u.srb.data_transfer_length, len);
	assert_memory_equal(gpage(&f->g, 0x106) + off, f->disk_mem + 40 * 512, len);
	assert_int_equal(f->g.calls, calls);
	struct storvsp_stats st;
	storvsp_get_stats(f->s, &st);
	assert_int_equal(st.in_place, 2);
	assert_int_equal(st.bytes_to_guest, len);
	assert_int_equal(st.bytes_from_guest, len);

	/* Scattered pages: the bounce buffer, piece by piece (two copy calls). */
	rw10(c, 0x28, 40, 8);
	srb_init(&p, c, 10, 1, len);
	assert_int_equal(send_srb_gpa(f, &p, off, scat, 2), STORVSP_STATUS_SUCCESS);
	assert_memory_equal(gpage(&f->g, 0x109) + off, f->disk_mem + 40 * 512, PAGE - off);
	assert_memory_equal(gpage(&f->g, 0x103), f->disk_mem + 40 * 512 + PAGE - off,
			    len - (PAGE - off));
	assert_int_equal(f->g.calls, calls + 2);
	/* A command the disk interprets (INQUIRY) never uses guest memory in place. */
	uint8_t inq[6] = { 0x12, 0, 0, 0, 36, 0 };
	srb_init(&p, inq, 6, 1, 36);
	assert_int_equal(send_srb_gpa(f, &p, 0, cons, 1), STORVSP_STATUS_SUCCESS);
	/* Pages past guest memory: the mapping says no, the copy path answers the error. */
	const uint64_t outside[2] = { GUEST_BASE_PFN + GUEST_PAGES, GUEST_BASE_PFN + GUEST_PAGES + 1 };
	rw10(c, 0x28, 40, 8);
	srb_init(&p, c, 10, 1, len);
	send_srb_gpa(f, &p, off, outside, 2);
	assert_int_not_equal(f->out.u.srb.srb_status, STORVSP_SRB_SUCCESS);
	storvsp_get_stats(f->s, &st);
	assert_int_equal(st.in_place, 2);
}

/*
 * storvsp_handle_batch against storvsp_handle: the same packets (init, in-place reads and
 * writes, a scattered read through the bounce buffer, a missing LUN, a bad type, a bad range,
 * SYNCHRONIZE CACHE) into two equal worlds, one batched over a disk backend with rw_batch:
 * the same replies, guest memory, disk and statistics, and the in-place transfers batched.
 */
struct bworld {
	uint8_t disk[DISK_BYTES];
	struct scsi_disk_mem m;
	struct scsi_disk *d;
	struct storvsp *s;
	struct guest g;
	unsigned batches, batched;
};

static int bw_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	return scsi_disk_mem_ops.read(&((struct bworld *)ctx)->m, buf, len, off);
}

static int bw_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
	return scsi_disk_mem_ops.write(&((struct bworld *)ctx)->m, buf, len, off);
}

static void bw_rw_batch(void *ctx, struct scsi_disk_io *ios, size_t n)
{
	struct bworld *w = ctx;
	w->batches++;
	w->batched += (unsigned)n;
	for (size_t i = 0; i < n; i++)
		ios[i].err = ios[i].write ? bw_write(w, ios[i].buf, ios[i].len, ios[i].offset)
					  : bw_read(w, ios[i].buf, ios[i].len, ios[i].offset);
}

static void test_handle_batch(void **state)
{
	(void)state;
	static const struct scsi_disk_backend_ops ops[2] = {
		{ .read = bw_read, .write = bw_write, .rw_batch = bw_rw_batch },
		{ .read = bw_read, .write = bw_write },
	};
	static struct bworld w[2];
	for (int k = 0; k < 2; k++) {
		memset(&w[k], 0, sizeof(w[k]));
		for (size_t i = 0; i < DISK_BYTES; i++)
			w[k].disk[i] = (uint8_t)(i * 31 + (i >> 9));
		for (size_t i = 0; i < sizeof(w[k].g.mem); i++)
			w[k].g.mem[i] = (uint8_t)(i * 11 + 1);
		struct scsi_disk_backend dummy;
		scsi_disk_mem_backend(&w[k].m, w[k].disk, DISK_BYTES, &dummy);
		struct scsi_disk_config dc = { .backend = { .ops = &ops[k], .ctx = &w[k],
							    .size = DISK_BYTES } };
		assert_int_equal(scsi_disk_create(&dc, &w[k].d), 0);
		struct storvsp_config sc = { .disk = w[k].d, .mem = { .copy = guest_copy,
								      .map = guest_map,
								      .ctx = &w[k].g } };
		assert_int_equal(storvsp_create(&sc, &w[k].s), 0);
	}
	enum { N = 16 };
	struct storvsp_vstor_packet pk[N];
	size_t plen[N];
	uint16_t type[N];
	struct storvsp_gpa_range rg[N];
	static const uint64_t pf[N][2] = {
		[5] = { 0x104, 0x105 }, [6] = { 0x106, 0x107 }, [7] = { 0x109, 0x103 },
		[8] = { 0x100 }, [9] = { 0x10A, 0x10B }, [11] = { 0x110, 0x111 },
		[13] = { 0x10C, 0x10D }, [14] = { 0x101, 0x102 }, [15] = { 0x108 },
	};
	uint8_t c[10];
	memset(pk, 0, sizeof(pk));
	for (int i = 0; i < N; i++) {
		plen[i] = 64;
		type[i] = STORVSP_PKT_GPA_DIRECT;
	}
	const uint32_t op[5] = { STORVSP_OP_BEGIN_INITIALIZATION,
				 STORVSP_OP_QUERY_PROTOCOL_VERSION, STORVSP_OP_QUERY_PROPERTIES,
				 STORVSP_OP_END_INITIALIZATION, STORVSP_OP_EXECUTE_SRB };
	for (int i = 0; i < 4; i++) {
		pk[i].operation = op[i];
		plen[i] = i < 2 ? 48 : 64;
		type[i] = STORVSP_PKT_INBAND;
	}
	pk[1].u.version.major_minor = STORVSP_VERSION_WIN10;
	rw10(c, 0x28, 8, 8);
	srb_init(&pk[4], c, 10, 1, 4096);
	pk[4].operation = STORVSP_OP_EXECUTE_SRB;
	type[4] = STORVSP_PKT_INBAND;           /* inband with data: INVALID_PARAMETER */
	rw10(c, 0x2A, 40, 8);
	srb_init(&pk[5], c, 10, 0, 4096);       /* in place */
	rw10(c, 0x28, 40, 8);
	srb_init(&pk[6], c, 10, 1, 4096);       /* in place */
	rw10(c, 0x28, 200, 8);
	srb_init(&pk[7], c, 10, 1, 4096);       /* scattered: bounce, runs alone */
	uint8_t inq[6] = { 0x12, 0, 0, 0, 36, 0 };
	srb_init(&pk[8], inq, 6, 1, 36);
	pk[8].u.srb.lun = 1;                    /* no such LUN */
	rw10(c, 0x28, 300, 8);
	srb_init(&pk[9], c, 10, 1, 4096);
	pk[10] = pk[9];
	type[10] = 0x7;                         /* not storvsp's: -EPROTO */
	rw10(c, 0x28, 300, 8);
	srb_init(&pk[11], c, 10, 1, 4096);      /* pages outside guest memory */
	uint8_t sync[10] = { 0x35 };
	srb_init(&pk[12], sync, 10, 2, 0);
	type[12] = STORVSP_PKT_INBAND;
	rw10(c, 0x2A, 500, 8);
	srb_init(&pk[13], c, 10, 0, 4096);
	rw10(c, 0x28, 600, 8);
	srb_init(&pk[14], c, 10, 1, 4096);
	rw10(c, 0x28, 700, 1);
	srb_init(&pk[15], c, 10, 1, 512);
	struct storvsp_request rq[N];
	for (int i = 0; i < N; i++) {
		/* 4 KiB at offset 0x200: two pages each (one for the 512-byte read) */
		rg[i] = (struct storvsp_gpa_range){ pk[i].u.srb.data_transfer_length,
						    i == 15 ? 0x800 : 0x200, pf[i],
						    pk[i].u.srb.data_transfer_length > 512 ? 2 : 1 };
		if (i == 8)
			rg[i] = (struct storvsp_gpa_range){ 36, 0, pf[8], 1 };
		rq[i] = (struct storvsp_request){ .type = type[i], .transaction_id = 100 + i,
						  .payload = &pk[i], .payload_len = plen[i] };
		if (type[i] == STORVSP_PKT_GPA_DIRECT || type[i] == 0x7) {
			rq[i].ranges = &rg[i];
			rq[i].range_count = 1;
		}
	}
	/* Packet 6 reads what 5 writes: order between them is not defined, so give 6 its own
	   blocks to keep the comparison exact. */
	rw10(c, 0x28, 48, 8);
	memcpy(pk[6].u.srb.cdb, c, 10);
	static struct storvsp_reply rb[N], rs;
	int rcs[N];
	assert_int_equal(storvsp_handle_batch(w[0].s, rq, N, rb, rcs), 0);
	for (int i = 0; i < N; i++) {
		int rc = storvsp_handle(w[1].s, &rq[i], &rs);
		assert_int_equal(rcs[i], rc);
		if (rc)
			continue;
		assert_int_equal(rb[i].transaction_id, rs.transaction_id);
		assert_int_equal(rb[i].len, rs.len);
		assert_memory_equal(rb[i].payload, rs.payload, rs.len);
	}
	assert_int_equal(rcs[10], -EPROTO);
	assert_int_equal(rb[4].packet.status, STORVSP_STATUS_INVALID_PARAMETER);
	assert_memory_equal(w[0].g.mem, w[1].g.mem, sizeof(w[0].g.mem));
	assert_memory_equal(w[0].disk, w[1].disk, DISK_BYTES);
	struct storvsp_stats st[2];
	struct scsi_disk_stats ds[2];
	for (int k = 0; k < 2; k++) {
		storvsp_get_stats(w[k].s, &st[k]);
		scsi_disk_get_stats(w[k].d, &ds[k]);
	}
	assert_memory_equal(&st[0], &st[1], sizeof(st[0]));
	assert_memory_equal(&ds[0], &ds[1], sizeof(ds[0]));
	/* In place, together: 5 and 6 (7 goes through the bounce buffer, so in order after
	   them); 9 alone (8, a missing LUN, ran in order before it; 10 is refused outright; 11
	   names pages outside guest memory, so it takes the copy path, in order); 13, 14 and
	   15 after SYNCHRONIZE CACHE. */
	assert_int_equal(w[0].batched, 6);
	assert_int_equal(w[0].batches, 3);
	assert_int_equal(storvsp_handle_batch(w[0].s, rq, STORVSP_BATCH_MAX + 1, rb, rcs), -EINVAL);
	assert_int_equal(storvsp_handle_batch(NULL, rq, 1, rb, rcs), -EINVAL);
	for (int k = 0; k < 2; k++) {
		storvsp_destroy(w[k].s);
		scsi_disk_destroy(w[k].d);
	}
}

/*
 * storvsp_handle_batch_async over a disk whose backend has rw_submit and answers when the test
 * says so (aw_complete); the reference is storvsp_handle_batch over a plain synchronous
 * backend. The backend's call log tells which transfers went through rw_batch (synchronously,
 * "B") and which were submitted ("S"), by first block.
 */
struct aworld {
	struct bworld w;                /* first: the bw_* ops take the ctx as a bworld */
	int submit_rc;                  /* rw_submit's answer; not 0: nothing starts */
	bool inline_done;               /* complete inside rw_submit, before it returns */
	struct scsi_disk_io *ios;       /* started, until completed */
	size_t n;
	void (*done)(void *arg);
	void *arg;
	unsigned submits;
	char log[256];
};

/* "<tag><lba>,<lba>,... " with the LBAs sorted: the order inside a call is not defined. */
static void aw_log(struct aworld *a, char tag, const struct scsi_disk_io *ios, size_t n)
{
	uint64_t lba[SCSI_DISK_BATCH_MAX];
	for (size_t i = 0; i < n; i++) {
		lba[i] = ios[i].offset / 512;
		for (size_t j = i; j > 0 && lba[j - 1] > lba[j]; j--) {
			uint64_t t = lba[j];
			lba[j] = lba[j - 1];
			lba[j - 1] = t;
		}
	}
	size_t at = strlen(a->log);
	at += (size_t)snprintf(a->log + at, sizeof(a->log) - at, "%c", tag);
	for (size_t i = 0; i < n && at < sizeof(a->log); i++)
		at += (size_t)snprintf(a->log + at, sizeof(a->log) - at, i ? ",%llu" : "%llu",
				       (unsigned long long)lba[i]);
	if (at < sizeof(a->log))
		snprintf(a->log + at, sizeof(a->log) - at, " ");
}

static void aw_rw_batch(void *ctx, struct scsi_disk_io *ios, size_t n)
{
	aw_log(ctx, 'B', ios, n);
	bw_rw_batch(ctx, ios, n);
}

/* The device answers everything started, then done(). */
static void aw_complete(struct aworld *a)
{
	assert_non_null(a->ios);
	for (size_t i = 0; i < a->n; i++)
		a->ios[i].err = a->ios[i].write ? bw_write(a, a->ios[i].buf, a->ios[i].len,
							   a->ios[i].offset)
						: bw_read(a, a->ios[i].buf, a->ios[i].len,
							  a->ios[i].offset);
	a->ios = NULL;
	a->done(a->arg);
}

static int aw_rw_submit(void *ctx, struct scsi_disk_io *ios, size_t n, void (*done)(void *arg),
			void *arg)
{
	struct aworld *a = ctx;
	a->submits++;
	if (a->submit_rc)
		return a->submit_rc;
	aw_log(a, 'S', ios, n);
	a->ios = ios;
	a->n = n;
	a->done = done;
	a->arg = arg;
	if (a->inline_done)
		aw_complete(a);
	return 0;
}

static void count_done(void *arg)
{
	(*(unsigned *)arg)++;
}

static const struct scsi_disk_backend_ops aw_async_ops = {
	.read = bw_read, .write = bw_write, .rw_batch = aw_rw_batch, .rw_submit = aw_rw_submit,
};
static const struct scsi_disk_backend_ops aw_batch_ops = {
	.read = bw_read, .write = bw_write, .rw_batch = aw_rw_batch,
};
static const struct scsi_disk_backend_ops aw_sync_ops = { .read = bw_read, .write = bw_write };

/* A world over `ops`, its storvsp with the mapping, and ready (init done packet by packet). */
static void aw_init(struct aworld *a, const struct scsi_disk_backend_ops *ops)
{
	memset(a, 0, sizeof(*a));
	struct bworld *w = &a->w;
	for (size_t i = 0; i < DISK_BYTES; i++)
		w->disk[i] = (uint8_t)(i * 31 + (i >> 9));
	for (size_t i = 0; i < sizeof(w->g.mem); i++)
		w->g.mem[i] = (uint8_t)(i * 11 + 1);
	struct scsi_disk_backend dummy;
	scsi_disk_mem_backend(&w->m, w->disk, DISK_BYTES, &dummy);
	struct scsi_disk_config dc = { .backend = { .ops = ops, .ctx = a, .size = DISK_BYTES } };
	assert_int_equal(scsi_disk_create(&dc, &w->d), 0);
	struct storvsp_config sc = { .disk = w->d, .mem = { .copy = guest_copy, .map = guest_map,
							     .ctx = &w->g } };
	assert_int_equal(storvsp_create(&sc, &w->s), 0);
	const uint32_t ops_init[4] = { STORVSP_OP_BEGIN_INITIALIZATION,
				       STORVSP_OP_QUERY_PROTOCOL_VERSION,
				       STORVSP_OP_QUERY_PROPERTIES,
				       STORVSP_OP_END_INITIALIZATION };
	for (int i = 0; i < 4; i++) {
		struct storvsp_vstor_packet p = { .operation = ops_init[i] };
		p.u.version.major_minor = STORVSP_VERSION_WIN10;
		struct storvsp_request rq = { .type = STORVSP_PKT_INBAND, .transaction_id = 1 + i,
					      .payload = &p, .payload_len = 64 };
		struct storvsp_reply rp;
		assert_int_equal(storvsp_handle(w->s, &rq, &rp), 0);
		assert_int_equal(rp.packet.status, STORVSP_STATUS_SUCCESS);
	}
	assert_int_equal(storvsp_get_state(w->s), STORVSP_READY);
}

static void aw_fini(struct aworld *a)
{
	assert_false(a->w.g.bad_call);
	assert_null(a->ios);    /* nothing left outstanding */
	storvsp_destroy(a->w.s);
	scsi_disk_destroy(a->w.d);
}

/* A batch of packets with their ranges (transaction ids 100 + i). */
struct abatch {
	size_t n;
	struct storvsp_vstor_packet pk[STORVSP_BATCH_MAX + 1];
	uint64_t pf[STORVSP_BATCH_MAX + 1][2];
	struct storvsp_gpa_range rg[STORVSP_BATCH_MAX + 1];
	struct storvsp_request rq[STORVSP_BATCH_MAX + 1];
};

/* A GPA-direct SRB: len bytes at `off` in npfn consecutive pages from pfn (in place). */
static size_t ab_srb(struct abatch *b, const uint8_t *cdb, size_t cdb_len, uint8_t data_in,
		     uint32_t len, uint32_t off, uint64_t pfn, size_t npfn)
{
	size_t i = b->n++;
	assert_true(i <= STORVSP_BATCH_MAX && npfn <= 2);
	srb_init(&b->pk[i], cdb, cdb_len, data_in, len);
	for (size_t k = 0; k < npfn; k++)
		b->pf[i][k] = pfn + k;
	b->rg[i] = (struct storvsp_gpa_range){ len, off, b->pf[i], npfn };
	b->rq[i] = (struct storvsp_request){ .type = STORVSP_PKT_GPA_DIRECT,
					     .transaction_id = 100 + i, .payload = &b->pk[i],
					     .payload_len = sizeof(b->pk[i]), .ranges = &b->rg[i],
					     .range_count = 1 };
	return i;
}

static void rw16(uint8_t *c, uint8_t op, uint64_t lba, uint32_t blocks)
{
	memset(c, 0, 16);
	c[0] = op;
	for (int k = 0; k < 8; k++)
		c[2 + k] = (uint8_t)(lba >> (56 - 8 * k));
	for (int k = 0; k < 4; k++)
		c[10 + k] = (uint8_t)(blocks >> (24 - 8 * k));
}

/*
 * The batch of test_handle_batch_async: in-place READ/WRITEs (0-2), an INQUIRY the disk
 * interprets (3: bounce buffer, in order), a packet type that is not storvsp's (4), then the
 * last run of in-place READ/WRITEs (5-9), 9 past the end of the disk. Every packet has its own
 * guest pages and blocks: the order among the batched ones is not defined.
 */
enum { AB_TRAIL = 5, AB_N = 10 };

static void ab_build(struct abatch *b)
{
	uint8_t c[16];
	memset(b, 0, sizeof(*b));
	rw10(c, 0x2A, 40, 8);
	ab_srb(b, c, 10, 0, 4096, 0x200, 0x104, 2);
	rw10(c, 0x28, 48, 8);
	ab_srb(b, c, 10, 1, 4096, 0x200, 0x106, 2);
	rw16(c, 0x88, 64, 8);
	ab_srb(b, c, 16, 1, 4096, 0x200, 0x10A, 2);
	static const uint8_t inq[6] = { 0x12, 0, 0, 0, 36, 0 };
	ab_srb(b, inq, 6, 1, 36, 0, 0x100, 1);
	rw10(c, 0x28, 300, 8);
	size_t bad = ab_srb(b, c, 10, 1, 4096, 0x200, 0x103, 2);
	b->rq[bad].type = 0x7;
	rw10(c, 0x2A, 500, 8);
	ab_srb(b, c, 10, 0, 4096, 0x200, 0x10C, 2);
	rw10(c, 0x28, 600, 8);
	ab_srb(b, c, 10, 1, 4096, 0x200, 0x101, 2);
	rw10(c, 0x28, 700, 1);
	ab_srb(b, c, 10, 1, 512, 0x800, 0x108, 1);
	rw16(c, 0x8A, 800, 8);
	ab_srb(b, c, 16, 0, 4096, 0x200, 0x10E, 2);
	rw10(c, 0x28, DISK_BYTES / 512 - 4, 8);
	ab_srb(b, c, 10, 1, 4096, 0, 0x109, 1);
	assert_int_equal(b->n, AB_N);
}

/* Both worlds after their batch: replies (all, untouched ones too), guest memory, disk, stats. */
static void assert_worlds_equal(struct aworld *a, struct aworld *r, const struct storvsp_reply *ra,
				const struct storvsp_reply *rr, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(ra[i].transaction_id, rr[i].transaction_id);
		assert_int_equal(ra[i].len, rr[i].len);
		assert_memory_equal(ra[i].payload, rr[i].payload, sizeof(rr[i].payload));
	}
	assert_memory_equal(a->w.g.mem, r->w.g.mem, sizeof(a->w.g.mem));
	assert_memory_equal(a->w.disk, r->w.disk, DISK_BYTES);
	struct storvsp_stats st[2];
	struct scsi_disk_stats ds[2];
	storvsp_get_stats(a->w.s, &st[0]);
	storvsp_get_stats(r->w.s, &st[1]);
	assert_memory_equal(&st[0], &st[1], sizeof(st[0]));
	scsi_disk_get_stats(a->w.d, &ds[0]);
	scsi_disk_get_stats(r->w.d, &ds[1]);
	assert_memory_equal(&ds[0], &ds[1], sizeof(ds[0]));
}

static void test_handle_batch_async(void **state)
{
	(void)state;
	static struct aworld w[2];
	static struct abatch b;
	static struct storvsp_reply ra[AB_N], rr[AB_N];
	static struct storvsp_async as;
	int rca[AB_N], rcr[AB_N];
	unsigned dones = 0;
	aw_init(&w[0], &aw_async_ops);
	aw_init(&w[1], &aw_sync_ops);
	ab_build(&b);
	memset(ra, 0xEE, sizeof(ra));
	memset(rr, 0xEE, sizeof(rr));
	static struct guest g0;
	static uint8_t disk0[DISK_BYTES];
	memcpy(&g0, &w[0].w.g, sizeof(g0));
	memcpy(disk0, w[0].w.disk, DISK_BYTES);

	/* The reference first: the asynchronous answers given at once are compared as they come. */
	assert_int_equal(storvsp_handle_batch(w[1].w.s, b.rq, AB_N, rr, rcr), 0);
	assert_int_equal(storvsp_handle_batch_async(w[0].w.s, b.rq, AB_N, ra, rca, &as, count_done,
						    &dones), 1);
	/* 0-2 went through rw_batch before the INQUIRY; 5-8 were submitted (9 is out of range). */
	assert_string_equal(w[0].log, "B40,48,64 S500,600,700,800 ");
	assert_int_equal(w[0].submits, 1);
	assert_int_equal(dones, 0);
	for (size_t i = 0; i < AB_N; i++) {
		if (i >= AB_TRAIL) {
			assert_int_equal(rca[i], STORVSP_PENDING);
			continue;
		}
		assert_int_equal(rca[i], rcr[i]);
		assert_int_equal(ra[i].transaction_id, rr[i].transaction_id);
		assert_int_equal(ra[i].len, rr[i].len);
		assert_memory_equal(ra[i].payload, rr[i].payload, sizeof(rr[i].payload));
	}
	assert_int_equal(rca[4], -EPROTO);
	/* Outstanding: the pending reads' guest bytes and the pending writes' blocks untouched. */
	assert_memory_equal(gpage(&w[0].w.g, 0x101) + 0x200, gpage(&g0, 0x101) + 0x200, 4096);
	assert_memory_equal(gpage(&w[0].w.g, 0x108) + 0x800, gpage(&g0, 0x108) + 0x800, 512);
	assert_memory_equal(w[0].w.disk + 500 * 512, disk0 + 500 * 512, 4096);
	assert_memory_equal(w[0].w.disk + 800 * 512, disk0 + 800 * 512, 4096);

	aw_complete(&w[0]);
	assert_int_equal(dones, 1);
	storvsp_finish(w[0].w.s, &as);
	for (size_t i = AB_TRAIL; i < AB_N; i++) {
		assert_int_equal(rca[i], STORVSP_PENDING);    /* rcs stay as they were */
		assert_int_equal(rcr[i], 0);
	}
	assert_worlds_equal(&w[0], &w[1], ra, rr, AB_N);
	/* What the comparison covers really happened: data moved, 9 failed its range check. */
	assert_memory_equal(gpage(&w[0].w.g, 0x101) + 0x200, w[0].w.disk + 600 * 512, 4096);
	assert_memory_equal(w[0].w.disk + 800 * 512, gpage(&w[0].w.g, 0x10E) + 0x200, 4096);
	assert_int_equal(ra[9].packet.u.srb.scsi_status, SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(ra[8].packet.u.srb.srb_status, STORVSP_SRB_SUCCESS);
	assert_int_equal(ra[8].packet.u.srb.data_transfer_length, 4096);
	assert_string_equal(w[0].log, "B40,48,64 S500,600,700,800 ");    /* nothing more */
	/* The statistics themselves, not only equal (the reference batches the same way): */
	struct storvsp_stats st;
	storvsp_get_stats(w[0].w.s, &st);
	assert_int_equal(st.packets, 4 + AB_N - 1);             /* init, all but the bad type */
	assert_int_equal(st.bad_packets, 1);
	assert_int_equal(st.errors, 0);
	assert_int_equal(st.srbs, AB_N - 1);
	assert_int_equal(st.in_place, AB_N - 2);                /* not the INQUIRY */
	assert_int_equal(st.bytes_from_guest, 3 * 4096);        /* writes 0, 5, 8 */
	assert_int_equal(st.bytes_to_guest, 4096 + 4096 + 36 + 4096 + 512);    /* 1, 2, 3, 6, 7 */

	/* done() inside rw_submit, on this thread before it returns: still 1, then finish. */
	w[0].inline_done = true;
	dones = 0;
	memset(&b, 0, sizeof(b));
	uint8_t c[10];
	rw10(c, 0x28, 500, 8);                      /* what the first batch wrote */
	ab_srb(&b, c, 10, 1, 4096, 0x200, 0x104, 2);
	rw10(c, 0x28, 800, 8);
	ab_srb(&b, c, 10, 1, 4096, 0x100, 0x106, 2);
	rw10(c, 0x2A, 900, 2);
	ab_srb(&b, c, 10, 0, 1024, 0xF00, 0x10A, 2);
	memset(ra, 0xEE, sizeof(ra));
	memset(rr, 0xEE, sizeof(rr));
	assert_int_equal(storvsp_handle_batch(w[1].w.s, b.rq, b.n, rr, rcr), 0);
	assert_int_equal(storvsp_handle_batch_async(w[0].w.s, b.rq, b.n, ra, rca, &as, count_done,
						    &dones), 1);
	assert_int_equal(dones, 1);
	for (size_t i = 0; i < b.n; i++)
		assert_int_equal(rca[i], STORVSP_PENDING);
	storvsp_finish(w[0].w.s, &as);
	assert_worlds_equal(&w[0], &w[1], ra, rr, AB_N);
	assert_memory_equal(gpage(&w[0].w.g, 0x104) + 0x200, w[0].w.disk + 500 * 512, 4096);
	assert_string_equal(w[0].log, "B40,48,64 S500,600,700,800 S500,800,900 ");
	for (int k = 0; k < 2; k++)
		aw_fini(&w[k]);
}

/*
 * When nothing can be left outstanding, storvsp_handle_batch_async is storvsp_handle_batch
 * (returns 0, done never runs): a backend without rw_submit (rw_batch only, or neither), one
 * whose rw_submit refuses, a last run the disk answers entirely before the backend, and a last
 * run with a FUA WRITE (the disk will not submit it).
 */
static void test_handle_batch_async_sync_disk(void **state)
{
	(void)state;
	static struct aworld w[2];
	static struct abatch b;
	static struct storvsp_reply ra[AB_N], rr[AB_N];
	static struct storvsp_async as;
	enum { BATCH_ONLY, PLAIN, REFUSES, ALL_BEFORE, FUA, VARIANTS };
	static const char *const want_log[VARIANTS] = {
		[BATCH_ONLY] = "B40,48,64 B500,600,700,800 ",
		[PLAIN] = "",
		[REFUSES] = "B40,48,64 B500,600,700,800 ",
		[ALL_BEFORE] = "B40,48,64 ",
		[FUA] = "B40,48,64 B600,700,800 ",      /* the FUA WRITE alone, by write() */
	};
	for (int v = 0; v < VARIANTS; v++) {
		int rca[AB_N], rcr[AB_N];
		unsigned dones = 0;
		aw_init(&w[0], v == BATCH_ONLY ? &aw_batch_ops : v == PLAIN ? &aw_sync_ops
									 : &aw_async_ops);
		aw_init(&w[1], &aw_sync_ops);
		ab_build(&b);
		if (v == REFUSES)
			w[0].submit_rc = -EAGAIN;
		if (v == ALL_BEFORE)
			for (size_t i = AB_TRAIL; i < AB_N; i++)
				b.pk[i].u.srb.cdb[2] = 0xFF;    /* LBA past the end */
		if (v == FUA)
			b.pk[AB_TRAIL].u.srb.cdb[1] = 0x08;
		memset(ra, 0xEE, sizeof(ra));
		memset(rr, 0xEE, sizeof(rr));
		assert_int_equal(storvsp_handle_batch_async(w[0].w.s, b.rq, AB_N, ra, rca, &as,
							    count_done, &dones), 0);
		assert_int_equal(storvsp_handle_batch(w[1].w.s, b.rq, AB_N, rr, rcr), 0);
		assert_int_equal(dones, 0);
		assert_memory_equal(rca, rcr, sizeof(rca));
		assert_worlds_equal(&w[0], &w[1], ra, rr, AB_N);
		assert_string_equal(w[0].log, want_log[v]);
		assert_int_equal(w[0].submits, v == REFUSES ? 1 : 0);
		for (int k = 0; k < 2; k++)
			aw_fini(&w[k]);
	}
}

static void test_handle_batch_async_args(void **state)
{
	(void)state;
	static struct aworld w;
	static struct abatch b;
	static struct storvsp_reply rp[STORVSP_BATCH_MAX + 1];
	static struct storvsp_async as;
	int rcs[STORVSP_BATCH_MAX + 1];
	unsigned dones = 0;
	aw_init(&w, &aw_async_ops);
	uint8_t c[10];
	for (size_t i = 0; i < STORVSP_BATCH_MAX + 1; i++) {
		rw10(c, 0x28, (uint32_t)i, 1);
		ab_srb(&b, c, 10, 1, 512, 0, 0x100 + i % GUEST_PAGES, 1);
	}
	struct storvsp_stats st0, st1;
	storvsp_get_stats(w.w.s, &st0);
	memset(rcs, 0x55, sizeof(rcs));
	assert_int_equal(storvsp_handle_batch_async(NULL, b.rq, 1, rp, rcs, &as, count_done,
						    &dones), -EINVAL);
	assert_int_equal(storvsp_handle_batch_async(w.w.s, b.rq, 1, rp, rcs, NULL, count_done,
						    &dones), -EINVAL);
	assert_int_equal(storvsp_handle_batch_async(w.w.s, b.rq, 1, rp, rcs, &as, NULL, &dones),
			 -EINVAL);
	assert_int_equal(storvsp_handle_batch_async(w.w.s, b.rq, STORVSP_BATCH_MAX + 1, rp, rcs,
						    &as, count_done, &dones), -EINVAL);
	assert_int_equal(storvsp_handle_batch_async(w.w.s, NULL, 1, rp, rcs, &as, count_done,
						    &dones), -EINVAL);
	assert_int_equal(storvsp_handle_batch_async(w.w.s, b.rq, 1, NULL, rcs, &as, count_done,
						    &dones), -EINVAL);
	assert_int_equal(storvsp_handle_batch_async(w.w.s, b.rq, 1, rp, NULL, &as, count_done,
						    &dones), -EINVAL);
	/* Nothing ran. */
	storvsp_get_stats(w.w.s, &st1);
	assert_memory_equal(&st0, &st1, sizeof(st0));
	assert_int_equal(w.submits, 0);
	assert_string_equal(w.log, "");
	assert_int_equal(dones, 0);
	for (size_t i = 0; i < STORVSP_BATCH_MAX + 1; i++)
		assert_int_equal(rcs[i], 0x55555555);
	/* No packets: nothing outstanding. */
	assert_int_equal(storvsp_handle_batch_async(w.w.s, b.rq, 0, rp, rcs, &as, count_done,
						    &dones), 0);
	/* The largest batch: all of it outstanding at once. */
	assert_int_equal(storvsp_handle_batch_async(w.w.s, b.rq, STORVSP_BATCH_MAX, rp, rcs, &as,
						    count_done, &dones), 1);
	assert_int_equal(w.n, STORVSP_BATCH_MAX);
	aw_complete(&w);
	storvsp_finish(w.w.s, &as);
	assert_int_equal(dones, 1);
	for (size_t i = 0; i < STORVSP_BATCH_MAX; i++) {
		assert_int_equal(rcs[i], STORVSP_PENDING);
		assert_int_equal(rp[i].transaction_id, 100 + i);
		assert_int_equal(rp[i].packet.u.srb.srb_status, STORVSP_SRB_SUCCESS);
	}
	aw_fini(&w);
}

static void test_srb_underrun(void **state)
{
	struct fx *f = *state;
	struct storvsp_vstor_packet p;
	uint8_t inq[6] = { 0x12, 0, 0, 0, 255, 0 };
	const uint64_t pfn[1] = { 0x103 };

	init(f);
	memset(f->g.mem, 0xAA, sizeof(f->g.mem));
	srb_init(&p, inq, 6, 1, 255);
	assert_int_equal(send_srb_gpa(f, &p, 0x10, pfn, 1), 0);
	assert_int_equal(f->out.u.srb.srb_status, STORVSP_SRB_SUCCESS);
	assert_int_equal(f->out.u.srb.data_transfer_length, 36);
	uint8_t *g = gpage(&f->g, 0x103) + 0x10;
	assert_memory_equal(g + 8, "Mezz    ", 8);
	assert_int_equal(g[36], 0xAA);    /* only what was moved is copied */

	/* REPORT LUNS through the SRB path: LUN 0 only. */
	uint8_t rl[12] = { 0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0 };
	srb_init(&p, rl, 12, 1, 64);
	assert_int_equal(send_srb_gpa(f, &p, 0, pfn, 1), 0);
	assert_int_equal(f->out.u.srb.data_transfer_length, 16);
	g = gpage(&f->g, 0x103);
	assert_int_equal(g[3], 8);
}

/* A GPA-direct SRB the transport checks must refuse. */
static void assert_bad_gpa(struct fx *f, const struct storvsp_vstor_packet *p,
			   const struct storvsp_gpa_range *r, size_t nr)
{
	assert_rejected(f, send(f, STORVSP_PKT_GPA_DIRECT, p, 64, r, nr),
			STORVSP_STATUS_INVALID_PARAMETER);
}

static void test_srb_bad_ranges(void **state)
{
	struct fx *f = *state;
	struct storvsp_vstor_packet p;
	uint8_t c[10];
	const uint64_t pfns[4] = { 0x101, 0x102, 0x103, 0x104 };
	struct storvsp_gpa_range r;
	const uint8_t saved = f->disk_mem[5 * 512];

	init(f);
	memset(f->g.mem, 0x42, sizeof(f->g.mem));
	rw10(c, 0x2A, 5, 8);    /* 4096 bytes */
	srb_init(&p, c, 10, 0, 4096);

	/* byte_count != data_transfer_length (both ways). */
	r = (struct storvsp_gpa_range){ .byte_count = 4095, .pfns = pfns, .pfn_count = 1 };
	assert_bad_gpa(f, &p, &r, 1);
	r.byte_count = 4097;
	r.pfn_count = 2;
	assert_bad_gpa(f, &p, &r, 1);
	/* pfn count: offset 0 needs 1, offset 1 needs 2. */
	r.byte_count = 4096;
	r.pfn_count = 2;
	assert_bad_gpa(f, &p, &r, 1);
	r.byte_offset = 1;
	r.pfn_count = 1;
	assert_bad_gpa(f, &p, &r, 1);
	r.pfn_count = 3;
	assert_bad_gpa(f, &p, &r, 1);
	r.pfn_count = 2;
	r.pfns = NULL;
	assert_bad_gpa(f, &p, &r, 1);
	r.pfns = pfns;
	/* Offset must be inside the first page. */
	r.byte_offset = 4096;
	r.pfn_count = 2;
	assert_bad_gpa(f, &p, &r, 1);
	r.byte_offset = 0xFFFFFFFF;
	r.pfn_count = 1;
	assert_bad_gpa(f, &p, &r, 1);
	/* Range count must be exactly one. */
	r = (struct storvsp_gpa_range){ .byte_count = 4096, .pfns = pfns, .pfn_count = 1 };
	struct storvsp_gpa_range two[2] = { r, r };
	assert_bad_gpa(f, &p, two, 2);
	assert_bad_gpa(f, &p, NULL, 0);
	/* A pfn whose address does not fit in 64 bits never reaches the callback. */
	const uint64_t huge[1] = { 1ull << 52 };
	r.pfns = huge;
	assert_bad_gpa(f, &p, &r, 1);
	assert_int_equal(f->g.calls, 0);
	/* Transfer longer than the advertised maximum (the range matches it). */
	uint64_t many[66];
	for (size_t i = 0; i < 66; i++)
		many[i] = 0x100 + (i % 16);
	srb_init(&p, c, 10, 0, 0x40000 + 512);
	r = (struct storvsp_gpa_range){ .byte_count = 0x40000 + 512, .pfns = many,
					.pfn_count = 65 };
	assert_bad_gpa(f, &p, &r, 1);
	/* Data with the no-data direction. */
	srb_init(&p, c, 10, 2, 4096);
	r = (struct storvsp_gpa_range){ .byte_count = 4096, .pfns = pfns, .pfn_count = 1 };
	assert_bad_gpa(f, &p, &r, 1);
	assert_int_equal(f->g.calls, 0);
	assert_int_equal(disk_stats(f).commands, 0);

	/* A pfn outside guest memory, as the callback reports: write never reaches the disk. */
	srb_init(&p, c, 10, 0, 4096);
	const uint64_t outside[2] = { 0x101, 0x200 };
	r = (struct storvsp_gpa_range){ .byte_count = 4096, .byte_offset = 0x800, .pfns = outside,
					.pfn_count = 2 };
	assert_bad_gpa(f, &p, &r, 1);
	assert_int_equal(disk_stats(f).commands, 0);
	assert_int_equal(f->disk_mem[5 * 512], saved);
	/* Read into it: the disk ran, the completion still reports the failure. */
	rw10(c, 0x28, 5, 8);
	srb_init(&p, c, 10, 1, 4096);
	assert_bad_gpa(f, &p, &r, 1);
	/* The first piece (before the failing page) was delivered, as documented. */
	assert_memory_equal(gpage(&f->g, 0x101) + 0x800, f->disk_mem + 5 * 512, 0x800);

	/* A consistent empty range with no data is fine. */
	uint8_t tur[6] = { 0 };
	srb_init(&p, tur, 6, 2, 0);
	r = (struct storvsp_gpa_range){ .byte_count = 0, .pfns = NULL, .pfn_count = 0 };
	assert_int_equal(send(f, STORVSP_PKT_GPA_DIRECT, &p, 64, &r, 1), 0);
	assert_int_equal(f->out.u.srb.srb_status, STORVSP_SRB_SUCCESS);
	/* The instance still works. */
	rw10(c, 0x28, 5, 8);
	srb_init(&p, c, 10, 1, 4096);
	r = (struct storvsp_gpa_range){ .byte_count = 4096, .pfns = pfns + 3, .pfn_count = 1 };
	assert_int_equal(send(f, STORVSP_PKT_GPA_DIRECT, &p, 64, &r, 1), 0);
	assert_int_equal(f->out.u.srb.srb_status, STORVSP_SRB_SUCCESS);
	assert_memory_equal(gpage(&f->g, 0x104), f->disk_mem + 5 * 512, 4096);
}

static void test_srb_invalid_lun(void **state)
{
	struct fx *f = *state;
	struct storvsp_vstor_packet p;
	uint8_t inq[6] = { 0x12, 0, 0, 0, 36, 0 };
	uint8_t tur[6] = { 0 };
	uint8_t rl[12] = { 0xA0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0 };
	const uint64_t pfn[1] = { 0x100 };

	init(f);
	for (int which = 0; which < 4; which++) {
		memset(f->g.mem, 0xAA, sizeof(f->g.mem));
		srb_init(&p, inq, 6, 1, 36);
		uint8_t *addr = which == 0 ? &p.u.srb.lun : which == 1 ? &p.u.srb.target_id :
				which == 2 ? &p.u.srb.path_id : &p.u.srb.lun;
		*addr = which == 3 ? 0xFF : 1;
		/* INQUIRY: no device here (qualifier 011b, type 1Fh), not a failure. */
		assert_int_equal(send_srb_gpa(f, &p, 0, pfn, 1), STORVSP_STATUS_SUCCESS);
		assert_int_equal(f->out.u.srb.srb_status, STORVSP_SRB_SUCCESS);
		assert_int_equal(f->out.u.srb.scsi_status, SCSI_STATUS_GOOD);
		assert_int_equal(f->out.u.srb.data_transfer_length, 36);
		assert_int_equal(gpage(&f->g, 0x100)[0], 0x7F);
		/* Anything else: CHECK CONDITION, LOGICAL UNIT NOT SUPPORTED, never INVALID_LUN. */
		uint8_t a = p.u.srb.path_id, t = p.u.srb.target_id, l = p.u.srb.lun;
		srb_init(&p, tur, 6, 2, 0);
		p.u.srb.path_id = a;
		p.u.srb.target_id = t;
		p.u.srb.lun = l;
		assert_int_equal(send(f, STORVSP_PKT_INBAND, &p, sizeof(p), NULL, 0), 0);
		assert_int_equal(f->out.u.srb.srb_status,
				 STORVSP_SRB_ERROR | STORVSP_SRB_AUTOSENSE_VALID);
		assert_int_equal(f->out.u.srb.scsi_status, SCSI_STATUS_CHECK_CONDITION);
		assert_int_equal(f->out.u.srb.cdb[0], 0x70);
		assert_int_equal(f->out.u.srb.cdb[2] & 0xF, 0x05);
		assert_int_equal(f->out.u.srb.cdb[12], 0x25);
		assert_int_equal(f->out.u.srb.sense_info_length, 18);
		srb_init(&p, rl, 12, 1, 16);
		p.u.srb.target_id = 1;
		p.u.srb.srb_flags |= STORVSP_SRB_FLAGS_DISABLE_AUTOSENSE;
		assert_int_equal(send_srb_gpa(f, &p, 0, pfn, 1), 0);
		assert_int_equal(f->out.u.srb.srb_status, STORVSP_SRB_ERROR);
		assert_int_equal(f->out.u.srb.sense_info_length, 0);
		assert_int_equal(f->out.u.srb.data_transfer_length, 0);
	}
	assert_int_equal(disk_stats(f).commands, 0);
	/* port_number is not an address here. */
	srb_init(&p, inq, 6, 1, 36);
	p.u.srb.port_number = 3;
	assert_int_equal(send_srb_gpa(f, &p, 0, pfn, 1), 0);
	assert_int_equal(f->out.u.srb.srb_status, STORVSP_SRB_SUCCESS);
	assert_int_equal(gpage(&f->g, 0x100)[0], 0x00); /* the disk: direct access */
	struct storvsp_stats st;
	storvsp_get_stats(f->s, &st);
	assert_int_equal(st.invalid_lun, 12);
}

static void test_srb_sense(void **state)
{
	struct fx *f = *state;
	struct storvsp_vstor_packet p;
	uint8_t c[10];
	const uint64_t pfn[1] = { 0x100 };

	init(f);
	/* READ past the end: CHECK CONDITION with autosense in the SRB's sense area. */
	rw10(c, 0x28, DISK_BYTES / 512, 1);
	srb_init(&p, c, 10, 1, 512);
	assert_int_equal(send_srb_gpa(f, &p, 0, pfn, 1), STORVSP_STATUS_SUCCESS);
	assert_int_equal(f->out.u.srb.srb_status, STORVSP_SRB_ERROR | STORVSP_SRB_AUTOSENSE_VALID);
	assert_int_equal(f->out.u.srb.scsi_status, SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(f->out.u.srb.data_transfer_length, 0);
	assert_int_equal(f->out.u.srb.sense_info_length, 18);
	const uint8_t *sense = f->rp.payload + 12 + 16;    /* vstor_packet union + SRB offset 16 */
	assert_int_equal(sense[0], 0x70);
	assert_int_equal(sense[2], SCSI_SENSE_ILLEGAL_REQUEST);
	assert_int_equal(sense[7], 10);
	assert_int_equal(sense[12], SCSI_ASC_LBA_OUT_OF_RANGE);
	assert_int_equal(sense[13], 0);
	assert_int_equal(sense[18], 0);    /* the rest of the 20-byte area is cleared */
	assert_int_equal(sense[19], 0);

	/* Unknown opcode. */
	uint8_t bad[6] = { 0x04 };
	srb_init(&p, bad, 6, 2, 0);
	assert_int_equal(send(f, STORVSP_PKT_INBAND, &p, 64, NULL, 0), 0);
	assert_int_equal(f->out.u.srb.srb_status, STORVSP_SRB_ERROR | STORVSP_SRB_AUTOSENSE_VALID);
	assert_int_equal(f->out.u.srb.cdb[12], SCSI_ASC_INVALID_OPCODE);

	/* Less sense room than 18 bytes: only that much. */
	srb_init(&p, bad, 6, 2, 0);
	p.u.srb.sense_info_length = 8;
	memset(p.u.srb.cdb + 6, 0x77, sizeof(p.u.srb.cdb) - 6);
	assert_int_equal(send(f, STORVSP_PKT_INBAND, &p, 64, NULL, 0), 0);
	assert_int_equal(f->out.u.srb.sense_info_length, 8);
	assert_int_equal(f->out.u.srb.cdb[0], 0x70);
	assert_int_equal(f->out.u.srb.cdb[8], 0);
	assert_int_equal(f->out.u.srb.cdb[12], 0);
	/* A claim of more room than the area has: capped at the sense length. */
	p.u.srb.sense_info_length = 255;
	assert_int_equal(send(f, STORVSP_PKT_INBAND, &p, 64, NULL, 0), 0);
	assert_int_equal(f->out.u.srb.sense_info_length, 18);
	/* No room, or autosense disabled: ERROR without AUTOSENSE_VALID. */
	p.u.srb.sense_info_length = 0;
	assert_int_equal(send(f, STORVSP_PKT_INBAND, &p, 64, NULL, 0), 0);
	assert_int_equal(f->out.u.srb.srb_status, STORVSP_SRB_ERROR);
	assert_int_equal(f->out.u.srb.scsi_status, SCSI_STATUS_CHECK_CONDITION);
	p.u.srb.sense_info_length = 20;
	p.u.srb.srb_flags = STORVSP_SRB_FLAGS_DISABLE_AUTOSENSE;
	assert_int_equal(send(f, STORVSP_PKT_INBAND, &p, 64, NULL, 0), 0);
	assert_int_equal(f->out.u.srb.srb_status, STORVSP_SRB_ERROR);
	assert_int_equal(f->out.u.srb.sense_info_length, 0);
	for (size_t i = 0; i < sizeof(f->out.u.srb.cdb); i++)
		assert_int_equal(f->out.u.srb.cdb[i], 0);

	/* A success clears the echo of the CDB from the sense area. */
	uint8_t tur[6] = { 0 };
	srb_init(&p, tur, 6, 2, 0);
	assert_int_equal(send(f, STORVSP_PKT_INBAND, &p, 64, NULL, 0), 0);
	assert_int_equal(f->out.u.srb.sense_info_length, 0);
	assert_int_equal(f->out.u.srb.srb_status, STORVSP_SRB_SUCCESS);
}

static void test_srb_direction_mismatch(void **state)
{
	struct fx *f = *state;
	struct storvsp_vstor_packet p;
	uint8_t c[10];
	const uint64_t pfn[1] = { 0x100 };
	const uint8_t saved = f->disk_mem[9 * 512];

	init(f);
	memset(f->g.mem, 0x99, sizeof(f->g.mem));
	/* WRITE with data_in = 1: the disk refuses, the guest buffer is not written. */
	rw10(c, 0x2A, 9, 1);
	srb_init(&p, c, 10, 1, 512);
	assert_int_equal(send_srb_gpa(f, &p, 0, pfn, 1), 0);
	assert_int_equal(f->out.u.srb.srb_status, STORVSP_SRB_ERROR | STORVSP_SRB_AUTOSENSE_VALID);
	assert_int_equal(f->out.u.srb.cdb[12], SCSI_ASC_INVALID_FIELD_IN_CDB);
	assert_int_equal(f->disk_mem[9 * 512], saved);
	assert_int_equal(f->g.mem[0], 0x99);
	assert_int_equal(f->g.calls, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_framing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version_negotiation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_out_of_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_operations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sub_channels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_srb_before_ready, setup, teardown),
		cmocka_unit_test_setup_teardown(test_srb_inband, setup, teardown),
		cmocka_unit_test_setup_teardown(test_srb_write_read_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_srb_in_place, setup, teardown),
		cmocka_unit_test_setup_teardown(test_srb_underrun, setup, teardown),
		cmocka_unit_test(test_handle_batch),
		cmocka_unit_test(test_handle_batch_async),
		cmocka_unit_test(test_handle_batch_async_sync_disk),
		cmocka_unit_test(test_handle_batch_async_args),
		cmocka_unit_test_setup_teardown(test_srb_bad_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_srb_invalid_lun, setup, teardown),
		cmocka_unit_test_setup_teardown(test_srb_sense, setup, teardown),
		cmocka_unit_test_setup_teardown(test_srb_direction_mismatch, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
