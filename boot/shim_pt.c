/* shim_pt: see shim_pt.h. */
#include "boot/shim_pt.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "boot/shim_err.h"

#define GIB (1ull << 30)
#define TWO_MIB (2ull << 20)

static void gib_touched(const struct shim_rangeset *map, bool touched[512])
{
	memset(touched, 0, 512);
	for (unsigned i = 0; i < map->n; i++) {
		uint64_t b = map->r[i].gpa, e = b + map->r[i].size;
		for (uint64_t g = b / GIB; g * GIB < e && g < 512; g++)
			touched[g] = true;
	}
}

size_t shim_pt_pages(const struct shim_rangeset *map)
{
	bool touched[512];
	for (unsigned i = 0; i < map->n; i++)
		if (map->r[i].gpa + map->r[i].size > SHIM_PT_LIMIT)
			return 0;
	gib_touched(map, touched);
	size_t n = 2;
	for (unsigned g = 0; g < 512; g++)
		n += touched[g];
	return n;
}

int shim_pt_build(void *buf, uint64_t buf_gpa, size_t buf_pages, const struct shim_rangeset *map,
		  uint64_t *cr3, char *err, size_t errlen)
{
	size_t need = shim_pt_pages(map);
	if (!need)
		return shim_err_set(err, errlen, -ERANGE, "page tables: memory above 512 GiB");
	if (need > buf_pages)
		return shim_err_set(err, errlen, -ENOSPC,
				    "page tables: need %zu pages, have %zu", need, buf_pages);
	uint64_t (*pg)[512] = buf;
	memset(buf, 0, need * 4096);
	bool touched[512];
	gib_touched(map, touched);
	/* Page 0 PML4, page 1 PDPT, then the PDs in GiB order. */
	pg[0][0] = (buf_gpa + 4096) | SHIM_PT_P | SHIM_PT_RW;
	unsigned pd_of[512];
	size_t next = 2;
	for (unsigned g = 0; g < 512; g++) {
		if (!touched[g])
			continue;
		pd_of[g] = (unsigned)next;
		pg[1][g] = (buf_gpa + next * 4096) | SHIM_PT_P | SHIM_PT_RW;
		next++;
	}
	for (unsigned i = 0; i < map->n; i++) {
		uint64_t b = map->r[i].gpa & ~(TWO_MIB - 1), e = map->r[i].gpa + map->r[i].size;
		for (uint64_t a = b; a < e; a += TWO_MIB)
			pg[pd_of[a / GIB]][(a / TWO_MIB) % 512] =
				a | SHIM_PT_P | SHIM_PT_RW | SHIM_PT_PS;
	}
	*cr3 = buf_gpa;
	return 0;
}
