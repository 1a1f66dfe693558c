/*
 * vtl2 exit dispatch fuzz target: the paravisor core (vtl2/partition.c, vtl2/vp.c, the emulator,
 * the bus and the whole chipset with the test devices) over the scripted fake seam
 * (tests/unit/fake_kif.h), fed hostile intercept messages.
 *
 * Input: N = size / 256 (at most MAX_MSGS) raw 256-byte messages for VP 0 (any type, payload
 * size and fields), then a tail of size % 256 bytes that picks the CPU mode (tail[0]), seeds the
 * VP's GPRs and is repeated over the first 64 KiB of VTL0 RAM (data, and page tables in the
 * hostile-tables mode). When the script is drained the VP's idle hook calls partition_stop.
 *
 * Checks: no crash, leak or UB (ASan/UBSan); partition_run succeeds; the run never ends in
 * PARTITION_ERROR (everything here is VTL0's doing, which the paravisor must answer
 * architecturally, and the storm guard needs more messages than an input holds); a stop on
 * request means every message was consumed; every mapping is returned at destroy.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/x86_pagewalk.h"
#include "devices/chipset.h"
#include "hvcall/hv.h"
#include "hvcall/mshv_abi.h"
#include "tests/unit/fake_kif.h"
#include "vtl2/partition.h"
#include "vtl2/vclock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MSGS 64u
#define RAM_SIZE 0x100000ull
#define FILL_SIZE 0x10000ull
#define VTL2_BASE 0xF0000ull
#define VTL2_SIZE 0x10000ull
#define PML4_GPA 0x20000ull
#define PDPT_GPA 0x21000ull

static FILE *sink;

static void stop_when_idle(void *ctx, uint32_t vp)
{
	(void)vp;
	partition_stop(ctx);
}

static void set_seg(uint32_t name, uint16_t sel, uint16_t attr)
{
	union hv_register_value v;
	memset(&v, 0, sizeof(v));
	v.segment = (struct hv_x64_segment_register){ 0, 0xFFFFFFFF, sel, attr };
	fake_kif_set_reg_value(0, name, &v);
}

/* VTL0's paging state: the message header says what mode it claims, these registers are what
   the emulator walks with (they may disagree, as a hostile VTL0 and a buggy host could). */
static void set_mode(unsigned mode)
{
	uint64_t cr0 = X86_CR0_PE | 0x10, cr3 = 0, cr4 = 0, efer = 0;
	uint16_t cs = 0xC09B;
	switch (mode & 3) {
	case 0: /* 32-bit protected mode, paging off */
		break;
	case 1: /* long mode, identity 1 GiB pages over 4 GiB */
	case 2: /* long mode, page tables are whatever the tail put at 0 */
		cr0 |= X86_CR0_PG;
		cr3 = (mode & 3) == 1 ? PML4_GPA : 0;
		cr4 = X86_CR4_PAE;
		efer = X86_EFER_LME | X86_EFER_LMA;
		cs = 0xA09B;
		if ((mode & 3) == 1) {
			uint64_t *pml4 = fake_kif_ram(PML4_GPA, 4096);
			uint64_t *pdpt = fake_kif_ram(PDPT_GPA, 4096);
			if (!pml4 || !pdpt)
				abort();
			memset(pml4, 0, 4096);
			memset(pdpt, 0, 4096);
			pml4[0] = PDPT_GPA | 0x3;
			for (uint64_t i = 0; i < 4; i++)
				pdpt[i] = (i << 30) | 0x83;
		}
		break;
	case 3: /* real mode */
		cr0 = 0x10;
		cs = 0x009B;
		break;
	}
	if (mode & 4)
		cr4 |= X86_CR4_SMEP | X86_CR4_SMAP;
	fake_kif_set_reg(0, HV_X64_REGISTER_CR0, cr0);
	fake_kif_set_reg(0, HV_X64_REGISTER_CR3, cr3);
	fake_kif_set_reg(0, HV_X64_REGISTER_CR4, cr4);
	fake_kif_set_reg(0, HV_X64_REGISTER_EFER, efer);
	fake_kif_set_reg(0, HV_X64_REGISTER_RFLAGS, (mode & 8) ? 0x40202 : 0x2);
	set_seg(HV_X64_REGISTER_CS, 0x08, cs);
	static const uint32_t data_segs[] = { HV_X64_REGISTER_DS, HV_X64_REGISTER_ES,
					      HV_X64_REGISTER_SS, HV_X64_REGISTER_FS,
					      HV_X64_REGISTER_GS };
	for (unsigned i = 0; i < 5; i++)
		set_seg(data_segs[i], 0x10, (mode & 3) == 3 ? 0x0093 : 0xC093);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!sink) {
		sink = fopen("/dev/null", "w"); /* the core's warnings: VTL0 triggers them at will */
		if (!sink)
			abort();
	}
	size_t nmsg = size / MSHV_ABI_MSG_SIZE;
	if (nmsg > MAX_MSGS)
		nmsg = MAX_MSGS;
	const uint8_t *tail = data + nmsg * MSHV_ABI_MSG_SIZE;
	size_t tail_len = size - nmsg * MSHV_ABI_MSG_SIZE;

	fake_kif_reset(1);
	struct partition_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.vp_count = 1;
	cfg.ram[0] = (struct partition_mem){ gpa(0), RAM_SIZE };
	cfg.ram_count = 1;
	cfg.vtl2_mem[0] = (struct partition_mem){ gpa(VTL2_BASE), VTL2_SIZE };
	cfg.vtl2_mem_count = 1;
	cfg.log = sink;
	struct partition *p = NULL;
	char err[256];
	if (partition_create(&cfg, &p, err, sizeof(err)) != 0)
		abort();

	/* Device timers run on a manual clock: fired after the run, deterministically. */
	struct vclock *clock = NULL;
	if (vclock_create(true, &clock) != 0)
		abort();
	struct devctx dc = *partition_devctx(p);
	dc.clock = clock;
	dc.log = sink;
	const struct chipset_config cc = { .test_devices = true };
	struct chipset *cs = NULL;
	if (chipset_create(partition_bus(p), &dc, &cc, &cs, err, sizeof(err)) != 0)
		abort();
	partition_set_eoi(p, chipset_eoi(cs));

	/* VTL0 RAM and registers from the tail. */
	if (tail_len) {
		uint8_t *ram = fake_kif_ram(0, FILL_SIZE);
		if (!ram)
			abort();
		for (size_t off = 0; off < FILL_SIZE; off += tail_len)
			memcpy(ram + off, tail, FILL_SIZE - off < tail_len ? FILL_SIZE - off : tail_len);
	}
	set_mode(tail_len ? tail[0] : 0);
	struct mshv_abi_cpu_context ctx;
	memset(&ctx, 0, sizeof(ctx));
	if (tail_len > 1)
		memcpy(&ctx, tail + 1, tail_len - 1 < 128 ? tail_len - 1 : 128);
	for (size_t i = 0; i < nmsg; i++)
		fake_kif_push_raw(0, data + i * MSHV_ABI_MSG_SIZE, i == 0 ? &ctx : NULL, 1);

	fake_kif_set_idle_hook(stop_when_idle, p);
	struct partition_result res;
	if (partition_run(p, &res) != 0)
		abort();
	if (res.outcome == PARTITION_ERROR || res.outcome == PARTITION_TIMEOUT) {
		fprintf(stderr, "vtl2_dispatch_fuzz: %s: %s\n", partition_outcome_name(res.outcome),
			res.message);
		abort();
	}
	if (res.outcome == PARTITION_STOPPED && fake_kif_consumed(0) != nmsg)
		abort();
	if (getenv("VTL2_DISPATCH_FUZZ_VERBOSE")) { /* to check what a seed exercises */
		fprintf(stderr, "%zu msgs: %s (%s) injected %llu unclaimed %llu exits", nmsg,
			partition_outcome_name(res.outcome), res.message,
			(unsigned long long)res.injected, (unsigned long long)res.unclaimed);
		for (unsigned k = 0; k < PARTITION_EXIT_KIND_COUNT; k++)
			if (res.exits[k])
				fprintf(stderr, " %s=%llu", partition_exit_name(k),
					(unsigned long long)res.exits[k]);
		fputc('\n', stderr);
	}
	/* Timers the devices armed fire now, into a partition that is no longer running. */
	vclock_advance(clock, 10000000ull);

	chipset_destroy(cs);    /* first: devices cancel their timers on a live clock */
	partition_destroy(p);
	vclock_destroy(clock);
	if (fake_kif_is_open() || fake_kif_maps() != 0)
		abort();
	return 0;
}
