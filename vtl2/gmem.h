/*
 * gmem: VTL0 guest-physical memory as the paravisor sees it.
 *
 *   RAM        ranges of the VTL0 memory map, mapped into the process through the seam
 *              (kif_vtl0_map); bytes VTL0 shares with us: read each field once
 *   READONLY   RAM pages VTL0 may not write (protected on request): the hypervisor raises a
 *              GPA intercept instead; the emulator reads them as RAM and drops the writes
 *   PRIVATE    VTL2's own memory inside the map: no VTL0 access at all; the emulator reads
 *              all-ones (never VTL2's bytes) and drops the writes
 *   NONE       everything else: MMIO (the I/O bus) or nothing
 *
 * Also the page-walker memory callbacks (guest page tables live in RAM).
 * Regions are added at start-up; withheld ranges may change while VPs run (rwlock).
 */
#ifndef MEZZ_VTL2_GMEM_H
#define MEZZ_VTL2_GMEM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/addr.h"
#include "arch/x86_64/x86_pagewalk.h"

#define GMEM_MAX_REGIONS 16
#define GMEM_MAX_WITHHELD 64

enum gmem_kind {
	GMEM_NONE = 0,
	GMEM_RAM,
	GMEM_READONLY,
	GMEM_PRIVATE,
};

struct gmem_region {
	gpa_t base;
	uint64_t size;
	uint8_t *host;
};

struct gmem {
	struct gmem_region ram[GMEM_MAX_REGIONS];
	unsigned ram_count;
	pthread_rwlock_t lock;            /* withheld[] */
	struct { gpn_t first; uint64_t count; bool readable; } withheld[GMEM_MAX_WITHHELD];
	unsigned withheld_count;
};

void gmem_init(struct gmem *g);
void gmem_fini(struct gmem *g);
/** Add a RAM region (page aligned, no overlap): -EINVAL, -EEXIST, -ENOSPC. */
int gmem_add_ram(struct gmem *g, gpa_t base, uint64_t size, void *host);
/** True if [a, a + len) is RAM in one region. */
bool gmem_is_ram(const struct gmem *g, gpa_t a, uint64_t len);
/**
 * What [a, a + len) is (len <= 4096, within one page). For RAM, READONLY and PRIVATE, *host
 * points at the bytes.
 */
enum gmem_kind gmem_lookup(struct gmem *g, gpa_t a, unsigned len, uint8_t **host);
/**
 * The guest-physical address of host bytes [host, host + len) when they are RAM of one region
 * and every page of them is ordinary RAM (not withheld): 0 with *a, else -EINVAL.
 */
int gmem_host_to_gpa(struct gmem *g, const void *host, uint64_t len, gpa_t *a);
/**
 * Withhold (true) or return (false) [first, first + count) pages, READONLY when `readable`,
 * else PRIVATE; -EINVAL unless RAM, -ENOSPC when GMEM_MAX_WITHHELD ranges are held.
 */
int gmem_withhold(struct gmem *g, gpn_t first, uint64_t count, bool withhold, bool readable);

/** Page-walker memory over the RAM regions (ctx = struct gmem *). */
extern const struct x86_pw_mem_ops gmem_pw_ops;

#endif
