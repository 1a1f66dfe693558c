/* cpuid: the CPUID policy (see cpuid.h). Values from the SDM (leaf 1, 0xB) and the TLFS. */
#include "vtl2/cpuid.h"

#include <string.h>

const uint32_t cpuid_leaves[] = {
	0x1, 0xB, 0x40000000, 0x40000001, 0x40000002, 0x40000003, 0x40000004, 0x40000005,
	0x40000006, 0x40000007, 0x40000008, 0x40000009, 0x4000000A,
};
const size_t cpuid_leaf_count = sizeof(cpuid_leaves) / sizeof(cpuid_leaves[0]);

#define LEAF1_ECX_MONITOR (1u << 3)
#define LEAF1_ECX_VMX (1u << 5)
#define LEAF1_ECX_SMX (1u << 6)
#define LEAF1_ECX_HYPERVISOR (1u << 31)
#define LEAF1_EDX_HTT (1u << 28)

static unsigned bits_for(uint32_t n)
{
	unsigned b = 0;
	while ((1u << b) < n && b < 31)
		b++;
	return b;
}

static void sig(uint32_t r[4], const char s[12])
{
	memcpy(&r[1], s, 4);
	memcpy(&r[2], s + 4, 4);
	memcpy(&r[3], s + 8, 4);
}

void cpuid_apply(uint32_t vp, uint32_t vp_count, uint32_t leaf, uint32_t subleaf, uint32_t r[4])
{
	switch (leaf) {
	case 0x1:
		r[2] = (r[2] | LEAF1_ECX_HYPERVISOR) & ~(LEAF1_ECX_VMX | LEAF1_ECX_SMX |
							 LEAF1_ECX_MONITOR);
		/* EBX 31:24 initial APIC id, 23:16 addressable logical processors. */
		r[1] = (r[1] & 0x0000FFFFu) | ((vp & 0xFF) << 24) |
		       ((vp_count > 255 ? 255 : vp_count) << 16);
		if (vp_count > 1)
			r[3] |= LEAF1_EDX_HTT;
		return;
	case 0xB: {
		/* Level 0 = SMT (1 thread per core), level 1 = core (all VPs), then invalid. */
		unsigned shift = bits_for(vp_count);
		if (subleaf == 0) {
			r[0] = 0;
			r[1] = 1;
			r[2] = (1u << 8) | subleaf;
		} else if (subleaf == 1) {
			r[0] = shift;
			r[1] = vp_count & 0xFFFF;
			r[2] = (2u << 8) | subleaf;
		} else {
			r[0] = r[1] = 0;
			r[2] = subleaf & 0xFF;
		}
		r[3] = vp;
		return;
	}
	case 0x40000000:
		r[0] = CPUID_HV_MAX_LEAF;
		sig(r, "Microsoft Hv");
		return;
	case 0x40000001:
		r[0] = 0x31237648; /* "Hv#1" */
		r[1] = r[2] = r[3] = 0;
		return;
	case 0x40000002:
		/* Build, major.minor, service pack, branch: a Windows Server 2022-era hypervisor. */
		r[0] = 20348;
		r[1] = (10u << 16) | 0;
		r[2] = 0;
		r[3] = 0;
		return;
	case 0x40000003:
		r[0] = CPUID_HV_PRIV_SYNIC | CPUID_HV_PRIV_HYPERCALL | CPUID_HV_PRIV_VP_INDEX |
		       CPUID_HV_PRIV_TIME_REF_COUNT | CPUID_HV_PRIV_SYNTIMER |
		       CPUID_HV_PRIV_REFERENCE_TSC | CPUID_HV_PRIV_FREQUENCY_MSRS;
		r[1] = CPUID_HV_PRIV_POST_MSG | CPUID_HV_PRIV_SIGNAL_EVT;
		r[2] = 0;
		r[3] = CPUID_HV_FEAT_FREQUENCY_MSRS | CPUID_HV_FEAT_STIMER_DIRECT;
		return;
	case 0x40000004:
		/* Only the hypercalls the hypervisor answers itself (flushes, cluster IPIs). */
		r[0] = CPUID_HV_HINT_REMOTE_TLB_FLUSH | CPUID_HV_HINT_CLUSTER_IPI |
		       CPUID_HV_HINT_EX_PROC_MASKS;
		r[1] = r[2] = r[3] = 0;
		return;
	case 0x40000005:
		r[0] = vp_count;
		r[1] = vp_count;
		r[2] = r[3] = 0;
		return;
	default:
		/* 0x40000006-0A: nothing offered. */
		if (leaf >= 0x40000004 && leaf <= CPUID_HV_MAX_LEAF)
			r[0] = r[1] = r[2] = r[3] = 0;
		return;
	}
}
