/* shim_host: see shim_host.h. */
#include "boot/shim_host.h"

#include <errno.h>
#include <string.h>

#include "boot/shim_err.h"

static int parse_cmdline(const uint8_t *area, size_t size, struct shim_host *out, char *err,
			 size_t errlen)
{
	out->cmdline[0] = '\0';
	if (!size || !area[0])
		return 0;
	size_t lim = size < SHIM_HOST_CMDLINE_MAX ? size : SHIM_HOST_CMDLINE_MAX;
	size_t len = 0;
	/* Copy as we check so a host changing the area cannot get unchecked bytes past us. */
	while (len < lim) {
		char c = (char)area[len];
		out->cmdline[len] = c;
		if (!c)
			break;
		if (c < 0x20 || c > 0x7E) {
			out->cmdline[0] = '\0';
			return shim_err_set(err, errlen, -EINVAL,
					    "command line: byte %zu is 0x%02x, not printable ASCII",
					    len, (unsigned)(unsigned char)c);
		}
		len++;
	}
	if (len == lim) {
		out->cmdline[0] = '\0';
		if (lim < size)
			return shim_err_set(err, errlen, -EINVAL,
					    "command line: longer than %u bytes",
					    SHIM_HOST_CMDLINE_MAX - 1);
		return shim_err_set(err, errlen, -EINVAL,
				    "command line: no NUL within the %zu-byte area", size);
	}
	return 0;
}

int shim_host_parse(const struct mezz_shim_params *p, const struct shim_host_areas *a,
		    struct shim_host *out, char *err, size_t errlen)
{
	int rc;
	static const uint8_t zero[SHIM_MEMMAP_ENTRY_SIZE];
	if (p->param_memory_map.size)
		rc = shim_memmap_parse(a->memory_map, p->param_memory_map.size, &out->map, err,
				       errlen);
	else
		rc = shim_memmap_parse(zero, sizeof(zero), &out->map, err, errlen);
	if (rc)
		return rc;
	rc = shim_memmap_split(&out->map, &p->vtl2, &out->vtl2_ram, &out->vtl0_ram, err, errlen);
	if (rc)
		return rc;

	out->vp_count_param = 0;
	if (p->param_vp_count.size) {
		if (p->param_vp_count.size < 4)
			return shim_err_set(err, errlen, -EINVAL, "vp count: area of %llu bytes",
					    (unsigned long long)p->param_vp_count.size);
		memcpy(&out->vp_count_param, a->vp_count, 4);
		if (out->vp_count_param > MEZZ_SHIM_MAX_VPS)
			return shim_err_set(err, errlen, -EINVAL, "vp count: %u, limit %u",
					    out->vp_count_param, MEZZ_SHIM_MAX_VPS);
	}

	rc = parse_cmdline(a->command_line, p->param_command_line.size, out, err, errlen);
	if (rc)
		return rc;

	rc = shim_hostdt_parse(a->device_tree, p->param_device_tree.size, &out->map, &out->dt,
			       err, errlen);
	if (rc)
		return rc;

	if (out->dt.cpu_count) {
		if (out->vp_count_param && out->vp_count_param != out->dt.cpu_count)
			return shim_err_set(err, errlen, -EINVAL,
					    "vp count: %u but the device tree has %u cpu nodes",
					    out->vp_count_param, out->dt.cpu_count);
		out->vp_count = out->dt.cpu_count;
		memcpy(out->apic_id, out->dt.apic_id, out->vp_count * sizeof(out->apic_id[0]));
	} else {
		if (out->dt.present && out->vp_count_param)
			return shim_err_set(err, errlen, -EINVAL,
					    "vp count: %u but the device tree has 0 cpu nodes",
					    out->vp_count_param);
		out->vp_count = out->vp_count_param ? out->vp_count_param : 1;
		for (uint32_t i = 0; i < out->vp_count; i++)
			out->apic_id[i] = i;
	}

	if (out->cmdline[0]) {
		out->cmdline_source = "parameter";
	} else if (out->dt.have_bootargs && out->dt.bootargs[0]) {
		memcpy(out->cmdline, out->dt.bootargs, strlen(out->dt.bootargs) + 1);
		out->cmdline_source = "device tree";
	} else {
		out->cmdline_source = "none";
	}
	return 0;
}
