/*
 * x86-64 instruction decoder and single-instruction emulator.
 *
 * Used for MMIO intercepts (the hypervisor hands VTL2 the faulting instruction's bytes, the GPA
 * and a partial register state) and for string port I/O. VTL0 controls every byte this code
 * reads, so it never trusts an instruction byte, register value or memory value: anything it
 * cannot handle is reported as a fault to inject (#UD, #GP, ...) or as X86_EMU_UNSUPPORTED,
 * never as a crash or an abort.
 *
 * Flow: the caller fills `struct x86_emu_cpu` (registers, RIP, RFLAGS, segments, CRs), hands
 * the instruction bytes it already has (may be fewer than the instruction needs: the emulator
 * then fetches the rest through ops->fetch) and calls x86_emu_step(). Memory accesses go through
 * callbacks by linear address; I/O through in/out callbacks. On success the CPU state holds
 * exactly what the hardware would have written (registers, flags, RIP); on a fault the state is
 * unchanged and `struct x86_emu_fault` says what to inject.
 */
#ifndef MEZZ_ARCH_X86_EMU_H
#define MEZZ_ARCH_X86_EMU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/addr.h"

#define X86_MAX_INSN_LEN 15

/* GPR indices, architectural order. */
enum x86_gpr {
	X86_RAX, X86_RCX, X86_RDX, X86_RBX, X86_RSP, X86_RBP, X86_RSI, X86_RDI,
	X86_R8, X86_R9, X86_R10, X86_R11, X86_R12, X86_R13, X86_R14, X86_R15,
	X86_GPR_COUNT
};

enum x86_seg { X86_ES, X86_CS, X86_SS, X86_DS, X86_FS, X86_GS, X86_SEG_COUNT };

/** Segment register: hidden part included (attributes as in the TLFS segment format). */
struct x86_segment {
	uint64_t base;
	uint32_t limit;
	uint16_t selector;
	uint16_t attr; /* bits 0-3 type, 4 S, 5-6 DPL, 7 P, 12 AVL, 13 L, 14 D/B, 15 G */
};

/* RFLAGS bits. */
#define X86_FLAG_CF (1ull << 0)
#define X86_FLAG_PF (1ull << 2)
#define X86_FLAG_AF (1ull << 4)
#define X86_FLAG_ZF (1ull << 6)
#define X86_FLAG_SF (1ull << 7)
#define X86_FLAG_TF (1ull << 8)
#define X86_FLAG_IF (1ull << 9)
#define X86_FLAG_DF (1ull << 10)
#define X86_FLAG_OF (1ull << 11)
#define X86_FLAG_AC (1ull << 18)

/** Architectural state the emulator reads and writes. */
struct x86_emu_cpu {
	uint64_t gpr[X86_GPR_COUNT];
	uint64_t rip;
	uint64_t rflags;
	uint64_t cr0, cr4, efer;
	struct x86_segment seg[X86_SEG_COUNT];
	uint8_t xmm[16][16];
	unsigned cpl;
};

/** Exception to inject when an instruction cannot complete. */
struct x86_emu_fault {
	uint8_t vector;           /* X86_EXC_* */
	bool has_error_code;
	uint32_t error_code;
	uint64_t cr2;             /* for #PF */
};

#define X86_EXC_DE 0
#define X86_EXC_UD 6
#define X86_EXC_NM 7
#define X86_EXC_SS 12
#define X86_EXC_GP 13
#define X86_EXC_PF 14
#define X86_EXC_AC 17

/** Access kinds passed to memory callbacks. */
enum x86_emu_access { X86_EMU_READ, X86_EMU_WRITE, X86_EMU_FETCH };

/**
 * Callbacks. Each returns 0, or -EFAULT after filling *fault (e.g. a #PF from the caller's page
 * walk), or another -errno for an internal failure (reported as X86_EMU_ERROR).
 * `read`/`write` take linear addresses (segmentation already applied by the emulator) and sizes
 * from 1 to 64 bytes; the emulator splits nothing: the callback decides how to route an access
 * (guest RAM, MMIO device, page-crossing). `cmpxchg` is used for LOCK-prefixed read-modify-write:
 * it must compare `old` with memory and store `new_value` atomically, returning 1 if stored, 0
 * if memory differed (then `old` receives the current value). May be NULL: the emulator then
 * uses read + write.
 */
struct x86_emu_ops {
	int (*read)(void *ctx, gva_t la, void *buf, unsigned size, enum x86_emu_access kind,
		    struct x86_emu_fault *fault);
	int (*write)(void *ctx, gva_t la, const void *buf, unsigned size,
		     struct x86_emu_fault *fault);
	int (*cmpxchg)(void *ctx, gva_t la, void *old, const void *new_value, unsigned size,
		       struct x86_emu_fault *fault);
	int (*io_in)(void *ctx, uint16_t port, unsigned size, uint32_t *value,
		     struct x86_emu_fault *fault);
	int (*io_out)(void *ctx, uint16_t port, unsigned size, uint32_t value,
		      struct x86_emu_fault *fault);
};

/** Result of x86_emu_step. */
enum x86_emu_result {
	X86_EMU_OK = 0,          /* executed; cpu updated */
	X86_EMU_FAULT,           /* *fault filled; cpu unchanged */
	X86_EMU_UNSUPPORTED,     /* valid instruction the emulator does not handle; cpu unchanged */
	X86_EMU_ERROR,           /* a callback failed with something other than -EFAULT */
};

/* ---- decoder ---- */

enum x86_mode { X86_MODE_16 = 16, X86_MODE_32 = 32, X86_MODE_64 = 64 };

/** A decoded memory operand. */
struct x86_memop {
	enum x86_seg seg;
	int8_t base, index;   /* enum x86_gpr, -1 for none; base X86_GPR_COUNT = RIP-relative */
	uint8_t scale;        /* 1, 2, 4, 8 */
	int64_t disp;
	uint8_t addr_size;    /* 2, 4 or 8 bytes */
};

/** A decoded instruction (filled by x86_decode). */
struct x86_insn {
	uint8_t len;          /* total length, 1..15 */
	uint8_t opcode_map;   /* 0 = one-byte, 1 = 0F, 2 = 0F38, 3 = 0F3A, 4+ = VEX/EVEX maps */
	uint8_t opcode;
	uint8_t modrm, sib;
	bool has_modrm, has_sib;
	uint8_t rex;          /* 0 if none */
	uint8_t rep;          /* 0, 0xF2 or 0xF3 (last one wins, as the hardware does) */
	bool lock, opsize_prefix, addrsize_prefix, vex;
	int8_t seg_override;  /* enum x86_seg or -1 */
	uint8_t opsize;       /* effective operand size in bytes: 1, 2, 4, 8 (or 16 for SSE) */
	bool has_mem;         /* ModRM names memory */
	struct x86_memop mem;
	int64_t imm, imm2;
	uint8_t imm_size, disp_size;
	/* Added by the implementation (appended, existing fields unchanged): */
	uint8_t reg;          /* ModRM.reg extended by REX.R (0-15); register operand of /r */
	uint8_t rm;           /* ModRM.rm extended by REX.B (0-15), meaningful when !has_mem */
	uint8_t addr_size;    /* effective address size in bytes: 2, 4 or 8 (also without ModRM) */
	uint8_t mode;         /* enum x86_mode the instruction was decoded in */
	uint8_t vex_kind;     /* 0 legacy, 2 = C5 VEX, 3 = C4 VEX, 4 = EVEX, 8 = AMD XOP (8F) */
};
/*
 * Conventions of the fields above:
 *  - imm is the immediate sign-extended to 64 bits (ib, iw, iz, iv), except moffs (A0-A3)
 *    which is zero-extended; imm2 holds the second immediate: the ib of ENTER (C8), the
 *    selector of a far pointer (9A/EA), the second ib of EXTRQ/INSERTQ.
 *  - A0-A3 (moffs) also fill `mem` (base = index = -1, disp = the offset) and set has_mem.
 *  - For VEX/EVEX/XOP, opcode_map is the map of the prefix (1 = 0F, 2 = 0F38, 3 = 0F3A,
 *    5/6 EVEX maps, 8-10 XOP maps) and vex is true; only the length and ModRM are decoded.
 *  - seg_override is the effective override: the last segment prefix, except that in 64-bit
 *    mode ES/CS/SS/DS prefixes are ignored entirely (AMD APM vol. 1, 4.5.3; they do not cancel
 *    an FS/GS either), so [rbp]/[rsp] stay SS-based there. mem.seg is the resulting segment.
 */

/**
 * Decode the instruction at `bytes` (up to `size` bytes available; never reads beyond) in
 * `mode`. Returns the length (1..15) or -EINVAL for an invalid encoding (#UD), -E2BIG when the
 * instruction would exceed 15 bytes (#GP), -ENODATA when more bytes are needed than `size`.
 * Every valid encoding gets its length, even forms the emulator does not execute.
 */
int x86_decode(const uint8_t *bytes, size_t size, enum x86_mode mode, struct x86_insn *insn);

/* ---- emulator ---- */

/**
 * Execute one instruction at cpu->rip. `bytes`/`size` are instruction bytes already known
 * (e.g. from the intercept message; may be 0); missing bytes are fetched with ops->read
 * (X86_EMU_FETCH) from CS:RIP, one byte at a time so nothing past the instruction is touched.
 * The mode comes from EFER.LMA / CS.L / CS.D. A REP string instruction runs at most
 * X86_EMU_REP_CHUNK iterations per call (see x86_emu_step_rep). On completion RFLAGS.RF is
 * cleared; a TF single-step trap after the instruction is left to the caller.
 * Callback conventions: the load of a read-modify-write is passed to ops->read with kind
 * X86_EMU_WRITE (write intent, for the #PF error code); LOCKed forms and XCHG with memory use
 * ops->cmpxchg when present.
 */
enum x86_emu_result x86_emu_step(struct x86_emu_cpu *cpu, const uint8_t *bytes, size_t size,
				 const struct x86_emu_ops *ops, void *ctx,
				 struct x86_emu_fault *fault);

/**
 * Same as x86_emu_step, with a limit on the iterations of a REP string instruction executed by
 * this call (0 = default limit X86_EMU_REP_CHUNK). When the limit is hit before RCX reaches 0,
 * the call returns X86_EMU_OK with RCX/RSI/RDI updated and RIP still on the instruction - the
 * state the hardware leaves when it takes an interrupt between iterations - so the caller
 * simply steps again. A fault in iteration k commits the k-1 completed iterations (as the
 * hardware does) and leaves RIP on the instruction.
 */
#define X86_EMU_REP_CHUNK 65536u
enum x86_emu_result x86_emu_step_rep(struct x86_emu_cpu *cpu, const uint8_t *bytes, size_t size,
				     const struct x86_emu_ops *ops, void *ctx,
				     struct x86_emu_fault *fault, uint64_t max_iterations);

#endif
