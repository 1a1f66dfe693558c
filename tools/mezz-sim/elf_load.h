/*
 * ELF64 loader for mezz-sim test guests. The file is untrusted input: elf_load_parse validates
 * every header field it uses (class, data encoding, machine x86-64, type EXEC, program header
 * bounds, p_filesz <= p_memsz, segment overlap, segments inside guest RAM and clear of the
 * hvsim setup area 0x1000-0x7FFF, entry inside a loaded executable segment) with overflow-safe
 * arithmetic, and says what is wrong in a message. Segments load at p_paddr; the guest runs
 * identity-mapped, so p_vaddr must equal p_paddr.
 */
#ifndef MEZZ_TOOLS_MEZZ_SIM_ELF_LOAD_H
#define MEZZ_TOOLS_MEZZ_SIM_ELF_LOAD_H

#include <stddef.h>
#include <stdint.h>

#define ELF_LOAD_MAX_PHDRS 64
#define ELF_LOAD_MAX_SEGS 16
/* Guest-physical range the loader refuses (hvsim's GDT and boot page tables). */
#define ELF_LOAD_RESERVED_START 0x1000ull
#define ELF_LOAD_RESERVED_END 0x8000ull

struct elf_load_seg {
	uint64_t paddr;
	uint64_t memsz;
	uint64_t filesz;
	uint64_t offset;  /* into the file */
	uint32_t flags;   /* PF_R / PF_W / PF_X */
};

struct elf_load_info {
	uint64_t entry;
	uint64_t lowest;   /* lowest loaded GPA */
	uint64_t highest;  /* one past the highest loaded GPA */
	unsigned seg_count;
	struct elf_load_seg seg[ELF_LOAD_MAX_SEGS];
};

/**
 * Validate `image` (`size` bytes) for loading into guest RAM [0, mem_size). Returns 0 with
 * *info filled, or -ENOEXEC (not a loadable x86-64 ELF executable: bad magic/class/type/...),
 * -EINVAL (inconsistent headers), -ERANGE (segment outside RAM or in the reserved area), with
 * a one-line reason in err (always NUL-terminated when errlen > 0).
 */
int elf_load_parse(const void *image, size_t size, uint64_t mem_size, struct elf_load_info *info,
		   char *err, size_t errlen);

/**
 * Copy the segments described by `info` (from a successful elf_load_parse of the same image)
 * into `ram` (guest RAM, `ram_size` bytes, GPA 0 at ram[0]) and zero each p_memsz tail.
 * Returns 0 or -ERANGE if `info` does not fit (re-checked: info may come from elsewhere).
 */
int elf_load_copy(const void *image, size_t size, const struct elf_load_info *info, void *ram,
		  uint64_t ram_size);

#endif
