/*
 * hvsim guest fuzz target: hostile VTL0 code. The input's first bytes choose intercepts, the
 * rest is machine code run at 1 MiB in long mode (the guest may rewrite its own page tables,
 * IDT and GDT). A minimal paravisor completes every exit by skipping the instruction. hvsim
 * must never crash or abort; a watchdog cancels guests that loop.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hvcall/hv.h"
#include "tools/hvsim/hvsim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int __lsan_is_turned_off(void);

/*
 * unicorn keeps translation caches that LeakSanitizer would rescan after every input (that
 * scan dominated the run time); hvsim's own allocations are leak-checked by the unit tests.
 */
int __lsan_is_turned_off(void)
{
	return 1;
}

static struct hvsim *fz_sim;
static atomic_long fz_deadline_ms; /* 0 = not running */

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *watchdog(void *arg)
{
	(void)arg;
	for (;;) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
		long d = atomic_load(&fz_deadline_ms);
		if (d && now_ms() > d)
			hvsim_vp_cancel(fz_sim, 0);
	}
	return NULL;
}

static void install(uint32_t type, uint32_t access, uint64_t param)
{
	uint8_t in[24] = { 0 };
	uint64_t self = HV_PARTITION_ID_SELF, result;
	memcpy(in, &self, 8);
	memcpy(in + 8, &access, 4);
	memcpy(in + 12, &type, 4);
	memcpy(in + 16, &param, 8);
	hvsim_hvcall(fz_sim, 0, 0x4D, in, sizeof(in), NULL, 0, &result);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!fz_sim) {
		struct hvsim_config cfg = { .vp_count = 1, .mem_size = 2u << 20 };
		if (hvsim_create(&cfg, &fz_sim))
			abort();
		pthread_t t;
		if (pthread_create(&t, NULL, watchdog, NULL))
			abort();
		install(0, 3, 0xF4);
		install(1, 3, 0);
		install(2, 1, 0x40000000);
		install(3, 1, 6);
	}
	if (size < 1 || size > 512)
		return 0;
	uint8_t *ram = hvsim_gpa_ptr(fz_sim, gpa(0), 2u << 20);
	memset(ram + 0x100000, 0xF4, 0x1000);  /* code page: input then HLTs */
	memcpy(ram + 0x100000, data, size);
	if (hvsim_vp_setup_long_mode(fz_sim, 0, 0x100000))
		abort();
	uint8_t *run = hvsim_vp_run_page(fz_sim, 0);
	memset(run, 0, 4);
	atomic_store(&fz_deadline_ms, now_ms() + 3);
	for (int exits = 0; exits < 16; exits++) {
		int rc = hvsim_vp_run(fz_sim, 0);
		if (rc == -EINTR)
			break;
		if (rc != 0)
			abort();
		uint32_t type;
		memcpy(&type, run + 16, 4);
		if (type == 0x80000021u || type == 0x80010003u || type == 0x80010007u)
			break;
		/* Complete by skipping the instruction (header instruction length). */
		uint64_t rip;
		memcpy(&rip, run + 16 + 16 + 24, 8);
		unsigned len = run[16 + 16 + 4] & 0xF;
		union hv_register_value v = { .bytes = { 0 } };
		v.low = rip + (len ? len : 1);
		hvsim_vp_set_register(fz_sim, 0, 0x20010, &v);
	}
	atomic_store(&fz_deadline_ms, 0);
	return 0;
}
