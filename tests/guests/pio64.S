/* 64-bit long mode, CPL0. Port I/O that no device claims (the test maps
 * nothing at GUEST_UNH_BASE..+0x1f), so each access comes back to the caller
 * of vmm_vcpu_run() as VMM_EXIT_PIO:
 *   OUT 1 byte  0x77       to +0x0
 *   OUT 2 bytes 0xbeef     to +0x2
 *   OUT 4 bytes 0xdeadbeef to +0x4
 *   IN  1 byte  from +0x6,  echoed with OUT 1 byte  to +0x10
 *   IN  2 bytes from +0x8,  echoed with OUT 2 bytes to +0x10
 *   IN  4 bytes from +0xc,  echoed with OUT 4 bytes to +0x10
 *   IN  4 bytes from +0x14 (the test writes nothing: open bus), echoed to +0x10
 *   REP INSB 4 bytes from +0x18 into memory, then REP OUTSB of them to +0x19
 * then HLT. */
#include "guest.h"
#define P(off) $(GUEST_UNH_BASE + (off))
    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    cld
    mov     P(0), %edx
    mov     $0x77, %al
    out     %al, %dx
    mov     P(2), %edx
    mov     $0xbeef, %ax
    out     %ax, %dx
    mov     P(4), %edx
    mov     $0xdeadbeef, %eax
    out     %eax, %dx

    xor     %eax, %eax
    mov     P(6), %edx
    in      %dx, %al
    mov     P(0x10), %edx
    out     %al, %dx
    mov     P(8), %edx
    in      %dx, %ax
    mov     P(0x10), %edx
    out     %ax, %dx
    mov     P(0xc), %edx
    in      %dx, %eax
    mov     P(0x10), %edx
    out     %eax, %dx
    mov     P(0x14), %edx
    in      %dx, %eax
    mov     P(0x10), %edx
    out     %eax, %dx

    mov     P(0x18), %edx
    lea     buf(%rip), %rdi
    mov     $4, %ecx
    rep insb
    mov     P(0x19), %edx
    lea     buf(%rip), %rsi
    mov     $4, %ecx
    rep outsb
1:  hlt
    jmp     1b

    .data
buf: .long 0
