/* mmio: loads and stores of every width to the test device; unmapped-GPA intercepts. */
#include "tests/guests/rt.h"

/* The documented read pattern (guest_abi.h) for `size` bytes at device offset `off`. */
static uint64_t expect(uint32_t off, unsigned size)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < size; i++) {
		uint32_t b = off + i;
		uint32_t dword = (uint32_t)(GUEST_MMIO_BASE + (b & ~3u)) ^ GUEST_MMIO_PATTERN;
		v |= (uint64_t)((dword >> (8 * (b & 3))) & 0xFF) << (8 * i);
	}
	return v;
}

#define DEV(off) ((uintptr_t)GUEST_MMIO_BASE + (off))

static void reads(void)
{
	static const uint32_t offs[] = { 0x0, 0x4, 0x13, 0x101, 0x7F8, 0x7FE };
	for (unsigned k = 0; k < sizeof(offs) / sizeof(offs[0]); k++) {
		uint32_t o = offs[k];
		GUEST_ASSERT_EQ(*(volatile uint8_t *)DEV(o), expect(o, 1));
		GUEST_ASSERT_EQ(*(volatile uint16_t *)DEV(o), expect(o, 2));
		GUEST_ASSERT_EQ(*(volatile uint32_t *)DEV(o), expect(o, 4));
		GUEST_ASSERT_EQ(*(volatile uint64_t *)DEV(o), expect(o, 8));
	}
	/* A byte load must merge into the register exactly as MOV r8 does (upper bits kept). */
	uint64_t r = 0xFFFFFFFFFFFFFFFFull;
	__asm__ volatile("movb (%1), %%al" : "+a"(r) : "r"(DEV(0x20)) : "memory");
	GUEST_ASSERT_EQ(r, 0xFFFFFFFFFFFFFF00ull | expect(0x20, 1));
	/* A 32-bit load zero-extends. */
	r = 0xFFFFFFFFFFFFFFFFull;
	__asm__ volatile("movl (%1), %%eax" : "+a"(r) : "r"(DEV(0x24)) : "memory");
	GUEST_ASSERT_EQ(r, expect(0x24, 4));
	/* movzx/movsx forms and a register other than RAX */
	uint64_t z;
	__asm__ volatile("movzwl (%1), %k0" : "=r"(z) : "r"(DEV(0x30)) : "memory");
	GUEST_ASSERT_EQ(z, expect(0x30, 2));
	int64_t s;
	__asm__ volatile("movsbq (%1), %0" : "=r"(s) : "r"(DEV(0x31)) : "memory");
	GUEST_ASSERT_EQ((uint64_t)s, (uint64_t)(int64_t)(int8_t)expect(0x31, 1));
}

static void writes(void)
{
	/* Read-only part: writes are dropped. */
	*(volatile uint32_t *)DEV(0x40) = 0x12345678;
	GUEST_ASSERT_EQ(*(volatile uint32_t *)DEV(0x40), expect(0x40, 4));
	/* Scratch part: every width lands, at its width only. */
	const uint32_t base = GUEST_MMIO_SCRATCH;
	*(volatile uint64_t *)DEV(base) = 0x1122334455667788ull;
	GUEST_ASSERT_EQ(*(volatile uint64_t *)DEV(base), 0x1122334455667788ull);
	*(volatile uint8_t *)DEV(base + 1) = 0xAB;
	GUEST_ASSERT_EQ(*(volatile uint64_t *)DEV(base), 0x112233445566AB88ull);
	*(volatile uint16_t *)DEV(base + 4) = 0xCDEF;
	GUEST_ASSERT_EQ(*(volatile uint64_t *)DEV(base), 0x1122CDEF5566AB88ull);
	*(volatile uint32_t *)DEV(base + 8) = 0xFEEDFACE;
	GUEST_ASSERT_EQ(*(volatile uint32_t *)DEV(base + 8), 0xFEEDFACE);
	GUEST_ASSERT_EQ(*(volatile uint8_t *)DEV(base + 11), 0xFE);
	/* store of an immediate and from a high register */
	__asm__ volatile("movl $0x600DF00D, (%0)" : : "r"(DEV(base + 0x10)) : "memory");
	GUEST_ASSERT_EQ(*(volatile uint32_t *)DEV(base + 0x10), 0x600DF00D);
	register uint64_t r11 __asm__("r11") = 0x0102030405060708ull;
	__asm__ volatile("movq %0, (%1)" : : "r"(r11), "r"(DEV(base + 0x18)) : "memory");
	GUEST_ASSERT_EQ(*(volatile uint64_t *)DEV(base + 0x18), 0x0102030405060708ull);
}

void guest_main(unsigned vp, unsigned vp_count)
{
	(void)vp_count;
	if (vp != 0)
		return;
	rt_puts("mmio: reads\n");
	reads();
	rt_puts("mmio: writes\n");
	writes();
}
