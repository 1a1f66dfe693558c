/*
 * shim_memmap: the host's IGVM MEMORY_MAP parameter (hostile), igvm-facts.md §6.10: an array
 * of 24-byte IGVM_VHS_MEMORY_MAP_ENTRY {u64 starting_gpa_page_number, u64 number_of_pages,
 * u16 entry_type, u16 flags, u32 reserved}, sorted by GPA, terminated by an entry with
 * number_of_pages == 0 (which must be all zero here, so a torn entry is not taken for the end).
 * An area that starts with the terminator (all zero: the host gave nothing) is an empty map.
 */
#ifndef MEZZ_BOOT_SHIM_MEMMAP_H
#define MEZZ_BOOT_SHIM_MEMMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot/shim_params.h"
#include "boot/shim_range.h"

#define SHIM_MEMMAP_ENTRY_SIZE 24u
#define SHIM_MEMMAP_MAX        512u   /* entries before the terminator */
#define SHIM_MEMMAP_PA_LIMIT   (1ull << 52) /* x86-64 architectural physical address limit */

enum shim_memmap_type {
	SHIM_MEM_MEMORY = 0,
	SHIM_MEM_PLATFORM_RESERVED = 1,
	SHIM_MEM_PERSISTENT = 2,
	SHIM_MEM_VTL2_PROTECTABLE = 3,
	SHIM_MEM_SPECIFIC_PURPOSE = 4,
	SHIM_MEM_HIDDEN = 5,
};

struct shim_memmap_entry {
	uint64_t gpa, size;   /* bytes; page multiples; gpa + size <= SHIM_MEMMAP_PA_LIMIT */
	uint16_t type, flags;
};

struct shim_memmap {
	struct shim_memmap_entry e[SHIM_MEMMAP_MAX];
	unsigned count;
};

/** Parse area[0, size). 0 or -EINVAL with a message naming the entry. */
int shim_memmap_parse(const uint8_t *area, size_t size, struct shim_memmap *out, char *err,
		      size_t errlen);

/** Every byte of [gpa, gpa + size) is in entries of `type` (contiguous). */
bool shim_memmap_covered(const struct shim_memmap *m, uint64_t gpa, uint64_t size,
			unsigned type);

/**
 * VTL2 RAM and VTL0 RAM from the map and the image's VTL2 region `vtl2`: VTL2 RAM is every
 * VTL2_PROTECTABLE entry, plus the region itself when the host reported it as MEMORY (or the
 * map is empty); the region must end up inside VTL2 RAM. VTL0 RAM is the MEMORY entries minus
 * VTL2 RAM. VTL2 RAM must lie below 512 GiB (one PDPT of shim page tables).
 */
int shim_memmap_split(const struct shim_memmap *m, const struct mezz_shim_range *vtl2,
		      struct shim_rangeset *vtl2_ram, struct shim_rangeset *vtl0_ram, char *err,
		      size_t errlen);

#define SHIM_MEMMAP_VTL2_LIMIT (512ull << 30)

#endif
