/*
 * hvsim VP tests: tiny machine-code guests (byte arrays) run on the simulated hypervisor. Each
 * intercept kind is checked byte by byte against the message layouts of hyperv-abi-facts
 * 2.3/2.4 (offsets written out here, not taken from structs), plus completion through the run
 * page's cpu_context, exception delivery through a guest IDT, interrupt injection, cancel and
 * the poll file, VTL protections and several VPs.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "hvcall/hv.h"
#include "hvcall/hv_exit.h"
#include "tools/hvsim/hvsim.h"

#define CODE 0x100000ull
#define IDT  0x10000ull
#define HANDLER 0x101000ull

/* run page offsets (hyperv-abi-facts 1.4) */
#define RUN_CANCEL 0
#define RUN_MSG    16
#define RUN_CTX    272
/* payload offset inside the message (2.3) */
#define PL 16

static struct hvsim *mk(uint32_t vps)
{
	struct hvsim_config cfg = { .vp_count = vps, .mem_size = 8u << 20 };
	struct hvsim *sim = NULL;
	assert_int_equal(hvsim_create(&cfg, &sim), 0);
	for (uint32_t i = 0; i < vps; i++)
		assert_int_equal(hvsim_vp_setup_long_mode(sim, i, CODE), 0);
	return sim;
}

static void load(struct hvsim *sim, uint64_t at, const void *code, size_t len)
{
	void *p = hvsim_gpa_ptr(sim, gpa(at), len);
	assert_non_null(p);
	memcpy(p, code, len);
}

static uint64_t hc(struct hvsim *sim, uint64_t control, const void *in, size_t in_size, void *out,
		   size_t out_size)
{
	uint64_t result = ~0ull;
	assert_int_equal(hvsim_hvcall(sim, 0, control, in, in_size, out, out_size, &result), 0);
	return result;
}

static void install(struct hvsim *sim, uint32_t type, uint32_t access, uint64_t param)
{
	uint8_t in[24] = { 0 };
	uint64_t self = ~0ull;
	memcpy(in, &self, 8);
	memcpy(in + 8, &access, 4);
	memcpy(in + 12, &type, 4);
	memcpy(in + 16, &param, 8);
	assert_int_equal(hc(sim, 0x4D, in, sizeof(in), NULL, 0) & 0xFFFF, 0);
}

static uint8_t *runpage(struct hvsim *sim, uint32_t vp)
{
	return hvsim_vp_run_page(sim, vp);
}

static uint64_t u64at(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint32_t u32at(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint16_t u16at(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }

/* cpu_context GPR in architectural index (4 = CR2 slot) */
static uint64_t ctx(struct hvsim *sim, unsigned i)
{
	return u64at(runpage(sim, 0) + RUN_CTX + 8 * i);
}

static void set_ctx(struct hvsim *sim, unsigned i, uint64_t v)
{
	memcpy(runpage(sim, 0) + RUN_CTX + 8 * i, &v, 8);
}

static const uint8_t *run_exit(struct hvsim *sim, uint32_t type)
{
	assert_int_equal(hvsim_vp_run(sim, 0), 0);
	const uint8_t *m = runpage(sim, 0) + RUN_MSG;
	assert_int_equal(u32at(m), type);
	/* The paravisor's decoder (hvcall/hv_exit) accepts every message hvsim produces. */
	struct hv_exit ex;
	assert_int_equal(hv_exit_decode(m, 256, &ex), 0);
	assert_int_equal(ex.message_type, type);
	assert_true(ex.has_header);
	assert_int_equal(ex.u.header.vp_index, 0);
	return m;
}

static void set_reg(struct hvsim *sim, uint32_t name, uint64_t lo, uint64_t hi)
{
	union hv_register_value v;
	v.low = lo;
	v.high = hi;
	assert_int_equal(hvsim_vp_set_register(sim, 0, name, &v), 0);
}

static uint64_t get_reg(struct hvsim *sim, uint32_t name)
{
	union hv_register_value v;
	assert_int_equal(hvsim_vp_get_register(sim, 0, name, &v), 0);
	return v.low;
}

/* Exit through OUT 0xF4 (write intercept installed): the guest's "report" instruction. */
static void expect_report(struct hvsim *sim)
{
	const uint8_t *m = run_exit(sim, 0x80010000);
	assert_int_equal(u16at(m + PL + 40), 0xF4);
}

static void test_io_out_message(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	install(sim, 0, 2, 0xF4);
	/* mov eax, 0x12345678; out 0xF4, eax */
	static const uint8_t code[] = { 0xB8, 0x78, 0x56, 0x34, 0x12, 0xE7, 0xF4, 0xF4 };
	load(sim, CODE, code, sizeof(code));
	const uint8_t *m = run_exit(sim, 0x80010000);
	assert_int_equal(m[4], 128);                        /* payload size */
	assert_int_equal(u32at(m + PL + 0), 0);              /* vp index */
	assert_int_equal(m[PL + 4] & 0xF, 2);                /* instruction length */
	assert_int_equal(m[PL + 5], 1);                      /* write */
	assert_int_equal(u16at(m + PL + 6) & 0x1F, 0x14);    /* CPL0, PE, LMA */
	assert_int_equal(u16at(m + PL + 8 + 12), 0x08);      /* CS selector */
	assert_int_equal(u16at(m + PL + 8 + 14) & 0x2000, 0x2000); /* CS.L */
	assert_int_equal(u64at(m + PL + 24), CODE + 5);      /* RIP at the OUT */
	assert_int_equal(u16at(m + PL + 40), 0xF4);
	assert_int_equal(m[PL + 42], 4);                     /* size 4, not string */
	assert_int_equal(m[PL + 43], 16);                    /* instruction bytes */
	assert_int_equal(u64at(m + PL + 48), 0x12345678);    /* rax */
	assert_int_equal(m[PL + 56], 0xE7);
	assert_int_equal(m[PL + 57], 0xF4);
	assert_int_equal(ctx(sim, 0), 0x12345678);
	struct hvsim_stats st;
	hvsim_get_stats(sim, &st);
	assert_int_equal(st.exits_by_kind[HVSIM_EXIT_IO], 1);
	assert_true(st.guest_insns >= 1);
	hvsim_destroy(sim);
}

static void test_io_in_completion(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	install(sim, 0, 1, 0xF0);
	install(sim, 0, 2, 0xF4);
	/* in eax, 0xF0; mov ebx, eax; in al, 0x60 (host: 0xFF); out 0xF4, eax */
	static const uint8_t code[] = { 0xE5, 0xF0, 0x89, 0xC3, 0xE4, 0x60, 0xE7, 0xF4 };
	load(sim, CODE, code, sizeof(code));
	const uint8_t *m = run_exit(sim, 0x80010000);
	assert_int_equal(m[PL + 5], 0);                      /* read */
	assert_int_equal(u16at(m + PL + 40), 0xF0);
	assert_int_equal(u64at(m + PL + 24), CODE);
	/* Complete like the paravisor: RAX in the context, RIP += length. */
	set_ctx(sim, 0, 0xAABBCCDD);
	set_reg(sim, 0x20010, CODE + (m[PL + 4] & 0xF), 0);
	expect_report(sim);
	assert_int_equal(ctx(sim, 3), 0xAABBCCDD);           /* rbx got the IN value */
	assert_int_equal(ctx(sim, 0), 0xAABBCCFF);           /* host IN al = 0xFF */
	hvsim_destroy(sim);
}

static void test_string_io(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	install(sim, 0x11, 2, 0xF4 | (0xF7u << 16));        /* port range 0xF4..0xF7 */
	/* mov edx, 0xF6; mov esi, 0x200000; mov ecx, 4; rep outsb */
	static const uint8_t code[] = { 0xBA, 0xF6, 0, 0, 0, 0xBE, 0, 0, 0x20, 0,
					0xB9, 4, 0, 0, 0, 0xF3, 0x6E };
	load(sim, CODE, code, sizeof(code));
	const uint8_t *m = run_exit(sim, 0x80010000);
	assert_int_equal(u16at(m + PL + 40), 0xF6);
	assert_int_equal(m[PL + 42], 1 | 8 | 16);            /* byte, string, rep */
	assert_int_equal(u64at(m + PL + 104), 4);            /* rcx */
	assert_int_equal(u64at(m + PL + 112), 0x200000);     /* rsi */
	assert_int_equal(u64at(m + PL + 24), CODE + 15);
	assert_int_equal(m[PL + 4] & 0xF, 2);
	hvsim_destroy(sim);
}

static void test_host_string_in(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	install(sim, 0, 2, 0xF4);
	/* mov edx, 0x80; mov edi, 0x200000; mov ecx, 3; rep insb; out 0xF4, eax */
	static const uint8_t code[] = { 0xBA, 0x80, 0, 0, 0, 0xBF, 0, 0, 0x20, 0,
					0xB9, 3, 0, 0, 0, 0xF3, 0x6C, 0xE7, 0xF4 };
	load(sim, CODE, code, sizeof(code));
	expect_report(sim);
	const uint8_t *mem = hvsim_gpa_ptr(sim, gpa(0x200000), 4);
	assert_int_equal(mem[0], 0xFF);
	assert_int_equal(mem[2], 0xFF);
	assert_int_equal(mem[3], 0x00);
	assert_int_equal(ctx(sim, 1), 0);                    /* rcx */
	assert_int_equal(ctx(sim, 7), 0x200003);             /* rdi */
	hvsim_destroy(sim);
}

static void test_cpuid(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	install(sim, 2, 1, 0x40000000);
	install(sim, 0, 2, 0xF4);
	/* xor eax,eax; cpuid (host); mov esi, ebx; mov eax, 0x40000000; cpuid (intercept) */
	static const uint8_t code[] = { 0x31, 0xC0, 0x0F, 0xA2, 0x89, 0xDE,
					0xB8, 0, 0, 0, 0x40, 0x0F, 0xA2, 0xE7, 0xF4 };
	load(sim, CODE, code, sizeof(code));
	const uint8_t *m = run_exit(sim, 0x80010002);
	assert_int_equal(m[4], 104);
	assert_int_equal(u64at(m + PL + 24), CODE + 11);
	assert_int_equal(u64at(m + PL + 40), 0x40000000);   /* rax */
	assert_int_not_equal(ctx(sim, 6), 0);                /* host leaf 0: vendor EBX */
	assert_int_equal(ctx(sim, 0), 0x40000000);           /* not executed yet */
	/* Complete: answer EAX=0x40000001, EBX="Mezz" */
	set_ctx(sim, 0, 0x40000001);
	set_ctx(sim, 3, 0x7A7A654D);
	set_reg(sim, 0x20010, CODE + 13, 0);
	expect_report(sim);
	assert_int_equal(ctx(sim, 0), 0x40000001);
	assert_int_equal(ctx(sim, 3), 0x7A7A654D);
	hvsim_destroy(sim);
}

static void test_halt_hypercall_mmio(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	/* mov ebx, 0xFE000010; mov eax, [rbx]; mov [rbx+4], eax; mov ecx, 0x99; vmcall; cli; hlt */
	static const uint8_t code[] = { 0xBB, 0x10, 0, 0, 0xFE, 0x8B, 0x03, 0x89, 0x43, 0x04,
					0xB9, 0x99, 0, 0, 0, 0x0F, 0x01, 0xC1, 0xFA, 0xF4 };
	load(sim, CODE, code, sizeof(code));
	const uint8_t *m = run_exit(sim, 0x80000000);
	assert_int_equal(m[4], 80);
	assert_int_equal(m[PL + 5], 0);                      /* read */
	assert_int_equal(u64at(m + PL + 24), CODE + 5);
	assert_int_equal(m[PL + 4] & 0xF, 2);
	assert_int_equal(m[PL + 44], 16);
	assert_int_equal(m[PL + 45] & 1, 1);                 /* GVA valid */
	assert_int_equal(u64at(m + PL + 48), 0xFE000010);    /* GVA */
	assert_int_equal(u64at(m + PL + 56), 0xFE000010);    /* GPA */
	assert_int_equal(m[PL + 64], 0x8B);
	assert_int_equal(m[PL + 65], 0x03);
	/* Complete the MMIO read: EAX = 0x1234, RIP += 2 */
	set_ctx(sim, 0, 0x1234);
	set_reg(sim, 0x20010, CODE + 7, 0);
	m = run_exit(sim, 0x80000000);
	assert_int_equal(m[PL + 5], 1);                      /* write */
	assert_int_equal(u64at(m + PL + 56), 0xFE000014);
	/* Stopped at the store, before the MOV after it in the same block (unicorn patch 0004:
	 * no exit check after stores, the faulting store itself leaves the block). */
	assert_int_equal(u64at(m + PL + 24), CODE + 7);
	assert_int_not_equal(ctx(sim, 1), 0x99);             /* rcx */
	assert_int_equal(ctx(sim, 0), 0x1234);
	set_reg(sim, 0x20010, CODE + 10, 0);
	m = run_exit(sim, 0x80000050);
	assert_int_equal(m[4], 208);
	assert_int_equal(u64at(m + PL + 24), CODE + 15);
	assert_int_equal(u64at(m + PL + 56), 0x99);          /* rcx */
	set_reg(sim, 0x20010, CODE + 18, 0);
	m = run_exit(sim, 0x80010007);                       /* HLT with IF=0 */
	assert_int_equal(m[4], 40);
	assert_int_equal(u64at(m + PL + 24), CODE + 19);
	hvsim_destroy(sim);
}

/*
 * An MMIO store in the middle of a block without special instructions (gated, no hook): the
 * exit names the store's RIP and nothing after it ran (unicorn patch 0004).
 */
static void test_mmio_store_mid_block(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	install(sim, 0, 2, 0xF4);
	/* mov eax, 7; mov ebx, 0xFE000010; mov [rbx], eax; inc eax; inc eax; jmp +0;
	 * out 0xF4, eax; hlt */
	static const uint8_t code[] = { 0xB8, 7, 0, 0, 0, 0xBB, 0x10, 0, 0, 0xFE, 0x89, 0x03,
					0xFF, 0xC0, 0xFF, 0xC0, 0xEB, 0x00, 0xE7, 0xF4, 0xF4 };
	load(sim, CODE, code, sizeof(code));
	for (int round = 0; round < 3; round++) {
		set_reg(sim, 0x20010, CODE, 0);
		const uint8_t *m = run_exit(sim, 0x80000000);
		assert_int_equal(m[PL + 5], 1);                      /* write */
		assert_int_equal(u64at(m + PL + 24), CODE + 10);
		assert_int_equal(u64at(m + PL + 56), 0xFE000010);
		assert_int_equal(ctx(sim, 0), 7);
		set_reg(sim, 0x20010, CODE + 12, 0);
		m = run_exit(sim, 0x80010000);
		assert_int_equal(u64at(m + PL + 48), 9);
	}
	hvsim_destroy(sim);
}

static void test_msr(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	install(sim, 1, 3, 0);
	install(sim, 0, 2, 0xF4);
	/* mov ecx, 0xC0000080; rdmsr (host: EFER); mov esi, eax; mov ecx, 0x40000105;
	 * mov eax, 5; xor edx, edx; wrmsr (intercept, mid-block) */
	static const uint8_t code[] = { 0xB9, 0x80, 0, 0, 0xC0, 0x0F, 0x32, 0x89, 0xC6,
					0xB9, 0x05, 0x01, 0, 0x40, 0xB8, 5, 0, 0, 0, 0x31, 0xD2,
					0x0F, 0x30, 0x0F, 0x32 };
	load(sim, CODE, code, sizeof(code));
	const uint8_t *m = run_exit(sim, 0x80010001);
	assert_int_equal(m[4], 64);
	assert_int_equal(m[PL + 5], 1);                      /* write */
	assert_int_equal(u64at(m + PL + 24), CODE + 21);     /* stopped exactly at WRMSR */
	assert_int_equal(u32at(m + PL + 40), 0x40000105);
	assert_int_equal(u64at(m + PL + 56), 5);             /* rax */
	assert_int_equal(u64at(m + PL + 48), 0);             /* rdx */
	assert_int_equal(ctx(sim, 6), 0xD01);                /* EFER via unicorn */
	set_reg(sim, 0x20010, CODE + 23, 0);
	m = run_exit(sim, 0x80010001);
	assert_int_equal(m[PL + 5], 0);                      /* read */
	hvsim_destroy(sim);
}

/* IDT gate for `vector` -> handler, interrupt gate, DPL0. */
static void gate(struct hvsim *sim, unsigned vector, uint64_t handler)
{
	uint8_t g[16] = { 0 };
	g[0] = (uint8_t)handler;
	g[1] = (uint8_t)(handler >> 8);
	g[2] = 0x08;
	g[5] = 0x8E;
	g[6] = (uint8_t)(handler >> 16);
	g[7] = (uint8_t)(handler >> 24);
	load(sim, IDT + 16 * vector, g, 16);
	set_reg(sim, 0x70000, (uint64_t)0xFFF << 48, IDT);
}

/* handler: mov rax, cr2; mov rbx, [rsp]; mov rcx, [rsp+8]; mov rdx, [rsp+16]; out 0xF4, eax */
static const uint8_t handler_code[] = { 0x0F, 0x20, 0xD0, 0x48, 0x8B, 0x1C, 0x24,
					0x48, 0x8B, 0x4C, 0x24, 0x08, 0x48, 0x8B, 0x54, 0x24, 0x10,
					0xE7, 0xF4 };

static void test_page_fault_delivery(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	install(sim, 0, 2, 0xF4);
	gate(sim, 14, HANDLER);
	load(sim, HANDLER, handler_code, sizeof(handler_code));
	uint64_t zero = 0;
	load(sim, 0x4008, &zero, 8);  /* 0x200000..0x3FFFFF not present */
	/* mov esp, 0x80000; mov ebx, 0x200008; mov [rbx], eax */
	static const uint8_t code[] = { 0xBC, 0, 0, 8, 0, 0xBB, 8, 0, 0x20, 0, 0x89, 0x03 };
	load(sim, CODE, code, sizeof(code));
	expect_report(sim);
	assert_int_equal(ctx(sim, 0), 0x200008);             /* CR2 */
	assert_int_equal(ctx(sim, 4), 0x200008);             /* CR2 slot of the context */
	assert_int_equal(ctx(sim, 3), 2);                    /* error code: write, not present */
	assert_int_equal(ctx(sim, 1), CODE + 10);            /* faulting RIP */
	assert_int_equal(ctx(sim, 2), 0x08);                 /* CS */
	assert_int_equal(get_reg(sim, 0x20004), 0x80000 - 48); /* frame with error code */
	/* A read of a present page through a user-only check: read fault code = 0 */
	hvsim_destroy(sim);
}

/*
 * unicorn does not report #PF error codes: hvsim derives the access kind from the decoded
 * instruction. One case per kind of memory use: plain read, read-modify-write, CMP (read only),
 * MOVS faulting on its source vs its destination, PUSH/POP with a memory operand (stack side
 * present, memory side not), and OUTS through an FS override (the segment base applies).
 */
static void test_pf_error_code_kinds(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	install(sim, 0, 2, 0xF4);
	gate(sim, 14, HANDLER);
	load(sim, HANDLER, handler_code, sizeof(handler_code));
	uint64_t zero = 0;
	load(sim, 0x4008, &zero, 8);  /* 0x200000..0x3FFFFF not present */
	/* Every case: mov esp, 0x80000; mov ebx, 0x200008; mov esi, S; mov edi, D; <insn> */
	static const struct {
		uint32_t esi, edi;
		uint8_t insn[16];
		uint8_t len;
		uint32_t cr2, error;
	} cases[] = {
		{ 0, 0, { 0x8B, 0x03 }, 2, 0x200008, 0 },                  /* mov eax, [rbx] */
		{ 0, 0, { 0x01, 0x03 }, 2, 0x200008, 2 },                  /* add [rbx], eax */
		{ 0, 0, { 0x39, 0x03 }, 2, 0x200008, 0 },                  /* cmp [rbx], eax */
		{ 0, 0, { 0x0F, 0x97, 0x03 }, 3, 0x200008, 2 },            /* seta [rbx] */
		{ 0x200010, 0x9000, { 0xA4 }, 1, 0x200010, 0 },            /* movsb: source */
		{ 0x9000, 0x200010, { 0xA4 }, 1, 0x200010, 2 },            /* movsb: destination */
		{ 0, 0x200018, { 0xAB }, 1, 0x200018, 2 },                 /* stosd */
		{ 0, 0, { 0xFF, 0x33 }, 2, 0x200008, 0 },                  /* push qword [rbx] */
		{ 0, 0, { 0x8F, 0x03 }, 2, 0x200008, 2 },                  /* pop qword [rbx] */
		/* mov ecx, 0xC0000100; mov eax, 0x200000; xor edx, edx; wrmsr (FS base);
		 * mov esi, 0x20; mov edx, 0x80; fs outsb (no intercept on port 0x80) */
		{ 0, 0, { 0xB9, 0x00, 0x01, 0x00, 0xC0, 0xB8, 0x00, 0x00, 0x20, 0x00, 0x31, 0xD2,
			  0x0F, 0x30 }, 14, 0x200020, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t code[64] = { 0xBC, 0, 0, 8, 0, 0xBB, 8, 0, 0x20, 0, 0xBE, 0, 0, 0, 0,
				     0xBF, 0, 0, 0, 0 };
		memcpy(code + 11, &cases[i].esi, 4);
		memcpy(code + 16, &cases[i].edi, 4);
		size_t n = 20;
		memcpy(code + n, cases[i].insn, cases[i].len);
		n += cases[i].len;
		uint64_t fault_rip = CODE + n - cases[i].len;
		if (cases[i].len == 14) { /* the OUTS case continues after the WRMSR */
			static const uint8_t tail[] = { 0xBE, 0x20, 0, 0, 0, 0xBA, 0x80, 0, 0, 0,
							0x64, 0x6E };
			memcpy(code + n, tail, sizeof(tail));
			n += sizeof(tail);
			fault_rip = CODE + n - 2;
		}
		code[n++] = 0xF4;
		load(sim, CODE, code, n);
		set_reg(sim, 0x20010, CODE, 0);
		expect_report(sim);
		assert_int_equal(ctx(sim, 0), cases[i].cr2);          /* CR2 */
		assert_int_equal(ctx(sim, 3), cases[i].error);        /* error code */
		assert_int_equal(ctx(sim, 1), fault_rip);             /* faulting RIP */
	}
	hvsim_destroy(sim);
}

/*
 * MOV to/from DRn is handled by hvsim (an enabled DR7 breakpoint crashed unicorn 2.0.1):
 * values round-trip, DR5 aliases DR7 with CR4.DE clear, the registers are visible through
 * the register interface, and a DR7 write with upper bits set is a #GP.
 */
static void test_debug_registers(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	install(sim, 0, 2, 0xF4);
	/* mov edi, 0x401; mov dr7, rdi; mov esi, 0x1234; mov dr0, rsi; mov rax, dr5;
	 * mov rbx, dr0; out 0xF4, eax */
	static const uint8_t code[] = { 0xBF, 0x01, 0x04, 0, 0, 0x0F, 0x23, 0xFF,
					0xBE, 0x34, 0x12, 0, 0, 0x0F, 0x23, 0xC6,
					0x0F, 0x21, 0xE8, 0x0F, 0x21, 0xC3, 0xE7, 0xF4 };
	load(sim, CODE, code, sizeof(code));
	expect_report(sim);
	assert_int_equal(ctx(sim, 0), 0x401);                /* DR7 through DR5 */
	assert_int_equal(ctx(sim, 3), 0x1234);               /* DR0 */
	assert_int_equal(get_reg(sim, 0x50005), 0x401);
	assert_int_equal(get_reg(sim, 0x50000), 0x1234);
	/* #GP: mov rdi, 1 << 32; mov dr7, rdi */
	gate(sim, 13, HANDLER);
	load(sim, HANDLER, handler_code, sizeof(handler_code));
	static const uint8_t code2[] = { 0xBC, 0, 0, 8, 0, 0x48, 0xBF, 0, 0, 0, 0, 1, 0, 0, 0,
					 0x0F, 0x23, 0xFF, 0xF4 };
	load(sim, CODE, code2, sizeof(code2));
	set_reg(sim, 0x20010, CODE, 0);
	expect_report(sim);
	assert_int_equal(ctx(sim, 1), CODE + 15);            /* #GP at the MOV DR7 */
	assert_int_equal(ctx(sim, 3), 0);                    /* error code 0 */
	assert_int_equal(get_reg(sim, 0x50005), 0x401);      /* unchanged */
	hvsim_destroy(sim);
}

static void test_gp_ud_delivery(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	install(sim, 0, 2, 0xF4);
	gate(sim, 13, HANDLER);
	gate(sim, 6, HANDLER + 0x100);
	load(sim, HANDLER, handler_code, sizeof(handler_code));
	/* #UD handler: mov rbx, [rsp]; mov eax, 6; out 0xF4, eax */
	static const uint8_t ud_handler[] = { 0x48, 0x8B, 0x1C, 0x24, 0xB8, 6, 0, 0, 0, 0xE7, 0xF4 };
	load(sim, HANDLER + 0x100, ud_handler, sizeof(ud_handler));
	/* mov esp, 0x80000; mov ecx, 0x12345; rdmsr (no intercept: #GP) */
	static const uint8_t code[] = { 0xBC, 0, 0, 8, 0, 0xB9, 0x45, 0x23, 1, 0, 0x0F, 0x32 };
	load(sim, CODE, code, sizeof(code));
	expect_report(sim);
	assert_int_equal(ctx(sim, 3), 0);                    /* error code 0 */
	assert_int_equal(ctx(sim, 1), CODE + 10);            /* at the RDMSR */
	static const uint8_t code2[] = { 0xBC, 0, 0, 8, 0, 0x0F, 0x0B };
	load(sim, CODE, code2, sizeof(code2));
	set_reg(sim, 0x20010, CODE, 0);
	expect_report(sim);
	assert_int_equal(ctx(sim, 0), 6);
	assert_int_equal(ctx(sim, 3), CODE + 5);             /* #UD: no error code, RIP of UD2 */
	hvsim_destroy(sim);
}

static void test_exception_intercept(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	install(sim, 3, 1, 6);
	/* mov ebx, 7; ud2 */
	static const uint8_t code[] = { 0xBB, 7, 0, 0, 0, 0x0F, 0x0B };
	load(sim, CODE, code, sizeof(code));
	const uint8_t *m = run_exit(sim, 0x80010003);
	assert_int_equal(m[4], 240);
	assert_int_equal(u16at(m + PL + 40), 6);
	assert_int_equal(m[PL + 42] & 1, 0);                 /* no error code */
	assert_int_equal(u64at(m + PL + 24), CODE + 5);
	assert_int_equal(m[PL + 64], 0x0F);
	assert_int_equal(u64at(m + PL + 112 + 8 * 3), 7);    /* rbx */
	hvsim_destroy(sim);
}

static void test_triple_fault(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	/* No IDT (limit 0): #UD -> #GP -> #DF -> triple fault */
	static const uint8_t code[] = { 0x0F, 0x0B };
	load(sim, CODE, code, sizeof(code));
	const uint8_t *m = run_exit(sim, 0x80000021);
	assert_int_equal(m[4], 40);
	hvsim_destroy(sim);
}

static void test_interrupt_injection(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	install(sim, 0, 2, 0xF4);
	gate(sim, 0x40, HANDLER);
	/* handler: mov eax, 0x40; mov rbx, [rsp]; out 0xF4, eax */
	static const uint8_t h[] = { 0xB8, 0x40, 0, 0, 0, 0x48, 0x8B, 0x1C, 0x24, 0xE7, 0xF4 };
	load(sim, HANDLER, h, sizeof(h));
	/* mov esp, 0x80000; nop; sti; jmp $ */
	static const uint8_t code[] = { 0xBC, 0, 0, 8, 0, 0x90, 0xFB, 0xEB, 0xFE };
	load(sim, CODE, code, sizeof(code));
	assert_int_equal(hvsim_assert_interrupt(sim, 0, 0x40), 0);
	expect_report(sim);
	assert_int_equal(ctx(sim, 0), 0x40);
	assert_int_equal(ctx(sim, 3), CODE + 7);             /* interrupted at the loop */
	assert_int_equal(get_reg(sim, 0x20011) & 0x200, 0);  /* IF cleared by the gate */
	hvsim_destroy(sim);
}

struct kicker {
	struct hvsim *sim;
	int efd;
	uint8_t vector;
};

static void sleep_ms(long ms)
{
	struct timespec ts = { 0, ms * 1000000L };
	nanosleep(&ts, NULL);
}

static void *kick_cancel(void *arg)
{
	struct kicker *k = arg;
	sleep_ms(20);
	if (k->efd >= 0) {
		uint64_t one = 1;
		if (write(k->efd, &one, 8) != 8)
			return NULL;
	} else if (k->vector) {
		hvsim_assert_interrupt(k->sim, 0, k->vector);
	} else {
		hvsim_vp_cancel(k->sim, 0);
	}
	return NULL;
}

static void test_cancel_and_poll_file(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	static const uint8_t code[] = { 0xEB, 0xFE };        /* jmp $ */
	load(sim, CODE, code, sizeof(code));
	struct kicker k = { sim, -1, 0 };
	pthread_t t;
	pthread_create(&t, NULL, kick_cancel, &k);
	assert_int_equal(hvsim_vp_run(sim, 0), -EINTR);
	pthread_join(t, NULL);
	assert_int_equal(u32at(runpage(sim, 0) + RUN_CANCEL), 1);
	/* Sticky: still -EINTR until the paravisor clears it. */
	assert_int_equal(hvsim_vp_run(sim, 0), -EINTR);
	memset(runpage(sim, 0) + RUN_CANCEL, 0, 4);
	int efd = eventfd(0, EFD_CLOEXEC);
	assert_true(efd >= 0);
	assert_int_equal(hvsim_vp_set_poll_file(sim, 0, efd), 0);
	k.efd = efd;
	pthread_create(&t, NULL, kick_cancel, &k);
	assert_int_equal(hvsim_vp_run(sim, 0), -EINTR);
	pthread_join(t, NULL);
	close(efd);
	hvsim_destroy(sim);
}

static void test_hlt_waits_for_interrupt(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	install(sim, 0, 2, 0xF4);
	gate(sim, 0x50, HANDLER);
	static const uint8_t h[] = { 0xB8, 0x50, 0, 0, 0, 0x48, 0x8B, 0x1C, 0x24, 0xE7, 0xF4 };
	load(sim, HANDLER, h, sizeof(h));
	/* mov esp, 0x80000; sti; hlt; jmp $ */
	static const uint8_t code[] = { 0xBC, 0, 0, 8, 0, 0xFB, 0xF4, 0xEB, 0xFE };
	load(sim, CODE, code, sizeof(code));
	struct kicker k = { sim, -1, 0x50 };
	pthread_t t;
	pthread_create(&t, NULL, kick_cancel, &k);
	expect_report(sim);
	pthread_join(t, NULL);
	assert_int_equal(ctx(sim, 0), 0x50);
	assert_int_equal(ctx(sim, 3), CODE + 7);             /* return address after HLT */
	hvsim_destroy(sim);
}

static void test_vtl_protection(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	install(sim, 0, 2, 0xF4);
	uint8_t in[24] = { 0 };
	uint64_t self = ~0ull, gpn = 0x300;
	uint32_t flags = 1;  /* VTL0 may read only */
	memcpy(in, &self, 8);
	memcpy(in + 8, &flags, 4);
	in[12] = 0x10;
	memcpy(in + 16, &gpn, 8);
	uint64_t r = hc(sim, 0x0C | (1ull << 32), in, sizeof(in), NULL, 0);
	assert_int_equal(r & 0xFFFF, 0);
	assert_int_equal((r >> 32) & 0xFFF, 1);
	/* mov ebx, 0x300010; mov eax, [rbx] (ok); mov [rbx], eax (intercept) */
	static const uint8_t code[] = { 0xBB, 0x10, 0, 0x30, 0, 0x8B, 0x03, 0x89, 0x03 };
	load(sim, CODE, code, sizeof(code));
	uint8_t *mem = hvsim_gpa_ptr(sim, gpa(0x300010), 4);
	mem[0] = 0x5A;
	const uint8_t *m = run_exit(sim, 0x80000001);
	assert_int_equal(m[PL + 5], 1);
	assert_int_equal(u64at(m + PL + 56), 0x300010);
	assert_int_equal(u64at(m + PL + 24), CODE + 7);
	assert_int_equal(ctx(sim, 0) & 0xFF, 0x5A);          /* the read went through */
	/* Skipping the store leaves memory untouched. */
	mem[0] = 0x11;
	set_ctx(sim, 0, 0x99);
	assert_int_equal(hvsim_vp_run(sim, 0), 0);           /* re-executes: intercept again */
	assert_int_equal(u32at(runpage(sim, 0) + RUN_MSG), 0x80000001);
	assert_int_equal(mem[0], 0x11);
	hvsim_destroy(sim);
}

struct vp_thread {
	struct hvsim *sim;
	uint32_t vp;
	uint64_t got;
	int rc;
};

static void *vp_main(void *arg)
{
	struct vp_thread *t = arg;
	t->rc = hvsim_vp_run(t->sim, t->vp);
	uint8_t *rp = hvsim_vp_run_page(t->sim, t->vp);
	memcpy(&t->got, rp + RUN_CTX, 8);
	return NULL;
}

static void test_multi_vp(void **state)
{
	(void)state;
	struct hvsim *sim = mk(3);
	install(sim, 0, 2, 0xF4);
	/* mov eax, edi; shl eax, 8; add eax, esi; (loop a bit) out 0xF4, eax */
	static const uint8_t code[] = { 0x89, 0xF8, 0xC1, 0xE0, 0x08, 0x01, 0xF0,
					0xB9, 0x00, 0x10, 0, 0, 0xE2, 0xFE, 0xE7, 0xF4 };
	load(sim, CODE, code, sizeof(code));
	struct vp_thread t[3];
	pthread_t th[3];
	for (uint32_t i = 0; i < 3; i++) {
		t[i] = (struct vp_thread){ sim, i, 0, -1 };
		pthread_create(&th[i], NULL, vp_main, &t[i]);
	}
	for (uint32_t i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(t[i].rc, 0);
		assert_int_equal(t[i].got, (i << 8) + 3);
	}
	hvsim_destroy(sim);
}


static void test_second_page_fault(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	install(sim, 0, 2, 0xF4);
	gate(sim, 14, HANDLER);
	/* handler: inc qword [0x9000]; mov rax, 0x200087; mov [0x4008], rax; add rsp, 8; iretq */
	static const uint8_t h[] = { 0x48, 0xFF, 0x04, 0x25, 0x00, 0x90, 0, 0,
				     0x48, 0xC7, 0xC0, 0x87, 0x00, 0x20, 0x00,
				     0x48, 0x89, 0x04, 0x25, 0x08, 0x40, 0, 0,
				     0x48, 0x83, 0xC4, 0x08, 0x48, 0xCF };
	load(sim, HANDLER, h, sizeof(h));
	uint64_t zero = 0;
	load(sim, 0x4008, &zero, 8);
	/* mov esp, 0x80000; mov ebx, 0x200008; mov [rbx], eax (#PF 1);
	 * mov qword [0x4008], 0; invlpg [rbx]; mov [rbx], eax (#PF 2); mov rax, [0x9000];
	 * out 0xF4, eax */
	static const uint8_t code[] = { 0xBC, 0, 0, 8, 0, 0xBB, 8, 0, 0x20, 0, 0x89, 0x03,
					0x48, 0xC7, 0x04, 0x25, 0x08, 0x40, 0, 0, 0, 0, 0, 0,
					0x0F, 0x01, 0x3B, 0x89, 0x03,
					0x48, 0x8B, 0x04, 0x25, 0x00, 0x90, 0, 0, 0xE7, 0xF4 };
	load(sim, CODE, code, sizeof(code));
	expect_report(sim);
	assert_int_equal(ctx(sim, 0), 2);                    /* two #PF, no #DF */
	hvsim_destroy(sim);
}

static void test_lock_atomic_across_vps(void **state)
{
	(void)state;
	struct hvsim *sim = mk(2);
	install(sim, 0, 2, 0xF4);
	/* mov ecx, 30000; l: mov eax, 1; lock xadd [0x9000], eax; dec ecx; jnz l; out 0xF4, eax */
	static const uint8_t code[] = { 0xB9, 0x30, 0x75, 0, 0, 0xB8, 1, 0, 0, 0,
					0xF0, 0x0F, 0xC1, 0x04, 0x25, 0x00, 0x90, 0, 0,
					0xFF, 0xC9, 0x75, 0xEE, 0xE7, 0xF4 };
	load(sim, CODE, code, sizeof(code));
	struct vp_thread t[2];
	pthread_t th[2];
	for (uint32_t i = 0; i < 2; i++) {
		t[i] = (struct vp_thread){ sim, i, 0, -1 };
		pthread_create(&th[i], NULL, vp_main, &t[i]);
	}
	for (uint32_t i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(t[i].rc, 0);
	}
	uint32_t total;
	memcpy(&total, hvsim_gpa_ptr(sim, gpa(0x9000), 4), 4);
	assert_int_equal(total, 60000);
	hvsim_destroy(sim);
}

static void test_register_page(void **state)
{
	(void)state;
	struct hvsim_config cfg = { .vp_count = 1, .mem_size = 8u << 20, .register_page = true };
	struct hvsim *sim = NULL;
	assert_int_equal(hvsim_create(&cfg, &sim), 0);
	assert_int_equal(hvsim_vp_setup_long_mode(sim, 0, CODE), 0);
	install(sim, 0, 2, 0xF4);
	/* mov esp, 0x1234; out 0xF4, eax; mov eax, 7; out 0xF4, eax */
	static const uint8_t code[] = { 0xBC, 0x34, 0x12, 0, 0, 0xE7, 0xF4, 0xB8, 7, 0, 0, 0,
					0xE7, 0xF4 };
	load(sim, CODE, code, sizeof(code));
	expect_report(sim);
	uint8_t *rp = hvsim_vp_register_page(sim, 0);
	assert_non_null(rp);
	assert_int_equal(rp[2], 1);                          /* is_valid */
	assert_int_equal(u64at(rp + 8 + 8 * 4), 0x1234);     /* gp[RSP] */
	assert_int_equal(u64at(rp + 136), CODE + 5);         /* rip */
	assert_int_equal(u16at(rp + 256 + 16 + 12), 0x08);   /* CS selector */
	assert_int_equal(u64at(rp + 352), 0x80010033);       /* cr0 */
	/* Advance RIP through the page: dirty bit 1 */
	uint64_t next = CODE + 7;
	memcpy(rp + 136, &next, 8);
	uint32_t dirty = 2;
	memcpy(rp + 4, &dirty, 4);
	expect_report(sim);
	assert_int_equal(ctx(sim, 0), 7);
	assert_int_equal(u32at(rp + 4), 0);                  /* consumed */
	hvsim_destroy(sim);
}

static void test_syscall(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	install(sim, 0, 2, 0xF4);
	static const uint8_t h[] = { 0xE7, 0xF4 };
	load(sim, HANDLER, h, sizeof(h));
	/* LSTAR = HANDLER; STAR = 0x0008 << 32; syscall */
	static const uint8_t code[] = { 0xB9, 0x82, 0, 0, 0xC0, 0xB8, 0x00, 0x10, 0x10, 0x00,
					0x31, 0xD2, 0x0F, 0x30,
					0xB9, 0x81, 0, 0, 0xC0, 0xBA, 0x08, 0, 0, 0, 0x31, 0xC0,
					0x0F, 0x30, 0x0F, 0x05 };
	load(sim, CODE, code, sizeof(code));
	const uint8_t *m = run_exit(sim, 0x80010000);
	assert_int_equal(u64at(m + PL + 24), HANDLER);
	assert_int_equal(ctx(sim, 1), CODE + 30);            /* RCX = return RIP */
	assert_int_equal(ctx(sim, 11), 0x46);                /* R11 = RFLAGS after xor */
	hvsim_destroy(sim);
}

static void test_user_mode_fault(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	install(sim, 0, 2, 0xF4);
	gate(sim, 13, HANDLER);
	/* TSS at 0x9100 with RSP0 = 0x70000, loaded as TR */
	uint64_t rsp0 = 0x70000;
	load(sim, 0x9100 + 4, &rsp0, 8);
	union hv_register_value tr = { .bytes = { 0 } };
	tr.low = 0x9100;
	uint32_t lim = 0x67;
	memcpy(tr.bytes + 8, &lim, 4);
	uint16_t sel = 0x30, attr = 0x8B;
	memcpy(tr.bytes + 12, &sel, 2);
	memcpy(tr.bytes + 14, &attr, 2);
	assert_int_equal(hvsim_vp_set_register(sim, 0, 0x60007, &tr), 0);
	/* handler: rbx = err, rcx = rip, rdx = cs, rsi = rsp, rdi = ss, rax = rsp; out */
	static const uint8_t h[] = { 0x48, 0x8B, 0x1C, 0x24, 0x48, 0x8B, 0x4C, 0x24, 0x08,
				     0x48, 0x8B, 0x54, 0x24, 0x10, 0x48, 0x8B, 0x74, 0x24, 0x20,
				     0x48, 0x8B, 0x7C, 0x24, 0x28, 0x48, 0x89, 0xE0, 0xE7, 0xF4 };
	load(sim, HANDLER, h, sizeof(h));
	static const uint8_t user[] = { 0xF4 };              /* hlt at CPL 3: #GP(0) */
	load(sim, 0x102000, user, sizeof(user));
	/* mov esp, 0x80000; push 0x23; push 0x60000; push 2; push 0x2B; push 0x102000; iretq */
	static const uint8_t code[] = { 0xBC, 0, 0, 8, 0, 0x6A, 0x23, 0x68, 0, 0, 6, 0, 0x6A, 2,
					0x6A, 0x2B, 0x68, 0x00, 0x20, 0x10, 0x00, 0x48, 0xCF };
	load(sim, CODE, code, sizeof(code));
	expect_report(sim);
	assert_int_equal(ctx(sim, 3), 0);                    /* error code */
	assert_int_equal(ctx(sim, 1), 0x102000);             /* RIP of the HLT */
	assert_int_equal(ctx(sim, 2), 0x2B);                 /* user CS */
	assert_int_equal(ctx(sim, 6), 0x60000);              /* user RSP */
	assert_int_equal(ctx(sim, 7), 0x23);                 /* user SS */
	assert_int_equal(ctx(sim, 0), 0x70000 - 48);         /* on the TSS RSP0 stack */
	assert_int_equal(get_reg(sim, 0x60001) >> 0, 0);     /* CS base 0 (value.low) */
	union hv_register_value cs;
	assert_int_equal(hvsim_vp_get_register(sim, 0, 0x60001, &cs), 0);
	uint16_t cs_sel;
	memcpy(&cs_sel, cs.bytes + 12, 2);
	assert_int_equal(cs_sel, 0x08);
	hvsim_destroy(sim);
}

static void test_exec_protection(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	/* VTL2 removes execute from the page holding 0x104000 (read+write stay) */
	uint8_t in[24] = { 0 };
	uint64_t self = ~0ull, gpn = 0x104;
	uint32_t flags = 3;
	memcpy(in, &self, 8);
	memcpy(in + 8, &flags, 4);
	in[12] = 0x10;
	memcpy(in + 16, &gpn, 8);
	assert_int_equal(hc(sim, 0x0C | (1ull << 32), in, sizeof(in), NULL, 0) & 0xFFFF, 0);
	/* mov eax, 0x104000; mov ebx, [rax] (read ok); jmp rax (fetch: intercept) */
	static const uint8_t code[] = { 0xB8, 0x00, 0x40, 0x10, 0x00, 0x8B, 0x18, 0xFF, 0xE0 };
	load(sim, CODE, code, sizeof(code));
	const uint8_t *m = run_exit(sim, 0x80000001);
	assert_int_equal(m[PL + 5], 2);                      /* execute */
	assert_int_equal(u64at(m + PL + 56), 0x104000);
	assert_int_equal(u64at(m + PL + 24), 0x104000);      /* RIP at the target */
	hvsim_destroy(sim);
}

static void test_string_io_into_protected_and_mmio(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	uint8_t in[24] = { 0 };
	uint64_t self = ~0ull, gpn = 0x201;
	uint32_t flags = 1;  /* read only */
	memcpy(in, &self, 8);
	memcpy(in + 8, &flags, 4);
	in[12] = 0x10;
	memcpy(in + 16, &gpn, 8);
	assert_int_equal(hc(sim, 0x0C | (1ull << 32), in, sizeof(in), NULL, 0) & 0xFFFF, 0);
	/* mov edx, 0x80; mov edi, 0x200FFE; mov ecx, 4; rep insb: 2 bytes land, then the
	 * protected page 0x201000 stops it with a GpaIntercept */
	static const uint8_t code[] = { 0xBA, 0x80, 0, 0, 0, 0xBF, 0xFE, 0x0F, 0x20, 0,
					0xB9, 4, 0, 0, 0, 0xF3, 0x6C,
					0xBF, 0x00, 0x00, 0x00, 0xFE, 0xF3, 0x6C };
	load(sim, CODE, code, sizeof(code));
	const uint8_t *m = run_exit(sim, 0x80000001);
	assert_int_equal(m[PL + 5], 1);                      /* write */
	assert_int_equal(u64at(m + PL + 56), 0x201000);
	assert_int_equal(u64at(m + PL + 24), CODE + 15);     /* at the INS */
	assert_int_equal(ctx(sim, 1), 2);                    /* RCX: 2 elements left */
	assert_int_equal(ctx(sim, 7), 0x201000);             /* RDI */
	const uint8_t *mem = hvsim_gpa_ptr(sim, gpa(0x200FFE), 3);
	assert_int_equal(mem[0], 0xFF);
	assert_int_equal(mem[1], 0xFF);
	assert_int_equal(mem[2], 0x00);
	/* Skip ahead: the same INS into MMIO is an UnmappedGpa exit */
	set_reg(sim, 0x20010, CODE + 17, 0);
	m = run_exit(sim, 0x80000000);
	assert_int_equal(u64at(m + PL + 56), 0xFE000000);
	hvsim_destroy(sim);
}

/*
 * Page tables that do not map VAs to their own GPAs (unicorn 2.1 honours them; 2.0.1 used the
 * linear address as the physical one): data at VA 1 GiB -> GPA 0x400000 (NX: data accesses
 * still work, as EFER.NXE is kept by 2.1), and kernel-style code
 * in the upper half, VA 0xffffffff80000000 -> GPA 0x400000, with an MMIO page behind it.
 */
/*
 * An OUT in the middle of a loop's block: stopping before it re-runs the block up to it a few
 * times, then the OUT gets a code hook of its own (no re-run, no retranslation per exit).
 * Every exit still reports the OUT's RIP and value; once the bytes there are no longer an
 * OUT, the hooked address runs on.
 */
static void test_hot_special_in_block(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	install(sim, 0, 2, 0xF4);
	install(sim, 0, 2, 0xF5);
	/* xor ecx, ecx; 2: inc ecx; mov eax, ecx; 6: out 0xF4, eax; cmp ecx, 20; jne 2;
	 * 13: out 0xF5, eax; hlt */
	static const uint8_t code[] = { 0x31, 0xC9, 0xFF, 0xC1, 0x89, 0xC8, 0xE7, 0xF4, 0x83, 0xF9,
					0x14, 0x75, 0xF5, 0xE7, 0xF5, 0xF4 };
	load(sim, CODE, code, sizeof(code));
	for (uint64_t i = 1; i <= 20; i++) {
		const uint8_t *m = run_exit(sim, 0x80010000);
		assert_int_equal(u16at(m + PL + 40), 0xF4);
		assert_int_equal(u64at(m + PL + 24), CODE + 6);
		assert_int_equal(u64at(m + PL + 48), i);
		set_reg(sim, 0x20010, CODE + 8, 0);
	}
	const uint8_t *m = run_exit(sim, 0x80010000);
	assert_int_equal(u16at(m + PL + 40), 0xF5);
	assert_int_equal(u64at(m + PL + 24), CODE + 13);
	struct hvsim_stats st;
	hvsim_get_stats(sim, &st);
	assert_true(st.block_reruns < 12); /* 20 without the hook */
	/* The OUT becomes two NOPs: the loop runs through its old address without stopping. */
	static const uint8_t nops[] = { 0x90, 0x90 };
	load(sim, CODE + 6, nops, sizeof(nops));
	set_reg(sim, 0x20010, CODE, 0);
	m = run_exit(sim, 0x80010000);
	assert_int_equal(u16at(m + PL + 40), 0xF5);
	assert_int_equal(u64at(m + PL + 48), 20);
	hvsim_destroy(sim);
}

/*
 * The block-hook gate (one VP): a loop without special instructions runs without the block
 * hook (a few hooked blocks, not 100000), the OUT after it still exits exactly; with counting
 * on, every block calls the hook again and the instructions are all counted.
 */
static void test_block_hook_gate(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	install(sim, 0, 2, 0xF4);
	/* xor eax, eax; mov ecx, 100000; 7: inc eax; dec ecx; jnz 7; 13: out 0xF4, eax; hlt */
	static const uint8_t code[] = { 0x31, 0xC0, 0xB9, 0xA0, 0x86, 0x01, 0x00, 0xFF, 0xC0,
					0xFF, 0xC9, 0x75, 0xFA, 0xE7, 0xF4, 0xF4 };
	load(sim, CODE, code, sizeof(code));
	const uint8_t *m = run_exit(sim, 0x80010000);
	assert_int_equal(u64at(m + PL + 24), CODE + 13);
	assert_int_equal(u64at(m + PL + 48), 100000);
	struct hvsim_stats st;
	hvsim_get_stats(sim, &st);
	assert_false(st.insns_counted);
	assert_true(st.guest_blocks < 1000);
	assert_false(hvsim_count_insns(sim, true));
	set_reg(sim, 0x20010, CODE, 0);
	m = run_exit(sim, 0x80010000);
	assert_int_equal(u64at(m + PL + 48), 100000);
	hvsim_get_stats(sim, &st);
	assert_true(st.insns_counted);
	assert_true(st.guest_blocks >= 100000);
	assert_true(st.guest_insns >= 300000);
	hvsim_destroy(sim);
}

/*
 * A host-side write into code that ran (no hvsim_flush_code): the gated block that holds it
 * has no hook to notice; the page's write protection does, and the next run executes the new
 * bytes. Both blocks: mov eax, imm32; jmp +0 (block 1, never hooked) / out 0xF4, eax; hlt.
 */
static void test_gate_host_rewrite(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	install(sim, 0, 2, 0xF4);
	static const uint8_t code[] = { 0xB8, 0x01, 0, 0, 0, 0xEB, 0x00, 0xE7, 0xF4, 0xF4 };
	load(sim, CODE, code, sizeof(code));
	for (uint32_t v = 1; v <= 3; v++) {
		if (v > 1) {
			uint8_t imm[4] = { (uint8_t)v, 0, 0, 0 };
			load(sim, CODE + 1, imm, sizeof(imm)); /* faults into hvsim's handler */
			set_reg(sim, 0x20010, CODE, 0);
		}
		const uint8_t *m = run_exit(sim, 0x80010000);
		assert_int_equal(u64at(m + PL + 24), CODE + 7);
		assert_int_equal(u64at(m + PL + 48), v);
	}
	hvsim_destroy(sim);
}

/*
 * MOV to CR3 (done by hvsim itself in 64-bit mode at CPL 0): CR3 takes the value and the TLB
 * is flushed, so a PTE changed before it is seen after it.
 */
static void test_mov_cr3_flushes_tlb(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	install(sim, 0, 2, 0xF4);
	static const uint64_t pte[][2] = {
		{ 0x30000, 0x31000 | 3 }, { 0x31000, 0x32000 | 3 },
		{ 0x32000, 0x83 }, { 0x32000 + 8, 0x33000 | 3 },  /* 0-2 MiB large; 2-4 MiB: PT */
		{ 0x33000, 0x400000 | 3 },                         /* 0x200000 -> page A */
	};
	for (size_t i = 0; i < sizeof(pte) / sizeof(pte[0]); i++)
		load(sim, pte[i][0], &pte[i][1], 8);
	uint32_t a = 0xAAAA0001, b = 0xBBBB0002;
	load(sim, 0x400000, &a, 4);
	load(sim, 0x401000, &b, 4);
	/* mov esp, 0x80000; mov ecx, 0x30000; mov cr3, rcx; mov eax, [0x200000]; out 0xF4, eax;
	 * 22: mov rcx, cr3; mov cr3, rcx; mov eax, [0x200000]; out 0xF4, eax; hlt */
	static const uint8_t code[] = { 0xBC, 0, 0, 8, 0, 0xB9, 0, 0, 3, 0, 0x0F, 0x22, 0xD9,
					0x8B, 0x04, 0x25, 0, 0, 0x20, 0, 0xE7, 0xF4,
					0x0F, 0x20, 0xD9, 0x0F, 0x22, 0xD9,
					0x8B, 0x04, 0x25, 0, 0, 0x20, 0, 0xE7, 0xF4, 0xF4 };
	load(sim, CODE, code, sizeof(code));
	const uint8_t *m = run_exit(sim, 0x80010000);
	assert_int_equal(u64at(m + PL + 24), CODE + 20);
	assert_int_equal(ctx(sim, 0), a);
	assert_int_equal(get_reg(sim, 0x40002 /* CR3 */), 0x30000);
	static const uint64_t to_b = 0x401000 | 3;
	load(sim, 0x33000, &to_b, 8); /* no INVLPG: only the CR3 write flushes it */
	set_reg(sim, 0x20010, CODE + 22, 0);
	m = run_exit(sim, 0x80010000);
	assert_int_equal(u64at(m + PL + 24), CODE + 35);
	assert_int_equal(ctx(sim, 0), b);
	hvsim_destroy(sim);
}

static void test_non_identity_mapping(void **state)
{
	(void)state;
	struct hvsim *sim = mk(1);
	install(sim, 0, 2, 0xF4);
	static const uint64_t pte[][2] = {
		{ 0x30000, 0x31000 | 7 }, { 0x30000 + 8 * 511, 0x36000 | 7 },  /* PML4 */
		{ 0x31000, 0x32000 | 7 }, { 0x31000 + 8, 0x33000 | 7 },       /* PDPT 0-2 GiB */
		{ 0x32000, 0x87 },                                            /* 0-2 MiB identity */
		{ 0x33000, 0x35000 | 7 }, { 0x35000, 0x400000 | 7 | 1ull << 63 }, /* 1 GiB, NX */
		{ 0x36000 + 8 * 510, 0x37000 | 7 }, { 0x37000, 0x38000 | 7 },  /* -2 GiB */
		{ 0x38000, 0x400000 | 3 }, { 0x38000 + 8, 0xFE000000ull | 3 },
	};
	for (size_t i = 0; i < sizeof(pte) / sizeof(pte[0]); i++)
		load(sim, pte[i][0], &pte[i][1], 8);
	uint32_t marker = 0x600DF00D;
	load(sim, 0x400800, &marker, 4);
	/* mov esp, 0x80000; mov ecx, 0x30000; mov cr3, rcx; mov eax, [0x40000800]; out 0xF4, eax;
	 * mov rax, 0xffffffff80000000; jmp rax */
	static const uint8_t code[] = { 0xBC, 0, 0, 8, 0, 0xB9, 0, 0, 3, 0, 0x0F, 0x22, 0xD9,
					0x8B, 0x04, 0x25, 0x00, 0x08, 0, 0x40, 0xE7, 0xF4,
					0x48, 0xB8, 0, 0, 0, 0x80, 0xFF, 0xFF, 0xFF, 0xFF,
					0xFF, 0xE0 };
	load(sim, CODE, code, sizeof(code));
	/* at -2 GiB: mov eax, [rip+0x7FA] (the marker); out 0xF4, eax;
	 * mov ebx, [rip+0xFF2] (the MMIO page); out 0xF4, eax; hlt */
	static const uint8_t upper[] = { 0x8B, 0x05, 0xFA, 0x07, 0, 0, 0xE7, 0xF4,
					 0x8B, 0x1D, 0xF2, 0x0F, 0, 0, 0xE7, 0xF4, 0xF4 };
	load(sim, 0x400000, upper, sizeof(upper));
	const uint64_t kva = 0xFFFFFFFF80000000ull;
	const uint8_t *m = run_exit(sim, 0x80010000);
	assert_int_equal(u64at(m + PL + 24), CODE + 20);
	assert_int_equal(ctx(sim, 0), marker);
	set_reg(sim, 0x20010, CODE + 22, 0);
	set_ctx(sim, 0, 0);
	m = run_exit(sim, 0x80010000);
	assert_int_equal(u64at(m + PL + 24), kva + 6);       /* code runs in the upper half */
	assert_int_equal(ctx(sim, 0), marker);               /* RIP-relative through the mapping */
	set_reg(sim, 0x20010, kva + 8, 0);
	m = run_exit(sim, 0x80000000);                       /* UnmappedGpa */
	assert_int_equal(u64at(m + PL + 24), kva + 8);
	assert_int_equal(m[PL + 5], 0);                      /* read */
	assert_int_equal(m[PL + 45] & 3, 3);                 /* GVA and GVA->GPA valid */
	assert_int_equal(u64at(m + PL + 48), kva + 0x1000);  /* GVA */
	assert_int_equal(u64at(m + PL + 56), 0xFE000000);    /* GPA */
	set_reg(sim, 0x20010, kva + 14, 0);
	m = run_exit(sim, 0x80010000);
	assert_int_equal(u64at(m + PL + 24), kva + 14);
	hvsim_destroy(sim);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_io_out_message),
		cmocka_unit_test(test_io_in_completion),
		cmocka_unit_test(test_string_io),
		cmocka_unit_test(test_host_string_in),
		cmocka_unit_test(test_cpuid),
		cmocka_unit_test(test_halt_hypercall_mmio),
		cmocka_unit_test(test_mmio_store_mid_block),
		cmocka_unit_test(test_msr),
		cmocka_unit_test(test_page_fault_delivery),
		cmocka_unit_test(test_pf_error_code_kinds),
		cmocka_unit_test(test_debug_registers),
		cmocka_unit_test(test_gp_ud_delivery),
		cmocka_unit_test(test_exception_intercept),
		cmocka_unit_test(test_triple_fault),
		cmocka_unit_test(test_interrupt_injection),
		cmocka_unit_test(test_cancel_and_poll_file),
		cmocka_unit_test(test_hlt_waits_for_interrupt),
		cmocka_unit_test(test_vtl_protection),
		cmocka_unit_test(test_multi_vp),
		cmocka_unit_test(test_second_page_fault),
		cmocka_unit_test(test_lock_atomic_across_vps),
		cmocka_unit_test(test_register_page),
		cmocka_unit_test(test_syscall),
		cmocka_unit_test(test_user_mode_fault),
		cmocka_unit_test(test_exec_protection),
		cmocka_unit_test(test_string_io_into_protected_and_mmio),
		cmocka_unit_test(test_non_identity_mapping),
		cmocka_unit_test(test_hot_special_in_block),
		cmocka_unit_test(test_block_hook_gate),
		cmocka_unit_test(test_gate_host_rewrite),
		cmocka_unit_test(test_mov_cr3_flushes_tlb),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
