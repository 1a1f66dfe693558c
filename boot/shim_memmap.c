/* shim_memmap: see shim_memmap.h. */
#include "boot/shim_memmap.h"

#include <errno.h>
#include <string.h>

#include "boot/shim_err.h"

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

int shim_memmap_parse(const uint8_t *area, size_t size, struct shim_memmap *out, char *err,
		      size_t errlen)
{
	out->count = 0;
	for (size_t i = 0;; i++) {
		if (size / SHIM_MEMMAP_ENTRY_SIZE <= i)
			return shim_err_set(err, errlen, -EINVAL,
					    "memory map: no terminator within the %zu-byte area",
					    size);
		/* One copy of the entry: the host may change the area while we read it. */
		uint8_t raw[SHIM_MEMMAP_ENTRY_SIZE];
		memcpy(raw, area + i * SHIM_MEMMAP_ENTRY_SIZE, sizeof(raw));
		uint64_t gpn = rd64(raw), pages = rd64(raw + 8);
		uint16_t type, flags;
		uint32_t rsv;
		memcpy(&type, raw + 16, 2);
		memcpy(&flags, raw + 18, 2);
		memcpy(&rsv, raw + 20, 4);
		if (!pages) {
			if (gpn || type || flags || rsv)
				return shim_err_set(err, errlen, -EINVAL,
						    "memory map: entry %zu has 0 pages but other "
						    "fields set (not a clean terminator)", i);
			return 0;
		}
		if (i >= SHIM_MEMMAP_MAX)
			return shim_err_set(err, errlen, -EINVAL,
					    "memory map: more than %u entries", SHIM_MEMMAP_MAX);
		const uint64_t max_pages = SHIM_MEMMAP_PA_LIMIT >> 12;
		if (gpn >= max_pages || pages > max_pages - gpn)
			return shim_err_set(err, errlen, -EINVAL,
					    "memory map: entry %zu (gpn 0x%llx, 0x%llx pages) beyond "
					    "the 52-bit physical address space", i,
					    (unsigned long long)gpn, (unsigned long long)pages);
		if (type > SHIM_MEM_HIDDEN)
			return shim_err_set(err, errlen, -EINVAL,
					    "memory map: entry %zu has unknown type %u", i, type);
		if (rsv)
			return shim_err_set(err, errlen, -EINVAL,
					    "memory map: entry %zu reserved field 0x%x", i, rsv);
		struct shim_memmap_entry *e = &out->e[i];
		e->gpa = gpn << 12;
		e->size = pages << 12;
		e->type = type;
		e->flags = flags;
		if (i) {
			const struct shim_memmap_entry *prev = &out->e[i - 1];
			if (e->gpa < prev->gpa)
				return shim_err_set(err, errlen, -EINVAL,
						    "memory map: entry %zu [0x%llx,0x%llx) below entry "
						    "%zu (not sorted)", i, (unsigned long long)e->gpa,
						    (unsigned long long)(e->gpa + e->size), i - 1);
			if (e->gpa < prev->gpa + prev->size)
				return shim_err_set(err, errlen, -EINVAL,
						    "memory map: entry %zu [0x%llx,0x%llx) overlaps "
						    "entry %zu [0x%llx,0x%llx)", i,
						    (unsigned long long)e->gpa,
						    (unsigned long long)(e->gpa + e->size), i - 1,
						    (unsigned long long)prev->gpa,
						    (unsigned long long)(prev->gpa + prev->size));
		}
		out->count = (unsigned)i + 1;
	}
}

bool shim_memmap_covered(const struct shim_memmap *m, uint64_t gpa, uint64_t size, unsigned type)
{
	/* Entries are sorted and disjoint: walk forward while they stay contiguous. */
	uint64_t at = gpa, end = gpa + size;
	if (end < gpa)
		return false;
	for (unsigned i = 0; i < m->count && at < end; i++) {
		const struct shim_memmap_entry *e = &m->e[i];
		if (e->type != type || e->gpa + e->size <= at)
			continue;
		if (e->gpa > at)
			return false;
		at = e->gpa + e->size;
	}
	return at >= end;
}

int shim_memmap_split(const struct shim_memmap *m, const struct mezz_shim_range *vtl2,
		      struct shim_rangeset *vtl2_ram, struct shim_rangeset *vtl0_ram, char *err,
		      size_t errlen)
{
	shim_range_init(vtl2_ram);
	shim_range_init(vtl0_ram);
	for (unsigned i = 0; i < m->count; i++)
		if (m->e[i].type == SHIM_MEM_VTL2_PROTECTABLE &&
		    shim_range_add(vtl2_ram, m->e[i].gpa, m->e[i].size))
			return shim_err_set(err, errlen, -EINVAL,
					    "memory map: more than %u VTL2 ranges", SHIM_RANGE_MAX);
	if (!shim_range_covers(vtl2_ram, vtl2->gpa, vtl2->size)) {
		bool as_memory = shim_memmap_covered(m, vtl2->gpa, vtl2->size, SHIM_MEM_MEMORY);
		if (m->count && !as_memory)
			return shim_err_set(err, errlen, -EINVAL,
					    "memory map: VTL2 region [0x%llx,0x%llx) not covered by "
					    "VTL2_PROTECTABLE or MEMORY entries",
					    (unsigned long long)vtl2->gpa,
					    (unsigned long long)(vtl2->gpa + vtl2->size));
		/* Part of it may be VTL2_PROTECTABLE and the rest MEMORY: the union must hold
		   the whole region. */
		if (shim_range_add(vtl2_ram, vtl2->gpa, vtl2->size) ||
		    !shim_range_covers(vtl2_ram, vtl2->gpa, vtl2->size))
			return shim_err_set(err, errlen, -EINVAL,
					    "memory map: VTL2 region [0x%llx,0x%llx) not covered",
					    (unsigned long long)vtl2->gpa,
					    (unsigned long long)(vtl2->gpa + vtl2->size));
	}
	for (unsigned i = 0; i < vtl2_ram->n; i++)
		if (vtl2_ram->r[i].gpa + vtl2_ram->r[i].size > SHIM_MEMMAP_VTL2_LIMIT)
			return shim_err_set(err, errlen, -EINVAL,
					    "memory map: VTL2 RAM [0x%llx,0x%llx) above 512 GiB",
					    (unsigned long long)vtl2_ram->r[i].gpa,
					    (unsigned long long)(vtl2_ram->r[i].gpa +
								 vtl2_ram->r[i].size));
	for (unsigned i = 0; i < m->count; i++)
		if (m->e[i].type == SHIM_MEM_MEMORY &&
		    shim_range_add(vtl0_ram, m->e[i].gpa, m->e[i].size))
			return shim_err_set(err, errlen, -EINVAL,
					    "memory map: more than %u VTL0 ranges", SHIM_RANGE_MAX);
	for (unsigned i = 0; i < vtl2_ram->n; i++)
		if (shim_range_sub(vtl0_ram, vtl2_ram->r[i].gpa, vtl2_ram->r[i].size))
			return shim_err_set(err, errlen, -EINVAL,
					    "memory map: more than %u VTL0 ranges", SHIM_RANGE_MAX);
	return 0;
}
