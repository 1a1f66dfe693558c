/*
 * msr: the MSR policy for MSR intercepts no device on the I/O bus claimed. Emulated (reads as
 * shown, writes as stated; everything else #GP, as on a CPU without the MSR):
 *
 *   0x17  IA32_PLATFORM_ID       read 0; write #GP
 *   0x35  MSR_CORE_THREAD_COUNT  read (VP count << 16) | VP count; write #GP
 *   0x3A  IA32_FEATURE_CONTROL   read 1 (locked, VMX off: VTL0 gets no VMX); write #GP
 *   0x79  IA32_BIOS_UPDT_TRIG    write ignored (no microcode loading in VTL0); read #GP
 *   0x8B  IA32_BIOS_SIGN_ID      read 0 (no microcode revision to report); write ignored
 *   0x140 MISC_FEATURES_ENABLES  read 0; write 0 accepted, other values #GP
 *   0x1A0 IA32_MISC_ENABLE       read 1 (fast strings); writes that keep the value accepted
 */
#ifndef MEZZ_VTL2_MSR_H
#define MEZZ_VTL2_MSR_H

#include <stdint.h>

/** 0 with *value, or -EPERM (#GP). */
int msr_read(uint32_t vp_count, uint32_t msr, uint64_t *value);
/** 0 (done or ignored), or -EPERM (#GP). */
int msr_write(uint32_t vp_count, uint32_t msr, uint64_t value);

#endif
