/* hypercall: VMCALL from VTL0 reaches the VTL2 hypercall intercept; unknown codes -> status 2. */
#include "tests/guests/rt.h"

void guest_main(unsigned vp, unsigned vp_count)
{
	(void)vp_count;
	if (vp != 0)
		return;
	static const uint16_t codes[] = { 0x7FFF, 0x0FFF, 0xFFFE };
	for (unsigned i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		uint64_t st = vmcall(codes[i], 0, 0);
		rt_printf("hypercall: code 0x%x -> status 0x%lx\n", codes[i], (unsigned long)(st & 0xFFFF));
		GUEST_ASSERT_EQ(st & 0xFFFF, GUEST_HV_STATUS_INVALID_HYPERCALL_CODE);
	}
	/* RIP advances by exactly 3 and the other registers survive. */
	uint64_t rax, rbx = 0xB0B0, rcx = 0x7FFF, rdx = 0xD0D0, rsi = 0x5151, rdi = 0xD1D1;
	register uint64_t r8 __asm__("r8") = 0x8888;
	__asm__ volatile("vmcall"
			 : "=a"(rax), "+b"(rbx), "+c"(rcx), "+d"(rdx), "+S"(rsi), "+D"(rdi), "+r"(r8)
			 : : "memory");
	GUEST_ASSERT_EQ(rax & 0xFFFF, GUEST_HV_STATUS_INVALID_HYPERCALL_CODE);
	GUEST_ASSERT_EQ(rbx, 0xB0B0);
	GUEST_ASSERT_EQ(rcx, 0x7FFF);
	GUEST_ASSERT_EQ(rdx, 0xD0D0);
	GUEST_ASSERT_EQ(rsi, 0x5151);
	GUEST_ASSERT_EQ(rdi, 0xD1D1);
	GUEST_ASSERT_EQ(r8, 0x8888);
}
