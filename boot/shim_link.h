/*
 * shim_link: constants shared by the shim's C code, its assembly (entry.S, tdx_reset.S) and
 * its linker script (shim.ld repeats MEZZ_SHIM_LINK_ADDR; the Makefile checks they agree).
 * Assembler-safe: only #defines.
 */
#ifndef MEZZ_BOOT_SHIM_LINK_H
#define MEZZ_BOOT_SHIM_LINK_H

/* Where the shim ELF is linked: inside the image's default VTL2 region (0x10000000), below
   2 GiB so -mcmodel=small addressing works. */
#define MEZZ_SHIM_LINK_ADDR 0x10100000

/* The shim's own stack, in its .bss. */
#define MEZZ_SHIM_STACK_SIZE 0x8000

/* FS base block: Debian's libfdt.a is built with -fstack-protector and reads the canary at
   %fs:0x28 (the x86-64 glibc TCB layout). */
#define MEZZ_SHIM_FS_BLOCK_SIZE 0x40
#define MEZZ_SHIM_FS_CANARY_OFF 0x28

/* Copies of the MEZZ_TDX_RESET_OFF_* offsets of shim_params.h for tdx_reset.S (that header
   has C declarations); shim_main.c asserts they are equal. */
#define MEZZ_SHIM_TDX_OFF_CR3    0xFC0
#define MEZZ_SHIM_TDX_OFF_GDTR   0xFC8
#define MEZZ_SHIM_TDX_OFF_PARAMS 0xFD0
#define MEZZ_SHIM_TDX_OFF_ENTRY  0xFD8
#define MEZZ_SHIM_TDX_RESET_BASE 0xFFFFF000

#endif
