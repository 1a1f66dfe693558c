/*
 * The LOCK prefix on hvsim's patched unicorn (tools/unicorn-patches/, docs/hvsim.md): LOCK on
 * a lockable read-modify-write instruction with a memory destination runs; LOCK on any other
 * opcode, or with a register operand, is #UD (UC_ERR_INSN_INVALID). unicorn 2.1.4 as released
 * aborted the whole process on some of these (F0 0F BA F4: LOCK BTR esp, imm8), so each
 * encoding runs in a child process and an abort names the encoding instead of ending the test.
 * Each runs twice: without hooks (as hvsim runs blocks) and with a one-instruction count (a
 * UC_HOOK_CODE hook, which changes how unicorn translates the instruction).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <unicorn/unicorn.h>

#define CODE 0x1000ull
#define DATA 0x2000ull
#define INIT 0x10ull	/* the data qword before each instruction */
#define RCX0 0x4ull	/* RCX before each instruction */

enum expect { RUNS, UD };

struct lock_case {
	const char *name;
	uint8_t len;
	uint8_t bytes[15];
	enum expect expect;
	uint64_t mem;	/* data qword after the instruction, when it runs */
};

/*
 * Pointer in RBX ([rbx] is ModRM rm=3), RAX = INIT (the cmpxchg comparand), RCX = RCX0, RDX = 0;
 * mem is the whole data qword afterwards (byte and dword forms leave the rest zero).
 */
static const struct lock_case cases64[] = {
	{ "lock add qword [rbx],1", 5, { 0xF0, 0x48, 0x83, 0x03, 0x01 }, RUNS, INIT + 1 },
	{ "lock add byte [rbx],1", 4, { 0xF0, 0x80, 0x03, 0x01 }, RUNS, INIT + 1 },
	{ "lock or [rbx],rcx", 4, { 0xF0, 0x48, 0x09, 0x0B }, RUNS, INIT | RCX0 },
	{ "lock adc [rbx],rcx", 4, { 0xF0, 0x48, 0x11, 0x0B }, RUNS, INIT + RCX0 },
	{ "lock sbb [rbx],rcx", 4, { 0xF0, 0x48, 0x19, 0x0B }, RUNS, INIT - RCX0 },
	{ "lock and [rbx],rcx", 4, { 0xF0, 0x48, 0x21, 0x0B }, RUNS, INIT & RCX0 },
	{ "lock sub [rbx],rcx", 4, { 0xF0, 0x48, 0x29, 0x0B }, RUNS, INIT - RCX0 },
	{ "lock xor [rbx],rcx", 4, { 0xF0, 0x48, 0x31, 0x0B }, RUNS, INIT ^ RCX0 },
	{ "lock sub qword [rbx],imm32", 8, { 0xF0, 0x48, 0x81, 0x2B, 1, 0, 0, 0 }, RUNS, INIT - 1 },
	{ "lock xadd [rbx],rcx", 5, { 0xF0, 0x48, 0x0F, 0xC1, 0x0B }, RUNS, INIT + RCX0 },
	{ "lock cmpxchg [rbx],rcx", 5, { 0xF0, 0x48, 0x0F, 0xB1, 0x0B }, RUNS, RCX0 },
	{ "lock cmpxchg8b [rbx]", 4, { 0xF0, 0x0F, 0xC7, 0x0B }, RUNS, RCX0 << 32 | DATA },
	{ "lock xchg [rbx],rcx", 4, { 0xF0, 0x48, 0x87, 0x0B }, RUNS, RCX0 },
	{ "lock bts qword [rbx],0", 6, { 0xF0, 0x48, 0x0F, 0xBA, 0x2B, 0x00 }, RUNS, INIT | 1 },
	{ "lock btr qword [rbx],4", 6, { 0xF0, 0x48, 0x0F, 0xBA, 0x33, 0x04 }, RUNS, 0 },
	{ "lock btc qword [rbx],1", 6, { 0xF0, 0x48, 0x0F, 0xBA, 0x3B, 0x01 }, RUNS, INIT ^ 2 },
	{ "lock bts [rbx],rcx", 5, { 0xF0, 0x48, 0x0F, 0xAB, 0x0B }, RUNS, INIT },
	{ "lock btr [rbx],rcx", 5, { 0xF0, 0x48, 0x0F, 0xB3, 0x0B }, RUNS, 0 },
	{ "lock btc [rbx],rcx", 5, { 0xF0, 0x48, 0x0F, 0xBB, 0x0B }, RUNS, 0 },
	{ "lock inc qword [rbx]", 4, { 0xF0, 0x48, 0xFF, 0x03 }, RUNS, INIT + 1 },
	{ "lock dec byte [rbx]", 3, { 0xF0, 0xFE, 0x0B }, RUNS, INIT - 1 },
	{ "lock not qword [rbx]", 4, { 0xF0, 0x48, 0xF7, 0x13 }, RUNS, ~INIT },
	{ "lock neg qword [rbx]", 4, { 0xF0, 0x48, 0xF7, 0x1B }, RUNS, -INIT },
	{ "lock add [rbx+rcx*8-0x20],rcx (SIB, disp8)", 6, { 0xF0, 0x48, 0x01, 0x4C, 0xCB, 0xE0 }, RUNS,
	  INIT + RCX0 },

	/* Register operands. */
	{ "lock btr esp,imm8 (fuzz find)", 5, { 0xF0, 0x0F, 0xBA, 0xF4, 0xF4 }, UD, 0 },
	{ "lock bts rax,4", 6, { 0xF0, 0x48, 0x0F, 0xBA, 0xE8, 0x04 }, UD, 0 },
	{ "lock btc rax,rcx", 5, { 0xF0, 0x48, 0x0F, 0xBB, 0xC8 }, UD, 0 },
	{ "lock btr rcx,rax", 5, { 0xF0, 0x48, 0x0F, 0xB3, 0xC1 }, UD, 0 },
	{ "lock bt eax,ecx", 4, { 0xF0, 0x0F, 0xA3, 0xC8 }, UD, 0 },
	{ "lock add rax,1", 5, { 0xF0, 0x48, 0x83, 0xC0, 0x01 }, UD, 0 },
	{ "lock add rax,rcx", 4, { 0xF0, 0x48, 0x01, 0xC8 }, UD, 0 },
	{ "lock inc rax", 4, { 0xF0, 0x48, 0xFF, 0xC0 }, UD, 0 },
	{ "lock neg eax", 3, { 0xF0, 0xF7, 0xD8 }, UD, 0 },
	{ "lock xadd rax,rcx", 5, { 0xF0, 0x48, 0x0F, 0xC1, 0xC8 }, UD, 0 },
	{ "lock cmpxchg rax,rcx", 5, { 0xF0, 0x48, 0x0F, 0xB1, 0xC8 }, UD, 0 },
	{ "lock xchg rax,rcx", 4, { 0xF0, 0x48, 0x87, 0xC8 }, UD, 0 },
	{ "lock grp9 /1 register", 4, { 0xF0, 0x0F, 0xC7, 0xC8 }, UD, 0 },
	/* Lockable mnemonics in forms without a memory destination. */
	{ "lock add rcx,[rbx]", 4, { 0xF0, 0x48, 0x03, 0x0B }, UD, 0 },
	{ "lock add al,1", 3, { 0xF0, 0x04, 0x01 }, UD, 0 },
	{ "lock xor eax,imm32", 6, { 0xF0, 0x35, 1, 0, 0, 0 }, UD, 0 },
	/* Opcodes LOCK never applies to. */
	{ "lock cmp qword [rbx],1", 5, { 0xF0, 0x48, 0x83, 0x3B, 0x01 }, UD, 0 },
	{ "lock cmp [rbx],rcx", 4, { 0xF0, 0x48, 0x39, 0x0B }, UD, 0 },
	{ "lock cmp [rax],al", 3, { 0xF0, 0x38, 0x00 }, UD, 0 },
	{ "lock cmpsb", 2, { 0xF0, 0xA6 }, UD, 0 },
	{ "lock test [rbx],rcx", 4, { 0xF0, 0x48, 0x85, 0x0B }, UD, 0 },
	{ "lock test dword [rbx],imm32", 7, { 0xF0, 0xF7, 0x03, 1, 0, 0, 0 }, UD, 0 },
	{ "lock mul qword [rbx]", 4, { 0xF0, 0x48, 0xF7, 0x23 }, UD, 0 },
	{ "lock bt qword [rbx],4", 6, { 0xF0, 0x48, 0x0F, 0xBA, 0x23, 0x04 }, UD, 0 },
	{ "lock bt [rbx],rcx", 5, { 0xF0, 0x48, 0x0F, 0xA3, 0x0B }, UD, 0 },
	{ "lock mov rcx,[rbx]", 4, { 0xF0, 0x48, 0x8B, 0x0B }, UD, 0 },
	{ "lock mov [rbx],rcx", 4, { 0xF0, 0x48, 0x89, 0x0B }, UD, 0 },
	{ "lock shl qword [rbx],1", 4, { 0xF0, 0x48, 0xD1, 0x23 }, UD, 0 },
	{ "lock call [rbx]", 3, { 0xF0, 0xFF, 0x13 }, UD, 0 },
	{ "lock push qword [rbx]", 3, { 0xF0, 0xFF, 0x33 }, UD, 0 },
	{ "lock nop", 2, { 0xF0, 0x90 }, UD, 0 },
	{ "lock nop dword [rax]", 4, { 0xF0, 0x0F, 0x1F, 0x00 }, UD, 0 },
	{ "lock bsf rcx,[rbx]", 5, { 0xF0, 0x48, 0x0F, 0xBC, 0x0B }, UD, 0 },
	{ "lock clflush [rbx]", 4, { 0xF0, 0x0F, 0xAE, 0x3B }, UD, 0 },
	{ "lock cmpxchg8b [rbx] with grp9 /0", 4, { 0xF0, 0x0F, 0xC7, 0x03 }, UD, 0 },
	{ "lock movups xmm1,[rbx]", 4, { 0xF0, 0x0F, 0x10, 0x0B }, UD, 0 },
	{ "lock pushf", 2, { 0xF0, 0x9C }, UD, 0 },
	/* Prefix order and company: still LOCK. */
	{ "66 lock rex.w btr rsp,imm8", 6, { 0x66, 0xF0, 0x48, 0x0F, 0xBA, 0xF4 }, UD, 0 },
	{ "lock lock add [rbx],ecx", 4, { 0xF0, 0xF0, 0x01, 0x0B }, RUNS, INIT + RCX0 },
	{ "ds lock add [rbx],ecx", 4, { 0x3E, 0xF0, 0x01, 0x0B }, RUNS, INIT + RCX0 },
	/* Without LOCK the register forms still run. */
	{ "btr esp,imm8 (no lock)", 4, { 0x0F, 0xBA, 0xF4, 0x00 }, RUNS, INIT },
	{ "add rax,rcx (no lock)", 3, { 0x48, 0x01, 0xC8 }, RUNS, INIT },
};

/* 32-bit protected mode: EBX points at the data, the 0x82 alias of group 1 exists. */
static const struct lock_case cases32[] = {
	{ "lock add byte [ebx],1 (82 alias)", 4, { 0xF0, 0x82, 0x03, 0x01 }, RUNS, INIT + 1 },
	{ "lock add dword [ebx],ecx", 3, { 0xF0, 0x01, 0x0B }, RUNS, INIT + RCX0 },
	{ "lock cmpxchg8b [ebx]", 4, { 0xF0, 0x0F, 0xC7, 0x0B }, RUNS, RCX0 << 32 | DATA },
	{ "lock btr esp,imm8", 5, { 0xF0, 0x0F, 0xBA, 0xF4, 0xF4 }, UD, 0 },
	{ "lock cmp byte [ebx],1 (82 alias)", 4, { 0xF0, 0x82, 0x3B, 0x01 }, UD, 0 },
	{ "lock inc eax (40)", 2, { 0xF0, 0x40 }, UD, 0 },
	{ "lock les", 3, { 0xF0, 0xC4, 0x03 }, UD, 0 },
};

/* Child: run one instruction; exit 0 if the outcome matches, else a code for the parent. */
static int run_one(uc_mode mode, const struct lock_case *c, int counted)
{
	uc_engine *uc;
	if (uc_open(UC_ARCH_X86, mode, &uc) != UC_ERR_OK)
		return 10;
	if (uc_mem_map(uc, CODE, 0x1000, UC_PROT_ALL) != UC_ERR_OK ||
	    uc_mem_map(uc, DATA, 0x1000, UC_PROT_READ | UC_PROT_WRITE) != UC_ERR_OK)
		return 11;
	uint8_t code[0x1000];
	memset(code, 0xF4, sizeof(code)); /* HLT after the instruction ends the run */
	memcpy(code, c->bytes, c->len);
	uint64_t init = INIT, rcx = RCX0, rbx = DATA, rax = INIT, rdx = 0, rsp = DATA + 0x800;
	if (uc_mem_write(uc, CODE, code, sizeof(code)) != UC_ERR_OK ||
	    uc_mem_write(uc, DATA, &init, 8) != UC_ERR_OK)
		return 12;
	int m64 = mode == UC_MODE_64;
	if (uc_reg_write(uc, m64 ? UC_X86_REG_RAX : UC_X86_REG_EAX, &rax) != UC_ERR_OK ||
	    uc_reg_write(uc, m64 ? UC_X86_REG_RBX : UC_X86_REG_EBX, &rbx) != UC_ERR_OK ||
	    uc_reg_write(uc, m64 ? UC_X86_REG_RCX : UC_X86_REG_ECX, &rcx) != UC_ERR_OK ||
	    uc_reg_write(uc, m64 ? UC_X86_REG_RDX : UC_X86_REG_EDX, &rdx) != UC_ERR_OK ||
	    uc_reg_write(uc, m64 ? UC_X86_REG_RSP : UC_X86_REG_ESP, &rsp) != UC_ERR_OK)
		return 13;
	uc_err err = uc_emu_start(uc, CODE, 0, 0, counted ? 1 : 0);
	uint64_t rip = 0, mem = 0;
	uc_reg_read(uc, m64 ? UC_X86_REG_RIP : UC_X86_REG_EIP, &rip);
	uc_mem_read(uc, DATA, &mem, 8);
	uc_close(uc);
	if (c->expect == UD)
		return err == UC_ERR_INSN_INVALID && rip == CODE ? 0 : 20 + (err & 0x1f);
	if (err != UC_ERR_OK)
		return 60 + (err & 0x1f);
	return mem == c->mem ? 0 : 100;
}

static void run_cases(uc_mode mode, const struct lock_case *cases, size_t n)
{
	int bad = 0;
	for (size_t i = 0; i < n; i++) {
		for (int counted = 0; counted < 2; counted++) {
			fflush(NULL);
			pid_t pid = fork();
			assert_true(pid >= 0);
			if (pid == 0)
				_exit(run_one(mode, &cases[i], counted));
			int st = 0;
			assert_int_equal(waitpid(pid, &st, 0), pid);
			if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
				continue;
			bad++;
			if (WIFSIGNALED(st))
				print_error("%s%s: killed by signal %d\n", cases[i].name,
					    counted ? " (counted)" : "", WTERMSIG(st));
			else
				print_error("%s%s: expected %s, child code %d\n", cases[i].name,
					    counted ? " (counted)" : "",
					    cases[i].expect == UD ? "#UD" : "to run",
					    WEXITSTATUS(st));
		}
	}
	assert_int_equal(bad, 0);
}

static void test_lock_64(void **state)
{
	(void)state;
	run_cases(UC_MODE_64, cases64, sizeof(cases64) / sizeof(cases64[0]));
}

static void test_lock_32(void **state)
{
	(void)state;
	run_cases(UC_MODE_32, cases32, sizeof(cases32) / sizeof(cases32[0]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lock_64),
		cmocka_unit_test(test_lock_32),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
