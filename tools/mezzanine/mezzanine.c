/*
 * mezzanine: the VTL2 paravisor process over the real mshv_vtl driver (kif_mshv). Until the
 * boot shim hands over a device tree, what the shim will say comes from the command line:
 * the VTL0 memory map, VTL2's own memory, the VP count. Manual: docs/mezzanine.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools/mezzanine/vm.h"

/* Where the VTL2 kernel exposes the device tree the boot shim handed over (setup_data). */
#define BOOT_DT_DEFAULT "/sys/firmware/fdt"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mezzanine (--boot-dt FILE | --mem-map BASE:SIZE[,BASE:SIZE...]\n"
		"                  [--vtl2-mem BASE:SIZE[,...]])\n"
		"                 [--kernel BZIMAGE [--initrd FILE] [--cmdline STR]]\n"
		"                 [--vps N] [--run-layout upstream|openhcl] [--dev-dir DIR]\n"
		"                 [--test-devices] [--trace] [--timeout SECONDS]\n"
		"       mezzanine --help | --version\n");
}

static void help(void)
{
	usage(stdout);
	printf("\n"
	       "The Mezzanine VTL2 paravisor. Runs VTL0's virtual processors through the Linux\n"
	       "mshv_vtl driver (/dev/mshv, MSHV_RETURN_TO_LOWER_VTL), one thread per VP, and\n"
	       "emulates the PC chipset for VTL0 (PIC, IOAPIC, PIT, RTC, COM1/COM2, PCI host,\n"
	       "i8042 reset, ACPI PM). COM1 output goes to stdout.\n"
	       "\n"
	       "  --boot-dt FILE      the device tree the boot shim handed over (on the VTL2\n"
	       "                      kernel: " BOOT_DT_DEFAULT "): VTL0 RAM, VTL2 memory, VPs\n"
	       "  --mem-map LIST      VTL0 RAM ranges, BASE:SIZE (hex or decimal, SIZE with K/M/G)\n"
	       "  --vtl2-mem LIST     VTL2's own memory inside the map: VTL0 loses all access\n"
	       "  --kernel BZIMAGE    load this Linux kernel into VTL0 (boot protocol, ACPI, e820)\n"
	       "                      and start VP 0 at its entry; --initrd, --cmdline go with it\n"
	       "  --vmbus             give VTL0 the paravisor's VMBus\n"
	       "  --vtl2-disk IMAGE   VTL2 itself offers IMAGE to VTL0 as a VMBus SCSI disk\n"
	       "                      (implies --vmbus; the host's disks are relayed)\n"
	       "  --vps N             VPs to run, 1..%u (default: every CPU of the VTL2 kernel)\n"
	       "  --run-layout L      the driver's run page: upstream (Linux 6.19) or openhcl\n"
	       "  --dev-dir DIR       where the mshv device nodes are (default /dev)\n"
	       "  --test-devices      add the test guests' device (ports 0xF0-0xFC, MMIO 0xFE000000)\n"
	       "  --trace             one line per exit and its handler, on stderr\n"
	       "  --timeout SECONDS   stop after this long (default: run until VTL0 stops)\n"
	       "\n"
	       "Exit status: 0 VTL0 powered off (or a test guest passed), 1 a test guest failed,\n"
	       "2 usage, 3 could not run or paravisor error, 4 VTL0 reset, triple-faulted or\n"
	       "halted every VP for good. Without a Hyper-V VTL2 kernel, use mezz-sim.\n"
	       "\n"
	       "As process 1 (the image's /mezzanine-init) it mounts /proc, /sys and /dev, runs\n"
	       "with the arguments the kernel passes init (none: --boot-dt " BOOT_DT_DEFAULT ")\n"
	       "and powers off when the paravisor stops.\n",
	       PARTITION_MAX_VPS);
}

static uint64_t parse_num(const char *s, char **end)
{
	errno = 0;
	return strtoull(s, end, 0);
}

/* "BASE:SIZE[,BASE:SIZE...]" into ranges; 0 or -1 with a message. */
static int parse_ranges(const char *opt, const char *v, struct partition_mem *out, unsigned max,
			unsigned *count)
{
	char buf[512];
	if (strlen(v) >= sizeof(buf)) {
		fprintf(stderr, "mezzanine: %s: list too long\n", opt);
		return -1;
	}
	strcpy(buf, v);
	*count = 0;
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(tok, ':'), *end;
		if (!colon || *count >= max)
			goto bad;
		*colon = '\0';
		if (*tok == '-' || !*tok)
			goto bad;
		uint64_t base = parse_num(tok, &end), size;
		if (errno || *end || vm_parse_size(colon + 1, &size) < 0 || size == 0 ||
		    ((base | size) & 0xFFF) || base + size < base)
			goto bad;
		out[(*count)++] = (struct partition_mem){ gpa(base), size };
	}
	if (*count)
		return 0;
bad:
	fprintf(stderr, "mezzanine: %s: '%s' is not a list of up to %u BASE:SIZE ranges, each "
		"4K-aligned and non-empty\n", opt, v, max);
	return -1;
}

struct options {
	struct vm_config vc;
	struct vm_kernel_args k;
};

static int parse(int argc, char **argv, struct options *o)
{
	memset(o, 0, sizeof(*o));
	struct partition_config *pc = &o->vc.partition;
	pc->trace_out = stderr;
	const char *boot_dt = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		bool missing;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			help();
			return VM_EXIT_PASS;
		}
		if (!strcmp(a, "--version")) {
			puts("mezzanine 0.2");
			return VM_EXIT_PASS;
		}
		if (!strcmp(a, "--trace")) {
			pc->trace = true;
			continue;
		}
		if (!strcmp(a, "--test-devices")) {
			o->vc.test_devices = true;
			continue;
		}
		if ((v = vm_opt_value(argc, argv, &i, "--boot-dt", &missing)) || missing) {
			if (missing || !*v)
				goto need_value;
			boot_dt = v;
			continue;
		}
		if ((v = vm_opt_value(argc, argv, &i, "--mem-map", &missing)) || missing) {
			if (missing)
				goto need_value;
			if (parse_ranges("--mem-map", v, pc->ram, PARTITION_MAX_RAM, &pc->ram_count) < 0)
				return VM_EXIT_USAGE;
			continue;
		}
		if ((v = vm_opt_value(argc, argv, &i, "--vtl2-mem", &missing)) || missing) {
			if (missing)
				goto need_value;
			if (parse_ranges("--vtl2-mem", v, pc->vtl2_mem, PARTITION_MAX_VTL2_MEM,
					 &pc->vtl2_mem_count) < 0)
				return VM_EXIT_USAGE;
			continue;
		}
		int kr = vm_kernel_option("mezzanine", argc, argv, &i, &o->k);
		if (kr < 0)
			return VM_EXIT_USAGE;
		if (kr > 0)
			continue;
		if ((v = vm_opt_value(argc, argv, &i, "--vps", &missing)) || missing) {
			unsigned long n;
			if (missing)
				goto need_value;
			if (vm_opt_number("mezzanine", "--vps", v, 1, PARTITION_MAX_VPS, &n) < 0)
				return VM_EXIT_USAGE;
			pc->vp_count = (uint32_t)n;
			continue;
		}
		if ((v = vm_opt_value(argc, argv, &i, "--run-layout", &missing)) || missing) {
			if (missing)
				goto need_value;
			if (!strcmp(v, "upstream")) {
				pc->run_layout = KIF_RUN_UPSTREAM;
			} else if (!strcmp(v, "openhcl")) {
				pc->run_layout = KIF_RUN_OPENHCL;
			} else {
				fprintf(stderr, "mezzanine: --run-layout: '%s' is not upstream or "
					"openhcl\n", v);
				return VM_EXIT_USAGE;
			}
			continue;
		}
		if ((v = vm_opt_value(argc, argv, &i, "--dev-dir", &missing)) || missing) {
			if (missing || !*v)
				goto need_value;
			pc->dev_dir = v;
			continue;
		}
		if ((v = vm_opt_value(argc, argv, &i, "--timeout", &missing)) || missing) {
			unsigned long n;
			if (missing)
				goto need_value;
			if (vm_opt_number("mezzanine", "--timeout", v, 0, 86400, &n) < 0)
				return VM_EXIT_USAGE;
			pc->timeout_ms = (unsigned)n * 1000u;
			continue;
		}
		fprintf(stderr, "mezzanine: unknown argument '%s'\n", a);
		usage(stderr);
		return VM_EXIT_USAGE;
need_value:
		fprintf(stderr, "mezzanine: %s needs a value\n", a);
		return VM_EXIT_USAGE;
	}
	if (boot_dt) {
		if (pc->ram_count || pc->vtl2_mem_count) {
			fprintf(stderr, "mezzanine: --boot-dt replaces --mem-map and --vtl2-mem\n");
			return VM_EXIT_USAGE;
		}
		struct bootcfg *bc = malloc(sizeof(*bc));
		char err[256];
		uint32_t vps = pc->vp_count;
		if (!bc || vm_boot_dt_load("mezzanine", boot_dt, bc) < 0) {
			free(bc);
			return VM_EXIT_USAGE;
		}
		int rc = vm_config_from_boot(bc, pc, err, sizeof(err));
		free(bc);
		if (rc < 0) {
			fprintf(stderr, "mezzanine: --boot-dt %s: %s\n", boot_dt, err);
			return VM_EXIT_USAGE;
		}
		if (vps) /* --vps: fewer VPs than the tree lists */
			pc->vp_count = vps;
	}
	if (pc->ram_count == 0) {
		fprintf(stderr, "mezzanine: --mem-map or --boot-dt is required (the VTL0 memory "
			"map)\n");
		usage(stderr);
		return VM_EXIT_USAGE;
	}
	if (vm_kernel_check("mezzanine", &o->k) < 0)
		return VM_EXIT_USAGE;
	return -1;
}

/* SIGINT/SIGTERM end the run in order: a thread waits for them (no work in a handler). */
static void *signal_thread(void *arg)
{
	sigset_t *set = arg;
	int sig;
	if (sigwait(set, &sig) == 0 && sig != SIGUSR2)
		vm_stop();
	return NULL;
}

/*
 * The image's initramfs runs mezzanine as init (rdinit=/mezzanine-init, tools/mkinitrd.sh):
 * then it mounts the kernel's file systems itself (no shell in the image), takes its
 * arguments from the kernel (the words after "--" on the command line; none: the boot
 * shim's device tree) and powers the VTL2 kernel off at the end, since init must not exit.
 */
static void init_mounts(void)
{
	static const struct { const char *src, *dir, *type; } m[] = {
		{ "proc", "/proc", "proc" },
		{ "sysfs", "/sys", "sysfs" },
		{ "devtmpfs", "/dev", "devtmpfs" },
	};
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		mkdir(m[i].dir, 0755);
		if (mount(m[i].src, m[i].dir, m[i].type, 0, NULL) < 0 && errno != EBUSY)
			fprintf(stderr, "mezzanine-init: mount %s: %s\n", m[i].dir, strerror(errno));
	}
}

static int run_main(int argc, char **argv);

int main(int argc, char **argv)
{
	if (getpid() != 1)
		return run_main(argc, argv);
	init_mounts();
	char *dflt[] = { argv[0], "--boot-dt", BOOT_DT_DEFAULT, NULL };
	int st = argc > 1 ? run_main(argc, argv) : run_main(3, dflt);
	fprintf(stderr, "mezzanine-init: the paravisor exited with status %d; powering off\n", st);
	fflush(NULL);
	sync();
	reboot(RB_POWER_OFF);
	return st;
}

static int run_main(int argc, char **argv)
{
	struct options o;
	int st = parse(argc, argv, &o);
	if (st >= 0)
		return st;
	static sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR2); /* ends the signal thread at exit */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	pthread_t sig_thread;
	bool have_thread = pthread_create(&sig_thread, NULL, signal_thread, &set) == 0;

	o.vc.disk = o.k.disk;
	if (vm_kernel_load("mezzanine", &o.k, &o.vc.partition) < 0)
		return VM_EXIT_ERROR;
	struct vm_report rep;
	char err[256] = "";
	int rc = vm_run(&o.vc, &rep, err, sizeof(err));
	vm_kernel_free(&o.vc.partition);
	if (have_thread) {
		pthread_kill(sig_thread, SIGUSR2);
		pthread_join(sig_thread, NULL);
	}
	if (rc < 0) {
		fprintf(stderr, "mezzanine: %s\n", err);
		return rc == -ENOEXEC ? VM_EXIT_USAGE : VM_EXIT_ERROR;
	}
	vm_print_summary(stderr, &rep);
	return vm_exit_status(&rep);
}
