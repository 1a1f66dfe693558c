/*
 * shim_hostdt: the host's device tree (IGVM DEVICE_TREE parameter, hostile; the layout
 * shim_params.h describes). Checked with fdt_check_header, totalsize <= the area and
 * fdt_check_full before any walk; every property length is checked before its value is read.
 *
 * Reads: /cpus/cpu@N reg <APIC ID> (unique; /cpus #address-cells 1, #size-cells 0),
 * memory nodes (name memory@... or device_type "memory") whose reg ranges (root cells 2/2)
 * with microsoft,igvm-type (default MEMORY) must lie in memory map entries of that type,
 * /chosen/bootargs, and nodes compatible "microsoft,vmbus" (microsoft,message-connection-id,
 * microsoft,vtl 0 or 2; the VTL2 one wins, else the first).
 * An area whose first word is zero (nothing from the host) is "no device tree".
 */
#ifndef MEZZ_BOOT_SHIM_HOSTDT_H
#define MEZZ_BOOT_SHIM_HOSTDT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot/shim_memmap.h"

#define MEZZ_SHIM_MAX_VPS     1024u
#define SHIM_HOST_CMDLINE_MAX 4096u   /* bytes including the NUL */

struct shim_hostdt {
	bool present;
	unsigned cpu_count;
	uint32_t apic_id[MEZZ_SHIM_MAX_VPS];   /* in DT order */
	unsigned memory_ranges;                /* memory node ranges checked against the map */
	bool have_bootargs;
	char bootargs[SHIM_HOST_CMDLINE_MAX];  /* printable ASCII, NUL terminated */
	bool have_vmbus;
	uint32_t vmbus_connection_id, vmbus_vtl;
};

/** Parse area[0, size) against the parsed memory map. 0 or -EINVAL with a named message. */
int shim_hostdt_parse(const void *area, size_t size, const struct shim_memmap *map,
		      struct shim_hostdt *out, char *err, size_t errlen);

#endif
