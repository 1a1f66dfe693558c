/*
 * Atomic output files for mezz-igvm: the bytes go to a temporary file in the destination's
 * directory, are fsync'ed and then renamed over the destination, so a reader never sees a
 * half-written file and a failure leaves neither the output nor the temporary file behind.
 */
#ifndef MEZZ_IGVM_ATOMIC_FILE_H
#define MEZZ_IGVM_ATOMIC_FILE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Write len bytes to path atomically (mode 0644 before umask). Returns 0 or -errno; on error
 * a description naming the failing step is left in msg (if msg_len > 0).
 */
int atomic_file_write(const char *path, const void *buf, size_t len, char *msg, size_t msg_len);

/*
 * Read a whole regular file into a malloc'ed buffer (NUL-terminated for convenience; *len
 * excludes the NUL). Refuses files larger than max_len with -EFBIG. Returns 0 or -errno.
 */
int atomic_file_read(const char *path, size_t max_len, uint8_t **buf, size_t *len);

#endif
