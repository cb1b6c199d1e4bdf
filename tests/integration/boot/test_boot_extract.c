/* VMM_BOOT_F_BZIMAGE_EXTRACT: bzImages whose payload (boot.rst
 * "payload_offset") is pvh.elf compressed as Linux's build compresses a
 * vmlinux (gzip, xz, zstd, lz4, each followed by the 4-byte size; see
 * meson.build), decompressed on the host and booted through the ELF's PVH
 * note. The PVH kernel's whole report is checked as test_boot_pvh.c checks
 * it (pvh_check.c), plus what vmm_boot_info says about the extraction.
 * Broken payloads (cut short, corrupt, too big for RAM, bzip2) are refused
 * without touching guest RAM. */
#include "boot_util.h"
#include "pvh_check.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vmm/pc.h>

#define MiB (1ull << 20)

/* boot.rst "THE REAL-MODE KERNEL HEADER" offsets. */
#define H_SETUP_SECTS 0x1f1
#define H_VERSION 0x206
#define H_PREF_ADDRESS 0x258
#define H_PAYLOAD_OFFSET 0x248
#define H_PAYLOAD_LENGTH 0x24c

struct image {
    const char *file;      /* in the boot kernels' build directory */
    uint32_t compression;
    uint32_t feature;      /* VMM_FEATURE_EXTRACT_* (0: never extracted) */
    const char *library;   /* named by -ENOTSUP when built without it */
    int built;             /* meson found the compressor */
};

#ifdef HAVE_BZIMAGE_GZIP
#define BUILT_GZIP 1
#else
#define BUILT_GZIP 0
#endif
#ifdef HAVE_BZIMAGE_XZ
#define BUILT_XZ 1
#else
#define BUILT_XZ 0
#endif
#ifdef HAVE_BZIMAGE_ZSTD
#define BUILT_ZSTD 1
#else
#define BUILT_ZSTD 0
#endif
#ifdef HAVE_BZIMAGE_LZ4
#define BUILT_LZ4 1
#else
#define BUILT_LZ4 0
#endif
#ifdef HAVE_BZIMAGE_BZIP2
#define BUILT_BZIP2 1
#else
#define BUILT_BZIP2 0
#endif
#ifdef HAVE_BZIMAGE_XZ_BOMB
#define BUILT_XZ_BOMB 1
#else
#define BUILT_XZ_BOMB 0
#endif

static const struct image img_gzip = { "bzImage-gzip", VMM_COMPRESSION_GZIP,
                                       VMM_FEATURE_EXTRACT_GZIP, "zlib", BUILT_GZIP };
static const struct image img_xz = { "bzImage-xz", VMM_COMPRESSION_XZ, VMM_FEATURE_EXTRACT_XZ,
                                     "liblzma", BUILT_XZ };
static const struct image img_zstd = { "bzImage-zstd", VMM_COMPRESSION_ZSTD,
                                       VMM_FEATURE_EXTRACT_ZSTD, "libzstd", BUILT_ZSTD };
static const struct image img_lz4 = { "bzImage-lz4", VMM_COMPRESSION_LZ4, VMM_FEATURE_EXTRACT_LZ4,
                                      "liblz4", BUILT_LZ4 };
static const struct image img_bzip2 = { "bzImage-bzip2", VMM_COMPRESSION_BZIP2, 0, NULL,
                                        BUILT_BZIP2 };
static const struct image img_xz_bomb = { "bzImage-xz-bomb", VMM_COMPRESSION_XZ,
                                          VMM_FEATURE_EXTRACT_XZ, "liblzma", BUILT_XZ_BOMB };

static const struct image *const extractable[] = { &img_gzip, &img_xz, &img_zstd, &img_lz4 };
#define N_EXTRACTABLE (sizeof extractable / sizeof extractable[0])

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* The image's bytes (skips when meson did not build it). */
static uint8_t *read_image(const struct image *im, size_t *size)
{
    if (!im->built) {
        print_message("SKIP: %s was not built (its compressor was not found)\n", im->file);
        skip();
    }
    return boot_read_file(boot_kernel_path(im->file), size);
}

/* Where the payload lies in the file: the protected-mode part starts after
 * the setup sectors, and payload_offset counts from there. */
static void payload_span(const uint8_t *img, size_t size, size_t *off, size_t *len)
{
    size_t pm = ((size_t)img[H_SETUP_SECTS] + 1) * 512;
    *off = pm + le32(img + H_PAYLOAD_OFFSET);
    *len = le32(img + H_PAYLOAD_LENGTH);
    assert_true(*len > 8 && *off + *len <= size);
}

/* A hash of all guest RAM (boot_vm_new filled it with BOOT_GARBAGE), and
 * on a mismatch the first byte that is no longer garbage. */
static uint64_t ram_hash(vmm_vm *vm)
{
    uint32_t n = 0;
    struct vmm_e820_entry *map = boot_e820(vm, &n);
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64, over 64-bit words */
    for (uint32_t i = 0; i < n; i++) {
        if (map[i].type != VMM_E820_RAM)
            continue;
        void *hva = NULL;
        assert_int_equal(vmm_memory_translate(vm, map[i].addr, map[i].size, &hva), 0);
        /* 8 bytes a step (RAM ranges are page-multiples): cheap enough
         * for 64 MiB per check. */
        const uint8_t *p = hva;
        for (uint64_t j = 0; j + 8 <= map[i].size; j += 8) {
            uint64_t w;
            memcpy(&w, p + j, 8);
            h ^= w;
            h *= 0x100000001b3ull;
        }
        for (uint64_t j = map[i].size & ~7ull; j < map[i].size; j++) {
            h ^= p[j];
            h *= 0x100000001b3ull;
        }
    }
    free(map);
    return h;
}

static void expect_ram_untouched(vmm_vm *vm, uint64_t before, const char *what)
{
    if (ram_hash(vm) == before)
        return;
    uint32_t n = 0;
    struct vmm_e820_entry *map = boot_e820(vm, &n);
    for (uint32_t i = 0; i < n; i++) {
        if (map[i].type != VMM_E820_RAM)
            continue;
        void *hva = NULL;
        assert_int_equal(vmm_memory_translate(vm, map[i].addr, map[i].size, &hva), 0);
        const uint8_t *p = hva;
        for (uint64_t j = 0; j < map[i].size; j++)
            if (p[j] != BOOT_GARBAGE)
                fail_msg("%s: the failed load wrote guest RAM (gpa %#" PRIx64 " is %#x)", what,
                         map[i].addr + j, p[j]);
    }
    fail_msg("%s: the failed load changed guest RAM", what);
}

/* vmm_boot_load() as boot_load() does it (command line and initrd), but
 * returning its result. */
static int load_rc(struct boot_vm *b, const uint8_t *img, size_t size, uint32_t flags,
                   struct vmm_boot_info *info)
{
    static uint8_t initrd[BOOT_INITRD_SIZE];
    struct vmm_boot_config cfg = VMM_BOOT_CONFIG_INIT;
    boot_fill_initrd(initrd, sizeof initrd);
    cfg.flags = flags;
    cfg.kernel = img;
    cfg.kernel_size = size;
    cfg.initrd = initrd;
    cfg.initrd_size = sizeof initrd;
    cfg.cmdline = BOOT_CMDLINE;
    memset(info, 0, sizeof *info);
    info->struct_size = sizeof *info;
    return vmm_boot_load(b->vm, &cfg, info);
}

/* Loads @img with EXTRACT into a fresh VM and expects @err, a sentence
 * containing @needle, guest RAM unchanged and vCPU 0 untouched. */
static void expect_refused(const uint8_t *img, size_t size, uint64_t ram, int err,
                           const char *needle, const char *what)
{
    struct boot_vm b;
    struct vmm_boot_info info;
    boot_vm_new(&b, VMM_PLATFORM_PC, 1, ram);
    uint64_t before = ram_hash(b.vm);
    int rc = load_rc(&b, img, size, VMM_BOOT_F_BZIMAGE_EXTRACT, &info);
    if (rc != err)
        fail_msg("%s: vmm_boot_load returned %d (%s: %s), expected %d (%s)", what, rc,
                 vmm_strerror(rc), rc ? vmm_last_error() : "", err, vmm_strerror(err));
    print_message("%s: %s\n", what, vmm_last_error());
    if (needle && strstr(vmm_last_error(), needle) == NULL)
        fail_msg("%s: the error does not mention \"%s\": %s", what, needle, vmm_last_error());
    expect_ram_untouched(b.vm, before, what);
    boot_expect_reset_state(b.vm, 0);
    boot_vm_free(&b);
}

/* Whether this libvmm extracts @im; if not, that it says so (-ENOTSUP
 * naming the library) and the caller skips the rest. */
static int extracts(const struct image *im, const uint8_t *img, size_t size)
{
    if (vmm_has_feature(im->feature))
        return 1;
    char what[128];
    snprintf(what, sizeof what, "%s with a libvmm built without %s", im->file, im->library);
    expect_refused(img, size, 64 * MiB, -ENOTSUP, im->library, what);
    return 0;
}

/* ---- extracted and booted --------------------------------------------------- */

static void boot_extracted(const struct image *im, uint32_t platform, uint64_t ram,
                           uint32_t format, uint32_t opts, const char *what)
{
    boot_require_kvm(); /* first: the image buffers below leak if skip() jumps out */
    size_t size = 0, elf_size = 0;
    uint8_t *img = read_image(im, &size);
    if (!extracts(im, img, size)) {
        free(img);
        return;
    }
    uint8_t *elf_img = boot_read_file(boot_kernel_path("pvh.elf"), &elf_size);
    struct elf_facts elf = elf_facts(elf_img, elf_size);
    struct boot_vm b;
    struct vmm_boot_info info;
    struct vmm_exit exit;
    boot_vm_new(&b, platform, 1, ram);
    boot_load(&b, img, size, format, VMM_BOOT_F_BZIMAGE_EXTRACT, opts, &info);

    /* What vmm_boot_info says about the extraction. */
    assert_int_equal(info.format, VMM_IMAGE_ELF_PVH);
    assert_int_equal(info.compression, im->compression);
    assert_int_equal(info.extracted_size, elf_size);
    assert_int_equal(info.protocol_version, img[H_VERSION] | img[H_VERSION + 1] << 8);

    boot_run_ok(&b, &exit);
    assert_int_equal(exit.vcpu_index, 0);
    check_pvh(&b, &info, &elf, opts);
    boot_print_stats(&b, what);
    boot_vm_free(&b);
    free(elf_img);
    free(img);
}

static void test_gzip(void **state)
{
    (void)state;
    boot_extracted(&img_gzip, VMM_PLATFORM_PC, 64 * MiB, VMM_IMAGE_AUTO, 0,
                   "bzImage (gzip payload) extracted, PC");
}

static void test_xz(void **state)
{
    (void)state;
    boot_extracted(&img_xz, VMM_PLATFORM_PC, 64 * MiB, VMM_IMAGE_AUTO, 0,
                   "bzImage (xz payload) extracted, PC");
}

static void test_zstd(void **state)
{
    (void)state;
    boot_extracted(&img_zstd, VMM_PLATFORM_PC, 64 * MiB, VMM_IMAGE_AUTO, 0,
                   "bzImage (zstd payload) extracted, PC");
}

static void test_lz4(void **state)
{
    (void)state;
    boot_extracted(&img_lz4, VMM_PLATFORM_PC, 64 * MiB, VMM_IMAGE_AUTO, 0,
                   "bzImage (lz4 payload) extracted, PC");
}

static void test_xz_none_explicit(void **state)
{
    (void)state;
    boot_extracted(&img_xz, VMM_PLATFORM_NONE, 32 * MiB, VMM_IMAGE_BZIMAGE,
                   BOOT_NO_INITRD | BOOT_NO_CMDLINE,
                   "bzImage (xz payload) extracted, NONE, format BZIMAGE, no initrd/cmdline");
}

/* ---- without the flag: an ordinary bzImage ---------------------------------- */

static void test_without_extract_flag(void **state)
{
    (void)state;
    boot_require_kvm(); /* first: the image buffers below leak if skip() jumps out */
    const struct image *const all[] = { &img_gzip, &img_xz, &img_zstd, &img_lz4, &img_bzip2 };
    unsigned loaded = 0;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        const struct image *im = all[i];
        if (!im->built)
            continue;
        size_t size = 0;
        uint8_t *img = boot_read_file(boot_kernel_path(im->file), &size);
        struct boot_vm b;
        struct vmm_boot_info info;
        boot_vm_new(&b, VMM_PLATFORM_PC, 1, 64 * MiB);
        boot_load(&b, img, size, VMM_IMAGE_AUTO, 0, 0, &info);
        /* Loaded as the bzImage it is (not run: its protected-mode code
         * is a stub and compressed bytes). */
        assert_int_equal(info.format, VMM_IMAGE_BZIMAGE);
        assert_int_equal(info.compression, im->compression);
        assert_int_equal(info.extracted_size, 0);
        assert_int_equal(info.protocol_version, img[H_VERSION] | img[H_VERSION + 1] << 8);
        uint64_t pref = 0;
        memcpy(&pref, img + H_PREF_ADDRESS, 8);
        assert_true(info.kernel_gpa == pref);
        assert_true(info.entry == info.kernel_gpa + 0x200);
        /* The protected-mode part, payload included, is in RAM as is. */
        size_t pm = ((size_t)img[H_SETUP_SECTS] + 1) * 512;
        void *hva = NULL;
        assert_int_equal(vmm_memory_translate(b.vm, info.kernel_gpa, size - pm, &hva), 0);
        assert_memory_equal(hva, img + pm, size - pm);
        boot_vm_free(&b);
        free(img);
        loaded++;
    }
    if (loaded == 0)
        skip();
}

/* ---- refused ---------------------------------------------------------------- */

/* The image cut short (in the middle of the payload): the file is shorter
 * than syssize says, and payload_length runs past its end. */
static void test_image_cut_short(void **state)
{
    (void)state;
    boot_require_kvm(); /* first: the image buffers below leak if skip() jumps out */
    unsigned tried = 0;
    for (size_t i = 0; i < N_EXTRACTABLE; i++) {
        const struct image *im = extractable[i];
        if (!im->built || !vmm_has_feature(im->feature))
            continue;
        size_t size = 0, off = 0, len = 0;
        uint8_t *img = boot_read_file(boot_kernel_path(im->file), &size);
        payload_span(img, size, &off, &len);
        char what[128];
        snprintf(what, sizeof what, "%s cut to %zu of %zu bytes", im->file, off + len / 2, size);
        /* The setup header's syssize already tells the file is short. */
        expect_refused(img, off + len / 2, 64 * MiB, -ENOEXEC, "syssize", what);
        free(img);
        tried++;
    }
    if (tried == 0)
        skip();
}

/* payload_length shortened (the stream inside the file, truncated): the
 * decompressor finds it unfinished. Lengths from 1 byte to all but the
 * last stream byte. */
static void test_payload_truncated(void **state)
{
    (void)state;
    boot_require_kvm(); /* first: the image buffers below leak if skip() jumps out */
    unsigned tried = 0;
    for (size_t i = 0; i < N_EXTRACTABLE; i++) {
        const struct image *im = extractable[i];
        if (!im->built || !vmm_has_feature(im->feature))
            continue;
        size_t size = 0, off = 0, len = 0;
        uint8_t *img = boot_read_file(boot_kernel_path(im->file), &size);
        payload_span(img, size, &off, &len);
        size_t stream = len - 4; /* less the appended size */
        const size_t cuts[] = { 1, 7, stream / 3, stream / 2, stream - 1 };
        for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
            put_le32(img + H_PAYLOAD_LENGTH, (uint32_t)cuts[k]);
            char what[128];
            snprintf(what, sizeof what, "%s, payload_length %zu of %zu", im->file, cuts[k], len);
            expect_refused(img, size, 64 * MiB, -ENOEXEC, "payload", what);
        }
        free(img);
        tried++;
    }
    if (tried == 0)
        skip();
}

/* 64 bytes in the middle of the stream overwritten: -ENOEXEC. The same VM
 * then loads and boots the intact image. */
static void test_payload_corrupt(void **state)
{
    (void)state;
    boot_require_kvm(); /* first: the image buffers below leak if skip() jumps out */
    unsigned tried = 0;
    for (size_t i = 0; i < N_EXTRACTABLE; i++) {
        const struct image *im = extractable[i];
        if (!im->built || !vmm_has_feature(im->feature))
            continue;
        size_t size = 0, off = 0, len = 0, elf_size = 0;
        uint8_t *img = boot_read_file(boot_kernel_path(im->file), &size);
        payload_span(img, size, &off, &len);
        uint8_t *bad = malloc(size);
        assert_non_null(bad);
        memcpy(bad, img, size);
        memset(bad + off + len / 2 - 32, 0xff, 64);

        struct boot_vm b;
        struct vmm_boot_info info;
        struct vmm_exit exit;
        boot_vm_new(&b, VMM_PLATFORM_PC, 1, 64 * MiB);
        uint64_t before = ram_hash(b.vm);
        int rc = load_rc(&b, bad, size, VMM_BOOT_F_BZIMAGE_EXTRACT, &info);
        if (rc != -ENOEXEC)
            fail_msg("%s corrupt: rc %d (%s), expected -ENOEXEC", im->file, rc,
                     rc ? vmm_last_error() : "loaded");
        print_message("%s corrupt: %s\n", im->file, vmm_last_error());
        assert_non_null(strstr(vmm_last_error(), "payload"));
        expect_ram_untouched(b.vm, before, im->file);
        boot_expect_reset_state(b.vm, 0);

        uint8_t *elf_img = boot_read_file(boot_kernel_path("pvh.elf"), &elf_size);
        struct elf_facts elf = elf_facts(elf_img, elf_size);
        boot_load(&b, img, size, VMM_IMAGE_AUTO, VMM_BOOT_F_BZIMAGE_EXTRACT, 0, &info);
        boot_run_ok(&b, &exit);
        check_pvh(&b, &info, &elf, 0);
        boot_vm_free(&b);
        free(elf_img);
        free(bad);
        free(img);
        tried++;
    }
    if (tried == 0)
        skip();
}

/* 64 MiB of zeros (xz) into a 16 MiB VM: the output is bounded by RAM. */
static void test_payload_bigger_than_ram(void **state)
{
    (void)state;
    boot_require_kvm(); /* first: the image buffers below leak if skip() jumps out */
    size_t size = 0;
    uint8_t *img = read_image(&img_xz_bomb, &size);
    if (extracts(&img_xz_bomb, img, size))
        expect_refused(img, size, 16 * MiB, -ENOMEM, "payload", "64 MiB xz payload, 16 MiB VM");
    free(img);
}

static void test_bzip2_not_extracted(void **state)
{
    (void)state;
    boot_require_kvm(); /* first: the image buffers below leak if skip() jumps out */
    size_t size = 0;
    uint8_t *img = read_image(&img_bzip2, &size);
    expect_refused(img, size, 64 * MiB, -ENOTSUP, "bzip2", "bzip2 payload");
    free(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gzip),
        cmocka_unit_test(test_xz),
        cmocka_unit_test(test_zstd),
        cmocka_unit_test(test_lz4),
        cmocka_unit_test(test_xz_none_explicit),
        cmocka_unit_test(test_without_extract_flag),
        cmocka_unit_test(test_image_cut_short),
        cmocka_unit_test(test_payload_truncated),
        cmocka_unit_test(test_payload_corrupt),
        cmocka_unit_test(test_payload_bigger_than_ram),
        cmocka_unit_test(test_bzip2_not_extracted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
