/*
 * IGVM measurement tests: the known-answer TSVs (reference crate and the independent Python
 * re-implementation) and hand-made files whose digests are recomputed here straight from the
 * fact sheet's byte layouts (§11, §12, §14) with raw mbedtls calls.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <mbedtls/sha256.h>
#include <mbedtls/sha512.h>

#include "igvm/igvm.h"
#include "igvm/igvm_measure.h"
#include "tests/unit/igvm_test_util.h"

static struct tu_file *T;

static int setup(void **state)
{
	(void)state;
	T = calloc(1, sizeof(*T));
	return T ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	free(T);
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static size_t unhex(const char *s, uint8_t *out, size_t max)
{
	size_t n = 0;
	while (n < max && hexval(s[0]) >= 0 && hexval(s[1]) >= 0) {
		out[n++] = (uint8_t)(hexval(s[0]) << 4 | hexval(s[1]));
		s += 2;
	}
	return n;
}

/* One TSV: file \t PLATFORM[(native-zero...)] \t mask=0xN \t hexdigest */
static size_t check_tsv(const char *name)
{
	char path[1200], line[1024];
	snprintf(path, sizeof(path), "%s/%s", tu_igvm_dir(), name);
	FILE *fp = fopen(path, "r");
	if (!fp) {
		print_message("skipping: %s not found (set MEZZ_SHARED)\n", path);
		skip();
	}
	size_t n = 0;
	while (fgets(line, sizeof(line), fp)) {
		char *file = strtok(line, "\t\n");
		char *plat = strtok(NULL, "\t\n");
		char *mask_s = strtok(NULL, "\t\n");
		char *hex = strtok(NULL, "\t\n");
		if (!file || !plat || !mask_s || !hex)
			continue;
		uint32_t mask = (uint32_t)strtoul(mask_s + 5, NULL, 16);   /* "mask=0x.." */
		enum igvm_snp_convention conv = strstr(plat, "native-zero") ? IGVM_SNP_CONV_NATIVE_ZERO
									     : IGVM_SNP_CONV_CRATE;
		uint8_t want[64];
		size_t want_len = unhex(hex, want, sizeof(want));
		size_t len = 0;
		uint8_t *b = tu_read_igvm(file, &len);
		assert_non_null(b);
		struct igvm_file *f;
		struct igvm_error e;
		assert_int_equal(igvm_parse(b, len, NULL, &f, &e), IGVM_OK);
		uint8_t got[IGVM_MEASURE_DIGEST_MAX];
		size_t got_len = 0;
		int rc = igvm_measure_mask(f, mask, conv, got, &got_len, &e);
		if (rc)
			print_error("%s %s: rc %d %s\n", file, plat, rc, e.reason);
		assert_int_equal(rc, IGVM_OK);
		/* The platform named in the TSV is the one owning the mask. */
		const char *pname = NULL;
		for (size_t i = 0; i < f->n_platforms; i++)
			if (f->platforms[i].mask == mask)
				pname = igvm_platform_name(f->platforms[i].type);
		assert_non_null(pname);
		assert_int_equal(strncmp(plat, pname, strlen(pname)), 0);
		assert_int_equal(got_len, want_len);
		assert_memory_equal(got, want, want_len);
		/* igvm_measure by type agrees with by-mask. */
		uint8_t got2[IGVM_MEASURE_DIGEST_MAX];
		size_t got2_len = 0;
		const struct igvm_platform_info *pi = NULL;
		for (size_t i = 0; i < f->n_platforms; i++)
			if (f->platforms[i].mask == mask)
				pi = &f->platforms[i];
		assert_int_equal(igvm_measure(f, pi->type, conv, got2, &got2_len, NULL), IGVM_OK);
		assert_memory_equal(got2, want, want_len);
		igvm_free(f);
		free(b);
		n++;
	}
	fclose(fp);
	return n;
}

static void test_expected_measurements(void **state)
{
	(void)state;
	assert_true(check_tsv("expected_measurements.tsv") >= 6);
}

static void test_py_measurements(void **state)
{
	(void)state;
	assert_true(check_tsv("py_measurements.tsv") >= 8);
}

/* ---- independent recomputation from the sheet ------------------------------------------ */
static void sha384(const void *in, size_t len, uint8_t out[48])
{
	uint8_t full[64];
	assert_int_equal(mbedtls_sha512_ret(in, len, full, 1), 0);
	memcpy(out, full, 48);
}

/* §11 PAGE_INFO by explicit byte offsets (not via the library's struct). */
static void snp_step(uint8_t ld[48], const uint8_t contents[48], uint8_t type, uint64_t gpa)
{
	uint8_t pi[0x70] = { 0 };
	memcpy(pi, ld, 48);
	if (contents)
		memcpy(pi + 0x30, contents, 48);
	pi[0x60] = 0x70;
	pi[0x62] = type;
	for (int i = 0; i < 8; i++)
		pi[0x68 + i] = (uint8_t)(gpa >> (8 * i));
	sha384(pi, sizeof(pi), ld);
}

static uint8_t pg1[4096], pg2[4096], vmsa[4096];
static const uint8_t zeros[4096];

static void fill_pages(void)
{
	for (int i = 0; i < 4096; i++) {
		pg1[i] = (uint8_t)(i * 7 + 1);
		pg2[i] = (uint8_t)(i ^ 0x5C);
		vmsa[i] = (uint8_t)(i < 0x670 ? i * 3 : 0);
	}
}

static void measure_ok(uint32_t mask, enum igvm_snp_convention conv, uint8_t *d, size_t *dl)
{
	struct igvm_file *f;
	struct igvm_error e;
	tu_finish(T);
	assert_int_equal(igvm_parse(T->out, T->out_len, NULL, &f, &e), IGVM_OK);
	int rc = igvm_measure_mask(f, mask, conv, d, dl, &e);
	if (rc)
		print_error("measure: %d %s\n", rc, e.reason);
	assert_int_equal(rc, IGVM_OK);
	igvm_free(f);
}

static void test_snp_by_hand(void **state)
{
	(void)state;
	fill_pages();
	tu_init(T, 1);
	tu_platform(T, 1, IGVM_PLATFORM_SEV_SNP, 0);
	tu_page(T, 0x1000, 1, 0, IGVM_PAGE_DATA_NORMAL, pg1);
	tu_page(T, 0x2000, 1, 0, IGVM_PAGE_DATA_NORMAL, NULL);                 /* zero page */
	tu_page(T, 0x3000, 1, IGVM_PAGE_FLAG_UNMEASURED, 0, pg2);
	tu_page(T, 0x4000, 1, 0, IGVM_PAGE_DATA_SECRETS, NULL);
	tu_page(T, 0x5000, 1, 0, IGVM_PAGE_DATA_CPUID_DATA, NULL);
	tu_page(T, 0x6000, 1, IGVM_PAGE_FLAG_SHARED, 0, pg2);                 /* skipped */
	tu_page(T, 0x7000, 2, 0, 0, pg2);                                     /* other mask */
	struct igvm_vhs_parameter_area pa = { .number_of_bytes = 0x2000, .parameter_area_index = 1 };
	tu_hdr(T, IGVM_VHT_PARAMETER_AREA, &pa, sizeof(pa));
	struct igvm_vhs_parameter_insert ins = { .gpa = 0x10000, .compatibility_mask = 1,
						 .parameter_area_index = 1 };
	tu_hdr(T, IGVM_VHT_PARAMETER_INSERT, &ins, sizeof(ins));
	struct igvm_vhs_vp_context vp = { .gpa = IGVM_SNP_KVM_VMSA_GPA, .compatibility_mask = 1 };
	tu_hdr_data(T, IGVM_VHT_VP_CONTEXT, &vp, sizeof(vp),
		    offsetof(struct igvm_vhs_vp_context, file_offset), vmsa, sizeof(vmsa));

	for (int conv = 0; conv < 2; conv++) {
		uint8_t ld[48] = { 0 }, h[48];
		sha384(pg1, 4096, h);
		snp_step(ld, h, 1, 0x1000);
		if (conv == IGVM_SNP_CONV_NATIVE_ZERO) {
			snp_step(ld, NULL, 3, 0x2000);
		} else {
			sha384(zeros, 4096, h);
			snp_step(ld, h, 1, 0x2000);
		}
		snp_step(ld, NULL, 4, 0x3000);
		snp_step(ld, NULL, 5, 0x4000);
		snp_step(ld, NULL, 6, 0x5000);
		snp_step(ld, NULL, 4, 0x10000);
		snp_step(ld, NULL, 4, 0x11000);
		sha384(vmsa, 4096, h);
		snp_step(ld, h, 2, IGVM_SNP_KVM_VMSA_GPA);

		uint8_t d[48];
		size_t dl = 0;
		measure_ok(1, (enum igvm_snp_convention)conv, d, &dl);
		assert_int_equal(dl, 48);
		assert_memory_equal(d, ld, 48);
	}
}

static void test_tdx_by_hand(void **state)
{
	(void)state;
	fill_pages();
	tu_init(T, 1);
	tu_platform(T, 4, IGVM_PLATFORM_TDX, 0);
	tu_page(T, 0xFFFFF000ull, 4, 0, IGVM_PAGE_DATA_NORMAL, pg1);
	tu_page(T, 0x2000, 4, IGVM_PAGE_FLAG_UNMEASURED, 0, pg2);
	tu_page(T, 0x3000, 4, 0, IGVM_PAGE_DATA_SECRETS, NULL);   /* measured as zeros */
	tu_page(T, 0x4000, 4, IGVM_PAGE_FLAG_SHARED, 0, pg2);     /* skipped */
	struct igvm_vhs_parameter_area pa = { .number_of_bytes = 0x1000 };
	tu_hdr(T, IGVM_VHT_PARAMETER_AREA, &pa, sizeof(pa));
	struct igvm_vhs_parameter_insert ins = { .gpa = 0x8000, .compatibility_mask = 4 };
	tu_hdr(T, IGVM_VHT_PARAMETER_INSERT, &ins, sizeof(ins));

	mbedtls_sha512_context ctx;
	mbedtls_sha512_init(&ctx);
	assert_int_equal(mbedtls_sha512_starts_ret(&ctx, 1), 0);
	struct { uint64_t gpa; const uint8_t *data; } seq[] = {
		{ 0xFFFFF000ull, pg1 }, { 0x2000, NULL }, { 0x3000, zeros }, { 0x8000, NULL } };
	for (size_t i = 0; i < 4; i++) {
		uint8_t rec[128] = "MEM.PAGE.ADD";
		memcpy(rec + 16, &seq[i].gpa, 8);
		mbedtls_sha512_update_ret(&ctx, rec, 128);
		if (!seq[i].data)
			continue;
		for (int k = 0; k < 16; k++) {
			uint8_t ext[384] = "MR.EXTEND";
			uint64_t g = seq[i].gpa + (uint64_t)k * 256;
			memcpy(ext + 16, &g, 8);
			memcpy(ext + 128, seq[i].data + k * 256, 256);
			mbedtls_sha512_update_ret(&ctx, ext, 384);
		}
	}
	uint8_t want[64];
	mbedtls_sha512_finish_ret(&ctx, want);
	mbedtls_sha512_free(&ctx);

	uint8_t d[48];
	size_t dl = 0;
	measure_ok(4, IGVM_SNP_CONV_CRATE, d, &dl);
	assert_int_equal(dl, 48);
	assert_memory_equal(d, want, 48);
}

static void vbs_step(uint8_t dg[32], const void *chunk, size_t len)
{
	uint8_t *buf = malloc(32 + len);
	assert_non_null(buf);
	memcpy(buf, dg, 32);
	memcpy(buf + 32, chunk, len);
	assert_int_equal(mbedtls_sha256_ret(buf, 32 + len, dg, 0), 0);
	free(buf);
}

static void vbs_page_chunk(uint8_t dg[32], uint64_t pn, uint64_t meta, const uint8_t *data)
{
	uint8_t c[32 + 4096] = { 0 };
	uint32_t bc = 4128, ty = 2;
	memcpy(c, &bc, 4);
	memcpy(c + 4, &ty, 4);
	memcpy(c + 16, &meta, 8);
	memcpy(c + 24, &pn, 8);
	if (data)
		memcpy(c + 32, data, 4096);
	vbs_step(dg, c, sizeof(c));
}

static void test_vbs_by_hand(void **state)
{
	(void)state;
	fill_pages();
	tu_init(T, 1);
	tu_platform(T, 1, IGVM_PLATFORM_VSM_ISOLATION, 2);
	/* Registers: two VTL2 registers. */
	uint8_t regs[4 + 64] = { 0 };
	uint32_t cnt = 2, rip = IGVM_HV_X64_RIP, cr0 = IGVM_HV_X64_CR0;
	memcpy(regs, &cnt, 4);
	regs[4] = 2;
	memcpy(regs + 5, &rip, 4);
	regs[4 + 16] = 0x34;
	regs[4 + 32] = 2;
	memcpy(regs + 4 + 32 + 1, &cr0, 4);
	regs[4 + 32 + 16] = 0x31;
	struct igvm_vhs_vp_context vp = { .compatibility_mask = 1 };
	/* VP context first in the file: still measured last. */
	tu_hdr_data(T, IGVM_VHT_VP_CONTEXT, &vp, sizeof(vp),
		    offsetof(struct igvm_vhs_vp_context, file_offset), regs, sizeof(regs));
	tu_page(T, 0x1000, 1, 0, 0, pg1);
	tu_page(T, 0x2000, 1, IGVM_PAGE_FLAG_UNMEASURED, 0, pg2);
	tu_page(T, 0x3000, 1, IGVM_PAGE_FLAG_SHARED, 0, pg2);
	struct igvm_vhs_error_range er = { .gpa = 0x20000, .compatibility_mask = 1,
					   .size_bytes = 0x2000 };
	tu_hdr(T, IGVM_VHT_ERROR_RANGE, &er, sizeof(er));

	uint8_t dg[32] = { 0 };
	vbs_page_chunk(dg, 1, 0, pg1);
	vbs_page_chunk(dg, 2, 4, NULL);
	vbs_page_chunk(dg, 0x20, 7, NULL);
	vbs_page_chunk(dg, 0x21, 7, NULL);
	for (int r = 0; r < 2; r++) {
		uint8_t c[48] = { 0 };
		uint32_t bc = 48;
		memcpy(c, &bc, 4);
		c[20] = 2;
		memcpy(c + 28, regs + 4 + 32 * r + 1, 4);
		memcpy(c + 32, regs + 4 + 32 * r + 16, 16);
		vbs_step(dg, c, sizeof(c));
	}
	uint8_t d[48];
	size_t dl = 0;
	measure_ok(1, IGVM_SNP_CONV_CRATE, d, &dl);
	assert_int_equal(dl, 32);
	assert_memory_equal(d, dg, 32);
}

/* The model keeps the validated VBS register list length; measuring must use it, not re-read
 * the count from the borrowed file bytes (they may change after parsing, e.g. a shared
 * mapping): a grown count would read past the list. */
static void test_vbs_count_from_model(void **state)
{
	(void)state;
	uint8_t regs[4 + 64] = { 0 };
	uint32_t cnt = 2, rip = IGVM_HV_X64_RIP;
	memcpy(regs, &cnt, 4);
	regs[4] = 2;
	memcpy(regs + 5, &rip, 4);
	regs[4 + 16] = 0x34;
	regs[4 + 32] = 2;
	tu_init(T, 1);
	tu_platform(T, 1, IGVM_PLATFORM_VSM_ISOLATION, 2);
	struct igvm_vhs_vp_context vp = { .compatibility_mask = 1 };
	tu_hdr_data(T, IGVM_VHT_VP_CONTEXT, &vp, sizeof(vp),
		    offsetof(struct igvm_vhs_vp_context, file_offset), regs, sizeof(regs));
	struct igvm_file *f;
	assert_int_equal(tu_parse(T, &f, NULL), IGVM_OK);
	const struct igvm_header *h = igvm_header_next(f, NULL, IGVM_SECTION_DIRECTIVE);
	assert_non_null(h);
	assert_int_equal(h->type, IGVM_VHT_VP_CONTEXT);
	assert_int_equal(h->data_len, sizeof(regs));
	uint8_t d1[IGVM_MEASURE_DIGEST_MAX], d2[IGVM_MEASURE_DIGEST_MAX];
	size_t l1 = 0, l2 = 0;
	assert_int_equal(igvm_measure(f, IGVM_PLATFORM_VSM_ISOLATION, 0, d1, &l1, NULL), IGVM_OK);
	/* The file bytes change under the model: the count now claims 100 registers. */
	uint8_t *count_at = T->out + (h->data - T->out);
	uint32_t grown = 100;
	memcpy(count_at, &grown, 4);
	assert_int_equal(igvm_measure(f, IGVM_PLATFORM_VSM_ISOLATION, 0, d2, &l2, NULL), IGVM_OK);
	assert_int_equal(l1, l2);
	assert_memory_equal(d1, d2, l1);
	igvm_free(f);
}

static void test_measure_errors(void **state)
{
	(void)state;
	uint8_t d[48];
	size_t dl;
	struct igvm_error e;
	struct igvm_file *f;

	/* VBS refuses SNP-only page types. */
	tu_init(T, 1);
	tu_platform(T, 1, IGVM_PLATFORM_VSM_ISOLATION, 0);
	tu_page(T, 0x1000, 1, 0, IGVM_PAGE_DATA_SECRETS, NULL);
	tu_finish(T);
	assert_int_equal(igvm_parse(T->out, T->out_len, NULL, &f, &e), IGVM_OK);
	assert_int_equal(igvm_measure(f, IGVM_PLATFORM_VSM_ISOLATION, 0, d, &dl, &e),
			 IGVM_E_MEASUREMENT_FAILED);
	assert_int_equal(e.header_index, 1);
	/* Platform absent from the file / mask unknown. */
	assert_int_equal(igvm_measure(f, IGVM_PLATFORM_SEV_SNP, 0, d, &dl, &e),
			 IGVM_E_INVALID_PLATFORM_TYPE);
	assert_int_equal(igvm_measure_mask(f, 2, 0, d, &dl, &e), IGVM_E_INVALID_PLATFORM_TYPE);
	assert_int_equal(igvm_measure_mask(f, 1, 7, d, &dl, &e), IGVM_E_INVALID_PARAMETER);
	assert_int_equal(igvm_measure(NULL, IGVM_PLATFORM_SEV_SNP, 0, d, &dl, &e),
			 IGVM_E_INVALID_PARAMETER);
	igvm_free(f);
	/* Native has no launch measurement. */
	tu_init(T, 2);
	tu_platform(T, 1, IGVM_PLATFORM_NATIVE, 0);
	tu_finish(T);
	assert_int_equal(igvm_parse(T->out, T->out_len, NULL, &f, &e), IGVM_OK);
	assert_int_equal(igvm_measure(f, IGVM_PLATFORM_NATIVE, 0, d, &dl, &e),
			 IGVM_E_INVALID_PLATFORM_TYPE);
	igvm_free(f);
}

/* A header for another platform, or shared/unmeasured variations, must move only the
 * digests they belong to. */
static void test_platform_isolation(void **state)
{
	(void)state;
	fill_pages();
	uint8_t base[3][48], more[3][48];
	size_t dl;
	for (int pass = 0; pass < 2; pass++) {
		tu_init(T, 1);
		tu_platform(T, 1, IGVM_PLATFORM_SEV_SNP, 0);
		tu_platform(T, 2, IGVM_PLATFORM_TDX, 0);
		tu_platform(T, 4, IGVM_PLATFORM_VSM_ISOLATION, 0);
		tu_page(T, 0x1000, 7, 0, 0, pg1);
		if (pass)
			tu_page(T, 0x2000, 2, 0, 0, pg2);   /* TDX only */
		uint8_t (*out)[48] = pass ? more : base;
		measure_ok(1, 0, out[0], &dl);
		measure_ok(2, 0, out[1], &dl);
		measure_ok(4, 0, out[2], &dl);
	}
	assert_memory_equal(base[0], more[0], 48);
	assert_memory_not_equal(base[1], more[1], 48);
	assert_memory_equal(base[2], more[2], 32);
}

static int kvm_check_built(void)
{
	struct igvm_file *f;
	struct igvm_error e;
	tu_finish(T);
	assert_int_equal(igvm_parse(T->out, T->out_len, NULL, &f, &e), IGVM_OK);
	int rc = igvm_measure_check_kvm(f, &e);
	igvm_free(f);
	return rc;
}

static void add_vmsa(uint64_t gpa, uint16_t vp_index, uint64_t cr0)
{
	struct igvm_vhs_vp_context vp = { .gpa = gpa, .compatibility_mask = 1, .vp_index = vp_index };
	memset(vmsa, 0, sizeof(vmsa));
	memcpy(vmsa + IGVM_VMSA_CR0, &cr0, 8);
	tu_hdr_data(T, IGVM_VHT_VP_CONTEXT, &vp, sizeof(vp),
		    offsetof(struct igvm_vhs_vp_context, file_offset), vmsa, sizeof(vmsa));
}

static void test_check_kvm(void **state)
{
	(void)state;
	fill_pages();
	/* Good: pages first, one VMSA at the KVM GPA with CR0 0x31. */
	tu_init(T, 1);
	tu_platform(T, 1, IGVM_PLATFORM_SEV_SNP, 0);
	tu_page(T, 0x1000, 1, 0, 0, pg1);
	add_vmsa(IGVM_SNP_KVM_VMSA_GPA, 0, 0x31);
	assert_int_equal(kvm_check_built(), IGVM_OK);
	/* A page after the VMSA. */
	tu_page(T, 0x2000, 1, 0, 0, pg1);
	assert_int_equal(kvm_check_built(), IGVM_E_MEASUREMENT_FAILED);
	/* A second VMSA (another VP). */
	tu_init(T, 1);
	tu_platform(T, 1, IGVM_PLATFORM_SEV_SNP, 0);
	add_vmsa(IGVM_SNP_KVM_VMSA_GPA, 0, 0x31);
	add_vmsa(0x5000, 1, 0x31);
	assert_int_equal(kvm_check_built(), IGVM_E_MEASUREMENT_FAILED);
	/* Wrong GPA; wrong CR0; no VMSA. */
	tu_init(T, 1);
	tu_platform(T, 1, IGVM_PLATFORM_SEV_SNP, 0);
	add_vmsa(0x5000, 0, 0x31);
	assert_int_equal(kvm_check_built(), IGVM_E_MEASUREMENT_FAILED);
	tu_init(T, 1);
	tu_platform(T, 1, IGVM_PLATFORM_SEV_SNP, 0);
	add_vmsa(IGVM_SNP_KVM_VMSA_GPA, 0, 0x80000031);
	assert_int_equal(kvm_check_built(), IGVM_E_MEASUREMENT_FAILED);
	tu_init(T, 1);
	tu_platform(T, 1, IGVM_PLATFORM_SEV_SNP, 0);
	tu_page(T, 0x1000, 1, 0, 0, pg1);
	assert_int_equal(kvm_check_built(), IGVM_E_MEASUREMENT_FAILED);
	/* The known-answer SNP file is KVM-compatible. */
	size_t len = 0;
	uint8_t *b = tu_read_igvm("snp_v1.bin", &len);
	if (b) {
		struct igvm_file *f;
		assert_int_equal(igvm_parse(b, len, NULL, &f, NULL), IGVM_OK);
		assert_int_equal(igvm_measure_check_kvm(f, NULL), IGVM_OK);
		igvm_free(f);
		free(b);
	}
}

/* ---- 2 MiB pages == 512 4 KiB pages ------------------------------------------------------ */
#define MIB2 0x200000u

struct grp {
	uint64_t gpa;
	uint32_t flags;          /* without IS_2MB_PAGE: added for the 2 MiB form */
	uint16_t type;
	const uint8_t *data;     /* 2 MiB or NULL */
};

/* A file with one platform and the groups as 2 MiB pages (split: as 512 4 KiB pages each). */
static void build_groups(uint8_t ptype, const struct grp *g, size_t n, bool split)
{
	tu_init(T, 1);
	tu_platform(T, 1, ptype, 0);
	tu_page(T, 0x1000, 1, 0, 0, NULL);   /* a plain page first: order matters */
	for (size_t i = 0; i < n; i++) {
		if (!split) {
			tu_page_n(T, g[i].gpa, 1, g[i].flags | IGVM_PAGE_FLAG_IS_2MB_PAGE, g[i].type,
				  g[i].data, MIB2);
			continue;
		}
		for (uint32_t k = 0; k < MIB2 / 4096; k++)
			tu_page(T, g[i].gpa + (uint64_t)k * 4096, 1, g[i].flags, g[i].type,
				g[i].data ? g[i].data + (size_t)k * 4096 : NULL);
	}
}

static size_t measure_groups(uint8_t ptype, enum igvm_snp_convention conv, const struct grp *g,
			     size_t n, bool split, uint8_t d[48])
{
	size_t dl = 0;
	build_groups(ptype, g, n, split);
	measure_ok(1, conv, d, &dl);
	return dl;
}

static void test_2mb_equals_512_pages(void **state)
{
	(void)state;
	static uint8_t big[MIB2], big2[MIB2];
	for (size_t i = 0; i < MIB2; i++) {
		big[i] = (uint8_t)(i * 131 + (i >> 12) * 17 + 1);
		big2[i] = (uint8_t)(i ^ (i >> 9));
	}
	static const struct {
		uint8_t ptype;
		enum igvm_snp_convention conv;
		const char *name;
	} plats[] = {
		{ IGVM_PLATFORM_SEV_SNP, IGVM_SNP_CONV_CRATE, "SNP/crate" },
		{ IGVM_PLATFORM_SEV_SNP, IGVM_SNP_CONV_NATIVE_ZERO, "SNP/kvm" },
		{ IGVM_PLATFORM_TDX, IGVM_SNP_CONV_CRATE, "TDX" },
		{ IGVM_PLATFORM_VSM_ISOLATION, IGVM_SNP_CONV_CRATE, "VBS" },
	};
	const struct grp data_only[] = { { MIB2, 0, 0, big } };
	const struct grp zero_only[] = { { 2 * MIB2, 0, 0, NULL } };
	const struct grp mixed[] = {
		{ MIB2, 0, 0, big },
		{ 2 * MIB2, 0, 0, NULL },
		{ 3 * MIB2, IGVM_PAGE_FLAG_UNMEASURED, 0, big2 },
		{ 4 * MIB2, IGVM_PAGE_FLAG_SHARED, 0, NULL },
	};
	const struct grp secrets[] = { { MIB2, 0, IGVM_PAGE_DATA_SECRETS, NULL },
				       { 2 * MIB2, 0, IGVM_PAGE_DATA_CPUID_DATA, NULL } };
	const struct { const struct grp *g; size_t n; bool vbs_ok; } cases[] = {
		{ data_only, 1, true }, { zero_only, 1, true }, { mixed, 4, true },
		{ secrets, 2, false },
	};
	for (size_t p = 0; p < sizeof(plats) / sizeof(plats[0]); p++) {
		for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
			uint8_t a[48], b[48];
			if (!cases[c].vbs_ok && plats[p].ptype == IGVM_PLATFORM_VSM_ISOLATION)
				continue;
			size_t la = measure_groups(plats[p].ptype, plats[p].conv, cases[c].g,
						   cases[c].n, false, a);
			size_t lb = measure_groups(plats[p].ptype, plats[p].conv, cases[c].g,
						   cases[c].n, true, b);
			if (la != lb || memcmp(a, b, la))
				print_error("%s case %zu: 2 MiB form differs from 512 pages\n",
					    plats[p].name, c);
			assert_int_equal(la, lb);
			assert_memory_equal(a, b, la);
		}
		/* Not the crate's reading (4 KiB of data at gpa only), and every slice counts. */
		uint8_t full[48], first[48], changed[48];
		size_t l = measure_groups(plats[p].ptype, plats[p].conv, data_only, 1, false, full);
		tu_init(T, 1);
		tu_platform(T, 1, plats[p].ptype, 0);
		tu_page(T, 0x1000, 1, 0, 0, NULL);
		tu_page(T, MIB2, 1, 0, 0, big);
		size_t l1 = 0;
		measure_ok(1, plats[p].conv, first, &l1);
		assert_int_equal(l, l1);
		assert_memory_not_equal(full, first, l);
		big[MIB2 - 1] ^= 0x80;   /* last byte of slice 511 */
		measure_groups(plats[p].ptype, plats[p].conv, data_only, 1, false, changed);
		big[MIB2 - 1] ^= 0x80;
		assert_memory_not_equal(full, changed, l);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expected_measurements),
		cmocka_unit_test(test_py_measurements),
		cmocka_unit_test(test_snp_by_hand),
		cmocka_unit_test(test_tdx_by_hand),
		cmocka_unit_test(test_vbs_by_hand),
		cmocka_unit_test(test_vbs_count_from_model),
		cmocka_unit_test(test_measure_errors),
		cmocka_unit_test(test_platform_isolation),
		cmocka_unit_test(test_check_kvm),
		cmocka_unit_test(test_2mb_equals_512_pages),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
