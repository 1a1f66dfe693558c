/* stop_poweroff: the guest ends the VM through the chipset: outw(0x404, (5u << 10) | (1u << 13)); */
#include "tests/guests/rt.h"

void guest_main(unsigned vp, unsigned vp_count)
{
	(void)vp_count;
	if (vp != 0) {
		for (;;)
			sti_hlt();
	}
	rt_puts("stop_poweroff: asking the chipset to stop the VM\n");
	outw(0x404, (5u << 10) | (1u << 13));
	for (;;)
		cpu_pause();
}
