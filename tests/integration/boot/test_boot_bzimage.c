/* The bzImage test kernel (kernel/bzimage_*.S, bzimage.c) booted through
 * vmm_boot_load(): every fact it reports about its entry state and
 * boot_params is checked against Documentation/arch/x86/boot.rst and what
 * the host knows (the e820 map, the initrd checksum, vmm_boot_info). */
#include "boot_util.h"

#include <stdlib.h>
#include <string.h>

#include <vmm/pc.h>

#define MiB (1ull << 20)

/* Values the test kernel's own setup header carries (bzimage_setup.S). */
#define K_SETUP_SECTS 2
#define K_VERSION 0x020f
#define K_PREF_ADDRESS 0x1000000ull
#define K_KERNEL_ALIGNMENT 0x200000ull
#define K_INITRD_ADDR_MAX 0x7fffffffull
#define K_CMDLINE_SIZE 2047
#define K_XLOADFLAGS 0x3
/* boot.rst "32-bit BOOT PROTOCOL" / "64-bit BOOT PROTOCOL" */
#define BOOT_CS 0x10
#define BOOT_DS 0x18

#define CR0_PE 0x1ull
#define CR0_PG 0x80000000ull
#define CR4_PAE 0x20ull
#define EFER_LME 0x100ull
#define EFER_LMA 0x400ull
#define RFLAGS_IF 0x200ull

static uint8_t *image;
static size_t image_size;

static int setup_image(void **state)
{
    (void)state;
    image = boot_read_file(boot_kernel_path("bzImage"), &image_size);
    return 0;
}

static int free_image(void **state)
{
    (void)state;
    free(image);
    return 0;
}

static uint32_t image_init_size(void)
{
    uint32_t v;
    memcpy(&v, image + 0x260, 4);
    return v;
}

/* Everything the kernel reported, checked. @entry32: which entry ran.
 * @opts: BOOT_NO_* as loaded. */
static void check_bzimage(struct boot_vm *b, const struct vmm_boot_info *info, int entry32,
                          uint32_t opts)
{
    const struct boot_cap *c = b->cap;
    uint64_t init_size = image_init_size();
    uint32_t n = 0;
    struct vmm_e820_entry *map = boot_e820(b->vm, &n);

    assert_int_equal(info->format, VMM_IMAGE_BZIMAGE);
    assert_int_equal(info->protocol_version, K_VERSION);
    boot_expect_str(c, "kernel", "bzimage");

    /* Where it runs: the loader's report, the kernel's own lea, code32_start. */
    uint64_t load = info->kernel_gpa;
    boot_expect(c, "entry_bits", entry32 ? 32 : 64);
    boot_expect(c, "load", load);
    boot_expect(c, "entry", info->entry);
    assert_true(info->entry == (entry32 ? load : load + 0x200));
    boot_expect(c, "bp.code32_start", load);
    assert_true(load % K_KERNEL_ALIGNMENT == 0);
    if (boot_in_ram(map, n, K_PREF_ADDRESS, init_size))
        assert_true(load == K_PREF_ADDRESS); /* boot.rst: pref_address, if possible */
    /* boot.rst (init_size): the kernel runs at align_up(max(load,
     * pref_address), kernel_alignment), so a loader relocates upwards. */
    assert_true(load >= K_PREF_ADDRESS);
    assert_true(info->kernel_end >= load + init_size);
    assert_true(boot_in_ram(map, n, load, init_size));

    /* CPU state at entry. */
    boot_expect(c, "rsi", info->boot_params_gpa);
    assert_true((boot_value(c, "rflags") & RFLAGS_IF) == 0);
    boot_expect(c, "cs", BOOT_CS);
    boot_expect(c, "ds", BOOT_DS);
    boot_expect(c, "es", BOOT_DS);
    boot_expect(c, "ss", BOOT_DS);
    uint64_t cr0 = boot_value(c, "cr0"), efer = boot_value(c, "efer");
    if (entry32) {
        boot_expect(c, "rbx", 0);
        boot_expect(c, "rbp", 0);
        boot_expect(c, "rdi", 0);
        assert_true((cr0 & CR0_PE) && !(cr0 & CR0_PG));
        assert_true((efer & EFER_LMA) == 0);
        boot_expect_flat_desc(boot_value(c, "cs_desc"), 1, 32, "__BOOT_CS");
    } else {
        assert_true((cr0 & CR0_PE) && (cr0 & CR0_PG));
        assert_true((efer & (EFER_LME | EFER_LMA)) == (EFER_LME | EFER_LMA));
        assert_true(boot_value(c, "cr4") & CR4_PAE);
        boot_expect_flat_desc(boot_value(c, "cs_desc"), 1, 64, "__BOOT_CS");
    }
    boot_expect_flat_desc(boot_value(c, "ds_desc"), 0, 0, "__BOOT_DS");

    /* The setup header, copied from 0x1f1 (and only from there: the image's
     * 0xff sentinel at 0x1ef must not reach boot_params). */
    boot_expect(c, "bp.sentinel", 0);
    boot_expect(c, "bp.setup_sects", K_SETUP_SECTS);
    boot_expect(c, "bp.boot_flag", 0xaa55);
    boot_expect(c, "bp.header", 0x53726448);
    boot_expect(c, "bp.version", K_VERSION);
    boot_expect(c, "bp.vid_mode", 0xffff);
    boot_expect(c, "bp.type_of_loader", 0xff); /* no assigned loader id */
    assert_true(boot_value(c, "bp.loadflags") & 0x01); /* LOADED_HIGH */
    boot_expect(c, "bp.initrd_addr_max", K_INITRD_ADDR_MAX);
    uint64_t align = boot_value(c, "bp.kernel_alignment");
    assert_true(align != 0 && (align & (align - 1)) == 0 && load % align == 0);
    boot_expect(c, "bp.relocatable_kernel", 1);
    boot_expect(c, "bp.xloadflags", K_XLOADFLAGS);
    boot_expect(c, "bp.cmdline_size", K_CMDLINE_SIZE);
    boot_expect(c, "bp.hardware_subarch", 0);
    boot_expect(c, "bp.setup_data", 0);
    boot_expect(c, "bp.pref_address", K_PREF_ADDRESS);
    boot_expect(c, "bp.init_size", init_size);

    /* Command line: boot.rst asks for a pointer even without one. */
    uint64_t cmd = boot_value(c, "bp.cmd_line_ptr");
    assert_true(cmd != 0);
    boot_expect(c, "bp.cmd_line_ptr", info->cmdline_gpa);
    const char *want = (opts & BOOT_NO_CMDLINE) ? "" : BOOT_CMDLINE;
    boot_expect_str(c, "cmdline", want);
    assert_true(boot_in_ram(map, n, cmd, strlen(want) + 1));

    /* initrd: where vmm_boot_info says, below initrd_addr_max, intact. */
    uint64_t rd = boot_value(c, "bp.ramdisk_image"), rd_size = boot_value(c, "bp.ramdisk_size");
    if (opts & BOOT_NO_INITRD) {
        assert_true(rd == 0 && rd_size == 0);
        assert_null(boot_get(c, "initrd_fnv"));
    } else {
        /* With modules, the kernel sees them appended to the initrd, each
         * but the last padded to 4 bytes (concatenated cpio archives). */
        size_t want_size = BOOT_INITRD_SIZE;
        uint8_t *want_bytes = (opts & BOOT_MODULES) ? boot_concat_modules(&want_size)
                                                     : malloc(BOOT_INITRD_SIZE);
        assert_non_null(want_bytes);
        if (!(opts & BOOT_MODULES))
            boot_fill_initrd(want_bytes, BOOT_INITRD_SIZE);
        assert_true(rd == info->initrd_gpa && rd_size == want_size &&
                    info->initrd_size == want_size);
        assert_true(rd + rd_size - 1 <= K_INITRD_ADDR_MAX);
        assert_true(boot_in_ram(map, n, rd, rd_size));
        boot_expect(c, "initrd_fnv", boot_fnv1a(want_bytes, want_size));
        free(want_bytes);
        boot_expect_disjoint("initrd", rd, rd_size, "kernel", load, init_size);
        boot_expect_disjoint("initrd", rd, rd_size, "boot_params", info->boot_params_gpa, 4096);
        boot_expect_disjoint("initrd", rd, rd_size, "cmdline", cmd, strlen(want) + 1);
    }
    boot_expect_disjoint("kernel", load, init_size, "boot_params", info->boot_params_gpa, 4096);
    boot_expect_disjoint("kernel", load, init_size, "cmdline", cmd, strlen(want) + 1);
    boot_expect_disjoint("boot_params", info->boot_params_gpa, 4096, "cmdline", cmd,
                         strlen(want) + 1);

    /* The e820 map: exactly the platform's. */
    boot_expect(c, "bp.e820_entries", n);
    for (uint32_t i = 0; i < n; i++) {
        boot_expect_i(c, "e820.", i, "addr", map[i].addr);
        boot_expect_i(c, "e820.", i, "size", map[i].size);
        boot_expect_i(c, "e820.", i, "type", map[i].type);
    }
    free(map);
}

/* Platform NONE with RAM [0, 16 MiB) and [18 MiB, 64 MiB): pref_address
 * (16 MiB) is a hole, so the loader must relocate the kernel to the next
 * kernel_alignment boundary with room for init_size, 18 MiB. */
#define HOLE_AT_PREF 0xffffffffu

static void boot_and_check(uint32_t platform, uint32_t nvcpus, uint64_t ram, uint32_t format,
                           uint32_t flags, uint32_t opts, const char *what)
{
    struct boot_vm b;
    struct vmm_boot_info info;
    struct vmm_exit exit;
    if (platform == HOLE_AT_PREF) {
        boot_vm_new(&b, VMM_PLATFORM_NONE, nvcpus, 16 * MiB);
        void *hva = NULL;
        assert_int_equal(vmm_memory_add_ram(b.vm, 18 * MiB, 46 * MiB, 0, NULL), 0);
        assert_int_equal(vmm_memory_translate(b.vm, 18 * MiB, 46 * MiB, &hva), 0);
        memset(hva, BOOT_GARBAGE, 46 * MiB);
    } else {
        boot_vm_new(&b, platform, nvcpus, ram);
    }
    boot_load(&b, image, image_size, format, flags, opts, &info);
    for (uint32_t i = 1; i < nvcpus; i++)
        boot_expect_reset_state(b.vm, i);
    boot_run_ok(&b, &exit);
    assert_int_equal(exit.vcpu_index, 0);
    check_bzimage(&b, &info, (flags & VMM_BOOT_F_BZIMAGE_ENTRY32) != 0, opts);
    boot_print_stats(&b, what);
    boot_vm_free(&b);
}

static void test_pc_entry64_auto(void **state)
{
    (void)state;
    boot_and_check(VMM_PLATFORM_PC, 1, 64 * MiB, VMM_IMAGE_AUTO, 0, 0, "bzImage, PC, 64-bit entry");
}

static void test_pc_entry64_explicit(void **state)
{
    (void)state;
    boot_and_check(VMM_PLATFORM_PC, 1, 64 * MiB, VMM_IMAGE_BZIMAGE, 0, 0,
                   "bzImage, PC, 64-bit entry, format BZIMAGE");
}

static void test_pc_entry32(void **state)
{
    (void)state;
    boot_and_check(VMM_PLATFORM_PC, 1, 64 * MiB, VMM_IMAGE_BZIMAGE, VMM_BOOT_F_BZIMAGE_ENTRY32, 0,
                   "bzImage, PC, 32-bit entry");
}

/* pref_address (16 MiB) is not RAM: the loader must relocate the kernel
 * (to 18 MiB), which must then still find itself. */
static void test_none_relocated_entry64(void **state)
{
    (void)state;
    boot_and_check(HOLE_AT_PREF, 1, 0, VMM_IMAGE_AUTO, 0, 0,
                   "bzImage, NONE, hole at pref_address (relocated), 64-bit entry");
}

static void test_none_relocated_entry32(void **state)
{
    (void)state;
    boot_and_check(HOLE_AT_PREF, 1, 0, VMM_IMAGE_AUTO, VMM_BOOT_F_BZIMAGE_ENTRY32, 0,
                   "bzImage, NONE, hole at pref_address (relocated), 32-bit entry");
}

static void test_no_initrd_no_cmdline(void **state)
{
    (void)state;
    boot_and_check(VMM_PLATFORM_PC, 1, 64 * MiB, VMM_IMAGE_AUTO, 0,
                   BOOT_NO_INITRD | BOOT_NO_CMDLINE, "bzImage, no initrd, no cmdline");
}

/* An initrd plus two modules: one block at ramdisk_image. */
static void test_modules_appended(void **state)
{
    (void)state;
    boot_and_check(VMM_PLATFORM_PC, 1, 64 * MiB, VMM_IMAGE_AUTO, 0, BOOT_MODULES,
                   "bzImage, initrd + 2 modules");
}

/* Two vCPUs: only vCPU 0 is set up; the other waits for INIT/SIPI. */
static void test_pc_two_vcpus(void **state)
{
    (void)state;
    boot_and_check(VMM_PLATFORM_PC, 2, 64 * MiB, VMM_IMAGE_AUTO, 0, 0, "bzImage, PC, 2 vCPUs");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pc_entry64_auto),
        cmocka_unit_test(test_pc_entry64_explicit),
        cmocka_unit_test(test_pc_entry32),
        cmocka_unit_test(test_none_relocated_entry64),
        cmocka_unit_test(test_none_relocated_entry32),
        cmocka_unit_test(test_no_initrd_no_cmdline),
        cmocka_unit_test(test_modules_appended),
        cmocka_unit_test(test_pc_two_vcpus),
    };
    return cmocka_run_group_tests(tests, setup_image, free_image);
}
