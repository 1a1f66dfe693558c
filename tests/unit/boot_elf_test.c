/*
 * boot_elf_test: the real freestanding artefacts under unicorn (the patched 2.1.4 hvsim uses):
 *   mezz-shim.elf         loaded at its PT_LOAD addresses with the fixture's params page, a GDT
 *                         and identity tables as the image builds them, entered in 64-bit mode
 *                         with RSI = params and RSP = 0 and .bss dirtied (the shim zeroes it):
 *                         it must reach kernel.gpa + 0x200 with RSI = boot_params, its own CR3,
 *                         FS base on its canary block, the stage lines on COM1 (\r\n) and in
 *                         the log buffer, and boot_params/DTB in guest memory as the hosted
 *                         code builds them; with a bad memory map it must print the named
 *                         error and halt.
 *   mezz-tdx-reset.bin    at 0xFFFFF000 with its fields patched, started at 0xFFFFFFF0 in
 *                         32-bit protected mode, paging off: it must reach the entry in 64-bit
 *                         mode with RSI = params and the entry CR0/CR4/CR3/EFER.
 * Paths come from the build (BOOT_SHIM_ELF, BOOT_TDX_RESET).
 */
#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <unicorn/unicorn.h>

#include "tests/unit/boot_fixture.h"

#ifndef BOOT_SHIM_ELF
#error "BOOT_SHIM_ELF: path of mezz-shim.elf (boot/module.mk)"
#endif

struct run {
	char com[32768];
	size_t ncom;
	bool at_kernel;
	uint64_t rip, rsi, cr3, fs_base;
	char log[BF_LOG_SIZE];
	struct x86_boot_params bp;
	uint8_t dtb[0x10000];
};

static uint32_t hook_in(uc_engine *uc, uint32_t port, int size, void *u)
{
	(void)uc;
	(void)size;
	(void)u;
	return port == 0x3FD ? 0x20 : 0; /* LSR: THR empty */
}

static void hook_out(uc_engine *uc, uint32_t port, int size, uint32_t v, void *u)
{
	(void)uc;
	(void)size;
	struct run *r = u;
	if (port == 0x3F8 && r->ncom < sizeof(r->com) - 1)
		r->com[r->ncom++] = (char)v;
}

static void hook_stop(uc_engine *uc, uint64_t addr, uint32_t size, void *u)
{
	(void)addr;
	(void)size;
	*(bool *)u = true;
	uc_emu_stop(uc);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		fail_msg("cannot open %s (built by `make`)", path);
	uint8_t *buf = malloc(1 << 20);
	assert_non_null(buf);
	*len = fread(buf, 1, 1 << 20, fp);
	fclose(fp);
	return buf;
}

/* GDT and [0, 4 GiB) identity tables as the image builder lays them out. */
static void entry_tables(uc_engine *uc, uint64_t vtl2)
{
	static const uint64_t gdt[5] = { 0, 0, 0x00AF9A000000FFFFull, 0x00CF92000000FFFFull,
					 0x00CF9A000000FFFFull };
	assert_int_equal(uc_mem_write(uc, vtl2 + MEZZ_SHIM_OFF_GDT, gdt, sizeof(gdt)), UC_ERR_OK);
	static uint64_t pt[6][512];
	memset(pt, 0, sizeof(pt));
	pt[0][0] = (vtl2 + 0x3000) | 3;
	for (int g = 0; g < 4; g++) {
		pt[1][g] = (vtl2 + 0x4000 + (uint64_t)g * 0x1000) | 3;
		for (int j = 0; j < 512; j++)
			pt[2 + g][j] = ((uint64_t)g << 30 | (uint64_t)j << 21) | 0x83;
	}
	assert_int_equal(uc_mem_write(uc, vtl2 + MEZZ_SHIM_OFF_PT, pt, sizeof(pt)), UC_ERR_OK);
}

static void run_shim(struct bf *f, struct run *r)
{
	size_t elen;
	uint8_t *elf = slurp(BOOT_SHIM_ELF, &elen);
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)elf;
	assert_true(elen >= sizeof(*eh) && memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0);
	assert_int_equal(eh->e_type, ET_EXEC);
	uc_engine *uc;
	assert_int_equal(uc_open(UC_ARCH_X86, UC_MODE_64, &uc), UC_ERR_OK);
	assert_int_equal(uc_mem_map(uc, BF_VTL2, BF_VTL2_SIZE, UC_PROT_ALL), UC_ERR_OK);
	uint64_t lo = ~0ull, hi = 0;
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *ph = (const Elf64_Phdr *)(elf + eh->e_phoff + i * eh->e_phentsize);
		assert_int_equal(ph->p_type, PT_LOAD); /* PT_LOAD only */
		assert_true(ph->p_offset + ph->p_filesz <= elen);
		/* .bss is dirty: the shim must zero it itself. */
		uint8_t *junk = malloc(ph->p_memsz);
		memset(junk, 0xA5, ph->p_memsz);
		memcpy(junk, elf + ph->p_offset, ph->p_filesz);
		assert_int_equal(uc_mem_write(uc, ph->p_paddr, junk, ph->p_memsz), UC_ERR_OK);
		free(junk);
		lo = ph->p_paddr < lo ? ph->p_paddr : lo;
		hi = ph->p_paddr + ph->p_memsz > hi ? ph->p_paddr + ph->p_memsz : hi;
	}
	f->p.shim = (struct mezz_shim_range){ lo, hi - lo };
	assert_true(shim_range_inside(lo, hi - lo, BF_SHIM, BF_SHIM_SIZE));
	assert_int_equal(uc_mem_write(uc, BF_VTL2, &f->p, sizeof(f->p)), UC_ERR_OK);
	entry_tables(uc, BF_VTL2);
	uc_mem_write(uc, BF_DT, f->dt, sizeof(f->dt));
	uc_mem_write(uc, BF_MM, f->mm, sizeof(f->mm));
	uc_mem_write(uc, BF_CL, f->cl, sizeof(f->cl));
	uc_mem_write(uc, BF_VP, f->vp, sizeof(f->vp));
	uc_mem_write(uc, BF_SETUP, f->setup, sizeof(f->setup));
	static const uint8_t hlt[16] = { 0xF4, 0xF4, 0xF4, 0xF4 };
	uc_mem_write(uc, BF_KERNEL + 0x200, hlt, sizeof(hlt));

	uc_x86_mmr gdtr = { 0, BF_VTL2 + MEZZ_SHIM_OFF_GDT, MEZZ_SHIM_GDT_LIMIT, 0 };
	uc_reg_write(uc, UC_X86_REG_GDTR, &gdtr);
	uint64_t v = 0x620;
	uc_reg_write(uc, UC_X86_REG_CR4, &v);
	v = BF_VTL2 + MEZZ_SHIM_OFF_PT;
	uc_reg_write(uc, UC_X86_REG_CR3, &v);
	uc_x86_msr efer = { 0xC0000080, 0xD01 };
	uc_reg_write(uc, UC_X86_REG_MSR, &efer);
	v = 0x80010033;
	uc_reg_write(uc, UC_X86_REG_CR0, &v);
	v = BF_VTL2;
	uc_reg_write(uc, UC_X86_REG_RSI, &v);
	v = 0;
	uc_reg_write(uc, UC_X86_REG_RSP, &v);
	v = 2;
	uc_reg_write(uc, UC_X86_REG_RFLAGS, &v);

	uc_hook h1, h2, h3;
	uc_hook_add(uc, &h1, UC_HOOK_INSN, (void *)hook_in, r, 1, 0, UC_X86_INS_IN);
	uc_hook_add(uc, &h2, UC_HOOK_INSN, (void *)hook_out, r, 1, 0, UC_X86_INS_OUT);
	uc_hook_add(uc, &h3, UC_HOOK_CODE, (void *)hook_stop, &r->at_kernel, BF_KERNEL + 0x200,
		    BF_KERNEL + 0x200);
	uc_err e = uc_emu_start(uc, eh->e_entry, 0, 0, 100000000);
	if (e != UC_ERR_OK)
		fail_msg("unicorn: %s; COM so far:\n%s", uc_strerror(e), r->com);
	uc_reg_read(uc, UC_X86_REG_RIP, &r->rip);
	uc_reg_read(uc, UC_X86_REG_RSI, &r->rsi);
	uc_reg_read(uc, UC_X86_REG_CR3, &r->cr3);
	uc_reg_read(uc, UC_X86_REG_FS_BASE, &r->fs_base);
	uc_mem_read(uc, BF_LOG, r->log, sizeof(r->log));
	if (r->at_kernel) {
		uc_mem_read(uc, r->rsi, &r->bp, sizeof(r->bp));
		uc_mem_read(uc, r->bp.hdr.setup_data + 16, r->dtb, sizeof(r->dtb));
		/* The canary block: FS base inside the shim, canary non-zero. */
		uint64_t canary = 0;
		uc_mem_read(uc, r->fs_base + 0x28, &canary, 8);
		assert_true(canary != 0 && canary != 0xA5A5A5A5A5A5A5A5ull);
	}
	uc_close(uc);
	free(elf);
}

static void test_shim_boots(void **state)
{
	(void)state;
	struct bf *f = bf_new();
	struct run *r = calloc(1, sizeof(*r));
	run_shim(f, r);
	if (!r->at_kernel)
		fail_msg("did not reach the kernel (rip 0x%llx); COM:\n%s",
			 (unsigned long long)r->rip, r->com);
	/* The same inputs through the hosted code give the same results. */
	struct bf *h = bf_new();
	h->p.shim = f->p.shim;
	if (bf_prepare(h))
		fail_msg("hosted prepare: %s", h->err);
	assert_int_equal(r->rip, BF_KERNEL + 0x200);
	assert_int_equal(r->rsi, h->boot.boot_params_gpa);
	assert_int_equal(r->cr3, h->boot.cr3);
	assert_true(shim_range_inside(r->fs_base, 0x40, f->p.shim.gpa, f->p.shim.size));
	assert_memory_equal(&r->bp, bf_heap_at(h, h->boot.boot_params_gpa), sizeof(r->bp));
	assert_int_equal(fdt_check_full(r->dtb, sizeof(r->dtb)), 0);
	assert_memory_equal(r->dtb, bf_heap_at(h, h->boot.dtb_gpa), h->boot.dtb_len);
	/* COM1 and the log buffer. */
	assert_non_null(strstr(r->com, "mezz-shim: start, params at 0x10000000"));
	assert_non_null(strstr(r->com, "mezz-shim: e820: 4 entries\r\n"));
	assert_non_null(strstr(r->com, "mezz-shim: jumping to kernel at 0x10200200 boot_params "
				       "0x1002a000 e820 [0x0000000010000000-0x0000000010069fff] 2"));
	assert_non_null(strstr(r->com, "cmdline \"console=ttyS0 panic=-1 host_param=1\"\r\n"));
	assert_non_null(strstr(r->log, "mezz-shim: memory map: 4 entries, VTL2 RAM "
				       "[0x10000000,0x12000000), VTL0 RAM 2 ranges\n"));
	assert_non_null(strstr(r->log, "mezz-shim: cr3 0x"));
	assert_null(strchr(r->log, '\r'));
	free(r);
	free(h);
	free(f);
}

static void test_shim_halts_on_error(void **state)
{
	(void)state;
	struct bf *f = bf_new();
	bf_mm_entry(f->mm, 2, 0, 0x1000, 0);
	struct run *r = calloc(1, sizeof(*r));
	run_shim(f, r);
	assert_false(r->at_kernel);
	const char *want = "mezz-shim: error: memory map: entry 2 [0x0,0x1000) below entry 1 "
			   "(not sorted)";
	if (!strstr(r->com, want) || !strstr(r->log, want))
		fail_msg("no \"%s\"; COM:\n%s", want, r->com);
	/* Stopped on the halt loop inside the shim. */
	assert_true(shim_range_inside(r->rip, 1, f->p.shim.gpa, f->p.shim.size));
	/* A bad params page: the error goes to COM1 only (no trusted log buffer yet). */
	bf_init(f);
	f->p.reserved1[1] = 7;
	memset(r, 0, sizeof(*r));
	run_shim(f, r);
	assert_false(r->at_kernel);
	assert_non_null(strstr(r->com, "mezz-shim: error: params: reserved field 1 is not zero"));
	assert_int_equal(r->log[0], '\0');
	free(r);
	free(f);
}

static void test_tdx_reset(void **state)
{
	(void)state;
	size_t len;
	uint8_t *page = slurp(BOOT_TDX_RESET, &len);
	assert_int_equal(len, 4096);
	/* The builder's fields are zero in the file. */
	for (unsigned i = MEZZ_TDX_RESET_OFF_CR3; i < MEZZ_TDX_RESET_OFF_ENTRY + 8; i++)
		assert_int_equal(page[i], 0);
	const uint64_t vtl2 = BF_VTL2, entry = BF_SHIM;
	uint32_t cr3 = (uint32_t)(vtl2 + MEZZ_SHIM_OFF_PT);
	uint16_t lim = MEZZ_SHIM_GDT_LIMIT;
	uint32_t base = (uint32_t)(vtl2 + MEZZ_SHIM_OFF_GDT);
	memcpy(page + MEZZ_TDX_RESET_OFF_CR3, &cr3, 4);
	memcpy(page + MEZZ_TDX_RESET_OFF_GDTR, &lim, 2);
	memcpy(page + MEZZ_TDX_RESET_OFF_GDTR + 2, &base, 4);
	memcpy(page + MEZZ_TDX_RESET_OFF_PARAMS, &vtl2, 8);
	memcpy(page + MEZZ_TDX_RESET_OFF_ENTRY, &entry, 8);
	/* unicorn's 32-bit mode is the x86-64 CPU in protected mode: it can enter long mode. */
	uc_engine *uc;
	assert_int_equal(uc_open(UC_ARCH_X86, UC_MODE_32, &uc), UC_ERR_OK);
	assert_int_equal(uc_mem_map(uc, MEZZ_TDX_RESET_GPA, 0x1000, UC_PROT_ALL), UC_ERR_OK);
	uc_mem_write(uc, MEZZ_TDX_RESET_GPA, page, 4096);
	assert_int_equal(uc_mem_map(uc, vtl2, 0x200000, UC_PROT_ALL), UC_ERR_OK);
	entry_tables(uc, vtl2);
	static const uint8_t hlt = 0xF4;
	uc_mem_write(uc, entry, &hlt, 1);
	/* A flat 32-bit CS (the image GDT's 0x20) stands in for TDX's initial flat segments. */
	uc_x86_mmr gdtr = { 0, vtl2 + MEZZ_SHIM_OFF_GDT, MEZZ_SHIM_GDT_LIMIT, 0 };
	uc_reg_write(uc, UC_X86_REG_GDTR, &gdtr);
	uint64_t v = 0x40; /* CR4.MCE as TDX starts: must survive */
	uc_reg_write(uc, UC_X86_REG_CR4, &v);
	v = 0x31;
	uc_reg_write(uc, UC_X86_REG_CR0, &v);
	v = MEZZ_SHIM_GDT_CS32;
	uc_reg_write(uc, UC_X86_REG_CS, &v);
	v = MEZZ_SHIM_GDT_DS;
	uc_reg_write(uc, UC_X86_REG_DS, &v);
	uc_reg_write(uc, UC_X86_REG_SS, &v);
	bool hit = false;
	uc_hook h;
	uc_hook_add(uc, &h, UC_HOOK_CODE, (void *)hook_stop, &hit, entry, entry);
	uc_err e = uc_emu_start(uc, 0xFFFFFFF0, 0, 0, 10000);
	assert_int_equal(e, UC_ERR_OK);
	assert_true(hit);
	uint64_t eip = 0, esi = 0, cr0 = 0, cr4 = 0, cr3r = 0, cs = 0;
	uc_x86_msr ef = { 0xC0000080, 0 };
	uc_reg_read(uc, UC_X86_REG_EIP, &eip);
	uc_reg_read(uc, UC_X86_REG_ESI, &esi);
	uc_reg_read(uc, UC_X86_REG_CR0, &cr0);
	uc_reg_read(uc, UC_X86_REG_CR4, &cr4);
	uc_reg_read(uc, UC_X86_REG_CR3, &cr3r);
	uc_reg_read(uc, UC_X86_REG_CS, &cs);
	uc_reg_read(uc, UC_X86_REG_MSR, &ef);
	assert_int_equal(eip, entry);
	assert_int_equal(esi, vtl2);
	assert_int_equal(cr0, 0x80010033);
	assert_int_equal(cr4, 0x660);
	assert_int_equal(cr3r, cr3);
	assert_int_equal(cs & 0xFFFF, MEZZ_SHIM_GDT_CS);
	assert_int_equal(ef.value, 0xD01);
	uc_close(uc);
	free(page);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shim_boots),
		cmocka_unit_test(test_shim_halts_on_error),
		cmocka_unit_test(test_tdx_reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
