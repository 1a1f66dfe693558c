/*
 * IGVM on-disk format: every structure and constant of the file format.
 * Source of all numbers: /work/shared/docs/igvm-facts.md (section numbers cited as §n).
 *
 * All integers are little-endian; the structures below are the exact byte layouts and may be
 * memcpy'd from/to file bytes on a little-endian host (the only kind we build for).
 * Two structures are not naturally aligned on disk: the VP context (20 bytes, 4-aligned, §6.11)
 * and the VBS register record (packed, §6.11.2); they carry GNU packed attributes.
 */
#ifndef MEZZ_IGVM_FORMAT_H
#define MEZZ_IGVM_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "igvm_format.h structures assume a little-endian host"
#endif

/* ---- §1 general ---------------------------------------------------------------------- */
#define IGVM_PAGE_SIZE_4K        4096u
#define IGVM_PAGE_SIZE_2M        0x200000u
#define IGVM_HEADER_ALIGN        8u          /* every structure starts 8-aligned (§4.1) */

/* ---- §2 fixed header ------------------------------------------------------------------ */
#define IGVM_MAGIC               0x4D564749u /* "IGVM" as LE u32 */
#define IGVM_FORMAT_VERSION_1    1u
#define IGVM_FORMAT_VERSION_2    2u

enum igvm_arch {
	IGVM_ARCH_X64     = 0,
	IGVM_ARCH_AARCH64 = 1,
};

/* §2.1 version 1, 24 bytes */
struct igvm_fixed_header {
	uint32_t magic;
	uint32_t format_version;
	uint32_t variable_header_offset;
	uint32_t variable_header_size;
	uint32_t total_file_size;
	uint32_t checksum;
};
_Static_assert(sizeof(struct igvm_fixed_header) == 24, "§2.1 IGVM_FIXED_HEADER is 24 bytes");
_Static_assert(offsetof(struct igvm_fixed_header, format_version) == 0x04, "§2.1");
_Static_assert(offsetof(struct igvm_fixed_header, variable_header_offset) == 0x08, "§2.1");
_Static_assert(offsetof(struct igvm_fixed_header, variable_header_size) == 0x0C, "§2.1");
_Static_assert(offsetof(struct igvm_fixed_header, total_file_size) == 0x10, "§2.1");
_Static_assert(offsetof(struct igvm_fixed_header, checksum) == 0x14, "§2.1");

/* §2.2 version 2, 32 bytes */
struct igvm_fixed_header_v2 {
	uint32_t magic;
	uint32_t format_version;
	uint32_t variable_header_offset;
	uint32_t variable_header_size;
	uint32_t total_file_size;
	uint32_t checksum;
	uint32_t architecture;   /* enum igvm_arch */
	uint32_t page_size;      /* must be 4096 */
};
_Static_assert(sizeof(struct igvm_fixed_header_v2) == 32, "§2.2 IGVM_FIXED_HEADER_V2 is 32 bytes");
_Static_assert(offsetof(struct igvm_fixed_header_v2, checksum) == 0x14, "§2.2");
_Static_assert(offsetof(struct igvm_fixed_header_v2, architecture) == 0x18, "§2.2");
_Static_assert(offsetof(struct igvm_fixed_header_v2, page_size) == 0x1C, "§2.2");

#define IGVM_FIXED_HEADER_V1_SIZE 24u
#define IGVM_FIXED_HEADER_V2_SIZE 32u
#define IGVM_FIXED_HEADER_CHECKSUM_OFFSET 0x14u

/* ---- §4 variable header section ------------------------------------------------------- */
/* §4.1 TLV framing, 8 bytes; length = body size only, next header at 8 + align8(length) */
struct igvm_vhs_variable_header {
	uint32_t typ;
	uint32_t length;
};
_Static_assert(sizeof(struct igvm_vhs_variable_header) == 8, "§4.1 TLV header is 8 bytes");
_Static_assert(offsetof(struct igvm_vhs_variable_header, length) == 4, "§4.1");

#define IGVM_VHT_OPTIONAL_BIT    0x80000000u  /* §4.2 */

/* §4.2 type ranges */
#define IGVM_VHT_RANGE_PLATFORM_START   0x001u
#define IGVM_VHT_RANGE_PLATFORM_END     0x100u
#define IGVM_VHT_RANGE_INIT_START       0x101u
#define IGVM_VHT_RANGE_INIT_END         0x200u
#define IGVM_VHT_RANGE_DIRECTIVE_START  0x301u
#define IGVM_VHT_RANGE_DIRECTIVE_END    0x400u

enum igvm_section {
	IGVM_SECTION_PLATFORM       = 0,
	IGVM_SECTION_INITIALIZATION = 1,
	IGVM_SECTION_DIRECTIVE      = 2,
};

/* §4.3 header types */
#define IGVM_VHT_INVALID                         0x000u
#define IGVM_VHT_SUPPORTED_PLATFORM              0x001u
#define IGVM_VHT_GUEST_POLICY                    0x101u
#define IGVM_VHT_RELOCATABLE_REGION              0x102u
#define IGVM_VHT_PAGE_TABLE_RELOCATION_REGION    0x103u
#define IGVM_VHT_CORIM_DOCUMENT                  0x104u
#define IGVM_VHT_CORIM_SIGNATURE                 0x105u
#define IGVM_VHT_CCA_POLICY                      0x106u
#define IGVM_VHT_PARAMETER_AREA                  0x301u
#define IGVM_VHT_PAGE_DATA                       0x302u
#define IGVM_VHT_PARAMETER_INSERT                0x303u
#define IGVM_VHT_VP_CONTEXT                      0x304u
#define IGVM_VHT_REQUIRED_MEMORY                 0x305u
#define IGVM_VHT_RESERVED_DO_NOT_USE             0x306u
#define IGVM_VHT_VP_COUNT_PARAMETER              0x307u
#define IGVM_VHT_SRAT                            0x308u
#define IGVM_VHT_MADT                            0x309u
#define IGVM_VHT_MMIO_RANGES                     0x30Au
#define IGVM_VHT_SNP_ID_BLOCK                    0x30Bu
#define IGVM_VHT_MEMORY_MAP                      0x30Cu
#define IGVM_VHT_ERROR_RANGE                     0x30Du
#define IGVM_VHT_COMMAND_LINE                    0x30Eu
#define IGVM_VHT_SLIT                            0x30Fu
#define IGVM_VHT_PPTT                            0x310u
#define IGVM_VHT_VBS_MEASUREMENT                 0x311u
#define IGVM_VHT_DEVICE_TREE                     0x312u
#define IGVM_VHT_ENVIRONMENT_INFO_PARAMETER      0x313u

/* ---- §6.1 supported platform ---------------------------------------------------------- */
enum igvm_platform {
	IGVM_PLATFORM_NATIVE        = 0x00,
	IGVM_PLATFORM_VSM_ISOLATION = 0x01,
	IGVM_PLATFORM_SEV_SNP       = 0x02,
	IGVM_PLATFORM_TDX           = 0x03,
	IGVM_PLATFORM_SEV           = 0x04,
	IGVM_PLATFORM_SEV_ES        = 0x05,
	IGVM_PLATFORM_CCA           = 0x06,
};
#define IGVM_PLATFORM_TYPE_MAX       0x06u
#define IGVM_PLATFORM_VERSION_1      1u
#define IGVM_MAX_PLATFORMS           32u

struct igvm_vhs_supported_platform {
	uint32_t compatibility_mask;
	uint8_t  highest_vtl;
	uint8_t  platform_type;
	uint16_t platform_version;
	uint64_t shared_gpa_boundary;
};
_Static_assert(sizeof(struct igvm_vhs_supported_platform) == 16, "§6.1 is 16 bytes");
_Static_assert(offsetof(struct igvm_vhs_supported_platform, highest_vtl) == 4, "§6.1");
_Static_assert(offsetof(struct igvm_vhs_supported_platform, platform_type) == 5, "§6.1");
_Static_assert(offsetof(struct igvm_vhs_supported_platform, platform_version) == 6, "§6.1");
_Static_assert(offsetof(struct igvm_vhs_supported_platform, shared_gpa_boundary) == 8, "§6.1");

/* ---- §6.2 guest policy ---------------------------------------------------------------- */
struct igvm_vhs_guest_policy {
	uint64_t policy;
	uint32_t compatibility_mask;
	uint32_t reserved;
};
_Static_assert(sizeof(struct igvm_vhs_guest_policy) == 16, "§6.2 is 16 bytes");
_Static_assert(offsetof(struct igvm_vhs_guest_policy, compatibility_mask) == 8, "§6.2");
_Static_assert(offsetof(struct igvm_vhs_guest_policy, reserved) == 12, "§6.2");

/* §6.2 SNP guest policy bits (SNP ABI §4.3) */
#define IGVM_SNP_POLICY_ABI_MINOR_MASK  0xFFull
#define IGVM_SNP_POLICY_ABI_MAJOR_SHIFT 8
#define IGVM_SNP_POLICY_SMT             (1ull << 16)
#define IGVM_SNP_POLICY_RESERVED_MBO    (1ull << 17)
#define IGVM_SNP_POLICY_MIGRATE_MA      (1ull << 18)
#define IGVM_SNP_POLICY_DEBUG           (1ull << 19)
#define IGVM_SNP_POLICY_SINGLE_SOCKET   (1ull << 20)
/* §6.2 TDX policy bits */
#define IGVM_TDX_POLICY_DEBUG_ALLOWED   (1ull << 0)
#define IGVM_TDX_POLICY_SEPT_VE_DISABLE (1ull << 1)
#define IGVM_TDX_POLICY_MIGRATABLE      (1ull << 2)

/* ---- §6.3 relocatable region ---------------------------------------------------------- */
#define IGVM_RELOC_FLAG_IS_VTL2     0x1u
#define IGVM_RELOC_FLAG_APPLY_PC    0x2u  /* = APPLY_RIP */
#define IGVM_RELOC_FLAG_APPLY_GDTR  0x4u
#define IGVM_RELOC_FLAGS_ALL        0x7u

struct igvm_vhs_relocatable_region {
	uint32_t compatibility_mask;
	uint16_t vp_index;
	uint8_t  vtl;
	uint8_t  flags;
	uint64_t relocation_alignment;
	uint64_t relocation_region_gpa;
	uint64_t relocation_region_size;
	uint64_t minimum_relocation_gpa;
	uint64_t maximum_relocation_gpa;
};
_Static_assert(sizeof(struct igvm_vhs_relocatable_region) == 48, "§6.3 is 48 bytes");
_Static_assert(offsetof(struct igvm_vhs_relocatable_region, vp_index) == 4, "§6.3");
_Static_assert(offsetof(struct igvm_vhs_relocatable_region, vtl) == 6, "§6.3");
_Static_assert(offsetof(struct igvm_vhs_relocatable_region, flags) == 7, "§6.3");
_Static_assert(offsetof(struct igvm_vhs_relocatable_region, relocation_alignment) == 8, "§6.3");
_Static_assert(offsetof(struct igvm_vhs_relocatable_region, relocation_region_gpa) == 16, "§6.3");
_Static_assert(offsetof(struct igvm_vhs_relocatable_region, relocation_region_size) == 24, "§6.3");
_Static_assert(offsetof(struct igvm_vhs_relocatable_region, minimum_relocation_gpa) == 32, "§6.3");
_Static_assert(offsetof(struct igvm_vhs_relocatable_region, maximum_relocation_gpa) == 40, "§6.3");

/* ---- §6.4 page table relocation ------------------------------------------------------- */
struct igvm_vhs_page_table_relocation {
	uint32_t compatibility_mask;
	uint16_t vp_index;
	uint8_t  vtl;
	uint8_t  reserved;
	uint64_t gpa;
	uint64_t size;
	uint64_t used_size;
};
_Static_assert(sizeof(struct igvm_vhs_page_table_relocation) == 32, "§6.4 is 32 bytes");
_Static_assert(offsetof(struct igvm_vhs_page_table_relocation, vtl) == 6, "§6.4");
_Static_assert(offsetof(struct igvm_vhs_page_table_relocation, reserved) == 7, "§6.4");
_Static_assert(offsetof(struct igvm_vhs_page_table_relocation, gpa) == 8, "§6.4");
_Static_assert(offsetof(struct igvm_vhs_page_table_relocation, size) == 16, "§6.4");
_Static_assert(offsetof(struct igvm_vhs_page_table_relocation, used_size) == 24, "§6.4");

/* ---- §6.5 CoRIM data (document 0x104, signature 0x105) -------------------------------- */
struct igvm_vhs_corim_data {
	uint32_t compatibility_mask;
	uint32_t file_offset;
	uint32_t size_bytes;
	uint32_t reserved;
};
_Static_assert(sizeof(struct igvm_vhs_corim_data) == 16, "§6.5 is 16 bytes");
_Static_assert(offsetof(struct igvm_vhs_corim_data, file_offset) == 4, "§6.5");
_Static_assert(offsetof(struct igvm_vhs_corim_data, size_bytes) == 8, "§6.5");
_Static_assert(offsetof(struct igvm_vhs_corim_data, reserved) == 12, "§6.5");

/* ---- §6.6 CCA policy ------------------------------------------------------------------ */
#define IGVM_CCA_POLICY_ATTR_DEBUG   (1ull << 0)
#define IGVM_CCA_POLICY_ATTR_MEC     (1ull << 1)
#define IGVM_CCA_HASH_SHA256         0u
#define IGVM_CCA_HASH_SHA512         1u
#define IGVM_CCA_HASH_SHA384         2u
#define IGVM_CCA_LFA_DISALLOW        0u
#define IGVM_CCA_LFA_ALLOW           1u

struct igvm_vhs_cca_policy {
	uint32_t compatibility_mask;
	uint32_t reserved;
	uint64_t attributes_required_zeroes;
	uint64_t attributes_required_ones;
	uint8_t  hash_algorithm;
	uint8_t  lfa_policy;
	uint8_t  reserved2[6];
};
_Static_assert(sizeof(struct igvm_vhs_cca_policy) == 32, "§6.6 is 32 bytes");
_Static_assert(offsetof(struct igvm_vhs_cca_policy, reserved) == 4, "§6.6");
_Static_assert(offsetof(struct igvm_vhs_cca_policy, attributes_required_zeroes) == 8, "§6.6");
_Static_assert(offsetof(struct igvm_vhs_cca_policy, attributes_required_ones) == 16, "§6.6");
_Static_assert(offsetof(struct igvm_vhs_cca_policy, hash_algorithm) == 24, "§6.6");
_Static_assert(offsetof(struct igvm_vhs_cca_policy, lfa_policy) == 25, "§6.6");
_Static_assert(offsetof(struct igvm_vhs_cca_policy, reserved2) == 26, "§6.6");

/* ---- §6.7 parameter area -------------------------------------------------------------- */
struct igvm_vhs_parameter_area {
	uint64_t number_of_bytes;
	uint32_t parameter_area_index;
	uint32_t file_offset;
};
_Static_assert(sizeof(struct igvm_vhs_parameter_area) == 16, "§6.7 is 16 bytes");
_Static_assert(offsetof(struct igvm_vhs_parameter_area, parameter_area_index) == 8, "§6.7");
_Static_assert(offsetof(struct igvm_vhs_parameter_area, file_offset) == 12, "§6.7");

/* ---- §6.8 page data ------------------------------------------------------------------- */
#define IGVM_PAGE_FLAG_IS_2MB_PAGE   0x1u
#define IGVM_PAGE_FLAG_UNMEASURED    0x2u
#define IGVM_PAGE_FLAG_SHARED        0x4u
#define IGVM_PAGE_FLAGS_ALL          0x7u

enum igvm_page_data_type {
	IGVM_PAGE_DATA_NORMAL     = 0x0,
	IGVM_PAGE_DATA_SECRETS    = 0x1,
	IGVM_PAGE_DATA_CPUID_DATA = 0x2,
	IGVM_PAGE_DATA_CPUID_XF   = 0x3,
};
#define IGVM_PAGE_DATA_TYPE_MAX 0x3u

struct igvm_vhs_page_data {
	uint64_t gpa;
	uint32_t compatibility_mask;
	uint32_t file_offset;
	uint32_t flags;
	uint16_t data_type;
	uint16_t reserved;
};
_Static_assert(sizeof(struct igvm_vhs_page_data) == 24, "§6.8 is 24 bytes");
_Static_assert(offsetof(struct igvm_vhs_page_data, compatibility_mask) == 8, "§6.8");
_Static_assert(offsetof(struct igvm_vhs_page_data, file_offset) == 12, "§6.8");
_Static_assert(offsetof(struct igvm_vhs_page_data, flags) == 16, "§6.8");
_Static_assert(offsetof(struct igvm_vhs_page_data, data_type) == 20, "§6.8");
_Static_assert(offsetof(struct igvm_vhs_page_data, reserved) == 22, "§6.8");

/* ---- §6.9 parameter insert ------------------------------------------------------------ */
struct igvm_vhs_parameter_insert {
	uint64_t gpa;
	uint32_t compatibility_mask;
	uint32_t parameter_area_index;
};
_Static_assert(sizeof(struct igvm_vhs_parameter_insert) == 16, "§6.9 is 16 bytes");
_Static_assert(offsetof(struct igvm_vhs_parameter_insert, compatibility_mask) == 8, "§6.9");
_Static_assert(offsetof(struct igvm_vhs_parameter_insert, parameter_area_index) == 12, "§6.9");

/* ---- §6.10 parameter (VP count, SRAT, MADT, ...) -------------------------------------- */
struct igvm_vhs_parameter {
	uint32_t parameter_area_index;
	uint32_t byte_offset;
};
_Static_assert(sizeof(struct igvm_vhs_parameter) == 8, "§6.10 is 8 bytes");
_Static_assert(offsetof(struct igvm_vhs_parameter, byte_offset) == 4, "§6.10");

/* §6.10 payload written for MMIO_RANGES */
struct igvm_vhs_memory_range {
	uint64_t starting_gpa_page_number;
	uint64_t number_of_pages;
};
_Static_assert(sizeof(struct igvm_vhs_memory_range) == 16, "§6.10 memory range is 16 bytes");
struct igvm_vhs_mmio_ranges {
	struct igvm_vhs_memory_range mmio_ranges[2];
};
_Static_assert(sizeof(struct igvm_vhs_mmio_ranges) == 32, "§6.10 MMIO ranges are 32 bytes");

/* §6.10 payload written for MEMORY_MAP */
enum igvm_memory_map_entry_type {
	IGVM_MEMORY_MAP_MEMORY            = 0,
	IGVM_MEMORY_MAP_PLATFORM_RESERVED = 1,
	IGVM_MEMORY_MAP_PERSISTENT        = 2,
	IGVM_MEMORY_MAP_VTL2_PROTECTABLE  = 3,
	IGVM_MEMORY_MAP_SPECIFIC_PURPOSE  = 4,
	IGVM_MEMORY_MAP_HIDDEN            = 5,
};
struct igvm_vhs_memory_map_entry {
	uint64_t starting_gpa_page_number;
	uint64_t number_of_pages;
	uint16_t entry_type;
	uint16_t flags;
	uint32_t reserved;
};
_Static_assert(sizeof(struct igvm_vhs_memory_map_entry) == 24, "§6.10 memory map entry is 24 bytes");
_Static_assert(offsetof(struct igvm_vhs_memory_map_entry, number_of_pages) == 8, "§6.10");
_Static_assert(offsetof(struct igvm_vhs_memory_map_entry, entry_type) == 16, "§6.10");
_Static_assert(offsetof(struct igvm_vhs_memory_map_entry, flags) == 18, "§6.10");
_Static_assert(offsetof(struct igvm_vhs_memory_map_entry, reserved) == 20, "§6.10");

/* §6.10 payload written for ENVIRONMENT_INFO */
#define IGVM_ENV_INFO_MEMORY_IS_SHARED 0x1u

/* ---- §6.11 VP context: 20 bytes, 4-byte aligned, 4 zero pad bytes follow in the file ---- */
struct __attribute__((packed, aligned(4))) igvm_vhs_vp_context {
	uint64_t gpa;
	uint32_t compatibility_mask;
	uint32_t file_offset;
	uint16_t vp_index;
	uint16_t reserved;
};
_Static_assert(sizeof(struct igvm_vhs_vp_context) == 20, "§6.11 IGVM_VHS_VP_CONTEXT is 20 bytes");
_Static_assert(_Alignof(struct igvm_vhs_vp_context) == 4, "§6.11 4-byte aligned");
_Static_assert(offsetof(struct igvm_vhs_vp_context, compatibility_mask) == 8, "§6.11");
_Static_assert(offsetof(struct igvm_vhs_vp_context, file_offset) == 12, "§6.11");
_Static_assert(offsetof(struct igvm_vhs_vp_context, vp_index) == 16, "§6.11");
_Static_assert(offsetof(struct igvm_vhs_vp_context, reserved) == 18, "§6.11");

/* §6.11 NATIVE / SEV (X64) VP context: 232 bytes at the start of a zero-filled 4 KiB block */
struct igvm_native_vp_context_x64 {
	uint64_t rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rip;
	uint64_t rflags;
	uint64_t idtr_base;
	uint16_t idtr_limit;
	uint16_t reserved[2];
	uint16_t gdtr_limit;
	uint64_t gdtr_base;
	uint16_t code_selector;
	uint16_t code_attributes;
	uint32_t code_base;
	uint32_t code_limit;
	uint16_t data_selector;
	uint16_t data_attributes;
	uint32_t data_base;
	uint32_t data_limit;
	uint64_t gs_base;
	uint64_t cr0;
	uint64_t cr3;
	uint64_t cr4;
	uint64_t efer;
};
_Static_assert(sizeof(struct igvm_native_vp_context_x64) == 232, "§6.11 native context is 232 bytes");
_Static_assert(offsetof(struct igvm_native_vp_context_x64, r8) == 0x40, "§6.11");
_Static_assert(offsetof(struct igvm_native_vp_context_x64, rip) == 0x80, "§6.11");
_Static_assert(offsetof(struct igvm_native_vp_context_x64, rflags) == 0x88, "§6.11");
_Static_assert(offsetof(struct igvm_native_vp_context_x64, idtr_base) == 0x90, "§6.11");
_Static_assert(offsetof(struct igvm_native_vp_context_x64, idtr_limit) == 0x98, "§6.11");
_Static_assert(offsetof(struct igvm_native_vp_context_x64, reserved) == 0x9A, "§6.11");
_Static_assert(offsetof(struct igvm_native_vp_context_x64, gdtr_limit) == 0x9E, "§6.11");
_Static_assert(offsetof(struct igvm_native_vp_context_x64, gdtr_base) == 0xA0, "§6.11");
_Static_assert(offsetof(struct igvm_native_vp_context_x64, code_selector) == 0xA8, "§6.11");
_Static_assert(offsetof(struct igvm_native_vp_context_x64, code_attributes) == 0xAA, "§6.11");
_Static_assert(offsetof(struct igvm_native_vp_context_x64, code_base) == 0xAC, "§6.11");
_Static_assert(offsetof(struct igvm_native_vp_context_x64, code_limit) == 0xB0, "§6.11");
_Static_assert(offsetof(struct igvm_native_vp_context_x64, data_selector) == 0xB4, "§6.11");
_Static_assert(offsetof(struct igvm_native_vp_context_x64, data_attributes) == 0xB6, "§6.11");
_Static_assert(offsetof(struct igvm_native_vp_context_x64, data_base) == 0xB8, "§6.11");
_Static_assert(offsetof(struct igvm_native_vp_context_x64, data_limit) == 0xBC, "§6.11");
_Static_assert(offsetof(struct igvm_native_vp_context_x64, gs_base) == 0xC0, "§6.11");
_Static_assert(offsetof(struct igvm_native_vp_context_x64, cr0) == 0xC8, "§6.11");
_Static_assert(offsetof(struct igvm_native_vp_context_x64, cr3) == 0xD0, "§6.11");
_Static_assert(offsetof(struct igvm_native_vp_context_x64, cr4) == 0xD8, "§6.11");
_Static_assert(offsetof(struct igvm_native_vp_context_x64, efer) == 0xE0, "§6.11");
/* segment attribute bits 11:8 must be zero */
#define IGVM_NATIVE_SEG_ATTR_MBZ 0x0F00u

/* §6.11 CCA (AArch64) VP context: 80 bytes at the start of a zero-filled 4 KiB block */
struct igvm_vp_context_aarch64_cca {
	uint64_t gpr[8];   /* x0..x7 */
	uint64_t pc;
	uint64_t flags;
};
_Static_assert(sizeof(struct igvm_vp_context_aarch64_cca) == 80, "§6.11 CCA context is 80 bytes");
_Static_assert(offsetof(struct igvm_vp_context_aarch64_cca, pc) == 0x40, "§6.11");
_Static_assert(offsetof(struct igvm_vp_context_aarch64_cca, flags) == 0x48, "§6.11");

/* §6.11 VBS VP context: header then register_count packed 32-byte records */
struct igvm_vbs_vp_context_header {
	uint32_t register_count;
};
_Static_assert(sizeof(struct igvm_vbs_vp_context_header) == 4, "§6.11 VBS context header is 4 bytes");

/* §6.11.2 VbsVpContextRegister, 32 bytes packed */
struct __attribute__((packed)) igvm_vbs_vp_context_register {
	uint8_t  vtl;
	uint32_t register_name;
	uint8_t  mbz[11];
	uint8_t  register_value[16];  /* HV_REGISTER_VALUE */
};
_Static_assert(sizeof(struct igvm_vbs_vp_context_register) == 32, "§6.11.2 is 32 bytes");
_Static_assert(offsetof(struct igvm_vbs_vp_context_register, register_name) == 1, "§6.11.2");
_Static_assert(offsetof(struct igvm_vbs_vp_context_register, mbz) == 5, "§6.11.2");
_Static_assert(offsetof(struct igvm_vbs_vp_context_register, register_value) == 16, "§6.11.2");

/* §6.11.2 HV register value encodings */
struct igvm_hv_segment_value {
	uint64_t base;
	uint32_t limit;
	uint16_t selector;
	uint16_t attributes;
};
_Static_assert(sizeof(struct igvm_hv_segment_value) == 16, "§6.11.2 segment value is 16 bytes");
_Static_assert(offsetof(struct igvm_hv_segment_value, limit) == 8, "§6.11.2");
_Static_assert(offsetof(struct igvm_hv_segment_value, selector) == 12, "§6.11.2");
_Static_assert(offsetof(struct igvm_hv_segment_value, attributes) == 14, "§6.11.2");
struct igvm_hv_table_value {
	uint16_t pad[3];
	uint16_t limit;
	uint64_t base;
};
_Static_assert(sizeof(struct igvm_hv_table_value) == 16, "§6.11.2 table value is 16 bytes");
_Static_assert(offsetof(struct igvm_hv_table_value, limit) == 6, "§6.11.2");
_Static_assert(offsetof(struct igvm_hv_table_value, base) == 8, "§6.11.2");

/* §6.11.2 Hyper-V register names used in VBS contexts (X64) */
#define IGVM_HV_X64_RAX      0x00020000u
#define IGVM_HV_X64_RCX      0x00020001u
#define IGVM_HV_X64_RDX      0x00020002u
#define IGVM_HV_X64_RBX      0x00020003u
#define IGVM_HV_X64_RSP      0x00020004u
#define IGVM_HV_X64_RBP      0x00020005u
#define IGVM_HV_X64_RSI      0x00020006u
#define IGVM_HV_X64_RDI      0x00020007u
#define IGVM_HV_X64_R8       0x00020008u
#define IGVM_HV_X64_R9       0x00020009u
#define IGVM_HV_X64_R10      0x0002000Au
#define IGVM_HV_X64_R11      0x0002000Bu
#define IGVM_HV_X64_R12      0x0002000Cu
#define IGVM_HV_X64_R13      0x0002000Du
#define IGVM_HV_X64_R14      0x0002000Eu
#define IGVM_HV_X64_R15      0x0002000Fu
#define IGVM_HV_X64_RIP      0x00020010u
#define IGVM_HV_X64_RFLAGS   0x00020011u
#define IGVM_HV_X64_CR0      0x00040000u
#define IGVM_HV_X64_CR3      0x00040002u
#define IGVM_HV_X64_CR4      0x00040003u
#define IGVM_HV_X64_ES       0x00060000u
#define IGVM_HV_X64_CS       0x00060001u
#define IGVM_HV_X64_SS       0x00060002u
#define IGVM_HV_X64_DS       0x00060003u
#define IGVM_HV_X64_FS       0x00060004u
#define IGVM_HV_X64_GS       0x00060005u
#define IGVM_HV_X64_TR       0x00060007u
#define IGVM_HV_X64_IDTR     0x00070000u
#define IGVM_HV_X64_GDTR     0x00070001u
#define IGVM_HV_X64_EFER     0x00080001u
#define IGVM_HV_X64_PAT      0x00080004u
#define IGVM_HV_X64_MTRR_DEF_TYPE     0x0008000Eu
#define IGVM_HV_X64_MTRR_PHYS_BASE0   0x00080010u  /* ..4 = 0x80014 */
#define IGVM_HV_X64_MTRR_PHYS_MASK0   0x00080040u  /* ..4 = 0x80044 */
#define IGVM_HV_X64_MTRR_FIX64K_00000 0x00080070u
#define IGVM_HV_X64_MTRR_FIX16K_80000 0x00080071u
#define IGVM_HV_X64_MTRR_FIX4K_E0000  0x00080077u
#define IGVM_HV_X64_MTRR_FIX4K_E8000  0x00080078u
#define IGVM_HV_X64_MTRR_FIX4K_F0000  0x00080079u
#define IGVM_HV_X64_MTRR_FIX4K_F8000  0x0008007Au
/* AArch64 */
#define IGVM_HV_ARM64_X0         0x00020000u  /* ..X7 = 0x20007 */
#define IGVM_HV_ARM64_XPC        0x00020022u
#define IGVM_HV_ARM64_CPSR       0x00020023u
#define IGVM_HV_ARM64_SCTLR_EL1  0x00040002u
#define IGVM_HV_ARM64_TTBR0_EL1  0x00040005u
#define IGVM_HV_ARM64_TTBR1_EL1  0x00040006u
#define IGVM_HV_ARM64_TCR_EL1    0x00040007u
#define IGVM_HV_ARM64_MAIR_EL1   0x0004000Bu
#define IGVM_HV_ARM64_VBAR_EL1   0x0004000Cu

/* ---- §6.12 required memory ------------------------------------------------------------ */
#define IGVM_REQUIRED_MEMORY_FLAG_VTL2_PROTECTABLE 0x1u
#define IGVM_REQUIRED_MEMORY_FLAGS_ALL             0x1u
struct igvm_vhs_required_memory {
	uint64_t gpa;
	uint32_t compatibility_mask;
	uint32_t number_of_bytes;
	uint32_t flags;
	uint32_t reserved;
};
_Static_assert(sizeof(struct igvm_vhs_required_memory) == 24, "§6.12 is 24 bytes");
_Static_assert(offsetof(struct igvm_vhs_required_memory, compatibility_mask) == 8, "§6.12");
_Static_assert(offsetof(struct igvm_vhs_required_memory, number_of_bytes) == 12, "§6.12");
_Static_assert(offsetof(struct igvm_vhs_required_memory, flags) == 16, "§6.12");
_Static_assert(offsetof(struct igvm_vhs_required_memory, reserved) == 20, "§6.12");

/* ---- §6.13 error range ---------------------------------------------------------------- */
struct igvm_vhs_error_range {
	uint64_t gpa;
	uint32_t compatibility_mask;
	uint32_t size_bytes;
};
_Static_assert(sizeof(struct igvm_vhs_error_range) == 16, "§6.13 is 16 bytes");
_Static_assert(offsetof(struct igvm_vhs_error_range, compatibility_mask) == 8, "§6.13");
_Static_assert(offsetof(struct igvm_vhs_error_range, size_bytes) == 12, "§6.13");

/* ---- §6.14 SNP ID block --------------------------------------------------------------- */
#define IGVM_SNP_ID_KEY_ALGO_ECDSA_P384_SHA384 1u
#define IGVM_SNP_ECC_CURVE_P384                2u
struct igvm_vhs_snp_id_block_signature {
	uint8_t r_comp[72];
	uint8_t s_comp[72];
};
_Static_assert(sizeof(struct igvm_vhs_snp_id_block_signature) == 144, "§6.14 signature is 144 bytes");
struct igvm_vhs_snp_id_block_public_key {
	uint32_t curve;
	uint32_t reserved;
	uint8_t  qx[72];
	uint8_t  qy[72];
};
_Static_assert(sizeof(struct igvm_vhs_snp_id_block_public_key) == 152, "§6.14 public key is 152 bytes");
_Static_assert(offsetof(struct igvm_vhs_snp_id_block_public_key, qx) == 8, "§6.14");
_Static_assert(offsetof(struct igvm_vhs_snp_id_block_public_key, qy) == 80, "§6.14");
struct igvm_vhs_snp_id_block {
	uint32_t compatibility_mask;
	uint8_t  author_key_enabled;
	uint8_t  reserved[3];
	uint8_t  ld[48];
	uint8_t  family_id[16];
	uint8_t  image_id[16];
	uint32_t version;
	uint32_t guest_svn;
	uint32_t id_key_algorithm;
	uint32_t author_key_algorithm;
	struct igvm_vhs_snp_id_block_signature id_key_signature;
	struct igvm_vhs_snp_id_block_public_key id_public_key;
	struct igvm_vhs_snp_id_block_signature author_key_signature;
	struct igvm_vhs_snp_id_block_public_key author_public_key;
};
_Static_assert(sizeof(struct igvm_vhs_snp_id_block) == 696, "§6.14 is 696 bytes");
_Static_assert(offsetof(struct igvm_vhs_snp_id_block, author_key_enabled) == 4, "§6.14");
_Static_assert(offsetof(struct igvm_vhs_snp_id_block, ld) == 8, "§6.14");
_Static_assert(offsetof(struct igvm_vhs_snp_id_block, family_id) == 56, "§6.14");
_Static_assert(offsetof(struct igvm_vhs_snp_id_block, image_id) == 72, "§6.14");
_Static_assert(offsetof(struct igvm_vhs_snp_id_block, version) == 88, "§6.14");
_Static_assert(offsetof(struct igvm_vhs_snp_id_block, guest_svn) == 92, "§6.14");
_Static_assert(offsetof(struct igvm_vhs_snp_id_block, id_key_algorithm) == 96, "§6.14");
_Static_assert(offsetof(struct igvm_vhs_snp_id_block, author_key_algorithm) == 100, "§6.14");
_Static_assert(offsetof(struct igvm_vhs_snp_id_block, id_key_signature) == 104, "§6.14");
_Static_assert(offsetof(struct igvm_vhs_snp_id_block, id_public_key) == 248, "§6.14");
_Static_assert(offsetof(struct igvm_vhs_snp_id_block, author_key_signature) == 400, "§6.14");
_Static_assert(offsetof(struct igvm_vhs_snp_id_block, author_public_key) == 544, "§6.14");

/* ---- §6.15 VBS measurement ------------------------------------------------------------ */
#define IGVM_VBS_DIGEST_ALGO_SHA256       1u
#define IGVM_VBS_SIGNING_ALGO_ECDSA_P384  1u
struct igvm_vhs_vbs_measurement {
	uint32_t compatibility_mask;
	uint32_t version;
	uint32_t product_id;
	uint32_t module_id;
	uint32_t security_version;
	uint32_t policy_flags;
	uint32_t boot_digest_algo;
	uint32_t signing_algo;
	uint8_t  boot_measurement_digest[64];
	uint8_t  signature[256];
	uint8_t  public_key[512];
};
_Static_assert(sizeof(struct igvm_vhs_vbs_measurement) == 864, "§6.15 is 864 bytes");
_Static_assert(offsetof(struct igvm_vhs_vbs_measurement, boot_digest_algo) == 24, "§6.15");
_Static_assert(offsetof(struct igvm_vhs_vbs_measurement, signing_algo) == 28, "§6.15");
_Static_assert(offsetof(struct igvm_vhs_vbs_measurement, boot_measurement_digest) == 32, "§6.15");
_Static_assert(offsetof(struct igvm_vhs_vbs_measurement, signature) == 96, "§6.15");
_Static_assert(offsetof(struct igvm_vhs_vbs_measurement, public_key) == 352, "§6.15");

/* ---- §11 SEV-SNP launch digest PAGE_INFO ---------------------------------------------- */
enum igvm_snp_page_type {
	IGVM_SNP_PAGE_NORMAL     = 0x01,
	IGVM_SNP_PAGE_VMSA       = 0x02,
	IGVM_SNP_PAGE_ZERO       = 0x03,
	IGVM_SNP_PAGE_UNMEASURED = 0x04,
	IGVM_SNP_PAGE_SECRETS    = 0x05,
	IGVM_SNP_PAGE_CPUID      = 0x06,
};
struct igvm_snp_page_info {
	uint8_t  digest_cur[48];
	uint8_t  contents[48];
	uint16_t length;        /* 0x70 */
	uint8_t  page_type;
	uint8_t  imi_page;
	uint8_t  vmpl3_perms;
	uint8_t  vmpl2_perms;
	uint8_t  vmpl1_perms;
	uint8_t  reserved;
	uint64_t gpa;
};
_Static_assert(sizeof(struct igvm_snp_page_info) == 0x70, "§11 PAGE_INFO is 112 bytes");
_Static_assert(offsetof(struct igvm_snp_page_info, contents) == 0x30, "§11");
_Static_assert(offsetof(struct igvm_snp_page_info, length) == 0x60, "§11");
_Static_assert(offsetof(struct igvm_snp_page_info, page_type) == 0x62, "§11");
_Static_assert(offsetof(struct igvm_snp_page_info, imi_page) == 0x63, "§11");
_Static_assert(offsetof(struct igvm_snp_page_info, vmpl3_perms) == 0x64, "§11");
_Static_assert(offsetof(struct igvm_snp_page_info, reserved) == 0x67, "§11");
_Static_assert(offsetof(struct igvm_snp_page_info, gpa) == 0x68, "§11");
/* VMSA GPA used by QEMU/KVM-compatible files (§11) */
#define IGVM_SNP_KVM_VMSA_GPA 0xFFFFFFFFF000ull

/* ---- §12 TDX MRTD records ------------------------------------------------------------- */
#define IGVM_TDX_PAGE_ADD_RECORD_SIZE   128u
#define IGVM_TDX_MR_EXTEND_RECORD_SIZE  128u   /* header part; 256 data bytes follow */
#define IGVM_TDX_MR_EXTEND_CHUNK        256u

/* ---- §13 SEV-ES/SNP VMSA key offsets (4096-byte page) --------------------------------- */
#define IGVM_VMSA_SIZE            4096u
#define IGVM_VMSA_ES              0x000u
#define IGVM_VMSA_CS              0x010u
#define IGVM_VMSA_SS              0x020u
#define IGVM_VMSA_DS              0x030u
#define IGVM_VMSA_FS              0x040u
#define IGVM_VMSA_GS              0x050u
#define IGVM_VMSA_GDTR            0x060u
#define IGVM_VMSA_LDTR            0x070u
#define IGVM_VMSA_IDTR            0x080u
#define IGVM_VMSA_TR              0x090u
#define IGVM_VMSA_PL0_SSP         0x0A0u
#define IGVM_VMSA_PL1_SSP         0x0A8u
#define IGVM_VMSA_PL2_SSP         0x0B0u
#define IGVM_VMSA_PL3_SSP         0x0B8u
#define IGVM_VMSA_U_CET           0x0C0u
#define IGVM_VMSA_VMPL            0x0CAu
#define IGVM_VMSA_CPL             0x0CBu
#define IGVM_VMSA_EFER            0x0D0u
#define IGVM_VMSA_XSS             0x140u
#define IGVM_VMSA_CR4             0x148u
#define IGVM_VMSA_CR3             0x150u
#define IGVM_VMSA_CR0             0x158u
#define IGVM_VMSA_DR7             0x160u
#define IGVM_VMSA_DR6             0x168u
#define IGVM_VMSA_RFLAGS          0x170u
#define IGVM_VMSA_RIP             0x178u
#define IGVM_VMSA_DR0             0x180u
#define IGVM_VMSA_DR1             0x188u
#define IGVM_VMSA_DR2             0x190u
#define IGVM_VMSA_DR3             0x198u
#define IGVM_VMSA_DR0_ADDR_MASK   0x1A0u
#define IGVM_VMSA_DR1_ADDR_MASK   0x1A8u
#define IGVM_VMSA_DR2_ADDR_MASK   0x1B0u
#define IGVM_VMSA_DR3_ADDR_MASK   0x1B8u
#define IGVM_VMSA_RSP             0x1D8u
#define IGVM_VMSA_S_CET           0x1E0u
#define IGVM_VMSA_SSP             0x1E8u
#define IGVM_VMSA_ISST_ADDR       0x1F0u
#define IGVM_VMSA_RAX             0x1F8u
#define IGVM_VMSA_STAR            0x200u
#define IGVM_VMSA_LSTAR           0x208u
#define IGVM_VMSA_CSTAR           0x210u
#define IGVM_VMSA_SFMASK          0x218u
#define IGVM_VMSA_KERNEL_GS_BASE  0x220u
#define IGVM_VMSA_SYSENTER_CS     0x228u
#define IGVM_VMSA_SYSENTER_ESP    0x230u
#define IGVM_VMSA_SYSENTER_EIP    0x238u
#define IGVM_VMSA_CR2             0x240u
#define IGVM_VMSA_G_PAT           0x268u
#define IGVM_VMSA_DBGCTL          0x270u
#define IGVM_VMSA_BR_FROM         0x278u
#define IGVM_VMSA_BR_TO           0x280u
#define IGVM_VMSA_LASTEXCP_FROM   0x288u
#define IGVM_VMSA_LASTEXCP_TO     0x290u
#define IGVM_VMSA_SPEC_CTRL       0x2E0u
#define IGVM_VMSA_RCX             0x308u
#define IGVM_VMSA_RDX             0x310u
#define IGVM_VMSA_RBX             0x318u
#define IGVM_VMSA_RBP             0x328u
#define IGVM_VMSA_RSI             0x330u
#define IGVM_VMSA_RDI             0x338u
#define IGVM_VMSA_R8              0x340u   /* R8..R15 at 0x340 + 8*n */
#define IGVM_VMSA_R15             0x378u
#define IGVM_VMSA_EXITINFO1       0x390u
#define IGVM_VMSA_EXITINFO2       0x398u
#define IGVM_VMSA_EXITINTINFO     0x3A0u
#define IGVM_VMSA_NEXT_RIP        0x3A8u
#define IGVM_VMSA_SEV_FEATURES    0x3B0u
#define IGVM_VMSA_VINTR_CTRL      0x3B8u
#define IGVM_VMSA_GUEST_EXIT_CODE 0x3C0u
#define IGVM_VMSA_VIRTUAL_TOM     0x3C8u
#define IGVM_VMSA_TLB_ID          0x3D0u
#define IGVM_VMSA_PCPU_ID         0x3D8u
#define IGVM_VMSA_EVENTINJ        0x3E0u
#define IGVM_VMSA_XCR0            0x3E8u
#define IGVM_VMSA_XSAVE_VALID     0x3F0u   /* 16 bytes */
#define IGVM_VMSA_X87_DP          0x400u
#define IGVM_VMSA_MXCSR           0x408u
#define IGVM_VMSA_X87_FTW         0x40Cu
#define IGVM_VMSA_X87_FSW         0x40Eu
#define IGVM_VMSA_X87_FCW         0x410u
#define IGVM_VMSA_X87_FOP         0x412u
#define IGVM_VMSA_X87_DS          0x414u
#define IGVM_VMSA_X87_CS          0x416u
#define IGVM_VMSA_X87_RIP         0x418u
#define IGVM_VMSA_X87_REGS        0x420u   /* 80 bytes */
#define IGVM_VMSA_XMM             0x470u   /* XMM0..15, 256 bytes */
#define IGVM_VMSA_YMM_HI          0x570u   /* 256 bytes */
#define IGVM_VMSA_ZERO_TAIL       0x670u   /* 0x670..0xFFF zero */
/* SEV_FEATURES bits */
#define IGVM_SEV_FEAT_SNP                 (1ull << 0)
#define IGVM_SEV_FEAT_VTOM                (1ull << 1)
#define IGVM_SEV_FEAT_REFLECT_VC          (1ull << 2)
#define IGVM_SEV_FEAT_RESTRICT_INJECTION  (1ull << 3)
#define IGVM_SEV_FEAT_ALTERNATE_INJECTION (1ull << 4)
#define IGVM_SEV_FEAT_DEBUG_SWAP          (1ull << 5)
#define IGVM_SEV_FEAT_PREVENT_HOST_IBS    (1ull << 6)
#define IGVM_SEV_FEAT_BTB_ISOLATION       (1ull << 7)
#define IGVM_SEV_FEAT_VMPL_SSS            (1ull << 8)
#define IGVM_SEV_FEAT_SECURE_TSC          (1ull << 9)
#define IGVM_SEV_FEAT_VMSA_REG_PROT       (1ull << 14)
#define IGVM_SEV_FEAT_SMT_PROTECTION      (1ull << 15)

/* ---- §14 VBS boot measurement chunks -------------------------------------------------- */
#define IGVM_VBS_CHUNK_VP_REGISTER     0u
#define IGVM_VBS_CHUNK_VP_VTL_ENABLED  1u
#define IGVM_VBS_CHUNK_VP_GPA_PAGE     2u
#define IGVM_VBS_ACCEPT_READABLE       0x1u
#define IGVM_VBS_ACCEPT_WRITABLE       0x2u
#define IGVM_VBS_META_DATA_UNMEASURED  0x4u

struct igvm_vbs_gpa_page_chunk_header {
	uint32_t byte_count;   /* 4128 */
	uint32_t type;         /* IGVM_VBS_CHUNK_VP_GPA_PAGE */
	uint64_t reserved;
	uint64_t metadata;
	uint64_t page_number;
};
_Static_assert(sizeof(struct igvm_vbs_gpa_page_chunk_header) == 32, "§14 page chunk header is 32 bytes");
_Static_assert(offsetof(struct igvm_vbs_gpa_page_chunk_header, metadata) == 16, "§14");
_Static_assert(offsetof(struct igvm_vbs_gpa_page_chunk_header, page_number) == 24, "§14");

struct igvm_vbs_register_chunk {
	uint32_t byte_count;   /* 48 */
	uint32_t type;         /* IGVM_VBS_CHUNK_VP_REGISTER */
	uint64_t reserved;
	uint32_t reserved2;
	uint8_t  vtl;
	uint8_t  reserved3;
	uint16_t reserved4;
	uint32_t reserved5;
	uint32_t register_name;
	uint8_t  register_value[16];
};
_Static_assert(sizeof(struct igvm_vbs_register_chunk) == 48, "§14 register chunk is 48 bytes");
_Static_assert(offsetof(struct igvm_vbs_register_chunk, vtl) == 20, "§14");
_Static_assert(offsetof(struct igvm_vbs_register_chunk, register_name) == 28, "§14");
_Static_assert(offsetof(struct igvm_vbs_register_chunk, register_value) == 32, "§14");

/* ---- §9 libigvm C API error codes ----------------------------------------------------- */
enum igvm_errc {
	IGVM_OK                                           = 0,
	IGVM_E_INVALID_PARAMETER                          = -1,
	IGVM_E_NO_DATA                                    = -2,
	IGVM_E_INVALID_FILE                               = -3,
	IGVM_E_INVALID_HANDLE                             = -4,
	IGVM_E_NO_PLATFORM_HEADERS                        = -5,
	IGVM_E_FILE_DATA_SECTION_TOO_LARGE                = -6,
	IGVM_E_VARIABLE_HEADER_SECTION_TOO_LARGE          = -7,
	IGVM_E_TOTAL_FILE_SIZE_TOO_LARGE                  = -8,
	IGVM_E_INVALID_BINARY_PLATFORM_HEADER             = -9,
	IGVM_E_INVALID_BINARY_INITIALIZATION_HEADER       = -10,
	IGVM_E_INVALID_BINARY_DIRECTIVE_HEADER            = -11,
	IGVM_E_MULTIPLE_PLATFORM_HEADERS_WITH_SAME_ISOLATION = -12,
	IGVM_E_INVALID_PARAMETER_AREA_INDEX               = -13,
	IGVM_E_INVALID_PLATFORM_TYPE                      = -14,
	IGVM_E_NO_FREE_COMPATIBILITY_MASKS                = -15,
	IGVM_E_INVALID_FIXED_HEADER                       = -16,
	IGVM_E_INVALID_BINARY_VARIABLE_HEADER_SECTION     = -17,
	IGVM_E_INVALID_CHECKSUM                           = -18,
	IGVM_E_MULTIPLE_PAGE_TABLE_RELOCATION_HEADERS     = -19,
	IGVM_E_RELOCATION_REGIONS_OVERLAP                 = -20,
	IGVM_E_PARAMETER_INSERT_INSIDE_PAGE_TABLE_REGION  = -21,
	IGVM_E_NO_MATCHING_VP_CONTEXT                     = -22,
	IGVM_E_PLATFORM_ARCH_UNSUPPORTED                  = -23,
	IGVM_E_INVALID_HEADER_ARCH                        = -24,
	IGVM_E_UNSUPPORTED_PAGE_SIZE                      = -25,
	IGVM_E_INVALID_FIXED_HEADER_ARCH                  = -26,
	IGVM_E_MERGE_REVISION                             = -27,
	IGVM_E_INVALID_CCA_POLICY_COMPATIBILITY_MASK      = -28,
	IGVM_E_CORIM_GENERATION                           = -29,
	IGVM_E_MEASUREMENT_FAILED                         = -30,
	/* Mezzanine additions (not in libigvm): */
	IGVM_E_NO_MEMORY                                  = -100,
};

#endif /* MEZZ_IGVM_FORMAT_H */
