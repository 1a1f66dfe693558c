/*
 * linux_boot_test: bzImage parsing (a synthetic image built here, every rejection path, and a
 * Debian kernel from /boot when there is one), VTL0 layouts for several memory maps, the
 * boot_params bytes (header copy, loader fields, E820), the identity page tables, the GDT and
 * the entry registers.
 */
#include <errno.h>
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vtl2/linux_boot.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define PG 4096ull

/* ---- a synthetic bzImage ---- */

#define SETUP_SECTS 4
#define KERNEL_LEN (64 * 1024)
#define IMG_LEN ((SETUP_SECTS + 1) * 512 + KERNEL_LEN)

static uint8_t img[IMG_LEN + 4096];

static struct x86_boot_setup_header *hdr(void)
{
	return (struct x86_boot_setup_header *)(img + LINUX_BOOT_SETUP_HDR_OFF);
}

static void make_image(void)
{
	memset(img, 0, sizeof(img));
	for (size_t i = 0; i < sizeof(img); i++)
		img[i] = (uint8_t)(i * 13 + 7);
	memset(img + LINUX_BOOT_SETUP_HDR_OFF, 0, sizeof(struct x86_boot_setup_header));
	struct x86_boot_setup_header *h = hdr();
	h->setup_sects = SETUP_SECTS;
	h->syssize = KERNEL_LEN / 16;
	h->boot_flag = 0xAA55;
	h->jump = 0x6AEB; /* EB 6A: header ends at 0x202 + 0x6A = 0x26C */
	h->header = 0x53726448;
	h->version = 0x020F;
	h->type_of_loader = 0;
	h->loadflags = LINUX_BOOT_LOADED_HIGH;
	h->code32_start = 0x100000;
	h->initrd_addr_max = 0x7FFFFFFF;
	h->kernel_alignment = 0x200000;
	h->relocatable_kernel = 1;
	h->min_alignment = 21;
	h->xloadflags = LINUX_BOOT_XLF_KERNEL_64 | LINUX_BOOT_XLF_ABOVE_4G;
	h->cmdline_size = 2047;
	h->pref_address = 0x1000000;
	h->init_size = 0x2000000;
	h->handover_offset = 0x190;
	h->kernel_info_offset = 0x1234;
}

static int parse(size_t len, struct linux_boot_image *im, char *err)
{
	err[0] = '\0';
	int rc = linux_boot_parse(img, len, im, err, 200);
	if (rc)
		assert_true(err[0] != '\0');
	return rc;
}

static void test_parse_ok(void **state)
{
	(void)state;
	struct linux_boot_image im;
	char err[200];
	make_image();
	assert_int_equal(parse(IMG_LEN, &im, err), 0);
	assert_int_equal(im.version, 0x020F);
	assert_int_equal(im.setup_size, (SETUP_SECTS + 1) * 512);
	assert_int_equal(im.header_end, 0x26C);
	assert_int_equal(im.kernel_offset, (SETUP_SECTS + 1) * 512);
	assert_int_equal(im.kernel_len, KERNEL_LEN);
	assert_int_equal(im.syssize, KERNEL_LEN / 16);
	assert_int_equal(im.kernel_alignment, 0x200000);
	assert_true(im.relocatable);
	assert_int_equal(im.pref_address, 0x1000000);
	assert_int_equal(im.init_size, 0x2000000);
	assert_int_equal(im.cmdline_size, 2047);
	assert_int_equal(im.initrd_addr_max, 0x7FFFFFFF);
	assert_int_equal(im.xloadflags & LINUX_BOOT_XLF_KERNEL_64, LINUX_BOOT_XLF_KERNEL_64);

	/* setup_sects 0 means 4. */
	hdr()->setup_sects = 0;
	assert_int_equal(parse(IMG_LEN, &im, err), 0);
	assert_int_equal(im.setup_size, 5 * 512);
	/* Trailing bytes past syssize are part of the kernel (loaded too). */
	make_image();
	assert_int_equal(parse(IMG_LEN + 100, &im, err), 0);
	assert_int_equal(im.kernel_len, KERNEL_LEN + 100);
	/* A protocol 2.12 header (ends after init_size/handover_offset at 0x268). */
	make_image();
	hdr()->version = 0x020C;
	hdr()->jump = 0x66EB;
	assert_int_equal(parse(IMG_LEN, &im, err), 0);
	assert_int_equal(im.header_end, 0x268);
}

static void test_parse_truncated(void **state)
{
	(void)state;
	struct linux_boot_image im;
	char err[200];
	make_image();
	/* Every length that cuts the header or leaves too few kernel bytes is refused. */
	for (size_t len = 0; len < IMG_LEN; len += (len < 0x300 ? 1 : 97)) {
		int rc = parse(len, &im, err);
		assert_true(rc == -EINVAL || rc == -ENOEXEC);
	}
	assert_int_equal(linux_boot_parse(NULL, IMG_LEN, &im, err, sizeof(err)), -EINVAL);
	assert_int_equal(linux_boot_parse(img, IMG_LEN, NULL, err, sizeof(err)), -EINVAL);
	/* err may be NULL. */
	assert_int_equal(linux_boot_parse(img, 10, &im, NULL, 0), -EINVAL);
}

static void test_parse_bad_magic(void **state)
{
	(void)state;
	struct linux_boot_image im;
	char err[200];
	make_image();
	hdr()->header = 0x53726449;
	assert_int_equal(parse(IMG_LEN, &im, err), -ENOEXEC);
	assert_non_null(strstr(err, "header"));
	make_image();
	hdr()->boot_flag = 0x55AA;
	assert_int_equal(parse(IMG_LEN, &im, err), -ENOEXEC);
	make_image();
	hdr()->loadflags = 0; /* zImage */
	assert_int_equal(parse(IMG_LEN, &im, err), -ENOEXEC);
	assert_non_null(strstr(err, "bzImage"));
}

static void test_parse_old_version(void **state)
{
	(void)state;
	struct linux_boot_image im;
	char err[200];
	make_image();
	hdr()->version = 0x020B;
	assert_int_equal(parse(IMG_LEN, &im, err), -ENOTSUP);
	assert_non_null(strstr(err, "2.11"));
	hdr()->version = 0x0100;
	assert_int_equal(parse(IMG_LEN, &im, err), -ENOTSUP);
}

static void test_parse_no_64bit_entry(void **state)
{
	(void)state;
	struct linux_boot_image im;
	char err[200];
	make_image();
	hdr()->xloadflags = LINUX_BOOT_XLF_ABOVE_4G;
	assert_int_equal(parse(IMG_LEN, &im, err), -ENOEXEC);
	assert_non_null(strstr(err, "64-bit"));
}

static void test_parse_absurd_fields(void **state)
{
	(void)state;
	struct linux_boot_image im;
	char err[200];

	make_image();
	hdr()->setup_sects = 200; /* 100 KiB of real-mode code */
	assert_int_equal(parse(IMG_LEN, &im, err), -EINVAL);
	assert_non_null(strstr(err, "setup_sects"));
	make_image();
	hdr()->setup_sects = 63; /* 32 KiB: the limit, but more than the file has left for a kernel */
	assert_int_equal(parse(0x8000, &im, err), -EINVAL);
	make_image();
	hdr()->setup_sects = 1; /* the smallest setup: 1 KiB, still past the header */
	assert_int_equal(parse(IMG_LEN, &im, err), 0);
	assert_int_equal(im.kernel_offset, 1024);
	assert_int_equal(im.kernel_len, IMG_LEN - 1024);

	make_image();
	hdr()->syssize = KERNEL_LEN / 16 + 1;
	assert_int_equal(parse(IMG_LEN, &im, err), -EINVAL);
	assert_non_null(strstr(err, "syssize"));
	hdr()->syssize = 0xFFFFFFFF;
	assert_int_equal(parse(IMG_LEN, &im, err), -EINVAL);
	hdr()->syssize = 0;
	assert_int_equal(parse(IMG_LEN, &im, err), -EINVAL);

	const uint32_t bad_align[] = { 0, 1, 0x100, 3 * 4096, 0x80000000 };
	for (unsigned i = 0; i < sizeof(bad_align) / sizeof(bad_align[0]); i++) {
		make_image();
		hdr()->kernel_alignment = bad_align[i];
		assert_int_equal(parse(IMG_LEN, &im, err), -EINVAL);
	}
	make_image();
	hdr()->init_size = 0;
	assert_int_equal(parse(IMG_LEN, &im, err), -EINVAL);
	make_image();
	hdr()->pref_address = 0x1000001;
	assert_int_equal(parse(IMG_LEN, &im, err), -EINVAL);
	hdr()->pref_address = UINT64_MAX & ~0xFFFull;
	assert_int_equal(parse(IMG_LEN, &im, err), -EINVAL);

	/* Header end from the jump byte: too short for init_size, or past the header area. */
	make_image();
	hdr()->jump = 0x50EB;
	assert_int_equal(parse(IMG_LEN, &im, err), -EINVAL);
	hdr()->jump = 0xF0EB;
	assert_int_equal(parse(IMG_LEN, &im, err), -EINVAL);
}

/* ---- layout ---- */

static const char *const CMDLINE = "console=ttyS0 earlyprintk=serial panic=-1";

static void check_invariants(const struct linux_boot_layout *l, const struct linux_boot_config *c)
{
	/* Pieces: inside RAM, page-aligned where the protocol wants it, disjoint, off reserved
	   memory, below 1 MiB never, inside the identity map. */
	for (unsigned i = 0; i < l->piece_count; i++) {
		const struct linux_boot_piece *p = &l->pieces[i];
		uint64_t a = p->gpa.v, e = a + p->len;
		assert_true(p->len > 0);
		assert_true(a >= LINUX_BOOT_LOW_LIMIT);
		assert_true(e <= l->identity_top);
		bool in_ram = false;
		for (unsigned r = 0; r < c->ram_count; r++)
			if (c->ram[r].base.v <= a && e <= c->ram[r].base.v + c->ram[r].size)
				in_ram = true;
		if (!in_ram) /* may span adjacent RAM ranges: check page by page */
			for (uint64_t q = a & ~(PG - 1); q < e; q += PG) {
				bool ok = false;
				for (unsigned r = 0; r < c->ram_count; r++)
					if (c->ram[r].base.v <= q && q + PG <= c->ram[r].base.v + c->ram[r].size)
						ok = true;
				assert_true(ok);
			}
		for (unsigned r = 0; r < c->reserved_count; r++)
			assert_false(a < c->reserved[r].base.v + c->reserved[r].size && c->reserved[r].base.v < e);
		for (unsigned j = 0; j < i; j++) {
			const struct linux_boot_piece *q = &l->pieces[j];
			assert_false(a < q->gpa.v + q->len && q->gpa.v < e);
		}
	}
	/* The kernel's whole span is free of the other pieces. */
	for (unsigned i = 1; i < l->piece_count; i++) {
		const struct linux_boot_piece *p = &l->pieces[i];
		assert_false(p->gpa.v < l->kernel.v + l->kernel_span && l->kernel.v < p->gpa.v + p->len);
	}
	/* E820: sorted, disjoint, RAM or reserved. */
	assert_true(l->e820_count >= 1 && l->e820_count <= LINUX_BOOT_E820_MAX);
	for (unsigned i = 0; i < l->e820_count; i++) {
		assert_true(l->e820[i].size > 0);
		assert_true(l->e820[i].type == 1 || l->e820[i].type == 2);
		if (i)
			assert_true(l->e820[i - 1].addr + l->e820[i - 1].size <= l->e820[i].addr);
	}
	const struct x86_boot_params *bp = (const void *)l->boot_params_bytes;
	assert_int_equal(bp->e820_entries, l->e820_count);
	assert_memory_equal(bp->e820_table, l->e820, l->e820_count * 20);
	assert_int_equal(bp->sentinel, 0);
}

/* Translate through the layout's page tables (read from their piece) as the CPU would. */
static uint64_t walk(const struct linux_boot_layout *l, uint64_t va)
{
	const uint64_t *t = (const uint64_t *)l->page_table_bytes;
	uint64_t base = l->page_tables.v;
	uint64_t e = t[(va >> 39) & 511];
	if (!(e & 1))
		return UINT64_MAX;
	uint64_t pdpt = (e & 0x000FFFFFFFFFF000ull) - base;
	assert_true(pdpt < l->page_tables_len);
	e = t[pdpt / 8 + ((va >> 30) & 511)];
	if (!(e & 1))
		return UINT64_MAX;
	uint64_t pd = (e & 0x000FFFFFFFFFF000ull) - base;
	assert_true(pd < l->page_tables_len);
	e = t[pd / 8 + ((va >> 21) & 511)];
	if (!(e & 1))
		return UINT64_MAX;
	assert_true(e & 0x80); /* 2 MiB pages */
	assert_true(e & 0x2);  /* writable */
	return (e & 0x000FFFFFFFE00000ull) | (va & 0x1FFFFF);
}

static const struct linux_boot_piece *piece(const struct linux_boot_layout *l, const char *what)
{
	for (unsigned i = 0; i < l->piece_count; i++)
		if (!strcmp(l->pieces[i].what, what))
			return &l->pieces[i];
	return NULL;
}

static struct linux_boot_layout *layout_of(const struct linux_boot_config *c, int want, char *err)
{
	struct linux_boot_image im;
	struct linux_boot_layout *l = calloc(1, sizeof(*l));
	assert_non_null(l);
	assert_int_equal(linux_boot_parse(img, IMG_LEN, &im, err, 200), 0);
	err[0] = '\0';
	int rc = linux_boot_layout(&im, img, IMG_LEN, c, l, err, 200);
	if (rc != want)
		fprintf(stderr, "layout: rc %d (%s), wanted %d\n", rc, err, want);
	assert_int_equal(rc, want);
	if (rc) {
		assert_true(err[0] != '\0');
		free(l);
		return NULL;
	}
	check_invariants(l, c);
	return l;
}

static void test_layout_basic(void **state)
{
	(void)state;
	char err[200];
	static const uint8_t initrd[5000] = { 1, 2, 3 };
	make_image();
	const struct partition_mem ram[] = { { gpa(0), 256 * MiB } };
	const struct partition_mem res[] = {
		{ gpa(0xE0000), 0x20000 },          /* ACPI tables in the legacy area */
		{ gpa(192 * MiB), 16 * MiB },       /* VTL2 memory */
	};
	struct linux_boot_config c = {
		.ram = ram, .ram_count = 1, .reserved = res, .reserved_count = 2,
		.cmdline = CMDLINE, .initrd = initrd, .initrd_size = sizeof(initrd),
		.acpi_rsdp = gpa(0xE0000),
	};
	struct linux_boot_layout *l = layout_of(&c, 0, err);

	assert_int_equal(l->kernel.v, 0x1000000); /* pref_address */
	assert_int_equal(l->kernel_span, 0x2000000);
	/* Initrd as high as fits: just below 256 MiB (VTL2 memory sits lower). */
	assert_int_equal(l->initrd.v, 256 * MiB - 2 * PG);
	/* Loader block: lowest fit above 1 MiB. */
	assert_int_equal(l->loader.v, 1 * MiB);
	assert_int_equal(l->page_tables.v, 1 * MiB);
	assert_int_equal(l->identity_top, 1 * GiB);
	assert_int_equal(l->page_tables_len, 3 * PG);
	assert_int_equal(l->piece_count, 6);

	const struct linux_boot_piece *k = piece(l, "kernel");
	assert_non_null(k);
	assert_ptr_equal(k->bytes, img + 5 * 512);
	assert_int_equal(k->len, KERNEL_LEN);
	const struct linux_boot_piece *cl = piece(l, "cmdline");
	assert_non_null(cl);
	assert_int_equal(cl->len, strlen(CMDLINE) + 1);
	assert_string_equal((const char *)cl->bytes, CMDLINE);
	assert_int_equal(cl->gpa.v, l->cmdline.v);
	const struct linux_boot_piece *ir = piece(l, "initrd");
	assert_non_null(ir);
	assert_ptr_equal(ir->bytes, initrd);
	assert_int_equal(ir->len, sizeof(initrd));

	/* E820: low RAM, legacy hole + ACPI reserved, RAM, VTL2 reserved, RAM. */
	assert_int_equal(l->e820_count, 5);
	const struct x86_boot_e820_entry want[] = {
		{ 0, 0xA0000, 1 },
		{ 0xA0000, 0x60000, 2 },
		{ 1 * MiB, 191 * MiB, 1 },
		{ 192 * MiB, 16 * MiB, 2 },
		{ 208 * MiB, 48 * MiB, 1 },
	};
	assert_memory_equal(l->e820, want, sizeof(want));

	/* boot_params: the header as in the image except the loader's fields. */
	const struct x86_boot_params *bp = (const void *)l->boot_params_bytes;
	struct x86_boot_setup_header h;
	memcpy(&h, img + LINUX_BOOT_SETUP_HDR_OFF, sizeof(h));
	h.type_of_loader = 0xFF;
	h.loadflags = LINUX_BOOT_LOADED_HIGH;
	h.code32_start = 0x1000000;
	h.cmd_line_ptr = (uint32_t)l->cmdline.v;
	h.ramdisk_image = (uint32_t)l->initrd.v;
	h.ramdisk_size = sizeof(initrd);
	assert_memory_equal(&bp->hdr, &h, sizeof(h));
	assert_int_equal(l->boot_params_bytes[0x210], 0xFF);
	assert_int_equal(l->boot_params_bytes[0x211], 0x01);
	uint32_t v32;
	memcpy(&v32, l->boot_params_bytes + 0x228, 4);
	assert_int_equal(v32, l->cmdline.v);
	memcpy(&v32, l->boot_params_bytes + 0x218, 4);
	assert_int_equal(v32, l->initrd.v);
	memcpy(&v32, l->boot_params_bytes + 0x21C, 4);
	assert_int_equal(v32, sizeof(initrd));
	uint64_t v64;
	memcpy(&v64, l->boot_params_bytes + 0x070, 8);
	assert_int_equal(v64, 0xE0000);
	assert_int_equal(l->boot_params_bytes[0x1E8], 5);
	memcpy(&v64, l->boot_params_bytes + 0x2D0 + 20 * 3, 8);
	assert_int_equal(v64, 192 * MiB);
	/* Everything outside the header, loader fields and E820 is zero. */
	for (unsigned i = 0; i < 4096; i++) {
		bool named = (i >= 0x070 && i < 0x078) || (i >= 0x0C0 && i < 0x0CC) || i == 0x1E8 ||
			     (i >= 0x1F1 && i < 0x26C) || (i >= 0x2D0 && i < 0x2D0 + 5 * 20);
		if (!named)
			assert_int_equal(l->boot_params_bytes[i], 0);
	}

	/* The identity map covers kernel + init_size, boot_params, command line, initrd. */
	const uint64_t probes[] = { l->kernel.v, l->kernel.v + l->kernel_span - 1, l->boot_params.v,
				    l->cmdline.v, l->initrd.v + sizeof(initrd) - 1, l->gdt.v, 0, GiB - 1 };
	for (unsigned i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		assert_int_equal(walk(l, probes[i]), probes[i]);
	assert_int_equal(walk(l, GiB), UINT64_MAX);

	/* GDT: 0x10 flat 64-bit code, 0x18 flat data. */
	uint64_t gdt[4];
	memcpy(gdt, l->gdt_bytes, sizeof(gdt));
	assert_int_equal(gdt[0], 0);
	assert_int_equal((gdt[2] >> 53) & 1, 1);       /* L */
	assert_int_equal((gdt[2] >> 40) & 0x9E, 0x9A); /* P, S, code, readable */
	assert_int_equal((gdt[3] >> 40) & 0x9A, 0x92); /* P, S, data, writable */
	assert_int_equal(gdt[3] & 0xFFFF, 0xFFFF);
	assert_int_equal((gdt[3] >> 55) & 1, 1);       /* G: 4 GiB */

	/* Registers. */
	const struct linux_boot_regs *r = &l->regs;
	assert_int_equal(r->rip, 0x1000200);
	assert_int_equal(r->rsi, l->boot_params.v);
	assert_int_equal(r->rflags & 0x200, 0); /* IF = 0 */
	assert_int_equal(r->cr3, l->page_tables.v);
	assert_int_equal(r->cr0 & 0x80000001, 0x80000001);
	assert_int_equal(r->cr4 & 0x20, 0x20);
	assert_int_equal(r->efer & 0x500, 0x500);
	assert_int_equal(r->cs.selector, LINUX_BOOT_CS);
	assert_true(r->cs.attributes & HV_X64_SEG_ATTR_L);
	assert_int_equal(r->ds.selector, LINUX_BOOT_DS);
	assert_int_equal(r->es.selector, LINUX_BOOT_DS);
	assert_int_equal(r->ss.selector, LINUX_BOOT_DS);
	assert_int_equal(r->gdtr.base, l->gdt.v);
	assert_int_equal(r->gdtr.limit, 31);
	assert_int_equal(r->rsp, l->stack_top.v);
	assert_int_equal(r->tr.attributes & 0xF, 0xB);
	free(l);
}

static void test_layout_relocate(void **state)
{
	(void)state;
	char err[200];
	make_image();
	/* pref_address is VTL2 memory: a relocatable kernel goes to the next aligned free spot. */
	const struct partition_mem ram[] = { { gpa(0), 512 * MiB } };
	const struct partition_mem res[] = { { gpa(15 * MiB), 4 * MiB + 1 } };
	struct linux_boot_config c = { .ram = ram, .ram_count = 1, .reserved = res, .reserved_count = 1,
				       .cmdline = "" };
	struct linux_boot_layout *l = layout_of(&c, 0, err);
	assert_int_equal(l->kernel.v, 20 * MiB); /* 2 MiB multiple above the page-rounded 19 MiB + 4 KiB */
	assert_int_equal(l->initrd.v, 0);
	assert_null(piece(l, "initrd"));
	assert_int_equal(piece(l, "cmdline")->len, 1);
	assert_int_equal(l->boot_params_bytes[0x218], 0);
	free(l);

	/* Not relocatable: pref_address or nothing. */
	hdr()->relocatable_kernel = 0;
	assert_null(layout_of(&c, -ENOSPC, err));
	assert_non_null(strstr(err, "relocatable"));

	/* pref_address 0 with a relocatable kernel: lowest aligned fit. */
	make_image();
	hdr()->pref_address = 0;
	c.reserved_count = 0;
	l = layout_of(&c, 0, err);
	assert_int_equal(l->kernel.v, 2 * MiB);
	/* The loader block then fits below 2 MiB. */
	assert_int_equal(l->loader.v, 1 * MiB);
	free(l);
}

static void test_layout_split_map(void **state)
{
	(void)state;
	char err[200];
	static const uint8_t initrd[1];
	make_image();
	/* Unsorted, with a gap below 1 MiB, adjacent ranges and RAM above 4 GiB. */
	const struct partition_mem ram[] = {
		{ gpa(4 * GiB), 2 * GiB },
		{ gpa(1 * MiB), 1023 * MiB },
		{ gpa(0), 640 * 1024 },
		{ gpa(1 * GiB), 2 * GiB },
	};
	const struct partition_mem res[] = { { gpa(0xFEC00000), 0x1000 } }; /* outside RAM */
	struct linux_boot_config c = { .ram = ram, .ram_count = 4, .reserved = res, .reserved_count = 1,
				       .cmdline = CMDLINE, .initrd = initrd, .initrd_size = 3 * MiB + 1 };
	struct linux_boot_layout *l = layout_of(&c, 0, err);
	assert_int_equal(l->kernel.v, 16 * MiB);
	/* Highest page-aligned fit ending at or below initrd_addr_max + 1 = 2 GiB. */
	assert_int_equal(l->initrd.v, 2 * GiB - 3 * MiB - PG);
	assert_int_equal(l->identity_top, 2 * GiB);
	assert_int_equal(walk(l, 2 * GiB - 1), 2 * GiB - 1);
	const struct x86_boot_e820_entry want[] = {
		{ 0, 640 * 1024, 1 },
		{ 1 * MiB, 3 * GiB - 1 * MiB, 1 },
		{ 0xFEC00000, 0x1000, 2 },
		{ 4 * GiB, 2 * GiB, 1 },
	};
	assert_int_equal(l->e820_count, 4);
	assert_memory_equal(l->e820, want, sizeof(want));
	free(l);

	/* A lower initrd_addr_max moves the initrd down. */
	hdr()->initrd_addr_max = 0x37FFFFFF;
	l = layout_of(&c, 0, err);
	assert_int_equal(l->initrd.v, 0x38000000 - 3 * MiB - PG);
	free(l);
}

static void test_layout_initrd_limits(void **state)
{
	(void)state;
	char err[200];
	static const uint8_t initrd[1];
	make_image();
	const struct partition_mem ram[] = { { gpa(0), 64 * MiB } };
	struct linux_boot_config c = { .ram = ram, .ram_count = 1, .initrd = initrd };

	c.initrd_size = 0x80000001ull; /* > initrd_addr_max + 1 */
	assert_null(layout_of(&c, -EFBIG, err));
	assert_non_null(strstr(err, "initrd"));
	c.initrd_size = 40 * MiB; /* the kernel owns 16..48 MiB */
	assert_null(layout_of(&c, -ENOSPC, err));
	assert_non_null(strstr(err, "initrd"));
	c.initrd_size = 16 * MiB; /* exactly 48..64 MiB */
	struct linux_boot_layout *l = layout_of(&c, 0, err);
	assert_int_equal(l->initrd.v, 48 * MiB);
	free(l);
	/* The initrd must end at or below initrd_addr_max + 1. */
	hdr()->initrd_addr_max = 56 * MiB - 1;
	assert_null(layout_of(&c, -ENOSPC, err));
	c.initrd_size = 8 * MiB;
	l = layout_of(&c, 0, err);
	assert_int_equal(l->initrd.v, 48 * MiB);
	free(l);
	/* Size without bytes. */
	c.initrd = NULL;
	assert_null(layout_of(&c, -EINVAL, err));
}

static void test_layout_cmdline(void **state)
{
	(void)state;
	char err[200];
	char longline[6000];
	make_image();
	const struct partition_mem ram[] = { { gpa(0), 64 * MiB } };
	struct linux_boot_config c = { .ram = ram, .ram_count = 1 };

	hdr()->cmdline_size = 16;
	c.cmdline = "0123456789abcdef";
	struct linux_boot_layout *l = layout_of(&c, 0, err);
	assert_int_equal(piece(l, "cmdline")->len, 17);
	free(l);
	c.cmdline = "0123456789abcdefg";
	assert_null(layout_of(&c, -E2BIG, err));
	assert_non_null(strstr(err, "cmdline_size"));

	/* A command line longer than a page gets pages enough. */
	hdr()->cmdline_size = 8192;
	memset(longline, 'x', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	c.cmdline = longline;
	l = layout_of(&c, 0, err);
	assert_int_equal(piece(l, "cmdline")->len, sizeof(longline));
	assert_true(l->loader_len >= LINUX_BOOT_PT_MAX_BYTES + 3 * PG + 2 * PG);
	free(l);
	/* NULL is the empty line. */
	c.cmdline = NULL;
	l = layout_of(&c, 0, err);
	assert_int_equal(piece(l, "cmdline")->len, 1);
	free(l);
}

static void test_layout_bad_maps(void **state)
{
	(void)state;
	char err[200];
	make_image();
	struct linux_boot_config c = { 0 };
	assert_null(layout_of(&c, -EINVAL, err)); /* no RAM */

	const struct partition_mem overlap[] = { { gpa(0), 64 * MiB }, { gpa(32 * MiB), 64 * MiB } };
	c = (struct linux_boot_config){ .ram = overlap, .ram_count = 2 };
	assert_null(layout_of(&c, -EINVAL, err));
	assert_non_null(strstr(err, "overlap"));

	const struct partition_mem unaligned[] = { { gpa(0x800), 64 * MiB } };
	c = (struct linux_boot_config){ .ram = unaligned, .ram_count = 1 };
	assert_null(layout_of(&c, -EINVAL, err));
	const struct partition_mem wraps[] = { { gpa(UINT64_MAX & ~0xFFFull), 2 * PG } };
	c = (struct linux_boot_config){ .ram = wraps, .ram_count = 1 };
	assert_null(layout_of(&c, -EINVAL, err));
	const struct partition_mem empty[] = { { gpa(0), 0 } };
	c = (struct linux_boot_config){ .ram = empty, .ram_count = 1 };
	assert_null(layout_of(&c, -EINVAL, err));

	const struct partition_mem ram[] = { { gpa(0), 64 * MiB } };
	const struct partition_mem badres[] = { { gpa(UINT64_MAX), 2 } };
	c = (struct linux_boot_config){ .ram = ram, .ram_count = 1, .reserved = badres, .reserved_count = 1 };
	assert_null(layout_of(&c, -EINVAL, err));
	c.reserved_count = LINUX_BOOT_MAX_RANGES + 1;
	assert_null(layout_of(&c, -EINVAL, err));

	/* Too small for the kernel at all, or only RAM above 4 GiB. */
	const struct partition_mem small[] = { { gpa(0), 32 * MiB } };
	c = (struct linux_boot_config){ .ram = small, .ram_count = 1 };
	assert_null(layout_of(&c, -ENOSPC, err));
	const struct partition_mem high[] = { { gpa(0), 640 * 1024 }, { gpa(4 * GiB), 4 * GiB } };
	c = (struct linux_boot_config){ .ram = high, .ram_count = 2 };
	assert_null(layout_of(&c, -ENOSPC, err));
	/* Room for the kernel but none for the loader block. */
	const struct partition_mem tight[] = { { gpa(16 * MiB), 32 * MiB } };
	c = (struct linux_boot_config){ .ram = tight, .ram_count = 1 };
	assert_null(layout_of(&c, -ENOSPC, err));
	assert_non_null(strstr(err, "loader"));

	/* An image that is not the parsed one. */
	struct linux_boot_image im;
	struct linux_boot_layout *l = calloc(1, sizeof(*l));
	c = (struct linux_boot_config){ .ram = ram, .ram_count = 1 };
	assert_int_equal(linux_boot_parse(img, IMG_LEN, &im, err, sizeof(err)), 0);
	assert_int_equal(linux_boot_layout(&im, img, IMG_LEN - 1, &c, l, err, sizeof(err)), -EINVAL);
	im.header_end = 0x1000;
	assert_int_equal(linux_boot_layout(&im, img, IMG_LEN, &c, l, err, sizeof(err)), -EINVAL);
	free(l);
}

static void test_e820(void **state)
{
	(void)state;
	char err[200];
	struct x86_boot_e820_entry e[LINUX_BOOT_E820_MAX];
	unsigned n = 0;

	/* Adjacent RAM merges; reserved overlapping reserved and RAM edges; hole only where RAM. */
	const struct partition_mem ram[] = { { gpa(0x1000), 0x7F000 }, { gpa(0x80000), 0x80000 },
					     { gpa(2 * MiB), 2 * MiB } };
	const struct partition_mem res[] = { { gpa(0xFF000), 0x2000 }, { gpa(0x180000), 0x100 },
					     { gpa(3 * MiB), 2 * MiB }, { gpa(4 * MiB - 0x10), 0x20 } };
	struct linux_boot_config c = { .ram = ram, .ram_count = 3, .reserved = res, .reserved_count = 4 };
	assert_int_equal(linux_boot_e820(&c, e, &n, err, sizeof(err)), 0);
	const struct x86_boot_e820_entry want[] = {
		{ 0x1000, 0x9F000, 1 },
		{ 0xA0000, 0x60000 + 0x1000, 2 },  /* hole, then reserved 0xFF000..0x101000 */
		{ 0x180000, 0x100, 2 },            /* outside RAM */
		{ 2 * MiB, 1 * MiB, 1 },
		{ 3 * MiB, 2 * MiB, 2 },
	};
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	assert_memory_equal(e, want, sizeof(want));

	/* More than 128 entries. */
	static struct partition_mem many_ram[LINUX_BOOT_MAX_RANGES], many_res[LINUX_BOOT_MAX_RANGES];
	for (unsigned i = 0; i < LINUX_BOOT_MAX_RANGES; i++) {
		many_ram[i] = (struct partition_mem){ gpa(16 * MiB + i * 4 * MiB), 2 * MiB };
		many_res[i] = (struct partition_mem){ gpa(16 * MiB + i * 4 * MiB + MiB), PG };
	}
	c = (struct linux_boot_config){ .ram = many_ram, .ram_count = LINUX_BOOT_MAX_RANGES,
					.reserved = many_res, .reserved_count = LINUX_BOOT_MAX_RANGES };
	assert_int_equal(linux_boot_e820(&c, e, &n, err, sizeof(err)), -E2BIG);
	assert_non_null(strstr(err, "128"));
	c.reserved_count = 20; /* 20 * 3 + 44 = 104 entries */
	assert_int_equal(linux_boot_e820(&c, e, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 104);
	c.ram_count = LINUX_BOOT_MAX_RANGES + 1;
	assert_int_equal(linux_boot_e820(&c, e, &n, err, sizeof(err)), -EINVAL);
	assert_int_equal(linux_boot_e820(NULL, e, &n, err, sizeof(err)), -EINVAL);
	assert_int_equal(linux_boot_e820(&c, NULL, &n, err, sizeof(err)), -EINVAL);
}

/* A Debian kernel, when the machine has one: parse it and lay it out. */
static void test_debian_kernel(void **state)
{
	(void)state;
	glob_t g;
	if (glob("/boot/vmlinuz-*", 0, NULL, &g) != 0 || g.gl_pathc == 0) {
		printf("linux_boot_test: no /boot/vmlinuz-* on this machine; skipping the real-kernel parse\n");
		skip();
	}
	for (size_t i = 0; i < g.gl_pathc; i++) {
		FILE *f = fopen(g.gl_pathv[i], "rb");
		if (!f) {
			printf("linux_boot_test: cannot read %s; skipped\n", g.gl_pathv[i]);
			continue;
		}
		fseek(f, 0, SEEK_END);
		long n = ftell(f);
		fseek(f, 0, SEEK_SET);
		uint8_t *buf = malloc((size_t)n);
		assert_non_null(buf);
		assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
		fclose(f);
		struct linux_boot_image im;
		char err[200] = "";
		int rc = linux_boot_parse(buf, (size_t)n, &im, err, sizeof(err));
		if (rc)
			printf("linux_boot_test: %s: %s\n", g.gl_pathv[i], err);
		assert_int_equal(rc, 0);
		printf("linux_boot_test: %s: protocol %u.%02u, setup_sects %u, %llu kernel bytes, "
		       "pref 0x%llx, align 0x%x, init_size 0x%x, reloc %d, xloadflags 0x%x, "
		       "cmdline_size %u, initrd_addr_max 0x%x\n",
		       g.gl_pathv[i], im.version >> 8, im.version & 0xFF, im.setup_sects,
		       (unsigned long long)im.kernel_len, (unsigned long long)im.pref_address,
		       im.kernel_alignment, im.init_size, im.relocatable, im.xloadflags, im.cmdline_size,
		       im.initrd_addr_max);
		const struct partition_mem ram[] = { { gpa(0), 1 * GiB } };
		struct linux_boot_config c = { .ram = ram, .ram_count = 1, .cmdline = CMDLINE };
		struct linux_boot_layout *l = calloc(1, sizeof(*l));
		assert_non_null(l);
		assert_int_equal(linux_boot_layout(&im, buf, (size_t)n, &c, l, err, sizeof(err)), 0);
		check_invariants(l, &c);
		printf("linux_boot_test: laid out at 0x%llx, boot_params 0x%llx\n",
		       (unsigned long long)l->kernel.v, (unsigned long long)l->boot_params.v);
		free(l);
		free(buf);
	}
	globfree(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_truncated),
		cmocka_unit_test(test_parse_bad_magic),
		cmocka_unit_test(test_parse_old_version),
		cmocka_unit_test(test_parse_no_64bit_entry),
		cmocka_unit_test(test_parse_absurd_fields),
		cmocka_unit_test(test_layout_basic),
		cmocka_unit_test(test_layout_relocate),
		cmocka_unit_test(test_layout_split_map),
		cmocka_unit_test(test_layout_initrd_limits),
		cmocka_unit_test(test_layout_cmdline),
		cmocka_unit_test(test_layout_bad_maps),
		cmocka_unit_test(test_e820),
		cmocka_unit_test(test_debian_kernel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
