/* cpuid: the leaf the mini VTL2 answers itself, and one it leaves to the hypervisor. */
#include "tests/guests/rt.h"

void guest_main(unsigned vp, unsigned vp_count)
{
	(void)vp_count;
	if (vp != 0)
		return;
	struct cpuid_regs r = cpuid(GUEST_CPUID_VENDOR_LEAF, 0);
	char vendor[13];
	memcpy(vendor + 0, &r.ebx, 4);
	memcpy(vendor + 4, &r.ecx, 4);
	memcpy(vendor + 8, &r.edx, 4);
	vendor[12] = 0;
	rt_printf("cpuid: leaf 0x40000000 eax=0x%x vendor \"%s\"\n", r.eax, vendor);
	GUEST_ASSERT_EQ(r.eax, GUEST_CPUID_VENDOR_MAX);
	GUEST_ASSERT(memcmp(vendor, "MezzSimVTL2 ", 12) == 0);
	/* Leaf 0: the hypervisor's default values pass through; a CPU reports max leaf >= 1 and a
	   non-empty vendor string. */
	struct cpuid_regs l0 = cpuid(0, 0);
	GUEST_ASSERT(l0.eax >= 1);
	GUEST_ASSERT(l0.ebx != 0 || l0.ecx != 0 || l0.edx != 0);
	/* CPUID must write all four registers even when asked twice in a row. */
	struct cpuid_regs again = cpuid(GUEST_CPUID_VENDOR_LEAF, 0);
	GUEST_ASSERT_EQ(again.ebx, r.ebx);
	GUEST_ASSERT_EQ(again.edx, r.edx);
}
