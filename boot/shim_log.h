/*
 * shim_log: the shim's log: text appended to the in-memory log buffer (params->log, kept NUL
 * terminated and NUL padded; what does not fit is dropped) and passed to an optional sink
 * (the shim: the 16550 at params->com_port).
 */
#ifndef MEZZ_BOOT_SHIM_LOG_H
#define MEZZ_BOOT_SHIM_LOG_H

#include <stddef.h>

#include "boot/shim_err.h"

struct shim_log {
	char *buf;             /* NULL: no buffer */
	size_t size, pos;
	shim_err_sink sink;    /* NULL: none */
	void *ctx;
};

void shim_log_init(struct shim_log *log, char *buf, size_t size, shim_err_sink sink, void *ctx);

/** Append formatted text (no newline added). */
__attribute__((format(printf, 2, 3)))
void shim_log_printf(struct shim_log *log, const char *fmt, ...);

#endif
