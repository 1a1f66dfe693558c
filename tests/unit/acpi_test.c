/*
 * acpi_test: the VTL0 ACPI tables. Checksums of every table, the pointer chain RSDP -> XSDT /
 * RSDT -> FACP -> DSDT / FACS, MADT entries for 1/2/64/300 VPs, FADT fields at their offsets,
 * the DSDT's AML decoded by hand, configuration errors, and the constants shared with the
 * device models.
 *
 * `acpi_test --dump DIR` writes the tables (not the RSDP) of two configurations as binary files
 * for tests/unit/acpi_iasl.sh (iasl -d) and exits.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "devices/acpi_pm.h"
#include "devices/chipset.h"
#include "devices/rtc.h"
#include "vtl2/acpi.h"

/* The tables describe the chipset the device models build. */
_Static_assert(ACPI_IOAPIC_ID == CHIPSET_IOAPIC_ID, "MADT IOAPIC id = chipset's");
_Static_assert(ACPI_SCI_IRQ == CHIPSET_SCI_IRQ, "FADT SCI_INT = chipset's SCI line");
_Static_assert(ACPI_PM_BLK == ACPI_PM_BASE, "FADT PM1a_EVT_BLK = acpi_pm base");
_Static_assert(ACPI_S5_SLP_TYP == ACPI_PM_S5_TYP, "\\_S5 SLP_TYPa = what acpi_pm powers off on");
_Static_assert(ACPI_RTC_CENTURY == RTC_CENTURY, "FADT CENTURY = the RTC's century index");

#define BASE 0xE0000ull

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

struct built {
	uint8_t *buf;
	struct acpi_tables t;
	struct acpi_config cfg;
};

static void build_vmbus(struct built *b, uint32_t vps, bool com1, bool vmbus, uint64_t base)
{
	char err[160] = "";
	memset(b, 0, sizeof(*b));
	b->cfg = (struct acpi_config){ .vp_count = vps, .base = gpa(base), .com1 = com1,
				       .vmbus = vmbus };
	size_t n = acpi_size(&b->cfg);
	assert_true(n > 0);
	b->buf = malloc(n);
	assert_non_null(b->buf);
	memset(b->buf, 0xCC, n);
	int rc = acpi_build(&b->cfg, b->buf, n, &b->t, err, sizeof(err));
	if (rc)
		fprintf(stderr, "acpi_build: %s\n", err);
	assert_int_equal(rc, 0);
	assert_int_equal(b->t.len, n);
	assert_int_equal(b->t.rsdp.v, base);
}

static void build(struct built *b, uint32_t vps, bool com1, uint64_t base)
{
	build_vmbus(b, vps, com1, false, base);
}

/* A table at a GPA inside the buffer: its offset, after checking signature, length, checksum. */
static size_t table_at(const struct built *b, uint64_t gpa_v, const char *sig)
{
	assert_true(gpa_v >= b->cfg.base.v && gpa_v < b->cfg.base.v + b->t.len);
	size_t off = (size_t)(gpa_v - b->cfg.base.v);
	const uint8_t *p = b->buf + off;
	assert_memory_equal(p, sig, 4);
	uint32_t len = rd32(p + 4);
	assert_true(len >= 36 && off + len <= b->t.len);
	assert_int_equal(sum(p, len), 0);
	assert_memory_equal(p + 10, "MEZZ  ", 6);
	return off;
}

static void check_chain(const struct built *b)
{
	const uint8_t *r = b->buf;
	assert_memory_equal(r, "RSD PTR ", 8);
	assert_int_equal(sum(r, 20), 0);
	assert_int_equal(r[15], 2);
	assert_int_equal(rd32(r + 20), 36);
	assert_int_equal(sum(r, 36), 0);
	assert_int_equal(b->t.rsdp.v % 16, 0);

	size_t x = table_at(b, rd64(r + 24), "XSDT");
	assert_int_equal(x, b->t.xsdt_off);
	assert_int_equal(rd32(b->buf + x + 4), 36 + 16);
	size_t fadt = table_at(b, rd64(b->buf + x + 36), "FACP");
	size_t madt = table_at(b, rd64(b->buf + x + 44), "APIC");
	assert_int_equal(fadt, b->t.fadt_off);
	assert_int_equal(madt, b->t.madt_off);
	if (b->t.rsdt_len) {
		size_t rs = table_at(b, rd32(r + 16), "RSDT");
		assert_int_equal(rd32(b->buf + rs + 36), b->cfg.base.v + fadt);
		assert_int_equal(rd32(b->buf + rs + 40), b->cfg.base.v + madt);
	} else {
		assert_int_equal(rd32(r + 16), 0);
	}
	const uint8_t *f = b->buf + fadt;
	size_t dsdt = table_at(b, rd64(f + ACPI_FADT_X_DSDT), "DSDT");
	assert_int_equal(dsdt, b->t.dsdt_off);
	if (b->cfg.base.v + dsdt < 0x100000000ull)
		assert_int_equal(rd32(f + ACPI_FADT_DSDT), b->cfg.base.v + dsdt);
	else
		assert_int_equal(rd32(f + ACPI_FADT_DSDT), 0);
	/* FACS: no checksum; 64-byte aligned; only X_FIRMWARE_CTRL points at it. */
	uint64_t facs = rd64(f + ACPI_FADT_X_FIRMWARE_CTRL);
	assert_int_equal(facs % 64, 0);
	assert_int_equal(rd32(f + ACPI_FADT_FIRMWARE_CTRL), 0);
	const uint8_t *fs = b->buf + (facs - b->cfg.base.v);
	assert_memory_equal(fs, "FACS", 4);
	assert_int_equal(rd32(fs + 4), 64);
	assert_int_equal(fs[32], 2);
	/* Tables do not overlap. */
	const uint32_t offs[] = { 0, b->t.xsdt_off, b->t.rsdt_off, b->t.fadt_off, b->t.facs_off, b->t.madt_off, b->t.dsdt_off };
	const uint32_t lens[] = { 36, b->t.xsdt_len, b->t.rsdt_len, b->t.fadt_len, b->t.facs_len, b->t.madt_len, b->t.dsdt_len };
	for (unsigned i = 1; i < 7; i++)
		assert_true(offs[i - 1] + lens[i - 1] <= offs[i] || lens[i - 1] == 0);
}

static void test_checksums_and_chain(void **state)
{
	(void)state;
	const uint32_t vps[] = { 1, 2, 64, 300, ACPI_MAX_VPS };
	for (unsigned i = 0; i < sizeof(vps) / sizeof(vps[0]); i++)
		for (int com1 = 0; com1 < 2; com1++) {
			struct built b;
			build(&b, vps[i], com1, BASE);
			check_chain(&b);
			free(b.buf);
		}
}

static void test_high_base(void **state)
{
	(void)state;
	struct built b;
	build(&b, 1000, true, 0x100000000ull - 4096); /* spills past 4 GiB: no RSDT, no 32-bit DSDT */
	assert_true(b.t.len > 4096);
	assert_int_equal(b.t.rsdt_len, 0);
	check_chain(&b);
	free(b.buf);
	build(&b, 4, true, 0x200000000ull);
	assert_int_equal(b.t.rsdt_len, 0);
	check_chain(&b);
	free(b.buf);
}

static void check_madt(uint32_t vps)
{
	struct built b;
	build(&b, vps, false, BASE);
	const uint8_t *m = b.buf + b.t.madt_off;
	uint32_t len = rd32(m + 4);
	assert_int_equal(len, b.t.madt_len);
	assert_int_equal(m[8], 5);
	assert_int_equal(rd32(m + 36), 0xFEE00000);
	assert_int_equal(rd32(m + 40), 1); /* PCAT_COMPAT */
	unsigned lapic = 0, x2 = 0, ioapic = 0, iso = 0;
	bool seen[ACPI_MAX_VPS] = { false };
	bool iso0 = false, iso9 = false;
	for (uint32_t off = 44; off < len;) {
		const uint8_t *e = m + off;
		assert_true(e[1] >= 2 && off + e[1] <= len);
		switch (e[0]) {
		case 0:
			assert_int_equal(e[1], 8);
			assert_int_equal(e[2], e[3]);           /* UID = APIC id = VP index */
			assert_true(e[3] < 255);
			assert_false(seen[e[3]]);
			seen[e[3]] = true;
			assert_int_equal(rd32(e + 4), 1);       /* enabled */
			lapic++;
			break;
		case 9:
			assert_int_equal(e[1], 16);
			assert_int_equal(rd16(e + 2), 0);
			assert_true(rd32(e + 4) >= 255 && rd32(e + 4) < vps);
			assert_int_equal(rd32(e + 12), rd32(e + 4));
			assert_false(seen[rd32(e + 4)]);
			seen[rd32(e + 4)] = true;
			assert_int_equal(rd32(e + 8), 1);
			x2++;
			break;
		case 1:
			assert_int_equal(e[1], 12);
			assert_int_equal(e[2], CHIPSET_IOAPIC_ID);
			assert_int_equal(rd32(e + 4), 0xFEC00000);
			assert_int_equal(rd32(e + 8), 0);
			ioapic++;
			break;
		case 2:
			assert_int_equal(e[1], 10);
			assert_int_equal(e[2], 0);                 /* ISA */
			if (e[3] == 0) {
				assert_int_equal(rd32(e + 4), 2);
				assert_int_equal(rd16(e + 8), 0x5); /* edge, active high */
				iso0 = true;
			} else {
				assert_int_equal(e[3], 9);
				assert_int_equal(rd32(e + 4), 9);
				assert_int_equal(rd16(e + 8), 0xD); /* level, active high */
				iso9 = true;
			}
			iso++;
			break;
		default:
			fail_msg("unexpected MADT entry type %u", e[0]);
		}
		off += e[1];
	}
	assert_int_equal(lapic, vps < 255 ? vps : 255);
	assert_int_equal(x2, vps < 255 ? 0 : vps - 255);
	assert_int_equal(ioapic, 1);
	assert_int_equal(iso, 2);
	assert_true(iso0 && iso9);
	for (uint32_t i = 0; i < vps; i++)
		assert_true(seen[i]);
	free(b.buf);
}

static void test_madt(void **state)
{
	(void)state;
	check_madt(1);
	check_madt(2);
	check_madt(64);
	check_madt(254);
	check_madt(255);
	check_madt(300);
}

static void test_fadt(void **state)
{
	(void)state;
	struct built b;
	build(&b, 2, false, BASE);
	const uint8_t *f = b.buf + b.t.fadt_off;
	assert_int_equal(rd32(f + 4), 276);
	assert_int_equal(f[8], 6);
	assert_int_equal(rd16(f + ACPI_FADT_SCI_INT), 9);
	assert_int_equal(rd32(f + ACPI_FADT_SMI_CMD), 0);
	assert_int_equal(rd32(f + ACPI_FADT_PM1A_EVT_BLK), 0x400);
	assert_int_equal(rd32(f + ACPI_FADT_PM1A_CNT_BLK), 0x404);
	assert_int_equal(rd32(f + ACPI_FADT_PM_TMR_BLK), 0x408);
	assert_int_equal(f[ACPI_FADT_PM1_EVT_LEN], 4);
	assert_int_equal(f[ACPI_FADT_PM1_CNT_LEN], 2);
	assert_int_equal(f[ACPI_FADT_PM_TMR_LEN], 4);
	assert_int_equal(rd32(f + 60), 0); /* PM1b_EVT_BLK */
	assert_int_equal(rd32(f + 80), 0); /* GPE0_BLK */
	assert_int_equal(f[ACPI_FADT_CENTURY], 0x32);
	/* IAPC_BOOT_ARCH: legacy devices, no VGA, no 8042 unless asked, CMOS RTC present. */
	uint16_t arch = rd16(f + ACPI_FADT_IAPC_BOOT_ARCH);
	assert_int_equal(arch & ACPI_BOOT_8042, 0);
	assert_int_equal(arch & ACPI_BOOT_NO_CMOS_RTC, 0);
	assert_int_equal(arch, ACPI_BOOT_LEGACY_DEVICES | ACPI_BOOT_NO_VGA);
	uint32_t flags = rd32(f + ACPI_FADT_FLAGS);
	assert_true(flags & ACPI_FADT_F_RESET_REG_SUP);
	assert_int_equal(flags & ACPI_FADT_F_PWR_BUTTON, 0); /* fixed power button (PM1 PWRBTN) */
	assert_int_equal(flags & ACPI_FADT_F_HW_REDUCED, 0);
	assert_int_equal(flags & 0x100, 0);                  /* TMR_VAL_EXT: 24-bit timer */
	/* RESET_REG: I/O, 8 bits at 0xCF9, value 6. */
	const uint8_t *g = f + ACPI_FADT_RESET_REG;
	assert_int_equal(g[0], 1);
	assert_int_equal(g[1], 8);
	assert_int_equal(g[2], 0);
	assert_int_equal(g[3], 1);
	assert_int_equal(rd64(g + 4), 0xCF9);
	assert_int_equal(f[ACPI_FADT_RESET_VALUE], 6);
	/* X_ blocks agree with the 32-bit ones (ACPICA compares them). */
	g = f + ACPI_FADT_X_PM1A_EVT_BLK;
	assert_int_equal(g[0], 1);
	assert_int_equal(g[1], 32);
	assert_int_equal(rd64(g + 4), 0x400);
	g = f + ACPI_FADT_X_PM1A_CNT_BLK;
	assert_int_equal(g[1], 16);
	assert_int_equal(rd64(g + 4), 0x404);
	g = f + ACPI_FADT_X_PM_TMR_BLK;
	assert_int_equal(g[1], 32);
	assert_int_equal(rd64(g + 4), 0x408);
	/* Not hardware-reduced: the sleep registers stay empty. */
	for (unsigned i = ACPI_FADT_SLEEP_CONTROL; i < ACPI_FADT_SLEEP_STATUS + 12; i++)
		assert_int_equal(f[i], 0);
	assert_int_equal(rd16(f + ACPI_FADT_P_LVL2_LAT), 101);
	assert_int_equal(rd16(f + ACPI_FADT_P_LVL3_LAT), 1001);
	free(b.buf);

	/* Options: the 8042 bit and "no fixed power button". */
	struct acpi_config cfg = { .vp_count = 1, .base = gpa(BASE), .i8042 = true, .no_power_button = true };
	uint8_t buf[4096];
	struct acpi_tables t;
	assert_int_equal(acpi_build(&cfg, buf, sizeof(buf), &t, NULL, 0), 0);
	f = buf + t.fadt_off;
	assert_true(rd16(f + ACPI_FADT_IAPC_BOOT_ARCH) & ACPI_BOOT_8042);
	assert_true(rd32(f + ACPI_FADT_FLAGS) & ACPI_FADT_F_PWR_BUTTON);
	assert_int_equal(sum(f, 276), 0);
}

/* AML decoded by hand: PkgLength and a small integer, following ACPI 6.4 20.2. */
static size_t pkglen(const uint8_t *p, uint32_t *len)
{
	unsigned follow = p[0] >> 6;
	if (!follow) {
		*len = p[0] & 0x3F;
		return 1;
	}
	uint32_t v = p[0] & 0x0F;
	for (unsigned i = 0; i < follow; i++)
		v |= (uint32_t)p[1 + i] << (4 + 8 * i);
	*len = v;
	return 1 + follow;
}

static size_t integer(const uint8_t *p, uint64_t *v)
{
	switch (p[0]) {
	case 0x00: *v = 0; return 1;
	case 0x01: *v = 1; return 1;
	case 0x0A: *v = p[1]; return 2;
	case 0x0B: *v = rd16(p + 1); return 3;
	case 0x0C: *v = rd32(p + 1); return 5;
	default: fail_msg("not an integer: opcode 0x%02x", p[0]); return 0;
	}
}

static void test_dsdt_s5(void **state)
{
	(void)state;
	struct built b;
	build(&b, 1, false, BASE);
	const uint8_t *d = b.buf + b.t.dsdt_off;
	uint32_t len = rd32(d + 4);
	assert_int_equal(d[8], 2);
	const uint8_t *a = d + 36;
	/* Name(_S5_, Package(4){5, 5, 0, 0}) and nothing else. */
	const uint8_t want[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04, 0x0A, 0x05, 0x0A, 0x05, 0x00, 0x00 };
	assert_int_equal(len - 36, sizeof(want));
	assert_memory_equal(a, want, sizeof(want));

	/* The same, decoded rather than compared. */
	assert_int_equal(a[0], 0x08);
	assert_memory_equal(a + 1, "_S5_", 4);
	assert_int_equal(a[5], 0x12);
	uint32_t pl;
	size_t n = pkglen(a + 6, &pl);
	assert_int_equal(6 + pl, len - 36); /* the package runs to the end of the table */
	const uint8_t *e = a + 6 + n;
	assert_int_equal(e[0], 4);
	e++;
	uint64_t v[4];
	for (int i = 0; i < 4; i++)
		e += integer(e, &v[i]);
	assert_int_equal(v[0], ACPI_PM_S5_TYP);
	assert_int_equal(v[1], ACPI_PM_S5_TYP);
	assert_int_equal(v[2], 0);
	assert_int_equal(v[3], 0);
	assert_ptr_equal(e, d + len);
	free(b.buf);
}

static void test_dsdt_com1(void **state)
{
	(void)state;
	struct built b;
	build(&b, 1, true, BASE);
	const uint8_t *d = b.buf + b.t.dsdt_off;
	uint32_t len = rd32(d + 4);
	const uint8_t *a = d + 36 + 14; /* after \_S5 */
	uint32_t pl;
	/* Scope(\_SB_) { Device(COM1) { ... } } */
	assert_int_equal(a[0], 0x10);
	size_t n = pkglen(a + 1, &pl);
	assert_ptr_equal(a + 1 + pl, d + len);
	const uint8_t *p = a + 1 + n;
	assert_memory_equal(p, "\\_SB_", 5);
	p += 5;
	assert_int_equal(p[0], 0x5B);
	assert_int_equal(p[1], 0x82);
	n = pkglen(p + 2, &pl);
	assert_ptr_equal(p + 2 + pl, d + len);
	p += 2 + n;
	assert_memory_equal(p, "COM1", 4);
	p += 4;
	/* Name(_HID, EisaId("PNP0501")) */
	assert_int_equal(p[0], 0x08);
	assert_memory_equal(p + 1, "_HID", 4);
	uint64_t v;
	p += 5 + integer(p + 5, &v);
	assert_int_equal(v, 0x0105D041);
	/* Name(_UID, One) */
	assert_memory_equal(p, "\x08_UID\x01", 6);
	p += 6;
	/* Name(_CRS, Buffer(13){IO 0x3F8/8, IRQ 4, end}) */
	assert_memory_equal(p, "\x08_CRS\x11", 6);
	p += 6;
	n = pkglen(p, &pl);
	assert_ptr_equal(p + pl, d + len);
	p += n;
	p += integer(p, &v);
	assert_int_equal(v, 13);
	const uint8_t crs[] = { 0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x01, 0x08, 0x22, 0x10, 0x00, 0x79, 0x00 };
	assert_memory_equal(p, crs, sizeof(crs));
	assert_ptr_equal(p + sizeof(crs), d + len);
	free(b.buf);
}

static void test_errors(void **state)
{
	(void)state;
	char err[160];
	uint8_t buf[4096];
	struct acpi_tables t;
	struct acpi_config cfg = { .vp_count = 0, .base = gpa(BASE) };
	assert_int_equal(acpi_size(&cfg), 0);
	assert_int_equal(acpi_build(&cfg, buf, sizeof(buf), &t, err, sizeof(err)), -EINVAL);
	cfg.vp_count = ACPI_MAX_VPS + 1;
	assert_int_equal(acpi_build(&cfg, buf, sizeof(buf), &t, err, sizeof(err)), -EINVAL);
	cfg.vp_count = 1;
	cfg.base = gpa(BASE + 16);
	assert_int_equal(acpi_build(&cfg, buf, sizeof(buf), &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "base"));
	cfg.base = gpa(UINT64_MAX & ~0xFFFull);
	assert_int_equal(acpi_size(&cfg), 0);
	cfg.base = gpa(1ull << 52); /* past the 52-bit physical address space */
	assert_int_equal(acpi_size(&cfg), 0);
	cfg.base = gpa((1ull << 52) - 4096);
	assert_true(acpi_size(&cfg) > 0);
	cfg.vp_count = 1000; /* longer than that last page */
	assert_int_equal(acpi_size(&cfg), 0);
	cfg.vp_count = 1;
	assert_int_equal(acpi_size(NULL), 0);
	assert_int_equal(acpi_build(NULL, buf, sizeof(buf), &t, err, sizeof(err)), -EINVAL);
	assert_int_equal(acpi_build(&cfg, buf, sizeof(buf), NULL, err, sizeof(err)), -EINVAL);

	/* Too small a buffer says how much is needed; nothing is written. */
	cfg = (struct acpi_config){ .vp_count = 1000, .base = gpa(BASE) };
	size_t need = acpi_size(&cfg);
	assert_true(need > sizeof(buf));
	memset(buf, 0xAB, sizeof(buf));
	assert_int_equal(acpi_build(&cfg, buf, sizeof(buf), &t, err, sizeof(err)), -ENOSPC);
	assert_int_equal(t.len, need);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0xAB);
	assert_int_equal(acpi_build(&cfg, NULL, 0, &t, err, sizeof(err)), -ENOSPC);
	assert_int_equal(t.len, need);

	/* acpi_checksum completes a sum to zero. */
	uint8_t x[5] = { 1, 2, 3, 250, 0 };
	x[4] = acpi_checksum(x, 4);
	assert_int_equal(sum(x, 5), 0);
}

/* Scope(\_SB_) { Device(VMBS) { Name(_ADR, 0) Name(_CID, "VMBus") } }: the id hv_vmbus matches. */
static void test_dsdt_vmbus(void **state)
{
	(void)state;
	struct built b;
	build_vmbus(&b, 2, false, true, BASE);
	const uint8_t *d = b.buf + b.t.dsdt_off;
	uint32_t len = rd32(d + 4), pl;
	const uint8_t *a = d + 36 + 14; /* after \_S5 */
	assert_int_equal(a[0], 0x10);
	size_t n = pkglen(a + 1, &pl);
	assert_ptr_equal(a + 1 + pl, d + len);
	const uint8_t *p = a + 1 + n;
	assert_memory_equal(p, "\\_SB_", 5);
	p += 5;
	assert_int_equal(p[0], 0x5B);
	assert_int_equal(p[1], 0x82);
	n = pkglen(p + 2, &pl);
	assert_ptr_equal(p + 2 + pl, d + len);
	p += 2 + n;
	assert_memory_equal(p, "VMBS\x08_ADR\x00\x08_CID\x0DVMBus", 4 + 6 + 5 + 1 + 6);
	assert_ptr_equal(p + 4 + 6 + 5 + 1 + 6, d + len);
	free(b.buf);
	/* Without it the DSDT does not mention it. */
	build_vmbus(&b, 2, false, false, BASE);
	d = b.buf + b.t.dsdt_off;
	assert_int_equal(rd32(d + 4), 36 + 14);
	free(b.buf);
}

/* --dump DIR: the tables as files, for iasl. */
static int dump(const char *dir)
{
	/* vp300 also describes the VMBus, so iasl checks that device too. */
	const struct { const char *name; uint32_t vps; bool com1; } cfgs[] = {
		{ "vp1", 1, true },
		{ "vp300", 300, false },
	};
	for (unsigned i = 0; i < 2; i++) {
		struct acpi_config cfg = { .vp_count = cfgs[i].vps, .base = gpa(BASE), .com1 = cfgs[i].com1,
					   .vmbus = i == 1 };
		struct acpi_tables t;
		char err[160];
		size_t n = acpi_size(&cfg);
		uint8_t *buf = calloc(1, n);
		if (!buf || acpi_build(&cfg, buf, n, &t, err, sizeof(err)) != 0)
			return 1;
		const struct { const char *sig; uint32_t off, len; } tabs[] = {
			{ "xsdt", t.xsdt_off, t.xsdt_len },
			{ "rsdt", t.rsdt_off, t.rsdt_len }, { "facp", t.fadt_off, t.fadt_len },
			{ "facs", t.facs_off, t.facs_len }, { "apic", t.madt_off, t.madt_len },
			{ "dsdt", t.dsdt_off, t.dsdt_len },
		};
		for (unsigned j = 0; j < sizeof(tabs) / sizeof(tabs[0]); j++) {
			char path[512];
			snprintf(path, sizeof(path), "%s/%s-%s.dat", dir, cfgs[i].name, tabs[j].sig);
			FILE *f = fopen(path, "wb");
			if (!f || fwrite(buf + tabs[j].off, 1, tabs[j].len, f) != tabs[j].len || fclose(f) != 0) {
				fprintf(stderr, "acpi_test: cannot write %s\n", path);
				return 1;
			}
		}
		free(buf);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--dump"))
		return dump(argv[2]);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checksums_and_chain),
		cmocka_unit_test(test_high_base),
		cmocka_unit_test(test_madt),
		cmocka_unit_test(test_fadt),
		cmocka_unit_test(test_dsdt_s5),
		cmocka_unit_test(test_dsdt_com1),
		cmocka_unit_test(test_dsdt_vmbus),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
