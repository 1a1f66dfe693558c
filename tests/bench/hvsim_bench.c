/*
 * hvsim benchmark: guest instructions per second and intercept round trips per second of
 * hvsim + the mezz-sim minimal VTL2, each next to the same loop on raw unicorn (no hvsim, no
 * VTL2: the floor hvsim is built on) measured in the same run.
 *
 *   compute: tests/guests/bench_compute.elf, a 5-instruction loop with no exits, vs the same
 *            loop on a bare unicorn engine with no hooks.
 *   exits:   tests/guests/bench_exits.elf, N 32-bit OUTs to the echo port, each a full
 *            intercept -> VTL2 -> completion round trip, vs the same OUT loop on unicorn with a
 *            UC_HOOK_INSN OUT hook that only counts.
 * Guests are read from $O/guests (O defaults to "build").
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unicorn/unicorn.h>

#include "tests/guests/guest_abi.h"
#include "tools/hvsim/hvsim.h"
#include "tools/mezz-sim/elf_load.h"
#include "tools/mezzanine/vm.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* The guests' loops, assembled: compute = mov/shl/xor/dec/jnz, exits = out/dec/jnz; each ends
   in HLT (unicorn stops there). */
static const uint8_t compute_code[] = { 0x48, 0x89, 0xc2, 0x48, 0xc1, 0xe2, 0x0d, 0x48, 0x31,
					0xd0, 0x48, 0xff, 0xc9, 0x75, 0xf1, 0xf4 };
static const uint8_t exits_code[] = { 0xe7, 0xf0, 0x48, 0xff, 0xc9, 0x75, 0xf9, 0xf4 };

static void out_hook(uc_engine *uc, uint32_t port, int size, uint32_t value, void *user)
{
	(void)uc; (void)port; (void)size; (void)value;
	(*(uint64_t *)user)++;
}

/* Run `code` on a bare unicorn with RCX = iterations; returns seconds or < 0. */
static double raw_unicorn(const uint8_t *code, size_t len, uint64_t iterations, bool hook_out,
			  uint64_t *outs)
{
	uc_engine *uc;
	const uint64_t base = 0x100000;
	if (uc_open(UC_ARCH_X86, UC_MODE_64, &uc) != UC_ERR_OK)
		return -1;
	uc_hook h;
	double t = -1;
	if (uc_mem_map(uc, base, 0x10000, UC_PROT_ALL) != UC_ERR_OK ||
	    uc_mem_write(uc, base, code, len) != UC_ERR_OK)
		goto out;
	uint64_t rcx = iterations, rax = 1, rsp = base + 0x8000;
	uc_reg_write(uc, UC_X86_REG_RCX, &rcx);
	uc_reg_write(uc, UC_X86_REG_RAX, &rax);
	uc_reg_write(uc, UC_X86_REG_RSP, &rsp);
	if (hook_out &&
	    uc_hook_add(uc, &h, UC_HOOK_INSN, (void *)out_hook, outs, 1, 0, UC_X86_INS_OUT) != UC_ERR_OK)
		goto out;
	double t0 = now();
	uc_err e = uc_emu_start(uc, base, base + len - 1, 0, 0); /* stop at the HLT */
	t = now() - t0;
	if (e != UC_ERR_OK)
		t = -1;
out:
	uc_close(uc);
	return t;
}

static int read_file(const char *path, uint8_t **buf, size_t *size)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -errno;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	if (n <= 0 || n > (64l << 20)) {
		fclose(f);
		return -EINVAL;
	}
	*buf = malloc((size_t)n);
	if (!*buf || fread(*buf, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(*buf);
		return -EIO;
	}
	fclose(f);
	*size = (size_t)n;
	return 0;
}

/* Boot `elf` on hvsim under the paravisor (as mezz-sim does) and run it to its exit. */
static int run_guest(const char *elf, struct partition_result *res, struct hvsim_stats *st)
{
	const uint64_t mem = 64ull << 20;
	uint8_t *img = NULL;
	size_t size = 0;
	char err[160];
	struct elf_load_info info;
	int rc = read_file(elf, &img, &size);
	if (rc < 0) {
		fprintf(stderr, "hvsim_bench: cannot read %s: %s (build the guests first)\n", elf,
			strerror(-rc));
		return rc;
	}
	rc = elf_load_parse(img, size, mem, &info, err, sizeof(err));
	struct hvsim *sim = NULL;
	struct hvsim_config hc = { .vp_count = 1, .mem_size = mem, .register_page = true };
	if (rc == 0)
		rc = hvsim_create(&hc, &sim);
	if (rc == 0) {
		void *ram = hvsim_gpa_ptr(sim, gpa(0), mem);
		rc = ram ? elf_load_copy(img, size, &info, ram, mem) : -EFAULT;
	}
	if (rc == 0)
		rc = hvsim_vp_setup_long_mode(sim, 0, info.entry);
	free(img);
	if (rc == 0) {
		FILE *devnull = fopen("/dev/null", "w");
		struct vm_config vc = {
			.partition = { .vp_count = 1, .ram = { { gpa(0), mem } }, .ram_count = 1,
				       .timeout_ms = 60000 },
			.test_devices = true,
			.serial_out = devnull,
		};
		struct vm_report rep;
		hvsim_set_current(sim);
		rc = vm_run(&vc, &rep, err, sizeof(err));
		hvsim_set_current(NULL);
		if (devnull)
			fclose(devnull);
		hvsim_get_stats(sim, st);
		*res = rep.result;
		if (rc == 0 && vm_exit_status(&rep) != VM_EXIT_PASS) {
			fprintf(stderr, "hvsim_bench: %s did not pass: %s\n", elf, res->message);
			rc = -EIO;
		}
	}
	hvsim_destroy(sim);
	return rc;
}

int main(void)
{
	const char *o = getenv("O");
	char path[512];
	int failed = 0;
	if (!o || !*o)
		o = "build";

	/* compute */
	const uint64_t insns = GUEST_BENCH_COMPUTE_LOOPS * GUEST_BENCH_COMPUTE_INSNS_PER_LOOP;
	double raw = raw_unicorn(compute_code, sizeof(compute_code), GUEST_BENCH_COMPUTE_LOOPS,
				 false, NULL);
	struct partition_result res;
	struct hvsim_stats st;
	snprintf(path, sizeof(path), "%s/guests/bench_compute.elf", o);
	if (raw > 0 && run_guest(path, &res, &st) == 0) {
		double raw_rate = (double)insns / raw, sim_rate = (double)insns / res.wall_seconds;
		printf("compute: hvsim+paravisor %.0f M guest insns/s (%.3f s for %" PRIu64
		       " M insns incl. boot; block hook %s)\n", sim_rate / 1e6, res.wall_seconds,
		       insns / 1000000, st.insns_counted ? "on every block" : "gated");
		printf("compute: raw unicorn, no hooks %.0f M insns/s (%.3f s)\n", raw_rate / 1e6, raw);
		printf("compute: ratio hvsim / raw unicorn = %.2f\n", sim_rate / raw_rate);
	} else {
		printf("compute: FAILED\n");
		failed = 1;
	}

	/* exits */
	uint64_t outs = 0;
	raw = raw_unicorn(exits_code, sizeof(exits_code), GUEST_BENCH_EXIT_OUTS, true, &outs);
	snprintf(path, sizeof(path), "%s/guests/bench_exits.elf", o);
	if (raw > 0 && outs == GUEST_BENCH_EXIT_OUTS && run_guest(path, &res, &st) == 0) {
		uint64_t exits = res.exits[PARTITION_EXIT_IO];
		double sim_rate = (double)exits / res.wall_seconds, raw_rate = (double)outs / raw;
		printf("exits: hvsim+paravisor %.0f k intercept round trips/s (%" PRIu64 " I/O exits in "
		       "%.3f s; %.2f us each)\n", sim_rate / 1e3, exits, res.wall_seconds,
		       1e6 / sim_rate);
		printf("exits: raw unicorn OUT hook %.0f k/s (%" PRIu64 " in %.3f s)\n",
		       raw_rate / 1e3, outs, raw);
		printf("exits: ratio hvsim / raw unicorn = %.4f\n", sim_rate / raw_rate);
	} else {
		printf("exits: FAILED\n");
		failed = 1;
	}
	return failed;
}
