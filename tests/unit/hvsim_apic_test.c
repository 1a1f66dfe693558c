/*
 * hvsim local APIC tests (tools/hvsim/hvsim_apic.c): small VTL0 programs, written in GNU as
 * Intel syntax (source in the comment above each) and kept here as bytes, program the xAPIC
 * page and the x2APIC MSRs and check what the SDM (vol. 3 ch. 10) says they see: the timer in
 * its three modes waking HLT, TPR masking, ISR/EOI nesting, the APIC EOI message of a
 * level-triggered vector (hyperv-abi-facts 2.4), x2APIC MSR access and #GP, self IPIs, IPIs
 * between two VPs (fixed physical/logical/shorthand, NMI, INIT/SIPI), and every register
 * offset accessed at every width.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "hvcall/hv.h"
#include "hvcall/hv_exit.h"
#include "tools/hvsim/hvsim.h"

#define CODE 0x100000ull
#define IDT  0x10000ull
#define RUN_MSG 16
#define RUN_CTX 272
#define PL 16   /* payload offset in the message (hyperv-abi-facts 2.3) */

/* A piece of guest code at CODE + off. */
struct piece {
	uint32_t off, len;
	const uint8_t *bytes;
};

static struct hvsim *mk(uint32_t vps)
{
	struct hvsim_config cfg = { .vp_count = vps, .mem_size = 8u << 20 };
	struct hvsim *sim = NULL;
	assert_int_equal(hvsim_create(&cfg, &sim), 0);
	for (uint32_t i = 0; i < vps; i++)
		assert_int_equal(hvsim_vp_setup_long_mode(sim, i, CODE), 0);
	return sim;
}

static void load(struct hvsim *sim, const struct piece *p)
{
	for (; p->bytes; p++) {
		void *d = hvsim_gpa_ptr(sim, gpa(CODE + p->off), p->len);
		assert_non_null(d);
		memcpy(d, p->bytes, p->len);
	}
}

static uint64_t hc(struct hvsim *sim, uint64_t control, const void *in, size_t in_size)
{
	uint64_t result = ~0ull;
	assert_int_equal(hvsim_hvcall(sim, 0, control, in, in_size, NULL, 0, &result), 0);
	return result;
}

static void install_out_f4(struct hvsim *sim)
{
	uint8_t in[24] = { 0 };
	uint64_t self = ~0ull, port = 0xF4;
	uint32_t access = 2, type = 0;
	memcpy(in, &self, 8);
	memcpy(in + 8, &access, 4);
	memcpy(in + 12, &type, 4);
	memcpy(in + 16, &port, 8);
	assert_int_equal(hc(sim, 0x4D, in, sizeof(in)) & 0xFFFF, 0);
}

static uint64_t u64at(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint32_t u32at(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

static const uint8_t *msg(struct hvsim *sim, uint32_t vp)
{
	return (const uint8_t *)hvsim_vp_run_page(sim, vp) + RUN_MSG;
}

/* cpu_context GPR `i` (architectural order) of `vp` */
static uint64_t reg(struct hvsim *sim, uint32_t vp, unsigned i)
{
	return u64at((const uint8_t *)hvsim_vp_run_page(sim, vp) + RUN_CTX + 8 * i);
}

enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };

/* Run VP 0 to its next exit, which must be of `type`; decodable by hvcall/hv_exit. */
static const uint8_t *run_exit(struct hvsim *sim, uint32_t type)
{
	assert_int_equal(hvsim_vp_run(sim, 0), 0);
	const uint8_t *m = msg(sim, 0);
	assert_int_equal(u32at(m), type);
	struct hv_exit ex;
	assert_int_equal(hv_exit_decode(m, 256, &ex), 0);
	return m;
}

/* Exit through OUT 0xF4 (the guests' "report"); returns the message. */
static const uint8_t *expect_report(struct hvsim *sim)
{
	const uint8_t *m = run_exit(sim, 0x80010000);
	assert_int_equal(m[PL + 40] | (m[PL + 41] << 8), 0xF4);
	return m;
}

static void set_rip(struct hvsim *sim, uint64_t rip)
{
	union hv_register_value v = { .low = rip };
	assert_int_equal(hvsim_vp_set_register(sim, 0, 0x20010, &v), 0);
}

/* IDT gate for `vector` -> CODE + off (interrupt gate, DPL 0, selector 0x08). */
static void gate(struct hvsim *sim, unsigned vector, uint32_t off)
{
	uint64_t h = CODE + off;
	uint8_t g[16] = { 0 };
	g[0] = (uint8_t)h;
	g[1] = (uint8_t)(h >> 8);
	g[2] = 0x08;
	g[5] = 0x8E;
	g[6] = (uint8_t)(h >> 16);
	g[7] = (uint8_t)(h >> 24);
	memcpy(hvsim_gpa_ptr(sim, gpa(IDT + 16 * vector), 16), g, 16);
	for (uint32_t i = 0; i < hvsim_vp_count(sim); i++) {
		union hv_register_value v = { .low = (uint64_t)0xFFF << 48, .high = IDT };
		assert_int_equal(hvsim_vp_set_register(sim, i, 0x70000, &v), 0);
	}
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* timer:
 *   mov esp, 0x80000
 *   mov ebx, 0xFEE00000
 *   mov dword ptr [rbx+0x3E0], 0xB       # divide by 1
 *   mov dword ptr [rbx+0x320], 0x30      # LVT timer: one-shot, vector 0x30
 *   mov dword ptr [rbx+0x380], 2000000   # 10 ms at 200 MHz
 *   mov esi, [rbx+0x390]                 # current count, running
 *   sti
 * 1:  hlt
 *   jmp 1b
 * .org 0x100                               # vector 0x30
 *   mov eax, [rbx+0x390]                 # current count after expiry: 0
 *   mov ecx, [rbx+0x110]                 # ISR 32-63: bit 16 = vector 0x30
 *   mov dword ptr [rbx+0xB0], 0          # EOI
 *   mov edx, [rbx+0x110]
 *   mov edi, [rbx+0xA0]                  # PPR after EOI
 *   out 0xF4, eax
 */
static const struct piece g_timer[] = {
	{ 0x0, 50, (const uint8_t[]){
		0xBC, 0x00, 0x00, 0x08, 0x00, 0xBB, 0x00, 0x00, 0xE0, 0xFE, 0xC7, 0x83,
		0xE0, 0x03, 0x00, 0x00, 0x0B, 0x00, 0x00, 0x00, 0xC7, 0x83, 0x20, 0x03,
		0x00, 0x00, 0x30, 0x00, 0x00, 0x00, 0xC7, 0x83, 0x80, 0x03, 0x00, 0x00,
		0x80, 0x84, 0x1E, 0x00, 0x8B, 0xB3, 0x90, 0x03, 0x00, 0x00, 0xFB, 0xF4,
		0xEB, 0xFD,
	} },
	{ 0x100, 36, (const uint8_t[]){
		0x8B, 0x83, 0x90, 0x03, 0x00, 0x00, 0x8B, 0x8B, 0x10, 0x01, 0x00, 0x00,
		0xC7, 0x83, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x8B, 0x93,
		0x10, 0x01, 0x00, 0x00, 0x8B, 0xBB, 0xA0, 0x00, 0x00, 0x00, 0xE7, 0xF4,
	} },
	{ 0, 0, NULL },
};

/* periodic:
 *   mov esp, 0x80000
 *   mov ebx, 0xFEE00000
 *   xor r12d, r12d
 *   mov dword ptr [rbx+0x3E0], 0x3       # divide by 16
 *   mov dword ptr [rbx+0x320], 0x20031   # LVT timer: periodic, vector 0x31
 *   mov dword ptr [rbx+0x380], 12500     # 1 ms at 200 MHz / 16
 *   sti
 * 1:  hlt
 *   cmp r12d, 5
 *   jb 1b
 *   cli
 *   mov esi, [rbx+0x390]                 # current count: running, 1..12500
 *   mov dword ptr [rbx+0x380], 0         # initial count 0 stops the timer
 *   mov eax, [rbx+0x390]                 # 0
 *   mov ecx, [rbx+0x3E0]                 # divide configuration reads back
 *   out 0xF4, eax
 * .org 0x100                               # vector 0x31
 *   inc r12d
 *   mov dword ptr [rbx+0xB0], 0
 *   iretq
 */
static const struct piece g_periodic[] = {
	{ 0x0, 82, (const uint8_t[]){
		0xBC, 0x00, 0x00, 0x08, 0x00, 0xBB, 0x00, 0x00, 0xE0, 0xFE, 0x45, 0x31,
		0xE4, 0xC7, 0x83, 0xE0, 0x03, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0xC7,
		0x83, 0x20, 0x03, 0x00, 0x00, 0x31, 0x00, 0x02, 0x00, 0xC7, 0x83, 0x80,
		0x03, 0x00, 0x00, 0xD4, 0x30, 0x00, 0x00, 0xFB, 0xF4, 0x41, 0x83, 0xFC,
		0x05, 0x72, 0xF9, 0xFA, 0x8B, 0xB3, 0x90, 0x03, 0x00, 0x00, 0xC7, 0x83,
		0x80, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x8B, 0x83, 0x90, 0x03,
		0x00, 0x00, 0x8B, 0x8B, 0xE0, 0x03, 0x00, 0x00, 0xE7, 0xF4,
	} },
	{ 0x100, 15, (const uint8_t[]){
		0x41, 0xFF, 0xC4, 0xC7, 0x83, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x48, 0xCF,
	} },
	{ 0, 0, NULL },
};

/* tscdl:
 *   mov esp, 0x80000
 *   mov ebx, 0xFEE00000
 *   mov ecx, 0x6E0
 *   mov eax, 1
 *   xor edx, edx
 *   wrmsr                                # ignored: not in TSC-deadline mode
 *   rdmsr
 *   mov r15d, eax                        # 0
 *   mov dword ptr [rbx+0x320], 0x40032   # LVT timer: TSC-deadline, vector 0x32
 *   rdtsc
 *   shl rdx, 32
 *   or rax, rdx
 *   mov r12, rax
 *   add rax, 20000000                    # 10 ms at 2 GHz
 *   mov rdx, rax
 *   shr rdx, 32
 *   wrmsr
 *   rdmsr                                # the deadline reads back
 *   mov r13d, eax
 *   sti
 * 1:  hlt
 *   jmp 1b
 * .org 0x100                               # vector 0x32
 *   rdtsc
 *   shl rdx, 32
 *   or rax, rdx
 *   sub rax, r12                         # TSC ticks from arming to delivery
 *   mov r14, rax
 *   mov ecx, 0x6E0
 *   rdmsr                                # 0 once it fired
 *   mov esi, eax
 *   mov dword ptr [rbx+0xB0], 0
 *   mov eax, 0x32
 *   out 0xF4, eax
 */
static const struct piece g_tscdl[] = {
	{ 0x0, 75, (const uint8_t[]){
		0xBC, 0x00, 0x00, 0x08, 0x00, 0xBB, 0x00, 0x00, 0xE0, 0xFE, 0xB9, 0xE0,
		0x06, 0x00, 0x00, 0xB8, 0x01, 0x00, 0x00, 0x00, 0x31, 0xD2, 0x0F, 0x30,
		0x0F, 0x32, 0x41, 0x89, 0xC7, 0xC7, 0x83, 0x20, 0x03, 0x00, 0x00, 0x32,
		0x00, 0x04, 0x00, 0x0F, 0x31, 0x48, 0xC1, 0xE2, 0x20, 0x48, 0x09, 0xD0,
		0x49, 0x89, 0xC4, 0x48, 0x05, 0x00, 0x2D, 0x31, 0x01, 0x48, 0x89, 0xC2,
		0x48, 0xC1, 0xEA, 0x20, 0x0F, 0x30, 0x0F, 0x32, 0x41, 0x89, 0xC5, 0xFB,
		0xF4, 0xEB, 0xFD,
	} },
	{ 0x100, 41, (const uint8_t[]){
		0x0F, 0x31, 0x48, 0xC1, 0xE2, 0x20, 0x48, 0x09, 0xD0, 0x4C, 0x29, 0xE0,
		0x49, 0x89, 0xC6, 0xB9, 0xE0, 0x06, 0x00, 0x00, 0x0F, 0x32, 0x89, 0xC6,
		0xC7, 0x83, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xB8, 0x32,
		0x00, 0x00, 0x00, 0xE7, 0xF4,
	} },
	{ 0, 0, NULL },
};

/* tpr:
 *   mov esp, 0x80000
 *   mov ebx, 0xFEE00000
 *   mov dword ptr [rbx+0x80], 0x50       # TPR class 5 blocks vector 0x50
 *   sti
 *   nop
 *   nop
 *   mov eax, [rbx+0xA0]                  # PPR = TPR = 0x50
 *   mov ecx, [rbx+0x220]                 # IRR 64-95: bit 16 = 0x50 pending
 *   out 0xF4, eax                        # report 1
 *   mov dword ptr [rbx+0x80], 0x4F       # class 4: 0x50 is deliverable now
 *   nop
 *   nop
 *   mov eax, 1
 *   out 0xF4, eax                        # only reached if 0x50 was not delivered
 * .org 0x100                               # vector 0x50
 *   mov eax, 0x50
 *   mov ecx, [rbx+0x120]                 # ISR 64-95: bit 16
 *   mov edx, [rbx+0xA0]                  # PPR = 0x50 (ISR class above TPR 0x4F)
 *   out 0xF4, eax
 */
static const struct piece g_tpr[] = {
	{ 0x0, 56, (const uint8_t[]){
		0xBC, 0x00, 0x00, 0x08, 0x00, 0xBB, 0x00, 0x00, 0xE0, 0xFE, 0xC7, 0x83,
		0x80, 0x00, 0x00, 0x00, 0x50, 0x00, 0x00, 0x00, 0xFB, 0x90, 0x90, 0x8B,
		0x83, 0xA0, 0x00, 0x00, 0x00, 0x8B, 0x8B, 0x20, 0x02, 0x00, 0x00, 0xE7,
		0xF4, 0xC7, 0x83, 0x80, 0x00, 0x00, 0x00, 0x4F, 0x00, 0x00, 0x00, 0x90,
		0x90, 0xB8, 0x01, 0x00, 0x00, 0x00, 0xE7, 0xF4,
	} },
	{ 0x100, 19, (const uint8_t[]){
		0xB8, 0x50, 0x00, 0x00, 0x00, 0x8B, 0x8B, 0x20, 0x01, 0x00, 0x00, 0x8B,
		0x93, 0xA0, 0x00, 0x00, 0x00, 0xE7, 0xF4,
	} },
	{ 0, 0, NULL },
};

/* nest:
 *   mov esp, 0x80000
 *   mov ebx, 0xFEE00000
 *   xor r15d, r15d
 *   xor r13d, r13d
 *   mov dword ptr [rbx+0x300], 0x40040   # self IPI 0x40 (shorthand self)
 *   sti
 *   nop
 *   nop
 *   cli
 *   mov eax, [rbx+0x110]                 # nothing left in service
 *   or eax, [rbx+0x120]
 *   or eax, [rbx+0x130]
 *   out 0xF4, eax
 * .org 0x100                               # vector 0x40
 *   shl r15, 8
 *   or r15, 0x40
 *   mov dword ptr [rbx+0x300], 0x40038   # lower class: waits for the EOI of 0x40
 *   mov dword ptr [rbx+0x300], 0x40070   # higher class: nests
 *   mov r8d, [rbx+0x120]                 # ISR 64-95: bit 0 = 0x40
 *   sti
 *   nop
 *   nop
 *   cli
 *   mov r10d, [rbx+0x210]                # IRR 32-63: bit 24 = 0x38 still pending
 *   mov dword ptr [rbx+0xB0], 0          # EOI of 0x40
 *   iretq
 * .org 0x200                               # vector 0x70
 *   shl r15, 8
 *   or r15, 0x70
 *   mov r9d, [rbx+0x130]                 # ISR 96-127: bit 16 = 0x70
 *   mov r11d, [rbx+0x120]                # 0x40 still in service below it
 *   inc r13d
 *   mov dword ptr [rbx+0xB0], 0          # EOI clears the highest: 0x70
 *   iretq
 * .org 0x300                               # vector 0x38
 *   shl r15, 8
 *   or r15, 0x38
 *   mov r12d, [rbx+0x110]                # ISR 32-63: bit 24 = 0x38
 *   mov dword ptr [rbx+0xB0], 0
 *   iretq
 */
static const struct piece g_nest[] = {
	{ 0x0, 50, (const uint8_t[]){
		0xBC, 0x00, 0x00, 0x08, 0x00, 0xBB, 0x00, 0x00, 0xE0, 0xFE, 0x45, 0x31,
		0xFF, 0x45, 0x31, 0xED, 0xC7, 0x83, 0x00, 0x03, 0x00, 0x00, 0x40, 0x00,
		0x04, 0x00, 0xFB, 0x90, 0x90, 0xFA, 0x8B, 0x83, 0x10, 0x01, 0x00, 0x00,
		0x0B, 0x83, 0x20, 0x01, 0x00, 0x00, 0x0B, 0x83, 0x30, 0x01, 0x00, 0x00,
		0xE7, 0xF4,
	} },
	{ 0x100, 58, (const uint8_t[]){
		0x49, 0xC1, 0xE7, 0x08, 0x49, 0x83, 0xCF, 0x40, 0xC7, 0x83, 0x00, 0x03,
		0x00, 0x00, 0x38, 0x00, 0x04, 0x00, 0xC7, 0x83, 0x00, 0x03, 0x00, 0x00,
		0x70, 0x00, 0x04, 0x00, 0x44, 0x8B, 0x83, 0x20, 0x01, 0x00, 0x00, 0xFB,
		0x90, 0x90, 0xFA, 0x44, 0x8B, 0x93, 0x10, 0x02, 0x00, 0x00, 0xC7, 0x83,
		0xB0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x48, 0xCF,
	} },
	{ 0x200, 37, (const uint8_t[]){
		0x49, 0xC1, 0xE7, 0x08, 0x49, 0x83, 0xCF, 0x70, 0x44, 0x8B, 0x8B, 0x30,
		0x01, 0x00, 0x00, 0x44, 0x8B, 0x9B, 0x20, 0x01, 0x00, 0x00, 0x41, 0xFF,
		0xC5, 0xC7, 0x83, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x48,
		0xCF,
	} },
	{ 0x300, 27, (const uint8_t[]){
		0x49, 0xC1, 0xE7, 0x08, 0x49, 0x83, 0xCF, 0x38, 0x44, 0x8B, 0xA3, 0x10,
		0x01, 0x00, 0x00, 0xC7, 0x83, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x48, 0xCF,
	} },
	{ 0, 0, NULL },
};

/* eoi:
 *   mov esp, 0x80000
 *   mov ebx, 0xFEE00000
 *   sti
 * 1:  jmp 1b
 * .org 0x100                               # vector 0x60 (level) / 0x61 (edge)
 *   mov esi, [rbx+0x1B0]                 # TMR 96-127: bit 0 = 0x60 level
 *   mov dword ptr [rbx+0xB0], 0          # EOI: VTL2 gets the APIC EOI message
 *   mov edi, [rbx+0x1B0]
 *   mov eax, 0x60
 *   out 0xF4, eax
 */
static const struct piece g_eoi[] = {
	{ 0x0, 13, (const uint8_t[]){
		0xBC, 0x00, 0x00, 0x08, 0x00, 0xBB, 0x00, 0x00, 0xE0, 0xFE, 0xFB, 0xEB,
		0xFE,
	} },
	{ 0x100, 29, (const uint8_t[]){
		0x8B, 0xB3, 0xB0, 0x01, 0x00, 0x00, 0xC7, 0x83, 0xB0, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x8B, 0xBB, 0xB0, 0x01, 0x00, 0x00, 0xB8, 0x60,
		0x00, 0x00, 0x00, 0xE7, 0xF4,
	} },
	{ 0, 0, NULL },
};

/* x2apic:
 *   mov esp, 0x80000
 *   xor r13d, r13d                       # #GP count
 *   xor r14d, r14d
 *   mov ecx, 0x1B
 *   rdmsr
 *   mov r8d, eax                         # 0xFEE00900: enabled, BSP
 *   or eax, 0x400                        # EXTD: x2APIC mode
 *   wrmsr
 *   mov ecx, 0x802
 *   rdmsr
 *   mov r9d, eax                         # x2APIC ID = VP index 0
 *   mov ecx, 0x803
 *   rdmsr
 *   mov r10d, eax                        # version
 *   mov ecx, 0x80D
 *   rdmsr
 *   mov r11d, eax                        # LDR: cluster 0, bit 0
 *   mov ecx, 0x808
 *   mov eax, 0x20
 *   xor edx, edx
 *   wrmsr                                # TPR
 *   mov ecx, 0x80A
 *   rdmsr
 *   mov r12d, eax                        # PPR = 0x20
 *   mov ecx, 0x808
 *   xor eax, eax
 *   wrmsr
 *   mov ecx, 0x80B
 *   rdmsr                                # #GP: EOI is write-only
 *   mov eax, 1
 *   wrmsr                                # #GP: non-zero EOI
 *   mov ecx, 0x80E
 *   rdmsr                                # #GP: no DFR in x2APIC mode
 *   mov ecx, 0x1B
 *   mov eax, 0xFEE00800
 *   xor edx, edx
 *   wrmsr                                # #GP: x2APIC -> xAPIC directly
 *   mov ecx, 0x83F
 *   mov eax, 0x45
 *   wrmsr                                # SELF IPI 0x45
 *   sti
 *   nop
 *   nop
 *   cli
 *   mov ecx, 0x830
 *   mov eax, 0x46                        # ICR: fixed 0x46, physical, destination 0 = self
 *   xor edx, edx
 *   wrmsr
 *   sti
 *   nop
 *   nop
 *   cli
 *   mov eax, [0xFEE00020]                # x2APIC mode: the page is not the APIC (MMIO exit)
 * .org 0x100                               # #GP: count, skip the 2-byte RDMSR/WRMSR
 *   inc r13d
 *   add qword ptr [rsp+8], 2
 *   add rsp, 8
 *   iretq
 * .org 0x200                               # vector 0x45
 *   shl r14, 8
 *   or r14, 0x45
 *   mov ecx, 0x80B
 *   xor eax, eax
 *   xor edx, edx
 *   wrmsr                                # EOI
 *   iretq
 * .org 0x300                               # vector 0x46
 *   shl r14, 8
 *   or r14, 0x46
 *   mov ecx, 0x80B
 *   xor eax, eax
 *   xor edx, edx
 *   wrmsr
 *   iretq
 */
static const struct piece g_x2apic[] = {
	{ 0x0, 169, (const uint8_t[]){
		0xBC, 0x00, 0x00, 0x08, 0x00, 0x45, 0x31, 0xED, 0x45, 0x31, 0xF6, 0xB9,
		0x1B, 0x00, 0x00, 0x00, 0x0F, 0x32, 0x41, 0x89, 0xC0, 0x0D, 0x00, 0x04,
		0x00, 0x00, 0x0F, 0x30, 0xB9, 0x02, 0x08, 0x00, 0x00, 0x0F, 0x32, 0x41,
		0x89, 0xC1, 0xB9, 0x03, 0x08, 0x00, 0x00, 0x0F, 0x32, 0x41, 0x89, 0xC2,
		0xB9, 0x0D, 0x08, 0x00, 0x00, 0x0F, 0x32, 0x41, 0x89, 0xC3, 0xB9, 0x08,
		0x08, 0x00, 0x00, 0xB8, 0x20, 0x00, 0x00, 0x00, 0x31, 0xD2, 0x0F, 0x30,
		0xB9, 0x0A, 0x08, 0x00, 0x00, 0x0F, 0x32, 0x41, 0x89, 0xC4, 0xB9, 0x08,
		0x08, 0x00, 0x00, 0x31, 0xC0, 0x0F, 0x30, 0xB9, 0x0B, 0x08, 0x00, 0x00,
		0x0F, 0x32, 0xB8, 0x01, 0x00, 0x00, 0x00, 0x0F, 0x30, 0xB9, 0x0E, 0x08,
		0x00, 0x00, 0x0F, 0x32, 0xB9, 0x1B, 0x00, 0x00, 0x00, 0xB8, 0x00, 0x08,
		0xE0, 0xFE, 0x31, 0xD2, 0x0F, 0x30, 0xB9, 0x3F, 0x08, 0x00, 0x00, 0xB8,
		0x45, 0x00, 0x00, 0x00, 0x0F, 0x30, 0xFB, 0x90, 0x90, 0xFA, 0xB9, 0x30,
		0x08, 0x00, 0x00, 0xB8, 0x46, 0x00, 0x00, 0x00, 0x31, 0xD2, 0x0F, 0x30,
		0xFB, 0x90, 0x90, 0xFA, 0xA1, 0x20, 0x00, 0xE0, 0xFE, 0x00, 0x00, 0x00,
		0x00,
	} },
	{ 0x100, 15, (const uint8_t[]){
		0x41, 0xFF, 0xC5, 0x48, 0x83, 0x44, 0x24, 0x08, 0x02, 0x48, 0x83, 0xC4,
		0x08, 0x48, 0xCF,
	} },
	{ 0x200, 21, (const uint8_t[]){
		0x49, 0xC1, 0xE6, 0x08, 0x49, 0x83, 0xCE, 0x45, 0xB9, 0x0B, 0x08, 0x00,
		0x00, 0x31, 0xC0, 0x31, 0xD2, 0x0F, 0x30, 0x48, 0xCF,
	} },
	{ 0x300, 21, (const uint8_t[]){
		0x49, 0xC1, 0xE6, 0x08, 0x49, 0x83, 0xCE, 0x46, 0xB9, 0x0B, 0x08, 0x00,
		0x00, 0x31, 0xC0, 0x31, 0xD2, 0x0F, 0x30, 0x48, 0xCF,
	} },
	{ 0, 0, NULL },
};

/* ipi:
 *   mov ebx, 0xFEE00000
 *   mov eax, [rbx+0x20]
 *   shr eax, 24                          # APIC ID = VP index
 *   test eax, eax
 *   jnz 5f
 *   mov esp, 0x80000                     # VP 0 sends
 *   mov dword ptr [rbx+0x310], 0x01000000  # destination APIC ID 1
 *   mov dword ptr [rbx+0x300], 0x55      # fixed, physical
 *   mov edi, 0x90000
 *   mov esi, 0x55
 *   call 3f
 *   mov dword ptr [rbx+0x310], 0x02000000  # logical, flat model: LDR bit 1
 *   mov dword ptr [rbx+0x300], 0x856     # fixed, logical
 *   mov edi, 0x90004
 *   mov esi, 0x56
 *   call 3f
 *   mov dword ptr [rbx+0x300], 0xC0057   # fixed, all excluding self
 *   mov edi, 0x90008
 *   mov esi, 0x57
 *   call 3f
 *   mov dword ptr [rbx+0x310], 0x01000000
 *   mov dword ptr [rbx+0x300], 0x400     # NMI to APIC ID 1
 *   mov edi, 0x9000C
 *   mov esi, 2
 *   call 3f
 *   mov dword ptr [rbx+0x300], 0xC500    # INIT (assert)
 *   mov dword ptr [rbx+0x300], 0x8500    # INIT level de-assert: no effect
 *   mov dword ptr [rbx+0x300], 0x608     # STARTUP, vector 8
 *   mov eax, 0xAA
 *   out 0xF4, eax
 * 3:  mov ecx, 100000000                   # wait (bounded) until [rdi] == esi
 * 4:  cmp [rdi], esi
 *   je 6f
 *   pause
 *   dec ecx
 *   jnz 4b
 * 6:  ret
 * 5:  mov esp, 0x70000                     # VP 1 receives
 *   mov dword ptr [rbx+0xD0], 0x02000000 # LDR: logical ID bit 1
 *   sti
 * 7:  hlt
 *   jmp 7b
 * .org 0x200                               # vector 0x55
 *   mov dword ptr [0x90000], 0x55
 *   mov dword ptr [rbx+0xB0], 0
 *   iretq
 * .org 0x300                               # vector 0x56
 *   mov dword ptr [0x90004], 0x56
 *   mov dword ptr [rbx+0xB0], 0
 *   iretq
 * .org 0x400                               # vector 0x57
 *   mov dword ptr [0x90008], 0x57
 *   mov dword ptr [rbx+0xB0], 0
 *   iretq
 * .org 0x500                               # NMI (vector 2): not in the ISR, no EOI
 *   mov dword ptr [0x9000C], 2
 *   iretq
 */
static const struct piece g_ipi[] = {
	{ 0x0, 226, (const uint8_t[]){
		0xBB, 0x00, 0x00, 0xE0, 0xFE, 0x8B, 0x43, 0x20, 0xC1, 0xE8, 0x18, 0x85,
		0xC0, 0x0F, 0x85, 0xBC, 0x00, 0x00, 0x00, 0xBC, 0x00, 0x00, 0x08, 0x00,
		0xC7, 0x83, 0x10, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xC7, 0x83,
		0x00, 0x03, 0x00, 0x00, 0x55, 0x00, 0x00, 0x00, 0xBF, 0x00, 0x00, 0x09,
		0x00, 0xBE, 0x55, 0x00, 0x00, 0x00, 0xE8, 0x84, 0x00, 0x00, 0x00, 0xC7,
		0x83, 0x10, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xC7, 0x83, 0x00,
		0x03, 0x00, 0x00, 0x56, 0x08, 0x00, 0x00, 0xBF, 0x04, 0x00, 0x09, 0x00,
		0xBE, 0x56, 0x00, 0x00, 0x00, 0xE8, 0x61, 0x00, 0x00, 0x00, 0xC7, 0x83,
		0x00, 0x03, 0x00, 0x00, 0x57, 0x00, 0x0C, 0x00, 0xBF, 0x08, 0x00, 0x09,
		0x00, 0xBE, 0x57, 0x00, 0x00, 0x00, 0xE8, 0x48, 0x00, 0x00, 0x00, 0xC7,
		0x83, 0x10, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xC7, 0x83, 0x00,
		0x03, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0xBF, 0x0C, 0x00, 0x09, 0x00,
		0xBE, 0x02, 0x00, 0x00, 0x00, 0xE8, 0x25, 0x00, 0x00, 0x00, 0xC7, 0x83,
		0x00, 0x03, 0x00, 0x00, 0x00, 0xC5, 0x00, 0x00, 0xC7, 0x83, 0x00, 0x03,
		0x00, 0x00, 0x00, 0x85, 0x00, 0x00, 0xC7, 0x83, 0x00, 0x03, 0x00, 0x00,
		0x08, 0x06, 0x00, 0x00, 0xB8, 0xAA, 0x00, 0x00, 0x00, 0xE7, 0xF4, 0xB9,
		0x00, 0xE1, 0xF5, 0x05, 0x39, 0x37, 0x74, 0x06, 0xF3, 0x90, 0xFF, 0xC9,
		0x75, 0xF6, 0xC3, 0xBC, 0x00, 0x00, 0x07, 0x00, 0xC7, 0x83, 0xD0, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xFB, 0xF4, 0xEB, 0xFD,
	} },
	{ 0x200, 23, (const uint8_t[]){
		0xC7, 0x04, 0x25, 0x00, 0x00, 0x09, 0x00, 0x55, 0x00, 0x00, 0x00, 0xC7,
		0x83, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x48, 0xCF,
	} },
	{ 0x300, 23, (const uint8_t[]){
		0xC7, 0x04, 0x25, 0x04, 0x00, 0x09, 0x00, 0x56, 0x00, 0x00, 0x00, 0xC7,
		0x83, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x48, 0xCF,
	} },
	{ 0x400, 23, (const uint8_t[]){
		0xC7, 0x04, 0x25, 0x08, 0x00, 0x09, 0x00, 0x57, 0x00, 0x00, 0x00, 0xC7,
		0x83, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x48, 0xCF,
	} },
	{ 0x500, 13, (const uint8_t[]){
		0xC7, 0x04, 0x25, 0x0C, 0x00, 0x09, 0x00, 0x02, 0x00, 0x00, 0x00, 0x48,
		0xCF,
	} },
	{ 0, 0, NULL },
};

/* hostile:
 *   mov esp, 0x80000
 *   mov ebx, 0xFEE00000
 *   xor esi, esi
 * 1:  mov al, [rbx+rsi]                    # every offset, every width, read and write
 *   mov ax, [rbx+rsi]
 *   mov eax, [rbx+rsi]
 *   mov rax, [rbx+rsi]
 *   mov rax, -1
 *   mov [rbx+rsi], al
 *   mov [rbx+rsi], ax
 *   mov [rbx+rsi], eax
 *   mov [rbx+rsi], rax
 *   xor eax, eax
 *   mov [rbx+rsi], al
 *   mov [rbx+rsi], ax
 *   mov [rbx+rsi], eax
 *   mov [rbx+rsi], rax
 *   inc esi
 *   cmp esi, 0x1000
 *   jb 1b
 *   mov dword ptr [rbx+0xF0], 0x1FF      # software-enable again
 *   mov eax, [rbx+0x30]
 *   mov ecx, [rbx+0xF0]
 *   out 0xF4, eax
 */
static const struct piece g_hostile[] = {
	{ 0x0, 94, (const uint8_t[]){
		0xBC, 0x00, 0x00, 0x08, 0x00, 0xBB, 0x00, 0x00, 0xE0, 0xFE, 0x31, 0xF6,
		0x8A, 0x04, 0x33, 0x66, 0x8B, 0x04, 0x33, 0x8B, 0x04, 0x33, 0x48, 0x8B,
		0x04, 0x33, 0x48, 0xC7, 0xC0, 0xFF, 0xFF, 0xFF, 0xFF, 0x88, 0x04, 0x33,
		0x66, 0x89, 0x04, 0x33, 0x89, 0x04, 0x33, 0x48, 0x89, 0x04, 0x33, 0x31,
		0xC0, 0x88, 0x04, 0x33, 0x66, 0x89, 0x04, 0x33, 0x89, 0x04, 0x33, 0x48,
		0x89, 0x04, 0x33, 0xFF, 0xC6, 0x81, 0xFE, 0x00, 0x10, 0x00, 0x00, 0x72,
		0xC3, 0xC7, 0x83, 0xF0, 0x00, 0x00, 0x00, 0xFF, 0x01, 0x00, 0x00, 0x8B,
		0x43, 0x30, 0x8B, 0x8B, 0xF0, 0x00, 0x00, 0x00, 0xE7, 0xF4,
	} },
	{ 0, 0, NULL },
};

/* x2hostile:
 *   mov esp, 0x80000
 *   xor r13d, r13d                       # #GP count
 *   mov ecx, 0x1B
 *   rdmsr
 *   or eax, 0x400                        # x2APIC mode
 *   wrmsr
 *   mov ecx, 0x800
 * 1:  rdmsr                                # every x2APIC MSR: read, write 0, write all-ones
 *   xor eax, eax
 *   xor edx, edx
 *   wrmsr
 *   mov eax, -1
 *   mov edx, -1
 *   wrmsr
 *   inc ecx
 *   cmp ecx, 0x900
 *   jb 1b
 *   mov eax, r13d
 *   out 0xF4, eax
 * .org 0x100                               # #GP: count, skip the 2-byte RDMSR/WRMSR
 *   inc r13d
 *   add qword ptr [rsp+8], 2
 *   add rsp, 8
 *   iretq
 */
static const struct piece g_x2hostile[] = {
	{ 0x0, 62, (const uint8_t[]){
		0xBC, 0x00, 0x00, 0x08, 0x00, 0x45, 0x31, 0xED, 0xB9, 0x1B, 0x00, 0x00,
		0x00, 0x0F, 0x32, 0x0D, 0x00, 0x04, 0x00, 0x00, 0x0F, 0x30, 0xB9, 0x00,
		0x08, 0x00, 0x00, 0x0F, 0x32, 0x31, 0xC0, 0x31, 0xD2, 0x0F, 0x30, 0xB8,
		0xFF, 0xFF, 0xFF, 0xFF, 0xBA, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x30, 0xFF,
		0xC1, 0x81, 0xF9, 0x00, 0x09, 0x00, 0x00, 0x72, 0xE2, 0x44, 0x89, 0xE8,
		0xE7, 0xF4,
	} },
	{ 0x100, 15, (const uint8_t[]){
		0x41, 0xFF, 0xC5, 0x48, 0x83, 0x44, 0x24, 0x08, 0x02, 0x48, 0x83, 0xC4,
		0x08, 0x48, 0xCF,
	} },
	{ 0, 0, NULL },
};

/* busy:
 *   mov esp, 0x80000
 *   mov ebx, 0xFEE00000
 *   mov dword ptr [rbx+0x3E0], 0xB       # divide by 1
 *   mov dword ptr [rbx+0x320], 0x33      # LVT timer: one-shot, vector 0x33
 *   mov dword ptr [rbx+0x380], 1000000   # 5 ms at 200 MHz
 *   sti
 * 1:  inc rsi                              # busy: no exit, no HLT
 *   jmp 1b
 * .org 0x100                               # vector 0x33
 *   mov dword ptr [rbx+0xB0], 0
 *   mov eax, 0x33
 *   out 0xF4, eax
 */
static const struct piece g_busy[] = {
	{ 0x0, 46, (const uint8_t[]){
		0xBC, 0x00, 0x00, 0x08, 0x00, 0xBB, 0x00, 0x00, 0xE0, 0xFE, 0xC7, 0x83,
		0xE0, 0x03, 0x00, 0x00, 0x0B, 0x00, 0x00, 0x00, 0xC7, 0x83, 0x20, 0x03,
		0x00, 0x00, 0x33, 0x00, 0x00, 0x00, 0xC7, 0x83, 0x80, 0x03, 0x00, 0x00,
		0x40, 0x42, 0x0F, 0x00, 0xFB, 0x48, 0xFF, 0xC6, 0xEB, 0xFB,
	} },
	{ 0x100, 17, (const uint8_t[]){
		0xC7, 0x83, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xB8, 0x33,
		0x00, 0x00, 0x00, 0xE7, 0xF4,
	} },
	{ 0, 0, NULL },
};

static void test_timer_interrupts_busy_loop(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	install_out_f4(sim);
	load(sim, g_busy);
	gate(sim, 0x33, 0x100);
	uint64_t t0 = mono_ms();
	expect_report(sim);
	assert_true(mono_ms() - t0 >= 4);
	assert_int_equal(reg(sim, 0, RAX), 0x33);
	assert_true(reg(sim, 0, RSI) > 0);                    /* the loop ran until then */
	hvsim_destroy(sim);
}

static void test_timer_one_shot_wakes_hlt(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	install_out_f4(sim);
	load(sim, g_timer);
	gate(sim, 0x30, 0x100);
	uint64_t t0 = mono_ms();
	expect_report(sim);
	uint64_t ms = mono_ms() - t0;
	assert_true(ms >= 9);                                 /* 2 000 000 ticks at 200 MHz */
	assert_true(reg(sim, 0, RSI) > 0 && reg(sim, 0, RSI) <= 2000000); /* counting down */
	assert_int_equal(reg(sim, 0, RAX), 0);                /* current count after expiry */
	assert_int_equal(reg(sim, 0, RCX), 1u << 16);         /* 0x30 in service */
	assert_int_equal(reg(sim, 0, RDX), 0);                /* EOI cleared it */
	assert_int_equal(reg(sim, 0, RDI), 0);                /* PPR back to 0 */
	hvsim_destroy(sim);
}

static void test_timer_periodic(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	install_out_f4(sim);
	load(sim, g_periodic);
	gate(sim, 0x31, 0x100);
	uint64_t t0 = mono_ms();
	expect_report(sim);
	assert_true(mono_ms() - t0 >= 4);                     /* 5 periods of 1 ms */
	assert_true(reg(sim, 0, R12) >= 5);
	assert_true(reg(sim, 0, RSI) >= 1 && reg(sim, 0, RSI) <= 12500);
	assert_int_equal(reg(sim, 0, RAX), 0);
	assert_int_equal(reg(sim, 0, RCX), 3);
	hvsim_destroy(sim);
}

static void test_timer_tsc_deadline(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	install_out_f4(sim);
	load(sim, g_tscdl);
	gate(sim, 0x32, 0x100);
	expect_report(sim);
	assert_int_equal(reg(sim, 0, RAX), 0x32);
	assert_int_equal(reg(sim, 0, R15), 0);                /* ignored outside the mode */
	assert_int_not_equal(reg(sim, 0, R13), 0);            /* deadline read back */
	assert_true(reg(sim, 0, R14) >= 20000000);            /* not before the deadline */
	assert_int_equal(reg(sim, 0, RSI), 0);                /* disarmed once fired */
	hvsim_destroy(sim);
}

static void test_tpr_masks(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	install_out_f4(sim);
	load(sim, g_tpr);
	gate(sim, 0x50, 0x100);
	assert_int_equal(hvsim_assert_interrupt(sim, 0, 0x50), 0);
	const uint8_t *m = expect_report(sim);
	assert_int_equal(reg(sim, 0, RAX), 0x50);             /* PPR = TPR */
	assert_int_equal(reg(sim, 0, RCX), 1u << 16);         /* 0x50 still in the IRR */
	set_rip(sim, u64at(m + PL + 24) + 2);
	expect_report(sim);                                   /* the handler, not "1" */
	assert_int_equal(reg(sim, 0, RAX), 0x50);
	assert_int_equal(reg(sim, 0, RCX), 1u << 16);         /* in service */
	assert_int_equal(reg(sim, 0, RDX), 0x50);             /* PPR from the ISR */
	struct hvsim_apic_info info;
	assert_int_equal(hvsim_apic_get_info(sim, 0, &info), 0);
	assert_int_equal(info.tpr, 0x4F);
	assert_int_equal(info.isr[0x50 / 8], 1u << (0x50 % 8));
	hvsim_destroy(sim);
}

static void test_isr_eoi_nesting(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	install_out_f4(sim);
	load(sim, g_nest);
	gate(sim, 0x40, 0x100);
	gate(sim, 0x70, 0x200);
	gate(sim, 0x38, 0x300);
	expect_report(sim);
	assert_int_equal(reg(sim, 0, R15), 0x407038);         /* delivery order */
	assert_int_equal(reg(sim, 0, R8), 1);                 /* 0x40 in service */
	assert_int_equal(reg(sim, 0, R9), 1u << 16);          /* 0x70 nested above it */
	assert_int_equal(reg(sim, 0, R11), 1);                /* 0x40 still in service then */
	assert_int_equal(reg(sim, 0, R10), 1u << 24);         /* 0x38 held in the IRR */
	assert_int_equal(reg(sim, 0, R12), 1u << 24);         /* then in service */
	assert_int_equal(reg(sim, 0, R13), 1);
	assert_int_equal(reg(sim, 0, RAX), 0);                /* ISR empty at the end */
	hvsim_destroy(sim);
}

static void test_eoi_message_for_level_vector(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	install_out_f4(sim);
	load(sim, g_eoi);
	gate(sim, 0x60, 0x100);
	/* HvCallAssertVirtualInterrupt: fixed, level-triggered (control bit 32), VP 0, 0x60 */
	uint8_t in[32] = { 0 };
	uint64_t self = ~0ull, control = 1ull << 32, dest = 0;
	uint32_t vector = 0x60;
	memcpy(in, &self, 8);
	memcpy(in + 8, &control, 8);
	memcpy(in + 16, &dest, 8);
	memcpy(in + 24, &vector, 4);
	assert_int_equal(hc(sim, 0x94, in, sizeof(in)) & 0xFFFF, 0);
	assert_int_equal(hvsim_vp_run(sim, 0), 0);
	const uint8_t *m = msg(sim, 0);
	assert_int_equal(u32at(m), 0x80010004);                /* X64ApicEoi */
	assert_true(m[4] >= 8);
	assert_int_equal(u32at(m + PL + 0), 0);                /* vp index */
	assert_int_equal(u32at(m + PL + 4), 0x60);             /* vector */
	struct hv_exit ex;
	assert_int_equal(hv_exit_decode(m, 256, &ex), 0);
	assert_int_equal(ex.kind, HV_EXIT_APIC_EOI);
	assert_int_equal(ex.u.apic_eoi.interrupt_vector, 0x60);
	/* The EOI retired: running again continues after it. */
	expect_report(sim);
	assert_int_equal(reg(sim, 0, RSI), 1);                 /* TMR bit while in service */
	assert_int_equal(reg(sim, 0, RDI), 0);
	struct hvsim_stats st;
	hvsim_get_stats(sim, &st);
	assert_int_equal(st.exits_by_kind[HVSIM_EXIT_APIC_EOI], 1);
	/* An edge vector's EOI sends nothing: the next exit is the report again. */
	set_rip(sim, CODE + 10);                               /* back to `sti; jmp $` */
	assert_int_equal(hvsim_assert_interrupt(sim, 0, 0x60), 0);
	expect_report(sim);
	assert_int_equal(reg(sim, 0, RSI), 0);
	hvsim_destroy(sim);
}

static void test_x2apic_msrs_and_self_ipi(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	install_out_f4(sim);
	load(sim, g_x2apic);
	gate(sim, 13, 0x100);
	gate(sim, 0x45, 0x200);
	gate(sim, 0x46, 0x300);
	const uint8_t *m = run_exit(sim, 0x80000000);         /* the page is MMIO again */
	assert_int_equal(u64at(m + PL + 56), 0xFEE00020);
	assert_int_equal(reg(sim, 0, R8), 0xFEE00900);
	assert_int_equal(reg(sim, 0, R9), 0);
	assert_int_equal(reg(sim, 0, R10), 0x00050014);
	assert_int_equal(reg(sim, 0, R11), 1);
	assert_int_equal(reg(sim, 0, R12), 0x20);
	assert_int_equal(reg(sim, 0, R13), 4);                /* the four #GPs */
	assert_int_equal(reg(sim, 0, R14), 0x4546);           /* SELF IPI, then ICR to self */
	struct hvsim_apic_info info;
	assert_int_equal(hvsim_apic_get_info(sim, 0, &info), 0);
	assert_int_equal(info.apic_base, 0xFEE00D00);
	hvsim_destroy(sim);
}

struct vp_thread {
	struct hvsim *sim;
	uint32_t vp;
	int rc;
};

static void *vp_main(void *arg)
{
	struct vp_thread *t = arg;
	t->rc = hvsim_vp_run(t->sim, t->vp);
	return NULL;
}

static void test_ipi_between_vps(void **state)
{
	(void)state;
	struct hvsim *sim = mk(2);
	install_out_f4(sim);
	load(sim, g_ipi);
	gate(sim, 0x55, 0x200);
	gate(sim, 0x56, 0x300);
	gate(sim, 0x57, 0x400);
	gate(sim, 2, 0x500);
	/* What VP 1 runs after INIT and SIPI vector 8: real mode at 0800:0000. */
	static const uint8_t real_mode[] = {
		0x8C, 0xC8,                         /* mov ax, cs */
		0x8E, 0xD8,                         /* mov ds, ax */
		0xC7, 0x06, 0x00, 0x01, 0x34, 0x12, /* mov word [0x100], 0x1234 */
		0x66, 0xB8, 0xBB, 0x00, 0x00, 0x00, /* mov eax, 0xBB (operand-size prefix) */
		0xE6, 0xF4,                         /* out 0xF4, al (IP 0x10) */
		0xF4,                               /* hlt */
	};
	memcpy(hvsim_gpa_ptr(sim, gpa(0x8000), sizeof(real_mode)), real_mode, sizeof(real_mode));
	struct vp_thread t = { sim, 1, 1 };
	pthread_t th;
	pthread_create(&th, NULL, vp_main, &t);
	expect_report(sim);
	assert_int_equal(reg(sim, 0, RAX), 0xAA);
	const uint32_t *seen = hvsim_gpa_ptr(sim, gpa(0x90000), 16);
	assert_int_equal(seen[0], 0x55);                      /* physical */
	assert_int_equal(seen[1], 0x56);                      /* logical flat */
	assert_int_equal(seen[2], 0x57);                      /* all excluding self */
	assert_int_equal(seen[3], 2);                         /* NMI */
	/* INIT parked VP 1; the SIPI started it in real mode, where it wrote DS:0x100 with
	 * DS = CS = 0x800 and stopped at the OUT. */
	pthread_join(th, NULL);
	assert_int_equal(t.rc, 0);
	const uint8_t *m = msg(sim, 1);
	assert_int_equal(u64at(m + PL + 24), 0x10);                 /* RIP = IP */
	assert_int_equal(u64at(m + PL + 8 + 12) & 0xFFFF, 0x800);   /* CS selector */
	assert_int_equal(reg(sim, 1, RAX), 0xBB);
	const uint16_t *w = hvsim_gpa_ptr(sim, gpa(0x8100), 2);
	assert_int_equal(*w, 0x1234);
	struct hvsim_apic_info info = { 0 };
	assert_int_equal(hvsim_apic_get_info(sim, 1, &info), 0);
	assert_false(info.wait_for_sipi);
	assert_int_equal(info.sipi_vector, 8);
	assert_int_equal(info.sipi_count, 1);
	assert_int_equal(info.apic_base, 0xFEE00800);         /* not the BSP */
	hvsim_destroy(sim);
}

static void test_hostile_xapic_accesses(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	install_out_f4(sim);
	load(sim, g_hostile);
	expect_report(sim);
	assert_int_equal(reg(sim, 0, RAX), 0x00050014);
	assert_int_equal(reg(sim, 0, RCX), 0x1FF);
	hvsim_destroy(sim);
}

static void test_hostile_x2apic_msrs(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	install_out_f4(sim);
	load(sim, g_x2hostile);
	gate(sim, 13, 0x100);
	expect_report(sim);
	/*
	 * #GP (SDM 10.12.1.2): reads of the 215 MSRs that are not readable registers, writes of 0
	 * to the 242 that are not writable ones, and every all-ones write (reserved bits).
	 */
	assert_int_equal(reg(sim, 0, RAX), 215 + 242 + 256);
	hvsim_destroy(sim);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timer_one_shot_wakes_hlt),
		cmocka_unit_test(test_timer_periodic),
		cmocka_unit_test(test_timer_interrupts_busy_loop),
		cmocka_unit_test(test_timer_tsc_deadline),
		cmocka_unit_test(test_tpr_masks),
		cmocka_unit_test(test_isr_eoi_nesting),
		cmocka_unit_test(test_eoi_message_for_level_vector),
		cmocka_unit_test(test_x2apic_msrs_and_self_ipi),
		cmocka_unit_test(test_ipi_between_vps),
		cmocka_unit_test(test_hostile_xapic_accesses),
		cmocka_unit_test(test_hostile_x2apic_msrs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
