/* 32-bit protected mode, CPL0, paging off: reports what a PC vCPU looks
 * like from inside, as 4-byte OUTs to PC_REPORT_PORT, in this order:
 *   CPUID leaves 1, 4.0, 0xB.0, 0xB.1, 0xB.2, 0x40000000, 0x40000001,
 *   0x80000008 (EAX, EBX, ECX, EDX each);
 *   IA32_MISC_ENABLE (EAX, EDX); the x87 control word after reset;
 *   LAPIC LVT LINT0 and LINT1 (MMIO 0xfee00350, 0xfee00360);
 * then writes 0 to PC_EXIT_PORT. */
#include "pc_guest.h"

.macro leaf fn, sub
    mov     $\fn, %eax
    mov     $\sub, %ecx
    cpuid
    push    %edx
    push    %ecx
    push    %ebx
    push    %eax
    mov     $PC_REPORT_PORT, %dx
    pop     %eax
    out     %eax, %dx
    pop     %eax
    out     %eax, %dx
    pop     %eax
    out     %eax, %dx
    pop     %eax
    out     %eax, %dx
.endm

.macro report src
    mov     \src, %eax
    mov     $PC_REPORT_PORT, %dx
    out     %eax, %dx
.endm

    .code32
    .section .text.start, "ax"
    .globl _start
_start:
    leaf    1, 0
    leaf    4, 0
    leaf    0xb, 0
    leaf    0xb, 1
    leaf    0xb, 2
    leaf    0x40000000, 0
    leaf    0x40000001, 0
    leaf    0x80000008, 0
    mov     $0x1a0, %ecx            /* IA32_MISC_ENABLE */
    rdmsr
    mov     %edx, %ebx
    report  %eax
    report  %ebx
    xor     %eax, %eax
    push    %eax
    fnstcw  (%esp)
    pop     %ebx
    report  %ebx
    report  0xfee00350
    report  0xfee00360
    xor     %eax, %eax
    mov     $PC_EXIT_PORT, %dx
    out     %eax, %dx
1:  jmp     1b
