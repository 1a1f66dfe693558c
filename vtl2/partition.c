/*
 * partition: set-up, partition services for devices, and the orderly stop (see partition.h).
 * The per-VP run loops and exit handlers are in vp.c.
 */
#include "vtl2/partition.h"

#include <errno.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <poll.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hvcall/hv.h"
#include "hvcall/hv_call.h"
#include "vtl2/cpuid.h"
#include "vtl2/errbuf.h"
#include "vtl2/partition_priv.h"

static const char *const exit_names[PARTITION_EXIT_KIND_COUNT] = {
	[PARTITION_EXIT_IO] = "io",
	[PARTITION_EXIT_STRING_IO] = "string-io",
	[PARTITION_EXIT_MMIO] = "mmio",
	[PARTITION_EXIT_GPA] = "vtlprot",
	[PARTITION_EXIT_CPUID] = "cpuid",
	[PARTITION_EXIT_MSR] = "msr",
	[PARTITION_EXIT_HYPERCALL] = "hypercall",
	[PARTITION_EXIT_HALT] = "halt",
	[PARTITION_EXIT_EXCEPTION] = "exception",
	[PARTITION_EXIT_APIC_EOI] = "apic-eoi",
	[PARTITION_EXIT_TRIPLE_FAULT] = "triple-fault",
	[PARTITION_EXIT_OTHER] = "other",
	[PARTITION_EXIT_CANCEL] = "cancel",
};

const char *partition_exit_name(unsigned kind)
{
	return kind < PARTITION_EXIT_KIND_COUNT ? exit_names[kind] : "?";
}

const char *partition_outcome_name(enum partition_outcome o)
{
	switch (o) {
	case PARTITION_TEST_EXIT: return "test-exit";
	case PARTITION_RESET: return "reset";
	case PARTITION_POWER_OFF: return "power-off";
	case PARTITION_TRIPLE_FAULT: return "triple-fault";
	case PARTITION_ALL_HALTED: return "all-halted";
	case PARTITION_TIMEOUT: return "timeout";
	case PARTITION_STOPPED: return "stopped";
	case PARTITION_ERROR: return "error";
	}
	return "?";
}

/* ---- output ---- */

void partition_trace_line(struct vp *v, const char *fmt, ...)
{
	struct partition *p = v->p;
	va_list ap;
	va_start(ap, fmt);
	pthread_mutex_lock(&p->out_lock);
	fprintf(p->trace, "[vp%u] ", v->index);
	vfprintf(p->trace, fmt, ap);
	fputc('\n', p->trace);
	fflush(p->trace);
	pthread_mutex_unlock(&p->out_lock);
	va_end(ap);
}

void partition_log(struct partition *p, const char *fmt, ...)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	pthread_mutex_lock(&p->out_lock);
	if ((uint64_t)t.tv_sec != p->log_window) {
		if (p->log_dropped)
			fprintf(p->log, "mezzanine: %" PRIu64 " warnings suppressed\n",
				p->log_dropped);
		p->log_window = (uint64_t)t.tv_sec;
		p->log_lines = 0;
		p->log_dropped = 0;
	}
	if (p->log_lines < PARTITION_LOG_PER_SECOND) {
		p->log_lines++;
		va_list ap;
		va_start(ap, fmt);
		fputs("mezzanine: ", p->log);
		vfprintf(p->log, fmt, ap);
		fputc('\n', p->log);
		fflush(p->log);
		va_end(ap);
	} else {
		p->log_dropped++;
	}
	pthread_mutex_unlock(&p->out_lock);
}

/* ---- stopping ---- */

static void kick_all(struct partition *p)
{
	for (uint32_t i = 0; p->vps && i < p->vp_count; i++)
		if (atomic_load(&p->vps[i].started))
			kif_vp_cancel(p->kif, i);
	pthread_mutex_lock(&p->lock);
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

void partition_finish(struct partition *p, enum partition_outcome o, uint32_t code, uint32_t vp,
		      const char *fmt, ...)
{
	pthread_mutex_lock(&p->lock);
	if (!p->result_set && p->res) {
		p->result_set = true;
		p->res->outcome = o;
		p->res->code = code;
		p->res->vp = vp;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(p->res->message, sizeof(p->res->message), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&p->lock);
	atomic_store(&p->stop, true);
	kick_all(p);
}

void partition_stop(struct partition *p)
{
	partition_finish(p, PARTITION_STOPPED, 0, 0, "stopped on request");
}

bool partition_park(struct partition *p)
{
	pthread_mutex_lock(&p->lock);
	bool last = ++p->parked == p->vp_count;
	if (!last)
		while (!atomic_load(&p->stop))
			pthread_cond_wait(&p->cond, &p->lock);
	pthread_mutex_unlock(&p->lock);
	return !last;
}

static void watchdog_fire(void *ctx, uint64_t now)
{
	struct partition *p = ctx;
	(void)now;
	partition_finish(p, PARTITION_TIMEOUT, 0, 0, "timeout after %u ms", p->cfg.timeout_ms);
}

/* ---- services for devices (struct devctx) ---- */

static void svc_stop(void *ctx, enum devctx_stop why, uint32_t code, uint32_t vp)
{
	struct partition *p = ctx;
	switch (why) {
	case DEVCTX_STOP_RESET:
		partition_finish(p, PARTITION_RESET, 0, vp, "vp%u reset the VM", vp);
		return;
	case DEVCTX_STOP_POWER_OFF:
		partition_finish(p, PARTITION_POWER_OFF, 0, vp, "vp%u powered the VM off", vp);
		return;
	case DEVCTX_STOP_TEST_EXIT:
		partition_finish(p, PARTITION_TEST_EXIT, code, vp, "vp%u test exit code %u", vp,
				 code);
		return;
	}
	partition_finish(p, PARTITION_ERROR, 0, vp, "vp%u: unknown stop request %d", vp, (int)why);
}

static int svc_protect(void *ctx, gpn_t page, bool write_protect)
{
	struct partition *p = ctx;
	if (!gmem_is_ram(&p->mem, gpn_to_gpa(page), ADDR_PAGE_SIZE))
		return -EINVAL;
	uint32_t flags = write_protect ? (HV_MAP_GPA_READABLE | HV_MAP_GPA_KERNEL_EXECUTABLE |
					  HV_MAP_GPA_USER_EXECUTABLE)
				       : HV_MAP_GPA_ALL;
	/* Withhold first, so that no emulated write lands between the two steps. */
	int rc = 0;
	if (write_protect)
		rc = gmem_withhold(&p->mem, page, 1, true, true);
	if (rc == 0)
		rc = hv_call_modify_vtl_protection_mask(&p->hc, flags, hv_input_vtl(0), &page, 1);
	if (rc == 0 && !write_protect)
		rc = gmem_withhold(&p->mem, page, 1, false, true);
	return rc;
}

static uint64_t svc_protect_hits(void *ctx)
{
	struct partition *p = ctx;
	return atomic_load(&p->gpa_hits);
}

static int svc_post_message(void *ctx, uint32_t vp, uint8_t sint, uint32_t type,
			    const void *payload, uint32_t len)
{
	struct partition *p = ctx;
	if (vp >= p->vp_count || sint > 15 || len > HV_MESSAGE_PAYLOAD_SIZE || type == 0 ||
	    (type & 0x80000000u))
		return -EINVAL;
	struct hv_message m;
	memset(&m, 0, sizeof(m));
	m.header.message_type = type;
	m.header.payload_size = (uint8_t)len;
	memcpy(m.payload, payload, len);
	return hv_call_post_message_direct(&p->hc, vp, 0, sint, &m);
}

static int svc_signal_event(void *ctx, uint32_t vp, uint8_t sint, uint16_t flag)
{
	struct partition *p = ctx;
	if (vp >= p->vp_count || sint > 15 || flag >= 2048)
		return -EINVAL;
	return hv_call_signal_event_direct(&p->hc, vp, 0, sint, flag, NULL);
}

static void *svc_ram_ptr(void *ctx, gpa_t a, uint64_t len)
{
	struct partition *p = ctx;
	if (len == 0 || len > (1ull << 30) || !gmem_is_ram(&p->mem, a, len))
		return NULL;
	/* Page by page: every page ordinary RAM (not withheld), one contiguous mapping. */
	uint8_t *first = NULL;
	for (uint64_t off = 0; off < len;) {
		uint64_t in_page = ADDR_PAGE_SIZE - ((a.v + off) & (ADDR_PAGE_SIZE - 1));
		unsigned n = (unsigned)(in_page < len - off ? in_page : len - off);
		uint8_t *host = NULL;
		if (gmem_lookup(&p->mem, gpa(a.v + off), n, &host) != GMEM_RAM ||
		    (first && host != first + off))
			return NULL;
		if (!first)
			first = host;
		off += n;
	}
	return first;
}

static int svc_host_gpa(void *ctx, const void *host, uint64_t len, gpa_t *out)
{
	struct partition *p = ctx;
	return gmem_host_to_gpa(&p->mem, host, len, out);
}

static int svc_host_post(void *ctx, uint32_t conn, uint32_t type, const void *payload,
			 uint32_t len)
{
	struct partition *p = ctx;
	if (len > HV_MESSAGE_PAYLOAD_SIZE)
		return -EINVAL;
	return kif_sint_post_message(p->kif, conn, type, payload, len);
}

static int svc_host_signal(void *ctx, uint32_t conn, uint32_t flag)
{
	struct partition *p = ctx;
	return kif_sint_signal_event(p->kif, conn, flag);
}

static int svc_host_listen(void *ctx, const struct devctx_host_ops *ops, void *dev)
{
	struct partition *p = ctx;
	if (!ops || !ops->message)
		return -EINVAL;
	if (p->host_ops)
		return -EBUSY;
	p->host_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	p->host_stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->host_efd < 0 || p->host_stop_efd < 0)
		return -errno;
	p->host_ops = ops;
	p->host_dev = dev;
	return 0;
}

static int svc_host_watch(void *ctx, uint32_t flag)
{
	struct partition *p = ctx;
	return p->host_ops ? kif_sint_set_eventfd(p->kif, flag, p->host_efd) : -EINVAL;
}

static int svc_shared_alloc(void *ctx, size_t pages, void **host, uint64_t *pfns)
{
	struct partition *p = ctx;
	return kif_shared_alloc(p->kif, pages, host, pfns);
}

/* The host thread: SINT 7 messages and watched event flags to the listener, until stopped. */
static void *host_main(void *arg)
{
	struct partition *p = arg;
	for (;;) {
		struct pollfd fds[3] = {
			{ .fd = kif_sint_poll_fd(p->kif), .events = POLLIN },
			{ .fd = p->host_efd, .events = POLLIN },
			{ .fd = p->host_stop_efd, .events = POLLIN },
		};
		if (poll(fds, 3, -1) < 0 && errno != EINTR)
			break;
		if (fds[2].revents)
			break;
		if (fds[1].revents) {
			uint64_t v;
			if (read(p->host_efd, &v, 8) == 8)
				p->host_ops->event(p->host_dev);
		}
		if (fds[0].revents) {
			struct hv_message m;
			while (kif_sint_read(p->kif, &m, false) == 1) {
				uint32_t len = m.header.payload_size;
				if (len > HV_MESSAGE_PAYLOAD_SIZE)
					len = HV_MESSAGE_PAYLOAD_SIZE; /* the host's header: bounded */
				p->host_ops->message(p->host_dev, m.header.message_type, m.payload,
						     len);
			}
		}
	}
	return NULL;
}

static int host_start(struct partition *p)
{
	if (!p->host_ops)
		return 0;
	int rc = kif_sint_pause(p->kif, false);
	if (rc < 0)
		return rc;
	if (pthread_create(&p->host_thread, NULL, host_main, p) != 0)
		return -EAGAIN;
	p->host_running = true;
	return 0;
}

static void host_stop(struct partition *p)
{
	if (!p->host_running)
		return;
	uint64_t one = 1;
	if (write(p->host_stop_efd, &one, 8) != 8)
		return; /* cannot fail for an eventfd below its maximum */
	pthread_join(p->host_thread, NULL);
	p->host_running = false;
	kif_sint_pause(p->kif, true);
}

/* Interrupts for VTL0's local APICs: HvCallAssertVirtualInterrupt. */
static int svc_deliver(void *ctx, const struct irq_msg *m)
{
	struct partition *p = ctx;
	uint64_t type;
	switch (m->delivery) {
	case IRQ_DELIVERY_FIXED: type = HV_X64_INTERRUPT_TYPE_FIXED; break;
	case IRQ_DELIVERY_LOWEST: type = HV_X64_INTERRUPT_TYPE_LOWEST_PRIORITY; break;
	case IRQ_DELIVERY_SMI: type = HV_X64_INTERRUPT_TYPE_SMI; break;
	case IRQ_DELIVERY_NMI: type = HV_X64_INTERRUPT_TYPE_NMI; break;
	case IRQ_DELIVERY_INIT: type = HV_X64_INTERRUPT_TYPE_INIT; break;
	case IRQ_DELIVERY_EXTINT: type = HV_X64_INTERRUPT_TYPE_EXTINT; break;
	default: return -EINVAL;
	}
	uint64_t control = type | (m->level ? HV_INTERRUPT_CONTROL_LEVEL_TRIGGERED : 0) |
			   (m->logical ? HV_INTERRUPT_CONTROL_LOGICAL_DEST : 0);
	int rc = hv_call_assert_virtual_interrupt(&p->hc, control, m->dest, m->vector, 0);
	if (rc < 0)
		partition_log(p, "AssertVirtualInterrupt(vector 0x%x, mode %u, dest 0x%x%s): %s",
			      m->vector, m->delivery, m->dest, m->logical ? " logical" : "",
			      strerror(-rc));
	return rc;
}

/* ---- set-up ---- */

static int kif_xfer(void *ctx, uint64_t control, const void *in, size_t in_size, void *out,
		    size_t out_size, uint64_t *result)
{
	return kif_hvcall(ctx, control, in, in_size, out, out_size, result);
}


static int check_config(const struct partition_config *cfg, char *err, size_t errlen)
{
	if (cfg->ram_count == 0 || cfg->ram_count > PARTITION_MAX_RAM)
		return errbuf_set(err, errlen, -EINVAL, "the VTL0 memory map needs 1..%u ranges",
			    PARTITION_MAX_RAM);
	if (cfg->vtl2_mem_count > PARTITION_MAX_VTL2_MEM)
		return errbuf_set(err, errlen, -EINVAL, "at most %u VTL2 memory ranges",
			    PARTITION_MAX_VTL2_MEM);
	if (cfg->vp_count > PARTITION_MAX_VPS)
		return errbuf_set(err, errlen, -EINVAL, "at most %u VPs", PARTITION_MAX_VPS);
	for (unsigned i = 0; i < cfg->ram_count + cfg->vtl2_mem_count; i++) {
		const struct partition_mem *m = i < cfg->ram_count ? &cfg->ram[i]
								 : &cfg->vtl2_mem[i - cfg->ram_count];
		if (m->size == 0 || ((m->base.v | m->size) & (ADDR_PAGE_SIZE - 1)) ||
		    m->base.v + m->size < m->base.v)
			return errbuf_set(err, errlen, -EINVAL,
				    "memory range 0x%" PRIx64 "+0x%" PRIx64 " is empty, unaligned "
				    "or wraps", m->base.v, m->size);
	}
	for (unsigned i = 0; i < cfg->ram_count; i++)
		for (unsigned j = i + 1; j < cfg->ram_count; j++)
			if (cfg->ram[i].base.v < cfg->ram[j].base.v + cfg->ram[j].size &&
			    cfg->ram[j].base.v < cfg->ram[i].base.v + cfg->ram[i].size)
				return errbuf_set(err, errlen, -EINVAL, "VTL0 memory ranges %u and %u overlap",
					    i, j);
	/* VTL2's memory must lie inside the map: it is VTL0-addressable memory taken away. */
	for (unsigned i = 0; i < cfg->vtl2_mem_count; i++) {
		const struct partition_mem *m = &cfg->vtl2_mem[i];
		bool inside = false;
		for (unsigned j = 0; j < cfg->ram_count && !inside; j++)
			inside = m->base.v >= cfg->ram[j].base.v &&
				 m->base.v + m->size <= cfg->ram[j].base.v + cfg->ram[j].size;
		if (!inside)
			return errbuf_set(err, errlen, -EINVAL, "VTL2 memory 0x%" PRIx64 "+0x%" PRIx64
				    " is not inside one VTL0 memory range", m->base.v, m->size);
	}
	return 0;
}

int partition_create(const struct partition_config *cfg, struct partition **out, char *err,
		     size_t errlen)
{
	int rc = check_config(cfg, err, errlen);
	if (rc < 0)
		return rc;
	struct partition *p = calloc(1, sizeof(*p));
	if (!p)
		return errbuf_set(err, errlen, -ENOMEM, "out of memory");
	p->host_efd = p->host_stop_efd = -1;
	p->cfg = *cfg;
	p->trace = cfg->trace_out ? cfg->trace_out : stderr;
	p->log = cfg->log ? cfg->log : stderr;
	gmem_init(&p->mem);
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->out_lock, NULL);
	pthread_cond_init(&p->cond, NULL);

	struct kif_params params = { .dev_dir = cfg->dev_dir, .run_layout = cfg->run_layout };
	rc = kif_open(&params, &p->kif);
	if (rc < 0) {
		errbuf_set(err, errlen, rc, "cannot open the mshv_vtl driver: %s", strerror(-rc));
		goto bad;
	}
	p->hc = (struct hv_call_ctx){ .xfer = kif_xfer, .ctx = p->kif };
	uint32_t have = kif_vp_count(p->kif);
	p->vp_count = cfg->vp_count ? cfg->vp_count : have;
	if (p->vp_count == 0 || p->vp_count > have || p->vp_count > PARTITION_MAX_VPS) {
		rc = errbuf_set(err, errlen, -EINVAL, "%u VPs requested, the kernel has %u",
			  p->vp_count, have);
		goto bad;
	}
	for (unsigned i = 0; i < cfg->ram_count; i++) {
		const struct partition_mem *m = &cfg->ram[i];
		void *host = NULL;
		rc = kif_vtl0_map(p->kif, m->base, m->size, &host);
		if (rc < 0) {
			errbuf_set(err, errlen, rc, "cannot map VTL0 memory 0x%" PRIx64 "+0x%" PRIx64 ": %s",
			     m->base.v, m->size, strerror(-rc));
			goto bad;
		}
		p->map_host[p->map_count] = host;
		p->map_size[p->map_count++] = m->size;
		rc = gmem_add_ram(&p->mem, m->base, m->size, host);
		if (rc < 0) {
			errbuf_set(err, errlen, rc, "VTL0 memory range 0x%" PRIx64 "+0x%" PRIx64
			     " overlaps another", m->base.v, m->size);
			goto bad;
		}
	}
	/* VTL2's own memory: no VTL0 access at all, and never written on VTL0's behalf. */
	for (unsigned i = 0; i < cfg->vtl2_mem_count; i++) {
		const struct partition_mem *m = &cfg->vtl2_mem[i];
		gpn_t first = gpa_to_gpn(m->base);
		uint64_t count = m->size >> ADDR_PAGE_SHIFT;
		rc = gmem_withhold(&p->mem, first, count, true, false);
		if (rc == 0)
			rc = hv_call_modify_vtl_protection_range(&p->hc, HV_MAP_GPA_NONE,
								 hv_input_vtl(0), first, count);
		if (rc < 0) {
			errbuf_set(err, errlen, rc, "cannot protect VTL2 memory 0x%" PRIx64 "+0x%" PRIx64
			     " from VTL0: %s", m->base.v, m->size, strerror(-rc));
			goto bad;
		}
	}
	rc = iobus_create(&p->bus);
	if (rc == 0)
		rc = vclock_create(false, &p->clock);
	if (rc < 0) {
		errbuf_set(err, errlen, rc, "out of resources: %s", strerror(-rc));
		goto bad;
	}
	p->vps = calloc(p->vp_count, sizeof(*p->vps));
	if (!p->vps) {
		rc = errbuf_set(err, errlen, -ENOMEM, "out of memory");
		goto bad;
	}
	for (uint32_t i = 0; i < p->vp_count; i++)
		p->vps[i] = (struct vp){ .p = p, .index = i };
	p->devctx = (struct devctx){
		.ctx = p,
		.stop = svc_stop,
		.protect = svc_protect,
		.protect_hits = svc_protect_hits,
		.clock = p->clock,
		.sink = { .deliver = svc_deliver, .ctx = p },
		.log = p->log,
		.post_message = svc_post_message,
		.signal_event = svc_signal_event,
		.ram_ptr = svc_ram_ptr,
		.host_gpa = cfg->host_reaches_vtl0 ? svc_host_gpa : NULL,
		.host_post = svc_host_post,
		.host_signal = svc_host_signal,
		.host_listen = svc_host_listen,
		.host_watch = svc_host_watch,
		.shared_alloc = svc_shared_alloc,
	};
	vclock_timer_init(&p->watchdog, watchdog_fire, p);
	atomic_init(&p->mmio_to_host, true);
	if (cfg->kernel) {
		rc = vtl0boot_prepare(&p->mem, cfg, p->vp_count, &p->boot, err, errlen);
		if (rc < 0 && rc != -ENOMEM)
			rc = -ENOEXEC; /* the kernel, initrd or command line cannot be booted */
		if (rc < 0)
			goto bad;
	}
	*out = p;
	return 0;
bad:
	partition_destroy(p);
	return rc;
}

void partition_quiesce(struct partition *p)
{
	if (p->clock)
		vclock_stop(p->clock);
}

void partition_destroy(struct partition *p)
{
	if (!p)
		return;
	host_stop(p);
	if (p->host_efd >= 0)
		close(p->host_efd);
	if (p->host_stop_efd >= 0)
		close(p->host_stop_efd);
	vclock_destroy(p->clock);
	iobus_destroy(p->bus);
	for (unsigned i = 0; i < p->map_count; i++)
		kif_vtl0_unmap(p->kif, p->map_host[i], p->map_size[i]);
	kif_close(p->kif);
	free(p->vps);
	gmem_fini(&p->mem);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	pthread_mutex_destroy(&p->out_lock);
	free(p);
}

struct iobus *partition_bus(struct partition *p)
{
	return p->bus;
}

const struct devctx *partition_devctx(struct partition *p)
{
	return &p->devctx;
}

uint32_t partition_vp_count(const struct partition *p)
{
	return p->vp_count;
}

void partition_set_eoi(struct partition *p, struct irq_eoi eoi)
{
	p->eoi = eoi;
}

/* Intercepts follow what is registered: one list, the bus. */
static int install_intercepts(struct partition *p, char *why, size_t whylen)
{
	const uint32_t rw = HV_INTERCEPT_ACCESS_MASK_READ | HV_INTERCEPT_ACCESS_MASK_WRITE;
	int rc;
	for (size_t i = 0; i < iobus_count(p->bus, IOBUS_PIO); i++) {
		const struct iobus_range *r = iobus_range_at(p->bus, IOBUS_PIO, i);
		rc = hv_call_install_intercept(&p->hc, rw, HV_INTERCEPT_TYPE_X64_IO_PORT_RANGE,
					       hv_intercept_io_port_range(
						       (uint16_t)r->base,
						       (uint16_t)(r->base + r->len - 1)));
		if (rc < 0)
			return errbuf_set(why, whylen, rc, "InstallIntercept(ports 0x%" PRIx64 "-0x%" PRIx64
				    ", %s): %s", r->base, r->base + r->len - 1, r->name,
				    strerror(-rc));
	}
	/* MSR intercepts are all-or-nothing: the bus and the MSR policy answer each. */
	rc = hv_call_install_intercept(&p->hc, rw, HV_INTERCEPT_TYPE_X64_MSR, 0);
	if (rc < 0)
		return errbuf_set(why, whylen, rc, "InstallIntercept(MSR): %s", strerror(-rc));
	for (size_t i = 0; i < cpuid_leaf_count; i++) {
		rc = hv_call_install_intercept(&p->hc, HV_INTERCEPT_ACCESS_MASK_READ,
					       HV_INTERCEPT_TYPE_X64_CPUID, cpuid_leaves[i]);
		if (rc < 0)
			return errbuf_set(why, whylen, rc, "InstallIntercept(CPUID 0x%x): %s",
				    cpuid_leaves[i], strerror(-rc));
	}
	rc = hv_call_install_intercept(&p->hc, HV_INTERCEPT_ACCESS_MASK_EXECUTE,
				       HV_INTERCEPT_TYPE_HYPERCALL, 0);
	if (rc < 0)
		return errbuf_set(why, whylen, rc, "InstallIntercept(hypercall): %s", strerror(-rc));
	return 0;
}

static double now_seconds(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int partition_run(struct partition *p, struct partition_result *res)
{
	memset(res, 0, sizeof(*res));
	double t0 = now_seconds();
	pthread_mutex_lock(&p->lock);
	p->res = res;
	p->result_set = false;
	p->parked = 0;
	pthread_mutex_unlock(&p->lock);
	atomic_store(&p->stop, false);
	iobus_freeze(p->bus);
	int rc = install_intercepts(p, res->message, sizeof(res->message));
	if (rc < 0) {
		res->outcome = PARTITION_ERROR;
		return rc;
	}
	rc = host_start(p);
	if (rc < 0) {
		res->outcome = PARTITION_ERROR;
		snprintf(res->message, sizeof(res->message), "cannot listen to the host: %s",
			 strerror(-rc));
		return rc;
	}
	if (p->cfg.timeout_ms)
		vclock_arm(p->clock, &p->watchdog,
			   vclock_now(p->clock) + (uint64_t)p->cfg.timeout_ms * 1000000ull);
	/* A fixed, modest stack per VP thread: the deepest path (an emulated instruction with a
	   batched register hypercall) needs tens of KiB, and the paravisor's footprint counts. */
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, PARTITION_VP_STACK);
	for (uint32_t i = 0; i < p->vp_count; i++) {
		struct vp *v = &p->vps[i];
		memset(&v->hint, 0, sizeof(v->hint));
		if (pthread_create(&v->thread, &attr, vp_main, v) != 0) {
			partition_finish(p, PARTITION_ERROR, 0, i, "cannot create the thread of vp%u",
					 i);
			break;
		}
		atomic_store(&v->started, true);
	}
	pthread_attr_destroy(&attr);
	/* A stop requested while threads were still being created may have missed some VPs. */
	if (atomic_load(&p->stop))
		kick_all(p);
	for (uint32_t i = 0; i < p->vp_count; i++) {
		if (atomic_load(&p->vps[i].started)) {
			pthread_join(p->vps[i].thread, NULL);
			atomic_store(&p->vps[i].started, false);
		}
	}
	vclock_cancel(p->clock, &p->watchdog);
	host_stop(p);
	pthread_mutex_lock(&p->lock);
	if (!p->result_set) {
		res->outcome = PARTITION_ERROR;
		snprintf(res->message, sizeof(res->message), "every VP stopped without a reason");
	}
	p->res = NULL;
	pthread_mutex_unlock(&p->lock);
	for (unsigned k = 0; k < PARTITION_EXIT_KIND_COUNT; k++)
		res->exits[k] = atomic_load(&p->exits[k]);
	res->bad_accesses = atomic_load(&p->bad_accesses);
	res->unclaimed = atomic_load(&p->unclaimed);
	res->injected = atomic_load(&p->injected);
	res->gpa_hits = atomic_load(&p->gpa_hits);
	res->wall_seconds = now_seconds() - t0;
	return 0;
}
