/* vmbus_host: the paravisor's client of the host's VMBus and its COM1 relay (vmbus_host.h). */
#include "devices/vmbus/vmbus_host.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/vmbus/storvsc.h"
#include "devices/vmbus/vmbus_client.h"
#include "devices/vmbus/vmbus_ring.h"
#include "hvcall/vmbus_abi.h"
#include "hvcall/vmbus_ring_abi.h"

#define RING_PAGES 8u           /* 4 per direction: control page + 3 data pages */
/* SCSI: storvsc keeps up to 32 batches (256 requests, ~112 bytes of packet each for 4 KiB
 * transfers) in flight; a batch that finds no room waits its turn as a synchronous one. */
#define SCSI_RING_PAGES 32u     /* 15 data pages a direction: about 500 such requests */
#define SCSI_BOUNCE_PAGES 64u   /* 256 KiB per request, larger I/O is split */

enum serial_state { SER_NONE, SER_GPADL, SER_OPENING, SER_OPEN, SER_DEAD };

struct vmbus_host {
	struct devctx dc;
	struct vmbus_host_config cfg;
	struct vmbus_client *cl;
	pthread_mutex_t lock;
	int connect_err;
	uint32_t version;
	/* The serial channel (lock). */
	enum serial_state ser;
	uint32_t ser_relid, ser_gpadl;
	uint8_t *ring;
	uint64_t pfns[RING_PAGES];
	struct vmbus_ring out, in;
	uint8_t backlog[VMBUS_HOST_BACKLOG];
	size_t backlog_len;
	size_t line_end;            /* backlog bytes up to the last newline */
	uint64_t bytes_out, packets_out, dropped, bytes_in, bad_packets, broken;
	/* The SCSI channel (lock; storvsc has its own). */
	enum serial_state scsi;
	uint32_t scsi_relid, scsi_gpadl;
	uint8_t *scsi_mem;          /* ring pages, then bounce pages */
	uint64_t scsi_pfns[SCSI_RING_PAGES + SCSI_BOUNCE_PAGES];
	struct storvsc *sc;
	_Alignas(8) uint8_t rx_buf[sizeof(struct vmbus_serial_hdr) + VMBUS_SERIAL_MAX_BYTES + 8];
};

static const struct vmbus_guid serial_class = VMBUS_GUID_SERIAL;
static const struct vmbus_guid com1_instance = VMBUS_GUID_SERIAL_COM1;
static const struct vmbus_guid scsi_class = VMBUS_GUID_SCSI;

static void log_line(struct vmbus_host *h, const char *what)
{
	fprintf(h->dc.log ? h->dc.log : stderr, "vmbus-host: %s\n", what);
}

/* ---- the client's transport: the partition's host services ---- */

static int cl_post(void *ctx, uint32_t conn_id, const void *msg, size_t len)
{
	struct vmbus_host *h = ctx;
	return h->dc.host_post(h->dc.ctx, conn_id, VMBUS_MESSAGE_TYPE, msg, (uint32_t)len);
}

static int cl_signal(void *ctx, uint32_t conn_id, uint16_t flag)
{
	struct vmbus_host *h = ctx;
	return h->dc.host_signal(h->dc.ctx, conn_id, flag);
}

static void cl_log(void *ctx, const char *line)
{
	log_line(ctx, line);
}

/* ---- the serial channel ---- */

/*
 * Lock held. Send complete lines (or full packets) from the backlog while the ring takes them.
 * Returns true when the host must be signalled.
 */
static bool flush_locked(struct vmbus_host *h, bool all)
{
	bool signal = false;
	while (h->ser == SER_OPEN && h->backlog_len) {
		size_t n = all ? h->backlog_len : h->line_end;
		if (n > VMBUS_SERIAL_MAX_BYTES)
			n = VMBUS_SERIAL_MAX_BYTES;
		if (n == 0)
			break;
		struct vmbus_serial_hdr hdr = { .byte_count = (uint32_t)n };
		struct vmbus_ring_piece pieces[2] = { { &hdr, sizeof(hdr) }, { h->backlog, n } };
		struct vmbus_ring_out o = { .type = VMBUS_PKT_DATA_INBAND, .pieces = pieces,
					    .piece_count = 2 };
		int rc = vmbus_ring_send(&h->out, &o, VMBUS_RING_SEND_SET_PENDING);
		if (rc == -EAGAIN)
			break; /* the host signals when there is room (pending_send_sz) */
		if (rc < 0) {
			h->ser = SER_DEAD;
			h->broken++;
			log_line(h, "serial ring to the host broken: relay stopped");
			break;
		}
		signal |= rc == VMBUS_RING_SIGNAL;
		h->bytes_out += n;
		h->packets_out++;
		memmove(h->backlog, h->backlog + n, h->backlog_len - n);
		h->backlog_len -= n;
		h->line_end = h->line_end > n ? h->line_end - n : 0;
	}
	return signal;
}

/* Host thread: bytes the host sent, then whatever the backlog can now send. */
static void serial_event(struct vmbus_host *h)
{
	pthread_mutex_lock(&h->lock);
	if (h->ser != SER_OPEN) {
		pthread_mutex_unlock(&h->lock);
		return;
	}
	bool signal = false;
again:
	for (;;) {
		struct vmbus_ring_packet p;
		int rc = vmbus_ring_peek(&h->in, &p);
		if (rc == -EAGAIN)
			break;
		if (rc < 0) {
			h->ser = SER_DEAD;
			h->broken++;
			log_line(h, "serial ring from the host broken: relay stopped");
			break;
		}
		int32_t n = p.desc.type == VMBUS_PKT_DATA_INBAND ?
			vmbus_ring_packet_payload(&h->in, &p, h->rx_buf, sizeof(h->rx_buf)) : -1;
		struct vmbus_serial_hdr hdr;
		if (n >= (int32_t)sizeof(hdr)) {
			memcpy(&hdr, h->rx_buf, sizeof(hdr));
			if (hdr.byte_count == 0 || hdr.byte_count > VMBUS_SERIAL_MAX_BYTES ||
			    hdr.reserved || hdr.byte_count > (uint32_t)n - sizeof(hdr))
				n = -1;
		} else {
			n = -1;
		}
		if (n < 0) {
			h->bad_packets++;
		} else {
			h->bytes_in += hdr.byte_count;
			if (h->cfg.rx)
				h->cfg.rx(h->cfg.rx_ctx, h->rx_buf + sizeof(hdr), hdr.byte_count);
		}
		if (vmbus_ring_advance(&h->in) < 0)
			break;
	}
	if (h->ser == SER_OPEN) {
		/* Bytes the host wrote while we finished come with no signal: read them now. */
		int rc = vmbus_ring_finish(&h->in);
		signal |= rc > 0 && (rc & VMBUS_RING_SIGNAL);
		if (rc > 0 && (rc & VMBUS_RING_MORE))
			goto again;
		signal |= flush_locked(h, false);
	}
	uint32_t relid = h->ser_relid;
	pthread_mutex_unlock(&h->lock);
	if (signal)
		vmbus_client_signal(h->cl, relid);
}

void vmbus_host_serial_tx(struct vmbus_host *h, uint8_t byte)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	if (h->ser == SER_DEAD || h->backlog_len == sizeof(h->backlog)) {
		h->dropped++;
		pthread_mutex_unlock(&h->lock);
		return;
	}
	h->backlog[h->backlog_len++] = byte;
	if (byte == '\n')
		h->line_end = h->backlog_len;
	bool signal = false;
	if (byte == '\n' || h->backlog_len - h->line_end >= VMBUS_SERIAL_MAX_BYTES)
		signal = flush_locked(h, byte != '\n');
	uint32_t relid = h->ser_relid;
	pthread_mutex_unlock(&h->lock);
	if (signal)
		vmbus_client_signal(h->cl, relid);
}

/* ---- the SCSI channel: storvsc over it, the disk to vm.c ---- */

static int scsi_signal(void *ctx)
{
	struct vmbus_host *h = ctx;
	return vmbus_client_signal(h->cl, h->scsi_relid);
}

/* Without hardware isolation the host reaches VTL0's pages anyway: storvsc names them. */
static int scsi_host_gpa(void *ctx, const void *buf, size_t len, uint64_t *out)
{
	struct vmbus_host *h = ctx;
	gpa_t a;
	int rc = h->dc.host_gpa(h->dc.ctx, buf, len, &a);
	if (rc == 0)
		*out = a.v;
	return rc;
}

static void scsi_log(void *ctx, const char *line)
{
	struct vmbus_host *h = ctx;
	fprintf(h->dc.log ? h->dc.log : stderr, "vmbus-host: storvsc: %s\n", line);
}

static void scsi_ready(void *ctx, int err, const struct scsi_disk_backend *be)
{
	struct vmbus_host *h = ctx;
	if (err == 0 && h->cfg.disk_ready)
		h->cfg.disk_ready(h->cfg.disk_ctx, be);
}

/* An offered SCSI controller: memory and a GPADL over its ring pages (once). */
static void scsi_setup(struct vmbus_host *h)
{
	pthread_mutex_lock(&h->lock);
	if (h->scsi != SER_NONE || !h->scsi_relid) {
		pthread_mutex_unlock(&h->lock);
		return;
	}
	void *mem = NULL;
	int rc = h->dc.shared_alloc(h->dc.ctx, SCSI_RING_PAGES + SCSI_BOUNCE_PAGES, &mem,
				    h->scsi_pfns);
	if (rc == 0) {
		h->scsi_mem = mem;
		memset(mem, 0, SCSI_RING_PAGES * 4096);
	}
	h->scsi = rc == 0 ? SER_GPADL : SER_DEAD;
	uint32_t relid = h->scsi_relid;
	pthread_mutex_unlock(&h->lock);
	if (rc == 0)
		rc = vmbus_client_gpadl_create(h->cl, relid, h->scsi_pfns, SCSI_RING_PAGES,
					       &h->scsi_gpadl);
	if (rc) {
		pthread_mutex_lock(&h->lock);
		h->scsi = SER_DEAD;
		pthread_mutex_unlock(&h->lock);
		log_line(h, "no memory the host can reach for the SCSI channel: disk relay off");
	}
}

/* True when the GPADL was the SCSI ring's. */
static bool scsi_gpadl_created(struct vmbus_host *h, uint32_t relid, uint32_t gpadl_id, int err)
{
	pthread_mutex_lock(&h->lock);
	bool ours = h->scsi == SER_GPADL && relid == h->scsi_relid && gpadl_id == h->scsi_gpadl;
	if (ours)
		h->scsi = err ? SER_DEAD : SER_OPENING;
	pthread_mutex_unlock(&h->lock);
	if (!ours || err)
		return ours;
	struct vmbus_client_open_params op = { .ring_gpadl = gpadl_id,
					       .downstream_offset = SCSI_RING_PAGES / 2,
					       .chan_ctx = h };
	if (h->dc.host_watch(h->dc.ctx, relid) || vmbus_client_open(h->cl, relid, &op)) {
		pthread_mutex_lock(&h->lock);
		h->scsi = SER_DEAD;
		pthread_mutex_unlock(&h->lock);
	}
	return true;
}

/* True when the channel was the SCSI one: storvsc starts its init. */
static bool scsi_opened(struct vmbus_host *h, uint32_t relid, int err)
{
	pthread_mutex_lock(&h->lock);
	bool ours = h->scsi == SER_OPENING && relid == h->scsi_relid;
	struct storvsc *sc = NULL;
	if (ours && !err) {
		struct storvsc_config sc_cfg = {
			.ring = h->scsi_mem,
			.ring_pages = SCSI_RING_PAGES,
			.bounce = h->scsi_mem + SCSI_RING_PAGES * 4096,
			.bounce_pfns = h->scsi_pfns + SCSI_RING_PAGES,
			.bounce_pages = SCSI_BOUNCE_PAGES,
			.host_gpa = h->dc.host_gpa ? scsi_host_gpa : NULL,
			.signal = scsi_signal,
			.ready = scsi_ready,
			.log = scsi_log,
			.ctx = h,
		};
		if (storvsc_create(&sc_cfg, &h->sc) == 0)
			sc = h->sc;
	}
	if (ours)
		h->scsi = sc ? SER_OPEN : SER_DEAD;
	pthread_mutex_unlock(&h->lock);
	if (sc && storvsc_start(sc))
		log_line(h, "cannot start the SCSI channel's init: disk relay off");
	return ours;
}

/* ---- the client's callbacks (host thread, without the client's lock) ---- */

static void cl_connected(void *ctx, int err, uint32_t version)
{
	struct vmbus_host *h = ctx;
	pthread_mutex_lock(&h->lock);
	h->connect_err = err;
	h->version = version;
	pthread_mutex_unlock(&h->lock);
	if (err) {
		char line[96];
		snprintf(line, sizeof(line), "the host's VMBus refused us: %s", strerror(-err));
		log_line(h, line);
	}
}

static void cl_offer(void *ctx, const struct vmbus_client_offer *o)
{
	struct vmbus_host *h = ctx;
	pthread_mutex_lock(&h->lock);
	if (h->ser == SER_NONE && !memcmp(&o->interface_type, &serial_class, sizeof(serial_class)) &&
	    !memcmp(&o->instance, &com1_instance, sizeof(com1_instance)))
		h->ser_relid = o->relid;
	/* The first SCSI controller only (storvsc.h: one disk). */
	if (h->scsi == SER_NONE && !h->scsi_relid && o->relid &&
	    !memcmp(&o->interface_type, &scsi_class, sizeof(scsi_class)))
		h->scsi_relid = o->relid;
	pthread_mutex_unlock(&h->lock);
}

static void cl_offers_done(void *ctx)
{
	struct vmbus_host *h = ctx;
	scsi_setup(h);
	pthread_mutex_lock(&h->lock);
	if (h->ser != SER_NONE || !h->ser_relid) {
		pthread_mutex_unlock(&h->lock);
		return;
	}
	void *mem = NULL;
	int rc = h->ring ? 0 : h->dc.shared_alloc(h->dc.ctx, RING_PAGES, &mem, h->pfns);
	if (rc == 0 && !h->ring) {
		h->ring = mem;
		memset(h->ring, 0, RING_PAGES * 4096);
	}
	h->ser = rc == 0 ? SER_GPADL : SER_DEAD;
	uint32_t relid = h->ser_relid;
	pthread_mutex_unlock(&h->lock);
	if (rc == 0)
		rc = vmbus_client_gpadl_create(h->cl, relid, h->pfns, RING_PAGES, &h->ser_gpadl);
	if (rc) {
		pthread_mutex_lock(&h->lock);
		h->ser = SER_DEAD;
		pthread_mutex_unlock(&h->lock);
		log_line(h, "no memory the host can reach for the serial ring: relay off");
	}
}

static void cl_gpadl_created(void *ctx, uint32_t relid, uint32_t gpadl_id, int err,
			     uint32_t status)
{
	(void)status;
	struct vmbus_host *h = ctx;
	if (scsi_gpadl_created(h, relid, gpadl_id, err))
		return;
	pthread_mutex_lock(&h->lock);
	bool ours = h->ser == SER_GPADL && relid == h->ser_relid && gpadl_id == h->ser_gpadl;
	if (ours)
		h->ser = err ? SER_DEAD : SER_OPENING;
	pthread_mutex_unlock(&h->lock);
	if (!ours || err)
		return;
	struct vmbus_client_open_params op = { .ring_gpadl = gpadl_id,
					       .downstream_offset = RING_PAGES / 2, .chan_ctx = h };
	if (h->dc.host_watch(h->dc.ctx, relid) || vmbus_client_open(h->cl, relid, &op)) {
		pthread_mutex_lock(&h->lock);
		h->ser = SER_DEAD;
		pthread_mutex_unlock(&h->lock);
	}
}

static void cl_opened(void *ctx, uint32_t relid, void *chan_ctx, int err, uint32_t status)
{
	(void)chan_ctx;
	(void)status;
	struct vmbus_host *h = ctx;
	if (scsi_opened(h, relid, err))
		return;
	pthread_mutex_lock(&h->lock);
	bool signal = false;
	if (h->ser == SER_OPENING && relid == h->ser_relid) {
		size_t half = RING_PAGES / 2 * 4096;
		if (err ||
		    vmbus_ring_init(&h->out, VMBUS_RING_PRODUCER, h->ring, h->ring + 4096,
				    half - 4096) ||
		    vmbus_ring_init(&h->in, VMBUS_RING_CONSUMER, h->ring + half, h->ring + half + 4096,
				    half - 4096)) {
			h->ser = SER_DEAD;
		} else {
			h->ser = SER_OPEN;
			signal = flush_locked(h, false);
		}
	}
	pthread_mutex_unlock(&h->lock);
	if (signal)
		vmbus_client_signal(h->cl, relid);
}

static void cl_event(void *ctx, uint32_t relid, void *chan_ctx)
{
	(void)chan_ctx;
	struct vmbus_host *h = ctx;
	pthread_mutex_lock(&h->lock);
	struct storvsc *sc = relid == h->scsi_relid && h->scsi == SER_OPEN ? h->sc : NULL;
	pthread_mutex_unlock(&h->lock);
	if (sc)
		storvsc_event(sc);
	else
		serial_event(h);
}

static void cl_rescinded(void *ctx, uint32_t relid, void *chan_ctx)
{
	(void)chan_ctx;
	struct vmbus_host *h = ctx;
	pthread_mutex_lock(&h->lock);
	bool ours = relid == h->ser_relid;
	if (ours)
		h->ser = SER_DEAD; /* the ring pages stay ours; the relay ends */
	if (relid == h->scsi_relid && h->scsi != SER_DEAD) {
		/* VTL0's disk stays, its I/O fails or times out: hot removal is not done. */
		h->scsi = SER_DEAD;
		pthread_mutex_unlock(&h->lock);
		log_line(h, "the host withdrew its SCSI controller: disk relay stopped");
		return;
	}
	pthread_mutex_unlock(&h->lock);
	if (ours) {
		vmbus_client_close(h->cl, relid);
		vmbus_client_release(h->cl, relid);
		log_line(h, "the host withdrew the serial device: relay stopped");
	}
}

static const struct vmbus_client_ops client_ops = {
	.post_message = cl_post,
	.signal_event = cl_signal,
	.log = cl_log,
	.connected = cl_connected,
	.offer = cl_offer,
	.offers_done = cl_offers_done,
	.rescinded = cl_rescinded,
	.gpadl_created = cl_gpadl_created,
	.opened = cl_opened,
	.event = cl_event,
};

/* ---- the partition's host thread ---- */

static void host_message(void *dev, uint32_t type, const void *payload, uint32_t len)
{
	struct vmbus_host *h = dev;
	if (type == VMBUS_MESSAGE_TYPE)
		vmbus_client_handle_message(h->cl, payload, len);
}

static void host_event(void *dev)
{
	struct vmbus_host *h = dev;
	pthread_mutex_lock(&h->lock);
	uint32_t relid = h->ser == SER_OPEN ? h->ser_relid : 0;
	uint32_t scsi = h->scsi == SER_OPEN ? h->scsi_relid : 0;
	pthread_mutex_unlock(&h->lock);
	/* Which flag fired is not told: every open channel looks at its ring. */
	if (relid)
		vmbus_client_handle_event(h->cl, relid);
	if (scsi)
		vmbus_client_handle_event(h->cl, scsi);
	vmbus_client_flush(h->cl);
}

static const struct devctx_host_ops host_ops = {
	.message = host_message,
	.event = host_event,
};

int vmbus_host_create(const struct devctx *dc, const struct vmbus_host_config *cfg,
		      struct vmbus_host **out)
{
	if (!dc || !out || !dc->host_post || !dc->host_signal || !dc->host_listen ||
	    !dc->host_watch || !dc->shared_alloc)
		return -EINVAL;
	struct vmbus_host *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->dc = *dc;
	if (cfg)
		h->cfg = *cfg;
	h->connect_err = 1;
	pthread_mutex_init(&h->lock, NULL);
	struct vmbus_client_config cc = {
		.vp = 0,
		.sint = VMBUS_VTL2_SINT,
		.vtl = 2,
		.contact_conn_id = VMBUS_CONN_ID_VTL2_REDIRECT,
	};
	int rc = vmbus_client_create(&client_ops, h, &cc, &h->cl);
	if (rc == 0)
		rc = dc->host_listen(dc->ctx, &host_ops, h);
	if (rc == 0)
		rc = vmbus_client_connect(h->cl);
	if (rc) {
		vmbus_host_destroy(h);
		return rc;
	}
	*out = h;
	return 0;
}

void vmbus_host_destroy(struct vmbus_host *h)
{
	if (!h)
		return;
	vmbus_client_destroy(h->cl);
	storvsc_destroy(h->sc);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

void vmbus_host_get_stats(struct vmbus_host *h, struct vmbus_host_stats *st)
{
	pthread_mutex_lock(&h->lock);
	*st = (struct vmbus_host_stats){
		.connect_err = h->connect_err,
		.version = h->version,
		.serial_open = h->ser == SER_OPEN,
		.serial_bytes_out = h->bytes_out,
		.serial_packets_out = h->packets_out,
		.serial_dropped = h->dropped,
		.serial_bytes_in = h->bytes_in,
		.serial_bad_packets = h->bad_packets,
		.serial_broken = h->broken,
	};
	struct storvsc *sc = h->sc;
	pthread_mutex_unlock(&h->lock);
	if (sc) {
		struct storvsc_stats ss;
		storvsc_get_stats(sc, &ss);
		st->disk_ready = ss.ready;
		st->disk_bytes = ss.disk_bytes;
		st->disk_requests = ss.requests;
		st->disk_direct = ss.direct;
		st->disk_errors = ss.errors;
		st->disk_timeouts = ss.timeouts;
		st->disk_bad_packets = ss.bad_packets;
	}
}
