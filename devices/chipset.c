/* chipset: the PC platform on the bus (see chipset.h). */
#include "devices/chipset.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/acpi_pm.h"
#include "devices/i8042.h"
#include "devices/ioapic.h"
#include "devices/pci.h"
#include "devices/pic.h"
#include "devices/pit.h"
#include "devices/rtc.h"
#include "devices/testdev.h"
#include "vtl2/errbuf.h"

struct chipset {
	struct pic *pic;
	struct ioapic *ioapic;
	struct pit *pit;
	struct rtc *rtc;
	struct uart16550 *com[2];
	struct pci *pci;
	struct i8042 *kbc;
	struct acpi_pm *pm;
	struct testdev *test;
	/* Controller inputs behind each ISA line, built once (the PIT may pulse at 10 kHz). */
	struct irq_line pic_in[16], ioapic_in[16];
};

/* One ISA interrupt line fans out to the PIC input and the IOAPIC pin. */
static void isa_set_level(void *ctl, unsigned irq, bool level)
{
	struct chipset *c = ctl;
	if (irq >= 16)
		return;
	irq_line_set(&c->pic_in[irq], level);
	irq_line_set(&c->ioapic_in[irq], level);
}

static struct irq_line isa_irq(struct chipset *c, unsigned irq)
{
	return (struct irq_line){ .set_level = isa_set_level, .ctl = c, .pin = irq };
}


struct reg {
	enum iobus_space space;
	uint64_t base, len;
	const struct iobus_ops *ops;
	void *dev;
	const char *name;
};

int chipset_create(struct iobus *bus, const struct devctx *dc, const struct chipset_config *cfg,
		   struct chipset **out, char *err, size_t errlen)
{
	struct chipset *c = calloc(1, sizeof(*c));
	if (!c)
		return errbuf_set(err, errlen, -ENOMEM, "out of memory");
	int rc;
	const char *what = "pic";
	if ((rc = pic_create(dc, &c->pic)) < 0)
		goto bad;
	what = "ioapic";
	if ((rc = ioapic_create(dc, CHIPSET_IOAPIC_ID, &c->ioapic)) < 0)
		goto bad;
	for (unsigned irq = 0; irq < 16; irq++) {
		c->pic_in[irq] = pic_line(c->pic, irq);
		c->ioapic_in[irq] = ioapic_line(c->ioapic, irq == 0 ? 2 : irq);
	}
	what = "pit";
	if ((rc = pit_create(dc, isa_irq(c, 0), &c->pit)) < 0)
		goto bad;
	what = "rtc";
	if ((rc = rtc_create(dc, isa_irq(c, 8), &c->rtc)) < 0)
		goto bad;
	what = "com1";
	if ((rc = uart16550_create(dc, isa_irq(c, 4), &cfg->com1, &c->com[0])) < 0)
		goto bad;
	what = "com2";
	if ((rc = uart16550_create(dc, isa_irq(c, 3), &cfg->com2, &c->com[1])) < 0)
		goto bad;
	what = "pci";
	if ((rc = pci_create(dc, CHIPSET_ECAM_BASE, 1, &c->pci)) < 0)
		goto bad;
	what = "i8042";
	if ((rc = i8042_create(dc, &c->kbc)) < 0)
		goto bad;
	what = "acpi-pm";
	if ((rc = acpi_pm_create(dc, isa_irq(c, CHIPSET_SCI_IRQ), &c->pm)) < 0)
		goto bad;
	if (cfg->test_devices) {
		what = "testdev";
		if ((rc = testdev_create(dc, &c->test)) < 0)
			goto bad;
	}

	const struct reg regs[] = {
		{ IOBUS_PIO, 0x20, 2, &pic_master_ops, c->pic, "pic-master" },
		{ IOBUS_PIO, 0xA0, 2, &pic_slave_ops, c->pic, "pic-slave" },
		{ IOBUS_PIO, 0x4D0, 2, &pic_elcr_ops, c->pic, "elcr" },
		{ IOBUS_MMIO, IOAPIC_DEFAULT_BASE, 0x1000, &ioapic_ops, c->ioapic, "ioapic" },
		{ IOBUS_PIO, 0x40, 4, &pit_ops, c->pit, "pit" },
		{ IOBUS_PIO, 0x61, 1, &pit_port61_ops, c->pit, "port61" },
		{ IOBUS_PIO, 0x70, 2, &rtc_ops, c->rtc, "rtc" },
		{ IOBUS_PIO, 0x3F8, 8, &uart16550_ops, c->com[0], "com1" },
		{ IOBUS_PIO, 0x2F8, 8, &uart16550_ops, c->com[1], "com2" },
		{ IOBUS_PIO, 0xCF8, 8, &pci_port_ops, c->pci, "pci" },
		{ IOBUS_MMIO, CHIPSET_ECAM_BASE, 1ull << 20, &pci_ecam_ops, c->pci, "pci-ecam" },
		{ IOBUS_PIO, 0x60, 1, &i8042_data_ops, c->kbc, "i8042-data" },
		{ IOBUS_PIO, 0x64, 1, &i8042_cmd_ops, c->kbc, "i8042-cmd" },
		{ IOBUS_PIO, ACPI_PM_BASE, 12, &acpi_pm_ops, c->pm, "acpi-pm" },
		{ IOBUS_PIO, TESTDEV_PORT_BASE, TESTDEV_PORT_COUNT, &testdev_port_ops, c->test,
		  "testdev" },
		{ IOBUS_MMIO, TESTDEV_MMIO_BASE, TESTDEV_MMIO_SIZE, &testdev_mmio_ops, c->test,
		  "testdev-mmio" },
		{ IOBUS_MSR, TESTDEV_MSR_BASE, TESTDEV_MSR_COUNT, &testdev_msr_ops, c->test,
		  "testdev-msr" },
	};
	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
		if (!regs[i].dev)
			continue; /* the test device when not configured */
		rc = iobus_register(bus, regs[i].space, regs[i].base, regs[i].len, regs[i].ops,
				    regs[i].dev, regs[i].name);
		if (rc < 0) {
			chipset_destroy(c);
			return errbuf_set(err, errlen, rc, "cannot register %s at 0x%llx on the %s bus: %s",
				    regs[i].name, (unsigned long long)regs[i].base,
				    iobus_space_name(regs[i].space), strerror(-rc));
		}
	}
	*out = c;
	return 0;
bad:
	chipset_destroy(c);
	return errbuf_set(err, errlen, rc, "cannot create %s: %s", what, strerror(-rc));
}

void chipset_destroy(struct chipset *c)
{
	if (!c)
		return;
	testdev_destroy(c->test);
	acpi_pm_destroy(c->pm);
	i8042_destroy(c->kbc);
	pci_destroy(c->pci);
	uart16550_destroy(c->com[1]);
	uart16550_destroy(c->com[0]);
	rtc_destroy(c->rtc);
	pit_destroy(c->pit);
	ioapic_destroy(c->ioapic);
	pic_destroy(c->pic);
	free(c);
}

struct irq_eoi chipset_eoi(struct chipset *c)
{
	return ioapic_eoi(c->ioapic);
}

struct uart16550 *chipset_com(struct chipset *c, unsigned index)
{
	return index < 2 ? c->com[index] : NULL;
}
