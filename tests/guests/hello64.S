/* 64-bit long mode, CPL0. Prints a line one byte at a time,
 * then a second line with REP OUTSB, then exercises 2- and 4-byte port I/O
 * and REP INSB (see guest.h for the ports), then HLT. */
#include "guest.h"
    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    cld
    /* byte by byte */
    mov     $GUEST_CONSOLE_PORT, %dx
    mov     $msg, %rsi
1:  movb    (%rsi), %al
    test    %al, %al
    jz      2f
    out     %al, %dx
    inc     %rsi
    jmp     1b
2:
    /* string write */
    mov     $rep_msg, %rsi
    mov     $(rep_msg_end - rep_msg), %ecx
    rep outsb

    /* 2- and 4-byte writes */
    mov     $GUEST_IO_PORT, %dx
    mov     $0x1234, %ax
    out     %ax, %dx
    mov     $0xdeadbeef, %eax
    out     %eax, %dx
    /* 2- and 4-byte reads, echoed back with the same width */
    mov     $(GUEST_IO_PORT + 2), %dx
    in      %dx, %ax
    mov     $GUEST_IO_ECHO_PORT, %dx
    out     %ax, %dx
    mov     $GUEST_IO_PORT, %dx
    in      %dx, %eax
    mov     $GUEST_IO_ECHO_PORT, %dx
    out     %eax, %dx

    /* rep insb into memory, then rep outsb of the same bytes */
    mov     $GUEST_INSB_PORT, %dx
    mov     $GUEST_INSB_BUF, %rdi
    mov     $GUEST_INSB_COUNT, %ecx
    rep insb
    mov     $GUEST_OUTSB_PORT, %dx
    mov     $GUEST_INSB_BUF, %rsi
    mov     $GUEST_INSB_COUNT, %ecx
    rep outsb
3:  hlt
    jmp     3b

    .section .rodata
msg:     .asciz "Hello from long mode\n"
rep_msg: .ascii "rep outsb in long mode\n"
rep_msg_end:
