/*
 * shim_range: small sorted sets of disjoint guest-physical ranges (VTL2 RAM, VTL0 RAM, the
 * image's reserved ranges, the free pool), kept coalesced. Fixed capacity: the shim has no
 * allocator.
 */
#ifndef MEZZ_BOOT_SHIM_RANGE_H
#define MEZZ_BOOT_SHIM_RANGE_H

#include <stdbool.h>
#include <stdint.h>

#include "boot/shim_params.h"

#define SHIM_RANGE_MAX 64

struct shim_rangeset {
	struct mezz_shim_range r[SHIM_RANGE_MAX]; /* sorted, disjoint, non-adjacent, size > 0 */
	unsigned n;
};

/** [a, a + as) and [b, b + bs) share a byte (empty ranges share nothing; no overflow). */
bool shim_range_overlap(uint64_t a, uint64_t as, uint64_t b, uint64_t bs);

/** [gpa, gpa + size) lies inside [outer, outer + osize) (size 0: true if gpa in bounds). */
bool shim_range_inside(uint64_t gpa, uint64_t size, uint64_t outer, uint64_t osize);

void shim_range_init(struct shim_rangeset *s);

/** Add [gpa, gpa + size) (merging); -ENOSPC if the set is full, -ERANGE on overflow. */
int shim_range_add(struct shim_rangeset *s, uint64_t gpa, uint64_t size);

/** Remove [gpa, gpa + size) (splitting); -ENOSPC if a split does not fit. */
int shim_range_sub(struct shim_rangeset *s, uint64_t gpa, uint64_t size);

/** Every byte of [gpa, gpa + size) is in the set. */
bool shim_range_covers(const struct shim_rangeset *s, uint64_t gpa, uint64_t size);

/** Some byte of [gpa, gpa + size) is in the set. */
bool shim_range_touches(const struct shim_rangeset *s, uint64_t gpa, uint64_t size);

#endif
