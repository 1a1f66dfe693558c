/*
 * x86_boot: the Linux x86 boot protocol's structures, shared by the paravisor's VTL0 loader
 * (vtl2/linux_boot) and the VTL2 boot shim (boot/shim_bootp): the setup header
 * (Documentation/arch/x86/boot.rst "The Real-Mode Kernel Header"), boot_params, the "zero
 * page" (Documentation/arch/x86/zero-page.rst), E820 entries and setup_data. Layout only.
 */
#ifndef MEZZ_ARCH_X86_64_X86_BOOT_H
#define MEZZ_ARCH_X86_64_X86_BOOT_H

#include <stddef.h>
#include <stdint.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "x86_boot overlays little-endian boot protocol structures"
#endif

/* Setup header constants (boot.rst "Details of Header Fields"). */
#define X86_BOOT_SETUP_HDR_OFF  0x1F1u      /* file offset = boot_params offset */
#define X86_BOOT_BOOT_FLAG      0xAA55u     /* at 0x1FE */
#define X86_BOOT_HDR_MAGIC      0x53726448u /* "HdrS" at 0x202 */
#define X86_BOOT_MIN_VERSION    0x020Cu     /* 2.12: xloadflags */
#define X86_BOOT_LOADED_HIGH    0x01u       /* loadflags bit 0: a bzImage */
#define X86_BOOT_XLF_KERNEL_64  0x0001u     /* xloadflags bit 0: 64-bit entry at +0x200 */
#define X86_BOOT_XLF_ABOVE_4G   0x0002u
#define X86_BOOT_TYPE_OF_LOADER 0xFFu       /* "undefined" boot loader id */
#define X86_BOOT_ENTRY_64_OFF   0x200u      /* 64-bit entry: load address + 0x200 */
#define X86_BOOT_HDR_END_MAX    0x290u      /* boot_params.edd_mbr_sig_buffer follows */
#define X86_BOOT_E820_MAX       128         /* boot_params.e820_table entries */
#define X86_BOOT_E820_RAM       1u
#define X86_BOOT_E820_RESERVED  2u
#define X86_BOOT_SETUP_DTB      2u          /* setup_data type: a flattened device tree */

/*
 * The setup header as it sits at file / boot_params offset 0x1F1 (boot.rst "The Real-Mode
 * Kernel Header"), through kernel_info_offset (protocol 2.15). Packed: the layout is the
 * protocol's, not the compiler's.
 */
struct x86_boot_setup_header {
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
struct x86_boot_e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

/* boot_params, the "zero page" (zero-page.rst), with only the fields a loader fills named. */
struct x86_boot_params {
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
	struct x86_boot_setup_header hdr; /* 0x1F1 */
	uint8_t pad_hdr_end[0x2D0 - 0x1F1 - sizeof(struct x86_boot_setup_header)];
	struct x86_boot_e820_entry e820_table[X86_BOOT_E820_MAX]; /* 0x2D0 */
	uint8_t pad_cd0[0x1000 - 0x2D0 - X86_BOOT_E820_MAX * 20];
} __attribute__((packed));

/* boot.rst "setup_data": u64 next, u32 type, u32 len, then len bytes. */
struct x86_boot_setup_data {
	uint64_t next;
	uint32_t type;
	uint32_t len;
} __attribute__((packed));

_Static_assert(sizeof(struct x86_boot_setup_header) == 0x26C - 0x1F1, "boot.rst setup header");
_Static_assert(sizeof(struct x86_boot_e820_entry) == 20, "zero-page.rst boot_e820_entry");
_Static_assert(sizeof(struct x86_boot_setup_data) == 16, "boot.rst setup_data header");
_Static_assert(offsetof(struct x86_boot_params, acpi_rsdp_addr) == 0x070, "zero-page.rst");
_Static_assert(offsetof(struct x86_boot_params, ext_ramdisk_image) == 0x0C0, "zero-page.rst");
_Static_assert(offsetof(struct x86_boot_params, ext_cmd_line_ptr) == 0x0C8, "zero-page.rst");
_Static_assert(offsetof(struct x86_boot_params, e820_entries) == 0x1E8, "zero-page.rst");
_Static_assert(offsetof(struct x86_boot_params, sentinel) == 0x1EF, "zero-page.rst");
_Static_assert(offsetof(struct x86_boot_params, hdr) == 0x1F1, "zero-page.rst");
_Static_assert(offsetof(struct x86_boot_params, hdr.boot_flag) == 0x1FE, "boot.rst");
_Static_assert(offsetof(struct x86_boot_params, hdr.header) == 0x202, "boot.rst");
_Static_assert(offsetof(struct x86_boot_params, hdr.type_of_loader) == 0x210, "boot.rst");
_Static_assert(offsetof(struct x86_boot_params, hdr.ramdisk_image) == 0x218, "boot.rst");
_Static_assert(offsetof(struct x86_boot_params, hdr.cmd_line_ptr) == 0x228, "boot.rst");
_Static_assert(offsetof(struct x86_boot_params, hdr.cmdline_size) == 0x238, "boot.rst");
_Static_assert(offsetof(struct x86_boot_params, hdr.setup_data) == 0x250, "boot.rst");
_Static_assert(offsetof(struct x86_boot_params, hdr.pref_address) == 0x258, "boot.rst");
_Static_assert(offsetof(struct x86_boot_params, hdr.init_size) == 0x260, "boot.rst");
_Static_assert(offsetof(struct x86_boot_params, e820_table) == 0x2D0, "zero-page.rst");
_Static_assert(sizeof(struct x86_boot_params) == 0x1000, "zero-page.rst: one page");

#endif
