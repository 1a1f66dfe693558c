/* msr: test MSR range round trips; unknown MSRs raise #GP in the guest. */
#include "tests/guests/rt.h"

static volatile unsigned gp_count;
static volatile uint64_t gp_error, gp_rip;

static void gp_handler(struct rt_frame *f)
{
	gp_count++;
	gp_error = f->error_code;
	gp_rip = f->rip;
	f->rip += 2; /* skip the 2-byte RDMSR/WRMSR that faulted */
}

void guest_main(unsigned vp, unsigned vp_count)
{
	(void)vp_count;
	if (vp != 0)
		return;
	rt_puts("msr: round trips\n");
	wrmsr(GUEST_MSR_TEST_FIRST, 0x1122334455667788ull);
	wrmsr(GUEST_MSR_TEST_FIRST + 1, 0xFFFFFFFF00000001ull);
	wrmsr(GUEST_MSR_TEST_LAST, 42);
	GUEST_ASSERT_EQ(rdmsr(GUEST_MSR_TEST_FIRST), 0x1122334455667788ull);
	GUEST_ASSERT_EQ(rdmsr(GUEST_MSR_TEST_FIRST + 1), 0xFFFFFFFF00000001ull);
	GUEST_ASSERT_EQ(rdmsr(GUEST_MSR_TEST_LAST), 42);
	GUEST_ASSERT_EQ(rdmsr(GUEST_MSR_TEST_FIRST + 2), 0);
	/* RDMSR writes EDX:EAX and zero-extends both. */
	uint64_t rax = ~0ull, rdx = ~0ull;
	__asm__ volatile("rdmsr" : "+a"(rax), "+d"(rdx) : "c"(GUEST_MSR_TEST_FIRST));
	GUEST_ASSERT_EQ(rax, 0x55667788);
	GUEST_ASSERT_EQ(rdx, 0x11223344);

	rt_puts("msr: unknown MSR -> #GP\n");
	rt_set_handler(13, gp_handler);
	uint64_t before = gp_count;
	uint32_t lo = 0x1234, hi = 0x5678;
	uint64_t rd_rip;
	__asm__ volatile("lea 1f(%%rip), %2\n 1: rdmsr" : "+a"(lo), "+d"(hi), "=&r"(rd_rip) : "c"(0x4FFFFFF0u) : "memory");
	GUEST_ASSERT_EQ(gp_count, before + 1);
	GUEST_ASSERT_EQ(gp_error, 0);
	GUEST_ASSERT_EQ(gp_rip, rd_rip);
	/* a faulting RDMSR leaves EDX:EAX alone */
	GUEST_ASSERT_EQ(lo, 0x1234);
	GUEST_ASSERT_EQ(hi, 0x5678);
	uint64_t wr_rip;
	__asm__ volatile("lea 1f(%%rip), %0\n 1: wrmsr" : "=&r"(wr_rip) : "c"(0x4FFFFFF1u), "a"(1), "d"(0) : "memory");
	GUEST_ASSERT_EQ(gp_count, before + 2);
	GUEST_ASSERT_EQ(gp_rip, wr_rip);
	rt_set_handler(13, NULL);
	/* the test range still works afterwards */
	GUEST_ASSERT_EQ(rdmsr(GUEST_MSR_TEST_LAST), 42);
}
