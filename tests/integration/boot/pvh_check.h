/* The PVH test kernel's report (kernel/pvh.c), checked against the PVH boot
 * ABI (Xen docs/misc/pvh.pandoc, public/arch-x86/hvm/start_info.h) and what
 * the host knows: shared by test_boot_pvh.c (pvh.elf, pvh32.elf loaded as
 * they are) and test_boot_extract.c (pvh.elf extracted from a bzImage). */
#ifndef PVH_CHECK_H
#define PVH_CHECK_H

#include "boot_util.h"

/* The note's address: start32, first in the image at LOAD_ADDR (meson.build). */
#define PVH_ENTRY 0x1000000ull
#define HVM_START_MAGIC 0x336ec578ull

struct elf_facts {
    uint64_t entry;     /* e_entry */
    uint64_t paddr;     /* the one PT_LOAD */
    uint64_t memsz;
};

/* The few ELF facts the checks need (the images are ours: trusted here). */
struct elf_facts elf_facts(const uint8_t *img, size_t size);

/* Everything the kernel reported, checked: format ELF_PVH, entry at the
 * note, p_memsz zeroed, CPU state, hvm_start_info, command line and module
 * (as boot_load() passed them; @opts: BOOT_NO_*), the memory map. */
void check_pvh(struct boot_vm *b, const struct vmm_boot_info *info, const struct elf_facts *elf,
               uint32_t opts);

#endif
