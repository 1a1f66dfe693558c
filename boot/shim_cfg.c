/* shim_cfg: see shim_cfg.h. */
#include "boot/shim_cfg.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "boot/shim_err.h"

struct named_range {
	const char *name;
	uint64_t gpa, size;
};

/* The image's ranges in a fixed order; kernel uses its span, not its file bytes. */
static unsigned collect(const struct mezz_shim_params *p, struct named_range *r)
{
	unsigned n = 0;
	r[n++] = (struct named_range){ "params", p->vtl2.gpa + MEZZ_SHIM_OFF_PARAMS, 0x1000 };
	r[n++] = (struct named_range){ "tables", p->tables.gpa, p->tables.size };
	r[n++] = (struct named_range){ "shim", p->shim.gpa, p->shim.size };
	r[n++] = (struct named_range){ "kernel_setup", p->kernel_setup.gpa, p->kernel_setup.size };
	r[n++] = (struct named_range){ "kernel", p->kernel.gpa, p->kernel_span };
	r[n++] = (struct named_range){ "initrd", p->initrd.gpa, p->initrd.size };
	r[n++] = (struct named_range){ "log", p->log.gpa, p->log.size };
	r[n++] = (struct named_range){ "heap", p->heap.gpa, p->heap.size };
	r[n++] = (struct named_range){ "param_device_tree", p->param_device_tree.gpa,
				       p->param_device_tree.size };
	r[n++] = (struct named_range){ "param_memory_map", p->param_memory_map.gpa,
				       p->param_memory_map.size };
	r[n++] = (struct named_range){ "param_command_line", p->param_command_line.gpa,
				       p->param_command_line.size };
	r[n++] = (struct named_range){ "param_vp_count", p->param_vp_count.gpa,
				       p->param_vp_count.size };
	return n;
}

const char *shim_cfg_isolation_name(unsigned isolation)
{
	static const char *const names[] = { "none", "vbs", "snp", "tdx" };
	return isolation < 4 ? names[isolation] : "?";
}

static bool page_aligned(uint64_t v)
{
	return (v & (SHIM_CFG_PAGE - 1)) == 0;
}

int shim_cfg_check(const struct mezz_shim_params *p, char *err, size_t errlen)
{
	if (p->magic != MEZZ_SHIM_PARAMS_MAGIC)
		return shim_err_set(err, errlen, -EINVAL, "params: bad magic 0x%llx",
				    (unsigned long long)p->magic);
	if (p->version != MEZZ_SHIM_PARAMS_VERSION)
		return shim_err_set(err, errlen, -EINVAL, "params: version %u, want %u",
				    p->version, MEZZ_SHIM_PARAMS_VERSION);
	if (p->size != sizeof(*p))
		return shim_err_set(err, errlen, -EINVAL, "params: size 0x%x, want 0x%zx", p->size,
				    sizeof(*p));
	if (p->isolation > MEZZ_ISOLATION_TDX)
		return shim_err_set(err, errlen, -EINVAL, "params: isolation %u unknown",
				    p->isolation);
	if (p->cmdline_policy > MEZZ_CMDLINE_APPEND_HOST)
		return shim_err_set(err, errlen, -EINVAL, "params: cmdline_policy %u unknown",
				    p->cmdline_policy);
	for (unsigned i = 0; i < 3; i++)
		if (p->reserved0[i] || p->reserved1[i])
			return shim_err_set(err, errlen, -EINVAL,
					    "params: reserved field %u is not zero", i);
	const char *sc = p->static_cmdline;
	size_t len = 0;
	while (len < MEZZ_SHIM_STATIC_CMDLINE_MAX && sc[len])
		len++;
	if (len == MEZZ_SHIM_STATIC_CMDLINE_MAX)
		return shim_err_set(err, errlen, -EINVAL, "params: static_cmdline not terminated");
	for (size_t i = 0; i < len; i++)
		if (sc[i] < 0x20 || sc[i] > 0x7E)
			return shim_err_set(err, errlen, -EINVAL,
					    "params: static_cmdline byte %zu is 0x%02x, not printable",
					    i, (unsigned)(unsigned char)sc[i]);

	if (!p->vtl2.size || (p->vtl2.gpa | p->vtl2.size) & (SHIM_CFG_2M - 1))
		return shim_err_set(err, errlen, -EINVAL,
				    "params: vtl2 [0x%llx,+0x%llx) not 2 MiB aligned or empty",
				    (unsigned long long)p->vtl2.gpa,
				    (unsigned long long)p->vtl2.size);
	if (!shim_range_inside(p->vtl2.gpa, p->vtl2.size, 0, SHIM_CFG_LIMIT_4G))
		return shim_err_set(err, errlen, -EINVAL,
				    "params: vtl2 [0x%llx,+0x%llx) not below 4 GiB",
				    (unsigned long long)p->vtl2.gpa,
				    (unsigned long long)p->vtl2.size);
	if (p->tables.gpa != p->vtl2.gpa + MEZZ_SHIM_OFF_GDT ||
	    p->tables.size != (1 + MEZZ_SHIM_PT_PAGES) * SHIM_CFG_PAGE)
		return shim_err_set(err, errlen, -EINVAL,
				    "params: tables [0x%llx,+0x%llx) not at vtl2 + 0x1000, 0x7000 bytes",
				    (unsigned long long)p->tables.gpa,
				    (unsigned long long)p->tables.size);
	if (!p->kernel.size || p->kernel.gpa & (SHIM_CFG_2M - 1))
		return shim_err_set(err, errlen, -EINVAL,
				    "params: kernel gpa 0x%llx not 2 MiB aligned or kernel empty",
				    (unsigned long long)p->kernel.gpa);
	if (p->kernel.size > p->kernel_span)
		return shim_err_set(err, errlen, -EINVAL,
				    "params: kernel 0x%llx bytes exceed kernel_span 0x%llx",
				    (unsigned long long)p->kernel.size,
				    (unsigned long long)p->kernel_span);
	if (!p->kernel_setup.size)
		return shim_err_set(err, errlen, -EINVAL, "params: kernel_setup empty");
	if (!p->shim.size)
		return shim_err_set(err, errlen, -EINVAL, "params: shim empty");
	if (p->heap.size < SHIM_CFG_HEAP_MIN)
		return shim_err_set(err, errlen, -EINVAL, "params: heap 0x%llx bytes, need 0x%x",
				    (unsigned long long)p->heap.size, SHIM_CFG_HEAP_MIN);

	struct named_range r[12];
	unsigned n = collect(p, r);
	for (unsigned i = 0; i < n; i++) {
		/* Pages the shim writes or parses must be whole pages; the kernel's bytes need not
		   end on one. */
		bool whole = i != 2 && i != 3 && i != 4 && i != 5;
		if (!page_aligned(r[i].gpa) || (whole && !page_aligned(r[i].size)))
			return shim_err_set(err, errlen, -EINVAL,
					    "params: %s [0x%llx,+0x%llx) not page aligned", r[i].name,
					    (unsigned long long)r[i].gpa,
					    (unsigned long long)r[i].size);
		if (r[i].size && !shim_range_inside(r[i].gpa, r[i].size, p->vtl2.gpa, p->vtl2.size))
			return shim_err_set(err, errlen, -EINVAL,
					    "params: %s [0x%llx,+0x%llx) outside vtl2 [0x%llx,0x%llx)",
					    r[i].name, (unsigned long long)r[i].gpa,
					    (unsigned long long)r[i].size,
					    (unsigned long long)p->vtl2.gpa,
					    (unsigned long long)(p->vtl2.gpa + p->vtl2.size));
	}
	for (unsigned i = 0; i < n; i++)
		for (unsigned j = 0; j < i; j++)
			if (shim_range_overlap(r[i].gpa, r[i].size, r[j].gpa, r[j].size))
				return shim_err_set(
					err, errlen, -EINVAL,
					"params: %s [0x%llx,0x%llx) overlaps %s [0x%llx,0x%llx)",
					r[i].name, (unsigned long long)r[i].gpa,
					(unsigned long long)(r[i].gpa + r[i].size), r[j].name,
					(unsigned long long)r[j].gpa,
					(unsigned long long)(r[j].gpa + r[j].size));
	return 0;
}

int shim_cfg_reserved(const struct mezz_shim_params *p, struct shim_rangeset *out)
{
	struct named_range r[12];
	unsigned n = collect(p, r);
	shim_range_init(out);
	/* The whole loader block below the parameter areas (params, GDT, page tables, and what
	   else the image keeps there, e.g. an SNP VMSA page) is never RAM for the kernel. */
	r[0].size = MEZZ_SHIM_OFF_PARAM_AREAS;
	for (unsigned i = 0; i < n; i++) {
		/* The kernel span and the initrd are the kernel's to manage: RAM, not reserved. */
		if (i == 3 || i == 4 || i == 5 || !r[i].size)
			continue;
		if (i == 7 && r[i].size > SHIM_HEAP_MAX)
			r[i].size = SHIM_HEAP_MAX; /* the heap: the part the shim may use */
		uint64_t end = (r[i].gpa + r[i].size + SHIM_CFG_PAGE - 1) & ~(SHIM_CFG_PAGE - 1);
		int rc = shim_range_add(out, r[i].gpa, end - r[i].gpa);
		if (rc)
			return rc;
	}
	return 0;
}
