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
#include "hvcall/hv.h"
#include "vtl2/partition.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "linux_boot overlays little-endian boot protocol structures"
#endif

/* Setup header constants (boot.rst "Details of Header Fields"). */
#define LINUX_BOOT_SETUP_HDR_OFF     0x1F1u   /* file offset = boot_params offset */
#define LINUX_BOOT_BOOT_FLAG         0xAA55u  /* at 0x1FE */
#define LINUX_BOOT_HDR_MAGIC         0x53726448u /* "HdrS" at 0x202 */
#define LINUX_BOOT_MIN_VERSION       0x020Cu  /* 2.12: xloadflags */
#define LINUX_BOOT_LOADED_HIGH       0x01u    /* loadflags bit 0: a bzImage */
#define LINUX_BOOT_XLF_KERNEL_64     0x0001u  /* xloadflags bit 0: 64-bit entry at +0x200 */
#define LINUX_BOOT_XLF_ABOVE_4G      0x0002u
#define LINUX_BOOT_TYPE_OF_LOADER    0xFFu    /* "undefined" boot loader id */
#define LINUX_BOOT_ENTRY_64_OFF      0x200u   /* 64-bit entry: load address + 0x200 */
#define LINUX_BOOT_SETUP_MAX         0x8000u  /* real-mode code: X .. X+0x8000 ("Memory Layout") */
#define LINUX_BOOT_HDR_END_MAX       0x290u   /* boot_params.edd_mbr_sig_buffer follows */

#define LINUX_BOOT_E820_MAX          128
#define LINUX_BOOT_E820_RAM          1u
#define LINUX_BOOT_E820_RESERVED     2u
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

/*
 * The setup header as it sits at file / boot_params offset 0x1F1 (boot.rst "The Real-Mode
 * Kernel Header"), through kernel_info_offset (protocol 2.15). Packed: the layout is the
 * protocol's, not the compiler's.
 */
struct linux_boot_setup_header {
	uint8_t setup_sects;            /* 0x1F1 */
	uint16_t root_flags;            /* 0x1F2 */
	uint32_t syssize;               /* 0x1F4: 16-byte paragraphs of protected-mode code */
	uint16_t ram_size;              /* 0x1F8 */
	uint16_t vid_mode;              /* 0x1FA */
	uint16_t root_dev;              /* 0x1FC */
	uint16_t boot_flag;             /* 0x1FE */
	uint16_t jump;                  /* 0x200: short jump; byte 0x201 gives the header end */
	uint32_t header;                /* 0x202 */
	uint16_t version;               /* 0x206 */
	uint32_t realmode_swtch;        /* 0x208 */
	uint16_t start_sys_seg;         /* 0x20C */
	uint16_t kernel_version;        /* 0x20E */
	uint8_t type_of_loader;         /* 0x210 */
	uint8_t loadflags;              /* 0x211 */
	uint16_t setup_move_size;       /* 0x212 */
	uint32_t code32_start;          /* 0x214 */
	uint32_t ramdisk_image;         /* 0x218 */
	uint32_t ramdisk_size;          /* 0x21C */
	uint32_t bootsect_kludge;       /* 0x220 */
	uint16_t heap_end_ptr;          /* 0x224 */
	uint8_t ext_loader_ver;         /* 0x226 */
	uint8_t ext_loader_type;        /* 0x227 */
	uint32_t cmd_line_ptr;          /* 0x228 */
	uint32_t initrd_addr_max;       /* 0x22C */
	uint32_t kernel_alignment;      /* 0x230 */
	uint8_t relocatable_kernel;     /* 0x234 */
	uint8_t min_alignment;          /* 0x235 */
	uint16_t xloadflags;            /* 0x236 */
	uint32_t cmdline_size;          /* 0x238 */
	uint32_t hardware_subarch;      /* 0x23C */
	uint64_t hardware_subarch_data; /* 0x240 */
	uint32_t payload_offset;        /* 0x248 */
	uint32_t payload_length;        /* 0x24C */
	uint64_t setup_data;            /* 0x250 */
	uint64_t pref_address;          /* 0x258 */
	uint32_t init_size;             /* 0x260 */
	uint32_t handover_offset;       /* 0x264 */
	uint32_t kernel_info_offset;    /* 0x268 */
} __attribute__((packed));

/* One E820 entry (zero-page.rst: e820_table at 0x2D0, 20 bytes each). */
struct linux_boot_e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

/* boot_params, the "zero page" (zero-page.rst), with only the fields a loader fills named. */
struct linux_boot_params {
	uint8_t pad_000[0x070];
	uint64_t acpi_rsdp_addr;        /* 0x070 */
	uint8_t pad_078[0x0C0 - 0x078];
	uint32_t ext_ramdisk_image;     /* 0x0C0 */
	uint32_t ext_ramdisk_size;      /* 0x0C4 */
	uint32_t ext_cmd_line_ptr;      /* 0x0C8 */
	uint8_t pad_0cc[0x1E8 - 0x0CC];
	uint8_t e820_entries;           /* 0x1E8 */
	uint8_t pad_1e9[0x1EF - 0x1E9];
	uint8_t sentinel;               /* 0x1EF: must stay 0 */
	uint8_t pad_1f0;
	struct linux_boot_setup_header hdr; /* 0x1F1 */
	uint8_t pad_hdr_end[0x2D0 - 0x1F1 - sizeof(struct linux_boot_setup_header)];
	struct linux_boot_e820_entry e820_table[LINUX_BOOT_E820_MAX]; /* 0x2D0 */
	uint8_t pad_cd0[0x1000 - 0x2D0 - LINUX_BOOT_E820_MAX * 20];
} __attribute__((packed));

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

	struct linux_boot_e820_entry e820[LINUX_BOOT_E820_MAX];
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
int linux_boot_e820(const struct linux_boot_config *cfg, struct linux_boot_e820_entry *e820,
		    unsigned *count, char *err, size_t errlen);

#endif
