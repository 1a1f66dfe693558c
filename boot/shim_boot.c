/* shim_boot: see shim_boot.h. */
#include "boot/shim_boot.h"

#include <errno.h>
#include <string.h>

#include "boot/shim_cfg.h"
#include "boot/shim_cmdline.h"
#include "boot/shim_err.h"
#include "boot/shim_outdt.h"
#include "boot/shim_pt.h"

#define PAGE 4096ull
/* Room for the device tree: 256 KiB holds 1024 VPs (OpenHCL gives its tree the same). */
#define SHIM_DT_MAX 0x40000ull

typedef unsigned long long ull;

struct heap {
	uint8_t *base;
	uint64_t gpa, size, used;
};

/* Page-aligned bump allocation; returns the offset or -1. */
static int64_t heap_alloc(struct heap *h, uint64_t size)
{
	uint64_t at = (h->used + PAGE - 1) & ~(PAGE - 1);
	if (at > h->size || size > h->size - at)
		return -1;
	h->used = at + size;
	return (int64_t)at;
}

static int free_ranges(const struct mezz_shim_params *p, struct shim_boot *b)
{
	/* Everything the image placed, kernel span and initrd included, is not free. */
	uint64_t end = p->kernel.gpa + p->kernel_span;
	const struct mezz_shim_range *r[] = { &p->shim, &p->kernel_setup, &p->initrd, &p->log,
					      &p->heap, &p->param_device_tree,
					      &p->param_memory_map, &p->param_command_line,
					      &p->param_vp_count };
	for (unsigned i = 0; i < sizeof(r) / sizeof(r[0]); i++)
		if (r[i]->size && r[i]->gpa + r[i]->size > end)
			end = r[i]->gpa + r[i]->size;
	end = (end + PAGE - 1) & ~(PAGE - 1);
	b->free_ram = b->host.vtl2_ram;
	int rc = shim_range_sub(&b->free_ram, p->vtl2.gpa, end - p->vtl2.gpa);
	for (unsigned i = 0; !rc && i < b->reserved.n; i++)
		rc = shim_range_sub(&b->free_ram, b->reserved.r[i].gpa, b->reserved.r[i].size);
	return rc;
}

int shim_boot_prepare(const struct mezz_shim_params *p, const struct shim_boot_mem *m,
		      struct shim_boot *b, struct shim_log *log, char *err, size_t errlen)
{
	int rc = shim_cfg_check(p, err, errlen);
	if (rc)
		return rc;
	shim_log_printf(log,
			"mezz-shim: params ok: isolation %s, vtl2 [0x%llx,0x%llx), kernel 0x%llx "
			"span 0x%llx, initrd 0x%llx+0x%llx, heap 0x%llx+0x%llx\n",
			shim_cfg_isolation_name(p->isolation), (ull)p->vtl2.gpa,
			(ull)(p->vtl2.gpa + p->vtl2.size), (ull)p->kernel.gpa, (ull)p->kernel_span,
			(ull)p->initrd.gpa, (ull)p->initrd.size, (ull)p->heap.gpa,
			(ull)p->heap.size);

	rc = shim_bootp_check(m->kernel_setup, p->kernel_setup.size, p, &b->kernel, err, errlen);
	if (rc)
		return rc;
	shim_log_printf(log,
			"mezz-shim: kernel header: protocol %u.%02u, cmdline_size %u, init_size "
			"0x%x, %s\n", b->kernel.version >> 8, b->kernel.version & 0xFF,
			b->kernel.cmdline_size, b->kernel.init_size,
			b->kernel.relocatable ? "relocatable" : "fixed");

	rc = shim_host_parse(p, &m->areas, &b->host, err, errlen);
	if (rc)
		return rc;
	const struct shim_host *h = &b->host;
	shim_log_printf(log, "mezz-shim: memory map: %u entries, VTL2 RAM [0x%llx,0x%llx)",
			h->map.count, (ull)h->vtl2_ram.r[0].gpa,
			(ull)(h->vtl2_ram.r[0].gpa + h->vtl2_ram.r[0].size));
	if (h->vtl2_ram.n > 1)
		shim_log_printf(log, " +%u more", h->vtl2_ram.n - 1);
	shim_log_printf(log, ", VTL0 RAM %u ranges\n", h->vtl0_ram.n);
	shim_log_printf(log,
			"mezz-shim: host: device tree %s (%u cpu nodes, %u memory ranges, vmbus "
			"%s), vp count parameter %u -> %u VPs, command line from %s\n",
			h->dt.present ? "present" : "absent", h->dt.cpu_count, h->dt.memory_ranges,
			h->dt.have_vmbus ? "yes" : "no", h->vp_count_param, h->vp_count,
			h->cmdline_source);

	rc = shim_cfg_reserved(p, &b->reserved);
	if (!rc)
		rc = free_ranges(p, b);
	if (rc)
		return shim_err_set(err, errlen, rc, "memory: too many reserved/free ranges");

	struct heap heap = { m->heap, p->heap.gpa,
			     p->heap.size < SHIM_HEAP_MAX ? p->heap.size : SHIM_HEAP_MAX, 0 };
	int64_t bp_off = heap_alloc(&heap, PAGE);
	uint64_t cl_size = (uint64_t)b->kernel.cmdline_size + 1;
	if (cl_size > SHIM_CMDLINE_MAX)
		cl_size = SHIM_CMDLINE_MAX;
	int64_t cl_off = heap_alloc(&heap, cl_size);
	if (bp_off < 0 || cl_off < 0)
		return shim_err_set(err, errlen, -ENOSPC, "heap: 0x%llx bytes too small",
				    (ull)p->heap.size);
	char *cl = (char *)m->heap + cl_off;
	rc = shim_cmdline_build(cl, cl_size, &b->cmdline_len, p->static_cmdline,
				p->cmdline_policy, p->isolation, h->cmdline, b->kernel.cmdline_size,
				err, errlen);
	if (rc)
		return rc;
	b->cmdline = cl;
	b->cmdline_gpa = p->heap.gpa + (uint64_t)cl_off;
	b->boot_params_gpa = p->heap.gpa + (uint64_t)bp_off;
	shim_log_printf(log, "mezz-shim: command line: %zu bytes at 0x%llx (%s)\n",
			b->cmdline_len, (ull)b->cmdline_gpa,
			p->cmdline_policy == MEZZ_CMDLINE_APPEND_HOST &&
					p->isolation == MEZZ_ISOLATION_NONE
				? "static + host"
				: "static only");

	b->pt_pages = shim_pt_pages(&h->vtl2_ram);
	int64_t pt_off = heap_alloc(&heap, (uint64_t)b->pt_pages * PAGE);
	if (pt_off < 0)
		return shim_err_set(err, errlen, -ENOSPC, "heap: no room for %zu page-table pages",
				    b->pt_pages);
	b->pt_gpa = p->heap.gpa + (uint64_t)pt_off;
	rc = shim_pt_build(m->heap + pt_off, b->pt_gpa, b->pt_pages, &h->vtl2_ram, &b->cr3, err,
			   errlen);
	if (rc)
		return rc;
	shim_log_printf(log, "mezz-shim: page tables: %zu pages at 0x%llx\n", b->pt_pages,
			(ull)b->pt_gpa);

	rc = shim_e820_build(&h->vtl2_ram, &b->reserved, &b->e820, err, errlen);
	if (rc)
		return rc;
	shim_log_printf(log, "mezz-shim: e820: %u entries\n", b->e820.n);

	int64_t sd_off = heap_alloc(&heap, PAGE);
	if (sd_off < 0)
		return shim_err_set(err, errlen, -ENOSPC, "heap: no room for the device tree");
	/* The DTB takes the rest of the heap; setup_data.len is a u32. */
	uint64_t dt_room = heap.size - (uint64_t)sd_off - sizeof(struct x86_boot_setup_data);
	if (dt_room > SHIM_DT_MAX)
		dt_room = SHIM_DT_MAX;
	b->setup_data_gpa = p->heap.gpa + (uint64_t)sd_off;
	b->dtb_gpa = b->setup_data_gpa + sizeof(struct x86_boot_setup_data);
	struct shim_outdt_input din = {
		.cmdline = cl,
		.initrd_gpa = p->initrd.gpa,
		.initrd_size = p->initrd.size,
		.isolation = p->isolation,
		.vp_count = h->vp_count,
		.apic_id = h->apic_id,
		.vtl0_ram = &h->vtl0_ram,
		.vtl2_ram = &h->vtl2_ram,
		.vtl2_reserved = &b->reserved,
		.vtl2_free = &b->free_ram,
		.log = p->log,
		.have_vmbus = h->dt.have_vmbus,
		.vmbus_connection_id = h->dt.vmbus_connection_id,
		.vmbus_vtl = h->dt.vmbus_vtl,
	};
	uint8_t *sd = m->heap + sd_off;
	rc = shim_outdt_build(sd + sizeof(struct x86_boot_setup_data), (size_t)dt_room, &din,
			      &b->dtb_len, err, errlen);
	if (rc)
		return rc;
	struct x86_boot_setup_data sdh = { 0, SHIM_BP_SETUP_DTB, (uint32_t)b->dtb_len };
	memcpy(sd, &sdh, sizeof(sdh));
	heap.used = (uint64_t)sd_off + sizeof(sdh) + b->dtb_len;
	shim_log_printf(log, "mezz-shim: device tree: %zu bytes at 0x%llx, %u VPs\n", b->dtb_len,
			(ull)b->dtb_gpa, h->vp_count);

	struct shim_bp_input bin = {
		.cmdline_gpa = b->cmdline_gpa,
		.initrd_gpa = p->initrd.size ? p->initrd.gpa : 0,
		.initrd_size = p->initrd.size,
		.setup_data_gpa = b->setup_data_gpa,
		.e820 = &b->e820,
	};
	shim_bootp_build((struct x86_boot_params *)(m->heap + bp_off), m->kernel_setup, &b->kernel,
			 &bin);
	b->entry = p->kernel.gpa + SHIM_BP_ENTRY_64_OFF;
	b->heap_used = heap.used;
	shim_log_printf(log, "mezz-shim: boot_params at 0x%llx, heap used 0x%llx of 0x%llx\n",
			(ull)b->boot_params_gpa, (ull)b->heap_used, (ull)heap.size);
	return 0;
}

void shim_boot_log_final(const struct shim_boot *b, struct shim_log *log)
{
	shim_log_printf(log, "mezz-shim: jumping to kernel at 0x%llx boot_params 0x%llx e820",
			(ull)b->entry, (ull)b->boot_params_gpa);
	for (unsigned i = 0; i < b->e820.n; i++)
		shim_log_printf(log, " [0x%016llx-0x%016llx] %u", (ull)b->e820.e[i].addr,
				(ull)(b->e820.e[i].addr + b->e820.e[i].size - 1),
				b->e820.e[i].type);
	shim_log_printf(log, " cmdline \"%s\"\n", b->cmdline);
}
