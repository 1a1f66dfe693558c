/*
 * Architectural x86 MSR numbers hvsim handles or maps to Hyper-V register names (SDM vol. 4).
 * The Hyper-V synthetic MSRs (HV_X64_MSR_*) are in hvcall/hv.h.
 */
#ifndef MEZZ_TOOLS_HVSIM_MSR_H
#define MEZZ_TOOLS_HVSIM_MSR_H

#define X86_MSR_TSC                0x10u
#define X86_MSR_APIC_BASE          0x1Bu
#define X86_MSR_MTRR_CAP           0xFEu
#define X86_MSR_SYSENTER_CS        0x174u
#define X86_MSR_SYSENTER_ESP       0x175u
#define X86_MSR_SYSENTER_EIP       0x176u
/* Variable-range MTRRs: base n at 0x200 + 2n, mask n at 0x201 + 2n. */
#define X86_MSR_MTRR_PHYS_BASE0    0x200u
#define X86_MSR_MTRR_PHYS_MASK0    0x201u
#define X86_MSR_MTRR_FIX64K_00000  0x250u
#define X86_MSR_MTRR_FIX16K_80000  0x258u
#define X86_MSR_MTRR_FIX16K_A0000  0x259u
#define X86_MSR_MTRR_FIX4K_C0000   0x268u
#define X86_MSR_MTRR_FIX4K_C8000   0x269u
#define X86_MSR_MTRR_FIX4K_D0000   0x26Au
#define X86_MSR_MTRR_FIX4K_D8000   0x26Bu
#define X86_MSR_MTRR_FIX4K_E0000   0x26Cu
#define X86_MSR_MTRR_FIX4K_E8000   0x26Du
#define X86_MSR_MTRR_FIX4K_F0000   0x26Eu
#define X86_MSR_MTRR_FIX4K_F8000   0x26Fu
#define X86_MSR_PAT                0x277u
#define X86_MSR_MTRR_DEF_TYPE      0x2FFu
#define X86_MSR_EFER               0xC0000080u
#define X86_MSR_STAR               0xC0000081u
#define X86_MSR_LSTAR              0xC0000082u
#define X86_MSR_CSTAR              0xC0000083u
#define X86_MSR_SFMASK             0xC0000084u
#define X86_MSR_FS_BASE            0xC0000100u
#define X86_MSR_GS_BASE            0xC0000101u
#define X86_MSR_KERNEL_GS_BASE     0xC0000102u
#define X86_MSR_TSC_AUX            0xC0000103u

#endif
