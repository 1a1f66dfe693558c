/*
 * boot_host_test: the shim's parsing of the host's (hostile) parameter areas: the memory map
 * (order, overlap, overflow, bounds, types, the VTL2 region's coverage, the VTL2/VTL0 split),
 * the VP count against the DT's cpu nodes, the command line area, the device tree (header,
 * totalsize, structure, cpus, memory nodes vs the map, bootargs, VMBus), empty areas, and the
 * range sets they build on.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "boot/shim_host.h"
#include "tests/unit/boot_fixture.h"

static struct shim_host host;
static char err[SHIM_ERR_LEN];

static int parse(struct bf *f)
{
	struct shim_host_areas a = bf_areas(f);
	err[0] = '\0';
	return shim_host_parse(&f->p, &a, &host, err, sizeof(err));
}

#define EXPECT_HOST_ERR(f, text)                                            \
	do {                                                                \
		assert_int_equal(parse(f), -EINVAL);                        \
		if (!strstr(err, (text)))                                   \
			fail_msg("error \"%s\" lacks \"%s\"", err, (text)); \
	} while (0)

static void test_valid(void **state)
{
	(void)state;
	struct bf *f = bf_new();
	assert_int_equal(parse(f), 0);
	assert_int_equal(host.map.count, 4);
	assert_int_equal(host.map.e[1].gpa, BF_VTL2);
	assert_int_equal(host.map.e[1].type, SHIM_MEM_VTL2_PROTECTABLE);
	assert_int_equal(host.vtl2_ram.n, 1);
	assert_int_equal(host.vtl2_ram.r[0].gpa, BF_VTL2);
	assert_int_equal(host.vtl2_ram.r[0].size, BF_VTL2_SIZE);
	assert_int_equal(host.vtl0_ram.n, 2);
	assert_int_equal(host.vtl0_ram.r[0].gpa, 0);
	assert_int_equal(host.vtl0_ram.r[0].size, BF_VTL2);
	assert_int_equal(host.vtl0_ram.r[1].gpa, BF_VTL2 + BF_VTL2_SIZE);
	assert_int_equal(host.vp_count, 2);
	assert_int_equal(host.apic_id[1], 1);
	assert_true(host.dt.present);
	assert_int_equal(host.dt.memory_ranges, 2);
	assert_true(host.dt.have_vmbus);
	assert_int_equal(host.dt.vmbus_connection_id, 4);
	assert_int_equal(host.dt.vmbus_vtl, 2);
	assert_string_equal(host.cmdline, "host_param=1");
	assert_string_equal(host.cmdline_source, "parameter");
	assert_string_equal(host.dt.bootargs, "dt_bootargs=1");
	/* No command line parameter: /chosen/bootargs. */
	memset(f->cl, 0, sizeof(f->cl));
	assert_int_equal(parse(f), 0);
	assert_string_equal(host.cmdline, "dt_bootargs=1");
	assert_string_equal(host.cmdline_source, "device tree");
	/* VP count parameter absent: the cpu nodes decide. */
	memset(f->vp, 0, 4);
	assert_int_equal(parse(f), 0);
	assert_int_equal(host.vp_count, 2);
	free(f);
}

static void test_empty_areas(void **state)
{
	(void)state;
	struct bf *f = bf_new();
	memset(f->dt, 0, sizeof(f->dt));
	memset(f->mm, 0, sizeof(f->mm));
	memset(f->cl, 0, sizeof(f->cl));
	memset(f->vp, 0, sizeof(f->vp));
	assert_int_equal(parse(f), 0);
	assert_false(host.dt.present);
	assert_int_equal(host.map.count, 0);
	assert_int_equal(host.vp_count, 1);
	assert_int_equal(host.apic_id[0], 0);
	assert_string_equal(host.cmdline, "");
	assert_string_equal(host.cmdline_source, "none");
	assert_int_equal(host.vtl2_ram.n, 1);
	assert_int_equal(host.vtl2_ram.r[0].gpa, BF_VTL2);
	assert_int_equal(host.vtl0_ram.n, 0);
	/* No DT, a VP count: APIC IDs 0..n-1. */
	uint32_t vps = 4;
	memcpy(f->vp, &vps, 4);
	assert_int_equal(parse(f), 0);
	assert_int_equal(host.vp_count, 4);
	assert_int_equal(host.apic_id[3], 3);
	/* Areas the image did not declare (size 0) are "not given" too. */
	bf_init(f);
	f->p.param_device_tree.size = f->p.param_memory_map.size = 0;
	f->p.param_command_line.size = f->p.param_vp_count.size = 0;
	assert_int_equal(parse(f), 0);
	assert_int_equal(host.vp_count, 1);
	free(f);
}

static void test_memmap_bad(void **state)
{
	(void)state;
	struct bf *f = bf_new();
	/* Unsorted. */
	bf_mm_entry(f->mm, 3, 0x1000, 0x1000, 1);
	EXPECT_HOST_ERR(f, "memory map: entry 3 [0x1000,0x2000) below entry 2 (not sorted)");
	/* Overlap. */
	bf_init(f);
	bf_mm_entry(f->mm, 2, BF_VTL2 + BF_VTL2_SIZE - 0x1000, 0x10000, 0);
	EXPECT_HOST_ERR(f, "memory map: entry 2 [0x11fff000,0x1200f000) overlaps entry 1 "
			   "[0x10000000,0x12000000)");
	/* gpn * 4096 overflow / beyond 52 bits. */
	bf_init(f);
	bf_mm_entry(f->mm, 3, 0, 0, 0);
	uint64_t gpn = 0xFFFFFFFFFFFFFull, pages = 0x10;
	memcpy(f->mm + 3 * 24, &gpn, 8);
	memcpy(f->mm + 3 * 24 + 8, &pages, 8);
	EXPECT_HOST_ERR(f, "memory map: entry 3 (gpn 0xfffffffffffff, 0x10 pages) beyond the 52-bit");
	bf_init(f);
	gpn = 0x100000;
	pages = 0xFFFFFFFFFFFFFFF0ull;
	memcpy(f->mm + 3 * 24, &gpn, 8);
	memcpy(f->mm + 3 * 24 + 8, &pages, 8);
	EXPECT_HOST_ERR(f, "beyond the 52-bit physical address space");
	/* Unknown type, reserved field, a dirty terminator. */
	bf_init(f);
	bf_mm_entry(f->mm, 3, 0xFEC00000, 0x1000, 6);
	EXPECT_HOST_ERR(f, "memory map: entry 3 has unknown type 6");
	bf_init(f);
	f->mm[3 * 24 + 20] = 1;
	EXPECT_HOST_ERR(f, "memory map: entry 3 reserved field 0x1");
	bf_init(f);
	f->mm[4 * 24] = 1;
	EXPECT_HOST_ERR(f, "memory map: entry 4 has 0 pages but other fields set");
	/* No terminator within the area (every slot filled), and too many entries. */
	bf_init(f);
	for (unsigned i = 0; i < BF_MM_SIZE / 24; i++)
		bf_mm_entry(f->mm, i, 0x100000000ull + i * 0x1000ull, 0x1000, 1);
	EXPECT_HOST_ERR(f, "memory map: more than 512 entries");
	f->p.param_memory_map.size = 0x1000;
	EXPECT_HOST_ERR(f, "memory map: no terminator within the 4096-byte area");
	/* The image's VTL2 region must be VTL2_PROTECTABLE or MEMORY. */
	bf_init(f);
	bf_mm_entry(f->mm, 1, BF_VTL2, BF_VTL2_SIZE, 1);
	EXPECT_HOST_ERR(f, "memory map: VTL2 region [0x10000000,0x12000000) not covered by "
			   "VTL2_PROTECTABLE or MEMORY entries");
	bf_init(f);
	bf_mm_entry(f->mm, 1, BF_VTL2, BF_VTL2_SIZE / 2, 3);
	bf_mm_entry(f->mm, 2, BF_VTL2 + BF_VTL2_SIZE / 2, 0x20000000 - BF_VTL2 - BF_VTL2_SIZE / 2, 1);
	EXPECT_HOST_ERR(f, "not covered");
	/* VTL2 RAM past 512 GiB cannot be mapped by the shim. */
	bf_init(f);
	memset(f->dt, 0, sizeof(f->dt));
	bf_mm_entry(f->mm, 3, 0x8000000000ull, 0x1000, 3);
	EXPECT_HOST_ERR(f, "memory map: VTL2 RAM [0x8000000000,0x8000001000) above 512 GiB");
	free(f);
}

static void test_memmap_split(void **state)
{
	(void)state;
	struct bf *f = bf_new();
	memset(f->dt, 0, sizeof(f->dt)); /* the DT's memory nodes follow the default map */
	/* The host reports the VTL2 region as plain MEMORY: it is carved out of VTL0. */
	memset(f->mm, 0, sizeof(f->mm));
	bf_mm_entry(f->mm, 0, 0, 0x20000000, 0);
	bf_mm_entry(f->mm, 1, 0x40000000, 0x100000, 3); /* extra VTL2 RAM */
	assert_int_equal(parse(f), 0);
	assert_int_equal(host.vtl2_ram.n, 2);
	assert_int_equal(host.vtl2_ram.r[0].gpa, BF_VTL2);
	assert_int_equal(host.vtl2_ram.r[1].gpa, 0x40000000);
	assert_int_equal(host.vtl0_ram.n, 2);
	assert_int_equal(host.vtl0_ram.r[0].size, BF_VTL2);
	assert_int_equal(host.vtl0_ram.r[1].gpa, BF_VTL2 + BF_VTL2_SIZE);
	assert_int_equal(host.vtl0_ram.r[1].size, 0x20000000 - BF_VTL2 - BF_VTL2_SIZE);
	/* Types 4 and 5 (specific purpose, hidden) are known but neither VTL's RAM. */
	bf_mm_entry(f->mm, 2, 0x50000000, 0x1000, 5);
	assert_int_equal(parse(f), 0);
	assert_int_equal(host.map.count, 3);
	assert_int_equal(host.vtl0_ram.n, 2);
	free(f);
}

static void test_vp_count(void **state)
{
	(void)state;
	struct bf *f = bf_new();
	uint32_t v = 5000;
	memcpy(f->vp, &v, 4);
	EXPECT_HOST_ERR(f, "vp count: 5000, limit 1024");
	v = 3;
	memcpy(f->vp, &v, 4);
	EXPECT_HOST_ERR(f, "vp count: 3 but the device tree has 2 cpu nodes");
	/* A DT without cpu nodes and a VP count disagree too. */
	bf_init(f);
	int cpus = fdt_path_offset(f->dt, "/cpus");
	assert_true(cpus >= 0);
	assert_int_equal(fdt_nop_node(f->dt, cpus), 0);
	EXPECT_HOST_ERR(f, "vp count: 2 but the device tree has 0 cpu nodes");
	memset(f->vp, 0, 4);
	assert_int_equal(parse(f), 0);
	assert_int_equal(host.vp_count, 1);
	/* 1024 cpus is the limit; 1025 cpu nodes are refused. */
	bf_init(f);
	memset(f->vp, 0, 4);
	assert_int_equal(bf_dt(f->dt, sizeof(f->dt), 1024), 0);
	assert_int_equal(parse(f), 0);
	assert_int_equal(host.vp_count, 1024);
	assert_int_equal(host.apic_id[1023], 1023);
	assert_int_equal(bf_dt(f->dt, sizeof(f->dt), 1025), 0);
	EXPECT_HOST_ERR(f, "device tree: more than 1024 cpu nodes");
	/* A VP count area too small for a u32. */
	bf_init(f);
	f->p.param_vp_count.size = 2;
	EXPECT_HOST_ERR(f, "vp count: area of 2 bytes");
	free(f);
}

static void test_cmdline_area(void **state)
{
	(void)state;
	struct bf *f = bf_new();
	memset(f->cl, 'a', sizeof(f->cl));
	EXPECT_HOST_ERR(f, "command line: no NUL within the 4096-byte area");
	bf_init(f);
	f->cl[5] = 0x01;
	EXPECT_HOST_ERR(f, "command line: byte 5 is 0x01, not printable ASCII");
	bf_init(f);
	f->cl[5] = (uint8_t)0xC3;
	EXPECT_HOST_ERR(f, "byte 5 is 0xc3");
	/* Longest accepted: 4095 bytes + NUL. */
	bf_init(f);
	memset(f->cl, 'b', sizeof(f->cl) - 1);
	f->cl[sizeof(f->cl) - 1] = '\0';
	assert_int_equal(parse(f), 0);
	assert_int_equal(strlen(host.cmdline), 4095);
	free(f);
}

/* Replace the host DT by one built by `build`. */
static void set_prop(struct bf *f, const char *path, const char *name, const void *v, int len)
{
	assert_int_equal(fdt_open_into(f->dt, f->dt, sizeof(f->dt)), 0);
	int node = fdt_path_offset(f->dt, path);
	assert_true(node >= 0);
	assert_int_equal(fdt_setprop(f->dt, node, name, v, len), 0);
	assert_int_equal(fdt_pack(f->dt), 0);
}

static void set_u32(struct bf *f, const char *path, const char *name, uint32_t v)
{
	fdt32_t be = cpu_to_fdt32(v);
	set_prop(f, path, name, &be, 4);
}

static void test_dt_bad(void **state)
{
	(void)state;
	struct bf *f = bf_new();
	/* Not a DTB at all. */
	memcpy(f->dt, "garbage!", 8);
	EXPECT_HOST_ERR(f, "device tree: bad header (FDT_ERR_BADMAGIC)");
	/* totalsize past the area. */
	bf_init(f);
	f->p.param_device_tree.size = 0x1000;
	fdt_set_totalsize(f->dt, 0x2000);
	EXPECT_HOST_ERR(f, "device tree: totalsize 0x2000 exceeds the 0x1000-byte area");
	/* A broken structure block: the first FDT_BEGIN_NODE token turned into garbage. */
	bf_init(f);
	uint32_t bad = 0x77777777;
	memcpy(f->dt + fdt_off_dt_struct(f->dt), &bad, 4);
	EXPECT_HOST_ERR(f, "device tree: malformed");
	/* A property length that wraps the offset back onto its tag (libfdt 1.6.1's
	   fdt_check_full loops forever on it). */
	bf_init(f);
	int poff = 0, pnext;
	while (fdt_next_tag(f->dt, poff, &pnext) != FDT_PROP)
		poff = pnext;
	uint32_t wrap = cpu_to_fdt32(0xFFFFFFF4u);
	memcpy(f->dt + fdt_off_dt_struct(f->dt) + poff + 4, &wrap, 4);
	EXPECT_HOST_ERR(f, "device tree: malformed");
	/* A header claiming a struct block past totalsize. */
	bf_init(f);
	fdt_set_size_dt_struct(f->dt, 0xFFFFFF);
	EXPECT_HOST_ERR(f, "device tree: ");
	/* cpus. */
	bf_init(f);
	set_u32(f, "/cpus/cpu@1", "reg", 0);
	EXPECT_HOST_ERR(f, "device tree: /cpus/cpu@1 reg 0 duplicates cpu 0");
	bf_init(f);
	set_prop(f, "/cpus/cpu@1", "reg", "ab", 2);
	EXPECT_HOST_ERR(f, "device tree: /cpus/cpu@1 reg missing or not one u32");
	bf_init(f);
	set_u32(f, "/cpus", "#address-cells", 2);
	EXPECT_HOST_ERR(f, "device tree: /cpus needs #address-cells 1");
	/* Memory nodes must agree with the map. */
	bf_init(f);
	set_u32(f, "/memory@10000000", "microsoft,igvm-type", 0);
	EXPECT_HOST_ERR(f, "device tree: memory@10000000 range [0x10000000,+0x2000000) type 0 "
			   "disagrees with the memory map");
	bf_init(f);
	fdt64_t r[2] = { cpu_to_fdt64(0), cpu_to_fdt64(0x30000000) };
	set_prop(f, "/memory@0", "reg", r, sizeof(r));
	EXPECT_HOST_ERR(f, "memory@0 range [0x0,+0x30000000) type 0 disagrees");
	bf_init(f);
	set_prop(f, "/memory@0", "reg", r, 12);
	EXPECT_HOST_ERR(f, "memory@0 reg missing or not (u64 base, u64 size) pairs");
	bf_init(f);
	set_prop(f, "/memory@0", "microsoft,igvm-type", "x", 1);
	EXPECT_HOST_ERR(f, "microsoft,igvm-type is not one u32");
	bf_init(f);
	set_u32(f, "/", "#size-cells", 1);
	EXPECT_HOST_ERR(f, "needs root #address-cells/#size-cells 2/2, have 2/1");
	/* bootargs. */
	bf_init(f);
	set_prop(f, "/chosen", "bootargs", "abc", 3);
	EXPECT_HOST_ERR(f, "device tree: /chosen/bootargs not NUL terminated");
	bf_init(f);
	set_prop(f, "/chosen", "bootargs", "a\tb", 4);
	EXPECT_HOST_ERR(f, "device tree: /chosen/bootargs byte 1 is 0x09, not printable");
	/* VMBus. */
	bf_init(f);
	set_u32(f, "/bus/vmbus", "microsoft,vtl", 1);
	EXPECT_HOST_ERR(f, "device tree: vmbus vmbus microsoft,vtl 1");
	bf_init(f);
	set_prop(f, "/bus/vmbus", "microsoft,message-connection-id", "", 0);
	EXPECT_HOST_ERR(f, "microsoft,message-connection-id missing or not one u32");
	free(f);
}

static void test_dt_vmbus_choice(void **state)
{
	(void)state;
	struct bf *f = bf_new();
	/* A VTL0 VMBus first, the VTL2 one later: the VTL2 one wins. */
	assert_int_equal(fdt_open_into(f->dt, f->dt, sizeof(f->dt)), 0);
	int n = fdt_add_subnode(f->dt, 0, "avmbus0");
	assert_true(n >= 0);
	assert_int_equal(fdt_setprop_string(f->dt, n, "compatible", "microsoft,vmbus"), 0);
	assert_int_equal(fdt_setprop_u32(f->dt, n, "microsoft,message-connection-id", 9), 0);
	assert_int_equal(fdt_setprop_u32(f->dt, n, "microsoft,vtl", 0), 0);
	assert_int_equal(parse(f), 0);
	assert_int_equal(host.dt.vmbus_vtl, 2);
	assert_int_equal(host.dt.vmbus_connection_id, 4);
	/* No VMBus node at all. */
	bf_init(f);
	assert_int_equal(fdt_open_into(f->dt, f->dt, sizeof(f->dt)), 0);
	assert_int_equal(fdt_del_node(f->dt, fdt_path_offset(f->dt, "/bus/vmbus")), 0);
	assert_int_equal(parse(f), 0);
	assert_false(host.dt.have_vmbus);
	free(f);
}

static void test_ranges(void **state)
{
	(void)state;
	struct shim_rangeset s;
	shim_range_init(&s);
	assert_int_equal(shim_range_add(&s, 0x3000, 0x1000), 0);
	assert_int_equal(shim_range_add(&s, 0x1000, 0x1000), 0);
	assert_int_equal(shim_range_add(&s, 0x2000, 0x1000), 0); /* bridges both */
	assert_int_equal(s.n, 1);
	assert_int_equal(s.r[0].gpa, 0x1000);
	assert_int_equal(s.r[0].size, 0x3000);
	assert_int_equal(shim_range_sub(&s, 0x2000, 0x800), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.r[1].gpa, 0x2800);
	assert_true(shim_range_covers(&s, 0x2800, 0x1800));
	assert_false(shim_range_covers(&s, 0x1000, 0x2000));
	assert_true(shim_range_touches(&s, 0x1F00, 0x200));
	assert_false(shim_range_touches(&s, 0x2000, 0x800));
	assert_false(shim_range_overlap(0, 0x1000, 0x1000, 0x1000));
	assert_true(shim_range_overlap(0xFFFFFFFFFFFFF000ull, 0x1000, 0xFFFFFFFFFFFFFF00ull, 1));
	assert_false(shim_range_inside(0xFFFFFFFFFFFFF000ull, 0x2000, 0, UINT64_MAX));
	assert_int_equal(shim_range_add(&s, UINT64_MAX, 2), -ERANGE);
	/* Capacity. */
	shim_range_init(&s);
	for (unsigned i = 0; i < SHIM_RANGE_MAX; i++)
		assert_int_equal(shim_range_add(&s, i * 0x2000ull, 0x1000), 0);
	assert_int_equal(shim_range_add(&s, 0x1000000, 0x1000), -ENOSPC);
	assert_int_equal(shim_range_sub(&s, 0x400, 0x100), -ENOSPC);
	assert_int_equal(s.n, SHIM_RANGE_MAX);
	assert_int_equal(shim_range_sub(&s, 0, 0x1000), 0);
	assert_int_equal(s.n, SHIM_RANGE_MAX - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_empty_areas),
		cmocka_unit_test(test_memmap_bad),
		cmocka_unit_test(test_memmap_split),
		cmocka_unit_test(test_vp_count),
		cmocka_unit_test(test_cmdline_area),
		cmocka_unit_test(test_dt_bad),
		cmocka_unit_test(test_dt_vmbus_choice),
		cmocka_unit_test(test_ranges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
