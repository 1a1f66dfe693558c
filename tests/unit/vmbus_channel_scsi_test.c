/*
 * vmbus_scsi end to end inside one process: a VMBus client written here (contact, offers,
 * GPADL, open) against vmbus_vtl0 + vmbus_scsi over a fake partition, then storvsp traffic over
 * real rings in the fake VTL0 RAM: init, a write and a read through GPA-direct packets, a full
 * completion ring (the answer is kept, nothing runs twice), rings whose pages are not
 * contiguous, and a client that breaks its ring.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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
};

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

static int setup(void **state)
{
	static struct fx f;
	memset(&f, 0, sizeof(f));
	assert_int_equal(iobus_create(&f.bus), 0);
	assert_int_equal(vclock_create(true, &f.clock), 0);
	f.dc = (struct devctx){ .ctx = &f, .clock = f.clock, .post_message = f_post,
				.signal_event = f_signal, .ram_ptr = f_ram };
	assert_int_equal(vmbus_vtl0_create(f.bus, &f.dc, 1, &f.vb), 0);
	struct scsi_disk_config dcfg = { 0 };
	scsi_disk_mem_backend(&f.dm, f.disk_data, DISK_SIZE, &dcfg.backend);
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

static int teardown(void **state)
{
	struct fx *f = *state;
	vclock_stop(f->clock);
	vmbus_scsi_destroy(f->chan);
	vmbus_vtl0_destroy(f->vb);
	scsi_disk_destroy(f->disk);
	iobus_destroy(f->bus);
	vclock_destroy(f->clock);
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
