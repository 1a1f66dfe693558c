/*
 * chipset: the PC devices of the paravisor end to end, driven the way firmware and Linux
 * drive them: RTC time and periodic interrupt, PCI enumeration (mechanism #1 and ECAM), the
 * IOAPIC's registers, PIT interrupts through the IOAPIC and through the 8259 PIC.
 */
#include "tests/guests/rt.h"

static volatile unsigned pit_ticks, pic_ticks, rtc_ticks;

static void on_pit(struct rt_frame *f) { (void)f; pit_ticks++; rt_eoi(); }
static void on_pic_irq0(struct rt_frame *f)
{
	(void)f;
	pic_ticks++;
	outb(0x20, 0x20); /* non-specific EOI */
	rt_eoi();
}
static void on_rtc(struct rt_frame *f)
{
	(void)f;
	rtc_ticks++;
	(void)cmos_read(0x0C); /* reading C acknowledges and lowers IRQ 8 */
	rt_eoi();
}

static unsigned bcd(uint8_t v) { return (v >> 4) * 10u + (v & 0xF); }

/* HLT with IF=1 until `*counter` reaches `want` (bounded: each wake is one interrupt). */
static void wait_ticks(volatile unsigned *counter, unsigned want)
{
	for (unsigned spins = 0; *counter < want && spins < 100000; spins++)
		sti_hlt();
	cli();
}

static void pit_start_100hz(void)
{
	outb(0x43, 0x34);             /* counter 0, lobyte/hibyte, mode 2 */
	outb(0x40, 11932 & 0xFF);     /* 1193182 / 11932 = 100 Hz */
	outb(0x40, 11932 >> 8);
}

static void pit_stop(void)
{
	outb(0x43, 0x30);             /* mode 0, no count loaded: OUT stays low */
}

void guest_main(unsigned vp, unsigned vp_count)
{
	(void)vp_count;
	if (vp != 0)
		return;
	pic_mask_all();

	/* RTC: the date must be a sane BCD date, and the century register agrees. */
	while (cmos_read(0x0A) & 0x80)
		cpu_pause();           /* update in progress */
	unsigned sec = bcd(cmos_read(0)), min = bcd(cmos_read(2)), hour = bcd(cmos_read(4));
	unsigned day = bcd(cmos_read(7)), mon = bcd(cmos_read(8)), year = bcd(cmos_read(9));
	unsigned century = bcd(cmos_read(0x32));
	rt_printf("rtc: %u%02u-%02u-%02u %02u:%02u:%02u UTC\n", century, year, mon, day, hour, min,
		  sec);
	GUEST_ASSERT(century >= 20 && mon >= 1 && mon <= 12 && day >= 1 && day <= 31);
	GUEST_ASSERT(hour < 24 && min < 60 && sec < 60);
	GUEST_ASSERT_EQ(cmos_read(0x0D), 0x80); /* valid RAM and time */
	/* NVRAM keeps what we write. */
	outb(0x70, 0x40);
	outb(0x71, 0xA5);
	GUEST_ASSERT_EQ(cmos_read(0x40), 0xA5);

	/* PCI: the host bridge at 00:00.0, nothing else on bus 0. */
	unsigned found = 0;
	for (unsigned dev = 0; dev < 32; dev++) {
		uint32_t id = pci_cfg_read(0, dev, 0, 0);
		if ((id & 0xFFFF) == 0xFFFF)
			continue;
		uint32_t cls = pci_cfg_read(0, dev, 0, 8);
		rt_printf("pci: 00:%02x.0 %04x:%04x class %06x\n", dev, id & 0xFFFF, id >> 16,
			  cls >> 8);
		found++;
	}
	GUEST_ASSERT_EQ(found, 1);
	GUEST_ASSERT_EQ(pci_cfg_read(0, 0, 0, 8) >> 8, 0x060000);
	/* ECAM (bus 0 at 0xE0000000) shows the same bytes. */
	GUEST_ASSERT_EQ(*(volatile uint32_t *)0xE0000000ul, pci_cfg_read(0, 0, 0, 0));
	GUEST_ASSERT_EQ(*(volatile uint32_t *)(0xE0000000ul + (5u << 15)), 0xFFFFFFFFu);

	/* IOAPIC: version register, a redirection entry round trip. */
	uint32_t ver = ioapic_read(1);
	rt_printf("ioapic: version 0x%x, %u pins\n", ver & 0xFF, ((ver >> 16) & 0xFF) + 1);
	GUEST_ASSERT_EQ(ver, 0x00170020);
	ioapic_write(0x10 + 2 * 23, 0x1A5E5);
	GUEST_ASSERT_EQ(ioapic_read(0x10 + 2 * 23) & 0x1AFFF, 0x1A5E5 & 0x1AFFF);
	ioapic_mask(23);

	/* PIT -> ISA IRQ 0 -> IOAPIC pin 2 -> vector 0x30 on VP 0. */
	rt_set_handler(0x30, on_pit);
	ioapic_route(2, 0x30, 0, 0);
	pit_start_100hz();
	wait_ticks(&pit_ticks, 5);
	ioapic_mask(2);
	pit_stop();
	rt_printf("pit: %u interrupts through the IOAPIC\n", pit_ticks);
	GUEST_ASSERT(pit_ticks >= 5);

	/* PIT -> 8259 master IRQ 0 -> vector 0x20, the way a BIOS programs the PIC. */
	outb(0x20, 0x11); outb(0x21, 0x20); outb(0x21, 0x04); outb(0x21, 0x01);
	outb(0xA0, 0x11); outb(0xA1, 0x28); outb(0xA1, 0x02); outb(0xA1, 0x01);
	outb(0x21, 0xFE);
	outb(0xA1, 0xFF);
	GUEST_ASSERT_EQ(inb(0x21), 0xFE); /* Linux's PIC probe reads the mask back */
	rt_set_handler(0x20, on_pic_irq0);
	pit_start_100hz();
	wait_ticks(&pic_ticks, 3);
	pic_mask_all();
	pit_stop();
	rt_printf("pic: %u interrupts through the 8259\n", pic_ticks);
	GUEST_ASSERT(pic_ticks >= 3);

	/* RTC periodic interrupt at 1024 Hz -> ISA IRQ 8 -> IOAPIC pin 8 -> vector 0x38. */
	rt_set_handler(0x38, on_rtc);
	ioapic_route(8, 0x38, 0, 0);
	(void)cmos_read(0x0C);
	outb(0x70, 0x0A);
	outb(0x71, 0x26);                          /* divider on, rate 6 = 1024 Hz */
	outb(0x70, 0x0B);
	uint8_t b = inb(0x71);
	outb(0x70, 0x0B);
	outb(0x71, b | 0x40);                      /* PIE */
	wait_ticks(&rtc_ticks, 10);
	outb(0x70, 0x0B);
	outb(0x71, b);
	ioapic_mask(8);
	rt_printf("rtc: %u periodic interrupts\n", rtc_ticks);
	GUEST_ASSERT(rtc_ticks >= 10);
}
