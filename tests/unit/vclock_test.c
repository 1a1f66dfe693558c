/*
 * vclock_test: the manual clock exactly (time, deadline order, callbacks seeing their own
 * deadline, periodic re-arming, cancel/re-arm, stop, wall clock) and the real clock loosely (a
 * short timer fires, destroy with armed timers, stop waits for a running callback, a
 * far-future timer does not busy-wait).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "vtl2/vclock.h"

#define MAX_FIRES 64

/* Every firing, in order, across all timers of a test. */
struct log {
	struct vclock *c;
	unsigned n;
	struct { int id; uint64_t now; uint64_t clock_now; } fires[MAX_FIRES];
};

struct tmr {
	struct vclock_timer t;
	struct log *log;
	int id;
	uint64_t period;           /* re-arm at now + period while fired < limit */
	unsigned limit;
	unsigned fired;
	struct vclock_timer *cancel; /* cancel this one when firing */
	struct vclock_timer *arm;    /* arm this one at arm_at when firing */
	uint64_t arm_at;
};

static void on_fire(void *ctx, uint64_t now)
{
	struct tmr *t = ctx;
	struct log *l = t->log;

	assert_true(l->n < MAX_FIRES);
	l->fires[l->n].id = t->id;
	l->fires[l->n].now = now;
	l->fires[l->n].clock_now = vclock_now(l->c);
	l->n++;
	t->fired++;
	if (t->period && t->fired < t->limit)
		vclock_arm(l->c, &t->t, now + t->period);
	if (t->cancel)
		vclock_cancel(l->c, t->cancel);
	if (t->arm)
		vclock_arm(l->c, t->arm, t->arm_at);
}

static void tmr_init(struct tmr *t, struct log *l, int id)
{
	memset(t, 0, sizeof(*t));
	t->log = l;
	t->id = id;
	vclock_timer_init(&t->t, on_fire, t);
}

static struct vclock *manual_clock(struct log *l)
{
	struct vclock *c = NULL;

	assert_int_equal(vclock_create(true, &c), 0);
	assert_non_null(c);
	memset(l, 0, sizeof(*l));
	l->c = c;
	return c;
}

static void assert_fire(const struct log *l, unsigned i, int id, uint64_t now)
{
	assert_true(i < l->n);
	assert_int_equal(l->fires[i].id, id);
	assert_int_equal(l->fires[i].now, now);
	/* The clock itself reads the deadline inside the callback. */
	assert_int_equal(l->fires[i].clock_now, now);
}

/* ---- manual mode ---- */

static void test_manual_now_advance(void **state)
{
	(void)state;
	struct log l;
	struct vclock *c = manual_clock(&l);

	assert_int_equal(vclock_now(c), 0);
	assert_int_equal(vclock_wall_ns(c), 0);
	vclock_advance(c, 5);
	assert_int_equal(vclock_now(c), 5);
	vclock_advance(c, 0);
	assert_int_equal(vclock_now(c), 5);
	vclock_advance(c, 1000000000000ull);
	assert_int_equal(vclock_now(c), 1000000000005ull);
	assert_int_equal(vclock_wall_ns(c), 1000000000005ull);
	vclock_destroy(c);
	vclock_destroy(NULL);
}

static void test_manual_deadline_order(void **state)
{
	(void)state;
	struct log l;
	struct vclock *c = manual_clock(&l);
	struct tmr a, b, d, e;

	tmr_init(&a, &l, 1);
	tmr_init(&b, &l, 2);
	tmr_init(&d, &l, 3);
	tmr_init(&e, &l, 4);
	assert_false(vclock_armed(c, &a.t));
	vclock_arm(c, &a.t, 300);
	vclock_arm(c, &b.t, 100);
	vclock_arm(c, &d.t, 200);
	vclock_arm(c, &e.t, 100);  /* same deadline as b, armed later: fires after b */
	assert_true(vclock_armed(c, &a.t));
	assert_true(vclock_armed(c, &e.t));

	vclock_advance(c, 99);
	assert_int_equal(l.n, 0);
	vclock_advance(c, 151);    /* to 250 */
	assert_int_equal(l.n, 3);
	assert_fire(&l, 0, 2, 100);
	assert_fire(&l, 1, 4, 100);
	assert_fire(&l, 2, 3, 200);
	assert_int_equal(vclock_now(c), 250);
	assert_false(vclock_armed(c, &b.t));
	assert_false(vclock_armed(c, &d.t));
	assert_true(vclock_armed(c, &a.t));

	vclock_advance(c, 50);     /* exactly to 300: a deadline equal to the target fires */
	assert_int_equal(l.n, 4);
	assert_fire(&l, 3, 1, 300);
	assert_false(vclock_armed(c, &a.t));
	vclock_advance(c, 1000);
	assert_int_equal(l.n, 4);
	vclock_destroy(c);
}

static void test_manual_periodic(void **state)
{
	(void)state;
	struct log l;
	struct vclock *c = manual_clock(&l);
	struct tmr p;

	tmr_init(&p, &l, 7);
	p.period = 10;
	p.limit = 12;
	vclock_arm(c, &p.t, 10);
	/* One advance covering nine periods fires each at its own time. */
	vclock_advance(c, 95);
	assert_int_equal(l.n, 9);
	for (unsigned i = 0; i < 9; i++)
		assert_fire(&l, i, 7, 10ull * (i + 1));
	assert_int_equal(vclock_now(c), 95);
	assert_true(vclock_armed(c, &p.t));
	vclock_advance(c, 5);
	assert_int_equal(l.n, 10);
	assert_fire(&l, 9, 7, 100);
	/* Stops re-arming at the limit. */
	vclock_advance(c, 1000);
	assert_int_equal(l.n, 12);
	assert_fire(&l, 11, 7, 120);
	assert_false(vclock_armed(c, &p.t));
	assert_int_equal(vclock_now(c), 1100);
	vclock_destroy(c);
}

static void test_manual_cancel(void **state)
{
	(void)state;
	struct log l;
	struct vclock *c = manual_clock(&l);
	struct tmr a, b, d;

	tmr_init(&a, &l, 1);
	tmr_init(&b, &l, 2);
	tmr_init(&d, &l, 3);
	vclock_arm(c, &a.t, 50);
	vclock_arm(c, &b.t, 60);
	vclock_arm(c, &d.t, 70);
	vclock_cancel(c, &b.t);
	assert_false(vclock_armed(c, &b.t));
	vclock_cancel(c, &b.t);    /* cancelling an unarmed timer is harmless */
	/* A firing callback cancels a later timer of the same window. */
	a.cancel = &d.t;
	vclock_advance(c, 100);
	assert_int_equal(l.n, 1);
	assert_fire(&l, 0, 1, 50);
	assert_false(vclock_armed(c, &d.t));
	/* Cancelled timers can be armed again. */
	vclock_arm(c, &b.t, 110);
	vclock_advance(c, 10);
	assert_int_equal(l.n, 2);
	assert_fire(&l, 1, 2, 110);
	vclock_destroy(c);
}

static void test_manual_rearm_moves(void **state)
{
	(void)state;
	struct log l;
	struct vclock *c = manual_clock(&l);
	struct tmr a, b;

	tmr_init(&a, &l, 1);
	tmr_init(&b, &l, 2);
	vclock_arm(c, &b.t, 50);
	/* Earlier: fires once, at the new time only. */
	vclock_arm(c, &a.t, 100);
	vclock_arm(c, &a.t, 30);
	vclock_advance(c, 200);
	assert_int_equal(l.n, 2);
	assert_fire(&l, 0, 1, 30);
	assert_fire(&l, 1, 2, 50);
	/* Later: nothing at the old time. */
	vclock_arm(c, &a.t, 230);
	vclock_arm(c, &a.t, 400);
	vclock_advance(c, 100);
	assert_int_equal(l.n, 2);
	assert_true(vclock_armed(c, &a.t));
	vclock_advance(c, 100);
	assert_int_equal(l.n, 3);
	assert_fire(&l, 2, 1, 400);
	vclock_destroy(c);
}

static void test_manual_past_and_chained(void **state)
{
	(void)state;
	struct log l;
	struct vclock *c = manual_clock(&l);
	struct tmr a, b, d;

	tmr_init(&a, &l, 1);
	tmr_init(&b, &l, 2);
	tmr_init(&d, &l, 3);
	vclock_advance(c, 100);
	/* A deadline in the past fires at the next advance, at the current time. */
	vclock_arm(c, &a.t, 40);
	assert_int_equal(l.n, 0);
	vclock_advance(c, 0);
	assert_int_equal(l.n, 1);
	assert_fire(&l, 0, 1, 100);

	/* A callback arming another timer inside the window: it fires in the same advance, at
	   its deadline; one armed in the past fires right after, at the same time. */
	a.arm = &b.t;
	a.arm_at = 150;
	b.arm = &d.t;
	b.arm_at = 10;
	vclock_arm(c, &a.t, 120);
	vclock_advance(c, 100);
	assert_int_equal(l.n, 4);
	assert_fire(&l, 1, 1, 120);
	assert_fire(&l, 2, 2, 150);
	assert_fire(&l, 3, 3, 150);
	assert_int_equal(vclock_now(c), 200);
	vclock_destroy(c);
}

static void test_manual_advance_saturates(void **state)
{
	(void)state;
	struct log l;
	struct vclock *c = manual_clock(&l);
	struct tmr a;

	tmr_init(&a, &l, 1);
	vclock_advance(c, 1000);
	vclock_arm(c, &a.t, UINT64_MAX - 5);
	/* Time never runs backwards: an advance past the end of time stops there. */
	vclock_advance(c, UINT64_MAX);
	assert_int_equal(vclock_now(c), UINT64_MAX);
	assert_int_equal(l.n, 1);
	assert_fire(&l, 0, 1, UINT64_MAX - 5);
	vclock_advance(c, 1);
	assert_int_equal(vclock_now(c), UINT64_MAX);
	vclock_destroy(c);
}

static void test_manual_stop(void **state)
{
	(void)state;
	struct log l;
	struct vclock *c = manual_clock(&l);
	struct tmr a, b;

	tmr_init(&a, &l, 1);
	tmr_init(&b, &l, 2);
	vclock_arm(c, &a.t, 10);
	vclock_arm(c, &b.t, 20);
	vclock_stop(c);
	/* Armed timers dropped, new ones refused; time and cancel still work. */
	assert_false(vclock_armed(c, &a.t));
	assert_false(vclock_armed(c, &b.t));
	vclock_arm(c, &a.t, 30);
	assert_false(vclock_armed(c, &a.t));
	vclock_cancel(c, &a.t);
	vclock_advance(c, 100);
	assert_int_equal(vclock_now(c), 100);
	assert_int_equal(l.n, 0);
	vclock_stop(c);
	vclock_destroy(c);
}

static void test_manual_wall(void **state)
{
	(void)state;
	struct log l;
	struct vclock *c = manual_clock(&l);

	vclock_set_wall(c, 1700000000000000000ull);
	assert_int_equal(vclock_wall_ns(c), 1700000000000000000ull);
	vclock_advance(c, 7);
	assert_int_equal(vclock_wall_ns(c), 1700000000000000007ull);
	/* Setting later applies at the current vclock time; monotonic time is untouched. */
	vclock_set_wall(c, 5);
	assert_int_equal(vclock_wall_ns(c), 5);
	assert_int_equal(vclock_now(c), 7);
	vclock_advance(c, 3);
	assert_int_equal(vclock_wall_ns(c), 8);
	assert_int_equal(vclock_now(c), 10);
	vclock_destroy(c);
}

/* ---- real mode ---- */

static uint64_t mono_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static uint64_t cpu_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void sleep_ms(unsigned ms)
{
	struct timespec t = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	while (nanosleep(&t, &t) != 0 && errno == EINTR)
		;
}

struct rt {
	struct vclock *c;
	struct vclock_timer t;
	unsigned fired;            /* atomic */
	uint64_t now;              /* the callback's now_ns */
	uint64_t period;
	unsigned limit;
};

static void rt_fire(void *ctx, uint64_t now)
{
	struct rt *r = ctx;
	unsigned n = __atomic_add_fetch(&r->fired, 1, __ATOMIC_ACQ_REL);

	__atomic_store_n(&r->now, now, __ATOMIC_RELEASE);
	if (r->period && n < r->limit)
		vclock_arm(r->c, &r->t, now + r->period);
}

/* Wait until `r` fired `n` times or `ms` passed. */
static bool wait_fired(struct rt *r, unsigned n, unsigned ms)
{
	for (unsigned i = 0; i < ms; i++) {
		if (__atomic_load_n(&r->fired, __ATOMIC_ACQUIRE) >= n)
			return true;
		sleep_ms(1);
	}
	return __atomic_load_n(&r->fired, __ATOMIC_ACQUIRE) >= n;
}

static void test_real_clock(void **state)
{
	(void)state;
	struct vclock *c = NULL;
	struct timespec w;

	assert_int_equal(vclock_create(false, &c), 0);
	clock_gettime(CLOCK_REALTIME, &w);
	uint64_t host_wall = (uint64_t)w.tv_sec * 1000000000ull + (uint64_t)w.tv_nsec;
	uint64_t wall = vclock_wall_ns(c);
	assert_true(wall + 1000000000ull > host_wall && wall < host_wall + 1000000000ull);
	uint64_t t0 = vclock_now(c);
	sleep_ms(2);
	uint64_t t1 = vclock_now(c);
	assert_true(t1 >= t0 + 2000000ull);
	/* Test-only controls do nothing to a real clock. */
	vclock_advance(c, 3600000000000ull);
	assert_true(vclock_now(c) < 3600000000000ull);
	vclock_set_wall(c, 5);
	assert_true(vclock_wall_ns(c) > 1000000000000000000ull);
	vclock_destroy(c);
}

static void test_real_timer_fires(void **state)
{
	(void)state;
	struct rt r = { 0 };

	assert_int_equal(vclock_create(false, &r.c), 0);
	vclock_timer_init(&r.t, rt_fire, &r);
	uint64_t start = mono_ns();
	uint64_t when = vclock_now(r.c) + 5000000ull;
	vclock_arm(r.c, &r.t, when);
	/* Generous: shared, sanitised CI machines stall. */
	assert_true(wait_fired(&r, 1, 5000));
	assert_true(mono_ns() - start >= 5000000ull);
	assert_true(__atomic_load_n(&r.now, __ATOMIC_ACQUIRE) >= when);
	assert_false(vclock_armed(r.c, &r.t));
	assert_int_equal(__atomic_load_n(&r.fired, __ATOMIC_ACQUIRE), 1);

	/* Periodic from the callback, on the timer thread. */
	r.period = 1000000ull;
	r.limit = 5;
	vclock_arm(r.c, &r.t, vclock_now(r.c) + 1000000ull);
	assert_true(wait_fired(&r, 5, 5000));
	sleep_ms(10);
	assert_int_equal(__atomic_load_n(&r.fired, __ATOMIC_ACQUIRE), 5);
	vclock_destroy(r.c);
}

static void test_real_destroy_armed(void **state)
{
	(void)state;
	struct rt a = { 0 }, b = { 0 };
	struct vclock *c = NULL;

	assert_int_equal(vclock_create(false, &c), 0);
	vclock_timer_init(&a.t, rt_fire, &a);
	vclock_timer_init(&b.t, rt_fire, &b);
	vclock_arm(c, &a.t, vclock_now(c) + 10000000000ull);
	vclock_arm(c, &b.t, vclock_now(c) + 20000000000ull);
	uint64_t start = mono_ns();
	vclock_destroy(c);
	/* Joined promptly (not at the first deadline), nothing fired. */
	assert_true(mono_ns() - start < 5000000000ull);
	assert_int_equal(a.fired, 0);
	assert_int_equal(b.fired, 0);
	assert_false(a.t.armed);
	assert_false(b.t.armed);
}

struct slow {
	unsigned started, done;    /* atomic */
};

static void slow_fire(void *ctx, uint64_t now)
{
	struct slow *s = ctx;
	(void)now;
	__atomic_store_n(&s->started, 1, __ATOMIC_RELEASE);
	sleep_ms(50);
	__atomic_store_n(&s->done, 1, __ATOMIC_RELEASE);
}

/* vclock_stop waits for a callback already running, and none runs after it. */
static void test_real_stop_waits(void **state)
{
	(void)state;
	struct vclock *c = NULL;
	struct slow s = { 0, 0 };
	struct rt later = { 0 };
	struct vclock_timer t;

	assert_int_equal(vclock_create(false, &c), 0);
	vclock_timer_init(&t, slow_fire, &s);
	vclock_timer_init(&later.t, rt_fire, &later);
	vclock_arm(c, &t, vclock_now(c) + 1000000ull);
	vclock_arm(c, &later.t, vclock_now(c) + 100000000ull);
	for (unsigned i = 0; i < 5000 && !__atomic_load_n(&s.started, __ATOMIC_ACQUIRE); i++)
		sleep_ms(1);
	assert_int_equal(__atomic_load_n(&s.started, __ATOMIC_ACQUIRE), 1);
	vclock_stop(c);
	assert_int_equal(__atomic_load_n(&s.done, __ATOMIC_ACQUIRE), 1);
	assert_false(vclock_armed(c, &later.t));
	vclock_arm(c, &later.t, vclock_now(c) + 1000000ull);
	assert_false(vclock_armed(c, &later.t));
	sleep_ms(150);
	assert_int_equal(__atomic_load_n(&later.fired, __ATOMIC_ACQUIRE), 0);
	vclock_destroy(c);
}

/* A deadline so far out that start + when overflows must sleep, not spin, and must still be
   overtaken by an earlier timer armed later. */
static void test_real_far_future(void **state)
{
	(void)state;
	struct rt far = { 0 }, near = { 0 };
	struct vclock *c = NULL;

	assert_int_equal(vclock_create(false, &c), 0);
	vclock_timer_init(&far.t, rt_fire, &far);
	vclock_timer_init(&near.t, rt_fire, &near);
	vclock_arm(c, &far.t, UINT64_MAX);
	sleep_ms(20);  /* let the thread pick the deadline up */
	uint64_t cpu0 = cpu_ns();
	sleep_ms(200);
	uint64_t spent = cpu_ns() - cpu0;
	assert_true(spent < 50000000ull);
	near.c = c;
	vclock_arm(c, &near.t, vclock_now(c) + 1000000ull);
	assert_true(wait_fired(&near, 1, 5000));
	assert_int_equal(far.fired, 0);
	assert_true(vclock_armed(c, &far.t));
	vclock_destroy(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_manual_now_advance),
		cmocka_unit_test(test_manual_deadline_order),
		cmocka_unit_test(test_manual_periodic),
		cmocka_unit_test(test_manual_cancel),
		cmocka_unit_test(test_manual_rearm_moves),
		cmocka_unit_test(test_manual_past_and_chained),
		cmocka_unit_test(test_manual_advance_saturates),
		cmocka_unit_test(test_manual_stop),
		cmocka_unit_test(test_manual_wall),
		cmocka_unit_test(test_real_clock),
		cmocka_unit_test(test_real_timer_fires),
		cmocka_unit_test(test_real_destroy_armed),
		cmocka_unit_test(test_real_stop_waits),
		cmocka_unit_test(test_real_far_future),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
