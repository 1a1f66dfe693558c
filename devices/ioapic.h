/*
 * ioapic: an Intel 82093AA-style I/O APIC with 24 input pins and the EOI register of version
 * 0x20 IOAPICs. Register ioapic_ops at IOBUS_MMIO IOAPIC_DEFAULT_BASE (or the MADT's address)
 * with len 0x1000, the struct ioapic as dev; hand ioapic_eoi() to whoever receives VTL0's APIC
 * EOI intercepts.
 *
 * MMIO page (offsets from the base):
 *   0x00 IOREGSEL  bits 7:0 select the register behind IOWIN (bits 31:8 read 0)
 *   0x10 IOWIN     the selected register
 *   0x40 EOI       write: bits 7:0 a vector; clears Remote IRR of every level-triggered entry
 *                  with that vector (and re-delivers a pin still asserted). Write-only: a read
 *                  answers IOBUS_BAD_REGISTER.
 *   Only aligned 32-bit accesses decode these registers; any other access that touches one of
 *   the three dwords answers IOBUS_BAD_REGISTER (reads all-ones, writes dropped). The rest of
 *   the page reads 0 and ignores writes (IOBUS_OK). Sizes other than 1, 2, 4, 8 or accesses
 *   leaving the page: IOBUS_BAD_REGISTER.
 *
 * Registers (IOREGSEL value):
 *   0x00 ID   bits 27:24 the IOAPIC id (writable), other bits read 0
 *   0x01 VER  0x00170020 read-only: bits 23:16 max redirection entry 23, bits 7:0 version 0x20
 *   0x02 ARB  bits 27:24 arbitration id, read-only; loaded from the id whenever ID is written
 *   0x10 + 2n / 0x11 + 2n  redirection entry n (n < 24), low / high dword:
 *        bits 7:0 vector, 10:8 delivery mode (0 fixed, 1 lowest priority, 2 SMI, 4 NMI,
 *        5 INIT, 7 ExtINT; 3 and 6 reserved), 11 destination mode (1 logical), 12 delivery
 *        status (read-only, always 0: delivery is synchronous), 13 polarity (1 active low),
 *        14 Remote IRR (read-only), 15 trigger mode (1 level), 16 mask, 31:17 reserved (read
 *        0); high dword bits 31:24 = destination (bits 63:56), 23:0 reserved (read 0).
 *   Any other IOREGSEL value: IOWIN reads 0, writes are ignored.
 *   Reset: id as created, every entry 0x00010000 / 0 (masked).
 *
 * Delivery: each message goes to dc->sink as struct irq_msg {vector, delivery mode, logical =
 * bit 11, level = bit 15, dest = bits 63:56}. A pin is asserted when its input level differs
 * from the polarity bit.
 * - Edge entries deliver on a deasserted -> asserted transition of an unmasked pin; an edge
 *   while masked is lost. Writing an entry never creates an edge (delivers nothing).
 * - Level entries (fixed / lowest priority only) deliver while asserted, unmasked and Remote
 *   IRR clear, then set Remote IRR. EOI of the vector clears it and re-delivers if the pin is
 *   still asserted and unmasked; unmasking an asserted pin delivers. Switching an entry to
 *   edge clears Remote IRR (Linux's ack workaround for IOAPICs without an EOI register).
 * - SMI / NMI / INIT / ExtINT carry no vector: they are passed on with the vector field as
 *   programmed, always with edge semantics (level = false, no Remote IRR): nothing EOIs them.
 * - Dropped and counted, never delivered: vectors 0-15 in fixed / lowest priority mode (an
 *   APIC flags them illegal), the reserved modes 3 and 6, messages the sink refuses. A level
 *   entry whose message was dropped keeps Remote IRR clear, so a later event retries.
 *
 * Not modelled: the 82093AA's 4-bit APIC bus arbitration, interrupt remapping formats and the
 * extended destination id bits 55:48, pins beyond 24, delivery status as a pending flag.
 *
 * Locking: one mutex; the sink is called with it held (controller lock -> irq_sink).
 */
#ifndef MEZZ_DEVICES_IOAPIC_H
#define MEZZ_DEVICES_IOAPIC_H

#include <stdint.h>

#include "vtl2/devctx.h"
#include "vtl2/iobus.h"
#include "vtl2/irq.h"

#define IOAPIC_PINS 24
#define IOAPIC_DEFAULT_BASE 0xFEC00000ull
#define IOAPIC_MMIO_LEN 0x1000ull

struct ioapic;

extern const struct iobus_ops ioapic_ops;      /* IOBUS_MMIO base, len 0x1000 */

/** Counters, for tests and diagnostics. */
struct ioapic_stats {
	uint64_t delivered;     /* messages the sink accepted */
	uint64_t bad_vector;    /* fixed / lowest priority with vector < 16: dropped */
	uint64_t bad_mode;      /* delivery mode 3 or 6: dropped */
	uint64_t sink_errors;   /* messages the sink refused */
	uint64_t bad_access;    /* accesses answered IOBUS_BAD_REGISTER */
};

/** 0, -EINVAL (NULL argument or id > 15: the ID register holds 4 bits), -ENOMEM. */
int ioapic_create(const struct devctx *dc, uint8_t id, struct ioapic **out);
void ioapic_destroy(struct ioapic *io);

/** Input pin 0..23; pin >= IOAPIC_PINS gives an unwired line. */
struct irq_line ioapic_line(struct ioapic *io, unsigned pin);

/** EOI broadcast from VTL0's local APIC (vector). */
struct irq_eoi ioapic_eoi(struct ioapic *io);

void ioapic_get_stats(struct ioapic *io, struct ioapic_stats *out);

#endif
