/*
 * partition + vp over the scripted fake seam (tests/unit/fake_kif.h): each test queues intercept
 * messages (encoded with hv_exit_encode, or raw hostile bytes) for one or more VPs, runs the
 * partition and checks exactly what the paravisor left for VTL0 (run-page context, RIP, pending
 * event), what the devices saw and which hypercalls it made.
 *
 * Devices: a recording device of this file (ports 0x500-0x503, MMIO page 0xD0000000, MSRs
 * 0x12340000-3) and devices/testdev (exit, interrupt and protection ports). Device timers run
 * on a manual clock owned by the test, so delayed effects are fired deterministically.
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
#include <cmocka.h>

#include "arch/x86_64/x86_emu.h"
#include "arch/x86_64/x86_pagewalk.h"
#include "devices/testdev.h"
#include "hvcall/hv.h"
#include "hvcall/hv_exit.h"
#include "hvcall/mshv_abi.h"
#include "tests/unit/fake_kif.h"
#include "vtl2/cpuid.h"
#include "vtl2/partition.h"
#include "vtl2/vclock.h"

#define RAM_SIZE 0x200000ull
#define RIP0 0x1000ull
#define REC_PORT 0x500u
#define REC_MMIO 0xD0000000ull
#define REC_MSR 0x12340000u
#define UNCLAIMED_MMIO 0xD1000000ull

/* ---- the recording device ---- */

struct rec_access {
	uint64_t off;
	unsigned size;
	uint64_t value;
};

static struct rec {
	pthread_mutex_t lock;
	uint64_t pio_read_value;       /* returned unmasked: the core must cut it to size */
	struct rec_access pio_writes[16];
	unsigned npio_writes;
	uint8_t mmio[0x1000];
	struct rec_access mmio_last;
	unsigned nmmio_writes;
	uint64_t msr[4];               /* MSR 3 answers BAD_REGISTER */
} rec = { .lock = PTHREAD_MUTEX_INITIALIZER };

static enum iobus_action rec_pio_read(void *dev, const struct iobus_access *a, uint64_t off,
				      unsigned size, uint64_t *value)
{
	(void)dev, (void)a, (void)off, (void)size;
	pthread_mutex_lock(&rec.lock);
	*value = rec.pio_read_value;
	pthread_mutex_unlock(&rec.lock);
	return IOBUS_OK;
}

static enum iobus_action rec_pio_write(void *dev, const struct iobus_access *a, uint64_t off,
				       unsigned size, uint64_t value)
{
	(void)dev, (void)a;
	pthread_mutex_lock(&rec.lock);
	if (rec.npio_writes < 16)
		rec.pio_writes[rec.npio_writes++] = (struct rec_access){ off, size, value };
	pthread_mutex_unlock(&rec.lock);
	return IOBUS_OK;
}

static enum iobus_action rec_mmio_read(void *dev, const struct iobus_access *a, uint64_t off,
				       unsigned size, uint64_t *value)
{
	(void)dev, (void)a;
	uint64_t v = 0;
	pthread_mutex_lock(&rec.lock);
	memcpy(&v, &rec.mmio[off], size);
	pthread_mutex_unlock(&rec.lock);
	*value = v;
	return IOBUS_OK;
}

static enum iobus_action rec_mmio_write(void *dev, const struct iobus_access *a, uint64_t off,
					unsigned size, uint64_t value)
{
	(void)dev, (void)a;
	pthread_mutex_lock(&rec.lock);
	memcpy(&rec.mmio[off], &value, size);
	rec.mmio_last = (struct rec_access){ off, size, value };
	rec.nmmio_writes++;
	pthread_mutex_unlock(&rec.lock);
	return IOBUS_OK;
}

static enum iobus_action rec_msr_read(void *dev, const struct iobus_access *a, uint64_t off,
				      unsigned size, uint64_t *value)
{
	(void)dev, (void)a, (void)size;
	if (off == 3)
		return IOBUS_BAD_REGISTER;
	pthread_mutex_lock(&rec.lock);
	*value = rec.msr[off];
	pthread_mutex_unlock(&rec.lock);
	return IOBUS_OK;
}

static enum iobus_action rec_msr_write(void *dev, const struct iobus_access *a, uint64_t off,
				       unsigned size, uint64_t value)
{
	(void)dev, (void)a, (void)size;
	if (off == 3)
		return IOBUS_BAD_REGISTER;
	pthread_mutex_lock(&rec.lock);
	rec.msr[off] = value;
	pthread_mutex_unlock(&rec.lock);
	return IOBUS_OK;
}

static const struct iobus_ops rec_pio_ops = { .read = rec_pio_read, .write = rec_pio_write };
static const struct iobus_ops rec_mmio_ops = { .read = rec_mmio_read, .write = rec_mmio_write };
/* SynIC connection ids REC_CONN, REC_CONN + 1: what VTL0 posted / signalled, last one. */
#define REC_CONN 0x2001u
static struct {
	unsigned messages, events;
	uint32_t conn, type, len, vp;
	uint16_t flag;
	uint8_t payload[240];
} rec_conn;

static int rec_conn_message(void *dev, const struct iobus_access *a, uint32_t conn,
			    uint32_t type, const void *payload, uint32_t len)
{
	(void)dev;
	rec_conn.messages++;
	rec_conn.conn = conn;
	rec_conn.type = type;
	rec_conn.len = len;
	rec_conn.vp = a->vp;
	memcpy(rec_conn.payload, payload, len);
	return conn == REC_CONN + 1 ? -EAGAIN : 0; /* the second id answers "slot busy" */
}

static int rec_conn_event(void *dev, const struct iobus_access *a, uint32_t conn, uint16_t flag)
{
	(void)dev;
	(void)a;
	rec_conn.events++;
	rec_conn.conn = conn;
	rec_conn.flag = flag;
	return 0;
}

static const struct iobus_ops rec_conn_ops = { .message = rec_conn_message,
					       .event = rec_conn_event };

static const struct iobus_ops rec_msr_ops = { .read = rec_msr_read, .write = rec_msr_write };

/* ---- the partition under test ---- */

static struct partition *P;
static struct testdev *TD;
static struct vclock *mclock;
static struct devctx dctx;
static struct partition_result res;
static FILE *log_sink;
static atomic_uint idle_vps;
static atomic_uint eoi_vector;

/* Mode of the messages made by hdr() (execution state and CS in the intercept header). */
static uint16_t hdr_exec_state = HV_X64_EXEC_STATE_EFER_LMA;
static struct hv_x64_segment_register hdr_cs = { 0, 0xFFFFFFFF, 0x08, 0xA09B };

static int setup(void **state)
{
	(void)state;
	pthread_mutex_lock(&rec.lock);
	rec.pio_read_value = 0;
	rec.npio_writes = 0;
	rec.nmmio_writes = 0;
	memset(rec.mmio, 0, sizeof(rec.mmio));
	memset(rec.msr, 0, sizeof(rec.msr));
	pthread_mutex_unlock(&rec.lock);
	memset(&res, 0, sizeof(res));
	atomic_store(&idle_vps, 0);
	atomic_store(&eoi_vector, 0);
	hdr_exec_state = HV_X64_EXEC_STATE_EFER_LMA;
	hdr_cs = (struct hv_x64_segment_register){ 0, 0xFFFFFFFF, 0x08, 0xA09B };
	P = NULL;
	TD = NULL;
	mclock = NULL;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	testdev_destroy(TD);       /* before the partition: it cancels its timers on the clock */
	partition_destroy(P);
	vclock_destroy(mclock);
	P = NULL;
	TD = NULL;
	mclock = NULL;
	/* Every mapping and the VTL itself are given back. */
	assert_false(fake_kif_is_open());
	assert_int_equal(fake_kif_maps(), 0);
	return 0;
}

static void make_cfg(uint32_t vps, const struct partition_config *tweak)
{
	fake_kif_reset(vps);
	struct partition_config cfg;
	if (tweak)
		cfg = *tweak;
	else
		memset(&cfg, 0, sizeof(cfg));
	cfg.vp_count = vps;
	cfg.ram[0] = (struct partition_mem){ gpa(0), RAM_SIZE };
	cfg.ram_count = 1;
	cfg.log = log_sink;
	char err[256] = "";
	int rc = partition_create(&cfg, &P, err, sizeof(err));
	if (rc != 0)
		fail_msg("partition_create: %d %s", rc, err);
	assert_int_equal(vclock_create(true, &mclock), 0);
	dctx = *partition_devctx(P);
	dctx.clock = mclock;
	assert_int_equal(testdev_create(&dctx, &TD), 0);
	struct iobus *bus = partition_bus(P);
	assert_int_equal(iobus_register(bus, IOBUS_PIO, TESTDEV_PORT_BASE, TESTDEV_PORT_COUNT,
					&testdev_port_ops, TD, "testdev"), 0);
	assert_int_equal(iobus_register(bus, IOBUS_MMIO, TESTDEV_MMIO_BASE, TESTDEV_MMIO_SIZE,
					&testdev_mmio_ops, TD, "testdev"), 0);
	assert_int_equal(iobus_register(bus, IOBUS_MSR, TESTDEV_MSR_BASE, TESTDEV_MSR_COUNT,
					&testdev_msr_ops, TD, "testdev"), 0);
	assert_int_equal(iobus_register(bus, IOBUS_PIO, REC_PORT, 4, &rec_pio_ops, NULL, "rec"), 0);
	assert_int_equal(iobus_register(bus, IOBUS_MMIO, REC_MMIO, 0x1000, &rec_mmio_ops, NULL,
					"rec"), 0);
	assert_int_equal(iobus_register(bus, IOBUS_MSR, REC_MSR, 4, &rec_msr_ops, NULL, "rec"), 0);
	assert_int_equal(iobus_register(bus, IOBUS_CONN, REC_CONN, 2, &rec_conn_ops, NULL, "rec"),
			 0);
}

static void make(uint32_t vps)
{
	make_cfg(vps, NULL);
}

static void run(void)
{
	assert_int_equal(partition_run(P, &res), 0);
}

/* Stop once every VP has drained its script (the idle hook runs on the VP threads). */
static void stop_when_idle(void *ctx, uint32_t vp)
{
	(void)vp;
	if (atomic_fetch_add(&idle_vps, 1) + 1 == partition_vp_count(ctx))
		partition_stop(ctx);
}

static void run_idle(void)
{
	fake_kif_set_idle_hook(stop_when_idle, P);
	run();
	if (res.outcome != PARTITION_STOPPED)
		fail_msg("outcome %s: %s", partition_outcome_name(res.outcome), res.message);
}

/* ---- messages ---- */

static struct hv_exit hdr(uint32_t vp, enum hv_exit_kind kind, unsigned len, unsigned access)
{
	struct hv_exit e;
	memset(&e, 0, sizeof(e));
	e.kind = kind;
	e.has_header = true;
	e.u.header.vp_index = vp;
	e.u.header.instruction_length_cr8 = (uint8_t)len;
	e.u.header.intercept_access_type = (uint8_t)access;
	e.u.header.execution_state = hdr_exec_state;
	e.u.header.cs = hdr_cs;
	e.u.header.rip = RIP0 + 0x100 * fake_kif_steps(vp);
	e.u.header.rflags = 0x2;
	return e;
}

static uint64_t step_rip(unsigned step)
{
	return RIP0 + 0x100 * step;
}

static unsigned push(uint32_t vp, const struct hv_exit *e, const struct mshv_abi_cpu_context *ctx)
{
	uint8_t msg[256];
	assert_int_equal(hv_exit_encode(e, msg, sizeof(msg)), 0);
	return fake_kif_push_raw(vp, msg, ctx, 1);
}

static struct mshv_abi_cpu_context ctx_rax(uint64_t rax)
{
	struct mshv_abi_cpu_context c;
	memset(&c, 0, sizeof(c));
	c.rax = rax;
	return c;
}

/* The hypervisor reports RAX both in the message and in the context: keep them equal. */
static unsigned push_io(uint32_t vp, uint16_t port, unsigned size, bool write, uint64_t rax)
{
	struct hv_exit e = hdr(vp, HV_EXIT_IO_PORT, 2, write ? HV_INTERCEPT_ACCESS_WRITE
							    : HV_INTERCEPT_ACCESS_READ);
	e.u.io.port_number = port;
	e.u.io.access_info = (uint8_t)size;
	e.u.io.rax = rax;
	struct mshv_abi_cpu_context c = ctx_rax(rax);
	return push(vp, &e, &c);
}

static unsigned push_exit(uint32_t vp, uint32_t code)
{
	return push_io(vp, TESTDEV_PORT_EXIT, 4, true, code);
}

static unsigned push_msr(uint32_t vp, uint32_t msr, bool write, uint64_t value)
{
	struct hv_exit e = hdr(vp, HV_EXIT_MSR, 2, write ? HV_INTERCEPT_ACCESS_WRITE
							 : HV_INTERCEPT_ACCESS_READ);
	e.u.msr.msr_number = msr;
	e.u.msr.rax = write ? (uint32_t)value : ~0ull;
	e.u.msr.rdx = write ? value >> 32 : ~0ull;
	struct mshv_abi_cpu_context c = ctx_rax(e.u.msr.rax);
	c.rdx = e.u.msr.rdx;
	return push(vp, &e, &c);
}

static unsigned push_mem(uint32_t vp, enum hv_exit_memory_kind kind, bool write, uint64_t at,
			 const uint8_t *insn, unsigned n, const struct mshv_abi_cpu_context *ctx)
{
	struct hv_exit e = hdr(vp, HV_EXIT_MEMORY, n,
			       write ? HV_INTERCEPT_ACCESS_WRITE : HV_INTERCEPT_ACCESS_READ);
	e.memory_kind = kind;
	e.u.memory.guest_physical_address = at;
	e.u.memory.guest_virtual_address = at;
	memcpy(e.u.memory.instruction_bytes, insn, n);
	e.u.memory.instruction_byte_count = (uint8_t)n;
	return push(vp, &e, ctx);
}

static void set_seg(uint32_t vp, uint32_t name, uint16_t sel, uint16_t attr)
{
	union hv_register_value v;
	memset(&v, 0, sizeof(v));
	v.segment = (struct hv_x64_segment_register){ 0, 0xFFFFFFFF, sel, attr };
	fake_kif_set_reg_value(vp, name, &v);
}

/* 32-bit protected mode, paging off: linear = physical, the simplest emulator setting. */
static void mode_prot32(uint32_t vp)
{
	fake_kif_set_reg(vp, HV_X64_REGISTER_CR0, X86_CR0_PE | 0x10);
	fake_kif_set_reg(vp, HV_X64_REGISTER_CR3, 0);
	fake_kif_set_reg(vp, HV_X64_REGISTER_CR4, 0);
	fake_kif_set_reg(vp, HV_X64_REGISTER_EFER, 0);
	set_seg(vp, HV_X64_REGISTER_CS, 0x08, 0xC09B);
	static const uint32_t data[] = { HV_X64_REGISTER_DS, HV_X64_REGISTER_ES,
					 HV_X64_REGISTER_SS, HV_X64_REGISTER_FS,
					 HV_X64_REGISTER_GS };
	for (unsigned i = 0; i < 5; i++)
		set_seg(vp, data[i], 0x10, 0xC093);
	hdr_exec_state = HV_X64_EXEC_STATE_CR0_PE;
	hdr_cs = (struct hv_x64_segment_register){ 0, 0xFFFFFFFF, 0x08, 0xC09B };
}

/* Long mode with identity 1 GiB pages for the first 4 GiB except [4 GiB-..): tables in RAM. */
#define PML4_GPA 0x100000ull
#define PDPT_GPA 0x101000ull
static void mode_long(uint32_t vp)
{
	uint64_t *pml4 = fake_kif_ram(PML4_GPA, 4096), *pdpt = fake_kif_ram(PDPT_GPA, 4096);
	assert_non_null(pml4);
	assert_non_null(pdpt);
	pml4[0] = PDPT_GPA | 0x3;                     /* P | RW */
	for (uint64_t i = 0; i < 4; i++)
		pdpt[i] = (i << 30) | 0x83;            /* P | RW | PS: 1 GiB */
	fake_kif_set_reg(vp, HV_X64_REGISTER_CR0, X86_CR0_PE | X86_CR0_PG | 0x10);
	fake_kif_set_reg(vp, HV_X64_REGISTER_CR3, PML4_GPA);
	fake_kif_set_reg(vp, HV_X64_REGISTER_CR4, X86_CR4_PAE);
	fake_kif_set_reg(vp, HV_X64_REGISTER_EFER, X86_EFER_LME | X86_EFER_LMA);
	set_seg(vp, HV_X64_REGISTER_CS, 0x08, 0xA09B);
	static const uint32_t data[] = { HV_X64_REGISTER_DS, HV_X64_REGISTER_ES,
					 HV_X64_REGISTER_SS, HV_X64_REGISTER_FS,
					 HV_X64_REGISTER_GS };
	for (unsigned i = 0; i < 5; i++)
		set_seg(vp, data[i], 0x10, 0xC093);
	hdr_exec_state = HV_X64_EXEC_STATE_CR0_PE | HV_X64_EXEC_STATE_EFER_LMA;
	hdr_cs = (struct hv_x64_segment_register){ 0, 0xFFFFFFFF, 0x08, 0xA09B };
}

static struct fake_kif_obs obs(uint32_t vp, unsigned step)
{
	struct fake_kif_obs o = fake_kif_obs(vp, step);
	if (!o.valid)
		fail_msg("vp%u step %u was never completed (outcome %s: %s)", vp, step,
			 partition_outcome_name(res.outcome), res.message);
	return o;
}

static void assert_pending_exception(const struct fake_kif_obs *o, uint8_t vector, bool has_ec,
				     uint32_t ec, uint64_t param)
{
	union hv_register_value want = hv_pending_exception_make(vector, has_ec, ec, param);
	assert_int_equal(o->pending.low, want.low);
	assert_int_equal(o->pending.high, want.high);
}

/* Hypercall log entries of `code`, in order. */
static size_t calls_of(uint16_t code, struct fake_kif_call *out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < fake_kif_log_count(); i++) {
		struct fake_kif_call c = fake_kif_log(i);
		if (c.code != code)
			continue;
		if (n < max)
			out[n] = c;
		n++;
	}
	return n;
}

/* ---- port I/O ---- */

static void test_io_out_passes_masked_value_and_advances_rip(void **state)
{
	(void)state;
	make(1);
	unsigned s0 = push_io(0, REC_PORT + 2, 2, true, 0x123456789ABCDEF0ull);
	unsigned s1 = push_io(0, REC_PORT, 1, true, 0xFFFFFFFFFFFFFF41ull);
	unsigned s2 = push_io(0, REC_PORT, 4, true, 0xAAAAAAAA87654321ull);
	run_idle();
	assert_int_equal(rec.npio_writes, 3);
	assert_int_equal(rec.pio_writes[0].off, 2);
	assert_int_equal(rec.pio_writes[0].size, 2);
	assert_int_equal(rec.pio_writes[0].value, 0xDEF0);
	assert_int_equal(rec.pio_writes[1].value, 0x41);
	assert_int_equal(rec.pio_writes[2].value, 0x87654321);
	assert_int_equal(obs(0, s0).rip, step_rip(s0) + 2);
	assert_int_equal(obs(0, s1).rip, step_rip(s1) + 2);
	assert_int_equal(obs(0, s2).rip, step_rip(s2) + 2);
	/* OUT leaves RAX alone */
	assert_int_equal(obs(0, s0).ctx.rax, 0x123456789ABCDEF0ull);
	assert_int_equal(res.exits[PARTITION_EXIT_IO], 3);
	assert_int_equal(res.unclaimed, 0);
}

static void test_io_in_width_rules_for_rax(void **state)
{
	(void)state;
	make(1);
	rec.pio_read_value = 0xFEEDA1B2C3D4ull;
	const uint64_t rax = 0x1122334455667788ull;
	unsigned s8 = push_io(0, REC_PORT, 1, false, rax);
	unsigned s16 = push_io(0, REC_PORT, 2, false, rax);
	unsigned s32 = push_io(0, REC_PORT, 4, false, rax);
	run_idle();
	assert_int_equal(obs(0, s8).ctx.rax, 0x11223344556677D4ull);  /* AL only */
	assert_int_equal(obs(0, s16).ctx.rax, 0x112233445566C3D4ull); /* AX only */
	assert_int_equal(obs(0, s32).ctx.rax, 0x00000000A1B2C3D4ull); /* EAX, zero-extended */
	assert_int_equal(obs(0, s8).rip, step_rip(s8) + 2);
	assert_int_equal(obs(0, s32).rip, step_rip(s32) + 2);
}

static void test_io_unclaimed_port_reads_all_ones_and_drops_writes(void **state)
{
	(void)state;
	make(1);
	const uint64_t rax = 0x1122334455667788ull;
	unsigned s0 = push_io(0, 0x600, 2, false, rax);
	unsigned s1 = push_io(0, 0x600, 4, false, rax);
	unsigned s2 = push_io(0, TESTDEV_PORT_BASE + 1, 1, false, rax); /* a gap in testdev */
	unsigned s3 = push_io(0, 0x600, 1, true, rax);
	run_idle();
	assert_int_equal(obs(0, s0).ctx.rax, 0x112233445566FFFFull);
	assert_int_equal(obs(0, s1).ctx.rax, 0xFFFFFFFFull);
	assert_int_equal(obs(0, s2).ctx.rax, 0x11223344556677FFull);
	assert_int_equal(obs(0, s3).rip, step_rip(s3) + 2);
	assert_int_equal(rec.npio_writes, 0);
	assert_int_equal(res.unclaimed, 4);
	assert_int_equal(res.exits[PARTITION_EXIT_IO], 4);
}

static void test_io_test_exit_port_ends_run_with_code(void **state)
{
	(void)state;
	make(1);
	push_io(0, REC_PORT, 1, true, 1);
	push_exit(0, 42);
	unsigned after = push_io(0, REC_PORT, 1, true, 2);
	run();
	assert_int_equal(res.outcome, PARTITION_TEST_EXIT);
	assert_int_equal(res.code, 42);
	assert_int_equal(res.vp, 0);
	assert_int_equal(fake_kif_consumed(0), after); /* nothing after the exit ran */
	assert_int_equal(rec.npio_writes, 1);
}

static void test_string_io_rep_outsb_emulated(void **state)
{
	(void)state;
	make(1);
	mode_prot32(0);
	memcpy(fake_kif_ram(0x3000, 3), "hi!", 3);
	struct hv_exit e = hdr(0, HV_EXIT_IO_PORT, 2, HV_INTERCEPT_ACCESS_WRITE);
	e.u.io.port_number = REC_PORT;
	e.u.io.access_info = 1 | HV_X64_IO_ACCESS_STRING | HV_X64_IO_ACCESS_REP;
	e.u.io.instruction_bytes[0] = 0xF3; /* rep outsb */
	e.u.io.instruction_bytes[1] = 0x6E;
	e.u.io.instruction_byte_count = 2;
	e.u.io.rcx = 3;
	e.u.io.rsi = 0x3000;
	struct mshv_abi_cpu_context c = ctx_rax(0);
	c.rcx = 3;
	c.rsi = 0x3000;
	c.rdx = REC_PORT;
	unsigned s = push(0, &e, &c);
	run_idle();
	assert_int_equal(rec.npio_writes, 3);
	assert_int_equal(rec.pio_writes[0].value, 'h');
	assert_int_equal(rec.pio_writes[1].value, 'i');
	assert_int_equal(rec.pio_writes[2].value, '!');
	assert_int_equal(rec.pio_writes[2].size, 1);
	struct fake_kif_obs o = obs(0, s);
	assert_int_equal(o.ctx.rcx, 0);
	assert_int_equal(o.ctx.rsi, 0x3003);
	assert_int_equal(o.rip, step_rip(s) + 2);
	assert_int_equal(res.exits[PARTITION_EXIT_STRING_IO], 1);
}

/* ---- CPUID, MSR, hypercall, exceptions ---- */

static void test_cpuid_policy_results_in_rax_to_rdx(void **state)
{
	(void)state;
	make(2);
	struct mshv_abi_cpu_context ones;
	memset(&ones, 0xFF, sizeof(ones));
	/* leaf 1 on VP 1: hypervisor bit on, VMX/SMX/MONITOR off, APIC id 1, 2 logical CPUs */
	struct hv_exit e = hdr(1, HV_EXIT_CPUID, 2, HV_INTERCEPT_ACCESS_READ);
	e.u.cpuid.rax = 1;
	e.u.cpuid.default_result_rax = 0x806F8;
	e.u.cpuid.default_result_rbx = 0x00FF0800;
	e.u.cpuid.default_result_rcx = 0x7FFAFBFF;
	e.u.cpuid.default_result_rdx = 0x078BFBFF;
	unsigned s1 = push(1, &e, &ones);
	/* the Hyper-V vendor leaf on VP 0 */
	e = hdr(0, HV_EXIT_CPUID, 2, HV_INTERCEPT_ACCESS_READ);
	e.u.cpuid.rax = 0x40000000;
	e.u.cpuid.default_result_rax = 0x12345678;
	unsigned s0 = push(0, &e, &ones);
	/* a leaf the policy does not touch: the hypervisor's default goes through */
	e = hdr(0, HV_EXIT_CPUID, 2, HV_INTERCEPT_ACCESS_READ);
	e.u.cpuid.rax = 0;
	e.u.cpuid.default_result_rax = 0xD;
	e.u.cpuid.default_result_rbx = 0x756E6547;
	e.u.cpuid.default_result_rcx = 0x6C65746E;
	e.u.cpuid.default_result_rdx = 0x49656E69;
	unsigned s2 = push(0, &e, &ones);
	run_idle();
	struct fake_kif_obs o = obs(1, s1);
	assert_int_equal(o.ctx.rax, 0x806F8);
	assert_int_equal(o.ctx.rbx, 0x01020800);
	assert_int_equal(o.ctx.rcx, 0xFFFAFB97);
	assert_int_equal(o.ctx.rdx, 0x178BFBFF);
	assert_int_equal(o.rip, step_rip(s1) + 2);
	o = obs(0, s0);
	assert_int_equal(o.ctx.rax, CPUID_HV_MAX_LEAF);
	assert_int_equal(o.ctx.rbx, 0x7263694D); /* "Micr" */
	assert_int_equal(o.ctx.rcx, 0x666F736F); /* "osof" */
	assert_int_equal(o.ctx.rdx, 0x76482074); /* "t Hv" */
	o = obs(0, s2);
	assert_int_equal(o.ctx.rax, 0xD);
	assert_int_equal(o.ctx.rbx, 0x756E6547);
	assert_int_equal(o.ctx.rcx, 0x6C65746E);
	assert_int_equal(o.ctx.rdx, 0x49656E69);
	assert_int_equal(o.ctx.rsi, ~0ull); /* other GPRs untouched */
	assert_int_equal(res.exits[PARTITION_EXIT_CPUID], 3);
}

static void test_msr_read_write_via_bus_and_policy(void **state)
{
	(void)state;
	make(1);
	unsigned w = push_msr(0, REC_MSR + 1, true, 0x1122334455667788ull);
	unsigned r = push_msr(0, REC_MSR + 1, false, 0);
	unsigned pol = push_msr(0, 0x35, false, 0); /* MSR_CORE_THREAD_COUNT */
	run_idle();
	assert_int_equal(rec.msr[1], 0x1122334455667788ull);
	assert_int_equal(obs(0, w).rip, step_rip(w) + 2);
	struct fake_kif_obs o = obs(0, r);
	assert_int_equal(o.ctx.rax, 0x55667788);    /* zero-extended halves */
	assert_int_equal(o.ctx.rdx, 0x11223344);
	assert_int_equal(o.rip, step_rip(r) + 2);
	assert_int_equal(o.pending.low, 0);
	o = obs(0, pol);
	assert_int_equal(o.ctx.rax, 0x10001);
	assert_int_equal(o.ctx.rdx, 0);
	assert_int_equal(res.exits[PARTITION_EXIT_MSR], 3);
	assert_int_equal(res.injected, 0);
}

static void test_msr_unknown_or_refused_injects_gp(void **state)
{
	(void)state;
	make(1);
	unsigned unk = push_msr(0, 0x12, false, 0);
	unsigned bad = push_msr(0, REC_MSR + 3, true, 5);   /* device: BAD_REGISTER */
	unsigned ro = push_msr(0, 0x17, true, 0);           /* policy: read-only */
	run_idle();
	const unsigned steps[] = { unk, bad, ro };
	for (unsigned i = 0; i < 3; i++) {
		struct fake_kif_obs o = obs(0, steps[i]);
		assert_pending_exception(&o, X86_EXC_GP, true, 0, 0);
		assert_int_equal(o.rip, step_rip(steps[i])); /* the instruction did not complete */
	}
	assert_int_equal(res.injected, 3);
	assert_int_equal(res.bad_accesses, 1);
}

static void test_hypercall_answered_invalid_code_rip_plus_3(void **state)
{
	(void)state;
	make(1);
	/* No instruction length in the header: the core must use VMCALL's 3 bytes. */
	struct hv_exit e = hdr(0, HV_EXIT_HYPERCALL, 0, HV_INTERCEPT_ACCESS_EXECUTE);
	e.u.hypercall.rcx = 0x10007FFF;
	struct mshv_abi_cpu_context c = ctx_rax(0x5555);
	c.rcx = 0x10007FFF;
	unsigned s = push(0, &e, &c);
	run_idle();
	struct fake_kif_obs o = obs(0, s);
	assert_int_equal(o.ctx.rax, HV_STATUS_INVALID_HYPERCALL_CODE);
	assert_int_equal(o.rip, step_rip(s) + 3);
	assert_int_equal(res.exits[PARTITION_EXIT_HYPERCALL], 1);
}

/* One VMCALL intercept with RCX = control, RDX = input: the status VTL0 got in RAX. */
static uint64_t synic_hypercall(uint64_t control, uint64_t rdx)
{
	struct hv_exit e = hdr(0, HV_EXIT_HYPERCALL, 0, HV_INTERCEPT_ACCESS_EXECUTE);
	e.u.hypercall.rcx = control;
	e.u.hypercall.rdx = rdx;
	struct mshv_abi_cpu_context c = ctx_rax(0x5555);
	c.rcx = control;
	c.rdx = rdx;
	return (uint64_t)push(0, &e, &c);
}

/*
 * HvPostMessage / HvSignalEvent from VTL0 go to the device owning the connection id; the
 * input is checked the TLFS way (alignment, page crossing, reserved fields, 240-byte payload,
 * control word) and the status comes back in RAX.
 */
static void test_synic_hypercalls_routed_by_connection_id(void **state)
{
	(void)state;
	memset(&rec_conn, 0, sizeof(rec_conn));
	make(1);
	uint8_t *in = fake_kif_ram(0x5000, 4096);
	uint32_t hdr4[4] = { REC_CONN, 0, 1, 12 };
	memcpy(in, hdr4, 16);
	memcpy(in + 16, "hello, vmbus", 12);
	uint8_t *in2 = fake_kif_ram(0x6000, 4096);
	uint32_t busy[4] = { REC_CONN + 1, 0, 1, 0 };
	memcpy(in2, busy, 16);
	uint8_t *in3 = fake_kif_ram(0x7000, 4096);
	uint32_t big[4] = { REC_CONN, 0, 1, 241 };
	memcpy(in3, big, 16);
	uint8_t *in4 = fake_kif_ram(0x8000, 4096);
	uint32_t hv_type[4] = { REC_CONN, 0, 0x80000001u, 8 };
	memcpy(in4, hv_type, 16);
	uint8_t *in5 = fake_kif_ram(0x9000, 4096);
	uint32_t nobody[4] = { 0x4242, 0, 1, 8 };
	memcpy(in5, nobody, 16);
	const struct { uint64_t control, rdx, status; } calls[] = {
		{ HVCALL_POST_MESSAGE, 0x5000, HV_STATUS_SUCCESS },
		{ HVCALL_POST_MESSAGE, 0x6000, HV_STATUS_INSUFFICIENT_BUFFERS },
		{ HVCALL_POST_MESSAGE, 0x7000, HV_STATUS_INVALID_PARAMETER },        /* 241 bytes */
		{ HVCALL_POST_MESSAGE, 0x8000, HV_STATUS_INVALID_PARAMETER },        /* hv's type */
		{ HVCALL_POST_MESSAGE, 0x9000, HV_STATUS_INVALID_CONNECTION_ID },
		{ HVCALL_POST_MESSAGE, 0x5004, HV_STATUS_INVALID_ALIGNMENT },
		{ HVCALL_POST_MESSAGE, 0x5F08, HV_STATUS_INVALID_ALIGNMENT },        /* crosses a page */
		{ HVCALL_POST_MESSAGE, RAM_SIZE + 0x1000, HV_STATUS_ACCESS_DENIED },
		{ HVCALL_POST_MESSAGE | HV_HYPERCALL_FAST_BIT, 0x5000, HV_STATUS_INVALID_HYPERCALL_INPUT },
		{ HVCALL_POST_MESSAGE | (1ull << 32), 0x5000, HV_STATUS_INVALID_HYPERCALL_INPUT },
		{ HVCALL_SIGNAL_EVENT | HV_HYPERCALL_FAST_BIT, REC_CONN | (7ull << 32), HV_STATUS_SUCCESS },
		{ HVCALL_SIGNAL_EVENT | HV_HYPERCALL_FAST_BIT, REC_CONN | (2048ull << 32),
		  HV_STATUS_INVALID_PARAMETER },
		{ HVCALL_SIGNAL_EVENT | HV_HYPERCALL_FAST_BIT, 0x777, HV_STATUS_INVALID_CONNECTION_ID },
	};
	unsigned steps[sizeof(calls) / sizeof(calls[0])];
	for (unsigned i = 0; i < sizeof(calls) / sizeof(calls[0]); i++)
		steps[i] = (unsigned)synic_hypercall(calls[i].control, calls[i].rdx);
	run_idle();
	for (unsigned i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		struct fake_kif_obs o = obs(0, steps[i]);
		if (o.ctx.rax != calls[i].status)
			fail_msg("call %u: status 0x%llx, want 0x%llx", i,
				 (unsigned long long)o.ctx.rax, (unsigned long long)calls[i].status);
		assert_int_equal(o.rip, step_rip(steps[i]) + 3);
	}
	/* Two messages reached the device (the first and the busy one), one event. */
	assert_int_equal(rec_conn.messages, 2);
	assert_int_equal(rec_conn.events, 1);
	assert_int_equal(rec_conn.flag, 7);
	assert_int_equal(res.exits[PARTITION_EXIT_HYPERCALL], sizeof(calls) / sizeof(calls[0]));
}

static void test_exception_intercept_reflected_to_vtl0(void **state)
{
	(void)state;
	make(1);
	struct hv_exit e = hdr(0, HV_EXIT_EXCEPTION, 0, HV_INTERCEPT_ACCESS_READ);
	e.u.exception.exception_vector = X86_EXC_PF;
	e.u.exception.error_code = 6;
	e.u.exception.exception_parameter = 0xDEAD000;
	unsigned s = push(0, &e, NULL);
	run_idle();
	struct fake_kif_obs o = obs(0, s);
	assert_pending_exception(&o, X86_EXC_PF, true, 6, 0xDEAD000);
	assert_int_equal(o.rip, step_rip(s));
	assert_int_equal(res.exits[PARTITION_EXIT_EXCEPTION], 1);
}

/* ---- MMIO through the emulator ---- */

static void test_mmio_write_read_prot32_no_paging(void **state)
{
	(void)state;
	make(1);
	mode_prot32(0);
	static const uint8_t store[] = { 0x89, 0x18 }; /* mov [eax], ebx */
	static const uint8_t load[] = { 0x8B, 0x00 };  /* mov eax, [eax] */
	struct mshv_abi_cpu_context c = ctx_rax(REC_MMIO + 0x10);
	c.rbx = 0xCAFEF00D;
	unsigned w = push_mem(0, HV_EXIT_MEMORY_UNMAPPED_GPA, true, REC_MMIO + 0x10, store, 2, &c);
	c = ctx_rax(REC_MMIO + 0x10);
	unsigned r = push_mem(0, HV_EXIT_MEMORY_UNMAPPED_GPA, false, REC_MMIO + 0x10, load, 2, &c);
	run_idle();
	assert_int_equal(rec.nmmio_writes, 1);
	assert_int_equal(rec.mmio_last.off, 0x10);
	assert_int_equal(rec.mmio_last.size, 4);
	assert_int_equal(rec.mmio_last.value, 0xCAFEF00D);
	assert_int_equal(obs(0, w).rip, step_rip(w) + 2);
	assert_int_equal(obs(0, r).ctx.rax, 0xCAFEF00D);
	assert_int_equal(obs(0, r).rip, step_rip(r) + 2);
	assert_int_equal(res.exits[PARTITION_EXIT_MMIO], 2);
}

static void test_mmio_write_read_long_mode_identity_paging(void **state)
{
	(void)state;
	make(1);
	mode_long(0);
	static const uint8_t store[] = { 0x48, 0x89, 0x18 }; /* mov [rax], rbx */
	static const uint8_t load[] = { 0x48, 0x8B, 0x00 };  /* mov rax, [rax] */
	struct mshv_abi_cpu_context c = ctx_rax(REC_MMIO + 0x40);
	c.rbx = 0x0102030405060708ull;
	unsigned w = push_mem(0, HV_EXIT_MEMORY_UNMAPPED_GPA, true, REC_MMIO + 0x40, store, 3, &c);
	c = ctx_rax(REC_MMIO + 0x40);
	unsigned r = push_mem(0, HV_EXIT_MEMORY_UNMAPPED_GPA, false, REC_MMIO + 0x40, load, 3, &c);
	run_idle();
	assert_int_equal(rec.mmio_last.size, 8);
	assert_int_equal(rec.mmio_last.value, 0x0102030405060708ull);
	assert_int_equal(obs(0, w).rip, step_rip(w) + 3);
	assert_int_equal(obs(0, r).ctx.rax, 0x0102030405060708ull);
	assert_int_equal(obs(0, r).rip, step_rip(r) + 3);
	/* the walk set the accessed bit in VTL0's own tables, as hardware would */
	uint64_t *pdpt = fake_kif_ram(PDPT_GPA, 4096);
	assert_true(pdpt[3] & 0x20);
}

static void test_mmio_unmapped_linear_address_injects_page_fault(void **state)
{
	(void)state;
	make(1);
	mode_long(0);
	static const uint8_t store[] = { 0x89, 0x18 }; /* mov [rax], ebx */
	const uint64_t la = 5ull << 30;               /* PDPT entry 5 is not present */
	struct mshv_abi_cpu_context c = ctx_rax(la);
	unsigned s = push_mem(0, HV_EXIT_MEMORY_UNMAPPED_GPA, true, REC_MMIO, store, 2, &c);
	run_idle();
	struct fake_kif_obs o = obs(0, s);
	assert_pending_exception(&o, X86_EXC_PF, true, X86_PFERR_W, la);
	assert_int_equal(o.rip, step_rip(s));
	assert_int_equal(rec.nmmio_writes, 0);
}

static void test_mmio_unclaimed_forwarded_to_host(void **state)
{
	(void)state;
	make(1);
	mode_prot32(0);
	fake_kif_set_mmio_fill(0x5C);
	static const uint8_t load[] = { 0x8B, 0x00 };  /* mov eax, [eax] */
	static const uint8_t store[] = { 0x89, 0x18 }; /* mov [eax], ebx */
	struct mshv_abi_cpu_context c = ctx_rax(UNCLAIMED_MMIO + 8);
	unsigned r = push_mem(0, HV_EXIT_MEMORY_UNMAPPED_GPA, false, UNCLAIMED_MMIO + 8, load, 2,
			      &c);
	c = ctx_rax(UNCLAIMED_MMIO + 12);
	c.rbx = 0x87654321;
	push_mem(0, HV_EXIT_MEMORY_UNMAPPED_GPA, true, UNCLAIMED_MMIO + 12, store, 2, &c);
	run_idle();
	assert_int_equal(obs(0, r).ctx.rax, 0x5C5C5C5C);
	struct fake_kif_call calls[2];
	assert_int_equal(calls_of(HVCALL_MEMORY_MAPPED_IO_READ, calls, 2), 1);
	struct hv_input_memory_mapped_io_read rd;
	memcpy(&rd, calls[0].in, sizeof(rd));
	assert_int_equal(rd.gpa, UNCLAIMED_MMIO + 8);
	assert_int_equal(rd.access_width, 4);
	assert_int_equal(calls_of(HVCALL_MEMORY_MAPPED_IO_WRITE, calls, 2), 1);
	struct hv_input_memory_mapped_io_write wr;
	memcpy(&wr, calls[0].in, sizeof(wr));
	assert_int_equal(wr.gpa, UNCLAIMED_MMIO + 12);
	assert_int_equal(wr.access_width, 4);
	uint32_t data;
	memcpy(&data, wr.data, 4);
	assert_int_equal(data, 0x87654321);
	/* the host answered both: nothing counted as unclaimed */
	assert_int_equal(res.unclaimed, 0);
}

/* ---- memory protection ---- */

static void test_gpa_intercept_on_withheld_page_drops_write(void **state)
{
	(void)state;
	make(1);
	mode_prot32(0);
	uint32_t *word = fake_kif_ram(0x10008, 4);
	*word = 0x11111111;
	static const uint8_t store[] = { 0x89, 0x18 }; /* mov [eax], ebx */
	static const uint8_t load[] = { 0x8B, 0x00 };  /* mov eax, [eax] */
	push_io(0, TESTDEV_PORT_PROTECT, 4, true, 0x10);
	struct mshv_abi_cpu_context c = ctx_rax(0x10008);
	c.rbx = 0xDEADBEEF;
	unsigned w = push_mem(0, HV_EXIT_MEMORY_GPA_INTERCEPT, true, 0x10008, store, 2, &c);
	c = ctx_rax(0x10008);
	unsigned r = push_mem(0, HV_EXIT_MEMORY_GPA_INTERCEPT, false, 0x10008, load, 2, &c);
	unsigned cnt = push_io(0, TESTDEV_PORT_PROT_COUNT, 4, false, 0);
	push_io(0, TESTDEV_PORT_UNPROTECT, 4, true, 0x10);
	c = ctx_rax(0x10008);
	c.rbx = 0xDEADBEEF;
	push_mem(0, HV_EXIT_MEMORY_GPA_INTERCEPT, true, 0x10008, store, 2, &c);
	run_idle();
	assert_int_equal(obs(0, w).rip, step_rip(w) + 2);
	assert_int_equal(obs(0, r).ctx.rax, 0x11111111); /* the write never landed */
	assert_int_equal(obs(0, cnt).ctx.rax, 2);
	assert_int_equal(*word, 0xDEADBEEF);              /* after unprotect it does */
	assert_int_equal(res.gpa_hits, 3);
	assert_int_equal(res.exits[PARTITION_EXIT_GPA], 3);
	struct fake_kif_call calls[2];
	assert_int_equal(calls_of(HVCALL_MODIFY_VTL_PROTECTION_MASK, calls, 2), 2);
	struct hv_input_modify_vtl_protection_mask m;
	uint64_t page;
	memcpy(&m, calls[0].in, sizeof(m));
	memcpy(&page, calls[0].in + sizeof(m), 8);
	assert_int_equal(m.map_flags, HV_MAP_GPA_READABLE | HV_MAP_GPA_KERNEL_EXECUTABLE |
					      HV_MAP_GPA_USER_EXECUTABLE);
	assert_int_equal(m.target_vtl, hv_input_vtl(0));
	assert_int_equal(page, 0x10);
	memcpy(&m, calls[1].in, sizeof(m));
	assert_int_equal(m.map_flags, HV_MAP_GPA_ALL);
}

static void test_vtl2_memory_protected_at_create_and_never_exposed(void **state)
{
	(void)state;
	struct partition_config tweak;
	memset(&tweak, 0, sizeof(tweak));
	tweak.vtl2_mem[0] = (struct partition_mem){ gpa(0x180000), 0x3000 };
	tweak.vtl2_mem_count = 1;
	make_cfg(1, &tweak);
	/* Protected during create, before anything ran. */
	struct fake_kif_call calls[2];
	assert_int_equal(calls_of(HVCALL_MODIFY_VTL_PROTECTION_MASK, calls, 2), 1);
	struct hv_input_modify_vtl_protection_mask m;
	memcpy(&m, calls[0].in, sizeof(m));
	assert_int_equal(m.map_flags, HV_MAP_GPA_NONE);
	assert_int_equal(m.target_vtl, hv_input_vtl(0));
	assert_int_equal(hv_control_rep_count(calls[0].control), 3);
	for (unsigned i = 0; i < 3; i++) {
		uint64_t page;
		memcpy(&page, calls[0].in + sizeof(m) + 8 * i, 8);
		assert_int_equal(page, 0x180 + i);
	}
	/* VTL0 touching it (GPA intercept): reads all-ones, writes dropped, VTL2's bytes kept. */
	mode_prot32(0);
	uint32_t *secret = fake_kif_ram(0x181010, 4);
	*secret = 0x5EC2E7;
	static const uint8_t store[] = { 0x89, 0x18 };
	static const uint8_t load[] = { 0x8B, 0x00 };
	struct mshv_abi_cpu_context c = ctx_rax(0x181010);
	unsigned r = push_mem(0, HV_EXIT_MEMORY_GPA_INTERCEPT, false, 0x181010, load, 2, &c);
	c.rbx = 0xBAD;
	unsigned w = push_mem(0, HV_EXIT_MEMORY_GPA_INTERCEPT, true, 0x181010, store, 2, &c);
	run_idle();
	assert_int_equal(obs(0, r).ctx.rax, 0xFFFFFFFF);
	assert_int_equal(obs(0, w).rip, step_rip(w) + 2);
	assert_int_equal(*secret, 0x5EC2E7);
}

/* ---- stops ---- */

static void test_triple_fault_stops_vm(void **state)
{
	(void)state;
	make(1);
	push_io(0, REC_PORT, 1, true, 1);
	struct hv_exit e = hdr(0, HV_EXIT_UNRECOVERABLE, 0, HV_INTERCEPT_ACCESS_READ);
	unsigned tf = push(0, &e, NULL);
	push_io(0, REC_PORT, 1, true, 2);
	run();
	assert_int_equal(res.outcome, PARTITION_TRIPLE_FAULT);
	assert_int_equal(res.vp, 0);
	assert_non_null(strstr(res.message, "triple fault"));
	assert_int_equal(fake_kif_consumed(0), tf + 1);
	assert_int_equal(res.exits[PARTITION_EXIT_TRIPLE_FAULT], 1);
	assert_int_equal(rec.npio_writes, 1);
}

static void test_halt_with_if0_on_every_vp_is_all_halted(void **state)
{
	(void)state;
	make(2);
	for (uint32_t vp = 0; vp < 2; vp++) {
		struct hv_exit e = hdr(vp, HV_EXIT_HALT, 1, HV_INTERCEPT_ACCESS_READ);
		push(vp, &e, NULL);
	}
	run();
	assert_int_equal(res.outcome, PARTITION_ALL_HALTED);
	assert_int_equal(res.exits[PARTITION_EXIT_HALT], 2);
}

static void test_halt_with_if0_on_one_vp_waits_for_the_others(void **state)
{
	(void)state;
	make(2);
	struct hv_exit e = hdr(0, HV_EXIT_HALT, 1, HV_INTERCEPT_ACCESS_READ);
	push(0, &e, NULL);
	push_io(1, REC_PORT, 1, true, 7);
	push_exit(1, 3);
	run();
	assert_int_equal(res.outcome, PARTITION_TEST_EXIT);
	assert_int_equal(res.code, 3);
	assert_int_equal(res.vp, 1);
	assert_int_equal(rec.npio_writes, 1);
}

static void test_halt_with_if1_resumes_vp(void **state)
{
	(void)state;
	make(1);
	struct hv_exit e = hdr(0, HV_EXIT_HALT, 1, HV_INTERCEPT_ACCESS_READ);
	e.u.header.rflags = 0x202;
	push(0, &e, NULL);
	push_exit(0, 5);
	run();
	assert_int_equal(res.outcome, PARTITION_TEST_EXIT);
	assert_int_equal(res.code, 5);
	assert_int_equal(res.exits[PARTITION_EXIT_HALT], 1);
}

static void test_unknown_and_malformed_messages_counted_vm_keeps_going(void **state)
{
	(void)state;
	make(1);
	uint8_t msg[256];
	memset(msg, 0, sizeof(msg));
	uint32_t type = 0x80000099u;          /* unknown type */
	memcpy(msg, &type, 4);
	msg[4] = 16;
	fake_kif_push_raw(0, msg, NULL, 1);
	memset(msg, 0, sizeof(msg));
	type = HVMSG_X64_IO_PORT_INTERCEPT;   /* payload far too small for its layout */
	memcpy(msg, &type, 4);
	msg[4] = 10;
	fake_kif_push_raw(0, msg, NULL, 1);
	memset(msg, 0xFF, sizeof(msg));       /* payload size 255 > 240 */
	fake_kif_push_raw(0, msg, NULL, 1);
	struct hv_exit e = hdr(0, HV_EXIT_SIPI, 0, HV_INTERCEPT_ACCESS_READ);
	e.u.sipi.interrupt_vector = 0x10;     /* decoded, but never asked for */
	push(0, &e, NULL);
	memset(msg, 0, sizeof(msg));          /* HVMSG_NONE: an empty slot, not an error */
	fake_kif_push_raw(0, msg, NULL, 1);
	unsigned io = push_io(0, REC_PORT, 1, true, 0x99);
	run_idle();
	assert_int_equal(res.exits[PARTITION_EXIT_OTHER], 4);
	assert_int_equal(res.exits[PARTITION_EXIT_IO], 1);
	assert_int_equal(rec.npio_writes, 1);
	assert_int_equal(rec.pio_writes[0].value, 0x99);
	assert_int_equal(obs(0, io).rip, step_rip(io) + 2);
}

static void test_intercepts_installed_from_bus_ranges(void **state)
{
	(void)state;
	make(1);
	run_idle();
	struct fake_kif_call calls[64];
	size_t n = calls_of(HVCALL_INSTALL_INTERCEPT, calls, 64);
	assert_int_equal(n, 2 + 1 + cpuid_leaf_count + 1);
	struct hv_input_install_intercept ii[64];
	for (size_t i = 0; i < n; i++)
		memcpy(&ii[i], calls[i].in, sizeof(ii[i]));
	const uint32_t rw = HV_INTERCEPT_ACCESS_MASK_READ | HV_INTERCEPT_ACCESS_MASK_WRITE;
	/* port ranges in address order, each exactly what is registered */
	assert_int_equal(ii[0].intercept_type, HV_INTERCEPT_TYPE_X64_IO_PORT_RANGE);
	assert_int_equal(ii[0].access_type_mask, rw);
	assert_int_equal(ii[0].intercept_parameter,
			 hv_intercept_io_port_range(TESTDEV_PORT_BASE,
						    TESTDEV_PORT_BASE + TESTDEV_PORT_COUNT - 1));
	assert_int_equal(ii[1].intercept_type, HV_INTERCEPT_TYPE_X64_IO_PORT_RANGE);
	assert_int_equal(ii[1].intercept_parameter,
			 hv_intercept_io_port_range(REC_PORT, REC_PORT + 3));
	assert_int_equal(ii[2].intercept_type, HV_INTERCEPT_TYPE_X64_MSR);
	assert_int_equal(ii[2].access_type_mask, rw);
	for (size_t i = 0; i < cpuid_leaf_count; i++) {
		assert_int_equal(ii[3 + i].intercept_type, HV_INTERCEPT_TYPE_X64_CPUID);
		assert_int_equal(ii[3 + i].access_type_mask, HV_INTERCEPT_ACCESS_MASK_READ);
		assert_int_equal(ii[3 + i].intercept_parameter, cpuid_leaves[i]);
	}
	assert_int_equal(ii[n - 1].intercept_type, HV_INTERCEPT_TYPE_HYPERCALL);
	assert_int_equal(ii[n - 1].access_type_mask, HV_INTERCEPT_ACCESS_MASK_EXECUTE);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(ii[i].partition_id, HV_PARTITION_ID_SELF);
}

static void test_install_intercept_failure_fails_run(void **state)
{
	(void)state;
	make(1);
	fake_kif_fail_hvcall(HVCALL_INSTALL_INTERCEPT, HV_STATUS_ACCESS_DENIED);
	assert_true(partition_run(P, &res) < 0);
	assert_int_equal(res.outcome, PARTITION_ERROR);
	assert_non_null(strstr(res.message, "InstallIntercept"));
	assert_int_equal(fake_kif_consumed(0), 0);
}

/* An exit the paravisor leaves unanswered (a register intercept it never asked for), the
   same message at the same RIP: the VM stops after the limit instead of spinning. */
static void test_storm_guard_stops_after_limit(void **state)
{
	(void)state;
	make(1);
	struct hv_exit e = hdr(0, HV_EXIT_REGISTER, 3, HV_INTERCEPT_ACCESS_WRITE);
	uint8_t msg[256];
	assert_int_equal(hv_exit_encode(&e, msg, sizeof(msg)), 0);
	fake_kif_push_raw(0, msg, NULL, 100001);
	run();
	assert_int_equal(res.outcome, PARTITION_ERROR);
	assert_non_null(strstr(res.message, "without progress"));
	assert_int_equal(res.exits[PARTITION_EXIT_OTHER], 99999);
}

static void test_storm_guard_tolerates_limit_repeats(void **state)
{
	(void)state;
	make(1);
	struct hv_exit e = hdr(0, HV_EXIT_REGISTER, 3, HV_INTERCEPT_ACCESS_WRITE);
	uint8_t msg[256];
	assert_int_equal(hv_exit_encode(&e, msg, sizeof(msg)), 0);
	fake_kif_push_raw(0, msg, NULL, 99999);
	push_exit(0, 0);
	run();
	assert_int_equal(res.outcome, PARTITION_TEST_EXIT);
	assert_int_equal(res.exits[PARTITION_EXIT_OTHER], 99999);
}

/* Answered exits at one RIP (a guest loop on a #GP'ing RDMSR) are the guest's business: far
   past the limit, the VM goes on. */
static void test_answered_exits_never_trip_the_storm_guard(void **state)
{
	(void)state;
	make(1);
	struct hv_exit e = hdr(0, HV_EXIT_MSR, 2, HV_INTERCEPT_ACCESS_READ);
	e.u.msr.msr_number = 0x12; /* #GP each time: RIP never moves */
	uint8_t msg[256];
	assert_int_equal(hv_exit_encode(&e, msg, sizeof(msg)), 0);
	fake_kif_push_raw(0, msg, NULL, 150000);
	push_exit(0, 0);
	run();
	assert_int_equal(res.outcome, PARTITION_TEST_EXIT);
	assert_int_equal(res.exits[PARTITION_EXIT_MSR], 150000);
}

static void test_timeout_stops_a_vp_that_never_exits(void **state)
{
	(void)state;
	struct partition_config tweak;
	memset(&tweak, 0, sizeof(tweak));
	tweak.timeout_ms = 30;
	make_cfg(1, &tweak);
	run(); /* the empty script blocks in kif_vp_run until the watchdog cancels it */
	assert_int_equal(res.outcome, PARTITION_TIMEOUT);
	assert_true(res.exits[PARTITION_EXIT_CANCEL] >= 1);
	assert_true(res.wall_seconds >= 0.025);
}

/* ---- interrupts ---- */

static void record_eoi(void *ctx, uint8_t vector)
{
	(void)ctx;
	atomic_store(&eoi_vector, vector);
}

static void test_interrupts_asserted_and_eoi_forwarded(void **state)
{
	(void)state;
	make(2);
	partition_set_eoi(P, (struct irq_eoi){ .eoi = record_eoi, .ctx = NULL });
	push_io(1, TESTDEV_PORT_IRQ, 1, true, 0x40);
	push_io(1, TESTDEV_PORT_IRQ_DELAYED, 1, true, 0x41);
	struct hv_exit e;
	memset(&e, 0, sizeof(e));
	e.kind = HV_EXIT_APIC_EOI;
	e.u.apic_eoi.vp_index = 0;
	e.u.apic_eoi.interrupt_vector = 0x31;
	push(0, &e, NULL);
	run_idle();
	assert_int_equal(atomic_load(&eoi_vector), 0x31);
	assert_int_equal(res.exits[PARTITION_EXIT_APIC_EOI], 1);
	struct fake_kif_call calls[4];
	assert_int_equal(calls_of(HVCALL_ASSERT_VIRTUAL_INTERRUPT, calls, 4), 1);
	struct hv_input_assert_virtual_interrupt a;
	memcpy(&a, calls[0].in, sizeof(a));
	assert_int_equal(a.requested_vector, 0x40);
	assert_int_equal(a.destination_address, 1);
	assert_int_equal(a.interrupt_control, HV_X64_INTERRUPT_TYPE_FIXED);
	assert_int_equal(a.target_vtl, 0);
	/* the delayed one fires on the device clock, after 5 ms of it */
	vclock_advance(mclock, TESTDEV_IRQ_DELAY_NS - 1);
	assert_int_equal(calls_of(HVCALL_ASSERT_VIRTUAL_INTERRUPT, calls, 4), 1);
	vclock_advance(mclock, 1);
	assert_int_equal(calls_of(HVCALL_ASSERT_VIRTUAL_INTERRUPT, calls, 4), 2);
	memcpy(&a, calls[1].in, sizeof(a));
	assert_int_equal(a.requested_vector, 0x41);
	assert_int_equal(a.destination_address, 1);
}

/* ---- configuration errors ---- */

static void test_create_rejects_bad_config_and_releases_kif(void **state)
{
	(void)state;
	fake_kif_reset(2);
	struct partition_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.log = log_sink;
	char err[256] = "";
	struct partition *p = NULL;
	assert_int_equal(partition_create(&cfg, &p, err, sizeof(err)), -EINVAL); /* no RAM */
	assert_non_null(strstr(err, "memory map"));
	cfg.ram[0] = (struct partition_mem){ gpa(0), RAM_SIZE };
	cfg.ram_count = 1;
	cfg.vp_count = 3; /* the kernel offers 2 */
	assert_int_equal(partition_create(&cfg, &p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "3 VPs requested"));
	cfg.vp_count = 1;
	cfg.vtl2_mem[0] = (struct partition_mem){ gpa(RAM_SIZE), 0x1000 }; /* not RAM */
	cfg.vtl2_mem_count = 1;
	assert_true(partition_create(&cfg, &p, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "VTL2 memory"));
	assert_null(P);
}

int main(void)
{
	log_sink = fopen("/dev/null", "w"); /* VTL0-triggered warnings are expected here */
	if (!log_sink)
		return 1;
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_io_out_passes_masked_value_and_advances_rip),
		T(test_io_in_width_rules_for_rax),
		T(test_io_unclaimed_port_reads_all_ones_and_drops_writes),
		T(test_io_test_exit_port_ends_run_with_code),
		T(test_string_io_rep_outsb_emulated),
		T(test_cpuid_policy_results_in_rax_to_rdx),
		T(test_msr_read_write_via_bus_and_policy),
		T(test_msr_unknown_or_refused_injects_gp),
		T(test_hypercall_answered_invalid_code_rip_plus_3),
		T(test_synic_hypercalls_routed_by_connection_id),
		T(test_exception_intercept_reflected_to_vtl0),
		T(test_mmio_write_read_prot32_no_paging),
		T(test_mmio_write_read_long_mode_identity_paging),
		T(test_mmio_unmapped_linear_address_injects_page_fault),
		T(test_mmio_unclaimed_forwarded_to_host),
		T(test_gpa_intercept_on_withheld_page_drops_write),
		T(test_vtl2_memory_protected_at_create_and_never_exposed),
		T(test_triple_fault_stops_vm),
		T(test_halt_with_if0_on_every_vp_is_all_halted),
		T(test_halt_with_if0_on_one_vp_waits_for_the_others),
		T(test_halt_with_if1_resumes_vp),
		T(test_unknown_and_malformed_messages_counted_vm_keeps_going),
		T(test_intercepts_installed_from_bus_ranges),
		T(test_install_intercept_failure_fails_run),
		T(test_storm_guard_stops_after_limit),
		T(test_storm_guard_tolerates_limit_repeats),
		T(test_answered_exits_never_trip_the_storm_guard),
		T(test_timeout_stops_a_vp_that_never_exits),
		T(test_interrupts_asserted_and_eoi_forwarded),
		T(test_create_rejects_bad_config_and_releases_kif),
#undef T
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	fake_kif_fini();
	fclose(log_sink);
	return rc;
}
