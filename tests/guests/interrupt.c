/* interrupt: vectors asserted by the VTL2 are delivered through the guest IDT with a correct frame. */
#include "tests/guests/rt.h"

static volatile unsigned count50, count51, count52, count60;
static volatile unsigned order[4], order_n;
static volatile uint64_t f52_rip, f_rip, f_cs, f_rflags, f_rsp, f_ss, in_handler_rflags;

static void h50(struct rt_frame *f)
{
	count50++;
	f_rip = f->rip;
	f_cs = f->cs;
	f_rflags = f->rflags;
	f_rsp = f->rsp;
	f_ss = f->ss;
	in_handler_rflags = read_rflags();
	rt_eoi();
}

static void record(unsigned v)
{
	if (order_n < 4)
		order[order_n++] = v;
}
static void h51(struct rt_frame *f) { (void)f; count51++; record(0x51); rt_eoi(); }
static void h52(struct rt_frame *f) { f52_rip = f->rip; count52++; rt_eoi(); }
static void h60(struct rt_frame *f) { (void)f; count60++; record(0x60); rt_eoi(); }

void guest_main(unsigned vp, unsigned vp_count)
{
	(void)vp_count;
	if (vp != 0)
		return;
	rt_set_handler(0x50, h50);
	rt_set_handler(0x51, h51);
	rt_set_handler(0x52, h52);
	rt_set_handler(0x60, h60);

	rt_puts("interrupt: with IF=1 delivered right after the OUT that asserts it\n");
	uint64_t rsp_before, after_out;
	__asm__ volatile("sti\n mov %%rsp, %0\n lea 1f(%%rip), %1\n"
			 "outb %%al, $0xF8\n1: cli"
			 : "=&r"(rsp_before), "=&r"(after_out) : "a"(0x50) : "memory");
	GUEST_ASSERT_EQ(count50, 1);
	GUEST_ASSERT_EQ(f_rip, after_out);
	GUEST_ASSERT_EQ(f_cs, 0x08);
	GUEST_ASSERT((f_rflags & 0x200) != 0); /* IF was set when interrupted */
	GUEST_ASSERT((f_rflags & 0x2) != 0);
	GUEST_ASSERT_EQ(f_rsp, rsp_before);
	GUEST_ASSERT_EQ(f_ss & 0xFFFF, 0x10);
	GUEST_ASSERT((in_handler_rflags & 0x200) == 0); /* interrupt gate cleared IF */

	rt_puts("interrupt: masked while IF=0, delivered after sti\n");
	cli();
	outb(GUEST_PORT_IRQ, 0x52);
	for (volatile int i = 0; i < 1000; i++)
		;
	GUEST_ASSERT_EQ(count52, 0);
	uint64_t lo, hi;
	__asm__ volatile("lea 1f(%%rip), %0\n lea 2f(%%rip), %1\n"
			 "sti\n1: nop\n nop\n nop\n nop\n2: cli"
			 : "=&r"(lo), "=&r"(hi) : : "memory");
	GUEST_ASSERT_EQ(count52, 1);
	GUEST_ASSERT(f52_rip >= lo && f52_rip <= hi); /* within the STI shadow + a few NOPs */

	rt_puts("interrupt: two pending vectors both delivered\n");
	outb(GUEST_PORT_IRQ, 0x51);
	outb(GUEST_PORT_IRQ, 0x60);
	GUEST_ASSERT_EQ(count51 + count60, 0);
	sti();
	for (volatile int i = 0; i < 1000 && count51 + count60 < 2; i++)
		;
	cli();
	GUEST_ASSERT_EQ(count51, 1);
	GUEST_ASSERT_EQ(count60, 1);
	rt_printf("interrupt: delivery order 0x%x then 0x%x\n", order[0], order[1]);
}
