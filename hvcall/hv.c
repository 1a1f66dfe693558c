/*
 * Hyper-V status codes, message types and hypercall codes: names and errno mapping.
 * Table driven so that adding a code is one line; lookups are linear (tables are tiny and
 * these run only on error/log paths).
 */
#include <errno.h>
#include <stdio.h>

#include "hvcall/hv.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

struct hv_status_info {
	hv_status_t status;
	int err; /* negative errno */
	const char *name;
};

#define S(code, e) { code, e, #code }
static const struct hv_status_info hv_status_table[] = {
	S(HV_STATUS_SUCCESS, 0),
	S(HV_STATUS_INVALID_HYPERCALL_CODE, -EOPNOTSUPP),
	S(HV_STATUS_INVALID_HYPERCALL_INPUT, -EINVAL),
	S(HV_STATUS_INVALID_ALIGNMENT, -EINVAL),
	S(HV_STATUS_INVALID_PARAMETER, -EINVAL),
	S(HV_STATUS_ACCESS_DENIED, -EACCES),
	S(HV_STATUS_INVALID_PARTITION_STATE, -EBADFD),
	S(HV_STATUS_OPERATION_DENIED, -EPERM),
	S(HV_STATUS_UNKNOWN_PROPERTY, -EIO),
	S(HV_STATUS_PROPERTY_VALUE_OUT_OF_RANGE, -EIO),
	S(HV_STATUS_INSUFFICIENT_MEMORY, -ENOMEM),
	S(HV_STATUS_PARTITION_TOO_DEEP, -E2BIG),
	S(HV_STATUS_INVALID_PARTITION_ID, -EINVAL),
	S(HV_STATUS_INVALID_VP_INDEX, -EINVAL),
	S(HV_STATUS_NOT_FOUND, -ENOENT),
	S(HV_STATUS_INVALID_PORT_ID, -EINVAL),
	S(HV_STATUS_INVALID_CONNECTION_ID, -EINVAL),
	S(HV_STATUS_INSUFFICIENT_BUFFERS, -EAGAIN),
	S(HV_STATUS_NOT_ACKNOWLEDGED, -EIO),
	S(HV_STATUS_INVALID_VP_STATE, -EBADFD),
	S(HV_STATUS_ACKNOWLEDGED, -EIO),
	S(HV_STATUS_INVALID_SAVE_RESTORE_STATE, -EIO),
	S(HV_STATUS_INVALID_SYNIC_STATE, -EIO),
	S(HV_STATUS_OBJECT_IN_USE, -EBUSY),
	S(HV_STATUS_INVALID_PROXIMITY_DOMAIN_INFO, -EIO),
	S(HV_STATUS_NO_DATA, -ENODATA),
	S(HV_STATUS_INACTIVE, -ENODEV),
	S(HV_STATUS_NO_RESOURCES, -ENOSPC),
	S(HV_STATUS_FEATURE_UNAVAILABLE, -EOPNOTSUPP),
	S(HV_STATUS_PARTIAL_PACKET, -EIO),
	S(HV_STATUS_PROCESSOR_FEATURE_NOT_SUPPORTED, -EOPNOTSUPP),
	S(HV_STATUS_INSUFFICIENT_BUFFER, -ENOBUFS),
	S(HV_STATUS_INVALID_LP_INDEX, -EINVAL),
	S(HV_STATUS_INVALID_REGISTER_VALUE, -EINVAL),
	S(HV_STATUS_INVALID_VTL_STATE, -EBADFD),
	S(HV_STATUS_OPERATION_FAILED, -EIO),
	S(HV_STATUS_TIME_OUT, -ETIMEDOUT),
	S(HV_STATUS_CALL_PENDING, -EINPROGRESS),
	S(HV_STATUS_VTL_ALREADY_ENABLED, -EEXIST),
	S(HV_STATUS_UNKNOWN_REGISTER_NAME, -ENOENT),
};
#undef S

static const struct hv_status_info *hv_status_lookup(hv_status_t status)
{
	for (size_t i = 0; i < ARRAY_LEN(hv_status_table); i++)
		if (hv_status_table[i].status == status)
			return &hv_status_table[i];
	return NULL;
}

const char *hv_status_str(hv_status_t status)
{
	const struct hv_status_info *s = hv_status_lookup(status);
	return s ? s->name : "HV_STATUS_UNKNOWN";
}

const char *hv_status_format(hv_status_t status, char *buf, size_t len)
{
	const struct hv_status_info *s = hv_status_lookup(status);
	if (!buf || len == 0)
		return s ? s->name : "HV_STATUS_UNKNOWN";
	if (s)
		snprintf(buf, len, "%s", s->name);
	else
		snprintf(buf, len, "HV_STATUS_UNKNOWN(0x%04x)", (unsigned)status);
	return buf;
}

int hv_status_to_errno(hv_status_t status)
{
	const struct hv_status_info *s = hv_status_lookup(status);
	if (!s)
		return -EIO;
	return s->err;
}

struct hv_name {
	uint32_t value;
	const char *name;
};

#define N(x) { x, #x }
static const struct hv_name hv_message_type_table[] = {
	N(HVMSG_NONE),
	N(HVMSG_VMBUS),
	N(HVMSG_UNMAPPED_GPA),
	N(HVMSG_GPA_INTERCEPT),
	N(HVMSG_UNACCEPTED_GPA),
	N(HVMSG_GPA_ATTRIBUTE_INTERCEPT),
	N(HVMSG_ENABLE_PARTITION_VTL_INTERCEPT),
	N(HVMSG_TIMER_EXPIRED),
	N(HVMSG_INVALID_VP_REGISTER_VALUE),
	N(HVMSG_UNRECOVERABLE_EXCEPTION),
	N(HVMSG_UNSUPPORTED_FEATURE),
	N(HVMSG_TLB_PAGE_SIZE_MISMATCH),
	N(HVMSG_IOMMU_FAULT),
	N(HVMSG_OPAQUE_INTERCEPT),
	N(HVMSG_EVENT_LOG_BUFFER_COMPLETE),
	N(HVMSG_HYPERCALL_INTERCEPT),
	N(HVMSG_SYNIC_EVENT_INTERCEPT),
	N(HVMSG_SYNIC_SINT_INTERCEPT),
	N(HVMSG_SYNIC_SINT_DELIVERABLE),
	N(HVMSG_ASYNC_CALL_COMPLETION),
	N(HVMSG_X64_IO_PORT_INTERCEPT),
	N(HVMSG_X64_MSR_INTERCEPT),
	N(HVMSG_X64_CPUID_INTERCEPT),
	N(HVMSG_X64_EXCEPTION_INTERCEPT),
	N(HVMSG_X64_APIC_EOI),
	N(HVMSG_X64_IOMMU_PRQ),
	N(HVMSG_X64_REGISTER_INTERCEPT),
	N(HVMSG_X64_HALT),
	N(HVMSG_X64_INTERRUPTION_DELIVERABLE),
	N(HVMSG_X64_SIPI_INTERCEPT),
	N(HVMSG_X64_RDTSC_INTERCEPT),
	N(HVMSG_X64_APIC_SMI_INTERCEPT),
	N(HVMSG_ARM64_RESET_INTERCEPT),
	N(HVMSG_X64_APIC_INIT_SIPI_INTERCEPT),
	N(HVMSG_X64_APIC_WRITE_INTERCEPT),
	N(HVMSG_X64_PROXY_INTERRUPT_INTERCEPT),
	N(HVMSG_X64_ISOLATION_CTRL_REG_INTERCEPT),
	N(HVMSG_X64_SNP_GUEST_REQUEST_INTERCEPT),
	N(HVMSG_X64_EXCEPTION_TRAP_INTERCEPT),
	N(HVMSG_X64_SEV_VMGEXIT_INTERCEPT),
};

static const struct hv_name hv_hypercall_table[] = {
	N(HVCALL_SWITCH_VIRTUAL_ADDRESS_SPACE),
	N(HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE),
	N(HVCALL_FLUSH_VIRTUAL_ADDRESS_LIST),
	N(HVCALL_NOTIFY_LONG_SPIN_WAIT),
	N(HVCALL_SEND_SYNTHETIC_CLUSTER_IPI),
	N(HVCALL_MODIFY_VTL_PROTECTION_MASK),
	N(HVCALL_ENABLE_PARTITION_VTL),
	N(HVCALL_ENABLE_VP_VTL),
	N(HVCALL_VTL_CALL),
	N(HVCALL_VTL_RETURN),
	N(HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE_EX),
	N(HVCALL_FLUSH_VIRTUAL_ADDRESS_LIST_EX),
	N(HVCALL_SEND_SYNTHETIC_CLUSTER_IPI_EX),
	N(HVCALL_INSTALL_INTERCEPT),
	N(HVCALL_GET_VP_REGISTERS),
	N(HVCALL_SET_VP_REGISTERS),
	N(HVCALL_TRANSLATE_VIRTUAL_ADDRESS),
	N(HVCALL_POST_MESSAGE),
	N(HVCALL_SIGNAL_EVENT),
	N(HVCALL_OUTPUT_DEBUG_CHARACTER),
	N(HVCALL_GET_SYSTEM_PROPERTY),
	N(HVCALL_RETARGET_DEVICE_INTERRUPT),
	N(HVCALL_REGISTER_INTERCEPT_RESULT),
	N(HVCALL_ASSERT_VIRTUAL_INTERRUPT),
	N(HVCALL_START_VIRTUAL_PROCESSOR),
	N(HVCALL_GET_VP_INDEX_FROM_APIC_ID),
	N(HVCALL_TRANSLATE_VIRTUAL_ADDRESS_EX),
	N(HVCALL_CHECK_FOR_IO_INTERCEPT),
	N(HVCALL_FLUSH_GUEST_PHYSICAL_ADDRESS_SPACE),
	N(HVCALL_FLUSH_GUEST_PHYSICAL_ADDRESS_LIST),
	N(HVCALL_SIGNAL_EVENT_DIRECT),
	N(HVCALL_POST_MESSAGE_DIRECT),
	N(HVCALL_CHECK_SPARSE_GPA_PAGE_VTL_ACCESS),
	N(HVCALL_ACCEPT_GPA_PAGES),
	N(HVCALL_MODIFY_SPARSE_GPA_PAGE_HOST_VISIBILITY),
	N(HVCALL_GET_VP_CPUID_VALUES),
	N(HVCALL_RESTORE_PARTITION_TIME),
	N(HVCALL_MEMORY_MAPPED_IO_READ),
	N(HVCALL_MEMORY_MAPPED_IO_WRITE),
	N(HVCALL_PIN_GPA_PAGE_RANGES),
	N(HVCALL_UNPIN_GPA_PAGE_RANGES),
	N(HVCALL_QUERY_SPARSE_GPA_PAGE_HOST_VISIBILITY),
	N(HVCALL_EXT_QUERY_CAPABILITIES),
};
#undef N

static const char *hv_name_lookup(const struct hv_name *t, size_t n, uint32_t value, const char *fallback)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].value == value)
			return t[i].name;
	return fallback;
}

const char *hv_message_type_str(uint32_t message_type)
{
	return hv_name_lookup(hv_message_type_table, ARRAY_LEN(hv_message_type_table), message_type,
			      "HVMSG_UNKNOWN");
}

const char *hv_hypercall_code_str(uint16_t code)
{
	return hv_name_lookup(hv_hypercall_table, ARRAY_LEN(hv_hypercall_table), code, "HVCALL_UNKNOWN");
}

uint64_t hv_result_synic_call(int err)
{
	switch (err) {
	case 0: return hv_result_make(HV_STATUS_SUCCESS, 0);
	case -ENOENT: return hv_result_make(HV_STATUS_INVALID_CONNECTION_ID, 0);
	case -EAGAIN: return hv_result_make(HV_STATUS_INSUFFICIENT_BUFFERS, 0);
	case -EFAULT: return hv_result_make(HV_STATUS_INVALID_ALIGNMENT, 0);
	case -EBADMSG: return hv_result_make(HV_STATUS_INVALID_HYPERCALL_INPUT, 0);
	case -EACCES: return hv_result_make(HV_STATUS_ACCESS_DENIED, 0);
	default: return hv_result_make(HV_STATUS_INVALID_PARAMETER, 0);
	}
}

uint64_t hv_result_from_errno(int err)
{
	if (err == 0)
		return hv_result_make(HV_STATUS_SUCCESS, 0);
	for (size_t i = 0; i < ARRAY_LEN(hv_status_table); i++)
		if (hv_status_table[i].err == err)
			return hv_result_make(hv_status_table[i].status, 0);
	return hv_result_make(HV_STATUS_INVALID_PARAMETER, 0);
}
