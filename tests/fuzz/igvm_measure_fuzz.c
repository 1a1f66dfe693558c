/*
 * libFuzzer target: parse (checksum and size repaired so mutations reach the directives),
 * then measure every platform of the file in both SNP conventions.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "igvm/igvm.h"
#include "igvm/igvm_measure.h"
#include "tests/unit/igvm_test_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Pages a measurement would walk; parameter areas are capped at 1 GiB by the parser, but a
 * fuzz unit should stay fast, so skip units that would hash more than 4 MiB. */
static uint64_t cost_pages(const struct igvm_file *f)
{
	uint64_t n = 0;
	for (size_t i = 0; i < f->n_headers; i++) {
		const struct igvm_header *h = &f->headers[i];
		if (h->type == IGVM_VHT_PARAMETER_INSERT)
			n += h->insert_size / 4096;
		else if (h->type == IGVM_VHT_ERROR_RANGE)
			n += h->u.error_range.size_bytes / 4096 + 1;
		else
			n++;
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = tu_repaired_copy(data, size);
	if (!copy)
		return 0;
	struct igvm_file *f = NULL;
	struct igvm_error e;
	if (igvm_parse(copy, size, NULL, &f, &e) == IGVM_OK) {
		if (cost_pages(f) <= 1024) {
			for (size_t p = 0; p < f->n_platforms; p++) {
				for (int conv = 0; conv < 2; conv++) {
					uint8_t d[IGVM_MEASURE_DIGEST_MAX];
					size_t dl = 0;
					int rc = igvm_measure_mask(f, f->platforms[p].mask,
								   (enum igvm_snp_convention)conv, d,
								   &dl, &e);
					if (rc == IGVM_OK && dl != 32 && dl != 48)
						abort();
				}
			}
		}
		igvm_free(f);
	}
	free(copy);
	return 0;
}
