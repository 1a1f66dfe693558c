/*
 * Manifest (JSON) -> igvm builder. Every object's keys are checked against the list its type
 * accepts, so a typo is an error instead of a silently defaulted field. Numbers are JSON
 * integers or strings ("0x1000", "4096"); 64-bit GPAs beyond 2^53 should be strings.
 */
#include "tools/mezz-igvm/manifest.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "boot/shim_params.h"
#include "igvm/igvm.h"
#include "igvm/igvm_build.h"
#include "igvm/igvm_format.h"
#include "tools/mezz-igvm/atomic_file.h"
#include "tools/mezz-igvm/paravisor.h"

#define MAX_PLATFORMS 32

/* Parsing context: where we are (for messages) and how to reach payload files. */
struct mctx {
	const struct manifest_io *io;
	struct igvm_builder *b;
	char *msg;
	size_t msg_len;
	char where[96];
	/* The platforms added so far, for a "paravisor" section. */
	struct paravisor_platform plats[MAX_PLATFORMS];
	size_t n_plats;
};

static int fail(struct mctx *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct mctx *m, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (m->msg_len)
		snprintf(m->msg, m->msg_len, "%s%s%s", m->where, m->where[0] ? ": " : "", tmp);
	return -EINVAL;
}

/* Report a builder error for the current object. */
static int fail_build(struct mctx *m, int rc, const struct igvm_error *e)
{
	char tmp[200];

	if (rc == -ENOMEM)
		return fail(m, "out of memory"), -ENOMEM;
	igvm_error_format(e, tmp, sizeof(tmp));
	fail(m, "%s", tmp);
	return rc;
}

/* ---- keys ---- */

static int check_keys(struct mctx *m, struct json_object *o, const char *const *allowed)
{
	json_object_object_foreach(o, key, val) {
		const char *const *a;

		(void)val;
		if (strcmp(key, "comment") == 0)
			continue; /* free text, allowed in every object */
		for (a = allowed; *a; a++)
			if (strcmp(*a, key) == 0)
				break;
		if (!*a)
			return fail(m, "unknown key \"%s\"", key);
	}
	return 0;
}

/* A JSON string may hold NUL characters; C string functions would stop at the first one and
 * accept "tdx\u0000junk" as "tdx", so such strings match no name and no number. */
static bool has_nul(struct json_object *v)
{
	return strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v);
}

/* ---- numbers ---- */

/* "123" or "0x7b": digits of the base and nothing else. strtoull alone would also take
 * leading white space, a sign (negating the value) and a second "0x". */
static int parse_u64_str(const char *s, uint64_t *out)
{
	char *end;
	int base = 10;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!*s)
		return -EINVAL;
	for (const char *p = s; *p; p++)
		if (!(base == 16 ? isxdigit((unsigned char)*p) : isdigit((unsigned char)*p)))
			return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, base);
	if (errno || *end)
		return -EINVAL;
	return 0;
}

static int num_of(struct mctx *m, struct json_object *v, const char *key, uint64_t max,
		  uint64_t *out)
{
	uint64_t x;

	if (json_object_is_type(v, json_type_int)) {
		if (json_object_get_int64(v) < 0)
			return fail(m, "\"%s\" must not be negative", key);
		x = json_object_get_uint64(v);
		/* json-c saturates literals beyond 2^64 - 1 to UINT64_MAX, so that value is
		 * ambiguous as a JSON number; as a string it is exact. */
		if (x == UINT64_MAX)
			return fail(m, "\"%s\": integer out of range (write values of 2^64 - 1 "
				       "or more as a string, e.g. \"0xffffffffffffffff\")", key);
	} else if (json_object_is_type(v, json_type_string)) {
		if (has_nul(v) || parse_u64_str(json_object_get_string(v), &x))
			return fail(m, "\"%s\": \"%s\" is not a number", key, json_object_get_string(v));
	} else {
		return fail(m, "\"%s\" must be an integer or a numeric string", key);
	}
	if (x > max)
		return fail(m, "\"%s\" = %#llx is larger than %#llx", key, (unsigned long long)x,
			    (unsigned long long)max);
	*out = x;
	return 0;
}

/* Required (def == NULL) or optional number. */
static int get_num(struct mctx *m, struct json_object *o, const char *key, uint64_t max,
		   const uint64_t *def, uint64_t *out)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v)) {
		if (!def)
			return fail(m, "missing \"%s\"", key);
		*out = *def;
		return 0;
	}
	return num_of(m, v, key, max, out);
}

static const uint64_t ZERO = 0, ONE = 1;

#define GET_NUM(m, o, key, max, def, dst)                                                  \
	do {                                                                               \
		uint64_t v_;                                                               \
		int rc_ = get_num((m), (o), (key), (max), (def), &v_);                     \
		if (rc_)                                                                   \
			return rc_;                                                        \
		(dst) = v_;                                                                \
	} while (0)

/* ---- named values ---- */

struct name_val {
	const char *name;
	uint32_t val;
};

static const struct name_val platform_names[] = {
	{ "native", IGVM_BUILD_PLATFORM_NATIVE },
	{ "vsm_isolation", IGVM_BUILD_PLATFORM_VSM },
	{ "vsm", IGVM_BUILD_PLATFORM_VSM },
	{ "vbs", IGVM_BUILD_PLATFORM_VSM },
	{ "sev_snp", IGVM_BUILD_PLATFORM_SEV_SNP },
	{ "snp", IGVM_BUILD_PLATFORM_SEV_SNP },
	{ "tdx", IGVM_BUILD_PLATFORM_TDX },
	{ "sev", IGVM_BUILD_PLATFORM_SEV },
	{ "sev_es", IGVM_BUILD_PLATFORM_SEV_ES },
	{ "cca", IGVM_BUILD_PLATFORM_CCA },
	{ NULL, 0 },
};
static const struct name_val page_type_names[] = {
	{ "normal", IGVM_BUILD_PAGE_NORMAL },
	{ "secrets", IGVM_BUILD_PAGE_SECRETS },
	{ "cpuid_data", IGVM_BUILD_PAGE_CPUID_DATA },
	{ "cpuid_xf", IGVM_BUILD_PAGE_CPUID_XF },
	{ NULL, 0 },
};
static const struct name_val page_flag_names[] = {
	{ "2mb", IGVM_BUILD_PAGE_2MB },
	{ "unmeasured", IGVM_BUILD_PAGE_UNMEASURED },
	{ "shared", IGVM_BUILD_PAGE_SHARED },
	{ NULL, 0 },
};
static const struct name_val reloc_flag_names[] = {
	{ "is_vtl2", IGVM_BUILD_RELOC_IS_VTL2 },
	{ "apply_pc", IGVM_BUILD_RELOC_APPLY_PC },
	{ "apply_rip", IGVM_BUILD_RELOC_APPLY_PC },
	{ "apply_gdtr", IGVM_BUILD_RELOC_APPLY_GDTR },
	{ NULL, 0 },
};
static const struct name_val reqmem_flag_names[] = {
	{ "vtl2_protectable", IGVM_BUILD_REQMEM_VTL2_PROTECTABLE },
	{ NULL, 0 },
};
static const struct name_val hash_names[] = {
	{ "sha256", IGVM_CCA_HASH_SHA256 },
	{ "sha512", IGVM_CCA_HASH_SHA512 },
	{ "sha384", IGVM_CCA_HASH_SHA384 },
	{ NULL, 0 },
};
static const struct name_val lfa_names[] = {
	{ "disallow", IGVM_CCA_LFA_DISALLOW }, { "allow", IGVM_CCA_LFA_ALLOW }, { NULL, 0 },
};

/* The table entry called `name`, or NULL. */
static const struct name_val *find_name(const struct name_val *names, const char *name)
{
	for (; names->name; names++)
		if (strcmp(names->name, name) == 0)
			return names;
	return NULL;
}

/* The first (canonical) name of `value` in the table, or NULL. */
static const char *name_of(const struct name_val *names, uint32_t value)
{
	for (; names->name; names++)
		if (names->val == value)
			return names->name;
	return NULL;
}

const char *manifest_value_name(enum manifest_table t, uint32_t value)
{
	static const struct name_val *const tables[] = {
		[MANIFEST_T_PLATFORM] = platform_names,
		[MANIFEST_T_PAGE_TYPE] = page_type_names,
		[MANIFEST_T_PAGE_FLAG] = page_flag_names,
		[MANIFEST_T_RELOC_FLAG] = reloc_flag_names,
		[MANIFEST_T_REQMEM_FLAG] = reqmem_flag_names,
	};

	if ((unsigned)t >= sizeof(tables) / sizeof(tables[0]))
		return NULL;
	return name_of(tables[t], value);
}

/* A name from the table, or a number. */
static int get_enum(struct mctx *m, struct json_object *o, const char *key,
		    const struct name_val *names, uint64_t max, const uint64_t *def, uint64_t *out)
{
	struct json_object *v;

	if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);
		const struct name_val *n = has_nul(v) ? NULL : find_name(names, s);

		if (n) {
			*out = n->val;
			return 0;
		}
		if (has_nul(v) || parse_u64_str(s, out) != 0)
			return fail(m, "\"%s\": unknown value \"%s\"", key, s);
	}
	return get_num(m, o, key, max, def, out);
}

/* Flags: an array of names, or a number. */
static int get_flags(struct mctx *m, struct json_object *o, const char *key,
		     const struct name_val *names, uint64_t max, uint64_t *out)
{
	struct json_object *v;
	size_t i, n;

	*out = 0;
	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_array))
		return num_of(m, v, key, max, out);
	n = json_object_array_length(v);
	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);
		const struct name_val *nv;

		if (!json_object_is_type(e, json_type_string))
			return fail(m, "\"%s\"[%zu] must be a flag name", key, i);
		nv = has_nul(e) ? NULL : find_name(names, json_object_get_string(e));
		if (!nv)
			return fail(m, "\"%s\": unknown flag \"%s\"", key, json_object_get_string(e));
		*out |= nv->val;
	}
	return 0;
}

/* ---- data ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode hex (spaces ignored) into a malloc'ed buffer. */
static int decode_hex(struct mctx *m, const char *key, const char *s, size_t slen, uint8_t **buf,
		      size_t *len)
{
	uint8_t *p = malloc(slen / 2 + 1);
	size_t i, n = 0;
	int hi = -1;

	if (!p)
		return -ENOMEM;
	for (i = 0; i < slen; i++) {
		int v;

		if (s[i] == ' ')
			continue;
		v = hexval(s[i]);
		if (v < 0) {
			free(p);
			return fail(m, "\"%s\": bad hex digit at position %zu", key, i);
		}
		if (hi < 0) {
			hi = v;
		} else {
			p[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	if (hi >= 0) {
		free(p);
		return fail(m, "\"%s\": odd number of hex digits", key);
	}
	*buf = p;
	*len = n;
	return 0;
}

/*
 * The data of an object: "data_hex" or "data_file" (+ optional "data_file_offset",
 * "data_size"), or none (*buf NULL, *len 0, *present false).
 */
static int get_data(struct mctx *m, struct json_object *o, uint8_t **buf, size_t *len,
		    bool *present)
{
	struct json_object *hex, *file;
	bool has_hex = json_object_object_get_ex(o, "data_hex", &hex);
	bool has_file = json_object_object_get_ex(o, "data_file", &file);
	uint64_t off = 0, size = UINT64_MAX;
	uint8_t *p = NULL;
	size_t n = 0;
	int rc;

	*buf = NULL;
	*len = 0;
	*present = has_hex || has_file;
	if (has_hex && has_file)
		return fail(m, "give either \"data_hex\" or \"data_file\", not both");
	if (has_hex && !json_object_is_type(hex, json_type_string))
		return fail(m, "\"data_hex\" must be a string");
	if (!has_file) {
		if (json_object_object_get_ex(o, "data_file_offset", NULL) ||
		    json_object_object_get_ex(o, "data_size", NULL))
			return fail(m, "\"data_file_offset\"/\"data_size\" need \"data_file\"");
		if (!has_hex)
			return 0;
		return decode_hex(m, "data_hex", json_object_get_string(hex),
				  (size_t)json_object_get_string_len(hex), buf, len);
	}
	if (!json_object_is_type(file, json_type_string) || !json_object_get_string_len(file) ||
	    strlen(json_object_get_string(file)) != (size_t)json_object_get_string_len(file))
		return fail(m, "\"data_file\" must be a non-empty string without NUL characters");
	GET_NUM(m, o, "data_file_offset", UINT64_MAX, &ZERO, off);
	{
		static const uint64_t all = UINT64_MAX;

		GET_NUM(m, o, "data_size", UINT64_MAX, &all, size);
	}
	if (!m->io || !m->io->read_file)
		return fail(m, "payload files are not available here (\"%s\")",
			    json_object_get_string(file));
	rc = m->io->read_file(m->io->ctx, json_object_get_string(file), &p, &n);
	if (rc) {
		if (m->msg_len)
			snprintf(m->msg, m->msg_len, "%s: cannot read data_file \"%s\": %s",
				 m->where, json_object_get_string(file), strerror(-rc));
		return rc == -EINVAL ? -EIO : rc;
	}
	if (off > n) {
		free(p);
		return fail(m, "\"data_file_offset\" %#llx is past the end of \"%s\" (%zu bytes)",
			    (unsigned long long)off, json_object_get_string(file), n);
	}
	if (size == UINT64_MAX) {
		size = n - off;
	} else if (size > n - off) {
		free(p);
		return fail(m, "\"data_size\" %#llx runs past the end of \"%s\" (%zu bytes)",
			    (unsigned long long)size, json_object_get_string(file), n);
	}
	if (off)
		memmove(p, p + off, (size_t)size);
	*buf = p;
	*len = (size_t)size;
	return 0;
}

/* Fixed-size byte array field from hex; shorter input is zero padded (LE big numbers). */
static int get_bytes(struct mctx *m, struct json_object *o, const char *key, uint8_t *dst,
		     size_t dst_len)
{
	struct json_object *v;
	uint8_t *p;
	size_t n;
	int rc;

	memset(dst, 0, dst_len);
	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return fail(m, "\"%s\" must be a hex string", key);
	rc = decode_hex(m, key, json_object_get_string(v), (size_t)json_object_get_string_len(v),
			&p, &n);
	if (rc)
		return rc;
	if (n > dst_len) {
		free(p);
		return fail(m, "\"%s\" is %zu bytes, at most %zu allowed", key, n, dst_len);
	}
	memcpy(dst, p, n);
	free(p);
	return 0;
}

#define DATA_KEYS "data_hex", "data_file", "data_file_offset", "data_size"

/* ---- platforms ---- */

static int do_platform(struct mctx *m, struct json_object *o)
{
	static const char *const keys[] = { "type", "compatibility_mask", "highest_vtl",
					    "platform_version", "shared_gpa_boundary", NULL };
	struct igvm_build_platform p;
	struct igvm_error e;
	uint64_t v;
	int rc;

	if ((rc = check_keys(m, o, keys)))
		return rc;
	if ((rc = get_enum(m, o, "type", platform_names, UINT8_MAX, NULL, &v)))
		return rc;
	p.platform_type = (uint8_t)v;
	GET_NUM(m, o, "compatibility_mask", UINT32_MAX, NULL, p.compatibility_mask);
	GET_NUM(m, o, "highest_vtl", UINT8_MAX, &ZERO, p.highest_vtl);
	GET_NUM(m, o, "platform_version", UINT16_MAX, &ONE, p.platform_version);
	GET_NUM(m, o, "shared_gpa_boundary", UINT64_MAX, &ZERO, p.shared_gpa_boundary);
	memset(&e, 0, sizeof(e));
	rc = igvm_build_add_platform(m->b, &p, &e);
	if (rc)
		return fail_build(m, rc, &e);
	if (m->n_plats < MAX_PLATFORMS) /* the builder refuses a 33rd (one bit each) */
		m->plats[m->n_plats++] = (struct paravisor_platform){
			.type = p.platform_type,
			.mask = p.compatibility_mask,
			.highest_vtl = p.highest_vtl,
			.shared_gpa_boundary = p.shared_gpa_boundary,
		};
	return 0;
}

/* ---- initialization ---- */

static int do_guest_policy(struct mctx *m, struct json_object *o)
{
	static const char *const keys[] = { "type", "policy", "compatibility_mask", NULL };
	struct igvm_error e;
	uint64_t policy, mask;
	int rc;

	if ((rc = check_keys(m, o, keys)))
		return rc;
	GET_NUM(m, o, "policy", UINT64_MAX, NULL, policy);
	GET_NUM(m, o, "compatibility_mask", UINT32_MAX, NULL, mask);
	memset(&e, 0, sizeof(e));
	rc = igvm_build_add_guest_policy(m->b, policy, (uint32_t)mask, &e);
	return rc ? fail_build(m, rc, &e) : 0;
}

static int do_cca_policy(struct mctx *m, struct json_object *o)
{
	static const char *const keys[] = { "type",
					    "compatibility_mask",
					    "attributes_required_zeroes",
					    "attributes_required_ones",
					    "hash_algorithm",
					    "lfa_policy",
					    NULL };
	struct igvm_build_cca_policy p;
	struct igvm_error e;
	uint64_t v;
	int rc;

	if ((rc = check_keys(m, o, keys)))
		return rc;
	GET_NUM(m, o, "compatibility_mask", UINT32_MAX, NULL, p.compatibility_mask);
	GET_NUM(m, o, "attributes_required_zeroes", UINT64_MAX, &ZERO,
		p.attributes_required_zeroes);
	GET_NUM(m, o, "attributes_required_ones", UINT64_MAX, &ZERO, p.attributes_required_ones);
	if ((rc = get_enum(m, o, "hash_algorithm", hash_names, UINT8_MAX, &ZERO, &v)))
		return rc;
	p.hash_algorithm = (uint8_t)v;
	if ((rc = get_enum(m, o, "lfa_policy", lfa_names, UINT8_MAX, &ZERO, &v)))
		return rc;
	p.lfa_policy = (uint8_t)v;
	memset(&e, 0, sizeof(e));
	rc = igvm_build_add_cca_policy(m->b, &p, &e);
	return rc ? fail_build(m, rc, &e) : 0;
}

static int do_reloc(struct mctx *m, struct json_object *o)
{
	static const char *const keys[] = { "type",
					    "compatibility_mask",
					    "vp_index",
					    "vtl",
					    "flags",
					    "relocation_alignment",
					    "relocation_region_gpa",
					    "relocation_region_size",
					    "minimum_relocation_gpa",
					    "maximum_relocation_gpa",
					    NULL };
	struct igvm_build_reloc_region r;
	struct igvm_error e;
	uint64_t v;
	int rc;

	if ((rc = check_keys(m, o, keys)))
		return rc;
	GET_NUM(m, o, "compatibility_mask", UINT32_MAX, NULL, r.compatibility_mask);
	GET_NUM(m, o, "vp_index", UINT16_MAX, &ZERO, r.vp_index);
	GET_NUM(m, o, "vtl", UINT8_MAX, &ZERO, r.vtl);
	if ((rc = get_flags(m, o, "flags", reloc_flag_names, UINT8_MAX, &v)))
		return rc;
	r.flags = (uint8_t)v;
	GET_NUM(m, o, "relocation_alignment", UINT64_MAX, NULL, r.relocation_alignment);
	GET_NUM(m, o, "relocation_region_gpa", UINT64_MAX, NULL, r.relocation_region_gpa);
	GET_NUM(m, o, "relocation_region_size", UINT64_MAX, NULL, r.relocation_region_size);
	GET_NUM(m, o, "minimum_relocation_gpa", UINT64_MAX, NULL, r.minimum_relocation_gpa);
	GET_NUM(m, o, "maximum_relocation_gpa", UINT64_MAX, NULL, r.maximum_relocation_gpa);
	memset(&e, 0, sizeof(e));
	rc = igvm_build_add_relocatable_region(m->b, &r, &e);
	return rc ? fail_build(m, rc, &e) : 0;
}

static int do_pt_reloc(struct mctx *m, struct json_object *o)
{
	static const char *const keys[] = { "type", "compatibility_mask", "vp_index", "vtl",
					    "gpa",  "size",               "used_size", NULL };
	struct igvm_build_pt_reloc r;
	struct igvm_error e;
	int rc;

	if ((rc = check_keys(m, o, keys)))
		return rc;
	GET_NUM(m, o, "compatibility_mask", UINT32_MAX, NULL, r.compatibility_mask);
	GET_NUM(m, o, "vp_index", UINT16_MAX, &ZERO, r.vp_index);
	GET_NUM(m, o, "vtl", UINT8_MAX, &ZERO, r.vtl);
	GET_NUM(m, o, "gpa", UINT64_MAX, NULL, r.gpa);
	GET_NUM(m, o, "size", UINT64_MAX, NULL, r.size);
	GET_NUM(m, o, "used_size", UINT64_MAX, NULL, r.used_size);
	memset(&e, 0, sizeof(e));
	rc = igvm_build_add_page_table_relocation(m->b, &r, &e);
	return rc ? fail_build(m, rc, &e) : 0;
}

static int do_corim(struct mctx *m, struct json_object *o, uint32_t type)
{
	static const char *const keys[] = { "type", "compatibility_mask", DATA_KEYS, NULL };
	struct igvm_error e;
	uint64_t mask;
	uint8_t *data;
	size_t len;
	bool present;
	int rc;

	if ((rc = check_keys(m, o, keys)))
		return rc;
	GET_NUM(m, o, "compatibility_mask", UINT32_MAX, NULL, mask);
	if ((rc = get_data(m, o, &data, &len, &present)))
		return rc;
	memset(&e, 0, sizeof(e));
	rc = igvm_build_add_corim(m->b, type, (uint32_t)mask, data, len, &e);
	free(data);
	return rc ? fail_build(m, rc, &e) : 0;
}

/* ---- directives ---- */

static int do_page_data(struct mctx *m, struct json_object *o, bool multi)
{
	static const char *const keys[] = { "type",  "gpa",	  "compatibility_mask",
					    "flags", "data_type", DATA_KEYS,
					    NULL };
	static const char *const mkeys[] = { "type",      "gpa",	"compatibility_mask",
					     "flags",     "data_type",	"page_count",
					     DATA_KEYS, NULL };
	struct igvm_build_page pg;
	struct igvm_error e;
	uint64_t v, count = 0;
	uint8_t *data;
	size_t len, i, psize;
	bool present;
	int rc;

	if ((rc = check_keys(m, o, multi ? mkeys : keys)))
		return rc;
	GET_NUM(m, o, "gpa", UINT64_MAX, NULL, pg.gpa);
	GET_NUM(m, o, "compatibility_mask", UINT32_MAX, NULL, pg.compatibility_mask);
	if ((rc = get_flags(m, o, "flags", page_flag_names, UINT32_MAX, &v)))
		return rc;
	pg.flags = (uint32_t)v;
	psize = (pg.flags & IGVM_BUILD_PAGE_2MB) ? IGVM_PAGE_SIZE_2M : 4096;
	if ((rc = get_enum(m, o, "data_type", page_type_names, UINT16_MAX, &ZERO, &v)))
		return rc;
	pg.data_type = (uint16_t)v;
	if (multi)
		GET_NUM(m, o, "page_count", MANIFEST_MAX_PAGES, &ZERO, count);
	if ((rc = get_data(m, o, &data, &len, &present)))
		return rc;
	memset(&e, 0, sizeof(e));
	if (!multi) {
		if (present && len == 0) {
			free(data);
			return fail(m, "empty data: leave out \"data_hex\"/\"data_file\" for a "
				       "page without file data");
		}
		if (len > psize) {
			free(data);
			return fail(m, "page data is %zu bytes (at most %s); use \"type\": "
				       "\"pages\" for larger payloads", len,
				    psize == 4096 ? "4096, or 2 MiB with flags [\"2mb\"]"
						  : "2 MiB (0x200000) for a 2mb page");
		}
		rc = igvm_build_add_page_data(m->b, &pg, data, len, &e);
		free(data);
		return rc ? fail_build(m, rc, &e) : 0;
	}
	/* "pages": one page_data per 4 KiB (2mb: 2 MiB) chunk, then data-less pages up to
	 * page_count. */
	{
		uint64_t need = (len + psize - 1) / psize;

		if (count == 0)
			count = need;
		if (count > MANIFEST_MAX_PAGES) {
			free(data);
			return fail(m, "%llu pages in one \"pages\" directive (at most %u)",
				    (unsigned long long)count, MANIFEST_MAX_PAGES);
		}
		if (count < need) {
			free(data);
			return fail(m, "\"page_count\" %llu is smaller than the %llu pages of data",
				    (unsigned long long)count, (unsigned long long)need);
		}
		if (count == 0) {
			free(data);
			return fail(m, "\"pages\" needs data or a \"page_count\"");
		}
		if (count > (1ull << 40) || pg.gpa + (count - 1) * psize < pg.gpa) {
			free(data);
			return fail(m, "pages run past the end of the address space");
		}
	}
	for (i = 0; i < count; i++) {
		size_t off = i * psize;
		size_t n = off < len ? (len - off < psize ? len - off : psize) : 0;
		struct igvm_build_page p = pg;

		p.gpa = pg.gpa + (uint64_t)i * psize;
		rc = igvm_build_add_page_data(m->b, &p, n ? data + off : NULL, n, &e);
		if (rc) {
			free(data);
			snprintf(m->where + strlen(m->where),
				 sizeof(m->where) - strlen(m->where), " page %zu", i);
			return fail_build(m, rc, &e);
		}
	}
	free(data);
	return 0;
}

static int do_param_area(struct mctx *m, struct json_object *o)
{
	static const char *const keys[] = { "type", "index", "number_of_bytes", DATA_KEYS, NULL };
	struct igvm_error e;
	uint64_t index, nbytes;
	uint8_t *data;
	size_t len;
	bool present;
	int rc;

	if ((rc = check_keys(m, o, keys)))
		return rc;
	GET_NUM(m, o, "index", UINT32_MAX, NULL, index);
	GET_NUM(m, o, "number_of_bytes", UINT64_MAX, NULL, nbytes);
	if ((rc = get_data(m, o, &data, &len, &present)))
		return rc;
	if (present && len == 0) {
		free(data);
		return fail(m, "empty data: leave out \"data_hex\"/\"data_file\" for a zero area");
	}
	memset(&e, 0, sizeof(e));
	rc = igvm_build_add_parameter_area(m->b, (uint32_t)index, nbytes, data, len, &e);
	free(data);
	return rc ? fail_build(m, rc, &e) : 0;
}

static int do_param(struct mctx *m, struct json_object *o, enum igvm_build_param type)
{
	static const char *const keys[] = { "type", "index", "byte_offset", NULL };
	struct igvm_error e;
	uint64_t index, off;
	int rc;

	if ((rc = check_keys(m, o, keys)))
		return rc;
	GET_NUM(m, o, "index", UINT32_MAX, NULL, index);
	GET_NUM(m, o, "byte_offset", UINT32_MAX, &ZERO, off);
	memset(&e, 0, sizeof(e));
	rc = igvm_build_add_parameter(m->b, type, (uint32_t)index, (uint32_t)off, &e);
	return rc ? fail_build(m, rc, &e) : 0;
}

static int do_insert(struct mctx *m, struct json_object *o)
{
	static const char *const keys[] = { "type", "gpa", "compatibility_mask", "index", NULL };
	struct igvm_error e;
	uint64_t gpa, mask, index;
	int rc;

	if ((rc = check_keys(m, o, keys)))
		return rc;
	GET_NUM(m, o, "gpa", UINT64_MAX, NULL, gpa);
	GET_NUM(m, o, "compatibility_mask", UINT32_MAX, NULL, mask);
	GET_NUM(m, o, "index", UINT32_MAX, NULL, index);
	memset(&e, 0, sizeof(e));
	rc = igvm_build_add_parameter_insert(m->b, gpa, (uint32_t)mask, (uint32_t)index, &e);
	return rc ? fail_build(m, rc, &e) : 0;
}

static int do_reqmem(struct mctx *m, struct json_object *o)
{
	static const char *const keys[] = { "type", "gpa", "compatibility_mask", "number_of_bytes",
					    "flags", NULL };
	struct igvm_error e;
	uint64_t gpa, mask, n, flags;
	int rc;

	if ((rc = check_keys(m, o, keys)))
		return rc;
	GET_NUM(m, o, "gpa", UINT64_MAX, NULL, gpa);
	GET_NUM(m, o, "compatibility_mask", UINT32_MAX, NULL, mask);
	GET_NUM(m, o, "number_of_bytes", UINT32_MAX, NULL, n);
	if ((rc = get_flags(m, o, "flags", reqmem_flag_names, UINT32_MAX, &flags)))
		return rc;
	memset(&e, 0, sizeof(e));
	rc = igvm_build_add_required_memory(m->b, gpa, (uint32_t)mask, (uint32_t)n,
					    (uint32_t)flags, &e);
	return rc ? fail_build(m, rc, &e) : 0;
}

static int do_error_range(struct mctx *m, struct json_object *o)
{
	static const char *const keys[] = { "type", "gpa", "compatibility_mask", "size_bytes",
					    NULL };
	struct igvm_error e;
	uint64_t gpa, mask, n;
	int rc;

	if ((rc = check_keys(m, o, keys)))
		return rc;
	GET_NUM(m, o, "gpa", UINT64_MAX, NULL, gpa);
	GET_NUM(m, o, "compatibility_mask", UINT32_MAX, NULL, mask);
	GET_NUM(m, o, "size_bytes", UINT32_MAX, NULL, n);
	memset(&e, 0, sizeof(e));
	rc = igvm_build_add_error_range(m->b, gpa, (uint32_t)mask, (uint32_t)n, &e);
	return rc ? fail_build(m, rc, &e) : 0;
}

/* Hyper-V register names (TLFS) accepted by name in VBS contexts (igvm-facts.md §6.11.2). */
static const struct name_val x64_reg_names[] = {
	{ "rax", IGVM_HV_X64_RAX }, { "rcx", IGVM_HV_X64_RCX }, { "rdx", IGVM_HV_X64_RDX },
	{ "rbx", IGVM_HV_X64_RBX }, { "rsp", IGVM_HV_X64_RSP }, { "rbp", IGVM_HV_X64_RBP },
	{ "rsi", IGVM_HV_X64_RSI }, { "rdi", IGVM_HV_X64_RDI }, { "r8", IGVM_HV_X64_R8 },
	{ "r9", IGVM_HV_X64_R9 }, { "r10", IGVM_HV_X64_R10 }, { "r11", IGVM_HV_X64_R11 },
	{ "r12", IGVM_HV_X64_R12 }, { "r13", IGVM_HV_X64_R13 }, { "r14", IGVM_HV_X64_R14 },
	{ "r15", IGVM_HV_X64_R15 }, { "rip", IGVM_HV_X64_RIP }, { "rflags", IGVM_HV_X64_RFLAGS },
	{ "cr0", IGVM_HV_X64_CR0 }, { "cr3", IGVM_HV_X64_CR3 }, { "cr4", IGVM_HV_X64_CR4 },
	{ "es", IGVM_HV_X64_ES }, { "cs", IGVM_HV_X64_CS }, { "ss", IGVM_HV_X64_SS },
	{ "ds", IGVM_HV_X64_DS }, { "fs", IGVM_HV_X64_FS }, { "gs", IGVM_HV_X64_GS },
	{ "tr", IGVM_HV_X64_TR }, { "idtr", IGVM_HV_X64_IDTR }, { "gdtr", IGVM_HV_X64_GDTR },
	{ "efer", IGVM_HV_X64_EFER }, { "pat", IGVM_HV_X64_PAT },
	{ "mtrr_def_type", IGVM_HV_X64_MTRR_DEF_TYPE },
	{ "mtrr_phys_base0", IGVM_HV_X64_MTRR_PHYS_BASE0 },
	{ "mtrr_phys_base1", IGVM_HV_X64_MTRR_PHYS_BASE0 + 1 },
	{ "mtrr_phys_base2", IGVM_HV_X64_MTRR_PHYS_BASE0 + 2 },
	{ "mtrr_phys_base3", IGVM_HV_X64_MTRR_PHYS_BASE0 + 3 },
	{ "mtrr_phys_base4", IGVM_HV_X64_MTRR_PHYS_BASE0 + 4 },
	{ "mtrr_phys_mask0", IGVM_HV_X64_MTRR_PHYS_MASK0 },
	{ "mtrr_phys_mask1", IGVM_HV_X64_MTRR_PHYS_MASK0 + 1 },
	{ "mtrr_phys_mask2", IGVM_HV_X64_MTRR_PHYS_MASK0 + 2 },
	{ "mtrr_phys_mask3", IGVM_HV_X64_MTRR_PHYS_MASK0 + 3 },
	{ "mtrr_phys_mask4", IGVM_HV_X64_MTRR_PHYS_MASK0 + 4 },
	{ "mtrr_fix64k_00000", IGVM_HV_X64_MTRR_FIX64K_00000 },
	{ "mtrr_fix16k_80000", IGVM_HV_X64_MTRR_FIX16K_80000 },
	{ "mtrr_fix4k_e0000", IGVM_HV_X64_MTRR_FIX4K_E0000 },
	{ "mtrr_fix4k_e8000", IGVM_HV_X64_MTRR_FIX4K_E8000 },
	{ "mtrr_fix4k_f0000", IGVM_HV_X64_MTRR_FIX4K_F0000 },
	{ "mtrr_fix4k_f8000", IGVM_HV_X64_MTRR_FIX4K_F8000 }, { NULL, 0 },
};
static const struct name_val a64_reg_names[] = {
	{ "x0", IGVM_HV_ARM64_X0 }, { "x1", IGVM_HV_ARM64_X0 + 1 }, { "x2", IGVM_HV_ARM64_X0 + 2 },
	{ "x3", IGVM_HV_ARM64_X0 + 3 }, { "x4", IGVM_HV_ARM64_X0 + 4 },
	{ "x5", IGVM_HV_ARM64_X0 + 5 }, { "x6", IGVM_HV_ARM64_X0 + 6 },
	{ "x7", IGVM_HV_ARM64_X0 + 7 }, { "pc", IGVM_HV_ARM64_XPC },
	{ "cpsr", IGVM_HV_ARM64_CPSR }, { "sctlr_el1", IGVM_HV_ARM64_SCTLR_EL1 },
	{ "ttbr0_el1", IGVM_HV_ARM64_TTBR0_EL1 }, { "ttbr1_el1", IGVM_HV_ARM64_TTBR1_EL1 },
	{ "tcr_el1", IGVM_HV_ARM64_TCR_EL1 }, { "mair_el1", IGVM_HV_ARM64_MAIR_EL1 },
	{ "vbar_el1", IGVM_HV_ARM64_VBAR_EL1 }, { NULL, 0 },
};

const char *manifest_reg_name(uint32_t arch, uint32_t name)
{
	return name_of(arch == IGVM_BUILD_ARCH_AARCH64 ? a64_reg_names : x64_reg_names, name);
}

static int do_vbs_regs(struct mctx *m, struct json_object *o, uint32_t arch,
		       struct igvm_build_vbs_reg **out, size_t *count)
{
	static const char *const keys[] = { "name", "value", "value_hex", NULL };
	struct json_object *arr;
	struct igvm_build_vbs_reg *regs;
	size_t i, n;
	int rc;

	if (!json_object_object_get_ex(o, "registers", &arr) ||
	    !json_object_is_type(arr, json_type_array))
		return fail(m, "\"registers\" must be an array");
	n = json_object_array_length(arr);
	regs = calloc(n ? n : 1, sizeof(*regs));
	if (!regs)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct json_object *r = json_object_array_get_idx(arr, i);
		uint64_t v;
		bool has_v, has_h;

		if (!json_object_is_type(r, json_type_object)) {
			rc = fail(m, "registers[%zu] must be an object", i);
			goto err;
		}
		if ((rc = check_keys(m, r, keys)))
			goto err;
		rc = get_enum(m, r, "name",
			      arch == IGVM_BUILD_ARCH_AARCH64 ? a64_reg_names : x64_reg_names,
			      UINT32_MAX, NULL, &v);
		if (rc)
			goto err;
		regs[i].name = (uint32_t)v;
		has_v = json_object_object_get_ex(r, "value", NULL);
		has_h = json_object_object_get_ex(r, "value_hex", NULL);
		if (has_v == has_h) {
			rc = fail(m, "registers[%zu]: give exactly one of \"value\", \"value_hex\"",
				  i);
			goto err;
		}
		if (has_v) {
			if ((rc = get_num(m, r, "value", UINT64_MAX, NULL, &v)))
				goto err;
			for (unsigned k = 0; k < 8; k++)
				regs[i].value[k] = (uint8_t)(v >> (8 * k));
		} else if ((rc = get_bytes(m, r, "value_hex", regs[i].value, 16))) {
			goto err;
		}
	}
	*out = regs;
	*count = n;
	return 0;
err:
	free(regs);
	return rc;
}

/*
 * Named fields of the 4 KiB VP context blocks, for hand-written manifests ("fields": {...}).
 * Offsets come from igvm/igvm_format.h (VMSA §13, native and CCA contexts §6.11).
 */
struct field_def {
	const char *name;
	uint16_t off;
	uint8_t size;
};

#define NF(n) { #n, offsetof(struct igvm_native_vp_context_x64, n), \
		sizeof(((struct igvm_native_vp_context_x64 *)0)->n) }
static const struct field_def native_fields[] = {
	NF(rax), NF(rcx), NF(rdx), NF(rbx), NF(rsp), NF(rbp), NF(rsi), NF(rdi), NF(r8), NF(r9),
	NF(r10), NF(r11), NF(r12), NF(r13), NF(r14), NF(r15), NF(rip), NF(rflags), NF(idtr_base),
	NF(idtr_limit), NF(gdtr_limit), NF(gdtr_base), NF(code_selector), NF(code_attributes),
	NF(code_base), NF(code_limit), NF(data_selector), NF(data_attributes), NF(data_base),
	NF(data_limit), NF(gs_base), NF(cr0), NF(cr3), NF(cr4), NF(efer),
	{ NULL, 0, 0 },
};
#undef NF

#define CF(n, f) { n, offsetof(struct igvm_vp_context_aarch64_cca, f), 8 }
static const struct field_def cca_fields[] = {
	CF("x0", gpr[0]), CF("x1", gpr[1]), CF("x2", gpr[2]), CF("x3", gpr[3]),
	CF("x4", gpr[4]), CF("x5", gpr[5]), CF("x6", gpr[6]), CF("x7", gpr[7]),
	CF("pc", pc),	  CF("flags", flags), { NULL, 0, 0 },
};
#undef CF

/* Segment registers of the VMSA: selector u16 @0, attrib u16 @2, limit u32 @4, base u64 @8. */
#define VSEG(n, o)                                                                           \
	{ n ".selector", (o), 2 }, { n ".attrib", (o) + 2, 2 }, { n ".limit", (o) + 4, 4 },  \
	{ n ".base", (o) + 8, 8 }
static const struct field_def vmsa_fields[] = {
	VSEG("es", IGVM_VMSA_ES), VSEG("cs", IGVM_VMSA_CS), VSEG("ss", IGVM_VMSA_SS),
	VSEG("ds", IGVM_VMSA_DS), VSEG("fs", IGVM_VMSA_FS), VSEG("gs", IGVM_VMSA_GS),
	VSEG("gdtr", IGVM_VMSA_GDTR), VSEG("ldtr", IGVM_VMSA_LDTR), VSEG("idtr", IGVM_VMSA_IDTR),
	VSEG("tr", IGVM_VMSA_TR),
	{ "vmpl", IGVM_VMSA_VMPL, 1 }, { "cpl", IGVM_VMSA_CPL, 1 },
	{ "efer", IGVM_VMSA_EFER, 8 }, { "xss", IGVM_VMSA_XSS, 8 }, { "cr4", IGVM_VMSA_CR4, 8 },
	{ "cr3", IGVM_VMSA_CR3, 8 }, { "cr0", IGVM_VMSA_CR0, 8 }, { "dr7", IGVM_VMSA_DR7, 8 },
	{ "dr6", IGVM_VMSA_DR6, 8 }, { "rflags", IGVM_VMSA_RFLAGS, 8 }, { "rip", IGVM_VMSA_RIP, 8 },
	{ "rsp", IGVM_VMSA_RSP, 8 }, { "rax", IGVM_VMSA_RAX, 8 }, { "star", IGVM_VMSA_STAR, 8 },
	{ "lstar", IGVM_VMSA_LSTAR, 8 }, { "cstar", IGVM_VMSA_CSTAR, 8 },
	{ "sfmask", IGVM_VMSA_SFMASK, 8 }, { "kernel_gs_base", IGVM_VMSA_KERNEL_GS_BASE, 8 },
	{ "cr2", IGVM_VMSA_CR2, 8 }, { "g_pat", IGVM_VMSA_G_PAT, 8 },
	{ "rcx", IGVM_VMSA_RCX, 8 }, { "rdx", IGVM_VMSA_RDX, 8 }, { "rbx", IGVM_VMSA_RBX, 8 },
	{ "rbp", IGVM_VMSA_RBP, 8 }, { "rsi", IGVM_VMSA_RSI, 8 }, { "rdi", IGVM_VMSA_RDI, 8 },
	{ "r8", IGVM_VMSA_R8, 8 }, { "r9", IGVM_VMSA_R8 + 8, 8 }, { "r10", IGVM_VMSA_R8 + 16, 8 },
	{ "r11", IGVM_VMSA_R8 + 24, 8 }, { "r12", IGVM_VMSA_R8 + 32, 8 },
	{ "r13", IGVM_VMSA_R8 + 40, 8 }, { "r14", IGVM_VMSA_R8 + 48, 8 },
	{ "r15", IGVM_VMSA_R15, 8 }, { "sev_features", IGVM_VMSA_SEV_FEATURES, 8 },
	{ "virtual_tom", IGVM_VMSA_VIRTUAL_TOM, 8 }, { "xcr0", IGVM_VMSA_XCR0, 8 },
	{ "mxcsr", IGVM_VMSA_MXCSR, 4 }, { "x87_ftw", IGVM_VMSA_X87_FTW, 2 },
	{ "x87_fsw", IGVM_VMSA_X87_FSW, 2 }, { "x87_fcw", IGVM_VMSA_X87_FCW, 2 },
	{ NULL, 0, 0 },
};
#undef VSEG

/*
 * Overlay "fields" on a context block: the data in *buf (*len bytes, possibly none) is grown to `size` bytes
 * and each named field written little-endian.
 */
static int apply_fields(struct mctx *m, struct json_object *o, const struct field_def *defs,
			size_t size, uint8_t **buf, size_t *len)
{
	struct json_object *fo;
	uint8_t *p;

	if (!json_object_object_get_ex(o, "fields", &fo))
		return 0;
	if (!json_object_is_type(fo, json_type_object))
		return fail(m, "\"fields\" must be an object of name: value");
	if (*len > size)
		return fail(m, "context data is %zu bytes, more than the %zu-byte context", *len,
			    size);
	p = calloc(1, size);
	if (!p)
		return -ENOMEM;
	if (*len)
		memcpy(p, *buf, *len);
	free(*buf);
	*buf = p;
	*len = size;
	json_object_object_foreach(fo, key, val) {
		const struct field_def *d;
		uint64_t v, max;
		int rc;

		for (d = defs; d->name; d++)
			if (strcmp(d->name, key) == 0)
				break;
		if (!d->name)
			return fail(m, "\"fields\": unknown field \"%s\"", key);
		max = d->size == 8 ? UINT64_MAX : (1ull << (8 * d->size)) - 1;
		if ((rc = num_of(m, val, key, max, &v)))
			return rc;
		for (unsigned k = 0; k < d->size; k++)
			p[d->off + k] = (uint8_t)(v >> (8 * k));
	}
	return 0;
}

/* The 4 KiB VP context kinds: their "fields" names and context structure size. */
static const struct vp_kind {
	const char *name;
	const struct field_def *fields;
	size_t size;
} vp_kinds[] = {
	{ "snp", vmsa_fields, IGVM_VMSA_SIZE },
	{ "native_x64", native_fields, sizeof(struct igvm_native_vp_context_x64) },
	{ "cca", cca_fields, sizeof(struct igvm_vp_context_aarch64_cca) },
};

static int do_vp_context(struct mctx *m, struct json_object *o, uint32_t arch)
{
	static const char *const keys[] = { "type", "kind",	"gpa",	   "compatibility_mask",
					    "vp_index", "vtl", "registers", "fields", DATA_KEYS,
					    NULL };
	struct json_object *kv;
	struct igvm_error e;
	uint64_t gpa = 0, mask, vp, vtl;
	const struct vp_kind *k = NULL;
	const char *kind;
	uint8_t *data = NULL;
	size_t len = 0;
	bool present;
	int rc;

	if ((rc = check_keys(m, o, keys)))
		return rc;
	if (!json_object_object_get_ex(o, "kind", &kv) || !json_object_is_type(kv, json_type_string))
		return fail(m, "\"kind\" (snp, native_x64, cca, vbs) is required");
	kind = json_object_get_string(kv);
	if (has_nul(kv))
		return fail(m, "unknown \"kind\" \"%s\" (snp, native_x64, cca, vbs)", kind);
	GET_NUM(m, o, "compatibility_mask", UINT32_MAX, NULL, mask);
	GET_NUM(m, o, "vp_index", UINT16_MAX, &ZERO, vp);
	memset(&e, 0, sizeof(e));
	if (strcmp(kind, "vbs") == 0) {
		struct igvm_build_vbs_reg *regs = NULL;
		size_t n = 0;

		if (json_object_object_get_ex(o, "gpa", NULL) ||
		    json_object_object_get_ex(o, "data_hex", NULL) ||
		    json_object_object_get_ex(o, "data_file", NULL) ||
		    json_object_object_get_ex(o, "fields", NULL))
			return fail(m, "a vbs context takes \"registers\", not gpa/data/fields");
		GET_NUM(m, o, "vtl", UINT8_MAX, &ZERO, vtl);
		if ((rc = do_vbs_regs(m, o, arch, &regs, &n)))
			return rc;
		rc = igvm_build_add_vp_vbs(m->b, (uint32_t)mask, (uint16_t)vp, (uint8_t)vtl, regs, n,
					   &e);
		free(regs);
		return rc ? fail_build(m, rc, &e) : 0;
	}
	for (size_t i = 0; i < sizeof(vp_kinds) / sizeof(vp_kinds[0]); i++)
		if (strcmp(kind, vp_kinds[i].name) == 0)
			k = &vp_kinds[i];
	if (!k)
		return fail(m, "unknown \"kind\" \"%s\" (snp, native_x64, cca, vbs)", kind);
	if (json_object_object_get_ex(o, "registers", NULL) ||
	    json_object_object_get_ex(o, "vtl", NULL))
		return fail(m, "\"registers\"/\"vtl\" belong to vbs contexts only");
	if (k->fields == vmsa_fields)
		GET_NUM(m, o, "gpa", UINT64_MAX, NULL, gpa);
	else if (json_object_object_get_ex(o, "gpa", NULL))
		return fail(m, "\"gpa\" is for snp contexts only");
	if ((rc = get_data(m, o, &data, &len, &present)))
		return rc;
	if ((rc = apply_fields(m, o, k->fields, k->size, &data, &len))) {
		free(data);
		return rc;
	}
	if (!len) {
		free(data);
		return fail(m, "a %s context needs \"fields\", \"data_hex\" or \"data_file\"",
			    kind);
	}
	if (k->fields == vmsa_fields)
		rc = igvm_build_add_vp_snp(m->b, gpa, (uint32_t)mask, (uint16_t)vp, data, len, &e);
	else if (k->fields == native_fields)
		rc = igvm_build_add_vp_native_x64(m->b, (uint32_t)mask, (uint16_t)vp, data, len, &e);
	else
		rc = igvm_build_add_vp_cca(m->b, (uint32_t)mask, (uint16_t)vp, data, len, &e);
	free(data);
	return rc ? fail_build(m, rc, &e) : 0;
}

static int do_id_block(struct mctx *m, struct json_object *o)
{
	static const char *const keys[] = { "type",
					    "compatibility_mask",
					    "author_key_enabled",
					    "reserved_hex",
					    "ld_hex",
					    "family_id_hex",
					    "image_id_hex",
					    "version",
					    "guest_svn",
					    "id_key_algorithm",
					    "author_key_algorithm",
					    "id_key_signature_hex",
					    "id_public_key_hex",
					    "author_key_signature_hex",
					    "author_public_key_hex",
					    NULL };
	struct igvm_build_snp_id_block idb, *id = &idb;
	struct igvm_error e;
	int rc;

	if ((rc = check_keys(m, o, keys)))
		return rc;
	memset(id, 0, sizeof(*id));
	GET_NUM(m, o, "compatibility_mask", UINT32_MAX, NULL, id->compatibility_mask);
	GET_NUM(m, o, "author_key_enabled", UINT8_MAX, &ZERO, id->author_key_enabled);
	GET_NUM(m, o, "version", UINT32_MAX, &ONE, id->version);
	GET_NUM(m, o, "guest_svn", UINT32_MAX, &ZERO, id->guest_svn);
	GET_NUM(m, o, "id_key_algorithm", UINT32_MAX, &ZERO, id->id_key_algorithm);
	GET_NUM(m, o, "author_key_algorithm", UINT32_MAX, &ZERO, id->author_key_algorithm);
	if ((rc = get_bytes(m, o, "reserved_hex", id->reserved, sizeof(id->reserved))) ||
	    (rc = get_bytes(m, o, "ld_hex", id->ld, sizeof(id->ld))) ||
	    (rc = get_bytes(m, o, "family_id_hex", id->family_id, sizeof(id->family_id))) ||
	    (rc = get_bytes(m, o, "image_id_hex", id->image_id, sizeof(id->image_id))) ||
	    (rc = get_bytes(m, o, "id_key_signature_hex", id->id_key_signature,
			    sizeof(id->id_key_signature))) ||
	    (rc = get_bytes(m, o, "id_public_key_hex", id->id_public_key,
			    sizeof(id->id_public_key))) ||
	    (rc = get_bytes(m, o, "author_key_signature_hex", id->author_key_signature,
			    sizeof(id->author_key_signature))) ||
	    (rc = get_bytes(m, o, "author_public_key_hex", id->author_public_key,
			    sizeof(id->author_public_key))))
		return rc;
	memset(&e, 0, sizeof(e));
	rc = igvm_build_add_snp_id_block(m->b, id, &e);
	return rc ? fail_build(m, rc, &e) : 0;
}

static int do_vbs_measurement(struct mctx *m, struct json_object *o)
{
	static const char *const keys[] = { "type",
					    "compatibility_mask",
					    "version",
					    "product_id",
					    "module_id",
					    "security_version",
					    "policy_flags",
					    "boot_digest_algo",
					    "signing_algo",
					    "boot_measurement_digest_hex",
					    "signature_hex",
					    "public_key_hex",
					    NULL };
	struct igvm_build_vbs_measurement vmb, *vm = &vmb;
	struct igvm_error e;
	int rc;

	if ((rc = check_keys(m, o, keys)))
		return rc;
	memset(vm, 0, sizeof(*vm));
	GET_NUM(m, o, "compatibility_mask", UINT32_MAX, NULL, vm->compatibility_mask);
	GET_NUM(m, o, "version", UINT32_MAX, &ZERO, vm->version);
	GET_NUM(m, o, "product_id", UINT32_MAX, &ZERO, vm->product_id);
	GET_NUM(m, o, "module_id", UINT32_MAX, &ZERO, vm->module_id);
	GET_NUM(m, o, "security_version", UINT32_MAX, &ZERO, vm->security_version);
	GET_NUM(m, o, "policy_flags", UINT32_MAX, &ZERO, vm->policy_flags);
	GET_NUM(m, o, "boot_digest_algo", UINT32_MAX, &ZERO, vm->boot_digest_algo);
	GET_NUM(m, o, "signing_algo", UINT32_MAX, &ZERO, vm->signing_algo);
	if ((rc = get_bytes(m, o, "boot_measurement_digest_hex", vm->boot_measurement_digest,
			    sizeof(vm->boot_measurement_digest))) ||
	    (rc = get_bytes(m, o, "signature_hex", vm->signature, sizeof(vm->signature))) ||
	    (rc = get_bytes(m, o, "public_key_hex", vm->public_key, sizeof(vm->public_key))))
		return rc;
	memset(&e, 0, sizeof(e));
	rc = igvm_build_add_vbs_measurement(m->b, vm, &e);
	return rc ? fail_build(m, rc, &e) : 0;
}

static const struct {
	const char *name;
	enum igvm_build_param type;
} param_types[] = {
	{ "vp_count", IGVM_BUILD_PARAM_VP_COUNT },
	{ "srat", IGVM_BUILD_PARAM_SRAT },
	{ "madt", IGVM_BUILD_PARAM_MADT },
	{ "mmio_ranges", IGVM_BUILD_PARAM_MMIO_RANGES },
	{ "memory_map", IGVM_BUILD_PARAM_MEMORY_MAP },
	{ "command_line", IGVM_BUILD_PARAM_COMMAND_LINE },
	{ "slit", IGVM_BUILD_PARAM_SLIT },
	{ "pptt", IGVM_BUILD_PARAM_PPTT },
	{ "device_tree", IGVM_BUILD_PARAM_DEVICE_TREE },
	{ "environment_info", IGVM_BUILD_PARAM_ENVIRONMENT_INFO },
};

const char *manifest_param_name(uint32_t type)
{
	for (size_t i = 0; i < sizeof(param_types) / sizeof(param_types[0]); i++)
		if ((uint32_t)param_types[i].type == type)
			return param_types[i].name;
	return NULL;
}

static int do_init(struct mctx *m, struct json_object *o, const char *type)
{
	if (strcmp(type, "guest_policy") == 0)
		return do_guest_policy(m, o);
	if (strcmp(type, "cca_policy") == 0)
		return do_cca_policy(m, o);
	if (strcmp(type, "relocatable_region") == 0)
		return do_reloc(m, o);
	if (strcmp(type, "page_table_relocation") == 0)
		return do_pt_reloc(m, o);
	if (strcmp(type, "corim_document") == 0)
		return do_corim(m, o, IGVM_BUILD_CORIM_DOCUMENT);
	if (strcmp(type, "corim_signature") == 0)
		return do_corim(m, o, IGVM_BUILD_CORIM_SIGNATURE);
	return fail(m, "unknown initialization type \"%s\"", type);
}

static int do_directive(struct mctx *m, struct json_object *o, const char *type, uint32_t arch)
{
	size_t i;

	if (strcmp(type, "page_data") == 0)
		return do_page_data(m, o, false);
	if (strcmp(type, "pages") == 0)
		return do_page_data(m, o, true);
	if (strcmp(type, "parameter_area") == 0)
		return do_param_area(m, o);
	if (strcmp(type, "parameter_insert") == 0)
		return do_insert(m, o);
	if (strcmp(type, "required_memory") == 0)
		return do_reqmem(m, o);
	if (strcmp(type, "error_range") == 0)
		return do_error_range(m, o);
	if (strcmp(type, "vp_context") == 0)
		return do_vp_context(m, o, arch);
	if (strcmp(type, "snp_id_block") == 0)
		return do_id_block(m, o);
	if (strcmp(type, "vbs_measurement") == 0)
		return do_vbs_measurement(m, o);
	for (i = 0; i < sizeof(param_types) / sizeof(param_types[0]); i++)
		if (strcmp(type, param_types[i].name) == 0)
			return do_param(m, o, param_types[i].type);
	return fail(m, "unknown directive type \"%s\"", type);
}

/* ---- paravisor section ---- */

/* The file names a "paravisor" section may hold (and `--set` may override). */
static const char *const pv_files[] = { "shim", "tdx_reset", "kernel", "initrd", NULL };

/* A path from the section or an override; *path NULL when neither gives one. */
static int pv_path(struct mctx *m, struct json_object *o, const char *key,
		   const struct manifest_override *ov, size_t n_ov, const char **path)
{
	struct json_object *v;

	*path = NULL;
	for (size_t i = 0; i < n_ov; i++)
		if (strcmp(ov[i].name, key) == 0)
			*path = ov[i].path; /* the last --set wins, as on most command lines */
	if (*path)
		return 0;
	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_string) || !json_object_get_string_len(v) ||
	    has_nul(v))
		return fail(m, "\"%s\" must be a non-empty path without NUL characters", key);
	*path = json_object_get_string(v);
	return 0;
}

static int pv_read(struct mctx *m, const char *key, const char *path, uint8_t **buf,
		   size_t *len)
{
	int rc;

	if (!m->io || !m->io->read_file)
		return fail(m, "%s: files are not available here (\"%s\")", key, path);
	rc = m->io->read_file(m->io->ctx, path, buf, len);
	if (rc) {
		if (m->msg_len)
			snprintf(m->msg, m->msg_len, "paravisor.%s: cannot read \"%s\": %s", key,
				 path, strerror(-rc));
		return rc == -EINVAL ? -EIO : rc;
	}
	return 0;
}

static int do_paravisor(struct mctx *m, struct json_object *o, const struct manifest_override *ov,
			size_t n_ov)
{
	static const char *const keys[] = { "shim",	    "tdx_reset",   "kernel",
					    "initrd",	    "command_line", "command_line_policy",
					    "vtl2_base",    "vtl2_size",   "com_port",
					    NULL };
	static const struct name_val policies[] = { { "static", MEZZ_CMDLINE_STATIC },
						    { "append_host", MEZZ_CMDLINE_APPEND_HOST },
						    { NULL, 0 } };
	static const uint64_t def_base = PARAVISOR_DEFAULT_VTL2_BASE, def_com = 0x3F8;
	struct paravisor_config c;
	const char *paths[4];
	uint8_t *bufs[4] = { NULL, NULL, NULL, NULL };
	size_t lens[4] = { 0, 0, 0, 0 };
	struct json_object *v;
	uint64_t x;
	int rc;

	snprintf(m->where, sizeof(m->where), "paravisor");
	if (!json_object_is_type(o, json_type_object))
		return fail(m, "must be an object");
	if ((rc = check_keys(m, o, keys)))
		return rc;
	memset(&c, 0, sizeof(c));
	c.command_line = "";
	if (json_object_object_get_ex(o, "command_line", &v)) {
		if (!json_object_is_type(v, json_type_string) || has_nul(v))
			return fail(m, "\"command_line\" must be a string without NUL characters");
		c.command_line = json_object_get_string(v);
	}
	if (json_object_object_get_ex(o, "command_line_policy", &v)) {
		const struct name_val *nv = NULL;

		if (json_object_is_type(v, json_type_string) && !has_nul(v))
			nv = find_name(policies, json_object_get_string(v));
		if (!nv)
			return fail(m, "\"command_line_policy\" must be \"static\" or "
				       "\"append_host\"");
		c.cmdline_policy = nv->val;
	}
	GET_NUM(m, o, "vtl2_base", UINT64_MAX, &def_base, c.vtl2_base);
	if ((rc = get_num(m, o, "vtl2_size", UINT64_MAX, &ZERO, &x)))
		return rc;
	if (json_object_object_get_ex(o, "vtl2_size", NULL) && !x)
		return fail(m, "\"vtl2_size\" must not be 0 (leave it out for the default)");
	c.vtl2_size = x;
	GET_NUM(m, o, "com_port", UINT16_MAX, &def_com, c.com_port);
	for (unsigned i = 0; pv_files[i]; i++)
		if ((rc = pv_path(m, o, pv_files[i], ov, n_ov, &paths[i])))
			return rc;
	if (!paths[0])
		return fail(m, "missing \"shim\" (the boot shim ELF)");
	if (!paths[2])
		return fail(m, "missing \"kernel\" (the VTL2 bzImage)");
	for (unsigned i = 0; pv_files[i] && !rc; i++)
		if (paths[i])
			rc = pv_read(m, pv_files[i], paths[i], &bufs[i], &lens[i]);
	if (!rc) {
		c.shim = bufs[0];
		c.shim_len = lens[0];
		c.tdx_reset = bufs[1];
		c.tdx_reset_len = lens[1];
		c.kernel = bufs[2];
		c.kernel_len = lens[2];
		c.initrd = bufs[3];
		c.initrd_len = lens[3];
		c.platforms = m->plats;
		c.n_platforms = m->n_plats;
		rc = paravisor_build(m->b, &c, m->msg, m->msg_len);
		if (rc == -ENOMEM && m->msg_len)
			snprintf(m->msg, m->msg_len, "paravisor: out of memory");
	}
	for (unsigned i = 0; i < 4; i++)
		free(bufs[i]);
	return rc;
}

/* Walk one of the three arrays; kind 0 platforms, 1 initialization, 2 directives. */
static int do_section(struct mctx *m, struct json_object *root, const char *key, int kind,
		      uint32_t arch)
{
	struct json_object *arr;
	size_t i, n;
	int rc;

	if (!json_object_object_get_ex(root, key, &arr))
		return 0;
	if (!json_object_is_type(arr, json_type_array)) {
		m->where[0] = '\0';
		return fail(m, "\"%s\" must be an array", key);
	}
	n = json_object_array_length(arr);
	for (i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(arr, i);
		struct json_object *t;

		snprintf(m->where, sizeof(m->where), "%s[%zu]", key, i);
		if (!json_object_is_type(o, json_type_object))
			return fail(m, "must be an object");
		if (kind == 0) {
			rc = do_platform(m, o);
		} else {
			if (!json_object_object_get_ex(o, "type", &t) ||
			    !json_object_is_type(t, json_type_string))
				return fail(m, "missing \"type\"");
			if (has_nul(t))
				return fail(m, "unknown %s type \"%s\" (holds a NUL character)",
					    kind == 1 ? "initialization" : "directive",
					    json_object_get_string(t));
			rc = kind == 1 ? do_init(m, o, json_object_get_string(t))
				       : do_directive(m, o, json_object_get_string(t), arch);
		}
		if (rc)
			return rc;
	}
	return 0;
}

int manifest_build(const char *json, size_t len, const struct manifest_io *io,
		   struct igvm_builder **out, char *msg, size_t msg_len)
{
	return manifest_build_ex(json, len, io, NULL, 0, out, msg, msg_len);
}

int manifest_build_ex(const char *json, size_t len, const struct manifest_io *io,
		      const struct manifest_override *ov, size_t n_ov, struct igvm_builder **out,
		      char *msg, size_t msg_len)
{
	static const char *const keys[] = { "format_version", "architecture", "page_size",
					    "platforms",      "initialization", "directives",
					    "paravisor",      "comment",        NULL };
	struct json_object *pv = NULL;
	static const struct name_val arch_names[] = {
		{ "x64", IGVM_BUILD_ARCH_X64 }, { "aarch64", IGVM_BUILD_ARCH_AARCH64 }, { NULL, 0 }
	};
	struct mctx m = { .io = io, .msg = msg, .msg_len = msg_len };
	struct json_tokener *tok;
	struct json_object *root;
	enum json_tokener_error jerr;
	uint64_t version, arch, page_size;
	int rc;

	*out = NULL;
	if (msg_len)
		msg[0] = '\0';
	if (len > INT_MAX)
		return fail(&m, "manifest too large");
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	root = json_tokener_parse_ex(tok, json, (int)len);
	jerr = json_tokener_get_error(tok);
	if (!root || jerr != json_tokener_success ||
	    json_tokener_get_parse_end(tok) < len) {
		size_t at = json_tokener_get_parse_end(tok);

		/* Only trailing white space may follow the document. */
		while (root && jerr == json_tokener_success && at < len &&
		       (json[at] == ' ' || json[at] == '\n' || json[at] == '\t' || json[at] == '\r'))
			at++;
		if (!root || jerr != json_tokener_success || at < len) {
			json_tokener_free(tok);
			json_object_put(root);
			return fail(&m, "JSON syntax error near byte %zu: %s", at,
				    jerr == json_tokener_continue ? "unexpected end of input"
				    : jerr != json_tokener_success ? json_tokener_error_desc(jerr)
								   : "unexpected trailing data");
		}
	}
	json_tokener_free(tok);
	if (!json_object_is_type(root, json_type_object)) {
		rc = fail(&m, "the manifest must be a JSON object");
		goto out;
	}
	if ((rc = check_keys(&m, root, keys)))
		goto out;
	for (size_t i = 0; i < n_ov; i++) {
		unsigned k;

		for (k = 0; pv_files[k]; k++)
			if (strcmp(pv_files[k], ov[i].name) == 0)
				break;
		if (!pv_files[k]) {
			rc = fail(&m, "--set %s: unknown name (shim, tdx_reset, kernel, initrd)",
				  ov[i].name);
			goto out;
		}
	}
	json_object_object_get_ex(root, "paravisor", &pv);
	if (pv && json_object_object_get_ex(root, "directives", NULL)) {
		rc = fail(&m, "\"paravisor\" and \"directives\" are mutually exclusive (the "
			      "paravisor section lays out the whole image)");
		goto out;
	}
	if (!pv && n_ov) {
		rc = fail(&m, "--set needs a manifest with a \"paravisor\" section");
		goto out;
	}
	if ((rc = get_num(&m, root, "format_version", UINT32_MAX, &ONE, &version)) ||
	    (rc = get_enum(&m, root, "architecture", arch_names, UINT32_MAX, &ZERO, &arch)))
		goto out;
	{
		static const uint64_t page4k = 4096;

		if ((rc = get_num(&m, root, "page_size", UINT32_MAX, &page4k, &page_size)))
			goto out;
	}
	if (page_size != 4096) {
		rc = fail(&m, "\"page_size\" must be 4096");
		goto out;
	}
	if (version == 1 && arch != IGVM_BUILD_ARCH_X64) {
		rc = fail(&m, "format_version 1 files are x64 only; use format_version 2");
		goto out;
	}
	rc = igvm_build_new((uint32_t)version, (uint32_t)arch, &m.b);
	if (rc) {
		if (rc == -EINVAL)
			rc = fail(&m, "unsupported format_version %llu / architecture %llu",
				  (unsigned long long)version, (unsigned long long)arch);
		goto out;
	}
	if ((rc = do_section(&m, root, "platforms", 0, (uint32_t)arch)) ||
	    (rc = do_section(&m, root, "initialization", 1, (uint32_t)arch)) ||
	    (rc = do_section(&m, root, "directives", 2, (uint32_t)arch)))
		goto out;
	if (pv) {
		if (arch != IGVM_BUILD_ARCH_X64) {
			m.where[0] = '\0';
			rc = fail(&m, "\"paravisor\" images are x64 only");
			goto out;
		}
		if ((rc = do_paravisor(&m, pv, ov, n_ov)))
			goto out;
	}
	*out = m.b;
	m.b = NULL;
out:
	igvm_build_free(m.b);
	json_object_put(root);
	return rc;
}

int manifest_read_relative(void *ctx, const char *path, uint8_t **buf, size_t *len)
{
	const char *dir = ctx;
	char full[PATH_MAX];

	if (path[0] != '/' && dir && *dir) {
		if (snprintf(full, sizeof(full), "%s/%s", dir, path) >= (int)sizeof(full))
			return -ENAMETOOLONG;
		path = full;
	}
	return atomic_file_read(path, (size_t)MANIFEST_MAX_PAYLOAD, buf, len);
}
