/* shim_cmdline: see shim_cmdline.h. */
#include "boot/shim_cmdline.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "boot/shim_err.h"
#include "boot/shim_params.h"

int shim_cmdline_build(char *out, size_t out_size, size_t *len, const char *static_cmdline,
		       unsigned policy, unsigned isolation, const char *host,
		       uint32_t kernel_cmdline_size, char *err, size_t errlen)
{
	size_t sl = strlen(static_cmdline);
	bool append = policy == MEZZ_CMDLINE_APPEND_HOST && isolation == MEZZ_ISOLATION_NONE &&
		      host && host[0];
	size_t hl = append ? strlen(host) : 0;
	size_t total = sl + (append ? (sl ? 1 : 0) + hl : 0);
	if (total > kernel_cmdline_size)
		return shim_err_set(err, errlen, -E2BIG,
				    "command line: %zu bytes exceed the kernel's cmdline_size %u",
				    total, kernel_cmdline_size);
	if (total >= out_size)
		return shim_err_set(err, errlen, -E2BIG,
				    "command line: %zu bytes exceed the %zu-byte buffer", total,
				    out_size);
	memcpy(out, static_cmdline, sl);
	size_t at = sl;
	if (append) {
		if (sl)
			out[at++] = ' ';
		memcpy(out + at, host, hl);
		at += hl;
	}
	out[at] = '\0';
	*len = at;
	return 0;
}
