/*
 * i8042 at register level: status bits, self/interface tests, command byte and output port
 * round trips, the reset paths (0xFE, every pulse command with bit 0 clear, 0xD1 with bit 0
 * clear) and hostile accesses.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "devices/i8042.h"
#include "tests/unit/dev_fake.h"
#include "vtl2/iobus.h"

struct fx {
	struct dev_fake fake;
	struct i8042 *k;
};

static const struct iobus_access vp1 = { .vp = 1 };

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	dev_fake_init(&f->fake);
	assert_int_equal(i8042_create(&f->fake.dc, &f->k), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	i8042_destroy(f->k);
	dev_fake_fini(&f->fake);
	free(f);
	return 0;
}

static uint8_t status(struct fx *f)
{
	return (uint8_t)dev_fake_rd_ok(&i8042_cmd_ops, f->k, vp1.vp, 0, 1);
}

static uint8_t data(struct fx *f)
{
	return (uint8_t)dev_fake_rd_ok(&i8042_data_ops, f->k, vp1.vp, 0, 1);
}

static void cmd(struct fx *f, uint8_t c)
{
	dev_fake_wr(&i8042_cmd_ops, f->k, vp1.vp, 0, 1, c, IOBUS_OK);
}

static void put(struct fx *f, uint8_t v)
{
	dev_fake_wr(&i8042_data_ops, f->k, vp1.vp, 0, 1, v, IOBUS_OK);
}

static void test_create(void **state)
{
	(void)state;
	struct i8042 *k;
	assert_int_equal(i8042_create(NULL, NULL), -EINVAL);
	assert_int_equal(i8042_create(NULL, &k), 0);
	/* Without a devctx, a reset request is dropped (logged to stderr). */
	assert_int_equal(i8042_cmd_ops.write(k, NULL, 0, 1, 0xFE), IOBUS_OK);
	i8042_destroy(k);
	i8042_destroy(NULL);
}

static void test_power_on_status(void **state)
{
	struct fx *f = *state;
	/* Unlocked, nothing buffered, SYS clear (no firmware ran), last write: none. */
	assert_int_equal(status(f), 0x10);
	assert_int_equal(data(f), 0x00);
	assert_int_equal(status(f), 0x10);
	cmd(f, 0x20);
	assert_int_equal(status(f), 0x10 | 0x08 | 0x01);
	assert_int_equal(data(f), 0x30);
	assert_int_equal(status(f), 0x18);
	cmd(f, 0xD0);
	assert_int_equal(data(f), 0x03);
}

static void test_self_test(void **state)
{
	struct fx *f = *state;
	cmd(f, 0xAA);
	assert_int_equal(status(f), 0x10 | 0x08 | 0x04 | 0x01);
	assert_int_equal(data(f), 0x55);
	assert_int_equal(status(f), 0x1C);
	assert_int_equal(data(f), 0x00);           /* empty */
	cmd(f, 0xAB);
	assert_int_equal(status(f) & 0x01, 0x01);
	assert_int_equal(data(f), 0x00);
	cmd(f, 0xA9);
	assert_int_equal(status(f) & 0x01, 0x01);
	assert_int_equal(data(f), 0x00);
	assert_int_equal(status(f) & 0x01, 0x00);
	/* SYS is the command byte's bit 2: set by the self test, visible in the byte too. */
	cmd(f, 0x20);
	assert_int_equal(data(f), 0x34);
	assert_int_equal(f->fake.stops.count, 0);
}

static void test_command_byte(void **state)
{
	struct fx *f = *state;
	cmd(f, 0x60);
	assert_int_equal(status(f), 0x18);         /* A2: command */
	put(f, 0x47);
	assert_int_equal(status(f), 0x14);         /* A2 clear: data; SYS from the byte */
	cmd(f, 0x20);
	assert_int_equal(data(f), 0x47);
	/* Port enables live in the command byte. */
	cmd(f, 0xAD);
	cmd(f, 0xA7);
	cmd(f, 0x20);
	assert_int_equal(data(f), 0x77);
	cmd(f, 0xAE);
	cmd(f, 0x20);
	assert_int_equal(data(f), 0x67);
	cmd(f, 0xA8);
	cmd(f, 0x20);
	assert_int_equal(data(f), 0x47);
	/* Clearing SYS through the command byte clears the status bit. */
	cmd(f, 0x60);
	put(f, 0x00);
	assert_int_equal(status(f), 0x10);
	/* A new command cancels a pending parameter: the byte then goes to the (absent) keyboard. */
	cmd(f, 0x60);
	cmd(f, 0xAD);
	put(f, 0x99);
	cmd(f, 0x20);
	assert_int_equal(data(f), 0x10);
	/* Without a pending command, data writes change nothing. */
	put(f, 0xFF);
	put(f, 0xF4);
	cmd(f, 0x20);
	assert_int_equal(data(f), 0x10);
	/* A second response overwrites an unread one. */
	cmd(f, 0xAA);
	cmd(f, 0x20);
	assert_int_equal(data(f), 0x14);
	assert_int_equal(f->fake.stops.count, 0);
}

static void test_reset_fe(void **state)
{
	struct fx *f = *state;
	cmd(f, 0xFE);
	assert_int_equal(f->fake.stops.count, 1);
	assert_int_equal(f->fake.stops.why, DEVCTX_STOP_RESET);
	assert_int_equal(f->fake.stops.code, 0);
	assert_int_equal(f->fake.stops.vp, 1);
	/* Only pulses of bit 0 reset: 0xFF pulses nothing, 0xF1..0xFD odd pulse other lines. */
	f->fake.stops.count = 0;
	for (unsigned c = 0xF0; c <= 0xFF; c++) {
		unsigned before = f->fake.stops.count;
		cmd(f, (uint8_t)c);
		assert_int_equal(f->fake.stops.count - before, (c & 1) ? 0 : 1);
	}
	assert_int_equal(f->fake.stops.count, 8);
	/* Everything below 0xF0 other than 0xD1 + data never resets. */
	f->fake.stops.count = 0;
	for (unsigned c = 0; c < 0xF0; c++) {
		cmd(f, (uint8_t)c);
		if (c != 0x60 && c != 0xD1)
			put(f, 0x00);
	}
	assert_int_equal(f->fake.stops.count, 0);
}

static void test_output_port(void **state)
{
	struct fx *f = *state;
	cmd(f, 0xD1);
	put(f, 0xDF);                              /* reset high, A20 on */
	assert_int_equal(f->fake.stops.count, 0);
	cmd(f, 0xD0);
	assert_int_equal(data(f), 0xDF);
	cmd(f, 0xD1);
	put(f, 0xDD);                              /* A20 off: stored, no reset */
	assert_int_equal(f->fake.stops.count, 0);
	cmd(f, 0xD0);
	assert_int_equal(data(f), 0xDD);
	struct iobus_access vp2 = { .vp = 2 };
	cmd(f, 0xD1);
	assert_int_equal(i8042_data_ops.write(f->k, &vp2, 0, 1, 0xFE), IOBUS_OK);
	assert_int_equal(f->fake.stops.count, 1);
	assert_int_equal(f->fake.stops.why, DEVCTX_STOP_RESET);
	assert_int_equal(f->fake.stops.vp, 2);
	/* The parameter was consumed: the next data byte does not reset again. */
	put(f, 0x00);
	assert_int_equal(f->fake.stops.count, 1);
}

static void test_hostile(void **state)
{
	struct fx *f = *state;
	uint64_t seed = 3, v;
	/* Wrong widths and offsets are refused, reading all-ones, and change nothing. */
	for (unsigned port = 0; port < 2; port++) {
		const struct iobus_ops *ops = port ? &i8042_cmd_ops : &i8042_data_ops;
		for (uint64_t off = 0; off < 4; off++) {
			for (unsigned size = 1; size <= 8; size *= 2) {
				enum iobus_action want = (off == 0 && size == 1) ?
							 IOBUS_OK : IOBUS_BAD_REGISTER;
				v = 0x5A5A;
				assert_int_equal(ops->read(f->k, &vp1, off, size, &v), want);
				if (want == IOBUS_OK)
					assert_true(v <= 0xFF);
				else
					assert_int_equal(v, iobus_ones(size));
				if (want != IOBUS_OK)
					assert_int_equal(ops->write(f->k, &vp1, off, size, 0xFE),
							 IOBUS_BAD_REGISTER);
			}
		}
	}
	assert_int_equal(f->fake.stops.count, 0);
	/* Junk sequences: count the reset requests they must make. */
	unsigned expected = 0;
	uint8_t pending = 0;
	for (unsigned i = 0; i < 100000; i++) {
		uint64_t r = dev_fake_junk(&seed);
		uint8_t b = (uint8_t)(r >> 8);
		if (r & 1) {
			assert_int_equal(i8042_cmd_ops.write(f->k, &vp1, 0, 1, r >> 8), IOBUS_OK);
			pending = (b == 0x60 || b == 0xD1) ? b : 0;
			if (b >= 0xF0 && !(b & 1))
				expected++;
		} else if (r & 2) {
			assert_int_equal(i8042_data_ops.write(f->k, &vp1, 0, 1, r >> 8), IOBUS_OK);
			if (pending == 0xD1 && !(b & 1))
				expected++;
			pending = 0;
		} else {
			assert_int_equal(i8042_data_ops.read(f->k, &vp1, 0, 1, &v), IOBUS_OK);
			assert_true(v <= 0xFF);
			assert_int_equal(status(f) & 0x02, 0);   /* IBF never set */
		}
	}
	assert_int_equal(f->fake.stops.count, expected);
	assert_true(expected > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create),
		cmocka_unit_test_setup_teardown(test_power_on_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_self_test, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_fe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_port, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
