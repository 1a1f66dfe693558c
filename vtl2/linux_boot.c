/* linux_boot: see linux_boot.h. */
#include "vtl2/linux_boot.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vtl2/errbuf.h"

#define PG ADDR_PAGE_SIZE
#define HDR(f) (LINUX_BOOT_SETUP_HDR_OFF + offsetof(struct x86_boot_setup_header, f))

/* Setup header offsets: boot.rst "The Real-Mode Kernel Header" table. */
_Static_assert(HDR(setup_sects) == 0x1F1, "boot.rst: setup_sects at 0x1F1");
_Static_assert(HDR(syssize) == 0x1F4, "boot.rst: syssize at 0x1F4");
_Static_assert(HDR(boot_flag) == 0x1FE, "boot.rst: boot_flag at 0x1FE");
_Static_assert(HDR(jump) == 0x200, "boot.rst: jump at 0x200");
_Static_assert(HDR(header) == 0x202, "boot.rst: header magic at 0x202");
_Static_assert(HDR(version) == 0x206, "boot.rst: version at 0x206");
_Static_assert(HDR(type_of_loader) == 0x210, "boot.rst: type_of_loader at 0x210");
_Static_assert(HDR(loadflags) == 0x211, "boot.rst: loadflags at 0x211");
_Static_assert(HDR(code32_start) == 0x214, "boot.rst: code32_start at 0x214");
_Static_assert(HDR(ramdisk_image) == 0x218, "boot.rst: ramdisk_image at 0x218");
_Static_assert(HDR(ramdisk_size) == 0x21C, "boot.rst: ramdisk_size at 0x21C");
_Static_assert(HDR(heap_end_ptr) == 0x224, "boot.rst: heap_end_ptr at 0x224");
_Static_assert(HDR(cmd_line_ptr) == 0x228, "boot.rst: cmd_line_ptr at 0x228");
_Static_assert(HDR(initrd_addr_max) == 0x22C, "boot.rst: initrd_addr_max at 0x22C");
_Static_assert(HDR(kernel_alignment) == 0x230, "boot.rst: kernel_alignment at 0x230");
_Static_assert(HDR(relocatable_kernel) == 0x234, "boot.rst: relocatable_kernel at 0x234");
_Static_assert(HDR(xloadflags) == 0x236, "boot.rst: xloadflags at 0x236");
_Static_assert(HDR(cmdline_size) == 0x238, "boot.rst: cmdline_size at 0x238");
_Static_assert(HDR(setup_data) == 0x250, "boot.rst: setup_data at 0x250");
_Static_assert(HDR(pref_address) == 0x258, "boot.rst: pref_address at 0x258");
_Static_assert(HDR(init_size) == 0x260, "boot.rst: init_size at 0x260");
_Static_assert(HDR(kernel_info_offset) == 0x268, "boot.rst: kernel_info_offset at 0x268");
/* The last field parse reads: a header must reach it (2.12 headers end after 0x267). */
#define HDR_MIN_END (HDR(init_size) + 4)

/* boot_params offsets: zero-page.rst table. */
_Static_assert(offsetof(struct x86_boot_params, acpi_rsdp_addr) == 0x070, "zero-page.rst: acpi_rsdp_addr at 0x070");
_Static_assert(offsetof(struct x86_boot_params, ext_ramdisk_image) == 0x0C0, "zero-page.rst: ext_ramdisk_image at 0x0C0");
_Static_assert(offsetof(struct x86_boot_params, ext_ramdisk_size) == 0x0C4, "zero-page.rst: ext_ramdisk_size at 0x0C4");
_Static_assert(offsetof(struct x86_boot_params, ext_cmd_line_ptr) == 0x0C8, "zero-page.rst: ext_cmd_line_ptr at 0x0C8");
_Static_assert(offsetof(struct x86_boot_params, e820_entries) == 0x1E8, "zero-page.rst: e820_entries at 0x1E8");
_Static_assert(offsetof(struct x86_boot_params, sentinel) == 0x1EF, "zero-page.rst: sentinel at 0x1EF");
_Static_assert(offsetof(struct x86_boot_params, hdr) == LINUX_BOOT_SETUP_HDR_OFF, "zero-page.rst: hdr at 0x1F1");
_Static_assert(offsetof(struct x86_boot_params, e820_table) == 0x2D0, "zero-page.rst: e820_table at 0x2D0");
_Static_assert(sizeof(struct x86_boot_e820_entry) == 20, "zero-page.rst: boot_e820_entry is 20 bytes");
_Static_assert(0x2D0 + LINUX_BOOT_E820_MAX * 20 <= 0xD00, "zero-page.rst: e820_table ends before eddbuf (0xD00)");
_Static_assert(sizeof(struct x86_boot_params) == 4096, "zero-page.rst: boot_params is one page");
_Static_assert(LINUX_BOOT_SETUP_HDR_OFF + sizeof(struct x86_boot_setup_header) <= LINUX_BOOT_HDR_END_MAX,
	       "the setup header ends before edd_mbr_sig_buffer (0x290)");

/* x86 paging and descriptor bits (Intel SDM vol. 3, 4.5 and 3.4.5). */
#define PTE_P   0x001ull
#define PTE_RW  0x002ull
#define PTE_A   0x020ull   /* pre-set so the walker never has to write the tables */
#define PTE_D   0x040ull
#define PTE_PS  0x080ull
#define CR0_PE  0x00000001ull
#define CR0_ET  0x00000010ull
#define CR0_NE  0x00000020ull
#define CR0_PG  0x80000000ull
#define CR4_PAE 0x00000020ull
#define EFER_LME 0x100ull
#define EFER_LMA 0x400ull
/* Flat 4 GiB descriptors: code = exec/read accessed, L=1, G=1; data = read/write accessed,
   D/B=1, G=1 (the protocol asks for "4G flat" __BOOT_CS exec/read and __BOOT_DS read/write). */
#define GDT_CODE64 0x00AF9B000000FFFFull
#define GDT_DATA   0x00CF93000000FFFFull
#define ATTR_CODE64 (0xBu | HV_X64_SEG_ATTR_S | HV_X64_SEG_ATTR_P | HV_X64_SEG_ATTR_L | HV_X64_SEG_ATTR_G)
#define ATTR_DATA   (0x3u | HV_X64_SEG_ATTR_S | HV_X64_SEG_ATTR_P | HV_X64_SEG_ATTR_DB | HV_X64_SEG_ATTR_G)
#define ATTR_LDT    (0x2u | HV_X64_SEG_ATTR_P)
#define ATTR_TSS64_BUSY (0xBu | HV_X64_SEG_ATTR_P)

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }
static uint64_t align_down(uint64_t v, uint64_t a) { return v & ~(a - 1); }
static bool is_pow2(uint64_t v) { return v && !(v & (v - 1)); }

int linux_boot_parse(const uint8_t *img, size_t len, struct linux_boot_image *out, char *err,
		     size_t errlen)
{
	struct x86_boot_setup_header h;

	if (!img || !out)
		return errbuf_set(err, errlen, -EINVAL, "bzImage: no image");
	memset(out, 0, sizeof(*out));
	if (len < 0x202 + 1)
		return errbuf_set(err, errlen, -EINVAL, "bzImage: %zu bytes is too short for a setup header", len);
	uint32_t hdr_end = 0x202u + img[0x201];
	if (hdr_end > len)
		return errbuf_set(err, errlen, -EINVAL, "bzImage: setup header ends at 0x%x, past the file (%zu bytes)",
				  hdr_end, len);
	/* Read only what the file has: a short header leaves later fields 0. */
	memset(&h, 0, sizeof(h));
	size_t avail = hdr_end - LINUX_BOOT_SETUP_HDR_OFF;
	memcpy(&h, img + LINUX_BOOT_SETUP_HDR_OFF, avail < sizeof(h) ? avail : sizeof(h));

	if (h.boot_flag != LINUX_BOOT_BOOT_FLAG || h.header != LINUX_BOOT_HDR_MAGIC)
		return errbuf_set(err, errlen, -ENOEXEC, "bzImage: no boot protocol header (boot_flag 0x%04x, magic 0x%08x)",
				  h.boot_flag, h.header);
	if (h.version < LINUX_BOOT_MIN_VERSION)
		return errbuf_set(err, errlen, -ENOTSUP, "bzImage: boot protocol %u.%02u, 64-bit direct boot needs 2.12",
				  h.version >> 8, h.version & 0xFF);
	if (hdr_end < HDR_MIN_END || hdr_end > LINUX_BOOT_HDR_END_MAX)
		return errbuf_set(err, errlen, -EINVAL, "bzImage: setup header end 0x%x outside [0x%x, 0x%x]",
				  hdr_end, (unsigned)HDR_MIN_END, LINUX_BOOT_HDR_END_MAX);
	if (!(h.loadflags & LINUX_BOOT_LOADED_HIGH))
		return errbuf_set(err, errlen, -ENOEXEC, "bzImage: loadflags 0x%02x: not a bzImage (LOADED_HIGH clear)",
				  h.loadflags);
	if (!(h.xloadflags & LINUX_BOOT_XLF_KERNEL_64))
		return errbuf_set(err, errlen, -ENOEXEC, "bzImage: xloadflags 0x%04x: no 64-bit entry (XLF_KERNEL_64)",
				  h.xloadflags);

	unsigned sects = h.setup_sects ? h.setup_sects : 4; /* 0 means 4 (boot.rst setup_sects) */
	uint32_t setup_size = (sects + 1) * 512u;
	if (setup_size > LINUX_BOOT_SETUP_MAX)
		return errbuf_set(err, errlen, -EINVAL, "bzImage: setup_sects %u: real-mode code of %u bytes exceeds 0x%x",
				  h.setup_sects, setup_size, LINUX_BOOT_SETUP_MAX);
	_Static_assert(2 * 512 >= LINUX_BOOT_HDR_END_MAX, "the smallest setup holds the whole header");
	if (setup_size >= len)
		return errbuf_set(err, errlen, -EINVAL, "bzImage: setup (%u bytes) leaves no kernel in a %zu-byte file",
				  setup_size, len);
	uint64_t kernel_len = len - setup_size;
	if (h.syssize == 0 || (uint64_t)h.syssize * 16 > kernel_len)
		return errbuf_set(err, errlen, -EINVAL, "bzImage: syssize %u paragraphs (%llu bytes) vs %llu kernel bytes in the file",
				  h.syssize, (unsigned long long)h.syssize * 16, (unsigned long long)kernel_len);
	if (!is_pow2(h.kernel_alignment) || h.kernel_alignment < PG || h.kernel_alignment > (1u << 30))
		return errbuf_set(err, errlen, -EINVAL, "bzImage: kernel_alignment 0x%x is not a power of two in [4 KiB, 1 GiB]",
				  h.kernel_alignment);
	if (h.init_size == 0)
		return errbuf_set(err, errlen, -EINVAL, "bzImage: init_size is 0");
	if (h.pref_address & (PG - 1) || h.pref_address > UINT64_MAX - h.init_size - kernel_len)
		return errbuf_set(err, errlen, -EINVAL, "bzImage: pref_address 0x%llx unusable",
				  (unsigned long long)h.pref_address);

	out->version = h.version;
	out->setup_sects = h.setup_sects;
	out->setup_size = setup_size;
	out->header_end = hdr_end;
	out->syssize = h.syssize;
	out->kernel_offset = setup_size;
	out->kernel_len = kernel_len;
	out->loadflags = h.loadflags;
	out->xloadflags = h.xloadflags;
	out->kernel_alignment = h.kernel_alignment;
	out->relocatable = h.relocatable_kernel != 0;
	out->pref_address = h.pref_address;
	out->init_size = h.init_size;
	out->cmdline_size = h.cmdline_size;
	out->initrd_addr_max = h.initrd_addr_max;
	return 0;
}

/* ---- memory map ---- */

struct range {
	uint64_t base, end; /* [base, end) */
};

static int cmp_range(const void *a, const void *b)
{
	const struct range *x = a, *y = b;
	return x->base < y->base ? -1 : x->base > y->base;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Validated, sorted RAM (adjacent ranges merged) and reserved ranges of a config. */
struct memmap {
	struct range ram[LINUX_BOOT_MAX_RANGES];
	unsigned nram;
	struct range res[LINUX_BOOT_MAX_RANGES];
	unsigned nres;
};

static int memmap_init(const struct linux_boot_config *cfg, struct memmap *m, char *err, size_t errlen)
{
	if (!cfg || !cfg->ram || cfg->ram_count == 0 || cfg->ram_count > LINUX_BOOT_MAX_RANGES)
		return errbuf_set(err, errlen, -EINVAL, "memory map: need 1..%d RAM ranges", LINUX_BOOT_MAX_RANGES);
	if (cfg->reserved_count > LINUX_BOOT_MAX_RANGES || (cfg->reserved_count && !cfg->reserved))
		return errbuf_set(err, errlen, -EINVAL, "memory map: need 0..%d reserved ranges", LINUX_BOOT_MAX_RANGES);
	struct range tmp[LINUX_BOOT_MAX_RANGES];
	for (unsigned i = 0; i < cfg->ram_count; i++) {
		uint64_t b = cfg->ram[i].base.v, s = cfg->ram[i].size;
		if (s == 0 || (b | s) & (PG - 1) || b > UINT64_MAX - s)
			return errbuf_set(err, errlen, -EINVAL, "memory map: RAM [0x%llx + 0x%llx) is empty, unaligned or wraps",
					  (unsigned long long)b, (unsigned long long)s);
		tmp[i] = (struct range){ b, b + s };
	}
	qsort(tmp, cfg->ram_count, sizeof(tmp[0]), cmp_range);
	m->nram = 0;
	for (unsigned i = 0; i < cfg->ram_count; i++) {
		if (m->nram && tmp[i].base < m->ram[m->nram - 1].end)
			return errbuf_set(err, errlen, -EINVAL, "memory map: RAM ranges overlap at 0x%llx",
					  (unsigned long long)tmp[i].base);
		if (m->nram && tmp[i].base == m->ram[m->nram - 1].end)
			m->ram[m->nram - 1].end = tmp[i].end;
		else
			m->ram[m->nram++] = tmp[i];
	}
	m->nres = cfg->reserved_count;
	for (unsigned i = 0; i < cfg->reserved_count; i++) {
		uint64_t b = cfg->reserved[i].base.v, s = cfg->reserved[i].size;
		if (s == 0 || b > UINT64_MAX - s)
			return errbuf_set(err, errlen, -EINVAL, "memory map: reserved [0x%llx + 0x%llx) is empty or wraps",
					  (unsigned long long)b, (unsigned long long)s);
		m->res[i] = (struct range){ b, b + s };
	}
	return 0;
}

static bool covered(const struct range *r, unsigned n, uint64_t a, uint64_t b)
{
	for (unsigned i = 0; i < n; i++)
		if (r[i].base <= a && b <= r[i].end)
			return true;
	return false;
}

static bool overlaps(const struct range *r, unsigned n, uint64_t a, uint64_t b)
{
	for (unsigned i = 0; i < n; i++)
		if (a < r[i].end && r[i].base < b)
			return true;
	return false;
}

static int e820_build(const struct memmap *m, struct x86_boot_e820_entry *e820, unsigned *count,
		      char *err, size_t errlen)
{
	/* Split the address space at every boundary, type each piece, merge equal neighbours. */
	uint64_t pts[2 * (2 * LINUX_BOOT_MAX_RANGES + 1)];
	unsigned np = 0, n = 0;
	for (unsigned i = 0; i < m->nram; i++) {
		pts[np++] = m->ram[i].base;
		pts[np++] = m->ram[i].end;
	}
	for (unsigned i = 0; i < m->nres; i++) {
		pts[np++] = m->res[i].base;
		pts[np++] = m->res[i].end;
	}
	pts[np++] = LINUX_BOOT_LEGACY_HOLE;
	pts[np++] = LINUX_BOOT_LOW_LIMIT;
	qsort(pts, np, sizeof(pts[0]), cmp_u64);
	const struct range hole = { LINUX_BOOT_LEGACY_HOLE, LINUX_BOOT_LOW_LIMIT };
	for (unsigned i = 0; i + 1 < np; i++) {
		uint64_t a = pts[i], b = pts[i + 1];
		if (a == b)
			continue;
		uint32_t type;
		bool ram = covered(m->ram, m->nram, a, b);
		if (covered(m->res, m->nres, a, b) || (ram && covered(&hole, 1, a, b)))
			type = LINUX_BOOT_E820_RESERVED;
		else if (ram)
			type = LINUX_BOOT_E820_RAM;
		else
			continue;
		if (n && e820[n - 1].type == type && e820[n - 1].addr + e820[n - 1].size == a) {
			e820[n - 1].size += b - a;
			continue;
		}
		if (n == LINUX_BOOT_E820_MAX)
			return errbuf_set(err, errlen, -E2BIG, "memory map: more than %d E820 entries", LINUX_BOOT_E820_MAX);
		e820[n++] = (struct x86_boot_e820_entry){ .addr = a, .size = b - a, .type = type };
	}
	*count = n;
	return 0;
}

int linux_boot_e820(const struct linux_boot_config *cfg, struct x86_boot_e820_entry *e820,
		    unsigned *count, char *err, size_t errlen)
{
	struct memmap m;
	int rc;
	if (!e820 || !count)
		return errbuf_set(err, errlen, -EINVAL, "memory map: no output");
	if ((rc = memmap_init(cfg, &m, err, errlen)) < 0)
		return rc;
	return e820_build(&m, e820, count, err, errlen);
}

/* ---- placement ---- */

struct placer {
	const struct memmap *m;
	struct range taken[LINUX_BOOT_MAX_RANGES + 4]; /* reserved (page-rounded) + placed */
	unsigned ntaken;
};

static bool is_free(const struct placer *p, uint64_t a, uint64_t size)
{
	if (a < LINUX_BOOT_LOW_LIMIT || a > LINUX_BOOT_PLACE_LIMIT || size > LINUX_BOOT_PLACE_LIMIT - a)
		return false;
	return covered(p->m->ram, p->m->nram, a, a + size) && !overlaps(p->taken, p->ntaken, a, a + size);
}

/* Candidates are the aligned edges of RAM and taken ranges: a best fit starts or ends there. */
static bool place_low(const struct placer *p, uint64_t size, uint64_t align, uint64_t limit, uint64_t *out)
{
	bool found = false;
	uint64_t best = 0;
	for (unsigned i = 0; i < p->m->nram + p->ntaken + 1; i++) {
		uint64_t edge = i < p->m->nram ? p->m->ram[i].base
			: i < p->m->nram + p->ntaken ? p->taken[i - p->m->nram].end : LINUX_BOOT_LOW_LIMIT;
		if (edge > UINT64_MAX - align)
			continue;
		uint64_t a = align_up(edge, align);
		if (a > limit || size > limit - a || !is_free(p, a, size))
			continue;
		if (!found || a < best)
			best = a, found = true;
	}
	*out = best;
	return found;
}

static bool place_high(const struct placer *p, uint64_t size, uint64_t align, uint64_t limit, uint64_t *out)
{
	bool found = false;
	uint64_t best = 0;
	for (unsigned i = 0; i < p->m->nram + p->ntaken + 1; i++) {
		uint64_t edge = i < p->m->nram ? p->m->ram[i].end
			: i < p->m->nram + p->ntaken ? p->taken[i - p->m->nram].base : limit;
		if (edge > limit)
			edge = limit;
		if (edge < size)
			continue;
		uint64_t a = align_down(edge - size, align);
		if (!is_free(p, a, size))
			continue;
		if (!found || a > best)
			best = a, found = true;
	}
	*out = best;
	return found;
}

static void take(struct placer *p, uint64_t a, uint64_t size)
{
	p->taken[p->ntaken++] = (struct range){ a, a + size };
}

static void put_piece(struct linux_boot_layout *o, uint64_t gpa_v, const uint8_t *bytes, uint64_t len,
		      const char *what)
{
	o->pieces[o->piece_count++] = (struct linux_boot_piece){ gpa(gpa_v), bytes, len, what };
}

static struct hv_x64_segment_register seg(uint16_t sel, uint32_t limit, uint16_t attr)
{
	return (struct hv_x64_segment_register){ .base = 0, .limit = limit, .selector = sel, .attributes = attr };
}

int linux_boot_layout(const struct linux_boot_image *im, const uint8_t *img, size_t len,
		      const struct linux_boot_config *cfg, struct linux_boot_layout *out,
		      char *err, size_t errlen)
{
	struct memmap m;
	struct placer pl;
	int rc;

	if (!im || !img || !out || !cfg)
		return errbuf_set(err, errlen, -EINVAL, "layout: missing argument");
	/* The image must be the one parsed: the header copy and kernel piece come from it. */
	if (len != im->kernel_offset + im->kernel_len || im->header_end > im->kernel_offset ||
	    im->header_end < HDR_MIN_END || im->header_end > LINUX_BOOT_HDR_END_MAX)
		return errbuf_set(err, errlen, -EINVAL, "layout: image does not match its parse result");
	memset(out, 0, sizeof(*out));
	if ((rc = memmap_init(cfg, &m, err, errlen)) < 0)
		return rc;
	if ((rc = e820_build(&m, out->e820, &out->e820_count, err, errlen)) < 0)
		return rc;

	const char *cmdline = cfg->cmdline ? cfg->cmdline : "";
	size_t cmdlen = strnlen(cmdline, (size_t)im->cmdline_size + 1);
	if (cmdlen > im->cmdline_size)
		return errbuf_set(err, errlen, -E2BIG, "layout: command line longer than the kernel's cmdline_size %u",
				  im->cmdline_size);
	if (cfg->initrd_size && !cfg->initrd)
		return errbuf_set(err, errlen, -EINVAL, "layout: initrd size without bytes");
	uint64_t initrd_limit = (uint64_t)im->initrd_addr_max + 1;
	if (cfg->initrd_size > initrd_limit)
		return errbuf_set(err, errlen, -EFBIG, "layout: initrd of %llu bytes exceeds initrd_addr_max 0x%x",
				  (unsigned long long)cfg->initrd_size, im->initrd_addr_max);

	pl.m = &m;
	pl.ntaken = 0;
	for (unsigned i = 0; i < m.nres; i++) {
		uint64_t b = align_down(m.res[i].base, PG);
		uint64_t e = m.res[i].end > UINT64_MAX - (PG - 1) ? UINT64_MAX : align_up(m.res[i].end, PG);
		take(&pl, b, e - b);
	}

	/* Kernel: [load, load + span) must be free RAM (boot.rst init_size). */
	uint64_t span = im->init_size > im->kernel_len ? im->init_size : im->kernel_len;
	span = align_up(span, PG);
	uint64_t load = im->pref_address;
	/* A relocatable kernel runs at its load address rounded up to kernel_alignment, so only an
	   aligned address keeps it inside [load, load + span); a fixed one runs at pref_address. */
	bool aligned = !(load & (im->kernel_alignment - 1)) || !im->relocatable;
	bool pref_ok = load && aligned && is_free(&pl, load, span);
	if (!pref_ok) {
		if (!im->relocatable)
			return errbuf_set(err, errlen, -ENOSPC, "layout: kernel is not relocatable and [0x%llx, +0x%llx) is not free RAM below 4 GiB",
					  (unsigned long long)load, (unsigned long long)span);
		if (!place_low(&pl, span, im->kernel_alignment, LINUX_BOOT_PLACE_LIMIT, &load))
			return errbuf_set(err, errlen, -ENOSPC, "layout: no free RAM below 4 GiB for the kernel (0x%llx bytes aligned 0x%x)",
					  (unsigned long long)span, im->kernel_alignment);
	}
	take(&pl, load, span);
	out->kernel = gpa(load);
	out->kernel_span = span;

	uint64_t top = load + span;
	if (cfg->initrd_size) {
		uint64_t a, size = align_up(cfg->initrd_size, PG);
		uint64_t lim = initrd_limit < LINUX_BOOT_PLACE_LIMIT ? initrd_limit : LINUX_BOOT_PLACE_LIMIT;
		if (!place_high(&pl, size, PG, lim, &a))
			return errbuf_set(err, errlen, -ENOSPC, "layout: no free RAM for an initrd of %llu bytes below 0x%llx",
					  (unsigned long long)cfg->initrd_size, (unsigned long long)lim);
		take(&pl, a, size);
		out->initrd = gpa(a);
		if (a + size > top)
			top = a + size;
	}

	/* Loader block: page tables (worst case), GDT, boot_params, stack, command line. */
	uint64_t cmd_pages = align_up((uint64_t)cmdlen + 1, PG);
	uint64_t block = LINUX_BOOT_PT_MAX_BYTES + 3 * PG + cmd_pages;
	uint64_t blk;
	if (!place_low(&pl, block, PG, LINUX_BOOT_PLACE_LIMIT, &blk))
		return errbuf_set(err, errlen, -ENOSPC, "layout: no free RAM below 4 GiB for the loader block (0x%llx bytes)",
				  (unsigned long long)block);
	take(&pl, blk, block);
	if (blk + block > top)
		top = blk + block;

	out->loader = gpa(blk);
	out->loader_len = block;
	out->page_tables = gpa(blk);
	out->gdt = gpa(blk + LINUX_BOOT_PT_MAX_BYTES);
	out->boot_params = gpa(blk + LINUX_BOOT_PT_MAX_BYTES + PG);
	out->stack_top = gpa(blk + LINUX_BOOT_PT_MAX_BYTES + 3 * PG);
	out->cmdline = gpa(blk + LINUX_BOOT_PT_MAX_BYTES + 3 * PG);

	/* Identity map [0, top rounded to 1 GiB) with 2 MiB pages. */
	unsigned npd = (unsigned)(align_up(top, 1ull << 30) >> 30);
	out->identity_top = (uint64_t)npd << 30;
	out->page_tables_len = (2 + npd) * PG;
	uint64_t *pml4 = (uint64_t *)out->page_table_bytes;
	uint64_t *pdpt = pml4 + 512;
	pml4[0] = (blk + PG) | PTE_P | PTE_RW | PTE_A;
	for (unsigned i = 0; i < npd; i++) {
		uint64_t *pd = pdpt + 512 * (i + 1);
		pdpt[i] = (blk + (2 + i) * PG) | PTE_P | PTE_RW | PTE_A;
		for (unsigned j = 0; j < 512; j++)
			pd[j] = (((uint64_t)i << 30) + ((uint64_t)j << 21)) | PTE_P | PTE_RW | PTE_A | PTE_D | PTE_PS;
	}
	uint64_t gdt[4] = { 0, 0, GDT_CODE64, GDT_DATA };
	memcpy(out->gdt_bytes, gdt, sizeof(gdt));

	/* boot_params: zeroed, the image's header copied, the loader's fields set. */
	struct x86_boot_params *bp = (struct x86_boot_params *)out->boot_params_bytes;
	memcpy(out->boot_params_bytes + LINUX_BOOT_SETUP_HDR_OFF, img + LINUX_BOOT_SETUP_HDR_OFF,
	       im->header_end - LINUX_BOOT_SETUP_HDR_OFF);
	bp->hdr.type_of_loader = LINUX_BOOT_TYPE_OF_LOADER; /* 0 would make the kernel ignore the initrd */
	/* Only LOADED_HIGH: CAN_USE_HEAP / heap_end_ptr describe the real-mode setup heap, and
	   that code never runs on the 64-bit entry; KASLR_FLAG is the kernel's own output. */
	bp->hdr.loadflags = LINUX_BOOT_LOADED_HIGH;
	bp->hdr.heap_end_ptr = 0;
	bp->hdr.ext_loader_ver = 0;
	bp->hdr.ext_loader_type = 0;
	bp->hdr.code32_start = (uint32_t)load;
	bp->hdr.setup_data = 0;
	bp->hdr.cmd_line_ptr = (uint32_t)out->cmdline.v;
	bp->ext_cmd_line_ptr = (uint32_t)(out->cmdline.v >> 32);
	bp->hdr.ramdisk_image = (uint32_t)out->initrd.v;
	bp->ext_ramdisk_image = (uint32_t)(out->initrd.v >> 32);
	bp->hdr.ramdisk_size = (uint32_t)cfg->initrd_size;
	bp->ext_ramdisk_size = (uint32_t)(cfg->initrd_size >> 32);
	bp->acpi_rsdp_addr = cfg->acpi_rsdp.v;
	bp->e820_entries = (uint8_t)out->e820_count;
	memcpy(bp->e820_table, out->e820, out->e820_count * sizeof(out->e820[0]));

	put_piece(out, load, img + im->kernel_offset, im->kernel_len, "kernel");
	if (cfg->initrd_size)
		put_piece(out, out->initrd.v, cfg->initrd, cfg->initrd_size, "initrd");
	put_piece(out, out->page_tables.v, out->page_table_bytes, out->page_tables_len, "page tables");
	put_piece(out, out->gdt.v, out->gdt_bytes, sizeof(gdt), "gdt");
	put_piece(out, out->boot_params.v, out->boot_params_bytes, sizeof(out->boot_params_bytes), "boot_params");
	put_piece(out, out->cmdline.v, (const uint8_t *)cmdline, cmdlen + 1, "cmdline");

	/* Entry state (boot.rst "64-bit Boot Protocol"): long mode, paging on, identity map,
	   CS = __BOOT_CS, DS/ES/SS = __BOOT_DS, IF = 0, RSI = boot_params. LDTR/TR take the
	   present LDT / busy 64-bit TSS forms a VM entry into long mode demands. */
	struct linux_boot_regs *r = &out->regs;
	r->rip = load + LINUX_BOOT_ENTRY_64_OFF;
	r->rsi = out->boot_params.v;
	r->rsp = out->stack_top.v;
	r->rflags = 0x2; /* bit 1 reads as 1; IF clear */
	r->cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_PG;
	r->cr3 = out->page_tables.v;
	r->cr4 = CR4_PAE;
	r->efer = EFER_LME | EFER_LMA;
	r->cs = seg(LINUX_BOOT_CS, 0xFFFFFFFF, ATTR_CODE64);
	r->ds = r->es = r->ss = r->fs = r->gs = seg(LINUX_BOOT_DS, 0xFFFFFFFF, ATTR_DATA);
	r->ldtr = seg(0, 0xFFFF, ATTR_LDT);
	r->tr = seg(0, 0xFFFF, ATTR_TSS64_BUSY);
	r->gdtr = (struct hv_x64_table_register){ .limit = sizeof(gdt) - 1, .base = out->gdt.v };
	r->idtr = (struct hv_x64_table_register){ .limit = 0, .base = 0 };
	return 0;
}
