/* stop_kbd: the guest ends the VM through the chipset: outb(0x64, 0xFE); */
#include "tests/guests/rt.h"

void guest_main(unsigned vp, unsigned vp_count)
{
	(void)vp_count;
	if (vp != 0) {
		for (;;)
			sti_hlt();
	}
	rt_puts("stop_kbd: asking the chipset to stop the VM\n");
	outb(0x64, 0xFE);
	for (;;)
		cpu_pause();
}
