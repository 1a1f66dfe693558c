/* shim_hostdt: see shim_hostdt.h. */
#include "boot/shim_hostdt.h"

#include <errno.h>
#include <string.h>

#include <libfdt.h>

#include "boot/shim_err.h"

/* A tag that does not move forward (a property length wrapping the offset back) makes libfdt
 * 1.6.1's fdt_check_full loop forever; vtl2/bootcfg.c guards its own parse the same way. */
static bool fdt_tags_advance(const void *fdt)
{
	int at = 0, next;
	uint32_t tag;
	while ((tag = fdt_next_tag(fdt, at, &next)) != FDT_END) {
		if (next <= at)
			return false;
		at = next;
	}
	return next >= 0;
}

/* 1 found, 0 absent, -1 wrong length. */
static int prop_u32(const void *fdt, int node, const char *name, uint32_t *v)
{
	int len;
	const void *p = fdt_getprop(fdt, node, name, &len);
	if (!p)
		return 0;
	if (len != 4)
		return -1;
	uint32_t be;
	memcpy(&be, p, 4);
	*v = fdt32_to_cpu(be);
	return 1;
}

/* The property is exactly the NUL-terminated string s. */
static bool prop_is(const void *fdt, int node, const char *name, const char *s)
{
	int len;
	const char *p = fdt_getprop(fdt, node, name, &len);
	size_t sl = strlen(s);
	return p && len >= 0 && (size_t)len == sl + 1 && memcmp(p, s, sl + 1) == 0;
}

static const char *node_name(const void *fdt, int node)
{
	const char *n = fdt_get_name(fdt, node, NULL);
	return n ? n : "?";
}

static int memory_node(const void *fdt, int node, uint32_t ac, uint32_t sc,
		       const struct shim_memmap *map, struct shim_hostdt *out, char *err,
		       size_t errlen)
{
	const char *name = node_name(fdt, node);
	if (ac != 2 || sc != 2)
		return shim_err_set(err, errlen, -EINVAL,
				    "device tree: %s needs root #address-cells/#size-cells 2/2, "
				    "have %u/%u", name, ac, sc);
	uint32_t type = SHIM_MEM_MEMORY;
	if (prop_u32(fdt, node, "microsoft,igvm-type", &type) < 0)
		return shim_err_set(err, errlen, -EINVAL,
				    "device tree: %s microsoft,igvm-type is not one u32", name);
	int len;
	const uint8_t *reg = fdt_getprop(fdt, node, "reg", &len);
	if (!reg || len <= 0 || len % 16)
		return shim_err_set(err, errlen, -EINVAL,
				    "device tree: %s reg missing or not (u64 base, u64 size) pairs",
				    name);
	for (int i = 0; i < len; i += 16) {
		uint64_t b, s;
		memcpy(&b, reg + i, 8);
		memcpy(&s, reg + i + 8, 8);
		b = fdt64_to_cpu(b);
		s = fdt64_to_cpu(s);
		if (!s || b + s < b || !shim_memmap_covered(map, b, s, type))
			return shim_err_set(err, errlen, -EINVAL,
					    "device tree: %s range [0x%llx,+0x%llx) type %u disagrees "
					    "with the memory map", name, (unsigned long long)b,
					    (unsigned long long)s, type);
		out->memory_ranges++;
	}
	return 0;
}

static int cpu_node(const void *fdt, int node, struct shim_hostdt *out, char *err,
		    size_t errlen)
{
	const char *name = node_name(fdt, node);
	uint32_t id;
	if (prop_u32(fdt, node, "reg", &id) != 1)
		return shim_err_set(err, errlen, -EINVAL,
				    "device tree: /cpus/%s reg missing or not one u32", name);
	if (out->cpu_count >= MEZZ_SHIM_MAX_VPS)
		return shim_err_set(err, errlen, -EINVAL, "device tree: more than %u cpu nodes",
				    MEZZ_SHIM_MAX_VPS);
	for (unsigned i = 0; i < out->cpu_count; i++)
		if (out->apic_id[i] == id)
			return shim_err_set(err, errlen, -EINVAL,
					    "device tree: /cpus/%s reg %u duplicates cpu %u", name, id,
					    i);
	out->apic_id[out->cpu_count++] = id;
	return 0;
}

static int vmbus_node(const void *fdt, int node, struct shim_hostdt *out, char *err,
		      size_t errlen)
{
	const char *name = node_name(fdt, node);
	uint32_t conn, vtl;
	if (prop_u32(fdt, node, "microsoft,message-connection-id", &conn) != 1)
		return shim_err_set(err, errlen, -EINVAL,
				    "device tree: vmbus %s microsoft,message-connection-id missing "
				    "or not one u32", name);
	if (prop_u32(fdt, node, "microsoft,vtl", &vtl) != 1)
		return shim_err_set(err, errlen, -EINVAL,
				    "device tree: vmbus %s microsoft,vtl missing or not one u32",
				    name);
	if (vtl != 0 && vtl != 2)
		return shim_err_set(err, errlen, -EINVAL, "device tree: vmbus %s microsoft,vtl %u",
				    name, vtl);
	if (!out->have_vmbus || (out->vmbus_vtl != 2 && vtl == 2)) {
		out->have_vmbus = true;
		out->vmbus_connection_id = conn;
		out->vmbus_vtl = vtl;
	}
	return 0;
}

static int bootargs(const void *fdt, struct shim_hostdt *out, char *err, size_t errlen)
{
	int chosen = fdt_path_offset(fdt, "/chosen");
	if (chosen < 0)
		return 0;
	int len;
	const char *p = fdt_getprop(fdt, chosen, "bootargs", &len);
	if (!p)
		return 0;
	if (len <= 0 || !memchr(p, '\0', (size_t)len))
		return shim_err_set(err, errlen, -EINVAL,
				    "device tree: /chosen/bootargs not NUL terminated");
	size_t sl = strlen(p);
	if (sl >= SHIM_HOST_CMDLINE_MAX)
		return shim_err_set(err, errlen, -EINVAL,
				    "device tree: /chosen/bootargs %zu bytes, limit %u", sl,
				    SHIM_HOST_CMDLINE_MAX - 1);
	for (size_t i = 0; i < sl; i++)
		if (p[i] < 0x20 || p[i] > 0x7E)
			return shim_err_set(err, errlen, -EINVAL,
					    "device tree: /chosen/bootargs byte %zu is 0x%02x, not "
					    "printable", i, (unsigned)(unsigned char)p[i]);
	memcpy(out->bootargs, p, sl + 1);
	out->have_bootargs = true;
	return 0;
}

int shim_hostdt_parse(const void *area, size_t size, const struct shim_memmap *map,
		      struct shim_hostdt *out, char *err, size_t errlen)
{
	out->present = false;
	out->cpu_count = 0;
	out->memory_ranges = 0;
	out->have_bootargs = false;
	out->bootargs[0] = '\0';
	out->have_vmbus = false;
	out->vmbus_connection_id = out->vmbus_vtl = 0;
	uint32_t magic = 0;
	if (size >= 4)
		memcpy(&magic, area, 4);
	if (!magic)
		return 0;
	if (size < sizeof(struct fdt_header))
		return shim_err_set(err, errlen, -EINVAL, "device tree: area of %zu bytes too small",
				    size);
	int rc = fdt_check_header(area);
	if (rc)
		return shim_err_set(err, errlen, -EINVAL, "device tree: bad header (%s)",
				    fdt_strerror(rc));
	/* Only the current format (v17, what dtc and Hyper-V write): libfdt's paths for older
	   versions (names as full paths, no size_dt_struct) are barely used, and 1.6.1's
	   fdt_check_full dereferences NULL on some of them. */
	if (fdt_version(area) < 17 || fdt_last_comp_version(area) > 16)
		return shim_err_set(err, errlen, -EINVAL,
				    "device tree: version %u (last compatible %u), need 17",
				    fdt_version(area), fdt_last_comp_version(area));
	if (fdt_totalsize(area) > size)
		return shim_err_set(err, errlen, -EINVAL,
				    "device tree: totalsize 0x%x exceeds the 0x%zx-byte area",
				    fdt_totalsize(area), size);
	rc = fdt_tags_advance(area) ? fdt_check_full(area, fdt_totalsize(area)) :
				      -FDT_ERR_BADSTRUCTURE;
	if (rc)
		return shim_err_set(err, errlen, -EINVAL, "device tree: malformed (%s)",
				    fdt_strerror(rc));
	out->present = true;
	const void *fdt = area;

	uint32_t ac = 2, sc = 1; /* DT spec defaults */
	if (prop_u32(fdt, 0, "#address-cells", &ac) < 0 || prop_u32(fdt, 0, "#size-cells", &sc) < 0)
		return shim_err_set(err, errlen, -EINVAL,
				    "device tree: root #address-cells/#size-cells not one u32");

	int depth = 0, node = 0;
	bool in_cpus = false;
	for (;;) {
		node = fdt_next_node(fdt, node, &depth);
		if (node < 0) {
			if (node == -FDT_ERR_NOTFOUND)
				break;
			return shim_err_set(err, errlen, -EINVAL, "device tree: walk failed (%s)",
					    fdt_strerror(node));
		}
		if (depth <= 0)
			break;
		int nlen;
		const char *name = fdt_get_name(fdt, node, &nlen);
		if (!name)
			return shim_err_set(err, errlen, -EINVAL, "device tree: unnamed node at 0x%x",
					    node);
		if (depth == 1) {
			in_cpus = strcmp(name, "cpus") == 0;
			if (in_cpus) {
				uint32_t cac = 1, csc = 0;
				if (prop_u32(fdt, node, "#address-cells", &cac) < 0 ||
				    prop_u32(fdt, node, "#size-cells", &csc) < 0 || cac != 1 ||
				    csc != 0)
					return shim_err_set(err, errlen, -EINVAL,
							    "device tree: /cpus needs #address-cells 1, "
							    "#size-cells 0");
			}
			if (strncmp(name, "memory@", 7) == 0 ||
			    prop_is(fdt, node, "device_type", "memory")) {
				rc = memory_node(fdt, node, ac, sc, map, out, err, errlen);
				if (rc)
					return rc;
			}
		} else if (depth == 2 && in_cpus &&
			   (strncmp(name, "cpu@", 4) == 0 || prop_is(fdt, node, "device_type", "cpu"))) {
			rc = cpu_node(fdt, node, out, err, errlen);
			if (rc)
				return rc;
		}
		int clen;
		const char *compat = fdt_getprop(fdt, node, "compatible", &clen);
		if (compat && clen > 0 && fdt_stringlist_contains(compat, clen, "microsoft,vmbus")) {
			rc = vmbus_node(fdt, node, out, err, errlen);
			if (rc)
				return rc;
		}
	}
	return bootargs(fdt, out, err, errlen);
}
