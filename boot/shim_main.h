/*
 * shim_main: the freestanding shim's C entry (entry.S calls shim_main with the params page)
 * and the hardware side: COM port, CR3, the jump. Not part of the hosted library.
 */
#ifndef MEZZ_BOOT_SHIM_MAIN_H
#define MEZZ_BOOT_SHIM_MAIN_H

#include <stdint.h>

#include "boot/shim_params.h"

__attribute__((noreturn)) void shim_main(struct mezz_shim_params *params);

/** Log "mezz-shim: error: <msg>" to the COM port (and log buffer once valid), then halt. */
__attribute__((noreturn)) void shim_main_fatal(const char *msg);

/* entry.S */
__attribute__((noreturn)) void shim_jump_kernel(uint64_t entry, uint64_t boot_params);

#endif
