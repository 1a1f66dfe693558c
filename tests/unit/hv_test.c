/*
 * hvcall/hv.h encoders and hvcall/hv.c tables: control/result words against the bit positions
 * of hyperv-abi-facts 2.1 (expected values written as literals), register value encoders
 * against 2.5, and the status/message-type name and errno tables against the doc's lists.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "hvcall/hv.h"

static void test_control_word(void **state)
{
	(void)state;
	/* code 0-15, fast 16, varhead 17-26, rep count 32-43, rep start 48-59. */
	assert_int_equal(hv_control_make(0x0050, 3, 1, 0, false), 0x0001000300000050ull);
	assert_int_equal(hv_control_make(0x005D, 0, 0, 0, true), 0x000000000001005Dull);
	assert_int_equal(hv_control_make(0x0013, 0, 0, 2, false), 0x0000000000040013ull);
	assert_int_equal(hv_control_make(0x0014, 0xFFF, 0xFFF, 0x3FF, true), 0x0FFF0FFF07FF0014ull);
	/* Oversized fields never spill into reserved bits. */
	uint64_t c = hv_control_make(0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, true);
	assert_int_equal(c & HV_HYPERCALL_RSVD_MASK, 0);
	assert_int_equal(c & HV_HYPERCALL_NESTED_BIT, 0);
	assert_int_equal(HV_HYPERCALL_RSVD_MASK, 0xF000F00078000000ull);

	c = 0x0ABC0123000A0051ull | HV_HYPERCALL_FAST_BIT;
	assert_int_equal(hv_control_code(c), 0x51);
	assert_true(hv_control_fast(c));
	assert_int_equal(hv_control_var_hdr_qwords(c), 5);
	assert_int_equal(hv_control_rep_count(c), 0x123);
	assert_int_equal(hv_control_rep_start(c), 0xABC);
}

static void test_result_word(void **state)
{
	(void)state;
	/* status 0-15, reps completed 32-43; reserved bits ignored. */
	assert_int_equal(hv_result_status(0x0000000500000078ull), 0x78);
	assert_int_equal(hv_result_reps(0x0000000500000078ull), 5);
	assert_int_equal(hv_result_status(0xFFFFF000FFFF0006ull), 6);
	assert_int_equal(hv_result_reps(0xFFFFF000FFFF0006ull), 0);
	assert_int_equal(hv_result_reps(0x00000FFF00000000ull), 0xFFF);
	assert_int_equal(hv_result_make(HV_STATUS_TIME_OUT, 0x123), 0x0000012300000078ull);
}

static void test_input_vtl(void **state)
{
	(void)state;
	assert_int_equal(hv_input_vtl(0), 0x10);
	assert_int_equal(hv_input_vtl(2), 0x12);
	assert_int_equal(hv_input_vtl(0x1F), 0x1F);
	assert_int_equal(HV_INPUT_VTL_CURRENT, 0);
	assert_int_equal(HV_PARTITION_ID_SELF, 0xFFFFFFFFFFFFFFFFull);
	assert_int_equal(HV_VP_INDEX_SELF, 0xFFFFFFFEu);
	assert_int_equal(HV_ANY_VP, 0xFFFFFFFFu);
}

static void test_pending_encoders(void **state)
{
	(void)state;
	/* #PF with error code 6 and CR2 parameter: pending, type 0, deliver EC (bit 8),
	 * vector 14 at 16, error code at 32, parameter = high qword. */
	union hv_register_value v = hv_pending_exception_make(14, true, 6, 0xDEAD000);
	assert_int_equal(v.low, 0x00000006000E0101ull);
	assert_int_equal(v.high, 0xDEAD000);
	assert_int_equal(v.reg128.low, v.low);
	v = hv_pending_exception_make(6, false, 0, 0);
	assert_int_equal(v.low, 0x0000000000060001ull);

	/* PendingInterruption: NMI (type 2) vector 2; #GP (type 3) with error code 0x10, len 0. */
	assert_int_equal(hv_pending_interruption_make(HV_X64_PENDING_NMI, 2, false, 0, 0), 0x0000000000020005ull);
	assert_int_equal(hv_pending_interruption_make(HV_X64_PENDING_HW_EXCEPTION, 13, true, 0x10, 0),
			 0x00000010000D0017ull);
	/* Software interrupt with 2-byte instruction length (bits 5-8). */
	assert_int_equal(hv_pending_interruption_make(HV_X64_PENDING_SW_INTERRUPT, 0x80, false, 0, 2),
			 0x0000000000800049ull);
}

static void test_register_value_views(void **state)
{
	(void)state;
	union hv_register_value v;

	memset(&v, 0, sizeof(v));
	for (int i = 0; i < 16; i++)
		v.bytes[i] = (uint8_t)(i + 1);
	assert_int_equal(v.reg8, 0x01);
	assert_int_equal(v.reg16, 0x0201);
	assert_int_equal(v.reg32, 0x04030201);
	assert_int_equal(v.reg64, 0x0807060504030201ull);
	assert_int_equal(v.low, 0x0807060504030201ull);
	assert_int_equal(v.high, 0x100F0E0D0C0B0A09ull);
	/* Segment view (2.6): base 0, limit 8, selector 12, attributes 14. */
	assert_int_equal(v.segment.base, 0x0807060504030201ull);
	assert_int_equal(v.segment.limit, 0x0C0B0A09);
	assert_int_equal(v.segment.selector, 0x0E0D);
	assert_int_equal(v.segment.attributes, 0x100F);
	/* Table view: limit 6, base 8. */
	assert_int_equal(v.table.limit, 0x0807);
	assert_int_equal(v.table.base, 0x100F0E0D0C0B0A09ull);
}

static void test_register_names(void **state)
{
	(void)state;
	/* Spot checks against 2.5 and 1.4. */
	assert_int_equal(HV_X64_REGISTER_REG_PAGE, 0x0009001C);
	assert_int_equal(HV_REGISTER_VSM_PARTITION_CONFIG, 0x000D0007);
	assert_int_equal(HV_REGISTER_VSM_VP_SECURE_CONFIG_VTL14, 0x000D001E);
	assert_int_equal(HV_X64_REGISTER_R15, 0x0002000F);
	assert_int_equal(HV_X64_REGISTER_RFLAGS, 0x00020011);
	assert_int_equal(HV_X64_REGISTER_XMM_CONTROL_STATUS, 0x00030019);
	assert_int_equal(HV_X64_REGISTER_INTERMEDIATE_CR8, 0x00041004);
	assert_int_equal(HV_X64_REGISTER_DR7, 0x00050005);
	assert_int_equal(HV_X64_REGISTER_TR, 0x00060007);
	assert_int_equal(HV_X64_REGISTER_GDTR, 0x00070001);
	assert_int_equal(HV_X64_REGISTER_MSR_MTRR_PHYS_MASKF, 0x0008004F);
	assert_int_equal(HV_X64_REGISTER_MSR_MTRR_FIX4KF8000, 0x0008007A);
	assert_int_equal(HV_X64_REGISTER_TSC_ADJUST, 0x00080096);
	assert_int_equal(HV_X64_REGISTER_APIC_EOI, 0x84000 + 0x80B);
	assert_int_equal(HV_X64_REGISTER_APIC_SELF_IPI, 0x84000 + 0x83F);
	assert_int_equal(HV_REGISTER_STIMER3_COUNT, 0x000B0007);
	assert_int_equal(HV_REGISTER_SIRBP, 0x000A0015);
	assert_int_equal(hv_x64_msr_sint(15), 0x4000009F);
	assert_int_equal(hv_x64_msr_stimer_config(3), 0x400000B6);
	assert_int_equal(hv_x64_msr_stimer_count(1), 0x400000B3);
}

/* All status codes of 2.1: the name is the code's own identifier, success maps to 0, every
 * failure to a negative errno. */
static const struct { hv_status_t code; const char *name; } doc_status[] = {
	{ 0x0, "HV_STATUS_SUCCESS" }, { 0x2, "HV_STATUS_INVALID_HYPERCALL_CODE" },
	{ 0x3, "HV_STATUS_INVALID_HYPERCALL_INPUT" }, { 0x4, "HV_STATUS_INVALID_ALIGNMENT" },
	{ 0x5, "HV_STATUS_INVALID_PARAMETER" }, { 0x6, "HV_STATUS_ACCESS_DENIED" },
	{ 0x7, "HV_STATUS_INVALID_PARTITION_STATE" }, { 0x8, "HV_STATUS_OPERATION_DENIED" },
	{ 0x9, "HV_STATUS_UNKNOWN_PROPERTY" }, { 0xA, "HV_STATUS_PROPERTY_VALUE_OUT_OF_RANGE" },
	{ 0xB, "HV_STATUS_INSUFFICIENT_MEMORY" }, { 0xC, "HV_STATUS_PARTITION_TOO_DEEP" },
	{ 0xD, "HV_STATUS_INVALID_PARTITION_ID" }, { 0xE, "HV_STATUS_INVALID_VP_INDEX" },
	{ 0x10, "HV_STATUS_NOT_FOUND" }, { 0x11, "HV_STATUS_INVALID_PORT_ID" },
	{ 0x12, "HV_STATUS_INVALID_CONNECTION_ID" }, { 0x13, "HV_STATUS_INSUFFICIENT_BUFFERS" },
	{ 0x14, "HV_STATUS_NOT_ACKNOWLEDGED" }, { 0x15, "HV_STATUS_INVALID_VP_STATE" },
	{ 0x16, "HV_STATUS_ACKNOWLEDGED" }, { 0x17, "HV_STATUS_INVALID_SAVE_RESTORE_STATE" },
	{ 0x18, "HV_STATUS_INVALID_SYNIC_STATE" }, { 0x19, "HV_STATUS_OBJECT_IN_USE" },
	{ 0x1A, "HV_STATUS_INVALID_PROXIMITY_DOMAIN_INFO" }, { 0x1B, "HV_STATUS_NO_DATA" },
	{ 0x1C, "HV_STATUS_INACTIVE" }, { 0x1D, "HV_STATUS_NO_RESOURCES" },
	{ 0x1E, "HV_STATUS_FEATURE_UNAVAILABLE" }, { 0x1F, "HV_STATUS_PARTIAL_PACKET" },
	{ 0x20, "HV_STATUS_PROCESSOR_FEATURE_NOT_SUPPORTED" }, { 0x33, "HV_STATUS_INSUFFICIENT_BUFFER" },
	{ 0x41, "HV_STATUS_INVALID_LP_INDEX" }, { 0x50, "HV_STATUS_INVALID_REGISTER_VALUE" },
	{ 0x51, "HV_STATUS_INVALID_VTL_STATE" }, { 0x71, "HV_STATUS_OPERATION_FAILED" },
	{ 0x78, "HV_STATUS_TIME_OUT" }, { 0x79, "HV_STATUS_CALL_PENDING" },
	{ 0x86, "HV_STATUS_VTL_ALREADY_ENABLED" }, { 0x87, "HV_STATUS_UNKNOWN_REGISTER_NAME" },
};

static void test_status_names(void **state)
{
	(void)state;
	char buf[64];

	for (size_t i = 0; i < sizeof(doc_status) / sizeof(doc_status[0]); i++) {
		assert_string_equal(hv_status_str(doc_status[i].code), doc_status[i].name);
		assert_string_equal(hv_status_format(doc_status[i].code, buf, sizeof(buf)), doc_status[i].name);
	}
	assert_string_equal(hv_status_str(0x1), "HV_STATUS_UNKNOWN");
	assert_string_equal(hv_status_str(0xFFFF), "HV_STATUS_UNKNOWN");
	assert_string_equal(hv_status_format(0x1234, buf, sizeof(buf)), "HV_STATUS_UNKNOWN(0x1234)");
	assert_ptr_equal(hv_status_format(0x1234, buf, sizeof(buf)), buf);
	/* Truncation keeps the buffer terminated. */
	char small[8];
	memset(small, 'x', sizeof(small));
	hv_status_format(0x1234, small, sizeof(small));
	assert_int_equal(small[7], '\0');
	assert_string_equal(hv_status_format(0x6, NULL, 0), "HV_STATUS_ACCESS_DENIED");
}

static void test_status_errno(void **state)
{
	(void)state;
	assert_int_equal(hv_status_to_errno(HV_STATUS_SUCCESS), 0);
	for (size_t i = 1; i < sizeof(doc_status) / sizeof(doc_status[0]); i++)
		assert_true(hv_status_to_errno(doc_status[i].code) < 0);
	assert_int_equal(hv_status_to_errno(HV_STATUS_ACCESS_DENIED), -EACCES);
	assert_int_equal(hv_status_to_errno(HV_STATUS_INVALID_PARAMETER), -EINVAL);
	assert_int_equal(hv_status_to_errno(HV_STATUS_INSUFFICIENT_BUFFERS), -EAGAIN);
	assert_int_equal(hv_status_to_errno(HV_STATUS_TIME_OUT), -ETIMEDOUT);
	assert_int_equal(hv_status_to_errno(HV_STATUS_INSUFFICIENT_MEMORY), -ENOMEM);
	assert_int_equal(hv_status_to_errno(HV_STATUS_INVALID_HYPERCALL_CODE), -EOPNOTSUPP);
	assert_int_equal(hv_status_to_errno(HV_STATUS_VTL_ALREADY_ENABLED), -EEXIST);
	assert_int_equal(hv_status_to_errno(HV_STATUS_UNKNOWN_REGISTER_NAME), -ENOENT);
	assert_int_equal(hv_status_to_errno(HV_STATUS_OBJECT_IN_USE), -EBUSY);
	assert_int_equal(hv_status_to_errno(0x1), -EIO);
	assert_int_equal(hv_status_to_errno(0xFFFF), -EIO);
}

static void test_message_type_names(void **state)
{
	(void)state;
	static const struct { uint32_t type; const char *name; } doc[] = {
		{ 0x00000000, "HVMSG_NONE" }, { 0x00000001, "HVMSG_VMBUS" },
		{ 0x80000000, "HVMSG_UNMAPPED_GPA" }, { 0x80000001, "HVMSG_GPA_INTERCEPT" },
		{ 0x80000003, "HVMSG_UNACCEPTED_GPA" }, { 0x80000004, "HVMSG_GPA_ATTRIBUTE_INTERCEPT" },
		{ 0x80000005, "HVMSG_ENABLE_PARTITION_VTL_INTERCEPT" }, { 0x80000010, "HVMSG_TIMER_EXPIRED" },
		{ 0x80000020, "HVMSG_INVALID_VP_REGISTER_VALUE" }, { 0x80000021, "HVMSG_UNRECOVERABLE_EXCEPTION" },
		{ 0x80000022, "HVMSG_UNSUPPORTED_FEATURE" }, { 0x80000023, "HVMSG_TLB_PAGE_SIZE_MISMATCH" },
		{ 0x80000024, "HVMSG_IOMMU_FAULT" }, { 0x8000003F, "HVMSG_OPAQUE_INTERCEPT" },
		{ 0x80000040, "HVMSG_EVENT_LOG_BUFFER_COMPLETE" }, { 0x80000050, "HVMSG_HYPERCALL_INTERCEPT" },
		{ 0x80000060, "HVMSG_SYNIC_EVENT_INTERCEPT" }, { 0x80000061, "HVMSG_SYNIC_SINT_INTERCEPT" },
		{ 0x80000062, "HVMSG_SYNIC_SINT_DELIVERABLE" }, { 0x80000070, "HVMSG_ASYNC_CALL_COMPLETION" },
		{ 0x80010000, "HVMSG_X64_IO_PORT_INTERCEPT" }, { 0x80010001, "HVMSG_X64_MSR_INTERCEPT" },
		{ 0x80010002, "HVMSG_X64_CPUID_INTERCEPT" }, { 0x80010003, "HVMSG_X64_EXCEPTION_INTERCEPT" },
		{ 0x80010004, "HVMSG_X64_APIC_EOI" }, { 0x80010005, "HVMSG_X64_IOMMU_PRQ" },
		{ 0x80010006, "HVMSG_X64_REGISTER_INTERCEPT" }, { 0x80010007, "HVMSG_X64_HALT" },
		{ 0x80010008, "HVMSG_X64_INTERRUPTION_DELIVERABLE" }, { 0x80010009, "HVMSG_X64_SIPI_INTERCEPT" },
		{ 0x8001000A, "HVMSG_X64_RDTSC_INTERCEPT" }, { 0x8001000B, "HVMSG_X64_APIC_SMI_INTERCEPT" },
		{ 0x8001000C, "HVMSG_ARM64_RESET_INTERCEPT" }, { 0x8001000D, "HVMSG_X64_APIC_INIT_SIPI_INTERCEPT" },
		{ 0x8001000E, "HVMSG_X64_APIC_WRITE_INTERCEPT" }, { 0x8001000F, "HVMSG_X64_PROXY_INTERRUPT_INTERCEPT" },
		{ 0x80010010, "HVMSG_X64_ISOLATION_CTRL_REG_INTERCEPT" },
		{ 0x80010011, "HVMSG_X64_SNP_GUEST_REQUEST_INTERCEPT" },
		{ 0x80010012, "HVMSG_X64_EXCEPTION_TRAP_INTERCEPT" }, { 0x80010013, "HVMSG_X64_SEV_VMGEXIT_INTERCEPT" },
	};
	for (size_t i = 0; i < sizeof(doc) / sizeof(doc[0]); i++)
		assert_string_equal(hv_message_type_str(doc[i].type), doc[i].name);
	assert_string_equal(hv_message_type_str(0x80000002), "HVMSG_UNKNOWN");
	assert_string_equal(hv_message_type_str(0xFFFFFFFF), "HVMSG_UNKNOWN");
}

static void test_hypercall_names(void **state)
{
	(void)state;
	assert_string_equal(hv_hypercall_code_str(0x0050), "HVCALL_GET_VP_REGISTERS");
	assert_string_equal(hv_hypercall_code_str(0x00C1), "HVCALL_POST_MESSAGE_DIRECT");
	assert_string_equal(hv_hypercall_code_str(0x000C), "HVCALL_MODIFY_VTL_PROTECTION_MASK");
	assert_string_equal(hv_hypercall_code_str(0x8001), "HVCALL_EXT_QUERY_CAPABILITIES");
	assert_string_equal(hv_hypercall_code_str(0x0000), "HVCALL_UNKNOWN");
	assert_string_equal(hv_hypercall_code_str(0x7777), "HVCALL_UNKNOWN");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_control_word),
		cmocka_unit_test(test_result_word),
		cmocka_unit_test(test_input_vtl),
		cmocka_unit_test(test_pending_encoders),
		cmocka_unit_test(test_register_value_views),
		cmocka_unit_test(test_register_names),
		cmocka_unit_test(test_status_names),
		cmocka_unit_test(test_status_errno),
		cmocka_unit_test(test_message_type_names),
		cmocka_unit_test(test_hypercall_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
