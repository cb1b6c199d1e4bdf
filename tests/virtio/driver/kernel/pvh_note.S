/* XEN_ELFNOTE_PHYS32_ENTRY (18), name "Xen", the 32-bit physical entry
 * address (Xen public/elfnote.h), as in tests/integration/boot/kernel. */
#define XEN_ELFNOTE_PHYS32_ENTRY 18

    .section .note.Xen, "a", @note
    .balign 4
    .long 2f - 1f                   /* namesz */
    .long 4f - 3f                   /* descsz */
    .long XEN_ELFNOTE_PHYS32_ENTRY  /* type */
1:  .asciz "Xen"
2:  .balign 4
3:  .long start32
4:  .balign 4

    .section .note.GNU-stack, "", @progbits
