/*
 * IGVM launch measurements (igvm-facts §11 SEV-SNP, §12 TDX, §14 VBS), computed from a
 * parsed file for one platform of it (headers filtered by that platform's mask bit).
 * A 2 MiB PAGE_DATA (IS_2MB_PAGE) is measured in every algorithm as 512 consecutive 4 KiB
 * pages (gpa + i*4096, data slice i), i.e. exactly like 512 separate 4 KiB headers.
 */
#ifndef MEZZ_IGVM_MEASURE_H
#define MEZZ_IGVM_MEASURE_H

#include <stddef.h>
#include <stdint.h>

#include "igvm/igvm.h"

/* SEV-SNP: how PAGE_DATA without file data is measured (§11 "Known variants"). */
enum igvm_snp_convention {
	IGVM_SNP_CONV_CRATE = 0,        /* reference crate / OpenVMM: NORMAL page of zeros */
	IGVM_SNP_CONV_NATIVE_ZERO = 1,  /* QEMU/KVM (igvmmeasure --native-zero): ZERO page */
};

#define IGVM_MEASURE_DIGEST_MAX 48u

/*
 * Launch digest of `file` for the platform of type `platform` (SEV_SNP: SHA-384 launch
 * digest, 48 bytes; TDX: MRTD, 48 bytes; VSM_ISOLATION: VBS boot digest, 32 bytes).
 * `snp_conv` matters only for SEV_SNP. On success writes *digest_len bytes to `digest`
 * and returns IGVM_OK; else an igvm_errc (< 0) and *err (if non-NULL) says why
 * (IGVM_E_INVALID_PLATFORM_TYPE: the file has no such platform or it is not measurable).
 */
int igvm_measure(const struct igvm_file *file, enum igvm_platform platform,
		 enum igvm_snp_convention snp_conv, uint8_t digest[IGVM_MEASURE_DIGEST_MAX],
		 size_t *digest_len, struct igvm_error *err);

/* Same, naming the platform by its compatibility mask bit instead of its type. */
int igvm_measure_mask(const struct igvm_file *file, uint32_t platform_mask,
		      enum igvm_snp_convention snp_conv, uint8_t digest[IGVM_MEASURE_DIGEST_MAX],
		      size_t *digest_len, struct igvm_error *err);

/*
 * QEMU/KVM launch compatibility of the SEV-SNP part (igvmmeasure --check-kvm, §11): KVM
 * measures the VMSA itself at LAUNCH_FINISH, so the file must have exactly one SNP VMSA, at
 * GPA 0xFFFFFFFFF000, with CR0 0x30 or 0x31, placed after every page/parameter-insert
 * directive of the SNP platform. IGVM_OK or IGVM_E_MEASUREMENT_FAILED with the reason.
 */
int igvm_measure_check_kvm(const struct igvm_file *file, struct igvm_error *err);

#endif /* MEZZ_IGVM_MEASURE_H */
