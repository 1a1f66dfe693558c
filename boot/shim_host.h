/*
 * shim_host: everything the host handed over in the (hostile) IGVM parameter areas, parsed and
 * cross-checked into one validated struct:
 *   memory map    shim_memmap (sorted, disjoint, bounded, known types)
 *   VP count      u32 at the start of its area: 0 = not given; else 1..MEZZ_SHIM_MAX_VPS
 *   command line  NUL inside the area, printable ASCII, < SHIM_HOST_CMDLINE_MAX bytes;
 *                 empty (first byte NUL) = not given
 *   device tree   shim_hostdt; first word zero = not given
 * VPs: with a device tree, the cpu nodes (APIC IDs in DT order); a VP count given must equal
 * their number. Without cpu nodes: the VP count (APIC IDs 0..n-1; a DT without cpu nodes but a
 * VP count is a mismatch). Neither: one VP, APIC ID 0 (the host said nothing; the BSP runs).
 * Host command line: the COMMAND_LINE parameter, else /chosen/bootargs.
 * VTL2/VTL0 RAM: shim_memmap_split with the image's VTL2 region.
 * An area of size 0 in the params page counts as "not given".
 */
#ifndef MEZZ_BOOT_SHIM_HOST_H
#define MEZZ_BOOT_SHIM_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot/shim_hostdt.h"
#include "boot/shim_memmap.h"
#include "boot/shim_params.h"
#include "boot/shim_range.h"

/* The parameter areas' bytes (the shim: the identity-mapped gpas; tests: buffers), sizes as
   in the params page. */
struct shim_host_areas {
	const uint8_t *device_tree;
	const uint8_t *memory_map;
	const uint8_t *command_line;
	const uint8_t *vp_count;
};

struct shim_host {
	struct shim_memmap map;
	struct shim_hostdt dt;
	uint32_t vp_count;                     /* final: 1..MEZZ_SHIM_MAX_VPS */
	uint32_t apic_id[MEZZ_SHIM_MAX_VPS];
	uint32_t vp_count_param;               /* as given; 0 = none */
	char cmdline[SHIM_HOST_CMDLINE_MAX];   /* host command line ("" = none) */
	const char *cmdline_source;            /* "parameter", "device tree" or "none" */
	struct shim_rangeset vtl2_ram, vtl0_ram;
};

int shim_host_parse(const struct mezz_shim_params *p, const struct shim_host_areas *a,
		    struct shim_host *out, char *err, size_t errlen);

#endif
