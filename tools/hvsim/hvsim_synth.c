/*
 * hvsim: the Hyper-V synthetic MSRs the hypervisor answers for VTL0 (GUEST_OS_ID, HYPERCALL
 * with the hypercall page overlay, TIME_REF_COUNT, REFERENCE_TSC, TSC/APIC_FREQUENCY,
 * STIMER0-3), the TSC (RDTSC/RDTSCP/IA32_TSC follow hvsim's clock at HVSIM_TSC_HZ), the
 * partition's timer thread (stimers, and the APIC deadline of a gated run), and the VTL0 hypercalls the hypervisor itself implements (TLB
 * flushes, synthetic cluster IPIs). Facts: linux-guest-facts 2-3, hyperv-abi-facts 2.1/2.2/2.8.
 * Locking: hvsim_priv.h; stimer state is under vp->lock, the timer thread's wakeup under
 * sim->timer_lock (taken after a vp->lock, never before one).
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "tools/hvsim/hvsim_priv.h"

/* ---- the partition's clock ---- */

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Nanoseconds since the partition was created: the one clock every synthetic time derives from. */
static uint64_t part_ns(struct hvsim *sim)
{
	return mono_ns() - sim->t0_ns;
}

static uint64_t tsc_of_ns(uint64_t ns)
{
	return (uint64_t)((unsigned __int128)ns * HVSIM_TSC_HZ / 1000000000u);
}

uint64_t hvsim_ref_time(struct hvsim *sim)
{
	return part_ns(sim) / 100;
}

uint64_t hvsim_vp_tsc(struct hvsim_vp *vp)
{
	return tsc_of_ns(part_ns(vp->sim)) + vp->tsc_offset;
}

void hvsim_vp_set_tsc(struct hvsim_vp *vp, uint64_t tsc)
{
	vp->tsc_offset = tsc - tsc_of_ns(part_ns(vp->sim));
}

/*
 * RDTSC/RDTSCP (UC_HOOK_INSN; returning 1 skips unicorn's own, which reads the host TSC).
 * With CR4.TSD at CPL > 0 unicorn executes it and raises the #GP itself.
 */
int hvsim_hook_rdtsc(uc_engine *uc, void *user)
{
	(void)uc;
	struct hvsim_vp *vp = user;
	if ((hvsim_rd(vp, UC_X86_REG_CR4) & (1u << 2)) && hvsim_vp_cpl(vp) != 0)
		return 0;
	uint64_t t = hvsim_vp_tsc(vp);
	hvsim_wr(vp, UC_X86_REG_RAX, (uint32_t)t);
	hvsim_wr(vp, UC_X86_REG_RDX, t >> 32);
	return 1;
}

int hvsim_hook_rdtscp(uc_engine *uc, void *user)
{
	struct hvsim_vp *vp = user;
	if (!hvsim_hook_rdtsc(uc, user))
		return 0;
	hvsim_wr(vp, UC_X86_REG_RCX, (uint32_t)hvsim_rd_msr(vp, X86_MSR_TSC_AUX));
	return 1;
}

/* ---- the synthetic timers (TLFS: STIMERn_CONFIG / COUNT, counts in 100 ns) ---- */

#define ST_ENABLE    (1ull << 0)
#define ST_PERIODIC  (1ull << 1)
#define ST_AUTO      (1ull << 3)
#define ST_DIRECT    (1ull << 12)
#define ST_VALID     0xF1FFFull  /* 0-3 flags, 4-11 vector, 12 direct, 16-19 SINT */

static void timer_wake(struct hvsim *sim)
{
	pthread_mutex_lock(&sim->timer_lock);
	sim->timer_gen++;
	pthread_cond_signal(&sim->timer_cond);
	pthread_mutex_unlock(&sim->timer_lock);
}

/* (Re)arm timer `n` from its config and count (vp->lock held). */
/*
 * A timer's COUNT in ns (100 ns units, clamped against overflow). Periodic timers get at least
 * 100 us: a period of one unit would keep the timer thread firing and taking every VP's lock.
 */
#define STIMER_MIN_PERIOD_NS 100000ull
static uint64_t stimer_span(const struct hvsim_stimer *t)
{
	uint64_t span = t->count > UINT64_MAX / 200 ? UINT64_MAX / 2 : t->count * 100;
	if ((t->config & ST_PERIODIC) && span < STIMER_MIN_PERIOD_NS)
		span = STIMER_MIN_PERIOD_NS;
	return span;
}

static void stimer_arm(struct hvsim_vp *vp, unsigned n)
{
	struct hvsim_stimer *t = &vp->stimer[n];
	t->deadline_ns = 0;
	if (!(t->config & ST_ENABLE) || t->count == 0)
		return;
	/* One-shot: COUNT is the absolute expiry in reference time; periodic: the period. */
	uint64_t span = stimer_span(t);
	t->deadline_ns = (t->config & ST_PERIODIC) ? part_ns(vp->sim) + span : span;
	timer_wake(vp->sim);
}

/* Message mode: HVMSG_TIMER_EXPIRED into the SINT's SIMP slot; false if the slot is busy. */
static bool stimer_post(struct hvsim_vp *vp, unsigned n, uint64_t expiry_ref)
{
	unsigned sint = (unsigned)(vp->stimer[n].config >> 16) & 15;
	uint8_t *slot = (vp->simp & 1) && (vp->scontrol & 1) ?
		hvsim_gpa_ptr(vp->sim, gpa((vp->simp & ~0xFFFull) + sint * 256u), 256) : NULL;
	if (!slot)
		return true; /* no SynIC to deliver to: the expiry is lost, as on hardware */
	if (__atomic_load_n((uint32_t *)slot, __ATOMIC_ACQUIRE) != 0)
		return false;
	uint8_t m[256] = { 0 };
	m[4] = 24;                                  /* payload: index, rsvd, expiry, delivery */
	uint32_t idx = n;
	uint64_t now = hvsim_ref_time(vp->sim);
	memcpy(m + 16, &idx, 4);
	memcpy(m + 24, &expiry_ref, 8);
	memcpy(m + 32, &now, 8);
	memcpy(slot + 4, m + 4, 252);
	__atomic_store_n((uint32_t *)slot, HVSIM_MSG_TIMER_EXPIRED, __ATOMIC_RELEASE);
	hvsim_vp_assert_sint_locked(vp, sint);
	return true;
}

/*
 * Expire due timers of `vp` (vp->lock held). Direct-mode vectors are returned in `vecs`
 * (asserted by the caller after dropping the lock). Returns the next deadline (0 = none).
 */
static uint64_t stimer_expire(struct hvsim_vp *vp, uint64_t now, uint8_t vecs[4], unsigned *nvec)
{
	uint64_t next = 0;
	for (unsigned n = 0; n < 4; n++) {
		struct hvsim_stimer *t = &vp->stimer[n];
		if (t->deadline_ns && t->deadline_ns <= now) {
			bool done = true;
			if (t->config & ST_DIRECT)
				vecs[(*nvec)++] = (uint8_t)(t->config >> 4);
			else
				done = stimer_post(vp, n, t->deadline_ns / 100);
			if (!done) {
				t->deadline_ns = now + 1000000; /* slot busy: retry in 1 ms */
			} else if (t->config & ST_PERIODIC) {
				uint64_t span = stimer_span(t);
				t->deadline_ns += span;
				if (t->deadline_ns <= now) /* missed periods are not replayed */
					t->deadline_ns = now + span;
			} else {
				/* A one-shot timer disables itself when it expires. */
				t->config &= ~ST_ENABLE;
				t->deadline_ns = 0;
			}
		}
		if (t->deadline_ns && (!next || t->deadline_ns < next))
			next = t->deadline_ns;
	}
	return next;
}

static void *timer_main(void *arg)
{
	struct hvsim *sim = arg;
	pthread_mutex_lock(&sim->timer_lock);
	while (!sim->timer_stop) {
		uint64_t gen = sim->timer_gen;
		pthread_mutex_unlock(&sim->timer_lock);
		uint64_t next = 0;
		for (uint32_t i = 0; i < sim->vp_count; i++) {
			struct hvsim_vp *vp = sim->vps[i];
			uint8_t vecs[4];
			unsigned nvec = 0;
			pthread_mutex_lock(&vp->lock);
			uint64_t d = stimer_expire(vp, part_ns(sim), vecs, &nvec);
			pthread_mutex_unlock(&vp->lock);
			for (unsigned k = 0; k < nvec; k++)
				hvsim_assert_interrupt(sim, i, vecs[k]); /* < 16 is refused there */
			/*
			 * A gated run (hvsim_vp.c, docs/hvsim.md "The block-hook gate") skips the
			 * block hook that checks the APIC timer: open its gate once the deadline of
			 * that run (CLOCK_MONOTONIC, the APIC's clock) has passed.
			 */
			uint64_t g = atomic_load(&vp->gate_deadline);
			if (g && g <= mono_ns()) {
				atomic_store(&vp->gate_deadline, 0);
				hvsim_gate_open(vp);
			} else if (g) {
				d = d && d < g - sim->t0_ns ? d : g - sim->t0_ns;
			}
			if (d && (!next || d < next))
				next = d;
		}
		pthread_mutex_lock(&sim->timer_lock);
		if (sim->timer_stop || gen != sim->timer_gen)
			continue;
		sim->timer_wake = next ? sim->t0_ns + next : UINT64_MAX;
		if (!next) {
			pthread_cond_wait(&sim->timer_cond, &sim->timer_lock);
		} else {
			uint64_t abs = sim->t0_ns + next;
			struct timespec ts = { (time_t)(abs / 1000000000u), (long)(abs % 1000000000u) };
			pthread_cond_timedwait(&sim->timer_cond, &sim->timer_lock, &ts);
		}
	}
	pthread_mutex_unlock(&sim->timer_lock);
	return NULL;
}

void hvsim_synth_gate_deadline(struct hvsim *sim, uint64_t deadline)
{
	pthread_mutex_lock(&sim->timer_lock);
	if (deadline < sim->timer_wake) {
		sim->timer_gen++;
		pthread_cond_signal(&sim->timer_cond);
	}
	pthread_mutex_unlock(&sim->timer_lock);
}

int hvsim_synth_init(struct hvsim *sim)
{
	sim->t0_ns = mono_ns();
	sim->timer_wake = UINT64_MAX;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&sim->timer_lock, NULL);
	pthread_cond_init(&sim->timer_cond, &ca);
	pthread_condattr_destroy(&ca);
	sim->timer_init = true;
	return 0;
}

/* Started with the VPs (hvsim_create): the thread reads sim->vps. */
int hvsim_synth_start(struct hvsim *sim)
{
	if (pthread_create(&sim->timer_thread, NULL, timer_main, sim))
		return -EAGAIN;
	sim->timer_started = true;
	return 0;
}

void hvsim_synth_fini(struct hvsim *sim)
{
	if (!sim->timer_init)
		return;
	if (sim->timer_started) {
		pthread_mutex_lock(&sim->timer_lock);
		sim->timer_stop = true;
		pthread_cond_signal(&sim->timer_cond);
		pthread_mutex_unlock(&sim->timer_lock);
		pthread_join(sim->timer_thread, NULL);
		sim->timer_started = false;
	}
	pthread_mutex_destroy(&sim->timer_lock);
	pthread_cond_destroy(&sim->timer_cond);
	sim->timer_init = false;
}

/* ---- the MSRs ---- */

/* 2^64 * 10^7 / HVSIM_TSC_HZ, rounded up: with a TSC rate that is a multiple of 10 MHz the
 * reference TSC page then gives exactly TIME_REF_COUNT (floor) for ~7 years of uptime. */
static uint64_t ref_scale(void)
{
	unsigned __int128 num = (unsigned __int128)10000000u << 64;
	return (uint64_t)((num + HVSIM_TSC_HZ - 1) / HVSIM_TSC_HZ);
}

/* Fill the reference TSC page at `gpa` (sim->lock held): the sequence changes on every fill. */
static void ref_page_fill(struct hvsim_vp *vp, uint64_t gpa)
{
	struct hvsim *sim = vp->sim;
	uint8_t *p = sim->ram + gpa;
	uint64_t ns = part_ns(sim), scale = ref_scale();
	uint64_t tsc = tsc_of_ns(ns) + vp->tsc_offset;
	int64_t off = (int64_t)(ns / 100 - (uint64_t)(((unsigned __int128)tsc * scale) >> 64));
	uint32_t seq;
	memcpy(&seq, p, 4);
	seq = seq + 1 == 0 || seq + 1 == 0xFFFFFFFFu ? 1 : seq + 1; /* 0 means "invalid" */
	memset(p, 0, ADDR_PAGE_SIZE);
	memcpy(p + 8, &scale, 8);
	memcpy(p + 16, &off, 8);
	__atomic_store_n((uint32_t *)p, seq, __ATOMIC_RELEASE);
}

/* The hypercall page overlay: VMCALL; RET, then INT3 so a stray jump into the page traps. */
static void hypercall_page_fill(struct hvsim *sim, uint64_t gpa)
{
	static const uint8_t stub[4] = { 0x0F, 0x01, 0xC1, 0xC3 };
	memset(sim->ram + gpa, 0xCC, ADDR_PAGE_SIZE);
	memcpy(sim->ram + gpa, stub, sizeof(stub));
}

/* The page an overlay MSR names is RAM (hvsim_gpa_ptr's check cannot wrap on a hostile GPN). */
static bool gpn_ok(struct hvsim *sim, uint64_t v)
{
	return hvsim_gpa_ptr(sim, gpa(v & ~0xFFFull), ADDR_PAGE_SIZE) != NULL;
}

int hvsim_synth_msr(struct hvsim_vp *vp, uint32_t msr, bool write, uint64_t *val)
{
	struct hvsim *sim = vp->sim;
	uint64_t v = write ? *val : 0;
	if (msr >= HV_X64_MSR_STIMER0_CONFIG && msr <= HV_X64_MSR_STIMER0_CONFIG + 7) {
		unsigned n = (msr - HV_X64_MSR_STIMER0_CONFIG) / 2;
		bool count = (msr - HV_X64_MSR_STIMER0_CONFIG) & 1;
		struct hvsim_stimer *t = &vp->stimer[n];
		if (!write) {
			*val = count ? t->count : t->config;
			return 1;
		}
		if (count) {
			t->count = v;
			/* COUNT 0 stops the timer; nonzero with auto-enable starts it. */
			if (v == 0)
				t->config &= ~ST_ENABLE;
			else if (t->config & ST_AUTO)
				t->config |= ST_ENABLE;
		} else {
			if (v & ~ST_VALID)
				return -1;
			t->config = v;
		}
		stimer_arm(vp, n);
		return 1;
	}
	switch (msr) {
	case X86_MSR_TSC:
		if (write)
			hvsim_vp_set_tsc(vp, v);
		else
			*val = hvsim_vp_tsc(vp);
		return 1;
	case HV_X64_MSR_GUEST_OS_ID:
		if (!write) {
			*val = vp->guest_os_id;
			return 1;
		}
		vp->guest_os_id = v;
		if (v == 0) /* clearing the OS id disables the hypercall page */
			vp->hypercall_msr &= ~1ull;
		return 1;
	case HV_X64_MSR_HYPERCALL:
		if (!write) {
			*val = vp->hypercall_msr;
			return 1;
		}
		/* Locked (bit 1) stays until reset; bits 2-11 are reserved-preserve (ignored). */
		if (vp->hypercall_msr & 2)
			return 1;
		v &= ~0xFFCull;
		if ((v & 1) && !gpn_ok(sim, v))
			return -1;
		/* The page only comes alive once the guest identified itself (GUEST_OS_ID). */
		if (vp->guest_os_id == 0)
			v &= ~1ull;
		if (v & 1)
			hypercall_page_fill(sim, v & ~0xFFFull);
		vp->hypercall_msr = v;
		return 1;
	case HV_X64_MSR_VP_ASSIST_PAGE:
		/* Linux registers one per CPU at boot; no enlightenment behind it is modelled
		   (hints advertise none), so the page is only remembered. */
		if (!write) {
			*val = vp->vp_assist_msr;
			return 1;
		}
		if ((v & 0xFFEull) || ((v & 1) && !gpn_ok(sim, v)))
			return -1;
		vp->vp_assist_msr = v;
		return 1;
	case HV_X64_MSR_TIME_REF_COUNT:
		if (write)
			return -1;
		*val = hvsim_ref_time(sim);
		return 1;
	case HV_X64_MSR_REFERENCE_TSC:
		pthread_mutex_lock(&sim->lock);
		if (!write) {
			*val = sim->ref_tsc_msr;
		} else if ((v & 1) && !gpn_ok(sim, v)) {
			pthread_mutex_unlock(&sim->lock);
			return -1;
		} else {
			sim->ref_tsc_msr = v;
			if (v & 1)
				ref_page_fill(vp, v & ~0xFFFull);
		}
		pthread_mutex_unlock(&sim->lock);
		return 1;
	case HV_X64_MSR_TSC_FREQUENCY:
	case HV_X64_MSR_APIC_FREQUENCY:
		if (write)
			return -1;
		*val = msr == HV_X64_MSR_TSC_FREQUENCY ? HVSIM_TSC_HZ : HVSIM_APIC_HZ;
		return 1;
	default:
		return 0;
	}
}

/* ---- VTL0 hypercalls the hypervisor implements itself ---- */

static unsigned popcount64(uint64_t v)
{
	return (unsigned)__builtin_popcountll(v);
}

/* VPs named by an HvVpSet at `p` (format, valid_bank_mask, banks); status on failure. */
static uint16_t vp_set(const uint8_t *p, unsigned bank_bytes, uint64_t *mask)
{
	uint64_t format, valid;
	memcpy(&format, p, 8);
	memcpy(&valid, p + 8, 8);
	if (format == 1) {
		*mask = ~0ull;
		return HV_STATUS_SUCCESS;
	}
	if (format != 0)
		return HV_STATUS_INVALID_PARAMETER;
	if (popcount64(valid) * 8u > bank_bytes)
		return HV_STATUS_INVALID_HYPERCALL_INPUT;
	/* HVSIM_MAX_VPS = 64: only bank 0 can name a VP that exists. */
	*mask = 0;
	if (valid & 1)
		memcpy(mask, p + 16, 8);
	return HV_STATUS_SUCCESS;
}

/* Every VP in `mask` drops its TLB (and hvsim's block scans) before it next runs VTL0. */
static void flush_vps(struct hvsim *sim, uint64_t mask)
{
	for (uint32_t i = 0; i < sim->vp_count; i++) {
		if (!((mask >> i) & 1))
			continue;
		struct hvsim_vp *t = sim->vps[i];
		pthread_mutex_lock(&t->lock);
		atomic_fetch_or(&t->flush_tb, HVSIM_FLUSH_TLB);
		hvsim_vp_kick(t);
		pthread_mutex_unlock(&t->lock);
	}
}

/*
 * Answer a VTL0 hypercall the hypervisor implements: TLB flushes (0x02, 0x03, 0x13, 0x14) and
 * synthetic cluster IPIs (0x0B, 0x15). Returns false for any other code (it goes to VTL2 as a
 * hypercall intercept). vp->lock held on entry and exit; it is dropped while other VPs are
 * touched (lock order), with in_guest set so that nobody else uses this VP's engine meanwhile.
 */
bool hvsim_vtl0_hypercall(struct hvsim_vp *vp, uint64_t rip)
{
	uint64_t control = hvsim_rd(vp, UC_X86_REG_RCX);
	uint16_t code = (uint16_t)control;
	bool rep = code == 0x03 || code == 0x14, ex = code >= 0x13 && code <= 0x15;
	bool ipi = code == 0x0B || code == 0x15;
	if (code != 0x02 && code != 0x03 && code != 0x0B && !ex)
		return false;
	struct hvsim *sim = vp->sim;
	bool fast = (control >> 16) & 1;
	unsigned varhdr = (unsigned)((control >> 17) & 0x3FF) * 8;
	unsigned reps = (unsigned)((control >> 32) & 0xFFF), start = (unsigned)((control >> 48) & 0xFFF);
	static _Thread_local uint8_t in[ADDR_PAGE_SIZE];
	memset(in, 0, sizeof(in));
	uint16_t st = HV_STATUS_SUCCESS;
	uint64_t targets = 0;
	uint8_t vector = 0;
	if ((control & 0xF000F00078000000ull) || (!ex && varhdr) || rep != (reps != 0) ||
	    start > reps || (!rep && start)) {
		st = HV_STATUS_INVALID_HYPERCALL_INPUT;
	} else if (fast) {
		/* Register input: 16 bytes (RDX, R8); XMM input is not offered (CPUID EDX bit 4). */
		if (code != 0x0B) {
			st = HV_STATUS_INVALID_HYPERCALL_INPUT;
		} else {
			uint64_t a = hvsim_rd(vp, UC_X86_REG_RDX), b = hvsim_rd(vp, UC_X86_REG_R8);
			memcpy(in, &a, 8);
			memcpy(in + 8, &b, 8);
		}
	} else {
		uint64_t g = hvsim_rd(vp, UC_X86_REG_RDX);
		if (g & 7)
			st = HV_STATUS_INVALID_ALIGNMENT;
		else if (hvsim_vp_read_gpa(sim, g, in, ADDR_PAGE_SIZE - (g & 0xFFF)))
			st = HV_STATUS_INVALID_PARAMETER; /* input page is not RAM */
	}
	unsigned done = start;
	if (st == HV_STATUS_SUCCESS && ipi) {
		uint32_t v;
		memcpy(&v, in, 4);
		if (v < 16 || v > 255 || in[4] || in[5] || in[6] || in[7])
			st = HV_STATUS_INVALID_PARAMETER; /* vector 16-255, target VTL 0, no flags */
		vector = (uint8_t)v;
		if (!st && code == 0x15)
			st = vp_set(in + 8, varhdr, &targets);
		else if (!st)
			memcpy(&targets, in + 8, 8);
	} else if (st == HV_STATUS_SUCCESS) {
		uint64_t flags;
		memcpy(&flags, in + 8, 8);
		/* bits 0-3: all processors, all address spaces, non-global only, extended ranges */
		unsigned fixed = ex ? 32 : 24;
		if (flags & ~0xFull)
			st = HV_STATUS_INVALID_PARAMETER;
		else if (flags & 1)
			targets = ~0ull;
		else if (ex)
			st = vp_set(in + 16, varhdr, &targets);
		else
			memcpy(&targets, in + 16, 8);
		/* The GVA list is only bounds-checked: hvsim flushes whole TLBs (allowed). */
		if (!st && rep && (size_t)fixed + varhdr + 8u * reps > ADDR_PAGE_SIZE)
			st = HV_STATUS_INVALID_HYPERCALL_INPUT;
		else if (!st && rep)
			done = reps;
	}
	if (vp->sim->vp_count < 64)
		targets &= (1ull << sim->vp_count) - 1;
	hvsim_wr(vp, UC_X86_REG_RAX, st | ((uint64_t)(rep ? done : 0) << 32));
	hvsim_wr(vp, UC_X86_REG_RIP, rip + 3);
	atomic_fetch_add_explicit(&sim->st_hypercalls, 1, memory_order_relaxed);
	if (st != HV_STATUS_SUCCESS || !targets)
		return true;
	vp->in_guest = true;
	pthread_mutex_unlock(&vp->lock);
	if (ipi) {
		for (uint32_t i = 0; i < sim->vp_count; i++)
			if ((targets >> i) & 1)
				hvsim_assert_interrupt(sim, i, vector);
	} else {
		flush_vps(sim, targets);
	}
	pthread_mutex_lock(&vp->lock);
	vp->in_guest = false;
	pthread_cond_broadcast(&vp->cond);
	return true;
}
