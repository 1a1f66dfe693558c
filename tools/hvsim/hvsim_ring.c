/*
 * hvsim: entering CPL 0 from CPL 3 for VTL0.
 *
 * unicorn never delivers exceptions or SYSCALL itself, and in 64-bit mode a CS/SS write through
 * its API changes only the selector, not the privilege level (docs/unicorn-notes: "Ring
 * transitions"). What it does execute architecturally is a far call through a call gate. So to
 * take an exception, interrupt or SYSCALL from user mode, hvsim runs a two-instruction detour
 * in a private address space of its own: CR3, GDTR and TR are pointed at private tables, a
 * ring-3 stub calls through a DPL-3 call gate to a ring-0 code segment, and the run stops at the
 * gate's target (`until`), now at CPL 0. The guest's CR3, GDTR and TR are then put back; the
 * caller writes the guest's own CS/SS selectors (selector-only writes keep the ring-0 hidden
 * state) and builds the frame as before. RIP, RSP and RFLAGS come back unchanged.
 *
 * The private pages live at HVSIM_RING_PA, above any guest RAM hvsim accepts (3 GiB) and below
 * 2^40 (QEMU's physical-address width, so the PTEs are valid). VTL0 could map that address in
 * its own page tables; the bytes hvsim relies on are rewritten before every use, so nothing it
 * writes there survives into a transition, and nothing secret is there to read.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tools/hvsim/hvsim_priv.h"

/* Physical layout: PML4, PDPT, PD, PT, the user stub page, the supervisor page. */
#define RING_PAGES 6
#define RING_PML4 0
#define RING_PDPT 1
#define RING_PD 2
#define RING_PT 3
#define RING_USER 4
#define RING_SUPER 5

/* Linear layout: the stub at 1 MiB (user), the tables and stack right above (supervisor). */
#define RING_LA_USER 0x100000ull
#define RING_LA_SUPER 0x101000ull

/* Inside the supervisor page. */
#define SUP_GDT 0x000       /* null, ring-0 64-bit code, call gate (16 bytes) */
#define SUP_TSS 0x100       /* 104-byte 64-bit TSS: only RSP0 is used */
#define SUP_TARGET 0x800    /* the gate's target: never executed (the run stops there) */
#define SUP_STACK_TOP 0xF00 /* RSP0: the gate pushes SS, RSP, CS, RIP here */

#define SEL_CODE0 0x08
#define SEL_GATE 0x13 /* GDT index 2, RPL 3 */

#define PTE_P 0x1ull
#define PTE_RW 0x2ull
#define PTE_US 0x4ull

/* unicorn's cached-descriptor flags (QEMU's DESC_*): present, 64-bit TSS (busy). */
#define RING_TSS_FLAGS (0x8000u | (0xBu << 8))

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

int hvsim_ring_init(struct hvsim_vp *vp)
{
	vp->ring_mem = aligned_alloc(ADDR_PAGE_SIZE, RING_PAGES * ADDR_PAGE_SIZE);
	if (!vp->ring_mem)
		return -ENOMEM;
	memset(vp->ring_mem, 0, RING_PAGES * ADDR_PAGE_SIZE);
	if (uc_mem_map_ptr(vp->uc, HVSIM_RING_PA, RING_PAGES * ADDR_PAGE_SIZE, UC_PROT_ALL,
			   vp->ring_mem) != UC_ERR_OK)
		return -EIO;
	return 0;
}

void hvsim_ring_fini(struct hvsim_vp *vp)
{
	free(vp->ring_mem);
	vp->ring_mem = NULL;
}

/* (Re)write every byte the detour depends on: VTL0 may have written to these pages. */
static void ring_write_tables(struct hvsim_vp *vp)
{
	uint8_t *m = vp->ring_mem;
	uint64_t pa = HVSIM_RING_PA, pg = ADDR_PAGE_SIZE;
	uint64_t flags = PTE_P | PTE_RW | PTE_US;
	put64(m + RING_PML4 * pg, (pa + RING_PDPT * pg) | flags);
	put64(m + RING_PDPT * pg, (pa + RING_PD * pg) | flags);
	put64(m + RING_PD * pg, (pa + RING_PT * pg) | flags);
	/* The stub page is user (it runs at CPL 3); the rest supervisor (SMAP/SMEP-proof). */
	put64(m + RING_PT * pg + ((RING_LA_USER >> 12) & 511) * 8,
	      (pa + RING_USER * pg) | PTE_P | PTE_US);
	put64(m + RING_PT * pg + ((RING_LA_SUPER >> 12) & 511) * 8,
	      (pa + RING_SUPER * pg) | PTE_P | PTE_RW);

	/* call far qword [rip + 9] (REX.W FF /3), then ud2 as a backstop; m16:64 at +16. */
	static const uint8_t stub[9] = { 0x48, 0xFF, 0x1D, 0x09, 0x00, 0x00, 0x00, 0x0F, 0x0B };
	uint8_t *u = m + RING_USER * pg;
	memcpy(u, stub, sizeof(stub));
	put64(u + 16, 0); /* offset: ignored for a call gate */
	u[24] = SEL_GATE;
	u[25] = 0;

	uint8_t *s = m + RING_SUPER * pg;
	put64(s + SUP_GDT, 0);
	put64(s + SUP_GDT + 8, 0x00AF9A000000FFFFull); /* 64-bit code, DPL 0, present */
	uint64_t target = RING_LA_SUPER + SUP_TARGET;
	uint8_t gate[16] = { 0 };
	gate[0] = (uint8_t)target;
	gate[1] = (uint8_t)(target >> 8);
	gate[2] = SEL_CODE0;
	gate[5] = 0x80 | (3 << 5) | 0xC; /* present, DPL 3, 64-bit call gate */
	gate[6] = (uint8_t)(target >> 16);
	gate[7] = (uint8_t)(target >> 24);
	uint32_t hi = (uint32_t)(target >> 32);
	memcpy(gate + 8, &hi, 4);
	memcpy(s + SUP_GDT + 16, gate, 16);
	memset(s + SUP_TSS, 0, 104);
	put64(s + SUP_TSS + 4, RING_LA_SUPER + SUP_STACK_TOP); /* RSP0 */
}

/*
 * Run one of hvsim's detours from `start` (RIP) to `until` (linear) with the block hook
 * standing aside; it worked if it stopped at `want_rip` in the private ring-0 code segment.
 */
static int run_detour(struct hvsim_vp *vp, uint64_t start, uint64_t until, uint64_t want_rip,
		      const char *what)
{
	vp->ring_detour = true;
	vp->stop = HVSIM_STOP_NONE;
	uc_err uerr = hvsim_vp_emu(vp, start, until, 0);
	vp->ring_detour = false;
	vp->stop = HVSIM_STOP_NONE;
	uint64_t rip = hvsim_rd(vp, UC_X86_REG_RIP), cs = hvsim_rd(vp, UC_X86_REG_CS);
	if (uerr == UC_ERR_OK && rip == want_rip && cs == SEL_CODE0)
		return 0;
	hvsim_trace(vp->sim, "hvsim: vp%u %s detour failed (%s, rip %#llx cs %#llx)", vp->index,
		    what, uc_strerror(uerr), (unsigned long long)rip, (unsigned long long)cs);
	return -EIO;
}

int hvsim_ring_enter_cpl0(struct hvsim_vp *vp)
{
	if (!vp->ring_mem)
		return -ENODEV;
	uc_x86_mmr gdtr, tr;
	if (uc_reg_read(vp->uc, UC_X86_REG_GDTR, &gdtr) || uc_reg_read(vp->uc, UC_X86_REG_TR, &tr))
		return -EIO;
	uint64_t cr3 = hvsim_rd(vp, UC_X86_REG_CR3);
	uint64_t rflags = hvsim_rd(vp, UC_X86_REG_RFLAGS);
	uint64_t rsp = hvsim_rd(vp, UC_X86_REG_RSP), rip0 = hvsim_rd(vp, UC_X86_REG_RIP);
	ring_write_tables(vp);

	uc_x86_mmr pgdtr = { .base = RING_LA_SUPER + SUP_GDT, .limit = 3 * 8 + 7 };
	uc_x86_mmr ptr = { .selector = 0, .base = RING_LA_SUPER + SUP_TSS, .limit = 103,
			   .flags = RING_TSS_FLAGS };
	uint64_t pcr3 = HVSIM_RING_PA + RING_PML4 * ADDR_PAGE_SIZE;
	uint64_t start = RING_LA_USER, until = RING_LA_SUPER + SUP_TARGET;
	/* TF/RF/AC must not disturb the two instructions; the caller sets RFLAGS afterwards. */
	uint64_t quiet = rflags & ~(HVSIM_RFLAGS_TF | HVSIM_RFLAGS_RF | (1ull << 18));
	int err = 0;
	err |= uc_reg_write(vp->uc, UC_X86_REG_CR3, &pcr3);
	err |= uc_reg_write(vp->uc, UC_X86_REG_GDTR, &pgdtr);
	err |= uc_reg_write(vp->uc, UC_X86_REG_TR, &ptr);
	err |= uc_reg_write(vp->uc, UC_X86_REG_RFLAGS, &quiet);
	int rc = err ? -EIO : run_detour(vp, start, until, until, "ring-0");
	/* Put the guest's tables back whatever happened. */
	uc_reg_write(vp->uc, UC_X86_REG_CR3, &cr3);
	uc_reg_write(vp->uc, UC_X86_REG_GDTR, &gdtr);
	uc_reg_write(vp->uc, UC_X86_REG_TR, &tr);
	uc_reg_write(vp->uc, UC_X86_REG_RFLAGS, &rflags);
	uc_reg_write(vp->uc, UC_X86_REG_RSP, &rsp);
	uc_reg_write(vp->uc, UC_X86_REG_RIP, &rip0);
	if (rc)
		return rc;
	atomic_fetch_add_explicit(&vp->st_ring0, 1, memory_order_relaxed);
	return 0;
}

/*
 * Start an AP at a SIPI: real mode, CS = vector << 8 (base vector << 12, limit 0xFFFF), IP 0
 * (SDM 8.4.3/10.6.1). unicorn's 64-bit engine cannot get there through its API (segment
 * writes change only selectors), so the VP, in unicorn's reset state after INIT (64-bit, no
 * paging: linear = physical), runs a detour: load 16-bit data segments and far-jump to a
 * 16-bit code segment with that base, both from a private GDT; the run stops at the target.
 * Then CR0 = 0x60000010 (PE off: unicorn drops long mode with it), EFER = 0, and the
 * real-mode selectors are written (selector-only for CS; DS..GS load base = selector << 4).
 */
int hvsim_ring_start_real_mode(struct hvsim_vp *vp, unsigned vector)
{
	if (!vp->ring_mem || vector > 0xFF)
		return -EINVAL;
	uint8_t *m = vp->ring_mem;
	uint64_t pg = ADDR_PAGE_SIZE, code_pa = HVSIM_RING_PA + RING_USER * pg;
	uint64_t gdt_pa = HVSIM_RING_PA + RING_SUPER * pg + SUP_GDT;
	uint64_t base = (uint64_t)vector << 12;
	uint64_t code16 = 0xFFFFull | ((base & 0xFFFFFF) << 16) | (0x9Bull << 40);
	uint64_t data16 = 0xFFFFull | (0x93ull << 40);
	uint8_t *s = m + RING_SUPER * pg;
	put64(s + SUP_GDT, 0);
	put64(s + SUP_GDT + 8, code16); /* SEL_CODE0 */
	put64(s + SUP_GDT + 16, data16);
	/* mov eax, 0x10; mov ss/ds/es/fs/gs, eax; jmp far [rip + 0] -> m16:32 = 0008:00000000 */
	static const uint8_t stub[] = { 0xB8, 0x10, 0x00, 0x00, 0x00, 0x8E, 0xD0, 0x8E, 0xD8,
					0x8E, 0xC0, 0x8E, 0xE0, 0x8E, 0xE8, 0xFF, 0x2D, 0x00,
					0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00 };
	memcpy(m + RING_USER * pg, stub, sizeof(stub));
	uc_x86_mmr gdtr = { .base = gdt_pa, .limit = 3 * 8 - 1 };
	uc_reg_write(vp->uc, UC_X86_REG_GDTR, &gdtr);
	if (run_detour(vp, code_pa, base, 0, "SIPI"))
		return -EIO;
	uc_x86_msr efer = { .rid = X86_MSR_EFER, .value = 0 };
	uc_x86_mmr rgdtr = { .base = 0, .limit = 0xFFFF }, ridtr = { .base = 0, .limit = 0x3FF };
	int err = 0;
	err |= uc_reg_write(vp->uc, UC_X86_REG_CR0, &(uint64_t){ 0x60000010 });
	err |= uc_reg_write(vp->uc, UC_X86_REG_MSR, &efer);
	err |= uc_reg_write(vp->uc, UC_X86_REG_CR4, &(uint64_t){ 0 });
	err |= uc_reg_write(vp->uc, UC_X86_REG_CR3, &(uint64_t){ 0 });
	err |= uc_reg_write(vp->uc, UC_X86_REG_GDTR, &rgdtr);
	err |= uc_reg_write(vp->uc, UC_X86_REG_IDTR, &ridtr);
	static const int data_segs[] = { UC_X86_REG_DS, UC_X86_REG_ES, UC_X86_REG_SS,
					 UC_X86_REG_FS, UC_X86_REG_GS };
	for (unsigned i = 0; i < sizeof(data_segs) / sizeof(data_segs[0]); i++)
		err |= uc_reg_write(vp->uc, data_segs[i], &(uint64_t){ 0 });
	err |= uc_reg_write(vp->uc, UC_X86_REG_CS, &(uint64_t){ (uint64_t)vector << 8 });
	err |= uc_reg_write(vp->uc, UC_X86_REG_RIP, &(uint64_t){ 0 });
	err |= uc_reg_write(vp->uc, UC_X86_REG_RSP, &(uint64_t){ 0 });
	err |= uc_reg_write(vp->uc, UC_X86_REG_RFLAGS, &(uint64_t){ 2 });
	vp->cr3 = 0;
	vp->mode_stale = true;
	return err ? -EIO : 0;
}
