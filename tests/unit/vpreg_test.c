/*
 * vpreg over a fake seam: this file defines the kif.h functions vpreg uses (the seam is picked
 * at link time), with a fake hypervisor behind kif_hvcall that checks every Get/SetVpRegisters
 * request (header, rep count/start, sizes) and refuses VTL-shared registers, which must never
 * be fetched by hypercall (hyperv-abi-facts 1.6).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "hvcall/hv.h"
#include "hvcall/mshv_abi.h"
#include "vtl2/kif.h"
#include "vtl2/vpreg.h"

/* ---- the fake seam ---- */

#define FAKE_VP 1u
#define MAX_REGS 2048

struct kif {
	struct kif_caps caps;
	_Alignas(4096) uint8_t run[4096];
	bool bound;
	/* the hypervisor's VTL-private registers */
	uint32_t names[MAX_REGS];
	union hv_register_value vals[MAX_REGS];
	size_t nregs;
	/* the driver's register ioctl */
	uint32_t ioctl_names[64];
	union hv_register_value ioctl_vals[64];
	size_t nioctl;
	int ioctl_err;
	/* hypercall behaviour */
	int hvcalls;
	uint32_t reps_per_call;   /* > 0: answer TIME_OUT after this many reps */
	hv_status_t status;       /* forced status (after the first `status_after` reps) */
	int transport_err;
	bool short_success;       /* claim SUCCESS with one rep missing */
	uint32_t last_rep_start[16];
};

static struct kif K;

void *kif_vp_run_page(struct kif *kif, uint32_t vp)
{
	return kif->bound && vp == FAKE_VP ? kif->run : NULL;
}

/* No register page in this fake: every private register goes by hypercall (the page route is
   covered end to end by the guests under hvsim, which offers the page). */
void *kif_vp_register_page(struct kif *kif, uint32_t vp)
{
	(void)kif;
	(void)vp;
	return NULL;
}

const struct kif_caps *kif_get_caps(const struct kif *kif)
{
	return &kif->caps;
}

static union hv_register_value *reg_slot(uint32_t name, bool create)
{
	for (size_t i = 0; i < K.nregs; i++)
		if (K.names[i] == name)
			return &K.vals[i];
	if (!create)
		return NULL;
	assert_true(K.nregs < MAX_REGS);
	K.names[K.nregs] = name;
	memset(&K.vals[K.nregs], 0, sizeof(K.vals[0]));
	return &K.vals[K.nregs++];
}

/* What the fake hypervisor holds for a register nobody has written. */
static union hv_register_value default_value(uint32_t name)
{
	union hv_register_value v;
	v.low = 0x1000000000000000ull | name;
	v.high = ~(uint64_t)name;
	return v;
}

int kif_vp_get_register(struct kif *kif, uint32_t name, union hv_register_value *value)
{
	assert_true(kif->nioctl < 64);
	kif->ioctl_names[kif->nioctl++] = name;
	if (kif->ioctl_err)
		return kif->ioctl_err;
	union hv_register_value v = { .low = 0xD0000000ull | name, .high = 0 };
	*value = v;
	return 0;
}

int kif_vp_set_register(struct kif *kif, uint32_t name, const union hv_register_value *value)
{
	assert_true(kif->nioctl < 64);
	kif->ioctl_vals[kif->nioctl] = *value;
	kif->ioctl_names[kif->nioctl++] = name;
	return kif->ioctl_err;
}

/* Independent restatement of hyperv-abi-facts 1.4/1.6: what must never go by hypercall. */
static bool vtl_shared(uint32_t name)
{
	return (name >= 0x20000 && name <= 0x2000F && name != 0x20004) || /* GPRs but RSP */
	       name == 0x40001 ||                                         /* CR2 */
	       (name >= 0x30000 && name <= 0x3000F) ||                    /* XMM0-15 */
	       (name >= 0x50000 && name <= 0x50003) ||                    /* DR0-3 */
	       name == 0x8000D || name == 0x8000E ||                      /* MtrrCap, DefType */
	       (name >= 0x80010 && name <= 0x8001F) ||                    /* PhysBase0-F */
	       (name >= 0x80040 && name <= 0x8004F) ||                    /* PhysMask0-F */
	       (name >= 0x80070 && name <= 0x8007A);                      /* fixed ranges */
}

int kif_hvcall(struct kif *kif, uint64_t control, const void *in, size_t in_size, void *out,
	       size_t out_size, uint64_t *result)
{
	if (kif->hvcalls < 16)
		kif->last_rep_start[kif->hvcalls] = hv_control_rep_start(control);
	kif->hvcalls++;
	if (kif->transport_err)
		return kif->transport_err;
	uint16_t code = hv_control_code(control);
	uint32_t reps = hv_control_rep_count(control), start = hv_control_rep_start(control);
	assert_false(hv_control_fast(control));
	assert_int_equal(hv_control_var_hdr_qwords(control), 0);
	assert_true(reps >= 1 && start < reps);
	assert_true(in_size <= 4096 && out_size <= 4096);

	const uint8_t *p = in;
	struct hv_input_get_vp_registers hdr;
	memcpy(&hdr, p, sizeof(hdr));
	assert_int_equal(hdr.partition_id, HV_PARTITION_ID_SELF);
	assert_int_equal(hdr.vp_index, FAKE_VP);
	assert_int_equal(hdr.input_vtl, 0x10);
	assert_int_equal(hdr.reserved8, 0);
	assert_int_equal(hdr.reserved16, 0);

	uint32_t end = reps;
	if (kif->reps_per_call && end - start > kif->reps_per_call)
		end = start + kif->reps_per_call;
	if (kif->status != HV_STATUS_SUCCESS && kif->status != HV_STATUS_TIME_OUT) {
		*result = hv_result_make(kif->status, 0);
		return 0;
	}
	if (code == HVCALL_GET_VP_REGISTERS) {
		assert_int_equal(in_size, 16 + 4 * (size_t)reps);
		assert_int_equal(out_size, 16 * (size_t)reps);
		for (uint32_t i = start; i < end; i++) {
			uint32_t name;
			memcpy(&name, p + 16 + 4 * i, 4);
			if (vtl_shared(name))
				fail_msg("VTL-shared register 0x%x fetched by hypercall", name);
			union hv_register_value *s = reg_slot(name, false);
			union hv_register_value v = s ? *s : default_value(name);
			memcpy((uint8_t *)out + 16 * i, &v, 16);
		}
	} else if (code == HVCALL_SET_VP_REGISTERS) {
		assert_int_equal(in_size, 16 + 32 * (size_t)reps);
		assert_int_equal(out_size, 0);
		for (uint32_t i = start; i < end; i++) {
			struct hv_register_assoc a;
			memcpy(&a, p + 16 + 32 * i, sizeof(a));
			assert_int_equal(a.reserved1, 0);
			assert_int_equal(a.reserved2, 0);
			if (vtl_shared(a.name))
				fail_msg("VTL-shared register 0x%x set by hypercall", a.name);
			*reg_slot(a.name, true) = a.value;
		}
	} else {
		fail_msg("unexpected hypercall 0x%x", code);
	}
	*result = hv_result_make(end == reps ? HV_STATUS_SUCCESS : HV_STATUS_TIME_OUT, end);
	if (kif->status == HV_STATUS_TIME_OUT)
		*result = hv_result_make(HV_STATUS_TIME_OUT, start); /* no progress at all */
	if (kif->short_success)
		*result = hv_result_make(HV_STATUS_SUCCESS, reps - 1);
	return 0;
}

static int setup(void **state)
{
	(void)state;
	memset(&K, 0, sizeof(K));
	K.bound = true;
	return 0;
}

static struct mshv_abi_cpu_context *ctx(void)
{
	return &((struct mshv_abi_run *)K.run)->cpu_context;
}

/* ---- tests ---- */

static void test_routes(void **state)
{
	(void)state;
	static const struct {
		uint32_t name;
		enum vpreg_route shared_dr6, private_dr6;
	} t[] = {
		{ HV_X64_REGISTER_RAX, VPREG_ROUTE_CONTEXT, VPREG_ROUTE_CONTEXT },
		{ HV_X64_REGISTER_RSP, VPREG_ROUTE_HVCALL, VPREG_ROUTE_HVCALL },
		{ HV_X64_REGISTER_RBP, VPREG_ROUTE_CONTEXT, VPREG_ROUTE_CONTEXT },
		{ HV_X64_REGISTER_R15, VPREG_ROUTE_CONTEXT, VPREG_ROUTE_CONTEXT },
		{ HV_X64_REGISTER_RIP, VPREG_ROUTE_HVCALL, VPREG_ROUTE_HVCALL },
		{ HV_X64_REGISTER_RFLAGS, VPREG_ROUTE_HVCALL, VPREG_ROUTE_HVCALL },
		{ HV_X64_REGISTER_CR0, VPREG_ROUTE_HVCALL, VPREG_ROUTE_HVCALL },
		{ HV_X64_REGISTER_CR2, VPREG_ROUTE_CONTEXT, VPREG_ROUTE_CONTEXT },
		{ HV_X64_REGISTER_CR3, VPREG_ROUTE_HVCALL, VPREG_ROUTE_HVCALL },
		{ HV_X64_REGISTER_XMM0, VPREG_ROUTE_CONTEXT, VPREG_ROUTE_CONTEXT },
		{ HV_X64_REGISTER_XMM15, VPREG_ROUTE_CONTEXT, VPREG_ROUTE_CONTEXT },
		{ HV_X64_REGISTER_FP_MMX3, VPREG_ROUTE_CONTEXT, VPREG_ROUTE_CONTEXT },
		{ HV_X64_REGISTER_FP_CONTROL_STATUS, VPREG_ROUTE_CONTEXT, VPREG_ROUTE_CONTEXT },
		{ HV_X64_REGISTER_XMM_CONTROL_STATUS, VPREG_ROUTE_CONTEXT, VPREG_ROUTE_CONTEXT },
		{ HV_X64_REGISTER_DR0, VPREG_ROUTE_IOCTL, VPREG_ROUTE_IOCTL },
		{ HV_X64_REGISTER_DR3, VPREG_ROUTE_IOCTL, VPREG_ROUTE_IOCTL },
		{ HV_X64_REGISTER_DR6, VPREG_ROUTE_IOCTL, VPREG_ROUTE_HVCALL },
		{ HV_X64_REGISTER_DR7, VPREG_ROUTE_HVCALL, VPREG_ROUTE_HVCALL },
		{ HV_X64_REGISTER_MSR_MTRR_CAP, VPREG_ROUTE_IOCTL, VPREG_ROUTE_IOCTL },
		{ HV_X64_REGISTER_MSR_MTRR_DEF_TYPE, VPREG_ROUTE_IOCTL, VPREG_ROUTE_IOCTL },
		{ HV_X64_REGISTER_MSR_MTRR_PHYS_BASEF, VPREG_ROUTE_IOCTL, VPREG_ROUTE_IOCTL },
		{ HV_X64_REGISTER_MSR_MTRR_PHYS_MASK0, VPREG_ROUTE_IOCTL, VPREG_ROUTE_IOCTL },
		{ HV_X64_REGISTER_MSR_MTRR_FIX4KF8000, VPREG_ROUTE_IOCTL, VPREG_ROUTE_IOCTL },
		{ HV_X64_REGISTER_TSC_AUX, VPREG_ROUTE_HVCALL, VPREG_ROUTE_HVCALL },
		{ HV_X64_REGISTER_EFER, VPREG_ROUTE_HVCALL, VPREG_ROUTE_HVCALL },
		{ HV_X64_REGISTER_CS, VPREG_ROUTE_HVCALL, VPREG_ROUTE_HVCALL },
		{ HV_REGISTER_PENDING_EVENT0, VPREG_ROUTE_HVCALL, VPREG_ROUTE_HVCALL },
		{ HV_X64_REGISTER_PAT, VPREG_ROUTE_HVCALL, VPREG_ROUTE_HVCALL },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(vpreg_route_of(t[i].name, true), t[i].shared_dr6);
		assert_int_equal(vpreg_route_of(t[i].name, false), t[i].private_dr6);
	}
}

static void test_get_mixed(void **state)
{
	(void)state;
	ctx()->rax = 0x1111;
	ctx()->r15 = 0xF15F15;
	ctx()->cr2 = 0xC2C2;
	ctx()->rbp = 0xBBBB;
	memset(ctx()->fx_state.xmm[5], 0x55, 16);
	memset(ctx()->fx_state.xmm[15], 0xFF, 16);
	ctx()->fx_state.mxcsr = 0x1F80;
	ctx()->fx_state.fdp = 0x1234;
	reg_slot(HV_X64_REGISTER_RIP, true)->low = 0xFFFFF80000001000ull;
	reg_slot(HV_X64_REGISTER_RSP, true)->low = 0x7FFE0000;

	const uint32_t names[] = {
		HV_X64_REGISTER_RIP, HV_X64_REGISTER_RAX, HV_X64_REGISTER_DR0,
		HV_X64_REGISTER_RSP, HV_X64_REGISTER_XMM5, HV_X64_REGISTER_CS,
		HV_X64_REGISTER_R15, HV_X64_REGISTER_CR2, HV_X64_REGISTER_MSR_MTRR_DEF_TYPE,
		HV_X64_REGISTER_EFER, HV_X64_REGISTER_XMM15, HV_X64_REGISTER_XMM_CONTROL_STATUS,
		HV_X64_REGISTER_RBP,
	};
	const size_t n = sizeof(names) / sizeof(names[0]);
	union hv_register_value v[sizeof(names) / sizeof(names[0])];
	memset(v, 0xEE, sizeof(v));
	assert_int_equal(vpreg_get(&K, FAKE_VP, names, v, n), 0);

	assert_int_equal(K.hvcalls, 1); /* RIP, RSP, CS, EFER in one batch */
	assert_int_equal(K.nregs, 2);
	assert_int_equal(K.nioctl, 2);
	assert_int_equal(K.ioctl_names[0], HV_X64_REGISTER_DR0);
	assert_int_equal(K.ioctl_names[1], HV_X64_REGISTER_MSR_MTRR_DEF_TYPE);

	assert_int_equal(v[0].low, 0xFFFFF80000001000ull);
	assert_int_equal(v[1].low, 0x1111);
	assert_int_equal(v[1].high, 0); /* zero-extended */
	assert_int_equal(v[2].low, 0xD0000000ull | HV_X64_REGISTER_DR0);
	assert_int_equal(v[3].low, 0x7FFE0000);
	for (int i = 0; i < 16; i++)
		assert_int_equal(v[4].bytes[i], 0x55);
	assert_int_equal(v[5].low, default_value(HV_X64_REGISTER_CS).low);
	assert_int_equal(v[5].high, default_value(HV_X64_REGISTER_CS).high);
	assert_int_equal(v[6].low, 0xF15F15);
	assert_int_equal(v[7].low, 0xC2C2);
	assert_int_equal(v[8].low, 0xD0000000ull | HV_X64_REGISTER_MSR_MTRR_DEF_TYPE);
	assert_int_equal(v[9].low, default_value(HV_X64_REGISTER_EFER).low);
	assert_int_equal(v[10].low, UINT64_MAX);
	assert_int_equal(v[10].high, UINT64_MAX);
	assert_int_equal(v[11].low, 0x1234);              /* FDP */
	assert_int_equal(v[11].high & 0xFFFFFFFF, 0x1F80); /* MXCSR */
	assert_int_equal(v[12].low, 0xBBBB);

	/* DR6: ioctl only when it is VTL-shared */
	K.nioctl = 0;
	K.hvcalls = 0;
	uint32_t dr6 = HV_X64_REGISTER_DR6;
	assert_int_equal(vpreg_get(&K, FAKE_VP, &dr6, v, 1), 0);
	assert_int_equal(K.hvcalls, 1);
	K.caps.dr6_shared = true;
	assert_int_equal(vpreg_get(&K, FAKE_VP, &dr6, v, 1), 0);
	assert_int_equal(K.hvcalls, 1);
	assert_int_equal(K.nioctl, 1);

	/* only context names: no hypercall at all */
	K.hvcalls = 0;
	uint32_t only_ctx[] = { HV_X64_REGISTER_RAX, HV_X64_REGISTER_XMM0 };
	assert_int_equal(vpreg_get(&K, FAKE_VP, only_ctx, v, 2), 0);
	assert_int_equal(K.hvcalls, 0);
}

static void test_set_mixed(void **state)
{
	(void)state;
	const uint32_t names[] = {
		HV_X64_REGISTER_RIP, HV_X64_REGISTER_RAX, HV_X64_REGISTER_DR1,
		HV_X64_REGISTER_RFLAGS, HV_X64_REGISTER_XMM2, HV_X64_REGISTER_RDX,
		HV_X64_REGISTER_CR2, HV_X64_REGISTER_FP_CONTROL_STATUS,
	};
	union hv_register_value v[8];
	memset(v, 0, sizeof(v));
	v[0].low = 0x401000;
	v[1].low = 0xAAAA;
	v[1].high = 0x9999; /* ignored: RAX is 64 bits in the context */
	v[2].low = 0xD1D1;
	v[3].low = 0x202;
	memset(v[4].bytes, 0x42, 16);
	v[5].low = 0xDDDD;
	v[6].low = 0xC2;
	v[7].reg16 = 0x037F; /* FCW */

	/* a hypervisor refusal comes first and leaves everything untouched */
	K.status = HV_STATUS_INVALID_REGISTER_VALUE;
	assert_int_equal(vpreg_set(&K, FAKE_VP, names, v, 8),
			 hv_status_to_errno(HV_STATUS_INVALID_REGISTER_VALUE));
	assert_int_equal(ctx()->rax, 0);
	assert_int_equal(K.nioctl, 0);
	K.status = HV_STATUS_SUCCESS;
	K.hvcalls = 0;

	assert_int_equal(vpreg_set(&K, FAKE_VP, names, v, 8), 0);
	assert_int_equal(K.hvcalls, 1);
	assert_int_equal(reg_slot(HV_X64_REGISTER_RIP, false)->low, 0x401000);
	assert_int_equal(reg_slot(HV_X64_REGISTER_RFLAGS, false)->low, 0x202);
	assert_int_equal(K.nregs, 2);
	assert_int_equal(K.nioctl, 1);
	assert_int_equal(K.ioctl_names[0], HV_X64_REGISTER_DR1);
	assert_int_equal(K.ioctl_vals[0].low, 0xD1D1);
	assert_int_equal(ctx()->rax, 0xAAAA);
	assert_int_equal(ctx()->rcx, 0); /* neighbours untouched */
	assert_int_equal(ctx()->rdx, 0xDDDD);
	assert_int_equal(ctx()->cr2, 0xC2);
	assert_int_equal(ctx()->fx_state.fcw, 0x037F);
	for (int i = 0; i < 16; i++)
		assert_int_equal(ctx()->fx_state.xmm[2][i], 0x42);
	assert_int_equal(ctx()->fx_state.xmm[3][0], 0);

	/* and read back through the same routes */
	union hv_register_value back[8];
	assert_int_equal(vpreg_get(&K, FAKE_VP, names, back, 8), 0);
	assert_int_equal(back[0].low, 0x401000);
	assert_int_equal(back[1].low, 0xAAAA);
	assert_int_equal(back[1].high, 0);
	assert_memory_equal(back[4].bytes, v[4].bytes, 16);

	/* an ioctl failure after the hypercall is reported */
	K.ioctl_err = -EIO;
	assert_int_equal(vpreg_set(&K, FAKE_VP, names, v, 8), -EIO);
}

static void test_batches(void **state)
{
	(void)state;
	/* 600 VTL-private names (synthetic-timer / APIC style ids) */
	static uint32_t names[600];
	static union hv_register_value v[600];
	for (uint32_t i = 0; i < 600; i++)
		names[i] = 0x00084800u + i;
	assert_int_equal(vpreg_get(&K, FAKE_VP, names, v, 600), 0);
	assert_int_equal(K.hvcalls, 3); /* 256 + 256 + 88 */
	for (uint32_t i = 0; i < 600; i++)
		assert_int_equal(v[i].low, default_value(names[i]).low);

	for (uint32_t i = 0; i < 600; i++) {
		v[i].low = 7000 + i;
		v[i].high = i;
	}
	K.hvcalls = 0;
	assert_int_equal(vpreg_set(&K, FAKE_VP, names, v, 300), 0);
	assert_int_equal(K.hvcalls, 3); /* 127 + 127 + 46 */
	assert_int_equal(K.nregs, 300);
	memset(v, 0, sizeof(v));
	assert_int_equal(vpreg_get(&K, FAKE_VP, names, v, 600), 0);
	assert_int_equal(v[0].low, 7000);
	assert_int_equal(v[299].low, 7299);
	assert_int_equal(v[299].high, 299);
	assert_int_equal(v[300].low, default_value(names[300]).low);
}

static void test_timeouts_and_errors(void **state)
{
	(void)state;
	static uint32_t names[200];
	static union hv_register_value v[200];
	for (uint32_t i = 0; i < 200; i++)
		names[i] = 0x00084800u + i;

	/* the hypervisor does 70 reps per call: restarts at 70 and 140 */
	K.reps_per_call = 70;
	assert_int_equal(vpreg_get(&K, FAKE_VP, names, v, 200), 0);
	assert_int_equal(K.hvcalls, 3);
	assert_int_equal(K.last_rep_start[0], 0);
	assert_int_equal(K.last_rep_start[1], 70);
	assert_int_equal(K.last_rep_start[2], 140);
	for (uint32_t i = 0; i < 200; i++)
		assert_int_equal(v[i].low, default_value(names[i]).low);
	K.reps_per_call = 0;

	/* TIME_OUT without progress: an error after a bounded number of retries, not a hang */
	K.status = HV_STATUS_TIME_OUT;
	K.hvcalls = 0;
	assert_int_equal(vpreg_get(&K, FAKE_VP, names, v, 10), -ETIMEDOUT);
	assert_true(K.hvcalls >= 2 && K.hvcalls <= (int)HV_CALL_MAX_STALLS + 1);
	K.status = HV_STATUS_UNKNOWN_REGISTER_NAME;
	assert_int_equal(vpreg_get(&K, FAKE_VP, names, v, 10),
			 hv_status_to_errno(HV_STATUS_UNKNOWN_REGISTER_NAME));
	assert_true(hv_status_to_errno(HV_STATUS_UNKNOWN_REGISTER_NAME) < 0);
	K.status = HV_STATUS_SUCCESS;

	/* SUCCESS must cover every rep: a count that never completes is not silently accepted */
	K.short_success = true;
	assert_true(vpreg_get(&K, FAKE_VP, names, v, 10) < 0);
	assert_true(vpreg_set(&K, FAKE_VP, names, v, 10) < 0);
	K.short_success = false;

	K.transport_err = -EPERM;
	assert_int_equal(vpreg_get(&K, FAKE_VP, names, v, 10), -EPERM);
	assert_int_equal(vpreg_set(&K, FAKE_VP, names, v, 10), -EPERM);
	K.transport_err = 0;

	uint32_t dr0 = HV_X64_REGISTER_DR0;
	K.ioctl_err = -ENXIO;
	assert_int_equal(vpreg_get(&K, FAKE_VP, &dr0, v, 1), -ENXIO);
	K.ioctl_err = 0;
}

static void test_arguments(void **state)
{
	(void)state;
	union hv_register_value v[2];
	uint32_t names[2] = { HV_X64_REGISTER_RAX, HV_X64_REGISTER_RIP };
	assert_int_equal(vpreg_get(&K, FAKE_VP, names, v, 0), 0);
	assert_int_equal(vpreg_get(&K, FAKE_VP, NULL, v, 1), -EINVAL);
	assert_int_equal(vpreg_get(&K, FAKE_VP, names, NULL, 1), -EINVAL);
	assert_int_equal(vpreg_set(&K, FAKE_VP, NULL, v, 1), -EINVAL);
	assert_int_equal(vpreg_get(NULL, FAKE_VP, names, v, 1), -EINVAL);
	/* a VP that is not bound (no run page): refused before any request */
	assert_int_equal(vpreg_get(&K, 0, names, v, 2), -EINVAL);
	assert_int_equal(vpreg_set(&K, 0, names, v, 2), -EINVAL);
	K.bound = false;
	assert_int_equal(vpreg_get(&K, FAKE_VP, names, v, 2), -EINVAL);
	assert_int_equal(K.hvcalls, 0);
	assert_int_equal(K.nioctl, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_routes, setup),
		cmocka_unit_test_setup(test_get_mixed, setup),
		cmocka_unit_test_setup(test_set_mixed, setup),
		cmocka_unit_test_setup(test_batches, setup),
		cmocka_unit_test_setup(test_timeouts_and_errors, setup),
		cmocka_unit_test_setup(test_arguments, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
