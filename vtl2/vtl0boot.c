/* vtl0boot: load VTL0's Linux kernel and ACPI tables (see vtl0boot.h). */
#include "vtl2/vtl0boot.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "hvcall/hv.h"
#include "vtl2/acpi.h"
#include "vtl2/errbuf.h"
#include "vtl2/vpreg.h"

/* Copy `len` bytes to VTL0 RAM at `at` (must be RAM, page by page). */
static int copy_in(struct gmem *mem, uint64_t at, const uint8_t *src, uint64_t len)
{
	while (len) {
		uint64_t chunk = ADDR_PAGE_SIZE - (at & (ADDR_PAGE_SIZE - 1));
		if (chunk > len)
			chunk = len;
		uint8_t *host = NULL;
		if (gmem_lookup(mem, gpa(at), (unsigned)chunk, &host) != GMEM_RAM)
			return -EFAULT;
		memcpy(host, src, chunk);
		at += chunk;
		src += chunk;
		len -= chunk;
	}
	return 0;
}

int vtl0boot_prepare(struct gmem *mem, const struct partition_config *cfg, uint32_t vp_count,
		     struct vtl0boot *out, char *err, size_t errlen)
{
	if (!cfg->kernel || !cfg->kernel_size)
		return errbuf_set(err, errlen, -EINVAL, "no kernel to boot");
	memset(out, 0, sizeof(*out));

	/* ACPI first: its address goes into boot_params. */
	struct acpi_config ac = { .vp_count = vp_count, .base = gpa(VTL0BOOT_ACPI_BASE),
				  .com1 = true, .vmbus = cfg->vmbus };
	size_t need = acpi_size(&ac);
	if (need == 0 || need > VTL0BOOT_ACPI_MAX)
		return errbuf_set(err, errlen, -E2BIG, "ACPI tables need %zu bytes", need);
	uint8_t *tables = calloc(1, need);
	if (!tables)
		return errbuf_set(err, errlen, -ENOMEM, "out of memory");
	struct acpi_tables at;
	int rc = acpi_build(&ac, tables, need, &at, err, errlen);
	if (rc == 0 && copy_in(mem, VTL0BOOT_ACPI_BASE, tables, at.len) < 0)
		rc = errbuf_set(err, errlen, -EFAULT, "no VTL0 RAM at 0x%llx for the ACPI tables",
				(unsigned long long)VTL0BOOT_ACPI_BASE);
	free(tables);
	if (rc < 0)
		return rc;
	out->rsdp = at.rsdp;

	struct linux_boot_image im;
	rc = linux_boot_parse(cfg->kernel, cfg->kernel_size, &im, err, errlen);
	if (rc < 0)
		return rc;
	struct partition_mem reserved[PARTITION_MAX_VTL2_MEM + 1];
	unsigned nres = 0;
	for (unsigned i = 0; i < cfg->vtl2_mem_count; i++)
		reserved[nres++] = cfg->vtl2_mem[i];
	reserved[nres++] = (struct partition_mem){ gpa(VTL0BOOT_ACPI_BASE), VTL0BOOT_ACPI_MAX };
	const struct linux_boot_config lc = {
		.ram = cfg->ram,
		.ram_count = cfg->ram_count,
		.reserved = reserved,
		.reserved_count = nres,
		.cmdline = cfg->cmdline,
		.initrd = cfg->initrd,
		.initrd_size = cfg->initrd_size,
		.acpi_rsdp = at.rsdp,
	};
	struct linux_boot_layout *lay = malloc(sizeof(*lay)); /* ~31 KiB: not on the stack */
	if (!lay)
		return errbuf_set(err, errlen, -ENOMEM, "out of memory");
	rc = linux_boot_layout(&im, cfg->kernel, cfg->kernel_size, &lc, lay, err, errlen);
	for (unsigned i = 0; rc == 0 && i < lay->piece_count; i++) {
		const struct linux_boot_piece *pc = &lay->pieces[i];
		if (copy_in(mem, pc->gpa.v, pc->bytes, pc->len) < 0)
			rc = errbuf_set(err, errlen, -EFAULT, "%s at 0x%" PRIx64 " is not VTL0 RAM",
					pc->what, pc->gpa.v);
	}
	if (rc == 0) {
		out->regs = lay->regs;
		out->kernel = lay->kernel;
		out->kernel_span = lay->kernel_span;
		out->initrd = lay->initrd;
	}
	free(lay);
	return rc;
}

int vtl0boot_apply(struct kif *kif, uint32_t vp, const struct vtl0boot *b)
{
	const struct linux_boot_regs *r = &b->regs;
	/* Order matters to a hypervisor that loads segments from the GDT: tables and control
	   registers first, then segments, then the instruction pointer and stack. */
	uint32_t names[] = {
		HV_X64_REGISTER_GDTR, HV_X64_REGISTER_IDTR, HV_X64_REGISTER_CR0,
		HV_X64_REGISTER_CR3, HV_X64_REGISTER_CR4, HV_X64_REGISTER_EFER,
		HV_X64_REGISTER_CS, HV_X64_REGISTER_DS, HV_X64_REGISTER_ES, HV_X64_REGISTER_SS,
		HV_X64_REGISTER_FS, HV_X64_REGISTER_GS, HV_X64_REGISTER_LDTR, HV_X64_REGISTER_TR,
		HV_X64_REGISTER_RIP, HV_X64_REGISTER_RSP, HV_X64_REGISTER_RFLAGS,
		HV_X64_REGISTER_RSI,
	};
	union hv_register_value v[sizeof(names) / sizeof(names[0])];
	memset(v, 0, sizeof(v));
	size_t n = 0;
	v[n++].table = r->gdtr;
	v[n++].table = r->idtr;
	v[n++].reg64 = r->cr0;
	v[n++].reg64 = r->cr3;
	v[n++].reg64 = r->cr4;
	v[n++].reg64 = r->efer;
	v[n++].segment = r->cs;
	v[n++].segment = r->ds;
	v[n++].segment = r->es;
	v[n++].segment = r->ss;
	v[n++].segment = r->fs;
	v[n++].segment = r->gs;
	v[n++].segment = r->ldtr;
	v[n++].segment = r->tr;
	v[n++].reg64 = r->rip;
	v[n++].reg64 = r->rsp;
	v[n++].reg64 = r->rflags;
	v[n++].reg64 = r->rsi;
	return vpreg_set(kif, vp, names, v, n);
}
