/*
 * uart16550: 16550A UART model (see uart16550.h for what is covered and the datasheet facts).
 *
 * Concurrency: every entry point (ops handlers, receive, stats, the timeout callback) takes
 * u->lock for the whole operation, so a wide access is atomic with respect to other VPs.
 * The interrupt line, the vclock and the backend are called with the lock held (allowed
 * order: device lock -> irq_line_set -> controller; device lock -> vclock lock).
 */
#include "devices/uart16550.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

/* Register offsets. */
enum {
	REG_RBR_THR = 0,
	REG_IER = 1,
	REG_IIR_FCR = 2,
	REG_LCR = 3,
	REG_MCR = 4,
	REG_LSR = 5,
	REG_MSR = 6,
	REG_SCR = 7,
};

#define IER_ERBFI 0x01
#define IER_ETBEI 0x02
#define IER_ELSI  0x04
#define IER_EDSSI 0x08
#define IER_MASK  0x0F

#define IIR_NONE    0x01
#define IIR_LSR     0x06
#define IIR_RDA     0x04
#define IIR_TIMEOUT 0x0C
#define IIR_THRE    0x02
#define IIR_MSR     0x00
#define IIR_FIFO_ON 0xC0

#define FCR_ENABLE   0x01
#define FCR_RX_RESET 0x02

#define LCR_DLAB 0x80

#define MCR_DTR  0x01
#define MCR_RTS  0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1F

#define LSR_DR   0x01
#define LSR_OE   0x02
#define LSR_ERRS 0x1E   /* OE PE FE BI: the line-status interrupt sources */
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS  0x10
#define MSR_DSR  0x20
#define MSR_RI   0x40
#define MSR_DCD  0x80
/* The far end outside loopback: a connected null modem. */
#define MSR_EXTERNAL (MSR_DCD | MSR_DSR | MSR_CTS)

#define UART_CLOCK_HZ 1843200ull
#define RESET_DIVISOR 12

struct uart16550 {
	pthread_mutex_t lock;
	struct vclock *clock;
	struct irq_line irq;
	struct uart16550_backend be;
	struct vclock_timer timeout_timer;

	uint8_t rx[UART16550_FIFO_SIZE];
	unsigned rx_head;           /* index of the oldest byte */
	unsigned rx_count;

	uint8_t ier, lcr, mcr, scr, dll, dlm;
	uint8_t lsr_err;            /* latched LSR error bits (only OE is ever set) */
	uint8_t msr_delta;          /* MSR bits 3:0 */
	uint8_t trigger;            /* FCR bits 7:6 */
	bool fifo_on;

	bool thre_pending;          /* THRE interrupt indication */
	bool timeout_pending;       /* character-timeout indication */
	bool timeout_waiting;       /* the timer is meant to fire at timeout_deadline */
	uint64_t timeout_deadline;
	bool irq_level;             /* last level driven on `irq` */

	struct uart16550_stats stats;
};

static const uint8_t trigger_levels[4] = { 1, 4, 8, 14 };

static unsigned rx_capacity(const struct uart16550 *u)
{
	return u->fifo_on ? UART16550_FIFO_SIZE : 1;
}

/* MSR bits 7:4 as the chip sees its modem inputs now. */
static uint8_t msr_inputs(const struct uart16550 *u)
{
	if (!(u->mcr & MCR_LOOP))
		return MSR_EXTERNAL;
	uint8_t in = 0;
	if (u->mcr & MCR_RTS)
		in |= MSR_CTS;
	if (u->mcr & MCR_DTR)
		in |= MSR_DSR;
	if (u->mcr & MCR_OUT1)
		in |= MSR_RI;
	if (u->mcr & MCR_OUT2)
		in |= MSR_DCD;
	return in;
}

static bool rx_data_ready(const struct uart16550 *u)
{
	if (u->fifo_on)
		return u->rx_count >= trigger_levels[u->trigger];
	return u->rx_count > 0;
}

/* The IIR source code (bits 3:0) of the highest-priority enabled pending interrupt. */
static uint8_t iir_source(const struct uart16550 *u)
{
	if ((u->ier & IER_ELSI) && (u->lsr_err & LSR_ERRS))
		return IIR_LSR;
	if (u->ier & IER_ERBFI) {
		if (rx_data_ready(u))
			return IIR_RDA;
		if (u->timeout_pending)
			return IIR_TIMEOUT;
	}
	if ((u->ier & IER_ETBEI) && u->thre_pending)
		return IIR_THRE;
	if ((u->ier & IER_EDSSI) && (u->msr_delta & 0x0F))
		return IIR_MSR;
	return IIR_NONE;
}

/* Drive the line if its level changed: a 0 -> 1 edge is what the PIC/IOAPIC delivers. */
static void update_irq(struct uart16550 *u)
{
	bool level = iir_source(u) != IIR_NONE && (u->mcr & MCR_OUT2);
	if (level == u->irq_level)
		return;
	u->irq_level = level;
	irq_line_set(&u->irq, level);
}

/*
 * Four character times in ns at the programmed divisor and LCR, rounded up. Worst case
 * (divisor 65535, 12 bits) is ~27 s; the product below stays under 2^57.
 */
static uint64_t char_timeout_ns(const struct uart16550 *u)
{
	uint64_t div = (uint64_t)u->dlm << 8 | u->dll;
	if (div == 0)
		div = 1;    /* undefined on the chip; the fastest rate keeps the period >= 347 us */
	unsigned data_bits = 5 + (u->lcr & 3);
	/* In half bits: start + data + parity, then 1, 1.5 (5-bit words) or 2 stop bits. */
	uint64_t half_bits = 2 * (1 + data_bits + ((u->lcr & 0x08) ? 1 : 0));
	if (!(u->lcr & 0x04))
		half_bits += 2;
	else
		half_bits += data_bits == 5 ? 3 : 4;
	uint64_t num = 4 * half_bits * div * 16 * 1000000000ull;
	uint64_t den = 2 * UART_CLOCK_HZ;
	return (num + den - 1) / den;
}

/* (Re)start the character-timeout count, or stop it when it cannot apply. */
static void timeout_restart(struct uart16550 *u)
{
	if (u->fifo_on && u->rx_count > 0) {
		u->timeout_deadline = vclock_now(u->clock) + char_timeout_ns(u);
		u->timeout_waiting = true;
		vclock_arm(u->clock, &u->timeout_timer, u->timeout_deadline);
	} else if (u->timeout_waiting) {
		u->timeout_waiting = false;
		vclock_cancel(u->clock, &u->timeout_timer);
	}
}

static void timeout_fire(void *ctx, uint64_t now_ns)
{
	struct uart16550 *u = ctx;

	pthread_mutex_lock(&u->lock);
	/* A callback racing a cancel or re-arm finds the state changed and does nothing. */
	if (u->timeout_waiting && now_ns >= u->timeout_deadline) {
		u->timeout_waiting = false;
		/* Set even at/above the trigger level (RX data outranks it in IIR), so raising
		   the trigger later does not leave bytes stranded without an interrupt. */
		if (u->fifo_on && u->rx_count > 0)
			u->timeout_pending = true;
		update_irq(u);
	}
	pthread_mutex_unlock(&u->lock);
}

static void rx_clear(struct uart16550 *u)
{
	u->rx_head = 0;
	u->rx_count = 0;
	u->timeout_pending = false;
	timeout_restart(u);
}

/* One byte into the receiver; the caller restarts the timeout. */
static void rx_push(struct uart16550 *u, uint8_t byte)
{
	unsigned cap = rx_capacity(u);
	if (u->rx_count >= cap) {
		u->lsr_err |= LSR_OE;
		u->stats.rx_overruns++;
		/* 16450 mode: the shift register moves into RBR anyway, destroying its byte.
		   FIFO mode: the FIFO is kept, the new byte is lost. */
		if (!u->fifo_on)
			u->rx[u->rx_head] = byte;
		return;
	}
	u->rx[(u->rx_head + u->rx_count) % UART16550_FIFO_SIZE] = byte;
	u->rx_count++;
	u->stats.rx_bytes++;
}

static uint8_t rx_pop(struct uart16550 *u)
{
	if (u->rx_count == 0)
		return 0;
	uint8_t byte = u->rx[u->rx_head];
	u->rx_head = (u->rx_head + 1) % UART16550_FIFO_SIZE;
	u->rx_count--;
	u->timeout_pending = false;
	timeout_restart(u);
	return byte;
}

static void transmit(struct uart16550 *u, uint8_t byte)
{
	u->thre_pending = false;
	if (u->mcr & MCR_LOOP) {
		rx_push(u, byte);
		timeout_restart(u);
	} else {
		if (u->be.tx)
			u->be.tx(u->be.ctx, byte);
		u->stats.tx_bytes++;
	}
	/* Instantaneous: THR and the transmitter are empty again. */
	u->thre_pending = true;
}

static void write_ier(struct uart16550 *u, uint8_t v)
{
	uint8_t old = u->ier;
	u->ier = v & IER_MASK;
	/* THR is always empty here, so enabling ETBEI raises THRE. */
	if (!(old & IER_ETBEI) && (u->ier & IER_ETBEI))
		u->thre_pending = true;
}

static void write_fcr(struct uart16550 *u, uint8_t v)
{
	bool on = v & FCR_ENABLE;
	if (on != u->fifo_on) {
		u->fifo_on = on;
		rx_clear(u);    /* the TX FIFO is always empty */
	}
	if (!on)
		return;         /* the other bits are programmed only with FCR0 = 1 */
	if (v & FCR_RX_RESET)
		rx_clear(u);
	u->trigger = v >> 6;
}

static void write_mcr(struct uart16550 *u, uint8_t v)
{
	uint8_t before = msr_inputs(u);
	u->mcr = v & MCR_MASK;
	uint8_t after = msr_inputs(u);
	uint8_t changed = before ^ after;
	if (changed & MSR_CTS)
		u->msr_delta |= MSR_DCTS;
	if (changed & MSR_DSR)
		u->msr_delta |= MSR_DDSR;
	if (changed & MSR_DCD)
		u->msr_delta |= MSR_DDCD;
	if ((before & MSR_RI) && !(after & MSR_RI))
		u->msr_delta |= MSR_TERI;
}

static uint8_t read_reg(struct uart16550 *u, unsigned off)
{
	bool dlab = u->lcr & LCR_DLAB;
	uint8_t v;

	switch (off) {
	case REG_RBR_THR:
		return dlab ? u->dll : rx_pop(u);
	case REG_IER:
		return dlab ? u->dlm : u->ier;
	case REG_IIR_FCR:
		v = iir_source(u);
		if (v == IIR_THRE)
			u->thre_pending = false;    /* reading IIR acknowledges THRE */
		return v | (u->fifo_on ? IIR_FIFO_ON : 0);
	case REG_LCR:
		return u->lcr;
	case REG_MCR:
		return u->mcr;
	case REG_LSR:
		v = u->lsr_err | LSR_THRE | LSR_TEMT | (u->rx_count ? LSR_DR : 0);
		u->lsr_err = 0;
		return v;
	case REG_MSR:
		v = msr_inputs(u) | u->msr_delta;
		u->msr_delta = 0;
		return v;
	case REG_SCR:
		return u->scr;
	default:
		return 0xFF;
	}
}

static void write_reg(struct uart16550 *u, unsigned off, uint8_t v)
{
	bool dlab = u->lcr & LCR_DLAB;

	switch (off) {
	case REG_RBR_THR:
		if (dlab)
			u->dll = v;
		else
			transmit(u, v);
		break;
	case REG_IER:
		if (dlab)
			u->dlm = v;
		else
			write_ier(u, v);
		break;
	case REG_IIR_FCR:
		write_fcr(u, v);
		break;
	case REG_LCR:
		u->lcr = v;
		break;
	case REG_MCR:
		write_mcr(u, v);
		break;
	case REG_SCR:
		u->scr = v;
		break;
	case REG_LSR:
	case REG_MSR:
	default:
		u->stats.bad_accesses++;    /* read-only: the chip ignores the write */
		break;
	}
}

static bool access_ok(uint64_t offset, unsigned size)
{
	return offset < UART16550_REG_COUNT && (size == 1 || size == 2 || size == 4);
}

static enum iobus_action uart_read(void *dev, const struct iobus_access *a, uint64_t offset,
				   unsigned size, uint64_t *value)
{
	struct uart16550 *u = dev;
	(void)a;

	if (!value)
		return IOBUS_BAD_REGISTER;
	pthread_mutex_lock(&u->lock);
	if (!access_ok(offset, size)) {
		u->stats.bad_accesses++;
		pthread_mutex_unlock(&u->lock);
		*value = iobus_ones(size);
		return IOBUS_BAD_REGISTER;
	}
	uint64_t v = 0;
	for (unsigned i = 0; i < size; i++) {
		uint64_t off = offset + i;
		uint8_t byte = off < UART16550_REG_COUNT ? read_reg(u, (unsigned)off) : 0xFF;
		v |= (uint64_t)byte << (8 * i);
	}
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
	*value = v;
	return IOBUS_OK;
}

static enum iobus_action uart_write(void *dev, const struct iobus_access *a, uint64_t offset,
				    unsigned size, uint64_t value)
{
	struct uart16550 *u = dev;
	(void)a;

	pthread_mutex_lock(&u->lock);
	if (!access_ok(offset, size)) {
		u->stats.bad_accesses++;
		pthread_mutex_unlock(&u->lock);
		return IOBUS_BAD_REGISTER;
	}
	for (unsigned i = 0; i < size; i++) {
		uint64_t off = offset + i;
		if (off < UART16550_REG_COUNT)
			write_reg(u, (unsigned)off, (uint8_t)(value >> (8 * i)));
	}
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return IOBUS_OK;
}

const struct iobus_ops uart16550_ops = {
	.read = uart_read,
	.write = uart_write,
};

int uart16550_create(const struct devctx *dc, struct irq_line irq,
		     const struct uart16550_backend *be, struct uart16550 **out)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!dc || !dc->clock)
		return -EINVAL;

	struct uart16550 *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	if (pthread_mutex_init(&u->lock, NULL) != 0) {
		free(u);
		return -ENOMEM;
	}
	u->clock = dc->clock;
	u->irq = irq;
	if (be)
		u->be = *be;
	vclock_timer_init(&u->timeout_timer, timeout_fire, u);
	u->dll = RESET_DIVISOR;
	*out = u;
	return 0;
}

void uart16550_destroy(struct uart16550 *u)
{
	if (!u)
		return;
	vclock_cancel(u->clock, &u->timeout_timer);
	pthread_mutex_destroy(&u->lock);
	free(u);
}

size_t uart16550_receive(struct uart16550 *u, const void *buf, size_t n)
{
	if (!u || !buf || n == 0)
		return 0;
	const uint8_t *p = buf;
	size_t done = 0;

	pthread_mutex_lock(&u->lock);
	if (!(u->mcr & MCR_LOOP)) {
		unsigned room = rx_capacity(u) - u->rx_count;
		while (done < n && done < room)
			rx_push(u, p[done++]);
		if (done)
			timeout_restart(u);
		update_irq(u);
	}
	pthread_mutex_unlock(&u->lock);
	return done;
}

void uart16550_get_stats(struct uart16550 *u, struct uart16550_stats *st)
{
	if (!st)
		return;
	if (!u) {
		*st = (struct uart16550_stats){ 0 };
		return;
	}
	pthread_mutex_lock(&u->lock);
	*st = u->stats;
	pthread_mutex_unlock(&u->lock);
}
