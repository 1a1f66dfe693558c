/*
 * rtc: MC146818A model (see rtc.h for the register facts it follows).
 *
 * Time keeping: guest time = vclock_wall_ns() + (off_s seconds, off_ns nanoseconds). off_ns is
 * the phase of the 32.768 kHz divider chain relative to the wall clock's second; off_s moves
 * the date. While the clock does not count (SET, or divider not 010) the date is held in
 * `held` (broken down, so a write sequence like Linux's sec/min/hour/mday/mon/year can pass
 * through impossible dates without being normalised half-way).
 *
 * Interrupt flags are derived lazily: eval() looks at the guest time between the last
 * evaluation and now and sets PF/UF/AF for the events in between (periodic edges of the
 * divider chain, second boundaries, alarm matches). Every access and the timer callback call
 * it first. The timer is armed only for the next event that could set IRQF.
 *
 * Lock order: rtc lock -> irq_line_set (controller lock) and rtc lock -> vclock lock.
 */
#include "devices/rtc.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#define NS_PER_S 1000000000ull
#define DIV_HZ 32768ull
#define SECS_PER_DAY 86400
#define NEVER INT64_MAX

/* A broken-down date: year 0..9999, mon 1..12, mday 1..31, wday 1..7 (1 = Sunday). */
struct rtc_tm {
	int sec, min, hour, mday, mon, wday, year;
};

struct rtc {
	pthread_mutex_t lock;
	struct vclock *clock;
	struct irq_line irq;
	struct vclock_timer timer;
	uint8_t index;            /* 7 bits */
	bool nmi_masked;
	uint8_t ram[RTC_NVRAM_SIZE]; /* alarm bytes, A (bits 6:0), B and NVRAM live here */
	uint8_t flags;            /* PF | AF | UF */
	bool irqf;                /* = the level driven on irq */
	bool held_valid;          /* the clock does not count: `held` is the date */
	struct rtc_tm held;
	int64_t off_s;
	uint64_t off_ns;          /* 0 .. NS_PER_S - 1 */
	int wday_adj;             /* day of week = computed + wday_adj (mod 7): it is its own
				     register on the chip, writable independently of the date */
	uint64_t eval_w;          /* wall ns up to which flags are evaluated */
};

/* ---- calendar (proleptic Gregorian, days since 1970-01-01) ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = floor_div(y, 400);
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, struct rtc_tm *tm)
{
	z += 719468;
	int64_t era = floor_div(z, 146097);
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	tm->mday = (int)(doy - (153 * mp + 2) / 5 + 1);
	tm->mon = (int)(mp < 10 ? mp + 3 : mp - 9);
	tm->year = (int)(yoe + era * 400 + (tm->mon <= 2));
}

/* 1 = Sunday; 1970-01-01 was a Thursday. */
static int wday_of_days(int64_t days)
{
	return (int)(((days + 4) % 7 + 7) % 7) + 1;
}

static int64_t tm_to_secs(const struct rtc_tm *tm)
{
	return days_from_civil(tm->year, tm->mon, tm->mday) * SECS_PER_DAY + tm->hour * 3600 +
	       tm->min * 60 + tm->sec;
}

/* ---- time base ---- */

static bool running(const struct rtc *r)
{
	return (r->ram[RTC_REG_A] & RTC_A_DV_MASK) == RTC_A_DV_32K;
}

static bool counting(const struct rtc *r)
{
	return running(r) && !(r->ram[RTC_REG_B] & RTC_B_SET);
}

static void guest_time(const struct rtc *r, uint64_t w, int64_t *sec, uint64_t *frac)
{
	uint64_t f = w % NS_PER_S + r->off_ns;
	*sec = (int64_t)(w / NS_PER_S) + r->off_s + (int64_t)(f / NS_PER_S);
	*frac = f % NS_PER_S;
}

/* Make the guest time at wall `w` equal `sec` + `frac` ns. */
static void set_guest_time(struct rtc *r, uint64_t w, int64_t sec, uint64_t frac)
{
	r->off_ns = (frac + NS_PER_S - w % NS_PER_S) % NS_PER_S;
	r->off_s = 0;
	int64_t cur;
	uint64_t f;
	guest_time(r, w, &cur, &f);
	r->off_s = sec - cur;
}

/* 32.768 kHz divider ticks at wall `w` (the phase origin is arbitrary but fixed). */
static uint64_t div_ticks(const struct rtc *r, uint64_t w)
{
	uint64_t x = w + r->off_ns;
	return x / NS_PER_S * DIV_HZ + x % NS_PER_S * DIV_HZ / NS_PER_S;
}

/* Periodic interrupt period in divider ticks, 0 = off. RS 1 and 2 give 256 and 128 Hz with a
   32.768 kHz time base (datasheet table), the same as RS 8 and 9. */
static uint64_t periodic_ticks(const struct rtc *r)
{
	unsigned rs = r->ram[RTC_REG_A] & RTC_A_RS_MASK;
	if (rs == 0)
		return 0;
	if (rs <= 2)
		rs += 7;
	return 1ull << (rs - 1);
}

static void secs_to_tm(const struct rtc *r, int64_t s, struct rtc_tm *tm)
{
	int64_t days = floor_div(s, SECS_PER_DAY);
	int64_t sod = s - days * SECS_PER_DAY;
	civil_from_days(days, tm);
	tm->hour = (int)(sod / 3600);
	tm->min = (int)(sod / 60 % 60);
	tm->sec = (int)(sod % 60);
	tm->wday = (wday_of_days(days) - 1 + r->wday_adj) % 7 + 1;
}

static void current_tm(const struct rtc *r, uint64_t w, struct rtc_tm *tm)
{
	if (r->held_valid) {
		*tm = r->held;
		return;
	}
	int64_t sec;
	uint64_t frac;
	guest_time(r, w, &sec, &frac);
	secs_to_tm(r, sec, tm);
}

/* Start counting from `held`. */
static void resume_from_held(struct rtc *r, uint64_t w, uint64_t frac)
{
	int64_t s = tm_to_secs(&r->held);
	int64_t days = floor_div(s, SECS_PER_DAY);
	r->wday_adj = ((r->held.wday - wday_of_days(days)) % 7 + 7) % 7;
	set_guest_time(r, w, s, frac);
	r->held_valid = false;
}

/* ---- register formats ---- */

static bool binary_mode(const struct rtc *r)
{
	return r->ram[RTC_REG_B] & RTC_B_DM;
}

static uint8_t encode(const struct rtc *r, int v)
{
	v %= 100;
	return binary_mode(r) ? (uint8_t)v : (uint8_t)((v / 10) << 4 | v % 10);
}

/* -1 for a bad BCD digit. */
static int decode(const struct rtc *r, uint8_t v)
{
	if (binary_mode(r))
		return v;
	if ((v >> 4) > 9 || (v & 0xF) > 9)
		return -1;
	return (v >> 4) * 10 + (v & 0xF);
}

static uint8_t encode_hour(const struct rtc *r, int hour)
{
	if (r->ram[RTC_REG_B] & RTC_B_24H)
		return encode(r, hour);
	int h12 = hour % 12 == 0 ? 12 : hour % 12;
	return (uint8_t)(encode(r, h12) | (hour >= 12 ? 0x80 : 0));
}

/* 0..23, or -1 when invalid. */
static int decode_hour(const struct rtc *r, uint8_t v)
{
	if (r->ram[RTC_REG_B] & RTC_B_24H) {
		int h = decode(r, v);
		return h >= 0 && h <= 23 ? h : -1;
	}
	int h = decode(r, v & 0x7F);
	if (h < 1 || h > 12)
		return -1;
	return h % 12 + ((v & 0x80) ? 12 : 0);
}

/* ---- alarm ---- */

/* An alarm field: -2 = don't care, -1 = can never match, else the value. */
static int alarm_field(const struct rtc *r, unsigned reg, int max)
{
	uint8_t v = r->ram[reg];
	if ((v & 0xC0) == 0xC0)
		return -2;
	int d = reg == RTC_HOUR_ALARM ? decode_hour(r, v) : decode(r, v);
	return d >= 0 && d <= max ? d : -1;
}

/* The smallest value > x the field allows below `limit`, or -1. */
static int field_next(int f, int x, int limit)
{
	if (f == -2)
		return x + 1 < limit ? x + 1 : -1;
	return f > x ? f : -1;
}

static int field_first(int f)
{
	return f == -2 ? 0 : f;
}

static bool field_has(int f, int x)
{
	return f == -2 || f == x;
}

/* The first guest second after `after` whose time of day matches the alarm, or NEVER. */
static int64_t alarm_next(const struct rtc *r, int64_t after)
{
	int H = alarm_field(r, RTC_HOUR_ALARM, 23);
	int M = alarm_field(r, RTC_MIN_ALARM, 59);
	int S = alarm_field(r, RTC_SEC_ALARM, 59);
	if (H == -1 || M == -1 || S == -1)
		return NEVER;
	int64_t day = floor_div(after, SECS_PER_DAY);
	int64_t sod = after - day * SECS_PER_DAY;
	int h0 = (int)(sod / 3600), m0 = (int)(sod / 60 % 60), s0 = (int)(sod % 60);
	int64_t base = day * SECS_PER_DAY;
	int h, m, s;
	if (field_has(H, h0) && field_has(M, m0) && (s = field_next(S, s0, 60)) >= 0)
		return base + h0 * 3600 + m0 * 60 + s;
	if (field_has(H, h0) && (m = field_next(M, m0, 60)) >= 0)
		return base + h0 * 3600 + m * 60 + field_first(S);
	if ((h = field_next(H, h0, 24)) >= 0)
		return base + h * 3600 + field_first(M) * 60 + field_first(S);
	return base + SECS_PER_DAY + field_first(H) * 3600 + field_first(M) * 60 + field_first(S);
}

/* ---- flags, IRQ and the timer ---- */

static bool irqf_wanted(const struct rtc *r)
{
	uint8_t b = r->ram[RTC_REG_B];
	return ((r->flags & RTC_C_PF) && (b & RTC_B_PIE)) ||
	       ((r->flags & RTC_C_AF) && (b & RTC_B_AIE)) ||
	       ((r->flags & RTC_C_UF) && (b & RTC_B_UIE));
}

static void update_irq(struct rtc *r)
{
	bool want = irqf_wanted(r);
	if (want != r->irqf) {
		r->irqf = want;
		irq_line_set(&r->irq, want);
	}
}

/* Set the flags for every event in (eval_w, w]. */
static void eval(struct rtc *r, uint64_t w)
{
	if (w > r->eval_w && running(r)) {
		uint64_t a = r->eval_w;
		uint64_t p = periodic_ticks(r);
		if (p && div_ticks(r, w) / p > div_ticks(r, a) / p)
			r->flags |= RTC_C_PF;
		if (counting(r)) {
			int64_t sa, sb;
			uint64_t fa, fb;
			guest_time(r, a, &sa, &fa);
			guest_time(r, w, &sb, &fb);
			if (sb > sa) {
				r->flags |= RTC_C_UF;
				if (alarm_next(r, sa) <= sb)
					r->flags |= RTC_C_AF;
			}
		}
	}
	if (w > r->eval_w)
		r->eval_w = w;
	update_irq(r);
}

/* Arm the timer for the next event that would raise IRQF, if any. */
static void rearm(struct rtc *r, uint64_t w)
{
	uint64_t next = UINT64_MAX;
	uint8_t b = r->ram[RTC_REG_B];
	if (!r->irqf && running(r)) {
		uint64_t p = periodic_ticks(r);
		if ((b & RTC_B_PIE) && p) {
			uint64_t t = (div_ticks(r, w) / p + 1) * p;
			uint64_t x = t / DIV_HZ * NS_PER_S +
				     (t % DIV_HZ * NS_PER_S + DIV_HZ - 1) / DIV_HZ;
			if (x - r->off_ns < next)
				next = x - r->off_ns;
		}
		if (counting(r) && (b & (RTC_B_UIE | RTC_B_AIE))) {
			int64_t sec;
			uint64_t frac;
			guest_time(r, w, &sec, &frac);
			uint64_t boundary = w + (NS_PER_S - frac);
			if (b & RTC_B_UIE) {
				if (boundary < next)
					next = boundary;
			} else {
				int64_t t = alarm_next(r, sec);
				/* t - sec <= one day + 1 s, so this cannot overflow. */
				if (t != NEVER && boundary + (uint64_t)(t - sec - 1) * NS_PER_S < next)
					next = boundary + (uint64_t)(t - sec - 1) * NS_PER_S;
			}
		}
	}
	if (next == UINT64_MAX) {
		vclock_cancel(r->clock, &r->timer);
		return;
	}
	vclock_arm(r->clock, &r->timer, vclock_now(r->clock) + (next - w));
}

static void rtc_timer_fire(void *ctx, uint64_t now_ns)
{
	struct rtc *r = ctx;
	(void)now_ns;
	pthread_mutex_lock(&r->lock);
	uint64_t w = vclock_wall_ns(r->clock);
	eval(r, w);
	rearm(r, w);
	pthread_mutex_unlock(&r->lock);
}

/* ---- registers ---- */

static uint8_t time_reg_read(const struct rtc *r, unsigned idx, uint64_t w)
{
	struct rtc_tm tm;
	current_tm(r, w, &tm);
	switch (idx) {
	case RTC_SEC:
		return encode(r, tm.sec);
	case RTC_MIN:
		return encode(r, tm.min);
	case RTC_HOUR:
		return encode_hour(r, tm.hour);
	case RTC_WDAY:
		return encode(r, tm.wday);
	case RTC_MDAY:
		return encode(r, tm.mday);
	case RTC_MON:
		return encode(r, tm.mon);
	case RTC_YEAR:
		return encode(r, tm.year % 100);
	case RTC_CENTURY:
		return encode(r, tm.year / 100 % 100);
	default:
		return 0xFF;
	}
}

static bool is_time_reg(unsigned idx)
{
	return idx == RTC_SEC || idx == RTC_MIN || idx == RTC_HOUR || idx == RTC_WDAY ||
	       idx == RTC_MDAY || idx == RTC_MON || idx == RTC_YEAR || idx == RTC_CENTURY;
}

/* Apply a guest write to a time register; false if the value is invalid (ignored). */
static bool time_reg_write(struct rtc *r, unsigned idx, uint8_t v, uint64_t w)
{
	struct rtc_tm tm;
	current_tm(r, w, &tm);
	int d = idx == RTC_HOUR ? decode_hour(r, v) : decode(r, v);
	switch (idx) {
	case RTC_SEC:
		if (d < 0 || d > 59)
			return false;
		tm.sec = d;
		break;
	case RTC_MIN:
		if (d < 0 || d > 59)
			return false;
		tm.min = d;
		break;
	case RTC_HOUR:
		if (d < 0)
			return false;
		tm.hour = d;
		break;
	case RTC_WDAY:
		if (d < 1 || d > 7)
			return false;
		tm.wday = d;
		break;
	case RTC_MDAY:
		if (d < 1 || d > 31)
			return false;
		tm.mday = d;
		break;
	case RTC_MON:
		if (d < 1 || d > 12)
			return false;
		tm.mon = d;
		break;
	case RTC_YEAR:
		if (d < 0 || d > 99)
			return false;
		tm.year = tm.year / 100 * 100 + d;
		break;
	case RTC_CENTURY:
		if (d < 0 || d > 99)
			return false;
		tm.year = d * 100 + tm.year % 100;
		break;
	default:
		return false;
	}
	if (r->held_valid) {
		r->held = tm;
	} else {
		/* Counting: the new date takes effect at once, the divider phase is kept. */
		int64_t sec;
		uint64_t frac;
		guest_time(r, w, &sec, &frac);
		r->held = tm;
		resume_from_held(r, w, frac);
	}
	return true;
}

/* A or B changed from (old_a, old_b): hold or release the date, restart the divider. */
static void mode_changed(struct rtc *r, uint64_t w, uint8_t old_a, uint8_t old_b)
{
	bool was_running = (old_a & RTC_A_DV_MASK) == RTC_A_DV_32K;
	bool was_counting = was_running && !(old_b & RTC_B_SET);
	int64_t sec;
	uint64_t frac;
	guest_time(r, w, &sec, &frac);
	if (was_counting && !counting(r)) {
		secs_to_tm(r, sec, &r->held);
		r->held_valid = true;
	}
	/* Divider chain released from reset/stop: first update 500 ms later (datasheet). */
	if (!was_running && running(r))
		frac = NS_PER_S / 2;
	if (counting(r) && r->held_valid)
		resume_from_held(r, w, frac);
	else
		set_guest_time(r, w, sec, frac);
}

static uint8_t reg_read(struct rtc *r, unsigned idx, uint64_t w, bool clear_c)
{
	switch (idx) {
	case RTC_REG_A: {
		uint8_t v = r->ram[RTC_REG_A] & 0x7F;
		int64_t sec;
		uint64_t frac;
		guest_time(r, w, &sec, &frac);
		if (counting(r) && frac >= NS_PER_S - RTC_UIP_NS)
			v |= RTC_A_UIP;
		return v;
	}
	case RTC_REG_C: {
		uint8_t v = (uint8_t)(r->flags | (r->irqf ? RTC_C_IRQF : 0));
		if (clear_c) {
			r->flags = 0;
			update_irq(r);
			rearm(r, w);
		}
		return v;
	}
	case RTC_REG_D:
		return RTC_D_VRT;
	default:
		if (is_time_reg(idx))
			return time_reg_read(r, idx, w);
		return r->ram[idx];
	}
}

static void reg_write(struct rtc *r, unsigned idx, uint8_t v, uint64_t w)
{
	switch (idx) {
	case RTC_REG_A:
	case RTC_REG_B: {
		uint8_t old_a = r->ram[RTC_REG_A], old_b = r->ram[RTC_REG_B];
		if (idx == RTC_REG_A) {
			r->ram[RTC_REG_A] = v & 0x7F;
		} else {
			/* SET going high clears UIE (datasheet, UIE bit). */
			if ((v & RTC_B_SET) && !(old_b & RTC_B_SET))
				v &= (uint8_t)~RTC_B_UIE;
			r->ram[RTC_REG_B] = v;
		}
		mode_changed(r, w, old_a, old_b);
		break;
	}
	case RTC_REG_C:
	case RTC_REG_D:
		return; /* read-only */
	default:
		if (is_time_reg(idx))
			time_reg_write(r, idx, v, w);
		else
			r->ram[idx] = v;
		break;
	}
	update_irq(r);
	rearm(r, w);
}

/* ---- port handlers ---- */

static bool size_ok(unsigned size)
{
	return size == 1 || size == 2 || size == 4;
}

static enum iobus_action rtc_read(void *dev, const struct iobus_access *a, uint64_t offset,
				  unsigned size, uint64_t *value)
{
	struct rtc *r = dev;
	(void)a;
	if (!size_ok(size)) {
		*value = iobus_ones(size);
		return IOBUS_BAD_REGISTER;
	}
	uint64_t v = 0;
	pthread_mutex_lock(&r->lock);
	for (unsigned i = 0; i < size; i++) {
		uint8_t b = 0xFF; /* index port (write-only) and bytes past the range */
		if (offset + i == 1) {
			uint64_t w = vclock_wall_ns(r->clock);
			eval(r, w);
			b = reg_read(r, r->index, w, true);
		}
		v |= (uint64_t)b << (8 * i);
	}
	pthread_mutex_unlock(&r->lock);
	*value = v;
	return IOBUS_OK;
}

static enum iobus_action rtc_write(void *dev, const struct iobus_access *a, uint64_t offset,
				   unsigned size, uint64_t value)
{
	struct rtc *r = dev;
	(void)a;
	if (!size_ok(size))
		return IOBUS_BAD_REGISTER;
	pthread_mutex_lock(&r->lock);
	for (unsigned i = 0; i < size; i++) {
		uint8_t b = (uint8_t)(value >> (8 * i));
		if (offset + i == 0) {
			r->index = b & 0x7F;
			r->nmi_masked = b & 0x80;
		} else if (offset + i == 1) {
			uint64_t w = vclock_wall_ns(r->clock);
			eval(r, w);
			reg_write(r, r->index, b, w);
		}
	}
	pthread_mutex_unlock(&r->lock);
	return IOBUS_OK;
}

const struct iobus_ops rtc_ops = {
	.read = rtc_read,
	.write = rtc_write,
};

/* ---- host side ---- */

int rtc_create(const struct devctx *dc, struct irq_line irq8, struct rtc **out)
{
	if (!dc || !dc->clock || !out)
		return -EINVAL;
	struct rtc *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	if (pthread_mutex_init(&r->lock, NULL) != 0) {
		free(r);
		return -ENOMEM;
	}
	r->clock = dc->clock;
	r->irq = irq8;
	vclock_timer_init(&r->timer, rtc_timer_fire, r);
	r->ram[RTC_REG_A] = RTC_A_DV_32K | 0x06;
	r->ram[RTC_REG_B] = RTC_B_24H;
	r->eval_w = vclock_wall_ns(r->clock);
	*out = r;
	return 0;
}

void rtc_destroy(struct rtc *r)
{
	if (!r)
		return;
	vclock_cancel(r->clock, &r->timer);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

int rtc_nvram_set(struct rtc *r, unsigned index, uint8_t value)
{
	if (!r || index < RTC_NVRAM_FIRST || index >= RTC_NVRAM_SIZE)
		return -EINVAL;
	int ret = 0;
	pthread_mutex_lock(&r->lock);
	if (index == RTC_CENTURY) {
		uint64_t w = vclock_wall_ns(r->clock);
		eval(r, w);
		if (!time_reg_write(r, index, value, w))
			ret = -EINVAL;
		rearm(r, w);
	} else {
		r->ram[index] = value;
	}
	pthread_mutex_unlock(&r->lock);
	return ret;
}

uint8_t rtc_nvram_get(struct rtc *r, unsigned index)
{
	if (!r || index >= RTC_NVRAM_SIZE)
		return 0xFF;
	pthread_mutex_lock(&r->lock);
	uint64_t w = vclock_wall_ns(r->clock);
	eval(r, w);
	uint8_t v = reg_read(r, index, w, false);
	pthread_mutex_unlock(&r->lock);
	return v;
}

bool rtc_nmi_masked(struct rtc *r)
{
	if (!r)
		return false;
	pthread_mutex_lock(&r->lock);
	bool m = r->nmi_masked;
	pthread_mutex_unlock(&r->lock);
	return m;
}
