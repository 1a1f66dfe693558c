/*
 * Code written behind a VP's translations: by another VP (every VP is its own unicorn engine
 * with its own translation cache, and an engine notices only its own stores to code it
 * translated) or by a host thread (hvsim, VTL2). Such a VP would run the old bytes forever:
 * seen with Linux's text_poke_bp, one CPU looping on an INT3 it had translated while the other
 * had long put the new instruction in place.
 *
 * Guest pages some VP runs code from are write-protected on the host (mprotect of the shared
 * RAM mapping), claimed when unicorn translates a block there (hvsim_xmod_gate_claim, from the
 * block-hook gate's filter) or when the block hook runs a block from an unclaimed page. A store
 * to one, from any thread, faults into xmod_segv: it makes the page writable again and marks it
 * XDIRTY for every VP that ran code from it (gate_mark). Before its next run a VP drops its
 * translations of those pages by guest-physical address (hvsim_xmod_gate_sync); within a run,
 * a block whose page is XDIRTY calls the block hook, which drops them (hvsim_xmod_check).
 * Protection comes before the retranslation, so a store after it always faults. Guest kernels
 * write their code rarely (patching); a per-store hook measured 2x the CPU time of a 2-VP
 * Linux boot.
 *
 * Consequence for host code: system calls must not write into guest RAM directly (a protected
 * page answers EFAULT instead of faulting); copy through a host buffer.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "tools/hvsim/hvsim_priv.h"

#define XMOD_MAX_SIMS 16

static _Atomic(struct hvsim *) xmod_sims[XMOD_MAX_SIMS];
static struct sigaction xmod_old_segv;

static void xmod_lock(struct hvsim *sim)
{
	while (atomic_flag_test_and_set_explicit(&sim->xmod_lock, memory_order_acquire))
		;
}

static void xmod_unlock(struct hvsim *sim)
{
	atomic_flag_clear_explicit(&sim->xmod_lock, memory_order_release);
}

/*
 * A gated VP (docs/hvsim.md "The block-hook gate") runs most blocks without the block hook, so
 * nothing checks a page before each block: every store to a page it has translations of is
 * remembered (gate_dirty) and those translations are dropped before its next run. Its own guest stores need nothing sooner (unicorn invalidates what they overlap);
 * anyone else's open the gate, so that the hook's per-block check covers the rest of this run.
 */
static void gate_mark(struct hvsim_vp *vp, uint64_t pg)
{
	atomic_store_explicit(&vp->codepg[pg], HVSIM_PG_XDIRTY, memory_order_relaxed);
	if (vp->gate_dirty_n < HVSIM_GATE_DIRTY)
		vp->gate_dirty[vp->gate_dirty_n] = (uint32_t)pg;
	if (vp->gate_dirty_n <= HVSIM_GATE_DIRTY)
		vp->gate_dirty_n++;
	bool own = atomic_load_explicit(&vp->in_uc, memory_order_relaxed) &&
		   pthread_equal(pthread_self(), vp->uc_thread);
	if (!own) {
		atomic_fetch_add_explicit(&vp->gate_host_dirty, 1, memory_order_relaxed);
		hvsim_gate_open(vp);
	}
}

/* Async-signal context: atomics, mprotect and the spin lock only (never held while faulting). */
static bool xmod_fault(struct hvsim *sim, uintptr_t a)
{
	uintptr_t base = (uintptr_t)sim->ram;
	if (a < base || a - base >= sim->mem_size)
		return false;
	uint64_t pg = (a - base) >> ADDR_PAGE_SHIFT;
	xmod_lock(sim);
	if (sim->xprot[pg]) {
		mprotect(sim->ram + (pg << ADDR_PAGE_SHIFT), ADDR_PAGE_SIZE, PROT_READ | PROT_WRITE);
		sim->xprot[pg] = 0;
		for (uint32_t i = 0; i < sim->vp_count; i++) {
			struct hvsim_vp *vp = sim->vps[i];
			if (!vp || !vp->codepg ||
			    !(atomic_load_explicit(&vp->codepg[pg], memory_order_relaxed) & HVSIM_PG_CODE))
				continue;
			gate_mark(vp, pg);
		}
	}
	xmod_unlock(sim);
	/* Ours either way: RAM is mapped read-write except for this protection, so a store that
	 * raced with another thread's unprotect simply succeeds when retried. */
	return true;
}

static void xmod_segv(int sig, siginfo_t *si, void *uctx)
{
	uintptr_t a = (uintptr_t)si->si_addr;
	for (unsigned i = 0; i < XMOD_MAX_SIMS; i++) {
		struct hvsim *sim = atomic_load(&xmod_sims[i]);
		if (sim && xmod_fault(sim, a))
			return;
	}
	/* Not a protected guest page: whoever handled SIGSEGV before us (sanitizers, default). */
	if (xmod_old_segv.sa_flags & SA_SIGINFO) {
		xmod_old_segv.sa_sigaction(sig, si, uctx);
		return;
	}
	if (xmod_old_segv.sa_handler != SIG_DFL && xmod_old_segv.sa_handler != SIG_IGN) {
		xmod_old_segv.sa_handler(sig);
		return;
	}
	signal(SIGSEGV, SIG_DFL); /* returning re-executes the access: it faults again, fatally */
}

/*
 * Installed at every partition's creation, not once: a test harness (cmocka) puts its own
 * handler back before each test, and ours must come first. The one it replaces is kept for the
 * faults that are not ours.
 */
static pthread_mutex_t xmod_install_lock = PTHREAD_MUTEX_INITIALIZER;

static int xmod_install(void)
{
	struct sigaction sa, cur;
	int rc = 0;
	pthread_mutex_lock(&xmod_install_lock);
	if (sigaction(SIGSEGV, NULL, &cur) == 0 &&
	    !((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == xmod_segv)) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = xmod_segv;
		sa.sa_flags = SA_SIGINFO | SA_NODEFER;
		sigemptyset(&sa.sa_mask);
		rc = sigaction(SIGSEGV, &sa, &xmod_old_segv) ? -errno : 0;
	}
	pthread_mutex_unlock(&xmod_install_lock);
	return rc;
}

int hvsim_xmod_init(struct hvsim *sim)
{
	sim->xprot = calloc(sim->mem_size >> ADDR_PAGE_SHIFT, 1);
	if (!sim->xprot)
		return -ENOMEM;
	atomic_flag_clear(&sim->xmod_lock);
	int rc = xmod_install();
	if (rc)
		return rc;
	for (unsigned i = 0; i < XMOD_MAX_SIMS; i++) {
		struct hvsim *none = NULL;
		if (atomic_compare_exchange_strong(&xmod_sims[i], &none, sim)) {
			sim->xmod_slot = (int)i;
			return 0;
		}
	}
	return -EBUSY; /* more multi-VP partitions at once than the registry holds */
}

void hvsim_xmod_fini(struct hvsim *sim)
{
	if (sim->xmod_slot >= 0)
		atomic_store(&xmod_sims[sim->xmod_slot], NULL);
	sim->xmod_slot = -1;
	free(sim->xprot);
	sim->xprot = NULL;
}

/* Claim guest page `pg` for this VP's translations: CODE, not XDIRTY, write-protected. */
static void claim_locked(struct hvsim_vp *vp, uint64_t pg)
{
	struct hvsim *sim = vp->sim;
	atomic_store_explicit(&vp->codepg[pg], HVSIM_PG_CODE, memory_order_relaxed);
	if (!sim->xprot[pg] &&
	    mprotect(sim->ram + (pg << ADDR_PAGE_SHIFT), ADDR_PAGE_SIZE, PROT_READ) == 0)
		sim->xprot[pg] = 1;
}

static void claim(struct hvsim_vp *vp, uint64_t pg)
{
	struct hvsim *sim = vp->sim;
	xmod_lock(sim);
	claim_locked(vp, pg);
	xmod_unlock(sim);
}

bool hvsim_xmod_check(struct hvsim_vp *vp, uc_engine *uc, uint64_t addr,
		      const struct hvsim_tb_entry *e)
{
	if (!vp->exec_locked)
		return false; /* a single step of a just-translated instruction */
	uint64_t gpn1, gpn2;
	hvsim_tb_pages(vp, e, &gpn1, &gpn2);
	uint8_t f1 = atomic_load_explicit(&vp->codepg[gpn1], memory_order_relaxed);
	uint8_t f2 = atomic_load_explicit(&vp->codepg[gpn2], memory_order_relaxed);
	if (f1 == HVSIM_PG_CODE && f2 == HVSIM_PG_CODE)
		return false;
	/* First code from the page(s), or rewritten since: protect, then retranslate. */
	uint64_t page = addr & ~(uint64_t)(ADDR_PAGE_SIZE - 1);
	claim(vp, gpn1);
	if (gpn2 != gpn1)
		claim(vp, gpn2);
	uc_ctl_remove_cache(uc, page, page + ADDR_PAGE_SIZE);
	if (gpn2 != gpn1)
		uc_ctl_remove_cache(uc, page + ADDR_PAGE_SIZE, page + 2 * ADDR_PAGE_SIZE);
	if ((f1 | f2) & HVSIM_PG_XDIRTY)
		atomic_fetch_add_explicit(&vp->st_xmodify, 1, memory_order_relaxed);
	return true;
}

/*
 * Called by the translation-time filter before unicorn reads the code: protection first, so
 * a store after it always faults. A page written since its translations were dropped stays
 * XDIRTY (older translations of it may still be cached): the block calls its hook, whose
 * hvsim_xmod_check drops them.
 */
bool hvsim_xmod_gate_claim(struct hvsim_vp *vp, uint64_t pg)
{
	uint8_t f = atomic_load_explicit(&vp->codepg[pg], memory_order_relaxed);
	if (f == HVSIM_PG_CODE)
		return true;
	if (f & HVSIM_PG_XDIRTY)
		return false;
	struct hvsim *sim = vp->sim;
	xmod_lock(sim);
	claim_locked(vp, pg);
	xmod_unlock(sim);
	return true;
}

bool hvsim_xmod_gate_sync(struct hvsim_vp *vp)
{
	struct hvsim *sim = vp->sim;
	uint32_t pages[HVSIM_GATE_DIRTY];
	xmod_lock(sim);
	unsigned n = vp->gate_dirty_n;
	if (n <= HVSIM_GATE_DIRTY)
		memcpy(pages, vp->gate_dirty, n * sizeof(pages[0]));
	vp->gate_dirty_n = 0;
	atomic_store(&vp->gate_host_dirty, 0);
	xmod_unlock(sim);
	if (n > HVSIM_GATE_DIRTY)
		return false; /* too many to track: the caller drops everything */
	for (unsigned i = 0; i < n; i++) {
		uint64_t pg = pages[i];
		if (atomic_load_explicit(&vp->codepg[pg], memory_order_relaxed) != HVSIM_PG_XDIRTY)
			continue; /* claimed again since (hvsim_xmod_check dropped them) */
		/* By guest-physical address (unicorn patch 0005): whatever address it ran at. */
		uint64_t a = pg << ADDR_PAGE_SHIFT;
		uc_ctl(vp->uc, UC_CTL_WRITE(UC_CTL_TB_REMOVE_CACHE_PHYS, 2), a, a + ADDR_PAGE_SIZE);
		atomic_store_explicit(&vp->codepg[pg], 0, memory_order_relaxed);
	}
	return true;
}
