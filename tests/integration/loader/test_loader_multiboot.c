/* Hostile Multiboot 0.6.96 kernels: an ELF32 one and a flat one using the
 * a.out kludge (flag 16). Minimal valid images (images.c) load; each case
 * changes one header field (§3.1.2 "magic", "flags", "checksum"; §3.1.3
 * the address fields) or ELF field and expects the documented error naming
 * it, with guest RAM and vCPU 0 untouched; headers outside the first
 * 8 KiB or misaligned are not found; every truncation fails; every
 * single-byte flip of the headers loads correctly or fails cleanly. */
#include "loader_util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ELF(field, ph, val) {P_ELF, (field), (ph), 0, (val)}
#define MB(off, val) {P_MB, (off), 0, 4, (val)}
#define FIXSUM {P_FIXSUM, 0, 0, 0, 0}
#define MB_FLAGS_DEFAULT (MB_F_PAGE_ALIGN | MB_F_MEMORY_INFO)
#define MB_FLAGS_AOUT (MB_FLAGS_DEFAULT | MB_F_AOUT_KLUDGE)

static void expect_ram(struct lvm *v, uint64_t gpa, const uint8_t *bytes, size_t len,
                       const char *what)
{
    uint8_t buf[0x4000];
    assert_true(len <= sizeof buf);
    if (vmm_memory_read(v->vm, gpa, buf, len) != 0 || memcmp(buf, bytes, len) != 0)
        fail_msg("%s: RAM at %#" PRIx64 " is not what the image says", what, gpa);
}

static void expect_mode(struct lvm *v, const char *what)
{
    struct vmm_sregs s;
    assert_int_equal(vmm_vcpu_get_sregs(v->cpu, &s), 0);
    /* §3.2: 32-bit protected mode, paging off, flat CS. */
    if (!(s.cr0 & 1) || (s.cr0 & 0x80000000u) || (s.efer & 0x400) || !s.cs.db ||
        s.cs.base != 0)
        fail_msg("%s: Multiboot entry needs 32-bit protected mode without paging: cr0 %#"
                 PRIx64 " efer %#" PRIx64 " cs.db %u", what, s.cr0, s.efer, s.cs.db);
}

static void check_elf(struct lvm *v, const struct img *img, const struct vmm_boot_info *info)
{
    uint64_t text = img_elf_get(img, EF_P_PADDR, PH_TEXT);
    uint64_t data = img_elf_get(img, EF_P_PADDR, PH_DATA);
    uint64_t memsz = img_elf_get(img, EF_P_MEMSZ, PH_DATA);
    if (info->entry != img_elf_get(img, EF_E_ENTRY, 0))
        fail_msg("entry %#" PRIx64 ", e_entry %#" PRIx64, info->entry,
                 img_elf_get(img, EF_E_ENTRY, 0));
    if (info->kernel_gpa != text || info->kernel_end != data + memsz)
        fail_msg("kernel [%#" PRIx64 ", %#" PRIx64 "), segments span [%#" PRIx64 ", %#" PRIx64 ")",
                 info->kernel_gpa, info->kernel_end, text, data + memsz);
    expect_ram(v, text, img->buf + img->text_off, IMG_ELF_TEXT_SIZE, "text");
    expect_ram(v, data, img->buf + img->data_off, IMG_ELF_DATA_SIZE, "data");
    static const uint8_t zero[IMG_ELF_BSS_SIZE];
    expect_ram(v, data + IMG_ELF_DATA_SIZE, zero, IMG_ELF_BSS_SIZE, "bss (must be zeroed)");
    expect_mode(v, img->name);
}

/* a.out kludge: [load_addr, load_end_addr) from the file at header offset
 * - (header_addr - load_addr), zeroed to bss_end_addr, entered at
 * entry_addr (the fields as they are in @img). */
static void check_aout(struct lvm *v, const struct img *img, const struct vmm_boot_info *info)
{
    uint32_t h = (uint32_t)img->mb_off;
    uint64_t header = img_get(img, h + MB_H_HEADER_ADDR, 4);
    uint64_t load = img_get(img, h + MB_H_LOAD_ADDR, 4);
    uint64_t load_end = img_get(img, h + MB_H_LOAD_END_ADDR, 4);
    uint64_t bss_end = img_get(img, h + MB_H_BSS_END_ADDR, 4);
    uint64_t entry = img_get(img, h + MB_H_ENTRY_ADDR, 4);
    uint64_t file_off = h - (header - load);
    if (load_end == 0)
        load_end = load + (img->size - file_off);
    uint64_t end = bss_end ? bss_end : load_end;
    if (info->entry != entry || info->kernel_gpa != load || info->kernel_end != end)
        fail_msg("a.out: entry %#" PRIx64 " kernel [%#" PRIx64 ", %#" PRIx64 "), expected entry %#"
                 PRIx64 " [%#" PRIx64 ", %#" PRIx64 ")", info->entry, info->kernel_gpa,
                 info->kernel_end, entry, load, end);
    expect_ram(v, load, img->buf + file_off, load_end - load, "text+data");
    static const uint8_t zero[0x4000];
    expect_ram(v, load_end, zero, end - load_end, "bss (must be zeroed)");
    expect_mode(v, img->name);
}

static const struct mcase mb_elf_cases[] = {
    CASE("valid minimal Multiboot ELF", .check = check_elf),
    CASE("valid, no initrd, no command line", .cfg = C_NO_INITRD | C_NO_CMDLINE,
         .check = check_elf),
    CASE("valid, flags bit 31 (optional, unknown: ignored)",
         .p = {MB(MB_H_FLAGS, MB_FLAGS_DEFAULT | 0x80000000u), FIXSUM}, .check = check_elf),
    CASE("valid, flags 0", .p = {MB(MB_H_FLAGS, 0), FIXSUM}, .check = check_elf),

    CASE("magic 0x1badb003", .p = {MB(MB_H_MAGIC, MB_MAGIC + 1)}, .rc = -ENOEXEC,
         .cfg = C_AUTO_ANY),
    CASE("magic 0x1badb003, checksum fixed", .p = {MB(MB_H_MAGIC, MB_MAGIC + 1), FIXSUM},
         .rc = -ENOEXEC, .cfg = C_AUTO_ANY),
    CASE("checksum off by one", .p = {MB(MB_H_CHECKSUM, 0u - (MB_MAGIC + MB_FLAGS_DEFAULT) + 1)},
         .rc = -ENOEXEC, .fields = "checksum", .cfg = C_AUTO_ANY),
    CASE("flags bit 2 (video mode: not supported)",
         .p = {MB(MB_H_FLAGS, MB_FLAGS_DEFAULT | MB_F_VIDEO_MODE), FIXSUM}, .rc = -ENOEXEC,
         .fields = "flags"),
    CASE("flags bit 3 (required, unknown)", .p = {MB(MB_H_FLAGS, MB_FLAGS_DEFAULT | 8), FIXSUM},
         .rc = -ENOEXEC, .fields = "flags"),
    CASE("flags bit 15 (required, unknown)",
         .p = {MB(MB_H_FLAGS, MB_FLAGS_DEFAULT | 0x8000), FIXSUM}, .rc = -ENOEXEC,
         .fields = "flags"),
    CASE("flags bit 16 on an ELF with zero a.out fields", .p = {MB(MB_H_FLAGS,
         MB_FLAGS_AOUT), FIXSUM}, .rc = R_FAIL),

    CASE("data p_paddr 1 GiB (RAM is 4 MiB)", .p = {ELF(EF_P_PADDR, PH_DATA, 1 * GiB)},
         .rc = -ENOMEM, .fields = "p_paddr"),
    CASE("data p_memsz 1 GiB", .p = {ELF(EF_P_MEMSZ, PH_DATA, 1 * GiB)}, .rc = -ENOMEM,
         .fields = "p_memsz|p_paddr"),
    CASE("data covers text (overlap)", .p = {ELF(EF_P_PADDR, PH_DATA, IMG_ELF_BASE + 0x20)},
         .rc = -ENOEXEC, .fields = "p_paddr|overlap|overlaps"),
    CASE("text p_offset 0x10000 (past the file)", .p = {ELF(EF_P_OFFSET, PH_TEXT, 0x10000)},
         .rc = -ENOEXEC, .fields = "p_offset"),
    CASE("text p_filesz 0xffffffff", .p = {ELF(EF_P_FILESZ, PH_TEXT, 0xffffffff)},
         .rc = -ENOEXEC, .fields = "p_filesz|p_offset|p_memsz"),
    CASE("data p_filesz > p_memsz", .p = {ELF(EF_P_MEMSZ, PH_DATA, 8)}, .rc = -ENOEXEC,
         .fields = "p_filesz|p_memsz"),
    CASE("e_phnum 0", .p = {ELF(EF_E_PHNUM, 0, 0)}, .rc = -ENOEXEC, .fields = "e_phnum"),
    CASE("e_phoff 0xfffffff0", .p = {ELF(EF_E_PHOFF, 0, 0xfffffff0u)}, .rc = -ENOEXEC,
         .fields = "e_phoff"),
    CASE("e_phentsize 8", .p = {ELF(EF_E_PHENTSIZE, 0, 8)}, .rc = -ENOEXEC,
         .fields = "e_phentsize"),
    CASE("e_entry 0xfffffff0 (not RAM)", .p = {ELF(EF_E_ENTRY, 0, 0xfffffff0u)}, .rc = -ENOEXEC,
         .rc2 = -ENOMEM, .fields = "e_entry|entry"),
    CASE("e_entry 0x300000 (RAM, outside the segments)", .p = {ELF(EF_E_ENTRY, 0, 0x300000)},
         .rc = R_ANY),
    CASE("e_machine EM_X86_64 in an ELF32", .p = {ELF(EF_E_MACHINE, 0, 62)}, .rc = R_ANY),
    CASE("e_machine EM_ARM", .p = {ELF(EF_E_MACHINE, 0, 40)}, .rc = -ENOEXEC,
         .fields = "e_machine"),
};

/* The a.out image moved to @base: every address field shifted. */
#define AOUT_AT(base)                                                                  \
    MB(MB_H_HEADER_ADDR, (base) + IMG_AOUT_HDR_OFF), MB(MB_H_LOAD_ADDR, (base)),          \
    MB(MB_H_LOAD_END_ADDR, (base) + IMG_AOUT_SIZE),                                      \
    MB(MB_H_BSS_END_ADDR, (base) + IMG_AOUT_SIZE + IMG_AOUT_BSS),                        \
    MB(MB_H_ENTRY_ADDR, (base) + IMG_AOUT_ENTRY_OFF)

static const struct mcase mb_aout_cases[] = {
    CASE("valid minimal a.out-kludge image", .check = check_aout),
    CASE("valid, no initrd, no command line", .cfg = C_NO_INITRD | C_NO_CMDLINE,
         .check = check_aout),
    CASE("valid, load_end_addr 0 (the whole file)", .p = {MB(MB_H_LOAD_END_ADDR, 0)},
         .check = check_aout),
    CASE("valid, bss_end_addr 0 (no bss)", .p = {MB(MB_H_BSS_END_ADDR, 0)}, .check = check_aout),
    CASE("valid, load_end_addr 0x20 short of the file end",
         .p = {MB(MB_H_LOAD_END_ADDR, IMG_AOUT_LOAD + IMG_AOUT_SIZE - 0x20)}, .check = check_aout),
    CASE("valid, flags bit 31", .p = {MB(MB_H_FLAGS, MB_FLAGS_AOUT | 0x80000000u), FIXSUM},
         .check = check_aout),
    CASE("valid, moved to 3 MiB", .p = {AOUT_AT(3 * MiB)}, .check = check_aout),

    CASE("checksum off by one", .p = {MB(MB_H_CHECKSUM, 0u - (MB_MAGIC + MB_FLAGS_AOUT) + 1)},
         .rc = -ENOEXEC, .fields = "checksum", .cfg = C_AUTO_ANY),
    CASE("flags bit 2 (video mode)", .p = {MB(MB_H_FLAGS, MB_FLAGS_AOUT | MB_F_VIDEO_MODE),
         FIXSUM}, .rc = -ENOEXEC, .fields = "flags"),
    CASE("flags without bit 16 (and not an ELF)", .p = {MB(MB_H_FLAGS, MB_FLAGS_DEFAULT),
         FIXSUM}, .rc = -ENOEXEC),
    CASE("header_addr below load_addr", .p = {MB(MB_H_HEADER_ADDR, IMG_AOUT_LOAD - 0x10)},
         .rc = -ENOEXEC, .fields = "header_addr|load_addr"),
    CASE("header_addr - load_addr past the header's file offset (load before the file)",
         .p = {MB(MB_H_HEADER_ADDR, IMG_AOUT_LOAD + 0x20)}, .rc = -ENOEXEC,
         .fields = "header_addr|load_addr"),
    CASE("load_end_addr below load_addr", .p = {MB(MB_H_LOAD_END_ADDR, IMG_AOUT_LOAD - 1)},
         .rc = -ENOEXEC, .fields = "load_end_addr"),
    CASE("load_end_addr one byte past the file",
         .p = {MB(MB_H_LOAD_END_ADDR, IMG_AOUT_LOAD + IMG_AOUT_SIZE + 1)}, .rc = -ENOEXEC,
         .fields = "load_end_addr"),
    CASE("load_end_addr 64 KiB past the file",
         .p = {MB(MB_H_LOAD_END_ADDR, IMG_AOUT_LOAD + 0x10000)}, .rc = -ENOEXEC,
         .fields = "load_end_addr"),
    CASE("load_end_addr = load_addr (nothing loaded)", .p = {MB(MB_H_LOAD_END_ADDR,
         IMG_AOUT_LOAD)}, .rc = R_ANY),
    CASE("bss_end_addr below load_end_addr",
         .p = {MB(MB_H_BSS_END_ADDR, IMG_AOUT_LOAD + IMG_AOUT_SIZE - 1)}, .rc = -ENOEXEC,
         .fields = "bss_end_addr"),
    CASE("bss_end_addr 1 GiB (RAM is 4 MiB)", .p = {MB(MB_H_BSS_END_ADDR, 1 * GiB)},
         .rc = -ENOMEM, .fields = "bss_end_addr"),
    CASE("bss_end_addr 0xffffffff", .p = {MB(MB_H_BSS_END_ADDR, 0xffffffffu)}, .rc = -ENOMEM,
         .rc2 = -ENOEXEC, .fields = "bss_end_addr"),
    CASE("entry_addr 0xfffffff0 (not RAM)", .p = {MB(MB_H_ENTRY_ADDR, 0xfffffff0u)},
         .rc = -ENOEXEC, .rc2 = -ENOMEM, .fields = "entry_addr"),
    CASE("entry_addr 0x300000 (RAM, outside the image)", .p = {MB(MB_H_ENTRY_ADDR, 0x300000)},
         .rc = R_ANY),
    CASE("moved to 1 GiB (outside RAM)", .p = {AOUT_AT(1 * GiB)}, .rc = -ENOMEM,
         .fields = "load_addr|load_end_addr|bss_end_addr|header_addr"),
    CASE("moved to 0xa0000 (the reserved legacy area)", .p = {AOUT_AT(0xa0000)}, .rc = -ENOMEM,
         .fields = "load_addr|load_end_addr|bss_end_addr|header_addr"),
    CASE("moved to 0x8000 (the loader's boot-data area)", .p = {AOUT_AT(0x8000)},
         .rc = -ENOMEM, .rc2 = -ENOEXEC,
         .fields = "load_addr|load_end_addr|bss_end_addr|header_addr"),
    CASE("moved to 0", .p = {AOUT_AT(0)}, .rc = R_ANY),
    CASE("at 0xffffffe0: load_addr + file size wraps 2^32",
         .p = {MB(MB_H_HEADER_ADDR, 0xfffffff0u), MB(MB_H_LOAD_ADDR, 0xffffffe0u),
               MB(MB_H_LOAD_END_ADDR, 0), MB(MB_H_BSS_END_ADDR, 0),
               MB(MB_H_ENTRY_ADDR, 0xfffffff8u)}, .rc = -ENOMEM, .rc2 = -ENOEXEC,
         .fields = "load_addr|load_end_addr|bss_end_addr|header_addr|entry_addr"),
};

static struct img g_elf, g_aout;

static int setup(void **state)
{
    (void)state;
    img_build(&g_elf, IMG_MB_ELF, NULL);
    img_build(&g_aout, IMG_MB_AOUT, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    img_free(&g_elf);
    img_free(&g_aout);
    return 0;
}

static void run(const struct img *img, const struct mcase *c, size_t n, uint32_t platform)
{
    struct lvm v;
    lvm_new(&v, platform, L_RAM);
    l_run_cases(&v, img, c, n);
    lvm_free(&v);
}

#define NCASES(t) (sizeof(t) / sizeof((t)[0]))

static void test_elf_pc(void **state)
{
    (void)state;
    run(&g_elf, mb_elf_cases, NCASES(mb_elf_cases), VMM_PLATFORM_PC);
}

static void test_elf_none(void **state)
{
    (void)state;
    run(&g_elf, mb_elf_cases, NCASES(mb_elf_cases), VMM_PLATFORM_NONE);
}

static void test_aout_pc(void **state)
{
    (void)state;
    run(&g_aout, mb_aout_cases, NCASES(mb_aout_cases), VMM_PLATFORM_PC);
}

static void test_aout_none(void **state)
{
    (void)state;
    run(&g_aout, mb_aout_cases, NCASES(mb_aout_cases), VMM_PLATFORM_NONE);
}

/* The a.out image with its header at file offset @hdr_off (the bytes
 * before it are hlt), addresses consistent with that offset. */
static void aout_with_header_at(struct img *img, size_t hdr_off)
{
    img_build(img, IMG_MB_AOUT, NULL);
    size_t size = hdr_off + IMG_AOUT_SIZE;
    uint8_t *buf = malloc(size);
    assert_non_null(buf);
    memset(buf, 0xf4, size);
    memcpy(buf + hdr_off, img->buf + IMG_AOUT_HDR_OFF, 32);
    free(img->buf);
    img->buf = buf;
    img->size = size;
    img->mb_off = hdr_off;
    uint32_t load = IMG_AOUT_LOAD;
    img_put(img, hdr_off + MB_H_HEADER_ADDR, 4, load + hdr_off);
    img_put(img, hdr_off + MB_H_LOAD_END_ADDR, 4, load + size);
    img_put(img, hdr_off + MB_H_BSS_END_ADDR, 4, load + size + IMG_AOUT_BSS);
    img->kernel_end = load + size + IMG_AOUT_BSS;
}

/* §3.1.1: "The Multiboot header must be contained completely within the
 * first 8192 bytes of the OS image, and must be longword (32-bit)
 * aligned." */
static void test_header_placement(void **state)
{
    (void)state;
    struct lvm v;
    lvm_new(&v, VMM_PLATFORM_PC, L_RAM);
    static const struct {
        size_t off;
        int rc;
        const char *what;
    } at[] = {
        {8192 - 32, 0, "header (32 bytes) ending exactly at 8 KiB"},
        {8192 - 12, R_ANY, "magic/flags/checksum in 8 KiB, address fields past it"},
        {8192, -ENOEXEC, "header at 8 KiB (outside the first 8192 bytes)"},
        {0x12, -ENOEXEC, "header at 0x12 (not 4-byte aligned)"},
        {0x10 + 1024, 0, "header at 0x410"},
    };
    for (size_t i = 0; i < NCASES(at); i++) {
        struct img img;
        aout_with_header_at(&img, at[i].off);
        const struct mcase c[] = {
            CASE(at[i].what, .rc = at[i].rc, .check = at[i].rc == 0 ? check_aout : NULL),
        };
        l_run_cases(&v, &img, c, 1);
        img_free(&img);
    }
    lvm_free(&v);
}

static void test_truncations(void **state)
{
    (void)state;
    struct lvm v;
    lvm_new(&v, VMM_PLATFORM_NONE, L_RAM);
    l_fuzz_truncations(&v, &g_elf, 1, 0, 0);
    l_fuzz_truncations(&v, &g_aout, 1, 0, 0);
    lvm_free(&v);
}

static void test_header_flips(void **state)
{
    (void)state;
    struct lvm v;
    lvm_new(&v, VMM_PLATFORM_PC, L_RAM);
    /* ELF and program headers, then the Multiboot header (checksum kept
     * consistent so that the flip reaches the field). */
    l_fuzz_flips(&v, &g_elf, 0, g_elf.mb_off + 12, 0, 1);
    l_fuzz_flips(&v, &g_aout, g_aout.mb_off, g_aout.mb_off + 32, 0, 1);
    /* and raw, checksum not fixed */
    l_fuzz_flips(&v, &g_aout, g_aout.mb_off, g_aout.mb_off + 32, 0, 0);
    lvm_free(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_elf_pc, l_teardown),
        cmocka_unit_test_teardown(test_elf_none, l_teardown),
        cmocka_unit_test_teardown(test_aout_pc, l_teardown),
        cmocka_unit_test_teardown(test_aout_none, l_teardown),
        cmocka_unit_test_teardown(test_header_placement, l_teardown),
        cmocka_unit_test_teardown(test_truncations, l_teardown),
        cmocka_unit_test_teardown(test_header_flips, l_teardown),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
