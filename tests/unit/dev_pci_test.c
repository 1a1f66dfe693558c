/*
 * PCI host bridge at register level: mechanism #1 and ECAM through the ops tables (and once
 * through a real iobus), a pci_cfg test function probed the way Linux probes BARs, a custom
 * function with 4 KiB of configuration space, the 0xCF9 reset control register, and hostile
 * accesses.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "devices/pci.h"
#include "tests/unit/dev_fake.h"
#include "vtl2/iobus.h"

#define ECAM_BASE 0xE0000000ull
#define BUS_COUNT 2

/* ---- a fake function ---------------------------------------------------------------- */

/* A function with a full 4 KiB space that checks the host bridge's promises. */
struct ext_fn {
	uint8_t space[PCI_CFG_SPACE_SIZE];
	unsigned reads, writes;
	unsigned last_off, last_size;
};

static uint32_t ext_read(void *ctx, unsigned offset, unsigned size)
{
	struct ext_fn *f = ctx;
	assert_true(size == 1 || size == 2 || size == 4);
	assert_int_equal(offset % size, 0);
	assert_true(offset + size <= PCI_CFG_SPACE_SIZE);
	f->reads++;
	uint32_t v = 0;
	for (unsigned i = 0; i < size; i++)
		v |= (uint32_t)f->space[offset + i] << (8 * i);
	return v;
}

static void ext_write(void *ctx, unsigned offset, unsigned size, uint32_t value)
{
	struct ext_fn *f = ctx;
	assert_true(size == 1 || size == 2 || size == 4);
	assert_int_equal(offset % size, 0);
	assert_true(offset + size <= PCI_CFG_SPACE_SIZE);
	if (size < 4)
		assert_int_equal(value >> (8 * size), 0);
	f->writes++;
	f->last_off = offset;
	f->last_size = size;
	for (unsigned i = 0; i < size; i++)
		f->space[offset + i] = (uint8_t)(value >> (8 * i));
}

static const struct pci_dev_ops ext_ops = { .cfg_read = ext_read, .cfg_write = ext_write };

struct fx {
	struct dev_fake fake;
	struct pci *p;
	struct pci_cfg tf;      /* 00:03.0, generic header with four BARs */
	struct ext_fn ext;      /* 01:02.0, 4 KiB space */
};

static const struct iobus_access vp3 = { .vp = 3 };

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	dev_fake_init(&f->fake);
	assert_int_equal(pci_create(&f->fake.dc, ECAM_BASE, BUS_COUNT, &f->p), 0);
	pci_cfg_init(&f->tf, 0x1AF4, 0x1000, 0x02000000, 0);
	assert_int_equal(pci_cfg_set_bar(&f->tf, 0, 0x1000, false, false), 0);
	assert_int_equal(pci_cfg_set_bar(&f->tf, 1, 0x100, true, false), 0);
	assert_int_equal(pci_cfg_set_bar(&f->tf, 2, 0x100000, false, true), 0);
	assert_int_equal(pci_cfg_set_bar(&f->tf, 4, 0x200000000ull, false, true), 0);
	f->tf.bytes[PCI_CFG_INTERRUPT_PIN] = 1;
	assert_int_equal(pci_register(f->p, 0, 3, 0, &pci_cfg_ops, &f->tf), 0);
	for (unsigned i = 0; i < PCI_CFG_SPACE_SIZE; i++)
		f->ext.space[i] = (uint8_t)(i * 7 + (i >> 8));
	assert_int_equal(pci_register(f->p, 1, 2, 0, &ext_ops, &f->ext), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	pci_destroy(f->p);
	dev_fake_fini(&f->fake);
	free(f);
	return 0;
}

/* ---- access helpers ----------------------------------------------------------------- */

static uint64_t pio_rd(struct fx *f, unsigned port, unsigned size)
{
	return dev_fake_rd(&pci_port_ops, f->p, vp3.vp, port - PCI_PORT_BASE, size, IOBUS_OK);
}

static void pio_wr(struct fx *f, unsigned port, unsigned size, uint64_t v)
{
	dev_fake_wr(&pci_port_ops, f->p, vp3.vp, port - PCI_PORT_BASE, size, v, IOBUS_OK);
}

static uint32_t cf8(unsigned bus, unsigned dev, unsigned fn, unsigned reg)
{
	return 0x80000000u | bus << 16 | dev << 11 | fn << 8 | (reg & 0xFC);
}

/* Mechanism #1 as Linux does it: dword address, then data at 0xCFC + (reg & 3). */
static uint32_t m1_rd(struct fx *f, unsigned bus, unsigned dev, unsigned fn, unsigned reg,
		      unsigned size)
{
	pio_wr(f, 0xCF8, 4, cf8(bus, dev, fn, reg));
	return (uint32_t)pio_rd(f, 0xCFC + (reg & 3), size);
}

static void m1_wr(struct fx *f, unsigned bus, unsigned dev, unsigned fn, unsigned reg,
		  unsigned size, uint32_t v)
{
	pio_wr(f, 0xCF8, 4, cf8(bus, dev, fn, reg));
	pio_wr(f, 0xCFC + (reg & 3), size, v);
}

static uint64_t ecam_off(unsigned bus, unsigned dev, unsigned fn, unsigned reg)
{
	return (uint64_t)bus << 20 | dev << 15 | fn << 12 | reg;
}

static uint32_t ec_rd(struct fx *f, unsigned bus, unsigned dev, unsigned fn, unsigned reg,
		      unsigned size)
{
	return (uint32_t)dev_fake_rd(&pci_ecam_ops, f->p, vp3.vp, ecam_off(bus, dev, fn, reg), size,
				     IOBUS_OK);
}

static void ec_wr(struct fx *f, unsigned bus, unsigned dev, unsigned fn, unsigned reg,
		  unsigned size, uint32_t v)
{
	dev_fake_wr(&pci_ecam_ops, f->p, vp3.vp, ecam_off(bus, dev, fn, reg), size, v, IOBUS_OK);
}

/* ---- tests -------------------------------------------------------------------------- */

static void test_create_errors(void **state)
{
	(void)state;
	struct pci *p = (struct pci *)0x1;
	assert_int_equal(pci_create(NULL, ECAM_BASE, 0, &p), -EINVAL);
	assert_int_equal(pci_create(NULL, ECAM_BASE, 257, &p), -EINVAL);
	assert_int_equal(pci_create(NULL, ECAM_BASE + 0x1000, 1, &p), -EINVAL);
	assert_int_equal(pci_create(NULL, 0xFFFFFFFFFFF00000ull, 2, &p), -EINVAL);
	assert_int_equal(pci_create(NULL, ECAM_BASE, 1, NULL), -EINVAL);
	assert_ptr_equal(p, (struct pci *)0x1);
	/* A NULL devctx is allowed: a reset request then goes nowhere. */
	assert_int_equal(pci_create(NULL, 0xFFFFFFFFF0000000ull, 256, &p), 0);
	assert_int_equal(pci_port_ops.write(p, NULL, 1, 1, 0x06), IOBUS_OK);
	pci_destroy(p);
	pci_destroy(NULL);
}

static void test_config_address(void **state)
{
	struct fx *f = *state;
	assert_int_equal(pio_rd(f, 0xCF8, 4), 0);
	pio_wr(f, 0xCF8, 4, 0xFFFFFFFF);
	assert_int_equal(pio_rd(f, 0xCF8, 4), 0x80FFFFFC);
	pio_wr(f, 0xCF8, 4, 0x12345678);
	assert_int_equal(pio_rd(f, 0xCF8, 4), 0x00345678 & 0x80FFFFFC);

	/* Linux pci_check_type1: byte to 0xCFB, then the dword round trip. */
	pio_wr(f, 0xCFB, 1, 0x01);
	assert_int_equal(pio_rd(f, 0xCF8, 4), 0x00345678);
	pio_wr(f, 0xCF8, 4, 0x80000000);
	assert_int_equal(pio_rd(f, 0xCF8, 4), 0x80000000);

	/* Linux pci_check_type2 must fail: bytes at 0xCF8/0xCFA do not read back 0. */
	pio_wr(f, 0xCFB, 1, 0x00);
	pio_wr(f, 0xCF8, 1, 0x00);
	pio_wr(f, 0xCFA, 1, 0x00);
	assert_int_equal(pio_rd(f, 0xCF8, 1), 0xFF);
	assert_int_equal(pio_rd(f, 0xCFA, 1), 0xFF);
	assert_int_equal(pio_rd(f, 0xCFB, 1), 0xFF);
	assert_int_equal(pio_rd(f, 0xCF8, 2), 0xFFFF);
	assert_int_equal(pio_rd(f, 0xCFA, 2), 0xFFFF);
	pio_wr(f, 0xCF8, 2, 0x0000);
	pio_wr(f, 0xCFA, 2, 0x0000);
	/* None of those touched CONFIG_ADDRESS. */
	assert_int_equal(pio_rd(f, 0xCF8, 4), 0x80000000);
	assert_int_equal(f->fake.stops.count, 0);
}

static void test_enumerate_bus0(void **state)
{
	struct fx *f = *state;
	/* Remove the test function's presence from the picture: use a fresh bridge. */
	struct pci *p = f->p;
	assert_int_equal(pci_create(&f->fake.dc, ECAM_BASE, 1, &f->p), 0);
	unsigned found = 0;
	for (unsigned dev = 0; dev < 32; dev++) {
		for (unsigned fn = 0; fn < 8; fn++) {
			uint32_t id = m1_rd(f, 0, dev, fn, 0, 4);
			if (dev == 0 && fn == 0) {
				assert_int_equal(id, 0x29C08086);
				found++;
			} else {
				assert_int_equal(id, 0xFFFFFFFF);
				assert_int_equal(m1_rd(f, 0, dev, fn, 0, 2), 0xFFFF);
			}
		}
	}
	assert_int_equal(found, 1);
	assert_int_equal(m1_rd(f, 0, 0, 0, PCI_CFG_CLASS_REV, 4), 0x06000000);
	assert_int_equal(m1_rd(f, 0, 0, 0, PCI_CFG_HEADER_TYPE, 1), 0x00);
	assert_int_equal(m1_rd(f, 0, 0, 0, PCI_CFG_COMMAND, 4), 0x00000000);
	assert_int_equal(m1_rd(f, 0, 0, 0, PCI_CFG_BAR0, 4), 0);
	assert_int_equal(m1_rd(f, 0, 0, 0, PCI_CFG_CAP_PTR, 1), 0);
	/* Bus 1 does not exist on a one-bus bridge. */
	assert_int_equal(m1_rd(f, 1, 0, 0, 0, 4), 0xFFFFFFFF);
	assert_int_equal(m1_rd(f, 255, 31, 7, 0xFC, 4), 0xFFFFFFFF);
	/* Enable bit clear: all-ones, and writes are dropped. */
	pio_wr(f, 0xCF8, 4, 0x00000004);
	assert_int_equal(pio_rd(f, 0xCFC, 4), 0xFFFFFFFF);
	assert_int_equal(pio_rd(f, 0xCFE, 2), 0xFFFF);
	pio_wr(f, 0xCFC, 2, 0x0007);
	assert_int_equal(m1_rd(f, 0, 0, 0, PCI_CFG_COMMAND, 2), 0);
	pci_destroy(f->p);
	f->p = p;
}

static void test_byte_word_lanes(void **state)
{
	struct fx *f = *state;
	pio_wr(f, 0xCF8, 4, cf8(0, 0, 0, 0));
	assert_int_equal(pio_rd(f, 0xCFC, 4), 0x29C08086);
	assert_int_equal(pio_rd(f, 0xCFC, 1), 0x86);
	assert_int_equal(pio_rd(f, 0xCFD, 1), 0x80);
	assert_int_equal(pio_rd(f, 0xCFE, 1), 0xC0);
	assert_int_equal(pio_rd(f, 0xCFF, 1), 0x29);
	assert_int_equal(pio_rd(f, 0xCFC, 2), 0x8086);
	assert_int_equal(pio_rd(f, 0xCFE, 2), 0x29C0);
	assert_int_equal(pio_rd(f, 0xCFD, 2), 0xC080);   /* byte lanes 1-2 */
	/* The class dword, lane by lane. */
	pio_wr(f, 0xCF8, 4, cf8(0, 0, 0, 8));
	assert_int_equal(pio_rd(f, 0xCFC, 1), 0x00);
	assert_int_equal(pio_rd(f, 0xCFE, 1), 0x00);
	assert_int_equal(pio_rd(f, 0xCFF, 1), 0x06);
	assert_int_equal(pio_rd(f, 0xCFE, 2), 0x0600);
	/* The test function's dword 0x3C: line 0, pin 1. Write the line through lane 0. */
	pio_wr(f, 0xCF8, 4, cf8(0, 3, 0, 0x3C));
	assert_int_equal(pio_rd(f, 0xCFC, 4), 0x00000100);
	pio_wr(f, 0xCFC, 1, 0x0B);
	assert_int_equal(pio_rd(f, 0xCFC, 4), 0x0000010B);
	assert_int_equal(pio_rd(f, 0xCFD, 1), 0x01);
	/* A word at lane 1 writes line and (read-only) pin. */
	pio_wr(f, 0xCFD, 2, 0x0509);
	assert_int_equal(pio_rd(f, 0xCFC, 4), 0x0000010B);
	pio_wr(f, 0xCFC, 2, 0xFF0A);
	assert_int_equal(pio_rd(f, 0xCFC, 4), 0x0000010A);
	/* Lanes on the 4 KiB function: word at lane 1 becomes two aligned byte accesses. */
	pio_wr(f, 0xCF8, 4, cf8(1, 2, 0, 0x40));
	pio_wr(f, 0xCFD, 2, 0xBEEF);
	assert_int_equal(f->ext.last_off, 0x42);
	assert_int_equal(f->ext.last_size, 1);
	assert_int_equal(f->ext.space[0x41], 0xEF);
	assert_int_equal(f->ext.space[0x42], 0xBE);
	pio_wr(f, 0xCFE, 2, 0x1234);
	assert_int_equal(f->ext.last_off, 0x42);
	assert_int_equal(f->ext.last_size, 2);
	assert_int_equal(pio_rd(f, 0xCFF, 1), 0x12);
	assert_int_equal(pio_rd(f, 0xCFD, 2), 0x34EF);
}

static void test_ecam_equivalence(void **state)
{
	struct fx *f = *state;
	static const unsigned bdf[][3] = { { 0, 0, 0 }, { 0, 3, 0 }, { 1, 2, 0 }, { 0, 7, 0 },
					   { 1, 31, 7 } };
	for (size_t i = 0; i < sizeof(bdf) / sizeof(bdf[0]); i++) {
		unsigned b = bdf[i][0], d = bdf[i][1], fn = bdf[i][2];
		for (unsigned reg = 0; reg < 256; reg++) {
			for (unsigned size = 1; size <= 4; size *= 2) {
				if (reg % size)
					continue;
				assert_int_equal(ec_rd(f, b, d, fn, reg, size),
						 m1_rd(f, b, d, fn, reg, size));
			}
		}
	}
	assert_int_equal(ec_rd(f, 0, 0, 0, 0, 4), 0x29C08086);
	assert_int_equal(ec_rd(f, 0, 3, 0, 0, 4), 0x10001AF4);
	/* A write through one mechanism is seen through the other. */
	ec_wr(f, 0, 3, 0, PCI_CFG_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	assert_int_equal(m1_rd(f, 0, 3, 0, PCI_CFG_COMMAND, 2), 0x0006);
	m1_wr(f, 0, 3, 0, PCI_CFG_CACHE_LINE_SIZE, 1, 0x10);
	assert_int_equal(ec_rd(f, 0, 3, 0, PCI_CFG_CACHE_LINE_SIZE, 1), 0x10);
	/* Bus 2 is beyond the ECAM window of a two-bus bridge: the handler refuses it. */
	uint64_t v = 0;
	assert_int_equal(pci_ecam_ops.read(f->p, &vp3, PCI_ECAM_LEN(BUS_COUNT), 4, &v),
			 IOBUS_BAD_REGISTER);
	assert_int_equal(v, 0xFFFFFFFF);
}

static void test_extended_only_via_ecam(void **state)
{
	struct fx *f = *state;
	/* ECAM reaches offsets 256..4095. */
	assert_int_equal(ec_rd(f, 1, 2, 0, 0x100, 4),
			 (uint32_t)f->ext.space[0x100] | (uint32_t)f->ext.space[0x101] << 8 |
			 (uint32_t)f->ext.space[0x102] << 16 | (uint32_t)f->ext.space[0x103] << 24);
	ec_wr(f, 1, 2, 0, 0xFFC, 4, 0xCAFEF00D);
	assert_int_equal(f->ext.last_off, 0xFFC);
	assert_int_equal(ec_rd(f, 1, 2, 0, 0xFFE, 2), 0xCAFE);
	/* Mechanism #1 has no extended register bits: 27:24 are reserved and read 0. */
	pio_wr(f, 0xCF8, 4, 0x8F000000u | cf8(1, 2, 0, 0xFC));
	assert_int_equal(pio_rd(f, 0xCF8, 4), cf8(1, 2, 0, 0xFC));
	unsigned writes = f->ext.writes;
	pio_wr(f, 0xCFC, 4, 0x11223344);
	assert_int_equal(f->ext.writes, writes + 1);
	assert_int_equal(f->ext.last_off, 0xFC);     /* not 0xFFC */
	assert_int_equal(ec_rd(f, 1, 2, 0, 0xFFC, 4), 0xCAFEF00D);
	/* The generic header has no extended capabilities: 0 at 0x100, for the bridge too. */
	assert_int_equal(ec_rd(f, 0, 0, 0, 0x100, 4), 0);
	assert_int_equal(ec_rd(f, 0, 3, 0, 0xFFC, 4), 0);
	ec_wr(f, 0, 3, 0, 0x100, 4, 0xFFFFFFFF);
	assert_int_equal(ec_rd(f, 0, 3, 0, 0x100, 4), 0);
	/* Absent functions read all-ones there too. */
	assert_int_equal(ec_rd(f, 1, 3, 0, 0x100, 4), 0xFFFFFFFF);
}

/* Linux __pci_read_base: save, all-ones, read the mask, restore (decode off meanwhile). */
static uint32_t linux_probe_at(struct fx *f, unsigned dev, unsigned reg, uint32_t ones)
{
	uint32_t orig = m1_rd(f, 0, dev, 0, reg, 4);
	m1_wr(f, 0, dev, 0, reg, 4, ones);
	uint32_t sz = m1_rd(f, 0, dev, 0, reg, 4);
	m1_wr(f, 0, dev, 0, reg, 4, orig);
	assert_int_equal(m1_rd(f, 0, dev, 0, reg, 4), orig);
	return sz;
}

static uint32_t linux_probe(struct fx *f, unsigned reg, uint32_t ones)
{
	return linux_probe_at(f, 3, reg, ones);
}

static void test_bar_sizing_linux(void **state)
{
	struct fx *f = *state;
	/* Firmware-style assignment first, so the restore has something to restore. */
	m1_wr(f, 0, 3, 0, 0x10, 4, 0xFEBF0000);
	m1_wr(f, 0, 3, 0, 0x14, 4, 0x0000C000);
	m1_wr(f, 0, 3, 0, 0x18, 4, 0xFE000000);
	m1_wr(f, 0, 3, 0, 0x1C, 4, 0x00000000);
	m1_wr(f, 0, 3, 0, 0x20, 4, 0x00000000);
	m1_wr(f, 0, 3, 0, 0x24, 4, 0x00000008);
	assert_int_equal(m1_rd(f, 0, 3, 0, 0x10, 4), 0xFEBF0000);
	assert_int_equal(m1_rd(f, 0, 3, 0, 0x14, 4), 0x0000C001);
	assert_int_equal(m1_rd(f, 0, 3, 0, 0x18, 4), 0xFE000004);
	assert_int_equal(m1_rd(f, 0, 3, 0, 0x1C, 4), 0x00000000);
	assert_int_equal(m1_rd(f, 0, 3, 0, 0x20, 4), 0x00000004);
	assert_int_equal(m1_rd(f, 0, 3, 0, 0x24, 4), 0x00000008);

	uint16_t cmd = (uint16_t)m1_rd(f, 0, 3, 0, PCI_CFG_COMMAND, 2);
	m1_wr(f, 0, 3, 0, PCI_CFG_COMMAND, 2, cmd & ~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY));
	assert_int_equal(linux_probe(f, 0x10, 0xFFFFFFFF), 0xFFFFF000);   /* 4 KiB mem */
	assert_int_equal(linux_probe(f, 0x14, 0xFFFFFFFF), 0xFFFFFF01);   /* 256 B I/O */
	assert_int_equal(linux_probe(f, 0x18, 0xFFFFFFFF), 0xFFF00004);   /* 1 MiB, 64-bit */
	assert_int_equal(linux_probe(f, 0x1C, 0xFFFFFFFF), 0xFFFFFFFF);
	assert_int_equal(linux_probe(f, 0x20, 0xFFFFFFFF), 0x00000004);   /* 8 GiB, 64-bit */
	assert_int_equal(linux_probe(f, 0x24, 0xFFFFFFFF), 0xFFFFFFFE);
	assert_int_equal(linux_probe(f, PCI_CFG_ROM_ADDRESS, 0xFFFFF800), 0);   /* no ROM */
	m1_wr(f, 0, 3, 0, PCI_CFG_COMMAND, 2, cmd);
	assert_int_equal(m1_rd(f, 0, 3, 0, PCI_CFG_COMMAND, 2), cmd);

	/* Address bits below the size and the flag bits are read-only. */
	m1_wr(f, 0, 3, 0, 0x10, 4, 0x12345678);
	assert_int_equal(m1_rd(f, 0, 3, 0, 0x10, 4), 0x12345000);
	m1_wr(f, 0, 3, 0, 0x14, 4, 0xABCD1234);
	assert_int_equal(m1_rd(f, 0, 3, 0, 0x14, 4), 0xABCD1201);
	m1_wr(f, 0, 3, 0, 0x14, 1, 0xFE);          /* byte write to the flag byte */
	assert_int_equal(m1_rd(f, 0, 3, 0, 0x14, 4), 0xABCD1201);
	/* Unused BAR offsets past the 64-bit pair (0x28 cardbus) are read-only 0. */
	m1_wr(f, 0, 3, 0, 0x28, 4, 0xFFFFFFFF);
	assert_int_equal(m1_rd(f, 0, 3, 0, 0x28, 4), 0);
	/* The host bridge has no BARs. */
	for (unsigned reg = 0x10; reg < 0x28; reg += 4)
		assert_int_equal(linux_probe_at(f, 0, reg, 0xFFFFFFFF), 0);
}

static void test_cfg_set_bar_errors(void **state)
{
	(void)state;
	struct pci_cfg c;
	pci_cfg_init(&c, 1, 2, 0x0C033000, 0);
	assert_int_equal(pci_cfg_set_bar(NULL, 0, 0x1000, false, false), -EINVAL);
	assert_int_equal(pci_cfg_set_bar(&c, 6, 0x1000, false, false), -EINVAL);
	assert_int_equal(pci_cfg_set_bar(&c, 0, 0x1800, false, false), -EINVAL);   /* not 2^n */
	assert_int_equal(pci_cfg_set_bar(&c, 0, 0, false, false), -EINVAL);
	assert_int_equal(pci_cfg_set_bar(&c, 0, 8, false, false), -EINVAL);        /* < 16 */
	assert_int_equal(pci_cfg_set_bar(&c, 0, 0x100000000ull, false, false), -EINVAL);
	assert_int_equal(pci_cfg_set_bar(&c, 5, 0x1000, false, true), -EINVAL);    /* no pair */
	assert_int_equal(pci_cfg_set_bar(&c, 0, 0x100, true, true), -EINVAL);
	assert_int_equal(pci_cfg_set_bar(&c, 0, 2, true, false), -EINVAL);
	assert_int_equal(pci_cfg_set_bar(&c, 0, 512, true, false), -EINVAL);
	assert_int_equal(pci_cfg_set_bar(&c, 0, 0x80000000ull, false, false), 0);
	assert_int_equal(pci_cfg_set_bar(&c, 1, 4, true, false), 0);
	assert_int_equal(pci_cfg_set_bar(&c, 4, 1ull << 63, false, true), 0);
	/* The generic layout is type 0 only. */
	struct pci_cfg b;
	pci_cfg_init(&b, 1, 2, 0x06040000, 0x01);
	assert_int_equal(pci_cfg_set_bar(&b, 0, 0x1000, false, false), -EINVAL);
	/* Sizes at the limits read back as expected through the ops. */
	pci_cfg_ops.cfg_write(&c, 0x10, 4, 0xFFFFFFFF);
	assert_int_equal(pci_cfg_ops.cfg_read(&c, 0x10, 4), 0x80000000);
	pci_cfg_ops.cfg_write(&c, 0x14, 4, 0xFFFFFFFF);
	assert_int_equal(pci_cfg_ops.cfg_read(&c, 0x14, 4), 0xFFFFFFFD);
	pci_cfg_ops.cfg_write(&c, 0x20, 4, 0xFFFFFFFF);
	pci_cfg_ops.cfg_write(&c, 0x24, 4, 0xFFFFFFFF);
	assert_int_equal(pci_cfg_ops.cfg_read(&c, 0x20, 4), 0x00000004);
	assert_int_equal(pci_cfg_ops.cfg_read(&c, 0x24, 4), 0x80000000);
	/* Out-of-contract calls on the generic header are harmless. */
	assert_int_equal(pci_cfg_ops.cfg_read(&c, 4096, 4), 0);
	assert_int_equal(pci_cfg_ops.cfg_read(&c, 254, 4), 0);
	pci_cfg_ops.cfg_write(&c, 255, 4, 0xFFFFFFFF);
	pci_cfg_ops.cfg_write(&c, 0, 8, 0xFFFFFFFF);
	assert_int_equal(pci_cfg_ops.cfg_read(&c, 0, 4), 0x00020001);
}

static void test_status_w1c_and_ro(void **state)
{
	struct fx *f = *state;
	/* The function's own hardware sets error bits and a read-only DEVSEL timing bit. */
	f->tf.bytes[PCI_CFG_STATUS] = 0x10;
	f->tf.bytes[PCI_CFG_STATUS + 1] = 0xFB;
	assert_int_equal(m1_rd(f, 0, 3, 0, PCI_CFG_STATUS, 2), 0xFB10);
	m1_wr(f, 0, 3, 0, PCI_CFG_STATUS, 2, 0x8100);            /* clear 15 and 8 only */
	assert_int_equal(m1_rd(f, 0, 3, 0, PCI_CFG_STATUS, 2), 0x7A10);
	m1_wr(f, 0, 3, 0, PCI_CFG_STATUS, 2, 0x0000);            /* zeros clear nothing */
	assert_int_equal(m1_rd(f, 0, 3, 0, PCI_CFG_STATUS, 2), 0x7A10);
	/* A dword write of command | status << 16, as drivers do: clears all error bits. */
	m1_wr(f, 0, 3, 0, PCI_CFG_COMMAND, 4, 0xFFFF0000u | PCI_COMMAND_MASTER);
	assert_int_equal(m1_rd(f, 0, 3, 0, PCI_CFG_COMMAND, 4), 0x02100004);
	/* Command: only IO, MEMORY, MASTER, PARITY, SERR, INTX_DISABLE stick. */
	m1_wr(f, 0, 3, 0, PCI_CFG_COMMAND, 2, 0xFFFF);
	assert_int_equal(m1_rd(f, 0, 3, 0, PCI_CFG_COMMAND, 2), 0x0547);
	m1_wr(f, 0, 3, 0, PCI_CFG_COMMAND + 1, 1, 0x00);
	assert_int_equal(m1_rd(f, 0, 3, 0, PCI_CFG_COMMAND, 2), 0x0047);

	/* Read-only identity on the test function and the host bridge. */
	for (unsigned dev = 0; dev <= 3; dev += 3) {
		uint32_t id = m1_rd(f, 0, dev, 0, 0, 4), cls = m1_rd(f, 0, dev, 0, 8, 4);
		uint32_t hdr = m1_rd(f, 0, dev, 0, 0x0C, 4);
		m1_wr(f, 0, dev, 0, 0, 4, 0);
		m1_wr(f, 0, dev, 0, 2, 2, 0x1234);
		m1_wr(f, 0, dev, 0, 8, 4, 0xFFFFFFFF);
		m1_wr(f, 0, dev, 0, 0x0E, 1, 0x81);
		m1_wr(f, 0, dev, 0, 0x0F, 1, 0x40);                   /* BIST start: none */
		m1_wr(f, 0, dev, 0, 0x2C, 4, 0xFFFFFFFF);
		m1_wr(f, 0, dev, 0, 0x34, 1, 0x40);
		m1_wr(f, 0, dev, 0, 0x3D, 1, 0x04);
		assert_int_equal(m1_rd(f, 0, dev, 0, 0, 4), id);
		assert_int_equal(m1_rd(f, 0, dev, 0, 8, 4), cls);
		assert_int_equal(m1_rd(f, 0, dev, 0, 0x0C, 4) & 0xFFFF0000u, hdr & 0xFFFF0000u);
		assert_int_equal(m1_rd(f, 0, dev, 0, 0x2C, 4), 0);
		assert_int_equal(m1_rd(f, 0, dev, 0, 0x34, 1), 0);
		assert_int_equal(m1_rd(f, 0, dev, 0, 0x3D, 1), dev ? 1 : 0);
	}
	assert_int_equal(m1_rd(f, 0, 0, 0, 0, 4), 0x29C08086);
	assert_int_equal(m1_rd(f, 0, 3, 0, 0, 4), 0x10001AF4);
	/* Cache line size, latency timer and interrupt line are writable. */
	m1_wr(f, 0, 0, 0, 0x0C, 2, 0x4010);
	assert_int_equal(m1_rd(f, 0, 0, 0, 0x0C, 4), 0x00004010);
	m1_wr(f, 0, 0, 0, 0x3C, 4, 0xFFFFFFFF);
	assert_int_equal(m1_rd(f, 0, 0, 0, 0x3C, 4), 0x000000FF);
	/* The host bridge's status stays 0; its command takes memory/IO/master. */
	m1_wr(f, 0, 0, 0, PCI_CFG_COMMAND, 4, 0xFFFF0007);
	assert_int_equal(m1_rd(f, 0, 0, 0, PCI_CFG_COMMAND, 4), 0x00000007);
	/* Device-specific space is read-only 0 in the generic header. */
	m1_wr(f, 0, 0, 0, 0x60, 4, 0xE0000001);
	assert_int_equal(m1_rd(f, 0, 0, 0, 0x60, 4), 0);
}

static void test_register_errors(void **state)
{
	struct fx *f = *state;
	struct pci_cfg c;
	pci_cfg_init(&c, 0x1234, 0x5678, 0xFF000000, 0);
	assert_int_equal(pci_register(NULL, 0, 1, 0, &pci_cfg_ops, &c), -EINVAL);
	assert_int_equal(pci_register(f->p, 0, 1, 0, NULL, &c), -EINVAL);
	assert_int_equal(pci_register(f->p, BUS_COUNT, 1, 0, &pci_cfg_ops, &c), -EINVAL);
	assert_int_equal(pci_register(f->p, 0, 32, 0, &pci_cfg_ops, &c), -EINVAL);
	assert_int_equal(pci_register(f->p, 0, 1, 8, &pci_cfg_ops, &c), -EINVAL);
	assert_int_equal(pci_register(f->p, 0, 0, 0, &pci_cfg_ops, &c), -EEXIST);
	assert_int_equal(pci_register(f->p, 0, 3, 0, &pci_cfg_ops, &c), -EEXIST);
	assert_int_equal(pci_register(f->p, 1, 2, 0, &pci_cfg_ops, &c), -EEXIST);
	/* The identity of a taken slot did not change. */
	assert_int_equal(m1_rd(f, 0, 0, 0, 0, 4), 0x29C08086);
	/* Three are registered (bridge, 00:03.0, 01:02.0): fill the table. */
	unsigned n = 3;
	for (unsigned i = 0; n < PCI_MAX_REGISTERED; i++) {
		unsigned dev = 8 + i / 8, fn = i % 8;
		assert_int_equal(pci_register(f->p, 1, dev, fn, &pci_cfg_ops, &c), 0);
		n++;
	}
	assert_int_equal(pci_register(f->p, 0, 31, 0, &pci_cfg_ops, &c), -ENOSPC);
	assert_int_equal(m1_rd(f, 1, 8, 0, 0, 4), 0x56781234);
	assert_int_equal(ec_rd(f, 1, 15, 4, 0, 4), 0x56781234);   /* the last one: 1:15.4 */
	assert_int_equal(ec_rd(f, 1, 15, 5, 0, 4), 0xFFFFFFFF);
	/* A function with no handlers reads all-ones and ignores writes. */
	struct pci *p;
	static const struct pci_dev_ops none = { 0 };
	assert_int_equal(pci_create(&f->fake.dc, ECAM_BASE, 1, &p), 0);
	assert_int_equal(pci_register(p, 0, 5, 0, &none, NULL), 0);
	uint64_t v = 0;
	assert_int_equal(pci_ecam_ops.write(p, &vp3, ecam_off(0, 5, 0, 4), 2, 7), IOBUS_OK);
	assert_int_equal(pci_ecam_ops.read(p, &vp3, ecam_off(0, 5, 0, 0), 4, &v), IOBUS_OK);
	assert_int_equal(v, 0xFFFFFFFF);
	pci_destroy(p);
}

/* Enumeration the way a guest does it: function 0, then 1..7 only if multi-function. */
static unsigned enumerate(struct fx *f, unsigned bus, unsigned dev)
{
	unsigned found = 0;
	if ((m1_rd(f, bus, dev, 0, 0, 4) & 0xFFFF) == 0xFFFF)
		return 0;
	found++;
	if (!(m1_rd(f, bus, dev, 0, PCI_CFG_HEADER_TYPE, 1) & PCI_HEADER_TYPE_MULTI_FUNCTION))
		return found;
	for (unsigned fn = 1; fn < 8; fn++)
		if ((m1_rd(f, bus, dev, fn, 0, 4) & 0xFFFF) != 0xFFFF)
			found++;
	return found;
}

static void test_multifunction(void **state)
{
	struct fx *f = *state;
	struct pci_cfg f0, f1;
	pci_cfg_init(&f0, 0x8086, 0x2918, 0x06010002, PCI_HEADER_TYPE_MULTI_FUNCTION);
	pci_cfg_init(&f1, 0x8086, 0x2922, 0x01060102, 0);
	assert_int_equal(pci_register(f->p, 0, 0x1F, 2, &pci_cfg_ops, &f1), 0);
	/* Reachable directly, but not found: function 0 is absent. */
	assert_int_equal(m1_rd(f, 0, 0x1F, 2, 0, 4), 0x29228086);
	assert_int_equal(enumerate(f, 0, 0x1F), 0);
	assert_int_equal(pci_register(f->p, 0, 0x1F, 0, &pci_cfg_ops, &f0), 0);
	assert_int_equal(enumerate(f, 0, 0x1F), 2);
	assert_int_equal(m1_rd(f, 0, 0x1F, 0, PCI_CFG_HEADER_TYPE, 1), 0x80);
	/* The host bridge is single-function. */
	assert_int_equal(enumerate(f, 0, 0), 1);
}

static void test_reset_cf9(void **state)
{
	struct fx *f = *state;
	assert_int_equal(pio_rd(f, 0xCF9, 1), 0x00);
	/* Linux: 0x02 (SYS_RST, prepare), short delay, 0x06 (SYS_RST | RST_CPU). */
	pio_wr(f, 0xCF9, 1, 0x02);
	assert_int_equal(f->fake.stops.count, 0);
	assert_int_equal(pio_rd(f, 0xCF9, 1), 0x02);
	pio_wr(f, 0xCF9, 1, 0x06);
	assert_int_equal(f->fake.stops.count, 1);
	assert_int_equal(f->fake.stops.why, DEVCTX_STOP_RESET);
	assert_int_equal(f->fake.stops.code, 0);
	assert_int_equal(f->fake.stops.vp, 3);
	assert_int_equal(pio_rd(f, 0xCF9, 1), 0x02);   /* RST_CPU reads 0 */
	/* FULL_RST is stored too; reserved bits are not. */
	pio_wr(f, 0xCF9, 1, 0xF9);
	assert_int_equal(pio_rd(f, 0xCF9, 1), 0x08);
	assert_int_equal(f->fake.stops.count, 1);
	/* Widths other than a byte at 0xCF9 are not the reset register. */
	pio_wr(f, 0xCF8, 2, 0x0600);
	pio_wr(f, 0xCF9, 2, 0x0006);
	pio_wr(f, 0xCF8, 4, 0x00000600);
	assert_int_equal(f->fake.stops.count, 1);
	assert_int_equal(pio_rd(f, 0xCF9, 1), 0x08);
	assert_int_equal(pio_rd(f, 0xCF9, 2), 0xFFFF);
	/* A misbehaving guest asking again gets another request (the first one wins). */
	struct iobus_access vp0 = { .vp = 0 };
	assert_int_equal(pci_port_ops.write(f->p, &vp0, 1, 1, 0x04), IOBUS_OK);
	assert_int_equal(f->fake.stops.count, 2);
	assert_int_equal(f->fake.stops.vp, 0);
}

static void test_hostile_ports(void **state)
{
	struct fx *f = *state;
	uint64_t seed = 1;
	unsigned expected_stops = 0;
	for (unsigned round = 0; round < 200; round++) {
		/* Point CONFIG_ADDRESS anywhere, then hit every offset with every width. */
		uint32_t ca = (uint32_t)dev_fake_junk(&seed);
		if (round % 2)        /* half of the rounds on 00:00.0: its ids must survive */
			ca &= 0x800000FCu;
		for (unsigned off = 0; off < 8; off++) {
			for (unsigned size = 1; size <= 8; size *= 2) {
				uint64_t v = dev_fake_junk(&seed);
				enum iobus_action want;
				bool in = off + size <= 8;
				bool straddle = off < 4 && off + size > 4;
				want = (!in || straddle || size == 8) ? IOBUS_BAD_REGISTER : IOBUS_OK;
				uint64_t r = 0x5A5A;
				pci_port_ops.write(f->p, &vp3, 0, 4, ca);
				assert_int_equal(pci_port_ops.read(f->p, &vp3, off, size, &r), want);
				if (want == IOBUS_BAD_REGISTER)
					assert_int_equal(r, iobus_ones(size));
				else
					assert_int_equal(r >> (8 * size), 0);
				if (off == 1 && size == 1 && (v & 0x04))
					expected_stops++;
				assert_int_equal(pci_port_ops.write(f->p, &vp3, off, size, v), want);
			}
		}
	}
	assert_int_equal(f->fake.stops.count, expected_stops);
	assert_int_equal(m1_rd(f, 0, 0, 0, 0, 4), 0x29C08086);
	assert_int_equal(m1_rd(f, 0, 0, 0, 8, 4), 0x06000000);
	/* A NULL access descriptor is survivable. */
	uint64_t r;
	assert_int_equal(pci_port_ops.read(f->p, NULL, 4, 4, &r), IOBUS_OK);
	assert_int_equal(pci_port_ops.read(f->p, NULL, 0x10000, 4, &r), IOBUS_BAD_REGISTER);
	assert_int_equal(pci_port_ops.write(f->p, NULL, ~0ull, 4, 0), IOBUS_BAD_REGISTER);
}

static void test_hostile_ecam(void **state)
{
	struct fx *f = *state;
	uint64_t seed = 7;
	/* Every offset x width of the three present functions' pages and one absent page. */
	static const uint64_t pages[] = { 0x00000, 0x18000, 0x112000, 0x0F000 };
	for (size_t p = 0; p < sizeof(pages) / sizeof(pages[0]); p++) {
		for (unsigned reg = 0; reg < 4096; reg++) {
			for (unsigned size = 1; size <= 8; size *= 2) {
				uint64_t off = pages[p] + reg, r = 0x5A5A;
				enum iobus_action want = (size == 8 || reg % size) ?
							 IOBUS_BAD_REGISTER : IOBUS_OK;
				assert_int_equal(pci_ecam_ops.read(f->p, &vp3, off, size, &r), want);
				if (want == IOBUS_BAD_REGISTER || p == 3)
					assert_int_equal(r, iobus_ones(size));
				uint64_t v = dev_fake_junk(&seed);
				assert_int_equal(pci_ecam_ops.write(f->p, &vp3, off, size, v), want);
			}
		}
	}
	/* Strided over both buses, misaligned and past the end. */
	for (uint64_t off = 0; off < PCI_ECAM_LEN(BUS_COUNT) + 0x10000; off += 0x1003) {
		uint64_t r;
		enum iobus_action want = off < PCI_ECAM_LEN(BUS_COUNT) && !(off & 3) ?
					 IOBUS_OK : IOBUS_BAD_REGISTER;
		assert_int_equal(pci_ecam_ops.read(f->p, &vp3, off, 4, &r), want);
		assert_int_equal(pci_ecam_ops.write(f->p, &vp3, off, 4, dev_fake_junk(&seed)),
				 want);
	}
	uint64_t r;
	assert_int_equal(pci_ecam_ops.read(f->p, &vp3, ~0ull, 1, &r), IOBUS_BAD_REGISTER);
	assert_int_equal(pci_ecam_ops.read(f->p, &vp3, 0, 3, &r), IOBUS_BAD_REGISTER);
	assert_int_equal(pci_ecam_ops.read(f->p, &vp3, 0, 0, &r), IOBUS_BAD_REGISTER);
	assert_int_equal(ec_rd(f, 0, 0, 0, 0, 4), 0x29C08086);
	assert_int_equal(ec_rd(f, 0, 0, 0, 8, 4), 0x06000000);
	assert_int_equal(ec_rd(f, 0, 3, 0, 0, 4), 0x10001AF4);
	assert_int_equal(ec_rd(f, 0, 3, 0, 0x10, 4) & 0xFFF, 0);   /* BAR flags intact */
	assert_int_equal(ec_rd(f, 0, 3, 0, 0x14, 4) & 0x3, 1);
	assert_int_equal(ec_rd(f, 0, 3, 0, 0x18, 4) & 0xF, 4);
	assert_int_equal(f->fake.stops.count, 0);
}

static void test_via_iobus(void **state)
{
	struct fx *f = *state;
	struct iobus *bus;
	struct iobus_hint hint = { 0 };
	uint64_t v;
	assert_int_equal(iobus_create(&bus), 0);
	assert_int_equal(iobus_register(bus, IOBUS_PIO, PCI_PORT_BASE, PCI_PORT_LEN, &pci_port_ops,
					f->p, "pci"), 0);
	assert_int_equal(iobus_register(bus, IOBUS_MMIO, ECAM_BASE, PCI_ECAM_LEN(BUS_COUNT),
					&pci_ecam_ops, f->p, "ecam"), 0);
	iobus_freeze(bus);
	assert_int_equal(iobus_write(bus, &hint, IOBUS_PIO, 0xCF8, 4, &vp3, 0x80001800), IOBUS_OK);
	assert_int_equal(iobus_read(bus, &hint, IOBUS_PIO, 0xCFC, 4, &vp3, &v), IOBUS_OK);
	assert_int_equal(v, 0x10001AF4);
	assert_int_equal(iobus_read(bus, &hint, IOBUS_MMIO, ECAM_BASE + 0x18000, 2, &vp3, &v),
			 IOBUS_OK);
	assert_int_equal(v, 0x1AF4);
	assert_int_equal(iobus_read(bus, &hint, IOBUS_MMIO, ECAM_BASE + 0x18008, 8, &vp3, &v),
			 IOBUS_BAD_REGISTER);
	assert_int_equal(v, ~0ull);
	/* A dword at 0xCFE runs off the range: the bus hands it to the host bridge whole (ports
	   route by the first one), which refuses a CONFIG_DATA access that leaves the register. */
	assert_int_equal(iobus_write(bus, &hint, IOBUS_PIO, 0xCF8, 4, &vp3, 0x80000000), IOBUS_OK);
	assert_int_equal(iobus_read(bus, &hint, IOBUS_PIO, 0xCFE, 4, &vp3, &v),
			 IOBUS_BAD_REGISTER);
	assert_int_equal(v, 0xFFFFFFFFu);
	assert_int_equal(iobus_read(bus, &hint, IOBUS_PIO, 0xCFE, 2, &vp3, &v), IOBUS_OK);
	assert_int_equal(v, 0x29C0);
	assert_int_equal(iobus_write(bus, &hint, IOBUS_PIO, 0xCF9, 1, &vp3, 0x06), IOBUS_OK);
	assert_int_equal(f->fake.stops.count, 1);
	iobus_destroy(bus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test_setup_teardown(test_config_address, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enumerate_bus0, setup, teardown),
		cmocka_unit_test_setup_teardown(test_byte_word_lanes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ecam_equivalence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_extended_only_via_ecam, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_sizing_linux, setup, teardown),
		cmocka_unit_test(test_cfg_set_bar_errors),
		cmocka_unit_test_setup_teardown(test_status_w1c_and_ro, setup, teardown),
		cmocka_unit_test_setup_teardown(test_register_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multifunction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_cf9, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_ports, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_ecam, setup, teardown),
		cmocka_unit_test_setup_teardown(test_via_iobus, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
