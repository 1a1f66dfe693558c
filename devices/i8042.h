/*
 * i8042: a minimal PS/2 keyboard controller, present for its reset line (the "reboot=kbd"
 * path: command 0xFE to port 0x64) and so that a guest probing the controller gets sane
 * answers. No keyboard or mouse is attached.
 *
 * Registration (the same `struct i8042 *` as dev for both):
 *   i8042_data_ops  IOBUS_PIO 0x60, len 1
 *   i8042_cmd_ops   IOBUS_PIO 0x64, len 1
 * Byte accesses only; anything else answers IOBUS_BAD_REGISTER.
 *
 * Facts followed (IBM PC/AT technical reference, 8042 keyboard controller):
 *   0x64 read, status: bit 0 OBF output buffer full, bit 1 IBF input buffer full (always 0:
 *     commands complete at once), bit 2 SYS system flag (= command byte bit 2; set by a
 *     successful self test 0xAA), bit 3 A2 (1: last write went to 0x64, a command; 0: to 0x60),
 *     bit 4 keyboard not inhibited (1), bits 5-7 (aux OBF, timeout, parity) 0.
 *   0x60 read: the output buffer, clearing OBF (0x00 when empty). 0x60 write: the parameter of
 *     a pending 0x60/0xD1 command, else a byte for the (absent) keyboard: dropped.
 *   0x64 write, commands: 0x20 read command byte -> output buffer; 0x60 write command byte
 *     (next data byte); 0xAA self test -> 0x55; 0xAB keyboard / 0xA9 aux interface test ->
 *     0x00; 0xAD/0xAE disable/enable keyboard (command byte bit 4), 0xA7/0xA8 disable/enable
 *     aux (bit 5); 0xD0 read output port -> output buffer; 0xD1 write output port (next data
 *     byte; bit 0 written 0 = system reset asserted); 0xF0-0xFF pulse output port bits 3:0
 *     that are 0 in the command: bit 0 pulsed (0xFE and every even one) = system reset.
 *     A reset is devctx_stop(DEVCTX_STOP_RESET, 0, vp). Other commands are ignored, and a new
 *     command cancels a pending parameter.
 *   Power-on state: command byte 0x30 (both clocks disabled, no interrupts, no translation, SYS
 *     clear: no firmware ran), output port 0x03 (reset line inactive, A20 on).
 *
 * Not modelled: interrupts (IRQ 1/12: no device ever produces data), keyboard/aux devices and
 * their loopback commands (0xD2/0xD3/0xD4 are ignored), controller RAM 0x21-0x3F/0x61-0x7F,
 * A20 gating (the output port bit is stored only), timeouts and parity errors.
 */
#ifndef MEZZ_DEVICES_I8042_H
#define MEZZ_DEVICES_I8042_H

#include "vtl2/devctx.h"
#include "vtl2/iobus.h"

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64

/* Status register bits. */
#define I8042_STS_OBF 0x01
#define I8042_STS_IBF 0x02
#define I8042_STS_SYS 0x04
#define I8042_STS_CMD 0x08
#define I8042_STS_UNLOCKED 0x10

struct i8042;

/** `dc` is copied. -EINVAL: NULL out; -ENOMEM. */
int i8042_create(const struct devctx *dc, struct i8042 **out);
/** NULL is accepted. */
void i8042_destroy(struct i8042 *k);

extern const struct iobus_ops i8042_data_ops;
extern const struct iobus_ops i8042_cmd_ops;

#endif
