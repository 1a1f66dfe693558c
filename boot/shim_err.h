/*
 * shim_err: a tiny printf-style formatter (the shim has no libc) and the "return -errno and
 * say why into the caller's buffer" helper every shim module uses.
 *
 * Conversions: %s %c %d %i %u %x %X %p %%, flags '0' and '-', a field width, length
 * modifiers l, ll, z. Nothing else (an unknown conversion prints itself).
 */
#ifndef MEZZ_BOOT_SHIM_ERR_H
#define MEZZ_BOOT_SHIM_ERR_H

#include <stdarg.h>
#include <stddef.h>

/* Room for one error message. */
#define SHIM_ERR_LEN 256

typedef void (*shim_err_sink)(void *ctx, const char *s, size_t n);

/** Format through sink (called with pieces, never with a NUL). */
void shim_err_vformat(shim_err_sink sink, void *ctx, const char *fmt, va_list ap);

/** snprintf: always NUL-terminates when n > 0; returns the untruncated length. */
__attribute__((format(printf, 3, 4)))
size_t shim_err_snprintf(char *buf, size_t n, const char *fmt, ...);

/** Format the message into err[errlen] (if err) and return rc. */
__attribute__((format(printf, 4, 5)))
int shim_err_set(char *err, size_t errlen, int rc, const char *fmt, ...);

#endif
