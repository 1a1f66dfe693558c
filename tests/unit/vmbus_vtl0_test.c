/*
 * vmbus_vtl0: the VMBus server on the bus and VTL0's SynIC, over a fake partition (devctx with
 * recorded SynIC posts, a manual clock, a small RAM). VTL0's side is what vp.c hands the bus
 * for HvPostMessage / HvSignalEvent: iobus_post_message / iobus_signal_event.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "devices/vmbus/vmbus_vtl0.h"
#include "hvcall/vmbus_abi.h"

#define RAM_PAGES 16

struct fake {
	struct iobus *bus;
	struct vclock *clock;
	struct devctx dc;
	uint8_t ram[RAM_PAGES * 4096];
	int eagain;                     /* answer -EAGAIN to this many posts */
	unsigned posts, tries;
	uint32_t vp, type, len;
	uint8_t sint;
	_Alignas(8) uint8_t msg[240];
	unsigned events;
};

static int f_post(void *ctx, uint32_t vp, uint8_t sint, uint32_t type, const void *payload,
		  uint32_t len)
{
	struct fake *f = ctx;
	f->tries++;
	if (f->eagain > 0) {
		f->eagain--;
		return -EAGAIN;
	}
	f->posts++;
	f->vp = vp;
	f->sint = sint;
	f->type = type;
	f->len = len;
	memcpy(f->msg, payload, len);
	return 0;
}

static int f_signal(void *ctx, uint32_t vp, uint8_t sint, uint16_t flag)
{
	(void)vp;
	(void)sint;
	(void)flag;
	struct fake *f = ctx;
	f->events++;
	return 0;
}

static void *f_ram(void *ctx, gpa_t a, uint64_t len)
{
	struct fake *f = ctx;
	if (a.v >= sizeof(f->ram) || len > sizeof(f->ram) - a.v)
		return NULL;
	return f->ram + a.v;
}

static int setup(void **state)
{
	static struct fake f;
	memset(&f, 0, sizeof(f));
	assert_int_equal(iobus_create(&f.bus), 0);
	assert_int_equal(vclock_create(true, &f.clock), 0);
	f.dc = (struct devctx){ .ctx = &f, .clock = f.clock, .post_message = f_post,
				.signal_event = f_signal, .ram_ptr = f_ram };
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;
	vclock_stop(f->clock);
	iobus_destroy(f->bus);
	vclock_destroy(f->clock);
	return 0;
}

/* InitiateContact for 5.3 on connection id 4, answers on VP `vp` SINT 2. */
static int contact(struct fake *f, uint32_t conn, uint32_t type, uint32_t vp)
{
	struct vmbus_msg_initiate_contact m;
	memset(&m, 0, sizeof(m));
	m.hdr.msgtype = VMBUS_MSG_INITIATE_CONTACT;
	m.version_requested = VMBUS_VERSION_WIN10_V5_3;
	m.target_vcpu = vp;
	m.msg_sint = 2;
	m.monitor_page1 = 0x1000;
	m.monitor_page2 = 0x2000;
	struct iobus_access a = { .vp = 0 };
	return iobus_post_message(f->bus, &a, conn, type, &m, VMBUS_INITIATE_CONTACT_SIZE_V1);
}

static void test_negotiates_over_the_bus(void **state)
{
	struct fake *f = *state;
	struct vmbus_vtl0 *v;
	assert_int_equal(vmbus_vtl0_create(f->bus, &f->dc, 2, &v), 0);
	iobus_freeze(f->bus);
	assert_int_equal(contact(f, VMBUS_CONN_ID_MESSAGE_4, VMBUS_MESSAGE_TYPE, 1), 0);
	assert_int_equal(f->posts, 1);
	assert_int_equal(f->vp, 1);
	assert_int_equal(f->sint, 2);
	assert_int_equal(f->type, VMBUS_MESSAGE_TYPE);
	struct vmbus_msg_version_response r;
	assert_true(f->len >= VMBUS_VERSION_RESPONSE_SIZE_V1);
	memcpy(&r, f->msg, sizeof(r) < f->len ? sizeof(r) : f->len);
	assert_int_equal(r.hdr.msgtype, VMBUS_MSG_VERSION_RESPONSE);
	assert_int_equal(r.version_supported, 1);
	assert_int_equal(r.msg_conn_id, VMBUS_CONN_ID_MESSAGE_4);
	/* RequestOffers: no channel offered, so only AllOffersDelivered. */
	struct vmbus_msg_header ro = { .msgtype = VMBUS_MSG_REQUEST_OFFERS };
	struct iobus_access a = { .vp = 1 };
	assert_int_equal(iobus_post_message(f->bus, &a, 4, VMBUS_MESSAGE_TYPE, &ro, sizeof(ro)), 0);
	assert_int_equal(f->posts, 2);
	assert_int_equal(((struct vmbus_msg_header *)f->msg)->msgtype,
			 VMBUS_MSG_ALL_OFFERS_DELIVERED);
	vmbus_vtl0_destroy(v);
}

static void test_hostile_calls_get_hypercall_errors(void **state)
{
	struct fake *f = *state;
	struct vmbus_vtl0 *v;
	assert_int_equal(vmbus_vtl0_create(f->bus, &f->dc, 1, &v), 0);
	iobus_freeze(f->bus);
	struct iobus_access a = { .vp = 0 };
	/* Not a VMBus message type: invalid parameter, nothing posted. */
	assert_int_equal(contact(f, 4, 2, 0), -EINVAL);
	/* A connection id nobody registered: invalid connection id. */
	assert_int_equal(contact(f, 5, VMBUS_MESSAGE_TYPE, 0), -ENOENT);
	assert_int_equal(iobus_signal_event(f->bus, &a, 0x123456, 0), -ENOENT);
	assert_int_equal(f->posts, 0);
	/* A target VP the partition does not have: the server drops it (no answer). */
	assert_int_equal(contact(f, 4, VMBUS_MESSAGE_TYPE, 7), 0);
	assert_int_equal(f->posts, 0);
	/* A truncated message is the protocol's to refuse, not a failed hypercall. */
	uint8_t junk[4] = { VMBUS_MSG_INITIATE_CONTACT };
	assert_int_equal(iobus_post_message(f->bus, &a, 4, VMBUS_MESSAGE_TYPE, junk, 4), 0);
	assert_int_equal(f->posts, 0);
	/* An event on a channel id of the range with no channel behind it: no such connection. */
	assert_int_equal(iobus_signal_event(f->bus, &a, VMBUS_SERVER_CONN_ID_BASE + 3, 0), -ENOENT);
	assert_int_equal(f->events, 0);
	vmbus_vtl0_destroy(v);
}

static void test_busy_slot_is_retried_by_the_clock(void **state)
{
	struct fake *f = *state;
	struct vmbus_vtl0 *v;
	assert_int_equal(vmbus_vtl0_create(f->bus, &f->dc, 1, &v), 0);
	iobus_freeze(f->bus);
	f->eagain = 2;
	assert_int_equal(contact(f, 4, VMBUS_MESSAGE_TYPE, 0), 0);
	assert_int_equal(f->posts, 0);
	assert_int_equal(f->tries, 1);
	vclock_advance(f->clock, 500000);   /* before the 1 ms retry */
	assert_int_equal(f->tries, 1);
	vclock_advance(f->clock, 600000);   /* first retry: still busy */
	assert_int_equal(f->tries, 2);
	assert_int_equal(f->posts, 0);
	vclock_advance(f->clock, 1100000);  /* second retry goes through */
	assert_int_equal(f->posts, 1);
	assert_int_equal(((struct vmbus_msg_header *)f->msg)->msgtype, VMBUS_MSG_VERSION_RESPONSE);
	vclock_advance(f->clock, 5000000);  /* nothing left: no more tries */
	assert_int_equal(f->tries, 3);
	vmbus_vtl0_destroy(v);
}

static void test_ids_are_checked_against_other_devices(void **state)
{
	struct fake *f = *state;
	static const struct iobus_ops none = { 0 };
	assert_int_equal(iobus_register(f->bus, IOBUS_CONN, 4, 1, &none, NULL, "other"), 0);
	struct vmbus_vtl0 *v = NULL;
	assert_int_equal(vmbus_vtl0_create(f->bus, &f->dc, 1, &v), -EEXIST);
	assert_null(v);
	/* A partition without SynIC services cannot have a VMBus. */
	struct devctx bare = { .clock = f->clock };
	assert_int_equal(vmbus_vtl0_create(f->bus, &bare, 1, &v), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_negotiates_over_the_bus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_calls_get_hypercall_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_busy_slot_is_retried_by_the_clock, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_ids_are_checked_against_other_devices, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
