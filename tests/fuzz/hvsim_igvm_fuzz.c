/*
 * hvsim's IGVM loader (tools/hvsim/hvsim_igvm.c) against hostile files: the input is an IGVM
 * file, loaded for the NATIVE or (first byte odd) the VSM_ISOLATION platform into a 2-VP,
 * 8 MiB partition, then VP 0's context is read back. Any verdict is fine; a crash, a hang, a
 * leak or a write outside partition RAM is not. Seeds: small images built by mezz-igvm from
 * manifests with a native and a VBS platform, page data, parameter areas of every kind the
 * host fills, required memory and VP contexts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hvcall/hv.h"
#include "tools/hvsim/hvsim.h"
#include "tools/hvsim/hvsim_igvm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct hvsim *fz_sim;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!fz_sim) {
		struct hvsim_config cfg = { .vp_count = 2, .mem_size = 8u << 20 };
		if (hvsim_create(&cfg, &fz_sim))
			abort();
	}
	if (size < 1)
		return 0;
	struct hvsim_igvm_host host = {
		.platform = (data[0] & 1) ? HVSIM_IGVM_VBS : HVSIM_IGVM_NATIVE,
		.command_line = "console=ttyS0",
		.vmbus = true,
		.vmbus_connection_id = 0x800074,
		.vmbus_vtl = 2,
	};
	struct hvsim_igvm_layout l;
	struct hvsim_igvm_loaded ld;
	char err[256];
	/* The file is the input without its first byte (the platform choice). */
	err[0] = '\0';
	if (hvsim_igvm_scan(data + 1, size - 1, host.platform, &l, err, sizeof(err)) != 0 &&
	    err[0] == '\0')
		abort(); /* every refusal names its reason */
	err[0] = '\0';
	if (hvsim_igvm_load(fz_sim, data + 1, size - 1, &host, &ld, err, sizeof(err)) == 0) {
		union hv_register_value v;
		if (hvsim_vp_get_register(fz_sim, 0, HV_X64_REGISTER_RIP, &v) != 0)
			abort();
	} else if (err[0] == '\0') {
		abort(); /* every refusal names its reason */
	}
	return 0;
}
