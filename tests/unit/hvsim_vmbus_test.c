/*
 * The simulated host's VMBus (tools/hvsim/hvsim_vmbus.c) driven by a VTL2 client written here
 * on hvsim's VTL2 API (the calls kif_sim forwards /dev/mshv_sint to): InitiateContact on
 * 0x800074 naming SINT 7 / VTL 2, answers read from the SINT 7 stream, offers, GPADLs in
 * partition RAM, the serial channel both ways (printed with the prefix), the SCSI channel
 * (storvsp init, WRITE(10), READ(10) through rings into the image file), SINT 7 filling up
 * (the flusher delivers the rest), and a hostile VTL2: garbage messages, GPADLs outside RAM,
 * scattered or broken rings.
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
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "devices/vmbus/storvsp.h"
#include "devices/vmbus/vmbus_ring.h"
#include "hvcall/vmbus_abi.h"
#include "tools/hvsim/hvsim.h"
#include "tools/hvsim/hvsim_vmbus.h"

#define MEM        (16ull << 20)
#define MEM_PAGES  (MEM >> 12)
#define REDIR      VMBUS_CONN_ID_VTL2_REDIRECT
#define DISK_BYTES (1u << 20)
#define RING_PAGES 8u                   /* 3 data pages each way */
#define SERIAL_RING_PFN 0x200u
#define SCSI_RING_PFN   0x300u
#define DATA_PFN        0x400u

struct chan {
	uint32_t relid, conn;
	uint32_t gpadl;
	uint64_t ring_pfn;
	struct vmbus_ring c2s, s2c;     /* VTL2's views: it produces c2s, consumes s2c */
	int efd;                        /* SINT 7 event flag `relid` */
};

struct fx {
	struct hvsim *sim;
	struct hvsim_vmbus *hv;
	FILE *ser;
	char *ser_buf;
	size_t ser_len;
	FILE *log;
	char *log_buf;
	size_t log_len;
	char img[64];
	int img_fd;
	struct chan serial, scsi;
	uint64_t tid;
};

static uint8_t *ram(struct fx *f, uint64_t pfn)
{
	uint8_t *p = hvsim_gpa_ptr(f->sim, gpa(pfn << 12), 4096);
	assert_non_null(p);
	return p;
}

/* ------------------------------------------------------------------------------------------ */
/* VTL2's side of SINT 7                                                                      */
/* ------------------------------------------------------------------------------------------ */

static int vpost(struct fx *f, uint32_t conn, const void *m, size_t len)
{
	return hvsim_sint_post_message(f->sim, conn, VMBUS_MESSAGE_TYPE, m, len);
}

/* Next SINT 7 message: a VMBus message of channel message type `type`; returns its length. */
static size_t vread(struct fx *f, uint32_t type, void *buf, size_t cap)
{
	_Alignas(8) uint8_t m[256];
	int rc = hvsim_sint_read(f->sim, m, false);
	if (rc != 1)
		fail_msg("no SINT 7 message (rc %d), expected type %u", rc, type);
	uint32_t mt, ct;
	uint64_t sender;
	memcpy(&mt, m, 4);
	memcpy(&sender, m + 8, 8);
	memcpy(&ct, m + 16, 4);
	assert_int_equal(mt, VMBUS_MESSAGE_TYPE);
	assert_int_equal(sender, REDIR);
	if (ct != type)
		fail_msg("expected channel message %u, got %u", type, ct);
	size_t n = m[4];
	assert_true(n >= 8 && n <= 240);
	memset(buf, 0, cap);
	memcpy(buf, m + 16, n < cap ? n : cap);
	return n;
}

static void expect_none(struct fx *f)
{
	_Alignas(8) uint8_t m[256];
	int rc = hvsim_sint_read(f->sim, m, false);
	if (rc == 1) {
		uint32_t ct;
		memcpy(&ct, m + 16, 4);
		fail_msg("unexpected SINT 7 message, channel message type %u", ct);
	}
	assert_int_equal(rc, -EAGAIN);
}

static unsigned drain_sint(struct fx *f)
{
	_Alignas(8) uint8_t m[256];
	unsigned n = 0;
	while (hvsim_sint_read(f->sim, m, false) == 1)
		n++;
	return n;
}

/* Read until the host has nothing left to say (its queue included). */
static void settle(struct fx *f)
{
	for (unsigned i = 0; i < 1000; i++) {
		drain_sint(f);
		hvsim_vmbus_flush(f->hv);
		if (vmbus_server_pending(hvsim_vmbus_server(f->hv)) == 0) {
			drain_sint(f);
			return;
		}
		/* The flusher thread may be posting right now (our flush then does nothing). */
		struct timespec ts = { 0, 100000 };
		nanosleep(&ts, NULL);
	}
	fail_msg("the host's queue does not drain");
}

static uint64_t efd_read(int fd)
{
	uint64_t v = 0;
	if (read(fd, &v, 8) != 8)
		return 0;
	return v;
}

static const char *serial_text(struct fx *f)
{
	fflush(f->ser);
	return f->ser_buf ? f->ser_buf : "";
}

/* ------------------------------------------------------------------------------------------ */
/* Fixture                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static uint8_t img_byte(size_t i)
{
	return (uint8_t)(i * 13 + (i >> 9));
}

static struct fx *new_fx(bool serial, bool disk)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	struct hvsim_config hc = { .vp_count = 2, .mem_size = MEM };
	assert_int_equal(hvsim_create(&hc, &f->sim), 0);
	f->ser = open_memstream(&f->ser_buf, &f->ser_len);
	f->log = open_memstream(&f->log_buf, &f->log_len);
	assert_non_null(f->ser);
	assert_non_null(f->log);
	f->img_fd = -1;
	if (disk) {
		snprintf(f->img, sizeof(f->img), "/tmp/hvsim-vmbus-test-XXXXXX");
		f->img_fd = mkstemp(f->img);
		assert_true(f->img_fd >= 0);
		uint8_t *d = malloc(DISK_BYTES);
		assert_non_null(d);
		for (size_t i = 0; i < DISK_BYTES; i++)
			d[i] = img_byte(i);
		assert_int_equal(pwrite(f->img_fd, d, DISK_BYTES, 0), DISK_BYTES);
		free(d);
	}
	struct hvsim_vmbus_config cfg = {
		.serial = serial, .serial_out = f->ser, .disk_path = disk ? f->img : NULL,
		.log = f->log,
	};
	assert_int_equal(hvsim_vmbus_create(f->sim, &cfg, &f->hv), 0);
	/* VTL2 unmasks SINT 7 before it talks to the host (facts §1.9). */
	assert_int_equal(hvsim_sint_pause(f->sim, false), 0);
	f->serial.efd = f->scsi.efd = -1;
	return f;
}

static void free_fx(struct fx *f)
{
	char why[160] = "";
	if (vmbus_server_check(hvsim_vmbus_server(f->hv), why, sizeof(why)))
		fail_msg("server inconsistent: %s", why);
	hvsim_vmbus_destroy(f->hv);
	hvsim_destroy(f->sim);
	fclose(f->ser);
	fclose(f->log);
	if (getenv("HVSIM_VMBUS_TEST_LOG") && f->log_buf)
		fputs(f->log_buf, stderr);
	free(f->ser_buf);
	free(f->log_buf);
	if (f->img_fd >= 0) {
		close(f->img_fd);
		unlink(f->img);
	}
	if (f->serial.efd >= 0)
		close(f->serial.efd);
	if (f->scsi.efd >= 0)
		close(f->scsi.efd);
	free(f);
}

static int setup(void **state)
{
	*state = new_fx(true, true);
	return 0;
}

static int teardown(void **state)
{
	free_fx(*state);
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The client's handshake                                                                     */
/* ------------------------------------------------------------------------------------------ */

static struct vmbus_msg_initiate_contact contact_msg(uint32_t version)
{
	struct vmbus_msg_initiate_contact ic;
	memset(&ic, 0, sizeof(ic));
	ic.hdr.msgtype = VMBUS_MSG_INITIATE_CONTACT;
	ic.version_requested = version;
	ic.target_vcpu = 0;
	ic.msg_sint = VMBUS_VTL2_SINT;
	ic.msg_vtl = 2;
	ic.monitor_page1 = 0x5000;
	ic.monitor_page2 = 0x6000;
	return ic;
}

static void contact(struct fx *f)
{
	struct vmbus_msg_initiate_contact ic = contact_msg(VMBUS_VERSION_WIN10_V6_0);
	assert_int_equal(vpost(f, REDIR, &ic, VMBUS_INITIATE_CONTACT_SIZE_V6), 0);
	struct vmbus_msg_version_response vr;
	assert_int_equal(vread(f, VMBUS_MSG_VERSION_RESPONSE, &vr, sizeof(vr)),
			 VMBUS_VERSION_RESPONSE_SIZE_V6);
	assert_int_equal(vr.version_supported, 1);
	assert_int_equal(vr.connection_state, VMBUS_CONNECTION_OK);
	assert_int_equal(vr.msg_conn_id, REDIR);
}

static bool guid_eq(struct vmbus_guid a, struct vmbus_guid b)
{
	return memcmp(&a, &b, sizeof(a)) == 0;
}

/* RequestOffers: the offers of the fixture's channels land in f->serial / f->scsi. */
static unsigned request_offers(struct fx *f)
{
	struct vmbus_msg_header ro = { .msgtype = VMBUS_MSG_REQUEST_OFFERS };
	assert_int_equal(vpost(f, REDIR, &ro, sizeof(ro)), 0);
	unsigned n = 0;
	for (;;) {
		_Alignas(8) uint8_t m[256];
		assert_int_equal(hvsim_sint_read(f->sim, m, false), 1);
		struct vmbus_msg_header h;
		memcpy(&h, m + 16, sizeof(h));
		if (h.msgtype == VMBUS_MSG_ALL_OFFERS_DELIVERED)
			break;
		assert_int_equal(h.msgtype, VMBUS_MSG_OFFER_CHANNEL);
		assert_int_equal(m[4], sizeof(struct vmbus_msg_offer_channel));
		struct vmbus_msg_offer_channel o;
		memcpy(&o, m + 16, sizeof(o));
		assert_int_equal(o.connection_id, HVSIM_VMBUS_CONN_ID_BASE + o.child_relid);
		assert_int_equal(o.monitor_allocated, 0);
		struct chan *c = NULL;
		if (guid_eq(o.interface_type, (struct vmbus_guid)VMBUS_GUID_SERIAL)) {
			assert_true(guid_eq(o.instance, (struct vmbus_guid)VMBUS_GUID_SERIAL_COM1));
			c = &f->serial;
		} else if (guid_eq(o.interface_type, (struct vmbus_guid)VMBUS_GUID_SCSI)) {
			c = &f->scsi;
		} else {
			fail_msg("unexpected offer");
		}
		c->relid = o.child_relid;
		c->conn = o.connection_id;
		n++;
	}
	return n;
}

static void connect_all(struct fx *f)
{
	contact(f);
	assert_int_equal(request_offers(f), 2);
	assert_int_not_equal(f->serial.relid, f->scsi.relid);
}

/* GpadlHeader (one range, all PFNs in it): the GpadlCreated status. */
static uint32_t gpadl(struct fx *f, uint32_t relid, uint32_t id, const uint64_t *pfns,
		      unsigned n)
{
	_Alignas(8) uint8_t m[240] = { 0 };
	assert_true(n <= VMBUS_GPADL_HEADER_MAX_PFNS);
	struct vmbus_msg_gpadl_header gh = {
		.hdr.msgtype = VMBUS_MSG_GPADL_HEADER, .child_relid = relid, .gpadl = id,
		.range_buflen = (uint16_t)(8 + 8 * n), .rangecount = 1,
	};
	memcpy(m, &gh, sizeof(gh));
	struct vmbus_gpa_range r = { .byte_count = n * 4096u, .byte_offset = 0 };
	memcpy(m + sizeof(gh), &r, sizeof(r));
	memcpy(m + sizeof(gh) + 8, pfns, 8u * n);
	assert_int_equal(vpost(f, REDIR, m, sizeof(gh) + 8 + 8u * n), 0);
	struct vmbus_msg_gpadl_created gc;
	vread(f, VMBUS_MSG_GPADL_CREATED, &gc, sizeof(gc));
	assert_int_equal(gc.gpadl, id);
	assert_int_equal(gc.child_relid, relid);
	return gc.creation_status;
}

static uint32_t open_raw(struct fx *f, uint32_t relid, uint32_t id, uint32_t downstream)
{
	struct vmbus_msg_open_channel oc = { .hdr.msgtype = VMBUS_MSG_OPEN_CHANNEL,
					     .child_relid = relid, .open_id = relid + 100,
					     .ring_gpadl = id,
					     .downstream_ring_page_offset = downstream };
	assert_int_equal(vpost(f, REDIR, &oc, VMBUS_OPEN_CHANNEL_SIZE_V1), 0);
	struct vmbus_msg_open_result r;
	vread(f, VMBUS_MSG_OPEN_CHANNEL_RESULT, &r, sizeof(r));
	assert_int_equal(r.child_relid, relid);
	assert_int_equal(r.open_id, relid + 100);
	return r.status;
}

/* VTL2's ring views over the channel's pages (fresh: zeroed first). */
static void ring_views(struct fx *f, struct chan *c)
{
	uint8_t *r = ram(f, c->ring_pfn);
	assert_int_equal(vmbus_ring_init(&c->c2s, VMBUS_RING_PRODUCER, r, r + 4096, 3 * 4096), 0);
	assert_int_equal(vmbus_ring_init(&c->s2c, VMBUS_RING_CONSUMER, r + 4 * 4096, r + 5 * 4096,
					 3 * 4096), 0);
}

/* GPADL over RING_PAGES contiguous pages at `pfn`, open, VTL2's views, the event flag's fd. */
static void open_chan(struct fx *f, struct chan *c, uint64_t pfn, uint32_t id)
{
	uint64_t pfns[RING_PAGES];
	for (unsigned i = 0; i < RING_PAGES; i++)
		pfns[i] = pfn + i;
	memset(ram(f, pfn), 0, 4096);
	memset(ram(f, pfn + RING_PAGES / 2), 0, 4096);
	assert_int_equal(gpadl(f, c->relid, id, pfns, RING_PAGES), 0);
	assert_int_equal(open_raw(f, c->relid, id, RING_PAGES / 2), 0);
	c->gpadl = id;
	c->ring_pfn = pfn;
	ring_views(f, c);
	if (c->efd < 0) {
		c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		assert_true(c->efd >= 0);
		assert_int_equal(hvsim_sint_set_eventfd(f->sim, c->relid, c->efd), 0);
	}
}

static void kick(struct fx *f, struct chan *c)
{
	assert_int_equal(hvsim_sint_signal_event(f->sim, c->conn, 0), 0);
}

static void close_chan(struct fx *f, struct chan *c)
{
	struct vmbus_msg_relid cc = { .hdr.msgtype = VMBUS_MSG_CLOSE_CHANNEL,
				      .child_relid = c->relid };
	assert_int_equal(vpost(f, REDIR, &cc, sizeof(cc)), 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Serial helpers                                                                             */
/* ------------------------------------------------------------------------------------------ */

static int serial_put(struct fx *f, const void *bytes, uint32_t n, uint32_t claimed)
{
	struct vmbus_serial_hdr h = { .byte_count = claimed };
	struct vmbus_ring_piece p[2] = { { &h, sizeof(h) }, { bytes, n } };
	struct vmbus_ring_out o = { .type = VMBUS_PKT_DATA_INBAND, .transaction_id = ++f->tid,
				    .pieces = p, .piece_count = 2 };
	return vmbus_ring_send(&f->serial.c2s, &o, 0);
}

static void serial_say(struct fx *f, const char *s)
{
	assert_true(serial_put(f, s, (uint32_t)strlen(s), (uint32_t)strlen(s)) >= 0);
	kick(f, &f->serial);
}

/* ------------------------------------------------------------------------------------------ */
/* storvsp helpers                                                                            */
/* ------------------------------------------------------------------------------------------ */

static uint64_t scsi_queue(struct fx *f, const struct storvsp_vstor_packet *p, uint64_t pfn,
			   uint32_t bytes)
{
	uint64_t tid = ++f->tid;
	struct vmbus_ring_piece piece = { p, sizeof(*p) };
	_Alignas(8) uint8_t ext[24];
	struct vmbus_pkt_gpa_direct_hdr h = { .range_count = 1 };
	struct vmbus_pkt_gpa_range r = { .byte_count = bytes, .byte_offset = 0 };
	memcpy(ext, &h, 8);
	memcpy(ext + 8, &r, 8);
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
	assert_true(vmbus_ring_send(&f->scsi.c2s, &o, 0) >= 0);
	return tid;
}

static void scsi_completion(struct fx *f, uint64_t tid, struct storvsp_vstor_packet *out)
{
	struct vmbus_ring_packet p;
	assert_int_equal(vmbus_ring_peek(&f->scsi.s2c, &p), 0);
	assert_int_equal(p.desc.type, VMBUS_PKT_COMPLETION);
	assert_int_equal(p.desc.transaction_id, tid);
	memset(out, 0, sizeof(*out));
	assert_true(vmbus_ring_packet_payload(&f->scsi.s2c, &p, out, sizeof(*out)) >= 48);
	assert_int_equal(out->operation, STORVSP_OP_COMPLETE_IO);
	if (vmbus_ring_consume(&f->scsi.s2c) == VMBUS_RING_SIGNAL)
		kick(f, &f->scsi);
}

static void scsi_op(struct fx *f, uint32_t operation, uint16_t version)
{
	struct storvsp_vstor_packet p = { .operation = operation,
					  .flags = STORVSP_FLAG_REQUEST_COMPLETION };
	p.u.version.major_minor = version;
	uint64_t tid = scsi_queue(f, &p, 0, 0);
	kick(f, &f->scsi);
	struct storvsp_vstor_packet r;
	scsi_completion(f, tid, &r);
	assert_int_equal(r.status, 0);
}

static void scsi_init(struct fx *f)
{
	scsi_op(f, STORVSP_OP_BEGIN_INITIALIZATION, 0);
	scsi_op(f, STORVSP_OP_QUERY_PROTOCOL_VERSION, STORVSP_VERSION_WIN10);
	scsi_op(f, STORVSP_OP_QUERY_PROPERTIES, 0);
	scsi_op(f, STORVSP_OP_END_INITIALIZATION, 0);
}

static struct storvsp_vstor_packet srb10(uint8_t op, uint32_t lba, uint16_t blocks, int data_in)
{
	struct storvsp_vstor_packet p = { .operation = STORVSP_OP_EXECUTE_SRB,
					  .flags = STORVSP_FLAG_REQUEST_COMPLETION };
	p.u.srb.length = sizeof(p.u.srb);
	p.u.srb.cdb_length = 10;
	p.u.srb.data_in = (uint8_t)data_in;
	p.u.srb.data_transfer_length = blocks * 512u;
	p.u.srb.sense_info_length = 20;
	p.u.srb.cdb[0] = op;
	p.u.srb.cdb[2] = (uint8_t)(lba >> 24);
	p.u.srb.cdb[3] = (uint8_t)(lba >> 16);
	p.u.srb.cdb[4] = (uint8_t)(lba >> 8);
	p.u.srb.cdb[5] = (uint8_t)lba;
	p.u.srb.cdb[7] = (uint8_t)(blocks >> 8);
	p.u.srb.cdb[8] = (uint8_t)blocks;
	return p;
}

/* ------------------------------------------------------------------------------------------ */
/* Tests                                                                                      */
/* ------------------------------------------------------------------------------------------ */

static void test_create_errors(void **state)
{
	(void)state;
	struct hvsim *sim;
	struct hvsim_config hc = { .vp_count = 1, .mem_size = 4u << 20 };
	assert_int_equal(hvsim_create(&hc, &sim), 0);
	struct hvsim_vmbus *hv = (struct hvsim_vmbus *)1;
	struct hvsim_vmbus_config cfg = { .log = stderr };
	assert_int_equal(hvsim_vmbus_create(NULL, &cfg, &hv), -EINVAL);
	assert_null(hv);
	assert_int_equal(hvsim_vmbus_create(sim, NULL, &hv), -EINVAL);
	assert_int_equal(hvsim_vmbus_create(sim, &cfg, NULL), -EINVAL);
	cfg.disk_path = "/nonexistent/hvsim-vmbus.img";
	assert_int_equal(hvsim_vmbus_create(sim, &cfg, &hv), -ENOENT);
	/* Smaller than one block. */
	char path[] = "/tmp/hvsim-vmbus-small-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "tiny", 4), 4);
	cfg.disk_path = path;
	assert_int_equal(hvsim_vmbus_create(sim, &cfg, &hv), -EINVAL);
	close(fd);
	unlink(path);
	/* A version that cannot name SINT 7. */
	cfg.disk_path = NULL;
	cfg.max_version = VMBUS_VERSION_WIN10_V4_1;
	assert_int_equal(hvsim_vmbus_create(sim, &cfg, &hv), -EINVAL);
	/* A failed create left no host ops behind: posts queue for hvsim_host_take. */
	uint8_t m[8] = { 14 };
	assert_int_equal(hvsim_sint_post_message(sim, REDIR, 1, m, sizeof(m)), 0);
	struct hvsim_host_msg hm;
	assert_int_equal(hvsim_host_take(sim, &hm), 1);
	/* Nothing offered: a bus without channels. No serial: -ENODEV. */
	cfg.max_version = 0;
	assert_int_equal(hvsim_vmbus_create(sim, &cfg, &hv), 0);
	assert_int_equal(hvsim_vmbus_serial_send(hv, "x", 1), -ENODEV);
	hvsim_vmbus_destroy(hv);
	hvsim_vmbus_destroy(NULL);
	hvsim_destroy(sim);
}

static void test_handshake_and_offers(void **state)
{
	struct fx *f = *state;
	struct vmbus_msg_initiate_contact ic = contact_msg(VMBUS_VERSION_WIN10_V5_3);
	/* VTL0's connection ids are not the host's for VTL2: the post fails. */
	assert_int_equal(vpost(f, VMBUS_CONN_ID_MESSAGE_4, &ic, 40), -EIO);
	assert_int_equal(vpost(f, VMBUS_CONN_ID_MESSAGE, &ic, 40), -EIO);
	/* Another message type on the right id. */
	assert_int_equal(hvsim_sint_post_message(f->sim, REDIR, 2, &ic, 40), -EIO);
	expect_none(f);
	/* An older version (no SINT in it): refused on SINT 7, the client may retry. */
	ic = contact_msg(VMBUS_VERSION_WIN10);
	assert_int_equal(vpost(f, REDIR, &ic, 40), 0);
	struct vmbus_msg_version_response vr;
	assert_int_equal(vread(f, VMBUS_MSG_VERSION_RESPONSE, &vr, sizeof(vr)), 16);
	assert_int_equal(vr.version_supported, 0);
	/* VTL0's SINT named: dropped (no safe place to answer). */
	ic = contact_msg(VMBUS_VERSION_WIN10_V5_3);
	ic.msg_sint = VMBUS_MESSAGE_SINT;
	assert_int_equal(vpost(f, REDIR, &ic, 40), 0);
	expect_none(f);

	connect_all(f);
	struct hvsim_vmbus_stats st;
	hvsim_vmbus_get_stats(f->hv, &st);
	assert_true(st.connected);
	assert_int_equal(st.version, VMBUS_VERSION_WIN10_V6_0);
	assert_int_equal(st.posts, 7);
	assert_int_equal(st.posts_refused, 3);
	assert_int_equal(st.messages_out, 2 + 3);
	assert_true(st.has_disk);
	/* Later messages only on 0x800074. */
	struct vmbus_msg_header ro = { .msgtype = VMBUS_MSG_UNLOAD };
	assert_int_equal(vpost(f, VMBUS_CONN_ID_MESSAGE_4, &ro, sizeof(ro)), -EIO);
	expect_none(f);
	assert_int_equal(vpost(f, REDIR, &ro, sizeof(ro)), 0);
	struct vmbus_msg_header ur;
	vread(f, VMBUS_MSG_UNLOAD_RESPONSE, &ur, sizeof(ur));
	hvsim_vmbus_get_stats(f->hv, &st);
	assert_false(st.connected);
	/* The summary line names what happened. */
	hvsim_vmbus_print_stats(&st, f->log);
	fflush(f->log);
	assert_non_null(strstr(f->log_buf, "host vmbus: not connected, messages in 9"));
}

static void test_serial_both_ways(void **state)
{
	struct fx *f = *state;
	connect_all(f);
	open_chan(f, &f->serial, SERIAL_RING_PFN, 0xE1E10);
	serial_say(f, "hello from VTL2\nsecond li");
	serial_say(f, "ne\n");
	serial_say(f, "partial");
	assert_string_equal(serial_text(f), "host-serial: hello from VTL2\n"
					    "host-serial: second line\n"
					    "host-serial: partial");
	/* Several packets before one signal; bytes of every value. */
	uint8_t all[256];
	for (unsigned i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	assert_true(serial_put(f, "\n", 1, 1) >= 0);
	assert_true(serial_put(f, all, 256, 256) >= 0);
	kick(f, &f->serial);
	const char *t = serial_text(f);
	size_t base = strlen("host-serial: hello from VTL2\nhost-serial: second line\n"
			     "host-serial: partial\nhost-serial: ");
	assert_true(f->ser_len >= base + 256);
	assert_memory_equal(t + base, all, 11);        /* 0..10, then '\n' gets a new prefix */
	assert_memory_equal(t + base + 11, "host-serial: ", 13);
	assert_memory_equal(t + base + 24, all + 11, 245);

	/* The host sends to VTL2: a packet on its ring and its event flag. */
	assert_int_equal(efd_read(f->serial.efd), 0);
	assert_int_equal(hvsim_vmbus_serial_send(f->hv, "ping", 4), 4);
	assert_int_equal(efd_read(f->serial.efd), 1);
	struct vmbus_ring_packet p;
	assert_int_equal(vmbus_ring_peek(&f->serial.s2c, &p), 0);
	assert_int_equal(p.desc.type, VMBUS_PKT_DATA_INBAND);
	_Alignas(8) uint8_t buf[64];
	assert_int_equal(vmbus_ring_packet_payload(&f->serial.s2c, &p, buf, sizeof(buf)), 16);
	struct vmbus_serial_hdr h;
	memcpy(&h, buf, sizeof(h));
	assert_int_equal(h.byte_count, 4);
	assert_int_equal(h.reserved, 0);
	assert_memory_equal(buf + 8, "ping", 4);
	assert_int_equal(vmbus_ring_consume(&f->serial.s2c), 0);
	/* Larger than one packet: split; the ring (12 KiB) takes some of 64 KiB, then -EAGAIN. */
	static uint8_t big[65536];
	memset(big, 'b', sizeof(big));
	int n = hvsim_vmbus_serial_send(f->hv, big, sizeof(big));
	assert_true(n >= (int)HVSIM_VMBUS_SERIAL_MAX_BYTES && n < (int)sizeof(big));
	assert_int_equal(n % HVSIM_VMBUS_SERIAL_MAX_BYTES, 0);
	assert_int_equal(hvsim_vmbus_serial_send(f->hv, big, sizeof(big)), -EAGAIN);

	struct hvsim_vmbus_stats st;
	hvsim_vmbus_get_stats(f->hv, &st);
	assert_int_equal(st.serial_bytes_in, strlen("hello from VTL2\nsecond line\npartial") + 257);
	assert_int_equal(st.serial_packets_in, 5);
	assert_int_equal(st.serial_bytes_out, 4 + (uint64_t)n);
	assert_int_equal(st.serial_bad_packets, 0);
	assert_int_equal(st.signals, 4);

	/* Closed: nothing goes out any more. */
	close_chan(f, &f->serial);
	assert_int_equal(hvsim_vmbus_serial_send(f->hv, "x", 1), -ENOTCONN);
}

static void test_serial_bad_packets(void **state)
{
	struct fx *f = *state;
	connect_all(f);
	assert_int_equal(hvsim_vmbus_serial_send(f->hv, "x", 1), -ENOTCONN);
	open_chan(f, &f->serial, SERIAL_RING_PFN, 0xE1E10);
	/* byte_count beyond the payload, zero, above the maximum; reserved set; another type. */
	assert_true(serial_put(f, "abcdefgh", 8, 9) >= 0);
	assert_true(serial_put(f, "abcdefgh", 8, 0) >= 0);
	static uint8_t big[HVSIM_VMBUS_SERIAL_MAX_BYTES + 8];
	assert_true(serial_put(f, big, sizeof(big), sizeof(big)) >= 0);
	struct vmbus_serial_hdr h = { .byte_count = 1, .reserved = 1 };
	struct vmbus_ring_piece pc[2] = { { &h, sizeof(h) }, { "z", 1 } };
	struct vmbus_ring_out o = { .type = VMBUS_PKT_DATA_INBAND, .pieces = pc, .piece_count = 2 };
	assert_true(vmbus_ring_send(&f->serial.c2s, &o, 0) >= 0);
	o.type = VMBUS_PKT_COMPLETION;
	h.reserved = 0;
	assert_true(vmbus_ring_send(&f->serial.c2s, &o, 0) >= 0);
	/* A good one after them still gets through. */
	assert_true(serial_put(f, "ok\n", 3, 3) >= 0);
	kick(f, &f->serial);
	assert_string_equal(serial_text(f), "host-serial: ok\n");
	struct hvsim_vmbus_stats st;
	hvsim_vmbus_get_stats(f->hv, &st);
	assert_int_equal(st.serial_bad_packets, 5);
	assert_int_equal(st.serial_packets_in, 1);
	assert_int_equal(st.serial_broken, 0);
}

static void test_scsi_write_read(void **state)
{
	struct fx *f = *state;
	connect_all(f);
	open_chan(f, &f->scsi, SCSI_RING_PFN, 0xE1E20);
	scsi_init(f);
	uint64_t ev = efd_read(f->scsi.efd);
	assert_true(ev >= 1);       /* completions into an empty ring raised SINT 7 flag relid */

	uint8_t *w = ram(f, DATA_PFN), *r = ram(f, DATA_PFN + 1);
	for (unsigned i = 0; i < 4096; i++)
		w[i] = (uint8_t)(i * 7 + 3);
	struct storvsp_vstor_packet wr = srb10(0x2A, 16, 8, STORVSP_SRB_DATA_OUT), res;
	uint64_t t = scsi_queue(f, &wr, DATA_PFN, 4096);
	kick(f, &f->scsi);
	scsi_completion(f, t, &res);
	assert_int_equal(res.status, 0);
	assert_int_equal(res.u.srb.srb_status, STORVSP_SRB_SUCCESS);
	/* In the image file, and nothing around it changed. */
	uint8_t disk[3 * 4096];
	assert_int_equal(pread(f->img_fd, disk, sizeof(disk), 16 * 512 - 4096), sizeof(disk));
	assert_memory_equal(disk + 4096, w, 4096);
	for (unsigned i = 0; i < 4096; i++) {
		assert_int_equal(disk[i], img_byte(16 * 512 - 4096 + i));
		assert_int_equal(disk[8192 + i], img_byte(16 * 512 + 4096 + i));
	}
	/* Read it back into another page, and a block the write did not touch. */
	memset(r, 0, 4096);
	struct storvsp_vstor_packet rd = srb10(0x28, 16, 8, STORVSP_SRB_DATA_IN);
	t = scsi_queue(f, &rd, DATA_PFN + 1, 4096);
	kick(f, &f->scsi);
	scsi_completion(f, t, &res);
	assert_int_equal(res.u.srb.srb_status, STORVSP_SRB_SUCCESS);
	assert_int_equal(res.u.srb.data_transfer_length, 4096);
	assert_memory_equal(r, w, 4096);
	rd = srb10(0x28, 100, 1, STORVSP_SRB_DATA_IN);
	t = scsi_queue(f, &rd, DATA_PFN + 1, 512);
	kick(f, &f->scsi);
	scsi_completion(f, t, &res);
	for (unsigned i = 0; i < 512; i++)
		assert_int_equal(r[i], img_byte(100 * 512 + i));
	/* A data page outside partition RAM: refused before the disk, the channel lives on. */
	wr = srb10(0x2A, 0, 1, STORVSP_SRB_DATA_OUT);
	t = scsi_queue(f, &wr, MEM_PAGES + 10, 512);
	kick(f, &f->scsi);
	scsi_completion(f, t, &res);
	assert_int_equal(res.u.srb.srb_status, STORVSP_SRB_INVALID_REQUEST);
	assert_int_equal(pread(f->img_fd, disk, 512, 0), 512);
	for (unsigned i = 0; i < 512; i++)
		assert_int_equal(disk[i], img_byte(i));
	struct storvsp_vstor_packet tur = srb10(0x00, 0, 0, STORVSP_SRB_DATA_NONE);
	tur.u.srb.cdb_length = 6;
	t = scsi_queue(f, &tur, 0, 0);
	kick(f, &f->scsi);
	scsi_completion(f, t, &res);
	assert_int_equal(res.u.srb.srb_status, STORVSP_SRB_SUCCESS);

	struct hvsim_vmbus_stats st;
	hvsim_vmbus_get_stats(f->hv, &st);
	assert_int_equal(st.scsi.packets, 4 + 4 + 1);
	assert_int_equal(st.scsi.completions, 4 + 4 + 1);
	assert_int_equal(st.disk.written_blocks, 8);
	assert_int_equal(st.disk.read_blocks, 8 + 1);
	assert_int_equal(st.disk.commands, 4);
	assert_int_equal(st.scsi.broken, 0);
	assert_true(st.events_out >= 1);
	hvsim_vmbus_print_stats(&st, f->log);
	fflush(f->log);
	assert_non_null(strstr(f->log_buf, "serial bytes in 0 out 0; "
					   "scsi requests 9, commands 4, blocks read 9 written 8"));
}

static void test_bad_gpadls_and_rings(void **state)
{
	struct fx *f = *state;
	connect_all(f);
	uint64_t pfns[RING_PAGES];
	/* Pages outside partition RAM: at the end, far beyond, beyond 2^40. */
	for (unsigned i = 0; i < RING_PAGES; i++)
		pfns[i] = MEM_PAGES - 4 + i;
	assert_int_not_equal(gpadl(f, f->scsi.relid, 0x100, pfns, RING_PAGES), 0);
	pfns[0] = 1ull << 39;
	assert_int_not_equal(gpadl(f, f->scsi.relid, 0x101, pfns, 1), 0);
	pfns[0] = 1ull << 41;
	assert_int_not_equal(gpadl(f, f->scsi.relid, 0x102, pfns, 1), 0);
	/* In RAM but scattered: the GPADL is fine, opening a ring on it is not. */
	for (unsigned i = 0; i < RING_PAGES; i++)
		pfns[i] = 0x600 + 2 * i;
	assert_int_equal(gpadl(f, f->serial.relid, 0x103, pfns, RING_PAGES), 0);
	assert_int_not_equal(open_raw(f, f->serial.relid, 0x103, RING_PAGES / 2), 0);
	assert_int_equal(gpadl(f, f->scsi.relid, 0x104, pfns, RING_PAGES), 0);
	assert_int_not_equal(open_raw(f, f->scsi.relid, 0x104, RING_PAGES / 2), 0);
	/* Another channel's GPADL, an unknown one. */
	assert_int_not_equal(open_raw(f, f->scsi.relid, 0x103, RING_PAGES / 2), 0);
	assert_int_not_equal(open_raw(f, f->scsi.relid, 0x999, RING_PAGES / 2), 0);
	struct hvsim_vmbus_stats st;
	hvsim_vmbus_get_stats(f->hv, &st);
	assert_int_equal(st.server.rejects[VMBUS_SERVER_REJECT_GPADL], 3 + 2);
	assert_int_equal(st.server.rejects[VMBUS_SERVER_REJECT_DEVICE], 2);
	/* Both channels still open on good rings afterwards. */
	open_chan(f, &f->serial, SERIAL_RING_PFN, 0xE1E10);
	open_chan(f, &f->scsi, SCSI_RING_PFN, 0xE1E20);
	serial_say(f, "fine\n");
	scsi_init(f);
}

static void test_broken_rings(void **state)
{
	struct fx *f = *state;
	connect_all(f);
	open_chan(f, &f->serial, SERIAL_RING_PFN, 0xE1E10);
	open_chan(f, &f->scsi, SCSI_RING_PFN, 0xE1E20);
	scsi_init(f);
	serial_say(f, "before\n");

	/* VTL2 publishes write indices that are not multiples of 8 / out of range. */
	struct vmbus_ring_control *sc = (void *)ram(f, SERIAL_RING_PFN);
	struct vmbus_ring_control *dc = (void *)ram(f, SCSI_RING_PFN);
	sc->write_index = 12;
	dc->write_index = 3 * 4096 + 8;
	kick(f, &f->serial);
	kick(f, &f->scsi);
	struct hvsim_vmbus_stats st;
	hvsim_vmbus_get_stats(f->hv, &st);
	assert_int_equal(st.serial_broken, 1);
	assert_int_equal(st.scsi.broken, 1);
	/* Stopped: more signals read nothing, the host cannot send. */
	kick(f, &f->serial);
	kick(f, &f->scsi);
	assert_int_equal(hvsim_vmbus_serial_send(f->hv, "x", 1), -EPIPE);
	hvsim_vmbus_get_stats(f->hv, &st);
	assert_int_equal(st.serial_broken, 1);
	assert_int_equal(st.scsi.packets, 4);
	fflush(f->log);
	assert_non_null(strstr(f->log_buf, "serial VTL2-to-host ring broken"));

	/* A descriptor lying about its length, on a fresh ring after close + reopen. */
	close_chan(f, &f->serial);
	struct vmbus_msg_gpadl_teardown td = { .hdr.msgtype = VMBUS_MSG_GPADL_TEARDOWN,
					       .child_relid = f->serial.relid, .gpadl = 0xE1E10 };
	assert_int_equal(vpost(f, REDIR, &td, sizeof(td)), 0);
	struct vmbus_msg_gpadl_torndown tn;
	vread(f, VMBUS_MSG_GPADL_TORNDOWN, &tn, sizeof(tn));
	open_chan(f, &f->serial, SERIAL_RING_PFN, 0xE1E11);
	serial_say(f, "again\n");
	uint8_t *data = ram(f, SERIAL_RING_PFN + 1);
	uint32_t w = sc->write_index;
	struct vmbus_pkt_desc d = { .type = VMBUS_PKT_DATA_INBAND, .offset8 = 2, .len8 = 0xFFFF };
	memcpy(data + w, &d, sizeof(d));
	sc->write_index = w + 32;
	kick(f, &f->serial);
	hvsim_vmbus_get_stats(f->hv, &st);
	assert_int_equal(st.serial_broken, 2);
	assert_string_equal(serial_text(f), "host-serial: before\nhost-serial: again\n");

	/* Same for SCSI: close, reopen, init again. */
	close_chan(f, &f->scsi);
	memset(ram(f, SCSI_RING_PFN), 0, 4096);
	memset(ram(f, SCSI_RING_PFN + 4), 0, 4096);
	assert_int_equal(open_raw(f, f->scsi.relid, 0xE1E20, RING_PAGES / 2), 0);
	ring_views(f, &f->scsi);
	scsi_init(f);
}

static void test_sint_queue_full(void **state)
{
	struct fx *f = *state;
	/* 80 InitiateContacts for an unknown version while VTL2 reads nothing: each is answered,
	 * 64 fit into SINT 7, the server keeps the rest. */
	struct vmbus_msg_initiate_contact ic = contact_msg(0x00070000u);
	for (unsigned i = 0; i < 80; i++)
		assert_int_equal(vpost(f, REDIR, &ic, 40), 0);
	struct hvsim_vmbus_stats st;
	hvsim_vmbus_get_stats(f->hv, &st);
	assert_int_equal(st.messages_out, HVSIM_SINT_QUEUE_LEN);
	assert_true(st.message_retries >= 1);
	assert_int_equal(vmbus_server_pending(hvsim_vmbus_server(f->hv)),
			 80 - HVSIM_SINT_QUEUE_LEN);
	/* VTL2 reads; the flusher (1 ms) delivers the rest in order, without another post. */
	unsigned got = 0;
	for (unsigned tries = 0; tries < 2000 && got < 80; tries++) {
		got += drain_sint(f);
		if (got < 80) {
			struct timespec ts = { 0, 1000000 };
			nanosleep(&ts, NULL);
		}
	}
	assert_int_equal(got, 80);
	hvsim_vmbus_get_stats(f->hv, &st);
	assert_int_equal(st.messages_out, 80);
	assert_true(st.flushes >= 1);
	assert_int_equal(vmbus_server_pending(hvsim_vmbus_server(f->hv)), 0);
	/* Still a working bus. */
	connect_all(f);
}

/* Garbage from VTL2: random message bodies, types, lengths and ids; random signals. */
static void test_hostile_garbage(void **state)
{
	struct fx *f = *state;
	uint64_t x = 0x9E3779B97F4A7C15ull;
	for (unsigned iter = 0; iter < 20000; iter++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		_Alignas(8) uint8_t m[240];
		uint64_t y = x;
		for (unsigned i = 0; i < sizeof(m); i++) {
			y = y * 6364136223846793005ull + 1442695040888963407ull;
			m[i] = (uint8_t)(y >> 56);
		}
		/* Mostly real message types and the real id, so the handlers are reached. */
		uint32_t type = (uint32_t)(x % 32);
		memcpy(m, &type, 4);
		if (type == VMBUS_MSG_INITIATE_CONTACT && (x & 0x100)) {
			struct vmbus_msg_initiate_contact ic;
			ic = contact_msg(VMBUS_VERSION_WIN10_V6_0);
			memcpy(m, &ic, sizeof(ic));
		}
		if ((type == VMBUS_MSG_GPADL_HEADER || type == VMBUS_MSG_OPEN_CHANNEL ||
		     type == VMBUS_MSG_GPADL_TEARDOWN || type == VMBUS_MSG_CLOSE_CHANNEL) &&
		    (x & 0x200)) {
			uint32_t relid = 1 + (uint32_t)((x >> 20) & 1);
			memcpy(m + 8, &relid, 4);
		}
		size_t len = (x >> 8) % 241;
		uint32_t conn = (x & 0xF000) ? REDIR : (uint32_t)(x >> 32);
		int rc = vpost(f, conn, m, len);
		assert_true(rc == 0 || rc == -EIO || rc == -EINVAL);
		if ((x & 0xF) == 0)
			(void)hvsim_sint_signal_event(f->sim, HVSIM_VMBUS_CONN_ID_BASE +
						      (uint32_t)((x >> 40) % 4), 0);
		if ((x & 0x3F) == 0)
			drain_sint(f);
	}
	settle(f);
	char why[160] = "";
	if (vmbus_server_check(hvsim_vmbus_server(f->hv), why, sizeof(why)))
		fail_msg("server inconsistent: %s", why);
	struct hvsim_vmbus_stats st;
	hvsim_vmbus_get_stats(f->hv, &st);
	assert_true(st.server.rejected > 1000);
	assert_true(st.posts_refused > 100);
	/* A clean start afterwards: Unload (if connected) and the real handshake. */
	struct vmbus_msg_header un = { .msgtype = VMBUS_MSG_UNLOAD };
	if (st.connected) {
		assert_int_equal(vpost(f, REDIR, &un, sizeof(un)), 0);
		struct vmbus_msg_header ur;
		vread(f, VMBUS_MSG_UNLOAD_RESPONSE, &ur, sizeof(ur));
	}
	expect_none(f);
	connect_all(f);
	open_chan(f, &f->serial, SERIAL_RING_PFN, 0xE1E10);
	serial_say(f, "alive\n");
	assert_non_null(strstr(serial_text(f), "host-serial: alive\n"));
}

/* Destroying the host with channels open, lines unfinished: nothing leaks (ASan). */
static void test_destroy_while_open(void **state)
{
	struct fx *f = *state;
	connect_all(f);
	open_chan(f, &f->serial, SERIAL_RING_PFN, 0xE1E10);
	open_chan(f, &f->scsi, SCSI_RING_PFN, 0xE1E20);
	serial_say(f, "no newline");
	hvsim_vmbus_destroy(f->hv);
	assert_string_equal(serial_text(f), "host-serial: no newline\n");
	/* Without the host ops, posts queue for hvsim_host_take again. */
	struct vmbus_msg_header ro = { .msgtype = VMBUS_MSG_REQUEST_OFFERS };
	assert_int_equal(vpost(f, REDIR, &ro, sizeof(ro)), 0);
	struct hvsim_host_msg hm;
	assert_int_equal(hvsim_host_take(f->sim, &hm), 1);
	assert_int_equal(hm.connection_id, REDIR);
	struct hvsim_vmbus_config cfg = { .log = f->log };
	assert_int_equal(hvsim_vmbus_create(f->sim, &cfg, &f->hv), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test_setup_teardown(test_handshake_and_offers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_serial_both_ways, setup, teardown),
		cmocka_unit_test_setup_teardown(test_serial_bad_packets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scsi_write_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_gpadls_and_rings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broken_rings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sint_queue_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destroy_while_open, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
