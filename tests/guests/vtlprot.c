/*
 * vtlprot: the VTL2 write-protects one of our pages (ModifyVtlProtectionMask); our writes to it
 * become GPA intercepts that the mini VTL2 counts and skips, so they must not land.
 */
#include "tests/guests/rt.h"

static uint8_t page[4096] __attribute__((aligned(4096)));

void guest_main(unsigned vp, unsigned vp_count)
{
	(void)vp_count;
	if (vp != 0)
		return;
	volatile uint32_t *p = (volatile uint32_t *)page;
	uint32_t gpn = (uint32_t)((uintptr_t)page >> 12);
	p[0] = 0x1111;
	p[1] = 0x3333;
	GUEST_ASSERT_EQ(inl(GUEST_PORT_PROT_COUNT), 0);

	rt_printf("vtlprot: protecting gpn 0x%x\n", gpn);
	outl(GUEST_PORT_PROTECT, gpn);
	GUEST_ASSERT_EQ(p[0], 0x1111); /* still readable */
	__asm__ volatile("movl $0x2222, (%0)" : : "r"(p) : "memory");
	GUEST_ASSERT_EQ(p[0], 0x1111);
	GUEST_ASSERT_EQ(inl(GUEST_PORT_PROT_COUNT), 1);
	__asm__ volatile("movw $0x4444, 4(%0)" : : "r"(p) : "memory");
	GUEST_ASSERT_EQ(p[1], 0x3333);
	GUEST_ASSERT_EQ(inl(GUEST_PORT_PROT_COUNT), 2);
	/* other pages are unaffected */
	static volatile uint32_t other;
	other = 9;
	GUEST_ASSERT_EQ(other, 9);
	GUEST_ASSERT_EQ(inl(GUEST_PORT_PROT_COUNT), 2);

	rt_puts("vtlprot: unprotecting\n");
	outl(GUEST_PORT_UNPROTECT, gpn);
	p[0] = 0x5555;
	GUEST_ASSERT_EQ(p[0], 0x5555);
	GUEST_ASSERT_EQ(inl(GUEST_PORT_PROT_COUNT), 2);
}
