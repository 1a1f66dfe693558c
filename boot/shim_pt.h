/*
 * shim_pt: identity page tables (4-level, 2 MiB pages, present + writable) for every 2 MiB page
 * that touches one of the given ranges (VTL2 RAM, which holds the image, the heap, the kernel,
 * the initrd, boot_params and the command line: all the 64-bit boot protocol asks to be
 * mapped). One PML4, one PDPT (everything below 512 GiB), one PD per GiB touched.
 */
#ifndef MEZZ_BOOT_SHIM_PT_H
#define MEZZ_BOOT_SHIM_PT_H

#include <stddef.h>
#include <stdint.h>

#include "boot/shim_range.h"

#define SHIM_PT_LIMIT (512ull << 30)
#define SHIM_PT_P   0x1ull
#define SHIM_PT_RW  0x2ull
#define SHIM_PT_PS  0x80ull

/** Pages needed for `map` (0 if some range reaches past SHIM_PT_LIMIT). */
size_t shim_pt_pages(const struct shim_rangeset *map);

/**
 * Build into buf (page aligned, at guest address buf_gpa, buf_pages pages, zeroed here).
 * *cr3 = the PML4's gpa. 0, or -ENOSPC / -ERANGE with a message.
 */
int shim_pt_build(void *buf, uint64_t buf_gpa, size_t buf_pages, const struct shim_rangeset *map,
		  uint64_t *cr3, char *err, size_t errlen);

#endif
