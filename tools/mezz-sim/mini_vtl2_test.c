/*
 * mini_vtl2 against a scripted fake kif seam (no hvsim): each test feeds intercept messages
 * (encoded with hv_exit_encode, or raw hostile bytes) to VP 0, records what the VTL2 wrote
 * back (run-page context, registers set by hypercall, hypercalls made), and checks the run's
 * outcome. The fake implements vtl2/kif.h, so mini_vtl2.c and vtl2/vpreg.c run unchanged.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "hvcall/hv.h"
#include "hvcall/hv_exit.h"
#include "hvcall/mshv_abi.h"
#include "tests/guests/guest_abi.h"
#include "tools/mezz-sim/mini_vtl2.h"
#include "vtl2/kif.h"

/* ---- the fake seam ---- */

#define MAX_STEPS 32
#define MAX_REGS 32
#define RAM_SIZE (1u << 20)

struct kif { int unused; };
static struct kif the_kif;
static struct kif_caps caps;
static _Alignas(4096) uint8_t run_page[4096];
static uint8_t ram[RAM_SIZE];
static atomic_uint cancel_flag;

const uint16_t kif_default_hvcall_allow[] = { 0 };
const size_t kif_default_hvcall_allow_count = 0;

struct step {
	uint8_t msg[256];
	struct mshv_abi_cpu_context ctx;  /* VTL0's shared registers at this exit */
};
struct obs {
	struct mshv_abi_cpu_context ctx;  /* what VTL2 left in the context */
	uint64_t rip;
	bool rip_set;
	union hv_register_value pending;
	bool pending_set;
};
static struct step steps[MAX_STEPS];
static struct obs obs[MAX_STEPS];
static unsigned nsteps, cur;

static struct { uint32_t name; union hv_register_value v; } regs[MAX_REGS];
static unsigned nregs;
static unsigned installs, asserts, protects;
static uint32_t last_assert_vector, last_assert_dest, last_protect_flags;
static uint64_t last_protect_gpn;

/* The fake runs on mini_vtl2's VP thread, where cmocka's asserts cannot unwind: abort. */
#define CHECK(cond)                                                                 \
	do {                                                                        \
		if (!(cond)) {                                                      \
			fprintf(stderr, "fake kif: check failed: %s\n", #cond);     \
			abort();                                                    \
		}                                                                   \
	} while (0)

static union hv_register_value *reg_slot(uint32_t name)
{
	for (unsigned i = 0; i < nregs; i++)
		if (regs[i].name == name)
			return &regs[i].v;
	CHECK(nregs < MAX_REGS);
	regs[nregs].name = name;
	memset(&regs[nregs].v, 0, sizeof(regs[nregs].v));
	return &regs[nregs++].v;
}

static void set_reg(uint32_t name, uint64_t v)
{
	union hv_register_value *r = reg_slot(name);
	memset(r, 0, sizeof(*r));
	r->reg64 = v;
}

static void set_seg(uint32_t name, uint16_t sel, uint16_t attr)
{
	union hv_register_value *r = reg_slot(name);
	memset(r, 0, sizeof(*r));
	r->segment = (struct hv_x64_segment_register){ 0, 0xFFFFFFFF, sel, attr };
}

int kif_open(const struct kif_params *params, struct kif **out)
{
	(void)params;
	*out = &the_kif;
	return 0;
}
void kif_close(struct kif *kif) { (void)kif; }
const struct kif_caps *kif_get_caps(const struct kif *kif) { (void)kif; return &caps; }
uint32_t kif_vp_count(const struct kif *kif) { (void)kif; return 1; }
int kif_vp_bind(struct kif *kif, uint32_t vp) { (void)kif; return vp == 0 ? 0 : -EINVAL; }
void *kif_vp_run_page(struct kif *kif, uint32_t vp) { (void)kif; return vp == 0 ? run_page : NULL; }
void *kif_vp_register_page(struct kif *kif, uint32_t vp) { (void)kif; (void)vp; return NULL; }
int kif_vp_set_poll_file(struct kif *kif, uint32_t vp, int fd) { (void)kif; (void)vp; (void)fd; return 0; }

int kif_vp_cancel(struct kif *kif, uint32_t vp)
{
	(void)kif;
	(void)vp;
	atomic_store(&cancel_flag, 1);
	((struct mshv_abi_run *)(void *)run_page)->cancel = 1;
	return 0;
}

int kif_vp_run(struct kif *kif)
{
	(void)kif;
	struct mshv_abi_run *run = (struct mshv_abi_run *)(void *)run_page;
	if (cur > 0 && cur <= nsteps) {
		struct obs *o = &obs[cur - 1];
		o->ctx = run->cpu_context;
		o->rip = reg_slot(HV_X64_REGISTER_RIP)->reg64;
		o->pending = *reg_slot(HV_REGISTER_PENDING_EVENT0);
		o->pending_set = o->pending.low != 0;
	}
	if (cur >= nsteps) {
		/* Script exhausted: the VP runs on until cancelled. */
		while (!atomic_load(&cancel_flag)) {
			struct timespec t = { 0, 1000000 };
			nanosleep(&t, NULL);
		}
		cur = nsteps + 1;
		return -EINTR;
	}
	if (run->cancel)
		return -EINTR;
	const struct step *s = &steps[cur++];
	run->cpu_context = s->ctx;
	memcpy(run->exit_message, s->msg, sizeof(run->exit_message));
	set_reg(HV_REGISTER_PENDING_EVENT0, 0);
	struct hv_exit e;
	if (hv_exit_decode(s->msg, sizeof(s->msg), &e) == 0 && e.has_header)
		set_reg(HV_X64_REGISTER_RIP, e.u.header.rip);
	return 0;
}

int kif_vp_get_register(struct kif *kif, uint32_t name, union hv_register_value *value)
{
	(void)kif;
	*value = *reg_slot(name);
	return 0;
}

int kif_vp_set_register(struct kif *kif, uint32_t name, const union hv_register_value *value)
{
	(void)kif;
	*reg_slot(name) = *value;
	return 0;
}

int kif_hvcall(struct kif *kif, uint64_t control, const void *in, size_t in_size, void *out,
	       size_t out_size, uint64_t *result)
{
	(void)kif;
	const uint8_t *ip = in;
	uint8_t *op = out;
	unsigned code = control & 0xFFFF, reps = (unsigned)((control >> 32) & 0xFFF);
	*result = 0;
	switch (code) {
	case HVCALL_INSTALL_INTERCEPT:
		CHECK(in_size == sizeof(struct hv_input_install_intercept));
		installs++;
		return 0;
	case HVCALL_SET_VP_REGISTERS:
		CHECK(in_size >= 16 + 32ull * reps);
		for (unsigned i = 0; i < reps; i++) {
			struct hv_register_assoc a;
			memcpy(&a, ip + 16 + 32 * i, sizeof(a));
			*reg_slot(a.name) = a.value;
		}
		*result = (uint64_t)reps << 32;
		return 0;
	case HVCALL_GET_VP_REGISTERS:
		CHECK(in_size >= 16 + 4ull * reps && out_size >= 16ull * reps);
		for (unsigned i = 0; i < reps; i++) {
			uint32_t name;
			memcpy(&name, ip + 16 + 4 * i, 4);
			memcpy(op + 16 * i, reg_slot(name), 16);
		}
		*result = (uint64_t)reps << 32;
		return 0;
	case HVCALL_ASSERT_VIRTUAL_INTERRUPT: {
		struct hv_input_assert_virtual_interrupt a;
		memcpy(&a, ip, sizeof(a));
		asserts++;
		last_assert_vector = a.requested_vector;
		last_assert_dest = (uint32_t)a.destination_address;
		return 0;
	}
	case HVCALL_MODIFY_VTL_PROTECTION_MASK: {
		struct hv_input_modify_vtl_protection_mask m;
		memcpy(&m, ip, sizeof(m));
		protects++;
		last_protect_flags = m.map_flags;
		memcpy(&last_protect_gpn, ip + 16, 8);
		*result = (uint64_t)reps << 32;
		return 0;
	}
	default:
		*result = HV_STATUS_INVALID_HYPERCALL_CODE;
		return 0;
	}
}

int kif_vtl0_map(struct kif *kif, gpa_t base, size_t len, void **out)
{
	(void)kif;
	if (base.v != 0 || len > RAM_SIZE)
		return -EINVAL;
	*out = ram;
	return 0;
}
int kif_vtl0_unmap(struct kif *kif, void *addr, size_t len) { (void)kif; (void)addr; (void)len; return 0; }

/* ---- script helpers ---- */

#define RIP0 0x1000ull
#define X64_STATE 0x0010 /* execution_state: EFER.LMA, CPL 0 */

static struct hv_exit hdr(enum hv_exit_kind kind, unsigned len, unsigned access)
{
	struct hv_exit e;
	memset(&e, 0, sizeof(e));
	e.kind = kind;
	e.has_header = true;
	e.u.header.instruction_length_cr8 = (uint8_t)len;
	e.u.header.intercept_access_type = (uint8_t)access;
	e.u.header.execution_state = X64_STATE;
	e.u.header.cs = (struct hv_x64_segment_register){ 0, 0xFFFFFFFF, 0x08, 0xA09B };
	e.u.header.rip = RIP0 + 0x10 * nsteps;
	e.u.header.rflags = 0x2;
	return e;
}

static void push(const struct hv_exit *e, const struct mshv_abi_cpu_context *ctx)
{
	assert_true(nsteps < MAX_STEPS);
	struct step *s = &steps[nsteps++];
	assert_int_equal(hv_exit_encode(e, s->msg, sizeof(s->msg)), 0);
	if (ctx)
		s->ctx = *ctx;
	else
		memset(&s->ctx, 0, sizeof(s->ctx));
}

static void push_io(uint16_t port, unsigned size, bool write, uint64_t rax, uint64_t ctx_rax)
{
	struct hv_exit e = hdr(HV_EXIT_IO_PORT, 2, write ? 1 : 0);
	e.u.io.port_number = port;
	e.u.io.access_info = (uint8_t)size;
	e.u.io.rax = rax;
	struct mshv_abi_cpu_context c;
	memset(&c, 0, sizeof(c));
	c.rax = ctx_rax;
	push(&e, &c);
}

static void push_exit_port(uint32_t code) { push_io(GUEST_PORT_EXIT, 4, true, code, code); }

static char serial[4096];
static struct mini_vtl2_result res;

static int run(unsigned timeout_ms)
{
	FILE *f = fmemopen(serial, sizeof(serial) - 1, "w");
	assert_non_null(f);
	setvbuf(f, NULL, _IONBF, 0);
	struct mini_vtl2_config cfg = { .mem_size = RAM_SIZE, .serial_out = f,
					.timeout_ms = timeout_ms };
	int rc = mini_vtl2_run(&cfg, &res);
	fclose(f);
	return rc;
}

static int setup(void **state)
{
	(void)state;
	memset(steps, 0, sizeof(steps));
	memset(obs, 0, sizeof(obs));
	memset(run_page, 0, sizeof(run_page));
	memset(serial, 0, sizeof(serial));
	nsteps = cur = nregs = installs = asserts = protects = 0;
	atomic_store(&cancel_flag, 0);
	return 0;
}

/* ---- tests ---- */

static void test_io_echo_serial_and_pass(void **state)
{
	(void)state;
	push_io(GUEST_PORT_ECHO, 4, true, 0x11223344, 0x11223344);            /* 0 */
	push_io(GUEST_PORT_ECHO, 1, false, 0, 0xFFFFFFFFFFFFFFFFull);           /* 1 */
	push_io(GUEST_PORT_ECHO, 2, false, 0, 0xAAAAAAAAAAAAAAAAull);           /* 2 */
	push_io(GUEST_PORT_ECHO, 4, false, 0, 0xFFFFFFFFFFFFFFFFull);           /* 3 */
	push_io(GUEST_PORT_COM1, 1, true, 'h', 'h');                             /* 4 */
	push_io(GUEST_PORT_COM1, 1, true, '\r', '\r');                           /* 5 */
	push_io(GUEST_PORT_COM1, 1, true, '\n', '\n');                           /* 6 */
	push_io(GUEST_PORT_COM1_LSR, 1, false, 0, 0x1234);                       /* 7 */
	push_io(0xF5, 2, false, 0, 0);                                           /* 8: unassigned */
	push_exit_port(0);
	assert_int_equal(run(0), 0);
	assert_int_equal(res.outcome, MINI_VTL2_PASS);
	assert_int_equal(installs, 5);
	for (unsigned i = 0; i < 9; i++)
		assert_int_equal(obs[i].rip, RIP0 + 0x10 * i + 2); /* RIP += header length */
	assert_int_equal(obs[1].ctx.rax, 0xFFFFFFFFFFFFFF45ull); /* 8-bit: AL only */
	assert_int_equal(obs[2].ctx.rax, 0xAAAAAAAAAAAA3345ull); /* 16-bit: AX only */
	assert_int_equal(obs[3].ctx.rax, 0x11223345ull);         /* 32-bit: zero-extended */
	assert_int_equal(obs[7].ctx.rax, 0x1260);                /* LSR = 0x60 */
	assert_int_equal(obs[8].ctx.rax, 0xFFFF);                /* floats high */
	assert_string_equal(serial, "h\n");                      /* CR dropped */
	assert_int_equal(res.exits[MINI_VTL2_IO], 10);
	assert_int_equal(res.serial_bytes, 3);
}

static void test_failure_code(void **state)
{
	(void)state;
	push_exit_port(42);
	assert_int_equal(run(0), 0);
	assert_int_equal(res.outcome, MINI_VTL2_FAIL);
	assert_int_equal(res.exit_code, 42);
}

static void test_msr_cpuid_hypercall(void **state)
{
	(void)state;
	struct hv_exit e = hdr(HV_EXIT_MSR, 2, 1); /* wrmsr */
	e.u.msr.msr_number = GUEST_MSR_TEST_FIRST + 5;
	e.u.msr.rax = 0x55667788;
	e.u.msr.rdx = 0x11223344;
	push(&e, NULL);                                                     /* 0 */
	e = hdr(HV_EXIT_MSR, 2, 0);                                          /* 1: rdmsr */
	e.u.msr.msr_number = GUEST_MSR_TEST_FIRST + 5;
	push(&e, NULL);
	e = hdr(HV_EXIT_MSR, 2, 0);                                          /* 2: unknown */
	e.u.msr.msr_number = 0x12;
	push(&e, NULL);
	e = hdr(HV_EXIT_CPUID, 2, 0);                                        /* 3: our leaf */
	e.u.cpuid.rax = GUEST_CPUID_VENDOR_LEAF;
	push(&e, NULL);
	e = hdr(HV_EXIT_CPUID, 2, 0);                                        /* 4: defaults */
	e.u.cpuid.rax = 1;
	e.u.cpuid.default_result_rax = 0x111;
	e.u.cpuid.default_result_rbx = 0x222;
	e.u.cpuid.default_result_rcx = 0x333;
	e.u.cpuid.default_result_rdx = 0x444;
	push(&e, NULL);
	e = hdr(HV_EXIT_HYPERCALL, 0, 2);                                    /* 5 */
	e.u.hypercall.rcx = 0x7FFF;
	push(&e, NULL);
	push_exit_port(0);
	assert_int_equal(run(0), 0);
	assert_int_equal(res.outcome, MINI_VTL2_PASS);
	assert_int_equal(obs[0].rip, RIP0 + 2);
	assert_int_equal(obs[1].ctx.rax, 0x55667788);
	assert_int_equal(obs[1].ctx.rdx, 0x11223344);
	/* unknown MSR: #GP(0) pending, RIP stays on the instruction */
	assert_true(obs[2].pending_set);
	assert_int_equal((obs[2].pending.low >> 16) & 0xFFFF, 13);
	assert_true(obs[2].pending.low & (1u << 8)); /* deliver error code */
	assert_int_equal(obs[2].pending.low >> 32, 0);
	assert_int_equal(obs[2].rip, RIP0 + 0x20);
	assert_int_equal(obs[3].ctx.rax, GUEST_CPUID_VENDOR_MAX);
	assert_memory_equal(&obs[3].ctx.rbx, "Mezz", 4);
	assert_memory_equal(&obs[3].ctx.rcx, "SimV", 4);
	assert_memory_equal(&obs[3].ctx.rdx, "TL2 ", 4);
	assert_int_equal(obs[4].ctx.rax, 0x111);
	assert_int_equal(obs[4].ctx.rbx, 0x222);
	assert_int_equal(obs[4].ctx.rcx, 0x333);
	assert_int_equal(obs[4].ctx.rdx, 0x444);
	assert_int_equal(obs[5].ctx.rax, HV_STATUS_INVALID_HYPERCALL_CODE);
	assert_int_equal(obs[5].rip, RIP0 + 0x50 + 3);
	assert_int_equal(res.exits[MINI_VTL2_MSR], 3);
	assert_int_equal(res.exits[MINI_VTL2_CPUID], 2);
	assert_int_equal(res.exits[MINI_VTL2_HYPERCALL], 1);
}

static void test_irq_protect_and_gpa_intercept(void **state)
{
	(void)state;
	push_io(GUEST_PORT_IRQ, 1, true, 0x40, 0x40);         /* 0: assert 0x40 */
	push_io(GUEST_PORT_IRQ, 1, true, 0x05, 0x05);         /* 1: reserved vector: ignored */
	push_io(GUEST_PORT_PROTECT, 4, true, 0x10, 0x10);     /* 2: protect gpn 0x10 */
	push_io(GUEST_PORT_PROTECT, 4, true, 0xFFFFF, 0xFFFFF); /* 3: outside RAM: ignored */
	/* 4: a write to the protected page, header without instruction length: decoded */
	struct hv_exit e = hdr(HV_EXIT_MEMORY, 0, 1);
	e.memory_kind = HV_EXIT_MEMORY_GPA_INTERCEPT;
	e.u.memory.guest_physical_address = 0x10008;
	static const uint8_t movl[] = { 0xc7, 0x40, 0x08, 0x22, 0x22, 0x00, 0x00 }; /* movl $0x2222,8(%rax) */
	memcpy(e.u.memory.instruction_bytes, movl, sizeof(movl));
	e.u.memory.instruction_byte_count = sizeof(movl);
	push(&e, NULL);
	push_io(GUEST_PORT_PROT_COUNT, 4, false, 0, 0);       /* 5 */
	push_io(GUEST_PORT_UNPROTECT, 4, true, 0x10, 0x10);   /* 6 */
	push_exit_port(0);
	assert_int_equal(run(0), 0);
	assert_int_equal(res.outcome, MINI_VTL2_PASS);
	assert_int_equal(asserts, 1);
	assert_int_equal(last_assert_vector, 0x40);
	assert_int_equal(last_assert_dest, 0);
	assert_int_equal(protects, 2);
	assert_int_equal(last_protect_gpn, 0x10);
	assert_int_equal(last_protect_flags, HV_MAP_GPA_ALL); /* the unprotect came last */
	assert_int_equal(obs[4].rip, RIP0 + 0x40 + sizeof(movl));
	assert_int_equal(obs[5].ctx.rax, 1);
	assert_int_equal(res.vtlprot_hits, 1);
}

static void test_mmio_emulated(void **state)
{
	(void)state;
	/* 32-bit protected mode without paging keeps the fake simple: linear = physical. */
	set_reg(HV_X64_REGISTER_CR0, 0x11);
	set_reg(HV_X64_REGISTER_EFER, 0);
	set_reg(HV_X64_REGISTER_RFLAGS, 0x2);
	set_seg(HV_X64_REGISTER_CS, 0x08, 0xC09B);
	set_seg(HV_X64_REGISTER_DS, 0x10, 0xC093);
	set_seg(HV_X64_REGISTER_ES, 0x10, 0xC093);
	set_seg(HV_X64_REGISTER_SS, 0x10, 0xC093);
	struct hv_exit e = hdr(HV_EXIT_MEMORY, 2, 0);
	e.u.header.execution_state = 0x0004; /* CR0.PE, not LMA */
	e.u.header.cs = (struct hv_x64_segment_register){ 0, 0xFFFFFFFF, 0x08, 0xC09B };
	e.memory_kind = HV_EXIT_MEMORY_UNMAPPED_GPA;
	e.u.memory.guest_physical_address = GUEST_MMIO_BASE + 4;
	e.u.memory.instruction_bytes[0] = 0x8b; /* mov (%ebx), %eax */
	e.u.memory.instruction_bytes[1] = 0x03;
	e.u.memory.instruction_byte_count = 2;
	struct mshv_abi_cpu_context c;
	memset(&c, 0, sizeof(c));
	c.rbx = GUEST_MMIO_BASE + 4;
	c.rax = 0x1234567812345678ull;
	push(&e, &c);                                          /* 0: read */
	e.u.memory.instruction_bytes[0] = 0x89; /* mov %eax, (%ebx) */
	e.u.header.intercept_access_type = 1;
	c.rbx = GUEST_MMIO_BASE + GUEST_MMIO_SCRATCH;
	c.rax = 0xCAFEF00D;
	push(&e, &c);                                          /* 1: scratch write */
	e.u.memory.instruction_bytes[0] = 0x8b;
	e.u.header.intercept_access_type = 0;
	c.rax = 0;
	push(&e, &c);                                          /* 2: read it back */
	push_exit_port(0);
	assert_int_equal(run(0), 0);
	if (res.outcome != MINI_VTL2_PASS)
		fail_msg("outcome %d: %s", res.outcome, res.error);
	assert_int_equal(obs[0].ctx.rax, ((uint32_t)GUEST_MMIO_BASE + 4) ^ GUEST_MMIO_PATTERN);
	assert_int_equal(obs[0].rip, RIP0 + 2);
	assert_int_equal(obs[2].ctx.rax, 0xCAFEF00D);
	assert_int_equal(res.exits[MINI_VTL2_MMIO], 3);
}

/* Hostile or unexpected messages end the run as an error, never a crash. */
static void test_malformed_message(void **state)
{
	(void)state;
	struct step *s = &steps[nsteps++];
	memset(s->msg, 0, sizeof(s->msg));
	uint32_t type = HVMSG_X64_IO_PORT_INTERCEPT;
	memcpy(s->msg, &type, 4);
	s->msg[4] = 10; /* payload far too small for an IO message */
	assert_int_equal(run(0), 0);
	assert_int_equal(res.outcome, MINI_VTL2_ERROR);
	assert_non_null(strstr(res.error, "malformed"));
}

static void test_unknown_message(void **state)
{
	(void)state;
	struct step *s = &steps[nsteps++];
	memset(s->msg, 0, sizeof(s->msg));
	uint32_t type = 0x80000099u;
	memcpy(s->msg, &type, 4);
	s->msg[4] = 16;
	assert_int_equal(run(0), 0);
	assert_int_equal(res.outcome, MINI_VTL2_ERROR);
	assert_non_null(strstr(res.error, "unhandled message type 0x80000099"));
}

static void test_halt_with_interrupts_off_is_a_deadlock(void **state)
{
	(void)state;
	struct hv_exit e = hdr(HV_EXIT_HALT, 1, 0);
	push(&e, NULL);
	assert_int_equal(run(0), 0);
	assert_int_equal(res.outcome, MINI_VTL2_ERROR);
	assert_non_null(strstr(res.error, "halted with interrupts disabled"));
}

static void test_timeout(void **state)
{
	(void)state;
	push_io(GUEST_PORT_ECHO, 4, true, 1, 1);
	assert_int_equal(run(100), 0); /* then the VP "runs" forever */
	assert_int_equal(res.outcome, MINI_VTL2_ERROR);
	assert_non_null(strstr(res.error, "timeout"));
}

static void test_bad_config(void **state)
{
	(void)state;
	struct mini_vtl2_config cfg = { .mem_size = 4095 };
	assert_int_equal(mini_vtl2_run(&cfg, &res), -EINVAL);
	assert_int_equal(res.outcome, MINI_VTL2_ERROR);
	assert_string_equal(mini_vtl2_kind_name(MINI_VTL2_MMIO), "mmio");
	assert_string_equal(mini_vtl2_kind_name(999), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_io_echo_serial_and_pass, setup),
		cmocka_unit_test_setup(test_failure_code, setup),
		cmocka_unit_test_setup(test_msr_cpuid_hypercall, setup),
		cmocka_unit_test_setup(test_irq_protect_and_gpa_intercept, setup),
		cmocka_unit_test_setup(test_mmio_emulated, setup),
		cmocka_unit_test_setup(test_malformed_message, setup),
		cmocka_unit_test_setup(test_unknown_message, setup),
		cmocka_unit_test_setup(test_halt_with_interrupts_off_is_a_deadlock, setup),
		cmocka_unit_test_setup(test_timeout, setup),
		cmocka_unit_test_setup(test_bad_config, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
