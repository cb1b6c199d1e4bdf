/* What the bzImage test kernel's entry code records (bzimage_head.S) for
 * the C code (bzimage.c): offsets shared by both. */
#ifndef BOOT_KERNEL_BZIMAGE_H
#define BOOT_KERNEL_BZIMAGE_H

#define ES_KIND 0          /* 32 or 64: which entry ran */
#define ES_RSI 8           /* boot_params pointer */
#define ES_RFLAGS 16
#define ES_RBX 24          /* 32-bit entry: must be 0 */
#define ES_RBP 32          /* 32-bit entry: must be 0 */
#define ES_RDI 40          /* 32-bit entry: must be 0 */
#define ES_ENTRY 48        /* address of the entry that ran */
#define ES_CS 56
#define ES_DS 64
#define ES_ES 72
#define ES_SS 80
#define ES_CR0 88
#define ES_CR4 96
#define ES_EFER 104
#define ES_GDTR 112        /* limit (2 bytes), then base */
#define ES_GDTR_BASE 114
#define ES_CS_DESC 128     /* the loader's GDT entry for CS */
#define ES_DS_DESC 136     /* ... and for DS */
#define ES_SIZE 144

#ifndef __ASSEMBLER__
#include <stdint.h>

struct entry_state {
    uint64_t kind, rsi, rflags, rbx, rbp, rdi, entry;
    uint64_t cs, ds, es, ss, cr0, cr4, efer;
    uint16_t gdt_limit;
    uint8_t gdt_base[8];   /* unaligned: read bytewise */
    uint8_t pad[6];
    uint64_t cs_desc, ds_desc;
};
_Static_assert(sizeof(struct entry_state) == ES_SIZE, "entry_state layout");
_Static_assert(__builtin_offsetof(struct entry_state, gdt_limit) == ES_GDTR, "gdtr");
_Static_assert(__builtin_offsetof(struct entry_state, cs_desc) == ES_CS_DESC, "cs_desc");
#endif

#endif
