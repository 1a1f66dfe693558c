/*
 * shim_bootp: Linux boot_params (the "zero page") for the VTL2 kernel, 64-bit boot protocol
 * (Documentation/arch/x86/boot.rst "The Real-Mode Kernel Header", "Details of Header Fields",
 * "64-bit Boot Protocol"; Documentation/arch/x86/zero-page.rst for the layout).
 *
 *   shim_bootp_check   validate the setup header in the image's kernel_setup bytes against
 *                      the params page (the image is measured, but a wrong one must give a
 *                      named error, not a jump into garbage)
 *   shim_bootp_build   zero page: the setup header copy, loader fields, command line,
 *                      ramdisk, E820 and the setup_data chain
 * Defined here rather than shared with vtl2/linux_boot.h: boot/ may not include vtl2/.
 */
#ifndef MEZZ_BOOT_SHIM_BOOTP_H
#define MEZZ_BOOT_SHIM_BOOTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot/shim_e820.h"
#include "boot/shim_params.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "shim_bootp overlays little-endian boot protocol structures"
#endif

#define SHIM_BP_HDR_OFF        0x1F1u     /* setup header: file offset = boot_params offset */
#define SHIM_BP_BOOT_FLAG      0xAA55u
#define SHIM_BP_HDR_MAGIC      0x53726448u /* "HdrS" */
#define SHIM_BP_MIN_VERSION    0x020Cu    /* 2.12: xloadflags */
#define SHIM_BP_LOADED_HIGH    0x01u      /* loadflags bit 0 */
#define SHIM_BP_XLF_KERNEL_64  0x0001u    /* xloadflags bit 0: 64-bit entry at +0x200 */
#define SHIM_BP_TYPE_OF_LOADER 0xFFu      /* "undefined" */
#define SHIM_BP_ENTRY_64_OFF   0x200u
#define SHIM_BP_HDR_END_MAX    0x290u     /* edd_mbr_sig_buffer follows the header */
#define SHIM_BP_SETUP_DTB      2u         /* setup_data type SETUP_DTB */

/* boot.rst "The Real-Mode Kernel Header", through kernel_info_offset (protocol 2.15). */
struct shim_bp_setup_header {
	uint8_t setup_sects;            /* 0x1F1 */
	uint16_t root_flags;            /* 0x1F2 */
	uint32_t syssize;               /* 0x1F4 */
	uint16_t ram_size;              /* 0x1F8 */
	uint16_t vid_mode;              /* 0x1FA */
	uint16_t root_dev;              /* 0x1FC */
	uint16_t boot_flag;             /* 0x1FE */
	uint16_t jump;                  /* 0x200: byte 0x201 = header end - 0x202 */
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

/* zero-page.rst, naming only what a loader fills. */
struct shim_bp_params {
	uint8_t pad_000[0x0C0];
	uint32_t ext_ramdisk_image;     /* 0x0C0 */
	uint32_t ext_ramdisk_size;      /* 0x0C4 */
	uint32_t ext_cmd_line_ptr;      /* 0x0C8 */
	uint8_t pad_0cc[0x1E8 - 0x0CC];
	uint8_t e820_entries;           /* 0x1E8 */
	uint8_t pad_1e9[0x1EF - 0x1E9];
	uint8_t sentinel;               /* 0x1EF */
	uint8_t pad_1f0;
	struct shim_bp_setup_header hdr; /* 0x1F1 */
	uint8_t pad_hdr_end[0x2D0 - 0x1F1 - sizeof(struct shim_bp_setup_header)];
	struct shim_e820_entry e820_table[SHIM_E820_MAX]; /* 0x2D0 */
	uint8_t pad_cd0[0x1000 - 0x2D0 - SHIM_E820_MAX * 20];
} __attribute__((packed));

_Static_assert(sizeof(struct shim_bp_setup_header) == 0x26C - 0x1F1, "boot.rst setup header");
_Static_assert(offsetof(struct shim_bp_params, ext_ramdisk_image) == 0x0C0, "zero-page.rst");
_Static_assert(offsetof(struct shim_bp_params, ext_cmd_line_ptr) == 0x0C8, "zero-page.rst");
_Static_assert(offsetof(struct shim_bp_params, e820_entries) == 0x1E8, "zero-page.rst");
_Static_assert(offsetof(struct shim_bp_params, sentinel) == 0x1EF, "zero-page.rst");
_Static_assert(offsetof(struct shim_bp_params, hdr) == 0x1F1, "zero-page.rst");
_Static_assert(offsetof(struct shim_bp_params, hdr.boot_flag) == 0x1FE, "boot.rst");
_Static_assert(offsetof(struct shim_bp_params, hdr.header) == 0x202, "boot.rst");
_Static_assert(offsetof(struct shim_bp_params, hdr.type_of_loader) == 0x210, "boot.rst");
_Static_assert(offsetof(struct shim_bp_params, hdr.ramdisk_image) == 0x218, "boot.rst");
_Static_assert(offsetof(struct shim_bp_params, hdr.cmd_line_ptr) == 0x228, "boot.rst");
_Static_assert(offsetof(struct shim_bp_params, hdr.cmdline_size) == 0x238, "boot.rst");
_Static_assert(offsetof(struct shim_bp_params, hdr.setup_data) == 0x250, "boot.rst");
_Static_assert(offsetof(struct shim_bp_params, hdr.pref_address) == 0x258, "boot.rst");
_Static_assert(offsetof(struct shim_bp_params, hdr.init_size) == 0x260, "boot.rst");
_Static_assert(offsetof(struct shim_bp_params, e820_table) == 0x2D0, "zero-page.rst");
_Static_assert(sizeof(struct shim_bp_params) == 0x1000, "zero-page.rst: one page");

/* boot.rst "setup_data": u64 next, u32 type, u32 len, then len bytes. */
struct shim_bp_setup_data {
	uint64_t next;
	uint32_t type;
	uint32_t len;
} __attribute__((packed));
_Static_assert(sizeof(struct shim_bp_setup_data) == 16, "boot.rst setup_data header");

/* What shim_bootp_check read. */
struct shim_bp_kernel {
	uint16_t version;
	uint32_t header_end;     /* 0x202 + byte 0x201, capped at SHIM_BP_HDR_END_MAX */
	uint32_t cmdline_size;
	uint32_t init_size;
	uint32_t initrd_addr_max;
	bool relocatable;
};

int shim_bootp_check(const uint8_t *setup, size_t setup_size, const struct mezz_shim_params *p,
		     struct shim_bp_kernel *k, char *err, size_t errlen);

struct shim_bp_input {
	uint64_t cmdline_gpa;
	uint64_t initrd_gpa, initrd_size;
	uint64_t setup_data_gpa;      /* first setup_data entry (0: none) */
	const struct shim_e820 *e820;
};

/** Fill *bp (zeroed first) from the setup bytes and the inputs. */
void shim_bootp_build(struct shim_bp_params *bp, const uint8_t *setup,
		      const struct shim_bp_kernel *k, const struct shim_bp_input *in);

#endif
