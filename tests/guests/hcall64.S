/* 64-bit long mode, CPL0. Hypercalls through the doorbell of
 * include/vmm/hypercall.h (nr in RAX, args in RDI RSI RCX RBX R8 R9,
 * `out %eax, %dx` to port 0x600, result in RAX). Reports, each as a 64-bit
 * value written as two 4-byte OUTs (low half first) to GUEST_HC_REPORT:
 *   1. result of nr 1 with args HC_A0..HC_A5
 *   2. a mask of registers that changed across that call (0 = all kept):
 *      bit 0 rdi, 1 rsi, 2 rcx, 3 rbx, 4 r8, 5 r9, 6 r10, 7 r11, 8 r12,
 *      9 r13, 10 r14, 11 r15, 12 rbp, 13 rdx
 *   3. result of nr 0x100000002 (a 64-bit call number) with args 5, 7
 *   4. result of nr 0x99 (never registered: expect -ENOSYS)
 *   5. RAX after nr 3 with arg 0x33 (the test decides what nr 3 does)
 * then HLT. */
#include "guest.h"
#define HC_PORT 0x600
    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    mov     exp_rdi(%rip), %rdi
    mov     exp_rsi(%rip), %rsi
    mov     exp_rcx(%rip), %rcx
    mov     exp_rbx(%rip), %rbx
    mov     exp_r8(%rip), %r8
    mov     exp_r9(%rip), %r9
    mov     exp_r10(%rip), %r10
    mov     exp_r11(%rip), %r11
    mov     exp_r12(%rip), %r12
    mov     exp_r13(%rip), %r13
    mov     exp_r14(%rip), %r14
    mov     exp_r15(%rip), %r15
    mov     exp_rbp(%rip), %rbp
    mov     $1, %eax
    mov     $HC_PORT, %edx
    out     %eax, %dx
    mov     %rax, res1(%rip)

    xor     %eax, %eax
    .macro CHECK reg, bit
    cmp     exp_\reg(%rip), %\reg
    je      9f
    or      $(1 << \bit), %eax
9:
    .endm
    CHECK   rdi, 0
    CHECK   rsi, 1
    CHECK   rcx, 2
    CHECK   rbx, 3
    CHECK   r8, 4
    CHECK   r9, 5
    CHECK   r10, 6
    CHECK   r11, 7
    CHECK   r12, 8
    CHECK   r13, 9
    CHECK   r14, 10
    CHECK   r15, 11
    CHECK   rbp, 12
    CHECK   rdx, 13
    mov     %rax, mask1(%rip)

    movabs  $0x100000002, %rax
    mov     $5, %edi
    mov     $7, %esi
    mov     $HC_PORT, %edx
    out     %eax, %dx
    mov     %rax, res2(%rip)

    mov     $0x99, %eax
    out     %eax, %dx
    mov     %rax, res3(%rip)

    mov     $3, %eax
    mov     $0x33, %edi
    out     %eax, %dx
    mov     %rax, res4(%rip)

    mov     $GUEST_HC_REPORT, %dx
    lea     res1(%rip), %rsi
    mov     $10, %ecx
    rep outsl
1:  hlt
    jmp     1b

    .section .rodata
    .balign 8
exp_rdi: .quad 0x0102030405060708
exp_rsi: .quad 0x1112131415161718
exp_rcx: .quad 0x2122232425262728
exp_rbx: .quad 0x3132333435363738
exp_r8:  .quad 0x4142434445464748
exp_r9:  .quad 0x5152535455565758
exp_r10: .quad 0xa0a0a0a0a0a0a0a0
exp_r11: .quad 0xb1b1b1b1b1b1b1b1
exp_r12: .quad 0xc2c2c2c2c2c2c2c2
exp_r13: .quad 0xd3d3d3d3d3d3d3d3
exp_r14: .quad 0xe4e4e4e4e4e4e4e4
exp_r15: .quad 0xf5f5f5f5f5f5f5f5
exp_rbp: .quad 0x0606060606060606
exp_rdx: .quad HC_PORT

    .data
    .balign 8
res1:  .quad 0
mask1: .quad 0
res2:  .quad 0
res3:  .quad 0
res4:  .quad 0
