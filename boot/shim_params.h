/*
 * shim_params: the contract between the Mezzanine IGVM image (laid out by `mezz-igvm build`
 * from a manifest's "paravisor" section, tools/mezz-igvm/paravisor.c) and the VTL2 boot shim
 * (boot/). Also read by hvsim's IGVM loader (tools/hvsim) for the handoff checks.
 *
 * The image places, inside one VTL2 region [vtl2.gpa, vtl2.gpa + vtl2.size) below 4 GiB:
 *
 *   vtl2.gpa + 0x00000  this page (struct mezz_shim_params), measured; one copy per platform
 *                       (compatibility mask), differing only in `isolation`
 *   vtl2.gpa + 0x01000  GDT (MEZZ_SHIM_GDT_*), measured
 *   vtl2.gpa + 0x02000  identity page tables for [0, 4 GiB) with 2 MiB pages: PML4, PDPT,
 *                       4 PDs (6 pages, up to 0x8000), measured; CR3 of the entry context
 *   vtl2.gpa + 0x10000  parameter areas (IGVM PARAMETER_AREA + PARAMETER_INSERT, unmeasured,
 *                       filled by the host/loader, hostile): device tree (64 KiB), memory
 *                       map (16 KiB), command line (4 KiB), VP count (4 KiB)
 *   ...                 log buffer, heap (scratch the shim builds boot_params, the command
 *                       line, page tables and the device tree in), kernel setup bytes:
 *                       zero or data pages, measured; positions in the ranges below
 *   shim ELF            PT_LOAD segments at their (fixed) link addresses, inside the region
 *   kernel              the bzImage's protected-mode part at a 2 MiB aligned gpa, kernel_span
 *                       bytes reserved from there (>= the header's init_size)
 *   initrd              page aligned after the kernel span
 *   the rest            required memory (not imported): VTL2 RAM for the kernel and paravisor
 *
 * Entry (every platform but TDX: the IGVM VP context; TDX: the reset page, below): 64-bit mode,
 * CR0 0x80010033 (PG WP NE ET MP PE), CR4 0x20 (PAE) | 0x200 (OSFXSR) | 0x400 (OSXMMEXCPT),
 * EFER 0xD01 (SCE LME LMA NXE), CR3 = vtl2.gpa + 0x2000, GDTR = {vtl2.gpa + 0x1000, 0x27},
 * CS = MEZZ_SHIM_GDT_CS, DS/ES/SS/FS/GS = MEZZ_SHIM_GDT_DS, RFLAGS 0x2 (interrupts off),
 * RIP = shim ELF entry, RSI = vtl2.gpa (this page), RSP = 0 (the shim sets its own stack),
 * every other register 0.
 *
 * All values in this page are measured, but the shim still checks them (a bad image or loader
 * must give a named error, not a wild write). The parameter areas are hostile.
 */
#ifndef MEZZ_BOOT_SHIM_PARAMS_H
#define MEZZ_BOOT_SHIM_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#define MEZZ_SHIM_PARAMS_MAGIC   0x4D4948535A5A454Dull /* "MEZZSHIM" little-endian */
#define MEZZ_SHIM_PARAMS_VERSION 1u

/* Offsets inside the VTL2 region fixed by this contract. */
#define MEZZ_SHIM_OFF_PARAMS     0x0000u
#define MEZZ_SHIM_OFF_GDT        0x1000u
#define MEZZ_SHIM_OFF_PT         0x2000u   /* PML4; PDPT at +0x1000; PDs at +0x2000.. */
#define MEZZ_SHIM_PT_PAGES       6u
#define MEZZ_SHIM_OFF_PARAM_AREAS 0x10000u

/* GDT (8-byte descriptors): null, null, 0x10 64-bit code (Linux __BOOT_CS), 0x18 data
   (__BOOT_DS), 0x20 32-bit code (TDX reset path). Limit 0x27. */
#define MEZZ_SHIM_GDT_CS   0x10u
#define MEZZ_SHIM_GDT_DS   0x18u
#define MEZZ_SHIM_GDT_CS32 0x20u
#define MEZZ_SHIM_GDT_LIMIT 0x27u

/* IGVM parameter area indexes the image declares. */
#define MEZZ_SHIM_AREA_DEVICE_TREE  0u
#define MEZZ_SHIM_AREA_MEMORY_MAP   1u
#define MEZZ_SHIM_AREA_COMMAND_LINE 2u
#define MEZZ_SHIM_AREA_VP_COUNT     3u

enum mezz_shim_isolation {
	MEZZ_ISOLATION_NONE = 0,   /* IGVM platform NATIVE */
	MEZZ_ISOLATION_VBS = 1,    /* VSM_ISOLATION */
	MEZZ_ISOLATION_SNP = 2,    /* SEV_SNP */
	MEZZ_ISOLATION_TDX = 3,    /* TDX */
};

enum mezz_shim_cmdline_policy {
	MEZZ_CMDLINE_STATIC = 0,       /* only static_cmdline */
	MEZZ_CMDLINE_APPEND_HOST = 1,  /* static_cmdline, a space, the host's command line
					  (COMMAND_LINE parameter, else the host DT's
					  /chosen/bootargs); never when isolated (host untrusted) */
};

#define MEZZ_SHIM_STATIC_CMDLINE_MAX 2048u  /* bytes including the NUL */

struct mezz_shim_range {
	uint64_t gpa;
	uint64_t size;
};

struct mezz_shim_params {
	uint64_t magic;                 /* 0x00 MEZZ_SHIM_PARAMS_MAGIC */
	uint32_t version;               /* 0x08 MEZZ_SHIM_PARAMS_VERSION */
	uint32_t size;                  /* 0x0C sizeof(struct mezz_shim_params) */
	uint32_t isolation;             /* 0x10 enum mezz_shim_isolation */
	uint32_t cmdline_policy;        /* 0x14 enum mezz_shim_cmdline_policy */
	struct mezz_shim_range vtl2;    /* 0x18 the image's whole VTL2 region (2 MiB aligned) */
	struct mezz_shim_range shim;    /* 0x28 span of the shim's PT_LOAD segments */
	struct mezz_shim_range tables;  /* 0x38 GDT + page tables [vtl2 + 0x1000, vtl2 + 0x8000) */
	struct mezz_shim_range kernel_setup; /* 0x48 bzImage bytes [0, setup_size) (the header) */
	struct mezz_shim_range kernel;  /* 0x58 protected-mode part: gpa (2 MiB aligned), bytes */
	uint64_t kernel_span;           /* 0x68 bytes reserved from kernel.gpa (>= init_size) */
	struct mezz_shim_range initrd;  /* 0x70 size 0: none */
	struct mezz_shim_range log;     /* 0x80 in-memory log (text, NUL padded) */
	struct mezz_shim_range heap;    /* 0x90 scratch for the shim's outputs */
	struct mezz_shim_range param_device_tree;  /* 0xA0 */
	struct mezz_shim_range param_memory_map;   /* 0xB0 */
	struct mezz_shim_range param_command_line; /* 0xC0 */
	struct mezz_shim_range param_vp_count;     /* 0xD0 */
	uint16_t com_port;              /* 0xE0 16550 base for the log (0x3F8); 0: none */
	uint16_t reserved0[3];          /* 0xE2 zero */
	uint64_t reserved1[3];          /* 0xE8 zero */
	char static_cmdline[MEZZ_SHIM_STATIC_CMDLINE_MAX]; /* 0x100 NUL-terminated, measured */
};

_Static_assert(sizeof(struct mezz_shim_range) == 16, "mezz_shim_range");
_Static_assert(offsetof(struct mezz_shim_params, isolation) == 0x10, "isolation");
_Static_assert(offsetof(struct mezz_shim_params, vtl2) == 0x18, "vtl2");
_Static_assert(offsetof(struct mezz_shim_params, kernel_span) == 0x68, "kernel_span");
_Static_assert(offsetof(struct mezz_shim_params, param_vp_count) == 0xD0, "param_vp_count");
_Static_assert(offsetof(struct mezz_shim_params, com_port) == 0xE0, "com_port");
_Static_assert(offsetof(struct mezz_shim_params, static_cmdline) == 0x100, "static_cmdline");
_Static_assert(sizeof(struct mezz_shim_params) == 0x900, "one page holds it");

/*
 * TDX has no VP context: the VP starts at the reset vector 0xFFFFFFF0 in 32-bit protected mode
 * with paging off. The image puts the shim's reset page (boot/tdx_reset.S, 4 KiB) at GPA
 * 0xFFFFF000 and patches these fields of it at build time (offsets inside the page); the
 * page's code loads the GDT, CR4, CR3, EFER and CR0 of the entry state above, far-jumps to
 * 64-bit code, sets RSI and jumps to the entry.
 */
#define MEZZ_TDX_RESET_GPA        0xFFFFF000ull
#define MEZZ_TDX_RESET_OFF_CR3    0xFC0u  /* u32: vtl2.gpa + 0x2000 */
#define MEZZ_TDX_RESET_OFF_GDTR   0xFC8u  /* u16 limit, u32 base (a GDTR image) */
#define MEZZ_TDX_RESET_OFF_PARAMS 0xFD0u  /* u64: vtl2.gpa */
#define MEZZ_TDX_RESET_OFF_ENTRY  0xFD8u  /* u64: shim entry */

/*
 * The device tree the shim hands on (setup_data SETUP_DTB for the VTL2 kernel; read by the
 * paravisor): root compatible "mezzanine,vtl2", #address-cells = #size-cells = 2;
 *   /chosen        bootargs (the kernel command line built), linux,initrd-start/-end (u64)
 *   /cpus/cpu@N    device_type "cpu", reg <APIC ID> (#address-cells 1, #size-cells 0)
 *   /memory@X      device_type "memory", reg: VTL2 RAM ranges
 *   /mezzanine     compatible "mezzanine,paravisor"; isolation (string: none vbs snp tdx);
 *                  vp-count <u32>; vtl0-memory <u64 base, u64 size>... (VTL0 RAM from the
 *                  host's memory map); vtl2-memory <...> (VTL2 RAM); vtl2-reserved <...>
 *                  (what the shim, tables, parameter areas, log and heap use: not for the
 *                  paravisor's allocations); vtl2-free <...> (VTL2 RAM past the kernel span
 *                  and initrd, for the paravisor's shared pool); log <gpa size>
 *   /mezzanine/vmbus  (when the host DT has a VMBus node) compatible "microsoft,vmbus",
 *                  microsoft,message-connection-id <u32>, microsoft,vtl <u32>
 */
#define MEZZ_SHIM_DT_COMPATIBLE "mezzanine,vtl2"
#define MEZZ_SHIM_DT_PARAVISOR  "mezzanine,paravisor"

/*
 * The host's device tree (IGVM DEVICE_TREE parameter) as hvsim writes it and the shim reads
 * it (after Hyper-V's, igvm-facts.md §6.10): root #address-cells = #size-cells = 2;
 * /cpus/cpu@N reg <APIC ID>; /memory@X reg + microsoft,igvm-type <u32> (optional: the memory
 * map parameter is authoritative, nodes must agree with it); /chosen bootargs;
 * a node compatible "microsoft,vmbus" with microsoft,message-connection-id <u32> and
 * microsoft,vtl <u32> (anywhere under the root).
 */

#endif
