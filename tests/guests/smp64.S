/* 64-bit long mode, CPL0, one copy per vCPU. The test puts the vCPU index
 * in RDI; the vCPU writes the bytes 0, 1, ..., GUEST_SMP_ITERS-1 to port
 * GUEST_SMP_PORT + index with 1-byte OUTs, then HLTs. */
#include "guest.h"
    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    mov     $GUEST_SMP_PORT, %edx
    add     %edi, %edx
    xor     %eax, %eax
1:  out     %al, %dx
    inc     %eax
    cmp     $GUEST_SMP_ITERS, %eax
    jne     1b
2:  hlt
    jmp     2b
