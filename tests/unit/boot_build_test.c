/*
 * boot_build_test: what the shim builds, end to end through shim_boot_prepare on the fixture:
 * the heap layout, boot_params (setup header copy, loader fields, command line, ramdisk,
 * E820, the SETUP_DTB setup_data entry), the identity page tables (walked), the output device
 * tree (every documented node and property, and `dtc -I dtb -O dts` accepts it), the log
 * lines; plus the stage errors that only show up while building (heap too small, E820 and
 * page-table limits).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "boot/shim_e820.h"
#include "boot/shim_pt.h"
#include "tests/unit/boot_fixture.h"

static const struct x86_boot_params *bp_of(struct bf *f)
{
	return bf_heap_at(f, f->boot.boot_params_gpa);
}

static const void *dtb_of(struct bf *f)
{
	return bf_heap_at(f, f->boot.dtb_gpa);
}

static void test_prepare_boot_params(void **state)
{
	(void)state;
	struct bf *f = bf_new();
	if (bf_prepare(f))
		fail_msg("prepare: %s", f->err);
	struct shim_boot *b = &f->boot;
	const struct x86_boot_params *bp = bp_of(f);
	assert_int_equal(b->entry, BF_KERNEL + 0x200);
	assert_int_equal(b->boot_params_gpa, BF_HEAP);
	/* Setup header copied from the kernel, then the loader's fields. */
	assert_int_equal(bp->hdr.boot_flag, 0xAA55);
	assert_int_equal(bp->hdr.header, SHIM_BP_HDR_MAGIC);
	assert_int_equal(bp->hdr.version, 0x020F);
	assert_int_equal(bp->hdr.init_size, 0x300000);
	assert_int_equal(bp->hdr.type_of_loader, 0xFF);
	assert_int_equal(bp->hdr.hardware_subarch, 0);
	assert_int_equal(bp->sentinel, 0);
	const uint8_t *raw = (const uint8_t *)bp;
	for (size_t i = 0; i < SHIM_BP_HDR_OFF; i++)
		assert_int_equal(raw[i] && i != 0x1E8 && (i < 0xC0 || i >= 0xCC), 0);
	/* Command line: static + host parameter. */
	uint64_t cl = bp->hdr.cmd_line_ptr | (uint64_t)bp->ext_cmd_line_ptr << 32;
	assert_int_equal(cl, b->cmdline_gpa);
	assert_true(cl > BF_HEAP && cl < BF_HEAP + BF_HEAP_SIZE);
	assert_string_equal((const char *)bf_heap_at(f, cl), BF_STATIC_CMDLINE " host_param=1");
	/* Ramdisk. */
	assert_int_equal(bp->hdr.ramdisk_image, BF_INITRD);
	assert_int_equal(bp->hdr.ramdisk_size, BF_INITRD_SIZE);
	assert_int_equal(bp->ext_ramdisk_image, 0);
	assert_int_equal(bp->ext_ramdisk_size, 0);
	/* setup_data: one SETUP_DTB entry holding the DTB. */
	assert_int_equal(bp->hdr.setup_data, b->setup_data_gpa);
	const struct x86_boot_setup_data *sd = bf_heap_at(f, bp->hdr.setup_data);
	assert_int_equal(sd->next, 0);
	assert_int_equal(sd->type, SHIM_BP_SETUP_DTB);
	assert_int_equal(sd->len, fdt_totalsize(dtb_of(f)));
	assert_int_equal(b->dtb_gpa, b->setup_data_gpa + 16);
	assert_int_equal(fdt_check_full(dtb_of(f), sd->len), 0);

	/* E820: VTL2 RAM type 1 except the shim's ranges (type 2); nothing else. */
	assert_int_equal(bp->e820_entries, 4);
	static const struct { uint64_t a, s; uint32_t t; } want[] = {
		{ BF_VTL2, BF_HEAP + BF_HEAP_SIZE - BF_VTL2, 2 }, /* loader block, areas, log, heap */
		{ BF_HEAP + BF_HEAP_SIZE, BF_SHIM - BF_HEAP - BF_HEAP_SIZE, 1 }, /* + setup bytes */
		{ BF_SHIM, BF_SHIM_SIZE, 2 },
		{ BF_SHIM + BF_SHIM_SIZE, BF_VTL2 + BF_VTL2_SIZE - BF_SHIM - BF_SHIM_SIZE, 1 },
	};
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(bp->e820_table[i].addr, want[i].a);
		assert_int_equal(bp->e820_table[i].size, want[i].s);
		assert_int_equal(bp->e820_table[i].type, want[i].t);
	}
	assert_int_equal(b->e820.n, 4);
	free(f);
}

static void test_page_tables(void **state)
{
	(void)state;
	struct bf *f = bf_new();
	/* Extra VTL2 RAM in another GiB and one straddling a GiB boundary. */
	bf_mm_entry(f->mm, 3, 0x3FF00000, 0x200000, 3);
	bf_mm_entry(f->mm, 4, 0x80000000, 0x1000, 3);
	bf_mm_entry(f->mm, 5, 0xFEC00000, 0x1000, 1);
	memset(f->dt, 0, sizeof(f->dt));
	memset(f->vp, 0, 4);
	if (bf_prepare(f))
		fail_msg("prepare: %s", f->err);
	/* PML4 + PDPT + PDs for GiB 0 and 2 (the 0x10000000 and 0x3FF00000 ranges share GiB 0),
	   GiB 1 (0x40000000..) */
	assert_int_equal(f->boot.pt_pages, 5);
	assert_int_equal(f->boot.cr3, f->boot.pt_gpa);
	assert_int_equal(f->boot.cr3 & 0xFFF, 0);
	uint64_t probe[] = { BF_VTL2, BF_HEAP + 0x123, BF_KERNEL + 0x200, BF_INITRD + 5,
			     BF_VTL2 + BF_VTL2_SIZE - 1, 0x3FF00000, 0x400FFFFF, 0x80000FFF,
			     f->boot.boot_params_gpa, f->boot.cmdline_gpa, f->boot.dtb_gpa };
	for (unsigned i = 0; i < sizeof(probe) / sizeof(probe[0]); i++)
		assert_int_equal(bf_walk(f, probe[i], true), probe[i]);
	/* VTL0 memory away from VTL2 RAM is not mapped. */
	assert_int_equal(bf_walk(f, 0, true), ~0ull);
	assert_int_equal(bf_walk(f, 0x20000000, true), ~0ull);
	assert_int_equal(bf_walk(f, 0xFEC00000, true), ~0ull);
	assert_int_equal(bf_walk(f, 0x100000000ull, true), ~0ull);
	/* E820 lists the extra VTL2 RAM as type 1 and never the MMIO page. */
	for (unsigned i = 0; i < f->boot.e820.n; i++)
		assert_true(f->boot.e820.e[i].addr != 0xFEC00000);
	assert_int_equal(f->boot.e820.e[f->boot.e820.n - 1].addr, 0x80000000);
	free(f);
}

static const void *getprop(const void *fdt, const char *path, const char *name, int *len)
{
	int node = fdt_path_offset(fdt, path);
	if (node < 0)
		fail_msg("no node %s", path);
	const void *p = fdt_getprop(fdt, node, name, len);
	if (!p)
		fail_msg("no property %s %s", path, name);
	return p;
}

static uint32_t prop_u32(const void *fdt, const char *path, const char *name)
{
	int len;
	const fdt32_t *p = getprop(fdt, path, name, &len);
	assert_int_equal(len, 4);
	return fdt32_to_cpu(*p);
}

/* The property's (base, size) pairs equal `want` (n pairs). */
static void check_ranges(const void *fdt, const char *path, const char *name,
			 const uint64_t *want, int n)
{
	int len;
	const uint8_t *p = getprop(fdt, path, name, &len);
	assert_int_equal(len, n * 16);
	for (int i = 0; i < n * 2; i++) {
		fdt64_t v;
		memcpy(&v, p + i * 8, 8);
		assert_int_equal(fdt64_to_cpu(v), want[i]);
	}
}

static void test_output_dt(void **state)
{
	(void)state;
	struct bf *f = bf_new();
	if (bf_prepare(f))
		fail_msg("prepare: %s", f->err);
	const void *dt = dtb_of(f);
	int len;
	assert_string_equal(getprop(dt, "/", "compatible", &len), "mezzanine,vtl2");
	assert_int_equal(prop_u32(dt, "/", "#address-cells"), 2);
	assert_int_equal(prop_u32(dt, "/", "#size-cells"), 2);
	assert_string_equal(getprop(dt, "/chosen", "bootargs", &len),
			    BF_STATIC_CMDLINE " host_param=1");
	uint64_t ird[] = { BF_INITRD, BF_INITRD + BF_INITRD_SIZE };
	int l0, l1;
	const uint8_t *s = getprop(dt, "/chosen", "linux,initrd-start", &l0);
	const uint8_t *e = getprop(dt, "/chosen", "linux,initrd-end", &l1);
	assert_int_equal(l0, 8);
	assert_int_equal(l1, 8);
	fdt64_t v;
	memcpy(&v, s, 8);
	assert_int_equal(fdt64_to_cpu(v), ird[0]);
	memcpy(&v, e, 8);
	assert_int_equal(fdt64_to_cpu(v), ird[1]);
	assert_int_equal(prop_u32(dt, "/cpus", "#address-cells"), 1);
	assert_int_equal(prop_u32(dt, "/cpus", "#size-cells"), 0);
	assert_int_equal(prop_u32(dt, "/cpus/cpu@1", "reg"), 1);
	assert_string_equal(getprop(dt, "/cpus/cpu@0", "device_type", &len), "cpu");
	assert_string_equal(getprop(dt, "/memory@10000000", "device_type", &len), "memory");
	uint64_t ram[] = { BF_VTL2, BF_VTL2_SIZE };
	check_ranges(dt, "/memory@10000000", "reg", ram, 1);
	assert_string_equal(getprop(dt, "/mezzanine", "compatible", &len), "mezzanine,paravisor");
	assert_string_equal(getprop(dt, "/mezzanine", "isolation", &len), "none");
	assert_int_equal(prop_u32(dt, "/mezzanine", "vp-count"), 2);
	uint64_t vtl0[] = { 0, BF_VTL2, BF_VTL2 + BF_VTL2_SIZE, 0x20000000 - BF_VTL2 - BF_VTL2_SIZE };
	check_ranges(dt, "/mezzanine", "vtl0-memory", vtl0, 2);
	check_ranges(dt, "/mezzanine", "vtl2-memory", ram, 1);
	uint64_t rsv[] = { BF_VTL2, BF_HEAP + BF_HEAP_SIZE - BF_VTL2, BF_SHIM, BF_SHIM_SIZE };
	check_ranges(dt, "/mezzanine", "vtl2-reserved", rsv, 2);
	uint64_t fre[] = { BF_INITRD + BF_INITRD_SIZE,
			   BF_VTL2 + BF_VTL2_SIZE - BF_INITRD - BF_INITRD_SIZE };
	check_ranges(dt, "/mezzanine", "vtl2-free", fre, 1);
	uint64_t log[] = { BF_LOG, BF_LOG_SIZE };
	check_ranges(dt, "/mezzanine", "log", log, 1);
	assert_string_equal(getprop(dt, "/mezzanine/vmbus", "compatible", &len), "microsoft,vmbus");
	assert_int_equal(prop_u32(dt, "/mezzanine/vmbus", "microsoft,message-connection-id"), 4);
	assert_int_equal(prop_u32(dt, "/mezzanine/vmbus", "microsoft,vtl"), 2);

	/* dtc decompiles it. */
	if (system("command -v dtc >/dev/null 2>&1") != 0) {
		print_message("dtc not installed: decompile check skipped\n");
	} else {
		char path[] = "/tmp/boot_build_test_XXXXXX";
		int fd = mkstemp(path);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, dt, fdt_totalsize(dt)), (ssize_t)fdt_totalsize(dt));
		close(fd);
		char cmd[640], out[256];
		snprintf(out, sizeof(out), "%s.dts", path);
		snprintf(cmd, sizeof(cmd), "dtc -q -I dtb -O dts -o %s %s", out, path);
		int rc = system(cmd);
		FILE *fp = fopen(out, "r");
		char text[8192] = "";
		size_t n = fp ? fread(text, 1, sizeof(text) - 1, fp) : 0;
		text[n] = '\0';
		if (fp)
			fclose(fp);
		unlink(path);
		unlink(out);
		assert_int_equal(rc, 0);
		assert_non_null(strstr(text, "compatible = \"mezzanine,paravisor\";"));
		assert_non_null(strstr(text, "vp-count = <0x02>;"));
		assert_non_null(strstr(text, "cpu@1 {"));
	}
	free(f);
}

static void test_isolated(void **state)
{
	(void)state;
	struct bf *f = bf_new();
	f->p.isolation = MEZZ_ISOLATION_SNP;
	f->p.initrd.size = 0;
	if (bf_prepare(f))
		fail_msg("prepare: %s", f->err);
	const void *dt = dtb_of(f);
	int len;
	/* The host's command line is ignored when isolated. */
	assert_string_equal(getprop(dt, "/chosen", "bootargs", &len), BF_STATIC_CMDLINE);
	assert_string_equal(getprop(dt, "/mezzanine", "isolation", &len), "snp");
	assert_null(fdt_getprop(dt, fdt_path_offset(dt, "/chosen"), "linux,initrd-start", &len));
	assert_int_equal(bp_of(f)->hdr.ramdisk_image, 0);
	assert_int_equal(bp_of(f)->hdr.ramdisk_size, 0);
	/* No host input at all still boots: one VP, no VMBus node, no VTL0 memory. */
	bf_init(f);
	memset(f->dt, 0, sizeof(f->dt));
	memset(f->mm, 0, sizeof(f->mm));
	memset(f->cl, 0, sizeof(f->cl));
	memset(f->vp, 0, sizeof(f->vp));
	if (bf_prepare(f))
		fail_msg("prepare: %s", f->err);
	dt = dtb_of(f);
	assert_int_equal(prop_u32(dt, "/mezzanine", "vp-count"), 1);
	assert_true(fdt_path_offset(dt, "/mezzanine/vmbus") < 0);
	getprop(dt, "/mezzanine", "vtl0-memory", &len);
	assert_int_equal(len, 0);
	assert_string_equal(getprop(dt, "/chosen", "bootargs", &len), BF_STATIC_CMDLINE);
	free(f);
}

static void test_log(void **state)
{
	(void)state;
	struct bf *f = bf_new();
	if (bf_prepare(f))
		fail_msg("prepare: %s", f->err);
	struct shim_log log;
	shim_log_init(&log, f->log, sizeof(f->log), NULL, NULL);
	shim_boot_log_final(&f->boot, &log);
	const char *want[] = {
		"mezz-shim: params ok: isolation none, vtl2 [0x10000000,0x12000000)",
		"mezz-shim: kernel header: protocol 2.15, cmdline_size 2047",
		"mezz-shim: memory map: 4 entries, VTL2 RAM [0x10000000,0x12000000), VTL0 RAM 2 ranges\n",
		"mezz-shim: host: device tree present (2 cpu nodes, 2 memory ranges, vmbus yes), vp "
		"count parameter 2 -> 2 VPs, command line from parameter\n",
		"mezz-shim: command line: 35 bytes at 0x1002b000 (static + host)\n",
		"mezz-shim: page tables: 3 pages at 0x1002c000\n",
		"mezz-shim: e820: 4 entries\n",
		"mezz-shim: jumping to kernel at 0x10200200 boot_params 0x1002a000 e820 "
		"[0x0000000010000000-0x0000000010069fff] 2 [0x000000001006a000-0x00000000100fffff] 1",
		"[0x0000000010120000-0x0000000011ffffff] 1 cmdline \"console=ttyS0 panic=-1 "
		"host_param=1\"\n",
	};
	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!strstr(f->log, want[i]))
			fail_msg("log lacks \"%s\":\n%s", want[i], f->log);
	/* Every line is a stage line. */
	for (const char *l = f->log; *l; l = strchr(l, '\n') + 1)
		assert_int_equal(strncmp(l, "mezz-shim: ", 11), 0);
	/* A full log buffer truncates and stays NUL terminated. */
	char small[16];
	memset(small, 'x', sizeof(small));
	small[0] = '\0';
	shim_log_init(&log, small, sizeof(small), NULL, NULL);
	shim_log_printf(&log, "%s", "0123456789abcdefghij");
	assert_string_equal(small, "0123456789abcde");
	free(f);
}

#define EXPECT_PREP_ERR(f, rc, text)                                                \
	do {                                                                        \
		assert_int_equal(bf_prepare(f), (rc));                              \
		if (!strstr((f)->err, (text)))                                      \
			fail_msg("error \"%s\" lacks \"%s\"", (f)->err, (text));    \
	} while (0)

static void test_build_errors(void **state)
{
	(void)state;
	struct bf *f = bf_new();
	/* Each stage's check reaches the caller. */
	f->p.magic = 0;
	EXPECT_PREP_ERR(f, -EINVAL, "params: bad magic 0x0");
	bf_init(f);
	bf_hdr(f)->boot_flag = 0;
	EXPECT_PREP_ERR(f, -EINVAL, "kernel header: boot_flag 0x0");
	bf_init(f);
	bf_mm_entry(f->mm, 2, 0, 0x1000, 0);
	EXPECT_PREP_ERR(f, -EINVAL, "memory map: entry 2");
	/* Host command line too long for the kernel's cmdline_size. */
	bf_init(f);
	bf_hdr(f)->cmdline_size = 30;
	EXPECT_PREP_ERR(f, -E2BIG, "command line: 35 bytes exceed the kernel's cmdline_size 30");
	/* 1024 VPs do not fit a 64 KiB heap's device tree. */
	bf_init(f);
	f->p.heap.size = 0x10000;
	f->p.kernel_setup.gpa = BF_HEAP + 0x10000; /* keep the ranges disjoint */
	memset(f->vp, 0, 4);
	assert_int_equal(bf_dt(f->dt, sizeof(f->dt), 1024), 0);
	EXPECT_PREP_ERR(f, -ENOSPC, "device tree out: FDT_ERR_NOSPACE");
	/* ... but 1024 VPs fit the default heap. */
	bf_init(f);
	memset(f->vp, 0, 4);
	assert_int_equal(bf_dt(f->dt, sizeof(f->dt), 1024), 0);
	if (bf_prepare(f))
		fail_msg("prepare: %s", f->err);
	assert_int_equal(prop_u32(dtb_of(f), "/mezzanine", "vp-count"), 1024);
	/* Too many VTL2 RAM ranges for the E820 once the reserved ranges are added. */
	bf_init(f);
	memset(f->dt, 0, sizeof(f->dt));
	memset(f->mm, 0, sizeof(f->mm));
	bf_mm_entry(f->mm, 0, BF_VTL2, BF_VTL2_SIZE, 3);
	for (unsigned i = 1; i < 70; i++)
		bf_mm_entry(f->mm, i, 0x20000000 + i * 0x2000ull, 0x1000, 3);
	EXPECT_PREP_ERR(f, -EINVAL, "memory map: more than 64 VTL2 ranges");
	/* Page tables for VTL2 RAM in many GiBs overflow the heap. */
	bf_init(f);
	memset(f->dt, 0, sizeof(f->dt));
	memset(f->mm, 0, sizeof(f->mm));
	bf_mm_entry(f->mm, 0, BF_VTL2, BF_VTL2_SIZE, 3);
	for (unsigned i = 1; i < 64; i++)
		bf_mm_entry(f->mm, i, i * (4ull << 30), 0x1000, 3);
	f->p.heap.size = 0x10000;
	f->p.kernel_setup.gpa = BF_HEAP + 0x10000;
	EXPECT_PREP_ERR(f, -ENOSPC, "heap: no room for 66 page-table pages");
	free(f);
}

static void test_e820_unit(void **state)
{
	(void)state;
	struct shim_rangeset ram, rsv;
	struct shim_e820 e;
	char err[SHIM_ERR_LEN];
	shim_range_init(&ram);
	shim_range_init(&rsv);
	assert_int_equal(shim_range_add(&ram, 0x100000, 0x100000), 0);
	assert_int_equal(shim_range_add(&ram, 0x400000, 0x100000), 0);
	assert_int_equal(shim_range_add(&rsv, 0x100000, 0x1000), 0);
	assert_int_equal(shim_range_add(&rsv, 0x480000, 0x80000), 0);
	assert_int_equal(shim_e820_build(&ram, &rsv, &e, err, sizeof(err)), 0);
	assert_int_equal(e.n, 4);
	assert_int_equal(e.e[0].type, 2);
	assert_int_equal(e.e[1].addr, 0x101000);
	assert_int_equal(e.e[1].type, 1);
	assert_int_equal(e.e[2].addr, 0x400000);
	assert_int_equal(e.e[2].size, 0x80000);
	assert_int_equal(e.e[3].type, 2);
	/* Splitting RAM past the range set's capacity is a named error. */
	shim_range_init(&ram);
	shim_range_init(&rsv);
	assert_int_equal(shim_range_add(&ram, 0, 0x10000000), 0);
	for (unsigned i = 0; i < SHIM_RANGE_MAX; i++)
		assert_int_equal(shim_range_add(&rsv, 0x1000 + i * 0x2000ull, 0x1000), 0);
	assert_int_equal(shim_e820_build(&ram, &rsv, &e, err, sizeof(err)), -ENOSPC);
	assert_string_equal(err, "e820: more than 64 RAM ranges");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prepare_boot_params),
		cmocka_unit_test(test_page_tables),
		cmocka_unit_test(test_output_dt),
		cmocka_unit_test(test_isolated),
		cmocka_unit_test(test_log),
		cmocka_unit_test(test_build_errors),
		cmocka_unit_test(test_e820_unit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
