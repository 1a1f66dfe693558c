/* Test-guest runtime (see rt.h). Freestanding: no libc, no SSE, runs in VTL0 at CPL 0. */
#include "tests/guests/rt.h"

/* ---- libc bits gcc may call implicitly ---- */

void *memset(void *d, int c, size_t n)
{
	unsigned char *p = d;
	while (n--)
		*p++ = (unsigned char)c;
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	unsigned char *dp = d;
	const unsigned char *sp = s;
	while (n--)
		*dp++ = *sp++;
	return d;
}

void *memmove(void *d, const void *s, size_t n)
{
	unsigned char *dp = d;
	const unsigned char *sp = s;
	if (dp < sp) {
		while (n--)
			*dp++ = *sp++;
	} else {
		while (n--)
			dp[n] = sp[n];
	}
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

/* ---- spinlock ---- */

void rt_spin_lock(struct rt_spinlock *l)
{
	for (;;) {
		uint32_t v = 1;
		__asm__ volatile("xchgl %0, %1" : "+r"(v), "+m"(l->locked) : : "memory");
		if (v == 0)
			return;
		while (l->locked)
			cpu_pause();
	}
}

void rt_spin_unlock(struct rt_spinlock *l)
{
	__asm__ volatile("" ::: "memory");
	l->locked = 0;
}

/* ---- serial ---- */

/* Keeps lines of different VPs from interleaving byte by byte. */
static struct rt_spinlock print_lock;

static void serial_putc_raw(char c)
{
	/* Poll LSR.THRE like a real 16550 driver; the mini VTL2 always answers "empty". */
	unsigned spins = 0;
	while (!(inb(GUEST_PORT_COM1_LSR) & GUEST_COM1_LSR_THRE) && spins++ < 1000)
		cpu_pause();
	outb(GUEST_PORT_COM1, (uint8_t)c);
}

void rt_putc(char c)
{
	if (c == '\n')
		serial_putc_raw('\r');
	serial_putc_raw(c);
}

static void puts_nolock(const char *s)
{
	while (*s)
		rt_putc(*s++);
}

void rt_puts(const char *s)
{
	rt_spin_lock(&print_lock);
	puts_nolock(s);
	rt_spin_unlock(&print_lock);
}

static void put_num(uint64_t v, unsigned base, bool neg, unsigned width, char pad)
{
	char buf[24];
	unsigned n = 0;
	do {
		unsigned d = (unsigned)(v % base);
		buf[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
		v /= base;
	} while (v && n < sizeof(buf));
	if (neg && n < sizeof(buf))
		buf[n++] = '-';
	while (width > n) {
		rt_putc(pad);
		width--;
	}
	while (n)
		rt_putc(buf[--n]);
}

static void vprintf_nolock(const char *fmt, va_list ap)
{
	for (const char *p = fmt; *p; p++) {
		if (*p != '%') {
			rt_putc(*p);
			continue;
		}
		p++;
		char pad = ' ';
		unsigned width = 0;
		if (*p == '0') {
			pad = '0';
			p++;
		}
		while (*p >= '0' && *p <= '9')
			width = width * 10 + (unsigned)(*p++ - '0');
		bool is_long = false;
		if (*p == 'l') {
			is_long = true;
			p++;
		}
		switch (*p) {
		case 'd': {
			int64_t v = is_long ? va_arg(ap, long) : va_arg(ap, int);
			uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
			put_num(mag, 10, v < 0, width, pad);
			break;
		}
		case 'u':
			put_num(is_long ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 10, false,
				width, pad);
			break;
		case 'x':
			put_num(is_long ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 16, false,
				width, pad);
			break;
		case 'p':
			puts_nolock("0x");
			put_num((uintptr_t)va_arg(ap, void *), 16, false, width, pad);
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			puts_nolock(s ? s : "(null)");
			break;
		}
		case 'c':
			rt_putc((char)va_arg(ap, int));
			break;
		case '%':
			rt_putc('%');
			break;
		case '\0':
			return;
		default:
			rt_putc('%');
			rt_putc(*p);
			break;
		}
	}
}

void rt_vprintf(const char *fmt, va_list ap)
{
	rt_spin_lock(&print_lock);
	vprintf_nolock(fmt, ap);
	rt_spin_unlock(&print_lock);
}

void rt_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rt_vprintf(fmt, ap);
	va_end(ap);
}

/* ---- ending the run ---- */

void rt_exit(uint32_t code)
{
	outl(GUEST_PORT_EXIT, code);
	/* The VTL2 stops the partition; should it resume us anyway, stay put. */
	for (;;) {
		cli();
		hlt();
	}
}

void guest_pass(void)
{
	rt_puts("PASS\n");
	rt_exit(0);
}

/* Fatal paths may run in a handler that interrupted a print on this VP: take the lock by
   force rather than deadlock (at worst, lines of two VPs interleave). */
static void break_print_lock(void)
{
	print_lock.locked = 0;
}

void rt_assert_fail(const char *file, int line, const char *cond)
{
	break_print_lock();
	rt_printf("ASSERT FAILED %s:%d: %s\n", file, line, cond);
	rt_exit(line > 0 ? (uint32_t)line : 1);
}

void rt_assert_eq_fail(const char *file, int line, const char *a, const char *b, uint64_t va,
		       uint64_t vb)
{
	break_print_lock();
	rt_printf("ASSERT FAILED %s:%d: %s == %s (0x%lx != 0x%lx)\n", file, line, a, b,
		  (unsigned long)va, (unsigned long)vb);
	rt_exit(line > 0 ? (uint32_t)line : 1);
}

/* ---- IDT ---- */

struct idt_gate {
	uint16_t offset_lo;
	uint16_t selector;
	uint8_t ist;
	uint8_t type_attr;
	uint16_t offset_mid;
	uint32_t offset_hi;
	uint32_t reserved;
};
_Static_assert(sizeof(struct idt_gate) == 16, "64-bit IDT gate is 16 bytes (SDM 6.14.1)");

static struct idt_gate idt[256] __attribute__((aligned(16)));
static rt_handler_fn handlers[256];
static volatile uint32_t idt_ready;

#define KERNEL_CS 0x08
#define GATE_INTERRUPT 0x8E /* P=1, DPL=0, type 0xE: 64-bit interrupt gate (IF cleared) */

static void idt_init(void)
{
	for (unsigned v = 0; v < 256; v++) {
		uint64_t a = (uint64_t)(uintptr_t)(rt_isr_stubs + 16 * v);
		idt[v] = (struct idt_gate){
			.offset_lo = (uint16_t)a,
			.selector = KERNEL_CS,
			.ist = 0,
			.type_attr = GATE_INTERRUPT,
			.offset_mid = (uint16_t)(a >> 16),
			.offset_hi = (uint32_t)(a >> 32),
		};
	}
}

static void idt_load(void)
{
	struct __attribute__((packed)) {
		uint16_t limit;
		uint64_t base;
	} idtr = { sizeof(idt) - 1, (uint64_t)(uintptr_t)idt };
	__asm__ volatile("lidt %0" : : "m"(idtr) : "memory");
}

void rt_set_handler(uint8_t vector, rt_handler_fn fn)
{
	__atomic_store_n(&handlers[vector], fn, __ATOMIC_SEQ_CST);
}

void rt_eoi(void)
{
	/* The local APIC (xAPIC mode, default base) keeps the vector in service, blocking its own
	   and lower priority classes, until this write to the EOI register. */
	*(volatile uint32_t *)(RT_LAPIC_BASE + 0xB0) = 0;
}

void rt_isr_dispatch(struct rt_frame *frame)
{
	rt_handler_fn fn = __atomic_load_n(&handlers[frame->vector & 0xFF], __ATOMIC_SEQ_CST);
	if (fn) {
		fn(frame);
		return;
	}
	break_print_lock();
	rt_printf("UNEXPECTED vector %lu error 0x%lx rip 0x%lx cr2 0x%lx\n",
		  (unsigned long)frame->vector, (unsigned long)frame->error_code,
		  (unsigned long)frame->rip, (unsigned long)read_cr2());
	rt_exit(RT_EXIT_UNEXPECTED_VECTOR((uint32_t)frame->vector & 0xFF));
}

/* ---- start ---- */

void rt_start(uint64_t vp, uint64_t vp_count)
{
	if (vp == 0) {
		idt_init();
		__atomic_store_n(&idt_ready, 1, __ATOMIC_SEQ_CST);
	} else {
		while (!__atomic_load_n(&idt_ready, __ATOMIC_SEQ_CST))
			cpu_pause();
	}
	idt_load();
	guest_main((unsigned)vp, (unsigned)vp_count);
	if (vp == 0)
		guest_pass();
	for (;;) {
		cli();
		hlt();
	}
}
