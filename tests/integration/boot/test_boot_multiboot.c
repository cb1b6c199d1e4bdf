/* The Multiboot test kernel (kernel/multiboot.c; an ELF32 and a flat image
 * using the a.out kludge) booted through vmm_boot_load(): entry state and
 * the multiboot_info checked against Multiboot 0.6.96 §3.2 and §3.3. */
#include "boot_util.h"

#include <elf.h>
#include <stdlib.h>
#include <string.h>

#include <vmm/pc.h>

#define MiB (1ull << 20)

#define MB_HEADER_MAGIC 0x1badb002u
#define MB_BOOT_MAGIC 0x2badb002ull
#define MB_AOUT_KLUDGE (1u << 16)
/* multiboot_info flags the kernel's header asks for (bits 0 and 1) or that
 * a loader passing a command line and a module must set. */
#define MBI_MEM (1u << 0)
#define MBI_CMDLINE (1u << 2)
#define MBI_MODS (1u << 3)
#define MBI_MMAP (1u << 6)

#define CR0_PE 0x1ull
#define CR0_PG 0x80000000ull
#define EFLAGS_IF 0x200ull
#define EFLAGS_VM 0x20000ull

struct image_facts {
    uint64_t entry, load, end; /* where the loader must put it and enter it */
};

/* From the Multiboot header (a.out kludge) or the ELF32 headers. */
static struct image_facts image_facts(const uint8_t *img, size_t size)
{
    struct image_facts f = { 0, 0, 0 };
    for (size_t off = 0; off + 32 <= size && off < 8192; off += 4) {
        uint32_t h[8];
        memcpy(h, img + off, sizeof h);
        if (h[0] != MB_HEADER_MAGIC || h[0] + h[1] + h[2] != 0)
            continue;
        if (h[1] & MB_AOUT_KLUDGE) {
            /* header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr */
            f.load = h[4];
            f.end = h[6];
            f.entry = h[7];
            return f;
        }
        break;
    }
    assert_true(size > sizeof(Elf32_Ehdr) && memcmp(img, ELFMAG, SELFMAG) == 0 &&
                img[EI_CLASS] == ELFCLASS32);
    const Elf32_Ehdr *e = (const void *)img;
    f.entry = e->e_entry;
    for (unsigned i = 0; i < e->e_phnum; i++) {
        const Elf32_Phdr *p = (const void *)(img + e->e_phoff + i * e->e_phentsize);
        if (p->p_type == PT_LOAD) {
            f.load = p->p_paddr;
            f.end = p->p_paddr + p->p_memsz;
        }
    }
    return f;
}

static void check_multiboot(struct boot_vm *b, const struct vmm_boot_info *info,
                            const struct image_facts *img, uint32_t opts)
{
    const struct boot_cap *c = b->cap;
    uint32_t n = 0;
    struct vmm_e820_entry *map = boot_e820(b->vm, &n);

    assert_int_equal(info->format, VMM_IMAGE_MULTIBOOT);
    boot_expect_str(c, "kernel", "multiboot");
    assert_true(info->entry == img->entry);
    boot_expect(c, "entry", img->entry);
    assert_true(info->kernel_gpa == img->load && info->kernel_end == img->end);
    boot_expect(c, "bss_zero", 1);

    /* §3.2 Machine state */
    boot_expect(c, "eax", MB_BOOT_MAGIC);
    boot_expect(c, "ebx", info->boot_params_gpa);
    uint64_t cr0 = boot_value(c, "cr0");
    assert_true((cr0 & CR0_PE) && !(cr0 & CR0_PG));
    assert_true((boot_value(c, "eflags") & (EFLAGS_IF | EFLAGS_VM)) == 0);
    boot_expect_flat_desc(boot_value(c, "cs_desc"), 1, 32, "CS");
    boot_expect_flat_desc(boot_value(c, "ds_desc"), 0, 0, "DS");

    /* §3.3 Boot information */
    uint64_t mbi = info->boot_params_gpa;
    assert_true(boot_in_ram(map, n, mbi, 88));
    boot_expect_disjoint("multiboot_info", mbi, 88, "kernel", img->load, img->end - img->load);
    uint64_t flags = boot_value(c, "mbi.flags");
    uint64_t want = MBI_MEM | MBI_MMAP | ((opts & BOOT_NO_CMDLINE) ? 0 : MBI_CMDLINE) |
                    ((opts & BOOT_NO_INITRD) ? 0 : MBI_MODS);
    assert_true((flags & want) == want);

    /* mem_lower: KiB from 0; mem_upper: KiB from 1 MiB to the first hole. */
    uint64_t upper = 0, lower = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (map[i].type == VMM_E820_RAM && map[i].addr == 0)
            lower = map[i].size / 1024;
        if (map[i].type == VMM_E820_RAM && map[i].addr == MiB)
            upper = map[i].size / 1024;
    }
    boot_expect(c, "mbi.mem_lower", lower < 640 ? lower : 640);
    boot_expect(c, "mbi.mem_upper", upper);

    if (!(opts & BOOT_NO_CMDLINE)) {
        boot_expect_str(c, "cmdline", BOOT_CMDLINE);
        uint64_t cmd = boot_value(c, "mbi.cmdline");
        assert_true(cmd == info->cmdline_gpa);
        assert_true(boot_in_ram(map, n, cmd, sizeof BOOT_CMDLINE));
        boot_expect_disjoint("cmdline", cmd, sizeof BOOT_CMDLINE, "kernel", img->load,
                             img->end - img->load);
    }

    uint32_t nmods = (opts & BOOT_NO_INITRD) ? 0 : (opts & BOOT_MODULES) ? 1 + BOOT_NUM_MODULES : 1;
    if (flags & MBI_MODS)
        boot_expect(c, "mbi.mods_count", nmods);
    else
        assert_int_equal(nmods, 0);
    const struct vmm_boot_module *extra = boot_modules();
    for (uint32_t i = 0; i < nmods; i++) {
        static uint8_t initrd[BOOT_INITRD_SIZE];
        boot_fill_initrd(initrd, sizeof initrd);
        const void *bytes = i == 0 ? initrd : extra[i - 1].data;
        uint64_t size = i == 0 ? BOOT_INITRD_SIZE : extra[i - 1].size;
        uint64_t start = boot_value_i(c, "mod.", i, "start");
        if (i == 0)
            assert_true(start == info->initrd_gpa && info->initrd_size == BOOT_INITRD_SIZE);
        assert_true(start % 4096 == 0); /* header flag 0: page-aligned modules */
        boot_expect_i(c, "mod.", i, "end", start + size);
        boot_expect_i(c, "mod.", i, "fnv", boot_fnv1a(bytes, size));
        assert_true(boot_in_ram(map, n, start, size));
        boot_expect_disjoint("module", start, size, "kernel", img->load, img->end - img->load);
        boot_expect_disjoint("module", start, size, "multiboot_info", mbi, 88);
        for (uint32_t j = 0; j < i; j++)
            boot_expect_disjoint("module", start, size, "an earlier module",
                                 boot_value_i(c, "mod.", j, "start"),
                                 boot_value_i(c, "mod.", j, "end") -
                                     boot_value_i(c, "mod.", j, "start"));
        /* The module string: "initrd" for the first, else the module's
         * command line ("" without one). */
        char str[64] = { 0 };
        const char *want = i == 0 ? "initrd" : extra[i - 1].cmdline ? extra[i - 1].cmdline : "";
        assert_int_equal(vmm_memory_read(b->vm, boot_value_i(c, "mod.", i, "string"), str,
                                         strlen(want) + 1), 0);
        assert_string_equal(str, want);
    }

    /* The memory map: the platform's e820. Each entry's size field counts
     * the bytes after it (at least 20); mmap_length covers them all. */
    boot_expect(c, "mmap_count", n);
    uint64_t length = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t esize = boot_value_i(c, "mmap.", i, "size");
        assert_true(esize >= 20);
        length += esize + 4;
        boot_expect_i(c, "mmap.", i, "addr", map[i].addr);
        boot_expect_i(c, "mmap.", i, "len", map[i].size);
        boot_expect_i(c, "mmap.", i, "type", map[i].type);
    }
    boot_expect(c, "mbi.mmap_length", length);
    free(map);
}

static void check(struct boot_vm *b, const struct vmm_boot_info *info, const uint8_t *img,
                  size_t size, uint32_t opts)
{
    struct image_facts facts = image_facts(img, size);
    check_multiboot(b, info, &facts, opts);
}

static void boot_and_check(const char *kernel, uint32_t platform, uint32_t nvcpus, uint64_t ram,
                           uint32_t format, uint32_t opts, const char *what)
{
    boot_kernel_and_check(kernel, platform, nvcpus, ram, format, 0, opts, check, what);
}

static void test_elf_pc_auto(void **state)
{
    (void)state;
    boot_and_check("multiboot.elf", VMM_PLATFORM_PC, 1, 64 * MiB, VMM_IMAGE_AUTO, 0,
                   "Multiboot ELF32, PC");
}

static void test_elf_pc_explicit(void **state)
{
    (void)state;
    boot_and_check("multiboot.elf", VMM_PLATFORM_PC, 1, 64 * MiB, VMM_IMAGE_MULTIBOOT, 0,
                   "Multiboot ELF32, PC, format MULTIBOOT");
}

static void test_elf_none(void **state)
{
    (void)state;
    boot_and_check("multiboot.elf", VMM_PLATFORM_NONE, 1, 16 * MiB, VMM_IMAGE_AUTO, 0,
                   "Multiboot ELF32, NONE");
}

static void test_aout_kludge(void **state)
{
    (void)state;
    boot_and_check("multiboot_aout.bin", VMM_PLATFORM_PC, 1, 64 * MiB, VMM_IMAGE_AUTO, 0,
                   "Multiboot a.out kludge, PC");
}

static void test_aout_kludge_explicit_none(void **state)
{
    (void)state;
    boot_and_check("multiboot_aout.bin", VMM_PLATFORM_NONE, 1, 16 * MiB, VMM_IMAGE_MULTIBOOT, 0,
                   "Multiboot a.out kludge, NONE, format MULTIBOOT");
}

static void test_no_module_no_cmdline(void **state)
{
    (void)state;
    boot_and_check("multiboot.elf", VMM_PLATFORM_PC, 1, 64 * MiB, VMM_IMAGE_AUTO,
                   BOOT_NO_INITRD | BOOT_NO_CMDLINE, "Multiboot, no module, no cmdline");
}

static void test_modules(void **state)
{
    (void)state;
    boot_and_check("multiboot.elf", VMM_PLATFORM_PC, 1, 64 * MiB, VMM_IMAGE_AUTO, BOOT_MODULES,
                   "Multiboot ELF32, initrd + 2 modules");
}

static void test_pc_two_vcpus(void **state)
{
    (void)state;
    boot_and_check("multiboot.elf", VMM_PLATFORM_PC, 2, 64 * MiB, VMM_IMAGE_AUTO, 0,
                   "Multiboot ELF32, PC, 2 vCPUs");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_elf_pc_auto),
        cmocka_unit_test(test_elf_pc_explicit),
        cmocka_unit_test(test_elf_none),
        cmocka_unit_test(test_aout_kludge),
        cmocka_unit_test(test_aout_kludge_explicit_none),
        cmocka_unit_test(test_no_module_no_cmdline),
        cmocka_unit_test(test_modules),
        cmocka_unit_test(test_pc_two_vcpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
