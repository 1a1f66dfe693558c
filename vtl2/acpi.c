/* acpi: see acpi.h. Layouts are the ACPI 6.4 specification's; section numbers cited below. */
#include "vtl2/acpi.h"

#include <errno.h>
#include <string.h>

#include "vtl2/errbuf.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "acpi overlays little-endian ACPI structures"
#endif

#define OEM_ID "MEZZ  "
#define OEM_TABLE_ID "MEZZANIN"
#define CREATOR_ID "MEZZ"

/* 5.2.5.3 RSDP. */
struct rsdp {
	char signature[8];
	uint8_t checksum;        /* bytes 0..19 */
	char oem_id[6];
	uint8_t revision;
	uint32_t rsdt;
	uint32_t length;
	uint64_t xsdt;
	uint8_t ext_checksum;    /* bytes 0..length-1 */
	uint8_t reserved[3];
} __attribute__((packed));
_Static_assert(sizeof(struct rsdp) == ACPI_RSDP_LEN, "ACPI 5.2.5.3: RSDP is 36 bytes");
_Static_assert(offsetof(struct rsdp, checksum) == 8, "ACPI 5.2.5.3: checksum at 8");
_Static_assert(offsetof(struct rsdp, revision) == 15, "ACPI 5.2.5.3: revision at 15");
_Static_assert(offsetof(struct rsdp, rsdt) == 16, "ACPI 5.2.5.3: RsdtAddress at 16");
_Static_assert(offsetof(struct rsdp, length) == 20, "ACPI 5.2.5.3: length at 20");
_Static_assert(offsetof(struct rsdp, xsdt) == 24, "ACPI 5.2.5.3: XsdtAddress at 24");
_Static_assert(offsetof(struct rsdp, ext_checksum) == 32, "ACPI 5.2.5.3: extended checksum at 32");

/* 5.2.6 System Description Table Header. */
struct sdt_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} __attribute__((packed));
_Static_assert(sizeof(struct sdt_header) == ACPI_HDR_LEN, "ACPI 5.2.6: header is 36 bytes");
_Static_assert(offsetof(struct sdt_header, checksum) == 9, "ACPI 5.2.6: checksum at 9");
_Static_assert(offsetof(struct sdt_header, oem_table_id) == 16, "ACPI 5.2.6: OEM table id at 16");
_Static_assert(offsetof(struct sdt_header, creator_revision) == 32, "ACPI 5.2.6: creator revision at 32");

/* 5.2.3.2 Generic Address Structure. */
struct gas {
	uint8_t space;           /* 0 memory, 1 system I/O */
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size;     /* 1 byte, 2 word, 3 dword, 4 qword */
	uint64_t address;
} __attribute__((packed));
_Static_assert(sizeof(struct gas) == 12, "ACPI 5.2.3.2: GAS is 12 bytes");

/* 5.2.9 FADT, Table 5.9 (revision 6). */
struct fadt {
	struct sdt_header h;
	uint32_t firmware_ctrl;
	uint32_t dsdt;
	uint8_t reserved0;
	uint8_t preferred_pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable, acpi_disable, s4bios_req, pstate_cnt;
	uint32_t pm1a_evt_blk, pm1b_evt_blk, pm1a_cnt_blk, pm1b_cnt_blk, pm2_cnt_blk, pm_tmr_blk;
	uint32_t gpe0_blk, gpe1_blk;
	uint8_t pm1_evt_len, pm1_cnt_len, pm2_cnt_len, pm_tmr_len, gpe0_blk_len, gpe1_blk_len;
	uint8_t gpe1_base, cst_cnt;
	uint16_t p_lvl2_lat, p_lvl3_lat, flush_size, flush_stride;
	uint8_t duty_offset, duty_width, day_alrm, mon_alrm, century;
	uint16_t iapc_boot_arch;
	uint8_t reserved1;
	uint32_t flags;
	struct gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t minor_version;
	uint64_t x_firmware_ctrl;
	uint64_t x_dsdt;
	struct gas x_pm1a_evt_blk, x_pm1b_evt_blk, x_pm1a_cnt_blk, x_pm1b_cnt_blk, x_pm2_cnt_blk;
	struct gas x_pm_tmr_blk, x_gpe0_blk, x_gpe1_blk, sleep_control, sleep_status;
	uint64_t hypervisor_vendor_id;
} __attribute__((packed));
_Static_assert(sizeof(struct fadt) == ACPI_FADT_LEN, "ACPI Table 5.9: FADT rev 6 is 276 bytes");
_Static_assert(offsetof(struct fadt, firmware_ctrl) == ACPI_FADT_FIRMWARE_CTRL, "ACPI Table 5.9: FIRMWARE_CTRL at 36");
_Static_assert(offsetof(struct fadt, dsdt) == ACPI_FADT_DSDT, "ACPI Table 5.9: DSDT at 40");
_Static_assert(offsetof(struct fadt, preferred_pm_profile) == ACPI_FADT_PM_PROFILE, "ACPI Table 5.9: Preferred_PM_Profile at 45");
_Static_assert(offsetof(struct fadt, sci_int) == ACPI_FADT_SCI_INT, "ACPI Table 5.9: SCI_INT at 46");
_Static_assert(offsetof(struct fadt, smi_cmd) == ACPI_FADT_SMI_CMD, "ACPI Table 5.9: SMI_CMD at 48");
_Static_assert(offsetof(struct fadt, pm1a_evt_blk) == ACPI_FADT_PM1A_EVT_BLK, "ACPI Table 5.9: PM1a_EVT_BLK at 56");
_Static_assert(offsetof(struct fadt, pm1a_cnt_blk) == ACPI_FADT_PM1A_CNT_BLK, "ACPI Table 5.9: PM1a_CNT_BLK at 64");
_Static_assert(offsetof(struct fadt, pm_tmr_blk) == ACPI_FADT_PM_TMR_BLK, "ACPI Table 5.9: PM_TMR_BLK at 76");
_Static_assert(offsetof(struct fadt, pm1_evt_len) == ACPI_FADT_PM1_EVT_LEN, "ACPI Table 5.9: PM1_EVT_LEN at 88");
_Static_assert(offsetof(struct fadt, pm1_cnt_len) == ACPI_FADT_PM1_CNT_LEN, "ACPI Table 5.9: PM1_CNT_LEN at 89");
_Static_assert(offsetof(struct fadt, pm_tmr_len) == ACPI_FADT_PM_TMR_LEN, "ACPI Table 5.9: PM_TMR_LEN at 91");
_Static_assert(offsetof(struct fadt, p_lvl2_lat) == ACPI_FADT_P_LVL2_LAT, "ACPI Table 5.9: P_LVL2_LAT at 96");
_Static_assert(offsetof(struct fadt, p_lvl3_lat) == ACPI_FADT_P_LVL3_LAT, "ACPI Table 5.9: P_LVL3_LAT at 98");
_Static_assert(offsetof(struct fadt, century) == ACPI_FADT_CENTURY, "ACPI Table 5.9: CENTURY at 108");
_Static_assert(offsetof(struct fadt, iapc_boot_arch) == ACPI_FADT_IAPC_BOOT_ARCH, "ACPI Table 5.9: IAPC_BOOT_ARCH at 109");
_Static_assert(offsetof(struct fadt, flags) == ACPI_FADT_FLAGS, "ACPI Table 5.9: Flags at 112");
_Static_assert(offsetof(struct fadt, reset_reg) == ACPI_FADT_RESET_REG, "ACPI Table 5.9: RESET_REG at 116");
_Static_assert(offsetof(struct fadt, reset_value) == ACPI_FADT_RESET_VALUE, "ACPI Table 5.9: RESET_VALUE at 128");
_Static_assert(offsetof(struct fadt, minor_version) == ACPI_FADT_MINOR_VERSION, "ACPI Table 5.9: FADT Minor Version at 131");
_Static_assert(offsetof(struct fadt, x_firmware_ctrl) == ACPI_FADT_X_FIRMWARE_CTRL, "ACPI Table 5.9: X_FIRMWARE_CTRL at 132");
_Static_assert(offsetof(struct fadt, x_dsdt) == ACPI_FADT_X_DSDT, "ACPI Table 5.9: X_DSDT at 140");
_Static_assert(offsetof(struct fadt, x_pm1a_evt_blk) == ACPI_FADT_X_PM1A_EVT_BLK, "ACPI Table 5.9: X_PM1a_EVT_BLK at 148");
_Static_assert(offsetof(struct fadt, x_pm1a_cnt_blk) == ACPI_FADT_X_PM1A_CNT_BLK, "ACPI Table 5.9: X_PM1a_CNT_BLK at 172");
_Static_assert(offsetof(struct fadt, x_pm_tmr_blk) == ACPI_FADT_X_PM_TMR_BLK, "ACPI Table 5.9: X_PM_TMR_BLK at 208");
_Static_assert(offsetof(struct fadt, sleep_control) == ACPI_FADT_SLEEP_CONTROL, "ACPI Table 5.9: SLEEP_CONTROL_REG at 244");
_Static_assert(offsetof(struct fadt, sleep_status) == ACPI_FADT_SLEEP_STATUS, "ACPI Table 5.9: SLEEP_STATUS_REG at 256");
_Static_assert(offsetof(struct fadt, hypervisor_vendor_id) == ACPI_FADT_HYPERVISOR_ID, "ACPI Table 5.9: Hypervisor Vendor Identity at 268");

/* 5.2.10 FACS (no checksum). */
struct facs {
	char signature[4];
	uint32_t length;
	uint32_t hardware_signature;
	uint32_t waking_vector;
	uint32_t global_lock;
	uint32_t flags;
	uint64_t x_waking_vector;
	uint8_t version;
	uint8_t reserved0[3];
	uint32_t ospm_flags;
	uint8_t reserved1[24];
} __attribute__((packed));
_Static_assert(sizeof(struct facs) == ACPI_FACS_LEN, "ACPI 5.2.10: FACS is 64 bytes");
_Static_assert(offsetof(struct facs, version) == 32, "ACPI 5.2.10: version at 32");

/* 5.2.12 MADT and its entries. */
struct madt {
	struct sdt_header h;
	uint32_t lapic_address;
	uint32_t flags;
} __attribute__((packed));
_Static_assert(sizeof(struct madt) == ACPI_MADT_ENTRIES, "ACPI 5.2.12: MADT entries start at 44");

struct madt_lapic {
	uint8_t type, length, uid, apic_id;
	uint32_t flags;
} __attribute__((packed));
_Static_assert(sizeof(struct madt_lapic) == ACPI_MADT_LAPIC_LEN, "ACPI 5.2.12.2: Processor Local APIC is 8 bytes");

struct madt_ioapic {
	uint8_t type, length, id, reserved;
	uint32_t address;
	uint32_t gsi_base;
} __attribute__((packed));
_Static_assert(sizeof(struct madt_ioapic) == ACPI_MADT_IOAPIC_LEN, "ACPI 5.2.12.3: I/O APIC is 12 bytes");

struct madt_iso {
	uint8_t type, length, bus, source;
	uint32_t gsi;
	uint16_t flags;
} __attribute__((packed));
_Static_assert(sizeof(struct madt_iso) == ACPI_MADT_ISO_LEN, "ACPI 5.2.12.5: Interrupt Source Override is 10 bytes");
_Static_assert(offsetof(struct madt_iso, gsi) == 4, "ACPI 5.2.12.5: GSI at 4");
_Static_assert(offsetof(struct madt_iso, flags) == 8, "ACPI 5.2.12.5: flags at 8");

struct madt_x2apic {
	uint8_t type, length;
	uint16_t reserved;
	uint32_t x2apic_id;
	uint32_t flags;
	uint32_t uid;
} __attribute__((packed));
_Static_assert(sizeof(struct madt_x2apic) == ACPI_MADT_X2APIC_LEN, "ACPI 5.2.12.12: Processor Local x2APIC is 16 bytes");
_Static_assert(offsetof(struct madt_x2apic, uid) == 12, "ACPI 5.2.12.12: UID at 12");

#define MADT_ENABLED 0x1u
/* MPS INTI flags (Table 5.26): polarity bits 1:0 (1 high), trigger bits 3:2 (1 edge, 3 level). */
#define INTI_HIGH_EDGE 0x0005u
#define INTI_HIGH_LEVEL 0x000Du

/* ---- a tiny AML emitter (ACPI 6.4 chapter 20) ---- */

#define AML_ZERO 0x00
#define AML_ONE 0x01
#define AML_NAME 0x08
#define AML_BYTE 0x0A
#define AML_WORD 0x0B
#define AML_DWORD 0x0C
#define AML_QWORD 0x0E
#define AML_SCOPE 0x10
#define AML_BUFFER 0x11
#define AML_PACKAGE 0x12
#define AML_EXT 0x5B
#define AML_DEVICE 0x82 /* after AML_EXT */
#define AML_ROOT 0x5C
#define AML_STRING 0x0D
#define AML_MAX_DSDT 512 /* the body this module emits is far smaller */

struct aml {
	uint8_t b[AML_MAX_DSDT];
	size_t len;
	bool overflow;
};

static void aml_byte(struct aml *a, uint8_t v)
{
	if (a->len < sizeof(a->b))
		a->b[a->len++] = v;
	else
		a->overflow = true;
}

static void aml_bytes(struct aml *a, const void *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		aml_byte(a, ((const uint8_t *)p)[i]);
}

/* A NameSeg: exactly four characters (callers pad with '_'). */
static void aml_seg(struct aml *a, const char *seg)
{
	aml_bytes(a, seg, 4);
}

/* Smallest integer encoding (20.2.3 ComputationalData). */
static void aml_int(struct aml *a, uint64_t v)
{
	if (v == 0 || v == 1) {
		aml_byte(a, v ? AML_ONE : AML_ZERO);
		return;
	}
	unsigned n = v <= 0xFF ? 1 : v <= 0xFFFF ? 2 : v <= 0xFFFFFFFF ? 4 : 8;
	aml_byte(a, n == 1 ? AML_BYTE : n == 2 ? AML_WORD : n == 4 ? AML_DWORD : AML_QWORD);
	for (unsigned i = 0; i < n; i++)
		aml_byte(a, (uint8_t)(v >> (8 * i)));
}

/* PkgLength (20.2.4) counts itself, so it is inserted once the body is known. */
static size_t aml_pkg_begin(const struct aml *a)
{
	return a->len;
}

static void aml_pkg_end(struct aml *a, size_t start)
{
	size_t body = a->len - start;
	unsigned k = body + 1 <= 0x3F ? 1 : body + 2 <= 0xFFF ? 2 : body + 3 <= 0xFFFFF ? 3 : 4;
	size_t total = body + k;
	if (a->overflow || a->len + k > sizeof(a->b) || total > 0xFFFFFFF) {
		a->overflow = true;
		return;
	}
	memmove(a->b + start + k, a->b + start, body);
	if (k == 1) {
		a->b[start] = (uint8_t)total;
	} else {
		a->b[start] = (uint8_t)(((k - 1) << 6) | (total & 0xF));
		for (unsigned i = 1; i < k; i++)
			a->b[start + i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	}
	a->len += k;
}

/* EISA id "PNPdddd" compressed into a DWORD (ACPI 6.1.5 _HID, EISAID). */
static uint32_t eisa_id(const char id[7])
{
	uint16_t vendor = (uint16_t)(((id[0] - 0x40) & 0x1F) << 10 | ((id[1] - 0x40) & 0x1F) << 5 |
				     ((id[2] - 0x40) & 0x1F));
	uint16_t product = 0;
	for (int i = 3; i < 7; i++) {
		char c = id[i];
		product = (uint16_t)(product << 4 | (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10));
	}
	/* Stored big-endian by byte: vendor high, vendor low, product high, product low. */
	return (uint32_t)(vendor >> 8) | (uint32_t)(vendor & 0xFF) << 8 | (uint32_t)(product >> 8) << 16 |
	       (uint32_t)(product & 0xFF) << 24;
}

/* Scope(\_SB_) { Device(name) { ...: the body follows; close with aml_sb_device_end. */
static void aml_sb_device_begin(struct aml *a, const char *name, size_t *sb, size_t *dev)
{
	aml_byte(a, AML_SCOPE);
	*sb = aml_pkg_begin(a);
	aml_byte(a, AML_ROOT);
	aml_seg(a, "_SB_");
	aml_byte(a, AML_EXT);
	aml_byte(a, AML_DEVICE);
	*dev = aml_pkg_begin(a);
	aml_seg(a, name);
}

static void aml_sb_device_end(struct aml *a, size_t sb, size_t dev)
{
	aml_pkg_end(a, dev);
	aml_pkg_end(a, sb);
}

static void aml_com1(struct aml *a)
{
	/* Resource template (6.4.2): I/O port descriptor, IRQ descriptor without flags, end tag. */
	static const uint8_t crs[] = {
		0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x01, 0x08, /* IO(Decode16, 0x3F8, 0x3F8, 1, 8) */
		0x22, 0x10, 0x00,                               /* IRQNoFlags() {4} */
		0x79, 0x00,                                     /* end tag, checksum 0 = not used */
	};
	size_t sb, dev;
	aml_sb_device_begin(a, "COM1", &sb, &dev);
	aml_byte(a, AML_NAME);
	aml_seg(a, "_HID");
	aml_int(a, eisa_id("PNP0501"));
	aml_byte(a, AML_NAME);
	aml_seg(a, "_UID");
	aml_int(a, 1);
	aml_byte(a, AML_NAME);
	aml_seg(a, "_CRS");
	aml_byte(a, AML_BUFFER);
	size_t buf = aml_pkg_begin(a);
	aml_int(a, sizeof(crs));
	aml_bytes(a, crs, sizeof(crs));
	aml_pkg_end(a, buf);
	aml_sb_device_end(a, sb, dev);
}

/*
 * Scope(\_SB) { Device(VMBS) { Name(_ADR, Zero) Name(_CID, "VMBus") } }: Linux's hv_vmbus
 * matches the id "VMBus" (or "VMBUS") as _HID or _CID; a _HID must be a 7- or 8-character
 * ACPI/PNP id (iasl refuses "VMBus" there), a _CID string need not be. No _CRS: no MMIO
 * space for VMBus devices yet.
 */
static void aml_vmbus(struct aml *a)
{
	size_t sb, dev;
	aml_sb_device_begin(a, "VMBS", &sb, &dev);
	aml_byte(a, AML_NAME);
	aml_seg(a, "_ADR");
	aml_int(a, 0);
	aml_byte(a, AML_NAME);
	aml_seg(a, "_CID");
	aml_byte(a, AML_STRING);
	aml_bytes(a, "VMBus", 6); /* with its NUL */
	aml_sb_device_end(a, sb, dev);
}

static void dsdt_body(const struct acpi_config *cfg, struct aml *a)
{
	memset(a, 0, sizeof(*a));
	/* Name(\_S5, Package(){SLP_TYPa, SLP_TYPb, 0, 0}) at the root (7.4.2). */
	aml_byte(a, AML_NAME);
	aml_seg(a, "_S5_");
	aml_byte(a, AML_PACKAGE);
	size_t pkg = aml_pkg_begin(a);
	aml_byte(a, 4); /* NumElements */
	aml_int(a, ACPI_S5_SLP_TYP);
	aml_int(a, ACPI_S5_SLP_TYP);
	aml_int(a, 0);
	aml_int(a, 0);
	aml_pkg_end(a, pkg);
	if (cfg->com1)
		aml_com1(a);
	if (cfg->vmbus)
		aml_vmbus(a);
}

/* ---- tables ---- */

uint8_t acpi_checksum(const uint8_t *buf, size_t len)
{
	uint8_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + buf[i]);
	return (uint8_t)(0 - sum);
}

static size_t al(size_t v, size_t a) { return (v + a - 1) & ~(a - 1); }

static uint32_t madt_len(uint32_t vps)
{
	uint32_t lapics = vps < ACPI_MADT_X2APIC_MIN_ID ? vps : ACPI_MADT_X2APIC_MIN_ID;
	return ACPI_MADT_ENTRIES + ACPI_MADT_IOAPIC_LEN + 2 * ACPI_MADT_ISO_LEN +
	       lapics * ACPI_MADT_LAPIC_LEN + (vps - lapics) * ACPI_MADT_X2APIC_LEN;
}

/* Offsets of every table for cfg; false if cfg is invalid. */
static bool plan(const struct acpi_config *cfg, struct acpi_tables *t, struct aml *dsdt)
{
	if (!cfg || cfg->vp_count == 0 || cfg->vp_count > ACPI_MAX_VPS || cfg->base.v & (ADDR_PAGE_SIZE - 1))
		return false;
	dsdt_body(cfg, dsdt);
	if (dsdt->overflow)
		return false;
	memset(t, 0, sizeof(*t));
	size_t off = al(ACPI_RSDP_LEN, 16);
	t->xsdt_off = (uint32_t)off;
	t->xsdt_len = ACPI_HDR_LEN + 2 * 8;
	off = al(off + t->xsdt_len, 16);
	t->rsdt_off = (uint32_t)off;
	t->rsdt_len = ACPI_HDR_LEN + 2 * 4;
	off = al(off + t->rsdt_len, 16);
	t->fadt_off = (uint32_t)off;
	t->fadt_len = ACPI_FADT_LEN;
	off = al(off + t->fadt_len, 64);
	t->facs_off = (uint32_t)off;
	t->facs_len = ACPI_FACS_LEN;
	off = al(off + t->facs_len, 16);
	t->madt_off = (uint32_t)off;
	t->madt_len = madt_len(cfg->vp_count);
	off = al(off + t->madt_len, 16);
	t->dsdt_off = (uint32_t)off;
	t->dsdt_len = (uint32_t)(ACPI_HDR_LEN + dsdt->len);
	t->len = off + t->dsdt_len;
	/* x86 guest-physical addresses have at most 52 bits. */
	if (cfg->base.v > (1ull << 52) - t->len)
		return false;
	/* The RSDT holds 32-bit pointers: only when every table is below 4 GiB. */
	if (cfg->base.v + t->len > 0x100000000ull)
		t->rsdt_len = 0;
	t->rsdp = cfg->base;
	return true;
}

size_t acpi_size(const struct acpi_config *cfg)
{
	struct acpi_tables t;
	struct aml dsdt;
	return plan(cfg, &t, &dsdt) ? t.len : 0;
}

static void header(uint8_t *p, const char *sig, uint32_t len, uint8_t rev)
{
	struct sdt_header h;
	memset(&h, 0, sizeof(h));
	memcpy(h.signature, sig, 4);
	h.length = len;
	h.revision = rev;
	memcpy(h.oem_id, OEM_ID, 6);
	memcpy(h.oem_table_id, OEM_TABLE_ID, 8);
	h.oem_revision = 1;
	memcpy(h.creator_id, CREATOR_ID, 4);
	h.creator_revision = 1;
	memcpy(p, &h, sizeof(h));
}

static void seal(uint8_t *p, uint32_t len)
{
	p[offsetof(struct sdt_header, checksum)] = 0;
	p[offsetof(struct sdt_header, checksum)] = acpi_checksum(p, len);
}

static struct gas io_gas(uint16_t port, uint8_t bytes, uint8_t access)
{
	return (struct gas){ .space = 1, .bit_width = (uint8_t)(bytes * 8), .bit_offset = 0,
			     .access_size = access, .address = port };
}

static void build_fadt(const struct acpi_config *cfg, const struct acpi_tables *t, uint8_t *p)
{
	struct fadt f;
	uint64_t base = cfg->base.v;
	memset(&f, 0, sizeof(f));
	header((uint8_t *)&f.h, "FACP", ACPI_FADT_LEN, 6);
	f.minor_version = 3;
	f.x_firmware_ctrl = base + t->facs_off; /* only the X form: the spec wants one of the two */
	if (base + t->dsdt_off < 0x100000000ull)
		f.dsdt = (uint32_t)(base + t->dsdt_off);
	f.x_dsdt = base + t->dsdt_off;
	f.sci_int = ACPI_SCI_IRQ;
	f.smi_cmd = 0;  /* no SMM: the platform is always in ACPI mode (SCI_EN reads 1) */
	f.pm1a_evt_blk = ACPI_PM_BLK;
	f.pm1a_cnt_blk = ACPI_PM_BLK + 4;
	f.pm_tmr_blk = ACPI_PM_BLK + 8;
	f.pm1_evt_len = 4;
	f.pm1_cnt_len = 2;
	f.pm_tmr_len = 4;
	f.x_pm1a_evt_blk = io_gas(ACPI_PM_BLK, 4, 2);
	f.x_pm1a_cnt_blk = io_gas(ACPI_PM_BLK + 4, 2, 2);
	f.x_pm_tmr_blk = io_gas(ACPI_PM_BLK + 8, 4, 3);
	f.p_lvl2_lat = 101;  /* > 100: no C2 */
	f.p_lvl3_lat = 1001; /* > 1000: no C3 */
	f.century = ACPI_RTC_CENTURY;
	f.iapc_boot_arch = ACPI_BOOT_LEGACY_DEVICES | ACPI_BOOT_NO_VGA | (cfg->i8042 ? ACPI_BOOT_8042 : 0);
	f.flags = ACPI_FADT_F_WBINVD | ACPI_FADT_F_PROC_C1 | ACPI_FADT_F_SLP_BUTTON | ACPI_FADT_F_RESET_REG_SUP |
		  (cfg->no_power_button ? ACPI_FADT_F_PWR_BUTTON : 0);
	f.reset_reg = io_gas(ACPI_RESET_PORT, 1, 1);
	f.reset_value = ACPI_RESET_VALUE;
	memcpy(p, &f, sizeof(f));
	seal(p, ACPI_FADT_LEN);
}

static void build_madt(const struct acpi_config *cfg, const struct acpi_tables *t, uint8_t *p)
{
	struct madt m;
	memset(&m, 0, sizeof(m));
	header((uint8_t *)&m.h, "APIC", t->madt_len, 5);
	m.lapic_address = ACPI_LAPIC_BASE;
	m.flags = ACPI_MADT_PCAT_COMPAT;
	memcpy(p, &m, sizeof(m));
	size_t off = sizeof(m);
	for (uint32_t vp = 0; vp < cfg->vp_count; vp++) {
		if (vp < ACPI_MADT_X2APIC_MIN_ID) {
			struct madt_lapic e = { ACPI_MADT_LAPIC, ACPI_MADT_LAPIC_LEN, (uint8_t)vp, (uint8_t)vp,
						MADT_ENABLED };
			memcpy(p + off, &e, sizeof(e));
			off += sizeof(e);
		} else {
			struct madt_x2apic e = { ACPI_MADT_X2APIC, ACPI_MADT_X2APIC_LEN, 0, vp, MADT_ENABLED, vp };
			memcpy(p + off, &e, sizeof(e));
			off += sizeof(e);
		}
	}
	struct madt_ioapic io = { ACPI_MADT_IOAPIC, ACPI_MADT_IOAPIC_LEN, ACPI_IOAPIC_ID, 0, ACPI_IOAPIC_BASE, 0 };
	memcpy(p + off, &io, sizeof(io));
	off += sizeof(io);
	/* ISA IRQ 0 (PIT) is wired to IOAPIC pin 2; the SCI is level, driven high when asserted. */
	struct madt_iso iso0 = { ACPI_MADT_ISO, ACPI_MADT_ISO_LEN, 0, 0, 2, INTI_HIGH_EDGE };
	struct madt_iso sci = { ACPI_MADT_ISO, ACPI_MADT_ISO_LEN, 0, ACPI_SCI_IRQ, ACPI_SCI_IRQ, INTI_HIGH_LEVEL };
	memcpy(p + off, &iso0, sizeof(iso0));
	off += sizeof(iso0);
	memcpy(p + off, &sci, sizeof(sci));
	seal(p, t->madt_len);
}

int acpi_build(const struct acpi_config *cfg, uint8_t *buf, size_t cap, struct acpi_tables *out,
	       char *err, size_t errlen)
{
	struct acpi_tables t;
	struct aml dsdt;

	if (!out)
		return errbuf_set(err, errlen, -EINVAL, "acpi: no output");
	memset(out, 0, sizeof(*out));
	if (!plan(cfg, &t, &dsdt))
		return errbuf_set(err, errlen, -EINVAL, "acpi: invalid config (need 1..%u VPs, a page-aligned base)",
				  ACPI_MAX_VPS);
	if (!buf || cap < t.len) {
		out->len = t.len;
		return errbuf_set(err, errlen, -ENOSPC, "acpi: tables need %zu bytes, buffer has %zu", t.len,
				  buf ? cap : 0);
	}
	memset(buf, 0, t.len);
	uint64_t base = cfg->base.v;

	/* XSDT / RSDT: FACP, APIC (the DSDT and FACS are reached through the FADT). */
	uint8_t *x = buf + t.xsdt_off;
	header(x, "XSDT", t.xsdt_len, 1);
	uint64_t xe[2] = { base + t.fadt_off, base + t.madt_off };
	memcpy(x + ACPI_HDR_LEN, xe, sizeof(xe));
	seal(x, t.xsdt_len);
	if (t.rsdt_len) {
		uint8_t *r = buf + t.rsdt_off;
		header(r, "RSDT", t.rsdt_len, 1);
		uint32_t re[2] = { (uint32_t)xe[0], (uint32_t)xe[1] };
		memcpy(r + ACPI_HDR_LEN, re, sizeof(re));
		seal(r, t.rsdt_len);
	}

	build_fadt(cfg, &t, buf + t.fadt_off);

	struct facs fs;
	memset(&fs, 0, sizeof(fs));
	memcpy(fs.signature, "FACS", 4);
	fs.length = ACPI_FACS_LEN;
	fs.version = 2;
	memcpy(buf + t.facs_off, &fs, sizeof(fs));

	build_madt(cfg, &t, buf + t.madt_off);

	uint8_t *d = buf + t.dsdt_off;
	header(d, "DSDT", t.dsdt_len, 2); /* revision 2: 64-bit AML integers */
	memcpy(d + ACPI_HDR_LEN, dsdt.b, dsdt.len);
	seal(d, t.dsdt_len);

	struct rsdp rp;
	memset(&rp, 0, sizeof(rp));
	memcpy(rp.signature, "RSD PTR ", 8);
	memcpy(rp.oem_id, OEM_ID, 6);
	rp.revision = 2;
	rp.rsdt = t.rsdt_len ? (uint32_t)(base + t.rsdt_off) : 0;
	rp.length = ACPI_RSDP_LEN;
	rp.xsdt = base + t.xsdt_off;
	memcpy(buf, &rp, sizeof(rp));
	buf[offsetof(struct rsdp, checksum)] = acpi_checksum(buf, 20);
	buf[offsetof(struct rsdp, ext_checksum)] = acpi_checksum(buf, ACPI_RSDP_LEN);

	*out = t;
	return 0;
}
