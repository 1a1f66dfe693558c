/*
 * Helpers shared by the IGVM unit and fuzz tests: locate ../shared/testdata, read files, and a tiny
 * independent file writer (fixed header + TLVs + data, checksum per igvm-facts §3) for
 * hand-made inputs. Header-only, static inline, test use only.
 */
#ifndef MEZZ_TESTS_IGVM_TEST_UTIL_H
#define MEZZ_TESTS_IGVM_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "igvm/igvm.h"
#include "igvm/igvm_crc.h"

/* Directory holding the IGVM known-answer files ($MEZZ_SHARED or ../shared, + testdata/igvm). */
static inline const char *tu_igvm_dir(void)
{
	static char path[1024];
	const char *base = getenv("MEZZ_SHARED");
	snprintf(path, sizeof(path), "%s/testdata/igvm", base && *base ? base : "../shared");
	return path;
}

/* Read a whole file; NULL if absent. */
static inline uint8_t *tu_read(const char *path, size_t *len)
{
	*len = 0;
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	uint8_t *b = NULL;
	size_t cap = 0, n = 0;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 65536;
			uint8_t *nb = realloc(b, cap);
			if (!nb) {
				free(b);
				fclose(fp);
				return NULL;
			}
			b = nb;
		}
		size_t r = fread(b + n, 1, cap - n, fp);
		if (!r)
			break;
		n += r;
	}
	fclose(fp);
	*len = n;
	return b;
}

/* Read testdata/igvm/<name> (name may contain a subdirectory); NULL if absent. */
static inline uint8_t *tu_read_igvm(const char *name, size_t *len)
{
	char path[1400];
	snprintf(path, sizeof(path), "%s/%s", tu_igvm_dir(), name);
	return tu_read(path, len);
}

/* In a cmocka test (include <cmocka.h> first): skip when a testdata read came back NULL. */
#define TU_SKIP_IF_MISSING(buf)                                                                \
	do {                                                                                   \
		if (!(buf)) {                                                                  \
			print_message("skipping: IGVM testdata not found at %s (set MEZZ_SHARED)\n", \
				      tu_igvm_dir());                                          \
			skip();                                                                \
		}                                                                              \
	} while (0)

/* Fuzz helper: a malloc'ed copy of a unit with total_file_size and the CRC repaired, so
 * mutations get past the fixed-header checks; NULL when too short/long to be a file. */
static inline uint8_t *tu_repaired_copy(const uint8_t *data, size_t size)
{
	if (size < 24 || size > (1u << 20))
		return NULL;
	uint8_t *copy = malloc(size);
	if (!copy)
		return NULL;
	memcpy(copy, data, size);
	uint32_t total = (uint32_t)size, crc;
	memcpy(copy + 16, &total, 4);
	if (igvm_compute_checksum(copy, size, &crc) == IGVM_OK)
		memcpy(copy + 20, &crc, 4);
	return copy;
}

/* ---- tiny writer ---------------------------------------------------------------------- */
#define TU_MAX 131072
#define TU_MAX_PATCH 4096
/* Room for two 2 MiB pages of data plus small blobs. */
#define TU_MAX_DATA ((4u << 20) + TU_MAX * 4)

struct tu_file {
	uint32_t version;
	uint32_t arch;
	uint32_t vho;                  /* variable_header_offset */
	uint8_t hdr[TU_MAX];           /* variable header section being built */
	size_t hdr_len;
	uint8_t data[TU_MAX_DATA];     /* file data, placed right after the section */
	size_t data_len;
	struct { size_t pos; size_t rel; } patch[TU_MAX_PATCH];   /* file_offset fixups */
	size_t n_patch;
	uint8_t out[TU_MAX + TU_MAX_DATA + 64];
	size_t out_len;
};

static inline void tu_init(struct tu_file *t, uint32_t version)
{
	memset(t, 0, sizeof(*t));
	t->version = version;
	t->vho = version == 1 ? 24 : 32;
}

/* Append one TLV with zero padding; returns the position of the body in hdr[]. */
static inline size_t tu_hdr(struct tu_file *t, uint32_t type, const void *body, uint32_t len)
{
	if (t->hdr_len + 8 + len + 8 > sizeof(t->hdr)) {
		fprintf(stderr, "tu_hdr: test file header section full\n");
		abort();
	}
	memcpy(t->hdr + t->hdr_len, &type, 4);
	memcpy(t->hdr + t->hdr_len + 4, &len, 4);
	memcpy(t->hdr + t->hdr_len + 8, body, len);
	size_t pos = t->hdr_len + 8;
	t->hdr_len += 8 + ((len + 7u) & ~7u);
	return pos;
}

/* Append a TLV whose u32 at body+fo_field is the absolute file offset of `data`. */
static inline size_t tu_hdr_data(struct tu_file *t, uint32_t type, const void *body, uint32_t len,
				 size_t fo_field, const void *data, size_t dlen)
{
	if (t->n_patch >= TU_MAX_PATCH || dlen > sizeof(t->data) - t->data_len) {
		fprintf(stderr, "tu_hdr_data: test file data or patch table full\n");
		abort();
	}
	size_t pos = tu_hdr(t, type, body, len);
	t->patch[t->n_patch].pos = pos + fo_field;
	t->patch[t->n_patch].rel = t->data_len;
	t->n_patch++;
	memcpy(t->data + t->data_len, data, dlen);
	t->data_len += dlen;
	return pos;
}

static inline void tu_fix_crc(uint8_t *buf, size_t len)
{
	uint32_t crc;
	if (igvm_compute_checksum(buf, len, &crc) == IGVM_OK)
		memcpy(buf + 20, &crc, 4);
}

/* Lay the file out in t->out; always appends at least one data byte (crate quirk §7). */
static inline size_t tu_finish(struct tu_file *t)
{
	uint32_t fds = t->vho + (uint32_t)t->hdr_len;
	for (size_t i = 0; i < t->n_patch; i++) {
		uint32_t fo = fds + (uint32_t)t->patch[i].rel;
		memcpy(t->hdr + t->patch[i].pos, &fo, 4);
	}
	if (!t->data_len)
		t->data[t->data_len++] = 0xAA;
	memset(t->out, 0, t->vho);
	uint32_t magic = IGVM_MAGIC, vhs = (uint32_t)t->hdr_len;
	uint32_t total = fds + (uint32_t)t->data_len;
	memcpy(t->out, &magic, 4);
	memcpy(t->out + 4, &t->version, 4);
	memcpy(t->out + 8, &t->vho, 4);
	memcpy(t->out + 12, &vhs, 4);
	memcpy(t->out + 16, &total, 4);
	if (t->version >= 2) {
		uint32_t ps = 4096;
		memcpy(t->out + 24, &t->arch, 4);
		memcpy(t->out + 28, &ps, 4);
	}
	memcpy(t->out + t->vho, t->hdr, t->hdr_len);
	memcpy(t->out + fds, t->data, t->data_len);
	t->out_len = total;
	tu_fix_crc(t->out, total);
	return total;
}

static inline void tu_platform(struct tu_file *t, uint32_t mask, uint8_t type, uint8_t vtl)
{
	struct igvm_vhs_supported_platform p = { .compatibility_mask = mask, .highest_vtl = vtl,
						 .platform_type = type, .platform_version = 1 };
	tu_hdr(t, IGVM_VHT_SUPPORTED_PLATFORM, &p, sizeof(p));
}

static inline void tu_page(struct tu_file *t, uint64_t gpa, uint32_t mask, uint32_t flags,
			   uint16_t type, const uint8_t *page)
{
	struct igvm_vhs_page_data p = { .gpa = gpa, .compatibility_mask = mask, .flags = flags,
					.data_type = type };
	if (page)
		tu_hdr_data(t, IGVM_VHT_PAGE_DATA, &p, sizeof(p),
			    offsetof(struct igvm_vhs_page_data, file_offset), page, 4096);
	else
		tu_hdr(t, IGVM_VHT_PAGE_DATA, &p, sizeof(p));
}

/* PAGE_DATA with dlen bytes of data (any size, e.g. 2 MiB or a short 2 MiB page); data NULL:
 * file_offset 0. */
static inline void tu_page_n(struct tu_file *t, uint64_t gpa, uint32_t mask, uint32_t flags,
			     uint16_t type, const uint8_t *data, size_t dlen)
{
	struct igvm_vhs_page_data p = { .gpa = gpa, .compatibility_mask = mask, .flags = flags,
					.data_type = type };
	if (data)
		tu_hdr_data(t, IGVM_VHT_PAGE_DATA, &p, sizeof(p),
			    offsetof(struct igvm_vhs_page_data, file_offset), data, dlen);
	else
		tu_hdr(t, IGVM_VHT_PAGE_DATA, &p, sizeof(p));
}

static inline int tu_parse(struct tu_file *t, struct igvm_file **f, struct igvm_error *e)
{
	tu_finish(t);
	return igvm_parse(t->out, t->out_len, NULL, f, e);
}

#endif /* MEZZ_TESTS_IGVM_TEST_UTIL_H */
