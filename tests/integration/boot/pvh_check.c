/* See pvh_check.h. */
#include "pvh_check.h"

#include <elf.h>
#include <stdlib.h>
#include <string.h>

#include <vmm/pc.h>

#define CR0_PE 0x1ull
#define CR0_PG 0x80000000ull
#define EFLAGS_TF 0x100ull
#define EFLAGS_IF 0x200ull
#define EFLAGS_VM 0x20000ull

struct elf_facts elf_facts(const uint8_t *img, size_t size)
{
    struct elf_facts f = { 0, 0, 0 };
    assert_true(size > sizeof(Elf64_Ehdr) && memcmp(img, ELFMAG, SELFMAG) == 0);
    if (img[EI_CLASS] == ELFCLASS64) {
        const Elf64_Ehdr *e = (const void *)img;
        f.entry = e->e_entry;
        for (unsigned i = 0; i < e->e_phnum; i++) {
            const Elf64_Phdr *p = (const void *)(img + e->e_phoff + i * e->e_phentsize);
            if (p->p_type == PT_LOAD) {
                f.paddr = p->p_paddr;
                f.memsz = p->p_memsz;
            }
        }
    } else {
        const Elf32_Ehdr *e = (const void *)img;
        f.entry = e->e_entry;
        for (unsigned i = 0; i < e->e_phnum; i++) {
            const Elf32_Phdr *p = (const void *)(img + e->e_phoff + i * e->e_phentsize);
            if (p->p_type == PT_LOAD) {
                f.paddr = p->p_paddr;
                f.memsz = p->p_memsz;
            }
        }
    }
    return f;
}

void check_pvh(struct boot_vm *b, const struct vmm_boot_info *info, const struct elf_facts *elf,
               uint32_t opts)
{
    const struct boot_cap *c = b->cap;
    uint32_t n = 0;
    struct vmm_e820_entry *map = boot_e820(b->vm, &n);

    assert_int_equal(info->format, VMM_IMAGE_ELF_PVH);
    boot_expect_str(c, "kernel", "pvh");

    /* Entered at the note's address, not e_entry; loaded at p_paddr. */
    assert_true(elf->entry != PVH_ENTRY);
    assert_true(info->entry == PVH_ENTRY);
    boot_expect(c, "entry", PVH_ENTRY);
    assert_true(info->kernel_gpa == elf->paddr && info->kernel_end == elf->paddr + elf->memsz);
    boot_expect(c, "bss_zero", 1); /* p_memsz beyond p_filesz zeroed */

    /* pvh.pandoc: 32-bit protected mode, paging off, cr4 clear, flat
     * segments, IF/TF/VM clear, EBX = start info. */
    uint64_t cr0 = boot_value(c, "cr0"), eflags = boot_value(c, "eflags");
    assert_true((cr0 & CR0_PE) && !(cr0 & CR0_PG));
    boot_expect(c, "cr4", 0);
    assert_true((boot_value(c, "efer") & 0x400) == 0);
    assert_true((eflags & (EFLAGS_IF | EFLAGS_TF | EFLAGS_VM)) == 0);
    boot_expect_flat_desc(boot_value(c, "cs_desc"), 1, 32, "CS");
    boot_expect_flat_desc(boot_value(c, "ds_desc"), 0, 0, "DS");
    boot_expect(c, "ebx", info->boot_params_gpa);

    /* hvm_start_info */
    uint64_t si = info->boot_params_gpa;
    boot_expect(c, "si.magic", HVM_START_MAGIC);
    boot_expect(c, "si.version", 1);
    boot_expect(c, "si.flags", 0);
    assert_true(boot_in_ram(map, n, si, 56));

    uint64_t cmd = boot_value(c, "si.cmdline_paddr");
    assert_true(cmd == info->cmdline_gpa);
    if (opts & BOOT_NO_CMDLINE) {
        if (cmd != 0)
            boot_expect_str(c, "cmdline", "");
    } else {
        boot_expect_str(c, "cmdline", BOOT_CMDLINE);
        assert_true(boot_in_ram(map, n, cmd, sizeof BOOT_CMDLINE));
        boot_expect_disjoint("cmdline", cmd, sizeof BOOT_CMDLINE, "start info", si, 56);
        boot_expect_disjoint("cmdline", cmd, sizeof BOOT_CMDLINE, "kernel", elf->paddr,
                             elf->memsz);
    }

    if (opts & BOOT_NO_INITRD) {
        boot_expect(c, "si.nr_modules", 0);
    } else {
        static uint8_t initrd[BOOT_INITRD_SIZE];
        boot_fill_initrd(initrd, sizeof initrd);
        boot_expect(c, "si.nr_modules", 1);
        uint64_t mod = boot_value_i(c, "mod.", 0, "paddr");
        assert_true(mod == info->initrd_gpa && info->initrd_size == BOOT_INITRD_SIZE);
        boot_expect_i(c, "mod.", 0, "size", BOOT_INITRD_SIZE);
        boot_expect_i(c, "mod.", 0, "fnv", boot_fnv1a(initrd, sizeof initrd));
        assert_true(boot_in_ram(map, n, mod, BOOT_INITRD_SIZE));
        assert_true(boot_in_ram(map, n, boot_value(c, "si.modlist_paddr"), 32));
        boot_expect_disjoint("initrd", mod, BOOT_INITRD_SIZE, "kernel", elf->paddr, elf->memsz);
        boot_expect_disjoint("initrd", mod, BOOT_INITRD_SIZE, "start info", si, 56);
    }
    boot_expect_disjoint("kernel", elf->paddr, elf->memsz, "start info", si, 56);

    /* The memory map (version 1): exactly the platform's e820. */
    boot_expect(c, "si.memmap_entries", n);
    assert_true(boot_in_ram(map, n, boot_value(c, "si.memmap_paddr"), 24ull * n));
    for (uint32_t i = 0; i < n; i++) {
        boot_expect_i(c, "memmap.", i, "addr", map[i].addr);
        boot_expect_i(c, "memmap.", i, "size", map[i].size);
        boot_expect_i(c, "memmap.", i, "type", map[i].type);
    }
    free(map);
}
