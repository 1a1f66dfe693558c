/*
 * vclock: time for device models. A monotonic nanosecond clock, the host's wall clock, and
 * one-shot timers whose callbacks run on the clock's own thread.
 *
 * Manual mode (unit tests): time stands still until vclock_advance(), which fires the due
 * timers on the calling thread, in deadline order, so device tests control time exactly.
 *
 * Rules for callbacks: they run with no vclock lock held and may arm or cancel timers
 * (including their own). vclock_cancel does not wait for a callback already running, so a
 * callback can still run once after cancel: a device checks its own state in the callback
 * (e.g. a generation number) instead of assuming the timer is still wanted. This keeps the
 * lock order simple: device lock -> vclock lock, never the reverse.
 */
#ifndef MEZZ_VTL2_VCLOCK_H
#define MEZZ_VTL2_VCLOCK_H

#include <stdbool.h>
#include <stdint.h>

struct vclock;

struct vclock_timer {
	void (*fire)(void *ctx, uint64_t now_ns);
	void *ctx;
	/* owned by vclock */
	uint64_t when;
	bool armed;
	struct vclock_timer *next;
};

/** manual = false: real clock and a timer thread; true: test clock at 0 ns, wall at 0 s. */
int vclock_create(bool manual, struct vclock **out);
/**
 * Stop the clock: drop every armed timer, refuse new ones, and wait for the timer thread (so
 * no callback is running or will run). The clock stays valid for vclock_now/cancel: devices
 * whose destroy cancels their timers are torn down after this and before vclock_destroy.
 */
void vclock_stop(struct vclock *c);
/** vclock_stop, then free the clock. NULL is accepted. */
void vclock_destroy(struct vclock *c);

/** Monotonic nanoseconds since the clock was created. */
uint64_t vclock_now(const struct vclock *c);
/** Host wall-clock time in nanoseconds since the Unix epoch (manual: vclock_set_wall base). */
uint64_t vclock_wall_ns(const struct vclock *c);
/** Manual mode: set the wall clock at the current vclock_now(). Ignored in real mode. */
void vclock_set_wall(struct vclock *c, uint64_t wall_ns);

void vclock_timer_init(struct vclock_timer *t, void (*fire)(void *ctx, uint64_t now_ns),
		       void *ctx);
/** (Re)arm `t` to fire once at vclock time `when_ns` (in the past: as soon as possible). */
void vclock_arm(struct vclock *c, struct vclock_timer *t, uint64_t when_ns);
void vclock_cancel(struct vclock *c, struct vclock_timer *t);
bool vclock_armed(struct vclock *c, const struct vclock_timer *t);

/** Manual mode: advance time by `ns`, firing each timer due on the way at its deadline. */
void vclock_advance(struct vclock *c, uint64_t ns);

#endif
