/*
 * pit: the Intel 8254 programmable interval timer (three counters at PIT_HZ) and the PC's
 * port 0x61 (NMI status and control), which gates counter 2 and reads its output.
 *
 * Registration (the same `struct pit *` as dev for both):
 *   pit_ops         IOBUS_PIO 0x40, len 4: +0..+2 counters 0-2, +3 control word (write-only:
 *                   reads 0xFF, IOBUS_OK)
 *   pit_port61_ops  IOBUS_PIO 0x61, len 1
 * Accesses of 2 or 4 bytes act as consecutive byte accesses from the offset (the chip is 8 bits
 * wide); bytes past the range read 0xFF and writes to them are dropped. Other sizes answer
 * IOBUS_BAD_REGISTER.
 *
 * 8254 facts followed (Intel 8254 datasheet):
 *   Control word: bits 7:6 SC counter select (11 = read-back command), 5:4 RW (00 = counter
 *   latch command, 01 LSB only, 10 MSB only, 11 LSB then MSB), 3:1 mode (6 and 7 alias 2 and
 *   3), 0 BCD. Writing it resets the counter's flip-flops and latches, sets OUT to the mode's
 *   initial level (mode 0 low, others high) and waits for a new count (null count = 1).
 *   Read-back: bit 5 = 0 latches the count, bit 4 = 0 latches the status, bits 3:1 select
 *   counters 2:0; a latched status is read before a latched count. A second latch before the
 *   first is read is ignored. Status byte: 7 OUT, 6 null count, 5:4 RW, 3:1 mode, 0 BCD.
 *   LSB-only and MSB-only writes leave the other count byte zero. A count of 0 means 65536
 *   (binary) or 10000 (BCD). The count is loaded into the counting element on the first CLK
 *   after it is written (mode 0 OUT therefore rises N + 1 clocks after the write).
 *   Mode 0 interrupt on terminal count: OUT low, rises when the count reaches 0; writing the
 *     first byte of a two-byte count stops counting; the counter wraps and keeps counting.
 *   Mode 1 one-shot: triggered by a GATE rising edge, OUT low for N clocks.
 *   Mode 2 rate generator: OUT low for one clock when the count reaches 1, then reload; a new
 *     count written while counting takes effect at the next reload.
 *   Mode 3 square wave: OUT high for ceil(N/2) clocks and low for floor(N/2), counting by two;
 *     new counts as in mode 2.
 *   Mode 4 software strobe / 5 hardware (GATE) strobe: OUT low for one clock at count 0.
 *   GATE low stops counting in modes 0, 2, 3, 4 and forces OUT high in 2 and 3; a rising
 *   edge (re)starts modes 1, 2, 3, 5. Counters 0 and 1 have GATE tied high.
 *   Invalid BCD digits in a BCD count are taken at face value (digit * weight, mod 10000).
 *
 * Port 0x61 read: bit 0 GATE2, 1 speaker data, 2, 3 (parity/IOCHK check enables) as written,
 * 4 refresh toggle (flips on every read, which is what calibration loops poll), 5 OUT2,
 * 6, 7 (IOCHK/parity error status) 0. Write: bits 0-3 stored, the rest ignored.
 *
 * IRQ 0 follows counter 0's OUT: mode 0 raises the line at terminal count (it stays high until
 * the counter is reprogrammed), modes 2 and 3 give one rising edge per period (the line rests
 * high: mode 3's low half is not shown on the line), mode 4 one rising edge at the end of the
 * strobe. Counting is computed from vclock_now; only counter 0's interrupt uses a vclock timer,
 * one event per period. The timer never fires more often than every PIT_MIN_IRQ_NS (100 us):
 * a reload of 1 in mode 2 would otherwise ask for 1.19 million interrupts a second. Periods
 * missed by a late timer are coalesced into one edge (edge-triggered inputs coalesce too).
 *
 * Not modelled: the speaker sound, counter 1's DRAM refresh (it just counts), CLK inputs
 * other than 1.193182 MHz, the exact readback of mode 3 around odd-count half periods beyond
 * the datasheet's description, GATE sampling delays.
 *
 * Lifetime: pit_destroy calls vclock_cancel, so it must run while the clock still exists
 * (before vclock_destroy), and, because vclock_cancel does not wait for a callback already
 * running, only when no timer callback of this device can be in flight (a manual clock driven
 * by the same thread, or a real clock whose thread is known to be idle for it).
 */
#ifndef MEZZ_DEVICES_PIT_H
#define MEZZ_DEVICES_PIT_H

#include <stdint.h>

#include "vtl2/devctx.h"
#include "vtl2/iobus.h"
#include "vtl2/irq.h"

#define PIT_HZ 1193182
#define PIT_PORT 0x40
#define PIT_PORT_LEN 4
#define PIT_PORT61 0x61
#define PIT_PORT61_LEN 1
#define PIT_MIN_IRQ_NS 100000ull

/* Port 0x61 bits. */
#define PIT_P61_GATE2 0x01
#define PIT_P61_SPKR 0x02
#define PIT_P61_WRITABLE 0x0F
#define PIT_P61_REFRESH 0x10
#define PIT_P61_OUT2 0x20

struct pit;

/**
 * Create the PIT: every counter in mode 0 waiting for a count (OUT low, reads 0), GATE2 low.
 * `irq0` follows counter 0's OUT. 0, -EINVAL (NULL dc, clock or out), -ENOMEM.
 */
int pit_create(const struct devctx *dc, struct irq_line irq0, struct pit **out);
/** Cancel the timer and free (see Lifetime above). NULL is accepted. */
void pit_destroy(struct pit *p);

/** IOBUS_PIO 0x40, len 4: counters 0-2 and the control word. */
extern const struct iobus_ops pit_ops;
/** IOBUS_PIO 0x61, len 1: NMI status and control (GATE2, speaker, refresh, OUT2). */
extern const struct iobus_ops pit_port61_ops;

#endif
