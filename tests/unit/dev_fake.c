/* dev_fake: recording partition services for device unit tests (see dev_fake.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tests/unit/dev_fake.h"

static void fake_stop(void *ctx, enum devctx_stop why, uint32_t code, uint32_t vp)
{
	struct dev_fake *fk = ctx;
	fk->stops.count++;
	fk->stops.why = why;
	fk->stops.code = code;
	fk->stops.vp = vp;
}

static int fake_protect(void *ctx, gpn_t page, bool write_protect)
{
	struct dev_fake *fk = ctx;
	fk->prots++;
	fk->prot_page = page.v;
	fk->prot_on = write_protect;
	return 0;
}

static uint64_t fake_protect_hits(void *ctx)
{
	struct dev_fake *fk = ctx;
	return fk->hits;
}

static int fake_deliver(void *ctx, const struct irq_msg *m)
{
	struct dev_fake *fk = ctx;
	if (fk->fail)
		return fk->fail;
	fk->last = *m;
	if (fk->n < DEV_FAKE_MAX_MSGS)
		fk->msgs[fk->n++] = *m;
	else
		fk->overflow++;
	return 0;
}

void dev_fake_init(struct dev_fake *fk)
{
	memset(fk, 0, sizeof(*fk));
	assert_int_equal(vclock_create(true, &fk->clock), 0);
	/* Hostile-access tests make models complain; keep that out of the test output. */
	fk->log = tmpfile();
	fk->dc = (struct devctx){ .ctx = fk, .stop = fake_stop, .protect = fake_protect,
				  .protect_hits = fake_protect_hits, .clock = fk->clock,
				  .sink = { fake_deliver, fk }, .log = fk->log };
}

void dev_fake_fini(struct dev_fake *fk)
{
	vclock_destroy(fk->clock);
	if (fk->log)
		fclose(fk->log);
}

void dev_fake_at(struct dev_fake *fk, uint64_t ns)
{
	uint64_t now = vclock_now(fk->clock);
	assert_true(ns >= now);
	vclock_advance(fk->clock, ns - now);
}

static void fake_set_level(void *ctl, unsigned pin, bool level)
{
	struct dev_fake_line *l = ctl;
	l->pin = pin;
	l->calls++;
	if (level == l->level)
		l->redundant++;
	if (level && !l->level)
		l->rises++;
	if (!level && l->level)
		l->falls++;
	l->level = level;
}

struct irq_line dev_fake_irq_line(struct dev_fake_line *l, unsigned pin)
{
	return (struct irq_line){ .set_level = fake_set_level, .ctl = l, .pin = pin };
}

uint64_t dev_fake_rd(const struct iobus_ops *ops, void *dev, uint32_t vp, uint64_t off,
		     unsigned size, enum iobus_action want)
{
	const struct iobus_access a = { .vp = vp };
	uint64_t v = ~0ull;     /* a model that fills nothing cannot pass a width check */
	assert_int_equal(ops->read(dev, &a, off, size, &v), want);
	return v;
}

uint64_t dev_fake_rd_ok(const struct iobus_ops *ops, void *dev, uint32_t vp, uint64_t off,
			unsigned size)
{
	uint64_t v = dev_fake_rd(ops, dev, vp, off, size, IOBUS_OK);
	if (size < 8)
		assert_int_equal(v >> (8 * size), 0);
	return v;
}

void dev_fake_wr(const struct iobus_ops *ops, void *dev, uint32_t vp, uint64_t off,
		 unsigned size, uint64_t value, enum iobus_action want)
{
	const struct iobus_access a = { .vp = vp };
	assert_int_equal(ops->write(dev, &a, off, size, value), want);
}

uint64_t dev_fake_junk(uint64_t *seed)
{
	*seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
	return *seed ^ (*seed >> 29);
}
