/*
 * Manifest parser fuzz target: the input is a JSON manifest. It goes through the whole
 * JSON -> builder -> writer path; payload files come from a sandboxed resolver that never
 * touches the file system (it returns a small deterministic blob derived from the name, or
 * -ENOENT for names starting with "missing"). Invariant checked: whatever the writer returns
 * parses again and has the length it claims.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "igvm/igvm.h"
#include "igvm/igvm_build.h"
#include "tools/mezz-igvm/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fake_read(void *ctx, const char *path, uint8_t **buf, size_t *len)
{
	size_t n = strlen(path);
	size_t out_len = (n * 613) % 9000; /* up to ~2 pages, sometimes empty */
	uint8_t *p;

	(void)ctx;
	if (strncmp(path, "missing", 7) == 0)
		return -ENOENT;
	p = malloc(out_len ? out_len : 1);
	if (!p)
		return -ENOMEM;
	for (size_t i = 0; i < out_len; i++)
		p[i] = (uint8_t)(path[i % n] + i);
	*buf = p;
	*len = out_len;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct manifest_io io = { .read_file = fake_read, .ctx = NULL };
	struct igvm_builder *b = NULL;
	struct igvm_file *f = NULL;
	struct igvm_error err;
	uint8_t *img = NULL;
	size_t len = 0;
	char msg[256];

	if (size > (1u << 20))
		return 0;
	if (manifest_build((const char *)data, size, &io, &b, msg, sizeof(msg)) != 0) {
		if (b)
			abort(); /* failure must not hand out a builder */
		return 0;
	}
	memset(&err, 0, sizeof(err));
	/* Huge zero-padded areas are legal; writing them would only measure memory. */
	if (igvm_build_size_bound(b) > (64u << 20)) {
		igvm_build_free(b);
		return 0;
	}
	if (igvm_build_write(b, &img, &len, &err) == 0) {
		if (!img || len < 24)
			abort();
		if (igvm_parse(img, len, NULL, &f, &err) != IGVM_OK)
			abort(); /* the writer promised a loadable file */
		if (f->total_file_size != len)
			abort();
		igvm_free(f);
	} else if (img) {
		abort();
	}
	free(img);
	igvm_build_free(b);
	return 0;
}
