/*
 * linux_boot: direct boot of an x86-64 Linux bzImage in VTL0 through the 64-bit boot protocol
 * (Documentation/x86/boot.rst, sections "The Real-Mode Kernel Header", "Details of Header
 * Fields" and "64-bit Boot Protocol"; Documentation/x86/zero-page.rst for boot_params).
 *
 *   linux_boot_parse    validate a bzImage (hostile bytes) and read its setup header
 *   linux_boot_layout   place the kernel, initrd, boot_params, command line, GDT and identity
 *                       page tables in VTL0 RAM; build boot_params (header copy, loader
 *                       fields, E820, RSDP) and the entry register state
 *
 * Pure: no I/O, no guest memory access. The caller copies layout.pieces into VTL0 RAM and loads
 * layout.regs into VP 0 (every register not listed there is 0).
 *
 * Placement policy (all below 4 GiB, nothing below 1 MiB, which stays free for the kernel's
 * real-mode trampoline; never on a reserved range):
 *   kernel      pref_address if it is kernel_alignment-aligned and free, else (relocatable
 *               kernels only) the lowest free kernel_alignment multiple; it owns
 *               [load, load + max(init_size, image bytes))
 *   initrd      page aligned, as high as fits with its end <= initrd_addr_max + 1
 *   loader      one page-aligned block as low as fits: page tables (PML4, PDPT, one PD per
 *               GiB identity-mapped with 2 MiB pages), GDT, boot_params, a stack page, the
 *               command line
 * The identity map covers [0, identity_top), identity_top = the GiB above the highest byte
 * placed, so it maps everything the protocol lists (kernel + init_size, boot_params, command
 * line, initrd).
 */
#ifndef MEZZ_VTL2_LINUX_BOOT_H
#define MEZZ_VTL2_LINUX_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/addr.h"
#include "arch/x86_64/x86_boot.h"
#include "hvcall/hv.h"
#include "vtl2/partition.h"


/* Setup header constants (boot.rst "Details of Header Fields"; arch/x86_64/x86_boot.h). */
#define LINUX_BOOT_SETUP_HDR_OFF     X86_BOOT_SETUP_HDR_OFF
#define LINUX_BOOT_BOOT_FLAG         X86_BOOT_BOOT_FLAG
#define LINUX_BOOT_HDR_MAGIC         X86_BOOT_HDR_MAGIC
#define LINUX_BOOT_MIN_VERSION       X86_BOOT_MIN_VERSION
#define LINUX_BOOT_LOADED_HIGH       X86_BOOT_LOADED_HIGH
#define LINUX_BOOT_XLF_KERNEL_64     X86_BOOT_XLF_KERNEL_64
#define LINUX_BOOT_XLF_ABOVE_4G      X86_BOOT_XLF_ABOVE_4G
#define LINUX_BOOT_TYPE_OF_LOADER    X86_BOOT_TYPE_OF_LOADER
#define LINUX_BOOT_ENTRY_64_OFF      X86_BOOT_ENTRY_64_OFF
#define LINUX_BOOT_SETUP_MAX         0x8000u  /* real-mode code: X .. X+0x8000 ("Memory Layout") */
#define LINUX_BOOT_HDR_END_MAX       X86_BOOT_HDR_END_MAX

#define LINUX_BOOT_E820_MAX          X86_BOOT_E820_MAX
#define LINUX_BOOT_E820_RAM          X86_BOOT_E820_RAM
#define LINUX_BOOT_E820_RESERVED     X86_BOOT_E820_RESERVED
#define LINUX_BOOT_MAX_RANGES        64       /* per input list (RAM, reserved) */
#define LINUX_BOOT_MAX_PIECES        6
#define LINUX_BOOT_PT_MAX_PDS        4        /* everything lives below 4 GiB */
#define LINUX_BOOT_PT_MAX_BYTES      ((2 + LINUX_BOOT_PT_MAX_PDS) * 4096)
#define LINUX_BOOT_LOW_LIMIT         0x100000ull   /* nothing placed below 1 MiB */
#define LINUX_BOOT_PLACE_LIMIT       0x100000000ull
#define LINUX_BOOT_LEGACY_HOLE       0xA0000ull    /* [0xA0000, 1 MiB): E820 reserved */

/* GDT selectors the protocol requires (boot.rst "64-bit Boot Protocol"). */
#define LINUX_BOOT_CS 0x10u
#define LINUX_BOOT_DS 0x18u

/** What linux_boot_parse read and checked. */
struct linux_boot_image {
	uint16_t version;               /* protocol, e.g. 0x020F */
	uint8_t setup_sects;            /* as in the header (0 means 4) */
	uint32_t setup_size;            /* (effective setup_sects + 1) * 512 */
	uint32_t header_end;            /* 0x202 + file[0x201] */
	uint32_t syssize;
	uint64_t kernel_offset;         /* file offset of the protected-mode kernel (= setup_size) */
	uint64_t kernel_len;            /* file bytes from there to the end (all are loaded) */
	uint8_t loadflags;
	uint16_t xloadflags;
	uint32_t kernel_alignment;
	bool relocatable;
	uint64_t pref_address;
	uint32_t init_size;
	uint32_t cmdline_size;          /* without the terminating NUL */
	uint32_t initrd_addr_max;       /* last byte the initrd may use */
};

struct linux_boot_config {
	const struct partition_mem *ram;      /* VTL0 RAM (page aligned, no overlap) */
	unsigned ram_count;                   /* 1 .. LINUX_BOOT_MAX_RANGES */
	/* Not for the guest (VTL2 memory, ACPI tables, ...): never used, E820 type 2; may lie
	   outside RAM. Unaligned ranges are avoided page-wise. */
	const struct partition_mem *reserved;
	unsigned reserved_count;              /* 0 .. LINUX_BOOT_MAX_RANGES */
	const char *cmdline;                  /* NULL: empty */
	const uint8_t *initrd;                /* not read: becomes a piece; needed if size != 0 */
	uint64_t initrd_size;                 /* 0: none */
	gpa_t acpi_rsdp;                      /* 0: none (boot_params.acpi_rsdp_addr) */
};

/** Bytes to copy into VTL0 RAM at gpa. */
struct linux_boot_piece {
	gpa_t gpa;
	const uint8_t *bytes;                 /* into the file, the config or the layout */
	uint64_t len;
	const char *what;
};

/** VP 0 at the 64-bit entry; every other register (GPRs, DRs, MSRs) is 0. */
struct linux_boot_regs {
	uint64_t rip, rsi, rsp, rflags;
	uint64_t cr0, cr3, cr4, efer;
	struct hv_x64_segment_register cs, ds, es, ss, fs, gs, ldtr, tr;
	struct hv_x64_table_register gdtr, idtr;
};

struct linux_boot_layout {
	gpa_t kernel;                         /* load address */
	uint64_t kernel_span;                 /* bytes owned from `kernel` */
	gpa_t initrd;                         /* 0 without one */
	gpa_t loader;                         /* the loader block */
	uint64_t loader_len;
	gpa_t page_tables;                    /* PML4, PDPT, PDs */
	uint64_t page_tables_len;
	gpa_t gdt;
	gpa_t boot_params;
	gpa_t stack_top;
	gpa_t cmdline;
	uint64_t identity_top;                /* [0, identity_top) identity mapped */

	struct x86_boot_e820_entry e820[LINUX_BOOT_E820_MAX];
	unsigned e820_count;

	struct linux_boot_piece pieces[LINUX_BOOT_MAX_PIECES];
	unsigned piece_count;
	struct linux_boot_regs regs;

	/* Storage the pieces point into. */
	uint8_t boot_params_bytes[4096] __attribute__((aligned(8)));
	uint8_t gdt_bytes[32] __attribute__((aligned(8)));
	uint8_t page_table_bytes[LINUX_BOOT_PT_MAX_BYTES] __attribute__((aligned(8)));
};

/**
 * Validate `img[0, len)` as a bzImage with a 64-bit entry and fill *out. 0, or -EINVAL
 * (malformed or out of range), -ENOEXEC (not a bzImage / not bootable this way), -ENOTSUP
 * (protocol too old), each with a message in err.
 */
int linux_boot_parse(const uint8_t *img, size_t len, struct linux_boot_image *out, char *err,
		     size_t errlen);

/**
 * Lay out VTL0 for a 64-bit direct boot of a parsed image (img/len as given to parse, which the
 * kernel piece points into). 0, or -EINVAL (bad memory map or config), -E2BIG (command line
 * longer than cmdline_size, more than LINUX_BOOT_E820_MAX E820 entries), -EFBIG (initrd larger
 * than initrd_addr_max allows), -ENOSPC (something does not fit), with a message in err.
 */
int linux_boot_layout(const struct linux_boot_image *im, const uint8_t *img, size_t len,
		      const struct linux_boot_config *cfg, struct linux_boot_layout *out,
		      char *err, size_t errlen);

/**
 * Only the E820 table of cfg's memory map (sorted, non-overlapping, adjacent equal types
 * merged; RAM in the legacy hole [0xA0000, 1 MiB) reported reserved). Also used by layout.
 * 0 or -EINVAL / -E2BIG with err.
 */
int linux_boot_e820(const struct linux_boot_config *cfg, struct x86_boot_e820_entry *e820,
		    unsigned *count, char *err, size_t errlen);

#endif
