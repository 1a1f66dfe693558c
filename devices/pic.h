/*
 * pic: the PC/AT pair of Intel 8259A programmable interrupt controllers (master at ports
 * 0x20/0x21, slave at 0xA0/0xA1, the slave's INT output wired to the master's IR2) and the
 * edge/level control registers ELCR1/ELCR2 (ports 0x4D0/0x4D1, PIIX/ICH style).
 * Register pic_master_ops at IOBUS_PIO 0x20 len 2, pic_slave_ops at 0xA0 len 2 and
 * pic_elcr_ops at 0x4D0 len 2, each with the struct pic as dev.
 *
 * Ports (8259A datasheet, A0 = port bit 0):
 *   A0=0 write, bit 4 = 1: ICW1: bit 0 IC4 (ICW4 follows), 1 SNGL (no ICW3), 2 ADI (ignored),
 *        3 LTIM (all 8 inputs level triggered), 7:5 (MCS-80 address, ignored). Starts the
 *        init sequence: IMR, ISR, IRR cleared, edge sense reset (an input already high must go
 *        low and high again), IR7 lowest priority, slave address 7, special mask mode off,
 *        read register = IRR, rotate-in-AEOI off, ICW4 bits 0 unless IC4.
 *   A0=1 write during init: ICW2 (vector base = bits 7:3), ICW3 unless SNGL (master: bit
 *        mask of inputs with a slave; slave: its id in bits 2:0), ICW4 if IC4 (bit 0 uPM
 *        8086 mode, 1 AEOI, 2 M/S and 3 BUF (stored only), 4 SFNM special fully nested).
 *   A0=1 write otherwise: OCW1 = IMR.
 *   A0=0 write, bits 4:3 = 00: OCW2, bits 7:5 R SL EOI, bits 2:0 level L:
 *        001 non-specific EOI, 011 specific EOI of L, 101 rotate on non-specific EOI,
 *        111 rotate on specific EOI of L, 110 set priority (L becomes lowest),
 *        100 / 000 set / clear rotate in AEOI mode, 010 no operation.
 *   A0=0 write, bits 4:3 = 01: OCW3: bits 6:5 ESMM SMM (special mask mode), bit 2 P (poll
 *        command), bits 1:0 RR RIS (10 = read IRR, 11 = read ISR).
 *   A0=0 read: IRR or ISR per OCW3; A0=1 read: IMR. After a poll command the next read of
 *        either port returns the poll byte (bit 7 = a request was pending, bits 2:0 its level)
 *        and acknowledges that request like an INTA; 0x00 when none was pending.
 *   ELCR1 (0x4D0) bit n = IRQ n level triggered, ELCR2 (0x4D1) bit n = IRQ 8+n; IRQ 0, 1, 2,
 *        8 and 13 are always edge (their bits read 0, writable masks 0xF8 and 0xDE). An input
 *        is level triggered when its ELCR bit or its chip's ICW1.LTIM is set.
 *
 * Behaviour:
 * - Edge inputs latch a request in IRR on a 0->1 transition; the request stays latched when
 *   the line drops (devices pulse their lines) and is cleared by the INTA that serves it.
 *   Level inputs: IRR follows the line, and INTA leaves it set (the in-service bit blocks it
 *   until EOI; a line still high after EOI requests again).
 * - IMR masks requests at the priority resolver; IRR still records masked requests.
 * - Priority: fully nested with rotation; a request is served when it is unmasked and no
 *   in-service level of equal or higher priority blocks it. Special mask mode: in-service
 *   levels that are masked do not block, and a non-specific EOI skips them. SFNM on the
 *   master: a cascaded input's in-service bit does not block new requests from that input.
 * - INTA (pic_intack, and the poll read): the master's highest request moves IRR->ISR (not in
 *   AEOI mode, where rotate-in-AEOI may rotate instead). If that input is marked cascaded
 *   (master not SNGL, ICW3 bit) it must be IR2 with a slave whose id is 2: then the slave
 *   acknowledges its own highest request and supplies the vector; with no request there, the
 *   slave supplies its IR7 vector without setting an ISR bit (the spurious IRQ 15, the master
 *   keeps IR2 in service). A cascade input with no slave behind it reads 0xFF (floating bus).
 *   If the master's INT output was asserted but nothing is pending any more, INTA gives the
 *   master's IR7 vector without touching ISR (spurious IRQ 7); with no INT since the last
 *   INTA it fails with -ENOENT. Vectors are ICW2 bits 7:3 | level also in MCS-80/85 mode
 *   (ICW4.uPM = 0): an x86 cannot use the CALL sequence of that mode.
 * - Output: there is no local APIC model yet, so while auto-ack is on (the default) the PIC
 *   runs INTA itself whenever its INT output is asserted after a state change (line, port
 *   write, init) and sends {vector, IRQ_DELIVERY_FIXED, physical, edge, dest 0} to dc->sink,
 *   once per acknowledged request. One state change acknowledges each of the 16 inputs at
 *   most once, so a level input in AEOI mode that stays high is re-delivered once per state
 *   change instead of looping. With auto-ack off the future APIC ExtINT path asks
 *   pic_int_output() and calls pic_intack().
 * - While a chip is inside its init sequence its INT output is held low.
 *
 * Start-up state (no BIOS runs before a directly booted guest): both chips initialised as a
 * PC BIOS leaves them (ICW1 0x11, master base 0x08, ICW3 0x04, slave base 0x70, id 2, ICW4
 * 0x01), every input masked (IMR 0xFF), ELCR 0. Linux's probe (write IMR 0x21, read it back)
 * works from that state.
 *
 * Not modelled: buffered mode and the M/S pin (ICW4 bits 2-3 stored only), MCS-80/85 CALL
 * sequences, the ADI interval, the timing requirement that an edge input stays high until
 * INTA (requests stay latched), more than one slave.
 *
 * Accesses of any width: byte i of the access is port base + offset + i; bytes past the
 * 2-byte range read 0xFF and are dropped on write. Sizes 0 or above 8: IOBUS_BAD_REGISTER.
 *
 * Locking: one mutex per pair; irq_line callbacks and the ops take it; the sink is called
 * with it held (controller lock -> irq_sink), so the sink must not call back into the PIC.
 */
#ifndef MEZZ_DEVICES_PIC_H
#define MEZZ_DEVICES_PIC_H

#include <stdbool.h>
#include <stdint.h>

#include "vtl2/devctx.h"
#include "vtl2/iobus.h"
#include "vtl2/irq.h"

struct pic;

extern const struct iobus_ops pic_master_ops;  /* IOBUS_PIO 0x20, len 2 */
extern const struct iobus_ops pic_slave_ops;   /* IOBUS_PIO 0xA0, len 2 */
extern const struct iobus_ops pic_elcr_ops;    /* IOBUS_PIO 0x4D0, len 2 */

/** Counters, for tests and diagnostics. */
struct pic_stats {
	uint64_t delivered;      /* auto-ack messages the sink accepted */
	uint64_t sink_errors;    /* auto-ack messages the sink refused (request stays acked) */
	uint64_t spurious;       /* INTAs answered with an IR7 vector and no ISR bit */
	uint64_t no_slave;       /* INTAs of a cascade input with no slave behind it */
};

/** 0, -EINVAL (NULL argument), -ENOMEM. Interrupts go to dc->sink (copied). */
int pic_create(const struct devctx *dc, struct pic **out);
void pic_destroy(struct pic *p);

/** Input IRQ 0..15 (IRQ 2 is the cascade: its line is accepted and ignored); irq > 15 gives an
 *  unwired line. */
struct irq_line pic_line(struct pic *p, unsigned irq);

/** INTA cycle: the vector of the highest-priority pending request (spurious IR7 rules above),
 *  IRR->ISR unless AEOI; -ENOENT when nothing is pending and INT was not raised. */
int pic_intack(struct pic *p);

/** Level of the master's INT output (a request the CPU would be interrupted for). */
bool pic_int_output(struct pic *p);

/** On (default): the PIC acknowledges its own INT output and delivers to the sink; off: the
 *  caller runs pic_intack. Turning it on delivers what is pending. */
void pic_set_auto_ack(struct pic *p, bool on);

void pic_get_stats(struct pic *p, struct pic_stats *out);

#endif
