/* COM1's interrupt line on a PC VM, seen from the guest through the master
 * 8259's IRR (OCW3 0x0a, then read port 0x20), with IRQ 4 made
 * level-triggered in the ELCR (port 0x4d0) so IRR follows the line both
 * ways. Interrupts stay off (IF=0): nothing is ever delivered. Reports
 * IRR bit 4 (0/1) and register values; DEV_REQ_INPUT asks the test to
 * queue 'z' with vmm_serial_input(). */
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

/* Report the 8259's IRR bit 4 with @tag. */
.macro IRQ4 tag
    mov     $0x0a, %al
    out     %al, $0x20
    in      $0x20, %al
    shr     $4, %al
    and     $1, %al
    REPORT_AL \tag
.endm

    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    cli
    OUTB 0x4d0, 0x10            /* ELCR: IRQ 4 level-triggered */
    OUTB FCR, 0x07
    OUTB LCR, 0x03
    OUTB MCR, 0x00
    OUTB IER, 0x03              /* ERBFI | ETBEI: THRE pending at once */
    IRQ4 0x01                   /* OUT2 off: line gated */
    OUTB MCR, 0x08
    IRQ4 0x02
    REPORT_IN IIR, 0x03         /* THRE; reading clears it */
    IRQ4 0x04
    /* loopback receive */
    OUTB MCR, 0x18
    OUTB DEV_COM1, 'x'
    IRQ4 0x05
    REPORT_IN IIR, 0x06
    REPORT_IN RBR, 0x07
    REPORT_IN IIR, 0x08
    IRQ4 0x09
    /* host input */
    OUTB MCR, 0x08
    OUTB DEV_REQ_PORT, DEV_REQ_INPUT
    IRQ4 0x0a
    REPORT_IN IIR, 0x0b
    REPORT_IN RBR, 0x0c
    IRQ4 0x0d
    /* IER and OUT2 both gate the line */
    OUTB IER, 0x00
    OUTB DEV_REQ_PORT, DEV_REQ_INPUT
    IRQ4 0x0e
    OUTB IER, 0x01
    IRQ4 0x0f
    OUTB MCR, 0x00
    IRQ4 0x10
    OUTB MCR, 0x08
    IRQ4 0x11
    INB RBR
    IRQ4 0x12
    /* receiver line status: an overrun in loopback */
    OUTB IER, 0x04
    OUTB MCR, 0x18
    mov     $17, %ecx
1:  OUTB DEV_COM1, 'o'
    dec     %ecx
    jnz     1b
    IRQ4 0x13
    REPORT_IN IIR, 0x14
    INB LSR
    IRQ4 0x15
    OUTB FCR, 0x07
    /* modem status */
    INB MSR
    OUTB IER, 0x08
    IRQ4 0x16                   /* no delta yet */
    OUTB MCR, 0x19              /* DTR -> DSR changes */
    IRQ4 0x17
    REPORT_IN IIR, 0x18
    INB MSR
    IRQ4 0x19
    OUTB IER, 0x00
    OUTB MCR, 0x00
    EXIT DEV_EXIT_OK
2:  hlt
    jmp     2b
