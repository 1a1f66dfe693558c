/*
 * mezz-igvm dump: a parsed IGVM file as a human-readable listing, or as a manifest (JSON)
 * that `mezz-igvm build` turns back into the same bytes when the file uses the reference
 * writer's layout (docs/mezz-igvm.md).
 */
#ifndef MEZZ_IGVM_DUMP_H
#define MEZZ_IGVM_DUMP_H

#include <stdio.h>

struct igvm_file;
struct json_object;

/* Print the listing of a validated file. Returns 0 or -EIO. */
int dump_text(FILE *out, const struct igvm_file *f);

/*
 * Manifest of a validated file (caller drops it with json_object_put). Returns 0, -ENOMEM, or
 * -EINVAL when a header cannot be expressed (msg says which and why).
 */
int dump_json(const struct igvm_file *f, struct json_object **out, char *msg, size_t msg_len);

#endif
