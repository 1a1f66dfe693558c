/*
 * Hypercall wrappers over an abstract transport (see hv_call.h). Each wrapper builds the TLFS
 * input layout in a local page-sized buffer, issues the call through the transport and maps
 * the status to -errno. Rep hypercalls share one engine (hv_call_rep) that restarts at the
 * reported reps-completed index and bounds restarts that make no progress.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "hvcall/hv_call.h"

/* Input/output buffers are one page each, 8-byte aligned (TLFS requires 8-byte alignment). */
union hv_call_page {
	uint8_t bytes[HV_PAGE_SIZE];
	uint64_t align;
};

static int hv_call_check_ctx(const struct hv_call_ctx *c)
{
	return (c && c->xfer) ? 0 : -EINVAL;
}

/* A simple (non-rep) hypercall. */
static int hv_call_simple(const struct hv_call_ctx *c, uint16_t code, const void *in, size_t in_size,
			  void *out, size_t out_size)
{
	uint64_t result = 0;
	int rc = hv_call_check_ctx(c);

	if (rc)
		return rc;
	rc = c->xfer(c->ctx, hv_control_make(code, 0, 0, 0, false), in, in_size, out, out_size, &result);
	if (rc)
		return rc;
	return hv_status_to_errno(hv_result_status(result));
}

/* Reps in the next call of a batched wrapper: what is left, at most `max`. */
static uint32_t hv_call_batch(uint64_t left, uint32_t max)
{
	return left < max ? (uint32_t)left : max;
}

/* GPNs are 52-bit; a range that wraps or leaves that space is a caller bug. */
static bool hv_call_gpn_range_ok(gpn_t first, uint64_t count)
{
	return !count || (first.v <= (1ull << 52) && count <= (1ull << 52) - first.v);
}

/* Copy the output elements of reps [start, done) from the scratch page to the caller. */
static void hv_call_copy_reps(void *out, const uint8_t *scratch, size_t out_elem, uint32_t start,
			      uint32_t done)
{
	if (out_elem && done > start)
		memcpy((uint8_t *)out + (size_t)start * out_elem, scratch + (size_t)start * out_elem,
		       (size_t)(done - start) * out_elem);
}

/*
 * A rep hypercall of `count` (1..HV_HYPERCALL_REP_MAX) reps with input in[0..in_size) and, if
 * out_elem != 0, output elements of out_elem bytes copied into out[rep]. Output is received in a
 * scratch page and only the reps reported complete by each call are copied out, so a restart
 * can never clobber results of earlier reps with whatever the transport returns for them.
 */
static int hv_call_rep(const struct hv_call_ctx *c, uint16_t code, const void *in, size_t in_size, void *out,
		       size_t out_elem, uint32_t count)
{
	union hv_call_page scratch;
	size_t out_size = out_elem * count;
	uint32_t start = 0;
	unsigned stalls = 0;
	int rc = hv_call_check_ctx(c);

	if (rc)
		return rc;
	if (count == 0 || count > HV_HYPERCALL_REP_MAX || in_size > HV_PAGE_SIZE || out_size > HV_PAGE_SIZE)
		return -EINVAL;

	while (start < count) {
		uint64_t result = 0;
		hv_status_t status;
		uint32_t done;

		rc = c->xfer(c->ctx, hv_control_make(code, count, start, 0, false), in, in_size,
			     out_elem ? scratch.bytes : NULL, out_size, &result);
		if (rc)
			return rc;
		status = hv_result_status(result);
		done = hv_result_reps(result);
		if (status != HV_STATUS_SUCCESS && status != HV_STATUS_TIME_OUT) {
			/* Reps before `done` did complete; keep their output for the caller. */
			if (done <= count)
				hv_call_copy_reps(out, scratch.bytes, out_elem, start, done);
			return hv_status_to_errno(status);
		}
		/* reps completed is absolute (includes the start index) and never goes backwards. */
		if (done < start || done > count)
			return -EIO;
		hv_call_copy_reps(out, scratch.bytes, out_elem, start, done);
		if (done == start) {
			if (++stalls > HV_CALL_MAX_STALLS)
				return -ETIMEDOUT;
		} else {
			stalls = 0;
		}
		start = done;
	}
	return 0;
}

/* ---- registers ---- */

int hv_call_get_vp_registers(const struct hv_call_ctx *c, uint32_t vp_index, uint8_t vtl, size_t count,
			     const uint32_t *names, union hv_register_value *values)
{
	union hv_call_page page;
	struct hv_input_get_vp_registers *in = (struct hv_input_get_vp_registers *)page.bytes;

	if (count && (!names || !values))
		return -EINVAL;
	for (size_t done = 0; done < count;) {
		uint32_t n = hv_call_batch(count - done, HV_CALL_GET_VP_REGISTERS_BATCH);
		int rc;

		memset(in, 0, sizeof(*in));
		in->partition_id = HV_PARTITION_ID_SELF;
		in->vp_index = vp_index;
		in->input_vtl = vtl;
		memcpy(in->names, names + done, n * sizeof(uint32_t));
		rc = hv_call_rep(c, HVCALL_GET_VP_REGISTERS, page.bytes, sizeof(*in) + n * sizeof(uint32_t),
				 values + done, sizeof(union hv_register_value), n);
		if (rc)
			return rc;
		done += n;
	}
	return 0;
}

int hv_call_set_vp_registers(const struct hv_call_ctx *c, uint32_t vp_index, uint8_t vtl, size_t count,
			     const struct hv_register_assoc *regs)
{
	union hv_call_page page;
	struct hv_input_set_vp_registers *in = (struct hv_input_set_vp_registers *)page.bytes;

	if (count && !regs)
		return -EINVAL;
	for (size_t done = 0; done < count;) {
		uint32_t n = hv_call_batch(count - done, HV_CALL_SET_VP_REGISTERS_BATCH);
		int rc;

		memset(in, 0, sizeof(*in));
		in->partition_id = HV_PARTITION_ID_SELF;
		in->vp_index = vp_index;
		in->input_vtl = vtl;
		for (uint32_t i = 0; i < n; i++) {
			/* Reserved fields must be zero whatever the caller left in them. */
			memset(&in->elements[i], 0, sizeof(in->elements[i]));
			in->elements[i].name = regs[done + i].name;
			in->elements[i].value = regs[done + i].value;
		}
		rc = hv_call_rep(c, HVCALL_SET_VP_REGISTERS, page.bytes,
				 sizeof(*in) + n * sizeof(struct hv_register_assoc), NULL, 0, n);
		if (rc)
			return rc;
		done += n;
	}
	return 0;
}

int hv_call_get_vp_register(const struct hv_call_ctx *c, uint32_t vp_index, uint8_t vtl, uint32_t name,
			    union hv_register_value *value)
{
	return hv_call_get_vp_registers(c, vp_index, vtl, 1, &name, value);
}

int hv_call_set_vp_register(const struct hv_call_ctx *c, uint32_t vp_index, uint8_t vtl, uint32_t name,
			    const union hv_register_value *value)
{
	struct hv_register_assoc a;

	if (!value)
		return -EINVAL;
	memset(&a, 0, sizeof(a));
	a.name = name;
	a.value = *value;
	return hv_call_set_vp_registers(c, vp_index, vtl, 1, &a);
}

/* ---- memory protection / acceptance ---- */

/* Fills the GPN list of one batch either from an array or from a contiguous range. */
static int hv_call_modify_vtl_protection(const struct hv_call_ctx *c, uint32_t map_flags, uint8_t target_vtl,
					 const gpn_t *gpns, gpn_t first, uint64_t count)
{
	union hv_call_page page;
	struct hv_input_modify_vtl_protection_mask *in = (struct hv_input_modify_vtl_protection_mask *)page.bytes;

	if (map_flags & ~HV_MAP_GPA_VALID_MASK)
		return -EINVAL;
	for (uint64_t done = 0; done < count;) {
		uint32_t n = hv_call_batch(count - done, HV_CALL_MODIFY_VTL_PROTECTION_BATCH);
		int rc;

		memset(in, 0, sizeof(*in));
		in->partition_id = HV_PARTITION_ID_SELF;
		in->map_flags = map_flags;
		in->target_vtl = target_vtl;
		for (uint32_t i = 0; i < n; i++)
			in->gpa_page_list[i] = gpns ? gpns[done + i].v : first.v + done + i;
		rc = hv_call_rep(c, HVCALL_MODIFY_VTL_PROTECTION_MASK, page.bytes, sizeof(*in) + n * sizeof(uint64_t),
				 NULL, 0, n);
		if (rc)
			return rc;
		done += n;
	}
	return 0;
}

int hv_call_modify_vtl_protection_mask(const struct hv_call_ctx *c, uint32_t map_flags, uint8_t target_vtl,
				       const gpn_t *gpns, size_t count)
{
	if (count && !gpns)
		return -EINVAL;
	return hv_call_modify_vtl_protection(c, map_flags, target_vtl, gpns, gpn(0), count);
}

int hv_call_modify_vtl_protection_range(const struct hv_call_ctx *c, uint32_t map_flags, uint8_t target_vtl,
					gpn_t first, uint64_t count)
{
	if (!hv_call_gpn_range_ok(first, count))
		return -EINVAL;
	return hv_call_modify_vtl_protection(c, map_flags, target_vtl, NULL, first, count);
}

int hv_call_accept_gpa_pages(const struct hv_call_ctx *c, uint32_t attributes, const uint16_t *vtl_perms,
			     gpn_t first, uint64_t count)
{
	struct hv_input_accept_gpa_pages in;

	if (!hv_call_gpn_range_ok(first, count))
		return -EINVAL;
	/* Rep count only: each call covers [gpa_page_base, +reps) with no list in the input. */
	for (uint64_t done = 0; done < count;) {
		uint32_t n = hv_call_batch(count - done, HV_CALL_ACCEPT_GPA_PAGES_BATCH);
		int rc;

		memset(&in, 0, sizeof(in));
		in.partition_id = HV_PARTITION_ID_SELF;
		in.page_attributes = attributes;
		if (vtl_perms) {
			in.vtl_permission_set[0] = vtl_perms[0];
			in.vtl_permission_set[1] = vtl_perms[1];
		}
		in.gpa_page_base = first.v + done;
		rc = hv_call_rep(c, HVCALL_ACCEPT_GPA_PAGES, &in, sizeof(in), NULL, 0, n);
		if (rc)
			return rc;
		done += n;
	}
	return 0;
}

int hv_call_modify_host_visibility(const struct hv_call_ctx *c, uint32_t visibility, const gpn_t *gpns,
				   size_t count)
{
	union hv_call_page page;
	struct hv_input_modify_sparse_gpa_page_host_visibility *in =
		(struct hv_input_modify_sparse_gpa_page_host_visibility *)page.bytes;
	/* Same 16-byte header + u64 list shape as ModifyVtlProtectionMask. */
	const uint32_t batch = HV_CALL_MODIFY_VTL_PROTECTION_BATCH;

	if ((count && !gpns) || (visibility != HV_HOST_VISIBILITY_PRIVATE && visibility != HV_HOST_VISIBILITY_SHARED))
		return -EINVAL;
	for (size_t done = 0; done < count;) {
		uint32_t n = hv_call_batch(count - done, batch);
		int rc;

		memset(in, 0, sizeof(*in));
		in->partition_id = HV_PARTITION_ID_SELF;
		in->host_visibility = visibility;
		for (uint32_t i = 0; i < n; i++)
			in->gpa_page_list[i] = gpns[done + i].v;
		rc = hv_call_rep(c, HVCALL_MODIFY_SPARSE_GPA_PAGE_HOST_VISIBILITY, page.bytes,
				 sizeof(*in) + n * sizeof(uint64_t), NULL, 0, n);
		if (rc)
			return rc;
		done += n;
	}
	return 0;
}

int hv_call_check_vtl_access(const struct hv_call_ctx *c, uint8_t target_vtl, uint8_t desired_access,
			     const gpn_t *gpns, size_t count, uint64_t *results)
{
	union hv_call_page page;
	struct hv_input_check_sparse_gpa_page_vtl_access *in =
		(struct hv_input_check_sparse_gpa_page_vtl_access *)page.bytes;
	const uint32_t batch = HV_CALL_MODIFY_VTL_PROTECTION_BATCH; /* 16 + 8n in, 8n out */

	if (count && (!gpns || !results))
		return -EINVAL;
	for (size_t done = 0; done < count;) {
		uint32_t n = hv_call_batch(count - done, batch);
		int rc;

		memset(in, 0, sizeof(*in));
		in->partition_id = HV_PARTITION_ID_SELF;
		in->target_vtl = target_vtl;
		in->desired_access = desired_access;
		for (uint32_t i = 0; i < n; i++)
			in->gpa_page_list[i] = gpns[done + i].v;
		rc = hv_call_rep(c, HVCALL_CHECK_SPARSE_GPA_PAGE_VTL_ACCESS, page.bytes,
				 sizeof(*in) + n * sizeof(uint64_t), results + done, sizeof(uint64_t), n);
		if (rc)
			return rc;
		done += n;
	}
	return 0;
}

int hv_call_flush_virtual_address_space(const struct hv_call_ctx *c, uint64_t address_space, uint64_t flags,
					uint64_t processor_mask)
{
	struct hv_input_flush_virtual_address_space in;

	memset(&in, 0, sizeof(in));
	in.address_space = address_space;
	in.flags = flags;
	in.processor_mask = processor_mask;
	return hv_call_simple(c, HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE, &in, sizeof(in), NULL, 0);
}

/* ---- MMIO ---- */

int hv_call_mmio_read(const struct hv_call_ctx *c, gpa_t addr, void *data, uint32_t width)
{
	struct hv_input_memory_mapped_io_read in;
	struct hv_output_memory_mapped_io_read out;
	int rc;

	if (!data || width == 0 || width > HV_MMIO_MAX_ACCESS_WIDTH)
		return -EINVAL;
	memset(&in, 0, sizeof(in));
	memset(&out, 0, sizeof(out));
	in.gpa = addr.v;
	in.access_width = width;
	rc = hv_call_simple(c, HVCALL_MEMORY_MAPPED_IO_READ, &in, sizeof(in), &out, sizeof(out));
	if (rc == 0)
		memcpy(data, out.data, width);
	return rc;
}

int hv_call_mmio_write(const struct hv_call_ctx *c, gpa_t addr, const void *data, uint32_t width)
{
	struct hv_input_memory_mapped_io_write in;

	if (!data || width == 0 || width > HV_MMIO_MAX_ACCESS_WIDTH)
		return -EINVAL;
	memset(&in, 0, sizeof(in));
	in.gpa = addr.v;
	in.access_width = width;
	memcpy(in.data, data, width);
	return hv_call_simple(c, HVCALL_MEMORY_MAPPED_IO_WRITE, &in, sizeof(in), NULL, 0);
}

/* ---- address translation ---- */

#define HV_TRANSLATE_GVA_RESERVED_MASK (~(HV_TRANSLATE_GVA_FLAGS_MASK | HV_TRANSLATE_GVA_INPUT_VTL_MASK))

static void hv_call_fill_translation(struct hv_call_translation *out, uint64_t result, uint64_t gpa_page, gva_t gva)
{
	out->result_code = (uint32_t)(result & HV_TRANSLATE_RESULT_CODE_MASK);
	out->cache_type = (uint8_t)((result & HV_TRANSLATE_RESULT_CACHE_TYPE_MASK) >> HV_TRANSLATE_RESULT_CACHE_TYPE_SHIFT);
	out->overlay_page = (result & HV_TRANSLATE_RESULT_OVERLAY_PAGE) != 0;
	out->gpa = out->result_code == HV_TRANSLATE_GVA_SUCCESS ?
		   gpa((gpa_page << ADDR_PAGE_SHIFT) | (gva.v & (ADDR_PAGE_SIZE - 1))) : gpa(0);
}

static int hv_call_translate_common(const struct hv_call_ctx *c, uint16_t code, uint32_t vp_index,
				    uint64_t control_flags, gva_t gva, struct hv_call_translation *out)
{
	struct hv_input_translate_virtual_address in;
	struct hv_output_translate_virtual_address_ex out_ex;
	struct hv_output_translate_virtual_address out_plain;
	bool ex = code == HVCALL_TRANSLATE_VIRTUAL_ADDRESS_EX;
	int rc;

	if (!out || (control_flags & HV_TRANSLATE_GVA_RESERVED_MASK))
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	memset(&in, 0, sizeof(in));
	memset(&out_ex, 0, sizeof(out_ex));
	memset(&out_plain, 0, sizeof(out_plain));
	in.partition_id = HV_PARTITION_ID_SELF;
	in.vp_index = vp_index;
	in.control_flags = control_flags;
	in.gva_page = gva.v >> ADDR_PAGE_SHIFT;
	if (ex)
		rc = hv_call_simple(c, code, &in, sizeof(in), &out_ex, sizeof(out_ex));
	else
		rc = hv_call_simple(c, code, &in, sizeof(in), &out_plain, sizeof(out_plain));
	if (rc)
		return rc;
	if (ex) {
		hv_call_fill_translation(out, out_ex.translation_result, out_ex.gpa_page, gva);
		out->event_info[0] = out_ex.event_info[0];
		out->event_info[1] = out_ex.event_info[1];
	} else {
		hv_call_fill_translation(out, out_plain.translation_result, out_plain.gpa_page, gva);
	}
	return 0;
}

int hv_call_translate_va(const struct hv_call_ctx *c, uint32_t vp_index, uint64_t control_flags, gva_t gva,
			 struct hv_call_translation *out)
{
	return hv_call_translate_common(c, HVCALL_TRANSLATE_VIRTUAL_ADDRESS, vp_index, control_flags, gva, out);
}

int hv_call_translate_va_ex(const struct hv_call_ctx *c, uint32_t vp_index, uint64_t control_flags, gva_t gva,
			    struct hv_call_translation *out)
{
	return hv_call_translate_common(c, HVCALL_TRANSLATE_VIRTUAL_ADDRESS_EX, vp_index, control_flags, gva, out);
}

/* ---- intercepts, interrupts, SynIC ---- */

int hv_call_install_intercept(const struct hv_call_ctx *c, uint32_t access_mask, uint32_t type,
			      uint64_t parameter)
{
	struct hv_input_install_intercept in;

	memset(&in, 0, sizeof(in));
	in.partition_id = HV_PARTITION_ID_SELF;
	in.access_type_mask = access_mask;
	in.intercept_type = type;
	in.intercept_parameter = parameter;
	return hv_call_simple(c, HVCALL_INSTALL_INTERCEPT, &in, sizeof(in), NULL, 0);
}

int hv_call_assert_virtual_interrupt(const struct hv_call_ctx *c, uint64_t interrupt_control,
				     uint64_t destination, uint32_t vector, uint8_t target_vtl)
{
	struct hv_input_assert_virtual_interrupt in;

	if (vector > 0xFF)
		return -EINVAL;
	memset(&in, 0, sizeof(in));
	in.partition_id = HV_PARTITION_ID_SELF;
	in.interrupt_control = interrupt_control;
	in.destination_address = destination;
	in.requested_vector = vector;
	in.target_vtl = target_vtl;
	return hv_call_simple(c, HVCALL_ASSERT_VIRTUAL_INTERRUPT, &in, sizeof(in), NULL, 0);
}

int hv_call_post_message_direct(const struct hv_call_ctx *c, uint32_t vp_index, uint8_t vtl, uint8_t sint,
				const struct hv_message *msg)
{
	struct hv_input_post_message_direct in;

	if (!msg || sint >= HV_SYNIC_SINT_COUNT || msg->header.payload_size > HV_MESSAGE_PAYLOAD_SIZE ||
	    msg->header.message_type == HVMSG_NONE)
		return -EINVAL;
	memset(&in, 0, sizeof(in));
	in.partition_id = HV_PARTITION_ID_SELF;
	in.vp_index = vp_index;
	in.vtl = vtl;
	in.sint_index = sint;
	memcpy(in.message, msg, sizeof(in.message));
	return hv_call_simple(c, HVCALL_POST_MESSAGE_DIRECT, &in, sizeof(in), NULL, 0);
}

int hv_call_signal_event_direct(const struct hv_call_ctx *c, uint32_t vp_index, uint8_t vtl, uint8_t sint,
				uint16_t flag, bool *newly_signaled)
{
	struct hv_input_signal_event_direct in;
	struct hv_output_signal_event_direct out;
	int rc;

	if (sint >= HV_SYNIC_SINT_COUNT || flag >= HV_EVENT_FLAGS_COUNT)
		return -EINVAL;
	memset(&in, 0, sizeof(in));
	memset(&out, 0, sizeof(out));
	in.target_partition = HV_PARTITION_ID_SELF;
	in.target_vp = vp_index;
	in.target_vtl = vtl;
	in.target_sint = sint;
	in.flag_number = flag;
	rc = hv_call_simple(c, HVCALL_SIGNAL_EVENT_DIRECT, &in, sizeof(in), &out, sizeof(out));
	if (rc == 0 && newly_signaled)
		*newly_signaled = out.newly_signaled != 0;
	return rc;
}

/* ---- VTL and VP management ---- */

int hv_call_enable_partition_vtl(const struct hv_call_ctx *c, uint8_t target_vtl, uint8_t flags)
{
	struct hv_input_enable_partition_vtl in;

	memset(&in, 0, sizeof(in));
	in.partition_id = HV_PARTITION_ID_SELF;
	in.target_vtl = target_vtl;
	in.flags = flags;
	return hv_call_simple(c, HVCALL_ENABLE_PARTITION_VTL, &in, sizeof(in), NULL, 0);
}

int hv_call_enable_vp_vtl(const struct hv_call_ctx *c, uint32_t vp_index, uint8_t target_vtl,
			  const struct hv_initial_vp_context *context)
{
	struct hv_input_enable_vp_vtl in;

	memset(&in, 0, sizeof(in));
	in.partition_id = HV_PARTITION_ID_SELF;
	in.vp_index = vp_index;
	in.target_vtl = target_vtl;
	if (context)
		in.vp_context = *context;
	return hv_call_simple(c, HVCALL_ENABLE_VP_VTL, &in, sizeof(in), NULL, 0);
}

int hv_call_start_virtual_processor(const struct hv_call_ctx *c, uint32_t vp_index, uint8_t target_vtl,
				    const struct hv_initial_vp_context *context)
{
	struct hv_input_start_virtual_processor in;

	if (!context)
		return -EINVAL;
	memset(&in, 0, sizeof(in));
	in.partition_id = HV_PARTITION_ID_SELF;
	in.vp_index = vp_index;
	in.target_vtl = target_vtl;
	in.vp_context = *context;
	return hv_call_simple(c, HVCALL_START_VIRTUAL_PROCESSOR, &in, sizeof(in), NULL, 0);
}

int hv_call_get_vp_index_from_apic_id(const struct hv_call_ctx *c, uint8_t target_vtl, size_t count,
				      const uint32_t *apic_ids, uint32_t *vp_indices)
{
	union hv_call_page page;
	struct hv_input_get_vp_index_from_apic_id *in = (struct hv_input_get_vp_index_from_apic_id *)page.bytes;

	if (count && (!apic_ids || !vp_indices))
		return -EINVAL;
	for (size_t done = 0; done < count;) {
		uint32_t n = hv_call_batch(count - done, HV_CALL_GET_VP_INDEX_BATCH);
		int rc;

		memset(in, 0, sizeof(*in));
		in->partition_id = HV_PARTITION_ID_SELF;
		in->target_vtl = target_vtl;
		memcpy(in->apic_ids, apic_ids + done, n * sizeof(uint32_t));
		rc = hv_call_rep(c, HVCALL_GET_VP_INDEX_FROM_APIC_ID, page.bytes, sizeof(*in) + n * sizeof(uint32_t),
				 vp_indices + done, sizeof(uint32_t), n);
		if (rc)
			return rc;
		done += n;
	}
	return 0;
}
