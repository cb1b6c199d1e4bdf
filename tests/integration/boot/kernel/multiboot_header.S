/* Multiboot 0.6.96 header (§3.1.1): in the first 8 KiB of the image,
 * 32-bit aligned. Flags: bit 0 (modules page-aligned) and bit 1 (memory
 * information wanted); with MB_AOUT also bit 16, the "a.out kludge"
 * address fields (§3.1.3), which the loader must then use instead of any
 * ELF headers: this variant is linked as a flat binary. */
#define MB_MAGIC 0x1badb002
#define MB_PAGE_ALIGN (1 << 0)
#define MB_MEMORY_INFO (1 << 1)
#define MB_AOUT_KLUDGE (1 << 16)
#ifdef MB_AOUT
#define MB_FLAGS (MB_PAGE_ALIGN | MB_MEMORY_INFO | MB_AOUT_KLUDGE)
#else
#define MB_FLAGS (MB_PAGE_ALIGN | MB_MEMORY_INFO)
#endif

    .section .multiboot, "a"
    .balign 4
mb_header:
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)
#ifdef MB_AOUT
    .long mb_header                 /* header_addr */
    .long _image_start              /* load_addr */
    .long _data_end                 /* load_end_addr */
    .long _bss_end                  /* bss_end_addr */
    .long start32                   /* entry_addr */
#endif

    .section .note.GNU-stack, "", @progbits
