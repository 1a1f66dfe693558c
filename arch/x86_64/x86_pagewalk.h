/*
 * x86 guest page-table walker: 32-bit (non-PAE), PAE, 4-level and 5-level paging, with large
 * pages, NX, U/S, R/W under CR0.WP, SMEP, SMAP, accessed/dirty updates and the exact #PF error
 * code. The tables are guest memory: they are read through callbacks and every entry is treated
 * as hostile (reserved bits fault with PFERR_RSVD, physical addresses beyond MAXPHYADDR too).
 */
#ifndef MEZZ_ARCH_X86_PAGEWALK_H
#define MEZZ_ARCH_X86_PAGEWALK_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/addr.h"

/* Control-register bits the walk depends on (Intel SDM vol. 3, 2.5). */
#define X86_CR0_PE   (1ull << 0)
#define X86_CR0_WP   (1ull << 16)
#define X86_CR0_PG   (1ull << 31)
#define X86_CR4_PSE  (1ull << 4)
#define X86_CR4_PAE  (1ull << 5)
#define X86_CR4_LA57 (1ull << 12)
#define X86_CR4_SMEP (1ull << 20)
#define X86_CR4_SMAP (1ull << 21)
#define X86_EFER_LME (1ull << 8)
#define X86_EFER_LMA (1ull << 10)
#define X86_EFER_NXE (1ull << 11)
#define X86_RFLAGS_AC (1ull << 18)

/* #PF error code bits (SDM vol. 3, 4.7). */
#define X86_PFERR_P    (1u << 0)
#define X86_PFERR_W    (1u << 1)
#define X86_PFERR_U    (1u << 2)
#define X86_PFERR_RSVD (1u << 3)
#define X86_PFERR_I    (1u << 4)

/* Access kind: combine one of READ/WRITE/FETCH with USER (CPL 3) and IMPLICIT flags. */
#define X86_PW_READ     0u
#define X86_PW_WRITE    (1u << 0)
#define X86_PW_FETCH    (1u << 1)
#define X86_PW_USER     (1u << 2)  /* the access is made at CPL 3 */
#define X86_PW_IMPLICIT (1u << 3)  /* implicit supervisor access (GDT/IDT/TSS): SMAP ignores AC */
#define X86_PW_NO_AD    (1u << 4)  /* probe only: do not set accessed/dirty bits */

/** Paging state of the VP (the registers the walk reads). */
struct x86_pw_regs {
	uint64_t cr0, cr3, cr4, efer, rflags;
	unsigned maxphyaddr; /* physical address width; 0 means 52 */
};

/**
 * Guest-physical memory for the walk. `read` returns 0, or -EFAULT if `gpa` is not RAM (the
 * walk then fails with -EFAULT, not a #PF: real hardware would take a machine check or see
 * all-ones). `cmpxchg` atomically replaces the 8 bytes (4 for 32-bit tables) at `gpa` if they
 * still equal `old`; returns 0 on success, -EAGAIN if they changed (the walk restarts).
 */
struct x86_pw_mem_ops {
	int (*read)(void *ctx, gpa_t gpa, void *buf, unsigned size);
	int (*cmpxchg)(void *ctx, gpa_t gpa, uint64_t old, uint64_t new_value, unsigned size);
};

/** Outcome of a walk. */
struct x86_pw_result {
	gpa_t gpa;            /* translated address (on success) */
	uint64_t page_size;   /* 4 KiB, 2/4 MiB or 1 GiB */
	uint32_t pf_error;    /* on -EFAULT with `fault` set: #PF error code; CR2 = the gva */
	bool fault;           /* true: a #PF must be delivered */
	bool writable;        /* effective permissions of the translation */
	bool user;
	bool executable;
};

/**
 * Translate `va` for an access of kind `access`. Returns 0 with res->gpa; -EFAULT with
 * res->fault set when the access page-faults (res->pf_error holds the error code); -EFAULT with
 * res->fault clear when a table read hit non-RAM; -EINVAL for a non-canonical address (the
 * caller delivers #GP or #SS); -ELOOP if the A/D update kept racing. With paging disabled the
 * address is returned unchanged (truncated to 32 bits outside long mode).
 */
int x86_pw_translate(const struct x86_pw_regs *regs, gva_t va, unsigned access,
		     const struct x86_pw_mem_ops *mem, void *ctx, struct x86_pw_result *res);

/**
 * The `cmpxchg` of x86_pw_mem_ops for tables in host memory at `p` (guest RAM mapped into the
 * caller): atomic 4- or 8-byte compare-and-swap, 0 or -EAGAIN when the entry changed, -EFAULT
 * when `p` is misaligned for `size`.
 */
int x86_pw_cmpxchg_host(void *p, uint64_t old, uint64_t new_value, unsigned size);

/** Paging levels in use: 0 (off), 2 (32-bit), 3 (PAE), 4 or 5. */
unsigned x86_pw_levels(const struct x86_pw_regs *regs);

#endif
