/*
 * Fuzz target: vtl2/linux_boot.c. Input = 128 control bytes (memory map, reserved ranges,
 * command line length, initrd size) followed by the bzImage bytes. Parse must never crash and
 * must say why it refuses; an accepted image with a layout must satisfy the placement
 * invariants: every piece in RAM, off reserved memory, above 1 MiB, disjoint, clear of the
 * kernel's init_size span, identity mapped; E820 sorted and disjoint; boot_params consistent.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vtl2/linux_boot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CTRL 128
#define NR 8

static struct linux_boot_layout lay;
static char cmdline[4097];

static void need(int cond)
{
	if (!cond)
		abort();
}

static void check_err(int rc, const char *err, const int *ok, unsigned nok)
{
	bool known = false;
	for (unsigned i = 0; i < nok; i++)
		known |= rc == ok[i];
	need(known);
	need(err[0] != '\0' && memchr(err, '\0', 200) != NULL);
}

static uint64_t walk(const struct linux_boot_layout *l, uint64_t va)
{
	const uint64_t *t = (const uint64_t *)l->page_table_bytes;
	uint64_t e = t[(va >> 39) & 511];
	if (!(e & 1))
		return UINT64_MAX;
	uint64_t off = (e & 0x000FFFFFFFFFF000ull) - l->page_tables.v;
	need(off < l->page_tables_len);
	e = t[off / 8 + ((va >> 30) & 511)];
	if (!(e & 1))
		return UINT64_MAX;
	off = (e & 0x000FFFFFFFFFF000ull) - l->page_tables.v;
	need(off < l->page_tables_len);
	e = t[off / 8 + ((va >> 21) & 511)];
	if (!(e & 1) || !(e & 0x80))
		return UINT64_MAX;
	return (e & 0x000FFFFFFFE00000ull) | (va & 0x1FFFFF);
}

static bool in_ram(const struct partition_mem *ram, unsigned n, uint64_t a, uint64_t e)
{
	/* Range by range: adjacent RAM ranges count as one. */
	for (uint64_t q = a; q < e;) {
		uint64_t next = q;
		for (unsigned r = 0; r < n; r++)
			if (ram[r].base.v <= q && q < ram[r].base.v + ram[r].size)
				next = ram[r].base.v + ram[r].size;
		if (next == q)
			return false;
		q = next;
	}
	return true;
}

static void check_layout(const struct linux_boot_image *im, const struct linux_boot_config *c)
{
	const struct linux_boot_layout *l = &lay;
	need(l->piece_count >= 5 && l->piece_count <= LINUX_BOOT_MAX_PIECES);
	need(!(l->kernel.v & (im->kernel_alignment - 1)) || (!im->relocatable && l->kernel.v == im->pref_address));
	need(l->kernel_span >= im->init_size && l->kernel_span >= im->kernel_len);
	need(in_ram(c->ram, c->ram_count, l->kernel.v, l->kernel.v + l->kernel_span));
	for (unsigned i = 0; i < l->piece_count; i++) {
		const struct linux_boot_piece *p = &l->pieces[i];
		uint64_t a = p->gpa.v, e = a + p->len;
		need(p->len > 0 && e > a);
		need(a >= LINUX_BOOT_LOW_LIMIT && e <= l->identity_top && l->identity_top <= LINUX_BOOT_PLACE_LIMIT);
		need(in_ram(c->ram, c->ram_count, a, e));
		for (unsigned r = 0; r < c->reserved_count; r++)
			need(!(a < c->reserved[r].base.v + c->reserved[r].size && c->reserved[r].base.v < e));
		for (unsigned j = 0; j < i; j++)
			need(!(a < l->pieces[j].gpa.v + l->pieces[j].len && l->pieces[j].gpa.v < e));
		if (i)
			need(!(a < l->kernel.v + l->kernel_span && l->kernel.v < e));
		need(walk(l, a) == a && walk(l, e - 1) == e - 1);
	}
	if (c->initrd_size) {
		need(!(l->initrd.v & 0xFFF));
		need(l->initrd.v + c->initrd_size - 1 <= im->initrd_addr_max);
	}
	for (unsigned i = 0; i < l->e820_count; i++) {
		need(l->e820[i].size > 0 && (l->e820[i].type == 1 || l->e820[i].type == 2));
		if (i)
			need(l->e820[i - 1].addr + l->e820[i - 1].size <= l->e820[i].addr);
	}
	const struct x86_boot_params *bp = (const void *)l->boot_params_bytes;
	need(bp->e820_entries == l->e820_count && bp->sentinel == 0);
	need(bp->hdr.type_of_loader == 0xFF && bp->hdr.cmd_line_ptr == (uint32_t)l->cmdline.v);
	need(bp->hdr.ramdisk_size == (uint32_t)c->initrd_size && bp->hdr.ramdisk_image == (uint32_t)l->initrd.v);
	need(l->regs.rip == l->kernel.v + 0x200 && l->regs.rsi == l->boot_params.v && l->regs.cr3 == l->page_tables.v);
	need(walk(l, l->regs.rip) == l->regs.rip && walk(l, l->regs.rsp - 8) == l->regs.rsp - 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t ctl[CTRL] = { 0 };
	memcpy(ctl, data, size < CTRL ? size : CTRL);
	const uint8_t *img = size > CTRL ? data + CTRL : NULL;
	size_t len = size > CTRL ? size - CTRL : 0;

	struct linux_boot_image im;
	char err[200] = "";
	int rc = linux_boot_parse(img ? img : ctl, len, &im, err, sizeof(err));
	if (rc) {
		static const int ok[] = { -EINVAL, -ENOEXEC, -ENOTSUP };
		check_err(rc, err, ok, 3);
		if (img == NULL)
			return 0;
	}

	/* Memory map: RAM base/size in pages (adjacent and overlapping ranges happen), reserved
	   ranges at byte granularity. */
	struct partition_mem ram[NR], res[NR];
	unsigned nram = 1 + ctl[0] % NR, nres = ctl[1] % (NR + 1);
	const uint8_t *p = ctl + 16;
	for (unsigned i = 0; i < NR; i++, p += 7) {
		uint32_t b;
		memcpy(&b, p, 4);
		uint32_t s = p[4] | p[5] << 8 | (uint32_t)p[6] << 16;
		ram[i] = (struct partition_mem){ gpa((uint64_t)(b & 0x3FFFFF) << 12), (uint64_t)s << 12 };
	}
	if (ctl[2] & 1) /* a common shape: RAM from 0 */
		ram[0].base = gpa(0);
	for (unsigned i = 0; i < NR; i++, p += 7) {
		uint32_t b;
		memcpy(&b, p, 4);
		uint32_t s = p[4] | p[5] << 8 | (uint32_t)p[6] << 16;
		res[i] = (struct partition_mem){ gpa((uint64_t)b << 8), (uint64_t)s << 6 };
	}
	uint16_t clen;
	memcpy(&clen, ctl + 4, 2);
	clen %= sizeof(cmdline);
	memset(cmdline, 'c', clen);
	cmdline[clen] = '\0';
	uint32_t isz;
	memcpy(&isz, ctl + 6, 4);
	struct linux_boot_config c = {
		.ram = ram, .ram_count = nram, .reserved = res, .reserved_count = nres,
		.cmdline = cmdline, .initrd = ctl, .initrd_size = (uint64_t)isz << (ctl[10] % 13),
		.acpi_rsdp = gpa(0xE0000),
	};

	struct x86_boot_e820_entry e820[LINUX_BOOT_E820_MAX];
	unsigned n;
	err[0] = '\0';
	rc = linux_boot_e820(&c, e820, &n, err, sizeof(err));
	if (rc) {
		static const int ok[] = { -EINVAL, -E2BIG };
		check_err(rc, err, ok, 2);
	}
	if (!img || linux_boot_parse(img, len, &im, err, sizeof(err)) != 0)
		return 0;

	err[0] = '\0';
	rc = linux_boot_layout(&im, img, len, &c, &lay, err, sizeof(err));
	if (rc) {
		static const int ok[] = { -EINVAL, -E2BIG, -EFBIG, -ENOSPC };
		check_err(rc, err, ok, 4);
		return 0;
	}
	check_layout(&im, &c);
	return 0;
}
