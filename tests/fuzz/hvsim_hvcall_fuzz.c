/*
 * hvsim hypercall fuzz target: the input is a hypercall control word, an output size and the
 * input page. Every call must return a status (never crash, hang or touch memory outside the
 * partition), results must keep reserved bits clear and reps completed within the rep count.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tools/hvsim/hvsim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct hvsim *fz_sim;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!fz_sim) {
		struct hvsim_config cfg = { .vp_count = 2, .mem_size = 2u << 20 };
		if (hvsim_create(&cfg, &fz_sim))
			abort();
		hvsim_vp_setup_long_mode(fz_sim, 0, 0x100000);
		hvsim_vp_setup_long_mode(fz_sim, 1, 0x100000);
	}
	if (size < 12)
		return 0;
	uint64_t control;
	uint32_t out_size;
	memcpy(&control, data, 8);
	memcpy(&out_size, data + 8, 4);
	out_size %= 4097;
	/* Steer most inputs to implemented calls so the fuzzer gets past the dispatcher. */
	static const uint16_t codes[] = { 0x0C, 0x0D, 0x0F, 0x4D, 0x50, 0x51, 0x52, 0x94, 0x9A,
					  0xAC, 0xC0, 0xC1 };
	if ((control & 0xF0) != 0xF0)
		control = (control & ~0xFFFFull) | codes[(control & 0xFFFF) % 12];
	const uint8_t *in = data + 12;
	size_t in_size = size - 12 > 4096 ? 4096 : size - 12;
	static uint8_t out[4096];
	uint64_t result = 0;
	int rc = hvsim_hvcall(fz_sim, (uint32_t)(control >> 20) & 1, control, in, in_size, out,
			      out_size, &result);
	if (rc != 0)
		abort();
	unsigned reps = (unsigned)((result >> 32) & 0xFFF);
	unsigned rep_count = (unsigned)((control >> 32) & 0xFFF);
	if ((result & 0xFFFF0000ull) || (result >> 44) || reps > rep_count)
		abort();
	return 0;
}
