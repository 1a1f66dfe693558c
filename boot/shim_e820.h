/*
 * shim_e820: the VTL2 kernel's E820 table: VTL2 RAM as type 1 (RAM) minus the shim's reserved
 * ranges, which are type 2 (reserved); sorted by address, disjoint; nothing from VTL0 (the
 * VTL2 kernel must never treat VTL0 memory as its own).
 */
#ifndef MEZZ_BOOT_SHIM_E820_H
#define MEZZ_BOOT_SHIM_E820_H

#include <stddef.h>
#include <stdint.h>

#include "boot/shim_range.h"

#define SHIM_E820_MAX      128u   /* boot_params.e820_table (zero-page.rst) */
#define SHIM_E820_RAM      1u
#define SHIM_E820_RESERVED 2u

/* zero-page.rst: struct boot_e820_entry, 20 bytes, packed. */
struct shim_e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));
_Static_assert(sizeof(struct shim_e820_entry) == 20, "zero-page.rst boot_e820_entry");

struct shim_e820 {
	struct shim_e820_entry e[SHIM_E820_MAX];
	unsigned n;
};

/** Build from VTL2 RAM and the reserved ranges. 0 or -ENOSPC with a message. */
int shim_e820_build(const struct shim_rangeset *ram, const struct shim_rangeset *reserved,
		    struct shim_e820 *out, char *err, size_t errlen);

#endif
