/*
 * iobus: the one I/O bus of the paravisor. Devices register ranges in four address spaces
 * (port I/O, MMIO, MSR, and the SynIC connection ids VTL0's HvPostMessage/HvSignalEvent name)
 * with a `const` ops table; the exit handlers look the accessed address up here. Every access returns an action:
 *   IOBUS_OK            handled (a read filled *value)
 *   IOBUS_NOT_MINE      nobody (or the device) claims it: forward to the host where that is
 *                       possible; a read has all-ones in *value, a write is dropped
 *   IOBUS_BAD_REGISTER  the device owns the address but the access is invalid (width,
 *                       alignment, read of a write-only register): reads all-ones, writes
 *                       dropped; the caller counts it (MSRs: #GP)
 *
 * Registration happens during start-up, before any VP runs (iobus_freeze ends it): lookups are
 * then lock-free over sorted, immutable arrays. Overlapping ranges are refused with -EEXIST.
 * Routing: a port or MSR access goes to the range holding its (first) address, and the device
 * answers every byte lane of it (a wide IN at a device's last port reads its own filler for
 * the lanes past the end, as ISA decoding does). An MMIO access not wholly inside one range
 * (a hostile access straddling two devices or the end of one) is split into single bytes,
 * each dispatched on its own.
 */
#ifndef MEZZ_VTL2_IOBUS_H
#define MEZZ_VTL2_IOBUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum iobus_space {
	IOBUS_PIO = 0,   /* ports 0..0xFFFF, access sizes 1, 2, 4 */
	IOBUS_MMIO,      /* guest-physical addresses, sizes 1, 2, 4, 8 */
	IOBUS_MSR,       /* MSR numbers, size 8 (EDX:EAX) */
	IOBUS_CONN,      /* SynIC connection ids (TLFS: 24 bits): iobus_post_message/_signal_event */
	IOBUS_SPACE_COUNT
};

enum iobus_action {
	IOBUS_OK = 0,
	IOBUS_NOT_MINE,
	IOBUS_BAD_REGISTER,
};

/** Who accesses: the narrow per-access context a device gets (never the seam). */
struct iobus_access {
	uint32_t vp;     /* VTL0 VP index making the access */
};

/**
 * A device's handlers. `offset` is relative to the registered base; `size` is 1, 2, 4 or 8.
 * MMIO accesses lie wholly inside the range; port accesses may extend past its end (lanes
 * past it are the device's to answer). A NULL handler answers IOBUS_NOT_MINE.
 * Handlers may run on several VP threads at once: a device locks its own state.
 */
struct iobus_ops {
	enum iobus_action (*read)(void *dev, const struct iobus_access *a, uint64_t offset,
				  unsigned size, uint64_t *value);
	enum iobus_action (*write)(void *dev, const struct iobus_access *a, uint64_t offset,
				   unsigned size, uint64_t value);
	/*
	 * IOBUS_CONN only. A message VTL0 posted (HvPostMessage) to connection id `conn` (the
	 * absolute id): its type and payload (len <= 240), copied out of VTL0 memory. An event
	 * VTL0 signalled (HvSignalEvent) with flag number `flag`. 0, or -errno answered to VTL0:
	 * -EAGAIN insufficient buffers, -EINVAL invalid parameter, else invalid connection id.
	 */
	int (*message)(void *dev, const struct iobus_access *a, uint32_t conn, uint32_t type,
		       const void *payload, uint32_t len);
	int (*event)(void *dev, const struct iobus_access *a, uint32_t conn, uint16_t flag);
};

struct iobus_range {
	enum iobus_space space;
	uint64_t base;
	uint64_t len;
	const struct iobus_ops *ops;
	void *dev;
	const char *name;
};

struct iobus;

/** Per-VP lookup hint (last range hit per space); zero-initialise, one per VP thread. */
struct iobus_hint {
	const struct iobus_range *last[IOBUS_SPACE_COUNT];
};

#define IOBUS_MAX_RANGES 256

int iobus_create(struct iobus **out);
void iobus_destroy(struct iobus *bus);

/**
 * Register [base, base + len) of `space` for `dev`. -EINVAL: bad space, len 0, range wraps or
 * leaves the space (ports above 0xFFFF, MSRs above 0xFFFFFFFF), NULL ops; -EEXIST: overlaps a
 * registered range; -ENOSPC: IOBUS_MAX_RANGES reached; -EBUSY: the bus is frozen.
 */
int iobus_register(struct iobus *bus, enum iobus_space space, uint64_t base, uint64_t len,
		   const struct iobus_ops *ops, void *dev, const char *name);
/** End registration; lookups need a frozen bus. */
void iobus_freeze(struct iobus *bus);

/** Number of ranges of `space` and the i-th in address order (for installing intercepts). */
size_t iobus_count(const struct iobus *bus, enum iobus_space space);
const struct iobus_range *iobus_range_at(const struct iobus *bus, enum iobus_space space,
					 size_t i);
/** The range containing `addr`, or NULL. `hint` may be NULL. */
const struct iobus_range *iobus_find(const struct iobus *bus, struct iobus_hint *hint,
				     enum iobus_space space, uint64_t addr);

/**
 * Read `size` (1..8) bytes at `addr`. Unclaimed bytes read as all-ones. The result is the
 * "worst" action of the pieces (BAD_REGISTER > NOT_MINE > OK).
 */
enum iobus_action iobus_read(const struct iobus *bus, struct iobus_hint *hint,
			     enum iobus_space space, uint64_t addr, unsigned size,
			     const struct iobus_access *a, uint64_t *value);
enum iobus_action iobus_write(const struct iobus *bus, struct iobus_hint *hint,
			      enum iobus_space space, uint64_t addr, unsigned size,
			      const struct iobus_access *a, uint64_t value);

/** IOBUS_CONN: deliver a posted message / signalled event; -ENOENT: no device has `conn`. */
int iobus_post_message(const struct iobus *bus, const struct iobus_access *a, uint32_t conn,
		       uint32_t type, const void *payload, uint32_t len);
int iobus_signal_event(const struct iobus *bus, const struct iobus_access *a, uint32_t conn,
		       uint16_t flag);

const char *iobus_space_name(enum iobus_space space);
const char *iobus_action_name(enum iobus_action action);

/** All-ones of `size` bytes (size >= 8: all 64 bits). */
static inline uint64_t iobus_ones(unsigned size)
{
	return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
}

#endif
