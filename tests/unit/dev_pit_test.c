/* 8254 PIT and port 0x61 model (devices/pit.c), tested at register level through its ops. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>

#include "devices/pit.h"
#include "tests/unit/dev_fake.h"
#include "vtl2/iobus.h"
#include "vtl2/vclock.h"

#define NS 1000000000ull
enum { CNT0 = 0, CNT1 = 1, CNT2 = 2, CTRL = 3 };

struct fx {
	struct dev_fake fake;
	struct dev_fake_line line;
	struct pit *p;
};

static const struct iobus_access acc = { .vp = 0 };

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	dev_fake_init(&f->fake);
	assert_int_equal(pit_create(&f->fake.dc, dev_fake_irq_line(&f->line, 0), &f->p), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	assert_int_equal(f->line.redundant, 0);
	pit_destroy(f->p);
	dev_fake_fini(&f->fake);
	free(f);
	return 0;
}

static void pw(struct fx *f, unsigned off, uint8_t v)
{
	dev_fake_wr(&pit_ops, f->p, acc.vp, off, 1, v, IOBUS_OK);
}

static uint8_t pr(struct fx *f, unsigned off)
{
	return (uint8_t)dev_fake_rd_ok(&pit_ops, f->p, acc.vp, off, 1);
}

static void p61w(struct fx *f, uint8_t v)
{
	dev_fake_wr(&pit_port61_ops, f->p, acc.vp, 0, 1, v, IOBUS_OK);
}

static uint8_t p61r(struct fx *f)
{
	return (uint8_t)dev_fake_rd(&pit_port61_ops, f->p, acc.vp, 0, 1, IOBUS_OK);
}

static bool out2(struct fx *f)
{
	return p61r(f) & PIT_P61_OUT2;
}

/* Write a two-byte count. */
static void count16(struct fx *f, unsigned cnt, uint16_t v)
{
	pw(f, cnt, (uint8_t)v);
	pw(f, cnt, (uint8_t)(v >> 8));
}

/* Latch and read a two-byte count. */
static uint16_t latched16(struct fx *f, unsigned cnt)
{
	pw(f, CTRL, (uint8_t)(cnt << 6));
	uint16_t lo = pr(f, cnt);
	return (uint16_t)(lo | pr(f, cnt) << 8);
}

static uint8_t status(struct fx *f, unsigned cnt)
{
	pw(f, CTRL, (uint8_t)(0xE0 | 2u << cnt));
	return pr(f, cnt);
}

/* First vclock time at which `t` CLK ticks have passed since creation (at time 0). */
static uint64_t tns(uint64_t t)
{
	return t / PIT_HZ * NS + (t % PIT_HZ * NS + PIT_HZ - 1) / PIT_HZ;
}

/* ---- mode 0 ---- */

static void test_mode0_oneshot(void **state)
{
	struct fx *f = *state;
	pw(f, CTRL, 0x30); /* counter 0, LSB then MSB, mode 0, binary */
	assert_false(f->line.level);
	count16(f, CNT0, 1193);
	assert_int_equal(status(f, CNT0), 0x70); /* OUT 0, null count (loads on next CLK) */
	dev_fake_at(&f->fake, 1000000);           /* tick 1193: 1192 clocks after the load */
	assert_int_equal(latched16(f, CNT0), 1);
	assert_int_equal(status(f, CNT0), 0x30);
	/* OUT rises N + 1 clocks after the write: tick 1194 = 1000685.56 ns. */
	dev_fake_at(&f->fake, 1000685);
	assert_int_equal(f->line.rises, 0);
	dev_fake_at(&f->fake, 1000686);
	assert_int_equal(f->line.rises, 1);
	assert_true(f->line.level);
	assert_int_equal(status(f, CNT0), 0xB0);
	/* The counter wraps and keeps counting; OUT stays high, no more interrupts. */
	dev_fake_at(&f->fake, 2000000); /* tick 2386 */
	assert_int_equal(pr(f, CNT0), 0x58);
	assert_int_equal(pr(f, CNT0), 0xFB); /* 1193 - 2385 mod 65536 = 0xFB58 */
	dev_fake_at(&f->fake, NS);
	assert_int_equal(f->line.rises, 1);
	assert_true(f->line.level);
	/* A new control word drops OUT. */
	pw(f, CTRL, 0x30);
	assert_false(f->line.level);
	count16(f, CNT0, 10);
	vclock_advance(f->fake.clock, tns(12));
	assert_int_equal(f->line.rises, 2);
}

/* Mode 0: the first byte of a two-byte count stops counting and drops OUT. */
static void test_mode0_first_byte_stops(void **state)
{
	struct fx *f = *state;
	pw(f, CTRL, 0x30);
	count16(f, CNT0, 1000);
	dev_fake_at(&f->fake, tns(501));
	assert_int_equal(latched16(f, CNT0), 500);
	pw(f, CNT0, 0x10);
	dev_fake_at(&f->fake, tns(5000));
	assert_int_equal(f->line.rises, 0);
	assert_int_equal(latched16(f, CNT0), 500);
	pw(f, CNT0, 0x00); /* count 0x0010 = 16 from tick 5000: OUT at 5017 */
	dev_fake_at(&f->fake, tns(5017) - 1);
	assert_int_equal(f->line.rises, 0);
	dev_fake_at(&f->fake, tns(5017));
	assert_int_equal(f->line.rises, 1);
	/* Mid-count rewrite: OUT drops at the first byte and rises again for the new count. */
	pw(f, CTRL, 0x30);
	count16(f, CNT0, 100);
	dev_fake_at(&f->fake, tns(5050));
	pw(f, CNT0, 0x20);
	pw(f, CNT0, 0x00);
	dev_fake_at(&f->fake, tns(5050 + 33) - 1);
	assert_int_equal(f->line.rises, 1);
	dev_fake_at(&f->fake, tns(5050 + 33));
	assert_int_equal(f->line.rises, 2);
}

/* ---- periodic modes and IRQ 0 ---- */

static void test_mode2_irq(void **state)
{
	struct fx *f = *state;
	pw(f, CTRL, 0x34); /* counter 0, LSB then MSB, mode 2 */
	assert_true(f->line.level); /* OUT high in mode 2 */
	unsigned base = f->line.rises;
	count16(f, CNT0, 11932);
	dev_fake_at(&f->fake, 5000000); /* tick 5965 */
	assert_int_equal(latched16(f, CNT0), 11932 - 5964);
	assert_int_equal(status(f, CNT0), 0xB4);
	/* OUT low for the one clock with count 1 (tick 11932), edge at reload (tick 11933). */
	dev_fake_at(&f->fake, tns(11932));
	assert_int_equal(status(f, CNT0), 0x34);
	assert_int_equal(latched16(f, CNT0), 1);
	dev_fake_at(&f->fake, tns(11933) - 1);
	assert_int_equal(f->line.rises, base);
	dev_fake_at(&f->fake, tns(11933));
	assert_int_equal(f->line.rises, base + 1);
	assert_true(f->line.level);
	assert_int_equal(latched16(f, CNT0), 11932);
	/* 100 Hz: period 11932 ticks = 10.0001 ms, so 99 edges in 1 s and the 100th at
	   tick 1193201 = 1000015.92 us. */
	dev_fake_at(&f->fake, NS);
	assert_int_equal(f->line.rises, base + 99);
	dev_fake_at(&f->fake, tns(1 + 100 * 11932) - 1);
	assert_int_equal(f->line.rises, base + 99);
	dev_fake_at(&f->fake, tns(1 + 100 * 11932));
	assert_int_equal(f->line.rises, base + 100);
	/* Reload 11931: exactly 100 edges in the next whole second. */
	dev_fake_at(&f->fake, 2 * NS);
	pw(f, CTRL, 0x34);
	count16(f, CNT0, 11931);
	base = f->line.rises;
	dev_fake_at(&f->fake, 3 * NS);
	assert_int_equal(f->line.rises, base + 100);
	assert_true(f->line.level);
}

static void test_mode3_irq(void **state)
{
	struct fx *f = *state;
	pw(f, CTRL, 0x36); /* counter 0, mode 3 */
	unsigned base = f->line.rises;
	count16(f, CNT0, 11932);
	dev_fake_at(&f->fake, NS);
	assert_int_equal(f->line.rises, base + 99);
	dev_fake_at(&f->fake, tns(1 + 100 * 11932));
	assert_int_equal(f->line.rises, base + 100);
	/* Count 0 = 65536: 18.2 Hz, edges at 1 + k * 65536. */
	dev_fake_at(&f->fake, 2 * NS);
	pw(f, CTRL, 0x36);
	count16(f, CNT0, 0);
	base = f->line.rises;
	uint64_t t0 = 2 * PIT_HZ;
	dev_fake_at(&f->fake, tns(t0 + 1 + 65536) - 1);
	assert_int_equal(f->line.rises, base);
	dev_fake_at(&f->fake, tns(t0 + 1 + 65536));
	assert_int_equal(f->line.rises, base + 1);
	dev_fake_at(&f->fake, tns(t0 + 1 + 18 * 65536));
	assert_int_equal(f->line.rises, base + 18);
}

/* A new count in mode 2 takes effect at the next reload. */
static void test_mode2_new_count_at_reload(void **state)
{
	struct fx *f = *state;
	pw(f, CTRL, 0x34);
	count16(f, CNT0, 1000);
	unsigned base = f->line.rises;
	dev_fake_at(&f->fake, tns(301));
	count16(f, CNT0, 500);
	assert_int_equal(status(f, CNT0) & 0x40, 0x40); /* null count until the reload */
	dev_fake_at(&f->fake, tns(1000));
	assert_int_equal(latched16(f, CNT0), 1);
	dev_fake_at(&f->fake, tns(1001));
	assert_int_equal(f->line.rises, base + 1);
	assert_int_equal(latched16(f, CNT0), 500);
	assert_int_equal(status(f, CNT0), 0xB4);
	dev_fake_at(&f->fake, tns(1501) - 1);
	assert_int_equal(f->line.rises, base + 1);
	dev_fake_at(&f->fake, tns(1501));
	assert_int_equal(f->line.rises, base + 2);
	dev_fake_at(&f->fake, tns(2001));
	assert_int_equal(f->line.rises, base + 3);
}

static void test_mode4_strobe(void **state)
{
	struct fx *f = *state;
	pw(f, CTRL, 0x38); /* counter 0, mode 4 */
	assert_true(f->line.level);
	unsigned base = f->line.rises;
	count16(f, CNT0, 100);
	dev_fake_at(&f->fake, tns(100));
	assert_int_equal(status(f, CNT0) & 0x80, 0x80);
	dev_fake_at(&f->fake, tns(101)); /* count 0: OUT low for one clock */
	assert_int_equal(status(f, CNT0) & 0x80, 0x00);
	assert_int_equal(f->line.rises, base);
	dev_fake_at(&f->fake, tns(102));
	assert_int_equal(status(f, CNT0) & 0x80, 0x80);
	assert_int_equal(f->line.rises, base + 1);
	dev_fake_at(&f->fake, NS);
	assert_int_equal(f->line.rises, base + 1);
}

/* A reload of 1 cannot flood: at most one interrupt per 100 us. */
static void test_irq_clamp(void **state)
{
	struct fx *f = *state;
	pw(f, CTRL, 0x34);
	unsigned base = f->line.rises;
	count16(f, CNT0, 1);
	dev_fake_at(&f->fake, NS);
	assert_int_equal(f->line.rises, base + NS / PIT_MIN_IRQ_NS);
	pw(f, CTRL, 0x36);
	count16(f, CNT0, 2);
	base = f->line.rises;
	dev_fake_at(&f->fake, 2 * NS);
	assert_int_equal(f->line.rises, base + NS / PIT_MIN_IRQ_NS);
	/* Mode 1/5 on counter 0 never trigger (GATE tied high): no interrupts. */
	pw(f, CTRL, 0x32);
	count16(f, CNT0, 2);
	base = f->line.rises;
	dev_fake_at(&f->fake, 3 * NS);
	assert_int_equal(f->line.rises, base);
	assert_true(f->line.level);
}

/* ---- counter 2, port 0x61 ---- */

static void test_mode3_out2(void **state)
{
	struct fx *f = *state;
	p61w(f, PIT_P61_GATE2);
	pw(f, CTRL, 0xB6); /* counter 2, mode 3 */
	count16(f, CNT2, 1000);
	dev_fake_at(&f->fake, tns(250));
	assert_true(out2(f));
	assert_int_equal(latched16(f, CNT2), 502);
	dev_fake_at(&f->fake, tns(501));
	assert_false(out2(f));
	dev_fake_at(&f->fake, tns(600));
	assert_false(out2(f));
	assert_int_equal(latched16(f, CNT2), 802);
	dev_fake_at(&f->fake, tns(1001));
	assert_true(out2(f));
	assert_int_equal(latched16(f, CNT2), 1000);
	/* Odd count 5: high 3 clocks, low 2; the count goes N-1 by twos. */
	pw(f, CTRL, 0xB6);
	count16(f, CNT2, 5);
	uint64_t t0 = 1001;
	const bool outs[] = { true, true, true, false, false, true, true, true, false };
	const uint16_t vals[] = { 4, 2, 0, 4, 2, 4, 2, 0, 4 };
	for (unsigned e = 0; e < 9; e++) {
		dev_fake_at(&f->fake, tns(t0 + 1 + e));
		assert_int_equal(out2(f), outs[e]);
		assert_int_equal(latched16(f, CNT2), vals[e]);
	}
	/* GATE low forces OUT high and stops counting; high reloads. */
	dev_fake_at(&f->fake, tns(t0 + 1 + 13)); /* low phase */
	assert_false(out2(f));
	p61w(f, 0);
	assert_true(out2(f));
	uint16_t held = latched16(f, CNT2);
	dev_fake_at(&f->fake, tns(t0 + 100));
	assert_int_equal(latched16(f, CNT2), held);
	p61w(f, PIT_P61_GATE2);
	dev_fake_at(&f->fake, tns(t0 + 101));
	assert_int_equal(latched16(f, CNT2), 4);
}

/* Linux's pit_calibrate_tsc: GATE2 on, speaker off, counter 2 mode 0, poll OUT2. */
static void test_linux_calibration(void **state)
{
	struct fx *f = *state;
	dev_fake_at(&f->fake, 12345);
	uint64_t t0 = 12345ull * PIT_HZ / NS;
	p61w(f, (uint8_t)((p61r(f) & ~PIT_P61_SPKR) | PIT_P61_GATE2));
	pw(f, CTRL, 0xB0);
	count16(f, CNT2, 59659);
	assert_false(out2(f));
	dev_fake_at(&f->fake, tns(t0 + 1 + 59659) - 1);
	assert_false(out2(f));
	dev_fake_at(&f->fake, tns(t0 + 1 + 59659));
	assert_true(out2(f));
	/* Tick 14 + 1 + 59659 = 50.012488 ms: the write came at 12.345 us (tick 14). */
	assert_int_equal(vclock_now(f->fake.clock), 50012488);
}

static void test_gate2_mode0_pause(void **state)
{
	struct fx *f = *state;
	pw(f, CTRL, 0xB0);
	count16(f, CNT2, 100); /* GATE2 low: loaded, not counting */
	dev_fake_at(&f->fake, tns(1000));
	assert_int_equal(latched16(f, CNT2), 100);
	assert_false(out2(f));
	p61w(f, PIT_P61_GATE2);
	dev_fake_at(&f->fake, tns(1040));
	assert_int_equal(latched16(f, CNT2), 60);
	p61w(f, 0); /* pause at 60 */
	dev_fake_at(&f->fake, tns(5000));
	assert_int_equal(latched16(f, CNT2), 60);
	p61w(f, PIT_P61_GATE2);
	dev_fake_at(&f->fake, tns(5059));
	assert_false(out2(f));
	assert_int_equal(latched16(f, CNT2), 1);
	dev_fake_at(&f->fake, tns(5060));
	assert_true(out2(f));
}

static void test_gate2_mode1_and_5(void **state)
{
	struct fx *f = *state;
	pw(f, CTRL, 0xB2); /* counter 2, mode 1 */
	count16(f, CNT2, 50);
	dev_fake_at(&f->fake, tns(100));
	assert_true(out2(f)); /* waits for a trigger */
	p61w(f, PIT_P61_GATE2);
	dev_fake_at(&f->fake, tns(101));
	assert_false(out2(f));
	assert_int_equal(latched16(f, CNT2), 50);
	dev_fake_at(&f->fake, tns(150));
	assert_false(out2(f));
	dev_fake_at(&f->fake, tns(151));
	assert_true(out2(f));
	/* Retrigger mid-count restarts the one-shot. */
	p61w(f, 0);
	p61w(f, PIT_P61_GATE2);
	dev_fake_at(&f->fake, tns(171));
	p61w(f, 0);
	p61w(f, PIT_P61_GATE2); /* retrigger at tick 171: OUT low until 222 */
	dev_fake_at(&f->fake, tns(221));
	assert_false(out2(f));
	dev_fake_at(&f->fake, tns(222));
	assert_true(out2(f));
	/* Mode 5: one low clock at count 0 after the trigger. */
	pw(f, CTRL, 0xBA);
	count16(f, CNT2, 10);
	p61w(f, 0);
	dev_fake_at(&f->fake, tns(300));
	p61w(f, PIT_P61_GATE2);
	dev_fake_at(&f->fake, tns(310));
	assert_true(out2(f));
	dev_fake_at(&f->fake, tns(311));
	assert_false(out2(f));
	dev_fake_at(&f->fake, tns(312));
	assert_true(out2(f));
}

static void test_port61(void **state)
{
	struct fx *f = *state;
	uint64_t v;
	p61w(f, 0x03);
	assert_int_equal(p61r(f), 0x13);
	assert_int_equal(p61r(f), 0x03);
	assert_int_equal(p61r(f), 0x13);
	p61w(f, 0xFF); /* bits 4-7 are not writable */
	assert_int_equal(p61r(f), 0x0F);
	assert_int_equal(p61r(f), 0x1F);
	p61w(f, 0x00);
	/* Wide accesses: only the first byte is port 0x61. */
	assert_int_equal(pit_port61_ops.read(f->p, &acc, 0, 2, &v), IOBUS_OK);
	assert_int_equal(v, 0xFF00);
	assert_int_equal(pit_port61_ops.read(f->p, &acc, 0, 4, &v), IOBUS_OK);
	assert_int_equal(v, 0xFFFFFF10);
	assert_int_equal(pit_port61_ops.read(f->p, &acc, 0, 8, &v), IOBUS_BAD_REGISTER);
	assert_int_equal(pit_port61_ops.write(f->p, &acc, 0, 2, 0xFF01), IOBUS_OK);
	assert_int_equal(p61r(f) & 0x0F, 0x01);
	assert_int_equal(pit_port61_ops.write(f->p, &acc, 0, 3, 0), IOBUS_BAD_REGISTER);
	assert_int_equal(p61r(f) & 0x0F, 0x01);
}

/* ---- latches, status, access modes, BCD ---- */

static void test_latch(void **state)
{
	struct fx *f = *state;
	p61w(f, PIT_P61_GATE2);
	pw(f, CTRL, 0xB4); /* counter 2, mode 2, count 0 = 65536 */
	count16(f, CNT2, 0);
	dev_fake_at(&f->fake, tns(1));
	assert_int_equal(latched16(f, CNT2), 0); /* 65536 reads as 0 */
	dev_fake_at(&f->fake, tns(1001));
	pw(f, CTRL, 0x80); /* latch counter 2 */
	dev_fake_at(&f->fake, tns(2001));
	pw(f, CTRL, 0x80); /* ignored: the first latch is still unread */
	assert_int_equal(pr(f, CNT2), 0x18);
	dev_fake_at(&f->fake, tns(3001));
	assert_int_equal(pr(f, CNT2), 0xFC); /* 65536 - 1000 = 0xFC18 */
	/* Latch released: live reads, LSB then MSB. */
	assert_int_equal(pr(f, CNT2), 0x48);
	assert_int_equal(pr(f, CNT2), 0xF4); /* 65536 - 3000 = 0xF448 */
	/* LSB-only mode: a latch yields one byte. */
	pw(f, CTRL, 0x94);
	pw(f, CNT2, 200);
	dev_fake_at(&f->fake, tns(3001 + 1 + 50));
	pw(f, CTRL, 0x80);
	dev_fake_at(&f->fake, tns(3001 + 1 + 60));
	assert_int_equal(pr(f, CNT2), 150);
	assert_int_equal(pr(f, CNT2), 140);
	/* MSB-only mode: count = value << 8. */
	pw(f, CTRL, 0xA4);
	pw(f, CNT2, 0x02);
	dev_fake_at(&f->fake, tns(3062 + 1 + 12));
	assert_int_equal(pr(f, CNT2), 0x01); /* 512 - 12 = 0x1F4 */
	pw(f, CTRL, 0x80); /* latch 500 ... */
	dev_fake_at(&f->fake, tns(3080));
	pw(f, CTRL, 0xB4); /* ... dropped by a control word, which also stops the counter */
	dev_fake_at(&f->fake, tns(3090));
	assert_int_equal(pr(f, CNT2), 0xEF);
	assert_int_equal(pr(f, CNT2), 0x01); /* CE holds 495 = 0x1EF until a new count */
}

static void test_readback(void **state)
{
	struct fx *f = *state;
	pw(f, CTRL, 0xB6); /* counter 2, LSB/MSB, mode 3 */
	assert_int_equal(status(f, CNT2), 0xF6); /* OUT 1, null count, RW 3, mode 3 */
	assert_int_equal(pr(f, CNT2), 0x00);     /* status released: count (LSB) */
	count16(f, CNT2, 4);                     /* GATE2 low: waits */
	dev_fake_at(&f->fake, tns(10));
	assert_int_equal(status(f, CNT2), 0xF6);
	p61w(f, PIT_P61_GATE2);
	assert_int_equal(status(f, CNT2), 0xF6); /* loads on the next CLK */
	dev_fake_at(&f->fake, tns(11));
	assert_int_equal(status(f, CNT2), 0xB6);
	/* Count and status together: status first, then the count. */
	dev_fake_at(&f->fake, tns(12));
	pw(f, CTRL, 0xC8);
	assert_int_equal(pr(f, CNT2), 0xB6);
	assert_int_equal(pr(f, CNT2), 2);
	assert_int_equal(pr(f, CNT2), 0);
	/* A second status latch before reading is ignored. */
	pw(f, CTRL, 0xE8);
	dev_fake_at(&f->fake, tns(13)); /* low half now */
	pw(f, CTRL, 0xE8);
	assert_int_equal(pr(f, CNT2), 0xB6);
	assert_int_equal(status(f, CNT2), 0x36);
	/* Mode 6 aliases mode 2; the status shows the bits as written. Mode 7 -> 3. */
	pw(f, CTRL, 0x7C);
	assert_int_equal(status(f, CNT1), 0xFC);
	count16(f, CNT1, 10);
	dev_fake_at(&f->fake, tns(13 + 1 + 9));
	assert_int_equal(status(f, CNT1), 0x3C); /* count 1: OUT low */
	assert_int_equal(latched16(f, CNT1), 1);
	pw(f, CTRL, 0x7F); /* mode 7 BCD */
	assert_int_equal(status(f, CNT1), 0xFF);
	/* Read-back of all three counts at once. */
	pw(f, CTRL, 0x30);
	count16(f, CNT0, 0x1234);
	pw(f, CTRL, 0x70);
	count16(f, CNT1, 0x2345);
	pw(f, CTRL, 0xB0);
	count16(f, CNT2, 0x3456);
	dev_fake_at(&f->fake, tns(100));
	pw(f, CTRL, 0xDE);
	dev_fake_at(&f->fake, tns(200));
	const uint16_t want[3] = { 0x1234 - 76, 0x2345 - 76, 0x3456 - 76 };
	for (unsigned i = 0; i < 3; i++) {
		uint16_t lo = pr(f, i);
		assert_int_equal(lo | pr(f, i) << 8, want[i]);
	}
}

static void test_rw_flipflop(void **state)
{
	struct fx *f = *state;
	p61w(f, PIT_P61_GATE2);
	pw(f, CTRL, 0xB0);
	pw(f, CNT2, 0x34);
	pw(f, CNT2, 0x12); /* 0x1234 */
	dev_fake_at(&f->fake, tns(1 + 0x34));
	assert_int_equal(pr(f, CNT2), 0x00);
	assert_int_equal(pr(f, CNT2), 0x12);
	assert_int_equal(pr(f, CNT2), 0x00); /* flip-flop back to LSB */
	/* Reads and writes keep separate flip-flops: a read between the bytes of a write. */
	assert_int_equal(pr(f, CNT2), 0x12);
	pw(f, CNT2, 0x00);                   /* LSB of the new count (stops mode 0) */
	assert_int_equal(pr(f, CNT2), 0x00); /* LSB of the held 0x1200 */
	pw(f, CNT2, 0x01);                   /* MSB: count 0x0100 */
	dev_fake_at(&f->fake, tns(1 + 0x34 + 1 + 0x10));
	assert_int_equal(pr(f, CNT2), 0x00); /* the read flip-flop was at MSB */
	assert_int_equal(pr(f, CNT2), 0xF0);
	/* A control word resets the flip-flops. */
	pw(f, CNT2, 0x55);
	pw(f, CTRL, 0xB0);
	count16(f, CNT2, 0x0200);
	dev_fake_at(&f->fake, tns(1 + 0x34 + 1 + 0x10 + 1));
	assert_int_equal(latched16(f, CNT2), 0x0200);
}

static void test_bcd(void **state)
{
	struct fx *f = *state;
	p61w(f, PIT_P61_GATE2);
	pw(f, CTRL, 0xB1); /* counter 2, mode 0, BCD */
	count16(f, CNT2, 0x1000);
	assert_int_equal(status(f, CNT2), 0x71);
	dev_fake_at(&f->fake, tns(501));
	assert_int_equal(latched16(f, CNT2), 0x0500);
	dev_fake_at(&f->fake, tns(1001));
	assert_true(out2(f));
	dev_fake_at(&f->fake, 1000000); /* tick 1193: 1000 - 1192 wraps to 9808 */
	assert_int_equal(latched16(f, CNT2), 0x9808);
	/* Count 0 in BCD is 10000. */
	pw(f, CTRL, 0xB5);
	count16(f, CNT2, 0);
	dev_fake_at(&f->fake, tns(1194));
	assert_int_equal(latched16(f, CNT2), 0x0000);
	dev_fake_at(&f->fake, tns(1195));
	assert_int_equal(latched16(f, CNT2), 0x9999);
	dev_fake_at(&f->fake, tns(1194 + 10000));
	assert_int_equal(latched16(f, CNT2), 0x0000);
	/* Invalid digits are taken at face value: 0x00FA = 15 * 10 + 10 = 160. */
	pw(f, CTRL, 0xB1);
	count16(f, CNT2, 0x00FA);
	uint64_t t0 = 1194 + 10000;
	dev_fake_at(&f->fake, tns(t0 + 1 + 10));
	assert_int_equal(latched16(f, CNT2), 0x0150);
}

/* ---- hostile accesses ---- */

static void test_hostile(void **state)
{
	struct fx *f = *state;
	uint64_t seed = 0xD1B54A32D192ED03ull;
	for (unsigned round = 0; round < 50000; round++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		uint64_t off = seed % 7, v = 0x1234;
		unsigned size = (unsigned)(seed >> 8) % 9;
		bool p61 = seed & 0x200000;
		const struct iobus_ops *ops = p61 ? &pit_port61_ops : &pit_ops;
		enum iobus_action act;
		if (seed & 0x100000) {
			act = ops->read(f->p, &acc, off, size, &v);
			if (act == IOBUS_OK)
				assert_true(v <= iobus_ones(size));
		} else {
			act = ops->write(f->p, &acc, off, size, seed >> 24);
		}
		bool valid = size == 1 || size == 2 || size == 4;
		assert_int_equal(act, valid ? IOBUS_OK : IOBUS_BAD_REGISTER);
		if ((round & 31) == 0)
			vclock_advance(f->fake.clock, (seed >> 40) % (NS / 10));
	}
	/* Every control word, each followed by junk counts and reads. */
	for (unsigned cw = 0; cw < 256; cw++) {
		pw(f, CTRL, (uint8_t)cw);
		for (unsigned c = 0; c < 3; c++) {
			pw(f, c, (uint8_t)(cw * 37));
			pw(f, c, (uint8_t)(cw * 11));
			pr(f, c);
			pr(f, c);
		}
		p61w(f, (uint8_t)cw);
		vclock_advance(f->fake.clock, 12345);
	}
	/* Whatever was left programmed, interrupts stay within the clamp. */
	unsigned base = f->line.rises;
	vclock_advance(f->fake.clock, NS);
	assert_true(f->line.rises <= base + NS / PIT_MIN_IRQ_NS + 1);
	/* And the device still works. */
	pw(f, CTRL, 0x34);
	count16(f, CNT0, 11931);
	base = f->line.rises;
	vclock_advance(f->fake.clock, NS);
	assert_int_equal(f->line.rises, base + 100);
}

static void test_wide_and_iobus(void **state)
{
	struct fx *f = *state;
	struct iobus *bus;
	uint64_t v;
	assert_int_equal(iobus_create(&bus), 0);
	assert_int_equal(iobus_register(bus, IOBUS_PIO, PIT_PORT, PIT_PORT_LEN, &pit_ops, f->p,
					"pit"),
			 0);
	assert_int_equal(iobus_register(bus, IOBUS_PIO, PIT_PORT61, PIT_PORT61_LEN,
					&pit_port61_ops, f->p, "port61"),
			 0);
	iobus_freeze(bus);
	p61w(f, PIT_P61_GATE2);
	assert_int_equal(iobus_write(bus, NULL, IOBUS_PIO, 0x43, 1, &acc, 0xB0), IOBUS_OK);
	/* A 16-bit write at 0x42 goes to consecutive ports: the LSB to counter 2, then 0x03 to
	   the control port (a latch command for counter 0). */
	assert_int_equal(pit_ops.write(f->p, &acc, 2, 2, 0x0300), IOBUS_OK);
	assert_int_equal(status(f, CNT2), 0x70); /* waiting for the MSB */
	pw(f, CTRL, 0xB0);
	dev_fake_at(&f->fake, tns(10));
	assert_int_equal(iobus_write(bus, NULL, IOBUS_PIO, 0x42, 1, &acc, 0x00), IOBUS_OK);
	assert_int_equal(iobus_write(bus, NULL, IOBUS_PIO, 0x42, 1, &acc, 0x10), IOBUS_OK);
	dev_fake_at(&f->fake, tns(10 + 1 + 0x100));
	assert_int_equal(iobus_read(bus, NULL, IOBUS_PIO, 0x42, 1, &acc, &v), IOBUS_OK);
	assert_int_equal(v, 0x00);
	assert_int_equal(iobus_read(bus, NULL, IOBUS_PIO, 0x42, 1, &acc, &v), IOBUS_OK);
	assert_int_equal(v, 0x0F); /* 0x1000 - 0x100 */
	/* The control word port reads 0xFF; a 32-bit read at 0x40 covers all four ports. */
	assert_int_equal(iobus_read(bus, NULL, IOBUS_PIO, 0x43, 1, &acc, &v), IOBUS_OK);
	assert_int_equal(v, 0xFF);
	assert_int_equal(iobus_read(bus, NULL, IOBUS_PIO, 0x42, 2, &acc, &v), IOBUS_OK);
	assert_int_equal(v, 0xFF00);
	assert_int_equal(pit_ops.read(f->p, &acc, 3, 4, &v), IOBUS_OK);
	assert_int_equal(v, 0xFFFFFFFF);
	assert_int_equal(pit_ops.read(f->p, &acc, 0, 8, &v), IOBUS_BAD_REGISTER);
	assert_int_equal(pit_ops.write(f->p, &acc, 0, 0, 0), IOBUS_BAD_REGISTER);
	assert_int_equal(iobus_read(bus, NULL, IOBUS_PIO, 0x61, 1, &acc, &v), IOBUS_OK);
	assert_int_equal(v & 0x0F, 0x01);
	iobus_destroy(bus);
}

static void test_create_errors(void **state)
{
	struct fx *f = *state;
	struct pit *p = NULL;
	struct devctx none = { 0 };
	struct irq_line irq = { 0 };
	assert_int_equal(pit_create(NULL, irq, &p), -EINVAL);
	assert_int_equal(pit_create(&none, irq, &p), -EINVAL);
	assert_int_equal(pit_create(&f->fake.dc, irq, NULL), -EINVAL);
	/* Unwired line, a timer armed at destroy. */
	assert_int_equal(pit_create(&f->fake.dc, irq, &p), 0);
	assert_int_equal(pit_ops.write(p, &acc, 3, 1, 0x34), IOBUS_OK);
	assert_int_equal(pit_ops.write(p, &acc, 0, 1, 0x10), IOBUS_OK);
	assert_int_equal(pit_ops.write(p, &acc, 0, 1, 0x00), IOBUS_OK);
	vclock_advance(f->fake.clock, NS / 100);
	pit_destroy(p);
	pit_destroy(NULL);
	vclock_advance(f->fake.clock, NS / 100);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_mode0_oneshot),
		T(test_mode0_first_byte_stops),
		T(test_mode2_irq),
		T(test_mode3_irq),
		T(test_mode2_new_count_at_reload),
		T(test_mode4_strobe),
		T(test_irq_clamp),
		T(test_mode3_out2),
		T(test_linux_calibration),
		T(test_gate2_mode0_pause),
		T(test_gate2_mode1_and_5),
		T(test_port61),
		T(test_latch),
		T(test_readback),
		T(test_rw_flipflop),
		T(test_bcd),
		T(test_hostile),
		T(test_wide_and_iobus),
		T(test_create_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
