/* 32-bit entry of the PVH and Multiboot test kernels: protected mode,
 * paging off, no stack promised (Xen docs/misc/pvh.pandoc; Multiboot 0.6.96
 * §3.2 "Machine state"). Records the entry state, then calls
 * kmain32(&state). Linked at its physical address, so absolute addresses
 * are fine here. */
#include "entry32.h"

#define MSR_EFER 0xc0000080

    .code32
    .section .head.text, "ax"
    .globl start32
start32:
    movl $stack_top, %esp
    pushfl
    popl (state + E32_EFLAGS)
    movl %eax, (state + E32_EAX)
    movl %ebx, (state + E32_EBX)
    call 1f
1:  popl %eax
    subl $(1b - start32), %eax
    movl %eax, (state + E32_ENTRY)
    movw %cs, (state + E32_CS)
    movw %ds, (state + E32_DS)
    movw %es, (state + E32_ES)
    movw %ss, (state + E32_SS)
    movl %cr0, %eax
    movl %eax, (state + E32_CR0)
    movl %cr4, %eax
    movl %eax, (state + E32_CR4)
    movl $MSR_EFER, %ecx
    rdmsr
    movl %eax, (state + E32_EFER)
    sgdtl (state + E32_GDTR)
    movl (state + E32_GDTR_BASE), %ebx
    movzwl (state + E32_CS), %eax
    andl $~7, %eax
    movl (%ebx, %eax), %ecx
    movl %ecx, (state + E32_CS_DESC)
    movl 4(%ebx, %eax), %ecx
    movl %ecx, (state + E32_CS_DESC + 4)
    movzwl (state + E32_DS), %eax
    andl $~7, %eax
    movl (%ebx, %eax), %ecx
    movl %ecx, (state + E32_DS_DESC)
    movl 4(%ebx, %eax), %ecx
    movl %ecx, (state + E32_DS_DESC + 4)
    cld
    pushl $state
    call kmain32
2:  cli
    hlt
    jmp 2b

    /* The PVH kernel's ELF e_entry (like a vmlinux's, which is not its PVH
     * entry either): a loader that jumps here instead of to the
     * XEN_ELFNOTE_PHYS32_ENTRY address ends the VM with code 0xbad1. */
    .globl wrong_entry
wrong_entry:
    movl $0xbad1, %eax
    outl %eax, $0xf4
3:  cli
    hlt
    jmp 3b

    /* Entry state and stack: first in .bss (see the linker scripts), so
     * bss_is_zero() can check everything after them. The selector slots
     * are written 2 bytes at a time, so they start out as zero here: the
     * C code masks them anyway. */
    .section .bss.entry, "aw", @nobits
    .balign 16
    .globl state
state:  .skip E32_SIZE
    .balign 16
stack:  .skip 8192
stack_top:

    .section .note.GNU-stack, "", @progbits
