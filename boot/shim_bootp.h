/*
 * shim_bootp: Linux boot_params (the "zero page") for the VTL2 kernel, 64-bit boot protocol
 * (Documentation/arch/x86/boot.rst "The Real-Mode Kernel Header", "Details of Header Fields",
 * "64-bit Boot Protocol"; Documentation/arch/x86/zero-page.rst for the layout).
 *
 *   shim_bootp_check   validate the setup header in the image's kernel_setup bytes against
 *                      the params page (the image is measured, but a wrong one must give a
 *                      named error, not a jump into garbage)
 *   shim_bootp_build   zero page: the setup header copy, loader fields, command line,
 *                      ramdisk, E820 and the setup_data chain
 * The layouts are arch/x86_64/x86_boot.h, shared with the VTL0 loader vtl2/linux_boot.
 */
#ifndef MEZZ_BOOT_SHIM_BOOTP_H
#define MEZZ_BOOT_SHIM_BOOTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/x86_64/x86_boot.h"
#include "boot/shim_e820.h"
#include "boot/shim_params.h"

#define SHIM_BP_HDR_OFF        X86_BOOT_SETUP_HDR_OFF
#define SHIM_BP_BOOT_FLAG      X86_BOOT_BOOT_FLAG
#define SHIM_BP_HDR_MAGIC      X86_BOOT_HDR_MAGIC
#define SHIM_BP_MIN_VERSION    X86_BOOT_MIN_VERSION
#define SHIM_BP_LOADED_HIGH    X86_BOOT_LOADED_HIGH
#define SHIM_BP_XLF_KERNEL_64  X86_BOOT_XLF_KERNEL_64
#define SHIM_BP_TYPE_OF_LOADER X86_BOOT_TYPE_OF_LOADER
#define SHIM_BP_ENTRY_64_OFF   X86_BOOT_ENTRY_64_OFF
#define SHIM_BP_HDR_END_MAX    X86_BOOT_HDR_END_MAX
#define SHIM_BP_SETUP_DTB      X86_BOOT_SETUP_DTB

/* What shim_bootp_check read. */
struct shim_bp_kernel {
	uint16_t version;
	uint32_t header_end;     /* 0x202 + byte 0x201, capped at SHIM_BP_HDR_END_MAX */
	uint32_t cmdline_size;
	uint32_t init_size;
	uint32_t initrd_addr_max;
	bool relocatable;
};

int shim_bootp_check(const uint8_t *setup, size_t setup_size, const struct mezz_shim_params *p,
		     struct shim_bp_kernel *k, char *err, size_t errlen);

struct shim_bp_input {
	uint64_t cmdline_gpa;
	uint64_t initrd_gpa, initrd_size;
	uint64_t setup_data_gpa;      /* first setup_data entry (0: none) */
	const struct shim_e820 *e820;
};

/** Fill *bp (zeroed first) from the setup bytes and the inputs. */
void shim_bootp_build(struct x86_boot_params *bp, const uint8_t *setup,
		      const struct shim_bp_kernel *k, const struct shim_bp_input *in);

#endif
