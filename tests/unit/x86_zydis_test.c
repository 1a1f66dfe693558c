/*
 * Oracle test of x86_decode against Zydis 4.0.
 *
 * Inputs: (a) a generated corpus - every opcode of the one-byte, 0F, 0F38 and 0F3A maps with
 * ModRM/SIB/displacement variations under a set of prefix combinations (66/67/F2/F3/REX/
 * segment/LOCK, REX before a legacy prefix), and (b) seeded random byte strings of random
 * length; each in 64-, 32- and 16-bit mode. For each input both decoders must reject, or give
 * the same length; for accepted ModRM memory operands base, index, scale, displacement,
 * segment and address size must agree.
 *
 * Allowed differences (counted and printed, never silently): see `allow_reason`.
 * Env: X86_ZYDIS_SEED, X86_ZYDIS_RANDOM (random strings per mode).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <Zydis/Zydis.h>

#include "arch/x86_64/x86_emu.h"

#if defined(__SANITIZE_ADDRESS__)
#define ZT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ZT_ASAN 1
#endif
#endif
#ifndef ZT_ASAN
#define ZT_ASAN 0
#endif

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

struct zstats {
	unsigned long inputs, both_reject, same_len, mem_checked;
	unsigned long reject_kind_differs; /* both reject, for different reasons (informational) */
	unsigned long allowed[8]; /* by ALLOW_* */
	unsigned long disagree;
};

enum { ALLOW_LOCK, ALLOW_3DNOW, ALLOW_BADREG, ALLOW_EVEX, ALLOW_KNC, ALLOW_NEWER, ALLOW_MPX,
       ALLOW_ZYDIS_SIB, ALLOW_NCAT };
static const char *const allow_names[ALLOW_NCAT] = {
	/* The hardware raises #UD for LOCK on a form that cannot take it; Zydis rejects such
	 * bytes at decode time, x86_decode gives their length and the emulator raises #UD
	 * (checked by x86_diff_test). */
	"LOCK on a non-lockable form (Zydis rejects; ours decodes, emulator #UDs)",
	/* 0F 0F / 0F 0E: AMD 3DNow!/FEMMS, #UD on every Intel CPU and on AMD since Zen (checked
	 * on this host); ours rejects them. */
	"AMD 3DNow! / FEMMS (Zydis decodes; ours rejects: #UD on current CPUs)",
	/* Zydis rejects register numbers that do not exist (e.g. mov to CS, sreg 6/7, CR1);
	 * that is a #UD the emulator raises when it executes the form, not a length question. */
	"nonexistent register operand (Zydis rejects; ours gives the length)",
	/* VEX/EVEX/XOP: Zydis checks reserved payload bits (VEX.L, vvvv, EVEX fixed bits, mask
	 * rules) and scales EVEX disp8 by N; ours only delimits these instructions - the
	 * emulator executes no EVEX form and validates the VEX moves it executes itself. */
	"VEX/EVEX/XOP payload validity, EVEX disp8*N (ours delimits only)",
	/* Knights Corner (Xeon Phi coprocessor) VEX forms, e.g. jkzd/jknzd: Zydis decodes them
	 * even with ZYDIS_DECODER_MODE_KNC off; #UD on x86-64 CPUs (checked on this host). */
	"Knights Corner VEX forms (Zydis decodes; #UD on x86-64 CPUs)",
	/* Newer than our tables and irrelevant to MMIO emulation: Key Locker (F3 0F 38 D8-DF,
	 * FA/FB), HRESET (F3 0F 3A F0), VIA PadLock (0F A6/A7). */
	"Key Locker / HRESET / VIA PadLock (not in our tables)",
	/* MPX bnd* (0F 1A/1B with prefixes): removed from CPUs since Ice Lake; Zydis applies
	 * MPX-specific address rules. */
	"MPX bound instructions (removed from CPUs)",
	/* Zydis 4.0 reports base r13d for 67 + REX.B + SIB base 101 with mod 00; that form has
	 * no base (SDM vol. 2 table 2-5: REX.B is ignored there) - verified on the host CPU:
	 * `67 41 8b 04 25 disp32` loads from disp32. */
	"Zydis bug: 67 + REX.B + SIB no-base form reported as [r13d]",
};

_Static_assert(ALLOW_NCAT <= 8, "zstats.allowed size");
static struct zstats stats[3];
static const struct x86_insn *cur_insn;
static enum x86_mode modes_of(unsigned mi) { return mi == 0 ? X86_MODE_64 : mi == 1 ? X86_MODE_32 : X86_MODE_16; }
static unsigned printed;
static bool verbose; /* X86_ZYDIS_VERBOSE: print single disagreements too */
static unsigned hist_show = 16; /* X86_ZYDIS_CLASSES: classes shown per reason */

struct dec {
	ZydisDecoder z;
	enum x86_mode mode;
	int mi; /* index into stats */
};

static int zreg_gpr(ZydisRegister r)
{
	if (r == ZYDIS_REGISTER_NONE)
		return -1;
	if (r == ZYDIS_REGISTER_RIP || r == ZYDIS_REGISTER_EIP || r == ZYDIS_REGISTER_IP)
		return X86_GPR_COUNT;
	ZydisRegisterClass c = ZydisRegisterGetClass(r);
	if (c == ZYDIS_REGCLASS_GPR64 || c == ZYDIS_REGCLASS_GPR32 || c == ZYDIS_REGCLASS_GPR16)
		return ZydisRegisterGetId(r);
	return -2; /* vector index (VSIB) etc. */
}

static int zreg_seg(ZydisRegister r)
{
	switch (r) {
	case ZYDIS_REGISTER_ES: return X86_ES;
	case ZYDIS_REGISTER_CS: return X86_CS;
	case ZYDIS_REGISTER_SS: return X86_SS;
	case ZYDIS_REGISTER_DS: return X86_DS;
	case ZYDIS_REGISTER_FS: return X86_FS;
	case ZYDIS_REGISTER_GS: return X86_GS;
	default: return -1;
	}
}

/* Index of the first byte after legacy prefixes and REX (64-bit), to recognise forms. */
static size_t skip_prefixes(const uint8_t *b, size_t n, enum x86_mode mode)
{
	size_t i = 0;
	while (i < n && i < 15) {
		uint8_t c = b[i];
		if (c == 0x66 || c == 0x67 || c == 0xf0 || c == 0xf2 || c == 0xf3 || c == 0x26 ||
		    c == 0x2e || c == 0x36 || c == 0x3e || c == 0x64 || c == 0x65 ||
		    (mode == X86_MODE_64 && (c & 0xf0) == 0x40))
			i++;
		else
			break;
	}
	return i;
}

/* Disagreement histogram: reason x (mode, opcode map, opcode), with one example each. */
static const char *const reasons[] = {
	"length", "ours accepts, Zydis rejects", "ours rejects, Zydis accepts", "memory base",
	"memory index", "memory scale", "memory displacement", "memory segment", "address size",
	"insn.len differs from the return value",
};
#define NREASONS (sizeof(reasons) / sizeof(reasons[0]))
struct hist_ent { unsigned long count; uint8_t ex[16]; uint8_t exn; int ours; unsigned zlen; int zst; };
static struct hist_ent hist[NREASONS][3][4][256];

static void note(const char *what, const uint8_t *b, size_t n, int ours, ZyanStatus zs,
		 const ZydisDecodedInstruction *zi, const struct x86_insn *in, enum x86_mode mode)
{
	unsigned r = 0;
	while (r < NREASONS && strcmp(reasons[r], what) != 0)
		r++;
	if (r == NREASONS)
		return;
	unsigned map = 0, op = 0;
	if (ZYAN_SUCCESS(zs) && zi->opcode_map <= 3) {
		map = zi->opcode_map;
		op = zi->opcode;
	} else if (ours > 0) {
		map = in->opcode_map < 4 ? in->opcode_map : 0;
		op = in->opcode;
	} else {
		size_t p = skip_prefixes(b, n, mode);
		if (p < n && b[p] == 0x0f && p + 1 < n) {
			map = 1;
			p++;
			if ((b[p] == 0x38 || b[p] == 0x3a) && p + 1 < n) {
				map = b[p] == 0x38 ? 2 : 3;
				p++;
			}
		}
		op = p < n ? b[p] : 0;
	}
	unsigned mi = mode == X86_MODE_64 ? 0 : mode == X86_MODE_32 ? 1 : 2;
	struct hist_ent *h = &hist[r][mi][map][op];
	if (!h->count++) {
		h->exn = (uint8_t)(n < 16 ? n : 16);
		memcpy(h->ex, b, h->exn);
		h->ours = ours;
		h->zlen = ZYAN_SUCCESS(zs) ? zi->length : 0;
		h->zst = (int)zs;
	}
}

static void print_hist(void)
{
	static const char *const mapn[4] = { "", "0f ", "0f38 ", "0f3a " };
	for (unsigned r = 0; r < NREASONS; r++) {
		unsigned long total = 0;
		unsigned classes = 0, shown = 0;
		for (unsigned m = 0; m < 3; m++)
			for (unsigned map = 0; map < 4; map++)
				for (unsigned op = 0; op < 256; op++) {
					struct hist_ent *h = &hist[r][m][map][op];
					if (!h->count)
						continue;
					total += h->count;
					classes++;
					if (shown++ < hist_show) {
						printf("    [%s] %d-bit %s%02x: %lu x, e.g.", reasons[r],
						       (int)modes_of(m), mapn[map], op, h->count);
						for (unsigned i = 0; i < h->exn; i++)
							printf(" %02x", h->ex[i]);
						printf(" (ours %d, zydis len %u status %#x)\n", h->ours, h->zlen,
						       (unsigned)h->zst);
					}
					h->count = 0;
				}
		if (classes)
			printf("  %s: %lu disagreements in %u (mode, opcode) classes%s\n", reasons[r],
			       total, classes, classes > hist_show ? " (not all shown)" : "");
	}
}

static void show(const char *what, const uint8_t *b, size_t n, int ours, ZyanStatus zs,
		 const ZydisDecodedInstruction *zi, enum x86_mode mode)
{
	note(what, b, n, ours, zs, zi, cur_insn, mode);
	if (!verbose || printed++ >= 40)
		return;
	fflush(stdout);
	fprintf(stderr, "DISAGREE (%d-bit) %s: bytes", (int)mode, what);
	for (size_t i = 0; i < n && i < 16; i++)
		fprintf(stderr, " %02x", b[i]);
	fprintf(stderr, "  ours=%d zydis=%s", ours, ZYAN_SUCCESS(zs) ? "ok" : "reject");
	if (ZYAN_SUCCESS(zs))
		fprintf(stderr, " len %u %s", zi->length, ZydisMnemonicGetString(zi->mnemonic));
	else
		fprintf(stderr, " status %#x", (unsigned)zs);
	fprintf(stderr, "\n");
}

static int classify_allowed(const uint8_t *b, size_t n, enum x86_mode mode, int ours,
			    ZyanStatus zs, const ZydisDecodedInstruction *zi)
{
	size_t p = skip_prefixes(b, n, mode);
	bool zok = ZYAN_SUCCESS(zs);
	if (ours > 0 && zs == ZYDIS_STATUS_ILLEGAL_LOCK)
		return ALLOW_LOCK;
	if (ours < 0 && zok && (zi->meta.isa_ext == ZYDIS_ISA_EXT_AMD3DNOW ||
				(p + 1 < n && b[p] == 0x0f && (b[p + 1] == 0x0f || b[p + 1] == 0x0e))))
		return ALLOW_3DNOW;
	if (ours > 0 && zs == ZYDIS_STATUS_BAD_REGISTER)
		return ALLOW_BADREG;
	/* VEX (C4/C5) and EVEX (62): in 64-bit mode always, elsewhere when the next byte has
	 * mod = 3 (otherwise they are LES/LDS/BOUND). */
	bool vecx = p + 1 < n && (((b[p] == 0x62 || b[p] == 0xc4 || b[p] == 0xc5) &&
				   (mode == X86_MODE_64 || (b[p + 1] >> 6) == 3)) ||
				  (b[p] == 0x8f && (b[p + 1] & 0x1f) >= 8)); /* AMD XOP */
	if (vecx && ((ours > 0 && (zs == ZYDIS_STATUS_MALFORMED_EVEX || zs == ZYDIS_STATUS_INVALID_MASK ||
				   zs == ZYDIS_STATUS_DECODING_ERROR)) ||
		     (zok && zi->encoding == ZYDIS_INSTRUCTION_ENCODING_EVEX)))
		return ALLOW_EVEX;
	if (ours < 0 && zok && (zi->meta.isa_ext == ZYDIS_ISA_EXT_KNC ||
				zi->meta.isa_ext == ZYDIS_ISA_EXT_KNCE ||
				zi->meta.isa_ext == ZYDIS_ISA_EXT_KNCV))
		return ALLOW_KNC;
	if (ours < 0 && zok && (zi->meta.isa_ext == ZYDIS_ISA_EXT_KEYLOCKER ||
				zi->meta.isa_ext == ZYDIS_ISA_EXT_KEYLOCKER_WIDE ||
				zi->meta.isa_ext == ZYDIS_ISA_EXT_HRESET ||
				zi->meta.isa_ext == ZYDIS_ISA_EXT_PADLOCK))
		return ALLOW_NEWER;
	if (zok && zi->meta.isa_ext == ZYDIS_ISA_EXT_MPX)
		return ALLOW_MPX;
	return -1;
}

static void check_one(struct dec *d, const uint8_t *b, size_t n)
{
	struct zstats *s = &stats[d->mi];
	struct x86_insn in;
	ZydisDecoderContext ctx;
	ZydisDecodedInstruction zi;
	s->inputs++;
	int ours = x86_decode(b, n, d->mode, &in);
	cur_insn = &in;
	ZyanStatus zs = ZydisDecoderDecodeInstruction(&d->z, &ctx, b, n, &zi);
	bool zok = ZYAN_SUCCESS(zs);
	if (ours < 0 && !zok) {
		s->both_reject++;
		bool z_nodata = zs == ZYDIS_STATUS_NO_MORE_DATA;
		bool z_long = zs == ZYDIS_STATUS_INSTRUCTION_TOO_LONG;
		if ((ours == -ENODATA) != z_nodata || (ours == -E2BIG) != z_long)
			s->reject_kind_differs++;
		return;
	}
	if (ours > 0 && zok && (unsigned)ours == zi.length) {
		s->same_len++;
		if (in.len != ours) {
			s->disagree++;
			show("insn.len differs from the return value", b, n, ours, zs, &zi, d->mode);
			return;
		}
		if (!in.has_mem || !in.has_modrm || (in.modrm >> 6) == 3)
			return;
		ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
		if (!ZYAN_SUCCESS(ZydisDecoderDecodeOperands(&d->z, &ctx, &zi, ops, zi.operand_count)))
			return;
		const ZydisDecodedOperand *mo = NULL;
		for (unsigned i = 0; i < zi.operand_count; i++)
			if (ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY &&
			    ops[i].visibility == ZYDIS_OPERAND_VISIBILITY_EXPLICIT) {
				mo = &ops[i];
				break;
			}
		if (!mo || mo->mem.type == ZYDIS_MEMOP_TYPE_VSIB || mo->mem.type == ZYDIS_MEMOP_TYPE_MIB)
			return;
		s->mem_checked++;
		int zb = zreg_gpr(mo->mem.base), zx = zreg_gpr(mo->mem.index);
		unsigned asz = zi.address_width / 8;
		uint64_t dmask = asz == 8 ? ~0ull : (1ull << (8 * asz)) - 1;
		uint64_t zdisp = mo->mem.disp.has_displacement ? (uint64_t)mo->mem.disp.value : 0;
		const char *bad = NULL;
		if (zb != in.mem.base)
			bad = "memory base";
		else if (zx != in.mem.index)
			bad = "memory index";
		else if (zx >= 0 && mo->mem.scale != in.mem.scale)
			bad = "memory scale";
		else if (((zdisp ^ (uint64_t)in.mem.disp) & dmask) != 0)
			bad = "memory displacement";
		else if (zreg_seg(mo->mem.segment) != (int)in.mem.seg)
			bad = "memory segment";
		else if (asz != in.mem.addr_size)
			bad = "address size";
		int mcat = bad ? classify_allowed(b, n, d->mode, ours, zs, &zi) : -1;
		if (bad && mcat < 0 && zb == 13 && in.mem.base == -1 && in.has_sib &&
		    (in.modrm >> 6) == 0 && (in.sib & 7) == 5 && (in.rex & 1) && asz == 4)
			mcat = ALLOW_ZYDIS_SIB;
		if (bad && mcat >= 0) {
			s->allowed[mcat]++;
		} else if (bad) {
			s->disagree++;
			show(bad, b, n, ours, zs, &zi, d->mode);
			if (verbose && printed <= 40) {
				fprintf(stderr, "  ours base %d index %d scale %u disp %#llx seg %d asz %u; "
					"zydis base %d index %d scale %u disp %#llx seg %d asz %u\n",
					in.mem.base, in.mem.index, in.mem.scale,
					(unsigned long long)in.mem.disp, (int)in.mem.seg, in.mem.addr_size,
					zb, zx, mo->mem.scale, (unsigned long long)zdisp,
					zreg_seg(mo->mem.segment), asz);
			}
		}
		return;
	}
	int cat = classify_allowed(b, n, d->mode, ours, zs, &zi);
	if (cat >= 0) {
		s->allowed[cat]++;
		return;
	}
	s->disagree++;
	show(ours > 0 && zok ? "length" : ours > 0 ? "ours accepts, Zydis rejects" : "ours rejects, Zydis accepts",
	     b, n, ours, zs, &zi, d->mode);
}

static void init_dec(struct dec *d, enum x86_mode mode)
{
	ZydisMachineMode zm = mode == X86_MODE_64 ? ZYDIS_MACHINE_MODE_LONG_64 :
			      mode == X86_MODE_32 ? ZYDIS_MACHINE_MODE_LEGACY_32 :
						    ZYDIS_MACHINE_MODE_LEGACY_16;
	ZydisStackWidth sw = mode == X86_MODE_64 ? ZYDIS_STACK_WIDTH_64 :
			     mode == X86_MODE_32 ? ZYDIS_STACK_WIDTH_32 : ZYDIS_STACK_WIDTH_16;
	assert_true(ZYAN_SUCCESS(ZydisDecoderInit(&d->z, zm, sw)));
	d->mode = mode;
	d->mi = mode == X86_MODE_64 ? 0 : mode == X86_MODE_32 ? 1 : 2;
}

static const enum x86_mode modes[3] = { X86_MODE_64, X86_MODE_32, X86_MODE_16 };

static void print_stats(const char *what)
{
	print_hist();
	printf("%s:\n", what);
	for (unsigned m = 0; m < 3; m++) {
		struct zstats *s = &stats[m];
		printf("  %2d-bit: %lu inputs: %lu same length (%lu memory operands compared), "
		       "%lu both reject (%lu for different reasons), %lu DISAGREE\n",
		       (int)modes[m], s->inputs, s->same_len, s->mem_checked, s->both_reject,
		       s->reject_kind_differs, s->disagree);
		for (unsigned c = 0; c < ALLOW_NCAT; c++)
			if (s->allowed[c])
				printf("          allowed: %lu x %s\n", s->allowed[c], allow_names[c]);
	}
}

static unsigned long total_disagree(void)
{
	unsigned long n = 0;
	for (unsigned m = 0; m < 3; m++)
		n += stats[m].disagree;
	return n;
}

static const uint8_t prefix_sets[][4] = {
	{ 0 }, { 1, 0x66 }, { 1, 0x67 }, { 1, 0xf2 }, { 1, 0xf3 }, { 1, 0x48 }, { 1, 0x41 },
	{ 1, 0x4c }, { 2, 0x66, 0x48 }, { 1, 0x2e }, { 1, 0x64 }, { 1, 0xf0 }, { 2, 0x66, 0xf3 },
	{ 2, 0xf3, 0x66 }, { 2, 0x48, 0x66 }, { 3, 0x26, 0x67, 0xf2 }, { 2, 0xf0, 0x66 },
	{ 2, 0x67, 0x43 },
};
#define NPFX (sizeof(prefix_sets) / sizeof(prefix_sets[0]))

/* ModRM/SIB variants: every mod with rm = 0/4/5 (SIB, RIP/disp32), with reg 0-7. */
static size_t modrm_tail(uint8_t *out, unsigned variant)
{
	unsigned mod = variant & 3, reg = (variant >> 2) & 7, rmsel = (variant >> 5) % 3;
	unsigned rm = rmsel == 0 ? 0 : rmsel == 1 ? 4 : 5;
	size_t n = 0;
	out[n++] = (uint8_t)((mod << 6) | (reg << 3) | rm);
	if (rm == 4 && mod != 3)
		out[n++] = (variant & 1) ? 0x25 : 0x8c; /* no-base disp32 / [rsp+rcx*4] style */
	return n;
}

static void test_corpus(void **state)
{
	(void)state;
	memset(stats, 0, sizeof(stats));
	static const uint8_t filler[16] = { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
					    0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x10, 0x20 };
	for (unsigned mi = 0; mi < 3; mi++) {
		struct dec d;
		init_dec(&d, modes[mi]);
		for (unsigned map = 0; map < 4; map++)
			for (unsigned op = 0; op < 256; op++)
				for (unsigned p = 0; p < NPFX; p++) {
					/* All ModRM bytes without prefixes, a sample with. */
					unsigned nvar = p == 0 ? 256 : 96;
					for (unsigned v = 0; v < nvar; v += (p == 0 ? 1 : 1)) {
						uint8_t b[40];
						size_t n = 0;
						for (unsigned k = 0; k < prefix_sets[p][0]; k++)
							b[n++] = prefix_sets[p][1 + k];
						if (map >= 1)
							b[n++] = 0x0f;
						if (map == 2)
							b[n++] = 0x38;
						if (map == 3)
							b[n++] = 0x3a;
						b[n++] = (uint8_t)op;
						if (p == 0) {
							b[n++] = (uint8_t)v;
							if ((v & 7) == 4 && (v >> 6) != 3)
								b[n++] = (uint8_t)(0x25 + (v & 0xc0));
						} else {
							n += modrm_tail(b + n, v);
						}
						memcpy(b + n, filler, 16);
						n += 16;
						check_one(&d, b, n);
					}
				}
	}
	print_stats("generated corpus");
	assert_int_equal(total_disagree(), 0);
}

static void test_random(void **state)
{
	(void)state;
	memset(stats, 0, sizeof(stats));
	const char *e = getenv("X86_ZYDIS_RANDOM");
	unsigned long per_mode = e && *e ? strtoul(e, NULL, 10) : ZT_ASAN ? 300000 : 1000000;
	for (unsigned mi = 0; mi < 3; mi++) {
		struct dec d;
		init_dec(&d, modes[mi]);
		for (unsigned long k = 0; k < per_mode; k++) {
			uint8_t b[16];
			uint64_t r1 = rnd(), r2 = rnd();
			memcpy(b, &r1, 8);
			memcpy(b + 8, &r2, 8);
			/* Bias: often start with prefixes / escape bytes. */
			uint64_t r = rnd();
			static const uint8_t lead[] = { 0x66, 0x67, 0xf2, 0xf3, 0x0f, 0x48, 0xf0, 0x64,
							0xc4, 0xc5, 0x62, 0x8f };
			if (r & 1)
				b[0] = lead[(r >> 8) % sizeof(lead)];
			if (r & 2)
				b[1] = 0x0f;
			size_t n = 1 + (size_t)((r >> 16) % 16);
			if (n > 15)
				n = 15;
			check_one(&d, b, n);
		}
	}
	print_stats("random byte strings");
	assert_int_equal(total_disagree(), 0);
}

int main(void)
{
	const char *e = getenv("X86_ZYDIS_SEED");
	uint64_t seed = e && *e ? strtoull(e, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	rng_state = seed;
	setvbuf(stdout, NULL, _IOLBF, 0);
	verbose = getenv("X86_ZYDIS_VERBOSE") != NULL;
	if (getenv("X86_ZYDIS_CLASSES"))
		hist_show = (unsigned)strtoul(getenv("X86_ZYDIS_CLASSES"), NULL, 10);
	printf("x86_zydis_test: seed %#llx (X86_ZYDIS_SEED to reproduce)\n", (unsigned long long)seed);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus),
		cmocka_unit_test(test_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
