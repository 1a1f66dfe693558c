/* shim_outdt: see shim_outdt.h. */
#include "boot/shim_outdt.h"

#include <errno.h>
#include <string.h>

#include <libfdt.h>

#include "boot/shim_cfg.h"
#include "boot/shim_err.h"

/* <u64 base, u64 size>... of a range set, big endian, written straight into the blob. */
static int prop_ranges(void *fdt, const char *name, const struct shim_rangeset *s)
{
	void *val;
	int rc = fdt_property_placeholder(fdt, name, (int)(s->n * 16), &val);
	if (rc)
		return rc;
	uint8_t *p = val;
	for (unsigned i = 0; i < s->n; i++) {
		fdt64_t b = cpu_to_fdt64(s->r[i].gpa), z = cpu_to_fdt64(s->r[i].size);
		memcpy(p + i * 16, &b, 8);
		memcpy(p + i * 16 + 8, &z, 8);
	}
	return 0;
}

static int prop_u64(void *fdt, const char *name, uint64_t v)
{
	fdt64_t be = cpu_to_fdt64(v);
	return fdt_property(fdt, name, &be, sizeof(be));
}

static int build(void *fdt, size_t size, const struct shim_outdt_input *in)
{
	char name[32];
	int rc;
#define TRY(x)                          \
	do {                            \
		rc = (x);               \
		if (rc)                 \
			return rc;      \
	} while (0)
	TRY(fdt_create(fdt, (int)size));
	TRY(fdt_finish_reservemap(fdt));
	TRY(fdt_begin_node(fdt, ""));
	TRY(fdt_property_string(fdt, "compatible", MEZZ_SHIM_DT_COMPATIBLE));
	TRY(fdt_property_u32(fdt, "#address-cells", 2));
	TRY(fdt_property_u32(fdt, "#size-cells", 2));

	TRY(fdt_begin_node(fdt, "chosen"));
	TRY(fdt_property_string(fdt, "bootargs", in->cmdline));
	if (in->initrd_size) {
		TRY(prop_u64(fdt, "linux,initrd-start", in->initrd_gpa));
		TRY(prop_u64(fdt, "linux,initrd-end", in->initrd_gpa + in->initrd_size));
	}
	TRY(fdt_end_node(fdt));

	TRY(fdt_begin_node(fdt, "cpus"));
	TRY(fdt_property_u32(fdt, "#address-cells", 1));
	TRY(fdt_property_u32(fdt, "#size-cells", 0));
	for (uint32_t i = 0; i < in->vp_count; i++) {
		shim_err_snprintf(name, sizeof(name), "cpu@%x", in->apic_id[i]);
		TRY(fdt_begin_node(fdt, name));
		TRY(fdt_property_string(fdt, "device_type", "cpu"));
		TRY(fdt_property_u32(fdt, "reg", in->apic_id[i]));
		TRY(fdt_end_node(fdt));
	}
	TRY(fdt_end_node(fdt));

	for (unsigned i = 0; i < in->vtl2_ram->n; i++) {
		const struct mezz_shim_range *r = &in->vtl2_ram->r[i];
		shim_err_snprintf(name, sizeof(name), "memory@%llx", (unsigned long long)r->gpa);
		TRY(fdt_begin_node(fdt, name));
		TRY(fdt_property_string(fdt, "device_type", "memory"));
		struct shim_rangeset one = { .r = { *r }, .n = 1 };
		TRY(prop_ranges(fdt, "reg", &one));
		TRY(fdt_end_node(fdt));
	}

	TRY(fdt_begin_node(fdt, "mezzanine"));
	TRY(fdt_property_string(fdt, "compatible", MEZZ_SHIM_DT_PARAVISOR));
	TRY(fdt_property_string(fdt, "isolation", shim_cfg_isolation_name(in->isolation)));
	TRY(fdt_property_u32(fdt, "vp-count", in->vp_count));
	TRY(prop_ranges(fdt, "vtl0-memory", in->vtl0_ram));
	TRY(prop_ranges(fdt, "vtl2-memory", in->vtl2_ram));
	TRY(prop_ranges(fdt, "vtl2-reserved", in->vtl2_reserved));
	TRY(prop_ranges(fdt, "vtl2-free", in->vtl2_free));
	struct shim_rangeset log = { .r = { in->log }, .n = 1 };
	TRY(prop_ranges(fdt, "log", &log));
	if (in->have_vmbus) {
		TRY(fdt_begin_node(fdt, "vmbus"));
		TRY(fdt_property_string(fdt, "compatible", "microsoft,vmbus"));
		TRY(fdt_property_u32(fdt, "microsoft,message-connection-id",
				     in->vmbus_connection_id));
		TRY(fdt_property_u32(fdt, "microsoft,vtl", in->vmbus_vtl));
		TRY(fdt_end_node(fdt));
	}
	TRY(fdt_end_node(fdt));
	TRY(fdt_end_node(fdt));
	TRY(fdt_finish(fdt));
#undef TRY
	return 0;
}

int shim_outdt_build(void *buf, size_t size, const struct shim_outdt_input *in, size_t *len,
		     char *err, size_t errlen)
{
	if (size > 0x7FFFFFFF)
		size = 0x7FFFFFFF;
	int rc = build(buf, size, in);
	if (rc)
		return shim_err_set(err, errlen, rc == -FDT_ERR_NOSPACE ? -ENOSPC : -EINVAL,
				    "device tree out: %s (buffer 0x%zx bytes, %u cpus)",
				    fdt_strerror(rc), size, in->vp_count);
	*len = fdt_totalsize(buf);
	return 0;
}
