/*
 * Dump a parsed IGVM file. The JSON form is a manifest: every header becomes the manifest
 * object that adds the same header, file data become inline hex (or, with a data directory,
 * files named by content hash) with trailing zero bytes trimmed (the builder pads page data,
 * areas and 4 KiB contexts back with zeros), and data sharing needs no mention because the
 * builder deduplicates identical blobs like the reference writer does.
 */
#include "tools/mezz-igvm/dump.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <mbedtls/sha256.h>

#include "igvm/igvm.h"
#include "igvm/igvm_build.h"
#include "tools/mezz-igvm/manifest.h"

/* ---- text ---- */

static void page_flags_str(uint32_t f, char *buf, size_t n)
{
	snprintf(buf, n, "%s%s%s%s", f ? "" : "-", (f & IGVM_PAGE_FLAG_IS_2MB_PAGE) ? "2mb " : "",
		 (f & IGVM_PAGE_FLAG_UNMEASURED) ? "unmeasured " : "",
		 (f & IGVM_PAGE_FLAG_SHARED) ? "shared " : "");
	if (n && buf[0] && buf[strlen(buf) - 1] == ' ')
		buf[strlen(buf) - 1] = '\0';
}

static const char *page_type_str(uint16_t t)
{
	static const char *const names[] = { "normal", "secrets", "cpuid_data", "cpuid_xf" };

	return t < 4 ? names[t] : "?";
}

static void text_header(FILE *o, const struct igvm_file *f, const struct igvm_header *h)
{
	const char *name = igvm_header_type_name(h->type);
	char fl[64];

	fprintf(o, "  [%u] %-22s", h->index, name ? name : "?");
	switch (h->type) {
	case IGVM_VHT_SUPPORTED_PLATFORM:
		fprintf(o, " mask %#x %s version %u highest_vtl %u shared_gpa_boundary %#" PRIx64,
			h->u.platform.compatibility_mask,
			igvm_platform_name(h->u.platform.platform_type)
				? igvm_platform_name(h->u.platform.platform_type)
				: "?",
			h->u.platform.platform_version, h->u.platform.highest_vtl,
			h->u.platform.shared_gpa_boundary);
		break;
	case IGVM_VHT_GUEST_POLICY:
		fprintf(o, " mask %#x policy %#" PRIx64, h->u.guest_policy.compatibility_mask,
			h->u.guest_policy.policy);
		break;
	case IGVM_VHT_CCA_POLICY:
		fprintf(o, " mask %#x zeroes %#" PRIx64 " ones %#" PRIx64 " hash %u lfa %u",
			h->u.cca_policy.compatibility_mask,
			h->u.cca_policy.attributes_required_zeroes,
			h->u.cca_policy.attributes_required_ones, h->u.cca_policy.hash_algorithm,
			h->u.cca_policy.lfa_policy);
		break;
	case IGVM_VHT_RELOCATABLE_REGION:
		fprintf(o,
			" mask %#x vp %u vtl %u flags %#x gpa %#" PRIx64 " size %#" PRIx64
			" align %#" PRIx64 " range %#" PRIx64 "-%#" PRIx64,
			h->u.reloc.compatibility_mask, h->u.reloc.vp_index, h->u.reloc.vtl,
			h->u.reloc.flags, h->u.reloc.relocation_region_gpa,
			h->u.reloc.relocation_region_size, h->u.reloc.relocation_alignment,
			h->u.reloc.minimum_relocation_gpa, h->u.reloc.maximum_relocation_gpa);
		break;
	case IGVM_VHT_PAGE_TABLE_RELOCATION_REGION:
		fprintf(o, " mask %#x vp %u vtl %u gpa %#" PRIx64 " size %#" PRIx64 " used %#" PRIx64,
			h->u.pt_reloc.compatibility_mask, h->u.pt_reloc.vp_index, h->u.pt_reloc.vtl,
			h->u.pt_reloc.gpa, h->u.pt_reloc.size, h->u.pt_reloc.used_size);
		break;
	case IGVM_VHT_CORIM_DOCUMENT:
	case IGVM_VHT_CORIM_SIGNATURE:
		fprintf(o, " mask %#x file_offset %#x size %u", h->u.corim.compatibility_mask,
			h->u.corim.file_offset, h->u.corim.size_bytes);
		break;
	case IGVM_VHT_PAGE_DATA:
		page_flags_str(h->u.page_data.flags, fl, sizeof(fl));
		fprintf(o, " gpa %#" PRIx64 " mask %#x flags %s type %s", h->u.page_data.gpa,
			h->u.page_data.compatibility_mask, fl,
			page_type_str(h->u.page_data.data_type));
		if (h->u.page_data.file_offset)
			fprintf(o, " data @%#x", h->u.page_data.file_offset);
		else
			fprintf(o, " data none (zero page)");
		break;
	case IGVM_VHT_PARAMETER_AREA:
		fprintf(o, " index %u bytes %#" PRIx64, h->u.param_area.parameter_area_index,
			h->u.param_area.number_of_bytes);
		if (h->u.param_area.file_offset)
			fprintf(o, " initial data @%#x", h->u.param_area.file_offset);
		break;
	case IGVM_VHT_PARAMETER_INSERT:
		fprintf(o, " gpa %#" PRIx64 " mask %#x index %u", h->u.param_insert.gpa,
			h->u.param_insert.compatibility_mask,
			h->u.param_insert.parameter_area_index);
		break;
	case IGVM_VHT_REQUIRED_MEMORY:
		fprintf(o, " gpa %#" PRIx64 " mask %#x bytes %#x flags %#x",
			h->u.required_memory.gpa, h->u.required_memory.compatibility_mask,
			h->u.required_memory.number_of_bytes, h->u.required_memory.flags);
		break;
	case IGVM_VHT_ERROR_RANGE:
		fprintf(o, " gpa %#" PRIx64 " mask %#x bytes %#x", h->u.error_range.gpa,
			h->u.error_range.compatibility_mask, h->u.error_range.size_bytes);
		break;
	case IGVM_VHT_VP_CONTEXT:
		fprintf(o, " mask %#x vp %u platform %s gpa %#" PRIx64 " data @%#x (%" PRIu64 " bytes)",
			h->u.vp_context.compatibility_mask, h->u.vp_context.vp_index,
			igvm_platform_name(h->vp_platform) ? igvm_platform_name(h->vp_platform) : "?",
			h->u.vp_context.gpa, h->u.vp_context.file_offset, h->data_len);
		if (h->vp_platform == IGVM_PLATFORM_VSM_ISOLATION && h->data_len >= 4) {
			uint32_t n;

			memcpy(&n, h->data, 4);
			fprintf(o, " vtl %u, %u registers", h->vp_vtl, n);
		}
		break;
	case IGVM_VHT_SNP_ID_BLOCK:
	case IGVM_VHT_VBS_MEASUREMENT:
		fprintf(o, " mask %#x", h->u.compatibility_mask);
		break;
	default:
		if (h->length == sizeof(struct igvm_vhs_parameter))
			fprintf(o, " index %u byte_offset %#x", h->u.parameter.parameter_area_index,
				h->u.parameter.byte_offset);
		break;
	}
	fputc('\n', o);
	(void)f;
}

int dump_text(FILE *o, const struct igvm_file *f)
{
	static const char *const sec_names[] = { "platforms", "initialization", "directives" };
	int last = -1;

	fprintf(o, "IGVM format_version %u, architecture %s, page_size %u\n", f->format_version,
		f->arch == IGVM_ARCH_X64 ? "x64" : "aarch64", f->page_size);
	fprintf(o,
		"variable headers at %#x (%u bytes), file data at %#x (%u bytes), total %u bytes, "
		"checksum %#010x\n",
		f->variable_header_offset, f->variable_header_size, f->file_data_offset,
		f->total_file_size - f->file_data_offset, f->total_file_size, f->checksum);
	for (size_t i = 0; i < igvm_header_count(f); i++) {
		const struct igvm_header *h = igvm_header_at(f, i);

		if ((int)h->section != last) {
			last = (int)h->section;
			fprintf(o, "%s:\n", last >= 0 && last < 3 ? sec_names[last] : "?");
		}
		text_header(o, f, h);
	}
	return ferror(o) ? -EIO : 0;
}

/* ---- JSON ---- */

struct jctx {
	bool oom;
	int sink_rc;     /* first error of the payload sink */
	const struct dump_sink *sink;
	char *msg;
	size_t msg_len;
};

static struct json_object *jstr(struct jctx *c, const char *s)
{
	struct json_object *o = json_object_new_string(s);

	if (!o)
		c->oom = true;
	return o;
}

static struct json_object *jhex(struct jctx *c, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%#" PRIx64, v);
	if (v == 0)
		snprintf(buf, sizeof(buf), "0x0");
	return jstr(c, buf);
}

static struct json_object *jint(struct jctx *c, uint64_t v)
{
	struct json_object *o = json_object_new_uint64(v);

	if (!o)
		c->oom = true;
	return o;
}

static void put(struct jctx *c, struct json_object *obj, const char *key, struct json_object *v)
{
	if (!v) {
		c->oom = true;
		return;
	}
	if (json_object_object_add(obj, key, v) != 0) {
		json_object_put(v);
		c->oom = true;
	}
}

/* Hex of data; trim: drop trailing zero bytes but keep at least one byte. */
static struct json_object *jdata(struct jctx *c, const uint8_t *p, size_t n, bool trim)
{
	static const char digits[] = "0123456789abcdef";
	struct json_object *o;
	char *s;

	if (trim) {
		while (n > 1 && p[n - 1] == 0)
			n--;
	}
	s = malloc(n * 2 + 1);
	if (!s) {
		c->oom = true;
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		s[2 * i] = digits[p[i] >> 4];
		s[2 * i + 1] = digits[p[i] & 15];
	}
	s[2 * n] = '\0';
	o = json_object_new_string_len(s, (int)(n * 2));
	free(s);
	if (!o)
		c->oom = true;
	return o;
}

/* A payload: "data_hex" inline, or through the sink as "data_file". */
static void put_payload(struct jctx *c, struct json_object *o, const uint8_t *p, size_t n,
			bool trim)
{
	char name[PATH_MAX];
	int rc;

	if (!c->sink) {
		put(c, o, "data_hex", jdata(c, p, n, trim));
		return;
	}
	if (c->sink_rc)
		return;
	if (trim) {
		while (n > 1 && p[n - 1] == 0)
			n--;
	}
	rc = c->sink->put(c->sink->ctx, p, n, name, sizeof(name), c->msg, c->msg_len);
	if (rc) {
		c->sink_rc = rc;
		return;
	}
	put(c, o, "data_file", jstr(c, name));
}

/* Flags as the manifest's array of names; a bit without a name (the parser lets none
 * through) turns the whole value into a number, which the manifest also accepts. */
static struct json_object *jflags(struct jctx *c, uint32_t f, enum manifest_table t)
{
	struct json_object *a;

	for (unsigned i = 0; i < 32; i++)
		if ((f & (1u << i)) && !manifest_value_name(t, 1u << i))
			return jhex(c, f);
	a = json_object_new_array();
	if (!a) {
		c->oom = true;
		return NULL;
	}
	for (unsigned i = 0; i < 32; i++) {
		if (f & (1u << i)) {
			struct json_object *s = jstr(c, manifest_value_name(t, 1u << i));

			if (!s || json_object_array_add(a, s) != 0) {
				json_object_put(s);
				c->oom = true;
			}
		}
	}
	return a;
}

static int vp_json(struct jctx *c, const struct igvm_file *f, const struct igvm_header *h,
		   struct json_object *o)
{
	const char *kind;

	switch (h->vp_platform) {
	case IGVM_PLATFORM_SEV_SNP:
	case IGVM_PLATFORM_SEV_ES:
		kind = "snp";
		break;
	case IGVM_PLATFORM_NATIVE:
	case IGVM_PLATFORM_SEV:
		kind = "native_x64";
		break;
	case IGVM_PLATFORM_CCA:
		kind = "cca";
		break;
	case IGVM_PLATFORM_VSM_ISOLATION:
		kind = "vbs";
		break;
	default:
		if (c->msg_len)
			snprintf(c->msg, c->msg_len,
				 "header %u: VP context for platform %u cannot be expressed",
				 h->index, h->vp_platform);
		return -EINVAL;
	}
	put(c, o, "kind", jstr(c, kind));
	if (strcmp(kind, "snp") == 0)
		put(c, o, "gpa", jhex(c, h->u.vp_context.gpa));
	else if (h->u.vp_context.gpa) {
		if (c->msg_len)
			snprintf(c->msg, c->msg_len,
				 "header %u: %s VP context with a non-zero gpa cannot be expressed",
				 h->index, kind);
		return -EINVAL;
	}
	put(c, o, "compatibility_mask", jhex(c, h->u.vp_context.compatibility_mask));
	put(c, o, "vp_index", jint(c, h->u.vp_context.vp_index));
	if (strcmp(kind, "vbs") != 0) {
		put_payload(c, o, h->data, (size_t)h->data_len, true);
		return 0;
	}
	{
		struct json_object *regs = json_object_new_array();
		uint32_t n = igvm_header_vbs_register_count(h);
		uint8_t vtl = 0;

		if (!regs)
			return -ENOMEM;
		for (uint32_t i = 0; i < n; i++) {
			struct igvm_vbs_vp_context_register r;
			struct json_object *ro = json_object_new_object();
			const char *rn;
			bool hi_zero = true;

			memcpy(&r, h->data + 4 + (size_t)i * sizeof(r), sizeof(r));
			if (i == 0)
				vtl = r.vtl;
			for (size_t k = 0; k < sizeof(r.mbz); k++)
				if (r.mbz[k])
					hi_zero = false;
			if (!hi_zero || r.vtl != vtl) {
				json_object_put(ro);
				json_object_put(regs);
				if (c->msg_len)
					snprintf(c->msg, c->msg_len,
						 "header %u: VBS register %u has %s; the builder "
						 "cannot reproduce it",
						 h->index, i,
						 r.vtl != vtl ? "a different vtl" : "non-zero mbz bytes");
				return -EINVAL;
			}
			if (!ro) {
				json_object_put(regs);
				return -ENOMEM;
			}
			rn = manifest_reg_name(f->arch, r.register_name);
			put(c, ro, "name", rn ? jstr(c, rn) : jhex(c, r.register_name));
			hi_zero = true;
			for (size_t k = 8; k < 16; k++)
				if (r.register_value[k])
					hi_zero = false;
			if (hi_zero) {
				uint64_t v;

				memcpy(&v, r.register_value, sizeof(v));
				put(c, ro, "value", jhex(c, v));
			} else {
				put(c, ro, "value_hex", jdata(c, r.register_value, 16, false));
			}
			if (json_object_array_add(regs, ro) != 0) {
				json_object_put(ro);
				c->oom = true;
			}
		}
		put(c, o, "vtl", jint(c, vtl));
		put(c, o, "registers", regs);
	}
	return 0;
}

static int header_json(struct jctx *c, const struct igvm_file *f, const struct igvm_header *h,
		       struct json_object *o)
{
	const char *pname;

	switch (h->type) {
	case IGVM_VHT_SUPPORTED_PLATFORM: {
		const char *pk = manifest_value_name(MANIFEST_T_PLATFORM,
						     h->u.platform.platform_type);

		put(c, o, "type", pk ? jstr(c, pk) : jint(c, h->u.platform.platform_type));
		put(c, o, "compatibility_mask", jhex(c, h->u.platform.compatibility_mask));
		put(c, o, "highest_vtl", jint(c, h->u.platform.highest_vtl));
		put(c, o, "platform_version", jint(c, h->u.platform.platform_version));
		put(c, o, "shared_gpa_boundary", jhex(c, h->u.platform.shared_gpa_boundary));
		return 0;
	}
	case IGVM_VHT_GUEST_POLICY:
		put(c, o, "type", jstr(c, "guest_policy"));
		put(c, o, "policy", jhex(c, h->u.guest_policy.policy));
		put(c, o, "compatibility_mask", jhex(c, h->u.guest_policy.compatibility_mask));
		return 0;
	case IGVM_VHT_CCA_POLICY:
		put(c, o, "type", jstr(c, "cca_policy"));
		put(c, o, "compatibility_mask", jhex(c, h->u.cca_policy.compatibility_mask));
		put(c, o, "attributes_required_zeroes",
		    jhex(c, h->u.cca_policy.attributes_required_zeroes));
		put(c, o, "attributes_required_ones",
		    jhex(c, h->u.cca_policy.attributes_required_ones));
		put(c, o, "hash_algorithm", jint(c, h->u.cca_policy.hash_algorithm));
		put(c, o, "lfa_policy", jint(c, h->u.cca_policy.lfa_policy));
		return 0;
	case IGVM_VHT_RELOCATABLE_REGION:
		put(c, o, "type", jstr(c, "relocatable_region"));
		put(c, o, "compatibility_mask", jhex(c, h->u.reloc.compatibility_mask));
		put(c, o, "vp_index", jint(c, h->u.reloc.vp_index));
		put(c, o, "vtl", jint(c, h->u.reloc.vtl));
		put(c, o, "flags", jflags(c, h->u.reloc.flags, MANIFEST_T_RELOC_FLAG));
		put(c, o, "relocation_alignment", jhex(c, h->u.reloc.relocation_alignment));
		put(c, o, "relocation_region_gpa", jhex(c, h->u.reloc.relocation_region_gpa));
		put(c, o, "relocation_region_size", jhex(c, h->u.reloc.relocation_region_size));
		put(c, o, "minimum_relocation_gpa", jhex(c, h->u.reloc.minimum_relocation_gpa));
		put(c, o, "maximum_relocation_gpa", jhex(c, h->u.reloc.maximum_relocation_gpa));
		return 0;
	case IGVM_VHT_PAGE_TABLE_RELOCATION_REGION:
		put(c, o, "type", jstr(c, "page_table_relocation"));
		put(c, o, "compatibility_mask", jhex(c, h->u.pt_reloc.compatibility_mask));
		put(c, o, "vp_index", jint(c, h->u.pt_reloc.vp_index));
		put(c, o, "vtl", jint(c, h->u.pt_reloc.vtl));
		put(c, o, "gpa", jhex(c, h->u.pt_reloc.gpa));
		put(c, o, "size", jhex(c, h->u.pt_reloc.size));
		put(c, o, "used_size", jhex(c, h->u.pt_reloc.used_size));
		return 0;
	case IGVM_VHT_CORIM_DOCUMENT:
	case IGVM_VHT_CORIM_SIGNATURE:
		put(c, o, "type",
		    jstr(c, h->type == IGVM_VHT_CORIM_DOCUMENT ? "corim_document"
							       : "corim_signature"));
		put(c, o, "compatibility_mask", jhex(c, h->u.corim.compatibility_mask));
		put_payload(c, o, h->data, (size_t)h->data_len, false);
		return 0;
	case IGVM_VHT_PAGE_DATA:
		put(c, o, "type", jstr(c, "page_data"));
		put(c, o, "gpa", jhex(c, h->u.page_data.gpa));
		put(c, o, "compatibility_mask", jhex(c, h->u.page_data.compatibility_mask));
		if (h->u.page_data.flags)
			put(c, o, "flags", jflags(c, h->u.page_data.flags, MANIFEST_T_PAGE_FLAG));
		if (h->u.page_data.data_type) {
			const char *tn = manifest_value_name(MANIFEST_T_PAGE_TYPE,
							     h->u.page_data.data_type);

			put(c, o, "data_type", tn ? jstr(c, tn) : jint(c, h->u.page_data.data_type));
		}
		if (h->data)
			put_payload(c, o, h->data, (size_t)h->data_len, true);
		return 0;
	case IGVM_VHT_PARAMETER_AREA:
		put(c, o, "type", jstr(c, "parameter_area"));
		put(c, o, "index", jint(c, h->u.param_area.parameter_area_index));
		put(c, o, "number_of_bytes", jhex(c, h->u.param_area.number_of_bytes));
		if (h->data)
			put_payload(c, o, h->data, (size_t)h->data_len, true);
		return 0;
	case IGVM_VHT_PARAMETER_INSERT:
		put(c, o, "type", jstr(c, "parameter_insert"));
		put(c, o, "gpa", jhex(c, h->u.param_insert.gpa));
		put(c, o, "compatibility_mask", jhex(c, h->u.param_insert.compatibility_mask));
		put(c, o, "index", jint(c, h->u.param_insert.parameter_area_index));
		return 0;
	case IGVM_VHT_REQUIRED_MEMORY:
		put(c, o, "type", jstr(c, "required_memory"));
		put(c, o, "gpa", jhex(c, h->u.required_memory.gpa));
		put(c, o, "compatibility_mask", jhex(c, h->u.required_memory.compatibility_mask));
		put(c, o, "number_of_bytes", jhex(c, h->u.required_memory.number_of_bytes));
		if (h->u.required_memory.flags)
			put(c, o, "flags",
			    jflags(c, h->u.required_memory.flags, MANIFEST_T_REQMEM_FLAG));
		return 0;
	case IGVM_VHT_ERROR_RANGE:
		put(c, o, "type", jstr(c, "error_range"));
		put(c, o, "gpa", jhex(c, h->u.error_range.gpa));
		put(c, o, "compatibility_mask", jhex(c, h->u.error_range.compatibility_mask));
		put(c, o, "size_bytes", jhex(c, h->u.error_range.size_bytes));
		return 0;
	case IGVM_VHT_VP_CONTEXT:
		put(c, o, "type", jstr(c, "vp_context"));
		return vp_json(c, f, h, o);
	case IGVM_VHT_SNP_ID_BLOCK: {
		struct igvm_vhs_snp_id_block id;

		if (!igvm_header_snp_id_block(h, &id))
			return -EINVAL;
		put(c, o, "type", jstr(c, "snp_id_block"));
		put(c, o, "compatibility_mask", jhex(c, id.compatibility_mask));
		put(c, o, "author_key_enabled", jint(c, id.author_key_enabled));
		put(c, o, "reserved_hex", jdata(c, id.reserved, sizeof(id.reserved), false));
		put(c, o, "ld_hex", jdata(c, id.ld, sizeof(id.ld), false));
		put(c, o, "family_id_hex", jdata(c, id.family_id, sizeof(id.family_id), false));
		put(c, o, "image_id_hex", jdata(c, id.image_id, sizeof(id.image_id), false));
		put(c, o, "version", jint(c, id.version));
		put(c, o, "guest_svn", jint(c, id.guest_svn));
		put(c, o, "id_key_algorithm", jint(c, id.id_key_algorithm));
		put(c, o, "author_key_algorithm", jint(c, id.author_key_algorithm));
		put(c, o, "id_key_signature_hex",
		    jdata(c, (const uint8_t *)&id.id_key_signature, sizeof(id.id_key_signature),
			  false));
		put(c, o, "id_public_key_hex",
		    jdata(c, (const uint8_t *)&id.id_public_key, sizeof(id.id_public_key), false));
		put(c, o, "author_key_signature_hex",
		    jdata(c, (const uint8_t *)&id.author_key_signature,
			  sizeof(id.author_key_signature), false));
		put(c, o, "author_public_key_hex",
		    jdata(c, (const uint8_t *)&id.author_public_key, sizeof(id.author_public_key),
			  false));
		return 0;
	}
	case IGVM_VHT_VBS_MEASUREMENT: {
		struct igvm_vhs_vbs_measurement vm;

		if (!igvm_header_vbs_measurement(h, &vm))
			return -EINVAL;
		put(c, o, "type", jstr(c, "vbs_measurement"));
		put(c, o, "compatibility_mask", jhex(c, vm.compatibility_mask));
		put(c, o, "version", jint(c, vm.version));
		put(c, o, "product_id", jint(c, vm.product_id));
		put(c, o, "module_id", jint(c, vm.module_id));
		put(c, o, "security_version", jint(c, vm.security_version));
		put(c, o, "policy_flags", jhex(c, vm.policy_flags));
		put(c, o, "boot_digest_algo", jint(c, vm.boot_digest_algo));
		put(c, o, "signing_algo", jint(c, vm.signing_algo));
		put(c, o, "boot_measurement_digest_hex",
		    jdata(c, vm.boot_measurement_digest, sizeof(vm.boot_measurement_digest), false));
		put(c, o, "signature_hex", jdata(c, vm.signature, sizeof(vm.signature), false));
		put(c, o, "public_key_hex", jdata(c, vm.public_key, sizeof(vm.public_key), false));
		return 0;
	}
	default:
		pname = manifest_param_name(h->type);
		if (!pname) {
			if (c->msg_len)
				snprintf(c->msg, c->msg_len,
					 "header %u: type %#x cannot be expressed in a manifest",
					 h->index, h->type);
			return -EINVAL;
		}
		put(c, o, "type", jstr(c, pname));
		put(c, o, "index", jint(c, h->u.parameter.parameter_area_index));
		put(c, o, "byte_offset", jhex(c, h->u.parameter.byte_offset));
		return 0;
	}
}

int dump_json(const struct igvm_file *f, const struct dump_sink *sink, struct json_object **out,
	      char *msg, size_t msg_len)
{
	static const char *const sec_keys[] = { "platforms", "initialization", "directives" };
	struct jctx c = { .msg = msg, .msg_len = msg_len, .sink = sink };
	struct json_object *root = json_object_new_object();
	struct json_object *secs[3] = { NULL, NULL, NULL };
	int rc = 0;

	*out = NULL;
	if (!root)
		return -ENOMEM;
	put(&c, root, "format_version", jint(&c, f->format_version));
	if (f->format_version >= 2)
		put(&c, root, "architecture",
		    jstr(&c, f->arch == IGVM_ARCH_AARCH64 ? "aarch64" : "x64"));
	for (int s = 0; s < 3; s++) {
		secs[s] = json_object_new_array();
		put(&c, root, sec_keys[s], secs[s]);
	}
	for (size_t i = 0; i < igvm_header_count(f) && !c.oom; i++) {
		const struct igvm_header *h = igvm_header_at(f, i);
		struct json_object *o = json_object_new_object();

		if (!o || (unsigned)h->section > 2) {
			json_object_put(o);
			rc = o ? -EINVAL : -ENOMEM;
			break;
		}
		rc = header_json(&c, f, h, o);
		if (!rc && c.sink_rc)
			rc = c.sink_rc;
		if (rc || json_object_array_add(secs[h->section], o) != 0) {
			json_object_put(o);
			if (!rc)
				rc = -ENOMEM;
			break;
		}
	}
	if (!rc && c.oom)
		rc = -ENOMEM;
	if (rc) {
		if (rc == -ENOMEM && msg_len)
			snprintf(msg, msg_len, "out of memory");
		json_object_put(root);
		return rc;
	}
	*out = root;
	return 0;
}

/* ---- payload directory ---- */

struct dump_data_dir {
	int dfd;             /* the directory */
	char *path;          /* as given */
	char *prefix;        /* DIR relative to the manifest's directory, "" when the same */
	bool made_dir;       /* we created DIR */
	char **created;      /* names of the files we created */
	size_t n_created, cap_created;
};

/* "<what> <dir>[/<file>]: <strerror>" */
static void dd_msg(char *msg, size_t msg_len, const char *what, const char *dir,
		   const char *file, int err)
{
	if (msg_len)
		snprintf(msg, msg_len, "%s %s%s%s: %s", what, dir, file ? "/" : "", file ? file : "",
			 strerror(err));
}

/*
 * Prefix leading from canonical directory `from` to canonical directory `to`: "" when equal,
 * else ending in '/' ("data/", "../data/"), ready to put in front of a file name.
 */
static char *rel_path(const char *from, const char *to)
{
	size_t lf = strlen(from), lt = strlen(to), i = 0, c = 0, ups = 0;
	char *F = malloc(lf + 2), *T = malloc(lt + 2), *out = NULL;

	if (!F || !T)
		goto out;
	/* Both with one trailing '/', so that components compare whole. */
	snprintf(F, lf + 2, "%s%s", from, lf && from[lf - 1] == '/' ? "" : "/");
	snprintf(T, lt + 2, "%s%s", to, lt && to[lt - 1] == '/' ? "" : "/");
	while (F[i] && F[i] == T[i])
		i++;
	for (size_t k = 0; k < i; k++)
		if (F[k] == '/')
			c = k + 1;
	for (size_t k = c; F[k]; k++)
		if (F[k] == '/')
			ups++;
	out = malloc(ups * 3 + strlen(T + c) + 1);
	if (!out)
		goto out;
	out[0] = '\0';
	for (size_t k = 0; k < ups; k++)
		strcat(out, "../");
	strcat(out, T + c);
out:
	free(F);
	free(T);
	return out;
}

int dump_data_dir_open(const char *dir, const char *manifest_dir, struct dump_data_dir **out,
		       char *msg, size_t msg_len)
{
	struct dump_data_dir *d;
	char *cdir = NULL, *cman = NULL;
	int rc;

	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->dfd = -1;
	d->path = strdup(dir);
	if (!d->path) {
		rc = -ENOMEM;
		goto err;
	}
	if (mkdir(dir, 0777) == 0) {
		d->made_dir = true;
	} else if (errno != EEXIST) {
		rc = -errno;
		dd_msg(msg, msg_len, "cannot create data directory", dir, NULL, -rc);
		goto err;
	}
	d->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->dfd < 0) {
		rc = -errno;
		dd_msg(msg, msg_len, "cannot open data directory", dir, NULL, -rc);
		goto err;
	}
	cdir = realpath(dir, NULL);
	cman = realpath(manifest_dir, NULL);
	if (!cdir || !cman) {
		rc = -errno;
		dd_msg(msg, msg_len, "cannot resolve", cdir ? manifest_dir : dir, NULL, -rc);
		goto err;
	}
	d->prefix = rel_path(cman, cdir);
	if (!d->prefix) {
		rc = -ENOMEM;
		goto err;
	}
	free(cdir);
	free(cman);
	*out = d;
	return 0;
err:
	if (rc == -ENOMEM && msg_len)
		snprintf(msg, msg_len, "out of memory");
	free(cdir);
	free(cman);
	dump_data_dir_close(d, 1);
	return rc;
}

static int write_fd(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Does the open file hold exactly p[0..n)? */
static int same_content(int fd, const uint8_t *p, size_t n)
{
	struct stat st;
	uint8_t buf[65536];
	size_t at = 0;

	if (fstat(fd, &st) != 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != n)
		return 0;
	while (at < n) {
		size_t want = n - at < sizeof(buf) ? n - at : sizeof(buf);
		ssize_t r = read(fd, buf, want);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0 || memcmp(buf, p + at, (size_t)r) != 0)
			return 0;
		at += (size_t)r;
	}
	return 1;
}

int dump_data_dir_put(void *ctx, const uint8_t *p, size_t n, char *name, size_t name_len,
		      char *msg, size_t msg_len)
{
	struct dump_data_dir *d = ctx;
	uint8_t h[32];
	char file[2 * sizeof(h) + 8];
	int fd, rc;

	if (mbedtls_sha256_ret(p, n, h, 0) != 0) {
		if (msg_len)
			snprintf(msg, msg_len, "SHA-256 failed");
		return -EIO;
	}
	for (size_t i = 0; i < sizeof(h); i++)
		snprintf(file + 2 * i, 3, "%02x", h[i]);
	strcat(file, ".bin");
	if (snprintf(name, name_len, "%s%s", d->prefix, file) >= (int)name_len) {
		dd_msg(msg, msg_len, "data_file path of", d->path, file, ENAMETOOLONG);
		return -ENAMETOOLONG;
	}
	fd = openat(d->dfd, file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0 && errno == EEXIST) {
		/* Same name: reuse it if it holds the same bytes (an earlier run, or this one). */
		fd = openat(d->dfd, file, O_RDONLY | O_CLOEXEC);
		rc = fd < 0 ? -errno : same_content(fd, p, n);
		if (fd >= 0)
			close(fd);
		if (rc == 1)
			return 0;
		if (rc == 0)
			rc = -EEXIST;
		if (msg_len)
			snprintf(msg, msg_len, "%s/%s exists with other content%s%s", d->path, file,
				 rc == -EEXIST ? "" : ": ", rc == -EEXIST ? "" : strerror(-rc));
		return rc;
	}
	if (fd < 0) {
		rc = -errno;
		dd_msg(msg, msg_len, "cannot create", d->path, file, -rc);
		return rc;
	}
	if (d->n_created == d->cap_created) {
		size_t ncap = d->cap_created ? d->cap_created * 2 : 64;
		char **nc = realloc(d->created, ncap * sizeof(*nc));

		if (!nc) {
			close(fd);
			unlinkat(d->dfd, file, 0);
			return -ENOMEM;
		}
		d->created = nc;
		d->cap_created = ncap;
	}
	d->created[d->n_created] = strdup(file);
	if (!d->created[d->n_created]) {
		close(fd);
		unlinkat(d->dfd, file, 0);
		return -ENOMEM;
	}
	d->n_created++;
	rc = write_fd(fd, p, n);
	if (close(fd) != 0 && !rc)
		rc = -errno;
	if (rc)
		dd_msg(msg, msg_len, "write", d->path, file, -rc);
	return rc;
}

int dump_data_dir_sync(struct dump_data_dir *d, char *msg, size_t msg_len)
{
	/* One flush for all payloads instead of an fsync per file (there may be 64k of them). */
	if (syncfs(d->dfd) != 0 || fsync(d->dfd) != 0) {
		int rc = -errno;

		dd_msg(msg, msg_len, "sync", d->path, NULL, -rc);
		return rc;
	}
	return 0;
}

size_t dump_data_dir_created(const struct dump_data_dir *d)
{
	return d ? d->n_created : 0;
}

void dump_data_dir_close(struct dump_data_dir *d, int remove_created)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n_created; i++) {
		if (remove_created && d->dfd >= 0)
			unlinkat(d->dfd, d->created[i], 0);
		free(d->created[i]);
	}
	if (d->dfd >= 0)
		close(d->dfd);
	if (remove_created && d->made_dir)
		rmdir(d->path);
	free(d->created);
	free(d->path);
	free(d->prefix);
	free(d);
}
