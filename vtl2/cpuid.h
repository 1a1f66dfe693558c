/*
 * cpuid: the CPUID policy, what VTL0 sees on top of the hypervisor's default answer.
 *
 *   leaf 1          hypervisor-present bit set; VMX, SMX, MONITOR/MWAIT hidden (VTL0 under a
 *                   paravisor has none of them); initial APIC id = VP index, logical count =
 *                   VP count
 *   leaf 0xB        x2APIC topology consistent with the VP count (one thread per core, every
 *                   VP a core of one package), x2APIC id = VP index
 *   0x40000000-0A   the Hyper-V leaves as a VTL0 guest under a paravisor sees them (TLFS;
 *                   linux-guest-facts.md section 2): "Microsoft Hv", "Hv#1", a version, and only
 *                   the privileges the partition actually provides (hypercalls, VP index,
 *                   SynIC, post/signal); recommendations 0; max VPs = VP count
 *
 * Leaves not listed are never intercepted: the hypervisor answers them. The intercepted leaf
 * list is cpuid_leaves[].
 */
#ifndef MEZZ_VTL2_CPUID_H
#define MEZZ_VTL2_CPUID_H

#include <stddef.h>
#include <stdint.h>

extern const uint32_t cpuid_leaves[];
extern const size_t cpuid_leaf_count;

/* Leaf 0x40000003 bits the policy grants (TLFS partition privilege mask, feature flags). */
#define CPUID_HV_PRIV_SYNIC      (1u << 2)
#define CPUID_HV_PRIV_HYPERCALL  (1u << 5)
#define CPUID_HV_PRIV_VP_INDEX   (1u << 6)
#define CPUID_HV_PRIV_POST_MSG   (1u << 4)  /* EBX */
#define CPUID_HV_PRIV_SIGNAL_EVT (1u << 5)  /* EBX */
/* Clocks and timers the hypervisor (hvsim: tools/hvsim/hvsim_synth.c) provides. */
#define CPUID_HV_PRIV_TIME_REF_COUNT (1u << 1)   /* EAX: MSR 0x40000020 */
#define CPUID_HV_PRIV_SYNTIMER       (1u << 3)   /* EAX: STIMER0-3 */
#define CPUID_HV_PRIV_REFERENCE_TSC  (1u << 9)   /* EAX: MSR 0x40000021 */
#define CPUID_HV_PRIV_FREQUENCY_MSRS (1u << 11)  /* EAX: MSRs 0x40000022/23 */
#define CPUID_HV_FEAT_FREQUENCY_MSRS (1u << 8)   /* EDX: frequency MSRs available */
#define CPUID_HV_FEAT_STIMER_DIRECT  (1u << 19)  /* EDX: direct-mode synthetic timers */
/* Leaf 0x40000004.EAX recommendations for hypercalls the hypervisor answers itself. */
#define CPUID_HV_HINT_REMOTE_TLB_FLUSH (1u << 2)   /* 0x02 / 0x03 */
#define CPUID_HV_HINT_CLUSTER_IPI      (1u << 10)  /* 0x0B */
#define CPUID_HV_HINT_EX_PROC_MASKS    (1u << 11)  /* 0x13 - 0x15 */
#define CPUID_HV_MAX_LEAF        0x4000000Au

/**
 * Adjust r[] = {eax, ebx, ecx, edx} (the hypervisor's default for leaf/subleaf on VP `vp`) in
 * place. `vp_count` is the partition's VP count.
 */
void cpuid_apply(uint32_t vp, uint32_t vp_count, uint32_t leaf, uint32_t subleaf, uint32_t r[4]);

#endif
