/*
 * Self-modifying code on hvsim's patched unicorn (tools/unicorn-patches/0002, docs/hvsim.md):
 * a write to a page that holds translated code is seen - through the virtual address the code
 * runs at and through an NX alias of the page - also when the page took writes before its
 * first block was translated (those writes take unicorn's fast path since the patch). On the
 * released library the alias case runs the stale block.
 * Each case runs without hooks and with hooks shaped like hvsim's (a block hook, and a fault
 * hook bounded to addresses above RAM).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <unicorn/unicorn.h>

#define RAM_SIZE 0x400000ull
#define PML4 0x10000ull
#define PDPT 0x11000ull
#define PD 0x12000ull
#define PT 0x13000ull  /* identity, 4 KiB pages, 0..2 MiB */
#define PT2 0x14000ull /* 0x200000: an NX alias of CODEPG */
#define PROG 0x2000ull
#define CODEPG 0x5000ull
#define ALIAS 0x200000ull
#define STACK 0x9000ull

#define PTE_P 1ull
#define PTE_RW 2ull
#define PTE_NX (1ull << 63)

/*
 * 1. write "mov eax, 3; ret" into CODEPG (no code there yet), call it     -> ebx
 * 2. patch its immediate to 4 through the same address, call it          -> ecx
 * 3. through the NX alias: a store to a data byte of the page, then the
 *    immediate to 5, call it through the executable address             -> edx
 */
static const uint8_t prog[] = {
	0x48, 0xBF, 0x00, 0x50, 0, 0, 0, 0, 0, 0, /* mov rdi, CODEPG */
	0xC7, 0x07, 0xB8, 0x03, 0x00, 0x00,       /* mov dword [rdi], 0x000003B8 */
	0x66, 0xC7, 0x47, 0x04, 0x00, 0xC3,       /* mov word [rdi+4], 0xC300 */
	0xFF, 0xD7,                               /* call rdi */
	0x89, 0xC3,                               /* mov ebx, eax */
	0xC6, 0x47, 0x01, 0x04,                   /* mov byte [rdi+1], 4 */
	0xFF, 0xD7,                               /* call rdi */
	0x89, 0xC1,                               /* mov ecx, eax */
	0x48, 0xBE, 0x00, 0x00, 0x20, 0, 0, 0, 0, 0, /* mov rsi, ALIAS */
	0xC6, 0x86, 0x00, 0x08, 0x00, 0x00, 0x01, /* mov byte [rsi+0x800], 1 */
	0xC6, 0x46, 0x01, 0x05,                   /* mov byte [rsi+1], 5 */
	0xFF, 0xD7,                               /* call rdi */
	0x89, 0xC2,                               /* mov edx, eax */
	0xF4,                                     /* hlt */
};

static void on_block(uc_engine *uc, uint64_t addr, uint32_t size, void *user)
{
	(void)uc;
	(void)addr;
	(void)size;
	(*(unsigned *)user)++;
}

static bool on_fault(uc_engine *uc, uc_mem_type type, uint64_t addr, int size, int64_t value,
		     void *user)
{
	(void)uc;
	(void)type;
	(void)addr;
	(void)size;
	(void)value;
	(void)user;
	return false;
}

static void put64(uc_engine *uc, uint64_t gpa, uint64_t v)
{
	assert_int_equal(uc_mem_write(uc, gpa, &v, 8), UC_ERR_OK);
}

static void run_case(bool hooks)
{
	uc_engine *uc;
	assert_int_equal(uc_open(UC_ARCH_X86, UC_MODE_64, &uc), UC_ERR_OK);
	assert_int_equal(uc_mem_map(uc, 0, RAM_SIZE, UC_PROT_ALL), UC_ERR_OK);
	put64(uc, PML4, PDPT | PTE_P | PTE_RW);
	put64(uc, PDPT, PD | PTE_P | PTE_RW);
	put64(uc, PD, PT | PTE_P | PTE_RW);
	put64(uc, PD + 8, PT2 | PTE_P | PTE_RW);
	for (uint64_t i = 0; i < 512; i++)
		put64(uc, PT + 8 * i, (i << 12) | PTE_P | PTE_RW);
	put64(uc, PT2, CODEPG | PTE_P | PTE_RW | PTE_NX);
	assert_int_equal(uc_mem_write(uc, PROG, prog, sizeof(prog)), UC_ERR_OK);

	uint64_t v = 0x20; /* CR4.PAE */
	uc_reg_write(uc, UC_X86_REG_CR4, &v);
	v = PML4;
	uc_reg_write(uc, UC_X86_REG_CR3, &v);
	uc_x86_msr efer = { 0xC0000080, 0xD00 }; /* LME, LMA, NXE */
	uc_reg_write(uc, UC_X86_REG_MSR, &efer);
	v = 0x80010033; /* PG, WP, NE, ET, MP, PE */
	uc_reg_write(uc, UC_X86_REG_CR0, &v);
	v = STACK;
	uc_reg_write(uc, UC_X86_REG_RSP, &v);

	unsigned blocks = 0;
	uc_hook h;
	if (hooks) {
		assert_int_equal(uc_hook_add(uc, &h, UC_HOOK_BLOCK, (void *)on_block, &blocks, 1, 0),
				 UC_ERR_OK);
		assert_int_equal(uc_hook_add(uc, &h, UC_HOOK_MEM_UNMAPPED, (void *)on_fault, NULL,
					     RAM_SIZE, ~0ull),
				 UC_ERR_OK);
	}
	assert_int_equal(uc_emu_start(uc, PROG, 0, 0, 0), UC_ERR_OK);
	uint64_t rip, rbx, rcx, rdx;
	uc_reg_read(uc, UC_X86_REG_RIP, &rip);
	uc_reg_read(uc, UC_X86_REG_RBX, &rbx);
	uc_reg_read(uc, UC_X86_REG_RCX, &rcx);
	uc_reg_read(uc, UC_X86_REG_RDX, &rdx);
	assert_int_equal(rip, PROG + sizeof(prog)); /* stopped by the HLT */
	assert_int_equal(rbx, 3); /* code written before the page had any */
	assert_int_equal(rcx, 4); /* the page's first block armed write tracking again */
	assert_int_equal(rdx, 5); /* a write through the NX alias is seen too */
	if (hooks)
		assert_true(blocks > 0);
	uc_close(uc);
}

static void test_smc_no_hooks(void **state)
{
	(void)state;
	run_case(false);
}

static void test_smc_hvsim_hooks(void **state)
{
	(void)state;
	run_case(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smc_no_hooks),
		cmocka_unit_test(test_smc_hvsim_hooks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
