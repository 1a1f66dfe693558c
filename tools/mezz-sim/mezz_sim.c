/*
 * mezz-sim: run a VTL0 guest (ELF) on hvsim under the Mezzanine paravisor: the same vtl2
 * library and devices as `mezzanine`, linked with the simulator's seam (kif_sim).
 *
 *   mezz-sim run --guest ELF [--vps N] [--mem SIZE] [--vtl2-mem SIZE] [--trace] [--count-insns]
 *                [--timeout SECONDS] [--no-test-devices] [--disk IMAGE] [--host-serial]
 *                [--igvm FILE [--host-cmdline STR] [--no-kernel-check] [--igvm-param T=FILE]]
 *
 * With --igvm the Mezzanine image boots first: the host loads it, the boot shim runs in VTL2,
 * the VTL2 kernel checks the handover, and the shim's device tree configures the paravisor
 * (tools/mezz-sim/vtl2_boot.h); then the VTL0 guest runs as without it.
 *
 * Exit status: 0 guest passed (or powered off), 1 guest failed, 2 bad arguments, 3 could not
 * run (bad ELF, simulator error, paravisor error, timeout), 4 the guest stopped the VM
 * otherwise (reset, triple fault, every VP halted for good). Manual: docs/mezz-sim.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/hvsim/hvsim.h"
#include "tools/hvsim/hvsim_vmbus.h"
#include "igvm/igvm_format.h"
#include "tools/mezz-sim/elf_load.h"
#include "tools/mezz-sim/vtl2_boot.h"
#include "tools/mezzanine/vm.h"

#define EXIT_PASS VM_EXIT_PASS
#define EXIT_USAGE VM_EXIT_USAGE
#define EXIT_ERROR VM_EXIT_ERROR

/* Guest RAM limits: the test guest loads at 1 MiB, and RAM must stay below the MMIO test
   device at 0xFE000000 (everything in 0..4 GiB is identity-mapped by hvsim). */
#define MEM_MIN (2ull << 20)
#define MEM_MAX (3ull << 30)
#define MAX_ELF_SIZE (64ull << 20)
#define MAX_IGVM_SIZE (512ull << 20)
#define MAX_PARAM_FILE (1ull << 20)

struct options {
	const char *guest;
	struct vm_kernel_args k;
	uint32_t vps;
	uint64_t mem;
	uint64_t vtl2_mem;
	bool trace;
	bool count_insns;
	bool no_test_devices;
	unsigned timeout_s;
	const char *host_disk;  /* the simulated host's SCSI disk (hvsim_vmbus) */
	bool host_serial;       /* the simulated host's serial channel */
	bool mem_set;
	const char *igvm;       /* the Mezzanine IGVM image to boot VTL2 from */
	const char *host_cmdline;
	bool no_kernel_check;
	const char *dt_out;     /* write the shim's device tree here */
	bool igvm_vbs;          /* load the VSM_ISOLATION platform instead of NATIVE */
	struct { uint32_t type; const char *path; } params[HVSIM_IGVM_MAX_OVERRIDES];
	unsigned param_count;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mezz-sim run (--guest ELF | --kernel BZIMAGE [--initrd FILE] [--cmdline STR])\n"
		"                    [--vps N] [--mem SIZE] [--vtl2-mem SIZE] [--trace] [--count-insns]\n"
		"                    [--timeout SECONDS] [--no-test-devices]\n"
		"                    [--disk IMAGE] [--vtl2-disk IMAGE] [--host-serial]\n"
		"                    [--igvm FILE [--host-cmdline STR] [--no-kernel-check]\n"
		"                     [--igvm-param TYPE=FILE]... [--vtl2-dt-out FILE]\n"
		"                     [--igvm-platform native|vbs]]\n"
		"       mezz-sim --help | run --help\n");
}

static void run_help(void)
{
	usage(stdout);
	printf("\n"
	       "Run a VTL0 guest on the hvsim simulated hypervisor under the Mezzanine paravisor\n"
	       "(the same vtl2 core and devices as `mezzanine`, over the simulator's kif seam).\n"
	       "\n"
	       "  --guest ELF        ELF64 x86-64 executable linked at 1 MiB (tests/guests/)\n"
	       "  --kernel BZIMAGE   a Linux kernel the paravisor loads into VTL0 itself (64-bit\n"
	       "                     boot protocol, ACPI tables, e820); VP 0 starts at its entry\n"
	       "  --initrd FILE      initramfs for --kernel\n"
	       "  --cmdline STR      kernel command line for --kernel\n"
	       "  --vmbus            give VTL0 the paravisor's VMBus (SynIC messages/events, the\n"
	       "                     ACPI device with --kernel)\n"
	       "  --disk IMAGE       the simulated Hyper-V host offers VTL2 the raw IMAGE\n"
	       "                     (read-write) as a VMBus SCSI disk on its own VMBus; the\n"
	       "                     paravisor consumes it and offers it to VTL0 on its VMBus\n"
	       "                     (implies --vmbus)\n"
	       "  --vtl2-disk IMAGE  VTL2 itself serves the raw IMAGE (read-write) to VTL0 as a\n"
	       "                     VMBus SCSI disk, no host involved (implies --vmbus)\n"
	       "  --vps N            virtual processors, 1..%u (default 1)\n"
	       "  --mem SIZE         guest RAM at GPA 0, K/M/G suffix, multiple of 4K, 2M..3G\n"
	       "                     (default 64M)\n"
	       "  --vtl2-mem SIZE    top SIZE of RAM is VTL2's own memory, withheld from VTL0\n"
	       "                     (default 1M; 0 for none)\n"
	       "  --trace            one line per exit (VTL2 view) and per hvsim event, on stderr\n"
	       "  --count-insns      count every guest instruction (hvsim's summary line); slower:\n"
	       "                     a run otherwise skips the block hook where it can\n"
	       "  --timeout SECONDS  give up after this long (default 0: no limit)\n"
	       "  --no-test-devices  leave out the test device (ports 0xF0-0xFC, MMIO 0xFE000000)\n"
	       "  --host-serial      the simulated host offers VTL2 a VMBus serial port (COM1);\n"
	       "                     it prints what VTL2 sends, lines prefixed 'host-serial: '\n"
	       "  --igvm FILE        boot VTL2 from the Mezzanine IGVM image first: the host loads\n"
	       "                     it (NATIVE platform, parameters filled), the boot shim runs\n"
	       "                     in VTL2 to the kernel entry, the VTL2 kernel prints its E820\n"
	       "                     map and command line (compared with the shim's handover),\n"
	       "                     and the shim's device tree configures the paravisor. --mem\n"
	       "                     is then the partition's RAM (default: up to the image's\n"
	       "                     VTL2 memory); VTL0 gets the rest\n"
	       "  --host-cmdline STR the host's command line for the image (IGVM COMMAND_LINE\n"
	       "                     parameter and /chosen/bootargs)\n"
	       "  --no-kernel-check  stop VTL2 at the kernel entry (no kernel run)\n"
	       "  --igvm-param TYPE=FILE  a hostile host: FILE's bytes replace parameter TYPE\n"
	       "                     (vp_count, memory_map, command_line, device_tree)\n"
	       "  --vtl2-dt-out FILE write the device tree the shim built (DTB) to FILE\n"
	       "  --igvm-platform P  load the image's native (default) or vbs (VSM_ISOLATION)\n"
	       "                     platform: its pages and VP context (no VBS protections)\n"
	       "  -h, --help         this text\n"
	       "\n"
	       "Guest serial output (COM1) goes to stdout, then a summary: result, exits by kind,\n"
	       "guest instructions, wall time. Exit status: 0 pass (or power off), 1 guest\n"
	       "failure, 2 usage, 3 could not run, 4 the guest stopped the VM (reset, triple\n"
	       "fault, all VPs halted). See docs/mezz-sim.md.\n",
	       HVSIM_MAX_VPS);
}

/* Returns -1 to continue, otherwise the exit status. */
static int parse_run(int argc, char **argv, struct options *o)
{
	*o = (struct options){ .vps = 1, .mem = HVSIM_DEFAULT_MEM_SIZE, .vtl2_mem = 1ull << 20 };
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v;
		bool missing;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			run_help();
			return EXIT_PASS;
		}
		if (!strcmp(a, "--count-insns")) {
			o->count_insns = true;
			continue;
		}
		if (!strcmp(a, "--trace")) {
			o->trace = true;
			continue;
		}
		if (!strcmp(a, "--no-test-devices")) {
			o->no_test_devices = true;
			continue;
		}
		if (!strcmp(a, "--host-serial")) {
			o->host_serial = true;
			continue;
		}
		if (!strcmp(a, "--no-kernel-check")) {
			o->no_kernel_check = true;
			continue;
		}
		if ((v = vm_opt_value(argc, argv, &i, "--igvm", &missing)) || missing) {
			if (missing || !*v)
				goto need_value;
			o->igvm = v;
			continue;
		}
		if ((v = vm_opt_value(argc, argv, &i, "--igvm-platform", &missing)) || missing) {
			if (missing)
				goto need_value;
			if (strcmp(v, "native") && strcmp(v, "vbs")) {
				fprintf(stderr, "mezz-sim: --igvm-platform: '%s' is not native or vbs\n",
					v);
				return EXIT_USAGE;
			}
			o->igvm_vbs = !strcmp(v, "vbs");
			continue;
		}
		if ((v = vm_opt_value(argc, argv, &i, "--vtl2-dt-out", &missing)) || missing) {
			if (missing || !*v)
				goto need_value;
			o->dt_out = v;
			continue;
		}
		if ((v = vm_opt_value(argc, argv, &i, "--host-cmdline", &missing)) || missing) {
			if (missing)
				goto need_value;
			o->host_cmdline = v;
			continue;
		}
		if ((v = vm_opt_value(argc, argv, &i, "--igvm-param", &missing)) || missing) {
			if (missing)
				goto need_value;
			static const struct { const char *name; uint32_t type; } types[] = {
				{ "vp_count", IGVM_VHT_VP_COUNT_PARAMETER },
				{ "memory_map", IGVM_VHT_MEMORY_MAP },
				{ "command_line", IGVM_VHT_COMMAND_LINE },
				{ "device_tree", IGVM_VHT_DEVICE_TREE },
			};
			const char *eq = strchr(v, '=');
			uint32_t t = 0;
			for (unsigned k = 0; eq && k < sizeof(types) / sizeof(types[0]); k++)
				if (strlen(types[k].name) == (size_t)(eq - v) &&
				    !strncmp(v, types[k].name, (size_t)(eq - v)))
					t = types[k].type;
			if (!t || !eq[1] || o->param_count == HVSIM_IGVM_MAX_OVERRIDES) {
				fprintf(stderr, "mezz-sim: --igvm-param: '%s' is not TYPE=FILE with TYPE "
					"vp_count, memory_map, command_line or device_tree (at most "
					"%d)\n", v, HVSIM_IGVM_MAX_OVERRIDES);
				return EXIT_USAGE;
			}
			o->params[o->param_count].type = t;
			o->params[o->param_count++].path = eq + 1;
			continue;
		}
		int kr = vm_kernel_option("mezz-sim", argc, argv, &i, &o->k);
		if (kr < 0)
			return EXIT_USAGE;
		if (kr > 0)
			continue;
		if ((v = vm_opt_value(argc, argv, &i, "--disk", &missing)) || missing) {
			if (missing || !*v)
				goto need_value;
			o->host_disk = v;
			continue;
		}
		if ((v = vm_opt_value(argc, argv, &i, "--guest", &missing)) || missing) {
			if (missing || !*v)
				goto need_value;
			o->guest = v;
			continue;
		}
		if ((v = vm_opt_value(argc, argv, &i, "--vps", &missing)) || missing) {
			unsigned long n;
			if (missing)
				goto need_value;
			if (vm_opt_number("mezz-sim", "--vps", v, 1, HVSIM_MAX_VPS, &n) < 0)
				return EXIT_USAGE;
			o->vps = (uint32_t)n;
			continue;
		}
		if ((v = vm_opt_value(argc, argv, &i, "--mem", &missing)) || missing) {
			if (missing)
				goto need_value;
			if (vm_parse_size(v, &o->mem) < 0 || o->mem < MEM_MIN || o->mem > MEM_MAX ||
			    (o->mem & 0xFFF)) {
				fprintf(stderr, "mezz-sim: --mem: '%s' must be a multiple of 4K from 2M "
					"to 3G (suffix K, M or G)\n", v);
				return EXIT_USAGE;
			}
			o->mem_set = true;
			continue;
		}
		if ((v = vm_opt_value(argc, argv, &i, "--vtl2-mem", &missing)) || missing) {
			if (missing)
				goto need_value;
			if (vm_parse_size(v, &o->vtl2_mem) < 0 || (o->vtl2_mem & 0xFFF)) {
				fprintf(stderr, "mezz-sim: --vtl2-mem: '%s' must be a multiple of 4K "
					"(suffix K, M or G)\n", v);
				return EXIT_USAGE;
			}
			continue;
		}
		if ((v = vm_opt_value(argc, argv, &i, "--timeout", &missing)) || missing) {
			unsigned long n;
			if (missing)
				goto need_value;
			if (vm_opt_number("mezz-sim", "--timeout", v, 0, 86400, &n) < 0)
				return EXIT_USAGE;
			o->timeout_s = (unsigned)n;
			continue;
		}
		fprintf(stderr, "mezz-sim: run: unknown argument '%s'\n", a);
		usage(stderr);
		return EXIT_USAGE;
need_value:
		fprintf(stderr, "mezz-sim: run: %s needs a value\n", a);
		return EXIT_USAGE;
	}
	if (!o->guest == !o->k.kernel) {
		fprintf(stderr, "mezz-sim: run: give either --guest ELF or --kernel BZIMAGE\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (vm_kernel_check("mezz-sim", &o->k) < 0)
		return EXIT_USAGE;
	if (!o->igvm && (o->host_cmdline || o->no_kernel_check || o->param_count || o->dt_out ||
			 o->igvm_vbs)) {
		fprintf(stderr, "mezz-sim: run: --host-cmdline, --no-kernel-check, --igvm-param, "
			"--vtl2-dt-out and --igvm-platform need --igvm\n");
		return EXIT_USAGE;
	}
	if (o->igvm)
		return -1; /* VTL2's memory comes from the image */
	if (o->vtl2_mem >= o->mem / 2) {
		fprintf(stderr, "mezz-sim: --vtl2-mem must be less than half of --mem\n");
		return EXIT_USAGE;
	}
	return -1;
}

static void print_hvsim(const struct hvsim_stats *st)
{
	if (st->insns_counted)
		printf("hvsim: guest instructions %" PRIu64 " (upper bound), blocks %" PRIu64,
		       st->guest_insns, st->guest_blocks);
	else
		printf("hvsim: guest instructions not counted (--count-insns), hooked blocks %" PRIu64,
		       st->guest_blocks);
	printf(", interrupts delivered %" PRIu64 ", exceptions delivered %" PRIu64
	       ", user-to-kernel entries %" PRIu64 ", cross-modified code pages %" PRIu64
	       ", block re-runs %" PRIu64 ", single steps %" PRIu64 ", translation flushes %" PRIu64
	       "\n", st->interrupts_delivered, st->exceptions_delivered, st->ring0_entries,
	       st->xmodified_pages, st->block_reruns, st->unicorn_steps, st->gate_flushes);
}

/*
 * The simulated host's VMBus for VTL2 (--disk / --host-serial); *hv stays NULL without
 * them. -1 after a message: a bad image is the user's input (exit 2), the rest is an error.
 */
static int setup_host(struct hvsim *sim, const struct options *o, struct hvsim_vmbus **hv,
		      int *status)
{
	*hv = NULL;
	if (!o->host_disk && !o->host_serial)
		return 0;
	struct hvsim_vmbus_config cfg = {
		.serial = o->host_serial,
		.serial_out = stdout,
		.disk_path = o->host_disk,
		.log = stderr,
	};
	int rc = hvsim_vmbus_create(sim, &cfg, hv);
	if (rc == 0)
		return 0;
	if (o->host_disk && rc != -ENOMEM) {
		fprintf(stderr, "mezz-sim: --disk %s: %s\n", o->host_disk,
			rc == -EINVAL ? "not a raw image of at least 512 bytes" : strerror(-rc));
		*status = EXIT_USAGE;
	} else {
		fprintf(stderr, "mezz-sim: host VMBus: %s\n", strerror(-rc));
		*status = EXIT_ERROR;
	}
	return -1;
}

/*
 * --igvm: read the image and size the partition around its VTL2 memory. 0, or an exit status.
 */
static int igvm_prepare(struct options *o, uint8_t **img, size_t *size,
			struct hvsim_igvm_layout *lay)
{
	if (vm_load_file("mezz-sim", "IGVM image", o->igvm, MAX_IGVM_SIZE, img, size) < 0)
		return EXIT_USAGE;
	char err[256];
	if (hvsim_igvm_scan(*img, *size, o->igvm_vbs ? HVSIM_IGVM_VBS : HVSIM_IGVM_NATIVE, lay,
			    err, sizeof(err)) < 0) {
		fprintf(stderr, "mezz-sim: --igvm %s: %s\n", o->igvm, err);
		return EXIT_USAGE;
	}
	if (!o->mem_set)
		o->mem = lay->vtl2_end;
	if (o->mem < lay->vtl2_end || lay->vtl2_end > MEM_MAX) {
		fprintf(stderr, "mezz-sim: --igvm %s: its VTL2 memory ends at 0x%llx, beyond --mem "
			"(0x%llx, at most 3G)\n", o->igvm, (unsigned long long)lay->vtl2_end,
			(unsigned long long)o->mem);
		return EXIT_USAGE;
	}
	return 0;
}

/* Boot VTL2 from the image; on success *cfg is the paravisor's part of the shim's tree. */
static int igvm_boot(struct hvsim *sim, const struct options *o, const uint8_t *img,
		     size_t size, struct vtl2_boot_result *res)
{
	struct vtl2_boot_opts bo = {
		.image = img,
		.image_size = size,
		.host = {
			.platform = o->igvm_vbs ? HVSIM_IGVM_VBS : HVSIM_IGVM_NATIVE,
			.command_line = o->host_cmdline,
			.vmbus = true,
			/* Hyper-V's message connection for VTL2's VMBus client (hvsim_vmbus). */
			.vmbus_connection_id = 0x800074,
			.vmbus_vtl = 2,
		},
		.kernel_check = !o->no_kernel_check,
		.out = stdout,
	};
	uint8_t *bufs[HVSIM_IGVM_MAX_OVERRIDES] = { 0 };
	int status = 0;
	for (unsigned i = 0; i < o->param_count; i++) {
		size_t n;
		if (vm_load_file("mezz-sim", "--igvm-param file", o->params[i].path, MAX_PARAM_FILE,
				 &bufs[i], &n) < 0) {
			status = EXIT_USAGE;
			goto out;
		}
		bo.host.overrides[i].type = o->params[i].type;
		bo.host.overrides[i].bytes = bufs[i];
		bo.host.overrides[i].len = n;
		bo.host.override_count++;
	}
	status = vtl2_boot_run(sim, &bo, res);
	if (status == 0 && o->dt_out) {
		FILE *f = fopen(o->dt_out, "wb");
		if (!f || fwrite(res->dtb, 1, res->dtb_size, f) != res->dtb_size) {
			fprintf(stderr, "mezz-sim: --vtl2-dt-out %s: cannot write\n", o->dt_out);
			status = EXIT_ERROR;
		}
		if (f && fclose(f) != 0)
			status = EXIT_ERROR;
	}
out:
	for (unsigned i = 0; i < o->param_count; i++)
		free(bufs[i]);
	return status;
}

/* The paravisor's memory from the shim's device tree. 0, or -1 with a message. */
static int igvm_configure(struct hvsim *sim, const struct bootcfg *cfg, struct vm_config *vc,
			  uint32_t vps)
{
	char err[256];
	if (cfg->vp_count != vps) {
		fprintf(stderr, "mezz-sim: the shim's device tree has %u VPs, the partition %u\n",
			cfg->vp_count, vps);
		return -1;
	}
	if (vm_config_from_boot(cfg, &vc->partition, err, sizeof(err)) < 0) {
		fprintf(stderr, "mezz-sim: the shim's device tree: %s\n", err);
		return -1;
	}
	/* The paravisor's shared pool (kif_shared_alloc): the largest free VTL2 range. */
	const struct bootcfg_range *best = NULL;
	for (unsigned i = 0; i < cfg->vtl2_free.count; i++)
		if (!best || cfg->vtl2_free.r[i].size > best->size)
			best = &cfg->vtl2_free.r[i];
	if (best)
		hvsim_set_vtl2_pool(sim, best->gpa, best->size);
	printf("mezz-sim: [4/4] paravisor configured from the shim's device tree: %u VPs, "
	       "isolation %s, VTL0 RAM %u range(s) from 0x%llx, VTL2 RAM %u range(s), shared pool "
	       "%llu KiB; VTL0 guest next\n", cfg->vp_count, cfg->isolation, cfg->vtl0.count,
	       (unsigned long long)cfg->vtl0.r[0].gpa.v, cfg->vtl2.count,
	       best ? (unsigned long long)(best->size >> 10) : 0ull);
	fflush(stdout);
	return 0;
}

/* A test guest: ELF loaded by mezz-sim, every VP set up in long mode by hvsim's loader. */
static int setup_guest(struct hvsim *sim, const struct options *o)
{
	uint8_t *img = NULL;
	size_t img_size = 0;
	if (vm_load_file("mezz-sim", "guest", o->guest, MAX_ELF_SIZE, &img, &img_size) < 0)
		return -1;
	struct elf_load_info info;
	char err[192];
	int rc = elf_load_parse(img, img_size, o->mem, &info, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "mezz-sim: %s: invalid guest: %s\n", o->guest, err);
		free(img);
		return -1;
	}
	void *ram = hvsim_gpa_ptr(sim, gpa(0), o->mem);
	if (!ram || elf_load_copy(img, img_size, &info, ram, o->mem) < 0) {
		fprintf(stderr, "mezz-sim: cannot load %s into guest RAM\n", o->guest);
		free(img);
		return -1;
	}
	free(img);
	for (uint32_t vp = 0; vp < o->vps; vp++) {
		rc = hvsim_vp_setup_long_mode(sim, vp, info.entry);
		if (rc < 0) {
			fprintf(stderr, "mezz-sim: vp%u setup: %s\n", vp, strerror(-rc));
			return -1;
		}
	}
	return 0;
}

static int cmd_run(int argc, char **argv)
{
	struct options o;
	int st = parse_run(argc, argv, &o);
	if (st >= 0)
		return st;

	uint8_t *igvm_img = NULL;
	size_t igvm_size = 0;
	struct hvsim_igvm_layout lay;
	if (o.igvm && (st = igvm_prepare(&o, &igvm_img, &igvm_size, &lay)) != 0) {
		free(igvm_img);
		return st;
	}
	/* A kernel is loaded by the paravisor itself (vtl2/vtl0boot), not by mezz-sim. */
	struct partition_config boot = { 0 };
	if (vm_kernel_load("mezz-sim", &o.k, &boot) < 0) {
		free(igvm_img);
		return EXIT_ERROR;
	}

	struct hvsim_config hc = {
		.vp_count = o.vps,
		.mem_size = o.mem,
		.trace = o.trace,
		.trace_out = stderr,
		.count_insns = o.count_insns,
		.register_page = true, /* as OpenHCL's kernel offers it: RIP/RFLAGS/RSP there */
	};
	struct hvsim *sim = NULL;
	int rc = hvsim_create(&hc, &sim);
	if (rc < 0) {
		fprintf(stderr, "mezz-sim: hvsim_create: %s\n", strerror(-rc));
		vm_kernel_free(&boot);
		return EXIT_ERROR;
	}
	struct vtl2_boot_result vres;
	if (o.igvm) {
		st = igvm_boot(sim, &o, igvm_img, igvm_size, &vres);
		free(igvm_img);
		if (st == 0) {
			/* VTL0's ELF must load below the VTL2 region (the first VTL0 range). */
			const struct bootcfg_ranges *v0 = &vres.cfg.vtl0;
			if (v0->count && v0->r[0].gpa.v == 0 && v0->r[0].size < o.mem)
				o.mem = v0->r[0].size;
			/* VP 0 starts over for VTL0 whoever loads it. */
			hvsim_vp_setup_long_mode(sim, 0, 0);
		} else {
			vtl2_boot_free(&vres);
			vm_kernel_free(&boot);
			hvsim_destroy(sim);
			return st;
		}
	}
	if (o.guest && setup_guest(sim, &o) < 0) {
		if (o.igvm)
			vtl2_boot_free(&vres);
		hvsim_destroy(sim);
		return EXIT_ERROR;
	}
	struct hvsim_vmbus *host = NULL;
	if (setup_host(sim, &o, &host, &st) < 0) {
		vm_kernel_free(&boot);
		hvsim_destroy(sim);
		return st;
	}

	struct vm_config vc = {
		.partition = {
			.vp_count = o.vps,
			.ram = { { gpa(0), o.mem } },
			.ram_count = 1,
			.trace = o.trace,
			.trace_out = stderr,
			.timeout_ms = o.timeout_s * 1000u,
			.kernel = boot.kernel,
			.kernel_size = boot.kernel_size,
			.initrd = boot.initrd,
			.initrd_size = boot.initrd_size,
			.cmdline = boot.cmdline,
			/* --disk (the host's) reaches VTL0 through the paravisor's VMBus. */
			.vmbus = o.k.vmbus || o.k.disk || o.host_disk,
			/* hvsim's partition has no hardware isolation: its host reaches all of
			   the guest's memory (an IGVM image says so in its device tree). */
			.host_reaches_vtl0 = true,
		},
		.test_devices = !o.no_test_devices,
		.serial_out = stdout,
		.disk = o.k.disk,
		/* The paravisor connects to the host's VMBus when there is one (COM1 relay). */
		.host_vmbus = o.host_serial || o.host_disk,
		.host_serial = o.host_serial,
		.host_disk = o.host_disk != NULL,
	};
	if (o.igvm) {
		int crc = igvm_configure(sim, &vres.cfg, &vc, o.vps);
		vtl2_boot_free(&vres);
		if (crc < 0) {
			vm_kernel_free(&boot);
			hvsim_destroy(sim);
			return EXIT_ERROR;
		}
	} else if (o.vtl2_mem) {
		vc.partition.vtl2_mem[0] = (struct partition_mem){ gpa(o.mem - o.vtl2_mem), o.vtl2_mem };
		/* VTL2's memory is also where its rings toward the host live (kif_shared_alloc). */
		hvsim_set_vtl2_pool(sim, gpa(o.mem - o.vtl2_mem), o.vtl2_mem);
		vc.partition.vtl2_mem_count = 1;
	}
	struct vm_report rep;
	char verr[256] = "";
	hvsim_set_current(sim);
	rc = vm_run(&vc, &rep, verr, sizeof(verr));
	hvsim_set_current(NULL);
	vm_kernel_free(&boot);
	if (rc < 0) {
		if (rc == -ENOEXEC)
			fprintf(stderr, "mezz-sim: cannot boot %s: %s\n", o.k.kernel, verr);
		else
			fprintf(stderr, "mezz-sim: the paravisor could not start: %s\n", verr);
		hvsim_vmbus_destroy(host);
		hvsim_destroy(sim);
		/* hostile or broken input gets 2 */
		return rc == -ENOEXEC ? EXIT_USAGE : EXIT_ERROR;
	}
	struct hvsim_stats stats;
	hvsim_get_stats(sim, &stats);
	struct hvsim_vmbus_stats host_stats;
	if (host)
		hvsim_vmbus_get_stats(host, &host_stats);
	/* VTL2 has stopped: the host goes first (it ends an unfinished serial line). */
	hvsim_vmbus_destroy(host);
	vm_print_summary(stdout, &rep);
	print_hvsim(&stats);
	if (o.igvm)
		printf("mezz-sim: VTL2 shared pool used %" PRIu64 " KiB\n",
		       hvsim_vtl2_pool_used(sim) >> 10);
	if (host)
		hvsim_vmbus_print_stats(&host_stats, stdout);
	hvsim_destroy(sim);
	fflush(stdout);
	int status = vm_exit_status(&rep);
	if (status == EXIT_ERROR)
		fprintf(stderr, "mezz-sim: error: %s\n", rep.result.message);
	return status;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		run_help();
		return EXIT_PASS;
	}
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 2, argv + 2);
	fprintf(stderr, "mezz-sim: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
