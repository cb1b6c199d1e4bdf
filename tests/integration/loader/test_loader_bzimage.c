/* Hostile bzImages: a minimal valid image (images.c) loads; each case
 * changes one setup-header field (Documentation/arch/x86/boot.rst) and
 * expects the documented error naming that field, with guest RAM and vCPU
 * 0 untouched; every truncation fails; every single-byte flip of the
 * header (0x1f1..0x270) loads correctly or fails cleanly. */
#include "loader_util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef LOADER_TEST_ZLIB
#include <zlib.h>
#endif

static void check_at_2mib(struct lvm *v, const struct img *img, const struct vmm_boot_info *info)
{
    (void)v;
    (void)img;
    /* pref_address is 2 MiB, free, aligned: boot.rst "A relocating
     * bootloader should attempt to load at this address if possible". */
    if (info->kernel_gpa != 0x200000)
        fail_msg("bzImage loaded at %#" PRIx64 ", expected pref_address 0x200000",
                 info->kernel_gpa);
}

static void check_entry32(struct lvm *v, const struct img *img, const struct vmm_boot_info *info)
{
    (void)img;
    struct vmm_sregs s;
    assert_int_equal(vmm_vcpu_get_sregs(v->cpu, &s), 0);
    /* boot.rst "32-bit BOOT PROTOCOL": protected mode, paging off, __BOOT_CS. */
    if (info->entry != info->kernel_gpa || !(s.cr0 & 1) || (s.cr0 & 0x80000000u) ||
        s.cs.selector != 0x10)
        fail_msg("32-bit entry: entry %#" PRIx64 " kernel %#" PRIx64 " cr0 %#" PRIx64 " cs %#x",
                 info->entry, info->kernel_gpa, s.cr0, s.cs.selector);
}

static void check_entry64(struct lvm *v, const struct img *img, const struct vmm_boot_info *info)
{
    (void)img;
    struct vmm_sregs s;
    assert_int_equal(vmm_vcpu_get_sregs(v->cpu, &s), 0);
    /* boot.rst "64-bit BOOT PROTOCOL": long mode, __BOOT_CS, at +0x200. */
    if (info->entry != info->kernel_gpa + 0x200 || !(s.efer & 0x400) || s.cs.selector != 0x10)
        fail_msg("64-bit entry: entry %#" PRIx64 " kernel %#" PRIx64 " efer %#" PRIx64 " cs %#x",
                 info->entry, info->kernel_gpa, s.efer, s.cs.selector);
    check_at_2mib(v, img, info);
}

/* One field at a time. RAM is L_RAM (4 MiB); the default initrd is
 * L_INITRD_SIZE bytes, the command line L_CMDLINE (30 bytes). */
static const struct mcase bz_cases[] = {
    /* valid variants: each must load */
    CASE("valid minimal bzImage (64-bit entry)", .check = check_entry64),
    CASE("valid, VMM_BOOT_F_BZIMAGE_ENTRY32", .flags = VMM_BOOT_F_BZIMAGE_ENTRY32,
         .check = check_entry32),
    CASE("valid, no initrd, no command line", .cfg = C_NO_INITRD | C_NO_CMDLINE,
         .check = check_at_2mib),
    CASE("valid, xloadflags 0 with ENTRY32", .p = {ABS(BZ_XLOADFLAGS, 2, 0)},
         .flags = VMM_BOOT_F_BZIMAGE_ENTRY32, .check = check_entry32),
    CASE("valid, xloadflags XLF_KERNEL_64 only", .p = {ABS(BZ_XLOADFLAGS, 2, 1)}),
    CASE("valid, pref_address 1 MiB (runs at align_up(1 MiB, 2 MiB))",
         .p = {ABS(BZ_PREF_ADDRESS, 8, 0x100000)}),
    CASE("valid, pref_address 0 (runs at align_up(load, 2 MiB))",
         .p = {ABS(BZ_PREF_ADDRESS, 8, 0)}),
    CASE("valid, command line exactly cmdline_size (10) bytes",
         .p = {ABS(BZ_CMDLINE_SIZE, 4, 10)}, .cmdline = "0123456789"),
    CASE("valid, cmdline_size 0 and no command line", .p = {ABS(BZ_CMDLINE_SIZE, 4, 0)},
         .cfg = C_NO_CMDLINE),
    CASE("valid, payload_offset/length garbage without EXTRACT",
         .p = {ABS(BZ_PAYLOAD_OFFSET, 4, 0xffffffff), ABS(BZ_PAYLOAD_LENGTH, 4, 0xffffffff)}),
    CASE("valid, image carries setup_data/ramdisk/cmd_line_ptr/code32_start garbage",
         .p = {ABS(BZ_SETUP_DATA, 8, 0x123456789abcull), ABS(BZ_RAMDISK_IMAGE, 4, 0x1234000),
               ABS(BZ_RAMDISK_SIZE, 4, 0x5000), ABS(BZ_CMD_LINE_PTR, 4, 0xdead000),
               ABS(BZ_CODE32_START, 4, 0xbad0000)}),
    CASE("valid, the same garbage and no initrd (ramdisk fields must be 0)",
         .p = {ABS(BZ_SETUP_DATA, 8, 0x123456789abcull), ABS(BZ_RAMDISK_IMAGE, 4, 0x1234000),
               ABS(BZ_RAMDISK_SIZE, 4, 0x5000)}, .cfg = C_NO_INITRD),
    CASE("valid, initrd_addr_max 0x1fffff (room in [1 MiB, 2 MiB))",
         .p = {ABS(BZ_INITRD_ADDR_MAX, 4, 0x1fffff)}),
    CASE("valid, kernel_alignment 4 KiB, min_alignment 12",
         .p = {ABS(BZ_KERNEL_ALIGNMENT, 4, 0x1000), ABS(BZ_MIN_ALIGNMENT, 1, 12)}),
    CASE("valid, loadflags LOADED_HIGH | CAN_USE_HEAP", .p = {ABS(BZ_LOADFLAGS, 1, 0x81)}),
    CASE("valid, version 0x0211 (newer than the loader knows)",
         .p = {ABS(BZ_VERSION, 2, 0x0211)}),
    CASE("valid, syssize one paragraph less (trailing bytes are allowed)",
         .p = {ABS(BZ_SYSSIZE, 4, IMG_BZ_PM_SIZE / 16 - 1)}),

    /* malformed: -ENOEXEC naming the field */
    CASE("setup_sects 200 (setup runs past the file)", .p = {ABS(BZ_SETUP_SECTS, 1, 200)},
         .rc = -ENOEXEC, .fields = "setup_sects"),
    CASE("setup_sects 0 (means 4: past the 2 KiB file)", .p = {ABS(BZ_SETUP_SECTS, 1, 0)},
         .rc = -ENOEXEC, .fields = "setup_sects"),
    CASE("setup_sects 3 (setup is the whole file)", .p = {ABS(BZ_SETUP_SECTS, 1, 3)},
         .rc = -ENOEXEC),
    CASE("syssize 0x10000 (protected-mode part claims 1 MiB)", .p = {ABS(BZ_SYSSIZE, 4, 0x10000)},
         .rc = -ENOEXEC, .fields = "syssize"),
    CASE("syssize one paragraph more than the file has",
         .p = {ABS(BZ_SYSSIZE, 4, IMG_BZ_PM_SIZE / 16 + 1)}, .rc = -ENOEXEC, .fields = "syssize"),
    CASE("syssize 0xffffffff", .p = {ABS(BZ_SYSSIZE, 4, 0xffffffffu)}, .rc = -ENOEXEC,
         .fields = "syssize"),
    CASE("boot_flag 0xaa56", .p = {ABS(BZ_BOOT_FLAG, 2, 0xaa56)}, .rc = -ENOEXEC,
         .fields = "boot_flag", .cfg = C_AUTO_ANY),
    CASE("boot_flag 0", .p = {ABS(BZ_BOOT_FLAG, 2, 0)}, .rc = -ENOEXEC, .fields = "boot_flag",
         .cfg = C_AUTO_ANY),
    CASE("header \"HdrT\"", .p = {ABS(BZ_HEADER, 4, 0x54726448)}, .rc = -ENOEXEC,
         .fields = "header", .cfg = C_AUTO_ANY),
    CASE("version 0x01ff", .p = {ABS(BZ_VERSION, 2, 0x01ff)}, .rc = -ENOEXEC,
         .fields = "version"),
    CASE("version 0", .p = {ABS(BZ_VERSION, 2, 0)}, .rc = -ENOEXEC, .fields = "version"),
    CASE("version 0x0204 (no xloadflags) with the 64-bit entry",
         .p = {ABS(BZ_VERSION, 2, 0x0204)}, .rc = -ENOEXEC, .fields = "version|xloadflags"),
    CASE("version 0x0204 with ENTRY32", .p = {ABS(BZ_VERSION, 2, 0x0204)}, .rc = R_ANY,
         .flags = VMM_BOOT_F_BZIMAGE_ENTRY32),
    CASE("loadflags 0 (zImage, loaded low)", .p = {ABS(BZ_LOADFLAGS, 1, 0)}, .rc = -ENOEXEC,
         .fields = "loadflags"),
    CASE("xloadflags 0 (no 64-bit entry)", .p = {ABS(BZ_XLOADFLAGS, 2, 0)}, .rc = -ENOEXEC,
         .fields = "xloadflags"),
    CASE("xloadflags XLF_CAN_BE_LOADED_ABOVE_4G only", .p = {ABS(BZ_XLOADFLAGS, 2, 2)},
         .rc = -ENOEXEC, .fields = "xloadflags"),
    CASE("kernel_alignment 0", .p = {ABS(BZ_KERNEL_ALIGNMENT, 4, 0)}, .rc = -ENOEXEC,
         .fields = "kernel_alignment"),
    CASE("kernel_alignment 0x123456 (not a power of two)",
         .p = {ABS(BZ_KERNEL_ALIGNMENT, 4, 0x123456)}, .rc = -ENOEXEC,
         .fields = "kernel_alignment"),

    /* odd but not forbidden: a clean failure or a correct load */
    CASE("kernel_alignment 2 GiB, min_alignment 21",
         .p = {ABS(BZ_KERNEL_ALIGNMENT, 4, 0x80000000u)}, .rc = R_ANY),
    CASE("min_alignment 63", .p = {ABS(BZ_MIN_ALIGNMENT, 1, 63)}, .rc = R_ANY),
    CASE("min_alignment 255", .p = {ABS(BZ_MIN_ALIGNMENT, 1, 255)}, .rc = R_ANY),
    CASE("relocatable_kernel 0 (must load at 1 MiB)", .p = {ABS(BZ_RELOCATABLE, 1, 0)},
         .rc = R_ANY),
    CASE("init_size 0x100 (smaller than the 1 KiB kernel)", .p = {ABS(BZ_INIT_SIZE, 4, 0x100)},
         .rc = R_ANY),
    CASE("init_size 0", .p = {ABS(BZ_INIT_SIZE, 4, 0)}, .rc = R_ANY),
    CASE("kernel_version 0xffff (string past the file)",
         .p = {ABS(BZ_KERNEL_VERSION, 2, 0xffff)}, .rc = R_ANY),
    CASE("kernel_info_offset 0xfffffff0", .p = {ABS(BZ_KERNEL_INFO_OFFSET, 4, 0xfffffff0u)},
         .rc = R_ANY),
    CASE("header length byte 0x201 = 0x7f (header to 0x281)", .p = {ABS(BZ_JUMP + 1, 1, 0x7f)},
         .rc = R_ANY),
    CASE("header length byte 0x201 = 0x80 (negative as int8)", .p = {ABS(BZ_JUMP + 1, 1, 0x80)},
         .rc = R_ANY),
    CASE("hardware_subarch 0xffffffff", .p = {ABS(BZ_HW_SUBARCH, 4, 0xffffffff)}, .rc = R_ANY),

    /* does not fit: -ENOMEM naming the field */
    /* boot.rst (init_size): a relocatable kernel runs at
     * align_up(max(load, pref_address), kernel_alignment): init_size from
     * pref_address must be RAM, wherever the file is put. */
    CASE("pref_address 16 MiB (RAM is 4 MiB)", .p = {ABS(BZ_PREF_ADDRESS, 8, 16 * MiB)},
         .rc = -ENOMEM, .fields = "pref_address|init_size"),
    CASE("pref_address 3 MiB (runs at 4 MiB, the end of RAM)",
         .p = {ABS(BZ_PREF_ADDRESS, 8, 3 * MiB)}, .rc = -ENOMEM,
         .fields = "pref_address|init_size"),
    CASE("pref_address 2^64 - 4 KiB", .p = {ABS(BZ_PREF_ADDRESS, 8, 0xfffffffffffff000ull)},
         .rc = -ENOMEM, .rc2 = -ENOEXEC, .fields = "pref_address|init_size"),
    CASE("relocatable_kernel 0, pref_address 16 MiB (it moves itself there)",
         .p = {ABS(BZ_RELOCATABLE, 1, 0), ABS(BZ_PREF_ADDRESS, 8, 16 * MiB)}, .rc = -ENOMEM,
         .fields = "pref_address|init_size"),
    CASE("init_size 16 MiB (RAM is 4 MiB)", .p = {ABS(BZ_INIT_SIZE, 4, 16 * MiB)},
         .rc = -ENOMEM, .fields = "init_size"),
    CASE("init_size 0xffffffff", .p = {ABS(BZ_INIT_SIZE, 4, 0xffffffff)}, .rc = -ENOMEM,
         .fields = "init_size"),
    CASE("init_size 3 MiB (no 2 MiB-aligned room)", .p = {ABS(BZ_INIT_SIZE, 4, 3 * MiB)},
         .rc = -ENOMEM, .fields = "init_size|kernel_alignment"),
    /* The sentence names initrd_addr_max (it once gave a bare number). */
    CASE("initrd_addr_max 0x1000 (nothing fits below)", .p = {ABS(BZ_INITRD_ADDR_MAX, 4, 0x1000)},
         .rc = -ENOMEM, .fields = "initrd_addr_max"),
    CASE("initrd_addr_max 0xfffff, 600 KiB initrd", .p = {ABS(BZ_INITRD_ADDR_MAX, 4, 0xfffff)},
         .rc = -ENOMEM, .fields = "initrd_addr_max", .initrd_size = 600 * KiB),
    CASE("8 MiB initrd (RAM is 4 MiB)", .rc = -ENOMEM,
         .fields = "initrd|initrd_size|initrd_addr_max", .initrd_size = 8 * MiB),
    CASE("3 MiB initrd (RAM minus kernel leaves less)", .rc = -ENOMEM,
         .fields = "initrd|initrd_size|initrd_addr_max", .initrd_size = 3 * MiB),

    /* a command line longer than the kernel takes */
    CASE("cmdline_size 9, 10-byte command line", .p = {ABS(BZ_CMDLINE_SIZE, 4, 9)},
         .rc = -EINVAL, .fields = "cmdline_size", .cmdline = "0123456789"),
    CASE("cmdline_size 0, a command line", .p = {ABS(BZ_CMDLINE_SIZE, 4, 0)}, .rc = -EINVAL,
         .fields = "cmdline_size"),

    /* VMM_BOOT_F_BZIMAGE_EXTRACT: the payload fields are checked */
    CASE("EXTRACT, no payload (payload_offset/length 0)", .rc = -ENOEXEC,
         .fields = "payload_offset|payload_length", .flags = VMM_BOOT_F_BZIMAGE_EXTRACT),
};

static struct img g_bz;

static int setup(void **state)
{
    (void)state;
    img_build(&g_bz, IMG_BZIMAGE, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    img_free(&g_bz);
    return 0;
}

static void run_cases(uint32_t platform)
{
    struct lvm v;
    lvm_new(&v, platform, L_RAM);
    l_run_cases(&v, &g_bz, bz_cases, sizeof bz_cases / sizeof bz_cases[0]);
    lvm_free(&v);
}

static void test_fields_pc(void **state)
{
    (void)state;
    run_cases(VMM_PLATFORM_PC);
}

static void test_fields_none(void **state)
{
    (void)state;
    run_cases(VMM_PLATFORM_NONE);
}

/* Every truncation: within the setup sectors the header no longer fits;
 * within the protected-mode part the file is shorter than syssize says
 * (boot.rst: "syssize: The size of the protected-mode code in units of
 * 16-byte paragraphs", 32 bits wide from protocol 2.04). */
static void test_truncations(void **state)
{
    (void)state;
    struct lvm v;
    lvm_new(&v, VMM_PLATFORM_NONE, L_RAM);
    l_fuzz_truncations(&v, &g_bz, 1, 0, 0);
    lvm_free(&v);
}

static void test_header_flips(void **state)
{
    (void)state;
    struct lvm v;
    lvm_new(&v, VMM_PLATFORM_PC, L_RAM);
    /* boot.rst: the setup header is 0x1f1 .. 0x268 + 4 (protocol 2.15) */
    l_fuzz_flips(&v, &g_bz, 0x1f1, 0x270, 0, 0);
    l_fuzz_flips(&v, &g_bz, 0x1f1, 0x270, VMM_BOOT_F_BZIMAGE_ENTRY32, 0);
    lvm_free(&v);
}

/* ---- VMM_BOOT_F_BZIMAGE_EXTRACT with a payload --------------------------- */

/* A bzImage whose payload is a gzip member (stored blocks) of @elf. */
static void bz_with_payload(struct img *bz, const struct img *elf)
{
    size_t gz_len = 0;
    uint8_t *gz = img_gzip_stored(elf->buf, elf->size, &gz_len);
    struct img_opts o = {0};
    o.payload = gz;
    o.payload_len = gz_len;
    img_build(bz, IMG_BZIMAGE, &o);
    free(gz);
}

static void extract_cases(struct lvm *v)
{
    struct img elf, bz;
    img_build(&elf, IMG_ELF64_PVH, NULL);
    bz_with_payload(&bz, &elf);
    int gzip = vmm_has_feature(VMM_FEATURE_EXTRACT_GZIP) == 1;
    uint32_t plen = (uint32_t)img_get(&bz, BZ_PAYLOAD_LENGTH, 4);
    print_message("bzImage with a %u-byte gzip payload (this libvmm %s gzip):\n", plen,
                  gzip ? "extracts" : "does not extract");
    const uint32_t X = VMM_BOOT_F_BZIMAGE_EXTRACT;
    /* gzip member: 10-byte header, then the stored block: BFINAL/BTYPE,
     * LEN (2), NLEN (2), the bytes (RFC 1951 §3.2.4). */
    const size_t len_off = bz.payload_off + 11;
    const struct mcase cases[] = {
        CASE("EXTRACT, valid gzip payload (ELF64 PVH)", .rc = gzip ? 0 : -ENOTSUP, .flags = X,
             .cfg = C_NO_AUTO),
        CASE("without EXTRACT, the same image loads as a bzImage"),
        CASE("EXTRACT, payload_offset 0x10000 (past the file)",
             .p = {ABS(BZ_PAYLOAD_OFFSET, 4, 0x10000)}, .rc = -ENOEXEC,
             .fields = "payload_offset", .flags = X),
        CASE("EXTRACT, payload_length 0x10000 (past the file)",
             .p = {ABS(BZ_PAYLOAD_LENGTH, 4, 0x10000)}, .rc = -ENOEXEC,
             .fields = "payload_length", .flags = X),
        CASE("EXTRACT, payload_length one byte past the file",
             .p = {ABS(BZ_PAYLOAD_LENGTH, 4, bz.size - bz.payload_off + 1)}, .rc = -ENOEXEC,
             .fields = "payload_length|payload_offset", .flags = X),
        CASE("EXTRACT, payload_offset + payload_length wraps 2^32",
             .p = {ABS(BZ_PAYLOAD_OFFSET, 4, 0xfffffff0u), ABS(BZ_PAYLOAD_LENGTH, 4, 0x100)},
             .rc = -ENOEXEC, .fields = "payload_offset|payload_length", .flags = X),
        CASE("EXTRACT, payload_length 0", .p = {ABS(BZ_PAYLOAD_LENGTH, 4, 0)}, .rc = -ENOEXEC,
             .fields = "payload_length", .flags = X),
        CASE("EXTRACT, payload is the kernel's code (unknown magic)",
             .p = {ABS(BZ_PAYLOAD_OFFSET, 4, 0), ABS(BZ_PAYLOAD_LENGTH, 4, 0x100)},
             .rc = -ENOEXEC, .rc2 = -ENOTSUP, .flags = X),
        CASE("EXTRACT, gzip stream cut short (payload_length - 20)",
             .p = {ABS(BZ_PAYLOAD_LENGTH, 4, plen - 20)}, .rc = gzip ? -ENOEXEC : -ENOTSUP,
             .flags = X),
        CASE("EXTRACT, stored block LEN and NLEN disagree",
             .p = {ABS(len_off, 1, (uint8_t)(bz.buf[len_off] ^ 1))},
             .rc = gzip ? -ENOEXEC : -ENOTSUP, .flags = X),
    };
    l_run_cases(v, &bz, cases, sizeof cases / sizeof cases[0]);

    /* Every payload_length short of the gzip member's end: a truncated
     * stream (the last 4 bytes are Linux's size suffix, not the stream). */
    struct {
        unsigned long n, bad;
    } t = {0, 0};
    for (uint32_t len = 1; len + 4 < plen; len++) {
        struct img im;
        img_copy(&im, &bz);
        img_put(&im, BZ_PAYLOAD_LENGTH, 4, len);
        struct vmm_boot_config c = l_cfg(&im, VMM_IMAGE_BZIMAGE);
        c.flags = X;
        char what[96], msg[512];
        snprintf(what, sizeof what, "EXTRACT, payload_length %u of %u", len, plen);
        int rc = lvm_load(v, &c, NULL, msg, what);
        t.n++;
        if (rc != (gzip ? -ENOEXEC : -ENOTSUP)) {
            if (t.bad++ < 3)
                print_message("  MISMATCH: %s: %s (%s)\n", what, l_errname(rc), msg);
        }
        img_free(&im);
    }
    print_message("  %-58s %lu loads, %lu wrong\n", "EXTRACT, every short payload_length", t.n,
                  t.bad);
    if (t.bad)
        fail_msg("EXTRACT: %lu short payload_length values not refused", t.bad);
    /* Flips of the gzip header, the stored block's header and the trailer. */
    l_fuzz_flips(v, &bz, bz.payload_off, bz.payload_off + 15, X, 0);
    l_fuzz_flips(v, &bz, bz.payload_off + plen - 12, bz.payload_off + plen, X, 0);
    img_free(&bz);

    /* The payload's ELF is as untrusted as any other. */
    img_elf_put(&elf, EF_P_PADDR, PH_DATA, 1 * GiB);
    bz_with_payload(&bz, &elf);
    const struct mcase bad_elf[] = {
        CASE("EXTRACT, payload ELF's p_paddr 1 GiB (outside RAM)", .rc = gzip ? -ENOMEM : -ENOTSUP,
             .fields = gzip ? "p_paddr|p_memsz" : NULL, .flags = X, .cfg = C_NO_AUTO),
    };
    l_run_cases(v, &bz, bad_elf, 1);
    img_free(&bz);
    img_free(&elf);

#ifdef LOADER_TEST_ZLIB
    /* A decompression bomb: an ELF followed by 16 MiB of zeros compresses
     * to a few KiB and decompresses past the 4 MiB of RAM. loader.h: "The
     * decompressed size is bounded by the VM's RAM." */
    size_t big = 16 * MiB;
    uint8_t *raw = calloc(1, big);
    assert_non_null(raw);
    img_build(&elf, IMG_ELF64_PVH, NULL);
    memcpy(raw, elf.buf, elf.size);
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, big) + 4;
    uint8_t *gzb = malloc(cap);
    assert_non_null(gzb);
    z.next_in = raw;
    z.avail_in = (uInt)big;
    z.next_out = gzb;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t n = z.total_out;
    deflateEnd(&z);
    for (int i = 0; i < 4; i++) /* Linux's size suffix */
        gzb[n++] = (uint8_t)(big >> (8 * i));
    struct img_opts ob = {0};
    ob.payload = gzb;
    ob.payload_len = n;
    img_build(&bz, IMG_BZIMAGE, &ob);
    print_message("gzip bomb: %zu bytes that inflate to %zu:\n", n, big);
    const struct mcase bomb[] = {
        CASE("EXTRACT, payload inflates to 16 MiB (RAM is 4 MiB)", .rc = gzip ? -ENOMEM : -ENOTSUP,
             .flags = X, .cfg = C_NO_AUTO),
    };
    l_run_cases(v, &bz, bomb, 1);
    img_free(&bz);
    img_free(&elf);
    free(gzb);
    free(raw);
#endif
}

static void test_extract(void **state)
{
    (void)state;
    struct lvm v;
    lvm_new(&v, VMM_PLATFORM_PC, L_RAM);
    extract_cases(&v);
    lvm_free(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_fields_pc, l_teardown),
        cmocka_unit_test_teardown(test_fields_none, l_teardown),
        cmocka_unit_test_teardown(test_truncations, l_teardown),
        cmocka_unit_test_teardown(test_header_flips, l_teardown),
        cmocka_unit_test_teardown(test_extract, l_teardown),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
