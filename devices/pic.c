/*
 * pic: the 8259A pair and ELCR; see pic.h for the programming model and the choices made.
 *
 * Each chip keeps the raw level of its eight inputs; the master's input 2 is the slave's INT
 * output, recomputed after every change (pic_sync_cascade), never an external line.
 */
#include "devices/pic.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#define PIC_CASCADE_IRQ 2
#define PIC_ELCR1_MASK 0xF8u   /* IRQ 0, 1, 2 always edge */
#define PIC_ELCR2_MASK 0xDEu   /* IRQ 8, 13 always edge */

#define ICW1_IC4 0x01u
#define ICW1_SNGL 0x02u
#define ICW1_LTIM 0x08u
#define ICW1_SELECT 0x10u
#define ICW4_UPM 0x01u
#define ICW4_AEOI 0x02u
#define ICW4_SFNM 0x10u
#define OCW3_SELECT 0x08u
#define OCW3_RIS 0x01u
#define OCW3_RR 0x02u
#define OCW3_POLL 0x04u
#define OCW3_SMM 0x20u
#define OCW3_ESMM 0x40u

/* Init sequence position: what the next A0=1 write is. */
enum pic_init {
	PIC_READY = 0,
	PIC_WANT_ICW2,
	PIC_WANT_ICW3,
	PIC_WANT_ICW4,
};

struct pic_chip {
	uint8_t irr, isr, imr;
	uint8_t line;        /* raw input levels (master bit 2: the slave's INT output) */
	uint8_t elcr;        /* level-triggered inputs per ELCR */
	uint8_t icw1, icw3, icw4;
	uint8_t base;        /* ICW2 bits 7:3 */
	uint8_t prio;        /* the level with the highest priority */
	enum pic_init init;
	bool read_isr;       /* OCW3: A0=0 reads ISR instead of IRR */
	bool poll;           /* OCW3 poll command: the next read is the poll byte */
	bool smm;            /* special mask mode */
	bool rotate_aeoi;
	bool master;
};

struct pic {
	pthread_mutex_t lock;
	struct irq_sink sink;
	struct pic_chip chip[2];  /* 0 master, 1 slave */
	bool auto_ack;
	bool int_latched;         /* master INT raised since the last INTA */
	struct pic_stats stats;
};

static uint8_t chip_level_mask(const struct pic_chip *c)
{
	return (c->icw1 & ICW1_LTIM) ? 0xFF : c->elcr;
}

/* Inputs of `c` that have a slave behind them. */
static uint8_t chip_cascades(const struct pic_chip *c)
{
	return (c->master && !(c->icw1 & ICW1_SNGL)) ? c->icw3 : 0;
}

static void chip_set_input(struct pic_chip *c, unsigned pin, bool level)
{
	uint8_t bit = (uint8_t)(1u << pin);
	bool old = c->line & bit;

	if (level)
		c->line |= bit;
	else
		c->line &= (uint8_t)~bit;
	if (chip_level_mask(c) & bit) {
		if (level)
			c->irr |= bit;
		else
			c->irr &= (uint8_t)~bit;
	} else if (level && !old) {
		c->irr |= bit;
	}
}

/* Level-triggered IRR bits follow their lines (after an ELCR or LTIM change). */
static void chip_resync_levels(struct pic_chip *c)
{
	uint8_t lvl = chip_level_mask(c);

	c->irr = (uint8_t)((c->irr & ~lvl) | (c->line & lvl));
}

/* The level the priority resolver would present to INTA, or -1. */
static int chip_pending(const struct pic_chip *c)
{
	if (c->init != PIC_READY)
		return -1;
	uint8_t req = c->irr & (uint8_t)~c->imr;
	uint8_t block = c->isr;
	uint8_t pass = 0;

	if (!req)
		return -1;
	if (c->smm)
		block &= (uint8_t)~c->imr;
	if (c->icw4 & ICW4_SFNM)
		pass = chip_cascades(c);
	for (unsigned i = 0; i < 8; i++) {
		unsigned irq = (c->prio + i) & 7;
		uint8_t bit = (uint8_t)(1u << irq);

		if ((req & bit) && (!(block & bit) || (pass & bit)))
			return (int)irq;
		if (block & bit)
			return -1;
	}
	return -1;
}

/* The in-service level a non-specific EOI clears, or -1. */
static int chip_highest_isr(const struct pic_chip *c)
{
	uint8_t isr = c->isr;

	if (c->smm)
		isr &= (uint8_t)~c->imr;
	for (unsigned i = 0; i < 8; i++) {
		unsigned irq = (c->prio + i) & 7;

		if (isr & (1u << irq))
			return (int)irq;
	}
	return -1;
}

/* The acknowledge part of INTA for one chip. */
static void chip_ack(struct pic_chip *c, unsigned irq)
{
	uint8_t bit = (uint8_t)(1u << irq);

	if (!(chip_level_mask(c) & bit))
		c->irr &= (uint8_t)~bit;
	if (c->icw4 & ICW4_AEOI) {
		if (c->rotate_aeoi)
			c->prio = (uint8_t)((irq + 1) & 7);
	} else {
		c->isr |= bit;
	}
}

static void pic_sync_cascade(struct pic *p)
{
	chip_set_input(&p->chip[0], PIC_CASCADE_IRQ, chip_pending(&p->chip[1]) >= 0);
}

/* Whether the master's pending request `mirq` is served by the slave. */
static bool pic_slave_serves(const struct pic *p, unsigned mirq)
{
	return mirq == PIC_CASCADE_IRQ && (p->chip[1].icw3 & 7) == PIC_CASCADE_IRQ;
}

/*
 * Identify what INTA would acknowledge: the source key (0..7 master input, 8..15 slave input)
 * or -1 when nothing is pending.
 */
static int pic_resolve(const struct pic *p)
{
	int mirq = chip_pending(&p->chip[0]);

	if (mirq < 0)
		return -1;
	if ((chip_cascades(&p->chip[0]) & (1u << mirq)) && pic_slave_serves(p, (unsigned)mirq)) {
		int sirq = chip_pending(&p->chip[1]);

		if (sirq >= 0)
			return 8 + sirq;
	}
	return mirq;
}

/* INTA with the lock held. */
static int pic_do_intack(struct pic *p)
{
	struct pic_chip *m = &p->chip[0], *s = &p->chip[1];
	int mirq = chip_pending(m);
	int vector;

	if (mirq < 0) {
		if (!p->int_latched)
			return -ENOENT;
		p->int_latched = false;
		p->stats.spurious++;
		return m->base | 7;
	}
	p->int_latched = false;
	chip_ack(m, (unsigned)mirq);
	if (chip_cascades(m) & (1u << mirq)) {
		if (!pic_slave_serves(p, (unsigned)mirq)) {
			p->stats.no_slave++;
			vector = 0xFF;
		} else {
			int sirq = chip_pending(s);

			if (sirq < 0) {
				p->stats.spurious++;
				vector = s->base | 7;
			} else {
				chip_ack(s, (unsigned)sirq);
				vector = s->base | sirq;
			}
		}
	} else {
		vector = m->base | mirq;
	}
	pic_sync_cascade(p);
	return vector;
}

/*
 * After every state change: propagate the slave's output, then, with auto-ack, acknowledge and
 * deliver while the master's INT is asserted. Each source is acknowledged at most once per
 * call, which bounds the loop (a level input in AEOI mode stays pending forever).
 */
static void pic_update(struct pic *p)
{
	unsigned done = 0;

	pic_sync_cascade(p);
	for (unsigned n = 0; n < 16; n++) {
		int key = pic_resolve(p);

		if (key < 0)
			return;
		p->int_latched = true;
		if (!p->auto_ack || (done & (1u << key)))
			return;
		done |= 1u << key;

		int vector = pic_do_intack(p);

		if (vector < 0)
			return;
		struct irq_msg msg = {
			.vector = (uint8_t)vector,
			.delivery = IRQ_DELIVERY_FIXED,
			.logical = false,
			.level = false,
			.dest = 0,
		};
		if (irq_sink_deliver(&p->sink, &msg))
			p->stats.sink_errors++;
		else
			p->stats.delivered++;
	}
}

static void chip_reset(struct pic_chip *c, bool master)
{
	*c = (struct pic_chip){
		.master = master,
		.icw1 = ICW1_SELECT | ICW1_IC4,
		.icw3 = master ? (1u << PIC_CASCADE_IRQ) : PIC_CASCADE_IRQ,
		.icw4 = ICW4_UPM,
		.base = master ? 0x08 : 0x70,
		.imr = 0xFF,
	};
}

static void chip_icw1(struct pic_chip *c, uint8_t val)
{
	c->icw1 = val;
	c->icw4 = 0;      /* "IC4 = 0: all functions of ICW4 are set to zero" */
	c->icw3 = 7;      /* slave mode address 7 */
	c->init = PIC_WANT_ICW2;
	c->imr = 0;
	c->isr = 0;
	c->irr = 0;
	c->prio = 0;      /* IR7 lowest */
	c->read_isr = false;
	c->poll = false;
	c->smm = false;
	c->rotate_aeoi = false;
	/* The edge sense is reset: inputs already high must go low first; level inputs
	 * request as long as they are high. */
	chip_resync_levels(c);
}

static void chip_write_data(struct pic_chip *c, uint8_t val)
{
	switch (c->init) {
	case PIC_WANT_ICW2:
		c->base = val & 0xF8;
		if (!(c->icw1 & ICW1_SNGL))
			c->init = PIC_WANT_ICW3;
		else
			c->init = (c->icw1 & ICW1_IC4) ? PIC_WANT_ICW4 : PIC_READY;
		break;
	case PIC_WANT_ICW3:
		c->icw3 = val;
		c->init = (c->icw1 & ICW1_IC4) ? PIC_WANT_ICW4 : PIC_READY;
		break;
	case PIC_WANT_ICW4:
		c->icw4 = val & 0x1F;
		c->init = PIC_READY;
		break;
	case PIC_READY:
	default:
		c->imr = val;
		break;
	}
}

static void chip_ocw2(struct pic_chip *c, uint8_t val)
{
	unsigned level = val & 7;
	int irq;

	switch (val >> 5) {
	case 1: /* non-specific EOI */
	case 5: /* rotate on non-specific EOI */
		irq = chip_highest_isr(c);
		if (irq < 0)
			break;
		c->isr &= (uint8_t)~(1u << irq);
		if (val & 0x80)
			c->prio = (uint8_t)((irq + 1) & 7);
		break;
	case 3: /* specific EOI */
		c->isr &= (uint8_t)~(1u << level);
		break;
	case 7: /* rotate on specific EOI */
		c->isr &= (uint8_t)~(1u << level);
		c->prio = (uint8_t)((level + 1) & 7);
		break;
	case 6: /* set priority: L lowest */
		c->prio = (uint8_t)((level + 1) & 7);
		break;
	case 4:
		c->rotate_aeoi = true;
		break;
	case 0:
		c->rotate_aeoi = false;
		break;
	case 2: /* no operation */
	default:
		break;
	}
}

static void chip_ocw3(struct pic_chip *c, uint8_t val)
{
	if (val & OCW3_ESMM)
		c->smm = val & OCW3_SMM;
	if (val & OCW3_POLL)
		c->poll = true;
	if (val & OCW3_RR)
		c->read_isr = val & OCW3_RIS;
}

/* A poll read: the acknowledge of INTA without a vector cycle. */
static uint8_t pic_poll_read(struct pic *p, struct pic_chip *c)
{
	int irq = chip_pending(c);

	c->poll = false;
	if (irq < 0)
		return 0;
	if (c->master)
		p->int_latched = false;
	chip_ack(c, (unsigned)irq);
	return (uint8_t)(0x80 | irq);
}

static uint8_t chip_read_byte(struct pic *p, struct pic_chip *c, unsigned port)
{
	if (c->poll)
		return pic_poll_read(p, c);
	if (port == 0)
		return c->read_isr ? c->isr : c->irr;
	return c->imr;
}

static void chip_write_byte(struct pic_chip *c, unsigned port, uint8_t val)
{
	if (port == 1)
		chip_write_data(c, val);
	else if (val & ICW1_SELECT)
		chip_icw1(c, val);
	else if (val & OCW3_SELECT)
		chip_ocw3(c, val);
	else
		chip_ocw2(c, val);
}

static uint8_t elcr_read_byte(struct pic *p, unsigned port)
{
	return p->chip[port].elcr;
}

static void elcr_write_byte(struct pic *p, unsigned port, uint8_t val)
{
	struct pic_chip *c = &p->chip[port];

	c->elcr = val & (port == 0 ? PIC_ELCR1_MASK : PIC_ELCR2_MASK);
	chip_resync_levels(c);
}

/* `which`: 0 master, 1 slave, 2 ELCR. */
static enum iobus_action pic_read(struct pic *p, unsigned which, uint64_t offset, unsigned size,
				  uint64_t *value)
{
	uint64_t v = 0;

	if (size == 0 || size > 8) {
		*value = ~0ull;
		return IOBUS_BAD_REGISTER;
	}
	pthread_mutex_lock(&p->lock);
	for (unsigned i = 0; i < size; i++) {
		uint64_t port = offset < 2 ? offset + i : 2;   /* no wrap-around */
		uint8_t b = 0xFF;

		if (port < 2 && which == 2) {
			b = elcr_read_byte(p, (unsigned)port);
		} else if (port < 2) {
			bool poll = p->chip[which].poll;

			b = chip_read_byte(p, &p->chip[which], (unsigned)port);
			if (poll)   /* the poll read acknowledged: outputs change */
				pic_update(p);
		}
		v |= (uint64_t)b << (8 * i);
	}
	pthread_mutex_unlock(&p->lock);
	*value = v;
	return IOBUS_OK;
}

static enum iobus_action pic_write(struct pic *p, unsigned which, uint64_t offset, unsigned size,
				   uint64_t value)
{
	if (size == 0 || size > 8)
		return IOBUS_BAD_REGISTER;
	pthread_mutex_lock(&p->lock);
	for (unsigned i = 0; i < size; i++) {
		uint64_t port = offset < 2 ? offset + i : 2;   /* no wrap-around */
		uint8_t b = (uint8_t)(value >> (8 * i));

		if (port >= 2)
			continue;
		if (which == 2)
			elcr_write_byte(p, (unsigned)port, b);
		else
			chip_write_byte(&p->chip[which], (unsigned)port, b);
		/* Each byte is its own port write: deliver in between like the hardware would. */
		pic_update(p);
	}
	pthread_mutex_unlock(&p->lock);
	return IOBUS_OK;
}

static enum iobus_action pic_master_read(void *dev, const struct iobus_access *a,
					 uint64_t offset, unsigned size, uint64_t *value)
{
	(void)a;
	return pic_read(dev, 0, offset, size, value);
}

static enum iobus_action pic_master_write(void *dev, const struct iobus_access *a,
					  uint64_t offset, unsigned size, uint64_t value)
{
	(void)a;
	return pic_write(dev, 0, offset, size, value);
}

static enum iobus_action pic_slave_read(void *dev, const struct iobus_access *a,
					uint64_t offset, unsigned size, uint64_t *value)
{
	(void)a;
	return pic_read(dev, 1, offset, size, value);
}

static enum iobus_action pic_slave_write(void *dev, const struct iobus_access *a,
					 uint64_t offset, unsigned size, uint64_t value)
{
	(void)a;
	return pic_write(dev, 1, offset, size, value);
}

static enum iobus_action pic_elcr_read(void *dev, const struct iobus_access *a,
				       uint64_t offset, unsigned size, uint64_t *value)
{
	(void)a;
	return pic_read(dev, 2, offset, size, value);
}

static enum iobus_action pic_elcr_write(void *dev, const struct iobus_access *a,
					uint64_t offset, unsigned size, uint64_t value)
{
	(void)a;
	return pic_write(dev, 2, offset, size, value);
}

const struct iobus_ops pic_master_ops = { .read = pic_master_read, .write = pic_master_write };
const struct iobus_ops pic_slave_ops = { .read = pic_slave_read, .write = pic_slave_write };
const struct iobus_ops pic_elcr_ops = { .read = pic_elcr_read, .write = pic_elcr_write };

static void pic_line_set(void *ctl, unsigned pin, bool level)
{
	struct pic *p = ctl;

	if (!p || pin > 15 || pin == PIC_CASCADE_IRQ)
		return;
	pthread_mutex_lock(&p->lock);
	chip_set_input(&p->chip[pin >> 3], pin & 7, level);
	pic_update(p);
	pthread_mutex_unlock(&p->lock);
}

struct irq_line pic_line(struct pic *p, unsigned irq)
{
	if (!p || irq > 15)
		return (struct irq_line){ 0 };
	return (struct irq_line){ .set_level = pic_line_set, .ctl = p, .pin = irq };
}

int pic_intack(struct pic *p)
{
	if (!p)
		return -EINVAL;
	pthread_mutex_lock(&p->lock);
	pic_sync_cascade(p);
	if (pic_resolve(p) >= 0)
		p->int_latched = true;
	int vector = pic_do_intack(p);
	pic_update(p);
	pthread_mutex_unlock(&p->lock);
	return vector;
}

bool pic_int_output(struct pic *p)
{
	if (!p)
		return false;
	pthread_mutex_lock(&p->lock);
	pic_sync_cascade(p);
	bool out = chip_pending(&p->chip[0]) >= 0;
	pthread_mutex_unlock(&p->lock);
	return out;
}

void pic_set_auto_ack(struct pic *p, bool on)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->auto_ack = on;
	pic_update(p);
	pthread_mutex_unlock(&p->lock);
}

void pic_get_stats(struct pic *p, struct pic_stats *out)
{
	if (!p || !out)
		return;
	pthread_mutex_lock(&p->lock);
	*out = p->stats;
	pthread_mutex_unlock(&p->lock);
}

int pic_create(const struct devctx *dc, struct pic **out)
{
	if (!dc || !out)
		return -EINVAL;
	struct pic *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	int rc = pthread_mutex_init(&p->lock, NULL);
	if (rc) {
		free(p);
		return -rc;
	}
	p->sink = dc->sink;
	p->auto_ack = true;
	chip_reset(&p->chip[0], true);
	chip_reset(&p->chip[1], false);
	*out = p;
	return 0;
}

void pic_destroy(struct pic *p)
{
	if (!p)
		return;
	pthread_mutex_destroy(&p->lock);
	free(p);
}
