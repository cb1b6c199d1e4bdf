/* The i8042 as Linux's driver and `reboot=k` use it: status, self-tests,
 * command byte, port enables, output port, output-buffer writes; then the
 * reset: command 0xfe when %rbx = 0, output port bit 0 cleared (0xd1)
 * otherwise. Reports every value read. */
#include "guest.h"
#include "dev_guest.h"

/* Wait (bounded) for the output buffer, then read and report it. */
.macro KBC_READ tag
    mov     $100000, %ecx
1:  in      $0x64, %al
    test    $0x01, %al
    jnz     2f
    dec     %ecx
    jnz     1b
    EXIT DEV_EXIT_TIMEOUT
2:  in      $0x60, %al
    REPORT_AL \tag
.endm
.macro STATUS tag
    in      $0x64, %al
    REPORT_AL \tag
.endm

    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    STATUS 0x01
    KBC_CMD 0xaa                /* self-test */
    STATUS 0x02
    KBC_READ 0x03
    STATUS 0x04
    KBC_CMD 0xab                /* keyboard interface test */
    KBC_READ 0x05
    KBC_CMD 0x20                /* read command byte */
    KBC_READ 0x06
    KBC_CMD 0x60                /* write command byte */
    KBC_DATA 0x74
    STATUS 0x07
    KBC_CMD 0x20
    KBC_READ 0x08
    KBC_CMD 0xae                /* enable keyboard */
    KBC_CMD 0x20
    KBC_READ 0x09
    KBC_CMD 0xad                /* disable keyboard */
    KBC_CMD 0x20
    KBC_READ 0x0a
    KBC_CMD 0xa8                /* enable aux */
    KBC_CMD 0x20
    KBC_READ 0x0b
    KBC_CMD 0xa7                /* disable aux */
    KBC_CMD 0x20
    KBC_READ 0x0c
    KBC_CMD 0xd0                /* read output port */
    KBC_READ 0x0d
    KBC_CMD 0xd1                /* write output port: A20 off, no reset */
    KBC_DATA 0x01
    KBC_CMD 0xd0
    KBC_READ 0x0e
    KBC_CMD 0xd1
    KBC_DATA 0x03
    KBC_CMD 0xd2                /* write keyboard output buffer */
    KBC_DATA 0xab
    STATUS 0x0f
    KBC_READ 0x10
    KBC_CMD 0xd3                /* write aux output buffer */
    KBC_DATA 0xcd
    STATUS 0x11
    KBC_READ 0x12
    in      $0x60, %al          /* empty: the last byte again */
    REPORT_AL 0x13
    STATUS 0x14
    KBC_CMD 0x60                /* restore the command byte */
    KBC_DATA 0x45
    test    %rbx, %rbx
    jnz     8f
    KBC_CMD 0xfe                /* pulse the reset line */
    jmp     9f
8:  KBC_CMD 0xd1
    KBC_DATA 0x02               /* output port bit 0 clear: reset */
9:  EXIT DEV_EXIT_OK            /* only reached if the reset did not happen */
10: hlt
    jmp     10b
