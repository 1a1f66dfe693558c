/*
 * hvsim hypercall validation, the SINT 7 stream, the host API and the kif_sim seam. Inputs are
 * built with the byte offsets of hyperv-abi-facts 2.2, results checked against the HV_STATUS
 * values of 2.1 (status in bits 0-15, reps completed in bits 32-43).
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "hvcall/hv.h"
#include "tools/hvsim/hvsim.h"
#include "vtl2/kif.h"

#define SELF 0xFFFFFFFFFFFFFFFFull
#define REP(n) ((uint64_t)(n) << 32)
#define REP_START(n) ((uint64_t)(n) << 48)

static const uint16_t all_calls[] = { 0x0C, 0x0D, 0x0F, 0x4D, 0x50, 0x51, 0x52, 0x94, 0x9A,
				      0xAC, 0xC0, 0xC1, 0x99 };

struct fx {
	struct hvsim *sim;
	struct kif *kif;
};

static int setup(void **state)
{
	static struct fx f;
	struct hvsim_config cfg = { .vp_count = 2, .mem_size = 4u << 20, .register_page = true };
	if (hvsim_create(&cfg, &f.sim))
		return -1;
	hvsim_vp_setup_long_mode(f.sim, 0, 0x100000);
	hvsim_vp_setup_long_mode(f.sim, 1, 0x100000);
	hvsim_set_current(f.sim);
	struct kif_params p = { .hvcall_allow = all_calls,
				.hvcall_allow_count = sizeof(all_calls) / sizeof(all_calls[0]) };
	if (kif_open(&p, &f.kif))
		return -1;
	if (kif_vp_bind(f.kif, 0))
		return -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	kif_close(f->kif);
	hvsim_destroy(f->sim);
	return 0;
}

static uint64_t call(struct fx *f, uint64_t control, const void *in, size_t in_size, void *out,
		     size_t out_size)
{
	uint64_t r = ~0ull;
	assert_int_equal(kif_hvcall(f->kif, control, in, in_size, out, out_size, &r), 0);
	return r;
}

static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

#define ST(r) ((r) & 0xFFFF)
#define REPS(r) (((r) >> 32) & 0xFFF)

static void test_kif_gates(void **state)
{
	struct fx *f = *state;
	uint64_t r;
	/* Not in the default allow list -> -EPERM, like the driver. */
	struct kif *k2;
	hvsim_set_current(f->sim);
	assert_int_equal(kif_open(NULL, &k2), 0);
	assert_int_equal(kif_hvcall(k2, 0x0D, NULL, 0, NULL, 0, &r), -EPERM);
	assert_int_equal(kif_hvcall(k2, 0x50 | (1u << 16), NULL, 0, NULL, 0, &r), -EINVAL);
	assert_int_equal(kif_vp_run(k2), -EINVAL);            /* thread not bound */
	assert_null(kif_vp_run_page(k2, 1));
	kif_close(k2);
	hvsim_set_current(NULL);
	assert_int_equal(kif_open(NULL, &k2), -ENODEV);
	hvsim_set_current(f->sim);
	assert_true(kif_get_caps(f->kif)->register_page);
	assert_int_equal(kif_vp_count(f->kif), 2);
	assert_non_null(kif_vp_run_page(f->kif, 0));
	assert_non_null(kif_vp_register_page(f->kif, 0));
	/* Shared memory: the paravisor's mapping is the guest's RAM. */
	void *p;
	assert_int_equal(kif_vtl0_map(f->kif, gpa(0x1000), 4096, &p), 0);
	assert_ptr_equal(p, hvsim_gpa_ptr(f->sim, gpa(0x1000), 1));
	assert_int_equal(kif_vtl0_map(f->kif, gpa(4u << 20), 4096, &p), -EINVAL);
	assert_int_equal(kif_vtl0_map(f->kif, gpa(0x1001), 4096, &p), -EINVAL);
	assert_int_equal(kif_vtl0_add_memory(f->kif, gpn(5), gpn(5)), -EFAULT);
	assert_int_equal(kif_vtl0_add_memory(f->kif, gpn(0), gpn(16)), 0);
	/* Register ioctl path on the bound VP. */
	union hv_register_value v;
	assert_int_equal(kif_vp_get_register(f->kif, 0x20010, &v), 0);
	assert_int_equal(v.low, 0x100000);
	assert_int_equal(kif_vp_get_register(f->kif, 0x12345, &v), -EINVAL);
	/* Unknown (but allowed) hypercall code. */
	r = call(f, 0x99, NULL, 0, NULL, 0);
	assert_int_equal(ST(r), 0x2);
}

static void test_control_word(void **state)
{
	struct fx *f = *state;
	uint8_t in[64] = { 0 };
	put64(in, SELF);
	put32(in + 8, 0);
	in[12] = 0x10;
	put32(in + 16, 0x20010);
	uint8_t out[64];
	/* rep call without reps, non-rep with reps, reserved bits, rep_start > count */
	assert_int_equal(ST(call(f, 0x50, in, 20, out, 16)), 0x3);
	assert_int_equal(ST(call(f, 0x4D | REP(1), in, 24, NULL, 0)), 0x3);
	assert_int_equal(ST(call(f, 0x50 | REP(1) | (1ull << 27), in, 20, out, 16)), 0x3);
	assert_int_equal(ST(call(f, 0x50 | REP(1) | REP_START(2), in, 20, out, 16)), 0x3);
	uint64_t r = call(f, 0x50 | REP(1), in, 20, out, 16);
	assert_int_equal(ST(r), 0);
	assert_int_equal(REPS(r), 1);
	assert_int_equal(get64(out), 0x100000);
}

static void test_get_set_registers(void **state)
{
	struct fx *f = *state;
	uint8_t in[128] = { 0 }, out[128];
	put64(in, SELF);
	put32(in + 8, 0xFFFFFFFE);  /* VP_INDEX_SELF */
	in[12] = 0x10;              /* VTL0 */
	put32(in + 16, 0x20011);    /* RFLAGS */
	put32(in + 20, 0x40000);    /* CR0 */
	put32(in + 24, 0x7777777);  /* unknown */
	uint64_t r = call(f, 0x50 | REP(3), in, 28, out, 48);
	assert_int_equal(ST(r), 0x87);
	assert_int_equal(REPS(r), 2);
	assert_int_equal(get64(out), 2);
	assert_int_equal(get64(out + 16), 0x80010033);
	/* bad VP, bad partition, reserved header bytes */
	put32(in + 8, 7);
	assert_int_equal(ST(call(f, 0x50 | REP(1), in, 20, out, 16)), 0xE);
	put32(in + 8, 1);
	put64(in, 5);
	assert_int_equal(ST(call(f, 0x50 | REP(1), in, 20, out, 16)), 0xD);
	put64(in, SELF);
	in[13] = 1;
	assert_int_equal(ST(call(f, 0x50 | REP(1), in, 20, out, 16)), 0x5);
	in[13] = 0;
	/* SetVpRegisters on VP 1: RIP and RBX, then read back; reserved assoc fields checked */
	memset(in + 16, 0, 64);
	put32(in + 16, 0x20010);
	put64(in + 32, 0x200000);
	put32(in + 48, 0x20003);
	put64(in + 64, 0x42);
	r = call(f, 0x51 | REP(2), in, 80, NULL, 0);
	assert_int_equal(ST(r), 0);
	assert_int_equal(REPS(r), 2);
	put32(in + 16, 0x20010);
	put32(in + 20, 0x20003);
	r = call(f, 0x50 | REP(2), in, 24, out, 32);
	assert_int_equal(get64(out), 0x200000);
	assert_int_equal(get64(out + 16), 0x42);
	memset(in + 16, 0, 64);
	put32(in + 16, 0x20010);
	put32(in + 20, 1);          /* reserved */
	assert_int_equal(ST(call(f, 0x51 | REP(1), in, 48, NULL, 0)), 0x5);
	put32(in + 20, 0);
	put64(in + 32, 0x0000800000000000ull); /* non-canonical RIP */
	assert_int_equal(ST(call(f, 0x51 | REP(1), in, 48, NULL, 0)), 0x5);
	/* VTL2's own VSM registers */
	memset(in + 12, 0, 20);
	put32(in + 8, 0);
	put32(in + 16, 0xD0006);
	r = call(f, 0x50 | REP(1), in, 20, out, 16);
	assert_int_equal(ST(r), 0);
	assert_int_equal(get64(out), 1ull << 27);
}

static void test_install_intercept_validation(void **state)
{
	struct fx *f = *state;
	uint8_t in[24] = { 0 };
	put64(in, SELF);
	put32(in + 8, 0);           /* no access bits */
	put32(in + 12, 0);
	assert_int_equal(ST(call(f, 0x4D, in, 24, NULL, 0)), 0x5);
	put32(in + 8, 2);
	put32(in + 12, 0x55);       /* unknown type */
	assert_int_equal(ST(call(f, 0x4D, in, 24, NULL, 0)), 0x5);
	put32(in + 12, 0);
	put64(in + 16, 0x10000);    /* port out of range */
	assert_int_equal(ST(call(f, 0x4D, in, 24, NULL, 0)), 0x5);
	put32(in + 12, 3);
	put64(in + 16, 32);         /* vector out of range */
	assert_int_equal(ST(call(f, 0x4D, in, 24, NULL, 0)), 0x5);
	put64(in + 16, 14);
	assert_int_equal(ST(call(f, 0x4D, in, 24, NULL, 0)), 0);
	put64(in, 3);
	assert_int_equal(ST(call(f, 0x4D, in, 24, NULL, 0)), 0xD);
}

static void test_translate(void **state)
{
	struct fx *f = *state;
	uint8_t in[32] = { 0 }, out[64];
	put64(in, SELF);
	put32(in + 8, 0);
	put64(in + 16, 1 | 2);      /* validate read + write */
	put64(in + 24, 0x123);      /* GVN */
	uint64_t r = call(f, 0x52, in, 32, out, 16);
	assert_int_equal(ST(r), 0);
	assert_int_equal(get32(out), 0);
	assert_int_equal(get64(out + 8), 0x123);
	put64(in + 24, 0xFE000);    /* identity-mapped MMIO: GPA unmapped */
	call(f, 0x52, in, 32, out, 16);
	assert_int_equal(get32(out), 4);
	put64(in + 24, 0x800000000ull >> 12 << 12); /* beyond the 4 GiB tables: not present */
	call(f, 0xAC, in, 32, out, 64);
	assert_int_equal(get32(out), 1);
	put32(in + 12, 1);          /* reserved */
	assert_int_equal(ST(call(f, 0x52, in, 32, out, 16)), 0x5);
	put32(in + 12, 0);
	put32(in + 8, 9);
	assert_int_equal(ST(call(f, 0x52, in, 32, out, 16)), 0xE);
}

static void test_misc_calls(void **state)
{
	struct fx *f = *state;
	uint8_t in[256] = { 0 }, out[64];
	/* GetVpIndexFromApicId */
	put64(in, SELF);
	put32(in + 16, 1);
	put32(in + 20, 0);
	put32(in + 24, 99);
	uint64_t r = call(f, 0x9A | REP(3), in, 28, out, 12);
	assert_int_equal(ST(r), 0x5);
	assert_int_equal(REPS(r), 2);
	assert_int_equal(get32(out), 1);
	assert_int_equal(get32(out + 4), 0);
	/* AssertVirtualInterrupt */
	memset(in, 0, sizeof(in));
	put64(in, SELF);
	put64(in + 16, 1);
	put32(in + 24, 5);          /* vector < 16 */
	assert_int_equal(ST(call(f, 0x94, in, 32, NULL, 0)), 0x5);
	put32(in + 24, 0x30);
	put64(in + 16, 9);          /* no such APIC */
	assert_int_equal(ST(call(f, 0x94, in, 32, NULL, 0)), 0x5);
	put64(in + 16, 1);
	assert_int_equal(ST(call(f, 0x94, in, 32, NULL, 0)), 0);
	/* EnablePartitionVtl / EnableVpVtl */
	memset(in, 0, sizeof(in));
	put64(in, SELF);
	in[8] = 2;
	assert_int_equal(ST(call(f, 0x0D, in, 16, NULL, 0)), 0x86);
	put32(in + 8, 0);
	in[12] = 1;
	assert_int_equal(ST(call(f, 0x0F, in, 240, NULL, 0)), 0x51); /* partition VTL1 off */
	memset(in + 8, 0, 8);
	in[8] = 1;
	in[9] = 0x80;               /* unknown flag */
	assert_int_equal(ST(call(f, 0x0D, in, 16, NULL, 0)), 0x5);
	in[9] = 0;
	assert_int_equal(ST(call(f, 0x0D, in, 16, NULL, 0)), 0);
	assert_int_equal(ST(call(f, 0x0D, in, 16, NULL, 0)), 0x86);
	memset(in + 8, 0, 8);
	put32(in + 8, 5);
	in[12] = 1;
	assert_int_equal(ST(call(f, 0x0F, in, 240, NULL, 0)), 0xE);
	put32(in + 8, 1);
	assert_int_equal(ST(call(f, 0x0F, in, 240, NULL, 0)), 0);
	/* ModifyVtlProtectionMask: own VTL, page beyond RAM (reps completed) */
	memset(in, 0, sizeof(in));
	put64(in, SELF);
	put32(in + 8, 3);
	in[12] = 0;
	put64(in + 16, 1);
	assert_int_equal(ST(call(f, 0x0C | REP(1), in, 24, NULL, 0)), 0x5);
	in[12] = 0x10;
	put64(in + 24, 1ull << 40);
	r = call(f, 0x0C | REP(2), in, 32, NULL, 0);
	assert_int_equal(ST(r), 0x5);
	assert_int_equal(REPS(r), 1);
}

static void test_direct_synic(void **state)
{
	struct fx *f = *state;
	uint8_t in[280] = { 0 }, out[8];
	put64(in, SELF);
	put32(in + 8, 1);
	in[13] = 2;                  /* SINT 2 */
	/* SynIC of VP1 not enabled yet */
	assert_int_equal(ST(call(f, 0xC0, in, 16, out, 8)), 0x18);
	/* enable: SCONTROL, SIMP at 0x50000, SIEFP at 0x51000, SINT2 vector 0x60 */
	uint8_t s[16 + 4 * 32] = { 0 };
	put64(s, SELF);
	put32(s + 8, 1);
	s[12] = 0x10;
	uint32_t names[4] = { 0xA0010, 0xA0013, 0xA0012, 0xA0002 };
	uint64_t vals[4] = { 1, 0x50001, 0x51001, 0x60 };
	for (int i = 0; i < 4; i++) {
		put32(s + 16 + 32 * i, names[i]);
		put64(s + 16 + 32 * i + 16, vals[i]);
	}
	assert_int_equal(ST(call(f, 0x51 | REP(4), s, sizeof(s), NULL, 0)), 0);
	in[14] = 0x05;               /* flag 5 */
	in[15] = 0;
	uint64_t r = call(f, 0xC0, in, 16, out, 8);
	assert_int_equal(ST(r), 0);
	assert_int_equal(out[0], 1);
	call(f, 0xC0, in, 16, out, 8);
	assert_int_equal(out[0], 0);  /* already set */
	const uint8_t *flags = hvsim_gpa_ptr(f->sim, gpa(0x51000 + 2 * 256), 1);
	assert_int_equal(flags[0], 1u << 5);
	/* PostMessageDirect into the SIMP slot of SINT 2 */
	memset(in, 0, sizeof(in));
	put64(in, SELF);
	put32(in + 8, 1);
	in[16] = 2;
	put32(in + 20, 0x42);        /* message type */
	in[24] = 3;                  /* payload size */
	in[36] = 'a';
	assert_int_equal(ST(call(f, 0xC1, in, 280, NULL, 0)), 0);
	const uint8_t *slot = hvsim_gpa_ptr(f->sim, gpa(0x50000 + 2 * 256), 256);
	assert_int_equal(get32(slot), 0x42);
	assert_int_equal(slot[16], 'a');
	assert_int_equal(ST(call(f, 0xC1, in, 280, NULL, 0)), 0x13); /* slot busy */
	put32(in + 20, 0x80000001);  /* hypervisor message type */
	assert_int_equal(ST(call(f, 0xC1, in, 280, NULL, 0)), 0x5);
}

static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, 0) == 1;
}

static void test_sint_stream(void **state)
{
	struct fx *f = *state;
	struct hv_message msg;
	int pfd = kif_sint_poll_fd(f->kif);
	assert_true(pfd >= 0);
	assert_true(readable(pfd));                  /* paused */
	assert_int_equal(kif_sint_read(f->kif, &msg, true), 0);   /* EOF */
	assert_int_equal(kif_sint_pause(f->kif, false), 0);
	assert_false(readable(pfd));
	assert_int_equal(kif_sint_read(f->kif, &msg, false), -EAGAIN);
	const char hello[] = "hello";
	assert_int_equal(hvsim_host_send_message(f->sim, 1, 7, hello, sizeof(hello)), 0);
	assert_true(readable(pfd));
	assert_int_equal(kif_sint_read(f->kif, &msg, true), 1);
	const uint8_t *raw = (const uint8_t *)&msg;
	assert_int_equal(get32(raw), 1);
	assert_int_equal(raw[4], sizeof(hello));
	assert_int_equal(get64(raw + 8), 7);
	assert_memory_equal(raw + 16, hello, sizeof(hello));
	assert_false(readable(pfd));
	assert_int_equal(hvsim_host_send_message(f->sim, 1, 0, NULL, 241), -EINVAL);
	for (int i = 0; i < HVSIM_SINT_QUEUE_LEN; i++)
		assert_int_equal(hvsim_host_send_message(f->sim, 1, 0, NULL, 0), 0);
	assert_int_equal(hvsim_host_send_message(f->sim, 1, 0, NULL, 0), -EAGAIN);
	for (int i = 0; i < HVSIM_SINT_QUEUE_LEN; i++)
		assert_int_equal(kif_sint_read(f->kif, &msg, false), 1);
	/* VTL2 -> host */
	assert_int_equal(kif_sint_post_message(f->kif, 0x2000, 1, "xy", 2), 0);
	assert_int_equal(kif_sint_post_message(f->kif, 0x2000, 1, "xy", 241), -EINVAL);
	assert_int_equal(kif_sint_signal_event(f->kif, 0x2001, 3), 0);
	struct hvsim_host_msg hm;
	assert_int_equal(hvsim_host_take(f->sim, &hm), 1);
	assert_int_equal(hm.connection_id, 0x2000);
	assert_int_equal(hm.size, 2);
	assert_memory_equal(hm.payload, "xy", 2);
	assert_int_equal(hvsim_host_take(f->sim, &hm), 1);
	assert_true(hm.is_event);
	assert_int_equal(hm.flag, 3);
	assert_int_equal(hvsim_host_take(f->sim, &hm), 0);
	/* Event flags -> eventfd; held back while paused */
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_int_equal(kif_sint_set_eventfd(f->kif, 9, efd), 0);
	assert_int_equal(kif_sint_set_eventfd(f->kif, 2048, efd), -EINVAL);
	assert_int_equal(hvsim_host_signal_flag(f->sim, 9), 0);
	assert_true(readable(efd));
	uint64_t v;
	assert_int_equal(read(efd, &v, 8), 8);
	kif_sint_pause(f->kif, true);
	hvsim_host_signal_flag(f->sim, 9);
	assert_false(readable(efd));
	kif_sint_pause(f->kif, false);
	assert_true(readable(efd));
	close(efd);
}


static void test_kif_run_and_registers(void **state)
{
	struct fx *f = *state;
	union hv_register_value v = { .bytes = { 0 } };
	/* DR0 and MTRRs: the driver's in-kernel register path */
	v.low = 0x1234;
	assert_int_equal(kif_vp_set_register(f->kif, 0x50000, &v), 0);
	v.low = 6 | 0x100000;
	assert_int_equal(kif_vp_set_register(f->kif, 0x80010, &v), 0);
	assert_int_equal(kif_vp_get_register(f->kif, 0x50000, &v), 0);
	assert_int_equal(v.low, 0x1234);
	assert_int_equal(kif_vp_get_register(f->kif, 0x80010, &v), 0);
	assert_int_equal(v.low, 0x100006);
	assert_int_equal(kif_vp_get_register(f->kif, 0x8000D, &v), 0);
	assert_int_equal(v.low, 0x508);
	assert_int_equal(kif_vp_set_register(f->kif, 0x8000D, &v), -EINVAL);
	/* Guest: mov ecx, 0x200; rdmsr (PhysBase0); out 0xF4, eax */
	static const uint8_t code[] = { 0xB9, 0x00, 0x02, 0, 0, 0x0F, 0x32, 0xE7, 0xF4 };
	memcpy(hvsim_gpa_ptr(f->sim, gpa(0x100000), sizeof(code)), code, sizeof(code));
	uint8_t in[24] = { 0 };
	put64(in, SELF);
	put32(in + 8, 2);
	put64(in + 16, 0xF4);
	assert_int_equal(ST(call(f, 0x4D, in, 24, NULL, 0)), 0);
	assert_int_equal(kif_vp_run(f->kif), 0);
	const uint8_t *run = kif_vp_run_page(f->kif, 0);
	assert_int_equal(get32(run + 16), 0x80010000);
	assert_int_equal(get64(run + 272), 0x100006);        /* cpu_context.rax */
	/* Cancel through kif: sticky -EINTR */
	assert_int_equal(kif_vp_cancel(f->kif, 0), 0);
	assert_int_equal(kif_vp_run(f->kif), -EINTR);
	assert_int_equal(get32(run), 1);
	struct hvsim_stats st;
	hvsim_get_stats(f->sim, &st);
	assert_int_equal(st.exits_by_kind[HVSIM_EXIT_IO], 1);
	assert_int_equal(st.exits_by_kind[HVSIM_EXIT_CANCEL], 1);
	assert_true(st.host_msr >= 1);
	assert_string_equal(hvsim_exit_kind_name(HVSIM_EXIT_CANCEL), "cancel");
	assert_string_equal(hvsim_exit_kind_name(99), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_kif_gates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_control_word, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_set_registers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_install_intercept_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_translate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_misc_calls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_direct_synic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sint_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kif_run_and_registers, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
