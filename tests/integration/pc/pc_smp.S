/* SMP start-up the way firmware and OSes do it (MP spec 1.4 §B.4,
 * SDM vol. 3A §8.4.4): the BSP (32-bit protected mode, CPL0, paging off)
 * reads the processor count from CPUID.1 EBX[23:16] and, for each AP
 * 1..n-1, writes the destination to ICR[63:32] and sends INIT, then
 * STARTUP twice with vector PC_SIPI_VECTOR, through its in-kernel LAPIC.
 * Each AP wakes in real mode at PC_TRAMPOLINE, reports its initial APIC id
 * (CPUID.1 EBX[31:24]) to PC_AP_PORT and its x2APIC id (CPUID.0xB EDX) to
 * PC_AP_PORT + 4, counts itself at PC_AP_COUNTER and halts. The BSP waits
 * (bounded) for n-1 APs and writes the count to PC_EXIT_PORT. */
#include "pc_guest.h"

#define ICR_LO 0xfee00300
#define ICR_HI 0xfee00310
#define APIC_SVR 0xfee000f0
#define ICR_INIT    0x00004500   /* INIT, level assert, edge */
#define ICR_STARTUP 0x00004600   /* STARTUP, level assert, edge */
#define ICR_BUSY    (1 << 12)    /* delivery status: send pending */

    .code32
    .section .text.start, "ax"
    .globl _start
_start:
    movl    $0, PC_AP_COUNTER
    movl    $0x1ff, APIC_SVR
    mov     $1, %eax
    xor     %ecx, %ecx
    cpuid
    shr     $16, %ebx
    and     $0xff, %ebx
    mov     %ebx, %esi               /* n */
    mov     $1, %edi                 /* next AP */
next_ap:
    cmp     %esi, %edi
    jae     wait_aps
    mov     $ICR_INIT, %eax
    call    send_ipi
    mov     $(ICR_STARTUP | PC_SIPI_VECTOR), %eax
    call    send_ipi
    mov     $(ICR_STARTUP | PC_SIPI_VECTOR), %eax
    call    send_ipi
    inc     %edi
    jmp     next_ap

wait_aps:
    lea     -1(%esi), %ebx
    mov     $PC_SMP_TIMEOUT, %ecx
1:  cmp     PC_AP_COUNTER, %ebx
    je      done
    dec     %ecx
    jnz     1b
done:
    mov     PC_AP_COUNTER, %eax
    mov     $PC_EXIT_PORT, %dx
    out     %eax, %dx
2:  jmp     2b

/* Sends the IPI in EAX (ICR low) to APIC id EDI, waits until the LAPIC has
 * sent it, then a short pause (the "10 ms"/"200 us" of the spec mean
 * little to a virtual LAPIC, which delivers at once). */
send_ipi:
    mov     %edi, %edx
    shl     $24, %edx
    mov     %edx, ICR_HI
    mov     %eax, ICR_LO
1:  testl   $ICR_BUSY, ICR_LO
    jnz     1b
    mov     $200, %ecx
2:  dec     %ecx
    jnz     2b
    ret

/* The AP's first instructions: real mode, CS = PC_SIPI_VECTOR << 8, IP 0. */
    .balign 4096
    .code16
ap_start:
    cli
    xor     %ax, %ax
    mov     %ax, %ds
    mov     $1, %eax
    xor     %ecx, %ecx
    cpuid
    shr     $24, %ebx
    mov     %ebx, %eax
    mov     $PC_AP_PORT, %dx
    out     %eax, %dx
    mov     $0xb, %eax
    xor     %ecx, %ecx
    cpuid
    mov     %edx, %eax
    mov     $(PC_AP_PORT + 4), %dx
    out     %eax, %dx
    lock incl PC_AP_COUNTER
1:  hlt
    jmp     1b
