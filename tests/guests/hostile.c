/*
 * hostile: VTL0 doing what no well-behaved OS does, and the architectural answer it must get
 * from the paravisor (docs/architecture.md, "Hostile VTL0"): the VM keeps running and the
 * paravisor keeps its own state.
 */
#include "tests/guests/rt.h"

#define UNBACKED 0xF0000000ul        /* neither RAM nor a device */
#define VTL2_MEM (0x4000000ul - 0x1000) /* last page of the default 64M: VTL2's (--vtl2-mem 1M) */

static volatile unsigned ud_count, gp_count;
static volatile uint64_t ud_rip;

/* #UD after a call into MMIO / unbacked memory: return to the caller. */
static void ud_ret(struct rt_frame *f)
{
	ud_count++;
	ud_rip = f->rip;
	f->rip = *(uint64_t *)f->rsp;
	f->rsp += 8;
}

static void ud_skip4(struct rt_frame *f)
{
	ud_count++;
	ud_rip = f->rip;
	f->rip += 4; /* c5 fe 7f 00: vmovdqu %ymm0, (%rax) */
}

static void gp_skip2(struct rt_frame *f)
{
	gp_count++;
	f->rip += 2; /* RDMSR/WRMSR */
}

static void call_at(uintptr_t target)
{
	__asm__ volatile("call *%0" : : "r"(target) : "memory", "rax", "rcx", "rdx", "rsi", "rdi",
			 "r8", "r9", "r10", "r11");
}

static uint8_t pattern(uint32_t off)
{
	uint32_t dword = (uint32_t)(GUEST_MMIO_BASE + (off & ~3u)) ^ GUEST_MMIO_PATTERN;
	return (uint8_t)(dword >> (8 * (off & 3)));
}

static bool is_stop_port(unsigned p)
{
	/* Writing these ends the run by design (exit, reset, i8042 pulse, ACPI sleep). */
	return p == GUEST_PORT_EXIT || p == 0xCF9 || p == 0x64 || p == 0x404 || p == 0x405 ||
	       p == GUEST_PORT_IRQ || p == GUEST_PORT_IRQ_DELAYED || p == GUEST_PORT_PROTECT;
}

void guest_main(unsigned vp, unsigned vp_count)
{
	(void)vp_count;
	if (vp != 0)
		return;
	pic_mask_all();
	rt_set_handler(6, ud_ret);

	/* 1. Execute from MMIO and from unbacked memory: what a CPU fetches there is all-ones,
	      an invalid opcode: #UD at the target, the VM goes on. */
	call_at(GUEST_MMIO_BASE);
	GUEST_ASSERT_EQ(ud_count, 1);
	GUEST_ASSERT_EQ(ud_rip, GUEST_MMIO_BASE);
	call_at(UNBACKED + 0x123);
	GUEST_ASSERT_EQ(ud_count, 2);
	GUEST_ASSERT_EQ(ud_rip, UNBACKED + 0x123);
	rt_puts("hostile: fetch from MMIO / unbacked memory -> #UD\n");

	/* 2. An encoding the emulator does not run on a device (a VEX store; without OSXSAVE it
	      is #UD on the CPU already): #UD at the instruction, not a dead paravisor. */
	rt_set_handler(6, ud_skip4);
	unsigned before = ud_count;
	__asm__ volatile(".byte 0xc5, 0xfe, 0x7f, 0x00" : : "a"(GUEST_MMIO_BASE + 0x900) : "memory");
	GUEST_ASSERT_EQ(ud_count, before + 1);
	rt_printf("hostile: VEX store to MMIO -> #UD at 0x%lx\n", (unsigned long)ud_rip);
	rt_set_handler(6, ud_ret);

	/* 3. LOCK on MMIO: the read-modify-write lands once. */
	volatile uint32_t *scratch = (volatile uint32_t *)(GUEST_MMIO_BASE + 0x800);
	*scratch = 41;
	__asm__ volatile("lock addl $1, (%0)" : : "r"(scratch) : "memory");
	GUEST_ASSERT_EQ(*scratch, 42);
	uint32_t old = 7;
	__asm__ volatile("lock xchgl %0, (%1)" : "+r"(old) : "r"(scratch) : "memory");
	GUEST_ASSERT_EQ(old, 42);
	GUEST_ASSERT_EQ(*scratch, 7);
	rt_puts("hostile: LOCK on MMIO\n");

	/* 4. MMIO access straddling the device page and unbacked space: device bytes, then
	      all-ones. And one straddling RAM and MMIO is impossible in identity mappings, so a
	      page-crossing load inside the device covers the split path. */
	uint64_t v = *(volatile uint64_t *)(GUEST_MMIO_BASE + GUEST_MMIO_SIZE - 4);
	uint64_t want = 0xFFFFFFFF00000000ull;
	for (unsigned i = 0; i < 4; i++)
		want |= (uint64_t)pattern(GUEST_MMIO_SIZE - 4 + i) << (8 * i);
	GUEST_ASSERT_EQ(v, want);
	rt_puts("hostile: MMIO load straddling the device page\n");

	/* 5. VTL2's own memory: writes never land, reads show nothing of it. */
	volatile uint32_t *v2 = (volatile uint32_t *)VTL2_MEM;
	*v2 = 0x12345678;
	GUEST_ASSERT_EQ(*v2, 0xFFFFFFFFu);
	uint64_t hits = inl(GUEST_PORT_PROT_COUNT);
	GUEST_ASSERT(hits >= 2);
	rt_puts("hostile: VTL2 memory is neither writable nor readable\n");

	/* 6. An emulated instruction writing the guest's own page tables: a MOVS from the device
	      into an unused PML4 slot lands exactly (RAM, not a device), and is undone. */
	volatile uint64_t *pml4 = (volatile uint64_t *)0x2000;
	GUEST_ASSERT_EQ(pml4[300], 0);
	uint64_t src = GUEST_MMIO_BASE + 0x10, dst = (uint64_t)&pml4[300], cnt = 1;
	__asm__ volatile("rep movsq" : "+S"(src), "+D"(dst), "+c"(cnt) : : "memory");
	uint64_t expect_pte = 0;
	for (unsigned i = 0; i < 8; i++)
		expect_pte |= (uint64_t)pattern(0x10 + i) << (8 * i);
	GUEST_ASSERT_EQ(pml4[300], expect_pte);
	pml4[300] = 0;
	rt_puts("hostile: emulated MOVS into the page tables\n");

	/* 7. Junk WRMSR/RDMSR: #GP each time, nothing else. */
	rt_set_handler(13, gp_skip2);
	uint32_t msrs[] = { 0x0, 0x10, 0x1B0, 0x4D5A0100, 0x40000200, 0xC0011234, 0xFFFFFFFF,
			    0x8B };
	unsigned gp_before = gp_count;
	for (unsigned i = 0; i < sizeof(msrs) / sizeof(msrs[0]); i++) {
		__asm__ volatile("wrmsr" : : "c"(msrs[i]), "a"(0xDEADBEEF), "d"(0xFEEDFACE));
	}
	rt_printf("hostile: %u junk WRMSRs -> %u #GP\n", (unsigned)(sizeof(msrs) / sizeof(msrs[0])),
		  gp_count - gp_before);
	GUEST_ASSERT(gp_count - gp_before >= 6);

	/* 8. Junk hypercalls: every one answered with a status, RIP past the VMCALL. */
	uint64_t seed = 0x9E3779B97F4A7C15ull;
	for (unsigned i = 0; i < 200; i++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		uint64_t st = vmcall(seed, seed * 3, seed * 5);
		GUEST_ASSERT((st & 0xFFFF) != 0); /* nothing is implemented for VTL0 yet */
	}
	rt_puts("hostile: 200 junk hypercalls answered\n");

	/* 9. Every port, every width: reads everywhere, junk writes wherever they do not end the
	      run by design. The chipset must still work afterwards. */
	for (unsigned p = 0; p < 0x10000; p++) {
		(void)inb((uint16_t)p);
		(void)inw((uint16_t)p);
		(void)inl((uint16_t)p);
	}
	static const uint16_t ranges[][2] = {
		{ 0x20, 0x21 }, { 0xA0, 0xA1 }, { 0x40, 0x43 }, { 0x60, 0x61 }, { 0x70, 0x71 },
		{ 0xF0, 0xFC }, { 0x2F8, 0x2FF }, { 0x400, 0x40B }, { 0x4D0, 0x4D1 },
		{ 0xCF8, 0xCFF },
	};
	for (unsigned r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
		for (unsigned p = ranges[r][0]; p <= ranges[r][1]; p++) {
			if (is_stop_port(p) || (p >= 0xCF8 && p <= 0xCFB))
				continue;
			outb((uint16_t)p, 0xA5);
			outw((uint16_t)p, 0x5AA5);
			outl((uint16_t)p, 0xDEADBEEF);
		}
	}
	pic_mask_all();
	outb(0x43, 0x30); /* the PIT may have been started by the junk: stop it */
	rt_puts("hostile: every port at every width survived\n");
	GUEST_ASSERT_EQ(ud_count >= 2, 1);
}
