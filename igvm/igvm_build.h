/*
 * IGVM builder: collect headers and payloads, then serialise them exactly as the reference
 * (Rust `igvm` crate) writer does (igvm-facts.md §8, §7):
 *   - fixed header (24 bytes v1, 32 bytes v2), variable headers right after it;
 *   - headers in order platforms, initialization, directives, each in the order added;
 *   - every header a TLV with length = sizeof(body), zero padded to 8;
 *   - file data right after the header section: blobs of init headers, then directives, in
 *     order, identical blobs deduplicated (same bytes -> same file offset);
 *   - page data padded to 4096 (2 MiB pages: to 2 MiB), parameter-area data to
 *     number_of_bytes, SNP VMSA / native / CCA contexts to 4096, VBS register lists unpadded;
 *     empty data -> file_offset 0;
 *   - CRC32 over fixed header (checksum 0) + header section.
 *
 * Inputs are checked when added (alignment, single-bit masks, reserved bits, value ranges);
 * a failure returns -EINVAL (or -ENOMEM, -E2BIG) and fills the igvm_error with the index of
 * the offending header (in output order within its section) and a reason. Cross-header rules
 * (platform present, masks known, parameter-area life cycle, VP context kinds) are checked by
 * igvm_build_write(), which also runs the library's parser/validator on the result so that
 * everything it returns loads.
 */
#ifndef IGVM_IGVM_BUILD_H
#define IGVM_IGVM_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include "igvm/igvm_format.h"

struct igvm_error;
struct igvm_builder;

/* The builder's names for on-disk values. Each one is the igvm_format.h constant (the single
 * definition of the number, cited there); the aliases keep the builder API self-describing. */

/* Fixed-header architecture values (§2.2). */
enum igvm_build_arch {
	IGVM_BUILD_ARCH_X64 = IGVM_ARCH_X64,
	IGVM_BUILD_ARCH_AARCH64 = IGVM_ARCH_AARCH64,
};

/* Parameter header types that take {area index, byte offset} (§6.10). */
enum igvm_build_param {
	IGVM_BUILD_PARAM_VP_COUNT = IGVM_VHT_VP_COUNT_PARAMETER,
	IGVM_BUILD_PARAM_SRAT = IGVM_VHT_SRAT,
	IGVM_BUILD_PARAM_MADT = IGVM_VHT_MADT,
	IGVM_BUILD_PARAM_MMIO_RANGES = IGVM_VHT_MMIO_RANGES,
	IGVM_BUILD_PARAM_MEMORY_MAP = IGVM_VHT_MEMORY_MAP,
	IGVM_BUILD_PARAM_COMMAND_LINE = IGVM_VHT_COMMAND_LINE,
	IGVM_BUILD_PARAM_SLIT = IGVM_VHT_SLIT,
	IGVM_BUILD_PARAM_PPTT = IGVM_VHT_PPTT,
	IGVM_BUILD_PARAM_DEVICE_TREE = IGVM_VHT_DEVICE_TREE,
	IGVM_BUILD_PARAM_ENVIRONMENT_INFO = IGVM_VHT_ENVIRONMENT_INFO_PARAMETER,
};

/* Page data flags and types (§6.8). */
#define IGVM_BUILD_PAGE_2MB IGVM_PAGE_FLAG_IS_2MB_PAGE
#define IGVM_BUILD_PAGE_UNMEASURED IGVM_PAGE_FLAG_UNMEASURED
#define IGVM_BUILD_PAGE_SHARED IGVM_PAGE_FLAG_SHARED
enum igvm_build_page_type {
	IGVM_BUILD_PAGE_NORMAL = IGVM_PAGE_DATA_NORMAL,
	IGVM_BUILD_PAGE_SECRETS = IGVM_PAGE_DATA_SECRETS,
	IGVM_BUILD_PAGE_CPUID_DATA = IGVM_PAGE_DATA_CPUID_DATA,
	IGVM_BUILD_PAGE_CPUID_XF = IGVM_PAGE_DATA_CPUID_XF,
};

/* Platform types (§6.1). */
enum igvm_build_platform_type {
	IGVM_BUILD_PLATFORM_NATIVE = IGVM_PLATFORM_NATIVE,
	IGVM_BUILD_PLATFORM_VSM = IGVM_PLATFORM_VSM_ISOLATION,
	IGVM_BUILD_PLATFORM_SEV_SNP = IGVM_PLATFORM_SEV_SNP,
	IGVM_BUILD_PLATFORM_TDX = IGVM_PLATFORM_TDX,
	IGVM_BUILD_PLATFORM_SEV = IGVM_PLATFORM_SEV,
	IGVM_BUILD_PLATFORM_SEV_ES = IGVM_PLATFORM_SEV_ES,
	IGVM_BUILD_PLATFORM_CCA = IGVM_PLATFORM_CCA,
};

/* Relocatable region flags (§6.3). */
#define IGVM_BUILD_RELOC_IS_VTL2 IGVM_RELOC_FLAG_IS_VTL2
#define IGVM_BUILD_RELOC_APPLY_PC IGVM_RELOC_FLAG_APPLY_PC
#define IGVM_BUILD_RELOC_APPLY_GDTR IGVM_RELOC_FLAG_APPLY_GDTR

/* Required memory flags (§6.12). */
#define IGVM_BUILD_REQMEM_VTL2_PROTECTABLE IGVM_REQUIRED_MEMORY_FLAG_VTL2_PROTECTABLE

/* Corim headers (§6.5). */
#define IGVM_BUILD_CORIM_DOCUMENT IGVM_VHT_CORIM_DOCUMENT
#define IGVM_BUILD_CORIM_SIGNATURE IGVM_VHT_CORIM_SIGNATURE

struct igvm_build_platform {
	uint32_t compatibility_mask; /* exactly one bit */
	uint8_t highest_vtl;         /* 0 or 2 */
	uint8_t platform_type;       /* enum igvm_build_platform_type */
	uint16_t platform_version;   /* 1 */
	uint64_t shared_gpa_boundary;
};

struct igvm_build_cca_policy {
	uint32_t compatibility_mask;
	uint64_t attributes_required_zeroes;
	uint64_t attributes_required_ones;
	uint8_t hash_algorithm; /* 0 SHA256, 1 SHA512, 2 SHA384 */
	uint8_t lfa_policy;     /* 0 disallow, 1 allow */
};

struct igvm_build_reloc_region {
	uint32_t compatibility_mask;
	uint16_t vp_index;
	uint8_t vtl;
	uint8_t flags; /* IGVM_BUILD_RELOC_* */
	uint64_t relocation_alignment;
	uint64_t relocation_region_gpa;
	uint64_t relocation_region_size;
	uint64_t minimum_relocation_gpa;
	uint64_t maximum_relocation_gpa;
};

struct igvm_build_pt_reloc {
	uint32_t compatibility_mask;
	uint16_t vp_index;
	uint8_t vtl;
	uint64_t gpa;
	uint64_t size;
	uint64_t used_size;
};

struct igvm_build_page {
	uint64_t gpa;
	uint32_t compatibility_mask;
	uint32_t flags;     /* IGVM_BUILD_PAGE_2MB | _UNMEASURED | _SHARED */
	uint16_t data_type; /* enum igvm_build_page_type */
};

/* One VBS VP register record (§6.11.2); all records of a context share the context's vtl. */
struct igvm_build_vbs_reg {
	uint32_t name;
	uint8_t value[16];
};

struct igvm_build_snp_id_block {
	uint32_t compatibility_mask;
	uint8_t author_key_enabled; /* 0 or 1 */
	uint8_t reserved[3];
	uint8_t ld[48];
	uint8_t family_id[16];
	uint8_t image_id[16];
	uint32_t version;
	uint32_t guest_svn;
	uint32_t id_key_algorithm;
	uint32_t author_key_algorithm;
	uint8_t id_key_signature[144];     /* r[72] s[72] */
	uint8_t id_public_key[152];        /* curve, reserved, qx[72], qy[72] */
	uint8_t author_key_signature[144];
	uint8_t author_public_key[152];
};

struct igvm_build_vbs_measurement {
	uint32_t compatibility_mask;
	uint32_t version;
	uint32_t product_id;
	uint32_t module_id;
	uint32_t security_version;
	uint32_t policy_flags;
	uint32_t boot_digest_algo;
	uint32_t signing_algo;
	uint8_t boot_measurement_digest[64];
	uint8_t signature[256];
	uint8_t public_key[512];
};

/* Largest file the builder produces: file offsets and total_file_size are u32. */
#define IGVM_BUILD_MAX_FILE 0xFFFFFFFFull

/*
 * Create a builder. format_version 1 (arch must be X64) or 2 (X64 or AARCH64). Returns 0,
 * -EINVAL (bad version/arch) or -ENOMEM.
 */
int igvm_build_new(uint32_t format_version, uint32_t arch, struct igvm_builder **out);
void igvm_build_free(struct igvm_builder *b);

/* Platform section. */
int igvm_build_add_platform(struct igvm_builder *b, const struct igvm_build_platform *p,
			    struct igvm_error *err);

/* Initialization section. */
int igvm_build_add_guest_policy(struct igvm_builder *b, uint64_t policy, uint32_t mask,
				struct igvm_error *err);
int igvm_build_add_cca_policy(struct igvm_builder *b, const struct igvm_build_cca_policy *p,
			      struct igvm_error *err);
int igvm_build_add_relocatable_region(struct igvm_builder *b,
				      const struct igvm_build_reloc_region *r,
				      struct igvm_error *err);
int igvm_build_add_page_table_relocation(struct igvm_builder *b,
					 const struct igvm_build_pt_reloc *r,
					 struct igvm_error *err);
/* type is IGVM_BUILD_CORIM_DOCUMENT or IGVM_BUILD_CORIM_SIGNATURE; data must be non-empty. */
int igvm_build_add_corim(struct igvm_builder *b, uint32_t type, uint32_t mask, const void *data,
			 size_t len, struct igvm_error *err);

/* Directive section (order is significant: it is the load/measurement order). */
/*
 * len 0 -> file_offset 0 (zero page); else 1..4096 bytes, zero padded to 4096. With
 * IGVM_BUILD_PAGE_2MB: gpa 2 MiB aligned, 1..2 MiB bytes zero padded to 2 MiB (the file holds
 * the whole 2 MiB; measured as 512 4 KiB pages).
 */
int igvm_build_add_page_data(struct igvm_builder *b, const struct igvm_build_page *pg,
			     const void *data, size_t len, struct igvm_error *err);
/* number_of_bytes: non-zero 4 KiB multiple; initial data len 0 (-> file_offset 0) or <= it. */
int igvm_build_add_parameter_area(struct igvm_builder *b, uint32_t index,
				  uint64_t number_of_bytes, const void *initial, size_t len,
				  struct igvm_error *err);
int igvm_build_add_parameter(struct igvm_builder *b, enum igvm_build_param type, uint32_t index,
			     uint32_t byte_offset, struct igvm_error *err);
int igvm_build_add_parameter_insert(struct igvm_builder *b, uint64_t gpa, uint32_t mask,
				    uint32_t index, struct igvm_error *err);
int igvm_build_add_required_memory(struct igvm_builder *b, uint64_t gpa, uint32_t mask,
				   uint32_t number_of_bytes, uint32_t flags,
				   struct igvm_error *err);
int igvm_build_add_error_range(struct igvm_builder *b, uint64_t gpa, uint32_t mask,
			       uint32_t size_bytes, struct igvm_error *err);
/* SNP / SEV-ES VMSA page (1..4096 bytes, zero padded) at a page-aligned gpa. */
int igvm_build_add_vp_snp(struct igvm_builder *b, uint64_t gpa, uint32_t mask, uint16_t vp_index,
			  const void *vmsa, size_t len, struct igvm_error *err);
/* Native / SEV x64 context (IgvmNativeVpContextX64, 1..4096 bytes, zero padded). */
int igvm_build_add_vp_native_x64(struct igvm_builder *b, uint32_t mask, uint16_t vp_index,
				 const void *ctx, size_t len, struct igvm_error *err);
/* CCA context (IgvmVpContextAArch64Cca, 1..4096 bytes, zero padded). */
int igvm_build_add_vp_cca(struct igvm_builder *b, uint32_t mask, uint16_t vp_index,
			  const void *ctx, size_t len, struct igvm_error *err);
/* VBS register list (1..n registers, vtl 0..2). The crate always uses vp_index 0. */
int igvm_build_add_vp_vbs(struct igvm_builder *b, uint32_t mask, uint16_t vp_index, uint8_t vtl,
			  const struct igvm_build_vbs_reg *regs, size_t n, struct igvm_error *err);
int igvm_build_add_snp_id_block(struct igvm_builder *b, const struct igvm_build_snp_id_block *id,
				struct igvm_error *err);
int igvm_build_add_vbs_measurement(struct igvm_builder *b,
				   const struct igvm_build_vbs_measurement *m,
				   struct igvm_error *err);

/* Number of headers added so far (all sections). */
size_t igvm_build_header_count(const struct igvm_builder *b);

/*
 * Upper bound of the size igvm_build_write() would produce now (file data counted before
 * deduplication). Lets callers refuse oversized images before the writer allocates them.
 */
uint64_t igvm_build_size_bound(const struct igvm_builder *b);

/*
 * Serialise. On success *buf is a malloc'ed image of *len bytes (caller frees) that the
 * library's parser accepts. Returns 0, -EINVAL (cross-header rule broken or the result does not
 * validate; err says which header and why), -E2BIG (over 4 GiB) or -ENOMEM.
 */
int igvm_build_write(const struct igvm_builder *b, uint8_t **buf, size_t *len,
		     struct igvm_error *err);

#endif
