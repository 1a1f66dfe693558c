/*
 * The paravisor image layout (tools/mezz-igvm/paravisor.c): fixed offsets of
 * boot/shim_params.h, heap and kernel placement, kernel span, initrd, default and explicit
 * vtl2_size, the required-memory ranges, and the named errors; the bzImage header and shim
 * ELF validators on synthetic inputs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "boot/shim_params.h"
#include "tools/mezz-igvm/paravisor.h"

#define B 0x10000000ull
#define MIB (1ull << 20)

/* A Debian-like kernel: 0x5000 setup bytes, 14 MiB protected mode, init_size 51.5 MiB. */
static struct paravisor_inputs debian_like(void)
{
	struct paravisor_inputs in = {
		.vtl2_base = B,
		.setup_size = 0x5000,
		.kernel_size = 14 * MIB,
		.init_size = 0x3378000,
		.kernel_align = 2 * MIB,
		.shim_lo = B + MIB,
		.shim_hi = B + MIB + 0x20000,
		.initrd_size = 5 * MIB + 123,
		.tdx = 1,
	};
	return in;
}

static void test_fixed_offsets(void **state)
{
	struct paravisor_inputs in = debian_like();
	struct paravisor_layout l;
	char msg[256];

	(void)state;
	assert_int_equal(paravisor_layout(&in, &l, msg, sizeof(msg)), 0);
	assert_int_equal(l.vmsa, B + 0x8000);
	assert_int_equal(l.log.gpa, B + 0x9000);
	assert_int_equal(l.log.size, 0x2000);
	assert_int_equal(l.pad.gpa + l.pad.size, B + MEZZ_SHIM_OFF_PARAM_AREAS);
	assert_int_equal(l.areas[MEZZ_SHIM_AREA_DEVICE_TREE].gpa, B + 0x10000);
	assert_int_equal(l.areas[MEZZ_SHIM_AREA_DEVICE_TREE].size, 0x10000);
	assert_int_equal(l.areas[MEZZ_SHIM_AREA_MEMORY_MAP].gpa, B + 0x20000);
	assert_int_equal(l.areas[MEZZ_SHIM_AREA_MEMORY_MAP].size, 0x4000);
	assert_int_equal(l.areas[MEZZ_SHIM_AREA_COMMAND_LINE].gpa, B + 0x24000);
	assert_int_equal(l.areas[MEZZ_SHIM_AREA_VP_COUNT].gpa, B + 0x25000);
	assert_int_equal(l.setup.gpa, B + 0x26000);
	assert_int_equal(l.setup.size, 0x5000);
	assert_int_equal(l.loader_end, B + 0x2B000);
}

static void test_kernel_heap_initrd(void **state)
{
	struct paravisor_inputs in = debian_like();
	struct paravisor_layout l;
	char msg[256];

	(void)state;
	assert_int_equal(paravisor_layout(&in, &l, msg, sizeof(msg)), 0);
	/* Heap from the shim's end to the kernel's 2 MiB boundary, at least 1 MiB. */
	assert_int_equal(l.heap.gpa, B + MIB + 0x20000);
	assert_int_equal(l.kernel.gpa, B + 4 * MIB);
	assert_true(l.heap.size >= PARAVISOR_MIN_HEAP);
	assert_int_equal(l.heap.gpa + l.heap.size, l.kernel.gpa);
	assert_int_equal(l.kernel.size, 14 * MIB);
	assert_int_equal(l.kernel_span, 52 * MIB); /* init_size rounded up to 2 MiB */
	assert_int_equal(l.initrd.gpa, l.kernel.gpa + 52 * MIB);
	assert_int_equal(l.initrd.size, 5 * MIB + 123);
	assert_int_equal(l.used_end, B + 4 * MIB + 52 * MIB + 6 * MIB);
	/* Default size: the layout plus the headroom. */
	assert_int_equal(l.vtl2.size, l.used_end - B + PARAVISOR_DEFAULT_HEADROOM);
	/* Required memory: below the shim, the span's tail, after the initrd. */
	assert_int_equal(l.ram[0].gpa, l.loader_end);
	assert_int_equal(l.ram[0].gpa + l.ram[0].size, in.shim_lo);
	assert_int_equal(l.ram[1].gpa, l.kernel.gpa + 14 * MIB);
	assert_int_equal(l.ram[1].gpa + l.ram[1].size, l.initrd.gpa);
	assert_int_equal(l.ram[2].gpa, l.initrd.gpa + 5 * MIB + 0x1000);
	assert_int_equal(l.ram[2].gpa + l.ram[2].size, B + l.vtl2.size);
}

static void test_big_kernel_small_init(void **state)
{
	struct paravisor_inputs in = debian_like();
	struct paravisor_layout l;
	char msg[256];

	(void)state;
	/* The span covers the protected-mode bytes even when init_size is smaller. */
	in.init_size = MIB;
	in.kernel_size = 5 * MIB + 1;
	in.initrd_size = 0;
	in.vtl2_size = 64 * MIB;
	assert_int_equal(paravisor_layout(&in, &l, msg, sizeof(msg)), 0);
	assert_int_equal(l.kernel_span, 6 * MIB);
	assert_int_equal(l.initrd.gpa, 0);
	assert_int_equal(l.initrd.size, 0);
	assert_int_equal(l.vtl2.size, 64 * MIB);
	assert_int_equal(l.ram[1].size, 6 * MIB - (5 * MIB + 0x1000));
	/* A kernel that wants 16 MiB alignment gets it. */
	in.kernel_align = 16 * MIB;
	assert_int_equal(paravisor_layout(&in, &l, msg, sizeof(msg)), 0);
	assert_int_equal(l.kernel.gpa % (16 * MIB), 0);
	assert_int_equal(l.kernel.gpa, B + 16 * MIB);
}

static void test_shim_placement(void **state)
{
	struct paravisor_inputs in = debian_like();
	struct paravisor_layout l;
	char msg[256];

	(void)state;
	/* A shim right after the loader block: no RAM gap below it. */
	in.shim_lo = B + 0x2B000;
	in.shim_hi = B + 0x30000;
	assert_int_equal(paravisor_layout(&in, &l, msg, sizeof(msg)), 0);
	assert_int_equal(l.ram[0].size, 0);
	assert_int_equal(l.kernel.gpa, B + 2 * MIB);
	/* Overlapping the loader block. */
	in.shim_lo = B + 0x2A000;
	assert_int_equal(paravisor_layout(&in, &l, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "paravisor.shim: segments start at 0x1002a000, inside the "
				    "loader block"));
	in.shim_lo = B - 0x1000;
	assert_int_equal(paravisor_layout(&in, &l, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "below the VTL2 region"));
}

static void test_errors(void **state)
{
	struct paravisor_inputs in = debian_like();
	struct paravisor_layout l;
	char msg[256];

	(void)state;
	in.vtl2_size = 32 * MIB;
	assert_int_equal(paravisor_layout(&in, &l, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "paravisor.vtl2_size: 0x2000000 is too small: the layout "
				    "needs 0x3e00000 bytes"));
	in.vtl2_size = 62 * MIB; /* exactly the layout */
	assert_int_equal(paravisor_layout(&in, &l, msg, sizeof(msg)), 0);
	in.vtl2_size = 62 * MIB + 0x1000;
	assert_int_equal(paravisor_layout(&in, &l, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "not a multiple of 2 MiB"));
	in = debian_like();
	in.vtl2_base = B + 0x100000;
	assert_int_equal(paravisor_layout(&in, &l, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "paravisor.vtl2_base: 0x10100000 is not 2 MiB aligned"));
	in = debian_like();
	in.vtl2_base = 0x100000000ull;
	assert_int_equal(paravisor_layout(&in, &l, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "not below 4 GiB"));
	/* The region must not reach the TDX reset page (only when TDX is listed) or 4 GiB. */
	in = debian_like();
	in.vtl2_size = 0x100000000ull - B;
	assert_int_equal(paravisor_layout(&in, &l, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "covers the TDX reset page"));
	in.tdx = 0;
	assert_int_equal(paravisor_layout(&in, &l, msg, sizeof(msg)), 0);
	in.vtl2_size += 2 * MIB;
	assert_int_equal(paravisor_layout(&in, &l, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "does not end below 4 GiB"));
}

/* ---- bzImage header ---- */

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static uint8_t bz[8192];

static void make_bz(void)
{
	memset(bz, 0, sizeof(bz));
	bz[0x1F1] = 3;
	put16(bz + 0x1FE, 0xAA55);
	memcpy(bz + 0x202, "HdrS", 4);
	put16(bz + 0x206, 0x020F);
	bz[0x211] = 1;
	put32(bz + 0x230, 0x200000);
	bz[0x234] = 1;
	put16(bz + 0x236, 0x7F);
	put32(bz + 0x260, 0x300000);
}

static void test_bzimage(void **state)
{
	struct paravisor_bzimage k;
	char msg[256];

	(void)state;
	make_bz();
	assert_int_equal(paravisor_parse_bzimage(bz, sizeof(bz), &k, msg, sizeof(msg)), 0);
	assert_int_equal(k.setup_size, 2048);
	assert_int_equal(k.kernel_size, sizeof(bz) - 2048);
	assert_int_equal(k.init_size, 0x300000);
	assert_int_equal(k.kernel_align, 0x200000);
	bz[0x1F1] = 0; /* setup_sects 0 means 4 */
	assert_int_equal(paravisor_parse_bzimage(bz, sizeof(bz), &k, msg, sizeof(msg)), 0);
	assert_int_equal(k.setup_size, 2560);
	bz[0x1F1] = 15; /* setup of 8 KiB: nothing left */
	assert_int_equal(paravisor_parse_bzimage(bz, sizeof(bz), &k, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "not smaller than the file"));
	make_bz();
	assert_int_equal(paravisor_parse_bzimage(bz, 0x267, &k, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "shorter than the setup header"));
	bz[0x203] = 'x';
	assert_int_equal(paravisor_parse_bzimage(bz, sizeof(bz), &k, msg, sizeof(msg)), -EINVAL);
	assert_string_equal(msg, "not a bzImage (no HdrS at 0x202)");
	make_bz();
	put16(bz + 0x1FE, 0x1234);
	assert_int_equal(paravisor_parse_bzimage(bz, sizeof(bz), &k, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "boot flag"));
	make_bz();
	put16(bz + 0x206, 0x020B);
	assert_int_equal(paravisor_parse_bzimage(bz, sizeof(bz), &k, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "boot protocol 2.11 is older than 2.12"));
	make_bz();
	put16(bz + 0x236, 0x7E);
	assert_int_equal(paravisor_parse_bzimage(bz, sizeof(bz), &k, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "XLF_KERNEL_64"));
	make_bz();
	bz[0x234] = 0;
	assert_int_equal(paravisor_parse_bzimage(bz, sizeof(bz), &k, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "not relocatable"));
	make_bz();
	put32(bz + 0x230, 0x300000);
	assert_int_equal(paravisor_parse_bzimage(bz, sizeof(bz), &k, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "kernel_alignment"));
	make_bz();
	put32(bz + 0x260, 0);
	assert_int_equal(paravisor_parse_bzimage(bz, sizeof(bz), &k, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "init_size is 0"));
}

/* ---- shim ELF ---- */

static uint8_t elf[4096];

/* An ELF64 executable with n PT_LOAD headers; segment i at paddr[i] with filesz/memsz. */
static void make_elf(unsigned n, const uint64_t *paddr, uint64_t filesz, uint64_t memsz,
		     uint64_t entry)
{
	Elf64_Ehdr eh;

	memset(elf, 0, sizeof(elf));
	memset(&eh, 0, sizeof(eh));
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_entry = entry;
	eh.e_phoff = sizeof(eh);
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = (uint16_t)n;
	memcpy(elf, &eh, sizeof(eh));
	for (unsigned i = 0; i < n; i++) {
		Elf64_Phdr ph = { .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = 0x800,
				  .p_vaddr = paddr[i], .p_paddr = paddr[i], .p_filesz = filesz,
				  .p_memsz = memsz, .p_align = 0x1000 };

		memcpy(elf + sizeof(eh) + i * sizeof(ph), &ph, sizeof(ph));
	}
}

static void test_shim(void **state)
{
	struct paravisor_shim sh;
	char msg[256];
	uint64_t pa[2] = { 0x10100000, 0x10102000 };

	(void)state;
	make_elf(2, pa, 0x100, 0x1800, 0x10100010);
	assert_int_equal(paravisor_parse_shim(elf, sizeof(elf), &sh, msg, sizeof(msg)), 0);
	assert_int_equal(sh.lo, 0x10100000);
	assert_int_equal(sh.hi, 0x10104000);
	assert_int_equal(sh.entry, 0x10100010);
	assert_int_equal(sh.n_segs, 2);
	/* Overlap. */
	pa[1] = 0x10101000;
	make_elf(2, pa, 0x100, 0x1800, 0x10100010);
	assert_int_equal(paravisor_parse_shim(elf, sizeof(elf), &sh, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "overlaps another PT_LOAD segment"));
	/* File bytes beyond the file. */
	pa[1] = 0x10102000;
	make_elf(2, pa, 0x1000, 0x1800, 0x10100010);
	assert_int_equal(paravisor_parse_shim(elf, sizeof(elf), &sh, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "outside the file"));
	/* filesz > memsz. */
	make_elf(1, pa, 0x200, 0x100, 0x10102000);
	assert_int_equal(paravisor_parse_shim(elf, sizeof(elf), &sh, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "p_filesz"));
	/* Wrap-around / above 4 GiB. */
	pa[0] = 0xFFFFFFFFFFFFF000ull;
	make_elf(1, pa, 0x100, 0x2000, 0x10100010);
	assert_int_equal(paravisor_parse_shim(elf, sizeof(elf), &sh, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "not below 4 GiB"));
	/* Entry outside. */
	pa[0] = 0x10100000;
	make_elf(1, pa, 0x100, 0x1000, 0x10200000);
	assert_int_equal(paravisor_parse_shim(elf, sizeof(elf), &sh, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "entry point 0x10200000"));
	/* Not ET_EXEC, not x86-64, no magic, program headers outside. */
	make_elf(1, pa, 0x100, 0x1000, 0x10100000);
	elf[16] = ET_DYN;
	assert_int_equal(paravisor_parse_shim(elf, sizeof(elf), &sh, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "ET_EXEC"));
	make_elf(1, pa, 0x100, 0x1000, 0x10100000);
	elf[18] = 3; /* EM_386 */
	assert_int_equal(paravisor_parse_shim(elf, sizeof(elf), &sh, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "not x86-64"));
	make_elf(1, pa, 0x100, 0x1000, 0x10100000);
	assert_int_equal(paravisor_parse_shim(elf, 100, &sh, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "program headers"));
	elf[1] = 'X';
	assert_int_equal(paravisor_parse_shim(elf, sizeof(elf), &sh, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "not an ELF file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixed_offsets),
		cmocka_unit_test(test_kernel_heap_initrd),
		cmocka_unit_test(test_big_kernel_small_init),
		cmocka_unit_test(test_shim_placement),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_bzimage),
		cmocka_unit_test(test_shim),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
