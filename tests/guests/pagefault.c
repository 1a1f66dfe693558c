/*
 * pagefault: the guest's own 4-level tables map one 2 MiB region through a 4 KiB table with
 * holes; touching them raises #PF in the guest, whose handler checks the error code and CR2,
 * fixes the PTE and returns so the instruction restarts.
 */
#include "tests/guests/rt.h"

#define PTE_P  0x1ull
#define PTE_RW 0x2ull
#define PTE_PS 0x80ull
#define PTE_NX (1ull << 63)

static uint64_t pml4[512] __attribute__((aligned(4096)));
static uint64_t pdpt[512] __attribute__((aligned(4096)));
static uint64_t pd[4][512] __attribute__((aligned(4096)));
static uint64_t pt[512] __attribute__((aligned(4096)));

#define REGION 0x400000ull /* mapped by pt[] in 4 KiB pages */

static volatile unsigned pf_count;
static volatile uint64_t pf_err, pf_cr2, pf_rip;

static void pf_handler(struct rt_frame *f)
{
	pf_count++;
	pf_err = f->error_code;
	pf_cr2 = read_cr2();
	pf_rip = f->rip;
	uint64_t page = pf_cr2 & ~0xFFFull;
	if (page < REGION || page >= REGION + 0x200000) {
		rt_printf("pagefault: unexpected #PF cr2 0x%lx err 0x%lx rip 0x%lx\n",
			  (unsigned long)pf_cr2, (unsigned long)pf_err, (unsigned long)f->rip);
		rt_exit(0xF00);
	}
	pt[(page - REGION) >> 12] = page | PTE_P | PTE_RW;
	invlpg((void *)(uintptr_t)page);
}

static void build_tables(void)
{
	pml4[0] = (uintptr_t)pdpt | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < 4; i++) {
		pdpt[i] = (uintptr_t)pd[i] | PTE_P | PTE_RW;
		for (uint64_t j = 0; j < 512; j++)
			pd[i][j] = ((i * 512 + j) << 21) | PTE_P | PTE_RW | PTE_PS;
	}
	pd[0][REGION >> 21] = (uintptr_t)pt | PTE_P | PTE_RW;
	for (uint64_t k = 0; k < 512; k++)
		pt[k] = (REGION + (k << 12)) | PTE_P | PTE_RW;
	pt[1] = 0;                                   /* not present */
	pt[2] = (REGION + 0x2000) | PTE_P;           /* read-only */
	pt[3] = 0;                                   /* not present */
	pt[4] = (REGION + 0x4000) | PTE_P | PTE_NX;  /* no execute */
}

void guest_main(unsigned vp, unsigned vp_count)
{
	(void)vp_count;
	if (vp != 0)
		return;
	/* Markers written through the boot identity map, before our tables hide the pages. */
	*(volatile uint64_t *)(uintptr_t)(REGION + 0x1010) = 0xC0FFEE;
	*(volatile uint8_t *)(uintptr_t)(REGION + 0x4000) = 0xC3; /* ret */
	build_tables();
	rt_set_handler(14, pf_handler);
	uint64_t old_cr3 = read_cr3();
	write_cr3((uintptr_t)pml4);
	rt_printf("pagefault: own tables at 0x%lx (boot CR3 0x%lx)\n", (unsigned long)read_cr3(),
		  (unsigned long)old_cr3);

	/* 1. read of a not-present page: err = 0, CR2 = address, RIP = the load */
	uint64_t v, at;
	__asm__ volatile("lea 1f(%%rip), %1\n1: movq (%2), %0"
			 : "=r"(v), "=&r"(at) : "r"(REGION + 0x1010) : "memory");
	GUEST_ASSERT_EQ(pf_count, 1);
	GUEST_ASSERT_EQ(pf_err, 0);
	GUEST_ASSERT_EQ(pf_cr2, REGION + 0x1010);
	GUEST_ASSERT_EQ(pf_rip, at);
	GUEST_ASSERT_EQ(v, 0xC0FFEE);

	/* 2. write to a read-only page: err = P|W */
	*(volatile uint32_t *)(uintptr_t)(REGION + 0x2008) = 0xABCD;
	GUEST_ASSERT_EQ(pf_count, 2);
	GUEST_ASSERT_EQ(pf_err, 0x3);
	GUEST_ASSERT_EQ(pf_cr2, REGION + 0x2008);
	GUEST_ASSERT_EQ(*(volatile uint32_t *)(uintptr_t)(REGION + 0x2008), 0xABCD);

	/* 3. write to a not-present page: err = W */
	*(volatile uint16_t *)(uintptr_t)(REGION + 0x3FFE) = 0x7777;
	GUEST_ASSERT_EQ(pf_count, 3);
	GUEST_ASSERT_EQ(pf_err, 0x2);
	GUEST_ASSERT_EQ(pf_cr2, REGION + 0x3FFE);
	GUEST_ASSERT_EQ(*(volatile uint16_t *)(uintptr_t)(REGION + 0x3FFE), 0x7777);

	/* 4. instruction fetch from an NX page: err = P|I, CR2 = RIP = the target */
	void (*fn)(void) = (void (*)(void))(uintptr_t)(REGION + 0x4000);
	fn();
	GUEST_ASSERT_EQ(pf_count, 4);
	GUEST_ASSERT_EQ(pf_err, 0x11);
	GUEST_ASSERT_EQ(pf_cr2, REGION + 0x4000);
	GUEST_ASSERT_EQ(pf_rip, REGION + 0x4000);

	/* 5. a fixed page no longer faults */
	GUEST_ASSERT_EQ(*(volatile uint64_t *)(uintptr_t)(REGION + 0x1010), 0xC0FFEE);
	GUEST_ASSERT_EQ(pf_count, 4);
	write_cr3(old_cr3);
	rt_set_handler(14, NULL);
}
