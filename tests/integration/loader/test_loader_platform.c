/* Every image format on VMs whose RAM does not cover what the loaders need
 * (loader.h: boot data at 0x7000..0x30000, the kernel at 1 MiB or its
 * preferred address): no RAM at all, no low RAM, RAM ending inside the
 * boot-data area, RAM only below 1 MiB, a 2 MiB PC, RAM in two adjacent
 * regions. Each either loads correctly (everything inside RAM, checked
 * against vmm_pc_e820()) or fails with -ENOMEM (loader.h: "the boot data
 * area is not RAM"; never -EFAULT) and a sentence, guest RAM and vCPU 0
 * untouched. */
#include "loader_util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct img g_imgs[5];
static const enum img_kind g_kinds[5] = {IMG_BZIMAGE, IMG_ELF64_PVH, IMG_ELF32_PVH, IMG_MB_ELF,
                                         IMG_MB_AOUT};

static int setup(void **state)
{
    (void)state;
    for (int i = 0; i < 5; i++)
        img_build(&g_imgs[i], g_kinds[i], NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < 5; i++)
        img_free(&g_imgs[i]);
    return 0;
}

#define W_OK_ 0      /* must load */
#define W_NOFIT 1    /* must fail with -ENOMEM */
#define W_EITHER 2   /* loads correctly, or -ENOMEM */

/* Load every image (with and without initrd/command line) on @v. @want[i]
 * per image kind. */
static void all_images(struct lvm *v, const char *layout, const int want[5], int opts)
{
    print_message("%s (platform %s):\n", layout, lvm_platform_name(v));
    for (int i = 0; i < 5; i++) {
        for (int bare = 0; bare < 2; bare++) {
            if (bare && !(opts & 1))
                continue;
            struct vmm_boot_config c = l_cfg(&g_imgs[i], VMM_IMAGE_AUTO);
            if (bare) {
                c.initrd = NULL;
                c.initrd_size = 0;
                c.cmdline = NULL;
            }
            char what[128], msg[512];
            snprintf(what, sizeof what, "%s%s", g_imgs[i].name,
                     bare ? ", no initrd/cmdline" : "");
            int rc = lvm_load(v, &c, NULL, msg, what);
            l_report(what, rc, msg);
            int ok = want[i] == W_OK_ ? rc == 0
                     : want[i] == W_NOFIT ? rc == -ENOMEM
                     : rc == 0 || rc == -ENOMEM;
            if (!ok)
                fail_msg("%s on %s: %s (%s), expected %s", what, layout, l_errname(rc),
                         rc ? msg : "loaded",
                         want[i] == W_OK_ ? "a load" : want[i] == W_NOFIT
                         ? "-ENOMEM" : "a load or -ENOMEM");
        }
    }
}

static void test_no_ram(void **state)
{
    (void)state;
    struct lvm v;
    lvm_new_regions(&v, VMM_PLATFORM_NONE, NULL, 0);
    const int want[5] = {W_NOFIT, W_NOFIT, W_NOFIT, W_NOFIT, W_NOFIT};
    all_images(&v, "no RAM at all", want, 1);
    lvm_free(&v);
}

static void test_no_low_ram(void **state)
{
    (void)state;
    static const uint64_t r[][2] = {{1 * MiB, 4 * MiB}};
    const int want[5] = {W_NOFIT, W_NOFIT, W_NOFIT, W_NOFIT, W_NOFIT};
    struct lvm v;
    lvm_new_regions(&v, VMM_PLATFORM_NONE, r, 1);
    all_images(&v, "RAM [1 MiB, 5 MiB) only: no boot-data area", want, 1);
    lvm_free(&v);
}

static void test_low_ram_ends_at_tables(void **state)
{
    (void)state;
    /* boot structure at 0x7000 and memory map at 0x8000 fit; the GDT and
     * page tables at 0x10000 do not */
    static const uint64_t r[][2] = {{0, 0x10000}, {1 * MiB, 4 * MiB}};
    const int want[5] = {W_NOFIT, W_NOFIT, W_NOFIT, W_NOFIT, W_NOFIT};
    struct lvm v;
    lvm_new_regions(&v, VMM_PLATFORM_NONE, r, 2);
    all_images(&v, "RAM [0, 0x10000) + [1 MiB, 5 MiB)", want, 1);
    lvm_free(&v);
}

static void test_low_ram_ends_at_cmdline(void **state)
{
    (void)state;
    /* everything but the command line area at 0x20000 */
    static const uint64_t r[][2] = {{0, 0x20000}, {1 * MiB, 4 * MiB}};
    const int want[5] = {W_EITHER, W_EITHER, W_EITHER, W_EITHER, W_EITHER};
    struct lvm v;
    lvm_new_regions(&v, VMM_PLATFORM_NONE, r, 2);
    all_images(&v, "RAM [0, 0x20000) + [1 MiB, 5 MiB) (no command-line area)", want, 1);
    /* with a command line, it cannot fit */
    const int nofit[5] = {W_NOFIT, W_NOFIT, W_NOFIT, W_NOFIT, W_NOFIT};
    all_images(&v, "  the same, with a command line", nofit, 0);
    lvm_free(&v);
}

static void test_exact_boot_area(void **state)
{
    (void)state;
    static const uint64_t r[][2] = {{0, 0x30000}, {1 * MiB, 4 * MiB}};
    const int want[5] = {W_OK_, W_OK_, W_OK_, W_OK_, W_OK_};
    struct lvm v;
    lvm_new_regions(&v, VMM_PLATFORM_NONE, r, 2);
    all_images(&v, "RAM [0, 0x30000) + [1 MiB, 5 MiB): just the boot-data area", want, 1);
    lvm_free(&v);
}

static void test_only_below_1mib(void **state)
{
    (void)state;
    static const uint64_t r[][2] = {{0, 0xa0000}};
    const int want[5] = {W_NOFIT, W_NOFIT, W_NOFIT, W_NOFIT, W_NOFIT};
    struct lvm v;
    lvm_new_regions(&v, VMM_PLATFORM_NONE, r, 1);
    all_images(&v, "RAM [0, 640 KiB) only", want, 1);
    lvm_free(&v);
}

static void test_pc_2mib(void **state)
{
    (void)state;
    /* bzImage: 2 MiB-aligned with 1 MiB init_size needs 3 MiB; the ELF
     * kernels at 1 MiB fit, their initrd below 2 MiB too; the a.out image
     * is linked at 2 MiB. */
    const int want[5] = {W_NOFIT, W_OK_, W_OK_, W_OK_, W_NOFIT};
    struct lvm v;
    lvm_new(&v, VMM_PLATFORM_PC, 2 * MiB);
    all_images(&v, "PC with 2 MiB", want, 1);
    lvm_free(&v);
}

static void test_both_platforms(void **state)
{
    (void)state;
    const int want[5] = {W_OK_, W_OK_, W_OK_, W_OK_, W_OK_};
    struct lvm v;
    lvm_new(&v, VMM_PLATFORM_PC, L_RAM);
    all_images(&v, "PC, 4 MiB (vmm_pc_add_ram)", want, 1);
    lvm_free(&v);
    lvm_new(&v, VMM_PLATFORM_NONE, L_RAM);
    all_images(&v, "NONE, 4 MiB at 0", want, 1);
    lvm_free(&v);
}

static void test_two_adjacent_regions(void **state)
{
    (void)state;
    /* e820 merges them into one RAM range; a loader may place an initrd
     * across the boundary (it must then be intact) or refuse. */
    static const uint64_t r[][2] = {{0, 2 * MiB}, {2 * MiB, 2 * MiB}};
    struct lvm v;
    lvm_new_regions(&v, VMM_PLATFORM_NONE, r, 2);
    print_message("RAM [0, 2 MiB) + [2 MiB, 4 MiB) as two regions:\n");
    const int want[5] = {W_OK_, W_OK_, W_OK_, W_OK_, W_OK_};
    all_images(&v, "two adjacent regions, small initrd", want, 1);
    uint8_t *big = l_bytes(2560 * KiB, 99);
    for (int i = 1; i < 4; i++) {
        struct vmm_boot_config c = l_cfg(&g_imgs[i], VMM_IMAGE_AUTO);
        c.initrd = big;
        c.initrd_size = 2560 * KiB;
        char what[96], msg[512];
        snprintf(what, sizeof what, "%s, 2.5 MiB initrd (only fits across the boundary)",
                 g_imgs[i].name);
        int rc = lvm_load(&v, &c, NULL, msg, what);
        l_report(what, rc, msg);
        l_expect(what, rc, msg, R_ANY, 0, NULL);
    }
    free(big);
    lvm_free(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_both_platforms, l_teardown),
        cmocka_unit_test_teardown(test_no_ram, l_teardown),
        cmocka_unit_test_teardown(test_no_low_ram, l_teardown),
        cmocka_unit_test_teardown(test_low_ram_ends_at_tables, l_teardown),
        cmocka_unit_test_teardown(test_low_ram_ends_at_cmdline, l_teardown),
        cmocka_unit_test_teardown(test_exact_boot_area, l_teardown),
        cmocka_unit_test_teardown(test_only_below_1mib, l_teardown),
        cmocka_unit_test_teardown(test_pc_2mib, l_teardown),
        cmocka_unit_test_teardown(test_two_adjacent_regions, l_teardown),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
