/* 32-bit PVH entry of the vdrv test kernel (Xen docs/misc/pvh.pandoc):
 * protected mode, paging off, %ebx = hvm_start_info, no stack promised.
 * Adapted from tests/integration/boot/kernel/head32.S. */
    .code32
    .section .head.text, "ax"
    .globl start32
start32:
    movl $stack_top, %esp
    cld
    pushl %ebx
    call vkmain
1:  cli
    hlt
    jmp 1b

    .section .bss.stack, "aw", @nobits
    .balign 16
stack:  .skip 16384
stack_top:

    .section .note.GNU-stack, "", @progbits
