/*
 * kif_sim: vtl2/kif.h implemented on the simulated hypervisor (tools/hvsim). kif_open attaches
 * to the partition set with hvsim_set_current(). The driver's semantics are kept: per-thread
 * VP binding (the register ioctls and the run loop act on the calling thread's VP), the hypercall
 * allow bitmap (-EPERM), sticky cancel, SINT 7 starting paused.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hvcall/mshv_abi.h"
#include "tools/hvsim/hvsim.h"
#include "vtl2/kif.h"

/* kif_default_hvcall_allow[] lives in vtl2/kif_allow.c, shared by both seam implementations. */

#define KIF_SIM_FAST_BIT (1ull << 16)

struct kif {
	struct hvsim *sim;
	struct kif_caps caps;
	enum kif_run_layout layout;
	uint8_t allow[8192];
	bool bound[HVSIM_MAX_VPS];
};

/* The VP the calling thread is bound to (the "current CPU"). */
static _Thread_local struct kif *kif_sim_tls_kif;
static _Thread_local uint32_t kif_sim_tls_vp;

static int cur_vp(struct kif *kif, uint32_t *vp)
{
	if (kif_sim_tls_kif != kif)
		return -EINVAL;
	*vp = kif_sim_tls_vp;
	return 0;
}

int kif_open(const struct kif_params *params, struct kif **out)
{
	if (!out)
		return -EINVAL;
	struct hvsim *sim = hvsim_get_current();
	if (!sim)
		return -ENODEV; /* as if /dev/mshv did not exist */
	const uint16_t *list = params ? params->hvcall_allow : NULL;
	size_t count = params ? params->hvcall_allow_count : 0;
	if (!list && count)
		return -EINVAL;
	if (!list) {
		list = kif_default_hvcall_allow;
		count = kif_default_hvcall_allow_count;
	}
	enum kif_run_layout layout = params ? params->run_layout : KIF_RUN_UPSTREAM;
	if (layout != KIF_RUN_UPSTREAM && layout != KIF_RUN_OPENHCL)
		return -EINVAL;
	struct kif *kif = calloc(1, sizeof(*kif));
	if (!kif)
		return -ENOMEM;
	kif->sim = sim;
	kif->layout = layout;
	kif->caps.register_page = hvsim_has_register_page(sim);
	for (size_t i = 0; i < count; i++)
		kif->allow[list[i] / 8] |= (uint8_t)(1u << (list[i] % 8));
	*out = kif;
	return 0;
}

void kif_close(struct kif *kif)
{
	if (kif_sim_tls_kif == kif)
		kif_sim_tls_kif = NULL;
	free(kif);
}

const struct kif_caps *kif_get_caps(const struct kif *kif)
{
	return &kif->caps;
}

uint32_t kif_vp_count(const struct kif *kif)
{
	return hvsim_vp_count(kif->sim);
}

int kif_vp_bind(struct kif *kif, uint32_t vp)
{
	if (!kif || vp >= hvsim_vp_count(kif->sim))
		return -EINVAL;
	kif_sim_tls_kif = kif;
	kif_sim_tls_vp = vp;
	kif->bound[vp] = true;
	return 0;
}

void *kif_vp_run_page(struct kif *kif, uint32_t vp)
{
	if (!kif || vp >= hvsim_vp_count(kif->sim) || !kif->bound[vp])
		return NULL;
	return hvsim_vp_run_page(kif->sim, vp);
}

void *kif_vp_register_page(struct kif *kif, uint32_t vp)
{
	if (!kif || vp >= hvsim_vp_count(kif->sim) || !kif->bound[vp] || !kif->caps.register_page)
		return NULL;
	return hvsim_vp_register_page(kif->sim, vp);
}

int kif_vp_run(struct kif *kif)
{
	uint32_t vp;
	if (!kif || cur_vp(kif, &vp))
		return -EINVAL;
	return hvsim_vp_run(kif->sim, vp);
}

int kif_vp_cancel(struct kif *kif, uint32_t vp)
{
	if (!kif)
		return -EINVAL;
	return hvsim_vp_cancel(kif->sim, vp);
}

int kif_vp_set_poll_file(struct kif *kif, uint32_t vp, int fd)
{
	if (!kif || fd < 0)
		return fd < 0 ? -EBADF : -EINVAL;
	return hvsim_vp_set_poll_file(kif->sim, vp, fd);
}

int kif_vp_get_register(struct kif *kif, uint32_t name, union hv_register_value *value)
{
	uint32_t vp;
	if (!kif || !value || cur_vp(kif, &vp))
		return -EINVAL;
	return hvsim_vp_get_register(kif->sim, vp, name, value);
}

int kif_vp_set_register(struct kif *kif, uint32_t name, const union hv_register_value *value)
{
	uint32_t vp;
	if (!kif || !value || cur_vp(kif, &vp))
		return -EINVAL;
	return hvsim_vp_set_register(kif->sim, vp, name, value);
}

int kif_hvcall(struct kif *kif, uint64_t control, const void *in, size_t in_size, void *out,
	       size_t out_size, uint64_t *result)
{
	if (!kif || !result || in_size > MSHV_ABI_HVCALL_DATA_MAX ||
	    out_size > MSHV_ABI_HVCALL_DATA_MAX || (in_size && !in) || (out_size && !out) ||
	    (control & KIF_SIM_FAST_BIT))
		return -EINVAL;
	uint16_t code = (uint16_t)control;
	if (!(kif->allow[code / 8] & (1u << (code % 8))))
		return -EPERM;
	/* A thread not bound to a VP issues the call from CPU 0's point of view. */
	uint32_t vp = 0;
	if (cur_vp(kif, &vp))
		vp = 0;
	return hvsim_hvcall(kif->sim, vp, control, in, in_size, out, out_size, result);
}

int kif_sint_pause(struct kif *kif, bool pause)
{
	return kif ? hvsim_sint_pause(kif->sim, pause) : -EINVAL;
}

int kif_sint_read(struct kif *kif, struct hv_message *msg, bool block)
{
	if (!kif || !msg)
		return -EINVAL;
	return hvsim_sint_read(kif->sim, msg, block);
}

int kif_sint_poll_fd(const struct kif *kif)
{
	return kif ? hvsim_sint_poll_fd(kif->sim) : -EINVAL;
}

int kif_sint_post_message(struct kif *kif, uint32_t connection_id, uint32_t message_type,
			  const void *payload, size_t size)
{
	if (!kif)
		return -EINVAL;
	return hvsim_sint_post_message(kif->sim, connection_id, message_type, payload, size);
}

int kif_sint_signal_event(struct kif *kif, uint32_t connection_id, uint32_t flag)
{
	return kif ? hvsim_sint_signal_event(kif->sim, connection_id, flag) : -EINVAL;
}

int kif_sint_set_eventfd(struct kif *kif, uint32_t flag, int fd)
{
	return kif ? hvsim_sint_set_eventfd(kif->sim, flag, fd) : -EINVAL;
}

int kif_shared_alloc(struct kif *kif, size_t pages, void **host, uint64_t *pfns)
{
	if (!kif || !host || !pfns || pages == 0)
		return -EINVAL;
	gpa_t first;
	int rc = hvsim_vtl2_alloc(kif->sim, pages, &first);
	if (rc)
		return rc;
	*host = hvsim_gpa_ptr(kif->sim, first, pages * ADDR_PAGE_SIZE);
	for (size_t i = 0; i < pages; i++)
		pfns[i] = (first.v >> ADDR_PAGE_SHIFT) + i;
	return *host ? 0 : -EFAULT;
}

int kif_vtl0_map(struct kif *kif, gpa_t base, size_t len, void **out)
{
	if (!kif || !out || len == 0 || (base.v & (ADDR_PAGE_SIZE - 1)))
		return -EINVAL;
	/* The same buffer unicorn executes from: VTL0 and VTL2 see each other's stores. */
	void *p = hvsim_gpa_ptr(kif->sim, base, len);
	if (!p)
		return -EINVAL;
	*out = p;
	return 0;
}

int kif_vtl0_unmap(struct kif *kif, void *addr, size_t len)
{
	if (!kif || !addr)
		return -EINVAL;
	uint8_t *ram = hvsim_gpa_ptr(kif->sim, gpa(0), 1);
	uint8_t *a = addr;
	if (a < ram || (uint64_t)(a - ram) + len > hvsim_mem_size(kif->sim))
		return -EINVAL;
	return 0;
}

int kif_vtl0_add_memory(struct kif *kif, gpn_t start, gpn_t end)
{
	if (!kif)
		return -EINVAL;
	if (end.v <= start.v)
		return -EFAULT; /* what the driver answers */
	if (end.v > hvsim_mem_size(kif->sim) >> ADDR_PAGE_SHIFT)
		return -EINVAL;
	return 0;
}
