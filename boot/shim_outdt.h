/*
 * shim_outdt: the device tree the shim hands on (setup_data SETUP_DTB), built with libfdt's
 * sequential-write API exactly as the end of shim_params.h documents: root compatible
 * "mezzanine,vtl2" (#address-cells = #size-cells = 2), /chosen, /cpus/cpu@N, /memory@X (one
 * node per VTL2 RAM range), /mezzanine (isolation, vp-count, vtl0-memory, vtl2-memory,
 * vtl2-reserved, vtl2-free, log) and /mezzanine/vmbus when the host DT had a VMBus node.
 */
#ifndef MEZZ_BOOT_SHIM_OUTDT_H
#define MEZZ_BOOT_SHIM_OUTDT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot/shim_params.h"
#include "boot/shim_range.h"

struct shim_outdt_input {
	const char *cmdline;
	uint64_t initrd_gpa, initrd_size;      /* size 0: no linux,initrd-* */
	unsigned isolation;
	uint32_t vp_count;
	const uint32_t *apic_id;               /* vp_count entries */
	const struct shim_rangeset *vtl0_ram, *vtl2_ram, *vtl2_reserved, *vtl2_free;
	struct mezz_shim_range log;
	bool have_vmbus;
	uint32_t vmbus_connection_id, vmbus_vtl;
};

/** Build into buf[size]; *len = totalsize. 0 or -ENOSPC/-EINVAL with a message. */
int shim_outdt_build(void *buf, size_t size, const struct shim_outdt_input *in, size_t *len,
		     char *err, size_t errlen);

#endif
