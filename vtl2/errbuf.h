/* errbuf: "return -errno and say why" for set-up code that reports into a caller's buffer. */
#ifndef MEZZ_VTL2_ERRBUF_H
#define MEZZ_VTL2_ERRBUF_H

#include <stddef.h>

/** Format the message into err[errlen] (if err) and return rc. */
__attribute__((format(printf, 4, 5)))
int errbuf_set(char *err, size_t errlen, int rc, const char *fmt, ...);

#endif
