/*
 * Differential test of the x86 emulator against the host CPU.
 *
 * For every instruction form the emulator supports and every operand size, random encodings
 * (random registers, addressing forms, prefixes, immediates, RFLAGS) are executed twice from
 * the same starting state: natively, through a trampoline in an mmap'ed code page that loads
 * all GPRs, XMM registers and RFLAGS from a struct, runs the instruction and stores them back;
 * and in x86_emu_step with memory callbacks over a copy of the scratch pages the native memory
 * operand points into. GPRs, XMM registers, RIP advance, the flags the SDM defines for the
 * instruction and the whole scratch memory must agree. When the host faults (#DE, #UD, #GP,
 * #SS, #PF from the guard page after the scratch, #AC with RFLAGS.AC set), the emulator must
 * report the same vector (and CR2) and leave registers and memory as the host did at the fault
 * (a rep string instruction keeps its completed iterations).
 *
 * Each family runs in long mode, in compatibility mode (32-bit code in CS 0x23, reached by a
 * far return) and in 16-bit protected mode (an LDT code segment reached by a far jump from
 * the 32-bit code); 16-bit addressing goes through LDT data segments based at the scratch
 * pages with various limits. RSP stays the real stack pointer, so it is
 * never an operand. Where the SDM leaves behaviour to the implementation (#AC for misaligned
 * 128-bit unaligned moves; the registers a 32-bit-address REP string instruction writes when
 * it completes no iteration), either answer is accepted and counted.
 *
 * Env: X86_DIFF_SEED (PRNG seed, printed), X86_DIFF_SCALE (percent of the default case count;
 * default 100, 50 under ASan), X86_DIFF_ONLY (run only forms whose name contains it).
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <sys/ucontext.h>
#include <asm/prctl.h>
#include <asm/ldt.h>
#include <cpuid.h>
#include <cmocka.h>

#include "arch/x86_64/x86_emu.h"

#if defined(__SANITIZE_ADDRESS__)
#define DIFF_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DIFF_ASAN 1
#endif
#endif
#ifndef DIFF_ASAN
#define DIFF_ASAN 0
#endif

/* ---- native execution ---- */

/* Layout shared with the generated trampoline code (offsets are baked into it). */
struct nstate {
	_Alignas(16) uint64_t gpr[16]; /* 16-aligned: the XMM slots are stored with RFLAGS.AC set */
	uint64_t rflags;
	uint64_t pad;
	uint8_t xmm[16][16];
};
_Static_assert(offsetof(struct nstate, rflags) == 128, "trampoline offset");
_Static_assert(offsetof(struct nstate, xmm) == 144, "trampoline offset");

#define PAGE 4096u
#define SCRATCH_SIZE (2 * PAGE)
/* Region (below 2 GiB): code page, data page, guard, 2 scratch pages, guard, 4 pages of
 * stack for 32-bit (compatibility mode) runs, whose ESP must lie below 4 GiB. */
#define REGION_PAGES 10
#define SLOT_OFF 0x600u  /* instruction slot in the code page */
#define EPI_OFF 0x700u   /* epilogue */
#define T32_OFF 0x900u   /* compatibility-mode trampoline: 64-bit entry */
#define E32_OFF 0x980u   /* its 32-bit part */
#define SLOT32_OFF 0xb00u
#define EPI32_OFF 0xc00u
#define RET64_OFF 0xd00u
#define SLOT16_OFF 0xe00u /* 16-bit code: LDT code segment based at the code page */

/* Data page: struct pointer at 0, saved RSP at 8, DS and ES selectors for 32-bit runs. */
#define DS_SEL_AT 16u
#define ES_SEL_AT 20u
/* LDT data segments (entries 2-9) based at the scratch pages, so that 16-bit addressing
 * can reach them, with the limits below (installed once: modify_ldt per case is slow). */
#define LDT_DATA0 2u
static const uint32_t ldt_limits[8] = { 2 * 4096 - 1, 3071, 3072, 3073, 4093, 4094, 4095, 5000 };
#define LDT_SEL(i) (((LDT_DATA0 + (i)) << 3) | 7u)
#define LDT_CODE16_SEL 0xfu /* LDT entry 1: 16-bit code segment, base = code page */
static bool ldt_ok, code16_ok;
static int install_ldt_data(unsigned idx);

/* Mode of the cases generated and run: 64 (long mode), 32 (compatibility mode, CS 0x23) or
 * 16 (compatibility mode with a 16-bit code segment from the LDT). */
static int gmode = 64;
#define USER32_CS 0x23
#define USER_DS 0x2b
#define USER_CS 0x33

static uint8_t *region, *code, *datapg, *scratch;
static void (*tramp)(struct nstate *), (*tramp32)(struct nstate *);
static uint64_t fs_base, gs_base;
static sigjmp_buf native_jmp;
static volatile sig_atomic_t native_sig, native_code;

/* Register state at the native fault (a rep string instruction has committed the
 * iterations before the faulting one, as the emulator must too). */
static uint64_t fault_gpr[16], fault_rflags, fault_addr;
static unsigned vec_both[32]; /* agreeing faults by vector, for the summary */
static unsigned vendor_order; /* LOCK misuse: host memory fault, emulator #UD (see lock_misuse) */
static unsigned cmps_order;   /* CMPS: the host reports its other operand's fault (cmps_form) */
static unsigned rep_flags;    /* REPE/REPNE CMPS/SCAS: host flags not restored at a fault */

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	const greg_t *g = ((ucontext_t *)uc)->uc_mcontext.gregs;
	static const int map[16] = { REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP,
				     REG_RSI, REG_RDI, REG_R8, REG_R9, REG_R10, REG_R11,
				     REG_R12, REG_R13, REG_R14, REG_R15 };
	for (unsigned r = 0; r < 16; r++)
		fault_gpr[r] = (uint64_t)g[map[r]];
	fault_rflags = (uint64_t)g[REG_EFL];
	fault_addr = (uint64_t)(uintptr_t)si->si_addr;
	/* The faulting instruction may have run with RFLAGS.AC set: clear it (and DF) before
	 * any C code makes an unaligned access. */
	__asm__ __volatile__("pushfq; andq $~0x40400, (%%rsp); popfq" ::: "memory", "cc");
	native_sig = sig;
	native_code = si->si_code;
	siglongjmp(native_jmp, 1);
}

struct cbuf { uint8_t *p; unsigned n; };

static void cb_emit(struct cbuf *c, unsigned n, ...)
{
	va_list ap;
	va_start(ap, n);
	for (unsigned i = 0; i < n; i++)
		c->p[c->n++] = (uint8_t)va_arg(ap, int);
	va_end(ap);
}

static void cb_u32(struct cbuf *c, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		c->p[c->n++] = (uint8_t)(v >> (8 * i));
}

/* RIP-relative disp32 to `target` for an instruction ending right after the disp32. */
static void cb_riprel(struct cbuf *c, const uint8_t *target)
{
	cb_u32(c, (uint32_t)(int32_t)(target - (c->p + c->n + 4)));
}

/* mov [rdi+off], r  or  mov r, [rdi+off] (64-bit), disp32 form. */
static void cb_movmem(struct cbuf *c, bool store, unsigned r, uint32_t off)
{
	cb_emit(c, 3, 0x48 | (r >= 8 ? 4 : 0), store ? 0x89 : 0x8b, 0x80 | ((r & 7) << 3) | 7);
	cb_u32(c, off);
}

/* movdqu xmmN, [rdi+off] / movdqu [rdi+off], xmmN */
static void cb_xmm(struct cbuf *c, bool store, unsigned n, uint32_t off)
{
	c->p[c->n++] = 0xf3;
	if (n >= 8)
		c->p[c->n++] = 0x44;
	cb_emit(c, 3, 0x0f, store ? 0x7f : 0x6f, 0x80 | ((n & 7) << 3) | 7);
	cb_u32(c, off);
}

static void build_trampoline(void)
{
	uint8_t *saveptr = datapg; /* holds the struct pointer while RDI is the test's */
	struct cbuf c = { code, 0 };
	cb_emit(&c, 8, 0x53, 0x55, 0x41, 0x54, 0x41, 0x55, 0x41, 0x56); /* push rbx rbp r12-14 */
	cb_emit(&c, 2, 0x41, 0x57);                                     /* push r15 */
	cb_emit(&c, 3, 0x48, 0x89, 0x3d);                               /* mov [rip+save], rdi */
	cb_riprel(&c, saveptr);
	for (unsigned n = 0; n < 16; n++)
		cb_xmm(&c, false, n, 144 + 16 * n);
	cb_emit(&c, 2, 0xff, 0xb7);                                     /* push [rdi+128] */
	cb_u32(&c, 128);
	cb_emit(&c, 1, 0x9d);                                           /* popfq */
	for (unsigned r = 0; r < 16; r++)
		if (r != X86_RSP && r != X86_RDI)
			cb_movmem(&c, false, r, 8 * r);
	cb_movmem(&c, false, X86_RDI, 8 * X86_RDI);
	cb_emit(&c, 1, 0xe9);                                           /* jmp slot */
	cb_u32(&c, (uint32_t)(SLOT_OFF - (c.n + 4)));

	c.n = EPI_OFF;
	cb_emit(&c, 3, 0x48, 0x87, 0x3d);                               /* xchg [rip+save], rdi */
	cb_riprel(&c, saveptr);
	for (unsigned r = 0; r < 16; r++)
		if (r != X86_RSP && r != X86_RDI)
			cb_movmem(&c, true, r, 8 * r);
	for (unsigned n = 0; n < 16; n++)
		cb_xmm(&c, true, n, 144 + 16 * n);
	cb_emit(&c, 2, 0x9c, 0x58);                                     /* pushfq; pop rax */
	cb_movmem(&c, true, X86_RAX, 128);
	cb_emit(&c, 3, 0x48, 0x8b, 0x05);                               /* mov rax, [rip+save] */
	cb_riprel(&c, saveptr);
	cb_movmem(&c, true, X86_RAX, 8 * X86_RDI);
	cb_emit(&c, 8, 0x41, 0x5f, 0x41, 0x5e, 0x41, 0x5d, 0x41, 0x5c); /* pop r15-r12 */
	cb_emit(&c, 2, 0x5d, 0x5b);                                     /* pop rbp rbx */
	cb_emit(&c, 7, 0x68, 0x02, 0x02, 0x00, 0x00, 0x9d, 0xc3);       /* push 0x202; popfq; ret */
	if (c.n > T32_OFF)
		abort(); /* layout: the epilogue ran into the next piece */
	tramp = (void (*)(struct nstate *))(void *)code;
}

/*
 * Compatibility-mode trampoline: 64-bit entry saves RSP, switches to a low stack and far-returns
 * to CS 0x23; the 32-bit part loads DS/ES, XMM0-7, EFLAGS and the 8 GPRs (not ESP) from the
 * struct whose address it reads from the data page, runs the slot, stores everything back and
 * far-returns to CS 0x33, where RSP is restored.
 */
static void build_trampoline32(void)
{
	uint32_t save = (uint32_t)(uintptr_t)datapg, save_rsp = save + 8;
	uint32_t stack_top = (uint32_t)(uintptr_t)(region + REGION_PAGES * PAGE);
	struct cbuf c = { code, T32_OFF };
	cb_emit(&c, 8, 0x53, 0x55, 0x41, 0x54, 0x41, 0x55, 0x41, 0x56); /* push rbx rbp r12-14 */
	cb_emit(&c, 2, 0x41, 0x57);                                     /* push r15 */
	cb_emit(&c, 4, 0x48, 0x89, 0x3c, 0x25);                         /* mov [save], rdi */
	cb_u32(&c, save);
	cb_emit(&c, 4, 0x48, 0x89, 0x24, 0x25);                         /* mov [save_rsp], rsp */
	cb_u32(&c, save_rsp);
	cb_emit(&c, 3, 0x48, 0xc7, 0xc4);                               /* mov rsp, stack_top */
	cb_u32(&c, stack_top);
	cb_emit(&c, 2, 0x6a, USER32_CS);                                /* push 0x23 */
	cb_emit(&c, 1, 0x68);                                           /* push entry32 */
	cb_u32(&c, (uint32_t)(uintptr_t)(code + E32_OFF));
	cb_emit(&c, 2, 0x48, 0xcb);                                     /* retfq */

	c.n = E32_OFF;                                                  /* 32-bit code */
	/* DS/ES are null in a 64-bit process (#GP in 32-bit code): read through SS. */
	cb_emit(&c, 3, 0x36, 0xff, 0x35);                               /* push ss:[ds_sel] */
	cb_u32(&c, save + DS_SEL_AT);
	cb_emit(&c, 4, 0x1f, 0x36, 0xff, 0x35);                         /* pop ds; push ss:[es_sel] */
	cb_u32(&c, save + ES_SEL_AT);
	cb_emit(&c, 1, 0x07);                                           /* pop es */
	/* DS/ES may now be the LDT test segment: every access of ours goes through SS. */
	cb_emit(&c, 3, 0x36, 0x8b, 0x3d);                               /* mov edi, ss:[save] */
	cb_u32(&c, save);
	for (unsigned n = 0; n < 8; n++) {
		cb_emit(&c, 1, 0x36);
		cb_xmm(&c, false, n, 144 + 16 * n);
	}
	cb_emit(&c, 3, 0x36, 0xff, 0xb7);                               /* push ss:[edi+128] */
	cb_u32(&c, 128);
	cb_emit(&c, 1, 0x9d);                                           /* popfd */
	for (unsigned r = 0; r < 8; r++)
		if (r != X86_RSP && r != X86_RDI) {
			cb_emit(&c, 3, 0x36, 0x8b, 0x80 | (r << 3) | 7);        /* mov r32, ss:[edi+8r] */
			cb_u32(&c, 8 * r);
		}
	cb_emit(&c, 3, 0x36, 0x8b, 0xbf);                               /* mov edi, ss:[edi+56] */
	cb_u32(&c, 8 * X86_RDI);
	cb_emit(&c, 1, 0xe9);                                           /* jmp slot32 */
	cb_u32(&c, (uint32_t)(SLOT32_OFF - (c.n + 4)));

	c.n = EPI32_OFF;
	cb_emit(&c, 3, 0x36, 0x87, 0x3d);                               /* xchg ss:[save], edi */
	cb_u32(&c, save);
	for (unsigned r = 0; r < 8; r++)
		if (r != X86_RSP && r != X86_RDI) {
			cb_emit(&c, 3, 0x36, 0x89, 0x80 | (r << 3) | 7);        /* mov ss:[edi+8r], r32 */
			cb_u32(&c, 8 * r);
		}
	for (unsigned n = 0; n < 8; n++) {
		cb_emit(&c, 1, 0x36);
		cb_xmm(&c, true, n, 144 + 16 * n);
	}
	cb_emit(&c, 2, 0x9c, 0x58);                                     /* pushfd; pop eax */
	cb_emit(&c, 3, 0x36, 0x89, 0x87);                               /* mov ss:[edi+128], eax */
	cb_u32(&c, 128);
	cb_emit(&c, 3, 0x36, 0x8b, 0x05);                               /* mov eax, ss:[save] */
	cb_u32(&c, save);
	cb_emit(&c, 3, 0x36, 0x89, 0x87);                               /* mov ss:[edi+56], eax */
	cb_u32(&c, 8 * X86_RDI);
	cb_emit(&c, 2, 0x6a, USER_CS);                                  /* push 0x33 */
	cb_emit(&c, 1, 0x68);                                           /* push ret64 */
	cb_u32(&c, (uint32_t)(uintptr_t)(code + RET64_OFF));
	cb_emit(&c, 1, 0xcb);                                           /* retf */
	if (c.n > RET64_OFF)
		abort();

	c.n = RET64_OFF;                                                /* 64-bit again */
	cb_emit(&c, 4, 0x48, 0x8b, 0x24, 0x25);                         /* mov rsp, [save_rsp] */
	cb_u32(&c, save_rsp);
	cb_emit(&c, 8, 0x41, 0x5f, 0x41, 0x5e, 0x41, 0x5d, 0x41, 0x5c); /* pop r15-r12 */
	cb_emit(&c, 2, 0x5d, 0x5b);                                     /* pop rbp rbx */
	cb_emit(&c, 7, 0x68, 0x02, 0x02, 0x00, 0x00, 0x9d, 0xc3);       /* push 0x202; popfq; ret */
	tramp32 = (void (*)(struct nstate *))(void *)(code + T32_OFF);
}

static int native_setup(void)
{
	if (region)
		return 0;
	region = mmap(NULL, REGION_PAGES * PAGE, PROT_READ | PROT_WRITE | PROT_EXEC,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	if (region == MAP_FAILED) {
		region = NULL;
		return -errno;
	}
	code = region;
	datapg = region + PAGE;
	scratch = region + 3 * PAGE;
	if (mprotect(region + 2 * PAGE, PAGE, PROT_NONE) || mprotect(datapg, PAGE, PROT_READ | PROT_WRITE) ||
	    mprotect(scratch, SCRATCH_SIZE, PROT_READ | PROT_WRITE) ||
	    mprotect(region + 5 * PAGE, PAGE, PROT_NONE) ||
	    mprotect(region + 6 * PAGE, 4 * PAGE, PROT_READ | PROT_WRITE))
		return -errno;
	memset(code, 0xcc, PAGE);
	build_trampoline();
	build_trampoline32();
	ldt_ok = true;
	for (unsigned i = 0; i < 8; i++)
		ldt_ok = ldt_ok && install_ldt_data(i) == 0;
	struct user_desc c16;
	memset(&c16, 0, sizeof(c16));
	c16.entry_number = 1;
	c16.base_addr = (unsigned)(uintptr_t)code;
	c16.limit = PAGE - 1;
	c16.seg_32bit = 0;
	c16.contents = 2; /* code, non-conforming, readable */
	c16.useable = 1;
	code16_ok = ldt_ok && syscall(SYS_modify_ldt, 1, &c16, sizeof(c16)) == 0;
	if (!ldt_ok)
		printf("x86_diff_test: modify_ldt unavailable - 16-bit addressing cases skipped\n");
	syscall(SYS_arch_prctl, ARCH_GET_FS, &fs_base);
	syscall(SYS_arch_prctl, ARCH_GET_GS, &gs_base);
	return 0;
}

static void on_alarm(int sig);

/* cmocka installs its own handlers around each test, so every test installs these first. */
static void install_handlers(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_NODEFER | SA_SIGINFO;
	sigaction(SIGFPE, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGILL, &sa, NULL);
	signal(SIGALRM, on_alarm);
}

/* Selector DS and ES hold in the current 32/16-bit case: an LDT data segment, or 0 = flat. */
static uint32_t cur_ldt_sel;

static int install_ldt_data(unsigned idx)
{
	struct user_desc d;
	memset(&d, 0, sizeof(d));
	d.entry_number = LDT_DATA0 + idx;
	d.base_addr = (unsigned)(uintptr_t)scratch;
	d.limit = ldt_limits[idx];
	d.seg_32bit = 1;
	d.contents = 0; /* data, expand-up */
	d.useable = 1;
	return syscall(SYS_modify_ldt, 1, &d, sizeof(d)) == 0 ? 0 : -errno;
}

/* Runs insn natively on *st; returns 0 or the signal number it raised. */
static int native_run(const uint8_t *insn, unsigned len, struct nstate *st)
{
	unsigned so = gmode == 32 ? SLOT32_OFF : SLOT_OFF, eo = gmode == 32 ? EPI32_OFF : EPI_OFF;
	if (gmode == 16) {
		/* 32-bit part: jmp far 000F:SLOT16; 16-bit slot: insn; jmp far (66) 0023:epi32. */
		uint8_t *s32 = code + SLOT32_OFF, *s16 = code + SLOT16_OFF;
		uint32_t off16 = SLOT16_OFF, epi = (uint32_t)(uintptr_t)(code + EPI32_OFF);
		s32[0] = 0xea;
		memcpy(s32 + 1, &off16, 4);
		s32[5] = LDT_CODE16_SEL;
		s32[6] = 0;
		memcpy(s16, insn, len);
		s16[len] = 0x66;
		s16[len + 1] = 0xea;
		memcpy(s16 + len + 2, &epi, 4);
		s16[len + 6] = USER32_CS;
		s16[len + 7] = 0;
	} else {
		uint8_t *slot = code + so;
		memcpy(slot, insn, len);
		slot[len] = 0xe9;
		int32_t rel = (int32_t)(eo - (so + len + 5));
		memcpy(slot + len + 1, &rel, 4);
	}
	native_sig = 0;
	/* No mask save/restore (a syscall each): the handlers run with SA_NODEFER. */
	if (gmode != 64) {
		/* 32-bit code reaches only the low 4 GiB: run on a copy in the data page. */
		struct nstate *low = (struct nstate *)(void *)(datapg + 256);
		*low = *st;
		uint32_t sel = cur_ldt_sel ? cur_ldt_sel : USER_DS;
		memcpy(datapg + DS_SEL_AT, &sel, 4);
		memcpy(datapg + ES_SEL_AT, &sel, 4);
		if (sigsetjmp(native_jmp, 0) == 0)
			tramp32(low);
		*st = *low;
		return native_sig;
	}
	if (sigsetjmp(native_jmp, 0) == 0)
		tramp(st);
	return native_sig;
}

/* ---- emulator side ---- */

static uint8_t emem[SCRATCH_SIZE];
static uint8_t ecode[32];
static uint64_t ecode_la;
static unsigned bad_access; /* accesses outside the scratch page or oversized */
static char bad_desc[128];

static int emu_range(gva_t la, unsigned size, struct x86_emu_fault *fault)
{
	uint64_t base = (uint64_t)(uintptr_t)scratch;
	if (size < 1 || size > 64 || la.v < base || la.v - base > SCRATCH_SIZE - size) {
		if (!bad_access++)
			snprintf(bad_desc, sizeof(bad_desc), "access la=%#llx size=%u outside scratch",
				 (unsigned long long)la.v, size);
		/* As a page walk would: #PF at the first byte outside the scratch pages. */
		fault->vector = X86_EXC_PF;
		fault->has_error_code = true;
		fault->error_code = 4;
		fault->cr2 = la.v < base || la.v >= base + SCRATCH_SIZE ? la.v : base + SCRATCH_SIZE;
		return -EFAULT;
	}
	return 0;
}

static int e_read(void *ctx, gva_t la, void *buf, unsigned size, enum x86_emu_access kind,
		  struct x86_emu_fault *fault)
{
	(void)ctx;
	if (kind == X86_EMU_FETCH) {
		if (la.v < ecode_la || la.v - ecode_la + size > X86_MAX_INSN_LEN) {
			if (!bad_access++)
				snprintf(bad_desc, sizeof(bad_desc), "fetch la=%#llx size=%u",
					 (unsigned long long)la.v, size);
			return -EIO;
		}
		memcpy(buf, ecode + (la.v - ecode_la), size);
		return 0;
	}
	int rc = emu_range(la, size, fault);
	if (rc)
		return rc;
	memcpy(buf, emem + (la.v - (uint64_t)(uintptr_t)scratch), size);
	return 0;
}

static int e_write(void *ctx, gva_t la, const void *buf, unsigned size, struct x86_emu_fault *fault)
{
	(void)ctx;
	int rc = emu_range(la, size, fault);
	if (rc)
		return rc;
	memcpy(emem + (la.v - (uint64_t)(uintptr_t)scratch), buf, size);
	return 0;
}

static int e_cmpxchg(void *ctx, gva_t la, void *old, const void *nv, unsigned size,
		     struct x86_emu_fault *fault)
{
	(void)ctx;
	int rc = emu_range(la, size, fault);
	if (rc)
		return rc;
	uint8_t *m = emem + (la.v - (uint64_t)(uintptr_t)scratch);
	if (memcmp(m, old, size) != 0) {
		memcpy(old, m, size);
		return 0;
	}
	memcpy(m, nv, size);
	return 1;
}

static const struct x86_emu_ops emu_ops = { e_read, e_write, e_cmpxchg, NULL, NULL };
/* Without a cmpxchg callback the emulator must fall back to read + write. */
static const struct x86_emu_ops emu_ops_nocx = { e_read, e_write, NULL, NULL, NULL };

/* ---- random numbers ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned rndn(unsigned n) { return (unsigned)(rnd() % n); }

static const uint64_t edges[] = {
	0, 1, 2, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff,
	0x7fffffffffffffffull, 0x8000000000000000ull, ~0ull, 0xfffffffffffffffeull,
};

/* Random value biased towards carries, sign changes and zero. */
static uint64_t rval(void)
{
	switch (rndn(8)) {
	case 0: return edges[rndn(sizeof(edges) / sizeof(edges[0]))];
	case 1: return rnd() & 0xff;
	case 2: return -(rnd() & 0xff);
	case 3: return rnd() & 0xffffffff;
	default: return rnd();
	}
}

/* ---- instruction generation ---- */

#define STATUS (X86_FLAG_CF | X86_FLAG_PF | X86_FLAG_AF | X86_FLAG_ZF | X86_FLAG_SF | X86_FLAG_OF)
#define R(x) (1u << (x))

struct tc {
	uint8_t b[32];
	unsigned n;
	int riprel_at;          /* offset of a disp32 to patch for RIP-relative, or -1 */
	uint64_t riprel_target;
	struct nstate st;       /* starting state */
	uint64_t fmask;         /* flags compared */
	int expect_sig;         /* 0, or a signal both sides must fault with (set by generator) */
	bool may_de;            /* div: native decides whether #DE */
	uint64_t seg_base[X86_SEG_COUNT];
	bool noncanonical;      /* the memory operand is non-canonical: both must fault */
	bool ac_impl;           /* #AC for a misaligned operand is implementation-defined */
	bool ldt;               /* 32-bit case with DS = ES = the LDT segment (base = scratch) */
	uint32_t ldt_limit;
	unsigned ldt_idx;       /* which of ldt_limits */
	uint64_t plant_at;      /* bytes run_case writes over the random scratch, or 0 */
	uint8_t plant[16];
	unsigned plant_len;
};

static void plant(struct tc *t, uint64_t at, const void *v, unsigned len)
{
	t->plant_at = at;
	memcpy(t->plant + t->plant_len, v, len);
	t->plant_len += len;
}

static void put(struct tc *t, uint8_t v) { t->b[t->n++] = v; }

/* Whether operand size `size` (2 or 4) needs 66: the default is 16 bits in 16-bit code. */
static bool opsize_pfx(unsigned size)
{
	return gmode == 16 ? size == 4 : size == 2;
}

static void put_imm(struct tc *t, uint64_t v, unsigned size)
{
	for (unsigned i = 0; i < size; i++)
		put(t, (uint8_t)(v >> (8 * i)));
}

/* A memory operand choice. */
struct mem {
	int base, index;        /* -1 none */
	unsigned scale;
	bool riprel, sib, abs32;
	bool a16;               /* 16-bit addressing (67 in 32-bit code), DS = LDT segment */
	unsigned rm16;
	uint8_t seg16;          /* segment override prefix for a16, or 0 */
	unsigned mod;
	int64_t disp;
	unsigned dispsz;
	bool a32;
	int seg;                /* -1, X86_FS or X86_GS */
	uint64_t target;
};

static int pick_reg(uint32_t avoid)
{
	for (;;) {
		int r = (int)rndn(gmode != 64 ? 8 : 16);
		if (r != X86_RSP && !(avoid & R(r)))
			return r;
	}
}

/*
 * Choose an addressing form reaching `size` bytes at a random scratch offset aligned to
 * `align` and set the registers it uses (never those in `avoid`).
 */
/* DS = ES = an LDT data segment: mostly the whole scratch, 1 in 6 a short limit. */
static void pick_ldt(struct tc *t)
{
	t->ldt = true;
	t->ldt_idx = rndn(6) ? 0 : 1 + rndn(7);
	t->ldt_limit = ldt_limits[t->ldt_idx];
}

/* 16-bit addressing forms: [bx+si] [bx+di] [bp+si] [bp+di] [si] [di] [bp]/disp16 [bx]. */
static const uint32_t rm16_regs[8] = {
	R(X86_RBX) | R(X86_RSI), R(X86_RBX) | R(X86_RDI), R(X86_RBP) | R(X86_RSI),
	R(X86_RBP) | R(X86_RDI), R(X86_RSI), R(X86_RDI), R(X86_RBP), R(X86_RBX),
};

/*
 * 16-bit addressing in 32-bit code: the operand offset `off` inside the LDT segment (based
 * at the scratch pages; the limit is usually the scratch size, sometimes just around the
 * operand so that the access straddles it and #GP(0) is due). BP-based forms default to SS
 * (flat, unreachable below 64 KiB), so they get a DS or ES override.
 */
static void gen_mem16(struct tc *t, struct mem *m, uint32_t avoid, unsigned size, uint64_t off)
{
	m->a16 = true;
	pick_ldt(t);
	if (t->ldt_idx) /* a short limit: put the operand across it now and then */
		off = t->ldt_limit + 1 - size + rndn(5) - 2;
	m->target = (uint64_t)(uintptr_t)scratch + off;
	unsigned rm, mod;
	do {
		rm = rndn(8);
		mod = rndn(3);
	} while (rm16_regs[rm] & avoid && !(rm == 6 && mod == 0));
	m->rm16 = rm;
	m->mod = mod;
	bool bp = (rm == 2 || rm == 3 || rm == 6) && !(rm == 6 && mod == 0);
	m->seg16 = bp || rndn(4) == 0 ? (rndn(2) ? 0x3e : 0x26) : 0;
	int32_t disp = 0;
	if (rm == 6 && mod == 0) {
		m->dispsz = 2;
		m->disp = (int64_t)(off & 0xffff);
		return;
	}
	if (mod == 1) {
		m->dispsz = 1;
		disp = (int8_t)rnd();
	} else if (mod == 2) {
		m->dispsz = 2;
		disp = (int16_t)rnd();
	}
	m->disp = disp;
	/* First register random (garbage above bit 15), the second closes the sum mod 64 KiB. */
	static const int first[8] = { X86_RSI, X86_RDI, X86_RSI, X86_RDI, -1, -1, -1, -1 };
	static const int second[8] = { X86_RBX, X86_RBX, X86_RBP, X86_RBP, X86_RSI, X86_RDI,
				       X86_RBP, X86_RBX };
	uint32_t v1 = 0;
	if (first[rm] >= 0) {
		v1 = (uint32_t)rnd() & 0xffff;
		t->st.gpr[first[rm]] = (rnd() << 16) | v1;
	}
	uint32_t v2 = ((uint32_t)off - (uint32_t)disp - v1) & 0xffff;
	t->st.gpr[second[rm]] = (rnd() << 16) | v2;
}

static void gen_mem(struct tc *t, struct mem *m, uint32_t avoid, unsigned size, unsigned align,
		    bool allow_a32)
{
	memset(m, 0, sizeof(*m));
	m->base = m->index = m->seg = -1;
	m->scale = 1;
	uint64_t off = 1536 + rndn(SCRATCH_SIZE - 3072 - size);
	if (align > 1)
		off &= ~(uint64_t)(align - 1);
	else if (rndn(4) == 0)
		off = (off & ~63ull) + 64 - (size > 1 ? rndn(size) : 0); /* straddle a line */
	if (align == 1 && rndn(64) == 0)
		off = SCRATCH_SIZE - size + 1 + rndn(size); /* into the guard page: #PF */
	m->target = (uint64_t)(uintptr_t)scratch + off;
	if (gmode == 16 || (gmode == 32 && allow_a32 && ldt_ok && rndn(4) == 0)) {
		gen_mem16(t, m, avoid, size, off);
		return;
	}
	m->a32 = allow_a32 && gmode == 64 && rndn(6) == 0;
	bool w32 = m->a32 || gmode == 32; /* effective address wraps at 4 GiB */
	unsigned form = rndn(16);
	if (gmode == 64 && !m->a32 && form >= 2 && rndn(40) == 0) {
		/* Non-canonical: the CPU raises #GP(0) (#SS(0) for an SS-based access). */
		m->target = (rndn(2) ? 0x0000800000000000ull : 0xffff000000000000ull) +
			    (rnd() & 0x7fffffffffffull & ~(uint64_t)(align > 1 ? align - 1 : 0));
		t->noncanonical = true;
	}
	if (form == 0 && gmode == 32) {
		m->abs32 = true; /* mod 00, rm 101: [disp32] outside 64-bit mode */
		m->dispsz = 4;
		m->disp = (int64_t)(uint32_t)m->target;
		return;
	}
	if (form == 0) {
		m->riprel = true;
		m->mod = 0;
		m->dispsz = 4;
		return;
	}
	if (gmode == 64 && !m->a32 && rndn(8) == 0)
		m->seg = rndn(2) ? X86_FS : X86_GS;
	uint64_t segbase = m->seg == X86_FS ? fs_base : m->seg == X86_GS ? gs_base : 0;
	uint64_t want = m->target - segbase;
	if (form == 1 && m->seg < 0) {
		/* No base: [index*scale + disp32] or [disp32]; the scratch lies below 2 GiB. */
		m->sib = true;
		m->mod = 0;
		m->dispsz = 4;
		int64_t iv = 0;
		if (rndn(2)) {
			m->index = pick_reg(avoid);
			m->scale = 1u << rndn(4);
			iv = (int64_t)rndn(64) - 32;
			t->st.gpr[m->index] = (uint64_t)iv;
			if (w32)
				t->st.gpr[m->index] = (uint32_t)iv | (rnd() << 32);
		}
		m->disp = (int64_t)want - iv * (int64_t)m->scale;
		return;
	}
	m->base = pick_reg(avoid);
	if (rndn(3) == 0 || (m->base & 7) == 4) {
		m->sib = true;
		if (rndn(3)) {
			m->index = pick_reg(avoid | R(m->base));
			m->scale = 1u << rndn(4);
		}
	}
	unsigned dk = rndn(3);
	if (dk == 0 && (m->base & 7) == 5)
		dk = 1;
	m->mod = dk;
	m->dispsz = dk == 0 ? 0 : dk == 1 ? 1 : 4;
	m->disp = dk == 0 ? 0 : dk == 1 ? (int8_t)rnd() : (int32_t)(rnd() & 0x7fffffff) >> rndn(31);
	if (dk == 2 && rndn(2))
		m->disp = -m->disp;
	int64_t iv = 0;
	if (m->index >= 0) {
		iv = (int64_t)rndn(256) - 128;
		t->st.gpr[m->index] = w32 ? ((uint32_t)iv | (rnd() << 32)) : (uint64_t)iv;
	}
	uint64_t bv = want - (uint64_t)m->disp - (uint64_t)iv * m->scale;
	if (w32)
		bv = (uint32_t)bv | (rnd() << 32);
	t->st.gpr[m->base] = bv;
}


/*
 * Emit: legacy prefixes, REX, opcode bytes, ModRM (+SIB, disp) for `reg` and either memory *m
 * or register `rm` (m == NULL). rexw/force_rex choose REX.
 */
/* When vex_pp >= 0, emit_modrm_insn encodes the operation with a VEX.128 prefix (pp = 0, 66,
 * F3, F2 as 0-3; vvvv unused) instead of legacy prefixes + REX + 0F. */
static int vex_pp = -1;

static void put_vex(struct tc *t, bool w, unsigned reg, const struct mem *m, unsigned rm,
		    uint8_t opcode)
{
	bool r = reg & 8, x = m && m->index >= 8, b = m ? m->base >= 8 : (rm & 8) != 0;
	if (!x && !b && !w && rndn(2)) {
		put(t, 0xc5);
		put(t, (uint8_t)((r ? 0 : 0x80) | 0x78 | (unsigned)vex_pp));
	} else {
		put(t, 0xc4);
		put(t, (uint8_t)((r ? 0 : 0x80) | (x ? 0 : 0x40) | (b ? 0 : 0x20) | 1));
		put(t, (uint8_t)((w ? 0x80 : 0) | 0x78 | (unsigned)vex_pp));
	}
	put(t, opcode);
}

static void emit_modrm_insn(struct tc *t, const uint8_t *pfx, unsigned npfx, bool rexw,
			    bool force_rex, unsigned reg, const struct mem *m, unsigned rm,
			    const uint8_t *op, unsigned nop)
{
	/* ES/CS/SS/DS overrides are no-ops in 64-bit mode, before or after an FS/GS one. */
	static const uint8_t nullseg[4] = { 0x26, 0x2e, 0x36, 0x3e };
	if (m && m->a16) {
		if (m->seg16)
			put(t, m->seg16);
		if (gmode == 32)
			put(t, 0x67);
		if (vex_pp >= 0) {
			put_vex(t, rexw, reg, m, rm, op[nop - 1]);
		} else {
			for (unsigned i = 0; i < npfx; i++)
				put(t, pfx[i]);
			for (unsigned i = 0; i < nop; i++)
				put(t, op[i]);
		}
		put(t, (uint8_t)((m->mod << 6) | ((reg & 7) << 3) | m->rm16));
		put_imm(t, (uint64_t)m->disp, m->dispsz);
		return;
	}
	if (m && rndn(6) == 0)
		put(t, nullseg[rndn(4)]);
	if (m && m->seg >= 0)
		put(t, m->seg == X86_FS ? 0x64 : 0x65);
	if (m && rndn(6) == 0)
		put(t, nullseg[rndn(4)]);
	if (m && m->a32)
		put(t, 0x67);
	if (vex_pp >= 0) {
		put_vex(t, rexw, reg, m, rm, op[nop - 1]);
		nop = 0;
		npfx = 0;
		force_rex = false;
	}
	for (unsigned i = 0; i < npfx; i++)
		put(t, pfx[i]);
	unsigned rex = 0x40 | (rexw ? 8 : 0) | ((reg & 8) ? 4 : 0);
	if (m) {
		if (m->index >= 8)
			rex |= 2;
		if (m->base >= 8)
			rex |= 1;
		/* SIB base 101, mod 00: no base whatever REX.B says (only where a REX is
		 * emitted anyway: its presence changes what byte registers 4-7 mean). */
		if (gmode == 64 && m->sib && m->base < 0 && (rex != 0x40 || force_rex) && rndn(2))
			rex |= 1;
	} else if (rm & 8) {
		rex |= 1;
	}
	if ((rex != 0x40 || force_rex) && vex_pp < 0)
		put(t, (uint8_t)rex);
	for (unsigned i = 0; i < nop; i++)
		put(t, op[i]);
	if (!m) {
		put(t, (uint8_t)(0xc0 | ((reg & 7) << 3) | (rm & 7)));
		return;
	}
	if (m->abs32) {
		put(t, (uint8_t)(((reg & 7) << 3) | 5));
		put_imm(t, (uint64_t)m->disp, 4);
		return;
	}
	if (m->riprel) {
		put(t, (uint8_t)(((reg & 7) << 3) | 5));
		t->riprel_at = (int)t->n;
		t->riprel_target = m->target;
		put_imm(t, 0, 4);
		return;
	}
	if (m->sib) {
		put(t, (uint8_t)((m->mod << 6) | ((reg & 7) << 3) | 4));
		unsigned ss = m->scale == 8 ? 3 : m->scale == 4 ? 2 : m->scale == 2 ? 1 : 0;
		unsigned idx = m->index >= 0 ? (unsigned)m->index & 7 : 4;
		unsigned base = m->base >= 0 ? (unsigned)m->base & 7 : 5;
		put(t, (uint8_t)((ss << 6) | (idx << 3) | base));
	} else {
		put(t, (uint8_t)((m->mod << 6) | ((reg & 7) << 3) | ((unsigned)m->base & 7)));
	}
	put_imm(t, (uint64_t)m->disp, m->dispsz);
}

/* ---- forms ---- */

enum fl {
	FL_NONE,    /* flags untouched: compare all */
	FL_ALL,     /* all status flags defined */
	FL_LOGIC,   /* AF undefined */
	FL_BT,      /* CF defined, ZF unchanged, OF SF AF PF undefined */
	FL_MUL,     /* CF OF defined */
	FL_DIV,     /* all undefined */
	FL_SHIFT, FL_ROT, FL_SHD, /* count-dependent, computed per case */
};

enum attr {
	A_LOCK = 1,     /* LOCK allowed with a memory destination */
	A_DIV = 2,      /* may #DE */
	A_BTREG = 4,    /* bit offset in a register reaches outside the operand */
	A_CL = 8,       /* count in CL */
	A_ONE = 16,     /* count 1 */
	A_XCHG = 64,    /* implicitly locked */
	A_NOREG = 128,  /* memory only */
	A_SHD16 = 256,  /* shld/shrd: keep 16-bit count <= 16 */
	A_CMPX = 512,   /* cmpxchg: make accumulator equal memory half the time */
};

enum immk { I_NONE, I_8, I_Z, I_8S };

struct form {
	const char *name;
	uint8_t map;        /* 0 one-byte, 1 0F */
	int16_t op8, op;    /* opcode for byte size / other sizes, -1 none */
	int8_t ext;         /* ModRM.reg extension, -1 = register operand */
	uint8_t sizes;      /* SZ* bits */
	uint8_t imm;
	uint8_t fl;
	uint16_t attr;
	uint32_t implicit;  /* registers used implicitly (not usable for addressing) */
	uint8_t rot;        /* for FL_SHIFT/FL_ROT: ModRM.reg operation */
};

#define ALU(nm, b, e, f) \
	{ nm " rm,r", 0, b, b + 1, -1, 15, I_NONE, f, A_LOCK, 0, 0 }, \
	{ nm " r,rm", 0, b + 2, b + 3, -1, 15, I_NONE, f, 0, 0, 0 }, \
	{ nm " rm,imm", 0, 0x80, 0x81, e, 15, I_Z, f, A_LOCK, 0, 0 }, \
	{ nm " rm,imm8s", 0, -1, 0x83, e, 14, I_8S, f, A_LOCK, 0, 0 }

#define SHIFT(nm, e, f) \
	{ nm " rm,1", 0, 0xd0, 0xd1, e, 15, I_NONE, f, A_ONE, 0, e }, \
	{ nm " rm,cl", 0, 0xd2, 0xd3, e, 15, I_NONE, f, A_CL, R(X86_RCX), e }, \
	{ nm " rm,imm8", 0, 0xc0, 0xc1, e, 15, I_8, f, 0, 0, e }

static const struct form forms[] = {
	{ "mov rm,r", 0, 0x88, 0x89, -1, 15, I_NONE, FL_NONE, 0, 0, 0 },
	{ "mov r,rm", 0, 0x8a, 0x8b, -1, 15, I_NONE, FL_NONE, 0, 0, 0 },
	{ "mov rm,imm", 0, 0xc6, 0xc7, 0, 15, I_Z, FL_NONE, 0, 0, 0 },
	ALU("add", 0x00, 0, FL_ALL), ALU("or", 0x08, 1, FL_LOGIC), ALU("adc", 0x10, 2, FL_ALL),
	ALU("sbb", 0x18, 3, FL_ALL), ALU("and", 0x20, 4, FL_LOGIC), ALU("sub", 0x28, 5, FL_ALL),
	ALU("xor", 0x30, 6, FL_LOGIC), ALU("cmp", 0x38, 7, FL_ALL),
	{ "test rm,r", 0, 0x84, 0x85, -1, 15, I_NONE, FL_LOGIC, 0, 0, 0 },
	{ "test rm,imm", 0, 0xf6, 0xf7, 0, 15, I_Z, FL_LOGIC, 0, 0, 0 },
	{ "inc", 0, 0xfe, 0xff, 0, 15, I_NONE, FL_ALL, A_LOCK, 0, 0 },
	{ "dec", 0, 0xfe, 0xff, 1, 15, I_NONE, FL_ALL, A_LOCK, 0, 0 },
	{ "not", 0, 0xf6, 0xf7, 2, 15, I_NONE, FL_NONE, A_LOCK, 0, 0 },
	{ "neg", 0, 0xf6, 0xf7, 3, 15, I_NONE, FL_ALL, A_LOCK, 0, 0 },
	{ "mul", 0, 0xf6, 0xf7, 4, 15, I_NONE, FL_MUL, 0, R(X86_RAX) | R(X86_RDX), 0 },
	{ "imul rm", 0, 0xf6, 0xf7, 5, 15, I_NONE, FL_MUL, 0, R(X86_RAX) | R(X86_RDX), 0 },
	{ "div", 0, 0xf6, 0xf7, 6, 15, I_NONE, FL_DIV, A_DIV, R(X86_RAX) | R(X86_RDX), 0 },
	{ "idiv", 0, 0xf6, 0xf7, 7, 15, I_NONE, FL_DIV, A_DIV, R(X86_RAX) | R(X86_RDX), 0 },
	{ "imul r,rm", 1, -1, 0xaf, -1, 14, I_NONE, FL_MUL, 0, 0, 0 },
	{ "imul r,rm,imm", 0, -1, 0x69, -1, 14, I_Z, FL_MUL, 0, 0, 0 },
	{ "imul r,rm,imm8", 0, -1, 0x6b, -1, 14, I_8S, FL_MUL, 0, 0, 0 },
	{ "xchg", 0, 0x86, 0x87, -1, 15, I_NONE, FL_NONE, A_XCHG, 0, 0 },
	{ "xadd", 1, 0xc0, 0xc1, -1, 15, I_NONE, FL_ALL, A_LOCK, 0, 0 },
	{ "cmpxchg", 1, 0xb0, 0xb1, -1, 15, I_NONE, FL_ALL, A_LOCK | A_CMPX, R(X86_RAX), 0 },
	{ "bt r", 1, -1, 0xa3, -1, 14, I_NONE, FL_BT, A_BTREG, 0, 0 },
	{ "bts r", 1, -1, 0xab, -1, 14, I_NONE, FL_BT, A_BTREG | A_LOCK, 0, 0 },
	{ "btr r", 1, -1, 0xb3, -1, 14, I_NONE, FL_BT, A_BTREG | A_LOCK, 0, 0 },
	{ "btc r", 1, -1, 0xbb, -1, 14, I_NONE, FL_BT, A_BTREG | A_LOCK, 0, 0 },
	{ "bt imm", 1, -1, 0xba, 4, 14, I_8, FL_BT, 0, 0, 0 },
	{ "bts imm", 1, -1, 0xba, 5, 14, I_8, FL_BT, A_LOCK, 0, 0 },
	{ "btr imm", 1, -1, 0xba, 6, 14, I_8, FL_BT, A_LOCK, 0, 0 },
	{ "btc imm", 1, -1, 0xba, 7, 14, I_8, FL_BT, A_LOCK, 0, 0 },
	SHIFT("rol", 0, FL_ROT), SHIFT("ror", 1, FL_ROT), SHIFT("rcl", 2, FL_ROT),
	SHIFT("rcr", 3, FL_ROT), SHIFT("shl", 4, FL_SHIFT), SHIFT("shr", 5, FL_SHIFT),
	SHIFT("sar", 7, FL_SHIFT),
	{ "shld imm", 1, -1, 0xa4, -1, 14, I_8, FL_SHD, A_SHD16, 0, 0 },
	{ "shld cl", 1, -1, 0xa5, -1, 14, I_NONE, FL_SHD, A_SHD16 | A_CL, R(X86_RCX), 0 },
	{ "shrd imm", 1, -1, 0xac, -1, 14, I_8, FL_SHD, A_SHD16, 0, 0 },
	{ "shrd cl", 1, -1, 0xad, -1, 14, I_NONE, FL_SHD, A_SHD16 | A_CL, R(X86_RCX), 0 },
	{ "movzx8", 1, -1, 0xb6, -1, 14, I_NONE, FL_NONE, 0, 0, 0 },
	{ "movzx16", 1, -1, 0xb7, -1, 14, I_NONE, FL_NONE, 0, 0, 0 },
	{ "movsx8", 1, -1, 0xbe, -1, 14, I_NONE, FL_NONE, 0, 0, 0 },
	{ "movsx16", 1, -1, 0xbf, -1, 14, I_NONE, FL_NONE, 0, 0, 0 },
	{ "movsxd", 0, -1, 0x63, -1, 12, I_NONE, FL_NONE, 0, 0, 0 },
	{ "movnti", 1, -1, 0xc3, -1, 12, I_NONE, FL_NONE, A_NOREG, 0, 0 },
};
#define NFORMS (sizeof(forms) / sizeof(forms[0]))

/* Source operand size of the r/m for forms whose r/m size differs from the operand size. */
static unsigned rm_size(const struct form *f, unsigned size)
{
	if (f->map == 1 && (f->op == 0xb6 || f->op == 0xbe))
		return 1;
	if (f->map == 1 && (f->op == 0xb7 || f->op == 0xbf))
		return 2;
	if (f->map == 0 && f->op == 0x63)
		return size == 8 ? 4 : size;
	return size;
}

static uint64_t szmask(unsigned size) { return size == 8 ? ~0ull : (1ull << (8 * size)) - 1; }

static void set_low(uint64_t *r, uint64_t v, unsigned size)
{
	*r = (*r & ~szmask(size)) | (v & szmask(size));
}

/* Per-case mask of defined flags for count-dependent forms. */
static uint64_t shift_mask(const struct form *f, unsigned size, unsigned count)
{
	unsigned masked = count & (size == 8 ? 63 : 31);
	if (masked == 0)
		return STATUS | X86_FLAG_DF;
	uint64_t m = STATUS | X86_FLAG_DF;
	if (masked != 1)
		m &= ~X86_FLAG_OF;
	if (f->fl == FL_SHIFT) {
		m &= ~X86_FLAG_AF;
		if ((f->rot == 4 || f->rot == 5) && masked >= 8 * size)
			m &= ~X86_FLAG_CF;
	} else if (f->fl == FL_SHD) {
		m &= ~X86_FLAG_AF;
	}
	return m;
}

static uint64_t base_mask(unsigned fl)
{
	uint64_t all = STATUS | X86_FLAG_DF;
	switch (fl) {
	case FL_LOGIC: return all & ~X86_FLAG_AF;
	case FL_BT: return X86_FLAG_CF | X86_FLAG_ZF | X86_FLAG_DF;
	case FL_MUL: return X86_FLAG_CF | X86_FLAG_OF | X86_FLAG_DF;
	case FL_DIV: return X86_FLAG_DF;
	default: return all;
	}
}

static void random_state(struct tc *t)
{
	memset(t, 0, sizeof(*t));
	t->riprel_at = -1;
	for (unsigned r = 0; r < 16; r++)
		t->st.gpr[r] = rval();
	t->st.rflags = 0x202 | (rnd() & (STATUS | X86_FLAG_DF));
	/* Alignment checking now and then: Linux runs CPL 3 with CR0.AM set, so a misaligned
	 * access raises #AC (SIGBUS/BUS_ADRALN) natively; the emulator gets CR0.AM too. */
	if (rndn(16) == 0)
		t->st.rflags |= X86_FLAG_AC;
	for (unsigned r = 0; r < 16; r++)
		for (unsigned b = 0; b < 16; b += 8) {
			uint64_t v = rnd();
			memcpy(&t->st.xmm[r][b], &v, 8);
		}
	/* ES/CS/SS/DS bases are ignored in 64-bit mode: give the emulator garbage there now
	 * and then. */
	bool junk = gmode == 64 && rndn(4) == 0;
	for (unsigned s = 0; s < X86_SEG_COUNT; s++)
		t->seg_base[s] = junk ? (rnd() & 0xfffff000) : 0;
	t->seg_base[X86_FS] = fs_base;
	t->seg_base[X86_GS] = gs_base;
}

/* Byte register number usable as operand: without REX, 4-7 are AH..BH (of regs 0-3). */
static uint32_t byte_reg_bit(unsigned reg, bool rex)
{
	return (!rex && reg >= 4 && reg < 8) ? R(reg - 4) : R(reg);
}

static unsigned pick_reg8(uint32_t avoid, bool rex)
{
	for (;;) {
		unsigned r = rndn(rex ? 16 : 8);
		if ((rex && r == X86_RSP) || (avoid & byte_reg_bit(r, rex)))
			continue;
		return r;
	}
}

/* Build one case of form f with operand size `size`, memory or register r/m. */
static void gen_form(struct tc *t, const struct form *f, unsigned size, bool mem)
{
	random_state(t);
	uint8_t pfx[4];
	unsigned npfx = 0;
	/* LOCK on a lockable memory form, and rarely anywhere else (then both must #UD). */
	bool lock = (mem && (f->attr & A_LOCK) && rndn(3) == 0) || rndn(64) == 0;
	if (lock)
		pfx[npfx++] = 0xf0;
	if (opsize_pfx(size))
		pfx[npfx++] = 0x66;
	if (rndn(2) && npfx > 1) { /* prefix order does not matter */
		uint8_t x = pfx[0];
		pfx[0] = pfx[1];
		pfx[1] = x;
	}
	bool rexw = size == 8;
	unsigned rsize = rm_size(f, size);
	bool byte_reg = size == 1 && f->ext < 0;  /* ModRM.reg names a byte register */
	bool byte_rm = !mem && rsize == 1;        /* ModRM.rm names a byte register */
	/* Whether a REX prefix is present decides what byte registers 4-7 mean (AH..BH or
	 * SPL..DIL), so decide it first; without REX only registers 0-7 can appear. */
	bool rex = gmode == 64 && (rexw || rndn(2));
	bool force_rex = rex && !rexw;
	uint32_t lim = (((byte_reg || byte_rm) && !rex) || gmode != 64) ? 0xff00u : 0;
	uint32_t avoid = f->implicit | lim;
	unsigned reg;
	if (f->ext >= 0) {
		reg = (unsigned)f->ext;
	} else if (byte_reg) {
		reg = pick_reg8(avoid, rex);
		avoid |= byte_reg_bit(reg, rex);
	} else {
		reg = (unsigned)pick_reg(avoid);
		avoid |= R(reg);
	}
	struct mem m;
	unsigned rm = 0;
	if (mem)
		gen_mem(t, &m, avoid, rsize, 1, true);
	else if (byte_rm)
		rm = pick_reg8(lim, rex); /* same register on both sides is fine */
	else
		rm = (unsigned)pick_reg(lim);
	uint8_t op[2];
	unsigned nop = 0;
	if (f->map == 1)
		op[nop++] = 0x0f;
	op[nop++] = (uint8_t)(size == 1 ? f->op8 : f->op);
	emit_modrm_insn(t, pfx, npfx, rexw, force_rex, reg, mem ? &m : NULL, rm, op, nop);

	unsigned isz = 0;
	uint64_t imm = rval();
	switch (f->imm) {
	case I_8: case I_8S: isz = 1; break;
	case I_Z: isz = size == 8 ? 4 : size; break;
	default: break;
	}
	t->fmask = base_mask(f->fl);

	unsigned count = 0;
	if (f->fl == FL_SHIFT || f->fl == FL_ROT || f->fl == FL_SHD) {
		unsigned bits = 8 * size;
		unsigned pick[] = { 0, 1, bits - 1, bits, bits + 1, 31, 32, 33, 63, 64, 9, 17 };
		count = rndn(3) ? pick[rndn(12)] : (unsigned)rnd();
		count &= 0xff;
		if ((f->attr & A_SHD16) && size == 2 && (count & 31) > 16)
			count = count & 15;
		if (f->attr & A_ONE)
			count = 1;
		else if (f->attr & A_CL)
			t->st.gpr[X86_RCX] = (t->st.gpr[X86_RCX] & ~0xffull) | count;
		else
			imm = count;
		t->fmask = shift_mask(f, size, count);
	}
	if (isz)
		put_imm(t, imm, isz);

	/* Bit offsets in a register must keep the access inside the scratch page. */
	if ((f->attr & A_BTREG) && mem) {
		int64_t off = (int64_t)rndn(2048) - 1024;
		t->st.gpr[reg] = (rnd() & ~szmask(size)) | ((uint64_t)off & szmask(size));
	}
	if (f->attr & A_DIV) {
		uint64_t sm = szmask(size);
		if (rndn(4)) {
			/* Mostly valid divisions: high half sign/zero extends the low half. */
			uint64_t lo = rval() & sm;
			bool neg = (f->ext == 7) && (lo >> (8 * size - 1));
			uint64_t hi = neg ? sm : 0;
			if (size == 1) {
				set_low(&t->st.gpr[X86_RAX], lo | (hi << 8), 2);
			} else {
				set_low(&t->st.gpr[X86_RAX], lo, size);
				set_low(&t->st.gpr[X86_RDX], hi, size);
			}
			if (f->ext == 6 && size > 1 && rndn(2))
				set_low(&t->st.gpr[X86_RDX], rval() & sm, size); /* often #DE */
		}
		t->may_de = true;
	}
	if ((f->attr & A_CMPX) && rndn(2)) {
		/* Make the compare succeed half the time. */
		if (mem)
			plant(t, m.target, &t->st.gpr[X86_RAX], size);
		else
			set_low(&t->st.gpr[X86_RAX], t->st.gpr[rm], size);
	}
}

/* ---- running and comparing ---- */

/*
 * True when the bytes are invalid only because of a LOCK prefix: x86_decode rejects them,
 * and accepts them with the F0 prefixes removed. For these, Intel (SDM vol. 3, 6.9: decode
 * faults rank before memory faults of the instruction) raises #UD, while AMD hosts raise a
 * fault of the memory operand first. The emulator keeps the Intel order on purpose (probing
 * the operand could touch MMIO), so a host memory fault against an emulator #UD is counted
 * as "vendor-order", not as a mismatch.
 */
static bool lock_misuse(const uint8_t *b, unsigned n)
{
	enum x86_mode m = gmode == 64 ? X86_MODE_64 : gmode == 32 ? X86_MODE_32 : X86_MODE_16;
	struct x86_insn in;
	if (x86_decode(b, n, m, &in) != -EINVAL || !in.lock)
		return false;
	uint8_t s[16];
	unsigned k = 0, i = 0;
	bool lock = false;
	for (; i < n && k < sizeof(s); i++) {
		uint8_t c = b[i];
		bool pfx = c == 0x26 || c == 0x2e || c == 0x36 || c == 0x3e || c == 0x64 ||
			   c == 0x65 || c == 0x66 || c == 0x67 || c == 0xf0 || c == 0xf2 ||
			   c == 0xf3 || (gmode == 64 && (c & 0xf0) == 0x40);
		if (!pfx)
			break;
		if (c == 0xf0)
			lock = true;
		else
			s[k++] = c;
	}
	if (!lock || n - i > sizeof(s) - k)
		return false;
	memcpy(s + k, b + i, n - i);
	k += n - i;
	return x86_decode(s, k, m, &in) > 0 && in.has_mem; /* else no memory fault to race */
}

/*
 * CMPS (A6/A7) and, with `scas`, SCAS (AE/AF): the decoded opcode when the bytes are one of
 * them, else 0. Two vendor behaviours there are accepted (and counted), not mismatches:
 * - CMPS reads two memory operands; which one's fault is reported when both would fault is
 *   not architectural. The emulator checks DS:rSI first (Intel's order); AMD's Zen 5 (family
 *   1Ah) reports the ES:rDI operand's (#AC against the emulator's #GP, and the reverse).
 * - At a fault in REPE/REPNE CMPS/SCAS the SDM (vol. 2, REP) restores EFLAGS to their value
 *   before the instruction, as the emulator does; Zen 5 leaves the flags of the iterations it
 *   completed. Registers, RIP and memory must still agree.
 */
static unsigned cmps_form(const uint8_t *b, unsigned n, bool scas, bool *rep)
{
	enum x86_mode m = gmode == 64 ? X86_MODE_64 : gmode == 32 ? X86_MODE_32 : X86_MODE_16;
	struct x86_insn d;
	if (x86_decode(b, n, m, &d) <= 0 || d.opcode_map != 0)
		return 0;
	*rep = d.rep;
	unsigned op = d.opcode & ~1u;
	return op == 0xa6 || (scas && op == 0xae) ? d.opcode : 0;
}

struct stats {
	unsigned cases, mismatches, unsupported, faults_both, ac_impl, rep0_zext;
};

static unsigned rep0_total; /* REP, 32-bit addressing, no iteration: host zero-extended */

/*
 * REP MOVS/CMPS/STOS/LODS/SCAS with 32-bit addressing in 64-bit mode that completes no
 * iteration (ECX = 0, or a fault in the first one): the SDM's REP loop writes no register
 * then, and neither does the emulator (nor AMD hosts). Intel's fast-string microcode (seen
 * on a Xeon with FSRM) writes ECX on entry, and for MOVS and STOS also the ESI/EDI they use,
 * zero-extending them to 64 bits. Accept exactly that: the emulator changed no register, the
 * host at most cleared the upper halves of RCX and of the index registers the instruction
 * uses. `faulted`: both sides raised the same fault (else the count must be 0).
 */
static bool rep0_zext(const struct tc *t, bool faulted, const uint64_t *in, const uint64_t *emu,
		      const uint64_t *nat)
{
	struct x86_insn d;
	if (gmode != 64 || x86_decode(t->b, t->n, X86_MODE_64, &d) <= 0 || !d.rep ||
	    d.addr_size != 4 || d.opcode_map != 0 || d.opcode < 0xa4 || d.opcode > 0xaf ||
	    d.opcode == 0xa8 || d.opcode == 0xa9 || (!faulted && (uint32_t)in[X86_RCX] != 0))
		return false;
	unsigned op = d.opcode & ~1u;
	uint32_t may = R(X86_RCX);
	if (op == 0xa4 || op == 0xa6 || op == 0xac)
		may |= R(X86_RSI);
	if (op != 0xac)
		may |= R(X86_RDI);
	for (unsigned r = 0; r < 16; r++) {
		if (emu[r] != in[r])
			return false;
		if (nat[r] != in[r] && !((may & R(r)) && nat[r] == (uint32_t)in[r]))
			return false;
	}
	return true;
}

static unsigned printed;

static void dump_case(const char *what, const struct tc *t, const struct nstate *nat,
		      const struct x86_emu_cpu *emu, uint64_t rip0, int nsig, int eres,
		      const struct x86_emu_fault *fault)
{
	if (printed++ >= 20)
		return;
	fflush(stdout);
	fprintf(stderr, "MISMATCH %s: bytes", what);
	for (unsigned i = 0; i < t->n; i++)
		fprintf(stderr, " %02x", t->b[i]);
	fprintf(stderr, "\n  native signal %d (si_code %d); emu result %d, fault vector %u, "
		"RIP %+lld (length %u)\n", nsig, (int)native_code, eres, fault->vector,
		(long long)(emu->rip - rip0), t->n);
	if (bad_access)
		fprintf(stderr, "  emulator %s\n", bad_desc);
	static const char *const names[16] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi",
		"rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15" };
	for (unsigned r = 0; r < 16; r++) {
		if (r == X86_RSP)
			continue;
		fprintf(stderr, "  %-3s in %016llx native %016llx emu %016llx%s\n", names[r],
			(unsigned long long)t->st.gpr[r], (unsigned long long)nat->gpr[r],
			(unsigned long long)emu->gpr[r], nat->gpr[r] != emu->gpr[r] ? "  <--" : "");
	}
	fprintf(stderr, "  rflags in %05llx native %05llx emu %05llx (compared %05llx)\n",
		(unsigned long long)t->st.rflags, (unsigned long long)nat->rflags,
		(unsigned long long)emu->rflags, (unsigned long long)t->fmask);
	fprintf(stderr, "  scratch at %p", (void *)scratch);
	if (t->ldt)
		fprintf(stderr, "; DS = ES = LDT segment base scratch, limit %#x", t->ldt_limit);
	fprintf(stderr, "\n");
}

/* Watchdog: a case that does not finish (emulator loop) is reported, not waited for. */
static const struct tc *cur_case;

static void on_alarm(int sig)
{
	(void)sig;
	static const char hex[] = "0123456789abcdef";
	char msg[160];
	unsigned n = 0;
	const char *head = "x86_diff_test: a case did not finish (watchdog), bytes:";
	while (*head)
		msg[n++] = *head++;
	for (unsigned i = 0; cur_case && i < cur_case->n && n < sizeof(msg) - 4; i++) {
		msg[n++] = ' ';
		msg[n++] = hex[cur_case->b[i] >> 4];
		msg[n++] = hex[cur_case->b[i] & 15];
	}
	msg[n++] = '\n';
	if (write(2, msg, n) < 0)
		_exit(2);
	_exit(1);
}

/* Back in 64-bit mode the upper halves of registers written in compatibility mode are
 * undefined (SDM vol. 1 3.4.1.1): compare the low 32 bits of RAX..RDI there, and R8-R15
 * (unreachable) in full. */
static bool gprs_match(const uint64_t *emu, const uint64_t *nat)
{
	for (unsigned r = 0; r < 16; r++) {
		uint64_t m = gmode != 64 && r < 8 ? 0xffffffffull : ~0ull;
		if ((emu[r] ^ nat[r]) & m)
			return false;
	}
	return true;
}

/* Runs one case both ways and compares; returns true if they agree. */
static bool run_case(struct tc *t, const char *name, struct stats *s)
{
	uint64_t slot = (uint64_t)(uintptr_t)(code + (gmode == 16 ? SLOT16_OFF :
						    gmode == 32 ? SLOT32_OFF : SLOT_OFF));
	/* 16-bit code runs in a segment based at the code page: RIP is relative to it. */
	uint64_t cs_base = gmode == 16 ? (uint64_t)(uintptr_t)code : 0;
	if (t->riprel_at >= 0) {
		int64_t d = (int64_t)(t->riprel_target - (slot + t->n));
		uint32_t d32 = (uint32_t)(int32_t)d;
		memcpy(t->b + t->riprel_at, &d32, 4);
	}
	/* Fresh random scratch; optionally plant RAX for cmpxchg so the compare succeeds. */
	static uint8_t pool[8 * SCRATCH_SIZE];
	static bool pool_ready;
	if (!pool_ready) {
		for (unsigned i = 0; i < sizeof(pool); i += 8) {
			uint64_t v = rval();
			memcpy(pool + i, &v, 8);
		}
		pool_ready = true;
	}
	memcpy(scratch, pool + 8 * rndn(7 * SCRATCH_SIZE / 8), SCRATCH_SIZE);
	uint64_t poff = t->plant_at - (uint64_t)(uintptr_t)scratch;
	if (t->plant_len && poff <= SCRATCH_SIZE - t->plant_len) /* not for non-canonical targets */
		memcpy(scratch + poff, t->plant, t->plant_len);
	memcpy(emem, scratch, SCRATCH_SIZE);

	struct x86_emu_cpu cpu;
	memset(&cpu, 0, sizeof(cpu));
	memcpy(cpu.gpr, t->st.gpr, sizeof(cpu.gpr));
	cpu.gpr[X86_RSP] = 0x7ffc00001000ull;
	cpu.rip = slot - cs_base;
	cpu.rflags = t->st.rflags;
	cpu.cr0 = 0x80050033;
	cpu.cr4 = 0x3606a0 | 0x600;
	cpu.efer = 0xd01;
	cpu.cpl = 3;
	for (unsigned s2 = 0; s2 < X86_SEG_COUNT; s2++) {
		cpu.seg[s2].base = t->seg_base[s2];
		cpu.seg[s2].limit = 0xffffffff;
		cpu.seg[s2].selector = 0x2b;
		cpu.seg[s2].attr = 0xc0f3;
	}
	cpu.seg[X86_FS].selector = cpu.seg[X86_GS].selector = 0;
	cpu.seg[X86_CS].selector = USER_CS;
	cpu.seg[X86_CS].attr = 0xa0fb;
	if (gmode != 64) {
		/* Compatibility mode: CS 0x23 (D=1, L=0); FS/GS hold null selectors (unusable). */
		cpu.seg[X86_CS].selector = USER32_CS;
		cpu.seg[X86_CS].attr = 0xc0fb;
		if (gmode == 16) {
			cpu.seg[X86_CS].selector = LDT_CODE16_SEL;
			cpu.seg[X86_CS].base = cs_base;
			cpu.seg[X86_CS].limit = PAGE - 1;
			cpu.seg[X86_CS].attr = 0x00fb; /* code exec/read accessed, DPL 3, P, D=0 */
		}
		cpu.seg[X86_FS].attr = cpu.seg[X86_GS].attr = 0;
		if (t->ldt) {
			for (unsigned sg = X86_ES; sg <= X86_DS; sg += X86_DS - X86_ES) {
				cpu.seg[sg].base = (uint64_t)(uintptr_t)scratch;
				cpu.seg[sg].limit = t->ldt_limit;
				cpu.seg[sg].selector = (uint16_t)LDT_SEL(t->ldt_idx);
				cpu.seg[sg].attr = 0x40f3; /* data RW accessed, DPL 3, present, D/B, byte limit */
			}
		}
		cur_ldt_sel = t->ldt ? LDT_SEL(t->ldt_idx) : 0;
	}
	memcpy(cpu.xmm, t->st.xmm, sizeof(cpu.xmm));
	memset(ecode, 0xcc, sizeof(ecode));
	memcpy(ecode, t->b, t->n);
	ecode_la = slot;
	bad_access = 0;

	struct x86_emu_cpu before = cpu;
	struct x86_emu_fault fault;
	memset(&fault, 0, sizeof(fault));
	/* Hand over a prefix of the bytes now and then: the rest must come through FETCH. */
	size_t given = rndn(4) == 0 ? rndn(t->n + 1) : t->n;
	cur_case = t;
	static unsigned since_alarm;
	if (since_alarm++ % 1024 == 0)
		alarm(20); /* re-armed often enough that only a stuck case can fire it */
	const struct x86_emu_ops *ops = rndn(2) ? &emu_ops : &emu_ops_nocx;
	enum x86_emu_result er = x86_emu_step(&cpu, t->b, given, ops, NULL, &fault);

	struct nstate nat = t->st;
	nat.gpr[X86_RSP] = 0;
	int nsig = native_run(t->b, t->n, &nat);
	s->cases++;

	if (er == X86_EMU_UNSUPPORTED && nsig != SIGILL) {
		s->unsupported++;
		return true;
	}
	bool ok = true;
	const char *why = "";
	bool native_ac = nsig == SIGBUS && native_code == BUS_ADRALN;
	bool emu_ac = er == X86_EMU_FAULT && fault.vector == X86_EXC_AC;
	if (t->ac_impl && native_ac && er == X86_EMU_OK) {
		s->ac_impl++; /* either answer is architectural */
		return true;
	}
	bool ac_alt = false, rep0 = false, rep = false;
	if (t->ac_impl && emu_ac && !native_ac) {
		/* The host does not check this form's alignment (Intel never raises #AC for
		 * MOVUPS & co., AMD does). Then it must do what the emulator does without the
		 * check: complete, or raise the #PF of an access crossing into the guard page.
		 * Compare with a rerun with RFLAGS.AC clear (the #AC run wrote nothing). */
		cpu = before;
		cpu.rflags &= ~X86_FLAG_AC;
		memset(&fault, 0, sizeof(fault));
		er = x86_emu_step(&cpu, t->b, given, ops, NULL, &fault);
		cpu.rflags |= before.rflags & X86_FLAG_AC;
		ac_alt = true;
	}
	if (nsig) {
		/* Both must fault, the emulator with the matching vector and no state change. */
		/* Linux: #DE SIGFPE, #UD SIGILL, #GP SIGSEGV, #AC SIGBUS/BUS_ADRALN, #SS SIGBUS. */
		/* #PF (SIGSEGV with SEGV_MAPERR/ACCERR) comes from the guard page after the
		 * scratch pages: the emulator's callback reports it with the same CR2. */
		bool pf = nsig == SIGSEGV && (native_code == SEGV_MAPERR || native_code == SEGV_ACCERR);
		int want = nsig == SIGFPE ? X86_EXC_DE : nsig == SIGILL ? X86_EXC_UD :
			   nsig == SIGBUS ? (native_code == BUS_ADRALN ? X86_EXC_AC : X86_EXC_SS) :
			   pf ? X86_EXC_PF : X86_EXC_GP;
		fault_gpr[X86_RSP] = before.gpr[X86_RSP];
		for (unsigned r = 8; gmode != 64 && r < 16; r++)
			fault_gpr[r] = before.gpr[r]; /* not loaded by the 32-bit trampoline */
		if (er == X86_EMU_FAULT && fault.vector == X86_EXC_UD &&
		    (want == X86_EXC_PF || want == X86_EXC_GP || want == X86_EXC_SS ||
		     want == X86_EXC_AC) &&
		    gprs_match(cpu.gpr, before.gpr) && cpu.rip == before.rip &&
		    !memcmp(emem, scratch, SCRATCH_SIZE) && lock_misuse(t->b, t->n)) {
			vendor_order++; /* AMD order; the emulator's #UD is the Intel one */
			return true;
		} else if (er == X86_EMU_FAULT && fault.vector != want &&
			   (want == X86_EXC_GP || want == X86_EXC_SS || want == X86_EXC_AC ||
			    want == X86_EXC_PF) &&
			   (fault.vector == X86_EXC_GP || fault.vector == X86_EXC_SS ||
			    fault.vector == X86_EXC_AC || fault.vector == X86_EXC_PF) &&
			   cmps_form(t->b, t->n, false, &rep) && gprs_match(cpu.gpr, fault_gpr) &&
			   cpu.rip == before.rip && !memcmp(emem, scratch, SCRATCH_SIZE)) {
			cmps_order++; /* the other operand's fault (see cmps_form) */
			return true;
		} else if (er != X86_EMU_FAULT || fault.vector != want) {
			ok = false;
			why = "native faulted, emulator did not (or other vector)";
		} else if (((cpu.rflags ^ fault_rflags) & t->fmask) &&
			   !((cpu.rflags ^ before.rflags) & t->fmask) &&
			   cmps_form(t->b, t->n, true, &rep) && rep &&
			   gprs_match(cpu.gpr, fault_gpr) && !gprs_match(cpu.gpr, before.gpr) &&
			   cpu.rip == before.rip && !memcmp(emem, scratch, SCRATCH_SIZE)) {
			rep_flags++; /* flags restored by the emulator, not by the host (cmps_form) */
			return true;
		} else if (pf && fault.cr2 != fault_addr) {
			ok = false;
			why = "#PF address (CR2) differs";
		} else if ((!gprs_match(cpu.gpr, fault_gpr) &&
			    !(rep0 = rep0_zext(t, true, before.gpr, cpu.gpr, fault_gpr))) ||
			   cpu.rip != before.rip || ((cpu.rflags ^ fault_rflags) & t->fmask)) {
			/* Registers as the CPU left them at the fault: unchanged, except the
			 * iterations a rep string instruction completed before it. */
			ok = false;
			why = "state at the fault differs (registers/flags/RIP)";
			memcpy(nat.gpr, fault_gpr, sizeof(nat.gpr));
			nat.rflags = fault_rflags;
		} else if (memcmp(emem, scratch, SCRATCH_SIZE)) {
			ok = false;
			why = "memory at the fault differs";
		} else if (ac_alt) {
			s->ac_impl++;
		} else {
			s->faults_both++;
			vec_both[want & 31]++;
			if (rep0) {
				s->rep0_zext++;
				rep0_total++;
			}
		}
		if (!ok) {
			s->mismatches++;
			dump_case(why, t, &nat, &cpu, slot - cs_base, nsig, er, &fault);
		}
		return ok;
	}
	nat.gpr[X86_RSP] = before.gpr[X86_RSP];
	if (er != X86_EMU_OK) {
		ok = false;
		why = "emulator failed, native succeeded";
	} else if (cpu.rip != slot - cs_base + t->n) {
		ok = false;
		why = "RIP advance";
	} else if (!gprs_match(cpu.gpr, nat.gpr) &&
		   !(rep0 = rep0_zext(t, false, before.gpr, cpu.gpr, nat.gpr))) {
		ok = false;
		why = "GPRs";
	} else if ((cpu.rflags ^ nat.rflags) & (t->fmask | X86_FLAG_AC)) {
		ok = false;
		why = "defined flags";
	} else if (memcmp(cpu.xmm, nat.xmm, sizeof(cpu.xmm))) {
		ok = false;
		why = "XMM registers";
	} else if (memcmp(emem, scratch, SCRATCH_SIZE)) {
		ok = false;
		why = "memory";
		for (unsigned i = 0; i < SCRATCH_SIZE; i++)
			if (emem[i] != scratch[i]) {
				if (printed < 20)
					fprintf(stderr, "  first memory difference at scratch+%#x: native %02x emu %02x\n",
						i, scratch[i], emem[i]);
				break;
			}
	} else if (bad_access) {
		ok = false;
		why = "emulator accessed memory outside the operand page";
	}
	if (!ok) {
		s->mismatches++;
		char w[96];
		snprintf(w, sizeof(w), "%s: %s", name, why);
		dump_case(w, t, &nat, &cpu, slot - cs_base, nsig, er, &fault);
	} else if (ac_alt) {
		s->ac_impl++;
	} else if (rep0) {
		s->rep0_zext++;
		rep0_total++;
	}
	return ok;
}

static unsigned scale_pct(void)
{
	const char *e = getenv("X86_DIFF_SCALE");
	if (e && *e)
		return (unsigned)strtoul(e, NULL, 10);
	return DIFF_ASAN ? 50 : 100;
}

static unsigned ncases(unsigned base)
{
	unsigned n = base * scale_pct() / 100;
	return n ? n : 1;
}

static void seed_once(void)
{
	static bool done;
	if (done)
		return;
	done = true;
	const char *e = getenv("X86_DIFF_SEED");
	uint64_t seed = e && *e ? strtoull(e, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	rng_state = seed;
	printf("x86_diff_test: seed %#llx (X86_DIFF_SEED to reproduce), scale %u%%\n",
	       (unsigned long long)seed, scale_pct());
}

static bool native_ok, compat_ok;

static int setup(void **state)
{
	(void)state;
	seed_once();
	int rc = native_setup();
	native_ok = rc == 0;
	if (!native_ok) {
		printf("x86_diff_test: cannot map an RWX code page below 2 GiB (%s) - skipping\n",
		       strerror(-rc));
		return 0;
	}
	/* Compatibility mode may be disabled (ia32_emulation=0): probe with a register move. */
	install_handlers();
	struct nstate st;
	memset(&st, 0, sizeof(st));
	st.rflags = 0x202;
	st.gpr[X86_RBX] = 0x12345678;
	static const uint8_t mov32[] = { 0x89, 0xd8 }; /* mov eax, ebx */
	gmode = 32;
	int sig = native_run(mov32, sizeof(mov32), &st);
	gmode = 64;
	compat_ok = sig == 0 && (uint32_t)st.gpr[X86_RAX] == 0x12345678;
	if (!compat_ok)
		printf("x86_diff_test: 32-bit code (CS 0x23) does not run here - 32-bit cases skipped\n");
	return 0;
}

static unsigned total_mismatch, total_cases;

/* X86_DIFF_ONLY=substring: run only the forms whose name contains it. */
static bool selected(const char *name)
{
	const char *only = getenv("X86_DIFF_ONLY");
	return !only || !*only || strstr(name, only) != NULL;
}

static void report(const char *name, unsigned size, const char *kind, const struct stats *s)
{
	printf("  %s%-18s %s size %2u: %6u cases, %u both-fault, %u unsupported, %u MISMATCH",
	       gmode == 32 ? "[32-bit] " : gmode == 16 ? "[16-bit] " : "", name, kind, size, s->cases, s->faults_both, s->unsupported, s->mismatches);
	if (s->ac_impl)
		printf(" (%u impl-defined #AC differences)", s->ac_impl);
	if (s->rep0_zext)
		printf(" (%u impl-defined REP zero-extensions)", s->rep0_zext);
	printf("\n");
	total_mismatch += s->mismatches;
	total_cases += s->cases;
}

static void test_modrm_forms(void **state)
{
	(void)state;
	install_handlers();
	unsigned before = total_mismatch;
	for (unsigned i = 0; i < NFORMS; i++) {
		const struct form *f = &forms[i];
		if (!selected(f->name))
			continue;
		for (unsigned size = 1; size <= 8; size <<= 1) {
			if (!(f->sizes & size) || (size == 1 && f->op8 < 0))
				continue;
			/* No 64-bit operands in compatibility mode; 63 is ARPL there. */
			if (gmode != 64 && (size == 8 || (f->map == 0 && f->op == 0x63)))
				continue;
			for (int mem = 1; mem >= 0; mem--) {
				if (!mem && (f->attr & A_NOREG))
					continue;
				struct stats s = { 0, 0, 0, 0, 0, 0 };
				unsigned n = ncases(mem ? 3000 : 500);
				for (unsigned k = 0; k < n; k++) {
					struct tc t;
					gen_form(&t, f, size, mem);
					run_case(&t, f->name, &s);
				}
				report(f->name, size, mem ? "mem" : "reg", &s);
			}
		}
	}
	assert_int_equal(total_mismatch - before, 0);
}

/* setcc r/m8 and cmovcc r, r/m for all 16 conditions. */
static void test_cc_forms(void **state)
{
	(void)state;
	install_handlers();
	unsigned before = total_mismatch;
	for (unsigned cmov = 0; cmov < 2; cmov++)
		for (unsigned size = cmov ? 2 : 1; size <= (cmov ? 8u : 1u); size <<= 1)
			for (int mem = 1; mem >= 0; mem--) {
				if (!selected(cmov ? "cmovcc" : "setcc") || (gmode != 64 && size == 8))
					continue;
				struct stats s = { 0, 0, 0, 0, 0, 0 };
				unsigned n = ncases(mem ? 3000 : 600);
				for (unsigned k = 0; k < n; k++) {
					struct form f = { cmov ? "cmovcc" : "setcc", 1, -1, 0, -1, 15, I_NONE,
							  FL_NONE, 0, 0, 0 };
					unsigned cc = rndn(16);
					f.op = (int16_t)((cmov ? 0x40 : 0x90) + cc);
					f.op8 = f.op;
					f.ext = cmov ? -1 : 0;
					struct tc t;
					gen_form(&t, &f, size, mem);
					run_case(&t, f.name, &s);
				}
				report(cmov ? "cmovcc" : "setcc", size, mem ? "mem" : "reg", &s);
			}
	assert_int_equal(total_mismatch - before, 0);
}

/* cmpxchg8b / cmpxchg16b m64/m128. */
static void test_cmpxchg8b16b(void **state)
{
	(void)state;
	install_handlers();
	unsigned before = total_mismatch;
	for (unsigned wide = 0; wide < 2; wide++) {
		if (!selected(wide ? "cmpxchg16b" : "cmpxchg8b") || (gmode != 64 && wide))
			continue;
		struct stats s = { 0, 0, 0, 0, 0, 0 };
		unsigned n = ncases(4000);
		for (unsigned k = 0; k < n; k++) {
			struct tc t;
			random_state(&t);
			struct mem m;
			uint32_t avoid = R(X86_RAX) | R(X86_RDX) | R(X86_RBX) | R(X86_RCX);
			unsigned size = wide ? 16 : 8;
			gen_mem(&t, &m, avoid, size, wide ? 16 : 1, true);
			uint8_t pfx[1] = { 0xf0 };
			static const uint8_t op[2] = { 0x0f, 0xc7 };
			emit_modrm_insn(&t, pfx, rndn(2), wide, false, 1, &m, 0, op, 2);
			t.fmask = STATUS | X86_FLAG_DF;
			/* Plant RDX:RAX (EDX:EAX) in memory half the time so the exchange happens. */
			if (rndn(2)) {
				plant(&t, m.target, &t.st.gpr[X86_RAX], size / 2);
				plant(&t, m.target, &t.st.gpr[X86_RDX], size / 2);
			}
			run_case(&t, wide ? "cmpxchg16b" : "cmpxchg8b", &s);
		}
		report(wide ? "cmpxchg16b" : "cmpxchg8b", wide ? 16 : 8, "mem", &s);
	}
	assert_int_equal(total_mismatch - before, 0);
}

/* ---- SSE moves ---- */

struct sse_form {
	const char *name;
	uint8_t pfx;        /* mandatory prefix or 0 */
	uint8_t op;         /* after 0F */
	bool rexw;
	unsigned size;      /* memory operand size */
	unsigned align;     /* required alignment (misaligned cases expect #GP) */
	bool gpr_rm;        /* register form names a GPR (movd/movq) */
	bool mem_only;
};

static const struct sse_form sse_forms[] = {
	{ "movups load", 0, 0x10, false, 16, 1, false, false },
	{ "movups store", 0, 0x11, false, 16, 1, false, false },
	{ "movupd load", 0x66, 0x10, false, 16, 1, false, false },
	{ "movupd store", 0x66, 0x11, false, 16, 1, false, false },
	{ "movaps load", 0, 0x28, false, 16, 16, false, false },
	{ "movaps store", 0, 0x29, false, 16, 16, false, false },
	{ "movapd load", 0x66, 0x28, false, 16, 16, false, false },
	{ "movapd store", 0x66, 0x29, false, 16, 16, false, false },
	{ "movdqu load", 0xf3, 0x6f, false, 16, 1, false, false },
	{ "movdqu store", 0xf3, 0x7f, false, 16, 1, false, false },
	{ "movdqa load", 0x66, 0x6f, false, 16, 16, false, false },
	{ "movdqa store", 0x66, 0x7f, false, 16, 16, false, false },
	{ "movd load", 0x66, 0x6e, false, 4, 1, true, false },
	{ "movd store", 0x66, 0x7e, false, 4, 1, true, false },
	{ "movq load (6e)", 0x66, 0x6e, true, 8, 1, true, false },
	{ "movq store (7e)", 0x66, 0x7e, true, 8, 1, true, false },
	{ "movq load (f3 7e)", 0xf3, 0x7e, false, 8, 1, false, false },
	{ "movq store (d6)", 0x66, 0xd6, false, 8, 1, false, false },
	{ "movss load", 0xf3, 0x10, false, 4, 1, false, false },
	{ "movss store", 0xf3, 0x11, false, 4, 1, false, false },
	{ "movsd load", 0xf2, 0x10, false, 8, 1, false, false },
	{ "movsd store", 0xf2, 0x11, false, 8, 1, false, false },
	{ "movntdq", 0x66, 0xe7, false, 16, 16, false, true },
	{ "movntps", 0, 0x2b, false, 16, 16, false, true },
};

static void gen_sse(struct tc *t, const struct sse_form *f, bool mem, bool vex)
{
	random_state(t);
	unsigned nx = gmode != 64 ? 8 : 16;
	unsigned reg = rndn(nx);
	struct mem m;
	unsigned rm = 0;
	if (mem) {
		gen_mem(t, &m, 0, f->size, f->align, true);
		if (f->align > 1 && rndn(8) == 0) {
			/* Misaligned: both must raise #GP. Move the target and the address. */
			uint64_t delta = 1 + rndn(15);
			m.target += delta;
			if (m.base >= 0)
				t->st.gpr[m.base] += delta;
			else if (!m.riprel)
				m.disp += (int64_t)delta;
		}
	} else {
		rm = f->gpr_rm ? (unsigned)pick_reg(0) : rndn(nx);
	}
	uint8_t pfx[2] = { 0, 0 };
	unsigned npfx = 0;
	if (f->pfx)
		pfx[npfx++] = f->pfx;
	static uint8_t op[2] = { 0x0f, 0 };
	op[1] = f->op;
	if (vex)
		vex_pp = f->pfx == 0x66 ? 1 : f->pfx == 0xf3 ? 2 : f->pfx == 0xf2 ? 3 : 0;
	emit_modrm_insn(t, pfx, npfx, f->rexw, false, reg, mem ? &m : NULL, rm, op, 2);
	vex_pp = -1;
	t->fmask = STATUS | X86_FLAG_DF;
	if (vex && (t->st.rflags & X86_FLAG_AC))
		t->ac_impl = true; /* VEX: #AC on misaligned operands is model-specific too */
	/* SDM vol. 1 (alignment of SSE operands): for the 128-bit unaligned moves, whether #AC
	 * is raised for an operand not aligned on 8 bytes depends on the processor. */
	t->ac_impl = f->size == 16 && f->align == 1 && (t->st.rflags & X86_FLAG_AC);
}

static void test_sse_forms(void **state)
{
	(void)state;
	install_handlers();
	unsigned before = total_mismatch;
	for (unsigned i = 0; i < sizeof(sse_forms) / sizeof(sse_forms[0]); i++)
		for (int mem = 1; mem >= 0; mem--) {
			if ((!mem && sse_forms[i].mem_only) || !selected(sse_forms[i].name) ||
			    (gmode != 64 && sse_forms[i].rexw))
				continue;
			struct stats s = { 0, 0, 0, 0, 0, 0 };
			unsigned n = ncases(mem ? 3000 : 400);
			for (unsigned k = 0; k < n; k++) {
				struct tc t;
				gen_sse(&t, &sse_forms[i], mem, false);
				run_case(&t, sse_forms[i].name, &s);
			}
			report(sse_forms[i].name, sse_forms[i].size, mem ? "mem" : "reg", &s);
		}
	assert_int_equal(total_mismatch - before, 0);
}

/* VEX.128 moves (AVX), where the host has AVX enabled (CPUID.1:ECX AVX+OSXSAVE, XCR0 SSE|AVX). */
static const struct sse_form vex_forms[] = {
	{ "vmovups load", 0, 0x10, false, 16, 1, false, false },
	{ "vmovups store", 0, 0x11, false, 16, 1, false, false },
	{ "vmovupd load", 0x66, 0x10, false, 16, 1, false, false },
	{ "vmovaps load", 0, 0x28, false, 16, 16, false, false },
	{ "vmovaps store", 0, 0x29, false, 16, 16, false, false },
	{ "vmovdqu load", 0xf3, 0x6f, false, 16, 1, false, false },
	{ "vmovdqu store", 0xf3, 0x7f, false, 16, 1, false, false },
	{ "vmovdqa load", 0x66, 0x6f, false, 16, 16, false, false },
	{ "vmovdqa store", 0x66, 0x7f, false, 16, 16, false, false },
	{ "vmovd load", 0x66, 0x6e, false, 4, 1, true, false },
	{ "vmovd store", 0x66, 0x7e, false, 4, 1, true, false },
	{ "vmovq load (6e)", 0x66, 0x6e, true, 8, 1, true, false },
	{ "vmovq store (7e)", 0x66, 0x7e, true, 8, 1, true, false },
	{ "vmovq load (f3 7e)", 0xf3, 0x7e, false, 8, 1, false, false },
	{ "vmovq store (d6)", 0x66, 0xd6, false, 8, 1, false, false },
	{ "vmovss load", 0xf3, 0x10, false, 4, 1, false, true },
	{ "vmovss store", 0xf3, 0x11, false, 4, 1, false, true },
	{ "vmovsd load", 0xf2, 0x10, false, 8, 1, false, true },
	{ "vmovsd store", 0xf2, 0x11, false, 8, 1, false, true },
	{ "vmovntdq", 0x66, 0xe7, false, 16, 16, false, true },
};

static bool host_avx(void)
{
	unsigned a = 0, b = 0, c = 0, d = 0;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 28)) || !(c & (1u << 27)))
		return false;
	uint32_t lo, hi;
	__asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	(void)hi;
	return (lo & 6) == 6;
}

static void test_vex_forms(void **state)
{
	(void)state;
	install_handlers();
	if (!host_avx()) {
		printf("  VEX moves: host without AVX - skipped\n");
		skip();
	}
	unsigned before = total_mismatch;
	for (unsigned i = 0; i < sizeof(vex_forms) / sizeof(vex_forms[0]); i++)
		for (int mem = 1; mem >= 0; mem--) {
			if ((!mem && vex_forms[i].mem_only) || !selected(vex_forms[i].name) ||
			    (gmode != 64 && vex_forms[i].rexw))
				continue;
			struct stats s = { 0, 0, 0, 0, 0, 0 };
			unsigned n = ncases(mem ? 2000 : 300);
			for (unsigned k = 0; k < n; k++) {
				struct tc t;
				gen_sse(&t, &vex_forms[i], mem, true);
				run_case(&t, vex_forms[i].name, &s);
			}
			report(vex_forms[i].name, vex_forms[i].size, mem ? "mem" : "reg", &s);
		}
	assert_int_equal(total_mismatch - before, 0);
}

/* ---- string instructions and moffs ---- */

static void gen_string(struct tc *t, uint8_t op8, unsigned size, bool *is_cmp)
{
	random_state(t);
	bool src = op8 == 0xa4 || op8 == 0xac || op8 == 0xa6;  /* reads DS:rSI */
	*is_cmp = op8 == 0xa6 || op8 == 0xae;
	bool a32 = gmode == 64 && rndn(5) == 0;
	bool w32 = a32 || gmode == 32; /* ESI/EDI/ECX: the upper halves are ignored */
	if (gmode == 16 || (gmode == 32 && ldt_ok && rndn(3) == 0)) {
		/* 16-bit addressing: SI/DI/CX in the LDT segment (DS = ES = it). */
		pick_ldt(t);
		unsigned rep16 = rndn(3) ? (*is_cmp && rndn(2) ? 0xf2 : 0xf3) : 0;
		if (src && rndn(4) == 0)
			put(t, rndn(2) ? 0x26 : 0x3e);
		if (rep16)
			put(t, (uint8_t)rep16);
		if (gmode == 32)
			put(t, 0x67);
		if (opsize_pfx(size))
			put(t, 0x66);
		put(t, (uint8_t)(size == 1 ? op8 : op8 + 1));
		t->st.gpr[X86_RSI] = (rnd() << 16) | (2048 + rndn(2048));
		t->st.gpr[X86_RDI] = (rnd() << 16) | (2048 + rndn(4096));
		if (rep16)
			t->st.gpr[X86_RCX] = (rnd() << 16) | (rndn(4) == 0 ? 0 : rndn(13));
		t->fmask = STATUS | X86_FLAG_DF;
		return;
	}
	int seg = (gmode == 64 && !a32 && src && rndn(6) == 0) ? (rndn(2) ? X86_FS : X86_GS) : -1;
	unsigned rep = rndn(3) ? (*is_cmp && rndn(2) ? 0xf2 : 0xf3) : 0;
	if (seg >= 0)
		put(t, seg == X86_FS ? 0x64 : 0x65);
	if (rep)
		put(t, (uint8_t)rep);
	if (a32)
		put(t, 0x67);
	if (opsize_pfx(size))
		put(t, 0x66);
	if (size == 8)
		put(t, 0x48);
	put(t, (uint8_t)(size == 1 ? op8 : op8 + 1));
	uint64_t base = (uint64_t)(uintptr_t)scratch;
	uint64_t s_at = base + 2048 + rndn(2048), d_at = base + 2048 + rndn(4096);
	uint64_t segbase = seg == X86_FS ? fs_base : seg == X86_GS ? gs_base : 0;
	uint64_t hi = w32 ? rnd() << 32 : 0;
	t->st.gpr[X86_RSI] = w32 ? (hi | (uint32_t)s_at) : s_at - segbase;
	t->st.gpr[X86_RDI] = w32 ? ((rnd() << 32) | (uint32_t)d_at) : d_at;
	if (rep) {
		uint64_t cnt = rndn(4) == 0 ? 0 : rndn(13);
		t->st.gpr[X86_RCX] = w32 ? ((rnd() << 32) | cnt) : cnt;
	}
	if (*is_cmp && rndn(2)) {
		/* Equal data for a while so repe runs more than one iteration. */
		uint8_t buf[16];
		for (unsigned i = 0; i < 16; i++)
			buf[i] = (uint8_t)rndn(2);
		if (src)
			plant(t, s_at, buf, 16);
	}
	t->fmask = STATUS | X86_FLAG_DF; /* movs/stos/lods leave flags alone; cmps/scas define all */
}

static void test_string_forms(void **state)
{
	(void)state;
	install_handlers();
	unsigned before = total_mismatch;
	static const struct { uint8_t op; const char *name; } ops[] = {
		{ 0xa4, "movs" }, { 0xaa, "stos" }, { 0xac, "lods" }, { 0xa6, "cmps" }, { 0xae, "scas" },
	};
	for (unsigned i = 0; i < 5; i++)
		for (unsigned size = 1; size <= 8; size <<= 1) {
			if (!selected(ops[i].name) || (gmode != 64 && size == 8))
				continue;
			struct stats s = { 0, 0, 0, 0, 0, 0 };
			unsigned n = ncases(3000);
			for (unsigned k = 0; k < n; k++) {
				struct tc t;
				bool is_cmp;
				gen_string(&t, ops[i].op, size, &is_cmp);
				run_case(&t, ops[i].name, &s);
			}
			report(ops[i].name, size, "str", &s);
		}
	assert_int_equal(total_mismatch - before, 0);
}

/* mov AL/AX/EAX/RAX <-> moffs (A0-A3): 8-byte absolute address, 4 with 67. */
static void test_moffs(void **state)
{
	(void)state;
	install_handlers();
	unsigned before = total_mismatch;
	for (unsigned store = 0; store < 2; store++)
		for (unsigned size = 1; size <= 8; size <<= 1) {
			if (!selected(store ? "mov moffs,acc" : "mov acc,moffs") || (gmode != 64 && size == 8))
				continue;
			struct stats s = { 0, 0, 0, 0, 0, 0 };
			unsigned n = ncases(2000);
			for (unsigned k = 0; k < n; k++) {
				struct tc t;
				random_state(&t);
				bool a32 = gmode == 64 && rndn(4) == 0;
				int seg = gmode == 64 && !a32 && rndn(5) == 0 ? X86_FS : -1;
				uint64_t at = (uint64_t)(uintptr_t)scratch + 1024 + rndn(4096);
				if (gmode == 16 || (gmode == 32 && ldt_ok && rndn(3) == 0)) {
					/* moffs16 (67 in 32-bit code): offset into the LDT segment. */
					pick_ldt(&t);
					if (gmode == 32)
						put(&t, 0x67);
					if (opsize_pfx(size))
						put(&t, 0x66);
					put(&t, (uint8_t)(0xa0 + 2 * store + (size > 1)));
					put_imm(&t, at - (uint64_t)(uintptr_t)scratch, 2);
					t.fmask = STATUS | X86_FLAG_DF;
					run_case(&t, store ? "mov moffs,acc" : "mov acc,moffs", &s);
					continue;
				}
				if (seg >= 0)
					put(&t, 0x64);
				if (a32)
					put(&t, 0x67);
				if (opsize_pfx(size))
					put(&t, 0x66);
				if (size == 8)
					put(&t, 0x48);
				put(&t, (uint8_t)(0xa0 + 2 * store + (size > 1)));
				put_imm(&t, seg >= 0 ? at - fs_base : at, a32 || gmode == 32 ? 4 : 8);
				t.fmask = STATUS | X86_FLAG_DF;
				run_case(&t, store ? "mov moffs,acc" : "mov acc,moffs", &s);
			}
			report(store ? "mov moffs,acc" : "mov acc,moffs", size, "mem", &s);
		}
	assert_int_equal(total_mismatch - before, 0);
}

/* movdir64b r64, m512 (66 0F 38 F8 /r): 64-byte copy to the 64-byte aligned ES:[reg].
 * Runs only where the host has it (CPUID.(EAX=7,ECX=0):ECX[28]). */
static void test_movdir64b(void **state)
{
	(void)state;
	if (!native_ok)
		skip();
	gmode = 64;
	install_handlers();
	unsigned a = 0, b = 0, c = 0, d = 0;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(c & (1u << 28))) {
		printf("  movdir64b: host CPU lacks MOVDIR64B (CPUID.7.0:ECX[28]) - form skipped\n");
		skip();
	}
	unsigned before = total_mismatch;
	struct stats s = { 0, 0, 0, 0, 0, 0 };
	unsigned n = ncases(3000);
	for (unsigned k = 0; k < n; k++) {
		struct tc t;
		random_state(&t);
		unsigned reg = (unsigned)pick_reg(0);
		struct mem m;
		gen_mem(&t, &m, R(reg), 64, 1, false);
		uint64_t dst = (uint64_t)(uintptr_t)scratch + 64 * (4 + rndn(SCRATCH_SIZE / 64 - 8));
		if (rndn(8) == 0)
			dst += 1 + rndn(63); /* misaligned destination: #GP(0) */
		t.st.gpr[reg] = dst;
		uint8_t pfx[1] = { 0x66 };
		static const uint8_t op[3] = { 0x0f, 0x38, 0xf8 };
		emit_modrm_insn(&t, pfx, 1, false, false, reg, &m, 0, op, 3);
		t.fmask = STATUS | X86_FLAG_DF;
		run_case(&t, "movdir64b", &s);
	}
	report("movdir64b", 64, "mem", &s);
	assert_int_equal(total_mismatch - before, 0);
}

/* The harness itself: known instructions natively must give known results, so that a broken
 * trampoline cannot make the comparison vacuous. */
static void test_native_selfcheck(void **state)
{
	(void)state;
	/* The vendor-order allowance applies to LOCK misuse only. */
	static const uint8_t lmov[] = { 0xf0, 0x8b, 0x03 };           /* lock mov eax, [rbx] */
	static const uint8_t lcmp[] = { 0x3e, 0xf0, 0x48, 0x81, 0x3b, 1, 2, 3, 4 }; /* lock cmp */
	static const uint8_t ladd[] = { 0xf0, 0x01, 0x03 };           /* lock add: legal */
	static const uint8_t ud2[] = { 0x0f, 0x0b };
	static const uint8_t lud2[] = { 0xf0, 0x0f, 0x0b };
	assert_true(lock_misuse(lmov, sizeof(lmov)));
	assert_true(lock_misuse(lcmp, sizeof(lcmp)));
	assert_false(lock_misuse(ladd, sizeof(ladd)));
	assert_false(lock_misuse(ud2, sizeof(ud2)));
	assert_false(lock_misuse(lud2, sizeof(lud2)));
	if (!native_ok)
		skip();
	install_handlers();
	struct nstate st;
	memset(&st, 0, sizeof(st));
	st.gpr[X86_RAX] = 0xffffffffffffffffull;
	st.gpr[X86_RBX] = 1;
	st.gpr[X86_R15] = 0x1234;
	st.rflags = 0x202;
	static const uint8_t add[] = { 0x48, 0x01, 0xd8 };           /* add rax, rbx */
	assert_int_equal(native_run(add, sizeof(add), &st), 0);
	assert_int_equal(st.gpr[X86_RAX], 0);
	assert_true(st.rflags & X86_FLAG_CF);
	assert_true(st.rflags & X86_FLAG_ZF);
	assert_int_equal(st.gpr[X86_R15], 0x1234);

	uint64_t v = 0x1122334455667788ull;
	memcpy(scratch + 64, &v, 8);
	st.gpr[X86_RDI] = (uint64_t)(uintptr_t)scratch + 64;
	static const uint8_t ld[] = { 0x4c, 0x8b, 0x3f };            /* mov r15, [rdi] */
	assert_int_equal(native_run(ld, sizeof(ld), &st), 0);
	assert_int_equal(st.gpr[X86_R15], v);
	assert_int_equal(st.gpr[X86_RDI], (uint64_t)(uintptr_t)scratch + 64);

	static const uint8_t xld[] = { 0xf3, 0x44, 0x0f, 0x6f, 0x3f }; /* movdqu xmm15, [rdi] */
	assert_int_equal(native_run(xld, sizeof(xld), &st), 0);
	assert_memory_equal(st.xmm[15], scratch + 64, 16);

	st.gpr[X86_RCX] = 0;
	static const uint8_t div[] = { 0x48, 0xf7, 0xf1 };           /* div rcx */
	assert_int_equal(native_run(div, sizeof(div), &st), SIGFPE);
	st.gpr[X86_RCX] = 7;
	st.gpr[X86_RAX] = 50;
	st.gpr[X86_RDX] = 0;
	assert_int_equal(native_run(div, sizeof(div), &st), 0);
	assert_int_equal(st.gpr[X86_RAX], 7);
	assert_int_equal(st.gpr[X86_RDX], 1);

	/* Compatibility mode: 32-bit semantics (carry out of bit 31; no 64-bit operands). */
	if (!compat_ok)
		return;
	gmode = 32;
	memset(&st, 0, sizeof(st));
	st.rflags = 0x202;
	st.gpr[X86_RAX] = 0xffffffff;
	st.gpr[X86_RBX] = 1;
	static const uint8_t add32[] = { 0x01, 0xd8 };                 /* add eax, ebx */
	int r32 = native_run(add32, sizeof(add32), &st);
	uint64_t eax = st.gpr[X86_RAX] & 0xffffffff, fl = st.rflags;
	st.gpr[X86_RDI] = (uint64_t)(uintptr_t)scratch + 64;
	static const uint8_t ld32[] = { 0x8b, 0x0f };                  /* mov ecx, [edi] */
	int r32b = native_run(ld32, sizeof(ld32), &st);
	static const uint8_t rexw[] = { 0x48 };                        /* dec eax in 32-bit code */
	int r32c = native_run(rexw, sizeof(rexw), &st);
	gmode = 64;
	assert_int_equal(r32, 0);
	assert_int_equal(eax, 0);
	assert_true(fl & X86_FLAG_CF);
	assert_int_equal(r32b, 0);
	assert_int_equal(st.gpr[X86_RCX] & 0xffffffff, (uint32_t)v);
	assert_int_equal(r32c, 0);
	assert_int_equal(st.gpr[X86_RAX] & 0xffffffff, 0xffffffff);
}

/* Each family in long mode and again in compatibility mode (32-bit code, CS 0x23). */
#define MODE_TESTS(fn)                                                                   \
	static void fn##_64(void **state)                                                \
	{                                                                                \
		if (!native_ok)                                                          \
			skip();                                                          \
		gmode = 64;                                                              \
		fn(state);                                                               \
	}                                                                                \
	static void fn##_32(void **state)                                                \
	{                                                                                \
		if (!native_ok || !compat_ok)                                            \
			skip();                                                          \
		gmode = 32;                                                              \
		fn(state);                                                               \
		gmode = 64;                                                              \
	}                                                                                \
	static void fn##_16(void **state)                                                \
	{                                                                                \
		if (!native_ok || !compat_ok || !code16_ok)                              \
			skip();                                                          \
		gmode = 16;                                                              \
		fn(state);                                                               \
		gmode = 64;                                                              \
	}
MODE_TESTS(test_modrm_forms)
MODE_TESTS(test_cc_forms)
MODE_TESTS(test_cmpxchg8b16b)
MODE_TESTS(test_sse_forms)
MODE_TESTS(test_string_forms)
MODE_TESTS(test_moffs)
MODE_TESTS(test_vex_forms)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_native_selfcheck),
		cmocka_unit_test(test_modrm_forms_64),
		cmocka_unit_test(test_cc_forms_64),
		cmocka_unit_test(test_cmpxchg8b16b_64),
		cmocka_unit_test(test_sse_forms_64),
		cmocka_unit_test(test_string_forms_64),
		cmocka_unit_test(test_moffs_64),
		cmocka_unit_test(test_modrm_forms_32),
		cmocka_unit_test(test_cc_forms_32),
		cmocka_unit_test(test_cmpxchg8b16b_32),
		cmocka_unit_test(test_sse_forms_32),
		cmocka_unit_test(test_string_forms_32),
		cmocka_unit_test(test_moffs_32),
		cmocka_unit_test(test_vex_forms_64),
		cmocka_unit_test(test_vex_forms_32),
		cmocka_unit_test(test_modrm_forms_16),
		cmocka_unit_test(test_cc_forms_16),
		cmocka_unit_test(test_cmpxchg8b16b_16),
		cmocka_unit_test(test_sse_forms_16),
		cmocka_unit_test(test_string_forms_16),
		cmocka_unit_test(test_moffs_16),
		cmocka_unit_test(test_vex_forms_16),
		cmocka_unit_test(test_movdir64b),
	};
	int rc = cmocka_run_group_tests(tests, setup, NULL);
	printf("x86_diff_test: %u cases, %u mismatches; faults raised by both: #DE %u, #UD %u, "
	       "#SS %u, #GP %u, #PF %u, #AC %u; vendor-order (LOCK misuse: host memory fault, "
	       "emulator #UD) %u; REP a32 no-iteration zero-extension (host) %u; CMPS operand "
	       "order (host: ES:rDI first) %u; REPE/REPNE CMPS/SCAS flags at a fault not restored "
	       "(host) %u\n", total_cases,
	       total_mismatch, vec_both[X86_EXC_DE], vec_both[X86_EXC_UD], vec_both[X86_EXC_SS],
	       vec_both[X86_EXC_GP], vec_both[X86_EXC_PF], vec_both[X86_EXC_AC], vendor_order,
	       rep0_total, cmps_order, rep_flags);
	return rc;
}
