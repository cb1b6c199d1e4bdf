/* Hostile driver: %rbx rounds of random byte and word accesses, reads and
 * writes, to random COM1 registers (an LCG picks register, value and kind),
 * so DLAB, loopback, FIFO resets, IER bits and THR writes all happen in
 * random order. Exits DEV_EXIT_OK. */
#include "guest.h"
#include "dev_guest.h"

    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    mov     $0x2545f4914f6cdd1d, %r8    /* LCG state */
    mov     $6364136223846793005, %r9
    mov     $1442695040888963407, %r11
1:  imul    %r9, %r8
    add     %r11, %r8
    mov     %r8, %r10
    shr     $33, %r10                   /* use the high bits */
    mov     %r10d, %edx
    and     $7, %edx                    /* register */
    add     $DEV_COM1, %edx
    mov     %r10d, %eax
    shr     $8, %eax                    /* value in %al / %ax */
    mov     %r10d, %ecx
    shr     $24, %ecx
    and     $3, %ecx                    /* kind */
    cmp     $0, %ecx
    je      2f
    cmp     $1, %ecx
    je      3f
    cmp     $2, %ecx
    je      4f
    and     $~1, %edx                   /* word access inside the 8 ports */
    test    $0x80, %r10d
    jz      5f
    out     %ax, %dx
    jmp     6f
5:  in      %dx, %ax
    jmp     6f
2:  out     %al, %dx
    jmp     6f
3:  in      %dx, %al
    jmp     6f
4:  out     %al, %dx                    /* writes twice as often as reads */
6:  dec     %rbx
    jnz     1b
    EXIT DEV_EXIT_OK
7:  hlt
    jmp     7b
