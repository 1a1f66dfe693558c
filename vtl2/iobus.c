/*
 * iobus: see iobus.h. Ranges live in one sorted array per space; registration (start-up only)
 * inserts with an overlap check, iobus_freeze ends it, and lookups after that are binary
 * searches over immutable arrays, so VP threads never take a lock to find a device. The per-VP
 * hint short-cuts the search for the common case of one device being hit repeatedly.
 */
#include "vtl2/iobus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct iobus {
	struct iobus_range ranges[IOBUS_SPACE_COUNT][IOBUS_MAX_RANGES];
	size_t count[IOBUS_SPACE_COUNT];
	size_t total;
	bool frozen;
};

/* Highest address + 1 of each space. */
static const uint64_t space_end[IOBUS_SPACE_COUNT] = {
	[IOBUS_PIO] = 0x10000ull,
	[IOBUS_MMIO] = 0,               /* 0 = the whole 64-bit space */
	[IOBUS_MSR] = 0x100000000ull,
	[IOBUS_CONN] = 0x1000000ull,
};

int iobus_create(struct iobus **out)
{
	struct iobus *bus = calloc(1, sizeof(*bus));
	if (!bus)
		return -ENOMEM;
	*out = bus;
	return 0;
}

void iobus_destroy(struct iobus *bus)
{
	free(bus);
}

int iobus_register(struct iobus *bus, enum iobus_space space, uint64_t base, uint64_t len,
		   const struct iobus_ops *ops, void *dev, const char *name)
{
	if (!bus || (unsigned)space >= IOBUS_SPACE_COUNT || len == 0 || !ops)
		return -EINVAL;
	if (bus->frozen)
		return -EBUSY;
	uint64_t last = base + (len - 1);
	if (last < base)
		return -EINVAL;
	if (space_end[space] && last >= space_end[space])
		return -EINVAL;
	if (bus->total >= IOBUS_MAX_RANGES)
		return -ENOSPC;
	struct iobus_range *r = bus->ranges[space];
	size_t n = bus->count[space], i = 0;
	while (i < n && r[i].base <= base)
		i++;
	/* The neighbours on both sides are the only ranges that can overlap. */
	if (i > 0 && r[i - 1].base + (r[i - 1].len - 1) >= base)
		return -EEXIST;
	if (i < n && r[i].base <= last)
		return -EEXIST;
	memmove(&r[i + 1], &r[i], (n - i) * sizeof(*r));
	r[i] = (struct iobus_range){ space, base, len, ops, dev, name ? name : "?" };
	bus->count[space]++;
	bus->total++;
	return 0;
}

void iobus_freeze(struct iobus *bus)
{
	bus->frozen = true;
}

size_t iobus_count(const struct iobus *bus, enum iobus_space space)
{
	return (unsigned)space < IOBUS_SPACE_COUNT ? bus->count[space] : 0;
}

const struct iobus_range *iobus_range_at(const struct iobus *bus, enum iobus_space space,
					 size_t i)
{
	if ((unsigned)space >= IOBUS_SPACE_COUNT || i >= bus->count[space])
		return NULL;
	return &bus->ranges[space][i];
}

static bool contains(const struct iobus_range *r, uint64_t addr)
{
	return addr >= r->base && addr - r->base < r->len;
}

const struct iobus_range *iobus_find(const struct iobus *bus, struct iobus_hint *hint,
				     enum iobus_space space, uint64_t addr)
{
	if ((unsigned)space >= IOBUS_SPACE_COUNT)
		return NULL;
	if (hint && hint->last[space] && contains(hint->last[space], addr))
		return hint->last[space];
	const struct iobus_range *r = bus->ranges[space];
	size_t lo = 0, hi = bus->count[space];
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* lo = first range with base > addr; the candidate is the one before. */
	if (lo == 0 || !contains(&r[lo - 1], addr))
		return NULL;
	if (hint)
		hint->last[space] = &r[lo - 1];
	return &r[lo - 1];
}

static enum iobus_action worse(enum iobus_action a, enum iobus_action b)
{
	return a > b ? a : b;
}

/* One access wholly inside `r` (or no device): the handler or the unclaimed answer. */
static enum iobus_action one_read(const struct iobus_range *r, uint64_t addr, unsigned size,
				  const struct iobus_access *a, uint64_t *value)
{
	*value = iobus_ones(size);
	if (!r || !r->ops->read)
		return IOBUS_NOT_MINE;
	uint64_t v = iobus_ones(size);
	enum iobus_action act = r->ops->read(r->dev, a, addr - r->base, size, &v);
	if (act == IOBUS_OK)
		*value = v & iobus_ones(size);
	return act;
}

static enum iobus_action one_write(const struct iobus_range *r, uint64_t addr, unsigned size,
				   const struct iobus_access *a, uint64_t value)
{
	if (!r || !r->ops->write)
		return IOBUS_NOT_MINE;
	return r->ops->write(r->dev, a, addr - r->base, size, value & iobus_ones(size));
}

/* Addresses an access is routed by: an MSR is one address whatever its width; a port access
   goes to the device decoding its first port, which answers the wider lanes itself (as ISA
   decoding does); MMIO covers every byte. */
static uint64_t extent(enum iobus_space space, unsigned size)
{
	return space == IOBUS_MMIO ? size : 1;
}

/* Whether the access goes to `r` (or, for ports and MSRs, to nobody) as one piece rather than
   being split into bytes. Ports and MSRs route by the first address alone: an unclaimed first
   address is unclaimed whole (an MSR's bytes are not neighbouring MSRs). Written so that an
   MMIO range reaching the top of the space cannot make offset + size wrap into "fits". */
static bool whole(const struct iobus_range *r, enum iobus_space space, uint64_t addr,
		  unsigned size)
{
	if (!r)
		return space != IOBUS_MMIO;
	return extent(space, size) <= r->len - (addr - r->base);
}

/* The range of byte `i` of a split MMIO access; bytes past 2^64 - 1 are nobody's (no wrap
   to address 0). */
static const struct iobus_range *byte_range(const struct iobus *bus, struct iobus_hint *hint,
					    enum iobus_space space, uint64_t addr, unsigned i)
{
	if (addr + i < addr)
		return NULL;
	return iobus_find(bus, hint, space, addr + i);
}

static bool size_ok(unsigned size)
{
	return size == 1 || size == 2 || size == 4 || size == 8;
}

enum iobus_action iobus_read(const struct iobus *bus, struct iobus_hint *hint,
			     enum iobus_space space, uint64_t addr, unsigned size,
			     const struct iobus_access *a, uint64_t *value)
{
	*value = iobus_ones(size);
	if (!size_ok(size))
		return IOBUS_BAD_REGISTER;
	const struct iobus_range *r = iobus_find(bus, hint, space, addr);
	if (whole(r, space, addr, size))
		return one_read(r, addr, size, a, value);
	/* MMIO straddling a range boundary (or starting outside every range and maybe running
	   into one): byte by byte, little-endian. */
	enum iobus_action act = IOBUS_OK;
	uint64_t v = 0;
	for (unsigned i = 0; i < size; i++) {
		uint64_t b;
		act = worse(act, one_read(byte_range(bus, hint, space, addr, i), addr + i, 1, a, &b));
		v |= (b & 0xFF) << (8 * i);
	}
	*value = v;
	return act;
}

enum iobus_action iobus_write(const struct iobus *bus, struct iobus_hint *hint,
			      enum iobus_space space, uint64_t addr, unsigned size,
			      const struct iobus_access *a, uint64_t value)
{
	if (!size_ok(size))
		return IOBUS_BAD_REGISTER;
	const struct iobus_range *r = iobus_find(bus, hint, space, addr);
	if (whole(r, space, addr, size))
		return one_write(r, addr, size, a, value);
	enum iobus_action act = IOBUS_OK;
	for (unsigned i = 0; i < size; i++)
		act = worse(act, one_write(byte_range(bus, hint, space, addr, i), addr + i, 1, a,
					   (value >> (8 * i)) & 0xFF));
	return act;
}

int iobus_post_message(const struct iobus *bus, const struct iobus_access *a, uint32_t conn,
		       uint32_t type, const void *payload, uint32_t len)
{
	const struct iobus_range *r = iobus_find(bus, NULL, IOBUS_CONN, conn);
	if (!r || !r->ops->message)
		return -ENOENT;
	return r->ops->message(r->dev, a, conn, type, payload, len);
}

int iobus_signal_event(const struct iobus *bus, const struct iobus_access *a, uint32_t conn,
		       uint16_t flag)
{
	const struct iobus_range *r = iobus_find(bus, NULL, IOBUS_CONN, conn);
	if (!r || !r->ops->event)
		return -ENOENT;
	return r->ops->event(r->dev, a, conn, flag);
}

const char *iobus_space_name(enum iobus_space space)
{
	static const char *const names[IOBUS_SPACE_COUNT] = { "pio", "mmio", "msr", "conn" };
	return (unsigned)space < IOBUS_SPACE_COUNT ? names[space] : "?";
}

const char *iobus_action_name(enum iobus_action action)
{
	switch (action) {
	case IOBUS_OK: return "ok";
	case IOBUS_NOT_MINE: return "not-mine";
	case IOBUS_BAD_REGISTER: return "bad-register";
	}
	return "?";
}
