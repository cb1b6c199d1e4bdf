/* 64-bit long mode, CPL0. MMIO at GUEST_MMIO_BASE (outside RAM, inside the
 * default 4 GiB identity map):
 *   write 1 byte  0x11                 at +0x0
 *   write 2 bytes 0x2233               at +0x2
 *   write 4 bytes 0x44556677           at +0x4
 *   write 8 bytes 0x8899aabbccddeeff   at +0x8
 *   read them back with the same widths and write each value read to
 *   GUEST_MMIO_REPORT with an OUT of the same width (8 bytes: two 4-byte
 *   OUTs, low half first);
 *   read 8 bytes at +0x10 and report them the same way;
 * then HLT. */
#include "guest.h"
    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    mov     $GUEST_MMIO_BASE, %ebx          /* zero-extends: 0x00000000d0000000 */
    movb    $0x11, 0x0(%rbx)
    movw    $0x2233, 0x2(%rbx)
    movl    $0x44556677, 0x4(%rbx)
    movabs  $0x8899aabbccddeeff, %rax
    mov     %rax, 0x8(%rbx)

    mov     $GUEST_MMIO_REPORT, %dx
    movb    0x0(%rbx), %al
    out     %al, %dx
    movw    0x2(%rbx), %ax
    out     %ax, %dx
    movl    0x4(%rbx), %eax
    out     %eax, %dx
    mov     0x8(%rbx), %rcx
    mov     %ecx, %eax
    out     %eax, %dx
    shr     $32, %rcx
    mov     %ecx, %eax
    out     %eax, %dx
    mov     0x10(%rbx), %rcx
    mov     %ecx, %eax
    out     %eax, %dx
    shr     $32, %rcx
    mov     %ecx, %eax
    out     %eax, %dx
1:  hlt
    jmp     1b
