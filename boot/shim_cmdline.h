/*
 * shim_cmdline: the kernel command line: params->static_cmdline, then (policy APPEND_HOST and
 * isolation NONE only: an isolated guest does not trust the host) a space and the host's
 * command line. The result (without its NUL) must fit the kernel's cmdline_size (boot.rst:
 * "maximum size of the command line without the terminating zero") and the buffer.
 */
#ifndef MEZZ_BOOT_SHIM_CMDLINE_H
#define MEZZ_BOOT_SHIM_CMDLINE_H

#include <stddef.h>
#include <stdint.h>

/* The shim's command line buffer (in the heap), bytes including the NUL. */
#define SHIM_CMDLINE_MAX 8192u

/** Build into out[out_size]; *len gets the length. 0 or -E2BIG with a message. */
int shim_cmdline_build(char *out, size_t out_size, size_t *len, const char *static_cmdline,
		       unsigned policy, unsigned isolation, const char *host,
		       uint32_t kernel_cmdline_size, char *err, size_t errlen);

#endif
