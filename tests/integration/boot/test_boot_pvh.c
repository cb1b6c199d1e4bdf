/* The PVH test kernel (kernel/pvh.c, an ELF64 with 32-bit code and a
 * XEN_ELFNOTE_PHYS32_ENTRY note, plus the same as ELF32) booted through
 * vmm_boot_load(): entry state and hvm_start_info checked against the PVH
 * boot ABI (Xen docs/misc/pvh.pandoc, public/arch-x86/hvm/start_info.h). */
#include "boot_util.h"
#include "pvh_check.h"

#include <stdlib.h>

#include <vmm/pc.h>

#define MiB (1ull << 20)

static void check(struct boot_vm *b, const struct vmm_boot_info *info, const uint8_t *img,
                  size_t size, uint32_t opts)
{
    struct elf_facts elf = elf_facts(img, size);
    check_pvh(b, info, &elf, opts);
}

static void boot_and_check(const char *kernel, uint32_t platform, uint32_t nvcpus, uint64_t ram,
                           uint32_t format, uint32_t opts, const char *what)
{
    boot_kernel_and_check(kernel, platform, nvcpus, ram, format, 0, opts, check, what);
}

static void test_pc_auto(void **state)
{
    (void)state;
    boot_and_check("pvh.elf", VMM_PLATFORM_PC, 1, 64 * MiB, VMM_IMAGE_AUTO, 0, "PVH ELF64, PC");
}

static void test_pc_explicit(void **state)
{
    (void)state;
    boot_and_check("pvh.elf", VMM_PLATFORM_PC, 1, 64 * MiB, VMM_IMAGE_ELF_PVH, 0,
                   "PVH ELF64, PC, format ELF_PVH");
}

static void test_none(void **state)
{
    (void)state;
    boot_and_check("pvh.elf", VMM_PLATFORM_NONE, 1, 32 * MiB, VMM_IMAGE_AUTO, 0,
                   "PVH ELF64, NONE");
}

static void test_elf32(void **state)
{
    (void)state;
    boot_and_check("pvh32.elf", VMM_PLATFORM_PC, 1, 64 * MiB, VMM_IMAGE_AUTO, 0,
                   "PVH ELF32, PC");
}

static void test_no_initrd_no_cmdline(void **state)
{
    (void)state;
    boot_and_check("pvh.elf", VMM_PLATFORM_PC, 1, 64 * MiB, VMM_IMAGE_AUTO,
                   BOOT_NO_INITRD | BOOT_NO_CMDLINE, "PVH, no module, no cmdline");
}

static void test_pc_two_vcpus(void **state)
{
    (void)state;
    boot_and_check("pvh.elf", VMM_PLATFORM_PC, 2, 64 * MiB, VMM_IMAGE_AUTO, 0,
                   "PVH ELF64, PC, 2 vCPUs");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pc_auto),
        cmocka_unit_test(test_pc_explicit),
        cmocka_unit_test(test_none),
        cmocka_unit_test(test_elf32),
        cmocka_unit_test(test_no_initrd_no_cmdline),
        cmocka_unit_test(test_pc_two_vcpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
