/* shim_range: see shim_range.h. */
#include "boot/shim_range.h"

#include <errno.h>

bool shim_range_overlap(uint64_t a, uint64_t as, uint64_t b, uint64_t bs)
{
	if (!as || !bs)
		return false;
	/* Compare offsets rather than ends so ranges touching 2^64 do not wrap. */
	return a < b ? b - a < as : a - b < bs;
}

bool shim_range_inside(uint64_t gpa, uint64_t size, uint64_t outer, uint64_t osize)
{
	return gpa >= outer && gpa - outer <= osize && size <= osize - (gpa - outer);
}

void shim_range_init(struct shim_rangeset *s)
{
	s->n = 0;
}

int shim_range_add(struct shim_rangeset *s, uint64_t gpa, uint64_t size)
{
	if (!size)
		return 0;
	if (gpa + size < gpa)
		return -ERANGE;
	uint64_t lo = gpa, hi = gpa + size;
	/* Absorb every range that overlaps or touches [lo, hi), then insert the union. */
	unsigned i = 0, out = 0;
	struct mezz_shim_range tmp[SHIM_RANGE_MAX + 1];
	bool placed = false;
	for (i = 0; i < s->n; i++) {
		uint64_t b = s->r[i].gpa, e = b + s->r[i].size;
		if (e < lo) {
			tmp[out++] = s->r[i];
		} else if (b > hi) {
			if (!placed) {
				tmp[out++] = (struct mezz_shim_range){ lo, hi - lo };
				placed = true;
			}
			tmp[out++] = s->r[i];
		} else {
			lo = b < lo ? b : lo;
			hi = e > hi ? e : hi;
		}
	}
	if (!placed)
		tmp[out++] = (struct mezz_shim_range){ lo, hi - lo };
	if (out > SHIM_RANGE_MAX)
		return -ENOSPC;
	for (i = 0; i < out; i++)
		s->r[i] = tmp[i];
	s->n = out;
	return 0;
}

int shim_range_sub(struct shim_rangeset *s, uint64_t gpa, uint64_t size)
{
	if (!size)
		return 0;
	uint64_t lo = gpa, hi = gpa + size < gpa ? UINT64_MAX : gpa + size;
	struct mezz_shim_range tmp[SHIM_RANGE_MAX + 1];
	unsigned out = 0;
	for (unsigned i = 0; i < s->n; i++) {
		uint64_t b = s->r[i].gpa, e = b + s->r[i].size;
		if (e <= lo || b >= hi) {
			tmp[out++] = s->r[i];
			continue;
		}
		if (b < lo)
			tmp[out++] = (struct mezz_shim_range){ b, lo - b };
		/* Only one range can be split in two, so tmp (one spare) cannot overflow. */
		if (e > hi)
			tmp[out++] = (struct mezz_shim_range){ hi, e - hi };
	}
	if (out > SHIM_RANGE_MAX)
		return -ENOSPC;
	for (unsigned i = 0; i < out; i++)
		s->r[i] = tmp[i];
	s->n = out;
	return 0;
}

bool shim_range_covers(const struct shim_rangeset *s, uint64_t gpa, uint64_t size)
{
	if (!size)
		return true;
	/* Coalesced: one range must hold all of it. */
	for (unsigned i = 0; i < s->n; i++)
		if (shim_range_inside(gpa, size, s->r[i].gpa, s->r[i].size))
			return true;
	return false;
}

bool shim_range_touches(const struct shim_rangeset *s, uint64_t gpa, uint64_t size)
{
	for (unsigned i = 0; i < s->n; i++)
		if (shim_range_overlap(gpa, size, s->r[i].gpa, s->r[i].size))
			return true;
	return false;
}
