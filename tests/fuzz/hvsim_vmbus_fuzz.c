/*
 * The simulated host's VMBus (tools/hvsim/hvsim_vmbus.c) against a hostile VTL2: the input is
 * a program of VTL2 actions - posts (any connection id, length, bytes), signals, writes into
 * the partition RAM its rings live in, SINT 7 reads - plus canned steps (a valid
 * InitiateContact, RequestOffers, a ring GPADL, OpenChannel) that get the fuzzer to open
 * channels and reach the serial and storvsp ring code. Nothing may crash, hang or leak, and the
 * server must stay consistent (vmbus_server_check) once the host's queue is drained.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hvcall/vmbus_abi.h"
#include "tools/hvsim/hvsim.h"
#include "tools/hvsim/hvsim_vmbus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MEM        (2u << 20)
#define WIN_PFN    0x10u                /* VTL2's ring/data window: 32 pages */
#define WIN_PAGES  32u
#define RING_PAGES 8u
#define REDIR      VMBUS_CONN_ID_VTL2_REDIRECT

static struct hvsim *fz_sim;
static FILE *fz_null;
static char fz_img[64];

static void remove_img(void)
{
	unlink(fz_img);
}

static void init_once(void)
{
	struct hvsim_config cfg = { .vp_count = 2, .mem_size = MEM };
	if (hvsim_create(&cfg, &fz_sim))
		abort();
	hvsim_sint_pause(fz_sim, false);
	fz_null = fopen("/dev/null", "w");
	snprintf(fz_img, sizeof(fz_img), "/tmp/hvsim-vmbus-fuzz-XXXXXX");
	int fd = mkstemp(fz_img);
	if (!fz_null || fd < 0 || ftruncate(fd, 64 << 10) != 0)
		abort();
	close(fd);
	atexit(remove_img);
}

struct in {
	const uint8_t *p;
	size_t n;
};

static uint8_t take8(struct in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static uint32_t take32(struct in *in)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v |= (uint32_t)take8(in) << (8 * i);
	return v;
}

static size_t take(struct in *in, void *buf, size_t want)
{
	size_t n = want < in->n ? want : in->n;
	memcpy(buf, in->p, n);
	in->p += n;
	in->n -= n;
	return n;
}

static void post(struct hvsim_vmbus *hv, const void *m, size_t len)
{
	(void)hv;
	(void)hvsim_sint_post_message(fz_sim, REDIR, VMBUS_MESSAGE_TYPE, m, len);
}

static void drain(void)
{
	uint8_t m[256];
	while (hvsim_sint_read(fz_sim, m, false) == 1)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!fz_sim)
		init_once();
	uint8_t *win = hvsim_gpa_ptr(fz_sim, gpa((uint64_t)WIN_PFN << 12), WIN_PAGES * 4096u);
	if (!win)
		abort();
	memset(win, 0, WIN_PAGES * 4096u);

	/* The flusher thread waits a minute: within one input only this thread flushes, so a
	 * run is reproducible. */
	struct hvsim_vmbus_config cfg = { .serial = true, .serial_out = fz_null,
					  .disk_path = fz_img, .log = fz_null,
					  .retry_us = 60000000u };
	struct hvsim_vmbus *hv;
	if (hvsim_vmbus_create(fz_sim, &cfg, &hv))
		abort();

	struct in in = { data, size };
	for (unsigned steps = 0; in.n && steps < 256; steps++) {
		uint8_t op = take8(&in);
		_Alignas(8) uint8_t m[256];
		memset(m, 0, sizeof(m));
		switch (op % 10) {
		case 0: {       /* a raw post */
			uint8_t sel = take8(&in);
			uint32_t conn = sel < 200 ? REDIR : sel < 220 ? VMBUS_CONN_ID_MESSAGE_4
							: take32(&in);
			size_t len = take8(&in) % 241u;
			take(&in, m, len);
			(void)hvsim_sint_post_message(fz_sim, conn, VMBUS_MESSAGE_TYPE, m, len);
			break;
		}
		case 1: {       /* a signal: mostly a channel's id */
			uint8_t sel = take8(&in);
			uint32_t conn = sel < 240 ? HVSIM_VMBUS_CONN_ID_BASE + sel % 4u
						  : take32(&in);
			(void)hvsim_sint_signal_event(fz_sim, conn, take8(&in) % 4u);
			break;
		}
		case 2: {       /* VTL2 writes into its ring window */
			uint32_t off = (take8(&in) | (uint32_t)take8(&in) << 8) * 8u %
				       (WIN_PAGES * 4096u);
			size_t len = take8(&in);
			if (len > WIN_PAGES * 4096u - off)
				len = WIN_PAGES * 4096u - off;
			take(&in, win + off, len);
			break;
		}
		case 3:
			drain();
			break;
		case 4: {       /* the host sends serial bytes */
			size_t len = take8(&in) * 17u;
			static uint8_t bytes[255 * 17];
			memset(bytes, op, len);
			(void)hvsim_vmbus_serial_send(hv, bytes, len);
			break;
		}
		case 5: {       /* a valid InitiateContact, some version */
			struct vmbus_msg_initiate_contact ic = {
				.hdr.msgtype = VMBUS_MSG_INITIATE_CONTACT,
				.version_requested = (take8(&in) & 1) ? VMBUS_VERSION_WIN10_V6_0
								     : VMBUS_VERSION_WIN10_V5_3,
				.target_vcpu = take8(&in) % 3u,
			};
			ic.msg_sint = VMBUS_VTL2_SINT;
			ic.msg_vtl = 2;
			ic.feature_flags = take8(&in);
			post(hv, &ic, sizeof(ic));
			break;
		}
		case 6: {
			struct vmbus_msg_header h = { .msgtype = VMBUS_MSG_REQUEST_OFFERS };
			post(hv, &h, sizeof(h));
			break;
		}
		case 7: {       /* a ring GPADL for relid 1 or 2 over its 8 window pages */
			uint32_t relid = 1 + (take8(&in) & 1u);
			struct vmbus_msg_gpadl_header gh = {
				.hdr.msgtype = VMBUS_MSG_GPADL_HEADER, .child_relid = relid,
				.gpadl = 0x100 + relid, .range_buflen = 8 + 8 * RING_PAGES,
				.rangecount = 1,
			};
			struct vmbus_gpa_range r = { .byte_count = RING_PAGES * 4096u };
			memcpy(m, &gh, sizeof(gh));
			memcpy(m + sizeof(gh), &r, sizeof(r));
			for (uint32_t i = 0; i < RING_PAGES; i++) {
				uint64_t pfn = WIN_PFN + (relid - 1) * RING_PAGES + i;
				memcpy(m + sizeof(gh) + 8 + 8 * i, &pfn, 8);
			}
			post(hv, m, sizeof(gh) + 8 + 8 * RING_PAGES);
			break;
		}
		case 8: {       /* OpenChannel on that GPADL */
			uint32_t relid = 1 + (take8(&in) & 1u);
			struct vmbus_msg_open_channel oc = {
				.hdr.msgtype = VMBUS_MSG_OPEN_CHANNEL, .child_relid = relid,
				.open_id = 1, .ring_gpadl = 0x100 + relid,
				.downstream_ring_page_offset = 2 + take8(&in) % 5u,
				.target_vp = take8(&in) % 3u,
			};
			post(hv, &oc, VMBUS_OPEN_CHANNEL_SIZE_V1);
			break;
		}
		default: {      /* CloseChannel / GpadlTeardown / Unload */
			uint32_t relid = 1 + (take8(&in) & 1u);
			struct vmbus_msg_gpadl_teardown t = { .child_relid = relid,
							      .gpadl = 0x100 + relid };
			uint8_t k = take8(&in) % 3u;
			t.hdr.msgtype = k == 0 ? VMBUS_MSG_CLOSE_CHANNEL
				      : k == 1 ? VMBUS_MSG_GPADL_TEARDOWN : VMBUS_MSG_UNLOAD;
			post(hv, &t, k == 2 ? 8 : sizeof(t));
			break;
		}
		}
	}
	/* Let the host finish talking, then check it. */
	for (unsigned i = 0; i < 64 && vmbus_server_pending(hvsim_vmbus_server(hv)); i++) {
		drain();
		hvsim_vmbus_flush(hv);
	}
	drain();
	if (vmbus_server_pending(hvsim_vmbus_server(hv)))
		abort();
	char why[160];
	if (vmbus_server_check(hvsim_vmbus_server(hv), why, sizeof(why))) {
		fprintf(stderr, "hvsim_vmbus_fuzz: %s\n", why);
		abort();
	}
	hvsim_vmbus_destroy(hv);
	drain();
	return 0;
}
