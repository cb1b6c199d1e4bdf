/* The ELF note that makes this a PVH kernel (Xen public/elfnote.h):
 * XEN_ELFNOTE_PHYS32_ENTRY (18), name "Xen", a 32-bit physical entry
 * address, as Linux's arch/x86/platform/pvh/head.S emits it. */
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
