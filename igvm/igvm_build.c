/*
 * IGVM builder (see igvm_build.h for the layout rules it reproduces).
 *
 * Headers are kept per section as body bytes plus an optional owned blob. A blob is kept with
 * its trailing zero bytes trimmed and its logical (padded) length, so a 4 GiB zero-padded
 * parameter area costs no memory until the image is written. igvm_build_write() lays out the sections, assigns file
 * offsets with exact-content deduplication (a hash table over the blobs), patches the bodies,
 * computes the checksum and finally runs igvm_parse() over the image.
 */
#include "igvm/igvm_build.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "igvm/igvm.h"
#include "igvm/igvm_format.h"

#define NO_FO UINT32_MAX /* header has no file_offset field */
#define PAGE IGVM_PAGE_SIZE_4K

/* VP context kinds: decide padding and which platform the mask must name. */
enum vp_kind { VP_NONE = 0, VP_SNP, VP_NATIVE, VP_CCA, VP_VBS };

struct bhdr {
	uint32_t type;
	uint32_t len;      /* body length (TLV length field) */
	uint8_t *body;     /* len bytes, owned */
	bool has_blob;     /* header references file data */
	uint8_t *blob;     /* the data without trailing zeros (owned; NULL if all zero) */
	size_t blob_trim;  /* bytes in blob */
	size_t blob_len;   /* logical length in the file (padding included) */
	uint32_t fo_off;   /* offset of the u32 file_offset inside body, or NO_FO */
	enum vp_kind vp;
};

struct bsection {
	struct bhdr *h;
	size_t n, cap;
};

/* Parameter area life cycle, tracked while directives are added (file order = add order). */
enum area_state { AREA_DECLARED = 1, AREA_INSERTED = 2 };
struct barea {
	uint32_t index;
	enum area_state state;
};

struct igvm_builder {
	uint32_t version;
	uint32_t arch;
	struct bsection sec[3]; /* enum igvm_section */
	struct barea *areas;
	size_t n_areas, cap_areas;
	uint64_t section_bytes; /* variable header section so far */
	uint64_t data_bytes;    /* file data so far, before deduplication */
};

/* ---- errors ---- */

static int berr(struct igvm_error *e, int rc, enum igvm_errc code, enum igvm_detail detail,
		int index, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));

static int berr(struct igvm_error *e, int rc, enum igvm_errc code, enum igvm_detail detail,
		int index, const char *field, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	igvm_error_vset(e, code, detail, index, field, fmt, ap);
	va_end(ap);
	return rc;
}

/* Index the next header of section s would have in the file as it stands. */
static int next_index(const struct igvm_builder *b, enum igvm_section s)
{
	size_t i = 0;

	for (int k = 0; k <= (int)s; k++)
		i += b->sec[k].n;
	return i > INT32_MAX ? INT32_MAX : (int)i;
}

/* Invalid-input error for the header about to be added to section s. */
#define BAD(b, e, s, detail, field, ...)                                                    \
	berr((e), -EINVAL, igvm_section_errc(s), (detail), next_index((b), (s)), (field), __VA_ARGS__)

/* ---- helpers ---- */

static bool is_pow2_bit(uint32_t m)
{
	return m && !(m & (m - 1));
}

static bool aligned(uint64_t v, uint64_t a)
{
	return (v % a) == 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/*
 * Append a header: copies the body, takes a padded copy of data (pad_to > len: zero fill;
 * pad_to == 0: as is). data == NULL / len == 0 means no blob.
 */
static int push(struct igvm_builder *b, enum igvm_section s, uint32_t type, const void *body,
		uint32_t body_len, uint32_t fo_off, const void *data, size_t len, size_t pad_to,
		enum vp_kind vp, struct igvm_error *e)
{
	struct bsection *sec = &b->sec[s];
	struct bhdr h = { .type = type, .len = body_len, .fo_off = fo_off, .vp = vp };
	uint64_t tlv = sizeof(struct igvm_vhs_variable_header) + ((body_len + 7u) & ~7u);

	/* Offsets and sizes in the file are u32: refuse early what could never be written. */
	if (b->section_bytes + tlv + IGVM_FIXED_HEADER_V2_SIZE > IGVM_BUILD_MAX_FILE)
		return berr(e, -E2BIG, IGVM_E_VARIABLE_HEADER_SECTION_TOO_LARGE,
			    IGVM_D_INVALID_VALUE, next_index(b, s), NULL,
			    "variable header section would exceed 4 GiB");
	if (sec->n == sec->cap) {
		size_t ncap = sec->cap ? sec->cap * 2 : 16;
		struct bhdr *nh = realloc(sec->h, ncap * sizeof(*nh));

		if (!nh)
			goto nomem;
		sec->h = nh;
		sec->cap = ncap;
	}
	h.body = malloc(body_len);
	if (!h.body)
		goto nomem;
	memcpy(h.body, body, body_len);
	if (len) {
		const uint8_t *d = data;
		size_t n = len;

		while (n && d[n - 1] == 0)
			n--;
		h.has_blob = true;
		h.blob_len = pad_to > len ? pad_to : len;
		h.blob_trim = n;
		if (n) {
			h.blob = malloc(n);
			if (!h.blob) {
				free(h.body);
				goto nomem;
			}
			memcpy(h.blob, d, n);
		}
	}
	sec->h[sec->n++] = h;
	b->section_bytes += tlv;
	b->data_bytes += h.blob_len;
	return 0;
nomem:
	return berr(e, -ENOMEM, IGVM_E_NO_MEMORY, IGVM_D_NONE, next_index(b, s), NULL,
		    "out of memory");
}

static struct barea *find_area(struct igvm_builder *b, uint32_t index)
{
	for (size_t i = 0; i < b->n_areas; i++)
		if (b->areas[i].index == index)
			return &b->areas[i];
	return NULL;
}

/* The parameter area `index` for a header of section s: declared and not yet inserted. */
static int declared_area(struct igvm_builder *b, enum igvm_section s, uint32_t index,
			 struct barea **out, struct igvm_error *e)
{
	struct barea *a = find_area(b, index);

	if (!a || a->state != AREA_DECLARED)
		return berr(e, -EINVAL, IGVM_E_INVALID_PARAMETER_AREA_INDEX, IGVM_D_INVALID_VALUE,
			    next_index(b, s), "parameter_area_index",
			    a ? "parameter area %u was already inserted"
			      : "parameter area %u is not declared",
			    index);
	*out = a;
	return 0;
}

/* ---- life cycle ---- */

int igvm_build_new(uint32_t format_version, uint32_t arch, struct igvm_builder **out)
{
	struct igvm_builder *b;

	*out = NULL;
	if (format_version != IGVM_FORMAT_VERSION_1 && format_version != IGVM_FORMAT_VERSION_2)
		return -EINVAL;
	if (arch != IGVM_ARCH_X64 && arch != IGVM_ARCH_AARCH64)
		return -EINVAL;
	if (format_version == IGVM_FORMAT_VERSION_1 && arch != IGVM_ARCH_X64)
		return -EINVAL; /* v1 files are implicitly x64 (§2.2) */
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->version = format_version;
	b->arch = arch;
	*out = b;
	return 0;
}

void igvm_build_free(struct igvm_builder *b)
{
	if (!b)
		return;
	for (int s = 0; s < 3; s++) {
		for (size_t i = 0; i < b->sec[s].n; i++) {
			free(b->sec[s].h[i].body);
			free(b->sec[s].h[i].blob);
		}
		free(b->sec[s].h);
	}
	free(b->areas);
	free(b);
}

size_t igvm_build_header_count(const struct igvm_builder *b)
{
	return b->sec[0].n + b->sec[1].n + b->sec[2].n;
}

uint64_t igvm_build_size_bound(const struct igvm_builder *b)
{
	uint32_t fixed = b->version == IGVM_FORMAT_VERSION_1 ? IGVM_FIXED_HEADER_V1_SIZE
							     : IGVM_FIXED_HEADER_V2_SIZE;

	return fixed + b->section_bytes + b->data_bytes;
}

/* ---- platform ---- */

static bool platform_allowed(uint32_t arch, uint8_t type)
{
	/* §6.1: x64 allows NATIVE, VSM, SNP, TDX, SEV, SEV_ES; AArch64 VSM and CCA. */
	if (arch == IGVM_ARCH_X64)
		return type <= IGVM_PLATFORM_SEV_ES;
	return type == IGVM_PLATFORM_VSM_ISOLATION || type == IGVM_PLATFORM_CCA;
}

int igvm_build_add_platform(struct igvm_builder *b, const struct igvm_build_platform *p,
			    struct igvm_error *e)
{
	const enum igvm_section S = IGVM_SECTION_PLATFORM;
	struct igvm_vhs_supported_platform body;

	if (!is_pow2_bit(p->compatibility_mask))
		return BAD(b, e, S, IGVM_D_INVALID_COMPATIBILITY_MASK, "compatibility_mask",
			   "a platform owns exactly one mask bit, not %#x", p->compatibility_mask);
	if (p->highest_vtl != 0 && p->highest_vtl != 2)
		return BAD(b, e, S, IGVM_D_INVALID_VTL, "highest_vtl",
			   "highest_vtl must be 0 or 2, not %u", p->highest_vtl);
	if (p->platform_type > IGVM_PLATFORM_TYPE_MAX)
		return BAD(b, e, S, IGVM_D_INVALID_PLATFORM_TYPE, "platform_type",
			   "unknown platform type %u", p->platform_type);
	if (!platform_allowed(b->arch, p->platform_type))
		return berr(e, -EINVAL, IGVM_E_PLATFORM_ARCH_UNSUPPORTED,
			    IGVM_D_INVALID_PLATFORM_TYPE, next_index(b, S), "platform_type",
			    "platform %s is not supported on %s", igvm_platform_name(p->platform_type),
			    b->arch == IGVM_ARCH_X64 ? "x64" : "aarch64");
	if (p->platform_version != IGVM_PLATFORM_VERSION_1)
		return BAD(b, e, S, IGVM_D_INVALID_PLATFORM_VERSION, "platform_version",
			   "platform_version must be 1, not %u", p->platform_version);
	if ((p->platform_type == IGVM_PLATFORM_NATIVE ||
	     p->platform_type == IGVM_PLATFORM_VSM_ISOLATION) &&
	    p->shared_gpa_boundary)
		return BAD(b, e, S, IGVM_D_INVALID_SHARED_GPA_BOUNDARY, "shared_gpa_boundary",
			   "%s platforms have no shared GPA boundary",
			   igvm_platform_name(p->platform_type));
	for (size_t i = 0; i < b->sec[S].n; i++) {
		struct igvm_vhs_supported_platform o;

		memcpy(&o, b->sec[S].h[i].body, sizeof(o));
		if (o.platform_type == p->platform_type)
			return berr(e, -EINVAL, IGVM_E_MULTIPLE_PLATFORM_HEADERS_WITH_SAME_ISOLATION,
				    IGVM_D_DUPLICATE, next_index(b, S), "platform_type",
				    "platform %s already declared by header %zu",
				    igvm_platform_name(p->platform_type), i);
		if (o.compatibility_mask == p->compatibility_mask)
			return BAD(b, e, S, IGVM_D_DUPLICATE, "compatibility_mask",
				   "mask %#x already used by header %zu", p->compatibility_mask, i);
	}
	if (b->sec[S].n >= IGVM_MAX_PLATFORMS)
		return BAD(b, e, S, IGVM_D_INVALID_VALUE, NULL, "more than 32 platforms");
	memset(&body, 0, sizeof(body));
	body.compatibility_mask = p->compatibility_mask;
	body.highest_vtl = p->highest_vtl;
	body.platform_type = p->platform_type;
	body.platform_version = p->platform_version;
	body.shared_gpa_boundary = p->shared_gpa_boundary;
	return push(b, S, IGVM_VHT_SUPPORTED_PLATFORM, &body, sizeof(body), NO_FO, NULL, 0, 0,
		    VP_NONE, e);
}

/* ---- initialization ---- */

#define CHECK_MASK(b, e, s, mask)                                                           \
	do {                                                                                \
		if ((mask) == 0)                                                            \
			return BAD(b, e, s, IGVM_D_INVALID_COMPATIBILITY_MASK,              \
				   "compatibility_mask", "compatibility_mask must not be 0");  \
	} while (0)

/* gpa fields: 4 KiB aligned. */
#define CHECK_GPA(b, e, s, gpa)                                                             \
	do {                                                                                \
		if (!aligned((gpa), PAGE))                                                  \
			return BAD(b, e, s, IGVM_D_UNALIGNED_ADDRESS, "gpa",                \
				   "gpa %#llx is not 4 KiB aligned", (unsigned long long)(gpa)); \
	} while (0)

/* Region sizes: a non-zero number of 4 KiB pages. */
#define CHECK_PAGES(b, e, s, size, field)                                                   \
	do {                                                                                \
		if ((size) == 0 || !aligned((size), PAGE))                                  \
			return BAD(b, e, s, IGVM_D_UNALIGNED_SIZE, (field),                 \
				   "size %#llx is not a non-zero multiple of 4 KiB",        \
				   (unsigned long long)(size));                             \
	} while (0)

int igvm_build_add_guest_policy(struct igvm_builder *b, uint64_t policy, uint32_t mask,
				struct igvm_error *e)
{
	const enum igvm_section S = IGVM_SECTION_INITIALIZATION;
	struct igvm_vhs_guest_policy body = { .policy = policy, .compatibility_mask = mask };

	CHECK_MASK(b, e, S, mask);
	return push(b, S, IGVM_VHT_GUEST_POLICY, &body, sizeof(body), NO_FO, NULL, 0, 0, VP_NONE,
		    e);
}

int igvm_build_add_cca_policy(struct igvm_builder *b, const struct igvm_build_cca_policy *p,
			      struct igvm_error *e)
{
	const enum igvm_section S = IGVM_SECTION_INITIALIZATION;
	struct igvm_vhs_cca_policy body;

	CHECK_MASK(b, e, S, p->compatibility_mask);
	if (b->arch != IGVM_ARCH_AARCH64)
		return berr(e, -EINVAL, IGVM_E_INVALID_HEADER_ARCH, IGVM_D_INVALID_VALUE,
			    next_index(b, S), NULL, "CCA policy needs an aarch64 (v2) file");
	if (p->attributes_required_zeroes & p->attributes_required_ones)
		return BAD(b, e, S, IGVM_D_INVALID_VALUE, "attributes_required_ones",
			   "attribute bits %#llx are required both zero and one",
			   (unsigned long long)(p->attributes_required_zeroes &
						p->attributes_required_ones));
	if (p->hash_algorithm > IGVM_CCA_HASH_SHA384)
		return BAD(b, e, S, IGVM_D_INVALID_VALUE, "hash_algorithm",
			   "unknown hash algorithm %u", p->hash_algorithm);
	if (p->lfa_policy > IGVM_CCA_LFA_ALLOW)
		return BAD(b, e, S, IGVM_D_INVALID_VALUE, "lfa_policy", "unknown lfa_policy %u",
			   p->lfa_policy);
	memset(&body, 0, sizeof(body));
	body.compatibility_mask = p->compatibility_mask;
	body.attributes_required_zeroes = p->attributes_required_zeroes;
	body.attributes_required_ones = p->attributes_required_ones;
	body.hash_algorithm = p->hash_algorithm;
	body.lfa_policy = p->lfa_policy;
	return push(b, S, IGVM_VHT_CCA_POLICY, &body, sizeof(body), NO_FO, NULL, 0, 0, VP_NONE, e);
}

int igvm_build_add_relocatable_region(struct igvm_builder *b,
				      const struct igvm_build_reloc_region *r,
				      struct igvm_error *e)
{
	const enum igvm_section S = IGVM_SECTION_INITIALIZATION;
	struct igvm_vhs_relocatable_region body;
	uint64_t a = r->relocation_alignment;

	CHECK_MASK(b, e, S, r->compatibility_mask);
	if (r->vtl > 2)
		return BAD(b, e, S, IGVM_D_INVALID_VTL, "vtl", "vtl %u > 2", r->vtl);
	if (r->flags & ~IGVM_RELOC_FLAGS_ALL)
		return BAD(b, e, S, IGVM_D_RESERVED_NOT_ZERO, "flags", "reserved flag bits %#x",
			   r->flags & ~IGVM_RELOC_FLAGS_ALL);
	if (a == 0 || !aligned(a, PAGE))
		return BAD(b, e, S, IGVM_D_UNALIGNED_SIZE, "relocation_alignment",
			   "alignment %#llx is not a non-zero multiple of 4 KiB",
			   (unsigned long long)a);
	if (!aligned(r->relocation_region_gpa, a))
		return BAD(b, e, S, IGVM_D_UNALIGNED_ADDRESS, "relocation_region_gpa",
			   "%#llx is not aligned to %#llx",
			   (unsigned long long)r->relocation_region_gpa, (unsigned long long)a);
	CHECK_PAGES(b, e, S, r->relocation_region_size, "relocation_region_size");
	if (r->relocation_region_gpa + r->relocation_region_size < r->relocation_region_gpa)
		return BAD(b, e, S, IGVM_D_ADDRESS_OVERFLOW, "relocation_region_size",
			   "region wraps past 2^64");
	if (!aligned(r->minimum_relocation_gpa, a))
		return BAD(b, e, S, IGVM_D_UNALIGNED_ADDRESS, "minimum_relocation_gpa",
			   "%#llx is not aligned to %#llx",
			   (unsigned long long)r->minimum_relocation_gpa, (unsigned long long)a);
	if (!aligned(r->maximum_relocation_gpa, a))
		return BAD(b, e, S, IGVM_D_UNALIGNED_ADDRESS, "maximum_relocation_gpa",
			   "%#llx is not aligned to %#llx",
			   (unsigned long long)r->maximum_relocation_gpa, (unsigned long long)a);
	if (r->minimum_relocation_gpa > r->maximum_relocation_gpa)
		return BAD(b, e, S, IGVM_D_INVALID_VALUE, "maximum_relocation_gpa",
			   "maximum %#llx is below minimum %#llx",
			   (unsigned long long)r->maximum_relocation_gpa,
			   (unsigned long long)r->minimum_relocation_gpa);
	memset(&body, 0, sizeof(body));
	body.compatibility_mask = r->compatibility_mask;
	body.vp_index = r->vp_index;
	body.vtl = r->vtl;
	body.flags = r->flags;
	body.relocation_alignment = a;
	body.relocation_region_gpa = r->relocation_region_gpa;
	body.relocation_region_size = r->relocation_region_size;
	body.minimum_relocation_gpa = r->minimum_relocation_gpa;
	body.maximum_relocation_gpa = r->maximum_relocation_gpa;
	return push(b, S, IGVM_VHT_RELOCATABLE_REGION, &body, sizeof(body), NO_FO, NULL, 0, 0,
		    VP_NONE, e);
}

int igvm_build_add_page_table_relocation(struct igvm_builder *b,
					 const struct igvm_build_pt_reloc *r,
					 struct igvm_error *e)
{
	const enum igvm_section S = IGVM_SECTION_INITIALIZATION;
	struct igvm_vhs_page_table_relocation body;

	CHECK_MASK(b, e, S, r->compatibility_mask);
	if (r->vtl > 2)
		return BAD(b, e, S, IGVM_D_INVALID_VTL, "vtl", "vtl %u > 2", r->vtl);
	CHECK_GPA(b, e, S, r->gpa);
	CHECK_PAGES(b, e, S, r->size, "size");
	if (!aligned(r->used_size, PAGE))
		return BAD(b, e, S, IGVM_D_UNALIGNED_SIZE, "used_size",
			   "used_size %#llx is not a multiple of 4 KiB",
			   (unsigned long long)r->used_size);
	if (r->used_size > r->size)
		return BAD(b, e, S, IGVM_D_INVALID_VALUE, "used_size",
			   "used_size %#llx exceeds size %#llx", (unsigned long long)r->used_size,
			   (unsigned long long)r->size);
	if (r->gpa + r->size < r->gpa)
		return BAD(b, e, S, IGVM_D_ADDRESS_OVERFLOW, "size", "region wraps past 2^64");
	for (size_t i = 0; i < b->sec[S].n; i++) {
		struct igvm_vhs_page_table_relocation o;

		if (b->sec[S].h[i].type != IGVM_VHT_PAGE_TABLE_RELOCATION_REGION)
			continue;
		memcpy(&o, b->sec[S].h[i].body, sizeof(o));
		if (o.compatibility_mask & r->compatibility_mask)
			return berr(e, -EINVAL, IGVM_E_MULTIPLE_PAGE_TABLE_RELOCATION_HEADERS,
				    IGVM_D_DUPLICATE, next_index(b, S), "compatibility_mask",
				    "mask bits %#x already have a page table region",
				    o.compatibility_mask & r->compatibility_mask);
	}
	memset(&body, 0, sizeof(body));
	body.compatibility_mask = r->compatibility_mask;
	body.vp_index = r->vp_index;
	body.vtl = r->vtl;
	body.gpa = r->gpa;
	body.size = r->size;
	body.used_size = r->used_size;
	return push(b, S, IGVM_VHT_PAGE_TABLE_RELOCATION_REGION, &body, sizeof(body), NO_FO, NULL,
		    0, 0, VP_NONE, e);
}

int igvm_build_add_corim(struct igvm_builder *b, uint32_t type, uint32_t mask, const void *data,
			 size_t len, struct igvm_error *e)
{
	const enum igvm_section S = IGVM_SECTION_INITIALIZATION;
	struct igvm_vhs_corim_data body;

	if (type != IGVM_VHT_CORIM_DOCUMENT && type != IGVM_VHT_CORIM_SIGNATURE)
		return BAD(b, e, S, IGVM_D_INVALID_VARIABLE_HEADER_TYPE, NULL,
			   "%#x is not a CoRIM header type", type);
	CHECK_MASK(b, e, S, mask);
	if (!data || len == 0)
		return BAD(b, e, S, IGVM_D_INVALID_DATA_SIZE, "size_bytes", "CoRIM data is empty");
	if (len > UINT32_MAX)
		return berr(e, -E2BIG, IGVM_E_FILE_DATA_SECTION_TOO_LARGE, IGVM_D_INVALID_DATA_SIZE,
			    next_index(b, S), "size_bytes", "CoRIM data over 4 GiB");
	memset(&body, 0, sizeof(body));
	body.compatibility_mask = mask;
	body.size_bytes = (uint32_t)len;
	return push(b, S, type, &body, sizeof(body),
		    (uint32_t)offsetof(struct igvm_vhs_corim_data, file_offset), data, len, 0,
		    VP_NONE, e);
}

/* ---- directives ---- */

int igvm_build_add_page_data(struct igvm_builder *b, const struct igvm_build_page *pg,
			     const void *data, size_t len, struct igvm_error *e)
{
	const enum igvm_section S = IGVM_SECTION_DIRECTIVE;
	struct igvm_vhs_page_data body;
	uint64_t align = (pg->flags & IGVM_PAGE_FLAG_IS_2MB_PAGE) ? IGVM_PAGE_SIZE_2M : PAGE;

	CHECK_MASK(b, e, S, pg->compatibility_mask);
	if (!aligned(pg->gpa, align))
		return BAD(b, e, S, IGVM_D_UNALIGNED_ADDRESS, "gpa", "gpa %#llx is not %s aligned",
			   (unsigned long long)pg->gpa, align == PAGE ? "4 KiB" : "2 MiB");
	if (pg->flags & ~IGVM_PAGE_FLAGS_ALL)
		return BAD(b, e, S, IGVM_D_RESERVED_NOT_ZERO, "flags", "reserved flag bits %#x",
			   pg->flags & ~IGVM_PAGE_FLAGS_ALL);
	if (pg->data_type > IGVM_PAGE_DATA_TYPE_MAX)
		return BAD(b, e, S, IGVM_D_INVALID_PAGE_DATA_TYPE, "data_type",
			   "unknown page data type %u", pg->data_type);
	if (len > align)
		return BAD(b, e, S, IGVM_D_INVALID_DATA_SIZE, "file_offset",
			   "page data is %zu bytes, at most %s", len,
			   align == PAGE ? "4096 (2 MiB with the 2mb flag)" : "2 MiB (0x200000)");
	if (len && !data)
		return BAD(b, e, S, IGVM_D_INVALID_DATA_SIZE, "file_offset", "no data buffer");
	memset(&body, 0, sizeof(body));
	body.gpa = pg->gpa;
	body.compatibility_mask = pg->compatibility_mask;
	body.flags = pg->flags;
	body.data_type = pg->data_type;
	return push(b, S, IGVM_VHT_PAGE_DATA, &body, sizeof(body),
		    (uint32_t)offsetof(struct igvm_vhs_page_data, file_offset), data, len,
		    (size_t)align, VP_NONE, e);
}

int igvm_build_add_parameter_area(struct igvm_builder *b, uint32_t index,
				  uint64_t number_of_bytes, const void *initial, size_t len,
				  struct igvm_error *e)
{
	const enum igvm_section S = IGVM_SECTION_DIRECTIVE;
	struct igvm_vhs_parameter_area body;
	int rc;

	if (find_area(b, index))
		return berr(e, -EINVAL, IGVM_E_INVALID_PARAMETER_AREA_INDEX, IGVM_D_DUPLICATE,
			    next_index(b, S), "parameter_area_index",
			    "parameter area %u is already declared", index);
	CHECK_PAGES(b, e, S, number_of_bytes, "number_of_bytes");
	if (len > number_of_bytes)
		return BAD(b, e, S, IGVM_D_INVALID_DATA_SIZE, "file_offset",
			   "initial data (%zu bytes) is larger than the area", len);
	if (len && number_of_bytes > UINT32_MAX)
		return berr(e, -E2BIG, IGVM_E_FILE_DATA_SECTION_TOO_LARGE, IGVM_D_INVALID_DATA_SIZE,
			    next_index(b, S), "number_of_bytes", "initial data over 4 GiB");
	if (len && !initial)
		return BAD(b, e, S, IGVM_D_INVALID_DATA_SIZE, "file_offset", "no data buffer");
	if (b->n_areas == b->cap_areas) {
		size_t ncap = b->cap_areas ? b->cap_areas * 2 : 8;
		struct barea *na = realloc(b->areas, ncap * sizeof(*na));

		if (!na)
			return berr(e, -ENOMEM, IGVM_E_NO_MEMORY, IGVM_D_NONE, next_index(b, S),
				    NULL, "out of memory");
		b->areas = na;
		b->cap_areas = ncap;
	}
	memset(&body, 0, sizeof(body));
	body.number_of_bytes = number_of_bytes;
	body.parameter_area_index = index;
	rc = push(b, S, IGVM_VHT_PARAMETER_AREA, &body, sizeof(body),
		  (uint32_t)offsetof(struct igvm_vhs_parameter_area, file_offset), initial, len,
		  (size_t)number_of_bytes, VP_NONE, e);
	if (rc == 0)
		b->areas[b->n_areas++] = (struct barea){ .index = index, .state = AREA_DECLARED };
	return rc;
}

int igvm_build_add_parameter(struct igvm_builder *b, enum igvm_build_param type, uint32_t index,
			     uint32_t byte_offset, struct igvm_error *e)
{
	const enum igvm_section S = IGVM_SECTION_DIRECTIVE;
	struct igvm_vhs_parameter body = { .parameter_area_index = index,
					   .byte_offset = byte_offset };
	struct barea *a;
	int rc;

	switch (type) {
	case IGVM_BUILD_PARAM_VP_COUNT:
	case IGVM_BUILD_PARAM_SRAT:
	case IGVM_BUILD_PARAM_MADT:
	case IGVM_BUILD_PARAM_MMIO_RANGES:
	case IGVM_BUILD_PARAM_MEMORY_MAP:
	case IGVM_BUILD_PARAM_COMMAND_LINE:
	case IGVM_BUILD_PARAM_SLIT:
	case IGVM_BUILD_PARAM_PPTT:
	case IGVM_BUILD_PARAM_DEVICE_TREE:
	case IGVM_BUILD_PARAM_ENVIRONMENT_INFO:
		break;
	default:
		return BAD(b, e, S, IGVM_D_INVALID_VARIABLE_HEADER_TYPE, NULL,
			   "%#x is not a parameter header type", (unsigned)type);
	}
	rc = declared_area(b, S, index, &a, e);
	if (rc)
		return rc;
	return push(b, S, (uint32_t)type, &body, sizeof(body), NO_FO, NULL, 0, 0, VP_NONE, e);
}

int igvm_build_add_parameter_insert(struct igvm_builder *b, uint64_t gpa, uint32_t mask,
				    uint32_t index, struct igvm_error *e)
{
	const enum igvm_section S = IGVM_SECTION_DIRECTIVE;
	struct igvm_vhs_parameter_insert body = { .gpa = gpa, .compatibility_mask = mask,
						  .parameter_area_index = index };
	struct barea *a;
	int rc;

	CHECK_MASK(b, e, S, mask);
	CHECK_GPA(b, e, S, gpa);
	rc = declared_area(b, S, index, &a, e);
	if (rc)
		return rc;
	rc = push(b, S, IGVM_VHT_PARAMETER_INSERT, &body, sizeof(body), NO_FO, NULL, 0, 0,
		  VP_NONE, e);
	if (rc == 0)
		a->state = AREA_INSERTED;
	return rc;
}

int igvm_build_add_required_memory(struct igvm_builder *b, uint64_t gpa, uint32_t mask,
				   uint32_t number_of_bytes, uint32_t flags,
				   struct igvm_error *e)
{
	const enum igvm_section S = IGVM_SECTION_DIRECTIVE;
	struct igvm_vhs_required_memory body;

	CHECK_MASK(b, e, S, mask);
	CHECK_GPA(b, e, S, gpa);
	CHECK_PAGES(b, e, S, number_of_bytes, "number_of_bytes");
	if (flags & ~IGVM_REQUIRED_MEMORY_FLAGS_ALL)
		return BAD(b, e, S, IGVM_D_RESERVED_NOT_ZERO, "flags", "reserved flag bits %#x",
			   flags & ~IGVM_REQUIRED_MEMORY_FLAGS_ALL);
	if (gpa + number_of_bytes < gpa)
		return BAD(b, e, S, IGVM_D_ADDRESS_OVERFLOW, "number_of_bytes",
			   "range wraps past 2^64");
	memset(&body, 0, sizeof(body));
	body.gpa = gpa;
	body.compatibility_mask = mask;
	body.number_of_bytes = number_of_bytes;
	body.flags = flags;
	return push(b, S, IGVM_VHT_REQUIRED_MEMORY, &body, sizeof(body), NO_FO, NULL, 0, 0, VP_NONE,
		    e);
}

int igvm_build_add_error_range(struct igvm_builder *b, uint64_t gpa, uint32_t mask,
			       uint32_t size_bytes, struct igvm_error *e)
{
	const enum igvm_section S = IGVM_SECTION_DIRECTIVE;
	struct igvm_vhs_error_range body = { .gpa = gpa, .compatibility_mask = mask,
					     .size_bytes = size_bytes };

	CHECK_MASK(b, e, S, mask);
	CHECK_GPA(b, e, S, gpa);
	CHECK_PAGES(b, e, S, size_bytes, "size_bytes");
	if (gpa + size_bytes < gpa)
		return BAD(b, e, S, IGVM_D_ADDRESS_OVERFLOW, "size_bytes", "range wraps past 2^64");
	return push(b, S, IGVM_VHT_ERROR_RANGE, &body, sizeof(body), NO_FO, NULL, 0, 0, VP_NONE, e);
}

/* VP context with a 4 KiB block of file data; struct_len bytes may be non-zero. */
static int add_vp_page(struct igvm_builder *b, enum vp_kind kind, uint64_t gpa, uint32_t mask,
		       uint16_t vp_index, const void *data, size_t len, size_t struct_len,
		       struct igvm_error *e)
{
	const enum igvm_section S = IGVM_SECTION_DIRECTIVE;
	struct igvm_vhs_vp_context body;
	uint32_t want_arch = kind == VP_CCA ? IGVM_ARCH_AARCH64 : IGVM_ARCH_X64;

	CHECK_MASK(b, e, S, mask);
	if (b->arch != want_arch)
		return berr(e, -EINVAL, IGVM_E_INVALID_HEADER_ARCH, IGVM_D_INVALID_VALUE,
			    next_index(b, S), NULL, "this VP context kind needs an %s file",
			    want_arch == IGVM_ARCH_X64 ? "x64" : "aarch64");
	CHECK_GPA(b, e, S, gpa);
	if (!data || len == 0 || len > PAGE)
		return BAD(b, e, S, IGVM_D_INVALID_DATA_SIZE, "file_offset",
			   "context data must be 1..4096 bytes, not %zu", len);
	if (len > struct_len && !all_zero((const uint8_t *)data + struct_len, len - struct_len))
		return BAD(b, e, S, IGVM_D_RESERVED_NOT_ZERO, "file_offset",
			   "bytes after the %zu-byte context must be zero", struct_len);
	memset(&body, 0, sizeof(body));
	body.gpa = gpa;
	body.compatibility_mask = mask;
	body.vp_index = vp_index;
	return push(b, S, IGVM_VHT_VP_CONTEXT, &body, sizeof(body),
		    (uint32_t)offsetof(struct igvm_vhs_vp_context, file_offset), data, len, PAGE,
		    kind, e);
}

int igvm_build_add_vp_snp(struct igvm_builder *b, uint64_t gpa, uint32_t mask, uint16_t vp_index,
			  const void *vmsa, size_t len, struct igvm_error *e)
{
	return add_vp_page(b, VP_SNP, gpa, mask, vp_index, vmsa, len, PAGE, e);
}

int igvm_build_add_vp_native_x64(struct igvm_builder *b, uint32_t mask, uint16_t vp_index,
				 const void *ctx, size_t len, struct igvm_error *e)
{
	return add_vp_page(b, VP_NATIVE, 0, mask, vp_index, ctx, len,
			   sizeof(struct igvm_native_vp_context_x64), e);
}

int igvm_build_add_vp_cca(struct igvm_builder *b, uint32_t mask, uint16_t vp_index,
			  const void *ctx, size_t len, struct igvm_error *e)
{
	return add_vp_page(b, VP_CCA, 0, mask, vp_index, ctx, len,
			   sizeof(struct igvm_vp_context_aarch64_cca), e);
}

int igvm_build_add_vp_vbs(struct igvm_builder *b, uint32_t mask, uint16_t vp_index, uint8_t vtl,
			  const struct igvm_build_vbs_reg *regs, size_t n, struct igvm_error *e)
{
	const enum igvm_section S = IGVM_SECTION_DIRECTIVE;
	struct igvm_vhs_vp_context body;
	struct igvm_vbs_vp_context_header hdr;
	uint8_t *blob;
	size_t blen;
	int rc;

	CHECK_MASK(b, e, S, mask);
	if (vtl > 2)
		return BAD(b, e, S, IGVM_D_INVALID_VTL, "vtl", "vtl %u > 2", vtl);
	if (n == 0 || !regs)
		return BAD(b, e, S, IGVM_D_INVALID_VALUE, "file_offset",
			   "a VBS VP context needs at least one register");
	if (n > (UINT32_MAX - sizeof(hdr)) / sizeof(struct igvm_vbs_vp_context_register))
		return berr(e, -E2BIG, IGVM_E_FILE_DATA_SECTION_TOO_LARGE, IGVM_D_INVALID_DATA_SIZE,
			    next_index(b, S), "file_offset", "too many registers");
	blen = sizeof(hdr) + n * sizeof(struct igvm_vbs_vp_context_register);
	blob = calloc(1, blen);
	if (!blob)
		return berr(e, -ENOMEM, IGVM_E_NO_MEMORY, IGVM_D_NONE, next_index(b, S), NULL,
			    "out of memory");
	hdr.register_count = (uint32_t)n;
	memcpy(blob, &hdr, sizeof(hdr));
	for (size_t i = 0; i < n; i++) {
		struct igvm_vbs_vp_context_register r;

		memset(&r, 0, sizeof(r));
		r.vtl = vtl;
		r.register_name = regs[i].name;
		memcpy(r.register_value, regs[i].value, sizeof(r.register_value));
		memcpy(blob + sizeof(hdr) + i * sizeof(r), &r, sizeof(r));
	}
	memset(&body, 0, sizeof(body));
	body.compatibility_mask = mask;
	body.vp_index = vp_index;
	rc = push(b, S, IGVM_VHT_VP_CONTEXT, &body, sizeof(body),
		  (uint32_t)offsetof(struct igvm_vhs_vp_context, file_offset), blob, blen, 0, VP_VBS,
		  e);
	free(blob);
	return rc;
}

int igvm_build_add_snp_id_block(struct igvm_builder *b, const struct igvm_build_snp_id_block *id,
				struct igvm_error *e)
{
	const enum igvm_section S = IGVM_SECTION_DIRECTIVE;
	struct igvm_vhs_snp_id_block body;

	CHECK_MASK(b, e, S, id->compatibility_mask);
	if (id->author_key_enabled > 1)
		return BAD(b, e, S, IGVM_D_INVALID_VALUE, "author_key_enabled",
			   "author_key_enabled must be 0 or 1, not %u", id->author_key_enabled);
	memset(&body, 0, sizeof(body));
	body.compatibility_mask = id->compatibility_mask;
	body.author_key_enabled = id->author_key_enabled;
	memcpy(body.reserved, id->reserved, sizeof(body.reserved));
	memcpy(body.ld, id->ld, sizeof(body.ld));
	memcpy(body.family_id, id->family_id, sizeof(body.family_id));
	memcpy(body.image_id, id->image_id, sizeof(body.image_id));
	body.version = id->version;
	body.guest_svn = id->guest_svn;
	body.id_key_algorithm = id->id_key_algorithm;
	body.author_key_algorithm = id->author_key_algorithm;
	_Static_assert(sizeof(id->id_key_signature) == sizeof(body.id_key_signature), "§6.14");
	_Static_assert(sizeof(id->id_public_key) == sizeof(body.id_public_key), "§6.14");
	memcpy(&body.id_key_signature, id->id_key_signature, sizeof(body.id_key_signature));
	memcpy(&body.id_public_key, id->id_public_key, sizeof(body.id_public_key));
	memcpy(&body.author_key_signature, id->author_key_signature,
	       sizeof(body.author_key_signature));
	memcpy(&body.author_public_key, id->author_public_key, sizeof(body.author_public_key));
	return push(b, S, IGVM_VHT_SNP_ID_BLOCK, &body, sizeof(body), NO_FO, NULL, 0, 0, VP_NONE,
		    e);
}

int igvm_build_add_vbs_measurement(struct igvm_builder *b,
				   const struct igvm_build_vbs_measurement *m,
				   struct igvm_error *e)
{
	const enum igvm_section S = IGVM_SECTION_DIRECTIVE;
	struct igvm_vhs_vbs_measurement body;

	CHECK_MASK(b, e, S, m->compatibility_mask);
	memset(&body, 0, sizeof(body));
	body.compatibility_mask = m->compatibility_mask;
	body.version = m->version;
	body.product_id = m->product_id;
	body.module_id = m->module_id;
	body.security_version = m->security_version;
	body.policy_flags = m->policy_flags;
	body.boot_digest_algo = m->boot_digest_algo;
	body.signing_algo = m->signing_algo;
	memcpy(body.boot_measurement_digest, m->boot_measurement_digest,
	       sizeof(body.boot_measurement_digest));
	memcpy(body.signature, m->signature, sizeof(body.signature));
	memcpy(body.public_key, m->public_key, sizeof(body.public_key));
	return push(b, S, IGVM_VHT_VBS_MEASUREMENT, &body, sizeof(body), NO_FO, NULL, 0, 0,
		    VP_NONE, e);
}

/* ---- write ---- */

/* Platform type owning exactly `mask`, or -1. */
static int platform_of_mask(const struct igvm_builder *b, uint32_t mask)
{
	const struct bsection *p = &b->sec[IGVM_SECTION_PLATFORM];

	for (size_t i = 0; i < p->n; i++) {
		struct igvm_vhs_supported_platform o;

		memcpy(&o, p->h[i].body, sizeof(o));
		if (o.compatibility_mask == mask)
			return o.platform_type;
	}
	return -1;
}

static uint32_t platforms_of_type(const struct igvm_builder *b, uint8_t type)
{
	const struct bsection *p = &b->sec[IGVM_SECTION_PLATFORM];
	uint32_t m = 0;

	for (size_t i = 0; i < p->n; i++) {
		struct igvm_vhs_supported_platform o;

		memcpy(&o, p->h[i].body, sizeof(o));
		if (o.platform_type == type)
			m |= o.compatibility_mask;
	}
	return m;
}

/* Rules that need the whole file; index is the header's position in the output. */
static int check_cross(const struct igvm_builder *b, struct igvm_error *e)
{
	const struct bsection *in = &b->sec[IGVM_SECTION_INITIALIZATION];
	const struct bsection *d = &b->sec[IGVM_SECTION_DIRECTIVE];
	size_t base_in = b->sec[0].n, base_d = b->sec[0].n + in->n;

	if (b->sec[IGVM_SECTION_PLATFORM].n == 0)
		return berr(e, -EINVAL, IGVM_E_NO_PLATFORM_HEADERS, IGVM_D_NONE, -1, NULL,
			    "the file needs at least one platform header");
	for (size_t i = 0; i < in->n; i++) {
		struct igvm_vhs_cca_policy cp;
		uint32_t cca;

		if (in->h[i].type != IGVM_VHT_CCA_POLICY)
			continue;
		memcpy(&cp, in->h[i].body, sizeof(cp));
		cca = platforms_of_type(b, IGVM_PLATFORM_CCA);
		if (cp.compatibility_mask & ~cca)
			return berr(e, -EINVAL, IGVM_E_INVALID_CCA_POLICY_COMPATIBILITY_MASK,
				    IGVM_D_INVALID_COMPATIBILITY_MASK, (int)(base_in + i),
				    "compatibility_mask",
				    "mask bits %#x are not CCA platforms",
				    cp.compatibility_mask & ~cca);
	}
	for (size_t i = 0; i < d->n; i++) {
		const struct bhdr *h = &d->h[i];
		struct igvm_vhs_vp_context vc;
		int pt;
		bool ok;

		if (h->type != IGVM_VHT_VP_CONTEXT)
			continue;
		memcpy(&vc, h->body, sizeof(vc));
		pt = platform_of_mask(b, vc.compatibility_mask);
		switch (h->vp) {
		case VP_SNP:
			ok = pt == IGVM_PLATFORM_SEV_SNP || pt == IGVM_PLATFORM_SEV_ES;
			break;
		case VP_NATIVE:
			ok = pt == IGVM_PLATFORM_NATIVE || pt == IGVM_PLATFORM_SEV;
			break;
		case VP_CCA:
			ok = pt == IGVM_PLATFORM_CCA;
			break;
		case VP_VBS:
			ok = pt == IGVM_PLATFORM_VSM_ISOLATION;
			break;
		case VP_NONE:
		default:
			ok = false;
			break;
		}
		if (!ok)
			return berr(e, -EINVAL, IGVM_E_INVALID_BINARY_DIRECTIVE_HEADER,
				    IGVM_D_INVALID_VP_CONTEXT_PLATFORM_TYPE, (int)(base_d + i),
				    "compatibility_mask",
				    pt < 0 ? "mask %#x is not exactly one platform's mask"
					   : "mask %#x names a platform of another kind",
				    vc.compatibility_mask);
		for (size_t j = 0; j < i; j++) {
			struct igvm_vhs_vp_context o;

			if (d->h[j].type != IGVM_VHT_VP_CONTEXT)
				continue;
			memcpy(&o, d->h[j].body, sizeof(o));
			if (o.compatibility_mask == vc.compatibility_mask &&
			    o.vp_index == vc.vp_index)
				return berr(e, -EINVAL, IGVM_E_INVALID_BINARY_DIRECTIVE_HEADER,
					    IGVM_D_DUPLICATE, (int)(base_d + i), "vp_index",
					    "VP %u of mask %#x already has a context (header %zu)",
					    vc.vp_index, vc.compatibility_mask, base_d + j);
		}
	}
	return 0;
}

/* Exact-content dedup table: open addressing over blob hashes. */
struct dedup {
	uint64_t *hash;
	const struct bhdr **h; /* first header holding this content */
	uint32_t *off;
	size_t cap;
};

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* Returns the offset of identical content seen before, or inserts `off` and returns it. */
static uint32_t dedup_get(struct dedup *t, const struct bhdr *h, uint32_t off)
{
	/* Same padded bytes <=> same logical length and same bytes before the zero tail. */
	uint64_t hv = fnv1a(h->blob, h->blob_trim) ^ ((uint64_t)h->blob_len * 0x9e3779b97f4a7c15ull);
	size_t i = (size_t)hv & (t->cap - 1);

	while (t->h[i]) {
		if (t->hash[i] == hv && t->h[i]->blob_len == h->blob_len &&
		    t->h[i]->blob_trim == h->blob_trim &&
		    (h->blob_trim == 0 || memcmp(t->h[i]->blob, h->blob, h->blob_trim) == 0))
			return t->off[i];
		i = (i + 1) & (t->cap - 1);
	}
	t->hash[i] = hv;
	t->h[i] = h;
	t->off[i] = off;
	return off;
}

int igvm_build_write(const struct igvm_builder *b, uint8_t **buf, size_t *len,
		     struct igvm_error *e)
{
	uint32_t fixed = b->version == IGVM_FORMAT_VERSION_1 ? IGVM_FIXED_HEADER_V1_SIZE
							     : IGVM_FIXED_HEADER_V2_SIZE;
	uint64_t section = 0, data = 0, total;
	size_t nblobs = 0;
	struct dedup t = { 0 };
	struct igvm_file *parsed = NULL;
	struct igvm_error perr;
	uint8_t *out = NULL;
	uint64_t pos;
	int rc;

	*buf = NULL;
	*len = 0;
	rc = check_cross(b, e);
	if (rc)
		return rc;
	for (int s = 0; s < 3; s++) {
		for (size_t i = 0; i < b->sec[s].n; i++) {
			section += sizeof(struct igvm_vhs_variable_header) +
				   ((b->sec[s].h[i].len + 7u) & ~7u);
			if (b->sec[s].h[i].has_blob)
				nblobs++;
		}
	}
	/* Dedup first to know the data size (upper bound: all blobs distinct). */
	t.cap = 16;
	while (t.cap < nblobs * 2)
		t.cap *= 2;
	t.hash = calloc(t.cap, sizeof(*t.hash));
	t.h = calloc(t.cap, sizeof(*t.h));
	t.off = calloc(t.cap, sizeof(*t.off));
	if (!t.hash || !t.h || !t.off) {
		rc = berr(e, -ENOMEM, IGVM_E_NO_MEMORY, IGVM_D_NONE, -1, NULL, "out of memory");
		goto out;
	}
	/* First pass: sizes. Offsets are relative to the data start until it is known. */
	for (int s = 1; s < 3; s++) {
		for (size_t i = 0; i < b->sec[s].n; i++) {
			const struct bhdr *h = &b->sec[s].h[i];

			if (!h->has_blob)
				continue;
			if (data + fixed + section > IGVM_BUILD_MAX_FILE) {
				rc = berr(e, -E2BIG, IGVM_E_TOTAL_FILE_SIZE_TOO_LARGE,
					  IGVM_D_INVALID_DATA_SIZE, -1, NULL,
					  "file would exceed 4 GiB");
				goto out;
			}
			if (dedup_get(&t, h, (uint32_t)data) == (uint32_t)data)
				data += h->blob_len;
		}
	}
	total = fixed + section + data;
	if (total > IGVM_BUILD_MAX_FILE || section > UINT32_MAX) {
		rc = berr(e, -E2BIG, IGVM_E_TOTAL_FILE_SIZE_TOO_LARGE, IGVM_D_INVALID_DATA_SIZE, -1,
			  NULL, "file would be %llu bytes (limit 4 GiB)", (unsigned long long)total);
		goto out;
	}
	out = calloc(1, (size_t)total ? (size_t)total : 1);
	if (!out) {
		rc = berr(e, -ENOMEM, IGVM_E_NO_MEMORY, IGVM_D_NONE, -1, NULL, "out of memory");
		goto out;
	}
	/* Second pass: emit headers, patching file offsets; copy each distinct blob once. */
	pos = fixed;
	for (int s = 0; s < 3; s++) {
		for (size_t i = 0; i < b->sec[s].n; i++) {
			const struct bhdr *h = &b->sec[s].h[i];
			struct igvm_vhs_variable_header tlv = { .typ = h->type, .length = h->len };

			memcpy(out + pos, &tlv, sizeof(tlv));
			memcpy(out + pos + sizeof(tlv), h->body, h->len);
			if (h->has_blob) {
				uint32_t rel = dedup_get(&t, h, UINT32_MAX);
				uint32_t fo = (uint32_t)(fixed + section) + rel;

				memcpy(out + pos + sizeof(tlv) + h->fo_off, &fo, sizeof(fo));
				if (h->blob_trim) /* the zero tail is already there */
					memcpy(out + fixed + section + rel, h->blob, h->blob_trim);
			}
			pos += sizeof(tlv) + ((h->len + 7u) & ~7u);
		}
	}
	{
		struct igvm_fixed_header_v2 fh;
		uint32_t crc;

		memset(&fh, 0, sizeof(fh));
		fh.magic = IGVM_MAGIC;
		fh.format_version = b->version;
		fh.variable_header_offset = fixed;
		fh.variable_header_size = (uint32_t)section;
		fh.total_file_size = (uint32_t)total;
		fh.architecture = b->arch;
		fh.page_size = PAGE;
		memcpy(out, &fh, fixed);
		rc = igvm_compute_checksum(out, (size_t)total, &crc);
		if (rc) {
			rc = berr(e, -EINVAL, IGVM_E_INVALID_FIXED_HEADER, IGVM_D_NONE, -1,
				  "checksum", "cannot compute checksum");
			goto out;
		}
		memcpy(out + IGVM_FIXED_HEADER_CHECKSUM_OFFSET, &crc, sizeof(crc));
	}
	/* Everything we hand out must load: run the validator over the image. */
	memset(&perr, 0, sizeof(perr));
	rc = igvm_parse(out, (size_t)total, NULL, &parsed, &perr);
	if (rc != IGVM_OK) {
		if (e)
			*e = perr;
		rc = -EINVAL;
		goto out;
	}
	igvm_free(parsed);
	*buf = out;
	*len = (size_t)total;
	out = NULL;
	rc = 0;
out:
	free(out);
	free(t.hash);
	free(t.h);
	free(t.off);
	return rc;
}
