/* MC146818A RTC model (devices/rtc.c), tested at register level through its ops table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>

#include "devices/rtc.h"
#include "tests/unit/dev_fake.h"
#include "vtl2/iobus.h"
#include "vtl2/vclock.h"

#define NS 1000000000ull
/* 2026-12-06 05:59:08 UTC, a Sunday. */
#define T0 1796536748ull

struct fx {
	struct dev_fake fake;
	struct dev_fake_line line;
	struct rtc *r;
};

static const struct iobus_access acc = { .vp = 0 };

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	dev_fake_init(&f->fake);
	vclock_set_wall(f->fake.clock, T0 * NS);
	assert_int_equal(rtc_create(&f->fake.dc, dev_fake_irq_line(&f->line, 8), &f->r), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	assert_int_equal(f->line.redundant, 0);
	rtc_destroy(f->r);
	dev_fake_fini(&f->fake);
	free(f);
	return 0;
}

static void wr(struct fx *f, unsigned idx, uint8_t v)
{
	dev_fake_wr(&rtc_ops, f->r, acc.vp, 0, 1, idx, IOBUS_OK);
	dev_fake_wr(&rtc_ops, f->r, acc.vp, 1, 1, v, IOBUS_OK);
}

static uint8_t rd(struct fx *f, unsigned idx)
{
	dev_fake_wr(&rtc_ops, f->r, acc.vp, 0, 1, idx, IOBUS_OK);
	return (uint8_t)dev_fake_rd_ok(&rtc_ops, f->r, acc.vp, 1, 1);
}

static void expect_time(struct fx *f, uint8_t cent, uint8_t year, uint8_t mon, uint8_t mday,
			uint8_t wday, uint8_t hour, uint8_t min, uint8_t sec)
{
	assert_int_equal(rd(f, RTC_SEC), sec);
	assert_int_equal(rd(f, RTC_MIN), min);
	assert_int_equal(rd(f, RTC_HOUR), hour);
	assert_int_equal(rd(f, RTC_WDAY), wday);
	assert_int_equal(rd(f, RTC_MDAY), mday);
	assert_int_equal(rd(f, RTC_MON), mon);
	assert_int_equal(rd(f, RTC_YEAR), year);
	assert_int_equal(rd(f, RTC_CENTURY), cent);
}

/* ---- time registers ---- */

static void test_defaults(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rd(f, RTC_REG_A), 0x26);
	assert_int_equal(rd(f, RTC_REG_B), 0x02);
	assert_int_equal(rd(f, RTC_REG_C), 0x00);
	assert_int_equal(rd(f, RTC_REG_D), 0x80);
	assert_false(rtc_nmi_masked(f->r));
	assert_false(f->line.level);
}

static void test_time_bcd(void **state)
{
	struct fx *f = *state;
	expect_time(f, 0x20, 0x26, 0x12, 0x06, 0x01, 0x05, 0x59, 0x08);
	vclock_advance(f->fake.clock, 52 * NS - 1);
	assert_int_equal(rd(f, RTC_SEC), 0x59);
	vclock_advance(f->fake.clock, 1);
	expect_time(f, 0x20, 0x26, 0x12, 0x06, 0x01, 0x06, 0x00, 0x00);
}

static void test_time_binary(void **state)
{
	struct fx *f = *state;
	wr(f, RTC_REG_B, RTC_B_24H | RTC_B_DM);
	expect_time(f, 20, 26, 12, 6, 1, 5, 59, 8);
}

static void test_time_12h(void **state)
{
	struct fx *f = *state;
	wr(f, RTC_REG_B, 0x00); /* BCD, 12 h */
	assert_int_equal(rd(f, RTC_HOUR), 0x05);
	/* 17:59:08 -> 5 PM */
	vclock_advance(f->fake.clock, 12 * 3600 * NS);
	assert_int_equal(rd(f, RTC_HOUR), 0x85);
	wr(f, RTC_REG_B, RTC_B_DM); /* binary, 12 h */
	assert_int_equal(rd(f, RTC_HOUR), 0x85);
	/* 00:00:08 next day -> 12 AM */
	vclock_advance(f->fake.clock, (6 * 3600 + 60) * NS);
	assert_int_equal(rd(f, RTC_MIN), 0);
	assert_int_equal(rd(f, RTC_HOUR), 12);
	assert_int_equal(rd(f, RTC_MDAY), 7);
	assert_int_equal(rd(f, RTC_WDAY), 2);
	/* 12:00:08 -> 12 PM */
	vclock_advance(f->fake.clock, 12 * 3600 * NS);
	assert_int_equal(rd(f, RTC_HOUR), 0x8C);
	wr(f, RTC_REG_B, 0x00);
	assert_int_equal(rd(f, RTC_HOUR), 0x92);
}

static void test_set_time(void **state)
{
	struct fx *f = *state;
	wr(f, RTC_REG_B, RTC_B_SET | RTC_B_24H);
	/* 1999-01-31 23:59:30, a Sunday */
	wr(f, RTC_SEC, 0x30);
	wr(f, RTC_MIN, 0x59);
	wr(f, RTC_HOUR, 0x23);
	wr(f, RTC_WDAY, 0x01);
	wr(f, RTC_MDAY, 0x31);
	wr(f, RTC_MON, 0x01);
	wr(f, RTC_YEAR, 0x99);
	wr(f, RTC_CENTURY, 0x19);
	/* Held while SET. */
	vclock_advance(f->fake.clock, 5 * NS);
	expect_time(f, 0x19, 0x99, 0x01, 0x31, 0x01, 0x23, 0x59, 0x30);
	assert_int_equal(rd(f, RTC_REG_A) & RTC_A_UIP, 0);
	wr(f, RTC_REG_B, RTC_B_24H);
	vclock_advance(f->fake.clock, 2 * NS);
	expect_time(f, 0x19, 0x99, 0x01, 0x31, 0x01, 0x23, 0x59, 0x32);
	vclock_advance(f->fake.clock, 28 * NS);
	expect_time(f, 0x19, 0x99, 0x02, 0x01, 0x02, 0x00, 0x00, 0x00);
	/* Across the century. */
	wr(f, RTC_REG_B, RTC_B_SET | RTC_B_24H);
	wr(f, RTC_SEC, 0x59);
	wr(f, RTC_MIN, 0x59);
	wr(f, RTC_HOUR, 0x23);
	wr(f, RTC_MDAY, 0x31);
	wr(f, RTC_MON, 0x12);
	wr(f, RTC_REG_B, RTC_B_24H);
	vclock_advance(f->fake.clock, NS);
	expect_time(f, 0x20, 0x00, 0x01, 0x01, 0x03, 0x00, 0x00, 0x00);
}

/* A write sequence passes through impossible dates (Feb 29 2026) without damage. */
static void test_set_time_intermediate_dates(void **state)
{
	struct fx *f = *state;
	wr(f, RTC_REG_B, RTC_B_SET | RTC_B_24H | RTC_B_DM);
	wr(f, RTC_MDAY, 29);
	wr(f, RTC_MON, 2);
	wr(f, RTC_YEAR, 24);
	wr(f, RTC_REG_B, RTC_B_24H | RTC_B_DM);
	expect_time(f, 20, 24, 2, 29, 1, 5, 59, 8);
	/* A day past the month's end is normalised when counting resumes. */
	wr(f, RTC_REG_B, RTC_B_SET | RTC_B_24H | RTC_B_DM);
	wr(f, RTC_MDAY, 31);
	wr(f, RTC_MON, 4);
	wr(f, RTC_REG_B, RTC_B_24H | RTC_B_DM);
	assert_int_equal(rd(f, RTC_MON), 5);
	assert_int_equal(rd(f, RTC_MDAY), 1);
}

static void test_set_time_12h_and_invalid(void **state)
{
	struct fx *f = *state;
	wr(f, RTC_REG_B, RTC_B_SET); /* BCD, 12 h */
	wr(f, RTC_HOUR, 0x91);      /* 11 PM */
	assert_int_equal(rd(f, RTC_HOUR), 0x91);
	wr(f, RTC_REG_B, RTC_B_SET | RTC_B_24H);
	assert_int_equal(rd(f, RTC_HOUR), 0x23);
	/* Bad BCD digits and out-of-range values are ignored. */
	wr(f, RTC_SEC, 0x5A);
	wr(f, RTC_SEC, 0x60);
	wr(f, RTC_HOUR, 0x24);
	wr(f, RTC_MON, 0x13);
	wr(f, RTC_MON, 0x00);
	wr(f, RTC_MDAY, 0x32);
	wr(f, RTC_WDAY, 0x08);
	wr(f, RTC_CENTURY, 0xA0);
	expect_time(f, 0x20, 0x26, 0x12, 0x06, 0x01, 0x23, 0x59, 0x08);
	/* 12 AM is hour 0, 12 PM hour 12. */
	wr(f, RTC_REG_B, RTC_B_SET);
	wr(f, RTC_HOUR, 0x12);
	wr(f, RTC_REG_B, RTC_B_SET | RTC_B_24H);
	assert_int_equal(rd(f, RTC_HOUR), 0x00);
	wr(f, RTC_REG_B, RTC_B_SET);
	wr(f, RTC_HOUR, 0x92);
	wr(f, RTC_REG_B, RTC_B_SET | RTC_B_24H);
	assert_int_equal(rd(f, RTC_HOUR), 0x12);
	wr(f, RTC_REG_B, RTC_B_SET);
	wr(f, RTC_HOUR, 0x91);
	wr(f, RTC_HOUR, 0x00); /* 12 h mode has no hour 0 */
	wr(f, RTC_HOUR, 0x13);
	assert_int_equal(rd(f, RTC_HOUR), 0x91);
}

/* Writing while the clock counts takes effect at once and keeps the second's phase. */
static void test_write_while_counting(void **state)
{
	struct fx *f = *state;
	vclock_advance(f->fake.clock, NS / 4);
	wr(f, RTC_MIN, 0x10);
	assert_int_equal(rd(f, RTC_MIN), 0x10);
	assert_int_equal(rd(f, RTC_SEC), 0x08);
	vclock_advance(f->fake.clock, 3 * NS / 4 - 1);
	assert_int_equal(rd(f, RTC_SEC), 0x08);
	vclock_advance(f->fake.clock, 1);
	assert_int_equal(rd(f, RTC_SEC), 0x09);
	assert_int_equal(rd(f, RTC_HOUR), 0x05);
}

static void test_uip_window(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rd(f, RTC_REG_A), 0x26);
	vclock_advance(f->fake.clock, NS - RTC_UIP_NS - 1);
	assert_int_equal(rd(f, RTC_REG_A), 0x26);
	vclock_advance(f->fake.clock, 1);
	assert_int_equal(rd(f, RTC_REG_A), 0xA6);
	assert_int_equal(rd(f, RTC_SEC), 0x08);
	vclock_advance(f->fake.clock, RTC_UIP_NS - 1);
	assert_int_equal(rd(f, RTC_REG_A), 0xA6);
	vclock_advance(f->fake.clock, 1);
	assert_int_equal(rd(f, RTC_REG_A), 0x26);
	assert_int_equal(rd(f, RTC_SEC), 0x09);
	/* No UIP while SET. */
	wr(f, RTC_REG_B, RTC_B_SET | RTC_B_24H);
	vclock_advance(f->fake.clock, NS - 1000);
	assert_int_equal(rd(f, RTC_REG_A), 0x26);
}

/* Divider held in reset stops the clock; released, the first update comes 500 ms later. */
static void test_divider(void **state)
{
	struct fx *f = *state;
	vclock_advance(f->fake.clock, NS / 10);
	wr(f, RTC_REG_A, 0x76);
	vclock_advance(f->fake.clock, 3 * NS);
	assert_int_equal(rd(f, RTC_SEC), 0x08);
	assert_int_equal(rd(f, RTC_REG_A), 0x76);
	wr(f, RTC_REG_A, 0x26);
	vclock_advance(f->fake.clock, NS / 2 - 1);
	assert_int_equal(rd(f, RTC_SEC), 0x08);
	vclock_advance(f->fake.clock, 1);
	assert_int_equal(rd(f, RTC_SEC), 0x09);
	vclock_advance(f->fake.clock, NS);
	assert_int_equal(rd(f, RTC_SEC), 0x10);
}

/* Linux's mc146818_set_time: SET, divider reset, time, restore B, restore A. */
static void test_linux_set_sequence(void **state)
{
	struct fx *f = *state;
	uint8_t b = rd(f, RTC_REG_B);
	wr(f, RTC_REG_B, b | RTC_B_SET);
	uint8_t a = rd(f, RTC_REG_A);
	wr(f, RTC_REG_A, a | 0x70);
	wr(f, RTC_YEAR, 0x27);
	wr(f, RTC_MON, 0x03);
	wr(f, RTC_MDAY, 0x15);
	wr(f, RTC_HOUR, 0x10);
	wr(f, RTC_MIN, 0x20);
	wr(f, RTC_SEC, 0x30);
	wr(f, RTC_REG_B, b);
	vclock_advance(f->fake.clock, 2 * NS);
	assert_int_equal(rd(f, RTC_SEC), 0x30);
	wr(f, RTC_REG_A, a);
	vclock_advance(f->fake.clock, NS / 2);
	/* The day of week is its own register: still the Sunday it held. */
	expect_time(f, 0x20, 0x27, 0x03, 0x15, 0x01, 0x10, 0x20, 0x31);
}

/* ---- interrupts ---- */

/* Step through `total` ns in `step` increments reading C after each; count PF flags. */
static unsigned count_pf(struct fx *f, uint64_t step, uint64_t total)
{
	unsigned pf = 0;
	for (uint64_t t = 0; t < total; t += step) {
		vclock_advance(f->fake.clock, step);
		uint8_t c = rd(f, RTC_REG_C);
		if (c & RTC_C_PF)
			pf++;
		assert_false(f->line.level);
	}
	return pf;
}

static void test_periodic_1024(void **state)
{
	struct fx *f = *state;
	wr(f, RTC_REG_B, RTC_B_PIE | RTC_B_24H);
	assert_int_equal(count_pf(f, 100000, NS), 1024);
	assert_int_equal(f->line.rises, 1024);
	assert_int_equal(f->line.falls, 1024);
}

/* The interrupt comes from the timer at the edge itself, not when the guest looks. */
static void test_periodic_on_time(void **state)
{
	struct fx *f = *state;
	wr(f, RTC_REG_B, RTC_B_PIE | RTC_B_24H);
	vclock_advance(f->fake.clock, 976562); /* first 1024 Hz edge: 976562.5 ns */
	assert_int_equal(f->line.rises, 0);
	vclock_advance(f->fake.clock, 1);
	assert_int_equal(f->line.rises, 1);
	assert_int_equal(rd(f, RTC_REG_C), RTC_C_IRQF | RTC_C_PF);
	vclock_advance(f->fake.clock, 976561); /* second edge: exactly 1953125 ns */
	assert_int_equal(f->line.rises, 1);
	vclock_advance(f->fake.clock, 1);
	assert_int_equal(f->line.rises, 2);
}

static void test_periodic_rates(void **state)
{
	struct fx *f = *state;
	wr(f, RTC_REG_B, RTC_B_PIE | RTC_B_24H);
	wr(f, RTC_REG_A, 0x2F); /* 2 Hz */
	assert_int_equal(count_pf(f, 10000000, NS), 2);
	wr(f, RTC_REG_A, 0x21); /* RS 1 = 256 Hz with the 32.768 kHz time base */
	assert_int_equal(count_pf(f, 1000000, NS), 256);
	wr(f, RTC_REG_A, 0x22); /* 128 Hz */
	assert_int_equal(count_pf(f, 1000000, NS), 128);
	wr(f, RTC_REG_A, 0x23); /* 8192 Hz */
	assert_int_equal(count_pf(f, 50000, NS / 4), 2048);
	wr(f, RTC_REG_A, 0x20); /* off */
	assert_int_equal(count_pf(f, 10000000, NS), 0);
	wr(f, RTC_REG_A, 0x06); /* divider stopped: no periodic interrupt either */
	assert_int_equal(count_pf(f, 10000000, NS), 0);
}

/* Without reading C the line rises once and stays high; no timer keeps running. */
static void test_periodic_unacknowledged(void **state)
{
	struct fx *f = *state;
	wr(f, RTC_REG_B, RTC_B_PIE | RTC_B_24H);
	vclock_advance(f->fake.clock, NS);
	assert_int_equal(f->line.rises, 1);
	assert_true(f->line.level);
	assert_int_equal(rd(f, RTC_REG_C), RTC_C_IRQF | RTC_C_PF | RTC_C_UF);
	assert_false(f->line.level);
	assert_int_equal(rd(f, RTC_REG_C), 0);
	/* Disabling PIE while PF is pending drops IRQF. */
	vclock_advance(f->fake.clock, 1000000);
	assert_true(f->line.level);
	wr(f, RTC_REG_B, RTC_B_24H);
	assert_false(f->line.level);
	assert_int_equal(rd(f, RTC_REG_C), RTC_C_PF);
}

/* PF is set even with PIE clear, without an interrupt. */
static void test_flags_without_enable(void **state)
{
	struct fx *f = *state;
	vclock_advance(f->fake.clock, 1000000);
	assert_int_equal(rd(f, RTC_REG_C), RTC_C_PF);
	assert_int_equal(rd(f, RTC_REG_C), 0);
	vclock_advance(f->fake.clock, NS);
	assert_int_equal(rd(f, RTC_REG_C), RTC_C_PF | RTC_C_UF);
	assert_int_equal(f->line.rises, 0);
	/* Enabling UIE with UF pending raises IRQF at once. */
	vclock_advance(f->fake.clock, NS);
	wr(f, RTC_REG_B, RTC_B_UIE | RTC_B_24H);
	assert_true(f->line.level);
	assert_int_equal(rtc_nvram_get(f->r, RTC_REG_C), RTC_C_IRQF | RTC_C_PF | RTC_C_UF);
	assert_true(f->line.level); /* rtc_nvram_get does not clear C */
	assert_int_equal(rd(f, RTC_REG_C), RTC_C_IRQF | RTC_C_PF | RTC_C_UF);
	assert_false(f->line.level);
}

static void test_update_interrupt(void **state)
{
	struct fx *f = *state;
	wr(f, RTC_REG_A, 0x20); /* no periodic flags, to see UF alone */
	wr(f, RTC_REG_B, RTC_B_UIE | RTC_B_24H);
	for (unsigned i = 1; i <= 3; i++) {
		vclock_advance(f->fake.clock, NS - 1);
		assert_int_equal(f->line.rises, i - 1);
		vclock_advance(f->fake.clock, 1);
		assert_int_equal(f->line.rises, i);
		assert_int_equal(rd(f, RTC_REG_C), RTC_C_IRQF | RTC_C_UF);
		assert_int_equal(rd(f, RTC_REG_C), 0);
		assert_false(f->line.level);
	}
	assert_int_equal(rd(f, RTC_SEC), 0x11);
	/* SET going high clears UIE, and no update happens while SET. */
	wr(f, RTC_REG_B, RTC_B_SET | RTC_B_UIE | RTC_B_24H);
	assert_int_equal(rd(f, RTC_REG_B), RTC_B_SET | RTC_B_24H);
	wr(f, RTC_REG_B, RTC_B_SET | RTC_B_UIE | RTC_B_24H);
	assert_int_equal(rd(f, RTC_REG_B), RTC_B_SET | RTC_B_UIE | RTC_B_24H);
	vclock_advance(f->fake.clock, 3 * NS);
	assert_int_equal(rd(f, RTC_REG_C), 0);
	assert_int_equal(f->line.rises, 3);
}

static void test_alarm(void **state)
{
	struct fx *f = *state;
	wr(f, RTC_REG_A, 0x20);
	wr(f, RTC_SEC_ALARM, 0x00);
	wr(f, RTC_MIN_ALARM, 0x00);
	wr(f, RTC_HOUR_ALARM, 0x06);
	wr(f, RTC_REG_B, RTC_B_AIE | RTC_B_24H);
	assert_int_equal(rd(f, RTC_HOUR_ALARM), 0x06);
	vclock_advance(f->fake.clock, 52 * NS - 1);
	assert_int_equal(f->line.rises, 0);
	vclock_advance(f->fake.clock, 1);
	assert_int_equal(f->line.rises, 1);
	assert_int_equal(rd(f, RTC_REG_C), RTC_C_IRQF | RTC_C_AF | RTC_C_UF);
	/* Next match a day later. */
	vclock_advance(f->fake.clock, 86400 * NS - 1);
	assert_int_equal(f->line.rises, 1);
	vclock_advance(f->fake.clock, 1);
	assert_int_equal(f->line.rises, 2);
	assert_int_equal(rd(f, RTC_REG_C), RTC_C_IRQF | RTC_C_AF | RTC_C_UF);
}

static void test_alarm_dont_care(void **state)
{
	struct fx *f = *state;
	wr(f, RTC_REG_A, 0x20);
	wr(f, RTC_SEC_ALARM, 0x30);
	wr(f, RTC_MIN_ALARM, 0xC0);
	wr(f, RTC_HOUR_ALARM, 0xFF);
	wr(f, RTC_REG_B, RTC_B_AIE | RTC_B_24H);
	/* Every minute at :30: 05:59:30, then 06:00:30. */
	vclock_advance(f->fake.clock, 22 * NS - 1);
	assert_int_equal(f->line.rises, 0);
	vclock_advance(f->fake.clock, 1);
	assert_int_equal(f->line.rises, 1);
	assert_int_equal(rd(f, RTC_REG_C), RTC_C_IRQF | RTC_C_AF | RTC_C_UF);
	vclock_advance(f->fake.clock, 60 * NS);
	assert_int_equal(f->line.rises, 2);
	assert_int_equal(rd(f, RTC_MIN), 0x00);
	assert_int_equal(rd(f, RTC_SEC), 0x30);
	assert_int_equal(rd(f, RTC_REG_C), RTC_C_IRQF | RTC_C_AF | RTC_C_UF);
	/* All three don't care: every second. */
	wr(f, RTC_SEC_ALARM, 0xC0);
	vclock_advance(f->fake.clock, NS);
	assert_int_equal(f->line.rises, 3);
	assert_int_equal(rd(f, RTC_REG_C), RTC_C_IRQF | RTC_C_AF | RTC_C_UF);
	/* An impossible alarm never fires. */
	wr(f, RTC_SEC_ALARM, 0x61);
	vclock_advance(f->fake.clock, 2 * 86400 * NS);
	assert_int_equal(f->line.rises, 3);
	assert_int_equal(rd(f, RTC_REG_C), RTC_C_UF);
}

/* AF is tracked lazily even with AIE clear, over a long gap. */
static void test_alarm_flag_lazy(void **state)
{
	struct fx *f = *state;
	wr(f, RTC_SEC_ALARM, 0x00);
	wr(f, RTC_MIN_ALARM, 0x30);
	wr(f, RTC_HOUR_ALARM, 0x03);
	vclock_advance(f->fake.clock, 3600 * NS);
	assert_int_equal(rd(f, RTC_REG_C) & RTC_C_AF, 0);
	vclock_advance(f->fake.clock, 22 * 3600 * NS);
	assert_int_equal(rd(f, RTC_REG_C), RTC_C_PF | RTC_C_AF | RTC_C_UF);
	assert_int_equal(f->line.rises, 0);
}

static void test_alarm_12h(void **state)
{
	struct fx *f = *state;
	wr(f, RTC_REG_A, 0x20);
	wr(f, RTC_REG_B, RTC_B_AIE); /* BCD, 12 h */
	wr(f, RTC_SEC_ALARM, 0x00);
	wr(f, RTC_MIN_ALARM, 0x00);
	wr(f, RTC_HOUR_ALARM, 0x86); /* 6 PM */
	vclock_advance(f->fake.clock, 12 * 3600 * NS + 52 * NS - 1);
	assert_int_equal(f->line.rises, 0);
	vclock_advance(f->fake.clock, 1);
	assert_int_equal(f->line.rises, 1);
	assert_int_equal(rd(f, RTC_HOUR), 0x86);
}

/* ---- NVRAM, ports ---- */

static void test_nvram(void **state)
{
	struct fx *f = *state;
	for (unsigned i = RTC_NVRAM_FIRST; i < RTC_NVRAM_SIZE; i++)
		if (i != RTC_CENTURY)
			wr(f, i, (uint8_t)(i * 7 + 3));
	for (unsigned i = RTC_NVRAM_FIRST; i < RTC_NVRAM_SIZE; i++)
		if (i != RTC_CENTURY) {
			assert_int_equal(rd(f, i), (uint8_t)(i * 7 + 3));
			assert_int_equal(rtc_nvram_get(f->r, i), (uint8_t)(i * 7 + 3));
		}
	assert_int_equal(rtc_nvram_set(f->r, 0x40, 0x5A), 0);
	assert_int_equal(rd(f, 0x40), 0x5A);
	assert_int_equal(rtc_nvram_set(f->r, 13, 0), -EINVAL);
	assert_int_equal(rtc_nvram_set(f->r, 0, 0), -EINVAL);
	assert_int_equal(rtc_nvram_set(f->r, 128, 0), -EINVAL);
	assert_int_equal(rtc_nvram_set(NULL, 14, 0), -EINVAL);
	assert_int_equal(rtc_nvram_get(f->r, 128), 0xFF);
	assert_int_equal(rtc_nvram_get(NULL, 14), 0xFF);
	/* The century byte through the host interface. */
	assert_int_equal(rtc_nvram_set(f->r, RTC_CENTURY, 0x21), 0);
	assert_int_equal(rd(f, RTC_CENTURY), 0x21);
	assert_int_equal(rd(f, RTC_YEAR), 0x26);
	assert_int_equal(rtc_nvram_set(f->r, RTC_CENTURY, 0xAA), -EINVAL);
	assert_int_equal(rtc_nvram_get(f->r, RTC_SEC), 0x08);
	assert_int_equal(rtc_nvram_get(f->r, RTC_REG_D), 0x80);
	/* D and C are read-only. */
	wr(f, RTC_REG_D, 0x00);
	assert_int_equal(rd(f, RTC_REG_D), 0x80);
	wr(f, RTC_REG_D, 0xFF);
	assert_int_equal(rd(f, RTC_REG_D), 0x80);
	wr(f, RTC_REG_C, 0xFF);
	assert_int_equal(rd(f, RTC_REG_C), 0x00);
	/* A's UIP bit is read-only. */
	wr(f, RTC_REG_A, 0xA6);
	assert_int_equal(rd(f, RTC_REG_A), 0x26);
}

static void test_index_port(void **state)
{
	struct fx *f = *state;
	uint64_t v;
	wr(f, 0x20, 0x42);
	/* Bit 7 is the NMI mask; the index is bits 6:0. */
	assert_int_equal(rtc_ops.write(f->r, &acc, 0, 1, 0xA0), IOBUS_OK);
	assert_true(rtc_nmi_masked(f->r));
	assert_int_equal(rtc_ops.read(f->r, &acc, 1, 1, &v), IOBUS_OK);
	assert_int_equal(v, 0x42);
	assert_int_equal(rtc_ops.write(f->r, &acc, 1, 1, 0x43), IOBUS_OK);
	assert_int_equal(rtc_nvram_get(f->r, 0x20), 0x43);
	assert_int_equal(rtc_ops.write(f->r, &acc, 0, 1, 0x20), IOBUS_OK);
	assert_false(rtc_nmi_masked(f->r));
	/* The index port reads 0xFF. */
	assert_int_equal(rtc_ops.read(f->r, &acc, 0, 1, &v), IOBUS_OK);
	assert_int_equal(v, 0xFF);
	/* A 16-bit write sets index (AL) and data (AH); a 16-bit read is 0xFF then data. */
	assert_int_equal(rtc_ops.write(f->r, &acc, 0, 2, 0x9921), IOBUS_OK);
	assert_int_equal(rtc_nvram_get(f->r, 0x21), 0x99);
	assert_int_equal(rtc_ops.read(f->r, &acc, 0, 2, &v), IOBUS_OK);
	assert_int_equal(v, 0x99FF);
	assert_int_equal(rtc_ops.read(f->r, &acc, 0, 4, &v), IOBUS_OK);
	assert_int_equal(v, 0xFFFF99FF);
	assert_int_equal(rtc_ops.read(f->r, &acc, 1, 2, &v), IOBUS_OK);
	assert_int_equal(v, 0xFF99);
	/* A 32-bit write: index, data, two dropped bytes. */
	assert_int_equal(rtc_ops.write(f->r, &acc, 0, 4, 0x12345522), IOBUS_OK);
	assert_int_equal(rtc_nvram_get(f->r, 0x22), 0x55);
	assert_int_equal(rtc_nvram_get(f->r, 0x34), 0x00);
	/* Size 8 and odd sizes are not decoded. */
	assert_int_equal(rtc_ops.read(f->r, &acc, 0, 8, &v), IOBUS_BAD_REGISTER);
	assert_int_equal(rtc_ops.write(f->r, &acc, 0, 3, 0), IOBUS_BAD_REGISTER);
}

static void test_on_iobus(void **state)
{
	struct fx *f = *state;
	struct iobus *bus;
	uint64_t v;
	assert_int_equal(iobus_create(&bus), 0);
	assert_int_equal(iobus_register(bus, IOBUS_PIO, RTC_PORT, RTC_PORT_LEN, &rtc_ops, f->r,
					"rtc"),
			 0);
	iobus_freeze(bus);
	assert_int_equal(iobus_write(bus, NULL, IOBUS_PIO, 0x70, 1, &acc, RTC_MDAY), IOBUS_OK);
	assert_int_equal(iobus_read(bus, NULL, IOBUS_PIO, 0x71, 1, &acc, &v), IOBUS_OK);
	assert_int_equal(v, 0x06);
	assert_int_equal(iobus_write(bus, NULL, IOBUS_PIO, 0x70, 2, &acc, 0x3330), IOBUS_OK);
	assert_int_equal(rtc_nvram_get(f->r, 0x30), 0x33);
	iobus_destroy(bus);
}

/* Every offset and width, every index, junk values: defined answers, no crash, no flood. */
static void test_hostile(void **state)
{
	struct fx *f = *state;
	uint64_t seed = 0x9E3779B97F4A7C15ull;
	for (unsigned round = 0; round < 20000; round++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		uint64_t off = seed % 6, v = 0x1234;
		unsigned size = (unsigned)(seed >> 8) % 9;
		enum iobus_action act;
		if (seed & 0x100000) {
			act = rtc_ops.read(f->r, &acc, off, size, &v);
			if (act == IOBUS_OK)
				assert_true(size == 8 || v <= iobus_ones(size));
		} else {
			act = rtc_ops.write(f->r, &acc, off, size, seed >> 24);
		}
		bool valid = size == 1 || size == 2 || size == 4;
		assert_int_equal(act, valid ? IOBUS_OK : IOBUS_BAD_REGISTER);
		if ((round & 63) == 0)
			vclock_advance(f->fake.clock, (seed >> 40) % (3 * NS));
	}
	/* Every register with every value. */
	for (unsigned idx = 0; idx < 256; idx++)
		for (unsigned val = 0; val < 256; val += 5)
			wr(f, idx, (uint8_t)val);
	/* Whatever the guest left, a long idle stretch raises the line at most once. */
	rd(f, RTC_REG_C);
	unsigned rises = f->line.rises;
	vclock_advance(f->fake.clock, 3 * 86400 * NS);
	assert_true(f->line.rises <= rises + 1);
	/* The device still works. */
	wr(f, RTC_REG_A, 0x26);
	wr(f, RTC_REG_B, RTC_B_SET | RTC_B_24H);
	wr(f, RTC_SEC, 0x00);
	wr(f, RTC_REG_B, RTC_B_24H);
	vclock_advance(f->fake.clock, 3 * NS);
	assert_int_equal(rd(f, RTC_SEC), 0x03);
	assert_int_equal(rd(f, RTC_REG_D), 0x80);
}

static void test_create_errors(void **state)
{
	struct fx *f = *state;
	struct rtc *r = NULL;
	struct devctx none = { 0 };
	struct irq_line irq = { 0 };
	assert_int_equal(rtc_create(NULL, irq, &r), -EINVAL);
	assert_int_equal(rtc_create(&none, irq, &r), -EINVAL);
	assert_int_equal(rtc_create(&f->fake.dc, irq, NULL), -EINVAL);
	/* An unwired line is fine. */
	assert_int_equal(rtc_create(&f->fake.dc, irq, &r), 0);
	assert_int_equal(rtc_ops.write(r, &acc, 0, 2, (RTC_B_PIE | RTC_B_24H) << 8 | RTC_REG_B),
			 IOBUS_OK);
	vclock_advance(f->fake.clock, NS);
	rtc_destroy(r);
	rtc_destroy(NULL);
	assert_false(rtc_nmi_masked(NULL));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_defaults),
		T(test_time_bcd),
		T(test_time_binary),
		T(test_time_12h),
		T(test_set_time),
		T(test_set_time_intermediate_dates),
		T(test_set_time_12h_and_invalid),
		T(test_write_while_counting),
		T(test_uip_window),
		T(test_divider),
		T(test_linux_set_sequence),
		T(test_periodic_1024),
		T(test_periodic_on_time),
		T(test_periodic_rates),
		T(test_periodic_unacknowledged),
		T(test_flags_without_enable),
		T(test_update_interrupt),
		T(test_alarm),
		T(test_alarm_dont_care),
		T(test_alarm_flag_lazy),
		T(test_alarm_12h),
		T(test_nvram),
		T(test_index_port),
		T(test_on_iobus),
		T(test_hostile),
		T(test_create_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
