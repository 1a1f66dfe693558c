/*
 * vmbus_scsi's data plane against a hostile VTL0 client: a SCSI channel opened over rings in a
 * fake VTL0 RAM, then the input decides what the client puts there. Byte 0 selects the mode:
 *   even: raw - the next 12 bytes are the client-to-server ring's write and read indices and
 *         the server-to-client ring's read index, the rest the client-to-server data area;
 *   odd:  packets - records {type, flags, ext_len8, payload_len8, bytes...} sent with the
 *         project's ring producer (well-formed rings, hostile descriptors, GPA-direct headers,
 *         ranges and vstor_packets), a signal after each.
 * Checks: no crash or sanitizer report, nothing written outside the two rings and the guest
 * pages named by ranges (a guard page stays intact), the server's invariants hold.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/vmbus/scsi_disk.h"
#include "devices/vmbus/vmbus_ring.h"
#include "devices/vmbus/vmbus_scsi.h"
#include "devices/vmbus/vmbus_vtl0.h"
#include "hvcall/vmbus_abi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PAGES 64u
#define RING_PFN 8u
#define GUARD_PFN 63u

static _Alignas(4096) uint8_t ram[PAGES * 4096];
static uint8_t disk_data[256 * 1024];
static uint8_t last_msg[240];

static int f_post(void *ctx, uint32_t vp, uint8_t sint, uint32_t type, const void *payload,
		  uint32_t len)
{
	(void)ctx;
	(void)vp;
	(void)sint;
	(void)type;
	memcpy(last_msg, payload, len);
	return 0;
}

static int f_signal(void *ctx, uint32_t vp, uint8_t sint, uint16_t flag)
{
	(void)ctx;
	(void)vp;
	(void)sint;
	(void)flag;
	return 0;
}

/* RAM except the guard page: GPA-direct ranges may name any other page. */
static void *f_ram(void *ctx, gpa_t a, uint64_t len)
{
	(void)ctx;
	if (a.v >= GUARD_PFN * 4096ull || len > GUARD_PFN * 4096ull - a.v)
		return NULL;
	return ram + a.v;
}

static void post(struct iobus *bus, const void *m, uint32_t len)
{
	struct iobus_access a = { .vp = 0 };
	if (iobus_post_message(bus, &a, VMBUS_CONN_ID_MESSAGE_4, VMBUS_MESSAGE_TYPE, m, len))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	memset(ram, 0, sizeof(ram));
	memset(ram + GUARD_PFN * 4096, 0x5A, 4096);
	struct iobus *bus;
	struct vclock *clock;
	if (iobus_create(&bus) || vclock_create(true, &clock))
		abort();
	struct devctx dc = { .clock = clock, .post_message = f_post, .signal_event = f_signal,
			     .ram_ptr = f_ram };
	struct vmbus_vtl0 *vb;
	struct scsi_disk_mem dm;
	struct scsi_disk_config dcfg = { 0 };
	struct scsi_disk *disk;
	struct vmbus_scsi *chan;
	scsi_disk_mem_backend(&dm, disk_data, sizeof(disk_data), &dcfg.backend);
	if (vmbus_vtl0_create(bus, &dc, 1, &vb) || scsi_disk_create(&dcfg, &disk) ||
	    vmbus_scsi_create(vmbus_vtl0_server(vb), &dc, disk, 0, &chan))
		abort();
	iobus_freeze(bus);
	struct vmbus_msg_initiate_contact ic = { .hdr.msgtype = VMBUS_MSG_INITIATE_CONTACT,
						 .version_requested = VMBUS_VERSION_WIN10_V5_3 };
	ic.msg_sint = 2;
	post(bus, &ic, VMBUS_INITIATE_CONTACT_SIZE_V1);
	struct vmbus_msg_header ro = { .msgtype = VMBUS_MSG_REQUEST_OFFERS };
	post(bus, &ro, sizeof(ro));
	/* GPADL of 8 pages (two rings of 1 + 3), open. */
	_Alignas(8) uint8_t m[240] = { 0 };
	struct vmbus_msg_gpadl_header gh = { .hdr.msgtype = VMBUS_MSG_GPADL_HEADER, .child_relid = 1,
					     .gpadl = 1, .range_buflen = 8 + 64, .rangecount = 1 };
	memcpy(m, &gh, sizeof(gh));
	uint32_t count = 8 * 4096;
	memcpy(m + sizeof(gh), &count, 4);
	for (uint64_t i = 0; i < 8; i++) {
		uint64_t pfn = RING_PFN + i;
		memcpy(m + sizeof(gh) + 8 + 8 * i, &pfn, 8);
	}
	post(bus, m, (uint32_t)sizeof(gh) + 72);
	struct vmbus_msg_open_channel oc = { .hdr.msgtype = VMBUS_MSG_OPEN_CHANNEL, .child_relid = 1,
					     .open_id = 1, .ring_gpadl = 1,
					     .downstream_ring_page_offset = 4 };
	post(bus, &oc, VMBUS_OPEN_CHANNEL_SIZE_V1);
	struct vmbus_msg_open_result res;
	memcpy(&res, last_msg, sizeof(res));
	if (res.hdr.msgtype != VMBUS_MSG_OPEN_CHANNEL_RESULT || res.status != 0)
		abort();

	uint8_t *c2s = ram + RING_PFN * 4096, *s2c = c2s + 4 * 4096;
	struct iobus_access a = { .vp = 0 };
	uint32_t conn = VMBUS_SERVER_CONN_ID_BASE + 1;
	if (!(data[0] & 1)) {
		if (size < 13)
			goto out;
		memcpy(c2s, data + 1, 8);            /* write_index, read_index */
		memcpy(s2c + 4, data + 9, 4);        /* the client's read index of our ring */
		size_t n = size - 13 < 3 * 4096 ? size - 13 : 3 * 4096;
		memcpy(c2s + 4096, data + 13, n);
		iobus_signal_event(bus, &a, conn, 0);
		iobus_signal_event(bus, &a, conn, 0);
	} else {
		struct vmbus_ring prod;
		if (vmbus_ring_init(&prod, VMBUS_RING_PRODUCER, c2s, c2s + 4096, 3 * 4096))
			abort();
		size_t at = 1;
		uint64_t tid = 0;
		while (at + 4 <= size) {
			uint8_t type = data[at], flags = data[at + 1];
			uint32_t ext_len = (uint32_t)(data[at + 2] & 0x1F) * 8;
			uint32_t pay_len = (uint32_t)data[at + 3] * 8;
			at += 4;
			_Alignas(8) uint8_t ext[31 * 8] = { 0 }, pay[255 * 8] = { 0 };
			size_t take = size - at < ext_len ? size - at : ext_len;
			memcpy(ext, data + at, take);
			at += take;
			take = size - at < pay_len ? size - at : pay_len;
			memcpy(pay, data + at, take);
			at += take;
			struct vmbus_ring_piece piece = { pay, pay_len };
			struct vmbus_ring_out o = { .type = type, .flags = flags & 1,
						    .transaction_id = ++tid, .ext = ext_len ? ext : NULL,
						    .ext_len = ext_len, .pieces = &piece,
						    .piece_count = 1 };
			vmbus_ring_send(&prod, &o, 0); /* refused shapes are fine: the input's problem */
			iobus_signal_event(bus, &a, conn, 0);
			/* The client takes every completion so the run goes on. */
			struct vmbus_ring cons;
			if (vmbus_ring_init(&cons, VMBUS_RING_CONSUMER, s2c, s2c + 4096, 3 * 4096) == 0) {
				struct vmbus_ring_packet p;
				while (vmbus_ring_peek(&cons, &p) == 0 && vmbus_ring_advance(&cons) == 0)
					;
				vmbus_ring_commit(&cons);
			}
		}
	}
out:
	for (unsigned i = 0; i < 4096; i++)
		if (ram[GUARD_PFN * 4096 + i] != 0x5A)
			abort();
	char why[128];
	if (vmbus_server_check(vmbus_vtl0_server(vb), why, sizeof(why)))
		abort();
	vclock_stop(clock);
	vmbus_scsi_destroy(chan);
	vmbus_vtl0_destroy(vb);
	scsi_disk_destroy(disk);
	iobus_destroy(bus);
	vclock_destroy(clock);
	return 0;
}
