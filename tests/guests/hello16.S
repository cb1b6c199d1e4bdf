/* Real mode (16-bit): print a line on the console port, one OUT per byte,
 * then HLT. Entered at CS:IP = 0:0x1000 with DS = 0. */
#include "guest.h"
    .code16
    .section .text.start, "ax"
    .globl _start
_start:
    mov     $GUEST_CONSOLE_PORT, %dx
    mov     $msg, %si
1:  movb    (%si), %al
    test    %al, %al
    jz      2f
    out     %al, %dx
    inc     %si
    jmp     1b
2:  hlt
    jmp     2b

    .section .rodata
msg: .asciz "Hello from real mode\n"
