/*
 * IGVM builder (igvm/igvm_build.h): layout of the written file (crate writer rules,
 * igvm-facts.md §7/§8), deduplication, padding, add-time validation, cross-header checks, and
 * byte-identical reproduction of reference files rebuilt from their parsed model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "igvm/igvm.h"
#include "igvm/igvm_build.h"
#include "tests/unit/igvm_test_util.h"

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static struct igvm_builder *new_b(uint32_t ver, uint32_t arch)
{
	struct igvm_builder *b = NULL;

	assert_int_equal(igvm_build_new(ver, arch, &b), 0);
	assert_non_null(b);
	return b;
}

static void add_plat(struct igvm_builder *b, uint8_t type, uint32_t mask)
{
	struct igvm_build_platform p = { .compatibility_mask = mask, .platform_type = type,
					 .platform_version = 1 };
	struct igvm_error e;

	assert_int_equal(igvm_build_add_platform(b, &p, &e), 0);
}

static void add_page(struct igvm_builder *b, uint64_t gpa, uint32_t mask, const void *d,
		     size_t n)
{
	struct igvm_build_page pg = { .gpa = gpa, .compatibility_mask = mask };
	struct igvm_error e;

	assert_int_equal(igvm_build_add_page_data(b, &pg, d, n, &e), 0);
}

static void write_ok(struct igvm_builder *b, uint8_t **buf, size_t *len)
{
	struct igvm_error e;
	char msg[300];
	int rc;

	memset(&e, 0, sizeof(e));
	rc = igvm_build_write(b, buf, len, &e);
	if (rc) {
		igvm_error_format(&e, msg, sizeof(msg));
		fail_msg("write failed: %d %s", rc, msg);
	}
}

/* Offset of the i-th TLV in the section (walks the framing). */
static size_t tlv_at(const uint8_t *buf, size_t i)
{
	size_t off = rd32(buf + 8);

	while (i--)
		off += 8 + ((rd32(buf + off + 4) + 7u) & ~7u);
	return off;
}

static void test_minimal_layout(void **state)
{
	struct igvm_builder *b = new_b(1, IGVM_BUILD_ARCH_X64);
	uint8_t page[100], *buf;
	size_t len;
	uint32_t crc;
	struct igvm_file *f = NULL;
	struct igvm_error e;

	(void)state;
	memset(page, 0xab, sizeof(page));
	add_plat(b, IGVM_BUILD_PLATFORM_SEV_SNP, 1);
	add_page(b, 0x1000, 1, page, sizeof(page));
	write_ok(b, &buf, &len);
	/* 24 fixed + (8+16) platform + (8+24) page data + 4096 data */
	assert_int_equal(len, 24 + 24 + 32 + 4096);
	assert_int_equal(rd32(buf + 0), 0x4D564749);
	assert_int_equal(rd32(buf + 4), 1);
	assert_int_equal(rd32(buf + 8), 24);
	assert_int_equal(rd32(buf + 12), 56);
	assert_int_equal(rd32(buf + 16), len);
	assert_int_equal(igvm_compute_checksum(buf, len, &crc), 0);
	assert_int_equal(rd32(buf + 20), crc);
	/* platform TLV */
	assert_int_equal(rd32(buf + 24), 0x001);
	assert_int_equal(rd32(buf + 28), 16);
	/* page data TLV: file offset = start of data = 80, data padded with zeros */
	assert_int_equal(rd32(buf + 48), 0x302);
	assert_int_equal(rd32(buf + 52), 24);
	assert_int_equal(rd64(buf + 56), 0x1000);
	assert_int_equal(rd32(buf + 56 + 12), 80);
	assert_memory_equal(buf + 80, page, sizeof(page));
	for (size_t i = 80 + sizeof(page); i < len; i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(igvm_parse(buf, len, NULL, &f, &e), IGVM_OK);
	igvm_free(f);
	free(buf);
	igvm_build_free(b);
}

static void test_dedup_and_zero_pages(void **state)
{
	struct igvm_builder *b = new_b(1, IGVM_BUILD_ARCH_X64);
	uint8_t a[4096], c[3] = { 1, 2, 3 }, a_short[10], *buf;
	size_t len;

	(void)state;
	memset(a, 0, sizeof(a));
	memcpy(a, c, 3);
	memset(a_short, 0, sizeof(a_short));
	memcpy(a_short, c, 3);
	add_plat(b, IGVM_BUILD_PLATFORM_TDX, 1);
	add_page(b, 0x1000, 1, c, 3);         /* blob 0 */
	add_page(b, 0x2000, 1, a, 4096);      /* same bytes after padding -> blob 0 */
	add_page(b, 0x3000, 1, NULL, 0);      /* no data -> offset 0 */
	add_page(b, 0x4000, 1, "xyz", 3);     /* blob 1 */
	add_page(b, 0x5000, 1, a_short, 10);  /* blob 0 again */
	write_ok(b, &buf, &len);
	{
		uint32_t data_start = rd32(buf + 8) + rd32(buf + 12);
		uint32_t fo[5];

		for (int i = 0; i < 5; i++)
			fo[i] = rd32(buf + tlv_at(buf, (size_t)i + 1) + 8 + 12);
		assert_int_equal(fo[0], data_start);
		assert_int_equal(fo[1], data_start);
		assert_int_equal(fo[2], 0);
		assert_int_equal(fo[3], data_start + 4096);
		assert_int_equal(fo[4], data_start);
		assert_int_equal(len, data_start + 2 * 4096);
	}
	free(buf);
	igvm_build_free(b);
}

static void test_section_order_and_vp_padding(void **state)
{
	struct igvm_builder *b = new_b(1, IGVM_BUILD_ARCH_X64);
	struct igvm_error e;
	uint8_t vmsa[16] = { 0x11 }, *buf;
	size_t len;

	(void)state;
	/* Added out of order: directive, init, platform. Output must be platform, init, dir. */
	add_page(b, 0x1000, 1, "p", 1);
	assert_int_equal(igvm_build_add_vp_snp(b, 0xfffffffff000ull, 1, 0, vmsa, sizeof(vmsa), &e),
			 0);
	assert_int_equal(igvm_build_add_guest_policy(b, 0x30000, 1, &e), 0);
	add_plat(b, IGVM_BUILD_PLATFORM_SEV_SNP, 1);
	write_ok(b, &buf, &len);
	assert_int_equal(rd32(buf + tlv_at(buf, 0)), 0x001);
	assert_int_equal(rd32(buf + tlv_at(buf, 1)), 0x101);
	assert_int_equal(rd32(buf + tlv_at(buf, 2)), 0x302);
	assert_int_equal(rd32(buf + tlv_at(buf, 3)), 0x304);
	/* VP context: TLV length 20, 4 zero pad bytes, ends the section */
	{
		size_t off = tlv_at(buf, 3);
		uint32_t fo = rd32(buf + off + 8 + 12);

		assert_int_equal(rd32(buf + off + 4), 20);
		assert_int_equal(rd32(buf + off + 8 + 20), 0);
		assert_int_equal(off + 32, rd32(buf + 8) + rd32(buf + 12));
		/* VMSA padded to 4096 right after the page blob */
		assert_int_equal(fo, rd32(buf + 8) + rd32(buf + 12) + 4096);
		assert_int_equal(buf[fo], 0x11);
		assert_int_equal(len, fo + 4096);
	}
	free(buf);
	igvm_build_free(b);
}

static void test_v2_and_vbs_records(void **state)
{
	struct igvm_builder *b = new_b(2, IGVM_BUILD_ARCH_AARCH64);
	struct igvm_build_vbs_reg regs[2];
	struct igvm_error e;
	uint8_t *buf;
	size_t len;

	(void)state;
	memset(regs, 0, sizeof(regs));
	regs[0].name = 0x20022; /* XPc */
	regs[0].value[0] = 0x42;
	regs[1].name = 0x40005; /* TTBR0_EL1 */
	regs[1].value[15] = 0x99;
	add_plat(b, IGVM_BUILD_PLATFORM_VSM, 1);
	add_page(b, 0x80000000ull, 1, "k", 1);
	assert_int_equal(igvm_build_add_vp_vbs(b, 1, 0, 2, regs, 2, &e), 0);
	write_ok(b, &buf, &len);
	assert_int_equal(rd32(buf + 4), 2);
	assert_int_equal(rd32(buf + 8), 32);
	assert_int_equal(rd32(buf + 24), 1);    /* architecture aarch64 */
	assert_int_equal(rd32(buf + 28), 4096); /* page size */
	{
		size_t off = tlv_at(buf, 2);
		uint32_t fo = rd32(buf + off + 8 + 12);

		/* unpadded: 4 + 2*32 bytes, last thing in the file */
		assert_int_equal(len, fo + 4 + 64);
		assert_int_equal(rd32(buf + fo), 2);
		assert_int_equal(buf[fo + 4], 2);                 /* vtl */
		assert_int_equal(rd32(buf + fo + 5), 0x20022);    /* name, unaligned */
		assert_int_equal(buf[fo + 4 + 16], 0x42);         /* value */
		assert_int_equal(rd32(buf + fo + 4 + 32 + 1), 0x40005);
		assert_int_equal(buf[fo + 4 + 32 + 31], 0x99);
	}
	free(buf);
	igvm_build_free(b);
}

static void test_parameter_area_padding(void **state)
{
	struct igvm_builder *b = new_b(1, IGVM_BUILD_ARCH_X64);
	struct igvm_error e;
	uint8_t *buf;
	size_t len;

	(void)state;
	add_plat(b, IGVM_BUILD_PLATFORM_SEV_SNP, 1);
	assert_int_equal(igvm_build_add_parameter_area(b, 7, 0x2000, "cmdline", 7, &e), 0);
	assert_int_equal(igvm_build_add_parameter(b, IGVM_BUILD_PARAM_COMMAND_LINE, 7, 0, &e), 0);
	assert_int_equal(igvm_build_add_parameter(b, IGVM_BUILD_PARAM_VP_COUNT, 7, 0x1000, &e), 0);
	assert_int_equal(igvm_build_add_parameter_insert(b, 0x10000, 1, 7, &e), 0);
	write_ok(b, &buf, &len);
	{
		size_t off = tlv_at(buf, 1);
		uint32_t fo = rd32(buf + off + 8 + 12);

		assert_int_equal(rd32(buf + off), 0x301);
		assert_int_equal(rd64(buf + off + 8), 0x2000);
		assert_int_equal(rd32(buf + off + 16), 7);
		assert_memory_equal(buf + fo, "cmdline", 7);
		assert_int_equal(len, fo + 0x2000); /* padded to number_of_bytes */
		assert_int_equal(rd32(buf + tlv_at(buf, 2)), 0x30E);
		assert_int_equal(rd32(buf + tlv_at(buf, 2) + 4), 8);
		assert_int_equal(rd32(buf + tlv_at(buf, 3) + 12), 0x1000);
	}
	free(buf);
	igvm_build_free(b);
}

/* Each bad add returns -EINVAL and names the field. */
static void test_add_validation(void **state)
{
	struct igvm_builder *b = new_b(1, IGVM_BUILD_ARCH_X64);
	struct igvm_build_platform p = { .compatibility_mask = 3, .platform_type = 2,
					 .platform_version = 1 };
	struct igvm_build_page pg = { .gpa = 0x1001, .compatibility_mask = 1 };
	struct igvm_build_reloc_region r = { .compatibility_mask = 1,
					     .relocation_alignment = 0x200000,
					     .relocation_region_gpa = 0x1000,
					     .relocation_region_size = 0x200000,
					     .maximum_relocation_gpa = 0x40000000 };
	struct igvm_build_pt_reloc pt = { .compatibility_mask = 1, .gpa = 0x1000, .size = 0x1000,
					  .used_size = 0x2000 };
	struct igvm_build_cca_policy cp = { .compatibility_mask = 1 };
	struct igvm_build_snp_id_block *id = calloc(1, sizeof(*id));
	struct igvm_error e;
	uint8_t big[4097] = { 0 }, ctx[300];

	(void)state;
	assert_non_null(id);
#define BAD(call, fld)                                                                      \
	do {                                                                                \
		memset(&e, 0, sizeof(e));                                                   \
		assert_int_equal((call), -EINVAL);                                          \
		if (fld)                                                                    \
			assert_string_equal(e.field, (const char *)(fld));                 \
		assert_true(e.reason[0] != '\0');                                           \
	} while (0)
	BAD(igvm_build_add_platform(b, &p, &e), "compatibility_mask");
	p.compatibility_mask = 1;
	p.highest_vtl = 1;
	BAD(igvm_build_add_platform(b, &p, &e), "highest_vtl");
	p.highest_vtl = 0;
	p.platform_version = 2;
	BAD(igvm_build_add_platform(b, &p, &e), "platform_version");
	p.platform_version = 1;
	p.platform_type = 6; /* CCA on x64 */
	BAD(igvm_build_add_platform(b, &p, &e), "platform_type");
	assert_int_equal(e.code, IGVM_E_PLATFORM_ARCH_UNSUPPORTED);
	p.platform_type = 0;
	p.shared_gpa_boundary = 0x1000;
	BAD(igvm_build_add_platform(b, &p, &e), "shared_gpa_boundary");
	p.shared_gpa_boundary = 0;
	p.platform_type = 2;
	assert_int_equal(igvm_build_add_platform(b, &p, &e), 0);
	p.compatibility_mask = 2;
	BAD(igvm_build_add_platform(b, &p, &e), "platform_type"); /* SNP twice */
	p.platform_type = 3;
	p.compatibility_mask = 1;
	BAD(igvm_build_add_platform(b, &p, &e), "compatibility_mask"); /* mask twice */

	BAD(igvm_build_add_page_data(b, &pg, NULL, 0, &e), "gpa");
	assert_int_equal(e.detail, IGVM_D_UNALIGNED_ADDRESS);
	assert_int_equal(e.header_index, 1);
	pg.gpa = 0x1000;
	pg.flags = IGVM_BUILD_PAGE_2MB;
	BAD(igvm_build_add_page_data(b, &pg, NULL, 0, &e), "gpa"); /* 2 MiB alignment */
	pg.flags = 0x8;
	BAD(igvm_build_add_page_data(b, &pg, NULL, 0, &e), "flags");
	pg.flags = 0;
	pg.data_type = 4;
	BAD(igvm_build_add_page_data(b, &pg, NULL, 0, &e), "data_type");
	pg.data_type = 0;
	BAD(igvm_build_add_page_data(b, &pg, big, sizeof(big), &e), "file_offset");
	{
		/* 2 MiB pages take up to 2 MiB of data, not one byte more */
		uint8_t *huge = calloc(1, 0x200001);

		assert_non_null(huge);
		pg.gpa = 0x200000;
		pg.flags = IGVM_BUILD_PAGE_2MB;
		BAD(igvm_build_add_page_data(b, &pg, huge, 0x200001, &e), "file_offset");
		assert_int_equal(e.detail, IGVM_D_INVALID_DATA_SIZE);
		pg.gpa = 0x1000;
		pg.flags = 0;
		free(huge);
	}
	pg.compatibility_mask = 0;
	BAD(igvm_build_add_page_data(b, &pg, NULL, 0, &e), "compatibility_mask");

	BAD(igvm_build_add_parameter_area(b, 0, 100, NULL, 0, &e), "number_of_bytes");
	BAD(igvm_build_add_parameter_area(b, 0, 0, NULL, 0, &e), "number_of_bytes");
	BAD(igvm_build_add_parameter_area(b, 0, 4096, big, 4097, &e), "file_offset");
	BAD(igvm_build_add_parameter(b, IGVM_BUILD_PARAM_VP_COUNT, 0, 0, &e),
	    "parameter_area_index");
	assert_int_equal(igvm_build_add_parameter_area(b, 0, 4096, NULL, 0, &e), 0);
	BAD(igvm_build_add_parameter_area(b, 0, 4096, NULL, 0, &e), "parameter_area_index");
	BAD(igvm_build_add_parameter(b, (enum igvm_build_param)0x30B, 0, 0, &e), NULL);
	BAD(igvm_build_add_parameter_insert(b, 0x1800, 1, 0, &e), "gpa");
	assert_int_equal(igvm_build_add_parameter_insert(b, 0x2000, 1, 0, &e), 0);
	BAD(igvm_build_add_parameter_insert(b, 0x3000, 1, 0, &e), "parameter_area_index");
	BAD(igvm_build_add_parameter(b, IGVM_BUILD_PARAM_MADT, 0, 0, &e), "parameter_area_index");

	BAD(igvm_build_add_required_memory(b, 0x1000, 1, 0x1800, 0, &e), "number_of_bytes");
	BAD(igvm_build_add_required_memory(b, 0x1000, 1, 0x1000, 2, &e), "flags");
	BAD(igvm_build_add_error_range(b, 0x1001, 1, 0x1000, &e), "gpa");

	BAD(igvm_build_add_relocatable_region(b, &r, &e), "relocation_region_gpa");
	r.relocation_region_gpa = 0x200000;
	r.vtl = 3;
	BAD(igvm_build_add_relocatable_region(b, &r, &e), "vtl");
	r.vtl = 0;
	r.flags = 0x8;
	BAD(igvm_build_add_relocatable_region(b, &r, &e), "flags");
	r.flags = IGVM_BUILD_RELOC_APPLY_PC;
	r.relocation_alignment = 0x1800;
	BAD(igvm_build_add_relocatable_region(b, &r, &e), "relocation_alignment");
	r.relocation_alignment = 0x200000;
	assert_int_equal(igvm_build_add_relocatable_region(b, &r, &e), 0);
	BAD(igvm_build_add_page_table_relocation(b, &pt, &e), "used_size");
	pt.used_size = 0x1000;
	assert_int_equal(igvm_build_add_page_table_relocation(b, &pt, &e), 0);
	BAD(igvm_build_add_page_table_relocation(b, &pt, &e), "compatibility_mask");
	assert_int_equal(e.code, IGVM_E_MULTIPLE_PAGE_TABLE_RELOCATION_HEADERS);

	BAD(igvm_build_add_cca_policy(b, &cp, &e), NULL); /* x64 file */
	assert_int_equal(e.code, IGVM_E_INVALID_HEADER_ARCH);
	BAD(igvm_build_add_vp_cca(b, 1, 0, "x", 1, &e), NULL);
	BAD(igvm_build_add_vp_vbs(b, 1, 0, 0, NULL, 0, &e), "file_offset");
	BAD(igvm_build_add_vp_snp(b, 0x123, 1, 0, "x", 1, &e), "gpa");
	BAD(igvm_build_add_vp_snp(b, 0x1000, 1, 0, big, sizeof(big), &e), "file_offset");
	memset(ctx, 0, sizeof(ctx));
	ctx[250] = 1; /* beyond the 232-byte native context */
	BAD(igvm_build_add_vp_native_x64(b, 1, 0, ctx, sizeof(ctx), &e), "file_offset");
	id->compatibility_mask = 1;
	id->author_key_enabled = 2;
	BAD(igvm_build_add_snp_id_block(b, id, &e), "author_key_enabled");
	BAD(igvm_build_add_corim(b, IGVM_BUILD_CORIM_DOCUMENT, 1, NULL, 0, &e), "size_bytes");
#undef BAD
	free(id);
	igvm_build_free(b);
	{
		struct igvm_builder *x = NULL;

		assert_int_equal(igvm_build_new(1, IGVM_BUILD_ARCH_AARCH64, &x), -EINVAL);
		assert_int_equal(igvm_build_new(3, IGVM_BUILD_ARCH_X64, &x), -EINVAL);
		assert_int_equal(igvm_build_new(2, 7, &x), -EINVAL);
		assert_null(x);
	}
}

static void test_write_cross_checks(void **state)
{
	struct igvm_builder *b;
	struct igvm_error e;
	uint8_t *buf = (uint8_t *)1;
	size_t len = 1;

	(void)state;
	/* no platform */
	b = new_b(1, IGVM_BUILD_ARCH_X64);
	add_page(b, 0, 1, "x", 1);
	memset(&e, 0, sizeof(e));
	assert_int_equal(igvm_build_write(b, &buf, &len, &e), -EINVAL);
	assert_int_equal(e.code, IGVM_E_NO_PLATFORM_HEADERS);
	assert_null(buf);
	assert_int_equal(len, 0);
	igvm_build_free(b);

	/* VP context whose mask is not a platform, and a native context on an SNP mask */
	b = new_b(1, IGVM_BUILD_ARCH_X64);
	add_plat(b, IGVM_BUILD_PLATFORM_SEV_SNP, 1);
	add_page(b, 0, 1, "x", 1);
	assert_int_equal(igvm_build_add_vp_snp(b, 0x1000, 3, 0, "v", 1, &e), 0);
	assert_int_equal(igvm_build_write(b, &buf, &len, &e), -EINVAL);
	assert_int_equal(e.detail, IGVM_D_INVALID_VP_CONTEXT_PLATFORM_TYPE);
	assert_int_equal(e.header_index, 2);
	igvm_build_free(b);

	b = new_b(1, IGVM_BUILD_ARCH_X64);
	add_plat(b, IGVM_BUILD_PLATFORM_SEV_SNP, 1);
	assert_int_equal(igvm_build_add_vp_native_x64(b, 1, 0, "v", 1, &e), 0);
	assert_int_equal(igvm_build_write(b, &buf, &len, &e), -EINVAL);
	assert_int_equal(e.detail, IGVM_D_INVALID_VP_CONTEXT_PLATFORM_TYPE);
	igvm_build_free(b);

	/* two contexts for the same VP */
	b = new_b(1, IGVM_BUILD_ARCH_X64);
	add_plat(b, IGVM_BUILD_PLATFORM_SEV_SNP, 1);
	assert_int_equal(igvm_build_add_vp_snp(b, 0x1000, 1, 0, "v", 1, &e), 0);
	assert_int_equal(igvm_build_add_vp_snp(b, 0x2000, 1, 0, "w", 1, &e), 0);
	assert_int_equal(igvm_build_write(b, &buf, &len, &e), -EINVAL);
	assert_int_equal(e.detail, IGVM_D_DUPLICATE);
	assert_string_equal(e.field, "vp_index");
	igvm_build_free(b);

	/* no file data at all: the reference reader (and ours) refuse such files */
	b = new_b(1, IGVM_BUILD_ARCH_X64);
	add_plat(b, IGVM_BUILD_PLATFORM_TDX, 1);
	add_page(b, 0, 1, NULL, 0);
	assert_int_equal(igvm_build_write(b, &buf, &len, &e), -EINVAL);
	assert_null(buf);
	igvm_build_free(b);

	/* 2 MiB page whose data does not fill it: padded to 2 MiB in the file; the parser
	 * reports all 2 MiB as the page's data. */
	b = new_b(1, IGVM_BUILD_ARCH_X64);
	add_plat(b, IGVM_BUILD_PLATFORM_TDX, 1);
	{
		struct igvm_build_page pg = { .gpa = 0x200000, .compatibility_mask = 1,
					      .flags = IGVM_BUILD_PAGE_2MB };
		struct igvm_file *f = NULL;
		const struct igvm_header *h;

		assert_int_equal(igvm_build_add_page_data(b, &pg, "x", 1, &e), 0);
		write_ok(b, &buf, &len);
		assert_int_equal(igvm_parse(buf, len, NULL, &f, &e), IGVM_OK);
		h = igvm_header_at(f, 1);
		assert_int_equal(h->type, IGVM_VHT_PAGE_DATA);
		assert_int_equal(h->data_len, 0x200000);
		assert_int_equal(len, f->file_data_offset + 0x200000u);
		assert_int_equal(h->data[0], 'x');
		for (size_t i = 1; i < 0x200000; i++)
			if (h->data[i])
				fail_msg("byte %zu of the padded 2 MiB page is not zero", i);
		igvm_free(f);
		free(buf);
		buf = NULL;
	}
	igvm_build_free(b);

	/* a 4 KiB page inside a 2 MiB page of the same platform: the whole 2 MiB counts */
	b = new_b(1, IGVM_BUILD_ARCH_X64);
	add_plat(b, IGVM_BUILD_PLATFORM_TDX, 1);
	{
		struct igvm_build_page pg = { .gpa = 0x400000, .compatibility_mask = 1,
					      .flags = IGVM_BUILD_PAGE_2MB };

		assert_int_equal(igvm_build_add_page_data(b, &pg, "y", 1, &e), 0);
	}
	add_page(b, 0x5FF000, 1, "z", 1); /* last 4 KiB page of [0x400000, 0x600000) */
	memset(&e, 0, sizeof(e));
	assert_int_equal(igvm_build_write(b, &buf, &len, &e), -EINVAL);
	assert_null(buf);
	assert_int_equal(e.detail, IGVM_D_GPA_OVERLAP);
	igvm_build_free(b);
	/* ... while the page right after it is fine */
	b = new_b(1, IGVM_BUILD_ARCH_X64);
	add_plat(b, IGVM_BUILD_PLATFORM_TDX, 1);
	{
		struct igvm_build_page pg = { .gpa = 0x400000, .compatibility_mask = 1,
					      .flags = IGVM_BUILD_PAGE_2MB };

		assert_int_equal(igvm_build_add_page_data(b, &pg, "y", 1, &e), 0);
	}
	add_page(b, 0x600000, 1, "z", 1);
	write_ok(b, &buf, &len);
	free(buf);
	buf = NULL;
	igvm_build_free(b);
}

/* Every header type the builder makes, in one VBS file, parsed back field by field. */
static void test_all_header_types(void **state)
{
	static const enum igvm_build_param params[] = {
		IGVM_BUILD_PARAM_VP_COUNT,   IGVM_BUILD_PARAM_SRAT,	 IGVM_BUILD_PARAM_MADT,
		IGVM_BUILD_PARAM_MMIO_RANGES, IGVM_BUILD_PARAM_MEMORY_MAP,
		IGVM_BUILD_PARAM_COMMAND_LINE, IGVM_BUILD_PARAM_SLIT,	 IGVM_BUILD_PARAM_PPTT,
		IGVM_BUILD_PARAM_DEVICE_TREE, IGVM_BUILD_PARAM_ENVIRONMENT_INFO,
	};
	struct igvm_builder *b = new_b(1, IGVM_BUILD_ARCH_X64);
	struct igvm_build_reloc_region r = { .compatibility_mask = 1, .vtl = 2,
					     .flags = IGVM_BUILD_RELOC_IS_VTL2 |
						      IGVM_BUILD_RELOC_APPLY_PC,
					     .relocation_alignment = 0x200000,
					     .relocation_region_gpa = 0x200000,
					     .relocation_region_size = 0x200000,
					     .minimum_relocation_gpa = 0x200000,
					     .maximum_relocation_gpa = 0x40000000 };
	struct igvm_build_pt_reloc pt = { .compatibility_mask = 1, .vtl = 2, .gpa = 0x1000,
					  .size = 0x4000, .used_size = 0x2000 };
	struct igvm_build_vbs_measurement *vm = calloc(1, sizeof(*vm));
	struct igvm_build_vbs_reg reg = { .name = 0x20010, .value = { 0x00, 0x00, 0x20 } };
	struct igvm_build_platform p = { .compatibility_mask = 1, .highest_vtl = 2,
					 .platform_type = IGVM_BUILD_PLATFORM_VSM,
					 .platform_version = 1 };
	struct igvm_file *f = NULL;
	struct igvm_error e;
	uint8_t *buf;
	size_t len, n;
	uint32_t want[32];

	(void)state;
	assert_non_null(vm);
	n = 0;
	assert_int_equal(igvm_build_add_platform(b, &p, &e), 0);
	want[n++] = 0x001;
	assert_int_equal(igvm_build_add_guest_policy(b, 0x5, 1, &e), 0);
	want[n++] = 0x101;
	assert_int_equal(igvm_build_add_relocatable_region(b, &r, &e), 0);
	want[n++] = 0x102;
	assert_int_equal(igvm_build_add_page_table_relocation(b, &pt, &e), 0);
	want[n++] = 0x103;
	add_page(b, 0x200000, 1, "code", 4);
	want[n++] = 0x302;
	assert_int_equal(igvm_build_add_parameter_area(b, 3, 0x2000, NULL, 0, &e), 0);
	want[n++] = 0x301;
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		assert_int_equal(igvm_build_add_parameter(b, params[i], 3, (uint32_t)(i * 64), &e),
				 0);
		want[n++] = (uint32_t)params[i];
	}
	assert_int_equal(igvm_build_add_parameter_insert(b, 0x100000, 1, 3, &e), 0);
	want[n++] = 0x303;
	assert_int_equal(igvm_build_add_required_memory(b, 0x400000, 1, 0x200000,
						       IGVM_BUILD_REQMEM_VTL2_PROTECTABLE, &e),
			 0);
	want[n++] = 0x305;
	assert_int_equal(igvm_build_add_error_range(b, 0x800000, 1, 0x1000, &e), 0);
	want[n++] = 0x30D;
	vm->compatibility_mask = 1;
	vm->version = 1;
	vm->boot_digest_algo = 1;
	vm->signing_algo = 1;
	vm->boot_measurement_digest[0] = 0xAA;
	vm->public_key[511] = 0x55;
	assert_int_equal(igvm_build_add_vbs_measurement(b, vm, &e), 0);
	want[n++] = 0x311;
	assert_int_equal(igvm_build_add_vp_vbs(b, 1, 0, 2, &reg, 1, &e), 0);
	want[n++] = 0x304;
	/* bound: 24 + section + page 4096 + VBS 36 (the area has no data) */
	assert_int_equal(igvm_build_size_bound(b), 24 + 8 + 16 + 8 + 16 + 8 + 48 + 8 + 32 + 8 + 24 +
							   8 + 16 + 10 * 16 + 8 + 16 + 8 + 24 + 8 +
							   16 + 8 + 864 + 8 + 24 + 4096 + 36);
	write_ok(b, &buf, &len);
	assert_int_equal(len, igvm_build_size_bound(b));
	assert_int_equal(igvm_parse(buf, len, NULL, &f, &e), IGVM_OK);
	assert_int_equal(igvm_header_count(f), n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(igvm_header_at(f, i)->type, want[i]);
	{
		const struct igvm_header *h = igvm_header_at(f, 2);
		struct igvm_vhs_vbs_measurement got;

		assert_int_equal(h->u.reloc.flags, 0x3);
		assert_int_equal(h->u.reloc.maximum_relocation_gpa, 0x40000000);
		h = igvm_header_at(f, 3);
		assert_int_equal(h->u.pt_reloc.used_size, 0x2000);
		h = igvm_header_at(f, 5);
		assert_null(h->data); /* area without initial data: file offset 0 */
		assert_int_equal(h->u.param_area.file_offset, 0);
		h = igvm_header_at(f, 6 + 9);
		assert_int_equal(h->u.parameter.byte_offset, 9 * 64);
		h = igvm_header_at(f, n - 4);
		assert_int_equal(h->u.required_memory.flags, 1);
		assert_true(igvm_header_vbs_measurement(igvm_header_at(f, n - 2), &got));
		assert_int_equal(got.boot_measurement_digest[0], 0xAA);
		assert_int_equal(got.public_key[511], 0x55);
		h = igvm_header_at(f, n - 1);
		assert_int_equal(h->vp_platform, IGVM_PLATFORM_VSM_ISOLATION);
		assert_int_equal(h->vp_vtl, 2);
		assert_int_equal(h->data_len, 4 + 32);
		/* the register record ends in zero bytes: they are still written, unpadded */
		assert_int_equal(len, h->u.vp_context.file_offset + 4 + 32);
		assert_int_equal(h->data[4 + 16 + 2], 0x20);
	}
	igvm_free(f);
	free(buf);
	free(vm);
	igvm_build_free(b);
}

/* SNP ID block and CoRIM document go through unchanged; the CoRIM blob is written first. */
static void test_id_block_and_corim(void **state)
{
	struct igvm_builder *b = new_b(1, IGVM_BUILD_ARCH_X64);
	struct igvm_build_snp_id_block *id = calloc(1, sizeof(*id));
	struct igvm_vhs_snp_id_block got;
	struct igvm_file *f = NULL;
	struct igvm_error e;
	uint8_t *buf;
	size_t len;

	(void)state;
	assert_non_null(id);
	add_plat(b, IGVM_BUILD_PLATFORM_SEV_SNP, 1);
	add_page(b, 0x1000, 1, "page", 4);
	id->compatibility_mask = 1;
	id->author_key_enabled = 1;
	id->ld[0] = 0x4c;
	id->ld[47] = 0xd4;
	id->version = 1;
	id->guest_svn = 7;
	id->id_key_algorithm = 1;
	id->id_public_key[0] = 2; /* curve P-384 */
	id->author_public_key[151] = 0x77;
	assert_int_equal(igvm_build_add_snp_id_block(b, id, &e), 0);
	assert_int_equal(igvm_build_add_corim(b, IGVM_BUILD_CORIM_DOCUMENT, 1, "\xd9\x01\xf5", 3,
					      &e),
			 0);
	write_ok(b, &buf, &len);
	assert_int_equal(igvm_parse(buf, len, NULL, &f, &e), IGVM_OK);
	assert_int_equal(igvm_header_at(f, 1)->type, 0x104);
	/* init blobs come first in the data section */
	assert_int_equal(igvm_header_at(f, 1)->u.corim.file_offset, f->file_data_offset);
	assert_int_equal(igvm_header_at(f, 1)->u.corim.size_bytes, 3);
	assert_memory_equal(buf + f->file_data_offset, "\xd9\x01\xf5", 3);
	assert_true(igvm_header_snp_id_block(igvm_header_at(f, 3), &got));
	assert_int_equal(got.ld[0], 0x4c);
	assert_int_equal(got.ld[47], 0xd4);
	assert_int_equal(got.guest_svn, 7);
	assert_int_equal(got.id_public_key.curve, 2);
	assert_int_equal(got.author_public_key.qy[71], 0x77);
	/* the page blob follows the unpadded 3-byte CoRIM blob */
	assert_int_equal(igvm_header_at(f, 2)->u.page_data.file_offset, f->file_data_offset + 3);
	igvm_free(f);
	free(buf);
	free(id);
	igvm_build_free(b);
}

/* ---- rebuild reference files from their parsed model ---- */

static void rebuild_one(const struct igvm_file *f, struct igvm_builder *b,
			const struct igvm_header *h)
{
	struct igvm_error e;
	int rc = 0;

	memset(&e, 0, sizeof(e));
	switch (h->type) {
	case IGVM_VHT_SUPPORTED_PLATFORM: {
		struct igvm_build_platform p = {
			.compatibility_mask = h->u.platform.compatibility_mask,
			.highest_vtl = h->u.platform.highest_vtl,
			.platform_type = h->u.platform.platform_type,
			.platform_version = h->u.platform.platform_version,
			.shared_gpa_boundary = h->u.platform.shared_gpa_boundary,
		};
		rc = igvm_build_add_platform(b, &p, &e);
		break;
	}
	case IGVM_VHT_GUEST_POLICY:
		rc = igvm_build_add_guest_policy(b, h->u.guest_policy.policy,
						 h->u.guest_policy.compatibility_mask, &e);
		break;
	case IGVM_VHT_CCA_POLICY: {
		struct igvm_build_cca_policy p = {
			.compatibility_mask = h->u.cca_policy.compatibility_mask,
			.attributes_required_zeroes = h->u.cca_policy.attributes_required_zeroes,
			.attributes_required_ones = h->u.cca_policy.attributes_required_ones,
			.hash_algorithm = h->u.cca_policy.hash_algorithm,
			.lfa_policy = h->u.cca_policy.lfa_policy,
		};
		rc = igvm_build_add_cca_policy(b, &p, &e);
		break;
	}
	case IGVM_VHT_RELOCATABLE_REGION: {
		struct igvm_build_reloc_region r = {
			.compatibility_mask = h->u.reloc.compatibility_mask,
			.vp_index = h->u.reloc.vp_index,
			.vtl = h->u.reloc.vtl,
			.flags = h->u.reloc.flags,
			.relocation_alignment = h->u.reloc.relocation_alignment,
			.relocation_region_gpa = h->u.reloc.relocation_region_gpa,
			.relocation_region_size = h->u.reloc.relocation_region_size,
			.minimum_relocation_gpa = h->u.reloc.minimum_relocation_gpa,
			.maximum_relocation_gpa = h->u.reloc.maximum_relocation_gpa,
		};
		rc = igvm_build_add_relocatable_region(b, &r, &e);
		break;
	}
	case IGVM_VHT_PAGE_DATA: {
		struct igvm_build_page pg = { .gpa = h->u.page_data.gpa,
					      .compatibility_mask = h->u.page_data.compatibility_mask,
					      .flags = h->u.page_data.flags,
					      .data_type = h->u.page_data.data_type };
		rc = igvm_build_add_page_data(b, &pg, h->data, (size_t)h->data_len, &e);
		break;
	}
	case IGVM_VHT_PARAMETER_AREA:
		rc = igvm_build_add_parameter_area(b, h->u.param_area.parameter_area_index,
						   h->u.param_area.number_of_bytes, h->data,
						   (size_t)h->data_len, &e);
		break;
	case IGVM_VHT_PARAMETER_INSERT:
		rc = igvm_build_add_parameter_insert(b, h->u.param_insert.gpa,
						     h->u.param_insert.compatibility_mask,
						     h->u.param_insert.parameter_area_index, &e);
		break;
	case IGVM_VHT_REQUIRED_MEMORY:
		rc = igvm_build_add_required_memory(b, h->u.required_memory.gpa,
						    h->u.required_memory.compatibility_mask,
						    h->u.required_memory.number_of_bytes,
						    h->u.required_memory.flags, &e);
		break;
	case IGVM_VHT_VP_CONTEXT: {
		const struct igvm_vhs_vp_context *v = &h->u.vp_context;

		if (h->vp_platform == IGVM_PLATFORM_SEV_SNP) {
			rc = igvm_build_add_vp_snp(b, v->gpa, v->compatibility_mask, v->vp_index,
						   h->data, (size_t)h->data_len, &e);
		} else if (h->vp_platform == IGVM_PLATFORM_NATIVE) {
			rc = igvm_build_add_vp_native_x64(b, v->compatibility_mask, v->vp_index,
							  h->data, (size_t)h->data_len, &e);
		} else if (h->vp_platform == IGVM_PLATFORM_CCA) {
			rc = igvm_build_add_vp_cca(b, v->compatibility_mask, v->vp_index, h->data,
						   (size_t)h->data_len, &e);
		} else {
			uint32_t n = rd32(h->data);
			struct igvm_build_vbs_reg *regs = calloc(n, sizeof(*regs));

			assert_non_null(regs);
			for (uint32_t i = 0; i < n; i++) {
				const uint8_t *r = h->data + 4 + 32 * (size_t)i;

				regs[i].name = rd32(r + 1);
				memcpy(regs[i].value, r + 16, 16);
			}
			rc = igvm_build_add_vp_vbs(b, v->compatibility_mask, v->vp_index,
						   h->vp_vtl, regs, n, &e);
			free(regs);
		}
		break;
	}
	default:
		/* the IGVM_VHS_PARAMETER family */
		rc = igvm_build_add_parameter(b, (enum igvm_build_param)h->type,
					      h->u.parameter.parameter_area_index,
					      h->u.parameter.byte_offset, &e);
		break;
	}
	if (rc) {
		char msg[300];

		igvm_error_format(&e, msg, sizeof(msg));
		fail_msg("header %u: %s", h->index, msg);
	}
	(void)f;
}

static void test_rebuild_reference_files(void **state)
{
	static const char *const names[] = { "c_api_test_data.bin", "snp_v1.bin", "multi_v1.bin",
					     "vbs_v1.bin", "native_v2_x64.bin",
					     "cca_v2_aarch64.bin" };
	int done = 0;

	(void)state;
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		uint8_t *orig, *buf;
		size_t olen, len;
		struct igvm_file *f = NULL;
		struct igvm_builder *b;
		struct igvm_error e;

		orig = tu_read_igvm(names[k], &olen);
		if (!orig)
			continue;
		assert_int_equal(igvm_parse(orig, olen, NULL, &f, &e), IGVM_OK);
		b = new_b(f->format_version, f->arch);
		for (size_t i = 0; i < igvm_header_count(f); i++)
			rebuild_one(f, b, igvm_header_at(f, i));
		write_ok(b, &buf, &len);
		assert_int_equal(len, olen);
		assert_memory_equal(buf, orig, olen);
		free(buf);
		igvm_build_free(b);
		igvm_free(f);
		free(orig);
		done++;
	}
	if (!done)
		skip(); /* ../shared/testdata absent */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal_layout),
		cmocka_unit_test(test_dedup_and_zero_pages),
		cmocka_unit_test(test_section_order_and_vp_padding),
		cmocka_unit_test(test_v2_and_vbs_records),
		cmocka_unit_test(test_parameter_area_padding),
		cmocka_unit_test(test_add_validation),
		cmocka_unit_test(test_write_cross_checks),
		cmocka_unit_test(test_all_header_types),
		cmocka_unit_test(test_id_block_and_corim),
		cmocka_unit_test(test_rebuild_reference_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
