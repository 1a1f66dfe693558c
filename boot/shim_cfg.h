/*
 * shim_cfg: checks of the measured parameter page (struct mezz_shim_params) before the shim
 * trusts any of its ranges: magic, version, size, enums, reserved fields, alignment, every
 * range inside the VTL2 region below 4 GiB and no two of the image's ranges overlapping (the
 * hostile parameter areas included). A bad image or loader gives a named error, not a wild
 * write.
 */
#ifndef MEZZ_BOOT_SHIM_CFG_H
#define MEZZ_BOOT_SHIM_CFG_H

#include <stddef.h>

#include "boot/shim_params.h"
#include "boot/shim_range.h"

/* Below this the heap cannot hold boot_params, the command line, page tables and a DT. */
#define SHIM_CFG_HEAP_MIN   0x10000u
#define SHIM_CFG_LIMIT_4G   0x100000000ull
#define SHIM_CFG_2M         0x200000ull
#define SHIM_CFG_PAGE       0x1000ull
/* The shim uses at most this much of the image's heap (boot_params, command line, page
   tables, device tree); only that part is reserved in the kernel's e820, the rest is RAM. */
#define SHIM_HEAP_MAX       0x80000ull

/** 0, or -EINVAL with a message naming the field. */
int shim_cfg_check(const struct mezz_shim_params *p, char *err, size_t errlen);

/** Name of an isolation value ("none", "vbs", "snp", "tdx"; "?" if out of range). */
const char *shim_cfg_isolation_name(unsigned isolation);

/**
 * The ranges the image keeps for the shim and its outputs (the loader block [vtl2,
 * vtl2 + MEZZ_SHIM_OFF_PARAM_AREAS): params page, GDT, tables and whatever else the image put
 * there; the parameter areas, log, heap, shim ELF), page rounded, into *out (emptied first).
 */
int shim_cfg_reserved(const struct mezz_shim_params *p, struct shim_rangeset *out);

#endif
