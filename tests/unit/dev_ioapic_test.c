/*
 * dev_ioapic_test: the IOAPIC at register level through ioapic_ops (and once through the
 * iobus), with a fake sink recording every delivered message.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "devices/ioapic.h"
#include "tests/unit/dev_fake.h"
#include "vtl2/iobus.h"

struct fx {
	struct dev_fake fake;
	struct ioapic *io;
};

static int setup(void **state)
{
	struct fx *f = test_calloc(1, sizeof(*f));

	dev_fake_init(&f->fake);
	assert_int_equal(ioapic_create(&f->fake.dc, 3, &f->io), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	ioapic_destroy(f->io);
	dev_fake_fini(&f->fake);
	test_free(f);
	return 0;
}

static const struct iobus_access vp0 = { .vp = 0 };

static void mmio_w32(struct fx *f, uint64_t off, uint32_t v)
{
	dev_fake_wr(&ioapic_ops, f->io, vp0.vp, off, 4, v, IOBUS_OK);
}

static uint32_t mmio_r32(struct fx *f, uint64_t off)
{
	return (uint32_t)dev_fake_rd_ok(&ioapic_ops, f->io, vp0.vp, off, 4);
}

static uint32_t reg_r(struct fx *f, uint8_t idx)
{
	mmio_w32(f, 0x00, idx);
	return mmio_r32(f, 0x10);
}

static void reg_w(struct fx *f, uint8_t idx, uint32_t v)
{
	mmio_w32(f, 0x00, idx);
	mmio_w32(f, 0x10, v);
}

static void rte_w(struct fx *f, unsigned pin, uint32_t lo, uint32_t hi)
{
	reg_w(f, (uint8_t)(0x11 + 2 * pin), hi);
	reg_w(f, (uint8_t)(0x10 + 2 * pin), lo);
}

static uint32_t rte_lo(struct fx *f, unsigned pin)
{
	return reg_r(f, (uint8_t)(0x10 + 2 * pin));
}

static void line(struct fx *f, unsigned pin, bool level)
{
	struct irq_line l = ioapic_line(f->io, pin);

	irq_line_set(&l, level);
}

static void eoi_cb(struct fx *f, uint8_t vector)
{
	struct irq_eoi e = ioapic_eoi(f->io);

	e.eoi(e.ctx, vector);
}

static void expect_msg(struct fx *f, unsigned i, uint8_t vector, uint8_t mode, bool logical,
		       bool level, uint32_t dest)
{
	assert_true(i < f->fake.n);
	assert_int_equal(f->fake.msgs[i].vector, vector);
	assert_int_equal(f->fake.msgs[i].delivery, mode);
	assert_int_equal(f->fake.msgs[i].logical, logical);
	assert_int_equal(f->fake.msgs[i].level, level);
	assert_int_equal(f->fake.msgs[i].dest, dest);
}

static void test_register_readback(void **state)
{
	struct fx *f = *state;

	assert_int_equal(reg_r(f, 0x00), 0x03000000);
	assert_int_equal(reg_r(f, 0x01), 0x00170020);
	assert_int_equal(reg_r(f, 0x02), 0x03000000);
	reg_w(f, 0x00, 0xFFFFFFFF);
	assert_int_equal(reg_r(f, 0x00), 0x0F000000);
	assert_int_equal(reg_r(f, 0x02), 0x0F000000);   /* ARB follows ID writes */
	reg_w(f, 0x00, 0x05000000);
	assert_int_equal(reg_r(f, 0x00), 0x05000000);
	reg_w(f, 0x01, 0);
	reg_w(f, 0x02, 0x0A000000);
	assert_int_equal(reg_r(f, 0x01), 0x00170020);
	assert_int_equal(reg_r(f, 0x02), 0x05000000);
	/* IOREGSEL keeps 8 bits. */
	mmio_w32(f, 0x00, 0x12345601);
	assert_int_equal(mmio_r32(f, 0x00), 0x01);
	assert_int_equal(mmio_r32(f, 0x10), 0x00170020);
	/* Reset entries: masked, everything else 0. */
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++) {
		assert_int_equal(reg_r(f, (uint8_t)(0x10 + 2 * pin)), 0x00010000);
		assert_int_equal(reg_r(f, (uint8_t)(0x11 + 2 * pin)), 0x00000000);
	}
	/* RO and reserved bits stay 0; the last entry (0x3E/0x3F) decodes. */
	reg_w(f, 0x3E, 0xFFFFFFFF);
	reg_w(f, 0x3F, 0xFFFFFFFF);
	assert_int_equal(reg_r(f, 0x3E), 0x0001AFFF);
	assert_int_equal(reg_r(f, 0x3F), 0xFF000000);
	reg_w(f, 0x3E, 0x00005000);   /* delivery status and Remote IRR: read-only */
	assert_int_equal(reg_r(f, 0x3E), 0x00000000);
	reg_w(f, 0x10, 0x0001A5C3);
	reg_w(f, 0x11, 0x5A00FFFF);
	assert_int_equal(reg_r(f, 0x10), 0x0001A5C3);
	assert_int_equal(reg_r(f, 0x11), 0x5A000000);
	assert_int_equal(reg_r(f, 0x12), 0x00010000);   /* pin 1 untouched */
	/* Unimplemented indexes read 0 and ignore writes. */
	const uint8_t junk[] = { 0x03, 0x0F, 0x40, 0x41, 0x80, 0xFF };
	for (unsigned i = 0; i < sizeof(junk); i++) {
		reg_w(f, junk[i], 0xFFFFFFFF);
		assert_int_equal(reg_r(f, junk[i]), 0);
	}
	assert_int_equal(reg_r(f, 0x01), 0x00170020);
	assert_int_equal(reg_r(f, 0x3F), 0xFF000000);
	assert_int_equal(f->fake.n, 0);
}

static void test_edge_polarity(void **state)
{
	struct fx *f = *state;

	rte_w(f, 4, 0x00000041, 0x02000000);   /* fixed, physical, active high, edge */
	line(f, 4, true);
	assert_int_equal(f->fake.n, 1);
	expect_msg(f, 0, 0x41, IRQ_DELIVERY_FIXED, false, false, 2);
	line(f, 4, true);      /* no new edge */
	assert_int_equal(f->fake.n, 1);
	line(f, 4, false);
	assert_int_equal(f->fake.n, 1);
	struct irq_line l = ioapic_line(f->io, 4);
	irq_line_pulse(&l);
	assert_int_equal(f->fake.n, 2);
	/* Active low: the falling input edge is the assertion; writing the entry is no edge. */
	rte_w(f, 5, 0x00002051, 0x00000000);
	assert_int_equal(f->fake.n, 2);
	line(f, 5, true);
	assert_int_equal(f->fake.n, 2);
	line(f, 5, false);
	assert_int_equal(f->fake.n, 3);
	expect_msg(f, 2, 0x51, IRQ_DELIVERY_FIXED, false, false, 0);
	/* An edge while masked is lost. */
	rte_w(f, 4, 0x00010041, 0x02000000);
	irq_line_pulse(&l);
	rte_w(f, 4, 0x00000041, 0x02000000);
	assert_int_equal(f->fake.n, 3);
	/* Remote IRR never set for edge entries; EOI does nothing. */
	assert_int_equal(rte_lo(f, 4), 0x00000041);
	eoi_cb(f, 0x41);
	assert_int_equal(f->fake.n, 3);
}

static void test_level_remote_irr(void **state)
{
	struct fx *f = *state;

	rte_w(f, 9, 0x00008059, 0x01000000);   /* level, active high */
	line(f, 9, true);
	assert_int_equal(f->fake.n, 1);
	expect_msg(f, 0, 0x59, IRQ_DELIVERY_FIXED, false, true, 1);
	assert_int_equal(rte_lo(f, 9), 0x0000C059);
	line(f, 9, false);
	line(f, 9, true);
	assert_int_equal(f->fake.n, 1);   /* Remote IRR holds it */
	eoi_cb(f, 0x58);              /* other vector */
	assert_int_equal(f->fake.n, 1);
	assert_int_equal(rte_lo(f, 9), 0x0000C059);
	eoi_cb(f, 0x59);              /* still asserted: delivered again */
	assert_int_equal(f->fake.n, 2);
	expect_msg(f, 1, 0x59, IRQ_DELIVERY_FIXED, false, true, 1);
	assert_int_equal(rte_lo(f, 9), 0x0000C059);
	line(f, 9, false);
	mmio_w32(f, 0x40, 0xFFFFFF59);  /* EOI register: bits 7:0 */
	assert_int_equal(f->fake.n, 2);
	assert_int_equal(rte_lo(f, 9), 0x00008059);
	line(f, 9, true);
	assert_int_equal(f->fake.n, 3);
	mmio_w32(f, 0x40, 0x59);        /* the register re-delivers too */
	assert_int_equal(f->fake.n, 4);
	/* Writing the entry keeps Remote IRR (read-only), switching to edge clears it. */
	rte_w(f, 9, 0x00008059, 0x01000000);
	assert_int_equal(rte_lo(f, 9), 0x0000C059);
	assert_int_equal(f->fake.n, 4);
	rte_w(f, 9, 0x00000059, 0x01000000);
	assert_int_equal(rte_lo(f, 9), 0x00000059);
	assert_int_equal(f->fake.n, 4);
	/* Back to level with the line high and Remote IRR clear: delivers. */
	rte_w(f, 9, 0x00008059, 0x01000000);
	assert_int_equal(f->fake.n, 5);
	/* Active-low level: asserted while the line is low. */
	rte_w(f, 10, 0x0000A05A, 0x00000000);
	assert_int_equal(f->fake.n, 6);
	expect_msg(f, 5, 0x5A, IRQ_DELIVERY_FIXED, false, true, 0);
	line(f, 10, true);
	eoi_cb(f, 0x5A);
	assert_int_equal(f->fake.n, 6);
	assert_int_equal(rte_lo(f, 10), 0x0000A05A);
	/* One EOI serves every entry with that vector. */
	rte_w(f, 11, 0x00008070, 0);
	rte_w(f, 12, 0x00008070, 0);
	line(f, 11, true);
	line(f, 12, true);
	assert_int_equal(f->fake.n, 8);
	eoi_cb(f, 0x70);
	assert_int_equal(f->fake.n, 10);
	struct ioapic_stats st;
	ioapic_get_stats(f->io, &st);
	assert_int_equal(st.delivered, 10);
}

static void test_masked_level(void **state)
{
	struct fx *f = *state;

	rte_w(f, 10, 0x00018060, 0x00000000);
	line(f, 10, true);
	assert_int_equal(f->fake.n, 0);
	assert_int_equal(rte_lo(f, 10), 0x00018060);
	rte_w(f, 10, 0x00008060, 0x00000000);   /* unmask: delivers */
	assert_int_equal(f->fake.n, 1);
	expect_msg(f, 0, 0x60, IRQ_DELIVERY_FIXED, false, true, 0);
	/* Masked while Remote IRR set, EOI: waits for the unmask. */
	reg_w(f, 0x10 + 20, 0x00018060);
	assert_int_equal(rte_lo(f, 10), 0x0001C060);
	eoi_cb(f, 0x60);
	assert_int_equal(rte_lo(f, 10), 0x00018060);
	assert_int_equal(f->fake.n, 1);
	reg_w(f, 0x10 + 20, 0x00008060);
	assert_int_equal(f->fake.n, 2);
	/* Deasserted before the unmask: nothing. */
	reg_w(f, 0x10 + 20, 0x00018060);
	eoi_cb(f, 0x60);
	line(f, 10, false);
	reg_w(f, 0x10 + 20, 0x00008060);
	assert_int_equal(f->fake.n, 2);
}

static void test_bad_vectors_and_modes(void **state)
{
	struct fx *f = *state;
	struct ioapic_stats st;
	struct irq_line l = ioapic_line(f->io, 1);

	rte_w(f, 1, 0x0000000F, 0);             /* fixed vector 15 */
	irq_line_pulse(&l);
	rte_w(f, 1, 0x00000105, 0);             /* lowest priority vector 5 */
	irq_line_pulse(&l);
	rte_w(f, 1, 0x0000800A, 0);             /* level vector 10 */
	line(f, 1, true);
	assert_int_equal(rte_lo(f, 1), 0x0000800A);   /* no Remote IRR: nothing was sent */
	line(f, 1, false);
	rte_w(f, 1, 0x00000310, 0);             /* reserved mode 3 */
	irq_line_pulse(&l);
	rte_w(f, 1, 0x00000610, 0);             /* reserved mode 6 */
	irq_line_pulse(&l);
	assert_int_equal(f->fake.n, 0);
	ioapic_get_stats(f->io, &st);
	assert_int_equal(st.bad_vector, 3);
	assert_int_equal(st.bad_mode, 2);
	assert_int_equal(st.delivered, 0);
	/* Modes without a vector pass with the field as programmed. */
	rte_w(f, 1, 0x00000400, 0x07000000);    /* NMI */
	irq_line_pulse(&l);
	rte_w(f, 1, 0x00000703, 0);             /* ExtINT */
	irq_line_pulse(&l);
	rte_w(f, 1, 0x00000500, 0xFF000000);    /* INIT */
	irq_line_pulse(&l);
	rte_w(f, 1, 0x00000200, 0);             /* SMI */
	irq_line_pulse(&l);
	assert_int_equal(f->fake.n, 4);
	expect_msg(f, 0, 0x00, IRQ_DELIVERY_NMI, false, false, 7);
	expect_msg(f, 1, 0x03, IRQ_DELIVERY_EXTINT, false, false, 0);
	expect_msg(f, 2, 0x00, IRQ_DELIVERY_INIT, false, false, 0xFF);
	expect_msg(f, 3, 0x00, IRQ_DELIVERY_SMI, false, false, 0);
	/* NMI programmed level: edge semantics, no Remote IRR. */
	rte_w(f, 1, 0x00008400, 0);
	line(f, 1, true);
	assert_int_equal(rte_lo(f, 1), 0x00008400);
	line(f, 1, false);
	line(f, 1, true);
	assert_int_equal(f->fake.n, 6);
	expect_msg(f, 5, 0x00, IRQ_DELIVERY_NMI, false, false, 0);
	line(f, 1, false);
	/* Vector 16 is the first legal one. */
	rte_w(f, 1, 0x00000010, 0);
	irq_line_pulse(&l);
	assert_int_equal(f->fake.n, 7);
	expect_msg(f, 6, 0x10, IRQ_DELIVERY_FIXED, false, false, 0);
}

static void test_dest_fields(void **state)
{
	struct fx *f = *state;
	struct irq_line l = ioapic_line(f->io, 0);

	rte_w(f, 0, 0x00000931, 0xA5000000);    /* lowest priority, logical */
	irq_line_pulse(&l);
	expect_msg(f, 0, 0x31, IRQ_DELIVERY_LOWEST, true, false, 0xA5);
	rte_w(f, 0, 0x00008831, 0x0F000000);    /* fixed, logical, level */
	line(f, 0, true);
	expect_msg(f, 1, 0x31, IRQ_DELIVERY_FIXED, true, true, 0x0F);
	line(f, 0, false);
	eoi_cb(f, 0x31);
	rte_w(f, 23, 0x000000FE, 0xFF000000);   /* physical broadcast, last pin */
	line(f, 23, true);
	expect_msg(f, 2, 0xFE, IRQ_DELIVERY_FIXED, false, false, 0xFF);
	assert_int_equal(f->fake.n, 3);
}

static void test_sink_error(void **state)
{
	struct fx *f = *state;
	struct ioapic_stats st;

	rte_w(f, 2, 0x00008040, 0);
	f->fake.fail = -EAGAIN;
	line(f, 2, true);
	f->fake.fail = 0;
	assert_int_equal(rte_lo(f, 2), 0x00008040);   /* not sent: Remote IRR stays clear */
	ioapic_get_stats(f->io, &st);
	assert_int_equal(st.sink_errors, 1);
	/* A later event retries: the unmask path via an entry rewrite. */
	rte_w(f, 2, 0x00008040, 0);
	assert_int_equal(f->fake.n, 1);
	assert_int_equal(rte_lo(f, 2), 0x0000C040);
}

static void test_lines_and_create(void **state)
{
	struct fx *f = *state;
	struct ioapic *io;

	struct irq_line l = ioapic_line(f->io, IOAPIC_PINS);
	assert_null(l.set_level);
	irq_line_set(&l, true);
	l = ioapic_line(NULL, 0);
	assert_null(l.set_level);
	l = ioapic_line(f->io, 23);
	assert_int_equal(l.pin, 23);
	struct irq_eoi e = ioapic_eoi(NULL);
	assert_null(e.eoi);
	assert_int_equal(ioapic_create(&f->fake.dc, 16, &io), -EINVAL);
	assert_int_equal(ioapic_create(NULL, 0, &io), -EINVAL);
	assert_int_equal(ioapic_create(&f->fake.dc, 0, NULL), -EINVAL);
	assert_int_equal(ioapic_create(&f->fake.dc, 15, &io), 0);
	ioapic_destroy(io);
	ioapic_destroy(NULL);
}

/* What ioapic_ops should answer for an access, per ioapic.h. */
static enum iobus_action expected(uint64_t off, unsigned size, bool read)
{
	static const uint64_t regs[] = { 0x00, 0x10, 0x40 };

	if (size != 1 && size != 2 && size != 4 && size != 8)
		return IOBUS_BAD_REGISTER;
	if (off + size > 0x1000)
		return IOBUS_BAD_REGISTER;
	for (unsigned i = 0; i < 3; i++) {
		if (off < regs[i] + 4 && off + size > regs[i]) {
			if (off != regs[i] || size != 4)
				return IOBUS_BAD_REGISTER;
			return (read && regs[i] == 0x40) ? IOBUS_BAD_REGISTER : IOBUS_OK;
		}
	}
	return IOBUS_OK;
}

static uint64_t lcg(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return *s >> 11;
}

static void test_hostile_mmio(void **state)
{
	struct fx *f = *state;
	const unsigned sizes[] = { 0, 1, 2, 3, 4, 5, 7, 8, 9, 16 };
	uint64_t seed = 0x82093;
	uint64_t v;

	/* Reads: every offset (and a few past the page) x every width. */
	mmio_w32(f, 0x00, 0x01);
	for (uint64_t off = 0; off < 0x1008; off++) {
		for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			unsigned size = sizes[i];
			enum iobus_action want = expected(off, size, true);

			v = 0x5555;
			assert_int_equal(ioapic_ops.read(f->io, &vp0, off, size, &v), want);
			if (want == IOBUS_BAD_REGISTER)
				assert_int_equal(v, iobus_ones(size));
			else if (off == 0x00)
				assert_int_equal(v, 0x01);
			else if (off == 0x10)
				assert_int_equal(v, 0x00170020);
			else
				assert_int_equal(v, 0);
		}
	}
	/* Junk writes everywhere, with junk IOREGSEL values in between. */
	for (uint64_t off = 0; off < 0x1008; off++) {
		for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			unsigned size = sizes[i];

			assert_int_equal(ioapic_ops.write(f->io, &vp0, off, size, lcg(&seed)),
					 expected(off, size, false));
		}
	}
	assert_int_equal(reg_r(f, 0x01), 0x00170020);
	/* Random programming with line activity and EOIs: no illegal message ever leaves. */
	for (unsigned i = 0; i < 200000; i++) {
		uint64_t r = lcg(&seed);

		switch (r % 6) {
		case 0:
			mmio_w32(f, 0x00, (uint32_t)(r >> 8));
			break;
		case 1:
			mmio_w32(f, 0x10, (uint32_t)lcg(&seed));
			break;
		case 2:
			(void)mmio_r32(f, 0x10);
			break;
		case 3:
			line(f, (unsigned)(r >> 8) % 30, (r >> 16) & 1);
			break;
		case 4:
			eoi_cb(f, (uint8_t)(r >> 8));
			break;
		default:
			mmio_w32(f, 0x40, (uint32_t)(r >> 8));
			break;
		}
		if (f->fake.n > DEV_FAKE_MAX_MSGS - 64) {
			for (unsigned k = 0; k < f->fake.n; k++) {
				const struct irq_msg *m = &f->fake.msgs[k];

				assert_true(m->delivery != 3 && m->delivery != 6 && m->delivery < 8);
				if (m->delivery <= IRQ_DELIVERY_LOWEST)
					assert_true(m->vector >= 16);
				else
					assert_false(m->level);
				assert_true(m->dest <= 0xFF);
			}
			f->fake.n = 0;
		}
	}
	struct ioapic_stats st;
	ioapic_get_stats(f->io, &st);
	assert_true(st.delivered > 1000);
	assert_true(st.bad_vector > 0);
	assert_true(st.bad_access > 0);
	assert_int_equal(reg_r(f, 0x01), 0x00170020);
}

static void test_through_iobus(void **state)
{
	struct fx *f = *state;
	struct iobus *bus;
	struct iobus_hint hint = { 0 };
	uint64_t v;
	const uint64_t base = IOAPIC_DEFAULT_BASE;

	assert_int_equal(iobus_create(&bus), 0);
	assert_int_equal(iobus_register(bus, IOBUS_MMIO, base, IOAPIC_MMIO_LEN, &ioapic_ops,
					f->io, "ioapic"), 0);
	iobus_freeze(bus);
	assert_int_equal(iobus_write(bus, &hint, IOBUS_MMIO, base, 4, &vp0, 0x01), IOBUS_OK);
	assert_int_equal(iobus_read(bus, &hint, IOBUS_MMIO, base + 0x10, 4, &vp0, &v), IOBUS_OK);
	assert_int_equal(v, 0x00170020);
	assert_int_equal(iobus_read(bus, &hint, IOBUS_MMIO, base, 8, &vp0, &v),
			 IOBUS_BAD_REGISTER);
	assert_int_equal(v, ~0ull);
	assert_int_equal(iobus_read(bus, &hint, IOBUS_MMIO, base + 0x20, 8, &vp0, &v), IOBUS_OK);
	assert_int_equal(v, 0);
	iobus_destroy(bus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_register_readback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edge_polarity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_level_remote_irr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_masked_level, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_vectors_and_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dest_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sink_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lines_and_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_mmio, setup, teardown),
		cmocka_unit_test_setup_teardown(test_through_iobus, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
