/*
 * 64-bit entry of every test guest. hvsim_vp_setup_long_mode starts each VP here in long mode
 * with RDI = VP index, RSI = VP count and no stack (docs/mezz-sim.md, GUEST ENTRY STATE).
 * Each VP takes its own stack from .stack; VP 0 zeroes .bss once and the others wait for it,
 * because the image may be loaded into memory that was not zero.
 */
#include "tests/guests/guest_abi.h"

	.section .text.entry, "ax"
	.globl _start
	.type _start, @function
_start:
	cli
	cld
	cmp $GUEST_MAX_VPS, %rdi
	jae 9f
	/* rsp = __stack_base + (vp + 1) * GUEST_STACK_SIZE */
	lea 1(%rdi), %rax
	imul $GUEST_STACK_SIZE, %rax, %rax
	lea __stack_base(%rip), %rsp
	add %rax, %rsp
	mov %rdi, %r12
	mov %rsi, %r13
	test %rdi, %rdi
	jnz 2f
	lea __bss_start(%rip), %rdi
	lea __bss_end(%rip), %rcx
	sub %rdi, %rcx
	xor %eax, %eax
	rep stosb
	movl $1, bss_ready(%rip)
	jmp 3f
2:	pause
	cmpl $0, bss_ready(%rip)
	je 2b
3:	xor %ebp, %ebp
	mov %r12, %rdi
	mov %r13, %rsi
	call rt_start
	/* rt_start does not return */
9:	mov $0xBADC0DE, %eax   /* VP index beyond the stacks we have */
	out %eax, $GUEST_PORT_EXIT
8:	hlt
	jmp 8b
	.size _start, . - _start

	.section .data
	.balign 4
bss_ready:
	.long 0

	.section .note.GNU-stack, "", @progbits
