/* 64-bit long mode, CPL0. Accesses that run past the end of a device's
 * range (the test maps a 4-byte MMIO device at GUEST_STRADDLE_MMIO and a
 * 2-port device at GUEST_STRADDLE_PORT):
 *   MMIO: 8-byte write at +0, 2-byte write at +3, 4-byte read at +2,
 *         1-byte write at +4 (just outside), 1-byte write at +3 (inside)
 *   PIO:  4-byte OUT at +0, 2-byte OUT at +1, 2-byte IN at +1,
 *         1-byte OUT at +2 (just outside), 1-byte OUT at +1 (inside)
 * then HLT. */
#include "guest.h"
    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    mov     $GUEST_STRADDLE_MMIO, %ebx
    movabs  $0x1122334455667788, %rax
    mov     %rax, 0(%rbx)
    movw    $0xaabb, 3(%rbx)
    movl    2(%rbx), %eax
    movb    $0xcc, 4(%rbx)
    movb    $0xdd, 3(%rbx)

    mov     $GUEST_STRADDLE_PORT, %edx
    mov     $0x99887766, %eax
    out     %eax, %dx
    inc     %edx
    mov     $0x5544, %ax
    out     %ax, %dx
    in      %dx, %ax
    inc     %edx
    mov     $0x33, %al
    out     %al, %dx
    dec     %edx
    mov     $0x22, %al
    out     %al, %dx
1:  hlt
    jmp     1b
