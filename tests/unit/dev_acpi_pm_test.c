/*
 * ACPI PM1 block at register level with a manual vclock: PM timer values at known times and
 * its wrap, TMR_STS and the SCI (raised by the device's own timer, with no register access),
 * power off only on SLP_EN with S5, byte lanes, and hostile accesses.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "devices/acpi_pm.h"
#include "tests/unit/dev_fake.h"
#include "vtl2/iobus.h"
#include "vtl2/vclock.h"

/* Exact values for 3579545 Hz: ceil(n * 2^23 * 1e9 / 3579545) and friends. */
#define TOGGLE1_NS 2343484438ull     /* first time bit 23 is set: 8388608 ticks */
#define TOGGLE2_NS 4686968875ull     /* 2^24 ticks: bit 23 clears, counter wraps to 0 */
#define TOGGLE3_NS 7030453312ull

struct fx {
	struct dev_fake fake;
	struct dev_fake_line sci;
	struct acpi_pm *pm;
};

static const struct iobus_access vp2 = { .vp = 2 };

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	dev_fake_init(&f->fake);
	assert_int_equal(acpi_pm_create(&f->fake.dc, dev_fake_irq_line(&f->sci, 9), &f->pm), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	acpi_pm_destroy(f->pm);
	dev_fake_fini(&f->fake);
	free(f);
	return 0;
}

static uint64_t rd(struct fx *f, unsigned off, unsigned size)
{
	return dev_fake_rd_ok(&acpi_pm_ops, f->pm, vp2.vp, off, size);
}

static void wr(struct fx *f, unsigned off, unsigned size, uint64_t v)
{
	dev_fake_wr(&acpi_pm_ops, f->pm, vp2.vp, off, size, v, IOBUS_OK);
}

static void test_create_errors(void **state)
{
	(void)state;
	struct vclock *c;
	struct acpi_pm *pm = NULL;
	struct irq_line none = { 0 };
	assert_int_equal(vclock_create(true, &c), 0);
	struct devctx noclock = { 0 }, ok = { .clock = c };
	assert_int_equal(acpi_pm_create(NULL, none, &pm), -EINVAL);
	assert_int_equal(acpi_pm_create(&noclock, none, &pm), -EINVAL);
	assert_int_equal(acpi_pm_create(&ok, none, NULL), -EINVAL);
	assert_null(pm);
	/* An unwired SCI and no stop() are survivable. */
	assert_int_equal(acpi_pm_create(&ok, none, &pm), 0);
	assert_int_equal(acpi_pm_ops.write(pm, NULL, ACPI_PM1_EN, 2, 0x0101), IOBUS_OK);
	acpi_pm_power_button(pm);
	vclock_advance(c, TOGGLE1_NS);
	assert_int_equal(acpi_pm_ops.write(pm, NULL, ACPI_PM1_CNT, 2, 0x3400), IOBUS_OK);
	acpi_pm_destroy(pm);
	acpi_pm_destroy(NULL);
	acpi_pm_power_button(NULL);
	vclock_destroy(c);
}

static void test_timer_values(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rd(f, ACPI_PM_TMR, 4), 0);
	dev_fake_at(&f->fake, 279);
	assert_int_equal(rd(f, ACPI_PM_TMR, 4), 0);    /* 0.9987 tick */
	dev_fake_at(&f->fake, 280);
	assert_int_equal(rd(f, ACPI_PM_TMR, 4), 1);
	dev_fake_at(&f->fake, 1000000);
	assert_int_equal(rd(f, ACPI_PM_TMR, 4), 3579);
	dev_fake_at(&f->fake, 123456789);
	assert_int_equal(rd(f, ACPI_PM_TMR, 4), 0x6BE3F);
	dev_fake_at(&f->fake, 1000000000);
	assert_int_equal(rd(f, ACPI_PM_TMR, 4), 0x369E99);   /* 3579545 */
	/* Byte and word lanes of the same instant; bits 31:24 read 0 (TMR_VAL_EXT = 0). */
	assert_int_equal(rd(f, ACPI_PM_TMR, 1), 0x99);
	assert_int_equal(rd(f, ACPI_PM_TMR + 1, 1), 0x9E);
	assert_int_equal(rd(f, ACPI_PM_TMR + 2, 1), 0x36);
	assert_int_equal(rd(f, ACPI_PM_TMR + 3, 1), 0x00);
	assert_int_equal(rd(f, ACPI_PM_TMR, 2), 0x9E99);
	assert_int_equal(rd(f, ACPI_PM_TMR + 2, 2), 0x0036);
	/* Read-only: writes change nothing. */
	wr(f, ACPI_PM_TMR, 4, 0);
	wr(f, ACPI_PM_TMR + 1, 1, 0xFF);
	assert_int_equal(rd(f, ACPI_PM_TMR, 4), 0x369E99);
	dev_fake_at(&f->fake, 5000000000ull);
	assert_int_equal(rd(f, ACPI_PM_TMR, 4), 0x1118FD);   /* 17897725 - 2^24 */
}

static void test_timer_wrap(void **state)
{
	struct fx *f = *state;
	dev_fake_at(&f->fake, TOGGLE1_NS - 1);
	assert_int_equal(rd(f, ACPI_PM_TMR, 4), 0x7FFFFF);
	dev_fake_at(&f->fake, TOGGLE1_NS);
	assert_int_equal(rd(f, ACPI_PM_TMR, 4), 0x800000);
	dev_fake_at(&f->fake, TOGGLE2_NS - 1);
	assert_int_equal(rd(f, ACPI_PM_TMR, 4), 0xFFFFFF);
	dev_fake_at(&f->fake, TOGGLE2_NS);
	assert_int_equal(rd(f, ACPI_PM_TMR, 4), 0x000000);
	/* Ten hours in: no overflow in the conversion. */
	dev_fake_at(&f->fake, 36000ull * 1000000000ull);
	assert_int_equal(rd(f, ACPI_PM_TMR, 4), 0xDECBA0);
}

static void test_tmr_sts(void **state)
{
	struct fx *f = *state;
	dev_fake_at(&f->fake, TOGGLE1_NS - 1);
	assert_int_equal(rd(f, ACPI_PM1_STS, 2), 0);
	dev_fake_at(&f->fake, TOGGLE1_NS);
	assert_int_equal(rd(f, ACPI_PM1_STS, 2), ACPI_PM1_TMR);
	assert_int_equal(f->sci.rises, 0);             /* TMR_EN clear: no SCI */
	wr(f, ACPI_PM1_STS, 2, 0x7EFE);                /* zeros in bit 0: nothing cleared */
	assert_int_equal(rd(f, ACPI_PM1_STS, 2), ACPI_PM1_TMR);
	wr(f, ACPI_PM1_STS + 1, 1, 0xFF);              /* the other byte lane: nothing */
	assert_int_equal(rd(f, ACPI_PM1_STS, 2), ACPI_PM1_TMR);
	wr(f, ACPI_PM1_STS, 1, 0x01);
	assert_int_equal(rd(f, ACPI_PM1_STS, 2), 0);
	/* The wrap (bit 23 clearing) is a change too; several changes latch once. */
	dev_fake_at(&f->fake, TOGGLE2_NS);
	assert_int_equal(rd(f, ACPI_PM1_STS, 2), ACPI_PM1_TMR);
	wr(f, ACPI_PM1_STS, 2, ACPI_PM1_TMR);
	dev_fake_at(&f->fake, 100ull * 1000000000ull);
	assert_int_equal(rd(f, ACPI_PM1_STS, 2), ACPI_PM1_TMR);
	wr(f, ACPI_PM1_STS, 2, 0xFFFF);
	assert_int_equal(rd(f, ACPI_PM1_STS, 4), 0);
}

static void test_tmr_sci(void **state)
{
	struct fx *f = *state;
	wr(f, ACPI_PM1_EN, 2, ACPI_PM1_TMR);
	assert_int_equal(rd(f, ACPI_PM1_EN, 2), ACPI_PM1_TMR);
	dev_fake_at(&f->fake, TOGGLE1_NS - 1);
	assert_false(f->sci.level);
	/* The device's own timer raises the SCI at the toggle, with no register access. */
	dev_fake_at(&f->fake, TOGGLE1_NS);
	assert_true(f->sci.level);
	assert_int_equal(f->sci.rises, 1);
	assert_int_equal(f->sci.pin, 9);
	/* Level: it stays up until the status is cleared. */
	dev_fake_at(&f->fake, TOGGLE2_NS + 1000);
	assert_true(f->sci.level);
	assert_int_equal(f->sci.rises, 1);
	wr(f, ACPI_PM1_STS, 2, ACPI_PM1_TMR);
	assert_false(f->sci.level);
	/* Cleared after toggle 2: the next edge is toggle 3. */
	dev_fake_at(&f->fake, TOGGLE3_NS - 1);
	assert_false(f->sci.level);
	dev_fake_at(&f->fake, TOGGLE3_NS);
	assert_true(f->sci.level);
	assert_int_equal(f->sci.rises, 2);
	/* Disabling the enable drops the line; re-enabling with the status set raises it. */
	wr(f, ACPI_PM1_EN, 2, 0);
	assert_false(f->sci.level);
	wr(f, ACPI_PM1_EN + 0, 1, ACPI_PM1_TMR);
	assert_true(f->sci.level);
	assert_int_equal(f->sci.rises, 3);
	/* A guest that keeps acking gets one SCI per 2^23 ticks, no more: 100 s ~ 42 edges. */
	unsigned before = f->sci.rises;
	uint64_t start = vclock_now(f->fake.clock);
	for (unsigned i = 1; i <= 1000; i++) {
		dev_fake_at(&f->fake, start + i * 100000000ull);
		if (f->sci.level)
			wr(f, ACPI_PM1_STS, 2, ACPI_PM1_TMR);
	}
	assert_false(f->sci.level);
	/* Toggles up to 107.03 s (ticks >> 23 = 45) after the one at 7.03 s (3): 42 edges. */
	assert_int_equal(f->sci.rises - before, 42);
	assert_int_equal(f->sci.rises, f->sci.falls);
	assert_int_equal(f->fake.stops.count, 0);
}

static void test_power_button(void **state)
{
	struct fx *f = *state;
	acpi_pm_power_button(f->pm);
	assert_int_equal(rd(f, ACPI_PM1_STS, 2), ACPI_PM1_PWRBTN);
	assert_false(f->sci.level);
	wr(f, ACPI_PM1_EN + 1, 1, ACPI_PM1_PWRBTN >> 8);
	assert_true(f->sci.level);
	wr(f, ACPI_PM1_STS + 1, 1, 0x01);
	assert_false(f->sci.level);
	assert_int_equal(rd(f, ACPI_PM1_STS, 2), 0);
	acpi_pm_power_button(f->pm);
	assert_true(f->sci.level);
	assert_int_equal(f->sci.rises, 2);
	assert_int_equal(f->fake.stops.count, 0);   /* the guest decides what a press means */
}

static void test_power_off(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rd(f, ACPI_PM1_CNT, 2), ACPI_PM1_CNT_SCI_EN);
	/* ACPICA's first write: SLP_TYP only. */
	wr(f, ACPI_PM1_CNT, 2, 0x1401);
	assert_int_equal(f->fake.stops.count, 0);
	assert_int_equal(rd(f, ACPI_PM1_CNT, 2), 0x1401);
	/* Its second write adds SLP_EN: power off, requested by this VP. */
	wr(f, ACPI_PM1_CNT, 2, 0x3401);
	assert_int_equal(f->fake.stops.count, 1);
	assert_int_equal(f->fake.stops.why, DEVCTX_STOP_POWER_OFF);
	assert_int_equal(f->fake.stops.code, 0);
	assert_int_equal(f->fake.stops.vp, 2);
	assert_int_equal(rd(f, ACPI_PM1_CNT, 2), 0x1401);      /* SLP_EN reads 0 */
	assert_int_equal(rd(f, ACPI_PM1_STS, 2) & ACPI_PM1_WAK, 0);
}

static void test_sleep_types(void **state)
{
	struct fx *f = *state;
	for (unsigned typ = 0; typ < 8; typ++) {
		uint16_t v = (uint16_t)(typ << ACPI_PM1_CNT_SLP_TYP_SHIFT);
		wr(f, ACPI_PM1_CNT, 2, v);
		assert_int_equal(f->fake.stops.count, typ > 5 ? 1 : 0);
		wr(f, ACPI_PM1_CNT, 2, v | ACPI_PM1_CNT_SLP_EN);
		if (typ == ACPI_PM_S5_TYP) {
			assert_int_equal(f->fake.stops.count, 1);
			assert_int_equal(rd(f, ACPI_PM1_STS, 2) & ACPI_PM1_WAK, 0);
		} else {
			/* Not entered: "woke up" at once. */
			assert_int_equal(f->fake.stops.count, typ > 5 ? 1 : 0);
			assert_int_equal(rd(f, ACPI_PM1_STS, 2), ACPI_PM1_WAK);
			wr(f, ACPI_PM1_STS, 2, ACPI_PM1_WAK);
			assert_int_equal(rd(f, ACPI_PM1_STS, 2), 0);
		}
		assert_int_equal(rd(f, ACPI_PM1_CNT, 2), v | ACPI_PM1_CNT_SCI_EN);
	}
	assert_int_equal(f->fake.stops.count, 1);
	/* Byte lanes: SLP_TYP and SLP_EN both live in the high byte of PM1_CNT. */
	wr(f, ACPI_PM1_CNT, 1, 0xFF);                  /* low byte: only BM_RLD sticks */
	assert_int_equal(rd(f, ACPI_PM1_CNT, 2), 0x1C03);
	assert_int_equal(f->fake.stops.count, 1);
	wr(f, ACPI_PM1_CNT + 1, 1, 0x34);
	assert_int_equal(f->fake.stops.count, 2);
	assert_int_equal(rd(f, ACPI_PM1_CNT, 2), 0x1403);
	/* A dword at +2 writes PM1_EN and PM1_CNT together. */
	wr(f, ACPI_PM1_EN, 4, 0x34000100u);
	assert_int_equal(f->fake.stops.count, 3);
	assert_int_equal(rd(f, ACPI_PM1_EN, 2), ACPI_PM1_PWRBTN);
}

static void test_pm1_lanes(void **state)
{
	struct fx *f = *state;
	wr(f, ACPI_PM1_EN, 1, 0x01);
	wr(f, ACPI_PM1_EN + 1, 1, 0x01);
	assert_int_equal(rd(f, ACPI_PM1_EN, 2), 0x0101);
	wr(f, ACPI_PM1_EN, 2, 0xFFFF);                 /* reserved enable bits do not stick */
	assert_int_equal(rd(f, ACPI_PM1_EN, 2), 0x4721);
	assert_int_equal(rd(f, ACPI_PM1_EN + 1, 1), 0x47);
	acpi_pm_power_button(f->pm);
	assert_int_equal(rd(f, ACPI_PM1_STS, 4), 0x47210100u);   /* STS | EN << 16 */
	assert_int_equal(rd(f, ACPI_PM1_STS + 1, 2), 0x2101);     /* misaligned lanes */
	/* One dword write: clear PWRBTN_STS and set a new enable mask. */
	wr(f, ACPI_PM1_STS, 4, 0x01000100u);
	assert_int_equal(rd(f, ACPI_PM1_STS, 4), 0x01000000u);
	assert_false(f->sci.level);
	/* The reserved bytes +6/+7 read 0. */
	wr(f, 6, 2, 0xFFFF);
	assert_int_equal(rd(f, 6, 2), 0);
	assert_int_equal(rd(f, 4, 4), 0x00000001);
	assert_int_equal(f->fake.stops.count, 0);
}

static void test_hostile(void **state)
{
	struct fx *f = *state;
	uint64_t seed = 11;
	unsigned expected_stops = 0;
	for (unsigned round = 0; round < 400; round++) {
		for (unsigned off = 0; off < 16; off++) {
			for (unsigned size = 1; size <= 8; size *= 2) {
				bool ok = size <= 4 && off + size <= ACPI_PM_LEN;
				enum iobus_action want = ok ? IOBUS_OK : IOBUS_BAD_REGISTER;
				uint64_t v = dev_fake_junk(&seed), r = 0x5A5A;
				assert_int_equal(acpi_pm_ops.read(f->pm, &vp2, off, size, &r), want);
				if (!ok)
					assert_int_equal(r, iobus_ones(size));
				if (ok && off <= 5 && off + size > 5) {
					uint8_t hi = (uint8_t)(v >> (8 * (5 - off)));
					if ((hi & 0x20) && ((hi >> 2) & 7) == ACPI_PM_S5_TYP)
						expected_stops++;
				}
				assert_int_equal(acpi_pm_ops.write(f->pm, &vp2, off, size, v), want);
				/* The SCI always matches status & enable. */
				uint64_t se = rd(f, 0, 4);
				bool want_sci = (se & (se >> 16) & 0x0101) != 0;
				assert_int_equal(f->sci.level, want_sci);
				assert_int_equal(rd(f, ACPI_PM_TMR, 4) >> 24, 0);
			}
		}
		vclock_advance(f->fake.clock, dev_fake_junk(&seed) % 3000000000ull);
	}
	assert_int_equal(f->fake.stops.count, expected_stops);
	assert_true(expected_stops > 0);
	uint64_t r;
	assert_int_equal(acpi_pm_ops.read(f->pm, NULL, ~0ull, 4, &r), IOBUS_BAD_REGISTER);
	assert_int_equal(acpi_pm_ops.write(f->pm, NULL, ~0ull - 1, 2, 0), IOBUS_BAD_REGISTER);
	assert_int_equal(acpi_pm_ops.read(f->pm, NULL, 0, 3, &r), IOBUS_BAD_REGISTER);
	assert_int_equal(acpi_pm_ops.read(f->pm, NULL, 0, 0, &r), IOBUS_BAD_REGISTER);
}

static void test_via_iobus(void **state)
{
	struct fx *f = *state;
	struct iobus *bus;
	uint64_t v;
	assert_int_equal(iobus_create(&bus), 0);
	assert_int_equal(iobus_register(bus, IOBUS_PIO, ACPI_PM_BASE, ACPI_PM_LEN, &acpi_pm_ops,
					f->pm, "acpi_pm"), 0);
	iobus_freeze(bus);
	dev_fake_at(&f->fake, 1000000000);
	assert_int_equal(iobus_read(bus, NULL, IOBUS_PIO, ACPI_PM_BASE + 8, 4, &vp2, &v), IOBUS_OK);
	assert_int_equal(v, 0x369E99);
	assert_int_equal(iobus_write(bus, NULL, IOBUS_PIO, ACPI_PM_BASE + 4, 2, &vp2, 0x3400),
			 IOBUS_OK);
	assert_int_equal(f->fake.stops.count, 1);
	assert_int_equal(f->fake.stops.why, DEVCTX_STOP_POWER_OFF);
	iobus_destroy(bus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test_setup_teardown(test_timer_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_wrap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tmr_sts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tmr_sci, setup, teardown),
		cmocka_unit_test_setup_teardown(test_power_button, setup, teardown),
		cmocka_unit_test_setup_teardown(test_power_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sleep_types, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pm1_lanes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_via_iobus, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
