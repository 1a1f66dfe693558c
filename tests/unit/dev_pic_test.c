/*
 * dev_pic_test: the 8259A pair + ELCR at register level, through pic_*_ops (and once through
 * the iobus), with a fake sink recording every delivered message.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "devices/pic.h"
#include "tests/unit/dev_fake.h"
#include "vtl2/iobus.h"

struct fx {
	struct dev_fake fake;
	struct pic *p;
};

static int setup(void **state)
{
	struct fx *f = test_calloc(1, sizeof(*f));

	dev_fake_init(&f->fake);
	assert_int_equal(pic_create(&f->fake.dc, &f->p), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	pic_destroy(f->p);
	dev_fake_fini(&f->fake);
	test_free(f);
	return 0;
}

static const struct iobus_access vp0 = { .vp = 0 };

/* Port -> (ops, offset). */
static const struct iobus_ops *port_ops(uint16_t port, uint64_t *off)
{
	if (port == 0x20 || port == 0x21) {
		*off = port - 0x20u;
		return &pic_master_ops;
	}
	if (port == 0xA0 || port == 0xA1) {
		*off = port - 0xA0u;
		return &pic_slave_ops;
	}
	*off = port - 0x4D0u;
	return &pic_elcr_ops;
}

static uint8_t in8(struct fx *f, uint16_t port)
{
	uint64_t off;
	const struct iobus_ops *ops = port_ops(port, &off);

	return (uint8_t)dev_fake_rd_ok(ops, f->p, vp0.vp, off, 1);
}

static void out8(struct fx *f, uint16_t port, uint8_t val)
{
	uint64_t off;
	const struct iobus_ops *ops = port_ops(port, &off);

	dev_fake_wr(ops, f->p, vp0.vp, off, 1, val, IOBUS_OK);
}

static void line(struct fx *f, unsigned irq, bool level)
{
	struct irq_line l = pic_line(f->p, irq);

	irq_line_set(&l, level);
}

static void pulse(struct fx *f, unsigned irq)
{
	struct irq_line l = pic_line(f->p, irq);

	irq_line_pulse(&l);
}

/* OCW3 read select then read. */
static uint8_t read_isr(struct fx *f, uint16_t cmd)
{
	out8(f, cmd, 0x0B);
	uint8_t v = in8(f, cmd);
	out8(f, cmd, 0x0A);
	return v;
}

static uint8_t read_irr(struct fx *f, uint16_t cmd)
{
	out8(f, cmd, 0x0A);
	return in8(f, cmd);
}

static void init_pair(struct fx *f, uint8_t icw1, uint8_t mbase, uint8_t sbase, uint8_t micw4,
		      uint8_t sicw4)
{
	out8(f, 0x20, icw1);
	out8(f, 0x21, mbase);
	out8(f, 0x21, 0x04);
	out8(f, 0x21, micw4);
	out8(f, 0xA0, icw1);
	out8(f, 0xA1, sbase);
	out8(f, 0xA1, 0x02);
	out8(f, 0xA1, sicw4);
}

/* Linux 6.1 init_8259A(): mask, ICW1 0x11, bases 0x30/0x38, cascade, ICW4 8086 (+AEOI). */
static void linux_init(struct fx *f, bool aeoi)
{
	out8(f, 0x21, 0xFF);
	out8(f, 0xA1, 0xFF);
	init_pair(f, 0x11, 0x30, 0x38, aeoi ? 0x03 : 0x01, 0x01);
	out8(f, 0x21, 0x00);
	out8(f, 0xA1, 0x00);
}

static void expect_msg(struct fx *f, unsigned i, uint8_t vector)
{
	assert_true(i < f->fake.n);
	assert_int_equal(f->fake.msgs[i].vector, vector);
	assert_int_equal(f->fake.msgs[i].delivery, IRQ_DELIVERY_FIXED);
	assert_false(f->fake.msgs[i].logical);
	assert_false(f->fake.msgs[i].level);
	assert_int_equal(f->fake.msgs[i].dest, 0);
}

static void test_reset_state(void **state)
{
	struct fx *f = *state;

	assert_int_equal(in8(f, 0x21), 0xFF);
	assert_int_equal(in8(f, 0xA1), 0xFF);
	assert_int_equal(in8(f, 0x20), 0x00);
	assert_int_equal(in8(f, 0x4D0), 0x00);
	assert_int_equal(in8(f, 0x4D1), 0x00);
	/* Masked requests are recorded in IRR but not delivered. */
	pulse(f, 1);
	assert_int_equal(in8(f, 0x20), 0x02);
	assert_int_equal(f->fake.n, 0);
	assert_false(pic_int_output(f->p));
	/* The start-up state is a BIOS's: master base 0x08. */
	out8(f, 0x21, 0xFD);
	assert_int_equal(f->fake.n, 1);
	expect_msg(f, 0, 0x09);
	assert_int_equal(pic_intack(f->p), -ENOENT);
}

static void test_linux_probe(void **state)
{
	struct fx *f = *state;

	/* probe_8259A(): slave all masked, master 0xFB, read back. */
	out8(f, 0xA1, 0xFF);
	out8(f, 0x21, 0xFB);
	assert_int_equal(in8(f, 0x21), 0xFB);
	assert_int_equal(in8(f, 0xA1), 0xFF);
	/* ICW1 clears the IMR; a full init leaves it 0 until the OS restores its masks. */
	init_pair(f, 0x11, 0x30, 0x38, 0x01, 0x01);
	assert_int_equal(in8(f, 0x21), 0x00);
	assert_int_equal(in8(f, 0xA1), 0x00);
	out8(f, 0x21, 0xFB);
	out8(f, 0xA1, 0xFF);
	assert_int_equal(in8(f, 0x21), 0xFB);
	assert_int_equal(in8(f, 0xA1), 0xFF);
	assert_int_equal(f->fake.n, 0);
}

static void test_linux_init_edge(void **state)
{
	struct fx *f = *state;

	linux_init(f, false);
	out8(f, 0x21, 0xF9);   /* IRQ 1 and the cascade */
	out8(f, 0xA1, 0xFF);
	pulse(f, 1);
	assert_int_equal(f->fake.n, 1);
	expect_msg(f, 0, 0x31);
	assert_int_equal(read_isr(f, 0x20), 0x02);
	assert_int_equal(read_irr(f, 0x20), 0x00);
	/* A second edge while in service waits in IRR. */
	pulse(f, 1);
	assert_int_equal(f->fake.n, 1);
	assert_int_equal(read_irr(f, 0x20), 0x02);
	out8(f, 0x20, 0x20);   /* non-specific EOI: the waiting request goes out */
	assert_int_equal(f->fake.n, 2);
	expect_msg(f, 1, 0x31);
	assert_int_equal(read_isr(f, 0x20), 0x02);
	assert_int_equal(read_irr(f, 0x20), 0x00);
	out8(f, 0x20, 0x20);
	assert_int_equal(read_isr(f, 0x20), 0x00);
	/* Masked input: no delivery; unmasking delivers the latched edge. */
	pulse(f, 3);
	assert_int_equal(f->fake.n, 2);
	assert_int_equal(read_irr(f, 0x20), 0x08);
	out8(f, 0x21, 0xF1);
	assert_int_equal(f->fake.n, 3);
	expect_msg(f, 2, 0x33);
	struct pic_stats st;
	pic_get_stats(f->p, &st);
	assert_int_equal(st.delivered, 3);
	assert_int_equal(st.spurious, 0);
}

static void test_bios_init_cascade(void **state)
{
	struct fx *f = *state;

	/* SeaBIOS: 0x11, 0x08, 0x04, 0x01 / 0x11, 0x70, 0x02, 0x01. */
	init_pair(f, 0x11, 0x08, 0x70, 0x01, 0x01);
	pulse(f, 0);
	assert_int_equal(f->fake.n, 1);
	expect_msg(f, 0, 0x08);
	out8(f, 0x20, 0x20);
	for (unsigned irq = 8; irq < 16; irq++) {
		if (irq == 8 + 2)
			continue;      /* below, with its own check */
		unsigned before = f->fake.n;
		pulse(f, irq);
		assert_int_equal(f->fake.n, before + 1);
		expect_msg(f, before, (uint8_t)(0x70 + (irq - 8)));
		assert_int_equal(read_isr(f, 0x20), 0x04);
		assert_int_equal(read_isr(f, 0xA0), 1u << (irq - 8));
		out8(f, 0xA0, 0x20);
		out8(f, 0x20, 0x20);
		assert_int_equal(read_isr(f, 0x20), 0x00);
		assert_int_equal(read_isr(f, 0xA0), 0x00);
	}
	pulse(f, 10);
	assert_int_equal(f->fake.n, 9);
	expect_msg(f, 8, 0x72);
}

static void test_cascade_priorities(void **state)
{
	struct fx *f = *state;

	init_pair(f, 0x11, 0x20, 0x28, 0x01, 0x01);
	pulse(f, 12);
	assert_int_equal(f->fake.n, 1);
	expect_msg(f, 0, 0x2C);
	assert_int_equal(read_isr(f, 0x20), 0x04);
	assert_int_equal(read_isr(f, 0xA0), 0x10);
	/* IRQ 3 ranks below the cascade input: blocked. IRQ 1 ranks above: nests. */
	pulse(f, 3);
	assert_int_equal(f->fake.n, 1);
	pulse(f, 1);
	assert_int_equal(f->fake.n, 2);
	expect_msg(f, 1, 0x21);
	assert_int_equal(read_isr(f, 0x20), 0x06);
	/* Slave IRQ 9 ranks above 12 on the slave but the master's IR2 is in service. */
	pulse(f, 9);
	assert_int_equal(f->fake.n, 2);
	out8(f, 0x20, 0x20);   /* ends IRQ 1 */
	assert_int_equal(f->fake.n, 2);
	out8(f, 0x20, 0x62);   /* specific EOI of the cascade: IRQ 9 goes out, not IRQ 3 */
	assert_int_equal(f->fake.n, 3);
	expect_msg(f, 2, 0x29);
	assert_int_equal(read_isr(f, 0xA0), 0x12);
	out8(f, 0xA0, 0x20);   /* ends 9 (the highest) */
	assert_int_equal(read_isr(f, 0xA0), 0x10);
	out8(f, 0xA0, 0x20);
	out8(f, 0x20, 0x20);
	assert_int_equal(f->fake.n, 4);
	expect_msg(f, 3, 0x23);
}

static void test_sfnm(void **state)
{
	struct fx *f = *state;

	/* Master in special fully nested mode: higher slave requests nest through IR2. */
	init_pair(f, 0x11, 0x20, 0x28, 0x11, 0x01);
	pulse(f, 12);
	pulse(f, 9);
	assert_int_equal(f->fake.n, 2);
	expect_msg(f, 0, 0x2C);
	expect_msg(f, 1, 0x29);
	assert_int_equal(read_isr(f, 0xA0), 0x12);
	/* A lower slave request still waits for the slave's own EOI. */
	pulse(f, 14);
	assert_int_equal(f->fake.n, 2);
	out8(f, 0xA0, 0x20);
	out8(f, 0xA0, 0x20);
	assert_int_equal(f->fake.n, 3);
	expect_msg(f, 2, 0x2E);
}

static void test_edge_vs_level_elcr(void **state)
{
	struct fx *f = *state;

	linux_init(f, false);
	out8(f, 0x4D0, 0x20);  /* IRQ 5 level */
	out8(f, 0x4D1, 0x08);  /* IRQ 11 level */
	assert_int_equal(in8(f, 0x4D0), 0x20);
	assert_int_equal(in8(f, 0x4D1), 0x08);
	line(f, 5, true);
	assert_int_equal(f->fake.n, 1);
	expect_msg(f, 0, 0x35);
	out8(f, 0x20, 0x20);   /* EOI with the line still high: requests again */
	assert_int_equal(f->fake.n, 2);
	expect_msg(f, 1, 0x35);
	line(f, 5, false);
	assert_int_equal(read_irr(f, 0x20), 0x00);
	out8(f, 0x20, 0x20);
	assert_int_equal(f->fake.n, 2);
	line(f, 11, true);
	assert_int_equal(f->fake.n, 3);
	expect_msg(f, 2, 0x3B);
	out8(f, 0xA0, 0x20);
	out8(f, 0x20, 0x20);
	assert_int_equal(f->fake.n, 4);
	expect_msg(f, 3, 0x3B);
	line(f, 11, false);
	out8(f, 0xA0, 0x20);
	out8(f, 0x20, 0x20);
	assert_int_equal(f->fake.n, 4);
	/* Edge IRQ 4: held high, EOI does not repeat it; a new edge does. */
	line(f, 4, true);
	assert_int_equal(f->fake.n, 5);
	expect_msg(f, 4, 0x34);
	out8(f, 0x20, 0x20);
	assert_int_equal(f->fake.n, 5);
	line(f, 4, false);
	line(f, 4, true);
	assert_int_equal(f->fake.n, 6);
	expect_msg(f, 5, 0x34);
	out8(f, 0x20, 0x20);
	line(f, 4, false);

	/* IRR of a level input follows the line; of an edge input it latches. */
	pic_set_auto_ack(f->p, false);
	line(f, 5, true);
	assert_int_equal(read_irr(f, 0x20), 0x20);
	line(f, 5, false);
	assert_int_equal(read_irr(f, 0x20), 0x00);
	pulse(f, 6);
	assert_int_equal(read_irr(f, 0x20), 0x40);
	assert_int_equal(f->fake.n, 6);
}

static void test_elcr_forced_bits(void **state)
{
	struct fx *f = *state;
	uint64_t v;

	out8(f, 0x4D0, 0xFF);
	out8(f, 0x4D1, 0xFF);
	assert_int_equal(in8(f, 0x4D0), 0xF8);
	assert_int_equal(in8(f, 0x4D1), 0xDE);
	assert_int_equal(pic_elcr_ops.write(f->p, &vp0, 0, 2, 0x0000), IOBUS_OK);
	assert_int_equal(pic_elcr_ops.read(f->p, &vp0, 0, 2, &v), IOBUS_OK);
	assert_int_equal(v, 0x0000);
	assert_int_equal(pic_elcr_ops.write(f->p, &vp0, 0, 2, 0xA5A5), IOBUS_OK);
	assert_int_equal(pic_elcr_ops.read(f->p, &vp0, 0, 4, &v), IOBUS_OK);
	assert_int_equal(v, 0xFFFF84A0);
	/* IRQ 0 cannot be made level: the timer stays edge. */
	linux_init(f, false);
	line(f, 0, true);
	assert_int_equal(f->fake.n, 1);
	out8(f, 0x20, 0x20);
	assert_int_equal(f->fake.n, 1);
}

static void test_ltim_level(void **state)
{
	struct fx *f = *state;

	out8(f, 0x20, 0x19);   /* ICW1 with LTIM: every master input level */
	out8(f, 0x21, 0x30);
	out8(f, 0x21, 0x04);
	out8(f, 0x21, 0x01);
	line(f, 3, true);
	assert_int_equal(f->fake.n, 1);
	expect_msg(f, 0, 0x33);
	out8(f, 0x20, 0x20);
	assert_int_equal(f->fake.n, 2);
	line(f, 3, false);
	assert_int_equal(read_irr(f, 0x20), 0x00);
	out8(f, 0x20, 0x20);
	assert_int_equal(f->fake.n, 2);
	/* The ELCR reads 0 all along: LTIM is separate. */
	assert_int_equal(in8(f, 0x4D0), 0x00);
}

static void test_priority_order(void **state)
{
	struct fx *f = *state;

	linux_init(f, false);
	pic_set_auto_ack(f->p, false);
	pulse(f, 7);
	pulse(f, 5);
	pulse(f, 3);
	pulse(f, 1);
	pulse(f, 9);
	assert_true(pic_int_output(f->p));
	assert_int_equal(pic_intack(f->p), 0x31);
	out8(f, 0x20, 0x20);
	assert_int_equal(pic_intack(f->p), 0x39);
	out8(f, 0xA0, 0x20);
	out8(f, 0x20, 0x20);
	assert_int_equal(pic_intack(f->p), 0x33);
	out8(f, 0x20, 0x20);
	assert_int_equal(pic_intack(f->p), 0x35);
	/* Nesting: lower priority waits, higher priority interrupts. */
	pulse(f, 6);
	assert_false(pic_int_output(f->p));
	pulse(f, 4);
	assert_true(pic_int_output(f->p));
	assert_int_equal(pic_intack(f->p), 0x34);
	assert_int_equal(read_isr(f, 0x20), 0x30);
	out8(f, 0x20, 0x20);   /* ends 4 */
	assert_int_equal(read_isr(f, 0x20), 0x20);
	out8(f, 0x20, 0x20);   /* ends 5 */
	assert_int_equal(pic_intack(f->p), 0x36);
	out8(f, 0x20, 0x20);
	assert_int_equal(pic_intack(f->p), 0x37);
	out8(f, 0x20, 0x20);
	assert_false(pic_int_output(f->p));
	assert_int_equal(pic_intack(f->p), -ENOENT);
	assert_int_equal(f->fake.n, 0);
}

static void test_rotation(void **state)
{
	struct fx *f = *state;

	linux_init(f, false);
	pic_set_auto_ack(f->p, false);
	out8(f, 0x20, 0xC4);   /* set priority: IRQ 4 lowest, IRQ 5 highest */
	pulse(f, 3);
	pulse(f, 6);
	assert_int_equal(pic_intack(f->p), 0x36);
	out8(f, 0x20, 0xE6);   /* rotate on specific EOI 6: order 7, 0, 1, ... 6 */
	pulse(f, 7);
	assert_int_equal(pic_intack(f->p), 0x37);
	out8(f, 0x20, 0x20);
	assert_int_equal(pic_intack(f->p), 0x33);
	out8(f, 0x20, 0xA0);   /* rotate on non-specific EOI: 3 lowest, 4 highest */
	assert_int_equal(read_isr(f, 0x20), 0x00);
	pulse(f, 0);
	pulse(f, 4);
	assert_int_equal(pic_intack(f->p), 0x34);
	out8(f, 0x20, 0x20);
	assert_int_equal(pic_intack(f->p), 0x30);
	out8(f, 0x20, 0x20);
	/* The slave rotates on its own. */
	out8(f, 0xA0, 0xC1);   /* IRQ 9 lowest on the slave */
	pulse(f, 9);
	pulse(f, 15);
	assert_int_equal(pic_intack(f->p), 0x3F);
	out8(f, 0xA0, 0x20);
	out8(f, 0x20, 0x20);
	assert_int_equal(pic_intack(f->p), 0x39);
	assert_int_equal(f->fake.n, 0);
}

static void test_rotate_in_aeoi(void **state)
{
	struct fx *f = *state;

	linux_init(f, true);
	pic_set_auto_ack(f->p, false);
	out8(f, 0x20, 0x80);   /* rotate in AEOI mode */
	pulse(f, 1);
	assert_int_equal(pic_intack(f->p), 0x31);
	assert_int_equal(read_isr(f, 0x20), 0x00);
	/* IRQ 1 is now lowest: 5 ranks above 0. */
	pulse(f, 0);
	pulse(f, 5);
	assert_int_equal(pic_intack(f->p), 0x35);
	assert_int_equal(pic_intack(f->p), 0x30);
	out8(f, 0x20, 0x00);   /* clear rotate in AEOI: priorities stay as left (0 lowest) */
	pulse(f, 0);
	pulse(f, 5);
	assert_int_equal(pic_intack(f->p), 0x35);
	assert_int_equal(pic_intack(f->p), 0x30);
	pulse(f, 0);
	pulse(f, 5);
	assert_int_equal(pic_intack(f->p), 0x35);
}

static void test_specific_eoi(void **state)
{
	struct fx *f = *state;

	linux_init(f, false);
	pulse(f, 5);
	pulse(f, 3);
	assert_int_equal(f->fake.n, 2);
	expect_msg(f, 0, 0x35);
	expect_msg(f, 1, 0x33);
	assert_int_equal(read_isr(f, 0x20), 0x28);
	out8(f, 0x20, 0x65);   /* specific EOI of 5 */
	assert_int_equal(read_isr(f, 0x20), 0x08);
	out8(f, 0x20, 0x65);   /* again: nothing to clear */
	assert_int_equal(read_isr(f, 0x20), 0x08);
	out8(f, 0x20, 0x20);
	assert_int_equal(read_isr(f, 0x20), 0x00);
	/* Non-specific EOI clears the highest in service. */
	pulse(f, 5);
	pulse(f, 3);
	out8(f, 0x20, 0x20);
	assert_int_equal(read_isr(f, 0x20), 0x20);
	out8(f, 0x20, 0x40);   /* OCW2 no-op */
	assert_int_equal(read_isr(f, 0x20), 0x20);
	out8(f, 0x20, 0x20);
	assert_int_equal(read_isr(f, 0x20), 0x00);
	out8(f, 0x20, 0x20);   /* EOI with nothing in service */
	assert_int_equal(read_isr(f, 0x20), 0x00);
	assert_int_equal(f->fake.n, 4);
}

static void test_aeoi(void **state)
{
	struct fx *f = *state;

	linux_init(f, true);
	pulse(f, 1);
	assert_int_equal(read_isr(f, 0x20), 0x00);
	pulse(f, 1);
	assert_int_equal(f->fake.n, 2);
	expect_msg(f, 0, 0x31);
	expect_msg(f, 1, 0x31);
	/* The slave is not in AEOI: its ISR holds, the master's does not. */
	pulse(f, 10);
	assert_int_equal(f->fake.n, 3);
	expect_msg(f, 2, 0x3A);
	assert_int_equal(read_isr(f, 0x20), 0x00);
	assert_int_equal(read_isr(f, 0xA0), 0x04);
	/* A level input in AEOI mode stays pending: one message per state change. */
	out8(f, 0x4D0, 0x20);
	line(f, 5, true);
	assert_int_equal(f->fake.n, 4);
	out8(f, 0x21, 0x00);
	assert_int_equal(f->fake.n, 5);
	(void)in8(f, 0x21);    /* a plain read changes nothing */
	assert_int_equal(f->fake.n, 5);
	out8(f, 0x20, 0x0A);
	assert_int_equal(f->fake.n, 6);
	line(f, 5, false);
	out8(f, 0x21, 0x00);
	assert_int_equal(f->fake.n, 6);
	expect_msg(f, 5, 0x35);
}

static void test_poll(void **state)
{
	struct fx *f = *state;

	linux_init(f, false);
	pic_set_auto_ack(f->p, false);
	out8(f, 0x20, 0x0C);
	assert_int_equal(in8(f, 0x20), 0x00);   /* nothing pending */
	pulse(f, 6);
	pulse(f, 4);
	out8(f, 0x20, 0x0C);
	assert_int_equal(in8(f, 0x20), 0x84);
	assert_int_equal(in8(f, 0x20), 0x40);   /* poll is one read: back to IRR */
	assert_int_equal(read_isr(f, 0x20), 0x10);
	out8(f, 0x20, 0x0C);
	assert_int_equal(in8(f, 0x20), 0x00);   /* 6 is blocked by 4 in service */
	out8(f, 0x20, 0x20);
	out8(f, 0x20, 0x0C);
	assert_int_equal(in8(f, 0x21), 0x86);   /* the poll read works on A0=1 too */
	assert_int_equal(in8(f, 0x21), 0x00);   /* then IMR again */
	out8(f, 0x20, 0x20);
	/* Cascade: the master reports IR2, the slave its own level. */
	pulse(f, 13);
	out8(f, 0x20, 0x0C);
	assert_int_equal(in8(f, 0x20), 0x82);
	out8(f, 0xA0, 0x0C);
	assert_int_equal(in8(f, 0xA0), 0x85);
	assert_int_equal(read_isr(f, 0x20), 0x04);
	assert_int_equal(read_isr(f, 0xA0), 0x20);
	assert_int_equal(f->fake.n, 0);
}

static void test_spurious_irq7(void **state)
{
	struct fx *f = *state;
	struct pic_stats st;

	linux_init(f, false);
	pic_set_auto_ack(f->p, false);
	out8(f, 0x4D0, 0x20);
	line(f, 5, true);
	assert_true(pic_int_output(f->p));
	line(f, 5, false);      /* gone before INTA */
	assert_false(pic_int_output(f->p));
	assert_int_equal(pic_intack(f->p), 0x37);
	assert_int_equal(read_isr(f, 0x20), 0x00);
	assert_int_equal(pic_intack(f->p), -ENOENT);
	/* Masking after INT was raised does the same. */
	pulse(f, 3);
	out8(f, 0x21, 0x08);
	assert_int_equal(pic_intack(f->p), 0x37);
	assert_int_equal(read_isr(f, 0x20), 0x00);
	pic_get_stats(f->p, &st);
	assert_int_equal(st.spurious, 2);
	assert_int_equal(f->fake.n, 0);
}

static void test_spurious_irq15(void **state)
{
	struct fx *f = *state;
	struct pic_stats st;

	linux_init(f, false);
	out8(f, 0x4D1, 0x04);  /* IRQ 10 level */
	out8(f, 0x21, 0x04);   /* cascade input masked */
	line(f, 10, true);
	assert_int_equal(f->fake.n, 0);
	assert_int_equal(read_irr(f, 0x20), 0x04);
	line(f, 10, false);
	assert_int_equal(read_irr(f, 0x20), 0x04);   /* the edge on IR2 stays latched */
	assert_int_equal(read_irr(f, 0xA0), 0x00);
	out8(f, 0x21, 0x00);
	assert_int_equal(f->fake.n, 1);
	expect_msg(f, 0, 0x3F);
	assert_int_equal(read_isr(f, 0x20), 0x04);   /* master IR2 in service */
	assert_int_equal(read_isr(f, 0xA0), 0x00);   /* slave: none */
	pic_get_stats(f->p, &st);
	assert_int_equal(st.spurious, 1);
	out8(f, 0x20, 0x62);
	assert_int_equal(read_isr(f, 0x20), 0x00);
}

static void test_special_mask_mode(void **state)
{
	struct fx *f = *state;

	linux_init(f, false);
	pulse(f, 3);
	assert_int_equal(f->fake.n, 1);
	/* Without SMM a masked in-service level still blocks. */
	out8(f, 0x21, 0x08);
	pulse(f, 5);
	assert_int_equal(f->fake.n, 1);
	out8(f, 0x20, 0x68);   /* ESMM | SMM */
	assert_int_equal(f->fake.n, 2);
	expect_msg(f, 1, 0x35);
	assert_int_equal(read_isr(f, 0x20), 0x28);
	out8(f, 0x20, 0x20);   /* skips masked level 3 */
	assert_int_equal(read_isr(f, 0x20), 0x08);
	out8(f, 0x20, 0x48);   /* leave SMM */
	pulse(f, 6);
	assert_int_equal(f->fake.n, 2);
	out8(f, 0x20, 0x63);
	assert_int_equal(f->fake.n, 3);
	expect_msg(f, 2, 0x36);
	/* OCW3 without ESMM leaves the mode alone. */
	out8(f, 0x20, 0x28);
	out8(f, 0x20, 0x20);
	assert_int_equal(read_isr(f, 0x20), 0x00);
}

static void test_init_variants(void **state)
{
	struct fx *f = *state;

	/* SNGL without IC4: ICW2 only, the next data write is the IMR (MCS-80 mode: the
	 * vector is still base | level). */
	out8(f, 0x20, 0x12);
	assert_false(pic_int_output(f->p));
	out8(f, 0x21, 0x47);
	out8(f, 0x21, 0xFD);
	assert_int_equal(in8(f, 0x21), 0xFD);
	pulse(f, 1);
	assert_int_equal(f->fake.n, 1);
	expect_msg(f, 0, 0x41);
	out8(f, 0x20, 0x20);
	/* Inside the init sequence no INT: a request waits for the end. */
	out8(f, 0x20, 0x11);
	out8(f, 0x21, 0x50);
	pulse(f, 1);
	assert_int_equal(f->fake.n, 1);
	out8(f, 0x21, 0x04);
	assert_int_equal(f->fake.n, 1);
	out8(f, 0x21, 0x01);
	assert_int_equal(f->fake.n, 2);
	expect_msg(f, 1, 0x51);
	/* ICW1 resets the edge sense: a line held high must drop and rise again. */
	out8(f, 0x21, 0xFF);
	line(f, 4, true);
	init_pair(f, 0x11, 0x30, 0x38, 0x01, 0x01);
	assert_int_equal(read_irr(f, 0x20), 0x00);
	assert_int_equal(read_isr(f, 0x20), 0x00);
	assert_int_equal(f->fake.n, 2);
	line(f, 4, false);
	line(f, 4, true);
	assert_int_equal(f->fake.n, 3);
	expect_msg(f, 2, 0x34);
}

static void test_cascade_without_slave(void **state)
{
	struct fx *f = *state;
	struct pic_stats st;

	/* Master says the slave hangs on IR4: nobody drives the vector. */
	out8(f, 0x20, 0x11);
	out8(f, 0x21, 0x30);
	out8(f, 0x21, 0x10);
	out8(f, 0x21, 0x01);
	pulse(f, 4);
	assert_int_equal(f->fake.n, 1);
	expect_msg(f, 0, 0xFF);
	out8(f, 0x20, 0x20);
	/* Slave programmed with id 3: it does not answer for IR2. */
	init_pair(f, 0x11, 0x30, 0x38, 0x01, 0x01);
	out8(f, 0xA0, 0x11);
	out8(f, 0xA1, 0x38);
	out8(f, 0xA1, 0x03);
	out8(f, 0xA1, 0x01);
	pulse(f, 9);
	assert_int_equal(f->fake.n, 2);
	expect_msg(f, 1, 0xFF);
	pic_get_stats(f->p, &st);
	assert_int_equal(st.no_slave, 2);
	/* Master in single mode: IR2 is an ordinary input carrying the slave's INT. The
	 * slave never acknowledged IRQ 9: re-initialise it first. */
	out8(f, 0x20, 0x20);
	out8(f, 0xA0, 0x11);
	out8(f, 0xA1, 0x38);
	out8(f, 0xA1, 0x02);
	out8(f, 0xA1, 0x01);
	out8(f, 0x20, 0x13);
	out8(f, 0x21, 0x60);
	out8(f, 0x21, 0x01);
	pulse(f, 11);
	assert_int_equal(f->fake.n, 3);
	expect_msg(f, 2, 0x62);
	assert_int_equal(read_isr(f, 0xA0), 0x00);   /* the slave was not asked */
	assert_int_equal(read_irr(f, 0xA0), 0x08);
}

static void test_lines(void **state)
{
	struct fx *f = *state;

	linux_init(f, false);
	struct irq_line l = pic_line(f->p, 16);
	assert_null(l.set_level);
	irq_line_set(&l, true);
	l = pic_line(f->p, 1000);
	assert_null(l.set_level);
	l = pic_line(NULL, 1);
	assert_null(l.set_level);
	/* IRQ 2 is the cascade: its line is ignored. */
	pulse(f, 2);
	line(f, 2, true);
	assert_int_equal(read_irr(f, 0x20), 0x00);
	assert_int_equal(f->fake.n, 0);
	l = pic_line(f->p, 15);
	assert_int_equal(l.pin, 15);
	assert_ptr_equal(l.ctl, f->p);
}

static void test_auto_ack_switch_and_sink_error(void **state)
{
	struct fx *f = *state;
	struct pic_stats st;

	linux_init(f, false);
	pic_set_auto_ack(f->p, false);
	pulse(f, 1);
	assert_int_equal(f->fake.n, 0);
	assert_true(pic_int_output(f->p));
	pic_set_auto_ack(f->p, true);
	assert_int_equal(f->fake.n, 1);
	expect_msg(f, 0, 0x31);
	out8(f, 0x20, 0x20);
	f->fake.fail = -EAGAIN;
	pulse(f, 3);
	f->fake.fail = 0;
	pic_get_stats(f->p, &st);
	assert_int_equal(st.sink_errors, 1);
	assert_int_equal(st.delivered, 1);
	assert_int_equal(read_isr(f, 0x20), 0x08);   /* acknowledged regardless */
	assert_int_equal(pic_intack(NULL), -EINVAL);
	assert_false(pic_int_output(NULL));
	assert_int_equal(pic_create(NULL, NULL), -EINVAL);
}

static void test_wide_access(void **state)
{
	struct fx *f = *state;
	uint64_t v;

	linux_init(f, false);
	out8(f, 0x21, 0xA5);
	pic_set_auto_ack(f->p, false);
	pulse(f, 0);
	assert_int_equal(pic_master_ops.read(f->p, &vp0, 0, 2, &v), IOBUS_OK);
	assert_int_equal(v, 0xA501);
	assert_int_equal(pic_master_ops.read(f->p, &vp0, 0, 4, &v), IOBUS_OK);
	assert_int_equal(v, 0xFFFFA501);
	assert_int_equal(pic_master_ops.read(f->p, &vp0, 1, 2, &v), IOBUS_OK);
	assert_int_equal(v, 0xFFA5);
	assert_int_equal(pic_master_ops.read(f->p, &vp0, 0, 8, &v), IOBUS_OK);
	assert_int_equal(v, 0xFFFFFFFFFFFFA501ull);
	/* 16-bit write: AL -> 0x20 (OCW3 read ISR), AH -> 0x21 (IMR). */
	assert_int_equal(pic_master_ops.write(f->p, &vp0, 0, 2, 0x5A0B), IOBUS_OK);
	assert_int_equal(in8(f, 0x21), 0x5A);
	assert_int_equal(in8(f, 0x20), 0x00);   /* ISR selected */
	assert_int_equal(pic_master_ops.read(f->p, &vp0, 0, 0, &v), IOBUS_BAD_REGISTER);
	assert_int_equal(pic_master_ops.read(f->p, &vp0, 0, 9, &v), IOBUS_BAD_REGISTER);
	assert_int_equal(v, ~0ull);
	assert_int_equal(pic_master_ops.write(f->p, &vp0, 0, 9, 0x11), IOBUS_BAD_REGISTER);
	assert_int_equal(in8(f, 0x21), 0x5A);

	/* Through the bus: a dword at 0x20 is split into bytes; 0x22/0x23 are nobody's. */
	struct iobus *bus;
	struct iobus_hint hint = { 0 };
	assert_int_equal(iobus_create(&bus), 0);
	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0x20, 2, &pic_master_ops, f->p, "pic1"), 0);
	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0xA0, 2, &pic_slave_ops, f->p, "pic2"), 0);
	assert_int_equal(iobus_register(bus, IOBUS_PIO, 0x4D0, 2, &pic_elcr_ops, f->p, "elcr"), 0);
	iobus_freeze(bus);
	assert_int_equal(iobus_write(bus, &hint, IOBUS_PIO, 0x21, 1, &vp0, 0x3C), IOBUS_OK);
	assert_int_equal(iobus_read(bus, &hint, IOBUS_PIO, 0xA0, 2, &vp0, &v), IOBUS_OK);
	assert_int_equal(v, 0x0000);
	iobus_read(bus, &hint, IOBUS_PIO, 0x20, 4, &vp0, &v);
	assert_int_equal(v & 0xFFFF, 0x3C00);
	assert_int_equal(iobus_write(bus, &hint, IOBUS_PIO, 0x4D0, 2, &vp0, 0x0820), IOBUS_OK);
	assert_int_equal(iobus_read(bus, &hint, IOBUS_PIO, 0x4D0, 2, &vp0, &v), IOBUS_OK);
	assert_int_equal(v, 0x0820);
	iobus_destroy(bus);
}

static uint64_t lcg(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return *s >> 17;
}

static void test_hostile(void **state)
{
	struct fx *f = *state;
	const struct iobus_ops *ops[] = { &pic_master_ops, &pic_slave_ops, &pic_elcr_ops };
	uint64_t seed = 0x8259;
	uint64_t v;

	/* Every offset x every width, reads and junk writes. */
	for (unsigned o = 0; o < 3; o++) {
		for (uint64_t off = 0; off < 4; off++) {
			for (unsigned size = 0; size <= 9; size++) {
				enum iobus_action want = (size == 0 || size > 8) ?
					IOBUS_BAD_REGISTER : IOBUS_OK;
				assert_int_equal(ops[o]->read(f->p, &vp0, off, size, &v), want);
				if (want == IOBUS_OK && off >= 2)
					assert_int_equal(v, iobus_ones(size));
				assert_int_equal(ops[o]->write(f->p, &vp0, off, size, lcg(&seed)),
						 want);
			}
		}
	}
	/* Offsets far outside the range (only a direct caller can pass them) wrap nowhere. */
	assert_int_equal(pic_master_ops.read(f->p, &vp0, ~0ull, 8, &v), IOBUS_OK);
	assert_int_equal(v, ~0ull);
	assert_int_equal(pic_master_ops.write(f->p, &vp0, ~0ull - 3, 8, 0), IOBUS_OK);
	/* Random programming interleaved with line activity: bounded, no crash. */
	for (unsigned i = 0; i < 200000; i++) {
		unsigned before = f->fake.n;
		uint64_t r = lcg(&seed);
		unsigned o = (unsigned)(r % 3), size = 1u << ((r >> 2) % 4);
		uint64_t off = (r >> 4) % 3;

		switch ((r >> 8) % 6) {
		case 0:
			ops[o]->read(f->p, &vp0, off, size, &v);
			break;
		case 1:
		case 2:
			ops[o]->write(f->p, &vp0, off, size, lcg(&seed));
			break;
		case 3:
			line(f, (unsigned)(r >> 12) % 20, (r >> 20) & 1);
			break;
		case 4:
			(void)pic_intack(f->p);
			break;
		default:
			pic_set_auto_ack(f->p, (r >> 12) & 1);
			break;
		}
		/* 16 sources, each acknowledged at most once per state change; an 8-byte
		 * write is 8 state changes. */
		assert_true(f->fake.n - before <= 16 * 8);
		if (f->fake.n > DEV_FAKE_MAX_MSGS - 200)
			f->fake.n = 0;
	}
	/* Still a working PIC after a clean init. */
	for (unsigned irq = 0; irq < 16; irq++)
		line(f, irq, false);
	pic_set_auto_ack(f->p, true);
	out8(f, 0x4D0, 0);
	out8(f, 0x4D1, 0);
	linux_init(f, false);
	f->fake.n = 0;
	pulse(f, 1);
	out8(f, 0x20, 0x20);   /* IR1 in service would hold off the cascade input */
	pulse(f, 14);
	assert_int_equal(f->fake.n, 2);
	expect_msg(f, 0, 0x31);
	expect_msg(f, 1, 0x3E);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reset_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_linux_probe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_linux_init_edge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bios_init_cascade, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cascade_priorities, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sfnm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edge_vs_level_elcr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_elcr_forced_bits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ltim_level, setup, teardown),
		cmocka_unit_test_setup_teardown(test_priority_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotate_in_aeoi, setup, teardown),
		cmocka_unit_test_setup_teardown(test_specific_eoi, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aeoi, setup, teardown),
		cmocka_unit_test_setup_teardown(test_poll, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spurious_irq7, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spurious_irq15, setup, teardown),
		cmocka_unit_test_setup_teardown(test_special_mask_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_variants, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cascade_without_slave, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auto_ack_switch_and_sink_error, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_wide_access, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
