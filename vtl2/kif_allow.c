/*
 * The default hypercall allow list of the seam (vtl2/kif.h). Compiled into both seam
 * implementations (kif_mshv and hvsim's kif_sim) so that hardware and simulator allow the same
 * calls.
 */
#include <stddef.h>
#include <stdint.h>

#include "vtl2/kif.h"

/* Hypercall codes (hyperv-abi-facts 2.2) of the default allow list (1.7). */
const uint16_t kif_default_hvcall_allow[] = {
	0x000C, /* ModifyVtlProtectionMask */
	0x004D, /* InstallIntercept */
	0x0050, /* GetVpRegisters */
	0x0051, /* SetVpRegisters */
	0x0052, /* TranslateVirtualAddress */
	0x0094, /* AssertVirtualInterrupt */
	0x009A, /* GetVpIndexFromApicId */
	0x00AC, /* TranslateVirtualAddressEx */
	0x00C0, /* SignalEventDirect */
	0x00C1, /* PostMessageDirect */
	0x00D4, /* CheckSparseGpaPageVtlAccess */
	0x00D9, /* AcceptGpaPages */
	0x00DB, /* ModifySparseGpaPageHostVisibility */
};
const size_t kif_default_hvcall_allow_count =
	sizeof(kif_default_hvcall_allow) / sizeof(kif_default_hvcall_allow[0]);
