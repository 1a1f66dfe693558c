/*
 * chipset: the PC platform VTL0 sees, assembled on one I/O bus.
 *
 *   device          where                          interrupt
 *   8259 PIC pair   PIO 0x20, 0xA0, ELCR 0x4D0     -> VP 0 (fixed vector, see pic.h)
 *   IOAPIC          MMIO 0xFEC00000, 24 pins       -> VTL0 APICs via the partition
 *   8254 PIT        PIO 0x40-0x43, 0x61            ISA IRQ 0 (IOAPIC pin 2)
 *   MC146818 RTC    PIO 0x70-0x71                  ISA IRQ 8
 *   16550A COM1     PIO 0x3F8-0x3FF                ISA IRQ 4
 *   16550A COM2     PIO 0x2F8-0x2FF                ISA IRQ 3
 *   PCI host        PIO 0xCF8-0xCFF (+ reset 0xCF9), ECAM MMIO (bus 0)
 *   i8042           PIO 0x60, 0x64 (reset line only)
 *   ACPI PM1        PIO 0x400-0x40B                SCI = ISA IRQ 9
 *   test device     PIO 0xF0-0xFC, MMIO 0xFE000000, MSRs 0x4D5A0000+ (only with test_devices)
 *
 * ISA IRQ n drives PIC input n and IOAPIC pin n, except IRQ 0 -> pin 2 (the MADT interrupt
 * source override every PC firmware describes).
 */
#ifndef MEZZ_DEVICES_CHIPSET_H
#define MEZZ_DEVICES_CHIPSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/uart16550.h"
#include "vtl2/devctx.h"
#include "vtl2/iobus.h"
#include "vtl2/irq.h"

#define CHIPSET_ECAM_BASE 0xE0000000ull
#define CHIPSET_IOAPIC_ID 0u          /* APIC ids 0..n-1 are the VPs; the IOAPIC has its own space */
#define CHIPSET_SCI_IRQ 9u

struct chipset_config {
	bool test_devices;
	struct uart16550_backend com1;   /* tx NULL: bytes are dropped */
	struct uart16550_backend com2;
};

struct chipset;

/**
 * Create every device and register it on `bus` (not frozen yet). 0 or -errno with `err`. On
 * failure the bus may still hold ranges of freed devices (the bus has no unregister): destroy
 * it, never freeze or use it.
 */
int chipset_create(struct iobus *bus, const struct devctx *dc, const struct chipset_config *cfg,
		   struct chipset **out, char *err, size_t errlen);
void chipset_destroy(struct chipset *c);
/** Where the partition sends VTL0's EOIs (the IOAPIC). */
struct irq_eoi chipset_eoi(struct chipset *c);
/** COM1 (0) or COM2 (1), e.g. to feed host input; NULL otherwise. */
struct uart16550 *chipset_com(struct chipset *c, unsigned index);

#endif
