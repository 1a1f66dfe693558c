/* io: port I/O intercepts of every width and the string forms, against the echo port. */
#include "tests/guests/rt.h"

/* IN to the echo port with RAX preloaded, so we can check which bits the completion wrote. */
static uint64_t in_with_rax(unsigned size, uint64_t rax)
{
	switch (size) {
	case 1: __asm__ volatile("inb %%dx, %%al" : "+a"(rax) : "d"(GUEST_PORT_ECHO)); break;
	case 2: __asm__ volatile("inw %%dx, %%ax" : "+a"(rax) : "d"(GUEST_PORT_ECHO)); break;
	default: __asm__ volatile("inl %%dx, %%eax" : "+a"(rax) : "d"(GUEST_PORT_ECHO)); break;
	}
	return rax;
}

static void widths(void)
{
	/* 32-bit: IN returns last + 1 and zero-extends into RAX. */
	outl(GUEST_PORT_ECHO, 0x11223344);
	GUEST_ASSERT_EQ(inl(GUEST_PORT_ECHO), 0x11223345);
	GUEST_ASSERT_EQ(in_with_rax(4, 0xDEADBEEFCAFEBABEull), 0x11223345ull);
	/* 16-bit: only AX is written. */
	outw(GUEST_PORT_ECHO, 0x1234);
	GUEST_ASSERT_EQ(inw(GUEST_PORT_ECHO), 0x1235);
	GUEST_ASSERT_EQ(in_with_rax(2, 0xDEADBEEFCAFEBABEull), 0xDEADBEEFCAFE1235ull);
	/* 8-bit: only AL, and the +1 wraps within the width. */
	outb(GUEST_PORT_ECHO, 0x7F);
	GUEST_ASSERT_EQ(inb(GUEST_PORT_ECHO), 0x80);
	GUEST_ASSERT_EQ(in_with_rax(1, 0xDEADBEEFCAFEBABEull), 0xDEADBEEFCAFEBA80ull);
	outb(GUEST_PORT_ECHO, 0xFF);
	GUEST_ASSERT_EQ(in_with_rax(1, 0x1111111111111111ull), 0x1111111111111100ull);
	/* immediate-port forms too (outl/inl above use DX or imm8 as gcc picks; force imm8) */
	uint32_t v = 0xA5A5A5A5;
	__asm__ volatile("outl %%eax, $0xF0" : : "a"(v));
	__asm__ volatile("inl $0xF0, %%eax" : "=a"(v));
	GUEST_ASSERT_EQ(v, 0xA5A5A5A6);
	/* an OUT must not clobber RAX or other registers */
	uint64_t rax = 0x0123456789ABCDEFull, rbx = 0x5555, rcx = 0x6666;
	__asm__ volatile("outb %%al, $0xF0" : "+a"(rax), "+b"(rbx), "+c"(rcx));
	GUEST_ASSERT_EQ(rax, 0x0123456789ABCDEFull);
	GUEST_ASSERT_EQ(rbx, 0x5555);
	GUEST_ASSERT_EQ(rcx, 0x6666);
	GUEST_ASSERT_EQ(inb(GUEST_PORT_ECHO), 0xF0);
}

static void strings(void)
{
	/* rep outsb to COM1: the text must appear on the serial output. */
	static const char msg[] = "io: rep outsb to COM1 works\r\n";
	const char *src = msg;
	uint64_t count = sizeof(msg) - 1;
	__asm__ volatile("rep outsb" : "+S"(src), "+c"(count) : "d"(GUEST_PORT_COM1) : "memory");
	GUEST_ASSERT_EQ(count, 0);
	GUEST_ASSERT(src == msg + sizeof(msg) - 1);

	/* rep outsw to the echo port: the last element is what the next IN sees (+1). */
	static const uint16_t words[4] = { 0x1000, 0x2000, 0x3000, 0x4000 };
	const uint16_t *ws = words;
	count = 4;
	__asm__ volatile("rep outsw" : "+S"(ws), "+c"(count) : "d"(GUEST_PORT_ECHO) : "memory");
	GUEST_ASSERT_EQ(count, 0);
	GUEST_ASSERT(ws == words + 4);
	GUEST_ASSERT_EQ(inw(GUEST_PORT_ECHO), 0x4001);

	/* rep insb: every element reads last + 1; RDI advances, RCX reaches 0. */
	outb(GUEST_PORT_ECHO, 0x41);
	uint8_t buf[8];
	memset(buf, 0xEE, sizeof(buf));
	uint8_t *dst = buf;
	count = 6;
	__asm__ volatile("rep insb" : "+D"(dst), "+c"(count) : "d"(GUEST_PORT_ECHO) : "memory");
	GUEST_ASSERT_EQ(count, 0);
	GUEST_ASSERT(dst == buf + 6);
	for (unsigned i = 0; i < 6; i++)
		GUEST_ASSERT_EQ(buf[i], 0x42);
	GUEST_ASSERT_EQ(buf[6], 0xEE);

	/* insl without REP, and DF=1 walking downwards. */
	outl(GUEST_PORT_ECHO, 0x77777776);
	uint32_t dw[3] = { 0, 0, 0 };
	uint32_t *dp = &dw[2];
	__asm__ volatile("std; insl; cld" : "+D"(dp) : "d"(GUEST_PORT_ECHO) : "memory");
	GUEST_ASSERT(dp == &dw[1]);
	GUEST_ASSERT_EQ(dw[2], 0x77777777);
	GUEST_ASSERT_EQ(dw[1], 0);
}

void guest_main(unsigned vp, unsigned vp_count)
{
	(void)vp_count;
	if (vp != 0)
		return;
	rt_puts("io: widths\n");
	widths();
	rt_puts("io: string forms\n");
	strings();
}
