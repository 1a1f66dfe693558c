/*
 * ACPI PM1a event/control blocks and PM timer. Register facts are in acpi_pm.h.
 *
 * The timer value and TMR_STS are derived from vclock_now on every access, so no periodic
 * timer runs; a one-shot vclock timer is armed for the next bit-23 change only while TMR_EN is
 * set and TMR_STS is clear (at most one firing per 2^23 ticks, ~2.34 s), to raise the SCI on
 * time.
 */
#include "devices/acpi_pm.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#define ACPI_PM_NS 1000000000ull
#define ACPI_PM_TMR_BITS 24
#define ACPI_PM_TMR_MASK ((1u << ACPI_PM_TMR_BITS) - 1)
/* TMR_STS is set when this bit of the counter changes. */
#define ACPI_PM_TMR_STS_SHIFT (ACPI_PM_TMR_BITS - 1)

#define ACPI_PM1_STS_W1C (ACPI_PM1_TMR | ACPI_PM1_PWRBTN | ACPI_PM1_WAK)
#define ACPI_PM1_EN_MASK (ACPI_PM1_TMR | ACPI_PM1_GBL | ACPI_PM1_PWRBTN | ACPI_PM1_SLPBTN | \
			  ACPI_PM1_RTC | ACPI_PM1_PCIEXP_WAKE_DIS)
#define ACPI_PM1_SCI_SOURCES (ACPI_PM1_TMR | ACPI_PM1_PWRBTN)
#define ACPI_PM1_CNT_STORED (ACPI_PM1_CNT_BM_RLD | ACPI_PM1_CNT_SLP_TYP_MASK)

/* Unsupported sleep requests are guest-triggerable: log only the first few. */
#define ACPI_PM_LOG_BUDGET 4

struct acpi_pm {
	pthread_mutex_t lock;
	struct devctx dc;
	struct irq_line sci;
	bool sci_level;
	uint16_t sts;
	uint16_t en;
	uint16_t cnt;            /* ACPI_PM1_CNT_STORED bits only */
	uint64_t tmr_epoch;      /* timer ticks >> 23 when TMR_STS was last brought up to date */
	struct vclock_timer timer;
	uint64_t timer_when;     /* deadline armed, 0 = none (the first toggle is never at 0) */
	unsigned log_budget;
};

/* floor(ns * HZ / 1e9) without overflow for any ns. */
static uint64_t acpi_pm_ticks(uint64_t ns)
{
	return ns / ACPI_PM_NS * ACPI_PM_TMR_HZ + ns % ACPI_PM_NS * ACPI_PM_TMR_HZ / ACPI_PM_NS;
}

/* The first ns at which acpi_pm_ticks(ns) >= t: ceil(t * 1e9 / HZ), saturating. */
static uint64_t acpi_pm_ticks_to_ns(uint64_t t)
{
	uint64_t q = t / ACPI_PM_TMR_HZ, r = t % ACPI_PM_TMR_HZ;
	uint64_t frac = (r * ACPI_PM_NS + ACPI_PM_TMR_HZ - 1) / ACPI_PM_TMR_HZ;
	if (q > (UINT64_MAX - frac) / ACPI_PM_NS)
		return UINT64_MAX;
	return q * ACPI_PM_NS + frac;
}

static uint32_t acpi_pm_vp(const struct iobus_access *a)
{
	return a ? a->vp : 0;
}

/* Latch TMR_STS for bit-23 changes up to `now`. Lock held. */
static void acpi_pm_catch_up(struct acpi_pm *pm, uint64_t now)
{
	uint64_t epoch = acpi_pm_ticks(now) >> ACPI_PM_TMR_STS_SHIFT;
	if (epoch != pm->tmr_epoch) {
		pm->sts |= ACPI_PM1_TMR;
		pm->tmr_epoch = epoch;
	}
}

/* Drive the SCI and keep the timer armed exactly while it is needed. Lock held, caught up. */
static void acpi_pm_sync(struct acpi_pm *pm, uint64_t now)
{
	bool level = (pm->sts & pm->en & ACPI_PM1_SCI_SOURCES) != 0;
	if (level != pm->sci_level) {
		pm->sci_level = level;
		irq_line_set(&pm->sci, level);
	}
	bool want = (pm->en & ACPI_PM1_TMR) && !(pm->sts & ACPI_PM1_TMR);
	if (want) {
		uint64_t when = acpi_pm_ticks_to_ns((pm->tmr_epoch + 1) << ACPI_PM_TMR_STS_SHIFT);
		/* Never in the past (that would refire at once): the rounding keeps it ahead. */
		if (when <= now)
			when = now + 1;
		if (when != pm->timer_when) {
			pm->timer_when = when;
			vclock_arm(pm->dc.clock, &pm->timer, when);
		}
	} else if (pm->timer_when) {
		pm->timer_when = 0;
		vclock_cancel(pm->dc.clock, &pm->timer);
	}
}

static void acpi_pm_fire(void *ctx, uint64_t now_ns)
{
	struct acpi_pm *pm = ctx;
	uint64_t now = vclock_now(pm->dc.clock);
	if (now < now_ns)
		now = now_ns;
	pthread_mutex_lock(&pm->lock);
	/* May be a stale run after a cancel: everything is recomputed from the time. */
	pm->timer_when = 0;
	acpi_pm_catch_up(pm, now);
	acpi_pm_sync(pm, now);
	pthread_mutex_unlock(&pm->lock);
}

/* The 12-byte register block as the guest sees it now. Lock held, caught up. */
static void acpi_pm_image(const struct acpi_pm *pm, uint64_t now, uint8_t img[ACPI_PM_LEN])
{
	uint16_t cnt = (uint16_t)(pm->cnt | ACPI_PM1_CNT_SCI_EN);
	uint32_t tmr = (uint32_t)acpi_pm_ticks(now) & ACPI_PM_TMR_MASK;
	img[0] = (uint8_t)pm->sts;
	img[1] = (uint8_t)(pm->sts >> 8);
	img[2] = (uint8_t)pm->en;
	img[3] = (uint8_t)(pm->en >> 8);
	img[4] = (uint8_t)cnt;
	img[5] = (uint8_t)(cnt >> 8);
	img[6] = 0;
	img[7] = 0;
	for (unsigned i = 0; i < 4; i++)
		img[8 + i] = (uint8_t)(tmr >> (8 * i));
}

static bool acpi_pm_valid(uint64_t offset, unsigned size)
{
	return (size == 1 || size == 2 || size == 4) && offset < ACPI_PM_LEN &&
	       offset + size <= ACPI_PM_LEN;
}

static enum iobus_action acpi_pm_read(void *dev, const struct iobus_access *a,
				      uint64_t offset, unsigned size, uint64_t *value)
{
	struct acpi_pm *pm = dev;
	uint8_t img[ACPI_PM_LEN];
	(void)a;
	*value = iobus_ones(size);
	if (!acpi_pm_valid(offset, size))
		return IOBUS_BAD_REGISTER;
	pthread_mutex_lock(&pm->lock);
	uint64_t now = vclock_now(pm->dc.clock);
	acpi_pm_catch_up(pm, now);
	acpi_pm_sync(pm, now);
	acpi_pm_image(pm, now, img);
	pthread_mutex_unlock(&pm->lock);
	uint64_t v = 0;
	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)img[offset + i] << (8 * i);
	*value = v;
	return IOBUS_OK;
}

/* The part of a write that lands on the 16-bit register at `reg`: value and byte mask. */
static uint16_t acpi_pm_lanes(uint64_t offset, unsigned size, uint64_t value, unsigned reg,
			      uint16_t *val)
{
	uint16_t mask = 0, v = 0;
	for (unsigned i = 0; i < 2; i++) {
		uint64_t byte = reg + i;
		if (byte < offset || byte >= offset + size)
			continue;
		mask = (uint16_t)(mask | 0xFFu << (8 * i));
		v = (uint16_t)(v | ((value >> (8 * (byte - offset))) & 0xFF) << (8 * i));
	}
	*val = v;
	return mask;
}

enum acpi_pm_sleep { ACPI_PM_AWAKE, ACPI_PM_POWER_OFF, ACPI_PM_REFUSED };

static enum iobus_action acpi_pm_write(void *dev, const struct iobus_access *a,
				       uint64_t offset, unsigned size, uint64_t value)
{
	struct acpi_pm *pm = dev;
	enum acpi_pm_sleep sleep = ACPI_PM_AWAKE;
	unsigned typ = 0;
	bool log = false;
	uint16_t v, m;
	if (!acpi_pm_valid(offset, size))
		return IOBUS_BAD_REGISTER;
	pthread_mutex_lock(&pm->lock);
	/* Latch events first, so a clear only clears what the guest could have seen. */
	uint64_t now = vclock_now(pm->dc.clock);
	acpi_pm_catch_up(pm, now);
	m = acpi_pm_lanes(offset, size, value, ACPI_PM1_STS, &v);
	pm->sts = (uint16_t)(pm->sts & ~(v & m & ACPI_PM1_STS_W1C));
	m = acpi_pm_lanes(offset, size, value, ACPI_PM1_EN, &v);
	pm->en = (uint16_t)((pm->en & ~m) | (v & m & ACPI_PM1_EN_MASK));
	m = acpi_pm_lanes(offset, size, value, ACPI_PM1_CNT, &v);
	pm->cnt = (uint16_t)((pm->cnt & ~m) | (v & m & ACPI_PM1_CNT_STORED));
	if (m & v & ACPI_PM1_CNT_SLP_EN) {
		typ = (pm->cnt & ACPI_PM1_CNT_SLP_TYP_MASK) >> ACPI_PM1_CNT_SLP_TYP_SHIFT;
		if (typ == ACPI_PM_S5_TYP) {
			sleep = ACPI_PM_POWER_OFF;
		} else {
			/* Not entered: report the wake at once (ACPICA polls WAK_STS). */
			sleep = ACPI_PM_REFUSED;
			pm->sts |= ACPI_PM1_WAK;
			if (pm->log_budget) {
				pm->log_budget--;
				log = true;
			}
		}
	}
	acpi_pm_sync(pm, now);
	pthread_mutex_unlock(&pm->lock);
	if (log)
		fprintf(pm->dc.log ? pm->dc.log : stderr,
			"acpi_pm: sleep type %u requested by vp %u: not supported, ignored\n", typ,
			acpi_pm_vp(a));
	/* Outside the lock: the stop path may kick VPs that are inside our handlers. */
	if (sleep == ACPI_PM_POWER_OFF)
		devctx_stop(&pm->dc, DEVCTX_STOP_POWER_OFF, 0, acpi_pm_vp(a));
	return IOBUS_OK;
}

const struct iobus_ops acpi_pm_ops = {
	.read = acpi_pm_read,
	.write = acpi_pm_write,
};

void acpi_pm_power_button(struct acpi_pm *pm)
{
	if (!pm)
		return;
	pthread_mutex_lock(&pm->lock);
	uint64_t now = vclock_now(pm->dc.clock);
	acpi_pm_catch_up(pm, now);
	pm->sts |= ACPI_PM1_PWRBTN;
	acpi_pm_sync(pm, now);
	pthread_mutex_unlock(&pm->lock);
}

int acpi_pm_create(const struct devctx *dc, struct irq_line sci, struct acpi_pm **out)
{
	if (!out || !dc || !dc->clock)
		return -EINVAL;
	struct acpi_pm *pm = calloc(1, sizeof(*pm));
	if (!pm)
		return -ENOMEM;
	if (pthread_mutex_init(&pm->lock, NULL)) {
		free(pm);
		return -ENOMEM;
	}
	pm->dc = *dc;
	pm->sci = sci;
	pm->log_budget = ACPI_PM_LOG_BUDGET;
	/* TMR_STS reports changes from here on, not those before the device existed. */
	pm->tmr_epoch = acpi_pm_ticks(vclock_now(dc->clock)) >> ACPI_PM_TMR_STS_SHIFT;
	vclock_timer_init(&pm->timer, acpi_pm_fire, pm);
	*out = pm;
	return 0;
}

void acpi_pm_destroy(struct acpi_pm *pm)
{
	if (!pm)
		return;
	vclock_cancel(pm->dc.clock, &pm->timer);
	pthread_mutex_destroy(&pm->lock);
	free(pm);
}
