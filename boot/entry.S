/*
 * entry.S: the shim's first instructions and its last. Entered in 64-bit mode with the state
 * boot/shim_params.h describes (RSI = the params page, RSP = 0, interrupts off).
 */
#include "boot/shim_link.h"

	.section .text.entry, "ax"
	.code64
	.globl shim_start
	.type shim_start, @function
shim_start:
	cli
	cld
	mov	%rsi, %r12
	/* Zero .bss in case the loader did not (the stack lives there: nothing on it yet). */
	lea	__bss_start(%rip), %rdi
	lea	__bss_end(%rip), %rcx
	sub	%rdi, %rcx
	xor	%eax, %eax
	rep stosb
	lea	shim_stack_top(%rip), %rsp
	/* FS base -> a small block whose +0x28 holds the stack-protector canary libfdt.a
	   reads (it is built with -fstack-protector). */
	lea	shim_fs_block(%rip), %rax
	mov	%rax, %rdx
	shr	$32, %rdx
	mov	$0xC0000100, %ecx
	wrmsr
	/* Canary: the TSC mixed with a constant, low byte zero (stops string overreads
	   from leaking it, as glibc does). */
	rdtsc
	shl	$32, %rdx
	or	%rax, %rdx
	movabs	$0x6d657a7a2d736869, %rax
	xor	%rax, %rdx
	and	$-256, %rdx
	mov	%rdx, shim_fs_block + MEZZ_SHIM_FS_CANARY_OFF(%rip)
	mov	%r12, %rdi
	call	shim_main
	/* shim_main does not return; halt if it ever does. */
1:	cli
	hlt
	jmp	1b
	.size shim_start, . - shim_start

/* void shim_jump_kernel(uint64_t entry, uint64_t boot_params): the 64-bit boot protocol
   entry: interrupts off, RSI = boot_params, __BOOT_CS/__BOOT_DS (0x10/0x18) loaded. */
	.text
	.globl shim_jump_kernel
	.type shim_jump_kernel, @function
shim_jump_kernel:
	cli
	mov	$0x18, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	xor	%eax, %eax
	xor	%ebx, %ebx
	xor	%ecx, %ecx
	xor	%edx, %edx
	xor	%ebp, %ebp
	jmp	*%rdi
	.size shim_jump_kernel, . - shim_jump_kernel

	.section .bss
	.balign 4096
	.globl shim_stack
shim_stack:
	.skip	MEZZ_SHIM_STACK_SIZE
shim_stack_top:
	.balign 64
	.globl shim_fs_block
shim_fs_block:
	.skip	MEZZ_SHIM_FS_BLOCK_SIZE

	.section .note.GNU-stack, "", @progbits
