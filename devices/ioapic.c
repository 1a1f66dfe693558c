/*
 * ioapic: see ioapic.h for the register model and the delivery rules.
 */
#include "devices/ioapic.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#define REG_IOREGSEL 0x00u
#define REG_IOWIN 0x10u
#define REG_EOI 0x40u

#define IDX_ID 0x00u
#define IDX_VER 0x01u
#define IDX_ARB 0x02u
#define IDX_REDTBL 0x10u

#define IOAPIC_VERSION 0x20u
#define IOAPIC_VER_VALUE (((uint32_t)(IOAPIC_PINS - 1) << 16) | IOAPIC_VERSION)

#define RTE_VECTOR 0xFFull
#define RTE_MODE_SHIFT 8
#define RTE_LOGICAL (1ull << 11)
#define RTE_DELIVS (1ull << 12)
#define RTE_POLARITY (1ull << 13)
#define RTE_REMOTE_IRR (1ull << 14)
#define RTE_LEVEL (1ull << 15)
#define RTE_MASK (1ull << 16)
#define RTE_DEST_SHIFT 56
/* Guest-writable bits: low dword without delivery status, Remote IRR and reserved bits. */
#define RTE_LOW_RW (RTE_VECTOR | (7ull << RTE_MODE_SHIFT) | RTE_LOGICAL | RTE_POLARITY | \
		    RTE_LEVEL | RTE_MASK)
#define RTE_HIGH_RW (0xFFull << RTE_DEST_SHIFT)

struct ioapic {
	pthread_mutex_t lock;
	struct irq_sink sink;
	uint8_t id;          /* 4 bits */
	uint8_t sel;         /* IOREGSEL */
	uint32_t lines;      /* raw input level per pin */
	uint64_t rte[IOAPIC_PINS];
	struct ioapic_stats stats;
};

static unsigned rte_mode(uint64_t rte)
{
	return (unsigned)(rte >> RTE_MODE_SHIFT) & 7;
}

/* Level semantics (Remote IRR, EOI) only exist for the modes that carry a vector. */
static bool rte_is_level(uint64_t rte)
{
	unsigned mode = rte_mode(rte);

	return (rte & RTE_LEVEL) && (mode == IRQ_DELIVERY_FIXED || mode == IRQ_DELIVERY_LOWEST);
}

static bool pin_asserted(const struct ioapic *io, unsigned pin)
{
	bool raw = (io->lines >> pin) & 1;

	return raw != !!(io->rte[pin] & RTE_POLARITY);
}

/* Send pin's message; true if the sink took it. */
static bool ioapic_send(struct ioapic *io, unsigned pin)
{
	uint64_t rte = io->rte[pin];
	unsigned mode = rte_mode(rte);
	uint8_t vector = (uint8_t)(rte & RTE_VECTOR);

	if (mode == 3 || mode == 6) {
		io->stats.bad_mode++;
		return false;
	}
	if ((mode == IRQ_DELIVERY_FIXED || mode == IRQ_DELIVERY_LOWEST) && vector < 16) {
		io->stats.bad_vector++;
		return false;
	}
	struct irq_msg msg = {
		.vector = vector,
		.delivery = (uint8_t)mode,
		.logical = rte & RTE_LOGICAL,
		.level = rte_is_level(rte),
		.dest = (uint32_t)(rte >> RTE_DEST_SHIFT),
	};
	if (irq_sink_deliver(&io->sink, &msg)) {
		io->stats.sink_errors++;
		return false;
	}
	io->stats.delivered++;
	return true;
}

/* A level entry that is asserted, unmasked and idle delivers and becomes busy. */
static void ioapic_level_check(struct ioapic *io, unsigned pin)
{
	uint64_t rte = io->rte[pin];

	if (!rte_is_level(rte) || (rte & (RTE_MASK | RTE_REMOTE_IRR)) || !pin_asserted(io, pin))
		return;
	if (ioapic_send(io, pin))
		io->rte[pin] |= RTE_REMOTE_IRR;
}

static void ioapic_do_eoi(struct ioapic *io, uint8_t vector)
{
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++) {
		uint64_t rte = io->rte[pin];

		if (!(rte & RTE_REMOTE_IRR) || (uint8_t)(rte & RTE_VECTOR) != vector)
			continue;
		io->rte[pin] &= ~RTE_REMOTE_IRR;
		ioapic_level_check(io, pin);
	}
}

static uint32_t ioapic_reg_read(const struct ioapic *io, uint8_t idx)
{
	if (idx == IDX_ID)
		return (uint32_t)io->id << 24;
	if (idx == IDX_VER)
		return IOAPIC_VER_VALUE;
	if (idx == IDX_ARB)
		return (uint32_t)io->id << 24; /* ARB mirrors the ID (reloaded on every ID write) */
	if (idx >= IDX_REDTBL && idx < IDX_REDTBL + 2 * IOAPIC_PINS) {
		uint64_t rte = io->rte[(idx - IDX_REDTBL) / 2];

		return (idx & 1) ? (uint32_t)(rte >> 32) : (uint32_t)rte;
	}
	return 0;
}

static void ioapic_rte_write(struct ioapic *io, unsigned pin, bool high, uint32_t val)
{
	uint64_t rte = io->rte[pin];

	if (high)
		rte = (rte & ~RTE_HIGH_RW) | (((uint64_t)val << 32) & RTE_HIGH_RW);
	else
		rte = (rte & ~RTE_LOW_RW) | (val & RTE_LOW_RW);
	if (!rte_is_level(rte))
		rte &= ~RTE_REMOTE_IRR;
	io->rte[pin] = rte;
	ioapic_level_check(io, pin);
}

static void ioapic_reg_write(struct ioapic *io, uint8_t idx, uint32_t val)
{
	if (idx == IDX_ID) {
		io->id = (uint8_t)((val >> 24) & 0x0F);
	} else if (idx >= IDX_REDTBL && idx < IDX_REDTBL + 2 * IOAPIC_PINS) {
		ioapic_rte_write(io, (idx - IDX_REDTBL) / 2, idx & 1, val);
	}
	/* VER, ARB and unimplemented indexes are read-only / ignore writes. */
}

/*
 * Classify an access: the register it decodes (REG_*), -1 for "elsewhere in the page"
 * (reads 0, writes ignored) or -2 for a bad access.
 */
static int ioapic_decode(uint64_t offset, unsigned size)
{
	static const unsigned regs[] = { REG_IOREGSEL, REG_IOWIN, REG_EOI };

	if ((size != 1 && size != 2 && size != 4 && size != 8) || offset >= IOAPIC_MMIO_LEN ||
	    size > IOAPIC_MMIO_LEN - offset)
		return -2;
	for (unsigned i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
		if (offset < regs[i] + 4u && offset + size > regs[i])
			return (offset == regs[i] && size == 4) ? (int)regs[i] : -2;
	}
	return -1;
}

static enum iobus_action ioapic_read(void *dev, const struct iobus_access *a, uint64_t offset,
				     unsigned size, uint64_t *value)
{
	struct ioapic *io = dev;
	int reg = ioapic_decode(offset, size);
	enum iobus_action act = IOBUS_OK;
	uint64_t v = 0;

	(void)a;
	pthread_mutex_lock(&io->lock);
	if (reg == (int)REG_IOREGSEL) {
		v = io->sel;
	} else if (reg == (int)REG_IOWIN) {
		v = ioapic_reg_read(io, io->sel);
	} else if (reg == -2 || reg == (int)REG_EOI) {
		io->stats.bad_access++;
		v = iobus_ones(size);
		act = IOBUS_BAD_REGISTER;
	}
	pthread_mutex_unlock(&io->lock);
	*value = v;
	return act;
}

static enum iobus_action ioapic_write(void *dev, const struct iobus_access *a, uint64_t offset,
				      unsigned size, uint64_t value)
{
	struct ioapic *io = dev;
	int reg = ioapic_decode(offset, size);
	enum iobus_action act = IOBUS_OK;

	(void)a;
	pthread_mutex_lock(&io->lock);
	if (reg == (int)REG_IOREGSEL) {
		io->sel = (uint8_t)value;
	} else if (reg == (int)REG_IOWIN) {
		ioapic_reg_write(io, io->sel, (uint32_t)value);
	} else if (reg == (int)REG_EOI) {
		ioapic_do_eoi(io, (uint8_t)value);
	} else if (reg == -2) {
		io->stats.bad_access++;
		act = IOBUS_BAD_REGISTER;
	}
	pthread_mutex_unlock(&io->lock);
	return act;
}

const struct iobus_ops ioapic_ops = { .read = ioapic_read, .write = ioapic_write };

static void ioapic_line_set(void *ctl, unsigned pin, bool level)
{
	struct ioapic *io = ctl;

	if (!io || pin >= IOAPIC_PINS)
		return;
	pthread_mutex_lock(&io->lock);
	bool was = pin_asserted(io, pin);

	if (level)
		io->lines |= 1u << pin;
	else
		io->lines &= ~(1u << pin);

	uint64_t rte = io->rte[pin];

	if (rte_is_level(rte))
		ioapic_level_check(io, pin);
	else if (!was && pin_asserted(io, pin) && !(rte & RTE_MASK))
		ioapic_send(io, pin);
	pthread_mutex_unlock(&io->lock);
}

struct irq_line ioapic_line(struct ioapic *io, unsigned pin)
{
	if (!io || pin >= IOAPIC_PINS)
		return (struct irq_line){ 0 };
	return (struct irq_line){ .set_level = ioapic_line_set, .ctl = io, .pin = pin };
}

static void ioapic_eoi_cb(void *ctx, uint8_t vector)
{
	struct ioapic *io = ctx;

	if (!io)
		return;
	pthread_mutex_lock(&io->lock);
	ioapic_do_eoi(io, vector);
	pthread_mutex_unlock(&io->lock);
}

struct irq_eoi ioapic_eoi(struct ioapic *io)
{
	if (!io)
		return (struct irq_eoi){ 0 };
	return (struct irq_eoi){ .eoi = ioapic_eoi_cb, .ctx = io };
}

void ioapic_get_stats(struct ioapic *io, struct ioapic_stats *out)
{
	if (!io || !out)
		return;
	pthread_mutex_lock(&io->lock);
	*out = io->stats;
	pthread_mutex_unlock(&io->lock);
}

int ioapic_create(const struct devctx *dc, uint8_t id, struct ioapic **out)
{
	if (!dc || !out || id > 0x0F)
		return -EINVAL;
	struct ioapic *io = calloc(1, sizeof(*io));
	if (!io)
		return -ENOMEM;
	int rc = pthread_mutex_init(&io->lock, NULL);
	if (rc) {
		free(io);
		return -rc;
	}
	io->sink = dc->sink;
	io->id = id;
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++)
		io->rte[pin] = RTE_MASK;
	*out = io;
	return 0;
}

void ioapic_destroy(struct ioapic *io)
{
	if (!io)
		return;
	pthread_mutex_destroy(&io->lock);
	free(io);
}
