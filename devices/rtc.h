/*
 * rtc: the MC146818A real-time clock and its CMOS RAM, as the PC wires it (IRQ 8, NMI mask in
 * bit 7 of the index port).
 *
 * Registration: rtc_ops at IOBUS_PIO 0x70, len 2.
 *   0x70 write: bits 6:0 select a register, bit 7 masks NMI (rtc_nmi_masked). Read: 0xFF
 *        (write-only on PC chipsets; answered IOBUS_OK so a 16-bit read still gets the data).
 *   0x71: the selected register. Accesses of 2 or 4 bytes act as consecutive byte accesses
 *        from the offset (so `outw 0x70` with AL = index, AH = value works); bytes past 0x71
 *        read 0xFF and writes to them are dropped. Other sizes: IOBUS_BAD_REGISTER.
 *
 * Register facts (MC146818A datasheet; century byte per the PC/ACPI FADT convention):
 *   0 seconds, 1 seconds alarm, 2 minutes, 3 minutes alarm, 4 hours, 5 hours alarm,
 *   6 day of week (1 = Sunday), 7 day of month, 8 month, 9 year (00-99), 0x32 century.
 *   Values are BCD unless B.DM; in 12-hour mode (B.24/12 = 0) hours are 1-12 with bit 7 = PM.
 *   An alarm byte with bits 7:6 = 11 (0xC0-0xFF) is "don't care".
 *   A (10): bit 7 UIP (read-only: set during the 244 us before each update), bits 6:4 divider
 *     (010 = 32.768 kHz time base running; anything else stops the clock; 010 written after
 *     another value starts the divider chain so that the first update comes 500 ms later),
 *     bits 3:0 rate select: 0 off, 1 = 256 Hz, 2 = 128 Hz, 3..15 = 32768 >> (RS - 1) Hz.
 *   B (11): 7 SET (updates inhibited, time may be written; SET going 1 clears UIE), 6 PIE,
 *     5 AIE, 4 UIE, 3 SQWE, 2 DM (1 binary), 1 24/12 (1 = 24 h), 0 DSE.
 *   C (12, read-only): 7 IRQF = PF&PIE | AF&AIE | UF&UIE, 6 PF, 5 AF, 4 UF; reading clears
 *     all four. PF/AF/UF are set whether or not the interrupt is enabled.
 *   D (13, read-only): bit 7 VRT (battery good) = 1, others 0.
 *   14..127: battery-backed RAM (0x32 is the century register above).
 * IRQ 8 level = IRQF: it rises when IRQF becomes set and falls when C is read (or the
 * enable bits that set it are cleared).
 *
 * Time: the devctx clock's wall time (vclock_wall_ns) plus an offset that guest writes set.
 * Writes to time registers while SET = 1 (or while the divider is stopped) edit a held copy of
 * the date; when the clock runs again it counts on from that date, keeping the divider phase
 * (the datasheet's update cycle continues; the sub-second part is not reset). Writes while the
 * clock runs take effect at once. Invalid values (bad BCD digit, out of range) are ignored;
 * a day past the month's end is normalised when counting resumes (Feb 31 -> Mar 3). Periodic,
 * update and alarm interrupts follow the 32.768 kHz divider chain exactly (1024 Hz gives 1024
 * flags per second). Flags are computed lazily from the clock; one vclock timer is armed only
 * while IRQF is clear and some enabled event is pending, so an ignored RTC costs no timers.
 *
 * Not modelled: the square-wave pin (SQWE is stored), daylight saving (DSE is stored),
 * divider time bases other than 32.768 kHz, the 1.984 ms length of an update cycle (UF and AF
 * are set at the second boundary), converting stored alarm bytes when DM or 24/12 changes
 * (time bytes are always presented in the current format), extended CMOS banks (0x72/0x73).
 *
 * Lifetime: rtc_destroy calls vclock_cancel, so it must run while the clock still exists
 * (before vclock_destroy), and, because vclock_cancel does not wait for a callback already
 * running, only when no timer callback of this device can be in flight (a manual clock driven
 * by the same thread, or a real clock whose thread is known to be idle for it).
 */
#ifndef MEZZ_DEVICES_RTC_H
#define MEZZ_DEVICES_RTC_H

#include <stdbool.h>
#include <stdint.h>

#include "vtl2/devctx.h"
#include "vtl2/iobus.h"
#include "vtl2/irq.h"

#define RTC_PORT 0x70
#define RTC_PORT_LEN 2

/* Register indices (port 0x70 values, bits 6:0). */
#define RTC_SEC 0x00
#define RTC_SEC_ALARM 0x01
#define RTC_MIN 0x02
#define RTC_MIN_ALARM 0x03
#define RTC_HOUR 0x04
#define RTC_HOUR_ALARM 0x05
#define RTC_WDAY 0x06
#define RTC_MDAY 0x07
#define RTC_MON 0x08
#define RTC_YEAR 0x09
#define RTC_REG_A 0x0A
#define RTC_REG_B 0x0B
#define RTC_REG_C 0x0C
#define RTC_REG_D 0x0D
#define RTC_CENTURY 0x32
#define RTC_NVRAM_FIRST 14
#define RTC_NVRAM_SIZE 128

#define RTC_A_UIP 0x80
#define RTC_A_DV_MASK 0x70
#define RTC_A_DV_32K 0x20
#define RTC_A_RS_MASK 0x0F
#define RTC_B_SET 0x80
#define RTC_B_PIE 0x40
#define RTC_B_AIE 0x20
#define RTC_B_UIE 0x10
#define RTC_B_SQWE 0x08
#define RTC_B_DM 0x04
#define RTC_B_24H 0x02
#define RTC_B_DSE 0x01
#define RTC_C_IRQF 0x80
#define RTC_C_PF 0x40
#define RTC_C_AF 0x20
#define RTC_C_UF 0x10
#define RTC_D_VRT 0x80

/* The 244 us before each update during which A.UIP reads 1. */
#define RTC_UIP_NS 244000ull

struct rtc;

/**
 * Create the RTC, time = dc->clock's wall time, A = 0x26 (32.768 kHz, 1024 Hz rate), B = 0x02
 * (24 h, BCD), NVRAM zero. `irq8` is driven with the IRQF level. 0, -EINVAL (NULL dc, clock or
 * out), -ENOMEM.
 */
int rtc_create(const struct devctx *dc, struct irq_line irq8, struct rtc **out);
/** Cancel the timer and free (see Lifetime above). NULL is accepted. */
void rtc_destroy(struct rtc *r);

/** IOBUS_PIO 0x70, len 2: index/NMI-mask port and data port. */
extern const struct iobus_ops rtc_ops;

/**
 * Host-side CMOS initialisation: index 14..127 (0x32 sets the century, given in the current
 * BCD/binary format). 0, or -EINVAL for a NULL rtc, an index outside 14..127 or an invalid
 * century value.
 */
int rtc_nvram_set(struct rtc *r, unsigned index, uint8_t value);
/**
 * What a guest read of register `index` (< 128) would return, without side effects (reading
 * C here does not clear it). 0xFF for index >= 128 or a NULL rtc.
 */
uint8_t rtc_nvram_get(struct rtc *r, unsigned index);
/** Bit 7 of the last write to port 0x70 (false before any write). */
bool rtc_nmi_masked(struct rtc *r);

#endif
