/* testdev: the test guests' device, and its agreement with the guests' side (guest_abi.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "devices/testdev.h"
#include "tests/guests/guest_abi.h"
#include "tests/unit/dev_fake.h"
#include "vtl2/iobus.h"

/* The two sides of the contract must name the same ports, addresses and numbers. */
_Static_assert(TESTDEV_PORT_ECHO == GUEST_PORT_ECHO, "echo port");
_Static_assert(TESTDEV_PORT_EXIT == GUEST_PORT_EXIT, "exit port");
_Static_assert(TESTDEV_PORT_IRQ == GUEST_PORT_IRQ, "irq port");
_Static_assert(TESTDEV_PORT_IRQ_DELAYED == GUEST_PORT_IRQ_DELAYED, "delayed irq port");
_Static_assert(TESTDEV_PORT_PROTECT == GUEST_PORT_PROTECT, "protect port");
_Static_assert(TESTDEV_PORT_UNPROTECT == GUEST_PORT_UNPROTECT, "unprotect port");
_Static_assert(TESTDEV_PORT_PROT_COUNT == GUEST_PORT_PROT_COUNT, "protection count port");
_Static_assert(TESTDEV_IRQ_DELAY_NS == GUEST_IRQ_DELAY_MS * 1000000ull, "irq delay");
_Static_assert(TESTDEV_MMIO_BASE == GUEST_MMIO_BASE, "mmio base");
_Static_assert(TESTDEV_MMIO_SIZE == GUEST_MMIO_SIZE, "mmio size");
_Static_assert(TESTDEV_MMIO_SCRATCH == GUEST_MMIO_SCRATCH, "mmio scratch");
_Static_assert(TESTDEV_MMIO_PATTERN == GUEST_MMIO_PATTERN, "mmio pattern");
_Static_assert(TESTDEV_MSR_BASE == GUEST_MSR_TEST_FIRST, "first test msr");
_Static_assert(TESTDEV_MSR_BASE + TESTDEV_MSR_COUNT - 1 == GUEST_MSR_TEST_LAST, "last test msr");

struct fx {
	struct dev_fake fake;
	struct testdev *t;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	dev_fake_init(&f->fake);
	f->fake.hits = 0x1234567890ull;
	assert_int_equal(testdev_create(&f->fake.dc, &f->t), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	testdev_destroy(f->t);
	dev_fake_fini(&f->fake);
	free(f);
	return 0;
}

static uint64_t rd(const struct iobus_ops *ops, struct fx *f, uint32_t vp, uint64_t off,
		   unsigned size, enum iobus_action want)
{
	return dev_fake_rd(ops, f->t, vp, off, size, want);
}

static void wr(const struct iobus_ops *ops, struct fx *f, uint32_t vp, uint64_t off,
	       unsigned size, uint64_t v, enum iobus_action want)
{
	dev_fake_wr(ops, f->t, vp, off, size, v, want);
}

#define P(port) ((port) - TESTDEV_PORT_BASE)

static void test_echo_is_per_vp_and_width_masked(void **state)
{
	struct fx *f = *state;
	wr(&testdev_port_ops, f, 0, P(TESTDEV_PORT_ECHO), 4, 41, IOBUS_OK);
	wr(&testdev_port_ops, f, 1, P(TESTDEV_PORT_ECHO), 4, 0xFFFF, IOBUS_OK);
	assert_int_equal(rd(&testdev_port_ops, f, 0, P(TESTDEV_PORT_ECHO), 4, IOBUS_OK), 42);
	assert_int_equal(rd(&testdev_port_ops, f, 1, P(TESTDEV_PORT_ECHO), 2, IOBUS_OK), 0);
	assert_int_equal(rd(&testdev_port_ops, f, 1, P(TESTDEV_PORT_ECHO), 4, IOBUS_OK), 0x10000);
}

static void test_exit_port_stops_with_code_and_vp(void **state)
{
	struct fx *f = *state;
	wr(&testdev_port_ops, f, 3, P(TESTDEV_PORT_EXIT), 1, 0, IOBUS_BAD_REGISTER);
	assert_int_equal(f->fake.stops.count, 0);
	wr(&testdev_port_ops, f, 3, P(TESTDEV_PORT_EXIT), 4, 7, IOBUS_OK);
	assert_int_equal(f->fake.stops.count, 1);
	assert_int_equal(f->fake.stops.why, DEVCTX_STOP_TEST_EXIT);
	assert_int_equal(f->fake.stops.code, 7);
	assert_int_equal(f->fake.stops.vp, 3);
	rd(&testdev_port_ops, f, 0, P(TESTDEV_PORT_EXIT), 4, IOBUS_NOT_MINE);
}

static void test_irq_now_and_delayed(void **state)
{
	struct fx *f = *state;
	wr(&testdev_port_ops, f, 2, P(TESTDEV_PORT_IRQ), 1, 0x41, IOBUS_OK);
	assert_int_equal(f->fake.n, 1);
	assert_int_equal(f->fake.last.vector, 0x41);
	assert_int_equal(f->fake.last.dest, 2);
	assert_int_equal(f->fake.last.delivery, IRQ_DELIVERY_FIXED);
	wr(&testdev_port_ops, f, 2, P(TESTDEV_PORT_IRQ), 1, 0x0E, IOBUS_OK); /* reserved: refused */
	assert_int_equal(f->fake.n, 1);
	wr(&testdev_port_ops, f, 1, P(TESTDEV_PORT_IRQ_DELAYED), 1, 0x50, IOBUS_OK);
	vclock_advance(f->fake.clock, TESTDEV_IRQ_DELAY_NS - 1);
	assert_int_equal(f->fake.n, 1);
	vclock_advance(f->fake.clock, 1);
	assert_int_equal(f->fake.n, 2);
	assert_int_equal(f->fake.last.vector, 0x50);
	assert_int_equal(f->fake.last.dest, 1);
	/* More delayed requests than timers: the extra ones are dropped, none is lost twice. */
	for (unsigned i = 0; i < TESTDEV_MAX_TIMERS + 10; i++)
		wr(&testdev_port_ops, f, 0, P(TESTDEV_PORT_IRQ_DELAYED), 1, 0x60, IOBUS_OK);
	vclock_advance(f->fake.clock, TESTDEV_IRQ_DELAY_NS);
	assert_int_equal(f->fake.n, 2 + TESTDEV_MAX_TIMERS);
}

static void test_protect_ports_and_count(void **state)
{
	struct fx *f = *state;
	wr(&testdev_port_ops, f, 0, P(TESTDEV_PORT_PROTECT), 4, 0x104, IOBUS_OK);
	assert_int_equal(f->fake.prot_page, 0x104);
	assert_int_equal(f->fake.prot_on, 1);
	wr(&testdev_port_ops, f, 0, P(TESTDEV_PORT_UNPROTECT), 4, 0x104, IOBUS_OK);
	assert_int_equal(f->fake.prot_on, 0);
	assert_int_equal(f->fake.prots, 2);
	assert_int_equal(rd(&testdev_port_ops, f, 0, P(TESTDEV_PORT_PROT_COUNT), 4, IOBUS_OK),
			 0x34567890);
	assert_int_equal(rd(&testdev_port_ops, f, 0, P(TESTDEV_PORT_PROT_COUNT), 1, IOBUS_OK),
			 0x90);
}

static uint8_t pattern(uint64_t off)
{
	uint32_t dword = (uint32_t)(TESTDEV_MMIO_BASE + (off & ~3ull)) ^ TESTDEV_MMIO_PATTERN;
	return (uint8_t)(dword >> (8 * (off & 3)));
}

static void test_mmio_pattern_and_scratch(void **state)
{
	struct fx *f = *state;
	for (uint64_t off = 0; off < TESTDEV_MMIO_SIZE; off += 7) {
		uint64_t v = rd(&testdev_mmio_ops, f, 0, off, 1, IOBUS_OK);
		assert_int_equal(v, pattern(off));
	}
	assert_int_equal(rd(&testdev_mmio_ops, f, 0, 0, 4, IOBUS_OK), 0xA45A5A5A);
	/* The read-only half ignores writes, the scratch half keeps them. */
	wr(&testdev_mmio_ops, f, 0, 0x10, 4, 0xDEADBEEF, IOBUS_OK);
	assert_int_equal(rd(&testdev_mmio_ops, f, 0, 0x10, 1, IOBUS_OK), pattern(0x10));
	wr(&testdev_mmio_ops, f, 0, 0x900, 8, 0x1122334455667788ull, IOBUS_OK);
	assert_int_equal(rd(&testdev_mmio_ops, f, 0, 0x900, 8, IOBUS_OK), 0x1122334455667788ull);
	assert_int_equal(rd(&testdev_mmio_ops, f, 0, 0x903, 2, IOBUS_OK), 0x4455);
}

static void test_msrs_round_trip(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rd(&testdev_msr_ops, f, 0, 5, 8, IOBUS_OK), 0);
	wr(&testdev_msr_ops, f, 0, 5, 8, 0xFFFFFFFF00000001ull, IOBUS_OK);
	assert_int_equal(rd(&testdev_msr_ops, f, 1, 5, 8, IOBUS_OK), 0xFFFFFFFF00000001ull);
	wr(&testdev_msr_ops, f, 0, TESTDEV_MSR_COUNT - 1, 8, 42, IOBUS_OK);
	assert_int_equal(rd(&testdev_msr_ops, f, 0, TESTDEV_MSR_COUNT - 1, 8, IOBUS_OK), 42);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_echo_is_per_vp_and_width_masked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exit_port_stops_with_code_and_vp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_irq_now_and_delayed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_protect_ports_and_count, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mmio_pattern_and_scratch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msrs_round_trip, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
