/* Page walker (arch/x86_64/x86_pagewalk.h): every paging mode, rights, faults, A/D bits. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "arch/x86_64/x86_pagewalk.h"

#define MEM_SIZE (8u << 20)
static uint8_t mem[MEM_SIZE];
static int cmpxchg_races; /* make the next N cmpxchg calls fail with -EAGAIN */
static unsigned reads;

static int mem_read(void *ctx, gpa_t at, void *buf, unsigned size)
{
	(void)ctx;
	reads++;
	if (at.v >= MEM_SIZE || MEM_SIZE - at.v < size)
		return -EFAULT;
	memcpy(buf, mem + at.v, size);
	return 0;
}

static int mem_cmpxchg(void *ctx, gpa_t at, uint64_t old, uint64_t nv, unsigned size)
{
	(void)ctx;
	uint64_t cur = 0;
	if (at.v >= MEM_SIZE || MEM_SIZE - at.v < size)
		return -EFAULT;
	if (cmpxchg_races > 0) {
		cmpxchg_races--;
		return -EAGAIN;
	}
	memcpy(&cur, mem + at.v, size);
	if (cur != old)
		return -EAGAIN;
	memcpy(mem + at.v, &nv, size);
	return 0;
}

static const struct x86_pw_mem_ops ops = { mem_read, mem_cmpxchg };

static void put64(uint64_t at, uint64_t v) { memcpy(mem + at, &v, 8); }
static void put32(uint64_t at, uint32_t v) { memcpy(mem + at, &v, 4); }
static uint64_t get64(uint64_t at) { uint64_t v; memcpy(&v, mem + at, 8); return v; }
static uint32_t get32(uint64_t at) { uint32_t v; memcpy(&v, mem + at, 4); return v; }

#define P  0x1ull
#define RW 0x2ull
#define US 0x4ull
#define A  0x20ull
#define D  0x40ull
#define PS 0x80ull
#define NX (1ull << 63)

static const struct x86_pw_regs long4 = {
	.cr0 = X86_CR0_PE | X86_CR0_PG | X86_CR0_WP, .cr3 = 0x1000,
	.cr4 = X86_CR4_PAE, .efer = X86_EFER_LME | X86_EFER_LMA | X86_EFER_NXE, .maxphyaddr = 46,
};

/* 4-level tables: PML4 0x1000, PDPT 0x2000, PD 0x3000, PT 0x4000. VA 0x400000 -> 4 KiB page at
 * 0x100000 (user, rw); VA 0x40000000+ -> 1 GiB? no: PD entry 1 (VA 0x200000) is a 2 MiB page at
 * 0x600000. */
static int setup_long(void **state)
{
	(void)state;
	memset(mem, 0, MEM_SIZE);
	cmpxchg_races = 0;
	put64(0x1000, 0x2000 | P | RW | US);
	put64(0x2000, 0x3000 | P | RW | US);
	put64(0x3000 + 2 * 8, 0x4000 | P | RW | US);     /* VA 0x400000.. */
	put64(0x3000 + 1 * 8, 0x600000 | P | RW | PS);   /* VA 0x200000: 2 MiB supervisor */
	put64(0x4000 + 0 * 8, 0x100000 | P | RW | US);   /* VA 0x400000 */
	put64(0x4000 + 1 * 8, 0x101000 | P | US);        /* VA 0x401000: read-only user */
	put64(0x4000 + 2 * 8, 0x102000 | P | RW | US | NX); /* VA 0x402000: no-exec */
	put64(0x4000 + 3 * 8, 0x103000 | RW | US);       /* VA 0x403000: not present */
	return 0;
}

static int xlate(const struct x86_pw_regs *r, uint64_t va, unsigned acc, struct x86_pw_result *res)
{
	return x86_pw_translate(r, gva(va), acc, &ops, NULL, res);
}

static void test_long_4k_and_ad(void **state)
{
	(void)state;
	struct x86_pw_result res;
	assert_int_equal(xlate(&long4, 0x400123, X86_PW_READ, &res), 0);
	assert_int_equal(res.gpa.v, 0x100123);
	assert_int_equal(res.page_size, 4096);
	assert_true(res.writable && res.user && res.executable);
	/* A set on every level, D not set by a read. */
	assert_true(get64(0x1000) & A);
	assert_true(get64(0x2000) & A);
	assert_true(get64(0x3010) & A);
	assert_true(get64(0x4000) & A);
	assert_false(get64(0x4000) & D);
	assert_int_equal(xlate(&long4, 0x400FFF, X86_PW_WRITE, &res), 0);
	assert_true(get64(0x4000) & D);
	/* Probe-only walks leave A/D alone. */
	put64(0x4000, 0x100000 | P | RW | US);
	assert_int_equal(xlate(&long4, 0x400000, X86_PW_WRITE | X86_PW_NO_AD, &res), 0);
	assert_int_equal(get64(0x4000), 0x100000 | P | RW | US);
}

static void test_long_2m(void **state)
{
	(void)state;
	struct x86_pw_result res;
	assert_int_equal(xlate(&long4, 0x2ABCDE, X86_PW_WRITE, &res), 0);
	assert_int_equal(res.gpa.v, 0x6ABCDE);
	assert_int_equal(res.page_size, 2u << 20);
	assert_false(res.user);
	assert_true(get64(0x3008) & D);
	/* Reserved bits 20:13 of a 2 MiB PDE fault with RSVD. */
	put64(0x3008, 0x600000 | P | RW | PS | (1ull << 13));
	assert_int_equal(xlate(&long4, 0x200000, X86_PW_READ, &res), -EFAULT);
	assert_true(res.fault);
	assert_int_equal(res.pf_error, X86_PFERR_P | X86_PFERR_RSVD);
}

static void test_long_1g(void **state)
{
	(void)state;
	struct x86_pw_result res;
	put64(0x2008, 0x40000000ull | P | RW | PS); /* VA 1 GiB..2 GiB -> GPA 1 GiB */
	assert_int_equal(xlate(&long4, 0x40012345, X86_PW_READ, &res), 0);
	assert_int_equal(res.gpa.v, 0x40012345);
	assert_int_equal(res.page_size, 1u << 30);
	put64(0x2008, 0x40000000ull | P | RW | PS | (1ull << 20));
	assert_int_equal(xlate(&long4, 0x40012345, X86_PW_READ, &res), -EFAULT);
	assert_int_equal(res.pf_error, X86_PFERR_P | X86_PFERR_RSVD);
}

static void test_not_present_error_codes(void **state)
{
	(void)state;
	struct x86_pw_result res;
	assert_int_equal(xlate(&long4, 0x403000, X86_PW_READ, &res), -EFAULT);
	assert_int_equal(res.pf_error, 0);
	assert_int_equal(xlate(&long4, 0x403000, X86_PW_WRITE | X86_PW_USER, &res), -EFAULT);
	assert_int_equal(res.pf_error, X86_PFERR_W | X86_PFERR_U);
	assert_int_equal(xlate(&long4, 0x403000, X86_PW_FETCH, &res), -EFAULT);
	assert_int_equal(res.pf_error, X86_PFERR_I); /* NXE=1 -> I reported */
	/* A fault leaves A bits untouched. */
	assert_false(get64(0x1000) & A);
	/* Top-level not present. */
	assert_int_equal(xlate(&long4, 0x8000000000ull, X86_PW_READ, &res), -EFAULT);
	assert_int_equal(res.pf_error, 0);
}

static void test_rights(void **state)
{
	(void)state;
	struct x86_pw_result res;
	struct x86_pw_regs r = long4;
	/* User write to read-only page. */
	assert_int_equal(xlate(&r, 0x401000, X86_PW_WRITE | X86_PW_USER, &res), -EFAULT);
	assert_int_equal(res.pf_error, X86_PFERR_P | X86_PFERR_W | X86_PFERR_U);
	/* Supervisor write to read-only page: faults with WP=1, allowed with WP=0. */
	assert_int_equal(xlate(&r, 0x401000, X86_PW_WRITE, &res), -EFAULT);
	assert_int_equal(res.pf_error, X86_PFERR_P | X86_PFERR_W);
	r.cr0 &= ~X86_CR0_WP;
	assert_int_equal(xlate(&r, 0x401000, X86_PW_WRITE, &res), 0);
	/* User access to a supervisor page. */
	assert_int_equal(xlate(&long4, 0x200000, X86_PW_READ | X86_PW_USER, &res), -EFAULT);
	assert_int_equal(res.pf_error, X86_PFERR_P | X86_PFERR_U);
	/* Fetch from NX page. */
	assert_int_equal(xlate(&long4, 0x402000, X86_PW_FETCH, &res), -EFAULT);
	assert_int_equal(res.pf_error, X86_PFERR_P | X86_PFERR_I);
	/* NX bit with EFER.NXE=0 is reserved. */
	r = long4;
	r.efer &= ~X86_EFER_NXE;
	assert_int_equal(xlate(&r, 0x402000, X86_PW_READ, &res), -EFAULT);
	assert_int_equal(res.pf_error, X86_PFERR_P | X86_PFERR_RSVD);
}

static void test_smep_smap(void **state)
{
	(void)state;
	struct x86_pw_result res;
	struct x86_pw_regs r = long4;
	r.cr4 |= X86_CR4_SMEP | X86_CR4_SMAP;
	/* Supervisor fetch from a user page: SMEP. */
	assert_int_equal(xlate(&r, 0x400000, X86_PW_FETCH, &res), -EFAULT);
	assert_int_equal(res.pf_error, X86_PFERR_P | X86_PFERR_I);
	/* User fetch is fine. */
	assert_int_equal(xlate(&r, 0x400000, X86_PW_FETCH | X86_PW_USER, &res), 0);
	/* Supervisor read of a user page: SMAP with AC=0 faults, AC=1 allowed, implicit faults. */
	assert_int_equal(xlate(&r, 0x400000, X86_PW_READ, &res), -EFAULT);
	assert_int_equal(res.pf_error, X86_PFERR_P);
	r.rflags |= X86_RFLAGS_AC;
	assert_int_equal(xlate(&r, 0x400000, X86_PW_READ, &res), 0);
	assert_int_equal(xlate(&r, 0x400000, X86_PW_READ | X86_PW_IMPLICIT, &res), -EFAULT);
	/* SMAP + AC still honours WP on read-only user pages. */
	assert_int_equal(xlate(&r, 0x401000, X86_PW_WRITE, &res), -EFAULT);
	assert_int_equal(res.pf_error, X86_PFERR_P | X86_PFERR_W);
}

static void test_canonical_and_maxphyaddr(void **state)
{
	(void)state;
	struct x86_pw_result res;
	assert_int_equal(xlate(&long4, 0x0000800000000000ull, X86_PW_READ, &res), -EINVAL);
	assert_false(res.fault);
	/* A table pointer with bits above MAXPHYADDR (46) set is reserved. */
	put64(0x1000, 0x2000 | P | RW | US | (1ull << 47));
	assert_int_equal(xlate(&long4, 0x400000, X86_PW_READ, &res), -EFAULT);
	assert_int_equal(res.pf_error, X86_PFERR_P | X86_PFERR_RSVD);
	/* PS in a PML4E is reserved. */
	put64(0x1000, 0x2000 | P | RW | US | PS);
	assert_int_equal(xlate(&long4, 0x400000, X86_PW_READ, &res), -EFAULT);
	assert_int_equal(res.pf_error, X86_PFERR_P | X86_PFERR_RSVD);
	/* A table outside RAM: not a #PF. */
	put64(0x1000, 0x7FFFF000ull | P | RW | US);
	assert_int_equal(xlate(&long4, 0x400000, X86_PW_READ, &res), -EFAULT);
	assert_false(res.fault);
}

static void test_five_level(void **state)
{
	(void)state;
	struct x86_pw_result res;
	struct x86_pw_regs r = long4;
	r.cr4 |= X86_CR4_LA57;
	r.cr3 = 0x5000;
	/* VA with bit 48 set: PML5 index 1 -> PML4 at 0x1000. */
	put64(0x5000 + 8, 0x1000 | P | RW | US);
	uint64_t va = (1ull << 48) | 0x400010;
	assert_int_equal(xlate(&r, va, X86_PW_READ, &res), 0);
	assert_int_equal(res.gpa.v, 0x100010);
	/* Canonical for 57 bits but not 48. */
	assert_int_equal(xlate(&long4, va, X86_PW_READ, &res), -EINVAL);
	assert_int_equal(xlate(&r, 1ull << 57, X86_PW_READ, &res), -EINVAL);
}

static void test_pae(void **state)
{
	(void)state;
	struct x86_pw_result res;
	struct x86_pw_regs r = { .cr0 = X86_CR0_PE | X86_CR0_PG | X86_CR0_WP, .cr3 = 0x6020,
				 .cr4 = X86_CR4_PAE, .efer = X86_EFER_NXE };
	memset(mem, 0, MEM_SIZE);
	put64(0x6020 + 1 * 8, 0x7000 | P);              /* PDPTE 1: VA 0x40000000.. */
	put64(0x7000 + 0, 0x8000 | P | RW);             /* PDE 0 */
	put64(0x7000 + 8, 0x400000 | P | PS);           /* PDE 1: 2 MiB read-only */
	put64(0x8000 + 5 * 8, 0x123000 | P | RW | NX);
	assert_int_equal(xlate(&r, 0x40005ABC, X86_PW_WRITE, &res), 0);
	assert_int_equal(res.gpa.v, 0x123ABC);
	assert_true(get64(0x8028) & D);
	assert_false(get64(0x6028) & A); /* PDPTEs have no A bit */
	assert_int_equal(xlate(&r, 0x40005ABC, X86_PW_FETCH, &res), -EFAULT);
	assert_int_equal(res.pf_error, X86_PFERR_P | X86_PFERR_I);
	assert_int_equal(xlate(&r, 0x40212345, X86_PW_READ, &res), 0);
	assert_int_equal(res.gpa.v, 0x412345);
	assert_int_equal(xlate(&r, 0x40212345, X86_PW_WRITE, &res), -EFAULT);
	/* Upper 32 bits of the VA are ignored outside long mode. */
	assert_int_equal(xlate(&r, 0xFFFFFFFF40005ABCull, X86_PW_READ, &res), 0);
	assert_int_equal(res.gpa.v, 0x123ABC);
	/* Reserved PDPTE bit (RW in a PAE PDPTE). */
	put64(0x6028, 0x7000 | P | RW);
	assert_int_equal(xlate(&r, 0x40005ABC, X86_PW_READ, &res), -EFAULT);
	assert_int_equal(res.pf_error, X86_PFERR_P | X86_PFERR_RSVD);
}

static void test_32bit(void **state)
{
	(void)state;
	struct x86_pw_result res;
	struct x86_pw_regs r = { .cr0 = X86_CR0_PE | X86_CR0_PG, .cr3 = 0x9000,
				 .cr4 = X86_CR4_PSE, .maxphyaddr = 36 };
	memset(mem, 0, MEM_SIZE);
	put32(0x9000 + 1 * 4, 0xA000 | P | RW | US);          /* VA 0x400000.. */
	put32(0xA000 + 2 * 4, 0x300000 | P | US);             /* VA 0x402000 read-only */
	put32(0x9000 + 2 * 4, 0x400000 | P | RW | PS | (0x3u << 13)); /* 4 MiB at 0x3_0040_0000 */
	assert_int_equal(xlate(&r, 0x402ABC, X86_PW_READ | X86_PW_USER, &res), 0);
	assert_int_equal(res.gpa.v, 0x300ABC);
	assert_true(get32(0xA008) & A);
	/* WP=0: supervisor may write a read-only page; D gets set. */
	assert_int_equal(xlate(&r, 0x402ABC, X86_PW_WRITE, &res), 0);
	assert_true(get32(0xA008) & D);
	assert_int_equal(xlate(&r, 0x812345, X86_PW_READ, &res), 0);
	assert_int_equal(res.gpa.v, 0x300412345ull);
	assert_int_equal(res.page_size, 4u << 20);
	/* PSE-36 bits above MAXPHYADDR (36): bit 17 of the PDE = phys bit 36 -> reserved. */
	put32(0x9000 + 2 * 4, 0x400000 | P | RW | PS | (1u << 17));
	assert_int_equal(xlate(&r, 0x812345, X86_PW_READ, &res), -EFAULT);
	assert_int_equal(res.pf_error, X86_PFERR_P | X86_PFERR_RSVD);
	/* Without CR4.PSE, PS is ignored: the PDE points to a page table. */
	r.cr4 = 0;
	put32(0x9000 + 2 * 4, 0xA000 | P | RW | PS);
	assert_int_equal(xlate(&r, 0x802ABC, X86_PW_READ, &res), 0);
	assert_int_equal(res.gpa.v, 0x300ABC);
	/* No I bit in 32-bit paging without SMEP. */
	assert_int_equal(xlate(&r, 0xC00000, X86_PW_FETCH, &res), -EFAULT);
	assert_int_equal(res.pf_error, 0);
}

static void test_paging_off(void **state)
{
	(void)state;
	struct x86_pw_result res;
	struct x86_pw_regs r = { .cr0 = X86_CR0_PE };
	assert_int_equal(xlate(&r, 0x1234567890ull, X86_PW_WRITE, &res), 0);
	assert_int_equal(res.gpa.v, 0x34567890);
	assert_int_equal(x86_pw_levels(&r), 0);
}

static void test_ad_race_restarts(void **state)
{
	(void)state;
	struct x86_pw_result res;
	cmpxchg_races = 2;
	assert_int_equal(xlate(&long4, 0x400000, X86_PW_READ, &res), 0);
	assert_true(get64(0x4000) & A);
	cmpxchg_races = 1000;
	put64(0x4000, 0x100000 | P | RW | US);
	put64(0x1000, 0x2000 | P | RW | US);
	assert_int_equal(xlate(&long4, 0x400000, X86_PW_READ, &res), -ELOOP);
	cmpxchg_races = 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_long_4k_and_ad, setup_long),
		cmocka_unit_test_setup(test_long_2m, setup_long),
		cmocka_unit_test_setup(test_long_1g, setup_long),
		cmocka_unit_test_setup(test_not_present_error_codes, setup_long),
		cmocka_unit_test_setup(test_rights, setup_long),
		cmocka_unit_test_setup(test_smep_smap, setup_long),
		cmocka_unit_test_setup(test_canonical_and_maxphyaddr, setup_long),
		cmocka_unit_test_setup(test_five_level, setup_long),
		cmocka_unit_test(test_pae),
		cmocka_unit_test(test_32bit),
		cmocka_unit_test(test_paging_off),
		cmocka_unit_test_setup(test_ad_race_restarts, setup_long),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
