/*
 * uart: COM1 as Linux's 8250 driver sees it: the 16550A probe, loopback, and interrupt-driven
 * transmit (THRE interrupt through ISA IRQ 4 -> IOAPIC pin 4).
 */
#include "tests/guests/rt.h"

#define COM1 0x3F8
static const char msg[] = "uart: this line was sent from the THRE interrupt handler\r\n";
static volatile unsigned sent, irqs;

static void on_com1(struct rt_frame *f)
{
	(void)f;
	irqs++;
	/* Drain every pending source, as a driver does; IIR bit 0 set = nothing pending. */
	for (unsigned n = 0; n < 64; n++) {
		uint8_t iir = inb(COM1 + 2);
		if (iir & 1)
			break;
		if ((iir & 0x0E) == 0x02) {
			if (sent < sizeof(msg) - 1)
				outb(COM1, (uint8_t)msg[sent++]);
			else
				outb(COM1 + 1, 0x00);  /* all sent: no more THRE interrupts */
		}
	}
	rt_eoi();
}

void guest_main(unsigned vp, unsigned vp_count)
{
	(void)vp_count;
	if (vp != 0)
		return;
	pic_mask_all();
	/* The probe of drivers/tty/serial/8250 (linux-guest-facts.md section 6). */
	outb(COM1 + 1, 0x00);
	GUEST_ASSERT_EQ(inb(COM1 + 1) & 0x0F, 0);
	outb(COM1 + 1, 0x0F);
	GUEST_ASSERT_EQ(inb(COM1 + 1) & 0x0F, 0x0F);
	outb(COM1 + 1, 0x00);
	outb(COM1 + 2, 0x01);                      /* FCR: FIFO on */
	GUEST_ASSERT_EQ(inb(COM1 + 2) >> 6, 3);    /* 16550A */
	outb(COM1 + 7, 0x5A);
	GUEST_ASSERT_EQ(inb(COM1 + 7), 0x5A);      /* scratch */
	/* Divisor latch round trip (115200 / 9600 = 12). */
	outb(COM1 + 3, 0x80);
	outb(COM1 + 0, 12);
	outb(COM1 + 1, 0);
	GUEST_ASSERT_EQ(inb(COM1 + 0), 12);
	outb(COM1 + 3, 0x03);                      /* 8N1, DLAB off */
	rt_puts("uart: 16550A detected\n");

	/* Loopback: a byte sent comes back in RBR, MSR mirrors MCR. */
	outb(COM1 + 4, 0x10 | 0x02 | 0x01);        /* LOOP | RTS | DTR */
	outb(COM1, 'Z');
	GUEST_ASSERT(inb(COM1 + 5) & 0x01);        /* data ready */
	GUEST_ASSERT_EQ(inb(COM1), 'Z');
	GUEST_ASSERT_EQ(inb(COM1 + 6) & 0x30, 0x30); /* CTS, DSR */
	outb(COM1 + 4, 0x00);
	rt_puts("uart: loopback ok\n");

	/* Interrupt-driven transmit. */
	rt_set_handler(0x34, on_com1);
	ioapic_route(4, 0x34, 0, 0);
	outb(COM1 + 4, 0x08);                      /* OUT2 gates the IRQ on a PC */
	cli();
	outb(COM1 + 1, 0x02);                      /* THRE interrupt: fires at once, THR empty */
	for (unsigned spins = 0; sent < sizeof(msg) - 1 && spins < 100000; spins++)
		sti_hlt();
	cli();
	ioapic_mask(4);
	outb(COM1 + 1, 0x00);
	outb(COM1 + 4, 0x00);
	GUEST_ASSERT_EQ(sent, sizeof(msg) - 1);
	rt_printf("uart: %u THRE interrupts for %u bytes\n", irqs, sent);
}
