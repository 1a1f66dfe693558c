/*
 * mezz-igvm manifest: a JSON description of an IGVM file (docs/mezz-igvm.md, MANIFEST FORMAT)
 * turned into builder calls. Payload files named in the manifest are read through a caller
 * supplied resolver, so the fuzz target can run the parser without touching the file system.
 */
#ifndef MEZZ_IGVM_MANIFEST_H
#define MEZZ_IGVM_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

struct igvm_builder;

/* Largest payload a manifest may pull in from one file (the image is limited to 4 GiB). */
#define MANIFEST_MAX_PAYLOAD (1ull << 32)
/* Most pages one "pages" directive may describe (4 GiB of guest memory). */
#define MANIFEST_MAX_PAGES (1u << 20)

struct manifest_io {
	/*
	 * Read the payload file `path` as written in the manifest (relative paths are relative
	 * to the manifest's directory; the resolver decides). Returns 0 with a malloc'ed buffer
	 * or -errno.
	 */
	int (*read_file)(void *ctx, const char *path, uint8_t **buf, size_t *len);
	void *ctx;
};

/*
 * Parse a manifest and build it. On success *out is a builder holding every header (caller
 * frees with igvm_build_free). Returns 0, -EINVAL (bad manifest: msg names the JSON location
 * and the problem), -ENOENT/-EACCES/... (payload file could not be read; msg says which) or
 * -ENOMEM.
 */
int manifest_build(const char *json, size_t len, const struct manifest_io *io,
		   struct igvm_builder **out, char *msg, size_t msg_len);

/* `mezz-igvm build --set NAME=PATH`: a file of the "paravisor" section (shim, tdx_reset,
 * kernel, initrd) replaced by PATH, which goes through the same resolver (callers make it
 * absolute when it is relative to somewhere else than the manifest). */
struct manifest_override {
	const char *name;
	const char *path;
};

/* manifest_build with overrides (n_ov 0: the same as manifest_build). An override of an
 * unknown name, or overrides for a manifest without a "paravisor" section, are -EINVAL. */
int manifest_build_ex(const char *json, size_t len, const struct manifest_io *io,
		      const struct manifest_override *ov, size_t n_ov, struct igvm_builder **out,
		      char *msg, size_t msg_len);

/*
 * Standard resolver: paths relative to directory ctx (a const char *), absolute ones as is.
 * Paths leaving the manifest directory ("../x", "/abs/x") are allowed by design: a manifest
 * is a build recipe with the same trust as the command line that names it (like a Makefile),
 * not input from a guest, and it needs payloads from build trees elsewhere. Callers that
 * build manifests they do not trust must confine the resolver themselves (run it in a
 * sandbox or pass their own manifest_io).
 */
int manifest_read_relative(void *ctx, const char *path, uint8_t **buf, size_t *len);

/* Name tables of the manifest, shared with `dump`, which writes manifests back. */
enum manifest_table {
	MANIFEST_T_PLATFORM,    /* platform "type" */
	MANIFEST_T_PAGE_TYPE,   /* page "data_type" */
	MANIFEST_T_PAGE_FLAG,   /* page "flags" bits */
	MANIFEST_T_RELOC_FLAG,  /* relocatable region "flags" bits */
	MANIFEST_T_REQMEM_FLAG, /* required memory "flags" bits */
};

/* The manifest name of `value` in table t (its first, canonical name), or NULL. */
const char *manifest_value_name(enum manifest_table t, uint32_t value);

/* Manifest name of a VBS register (arch: enum igvm_build_arch), or NULL if it has none. */
const char *manifest_reg_name(uint32_t arch, uint32_t name);

/* Manifest "type" of a parameter header (enum igvm_build_param value), or NULL. */
const char *manifest_param_name(uint32_t type);

#endif
