/* State recorded by head32.S at the 32-bit entry of the PVH and Multiboot
 * test kernels (offsets shared with the assembly). */
#ifndef BOOT_KERNEL_ENTRY32_H
#define BOOT_KERNEL_ENTRY32_H

#define E32_EAX 0
#define E32_EBX 4
#define E32_EFLAGS 8
#define E32_ENTRY 12     /* address the entry code really ran at */
#define E32_CS 16
#define E32_DS 20
#define E32_ES 24
#define E32_SS 28
#define E32_CR0 32
#define E32_CR4 36
#define E32_EFER 40
#define E32_GDTR 44      /* limit (2 bytes), base (4 bytes) */
#define E32_GDTR_BASE 46
#define E32_CS_DESC 56
#define E32_DS_DESC 64
#define E32_SIZE 72

#ifndef __ASSEMBLER__
#include <stdint.h>

struct entry32_state {
    uint32_t eax, ebx, eflags, entry;
    uint32_t cs, ds, es, ss;
    uint32_t cr0, cr4, efer;
    uint16_t gdt_limit;
    uint8_t gdt_base[4];
    uint8_t pad[6];
    uint32_t cs_desc[2], ds_desc[2];
};
_Static_assert(sizeof(struct entry32_state) == E32_SIZE, "entry32_state layout");
_Static_assert(__builtin_offsetof(struct entry32_state, cs_desc) == E32_CS_DESC, "cs_desc");

/* Reports the common entry lines (eflags, selectors, control registers,
 * the loader's CS/DS descriptors, entry address). */
void r_entry32(const struct entry32_state *st);
/* 1 if .bss (after the entry state and stack) is all zero, as the ELF /
 * a.out-kludge loader must leave it. */
int bss_is_zero(void);
/* Little-endian reads of guest memory below 4 GiB (paging is off). */
uint32_t rd32(uint64_t addr);
uint64_t rd64(uint64_t addr);
static inline const void *phys(uint64_t addr)
{
    return (const void *)(uintptr_t)addr;
}

void kmain32(struct entry32_state *st);
#endif

#endif
