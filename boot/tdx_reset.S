/*
 * tdx_reset.S: the TDX reset page, a flat 4096-byte image placed at GPA 0xFFFFF000. A TDX VP
 * starts at the reset vector 0xFFFFFFF0 (offset 0xFF0) in 32-bit protected mode with flat
 * segments and paging off; this code reaches the shim's 64-bit entry state (shim_params.h):
 * GDT, data segments 0x18, CR4 PAE|OSFXSR|OSXMMEXCPT, CR3, EFER LME|NXE|SCE, CR0 PG|PE|...,
 * a far jump to 64-bit code through selector 0x10, RSI = params, jump to the shim entry.
 * The fields at 0xFC0.. are zero here; the image builder patches them.
 *
 * Addresses are the page base plus label offsets (assembly-time constants), so the image
 * needs no relocation.
 */
#include "boot/shim_link.h"

#define ABS(label) (MEZZ_SHIM_TDX_RESET_BASE + ((label) - page))

	.text
	.code32
page:
start32:
	cli
	cld
	lgdtl	ABS(gdtr_field)
	mov	$0x18, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	mov	%eax, %fs
	mov	%eax, %gs
	/* Keep whatever CR4/CR0 bits the platform fixed to 1. */
	mov	%cr4, %eax
	or	$0x620, %eax		/* PAE | OSFXSR | OSXMMEXCPT */
	mov	%eax, %cr4
	mov	ABS(cr3_field), %eax
	mov	%eax, %cr3
	mov	$0xC0000080, %ecx	/* EFER */
	rdmsr
	or	$0x901, %eax		/* SCE | LME | NXE */
	wrmsr
	mov	%cr0, %eax
	or	$0x80010033, %eax	/* PG | WP | NE | ET | MP | PE */
	mov	%eax, %cr0
	ljmpl	$0x10, $ABS(start64)

	.code64
start64:
	mov	$0x18, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	mov	params_field(%rip), %rsi
	xor	%esp, %esp
	jmp	*entry_field(%rip)

	.org	MEZZ_SHIM_TDX_OFF_CR3
cr3_field:
	.long	0
	.long	0
	.org	MEZZ_SHIM_TDX_OFF_GDTR
gdtr_field:
	.word	0
	.long	0
	.word	0
	.org	MEZZ_SHIM_TDX_OFF_PARAMS
params_field:
	.quad	0
	.org	MEZZ_SHIM_TDX_OFF_ENTRY
entry_field:
	.quad	0

	/* The reset vector, 16 bytes below 4 GiB. */
	.org	0xFF0
	.code32
reset_vector:
	jmp	start32
	.org	0x1000, 0xF4	/* hlt padding */

	.section .note.GNU-stack, "", @progbits
