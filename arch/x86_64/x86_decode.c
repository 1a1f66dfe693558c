/*
 * x86 instruction decoder: prefixes, opcode maps, ModRM/SIB/displacement and immediates.
 * Table-driven: one 16-bit descriptor per opcode of the one-byte and 0F maps says whether a
 * ModRM byte follows, the immediate kind, byte-operand and 64-bit-mode rules. Facts from the
 * Intel SDM vol. 2 (2.1-2.6, appendix A opcode maps) and AMD APM vol. 3 (1.2, appendix A).
 */
#include <errno.h>
#include <string.h>

#include "arch/x86_64/x86_emu.h"

/* Immediate kinds (low 4 bits of a descriptor). */
enum {
	I_NONE,
	I_B,     /* 8 bits */
	I_W,     /* 16 bits */
	I_Z,     /* 16 or 32 bits by operand size */
	I_V,     /* 16, 32 or 64 bits by operand size (B8+r) */
	I_MOFFS, /* address-size offset (A0-A3) */
	I_ENTER, /* iw + ib */
	I_FAR,   /* offset (16/32) + selector */
	I_J,     /* near branch displacement: 32 bits in 64-bit mode (Intel ignores 66) */
	I_GRP3,  /* F6/F7: immediate only for /0 and /1 (TEST) */
};

#define IMASK 0x000f
#define M     0x0010 /* ModRM follows */
#define X64   0x0020 /* invalid in 64-bit mode */
#define INV   0x0040 /* invalid in every mode */
#define BY    0x0080 /* byte operand */
#define D64   0x0100 /* operand size defaults to 64 bits in 64-bit mode */
#define MREG  0x0200 /* ModRM.mod is ignored: always register operands (MOV CR/DR) */
#define SPC   0x0400 /* needs special handling in the decoder */

#define MB  (M | BY)
#define IB  I_B
#define IZ  I_Z

/* One-byte opcode map. Prefix bytes and 0F never reach this table. */
static const uint16_t map0[256] = {
	/* 00 */ MB, M, MB, M, BY | IB, IZ, X64, X64, MB, M, MB, M, BY | IB, IZ, X64, 0,
	/* 10 */ MB, M, MB, M, BY | IB, IZ, X64, X64, MB, M, MB, M, BY | IB, IZ, X64, X64,
	/* 20 */ MB, M, MB, M, BY | IB, IZ, 0, X64, MB, M, MB, M, BY | IB, IZ, 0, X64,
	/* 30 */ MB, M, MB, M, BY | IB, IZ, 0, X64, MB, M, MB, M, BY | IB, IZ, 0, X64,
	/* 40 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	/* 50 */ D64, D64, D64, D64, D64, D64, D64, D64, D64, D64, D64, D64, D64, D64, D64, D64,
	/* 60 */ X64, X64, M | X64 | SPC, M, 0, 0, 0, 0, IZ | D64, M | IZ, IB | D64, M | IB,
		 BY, 0, BY, 0,
	/* 70 */ IB | D64, IB | D64, IB | D64, IB | D64, IB | D64, IB | D64, IB | D64, IB | D64,
		 IB | D64, IB | D64, IB | D64, IB | D64, IB | D64, IB | D64, IB | D64, IB | D64,
	/* 80 */ MB | IB, M | IZ, MB | IB | X64, M | IB, MB, M, MB, M, MB, M, MB, M, M | SPC,
		 M | SPC, M | SPC, M | D64 | SPC,
	/* 90 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, I_FAR | X64, 0, D64, D64, 0, 0,
	/* A0 */ BY | I_MOFFS, I_MOFFS, BY | I_MOFFS, I_MOFFS, BY, 0, BY, 0, BY | IB, IZ, BY, 0,
		 BY, 0, BY, 0,
	/* B0 */ BY | IB, BY | IB, BY | IB, BY | IB, BY | IB, BY | IB, BY | IB, BY | IB,
		 I_V, I_V, I_V, I_V, I_V, I_V, I_V, I_V,
	/* C0 */ MB | IB, M | IB, I_W | D64, D64, M | X64 | SPC, M | X64 | SPC, MB | IB | SPC,
		 M | IZ | SPC, I_ENTER | D64, D64, I_W, 0, 0, IB, X64, 0,
	/* D0 */ MB, M, MB, M, IB | X64, IB | X64, X64, 0, M, M, M, M, M, M, M, M,
	/* E0 */ IB | D64, IB | D64, IB | D64, IB | D64, BY | IB, IB, BY | IB, IB, I_J | D64,
		 I_J | D64, I_FAR | X64, IB | D64, BY, 0, BY, 0,
	/* F0 */ 0, 0, 0, 0, 0, 0, MB | I_GRP3 | SPC, M | I_GRP3 | SPC, 0, 0, 0, 0, 0, 0,
		 MB | SPC, M | SPC,
};

/* Two-byte map (0F xx). 38 and 3A are escapes handled before the lookup. */
static const uint16_t map1[256] = {
	/* 00 */ M, M, M, M, INV, 0, 0, 0, 0, 0, INV, 0, INV, M, INV, INV,
	/* 10 */ M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
	/* 20 */ M | MREG, M | MREG, M | MREG, M | MREG, INV, INV, INV, INV, M, M, M, M, M, M, M, M,
	/* 30 */ 0, 0, 0, 0, 0, 0, INV, 0, INV, INV, INV, INV, INV, INV, INV, INV,
	/* 40 */ M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
	/* 50 */ M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
	/* 60 */ M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
	/* 70 */ M | IB, M | IB, M | IB, M | IB, M, M, M, 0, M | SPC, M, INV, INV, M, M, M, M,
	/* 80 */ I_J | D64, I_J | D64, I_J | D64, I_J | D64, I_J | D64, I_J | D64, I_J | D64,
		 I_J | D64, I_J | D64, I_J | D64, I_J | D64, I_J | D64, I_J | D64, I_J | D64,
		 I_J | D64, I_J | D64,
	/* 90 */ MB, MB, MB, MB, MB, MB, MB, MB, MB, MB, MB, MB, MB, MB, MB, MB,
	/* A0 */ D64, D64, 0, M, M | IB, M, M, M, D64, D64, 0, M, M | IB, M, M, M,
	/* B0 */ MB, M, M, M, M, M, M, M, M | SPC, M, M | IB, M, M, M, M, M,
	/* C0 */ MB, M, M | IB, M, M | IB, M | IB, M | IB, M, 0, 0, 0, 0, 0, 0, 0, 0,
	/* D0 */ M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
	/* E0 */ M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
	/* F0 */ M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
};

/*
 * Valid opcodes of the legacy-encoded three-byte maps, one 16-bit row per high nibble (bit n =
 * low nibble n). All of them take ModRM; 0F3A ones also an ib.
 */
static const uint16_t map2_valid[16] = {
	0x0fff, 0x70b1, 0x0f3f, 0xffbf, 0x0003, 0, 0, 0,
	0x0007, 0, 0, 0, 0xbf00, 0xf900, 0, 0x0f63,
};
static const uint16_t map3_valid[16] = {
	0xff00, 0x00f0, 0x0007, 0, 0x0017, 0, 0x000f, 0,
	0, 0, 0, 0, 0xd000, 0x8000, 0, 0x0001,
};

/*
 * Mandatory-prefix and ModRM.mod constraints of the SSE-era opcodes (SDM vol. 2, appendix A,
 * tables ). Low 4 bits: the prefixes an opcode exists with (0 = any, the prefixes
 * then only change operand size or are ignored); MO: memory operand only; RO: register only.
 */
#define P_N  0x01 /* no 66/F2/F3 */
#define P_66 0x02
#define P_F3 0x04
#define P_F2 0x08
#define P_NX (P_N | P_66)
#define P_A  (P_N | P_66 | P_F3 | P_F2)
#define MO   0x10
#define RO   0x20

static const uint8_t sse1[256] = {
	/* 10 */ [0x10] = P_A, [0x11] = P_A, [0x12] = P_A, [0x13] = P_NX | MO, [0x14] = P_NX,
	[0x15] = P_NX, [0x16] = P_N | P_66 | P_F3, [0x17] = P_NX | MO,
	/* 28 */ [0x28] = P_NX, [0x29] = P_NX, [0x2a] = P_A, [0x2b] = P_A | MO, [0x2c] = P_A,
	[0x2d] = P_A, [0x2e] = P_NX, [0x2f] = P_NX,
	/* 50 */ [0x50] = P_NX | RO, [0x51] = P_A, [0x52] = P_N | P_F3, [0x53] = P_N | P_F3,
	[0x54] = P_NX, [0x55] = P_NX, [0x56] = P_NX, [0x57] = P_NX, [0x58] = P_A, [0x59] = P_A,
	[0x5a] = P_A, [0x5b] = P_N | P_66 | P_F3, [0x5c] = P_A, [0x5d] = P_A, [0x5e] = P_A,
	[0x5f] = P_A,
	/* 60 */ [0x60] = P_NX, [0x61] = P_NX, [0x62] = P_NX, [0x63] = P_NX, [0x64] = P_NX,
	[0x65] = P_NX, [0x66] = P_NX, [0x67] = P_NX, [0x68] = P_NX, [0x69] = P_NX, [0x6a] = P_NX,
	[0x6b] = P_NX, [0x6c] = P_66, [0x6d] = P_66, [0x6e] = P_NX, [0x6f] = P_N | P_66 | P_F3,
	/* 70 */ [0x70] = P_A, [0x71] = P_NX | RO, [0x72] = P_NX | RO, [0x73] = P_NX | RO,
	[0x74] = P_NX, [0x75] = P_NX, [0x76] = P_NX, [0x77] = P_N, [0x78] = P_N | P_66 | P_F2,
	[0x79] = P_N | P_66 | P_F2, [0x7c] = P_66 | P_F2, [0x7d] = P_66 | P_F2,
	[0x7e] = P_N | P_66 | P_F3, [0x7f] = P_N | P_66 | P_F3,
	/* C0 */ [0xc2] = P_A, [0xc3] = P_N | MO, [0xc4] = P_NX, [0xc5] = P_NX | RO, [0xc6] = P_NX,
	/* D0 */ [0xd0] = P_66 | P_F2, [0xd1] = P_NX, [0xd2] = P_NX, [0xd3] = P_NX, [0xd4] = P_NX,
	[0xd5] = P_NX, [0xd6] = P_66 | P_F3 | P_F2, [0xd7] = P_NX | RO, [0xd8] = P_NX,
	[0xd9] = P_NX, [0xda] = P_NX, [0xdb] = P_NX, [0xdc] = P_NX, [0xdd] = P_NX, [0xde] = P_NX,
	[0xdf] = P_NX,
	/* E0 */ [0xe0] = P_NX, [0xe1] = P_NX, [0xe2] = P_NX, [0xe3] = P_NX, [0xe4] = P_NX,
	[0xe5] = P_NX, [0xe6] = P_66 | P_F3 | P_F2, [0xe7] = P_NX | MO, [0xe8] = P_NX,
	[0xe9] = P_NX, [0xea] = P_NX, [0xeb] = P_NX, [0xec] = P_NX, [0xed] = P_NX, [0xee] = P_NX,
	[0xef] = P_NX,
	[0x37] = P_N, /* GETSEC */
	/* F0 */ [0xf0] = P_F2 | MO, [0xf1] = P_NX, [0xf2] = P_NX, [0xf3] = P_NX, [0xf4] = P_NX,
	[0xf5] = P_NX, [0xf6] = P_NX, [0xf7] = P_NX | RO, [0xf8] = P_NX, [0xf9] = P_NX,
	[0xfa] = P_NX, [0xfb] = P_NX, [0xfc] = P_NX, [0xfd] = P_NX, [0xfe] = P_NX,
	/* groups with memory-only members */
	[0xb2] = MO, [0xb4] = MO, [0xb5] = MO,
};

/* The same for the 0F38 and 0F3A maps (legacy encodings). */
static uint8_t sse23(unsigned map, unsigned op)
{
	if (map == 3) {
		if (op == 0xf0)
			return P_F3 | RO; /* HRESET */
		return op == 0x0f ? P_NX : op == 0xcc ? P_N : P_66;
	}
	if (op <= 0x0b || (op >= 0x1c && op <= 0x1e))
		return P_NX;
	if (op >= 0xc8 && op <= 0xcd)
		return P_N;
	switch (op) {
	case 0x2a:
		return P_66 | MO;
	case 0x80: case 0x81: case 0x82:
		return P_66 | MO;
	case 0xf0: case 0xf1: /* MOVBE (memory only); with F2: CRC32 */
		return 0;
	case 0xf5:
		return P_66 | MO;
	case 0xd8: /* Key Locker AESENCWIDE/AESDECWIDE */
		return P_F3 | MO;
	case 0xdc: case 0xdd: case 0xde: case 0xdf: /* AES (66), Key Locker (F3, memory) */
		return P_66 | P_F3;
	case 0xf6:
		return P_N | P_66 | P_F3;
	case 0xf8:
		return P_66 | P_F3 | P_F2 | MO;
	case 0xf9:
		return P_N | MO;
	case 0xfa: case 0xfb:
		return P_F3 | RO;
	default:
		return P_66;
	}
}

/*
 * Group 7 (0F 01) register forms, ModRM C0-DF: bit n of row r covers ModRM 0xC0 + 8r + n;
 * /4 SMSW and /6 LMSW take any register, /5 and /7 (F8-FF: SWAPGS RDTSCP MONITORX MWAITX
 * CLZERO RDPRU ...) are handled in map123_valid.
 */
static const uint8_t g7_reg[4] = {
	0x3f, /* C0-C7: ENCLV VMCALL VMLAUNCH VMRESUME VMXOFF PCONFIG */
	0xff, /* C8-CF: MONITOR MWAIT CLAC STAC, (66) TDCALL SEAMRET SEAMOPS, ENCLS */
	0xf3, /* D0-D7: XGETBV XSETBV, VMFUNC XEND XTEST ENCLU */
	0xff, /* D8-DF: AMD SVM */
};

/* Checks the SSE prefix/mod rules and a few group holes of the 0F, 0F38, 0F3A maps. */
static bool map123_valid(const struct x86_insn *in)
{
	unsigned op = in->opcode, regf = (in->modrm >> 3) & 7;
	unsigned pfx = in->rep == 0xf3 ? P_F3 : in->rep == 0xf2 ? P_F2 : in->opsize_prefix ? P_66 : P_N;
	uint8_t rule = in->opcode_map == 1 ? sse1[op] : sse23(in->opcode_map, op);
	if ((rule & 15) && !(rule & pfx))
		return false;
	if ((rule & MO) && !in->has_mem)
		return false;
	if ((rule & RO) && in->has_mem)
		return false;
	if (in->opcode_map == 2) {
		/* MOVBE needs memory; CRC32 (F2) takes anything; F3 is neither. */
		if ((op == 0xf0 || op == 0xf1) && (pfx == P_F3 || (pfx != P_F2 && !in->has_mem)))
			return false;
		if (op == 0xf6 && pfx == P_N && !in->has_mem) /* WRSS */
			return false;
		if (op >= 0xdc && op <= 0xdf && pfx == P_F3 && !in->has_mem)
			return op == 0xdc; /* LOADIWKEY */
		if (op == 0xd8 && ((in->modrm >> 3) & 7) > 3)
			return false;
		return true;
	}
	if (in->opcode_map == 3)
		return op != 0xf0 || in->modrm == 0xc0; /* HRESET */
	if (in->opcode_map != 1)
		return true;
	switch (op) {
	case 0x00: /* group 6: /6 /7 reserved */
		return regf < 6;
	case 0x1a: case 0x1b: /* MPX: memory forms need BND0-3 and no 16-bit addressing; else hint NOPs */
		return !in->has_mem || (in->addr_size != 2 && in->reg < 4);
	case 0x01: /* group 7 */
		if (in->has_mem)
			return regf != 5 || pfx == P_F3; /* /5 memory: RSTORSSP */
		if (regf == 4 || regf == 6)
			return true;
		if (regf == 5) { /* E8-EF: SERIALIZE RDPKRU WRPKRU; F3: CET and UINTR; F2: TSXLDTRK */
			unsigned lo = in->modrm & 7;
			if (pfx == P_F3) /* SETSSBSY SAVEPREVSSP; UIRET TESTUI CLUI STUI (64-bit) */
				return lo == 0 || lo == 2 || (lo >= 4 && in->mode == X86_MODE_64);
			if (pfx == P_F2)
				return lo <= 1;
			return pfx == P_N && (lo == 0 || lo >= 6);
		}
		if (regf == 7) { /* F8-FF: SWAPGS RDTSCP MONITORX MWAITX CLZERO RDPRU INVLPGB TLBSYNC */
			/* bit n = F8+n exists, by prefix (none 66 F3 F2), 64-bit mode / other */
			static const uint8_t g7_f8[2][4] = { { 0xff, 0x33, 0xf7, 0xf3 },
							     { 0xfe, 0x32, 0x36, 0xb2 } };
			unsigned pi = pfx == P_N ? 0 : pfx == P_66 ? 1 : pfx == P_F3 ? 2 : 3;
			return (g7_f8[in->mode != X86_MODE_64][pi] >> (in->modrm & 7)) & 1;
		}
		if (in->modrm >= 0xcc && in->modrm <= 0xcf && pfx == P_66) /* TDX; SEAM 64-bit only */
			return in->modrm == 0xcc || in->mode == X86_MODE_64;
		if (in->modrm >= 0xcc && in->modrm <= 0xce)
			return false;
		if (pfx != P_N && regf != 3) /* SVM ignores the prefixes */
			return false;
		return (g7_reg[regf] >> (in->modrm & 7)) & 1;
	case 0xa6: /* VIA PadLock: MONTMUL XSHA1 XSHA256 */
		return pfx == P_F3 && (in->modrm == 0xc0 || in->modrm == 0xc8 || in->modrm == 0xd0);
	case 0xa7: /* VIA PadLock: XSTORE, REP XCRYPT* */
		return (in->modrm == 0xc0 && pfx != P_F2) ||
		       (pfx == P_F3 && !in->has_mem && (in->modrm & 7) == 0 && in->modrm <= 0xe8);
	case 0x20: case 0x22: /* CR0, CR2, CR3, CR4, CR8 */
		return in->reg == 0 || in->reg == 2 || in->reg == 3 || in->reg == 4 || in->reg == 8;
	case 0x21: case 0x23:
		return in->reg < 8;
	case 0xae: /* group 15 */
		if (in->has_mem) {
			if (pfx == P_N)
				return true;
			if (pfx == P_66)
				return regf == 6 || regf == 7;
			return pfx == P_F3 && (regf == 4 || regf == 6); /* PTWRITE, CLRSSBSY */
		}
		if (pfx == P_N)
			return regf >= 5;
		if (pfx == P_F3)
			return regf <= 6 && (regf >= 4 || in->mode == X86_MODE_64);
		return regf == 6;
	case 0xd6: /* MOVQ2DQ / MOVDQ2Q are register forms */
		return pfx == P_66 || !in->has_mem;
	case 0x12: case 0x16: /* MOVLPD/MOVHPD (66) take memory only */
		return pfx != P_66 || in->has_mem;
	case 0x71: case 0x72: /* group 12/13: /2 /4 /6 */
		return regf == 2 || regf == 4 || regf == 6;
	case 0x73: /* group 14: /2 /6, and /3 /7 with 66 */
		return regf == 2 || regf == 6 || (pfx == P_66 && (regf == 3 || regf == 7));
	case 0x78: /* VMREAD (no prefix); EXTRQ /0 (66) and INSERTQ (F2) register forms */
		return pfx == P_N || (!in->has_mem && (pfx == P_F2 || regf == 0));
	case 0x79:
		return pfx == P_N || !in->has_mem;
	case 0xba: /* group 8: BT BTS BTR BTC are /4-/7 */
		return regf >= 4;
	case 0xc7: /* group 9: /1 /3 /4 /5 memory only, /0 /2 reserved; /6 /7 VMX or RDRAND */
		if (regf == 0 || regf == 2)
			return false;
		if (regf >= 3 && regf <= 5) /* XRSTORS XSAVEC XSAVES */
			return in->has_mem && pfx == P_N;
		if (regf == 1)
			return in->has_mem;
		if (in->has_mem)
			return regf == 6 ? pfx != P_F2 : pfx == P_N;
		if (pfx == P_F3 && regf == 6)
			return in->mode == X86_MODE_64; /* SENDUIPI */
		return pfx != P_F2; /* RDRAND RDSEED RDPID */
	default:
		return true;
	}
}

/* x87 (D8-DF): the ModRM encodings the FPU opcode map leaves undefined. */
static bool x87_valid(unsigned op, uint8_t modrm)
{
	unsigned regf = (modrm >> 3) & 7, lo = modrm & 0x3f;
	if (modrm < 0xc0) {
		switch (op) {
		case 0xd9: return regf != 1;
		case 0xdb: return regf != 4 && regf != 6;
		case 0xdd: return regf != 5;
		default: return true;
		}
	}
	switch (op) {
	case 0xd9: /* FNOP; FCHS FABS; FTST FXAM; constants; F2XM1..FCOS */
		if (lo >= 0x10 && lo < 0x20)
			return lo == 0x10 || lo >= 0x18;
		if (lo >= 0x20 && lo < 0x30)
			return lo != 0x22 && lo != 0x23 && lo != 0x26 && lo != 0x27 && lo != 0x2f;
		return true;
	case 0xda: /* FCMOVcc, FUCOMPP */
		return lo < 0x20 || lo == 0x29;
	case 0xdb: /* FCMOVNcc, FENI FDISI FNCLEX FNINIT FSETPM (8087/287 leftovers), FUCOMI FCOMI */
		return lo < 0x25 || (lo >= 0x28 && lo < 0x38);
	case 0xdd:
		return lo < 0x30;
	case 0xde: /* FADDP FMULP, FCOMP alias, FCOMPP, FSUBRP FSUBP FDIVRP FDIVP */
		return lo < 0x18 || lo == 0x19 || lo >= 0x20;
	case 0xdf: /* FFREEP and the FXCH/FSTP aliases, FNSTSW AX, FUCOMIP, FCOMIP */
		return lo <= 0x20 || (lo >= 0x28 && lo < 0x38);
	default:
		return true;
	}
}

/* Bounds checks: at most 15 bytes (-E2BIG, #GP) and never past `size` (-ENODATA). */
#define NEED(n)                                   \
	do {                                      \
		if (i + (n) > X86_MAX_INSN_LEN)   \
			return -E2BIG;            \
		if (i + (n) > size)               \
			return -ENODATA;          \
	} while (0)

static int64_t read_imm(const uint8_t *p, unsigned n)
{
	switch (n) {
	case 1:
		return (int8_t)p[0];
	case 2:
		return (int16_t)(uint16_t)(p[0] | p[1] << 8);
	case 4:
		return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
				 (uint32_t)p[3] << 24);
	default: {
		uint64_t v = 0;
		for (unsigned k = 0; k < n; k++)
			v |= (uint64_t)p[k] << (8 * k);
		return (int64_t)v;
	}
	}
}

/*
 * ModRM/SIB/displacement. `i` indexes the ModRM byte on entry; returns the new index or
 * -errno.
 */
static int decode_modrm(const uint8_t *b, size_t size, size_t i, struct x86_insn *in,
			bool regs_only)
{
	NEED(1);
	uint8_t modrm = b[i++];
	unsigned mod = modrm >> 6, rm = modrm & 7;
	unsigned rex = in->rex;
	in->modrm = modrm;
	in->has_modrm = true;
	in->reg = (uint8_t)(((modrm >> 3) & 7) | ((rex & 4) << 1));
	in->rm = (uint8_t)(rm | ((rex & 1) << 3));
	if (mod == 3 || regs_only)
		return (int)i;

	struct x86_memop *m = &in->mem;
	in->has_mem = true;
	m->base = -1;
	m->index = -1;
	m->scale = 1;
	m->addr_size = in->addr_size;
	bool ss = false;
	unsigned disp = mod == 1 ? 1 : mod == 2 ? (in->addr_size == 2 ? 2 : 4) : 0;

	if (in->addr_size == 2) {
		/* 16-bit forms: BX+SI, BX+DI, BP+SI, BP+DI, SI, DI, BP (disp16 if mod 0), BX. */
		static const int8_t base16[8] = { X86_RBX, X86_RBX, X86_RBP, X86_RBP,
						  X86_RSI, X86_RDI, X86_RBP, X86_RBX };
		static const int8_t index16[8] = { X86_RSI, X86_RDI, X86_RSI, X86_RDI,
						   -1, -1, -1, -1 };
		if (mod == 0 && rm == 6) {
			disp = 2;
		} else {
			m->base = base16[rm];
			m->index = index16[rm];
			ss = rm == 2 || rm == 3 || rm == 6;
		}
	} else {
		if (rm == 4) {
			NEED(1);
			uint8_t sib = b[i++];
			in->sib = sib;
			in->has_sib = true;
			unsigned idx = ((sib >> 3) & 7) | ((rex & 2) << 2);
			unsigned base = sib & 7;
			if (idx != 4)
				m->index = (int8_t)idx;
			m->scale = (uint8_t)(1u << (sib >> 6));
			if (base == 5 && mod == 0) {
				disp = 4;
			} else {
				m->base = (int8_t)(base | ((rex & 1) << 3));
				ss = m->base == X86_RSP || m->base == X86_RBP; /* not R12/R13 */
			}
		} else if (rm == 5 && mod == 0) {
			disp = 4;
			if (in->mode == X86_MODE_64)
				m->base = X86_GPR_COUNT; /* RIP-relative */
		} else {
			m->base = (int8_t)(rm | ((rex & 1) << 3));
			ss = m->base == X86_RBP;
		}
	}
	if (disp) {
		NEED(disp);
		m->disp = read_imm(b + i, disp);
		i += disp;
		in->disp_size = (uint8_t)disp;
	}
	m->seg = ss ? X86_SS : X86_DS;
	if (in->seg_override >= 0)
		m->seg = (enum x86_seg)in->seg_override;
	return (int)i;
}

/*
 * Opcodes that exist in the VEX maps 1-3 (SDM vol. 2, appendix A, AVX/AVX2/BMI/FMA/AMX
 * entries) and the AMD XOP maps 8-10 (APM vol. 6), one 16-bit row per high nibble.
 */
static const uint16_t vex_valid[3][16] = {
	{ 0, 0x00ff, 0xff00, 0, 0x0cf6, 0xffff, 0xffff, 0xf0ff,
	  0, 0x030f, 0x4000, 0, 0x0074, 0xffff, 0xffff, 0x7fff },
	{ 0xffff, 0x77c8, 0xff3f, 0xffff, 0x0aff, 0x570f, 0, 0x0300,
	  0x5000, 0xffcf, 0xffc0, 0xfff3, 0x8000, 0xf800, 0, 0x00ec },
	{ 0xff77, 0x23f0, 0x0007, 0x030f, 0x1f57, 0xf000, 0xff0f, 0xff00,
	  0, 0, 0, 0, 0xc000, 0x8000, 0, 0x0001 },
};
static const uint16_t xop_valid[3][16] = {
	{ 0, 0, 0, 0, 0, 0, 0, 0, 0xc0e0, 0xc0e0, 0x004c, 0x0040, 0xf00f, 0, 0xf000, 0 },
	{ 0x0006, 0x0004, 0, 0, 0, 0, 0, 0, 0x000f, 0x0fff, 0, 0, 0x08ce, 0x08ce, 0x000e, 0 },
	{ 0, 0x0005, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
};

static bool vex_opcode_valid(const struct x86_insn *in, unsigned pp)
{
	unsigned op = in->opcode, map = in->opcode_map;
	if (in->vex_kind == 8) {
		unsigned regf = (in->modrm >> 3) & 7;
		if (!((xop_valid[map - 8][op >> 4] >> (op & 15)) & 1))
			return false;
		if (map == 9 && op == 0x01) /* TBM group 1 */
			return regf != 0;
		if (map == 9 && op == 0x02) /* BLCMSK BLCI */
			return regf == 1 || regf == 6;
		if (map == 9 && op == 0x12) /* LLWPCB SLWPCB */
			return regf < 2 && !in->has_mem;
		if (map == 10 && op == 0x12) /* LWPINS LWPVAL */
			return regf < 2;
		return true;
	}
	if (in->vex_kind == 4)
		return true; /* EVEX: length only */
	if (!((vex_valid[map - 1][op >> 4] >> (op & 15)) & 1))
		return false;
	if (map != 1)
		return true;
	/* Map 1 shares the legacy prefix rules, minus the MMX (no prefix) integer forms. */
	static const uint8_t pfx_bit[4] = { P_N, P_66, P_F3, P_F2 };
	unsigned pfx = pfx_bit[pp];
	uint8_t rule = sse1[op];
	if ((rule & 15) && !(rule & pfx))
		return false;
	if ((rule & MO) && !in->has_mem)
		return false;
	if ((rule & RO) && in->has_mem)
		return false;
	if (pfx == P_N && ((op >= 0x60 && op <= 0x7f && op != 0x77) || (op >= 0xd0 && op <= 0xff)))
		return false;
	return true;
}

/*
 * VEX (C4/C5), EVEX (62) and XOP (8F): `i` indexes the escape byte. Only the length, the map,
 * the opcode and ModRM are decoded; the emulator rejects these instructions.
 */
static int decode_vex(const uint8_t *b, size_t size, size_t i, struct x86_insn *in, uint8_t esc)
{
	unsigned map, nprefix, pp;
	uint8_t rex = 0;
	/* A VEX/EVEX/XOP after 66, F2, F3, REX or LOCK is #UD (SDM 2.3.2). */
	if (in->opsize_prefix || in->rep || in->rex || in->lock)
		return -EINVAL;
	if (esc == 0xc5) {
		NEED(2);
		nprefix = 2;
		map = 1;
		pp = b[i + 1] & 3;
		rex = (uint8_t)((~b[i + 1] >> 5) & 4);
		in->vex_kind = 2;
	} else if (esc == 0xc4 || esc == 0x8f) {
		NEED(3);
		nprefix = 3;
		map = b[i + 1] & 0x1f;
		pp = b[i + 2] & 3;
		rex = (uint8_t)(((~b[i + 1] >> 5) & 7) | ((b[i + 2] >> 4) & 8));
		if (esc == 0xc4 ? (map < 1 || map > 3) : (map < 8 || map > 10))
			return -EINVAL;
		in->vex_kind = esc == 0xc4 ? 3 : 8;
	} else {
		NEED(4);
		nprefix = 4;
		uint8_t p0 = b[i + 1], p1 = b[i + 2];
		map = p0 & 7;
		pp = p1 & 3;
		if ((p0 & 8) || !(p1 & 4) || map == 0 || map == 4 || map == 7)
			return -EINVAL;
		rex = (uint8_t)(((~p0 >> 5) & 7) | ((p1 >> 4) & 8));
		in->vex_kind = 4;
	}
	if (in->mode != X86_MODE_64)
		rex &= 8; /* R, X, B do not exist outside 64-bit mode */
	i += nprefix;
	NEED(1);
	uint8_t op = b[i++];
	in->opcode = op;
	in->opcode_map = (uint8_t)map;
	in->vex = true;
	in->rex = 0;
	in->opsize = 16;
	bool modrm = !(esc != 0x62 && map == 1 && op == 0x77); /* VZEROUPPER/VZEROALL */
	if (modrm) {
		/* Decode with the VEX-supplied register extensions, then hide them again. */
		in->rex = (uint8_t)(rex | 0x40);
		int r = decode_modrm(b, size, i, in, false);
		in->rex = 0;
		if (r < 0)
			return r;
		i = (size_t)r;
	}
	if (!vex_opcode_valid(in, pp))
		return -EINVAL;
	unsigned imm = 0;
	if (map == 3 || map == 8)
		imm = 1;
	else if (map == 10)
		imm = 4;
	else if (map == 1 && ((op >= 0x70 && op <= 0x73) || op == 0xc2 || (op >= 0xc4 && op <= 0xc6)))
		imm = 1;
	if (imm) {
		NEED(imm);
		in->imm = read_imm(b + i, imm);
		in->imm_size = (uint8_t)imm;
		i += imm;
	}
	in->len = (uint8_t)i;
	return (int)i;
}

/* LOCK is allowed only on memory-destination read-modify-write forms (SDM vol. 2, LOCK). */
static bool lock_ok(const struct x86_insn *in)
{
	if (!in->has_mem)
		return false;
	unsigned op = in->opcode, regf = (in->modrm >> 3) & 7;
	if (in->opcode_map == 0) {
		if (op < 0x38 && (op & 7) < 2)
			return true; /* ADD OR ADC SBB AND SUB XOR Eb/Ev, G */
		switch (op) {
		case 0x80: case 0x81: case 0x82: case 0x83:
			return regf != 7;
		case 0x86: case 0x87:
			return true;
		case 0xf6: case 0xf7:
			return regf == 2 || regf == 3;
		case 0xfe: case 0xff:
			return regf < 2;
		default:
			return false;
		}
	}
	if (in->opcode_map == 1) {
		switch (op) {
		case 0xab: case 0xb3: case 0xbb: case 0xb0: case 0xb1: case 0xc0: case 0xc1:
			return true;
		case 0xba:
			return regf >= 5;
		case 0xc7:
			return regf == 1;
		default:
			return false;
		}
	}
	return false;
}

int x86_decode(const uint8_t *b, size_t size, enum x86_mode mode, struct x86_insn *in)
{
	size_t i = 0;
	memset(in, 0, sizeof(*in));
	in->seg_override = -1;
	in->mode = (uint8_t)mode;
	if (mode != X86_MODE_16 && mode != X86_MODE_32 && mode != X86_MODE_64)
		return -EINVAL;

	/* Legacy prefixes in any number and order; REX counts only right before the opcode. */
	for (;;) {
		NEED(1);
		uint8_t c = b[i];
		switch (c) {
		case 0x26: case 0x2e: case 0x36: case 0x3e:
			/* 64-bit mode ignores these entirely: they do not cancel an FS/GS. */
			if (mode != X86_MODE_64)
				in->seg_override = (int8_t)((c >> 3) & 3);
			break;
		case 0x64: case 0x65:
			in->seg_override = (int8_t)(X86_FS + (c & 1));
			break;
		case 0x66:
			in->opsize_prefix = true;
			break;
		case 0x67:
			in->addrsize_prefix = true;
			break;
		case 0xf0:
			in->lock = true;
			break;
		case 0xf2: case 0xf3:
			in->rep = c;
			break;
		default:
			if (mode == X86_MODE_64 && (c & 0xf0) == 0x40) {
				in->rex = c;
				i++;
				continue;
			}
			goto opcode;
		}
		in->rex = 0; /* a legacy prefix after REX makes the REX void */
		i++;
	}

opcode:;
	unsigned rex = in->rex;
	/* Address size: 67 toggles between the mode default and its alternative. */
	if (mode == X86_MODE_64)
		in->addr_size = in->addrsize_prefix ? 4 : 8;
	else if (mode == X86_MODE_32)
		in->addr_size = in->addrsize_prefix ? 2 : 4;
	else
		in->addr_size = in->addrsize_prefix ? 4 : 2;

	uint8_t op = b[i++];
	uint16_t fl;
	if (op == 0x0f) {
		NEED(1);
		op = b[i++];
		if (op == 0x38 || op == 0x3a) {
			NEED(1);
			uint8_t op3 = b[i++];
			const uint16_t *valid = op == 0x38 ? map2_valid : map3_valid;
			in->opcode_map = op == 0x38 ? 2 : 3;
			fl = (valid[op3 >> 4] >> (op3 & 15)) & 1 ? (uint16_t)(M | (op == 0x3a ? I_B : 0))
								 : (uint16_t)INV;
			op = op3;
		} else {
			in->opcode_map = 1;
			fl = map1[op];
			/* 0F B8 is POPCNT only with F3 (without, JMPE: IA-64 only). */
			if (op == 0xb8 && in->rep != 0xf3)
				fl = INV;
		}
	} else {
		fl = map0[op];
		if (fl & SPC) {
			bool vex = false;
			if (op == 0xc4 || op == 0xc5 || op == 0x62) {
				/* Outside 64-bit mode LES/LDS/BOUND unless ModRM.mod would be 11. */
				if (mode == X86_MODE_64) {
					vex = true;
				} else {
					NEED(1);
					vex = (b[i] & 0xc0) == 0xc0;
				}
			} else if (op == 0x8f) {
				NEED(1);
				vex = (b[i] & 0x1f) >= 8; /* XOP: map select >= 8; else POP Ev */
			}
			if (vex)
				return decode_vex(b, size, i - 1, in, op);
		}
	}
	in->opcode = op;
	if (fl & INV)
		return -EINVAL;
	if ((fl & X64) && mode == X86_MODE_64)
		return -EINVAL;

	/* Operand size (SDM vol. 1, 3.6.1): REX.W > 66 > mode default. */
	unsigned osz;
	if (mode == X86_MODE_64) {
		if ((fl & D64) && !(rex & 8))
			osz = in->opsize_prefix ? 2 : 8;
		else
			osz = (rex & 8) ? 8 : in->opsize_prefix ? 2 : 4;
	} else if (mode == X86_MODE_32) {
		osz = in->opsize_prefix ? 2 : 4;
	} else {
		osz = in->opsize_prefix ? 4 : 2;
	}
	in->opsize = (uint8_t)((fl & BY) ? 1 : osz);

	if (fl & M) {
		int r = decode_modrm(b, size, i, in, (fl & MREG) != 0);
		if (r < 0)
			return r;
		i = (size_t)r;
	}

	/* Group encodings that are invalid for some ModRM.reg values. */
	unsigned regf = (in->modrm >> 3) & 7;
	if (in->opcode_map == 0 && (fl & SPC)) {
		switch (op) {
		case 0x8f:
			if (regf != 0)
				return -EINVAL;
			break;
		case 0xc6: case 0xc7: /* MOV /0; XABORT ib / XBEGIN rel only as C6 F8 / C7 F8 */
			if (regf != 0 && in->modrm != 0xf8)
				return -EINVAL;
			break;
		case 0xfe:
			if (regf > 1)
				return -EINVAL;
			break;
		case 0x8c: /* MOV r/m, Sreg: only ES..GS exist */
			if (regf > 5)
				return -EINVAL;
			break;
		case 0x8e: /* MOV Sreg, r/m: and CS cannot be loaded */
			if (regf > 5 || regf == X86_CS)
				return -EINVAL;
			break;
		case 0xff: /* /7 reserved; far CALL/JMP need memory */
			if (regf == 7 || ((regf == 3 || regf == 5) && !in->has_mem))
				return -EINVAL;
			/* 3E on an indirect near CALL/JMP is the CET NOTRACK prefix, not DS. */
			if ((regf == 2 || regf == 4) && in->has_mem && in->seg_override == X86_DS)
				in->mem.seg = (in->mem.base == X86_RSP || in->mem.base == X86_RBP)
					      ? X86_SS : X86_DS;
			break;
		case 0x8d: /* LEA needs a memory operand; it accesses nothing, so no override */
			if (!in->has_mem)
				return -EINVAL;
			if (in->seg_override >= 0)
				in->mem.seg = (in->mem.base == X86_RSP || in->mem.base == X86_RBP)
					      ? X86_SS : X86_DS;
			break;
		default:
			break;
		}
	}

	if (in->opcode_map && !map123_valid(in))
		return -EINVAL;
	/* MPX bound instructions ignore 67 in 64-bit mode (SDM vol. 1, 17.3). */
	if (in->opcode_map == 1 && (op == 0x1a || op == 0x1b) && in->has_mem) {
		if (mode == X86_MODE_64)
			in->mem.addr_size = 8;
		/* BNDMK/BNDCL/BNDCU/BNDCN (F3/F2) only compute an address, like LEA. */
		if (in->rep)
			in->mem.seg = (in->mem.base == X86_RSP || in->mem.base == X86_RBP) ? X86_SS
											   : X86_DS;
	}
	if (in->opcode_map == 0 && op >= 0xd8 && op <= 0xdf && !x87_valid(op, in->modrm))
		return -EINVAL;

	/* Immediates. */
	unsigned isz = 0, isz2 = 0;
	switch (fl & IMASK) {
	case I_B:
		isz = 1;
		break;
	case I_W:
		isz = 2;
		break;
	case I_Z:
		isz = osz == 2 ? 2 : 4;
		break;
	case I_V:
		isz = osz;
		break;
	case I_MOFFS:
		isz = in->addr_size;
		break;
	case I_ENTER:
		isz = 2;
		isz2 = 1;
		break;
	case I_FAR:
		isz = osz == 2 ? 2 : 4;
		isz2 = 2;
		break;
	case I_J:
		isz = mode == X86_MODE_64 ? 4 : osz == 2 ? 2 : 4;
		break;
	case I_GRP3:
		if (regf < 2)
			isz = (fl & BY) ? 1 : osz == 2 ? 2 : 4;
		break;
	default:
		break;
	}
	if (in->opcode_map == 1 && op == 0x78 && (in->rep == 0xf2 || in->opsize_prefix)) {
		/* AMD SSE4a EXTRQ / INSERTQ with two ib (else VMREAD, no immediate). */
		isz = 1;
		isz2 = 1;
	}
	if (isz) {
		NEED(isz + isz2);
		if ((fl & IMASK) == I_MOFFS) {
			uint64_t v = 0;
			for (unsigned k = 0; k < isz; k++)
				v |= (uint64_t)b[i + k] << (8 * k);
			in->imm = (int64_t)v;
			in->has_mem = true;
			in->mem.base = -1;
			in->mem.index = -1;
			in->mem.scale = 1;
			in->mem.disp = (int64_t)v;
			in->mem.addr_size = in->addr_size;
			in->mem.seg = in->seg_override >= 0 ? (enum x86_seg)in->seg_override : X86_DS;
		} else {
			in->imm = read_imm(b + i, isz);
		}
		in->imm_size = (uint8_t)isz;
		i += isz;
		if (isz2) {
			in->imm2 = read_imm(b + i, isz2);
			i += isz2;
		}
	}
	/* LOCK on anything but a memory-destination read-modify-write is #UD. Checked only
	 * once the whole instruction is in: fetch faults and the 15-byte limit (#GP) rank
	 * before decode #UD (SDM vol. 3, 6.9). */
	if (in->lock && !lock_ok(in))
		return -EINVAL;
	in->len = (uint8_t)i;
	return (int)i;
}
