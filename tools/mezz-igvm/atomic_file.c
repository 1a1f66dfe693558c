/*
 * Atomic output: temp file in the same directory (rename is only atomic within one file
 * system), fsync the data, rename, fsync the directory so the rename itself is durable.
 */
#include "tools/mezz-igvm/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void set_msg(char *msg, size_t msg_len, const char *step, const char *path, int err)
{
	if (msg_len)
		snprintf(msg, msg_len, "%s %s: %s", step, path, strerror(err));
}

/* Directory part of path ("." when there is none); returns -ENAMETOOLONG if it won't fit. */
static int dir_of(const char *path, char *dir, size_t dir_len)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	if (!slash) {
		snprintf(dir, dir_len, ".");
		return 0;
	}
	n = (size_t)(slash - path);
	if (n == 0)
		n = 1; /* "/file" -> "/" */
	if (n + 1 > dir_len)
		return -ENAMETOOLONG;
	memcpy(dir, path, n);
	dir[n] = '\0';
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int atomic_file_write(const char *path, const void *buf, size_t len, char *msg, size_t msg_len)
{
	char dir[PATH_MAX];
	char tmp[PATH_MAX];
	mode_t um;
	int fd, dfd, rc;

	if (!path || !*path || (len && !buf)) {
		set_msg(msg, msg_len, "write", path ? path : "(null)", EINVAL);
		return -EINVAL;
	}
	rc = dir_of(path, dir, sizeof(dir));
	if (rc == 0 && snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp))
		rc = -ENAMETOOLONG;
	if (rc) {
		set_msg(msg, msg_len, "write", path, -rc);
		return rc;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		rc = -errno;
		set_msg(msg, msg_len, "cannot create temporary file for", path, -rc);
		return rc;
	}
	/* mkstemp makes 0600; an output image is an ordinary file (0666 less the umask). */
	um = umask(0);
	umask(um);
	if (fchmod(fd, 0666 & ~um) != 0) {
		rc = -errno;
		set_msg(msg, msg_len, "chmod", tmp, -rc);
		goto err_unlink;
	}
	rc = write_all(fd, buf, len);
	if (rc) {
		set_msg(msg, msg_len, "write", tmp, -rc);
		goto err_unlink;
	}
	if (fsync(fd) != 0) {
		rc = -errno;
		set_msg(msg, msg_len, "fsync", tmp, -rc);
		goto err_unlink;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = -errno;
		set_msg(msg, msg_len, "close", tmp, -rc);
		goto err_unlink;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		rc = -errno;
		set_msg(msg, msg_len, "rename to", path, -rc);
		goto err_unlink;
	}
	/* Best effort: make the rename durable. A failure here does not undo the output. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;

err_unlink:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}

int atomic_file_read(const char *path, size_t max_len, uint8_t **buf, size_t *len)
{
	struct stat st;
	uint8_t *p = NULL;
	size_t have = 0, cap;
	int fd, rc;

	*buf = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = -EISDIR;
		goto out;
	}
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max_len) {
		rc = -EFBIG;
		goto out;
	}
	/* Size from fstat is a hint only (pipes, files that change while read). */
	cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 4096;
	p = malloc(cap);
	if (!p) {
		rc = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t r;

		if (have + 1 >= cap) {
			uint8_t *np;

			if (cap > max_len + 1) {
				rc = -EFBIG;
				goto out;
			}
			cap *= 2;
			np = realloc(p, cap);
			if (!np) {
				rc = -ENOMEM;
				goto out;
			}
			p = np;
		}
		r = read(fd, p + have, cap - 1 - have);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto out;
		}
		if (r == 0)
			break;
		have += (size_t)r;
		if (have > max_len) {
			rc = -EFBIG;
			goto out;
		}
	}
	p[have] = '\0';
	*buf = p;
	*len = have;
	p = NULL;
	rc = 0;
out:
	free(p);
	close(fd);
	return rc;
}
