/* shim_e820: see shim_e820.h. */
#include "boot/shim_e820.h"

#include <errno.h>

#include "boot/shim_err.h"

int shim_e820_build(const struct shim_rangeset *ram, const struct shim_rangeset *reserved,
		    struct shim_e820 *out, char *err, size_t errlen)
{
	struct shim_rangeset avail;
	avail = *ram;
	out->n = 0;
	for (unsigned i = 0; i < reserved->n; i++)
		if (shim_range_sub(&avail, reserved->r[i].gpa, reserved->r[i].size))
			return shim_err_set(err, errlen, -ENOSPC,
					    "e820: more than %u RAM ranges", SHIM_RANGE_MAX);
	/* Merge two sorted, mutually disjoint lists. */
	unsigned a = 0, r = 0;
	while (a < avail.n || r < reserved->n) {
		bool take_ram = r == reserved->n ||
				(a < avail.n && avail.r[a].gpa < reserved->r[r].gpa);
		const struct mezz_shim_range *src = take_ram ? &avail.r[a++] : &reserved->r[r++];
		if (out->n == SHIM_E820_MAX)
			return shim_err_set(err, errlen, -ENOSPC, "e820: more than %u entries",
					    SHIM_E820_MAX);
		out->e[out->n].addr = src->gpa;
		out->e[out->n].size = src->size;
		out->e[out->n].type = take_ram ? SHIM_E820_RAM : SHIM_E820_RESERVED;
		out->n++;
	}
	return 0;
}
