/* gmem: VTL0 memory (see gmem.h). */
#include "vtl2/gmem.h"

#include <errno.h>
#include <string.h>

void gmem_init(struct gmem *g)
{
	memset(g, 0, sizeof(*g));
	pthread_rwlock_init(&g->lock, NULL);
}

void gmem_fini(struct gmem *g)
{
	pthread_rwlock_destroy(&g->lock);
}

int gmem_add_ram(struct gmem *g, gpa_t base, uint64_t size, void *host)
{
	if (!host || size == 0 || ((base.v | size) & (ADDR_PAGE_SIZE - 1)) ||
	    base.v + size < base.v)
		return -EINVAL;
	if (g->ram_count >= GMEM_MAX_REGIONS)
		return -ENOSPC;
	for (unsigned i = 0; i < g->ram_count; i++) {
		const struct gmem_region *r = &g->ram[i];
		if (base.v < r->base.v + r->size && r->base.v < base.v + size)
			return -EEXIST;
	}
	g->ram[g->ram_count++] = (struct gmem_region){ base, size, host };
	return 0;
}

static const struct gmem_region *find_ram(const struct gmem *g, uint64_t a, uint64_t len)
{
	for (unsigned i = 0; i < g->ram_count; i++) {
		const struct gmem_region *r = &g->ram[i];
		if (a >= r->base.v && a - r->base.v < r->size && len <= r->size - (a - r->base.v))
			return r;
	}
	return NULL;
}

bool gmem_is_ram(const struct gmem *g, gpa_t a, uint64_t len)
{
	return find_ram(g, a.v, len) != NULL;
}

static enum gmem_kind withheld_kind(struct gmem *g, uint64_t page)
{
	enum gmem_kind k = GMEM_RAM;
	pthread_rwlock_rdlock(&g->lock);
	for (unsigned i = 0; i < g->withheld_count; i++) {
		if (page >= g->withheld[i].first.v &&
		    page - g->withheld[i].first.v < g->withheld[i].count) {
			k = g->withheld[i].readable ? GMEM_READONLY : GMEM_PRIVATE;
			if (k == GMEM_PRIVATE)
				break;
		}
	}
	pthread_rwlock_unlock(&g->lock);
	return k;
}

enum gmem_kind gmem_lookup(struct gmem *g, gpa_t a, unsigned len, uint8_t **host)
{
	const struct gmem_region *r = find_ram(g, a.v, len ? len : 1);
	if (!r)
		return GMEM_NONE;
	*host = r->host + (a.v - r->base.v);
	if (!__atomic_load_n(&g->withheld_count, __ATOMIC_ACQUIRE))
		return GMEM_RAM;
	return withheld_kind(g, a.v >> ADDR_PAGE_SHIFT);
}

int gmem_host_to_gpa(struct gmem *g, const void *host, uint64_t len, gpa_t *a)
{
	const uintptr_t h = (uintptr_t)host;
	for (unsigned i = 0; i < g->ram_count; i++) {
		const struct gmem_region *r = &g->ram[i];
		const uintptr_t base = (uintptr_t)r->host;
		if (len == 0 || h < base || h - base >= r->size || len > r->size - (h - base))
			continue;
		const uint64_t start = r->base.v + (h - base);
		/* Every page ordinary RAM: none VTL2's, none VTL0 may not write. */
		for (uint64_t pg = start >> ADDR_PAGE_SHIFT; pg <= (start + len - 1) >> ADDR_PAGE_SHIFT;
		     pg++) {
			uint8_t *unused;
			if (gmem_lookup(g, gpa(pg << ADDR_PAGE_SHIFT), 1, &unused) != GMEM_RAM)
				return -EINVAL;
		}
		*a = gpa(start);
		return 0;
	}
	return -EINVAL;
}

int gmem_withhold(struct gmem *g, gpn_t first, uint64_t count, bool withhold, bool readable)
{
	/* first + count must stay below 2^52 pages, or count << 12 wraps (to 0 for count =
	   2^52, which find_ram would accept as an empty range at a RAM address). */
	const uint64_t max_pages = UINT64_MAX >> ADDR_PAGE_SHIFT;
	if (count == 0 || first.v > max_pages || count > max_pages - first.v ||
	    !find_ram(g, first.v << ADDR_PAGE_SHIFT, count << ADDR_PAGE_SHIFT))
		return -EINVAL;
	int rc = 0;
	pthread_rwlock_wrlock(&g->lock);
	unsigned i;
	for (i = 0; i < g->withheld_count; i++)
		if (g->withheld[i].first.v == first.v && g->withheld[i].count == count &&
		    g->withheld[i].readable == readable)
			break;
	if (withhold && i == g->withheld_count) {
		if (g->withheld_count < GMEM_MAX_WITHHELD) {
			g->withheld[g->withheld_count].first = first;
			g->withheld[g->withheld_count].count = count;
			g->withheld[g->withheld_count].readable = readable;
			__atomic_store_n(&g->withheld_count, g->withheld_count + 1, __ATOMIC_RELEASE);
		} else {
			rc = -ENOSPC;
		}
	} else if (!withhold && i < g->withheld_count) {
		g->withheld[i] = g->withheld[g->withheld_count - 1];
		__atomic_store_n(&g->withheld_count, g->withheld_count - 1, __ATOMIC_RELEASE);
	}
	pthread_rwlock_unlock(&g->lock);
	return rc;
}

/* The most restrictive kind over the pages of [a, a + size) (RAM, size >= 1). */
static enum gmem_kind span_kind(struct gmem *g, uint64_t a, unsigned size)
{
	if (!__atomic_load_n(&g->withheld_count, __ATOMIC_ACQUIRE))
		return GMEM_RAM;
	enum gmem_kind k = withheld_kind(g, a >> ADDR_PAGE_SHIFT);
	if (k != GMEM_PRIVATE && ((a + size - 1) >> ADDR_PAGE_SHIFT) != (a >> ADDR_PAGE_SHIFT)) {
		enum gmem_kind k2 = withheld_kind(g, (a + size - 1) >> ADDR_PAGE_SHIFT);
		if (k2 > k)
			k = k2;
	}
	return k;
}

/* Guest page tables are VTL0 data like any other: a walk never reads VTL2's private pages
   (VTL0 could aim CR3 or a PDE there to learn or, through A/D updates, modify VTL2 memory)
   and its A/D writes to read-only pages are dropped as the emulator drops data writes. */
static int pw_read(void *ctx, gpa_t at, void *buf, unsigned size)
{
	const struct gmem_region *r = find_ram(ctx, at.v, size);
	if (!r || size == 0 || span_kind(ctx, at.v, size) == GMEM_PRIVATE)
		return -EFAULT;
	memcpy(buf, r->host + (at.v - r->base.v), size);
	return 0;
}

static int pw_cmpxchg(void *ctx, gpa_t at, uint64_t old, uint64_t nv, unsigned size)
{
	const struct gmem_region *r = find_ram(ctx, at.v, size);
	if (!r || size == 0)
		return -EFAULT;
	uint8_t *p = r->host + (at.v - r->base.v);
	switch (span_kind(ctx, at.v, size)) {
	case GMEM_PRIVATE:
		return -EFAULT;
	case GMEM_READONLY:
		/* Still report a changed entry (the walk restarts), misalignment as the host
		   helper would, but write nothing. */
		return x86_pw_cmpxchg_host(p, old, old, size);
	default:
		return x86_pw_cmpxchg_host(p, old, nv, size);
	}
}

const struct x86_pw_mem_ops gmem_pw_ops = { .read = pw_read, .cmpxchg = pw_cmpxchg };
