/*
 * Test-guest runtime: port and MSR wrappers, serial printf, assertions that end the run through
 * the test exit port, and an IDT whose handlers call C with the interrupted frame.
 *
 * A guest defines guest_main(); tests/guests/entry.S calls it on every VP after VP 0 zeroed
 * .bss and installed the IDT. When guest_main returns, VP 0 reports a pass and the other VPs
 * park in `cli; hlt`.
 */
#ifndef MEZZ_TESTS_GUESTS_RT_H
#define MEZZ_TESTS_GUESTS_RT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/guests/guest_abi.h"

/** Provided by each guest. `vp` = RDI at entry, `vp_count` = RSI at entry. */
void guest_main(unsigned vp, unsigned vp_count);

/* ---- port I/O, MSRs, CPUID, misc instructions ---- */

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint16_t inw(uint16_t port)
{
	uint16_t v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr) : "memory");
	return ((uint64_t)hi << 32) | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}

struct cpuid_regs { uint32_t eax, ebx, ecx, edx; };
static inline struct cpuid_regs cpuid(uint32_t leaf, uint32_t subleaf)
{
	struct cpuid_regs r;
	__asm__ volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
			 : "a"(leaf), "c"(subleaf));
	return r;
}

/** VMCALL with the x64 memory calling convention: RCX = control, RDX/R8 = GPAs; returns RAX. */
static inline uint64_t vmcall(uint64_t control, uint64_t in_gpa, uint64_t out_gpa)
{
	uint64_t rax;
	register uint64_t r8 __asm__("r8") = out_gpa;
	__asm__ volatile("vmcall" : "=a"(rax) : "c"(control), "d"(in_gpa), "r"(r8) : "memory");
	return rax;
}

static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void hlt(void) { __asm__ volatile("hlt" ::: "memory"); }
/* STI's one-instruction interrupt shadow covers the HLT: no wakeup is lost in between. */
static inline void sti_hlt(void) { __asm__ volatile("sti; hlt" ::: "memory"); }
static inline void cpu_pause(void) { __asm__ volatile("pause" ::: "memory"); }
static inline uint64_t read_cr2(void) { uint64_t v; __asm__ volatile("mov %%cr2, %0" : "=r"(v)); return v; }
static inline uint64_t read_cr3(void) { uint64_t v; __asm__ volatile("mov %%cr3, %0" : "=r"(v)); return v; }
static inline void write_cr3(uint64_t v) { __asm__ volatile("mov %0, %%cr3" : : "r"(v) : "memory"); }
static inline void invlpg(const volatile void *p) { __asm__ volatile("invlpg (%0)" : : "r"(p) : "memory"); }
static inline uint64_t read_rflags(void)
{
	uint64_t v;
	__asm__ volatile("pushfq; popq %0" : "=r"(v) : : "memory");
	return v;
}

/* ---- serial output (COM1, polled) ---- */

/* ---- the PC chipset (devices/chipset.h) ---- */
#define RT_IOAPIC_BASE 0xFEC00000ul
#define RT_LAPIC_BASE 0xFEE00000ul
static inline void ioapic_write(uint32_t reg, uint32_t v)
{
	*(volatile uint32_t *)RT_IOAPIC_BASE = reg;
	*(volatile uint32_t *)(RT_IOAPIC_BASE + 0x10) = v;
}
static inline uint32_t ioapic_read(uint32_t reg)
{
	*(volatile uint32_t *)RT_IOAPIC_BASE = reg;
	return *(volatile uint32_t *)(RT_IOAPIC_BASE + 0x10);
}
/* Pin -> fixed vector on APIC id `dest`, physical, edge (or level), active high, unmasked. */
static inline void ioapic_route(unsigned pin, uint8_t vector, uint8_t dest, int level)
{
	ioapic_write(0x11 + 2 * pin, (uint32_t)dest << 24);
	ioapic_write(0x10 + 2 * pin, vector | (level ? 1u << 15 : 0));
}
static inline void ioapic_mask(unsigned pin) { ioapic_write(0x10 + 2 * pin, 1u << 16); }
/* Mask both 8259s (ICW sequence as a BIOS does, then IMR 0xFF). */
static inline void pic_mask_all(void)
{
	outb(0x21, 0xFF);
	outb(0xA1, 0xFF);
}
static inline uint8_t cmos_read(uint8_t index)
{
	outb(0x70, index);
	return inb(0x71);
}
static inline uint32_t pci_cfg_read(unsigned bus, unsigned dev, unsigned fn, unsigned off)
{
	outl(0xCF8, 0x80000000u | bus << 16 | dev << 11 | fn << 8 | (off & 0xFC));
	return inl(0xCFC);
}

void rt_putc(char c);
void rt_puts(const char *s);
/** printf subset: %s %c %d %u %x %ld %lu %lx %p %%, optional '0' flag and width. */
void rt_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void rt_vprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* ---- ending the run ---- */

/** OUT `code` to the exit port; never returns (the VTL2 stops every VP). */
__attribute__((noreturn)) void rt_exit(uint32_t code);
/** Print "PASS" and exit with 0. */
__attribute__((noreturn)) void guest_pass(void);
__attribute__((noreturn)) void rt_assert_fail(const char *file, int line, const char *cond);
__attribute__((noreturn)) void rt_assert_eq_fail(const char *file, int line, const char *a,
						 const char *b, uint64_t va, uint64_t vb);

/** Fail with the line number as exit code when `cond` is false. */
#define GUEST_ASSERT(cond)                                                  \
	do {                                                                \
		if (!(cond))                                                \
			rt_assert_fail(__FILE__, __LINE__, #cond);          \
	} while (0)

/** Like GUEST_ASSERT(a == b) but prints both values. */
#define GUEST_ASSERT_EQ(a, b)                                               \
	do {                                                                \
		uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);            \
		if (a_ != b_)                                               \
			rt_assert_eq_fail(__FILE__, __LINE__, #a, #b, a_, b_); \
	} while (0)

/* ---- interrupts ---- */

/** What the common ISR stub saved, lowest address first (matches tests/guests/isr.S). */
struct rt_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rdi, rsi, rbp, rbx, rdx, rcx, rax;
	uint64_t vector, error_code;
	/* pushed by the CPU */
	uint64_t rip, cs, rflags, rsp, ss;
};
_Static_assert(sizeof(struct rt_frame) == 22 * 8, "rt_frame layout is fixed by isr.S");
_Static_assert(offsetof(struct rt_frame, vector) == 15 * 8, "rt_frame layout is fixed by isr.S");

typedef void (*rt_handler_fn)(struct rt_frame *frame);

/** Install `fn` for `vector` (NULL restores the default: report and fail). All VPs share it. */
void rt_set_handler(uint8_t vector, rt_handler_fn fn);

/** End-of-interrupt for a handled external interrupt (see rt.c for the model it follows). */
void rt_eoi(void);

/** Exit code used when an exception/interrupt without a handler arrives. */
#define RT_EXIT_UNEXPECTED_VECTOR(v) (0xE000u | (v))

/* ---- small helpers ---- */

struct rt_spinlock { volatile uint32_t locked; };
void rt_spin_lock(struct rt_spinlock *l);
void rt_spin_unlock(struct rt_spinlock *l);

/** Atomic fetch-and-add with `lock xadd`. */
static inline uint64_t rt_xadd(volatile uint64_t *p, uint64_t v)
{
	__asm__ volatile("lock xaddq %0, %1" : "+r"(v), "+m"(*p) : : "memory");
	return v;
}

void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

/* Called from entry.S / isr.S only. */
__attribute__((noreturn)) void rt_start(uint64_t vp, uint64_t vp_count);
void rt_isr_dispatch(struct rt_frame *frame);
extern const char rt_isr_stubs[]; /* 256 stubs, 16 bytes apart */

/* Linker-script symbols. */
extern char __bss_start[], __bss_end[], __image_start[], __image_end[];

#endif
