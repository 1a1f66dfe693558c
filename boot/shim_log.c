/* shim_log: see shim_log.h. */
#include "boot/shim_log.h"

#include <stdarg.h>

static void log_sink(void *ctx, const char *s, size_t n)
{
	struct shim_log *log = ctx;
	for (size_t i = 0; i < n && log->buf && log->pos + 1 < log->size; i++)
		log->buf[log->pos++] = s[i];
	if (log->buf && log->pos < log->size)
		log->buf[log->pos] = '\0';
	if (log->sink)
		log->sink(log->ctx, s, n);
}

void shim_log_init(struct shim_log *log, char *buf, size_t size, shim_err_sink sink, void *ctx)
{
	log->buf = size ? buf : NULL;
	log->size = size;
	log->pos = 0;
	log->sink = sink;
	log->ctx = ctx;
	/* Append after whatever an earlier stage left (the area starts zeroed). */
	while (log->buf && log->pos + 1 < size && buf[log->pos])
		log->pos++;
}

void shim_log_printf(struct shim_log *log, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	shim_err_vformat(log_sink, log, fmt, ap);
	va_end(ap);
}
