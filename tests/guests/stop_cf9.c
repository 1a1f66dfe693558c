/* stop_cf9: the guest ends the VM through the chipset: outb(0xCF9, 0x02); outb(0xCF9, 0x06); */
#include "tests/guests/rt.h"

void guest_main(unsigned vp, unsigned vp_count)
{
	(void)vp_count;
	if (vp != 0) {
		for (;;)
			sti_hlt();
	}
	rt_puts("stop_cf9: asking the chipset to stop the VM\n");
	outb(0xCF9, 0x02); outb(0xCF9, 0x06);
	for (;;)
		cpu_pause();
}
