/*
 * hv_exit_decode fuzz target: arbitrary bytes (any length) as a raw SynIC message. Checks that
 * decode never crashes, only answers 0 / -EINVAL / -EPROTO / -ENOTSUP, that accepted exits
 * satisfy the documented field limits, and that encode/decode round-trips every accepted exit.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hvcall/hv_exit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_accepted(const struct hv_exit *e)
{
	if ((unsigned)e->kind >= HV_EXIT_KIND_COUNT || e->kind == HV_EXIT_UNKNOWN)
		abort();
	if (e->kind == HV_EXIT_NONE) {
		if (e->message_type != HVMSG_NONE)
			abort();
		return;
	}
	if (e->payload_size > HV_MESSAGE_PAYLOAD_SIZE || e->payload_size < hv_exit_payload_min(e->kind))
		abort();
	if (e->has_header && e->u.header.intercept_access_type > HV_INTERCEPT_ACCESS_EXECUTE)
		abort();
	switch (e->kind) {
	case HV_EXIT_IO_PORT: {
		unsigned sz = hv_exit_io_size(e);
		if ((sz != 1 && sz != 2 && sz != 4) || e->u.io.instruction_byte_count > 16 || hv_exit_insn_len(e) == 0)
			abort();
		break;
	}
	case HV_EXIT_MEMORY:
		if (e->u.memory.instruction_byte_count > 16)
			abort();
		break;
	case HV_EXIT_EXCEPTION:
		if (e->u.exception.instruction_byte_count > 16 || e->u.exception.exception_vector > 31)
			abort();
		break;
	case HV_EXIT_MSR:
	case HV_EXIT_CPUID:
		if (hv_exit_insn_len(e) == 0)
			abort();
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hv_exit e, e2;
	uint8_t raw[256];
	int rc = hv_exit_decode(data, size, &e);

	(void)hv_exit_kind_str(e.kind);
	if (rc == -EINVAL || rc == -EPROTO) {
		if (e.kind != HV_EXIT_NONE)
			abort();
		return 0;
	}
	if (rc == 0)
		check_accepted(&e);
	else if (rc != -ENOTSUP || e.kind != HV_EXIT_UNKNOWN)
		abort();

	/* Whatever decodes must encode, and decode back to the same exit. */
	if (hv_exit_encode(&e, raw, sizeof(raw)) != 0)
		abort();
	if (hv_exit_decode(raw, sizeof(raw), &e2) != rc)
		abort();
	if (memcmp(&e, &e2, sizeof(e)) != 0)
		abort();
	return 0;
}
