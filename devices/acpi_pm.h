/*
 * acpi_pm: the fixed-hardware ACPI PM1a event and control blocks and the PM timer, enough for
 * ACPI power off (\_S5), the power button event and the ACPI PM timer clocksource.
 *
 * Registration: acpi_pm_ops at IOBUS_PIO ACPI_PM_BASE, len ACPI_PM_LEN (12). The FADT should
 * say: PM1a_EVT_BLK = ACPI_PM_BASE (PM1_EVT_LEN 4), PM1a_CNT_BLK = ACPI_PM_BASE + 4
 * (PM1_CNT_LEN 2), PM_TMR_BLK = ACPI_PM_BASE + 8 (PM_TMR_LEN 4), flag TMR_VAL_EXT clear,
 * SMI_CMD 0 (always in ACPI mode), and \_S5's SLP_TYPa = ACPI_PM_S5_TYP.
 *
 * Register facts (ACPI 6.4, 4.8.3):
 *   +0 PM1_STS (16-bit): bit 0 TMR_STS (set whenever bit 23 of the timer changes), bit 8
 *      PWRBTN_STS, bit 15 WAK_STS; write 1 to clear. Other status bits read 0.
 *   +2 PM1_EN (16-bit): bit 0 TMR_EN, bit 5 GBL_EN, bit 8 PWRBTN_EN, bit 9 SLPBTN_EN, bit 10
 *      RTC_EN, bit 14 PCIEXP_WAKE_DIS are stored; others read 0. The SCI (level, high while
 *      asserted) = (PM1_STS & PM1_EN & (TMR | PWRBTN)) != 0.
 *   +4 PM1_CNT (16-bit): bit 0 SCI_EN reads 1 (there is no legacy/SMI mode to return to),
 *      bit 1 BM_RLD stored, bit 2 GBL_RLS write-only (no firmware: ignored), bits 12:10
 *      SLP_TYP stored, bit 13 SLP_EN write-only (reads 0). Writing SLP_EN with SLP_TYP ==
 *      ACPI_PM_S5_TYP asks for power off: devctx_stop(DEVCTX_STOP_POWER_OFF, 0, vp). Other
 *      sleep types are logged (rate-limited) and not entered: the system "wakes" at once
 *      (WAK_STS set), because ACPICA spins on WAK_STS after a sleep request.
 *   +6, +7: nothing (read 0).
 *   +8 PM_TMR (32-bit, read-only): 3.579545 MHz count of vclock_now since the clock started,
 *      24 bits (TMR_VAL_EXT = 0: bits 31:24 read 0), wrapping every ~4.69 s.
 * Every access of 1, 2 or 4 bytes inside the block is decoded byte-lane by byte-lane (ACPI
 * allows byte access to the 16-bit registers; a dword at +0 covers PM1_STS and PM1_EN).
 *
 * Not modelled: PM1b blocks, GPE blocks, sleep states other than S5, the sleep button, the
 * RTC alarm, bus-master status, the global lock (GBL_STS / GBL_RLS), hardware-reduced
 * SLEEP_CONTROL/SLEEP_STATUS registers.
 *
 * Lifetime: acpi_pm_destroy cancels the PM timer callback, but vclock_cancel does not wait
 * for a callback already running: destroy the device only once no timer callback can run
 * (after vclock_destroy, or from the manual clock's thread in tests).
 */
#ifndef MEZZ_DEVICES_ACPI_PM_H
#define MEZZ_DEVICES_ACPI_PM_H

#include "vtl2/devctx.h"
#include "vtl2/iobus.h"
#include "vtl2/irq.h"

#define ACPI_PM_BASE 0x400
#define ACPI_PM_LEN 12

/* Register offsets from ACPI_PM_BASE. */
#define ACPI_PM1_STS 0
#define ACPI_PM1_EN 2
#define ACPI_PM1_CNT 4
#define ACPI_PM_TMR 8

/* PM1_STS / PM1_EN bits (an enable bit sits at its status bit's position). */
#define ACPI_PM1_TMR 0x0001
#define ACPI_PM1_GBL 0x0020
#define ACPI_PM1_PWRBTN 0x0100
#define ACPI_PM1_SLPBTN 0x0200
#define ACPI_PM1_RTC 0x0400
#define ACPI_PM1_PCIEXP_WAKE_DIS 0x4000
#define ACPI_PM1_WAK 0x8000

/* PM1_CNT bits. */
#define ACPI_PM1_CNT_SCI_EN 0x0001
#define ACPI_PM1_CNT_BM_RLD 0x0002
#define ACPI_PM1_CNT_GBL_RLS 0x0004
#define ACPI_PM1_CNT_SLP_TYP_SHIFT 10
#define ACPI_PM1_CNT_SLP_TYP_MASK 0x1C00
#define ACPI_PM1_CNT_SLP_EN 0x2000

/** SLP_TYP value of S5 (soft off): the lead's DSDT \_S5 package gives this value. */
#define ACPI_PM_S5_TYP 5

#define ACPI_PM_TMR_HZ 3579545u

struct acpi_pm;

/**
 * `dc` is copied and must have a clock (the PM timer runs on dc->clock). `sci` is the SCI
 * output (the FADT's SCI_INT pin; level, active high here: polarity is the controller
 * wiring's business). -EINVAL: NULL out, dc or dc->clock; -ENOMEM.
 */
int acpi_pm_create(const struct devctx *dc, struct irq_line sci, struct acpi_pm **out);
/** NULL is accepted. See "Lifetime" above. */
void acpi_pm_destroy(struct acpi_pm *pm);

/** Host-side power button press: sets PWRBTN_STS (SCI if PWRBTN_EN). */
void acpi_pm_power_button(struct acpi_pm *pm);

extern const struct iobus_ops acpi_pm_ops;

#endif
