/*
 * shim_e820: the VTL2 kernel's E820 table: VTL2 RAM as type 1 (RAM) minus the shim's reserved
 * ranges, which are type 2 (reserved); sorted by address, disjoint; nothing from VTL0 (the
 * VTL2 kernel must never treat VTL0 memory as its own).
 */
#ifndef MEZZ_BOOT_SHIM_E820_H
#define MEZZ_BOOT_SHIM_E820_H

#include <stddef.h>
#include <stdint.h>

#include "arch/x86_64/x86_boot.h"
#include "boot/shim_range.h"

#define SHIM_E820_MAX      X86_BOOT_E820_MAX
#define SHIM_E820_RAM      X86_BOOT_E820_RAM
#define SHIM_E820_RESERVED X86_BOOT_E820_RESERVED


struct shim_e820 {
	struct x86_boot_e820_entry e[SHIM_E820_MAX];
	unsigned n;
};

/** Build from VTL2 RAM and the reserved ranges. 0 or -ENOSPC with a message. */
int shim_e820_build(const struct shim_rangeset *ram, const struct shim_rangeset *reserved,
		    struct shim_e820 *out, char *err, size_t errlen);

#endif
