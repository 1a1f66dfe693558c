/* ELF64 loader for test guests (see elf_load.h). Every field is hostile until checked. */
#include "tools/mezz-sim/elf_load.h"

#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Layouts fixed by the System V gABI (ELF-64 Object File Format 1.5, sections 3-4). */
_Static_assert(sizeof(Elf64_Ehdr) == 64, "ELF64 file header is 64 bytes");
_Static_assert(sizeof(Elf64_Phdr) == 56, "ELF64 program header is 56 bytes");
_Static_assert(offsetof(Elf64_Ehdr, e_phoff) == 32, "gABI e_phoff offset");
_Static_assert(offsetof(Elf64_Ehdr, e_phnum) == 56, "gABI e_phnum offset");
_Static_assert(offsetof(Elf64_Phdr, p_paddr) == 24, "gABI p_paddr offset");
_Static_assert(offsetof(Elf64_Phdr, p_memsz) == 40, "gABI p_memsz offset");

__attribute__((format(printf, 4, 5)))
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* [a, a+alen) and [b, b+blen) intersect; both ranges are known not to wrap. */
static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

int elf_load_parse(const void *image, size_t size, uint64_t mem_size, struct elf_load_info *info,
		   char *err, size_t errlen)
{
	const uint8_t *img = image;
	Elf64_Ehdr eh;

	if (err && errlen)
		err[0] = '\0';
	memset(info, 0, sizeof(*info));
	if (!image || size < sizeof(eh))
		return fail(err, errlen, -ENOEXEC, "file too small for an ELF header (%zu bytes)", size);
	memcpy(&eh, img, sizeof(eh));
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
		return fail(err, errlen, -ENOEXEC, "not an ELF file (bad magic)");
	if (eh.e_ident[EI_CLASS] != ELFCLASS64)
		return fail(err, errlen, -ENOEXEC, "not a 64-bit ELF (class %u)", eh.e_ident[EI_CLASS]);
	if (eh.e_ident[EI_DATA] != ELFDATA2LSB)
		return fail(err, errlen, -ENOEXEC, "not little-endian (data encoding %u)",
			    eh.e_ident[EI_DATA]);
	if (eh.e_ident[EI_VERSION] != EV_CURRENT || eh.e_version != EV_CURRENT)
		return fail(err, errlen, -ENOEXEC, "unsupported ELF version");
	if (eh.e_machine != EM_X86_64)
		return fail(err, errlen, -ENOEXEC, "not an x86-64 ELF (machine %u)", eh.e_machine);
	if (eh.e_type != ET_EXEC)
		return fail(err, errlen, -ENOEXEC,
			    "not an ELF executable (type %u; PIE/shared/relocatable are refused)",
			    eh.e_type);
	if (eh.e_ehsize != sizeof(Elf64_Ehdr))
		return fail(err, errlen, -EINVAL, "bad e_ehsize %u", eh.e_ehsize);
	if (eh.e_phnum == 0)
		return fail(err, errlen, -EINVAL, "no program headers");
	if (eh.e_phnum > ELF_LOAD_MAX_PHDRS)
		return fail(err, errlen, -EINVAL, "too many program headers (%u > %u)", eh.e_phnum,
			    ELF_LOAD_MAX_PHDRS);
	if (eh.e_phentsize != sizeof(Elf64_Phdr))
		return fail(err, errlen, -EINVAL, "bad e_phentsize %u", eh.e_phentsize);
	uint64_t ph_bytes = (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr); /* <= 64 * 56: no overflow */
	if (eh.e_phoff > size || size - eh.e_phoff < ph_bytes)
		return fail(err, errlen, -EINVAL, "program headers (offset 0x%" PRIx64
			    ", %u entries) lie outside the %zu-byte file", (uint64_t)eh.e_phoff,
			    eh.e_phnum, size);

	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, img + eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_INTERP || ph.p_type == PT_DYNAMIC)
			return fail(err, errlen, -ENOEXEC,
				    "program header %u: dynamic executables are not supported", i);
		if (ph.p_type != PT_LOAD)
			continue;
		if (ph.p_filesz > ph.p_memsz)
			return fail(err, errlen, -EINVAL,
				    "segment %u: p_filesz 0x%" PRIx64 " > p_memsz 0x%" PRIx64, i,
				    (uint64_t)ph.p_filesz, (uint64_t)ph.p_memsz);
		if (ph.p_offset > size || size - ph.p_offset < ph.p_filesz)
			return fail(err, errlen, -EINVAL,
				    "segment %u: file bytes [0x%" PRIx64 ", +0x%" PRIx64
				    ") lie outside the %zu-byte file", i, (uint64_t)ph.p_offset,
				    (uint64_t)ph.p_filesz, size);
		if (ph.p_memsz == 0)
			continue; /* occupies nothing */
		if (ph.p_vaddr != ph.p_paddr)
			return fail(err, errlen, -EINVAL,
				    "segment %u: p_vaddr 0x%" PRIx64 " != p_paddr 0x%" PRIx64
				    " (guests run identity-mapped)", i, (uint64_t)ph.p_vaddr,
				    (uint64_t)ph.p_paddr);
		if (ph.p_paddr > mem_size || mem_size - ph.p_paddr < ph.p_memsz)
			return fail(err, errlen, -ERANGE,
				    "segment %u: [0x%" PRIx64 ", +0x%" PRIx64
				    ") is outside guest RAM (0x%" PRIx64 " bytes)", i,
				    (uint64_t)ph.p_paddr, (uint64_t)ph.p_memsz, mem_size);
		if (ranges_overlap(ph.p_paddr, ph.p_memsz, ELF_LOAD_RESERVED_START,
				   ELF_LOAD_RESERVED_END - ELF_LOAD_RESERVED_START))
			return fail(err, errlen, -ERANGE,
				    "segment %u: [0x%" PRIx64 ", +0x%" PRIx64
				    ") overlaps the reserved GDT/page-table area 0x1000-0x7fff", i,
				    (uint64_t)ph.p_paddr, (uint64_t)ph.p_memsz);
		for (unsigned j = 0; j < info->seg_count; j++) {
			const struct elf_load_seg *o = &info->seg[j];
			if (ranges_overlap(ph.p_paddr, ph.p_memsz, o->paddr, o->memsz))
				return fail(err, errlen, -EINVAL,
					    "segment %u: [0x%" PRIx64 ", +0x%" PRIx64
					    ") overlaps an earlier segment at 0x%" PRIx64, i,
					    (uint64_t)ph.p_paddr, (uint64_t)ph.p_memsz, o->paddr);
		}
		if (info->seg_count == ELF_LOAD_MAX_SEGS)
			return fail(err, errlen, -EINVAL, "more than %u loadable segments",
				    ELF_LOAD_MAX_SEGS);
		info->seg[info->seg_count++] = (struct elf_load_seg){
			.paddr = ph.p_paddr,
			.memsz = ph.p_memsz,
			.filesz = ph.p_filesz,
			.offset = ph.p_offset,
			.flags = ph.p_flags,
		};
	}
	if (info->seg_count == 0)
		return fail(err, errlen, -EINVAL, "no loadable segments");

	bool entry_ok = false;
	info->lowest = UINT64_MAX;
	for (unsigned j = 0; j < info->seg_count; j++) {
		const struct elf_load_seg *s = &info->seg[j];
		if (s->paddr < info->lowest)
			info->lowest = s->paddr;
		if (s->paddr + s->memsz > info->highest)
			info->highest = s->paddr + s->memsz;
		/* Entry must be in bytes that come from the file, not in the zero-filled tail. */
		if ((s->flags & PF_X) && eh.e_entry >= s->paddr && eh.e_entry - s->paddr < s->filesz)
			entry_ok = true;
	}
	if (!entry_ok)
		return fail(err, errlen, -EINVAL,
			    "entry point 0x%" PRIx64 " is not inside a loaded executable segment",
			    (uint64_t)eh.e_entry);
	info->entry = eh.e_entry;
	return 0;
}

int elf_load_copy(const void *image, size_t size, const struct elf_load_info *info, void *ram,
		  uint64_t ram_size)
{
	const uint8_t *img = image;
	uint8_t *mem = ram;

	if (info->seg_count > ELF_LOAD_MAX_SEGS)
		return -ERANGE;
	for (unsigned j = 0; j < info->seg_count; j++) {
		const struct elf_load_seg *s = &info->seg[j];
		if (s->filesz > s->memsz || s->offset > size || size - s->offset < s->filesz ||
		    s->paddr > ram_size || ram_size - s->paddr < s->memsz)
			return -ERANGE;
	}
	for (unsigned j = 0; j < info->seg_count; j++) {
		const struct elf_load_seg *s = &info->seg[j];
		memcpy(mem + s->paddr, img + s->offset, s->filesz);
		memset(mem + s->paddr + s->filesz, 0, s->memsz - s->filesz);
	}
	return 0;
}
