/*
 * boot_params_test: the shim's checks of the measured inputs: the params page (shim_cfg: every
 * field, range placement and overlap, the parameter areas overlapping the image), the kernel's
 * setup header (shim_bootp_check) and the command line policy (shim_cmdline).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "boot/shim_cfg.h"
#include "boot/shim_cmdline.h"
#include "tests/unit/boot_fixture.h"

static char err[SHIM_ERR_LEN];

#define EXPECT_CFG_ERR(p, text)                                                    \
	do {                                                                       \
		err[0] = '\0';                                                     \
		assert_int_equal(shim_cfg_check(&(p), err, sizeof(err)), -EINVAL); \
		if (!strstr(err, (text)))                                          \
			fail_msg("error \"%s\" lacks \"%s\"", err, (text));        \
	} while (0)

static void test_cfg_valid(void **state)
{
	(void)state;
	struct mezz_shim_params p;
	bf_params(&p);
	assert_int_equal(shim_cfg_check(&p, err, sizeof(err)), 0);
	/* No initrd, no areas: still fine. */
	p.initrd.size = 0;
	p.param_device_tree.size = p.param_command_line.size = 0;
	assert_int_equal(shim_cfg_check(&p, err, sizeof(err)), 0);
	struct shim_rangeset r;
	bf_params(&p);
	assert_int_equal(shim_cfg_reserved(&p, &r), 0);
	/* The loader block [vtl2, +0x10000) and the areas through the heap (contiguous), then
	   the shim. */
	assert_int_equal(r.n, 2);
	assert_int_equal(r.r[0].gpa, BF_VTL2);
	assert_int_equal(r.r[0].size, BF_HEAP + BF_HEAP_SIZE - BF_VTL2);
	assert_int_equal(r.r[1].gpa, BF_SHIM);
	assert_int_equal(r.r[1].size, BF_SHIM_SIZE);
	assert_string_equal(shim_cfg_isolation_name(3), "tdx");
	assert_string_equal(shim_cfg_isolation_name(9), "?");
}

static void test_cfg_fields(void **state)
{
	(void)state;
	struct mezz_shim_params p;
	bf_params(&p); p.magic ^= 1; EXPECT_CFG_ERR(p, "params: bad magic");
	bf_params(&p); p.version = 2; EXPECT_CFG_ERR(p, "params: version 2");
	bf_params(&p); p.size = 0x800; EXPECT_CFG_ERR(p, "params: size 0x800");
	bf_params(&p); p.isolation = 4; EXPECT_CFG_ERR(p, "isolation 4 unknown");
	bf_params(&p); p.cmdline_policy = 2; EXPECT_CFG_ERR(p, "cmdline_policy 2");
	bf_params(&p); p.reserved0[2] = 1; EXPECT_CFG_ERR(p, "reserved field 2");
	bf_params(&p); p.reserved1[0] = 1; EXPECT_CFG_ERR(p, "reserved field 0");
	bf_params(&p); memset(p.static_cmdline, 'a', sizeof(p.static_cmdline));
	EXPECT_CFG_ERR(p, "static_cmdline not terminated");
	bf_params(&p); p.static_cmdline[3] = '\n'; EXPECT_CFG_ERR(p, "static_cmdline byte 3 is 0x0a");
}

static void test_cfg_ranges(void **state)
{
	(void)state;
	struct mezz_shim_params p;
	bf_params(&p); p.vtl2.gpa += 0x1000; EXPECT_CFG_ERR(p, "vtl2 [0x10001000,+0x2000000) not 2 MiB");
	bf_params(&p); p.vtl2.size = 0; EXPECT_CFG_ERR(p, "not 2 MiB aligned or empty");
	bf_params(&p); p.vtl2.gpa = 0xFFE00000; EXPECT_CFG_ERR(p, "not below 4 GiB");
	bf_params(&p); p.tables.gpa += 0x1000; EXPECT_CFG_ERR(p, "tables");
	bf_params(&p); p.kernel.gpa += 0x1000; EXPECT_CFG_ERR(p, "kernel gpa 0x10201000 not 2 MiB");
	bf_params(&p); p.kernel.size = p.kernel_span + 1; EXPECT_CFG_ERR(p, "exceed kernel_span");
	bf_params(&p); p.kernel_setup.size = 0; EXPECT_CFG_ERR(p, "kernel_setup empty");
	bf_params(&p); p.shim.size = 0; EXPECT_CFG_ERR(p, "shim empty");
	bf_params(&p); p.heap.size = 0x8000; EXPECT_CFG_ERR(p, "heap 0x8000 bytes");
	bf_params(&p); p.log.gpa += 8; EXPECT_CFG_ERR(p, "log [0x10026008,+0x4000) not page aligned");
	bf_params(&p); p.param_vp_count.size = 0x800; EXPECT_CFG_ERR(p, "param_vp_count");
	bf_params(&p); p.initrd.gpa = BF_VTL2 + BF_VTL2_SIZE - 0x1000;
	EXPECT_CFG_ERR(p, "initrd [0x11fff000,+0x10000) outside vtl2 [0x10000000,0x12000000)");
	bf_params(&p); p.kernel_span = BF_VTL2_SIZE;
	EXPECT_CFG_ERR(p, "kernel [0x10200000,+0x2000000) outside vtl2");
	/* Wrapping ranges are outside, not inside. */
	bf_params(&p); p.log.gpa = 0xFFFFFFFFFFFFF000ull; EXPECT_CFG_ERR(p, "log");
}

static void test_cfg_overlaps(void **state)
{
	(void)state;
	struct mezz_shim_params p;
	/* Hostile parameter areas on top of the image's own ranges. */
	bf_params(&p); p.param_memory_map.gpa = BF_HEAP + 0x1000;
	EXPECT_CFG_ERR(p, "params: param_memory_map [0x1002b000,0x1002f000) overlaps heap "
			  "[0x1002a000,0x1006a000)");
	bf_params(&p); p.param_device_tree.gpa = BF_KERNEL;
	EXPECT_CFG_ERR(p, "param_device_tree [0x10200000,0x10210000) overlaps kernel");
	bf_params(&p); p.param_command_line.gpa = BF_SHIM;
	EXPECT_CFG_ERR(p, "param_command_line [0x10100000,0x10101000) overlaps shim");
	bf_params(&p); p.param_vp_count.gpa = BF_VTL2 + 0x2000;
	EXPECT_CFG_ERR(p, "param_vp_count [0x10002000,0x10003000) overlaps tables");
	bf_params(&p); p.param_vp_count.gpa = BF_VTL2 + 0x28000;
	EXPECT_CFG_ERR(p, "param_vp_count [0x10028000,0x10029000) overlaps log");
	bf_params(&p); p.param_vp_count.gpa = BF_INITRD;
	EXPECT_CFG_ERR(p, "overlaps initrd");
	bf_params(&p); p.param_vp_count.gpa = BF_SETUP;
	EXPECT_CFG_ERR(p, "overlaps kernel_setup");
	bf_params(&p); p.param_vp_count.gpa = BF_DT + 0x1000;
	EXPECT_CFG_ERR(p, "param_vp_count [0x10011000,0x10012000) overlaps param_device_tree");
	bf_params(&p); p.heap.gpa = BF_VTL2;
	EXPECT_CFG_ERR(p, "heap [0x10000000,0x10040000) overlaps params");
	/* The kernel span, not just its bytes, is the kernel's. */
	bf_params(&p); p.initrd.gpa = BF_KERNEL + BF_KERNEL_SIZE;
	EXPECT_CFG_ERR(p, "initrd [0x10300000,0x10310000) overlaps kernel");
}

#define EXPECT_HDR_ERR(f, text)                                                           \
	do {                                                                              \
		struct shim_bp_kernel k_;                                                 \
		err[0] = '\0';                                                            \
		assert_int_equal(shim_bootp_check((f)->setup, (f)->p.kernel_setup.size, \
						  &(f)->p, &k_, err, sizeof(err)),        \
				 -EINVAL);                                                \
		if (!strstr(err, (text)))                                                 \
			fail_msg("error \"%s\" lacks \"%s\"", err, (text));               \
	} while (0)

static void test_setup_header(void **state)
{
	(void)state;
	struct bf *f = bf_new();
	struct shim_bp_kernel k;
	assert_int_equal(shim_bootp_check(f->setup, BF_SETUP_SIZE, &f->p, &k, err, sizeof(err)), 0);
	assert_int_equal(k.version, 0x020F);
	assert_int_equal(k.header_end, 0x26C);
	assert_int_equal(k.cmdline_size, 2047);
	assert_true(k.relocatable);

	bf_init(f); bf_hdr(f)->boot_flag = 0x55AA; EXPECT_HDR_ERR(f, "kernel header: boot_flag 0x55aa");
	bf_init(f); bf_hdr(f)->header = 0x12345678; EXPECT_HDR_ERR(f, "is not HdrS");
	bf_init(f); bf_hdr(f)->version = 0x020B; EXPECT_HDR_ERR(f, "protocol 0x20b older than 2.12");
	bf_init(f); bf_hdr(f)->xloadflags = 2; EXPECT_HDR_ERR(f, "no 64-bit entry");
	bf_init(f); bf_hdr(f)->loadflags = 0; EXPECT_HDR_ERR(f, "not a bzImage");
	bf_init(f); bf_hdr(f)->init_size = BF_KERNEL_SPAN + 1;
	EXPECT_HDR_ERR(f, "init_size 0x400001 exceeds kernel_span 0x400000");
	bf_init(f); bf_hdr(f)->relocatable_kernel = 0;
	EXPECT_HDR_ERR(f, "not relocatable and pref_address 0x1000000 != gpa 0x10200000");
	bf_init(f); bf_hdr(f)->kernel_alignment = 0x400000; EXPECT_HDR_ERR(f, "kernel_alignment");
	bf_init(f); bf_hdr(f)->kernel_alignment = 0x300000; EXPECT_HDR_ERR(f, "kernel_alignment");
	bf_init(f); bf_hdr(f)->cmdline_size = 0; EXPECT_HDR_ERR(f, "cmdline_size 0");
	bf_init(f); bf_hdr(f)->initrd_addr_max = 0x0FFFFFFF; EXPECT_HDR_ERR(f, "initrd_addr_max");
	bf_init(f); bf_hdr(f)->jump = 0x50EB; EXPECT_HDR_ERR(f, "ends at 0x252, before init_size");
	bf_init(f); f->p.kernel_setup.size = 0x200; EXPECT_HDR_ERR(f, "setup bytes 0x200 too short");
	bf_init(f); f->p.kernel_setup.size = 0x270; bf_hdr(f)->jump = 0x7FEB;
	EXPECT_HDR_ERR(f, "ends at 0x281 past the setup bytes 0x270");
	/* Not relocatable but loaded at its preferred address: fine. */
	bf_init(f);
	bf_hdr(f)->relocatable_kernel = 0;
	bf_hdr(f)->pref_address = BF_KERNEL;
	assert_int_equal(shim_bootp_check(f->setup, BF_SETUP_SIZE, &f->p, &k, err, sizeof(err)), 0);
	/* A 2.12 header (ends at 0x268) is accepted. */
	bf_init(f);
	bf_hdr(f)->version = 0x020C;
	bf_hdr(f)->jump = 0x66EB;
	assert_int_equal(shim_bootp_check(f->setup, BF_SETUP_SIZE, &f->p, &k, err, sizeof(err)), 0);
	assert_int_equal(k.header_end, 0x268);
	free(f);
}

static void test_cmdline(void **state)
{
	(void)state;
	char out[64];
	size_t len;
	assert_int_equal(shim_cmdline_build(out, sizeof(out), &len, "a=1", MEZZ_CMDLINE_APPEND_HOST,
					    MEZZ_ISOLATION_NONE, "b=2", 100, err, sizeof(err)), 0);
	assert_string_equal(out, "a=1 b=2");
	assert_int_equal(len, 7);
	/* Static policy, isolation, or no host line: static only. */
	assert_int_equal(shim_cmdline_build(out, sizeof(out), &len, "a=1", MEZZ_CMDLINE_STATIC,
					    MEZZ_ISOLATION_NONE, "b=2", 100, err, sizeof(err)), 0);
	assert_string_equal(out, "a=1");
	for (unsigned iso = 1; iso <= 3; iso++) {
		assert_int_equal(shim_cmdline_build(out, sizeof(out), &len, "a=1",
						    MEZZ_CMDLINE_APPEND_HOST, iso, "b=2", 100, err,
						    sizeof(err)), 0);
		assert_string_equal(out, "a=1");
	}
	assert_int_equal(shim_cmdline_build(out, sizeof(out), &len, "a=1", MEZZ_CMDLINE_APPEND_HOST,
					    MEZZ_ISOLATION_NONE, "", 100, err, sizeof(err)), 0);
	assert_string_equal(out, "a=1");
	assert_int_equal(shim_cmdline_build(out, sizeof(out), &len, "", MEZZ_CMDLINE_APPEND_HOST,
					    MEZZ_ISOLATION_NONE, "b=2", 100, err, sizeof(err)), 0);
	assert_string_equal(out, "b=2");
	/* Exactly cmdline_size fits; one more does not. */
	assert_int_equal(shim_cmdline_build(out, sizeof(out), &len, "a=1", MEZZ_CMDLINE_APPEND_HOST,
					    MEZZ_ISOLATION_NONE, "b=2", 7, err, sizeof(err)), 0);
	assert_int_equal(shim_cmdline_build(out, sizeof(out), &len, "a=1", MEZZ_CMDLINE_APPEND_HOST,
					    MEZZ_ISOLATION_NONE, "b=2", 6, err, sizeof(err)), -E2BIG);
	assert_string_equal(err, "command line: 7 bytes exceed the kernel's cmdline_size 6");
	char big[100];
	memset(big, 'x', 99);
	big[99] = '\0';
	assert_int_equal(shim_cmdline_build(out, sizeof(out), &len, "a=1", MEZZ_CMDLINE_APPEND_HOST,
					    MEZZ_ISOLATION_NONE, big, 4096, err, sizeof(err)), -E2BIG);
	assert_string_equal(err, "command line: 103 bytes exceed the 64-byte buffer");
}

static void test_err_format(void **state)
{
	(void)state;
	char b[64];
	assert_int_equal(shim_err_snprintf(b, sizeof(b), "%d %u %x %X %5s|%-3d|%03u %c %%", -12, 34u,
					   0xabcu, 0xabcu, "ab", 7, 5u, 'z'), 32);
	assert_string_equal(b, "-12 34 abc ABC    ab|7  |005 z %");
	assert_int_equal(shim_err_snprintf(b, sizeof(b), "%llx %lu %zu %016llx", 0x123456789abcull,
					   99ul, (size_t)7, 0x1ull), 34);
	assert_string_equal(b, "123456789abc 99 7 0000000000000001");
	/* Truncation keeps a NUL and reports the full length. */
	assert_int_equal(shim_err_snprintf(b, 4, "%s", "abcdef"), 6);
	assert_string_equal(b, "abc");
	assert_int_equal(shim_err_set(b, sizeof(b), -7, "x%s", "y"), -7);
	assert_string_equal(b, "xy");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cfg_valid),
		cmocka_unit_test(test_cfg_fields),
		cmocka_unit_test(test_cfg_ranges),
		cmocka_unit_test(test_cfg_overlaps),
		cmocka_unit_test(test_setup_header),
		cmocka_unit_test(test_cmdline),
		cmocka_unit_test(test_err_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
