/* 64-bit long mode, CPL0. The test maps a read-only region at GUEST_ROM_GPA
 * and fills it from the host. The guest:
 *   reads 8 bytes at +0 and reports them to GUEST_ROM_REPORT (two 4-byte
 *   OUTs, low half first);
 *   writes 4 bytes 0x12345678 at +0x10 (must arrive as MMIO);
 *   reads 4 bytes at +0x10 and reports them (the ROM must be unchanged);
 *   writes 1 byte 0xaa at +0x21;
 * then HLT. */
#include "guest.h"
    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    mov     $GUEST_ROM_GPA, %ebx
    mov     (%rbx), %rcx
    mov     $GUEST_ROM_REPORT, %edx
    mov     %ecx, %eax
    out     %eax, %dx
    shr     $32, %rcx
    mov     %ecx, %eax
    out     %eax, %dx
    movl    $0x12345678, 0x10(%rbx)
    movl    0x10(%rbx), %eax
    out     %eax, %dx
    movb    $0xaa, 0x21(%rbx)
1:  hlt
    jmp     1b
