/*
 * uart16550: a National Semiconductor PC16550D-compatible UART ("16550A": working FIFOs), the
 * PC serial port COM1 (port 0x3F8, IRQ 4) / COM2 (port 0x2F8, IRQ 3). Register it on IOBUS_PIO
 * with len 8 and uart16550_ops.
 *
 * Registers (offset, LCR.DLAB = LCR bit 7):
 *   0  RBR (read) / THR (write); DLAB=1: DLL (divisor low)
 *   1  IER: bit 0 ERBFI (RX data + char timeout), 1 ETBEI (THRE), 2 ELSI (line status),
 *      3 EDSSI (modem status); bits 7:4 read 0.       DLAB=1: DLM (divisor high)
 *   2  IIR (read): bit 0 = 1 "no interrupt"; bits 3:1 source: 0x6 line status (highest),
 *      0x4 RX data at trigger level, 0xC character timeout, 0x2 THR empty, 0x0 modem status
 *      (lowest); bits 5:4 read 0; bits 7:6 = 11 while FIFOs are enabled (FCR bit 0).
 *      FCR (write): bit 0 FIFO enable (changing it clears both FIFOs; with bit 0 = 0 the other
 *      bits are not programmed), 1 RX FIFO reset, 2 TX FIFO reset (self-clearing), 3 DMA mode
 *      (ignored), bits 7:6 RX trigger 1/4/8/14 bytes. IIR/FCR do not depend on DLAB, so the
 *      EFR of later chips (LCR = 0xBF) does not exist: reg 2 stays IIR/FCR in every LCR mode.
 *   3  LCR: bits 1:0 word length 5..8, 2 stop bits (1, or 1.5 for 5-bit words, else 2),
 *      3 parity enable, 4..6 parity/break (stored only), 7 DLAB.
 *   4  MCR: bit 0 DTR, 1 RTS, 2 OUT1, 3 OUT2, 4 LOOP; bits 7:5 read 0.
 *   5  LSR: bit 0 DR, 1 OE, 2 PE, 3 FE, 4 BI, 5 THRE, 6 TEMT, 7 RX FIFO error. Reading LSR
 *      clears OE (and the line-status interrupt).
 *   6  MSR: bit 0 DCTS, 1 DDSR, 2 TERI (RI 1 -> 0), 3 DDCD (deltas, cleared by reading MSR),
 *      4 CTS, 5 DSR, 6 RI, 7 DCD. In loopback CTS = RTS, DSR = DTR, RI = OUT1, DCD = OUT2.
 *   7  SCR: scratch.
 *
 * Reset state: RBR 0, IER 0, IIR 0x01, LCR 0, MCR 0, LSR 0x60, MSR 0xB0, SCR 0,
 * divisor 12 (9600 baud from the 1.8432 MHz clock), FIFOs off, trigger 1.
 *
 * Model choices:
 * - Transmission is instantaneous: a THR write hands the byte to the backend at once, so THR
 *   and the transmitter are always empty (LSR THRE|TEMT) and the THRE interrupt is pending
 *   again right after each THR write. The THRE interrupt is also raised when IER.ETBEI goes
 *   0 -> 1 (Linux's startup THRE test relies on this); it is cleared by a THR write or by an
 *   IIR read that reports it. The backend's tx() is called with the UART lock held, in THR
 *   write order; it must not call back into this UART.
 * - The far end is a connected null modem: outside loopback the modem inputs read CTS, DSR
 *   and DCD asserted, RI deasserted (MSR 0xB0); they never change, so deltas come only from
 *   entering/leaving loopback or changing MCR in loopback.
 * - Loopback (MCR bit 4): THR bytes go to this UART's own RX FIFO, never to the backend, and
 *   uart16550_receive() accepts nothing (the serial input is disconnected on the chip).
 * - Receive: uart16550_receive() only takes what fits (16 bytes with FIFOs, 1 without), so the
 *   host side sees backpressure and never causes an overrun. Overruns happen only in loopback:
 *   with FIFOs the arriving byte is lost; without, it replaces the unread RBR byte (16450).
 *   Both set LSR.OE. An RBR read of an empty receiver returns 0.
 * - Character timeout (FIFO mode only): 4 character times (start + data + parity + stop bits,
 *   at 16 * divisor cycles of 1.8432 MHz per bit) after the last byte entered the RX FIFO or
 *   the last RBR read, if the FIFO holds data. At or above the trigger level IIR reports RX
 *   data instead (same priority, checked first), so the timeout shows only below it.
 *   Divisor 0 is treated as 1, so the shortest timeout is ~347 us, and the timer is one-shot
 *   per receive/read: no floods.
 * - Interrupt output: level = (an enabled interrupt is pending) AND MCR.OUT2, driven with
 *   irq_line_set only when it changes (the PIC/IOAPIC input is an edge input). On a real PC
 *   loopback forces the OUT2 pin inactive and so mutes the IRQ; like common emulators this
 *   model keeps following MCR.OUT2 in loopback.
 * - Access widths: the UART is a byte device. A 2- or 4-byte access at offset N is performed
 *   as byte accesses at N, N+1, ... (what a wide IN/OUT on a PC ISA bus does); bytes past
 *   offset 7 read 0xFF and their writes are dropped. Other widths, and offsets >= 8, answer
 *   IOBUS_BAD_REGISTER. Writes to the read-only LSR/MSR are ignored (counted as bad).
 *
 * Not modelled: parity/framing errors and break (never generated: LSR bits 2..4 and 7 stay 0),
 * baud-rate timing of transmission, DMA mode signalling (TXRDY/RXRDY pins), the 16750 64-byte
 * FIFO and any EFR/enhanced register set.
 *
 * Locking: one mutex per UART. Order: UART lock -> irq_line_set / vclock / backend tx.
 * Lifetime: uart16550_destroy cancels the timeout timer, but vclock_cancel does not wait for a
 * callback already running, so destroy the UART only once its vclock is stopped or idle.
 */
#ifndef MEZZ_DEVICES_UART16550_H
#define MEZZ_DEVICES_UART16550_H

#include <stddef.h>
#include <stdint.h>

#include "vtl2/devctx.h"
#include "vtl2/iobus.h"
#include "vtl2/irq.h"

#define UART16550_REG_COUNT 8          /* iobus range length */
#define UART16550_FIFO_SIZE 16
#define UART16550_COM1_PORT 0x3F8
#define UART16550_COM1_IRQ  4
#define UART16550_COM2_PORT 0x2F8
#define UART16550_COM2_IRQ  3

struct uart16550;

/** Where transmitted bytes go (host console now, VMBus serial later). tx may be NULL: drop. */
struct uart16550_backend {
	void (*tx)(void *ctx, uint8_t byte);
	void *ctx;
};

struct uart16550_stats {
	uint64_t tx_bytes;        /* bytes handed to the backend */
	uint64_t rx_bytes;        /* bytes that entered the receiver (host or loopback) */
	uint64_t rx_overruns;     /* bytes lost to LSR.OE */
	uint64_t bad_accesses;    /* IOBUS_BAD_REGISTER answers + writes to LSR/MSR */
};

/**
 * Create a UART in its reset state. `dc` (with dc->clock) is required; `be` may be NULL
 * (transmitted bytes are dropped); both are copied. 0, -EINVAL or -ENOMEM.
 */
int uart16550_create(const struct devctx *dc, struct irq_line irq,
		     const struct uart16550_backend *be, struct uart16550 **out);
/** NULL is accepted. Cancels the timeout timer (see "Lifetime" above). */
void uart16550_destroy(struct uart16550 *u);

/** Register on IOBUS_PIO, len UART16550_REG_COUNT (COM1 0x3F8 IRQ 4, COM2 0x2F8 IRQ 3). */
extern const struct iobus_ops uart16550_ops;

/**
 * Host -> receiver. Returns the bytes accepted: at most the free room of the RX FIFO (16 with
 * FIFOs on, 1 with them off), 0 in loopback. Raises the RX interrupt per trigger level and
 * (re)starts the character timeout. Keep the rest and offer it again later.
 */
size_t uart16550_receive(struct uart16550 *u, const void *buf, size_t n);

void uart16550_get_stats(struct uart16550 *u, struct uart16550_stats *st);

#endif
