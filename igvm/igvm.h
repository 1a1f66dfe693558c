/*
 * IGVM parser/validator: turns untrusted file bytes into a read-only parsed model.
 * Format facts: /work/shared/docs/igvm-facts.md; layouts in igvm/igvm_format.h.
 *
 * Validation follows the reference crate (§9) and is STRICTER where the crate is lax:
 * nonzero padding/gap bytes, reserved flag bits, misaligned or too-small
 * variable_header_offset, data offsets inside the header region, overflowing GPA ranges,
 * parameter offsets past their area, 2 MiB pages with less than 2 MiB of data (the crate
 * reads 4 KiB of them), two platforms sharing a mask bit, ... are rejected. Every rejection names the header index, the field and the reason.
 */
#ifndef MEZZ_IGVM_H
#define MEZZ_IGVM_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "igvm/igvm_format.h"

/* Finer reason of a rejection (mirrors the crate's BinaryHeaderError kinds plus ours). */
enum igvm_detail {
	IGVM_D_NONE = 0,
	IGVM_D_INVALID_VARIABLE_HEADER_TYPE,   /* unknown type or body length != sizeof */
	IGVM_D_INVALID_VARIABLE_HEADER_SIZE,   /* TLV (incl. padding) runs past the section */
	IGVM_D_INVALID_DATA_SIZE,              /* file data range outside the file-data section */
	IGVM_D_UNALIGNED_ADDRESS,
	IGVM_D_UNALIGNED_SIZE,
	IGVM_D_RESERVED_NOT_ZERO,              /* reserved field, reserved bits, padding, gap */
	IGVM_D_INVALID_PAGE_DATA_TYPE,
	IGVM_D_INVALID_VP_CONTEXT_PLATFORM_TYPE,
	IGVM_D_INVALID_PLATFORM_TYPE,
	IGVM_D_INVALID_PLATFORM_VERSION,
	IGVM_D_INVALID_VTL,
	IGVM_D_INVALID_COMPATIBILITY_MASK,
	IGVM_D_INVALID_SHARED_GPA_BOUNDARY,
	IGVM_D_ADDRESS_OVERFLOW,               /* gpa + size wraps past 2^64 */
	IGVM_D_INVALID_VALUE,                  /* any other out-of-range field value */
	IGVM_D_DUPLICATE,                      /* second header where only one is allowed */
	IGVM_D_UNSUPPORTED,                    /* valid per spec but deliberately refused */
	IGVM_D_GPA_OVERLAP,                    /* two imports of one guest page for one platform */
};

struct igvm_error {
	enum igvm_errc code;       /* IGVM_OK when no error */
	enum igvm_detail detail;
	int header_index;          /* 0-based variable header index; -1 = fixed header / file */
	const char *field;         /* static field name, or NULL */
	char reason[160];
};

/* igvm_parse_opts.flags */
#define IGVM_PARSE_COPY          0x1u  /* copy the buffer: the file does not borrow `buf` */
#define IGVM_PARSE_STRICT_MASKS  0x2u  /* reject masks naming no known platform (crate: lax) */

/* Sanity limit (ours): parameter areas hold tables/DTs and error ranges a few pages; the SUM
 * of all parameter area sizes, error range sizes and data-less 2 MiB pages in a file must not
 * exceed this, so that a hostile file cannot make measurement iterate over billions of
 * data-less pages (data-less 4 KiB pages cost a 32-byte header each, so need no limit). */
#define IGVM_MAX_PARAMETER_AREA_BYTES (1ull << 30)

struct igvm_parse_opts {
	unsigned flags;
	/* Nonzero: after validation drop init/directive headers whose mask does not intersect
	 * it (the crate's `new_from_binary(file, Some(isolation))`); mask-less headers stay. */
	uint32_t filter_mask;
};

/* One variable header, decoded. Body fields in `u` are host copies of the file bytes. */
struct igvm_header {
	uint32_t type;               /* IGVM_VHT_* (optional bit never set: such files are rejected) */
	enum igvm_section section;
	uint32_t index;              /* 0-based position in file order (before any filtering) */
	uint32_t offset;             /* file offset of the 8-byte TLV header */
	uint32_t length;             /* body length */
	const uint8_t *body;         /* the body bytes inside the file (unaligned) */
	/* File data referenced by the header, validated to lie in the file-data section:
	 * PAGE_DATA: 4096 bytes, 2 MiB (0x200000) with IS_2MB_PAGE (NULL when file_offset == 0,
	 *   i.e. zero pages); a 2 MiB page is 512 4 KiB pages at gpa + i*4096, data slice i;
	 * PARAMETER_AREA: number_of_bytes (NULL when zero-filled);
	 * VP_CONTEXT: 4096 bytes (SNP/SEV-ES VMSA, native, CCA) or 4 + 32*n bytes (VBS);
	 * CORIM_*: size_bytes. NULL/0 for everything else. */
	const uint8_t *data;
	uint64_t data_len;
	/* VP_CONTEXT only: platform type owning the mask and (VBS) the registers' VTL. */
	uint8_t vp_platform;
	uint8_t vp_vtl;
	/* PARAMETER_INSERT only: number_of_bytes of the inserted area. */
	uint64_t insert_size;
	union {
		struct igvm_vhs_supported_platform platform;
		struct igvm_vhs_guest_policy guest_policy;
		struct igvm_vhs_relocatable_region reloc;
		struct igvm_vhs_page_table_relocation pt_reloc;
		struct igvm_vhs_corim_data corim;
		struct igvm_vhs_cca_policy cca_policy;
		struct igvm_vhs_parameter_area param_area;
		struct igvm_vhs_page_data page_data;
		struct igvm_vhs_parameter_insert param_insert;
		struct igvm_vhs_vp_context vp_context;
		struct igvm_vhs_required_memory required_memory;
		struct igvm_vhs_error_range error_range;
		struct igvm_vhs_parameter parameter;
		/* SNP_ID_BLOCK / VBS_MEASUREMENT are large: only their mask is copied here; read
		 * the whole structure with igvm_header_snp_id_block() / igvm_header_vbs_measurement(). */
		uint32_t compatibility_mask;
	} u;
};

struct igvm_platform_info {
	uint32_t mask;                 /* exactly one bit */
	enum igvm_platform type;
	uint8_t highest_vtl;
	uint16_t version;
	uint64_t shared_gpa_boundary;
	uint32_t header_index;
};

/* The parsed file. Public, read-only for users; freed with igvm_free(). */
struct igvm_file {
	uint32_t format_version;       /* 1 or 2 */
	enum igvm_arch arch;           /* v1: X64 */
	uint32_t page_size;            /* 4096 */
	uint32_t variable_header_offset;
	uint32_t variable_header_size;
	uint32_t total_file_size;
	uint32_t checksum;
	uint32_t file_data_offset;     /* variable_header_offset + variable_header_size */
	const uint8_t *bytes;          /* the whole file (borrowed unless IGVM_PARSE_COPY) */
	size_t len;
	size_t n_headers;
	struct igvm_header *headers;   /* file order (filtered if opts.filter_mask) */
	size_t n_platforms;
	struct igvm_platform_info platforms[IGVM_MAX_PLATFORMS];
	uint8_t *owned_copy;           /* private */
};

/*
 * Parse and validate `buf[0..len)`. On success *out owns a new model (free with igvm_free)
 * and IGVM_OK is returned. On failure returns the error code (< 0), *out is NULL and *err
 * (if non-NULL) says which header, which field and why. opts may be NULL (defaults).
 * Unless IGVM_PARSE_COPY, the model points into `buf`, which must outlive it. Every size and
 * count is validated once and kept in the model (data_len, insert_size, ...); the library
 * never re-reads one from `buf`, so later changes to buf cannot make it read out of bounds.
 */
int igvm_parse(const uint8_t *buf, size_t len, const struct igvm_parse_opts *opts,
	       struct igvm_file **out, struct igvm_error *err);
void igvm_free(struct igvm_file *file);

const char *igvm_strerror(enum igvm_errc code);
const char *igvm_detail_str(enum igvm_detail detail);
/* Name of a header type ("PAGE_DATA"), or NULL when unknown. */
const char *igvm_header_type_name(uint32_t type);
/* Name of a platform type ("SEV_SNP"), or NULL when unknown. */
const char *igvm_platform_name(unsigned platform_type);
/* One-line rendering: "header 3 (PAGE_DATA) file_offset: <reason> [code/detail]". */
int igvm_error_format(const struct igvm_error *err, char *buf, size_t size);
/* Fill *err (no-op when err is NULL) with code, detail, index, field and a printf reason;
 * shared by the parser, builder and measurement so every error is filled the same way. */
void igvm_error_vset(struct igvm_error *err, enum igvm_errc code, enum igvm_detail detail,
		     int header_index, const char *field, const char *fmt, va_list ap)
	__attribute__((format(printf, 6, 0)));
/* The "invalid binary <section> header" code for a header of section s. */
enum igvm_errc igvm_section_errc(enum igvm_section s);

/* Header access. */
size_t igvm_header_count(const struct igvm_file *file);
const struct igvm_header *igvm_header_at(const struct igvm_file *file, size_t i);
/* Next header of `section` after `prev` (NULL = from the start), or NULL. */
const struct igvm_header *igvm_header_next(const struct igvm_file *file,
					   const struct igvm_header *prev,
					   enum igvm_section section);
/* The header's compatibility mask; false when the type has none (applies to all). */
bool igvm_header_mask(const struct igvm_header *hdr, uint32_t *mask);
/* Whether `type` is one of the parameter directives (VP_COUNT ... ENVIRONMENT_INFO, §6.10). */
bool igvm_is_parameter_type(uint32_t type);
/* Whether the header applies to a platform with `platform_mask` (mask-less: always). */
bool igvm_header_applies(const struct igvm_header *hdr, uint32_t platform_mask);
/* Platform header of the given type, or NULL. */
const struct igvm_platform_info *igvm_find_platform(const struct igvm_file *file,
						    enum igvm_platform type);
/* Registers in a VBS VP context (from the validated data_len: users must not re-read the
 * count from the borrowed file bytes, which may have changed since parsing), else 0. */
uint32_t igvm_header_vbs_register_count(const struct igvm_header *hdr);
/* Full copies of the large bodies; return false if hdr has another type. */
bool igvm_header_snp_id_block(const struct igvm_header *hdr, struct igvm_vhs_snp_id_block *out);
bool igvm_header_vbs_measurement(const struct igvm_header *hdr,
				 struct igvm_vhs_vbs_measurement *out);

/*
 * §3 checksum of a file image whose fixed header is at buf[0]: CRC-32 of the fixed header
 * with checksum 0, followed by the variable header section. Checks only that the fixed
 * header and the section lie inside buf. For writers (and for tests).
 */
int igvm_compute_checksum(const uint8_t *buf, size_t len, uint32_t *crc);

#endif /* MEZZ_IGVM_H */
