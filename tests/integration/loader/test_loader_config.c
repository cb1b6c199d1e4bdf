/* Hostile configurations for vmm_boot_load(): every struct vmm_boot_config
 * and vmm_boot_info field the caller can get wrong gives -EINVAL naming
 * the field (or -ENOMEM when it cannot fit), before anything is written;
 * RAW images; command lines longer than the boot-data area; a load while
 * vCPU 0 runs (-EBUSY); and a failed load after a successful one keeps
 * that load intact. */
#include "loader_util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct img g_bz, g_pvh, g_mb;

static int setup(void **state)
{
    (void)state;
    img_build(&g_bz, IMG_BZIMAGE, NULL);
    img_build(&g_pvh, IMG_ELF64_PVH, NULL);
    img_build(&g_mb, IMG_MB_ELF, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    img_free(&g_bz);
    img_free(&g_pvh);
    img_free(&g_mb);
    return 0;
}

static int expect_load(struct lvm *v, const struct vmm_boot_config *cfg, int want, int want2,
                       const char *fields, const char *what)
{
    char msg[512];
    int rc = lvm_load(v, cfg, NULL, msg, what);
    l_report(what, rc, msg);
    l_expect(what, rc, msg, want, want2, fields);
    return rc;
}

static void config_cases(uint32_t platform)
{
    struct lvm v;
    lvm_new(&v, platform, L_RAM);
    print_message("struct vmm_boot_config on platform %s:\n", lvm_platform_name(&v));
    struct vmm_boot_config c;

    c = l_cfg(&g_bz, VMM_IMAGE_AUTO);
    expect_load(&v, &c, 0, 0, NULL, "valid config (baseline)");

    c.struct_size = 0;
    expect_load(&v, &c, -EINVAL, 0, "struct_size", "struct_size 0");
    c.struct_size = 4;
    expect_load(&v, &c, -EINVAL, 0, "struct_size", "struct_size 4");
    c.struct_size = sizeof c - 8;
    expect_load(&v, &c, -EINVAL, 0, "struct_size", "struct_size sizeof - 8");
    c.struct_size = 0xffffffffu;
    expect_load(&v, &c, -EINVAL, 0, "struct_size", "struct_size 0xffffffff");

    /* A caller compiled against a later, longer struct. */
    struct {
        struct vmm_boot_config c;
        uint64_t later[2];
    } big;
    memset(&big, 0, sizeof big);
    big.c = l_cfg(&g_bz, VMM_IMAGE_AUTO);
    big.c.struct_size = sizeof big;
    expect_load(&v, &big.c, R_ANY, 0, NULL, "struct_size sizeof + 16, zero tail");
    big.later[1] = 1;
    expect_load(&v, &big.c, -EINVAL, 0, "struct_size|fields",
                "struct_size sizeof + 16, non-zero tail (a field this version lacks)");

    c = l_cfg(&g_bz, VMM_IMAGE_AUTO);
    c.flags = 1u << 2;
    expect_load(&v, &c, -EINVAL, 0, "flags", "flags bit 2 (unknown)");
    c.flags = 1u << 31;
    expect_load(&v, &c, -EINVAL, 0, "flags", "flags bit 31 (unknown)");

    c = l_cfg(&g_bz, VMM_IMAGE_AUTO);
    c.reserved0 = 1;
    expect_load(&v, &c, -EINVAL, 0, "reserved0", "reserved0 1");
    c = l_cfg(&g_bz, VMM_IMAGE_AUTO);
    c.reserved1 = 0x80000000u;
    expect_load(&v, &c, -EINVAL, 0, "reserved1", "reserved1 0x80000000");

    c = l_cfg(&g_bz, 5);
    expect_load(&v, &c, -EINVAL, 0, "format", "format 5 (unknown)");
    c = l_cfg(&g_bz, 0xffffffffu);
    expect_load(&v, &c, -EINVAL, 0, "format", "format 0xffffffff");

    c = l_cfg(&g_bz, VMM_IMAGE_AUTO);
    c.kernel = NULL;
    expect_load(&v, &c, -EINVAL, 0, "kernel", "kernel NULL, kernel_size 2048");
    c.kernel_size = 0;
    expect_load(&v, &c, -EINVAL, 0, "kernel|kernel_size", "kernel NULL, kernel_size 0");
    c = l_cfg(&g_bz, VMM_IMAGE_AUTO);
    c.kernel_size = 0;
    expect_load(&v, &c, -EINVAL, 0, "kernel_size", "kernel_size 0");

    c = l_cfg(&g_bz, VMM_IMAGE_AUTO);
    c.initrd = NULL;
    expect_load(&v, &c, -EINVAL, 0, "initrd|initrd_size", "initrd NULL, initrd_size 4219");
    c = l_cfg(&g_bz, VMM_IMAGE_AUTO);
    c.initrd_size = 0;
    expect_load(&v, &c, R_ANY, 0, NULL, "initrd non-NULL, initrd_size 0");

    /* Wrong format for the bytes: the parser of that format refuses. */
    c = l_cfg(&g_bz, VMM_IMAGE_ELF_PVH);
    expect_load(&v, &c, -ENOEXEC, 0, NULL, "a bzImage as ELF_PVH");
    c = l_cfg(&g_bz, VMM_IMAGE_MULTIBOOT);
    expect_load(&v, &c, -ENOEXEC, 0, NULL, "a bzImage as MULTIBOOT");
    c = l_cfg(&g_pvh, VMM_IMAGE_BZIMAGE);
    expect_load(&v, &c, -ENOEXEC, 0, NULL, "an ELF as BZIMAGE");
    c = l_cfg(&g_pvh, VMM_IMAGE_MULTIBOOT);
    expect_load(&v, &c, -ENOEXEC, 0, NULL, "a PVH ELF without Multiboot header as MULTIBOOT");
    c = l_cfg(&g_mb, VMM_IMAGE_ELF_PVH);
    expect_load(&v, &c, -ENOEXEC, 0, NULL, "a Multiboot ELF (no PVH note) as ELF_PVH");
    uint8_t junk[4096];
    memset(junk, 0x5a, sizeof junk);
    c = l_cfg(&g_bz, VMM_IMAGE_AUTO);
    c.kernel = junk;
    c.kernel_size = sizeof junk;
    expect_load(&v, &c, -ENOEXEC, 0, NULL, "4 KiB of 0x5a, AUTO");
    c.kernel_size = 1;
    expect_load(&v, &c, -ENOEXEC, 0, NULL, "1 byte, AUTO");

    /* The flag word of the bzImage loader on other formats. */
    c = l_cfg(&g_pvh, VMM_IMAGE_ELF_PVH);
    c.flags = VMM_BOOT_F_BZIMAGE_ENTRY32;
    expect_load(&v, &c, R_ANY, 0, NULL, "ELF_PVH with VMM_BOOT_F_BZIMAGE_ENTRY32");

    /* A kernel "file" bigger than RAM: real bytes (the bzImage, then zeros). */
    size_t huge = 2 * L_RAM;
    uint8_t *hk = calloc(1, huge);
    assert_non_null(hk);
    memcpy(hk, g_bz.buf, g_bz.size);
    c = l_cfg(&g_bz, VMM_IMAGE_AUTO);
    c.kernel = hk;
    c.kernel_size = huge;
    expect_load(&v, &c, -ENOMEM, -ENOEXEC, NULL, "bzImage + zeros, 8 MiB (RAM is 4 MiB)");
    free(hk);
    /* An initrd bigger than RAM. */
    uint8_t *hi = calloc(1, L_RAM + 4096);
    assert_non_null(hi);
    c = l_cfg(&g_pvh, VMM_IMAGE_AUTO);
    c.initrd = hi;
    c.initrd_size = L_RAM + 4096;
    expect_load(&v, &c, -ENOMEM, 0, "initrd|initrd_size", "PVH, initrd of RAM + 4 KiB");
    c = l_cfg(&g_mb, VMM_IMAGE_AUTO);
    c.initrd = hi;
    c.initrd_size = L_RAM + 4096;
    expect_load(&v, &c, -ENOMEM, 0, "initrd|initrd_size", "Multiboot, module of RAM + 4 KiB");
    free(hi);

    lvm_free(&v);
}

static void test_config_pc(void **state)
{
    (void)state;
    config_cases(VMM_PLATFORM_PC);
}

static void test_config_none(void **state)
{
    (void)state;
    config_cases(VMM_PLATFORM_NONE);
}

/* NULL arguments and struct vmm_boot_info. */
static void test_null_and_info(void **state)
{
    (void)state;
    struct lvm v;
    struct lvm_mark m;
    char msg[512];
    lvm_new(&v, VMM_PLATFORM_NONE, L_RAM);
    struct vmm_boot_config c = l_cfg(&g_bz, VMM_IMAGE_AUTO);
    struct vmm_boot_info info;

    lvm_mark(&v, &m, 1);
    int rc = vmm_boot_load(NULL, &c, NULL);
    snprintf(msg, sizeof msg, "%s", vmm_last_error());
    l_report("vm NULL", rc, msg);
    l_expect("vm NULL", rc, msg, -EINVAL, 0, NULL);
    lvm_expect_unchanged(&v, &m, rc, msg, "vm NULL");

    lvm_mark(&v, &m, 1);
    rc = vmm_boot_load(v.vm, NULL, &info);
    snprintf(msg, sizeof msg, "%s", vmm_last_error());
    l_report("cfg NULL", rc, msg);
    l_expect("cfg NULL", rc, msg, -EINVAL, 0, NULL);
    lvm_expect_unchanged(&v, &m, rc, msg, "cfg NULL");

    /* info NULL is allowed */
    lvm_mark(&v, &m, 1);
    rc = vmm_boot_load(v.vm, &c, NULL);
    l_expect("info NULL", rc, vmm_last_error(), 0, 0, NULL);
    lvm_restore(&v);

    /* info->struct_size 0: refused before anything is written */
    memset(&info, 0, sizeof info);
    lvm_mark(&v, &m, 1);
    rc = vmm_boot_load(v.vm, &c, &info);
    snprintf(msg, sizeof msg, "%s", vmm_last_error());
    l_report("info.struct_size 0", rc, msg);
    if (rc == 0) {
        lvm_restore(&v);
        fail_msg("info.struct_size 0 was accepted (loader.h: \"else its struct_size must be "
                 "set\")");
    }
    l_expect("info.struct_size 0", rc, msg, -EINVAL, 0, "struct_size");
    lvm_expect_unchanged(&v, &m, rc, msg, "info.struct_size 0");

    /* A shorter (older) info: nothing past its struct_size is written. */
    uint8_t buf[sizeof info + 64];
    for (unsigned short_size = 4; short_size < sizeof info; short_size += 4) {
        memset(buf, 0xcc, sizeof buf);
        uint32_t ss = short_size;
        memcpy(buf, &ss, 4);
        lvm_mark(&v, &m, 1);
        rc = vmm_boot_load(v.vm, &c, (struct vmm_boot_info *)(void *)buf);
        snprintf(msg, sizeof msg, "%s", vmm_last_error());
        char what[64];
        snprintf(what, sizeof what, "info.struct_size %u", short_size);
        if (rc == 0)
            lvm_restore(&v);
        else
            lvm_expect_unchanged(&v, &m, rc, msg, what);
        if (short_size == 4 || short_size == sizeof info - 4)
            l_report(what, rc, msg);
        l_expect(what, rc, msg, R_ANY, 0, NULL);
        for (size_t i = short_size; i < sizeof buf; i++)
            if (buf[i] != 0xcc)
                fail_msg("%s: byte %zu of the caller's info was written", what, i);
    }
    /* A longer (newer) one: accepted; the library writes what it knows. */
    memset(buf, 0xcc, sizeof buf);
    uint32_t ss = sizeof buf;
    memcpy(buf, &ss, 4);
    rc = vmm_boot_load(v.vm, &c, (struct vmm_boot_info *)(void *)buf);
    l_report("info.struct_size sizeof + 64", rc, vmm_last_error());
    l_expect("info.struct_size sizeof + 64", rc, vmm_last_error(), R_ANY, 0, NULL);
    if (rc == 0)
        lvm_restore(&v);
    lvm_free(&v);
}

/* ---- RAW ------------------------------------------------------------------ */

static void check_raw_mode(struct lvm *v, uint32_t mode, const char *what)
{
    struct vmm_sregs s;
    assert_int_equal(vmm_vcpu_get_sregs(v->cpu, &s), 0);
    int pe = (s.cr0 & 1) != 0, lma = (s.efer & 0x400) != 0;
    if ((mode == VMM_CPU_MODE_REAL && pe) || (mode == VMM_CPU_MODE_PROTECTED && (!pe || lma)) ||
        (mode == VMM_CPU_MODE_LONG && !lma))
        fail_msg("%s: raw_cpu_mode %u, cr0 %#" PRIx64 " efer %#" PRIx64, what, mode, s.cr0,
                 s.efer);
}

static void test_raw(void **state)
{
    (void)state;
    struct lvm v;
    lvm_new(&v, VMM_PLATFORM_NONE, L_RAM);
    print_message("VMM_IMAGE_RAW:\n");
    static const uint8_t code[] = {0xb0, 0x01, 0xe6, 0x80, 0xeb, 0xfe}; /* mov $1,%al; out; jmp . */
    struct vmm_boot_config c = VMM_BOOT_CONFIG_INIT;
    c.format = VMM_IMAGE_RAW;
    c.kernel = code;
    c.kernel_size = sizeof code;

    static const struct {
        uint32_t mode;
        uint64_t gpa;
    } ok[] = {
        {VMM_CPU_MODE_REAL, 0x1000},
        {VMM_CPU_MODE_PROTECTED, 0x100000},
        {VMM_CPU_MODE_LONG, 0x100000},
        {VMM_CPU_MODE_LONG, L_RAM - sizeof code},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char what[96], msg[512];
        snprintf(what, sizeof what, "RAW, mode %u at %#" PRIx64, ok[i].mode, ok[i].gpa);
        c.raw_cpu_mode = ok[i].mode;
        c.raw_gpa = ok[i].gpa;
        c.raw_entry = ok[i].gpa;
        struct vmm_boot_info info;
        int rc = lvm_load(&v, &c, &info, msg, what);
        l_report(what, rc, msg);
        l_expect(what, rc, msg, 0, 0, NULL);
    }
    /* lvm_load restores after success: load once more, keep it, check the mode. */
    c.raw_cpu_mode = VMM_CPU_MODE_LONG;
    c.raw_gpa = c.raw_entry = 0x100000;
    struct vmm_boot_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    int rc = vmm_boot_load(v.vm, &c, &info);
    if (rc != 0)
        fail_msg("RAW long: %s", vmm_last_error());
    assert_int_equal(info.format, VMM_IMAGE_RAW);
    assert_int_equal(info.kernel_gpa, 0x100000);
    assert_int_equal(info.entry, 0x100000);
    assert_int_equal(info.boot_params_gpa, 0);
    check_raw_mode(&v, VMM_CPU_MODE_LONG, "RAW long");
    lvm_restore(&v);

    c.raw_gpa = c.raw_entry = 0x100000;
    c.raw_cpu_mode = 0;
    expect_load(&v, &c, -EINVAL, 0, "raw_cpu_mode", "RAW, raw_cpu_mode 0");
    c.raw_cpu_mode = 4;
    expect_load(&v, &c, -EINVAL, 0, "raw_cpu_mode", "RAW, raw_cpu_mode 4");
    c.raw_cpu_mode = 0xffffffffu;
    expect_load(&v, &c, -EINVAL, 0, "raw_cpu_mode", "RAW, raw_cpu_mode 0xffffffff");
    c.raw_cpu_mode = VMM_CPU_MODE_PROTECTED;
    c.initrd = l_initrd();
    c.initrd_size = L_INITRD_SIZE;
    expect_load(&v, &c, -EINVAL, 0, "initrd|initrd_size", "RAW with an initrd");
    c.initrd = NULL;
    c.initrd_size = 0;
    c.cmdline = "console=ttyS0";
    expect_load(&v, &c, -EINVAL, 0, "cmdline", "RAW with a command line");
    c.cmdline = NULL;
    c.raw_gpa = 1 * GiB;
    expect_load(&v, &c, -ENOMEM, 0, "raw_gpa", "RAW at 1 GiB (RAM is 4 MiB)");
    c.raw_gpa = L_RAM - 2;
    expect_load(&v, &c, -ENOMEM, 0, "raw_gpa|kernel_size", "RAW straddling the end of RAM");
    c.raw_gpa = 0xfffffffffffffffcull;
    /* A config value, not an image: -EINVAL or -ENOMEM would be expected; the
     * loader says -ENOEXEC (sizes that overflow), accepted (see the report). */
    c.raw_gpa = 0xfffffffffffffffcull;
    int rc_wrap = expect_load(&v, &c, R_FAIL, 0, "raw_gpa|kernel_size",
                              "RAW at 2^64 - 4 (wraps)");
    (void)rc_wrap;
    c.raw_gpa = 0x10000;
    c.raw_cpu_mode = VMM_CPU_MODE_LONG;
    expect_load(&v, &c, R_ANY, 0, NULL, "RAW long mode at 0x10000 (the loader's page tables)");
    c.raw_gpa = 0x100000;
    c.raw_entry = 1 * GiB;
    expect_load(&v, &c, R_ANY, 0, NULL, "RAW, raw_entry outside RAM");
    c.raw_entry = 0x100000;
    uint8_t *big = calloc(1, 2 * L_RAM);
    assert_non_null(big);
    c.kernel = big;
    c.kernel_size = 2 * L_RAM;
    c.raw_gpa = 0;
    expect_load(&v, &c, -ENOMEM, 0, NULL, "RAW of 8 MiB (RAM is 4 MiB)");
    free(big);
    lvm_free(&v);
}

/* ---- command lines -------------------------------------------------------- */

static void test_cmdline_length(void **state)
{
    (void)state;
    struct lvm v;
    lvm_new(&v, VMM_PLATFORM_PC, L_RAM);
    print_message("command lines against the 64 KiB area at 0x20000:\n");
    size_t n = 1 * MiB;
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, 'x', n);
    struct img bz;
    img_copy(&bz, &g_bz);
    img_put(&bz, BZ_CMDLINE_SIZE, 4, 0xffffffffu);
    const struct {
        const struct img *img;
        size_t len;
        int rc;
    } cases[] = {
        {&g_pvh, 65535, R_ANY}, {&g_pvh, 65536, R_FAIL}, {&g_pvh, 1 * MiB, R_FAIL},
        {&g_mb, 65535, R_ANY},  {&g_mb, 65536, R_FAIL},  {&g_mb, 1 * MiB, R_FAIL},
        {&bz, 65535, R_ANY},    {&bz, 65536, R_FAIL},    {&bz, 1 * MiB, R_FAIL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s[cases[i].len] = '\0';
        struct vmm_boot_config c = l_cfg(cases[i].img, VMM_IMAGE_AUTO);
        c.cmdline = s;
        char what[96];
        snprintf(what, sizeof what, "%s, %zu-byte command line%s", cases[i].img->name,
                 cases[i].len, cases[i].img == &bz ? " (cmdline_size 0xffffffff)" : "");
        expect_load(&v, &c, cases[i].rc, 0, cases[i].rc == R_FAIL ? "cmdline|cmdline_size" : NULL,
                    what);
        s[cases[i].len] = 'x';
    }
    img_free(&bz);
    free(s);
    lvm_free(&v);
}

/* ---- a failed load after a successful one ---------------------------------- */

static void test_failure_keeps_previous_load(void **state)
{
    (void)state;
    struct lvm v;
    const struct img *imgs[] = {&g_bz, &g_pvh, &g_mb};
    for (size_t k = 0; k < 3; k++) {
        lvm_new(&v, VMM_PLATFORM_PC, L_RAM);
        struct vmm_boot_config good = l_cfg(imgs[k], VMM_IMAGE_AUTO);
        struct vmm_boot_info info;
        memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        int rc = vmm_boot_load(v.vm, &good, &info);
        if (rc != 0)
            fail_msg("%s: %s", imgs[k]->name, vmm_last_error());
        lvm_resnapshot(&v); /* the loaded state is now the reference */
        print_message("after a successful %s load, failed loads keep it:\n", imgs[k]->name);
        struct img bad;
        const struct img *others[] = {&g_bz, &g_pvh, &g_mb};
        for (size_t j = 0; j < 3; j++) {
            /* each format, broken late (after its header checks pass) */
            struct vmm_boot_config c = l_cfg(others[j], VMM_IMAGE_AUTO);
            uint8_t *hi = calloc(1, L_RAM);
            assert_non_null(hi);
            c.initrd = hi;
            c.initrd_size = L_RAM;
            char what[128];
            snprintf(what, sizeof what, "  then %s with a 4 MiB initrd", others[j]->name);
            expect_load(&v, &c, -ENOMEM, 0, NULL, what);
            free(hi);
            img_copy(&bad, others[j]);
            if (bad.kind == IMG_BZIMAGE)
                img_put(&bad, BZ_INIT_SIZE, 4, 0xffffffffu);
            else
                img_elf_put(&bad, EF_P_PADDR, PH_DATA, 1 * GiB);
            c = l_cfg(&bad, VMM_IMAGE_AUTO);
            snprintf(what, sizeof what, "  then %s with its last segment outside RAM",
                     others[j]->name);
            expect_load(&v, &c, -ENOMEM, 0, NULL, what);
            img_free(&bad);
        }
        /* and it is still exactly the first load: vCPU 0 at its entry */
        uint64_t rip = 0;
        assert_int_equal(vmm_vcpu_get_reg(v.cpu, VMM_REG_RIP, &rip), 0);
        assert_int_equal(rip, info.entry);
        lvm_free(&v);
    }
}

/* ---- modules after the initrd ------------------------------------------------ */

static void test_modules(void **state)
{
    (void)state;
    struct lvm v;
    lvm_new(&v, VMM_PLATFORM_PC, L_RAM);
    print_message("vmm_boot_config::modules:\n");
    uint8_t *m1 = l_bytes(1001, 5), *m2 = l_bytes(4097, 6);
    struct vmm_boot_module mods[VMM_BOOT_MAX_MODULES + 1];
    memset(mods, 0, sizeof mods);
    mods[0].data = m1;
    mods[0].size = 1001;
    mods[0].cmdline = "first module";
    mods[1].data = m2;
    mods[1].size = 4097;
    const struct img *imgs[] = {&g_pvh, &g_mb, &g_bz};
    for (int k = 0; k < 3; k++) {
        struct vmm_boot_config c = l_cfg(imgs[k], VMM_IMAGE_AUTO);
        c.modules = mods;
        c.num_modules = 2;
        char what[96];
        snprintf(what, sizeof what, "%s, initrd + 2 modules", imgs[k]->name);
        expect_load(&v, &c, 0, 0, NULL, what);
    }
    struct vmm_boot_config c = l_cfg(&g_pvh, VMM_IMAGE_AUTO);
    c.modules = NULL;
    c.num_modules = 2;
    expect_load(&v, &c, -EINVAL, 0, "modules|num_modules", "num_modules 2, modules NULL");
    c = l_cfg(&g_pvh, VMM_IMAGE_AUTO);
    c.modules = mods;
    c.num_modules = 0;
    expect_load(&v, &c, R_ANY, 0, NULL, "modules set, num_modules 0");
    c.num_modules = VMM_BOOT_MAX_MODULES + 1;
    for (int i = 0; i <= VMM_BOOT_MAX_MODULES; i++) {
        if (mods[i].data == NULL) {
            mods[i].data = m1;
            mods[i].size = 1;
        }
    }
    expect_load(&v, &c, -EINVAL, 0, "num_modules", "num_modules VMM_BOOT_MAX_MODULES + 1");
    c.num_modules = 0xffffffffu;
    expect_load(&v, &c, -EINVAL, 0, "num_modules", "num_modules 0xffffffff");
    c = l_cfg(&g_pvh, VMM_IMAGE_AUTO);
    c.modules = mods;
    c.num_modules = 2;
    c.initrd = NULL;
    c.initrd_size = 0;
    expect_load(&v, &c, -EINVAL, 0, "num_modules|initrd|modules", "modules without an initrd");
    c = l_cfg(&g_pvh, VMM_IMAGE_AUTO);
    c.modules = mods;
    c.num_modules = 2;
    c.reserved2 = 1;
    expect_load(&v, &c, -EINVAL, 0, "reserved2", "reserved2 1");
    c.reserved2 = 0;
    struct vmm_boot_module bad[2];
    memcpy(bad, mods, sizeof bad);
    bad[1].data = NULL;
    c.modules = bad;
    expect_load(&v, &c, -EINVAL, 0, "data|modules|module", "module 2 data NULL");
    memcpy(bad, mods, sizeof bad);
    bad[1].size = 0;
    expect_load(&v, &c, -EINVAL, 0, "size|modules|module", "module 2 size 0");
    char *longstr = malloc(4097);
    assert_non_null(longstr);
    memset(longstr, 'm', 4096);
    longstr[4096] = '\0';
    memcpy(bad, mods, sizeof bad);
    bad[1].cmdline = longstr;
    expect_load(&v, &c, -EINVAL, 0, "cmdline|modules|module", "module 2 string of 4096 bytes");
    longstr[4095] = '\0';
    expect_load(&v, &c, 0, 0, NULL, "module 2 string of 4095 bytes (the most allowed)");
    /* As many modules as allowed, each with the longest string: 256 KiB of
     * strings cannot fit in [0x8000, 0x10000); the loader must refuse
     * rather than spill into the page tables. */
    for (int i = 0; i < VMM_BOOT_MAX_MODULES; i++)
        mods[i].cmdline = longstr;
    c.modules = mods;
    c.num_modules = VMM_BOOT_MAX_MODULES;
    expect_load(&v, &c, R_FAIL, 0, NULL, "PVH, 64 modules with 4095-byte strings");
    struct vmm_boot_config cm = c;
    cm.kernel = g_mb.buf;
    cm.kernel_size = g_mb.size;
    expect_load(&v, &cm, R_FAIL, 0, NULL, "Multiboot, 64 modules with 4095-byte strings");
    for (int i = 0; i < VMM_BOOT_MAX_MODULES; i++)
        mods[i].cmdline = NULL;
    expect_load(&v, &c, 0, 0, NULL, "PVH, 64 modules without strings");
    cm.modules = mods;
    expect_load(&v, &cm, 0, 0, NULL, "Multiboot, 64 modules without strings");
    /* modules that do not fit */
    uint8_t *hm = calloc(1, 2 * MiB);
    assert_non_null(hm);
    struct vmm_boot_module two[2] = {{hm, 2 * MiB, NULL}, {hm, 2 * MiB, NULL}};
    c.modules = two;
    c.num_modules = 2;
    expect_load(&v, &c, -ENOMEM, 0, NULL, "PVH, two 2 MiB modules (RAM is 4 MiB)");
    c.kernel = g_bz.buf;
    c.kernel_size = g_bz.size;
    expect_load(&v, &c, -ENOMEM, 0, NULL, "bzImage, two 2 MiB modules appended");
    /* RAW takes none */
    struct vmm_boot_config raw = VMM_BOOT_CONFIG_INIT;
    static const uint8_t code[] = {0xf4};
    raw.format = VMM_IMAGE_RAW;
    raw.kernel = code;
    raw.kernel_size = 1;
    raw.raw_gpa = raw.raw_entry = 0x100000;
    raw.raw_cpu_mode = VMM_CPU_MODE_PROTECTED;
    raw.modules = mods;
    raw.num_modules = 1;
    raw.initrd = m1;
    raw.initrd_size = 16;
    expect_load(&v, &raw, -EINVAL, 0, NULL, "RAW with modules");
    free(hm);
    free(longstr);
    free(m1);
    free(m2);
    lvm_free(&v);
}

/* ---- -EBUSY ----------------------------------------------------------------- */

struct busy {
    vmm_vcpu *cpu;
    atomic_int started;
    int rc;
    struct vmm_exit exit;
};

static int busy_pio(vmm_device *dev, vmm_vcpu *vcpu, const struct vmm_io *io, void *user)
{
    (void)dev;
    (void)vcpu;
    (void)io;
    atomic_store((atomic_int *)user, 1);
    return 0;
}

static void *busy_thread(void *arg)
{
    struct busy *b = arg;
    b->rc = vmm_vcpu_run(b->cpu, &b->exit);
    return NULL;
}

static void test_busy(void **state)
{
    (void)state;
    if (vmm_has_feature(VMM_FEATURE_KICK) != 1) {
        print_message("SKIP: no VMM_FEATURE_KICK: a running guest could not be stopped\n");
        skip();
    }
    struct lvm v;
    lvm_new(&v, VMM_PLATFORM_NONE, L_RAM);
    static struct busy b;
    memset(&b, 0, sizeof b);
    b.cpu = v.cpu;
    struct vmm_device_ops ops = VMM_DEVICE_OPS_INIT;
    ops.name = "busy-flag";
    ops.pio = busy_pio;
    vmm_device *dev = NULL;
    if (vmm_device_attach(v.vm, &ops, &b.started, &dev) != 0 ||
        vmm_device_map_pio(dev, 0x80, 1) != 0)
        fail_msg("device: %s", vmm_last_error());

    static const uint8_t code[] = {0xb0, 0x01, 0xe6, 0x80, 0xeb, 0xfe}; /* out to 0x80; jmp . */
    struct vmm_boot_config raw = VMM_BOOT_CONFIG_INIT;
    raw.format = VMM_IMAGE_RAW;
    raw.kernel = code;
    raw.kernel_size = sizeof code;
    raw.raw_gpa = raw.raw_entry = 0x100000;
    raw.raw_cpu_mode = VMM_CPU_MODE_PROTECTED;
    if (vmm_boot_load(v.vm, &raw, NULL) != 0)
        fail_msg("RAW: %s", vmm_last_error());
    lvm_resnapshot(&v);

    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, busy_thread, &b), 0);
    for (int i = 0; i < 10000 && !atomic_load(&b.started); i++)
        usleep(1000);
    if (!atomic_load(&b.started)) {
        vmm_vm_stop(v.vm);
        pthread_join(t, NULL);
        fail_msg("the guest did not start within 10 s (run: %d %s)", b.rc, vmm_last_error());
    }
    /* vCPU 0 is inside KVM_RUN, in its loop. */
    struct lvm_mark m;
    const struct img *imgs[] = {&g_bz, &g_pvh, &g_mb};
    for (size_t k = 0; k < 3; k++) {
        struct vmm_boot_config c = l_cfg(imgs[k], VMM_IMAGE_AUTO);
        char what[96], msg[512];
        snprintf(what, sizeof what, "%s while vCPU 0 runs", imgs[k]->name);
        lvm_mark(&v, &m, 0);
        int rc = vmm_boot_load(v.vm, &c, NULL);
        snprintf(msg, sizeof msg, "%s", vmm_last_error());
        l_report(what, rc, msg);
        if (rc != -EBUSY) {
            vmm_vm_stop(v.vm);
            pthread_join(t, NULL);
            fail_msg("%s: got %s (%s), expected -EBUSY", what, l_errname(rc), msg);
        }
        lvm_expect_unchanged(&v, &m, rc, msg, what);
    }
    assert_int_equal(vmm_vm_stop(v.vm), 0);
    pthread_join(t, NULL);
    assert_int_equal(b.rc, 0);
    assert_int_equal(b.exit.reason, VMM_EXIT_STOPPED);
    /* Stopped: the same VM loads again. */
    struct vmm_boot_config c = l_cfg(&g_pvh, VMM_IMAGE_AUTO);
    expect_load(&v, &c, 0, 0, NULL, "PVH after the vCPU stopped");
    lvm_free(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_config_pc, l_teardown),
        cmocka_unit_test_teardown(test_config_none, l_teardown),
        cmocka_unit_test_teardown(test_null_and_info, l_teardown),
        cmocka_unit_test_teardown(test_raw, l_teardown),
        cmocka_unit_test_teardown(test_cmdline_length, l_teardown),
        cmocka_unit_test_teardown(test_modules, l_teardown),
        cmocka_unit_test_teardown(test_failure_keeps_previous_load, l_teardown),
        cmocka_unit_test_teardown(test_busy, l_teardown),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
