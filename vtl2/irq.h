/*
 * irq: how interrupts travel from device models to VTL0, without devices touching the seam.
 *
 *   device --irq_line--> interrupt controller (PIC / IOAPIC, devices/)
 *          --irq_sink--> vtl2 (HvCallAssertVirtualInterrupt to VTL0's local APIC)
 *   VTL0 APIC EOI intercept --irq_eoi--> IOAPIC (re-arms level-triggered lines)
 *
 * Lock order: a device may call irq_line_set with its own lock held; a controller may call the
 * sink with its lock held; nothing calls back into a device from a controller or the sink.
 */
#ifndef MEZZ_VTL2_IRQ_H
#define MEZZ_VTL2_IRQ_H

#include <stdbool.h>
#include <stdint.h>

/** A device's interrupt output wired to input `pin` of a controller. */
struct irq_line {
	void (*set_level)(void *ctl, unsigned pin, bool level);
	void *ctl;
	unsigned pin;
};

/** Drive the line (a NULL or unwired line is ignored). */
static inline void irq_line_set(const struct irq_line *l, bool level)
{
	if (l && l->set_level)
		l->set_level(l->ctl, l->pin, level);
}

/** An edge: raise then lower. */
static inline void irq_line_pulse(const struct irq_line *l)
{
	irq_line_set(l, true);
	irq_line_set(l, false);
}

/** Delivery modes of an interrupt message (IOAPIC redirection entry / MSI, SDM 10.11). */
enum irq_delivery {
	IRQ_DELIVERY_FIXED = 0,
	IRQ_DELIVERY_LOWEST = 1,
	IRQ_DELIVERY_SMI = 2,
	IRQ_DELIVERY_NMI = 4,
	IRQ_DELIVERY_INIT = 5,
	IRQ_DELIVERY_EXTINT = 7,
};

/** One interrupt for VTL0's local APICs. */
struct irq_msg {
	uint8_t vector;
	uint8_t delivery;    /* enum irq_delivery */
	bool logical;        /* destination mode */
	bool level;          /* trigger mode: level (EOI goes back to the source) */
	uint32_t dest;       /* APIC id (physical) or logical destination */
};

/** Where controllers send interrupts: implemented by vtl2 (or a test). 0 or -errno. */
struct irq_sink {
	int (*deliver)(void *ctx, const struct irq_msg *m);
	void *ctx;
};

static inline int irq_sink_deliver(const struct irq_sink *s, const struct irq_msg *m)
{
	return s && s->deliver ? s->deliver(s->ctx, m) : 0;
}

/** Receiver of VTL0 EOIs for level-triggered vectors (the IOAPIC registers one). */
struct irq_eoi {
	void (*eoi)(void *ctx, uint8_t vector);
	void *ctx;
};

#endif
