/* fail: must FAIL (exit status 1, "ASSERT FAILED" on serial): proves a failing guest is seen. */
#include "tests/guests/rt.h"

static volatile int two = 2;

void guest_main(unsigned vp, unsigned vp_count)
{
	(void)vp_count;
	if (vp != 0)
		return;
	rt_puts("fail: about to fail on purpose\n");
	GUEST_ASSERT_EQ(two + two, 5);
}
