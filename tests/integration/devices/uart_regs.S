/* 16550A registers as Linux's 8250 driver probes and uses them (COM1, no
 * IRQ line): reset values, scratch, divisor latch, IER mask, FIFO
 * identification, the autoconfig EFR/16750/XScale probes, modem lines in
 * and out of loopback, loopback echo, overruns, IIR priorities, then a
 * transmitted line. Every value read is reported (tag << 8 | value); the
 * test holds the expected values. */
#include "guest.h"
#include "dev_guest.h"

#define RBR (DEV_COM1 + 0)
#define IER (DEV_COM1 + 1)
#define IIR (DEV_COM1 + 2)
#define FCR (DEV_COM1 + 2)
#define LCR (DEV_COM1 + 3)
#define MCR (DEV_COM1 + 4)
#define LSR (DEV_COM1 + 5)
#define MSR (DEV_COM1 + 6)
#define SCR (DEV_COM1 + 7)

    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    /* reset values */
    REPORT_IN LSR, 0x01
    REPORT_IN IIR, 0x02
    REPORT_IN IER, 0x03
    REPORT_IN LCR, 0x04
    REPORT_IN MCR, 0x05
    REPORT_IN MSR, 0x06
    /* scratch register */
    OUTB SCR, 0x5a
    REPORT_IN SCR, 0x07
    OUTB SCR, 0xa5
    REPORT_IN SCR, 0x08
    /* divisor latch */
    OUTB LCR, 0x83
    OUTB DEV_COM1 + 0, 0x34
    OUTB DEV_COM1 + 1, 0x12
    REPORT_IN DEV_COM1 + 0, 0x09
    REPORT_IN DEV_COM1 + 1, 0x0a
    REPORT_IN LCR, 0x0b
    OUTB LCR, 0x03
    REPORT_IN IER, 0x0c
    OUTB LCR, 0x83
    REPORT_IN DEV_COM1 + 0, 0x0d
    OUTB LCR, 0x03
    /* IER: bits 4-7 read 0 (autoconfig's scratch test) */
    OUTB IER, 0xff
    REPORT_IN IER, 0x0e
    OUTB IER, 0x00
    /* autoconfig loopback test: MCR = LOOP | OUT2 | RTS -> MSR 0x90 */
    OUTB MCR, 0x1a
    REPORT_IN MSR, 0x0f
    REPORT_IN MSR, 0x10
    OUTB MCR, 0x00
    REPORT_IN MSR, 0x11
    /* FIFO identification */
    OUTB FCR, 0x01
    REPORT_IN IIR, 0x12
    OUTB FCR, 0x00
    REPORT_IN IIR, 0x13
    /* autoconfig: EFR write under LCR 0xbf, then FIFO type from IIR */
    OUTB LCR, 0xbf
    OUTB DEV_COM1 + 2, 0x00
    OUTB LCR, 0x00
    OUTB FCR, 0x01
    REPORT_IN IIR, 0x14
    /* autoconfig_16550a: EFR probes must read non-zero (no EFR) */
    OUTB LCR, 0x80
    REPORT_IN DEV_COM1 + 2, 0x15
    OUTB LCR, 0xbf
    REPORT_IN DEV_COM1 + 2, 0x16
    OUTB LCR, 0x00
    /* TI16750 test: bit 5 never set */
    OUTB FCR, 0x21
    REPORT_IN IIR, 0x17
    OUTB FCR, 0x01
    /* XScale UUE test: IER bit 6 does not stick */
    OUTB IER, 0x40
    REPORT_IN IER, 0x18
    OUTB IER, 0x00

    /* loopback echo */
    OUTB LCR, 0x03
    OUTB FCR, 0x07
    OUTB MCR, 0x10
    OUTB DEV_COM1, 'A'
    OUTB DEV_COM1, 'B'
    REPORT_IN LSR, 0x19
    REPORT_IN RBR, 0x1a
    REPORT_IN RBR, 0x1b
    REPORT_IN LSR, 0x1c
    /* modem lines follow MCR in loopback */
    OUTB MCR, 0x1f
    INB MSR
    REPORT_IN MSR, 0x1d
    OUTB MCR, 0x10
    REPORT_IN MSR, 0x1e

    /* FIFO overrun: 17 bytes into 16 */
    mov     $0x30, %bl
1:  mov     $DEV_COM1, %dx
    mov     %bl, %al
    out     %al, %dx
    inc     %bl
    cmp     $0x41, %bl
    jne     1b
    REPORT_IN LSR, 0x1f
    REPORT_IN LSR, 0x20
    INB RBR
    REPORT_AL 0x21
    mov     $15, %ecx
2:  INB RBR
    dec     %ecx
    jnz     2b
    REPORT_AL 0x22
    REPORT_IN LSR, 0x23
    /* 16450 mode: the second byte overwrites the first */
    OUTB FCR, 0x00
    OUTB DEV_COM1, 'x'
    OUTB DEV_COM1, 'y'
    REPORT_IN LSR, 0x24
    REPORT_IN RBR, 0x25
    REPORT_IN LSR, 0x26
    /* FCR bit 1 empties the receive FIFO */
    OUTB FCR, 0x07
    OUTB DEV_COM1, '1'
    OUTB DEV_COM1, '2'
    OUTB DEV_COM1, '3'
    OUTB FCR, 0x03
    REPORT_IN LSR, 0x27

    /* IIR priorities (no line: only the register) */
    INB MSR
    OUTB FCR, 0x07
    OUTB IER, 0x0f
    OUTB DEV_COM1, 'p'
    REPORT_IN IIR, 0x28
    INB RBR
    REPORT_IN IIR, 0x29
    REPORT_IN IIR, 0x2a
    OUTB FCR, 0x47              /* trigger level 4 */
    OUTB DEV_COM1, 'a'
    REPORT_IN IIR, 0x2b         /* below trigger: character timeout */
    OUTB DEV_COM1, 'b'
    OUTB DEV_COM1, 'c'
    OUTB DEV_COM1, 'd'
    REPORT_IN IIR, 0x2c         /* at trigger: data available */
    mov     $13, %ecx
3:  OUTB DEV_COM1, 'e'
    dec     %ecx
    jnz     3b
    REPORT_IN IIR, 0x2d         /* overrun: line status first */
    INB LSR
    REPORT_IN IIR, 0x2e
    OUTB FCR, 0x07
    OUTB MCR, 0x11              /* DTR: DSR rises */
    REPORT_IN IIR, 0x2f         /* THRE (written since the last IIR read) */
    REPORT_IN IIR, 0x30         /* modem status */
    REPORT_IN MSR, 0x31
    REPORT_IN IIR, 0x32
    OUTB IER, 0x00
    OUTB MCR, 0x00
    INB MSR

    /* transmit a line the way a polling console does */
    OUTB LCR, 0x03
    OUTB MCR, 0x0b
    mov     $msg, %rsi
4:  movb    (%rsi), %bl
    test    %bl, %bl
    jz      6f
5:  INB LSR
    test    $0x20, %al
    jz      5b
    mov     $DEV_COM1, %dx
    mov     %bl, %al
    out     %al, %dx
    inc     %rsi
    jmp     4b
6:  EXIT DEV_EXIT_OK
7:  hlt
    jmp     7b

    .section .rodata
msg: .asciz "Hello from the 16550A\n"
