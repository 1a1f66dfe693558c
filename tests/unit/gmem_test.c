/*
 * gmem_test: RAM regions (add, overlap, limits), lookups of every kind incl. accesses running
 * off a region, withholding, and the page-walker memory callbacks (also through a real walk,
 * whose tables must never be read from or written to VTL2's private pages).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86_64/x86_pagewalk.h"
#include "vtl2/gmem.h"

#define PG ADDR_PAGE_SIZE

struct fx {
	struct gmem g;
	uint8_t *lo;     /* GPA 0x0 .. 0x10000 */
	uint8_t *hi;     /* GPA 0x100000 .. 0x104000 */
	uint8_t *adj;    /* GPA 0x104000 .. 0x105000: adjacent to hi, separate host memory */
};

static uint8_t *pages(size_t n)
{
	uint8_t *p = aligned_alloc(PG, n * PG);
	assert_non_null(p);
	for (size_t i = 0; i < n * PG; i++)
		p[i] = (uint8_t)(i * 7 + n);
	return p;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	gmem_init(&f->g);
	f->lo = pages(16);
	f->hi = pages(4);
	f->adj = pages(1);
	assert_int_equal(gmem_add_ram(&f->g, gpa(0), 16 * PG, f->lo), 0);
	assert_int_equal(gmem_add_ram(&f->g, gpa(0x100000), 4 * PG, f->hi), 0);
	assert_int_equal(gmem_add_ram(&f->g, gpa(0x104000), PG, f->adj), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	gmem_fini(&f->g);
	free(f->lo);
	free(f->hi);
	free(f->adj);
	free(f);
	return 0;
}

/* ---- regions ---- */

static void test_add_ram_rules(void **state)
{
	struct fx *f = *state;
	struct gmem *g = &f->g;
	uint8_t dummy[1];

	assert_int_equal(g->ram_count, 3);
	/* Bad arguments. */
	assert_int_equal(gmem_add_ram(g, gpa(0x200000), PG, NULL), -EINVAL);
	assert_int_equal(gmem_add_ram(g, gpa(0x200000), 0, dummy), -EINVAL);
	assert_int_equal(gmem_add_ram(g, gpa(0x200800), PG, dummy), -EINVAL);
	assert_int_equal(gmem_add_ram(g, gpa(0x200000), 0x1800, dummy), -EINVAL);
	assert_int_equal(gmem_add_ram(g, gpa(0xFFFFFFFFFFFFF000ull), 2 * PG, dummy), -EINVAL);
	/* Overlaps: start, end, inside, around. */
	assert_int_equal(gmem_add_ram(g, gpa(0xF000), 2 * PG, dummy), -EEXIST);
	assert_int_equal(gmem_add_ram(g, gpa(0xFF000), 2 * PG, dummy), -EEXIST);
	assert_int_equal(gmem_add_ram(g, gpa(0x101000), PG, dummy), -EEXIST);
	assert_int_equal(gmem_add_ram(g, gpa(0xF0000), 0x100000, dummy), -EEXIST);
	assert_int_equal(g->ram_count, 3);
	/* Adjacent on both sides is fine. */
	assert_int_equal(gmem_add_ram(g, gpa(0x10000), PG, dummy), 0);
	assert_int_equal(gmem_add_ram(g, gpa(0xFF000), PG, dummy), 0);
	assert_int_equal(g->ram_count, 5);
	/* At most GMEM_MAX_REGIONS. */
	for (unsigned i = 5; i < GMEM_MAX_REGIONS; i++)
		assert_int_equal(gmem_add_ram(g, gpa(0x1000000 + i * 0x10000ull), PG, dummy), 0);
	assert_int_equal(gmem_add_ram(g, gpa(0x8000000), PG, dummy), -ENOSPC);
	assert_int_equal(g->ram_count, GMEM_MAX_REGIONS);
}

static void test_is_ram(void **state)
{
	struct fx *f = *state;
	struct gmem *g = &f->g;

	assert_true(gmem_is_ram(g, gpa(0), 16 * PG));
	assert_true(gmem_is_ram(g, gpa(0xFFFF), 1));
	assert_false(gmem_is_ram(g, gpa(0xFFFF), 2));
	assert_false(gmem_is_ram(g, gpa(0x10000), 1));
	assert_true(gmem_is_ram(g, gpa(0x103FF8), 8));
	/* Adjacent regions are still two regions (host memory is not contiguous). */
	assert_false(gmem_is_ram(g, gpa(0x103FFC), 8));
	assert_true(gmem_is_ram(g, gpa(0x104000), PG));
	assert_false(gmem_is_ram(g, gpa(0x104000), PG + 1));
	assert_false(gmem_is_ram(g, gpa(UINT64_MAX), 1));
	assert_false(gmem_is_ram(g, gpa(0x1000), UINT64_MAX));
}

/* ---- lookup ---- */

static void test_lookup_ram_none(void **state)
{
	struct fx *f = *state;
	struct gmem *g = &f->g;
	uint8_t *h = NULL;

	assert_int_equal(gmem_lookup(g, gpa(0x1234), 4, &h), GMEM_RAM);
	assert_ptr_equal(h, f->lo + 0x1234);
	assert_int_equal(gmem_lookup(g, gpa(0x102FF8), 8, &h), GMEM_RAM);
	assert_ptr_equal(h, f->hi + 0x2FF8);
	assert_int_equal(gmem_lookup(g, gpa(0x104000), 4096, &h), GMEM_RAM);
	assert_ptr_equal(h, f->adj);
	/* Length 0 is looked up as one byte. */
	assert_int_equal(gmem_lookup(g, gpa(0xFFFF), 0, &h), GMEM_RAM);
	assert_ptr_equal(h, f->lo + 0xFFFF);

	h = NULL;
	assert_int_equal(gmem_lookup(g, gpa(0x10000), 1, &h), GMEM_NONE);
	assert_int_equal(gmem_lookup(g, gpa(0xFEC00000), 4, &h), GMEM_NONE);
	/* Straddling the end of a region (into nothing, or into an adjacent region). */
	assert_int_equal(gmem_lookup(g, gpa(0xFFFE), 4, &h), GMEM_NONE);
	assert_int_equal(gmem_lookup(g, gpa(0x103FFE), 4, &h), GMEM_NONE);
	assert_int_equal(gmem_lookup(g, gpa(0x104FFF), 2, &h), GMEM_NONE);
	assert_int_equal(gmem_lookup(g, gpa(0xFFFFF), 2, &h), GMEM_NONE);
	assert_null(h);
}

static void test_withhold_kinds(void **state)
{
	struct fx *f = *state;
	struct gmem *g = &f->g;
	uint8_t *h = NULL;

	/* Page 2 read-only, pages 2..4 private: private wins where both apply. */
	assert_int_equal(gmem_withhold(g, gpn(2), 1, true, true), 0);
	assert_int_equal(gmem_lookup(g, gpa(0x2010), 4, &h), GMEM_READONLY);
	assert_ptr_equal(h, f->lo + 0x2010);
	assert_int_equal(gmem_lookup(g, gpa(0x1FFC), 4, &h), GMEM_RAM);
	assert_int_equal(gmem_lookup(g, gpa(0x3000), 4, &h), GMEM_RAM);
	assert_int_equal(gmem_withhold(g, gpn(2), 3, true, false), 0);
	assert_int_equal(gmem_lookup(g, gpa(0x2000), 1, &h), GMEM_PRIVATE);
	assert_ptr_equal(h, f->lo + 0x2000);
	assert_int_equal(gmem_lookup(g, gpa(0x4FFF), 1, &h), GMEM_PRIVATE);
	assert_int_equal(gmem_lookup(g, gpa(0x5000), 1, &h), GMEM_RAM);
	assert_int_equal(g->withheld_count, 2);
	/* Withholding the same range again adds nothing. */
	assert_int_equal(gmem_withhold(g, gpn(2), 3, true, false), 0);
	assert_int_equal(g->withheld_count, 2);

	/* Returning: only an exact match (range and kind) is removed. */
	assert_int_equal(gmem_withhold(g, gpn(2), 2, false, false), 0);
	assert_int_equal(gmem_withhold(g, gpn(2), 3, false, true), 0);
	assert_int_equal(g->withheld_count, 2);
	assert_int_equal(gmem_withhold(g, gpn(2), 3, false, false), 0);
	assert_int_equal(g->withheld_count, 1);
	assert_int_equal(gmem_lookup(g, gpa(0x2000), 1, &h), GMEM_READONLY);
	assert_int_equal(gmem_lookup(g, gpa(0x3000), 1, &h), GMEM_RAM);
	assert_int_equal(gmem_withhold(g, gpn(2), 1, false, true), 0);
	assert_int_equal(g->withheld_count, 0);
	assert_int_equal(gmem_lookup(g, gpa(0x2000), 1, &h), GMEM_RAM);

	/* In another region. */
	assert_int_equal(gmem_withhold(g, gpn(0x103), 1, true, false), 0);
	assert_int_equal(gmem_lookup(g, gpa(0x103000), 8, &h), GMEM_PRIVATE);
	assert_ptr_equal(h, f->hi + 0x3000);
	assert_int_equal(gmem_lookup(g, gpa(0x102FF8), 8, &h), GMEM_RAM);
	assert_int_equal(gmem_lookup(g, gpa(0x104000), 8, &h), GMEM_RAM);
}

/* Host bytes back to guest-physical: inside one region, every page ordinary RAM. */
static void test_host_to_gpa(void **state)
{
	struct fx *f = *state;
	struct gmem *g = &f->g;
	gpa_t a = gpa(1);
	assert_int_equal(gmem_host_to_gpa(g, f->lo + 0x3200, 0x1000, &a), 0);
	assert_int_equal(a.v, 0x3200);
	assert_int_equal(gmem_host_to_gpa(g, f->hi + 0x3FFF, 1, &a), 0);
	assert_int_equal(a.v, 0x103FFF);
	assert_int_equal(gmem_host_to_gpa(g, f->lo, 16 * PG, &a), 0);
	assert_int_equal(a.v, 0);
	/* Off the end of a region (even onto the adjacent one), empty, or not guest memory. */
	assert_int_equal(gmem_host_to_gpa(g, f->hi + 0x3000, 2 * PG, &a), -EINVAL);
	assert_int_equal(gmem_host_to_gpa(g, f->lo + 0x100, 0, &a), -EINVAL);
	assert_int_equal(gmem_host_to_gpa(g, &a, sizeof(a), &a), -EINVAL);
	assert_int_equal(gmem_host_to_gpa(g, f->lo - 1, 2, &a), -EINVAL);
	/* A withheld page anywhere inside: read-only or VTL2's, never named to the host. */
	assert_int_equal(gmem_withhold(g, gpn(5), 1, true, true), 0);
	assert_int_equal(gmem_host_to_gpa(g, f->lo + 0x4800, 0x1000, &a), -EINVAL);
	assert_int_equal(gmem_host_to_gpa(g, f->lo + 0x4000, 0x1000, &a), 0);
	assert_int_equal(gmem_withhold(g, gpn(5), 1, false, true), 0);
	assert_int_equal(gmem_withhold(g, gpn(0x101), 1, true, false), 0);
	assert_int_equal(gmem_host_to_gpa(g, f->hi, 4 * PG, &a), -EINVAL);
	assert_int_equal(gmem_host_to_gpa(g, f->lo + 0x4800, 0x1000, &a), 0);
	assert_int_equal(a.v, 0x4800);
}

static void test_withhold_errors(void **state)
{
	struct fx *f = *state;
	struct gmem *g = &f->g;

	assert_int_equal(gmem_withhold(g, gpn(1), 0, true, true), -EINVAL);
	assert_int_equal(gmem_withhold(g, gpn(0x10), 1, true, true), -EINVAL);
	/* Running off a region, or across two adjacent ones. */
	assert_int_equal(gmem_withhold(g, gpn(0xF), 2, true, true), -EINVAL);
	assert_int_equal(gmem_withhold(g, gpn(0x103), 2, true, true), -EINVAL);
	/* Page counts whose byte size wraps must not pass as "RAM". */
	assert_int_equal(gmem_withhold(g, gpn(0), 1ull << 52, true, false), -EINVAL);
	assert_int_equal(gmem_withhold(g, gpn(1), (1ull << 52) - 1, true, false), -EINVAL);
	assert_int_equal(gmem_withhold(g, gpn(0), UINT64_MAX, true, false), -EINVAL);
	assert_int_equal(gmem_withhold(g, gpn(UINT64_MAX), 1, true, false), -EINVAL);
	assert_int_equal(gmem_withhold(g, gpn(1ull << 52), 1, true, false), -EINVAL);
	assert_int_equal(g->withheld_count, 0);
	uint8_t *h;
	assert_int_equal(gmem_lookup(g, gpa(0), 4, &h), GMEM_RAM);

	/* GMEM_MAX_WITHHELD distinct ranges, then -ENOSPC; returning one frees a slot. */
	for (unsigned i = 0; i < GMEM_MAX_WITHHELD; i++)
		assert_int_equal(gmem_withhold(g, gpn(i % 8), 1 + i / 8, true, i % 2), 0);
	assert_int_equal(g->withheld_count, GMEM_MAX_WITHHELD);
	assert_int_equal(gmem_withhold(g, gpn(0x100), 1, true, true), -ENOSPC);
	/* An existing range is not a new one. */
	assert_int_equal(gmem_withhold(g, gpn(0), 1, true, false), 0);
	assert_int_equal(gmem_withhold(g, gpn(1), 1, false, true), 0);
	assert_int_equal(g->withheld_count, GMEM_MAX_WITHHELD - 1);
	assert_int_equal(gmem_withhold(g, gpn(0x100), 1, true, true), 0);
	assert_int_equal(gmem_lookup(g, gpa(0x100000), 4, &h), GMEM_READONLY);
}

/* ---- page-walker callbacks ---- */

static void test_pw_read(void **state)
{
	struct fx *f = *state;
	uint64_t v = 0;
	uint32_t w = 0;

	memcpy(f->lo + 0x3008, "\x11\x22\x33\x44\x55\x66\x77\x88", 8);
	assert_int_equal(gmem_pw_ops.read(&f->g, gpa(0x3008), &v, 8), 0);
	assert_int_equal(v, 0x8877665544332211ull);
	assert_int_equal(gmem_pw_ops.read(&f->g, gpa(0x300A), &w, 4), 0);
	assert_int_equal(w, 0x66554433);
	/* Out of RAM, off the end of a region, across two adjacent regions. */
	v = 0x5A;
	assert_int_equal(gmem_pw_ops.read(&f->g, gpa(0x10000), &v, 8), -EFAULT);
	assert_int_equal(gmem_pw_ops.read(&f->g, gpa(0xFFFC), &v, 8), -EFAULT);
	assert_int_equal(gmem_pw_ops.read(&f->g, gpa(0x103FFC), &v, 8), -EFAULT);
	assert_int_equal(gmem_pw_ops.read(&f->g, gpa(UINT64_MAX - 3), &v, 8), -EFAULT);
	assert_int_equal(v, 0x5A);
	/* Read-only pages are readable; private ones are VTL2's and never read. */
	assert_int_equal(gmem_withhold(&f->g, gpn(3), 1, true, true), 0);
	assert_int_equal(gmem_pw_ops.read(&f->g, gpa(0x3008), &v, 8), 0);
	assert_int_equal(v, 0x8877665544332211ull);
	assert_int_equal(gmem_withhold(&f->g, gpn(4), 1, true, false), 0);
	v = 0x5A;
	assert_int_equal(gmem_pw_ops.read(&f->g, gpa(0x4000), &v, 8), -EFAULT);
	assert_int_equal(gmem_pw_ops.read(&f->g, gpa(0x3FFC), &v, 8), -EFAULT);
	assert_int_equal(v, 0x5A);
}

static void test_pw_cmpxchg(void **state)
{
	struct fx *f = *state;
	const struct x86_pw_mem_ops *m = &gmem_pw_ops;
	uint64_t e = 0x1000ull | 1;
	uint32_t e32 = 0x2001;

	memcpy(f->lo + 0x5000, &e, 8);
	memcpy(f->lo + 0x5010, &e32, 4);
	assert_int_equal(m->cmpxchg(&f->g, gpa(0x5000), e, e | 0x20, 8), 0);
	memcpy(&e, f->lo + 0x5000, 8);
	assert_int_equal(e, 0x1021);
	/* Stale expected value: -EAGAIN, nothing written. */
	assert_int_equal(m->cmpxchg(&f->g, gpa(0x5000), 0x1001, 0x1061, 8), -EAGAIN);
	memcpy(&e, f->lo + 0x5000, 8);
	assert_int_equal(e, 0x1021);
	assert_int_equal(m->cmpxchg(&f->g, gpa(0x5010), 0x2001, 0x2021, 4), 0);
	memcpy(&e32, f->lo + 0x5010, 4);
	assert_int_equal(e32, 0x2021);
	/* Misaligned, bad size, out of RAM, running off a region. */
	assert_int_equal(m->cmpxchg(&f->g, gpa(0x5004), 0, 1, 8), -EFAULT);
	assert_int_equal(m->cmpxchg(&f->g, gpa(0x5012), 0, 1, 4), -EFAULT);
	assert_int_equal(m->cmpxchg(&f->g, gpa(0x5000), 0x1021, 0, 2), -EFAULT);
	assert_int_equal(m->cmpxchg(&f->g, gpa(0x10000), 0, 1, 8), -EFAULT);
	assert_int_equal(m->cmpxchg(&f->g, gpa(0x103FFC), 0, 1, 8), -EFAULT);
	memcpy(&e, f->lo + 0x5000, 8);
	assert_int_equal(e, 0x1021);

	/* Read-only page: the A/D write is dropped (success, entry unchanged), a changed entry
	   still reports -EAGAIN. Private page: refused. */
	assert_int_equal(gmem_withhold(&f->g, gpn(5), 1, true, true), 0);
	assert_int_equal(m->cmpxchg(&f->g, gpa(0x5000), 0x1021, 0x1061, 8), 0);
	memcpy(&e, f->lo + 0x5000, 8);
	assert_int_equal(e, 0x1021);
	assert_int_equal(m->cmpxchg(&f->g, gpa(0x5000), 0x1001, 0x1061, 8), -EAGAIN);
	assert_int_equal(gmem_withhold(&f->g, gpn(5), 1, true, false), 0);
	assert_int_equal(m->cmpxchg(&f->g, gpa(0x5000), 0x1021, 0x1061, 8), -EFAULT);
	memcpy(&e, f->lo + 0x5000, 8);
	assert_int_equal(e, 0x1021);
	/* Returned to VTL0: written again. */
	assert_int_equal(gmem_withhold(&f->g, gpn(5), 1, false, false), 0);
	assert_int_equal(gmem_withhold(&f->g, gpn(5), 1, false, true), 0);
	assert_int_equal(m->cmpxchg(&f->g, gpa(0x5000), 0x1021, 0x1061, 8), 0);
	memcpy(&e, f->lo + 0x5000, 8);
	assert_int_equal(e, 0x1061);
}

/* A 4-level walk over tables in gmem: A bits get set in RAM; with the PML4 in a private page
   the walk fails without a #PF and VTL2's page is untouched. */
static void test_pw_walk(void **state)
{
	struct fx *f = *state;
	struct gmem *g = &f->g;
	const uint64_t P = 1, RW = 2, A = 0x20;
	/* PML4 @0x1000, PDPT @0x2000, PD @0x3000, PT @0x4000 -> data page 0x9000 at va 0. */
	uint64_t ent[4][2] = {
		{ 0x1000, 0x2000 | P | RW }, { 0x2000, 0x3000 | P | RW },
		{ 0x3000, 0x4000 | P | RW }, { 0x4000, 0x9000 | P | RW },
	};
	for (unsigned i = 0; i < 4; i++)
		memcpy(f->lo + ent[i][0], &ent[i][1], 8);
	struct x86_pw_regs regs = {
		.cr0 = X86_CR0_PE | X86_CR0_PG | X86_CR0_WP, .cr3 = 0x1000, .cr4 = X86_CR4_PAE,
		.efer = X86_EFER_LME | X86_EFER_LMA, .maxphyaddr = 40,
	};
	struct x86_pw_result r;
	assert_int_equal(x86_pw_translate(&regs, gva(0x123), X86_PW_READ, &gmem_pw_ops, g, &r), 0);
	assert_int_equal(r.gpa.v, 0x9123);
	for (unsigned i = 0; i < 4; i++) {
		uint64_t e;
		memcpy(&e, f->lo + ent[i][0], 8);
		assert_int_equal(e, ent[i][1] | A);
	}

	/* Tables pointing into VTL2's private page 0xA (PML4 copied there by "VTL0"). */
	memcpy(f->lo + 0xA000, &ent[0][1], 8);
	assert_int_equal(gmem_withhold(g, gpn(0xA), 1, true, false), 0);
	regs.cr3 = 0xA000;
	memset(&r, 0, sizeof(r));
	assert_int_equal(x86_pw_translate(&regs, gva(0x123), X86_PW_READ, &gmem_pw_ops, g, &r),
			 -EFAULT);
	assert_false(r.fault);
	uint64_t e;
	memcpy(&e, f->lo + 0xA000, 8);
	assert_int_equal(e, ent[0][1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_add_ram_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_is_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lookup_ram_none, setup, teardown),
		cmocka_unit_test_setup_teardown(test_withhold_kinds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_withhold_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_to_gpa, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pw_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pw_cmpxchg, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pw_walk, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
