/*
 * IGVM parser and validator (igvm-facts §2-§9). Bytes are untrusted: every offset and size
 * is checked in 64-bit arithmetic before use, bodies are memcpy'd (no unaligned casts), and
 * all bookkeeping is O(n) or O(32 n) so a hostile file cannot make validation quadratic.
 */
#include "igvm/igvm.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "igvm/igvm_crc.h"

#define PAGE 4096ull

/* ---- small open-addressing hash map u64 -> u64 ------------------------------------------ */
struct hmap {
	uint64_t *keys;
	uint64_t *vals;
	uint8_t *used;
	size_t cap;   /* power of two or 0 */
	size_t n;
};

static size_t hmap_slot(const struct hmap *m, uint64_t key)
{
	return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 17) & (m->cap - 1);
}

static uint64_t *hmap_get(const struct hmap *m, uint64_t key)
{
	if (!m->cap)
		return NULL;
	for (size_t i = hmap_slot(m, key);; i = (i + 1) & (m->cap - 1)) {
		if (!m->used[i])
			return NULL;
		if (m->keys[i] == key)
			return &m->vals[i];
	}
}

static int hmap_grow(struct hmap *m)
{
	struct hmap nm = { .cap = m->cap ? m->cap * 2 : 64 };

	nm.keys = malloc(nm.cap * sizeof(*nm.keys));
	nm.vals = malloc(nm.cap * sizeof(*nm.vals));
	nm.used = calloc(nm.cap, 1);
	if (!nm.keys || !nm.vals || !nm.used) {
		free(nm.keys);
		free(nm.vals);
		free(nm.used);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->used[i])
			continue;
		size_t j = hmap_slot(&nm, m->keys[i]);
		while (nm.used[j])
			j = (j + 1) & (nm.cap - 1);
		nm.used[j] = 1;
		nm.keys[j] = m->keys[i];
		nm.vals[j] = m->vals[i];
	}
	nm.n = m->n;
	free(m->keys);
	free(m->vals);
	free(m->used);
	*m = nm;
	return 0;
}

/* Insert a new key (caller checked absence). */
static int hmap_put(struct hmap *m, uint64_t key, uint64_t val)
{
	if ((m->n + 1) * 2 > m->cap) {
		int rc = hmap_grow(m);
		if (rc)
			return rc;
	}
	size_t i = hmap_slot(m, key);
	while (m->used[i])
		i = (i + 1) & (m->cap - 1);
	m->used[i] = 1;
	m->keys[i] = key;
	m->vals[i] = val;
	m->n++;
	return 0;
}

static void hmap_free(struct hmap *m)
{
	free(m->keys);
	free(m->vals);
	free(m->used);
	memset(m, 0, sizeof(*m));
}

/* ---- parse context ---------------------------------------------------------------------- */

/* Region of a relocation header, for the overlap and VP-context checks. */
struct region {
	uint64_t start, end;   /* [start, end) */
	uint32_t mask;
	uint32_t header_index;
	uint16_t vp_index;
	uint8_t vtl;
	uint8_t is_pt;         /* page-table relocation (0x103) vs relocatable region (0x102) */
};

/* Parameter area state, stored as hmap value: bit 63 = inserted, low bits = size. */
#define AREA_INSERTED (1ull << 63)

struct pctx {
	const uint8_t *buf;
	size_t len;
	struct igvm_file *f;
	struct igvm_error *err;
	unsigned flags;
	uint64_t fds;                  /* file data start */
	uint32_t known_mask;           /* OR of all platform masks */
	struct hmap areas;             /* parameter_area_index -> state */
	struct hmap vps;               /* (bit, vp_index, vtl) -> platform type (VP contexts) */
	struct region *regions;
	size_t n_regions, cap_regions;
	uint32_t pt_bits;              /* mask bits owning a page-table relocation region */
	uint32_t policy_bits;          /* mask bits owning a guest policy */
	uint32_t corim_doc_bits, corim_sig_bits;
	struct region pt[IGVM_MAX_PLATFORMS];   /* page-table regions, for insert checks */
	size_t n_pt;
	struct region *imports;        /* guest pages imported by directives (overlap check) */
	size_t n_imports, cap_imports;
	uint32_t import_bits;
	uint64_t synthetic_bytes;      /* sum of parameter area and error range sizes */
};

__attribute__((format(printf, 6, 7)))
static int fail(struct pctx *c, enum igvm_errc code, enum igvm_detail detail, int idx,
		const char *field, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	igvm_error_vset(c->err, code, detail, idx, field, fmt, ap);
	va_end(ap);
	return code;
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static int popcount32(uint32_t v)
{
	return __builtin_popcount(v);
}

/* ---- type table (§4.3) ------------------------------------------------------------------ */
struct type_info {
	uint32_t type;
	uint32_t size;
	const char *name;
};

static const struct type_info type_table[] = {
	{ IGVM_VHT_SUPPORTED_PLATFORM, 16, "SUPPORTED_PLATFORM" },
	{ IGVM_VHT_GUEST_POLICY, 16, "GUEST_POLICY" },
	{ IGVM_VHT_RELOCATABLE_REGION, 48, "RELOCATABLE_REGION" },
	{ IGVM_VHT_PAGE_TABLE_RELOCATION_REGION, 32, "PAGE_TABLE_RELOCATION_REGION" },
	{ IGVM_VHT_CORIM_DOCUMENT, 16, "CORIM_DOCUMENT" },
	{ IGVM_VHT_CORIM_SIGNATURE, 16, "CORIM_SIGNATURE" },
	{ IGVM_VHT_CCA_POLICY, 32, "CCA_POLICY" },
	{ IGVM_VHT_PARAMETER_AREA, 16, "PARAMETER_AREA" },
	{ IGVM_VHT_PAGE_DATA, 24, "PAGE_DATA" },
	{ IGVM_VHT_PARAMETER_INSERT, 16, "PARAMETER_INSERT" },
	{ IGVM_VHT_VP_CONTEXT, 20, "VP_CONTEXT" },
	{ IGVM_VHT_REQUIRED_MEMORY, 24, "REQUIRED_MEMORY" },
	{ IGVM_VHT_VP_COUNT_PARAMETER, 8, "VP_COUNT_PARAMETER" },
	{ IGVM_VHT_SRAT, 8, "SRAT" },
	{ IGVM_VHT_MADT, 8, "MADT" },
	{ IGVM_VHT_MMIO_RANGES, 8, "MMIO_RANGES" },
	{ IGVM_VHT_SNP_ID_BLOCK, 696, "SNP_ID_BLOCK" },
	{ IGVM_VHT_MEMORY_MAP, 8, "MEMORY_MAP" },
	{ IGVM_VHT_ERROR_RANGE, 16, "ERROR_RANGE" },
	{ IGVM_VHT_COMMAND_LINE, 8, "COMMAND_LINE" },
	{ IGVM_VHT_SLIT, 8, "SLIT" },
	{ IGVM_VHT_PPTT, 8, "PPTT" },
	{ IGVM_VHT_VBS_MEASUREMENT, 864, "VBS_MEASUREMENT" },
	{ IGVM_VHT_DEVICE_TREE, 8, "DEVICE_TREE" },
	{ IGVM_VHT_ENVIRONMENT_INFO_PARAMETER, 8, "ENVIRONMENT_INFO_PARAMETER" },
};

static const struct type_info *type_lookup(uint32_t type)
{
	for (size_t i = 0; i < sizeof(type_table) / sizeof(type_table[0]); i++)
		if (type_table[i].type == type)
			return &type_table[i];
	return NULL;
}

const char *igvm_header_type_name(uint32_t type)
{
	const struct type_info *ti = type_lookup(type);
	return ti ? ti->name : NULL;
}

static const char *const platform_names[] = {
	[IGVM_PLATFORM_NATIVE] = "NATIVE",
	[IGVM_PLATFORM_VSM_ISOLATION] = "VSM_ISOLATION",
	[IGVM_PLATFORM_SEV_SNP] = "SEV_SNP",
	[IGVM_PLATFORM_TDX] = "TDX",
	[IGVM_PLATFORM_SEV] = "SEV",
	[IGVM_PLATFORM_SEV_ES] = "SEV_ES",
	[IGVM_PLATFORM_CCA] = "CCA",
};

const char *igvm_platform_name(unsigned platform_type)
{
	return platform_type <= IGVM_PLATFORM_TYPE_MAX ? platform_names[platform_type] : NULL;
}

bool igvm_is_parameter_type(uint32_t t)
{
	switch (t) {
	case IGVM_VHT_VP_COUNT_PARAMETER:
	case IGVM_VHT_SRAT:
	case IGVM_VHT_MADT:
	case IGVM_VHT_MMIO_RANGES:
	case IGVM_VHT_MEMORY_MAP:
	case IGVM_VHT_COMMAND_LINE:
	case IGVM_VHT_SLIT:
	case IGVM_VHT_PPTT:
	case IGVM_VHT_DEVICE_TREE:
	case IGVM_VHT_ENVIRONMENT_INFO_PARAMETER:
		return true;
	default:
		return false;
	}
}

/* ---- strings ---------------------------------------------------------------------------- */
const char *igvm_strerror(enum igvm_errc code)
{
	switch (code) {
	case IGVM_OK: return "ok";
	case IGVM_E_INVALID_PARAMETER: return "invalid parameter";
	case IGVM_E_NO_DATA: return "no data";
	case IGVM_E_INVALID_FILE: return "invalid file";
	case IGVM_E_INVALID_HANDLE: return "invalid handle";
	case IGVM_E_NO_PLATFORM_HEADERS: return "no valid platform headers";
	case IGVM_E_FILE_DATA_SECTION_TOO_LARGE: return "file data section too large";
	case IGVM_E_VARIABLE_HEADER_SECTION_TOO_LARGE: return "variable header section too large";
	case IGVM_E_TOTAL_FILE_SIZE_TOO_LARGE: return "total file size too large";
	case IGVM_E_INVALID_BINARY_PLATFORM_HEADER: return "invalid binary platform header";
	case IGVM_E_INVALID_BINARY_INITIALIZATION_HEADER: return "invalid binary initialization header";
	case IGVM_E_INVALID_BINARY_DIRECTIVE_HEADER: return "invalid binary directive header";
	case IGVM_E_MULTIPLE_PLATFORM_HEADERS_WITH_SAME_ISOLATION:
		return "multiple platform headers with the same isolation type";
	case IGVM_E_INVALID_PARAMETER_AREA_INDEX: return "invalid parameter area index";
	case IGVM_E_INVALID_PLATFORM_TYPE: return "invalid platform type";
	case IGVM_E_NO_FREE_COMPATIBILITY_MASKS: return "no free compatibility masks";
	case IGVM_E_INVALID_FIXED_HEADER: return "invalid fixed header";
	case IGVM_E_INVALID_BINARY_VARIABLE_HEADER_SECTION: return "invalid binary variable header section";
	case IGVM_E_INVALID_CHECKSUM: return "invalid checksum";
	case IGVM_E_MULTIPLE_PAGE_TABLE_RELOCATION_HEADERS: return "multiple page table relocation headers";
	case IGVM_E_RELOCATION_REGIONS_OVERLAP: return "relocation regions overlap";
	case IGVM_E_PARAMETER_INSERT_INSIDE_PAGE_TABLE_REGION:
		return "parameter insert inside page table region";
	case IGVM_E_NO_MATCHING_VP_CONTEXT: return "no matching vp context";
	case IGVM_E_PLATFORM_ARCH_UNSUPPORTED: return "platform not supported on architecture";
	case IGVM_E_INVALID_HEADER_ARCH: return "header not valid for architecture";
	case IGVM_E_UNSUPPORTED_PAGE_SIZE: return "unsupported page size";
	case IGVM_E_INVALID_FIXED_HEADER_ARCH: return "invalid fixed header architecture";
	case IGVM_E_MERGE_REVISION: return "merge revision mismatch";
	case IGVM_E_INVALID_CCA_POLICY_COMPATIBILITY_MASK: return "invalid CCA policy compatibility mask";
	case IGVM_E_CORIM_GENERATION: return "CoRIM generation failed";
	case IGVM_E_MEASUREMENT_FAILED: return "measurement failed";
	case IGVM_E_NO_MEMORY: return "out of memory";
	}
	return "unknown error";
}

const char *igvm_detail_str(enum igvm_detail d)
{
	switch (d) {
	case IGVM_D_NONE: return "";
	case IGVM_D_INVALID_VARIABLE_HEADER_TYPE: return "InvalidVariableHeaderType";
	case IGVM_D_INVALID_VARIABLE_HEADER_SIZE: return "InvalidVariableHeaderSize";
	case IGVM_D_INVALID_DATA_SIZE: return "InvalidDataSize";
	case IGVM_D_UNALIGNED_ADDRESS: return "UnalignedAddress";
	case IGVM_D_UNALIGNED_SIZE: return "UnalignedSize";
	case IGVM_D_RESERVED_NOT_ZERO: return "ReservedNotZero";
	case IGVM_D_INVALID_PAGE_DATA_TYPE: return "InvalidPageDataType";
	case IGVM_D_INVALID_VP_CONTEXT_PLATFORM_TYPE: return "InvalidVpContextPlatformType";
	case IGVM_D_INVALID_PLATFORM_TYPE: return "InvalidPlatformType";
	case IGVM_D_INVALID_PLATFORM_VERSION: return "InvalidPlatformVersion";
	case IGVM_D_INVALID_VTL: return "InvalidVtl";
	case IGVM_D_INVALID_COMPATIBILITY_MASK: return "InvalidCompatibilityMask";
	case IGVM_D_INVALID_SHARED_GPA_BOUNDARY: return "InvalidSharedGpaBoundary";
	case IGVM_D_ADDRESS_OVERFLOW: return "AddressOverflow";
	case IGVM_D_INVALID_VALUE: return "InvalidValue";
	case IGVM_D_DUPLICATE: return "Duplicate";
	case IGVM_D_UNSUPPORTED: return "Unsupported";
	case IGVM_D_GPA_OVERLAP: return "GpaOverlap";
	}
	return "?";
}

void igvm_error_vset(struct igvm_error *err, enum igvm_errc code, enum igvm_detail detail,
		     int header_index, const char *field, const char *fmt, va_list ap)
{
	if (!err)
		return;
	err->code = code;
	err->detail = detail;
	err->header_index = header_index;
	err->field = field;
	vsnprintf(err->reason, sizeof(err->reason), fmt, ap);
}

enum igvm_errc igvm_section_errc(enum igvm_section s)
{
	switch (s) {
	case IGVM_SECTION_PLATFORM:
		return IGVM_E_INVALID_BINARY_PLATFORM_HEADER;
	case IGVM_SECTION_INITIALIZATION:
		return IGVM_E_INVALID_BINARY_INITIALIZATION_HEADER;
	case IGVM_SECTION_DIRECTIVE:
		break;
	}
	return IGVM_E_INVALID_BINARY_DIRECTIVE_HEADER;
}

int igvm_error_format(const struct igvm_error *err, char *buf, size_t size)
{
	if (!err || !buf || !size)
		return -EINVAL;
	char where[64];
	if (err->header_index >= 0)
		snprintf(where, sizeof(where), "header %d", err->header_index);
	else
		snprintf(where, sizeof(where), "file");
	return snprintf(buf, size, "%s%s%s: %s [%s%s%s]", where, err->field ? " field " : "",
			err->field ? err->field : "", err->reason, igvm_strerror(err->code),
			err->detail ? "/" : "", igvm_detail_str(err->detail));
}

/* ---- helpers on parsed data ------------------------------------------------------------- */
bool igvm_header_mask(const struct igvm_header *h, uint32_t *mask)
{
	uint32_t m;

	switch (h->type) {
	case IGVM_VHT_SUPPORTED_PLATFORM: m = h->u.platform.compatibility_mask; break;
	case IGVM_VHT_GUEST_POLICY: m = h->u.guest_policy.compatibility_mask; break;
	case IGVM_VHT_RELOCATABLE_REGION: m = h->u.reloc.compatibility_mask; break;
	case IGVM_VHT_PAGE_TABLE_RELOCATION_REGION: m = h->u.pt_reloc.compatibility_mask; break;
	case IGVM_VHT_CORIM_DOCUMENT:
	case IGVM_VHT_CORIM_SIGNATURE: m = h->u.corim.compatibility_mask; break;
	case IGVM_VHT_CCA_POLICY: m = h->u.cca_policy.compatibility_mask; break;
	case IGVM_VHT_PAGE_DATA: m = h->u.page_data.compatibility_mask; break;
	case IGVM_VHT_PARAMETER_INSERT: m = h->u.param_insert.compatibility_mask; break;
	case IGVM_VHT_VP_CONTEXT: m = h->u.vp_context.compatibility_mask; break;
	case IGVM_VHT_REQUIRED_MEMORY: m = h->u.required_memory.compatibility_mask; break;
	case IGVM_VHT_ERROR_RANGE: m = h->u.error_range.compatibility_mask; break;
	case IGVM_VHT_SNP_ID_BLOCK:
	case IGVM_VHT_VBS_MEASUREMENT: m = h->u.compatibility_mask; break;
	default:
		return false;
	}
	if (mask)
		*mask = m;
	return true;
}

bool igvm_header_applies(const struct igvm_header *h, uint32_t platform_mask)
{
	uint32_t m;
	return !igvm_header_mask(h, &m) || (m & platform_mask) != 0;
}

size_t igvm_header_count(const struct igvm_file *f)
{
	return f ? f->n_headers : 0;
}

const struct igvm_header *igvm_header_at(const struct igvm_file *f, size_t i)
{
	return f && i < f->n_headers ? &f->headers[i] : NULL;
}

const struct igvm_header *igvm_header_next(const struct igvm_file *f,
					   const struct igvm_header *prev,
					   enum igvm_section section)
{
	if (!f)
		return NULL;
	size_t i = prev ? (size_t)(prev - f->headers) + 1 : 0;
	for (; i < f->n_headers; i++)
		if (f->headers[i].section == section)
			return &f->headers[i];
	return NULL;
}

const struct igvm_platform_info *igvm_find_platform(const struct igvm_file *f,
						    enum igvm_platform type)
{
	for (size_t i = 0; f && i < f->n_platforms; i++)
		if (f->platforms[i].type == type)
			return &f->platforms[i];
	return NULL;
}

uint32_t igvm_header_vbs_register_count(const struct igvm_header *h)
{
	if (!h || h->type != IGVM_VHT_VP_CONTEXT || h->vp_platform != IGVM_PLATFORM_VSM_ISOLATION ||
	    h->data_len < 4)
		return 0;
	return (uint32_t)((h->data_len - 4) / sizeof(struct igvm_vbs_vp_context_register));
}

bool igvm_header_snp_id_block(const struct igvm_header *h, struct igvm_vhs_snp_id_block *out)
{
	if (h->type != IGVM_VHT_SNP_ID_BLOCK || h->length != sizeof(*out))
		return false;
	memcpy(out, h->body, sizeof(*out));
	return true;
}

bool igvm_header_vbs_measurement(const struct igvm_header *h, struct igvm_vhs_vbs_measurement *out)
{
	if (h->type != IGVM_VHT_VBS_MEASUREMENT || h->length != sizeof(*out))
		return false;
	memcpy(out, h->body, sizeof(*out));
	return true;
}

/* ---- fixed header (§2, §3) -------------------------------------------------------------- */
int igvm_compute_checksum(const uint8_t *buf, size_t len, uint32_t *crc)
{
	uint8_t fixed[IGVM_FIXED_HEADER_V2_SIZE];

	if (!buf || !crc || len < IGVM_FIXED_HEADER_V1_SIZE)
		return IGVM_E_INVALID_PARAMETER;
	uint32_t version = rd32(buf + 4);
	size_t fsize = version >= IGVM_FORMAT_VERSION_2 ? IGVM_FIXED_HEADER_V2_SIZE
							: IGVM_FIXED_HEADER_V1_SIZE;
	if (len < fsize)
		return IGVM_E_INVALID_FIXED_HEADER;
	uint64_t vho = rd32(buf + 8), vhs = rd32(buf + 12);
	if (vho > len || vhs > len - vho)
		return IGVM_E_INVALID_FIXED_HEADER;
	memcpy(fixed, buf, fsize);
	memset(fixed + IGVM_FIXED_HEADER_CHECKSUM_OFFSET, 0, 4);
	uint32_t c = igvm_crc32(0, fixed, fsize);
	*crc = igvm_crc32(c, buf + vho, vhs);
	return IGVM_OK;
}

static int parse_fixed(struct pctx *c)
{
	struct igvm_file *f = c->f;
	const uint8_t *b = c->buf;
	size_t len = c->len;
	const enum igvm_errc E = IGVM_E_INVALID_FIXED_HEADER;

	if (len < IGVM_FIXED_HEADER_V1_SIZE)
		return fail(c, E, IGVM_D_INVALID_DATA_SIZE, -1, NULL,
			    "file is %zu bytes, shorter than the 24-byte fixed header", len);
	if (len > UINT32_MAX)
		return fail(c, IGVM_E_TOTAL_FILE_SIZE_TOO_LARGE, IGVM_D_NONE, -1, NULL,
			    "file is %zu bytes, more than 4 GiB - 1", len);
	if (rd32(b) != IGVM_MAGIC)
		return fail(c, E, IGVM_D_INVALID_VALUE, -1, "magic", "magic is 0x%08x, not 0x%08x",
			    rd32(b), IGVM_MAGIC);
	f->format_version = rd32(b + 4);
	f->variable_header_offset = rd32(b + 8);
	f->variable_header_size = rd32(b + 12);
	f->total_file_size = rd32(b + 16);
	f->checksum = rd32(b + 20);
	f->arch = IGVM_ARCH_X64;
	f->page_size = IGVM_PAGE_SIZE_4K;
	uint32_t fsize;
	if (f->format_version == IGVM_FORMAT_VERSION_1) {
		fsize = IGVM_FIXED_HEADER_V1_SIZE;
	} else if (f->format_version == IGVM_FORMAT_VERSION_2) {
		fsize = IGVM_FIXED_HEADER_V2_SIZE;
		if (len < fsize)
			return fail(c, E, IGVM_D_INVALID_DATA_SIZE, -1, NULL,
				    "file is %zu bytes, shorter than the 32-byte v2 fixed header", len);
		uint32_t arch = rd32(b + 24);
		if (arch != IGVM_ARCH_X64 && arch != IGVM_ARCH_AARCH64)
			return fail(c, E, IGVM_D_INVALID_VALUE, -1, "architecture",
				    "unknown architecture %u", arch);
		f->arch = (enum igvm_arch)arch;
		f->page_size = rd32(b + 28);
		if (f->page_size != IGVM_PAGE_SIZE_4K)
			return fail(c, IGVM_E_UNSUPPORTED_PAGE_SIZE, IGVM_D_UNSUPPORTED, -1, "page_size",
				    "page size 0x%x unsupported (only 4096)", f->page_size);
	} else {
		return fail(c, E, IGVM_D_INVALID_VALUE, -1, "format_version",
			    "format version %u unsupported (1 or 2)", f->format_version);
	}
	if (f->total_file_size != len)
		return fail(c, E, IGVM_D_INVALID_VALUE, -1, "total_file_size",
			    "total_file_size %u != file length %zu", f->total_file_size, len);
	uint64_t vho = f->variable_header_offset, vhs = f->variable_header_size;
	if (vho < fsize || vho % IGVM_HEADER_ALIGN)
		return fail(c, E, IGVM_D_UNALIGNED_ADDRESS, -1, "variable_header_offset",
			    "variable_header_offset %" PRIu64 " must be >= %u and 8-aligned", vho, fsize);
	/* The crate demands at least one byte of file data (§7 quirk). */
	if (vho >= len || vho + vhs >= len)
		return fail(c, E, IGVM_D_INVALID_DATA_SIZE, -1, "variable_header_size",
			    "variable header section [%" PRIu64 ", %" PRIu64 ") leaves no file data "
			    "in a %zu-byte file", vho, vho + vhs, len);
	if (!all_zero(b + fsize, vho - fsize))
		return fail(c, E, IGVM_D_RESERVED_NOT_ZERO, -1, "variable_header_offset",
			    "gap between fixed header and variable headers is not zero");
	uint32_t crc;
	int rc = igvm_compute_checksum(b, len, &crc);
	if (rc)
		return fail(c, rc, IGVM_D_NONE, -1, NULL, "cannot compute checksum");
	if (crc != f->checksum)
		return fail(c, IGVM_E_INVALID_CHECKSUM, IGVM_D_NONE, -1, "checksum",
			    "checksum 0x%08x, computed 0x%08x", f->checksum, crc);
	f->file_data_offset = (uint32_t)(vho + vhs);
	c->fds = vho + vhs;
	return IGVM_OK;
}

/* ---- per-header validation -------------------------------------------------------------- */

/* Data range [fo, fo+n) must lie in the file-data section (rejects offsets inside the
 * headers, where the crate underflows). */
static bool data_in_file(const struct pctx *c, uint64_t fo, uint64_t n)
{
	return fo >= c->fds && fo <= c->len && n <= c->len - fo;
}

static int check_mask(struct pctx *c, const struct igvm_header *h, uint32_t mask)
{
	int idx = (int)h->index;
	if (mask == 0)
		return fail(c, igvm_section_errc(h->section), IGVM_D_INVALID_COMPATIBILITY_MASK, idx,
			    "compatibility_mask", "compatibility mask is 0 (applies to no platform)");
	if ((c->flags & IGVM_PARSE_STRICT_MASKS) && (mask & ~c->known_mask))
		return fail(c, igvm_section_errc(h->section), IGVM_D_INVALID_COMPATIBILITY_MASK, idx,
			    "compatibility_mask",
			    "compatibility mask 0x%x names bits 0x%x that no platform header owns",
			    mask, mask & ~c->known_mask);
	return 0;
}

/* Known bits of `mask` must all belong to platforms of type `want`. */
static int check_mask_platform(struct pctx *c, const struct igvm_header *h, uint32_t mask,
			       enum igvm_platform want, enum igvm_errc code)
{
	for (size_t i = 0; i < c->f->n_platforms; i++) {
		const struct igvm_platform_info *p = &c->f->platforms[i];
		if ((mask & p->mask) && p->type != want)
			return fail(c, code, IGVM_D_INVALID_COMPATIBILITY_MASK, (int)h->index,
				    "compatibility_mask",
				    "mask 0x%x includes platform %s (0x%x); only %s allowed", mask,
				    igvm_platform_name(p->type), p->mask, igvm_platform_name(want));
	}
	return 0;
}

static const struct igvm_platform_info *platform_by_mask(const struct pctx *c, uint32_t mask)
{
	for (size_t i = 0; i < c->f->n_platforms; i++)
		if (c->f->platforms[i].mask == mask)
			return &c->f->platforms[i];
	return NULL;
}

static bool range_end(uint64_t start, uint64_t size, uint64_t *end)
{
	return !__builtin_add_overflow(start, size, end);
}

static int parse_platform(struct pctx *c, struct igvm_header *h)
{
	const struct igvm_vhs_supported_platform *p = &h->u.platform;
	const enum igvm_errc E = IGVM_E_INVALID_BINARY_PLATFORM_HEADER;
	int idx = (int)h->index;
	struct igvm_file *f = c->f;

	if (popcount32(p->compatibility_mask) != 1)
		return fail(c, E, IGVM_D_INVALID_COMPATIBILITY_MASK, idx, "compatibility_mask",
			    "platform mask 0x%x must have exactly one bit", p->compatibility_mask);
	if (p->highest_vtl != 0 && p->highest_vtl != 2)
		return fail(c, E, IGVM_D_INVALID_VTL, idx, "highest_vtl",
			    "highest_vtl %u (0 or 2)", p->highest_vtl);
	if (p->platform_type > IGVM_PLATFORM_TYPE_MAX)
		return fail(c, E, IGVM_D_INVALID_PLATFORM_TYPE, idx, "platform_type",
			    "unknown platform type %u", p->platform_type);
	if (p->platform_version != IGVM_PLATFORM_VERSION_1)
		return fail(c, E, IGVM_D_INVALID_PLATFORM_VERSION, idx, "platform_version",
			    "platform version %u (only 1)", p->platform_version);
	if ((p->platform_type == IGVM_PLATFORM_NATIVE ||
	     p->platform_type == IGVM_PLATFORM_VSM_ISOLATION) && p->shared_gpa_boundary)
		return fail(c, E, IGVM_D_INVALID_SHARED_GPA_BOUNDARY, idx, "shared_gpa_boundary",
			    "%s platform must have shared_gpa_boundary 0, not 0x%" PRIx64,
			    igvm_platform_name(p->platform_type), p->shared_gpa_boundary);
	bool arch_ok;
	if (f->arch == IGVM_ARCH_X64)
		arch_ok = p->platform_type != IGVM_PLATFORM_CCA;
	else
		arch_ok = p->platform_type == IGVM_PLATFORM_VSM_ISOLATION ||
			  p->platform_type == IGVM_PLATFORM_CCA;
	if (!arch_ok)
		return fail(c, IGVM_E_PLATFORM_ARCH_UNSUPPORTED, IGVM_D_UNSUPPORTED, idx,
			    "platform_type", "platform %s not supported on architecture %s",
			    igvm_platform_name(p->platform_type),
			    f->arch == IGVM_ARCH_X64 ? "X64" : "AArch64");
	for (size_t i = 0; i < f->n_platforms; i++) {
		if (f->platforms[i].type == p->platform_type)
			return fail(c, IGVM_E_MULTIPLE_PLATFORM_HEADERS_WITH_SAME_ISOLATION,
				    IGVM_D_DUPLICATE, idx, "platform_type",
				    "second %s platform header (first is header %u)",
				    igvm_platform_name(p->platform_type), f->platforms[i].header_index);
		/* Stricter than the crate: one mask bit must name one platform, otherwise the
		 * headers under it would be measured for two different platforms. */
		if (f->platforms[i].mask == p->compatibility_mask)
			return fail(c, E, IGVM_D_INVALID_COMPATIBILITY_MASK, idx, "compatibility_mask",
				    "mask 0x%x already used by platform header %u",
				    p->compatibility_mask, f->platforms[i].header_index);
	}
	/* At most 32 platforms exist since masks are distinct single bits. */
	struct igvm_platform_info *pi = &f->platforms[f->n_platforms++];
	pi->mask = p->compatibility_mask;
	pi->type = (enum igvm_platform)p->platform_type;
	pi->highest_vtl = p->highest_vtl;
	pi->version = p->platform_version;
	pi->shared_gpa_boundary = p->shared_gpa_boundary;
	pi->header_index = h->index;
	c->known_mask |= p->compatibility_mask;
	return 0;
}

static int push_region(struct pctx *c, struct region **arr, size_t *n, size_t *cap,
		       const struct region *r)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct region *na = realloc(*arr, ncap * sizeof(*na));
		if (!na)
			return fail(c, IGVM_E_NO_MEMORY, IGVM_D_NONE, -1, NULL, "out of memory");
		*arr = na;
		*cap = ncap;
	}
	(*arr)[(*n)++] = *r;
	return 0;
}

static int add_region(struct pctx *c, const struct region *r)
{
	return push_region(c, &c->regions, &c->n_regions, &c->cap_regions, r);
}

/* Record [gpa, end) as imported for the platforms of `mask` (checked after the loop). */
static int add_import(struct pctx *c, const struct igvm_header *h, uint64_t gpa_v, uint64_t end,
		      uint32_t mask)
{
	struct region r = { gpa_v, end, mask, h->index, 0, 0, 0 };
	c->import_bits |= mask;
	return push_region(c, &c->imports, &c->n_imports, &c->cap_imports, &r);
}

static int parse_init(struct pctx *c, struct igvm_header *h)
{
	const enum igvm_errc E = IGVM_E_INVALID_BINARY_INITIALIZATION_HEADER;
	int idx = (int)h->index;
	int rc;

	switch (h->type) {
	case IGVM_VHT_GUEST_POLICY: {
		const struct igvm_vhs_guest_policy *p = &h->u.guest_policy;
		if (p->reserved)
			return fail(c, E, IGVM_D_RESERVED_NOT_ZERO, idx, "reserved",
				    "reserved is 0x%x", p->reserved);
		if ((rc = check_mask(c, h, p->compatibility_mask)))
			return rc;
		if (p->compatibility_mask & c->policy_bits)
			return fail(c, E, IGVM_D_DUPLICATE, idx, "compatibility_mask",
				    "second guest policy for mask bits 0x%x",
				    p->compatibility_mask & c->policy_bits);
		c->policy_bits |= p->compatibility_mask;
		return 0;
	}
	case IGVM_VHT_RELOCATABLE_REGION: {
		const struct igvm_vhs_relocatable_region *r = &h->u.reloc;
		uint64_t end;
		if ((rc = check_mask(c, h, r->compatibility_mask)))
			return rc;
		if (r->vtl > 2)
			return fail(c, E, IGVM_D_INVALID_VTL, idx, "vtl", "vtl %u > 2", r->vtl);
		if (r->flags & ~IGVM_RELOC_FLAGS_ALL)
			return fail(c, E, IGVM_D_RESERVED_NOT_ZERO, idx, "flags",
				    "reserved flag bits 0x%x", r->flags & ~IGVM_RELOC_FLAGS_ALL);
		if (!r->relocation_alignment || r->relocation_alignment % PAGE)
			return fail(c, E, IGVM_D_UNALIGNED_SIZE, idx, "relocation_alignment",
				    "relocation_alignment 0x%" PRIx64 " is not a nonzero 4K multiple",
				    r->relocation_alignment);
		if (r->relocation_region_gpa % r->relocation_alignment)
			return fail(c, E, IGVM_D_UNALIGNED_ADDRESS, idx, "relocation_region_gpa",
				    "gpa 0x%" PRIx64 " not aligned to 0x%" PRIx64,
				    r->relocation_region_gpa, r->relocation_alignment);
		if (!r->relocation_region_size || r->relocation_region_size % PAGE)
			return fail(c, E, IGVM_D_UNALIGNED_SIZE, idx, "relocation_region_size",
				    "size 0x%" PRIx64 " is not a nonzero 4K multiple",
				    r->relocation_region_size);
		if (r->minimum_relocation_gpa % r->relocation_alignment)
			return fail(c, E, IGVM_D_UNALIGNED_ADDRESS, idx, "minimum_relocation_gpa",
				    "0x%" PRIx64 " not aligned", r->minimum_relocation_gpa);
		if (r->maximum_relocation_gpa % r->relocation_alignment)
			return fail(c, E, IGVM_D_UNALIGNED_ADDRESS, idx, "maximum_relocation_gpa",
				    "0x%" PRIx64 " not aligned", r->maximum_relocation_gpa);
		if (!range_end(r->relocation_region_gpa, r->relocation_region_size, &end))
			return fail(c, E, IGVM_D_ADDRESS_OVERFLOW, idx, "relocation_region_size",
				    "region wraps past 2^64");
		if (r->relocation_region_gpa < r->minimum_relocation_gpa ||
		    end > r->maximum_relocation_gpa)
			return fail(c, E, IGVM_D_INVALID_VALUE, idx, "relocation_region_gpa",
				    "default region [0x%" PRIx64 ", 0x%" PRIx64 ") outside the "
				    "allowed [0x%" PRIx64 ", 0x%" PRIx64 "]",
				    r->relocation_region_gpa, end, r->minimum_relocation_gpa,
				    r->maximum_relocation_gpa);
		struct region reg = { r->relocation_region_gpa, end, r->compatibility_mask,
				      h->index, r->vp_index, r->vtl, 0 };
		return add_region(c, &reg);
	}
	case IGVM_VHT_PAGE_TABLE_RELOCATION_REGION: {
		const struct igvm_vhs_page_table_relocation *r = &h->u.pt_reloc;
		uint64_t end;
		if (r->reserved)
			return fail(c, E, IGVM_D_RESERVED_NOT_ZERO, idx, "reserved",
				    "reserved is 0x%x", r->reserved);
		if ((rc = check_mask(c, h, r->compatibility_mask)))
			return rc;
		if (r->vtl > 2)
			return fail(c, E, IGVM_D_INVALID_VTL, idx, "vtl", "vtl %u > 2", r->vtl);
		if (r->gpa % PAGE)
			return fail(c, E, IGVM_D_UNALIGNED_ADDRESS, idx, "gpa",
				    "gpa 0x%" PRIx64 " not page aligned", r->gpa);
		if (!r->size || r->size % PAGE)
			return fail(c, E, IGVM_D_UNALIGNED_SIZE, idx, "size",
				    "size 0x%" PRIx64 " is not a nonzero 4K multiple", r->size);
		if (r->used_size % PAGE)
			return fail(c, E, IGVM_D_UNALIGNED_SIZE, idx, "used_size",
				    "used_size 0x%" PRIx64 " is not a 4K multiple", r->used_size);
		if (r->used_size > r->size)
			return fail(c, E, IGVM_D_INVALID_VALUE, idx, "used_size",
				    "used_size 0x%" PRIx64 " > size 0x%" PRIx64, r->used_size, r->size);
		if (!range_end(r->gpa, r->size, &end))
			return fail(c, E, IGVM_D_ADDRESS_OVERFLOW, idx, "size", "region wraps past 2^64");
		if (r->compatibility_mask & c->pt_bits)
			return fail(c, IGVM_E_MULTIPLE_PAGE_TABLE_RELOCATION_HEADERS, IGVM_D_DUPLICATE,
				    idx, "compatibility_mask",
				    "second page table relocation region for mask bits 0x%x",
				    r->compatibility_mask & c->pt_bits);
		c->pt_bits |= r->compatibility_mask;
		struct region reg = { r->gpa, end, r->compatibility_mask, h->index, r->vp_index,
				      r->vtl, 1 };
		/* pt_bits are disjoint, so at most 32 page-table regions. */
		if (c->n_pt < IGVM_MAX_PLATFORMS)
			c->pt[c->n_pt++] = reg;
		return add_region(c, &reg);
	}
	case IGVM_VHT_CORIM_DOCUMENT:
	case IGVM_VHT_CORIM_SIGNATURE: {
		const struct igvm_vhs_corim_data *d = &h->u.corim;
		bool doc = h->type == IGVM_VHT_CORIM_DOCUMENT;
		if (d->reserved)
			return fail(c, E, IGVM_D_RESERVED_NOT_ZERO, idx, "reserved",
				    "reserved is 0x%x", d->reserved);
		if ((rc = check_mask(c, h, d->compatibility_mask)))
			return rc;
		if (!d->size_bytes || !d->file_offset ||
		    !data_in_file(c, d->file_offset, d->size_bytes))
			return fail(c, E, IGVM_D_INVALID_DATA_SIZE, idx, "file_offset",
				    "data [%u, +%u) not inside the file data section [%" PRIu64
				    ", %zu)", d->file_offset, d->size_bytes, c->fds, c->len);
		uint32_t *bits = doc ? &c->corim_doc_bits : &c->corim_sig_bits;
		if (d->compatibility_mask & *bits)
			return fail(c, E, IGVM_D_DUPLICATE, idx, "compatibility_mask",
				    "second CoRIM %s for mask bits 0x%x", doc ? "document" : "signature",
				    d->compatibility_mask & *bits);
		if (!doc && (d->compatibility_mask & ~c->corim_doc_bits))
			return fail(c, E, IGVM_D_INVALID_VALUE, idx, "compatibility_mask",
				    "CoRIM signature for mask bits 0x%x without an earlier document",
				    d->compatibility_mask & ~c->corim_doc_bits);
		*bits |= d->compatibility_mask;
		h->data = c->buf + d->file_offset;
		h->data_len = d->size_bytes;
		return 0;
	}
	case IGVM_VHT_CCA_POLICY: {
		const struct igvm_vhs_cca_policy *p = &h->u.cca_policy;
		if (c->f->arch != IGVM_ARCH_AARCH64)
			return fail(c, IGVM_E_INVALID_HEADER_ARCH, IGVM_D_UNSUPPORTED, idx, NULL,
				    "CCA policy header in a non-AArch64 file");
		if ((rc = check_mask(c, h, p->compatibility_mask)))
			return rc;
		for (int bit = 0; bit < 32; bit++) {
			uint32_t m = 1u << bit;
			if (!(p->compatibility_mask & m))
				continue;
			const struct igvm_platform_info *pi = platform_by_mask(c, m);
			if (!pi || pi->type != IGVM_PLATFORM_CCA)
				return fail(c, IGVM_E_INVALID_CCA_POLICY_COMPATIBILITY_MASK,
					    IGVM_D_INVALID_COMPATIBILITY_MASK, idx, "compatibility_mask",
					    "mask bit 0x%x is not a CCA platform", m);
		}
		if (p->reserved || !all_zero(p->reserved2, sizeof(p->reserved2)))
			return fail(c, E, IGVM_D_RESERVED_NOT_ZERO, idx, "reserved",
				    "reserved fields not zero");
		if (p->attributes_required_zeroes & p->attributes_required_ones)
			return fail(c, E, IGVM_D_INVALID_VALUE, idx, "attributes_required_ones",
				    "attributes 0x%" PRIx64 " required both zero and one",
				    p->attributes_required_zeroes & p->attributes_required_ones);
		if (p->hash_algorithm > IGVM_CCA_HASH_SHA384)
			return fail(c, E, IGVM_D_INVALID_VALUE, idx, "hash_algorithm",
				    "unknown hash algorithm %u", p->hash_algorithm);
		if (p->lfa_policy > IGVM_CCA_LFA_ALLOW)
			return fail(c, E, IGVM_D_INVALID_VALUE, idx, "lfa_policy",
				    "unknown lfa policy %u", p->lfa_policy);
		return 0;
	}
	default:
		break;
	}
	return fail(c, E, IGVM_D_INVALID_VARIABLE_HEADER_TYPE, idx, "typ",
		    "unknown initialization header type 0x%x", h->type);
}

static int parse_vp_context(struct pctx *c, struct igvm_header *h)
{
	const enum igvm_errc E = IGVM_E_INVALID_BINARY_DIRECTIVE_HEADER;
	const struct igvm_vhs_vp_context *v = &h->u.vp_context;
	int idx = (int)h->index;
	uint32_t mask = v->compatibility_mask;
	uint64_t gpa_v = v->gpa;
	uint64_t fo = v->file_offset;
	uint8_t vtl = 0;

	if (v->reserved)
		return fail(c, E, IGVM_D_RESERVED_NOT_ZERO, idx, "reserved", "reserved is 0x%x",
			    v->reserved);
	const struct igvm_platform_info *pi = platform_by_mask(c, mask);
	if (!pi)
		return fail(c, E, IGVM_D_INVALID_VP_CONTEXT_PLATFORM_TYPE, idx, "compatibility_mask",
			    "VP context mask 0x%x is not exactly one platform's mask", mask);
	switch (pi->type) {
	case IGVM_PLATFORM_SEV_SNP:
	case IGVM_PLATFORM_SEV_ES:
		if (gpa_v % PAGE)
			return fail(c, E, IGVM_D_UNALIGNED_ADDRESS, idx, "gpa",
				    "VMSA gpa 0x%" PRIx64 " not page aligned", gpa_v);
		if (!fo || !data_in_file(c, fo, IGVM_VMSA_SIZE))
			return fail(c, E, IGVM_D_INVALID_DATA_SIZE, idx, "file_offset",
				    "VMSA [%" PRIu64 ", +4096) not inside the file data section "
				    "[%" PRIu64 ", %zu)", fo, c->fds, c->len);
		h->data_len = IGVM_VMSA_SIZE;
		break;
	case IGVM_PLATFORM_NATIVE:
	case IGVM_PLATFORM_SEV:
	case IGVM_PLATFORM_CCA: {
		bool cca = pi->type == IGVM_PLATFORM_CCA;
		size_t used = cca ? sizeof(struct igvm_vp_context_aarch64_cca)
				  : sizeof(struct igvm_native_vp_context_x64);
		if (c->f->arch != (cca ? IGVM_ARCH_AARCH64 : IGVM_ARCH_X64))
			return fail(c, IGVM_E_INVALID_HEADER_ARCH, IGVM_D_UNSUPPORTED, idx, NULL,
				    "%s VP context not valid for this architecture",
				    igvm_platform_name(pi->type));
		if (gpa_v)
			return fail(c, E, IGVM_D_INVALID_VALUE, idx, "gpa",
				    "%s VP context gpa must be 0", igvm_platform_name(pi->type));
		if (!fo || !data_in_file(c, fo, PAGE))
			return fail(c, E, IGVM_D_INVALID_DATA_SIZE, idx, "file_offset",
				    "context [%" PRIu64 ", +4096) not inside the file data section",
				    fo);
		if (!all_zero(c->buf + fo + used, PAGE - used))
			return fail(c, E, IGVM_D_RESERVED_NOT_ZERO, idx, "file_offset",
				    "bytes after the %zu-byte context not zero", used);
		if (!cca) {
			struct igvm_native_vp_context_x64 n;
			memcpy(&n, c->buf + fo, sizeof(n));
			if ((n.code_attributes | n.data_attributes) & IGVM_NATIVE_SEG_ATTR_MBZ)
				return fail(c, E, IGVM_D_INVALID_VALUE, idx, "file_offset",
					    "segment attribute bits 11:8 not zero");
			if (n.reserved[0] || n.reserved[1])
				return fail(c, E, IGVM_D_RESERVED_NOT_ZERO, idx, "file_offset",
					    "native context reserved words not zero");
		}
		h->data_len = PAGE;
		break;
	}
	case IGVM_PLATFORM_VSM_ISOLATION: {
		if (gpa_v)
			return fail(c, E, IGVM_D_INVALID_VALUE, idx, "gpa", "VBS VP context gpa must be 0");
		if (!fo || !data_in_file(c, fo, 4))
			return fail(c, E, IGVM_D_INVALID_DATA_SIZE, idx, "file_offset",
				    "VBS context header at %" PRIu64 " not inside the file data section",
				    fo);
		uint64_t count = rd32(c->buf + fo);
		uint64_t n = 4 + count * sizeof(struct igvm_vbs_vp_context_register);
		if (!data_in_file(c, fo, n))
			return fail(c, E, IGVM_D_INVALID_DATA_SIZE, idx, "file_offset",
				    "%" PRIu64 " VBS registers run past the end of file", count);
		for (uint64_t i = 0; i < count; i++) {
			struct igvm_vbs_vp_context_register r;
			memcpy(&r, c->buf + fo + 4 + i * sizeof(r), sizeof(r));
			if (r.vtl > 2)
				return fail(c, E, IGVM_D_INVALID_VTL, idx, "file_offset",
					    "register %" PRIu64 " has vtl %u", i, r.vtl);
			if (i == 0)
				vtl = r.vtl;
			else if (r.vtl != vtl)
				return fail(c, E, IGVM_D_INVALID_VTL, idx, "file_offset",
					    "register %" PRIu64 " vtl %u differs from vtl %u of register 0",
					    i, r.vtl, vtl);
			if (!all_zero(r.mbz, sizeof(r.mbz)))
				return fail(c, E, IGVM_D_RESERVED_NOT_ZERO, idx, "file_offset",
					    "register %" PRIu64 " mbz bytes not zero", i);
		}
		h->data_len = n;
		break;
	}
	case IGVM_PLATFORM_TDX:
		return fail(c, E, IGVM_D_INVALID_VP_CONTEXT_PLATFORM_TYPE, idx, "compatibility_mask",
			    "TDX has no VP context (architectural reset state)");
	}
	if (pi->type == IGVM_PLATFORM_SEV_SNP || pi->type == IGVM_PLATFORM_SEV_ES) {
		uint64_t vend;
		if (!range_end(gpa_v, PAGE, &vend))
			return fail(c, E, IGVM_D_ADDRESS_OVERFLOW, idx, "gpa",
				    "VMSA at 0x%" PRIx64 " wraps past 2^64", gpa_v);
		int rc = add_import(c, h, gpa_v, vend, mask);   /* the VMSA page */
		if (rc)
			return rc;
	}
	h->data = c->buf + fo;
	h->vp_platform = (uint8_t)pi->type;
	h->vp_vtl = vtl;
	uint64_t key = ((uint64_t)__builtin_ctz(mask) << 32) | ((uint64_t)v->vp_index << 8) | vtl;
	if (hmap_get(&c->vps, key))
		return fail(c, E, IGVM_D_DUPLICATE, idx, "vp_index",
			    "second VP context for platform mask 0x%x vp %u vtl %u", mask,
			    v->vp_index, vtl);
	if (hmap_put(&c->vps, key, pi->type))
		return fail(c, IGVM_E_NO_MEMORY, IGVM_D_NONE, idx, NULL, "out of memory");
	return 0;
}

/* Minimum bytes a parameter of this type occupies at byte_offset (0 = variable/unknown). */
static uint64_t parameter_min_size(uint32_t type)
{
	switch (type) {
	case IGVM_VHT_VP_COUNT_PARAMETER:
	case IGVM_VHT_ENVIRONMENT_INFO_PARAMETER:
		return 4;
	case IGVM_VHT_MMIO_RANGES:
		return sizeof(struct igvm_vhs_mmio_ranges);
	case IGVM_VHT_MEMORY_MAP:
		return sizeof(struct igvm_vhs_memory_map_entry);  /* at least the terminator */
	default:
		return 1;
	}
}

static int parse_directive(struct pctx *c, struct igvm_header *h)
{
	const enum igvm_errc E = IGVM_E_INVALID_BINARY_DIRECTIVE_HEADER;
	int idx = (int)h->index;
	int rc;

	if (igvm_is_parameter_type(h->type)) {
		const struct igvm_vhs_parameter *p = &h->u.parameter;
		uint64_t *st = hmap_get(&c->areas, p->parameter_area_index);
		if (!st)
			return fail(c, IGVM_E_INVALID_PARAMETER_AREA_INDEX, IGVM_D_NONE, idx,
				    "parameter_area_index", "parameter area %u not declared",
				    p->parameter_area_index);
		if (*st & AREA_INSERTED)
			return fail(c, IGVM_E_INVALID_PARAMETER_AREA_INDEX, IGVM_D_NONE, idx,
				    "parameter_area_index", "parameter area %u already inserted",
				    p->parameter_area_index);
		uint64_t size = *st & ~AREA_INSERTED;
		uint64_t need = parameter_min_size(h->type);
		if (p->byte_offset >= size || need > size - p->byte_offset)
			return fail(c, E, IGVM_D_INVALID_VALUE, idx, "byte_offset",
				    "byte_offset %u + %" PRIu64 " exceeds parameter area %u of %" PRIu64
				    " bytes", p->byte_offset, need, p->parameter_area_index, size);
		return 0;
	}

	switch (h->type) {
	case IGVM_VHT_PARAMETER_AREA: {
		const struct igvm_vhs_parameter_area *a = &h->u.param_area;
		if (!a->number_of_bytes || a->number_of_bytes % PAGE)
			return fail(c, E, IGVM_D_UNALIGNED_SIZE, idx, "number_of_bytes",
				    "area size 0x%" PRIx64 " is not a nonzero 4K multiple",
				    a->number_of_bytes);
		if (a->number_of_bytes > IGVM_MAX_PARAMETER_AREA_BYTES - c->synthetic_bytes)
			return fail(c, E, IGVM_D_INVALID_VALUE, idx, "number_of_bytes",
				    "area size 0x%" PRIx64 " exceeds the 1 GiB limit on parameter "
				    "areas and error ranges", a->number_of_bytes);
		c->synthetic_bytes += a->number_of_bytes;
		if (a->file_offset) {
			if (!data_in_file(c, a->file_offset, a->number_of_bytes))
				return fail(c, E, IGVM_D_INVALID_DATA_SIZE, idx, "file_offset",
					    "initial data [%u, +%" PRIu64 ") not inside the file data "
					    "section [%" PRIu64 ", %zu)", a->file_offset,
					    a->number_of_bytes, c->fds, c->len);
			h->data = c->buf + a->file_offset;
			h->data_len = a->number_of_bytes;
		}
		if (hmap_get(&c->areas, a->parameter_area_index))
			return fail(c, IGVM_E_INVALID_PARAMETER_AREA_INDEX, IGVM_D_DUPLICATE, idx,
				    "parameter_area_index", "parameter area %u declared twice",
				    a->parameter_area_index);
		if (hmap_put(&c->areas, a->parameter_area_index, a->number_of_bytes))
			return fail(c, IGVM_E_NO_MEMORY, IGVM_D_NONE, idx, NULL, "out of memory");
		return 0;
	}
	case IGVM_VHT_PAGE_DATA: {
		const struct igvm_vhs_page_data *p = &h->u.page_data;
		/* A 2 MiB page is 512 consecutive 4 KiB pages: gpa 2 MiB aligned and, when it has
		 * data, all 2 MiB of it in the file. The crate reads only 4 KiB of such a page;
		 * we never guess at the missing 2 MiB - 4 KiB (igvmmeasure also needs 2 MiB). */
		const bool big = (p->flags & IGVM_PAGE_FLAG_IS_2MB_PAGE) != 0;
		const uint64_t psize = big ? IGVM_PAGE_SIZE_2M : PAGE;
		if (p->gpa % psize)
			return fail(c, E, IGVM_D_UNALIGNED_ADDRESS, idx, "gpa",
				    "gpa 0x%" PRIx64 " not %s aligned", p->gpa,
				    big ? "2 MiB (2 MiB page)" : "page");
		if (p->reserved)
			return fail(c, E, IGVM_D_RESERVED_NOT_ZERO, idx, "reserved",
				    "reserved is 0x%x", p->reserved);
		if (p->data_type > IGVM_PAGE_DATA_TYPE_MAX)
			return fail(c, E, IGVM_D_INVALID_PAGE_DATA_TYPE, idx, "data_type",
				    "unknown page data type %u", p->data_type);
		if (p->flags & ~IGVM_PAGE_FLAGS_ALL)
			return fail(c, E, IGVM_D_RESERVED_NOT_ZERO, idx, "flags",
				    "reserved flag bits 0x%x", p->flags & ~IGVM_PAGE_FLAGS_ALL);
		if ((rc = check_mask(c, h, p->compatibility_mask)))
			return rc;
		if (p->file_offset) {
			if (big && data_in_file(c, p->file_offset, 1) &&
			    !data_in_file(c, p->file_offset, psize))
				return fail(c, E, IGVM_D_INVALID_DATA_SIZE, idx, "file_offset",
					    "2 MiB page needs 2 MiB of data at file_offset %u, the "
					    "file has only %" PRIu64 " bytes there",
					    p->file_offset, (uint64_t)c->len - p->file_offset);
			if (!data_in_file(c, p->file_offset, psize))
				return fail(c, E, IGVM_D_INVALID_DATA_SIZE, idx, "file_offset",
					    "page data [%u, +%" PRIu64 ") not inside the file data "
					    "section [%" PRIu64 ", %zu)", p->file_offset, psize, c->fds,
					    c->len);
			h->data = c->buf + p->file_offset;
			h->data_len = psize;
		} else if (big) {
			/* 32 header bytes that measure as 512 pages: budget them like areas. */
			if (psize > IGVM_MAX_PARAMETER_AREA_BYTES - c->synthetic_bytes)
				return fail(c, E, IGVM_D_INVALID_VALUE, idx, "flags",
					    "data-less 2 MiB page exceeds the 1 GiB limit on parameter "
					    "areas, error ranges and data-less 2 MiB pages");
			c->synthetic_bytes += psize;
		}
		uint64_t pend;
		if (!range_end(p->gpa, psize, &pend))
			return fail(c, E, IGVM_D_ADDRESS_OVERFLOW, idx, "gpa",
				    "page at 0x%" PRIx64 " wraps past 2^64", p->gpa);
		return add_import(c, h, p->gpa, pend, p->compatibility_mask);
	}
	case IGVM_VHT_PARAMETER_INSERT: {
		const struct igvm_vhs_parameter_insert *p = &h->u.param_insert;
		uint64_t end;
		if (p->gpa % PAGE)
			return fail(c, E, IGVM_D_UNALIGNED_ADDRESS, idx, "gpa",
				    "gpa 0x%" PRIx64 " not page aligned", p->gpa);
		if ((rc = check_mask(c, h, p->compatibility_mask)))
			return rc;
		uint64_t *st = hmap_get(&c->areas, p->parameter_area_index);
		if (!st || (*st & AREA_INSERTED))
			return fail(c, IGVM_E_INVALID_PARAMETER_AREA_INDEX, IGVM_D_NONE, idx,
				    "parameter_area_index", "parameter area %u %s",
				    p->parameter_area_index, st ? "already inserted" : "not declared");
		uint64_t size = *st & ~AREA_INSERTED;
		if (!range_end(p->gpa, size, &end))
			return fail(c, E, IGVM_D_ADDRESS_OVERFLOW, idx, "gpa",
				    "area of 0x%" PRIx64 " bytes at 0x%" PRIx64 " wraps past 2^64",
				    size, p->gpa);
		for (size_t i = 0; i < c->n_pt; i++) {
			const struct region *r = &c->pt[i];
			if ((r->mask & p->compatibility_mask) && p->gpa < r->end && r->start < end)
				return fail(c, IGVM_E_PARAMETER_INSERT_INSIDE_PAGE_TABLE_REGION,
					    IGVM_D_NONE, idx, "gpa",
					    "insert [0x%" PRIx64 ", 0x%" PRIx64 ") overlaps page table "
					    "region of header %u", p->gpa, end, r->header_index);
		}
		*st |= AREA_INSERTED;
		h->insert_size = size;
		return add_import(c, h, p->gpa, end, p->compatibility_mask);
	}
	case IGVM_VHT_VP_CONTEXT:
		return parse_vp_context(c, h);
	case IGVM_VHT_REQUIRED_MEMORY: {
		const struct igvm_vhs_required_memory *r = &h->u.required_memory;
		uint64_t end;
		if (r->gpa % PAGE)
			return fail(c, E, IGVM_D_UNALIGNED_ADDRESS, idx, "gpa",
				    "gpa 0x%" PRIx64 " not page aligned", r->gpa);
		if (r->number_of_bytes % PAGE)
			return fail(c, E, IGVM_D_UNALIGNED_SIZE, idx, "number_of_bytes",
				    "size 0x%x is not a 4K multiple", r->number_of_bytes);
		if (r->reserved)
			return fail(c, E, IGVM_D_RESERVED_NOT_ZERO, idx, "reserved",
				    "reserved is 0x%x", r->reserved);
		if (r->flags & ~IGVM_REQUIRED_MEMORY_FLAGS_ALL)
			return fail(c, E, IGVM_D_RESERVED_NOT_ZERO, idx, "flags",
				    "reserved flag bits 0x%x", r->flags & ~IGVM_REQUIRED_MEMORY_FLAGS_ALL);
		if ((rc = check_mask(c, h, r->compatibility_mask)))
			return rc;
		if (!range_end(r->gpa, r->number_of_bytes, &end))
			return fail(c, E, IGVM_D_ADDRESS_OVERFLOW, idx, "number_of_bytes",
				    "range wraps past 2^64");
		return 0;
	}
	case IGVM_VHT_ERROR_RANGE: {
		const struct igvm_vhs_error_range *r = &h->u.error_range;
		uint64_t end;
		if (r->gpa % PAGE)
			return fail(c, E, IGVM_D_UNALIGNED_ADDRESS, idx, "gpa",
				    "gpa 0x%" PRIx64 " not page aligned", r->gpa);
		if (!r->size_bytes || r->size_bytes % PAGE)
			return fail(c, E, IGVM_D_UNALIGNED_SIZE, idx, "size_bytes",
				    "size 0x%x is not a nonzero 4K multiple", r->size_bytes);
		if (r->size_bytes > IGVM_MAX_PARAMETER_AREA_BYTES - c->synthetic_bytes)
			return fail(c, E, IGVM_D_INVALID_VALUE, idx, "size_bytes",
				    "size 0x%x exceeds the 1 GiB limit on parameter areas and "
				    "error ranges", r->size_bytes);
		c->synthetic_bytes += r->size_bytes;
		if ((rc = check_mask(c, h, r->compatibility_mask)))
			return rc;
		if (!range_end(r->gpa, r->size_bytes, &end))
			return fail(c, E, IGVM_D_ADDRESS_OVERFLOW, idx, "size_bytes",
				    "range wraps past 2^64");
		return add_import(c, h, r->gpa, end, r->compatibility_mask);
	}
	case IGVM_VHT_SNP_ID_BLOCK: {
		struct igvm_vhs_snp_id_block b;
		memcpy(&b, h->body, sizeof(b));
		if ((rc = check_mask(c, h, b.compatibility_mask)))
			return rc;
		if ((rc = check_mask_platform(c, h, b.compatibility_mask, IGVM_PLATFORM_SEV_SNP, E)))
			return rc;
		if (!all_zero(b.reserved, sizeof(b.reserved)) || b.id_public_key.reserved ||
		    b.author_public_key.reserved)
			return fail(c, E, IGVM_D_RESERVED_NOT_ZERO, idx, "reserved",
				    "SNP ID block reserved fields not zero");
		if (b.author_key_enabled > 1)
			return fail(c, E, IGVM_D_INVALID_VALUE, idx, "author_key_enabled",
				    "author_key_enabled %u (0 or 1)", b.author_key_enabled);
		return 0;
	}
	case IGVM_VHT_VBS_MEASUREMENT: {
		if ((rc = check_mask(c, h, h->u.compatibility_mask)))
			return rc;
		return check_mask_platform(c, h, h->u.compatibility_mask,
					   IGVM_PLATFORM_VSM_ISOLATION, E);
	}
	default:
		break;
	}
	return fail(c, E, IGVM_D_INVALID_VARIABLE_HEADER_TYPE, idx, "typ",
		    "unknown directive header type 0x%x", h->type);
}

/* ---- whole-file checks after the loop ---------------------------------------------------- */
static int cmp_region(const void *a, const void *b)
{
	const struct region *x = a, *y = b;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return 0;
}

/* Per platform bit, imported pages (page data, parameter inserts, error ranges, VMSAs) must
 * not overlap: the crate lets the later import silently win, which makes the launch digest
 * describe memory that differs from what the guest sees. O(32 n log n). */
static int check_imports(struct pctx *c)
{
	if (!c->n_imports)
		return 0;
	struct region *tmp = malloc(c->n_imports * sizeof(*tmp));
	if (!tmp)
		return fail(c, IGVM_E_NO_MEMORY, IGVM_D_NONE, -1, NULL, "out of memory");
	int rc = 0;
	for (int bit = 0; bit < 32 && !rc; bit++) {
		uint32_t m = 1u << bit;
		if (!(c->import_bits & m))
			continue;
		size_t n = 0;
		bool sorted = true;
		for (size_t i = 0; i < c->n_imports; i++) {
			if (!(c->imports[i].mask & m))
				continue;
			tmp[n] = c->imports[i];
			if (n && tmp[n].start < tmp[n - 1].start)
				sorted = false;
			n++;
		}
		if (!sorted)   /* files usually import in ascending GPA order: skip the sort */
			qsort(tmp, n, sizeof(*tmp), cmp_region);
		for (size_t i = 1; i < n; i++) {
			if (tmp[i].start < tmp[i - 1].end) {
				const struct region *a = &tmp[i - 1], *b = &tmp[i];
				const struct region *later = a->header_index > b->header_index ? a : b;
				const struct region *earlier = later == a ? b : a;
				rc = fail(c, IGVM_E_INVALID_BINARY_DIRECTIVE_HEADER, IGVM_D_GPA_OVERLAP,
					  (int)later->header_index, "gpa",
					  "pages [0x%" PRIx64 ", 0x%" PRIx64 ") overlap those of header %u "
					  "for platform mask bit 0x%x", later->start, later->end,
					  earlier->header_index, m);
				break;
			}
		}
	}
	free(tmp);
	return rc;
}

static int check_relocations(struct pctx *c)
{
	if (!c->n_regions)
		return 0;
	struct region *tmp = malloc(c->n_regions * sizeof(*tmp));
	if (!tmp)
		return fail(c, IGVM_E_NO_MEMORY, IGVM_D_NONE, -1, NULL, "out of memory");
	int rc = 0;
	/* Per mask bit: sort that bit's regions and compare neighbours -> O(32 n log n). */
	for (int bit = 0; bit < 32 && !rc; bit++) {
		size_t n = 0;
		for (size_t i = 0; i < c->n_regions; i++)
			if (c->regions[i].mask & (1u << bit))
				tmp[n++] = c->regions[i];
		qsort(tmp, n, sizeof(*tmp), cmp_region);
		for (size_t i = 1; i < n; i++) {
			if (tmp[i].start < tmp[i - 1].end) {
				rc = fail(c, IGVM_E_RELOCATION_REGIONS_OVERLAP, IGVM_D_NONE,
					  (int)tmp[i].header_index, "relocation_region_gpa",
					  "region [0x%" PRIx64 ", 0x%" PRIx64 ") overlaps the region of "
					  "header %u for mask bit 0x%x", tmp[i].start, tmp[i].end,
					  tmp[i - 1].header_index, 1u << bit);
				break;
			}
		}
	}
	free(tmp);
	if (rc)
		return rc;
	/* Every relocation header needs a VBS VP context of the same vp/vtl and a common bit. */
	for (size_t i = 0; i < c->n_regions; i++) {
		const struct region *r = &c->regions[i];
		bool found = false;
		for (int bit = 0; bit < 32 && !found; bit++) {
			if (!(r->mask & (1u << bit)))
				continue;
			uint64_t key = ((uint64_t)bit << 32) | ((uint64_t)r->vp_index << 8) | r->vtl;
			uint64_t *t = hmap_get(&c->vps, key);
			found = t && *t == IGVM_PLATFORM_VSM_ISOLATION;
		}
		if (!found)
			return fail(c, IGVM_E_NO_MATCHING_VP_CONTEXT, IGVM_D_NONE,
				    (int)r->header_index, "vp_index",
				    "no VBS VP context for vp %u vtl %u under mask 0x%x", r->vp_index,
				    r->vtl, r->mask);
	}
	return 0;
}

static void apply_filter(struct igvm_file *f, uint32_t filter)
{
	size_t n = 0;
	for (size_t i = 0; i < f->n_headers; i++) {
		const struct igvm_header *h = &f->headers[i];
		if (h->section == IGVM_SECTION_PLATFORM || igvm_header_applies(h, filter))
			f->headers[n++] = *h;
	}
	f->n_headers = n;
}

/* ---- main loop -------------------------------------------------------------------------- */
static int parse_headers(struct pctx *c)
{
	struct igvm_file *f = c->f;
	uint64_t off = f->variable_header_offset;
	uint64_t end = off + f->variable_header_size;
	enum igvm_section cur = IGVM_SECTION_PLATFORM;
	/* Each header occupies at least 16 bytes: bounds the array, which grows by doubling so
	 * memory follows the headers actually present. */
	size_t max = (size_t)(f->variable_header_size / 16) + 1, cap = 0;
	int rc;

	while (off < end) {
		uint32_t idx = (uint32_t)f->n_headers;
		int iidx = (int)idx;
		if (end - off < sizeof(struct igvm_vhs_variable_header))
			return fail(c, IGVM_E_INVALID_BINARY_VARIABLE_HEADER_SECTION,
				    IGVM_D_INVALID_VARIABLE_HEADER_SIZE, iidx, NULL,
				    "truncated TLV header at offset %" PRIu64, off);
		uint32_t typ = rd32(c->buf + off), length = rd32(c->buf + off + 4);
		if (typ & IGVM_VHT_OPTIONAL_BIT)
			return fail(c, IGVM_E_INVALID_BINARY_VARIABLE_HEADER_SECTION,
				    IGVM_D_INVALID_VARIABLE_HEADER_TYPE, iidx, "typ",
				    "type 0x%x has the optional bit set (unsupported, as in the "
				    "reference)", typ);
		enum igvm_section sec;
		if (typ >= IGVM_VHT_RANGE_PLATFORM_START && typ <= IGVM_VHT_RANGE_PLATFORM_END)
			sec = IGVM_SECTION_PLATFORM;
		else if (typ >= IGVM_VHT_RANGE_INIT_START && typ <= IGVM_VHT_RANGE_INIT_END)
			sec = IGVM_SECTION_INITIALIZATION;
		else if (typ >= IGVM_VHT_RANGE_DIRECTIVE_START && typ <= IGVM_VHT_RANGE_DIRECTIVE_END)
			sec = IGVM_SECTION_DIRECTIVE;
		else
			return fail(c, IGVM_E_INVALID_BINARY_VARIABLE_HEADER_SECTION,
				    IGVM_D_INVALID_VARIABLE_HEADER_TYPE, iidx, "typ",
				    "type 0x%x is in no header section", typ);
		if (sec < cur)
			return fail(c, IGVM_E_INVALID_BINARY_VARIABLE_HEADER_SECTION, IGVM_D_NONE, iidx,
				    "typ", "%s header 0x%x after a later section",
				    sec == IGVM_SECTION_PLATFORM ? "platform" : "initialization", typ);
		cur = sec;
		const struct type_info *ti = type_lookup(typ);
		if (!ti)
			return fail(c, igvm_section_errc(sec), IGVM_D_INVALID_VARIABLE_HEADER_TYPE, iidx,
				    "typ", "unknown header type 0x%x", typ);
		if (length != ti->size)
			return fail(c, igvm_section_errc(sec), IGVM_D_INVALID_VARIABLE_HEADER_TYPE, iidx,
				    "length", "%s body length %u, must be %u", ti->name, length,
				    ti->size);
		uint64_t foot = 8 + (((uint64_t)length + 7) & ~7ull);
		if (foot > end - off)
			return fail(c, igvm_section_errc(sec), IGVM_D_INVALID_VARIABLE_HEADER_SIZE, iidx,
				    "length", "%s header (%" PRIu64 " bytes with padding) runs past the "
				    "variable header section", ti->name, foot);
		if (!all_zero(c->buf + off + 8 + length, foot - 8 - length))
			return fail(c, igvm_section_errc(sec), IGVM_D_RESERVED_NOT_ZERO, iidx, "padding",
				    "%s padding bytes not zero", ti->name);

		if (f->n_headers == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			if (ncap > max)
				ncap = max;
			struct igvm_header *nh = realloc(f->headers, ncap * sizeof(*nh));
			if (!nh)
				return fail(c, IGVM_E_NO_MEMORY, IGVM_D_NONE, iidx, NULL, "out of memory");
			f->headers = nh;
			cap = ncap;
		}
		struct igvm_header *h = &f->headers[f->n_headers++];
		memset(h, 0, sizeof(*h));
		h->type = typ;
		h->section = sec;
		h->index = idx;
		h->offset = (uint32_t)off;
		h->length = length;
		h->body = c->buf + off + 8;
		memcpy(&h->u, h->body, length < sizeof(h->u) ? length : sizeof(h->u));

		if (sec == IGVM_SECTION_PLATFORM)
			rc = parse_platform(c, h);
		else if (sec == IGVM_SECTION_INITIALIZATION)
			rc = parse_init(c, h);
		else
			rc = parse_directive(c, h);
		if (rc)
			return rc;
		off += foot;
	}
	if (!f->n_platforms)
		return fail(c, IGVM_E_NO_PLATFORM_HEADERS, IGVM_D_NONE, -1, NULL,
			    "no platform headers");
	rc = check_imports(c);
	if (rc)
		return rc;
	return check_relocations(c);
}

int igvm_parse(const uint8_t *buf, size_t len, const struct igvm_parse_opts *opts,
	       struct igvm_file **out, struct igvm_error *err)
{
	struct pctx c = { .buf = buf, .len = len, .err = err };
	int rc;

	if (err) {
		memset(err, 0, sizeof(*err));
		err->header_index = -1;
	}
	if (!out)
		return fail(&c, IGVM_E_INVALID_PARAMETER, IGVM_D_NONE, -1, NULL, "out is NULL");
	*out = NULL;
	if (!buf && len)
		return fail(&c, IGVM_E_INVALID_PARAMETER, IGVM_D_NONE, -1, NULL, "buf is NULL");
	if (!buf)
		return fail(&c, IGVM_E_NO_DATA, IGVM_D_NONE, -1, NULL, "empty input");
	c.flags = opts ? opts->flags : 0;
	c.f = calloc(1, sizeof(*c.f));
	if (!c.f)
		return fail(&c, IGVM_E_NO_MEMORY, IGVM_D_NONE, -1, NULL, "out of memory");
	if (c.flags & IGVM_PARSE_COPY) {
		c.f->owned_copy = malloc(len ? len : 1);
		if (!c.f->owned_copy) {
			free(c.f);
			return fail(&c, IGVM_E_NO_MEMORY, IGVM_D_NONE, -1, NULL, "out of memory");
		}
		memcpy(c.f->owned_copy, buf, len);
		c.buf = c.f->owned_copy;
	}
	c.f->bytes = c.buf;
	c.f->len = len;

	rc = parse_fixed(&c);
	if (!rc)
		rc = parse_headers(&c);
	hmap_free(&c.areas);
	hmap_free(&c.vps);
	free(c.regions);
	free(c.imports);
	if (rc) {
		igvm_free(c.f);
		return rc;
	}
	if (opts && opts->filter_mask)
		apply_filter(c.f, opts->filter_mask);
	*out = c.f;
	return IGVM_OK;
}

void igvm_free(struct igvm_file *f)
{
	if (!f)
		return;
	free(f->headers);
	free(f->owned_copy);
	free(f);
}
