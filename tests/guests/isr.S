/*
 * Interrupt/exception stubs: 256 entries exactly 16 bytes apart (rt.c computes gate addresses
 * as rt_isr_stubs + 16 * vector). Vectors without a CPU error code push a 0 so the frame is
 * uniform; then the vector; then the common path saves the GPRs into a struct rt_frame and
 * calls rt_isr_dispatch(frame). The handler may edit the frame (e.g. RIP) before IRETQ.
 */
	.altmacro
	.macro isr_stub v
	.balign 16
	.if ((\v == 8) || ((\v >= 10) && (\v <= 14)) || (\v == 17) || (\v == 21) || (\v == 29) || (\v == 30))
	.else
	pushq $0
	.endif
	pushq $\v
	jmp isr_common
	.endm

	.text
	.balign 16
	.globl rt_isr_stubs
rt_isr_stubs:
	.set vec, 0
	.rept 256
	isr_stub %vec
	.set vec, vec + 1
	.endr

isr_common:
	pushq %rax
	pushq %rcx
	pushq %rdx
	pushq %rbx
	pushq %rbp
	pushq %rsi
	pushq %rdi
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	cld
	mov %rsp, %rdi
	mov %rsp, %rbp
	and $-16, %rsp          /* SysV alignment whatever the interrupted stack was */
	call rt_isr_dispatch
	mov %rbp, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rdi
	popq %rsi
	popq %rbp
	popq %rbx
	popq %rdx
	popq %rcx
	popq %rax
	add $16, %rsp           /* vector + error code */
	iretq

	.section .note.GNU-stack, "", @progbits
