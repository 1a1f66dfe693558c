/*
 * mezz-sim: run a VTL0 test guest (ELF) on hvsim under the minimal built-in VTL2.
 *
 *   mezz-sim run --guest ELF [--vps N] [--mem SIZE] [--trace] [--timeout SECONDS]
 *
 * Exit status: 0 guest passed, 1 guest failed, 2 bad arguments, 3 could not run (bad ELF,
 * simulator error, VTL2 error, timeout). Manual: docs/mezz-sim.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tools/hvsim/hvsim.h"
#include "tools/mezz-sim/elf_load.h"
#include "tools/mezz-sim/mini_vtl2.h"

#define EXIT_PASS 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define EXIT_ERROR 3

/* Guest RAM limits: the test guest loads at 1 MiB, and RAM must stay below the MMIO test
   device at 0xFE000000 (everything in 0..4 GiB is identity-mapped by hvsim). */
#define MEM_MIN (2ull << 20)
#define MEM_MAX (3ull << 30)
#define MAX_ELF_SIZE (64ull << 20)

struct options {
	const char *guest;
	uint32_t vps;
	uint64_t mem;
	bool trace;
	unsigned timeout_s;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mezz-sim run --guest ELF [--vps N] [--mem SIZE] [--trace] [--timeout SECONDS]\n"
		"       mezz-sim --help | run --help\n");
}

static void run_help(void)
{
	usage(stdout);
	printf("\n"
	       "Run a VTL0 test guest on the hvsim simulated hypervisor under mezz-sim's minimal\n"
	       "built-in VTL2 (which reaches VTL0 only through the kif seam, like the paravisor).\n"
	       "\n"
	       "  --guest ELF        ELF64 x86-64 executable linked at 1 MiB (tests/guests/)\n"
	       "  --vps N            virtual processors, 1..%u (default 1)\n"
	       "  --mem SIZE         guest RAM at GPA 0, K/M/G suffix, multiple of 4K, 2M..3G\n"
	       "                     (default 64M)\n"
	       "  --trace            one line per exit (VTL2 view) and per hvsim event, on stderr\n"
	       "  --timeout SECONDS  give up after this long (default 0: no limit)\n"
	       "  -h, --help         this text\n"
	       "\n"
	       "Guest serial output (COM1) goes to stdout, then a summary: result, exits by kind,\n"
	       "guest instructions, wall time. Exit status: 0 pass, 1 guest failure, 2 usage,\n"
	       "3 could not run. See docs/mezz-sim.md.\n",
	       HVSIM_MAX_VPS);
}

/* Parse a size with an optional K/M/G suffix (powers of 1024). */
static int parse_size(const char *s, uint64_t *out)
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

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
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
static const char *opt_value(int argc, char **argv, int *i, const char *name, bool *missing)
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

/* Returns -1 to continue, otherwise the exit status. */
static int parse_run(int argc, char **argv, struct options *o)
{
	*o = (struct options){ .vps = 1, .mem = HVSIM_DEFAULT_MEM_SIZE };
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v;
		bool missing;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			run_help();
			return EXIT_PASS;
		}
		if (!strcmp(a, "--trace")) {
			o->trace = true;
			continue;
		}
		if ((v = opt_value(argc, argv, &i, "--guest", &missing)) || missing) {
			if (missing || !*v)
				goto need_value;
			o->guest = v;
			continue;
		}
		if ((v = opt_value(argc, argv, &i, "--vps", &missing)) || missing) {
			unsigned long n;
			if (missing)
				goto need_value;
			if (parse_uint(v, HVSIM_MAX_VPS, &n) < 0 || n == 0) {
				fprintf(stderr, "mezz-sim: --vps: '%s' is not a number from 1 to %u\n",
					v, HVSIM_MAX_VPS);
				return EXIT_USAGE;
			}
			o->vps = (uint32_t)n;
			continue;
		}
		if ((v = opt_value(argc, argv, &i, "--mem", &missing)) || missing) {
			if (missing)
				goto need_value;
			if (parse_size(v, &o->mem) < 0 || o->mem < MEM_MIN || o->mem > MEM_MAX ||
			    (o->mem & 0xFFF)) {
				fprintf(stderr, "mezz-sim: --mem: '%s' must be a multiple of 4K from 2M "
					"to 3G (suffix K, M or G)\n", v);
				return EXIT_USAGE;
			}
			continue;
		}
		if ((v = opt_value(argc, argv, &i, "--timeout", &missing)) || missing) {
			unsigned long n;
			if (missing)
				goto need_value;
			if (parse_uint(v, 86400, &n) < 0) {
				fprintf(stderr, "mezz-sim: --timeout: '%s' is not a number of seconds "
					"(0..86400)\n", v);
				return EXIT_USAGE;
			}
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
	if (!o->guest) {
		fprintf(stderr, "mezz-sim: run: --guest ELF is required\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	return -1;
}

static int read_file(const char *path, uint8_t **out, size_t *size)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -errno;
	struct stat st;
	if (fstat(fileno(f), &st) < 0) {
		int e = -errno;
		fclose(f);
		return e;
	}
	if (!S_ISREG(st.st_mode) || st.st_size <= 0 || (uint64_t)st.st_size > MAX_ELF_SIZE) {
		fclose(f);
		return S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
	}
	uint8_t *buf = malloc((size_t)st.st_size);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	size_t n = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	if (n != (size_t)st.st_size) {
		free(buf);
		return -EIO;
	}
	*out = buf;
	*size = n;
	return 0;
}

static void print_summary(const struct mini_vtl2_result *r, const struct hvsim_stats *st,
			  uint32_t vps)
{
	printf("---- mezz-sim summary ----\n");
	switch (r->outcome) {
	case MINI_VTL2_PASS:
		printf("result: PASS (vp%u wrote exit code 0)\n", r->exit_vp);
		break;
	case MINI_VTL2_FAIL:
		printf("result: FAIL (vp%u wrote exit code %u = 0x%x)\n", r->exit_vp, r->exit_code,
		       r->exit_code);
		break;
	case MINI_VTL2_ERROR:
		printf("result: ERROR (%s)\n", r->error);
		break;
	}
	printf("exits by kind (VTL2):");
	uint64_t total = 0;
	for (unsigned k = 0; k < MINI_VTL2_KIND_COUNT; k++) {
		if (!r->exits[k])
			continue;
		printf(" %s=%" PRIu64, mini_vtl2_kind_name(k), r->exits[k]);
		total += r->exits[k];
	}
	printf("%s (total %" PRIu64 ")\n", total ? "" : " none", total);
	printf("hvsim: guest instructions %" PRIu64 " (upper bound), blocks %" PRIu64
	       ", interrupts delivered %" PRIu64 ", exceptions delivered %" PRIu64 "\n",
	       st->guest_insns, st->guest_blocks, st->interrupts_delivered,
	       st->exceptions_delivered);
	printf("serial bytes %" PRIu64 ", vtl protection intercepts %" PRIu64 ", vps %u\n",
	       r->serial_bytes, r->vtlprot_hits, vps);
	printf("wall time %.3f s\n", r->wall_seconds);
}

static int cmd_run(int argc, char **argv)
{
	struct options o;
	int st = parse_run(argc, argv, &o);
	if (st >= 0)
		return st;

	uint8_t *img = NULL;
	size_t img_size = 0;
	int rc = read_file(o.guest, &img, &img_size);
	if (rc < 0) {
		fprintf(stderr, "mezz-sim: cannot read %s: %s\n", o.guest,
			rc == -EFBIG ? "too large for a test guest" :
			rc == -EINVAL ? "not a regular, non-empty file" : strerror(-rc));
		return EXIT_ERROR;
	}
	struct elf_load_info info;
	char err[192];
	rc = elf_load_parse(img, img_size, o.mem, &info, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "mezz-sim: %s: invalid guest: %s\n", o.guest, err);
		free(img);
		return EXIT_ERROR;
	}

	struct hvsim_config hc = {
		.vp_count = o.vps,
		.mem_size = o.mem,
		.trace = o.trace,
		.trace_out = stderr,
	};
	struct hvsim *sim = NULL;
	rc = hvsim_create(&hc, &sim);
	if (rc < 0) {
		fprintf(stderr, "mezz-sim: hvsim_create: %s\n", strerror(-rc));
		free(img);
		return EXIT_ERROR;
	}
	void *ram = hvsim_gpa_ptr(sim, gpa(0), o.mem);
	if (!ram || elf_load_copy(img, img_size, &info, ram, o.mem) < 0) {
		fprintf(stderr, "mezz-sim: cannot load %s into guest RAM\n", o.guest);
		hvsim_destroy(sim);
		free(img);
		return EXIT_ERROR;
	}
	free(img);
	for (uint32_t vp = 0; vp < o.vps; vp++) {
		rc = hvsim_vp_setup_long_mode(sim, vp, info.entry);
		if (rc < 0) {
			fprintf(stderr, "mezz-sim: vp%u setup: %s\n", vp, strerror(-rc));
			hvsim_destroy(sim);
			return EXIT_ERROR;
		}
	}

	struct mini_vtl2_config mc = {
		.mem_size = o.mem,
		.trace = o.trace,
		.serial_out = stdout,
		.trace_out = stderr,
		.timeout_ms = o.timeout_s * 1000u,
	};
	struct mini_vtl2_result res;
	hvsim_set_current(sim);
	rc = mini_vtl2_run(&mc, &res);
	hvsim_set_current(NULL);
	if (rc < 0) {
		fprintf(stderr, "mezz-sim: VTL2 setup failed: %s\n", res.error);
		hvsim_destroy(sim);
		return EXIT_ERROR;
	}
	struct hvsim_stats stats;
	hvsim_get_stats(sim, &stats);
	print_summary(&res, &stats, o.vps);
	hvsim_destroy(sim);
	fflush(stdout);
	if (res.outcome == MINI_VTL2_ERROR)
		fprintf(stderr, "mezz-sim: error: %s\n", res.error);
	return res.outcome == MINI_VTL2_PASS ? EXIT_PASS :
	       res.outcome == MINI_VTL2_FAIL ? EXIT_FAIL : EXIT_ERROR;
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
