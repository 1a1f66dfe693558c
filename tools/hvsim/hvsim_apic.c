/*
 * hvsim per-VP local APIC for VTL0 (SDM vol. 3 ch. 10/11 "Advanced Programmable Interrupt
 * Controller"): xAPIC MMIO page at IA32_APIC_BASE (emulated inside hvsim, as the hypervisor
 * does, before the access would become an UnmappedGpa intercept), x2APIC MSRs 0x800-0x8FF,
 * IRR/ISR/TMR with TPR/PPR priority, EOI (level-triggered vectors produce the APIC EOI message
 * for VTL2), the timer (one-shot, periodic, TSC-deadline) and IPIs through the ICR (fixed,
 * lowest priority as fixed, NMI, INIT, SIPI recorded).
 *
 * The IRR is vp->irr (existing paths that pend a vector keep working). Everything here runs on
 * the VP's own thread with vp->lock held, except hvsim_apic_accept (any thread, target's
 * vp->lock held) and hvsim_apic_flush_ipis (own thread, no lock held: it takes each target's
 * lock in turn; holding two VP locks would deadlock two VPs sending IPIs to each other).
 * Locking: hvsim_priv.h.
 */

#include <errno.h>
#include <string.h>
#include <time.h>

#include "arch/x86_64/x86_emu.h"
#include "arch/x86_64/x86_pagewalk.h"
#include "hvcall/hv.h"
#include "hvcall/hv_exit.h"
#include "tools/hvsim/hvsim_priv.h"

/* xAPIC register offsets (SDM table 10-1); x2APIC MSR = 0x800 + offset / 16 (table 10-6). */
enum {
	A_ID = 0x20, A_VER = 0x30, A_TPR = 0x80, A_APR = 0x90, A_PPR = 0xA0, A_EOI = 0xB0,
	A_RRD = 0xC0, A_LDR = 0xD0, A_DFR = 0xE0, A_SVR = 0xF0, A_ISR = 0x100, A_TMR = 0x180,
	A_IRR = 0x200, A_ESR = 0x280, A_CMCI = 0x2F0, A_ICR_LO = 0x300, A_ICR_HI = 0x310,
	A_LVT_TIMER = 0x320, A_LVT_THERMAL = 0x330, A_LVT_PERF = 0x340, A_LVT_LINT0 = 0x350,
	A_LVT_LINT1 = 0x360, A_LVT_ERROR = 0x370, A_TIMER_INIT = 0x380, A_TIMER_CUR = 0x390,
	A_TIMER_DIV = 0x3E0, A_SELF_IPI = 0x3F0,
};

/* Version 0x14 (integrated APIC), Max LVT Entry 5 (6 LVTs: no CMCI), no EOI-broadcast
 * suppression. */
#define APIC_VERSION 0x00050014u

#define MSR_TSC_DEADLINE 0x6E0u

#define BASE_BSP  (1ull << 8)
#define BASE_EXTD (1ull << 10)
#define BASE_EN   (1ull << 11)

#define LVT_MASK    (1u << 16)
#define TIMER_MODE(l) (((l) >> 17) & 3u)  /* 0 one-shot, 1 periodic, 2 TSC-deadline */
#define SVR_ENABLE  (1u << 8)

/* ESR bits (SDM 10.5.3) */
#define ESR_SEND_ILLEGAL 0x20u
#define ESR_RECV_ILLEGAL 0x40u

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- bit vectors (256 bits as 32 bytes) ---- */

static bool bit_test(const uint8_t *v, unsigned n) { return (v[n / 8] >> (n % 8)) & 1; }
static void bit_set(uint8_t *v, unsigned n) { v[n / 8] |= (uint8_t)(1u << (n % 8)); }
static void bit_clear(uint8_t *v, unsigned n) { v[n / 8] &= (uint8_t)~(1u << (n % 8)); }

static int bit_highest(const uint8_t *v)
{
	for (int i = 31; i >= 0; i--)
		if (v[i])
			return i * 8 + 31 - __builtin_clz(v[i]);
	return -1;
}

static uint32_t bits32(const uint8_t *v, unsigned word)
{
	uint32_t r;
	memcpy(&r, v + 4 * word, 4);
	return r;
}

/* ---- state ---- */

static bool x2(const struct hvsim_vp *vp) { return vp->apic.base & BASE_EXTD; }
static bool hw_enabled(const struct hvsim_vp *vp) { return vp->apic.base & BASE_EN; }
static bool sw_enabled(const struct hvsim_vp *vp) { return vp->apic.svr & SVR_ENABLE; }

/* Registers to their power-up / INIT values (SDM 10.4.7.1); ID and APIC base survive. */
static void regs_reset(struct hvsim_vp *vp, bool sw_on)
{
	struct hvsim_apic *a = &vp->apic;
	a->tpr = a->esr = a->icr_lo = a->icr_hi = a->ldr = 0;
	a->dfr = 0xFFFFFFFFu;
	/*
	 * Power-up leaves the APIC software-disabled (SVR 0xFF). hvsim's VPs start in long mode as
	 * if firmware had run, and its test guests never write SVR: the first reset is
	 * software-enabled with spurious vector 0xFF; later resets (INIT, global disable) follow
	 * the SDM.
	 */
	a->svr = sw_on ? 0x1FFu : 0xFFu;
	for (int i = 0; i < 6; i++)
		a->lvt[i] = LVT_MASK;
	a->timer_init = a->timer_div = 0;
	a->deadline_ns = a->tsc_deadline = 0;
	memset(a->isr, 0, sizeof(a->isr));
	memset(a->tmr, 0, sizeof(a->tmr));
	memset(a->aeoi, 0, sizeof(a->aeoi));
	memset(vp->irr, 0, sizeof(vp->irr));
	a->nmi_pending = false;
	a->eoi_msg = -1;
}

void hvsim_apic_init(struct hvsim_vp *vp)
{
	vp->apic.base = HVSIM_APIC_BASE | BASE_EN | (vp->index == 0 ? BASE_BSP : 0);
	regs_reset(vp, true);
	vp->apic.wait_sipi = false;
	vp->apic.sipi_vector = -1;
	vp->apic.sipi_count = 0;
	/* in_init / in_sipi stay: an INIT processed with the SIPI already queued keeps it. */
}

static uint32_t x2_id(const struct hvsim_vp *vp) { return vp->index; }

static uint32_t ldr_of(const struct hvsim_vp *vp)
{
	if (x2(vp)) /* derived, read-only (SDM 10.12.10.2): cluster 31:16, bit in 15:0 */
		return ((x2_id(vp) >> 4) << 16) | (1u << (x2_id(vp) & 15));
	return vp->apic.ldr;
}

static unsigned ppr(const struct hvsim_vp *vp)
{
	int isrv = bit_highest(vp->apic.isr);
	unsigned isr_class = isrv < 0 ? 0 : (unsigned)isrv & 0xF0;
	unsigned tpr = vp->apic.tpr & 0xFF;
	return (tpr & 0xF0) >= isr_class ? tpr : isr_class;
}

int hvsim_apic_next(const struct hvsim_vp *vp)
{
	if (!hw_enabled(vp) || !sw_enabled(vp) || vp->apic.wait_sipi)
		return -1;
	int v = bit_highest(vp->irr);
	if (v < 16 || ((unsigned)v & 0xF0) <= (ppr(vp) & 0xF0))
		return -1;
	return v;
}

int hvsim_apic_ack(struct hvsim_vp *vp)
{
	int v = hvsim_apic_next(vp);
	if (v < 0)
		return -1;
	bit_clear(vp->irr, (unsigned)v);
	if (bit_test(vp->apic.aeoi, (unsigned)v))
		bit_clear(vp->apic.aeoi, (unsigned)v); /* SynIC auto-EOI: never in service */
	else
		bit_set(vp->apic.isr, (unsigned)v);
	return v;
}

bool hvsim_apic_take_nmi(struct hvsim_vp *vp)
{
	if (!vp->apic.nmi_pending || vp->apic.wait_sipi)
		return false;
	vp->apic.nmi_pending = false;
	return true;
}

void hvsim_apic_accept(struct hvsim_vp *vp, unsigned vector, bool level, bool auto_eoi)
{
	if (!hw_enabled(vp))
		return;
	if (vector < 16) {
		vp->apic.esr |= ESR_RECV_ILLEGAL;
		return;
	}
	bit_set(vp->irr, vector);
	if (level)
		bit_set(vp->apic.tmr, vector);
	else
		bit_clear(vp->apic.tmr, vector);
	if (auto_eoi)
		bit_set(vp->apic.aeoi, vector);
	else
		bit_clear(vp->apic.aeoi, vector);
	atomic_store(&vp->want_window, true);
	hvsim_vp_kick(vp);
}

static void eoi(struct hvsim_vp *vp)
{
	int v = bit_highest(vp->apic.isr);
	if (v < 0)
		return; /* EOI with nothing in service: ignored */
	bit_clear(vp->apic.isr, (unsigned)v);
	if (bit_test(vp->apic.tmr, (unsigned)v)) {
		/* Level-triggered: the source (VTL2's IOAPIC) learns of the EOI by message. */
		bit_clear(vp->apic.tmr, (unsigned)v);
		vp->apic.eoi_msg = v;
	}
}

int hvsim_apic_post(struct hvsim_vp *vp)
{
	int v = vp->apic.eoi_msg;
	if (v < 0)
		return 0;
	vp->apic.eoi_msg = -1;
	struct hv_exit ex = { .kind = HV_EXIT_APIC_EOI };
	ex.u.apic_eoi.vp_index = vp->index;
	ex.u.apic_eoi.interrupt_vector = (uint32_t)v;
	hvsim_put_msg(vp, &ex);
	hvsim_finish_exit(vp, HVSIM_EXIT_APIC_EOI, hvsim_rd(vp, UC_X86_REG_RIP));
	return 1;
}

/* ---- timer ---- */

static unsigned timer_divisor(uint32_t div)
{
	unsigned code = (div & 3) | ((div >> 1) & 4); /* bits 0,1,3 (SDM figure 10-10) */
	return code == 7 ? 1 : 2u << code;
}

static uint64_t ticks_to_ns(const struct hvsim_vp *vp, uint64_t ticks)
{
	return (uint64_t)((unsigned __int128)ticks * timer_divisor(vp->apic.timer_div) *
			  1000000000u / HVSIM_APIC_HZ);
}

static void timer_start(struct hvsim_vp *vp)
{
	struct hvsim_apic *a = &vp->apic;
	a->timer_start_ns = now_ns();
	a->deadline_ns = a->timer_init ? a->timer_start_ns + ticks_to_ns(vp, a->timer_init) : 0;
	if (a->deadline_ns == 0 && a->timer_init)
		a->deadline_ns = 1;
}

static uint32_t timer_current(const struct hvsim_vp *vp)
{
	const struct hvsim_apic *a = &vp->apic;
	unsigned mode = TIMER_MODE(a->lvt[0]);
	if (!a->timer_init || mode > 1 || (mode == 0 && !a->deadline_ns))
		return 0; /* stopped, expired one-shot, or TSC-deadline mode */
	uint64_t el = now_ns() - a->timer_start_ns;
	uint64_t ticks = (uint64_t)((unsigned __int128)el * HVSIM_APIC_HZ /
				    ((uint64_t)timer_divisor(a->timer_div) * 1000000000u));
	if (mode == 1)
		return a->timer_init - (uint32_t)(ticks % a->timer_init);
	return ticks >= a->timer_init ? 0 : a->timer_init - (uint32_t)ticks;
}

static void tsc_deadline_arm(struct hvsim_vp *vp)
{
	struct hvsim_apic *a = &vp->apic;
	if (!a->tsc_deadline) {
		a->deadline_ns = 0;
		return;
	}
	uint64_t tsc = hvsim_vp_tsc(vp), n = now_ns();
	uint64_t delta = a->tsc_deadline > tsc ? a->tsc_deadline - tsc : 0;
	uint64_t ns = (uint64_t)((unsigned __int128)delta * 1000000000u / HVSIM_TSC_HZ);
	a->deadline_ns = n + ns;
}

static void timer_fire(struct hvsim_vp *vp)
{
	struct hvsim_apic *a = &vp->apic;
	uint32_t lvt = a->lvt[0];
	if (TIMER_MODE(lvt) == 1 && a->timer_init) {
		uint64_t period = ticks_to_ns(vp, a->timer_init);
		if (period == 0)
			period = 1;
		uint64_t n = now_ns();
		/* Periodic: the next period boundary after now (missed ticks coalesce, as an
		 * IRR bit would). */
		uint64_t k = (n - a->timer_start_ns) / period + 1;
		a->deadline_ns = a->timer_start_ns + k * period;
	} else {
		a->deadline_ns = 0;
		if (TIMER_MODE(lvt) == 2)
			a->tsc_deadline = 0;
	}
	if (!(lvt & LVT_MASK) && sw_enabled(vp))
		hvsim_apic_accept(vp, lvt & 0xFF, false, false);
}

bool hvsim_apic_due(const struct hvsim_vp *vp)
{
	return vp->apic.deadline_ns && now_ns() >= vp->apic.deadline_ns;
}

/* ---- INIT / SIPI (processed by the target's own thread) ---- */

void hvsim_apic_poll(struct hvsim_vp *vp)
{
	struct hvsim_apic *a = &vp->apic;
	if (a->in_init) {
		a->in_init = false;
		/* INIT (SDM 10.4.7.3 / 8.4): registers reset, the processor waits for a SIPI. The
		 * CPU goes back to unicorn's reset state: hvsim cannot run it until the SIPI. */
		uint64_t base = a->base; /* INIT keeps IA32_APIC_BASE, x2APIC mode included */
		hvsim_vp_reset_cpu(vp); /* also re-inits the APIC: redo the INIT state after it */
		a->base = base;
		regs_reset(vp, false);
		a->wait_sipi = true;
		vp->halted = true;
	}
	if (a->in_sipi) {
		a->in_sipi = false;
		if (a->wait_sipi) {
			a->sipi_vector = a->pending_sipi_vector;
			a->sipi_count++;
			/* The AP starts in real mode at vector << 12 (hvsim_ring.c). */
			if (hvsim_ring_start_real_mode(vp, (unsigned)a->sipi_vector) == 0) {
				a->wait_sipi = false;
				vp->halted = false;
			}
		}
	}
	if (hvsim_apic_due(vp))
		timer_fire(vp);
}

/* ---- ICR / IPIs ---- */

/* Does `vp` accept an IPI with `dest` (already x2APIC-width or xAPIC 8-bit)? Target lock held. */
static bool dest_match(const struct hvsim_vp *vp, uint32_t dest, bool logical, bool x2mode)
{
	if (!hw_enabled(vp))
		return false;
	uint32_t bcast = x2mode ? 0xFFFFFFFFu : 0xFFu;
	if (dest == bcast)
		return true;
	if (!logical)
		return x2mode ? dest == x2_id(vp) : dest == (vp->index & 0xFF);
	uint32_t ldr = ldr_of(vp);
	if (x2mode)
		return (dest >> 16) == (ldr >> 16) && (dest & ldr & 0xFFFF);
	uint32_t l = ldr >> 24;
	if ((vp->apic.dfr >> 28) == 0xF)
		return (l & dest) != 0; /* flat */
	return (l >> 4) == (dest >> 4) && (l & dest & 0xF); /* cluster */
}

/* Apply one IPI to `t` (t's lock held). IPIs are edge-triggered: level-triggered fixed IPIs
 * are not supported by current processors (SDM 10.6.1), so they never produce EOI messages. */
static void ipi_apply(struct hvsim_vp *t, unsigned mode, unsigned vector)
{
	switch (mode) {
	case 0: case 1: /* fixed, lowest priority */
		hvsim_apic_accept(t, vector, false, false);
		break;
	case 4: /* NMI */
		if (!hw_enabled(t))
			break;
		t->apic.nmi_pending = true;
		hvsim_vp_kick(t);
		break;
	case 5: /* INIT (level de-assert never reaches here) */
		t->apic.in_init = true;
		hvsim_vp_kick(t);
		break;
	case 6: /* SIPI */
		t->apic.in_sipi = true;
		t->apic.pending_sipi_vector = (int)vector;
		hvsim_vp_kick(t);
		break;
	default: /* SMI, reserved: not modelled */
		break;
	}
}

static void icr_send(struct hvsim_vp *vp, uint32_t lo, uint32_t dest)
{
	struct hvsim_apic *a = &vp->apic;
	unsigned vector = lo & 0xFF, mode = (lo >> 8) & 7, sh = (lo >> 18) & 3;
	bool level_assert = (lo >> 14) & 1, trig_level = (lo >> 15) & 1;
	if (mode == 5 && trig_level && !level_assert)
		return; /* INIT level de-assert: arbitration-ID sync only (SDM 10.6.1) */
	if ((mode == 0 || mode == 1) && vector < 16) {
		a->esr |= ESR_SEND_ILLEGAL;
		return;
	}
	if (sh == 1 && mode != 0)
		return; /* self shorthand is for fixed interrupts only */
	bool self = sh == 1 || sh == 2 ||
		    (sh == 0 && dest_match(vp, dest, (lo >> 11) & 1, x2(vp)));
	/* Self first (immediately: a self-IPI is pending once the write retires). Lowest
	 * priority goes to exactly one VP: the sender when it matches, else the lowest-index
	 * match (a model-specific arbitration, SDM 10.6.2.4). */
	if (self)
		ipi_apply(vp, mode, vector);
	if (sh == 1 || (mode == 1 && self))
		return;
	if (a->out_n >= HVSIM_APIC_OUTQ) {
		a->esr |= 0x04; /* send accept error: hvsim's queue is full */
		return;
	}
	a->out[a->out_n++] = (struct hvsim_apic_ipi){ .lo = lo, .dest = dest, .x2 = x2(vp) };
}

/*
 * An interrupt from outside the VPs (HvCallAssertVirtualInterrupt): every VP whose APIC takes
 * `dest` in the given mode gets `vector`; with `lowest`, only the first (hvsim does not model
 * arbitration). Takes each target's lock. Returns how many VPs accepted it.
 */
unsigned hvsim_apic_route(struct hvsim *sim, uint32_t dest, bool logical, bool lowest,
			  uint8_t vector, bool level)
{
	unsigned hits = 0;
	for (uint32_t i = 0; i < sim->vp_count && !(lowest && hits); i++) {
		struct hvsim_vp *t = sim->vps[i];
		pthread_mutex_lock(&t->lock);
		uint32_t d = x2(t) ? dest : dest & 0xFF;
		if ((x2(t) || dest <= 0xFF) && dest_match(t, d, logical, x2(t))) {
			hvsim_apic_accept(t, vector, level, false);
			hits++;
		}
		pthread_mutex_unlock(&t->lock);
	}
	return hits;
}

void hvsim_apic_flush_ipis(struct hvsim_vp *vp)
{
	struct hvsim *sim = vp->sim;
	for (unsigned q = 0; q < vp->apic.out_n; q++) {
		struct hvsim_apic_ipi m = vp->apic.out[q];
		unsigned sh = (m.lo >> 18) & 3, mode = (m.lo >> 8) & 7;
		bool logical = (m.lo >> 11) & 1;
		for (uint32_t i = 0; i < sim->vp_count; i++) {
			struct hvsim_vp *t = sim->vps[i];
			if (t == vp)
				continue; /* applied when the ICR was written */
			pthread_mutex_lock(&t->lock);
			bool hit = sh == 2 || sh == 3 || dest_match(t, m.dest, logical, m.x2);
			if (hit)
				ipi_apply(t, mode, m.lo & 0xFF);
			pthread_mutex_unlock(&t->lock);
			if (hit && mode == 1)
				break;
		}
	}
	vp->apic.out_n = 0;
}

/* ---- register file ---- */

/* Read register at xAPIC offset `off`; false = reserved (x2APIC: #GP). */
static bool reg_read(struct hvsim_vp *vp, unsigned off, uint64_t *val)
{
	struct hvsim_apic *a = &vp->apic;
	bool x = x2(vp);
	switch (off) {
	case A_ID: *val = x ? x2_id(vp) : (vp->index & 0xFF) << 24; return true;
	case A_VER: *val = APIC_VERSION; return true;
	case A_TPR: *val = a->tpr; return true;
	case A_APR: /* arbitration priority: not in x2APIC */
		*val = ppr(vp);
		return !x;
	case A_PPR: *val = ppr(vp); return true;
	case A_EOI: *val = 0; return !x; /* write-only; xAPIC reads 0 */
	case A_RRD: *val = 0; return !x;
	case A_LDR: *val = ldr_of(vp); return true;
	case A_DFR: *val = a->dfr; return !x;
	case A_SVR: *val = a->svr; return true;
	case A_ESR: *val = a->esr; return true;
	case A_ICR_LO:
		*val = x ? ((uint64_t)a->icr_hi << 32) | a->icr_lo : a->icr_lo; /* idle */
		return true;
	case A_ICR_HI: *val = a->icr_hi; return !x;
	case A_LVT_TIMER: case A_LVT_THERMAL: case A_LVT_PERF: case A_LVT_LINT0:
	case A_LVT_LINT1: case A_LVT_ERROR:
		*val = a->lvt[(off - A_LVT_TIMER) >> 4];
		return true;
	case A_TIMER_INIT: *val = a->timer_init; return true;
	case A_TIMER_CUR: *val = timer_current(vp); return true;
	case A_TIMER_DIV: *val = a->timer_div; return true;
	case A_SELF_IPI: *val = 0; return false; /* write-only in x2APIC, absent in xAPIC */
	default:
		if (off >= A_ISR && off < A_ISR + 0x80) {
			*val = bits32(a->isr, (off - A_ISR) >> 4);
			return true;
		}
		if (off >= A_TMR && off < A_TMR + 0x80) {
			*val = bits32(a->tmr, (off - A_TMR) >> 4);
			return true;
		}
		if (off >= A_IRR && off < A_IRR + 0x80) {
			*val = bits32(vp->irr, (off - A_IRR) >> 4);
			return true;
		}
		*val = 0;
		return false;
	}
}

/* Writable bits of each LVT (SDM figure 10-8): vector, delivery mode, polarity, trigger, mask,
 * timer mode. */
static const uint32_t lvt_bits[6] = { 0x000700FFu, 0x000107FFu, 0x000107FFu, 0x0001A7FFu,
				      0x0001A7FFu, 0x000100FFu };

/* Write register at `off`; false = #GP in x2APIC mode (read-only, reserved, reserved bits). */
static bool reg_write(struct hvsim_vp *vp, unsigned off, uint64_t v64)
{
	struct hvsim_apic *a = &vp->apic;
	bool x = x2(vp);
	uint32_t v = (uint32_t)v64;
	if (x && off != A_ICR_LO && (v64 >> 32))
		return false;
	switch (off) {
	case A_TPR:
		if (x && (v & ~0xFFu))
			return false;
		a->tpr = v & 0xFF;
		return true;
	case A_EOI:
		if (x && v)
			return false; /* x2APIC: non-zero EOI write is #GP (SDM 10.12.1.2) */
		eoi(vp);
		return true;
	case A_LDR:
		if (x)
			return false;
		a->ldr = v & 0xFF000000u;
		return true;
	case A_DFR:
		if (x)
			return false;
		a->dfr = v | 0x0FFFFFFFu;
		return true;
	case A_SVR: {
		if (x && (v & ~0x3FFu))
			return false;
		a->svr = v & 0x3FF;
		if (!(a->svr & SVR_ENABLE)) /* software disable masks every LVT (SDM 10.4.7.2) */
			for (int i = 0; i < 6; i++)
				a->lvt[i] |= LVT_MASK;
		return true;
	}
	case A_ESR:
		if (x && v)
			return false;
		a->esr = 0; /* a write clears it (back-to-back rule simplified) */
		return true;
	case A_ICR_LO:
		if (x) {
			if (v64 & 0x00000000FFF33000ull) /* reserved: 12-13, 16-17, 20-31 */
				return false;
			a->icr_lo = v & ~(1u << 12);
			a->icr_hi = (uint32_t)(v64 >> 32);
			icr_send(vp, a->icr_lo, a->icr_hi);
		} else {
			a->icr_lo = v & 0x000CCFFFu;
			icr_send(vp, a->icr_lo, a->icr_hi >> 24);
		}
		return true;
	case A_ICR_HI:
		if (x)
			return false;
		a->icr_hi = v & 0xFF000000u;
		return true;
	case A_LVT_TIMER: case A_LVT_THERMAL: case A_LVT_PERF: case A_LVT_LINT0:
	case A_LVT_LINT1: case A_LVT_ERROR: {
		unsigned i = (off - A_LVT_TIMER) >> 4;
		uint32_t keep = lvt_bits[i];
		if (i == 0 && TIMER_MODE(v) == 3) {
			if (x)
				return false;
			v &= ~(1u << 18); /* reserved mode */
		}
		if (x && (v & ~keep))
			return false;
		v &= keep;
		if (!sw_enabled(vp))
			v |= LVT_MASK;
		if (i == 0 && TIMER_MODE(v) != TIMER_MODE(a->lvt[0])) {
			/* A mode change disarms the timer (SDM 10.5.4.1). */
			a->deadline_ns = 0;
			a->tsc_deadline = 0;
			a->timer_init = 0;
		}
		a->lvt[i] = v;
		return true;
	}
	case A_TIMER_INIT:
		if (TIMER_MODE(a->lvt[0]) == 2)
			return true; /* ignored in TSC-deadline mode */
		a->timer_init = v;
		timer_start(vp);
		return true;
	case A_TIMER_DIV:
		if (x && (v & ~0xBu))
			return false;
		a->timer_div = v & 0xB;
		return true;
	case A_SELF_IPI:
		if (!x || (v & ~0xFFu))
			return false;
		icr_send(vp, (v & 0xFF) | (1u << 18), 0);
		return true;
	default:
		/* read-only (ID, version, PPR, ISR/TMR/IRR, current count, APR, RRD) or reserved:
		 * xAPIC ignores the write, x2APIC raises #GP */
		return !x;
	}
}

/* ---- IA32_APIC_BASE, IA32_TSC_DEADLINE, x2APIC MSRs ---- */

static int base_write(struct hvsim_vp *vp, uint64_t v)
{
	struct hvsim_apic *a = &vp->apic;
	/* Reserved: bits 0-7, 9, above MAXPHYADDR. */
	if (v & (0x2FFull | ~((1ull << HVSIM_MAXPHYADDR) - 1)))
		return -1;
	bool en = v & BASE_EN, ext = v & BASE_EXTD;
	bool was_en = a->base & BASE_EN, was_ext = a->base & BASE_EXTD;
	if (ext && !en)
		return -1; /* invalid state (SDM figure 10-27) */
	if (was_ext && en && !ext)
		return -1; /* x2APIC -> xAPIC directly is #GP */
	if (!was_en && en && ext)
		return -1; /* disabled -> x2APIC directly is #GP */
	uint64_t bsp = a->base & BASE_BSP;
	a->base = (v & ~(BASE_BSP)) | bsp;
	if (was_en && !en)
		regs_reset(vp, false); /* global disable: power-up state (SDM 10.4.3) */
	return 1;
}

int hvsim_apic_msr(struct hvsim_vp *vp, uint32_t msr, bool write, uint64_t *val)
{
	if (msr == X86_MSR_APIC_BASE) {
		if (write)
			return base_write(vp, *val);
		*val = vp->apic.base;
		return 1;
	}
	if (msr == MSR_TSC_DEADLINE) {
		if (write) {
			if (TIMER_MODE(vp->apic.lvt[0]) != 2)
				return 1; /* ignored outside TSC-deadline mode (SDM 10.5.4.1) */
			vp->apic.tsc_deadline = *val;
			tsc_deadline_arm(vp);
		} else {
			*val = TIMER_MODE(vp->apic.lvt[0]) == 2 ? vp->apic.tsc_deadline : 0;
		}
		return 1;
	}
	if (msr < 0x800 || msr > 0x8FF)
		return 0;
	if (!x2(vp) || !hw_enabled(vp))
		return -1; /* x2APIC MSRs outside x2APIC mode: #GP */
	unsigned off = (msr - 0x800) << 4;
	if (write)
		return reg_write(vp, off, *val) ? 1 : -1;
	return reg_read(vp, off, val) ? 1 : -1;
}

/* ---- xAPIC MMIO page ---- */

static bool in_page(const struct hvsim_vp *vp, uint64_t gpa)
{
	uint64_t b = vp->apic.base & ~0xFFFull;
	return gpa >= b && gpa - b < 0x1000;
}

/* One MMIO access: reads return the register's bytes at 0-3 of its 16-byte slot (0 elsewhere);
 * writes take effect when they are 32-bit or wider at a slot start (other writes are
 * ignored: the SDM leaves them undefined). */
static void mmio(struct hvsim_vp *vp, unsigned off, uint8_t *buf, unsigned size, bool write)
{
	if (write) {
		if ((off & 0xF) == 0 && size >= 4) {
			uint32_t v;
			memcpy(&v, buf, 4);
			reg_write(vp, off, v);
		}
		return;
	}
	for (unsigned i = 0; i < size; i++) {
		unsigned o = off + i;
		uint64_t r = 0;
		if (o < 0x1000 && (o & 0xF) < 4)
			reg_read(vp, o & ~0xFu, &r);
		buf[i] = o < 0x1000 ? (uint8_t)(r >> (8 * (o & 3))) : 0xFF;
	}
}

struct emu_ctx {
	struct hvsim_vp *vp;
	bool touched;   /* the instruction reached the APIC page */
};

static int emu_mem(struct emu_ctx *c, gva_t la, uint8_t *buf, unsigned size, unsigned kind,
		   struct x86_emu_fault *fault)
{
	struct hvsim_vp *vp = c->vp;
	unsigned user = hvsim_vp_cpl(vp) == 3 ? X86_PW_USER : 0;
	unsigned pw = kind == X86_EMU_WRITE ? X86_PW_WRITE : kind == X86_EMU_FETCH ? X86_PW_FETCH :
										    X86_PW_READ;
	uint64_t g;
	uint32_t pf = 0;
	int rc = hvsim_vp_translate(vp, la.v, pw | user, &g, &pf);
	if (rc == -EFAULT) {
		*fault = (struct x86_emu_fault){ 14, true, pf, la.v };
		return -EFAULT;
	}
	if (rc)
		return -EIO;
	if (in_page(vp, g) && kind != X86_EMU_FETCH) {
		c->touched = true;
		mmio(vp, (unsigned)(g & 0xFFF), buf, size, kind == X86_EMU_WRITE);
		return 0;
	}
	/* RAM (an instruction touching both, e.g. MOVS): VTL0 access, so VTL protections apply
	   (a denied page ends the emulation; the instruction then exits the ordinary way). */
	if (g >= vp->sim->mem_size || size > vp->sim->mem_size - g ||
	    (g & 0xFFF) + size > 0x1000)
		return -EIO;
	pthread_mutex_lock(&vp->sim->lock);
	bool allowed = vp->sim->prot[g >> ADDR_PAGE_SHIFT] & (kind == X86_EMU_WRITE ? 2 : 1);
	pthread_mutex_unlock(&vp->sim->lock);
	if (!allowed)
		return -EIO;
	if (kind == X86_EMU_WRITE)
		memcpy(vp->sim->ram + g, buf, size);
	else
		memcpy(buf, vp->sim->ram + g, size);
	return 0;
}

static int emu_read(void *ctx, gva_t la, void *buf, unsigned size, enum x86_emu_access kind,
		    struct x86_emu_fault *fault)
{
	/* the load of a read-modify-write arrives with kind WRITE: read it, do not write */
	return emu_mem(ctx, la, buf, size, kind == X86_EMU_FETCH ? X86_EMU_FETCH : X86_EMU_READ,
		       fault);
}

static int emu_write(void *ctx, gva_t la, const void *buf, unsigned size,
		     struct x86_emu_fault *fault)
{
	uint8_t tmp[64];
	if (size > sizeof(tmp))
		return -EIO;
	memcpy(tmp, buf, size);
	return emu_mem(ctx, la, tmp, size, X86_EMU_WRITE, fault);
}

static const struct x86_emu_ops emu_ops = { .read = emu_read, .write = emu_write };

static const int seg_regs[X86_SEG_COUNT] = { UC_X86_REG_ES, UC_X86_REG_CS, UC_X86_REG_SS,
					     UC_X86_REG_DS, UC_X86_REG_FS, UC_X86_REG_GS };

int hvsim_apic_mmio(struct hvsim_vp *vp)
{
	if (!hw_enabled(vp) || x2(vp) || !in_page(vp, vp->stop_addr) ||
	    vp->stop_access == HV_INTERCEPT_ACCESS_EXECUTE)
		return -1;
	struct x86_emu_cpu cpu;
	memset(&cpu, 0, sizeof(cpu));
	for (int i = 0; i < 16; i++)
		cpu.gpr[i] = hvsim_rd(vp, hvsim_uc_gpr[i]);
	cpu.rip = hvsim_rd(vp, UC_X86_REG_RIP);
	cpu.rflags = hvsim_rd(vp, UC_X86_REG_RFLAGS);
	cpu.cr0 = hvsim_rd(vp, UC_X86_REG_CR0);
	cpu.cr4 = hvsim_rd(vp, UC_X86_REG_CR4);
	cpu.efer = hvsim_rd_msr(vp, X86_MSR_EFER);
	cpu.cpl = hvsim_vp_cpl(vp);
	for (int i = 0; i < X86_SEG_COUNT; i++) {
		struct hvsim_seg s = hvsim_read_seg(vp, seg_regs[i]);
		cpu.seg[i] = (struct x86_segment){ s.base, s.limit, s.selector, s.attr };
	}
	for (int i = 0; i < 16; i++)
		uc_reg_read(vp->uc, UC_X86_REG_XMM0 + i, cpu.xmm[i]);
	uint8_t bytes[16];
	unsigned n = hvsim_fetch_insn(vp, cpu.rip, bytes);
	struct emu_ctx c = { .vp = vp };
	struct x86_emu_fault f = { 0 };
	enum x86_emu_result r = x86_emu_step(&cpu, bytes, n, &emu_ops, &c, &f);
	if (r == X86_EMU_FAULT)
		return hvsim_raise_exc(vp, (struct hvsim_fault){ f.vector, f.has_error_code,
								  f.error_code, f.cr2 });
	if (r != X86_EMU_OK)
		return -1; /* not an access hvsim can emulate: VTL2 gets the UnmappedGpa */
	for (int i = 0; i < 16; i++)
		hvsim_wr(vp, hvsim_uc_gpr[i], cpu.gpr[i]);
	for (int i = 0; i < 16; i++)
		uc_reg_write(vp->uc, UC_X86_REG_XMM0 + i, cpu.xmm[i]);
	hvsim_wr(vp, UC_X86_REG_RFLAGS, cpu.rflags);
	hvsim_wr(vp, UC_X86_REG_RIP, cpu.rip);
	return hvsim_apic_post(vp);
}

/* ---- HLT / wait-for-SIPI sleep ---- */

bool hvsim_apic_wakeup(struct hvsim_vp *vp)
{
	if (vp->apic.in_init || vp->apic.in_sipi)
		return true; /* the run loop's hvsim_apic_poll processes them */
	if (vp->apic.wait_sipi)
		return false; /* only INIT/SIPI processing (hvsim_apic_poll) changes this state */
	if (vp->event.pending || vp->apic.nmi_pending)
		return true;
	return hvsim_apic_next(vp) >= 0 && (hvsim_rd(vp, UC_X86_REG_RFLAGS) & HVSIM_RFLAGS_IF);
}

void hvsim_apic_wait(struct hvsim_vp *vp)
{
	uint64_t dl = vp->apic.deadline_ns;
	if (!dl) {
		pthread_cond_wait(&vp->cond, &vp->lock);
	} else {
		uint64_t n = now_ns();
		if (dl > n) {
			/* vp->cond runs on CLOCK_REALTIME (hvsim_vp_init): convert the deadline */
			uint64_t d = dl - n;
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			uint64_t t = (uint64_t)ts.tv_nsec + d % 1000000000u;
			ts.tv_sec += (time_t)(d / 1000000000u + t / 1000000000u);
			ts.tv_nsec = (long)(t % 1000000000u);
			pthread_cond_timedwait(&vp->cond, &vp->lock, &ts);
		}
	}
	hvsim_apic_poll(vp);
}

int hvsim_apic_get_info(struct hvsim *sim, uint32_t index, struct hvsim_apic_info *out)
{
	if (index >= sim->vp_count)
		return -EINVAL;
	struct hvsim_vp *vp = sim->vps[index];
	pthread_mutex_lock(&vp->lock);
	out->wait_for_sipi = vp->apic.wait_sipi;
	out->sipi_vector = vp->apic.sipi_vector;
	out->sipi_count = vp->apic.sipi_count;
	out->apic_base = vp->apic.base;
	out->tpr = vp->apic.tpr;
	memcpy(out->isr, vp->apic.isr, 32);
	memcpy(out->irr, vp->irr, 32);
	pthread_mutex_unlock(&vp->lock);
	return 0;
}
