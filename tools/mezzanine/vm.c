/* vm: assemble and run a paravisor VM (see vm.h). */
#include "tools/mezzanine/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <limits.h>
#include <malloc.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <string.h>

#include "devices/chipset.h"
#include "devices/vmbus/scsi_disk.h"
#include "devices/vmbus/vmbus_host.h"
#include "devices/vmbus/vmbus_scsi.h"
#include "devices/vmbus/vmbus_vtl0.h"
#include "vtl2/errbuf.h"

/* The running VM's partition, for vm_stop() from another thread. */
static struct partition *_Atomic vm_current;

struct serial_sink {
	FILE *out;
	atomic_uint_fast64_t bytes;
	struct vmbus_host *relay;   /* set: COM1 goes to the host's VMBus serial device instead */
};

static void serial_tx(void *ctx, uint8_t byte)
{
	struct serial_sink *s = ctx;
	atomic_fetch_add_explicit(&s->bytes, 1, memory_order_relaxed);
	if (s->relay) {
		vmbus_host_serial_tx(s->relay, byte);
		return;
	}
	if (byte == '\r')
		return; /* guests send CRLF; the host terminal wants LF */
	fputc(byte, s->out);
	if (byte == '\n')
		fflush(s->out);
}

/* A raw image offered to VTL0 as a VMBus SCSI disk (served by VTL2 itself for now). */
struct vm_disk {
	int fd;
	struct scsi_disk *disk;
	struct vmbus_scsi *chan;
};

static int disk_open(struct vm_disk *d, const char *path, struct vmbus_vtl0 *vmbus,
		     const struct devctx *dc, char *err, size_t errlen)
{
	d->fd = open(path, O_RDWR | O_CLOEXEC);
	if (d->fd < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot open disk %s: %s", path, strerror(e));
		return -e;
	}
	struct scsi_disk_config dcfg = { 0 };
	int rc = scsi_disk_file_backend(d->fd, &dcfg.backend);
	if (rc == 0)
		rc = scsi_disk_create(&dcfg, &d->disk);
	if (rc < 0) {
		snprintf(err, errlen, "disk %s: %s (a raw image of at least 512 bytes)", path,
			 strerror(-rc));
		return rc;
	}
	rc = vmbus_scsi_create(vmbus_vtl0_server(vmbus), dc, d->disk, 0, &d->chan);
	if (rc < 0)
		snprintf(err, errlen, "cannot offer disk %s on the VMBus: %s", path, strerror(-rc));
	return rc;
}

static void disk_close(struct vm_disk *d)
{
	vmbus_scsi_destroy(d->chan);
	scsi_disk_destroy(d->disk);
	if (d->fd >= 0) {
		fdatasync(d->fd);
		close(d->fd);
	}
	*d = (struct vm_disk){ .fd = -1 };
}

/*
 * The host's SCSI disk relayed to VTL0: vmbus_host's storvsc reaches it, a scsi_disk over that
 * backend is offered on VTL0's VMBus once the host's disk is ready (on the partition's host
 * thread, possibly after VTL0 connected: the server sends a late offer at once).
 */
struct vm_relay_disk {
	struct vmbus_vtl0 *vmbus;
	const struct devctx *dc;
	uint32_t instance;
	struct scsi_disk *disk;     /* set once, by the host thread; read after the run */
	struct vmbus_scsi *chan;
};

static void relay_disk_ready(void *ctx, const struct scsi_disk_backend *be)
{
	struct vm_relay_disk *r = ctx;
	FILE *log = r->dc->log ? r->dc->log : stderr;
	if (r->disk)
		return;
	struct scsi_disk_config dcfg = { .backend = *be, .serial = "MEZZ-HOST" };
	int rc = scsi_disk_create(&dcfg, &r->disk);
	if (rc == 0)
		rc = vmbus_scsi_create(vmbus_vtl0_server(r->vmbus), r->dc, r->disk, r->instance,
				       &r->chan);
	if (rc < 0)
		fprintf(log, "vm: cannot offer the host's disk to VTL0: %s\n", strerror(-rc));
	else
		fprintf(log, "vm: the host's disk (%" PRIu64 " bytes) is offered to VTL0\n",
			be->size);
}

int vm_run(const struct vm_config *cfg, struct vm_report *rep, char *err, size_t errlen)
{
	memset(rep, 0, sizeof(*rep));
	struct serial_sink com1 = { .out = cfg->serial_out ? cfg->serial_out : stdout };
	struct partition *p = NULL;
	size_t heap0 = mallinfo2().uordblks;
	int rc = partition_create(&cfg->partition, &p, err, errlen);
	if (rc < 0)
		return rc;
	const struct chipset_config cc = {
		.test_devices = cfg->test_devices,
		.com1 = { .tx = serial_tx, .ctx = &com1 },
	};
	struct chipset *cs = NULL;
	rc = chipset_create(partition_bus(p), partition_devctx(p), &cc, &cs, err, errlen);
	if (rc < 0) {
		partition_quiesce(p);
		partition_destroy(p);
		return rc;
	}
	partition_set_eoi(p, chipset_eoi(cs));
	struct vmbus_vtl0 *vmbus = NULL;
	struct vmbus_host *relay = NULL;
	struct vm_disk disk = { .fd = -1 };
	struct vm_relay_disk hdisk = { .dc = partition_devctx(p), .instance = cfg->disk ? 1 : 0 };
	if (cfg->partition.vmbus) {
		rc = vmbus_vtl0_create(partition_bus(p), partition_devctx(p), partition_vp_count(p),
				       &vmbus);
		if (rc < 0)
			snprintf(err, errlen, "cannot create the VMBus: %s", strerror(-rc));
		if (rc == 0 && cfg->disk)
			rc = disk_open(&disk, cfg->disk, vmbus, partition_devctx(p), err, errlen);
		if (rc < 0)
			goto out;
	}
	if (cfg->host_vmbus) {
		hdisk.vmbus = vmbus;
		struct vmbus_host_config hc = {
			.disk_ready = cfg->host_disk && vmbus ? relay_disk_ready : NULL,
			.disk_ctx = &hdisk,
		};
		rc = vmbus_host_create(partition_devctx(p), &hc, &relay);
		if (rc < 0) {
			snprintf(err, errlen, "cannot reach the host's VMBus: %s", strerror(-rc));
			goto out;
		}
		if (cfg->host_serial)
			com1.relay = relay;
	}
	size_t heap1 = mallinfo2().uordblks;
	rep->heap_bytes = heap1 > heap0 ? heap1 - heap0 : 0;
	rep->vp_count = partition_vp_count(p);
	atomic_store(&vm_current, p);
	rc = partition_run(p, &rep->result);
	atomic_store(&vm_current, NULL);
	if (rc < 0)
		snprintf(err, errlen, "%s", rep->result.message);
	fflush(com1.out);
	rep->serial_bytes = atomic_load(&com1.bytes);
	if (relay) {
		struct vmbus_host_stats hs;
		vmbus_host_get_stats(relay, &hs);
		rep->host_vmbus = true;
		rep->host_connect_err = hs.connect_err;
		rep->host_version = hs.version;
		rep->host_serial_open = hs.serial_open;
		rep->host_serial_bytes = hs.serial_bytes_out;
		rep->host_serial_dropped = hs.serial_dropped;
		rep->host_disk = cfg->host_disk;
		rep->host_disk_offered = hdisk.chan != NULL;
		rep->host_disk_bytes = hs.disk_bytes;
		rep->host_disk_requests = hs.disk_requests;
		rep->host_disk_errors = hs.disk_errors;
		rep->host_disk_direct = hs.disk_direct;
	}
out:
	/* Clock stopped first (no device timer runs any more), devices next, partition last. */
	partition_quiesce(p);
	/* The relayed disk's backend is vmbus_host's: gone before it. */
	vmbus_scsi_destroy(hdisk.chan);
	scsi_disk_destroy(hdisk.disk);
	vmbus_host_destroy(relay);
	disk_close(&disk);
	vmbus_vtl0_destroy(vmbus);
	chipset_destroy(cs);
	partition_destroy(p);
	return rc;
}

void vm_print_summary(FILE *f, const struct vm_report *rep)
{
	const struct partition_result *r = &rep->result;
	fprintf(f, "---- summary ----\n");
	switch (r->outcome) {
	case PARTITION_TEST_EXIT:
		if (r->code == 0)
			fprintf(f, "result: PASS (vp%u wrote exit code 0)\n", r->vp);
		else
			fprintf(f, "result: FAIL (vp%u wrote exit code %u = 0x%x)\n", r->vp, r->code,
				r->code);
		break;
	case PARTITION_POWER_OFF:
		fprintf(f, "result: POWER-OFF (%s)\n", r->message);
		break;
	case PARTITION_RESET:
	case PARTITION_TRIPLE_FAULT:
	case PARTITION_ALL_HALTED:
		fprintf(f, "result: STOPPED %s (%s)\n", partition_outcome_name(r->outcome),
			r->message);
		break;
	case PARTITION_TIMEOUT:
	case PARTITION_STOPPED:
	case PARTITION_ERROR:
		fprintf(f, "result: ERROR %s (%s)\n", partition_outcome_name(r->outcome),
			r->message);
		break;
	}
	fprintf(f, "exits by kind (VTL2):");
	uint64_t total = 0;
	for (unsigned k = 0; k < PARTITION_EXIT_KIND_COUNT; k++) {
		if (!r->exits[k])
			continue;
		fprintf(f, " %s=%" PRIu64, partition_exit_name(k), r->exits[k]);
		total += r->exits[k];
	}
	fprintf(f, "%s (total %" PRIu64 ")\n", total ? "" : " none", total);
	fprintf(f, "serial bytes %" PRIu64 ", vtl protection intercepts %" PRIu64
		", faults injected %" PRIu64 ", unclaimed accesses %" PRIu64
		", bad register accesses %" PRIu64 ", vps %u\n",
		rep->serial_bytes, r->gpa_hits, r->injected, r->unclaimed, r->bad_accesses,
		rep->vp_count);
	fprintf(f, "paravisor heap %.1f KiB, VP stacks %u x %u KiB\n", rep->heap_bytes / 1024.0,
		rep->vp_count, PARTITION_VP_STACK >> 10);
	if (rep->host_vmbus) {
		if (rep->host_connect_err == 0)
			fprintf(f, "host VMBus: connected (version %u.%u), COM1 relay %s, %" PRIu64
				" bytes to the host, %" PRIu64 " dropped\n",
				rep->host_version >> 16, rep->host_version & 0xFFFF,
				rep->host_serial_open ? "open" : "not open", rep->host_serial_bytes,
				rep->host_serial_dropped);
		else
			fprintf(f, "host VMBus: not connected (%s)\n", rep->host_connect_err > 0 ?
				"no answer" : strerror(-rep->host_connect_err));
		if (rep->host_disk)
			fprintf(f, "host disk relay: %s, %" PRIu64 " bytes, %" PRIu64
				" requests to the host, %" PRIu64 " failed, %" PRIu64
				" over VTL0's own pages\n",
				rep->host_disk_offered ? "offered to VTL0" : "not ready",
				rep->host_disk_bytes, rep->host_disk_requests,
				rep->host_disk_errors, rep->host_disk_direct);
	}
	fprintf(f, "wall time %.3f s\n", r->wall_seconds);
}

int vm_exit_status(const struct vm_report *rep)
{
	switch (rep->result.outcome) {
	case PARTITION_TEST_EXIT:
		return rep->result.code == 0 ? VM_EXIT_PASS : VM_EXIT_FAIL;
	case PARTITION_POWER_OFF:
		return VM_EXIT_PASS;
	case PARTITION_RESET:
	case PARTITION_TRIPLE_FAULT:
	case PARTITION_ALL_HALTED:
		return VM_EXIT_STOPPED;
	case PARTITION_TIMEOUT:
	case PARTITION_STOPPED:
	case PARTITION_ERROR:
		break;
	}
	return VM_EXIT_ERROR;
}

/* ---- command-line helpers ---- */

/* Parse a size with an optional K/M/G suffix (powers of 1024). */
int vm_parse_size(const char *s, uint64_t *out)
{
	char *end;
	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	unsigned shift = 0;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: return -EINVAL;
	}
	if (*end == 'i' && shift)
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end != '\0')
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

int vm_parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end != '\0')
		return -EINVAL;
	if (v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

/* "--opt VALUE" or "--opt=VALUE". Returns the value, NULL if this is not `name`. */
int vm_opt_number(const char *prog, const char *opt, const char *v, unsigned long min,
		  unsigned long max, unsigned long *out)
{
	if (vm_parse_uint(v, max, out) == 0 && *out >= min)
		return 0;
	fprintf(stderr, "%s: %s: '%s' is not a number from %lu to %lu\n", prog, opt, v, min, max);
	return -1;
}

const char *vm_opt_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
	size_t n = strlen(name);
	const char *a = argv[*i];
	*missing = false;
	if (strncmp(a, name, n) != 0)
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*missing = true;
		return NULL;
	}
	return argv[++*i];
}



void vm_stop(void)
{
	struct partition *p = atomic_load(&vm_current);
	if (p)
		partition_stop(p);
}

int vm_load_file(const char *prog, const char *what, const char *path, uint64_t max,
		 uint8_t **out, size_t *size)
{
	int rc = 0;
	uint8_t *buf = NULL;
	struct stat st;
	FILE *f = fopen(path, "rb");
	if (!f) {
		rc = -errno;
	} else if (fstat(fileno(f), &st) < 0) {
		rc = -errno;
	} else if (!S_ISREG(st.st_mode) || st.st_size <= 0) {
		rc = -EINVAL;
	} else if ((uint64_t)st.st_size > max) {
		rc = -EFBIG;
	} else if (!(buf = malloc((size_t)st.st_size))) {
		rc = -ENOMEM;
	} else if (fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		rc = -EIO;
	}
	if (f)
		fclose(f);
	if (rc < 0) {
		free(buf);
		fprintf(stderr, "%s: cannot read %s %s: %s\n", prog, what, path,
			rc == -EFBIG ? "too large" :
			rc == -EINVAL ? "not a regular, non-empty file" : strerror(-rc));
		return -1;
	}
	*out = buf;
	*size = (size_t)st.st_size;
	return 0;
}

int vm_kernel_option(const char *prog, int argc, char **argv, int *i, struct vm_kernel_args *k)
{
	if (strcmp(argv[*i], "--vmbus") == 0) {
		k->vmbus = true;
		return 1;
	}
	static const char *const names[4] = { "--kernel", "--initrd", "--cmdline", "--vtl2-disk" };
	const char **slots[4] = { &k->kernel, &k->initrd, &k->cmdline, &k->disk };
	for (unsigned n = 0; n < 4; n++) {
		bool missing;
		const char *v = vm_opt_value(argc, argv, i, names[n], &missing);
		if (!v && !missing)
			continue;
		/* An empty command line is a value; an empty file name is not. */
		if (missing || (n != 2 && !*v)) {
			fprintf(stderr, "%s: %s needs a value\n", prog, names[n]);
			return -1;
		}
		*slots[n] = v;
		return 1;
	}
	return 0;
}

int vm_kernel_check(const char *prog, const struct vm_kernel_args *k)
{
	if (!k->kernel && (k->initrd || k->cmdline)) {
		fprintf(stderr, "%s: --initrd and --cmdline go with --kernel\n", prog);
		return -1;
	}
	if (k->disk) {
		/* Checked up front so that a bad image is a usage error, not a failed run. */
		struct stat st;
		int fd = open(k->disk, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "%s: --vtl2-disk %s: %s\n", prog, k->disk, strerror(errno));
			return -1;
		}
		bool ok = fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode));
		off_t size = ok ? lseek(fd, 0, SEEK_END) : -1;
		close(fd);
		if (!ok || size < 512) {
			fprintf(stderr, "%s: --vtl2-disk %s: not a raw image of at least 512 bytes\n",
				prog, k->disk);
			return -1;
		}
	}
	return 0;
}

/* A bzImage or an initrd: generous for a test guest, bounded against a hostile file name. */
#define VM_MAX_BOOT_FILE (512ull << 20)

int vm_kernel_load(const char *prog, const struct vm_kernel_args *k, struct partition_config *pc)
{
	uint8_t *kernel = NULL, *initrd = NULL;
	pc->vmbus = k->vmbus || k->disk;
	if (!k->kernel)
		return 0;
	if (vm_load_file(prog, "kernel", k->kernel, VM_MAX_BOOT_FILE, &kernel, &pc->kernel_size) < 0)
		return -1;
	if (k->initrd && vm_load_file(prog, "initrd", k->initrd, VM_MAX_BOOT_FILE, &initrd,
				      &pc->initrd_size) < 0) {
		free(kernel);
		return -1;
	}
	pc->kernel = kernel;
	pc->initrd = initrd;
	pc->cmdline = k->cmdline;
	return 0;
}

void vm_kernel_free(struct partition_config *pc)
{
	free((void *)pc->kernel);
	free((void *)pc->initrd);
	pc->kernel = pc->initrd = NULL;
}

int vm_config_from_boot(const struct bootcfg *bc, struct partition_config *pc, char *err,
			size_t errlen)
{
	if (bc->vtl0.count == 0 || bc->vtl0.count > PARTITION_MAX_RAM ||
	    bc->vtl2.count > PARTITION_MAX_VTL2_MEM)
		return errbuf_set(err, errlen, -E2BIG, "%u VTL0 ranges (1..%d), %u VTL2 ranges "
				  "(at most %d)", bc->vtl0.count, PARTITION_MAX_RAM,
				  bc->vtl2.count, PARTITION_MAX_VTL2_MEM);
	/* The partition's map holds VTL2's memory too (withheld from VTL0 by vtl2_mem): both
	   lists, sorted, adjacent ranges joined. bootcfg checked that they do not overlap. */
	struct bootcfg_range all[2 * BOOTCFG_MAX_RANGES];
	unsigned n = 0;
	for (unsigned i = 0; i < bc->vtl0.count; i++)
		all[n++] = bc->vtl0.r[i];
	for (unsigned i = 0; i < bc->vtl2.count; i++)
		all[n++] = bc->vtl2.r[i];
	for (unsigned i = 1; i < n; i++)
		for (unsigned j = i; j > 0 && all[j].gpa.v < all[j - 1].gpa.v; j--) {
			struct bootcfg_range t = all[j];
			all[j] = all[j - 1];
			all[j - 1] = t;
		}
	pc->ram_count = 0;
	for (unsigned i = 0; i < n; i++) {
		struct partition_mem *last = pc->ram_count ? &pc->ram[pc->ram_count - 1] : NULL;
		if (last && last->base.v + last->size == all[i].gpa.v) {
			last->size += all[i].size;
			continue;
		}
		if (pc->ram_count == PARTITION_MAX_RAM)
			return errbuf_set(err, errlen, -E2BIG, "more than %d memory ranges",
					  PARTITION_MAX_RAM);
		pc->ram[pc->ram_count++] = (struct partition_mem){ all[i].gpa, all[i].size };
	}
	for (unsigned i = 0; i < bc->vtl2.count; i++)
		pc->vtl2_mem[i] = (struct partition_mem){ bc->vtl2.r[i].gpa, bc->vtl2.r[i].size };
	pc->vtl2_mem_count = bc->vtl2.count;
	pc->vp_count = bc->vp_count;
	pc->host_reaches_vtl0 = strcmp(bc->isolation, "none") == 0;
	return 0;
}

int vm_boot_dt_load(const char *prog, const char *path, struct bootcfg *bc)
{
	uint8_t *dtb = NULL;
	size_t n = 0;
	if (vm_load_file(prog, "boot device tree", path, BOOTCFG_MAX_DTB, &dtb, &n) < 0)
		return -1;
	char err[256];
	int rc = bootcfg_parse(dtb, n, bc, err, sizeof(err));
	free(dtb);
	if (rc < 0) {
		fprintf(stderr, "%s: boot device tree %s: %s\n", prog, path, err);
		return -1;
	}
	return 0;
}
