/*
 * iobus_test: registration rules, sorted iteration, lookup (with and without the per-VP hint)
 * and access dispatch (offsets, masking, splitting of straddling accesses, unclaimed answers),
 * against fake devices that record every handler call.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vtl2/iobus.h"

#define MAX_CALLS 32

struct call {
	bool write;
	uint32_t vp;
	uint64_t off;
	unsigned size;
	uint64_t value;
};

/* A fake device: reads answer base_value + offset (with junk above the access size, which
   the bus must mask), every call is logged, `ret` is the action returned. */
struct fake {
	uint64_t base_value;
	enum iobus_action ret;
	unsigned n;
	struct call calls[MAX_CALLS];
};

static enum iobus_action fake_read(void *dev, const struct iobus_access *a, uint64_t offset,
				   unsigned size, uint64_t *value)
{
	struct fake *f = dev;

	assert_true(f->n < MAX_CALLS);
	f->calls[f->n++] = (struct call){ false, a->vp, offset, size, 0 };
	*value = 0xDEAD000000000000ull | (f->base_value + offset);
	if (size == 8)
		*value = f->base_value + offset;
	return f->ret;
}

static enum iobus_action fake_write(void *dev, const struct iobus_access *a, uint64_t offset,
				    unsigned size, uint64_t value)
{
	struct fake *f = dev;

	assert_true(f->n < MAX_CALLS);
	f->calls[f->n++] = (struct call){ true, a->vp, offset, size, value };
	return f->ret;
}

static const struct iobus_ops fake_ops = { .read = fake_read, .write = fake_write };
static const struct iobus_ops null_ops = { .read = NULL, .write = NULL };

static const struct iobus_access vp3 = { .vp = 3 };

static struct iobus *new_bus(void)
{
	struct iobus *bus = NULL;

	assert_int_equal(iobus_create(&bus), 0);
	assert_non_null(bus);
	return bus;
}

static void assert_call(const struct fake *f, unsigned i, bool write, uint64_t off,
			unsigned size, uint64_t value)
{
	assert_true(i < f->n);
	assert_int_equal(f->calls[i].write, write);
	assert_int_equal(f->calls[i].vp, 3);
	assert_int_equal(f->calls[i].off, off);
	assert_int_equal(f->calls[i].size, size);
	if (write)
		assert_int_equal(f->calls[i].value, value);
}

/* ---- registration ---- */

static void test_register_sorted_iteration(void **state)
{
	(void)state;
	struct iobus *bus = new_bus();
	struct fake a = { 0 }, b = { 0 }, c = { 0 }, d = { 0 };

	/* Out of order on purpose: iteration must come back in address order. */
	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0x3F8, 8, &fake_ops, &a, "com1"), 0);
	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0x20, 2, &fake_ops, &b, "pic"), 0);
	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0x60, 1, &null_ops, &c, NULL), 0);
	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0x40, 4, &fake_ops, &d, "pit"), 0);
	assert_int_equal(iobus_register(bus, IOBUS_MMIO, 0xFEC00000, 0x1000, &fake_ops, &a, "x"), 0);

	assert_int_equal(iobus_count(bus, IOBUS_PIO), 4);
	assert_int_equal(iobus_count(bus, IOBUS_MMIO), 1);
	assert_int_equal(iobus_count(bus, IOBUS_MSR), 0);
	assert_int_equal(iobus_count(bus, IOBUS_SPACE_COUNT), 0);

	static const uint64_t bases[] = { 0x20, 0x40, 0x60, 0x3F8 };
	static const uint64_t lens[] = { 2, 4, 1, 8 };
	static const char *const names[] = { "pic", "pit", "?", "com1" };
	void *const devs[] = { &b, &d, &c, &a };
	for (size_t i = 0; i < 4; i++) {
		const struct iobus_range *r = iobus_range_at(bus, IOBUS_PIO, i);
		assert_non_null(r);
		assert_int_equal(r->space, IOBUS_PIO);
		assert_int_equal(r->base, bases[i]);
		assert_int_equal(r->len, lens[i]);
		assert_ptr_equal(r->dev, devs[i]);
		assert_ptr_equal(r->ops, i == 2 ? &null_ops : &fake_ops);
		assert_string_equal(r->name, names[i]);
	}
	assert_null(iobus_range_at(bus, IOBUS_PIO, 4));
	assert_null(iobus_range_at(bus, IOBUS_MSR, 0));
	assert_null(iobus_range_at(bus, IOBUS_SPACE_COUNT, 0));
	const struct iobus_range *m = iobus_range_at(bus, IOBUS_MMIO, 0);
	assert_non_null(m);
	assert_int_equal(m->space, IOBUS_MMIO);
	assert_int_equal(m->base, 0xFEC00000);
	iobus_destroy(bus);
}

static void test_register_overlap(void **state)
{
	(void)state;
	struct iobus *bus = new_bus();
	struct fake f = { 0 };

	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0x100, 0x10, &fake_ops, &f, "a"), 0);
	/* Every way of touching [0x100, 0x110). */
	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0x100, 1, &fake_ops, &f, "s"), -EEXIST);
	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0xFF, 2, &fake_ops, &f, "s"), -EEXIST);
	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0x10F, 1, &fake_ops, &f, "s"), -EEXIST);
	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0x108, 0x100, &fake_ops, &f, "s"), -EEXIST);
	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0xF0, 0x100, &fake_ops, &f, "s"), -EEXIST);
	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0x104, 4, &fake_ops, &f, "s"), -EEXIST);
	assert_int_equal(iobus_count(bus, IOBUS_PIO), 1);

	/* Adjacent on both sides is not an overlap. */
	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0xF0, 0x10, &fake_ops, &f, "lo"), 0);
	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0x110, 1, &fake_ops, &f, "hi"), 0);
	/* A hole between two ranges: exactly filling it is fine, one byte more is not. */
	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0x120, 0x10, &fake_ops, &f, "h2"), 0);
	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0x111, 0x10, &fake_ops, &f, "s"), -EEXIST);
	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0x110, 0x10, &fake_ops, &f, "s"), -EEXIST);
	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0x111, 0xF, &fake_ops, &f, "fill"), 0);
	/* Same addresses in another space do not conflict. */
	assert_int_equal(iobus_register(bus, IOBUS_MMIO, 0x100, 0x10, &fake_ops, &f, "m"), 0);
	assert_int_equal(iobus_register(bus, IOBUS_MSR, 0x100, 0x10, &fake_ops, &f, "r"), 0);

	assert_int_equal(iobus_count(bus, IOBUS_PIO), 5);
	static const uint64_t bases[] = { 0xF0, 0x100, 0x110, 0x111, 0x120 };
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(iobus_range_at(bus, IOBUS_PIO, i)->base, bases[i]);
	iobus_destroy(bus);
}

static void test_register_einval(void **state)
{
	(void)state;
	struct iobus *bus = new_bus();
	struct fake f = { 0 };

	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0x10, 0, &fake_ops, &f, "z"), -EINVAL);
	assert_int_equal(iobus_register(bus, IOBUS_SPACE_COUNT, 0x10, 1, &fake_ops, &f, "s"),
			 -EINVAL);
	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0x10, 1, NULL, &f, "n"), -EINVAL);
	assert_int_equal(iobus_register(NULL, IOBUS_PIO, 0x10, 1, &fake_ops, &f, "n"), -EINVAL);
	/* Wrapping the 64-bit space. */
	assert_int_equal(iobus_register(bus, IOBUS_MMIO, UINT64_MAX, 2, &fake_ops, &f, "w"), -EINVAL);
	assert_int_equal(iobus_register(bus, IOBUS_MMIO, 0x1000, UINT64_MAX, &fake_ops, &f, "w"),
			 -EINVAL);
	/* Ports end at 0xFFFF, MSRs at 0xFFFFFFFF. */
	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0xFFFF, 2, &fake_ops, &f, "p"), -EINVAL);
	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0x10000, 1, &fake_ops, &f, "p"), -EINVAL);
	assert_int_equal(iobus_register(bus, IOBUS_MSR, 0xFFFFFFFF, 2, &fake_ops, &f, "m"), -EINVAL);
	assert_int_equal(iobus_register(bus, IOBUS_MSR, 0x100000000ull, 1, &fake_ops, &f, "m"),
			 -EINVAL);
	for (int s = 0; s < IOBUS_SPACE_COUNT; s++)
		assert_int_equal(iobus_count(bus, (enum iobus_space)s), 0);

	/* The last address of each space is still usable. */
	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0xFFFF, 1, &fake_ops, &f, "p"), 0);
	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0, 0xFFFF, &fake_ops, &f, "p0"), 0);
	assert_int_equal(iobus_register(bus, IOBUS_MSR, 0xFFFFFFFF, 1, &fake_ops, &f, "m"), 0);
	assert_int_equal(iobus_register(bus, IOBUS_MMIO, 0xFFFFFFFFFFFFF000ull, 0x1000, &fake_ops,
					&f, "top"), 0);
	assert_int_equal(iobus_count(bus, IOBUS_PIO), 2);
	iobus_destroy(bus);
}

static void test_register_enospc(void **state)
{
	(void)state;
	struct iobus *bus = new_bus();
	struct fake f = { 0 };

	/* The limit is on the whole bus, spread over the spaces here. */
	for (unsigned i = 0; i < IOBUS_MAX_RANGES; i++) {
		enum iobus_space s = (enum iobus_space)(i % IOBUS_SPACE_COUNT);
		assert_int_equal(iobus_register(bus, s, 0x10ull * i, 4, &fake_ops, &f, "r"), 0);
	}
	assert_int_equal(iobus_count(bus, IOBUS_PIO) + iobus_count(bus, IOBUS_MMIO) +
			 iobus_count(bus, IOBUS_MSR) + iobus_count(bus, IOBUS_CONN), IOBUS_MAX_RANGES);
	for (int s = 0; s < IOBUS_SPACE_COUNT; s++)
		assert_int_equal(iobus_register(bus, (enum iobus_space)s, 0x8000, 1, &fake_ops, &f,
						"x"), -ENOSPC);
	assert_int_equal(iobus_count(bus, IOBUS_PIO), IOBUS_MAX_RANGES / IOBUS_SPACE_COUNT);
	iobus_destroy(bus);
}

static void test_register_frozen(void **state)
{
	(void)state;
	struct iobus *bus = new_bus();
	struct fake f = { 0 };

	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0x80, 1, &fake_ops, &f, "a"), 0);
	iobus_freeze(bus);
	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0x90, 1, &fake_ops, &f, "b"), -EBUSY);
	assert_int_equal(iobus_register(bus, IOBUS_MMIO, 0x90, 1, &fake_ops, &f, "b"), -EBUSY);
	assert_int_equal(iobus_count(bus, IOBUS_PIO), 1);
	assert_int_equal(iobus_count(bus, IOBUS_MMIO), 0);
	/* Still usable for lookups. */
	assert_ptr_equal(iobus_find(bus, NULL, IOBUS_PIO, 0x80), iobus_range_at(bus, IOBUS_PIO, 0));
	iobus_destroy(bus);
}

/* ---- lookup ---- */

static void test_find(void **state)
{
	(void)state;
	struct iobus *bus = new_bus();
	struct fake f = { 0 };

	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0x40, 4, &fake_ops, &f, "pit"), 0);
	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0x20, 2, &fake_ops, &f, "pic"), 0);
	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0x44, 1, &fake_ops, &f, "adj"), 0);
	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0x3F8, 8, &fake_ops, &f, "com"), 0);
	assert_int_equal(iobus_register(bus, IOBUS_MMIO, 0x40, 4, &fake_ops, &f, "m"), 0);
	iobus_freeze(bus);
	const struct iobus_range *pic = iobus_range_at(bus, IOBUS_PIO, 0);
	const struct iobus_range *pit = iobus_range_at(bus, IOBUS_PIO, 1);
	const struct iobus_range *adj = iobus_range_at(bus, IOBUS_PIO, 2);
	const struct iobus_range *com = iobus_range_at(bus, IOBUS_PIO, 3);
	const struct iobus_range *mm = iobus_range_at(bus, IOBUS_MMIO, 0);

	/* Without a hint: first/last byte of each range, and the gaps around them. */
	assert_null(iobus_find(bus, NULL, IOBUS_PIO, 0x0));
	assert_null(iobus_find(bus, NULL, IOBUS_PIO, 0x1F));
	assert_ptr_equal(iobus_find(bus, NULL, IOBUS_PIO, 0x20), pic);
	assert_ptr_equal(iobus_find(bus, NULL, IOBUS_PIO, 0x21), pic);
	assert_null(iobus_find(bus, NULL, IOBUS_PIO, 0x22));
	assert_null(iobus_find(bus, NULL, IOBUS_PIO, 0x3F));
	assert_ptr_equal(iobus_find(bus, NULL, IOBUS_PIO, 0x40), pit);
	assert_ptr_equal(iobus_find(bus, NULL, IOBUS_PIO, 0x43), pit);
	assert_ptr_equal(iobus_find(bus, NULL, IOBUS_PIO, 0x44), adj);
	assert_null(iobus_find(bus, NULL, IOBUS_PIO, 0x45));
	assert_ptr_equal(iobus_find(bus, NULL, IOBUS_PIO, 0x3FF), com);
	assert_null(iobus_find(bus, NULL, IOBUS_PIO, 0x400));
	assert_null(iobus_find(bus, NULL, IOBUS_PIO, UINT64_MAX));
	assert_ptr_equal(iobus_find(bus, NULL, IOBUS_MMIO, 0x42), mm);
	assert_null(iobus_find(bus, NULL, IOBUS_MSR, 0x42));
	assert_null(iobus_find(bus, NULL, IOBUS_SPACE_COUNT, 0x42));

	/* With a hint: a hit records the range per space; a miss leaves the hint alone. */
	struct iobus_hint h = { 0 };
	assert_ptr_equal(iobus_find(bus, &h, IOBUS_PIO, 0x41), pit);
	assert_ptr_equal(h.last[IOBUS_PIO], pit);
	assert_null(h.last[IOBUS_MMIO]);
	assert_ptr_equal(iobus_find(bus, &h, IOBUS_PIO, 0x43), pit);
	assert_null(iobus_find(bus, &h, IOBUS_PIO, 0x45));
	assert_ptr_equal(h.last[IOBUS_PIO], pit);
	assert_ptr_equal(iobus_find(bus, &h, IOBUS_MMIO, 0x40), mm);
	assert_ptr_equal(h.last[IOBUS_MMIO], mm);
	assert_ptr_equal(h.last[IOBUS_PIO], pit);
	/* The hint names another range than the address: the search still finds the right one
	   (the neighbour just past the hinted range's end included). */
	assert_ptr_equal(iobus_find(bus, &h, IOBUS_PIO, 0x44), adj);
	assert_ptr_equal(h.last[IOBUS_PIO], adj);
	assert_ptr_equal(iobus_find(bus, &h, IOBUS_PIO, 0x3F8), com);
	assert_ptr_equal(h.last[IOBUS_PIO], com);
	assert_ptr_equal(iobus_find(bus, &h, IOBUS_PIO, 0x20), pic);
	/* A hint from one space is not used for another. */
	h.last[IOBUS_MMIO] = NULL;
	h.last[IOBUS_PIO] = pit;
	assert_ptr_equal(iobus_find(bus, &h, IOBUS_MMIO, 0x41), mm);
	assert_ptr_equal(h.last[IOBUS_PIO], pit);
	iobus_destroy(bus);
}

/* ---- access dispatch ---- */

static void test_read_write_routed(void **state)
{
	(void)state;
	struct iobus *bus = new_bus();
	struct fake com = { .base_value = 0x1200 }, mm = { .base_value = 0x1122334455667700ull };
	struct fake msr = { .base_value = 0xA0 };

	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0x3F8, 8, &fake_ops, &com, "com"), 0);
	assert_int_equal(iobus_register(bus, IOBUS_MMIO, 0xFEC00000, 0x1000, &fake_ops, &mm, "m"), 0);
	assert_int_equal(iobus_register(bus, IOBUS_MSR, 0x4D5A0000, 4, &fake_ops, &msr, "r"), 0);
	iobus_freeze(bus);

	uint64_t v = 0;
	struct iobus_hint h = { 0 };
	assert_int_equal(iobus_read(bus, &h, IOBUS_PIO, 0x3FA, 2, &vp3, &v), IOBUS_OK);
	assert_int_equal(com.n, 1);
	assert_call(&com, 0, false, 2, 2, 0);
	/* Junk above the access size is masked off. */
	assert_int_equal(v, 0x1202);
	assert_int_equal(iobus_read(bus, NULL, IOBUS_PIO, 0x3FF, 1, &vp3, &v), IOBUS_OK);
	assert_call(&com, 1, false, 7, 1, 0);
	assert_int_equal(v, 0x07);
	assert_int_equal(iobus_read(bus, NULL, IOBUS_PIO, 0x3FC, 4, &vp3, &v), IOBUS_OK);
	assert_call(&com, 2, false, 4, 4, 0);
	assert_int_equal(v, 0x1204);

	/* Writes: value masked to the size before the device sees it. */
	assert_int_equal(iobus_write(bus, &h, IOBUS_PIO, 0x3FB, 1, &vp3, 0x1FF), IOBUS_OK);
	assert_call(&com, 3, true, 3, 1, 0xFF);
	assert_int_equal(iobus_write(bus, &h, IOBUS_PIO, 0x3F8, 2, &vp3, 0xABCDEF), IOBUS_OK);
	assert_call(&com, 4, true, 0, 2, 0xCDEF);
	assert_int_equal(iobus_write(bus, &h, IOBUS_PIO, 0x3F8, 4, &vp3, 0x123456789ull), IOBUS_OK);
	assert_call(&com, 5, true, 0, 4, 0x23456789);
	assert_int_equal(com.n, 6);

	assert_int_equal(iobus_read(bus, &h, IOBUS_MMIO, 0xFEC00FF8, 8, &vp3, &v), IOBUS_OK);
	assert_call(&mm, 0, false, 0xFF8, 8, 0);
	assert_int_equal(v, 0x1122334455667700ull + 0xFF8);
	assert_int_equal(iobus_write(bus, &h, IOBUS_MMIO, 0xFEC00010, 8, &vp3,
				     0xFEDCBA9876543210ull), IOBUS_OK);
	assert_call(&mm, 1, true, 0x10, 8, 0xFEDCBA9876543210ull);

	assert_int_equal(iobus_read(bus, &h, IOBUS_MSR, 0x4D5A0003, 8, &vp3, &v), IOBUS_OK);
	assert_call(&msr, 0, false, 3, 8, 0);
	assert_int_equal(v, 0xA3);
	assert_int_equal(mm.n, 2);
	assert_int_equal(msr.n, 1);
	iobus_destroy(bus);
}

static void test_device_actions(void **state)
{
	(void)state;
	struct iobus *bus = new_bus();
	struct fake f = { .base_value = 0x55 };

	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0x80, 4, &fake_ops, &f, "d"), 0);
	iobus_freeze(bus);
	uint64_t v = 0;
	/* Whatever the device put in *value, a failed read is all-ones. */
	f.ret = IOBUS_BAD_REGISTER;
	assert_int_equal(iobus_read(bus, NULL, IOBUS_PIO, 0x80, 2, &vp3, &v), IOBUS_BAD_REGISTER);
	assert_int_equal(v, 0xFFFF);
	assert_int_equal(iobus_write(bus, NULL, IOBUS_PIO, 0x80, 1, &vp3, 1), IOBUS_BAD_REGISTER);
	f.ret = IOBUS_NOT_MINE;
	v = 0;
	assert_int_equal(iobus_read(bus, NULL, IOBUS_PIO, 0x81, 1, &vp3, &v), IOBUS_NOT_MINE);
	assert_int_equal(v, 0xFF);
	assert_int_equal(iobus_write(bus, NULL, IOBUS_PIO, 0x81, 1, &vp3, 1), IOBUS_NOT_MINE);
	assert_int_equal(f.n, 4);
	iobus_destroy(bus);
}

static void test_unclaimed(void **state)
{
	(void)state;
	struct iobus *bus = new_bus();
	struct fake f = { 0 };

	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0x60, 1, &fake_ops, &f, "kbd"), 0);
	iobus_freeze(bus);
	static const unsigned sizes[] = { 1, 2, 4, 8 };
	static const uint64_t ones[] = { 0xFF, 0xFFFF, 0xFFFFFFFF, UINT64_MAX };
	for (size_t i = 0; i < 4; i++) {
		uint64_t v = 0;
		assert_int_equal(iobus_read(bus, NULL, IOBUS_PIO, 0x80, sizes[i], &vp3, &v),
				 IOBUS_NOT_MINE);
		assert_int_equal(v, ones[i]);
		v = 0;
		assert_int_equal(iobus_read(bus, NULL, IOBUS_MMIO, 0x60, sizes[i], &vp3, &v),
				 IOBUS_NOT_MINE);
		assert_int_equal(v, ones[i]);
		assert_int_equal(iobus_write(bus, NULL, IOBUS_MSR, 0x60, sizes[i], &vp3, 0),
				 IOBUS_NOT_MINE);
	}
	/* Empty space, port beyond 0xFFFF. */
	uint64_t v = 0;
	assert_int_equal(iobus_read(bus, NULL, IOBUS_MSR, 0x10, 8, &vp3, &v), IOBUS_NOT_MINE);
	assert_int_equal(v, UINT64_MAX);
	assert_int_equal(iobus_read(bus, NULL, IOBUS_PIO, 0x10060, 1, &vp3, &v), IOBUS_NOT_MINE);
	assert_int_equal(f.n, 0);
	iobus_destroy(bus);
}

static void test_straddle_two_ranges(void **state)
{
	(void)state;
	struct iobus *bus = new_bus();
	struct fake a = { .base_value = 0xA0 }, b = { .base_value = 0xB0 };

	assert_int_equal(iobus_register(bus, IOBUS_MMIO, 0x1000, 4, &fake_ops, &a, "a"), 0);
	assert_int_equal(iobus_register(bus, IOBUS_MMIO, 0x1004, 4, &fake_ops, &b, "b"), 0);
	iobus_freeze(bus);
	struct iobus_hint h = { 0 };
	uint64_t v = 0;

	/* Bytes in address order, each to its own device, value assembled little-endian. */
	assert_int_equal(iobus_read(bus, &h, IOBUS_MMIO, 0x1002, 4, &vp3, &v), IOBUS_OK);
	assert_int_equal(v, 0xB1B0A3A2);
	assert_int_equal(a.n, 2);
	assert_int_equal(b.n, 2);
	assert_call(&a, 0, false, 2, 1, 0);
	assert_call(&a, 1, false, 3, 1, 0);
	assert_call(&b, 0, false, 0, 1, 0);
	assert_call(&b, 1, false, 1, 1, 0);

	assert_int_equal(iobus_write(bus, &h, IOBUS_MMIO, 0x1003, 2, &vp3, 0x2211), IOBUS_OK);
	assert_call(&a, 2, true, 3, 1, 0x11);
	assert_call(&b, 2, true, 0, 1, 0x22);

	/* The worst action wins; a failing byte reads as 0xFF. */
	a.ret = IOBUS_BAD_REGISTER;
	assert_int_equal(iobus_read(bus, &h, IOBUS_MMIO, 0x1003, 2, &vp3, &v), IOBUS_BAD_REGISTER);
	assert_int_equal(v, 0xB0FF);
	assert_int_equal(iobus_write(bus, &h, IOBUS_MMIO, 0x1003, 2, &vp3, 0), IOBUS_BAD_REGISTER);
	a.ret = IOBUS_OK;
	b.ret = IOBUS_NOT_MINE;
	assert_int_equal(iobus_read(bus, &h, IOBUS_MMIO, 0x1003, 2, &vp3, &v), IOBUS_NOT_MINE);
	assert_int_equal(v, 0xFFA3);
	a.ret = IOBUS_BAD_REGISTER;
	assert_int_equal(iobus_write(bus, &h, IOBUS_MMIO, 0x1003, 2, &vp3, 0), IOBUS_BAD_REGISTER);

	/* 8 bytes spanning both ranges wholly: still 8 single bytes. */
	a.ret = b.ret = IOBUS_OK;
	a.n = b.n = 0;
	assert_int_equal(iobus_read(bus, &h, IOBUS_MMIO, 0x1000, 8, &vp3, &v), IOBUS_OK);
	assert_int_equal(v, 0xB3B2B1B0A3A2A1A0ull);
	assert_int_equal(a.n, 4);
	assert_int_equal(b.n, 4);
	for (unsigned i = 0; i < 4; i++) {
		assert_call(&a, i, false, i, 1, 0);
		assert_call(&b, i, false, i, 1, 0);
	}
	iobus_destroy(bus);
}

/* Ports and MSRs are routed by their first address alone: the device owning it answers
   every lane (ISA decoding; an MSR is one register), and an unclaimed first address is
   unclaimed whole even when a device sits right after it. */
static void test_pio_msr_first_address(void **state)
{
	(void)state;
	struct iobus *bus = new_bus();
	struct fake a = { .base_value = 0x40 }, b = { .base_value = 0x50 }, m = { .base_value = 7 };

	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0x100, 6, &fake_ops, &a, "a"), 0);
	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0x106, 2, &fake_ops, &b, "b"), 0);
	assert_int_equal(iobus_register(bus, IOBUS_MSR, 0x4D5A0000, 4, &fake_ops, &m, "m"), 0);
	iobus_freeze(bus);
	uint64_t v = 0;

	/* Past a's end and into b: still one access to a. */
	assert_int_equal(iobus_read(bus, NULL, IOBUS_PIO, 0x105, 4, &vp3, &v), IOBUS_OK);
	assert_int_equal(v, 0x45);
	assert_int_equal(iobus_write(bus, NULL, IOBUS_PIO, 0x104, 4, &vp3, 0xDDCCBBAA), IOBUS_OK);
	assert_int_equal(a.n, 2);
	assert_call(&a, 0, false, 5, 4, 0);
	assert_call(&a, 1, true, 4, 4, 0xDDCCBBAA);
	assert_int_equal(b.n, 0);
	/* First port unclaimed, a right after it: nobody's, a never called. */
	v = 0;
	assert_int_equal(iobus_read(bus, NULL, IOBUS_PIO, 0xFE, 4, &vp3, &v), IOBUS_NOT_MINE);
	assert_int_equal(v, 0xFFFFFFFF);
	assert_int_equal(iobus_write(bus, NULL, IOBUS_PIO, 0xFF, 2, &vp3, 0x1234), IOBUS_NOT_MINE);
	assert_int_equal(a.n, 2);

	/* MSRs: the 8-byte access at the range's last MSR is one access at offset 3; the MSR just
	   below the range is unclaimed and never reaches m as bytes. */
	assert_int_equal(iobus_read(bus, NULL, IOBUS_MSR, 0x4D5A0003, 8, &vp3, &v), IOBUS_OK);
	assert_int_equal(v, 10);
	assert_int_equal(iobus_read(bus, NULL, IOBUS_MSR, 0x4D59FFFF, 8, &vp3, &v), IOBUS_NOT_MINE);
	assert_int_equal(v, UINT64_MAX);
	assert_int_equal(iobus_write(bus, NULL, IOBUS_MSR, 0x4D59FFFE, 8, &vp3, 1), IOBUS_NOT_MINE);
	assert_int_equal(m.n, 1);
	assert_call(&m, 0, false, 3, 8, 0);
	iobus_destroy(bus);
}

static void test_straddle_range_end(void **state)
{
	(void)state;
	struct iobus *bus = new_bus();
	struct fake a = { .base_value = 0x40 };

	assert_int_equal(iobus_register(bus, IOBUS_MMIO, 0x100, 6, &fake_ops, &a, "a"), 0);
	iobus_freeze(bus);
	uint64_t v = 0;

	/* Runs off the end: the device's bytes, then unclaimed 0xFF. */
	assert_int_equal(iobus_read(bus, NULL, IOBUS_MMIO, 0x104, 4, &vp3, &v), IOBUS_NOT_MINE);
	assert_int_equal(v, 0xFFFF4544);
	assert_int_equal(a.n, 2);
	assert_call(&a, 0, false, 4, 1, 0);
	assert_call(&a, 1, false, 5, 1, 0);
	/* Starts before the range and runs into it. */
	assert_int_equal(iobus_read(bus, NULL, IOBUS_MMIO, 0xFE, 4, &vp3, &v), IOBUS_NOT_MINE);
	assert_int_equal(v, 0x4140FFFF);
	assert_call(&a, 2, false, 0, 1, 0);
	assert_call(&a, 3, false, 1, 1, 0);
	assert_int_equal(iobus_write(bus, NULL, IOBUS_MMIO, 0x105, 2, &vp3, 0xBBAA), IOBUS_NOT_MINE);
	assert_call(&a, 4, true, 5, 1, 0xAA);
	assert_int_equal(a.n, 5);
	/* A device failure outranks the unclaimed bytes. */
	a.ret = IOBUS_BAD_REGISTER;
	assert_int_equal(iobus_read(bus, NULL, IOBUS_MMIO, 0x105, 2, &vp3, &v), IOBUS_BAD_REGISTER);
	assert_int_equal(v, 0xFFFF);
	iobus_destroy(bus);
}

/* A range reaching (almost) to the top of the 64-bit space: offset + size must not wrap into
   "fits", and the bytes past 2^64 - 1 must not wrap around to address 0. */
static void test_straddle_top_of_space(void **state)
{
	(void)state;
	struct iobus *bus = new_bus();
	struct fake a = { .base_value = 0 };

	assert_int_equal(iobus_register(bus, IOBUS_MMIO, 0, UINT64_MAX, &fake_ops, &a, "all"), 0);
	iobus_freeze(bus);
	uint64_t v = 0;
	assert_int_equal(iobus_read(bus, NULL, IOBUS_MMIO, UINT64_MAX - 3, 8, &vp3, &v),
			 IOBUS_NOT_MINE);
	/* Offsets ...FC, ...FD, ...FE read as their low byte; the rest is unclaimed. */
	assert_int_equal(v, 0xFFFFFFFFFFFEFDFCull);
	assert_int_equal(a.n, 3);
	for (unsigned i = 0; i < 3; i++)
		assert_call(&a, i, false, UINT64_MAX - 3 + i, 1, 0);
	assert_int_equal(iobus_write(bus, NULL, IOBUS_MMIO, UINT64_MAX - 1, 4, &vp3, 0x44332211),
			 IOBUS_NOT_MINE);
	assert_int_equal(a.n, 4);
	assert_call(&a, 3, true, UINT64_MAX - 1, 1, 0x11);
	/* Entirely inside, touching the last byte: one access. */
	assert_int_equal(iobus_read(bus, NULL, IOBUS_MMIO, UINT64_MAX - 8, 8, &vp3, &v), IOBUS_OK);
	assert_int_equal(a.n, 5);
	assert_call(&a, 4, false, UINT64_MAX - 8, 8, 0);
	iobus_destroy(bus);
}

static void test_bad_sizes(void **state)
{
	(void)state;
	struct iobus *bus = new_bus();
	struct fake a = { 0 };

	assert_int_equal(iobus_register(bus, IOBUS_MMIO, 0x1000, 0x100, &fake_ops, &a, "a"), 0);
	iobus_freeze(bus);
	static const unsigned sizes[] = { 0, 3, 5, 6, 7, 9, 16, 64 };
	static const uint64_t ones[] = { 0, 0xFFFFFF, 0xFFFFFFFFFFull, 0xFFFFFFFFFFFFull,
					 0xFFFFFFFFFFFFFFull, UINT64_MAX, UINT64_MAX, UINT64_MAX };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t v = 0x1234;
		assert_int_equal(iobus_read(bus, NULL, IOBUS_MMIO, 0x1010, sizes[i], &vp3, &v),
				 IOBUS_BAD_REGISTER);
		assert_int_equal(v, ones[i]);
		assert_int_equal(iobus_write(bus, NULL, IOBUS_MMIO, 0x1010, sizes[i], &vp3, 0),
				 IOBUS_BAD_REGISTER);
		/* Also where nobody is: the size is checked first. */
		assert_int_equal(iobus_read(bus, NULL, IOBUS_MMIO, 0x10, sizes[i], &vp3, &v),
				 IOBUS_BAD_REGISTER);
	}
	assert_int_equal(a.n, 0);
	iobus_destroy(bus);
}

static void test_null_handlers(void **state)
{
	(void)state;
	struct iobus *bus = new_bus();
	struct fake a = { .base_value = 0x10 };
	static const struct iobus_ops ro = { .read = fake_read, .write = NULL };
	static const struct iobus_ops wo = { .read = NULL, .write = fake_write };

	assert_int_equal(iobus_register(bus, IOBUS_MMIO, 0x10, 2, &null_ops, NULL, "none"), 0);
	assert_int_equal(iobus_register(bus, IOBUS_MMIO, 0x12, 2, &ro, &a, "ro"), 0);
	assert_int_equal(iobus_register(bus, IOBUS_MMIO, 0x14, 2, &wo, &a, "wo"), 0);
	iobus_freeze(bus);
	uint64_t v = 0;
	assert_int_equal(iobus_read(bus, NULL, IOBUS_MMIO, 0x10, 2, &vp3, &v), IOBUS_NOT_MINE);
	assert_int_equal(v, 0xFFFF);
	assert_int_equal(iobus_write(bus, NULL, IOBUS_MMIO, 0x10, 2, &vp3, 0), IOBUS_NOT_MINE);
	assert_int_equal(iobus_write(bus, NULL, IOBUS_MMIO, 0x12, 2, &vp3, 0), IOBUS_NOT_MINE);
	v = 0;
	assert_int_equal(iobus_read(bus, NULL, IOBUS_MMIO, 0x14, 1, &vp3, &v), IOBUS_NOT_MINE);
	assert_int_equal(v, 0xFF);
	assert_int_equal(a.n, 0);
	/* Split across ro and wo: one byte from ro, one unclaimed. */
	assert_int_equal(iobus_read(bus, NULL, IOBUS_MMIO, 0x13, 2, &vp3, &v), IOBUS_NOT_MINE);
	assert_int_equal(v, 0xFF11);
	assert_int_equal(iobus_write(bus, NULL, IOBUS_MMIO, 0x13, 2, &vp3, 0x7766), IOBUS_NOT_MINE);
	assert_int_equal(a.n, 2);
	assert_call(&a, 0, false, 1, 1, 0);
	assert_call(&a, 1, true, 0, 1, 0x77);
	iobus_destroy(bus);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(iobus_space_name(IOBUS_PIO), "pio");
	assert_string_equal(iobus_space_name(IOBUS_MMIO), "mmio");
	assert_string_equal(iobus_space_name(IOBUS_MSR), "msr");
	assert_string_equal(iobus_space_name(IOBUS_SPACE_COUNT), "?");
	assert_string_equal(iobus_action_name(IOBUS_OK), "ok");
	assert_string_equal(iobus_action_name(IOBUS_NOT_MINE), "not-mine");
	assert_string_equal(iobus_action_name(IOBUS_BAD_REGISTER), "bad-register");
	assert_string_equal(iobus_action_name((enum iobus_action)7), "?");
	assert_int_equal(iobus_ones(1), 0xFF);
	assert_int_equal(iobus_ones(4), 0xFFFFFFFFull);
	assert_int_equal(iobus_ones(8), UINT64_MAX);
}

/* SynIC connection ids: 24 bits, checked registration, messages and events to their device. */
static uint32_t conn_seen, conn_type, conn_len, conn_vp;
static uint16_t conn_flag;

static int conn_message(void *dev, const struct iobus_access *a, uint32_t conn, uint32_t type,
			const void *payload, uint32_t len)
{
	(void)payload;
	conn_seen = conn;
	conn_type = type;
	conn_len = len;
	conn_vp = a->vp;
	return dev ? 0 : -EAGAIN;
}

static int conn_event(void *dev, const struct iobus_access *a, uint32_t conn, uint16_t flag)
{
	(void)dev;
	(void)a;
	conn_seen = conn;
	conn_flag = flag;
	return 0;
}

static void test_conn_space(void **state)
{
	(void)state;
	struct iobus *bus = new_bus();
	static const struct iobus_ops msg_only = { .message = conn_message };
	static const struct iobus_ops both = { .message = conn_message, .event = conn_event };
	int dev;
	assert_int_equal(iobus_register(bus, IOBUS_CONN, 4, 1, &msg_only, &dev, "m"), 0);
	assert_int_equal(iobus_register(bus, IOBUS_CONN, 0x2001, 64, &both, NULL, "e"), 0);
	assert_int_equal(iobus_register(bus, IOBUS_CONN, 0x2040, 2, &both, NULL, "x"), -EEXIST);
	assert_int_equal(iobus_register(bus, IOBUS_CONN, 0xFFFFFF, 2, &both, NULL, "x"), -EINVAL);
	assert_int_equal(iobus_register(bus, IOBUS_CONN, 0x1000000, 1, &both, NULL, "x"), -EINVAL);
	iobus_freeze(bus);
	uint8_t payload[240] = { 0 };
	assert_int_equal(iobus_post_message(bus, &vp3, 4, 1, payload, 240), 0);
	assert_int_equal(conn_seen, 4);
	assert_int_equal(conn_type, 1);
	assert_int_equal(conn_len, 240);
	assert_int_equal(conn_vp, 3);
	/* The device's own error comes back; no device or no handler: -ENOENT. */
	assert_int_equal(iobus_post_message(bus, &vp3, 0x2005, 1, payload, 8), -EAGAIN);
	assert_int_equal(iobus_post_message(bus, &vp3, 5, 1, payload, 8), -ENOENT);
	assert_int_equal(iobus_signal_event(bus, &vp3, 4, 0), -ENOENT);
	assert_int_equal(iobus_signal_event(bus, &vp3, 0x2040, 7), 0);
	assert_int_equal(conn_seen, 0x2040);
	assert_int_equal(conn_flag, 7);
	assert_int_equal(iobus_signal_event(bus, &vp3, 0x2041, 0), -ENOENT);
	assert_string_equal(iobus_space_name(IOBUS_CONN), "conn");
	iobus_destroy(bus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_register_sorted_iteration),
		cmocka_unit_test(test_register_overlap),
		cmocka_unit_test(test_register_einval),
		cmocka_unit_test(test_register_enospc),
		cmocka_unit_test(test_register_frozen),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_read_write_routed),
		cmocka_unit_test(test_device_actions),
		cmocka_unit_test(test_unclaimed),
		cmocka_unit_test(test_straddle_two_ranges),
		cmocka_unit_test(test_pio_msr_first_address),
		cmocka_unit_test(test_straddle_range_end),
		cmocka_unit_test(test_straddle_top_of_space),
		cmocka_unit_test(test_bad_sizes),
		cmocka_unit_test(test_null_handlers),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_conn_space),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
