/*
 * acpi: the ACPI tables VTL0 boots with, built into a caller's buffer that will sit at a given
 * GPA (ACPI 6.4 chapter 5; AML grammar chapter 20).
 *
 *   RSDP  revision 2, both checksums, XSDT (and RSDT when everything is below 4 GiB)
 *   XSDT / RSDT   -> FACP, APIC
 *   FACP  revision 6 (276 bytes): DSDT / X_DSDT, FACS, SCI_INT 9, SMI_CMD 0 (always in ACPI
 *         mode), PM1a_EVT 0x400/4, PM1a_CNT 0x404/2, PM_TMR 0x408/4, RESET_REG I/O 0xCF9
 *         value 6 (RESET_REG_SUP), IAPC_BOOT_ARCH legacy devices + no VGA (+ 8042 only when
 *         asked: Linux then probes a keyboard controller that is a reset line only), century
 *         CMOS index 0x32, fixed power button unless told otherwise
 *   FACS  64 bytes (no firmware waking vector, no global lock owner)
 *   APIC  local APIC 0xFEE00000, PCAT_COMPAT; per VP a Processor Local APIC (APIC id = UID =
 *         VP index) or, for ids >= 255, a Processor Local x2APIC; the IOAPIC (id
 *         ACPI_IOAPIC_ID, 0xFEC00000, GSI base 0); overrides IRQ 0 -> GSI 2 (edge, high) and
 *         SCI IRQ 9 -> GSI 9 level, active high (the PM block drives it high while asserted;
 *         without an override ACPI's SCI default is active low)
 *   DSDT  AML: Name(\_S5, Package(){5, 5, 0, 0}) (the PM block powers off at SLP_TYP 5);
 *         optionally Scope(\_SB) { Device(COM1) { PNP0501, _UID 1, _CRS IO 0x3F8/8, IRQ 4 } }
 * No HPET, no SRAT/SLIT, no hardware-reduced mode.
 *
 * Layout inside the buffer (offsets from `base`, each table 16-byte aligned, FACS 64-byte
 * aligned): RSDP, XSDT, RSDT, FACP, FACS, APIC, DSDT. The whole range should be reported to
 * the guest as reserved memory (E820 type 2).
 */
#ifndef MEZZ_VTL2_ACPI_H
#define MEZZ_VTL2_ACPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/addr.h"

#define ACPI_MAX_VPS 4096u
#define ACPI_LAPIC_BASE 0xFEE00000u
#define ACPI_IOAPIC_BASE 0xFEC00000u
#define ACPI_IOAPIC_ID 0u        /* must equal devices/chipset.h CHIPSET_IOAPIC_ID (tested) */
#define ACPI_SCI_IRQ 9u          /* devices/chipset.h CHIPSET_SCI_IRQ */
#define ACPI_PM_BLK 0x400u       /* devices/acpi_pm.h ACPI_PM_BASE: EVT +0, CNT +4, TMR +8 */
#define ACPI_RESET_PORT 0xCF9u
#define ACPI_RESET_VALUE 0x06u
#define ACPI_S5_SLP_TYP 5u       /* devices/acpi_pm.h ACPI_PM_S5_TYP */
#define ACPI_RTC_CENTURY 0x32u   /* CMOS index of the century byte (devices/rtc.h) */

/* Table header (ACPI 6.4, 5.2.6). */
#define ACPI_HDR_LEN 36u
#define ACPI_RSDP_LEN 36u
#define ACPI_FADT_LEN 276u
#define ACPI_FACS_LEN 64u

/* FADT field offsets (ACPI 6.4, Table 5.9). */
#define ACPI_FADT_FIRMWARE_CTRL 36
#define ACPI_FADT_DSDT 40
#define ACPI_FADT_PM_PROFILE 45
#define ACPI_FADT_SCI_INT 46
#define ACPI_FADT_SMI_CMD 48
#define ACPI_FADT_PM1A_EVT_BLK 56
#define ACPI_FADT_PM1A_CNT_BLK 64
#define ACPI_FADT_PM_TMR_BLK 76
#define ACPI_FADT_PM1_EVT_LEN 88
#define ACPI_FADT_PM1_CNT_LEN 89
#define ACPI_FADT_PM_TMR_LEN 91
#define ACPI_FADT_P_LVL2_LAT 96
#define ACPI_FADT_P_LVL3_LAT 98
#define ACPI_FADT_CENTURY 108
#define ACPI_FADT_IAPC_BOOT_ARCH 109
#define ACPI_FADT_FLAGS 112
#define ACPI_FADT_RESET_REG 116
#define ACPI_FADT_RESET_VALUE 128
#define ACPI_FADT_MINOR_VERSION 131
#define ACPI_FADT_X_FIRMWARE_CTRL 132
#define ACPI_FADT_X_DSDT 140
#define ACPI_FADT_X_PM1A_EVT_BLK 148
#define ACPI_FADT_X_PM1A_CNT_BLK 172
#define ACPI_FADT_X_PM_TMR_BLK 208
#define ACPI_FADT_SLEEP_CONTROL 244
#define ACPI_FADT_SLEEP_STATUS 256
#define ACPI_FADT_HYPERVISOR_ID 268

/* IAPC_BOOT_ARCH bits (Table 5.11). */
#define ACPI_BOOT_LEGACY_DEVICES 0x0001u
#define ACPI_BOOT_8042 0x0002u
#define ACPI_BOOT_NO_VGA 0x0004u
#define ACPI_BOOT_NO_CMOS_RTC 0x0020u
/* FADT flags (Table 5.10). */
#define ACPI_FADT_F_WBINVD 0x00000001u
#define ACPI_FADT_F_PROC_C1 0x00000004u
#define ACPI_FADT_F_PWR_BUTTON 0x00000010u  /* set: no fixed-hardware power button */
#define ACPI_FADT_F_SLP_BUTTON 0x00000020u  /* set: no fixed-hardware sleep button */
#define ACPI_FADT_F_RESET_REG_SUP 0x00000400u
#define ACPI_FADT_F_HW_REDUCED 0x00100000u

/* MADT (5.2.12). */
#define ACPI_MADT_PCAT_COMPAT 0x1u
#define ACPI_MADT_LAPIC 0
#define ACPI_MADT_IOAPIC 1
#define ACPI_MADT_ISO 2
#define ACPI_MADT_X2APIC 9
#define ACPI_MADT_LAPIC_LEN 8
#define ACPI_MADT_IOAPIC_LEN 12
#define ACPI_MADT_ISO_LEN 10
#define ACPI_MADT_X2APIC_LEN 16
#define ACPI_MADT_ENTRIES 44        /* first entry offset */
#define ACPI_MADT_X2APIC_MIN_ID 255u /* 0xFF cannot be a Processor Local APIC id */

struct acpi_config {
	uint32_t vp_count;     /* 1 .. ACPI_MAX_VPS */
	gpa_t base;            /* GPA of buf[0]: page aligned */
	bool i8042;            /* IAPC_BOOT_ARCH 8042 bit */
	bool no_power_button;  /* FADT PWR_BUTTON flag: no fixed-hardware power button */
	bool com1;             /* describe COM1 (PNP0501) in the DSDT */
	bool vmbus;            /* describe the VMBus (Device VMBS, _CID "VMBus") */
};

/** Where each table went: offsets from base, lengths. */
struct acpi_tables {
	gpa_t rsdp;            /* boot_params.acpi_rsdp_addr */
	size_t len;            /* bytes of buf used (or needed, with -ENOSPC) */
	uint32_t xsdt_off, xsdt_len;
	uint32_t rsdt_off, rsdt_len;  /* rsdt_len 0: no RSDT (tables above 4 GiB) */
	uint32_t fadt_off, fadt_len;
	uint32_t facs_off, facs_len;
	uint32_t madt_off, madt_len;
	uint32_t dsdt_off, dsdt_len;
};

/** Bytes acpi_build needs for cfg; 0 if cfg is invalid. */
size_t acpi_size(const struct acpi_config *cfg);

/**
 * Build every table into buf[0, cap) (zeroed first). 0 with *out filled, or -EINVAL (bad
 * config), -ENOSPC (cap too small: out->len says how much is needed), with a message in err.
 */
int acpi_build(const struct acpi_config *cfg, uint8_t *buf, size_t cap, struct acpi_tables *out,
	       char *err, size_t errlen);

/** The byte that makes buf[0, len) sum to zero (for tests and checkers). */
uint8_t acpi_checksum(const uint8_t *buf, size_t len);

#endif
