/*
 * hvsim partition: guest RAM, VP creation, the long-mode entry state, statistics, tracing.
 * Locking rules: tools/hvsim/hvsim_priv.h.
 */
#include "tools/hvsim/hvsim.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "tools/hvsim/hvsim_priv.h"

static _Atomic(struct hvsim *) hvsim_current;

void hvsim_trace(struct hvsim *sim, const char *fmt, ...)
{
	if (!sim->cfg.trace)
		return;
	FILE *f = sim->cfg.trace_out ? sim->cfg.trace_out : stderr;
	va_list ap;
	va_start(ap, fmt);
	pthread_mutex_lock(&sim->trace_lock);
	vfprintf(f, fmt, ap);
	fputc('\n', f);
	pthread_mutex_unlock(&sim->trace_lock);
	va_end(ap);
}

int hvsim_create(const struct hvsim_config *cfg, struct hvsim **out)
{
	struct hvsim_config c = cfg ? *cfg : (struct hvsim_config){ 0 };
	if (c.vp_count == 0)
		c.vp_count = 1;
	if (c.mem_size == 0)
		c.mem_size = HVSIM_DEFAULT_MEM_SIZE;
	/* RAM must stay below the contract's MMIO test region and be page granular. */
	if (c.vp_count > HVSIM_MAX_VPS || (c.mem_size & (ADDR_PAGE_SIZE - 1)) ||
	    c.mem_size < (1ull << 20) || c.mem_size > (3ull << 30))
		return -EINVAL;

	struct hvsim *sim = calloc(1, sizeof(*sim));
	if (!sim)
		return -ENOMEM;
	sim->cfg = c;
	sim->mem_size = c.mem_size;
	sim->vp_count = c.vp_count;
	sim->epfd = -1;
	sim->watcher_stop_efd = -1;
	sim->xmod_slot = -1;
	atomic_store(&sim->count_all, c.count_insns);
	pthread_mutex_init(&sim->lock, NULL);
	pthread_mutex_init(&sim->trace_lock, NULL);
	pthread_mutex_init(&sim->exec_lock, NULL);
	pthread_cond_init(&sim->exec_cond, NULL);
	hvsim_synth_init(sim);

	int rc = -ENOMEM;
	void *ram = mmap(NULL, c.mem_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS |
			 MAP_NORESERVE, -1, 0);
	if (ram == MAP_FAILED)
		goto fail;
	sim->ram = ram;
	sim->prot = malloc(c.mem_size >> ADDR_PAGE_SHIFT);
	if (!sim->prot)
		goto fail;
	/* Default VTL protection: VTL0 may read, write and execute everything (mask 0xF). */
	memset(sim->prot, 0xF, c.mem_size >> ADDR_PAGE_SHIFT);
	rc = hvsim_synic_init(sim);
	if (rc)
		goto fail;
	rc = hvsim_xmod_init(sim);
	if (rc)
		goto fail;
	for (uint32_t i = 0; i < c.vp_count; i++) {
		rc = hvsim_vp_init(sim, i, &sim->vps[i]);
		if (rc)
			goto fail;
	}
	rc = hvsim_vp_start_watcher(sim);
	if (rc)
		goto fail;
	rc = hvsim_synth_start(sim);
	if (rc)
		goto fail;
	*out = sim;
	return 0;
fail:
	hvsim_destroy(sim);
	return rc;
}

void hvsim_destroy(struct hvsim *sim)
{
	if (!sim)
		return;
	struct hvsim *cur = sim;
	atomic_compare_exchange_strong(&hvsim_current, &cur, NULL);
	hvsim_vp_stop_watcher(sim);
	hvsim_synth_fini(sim);
	hvsim_xmod_fini(sim); /* before the VPs: the fault handler reads their page marks */
	for (uint32_t i = 0; i < HVSIM_MAX_VPS; i++)
		if (sim->vps[i])
			hvsim_vp_fini(sim->vps[i]);
	hvsim_synic_fini(sim);
	if (sim->ram)
		munmap(sim->ram, sim->mem_size);
	free(sim->prot);
	pthread_mutex_destroy(&sim->lock);
	pthread_mutex_destroy(&sim->trace_lock);
	pthread_mutex_destroy(&sim->exec_lock);
	pthread_cond_destroy(&sim->exec_cond);
	free(sim);
}

void *hvsim_gpa_ptr(struct hvsim *sim, gpa_t gpa, size_t len)
{
	if (gpa.v >= sim->mem_size || len > sim->mem_size - gpa.v)
		return NULL;
	return sim->ram + gpa.v;
}

uint64_t hvsim_mem_size(const struct hvsim *sim)
{
	return sim->mem_size;
}

uint32_t hvsim_vp_count(const struct hvsim *sim)
{
	return sim->vp_count;
}

bool hvsim_has_register_page(const struct hvsim *sim)
{
	return sim->cfg.register_page;
}

void hvsim_set_current(struct hvsim *sim)
{
	atomic_store(&hvsim_current, sim);
}

struct hvsim *hvsim_get_current(void)
{
	return atomic_load(&hvsim_current);
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

/* The contract's GDT: null, code64, data, code32, user data, user code64. */
static const uint64_t hvsim_gdt[6] = {
	0,
	0x00AF9A000000FFFFull,
	0x00CF92000000FFFFull,
	0x00CF9A000000FFFFull,
	0x00CFF2000000FFFFull,
	0x00AFFA000000FFFFull,
};

static void hvsim_build_tables(struct hvsim *sim)
{
	uint8_t *m = sim->ram;
	memset(m + HVSIM_GDT_GPA, 0, HVSIM_SETUP_END_GPA - HVSIM_GDT_GPA);
	for (unsigned i = 0; i < 6; i++)
		put64(m + HVSIM_GDT_GPA + 8 * i, hvsim_gdt[i]);
	/* PML4 0x2000 -> PDPT 0x3000 -> 4 page directories 0x4000..0x7FFF of 2 MiB pages. */
	put64(m + HVSIM_PML4_GPA, 0x3000 | 7);
	for (uint64_t i = 0; i < 4; i++) {
		put64(m + 0x3000 + 8 * i, (0x4000 + i * 0x1000) | 7);
		for (uint64_t j = 0; j < 512; j++)
			put64(m + 0x4000 + i * 0x1000 + 8 * j, ((i << 30) | (j << 21)) | 0x87);
	}
}

int hvsim_vp_setup_long_mode(struct hvsim *sim, uint32_t vp_index, uint64_t rip)
{
	if (vp_index >= sim->vp_count)
		return -EINVAL;
	struct hvsim_vp *vp = sim->vps[vp_index];
	pthread_mutex_lock(&vp->lock);
	if (vp->in_guest) {
		pthread_mutex_unlock(&vp->lock);
		return -EBUSY;
	}
	/* Rebuilding is idempotent: every VP gets the same tables. */
	hvsim_build_tables(sim);
	hvsim_vp_reset_cpu(vp);
	uc_engine *uc = vp->uc;
	uc_x86_msr efer = { .rid = X86_MSR_EFER, .value = 0xD01 };
	uint64_t cr4 = 0x620, cr3 = HVSIM_PML4_GPA, cr0 = 0x80010033, rflags = 2;
	uc_x86_mmr gdtr = { .base = HVSIM_GDT_GPA, .limit = 6 * 8 - 1 };
	uc_x86_mmr idtr = { .base = 0, .limit = 0 };
	uint64_t cs = 0x08, ds = 0x10, zero = 0, rdi = vp_index, rsi = sim->vp_count;
	int err = 0;
	err |= uc_reg_write(uc, UC_X86_REG_MSR, &efer);
	err |= uc_reg_write(uc, UC_X86_REG_CR4, &cr4);
	err |= uc_reg_write(uc, UC_X86_REG_CR3, &cr3);
	err |= uc_reg_write(uc, UC_X86_REG_CR0, &cr0);
	err |= uc_reg_write(uc, UC_X86_REG_GDTR, &gdtr);
	err |= uc_reg_write(uc, UC_X86_REG_IDTR, &idtr);
	err |= uc_reg_write(uc, UC_X86_REG_CS, &cs);
	err |= uc_reg_write(uc, UC_X86_REG_SS, &ds);
	err |= uc_reg_write(uc, UC_X86_REG_DS, &ds);
	err |= uc_reg_write(uc, UC_X86_REG_ES, &ds);
	err |= uc_reg_write(uc, UC_X86_REG_FS, &ds);
	err |= uc_reg_write(uc, UC_X86_REG_GS, &ds);
	err |= uc_reg_write(uc, UC_X86_REG_FS_BASE, &zero);
	err |= uc_reg_write(uc, UC_X86_REG_GS_BASE, &zero);
	err |= uc_reg_write(uc, UC_X86_REG_RFLAGS, &rflags);
	err |= uc_reg_write(uc, UC_X86_REG_RIP, &rip);
	err |= uc_reg_write(uc, UC_X86_REG_RSP, &zero);
	err |= uc_reg_write(uc, UC_X86_REG_RDI, &rdi);
	err |= uc_reg_write(uc, UC_X86_REG_RSI, &rsi);
	/* New code may have been loaded: forget what ran. */
	atomic_fetch_or(&vp->flush_tb, HVSIM_FLUSH_ALL);
	vp->halted = false;
	/* The run page context is what VTL0 gets on the next run: make it match. */
	hvsim_vp_ctx_save(vp);
	pthread_mutex_unlock(&vp->lock);
	return err ? -EIO : 0;
}

int hvsim_set_vtl2_pool(struct hvsim *sim, gpa_t base, uint64_t size)
{
	if (!sim || (base.v & (ADDR_PAGE_SIZE - 1)) || (size & (ADDR_PAGE_SIZE - 1)) ||
	    base.v > sim->mem_size || size > sim->mem_size - base.v)
		return -EINVAL;
	pthread_mutex_lock(&sim->lock);
	sim->vtl2_pool_base = base.v;
	sim->vtl2_pool_next = base.v;
	sim->vtl2_pool_end = base.v + size;
	pthread_mutex_unlock(&sim->lock);
	return 0;
}

uint64_t hvsim_vtl2_pool_used(struct hvsim *sim)
{
	pthread_mutex_lock(&sim->lock);
	uint64_t used = sim->vtl2_pool_next - sim->vtl2_pool_base;
	pthread_mutex_unlock(&sim->lock);
	return used;
}

int hvsim_vtl2_alloc(struct hvsim *sim, size_t pages, gpa_t *first)
{
	if (!sim || !first || pages == 0)
		return -EINVAL;
	int rc = -ENOMEM;
	pthread_mutex_lock(&sim->lock);
	if (pages <= (sim->vtl2_pool_end - sim->vtl2_pool_next) >> ADDR_PAGE_SHIFT) {
		*first = gpa(sim->vtl2_pool_next);
		sim->vtl2_pool_next += (uint64_t)pages << ADDR_PAGE_SHIFT;
		rc = 0;
	}
	pthread_mutex_unlock(&sim->lock);
	return rc;
}

void hvsim_get_stats(const struct hvsim *sim, struct hvsim_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (uint32_t i = 0; i < sim->vp_count; i++) {
		struct hvsim_vp *vp = sim->vps[i];
		for (unsigned k = 0; k < HVSIM_EXIT_KIND_COUNT; k++)
			st->exits_by_kind[k] += atomic_load(&vp->st_exits[k]);
		st->guest_insns += atomic_load(&vp->st_insns);
		st->guest_blocks += atomic_load(&vp->st_blocks);
		st->host_io += atomic_load(&vp->st_host_io);
		st->host_msr += atomic_load(&vp->st_host_msr);
		st->host_cpuid += atomic_load(&vp->st_host_cpuid);
		st->exceptions_delivered += atomic_load(&vp->st_exc);
		st->interrupts_delivered += atomic_load(&vp->st_intr);
		st->ring0_entries += atomic_load(&vp->st_ring0);
		st->xmodified_pages += atomic_load(&vp->st_xmodify);
		st->block_reruns += atomic_load(&vp->st_reruns);
		st->unicorn_steps += atomic_load(&vp->st_steps);
		st->gate_flushes += atomic_load(&vp->st_gate_flush);
	}
	st->insns_counted = atomic_load(&((struct hvsim *)sim)->count_all);
	st->hypercalls = atomic_load(&((struct hvsim *)sim)->st_hypercalls);
}

static const char *const hvsim_exit_names[HVSIM_EXIT_KIND_COUNT] = {
	[HVSIM_EXIT_IO] = "io",
	[HVSIM_EXIT_UNMAPPED_GPA] = "mmio",
	[HVSIM_EXIT_GPA_INTERCEPT] = "gpa-intercept",
	[HVSIM_EXIT_CPUID] = "cpuid",
	[HVSIM_EXIT_MSR] = "msr",
	[HVSIM_EXIT_EXCEPTION] = "exception",
	[HVSIM_EXIT_HYPERCALL] = "hypercall",
	[HVSIM_EXIT_HALT] = "halt",
	[HVSIM_EXIT_UNRECOVERABLE] = "triple-fault",
	[HVSIM_EXIT_APIC_EOI] = "apic-eoi",
	[HVSIM_EXIT_CANCEL] = "cancel",
};

const char *hvsim_exit_kind_name(unsigned kind)
{
	return kind < HVSIM_EXIT_KIND_COUNT ? hvsim_exit_names[kind] : "?";
}
