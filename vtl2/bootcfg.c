/*
 * bootcfg: the paravisor's configuration from the boot shim's device tree (header:
 * vtl2/bootcfg.h). libfdt does the structure checks; this file checks meaning.
 */
#include "vtl2/bootcfg.h"

#include <errno.h>
#include <libfdt.h>
#include <string.h>

#include "vtl2/errbuf.h"

#define PAGE 4096ull

/* A property holding pairs of big-endian u64 (base, size). Property values are only 4-byte
   aligned (and the caller's buffer may be less): load with fdt64_ld/fdt32_ld, never *p. */
static int get_ranges(const void *fdt, int node, const char *name, bool required,
		      struct bootcfg_ranges *out, char *err, size_t errlen)
{
	int len = 0;
	const fdt64_t *p = fdt_getprop(fdt, node, name, &len);
	out->count = 0;
	if (!p) {
		if (required)
			return errbuf_set(err, errlen, -EINVAL, "/mezzanine: no %s property", name);
		return 0;
	}
	if (len < 0 || len % 16)
		return errbuf_set(err, errlen, -EINVAL,
				  "/mezzanine/%s: %d bytes is not a list of (u64 base, u64 size)",
				  name, len);
	unsigned n = (unsigned)len / 16;
	if (required && n == 0)
		return errbuf_set(err, errlen, -EINVAL, "/mezzanine/%s: no ranges", name);
	if (n > BOOTCFG_MAX_RANGES)
		return errbuf_set(err, errlen, -E2BIG, "/mezzanine/%s: %u ranges (at most %d)",
				  name, n, BOOTCFG_MAX_RANGES);
	for (unsigned i = 0; i < n; i++) {
		uint64_t base = fdt64_ld(&p[2 * i]), size = fdt64_ld(&p[2 * i + 1]);
		if ((base | size) & (PAGE - 1) || size == 0 || base + size < base)
			return errbuf_set(err, errlen, -EINVAL,
					  "/mezzanine/%s[%u]: [0x%llx, +0x%llx) is not a non-empty "
					  "page-aligned range", name, i, (unsigned long long)base,
					  (unsigned long long)size);
		if (i && base < out->r[i - 1].gpa.v + out->r[i - 1].size)
			return errbuf_set(err, errlen, -EINVAL,
					  "/mezzanine/%s[%u]: 0x%llx is not above range %u",
					  name, i, (unsigned long long)base, i - 1);
		out->r[i] = (struct bootcfg_range){ gpa(base), size };
	}
	out->count = n;
	return 0;
}

static bool overlaps(const struct bootcfg_ranges *a, const struct bootcfg_ranges *b)
{
	for (unsigned i = 0; i < a->count; i++)
		for (unsigned j = 0; j < b->count; j++)
			if (a->r[i].gpa.v < b->r[j].gpa.v + b->r[j].size &&
			    b->r[j].gpa.v < a->r[i].gpa.v + a->r[i].size)
				return true;
	return false;
}

static bool inside(const struct bootcfg_ranges *in, const struct bootcfg_ranges *of)
{
	for (unsigned i = 0; i < in->count; i++) {
		bool ok = false;
		for (unsigned j = 0; j < of->count && !ok; j++)
			ok = in->r[i].gpa.v >= of->r[j].gpa.v &&
			     in->r[i].gpa.v + in->r[i].size <= of->r[j].gpa.v + of->r[j].size;
		if (!ok)
			return false;
	}
	return true;
}

static int get_u32(const void *fdt, int node, const char *path, const char *name, uint32_t *v,
		   char *err, size_t errlen)
{
	int len = 0;
	const fdt32_t *p = fdt_getprop(fdt, node, name, &len);
	if (!p || len != 4)
		return errbuf_set(err, errlen, -EINVAL, "%s: %s is not one u32", path, name);
	*v = fdt32_ld(p);
	return 0;
}

/* A string property: NUL-terminated inside its length, at most cap - 1 bytes. */
static int get_str(const void *fdt, int node, const char *path, const char *name, char *out,
		   size_t cap, char *err, size_t errlen)
{
	int len = 0;
	const char *p = fdt_getprop(fdt, node, name, &len);
	if (!p || len < 1 || p[len - 1] != '\0' || strlen(p) != (size_t)len - 1 ||
	    (size_t)len > cap)
		return errbuf_set(err, errlen, -EINVAL, "%s: %s is not a string of at most %zu "
							"bytes", path, name, cap - 1);
	memcpy(out, p, (size_t)len);
	return 0;
}

static int parse_cpus(const void *fdt, struct bootcfg *out, char *err, size_t errlen)
{
	int cpus = fdt_path_offset(fdt, "/cpus");
	if (cpus < 0)
		return errbuf_set(err, errlen, -EINVAL, "no /cpus node");
	uint32_t n = 0;
	int node;
	fdt_for_each_subnode(node, fdt, cpus) {
		const char *nm = fdt_get_name(fdt, node, NULL);
		if (!nm || strncmp(nm, "cpu@", 4) != 0)
			continue;
		if (n == BOOTCFG_MAX_VPS)
			return errbuf_set(err, errlen, -E2BIG, "/cpus: more than %d cpu nodes",
					  BOOTCFG_MAX_VPS);
		uint32_t id;
		if (get_u32(fdt, node, "/cpus/cpu@", "reg", &id, err, errlen))
			return -EINVAL;
		for (uint32_t i = 0; i < n; i++)
			if (out->apic_id[i] == id)
				return errbuf_set(err, errlen, -EINVAL,
						  "/cpus: APIC ID %u appears twice", id);
		out->apic_id[n++] = id;
	}
	if (node < 0 && node != -FDT_ERR_NOTFOUND)
		return errbuf_set(err, errlen, -EINVAL, "/cpus: %s", fdt_strerror(node));
	if (n == 0)
		return errbuf_set(err, errlen, -EINVAL, "/cpus: no cpu nodes");
	if (n != out->vp_count)
		return errbuf_set(err, errlen, -EINVAL,
				  "/mezzanine/vp-count %u but /cpus has %u cpu nodes",
				  out->vp_count, n);
	return 0;
}

/*
 * libfdt 1.6.1's fdt_check_full loops forever on a tag that does not move forward (a property
 * length that wraps the offset back; found by bootcfg_fuzz): walk the tags first. The offsets
 * only grow and stay inside the structure block, so this ends.
 */
static bool tags_advance(const void *dtb)
{
	int off = 0, next;
	for (uint32_t tag; (tag = fdt_next_tag(dtb, off, &next)) != FDT_END; off = next)
		if (next <= off)
			return false;
	return next >= 0;
}

int bootcfg_parse(const void *dtb, size_t len, struct bootcfg *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (len < sizeof(struct fdt_header) || len > BOOTCFG_MAX_DTB)
		return errbuf_set(err, errlen, -EINVAL, "device tree of %zu bytes", len);
	int rc = fdt_check_header(dtb);
	if (rc || fdt_totalsize(dtb) > len)
		return errbuf_set(err, errlen, -EINVAL, "not a device tree: %s",
				  rc ? fdt_strerror(rc) : "totalsize past the buffer");
	/* Only version 17 (what the shim, dtc and libfdt write): below 16 libfdt 1.6.1's
	   fdt_check_full dereferences a NULL node name, below 17 there is no size_dt_struct to
	   bound the structure block. */
	if (fdt_version(dtb) < 17)
		return errbuf_set(err, errlen, -EINVAL, "not a device tree: version %u (17 needed)",
				  fdt_version(dtb));
	rc = tags_advance(dtb) ? fdt_check_full(dtb, len) : -FDT_ERR_BADSTRUCTURE;
	if (rc)
		return errbuf_set(err, errlen, -EINVAL, "malformed device tree: %s",
				  fdt_strerror(rc));
	if (fdt_node_check_compatible(dtb, 0, "mezzanine,vtl2") != 0)
		return errbuf_set(err, errlen, -EINVAL, "/: not compatible \"mezzanine,vtl2\"");
	int mz = fdt_path_offset(dtb, "/mezzanine");
	if (mz < 0 || fdt_node_check_compatible(dtb, mz, "mezzanine,paravisor") != 0)
		return errbuf_set(err, errlen, -EINVAL,
				  "no /mezzanine node compatible \"mezzanine,paravisor\"");
	if (get_str(dtb, mz, "/mezzanine", "isolation", out->isolation, sizeof(out->isolation),
		    err, errlen))
		return -EINVAL;
	if (strcmp(out->isolation, "none") && strcmp(out->isolation, "vbs") &&
	    strcmp(out->isolation, "snp") && strcmp(out->isolation, "tdx"))
		return errbuf_set(err, errlen, -EINVAL, "/mezzanine: isolation \"%s\" is unknown",
				  out->isolation);
	if (get_u32(dtb, mz, "/mezzanine", "vp-count", &out->vp_count, err, errlen))
		return -EINVAL;
	if (out->vp_count == 0 || out->vp_count > BOOTCFG_MAX_VPS)
		return errbuf_set(err, errlen, -EINVAL, "/mezzanine: vp-count %u (1..%d)",
				  out->vp_count, BOOTCFG_MAX_VPS);
	rc = parse_cpus(dtb, out, err, errlen);
	if (rc)
		return rc;
	if ((rc = get_ranges(dtb, mz, "vtl0-memory", true, &out->vtl0, err, errlen)) ||
	    (rc = get_ranges(dtb, mz, "vtl2-memory", true, &out->vtl2, err, errlen)) ||
	    (rc = get_ranges(dtb, mz, "vtl2-reserved", false, &out->vtl2_reserved, err, errlen)) ||
	    (rc = get_ranges(dtb, mz, "vtl2-free", false, &out->vtl2_free, err, errlen)))
		return rc;
	if (overlaps(&out->vtl0, &out->vtl2))
		return errbuf_set(err, errlen, -EINVAL, "/mezzanine: vtl0-memory overlaps vtl2-memory");
	if (!inside(&out->vtl2_reserved, &out->vtl2) || !inside(&out->vtl2_free, &out->vtl2))
		return errbuf_set(err, errlen, -EINVAL,
				  "/mezzanine: vtl2-reserved/vtl2-free outside vtl2-memory");
	if (overlaps(&out->vtl2_reserved, &out->vtl2_free))
		return errbuf_set(err, errlen, -EINVAL, "/mezzanine: vtl2-free overlaps vtl2-reserved");
	int vb = fdt_subnode_offset(dtb, mz, "vmbus");
	if (vb >= 0) {
		if (fdt_node_check_compatible(dtb, vb, "microsoft,vmbus") != 0)
			return errbuf_set(err, errlen, -EINVAL,
					  "/mezzanine/vmbus: not compatible \"microsoft,vmbus\"");
		if (get_u32(dtb, vb, "/mezzanine/vmbus", "microsoft,message-connection-id",
			    &out->vmbus_connection_id, err, errlen) ||
		    get_u32(dtb, vb, "/mezzanine/vmbus", "microsoft,vtl", &out->vmbus_vtl, err,
			    errlen))
			return -EINVAL;
		if (out->vmbus_vtl != 0 && out->vmbus_vtl != 2)
			return errbuf_set(err, errlen, -EINVAL, "/mezzanine/vmbus: vtl %u",
					  out->vmbus_vtl);
		out->vmbus = true;
	}
	int ch = fdt_path_offset(dtb, "/chosen");
	if (ch >= 0 && fdt_getprop(dtb, ch, "bootargs", NULL) &&
	    get_str(dtb, ch, "/chosen", "bootargs", out->bootargs, sizeof(out->bootargs), err,
		    errlen))
		return -EINVAL;
	return 0;
}
