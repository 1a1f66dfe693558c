/* ELF loader for test guests (tools/mezz-sim/elf_load.h): valid images load, hostile ones are refused. */
#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tools/mezz-sim/elf_load.h"

#define MEM (4ull << 20)
#define IMG_SIZE 0x3000

static uint8_t img[IMG_SIZE];
static uint8_t ram[MEM];
static char err[160];
static struct elf_load_info info;

static Elf64_Ehdr *eh(void) { return (Elf64_Ehdr *)img; }
static Elf64_Phdr *ph(unsigned i) { return (Elf64_Phdr *)(img + sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr)); }

/* A two-segment image: text (R X) at 1 MiB from file 0x1000, data (RW, with a bss tail). */
static void make_valid(void)
{
	memset(img, 0, sizeof(img));
	Elf64_Ehdr *e = eh();
	memcpy(e->e_ident, ELFMAG, SELFMAG);
	e->e_ident[EI_CLASS] = ELFCLASS64;
	e->e_ident[EI_DATA] = ELFDATA2LSB;
	e->e_ident[EI_VERSION] = EV_CURRENT;
	e->e_type = ET_EXEC;
	e->e_machine = EM_X86_64;
	e->e_version = EV_CURRENT;
	e->e_entry = 0x100010;
	e->e_phoff = sizeof(Elf64_Ehdr);
	e->e_ehsize = sizeof(Elf64_Ehdr);
	e->e_phentsize = sizeof(Elf64_Phdr);
	e->e_phnum = 3;
	*ph(0) = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = 0x1000,
			       .p_vaddr = 0x100000, .p_paddr = 0x100000, .p_filesz = 0x100,
			       .p_memsz = 0x100, .p_align = 0x1000 };
	*ph(1) = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_W, .p_offset = 0x2000,
			       .p_vaddr = 0x101000, .p_paddr = 0x101000, .p_filesz = 0x10,
			       .p_memsz = 0x2000, .p_align = 0x1000 };
	*ph(2) = (Elf64_Phdr){ .p_type = PT_GNU_STACK, .p_flags = PF_R | PF_W };
	for (unsigned i = 0; i < 0x100; i++)
		img[0x1000 + i] = (uint8_t)(i ^ 0x90);
	for (unsigned i = 0; i < 0x10; i++)
		img[0x2000 + i] = (uint8_t)(0xA0 + i);
}

static int parse(void)
{
	return elf_load_parse(img, sizeof(img), MEM, &info, err, sizeof(err));
}

static void expect_fail(int rc, const char *needle)
{
	assert_int_equal(parse(), rc);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
}

static void test_valid_loads(void **state)
{
	(void)state;
	make_valid();
	assert_int_equal(parse(), 0);
	assert_int_equal(err[0], '\0');
	assert_int_equal(info.entry, 0x100010);
	assert_int_equal(info.seg_count, 2);
	assert_int_equal(info.lowest, 0x100000);
	assert_int_equal(info.highest, 0x103000);
	memset(ram, 0xCC, sizeof(ram));
	assert_int_equal(elf_load_copy(img, sizeof(img), &info, ram, MEM), 0);
	assert_memory_equal(ram + 0x100000, img + 0x1000, 0x100);
	assert_memory_equal(ram + 0x101000, img + 0x2000, 0x10);
	for (unsigned i = 0x10; i < 0x2000; i++)
		assert_int_equal(ram[0x101000 + i], 0); /* bss zeroed */
	assert_int_equal(ram[0x100100], 0xCC);           /* nothing outside the segments */
	assert_int_equal(ram[0x103000], 0xCC);
}

static void test_header_checks(void **state)
{
	(void)state;
	make_valid();
	assert_int_equal(elf_load_parse(img, 10, MEM, &info, err, sizeof(err)), -ENOEXEC);
	assert_non_null(strstr(err, "too small"));
	make_valid(); img[1] = 'X'; expect_fail(-ENOEXEC, "magic");
	make_valid(); eh()->e_ident[EI_CLASS] = ELFCLASS32; expect_fail(-ENOEXEC, "64-bit");
	make_valid(); eh()->e_ident[EI_DATA] = ELFDATA2MSB; expect_fail(-ENOEXEC, "little-endian");
	make_valid(); eh()->e_version = 7; expect_fail(-ENOEXEC, "version");
	make_valid(); eh()->e_machine = EM_AARCH64; expect_fail(-ENOEXEC, "x86-64");
	make_valid(); eh()->e_type = ET_DYN; expect_fail(-ENOEXEC, "executable");
	make_valid(); eh()->e_type = ET_REL; expect_fail(-ENOEXEC, "executable");
	make_valid(); eh()->e_ehsize = 52; expect_fail(-EINVAL, "e_ehsize");
	make_valid(); eh()->e_phnum = 0; expect_fail(-EINVAL, "no program headers");
	make_valid(); eh()->e_phnum = 65; expect_fail(-EINVAL, "too many");
	make_valid(); eh()->e_phentsize = 32; expect_fail(-EINVAL, "e_phentsize");
	make_valid(); eh()->e_phoff = IMG_SIZE - 100; expect_fail(-EINVAL, "outside");
	make_valid(); eh()->e_phoff = UINT64_MAX - 10; expect_fail(-EINVAL, "outside");
	make_valid(); ph(2)->p_type = PT_INTERP; expect_fail(-ENOEXEC, "dynamic");
}

static void test_segment_checks(void **state)
{
	(void)state;
	make_valid(); ph(1)->p_filesz = 0x3000; expect_fail(-EINVAL, "p_filesz");
	make_valid(); ph(1)->p_offset = IMG_SIZE - 8; expect_fail(-EINVAL, "outside the");
	make_valid(); ph(1)->p_offset = UINT64_MAX - 4; expect_fail(-EINVAL, "outside the");
	make_valid(); ph(1)->p_vaddr = 0x200000; expect_fail(-EINVAL, "identity");
	/* outside RAM, including wrap-around */
	make_valid(); ph(1)->p_paddr = ph(1)->p_vaddr = MEM - 0x1000; expect_fail(-ERANGE, "guest RAM");
	make_valid(); ph(1)->p_paddr = ph(1)->p_vaddr = UINT64_MAX - 0xFFF; expect_fail(-ERANGE, "guest RAM");
	make_valid(); ph(1)->p_memsz = UINT64_MAX; expect_fail(-ERANGE, "guest RAM");
	/* the hvsim setup area */
	make_valid(); ph(1)->p_paddr = ph(1)->p_vaddr = 0x7000; expect_fail(-ERANGE, "reserved");
	make_valid(); ph(1)->p_paddr = ph(1)->p_vaddr = 0x0; ph(1)->p_memsz = 0x1001; expect_fail(-ERANGE, "reserved");
	make_valid(); ph(1)->p_paddr = ph(1)->p_vaddr = 0x0; ph(1)->p_memsz = 0x1000;
	assert_int_equal(parse(), 0); /* page 0 is the guest's */
	make_valid(); ph(1)->p_paddr = ph(1)->p_vaddr = 0x8000; assert_int_equal(parse(), 0);
	/* overlap */
	make_valid(); ph(1)->p_paddr = ph(1)->p_vaddr = 0x1000FF; expect_fail(-EINVAL, "overlaps an earlier");
	make_valid(); ph(1)->p_paddr = ph(1)->p_vaddr = 0x100100; assert_int_equal(parse(), 0);
	make_valid(); ph(1)->p_paddr = ph(1)->p_vaddr = 0xFF000; ph(1)->p_memsz = 0x1001;
	expect_fail(-EINVAL, "overlaps");
	/* no loadable segment */
	make_valid(); ph(0)->p_type = PT_NOTE; ph(1)->p_type = PT_NOTE; expect_fail(-EINVAL, "no loadable");
	/* zero-size segments occupy nothing */
	make_valid(); ph(2)->p_type = PT_LOAD; ph(2)->p_paddr = 0x100000; assert_int_equal(parse(), 0);
	assert_int_equal(info.seg_count, 2);
}

static void test_entry_checks(void **state)
{
	(void)state;
	make_valid(); eh()->e_entry = 0x101004; expect_fail(-EINVAL, "entry point"); /* not X */
	make_valid(); eh()->e_entry = 0x100100; expect_fail(-EINVAL, "entry point"); /* one past */
	make_valid(); eh()->e_entry = 0x0FFFFF; expect_fail(-EINVAL, "entry point");
	make_valid(); eh()->e_entry = 0x1000FF; assert_int_equal(parse(), 0);
	/* entry in the zero-filled tail of an executable segment is refused */
	make_valid(); ph(0)->p_memsz = 0x800; eh()->e_entry = 0x100400; expect_fail(-EINVAL, "entry point");
}

static void test_copy_rechecks(void **state)
{
	(void)state;
	make_valid();
	assert_int_equal(parse(), 0);
	struct elf_load_info bad = info;
	bad.seg[1].paddr = MEM - 8;
	assert_int_equal(elf_load_copy(img, sizeof(img), &bad, ram, MEM), -ERANGE);
	bad = info;
	bad.seg[0].offset = IMG_SIZE;
	assert_int_equal(elf_load_copy(img, sizeof(img), &bad, ram, MEM), -ERANGE);
	bad = info;
	bad.seg_count = ELF_LOAD_MAX_SEGS + 1;
	assert_int_equal(elf_load_copy(img, sizeof(img), &bad, ram, MEM), -ERANGE);
	/* a smaller RAM than parsed for */
	assert_int_equal(elf_load_copy(img, sizeof(img), &info, ram, 0x100080), -ERANGE);
}

static void test_too_many_segments(void **state)
{
	(void)state;
	make_valid();
	eh()->e_phnum = ELF_LOAD_MAX_SEGS + 2;
	/* ELF_LOAD_MAX_SEGS + 1 distinct one-page segments after the text one */
	for (unsigned i = 1; i < (unsigned)ELF_LOAD_MAX_SEGS + 2; i++)
		*ph(i) = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R, .p_offset = 0,
				       .p_vaddr = 0x200000 + i * 0x1000, .p_paddr = 0x200000 + i * 0x1000,
				       .p_filesz = 0, .p_memsz = 0x1000 };
	expect_fail(-EINVAL, "loadable segments");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_loads),
		cmocka_unit_test(test_header_checks),
		cmocka_unit_test(test_segment_checks),
		cmocka_unit_test(test_entry_checks),
		cmocka_unit_test(test_copy_rechecks),
		cmocka_unit_test(test_too_many_segments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
