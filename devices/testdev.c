/* testdev: the test guests' device (see testdev.h). */
#include "devices/testdev.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct testdev_timer {
	struct testdev *t;
	struct vclock_timer timer;
	bool busy;
	uint32_t vp;
	uint8_t vector;
};

struct testdev {
	const struct devctx *dc;
	pthread_mutex_t lock;
	uint32_t echo[TESTDEV_MAX_VPS];
	uint64_t msr[TESTDEV_MSR_COUNT];
	uint8_t scratch[TESTDEV_MMIO_SIZE - TESTDEV_MMIO_SCRATCH];
	struct testdev_timer timers[TESTDEV_MAX_TIMERS];
};

static uint8_t pattern_byte(uint64_t off);

static void deliver(struct testdev *t, uint32_t vp, uint8_t vector)
{
	const struct irq_msg m = { .vector = vector, .delivery = IRQ_DELIVERY_FIXED, .dest = vp };
	irq_sink_deliver(&t->dc->sink, &m);
}

static void timer_fire(void *ctx, uint64_t now)
{
	struct testdev_timer *tt = ctx;
	struct testdev *t = tt->t;
	(void)now;
	pthread_mutex_lock(&t->lock);
	bool busy = tt->busy;
	uint32_t vp = tt->vp;
	uint8_t vector = tt->vector;
	tt->busy = false;
	pthread_mutex_unlock(&t->lock);
	if (busy)
		deliver(t, vp, vector);
}

int testdev_create(const struct devctx *dc, struct testdev **out)
{
	struct testdev *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->dc = dc;
	pthread_mutex_init(&t->lock, NULL);
	/* The scratch half starts with the pattern too: every offset has a known first read. */
	for (unsigned i = 0; i < sizeof(t->scratch); i++)
		t->scratch[i] = pattern_byte(TESTDEV_MMIO_SCRATCH + i);
	for (unsigned i = 0; i < TESTDEV_MAX_TIMERS; i++) {
		t->timers[i].t = t;
		vclock_timer_init(&t->timers[i].timer, timer_fire, &t->timers[i]);
	}
	*out = t;
	return 0;
}

void testdev_destroy(struct testdev *t)
{
	if (!t)
		return;
	for (unsigned i = 0; i < TESTDEV_MAX_TIMERS; i++)
		vclock_cancel(t->dc->clock, &t->timers[i].timer);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* ---- ports ---- */

static enum iobus_action port_read(void *dev, const struct iobus_access *a, uint64_t off,
				   unsigned size, uint64_t *value)
{
	struct testdev *t = dev;
	uint64_t mask = iobus_ones(size);
	switch (TESTDEV_PORT_BASE + off) {
	case TESTDEV_PORT_ECHO:
		pthread_mutex_lock(&t->lock);
		*value = (t->echo[a->vp % TESTDEV_MAX_VPS] + 1) & mask;
		pthread_mutex_unlock(&t->lock);
		return IOBUS_OK;
	case TESTDEV_PORT_PROT_COUNT:
		*value = (t->dc->protect_hits ? t->dc->protect_hits(t->dc->ctx) : 0) & mask;
		return IOBUS_OK;
	case TESTDEV_PORT_IRQ:
	case TESTDEV_PORT_IRQ_DELAYED:
	case TESTDEV_PORT_PROTECT:
	case TESTDEV_PORT_UNPROTECT:
		*value = 0;
		return IOBUS_OK;
	}
	return IOBUS_NOT_MINE; /* the exit port and the gaps float */
}

static void irq_request(struct testdev *t, uint32_t vp, uint8_t vector, bool delayed)
{
	if (vector < 16) {
		if (t->dc->log)
			fprintf(t->dc->log, "testdev: vector %u refused (reserved)\n",
				(unsigned)vector);
		return;
	}
	if (!delayed) {
		deliver(t, vp, vector);
		return;
	}
	pthread_mutex_lock(&t->lock);
	struct testdev_timer *tt = NULL;
	for (unsigned i = 0; i < TESTDEV_MAX_TIMERS && !tt; i++)
		if (!t->timers[i].busy)
			tt = &t->timers[i];
	if (tt) {
		tt->busy = true;
		tt->vp = vp;
		tt->vector = vector;
		vclock_arm(t->dc->clock, &tt->timer, vclock_now(t->dc->clock) + TESTDEV_IRQ_DELAY_NS);
	}
	pthread_mutex_unlock(&t->lock);
}

static enum iobus_action port_write(void *dev, const struct iobus_access *a, uint64_t off,
				    unsigned size, uint64_t value)
{
	struct testdev *t = dev;
	switch (TESTDEV_PORT_BASE + off) {
	case TESTDEV_PORT_ECHO:
		pthread_mutex_lock(&t->lock);
		t->echo[a->vp % TESTDEV_MAX_VPS] = (uint32_t)value;
		pthread_mutex_unlock(&t->lock);
		return IOBUS_OK;
	case TESTDEV_PORT_EXIT:
		if (size != 4)
			return IOBUS_BAD_REGISTER;
		devctx_stop(t->dc, DEVCTX_STOP_TEST_EXIT, (uint32_t)value, a->vp);
		return IOBUS_OK;
	case TESTDEV_PORT_IRQ:
	case TESTDEV_PORT_IRQ_DELAYED:
		irq_request(t, a->vp, (uint8_t)value,
			    TESTDEV_PORT_BASE + off == TESTDEV_PORT_IRQ_DELAYED);
		return IOBUS_OK;
	case TESTDEV_PORT_PROTECT:
	case TESTDEV_PORT_UNPROTECT: {
		if (!t->dc->protect)
			return IOBUS_NOT_MINE;
		int rc = t->dc->protect(t->dc->ctx, gpn(value),
					TESTDEV_PORT_BASE + off == TESTDEV_PORT_PROTECT);
		if (rc < 0 && t->dc->log)
			fprintf(t->dc->log, "testdev: protect gpn 0x%llx: %s\n",
				(unsigned long long)value, strerror(-rc));
		return IOBUS_OK;
	}
	}
	return IOBUS_NOT_MINE;
}

const struct iobus_ops testdev_port_ops = { .read = port_read, .write = port_write };

/* ---- MMIO page ---- */

static uint8_t pattern_byte(uint64_t off)
{
	uint32_t dword = (uint32_t)(TESTDEV_MMIO_BASE + (off & ~3ull)) ^ TESTDEV_MMIO_PATTERN;
	return (uint8_t)(dword >> (8 * (off & 3)));
}

/* The bus only hands us accesses inside our ranges; checked again because the arrays below
   are indexed by guest addresses. */
static bool mmio_in_page(uint64_t off, unsigned size)
{
	return off < TESTDEV_MMIO_SIZE && size <= TESTDEV_MMIO_SIZE - off;
}

static enum iobus_action mmio_read(void *dev, const struct iobus_access *a, uint64_t off,
				   unsigned size, uint64_t *value)
{
	struct testdev *t = dev;
	(void)a;
	if (!mmio_in_page(off, size))
		return IOBUS_BAD_REGISTER;
	uint64_t v = 0;
	pthread_mutex_lock(&t->lock);
	for (unsigned i = 0; i < size; i++) {
		uint64_t o = off + i;
		uint8_t b = o >= TESTDEV_MMIO_SCRATCH ? t->scratch[o - TESTDEV_MMIO_SCRATCH]
						      : pattern_byte(o);
		v |= (uint64_t)b << (8 * i);
	}
	pthread_mutex_unlock(&t->lock);
	*value = v;
	return IOBUS_OK;
}

static enum iobus_action mmio_write(void *dev, const struct iobus_access *a, uint64_t off,
				    unsigned size, uint64_t value)
{
	struct testdev *t = dev;
	(void)a;
	if (!mmio_in_page(off, size))
		return IOBUS_BAD_REGISTER;
	pthread_mutex_lock(&t->lock);
	for (unsigned i = 0; i < size; i++) {
		uint64_t o = off + i;
		if (o >= TESTDEV_MMIO_SCRATCH)
			t->scratch[o - TESTDEV_MMIO_SCRATCH] = (uint8_t)(value >> (8 * i));
	}
	pthread_mutex_unlock(&t->lock);
	return IOBUS_OK; /* the pattern half is read-only: writes there vanish, as on ROM */
}

const struct iobus_ops testdev_mmio_ops = { .read = mmio_read, .write = mmio_write };

/* ---- MSRs ---- */

static enum iobus_action msr_read(void *dev, const struct iobus_access *a, uint64_t off,
				  unsigned size, uint64_t *value)
{
	struct testdev *t = dev;
	(void)a;
	(void)size;
	if (off >= TESTDEV_MSR_COUNT)
		return IOBUS_BAD_REGISTER;
	pthread_mutex_lock(&t->lock);
	*value = t->msr[off];
	pthread_mutex_unlock(&t->lock);
	return IOBUS_OK;
}

static enum iobus_action msr_write(void *dev, const struct iobus_access *a, uint64_t off,
				   unsigned size, uint64_t value)
{
	struct testdev *t = dev;
	(void)a;
	(void)size;
	if (off >= TESTDEV_MSR_COUNT)
		return IOBUS_BAD_REGISTER;
	pthread_mutex_lock(&t->lock);
	t->msr[off] = value;
	pthread_mutex_unlock(&t->lock);
	return IOBUS_OK;
}

const struct iobus_ops testdev_msr_ops = { .read = msr_read, .write = msr_write };
