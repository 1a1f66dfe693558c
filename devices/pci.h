/*
 * pci: the PCI host bridge: configuration mechanism #1 (ports 0xCF8/0xCFC), PCIe ECAM (MMIO),
 * the PIIX/ICH reset control register (port 0xCF9), a host bridge function at 00:00.0, and a
 * generic type-0 configuration header (struct pci_cfg) for simple functions.
 *
 * Registration (the same `struct pci *` as dev for both):
 *   pci_port_ops   IOBUS_PIO  0xCF8, len 8
 *   pci_ecam_ops   IOBUS_MMIO ecam_base, len PCI_ECAM_LEN(bus_count)
 *
 * Datasheet facts followed (PCI Local Bus 3.0 3.2.2.3.2 and 6.x, PCIe 4.0 7.2.2, Intel
 * PIIX4/ICH9 datasheets):
 *   CONFIG_ADDRESS 0xCF8, dword access only: bit 31 enable, 30:24 reserved (read 0), 23:16 bus,
 *     15:11 device, 10:8 function, 7:2 register, 1:0 read 0. Byte/word accesses to
 *     0xCF8/0xCFA/0xCFB are not CONFIG_ADDRESS (they decode to nothing here: reads all-ones,
 *     writes dropped); Linux's type-1 probe (outb 0xCFB, then dword 0xCF8 readback) relies on
 *     that, and its type-2 probe fails as it should (byte 0xCF8/0xCFA read 0xFF, not 0).
 *   CONFIG_DATA 0xCFC-0xCFF, 1/2/4 bytes: the dword at `register`, byte lane = port & 3. With
 *     enable clear, a bus >= bus_count or an absent function: reads all-ones, writes dropped.
 *     Mechanism #1 reaches offsets 0..255 only. A word at 0xCFD (byte lanes 1-2, legal on the
 *     bus) is carried out as two byte accesses.
 *   Reset control 0xCF9, byte access only: bit 1 SYS_RST and bit 3 FULL_RST are stored and read
 *     back; writing bit 2 (RST_CPU) set asks for a reset (devctx_stop(DEVCTX_STOP_RESET, 0, vp));
 *     bit 2 reads 0. Linux writes 0x02 then 0x06: one request, on the second write.
 *     Other widths touching 0xCF9 are not the register (reads all-ones). Accesses that straddle
 *     0xCFB/0xCFC answer IOBUS_BAD_REGISTER.
 *   ECAM: offset = bus << 20 | device << 15 | function << 12 | register, 4 KiB per function;
 *     accesses must be 1/2/4 bytes and naturally aligned (else IOBUS_BAD_REGISTER, reads
 *     all-ones). Absent functions read all-ones.
 *   Host bridge 00:00.0: vendor 0x8086, device 0x29C0 (the Q35/G33 DRAM controller id, chosen
 *     because drivers and tools know it; no claim that the rest of that chipset is modelled),
 *     class 0x060000, revision 0, header type 0, no BARs, no capabilities.
 *
 * Enumeration: a guest probes function 0 of each device and looks at functions 1..7 only when
 * function 0's header type has bit 7 (multi-function) set. pci_register accepts functions > 0
 * without function 0, and they answer to direct accesses, but a guest will not find them:
 * register function 0 (with PCI_HEADER_TYPE_MULTI_FUNCTION) for multi-function devices.
 *
 * Locking: one mutex serialises every configuration access, as a host bridge does. A
 * function's cfg_read/cfg_write run with that mutex held: they must not call pci_* (a
 * function may take its own lock inside them: order pci -> function). struct pci_cfg has no
 * lock of its own and relies on this; the owner of a pci_cfg reading it from elsewhere must
 * provide its own synchronisation.
 *
 * Not modelled: PCI-to-PCI bridges, capabilities (MSI, PCIe), the rest of the Q35 MCH
 * registers (PCIEXBAR, PAM, SMRAM: ECAM placement is fixed by the builder), INTx routing,
 * BAR decoding (a function's owner maps its own BARs), expansion ROMs (read 0: none).
 */
#ifndef MEZZ_DEVICES_PCI_H
#define MEZZ_DEVICES_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "vtl2/devctx.h"
#include "vtl2/iobus.h"

#define PCI_PORT_BASE 0xCF8
#define PCI_PORT_LEN 8
/** Bytes of ECAM space for `bus_count` buses (1 MiB per bus). */
#define PCI_ECAM_LEN(bus_count) ((uint64_t)(bus_count) << 20)

#define PCI_MAX_BUSES 256
#define PCI_MAX_DEVICES 32
#define PCI_MAX_FUNCTIONS 8
/** Registered functions per host bridge (the host bridge itself is one). */
#define PCI_MAX_REGISTERED 64
/** Configuration space bytes per function (PCIe); mechanism #1 sees the first 256. */
#define PCI_CFG_SPACE_SIZE 4096

/* Type-0 header offsets (PCI 3.0 6.1). */
#define PCI_CFG_VENDOR_ID 0x00
#define PCI_CFG_DEVICE_ID 0x02
#define PCI_CFG_COMMAND 0x04
#define PCI_CFG_STATUS 0x06
#define PCI_CFG_CLASS_REV 0x08
#define PCI_CFG_CACHE_LINE_SIZE 0x0C
#define PCI_CFG_LATENCY_TIMER 0x0D
#define PCI_CFG_HEADER_TYPE 0x0E
#define PCI_CFG_BIST 0x0F
#define PCI_CFG_BAR0 0x10
#define PCI_CFG_SUBSYSTEM_VENDOR_ID 0x2C
#define PCI_CFG_SUBSYSTEM_ID 0x2E
#define PCI_CFG_ROM_ADDRESS 0x30
#define PCI_CFG_CAP_PTR 0x34
#define PCI_CFG_INTERRUPT_LINE 0x3C
#define PCI_CFG_INTERRUPT_PIN 0x3D

#define PCI_HEADER_TYPE_MULTI_FUNCTION 0x80

#define PCI_COMMAND_IO 0x0001
#define PCI_COMMAND_MEMORY 0x0002
#define PCI_COMMAND_MASTER 0x0004
#define PCI_COMMAND_PARITY 0x0040
#define PCI_COMMAND_SERR 0x0100
#define PCI_COMMAND_INTX_DISABLE 0x0400

/* Status bits that are write-1-to-clear (error reporting, PCI 3.0 6.2.3). */
#define PCI_STATUS_W1C_MASK 0xF900

#define PCI_BAR_COUNT 6

/* Host bridge identity (see the top comment). */
#define PCI_HOST_BRIDGE_VENDOR 0x8086
#define PCI_HOST_BRIDGE_DEVICE 0x29C0
#define PCI_HOST_BRIDGE_CLASS_REV 0x06000000u

struct pci;

/**
 * A function's configuration space: offsets 0..4095, sizes 1/2/4, naturally aligned (the host
 * bridge guarantees both). A NULL cfg_read reads all-ones; a NULL cfg_write drops writes.
 * Called with the host bridge's lock held (see the top comment).
 */
struct pci_dev_ops {
	uint32_t (*cfg_read)(void *ctx, unsigned offset, unsigned size);
	void (*cfg_write)(void *ctx, unsigned offset, unsigned size, uint32_t value);
};

/**
 * Create a host bridge with buses 0..bus_count-1 and register its own function at 00:00.0.
 * `dc` is copied. -EINVAL: bus_count not 1..256, ecam_base not aligned to PCI_ECAM_LEN(1)
 * or the window wraps; -ENOMEM.
 */
int pci_create(const struct devctx *dc, uint64_t ecam_base, unsigned bus_count,
	       struct pci **out);
/** NULL is accepted. Registered functions' contexts are the caller's to free. */
void pci_destroy(struct pci *p);

extern const struct iobus_ops pci_port_ops;
extern const struct iobus_ops pci_ecam_ops;

/**
 * Attach a function at bus:dev.fn. -EINVAL: NULL p or ops, bus >= bus_count, dev >= 32,
 * fn >= 8; -EEXIST: taken (00:00.0 always is); -ENOSPC: PCI_MAX_REGISTERED reached.
 * Functions > 0 are found by enumeration only when function 0 is present and multi-function.
 */
int pci_register(struct pci *p, unsigned bus, unsigned dev, unsigned fn,
		 const struct pci_dev_ops *ops, void *ctx);

/**
 * Generic type-0 header: bytes = current values, wmask = bits the guest may write, w1c = bits
 * a guest write of 1 clears. pci_cfg_init sets: ids, class/revision, header type, subsystem
 * ids, BIST, ROM, capability pointer, interrupt pin read-only; command bits IO, MEMORY,
 * MASTER, PARITY, SERR, INTX_DISABLE writable; status error bits PCI_STATUS_W1C_MASK
 * write-1-to-clear (initially clear); cache line size, latency timer, interrupt line writable.
 * Offsets 0x40..0xFF are read-only 0 unless the owner sets bytes/wmask/w1c itself (as it may
 * for the interrupt pin or device-specific registers, before registering). Offsets 256..4095
 * read 0 (no extended capabilities). The header type's low 7 bits are reported as given, but
 * the layout is always type 0.
 */
struct pci_cfg {
	uint8_t bytes[256];
	uint8_t wmask[256];
	uint8_t w1c[256];
};

void pci_cfg_init(struct pci_cfg *c, uint16_t vendor, uint16_t device, uint32_t class_rev,
		  uint8_t header_type);
/**
 * Make BAR `bar` decode `size` bytes (power of two). Memory: 16 bytes .. 2 GiB (32-bit) or
 * .. 2^63 (is64: occupies `bar` and `bar` + 1, not prefetchable); I/O: 4 .. 256 bytes, not
 * is64. The address bits below `size` and the flag bits are read-only, so the guest's
 * all-ones write reads back the size mask. -EINVAL for anything else (bar >= 6, a 64-bit BAR
 * at 5, a header type other than 0).
 */
int pci_cfg_set_bar(struct pci_cfg *c, unsigned bar, uint64_t size, bool io, bool is64);

/** ctx = struct pci_cfg *. */
extern const struct pci_dev_ops pci_cfg_ops;

#endif
