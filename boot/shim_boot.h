/*
 * shim_boot: everything the shim does between entry and the jump that is not hardware access,
 * so it compiles hosted and the unit tests and the fuzzer drive it with ordinary buffers:
 * check the params page and the kernel header, parse the host's parameter areas, then build
 * in the heap (bump allocated, page aligned, in this order):
 *   boot_params (1 page), the command line (cmdline_size + 1 bytes, at most SHIM_CMDLINE_MAX),
 *   the identity page tables (shim_pt), then one setup_data (SETUP_DTB) header followed by
 *   the output DTB (the rest of the heap).
 * Every stage logs one line "mezz-shim: ..."; a failure returns -errno with a named message.
 */
#ifndef MEZZ_BOOT_SHIM_BOOT_H
#define MEZZ_BOOT_SHIM_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "boot/shim_bootp.h"
#include "boot/shim_e820.h"
#include "boot/shim_host.h"
#include "boot/shim_log.h"
#include "boot/shim_params.h"
#include "boot/shim_range.h"

struct shim_boot_mem {
	struct shim_host_areas areas;   /* the four parameter areas */
	const uint8_t *kernel_setup;    /* p->kernel_setup.size bytes */
	uint8_t *heap;                  /* p->heap.size bytes, page aligned, at p->heap.gpa */
};

struct shim_boot {
	struct shim_host host;
	struct shim_bp_kernel kernel;
	struct shim_e820 e820;
	struct shim_rangeset reserved;  /* vtl2-reserved (= E820 type 2) */
	struct shim_rangeset free_ram;  /* vtl2-free */
	/* Results, as guest physical addresses. */
	uint64_t entry;                 /* kernel.gpa + 0x200 */
	uint64_t boot_params_gpa;
	uint64_t cmdline_gpa;
	const char *cmdline;            /* in the heap */
	size_t cmdline_len;
	uint64_t pt_gpa, cr3;
	size_t pt_pages;
	uint64_t setup_data_gpa, dtb_gpa;
	size_t dtb_len;
	uint64_t heap_used;
};

int shim_boot_prepare(const struct mezz_shim_params *p, const struct shim_boot_mem *m,
		      struct shim_boot *b, struct shim_log *log, char *err, size_t errlen);

/** The final line: entry, boot_params, the E820 table and the command line. */
void shim_boot_log_final(const struct shim_boot *b, struct shim_log *log);

#endif
