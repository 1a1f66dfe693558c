/*
 * libFuzzer target: parse + validate arbitrary bytes as an IGVM file. Also feeds a copy with
 * the checksum repaired, so mutations get past the CRC and exercise the header validators.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "igvm/igvm.h"
#include "tests/unit/igvm_test_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_model(const struct igvm_file *f)
{
	/* Every pointer the model hands out lies inside the file. */
	for (size_t i = 0; i < f->n_headers; i++) {
		const struct igvm_header *h = &f->headers[i];
		if (h->body < f->bytes || h->body + h->length > f->bytes + f->len)
			abort();
		if (h->data && (h->data < f->bytes + f->file_data_offset ||
				h->data_len > (uint64_t)(f->bytes + f->len - h->data)))
			abort();
	}
}

static void one(const uint8_t *buf, size_t len, unsigned flags)
{
	struct igvm_parse_opts o = { .flags = flags, .filter_mask = flags ? 1 : 0 };
	struct igvm_file *f = NULL;
	struct igvm_error e;
	int rc = igvm_parse(buf, len, &o, &f, &e);
	if (rc == IGVM_OK) {
		check_model(f);
		igvm_free(f);
	} else if (f || !e.reason[0]) {
		abort();   /* a rejection must leave no model and must say why */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one(data, size, 0);
	uint8_t *copy = tu_repaired_copy(data, size);
	if (!copy)
		return 0;
	one(copy, size, 0);
	one(copy, size, IGVM_PARSE_COPY | IGVM_PARSE_STRICT_MASKS);
	free(copy);
	return 0;
}
