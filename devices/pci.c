/*
 * PCI host bridge: mechanism #1, ECAM, reset control and the generic type-0 header. Register
 * facts are in pci.h.
 *
 * Functions are kept in a small fixed array searched linearly: a machine has a handful of
 * them, and a fixed array means no allocation after creation.
 */
#include "devices/pci.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* CONFIG_ADDRESS bits that exist: enable, bus, device, function, register (dword). */
#define PCI_CONFIG_ADDRESS_MASK 0x80FFFFFCu
#define PCI_CONFIG_ENABLE 0x80000000u

/* Reset control register (0xCF9) bits. */
#define PCI_RST_SYS 0x02
#define PCI_RST_CPU 0x04
#define PCI_RST_FULL 0x08
#define PCI_RST_STORED (PCI_RST_SYS | PCI_RST_FULL)

/* Port offsets inside the 0xCF8 range. */
#define PCI_PORT_RST_CNT 1
#define PCI_PORT_DATA 4

/* A guest can request resets in a loop: log only the first few. */
#define PCI_LOG_BUDGET 4

struct pci_fn {
	uint32_t bdf;                  /* bus << 8 | dev << 3 | fn */
	const struct pci_dev_ops *ops;
	void *ctx;
};

struct pci {
	pthread_mutex_t lock;
	struct devctx dc;
	unsigned bus_count;
	uint32_t config_address;
	uint8_t rst_cnt;
	unsigned log_budget;
	unsigned fn_count;
	struct pci_fn fns[PCI_MAX_REGISTERED];
	struct pci_cfg host_bridge;
};

static uint32_t pci_bdf(unsigned bus, unsigned dev, unsigned fn)
{
	return (uint32_t)(bus << 8 | dev << 3 | fn);
}

static uint32_t pci_ones(unsigned size)
{
	return (uint32_t)iobus_ones(size);
}

/* ---- generic type-0 header -------------------------------------------------------------- */

/* size <= 4 */
static void pci_cfg_put(uint8_t *a, unsigned off, unsigned size, uint32_t v)
{
	for (unsigned i = 0; i < size; i++)
		a[off + i] = (uint8_t)(v >> (8 * i));
}

void pci_cfg_init(struct pci_cfg *c, uint16_t vendor, uint16_t device, uint32_t class_rev,
		  uint8_t header_type)
{
	memset(c, 0, sizeof(*c));
	pci_cfg_put(c->bytes, PCI_CFG_VENDOR_ID, 2, vendor);
	pci_cfg_put(c->bytes, PCI_CFG_DEVICE_ID, 2, device);
	pci_cfg_put(c->bytes, PCI_CFG_CLASS_REV, 4, class_rev);
	c->bytes[PCI_CFG_HEADER_TYPE] = header_type;
	pci_cfg_put(c->wmask, PCI_CFG_COMMAND, 2,
		    PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
		    PCI_COMMAND_PARITY | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE);
	pci_cfg_put(c->w1c, PCI_CFG_STATUS, 2, PCI_STATUS_W1C_MASK);
	c->wmask[PCI_CFG_CACHE_LINE_SIZE] = 0xFF;
	c->wmask[PCI_CFG_LATENCY_TIMER] = 0xFF;
	c->wmask[PCI_CFG_INTERRUPT_LINE] = 0xFF;
}

static bool pci_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

int pci_cfg_set_bar(struct pci_cfg *c, unsigned bar, uint64_t size, bool io, bool is64)
{
	if (!c || bar >= PCI_BAR_COUNT || !pci_pow2(size) ||
	    (c->bytes[PCI_CFG_HEADER_TYPE] & 0x7F) != 0)
		return -EINVAL;
	unsigned off = PCI_CFG_BAR0 + 4 * bar;
	uint64_t addr_mask = ~(size - 1);
	if (io) {
		if (is64 || size < 4 || size > 256)
			return -EINVAL;
		pci_cfg_put(c->bytes, off, 4, 0x1);   /* bit 0: I/O space; bit 1 reserved */
		pci_cfg_put(c->wmask, off, 4, (uint32_t)addr_mask & ~0x3u);
		pci_cfg_put(c->w1c, off, 4, 0);
		return 0;
	}
	if (size < 16)
		return -EINVAL;
	if (!is64) {
		if (size > 0x80000000ull)
			return -EINVAL;
		pci_cfg_put(c->bytes, off, 4, 0x0);   /* memory, type 00 (32-bit), not prefetchable */
		pci_cfg_put(c->wmask, off, 4, (uint32_t)addr_mask & ~0xFu);
		pci_cfg_put(c->w1c, off, 4, 0);
		return 0;
	}
	if (bar + 1 >= PCI_BAR_COUNT || size > (1ull << 63))
		return -EINVAL;
	pci_cfg_put(c->bytes, off, 4, 0x4);           /* memory, type 10 (64-bit) */
	pci_cfg_put(c->wmask, off, 4, (uint32_t)addr_mask & ~0xFu);
	pci_cfg_put(c->bytes, off + 4, 4, 0);
	pci_cfg_put(c->wmask, off + 4, 4, (uint32_t)(addr_mask >> 32));
	pci_cfg_put(c->w1c, off, 4, 0);
	pci_cfg_put(c->w1c, off + 4, 4, 0);
	return 0;
}

static uint32_t pci_cfg_read(void *ctx, unsigned offset, unsigned size)
{
	const struct pci_cfg *c = ctx;
	uint32_t v = 0;
	if (size > 4 || offset >= sizeof(c->bytes) || size > sizeof(c->bytes) - offset)
		return 0;   /* extended space: no capabilities */
	for (unsigned i = 0; i < size; i++)
		v |= (uint32_t)c->bytes[offset + i] << (8 * i);
	return v;
}

static void pci_cfg_write(void *ctx, unsigned offset, unsigned size, uint32_t value)
{
	struct pci_cfg *c = ctx;
	if (size > 4 || offset >= sizeof(c->bytes) || size > sizeof(c->bytes) - offset)
		return;
	for (unsigned i = 0; i < size; i++) {
		unsigned o = offset + i;
		uint8_t v = (uint8_t)(value >> (8 * i));
		uint8_t b = (uint8_t)((c->bytes[o] & ~c->wmask[o]) | (v & c->wmask[o]));
		c->bytes[o] = (uint8_t)(b & ~(v & c->w1c[o]));
	}
}

const struct pci_dev_ops pci_cfg_ops = {
	.cfg_read = pci_cfg_read,
	.cfg_write = pci_cfg_write,
};

/* ---- function table and configuration access (lock held) -------------------------------- */

static const struct pci_fn *pci_find(const struct pci *p, uint32_t bdf)
{
	for (unsigned i = 0; i < p->fn_count; i++)
		if (p->fns[i].bdf == bdf)
			return &p->fns[i];
	return NULL;
}

/* offset + size stay inside one function's 4 KiB and are naturally aligned (callers check). */
static uint32_t pci_cfg_access_read(const struct pci *p, unsigned bus, uint32_t bdf,
				    unsigned offset, unsigned size)
{
	const struct pci_fn *f = bus < p->bus_count ? pci_find(p, bdf) : NULL;
	if (!f || !f->ops->cfg_read)
		return pci_ones(size);
	return f->ops->cfg_read(f->ctx, offset, size) & pci_ones(size);
}

static void pci_cfg_access_write(const struct pci *p, unsigned bus, uint32_t bdf,
				 unsigned offset, unsigned size, uint32_t value)
{
	const struct pci_fn *f = bus < p->bus_count ? pci_find(p, bdf) : NULL;
	if (f && f->ops->cfg_write)
		f->ops->cfg_write(f->ctx, offset, size, value & pci_ones(size));
}

/* ---- ports 0xCF8..0xCFF ---------------------------------------------------------------- */

static uint32_t pci_access_vp(const struct iobus_access *a)
{
	return a ? a->vp : 0;
}

/*
 * CONFIG_DATA byte lanes [lane, lane + size) of the dword CONFIG_ADDRESS selects. Only a word
 * at lane 1 is not naturally aligned (the iobus keeps accesses inside the range): it is done
 * as two byte accesses, like the byte enables it would carry on the bus.
 */
static uint32_t pci_data_read(const struct pci *p, unsigned lane, unsigned size)
{
	uint32_t ca = p->config_address;
	if (!(ca & PCI_CONFIG_ENABLE))
		return pci_ones(size);
	unsigned bus = (ca >> 16) & 0xFF;
	uint32_t bdf = (ca >> 8) & 0xFFFF;
	unsigned reg = ca & 0xFC;
	if (lane & (size - 1)) {
		uint32_t v = 0;
		for (unsigned i = 0; i < size; i++)
			v |= pci_cfg_access_read(p, bus, bdf, reg + lane + i, 1) << (8 * i);
		return v;
	}
	return pci_cfg_access_read(p, bus, bdf, reg + lane, size);
}

static void pci_data_write(const struct pci *p, unsigned lane, unsigned size, uint32_t value)
{
	uint32_t ca = p->config_address;
	if (!(ca & PCI_CONFIG_ENABLE))
		return;
	unsigned bus = (ca >> 16) & 0xFF;
	uint32_t bdf = (ca >> 8) & 0xFFFF;
	unsigned reg = ca & 0xFC;
	if (lane & (size - 1)) {
		for (unsigned i = 0; i < size; i++)
			pci_cfg_access_write(p, bus, bdf, reg + lane + i, 1, value >> (8 * i));
		return;
	}
	pci_cfg_access_write(p, bus, bdf, reg + lane, size, value);
}

enum pci_port_reg { PCI_PORT_NOTHING, PCI_PORT_ADDRESS, PCI_PORT_RST, PCI_PORT_DATA_REG,
		    PCI_PORT_BAD };

static enum pci_port_reg pci_port_decode(uint64_t offset, unsigned size)
{
	if ((size != 1 && size != 2 && size != 4) || offset >= PCI_PORT_LEN ||
	    offset + size > PCI_PORT_LEN)
		return PCI_PORT_BAD;
	if (offset >= PCI_PORT_DATA)
		return PCI_PORT_DATA_REG;
	if (offset + size > PCI_PORT_DATA)
		return PCI_PORT_BAD;           /* straddles 0xCFB/0xCFC */
	if (offset == 0 && size == 4)
		return PCI_PORT_ADDRESS;
	if (offset == PCI_PORT_RST_CNT && size == 1)
		return PCI_PORT_RST;
	return PCI_PORT_NOTHING;
}

static enum iobus_action pci_port_read(void *dev, const struct iobus_access *a,
				       uint64_t offset, unsigned size, uint64_t *value)
{
	struct pci *p = dev;
	(void)a;
	enum pci_port_reg r = pci_port_decode(offset, size);
	*value = iobus_ones(size);
	if (r == PCI_PORT_BAD)
		return IOBUS_BAD_REGISTER;
	pthread_mutex_lock(&p->lock);
	switch (r) {
	case PCI_PORT_ADDRESS:
		*value = p->config_address;
		break;
	case PCI_PORT_RST:
		*value = p->rst_cnt;
		break;
	case PCI_PORT_DATA_REG:
		*value = pci_data_read(p, (unsigned)offset - PCI_PORT_DATA, size);
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&p->lock);
	return IOBUS_OK;
}

static enum iobus_action pci_port_write(void *dev, const struct iobus_access *a,
					uint64_t offset, unsigned size, uint64_t value)
{
	struct pci *p = dev;
	enum pci_port_reg r = pci_port_decode(offset, size);
	bool reset = false;
	bool log = false;
	if (r == PCI_PORT_BAD)
		return IOBUS_BAD_REGISTER;
	pthread_mutex_lock(&p->lock);
	switch (r) {
	case PCI_PORT_ADDRESS:
		p->config_address = (uint32_t)value & PCI_CONFIG_ADDRESS_MASK;
		break;
	case PCI_PORT_RST:
		p->rst_cnt = (uint8_t)(value & PCI_RST_STORED);
		reset = value & PCI_RST_CPU;
		if (reset && p->log_budget) {
			p->log_budget--;
			log = true;
		}
		break;
	case PCI_PORT_DATA_REG:
		pci_data_write(p, (unsigned)offset - PCI_PORT_DATA, size, (uint32_t)value);
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&p->lock);
	if (log)
		fprintf(p->dc.log ? p->dc.log : stderr,
			"pci: reset requested through 0xCF9 (0x%02x) by vp %u\n",
			(unsigned)(value & 0xFF), pci_access_vp(a));
	/* Outside the lock: the stop path may kick VPs that are inside our handlers. */
	if (reset)
		devctx_stop(&p->dc, DEVCTX_STOP_RESET, 0, pci_access_vp(a));
	return IOBUS_OK;
}

const struct iobus_ops pci_port_ops = {
	.read = pci_port_read,
	.write = pci_port_write,
};

/* ---- ECAM --------------------------------------------------------------------------- */

static bool pci_ecam_valid(const struct pci *p, uint64_t offset, unsigned size)
{
	return (size == 1 || size == 2 || size == 4) && !(offset & (size - 1)) &&
	       offset < PCI_ECAM_LEN(p->bus_count);
}

static enum iobus_action pci_ecam_read(void *dev, const struct iobus_access *a,
				       uint64_t offset, unsigned size, uint64_t *value)
{
	struct pci *p = dev;
	(void)a;
	*value = iobus_ones(size);
	if (!pci_ecam_valid(p, offset, size))
		return IOBUS_BAD_REGISTER;
	pthread_mutex_lock(&p->lock);
	*value = pci_cfg_access_read(p, (unsigned)(offset >> 20), (uint32_t)(offset >> 12),
				     (unsigned)(offset & 0xFFF), size);
	pthread_mutex_unlock(&p->lock);
	return IOBUS_OK;
}

static enum iobus_action pci_ecam_write(void *dev, const struct iobus_access *a,
					uint64_t offset, unsigned size, uint64_t value)
{
	struct pci *p = dev;
	(void)a;
	if (!pci_ecam_valid(p, offset, size))
		return IOBUS_BAD_REGISTER;
	pthread_mutex_lock(&p->lock);
	pci_cfg_access_write(p, (unsigned)(offset >> 20), (uint32_t)(offset >> 12),
			     (unsigned)(offset & 0xFFF), size, (uint32_t)value);
	pthread_mutex_unlock(&p->lock);
	return IOBUS_OK;
}

const struct iobus_ops pci_ecam_ops = {
	.read = pci_ecam_read,
	.write = pci_ecam_write,
};

/* ---- life cycle --------------------------------------------------------------------- */

int pci_register(struct pci *p, unsigned bus, unsigned dev, unsigned fn,
		 const struct pci_dev_ops *ops, void *ctx)
{
	int ret = 0;
	if (!p || !ops || bus >= p->bus_count || dev >= PCI_MAX_DEVICES ||
	    fn >= PCI_MAX_FUNCTIONS)
		return -EINVAL;
	uint32_t bdf = pci_bdf(bus, dev, fn);
	pthread_mutex_lock(&p->lock);
	if (pci_find(p, bdf)) {
		ret = -EEXIST;
	} else if (p->fn_count >= PCI_MAX_REGISTERED) {
		ret = -ENOSPC;
	} else {
		p->fns[p->fn_count] = (struct pci_fn){ .bdf = bdf, .ops = ops, .ctx = ctx };
		p->fn_count++;
	}
	pthread_mutex_unlock(&p->lock);
	return ret;
}

int pci_create(const struct devctx *dc, uint64_t ecam_base, unsigned bus_count,
	       struct pci **out)
{
	if (!out || bus_count < 1 || bus_count > PCI_MAX_BUSES ||
	    (ecam_base & (PCI_ECAM_LEN(1) - 1)) ||
	    ecam_base + PCI_ECAM_LEN(bus_count) - 1 < ecam_base)
		return -EINVAL;
	struct pci *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	if (pthread_mutex_init(&p->lock, NULL)) {
		free(p);
		return -ENOMEM;
	}
	if (dc)
		p->dc = *dc;
	p->bus_count = bus_count;
	p->log_budget = PCI_LOG_BUDGET;
	/* The Q35 host bridge id is chosen for driver familiarity (see pci.h). */
	pci_cfg_init(&p->host_bridge, PCI_HOST_BRIDGE_VENDOR, PCI_HOST_BRIDGE_DEVICE,
		     PCI_HOST_BRIDGE_CLASS_REV, 0);
	p->fns[0] = (struct pci_fn){ .bdf = pci_bdf(0, 0, 0), .ops = &pci_cfg_ops,
				     .ctx = &p->host_bridge };
	p->fn_count = 1;
	*out = p;
	return 0;
}

void pci_destroy(struct pci *p)
{
	if (!p)
		return;
	pthread_mutex_destroy(&p->lock);
	free(p);
}
