/* Polling receiver on COM1: FIFOs on (and cleared, as Linux's 8250 driver
 * does at start-up), 8N1, then a DEV_REQ_INPUT request so that the host
 * sends its input only now, then %rbx bytes read the way a polling driver
 * does (wait for LSR.DR, read RBR), each echoed as a 1-byte OUT to
 * DEV_ECHO_PORT. Reports the OR of every LSR value seen (tag 0x01:
 * no error bits may appear for host input) and exits DEV_EXIT_OK, or
 * DEV_EXIT_TIMEOUT if a byte does not come within ~4M polls. */
#include "guest.h"
#include "dev_guest.h"

    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    OUTB DEV_COM1 + 3, 0x03     /* LCR: 8N1 */
    OUTB DEV_COM1 + 2, 0x07     /* FCR: FIFOs on, cleared */
    OUTB DEV_COM1 + 4, 0x0b     /* MCR: DTR, RTS, OUT2 */
    mov     $DEV_REQ_PORT, %dx  /* 4 bytes wide: 1-byte OUTs count as echoed text */
    mov     $DEV_REQ_INPUT, %eax
    out     %eax, %dx
    xor     %r13d, %r13d        /* OR of LSR values */
    test    %rbx, %rbx
    jz      4f
1:  mov     $0x400000, %r12d
2:  mov     $(DEV_COM1 + 5), %dx
    in      %dx, %al
    or      %eax, %r13d
    test    $0x01, %al
    jnz     3f
    dec     %r12d
    jnz     2b
    EXIT DEV_EXIT_TIMEOUT
3:  mov     $DEV_COM1, %dx
    in      %dx, %al
    mov     $DEV_ECHO_PORT, %dx
    out     %al, %dx
    dec     %rbx
    jnz     1b
4:  mov     %r13d, %eax
    REPORT_AL 0x01
    EXIT DEV_EXIT_OK
5:  hlt
    jmp     5b
