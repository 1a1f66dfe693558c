/*
 * The Mezzanine VTL2 image: layout and directives for a manifest's "paravisor" section.
 * boot/shim_params.h is the contract with the shim; docs/mezz-igvm.md (PARAVISOR IMAGES) has
 * the layout table. The shim ELF and the bzImage are hostile inputs: every field is range
 * checked before it is used, and every error names the file and the problem.
 */
#include "tools/mezz-igvm/paravisor.h"

#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/shim_params.h"
#include "igvm/igvm.h"
#include "igvm/igvm_build.h"
#include "igvm/igvm_format.h"

#define PAGE 0x1000ull
#define MIB2 0x200000ull
#define GIB4 0x100000000ull

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static int say(char *msg, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int say(char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (len) {
		va_start(ap, fmt);
		vsnprintf(msg, len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void wr32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void wr64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- bzImage (Linux x86 boot protocol setup header) ---- */

#define BZ_SETUP_SECTS 0x1F1
#define BZ_BOOT_FLAG 0x1FE
#define BZ_HEADER 0x202
#define BZ_VERSION 0x206
#define BZ_LOADFLAGS 0x211
#define BZ_KERNEL_ALIGN 0x230
#define BZ_RELOCATABLE 0x234
#define BZ_XLOADFLAGS 0x236
#define BZ_INIT_SIZE 0x260
#define BZ_HDR_END 0x268 /* through init_size + handover_offset */
#define BZ_LOADED_HIGH 0x01
#define BZ_XLF_KERNEL_64 0x01

int paravisor_parse_bzimage(const uint8_t *buf, size_t len, struct paravisor_bzimage *out,
			    char *msg, size_t msg_len)
{
	uint64_t sects, align;
	uint16_t flag, ver, xlf;

	memset(out, 0, sizeof(*out));
	if (len < BZ_HDR_END)
		return say(msg, msg_len, "not a bzImage (%zu bytes, shorter than the setup header)",
			   len);
	flag = rd16(buf + BZ_BOOT_FLAG);
	if (flag != 0xAA55)
		return say(msg, msg_len, "not a bzImage (boot flag at 0x1fe is 0x%04x, not 0xaa55)",
			   flag);
	if (memcmp(buf + BZ_HEADER, "HdrS", 4) != 0)
		return say(msg, msg_len, "not a bzImage (no HdrS at 0x202)");
	ver = rd16(buf + BZ_VERSION);
	if (ver < 0x020C)
		return say(msg, msg_len,
			   "boot protocol %u.%02u is older than 2.12 (no 64-bit entry point)",
			   ver >> 8, ver & 0xFF);
	if (!(buf[BZ_LOADFLAGS] & BZ_LOADED_HIGH))
		return say(msg, msg_len, "loadflags 0x%02x: not LOADED_HIGH (not a bzImage)",
			   buf[BZ_LOADFLAGS]);
	xlf = rd16(buf + BZ_XLOADFLAGS);
	if (!(xlf & BZ_XLF_KERNEL_64))
		return say(msg, msg_len, "xloadflags 0x%04x: no 64-bit entry (XLF_KERNEL_64)", xlf);
	if (!buf[BZ_RELOCATABLE])
		return say(msg, msg_len,
			   "not relocatable (relocatable_kernel is 0): the image loads it at a "
			   "2 MiB boundary of the VTL2 region");
	align = rd32(buf + BZ_KERNEL_ALIGN);
	if (align < PAGE || align > (1ull << 30) || (align & (align - 1)))
		return say(msg, msg_len,
			   "kernel_alignment 0x%llx is not a power of two between 4 KiB and 1 GiB",
			   (unsigned long long)align);
	out->init_size = rd32(buf + BZ_INIT_SIZE);
	if (!out->init_size)
		return say(msg, msg_len, "init_size is 0");
	/* Boot protocol: setup_sects 0 means 4; the boot sector adds one more. */
	sects = buf[BZ_SETUP_SECTS] ? buf[BZ_SETUP_SECTS] : 4;
	out->setup_size = (sects + 1) * 512;
	if (out->setup_size >= len)
		return say(msg, msg_len,
			   "setup_sects %llu: the setup part (%llu bytes) is not smaller than the "
			   "file (%zu bytes)",
			   (unsigned long long)sects, (unsigned long long)out->setup_size, len);
	out->kernel_size = len - out->setup_size;
	out->kernel_align = align;
	out->version = ver;
	return 0;
}

/* ---- shim ELF ---- */

int paravisor_parse_shim(const uint8_t *buf, size_t len, struct paravisor_shim *out, char *msg,
			 size_t msg_len)
{
	Elf64_Ehdr eh;
	bool entry_ok = false;
	uint64_t lo = UINT64_MAX, hi = 0;

	memset(out, 0, sizeof(*out));
	if (len < sizeof(eh))
		return say(msg, msg_len, "not an ELF file (%zu bytes)", len);
	memcpy(&eh, buf, sizeof(eh));
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
		return say(msg, msg_len, "not an ELF file (no \\177ELF magic)");
	if (eh.e_ident[EI_CLASS] != ELFCLASS64)
		return say(msg, msg_len, "not an ELF64 file (class %u)", eh.e_ident[EI_CLASS]);
	if (eh.e_ident[EI_DATA] != ELFDATA2LSB)
		return say(msg, msg_len, "not a little-endian ELF file");
	if (eh.e_ident[EI_VERSION] != EV_CURRENT || eh.e_version != EV_CURRENT)
		return say(msg, msg_len, "unknown ELF version");
	if (eh.e_machine != EM_X86_64)
		return say(msg, msg_len, "e_machine %u is not x86-64", eh.e_machine);
	if (eh.e_type != ET_EXEC)
		return say(msg, msg_len, "e_type %u is not ET_EXEC (a static executable)",
			   eh.e_type);
	if (eh.e_phentsize != sizeof(Elf64_Phdr))
		return say(msg, msg_len, "e_phentsize %u is not %zu", eh.e_phentsize,
			   sizeof(Elf64_Phdr));
	if (eh.e_phnum == 0 || eh.e_phnum > 64)
		return say(msg, msg_len, "e_phnum %u is not in 1..64", eh.e_phnum);
	if (eh.e_phoff > len || (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > len - eh.e_phoff)
		return say(msg, msg_len, "program headers at 0x%llx are outside the file",
			   (unsigned long long)eh.e_phoff);
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, buf + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_INTERP || ph.p_type == PT_DYNAMIC)
			return say(msg, msg_len,
				   "program header %u is PT_%s: not a static executable", i,
				   ph.p_type == PT_INTERP ? "INTERP" : "DYNAMIC");
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		if (ph.p_filesz > ph.p_memsz)
			return say(msg, msg_len, "segment %u: p_filesz 0x%llx > p_memsz 0x%llx", i,
				   (unsigned long long)ph.p_filesz,
				   (unsigned long long)ph.p_memsz);
		if (ph.p_offset > len || ph.p_filesz > len - ph.p_offset)
			return say(msg, msg_len,
				   "segment %u: file bytes [0x%llx, +0x%llx) are outside the file "
				   "(%zu bytes)",
				   i, (unsigned long long)ph.p_offset,
				   (unsigned long long)ph.p_filesz, len);
		if (ph.p_paddr >= GIB4 || ph.p_memsz > GIB4 - ph.p_paddr)
			return say(msg, msg_len,
				   "segment %u: [0x%llx, +0x%llx) is not below 4 GiB (the identity "
				   "page tables map [0, 4 GiB))",
				   i, (unsigned long long)ph.p_paddr, (unsigned long long)ph.p_memsz);
		if (ph.p_vaddr != ph.p_paddr)
			return say(msg, msg_len,
				   "segment %u: p_vaddr 0x%llx differs from p_paddr 0x%llx (the shim "
				   "runs identity mapped)",
				   i, (unsigned long long)ph.p_vaddr, (unsigned long long)ph.p_paddr);
		if (out->n_segs == PARAVISOR_MAX_SEGS)
			return say(msg, msg_len, "more than %u PT_LOAD segments", PARAVISOR_MAX_SEGS);
		for (unsigned k = 0; k < out->n_segs; k++) {
			uint64_t a = out->segs[k].paddr, ae = a + out->segs[k].memsz;

			if (ph.p_paddr < ae && a < ph.p_paddr + ph.p_memsz)
				return say(msg, msg_len,
					   "segment %u [0x%llx, 0x%llx) overlaps another PT_LOAD "
					   "segment [0x%llx, 0x%llx)",
					   i, (unsigned long long)ph.p_paddr,
					   (unsigned long long)(ph.p_paddr + ph.p_memsz),
					   (unsigned long long)a, (unsigned long long)ae);
		}
		out->segs[out->n_segs].paddr = ph.p_paddr;
		out->segs[out->n_segs].memsz = ph.p_memsz;
		out->segs[out->n_segs].offset = ph.p_offset;
		out->segs[out->n_segs].filesz = ph.p_filesz;
		out->n_segs++;
		if (ph.p_paddr < lo)
			lo = ph.p_paddr;
		if (ph.p_paddr + ph.p_memsz > hi)
			hi = ph.p_paddr + ph.p_memsz;
		if ((ph.p_flags & PF_X) && eh.e_entry >= ph.p_paddr &&
		    eh.e_entry - ph.p_paddr < ph.p_memsz)
			entry_ok = true;
	}
	if (!out->n_segs)
		return say(msg, msg_len, "no PT_LOAD segment");
	if (!entry_ok)
		return say(msg, msg_len, "entry point 0x%llx is not inside an executable segment",
			   (unsigned long long)eh.e_entry);
	out->lo = lo & ~(PAGE - 1);
	out->hi = align_up(hi, PAGE);
	if (out->hi - out->lo > PARAVISOR_MAX_SHIM)
		return say(msg, msg_len, "the segments span 0x%llx bytes, more than %u MiB",
			   (unsigned long long)(out->hi - out->lo), PARAVISOR_MAX_SHIM >> 20);
	out->entry = eh.e_entry;
	return 0;
}

/* ---- layout ---- */

int paravisor_layout(const struct paravisor_inputs *in, struct paravisor_layout *out, char *msg,
		     size_t msg_len)
{
	static const uint64_t area_off[PARAVISOR_N_AREAS] = { 0x10000, 0x20000, 0x24000, 0x25000 };
	static const uint64_t area_size[PARAVISOR_N_AREAS] = { 0x10000, 0x4000, 0x1000, 0x1000 };
	uint64_t b = in->vtl2_base, kalign, need, size, end, span, after;

	memset(out, 0, sizeof(*out));
	if (b % MIB2)
		return say(msg, msg_len, "paravisor.vtl2_base: 0x%llx is not 2 MiB aligned",
			   (unsigned long long)b);
	if (b >= GIB4)
		return say(msg, msg_len, "paravisor.vtl2_base: 0x%llx is not below 4 GiB",
			   (unsigned long long)b);
	if (in->vtl2_size % MIB2)
		return say(msg, msg_len, "paravisor.vtl2_size: 0x%llx is not a multiple of 2 MiB",
			   (unsigned long long)in->vtl2_size);
	if (in->kernel_align & (in->kernel_align - 1))
		return say(msg, msg_len, "paravisor.kernel: kernel_alignment 0x%llx is not a power "
			   "of two", (unsigned long long)in->kernel_align);
	out->vmsa = b + PARAVISOR_OFF_VMSA;
	out->log = (struct paravisor_range){ b + PARAVISOR_OFF_LOG, PARAVISOR_LOG_SIZE };
	out->pad = (struct paravisor_range){ b + PARAVISOR_OFF_PAD,
					     MEZZ_SHIM_OFF_PARAM_AREAS - PARAVISOR_OFF_PAD };
	for (unsigned i = 0; i < PARAVISOR_N_AREAS; i++)
		out->areas[i] = (struct paravisor_range){ b + area_off[i], area_size[i] };
	out->setup = (struct paravisor_range){ b + 0x26000, in->setup_size };
	out->loader_end = align_up(out->setup.gpa + in->setup_size, PAGE);
	if (in->shim_lo % PAGE || in->shim_hi % PAGE || in->shim_hi <= in->shim_lo)
		return say(msg, msg_len, "paravisor.shim: bad segment span [0x%llx, 0x%llx)",
			   (unsigned long long)in->shim_lo, (unsigned long long)in->shim_hi);
	if (in->shim_lo < out->loader_end)
		return say(msg, msg_len,
			   "paravisor.shim: segments start at 0x%llx, %s [0x%llx, 0x%llx)",
			   (unsigned long long)in->shim_lo,
			   in->shim_lo < b ? "below the VTL2 region, which starts with the loader "
					     "block"
					   : "inside the loader block",
			   (unsigned long long)b, (unsigned long long)out->loader_end);
	out->shim = (struct paravisor_range){ in->shim_lo, in->shim_hi - in->shim_lo };
	/* The heap follows the shim and takes everything up to the kernel's boundary. */
	out->heap.gpa = in->shim_hi;
	kalign = in->kernel_align > MIB2 ? in->kernel_align : MIB2;
	out->kernel.gpa = align_up(out->heap.gpa + PARAVISOR_MIN_HEAP > b + MIB2
					   ? out->heap.gpa + PARAVISOR_MIN_HEAP
					   : b + MIB2,
				   kalign);
	out->heap.size = out->kernel.gpa - out->heap.gpa;
	out->kernel.size = in->kernel_size;
	span = align_up(in->init_size > in->kernel_size ? in->init_size : in->kernel_size, MIB2);
	out->kernel_span = span;
	after = out->kernel.gpa + span;
	if (in->initrd_size) {
		out->initrd = (struct paravisor_range){ after, in->initrd_size };
		after = align_up(after + in->initrd_size, PAGE);
	}
	out->used_end = align_up(after, MIB2);
	need = out->used_end - b;
	size = in->vtl2_size ? in->vtl2_size : need + PARAVISOR_DEFAULT_HEADROOM;
	if (size < need)
		return say(msg, msg_len,
			   "paravisor.vtl2_size: 0x%llx is too small: the layout needs 0x%llx bytes "
			   "(kernel span 0x%llx at 0x%llx, initrd 0x%llx bytes)",
			   (unsigned long long)size, (unsigned long long)need,
			   (unsigned long long)span, (unsigned long long)out->kernel.gpa,
			   (unsigned long long)in->initrd_size);
	end = b + size;
	if (size > GIB4 || end > GIB4)
		return say(msg, msg_len,
			   "paravisor.vtl2_size: the region [0x%llx, 0x%llx) does not end below 4 GiB",
			   (unsigned long long)b, (unsigned long long)end);
	if (in->tdx && end > MEZZ_TDX_RESET_GPA)
		return say(msg, msg_len,
			   "paravisor.vtl2_size: the region [0x%llx, 0x%llx) covers the TDX reset "
			   "page at 0x%llx",
			   (unsigned long long)b, (unsigned long long)end,
			   (unsigned long long)MEZZ_TDX_RESET_GPA);
	out->vtl2 = (struct paravisor_range){ b, size };
	out->ram[0] = (struct paravisor_range){ out->loader_end, in->shim_lo - out->loader_end };
	out->ram[1] = (struct paravisor_range){
		out->kernel.gpa + align_up(in->kernel_size, PAGE),
		span - align_up(in->kernel_size, PAGE) };
	out->ram[2] = (struct paravisor_range){ after, end - after };
	return 0;
}

/* ---- emission ---- */

struct emit {
	struct igvm_builder *b;
	char *msg;
	size_t msg_len;
};

static int build_fail(struct emit *e, int rc, const struct igvm_error *err, const char *what)
{
	char tmp[256];

	if (rc == -ENOMEM)
		return rc;
	igvm_error_format(err, tmp, sizeof(tmp));
	say(e->msg, e->msg_len, "paravisor: %s: %s", what, tmp);
	return rc;
}

/* npages pages from gpa; page i gets bytes [i * 4096, +4096) of data (none past len). */
static int add_pages(struct emit *e, uint64_t gpa, uint32_t mask, const uint8_t *data,
		     uint64_t len, uint64_t npages, const char *what)
{
	struct igvm_build_page pg = { .compatibility_mask = mask,
				      .data_type = IGVM_BUILD_PAGE_NORMAL };
	struct igvm_error err;

	for (uint64_t i = 0; i < npages; i++) {
		uint64_t off = i * PAGE;
		size_t n = off < len ? (size_t)(len - off < PAGE ? len - off : PAGE) : 0;
		int rc;

		pg.gpa = gpa + off;
		memset(&err, 0, sizeof(err));
		rc = igvm_build_add_page_data(e->b, &pg, n ? data + off : NULL, n, &err);
		if (rc)
			return build_fail(e, rc, &err, what);
	}
	return 0;
}

static int add_ram(struct emit *e, const struct paravisor_range *r, uint32_t mask)
{
	uint64_t gpa = r->gpa, left = r->size;

	/* number_of_bytes is a u32: large ranges take several headers. */
	while (left) {
		uint64_t n = left > 0x80000000ull ? 0x80000000ull : left;
		struct igvm_error err;
		int rc;

		memset(&err, 0, sizeof(err));
		rc = igvm_build_add_required_memory(e->b, gpa, mask, (uint32_t)n,
						    IGVM_BUILD_REQMEM_VTL2_PROTECTABLE, &err);
		if (rc)
			return build_fail(e, rc, &err, "required memory");
		gpa += n;
		left -= n;
	}
	return 0;
}

/* Entry state of shim_params.h. */
#define ENTRY_CR0 0x80010033ull
#define ENTRY_CR4 0x620ull
#define ENTRY_EFER 0xD01ull
#define EFER_SVME 0x1000ull
/* Segment attributes, Hyper-V / native-context form (type, S, DPL, P in 7:0; AVL, L, DB, G in
 * 15:12) and the VMSA's compressed form (the same high nibble in 11:8). */
#define HV_ATTR_CODE64 0xA09Bu
#define HV_ATTR_DATA 0xC093u
#define SEV_ATTR_CODE64 0xA9Bu
#define SEV_ATTR_DATA 0xC93u
#define SEV_FEATURES_SNP 0x1ull
#define SEV_FEATURES_VTOM 0x2ull

static void fill_params(struct mezz_shim_params *p, const struct paravisor_config *c,
			const struct paravisor_layout *l, uint32_t isolation)
{
	memset(p, 0, sizeof(*p));
	p->magic = MEZZ_SHIM_PARAMS_MAGIC;
	p->version = MEZZ_SHIM_PARAMS_VERSION;
	p->size = sizeof(*p);
	p->isolation = isolation;
	p->cmdline_policy = c->cmdline_policy;
	p->vtl2 = (struct mezz_shim_range){ l->vtl2.gpa, l->vtl2.size };
	p->shim = (struct mezz_shim_range){ l->shim.gpa, l->shim.size };
	p->tables = (struct mezz_shim_range){ l->vtl2.gpa + MEZZ_SHIM_OFF_GDT,
					      MEZZ_SHIM_OFF_PT + MEZZ_SHIM_PT_PAGES * PAGE -
						      MEZZ_SHIM_OFF_GDT };
	p->kernel_setup = (struct mezz_shim_range){ l->setup.gpa, l->setup.size };
	p->kernel = (struct mezz_shim_range){ l->kernel.gpa, l->kernel.size };
	p->kernel_span = l->kernel_span;
	p->initrd = (struct mezz_shim_range){ l->initrd.gpa, l->initrd.size };
	p->log = (struct mezz_shim_range){ l->log.gpa, l->log.size };
	p->heap = (struct mezz_shim_range){ l->heap.gpa, l->heap.size };
	p->param_device_tree = (struct mezz_shim_range){ l->areas[0].gpa, l->areas[0].size };
	p->param_memory_map = (struct mezz_shim_range){ l->areas[1].gpa, l->areas[1].size };
	p->param_command_line = (struct mezz_shim_range){ l->areas[2].gpa, l->areas[2].size };
	p->param_vp_count = (struct mezz_shim_range){ l->areas[3].gpa, l->areas[3].size };
	p->com_port = c->com_port;
	snprintf(p->static_cmdline, sizeof(p->static_cmdline), "%s", c->command_line);
}

static void vbs_reg64(struct igvm_build_vbs_reg *r, uint32_t name, uint64_t v)
{
	memset(r, 0, sizeof(*r));
	r->name = name;
	wr64(r->value, v);
}

static void vbs_seg(struct igvm_build_vbs_reg *r, uint32_t name, uint16_t sel, uint16_t attr)
{
	memset(r, 0, sizeof(*r));
	r->name = name;
	wr32(r->value + 8, 0xFFFFFFFFu);
	wr16(r->value + 12, sel);
	wr16(r->value + 14, attr);
}

static void vmsa_seg(uint8_t *v, uint32_t off, uint16_t sel, uint16_t attr, uint32_t limit,
		     uint64_t base)
{
	wr16(v + off, sel);
	wr16(v + off + 2, attr);
	wr32(v + off + 4, limit);
	wr64(v + off + 8, base);
}

static int add_contexts(struct emit *e, const struct paravisor_config *c,
			const struct paravisor_layout *l, uint64_t entry)
{
	uint64_t b = l->vtl2.gpa, cr3 = b + MEZZ_SHIM_OFF_PT, gdt = b + MEZZ_SHIM_OFF_GDT;
	struct igvm_error err;
	int rc = 0;

	for (size_t i = 0; i < c->n_platforms && !rc; i++) {
		const struct paravisor_platform *p = &c->platforms[i];

		memset(&err, 0, sizeof(err));
		if (p->type == IGVM_BUILD_PLATFORM_NATIVE) {
			struct igvm_native_vp_context_x64 n;

			memset(&n, 0, sizeof(n));
			n.rip = entry;
			n.rsi = b;
			n.rflags = 2;
			n.gdtr_limit = MEZZ_SHIM_GDT_LIMIT;
			n.gdtr_base = gdt;
			n.code_selector = MEZZ_SHIM_GDT_CS;
			n.code_attributes = HV_ATTR_CODE64;
			n.code_limit = 0xFFFFFFFFu;
			n.data_selector = MEZZ_SHIM_GDT_DS;
			n.data_attributes = HV_ATTR_DATA;
			n.data_limit = 0xFFFFFFFFu;
			n.cr0 = ENTRY_CR0;
			n.cr3 = cr3;
			n.cr4 = ENTRY_CR4;
			n.efer = ENTRY_EFER;
			rc = igvm_build_add_vp_native_x64(e->b, p->mask, 0, &n, sizeof(n), &err);
		} else if (p->type == IGVM_BUILD_PLATFORM_VSM) {
			struct igvm_build_vbs_reg r[15];
			static const uint32_t segs[] = { IGVM_HV_X64_DS, IGVM_HV_X64_ES,
							 IGVM_HV_X64_SS, IGVM_HV_X64_FS,
							 IGVM_HV_X64_GS };
			size_t n = 0;

			vbs_reg64(&r[n++], IGVM_HV_X64_RIP, entry);
			vbs_reg64(&r[n++], IGVM_HV_X64_RSP, 0);
			vbs_reg64(&r[n++], IGVM_HV_X64_RSI, b);
			vbs_reg64(&r[n++], IGVM_HV_X64_CR0, ENTRY_CR0);
			vbs_reg64(&r[n++], IGVM_HV_X64_CR3, cr3);
			vbs_reg64(&r[n++], IGVM_HV_X64_CR4, ENTRY_CR4);
			vbs_reg64(&r[n++], IGVM_HV_X64_EFER, ENTRY_EFER);
			vbs_seg(&r[n++], IGVM_HV_X64_CS, MEZZ_SHIM_GDT_CS, HV_ATTR_CODE64);
			for (size_t k = 0; k < sizeof(segs) / sizeof(segs[0]); k++)
				vbs_seg(&r[n++], segs[k], MEZZ_SHIM_GDT_DS, HV_ATTR_DATA);
			memset(&r[n], 0, sizeof(r[n]));
			r[n].name = IGVM_HV_X64_GDTR;
			wr16(r[n].value + 6, MEZZ_SHIM_GDT_LIMIT);
			wr64(r[n].value + 8, gdt);
			n++;
			vbs_reg64(&r[n++], IGVM_HV_X64_RFLAGS, 2);
			rc = igvm_build_add_vp_vbs(e->b, p->mask, 0, 2, r, n, &err);
		} else if (p->type == IGVM_BUILD_PLATFORM_SEV_SNP) {
			uint8_t v[IGVM_VMSA_SIZE];
			static const uint32_t segs[] = { IGVM_VMSA_DS, IGVM_VMSA_ES, IGVM_VMSA_SS,
							 IGVM_VMSA_FS, IGVM_VMSA_GS };

			memset(v, 0, sizeof(v));
			vmsa_seg(v, IGVM_VMSA_CS, MEZZ_SHIM_GDT_CS, SEV_ATTR_CODE64, 0xFFFFFFFFu, 0);
			for (size_t k = 0; k < sizeof(segs) / sizeof(segs[0]); k++)
				vmsa_seg(v, segs[k], MEZZ_SHIM_GDT_DS, SEV_ATTR_DATA, 0xFFFFFFFFu, 0);
			vmsa_seg(v, IGVM_VMSA_GDTR, 0, 0, MEZZ_SHIM_GDT_LIMIT, gdt);
			/* Reset values for the tables the shim does not use. */
			vmsa_seg(v, IGVM_VMSA_LDTR, 0, 0x82, 0xFFFF, 0);
			vmsa_seg(v, IGVM_VMSA_IDTR, 0, 0, 0xFFFF, 0);
			vmsa_seg(v, IGVM_VMSA_TR, 0, 0x8B, 0xFFFF, 0);
			v[IGVM_VMSA_VMPL] = 0; /* VTL2 runs at VMPL0 */
			v[IGVM_VMSA_CPL] = 0;
			/* VMRUN requires EFER.SVME in the guest state. */
			wr64(v + IGVM_VMSA_EFER, ENTRY_EFER | EFER_SVME);
			wr64(v + IGVM_VMSA_CR4, ENTRY_CR4);
			wr64(v + IGVM_VMSA_CR3, cr3);
			wr64(v + IGVM_VMSA_CR0, ENTRY_CR0);
			wr64(v + IGVM_VMSA_DR7, 0x400);
			wr64(v + IGVM_VMSA_DR6, 0xFFFF0FF0ull);
			wr64(v + IGVM_VMSA_RFLAGS, 2);
			wr64(v + IGVM_VMSA_RIP, entry);
			wr64(v + IGVM_VMSA_RSI, b);
			wr64(v + IGVM_VMSA_G_PAT, 0x0007040600070406ull);
			/* SNP guests must have SNPActive; vTOM makes everything below
			 * virtual_tom private without a C-bit in the identity tables. */
			wr64(v + IGVM_VMSA_SEV_FEATURES, SEV_FEATURES_SNP | SEV_FEATURES_VTOM);
			wr64(v + IGVM_VMSA_VIRTUAL_TOM, p->shared_gpa_boundary);
			wr64(v + IGVM_VMSA_XCR0, 1);
			wr32(v + IGVM_VMSA_MXCSR, 0x1F80);
			wr16(v + IGVM_VMSA_X87_FCW, 0x37F);
			rc = igvm_build_add_vp_snp(e->b, l->vmsa, p->mask, 0, v, sizeof(v), &err);
		}
		if (rc)
			return build_fail(e, rc, &err, "VP context");
	}
	return 0;
}

static const char *plat_name(uint32_t type)
{
	switch (type) {
	case IGVM_BUILD_PLATFORM_NATIVE: return "native";
	case IGVM_BUILD_PLATFORM_VSM: return "vsm_isolation";
	case IGVM_BUILD_PLATFORM_SEV_SNP: return "sev_snp";
	case IGVM_BUILD_PLATFORM_TDX: return "tdx";
	default: return "unsupported";
	}
}

static int emit_all(struct emit *e, const struct paravisor_config *c,
		    const struct paravisor_layout *l, const struct paravisor_shim *sh,
		    uint32_t all, uint32_t snp_mask, uint32_t tdx_mask)
{
	static const enum igvm_build_param area_param[PARAVISOR_N_AREAS] = {
		IGVM_BUILD_PARAM_DEVICE_TREE, IGVM_BUILD_PARAM_MEMORY_MAP,
		IGVM_BUILD_PARAM_COMMAND_LINE, IGVM_BUILD_PARAM_VP_COUNT
	};
	uint64_t b = l->vtl2.gpa;
	uint8_t page[PAGE];
	struct mezz_shim_params params;
	struct igvm_error err;
	uint8_t *img = NULL;
	int rc;

	/* Params page: one copy per platform, differing only in `isolation`. */
	for (size_t i = 0; i < c->n_platforms; i++) {
		static const uint32_t iso[] = {
			[IGVM_BUILD_PLATFORM_NATIVE] = MEZZ_ISOLATION_NONE,
			[IGVM_BUILD_PLATFORM_VSM] = MEZZ_ISOLATION_VBS,
			[IGVM_BUILD_PLATFORM_SEV_SNP] = MEZZ_ISOLATION_SNP,
			[IGVM_BUILD_PLATFORM_TDX] = MEZZ_ISOLATION_TDX,
		};

		fill_params(&params, c, l, iso[c->platforms[i].type]);
		if ((rc = add_pages(e, b + MEZZ_SHIM_OFF_PARAMS, c->platforms[i].mask,
				    (const uint8_t *)&params, sizeof(params), 1, "params page")))
			return rc;
	}
	/* GDT: null, null, 64-bit code, data, 32-bit code. */
	memset(page, 0, sizeof(page));
	wr64(page + MEZZ_SHIM_GDT_CS, 0x00AF9A000000FFFFull);
	wr64(page + MEZZ_SHIM_GDT_DS, 0x00CF92000000FFFFull);
	wr64(page + MEZZ_SHIM_GDT_CS32, 0x00CF9A000000FFFFull);
	if ((rc = add_pages(e, b + MEZZ_SHIM_OFF_GDT, all, page, MEZZ_SHIM_GDT_LIMIT + 1, 1,
			    "GDT")))
		return rc;
	/* Identity map of [0, 4 GiB) with 2 MiB pages: PML4, PDPT, 4 PDs. */
	{
		uint64_t pt = b + MEZZ_SHIM_OFF_PT;

		memset(page, 0, sizeof(page));
		wr64(page, (pt + PAGE) | 0x23); /* P RW A */
		if ((rc = add_pages(e, pt, all, page, PAGE, 1, "page tables")))
			return rc;
		memset(page, 0, sizeof(page));
		for (unsigned i = 0; i < 4; i++)
			wr64(page + 8 * i, (pt + (2 + i) * PAGE) | 0x23);
		if ((rc = add_pages(e, pt + PAGE, all, page, PAGE, 1, "page tables")))
			return rc;
		for (unsigned d = 0; d < 4; d++) {
			for (unsigned i = 0; i < 512; i++)
				wr64(page + 8 * i, ((uint64_t)d << 30 | (uint64_t)i << 21) |
							   0xE3); /* P RW A D PS */
			if ((rc = add_pages(e, pt + (2 + d) * PAGE, all, page, PAGE, 1,
					    "page tables")))
				return rc;
		}
	}
	/* The VMSA's page is the SNP VMSA (added last); a zero page for the others. */
	if ((all & ~snp_mask) &&
	    (rc = add_pages(e, l->vmsa, all & ~snp_mask, NULL, 0, 1, "VMSA slot")))
		return rc;
	if ((rc = add_pages(e, l->log.gpa, all, NULL, 0, l->log.size / PAGE, "log")) ||
	    (rc = add_pages(e, l->pad.gpa, all, NULL, 0, l->pad.size / PAGE, "padding")))
		return rc;
	for (unsigned i = 0; i < PARAVISOR_N_AREAS; i++) {
		memset(&err, 0, sizeof(err));
		if ((rc = igvm_build_add_parameter_area(e->b, i, l->areas[i].size, NULL, 0, &err)) ||
		    (rc = igvm_build_add_parameter(e->b, area_param[i], i, 0, &err)) ||
		    (rc = igvm_build_add_parameter_insert(e->b, l->areas[i].gpa, all, i, &err)))
			return build_fail(e, rc, &err, "parameter area");
	}
	if ((rc = add_pages(e, l->setup.gpa, all, c->kernel, l->setup.size,
			    align_up(l->setup.size, PAGE) / PAGE, "kernel setup")))
		return rc;
	/* Shim: the segments' bytes in one buffer over their span; pages holding file bytes
	 * are data pages, the rest (bss, gaps) zero pages. */
	img = calloc(1, l->shim.size);
	if (!img)
		return -ENOMEM;
	for (unsigned i = 0; i < sh->n_segs; i++)
		memcpy(img + (sh->segs[i].paddr - l->shim.gpa), c->shim + sh->segs[i].offset,
		       sh->segs[i].filesz);
	for (uint64_t off = 0; off < l->shim.size && !rc; off += PAGE) {
		bool data = false;

		for (unsigned i = 0; i < sh->n_segs && !data; i++) {
			uint64_t s = sh->segs[i].paddr - l->shim.gpa;

			data = sh->segs[i].filesz && s < off + PAGE && off < s + sh->segs[i].filesz;
		}
		rc = add_pages(e, l->shim.gpa + off, all, data ? img + off : NULL, data ? PAGE : 0,
			       1, "shim");
	}
	free(img);
	if (rc)
		return rc;
	if ((rc = add_pages(e, l->heap.gpa, all, NULL, 0, l->heap.size / PAGE, "heap")) ||
	    (rc = add_pages(e, l->kernel.gpa, all, c->kernel + l->setup.size, l->kernel.size,
			    align_up(l->kernel.size, PAGE) / PAGE, "kernel")))
		return rc;
	if (l->initrd.size &&
	    (rc = add_pages(e, l->initrd.gpa, all, c->initrd, l->initrd.size,
			    align_up(l->initrd.size, PAGE) / PAGE, "initrd")))
		return rc;
	for (unsigned i = 0; i < 3; i++)
		if (l->ram[i].size && (rc = add_ram(e, &l->ram[i], all)))
			return rc;
	if (tdx_mask) {
		memcpy(page, c->tdx_reset, PAGE);
		wr32(page + MEZZ_TDX_RESET_OFF_CR3, (uint32_t)(b + MEZZ_SHIM_OFF_PT));
		wr16(page + MEZZ_TDX_RESET_OFF_GDTR, MEZZ_SHIM_GDT_LIMIT);
		wr32(page + MEZZ_TDX_RESET_OFF_GDTR + 2, (uint32_t)(b + MEZZ_SHIM_OFF_GDT));
		wr64(page + MEZZ_TDX_RESET_OFF_PARAMS, b);
		wr64(page + MEZZ_TDX_RESET_OFF_ENTRY, sh->entry);
		if ((rc = add_pages(e, MEZZ_TDX_RESET_GPA, tdx_mask, page, PAGE, 1,
				    "TDX reset page")))
			return rc;
	}
	return add_contexts(e, c, l, sh->entry);
}

int paravisor_build(struct igvm_builder *b, const struct paravisor_config *c, char *msg,
		    size_t msg_len)
{
	struct emit e = { .b = b, .msg = msg, .msg_len = msg_len };
	struct paravisor_bzimage bz;
	struct paravisor_shim sh;
	struct paravisor_inputs in;
	struct paravisor_layout l;
	uint32_t all = 0, snp = 0, tdx = 0;
	char tmp[200];
	size_t cl;
	int rc;

	if (!c->n_platforms)
		return say(msg, msg_len, "paravisor: the manifest lists no platforms");
	for (size_t i = 0; i < c->n_platforms; i++) {
		const struct paravisor_platform *p = &c->platforms[i];

		if (p->type != IGVM_BUILD_PLATFORM_NATIVE && p->type != IGVM_BUILD_PLATFORM_VSM &&
		    p->type != IGVM_BUILD_PLATFORM_SEV_SNP && p->type != IGVM_BUILD_PLATFORM_TDX)
			return say(msg, msg_len,
				   "paravisor: platforms[%zu]: type %u is not supported by "
				   "paravisor images (native, vsm_isolation, sev_snp, tdx)",
				   i, p->type);
		if (p->highest_vtl != 2)
			return say(msg, msg_len,
				   "paravisor: platforms[%zu] (%s): highest_vtl must be 2, not %u", i,
				   plat_name(p->type), p->highest_vtl);
		if (p->type == IGVM_BUILD_PLATFORM_SEV_SNP) {
			if (p->shared_gpa_boundary < GIB4)
				return say(msg, msg_len,
					   "paravisor: platforms[%zu] (sev_snp): shared_gpa_boundary "
					   "0x%llx must be at least 4 GiB (it is the vTOM; the "
					   "identity page tables carry no C-bit)",
					   i, (unsigned long long)p->shared_gpa_boundary);
			snp = p->mask;
		}
		if (p->type == IGVM_BUILD_PLATFORM_TDX)
			tdx = p->mask;
		all |= p->mask;
	}
	if (tdx && !c->tdx_reset)
		return say(msg, msg_len,
			   "paravisor.tdx_reset: missing (the tdx platform starts at the reset "
			   "page)");
	if (tdx && c->tdx_reset_len != PAGE)
		return say(msg, msg_len, "paravisor.tdx_reset: %zu bytes, not one 4096-byte page",
			   c->tdx_reset_len);
	cl = strlen(c->command_line);
	if (cl >= MEZZ_SHIM_STATIC_CMDLINE_MAX)
		return say(msg, msg_len,
			   "paravisor.command_line: %zu characters, more than %u", cl,
			   MEZZ_SHIM_STATIC_CMDLINE_MAX - 1);
	for (size_t i = 0; i < cl; i++)
		if ((unsigned char)c->command_line[i] < 0x20 ||
		    (unsigned char)c->command_line[i] > 0x7E) /* the shim takes printable ASCII */
			return say(msg, msg_len,
				   "paravisor.command_line: byte 0x%02x at %zu is not printable ASCII",
				   (unsigned char)c->command_line[i], i);
	if (c->cmdline_policy != MEZZ_CMDLINE_STATIC &&
	    c->cmdline_policy != MEZZ_CMDLINE_APPEND_HOST)
		return say(msg, msg_len, "paravisor.command_line_policy: unknown policy %u",
			   c->cmdline_policy);
	if (c->kernel_len > PARAVISOR_MAX_KERNEL)
		return say(msg, msg_len, "paravisor.kernel: %zu bytes, more than %u MiB",
			   c->kernel_len, PARAVISOR_MAX_KERNEL >> 20);
	if ((rc = paravisor_parse_bzimage(c->kernel, c->kernel_len, &bz, tmp, sizeof(tmp))))
		return say(msg, msg_len, "paravisor.kernel: %s", tmp);
	if ((rc = paravisor_parse_shim(c->shim, c->shim_len, &sh, tmp, sizeof(tmp))))
		return say(msg, msg_len, "paravisor.shim: %s", tmp);
	memset(&in, 0, sizeof(in));
	in.vtl2_base = c->vtl2_base;
	in.vtl2_size = c->vtl2_size;
	in.setup_size = bz.setup_size;
	in.kernel_size = bz.kernel_size;
	in.init_size = bz.init_size;
	in.kernel_align = bz.kernel_align;
	in.shim_lo = sh.lo;
	in.shim_hi = sh.hi;
	in.initrd_size = c->initrd ? c->initrd_len : 0;
	in.tdx = tdx != 0;
	if ((rc = paravisor_layout(&in, &l, msg, msg_len)))
		return rc;
	if (sh.hi > l.vtl2.gpa + l.vtl2.size)
		return say(msg, msg_len,
			   "paravisor.shim: segments end at 0x%llx, outside the VTL2 region "
			   "[0x%llx, 0x%llx)",
			   (unsigned long long)sh.hi, (unsigned long long)l.vtl2.gpa,
			   (unsigned long long)(l.vtl2.gpa + l.vtl2.size));
	for (size_t i = 0; i < c->n_platforms; i++)
		if (c->platforms[i].type == IGVM_BUILD_PLATFORM_SEV_SNP &&
		    c->platforms[i].shared_gpa_boundary < l.vtl2.gpa + l.vtl2.size)
			return say(msg, msg_len, "paravisor: sev_snp shared_gpa_boundary is inside "
				   "the VTL2 region");
	return emit_all(&e, c, &l, &sh, all, snp, tdx);
}
