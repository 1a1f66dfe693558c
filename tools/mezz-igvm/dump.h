/*
 * mezz-igvm dump: a parsed IGVM file as a human-readable listing, or as a manifest (JSON)
 * that `mezz-igvm build` turns back into the same bytes when the file uses the reference
 * writer's layout (docs/mezz-igvm.md).
 */
#ifndef MEZZ_IGVM_DUMP_H
#define MEZZ_IGVM_DUMP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct igvm_file;
struct json_object;

/* Print the listing of a validated file. Returns 0 or -EIO. */
int dump_text(FILE *out, const struct igvm_file *f);

/*
 * Where dump_json puts payloads (page data, parameter area data, VP context pages, CoRIM).
 * put() stores n bytes and writes the manifest's "data_file" value for them to name; 0 or
 * -errno (msg filled). A NULL sink means inline "data_hex".
 */
struct dump_sink {
	int (*put)(void *ctx, const uint8_t *p, size_t n, char *name, size_t name_len, char *msg,
		   size_t msg_len);
	void *ctx;
};

/*
 * Manifest of a validated file (caller drops it with json_object_put). Returns 0, -ENOMEM,
 * -EINVAL when a header cannot be expressed (msg says which and why), or the sink's error.
 */
int dump_json(const struct igvm_file *f, const struct dump_sink *sink, struct json_object **out,
	      char *msg, size_t msg_len);

/*
 * Payload directory for `dump --json --data-dir DIR`: each distinct payload (trailing zero
 * bytes trimmed, as data_hex would be) becomes DIR/<sha256>.bin, referenced relative to
 * manifest_dir (the directory the manifest is written to). DIR is created if missing.
 * Files are written without per-file fsync; dump_data_dir_sync() flushes them all at once.
 * dump_data_dir_close(d, true) removes every file this run created (and DIR if it created
 * it), so a failed dump leaves nothing behind; files that already existed with the same
 * content are reused and never removed.
 */
struct dump_data_dir;
int dump_data_dir_open(const char *dir, const char *manifest_dir, struct dump_data_dir **out,
		       char *msg, size_t msg_len);
/* A dump_sink put() for ctx = struct dump_data_dir *. */
int dump_data_dir_put(void *ctx, const uint8_t *p, size_t n, char *name, size_t name_len,
		      char *msg, size_t msg_len);
int dump_data_dir_sync(struct dump_data_dir *d, char *msg, size_t msg_len);
/* Number of files this run created. */
size_t dump_data_dir_created(const struct dump_data_dir *d);
void dump_data_dir_close(struct dump_data_dir *d, int remove_created);

#endif
