/* cpuid: the paravisor's CPUID policy (vtl2/cpuid.h) and a leaf left to the hypervisor. */
#include "tests/guests/rt.h"

void guest_main(unsigned vp, unsigned vp_count)
{
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
	GUEST_ASSERT(memcmp(vendor, "Microsoft Hv", 12) == 0);
	GUEST_ASSERT_EQ(cpuid(0x40000001, 0).eax, 0x31237648u); /* "Hv#1" */
	/* Linux's Hyper-V detection needs the hypercall and VP index privileges. */
	struct cpuid_regs f = cpuid(0x40000003, 0);
	GUEST_ASSERT((f.eax & (1u << 5)) && (f.eax & (1u << 6)));
	GUEST_ASSERT_EQ(cpuid(0x40000005, 0).eax, vp_count);
	/* Leaf 1: hypervisor present, VMX hidden, APIC id = VP index, logical count. */
	struct cpuid_regs l1 = cpuid(1, 0);
	GUEST_ASSERT(l1.ecx & (1u << 31));
	GUEST_ASSERT(!(l1.ecx & (1u << 5)));
	GUEST_ASSERT_EQ(l1.ebx >> 24, vp);
	GUEST_ASSERT_EQ((l1.ebx >> 16) & 0xFF, vp_count);
	/* Leaf 0xB: x2APIC id and the core count of the package. */
	GUEST_ASSERT_EQ(cpuid(0xB, 0).edx, vp);
	GUEST_ASSERT_EQ(cpuid(0xB, 1).ebx & 0xFFFF, vp_count);
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
