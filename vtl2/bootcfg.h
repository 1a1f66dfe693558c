/*
 * bootcfg: the paravisor's configuration from the device tree the VTL2 boot shim built
 * (boot/shim_params.h documents the nodes; on hardware the VTL2 kernel exposes it as
 * /sys/firmware/fdt, in hvsim mezz-sim reads it from the kernel's setup_data). The shim
 * validated the host's inputs, but this parser trusts nothing: every length, count, range and
 * overlap is checked again, so a corrupted or forged tree gives a named error.
 */
#ifndef MEZZ_VTL2_BOOTCFG_H
#define MEZZ_VTL2_BOOTCFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/addr.h"

#define BOOTCFG_MAX_RANGES 64
#define BOOTCFG_MAX_VPS 1024
#define BOOTCFG_MAX_DTB (1u << 20)

struct bootcfg_range {
	gpa_t gpa;
	uint64_t size;
};

struct bootcfg_ranges {
	struct bootcfg_range r[BOOTCFG_MAX_RANGES];
	unsigned count;
};

struct bootcfg {
	uint32_t vp_count;                  /* = the /cpus/cpu@ nodes */
	uint32_t apic_id[BOOTCFG_MAX_VPS];  /* per VP, in node order */
	char isolation[8];                  /* "none", "vbs", "snp", "tdx" */
	struct bootcfg_ranges vtl0;         /* VTL0 RAM */
	struct bootcfg_ranges vtl2;         /* VTL2 RAM */
	struct bootcfg_ranges vtl2_reserved;/* in use by the boot stage (inside vtl2) */
	struct bootcfg_ranges vtl2_free;    /* for the paravisor's pools (inside vtl2) */
	bool vmbus;
	uint32_t vmbus_connection_id;
	uint32_t vmbus_vtl;
	char bootargs[2048];                /* /chosen/bootargs (the kernel command line) */
};

/**
 * Parse `dtb[0, len)` (8-byte aligned, as libfdt requires: a malloc'd copy is). 0 with *out filled, or -EINVAL (malformed or inconsistent) / -E2BIG
 * (more ranges or VPs than the limits) with a message naming the node and property.
 */
int bootcfg_parse(const void *dtb, size_t len, struct bootcfg *out, char *err, size_t errlen);

#endif
