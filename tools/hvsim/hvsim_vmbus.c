/*
 * hvsim_vmbus: the simulated host's VMBus for VTL2's client (hvsim_vmbus.h): a vmbus_server in
 * redirected mode on hvsim's host ops, a serial channel and a storvsp SCSI channel.
 *
 * Locking: hv->lock guards the flusher thread's state and the transport counters; the serial
 * channel has its own lock (ring views, output line state, counters). Neither is held while
 * calling into the server (the server calls back into srv_post / srv_signal, which take
 * hv->lock): the serial channel signals VTL2 after dropping its lock, as vmbus_scsi does.
 */
#include "tools/hvsim/hvsim_vmbus.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "devices/vmbus/vmbus_ring.h"
#include "hvcall/vmbus_ring_abi.h"
#include "tools/hvsim/hvsim.h"
#include "vtl2/devctx.h"

#define PAGE 4096u
#define CLIENT_VTL 2u
/* A serial packet: the header and at most HVSIM_VMBUS_SERIAL_MAX_BYTES, padded to 8. */
#define SERIAL_PAYLOAD_MAX (sizeof(struct vmbus_serial_hdr) + HVSIM_VMBUS_SERIAL_MAX_BYTES)
#define SERIAL_PREFIX "host-serial: "

_Static_assert(HVSIM_VMBUS_CONN_ID_BASE == (CLIENT_VTL << 16 | VMBUS_VTL2_SINT << 12),
	       "channel ids as openvmm numbers them for VTL 2, SINT 7 (facts §3.1)");

struct serial {
	struct hvsim_vmbus *hv;
	struct vmbus_channel *ch;
	pthread_mutex_t lock;
	FILE *out;
	bool open, broken;
	bool mid_line;              /* the prefix of the current output line was printed */
	struct vmbus_ring in;       /* VTL2 -> host: we consume */
	struct vmbus_ring out_ring; /* host -> VTL2: we produce */
	uint64_t bytes_in, packets_in, bytes_out, packets_out, bad_packets, broken_count;
	_Alignas(8) uint8_t buf[SERIAL_PAYLOAD_MAX + sizeof(struct vmbus_pkt_desc)];
};

struct hvsim_vmbus {
	struct hvsim *sim;
	struct vmbus_server *srv;
	FILE *log;
	uint32_t retry_us;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t flusher;
	bool flusher_started, stop, retry_wanted;
	bool ops_installed;         /* our host ops are on the sim */
	uint64_t posts, posts_refused, signals, signals_dropped, messages_out, message_retries,
		 flushes, events_out;

	struct serial *serial;

	int disk_fd;
	struct scsi_disk *disk;
	struct vmbus_scsi *scsi;
	struct devctx dc;           /* what vmbus_scsi sees: partition RAM and the log */
};

static void count(struct hvsim_vmbus *hv, uint64_t *c)
{
	pthread_mutex_lock(&hv->lock);
	(*c)++;
	pthread_mutex_unlock(&hv->lock);
}

/* ------------------------------------------------------------------------------------------ */
/* Partition RAM                                                                              */
/* ------------------------------------------------------------------------------------------ */

static void *ram(struct hvsim_vmbus *hv, uint64_t gpa_v, uint64_t len)
{
	if (len > SIZE_MAX || gpa_v + len < gpa_v)
		return NULL;
	return hvsim_gpa_ptr(hv->sim, gpa(gpa_v), (size_t)len);
}

static void *page_ptr(void *ctx, uint64_t pfn)
{
	return ram(ctx, pfn << 12, PAGE);
}

static void *dc_ram_ptr(void *ctx, gpa_t a, uint64_t len)
{
	return ram(ctx, a.v, len);
}

/* ------------------------------------------------------------------------------------------ */
/* Server transport: SINT 7 of VTL2                                                           */
/* ------------------------------------------------------------------------------------------ */

/* The server only targets the client's SINT and VTL; checked again before hvsim sees it. */
static bool target_ok(const struct vmbus_server_target *t)
{
	return t->sint == VMBUS_VTL2_SINT && t->vtl == CLIENT_VTL;
}

static int srv_post(void *ctx, const struct vmbus_server_target *t, const void *msg, size_t len)
{
	struct hvsim_vmbus *hv = ctx;
	if (!target_ok(t))
		return -EINVAL;
	/* The SynIC message's port id: the message connection the answers belong to. */
	int rc = hvsim_host_send_message(hv->sim, VMBUS_MESSAGE_TYPE, VMBUS_CONN_ID_VTL2_REDIRECT,
					 msg, len);
	pthread_mutex_lock(&hv->lock);
	if (rc == -EAGAIN) {
		/* VTL2 has not read its queue: the flusher tries again after a while. */
		hv->message_retries++;
		hv->retry_wanted = true;
		pthread_cond_signal(&hv->cond);
	} else if (rc == 0) {
		hv->messages_out++;
	}
	pthread_mutex_unlock(&hv->lock);
	return rc;
}

static int srv_signal(void *ctx, const struct vmbus_server_target *t, uint16_t flag)
{
	struct hvsim_vmbus *hv = ctx;
	if (!target_ok(t))
		return -EINVAL;
	int rc = hvsim_host_signal_flag(hv->sim, flag);
	if (rc == 0)
		count(hv, &hv->events_out);
	return rc;
}

/* GPADL pages: partition RAM only (one call: RAM is one range from GPA 0). */
static int srv_check_pages(void *ctx, gpn_t first, uint64_t n)
{
	struct hvsim_vmbus *hv = ctx;
	if (first.v >= (1ull << 40) || n == 0 || n > (1ull << 40))
		return -EINVAL;
	return ram(hv, first.v << 12, n << 12) ? 0 : -EINVAL;
}

static void srv_log(void *ctx, const char *line)
{
	struct hvsim_vmbus *hv = ctx;
	fprintf(hv->log, "hvsim-vmbus: %s\n", line);
}

static const struct vmbus_server_ops server_ops = {
	.post_message = srv_post,
	.signal_event = srv_signal,
	.check_pages = srv_check_pages,
	.log = srv_log,
};

/* Retries what the full SINT 7 queue refused, every retry period while there is some. */
static void *flusher_main(void *arg)
{
	struct hvsim_vmbus *hv = arg;
	pthread_mutex_lock(&hv->lock);
	while (!hv->stop) {
		if (!hv->retry_wanted) {
			pthread_cond_wait(&hv->cond, &hv->lock);
			continue;
		}
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)hv->retry_us * 1000u;
		ts.tv_sec += (time_t)(ns / 1000000000u);
		ts.tv_nsec = (long)(ns % 1000000000u);
		/* A whole period (more refusals signal meanwhile); only stop cuts it short. */
		while (!hv->stop && pthread_cond_timedwait(&hv->cond, &hv->lock, &ts) != ETIMEDOUT)
			;
		if (hv->stop)
			break;
		hv->retry_wanted = false;
		hv->flushes++;
		pthread_mutex_unlock(&hv->lock);
		vmbus_server_flush(hv->srv);    /* a refusal sets retry_wanted again */
		pthread_mutex_lock(&hv->lock);
	}
	pthread_mutex_unlock(&hv->lock);
	return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* hvsim host ops: what VTL2 posts and signals                                                */
/* ------------------------------------------------------------------------------------------ */

static int host_post(void *ctx, const struct hvsim_host_msg *m)
{
	struct hvsim_vmbus *hv = ctx;
	_Alignas(8) uint8_t copy[VMBUS_MSG_MAX_SIZE];

	count(hv, &hv->posts);
	/*
	 * Not the message connection: the hypervisor would fail the post with
	 * INVALID_CONNECTION_ID. Decided here, not from the server's -ENOENT, which it also
	 * returns for messages it refuses (an unknown relid or GPADL) that were delivered.
	 */
	if (m->connection_id != VMBUS_CONN_ID_VTL2_REDIRECT) {
		count(hv, &hv->posts_refused);
		return -ENOENT;
	}
	if (m->message_type != VMBUS_MESSAGE_TYPE || m->size > sizeof(copy)) {
		count(hv, &hv->posts_refused);
		return -EINVAL;
	}
	/* Our own copy: the server never sees memory that anyone else may still change. */
	memcpy(copy, m->payload, m->size);
	/* Delivered whatever the server makes of it: it counts a refusal and answers if it can. */
	(void)vmbus_server_handle_message(hv->srv, m->connection_id, copy, m->size);
	return 0;
}

static void host_signal(void *ctx, uint32_t connection_id, uint32_t flag)
{
	struct hvsim_vmbus *hv = ctx;
	(void)flag; /* channels signal with flag 0: the connection id names the channel */
	count(hv, &hv->signals);
	if (vmbus_server_signal(hv->srv, connection_id) != 0)
		count(hv, &hv->signals_dropped);
}

static const struct hvsim_host_ops host_ops = {
	.post_message = host_post,
	.signal_event = host_signal,
};

/* ------------------------------------------------------------------------------------------ */
/* Serial channel                                                                             */
/* ------------------------------------------------------------------------------------------ */

/* Serial lock held. Print VTL2's bytes, each line behind the prefix. */
static void serial_print(struct serial *s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!s->mid_line) {
			fputs(SERIAL_PREFIX, s->out);
			s->mid_line = true;
		}
		fputc(p[i], s->out);
		if (p[i] == '\n')
			s->mid_line = false;
	}
	fflush(s->out);
}

/* Serial lock held. A protocol violation on either ring: stop the channel's data plane. */
static void serial_broke(struct serial *s, struct vmbus_ring *r, const char *what)
{
	if (s->broken)
		return;
	s->broken = true;
	s->broken_count++;
	fprintf(s->hv->log, "hvsim-vmbus: serial %s ring broken (%s): channel stopped\n", what,
		vmbus_ring_broken_reason(r));
}

static int serial_open(void *ctx, struct vmbus_channel *ch,
		       const struct vmbus_channel_open_info *info)
{
	(void)ch;
	struct serial *s = ctx;
	pthread_mutex_lock(&s->lock);
	int rc = vmbus_ring_map_channel(&s->in, &s->out_ring, info->ring_pfns,
					info->ring_page_count, info->downstream_offset, page_ptr,
					s->hv);
	if (rc == 0) {
		s->open = true;
		s->broken = false;
	}
	pthread_mutex_unlock(&s->lock);
	return rc < 0 ? -EINVAL : 0;
}

static void serial_close(void *ctx, struct vmbus_channel *ch)
{
	(void)ch;
	struct serial *s = ctx;
	pthread_mutex_lock(&s->lock);
	s->open = false;
	pthread_mutex_unlock(&s->lock);
}

static void serial_released(void *ctx, struct vmbus_channel *ch)
{
	(void)ch;
	struct serial *s = ctx;
	s->ch = NULL;
}

/* Serial lock held. The bytes of one packet copied into s->buf, or -EINVAL if malformed. */
static int serial_take(struct serial *s, const struct vmbus_ring_packet *p, const uint8_t **bytes,
		       uint32_t *n)
{
	struct vmbus_serial_hdr h;
	uint32_t payload = p->len - p->data_offset;
	if (p->desc.type != VMBUS_PKT_DATA_INBAND || payload < sizeof(h) ||
	    payload > SERIAL_PAYLOAD_MAX + 7)
		return -EINVAL;
	if (vmbus_ring_packet_copy(&s->in, p, p->data_offset, s->buf, payload) != 0)
		return -EINVAL;
	/* Only the copy is read: VTL2 may rewrite its ring meanwhile. */
	memcpy(&h, s->buf, sizeof(h));
	if (h.reserved != 0 || h.byte_count == 0 || h.byte_count > HVSIM_VMBUS_SERIAL_MAX_BYTES ||
	    h.byte_count > payload - sizeof(h))
		return -EINVAL;
	*bytes = s->buf + sizeof(h);
	*n = h.byte_count;
	return 0;
}

/* VTL2 signalled: print everything on its ring (on the signalling VTL2 thread). */
static void serial_signal(void *ctx, struct vmbus_channel *ch)
{
	struct serial *s = ctx;
	bool notify = false;
	pthread_mutex_lock(&s->lock);
	if (!s->open || s->broken)
		goto out;
again:
	for (;;) {
		struct vmbus_ring_packet p;
		int rc = vmbus_ring_peek(&s->in, &p);
		if (rc == -EAGAIN)
			break;
		if (rc < 0) {
			serial_broke(s, &s->in, "VTL2-to-host");
			break;
		}
		const uint8_t *bytes;
		uint32_t n;
		if (serial_take(s, &p, &bytes, &n) == 0) {
			serial_print(s, bytes, n);
			s->bytes_in += n;
			s->packets_in++;
		} else {
			s->bad_packets++;
		}
		if (vmbus_ring_advance(&s->in) < 0) {
			serial_broke(s, &s->in, "VTL2-to-host");
			break;
		}
	}
	if (!s->broken) {
		int rc = vmbus_ring_finish(&s->in);
		if (rc < 0)
			serial_broke(s, &s->in, "VTL2-to-host");
		/* VTL2 waits for room (pending_send_sz) */
		notify |= rc > 0 && (rc & VMBUS_RING_SIGNAL);
		if (rc > 0 && (rc & VMBUS_RING_MORE))
			goto again; /* written while we finished: no signal comes for it */
	}
out:
	pthread_mutex_unlock(&s->lock);
	if (notify)
		vmbus_server_channel_signal(ch);
}

static const struct vmbus_channel_ops serial_ops = {
	.open = serial_open,
	.close = serial_close,
	.signal = serial_signal,
	.released = serial_released,
};

int hvsim_vmbus_serial_send(struct hvsim_vmbus *hv, const void *buf, size_t len)
{
	if (!hv || (!buf && len) || len > INT32_MAX)
		return -EINVAL;
	struct serial *s = hv->serial;
	if (!s)
		return -ENODEV;
	const uint8_t *p = buf;
	size_t sent = 0;
	bool notify = false;
	int err = 0;
	pthread_mutex_lock(&s->lock);
	struct vmbus_channel *ch = s->ch;
	if (!s->open)
		err = -ENOTCONN;
	else if (s->broken)
		err = -EPIPE;
	while (!err && sent < len) {
		size_t n = len - sent;
		if (n > HVSIM_VMBUS_SERIAL_MAX_BYTES)
			n = HVSIM_VMBUS_SERIAL_MAX_BYTES;
		struct vmbus_serial_hdr h = { .byte_count = (uint32_t)n };
		struct vmbus_ring_piece pieces[2] = { { &h, sizeof(h) }, { p + sent, n } };
		struct vmbus_ring_out o = {
			.type = VMBUS_PKT_DATA_INBAND,
			.pieces = pieces,
			.piece_count = 2,
		};
		int rc = vmbus_ring_send(&s->out_ring, &o, 0);
		if (rc == -EAGAIN) {
			if (sent == 0)
				err = -EAGAIN;
			break;
		}
		if (rc < 0) {
			serial_broke(s, &s->out_ring, "host-to-VTL2");
			err = -EPIPE;
			break;
		}
		notify |= rc == VMBUS_RING_SIGNAL;
		sent += n;
		s->bytes_out += n;
		s->packets_out++;
	}
	pthread_mutex_unlock(&s->lock);
	if (notify && ch)
		vmbus_server_channel_signal(ch);
	return sent ? (int)sent : err;
}

static int serial_create(struct hvsim_vmbus *hv, FILE *out)
{
	struct serial *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->hv = hv;
	s->out = out ? out : stdout;
	pthread_mutex_init(&s->lock, NULL);
	struct vmbus_offer_params op = {
		.interface_type = VMBUS_GUID_SERIAL,
		.instance = VMBUS_GUID_SERIAL_COM1,
	};
	int rc = vmbus_server_offer(hv->srv, &op, &serial_ops, s, &s->ch);
	if (rc) {
		pthread_mutex_destroy(&s->lock);
		free(s);
		return rc;
	}
	hv->serial = s;
	return 0;
}

static void serial_destroy(struct serial *s)
{
	if (!s)
		return;
	if (s->mid_line) {
		/* End VTL2's unfinished line so what the host prints next starts clean. */
		fputc('\n', s->out);
		fflush(s->out);
	}
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* ------------------------------------------------------------------------------------------ */
/* SCSI channel                                                                               */
/* ------------------------------------------------------------------------------------------ */

static int scsi_create(struct hvsim_vmbus *hv, const struct hvsim_vmbus_config *cfg)
{
	hv->disk_fd = open(cfg->disk_path, (cfg->disk_read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (hv->disk_fd < 0)
		return -errno;
	struct scsi_disk_config dc = { .read_only = cfg->disk_read_only, .serial = "HVSIM-HOST-0" };
	int rc = scsi_disk_file_backend(hv->disk_fd, &dc.backend);
	if (rc == 0)
		rc = scsi_disk_create(&dc, &hv->disk);
	if (rc)
		return rc;
	hv->dc = (struct devctx){ .ctx = hv, .log = hv->log, .ram_ptr = dc_ram_ptr };
	return vmbus_scsi_create(hv->srv, &hv->dc, hv->disk, 0, &hv->scsi);
}

/* ------------------------------------------------------------------------------------------ */
/* API                                                                                        */
/* ------------------------------------------------------------------------------------------ */

int hvsim_vmbus_create(struct hvsim *sim, const struct hvsim_vmbus_config *cfg,
		       struct hvsim_vmbus **out)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!sim || !cfg)
		return -EINVAL;
	struct hvsim_vmbus *hv = calloc(1, sizeof(*hv));
	if (!hv)
		return -ENOMEM;
	hv->sim = sim;
	hv->log = cfg->log ? cfg->log : stderr;
	hv->retry_us = cfg->retry_us ? cfg->retry_us : HVSIM_VMBUS_RETRY_US;
	hv->disk_fd = -1;
	pthread_mutex_init(&hv->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&hv->cond, &ca);
	pthread_condattr_destroy(&ca);

	struct vmbus_server_config sc = {
		.vp_count = hvsim_vp_count(sim),
		.client_vtl = CLIENT_VTL,
		.conn_id_base = HVSIM_VMBUS_CONN_ID_BASE,
		.max_version = cfg->max_version,
		.msg_conn_id = VMBUS_CONN_ID_VTL2_REDIRECT,
		.client_sint = VMBUS_VTL2_SINT,
	};
	int rc = vmbus_server_create(&server_ops, hv, &sc, &hv->srv);
	if (rc == 0 && cfg->serial)
		rc = serial_create(hv, cfg->serial_out);
	if (rc == 0 && cfg->disk_path)
		rc = scsi_create(hv, cfg);
	if (rc == 0) {
		rc = -pthread_create(&hv->flusher, NULL, flusher_main, hv);
		hv->flusher_started = rc == 0;
	}
	if (rc) {
		hvsim_vmbus_destroy(hv);
		return rc;
	}
	hvsim_set_host_ops(sim, &host_ops, hv);
	hv->ops_installed = true;
	*out = hv;
	return 0;
}

void hvsim_vmbus_destroy(struct hvsim_vmbus *hv)
{
	if (!hv)
		return;
	if (hv->ops_installed)
		hvsim_set_host_ops(hv->sim, NULL, NULL);
	if (hv->flusher_started) {
		pthread_mutex_lock(&hv->lock);
		hv->stop = true;
		pthread_cond_broadcast(&hv->cond);
		pthread_mutex_unlock(&hv->lock);
		pthread_join(hv->flusher, NULL);
	}
	/* The server frees its channels without calling their ops; then the backends go. */
	vmbus_server_destroy(hv->srv);
	vmbus_scsi_destroy(hv->scsi);
	scsi_disk_destroy(hv->disk);
	if (hv->disk_fd >= 0)
		close(hv->disk_fd);
	serial_destroy(hv->serial);
	pthread_cond_destroy(&hv->cond);
	pthread_mutex_destroy(&hv->lock);
	free(hv);
}

struct vmbus_server *hvsim_vmbus_server(struct hvsim_vmbus *hv)
{
	return hv ? hv->srv : NULL;
}

void hvsim_vmbus_flush(struct hvsim_vmbus *hv)
{
	if (hv)
		vmbus_server_flush(hv->srv);
}

void hvsim_vmbus_get_stats(struct hvsim_vmbus *hv, struct hvsim_vmbus_stats *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&hv->lock);
	st->posts = hv->posts;
	st->posts_refused = hv->posts_refused;
	st->signals = hv->signals;
	st->signals_dropped = hv->signals_dropped;
	st->messages_out = hv->messages_out;
	st->message_retries = hv->message_retries;
	st->flushes = hv->flushes;
	st->events_out = hv->events_out;
	pthread_mutex_unlock(&hv->lock);
	struct vmbus_server_connection c;
	vmbus_server_get_connection(hv->srv, &c);
	st->connected = c.connected;
	st->version = c.version;
	vmbus_server_get_stats(hv->srv, &st->server);
	if (hv->serial) {
		struct serial *s = hv->serial;
		st->has_serial = true;
		pthread_mutex_lock(&s->lock);
		st->serial_bytes_in = s->bytes_in;
		st->serial_packets_in = s->packets_in;
		st->serial_bytes_out = s->bytes_out;
		st->serial_packets_out = s->packets_out;
		st->serial_bad_packets = s->bad_packets;
		st->serial_broken = s->broken_count;
		pthread_mutex_unlock(&s->lock);
	}
	if (hv->scsi) {
		st->has_disk = true;
		vmbus_scsi_get_stats(hv->scsi, &st->scsi);
		scsi_disk_get_stats(hv->disk, &st->disk);
	}
}

void hvsim_vmbus_print_stats(const struct hvsim_vmbus_stats *st, FILE *f)
{
	fprintf(f, "host vmbus: ");
	if (st->connected)
		fprintf(f, "connected %u.%u", st->version >> 16, st->version & 0xFFFFu);
	else
		fprintf(f, "not connected");
	fprintf(f, ", messages in %" PRIu64 " (refused %" PRIu64 ") out %" PRIu64
		" (SINT 7 full %" PRIu64 "), signals in %" PRIu64 " out %" PRIu64,
		st->posts, st->posts_refused + st->server.rejected, st->messages_out,
		st->message_retries, st->signals, st->events_out);
	if (st->has_serial)
		fprintf(f, "; serial bytes in %" PRIu64 " out %" PRIu64, st->serial_bytes_in,
			st->serial_bytes_out);
	if (st->has_disk)
		fprintf(f, "; scsi requests %" PRIu64 ", commands %" PRIu64 ", blocks read %" PRIu64
			" written %" PRIu64, st->scsi.packets, st->disk.commands,
			st->disk.read_blocks, st->disk.written_blocks);
	fprintf(f, "\n");
}
