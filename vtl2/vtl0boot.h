/*
 * vtl0boot: the paravisor loads VTL0's kernel itself (as OpenHCL loads VTL0's firmware):
 * ACPI tables for VTL0 (vtl2/acpi), the Linux 64-bit boot protocol (vtl2/linux_boot), the
 * pieces copied into VTL0 RAM, and VP 0's initial registers set through the seam.
 *
 * Only VP 0 starts at the kernel entry; the others stay in the architectural wait-for-SIPI
 * state until the kernel starts them with INIT/SIPI through its local APIC (the hypervisor's:
 * the MADT lists every VP).
 */
#ifndef MEZZ_VTL2_VTL0BOOT_H
#define MEZZ_VTL2_VTL0BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "vtl2/gmem.h"
#include "vtl2/kif.h"
#include "vtl2/linux_boot.h"
#include "vtl2/partition.h"

/* The ACPI tables live in the legacy BIOS area, reserved in E820. */
#define VTL0BOOT_ACPI_BASE 0xE0000ull
#define VTL0BOOT_ACPI_MAX 0x20000ull

struct vtl0boot {
	struct linux_boot_regs regs;   /* VP 0 at the entry */
	gpa_t kernel, initrd, rsdp;
	uint64_t kernel_span;
};

/**
 * Lay out and copy everything into VTL0 RAM (through `mem`). 0 or -errno with `err`.
 * cfg->kernel must be set.
 */
int vtl0boot_prepare(struct gmem *mem, const struct partition_config *cfg, uint32_t vp_count,
		     struct vtl0boot *out, char *err, size_t errlen);

/** Load VP `vp`'s initial registers (the calling thread is bound to it). 0 or -errno. */
int vtl0boot_apply(struct kif *kif, uint32_t vp, const struct vtl0boot *b);

#endif
