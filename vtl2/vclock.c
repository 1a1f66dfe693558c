/*
 * vclock: see vclock.h. Armed timers sit in one list sorted by deadline (device models arm a
 * handful, so a list beats anything cleverer). Real mode runs a thread that sleeps on a
 * condition variable until the first deadline; manual mode fires timers only inside
 * vclock_advance. Callbacks always run without the lock held.
 */
#include "vtl2/vclock.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

/* The timer thread runs device callbacks only: a small stack is plenty. */
#define VCLOCK_THREAD_STACK (128u << 10)

struct vclock {
	bool manual;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool thread_started;
	bool stopping;
	struct vclock_timer *armed;     /* sorted by when */
	uint64_t start_mono;            /* real: CLOCK_MONOTONIC ns at creation */
	uint64_t start_wall;            /* wall ns at vclock time 0 */
	uint64_t manual_now;            /* manual: current time */
};

static uint64_t host_ns(clockid_t id)
{
	struct timespec t;
	clock_gettime(id, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

uint64_t vclock_now(const struct vclock *c)
{
	if (c->manual)
		return __atomic_load_n(&c->manual_now, __ATOMIC_ACQUIRE);
	return host_ns(CLOCK_MONOTONIC) - c->start_mono;
}

uint64_t vclock_wall_ns(const struct vclock *c)
{
	return __atomic_load_n(&c->start_wall, __ATOMIC_ACQUIRE) + vclock_now(c);
}

void vclock_set_wall(struct vclock *c, uint64_t wall_ns)
{
	if (c->manual)
		__atomic_store_n(&c->start_wall, wall_ns - vclock_now(c), __ATOMIC_RELEASE);
}

static void unlink_timer(struct vclock *c, struct vclock_timer *t)
{
	for (struct vclock_timer **pp = &c->armed; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	t->next = NULL;
	t->armed = false;
}

/* Pop the first timer due at `now`, or NULL. Lock held. */
static struct vclock_timer *pop_due(struct vclock *c, uint64_t now)
{
	struct vclock_timer *t = c->armed;
	if (!t || t->when > now)
		return NULL;
	c->armed = t->next;
	t->next = NULL;
	t->armed = false;
	return t;
}

static void *timer_thread(void *arg)
{
	struct vclock *c = arg;
	pthread_mutex_lock(&c->lock);
	while (!c->stopping) {
		uint64_t now = vclock_now(c);
		struct vclock_timer *t = pop_due(c, now);
		if (t) {
			void (*fire)(void *, uint64_t) = t->fire;
			void *ctx = t->ctx;
			pthread_mutex_unlock(&c->lock);
			fire(ctx, now);
			pthread_mutex_lock(&c->lock);
			continue;
		}
		if (!c->armed) {
			pthread_cond_wait(&c->cond, &c->lock);
			continue;
		}
		/* A deadline past the end of the host clock (e.g. UINT64_MAX for "never") would
		   wrap start + when into the past and spin: sleep until signalled instead. */
		if (c->armed->when > UINT64_MAX - c->start_mono) {
			pthread_cond_wait(&c->cond, &c->lock);
			continue;
		}
		uint64_t abs = c->start_mono + c->armed->when;
		struct timespec ts = { (time_t)(abs / 1000000000ull), (long)(abs % 1000000000ull) };
		pthread_cond_timedwait(&c->cond, &c->lock, &ts);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

int vclock_create(bool manual, struct vclock **out)
{
	struct vclock *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->manual = manual;
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (!manual) {
		c->start_mono = host_ns(CLOCK_MONOTONIC);
		c->start_wall = host_ns(CLOCK_REALTIME);
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, VCLOCK_THREAD_STACK);
		int prc = pthread_create(&c->thread, &attr, timer_thread, c);
		pthread_attr_destroy(&attr);
		if (prc != 0) {
			pthread_cond_destroy(&c->cond);
			pthread_mutex_destroy(&c->lock);
			free(c);
			return -EAGAIN;
		}
		c->thread_started = true;
	}
	*out = c;
	return 0;
}

void vclock_stop(struct vclock *c)
{
	pthread_mutex_lock(&c->lock);
	c->stopping = true;
	while (c->armed)
		unlink_timer(c, c->armed);
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	if (c->thread_started) {
		pthread_join(c->thread, NULL);
		c->thread_started = false;
	}
}

void vclock_destroy(struct vclock *c)
{
	if (!c)
		return;
	vclock_stop(c);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void vclock_timer_init(struct vclock_timer *t, void (*fire)(void *ctx, uint64_t now_ns),
		       void *ctx)
{
	*t = (struct vclock_timer){ .fire = fire, .ctx = ctx };
}

void vclock_arm(struct vclock *c, struct vclock_timer *t, uint64_t when_ns)
{
	pthread_mutex_lock(&c->lock);
	if (c->stopping) {
		pthread_mutex_unlock(&c->lock);
		return;
	}
	if (t->armed)
		unlink_timer(c, t);
	t->when = when_ns;
	t->armed = true;
	struct vclock_timer **pp = &c->armed;
	while (*pp && (*pp)->when <= when_ns)
		pp = &(*pp)->next;
	t->next = *pp;
	*pp = t;
	/* Only a new first deadline changes how long the thread sleeps. */
	if (c->armed == t)
		pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

void vclock_cancel(struct vclock *c, struct vclock_timer *t)
{
	pthread_mutex_lock(&c->lock);
	if (t->armed)
		unlink_timer(c, t);
	pthread_mutex_unlock(&c->lock);
}

bool vclock_armed(struct vclock *c, const struct vclock_timer *t)
{
	pthread_mutex_lock(&c->lock);
	bool armed = t->armed;
	pthread_mutex_unlock(&c->lock);
	return armed;
}

void vclock_advance(struct vclock *c, uint64_t ns)
{
	if (!c->manual)
		return;
	pthread_mutex_lock(&c->lock);
	/* Saturate: time never runs backwards. */
	uint64_t target = ns > UINT64_MAX - c->manual_now ? UINT64_MAX : c->manual_now + ns;
	for (;;) {
		struct vclock_timer *t = c->armed;
		if (!t || t->when > target)
			break;
		/* Time moves to each deadline, so a callback sees exactly its own time and
		   periodic re-arms inside the window fire too. */
		if (t->when > c->manual_now)
			__atomic_store_n(&c->manual_now, t->when, __ATOMIC_RELEASE);
		pop_due(c, c->manual_now);
		void (*fire)(void *, uint64_t) = t->fire;
		void *ctx = t->ctx;
		uint64_t now = c->manual_now;
		pthread_mutex_unlock(&c->lock);
		fire(ctx, now);
		pthread_mutex_lock(&c->lock);
	}
	__atomic_store_n(&c->manual_now, target, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&c->lock);
}
