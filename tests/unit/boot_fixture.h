/*
 * boot_fixture: a valid shim input for the boot_* unit tests and the boot_params fuzzer: a
 * params page laid out as the image builder does (VTL2 region 0x10000000 + 32 MiB), buffers
 * standing in for the parameter areas, the kernel setup bytes, the heap and the log, and a
 * host device tree / memory map / command line / VP count Hyper-V style.
 * Header-only (static functions) so each test and the fuzzer take what they need.
 */
#ifndef MEZZ_TESTS_BOOT_FIXTURE_H
#define MEZZ_TESTS_BOOT_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfdt.h>

#include "boot/shim_boot.h"
#include "boot/shim_bootp.h"
#include "boot/shim_params.h"
#include "boot/shim_pt.h"

#define BF_VTL2      0x10000000ull
#define BF_VTL2_SIZE 0x2000000ull
#define BF_DT        (BF_VTL2 + 0x10000)
#define BF_DT_SIZE   0x10000u
#define BF_MM        (BF_VTL2 + 0x20000)
#define BF_MM_SIZE   0x4000u
#define BF_CL        (BF_VTL2 + 0x24000)
#define BF_CL_SIZE   0x1000u
#define BF_VP        (BF_VTL2 + 0x25000)
#define BF_VP_SIZE   0x1000u
#define BF_LOG       (BF_VTL2 + 0x26000)
#define BF_LOG_SIZE  0x4000u
#define BF_HEAP      (BF_VTL2 + 0x2A000)
#define BF_HEAP_SIZE 0x40000u
#define BF_SETUP     (BF_VTL2 + 0x6A000)
#define BF_SETUP_SIZE 0x4000u
#define BF_SHIM      (BF_VTL2 + 0x100000)
#define BF_SHIM_SIZE 0x20000u
#define BF_KERNEL    (BF_VTL2 + 0x200000)
#define BF_KERNEL_SIZE 0x100000u
#define BF_KERNEL_SPAN 0x400000u
#define BF_INITRD    (BF_VTL2 + 0x600000)
#define BF_INITRD_SIZE 0x10000u
#define BF_STATIC_CMDLINE "console=ttyS0 panic=-1"

struct bf {
	struct mezz_shim_params p;
	uint8_t dt[BF_DT_SIZE];
	uint8_t mm[BF_MM_SIZE];
	uint8_t cl[BF_CL_SIZE];
	uint8_t vp[BF_VP_SIZE];
	uint8_t setup[BF_SETUP_SIZE];
	char log[BF_LOG_SIZE];
	uint8_t heap[BF_HEAP_SIZE] __attribute__((aligned(4096)));
	struct shim_boot boot;
	char err[SHIM_ERR_LEN];
};

static inline void bf_params(struct mezz_shim_params *p)
{
	memset(p, 0, sizeof(*p));
	p->magic = MEZZ_SHIM_PARAMS_MAGIC;
	p->version = MEZZ_SHIM_PARAMS_VERSION;
	p->size = sizeof(*p);
	p->isolation = MEZZ_ISOLATION_NONE;
	p->cmdline_policy = MEZZ_CMDLINE_APPEND_HOST;
	p->vtl2 = (struct mezz_shim_range){ BF_VTL2, BF_VTL2_SIZE };
	p->shim = (struct mezz_shim_range){ BF_SHIM, BF_SHIM_SIZE };
	p->tables = (struct mezz_shim_range){ BF_VTL2 + 0x1000, 0x7000 };
	p->kernel_setup = (struct mezz_shim_range){ BF_SETUP, BF_SETUP_SIZE };
	p->kernel = (struct mezz_shim_range){ BF_KERNEL, BF_KERNEL_SIZE };
	p->kernel_span = BF_KERNEL_SPAN;
	p->initrd = (struct mezz_shim_range){ BF_INITRD, BF_INITRD_SIZE };
	p->log = (struct mezz_shim_range){ BF_LOG, BF_LOG_SIZE };
	p->heap = (struct mezz_shim_range){ BF_HEAP, BF_HEAP_SIZE };
	p->param_device_tree = (struct mezz_shim_range){ BF_DT, BF_DT_SIZE };
	p->param_memory_map = (struct mezz_shim_range){ BF_MM, BF_MM_SIZE };
	p->param_command_line = (struct mezz_shim_range){ BF_CL, BF_CL_SIZE };
	p->param_vp_count = (struct mezz_shim_range){ BF_VP, BF_VP_SIZE };
	p->com_port = 0x3F8;
	strcpy(p->static_cmdline, BF_STATIC_CMDLINE);
}

static inline struct x86_boot_setup_header *bf_hdr(struct bf *f)
{
	return (struct x86_boot_setup_header *)(f->setup + SHIM_BP_HDR_OFF);
}

/* A protocol 2.15 relocatable 64-bit bzImage header. */
static inline void bf_setup(struct bf *f)
{
	memset(f->setup, 0, sizeof(f->setup));
	struct x86_boot_setup_header *h = bf_hdr(f);
	h->setup_sects = 4;
	h->boot_flag = SHIM_BP_BOOT_FLAG;
	h->jump = 0x6AEB; /* EB 6A: header ends at 0x26C */
	h->header = SHIM_BP_HDR_MAGIC;
	h->version = 0x020F;
	h->loadflags = SHIM_BP_LOADED_HIGH;
	h->code32_start = 0x100000;
	h->initrd_addr_max = 0x7FFFFFFF;
	h->kernel_alignment = 0x200000;
	h->relocatable_kernel = 1;
	h->min_alignment = 21;
	h->xloadflags = 3;
	h->cmdline_size = 2047;
	h->pref_address = 0x1000000;
	h->init_size = 0x300000;
}

static inline void bf_mm_entry(uint8_t *mm, unsigned i, uint64_t gpa, uint64_t size,
			       uint16_t type)
{
	uint64_t gpn = gpa >> 12, pages = size >> 12;
	memcpy(mm + i * 24, &gpn, 8);
	memcpy(mm + i * 24 + 8, &pages, 8);
	memcpy(mm + i * 24 + 16, &type, 2);
}

/* [0, VTL2) MEMORY, VTL2 region VTL2_PROTECTABLE, then MEMORY to 512 MiB, an MMIO hole. */
static inline void bf_memmap(uint8_t *mm)
{
	memset(mm, 0, BF_MM_SIZE);
	bf_mm_entry(mm, 0, 0, BF_VTL2, 0);
	bf_mm_entry(mm, 1, BF_VTL2, BF_VTL2_SIZE, 3);
	bf_mm_entry(mm, 2, BF_VTL2 + BF_VTL2_SIZE, 0x20000000 - BF_VTL2 - BF_VTL2_SIZE, 0);
	bf_mm_entry(mm, 3, 0xFEC00000, 0x1000, 1);
}

/* The host DT: 2/2 cells, `vps` cpus (APIC IDs 0..), memory nodes agreeing with bf_memmap,
   /chosen bootargs, a VMBus node. Returns 0 or a libfdt error. */
static inline int bf_dt(void *buf, size_t size, unsigned vps)
{
	int rc = 0;
#define BF_T(x) do { if (!rc) rc = (x); } while (0)
	BF_T(fdt_create(buf, (int)size));
	BF_T(fdt_finish_reservemap(buf));
	BF_T(fdt_begin_node(buf, ""));
	BF_T(fdt_property_u32(buf, "#address-cells", 2));
	BF_T(fdt_property_u32(buf, "#size-cells", 2));
	BF_T(fdt_begin_node(buf, "cpus"));
	BF_T(fdt_property_u32(buf, "#address-cells", 1));
	BF_T(fdt_property_u32(buf, "#size-cells", 0));
	for (unsigned i = 0; i < vps; i++) {
		char name[16];
		snprintf(name, sizeof(name), "cpu@%x", i);
		BF_T(fdt_begin_node(buf, name));
		BF_T(fdt_property_string(buf, "device_type", "cpu"));
		BF_T(fdt_property_u32(buf, "reg", i));
		BF_T(fdt_end_node(buf));
	}
	BF_T(fdt_end_node(buf));
	BF_T(fdt_begin_node(buf, "memory@0"));
	BF_T(fdt_property_string(buf, "device_type", "memory"));
	fdt64_t r0[2] = { cpu_to_fdt64(0), cpu_to_fdt64(BF_VTL2) };
	BF_T(fdt_property(buf, "reg", r0, sizeof(r0)));
	BF_T(fdt_property_u32(buf, "microsoft,igvm-type", 0));
	BF_T(fdt_end_node(buf));
	BF_T(fdt_begin_node(buf, "memory@10000000"));
	BF_T(fdt_property_string(buf, "device_type", "memory"));
	fdt64_t r1[2] = { cpu_to_fdt64(BF_VTL2), cpu_to_fdt64(BF_VTL2_SIZE) };
	BF_T(fdt_property(buf, "reg", r1, sizeof(r1)));
	BF_T(fdt_property_u32(buf, "microsoft,igvm-type", 3));
	BF_T(fdt_end_node(buf));
	BF_T(fdt_begin_node(buf, "chosen"));
	BF_T(fdt_property_string(buf, "bootargs", "dt_bootargs=1"));
	BF_T(fdt_end_node(buf));
	BF_T(fdt_begin_node(buf, "bus"));
	BF_T(fdt_begin_node(buf, "vmbus"));
	BF_T(fdt_property(buf, "compatible", "microsoft,vmbus\0simple-bus", 27));
	BF_T(fdt_property_u32(buf, "microsoft,message-connection-id", 4));
	BF_T(fdt_property_u32(buf, "microsoft,vtl", 2));
	BF_T(fdt_end_node(buf));
	BF_T(fdt_end_node(buf));
	BF_T(fdt_end_node(buf));
	BF_T(fdt_finish(buf));
#undef BF_T
	return rc;
}

/* The whole valid fixture: 2 VPs, host command line "host_param=1". */
static inline void bf_init(struct bf *f)
{
	bf_params(&f->p);
	bf_setup(f);
	bf_memmap(f->mm);
	memset(f->dt, 0, sizeof(f->dt));
	if (bf_dt(f->dt, sizeof(f->dt), 2))
		abort();
	memset(f->cl, 0, sizeof(f->cl));
	strcpy((char *)f->cl, "host_param=1");
	memset(f->vp, 0, sizeof(f->vp));
	uint32_t vps = 2;
	memcpy(f->vp, &vps, 4);
	memset(f->log, 0, sizeof(f->log));
	memset(f->heap, 0xCC, sizeof(f->heap));
	f->err[0] = '\0';
}

static inline struct shim_boot_mem bf_mem(struct bf *f)
{
	struct shim_boot_mem m = {
		.areas = { f->dt, f->mm, f->cl, f->vp },
		.kernel_setup = f->setup,
		.heap = f->heap,
	};
	return m;
}

static inline struct shim_host_areas bf_areas(struct bf *f)
{
	struct shim_host_areas a = { f->dt, f->mm, f->cl, f->vp };
	return a;
}

/* Run the whole shim preparation; the log goes to f->log. */
static inline int bf_prepare(struct bf *f)
{
	struct shim_log log;
	shim_log_init(&log, f->log, sizeof(f->log), NULL, NULL);
	struct shim_boot_mem m = bf_mem(f);
	return shim_boot_prepare(&f->p, &m, &f->boot, &log, f->err, sizeof(f->err));
}

static inline struct bf *bf_new(void)
{
	struct bf *f = aligned_alloc(4096, (sizeof(struct bf) + 4095) & ~(size_t)4095);
	if (!f)
		abort();
	bf_init(f);
	return f;
}

/* Bytes of the heap at a guest address inside it. */
static inline void *bf_heap_at(struct bf *f, uint64_t gpa)
{
	return f->heap + (gpa - BF_HEAP);
}

/* Translate va through the shim's identity tables in the heap (2 MiB pages, writable when
   need_rw); ~0 if unmapped. */
static inline uint64_t bf_walk(struct bf *f, uint64_t va, bool need_rw)
{
	const uint64_t *pml4 = bf_heap_at(f, f->boot.cr3);
	uint64_t e = pml4[(va >> 39) & 511];
	if (!(e & 1))
		return ~0ull;
	const uint64_t *pdpt = bf_heap_at(f, e & ~0xFFFull);
	e = pdpt[(va >> 30) & 511];
	if (!(e & 1))
		return ~0ull;
	const uint64_t *pd = bf_heap_at(f, e & ~0xFFFull);
	e = pd[(va >> 21) & 511];
	if (!(e & 1) || !(e & SHIM_PT_PS) || (need_rw && !(e & SHIM_PT_RW)))
		return ~0ull;
	return (e & 0xFFFFFFFE00000ull) | (va & 0x1FFFFF);
}

#endif
