/* 64-bit long mode, CPL0. Hammers addresses nobody maps; the test resumes
 * after every exit and counts them:
 *   for each of GUEST_HAMMER_PORTS ports from GUEST_HAMMER_PORT:
 *       OUT 1 byte, IN 1 byte                           (2 PIO exits each)
 *   OUT 4 bytes and IN 2 bytes at port 0xffff (runs past the last port)
 *   REP OUTSB of 4096 bytes to port 0x1234, REP INSB of 4096 from 0x1235
 *   for each of GUEST_HAMMER_MMIO_PAGES pages from GUEST_HAMMER_MMIO:
 *       8-byte write at +0, 1-byte read at +0           (2 MMIO exits)
 *   8-byte write and read at 0xfffffff8 (the last bytes below 4 GiB)
 * then HLT. */
#include "guest.h"
    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    cld
    mov     $GUEST_HAMMER_PORT, %edx
    mov     $GUEST_HAMMER_PORTS, %ecx
1:  mov     %dl, %al
    out     %al, %dx
    in      %dx, %al
    inc     %edx
    dec     %ecx
    jnz     1b

    mov     $0xffff, %edx
    mov     $0xa5a5a5a5, %eax
    out     %eax, %dx
    in      %dx, %ax

    mov     $0x1234, %edx
    mov     $0x10000, %esi
    mov     $4096, %ecx
    rep outsb
    mov     $0x1235, %edx
    mov     $0x10000, %edi
    mov     $4096, %ecx
    rep insb

    mov     $GUEST_HAMMER_MMIO, %ebx
    mov     $GUEST_HAMMER_MMIO_PAGES, %ecx
2:  mov     %rbx, (%rbx)
    movb    (%rbx), %al
    add     $0x1000, %rbx
    dec     %ecx
    jnz     2b

    mov     $0xfffffff8, %ebx
    movabs  $0x0123456789abcdef, %rax
    mov     %rax, (%rbx)
    mov     (%rbx), %rax
3:  hlt
    jmp     3b
