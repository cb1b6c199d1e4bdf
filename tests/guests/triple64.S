/* 64-bit long mode, CPL0. Loads an IDT with limit 0 and executes UD2: the
 * #UD cannot be delivered (#GP), nor can that (#DF), so the CPU shuts down
 * (triple fault) and KVM reports KVM_EXIT_SHUTDOWN. Verified on the nested
 * hosts used here; in real mode the same sequence hangs inside KVM_RUN, so
 * this guest must run in long mode. */
    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    lidt    idtr(%rip)
    ud2
1:  jmp     1b
    .balign 8
idtr: .word 0
      .quad 0
