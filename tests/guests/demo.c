/* demo: the `make run` guest. Greets, causes one intercept of each kind, uses the chipset
   (RTC, PCI, PIT interrupts through the IOAPIC) and passes. */
#include "tests/guests/rt.h"

static volatile uint32_t ap_alive;
static volatile unsigned irq_hits, pit_ticks;
static uint8_t prot_page[4096] __attribute__((aligned(4096)));

static void irq_handler(struct rt_frame *f) { (void)f; irq_hits++; rt_eoi(); }
static void pit_handler(struct rt_frame *f) { (void)f; pit_ticks++; rt_eoi(); }
static unsigned bcd(uint8_t v) { return (v >> 4) * 10u + (v & 0xF); }

void guest_main(unsigned vp, unsigned vp_count)
{
	if (vp != 0) {
		ap_alive = vp;
		return;
	}
	rt_printf("Hello from a Mezzanine test guest: VP %u of %u, running in VTL0 under hvsim\n",
		  vp, vp_count);

	outl(GUEST_PORT_ECHO, 41);
	GUEST_ASSERT_EQ(inl(GUEST_PORT_ECHO), 42);
	rt_puts("  io:        echo port answered 42\n");

	uint32_t dev = *(volatile uint32_t *)(uintptr_t)GUEST_MMIO_BASE;
	GUEST_ASSERT_EQ(dev, (uint32_t)GUEST_MMIO_BASE ^ GUEST_MMIO_PATTERN);
	rt_printf("  mmio:      test device read 0x%x\n", dev);

	struct cpuid_regs r = cpuid(GUEST_CPUID_VENDOR_LEAF, 0);
	char vendor[13];
	memcpy(vendor, &r.ebx, 4);
	memcpy(vendor + 4, &r.ecx, 4);
	memcpy(vendor + 8, &r.edx, 4);
	vendor[12] = 0;
	GUEST_ASSERT(memcmp(vendor, "Microsoft Hv", 12) == 0);
	rt_printf("  cpuid:     hypervisor vendor \"%s\"\n", vendor);

	wrmsr(GUEST_MSR_TEST_FIRST, 0xD3A0);
	GUEST_ASSERT_EQ(rdmsr(GUEST_MSR_TEST_FIRST), 0xD3A0);
	rt_puts("  msr:       test MSR round trip\n");

	uint64_t st = vmcall(0x7FFF, 0, 0);
	GUEST_ASSERT_EQ(st & 0xFFFF, GUEST_HV_STATUS_INVALID_HYPERCALL_CODE);
	rt_puts("  hypercall: unknown code -> HV_STATUS_INVALID_HYPERCALL_CODE\n");

	rt_set_handler(0x40, irq_handler);
	cli();
	outb(GUEST_PORT_IRQ, 0x40);
	sti_hlt();
	cli();
	GUEST_ASSERT_EQ(irq_hits, 1);
	rt_puts("  halt+irq:  woke from hlt by vector 0x40\n");

	volatile uint32_t *p = (volatile uint32_t *)prot_page;
	*p = 1;
	outl(GUEST_PORT_PROTECT, (uint32_t)((uintptr_t)prot_page >> 12));
	*p = 2;
	GUEST_ASSERT_EQ(*p, 1);
	GUEST_ASSERT_EQ(inl(GUEST_PORT_PROT_COUNT), 1);
	outl(GUEST_PORT_UNPROTECT, (uint32_t)((uintptr_t)prot_page >> 12));
	rt_puts("  vtlprot:   write to a VTL2-protected page was intercepted\n");

	/* The chipset: RTC, PCI, and PIT interrupts through the IOAPIC. */
	pic_mask_all();
	while (cmos_read(0x0A) & 0x80)
		cpu_pause();
	rt_printf("  rtc:       %u%02u-%02u-%02u %02u:%02u:%02u UTC\n", bcd(cmos_read(0x32)),
		  bcd(cmos_read(9)), bcd(cmos_read(8)), bcd(cmos_read(7)), bcd(cmos_read(4)),
		  bcd(cmos_read(2)), bcd(cmos_read(0)));
	for (unsigned slot = 0; slot < 32; slot++) {
		uint32_t id = pci_cfg_read(0, slot, 0, 0);
		if ((id & 0xFFFF) != 0xFFFF)
			rt_printf("  pci:       00:%02x.0 %04x:%04x class %06x\n", slot, id & 0xFFFF,
				  id >> 16, pci_cfg_read(0, slot, 0, 8) >> 8);
	}
	rt_set_handler(0x30, pit_handler);
	ioapic_route(2, 0x30, 0, 0);
	outb(0x43, 0x34);
	outb(0x40, 11932 & 0xFF);
	outb(0x40, 11932 >> 8);
	for (unsigned spins = 0; pit_ticks < 10 && spins < 100000; spins++)
		sti_hlt();
	cli();
	ioapic_mask(2);
	outb(0x43, 0x30);
	GUEST_ASSERT(pit_ticks >= 10);
	rt_printf("  pit:       %u timer interrupts at 100 Hz via IOAPIC pin 2\n", pit_ticks);

	if (vp_count > 1) {
		for (uint64_t spins = 0; !ap_alive && spins < 1000000000ull; spins++)
			cpu_pause();
		GUEST_ASSERT(ap_alive != 0);
		rt_printf("  smp:       VP %u is alive\n", ap_alive);
	}
	rt_puts("demo done\n");
}
