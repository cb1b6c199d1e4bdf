/* debug-exit: a 1-byte, a 2-byte and a 4-byte write, a read echoed back
 * (0xffffffff), a write to the last of the 4 ports, then HLT. Each write
 * ends one run. */
#include "guest.h"
#include "dev_guest.h"

    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    mov     $0x2a, %al
    out     %al, $DEV_EXIT_PORT
    mov     $0x1234, %ax
    out     %ax, $DEV_EXIT_PORT
    mov     $0xdeadbeef, %eax
    out     %eax, $DEV_EXIT_PORT
    in      $DEV_EXIT_PORT, %eax
    out     %eax, $DEV_EXIT_PORT
    mov     $7, %al
    out     %al, $(DEV_EXIT_PORT + 3)
1:  hlt
    jmp     1b
