/*
 * vtl2_boot: `mezz-sim run --igvm FILE`, the boot of a Mezzanine IGVM image in hvsim up to the
 * paravisor:
 *
 *   1. the host loads the image (tools/hvsim/hvsim_igvm.h: pages, parameter areas with the
 *      host's device tree, memory map, command line and VP count, VP 0's context);
 *   2. VP 0 runs the boot shim in VTL2 until it reaches the kernel's 64-bit entry (a
 *      breakpoint there); the host's COM1 (port 0x3F8) prints what VTL2 writes, prefixed
 *      "vtl2: "; the shim's instructions are counted;
 *   3. hvsim reads what the shim handed over (boot_params: E820 table, command line, the
 *      setup_data device tree), lets the real kernel run in VTL2 until it has printed its
 *      E820 map and command line (earlyprintk on COM1), and compares both with the handover:
 *      a kernel nobody here wrote validates the shim's boot_params;
 *   4. the device tree the shim built configures the paravisor (vtl2/bootcfg.h), which then
 *      runs in-process (the stand-in kernel has no mshv_vtl) - see mezz_sim.c.
 *
 * Everything VTL2 wrote is hostile to this code as it is to any host: every pointer in
 * boot_params is checked against partition RAM before use.
 */
#ifndef MEZZ_TOOLS_MEZZ_SIM_VTL2_BOOT_H
#define MEZZ_TOOLS_MEZZ_SIM_VTL2_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tools/hvsim/hvsim_igvm.h"
#include "vtl2/bootcfg.h"

struct hvsim;

#define VTL2_BOOT_MAX_E820 128

struct vtl2_boot_e820 {
	uint64_t addr, size;
	uint32_t type;
};

struct vtl2_boot_opts {
	const uint8_t *image;
	size_t image_size;
	struct hvsim_igvm_host host;
	bool kernel_check;          /* step 3: run the kernel until its E820/command line */
	unsigned shim_timeout_s;    /* 0: 60 */
	unsigned kernel_timeout_s;  /* 0: 300 */
	FILE *out;                  /* stage lines and VTL2's COM1 */
};

struct vtl2_boot_result {
	struct hvsim_igvm_loaded loaded;
	uint64_t shim_insns;        /* guest instructions from entry to the kernel jump (upper
				       bound: counted per translation block) */
	uint64_t kernel_insns;      /* until the E820/command line check was done */
	uint64_t boot_params;       /* RSI at the kernel entry */
	struct vtl2_boot_e820 e820[VTL2_BOOT_MAX_E820];
	unsigned e820_count;
	char cmdline[4096];
	uint8_t *dtb;               /* malloc'd copy of the SETUP_DTB payload */
	size_t dtb_size;
	struct bootcfg cfg;         /* the paravisor's configuration from dtb */
	/* VTL2 memory by use, from the shim's parameter page (bytes). */
	uint64_t mem_region;        /* the image's VTL2 region */
	uint64_t mem_shim;          /* the shim's ELF segments */
	uint64_t mem_loader;        /* parameter page, GDT + tables, parameter areas, log,
				       kernel setup bytes */
	uint64_t mem_heap;          /* the image's heap region (the shim logs what it used) */
	uint64_t mem_kernel;        /* kernel span (the VTL2 kernel's, reported apart) */
	uint64_t mem_initrd;
};

/* Statuses: 0 the handover checked out; otherwise a VM_EXIT_* with a message on stderr. */
int vtl2_boot_run(struct hvsim *sim, const struct vtl2_boot_opts *o, struct vtl2_boot_result *r);
void vtl2_boot_free(struct vtl2_boot_result *r);

#endif
