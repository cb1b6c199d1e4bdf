/* 32-bit protected mode, CPL0, paging off, interrupts off (IF=0, so
 * nothing is ever delivered: the guest only looks). Software-enables its
 * LAPIC, routes IOAPIC pin PC_IRQ_ROUTED to vector PC_IRQ_VECTOR on APIC
 * 0 (fixed, edge, unmasked), then forever reports, as one 4-byte OUT to
 * PC_REPORT_PORT: the master 8259's IRR (bits 7:0, read after OCW3 0x0a)
 * and whether the LAPIC's IRR holds PC_IRQ_VECTOR (bit 8). The test
 * raises lines between reports and ends the run. IRQ PC_IRQ_LEVEL is made
 * level-triggered in the 8259's ELCR (port 0x4d0), so its IRR bit shows
 * the line's level rather than a latched edge. */
#include "pc_guest.h"

#define APIC_SVR       0xfee000f0
#define APIC_IRR(v)    (0xfee00200 + 0x10 * ((v) / 32))
#define IOREGSEL       0xfec00000
#define IOWIN          0xfec00010
#define IOREDTBL(pin)  (0x10 + 2 * (pin))   /* 82093AA datasheet §3.2.4 */

    .code32
    .section .text.start, "ax"
    .globl _start
_start:
    mov     $(1 << PC_IRQ_LEVEL), %al       /* ELCR1: IRQ PC_IRQ_LEVEL level-triggered */
    mov     $0x4d0, %dx
    out     %al, %dx
    movl    $0x1ff, APIC_SVR               /* APIC enabled, spurious 0xff */
    movl    $IOREDTBL(PC_IRQ_ROUTED), IOREGSEL
    movl    $PC_IRQ_VECTOR, IOWIN          /* low: vector, fixed, unmasked */
    movl    $IOREDTBL(PC_IRQ_ROUTED) + 1, IOREGSEL
    movl    $0, IOWIN                      /* high: destination APIC id 0 */
1:  mov     $0x0a, %al                     /* OCW3: read IRR on next read */
    out     %al, $0x20
    in      $0x20, %al
    movzbl  %al, %ebx
    mov     APIC_IRR(PC_IRQ_VECTOR), %ecx
    shr     $(PC_IRQ_VECTOR % 32), %ecx
    and     $1, %ecx
    shl     $8, %ecx
    or      %ecx, %ebx
    mov     %ebx, %eax
    mov     $PC_REPORT_PORT, %dx
    out     %eax, %dx
    jmp     1b
