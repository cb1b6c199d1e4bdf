/* Ports and addresses shared by the platform-PC test guests (pc_*.S) and
 * tests (test_pc_*.c). Guests are loaded at GUEST_LOAD_GPA (guest.h). */
#ifndef TEST_PC_GUEST_H
#define TEST_PC_GUEST_H

#define PC_REPORT_PORT 0x580  /* 4-byte OUTs: values the guest reports */
#define PC_AP_PORT     0x584  /* APs: CPUID.1 EBX[31:24], then CPUID.0xB EDX at +4 */
#define PC_EXIT_PORT   0x58c  /* 4-byte OUT: the test ends the run (DEBUG_EXIT, value) */

#define PC_STACK_TOP   0x80000 /* the test sets ESP here */

/* pc_smp: the AP trampoline's page (SIPI vector PC_SIPI_VECTOR) and the
 * counter the APs increment once they have reported. */
#define PC_SIPI_VECTOR 0x02
#define PC_TRAMPOLINE  (PC_SIPI_VECTOR << 12)
#define PC_AP_COUNTER  0x3000
#define PC_SMP_TIMEOUT 0x100000 /* BSP polling iterations before giving up */

/* pc_irq: the IOAPIC pin the guest routes to its LAPIC, and the vector. */
#define PC_IRQ_PIC_ONLY 4    /* left masked in the IOAPIC: only the PIC sees it */
#define PC_IRQ_ROUTED   5
#define PC_IRQ_VECTOR   0x35
#define PC_IRQ_LEVEL    3    /* level-triggered in the 8259 (ELCR): IRR follows the line */

#endif
