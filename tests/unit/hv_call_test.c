/*
 * hv_call wrapper tests against a scripted fake transport. The fake records every control word
 * and input image; tests check them byte by byte at the offsets of hyperv-abi-facts 2.1/2.2
 * (control words as literals), script results (partial completion, TIME_OUT restarts, stalls,
 * protocol violations, every status) and check the outputs and errno mapping.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "hvcall/hv_call.h"

#define MAX_CALLS 64

struct call_rec {
	uint64_t control;
	uint8_t in[4096];
	size_t in_size;
	size_t out_size;
	bool out_null;
};

struct fake;
typedef uint64_t (*responder_fn)(struct fake *f, unsigned idx, uint64_t control, const uint8_t *in,
				 size_t in_size, uint8_t *out, size_t out_size);

struct fake {
	unsigned ncalls;
	struct call_rec calls[MAX_CALLS];
	responder_fn respond;
	int transport_rc;
	hv_status_t status;
};

static struct fake F;
static struct hv_call_ctx ctx;

static int fake_xfer(void *p, uint64_t control, const void *in, size_t in_size, void *out, size_t out_size,
		     uint64_t *result)
{
	struct fake *f = p;
	struct call_rec *r;

	assert_ptr_equal(f, &F);
	assert_true(f->ncalls < MAX_CALLS);
	assert_true(in_size <= 4096);
	assert_true(out_size <= 4096);
	assert_int_equal(control & HV_HYPERCALL_FAST_BIT, 0);
	r = &f->calls[f->ncalls];
	r->control = control;
	r->in_size = in_size;
	r->out_size = out_size;
	r->out_null = out == NULL;
	memcpy(r->in, in, in_size);
	f->ncalls++;
	if (f->transport_rc)
		return f->transport_rc;
	*result = f->respond(f, f->ncalls - 1, control, in, in_size, out, out_size);
	return 0;
}

static int setup(void **state)
{
	(void)state;
	memset(&F, 0, sizeof(F));
	ctx.xfer = fake_xfer;
	ctx.ctx = &F;
	return 0;
}

static uint64_t get64(const uint8_t *b, size_t off)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | b[off + i];
	return v;
}
static uint32_t get32(const uint8_t *b, size_t off)
{
	return (uint32_t)b[off] | (uint32_t)b[off + 1] << 8 | (uint32_t)b[off + 2] << 16 | (uint32_t)b[off + 3] << 24;
}
static uint16_t get16(const uint8_t *b, size_t off) { return (uint16_t)(b[off] | b[off + 1] << 8); }
static void put64(uint8_t *b, size_t off, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		b[off + i] = (uint8_t)(v >> (8 * i));
}

static unsigned reps_of(uint64_t control) { return (unsigned)((control >> 32) & 0xFFF); }
static unsigned start_of(uint64_t control) { return (unsigned)((control >> 48) & 0xFFF); }
static uint64_t result(hv_status_t st, unsigned reps) { return (uint64_t)st | ((uint64_t)reps << 32); }

/* Input header common to the VP calls: partition SELF at 0, vp at 8, vtl at 12, zero 13..15. */
static void check_vp_header(const struct call_rec *r, uint32_t vp, uint8_t vtl)
{
	assert_int_equal(get64(r->in, 0), 0xFFFFFFFFFFFFFFFFull);
	assert_int_equal(get32(r->in, 8), vp);
	assert_int_equal(r->in[12], vtl);
	assert_int_equal(r->in[13], 0);
	assert_int_equal(get16(r->in, 14), 0);
}

/* ---- responders ---- */

static uint64_t reg_low(uint32_t name) { return ((uint64_t)name << 8) | 1; }

static uint64_t resp_ok(struct fake *f, unsigned idx, uint64_t control, const uint8_t *in, size_t in_size,
			uint8_t *out, size_t out_size)
{
	(void)f; (void)idx; (void)in; (void)in_size; (void)out; (void)out_size;
	return result(HV_STATUS_SUCCESS, reps_of(control));
}

static uint64_t resp_status(struct fake *f, unsigned idx, uint64_t control, const uint8_t *in, size_t in_size,
			    uint8_t *out, size_t out_size)
{
	(void)idx; (void)control; (void)in; (void)in_size; (void)out; (void)out_size;
	return result(f->status, 0);
}

/* GetVpRegisters: value of rep i derived from the name in the input. */
static void fill_regs(const uint8_t *in, uint8_t *out, unsigned from, unsigned to)
{
	for (unsigned i = from; i < to; i++) {
		uint32_t name = get32(in, 16 + 4 * i);
		put64(out, 16 * i, reg_low(name));
		put64(out, 16 * i + 8, ~(uint64_t)name);
	}
}

static uint64_t resp_get_regs(struct fake *f, unsigned idx, uint64_t control, const uint8_t *in, size_t in_size,
			      uint8_t *out, size_t out_size)
{
	(void)f; (void)idx; (void)in_size;
	assert_int_equal(out_size, 16 * reps_of(control));
	fill_regs(in, out, start_of(control), reps_of(control));
	return result(HV_STATUS_SUCCESS, reps_of(control));
}

/* First call stops after 2 reps with TIME_OUT and writes garbage for the rest; the restart
 * writes garbage over reps 0..1 (which must not reach the caller). */
static uint64_t resp_timeout_regs(struct fake *f, unsigned idx, uint64_t control, const uint8_t *in,
				  size_t in_size, uint8_t *out, size_t out_size)
{
	(void)f; (void)in_size;
	memset(out, idx == 0 ? 0xEE : 0xDD, out_size);
	if (idx == 0) {
		assert_int_equal(start_of(control), 0);
		fill_regs(in, out, 0, 2);
		return result(HV_STATUS_TIME_OUT, 2);
	}
	assert_int_equal(start_of(control), 2);
	fill_regs(in, out, 2, reps_of(control));
	return result(HV_STATUS_SUCCESS, reps_of(control));
}

/* SUCCESS with partial completion: one rep per call. */
static uint64_t resp_one_at_a_time(struct fake *f, unsigned idx, uint64_t control, const uint8_t *in,
				   size_t in_size, uint8_t *out, size_t out_size)
{
	(void)f; (void)in_size; (void)out_size;
	assert_int_equal(start_of(control), idx);
	fill_regs(in, out, idx, idx + 1);
	return result(HV_STATUS_SUCCESS, idx + 1);
}

static uint64_t resp_stall(struct fake *f, unsigned idx, uint64_t control, const uint8_t *in, size_t in_size,
			   uint8_t *out, size_t out_size)
{
	(void)f; (void)idx; (void)in; (void)in_size; (void)out; (void)out_size;
	return result(HV_STATUS_TIME_OUT, start_of(control));
}

static uint64_t resp_too_many(struct fake *f, unsigned idx, uint64_t control, const uint8_t *in, size_t in_size,
			      uint8_t *out, size_t out_size)
{
	(void)f; (void)idx; (void)in; (void)in_size; (void)out; (void)out_size;
	return result(HV_STATUS_SUCCESS, reps_of(control) + 1);
}

static uint64_t resp_backwards(struct fake *f, unsigned idx, uint64_t control, const uint8_t *in,
			       size_t in_size, uint8_t *out, size_t out_size)
{
	(void)f; (void)control; (void)in; (void)in_size; (void)out; (void)out_size;
	return idx == 0 ? result(HV_STATUS_TIME_OUT, 3) : result(HV_STATUS_SUCCESS, 2);
}

static uint64_t resp_denied_after_two(struct fake *f, unsigned idx, uint64_t control, const uint8_t *in,
				      size_t in_size, uint8_t *out, size_t out_size)
{
	(void)f; (void)idx; (void)control; (void)in_size; (void)out_size;
	fill_regs(in, out, 0, 2);
	return result(HV_STATUS_ACCESS_DENIED, 2);
}

/* ---- registers ---- */

static void test_get_vp_registers(void **state)
{
	(void)state;
	const uint32_t names[3] = { HV_X64_REGISTER_RIP, HV_X64_REGISTER_CR0, HV_REGISTER_VSM_CAPABILITIES };
	union hv_register_value v[3];

	F.respond = resp_get_regs;
	assert_int_equal(hv_call_get_vp_registers(&ctx, 2, 0x10, 3, names, v), 0);
	assert_int_equal(F.ncalls, 1);
	assert_int_equal(F.calls[0].control, 0x0000000300000050ull);
	assert_int_equal(F.calls[0].in_size, 16 + 12);
	assert_int_equal(F.calls[0].out_size, 48);
	check_vp_header(&F.calls[0], 2, 0x10);
	assert_int_equal(get32(F.calls[0].in, 16), 0x00020010);
	assert_int_equal(get32(F.calls[0].in, 20), 0x00040000);
	assert_int_equal(get32(F.calls[0].in, 24), 0x000D0006);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(v[i].low, reg_low(names[i]));
		assert_int_equal(v[i].high, ~(uint64_t)names[i]);
	}

	/* Single-register helper. */
	union hv_register_value one;
	assert_int_equal(hv_call_get_vp_register(&ctx, HV_VP_INDEX_SELF, 0, HV_X64_REGISTER_EFER, &one), 0);
	assert_int_equal(F.calls[1].control, 0x0000000100000050ull);
	check_vp_header(&F.calls[1], 0xFFFFFFFE, 0);
	assert_int_equal(one.reg64, reg_low(HV_X64_REGISTER_EFER));
}

static void test_get_vp_registers_batched(void **state)
{
	(void)state;
	static uint32_t names[300];
	static union hv_register_value v[300];

	for (unsigned i = 0; i < 300; i++)
		names[i] = 0x20000 + i;
	F.respond = resp_get_regs;
	assert_int_equal(hv_call_get_vp_registers(&ctx, 0, 0x10, 300, names, v), 0);
	assert_int_equal(F.ncalls, 2);
	assert_int_equal(F.calls[0].control, 0x0000010000000050ull); /* 256 reps */
	assert_int_equal(F.calls[0].in_size, 16 + 4 * 256);
	assert_int_equal(F.calls[0].out_size, 4096);
	assert_int_equal(F.calls[1].control, 0x0000002C00000050ull); /* 44 reps */
	assert_int_equal(F.calls[1].in_size, 16 + 4 * 44);
	assert_int_equal(get32(F.calls[1].in, 16), 0x20000 + 256);
	for (unsigned i = 0; i < 300; i++)
		assert_int_equal(v[i].low, reg_low(names[i]));
}

static void test_get_vp_registers_timeout_restart(void **state)
{
	(void)state;
	const uint32_t names[5] = { 1, 2, 3, 4, 5 };
	union hv_register_value v[5];

	F.respond = resp_timeout_regs;
	assert_int_equal(hv_call_get_vp_registers(&ctx, 0, 0, 5, names, v), 0);
	assert_int_equal(F.ncalls, 2);
	assert_int_equal(F.calls[0].control, 0x0000000500000050ull);
	assert_int_equal(F.calls[1].control, 0x0002000500000050ull); /* rep start 2 */
	assert_memory_equal(F.calls[0].in, F.calls[1].in, F.calls[0].in_size);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(v[i].low, reg_low(names[i]));
		assert_int_equal(v[i].high, ~(uint64_t)names[i]);
	}
}

static void test_rep_partial_success_restarts(void **state)
{
	(void)state;
	const uint32_t names[4] = { 10, 11, 12, 13 };
	union hv_register_value v[4];

	F.respond = resp_one_at_a_time;
	assert_int_equal(hv_call_get_vp_registers(&ctx, 0, 0, 4, names, v), 0);
	assert_int_equal(F.ncalls, 4);
	assert_int_equal(F.calls[3].control, 0x0003000400000050ull);
	for (int i = 0; i < 4; i++)
		assert_int_equal(v[i].low, reg_low(names[i]));
}

static void test_rep_stall_times_out(void **state)
{
	(void)state;
	const uint32_t name = 1;
	union hv_register_value v;

	F.respond = resp_stall;
	assert_int_equal(hv_call_get_vp_registers(&ctx, 0, 0, 1, &name, &v), -ETIMEDOUT);
	assert_int_equal(F.ncalls, HV_CALL_MAX_STALLS + 1);
}

static void test_rep_protocol_violations(void **state)
{
	(void)state;
	const uint32_t names[4] = { 1, 2, 3, 4 };
	union hv_register_value v[4];

	F.respond = resp_too_many;
	assert_int_equal(hv_call_get_vp_registers(&ctx, 0, 0, 4, names, v), -EIO);
	F.ncalls = 0;
	F.respond = resp_backwards;
	assert_int_equal(hv_call_get_vp_registers(&ctx, 0, 0, 4, names, v), -EIO);
	assert_int_equal(F.ncalls, 2);
}

static void test_rep_error_keeps_completed(void **state)
{
	(void)state;
	const uint32_t names[4] = { 7, 8, 9, 10 };
	union hv_register_value v[4];

	memset(v, 0x5A, sizeof(v));
	F.respond = resp_denied_after_two;
	assert_int_equal(hv_call_get_vp_registers(&ctx, 0, 0, 4, names, v), -EACCES);
	assert_int_equal(v[0].low, reg_low(7));
	assert_int_equal(v[1].low, reg_low(8));
	assert_int_equal(v[2].low, 0x5A5A5A5A5A5A5A5Aull);
}

static void test_transport_error(void **state)
{
	(void)state;
	const uint32_t name = 1;
	union hv_register_value v;

	F.respond = resp_ok;
	F.transport_rc = -EPERM;
	assert_int_equal(hv_call_get_vp_registers(&ctx, 0, 0, 1, &name, &v), -EPERM);
	assert_int_equal(hv_call_install_intercept(&ctx, 1, 0, 0x60), -EPERM);
}

static void test_set_vp_registers(void **state)
{
	(void)state;
	struct hv_register_assoc regs[2];
	static struct hv_register_assoc many[130];

	memset(regs, 0xFF, sizeof(regs)); /* reserved fields garbage: must be sent as zero */
	regs[0].name = HV_X64_REGISTER_RIP;
	regs[0].value.low = 0x401000;
	regs[0].value.high = 0;
	regs[1].name = HV_REGISTER_PENDING_EVENT0;
	regs[1].value = hv_pending_exception_make(13, true, 0, 0);
	F.respond = resp_ok;
	assert_int_equal(hv_call_set_vp_registers(&ctx, 1, 0x10, 2, regs), 0);
	assert_int_equal(F.calls[0].control, 0x0000000200000051ull);
	assert_int_equal(F.calls[0].in_size, 16 + 64);
	assert_true(F.calls[0].out_null || F.calls[0].out_size == 0);
	check_vp_header(&F.calls[0], 1, 0x10);
	assert_int_equal(get32(F.calls[0].in, 16), 0x00020010);
	assert_int_equal(get32(F.calls[0].in, 20), 0);
	assert_int_equal(get64(F.calls[0].in, 24), 0);
	assert_int_equal(get64(F.calls[0].in, 32), 0x401000);
	assert_int_equal(get64(F.calls[0].in, 40), 0);
	assert_int_equal(get32(F.calls[0].in, 48), 0x00010004);
	assert_int_equal(get32(F.calls[0].in, 52), 0);
	assert_int_equal(get64(F.calls[0].in, 56), 0);
	/* #GP: pending bit0, type 0, deliver error code bit8, vector 13 at bits 16..31. */
	assert_int_equal(get64(F.calls[0].in, 64), 0x000D0101ull);

	F.ncalls = 0;
	for (unsigned i = 0; i < 130; i++)
		many[i].name = 0x20000 + i;
	assert_int_equal(hv_call_set_vp_registers(&ctx, 0, 0, 130, many), 0);
	assert_int_equal(F.ncalls, 2);
	assert_int_equal(F.calls[0].control, 0x0000007F00000051ull);
	assert_int_equal(F.calls[0].in_size, 16 + 127 * 32);
	assert_int_equal(F.calls[1].control, 0x0000000300000051ull);
	assert_int_equal(get32(F.calls[1].in, 16), 0x20000 + 127);

	F.ncalls = 0;
	union hv_register_value one = { .reg64 = 0x80000011 };
	assert_int_equal(hv_call_set_vp_register(&ctx, 0, 0, HV_X64_REGISTER_CR0, &one), 0);
	assert_int_equal(get32(F.calls[0].in, 16), 0x00040000);
	assert_int_equal(get64(F.calls[0].in, 32), 0x80000011);
}

static void test_invalid_args(void **state)
{
	(void)state;
	union hv_register_value v;
	uint32_t name = 1;
	struct hv_call_ctx bad = { NULL, NULL };
	struct hv_call_translation t;

	F.respond = resp_ok;
	assert_int_equal(hv_call_get_vp_registers(&ctx, 0, 0, 1, NULL, &v), -EINVAL);
	assert_int_equal(hv_call_get_vp_registers(&ctx, 0, 0, 1, &name, NULL), -EINVAL);
	assert_int_equal(hv_call_set_vp_registers(&ctx, 0, 0, 1, NULL), -EINVAL);
	assert_int_equal(hv_call_set_vp_register(&ctx, 0, 0, 1, NULL), -EINVAL);
	assert_int_equal(hv_call_get_vp_registers(&bad, 0, 0, 1, &name, &v), -EINVAL);
	assert_int_equal(hv_call_get_vp_registers(NULL, 0, 0, 1, &name, &v), -EINVAL);
	assert_int_equal(hv_call_install_intercept(&bad, 0, 0, 0), -EINVAL);
	assert_int_equal(hv_call_modify_vtl_protection_mask(&ctx, 0x10000, 0x10, (gpn_t[]){ { 1 } }, 1), -EINVAL);
	assert_int_equal(hv_call_modify_vtl_protection_mask(&ctx, 0, 0x10, NULL, 1), -EINVAL);
	assert_int_equal(hv_call_modify_vtl_protection_range(&ctx, 0, 0x10, gpn(UINT64_MAX - 1), 4), -EINVAL);
	assert_int_equal(hv_call_accept_gpa_pages(&ctx, 0, NULL, gpn(1ull << 52), 1), -EINVAL);
	assert_int_equal(hv_call_translate_va(&ctx, 0, 1ull << 20, gva(0), &t), -EINVAL);
	assert_int_equal(hv_call_translate_va(&ctx, 0, 0, gva(0), NULL), -EINVAL);
	assert_int_equal(hv_call_assert_virtual_interrupt(&ctx, 0, 0, 256, 0), -EINVAL);
	assert_int_equal(hv_call_signal_event_direct(&ctx, 0, 0, 16, 0, NULL), -EINVAL);
	assert_int_equal(hv_call_signal_event_direct(&ctx, 0, 0, 0, 2048, NULL), -EINVAL);
	assert_int_equal(hv_call_post_message_direct(&ctx, 0, 0, 0, NULL), -EINVAL);
	assert_int_equal(hv_call_start_virtual_processor(&ctx, 0, 0, NULL), -EINVAL);
	assert_int_equal(hv_call_get_vp_index_from_apic_id(&ctx, 0, 1, NULL, NULL), -EINVAL);
	/* Nothing reached the transport; zero counts are no-ops. */
	assert_int_equal(F.ncalls, 0);
	assert_int_equal(hv_call_get_vp_registers(&ctx, 0, 0, 0, NULL, NULL), 0);
	assert_int_equal(hv_call_modify_vtl_protection_range(&ctx, 0, 0, gpn(5), 0), 0);
	assert_int_equal(F.ncalls, 0);
}

/* ---- memory ---- */

static void test_modify_vtl_protection(void **state)
{
	(void)state;
	const gpn_t gpns[3] = { { 0x100 }, { 0x2000 }, { 0xFFFFF } };

	F.respond = resp_ok;
	assert_int_equal(hv_call_modify_vtl_protection_mask(&ctx, HV_MAP_GPA_READABLE | HV_MAP_GPA_WRITABLE, 0x12,
							    gpns, 3), 0);
	assert_int_equal(F.calls[0].control, 0x000000030000000Cull);
	assert_int_equal(F.calls[0].in_size, 16 + 24);
	assert_int_equal(get64(F.calls[0].in, 0), 0xFFFFFFFFFFFFFFFFull);
	assert_int_equal(get32(F.calls[0].in, 8), 0x3);
	assert_int_equal(F.calls[0].in[12], 0x12);
	assert_int_equal(F.calls[0].in[13] | F.calls[0].in[14] | F.calls[0].in[15], 0);
	assert_int_equal(get64(F.calls[0].in, 16), 0x100);
	assert_int_equal(get64(F.calls[0].in, 24), 0x2000);
	assert_int_equal(get64(F.calls[0].in, 32), 0xFFFFF);

	F.ncalls = 0;
	assert_int_equal(hv_call_modify_vtl_protection_range(&ctx, HV_MAP_GPA_ALL, 0x10, gpn(0x100), 1000), 0);
	assert_int_equal(F.ncalls, 2);
	assert_int_equal(F.calls[0].control, 0x000001FE0000000Cull); /* 510 */
	assert_int_equal(F.calls[0].in_size, 4096);
	assert_int_equal(F.calls[1].control, 0x000001EA0000000Cull); /* 490 */
	assert_int_equal(get64(F.calls[0].in, 16), 0x100);
	assert_int_equal(get64(F.calls[0].in, 16 + 8 * 509), 0x100 + 509);
	assert_int_equal(get64(F.calls[1].in, 16), 0x100 + 510);
	assert_int_equal(get64(F.calls[1].in, 16 + 8 * 489), 0x100 + 999);
}

static void test_accept_gpa_pages(void **state)
{
	(void)state;
	const uint16_t perms[2] = { 0x0003, 0x000F };
	uint32_t attrs = HV_ACCEPT_MEMORY_TYPE_RAM | (HV_HOST_VISIBILITY_SHARED << HV_ACCEPT_HOST_VISIBILITY_SHIFT);

	F.respond = resp_ok;
	assert_int_equal(hv_call_accept_gpa_pages(&ctx, attrs, perms, gpn(0x8000), 5000), 0);
	assert_int_equal(F.ncalls, 2);
	assert_int_equal(F.calls[0].control, 0x00000FFF000000D9ull);
	assert_int_equal(F.calls[1].control, 0x00000389000000D9ull);
	assert_int_equal(F.calls[0].in_size, 24);
	assert_int_equal(get64(F.calls[0].in, 0), 0xFFFFFFFFFFFFFFFFull);
	assert_int_equal(get32(F.calls[0].in, 8), 0xC1);
	assert_int_equal(get16(F.calls[0].in, 12), 0x0003);
	assert_int_equal(get16(F.calls[0].in, 14), 0x000F);
	assert_int_equal(get64(F.calls[0].in, 16), 0x8000);
	assert_int_equal(get64(F.calls[1].in, 16), 0x8000 + 4095);
}

static void test_host_visibility(void **state)
{
	(void)state;
	const gpn_t gpns[2] = { { 0x10 }, { 0x20 } };

	F.respond = resp_ok;
	assert_int_equal(hv_call_modify_host_visibility(&ctx, HV_HOST_VISIBILITY_SHARED, gpns, 2), 0);
	assert_int_equal(F.calls[0].control, 0x00000002000000DBull);
	assert_int_equal(F.calls[0].in_size, 32);
	assert_int_equal(get64(F.calls[0].in, 0), 0xFFFFFFFFFFFFFFFFull);
	assert_int_equal(get32(F.calls[0].in, 8), 3);
	assert_int_equal(get32(F.calls[0].in, 12), 0);
	assert_int_equal(get64(F.calls[0].in, 16), 0x10);
	assert_int_equal(get64(F.calls[0].in, 24), 0x20);
	assert_int_equal(hv_call_modify_host_visibility(&ctx, 1, gpns, 2), -EINVAL);
	assert_int_equal(hv_call_modify_host_visibility(&ctx, 0, NULL, 2), -EINVAL);
	assert_int_equal(F.ncalls, 1);
}

static uint64_t resp_check_access(struct fake *f, unsigned idx, uint64_t control, const uint8_t *in,
				  size_t in_size, uint8_t *out, size_t out_size)
{
	(void)f; (void)idx; (void)in_size;
	assert_int_equal(out_size, 8 * reps_of(control));
	for (unsigned i = start_of(control); i < reps_of(control); i++)
		put64(out, 8 * i, get64(in, 16 + 8 * i) == 0x30 ? (1u | (2u << 8) | (2u << 16)) : 0);
	return result(HV_STATUS_SUCCESS, reps_of(control));
}

static void test_check_vtl_access(void **state)
{
	(void)state;
	const gpn_t gpns[3] = { { 0x10 }, { 0x30 }, { 0x50 } };
	uint64_t res[3];

	F.respond = resp_check_access;
	assert_int_equal(hv_call_check_vtl_access(&ctx, 0x10, HV_MAP_GPA_WRITABLE, gpns, 3, res), 0);
	assert_int_equal(F.calls[0].control, 0x00000003000000D4ull);
	assert_int_equal(F.calls[0].in[8], 0x10);
	assert_int_equal(F.calls[0].in[9], 2);
	assert_int_equal(get16(F.calls[0].in, 10), 0);
	assert_int_equal(get32(F.calls[0].in, 12), 0);
	assert_int_equal(get64(F.calls[0].in, 24), 0x30);
	assert_int_equal(res[0], 0);
	assert_int_equal(res[1] & HV_CHECK_VTL_ACCESS_RESULT_MASK, 1);
	assert_int_equal((res[1] & HV_CHECK_VTL_ACCESS_DENIED_MASK) >> HV_CHECK_VTL_ACCESS_DENIED_SHIFT, 2);
	assert_int_equal((res[1] & HV_CHECK_VTL_ACCESS_INTERCEPT_VTL_MASK) >> HV_CHECK_VTL_ACCESS_INTERCEPT_VTL_SHIFT, 2);
	assert_int_equal(res[2], 0);
	assert_int_equal(hv_call_check_vtl_access(&ctx, 0, 0, gpns, 3, NULL), -EINVAL);
}

static void test_flush(void **state)
{
	(void)state;
	F.respond = resp_ok;
	assert_int_equal(hv_call_flush_virtual_address_space(&ctx, 0, HV_FLUSH_ALL_PROCESSORS |
							     HV_FLUSH_ALL_VIRTUAL_ADDRESS_SPACES, 0), 0);
	assert_int_equal(F.calls[0].control, 0x02);
	assert_int_equal(F.calls[0].in_size, 24);
	assert_int_equal(get64(F.calls[0].in, 0), 0);
	assert_int_equal(get64(F.calls[0].in, 8), 3);
	assert_int_equal(get64(F.calls[0].in, 16), 0);
}

static uint64_t resp_mmio(struct fake *f, unsigned idx, uint64_t control, const uint8_t *in, size_t in_size,
			  uint8_t *out, size_t out_size)
{
	(void)f; (void)idx; (void)in; (void)in_size;
	if ((control & 0xFFFF) == 0x106) {
		assert_int_equal(out_size, 64);
		for (unsigned i = 0; i < 64; i++)
			out[i] = (uint8_t)(0xA0 + i);
	}
	return result(HV_STATUS_SUCCESS, 0);
}

static void test_mmio(void **state)
{
	(void)state;
	uint8_t buf[8];
	const uint8_t wr[4] = { 1, 2, 3, 4 };

	memset(buf, 0, sizeof(buf));
	F.respond = resp_mmio;
	assert_int_equal(hv_call_mmio_read(&ctx, gpa(0xFED00000), buf, 4), 0);
	assert_int_equal(F.calls[0].control, 0x106);
	assert_int_equal(F.calls[0].in_size, 16);
	assert_int_equal(get64(F.calls[0].in, 0), 0xFED00000);
	assert_int_equal(get32(F.calls[0].in, 8), 4);
	assert_int_equal(get32(F.calls[0].in, 12), 0);
	assert_int_equal(buf[0], 0xA0);
	assert_int_equal(buf[3], 0xA3);
	assert_int_equal(buf[4], 0); /* only `width` bytes copied */

	assert_int_equal(hv_call_mmio_write(&ctx, gpa(0xFED00010), wr, 4), 0);
	assert_int_equal(F.calls[1].control, 0x107);
	assert_int_equal(F.calls[1].in_size, 80);
	assert_int_equal(get64(F.calls[1].in, 0), 0xFED00010);
	assert_int_equal(get32(F.calls[1].in, 8), 4);
	assert_int_equal(get32(F.calls[1].in, 16), 0x04030201);
	assert_int_equal(F.calls[1].in[20], 0);

	assert_int_equal(hv_call_mmio_read(&ctx, gpa(0), buf, 0), -EINVAL);
	assert_int_equal(hv_call_mmio_read(&ctx, gpa(0), buf, 65), -EINVAL);
	assert_int_equal(hv_call_mmio_write(&ctx, gpa(0), NULL, 4), -EINVAL);
	assert_int_equal(F.ncalls, 2);
}

/* ---- translation ---- */

static uint64_t resp_translate(struct fake *f, unsigned idx, uint64_t control, const uint8_t *in,
			       size_t in_size, uint8_t *out, size_t out_size)
{
	(void)f; (void)idx; (void)in; (void)in_size;
	memset(out, 0, out_size);
	if ((control & 0xFFFF) == 0x52) {
		assert_int_equal(out_size, 16);
		put64(out, 0, 0 | (6ull << 32) | (1ull << 40));
		put64(out, 8, 0x1234);
	} else {
		assert_int_equal(out_size, 64);
		put64(out, 0, 1); /* page not present */
		put64(out, 16, 0x0E0001);
		put64(out, 24, 0x11);
		put64(out, 32, 0x22);
		put64(out, 40, 0x33);
		put64(out, 48, 0x9999);
	}
	return result(HV_STATUS_SUCCESS, 0);
}

static void test_translate(void **state)
{
	(void)state;
	struct hv_call_translation t;
	uint64_t flags = HV_TRANSLATE_GVA_VALIDATE_READ | HV_TRANSLATE_GVA_VALIDATE_WRITE |
			 ((uint64_t)0x10 << HV_TRANSLATE_GVA_INPUT_VTL_SHIFT);

	F.respond = resp_translate;
	assert_int_equal(hv_call_translate_va(&ctx, 3, flags, gva(0xFFFF800000401ABCull), &t), 0);
	assert_int_equal(F.calls[0].control, 0x52);
	assert_int_equal(F.calls[0].in_size, 32);
	assert_int_equal(get64(F.calls[0].in, 0), 0xFFFFFFFFFFFFFFFFull);
	assert_int_equal(get32(F.calls[0].in, 8), 3);
	assert_int_equal(get32(F.calls[0].in, 12), 0);
	assert_int_equal(get64(F.calls[0].in, 16), 0x1000000000000003ull);
	assert_int_equal(get64(F.calls[0].in, 24), 0xFFFF800000401ull);
	assert_int_equal(t.result_code, HV_TRANSLATE_GVA_SUCCESS);
	assert_int_equal(t.cache_type, HV_CACHE_TYPE_WB);
	assert_true(t.overlay_page);
	assert_int_equal(t.gpa.v, 0x1234ABC);

	assert_int_equal(hv_call_translate_va_ex(&ctx, 0, 0, gva(0x5000), &t), 0);
	assert_int_equal(F.calls[1].control, 0xAC);
	assert_int_equal(t.result_code, HV_TRANSLATE_GVA_PAGE_NOT_PRESENT);
	assert_int_equal(t.gpa.v, 0); /* no GPA for a failed translation */
	assert_int_equal(t.event_info[0].low, 0x0E0001);
	assert_int_equal(t.event_info[0].high, 0x11);
	assert_int_equal(t.event_info[1].low, 0x22);
	assert_int_equal(t.event_info[1].high, 0x33);

	F.respond = resp_status;
	F.status = HV_STATUS_INVALID_VP_INDEX;
	assert_int_equal(hv_call_translate_va(&ctx, 99, 0, gva(0), &t), -EINVAL);
}

/* ---- simple calls ---- */

static void test_install_intercept(void **state)
{
	(void)state;
	F.respond = resp_ok;
	assert_int_equal(hv_call_install_intercept(&ctx, HV_INTERCEPT_ACCESS_MASK_READ | HV_INTERCEPT_ACCESS_MASK_WRITE,
						   HV_INTERCEPT_TYPE_X64_IO_PORT_RANGE,
						   hv_intercept_io_port_range(0x3F8, 0x3FF)), 0);
	assert_int_equal(F.calls[0].control, 0x4D);
	assert_int_equal(F.calls[0].in_size, 24);
	assert_int_equal(get64(F.calls[0].in, 0), 0xFFFFFFFFFFFFFFFFull);
	assert_int_equal(get32(F.calls[0].in, 8), 3);
	assert_int_equal(get32(F.calls[0].in, 12), 0x11);
	assert_int_equal(get64(F.calls[0].in, 16), 0x03FF03F8);
}

static void test_assert_virtual_interrupt(void **state)
{
	(void)state;
	F.respond = resp_ok;
	assert_int_equal(hv_call_assert_virtual_interrupt(&ctx, HV_X64_INTERRUPT_TYPE_FIXED |
							  HV_INTERRUPT_CONTROL_LEVEL_TRIGGERED, 5, 0x31, 0x10), 0);
	assert_int_equal(F.calls[0].control, 0x94);
	assert_int_equal(F.calls[0].in_size, 32);
	assert_int_equal(get64(F.calls[0].in, 8), 1ull << 32);
	assert_int_equal(get64(F.calls[0].in, 16), 5);
	assert_int_equal(get32(F.calls[0].in, 24), 0x31);
	assert_int_equal(F.calls[0].in[28], 0x10);
	assert_int_equal(F.calls[0].in[29], 0);
	assert_int_equal(get16(F.calls[0].in, 30), 0);
}

static void test_post_message_direct(void **state)
{
	(void)state;
	struct hv_message m;

	memset(&m, 0, sizeof(m));
	m.header.message_type = HVMSG_VMBUS;
	m.header.payload_size = 12;
	m.payload[0] = 0xAA;
	m.payload[11] = 0xBB;
	F.respond = resp_ok;
	assert_int_equal(hv_call_post_message_direct(&ctx, 1, 0x10, 2, &m), 0);
	assert_int_equal(F.calls[0].control, 0xC1);
	assert_int_equal(F.calls[0].in_size, 280);
	check_vp_header(&F.calls[0], 1, 0x10);
	assert_int_equal(F.calls[0].in[16], 2);
	assert_int_equal(get32(F.calls[0].in, 20), 1);     /* message_type */
	assert_int_equal(F.calls[0].in[24], 12);           /* payload_size */
	assert_int_equal(F.calls[0].in[36], 0xAA);         /* payload at 20 + 16 */
	assert_int_equal(F.calls[0].in[47], 0xBB);
	assert_int_equal(get32(F.calls[0].in, 276), 0);

	F.respond = resp_status;
	F.status = HV_STATUS_INSUFFICIENT_BUFFERS;
	assert_int_equal(hv_call_post_message_direct(&ctx, 1, 0x10, 2, &m), -EAGAIN);
	assert_int_equal(hv_call_post_message_direct(&ctx, 1, 0x10, 16, &m), -EINVAL);
	m.header.payload_size = 241;
	assert_int_equal(hv_call_post_message_direct(&ctx, 1, 0x10, 2, &m), -EINVAL);
}

static uint64_t resp_signal(struct fake *f, unsigned idx, uint64_t control, const uint8_t *in, size_t in_size,
			    uint8_t *out, size_t out_size)
{
	(void)f; (void)control; (void)in; (void)in_size;
	assert_int_equal(out_size, 8);
	memset(out, 0, out_size);
	out[0] = idx == 0;
	return result(HV_STATUS_SUCCESS, 0);
}

static void test_signal_event_direct(void **state)
{
	(void)state;
	bool newly = false;

	F.respond = resp_signal;
	assert_int_equal(hv_call_signal_event_direct(&ctx, 4, 0x10, 2, 0x123, &newly), 0);
	assert_true(newly);
	assert_int_equal(F.calls[0].control, 0xC0);
	assert_int_equal(F.calls[0].in_size, 16);
	assert_int_equal(get64(F.calls[0].in, 0), 0xFFFFFFFFFFFFFFFFull);
	assert_int_equal(get32(F.calls[0].in, 8), 4);
	assert_int_equal(F.calls[0].in[12], 0x10);
	assert_int_equal(F.calls[0].in[13], 2);
	assert_int_equal(get16(F.calls[0].in, 14), 0x123);
	assert_int_equal(hv_call_signal_event_direct(&ctx, 4, 0x10, 2, 0x123, &newly), 0);
	assert_false(newly);
}

static void test_enable_vtl(void **state)
{
	(void)state;
	struct hv_initial_vp_context vc;

	F.respond = resp_ok;
	assert_int_equal(hv_call_enable_partition_vtl(&ctx, 1, HV_ENABLE_PARTITION_VTL_MBEC), 0);
	assert_int_equal(F.calls[0].control, 0x0D);
	assert_int_equal(F.calls[0].in_size, 16);
	assert_int_equal(get64(F.calls[0].in, 0), 0xFFFFFFFFFFFFFFFFull);
	assert_int_equal(F.calls[0].in[8], 1);
	assert_int_equal(F.calls[0].in[9], 1);
	assert_int_equal(get16(F.calls[0].in, 10), 0);
	assert_int_equal(get32(F.calls[0].in, 12), 0);

	memset(&vc, 0, sizeof(vc));
	vc.rip = 0xFFF0;
	vc.rsp = 0x7000;
	vc.cs.base = 0xFFFF0000;
	vc.cs.selector = 0xF000;
	vc.gdtr.limit = 0x27;
	vc.cr3 = 0x9000;
	vc.msr_cr_pat = 0x0007040600070406ull;
	assert_int_equal(hv_call_enable_vp_vtl(&ctx, 2, 1, &vc), 0);
	assert_int_equal(F.calls[1].control, 0x0F);
	assert_int_equal(F.calls[1].in_size, 240);
	assert_int_equal(get32(F.calls[1].in, 8), 2);
	assert_int_equal(F.calls[1].in[12], 1);
	assert_int_equal(get64(F.calls[1].in, 16), 0xFFF0);
	assert_int_equal(get64(F.calls[1].in, 24), 0x7000);
	assert_int_equal(get64(F.calls[1].in, 16 + 24), 0xFFFF0000);     /* cs.base */
	assert_int_equal(get16(F.calls[1].in, 16 + 24 + 12), 0xF000);    /* cs.selector */
	assert_int_equal(get16(F.calls[1].in, 16 + 168 + 6), 0x27);      /* gdtr.limit */
	assert_int_equal(get64(F.calls[1].in, 16 + 200), 0x9000);        /* cr3 */
	assert_int_equal(get64(F.calls[1].in, 16 + 216), 0x0007040600070406ull);

	assert_int_equal(hv_call_start_virtual_processor(&ctx, 3, 0, &vc), 0);
	assert_int_equal(F.calls[2].control, 0x99);
	assert_int_equal(F.calls[2].in_size, 240);
	assert_int_equal(get64(F.calls[2].in, 16), 0xFFF0);

	F.respond = resp_status;
	F.status = HV_STATUS_VTL_ALREADY_ENABLED;
	assert_int_equal(hv_call_enable_partition_vtl(&ctx, 1, 0), -EEXIST);
	assert_int_equal(hv_call_enable_vp_vtl(&ctx, 2, 1, NULL), -EEXIST);
}

static uint64_t resp_apic(struct fake *f, unsigned idx, uint64_t control, const uint8_t *in, size_t in_size,
			  uint8_t *out, size_t out_size)
{
	(void)f; (void)idx; (void)in_size;
	assert_int_equal(out_size, 4 * reps_of(control));
	for (unsigned i = start_of(control); i < reps_of(control); i++) {
		uint32_t v = get32(in, 16 + 4 * i) + 1000;
		memcpy(out + 4 * i, &v, 4);
	}
	return result(HV_STATUS_SUCCESS, reps_of(control));
}

static void test_get_vp_index_from_apic_id(void **state)
{
	(void)state;
	static uint32_t ids[1025], vps[1025];

	for (unsigned i = 0; i < 1025; i++)
		ids[i] = i * 2;
	F.respond = resp_apic;
	assert_int_equal(hv_call_get_vp_index_from_apic_id(&ctx, 0x10, 1025, ids, vps), 0);
	assert_int_equal(F.ncalls, 2);
	assert_int_equal(F.calls[0].control, 0x000003FC0000009Aull);
	assert_int_equal(F.calls[1].control, 0x000000050000009Aull);
	assert_int_equal(F.calls[0].in[8], 0x10);
	assert_int_equal(get32(F.calls[1].in, 16), 1020 * 2);
	for (unsigned i = 0; i < 1025; i++)
		assert_int_equal(vps[i], i * 2 + 1000);
}

/* Every documented status through a wrapper: mapped by hv_status_to_errno, with the specific
 * mappings callers rely on. */
static void test_error_mapping(void **state)
{
	(void)state;
	static const hv_status_t codes[] = {
		0x2, 0x3, 0x4, 0x5, 0x6, 0x7, 0x8, 0x9, 0xA, 0xB, 0xC, 0xD, 0xE, 0x10, 0x11, 0x12, 0x13,
		0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x33, 0x41,
		0x50, 0x51, 0x71, 0x78, 0x79, 0x86, 0x87, 0x1234,
	};
	F.respond = resp_status;
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		F.status = codes[i];
		int rc = hv_call_install_intercept(&ctx, 1, 0, 0);
		assert_true(rc < 0);
		assert_int_equal(rc, hv_status_to_errno(codes[i]));
	}
	static const struct { hv_status_t st; int err; } spec[] = {
		{ HV_STATUS_ACCESS_DENIED, -EACCES },
		{ HV_STATUS_INVALID_PARAMETER, -EINVAL },
		{ HV_STATUS_INSUFFICIENT_BUFFERS, -EAGAIN },
		{ HV_STATUS_INSUFFICIENT_MEMORY, -ENOMEM },
		{ 0x1234, -EIO },
	};
	for (size_t i = 0; i < sizeof(spec) / sizeof(spec[0]); i++) {
		F.status = spec[i].st;
		assert_int_equal(hv_call_enable_partition_vtl(&ctx, 1, 0), spec[i].err);
	}
	/* TIME_OUT on a simple (non-rep) call is an error, not a restart. */
	F.status = HV_STATUS_TIME_OUT;
	assert_int_equal(hv_call_install_intercept(&ctx, 1, 0, 0), -ETIMEDOUT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_get_vp_registers, setup),
		cmocka_unit_test_setup(test_get_vp_registers_batched, setup),
		cmocka_unit_test_setup(test_get_vp_registers_timeout_restart, setup),
		cmocka_unit_test_setup(test_rep_partial_success_restarts, setup),
		cmocka_unit_test_setup(test_rep_stall_times_out, setup),
		cmocka_unit_test_setup(test_rep_protocol_violations, setup),
		cmocka_unit_test_setup(test_rep_error_keeps_completed, setup),
		cmocka_unit_test_setup(test_transport_error, setup),
		cmocka_unit_test_setup(test_set_vp_registers, setup),
		cmocka_unit_test_setup(test_invalid_args, setup),
		cmocka_unit_test_setup(test_modify_vtl_protection, setup),
		cmocka_unit_test_setup(test_accept_gpa_pages, setup),
		cmocka_unit_test_setup(test_host_visibility, setup),
		cmocka_unit_test_setup(test_check_vtl_access, setup),
		cmocka_unit_test_setup(test_flush, setup),
		cmocka_unit_test_setup(test_mmio, setup),
		cmocka_unit_test_setup(test_translate, setup),
		cmocka_unit_test_setup(test_install_intercept, setup),
		cmocka_unit_test_setup(test_assert_virtual_interrupt, setup),
		cmocka_unit_test_setup(test_post_message_direct, setup),
		cmocka_unit_test_setup(test_signal_event_direct, setup),
		cmocka_unit_test_setup(test_enable_vtl, setup),
		cmocka_unit_test_setup(test_get_vp_index_from_apic_id, setup),
		cmocka_unit_test_setup(test_error_mapping, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
