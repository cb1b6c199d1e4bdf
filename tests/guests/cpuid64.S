/* 64-bit long mode, CPL0. Executes CPUID leaf 0 and reports EBX, EDX, ECX
 * (the vendor string, in that order) and then CPUID leaf 1's initial APIC
 * id (EBX[31:24]), each as a 4-byte OUT to GUEST_CPUID_REPORT; then HLT. */
#include "guest.h"
    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    xor     %eax, %eax
    xor     %ecx, %ecx
    cpuid
    mov     %edx, %r8d
    mov     %ecx, %r9d
    mov     $GUEST_CPUID_REPORT, %edx
    mov     %ebx, %eax
    out     %eax, %dx
    mov     %r8d, %eax
    out     %eax, %dx
    mov     %r9d, %eax
    out     %eax, %dx
    mov     $1, %eax
    xor     %ecx, %ecx
    cpuid
    mov     %ebx, %eax
    shr     $24, %eax
    mov     $GUEST_CPUID_REPORT, %edx
    out     %eax, %dx
1:  hlt
    jmp     1b
