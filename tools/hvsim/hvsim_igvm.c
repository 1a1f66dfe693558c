/*
 * hvsim_igvm: the host loader's part for IGVM images (header: hvsim_igvm.h). Format facts:
 * /work/shared/docs/igvm-facts.md (§6.7-§6.12 directives, §6.10 parameter payloads, §6.11 the
 * native VP context).
 */
#include "tools/hvsim/hvsim_igvm.h"

#include <errno.h>
#include <libfdt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvcall/hv.h"
#include "igvm/igvm.h"
#include "tools/hvsim/hvsim.h"
#include "tools/hvsim/hvsim_priv.h"

#define PAGE 4096ull
#define MAX_AREAS 64

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
						       ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int parse(const uint8_t *file, size_t len, struct igvm_file **f, char *err,
		 size_t errlen)
{
	struct igvm_error ie;
	if (igvm_parse(file, len, NULL, f, &ie) != IGVM_OK) {
		char m[256];
		igvm_error_format(&ie, m, sizeof(m));
		return fail(err, errlen, "not a valid IGVM file: %s", m);
	}
	return 0;
}

static int add_range(struct hvsim_igvm_layout *l, uint64_t gpa, uint64_t size, char *err,
		     size_t errlen)
{
	uint64_t a = gpa & ~(PAGE - 1), e = (gpa + size + PAGE - 1) & ~(PAGE - 1);
	if (size == 0 || gpa + size < gpa || e < a)
		return fail(err, errlen, "range at 0x%llx wraps", (unsigned long long)gpa);
	/* Merge with an overlapping or adjacent range, else insert sorted. */
	for (unsigned i = 0; i < l->vtl2_count; i++) {
		struct hvsim_igvm_range *r = &l->vtl2[i];
		if (a <= r->gpa + r->size && e >= r->gpa) {
			uint64_t na = a < r->gpa ? a : r->gpa;
			uint64_t ne = e > r->gpa + r->size ? e : r->gpa + r->size;
			r->gpa = na;
			r->size = ne - na;
			/* It may now touch its neighbours: fold them in. */
			for (unsigned j = 0; j < l->vtl2_count;) {
				struct hvsim_igvm_range *q = &l->vtl2[j];
				if (j != i && q->gpa <= r->gpa + r->size && q->gpa + q->size >= r->gpa) {
					uint64_t qa = q->gpa < r->gpa ? q->gpa : r->gpa;
					uint64_t qe = q->gpa + q->size > r->gpa + r->size ?
							      q->gpa + q->size : r->gpa + r->size;
					r->gpa = qa;
					r->size = qe - qa;
					memmove(q, q + 1, (l->vtl2_count - j - 1) * sizeof(*q));
					l->vtl2_count--;
					if (j < i)
						i--, r = &l->vtl2[i];
					continue;
				}
				j++;
			}
			return 0;
		}
	}
	if (l->vtl2_count == HVSIM_IGVM_MAX_RANGES)
		return fail(err, errlen, "more than %d separate VTL2 ranges", HVSIM_IGVM_MAX_RANGES);
	unsigned k = 0;
	while (k < l->vtl2_count && l->vtl2[k].gpa < a)
		k++;
	memmove(&l->vtl2[k + 1], &l->vtl2[k], (l->vtl2_count - k) * sizeof(l->vtl2[0]));
	l->vtl2[k] = (struct hvsim_igvm_range){ a, e - a };
	l->vtl2_count++;
	return 0;
}

static int scan_file(const struct igvm_file *f, enum hvsim_igvm_platform platform,
		     struct hvsim_igvm_layout *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	bool vbs = platform == HVSIM_IGVM_VBS;
	const struct igvm_platform_info *p =
		igvm_find_platform(f, vbs ? IGVM_PLATFORM_VSM_ISOLATION : IGVM_PLATFORM_NATIVE);
	if (!p)
		return fail(err, errlen, "the image has no %s platform (hvsim loads NATIVE or "
					 "VSM_ISOLATION)", vbs ? "VSM_ISOLATION" : "NATIVE");
	out->mask = p->mask;
	out->highest_vtl = p->highest_vtl;
	for (size_t i = 0; i < igvm_header_count(f); i++) {
		const struct igvm_header *h = igvm_header_at(f, i);
		int rc = 0;
		switch (h->type) {
		case IGVM_VHT_PARAMETER_AREA:
			if (h->u.param_area.parameter_area_index >= MAX_AREAS)
				return fail(err, errlen, "header %zu: parameter area index %u (hvsim "
						       "takes < %d)", i,
					    h->u.param_area.parameter_area_index, MAX_AREAS);
			break;
		case IGVM_VHT_PAGE_DATA:
			if (igvm_header_applies(h, p->mask))
				rc = add_range(out, h->u.page_data.gpa,
					       (h->u.page_data.flags & IGVM_PAGE_FLAG_IS_2MB_PAGE) ?
						       0x200000 : PAGE, err, errlen);
			break;
		case IGVM_VHT_PARAMETER_INSERT:
			if (igvm_header_applies(h, p->mask))
				rc = add_range(out, h->u.param_insert.gpa, h->insert_size, err,
					       errlen);
			break;
		case IGVM_VHT_REQUIRED_MEMORY:
			if (igvm_header_applies(h, p->mask))
				rc = add_range(out, h->u.required_memory.gpa,
					       h->u.required_memory.number_of_bytes, err, errlen);
			break;
		default:
			break;
		}
		if (rc)
			return rc;
	}
	if (out->vtl2_count == 0)
		return fail(err, errlen, "the image loads nothing for the %s platform",
			    vbs ? "VSM_ISOLATION" : "NATIVE");
	const struct hvsim_igvm_range *last = &out->vtl2[out->vtl2_count - 1];
	out->vtl2_end = last->gpa + last->size;
	return 0;
}

int hvsim_igvm_scan(const uint8_t *file, size_t len, enum hvsim_igvm_platform platform,
		    struct hvsim_igvm_layout *out, char *err, size_t errlen)
{
	struct igvm_file *f;
	int rc = parse(file, len, &f, err, errlen);
	if (rc)
		return rc;
	rc = scan_file(f, platform, out, err, errlen);
	igvm_free(f);
	return rc;
}

/* ---- the host's parameters ---- */

struct mm_entry {
	uint64_t gpa, size;
	uint16_t type;
};

/* VTL0 RAM is everything the image does not claim; VTL2's ranges are VTL2_PROTECTABLE. */
static unsigned memory_map(const struct hvsim_igvm_layout *l, uint64_t mem_size,
			   struct mm_entry *mm, unsigned max)
{
	unsigned n = 0;
	uint64_t at = 0;
	for (unsigned i = 0; i < l->vtl2_count && n + 2 <= max; i++) {
		if (l->vtl2[i].gpa > at)
			mm[n++] = (struct mm_entry){ at, l->vtl2[i].gpa - at,
						     IGVM_MEMORY_MAP_MEMORY };
		mm[n++] = (struct mm_entry){ l->vtl2[i].gpa, l->vtl2[i].size,
					     IGVM_MEMORY_MAP_VTL2_PROTECTABLE };
		at = l->vtl2[i].gpa + l->vtl2[i].size;
	}
	if (at < mem_size && n < max)
		mm[n++] = (struct mm_entry){ at, mem_size - at, IGVM_MEMORY_MAP_MEMORY };
	return n;
}

static int build_dt(void *buf, size_t size, uint32_t vps, const struct mm_entry *mm, unsigned n,
		    const struct hvsim_igvm_host *host)
{
	int e = 0;
	char name[48];
	e |= fdt_create(buf, (int)size);
	e |= fdt_finish_reservemap(buf);
	e |= fdt_begin_node(buf, "");
	e |= fdt_property_u32(buf, "#address-cells", 2);
	e |= fdt_property_u32(buf, "#size-cells", 2);
	e |= fdt_property_string(buf, "compatible", "microsoft,hyperv-partition");
	e |= fdt_begin_node(buf, "cpus");
	e |= fdt_property_u32(buf, "#address-cells", 1);
	e |= fdt_property_u32(buf, "#size-cells", 0);
	for (uint32_t i = 0; i < vps && !e; i++) {
		snprintf(name, sizeof(name), "cpu@%x", i);
		e |= fdt_begin_node(buf, name);
		e |= fdt_property_string(buf, "device_type", "cpu");
		e |= fdt_property_u32(buf, "reg", i); /* hvsim: APIC ID = VP index */
		e |= fdt_property_string(buf, "status", "okay");
		e |= fdt_end_node(buf);
	}
	e |= fdt_end_node(buf);
	for (unsigned i = 0; i < n && !e; i++) {
		snprintf(name, sizeof(name), "memory@%llx", (unsigned long long)mm[i].gpa);
		e |= fdt_begin_node(buf, name);
		e |= fdt_property_string(buf, "device_type", "memory");
		fdt64_t reg[2] = { cpu_to_fdt64(mm[i].gpa), cpu_to_fdt64(mm[i].size) };
		e |= fdt_property(buf, "reg", reg, sizeof(reg));
		e |= fdt_property_u32(buf, "microsoft,igvm-type", mm[i].type);
		e |= fdt_end_node(buf);
	}
	e |= fdt_begin_node(buf, "chosen");
	e |= fdt_property_string(buf, "bootargs", host->command_line ? host->command_line : "");
	e |= fdt_end_node(buf);
	if (host->vmbus) {
		e |= fdt_begin_node(buf, "bus");
		e |= fdt_property_string(buf, "compatible", "simple-bus");
		e |= fdt_property_u32(buf, "#address-cells", 2);
		e |= fdt_property_u32(buf, "#size-cells", 2);
		e |= fdt_property(buf, "ranges", NULL, 0);
		e |= fdt_begin_node(buf, "vmbus");
		e |= fdt_property_string(buf, "compatible", "microsoft,vmbus");
		e |= fdt_property_u32(buf, "microsoft,message-connection-id",
				      host->vmbus_connection_id);
		e |= fdt_property_u32(buf, "microsoft,vtl", host->vmbus_vtl);
		e |= fdt_end_node(buf);
		e |= fdt_end_node(buf);
	}
	e |= fdt_end_node(buf);
	e |= fdt_finish(buf);
	return e ? -ENOSPC : 0;
}

struct area {
	uint8_t *bytes;
	uint64_t size;
	bool declared, inserted;
};

static int write_param(struct area *a, uint32_t type, uint32_t off, struct hvsim *sim,
		       const struct hvsim_igvm_layout *l, const struct hvsim_igvm_host *host,
		       struct hvsim_igvm_loaded *out, char *err, size_t errlen)
{
	if (off >= a->size)
		return fail(err, errlen, "parameter 0x%x at byte %u is outside its %llu-byte area",
			    type, off, (unsigned long long)a->size);
	uint8_t *at = a->bytes + off;
	size_t room = a->size - off;
	for (unsigned i = 0; i < host->override_count; i++) {
		if (host->overrides[i].type == type) {
			size_t n = host->overrides[i].len < room ? host->overrides[i].len : room;
			memcpy(at, host->overrides[i].bytes, n);
			return 0;
		}
	}
	switch (type) {
	case IGVM_VHT_VP_COUNT_PARAMETER: {
		if (room < 4)
			return fail(err, errlen, "VP count does not fit its area");
		uint32_t v = hvsim_vp_count(sim);
		memcpy(at, &v, 4);
		return 0;
	}
	case IGVM_VHT_MEMORY_MAP: {
		struct mm_entry mm[2 * HVSIM_IGVM_MAX_RANGES + 1];
		unsigned n = memory_map(l, hvsim_mem_size(sim), mm,
					sizeof(mm) / sizeof(mm[0]));
		if ((n + 1) * sizeof(struct igvm_vhs_memory_map_entry) > room)
			return fail(err, errlen, "memory map (%u entries) does not fit its area", n);
		for (unsigned i = 0; i < n; i++) {
			struct igvm_vhs_memory_map_entry e = {
				.starting_gpa_page_number = mm[i].gpa / PAGE,
				.number_of_pages = mm[i].size / PAGE,
				.entry_type = mm[i].type,
			};
			memcpy(at + i * sizeof(e), &e, sizeof(e));
		}
		/* The terminator (number_of_pages 0) is already zero. */
		out->memory_map_entries = n;
		return 0;
	}
	case IGVM_VHT_COMMAND_LINE: {
		const char *c = host->command_line ? host->command_line : "";
		size_t n = strlen(c) + 1;
		if (n > room)
			return fail(err, errlen, "host command line (%zu bytes) does not fit its "
						 "%zu-byte area", n, room);
		memcpy(at, c, n);
		return 0;
	}
	case IGVM_VHT_DEVICE_TREE: {
		struct mm_entry mm[2 * HVSIM_IGVM_MAX_RANGES + 1];
		unsigned n = memory_map(l, hvsim_mem_size(sim), mm,
					sizeof(mm) / sizeof(mm[0]));
		if (build_dt(at, room, hvsim_vp_count(sim), mm, n, host))
			return fail(err, errlen, "the host device tree does not fit its %zu-byte "
						 "area", room);
		return 0;
	}
	default:
		/* SRAT, MADT, SLIT, PPTT, MMIO ranges, environment info: hvsim gives none (the
		   area stays zero), which the guest must handle as "not provided". */
		return 0;
	}
}

static int set_seg(struct hvsim *sim, uint32_t name, uint16_t sel, uint16_t attr, uint64_t base,
		   uint32_t limit)
{
	union hv_register_value v = { 0 };
	v.segment = (struct hv_x64_segment_register){ .base = base, .limit = limit,
						      .selector = sel, .attributes = attr };
	return hvsim_vp_set_register(sim, 0, name, &v);
}

static int set64(struct hvsim *sim, uint32_t name, uint64_t val)
{
	union hv_register_value v = { 0 };
	v.reg64 = val;
	return hvsim_vp_set_register(sim, 0, name, &v);
}

static int load_context(struct hvsim *sim, const uint8_t *data, struct hvsim_igvm_loaded *out,
			char *err, size_t errlen)
{
	struct igvm_native_vp_context_x64 c;
	memcpy(&c, data, sizeof(c));
	/* Reset VP 0 to a defined long-mode state first: the context overrides what it names
	   and everything else keeps reset values. */
	int rc = hvsim_vp_setup_long_mode(sim, 0, c.rip);
	const uint64_t gprs[16] = { c.rax, c.rcx, c.rdx, c.rbx, c.rsp, c.rbp, c.rsi, c.rdi,
				    c.r8,  c.r9,  c.r10, c.r11, c.r12, c.r13, c.r14, c.r15 };
	/* Control state before segments: loading a selector consults the GDT in this mode. */
	rc = rc ? rc : set64(sim, HV_X64_REGISTER_CR4, c.cr4);
	rc = rc ? rc : set64(sim, HV_X64_REGISTER_CR3, c.cr3);
	rc = rc ? rc : set64(sim, HV_X64_REGISTER_EFER, c.efer);
	rc = rc ? rc : set64(sim, HV_X64_REGISTER_CR0, c.cr0);
	if (!rc) {
		union hv_register_value v = { 0 };
		v.table.base = c.gdtr_base;
		v.table.limit = c.gdtr_limit;
		rc = hvsim_vp_set_register(sim, 0, HV_X64_REGISTER_GDTR, &v);
		v.table.base = c.idtr_base;
		v.table.limit = c.idtr_limit;
		rc = rc ? rc : hvsim_vp_set_register(sim, 0, HV_X64_REGISTER_IDTR, &v);
	}
	rc = rc ? rc : set_seg(sim, HV_X64_REGISTER_CS, c.code_selector, c.code_attributes,
			       c.code_base, c.code_limit);
	static const uint32_t data_segs[] = { HV_X64_REGISTER_DS, HV_X64_REGISTER_ES,
					      HV_X64_REGISTER_SS, HV_X64_REGISTER_FS,
					      HV_X64_REGISTER_GS };
	/* GS takes gs_base (64 bits) as its base: the context's one field for it. */
	for (unsigned i = 0; i < 5 && !rc; i++)
		rc = set_seg(sim, data_segs[i], c.data_selector, c.data_attributes,
			     data_segs[i] == HV_X64_REGISTER_GS ? c.gs_base : c.data_base,
			     c.data_limit);
	for (unsigned i = 0; i < 16 && !rc; i++)
		rc = set64(sim, HV_X64_REGISTER_RAX + i, gprs[i]);
	rc = rc ? rc : set64(sim, HV_X64_REGISTER_RFLAGS, c.rflags | 2);
	rc = rc ? rc : set64(sim, HV_X64_REGISTER_RIP, c.rip);
	if (rc)
		return fail(err, errlen, "VP 0 context: hvsim refused a register (%s)",
			    strerror(-rc));
	/* The run page's cpu_context carries the GPRs into the next run (as the driver's does):
	   make it what the context says. */
	struct hvsim_vp *vp = sim->vps[0];
	pthread_mutex_lock(&vp->lock);
	hvsim_vp_ctx_save(vp);
	pthread_mutex_unlock(&vp->lock);
	out->rip = c.rip;
	out->rsi = c.rsi;
	return 0;
}

/*
 * A VBS register list (§6.11.2: u32 count, then 32-byte records {vtl, name, mbz, value}),
 * validated by the library (data_len = 4 + 32 * count, one VTL). Table registers and control
 * state first (loading a selector consults the GDT in the current mode), then the rest.
 */
static int load_vbs_context(struct hvsim *sim, const struct igvm_header *h,
			    struct hvsim_igvm_loaded *out, char *err, size_t errlen)
{
	uint32_t n = igvm_header_vbs_register_count(h);
	if (h->vp_vtl != 2)
		return fail(err, errlen, "the VBS context is for VTL %u (hvsim starts VTL 2)",
			    h->vp_vtl);
	int rc = hvsim_vp_setup_long_mode(sim, 0, 0);
	for (int pass = 0; pass < 2 && !rc; pass++) {
		for (uint32_t i = 0; i < n && !rc; i++) {
			struct igvm_vbs_vp_context_register r;
			memcpy(&r, h->data + sizeof(struct igvm_vbs_vp_context_header) + 32 * i,
			       sizeof(r));
			uint32_t name = r.register_name;
			bool early = name == HV_X64_REGISTER_GDTR || name == HV_X64_REGISTER_IDTR ||
				     name == HV_X64_REGISTER_CR0 || name == HV_X64_REGISTER_CR3 ||
				     name == HV_X64_REGISTER_CR4 || name == HV_X64_REGISTER_EFER;
			if (early != (pass == 0))
				continue;
			union hv_register_value v;
			memcpy(&v, r.register_value, sizeof(v));
			rc = hvsim_vp_set_register(sim, 0, name, &v);
			if (rc)
				return fail(err, errlen, "VBS context: register 0x%x refused (%s)",
					    name, strerror(-rc));
			if (name == HV_X64_REGISTER_RIP)
				out->rip = v.reg64;
			if (name == HV_X64_REGISTER_RSI)
				out->rsi = v.reg64;
		}
	}
	if (rc)
		return fail(err, errlen, "VBS context: VP 0 could not be reset (%s)", strerror(-rc));
	struct hvsim_vp *vp = sim->vps[0];
	pthread_mutex_lock(&vp->lock);
	hvsim_vp_ctx_save(vp);
	pthread_mutex_unlock(&vp->lock);
	return 0;
}

int hvsim_igvm_load(struct hvsim *sim, const uint8_t *file, size_t len,
		    const struct hvsim_igvm_host *host, struct hvsim_igvm_loaded *out, char *err,
		    size_t errlen)
{
	memset(out, 0, sizeof(*out));
	struct igvm_file *f;
	int rc = parse(file, len, &f, err, errlen);
	if (rc)
		return rc;
	struct hvsim_igvm_layout l;
	rc = scan_file(f, host->platform, &l, err, errlen);
	if (rc)
		goto out;
	if (l.vtl2_end > hvsim_mem_size(sim)) {
		rc = fail(err, errlen, "the image needs RAM up to 0x%llx, the partition has 0x%llx",
			  (unsigned long long)l.vtl2_end, (unsigned long long)hvsim_mem_size(sim));
		goto out;
	}
	struct area areas[MAX_AREAS];
	memset(areas, 0, sizeof(areas));
	bool have_ctx = false;
	for (size_t i = 0; i < igvm_header_count(f) && !rc; i++) {
		const struct igvm_header *h = igvm_header_at(f, i);
		if (igvm_is_parameter_type(h->type)) {
			/* The validator checked that the area is declared and not yet inserted. */
			struct area *a = &areas[h->u.parameter.parameter_area_index];
			rc = write_param(a, h->type, h->u.parameter.byte_offset, sim, &l, host, out,
					 err, errlen);
			continue;
		}
		switch (h->type) {
		case IGVM_VHT_PAGE_DATA: {
			if (!igvm_header_applies(h, l.mask))
				break;
			uint64_t n = (h->u.page_data.flags & IGVM_PAGE_FLAG_IS_2MB_PAGE) ?
					     0x200000 : PAGE;
			uint8_t *dst = hvsim_gpa_ptr(sim, (gpa_t){ h->u.page_data.gpa }, n);
			if (!dst) {
				rc = fail(err, errlen, "header %zu: page 0x%llx is not partition RAM",
					  i, (unsigned long long)h->u.page_data.gpa);
				break;
			}
			if (h->data)
				memcpy(dst, h->data, n < h->data_len ? n : h->data_len);
			else
				memset(dst, 0, n);
			out->pages_imported += n / PAGE;
			break;
		}
		case IGVM_VHT_PARAMETER_AREA: {
			struct area *a = &areas[h->u.param_area.parameter_area_index];
			a->size = h->u.param_area.number_of_bytes;
			a->bytes = calloc(1, a->size);
			if (!a->bytes) {
				rc = -ENOMEM;
				snprintf(err, errlen, "out of memory for a parameter area");
				break;
			}
			if (h->data)
				memcpy(a->bytes, h->data, a->size < h->data_len ? a->size : h->data_len);
			a->declared = true;
			break;
		}

		case IGVM_VHT_PARAMETER_INSERT: {
			if (!igvm_header_applies(h, l.mask))
				break;
			struct area *a = &areas[h->u.param_insert.parameter_area_index];
			uint8_t *dst = hvsim_gpa_ptr(sim, (gpa_t){ h->u.param_insert.gpa }, a->size);
			if (!dst) {
				rc = fail(err, errlen, "header %zu: parameter area at 0x%llx is not "
						       "partition RAM", i,
					  (unsigned long long)h->u.param_insert.gpa);
				break;
			}
			memcpy(dst, a->bytes, a->size);
			a->inserted = true;
			break;
		}
		case IGVM_VHT_VP_CONTEXT:
			if (!igvm_header_applies(h, l.mask))
				break;
			if (h->u.vp_context.vp_index != 0) {
				rc = fail(err, errlen, "header %zu: a context for VP %u (hvsim starts "
						       "VP 0 only; the others wait for the guest)",
					  i, h->u.vp_context.vp_index);
				break;
			}
			rc = host->platform == HVSIM_IGVM_VBS ?
				     load_vbs_context(sim, h, out, err, errlen) :
				     load_context(sim, h->data, out, err, errlen);
			have_ctx = true;
			break;
		default:
			break;
		}
	}
	for (unsigned i = 0; i < MAX_AREAS; i++)
		free(areas[i].bytes);
	if (!rc && !have_ctx)
		rc = fail(err, errlen, "the image has no VP context for the loaded platform");
	if (!rc)
		hvsim_flush_code(sim);
out:
	igvm_free(f);
	return rc;
}
