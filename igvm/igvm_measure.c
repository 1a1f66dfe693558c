/*
 * IGVM launch measurements (igvm-facts §11 SNP, §12 TDX, §14 VBS). The input is an already
 * validated igvm_file, so data pointers and sizes are trusted here; the walk is over
 * directives in file order, filtered by the platform's mask bit.
 */
#include "igvm/igvm_measure.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/sha256.h>
#include <mbedtls/sha512.h>

#define PAGE 4096u

static const uint8_t zero_page[PAGE];

/* mbedtls declares SHA-512 outputs as 64 bytes even in 384 mode: go through a full buffer. */
static int sha384(const uint8_t *in, size_t len, uint8_t out[48])
{
	uint8_t full[64];
	int rc = mbedtls_sha512_ret(in, len, full, 1);
	memcpy(out, full, 48);
	return rc;
}

__attribute__((format(printf, 4, 5)))
static int mfail(struct igvm_error *err, enum igvm_errc code, int idx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	igvm_error_vset(err, code, IGVM_D_NONE, idx, NULL, fmt, ap);
	va_end(ap);
	return code;
}

/*
 * A 2 MiB PAGE_DATA is measured as 512 consecutive 4 KiB pages (gpa + k*4096, data slice k),
 * exactly like 512 separate 4 KiB headers (igvmmeasure's choice; the crate reads only 4 KiB).
 */
static uint32_t page_count(const struct igvm_vhs_page_data *p)
{
	return (p->flags & IGVM_PAGE_FLAG_IS_2MB_PAGE) ? IGVM_PAGE_SIZE_2M / PAGE : 1;
}

/* Data of 4 KiB page k of a PAGE_DATA header, or NULL when the header has no file data. */
static const uint8_t *page_slice(const struct igvm_header *h, uint32_t k)
{
	return h->data ? h->data + (size_t)k * PAGE : NULL;
}

/* ---- §11 SEV-SNP launch digest ---------------------------------------------------------- */
struct snp_state {
	uint8_t ld[48];
	uint8_t zero_page_hash[48];
	int rc;
};

static void snp_update(struct snp_state *s, uint8_t page_type, const uint8_t contents[48],
		       uint64_t gpa_v)
{
	struct igvm_snp_page_info pi;

	memset(&pi, 0, sizeof(pi));
	memcpy(pi.digest_cur, s->ld, sizeof(pi.digest_cur));
	if (contents)
		memcpy(pi.contents, contents, sizeof(pi.contents));
	pi.length = sizeof(pi);
	pi.page_type = page_type;
	pi.gpa = gpa_v;
	if (sha384((const uint8_t *)&pi, sizeof(pi), s->ld))
		s->rc = IGVM_E_MEASUREMENT_FAILED;
}

/* One 4 KiB page of a PAGE_DATA header (data NULL: no file data). */
static void snp_page(struct snp_state *s, const struct igvm_vhs_page_data *p,
		     enum igvm_snp_convention conv, const uint8_t *data, uint64_t gpa_v)
{
	uint8_t h384[48];

	if (p->data_type == IGVM_PAGE_DATA_SECRETS) {
		snp_update(s, IGVM_SNP_PAGE_SECRETS, NULL, gpa_v);
	} else if (p->data_type == IGVM_PAGE_DATA_CPUID_DATA ||
		   p->data_type == IGVM_PAGE_DATA_CPUID_XF) {
		snp_update(s, IGVM_SNP_PAGE_CPUID, NULL, gpa_v);
	} else if (p->flags & IGVM_PAGE_FLAG_UNMEASURED) {
		snp_update(s, IGVM_SNP_PAGE_UNMEASURED, NULL, gpa_v);
	} else if (!data) {
		/* QEMU/KVM launches data-less pages as ZERO pages. */
		if (conv == IGVM_SNP_CONV_NATIVE_ZERO)
			snp_update(s, IGVM_SNP_PAGE_ZERO, NULL, gpa_v);
		else
			snp_update(s, IGVM_SNP_PAGE_NORMAL, s->zero_page_hash, gpa_v);
	} else {
		if (sha384(data, PAGE, h384))
			s->rc = IGVM_E_MEASUREMENT_FAILED;
		snp_update(s, IGVM_SNP_PAGE_NORMAL, h384, gpa_v);
	}
}

/* The directive header after prev (NULL: the first) that applies to `mask`, or NULL: the
 * measurement walks the directives in file order and skips those for other platforms. */
static const struct igvm_header *next_directive(const struct igvm_file *f, uint32_t mask,
						const struct igvm_header *prev)
{
	while ((prev = igvm_header_next(f, prev, IGVM_SECTION_DIRECTIVE)))
		if (igvm_header_applies(prev, mask))
			return prev;
	return NULL;
}

static int measure_snp(const struct igvm_file *f, uint32_t mask, enum igvm_snp_convention conv,
		       uint8_t *digest, size_t *digest_len, struct igvm_error *err)
{
	struct snp_state s;
	uint8_t h384[48];

	memset(&s, 0, sizeof(s));
	if (sha384(zero_page, PAGE, s.zero_page_hash))
		return mfail(err, IGVM_E_MEASUREMENT_FAILED, -1, "SHA-384 failed");
	for (const struct igvm_header *h = next_directive(f, mask, NULL); h && !s.rc;
	     h = next_directive(f, mask, h)) {
		switch (h->type) {
		case IGVM_VHT_PAGE_DATA: {
			const struct igvm_vhs_page_data *p = &h->u.page_data;
			if (p->flags & IGVM_PAGE_FLAG_SHARED)
				break;
			for (uint32_t k = 0; k < page_count(p) && !s.rc; k++)
				snp_page(&s, p, conv, page_slice(h, k), p->gpa + (uint64_t)k * PAGE);
			break;
		}
		case IGVM_VHT_PARAMETER_INSERT:
			for (uint64_t off = 0; off < h->insert_size; off += PAGE)
				snp_update(&s, IGVM_SNP_PAGE_UNMEASURED, NULL, h->u.param_insert.gpa + off);
			break;
		case IGVM_VHT_VP_CONTEXT:
			if (h->vp_platform != IGVM_PLATFORM_SEV_SNP)
				break;
			if (sha384(h->data, PAGE, h384))
				s.rc = IGVM_E_MEASUREMENT_FAILED;
			snp_update(&s, IGVM_SNP_PAGE_VMSA, h384, h->u.vp_context.gpa);
			break;
		default:
			break;
		}
	}
	if (s.rc)
		return mfail(err, s.rc, -1, "SHA-384 failed");
	memcpy(digest, s.ld, 48);
	*digest_len = 48;
	return IGVM_OK;
}

/* ---- §12 TDX MRTD ----------------------------------------------------------------------- */
struct tdx_state {
	mbedtls_sha512_context ctx;
	uint8_t add_rec[128];
	uint8_t ext_rec[128];
	int rc;
};

static void tdx_page(struct tdx_state *t, uint64_t gpa_v, const uint8_t *data)
{
	memcpy(t->add_rec + 16, &gpa_v, 8);
	if (mbedtls_sha512_update_ret(&t->ctx, t->add_rec, sizeof(t->add_rec)))
		t->rc = IGVM_E_MEASUREMENT_FAILED;
	if (!data)
		return;
	for (unsigned k = 0; k < PAGE / IGVM_TDX_MR_EXTEND_CHUNK; k++) {
		uint64_t g = gpa_v + k * IGVM_TDX_MR_EXTEND_CHUNK;
		memcpy(t->ext_rec + 16, &g, 8);
		if (mbedtls_sha512_update_ret(&t->ctx, t->ext_rec, sizeof(t->ext_rec)) ||
		    mbedtls_sha512_update_ret(&t->ctx, data + k * IGVM_TDX_MR_EXTEND_CHUNK,
					      IGVM_TDX_MR_EXTEND_CHUNK))
			t->rc = IGVM_E_MEASUREMENT_FAILED;
	}
}

static int measure_tdx(const struct igvm_file *f, uint32_t mask, uint8_t *digest,
		       size_t *digest_len, struct igvm_error *err)
{
	struct tdx_state t;

	memset(&t, 0, sizeof(t));
	memcpy(t.add_rec, "MEM.PAGE.ADD", 12);
	memcpy(t.ext_rec, "MR.EXTEND", 9);
	mbedtls_sha512_init(&t.ctx);
	if (mbedtls_sha512_starts_ret(&t.ctx, 1))
		t.rc = IGVM_E_MEASUREMENT_FAILED;
	for (const struct igvm_header *h = next_directive(f, mask, NULL); h && !t.rc;
	     h = next_directive(f, mask, h)) {
		if (h->type == IGVM_VHT_PAGE_DATA) {
			const struct igvm_vhs_page_data *p = &h->u.page_data;
			if (p->flags & IGVM_PAGE_FLAG_SHARED)
				continue;
			/* data_type is ignored: SECRETS/CPUID pages are measured as data. */
			for (uint32_t k = 0; k < page_count(p); k++) {
				const uint8_t *d = page_slice(h, k);
				uint64_t g = p->gpa + (uint64_t)k * PAGE;

				if (p->flags & IGVM_PAGE_FLAG_UNMEASURED)
					tdx_page(&t, g, NULL);
				else
					tdx_page(&t, g, d ? d : zero_page);
			}
		} else if (h->type == IGVM_VHT_PARAMETER_INSERT) {
			for (uint64_t off = 0; off < h->insert_size; off += PAGE)
				tdx_page(&t, h->u.param_insert.gpa + off, NULL);
		}
	}
	uint8_t full[64];
	if (!t.rc && mbedtls_sha512_finish_ret(&t.ctx, full))
		t.rc = IGVM_E_MEASUREMENT_FAILED;
	memcpy(digest, full, 48);
	mbedtls_sha512_free(&t.ctx);
	if (t.rc)
		return mfail(err, t.rc, -1, "SHA-384 failed");
	*digest_len = 48;
	return IGVM_OK;
}

/* ---- §14 VBS boot digest ---------------------------------------------------------------- */
struct vbs_state {
	uint8_t d[32];
	int rc;
};

static void vbs_chunk(struct vbs_state *v, const void *a, size_t alen, const void *b, size_t blen)
{
	mbedtls_sha256_context ctx;

	mbedtls_sha256_init(&ctx);
	if (mbedtls_sha256_starts_ret(&ctx, 0) || mbedtls_sha256_update_ret(&ctx, v->d, 32) ||
	    mbedtls_sha256_update_ret(&ctx, a, alen) ||
	    (blen && mbedtls_sha256_update_ret(&ctx, b, blen)) ||
	    mbedtls_sha256_finish_ret(&ctx, v->d))
		v->rc = IGVM_E_MEASUREMENT_FAILED;
	mbedtls_sha256_free(&ctx);
}

static void vbs_page(struct vbs_state *v, uint64_t page_number, uint64_t metadata,
		     const uint8_t *data)
{
	struct igvm_vbs_gpa_page_chunk_header ch;

	memset(&ch, 0, sizeof(ch));
	ch.byte_count = sizeof(ch) + PAGE;
	ch.type = IGVM_VBS_CHUNK_VP_GPA_PAGE;
	ch.metadata = metadata;
	ch.page_number = page_number;
	if (!data || (metadata & IGVM_VBS_META_DATA_UNMEASURED))
		data = zero_page;
	vbs_chunk(v, &ch, sizeof(ch), data, PAGE);
}

static int measure_vbs(const struct igvm_file *f, uint32_t mask, uint8_t *digest,
		       size_t *digest_len, struct igvm_error *err)
{
	struct vbs_state v;

	memset(&v, 0, sizeof(v));
	for (const struct igvm_header *h = next_directive(f, mask, NULL); h && !v.rc;
	     h = next_directive(f, mask, h)) {
		switch (h->type) {
		case IGVM_VHT_PAGE_DATA: {
			const struct igvm_vhs_page_data *p = &h->u.page_data;
			if (p->data_type != IGVM_PAGE_DATA_NORMAL)
				return mfail(err, IGVM_E_MEASUREMENT_FAILED, (int)h->index,
					     "VBS cannot measure page data type %u", p->data_type);
			if (p->flags & IGVM_PAGE_FLAG_SHARED)
				break;
			for (uint32_t k = 0; k < page_count(p); k++)
				vbs_page(&v, p->gpa / PAGE + k,
					 (p->flags & IGVM_PAGE_FLAG_UNMEASURED)
						 ? IGVM_VBS_META_DATA_UNMEASURED
						 : 0,
					 page_slice(h, k));
			break;
		}
		case IGVM_VHT_PARAMETER_INSERT:
			for (uint64_t off = 0; off < h->insert_size; off += PAGE)
				vbs_page(&v, (h->u.param_insert.gpa + off) / PAGE,
					 IGVM_VBS_META_DATA_UNMEASURED, NULL);
			break;
		case IGVM_VHT_ERROR_RANGE: {
			const struct igvm_vhs_error_range *r = &h->u.error_range;
			uint64_t pages = ((uint64_t)r->size_bytes + PAGE - 1) / PAGE;
			for (uint64_t k = 0; k < pages; k++)
				vbs_page(&v, r->gpa / PAGE + k,
					 IGVM_VBS_ACCEPT_READABLE | IGVM_VBS_ACCEPT_WRITABLE |
						 IGVM_VBS_META_DATA_UNMEASURED, NULL);
			break;
		}
		default:
			break;
		}
	}
	/* VP registers go last, in file order of the contexts. */
	for (size_t i = 0; i < f->n_headers && !v.rc; i++) {
		const struct igvm_header *h = &f->headers[i];
		if (h->type != IGVM_VHT_VP_CONTEXT || h->vp_platform != IGVM_PLATFORM_VSM_ISOLATION ||
		    !igvm_header_applies(h, mask))
			continue;
		uint32_t count = igvm_header_vbs_register_count(h);
		for (uint32_t r = 0; r < count; r++) {
			struct igvm_vbs_vp_context_register reg;
			struct igvm_vbs_register_chunk ch;
			memcpy(&reg, h->data + 4 + (size_t)r * sizeof(reg), sizeof(reg));
			memset(&ch, 0, sizeof(ch));
			ch.byte_count = sizeof(ch);
			ch.type = IGVM_VBS_CHUNK_VP_REGISTER;
			ch.vtl = reg.vtl;
			ch.register_name = reg.register_name;
			memcpy(ch.register_value, reg.register_value, sizeof(ch.register_value));
			vbs_chunk(&v, &ch, sizeof(ch), NULL, 0);
		}
	}
	if (v.rc)
		return mfail(err, v.rc, -1, "SHA-256 failed");
	memcpy(digest, v.d, 32);
	*digest_len = 32;
	return IGVM_OK;
}

/* ---- KVM compatibility ------------------------------------------------------------------ */
int igvm_measure_check_kvm(const struct igvm_file *f, struct igvm_error *err)
{
	if (!f)
		return mfail(err, IGVM_E_INVALID_PARAMETER, -1, "NULL file");
	const struct igvm_platform_info *pi = igvm_find_platform(f, IGVM_PLATFORM_SEV_SNP);
	if (!pi)
		return mfail(err, IGVM_E_INVALID_PLATFORM_TYPE, -1, "file has no SEV_SNP platform");
	const struct igvm_header *vmsa = NULL;
	for (const struct igvm_header *h = next_directive(f, pi->mask, NULL); h;
	     h = next_directive(f, pi->mask, h)) {
		if (h->type == IGVM_VHT_VP_CONTEXT && h->vp_platform == IGVM_PLATFORM_SEV_SNP) {
			if (vmsa)
				return mfail(err, IGVM_E_MEASUREMENT_FAILED, (int)h->index,
					     "second SNP VMSA (KVM supports exactly one, header %u is "
					     "the first)", vmsa->index);
			vmsa = h;
		} else if (vmsa && (h->type == IGVM_VHT_PAGE_DATA ||
				    h->type == IGVM_VHT_PARAMETER_INSERT)) {
			return mfail(err, IGVM_E_MEASUREMENT_FAILED, (int)h->index,
				     "%s after the VMSA (KVM measures the VMSA last)",
				     igvm_header_type_name(h->type));
		}
	}
	if (!vmsa)
		return mfail(err, IGVM_E_MEASUREMENT_FAILED, -1, "no SNP VMSA");
	if (vmsa->u.vp_context.gpa != IGVM_SNP_KVM_VMSA_GPA)
		return mfail(err, IGVM_E_MEASUREMENT_FAILED, (int)vmsa->index,
			     "VMSA gpa 0x%" PRIx64 ", KVM uses 0x%llx", (uint64_t)vmsa->u.vp_context.gpa,
			     IGVM_SNP_KVM_VMSA_GPA);
	uint64_t cr0;
	memcpy(&cr0, vmsa->data + IGVM_VMSA_CR0, 8);
	if (cr0 != 0x30 && cr0 != 0x31)
		return mfail(err, IGVM_E_MEASUREMENT_FAILED, (int)vmsa->index,
			     "VMSA CR0 0x%" PRIx64 ", KVM starts with 0x30/0x31", cr0);
	if (err) {
		memset(err, 0, sizeof(*err));
		err->header_index = -1;
	}
	return IGVM_OK;
}

/* ---- entry points ----------------------------------------------------------------------- */
int igvm_measure_mask(const struct igvm_file *f, uint32_t platform_mask,
		      enum igvm_snp_convention conv, uint8_t digest[IGVM_MEASURE_DIGEST_MAX],
		      size_t *digest_len, struct igvm_error *err)
{
	if (!f || !digest || !digest_len)
		return mfail(err, IGVM_E_INVALID_PARAMETER, -1, "NULL argument");
	if (conv != IGVM_SNP_CONV_CRATE && conv != IGVM_SNP_CONV_NATIVE_ZERO)
		return mfail(err, IGVM_E_INVALID_PARAMETER, -1, "unknown SNP convention %d", (int)conv);
	const struct igvm_platform_info *pi = NULL;
	for (size_t i = 0; i < f->n_platforms; i++)
		if (f->platforms[i].mask == platform_mask)
			pi = &f->platforms[i];
	if (!pi)
		return mfail(err, IGVM_E_INVALID_PLATFORM_TYPE, -1,
			     "no platform header with mask 0x%x", platform_mask);
	if (err) {
		memset(err, 0, sizeof(*err));
		err->header_index = -1;
	}
	switch (pi->type) {
	case IGVM_PLATFORM_SEV_SNP:
		return measure_snp(f, pi->mask, conv, digest, digest_len, err);
	case IGVM_PLATFORM_TDX:
		return measure_tdx(f, pi->mask, digest, digest_len, err);
	case IGVM_PLATFORM_VSM_ISOLATION:
		return measure_vbs(f, pi->mask, digest, digest_len, err);
	default:
		break;
	}
	return mfail(err, IGVM_E_INVALID_PLATFORM_TYPE, (int)pi->header_index,
		     "no launch measurement defined for platform %s", igvm_platform_name(pi->type));
}

int igvm_measure(const struct igvm_file *f, enum igvm_platform platform,
		 enum igvm_snp_convention conv, uint8_t digest[IGVM_MEASURE_DIGEST_MAX],
		 size_t *digest_len, struct igvm_error *err)
{
	if (!f)
		return mfail(err, IGVM_E_INVALID_PARAMETER, -1, "NULL file");
	const struct igvm_platform_info *pi = igvm_find_platform(f, platform);
	if (!pi)
		return mfail(err, IGVM_E_INVALID_PLATFORM_TYPE, -1, "file has no %s platform",
			     igvm_platform_name(platform) ? igvm_platform_name(platform) : "such");
	return igvm_measure_mask(f, pi->mask, conv, digest, digest_len, err);
}
