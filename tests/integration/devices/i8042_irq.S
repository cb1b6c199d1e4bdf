/* The i8042's interrupt lines on platform PC, seen from the 8259s with
 * IRQ 12 made level-triggered (ELCR), so that its IRR bit follows the line;
 * IRQ 1 cannot be (the PC's ELCR keeps IRQ 0-2 edge-triggered), so its IRR
 * bit shows the rising edge only. Interrupts stay off (IF=0):
 *   0x01 master IRR, 0x02 slave IRR   nothing pending yet
 *   0x03 slave IRR                    AUX loopback (0xd3) byte waiting, AUXINT on: IRQ 12
 *   0x04 the byte, 0x05 slave IRR     read: the line drops
 *   0x06 master IRR                   self-test reply (0xaa) waiting, KBDINT on: IRQ 1
 *   0x07 the reply
 *   0x09 slave IRR                    AUX loopback with AUXINT off: no IRQ 12
 *   0x0a the byte */
#include "guest.h"
#include "dev_guest.h"

/* IRR of the 8259 at @port (OCW3 0x0a, then read), reported as @tag. */
.macro IRR port, tag
    mov     $0x0a, %al
    out     %al, $(\port)
    in      $(\port), %al
    REPORT_AL \tag
.endm
.macro DATA tag
    in      $0x60, %al
    REPORT_AL \tag
.endm

    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    mov     $0x10, %al          /* ELCR2: IRQ 12 (slave line 4) level-triggered */
    mov     $0x4d1, %dx
    out     %al, %dx
    IRR     0x20, 0x01
    IRR     0xa0, 0x02
    KBC_CMD 0x60                /* command byte: KBDINT, AUXINT, SYS, XLATE */
    KBC_DATA 0x47
    KBC_CMD 0xd3                /* write the AUX output buffer (loopback) */
    KBC_DATA 0xa5
    IRR     0xa0, 0x03
    DATA    0x04
    IRR     0xa0, 0x05
    KBC_CMD 0xaa                /* controller self-test: 0x55 */
    IRR     0x20, 0x06
    DATA    0x07
    KBC_CMD 0x60                /* command byte without interrupts */
    KBC_DATA 0x44
    KBC_CMD 0xd3
    KBC_DATA 0x5a
    IRR     0xa0, 0x09
    DATA    0x0a
    EXIT DEV_EXIT_OK
2:  hlt
    jmp     2b
