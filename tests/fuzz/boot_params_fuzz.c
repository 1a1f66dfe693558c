/*
 * Fuzz target: the shim's whole preparation (boot/shim_boot.c and everything under it) with a
 * fixed valid params page and kernel header (tests/unit/boot_fixture.h) and hostile parameter
 * areas from the input:
 *   0..1  memory map length (u16 LE, capped at the area)
 *   2..3  command line length (u16 LE, capped at the area)
 *   4..7  VP count area's u32
 *   8     bit 0 cmdline policy APPEND_HOST, bits 1-2 isolation, bit 3 no initrd,
 *         bit 4 also parse the DT alone with its area sized exactly to the input's bytes
 *         (not a page multiple: the params page would refuse it) and an empty memory map
 *   9..15 ignored
 *   then the memory map bytes, the command line bytes, and the rest: the device tree area.
 * Areas are zero past the input's bytes. A refusal must come with a message; an accepted
 * input must give a well-formed result: a valid DTB, a sorted disjoint E820 inside VTL2 RAM,
 * a printable command line within cmdline_size, identity tables mapping what the kernel needs.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/shim_pt.h"

#include "tests/unit/boot_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HDR 16

static struct bf *fx;

static void need(int cond)
{
	if (!cond)
		abort();
}

static void check_ok(void)
{
	const struct shim_boot *b = &fx->boot;
	const struct x86_boot_params *bp = bf_heap_at(fx, b->boot_params_gpa);
	const void *dtb = bf_heap_at(fx, b->dtb_gpa);
	need(b->dtb_gpa + b->dtb_len <= BF_HEAP + BF_HEAP_SIZE);
	need(fdt_check_full(dtb, b->dtb_len) == 0);
	need(bp->hdr.setup_data == b->setup_data_gpa);
	need(bp->hdr.type_of_loader == 0xFF);
	need(b->cmdline_len <= bp->hdr.cmdline_size);
	need(strlen(b->cmdline) == b->cmdline_len);
	for (size_t i = 0; i < b->cmdline_len; i++)
		need(b->cmdline[i] >= 0x20 && b->cmdline[i] <= 0x7E);
	need(bp->e820_entries == b->e820.n && b->e820.n > 0);
	for (unsigned i = 0; i < b->e820.n; i++) {
		const struct x86_boot_e820_entry *e = &bp->e820_table[i];
		need(e->size && (e->type == 1 || e->type == 2));
		need(i == 0 || e->addr >= bp->e820_table[i - 1].addr + bp->e820_table[i - 1].size);
		need(e->type == 2 || shim_range_covers(&b->host.vtl2_ram, e->addr, e->size));
		need(!shim_range_touches(&b->host.vtl0_ram, e->addr, e->size));
	}
	need(b->host.vp_count >= 1 && b->host.vp_count <= MEZZ_SHIM_MAX_VPS);
	uint64_t probe[] = { BF_VTL2, BF_KERNEL + 0x200, b->boot_params_gpa, b->cmdline_gpa,
			     b->dtb_gpa, BF_VTL2 + BF_VTL2_SIZE - 1 };
	for (unsigned i = 0; i < sizeof(probe) / sizeof(probe[0]); i++)
		need(bf_walk(fx, probe[i], false) == probe[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < HDR)
		return 0;
	if (!fx)
		fx = bf_new();
	bf_init(fx);
	size_t mm_len = (size_t)(data[0] | data[1] << 8);
	size_t cl_len = (size_t)(data[2] | data[3] << 8);
	uint8_t flags = data[8];
	const uint8_t *p = data + HDR;
	size_t left = size - HDR;
	if (mm_len > left)
		mm_len = left;
	if (mm_len > BF_MM_SIZE)
		mm_len = BF_MM_SIZE;
	memset(fx->mm, 0, sizeof(fx->mm));
	memcpy(fx->mm, p, mm_len);
	p += mm_len;
	left -= mm_len;
	if (cl_len > left)
		cl_len = left;
	if (cl_len > BF_CL_SIZE)
		cl_len = BF_CL_SIZE;
	memset(fx->cl, 0, sizeof(fx->cl));
	memcpy(fx->cl, p, cl_len);
	p += cl_len;
	left -= cl_len;
	memset(fx->vp, 0, sizeof(fx->vp));
	memcpy(fx->vp, data + 4, 4);
	size_t dt_len = left > BF_DT_SIZE ? BF_DT_SIZE : left;
	memset(fx->dt, 0, sizeof(fx->dt));
	memcpy(fx->dt, p, dt_len);
	fx->p.cmdline_policy = flags & 1;
	fx->p.isolation = (flags >> 1) & 3;
	if (flags & 8)
		fx->p.initrd.size = 0;

	if (flags & 16) {
		static struct shim_memmap empty;
		static struct shim_hostdt dt;
		char err[SHIM_ERR_LEN] = "";
		int drc = shim_hostdt_parse(fx->dt, dt_len, &empty, &dt, err, sizeof(err));
		need(drc == 0 || (drc == -EINVAL && err[0]));
		need(drc || dt.cpu_count <= MEZZ_SHIM_MAX_VPS);
	}

	int rc = bf_prepare(fx);
	need(memchr(fx->log, '\0', sizeof(fx->log)) != NULL);
	/* BOOT_FUZZ_VERBOSE=1: say what happened to each input (checking the seeds). */
	if (getenv("BOOT_FUZZ_VERBOSE"))
		fprintf(stderr, "boot_params_fuzz: %s\n", rc ? fx->err : "accepted");
	if (rc) {
		need(rc < 0 && fx->err[0] != '\0' && memchr(fx->err, '\0', sizeof(fx->err)));
		return 0;
	}
	check_ok();
	return 0;
}
