/* Protected-mode part of the bzImage test kernel (offset 0 of what follows
 * the setup sectors). Position-independent: the loader may put it at any
 * kernel_alignment-aligned address; it is linked at 0.
 *
 *   +0x000  startup_32: the 32-bit boot protocol entry (boot.rst "32-bit BOOT
 *           PROTOCOL"): records the entry state, builds its own identity map
 *           of the low 4 GiB, enters long mode and joins the C code.
 *   +0x200  startup_64: the 64-bit boot protocol entry (boot.rst "64-bit BOOT
 *           PROTOCOL"): records the entry state and calls the C code on the
 *           loader's page tables.
 *
 * Both fill struct entry_state (bzimage.h) and call kmain(&state). */
#include "bzimage.h"

#define BP_scratch 0x1e4        /* boot_params.scratch (zero-page.rst) */
#define MSR_EFER 0xc0000080

    .section .head.text, "ax"

    .code32
    .globl startup_32
startup_32:
    jmp startup_32_body                 /* changes no register or flag */

    .org 0x200
    .code64
    .globl startup_64
startup_64:
    /* The loader's page tables must map init_size from here (boot.rst), so
     * the stack in .bss is usable at once. */
    leaq stack_top(%rip), %rsp
    pushfq
    leaq state(%rip), %rdi
    .set i, 0
    .rept ES_SIZE / 8
    movq $0, i(%rdi)
    .set i, i + 8
    .endr
    popq ES_RFLAGS(%rdi)
    movq $64, ES_KIND(%rdi)
    movq %rsi, ES_RSI(%rdi)
    movq %rbx, ES_RBX(%rdi)
    movq %rbp, ES_RBP(%rdi)
    leaq startup_64(%rip), %rax
    movq %rax, ES_ENTRY(%rdi)
    movw %cs, ES_CS(%rdi)
    movw %ds, ES_DS(%rdi)
    movw %es, ES_ES(%rdi)
    movw %ss, ES_SS(%rdi)
    movq %cr0, %rax
    movq %rax, ES_CR0(%rdi)
    movq %cr4, %rax
    movq %rax, ES_CR4(%rdi)
    movl $MSR_EFER, %ecx
    rdmsr
    movl %eax, ES_EFER(%rdi)
    sgdtq ES_GDTR(%rdi)
    movq ES_GDTR_BASE(%rdi), %rbx
    movzwl ES_CS(%rdi), %eax
    andl $~7, %eax
    movq (%rbx, %rax), %rcx
    movq %rcx, ES_CS_DESC(%rdi)
    movzwl ES_DS(%rdi), %eax
    andl $~7, %eax
    movq (%rbx, %rax), %rcx
    movq %rcx, ES_DS_DESC(%rdi)
    call kmain
4:  cli
    hlt
    jmp 4b

    .code32
startup_32_body:
    /* Nothing may touch EBX, EBP, EDI or the flags before they are
     * recorded. There is no stack yet: borrow boot_params.scratch for one
     * push, like Linux's own startup_32 does. */
    movl %ebx, %eax
    movl %ebp, %ecx
    movl %edi, %edx
    leal (BP_scratch + 4)(%esi), %esp
    pushfl
    popl %ebx                           /* EFLAGS at entry */
    call 1f
1:  popl %ebp
    subl $(1b - startup_32), %ebp       /* where we really are */

    leal (state - startup_32)(%ebp), %edi
    .set i, 0
    .rept ES_SIZE / 4
    movl $0, i(%edi)
    .set i, i + 4
    .endr
    movl $32, ES_KIND(%edi)
    movl %esi, ES_RSI(%edi)
    movl %ebx, ES_RFLAGS(%edi)
    movl %eax, ES_RBX(%edi)
    movl %ecx, ES_RBP(%edi)
    movl %edx, ES_RDI(%edi)
    movl %ebp, ES_ENTRY(%edi)
    movw %cs, ES_CS(%edi)
    movw %ds, ES_DS(%edi)
    movw %es, ES_ES(%edi)
    movw %ss, ES_SS(%edi)
    movl %cr0, %eax
    movl %eax, ES_CR0(%edi)
    movl %cr4, %eax
    movl %eax, ES_CR4(%edi)
    movl $MSR_EFER, %ecx
    rdmsr
    movl %eax, ES_EFER(%edi)
    sgdtl ES_GDTR(%edi)
    /* The loader's descriptors for CS and DS, read before ours replace them. */
    movl ES_GDTR_BASE(%edi), %ebx
    movzwl ES_CS(%edi), %eax
    andl $~7, %eax
    movl (%ebx, %eax), %ecx
    movl %ecx, ES_CS_DESC(%edi)
    movl 4(%ebx, %eax), %ecx
    movl %ecx, (ES_CS_DESC + 4)(%edi)
    movzwl ES_DS(%edi), %eax
    andl $~7, %eax
    movl (%ebx, %eax), %ecx
    movl %ecx, ES_DS_DESC(%edi)
    movl 4(%ebx, %eax), %ecx
    movl %ecx, (ES_DS_DESC + 4)(%edi)

    leal (stack_top - startup_32)(%ebp), %esp
    cld

    /* Identity-map the 4 GiB the 32-bit protocol can point into, with
     * 2 MiB pages: PML4 -> PDPT -> 4 page directories. */
    leal (pml4 - startup_32)(%ebp), %edi
    xorl %eax, %eax
    movl $(6 * 4096 / 4), %ecx
    rep stosl
    leal (pdpt - startup_32 + 3)(%ebp), %eax
    movl %eax, (pml4 - startup_32)(%ebp)
    leal (pdpt - startup_32)(%ebp), %edi
    leal (pd - startup_32 + 3)(%ebp), %eax
    movl $4, %ecx
2:  movl %eax, (%edi)
    addl $4096, %eax
    addl $8, %edi
    decl %ecx
    jnz 2b
    leal (pd - startup_32)(%ebp), %edi
    movl $0x83, %eax                    /* present, writable, 2 MiB */
    movl $2048, %ecx
3:  movl %eax, (%edi)
    addl $0x200000, %eax
    addl $8, %edi
    decl %ecx
    jnz 3b

    movl %cr4, %eax
    orl $0x20, %eax                     /* PAE */
    movl %eax, %cr4
    leal (pml4 - startup_32)(%ebp), %eax
    movl %eax, %cr3
    movl $MSR_EFER, %ecx
    rdmsr
    orl $0x100, %eax                    /* LME */
    wrmsr

    leal (gdt - startup_32)(%ebp), %eax
    movl %eax, (gdt_desc + 2 - startup_32)(%ebp)
    lgdtl (gdt_desc - startup_32)(%ebp)

    movl %cr0, %eax
    orl $0x80000001, %eax               /* PG (and PE) */
    movl %eax, %cr0

    pushl $0x08
    leal (from32 - startup_32)(%ebp), %eax
    pushl %eax
    lretl

    .code64
from32:
    movl $0x10, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    leaq stack_top(%rip), %rsp
    leaq state(%rip), %rdi
    call kmain
5:  cli
    hlt
    jmp 5b

    .section .rodata
    /* boot.rst "The kernel_info": read-only facts for loaders. */
    .balign 4
    .globl kernel_info
kernel_info:
    .ascii "LToP"
    .long kernel_info_end - kernel_info  /* size (no variable part) */
    .long kernel_info_end - kernel_info  /* size_total */
    .long 0                              /* setup_type_max */
kernel_info_end:

    .data
    .balign 8
gdt:
    .quad 0
    .quad 0x00af9b000000ffff            /* 0x08: 64-bit code */
    .quad 0x00cf93000000ffff            /* 0x10: flat data */
gdt_end:
gdt_desc:
    .word gdt_end - gdt - 1
    .long 0                             /* base, filled in at run time */

    .bss
    .balign 4096
pml4:   .skip 4096
pdpt:   .skip 4096
pd:     .skip 4 * 4096
    .balign 16
    .globl state
state:  .skip ES_SIZE
    .balign 16
stack:  .skip 8192
stack_top:

    .section .note.GNU-stack, "", @progbits
