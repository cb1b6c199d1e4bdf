/* 64-bit long mode at CPL3 with IOPL 3 (VMM_CPU_MODE_F_USER). Runs natively
 * on these hosts: sums 1..GUEST_USER_N in a register loop, prints a line,
 * reports the sum as two 4-byte OUTs (low half first) to GUEST_RESULT_PORT
 * and ends with a 1-byte OUT of 0x42 to GUEST_DONE_PORT (HLT would #GP at
 * CPL3). Uses no stack and no memory writes. */
#include "guest.h"
    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    xor     %eax, %eax
    mov     $GUEST_USER_N, %ecx
1:  add     %rcx, %rax
    dec     %rcx
    jnz     1b
    mov     %rax, %rbx

    mov     $GUEST_CONSOLE_PORT, %dx
    lea     msg(%rip), %rsi
2:  movb    (%rsi), %al
    test    %al, %al
    jz      3f
    out     %al, %dx
    inc     %rsi
    jmp     2b
3:
    mov     $GUEST_RESULT_PORT, %dx
    mov     %ebx, %eax
    out     %eax, %dx
    mov     %rbx, %rax
    shr     $32, %rax
    out     %eax, %dx

    mov     $GUEST_DONE_PORT, %dx
    mov     $0x42, %al
4:  out     %al, %dx
    jmp     4b

    .section .rodata
msg: .asciz "Hello from user mode\n"
