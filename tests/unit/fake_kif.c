/* fake_kif: the scripted kernel-interface seam for tests and fuzzers (see fake_kif.h). */
#include "tests/unit/fake_kif.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hvcall/hv_exit.h"
#include "vtl2/kif.h"

#define FAKE_MAX_REGS 128u
#define FAKE_MAX_MAPS 16u

const uint16_t kif_default_hvcall_allow[] = { 0 };
const size_t kif_default_hvcall_allow_count = 0;

struct kif {
	struct kif_caps caps;
};

struct fake_step {
	uint8_t msg[MSHV_ABI_MSG_SIZE];
	bool has_ctx;
	uint32_t repeat;
	struct mshv_abi_cpu_context ctx;
	struct fake_kif_obs obs;
};

struct fake_vp {
	struct fake_step *steps;
	unsigned nsteps, cap;
	unsigned next;         /* next step to deliver */
	uint32_t rep_done;     /* deliveries of steps[next] so far */
	int delivered;         /* step whose completion the next kif_vp_run observes, or -1 */
	bool bound;
	pthread_cond_t cond;   /* kif_vp_cancel wakes a blocked kif_vp_run */
	uint32_t names[FAKE_MAX_REGS];
	union hv_register_value vals[FAKE_MAX_REGS];
	unsigned nregs;
};

struct fake_map {
	uint64_t base;
	size_t len;
	uint8_t *host;
};

static struct {
	pthread_mutex_t lock;  /* everything below */
	bool init;
	bool open;
	struct kif kif;
	uint32_t vp_count;
	struct fake_vp vp[FAKE_KIF_MAX_VPS];
	unsigned blocked;
	void (*idle)(void *ctx, uint32_t vp);
	void *idle_ctx;
	uint16_t fail_code, fail_status;
	uint8_t mmio_fill;
	uint64_t counts[65536];
	struct fake_kif_call log[FAKE_KIF_LOG_MAX];
	size_t nlog;
	struct fake_map maps[FAKE_MAX_MAPS];
} g = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Run pages live outside `g` so their addresses stay put for the whole process. */
static _Alignas(4096) uint8_t run_pages[FAKE_KIF_MAX_VPS][4096];

/* The VP this thread is bound to, plus one (0: none): the driver's per-CPU semantics. */
static _Thread_local uint32_t bound_plus1;

static struct mshv_abi_run *run_of(uint32_t vp)
{
	return (struct mshv_abi_run *)(void *)run_pages[vp];
}

/* ---- register file (g.lock held) ---- */

static union hv_register_value *reg_slot(struct fake_vp *v, uint32_t name)
{
	for (unsigned i = 0; i < v->nregs; i++)
		if (v->names[i] == name)
			return &v->vals[i];
	if (v->nregs == FAKE_MAX_REGS)
		abort(); /* the paravisor uses a small fixed set: more means a broken fake */
	v->names[v->nregs] = name;
	memset(&v->vals[v->nregs], 0, sizeof(v->vals[0]));
	return &v->vals[v->nregs++];
}

static void reg_set64(struct fake_vp *v, uint32_t name, uint64_t value)
{
	union hv_register_value *r = reg_slot(v, name);
	memset(r, 0, sizeof(*r));
	r->reg64 = value;
}

/* ---- scripting ---- */

static void ensure_init(void)
{
	if (g.init)
		return;
	for (unsigned i = 0; i < FAKE_KIF_MAX_VPS; i++) {
		pthread_cond_init(&g.vp[i].cond, NULL);
		g.vp[i].delivered = -1;
	}
	g.mmio_fill = 0xFF;
	g.init = true;
}

static void free_state(void)
{
	for (unsigned i = 0; i < FAKE_KIF_MAX_VPS; i++) {
		struct fake_vp *v = &g.vp[i];
		free(v->steps);
		v->steps = NULL;
		v->nsteps = v->cap = v->next = 0;
		v->rep_done = 0;
		v->delivered = -1;
		v->bound = false;
		v->nregs = 0;
	}
	for (unsigned i = 0; i < FAKE_MAX_MAPS; i++) {
		free(g.maps[i].host);
		g.maps[i] = (struct fake_map){ 0 };
	}
}

void fake_kif_reset(uint32_t vp_count)
{
	pthread_mutex_lock(&g.lock);
	ensure_init();
	free_state();
	g.vp_count = vp_count > FAKE_KIF_MAX_VPS ? FAKE_KIF_MAX_VPS : vp_count;
	g.blocked = 0;
	g.idle = NULL;
	g.idle_ctx = NULL;
	g.fail_code = g.fail_status = 0;
	g.mmio_fill = 0xFF;
	memset(g.counts, 0, sizeof(g.counts));
	g.nlog = 0;
	memset(run_pages, 0, sizeof(run_pages));
	pthread_mutex_unlock(&g.lock);
}

void fake_kif_fini(void)
{
	pthread_mutex_lock(&g.lock);
	free_state();
	pthread_mutex_unlock(&g.lock);
}

unsigned fake_kif_push_raw(uint32_t vp, const void *msg256,
			   const struct mshv_abi_cpu_context *ctx, uint32_t repeat)
{
	if (vp >= FAKE_KIF_MAX_VPS)
		abort();
	pthread_mutex_lock(&g.lock);
	ensure_init();
	struct fake_vp *v = &g.vp[vp];
	if (v->nsteps == v->cap) {
		unsigned cap = v->cap ? 2 * v->cap : 16;
		struct fake_step *s = realloc(v->steps, cap * sizeof(*s));
		if (!s)
			abort();
		v->steps = s;
		v->cap = cap;
	}
	struct fake_step *s = &v->steps[v->nsteps];
	memset(s, 0, sizeof(*s));
	memcpy(s->msg, msg256, sizeof(s->msg));
	s->has_ctx = ctx != NULL;
	if (ctx)
		s->ctx = *ctx;
	s->repeat = repeat ? repeat : 1;
	unsigned idx = v->nsteps++;
	pthread_mutex_unlock(&g.lock);
	return idx;
}

unsigned fake_kif_steps(uint32_t vp)
{
	pthread_mutex_lock(&g.lock);
	unsigned n = vp < FAKE_KIF_MAX_VPS ? g.vp[vp].nsteps : 0;
	pthread_mutex_unlock(&g.lock);
	return n;
}

unsigned fake_kif_consumed(uint32_t vp)
{
	pthread_mutex_lock(&g.lock);
	unsigned n = 0;
	if (vp < FAKE_KIF_MAX_VPS)
		n = g.vp[vp].next + (g.vp[vp].rep_done ? 1 : 0);
	pthread_mutex_unlock(&g.lock);
	return n;
}

struct fake_kif_obs fake_kif_obs(uint32_t vp, unsigned step)
{
	struct fake_kif_obs o = { .valid = false };
	pthread_mutex_lock(&g.lock);
	if (vp < FAKE_KIF_MAX_VPS && step < g.vp[vp].nsteps)
		o = g.vp[vp].steps[step].obs;
	pthread_mutex_unlock(&g.lock);
	return o;
}

void fake_kif_set_idle_hook(void (*fn)(void *ctx, uint32_t vp), void *ctx)
{
	pthread_mutex_lock(&g.lock);
	g.idle = fn;
	g.idle_ctx = ctx;
	pthread_mutex_unlock(&g.lock);
}

unsigned fake_kif_blocked(void)
{
	pthread_mutex_lock(&g.lock);
	unsigned n = g.blocked;
	pthread_mutex_unlock(&g.lock);
	return n;
}

void fake_kif_set_reg(uint32_t vp, uint32_t name, uint64_t value)
{
	union hv_register_value v = { .reg64 = value };
	fake_kif_set_reg_value(vp, name, &v);
}

void fake_kif_set_reg_value(uint32_t vp, uint32_t name, const union hv_register_value *value)
{
	if (vp >= FAKE_KIF_MAX_VPS)
		abort();
	pthread_mutex_lock(&g.lock);
	*reg_slot(&g.vp[vp], name) = *value;
	pthread_mutex_unlock(&g.lock);
}

union hv_register_value fake_kif_get_reg(uint32_t vp, uint32_t name)
{
	if (vp >= FAKE_KIF_MAX_VPS)
		abort();
	pthread_mutex_lock(&g.lock);
	union hv_register_value v = *reg_slot(&g.vp[vp], name);
	pthread_mutex_unlock(&g.lock);
	return v;
}

void fake_kif_fail_hvcall(uint16_t code, uint16_t status)
{
	pthread_mutex_lock(&g.lock);
	g.fail_code = code;
	g.fail_status = status;
	pthread_mutex_unlock(&g.lock);
}

void fake_kif_set_mmio_fill(uint8_t byte)
{
	pthread_mutex_lock(&g.lock);
	g.mmio_fill = byte;
	pthread_mutex_unlock(&g.lock);
}

uint64_t fake_kif_hvcall_count(uint16_t code)
{
	pthread_mutex_lock(&g.lock);
	uint64_t n = g.counts[code];
	pthread_mutex_unlock(&g.lock);
	return n;
}

size_t fake_kif_log_count(void)
{
	pthread_mutex_lock(&g.lock);
	size_t n = g.nlog;
	pthread_mutex_unlock(&g.lock);
	return n;
}

struct fake_kif_call fake_kif_log(size_t i)
{
	struct fake_kif_call c = { 0 };
	pthread_mutex_lock(&g.lock);
	if (i < g.nlog)
		c = g.log[i];
	pthread_mutex_unlock(&g.lock);
	return c;
}

void *fake_kif_ram(uint64_t gpa, size_t len)
{
	void *p = NULL;
	pthread_mutex_lock(&g.lock);
	for (unsigned i = 0; i < FAKE_MAX_MAPS && !p; i++) {
		const struct fake_map *m = &g.maps[i];
		if (m->host && gpa >= m->base && gpa - m->base <= m->len &&
		    len <= m->len - (gpa - m->base))
			p = m->host + (gpa - m->base);
	}
	pthread_mutex_unlock(&g.lock);
	return p;
}

unsigned fake_kif_maps(void)
{
	unsigned n = 0;
	pthread_mutex_lock(&g.lock);
	for (unsigned i = 0; i < FAKE_MAX_MAPS; i++)
		n += g.maps[i].host != NULL;
	pthread_mutex_unlock(&g.lock);
	return n;
}

bool fake_kif_is_open(void)
{
	pthread_mutex_lock(&g.lock);
	bool o = g.open;
	pthread_mutex_unlock(&g.lock);
	return o;
}

/* ---- kif.h ---- */

int kif_open(const struct kif_params *params, struct kif **out)
{
	(void)params;
	pthread_mutex_lock(&g.lock);
	ensure_init();
	int rc = 0;
	if (g.open)
		rc = -EBUSY; /* one VTL per process, like the driver */
	else if (g.vp_count == 0)
		rc = -ENODEV;
	else {
		g.open = true;
		memset(&g.kif, 0, sizeof(g.kif));
		*out = &g.kif;
	}
	pthread_mutex_unlock(&g.lock);
	return rc;
}

void kif_close(struct kif *kif)
{
	if (!kif)
		return;
	pthread_mutex_lock(&g.lock);
	g.open = false;
	for (unsigned i = 0; i < FAKE_KIF_MAX_VPS; i++)
		g.vp[i].bound = false;
	pthread_mutex_unlock(&g.lock);
}

const struct kif_caps *kif_get_caps(const struct kif *kif)
{
	return &kif->caps;
}

uint32_t kif_vp_count(const struct kif *kif)
{
	(void)kif;
	pthread_mutex_lock(&g.lock);
	uint32_t n = g.vp_count;
	pthread_mutex_unlock(&g.lock);
	return n;
}

int kif_vp_bind(struct kif *kif, uint32_t vp)
{
	(void)kif;
	pthread_mutex_lock(&g.lock);
	int rc = vp < g.vp_count ? 0 : -EINVAL;
	if (rc == 0) {
		g.vp[vp].bound = true;
		bound_plus1 = vp + 1;
	}
	pthread_mutex_unlock(&g.lock);
	return rc;
}

void *kif_vp_run_page(struct kif *kif, uint32_t vp)
{
	(void)kif;
	pthread_mutex_lock(&g.lock);
	void *p = vp < g.vp_count && g.vp[vp].bound ? run_pages[vp] : NULL;
	pthread_mutex_unlock(&g.lock);
	return p;
}

void *kif_vp_register_page(struct kif *kif, uint32_t vp)
{
	(void)kif;
	(void)vp;
	return NULL; /* no REGISTER_PAGE capability */
}

/* The paravisor resumed VTL0 after step `i`: keep what VTL0 would now run with. */
static void observe(struct fake_vp *v, uint32_t vp, int i)
{
	struct fake_kif_obs *o = &v->steps[i].obs;
	o->valid = true;
	o->ctx = run_of(vp)->cpu_context;
	o->rip = reg_slot(v, HV_X64_REGISTER_RIP)->reg64;
	o->rflags = reg_slot(v, HV_X64_REGISTER_RFLAGS)->reg64;
	o->pending = *reg_slot(v, HV_REGISTER_PENDING_EVENT0);
}

static void deliver(struct fake_vp *v, uint32_t vp, const struct fake_step *s)
{
	struct mshv_abi_run *run = run_of(vp);
	memcpy(run->exit_message, s->msg, sizeof(run->exit_message));
	if (s->has_ctx)
		run->cpu_context = s->ctx;
	reg_set64(v, HV_REGISTER_PENDING_EVENT0, 0);
	struct hv_exit e;
	if (hv_exit_decode(s->msg, sizeof(s->msg), &e) == 0 && e.has_header) {
		reg_set64(v, HV_X64_REGISTER_RIP, e.u.header.rip);
		reg_set64(v, HV_X64_REGISTER_RFLAGS, e.u.header.rflags);
	}
}

int kif_vp_run(struct kif *kif)
{
	(void)kif;
	if (!bound_plus1)
		return -EINVAL;
	uint32_t vp = bound_plus1 - 1;
	struct mshv_abi_run *run = run_of(vp);
	pthread_mutex_lock(&g.lock);
	struct fake_vp *v = &g.vp[vp];
	if (v->delivered >= 0) {
		observe(v, vp, v->delivered);
		v->delivered = -1;
	}
	if (__atomic_load_n(&run->cancel, __ATOMIC_SEQ_CST)) {
		pthread_mutex_unlock(&g.lock);
		return -EINTR;
	}
	if (v->next < v->nsteps) {
		struct fake_step *s = &v->steps[v->next];
		deliver(v, vp, s);
		v->delivered = (int)v->next;
		if (++v->rep_done >= s->repeat) {
			v->next++;
			v->rep_done = 0;
		}
		pthread_mutex_unlock(&g.lock);
		return 0;
	}
	/* Script exhausted: VTL0 "runs" until somebody cancels the VP. */
	void (*idle)(void *, uint32_t) = g.idle;
	void *idle_ctx = g.idle_ctx;
	pthread_mutex_unlock(&g.lock);
	if (idle)
		idle(idle_ctx, vp);
	pthread_mutex_lock(&g.lock);
	g.blocked++;
	while (!__atomic_load_n(&run->cancel, __ATOMIC_SEQ_CST))
		pthread_cond_wait(&v->cond, &g.lock);
	g.blocked--;
	pthread_mutex_unlock(&g.lock);
	return -EINTR;
}

int kif_vp_cancel(struct kif *kif, uint32_t vp)
{
	(void)kif;
	pthread_mutex_lock(&g.lock);
	int rc = vp < g.vp_count ? 0 : -EINVAL;
	if (rc == 0) {
		__atomic_store_n(&run_of(vp)->cancel, 1, __ATOMIC_SEQ_CST);
		pthread_cond_broadcast(&g.vp[vp].cond);
	}
	pthread_mutex_unlock(&g.lock);
	return rc;
}

int kif_vp_set_poll_file(struct kif *kif, uint32_t vp, int fd)
{
	(void)kif;
	(void)vp;
	(void)fd;
	return 0;
}

int kif_vp_get_register(struct kif *kif, uint32_t name, union hv_register_value *value)
{
	(void)kif;
	if (!bound_plus1)
		return -EINVAL;
	pthread_mutex_lock(&g.lock);
	*value = *reg_slot(&g.vp[bound_plus1 - 1], name);
	pthread_mutex_unlock(&g.lock);
	return 0;
}

int kif_vp_set_register(struct kif *kif, uint32_t name, const union hv_register_value *value)
{
	(void)kif;
	if (!bound_plus1)
		return -EINVAL;
	pthread_mutex_lock(&g.lock);
	*reg_slot(&g.vp[bound_plus1 - 1], name) = *value;
	pthread_mutex_unlock(&g.lock);
	return 0;
}

/* ---- the fake hypervisor behind kif_hvcall (g.lock held) ---- */

static struct fake_vp *target_vp(uint32_t index)
{
	if (index == HV_VP_INDEX_SELF)
		index = bound_plus1 ? bound_plus1 - 1 : FAKE_KIF_NO_VP;
	return index < g.vp_count ? &g.vp[index] : NULL;
}

static uint64_t answer(uint64_t control, const uint8_t *in, size_t in_size, uint8_t *out,
		       size_t out_size)
{
	uint16_t code = hv_control_code(control);
	uint32_t reps = hv_control_rep_count(control), start = hv_control_rep_start(control);
	if (g.fail_code && code == g.fail_code)
		return hv_result_make(g.fail_status, start);
	switch (code) {
	case HVCALL_GET_VP_REGISTERS: {
		struct hv_input_get_vp_registers h;
		if (in_size < sizeof(h) + 4ull * reps || out_size < 16ull * reps || start > reps)
			return hv_result_make(HV_STATUS_INVALID_HYPERCALL_INPUT, start);
		memcpy(&h, in, sizeof(h));
		struct fake_vp *v = target_vp(h.vp_index);
		if (!v)
			return hv_result_make(HV_STATUS_INVALID_VP_INDEX, start);
		for (uint32_t i = start; i < reps; i++) {
			uint32_t name;
			memcpy(&name, in + sizeof(h) + 4 * i, 4);
			memcpy(out + 16 * i, reg_slot(v, name), 16);
		}
		return hv_result_make(HV_STATUS_SUCCESS, reps);
	}
	case HVCALL_SET_VP_REGISTERS: {
		struct hv_input_set_vp_registers h;
		if (in_size < sizeof(h) + 32ull * reps || start > reps)
			return hv_result_make(HV_STATUS_INVALID_HYPERCALL_INPUT, start);
		memcpy(&h, in, sizeof(h));
		struct fake_vp *v = target_vp(h.vp_index);
		if (!v)
			return hv_result_make(HV_STATUS_INVALID_VP_INDEX, start);
		for (uint32_t i = start; i < reps; i++) {
			struct hv_register_assoc a;
			memcpy(&a, in + sizeof(h) + 32 * i, sizeof(a));
			*reg_slot(v, a.name) = a.value;
		}
		return hv_result_make(HV_STATUS_SUCCESS, reps);
	}
	case HVCALL_MODIFY_VTL_PROTECTION_MASK:
		if (in_size < sizeof(struct hv_input_modify_vtl_protection_mask) + 8ull * reps)
			return hv_result_make(HV_STATUS_INVALID_HYPERCALL_INPUT, start);
		return hv_result_make(HV_STATUS_SUCCESS, reps);
	case HVCALL_INSTALL_INTERCEPT:
		if (in_size != sizeof(struct hv_input_install_intercept))
			return hv_result_make(HV_STATUS_INVALID_HYPERCALL_INPUT, 0);
		return hv_result_make(HV_STATUS_SUCCESS, 0);
	case HVCALL_ASSERT_VIRTUAL_INTERRUPT:
		if (in_size != sizeof(struct hv_input_assert_virtual_interrupt))
			return hv_result_make(HV_STATUS_INVALID_HYPERCALL_INPUT, 0);
		return hv_result_make(HV_STATUS_SUCCESS, 0);
	case HVCALL_MEMORY_MAPPED_IO_READ: {
		struct hv_input_memory_mapped_io_read r;
		if (in_size != sizeof(r) || out_size < sizeof(struct hv_output_memory_mapped_io_read))
			return hv_result_make(HV_STATUS_INVALID_HYPERCALL_INPUT, 0);
		memcpy(&r, in, sizeof(r));
		if (r.access_width == 0 || r.access_width > HV_MMIO_MAX_ACCESS_WIDTH)
			return hv_result_make(HV_STATUS_INVALID_PARAMETER, 0);
		memset(out, 0, sizeof(struct hv_output_memory_mapped_io_read));
		memset(out, g.mmio_fill, r.access_width);
		return hv_result_make(HV_STATUS_SUCCESS, 0);
	}
	case HVCALL_MEMORY_MAPPED_IO_WRITE:
		if (in_size != sizeof(struct hv_input_memory_mapped_io_write))
			return hv_result_make(HV_STATUS_INVALID_HYPERCALL_INPUT, 0);
		return hv_result_make(HV_STATUS_SUCCESS, 0);
	default:
		return hv_result_make(HV_STATUS_INVALID_HYPERCALL_CODE, 0);
	}
}

int kif_hvcall(struct kif *kif, uint64_t control, const void *in, size_t in_size, void *out,
	       size_t out_size, uint64_t *result)
{
	(void)kif;
	if (in_size > MSHV_ABI_HVCALL_DATA_MAX || out_size > MSHV_ABI_HVCALL_DATA_MAX ||
	    (in_size && !in) || (out_size && !out) || !result)
		return -EINVAL;
	if (control & HV_HYPERCALL_FAST_BIT)
		return -EINVAL; /* the driver never passes fast calls through */
	pthread_mutex_lock(&g.lock);
	uint64_t r = answer(control, in, in_size, out, out_size);
	uint16_t code = hv_control_code(control);
	g.counts[code]++;
	if (g.nlog < FAKE_KIF_LOG_MAX) {
		struct fake_kif_call *c = &g.log[g.nlog++];
		c->code = code;
		c->control = control;
		c->caller_vp = bound_plus1 ? bound_plus1 - 1 : FAKE_KIF_NO_VP;
		c->in_size = in_size;
		memset(c->in, 0, sizeof(c->in));
		memcpy(c->in, in, in_size < sizeof(c->in) ? in_size : sizeof(c->in));
		c->result = r;
	}
	pthread_mutex_unlock(&g.lock);
	*result = r;
	return 0;
}

/* ---- SINT 7: nothing is relayed in these tests ---- */

int kif_sint_pause(struct kif *kif, bool pause)
{
	(void)kif;
	(void)pause;
	return 0;
}

int kif_sint_read(struct kif *kif, struct hv_message *msg, bool block)
{
	(void)kif;
	(void)msg;
	return block ? 0 : -EAGAIN; /* blocking read: EOF, the stream is paused and empty */
}

int kif_sint_poll_fd(const struct kif *kif)
{
	(void)kif;
	return -ENOSYS;
}

int kif_sint_post_message(struct kif *kif, uint32_t connection_id, uint32_t message_type,
			  const void *payload, size_t size)
{
	(void)kif;
	(void)connection_id;
	(void)message_type;
	(void)payload;
	return size > MSHV_ABI_MSG_PAYLOAD_MAX ? -EINVAL : 0;
}

int kif_sint_signal_event(struct kif *kif, uint32_t connection_id, uint32_t flag)
{
	(void)kif;
	(void)connection_id;
	return flag < MSHV_ABI_SINT_FLAG_COUNT ? 0 : -EINVAL;
}

int kif_sint_set_eventfd(struct kif *kif, uint32_t flag, int fd)
{
	(void)kif;
	(void)fd;
	return flag < MSHV_ABI_SINT_FLAG_COUNT ? 0 : -EINVAL;
}

/* ---- VTL0 memory ---- */

int kif_shared_alloc(struct kif *kif, size_t pages, void **host, uint64_t *pfns)
{
	(void)kif;
	(void)pages;
	(void)host;
	(void)pfns;
	return -EOPNOTSUPP;
}

int kif_vtl0_map(struct kif *kif, gpa_t base, size_t len, void **out)
{
	(void)kif;
	if (len == 0 || ((base.v | len) & (MSHV_ABI_PAGE_SIZE - 1)) || base.v + len < base.v)
		return -EINVAL;
	uint8_t *host = calloc(1, len);
	if (!host)
		return -ENOMEM;
	pthread_mutex_lock(&g.lock);
	int rc = -ENOSPC;
	for (unsigned i = 0; i < FAKE_MAX_MAPS; i++) {
		if (!g.maps[i].host) {
			g.maps[i] = (struct fake_map){ base.v, len, host };
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&g.lock);
	if (rc < 0) {
		free(host);
		return rc;
	}
	*out = host;
	return 0;
}

int kif_vtl0_unmap(struct kif *kif, void *addr, size_t len)
{
	(void)kif;
	pthread_mutex_lock(&g.lock);
	int rc = -EINVAL;
	for (unsigned i = 0; i < FAKE_MAX_MAPS; i++) {
		if (g.maps[i].host && g.maps[i].host == addr && g.maps[i].len == len) {
			free(g.maps[i].host);
			g.maps[i] = (struct fake_map){ 0 };
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&g.lock);
	return rc;
}

int kif_vtl0_add_memory(struct kif *kif, gpn_t start, gpn_t end)
{
	(void)kif;
	return start.v < end.v ? 0 : -EINVAL;
}
