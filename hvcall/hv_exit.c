/*
 * Intercept message codec (hyperv-abi-facts 2.3, 2.4). One const table maps message types to
 * exit kinds; one const table per kind gives the payload layout size, whether the 40-byte
 * intercept header is present and the field checks. Decode copies the shared raw message once
 * and validates the copy; encode is the exact inverse (used by the simulator and tests).
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "hvcall/hv_exit.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

struct hv_exit_type_map {
	uint32_t message_type;
	enum hv_exit_kind kind;
	enum hv_exit_memory_kind memory_kind;
};

/* Most frequent first: the lookup is a linear scan on every exit. */
static const struct hv_exit_type_map hv_exit_types[] = {
	{ HVMSG_X64_IO_PORT_INTERCEPT, HV_EXIT_IO_PORT, 0 },
	{ HVMSG_UNMAPPED_GPA, HV_EXIT_MEMORY, HV_EXIT_MEMORY_UNMAPPED_GPA },
	{ HVMSG_X64_CPUID_INTERCEPT, HV_EXIT_CPUID, 0 },
	{ HVMSG_X64_MSR_INTERCEPT, HV_EXIT_MSR, 0 },
	{ HVMSG_HYPERCALL_INTERCEPT, HV_EXIT_HYPERCALL, 0 },
	{ HVMSG_X64_APIC_EOI, HV_EXIT_APIC_EOI, 0 },
	{ HVMSG_GPA_INTERCEPT, HV_EXIT_MEMORY, HV_EXIT_MEMORY_GPA_INTERCEPT },
	{ HVMSG_X64_HALT, HV_EXIT_HALT, 0 },
	{ HVMSG_UNACCEPTED_GPA, HV_EXIT_MEMORY, HV_EXIT_MEMORY_UNACCEPTED_GPA },
	{ HVMSG_TIMER_EXPIRED, HV_EXIT_TIMER, 0 },
	{ HVMSG_INVALID_VP_REGISTER_VALUE, HV_EXIT_INVALID_VP_REGISTER, 0 },
	{ HVMSG_UNRECOVERABLE_EXCEPTION, HV_EXIT_UNRECOVERABLE, 0 },
	{ HVMSG_SYNIC_SINT_DELIVERABLE, HV_EXIT_SINT_DELIVERABLE, 0 },
	{ HVMSG_X64_EXCEPTION_INTERCEPT, HV_EXIT_EXCEPTION, 0 },
	{ HVMSG_X64_REGISTER_INTERCEPT, HV_EXIT_REGISTER, 0 },
	{ HVMSG_X64_INTERRUPTION_DELIVERABLE, HV_EXIT_INTERRUPTION_DELIVERABLE, 0 },
	{ HVMSG_X64_SIPI_INTERCEPT, HV_EXIT_SIPI, 0 },
};

typedef int (*hv_exit_check_fn)(const struct hv_exit *e);

struct hv_exit_kind_info {
	const char *name;
	uint8_t min_size;   /* payload bytes the layout needs */
	bool has_header;    /* starts with struct hv_x64_intercept_header */
	hv_exit_check_fn check;
};

/* ---- field checks (on the private copy) ---- */

static int check_header(const struct hv_exit *e)
{
	if (e->u.header.intercept_access_type > HV_INTERCEPT_ACCESS_EXECUTE)
		return -EPROTO;
	return 0;
}

/* Exits the paravisor completes by advancing RIP need a real instruction length. */
static int check_insn_len(const struct hv_exit *e)
{
	if ((e->u.header.instruction_length_cr8 & HV_X64_INTERCEPT_INSN_LEN_MASK) == 0)
		return -EPROTO;
	return 0;
}

static int check_io(const struct hv_exit *e)
{
	const struct hv_x64_io_port_intercept_message *m = &e->u.io;
	unsigned size = m->access_info & HV_X64_IO_ACCESS_SIZE_MASK;

	if (m->header.intercept_access_type > HV_INTERCEPT_ACCESS_WRITE)
		return -EPROTO;
	if (size != 1 && size != 2 && size != 4)
		return -EPROTO;
	if (m->instruction_byte_count > HV_X64_MAX_INSTRUCTION_BYTES)
		return -EPROTO;
	return check_insn_len(e);
}

static int check_memory(const struct hv_exit *e)
{
	if (e->u.memory.instruction_byte_count > HV_X64_MAX_INSTRUCTION_BYTES)
		return -EPROTO;
	return check_header(e);
}

static int check_msr(const struct hv_exit *e)
{
	if (e->u.header.intercept_access_type > HV_INTERCEPT_ACCESS_WRITE)
		return -EPROTO;
	return check_insn_len(e);
}

static int check_cpuid(const struct hv_exit *e)
{
	int rc = check_header(e);
	return rc ? rc : check_insn_len(e);
}

static int check_exception(const struct hv_exit *e)
{
	const struct hv_x64_exception_intercept_message *m = &e->u.exception;

	if (m->instruction_byte_count > HV_X64_MAX_INSTRUCTION_BYTES)
		return -EPROTO;
	if (m->exception_vector > 31) /* architectural exceptions only */
		return -EPROTO;
	return check_header(e);
}

static int check_apic_eoi(const struct hv_exit *e)
{
	return e->u.apic_eoi.interrupt_vector > 0xFF ? -EPROTO : 0;
}

static int check_sipi(const struct hv_exit *e)
{
	if (e->u.sipi.interrupt_vector > 0xFF)
		return -EPROTO;
	return check_header(e);
}

static int check_none(const struct hv_exit *e)
{
	(void)e;
	return 0;
}

static const struct hv_exit_kind_info hv_exit_kinds[HV_EXIT_KIND_COUNT] = {
	[HV_EXIT_NONE] = { "NONE", 0, false, check_none },
	[HV_EXIT_IO_PORT] = { "IO_PORT", sizeof(struct hv_x64_io_port_intercept_message), true, check_io },
	[HV_EXIT_MEMORY] = { "MEMORY", sizeof(struct hv_x64_memory_intercept_message), true, check_memory },
	[HV_EXIT_MSR] = { "MSR", sizeof(struct hv_x64_msr_intercept_message), true, check_msr },
	[HV_EXIT_CPUID] = { "CPUID", sizeof(struct hv_x64_cpuid_intercept_message), true, check_cpuid },
	[HV_EXIT_EXCEPTION] = { "EXCEPTION", sizeof(struct hv_x64_exception_intercept_message), true,
				check_exception },
	[HV_EXIT_HYPERCALL] = { "HYPERCALL", sizeof(struct hv_x64_hypercall_intercept_message), true,
				check_header },
	[HV_EXIT_HALT] = { "HALT", sizeof(struct hv_x64_halt_message), true, check_header },
	[HV_EXIT_UNRECOVERABLE] = { "UNRECOVERABLE", sizeof(struct hv_x64_unrecoverable_exception_message),
				    true, check_header },
	[HV_EXIT_APIC_EOI] = { "APIC_EOI", sizeof(struct hv_x64_apic_eoi_message), false, check_apic_eoi },
	[HV_EXIT_REGISTER] = { "REGISTER", sizeof(struct hv_x64_register_intercept_message), true, check_header },
	[HV_EXIT_SINT_DELIVERABLE] = { "SINT_DELIVERABLE", sizeof(struct hv_x64_sint_deliverable_message), true,
				       check_header },
	[HV_EXIT_INTERRUPTION_DELIVERABLE] = { "INTERRUPTION_DELIVERABLE",
					       sizeof(struct hv_x64_interruption_deliverable_message), true,
					       check_header },
	[HV_EXIT_SIPI] = { "SIPI", sizeof(struct hv_x64_sipi_intercept_message), true, check_sipi },
	[HV_EXIT_INVALID_VP_REGISTER] = { "INVALID_VP_REGISTER", sizeof(struct hv_x64_invalid_vp_register_message),
					  false, check_none },
	[HV_EXIT_TIMER] = { "TIMER", sizeof(struct hv_timer_message_payload), false, check_none },
	[HV_EXIT_UNKNOWN] = { "UNKNOWN", 0, false, check_none },
};

_Static_assert(sizeof(((struct hv_exit *)0)->u) == HV_MESSAGE_PAYLOAD_SIZE,
	       "hyperv-abi-facts 2.3: every decoded payload fits the 240-byte message payload");

static const struct hv_exit_type_map *hv_exit_lookup_type(uint32_t message_type)
{
	for (size_t i = 0; i < ARRAY_LEN(hv_exit_types); i++)
		if (hv_exit_types[i].message_type == message_type)
			return &hv_exit_types[i];
	return NULL;
}

static const struct hv_exit_type_map *hv_exit_lookup_kind(enum hv_exit_kind kind,
							  enum hv_exit_memory_kind memory_kind)
{
	for (size_t i = 0; i < ARRAY_LEN(hv_exit_types); i++)
		if (hv_exit_types[i].kind == kind &&
		    (kind != HV_EXIT_MEMORY || hv_exit_types[i].memory_kind == memory_kind))
			return &hv_exit_types[i];
	return NULL;
}

const char *hv_exit_kind_str(enum hv_exit_kind kind)
{
	if ((unsigned)kind >= HV_EXIT_KIND_COUNT)
		return "INVALID";
	return hv_exit_kinds[kind].name;
}

size_t hv_exit_payload_min(enum hv_exit_kind kind)
{
	if ((unsigned)kind >= HV_EXIT_KIND_COUNT)
		return 0;
	return hv_exit_kinds[kind].min_size;
}

/* Failure: leave nothing half-decoded behind, only the type (useful for logging). */
static int hv_exit_fail(struct hv_exit *out, uint32_t message_type, int rc)
{
	memset(out, 0, sizeof(*out));
	out->message_type = message_type;
	return rc;
}

int hv_exit_decode(const void *raw, size_t len, struct hv_exit *out)
{
	struct hv_message_header hdr;
	const struct hv_exit_type_map *map;
	const struct hv_exit_kind_info *info;
	const uint8_t *payload;
	int rc;

	if (!out)
		return -EINVAL;
	memset(out, 0, offsetof(struct hv_exit, u)); /* padding too: decoded exits compare */
	if (!raw || len < sizeof(struct hv_message_header)) {
		memset(&out->u, 0, sizeof(out->u));
		return -EINVAL;
	}
	if (len > sizeof(struct hv_message))
		len = sizeof(struct hv_message);

	/* Shared memory is read once: the header into a copy, validated; then the payload bytes
	   the layout needs, straight into the decoded exit, validated there. */
	memcpy(&hdr, raw, sizeof(hdr));
	payload = (const uint8_t *)raw + sizeof(hdr);
	out->message_type = hdr.message_type;
	out->payload_size = hdr.payload_size;
	out->flags = hdr.flags;
	out->sender = hdr.sender;

	if (hdr.message_type == HVMSG_NONE) {
		memset(&out->u, 0, sizeof(out->u));
		return 0;
	}
	if (hdr.payload_size > HV_MESSAGE_PAYLOAD_SIZE)
		return hv_exit_fail(out, hdr.message_type, -EPROTO);
	if (sizeof(hdr) + hdr.payload_size > len)
		return hv_exit_fail(out, hdr.message_type, -EINVAL);

	map = hv_exit_lookup_type(hdr.message_type);
	if (!map) {
		out->kind = HV_EXIT_UNKNOWN;
		memcpy(out->u.raw, payload, hdr.payload_size);
		memset(out->u.raw + hdr.payload_size, 0, sizeof(out->u) - hdr.payload_size);
		return -ENOTSUP;
	}
	info = &hv_exit_kinds[map->kind];
	if (hdr.payload_size < info->min_size)
		return hv_exit_fail(out, hdr.message_type, -EPROTO);

	out->kind = map->kind;
	out->memory_kind = map->kind == HV_EXIT_MEMORY ? map->memory_kind : 0;
	out->has_header = info->has_header;
	/* A constant-size clear is a few vector stores; then the layout's bytes. */
	memset(&out->u, 0, sizeof(out->u));
	memcpy(&out->u, payload, info->min_size);

	rc = info->check(out);
	if (rc)
		return hv_exit_fail(out, hdr.message_type, rc);
	return 0;
}

int hv_exit_encode(const struct hv_exit *in, void *raw, size_t len)
{
	struct hv_message msg;
	size_t size;

	if (!in || !raw || len < sizeof(msg) || (unsigned)in->kind >= HV_EXIT_KIND_COUNT)
		return -EINVAL;
	memset(&msg, 0, sizeof(msg));
	msg.header.flags = in->flags;
	msg.header.sender = in->sender;

	switch (in->kind) {
	case HV_EXIT_NONE:
		/* An empty slot: type 0, no payload (payload_size kept as given so decode round-trips). */
		msg.header.payload_size = in->payload_size;
		break;
	case HV_EXIT_UNKNOWN:
		/* Only for types this codec does not know; otherwise decode would disagree. */
		if (in->message_type == HVMSG_NONE || hv_exit_lookup_type(in->message_type) ||
		    in->payload_size > HV_MESSAGE_PAYLOAD_SIZE)
			return -EINVAL;
		msg.header.message_type = in->message_type;
		msg.header.payload_size = in->payload_size;
		memcpy(msg.payload, in->u.raw, in->payload_size);
		break;
	default: {
		const struct hv_exit_type_map *map = hv_exit_lookup_kind(in->kind, in->memory_kind);
		if (!map)
			return -EINVAL;
		size = hv_exit_kinds[in->kind].min_size;
		msg.header.message_type = map->message_type;
		msg.header.payload_size = (uint8_t)(in->payload_size >= size &&
						    in->payload_size <= HV_MESSAGE_PAYLOAD_SIZE ?
						    in->payload_size : size);
		memcpy(msg.payload, &in->u, size);
		break;
	}
	}
	memcpy(raw, &msg, sizeof(msg));
	return 0;
}
