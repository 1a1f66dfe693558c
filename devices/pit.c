/*
 * pit: 8254 model (see pit.h for the datasheet facts it follows).
 *
 * Time is counted in CLK ticks since the device was created: T(now) = floor((now - epoch) *
 * PIT_HZ / 1e9). A running counter is a segment: its counting element held `n` at tick
 * `start`, and its value and OUT at tick T follow from e = T - start and the mode, so nothing
 * ticks in between. A new count for a running mode 2/3 counter waits as a pending segment that
 * starts at the end of the current period.
 *
 * Only counter 0 has an interrupt: `irq_edge` is the tick of OUT0's next rising edge and one
 * vclock timer is armed for it.
 *
 * Lock order: pit lock -> irq_line_set (controller lock) and pit lock -> vclock lock.
 */
#include "devices/pit.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#define NS_PER_S 1000000000ull
#define NO_EDGE UINT64_MAX

enum pit_state {
	PIT_IDLE,   /* control word written, no count yet: CE holds `hold` */
	PIT_WAIT,   /* count written, waiting for a GATE rising edge (modes 1, 5; 2, 3 gate low) */
	PIT_RUN,    /* counting: segment (start, n) */
	PIT_PAUSE,  /* modes 0, 4 with GATE low: `paused_e` clocks of the segment done */
};

struct pit_counter {
	uint8_t mode;          /* 0..5 (6, 7 folded) */
	uint8_t mode_bits;     /* as written, for the status byte */
	uint8_t rw;            /* 1 LSB, 2 MSB, 3 LSB then MSB */
	bool bcd;
	uint16_t cr;           /* count register */
	bool wff;              /* write flip-flop: LSB written, MSB next */
	uint8_t lsb;
	bool rff;              /* read flip-flop for unlatched two-byte reads */
	bool count_latched;
	bool latch_msb;        /* latched two-byte read: MSB next */
	uint16_t latch;
	bool status_latched;
	uint8_t status;
	enum pit_state st;
	uint64_t start;        /* tick at which the CE held n */
	uint32_t n;            /* 1..65536 (binary) or 1..10000 (BCD) */
	bool pending;
	uint64_t pend_start;
	uint32_t pend_n;
	uint64_t paused_e;
	uint32_t hold;         /* CE value while not counting */
	bool null_count;       /* CR not yet scheduled for loading into the CE */
	uint64_t load_tick;    /* ... scheduled for this tick */
	bool gate;
};

struct pit {
	pthread_mutex_t lock;
	struct vclock *clock;
	uint64_t epoch;
	struct pit_counter c[3];
	uint8_t p61;           /* bits 0-3 as written */
	bool refresh;
	struct irq_line irq;
	bool irq_level;
	uint64_t irq_edge;     /* tick of counter 0's next rising edge, NO_EDGE */
	uint64_t last_fire_ns;
	struct vclock_timer timer;
};

/* ---- time ---- */

static uint64_t ticks_at(const struct pit *p, uint64_t now)
{
	uint64_t d = now > p->epoch ? now - p->epoch : 0;
	return d / NS_PER_S * PIT_HZ + d % NS_PER_S * PIT_HZ / NS_PER_S;
}

/* The first vclock time at which ticks_at() reaches `t`. */
static uint64_t tick_ns(const struct pit *p, uint64_t t)
{
	return p->epoch + t / PIT_HZ * NS_PER_S + (t % PIT_HZ * NS_PER_S + PIT_HZ - 1) / PIT_HZ;
}

/* ---- counting element ---- */

static uint32_t modulus(const struct pit_counter *c)
{
	return c->bcd ? 10000 : 65536;
}

static uint32_t count_from_cr(const struct pit_counter *c)
{
	uint32_t v = c->cr;
	if (c->bcd) {
		/* Invalid digits are taken at face value. */
		v = (v >> 12) * 1000 + (v >> 8 & 0xF) * 100 + (v >> 4 & 0xF) * 10 + (v & 0xF);
		v %= 10000;
	}
	return v ? v : modulus(c);
}

static uint16_t raw_value(const struct pit_counter *c, uint32_t v)
{
	if (!c->bcd)
		return (uint16_t)v;
	v %= 10000;
	return (uint16_t)((v / 1000) << 12 | (v / 100 % 10) << 8 | (v / 10 % 10) << 4 | v % 10);
}

static void normalize(struct pit_counter *c, uint64_t t)
{
	if (c->st == PIT_RUN && c->pending && t >= c->pend_start) {
		c->start = c->pend_start;
		c->n = c->pend_n;
		c->pending = false;
	}
}

/* CE value e clocks after it was loaded with n. */
static uint32_t value_after(const struct pit_counter *c, uint64_t e)
{
	uint64_t m = modulus(c), n = c->n, p = e % n;
	switch (c->mode) {
	case 2:
		return (uint32_t)((n - p) % m);
	case 3: {
		uint64_t base = n & ~1ull, high = (n + 1) / 2;
		uint64_t q = p < high ? p : p - high;
		return (uint32_t)((base - 2 * q) % m);
	}
	default: /* 0, 1, 4, 5: count down through 0 and wrap */
		return (uint32_t)((n % m + m - e % m) % m);
	}
}

static bool out_after(const struct pit_counter *c, uint64_t e)
{
	switch (c->mode) {
	case 0:
	case 1:
		return e >= c->n;
	case 2:
		return e % c->n != c->n - 1;
	case 3:
		return e % c->n < (c->n + 1) / 2;
	default: /* 4, 5 */
		return e != c->n;
	}
}

static uint32_t value_at(struct pit_counter *c, uint64_t t)
{
	switch (c->st) {
	case PIT_RUN:
		normalize(c, t);
		return t < c->start ? c->hold : value_after(c, t - c->start);
	case PIT_PAUSE:
		return value_after(c, c->paused_e);
	default:
		return c->hold;
	}
}

static bool out_at(struct pit_counter *c, uint64_t t)
{
	switch (c->st) {
	case PIT_RUN:
		normalize(c, t);
		if (t < c->start)
			return c->mode != 0;
		return out_after(c, t - c->start);
	case PIT_PAUSE:
		return out_after(c, c->paused_e);
	case PIT_WAIT:
		return true;
	default:
		return c->mode != 0;
	}
}

static bool null_at(const struct pit_counter *c, uint64_t t)
{
	return c->null_count || t < c->load_tick;
}

static void start_segment(struct pit_counter *c, uint64_t t)
{
	c->st = PIT_RUN;
	c->start = t + 1; /* loaded on the next CLK */
	c->n = count_from_cr(c);
	c->pending = false;
	c->null_count = false;
	c->load_tick = c->start;
}

/* ---- counter 0 -> IRQ 0 ---- */

static void set_line(struct pit *p, bool level)
{
	if (p->irq_level != level) {
		p->irq_level = level;
		irq_line_set(&p->irq, level);
	}
}

/* Tick of OUT0's next rising edge after tick t, NO_EDGE if none is scheduled. */
static uint64_t next_edge(struct pit_counter *c, uint64_t t)
{
	if (c->st != PIT_RUN)
		return NO_EDGE;
	normalize(c, t);
	uint64_t edge;
	switch (c->mode) {
	case 0:
		edge = c->start + c->n;
		return t < edge ? edge : NO_EDGE;
	case 4:
		edge = c->start + c->n + 1;
		return t < edge ? edge : NO_EDGE;
	case 2:
	case 3:
		if (t < c->start)
			return c->start + c->n;
		/* At a pending reload this is exactly pend_start. */
		return c->start + ((t - c->start) / c->n + 1) * c->n;
	default:
		return NO_EDGE;
	}
}

static void irq_arm(struct pit *p)
{
	if (p->irq_edge == NO_EDGE) {
		vclock_cancel(p->clock, &p->timer);
		return;
	}
	uint64_t when = tick_ns(p, p->irq_edge);
	uint8_t mode = p->c[0].mode;
	/* Periodic modes: at most one interrupt per PIT_MIN_IRQ_NS (see pit.h). One-shots need
	   a guest write each and cannot flood. */
	if ((mode == 2 || mode == 3) && when < p->last_fire_ns + PIT_MIN_IRQ_NS)
		when = p->last_fire_ns + PIT_MIN_IRQ_NS;
	vclock_arm(p->clock, &p->timer, when);
}

/* Counter 0 was reprogrammed at tick t: put the line at OUT0's level, find the next edge. */
static void irq_program(struct pit *p, uint64_t t)
{
	struct pit_counter *c = &p->c[0];
	bool periodic = c->st == PIT_RUN && (c->mode == 2 || c->mode == 3);
	/* Periodic modes: the line rests high between the per-period edges. */
	set_line(p, periodic ? true : out_at(c, t));
	p->irq_edge = next_edge(c, t);
	irq_arm(p);
}

static void pit_timer_fire(void *ctx, uint64_t now_ns)
{
	struct pit *p = ctx;
	pthread_mutex_lock(&p->lock);
	/* A stale callback (after cancel or re-arm) finds no edge due and just re-arms. */
	uint64_t t = ticks_at(p, now_ns);
	if (p->irq_edge != NO_EDGE && t >= p->irq_edge) {
		if (p->c[0].mode != 0)
			set_line(p, false);
		set_line(p, true);
		p->last_fire_ns = now_ns;
		p->irq_edge = next_edge(&p->c[0], t);
	}
	irq_arm(p);
	pthread_mutex_unlock(&p->lock);
}

/* ---- registers ---- */

static void load_count(struct pit_counter *c, uint64_t t)
{
	switch (c->mode) {
	case 0:
	case 4:
		start_segment(c, t);
		if (!c->gate) {
			c->st = PIT_PAUSE;
			c->paused_e = 0;
		}
		break;
	case 2:
	case 3:
		if (c->st == PIT_RUN) {
			normalize(c, t);
			if (t < c->start) {
				c->n = count_from_cr(c);
			} else {
				c->pend_start = c->start + ((t - c->start) / c->n + 1) * c->n;
				c->pend_n = count_from_cr(c);
				c->pending = true;
				c->null_count = false;
				c->load_tick = c->pend_start;
			}
		} else if (c->gate) {
			start_segment(c, t);
		} else {
			c->st = PIT_WAIT;
			c->null_count = true;
		}
		break;
	default: /* 1, 5: wait for the next trigger; a running one-shot is not disturbed */
		if (c->st != PIT_RUN)
			c->st = PIT_WAIT;
		c->null_count = true;
		break;
	}
}


/* Latch command (plain or read-back): a second latch before the count is read is ignored. */
static void latch_count(struct pit_counter *c, uint64_t t)
{
	if (c->count_latched)
		return;
	c->latch = raw_value(c, value_at(c, t));
	c->count_latched = true;
	c->latch_msb = false;
}

static void control_word(struct pit *p, uint8_t v, uint64_t t)
{
	unsigned sc = v >> 6, rw = v >> 4 & 3;
	if (sc == 3) {
		/* Read-back: bit 5 = 0 latch count, bit 4 = 0 latch status, bits 3:1 counters. */
		for (unsigned i = 0; i < 3; i++) {
			struct pit_counter *c = &p->c[i];
			if (!(v & (2u << i)))
				continue;
			if (!(v & 0x20))
				latch_count(c, t);
			if (!(v & 0x10) && !c->status_latched) {
				c->status = (uint8_t)((out_at(c, t) ? 0x80 : 0) |
						      (null_at(c, t) ? 0x40 : 0) | c->rw << 4 |
						      c->mode_bits << 1 | (c->bcd ? 1 : 0));
				c->status_latched = true;
			}
		}
		return;
	}
	struct pit_counter *c = &p->c[sc];
	if (rw == 0) {
		latch_count(c, t);
		return;
	}
	c->hold = value_at(c, t);
	c->mode_bits = v >> 1 & 7;
	c->mode = c->mode_bits > 5 ? c->mode_bits - 4 : c->mode_bits;
	c->rw = (uint8_t)rw;
	c->bcd = v & 1;
	c->st = PIT_IDLE;
	c->pending = false;
	c->wff = c->rff = false;
	c->count_latched = c->status_latched = false;
	c->null_count = true;
	if (sc == 0)
		irq_program(p, t);
}

static void counter_write(struct pit *p, unsigned i, uint8_t v, uint64_t t)
{
	struct pit_counter *c = &p->c[i];
	switch (c->rw) {
	case 1:
		c->cr = v;
		break;
	case 2:
		c->cr = (uint16_t)(v << 8);
		break;
	default:
		if (!c->wff) {
			c->lsb = v;
			c->wff = true;
			if (c->mode == 0) {
				/* Mode 0: the first byte stops counting and drops OUT. */
				c->hold = value_at(c, t);
				c->st = PIT_IDLE;
				c->pending = false;
				if (i == 0)
					irq_program(p, t);
			}
			return;
		}
		c->cr = (uint16_t)(c->lsb | v << 8);
		c->wff = false;
		break;
	}
	load_count(c, t);
	if (i == 0)
		irq_program(p, t);
}

static uint8_t counter_read(struct pit *p, unsigned i, uint64_t t)
{
	struct pit_counter *c = &p->c[i];
	if (c->status_latched) {
		c->status_latched = false;
		return c->status;
	}
	uint16_t v;
	bool msb;
	if (c->count_latched) {
		v = c->latch;
		if (c->rw == 3 && !c->latch_msb) {
			c->latch_msb = true;
			msb = false;
		} else {
			msb = c->rw == 2 || c->rw == 3;
			c->count_latched = false;
		}
	} else {
		v = raw_value(c, value_at(c, t));
		if (c->rw == 3) {
			msb = c->rff;
			c->rff = !c->rff;
		} else {
			msb = c->rw == 2;
		}
	}
	return (uint8_t)(msb ? v >> 8 : v);
}

static void set_gate(struct pit_counter *c, bool level, uint64_t t)
{
	if (c->gate == level)
		return;
	c->gate = level;
	switch (c->mode) {
	case 0:
	case 4:
		if (!level && c->st == PIT_RUN) {
			normalize(c, t);
			c->paused_e = t > c->start ? t - c->start : 0;
			c->st = PIT_PAUSE;
		} else if (level && c->st == PIT_PAUSE) {
			c->start = t - c->paused_e;
			c->st = PIT_RUN;
		}
		break;
	case 2:
	case 3:
		if (!level && c->st == PIT_RUN) {
			c->hold = value_at(c, t);
			c->st = PIT_WAIT;
			c->pending = false;
		} else if (level && c->st == PIT_WAIT) {
			start_segment(c, t);
		}
		break;
	default: /* 1, 5: a rising edge (re)triggers once a count was written */
		if (level && c->st != PIT_IDLE)
			start_segment(c, t);
		break;
	}
}

/* ---- port handlers ---- */

static bool size_ok(unsigned size)
{
	return size == 1 || size == 2 || size == 4;
}

static enum iobus_action pit_read(void *dev, const struct iobus_access *a, uint64_t offset,
				  unsigned size, uint64_t *value)
{
	struct pit *p = dev;
	(void)a;
	if (!size_ok(size)) {
		*value = iobus_ones(size);
		return IOBUS_BAD_REGISTER;
	}
	uint64_t v = 0;
	pthread_mutex_lock(&p->lock);
	uint64_t t = ticks_at(p, vclock_now(p->clock));
	for (unsigned i = 0; i < size; i++) {
		uint64_t off = offset + i;
		/* The control word is write-only (the 8254 does not drive the bus). */
		uint8_t b = off < 3 ? counter_read(p, (unsigned)off, t) : 0xFF;
		v |= (uint64_t)b << (8 * i);
	}
	pthread_mutex_unlock(&p->lock);
	*value = v;
	return IOBUS_OK;
}

static enum iobus_action pit_write(void *dev, const struct iobus_access *a, uint64_t offset,
				   unsigned size, uint64_t value)
{
	struct pit *p = dev;
	(void)a;
	if (!size_ok(size))
		return IOBUS_BAD_REGISTER;
	pthread_mutex_lock(&p->lock);
	uint64_t t = ticks_at(p, vclock_now(p->clock));
	for (unsigned i = 0; i < size; i++) {
		uint64_t off = offset + i;
		uint8_t b = (uint8_t)(value >> (8 * i));
		if (off < 3)
			counter_write(p, (unsigned)off, b, t);
		else if (off == 3)
			control_word(p, b, t);
	}
	pthread_mutex_unlock(&p->lock);
	return IOBUS_OK;
}

const struct iobus_ops pit_ops = {
	.read = pit_read,
	.write = pit_write,
};

static enum iobus_action p61_read(void *dev, const struct iobus_access *a, uint64_t offset,
				  unsigned size, uint64_t *value)
{
	struct pit *p = dev;
	(void)a;
	if (!size_ok(size)) {
		*value = iobus_ones(size);
		return IOBUS_BAD_REGISTER;
	}
	uint64_t v = iobus_ones(size);
	if (offset == 0) {
		pthread_mutex_lock(&p->lock);
		uint64_t t = ticks_at(p, vclock_now(p->clock));
		p->refresh = !p->refresh;
		uint8_t b = (uint8_t)(p->p61 | (p->refresh ? PIT_P61_REFRESH : 0) |
				      (out_at(&p->c[2], t) ? PIT_P61_OUT2 : 0));
		pthread_mutex_unlock(&p->lock);
		v = (v & ~0xFFull) | b;
	}
	*value = v;
	return IOBUS_OK;
}

static enum iobus_action p61_write(void *dev, const struct iobus_access *a, uint64_t offset,
				   unsigned size, uint64_t value)
{
	struct pit *p = dev;
	(void)a;
	if (!size_ok(size))
		return IOBUS_BAD_REGISTER;
	if (offset == 0) {
		pthread_mutex_lock(&p->lock);
		uint64_t t = ticks_at(p, vclock_now(p->clock));
		p->p61 = value & PIT_P61_WRITABLE;
		set_gate(&p->c[2], value & PIT_P61_GATE2, t);
		pthread_mutex_unlock(&p->lock);
	}
	return IOBUS_OK;
}

const struct iobus_ops pit_port61_ops = {
	.read = p61_read,
	.write = p61_write,
};

/* ---- host side ---- */

int pit_create(const struct devctx *dc, struct irq_line irq0, struct pit **out)
{
	if (!dc || !dc->clock || !out)
		return -EINVAL;
	struct pit *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	if (pthread_mutex_init(&p->lock, NULL) != 0) {
		free(p);
		return -ENOMEM;
	}
	p->clock = dc->clock;
	p->epoch = vclock_now(p->clock);
	p->irq = irq0;
	p->irq_edge = NO_EDGE;
	vclock_timer_init(&p->timer, pit_timer_fire, p);
	for (unsigned i = 0; i < 3; i++) {
		struct pit_counter *c = &p->c[i];
		c->rw = 3;
		c->st = PIT_IDLE;
		c->null_count = true;
		c->gate = i != 2; /* counters 0 and 1: GATE tied high; 2: port 0x61 bit 0 */
	}
	*out = p;
	return 0;
}

void pit_destroy(struct pit *p)
{
	if (!p)
		return;
	vclock_cancel(p->clock, &p->timer);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
