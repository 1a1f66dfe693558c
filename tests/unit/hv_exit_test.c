/*
 * hv_exit codec tests. Messages are built byte by byte at the offsets of hyperv-abi-facts 2.3
 * and 2.4 (never through the structs under test), decoded, and every field is checked; then
 * encode(decode(raw)) must give back the same bytes and decode(encode(x)) the same exit.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "hvcall/hv_exit.h"

/* ---- byte-level builders (payload offset p is at message offset 16 + p) ---- */

static void put8(uint8_t *m, size_t off, uint8_t v) { m[off] = v; }
static void put16(uint8_t *m, size_t off, uint16_t v)
{
	for (int i = 0; i < 2; i++)
		m[off + i] = (uint8_t)(v >> (8 * i));
}
static void put32(uint8_t *m, size_t off, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		m[off + i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *m, size_t off, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		m[off + i] = (uint8_t)(v >> (8 * i));
}
#define P 16 /* payload offset within the message */

static void msg_init(uint8_t *m, uint32_t type, uint8_t payload_size)
{
	memset(m, 0, 256);
	put32(m, 0, type);
	put8(m, 4, payload_size);
	put8(m, 5, 0x01);                   /* message_pending */
	put64(m, 8, 0x0000000000ABCDEFull); /* sender */
}

/* Segment (2.6): 0 base, 8 limit, 12 selector, 14 attributes. */
static void put_seg(uint8_t *m, size_t off, uint64_t base, uint32_t limit, uint16_t sel, uint16_t attr)
{
	put64(m, off, base);
	put32(m, off + 8, limit);
	put16(m, off + 12, sel);
	put16(m, off + 14, attr);
}

/* Common intercept header (2.4) at payload offset 0. */
static void put_header(uint8_t *m, uint32_t vp, uint8_t insn_len, uint8_t cr8, uint8_t access, uint16_t exec)
{
	put32(m, P + 0, vp);
	put8(m, P + 4, (uint8_t)(insn_len | (cr8 << 4)));
	put8(m, P + 5, access);
	put16(m, P + 6, exec);
	put_seg(m, P + 8, 0x1000, 0xFFFFFFFF, 0x10, 0xA09B);
	put64(m, P + 24, 0xFFFFF80000401234ull);
	put64(m, P + 32, 0x246);
}

static void check_header(const struct hv_exit *e, uint32_t vp, unsigned insn_len, unsigned cr8, unsigned access,
			 uint16_t exec)
{
	assert_true(e->has_header);
	assert_int_equal(e->u.header.vp_index, vp);
	assert_int_equal(hv_exit_insn_len(e), insn_len);
	assert_int_equal(e->u.header.instruction_length_cr8 >> 4, cr8);
	assert_int_equal(e->u.header.intercept_access_type, access);
	assert_int_equal(e->u.header.execution_state, exec);
	assert_int_equal(e->u.header.cs.base, 0x1000);
	assert_int_equal(e->u.header.cs.limit, 0xFFFFFFFF);
	assert_int_equal(e->u.header.cs.selector, 0x10);
	assert_int_equal(e->u.header.cs.attributes, 0xA09B);
	assert_int_equal(e->u.header.rip, 0xFFFFF80000401234ull);
	assert_int_equal(e->u.header.rflags, 0x246);
	assert_int_equal(e->flags, HV_MESSAGE_FLAG_PENDING);
	assert_int_equal(e->sender, 0xABCDEF);
}

/* encode(decode(m)) == m and decode(encode(e)) == e. */
static void check_round_trip(const uint8_t *m, const struct hv_exit *e)
{
	uint8_t again[256];
	struct hv_exit e2;

	assert_int_equal(hv_exit_encode(e, again, sizeof(again)), 0);
	assert_memory_equal(again, m, 256);
	assert_int_equal(hv_exit_decode(again, sizeof(again), &e2), 0);
	assert_memory_equal(&e2, e, sizeof(e2));
}

/* ---- valid messages of every kind ---- */

static void build_io(uint8_t *m)
{
	msg_init(m, 0x80010000, 128);
	/* exec: CPL 3, PE, LMA, VTL 0 */
	put_header(m, 3, 2, 5, 1, 0x0017);
	put16(m, P + 40, 0x3F8);
	put8(m, P + 42, 0x01 | 0x08 | 0x10); /* size 1, string, rep */
	put8(m, P + 43, 2);
	put64(m, P + 48, 0x1122334455667788ull);
	put8(m, P + 56, 0xF3);
	put8(m, P + 57, 0x6E);
	put_seg(m, P + 72, 0x2000, 0xFFFF, 0x18, 0x0093);
	put_seg(m, P + 88, 0x3000, 0xFFFE, 0x20, 0x0093);
	put64(m, P + 104, 7);
	put64(m, P + 112, 0x5000);
	put64(m, P + 120, 0x6000);
}

static void test_decode_io(void **state)
{
	(void)state;
	uint8_t m[256];
	struct hv_exit e;

	build_io(m);
	assert_int_equal(hv_exit_decode(m, sizeof(m), &e), 0);
	assert_int_equal(e.kind, HV_EXIT_IO_PORT);
	assert_int_equal(e.message_type, 0x80010000);
	assert_int_equal(e.payload_size, 128);
	check_header(&e, 3, 2, 5, 1, 0x0017);
	assert_int_equal(hv_exit_cpl(&e), 3);
	assert_int_equal(hv_exit_vtl(&e), 0);
	assert_int_equal(e.u.io.port_number, 0x3F8);
	assert_int_equal(hv_exit_io_size(&e), 1);
	assert_true(hv_exit_io_is_write(&e));
	assert_true(hv_exit_io_is_string(&e));
	assert_true(hv_exit_io_is_rep(&e));
	assert_int_equal(e.u.io.instruction_byte_count, 2);
	assert_int_equal(e.u.io.rax, 0x1122334455667788ull);
	assert_int_equal(e.u.io.instruction_bytes[0], 0xF3);
	assert_int_equal(e.u.io.instruction_bytes[1], 0x6E);
	assert_int_equal(e.u.io.ds.base, 0x2000);
	assert_int_equal(e.u.io.ds.selector, 0x18);
	assert_int_equal(e.u.io.es.base, 0x3000);
	assert_int_equal(e.u.io.es.limit, 0xFFFE);
	assert_int_equal(e.u.io.rcx, 7);
	assert_int_equal(e.u.io.rsi, 0x5000);
	assert_int_equal(e.u.io.rdi, 0x6000);
	check_round_trip(m, &e);
}

static void build_memory(uint8_t *m, uint32_t type)
{
	msg_init(m, type, 80);
	put_header(m, 1, 3, 0, 1, 0x0010 | (2u << 7)); /* LMA, VTL 2 */
	put32(m, P + 40, 6);                        /* WB */
	put8(m, P + 44, 3);
	put8(m, P + 45, 0x03);                      /* GVA valid, GVA->GPA valid */
	put8(m, P + 46, 0x0A);
	put64(m, P + 48, 0xFFFF800000123456ull);
	put64(m, P + 56, 0xFEC00010ull);
	put8(m, P + 64, 0x89);
	put8(m, P + 65, 0x07);
	put8(m, P + 79, 0xCC);
}

static void test_decode_memory(void **state)
{
	(void)state;
	static const struct { uint32_t type; enum hv_exit_memory_kind mk; } cases[] = {
		{ 0x80000000, HV_EXIT_MEMORY_UNMAPPED_GPA },
		{ 0x80000001, HV_EXIT_MEMORY_GPA_INTERCEPT },
		{ 0x80000003, HV_EXIT_MEMORY_UNACCEPTED_GPA },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t m[256];
		struct hv_exit e;

		build_memory(m, cases[i].type);
		assert_int_equal(hv_exit_decode(m, sizeof(m), &e), 0);
		assert_int_equal(e.kind, HV_EXIT_MEMORY);
		assert_int_equal(e.memory_kind, cases[i].mk);
		check_header(&e, 1, 3, 0, 1, 0x0010 | (2u << 7));
		assert_int_equal(hv_exit_vtl(&e), 2);
		assert_int_equal(e.u.memory.cache_type, 6);
		assert_int_equal(e.u.memory.instruction_byte_count, 3);
		assert_int_equal(e.u.memory.memory_access_info, 0x03);
		assert_int_equal(e.u.memory.tpr_priority, 0x0A);
		assert_int_equal(e.u.memory.guest_virtual_address, 0xFFFF800000123456ull);
		assert_int_equal(e.u.memory.guest_physical_address, 0xFEC00010ull);
		assert_int_equal(e.u.memory.instruction_bytes[0], 0x89);
		assert_int_equal(e.u.memory.instruction_bytes[1], 0x07);
		assert_int_equal(e.u.memory.instruction_bytes[15], 0xCC);
		check_round_trip(m, &e);
	}
}

static void build_msr(uint8_t *m)
{
	msg_init(m, 0x80010001, 64);
	put_header(m, 0, 2, 0, 1, 0);
	put32(m, P + 40, 0x40000000);
	put64(m, P + 48, 0xAAAABBBB);
	put64(m, P + 56, 0xFFFFFFFF12345678ull);
}

static void test_decode_msr(void **state)
{
	(void)state;
	uint8_t m[256];
	struct hv_exit e;

	build_msr(m);
	assert_int_equal(hv_exit_decode(m, sizeof(m), &e), 0);
	assert_int_equal(e.kind, HV_EXIT_MSR);
	check_header(&e, 0, 2, 0, 1, 0);
	assert_int_equal(e.u.msr.msr_number, 0x40000000);
	assert_int_equal(e.u.msr.rdx, 0xAAAABBBB);
	assert_int_equal(e.u.msr.rax, 0xFFFFFFFF12345678ull);
	assert_int_equal(hv_exit_msr_value(&e), 0xAAAABBBB12345678ull);
	check_round_trip(m, &e);
}

static void build_cpuid(uint8_t *m)
{
	msg_init(m, 0x80010002, 104);
	put_header(m, 2, 2, 0, 2, 0);
	for (unsigned i = 0; i < 8; i++)
		put64(m, P + 40 + 8 * i, 0x100 + i);
}

static void test_decode_cpuid(void **state)
{
	(void)state;
	uint8_t m[256];
	struct hv_exit e;

	build_cpuid(m);
	assert_int_equal(hv_exit_decode(m, sizeof(m), &e), 0);
	assert_int_equal(e.kind, HV_EXIT_CPUID);
	check_header(&e, 2, 2, 0, 2, 0);
	assert_int_equal(e.u.cpuid.rax, 0x100);
	assert_int_equal(e.u.cpuid.rcx, 0x101);
	assert_int_equal(e.u.cpuid.rdx, 0x102);
	assert_int_equal(e.u.cpuid.rbx, 0x103);
	assert_int_equal(e.u.cpuid.default_result_rax, 0x104);
	assert_int_equal(e.u.cpuid.default_result_rcx, 0x105);
	assert_int_equal(e.u.cpuid.default_result_rdx, 0x106);
	assert_int_equal(e.u.cpuid.default_result_rbx, 0x107);
	check_round_trip(m, &e);
}

static void build_exception(uint8_t *m)
{
	msg_init(m, 0x80010003, 240);
	put_header(m, 4, 0, 0, 0, 0x0040);
	put16(m, P + 40, 14);
	put8(m, P + 42, 0x01);
	put8(m, P + 43, 16);
	put32(m, P + 44, 0x6);
	put64(m, P + 48, 0xDEADB000);
	for (unsigned i = 0; i < 16; i++)
		put8(m, P + 64 + i, (uint8_t)(0x90 + i));
	put_seg(m, P + 80, 0, 0xFFFFFFFF, 0x2B, 0xC0F3);
	put_seg(m, P + 96, 0, 0xFFFFFFFF, 0x23, 0xC0F3);
	for (unsigned i = 0; i < 16; i++)
		put64(m, P + 112 + 8 * i, 0x1000ull * (i + 1));
}

static void test_decode_exception(void **state)
{
	(void)state;
	uint8_t m[256];
	struct hv_exit e;

	build_exception(m);
	assert_int_equal(hv_exit_decode(m, sizeof(m), &e), 0);
	assert_int_equal(e.kind, HV_EXIT_EXCEPTION);
	check_header(&e, 4, 0, 0, 0, 0x0040);
	assert_int_equal(e.u.exception.exception_vector, 14);
	assert_int_equal(e.u.exception.exception_info, HV_X64_EXCEPTION_INFO_ERROR_CODE_VALID);
	assert_int_equal(e.u.exception.instruction_byte_count, 16);
	assert_int_equal(e.u.exception.error_code, 6);
	assert_int_equal(e.u.exception.exception_parameter, 0xDEADB000);
	assert_int_equal(e.u.exception.instruction_bytes[15], 0x9F);
	assert_int_equal(e.u.exception.ds.selector, 0x2B);
	assert_int_equal(e.u.exception.ss.selector, 0x23);
	assert_int_equal(e.u.exception.rax, 0x1000);
	assert_int_equal(e.u.exception.rcx, 0x2000);
	assert_int_equal(e.u.exception.rsp, 0x5000);
	assert_int_equal(e.u.exception.rdi, 0x8000);
	assert_int_equal(e.u.exception.r8, 0x9000);
	assert_int_equal(e.u.exception.r15, 0x10000);
	check_round_trip(m, &e);
}

static void build_hypercall(uint8_t *m)
{
	msg_init(m, 0x80000050, 208);
	put_header(m, 5, 3, 0, 2, 0x0014);
	for (unsigned i = 0; i < 7; i++)
		put64(m, P + 40 + 8 * i, 0xA0 + i);
	for (unsigned i = 0; i < 12; i++)
		put64(m, P + 96 + 8 * i, 0xB00 + i);
	put32(m, P + 192, 1);
}

static void test_decode_hypercall(void **state)
{
	(void)state;
	uint8_t m[256];
	struct hv_exit e;

	build_hypercall(m);
	assert_int_equal(hv_exit_decode(m, sizeof(m), &e), 0);
	assert_int_equal(e.kind, HV_EXIT_HYPERCALL);
	check_header(&e, 5, 3, 0, 2, 0x0014);
	assert_int_equal(e.u.hypercall.rax, 0xA0);
	assert_int_equal(e.u.hypercall.rbx, 0xA1);
	assert_int_equal(e.u.hypercall.rcx, 0xA2);
	assert_int_equal(e.u.hypercall.rdx, 0xA3);
	assert_int_equal(e.u.hypercall.r8, 0xA4);
	assert_int_equal(e.u.hypercall.rsi, 0xA5);
	assert_int_equal(e.u.hypercall.rdi, 0xA6);
	assert_int_equal(e.u.hypercall.xmm[0].low, 0xB00);
	assert_int_equal(e.u.hypercall.xmm[0].high, 0xB01);
	assert_int_equal(e.u.hypercall.xmm[5].high, 0xB0B);
	assert_int_equal(e.u.hypercall.flags, HV_HYPERCALL_INTERCEPT_IS_ISOLATED);
	check_round_trip(m, &e);
}

static void test_decode_header_only(void **state)
{
	(void)state;
	static const struct { uint32_t type; enum hv_exit_kind kind; } cases[] = {
		{ 0x80010007, HV_EXIT_HALT },
		{ 0x80000021, HV_EXIT_UNRECOVERABLE },
	};
	for (size_t i = 0; i < 2; i++) {
		uint8_t m[256];
		struct hv_exit e;

		msg_init(m, cases[i].type, 40);
		put_header(m, 9, 1, 0, 2, 0x0001);
		assert_int_equal(hv_exit_decode(m, sizeof(m), &e), 0);
		assert_int_equal(e.kind, cases[i].kind);
		check_header(&e, 9, 1, 0, 2, 0x0001);
		check_round_trip(m, &e);
	}
}

static void test_decode_apic_eoi(void **state)
{
	(void)state;
	uint8_t m[256];
	struct hv_exit e;

	msg_init(m, 0x80010004, 8);
	put32(m, P + 0, 7);
	put32(m, P + 4, 0x31);
	assert_int_equal(hv_exit_decode(m, sizeof(m), &e), 0);
	assert_int_equal(e.kind, HV_EXIT_APIC_EOI);
	assert_false(e.has_header);
	assert_int_equal(hv_exit_insn_len(&e), 0);
	assert_int_equal(e.u.apic_eoi.vp_index, 7);
	assert_int_equal(e.u.apic_eoi.interrupt_vector, 0x31);
	check_round_trip(m, &e);
}

static void test_decode_register(void **state)
{
	(void)state;
	uint8_t m[256];
	struct hv_exit e;

	msg_init(m, 0x80010006, 64);
	put_header(m, 1, 3, 0, 1, 0);
	put8(m, P + 40, 1);
	put32(m, P + 44, 0x00040000); /* CR0 */
	put64(m, P + 48, 0x80050033);
	put64(m, P + 56, 0x77);
	assert_int_equal(hv_exit_decode(m, sizeof(m), &e), 0);
	assert_int_equal(e.kind, HV_EXIT_REGISTER);
	check_header(&e, 1, 3, 0, 1, 0);
	assert_int_equal(e.u.reg.flags, HV_X64_REGISTER_INTERCEPT_IS_MEMORY_OP);
	assert_int_equal(e.u.reg.register_name, HV_X64_REGISTER_CR0);
	assert_int_equal(e.u.reg.value.low, 0x80050033);
	assert_int_equal(e.u.reg.value.high, 0x77);
	check_round_trip(m, &e);
}

static void test_decode_small_intercepts(void **state)
{
	(void)state;
	uint8_t m[256];
	struct hv_exit e;

	msg_init(m, 0x80000062, 48);
	put_header(m, 2, 0, 0, 0, 0);
	put16(m, P + 40, 0x0084);
	assert_int_equal(hv_exit_decode(m, sizeof(m), &e), 0);
	assert_int_equal(e.kind, HV_EXIT_SINT_DELIVERABLE);
	assert_int_equal(e.u.sint_deliverable.deliverable_sints, 0x84);
	check_round_trip(m, &e);

	msg_init(m, 0x80010008, 48);
	put_header(m, 2, 0, 0, 0, 0);
	put8(m, P + 40, 2);
	assert_int_equal(hv_exit_decode(m, sizeof(m), &e), 0);
	assert_int_equal(e.kind, HV_EXIT_INTERRUPTION_DELIVERABLE);
	assert_int_equal(e.u.interruption_deliverable.deliverable_type, HV_X64_DELIVERABLE_TYPE_NMI);
	check_round_trip(m, &e);

	msg_init(m, 0x80010009, 48);
	put_header(m, 0, 0, 0, 1, 0);
	put32(m, P + 40, 3);
	put32(m, P + 44, 0x9A);
	assert_int_equal(hv_exit_decode(m, sizeof(m), &e), 0);
	assert_int_equal(e.kind, HV_EXIT_SIPI);
	assert_int_equal(e.u.sipi.target_vp_index, 3);
	assert_int_equal(e.u.sipi.interrupt_vector, 0x9A);
	check_round_trip(m, &e);

	msg_init(m, 0x80000020, 8);
	put32(m, P + 0, 11);
	assert_int_equal(hv_exit_decode(m, sizeof(m), &e), 0);
	assert_int_equal(e.kind, HV_EXIT_INVALID_VP_REGISTER);
	assert_false(e.has_header);
	assert_int_equal(e.u.invalid_vp_register.vp_index, 11);
	check_round_trip(m, &e);

	msg_init(m, 0x80000010, 24);
	put32(m, P + 0, 2);
	put64(m, P + 8, 1000000);
	put64(m, P + 16, 1000050);
	assert_int_equal(hv_exit_decode(m, sizeof(m), &e), 0);
	assert_int_equal(e.kind, HV_EXIT_TIMER);
	assert_int_equal(e.u.timer.timer_index, 2);
	assert_int_equal(e.u.timer.expiration_time, 1000000);
	assert_int_equal(e.u.timer.delivery_time, 1000050);
	check_round_trip(m, &e);
}

static void test_decode_none(void **state)
{
	(void)state;
	uint8_t m[256];
	struct hv_exit e;

	memset(m, 0, sizeof(m));
	assert_int_equal(hv_exit_decode(m, sizeof(m), &e), 0);
	assert_int_equal(e.kind, HV_EXIT_NONE);
	check_round_trip(m, &e);
	/* Only the 16-byte header is needed to see an empty slot. */
	assert_int_equal(hv_exit_decode(m, 16, &e), 0);
	assert_int_equal(e.kind, HV_EXIT_NONE);
}

/* Larger payload_size than the layout: accepted, preserved by encode, trailing bytes ignored. */
static void test_decode_larger_payload(void **state)
{
	(void)state;
	uint8_t m[256];
	struct hv_exit e;

	build_msr(m);
	put8(m, 4, 240);
	assert_int_equal(hv_exit_decode(m, sizeof(m), &e), 0);
	assert_int_equal(e.payload_size, 240);
	check_round_trip(m, &e);
}

/* The decoder reads from unaligned buffers and ignores bytes past 256. */
static void test_decode_unaligned_long(void **state)
{
	(void)state;
	uint8_t buf[301];
	struct hv_exit e;

	memset(buf, 0xEE, sizeof(buf));
	build_cpuid(buf + 1);
	assert_int_equal(hv_exit_decode(buf + 1, 300, &e), 0);
	assert_int_equal(e.kind, HV_EXIT_CPUID);
	assert_int_equal(e.u.cpuid.default_result_rbx, 0x107);
}

/* ---- rejections ---- */

static void expect_reject(const uint8_t *m, size_t len, int err)
{
	struct hv_exit e;
	static const struct hv_exit zero;
	int rc = hv_exit_decode(m, len, &e);

	assert_int_equal(rc, err);
	/* Nothing half-decoded is left behind. */
	assert_int_equal(e.kind, HV_EXIT_NONE);
	assert_memory_equal(&e.u, &zero.u, sizeof(e.u));
}

static void test_reject_args(void **state)
{
	(void)state;
	uint8_t m[256];
	struct hv_exit e;

	build_io(m);
	assert_int_equal(hv_exit_decode(NULL, 256, &e), -EINVAL);
	assert_int_equal(hv_exit_decode(m, 256, NULL), -EINVAL);
	expect_reject(m, 0, -EINVAL);
	expect_reject(m, 15, -EINVAL);
	/* Header says 128 bytes of payload but the buffer ends early. */
	expect_reject(m, 16 + 127, -EINVAL);
	assert_int_equal(hv_exit_decode(m, 16 + 128, &e), 0);
}

static void test_reject_payload_size(void **state)
{
	(void)state;
	/* Layout sizes from hyperv-abi-facts 2.3/2.4. */
	static const struct { uint32_t type; uint8_t size; } cases[] = {
		{ 0x80010000, 128 }, { 0x80000000, 80 }, { 0x80000001, 80 }, { 0x80000003, 80 },
		{ 0x80010001, 64 }, { 0x80010002, 104 }, { 0x80010003, 240 }, { 0x80000050, 208 },
		{ 0x80010007, 40 }, { 0x80000021, 40 }, { 0x80010004, 8 }, { 0x80010006, 64 },
		{ 0x80000062, 48 }, { 0x80010008, 48 }, { 0x80010009, 48 }, { 0x80000020, 8 },
		{ 0x80000010, 24 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t m[256];
		struct hv_exit e;

		msg_init(m, cases[i].type, (uint8_t)(cases[i].size - 1));
		put8(m, P + 4, 2);    /* valid instruction length where required */
		put8(m, P + 42, 1);   /* valid IO size */
		expect_reject(m, sizeof(m), -EPROTO);
		assert_int_equal(hv_exit_decode(m, sizeof(m), &e), -EPROTO);
		assert_int_equal(e.message_type, cases[i].type);
		put8(m, 4, cases[i].size);
		assert_int_equal(hv_exit_decode(m, sizeof(m), &e), 0);
		assert_int_equal(hv_exit_payload_min(e.kind), cases[i].size);
	}
	/* > 240 is never valid, whatever the type. */
	{
		uint8_t m[256];
		build_io(m);
		put8(m, 4, 241);
		expect_reject(m, sizeof(m), -EPROTO);
		put8(m, 4, 255);
		expect_reject(m, sizeof(m), -EPROTO);
	}
}

static void test_reject_unknown_type(void **state)
{
	(void)state;
	static const uint32_t types[] = { 0x00000001, 0x80010013, 0x80000004, 0x8001000A, 0x12345678, 0xFFFFFFFF };
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		uint8_t m[256];
		struct hv_exit e;
		uint8_t again[256];

		msg_init(m, types[i], 5);
		put8(m, P + 0, 0xAB);
		put8(m, P + 4, 0xCD);
		assert_int_equal(hv_exit_decode(m, sizeof(m), &e), -ENOTSUP);
		assert_int_equal(e.kind, HV_EXIT_UNKNOWN);
		assert_int_equal(e.message_type, types[i]);
		assert_int_equal(e.payload_size, 5);
		assert_int_equal(e.u.raw[0], 0xAB);
		assert_int_equal(e.u.raw[4], 0xCD);
		/* Unknown messages still round-trip (the simulator can emit them). */
		assert_int_equal(hv_exit_encode(&e, again, sizeof(again)), 0);
		assert_memory_equal(again, m, 256);
	}
}

static void test_reject_io_fields(void **state)
{
	(void)state;
	uint8_t m[256];
	static const uint8_t bad_sizes[] = { 0, 3, 5, 6, 7 };

	for (size_t i = 0; i < sizeof(bad_sizes); i++) {
		build_io(m);
		put8(m, P + 42, bad_sizes[i]);
		expect_reject(m, sizeof(m), -EPROTO);
	}
	build_io(m);
	put8(m, P + 42, 2);
	struct hv_exit e;
	assert_int_equal(hv_exit_decode(m, sizeof(m), &e), 0);
	put8(m, P + 42, 4);
	assert_int_equal(hv_exit_decode(m, sizeof(m), &e), 0);

	build_io(m);
	put8(m, P + 43, 17);           /* instruction_byte_count > 16 */
	expect_reject(m, sizeof(m), -EPROTO);
	build_io(m);
	put8(m, P + 4, 0x50);          /* instruction length 0 (CR8 5) */
	expect_reject(m, sizeof(m), -EPROTO);
	build_io(m);
	put8(m, P + 5, 2);             /* execute access is not an IO access */
	expect_reject(m, sizeof(m), -EPROTO);
}

static void test_reject_other_fields(void **state)
{
	(void)state;
	uint8_t m[256];

	build_memory(m, 0x80000000);
	put8(m, P + 44, 17);
	expect_reject(m, sizeof(m), -EPROTO);
	build_memory(m, 0x80000001);
	put8(m, P + 5, 3);             /* access type > execute */
	expect_reject(m, sizeof(m), -EPROTO);

	build_msr(m);
	put8(m, P + 5, 2);
	expect_reject(m, sizeof(m), -EPROTO);
	build_msr(m);
	put8(m, P + 4, 0);
	expect_reject(m, sizeof(m), -EPROTO);

	build_cpuid(m);
	put8(m, P + 4, 0xF0);          /* length 0, CR8 15 */
	expect_reject(m, sizeof(m), -EPROTO);

	build_exception(m);
	put16(m, P + 40, 32);
	expect_reject(m, sizeof(m), -EPROTO);
	build_exception(m);
	put8(m, P + 43, 0xFF);
	expect_reject(m, sizeof(m), -EPROTO);

	build_hypercall(m);
	put8(m, P + 5, 0xFF);
	expect_reject(m, sizeof(m), -EPROTO);

	msg_init(m, 0x80010004, 8);
	put32(m, P + 4, 0x100);
	expect_reject(m, sizeof(m), -EPROTO);

	msg_init(m, 0x80010009, 48);
	put32(m, P + 44, 0x100);
	expect_reject(m, sizeof(m), -EPROTO);

	msg_init(m, 0x80010007, 40);
	put8(m, P + 5, 3);
	expect_reject(m, sizeof(m), -EPROTO);
}

static void test_encode_rejects(void **state)
{
	(void)state;
	uint8_t raw[256];
	struct hv_exit e;

	memset(&e, 0, sizeof(e));
	e.kind = HV_EXIT_HALT;
	assert_int_equal(hv_exit_encode(NULL, raw, sizeof(raw)), -EINVAL);
	assert_int_equal(hv_exit_encode(&e, NULL, sizeof(raw)), -EINVAL);
	assert_int_equal(hv_exit_encode(&e, raw, 255), -EINVAL);
	e.kind = HV_EXIT_KIND_COUNT;
	assert_int_equal(hv_exit_encode(&e, raw, sizeof(raw)), -EINVAL);
	e.kind = HV_EXIT_MEMORY;
	e.memory_kind = (enum hv_exit_memory_kind)7;
	assert_int_equal(hv_exit_encode(&e, raw, sizeof(raw)), -EINVAL);
	e.kind = HV_EXIT_UNKNOWN;
	e.message_type = HVMSG_X64_HALT;   /* known type must use its own kind */
	assert_int_equal(hv_exit_encode(&e, raw, sizeof(raw)), -EINVAL);
	e.message_type = HVMSG_NONE;
	assert_int_equal(hv_exit_encode(&e, raw, sizeof(raw)), -EINVAL);
	e.message_type = 0x12345678;
	e.payload_size = 241;
	assert_int_equal(hv_exit_encode(&e, raw, sizeof(raw)), -EINVAL);
}

/* Encoding a typed exit produces the layout bytes at the documented offsets. */
static void test_encode_bytes(void **state)
{
	(void)state;
	uint8_t raw[256];
	struct hv_exit e;

	memset(&e, 0, sizeof(e));
	e.kind = HV_EXIT_MEMORY;
	e.memory_kind = HV_EXIT_MEMORY_UNACCEPTED_GPA;
	e.u.memory.header.vp_index = 0x01020304;
	e.u.memory.guest_physical_address = 0x1122334455667788ull;
	assert_int_equal(hv_exit_encode(&e, raw, sizeof(raw)), 0);
	assert_int_equal(raw[0] | raw[1] << 8 | raw[2] << 16 | (uint32_t)raw[3] << 24, 0x80000003u);
	assert_int_equal(raw[4], 80);
	assert_int_equal(raw[P + 0], 0x04);
	assert_int_equal(raw[P + 3], 0x01);
	assert_int_equal(raw[P + 56], 0x88);
	assert_int_equal(raw[P + 63], 0x11);
	for (size_t i = P + 80; i < 256; i++)
		assert_int_equal(raw[i], 0);
}

static void test_kind_names(void **state)
{
	(void)state;
	assert_string_equal(hv_exit_kind_str(HV_EXIT_IO_PORT), "IO_PORT");
	assert_string_equal(hv_exit_kind_str(HV_EXIT_TIMER), "TIMER");
	assert_string_equal(hv_exit_kind_str(HV_EXIT_KIND_COUNT), "INVALID");
	for (int k = 0; k < HV_EXIT_KIND_COUNT; k++)
		assert_non_null(hv_exit_kind_str((enum hv_exit_kind)k));
	assert_int_equal(hv_exit_payload_min(HV_EXIT_KIND_COUNT), 0);
}

/*
 * `hv_exit_test --write-seeds DIR` writes one valid message of each kind (built by the byte
 * builders above) as fuzz seeds; run once to refresh tests/fuzz/seeds/hv_exit.
 */
static int write_seed(const char *dir, const char *name, const uint8_t *m)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(m, 1, 256, f) != 256) {
		perror(path);
		if (f)
			fclose(f);
		return 1;
	}
	return fclose(f) != 0;
}

static int write_seeds(const char *dir)
{
	uint8_t m[256];
	int bad = 0;

	build_io(m);
	bad |= write_seed(dir, "io_port", m);
	build_memory(m, 0x80000000);
	bad |= write_seed(dir, "unmapped_gpa", m);
	build_memory(m, 0x80000001);
	bad |= write_seed(dir, "gpa_intercept", m);
	build_msr(m);
	bad |= write_seed(dir, "msr", m);
	build_cpuid(m);
	bad |= write_seed(dir, "cpuid", m);
	build_exception(m);
	bad |= write_seed(dir, "exception", m);
	build_hypercall(m);
	bad |= write_seed(dir, "hypercall", m);
	msg_init(m, 0x80010007, 40);
	put_header(m, 1, 1, 0, 2, 0);
	bad |= write_seed(dir, "halt", m);
	msg_init(m, 0x80010004, 8);
	put32(m, P + 4, 0x31);
	bad |= write_seed(dir, "apic_eoi", m);
	msg_init(m, 0x80010009, 48);
	put_header(m, 0, 0, 0, 1, 0);
	put32(m, P + 44, 0x9A);
	bad |= write_seed(dir, "sipi", m);
	msg_init(m, 0x80000010, 24);
	put32(m, P + 0, 1);
	bad |= write_seed(dir, "timer", m);
	return bad;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--write-seeds") == 0)
		return write_seeds(argv[2]);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_io),
		cmocka_unit_test(test_decode_memory),
		cmocka_unit_test(test_decode_msr),
		cmocka_unit_test(test_decode_cpuid),
		cmocka_unit_test(test_decode_exception),
		cmocka_unit_test(test_decode_hypercall),
		cmocka_unit_test(test_decode_header_only),
		cmocka_unit_test(test_decode_apic_eoi),
		cmocka_unit_test(test_decode_register),
		cmocka_unit_test(test_decode_small_intercepts),
		cmocka_unit_test(test_decode_none),
		cmocka_unit_test(test_decode_larger_payload),
		cmocka_unit_test(test_decode_unaligned_long),
		cmocka_unit_test(test_reject_args),
		cmocka_unit_test(test_reject_payload_size),
		cmocka_unit_test(test_reject_unknown_type),
		cmocka_unit_test(test_reject_io_fields),
		cmocka_unit_test(test_reject_other_fields),
		cmocka_unit_test(test_encode_rejects),
		cmocka_unit_test(test_encode_bytes),
		cmocka_unit_test(test_kind_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
