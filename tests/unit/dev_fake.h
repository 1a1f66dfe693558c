/*
 * dev_fake: the partition a device unit test (tests/unit/dev_*_test.c) puts its model in.
 *
 *   struct dev_fake       a manual vclock and a devctx whose services record what the model
 *                         asked for: stop() requests, protect() calls, delivered interrupt
 *                         messages; its log goes to a scratch file.
 *   struct dev_fake_line  a recording interrupt line (level, edges, redundant calls). Lines are
 *                         separate from the dev_fake because each has its own ctl pointer and
 *                         a test keeps them under the names of the device's outputs.
 *   dev_fake_rd/rd_ok/wr  one register access through a model's ops with the expected action.
 *   dev_fake_at/junk      absolute-time advance; deterministic junk for hostile loops.
 *
 * Embed a dev_fake in the test's fixture, dev_fake_init() it before creating the model, and
 * dev_fake_fini() it after destroying the model (its timers are cancelled on a live clock).
 */
#ifndef MEZZ_TESTS_DEV_FAKE_H
#define MEZZ_TESTS_DEV_FAKE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "vtl2/devctx.h"
#include "vtl2/iobus.h"
#include "vtl2/irq.h"
#include "vtl2/vclock.h"

#define DEV_FAKE_MAX_MSGS 4096u

struct dev_fake {
	struct vclock *clock;    /* manual: time moves only by vclock_advance / dev_fake_at */
	struct devctx dc;        /* hand &dc to the model's create() */
	FILE *log;               /* dc.log; NULL (stderr) if no scratch file could be made */

	/* stop(): how many requests, and the last one. */
	struct {
		unsigned count;
		enum devctx_stop why;
		uint32_t code;
		uint32_t vp;
	} stops;

	/* protect(): how many calls, and the last one; protect_hits() answers `hits`. */
	unsigned prots;
	uint64_t prot_page;
	bool prot_on;
	uint64_t hits;

	/* sink: messages in delivery order. A test may reset n to make room. */
	struct irq_msg msgs[DEV_FAKE_MAX_MSGS];
	unsigned n;
	unsigned overflow;       /* deliveries recorded only in `last`: msgs was full */
	struct irq_msg last;     /* the latest delivery, full array or not */
	int fail;                /* nonzero: deliveries return it and are not recorded */
};

/** Zero `fk`, create its clock (at 0 ns) and scratch log, and wire dc to the recorders. */
void dev_fake_init(struct dev_fake *fk);
/** Free the clock and the log: after the model is destroyed. */
void dev_fake_fini(struct dev_fake *fk);

/** Advance the clock to the absolute time `ns` (not before now). */
void dev_fake_at(struct dev_fake *fk, uint64_t ns);

struct dev_fake_line {
	bool level;
	unsigned calls;
	unsigned rises;
	unsigned falls;
	unsigned redundant;      /* calls that did not change the level */
	unsigned pin;            /* pin of the last call */
};

/** An irq_line for a model's create() that records into `l` (zeroed by the caller). */
struct irq_line dev_fake_irq_line(struct dev_fake_line *l, unsigned pin);

/** ops->read as VP `vp`, asserting the action; returns the value. */
uint64_t dev_fake_rd(const struct iobus_ops *ops, void *dev, uint32_t vp, uint64_t off,
		     unsigned size, enum iobus_action want);
/** ops->read as VP `vp`, asserting IOBUS_OK and a value no wider than `size` bytes. */
uint64_t dev_fake_rd_ok(const struct iobus_ops *ops, void *dev, uint32_t vp, uint64_t off,
			unsigned size);
/** ops->write as VP `vp`, asserting the action. */
void dev_fake_wr(const struct iobus_ops *ops, void *dev, uint32_t vp, uint64_t off,
		 unsigned size, uint64_t value, enum iobus_action want);

/** Deterministic junk for hostile-access loops (an LCG step, high bits folded in). */
uint64_t dev_fake_junk(uint64_t *seed);

#endif
