/* halt: HLT with interrupts enabled is woken by an interrupt the VTL2 asserts, at once or later. */
#include "tests/guests/rt.h"

static volatile unsigned hits40, hits41;

static void h40(struct rt_frame *f) { (void)f; hits40++; rt_eoi(); }
static void h41(struct rt_frame *f) { (void)f; hits41++; rt_eoi(); }

void guest_main(unsigned vp, unsigned vp_count)
{
	(void)vp_count;
	if (vp != 0)
		return;
	rt_set_handler(0x40, h40);
	rt_set_handler(0x41, h41);

	rt_puts("halt: pending interrupt wakes sti;hlt at once\n");
	cli();
	outb(GUEST_PORT_IRQ, 0x40);
	GUEST_ASSERT_EQ(hits40, 0); /* IF=0: must stay pending */
	sti_hlt();
	cli();
	GUEST_ASSERT_EQ(hits40, 1);

	rt_puts("halt: timer interrupt wakes a halted VP\n");
	outb(GUEST_PORT_IRQ_DELAYED, 0x41);
	unsigned halts = 0;
	while (hits41 == 0 && halts < 100000) {
		sti_hlt();
		cli();
		halts++;
	}
	GUEST_ASSERT_EQ(hits41, 1);
	GUEST_ASSERT(halts >= 1);
	GUEST_ASSERT_EQ(hits40, 1);
	rt_printf("halt: woke after %u hlt(s)\n", halts);
}
