/* Hostile ELF PVH kernels (ELF64 like vmlinux, and ELF32): a minimal valid
 * image (images.c) loads through its XEN_ELFNOTE_PHYS32_ENTRY note; each
 * case changes one field of the ELF header, a program header or a note
 * (System V gABI; Xen docs/misc/pvh.pandoc) and expects the documented
 * error naming it, with guest RAM and vCPU 0 untouched; every truncation
 * fails; every single-byte flip of the headers and notes loads correctly
 * or fails cleanly. */
#include "loader_util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ELF(field, ph, val) {P_ELF, (field), (ph), 0, (val)}
#define NOTE(off, width, val) {P_NOTE, (off), 0, (width), (val)}
#define XEN(off, width, val) {P_XEN, (off), 0, (width), (val)}

static void expect_ram(struct lvm *v, uint64_t gpa, const uint8_t *bytes, size_t len,
                       const char *what)
{
    uint8_t buf[0x1000];
    assert_true(len <= sizeof buf);
    if (vmm_memory_read(v->vm, gpa, buf, len) != 0 || memcmp(buf, bytes, len) != 0)
        fail_msg("%s: RAM at %#" PRIx64 " is not what the image says", what, gpa);
}

/* The loaded image is exactly what its program headers say: text and data
 * at p_paddr (not p_vaddr), bss zeroed over the garbage, entered at the
 * note's address (not e_entry) in 32-bit protected mode without paging. */
static void check_loaded_as_built(struct lvm *v, const struct img *img,
                                  const struct vmm_boot_info *info)
{
    uint64_t text = img_elf_get(img, EF_P_PADDR, PH_TEXT);
    uint64_t data = img_elf_get(img, EF_P_PADDR, PH_DATA);
    uint64_t filesz = img_elf_get(img, EF_P_FILESZ, PH_DATA);
    uint64_t memsz = img_elf_get(img, EF_P_MEMSZ, PH_DATA);
    if (info->entry != img->entry)
        fail_msg("%s: entry %#" PRIx64 ", the PVH note says %#" PRIx64, img->name, info->entry,
                 img->entry);
    if (info->kernel_gpa != text || info->kernel_end != data + memsz)
        fail_msg("%s: kernel [%#" PRIx64 ", %#" PRIx64 "), segments span [%#" PRIx64 ", %#" PRIx64
                 ")", img->name, info->kernel_gpa, info->kernel_end, text, data + memsz);
    expect_ram(v, text, img->buf + img->text_off, IMG_ELF_TEXT_SIZE, "text");
    expect_ram(v, data, img->buf + img->data_off, filesz, "data");
    static const uint8_t zero[0x1000];
    expect_ram(v, data + filesz, zero, memsz - filesz, "bss (must be zeroed)");
    struct vmm_sregs s;
    assert_int_equal(vmm_vcpu_get_sregs(v->cpu, &s), 0);
    if (!(s.cr0 & 1) || (s.cr0 & 0x80000000u) || (s.efer & 0x400) || !s.cs.db)
        fail_msg("%s: PVH entry needs 32-bit protected mode without paging: cr0 %#" PRIx64
                 " efer %#" PRIx64 " cs.db %u", img->name, s.cr0, s.efer, s.cs.db);
}

static const struct mcase elf_cases[] = {
    /* valid variants */
    CASE("valid minimal image", .check = check_loaded_as_built),
    CASE("valid, no initrd, no command line", .cfg = C_NO_INITRD | C_NO_CMDLINE,
         .check = check_loaded_as_built),
    CASE("valid, e_entry garbage (PVH enters at the note)",
         .p = {ELF(EF_E_ENTRY, 0, 0xdeadbeefdeadbeefull)}, .check = check_loaded_as_built),
    CASE("valid, p_vaddr garbage (loaded at p_paddr)",
         .p = {ELF(EF_P_VADDR, PH_TEXT, 0x1234567), ELF(EF_P_VADDR, PH_DATA, 0x7654321)},
         .check = check_loaded_as_built),
    CASE("valid, data p_memsz = p_filesz (no bss)",
         .p = {ELF(EF_P_MEMSZ, PH_DATA, IMG_ELF_DATA_SIZE)}),
    CASE("valid, data p_filesz 0 (all bss)", .p = {ELF(EF_P_FILESZ, PH_DATA, 0)},
         .check = check_loaded_as_built),
    CASE("valid, p_align 0 and 1", .p = {ELF(EF_P_ALIGN, PH_TEXT, 0), ELF(EF_P_ALIGN, PH_DATA, 1)}),

    /* unusual but not forbidden: a clean failure or a correct load */
    CASE("e_shoff/e_shnum garbage (section headers unused)",
         .p = {ELF(EF_E_SHOFF, 0, 0xfffffffffff0ull), ELF(EF_E_SHNUM, 0, 0xffff)}, .rc = R_ANY),
    CASE("PT_GNU_STACK with p_offset/p_filesz past the file",
         .p = {ELF(EF_P_OFFSET, PH_STACK, 0x7fffffff), ELF(EF_P_FILESZ, PH_STACK, 0x7fffffff)},
         .rc = R_ANY),
    CASE("e_ident[EI_VERSION] 0", .p = {ABS(6, 1, 0)}, .rc = R_ANY),
    CASE("e_type ET_CORE", .p = {ELF(EF_E_TYPE, 0, 4)}, .rc = R_ANY),
    CASE("e_phnum one past the program headers", .p = {ELF(EF_E_PHNUM, 0, 5)}, .rc = R_ANY),
    CASE("data p_paddr 0", .p = {ELF(EF_P_PADDR, PH_DATA, 0)}, .rc = R_ANY),
    CASE("text p_type PT_NULL (entry no longer loaded)", .p = {ELF(EF_P_TYPE, PH_TEXT, 0)},
         .rc = R_ANY),
    CASE("PVH entry 0x300000 (RAM, outside the segments)", .p = {XEN(16, 4, 0x300000)},
         .rc = R_ANY),
    CASE("PVH entry 0", .p = {XEN(16, 4, 0)}, .rc = R_ANY),
    CASE("Xen note n_namesz 3 (no NUL)", .p = {XEN(0, 4, 3)}, .rc = R_ANY),

    /* malformed ELF header */
    CASE("e_ident magic 7f 'E' 'L' 'G'", .p = {ABS(3, 1, 'G')}, .rc = -ENOEXEC,
         .fields = "e_ident", .cfg = C_AUTO_ANY),
    CASE("e_ident[EI_CLASS] 0", .p = {ABS(4, 1, 0)}, .rc = -ENOEXEC, .fields = "e_ident",
         .cfg = C_AUTO_ANY),
    CASE("e_ident[EI_CLASS] 3", .p = {ABS(4, 1, 3)}, .rc = -ENOEXEC, .fields = "e_ident",
         .cfg = C_AUTO_ANY),
    CASE("e_ident[EI_DATA] big-endian", .p = {ABS(5, 1, 2)}, .rc = -ENOEXEC,
         .fields = "e_ident", .cfg = C_AUTO_ANY),
    CASE("e_machine EM_ARM", .p = {ELF(EF_E_MACHINE, 0, 40)}, .rc = -ENOEXEC,
         .fields = "e_machine", .cfg = C_AUTO_ANY),
    CASE("e_phoff 0x10000 (past the file)", .p = {ELF(EF_E_PHOFF, 0, 0x10000)}, .rc = -ENOEXEC,
         .fields = "e_phoff", .cfg = C_AUTO_ANY),
    CASE("e_phoff 2^64 - 16 (wraps)", .p = {ELF(EF_E_PHOFF, 0, 0xfffffffffffffff0ull)},
         .rc = -ENOEXEC, .fields = "e_phoff", .cfg = C_AUTO_ANY),
    CASE("e_phoff 0 (the ELF header read as program headers)", .p = {ELF(EF_E_PHOFF, 0, 0)},
         .rc = R_FAIL, .cfg = C_AUTO_ANY),
    CASE("e_phentsize 0", .p = {ELF(EF_E_PHENTSIZE, 0, 0)}, .rc = -ENOEXEC,
         .fields = "e_phentsize", .cfg = C_AUTO_ANY),
    CASE("e_phentsize 10", .p = {ELF(EF_E_PHENTSIZE, 0, 10)}, .rc = -ENOEXEC,
         .fields = "e_phentsize", .cfg = C_AUTO_ANY),
    CASE("e_phentsize 0xffff", .p = {ELF(EF_E_PHENTSIZE, 0, 0xffff)}, .rc = -ENOEXEC,
         .fields = "e_phentsize|e_phoff|e_phnum", .cfg = C_AUTO_ANY),
    CASE("e_phnum 0", .p = {ELF(EF_E_PHNUM, 0, 0)}, .rc = -ENOEXEC, .fields = "e_phnum",
         .cfg = C_AUTO_ANY),
    CASE("e_phnum 0xffff", .p = {ELF(EF_E_PHNUM, 0, 0xffff)}, .rc = -ENOEXEC,
         .fields = "e_phnum|e_phoff", .cfg = C_AUTO_ANY),

    /* malformed program headers */
    CASE("text p_offset 0x10000 (past the file)", .p = {ELF(EF_P_OFFSET, PH_TEXT, 0x10000)},
         .rc = -ENOEXEC, .fields = "p_offset"),
    CASE("text p_offset 2^64 - 16 (offset + filesz wraps)",
         .p = {ELF(EF_P_OFFSET, PH_TEXT, 0xfffffffffffffff0ull)}, .rc = -ENOEXEC,
         .fields = "p_offset|p_filesz"),
    CASE("text p_filesz 0x10000 (past the file)", .p = {ELF(EF_P_FILESZ, PH_TEXT, 0x10000)},
         .rc = -ENOEXEC, .fields = "p_filesz|p_offset"),
    CASE("text p_filesz 2^64 - 1", .p = {ELF(EF_P_FILESZ, PH_TEXT, 0xffffffffffffffffull)},
         .rc = -ENOEXEC, .fields = "p_filesz|p_offset|p_memsz"),
    CASE("data p_filesz > p_memsz", .p = {ELF(EF_P_MEMSZ, PH_DATA, IMG_ELF_DATA_SIZE / 2)},
         .rc = -ENOEXEC, .fields = "p_filesz|p_memsz"),
    CASE("data [1 MiB + 0x20, +4 KiB) covers text", .p = {ELF(EF_P_PADDR, PH_DATA,
         IMG_ELF_BASE + 0x20)}, .rc = -ENOEXEC, .fields = "p_paddr|overlap|overlaps"),
    CASE("data p_memsz 2^64 - 0x100 (p_paddr + p_memsz wraps)",
         .p = {ELF(EF_P_MEMSZ, PH_DATA, 0xffffffffffffff00ull)}, .rc = -ENOEXEC, .rc2 = -ENOMEM,
         .fields = "p_memsz|p_paddr"),
    CASE("data p_paddr 2^64 - 0x20 (ELF32: 4 GiB - 0x20; + p_memsz wraps or passes 4 GiB)",
         .p = {ELF(EF_P_PADDR, PH_DATA, 0xffffffffffffffe0ull)}, .rc = -ENOEXEC, .rc2 = -ENOMEM,
         .fields = "p_paddr|p_memsz"),
    CASE("text p_type PT_NULL and data p_type PT_NULL (nothing to load)",
         .p = {ELF(EF_P_TYPE, PH_TEXT, 0), ELF(EF_P_TYPE, PH_DATA, 0)}, .rc = R_FAIL),

    /* segments outside RAM: -ENOMEM */
    CASE("data p_paddr 1 GiB (RAM is 4 MiB)", .p = {ELF(EF_P_PADDR, PH_DATA, 1 * GiB)},
         .rc = -ENOMEM, .fields = "p_paddr"),
    CASE("data p_memsz 1 GiB (ends outside RAM)", .p = {ELF(EF_P_MEMSZ, PH_DATA, 1 * GiB)},
         .rc = -ENOMEM, .fields = "p_memsz|p_paddr"),
    CASE("data p_paddr 0xa0000 (the reserved legacy area)",
         .p = {ELF(EF_P_PADDR, PH_DATA, 0xa0000)}, .rc = -ENOMEM, .fields = "p_paddr"),
    CASE("data p_paddr 0x8000 (the loader's boot-data area)",
         .p = {ELF(EF_P_PADDR, PH_DATA, 0x8000)}, .rc = -ENOMEM, .rc2 = -ENOEXEC,
         .fields = "p_paddr"),

    /* notes (gABI "Note Section"): the GNU note first, then Xen's */
    CASE("GNU note n_namesz 0xffffffff", .p = {NOTE(0, 4, 0xffffffff)}, .rc = -ENOEXEC,
         .fields = "n_namesz"),
    CASE("GNU note n_namesz 0xfffffffd (rounds up to 0 in 32 bits)",
         .p = {NOTE(0, 4, 0xfffffffd)}, .rc = -ENOEXEC, .fields = "n_namesz"),
    CASE("GNU note n_descsz 0xffffffff", .p = {NOTE(4, 4, 0xffffffff)}, .rc = -ENOEXEC,
         .fields = "n_descsz"),
    CASE("GNU note n_descsz 0xfffffffd (rounds up to 0 in 32 bits)",
         .p = {NOTE(4, 4, 0xfffffffd)}, .rc = -ENOEXEC, .fields = "n_descsz"),
    CASE("GNU note n_descsz 100 (past the note segment)", .p = {NOTE(4, 4, 100)},
         .rc = -ENOEXEC, .fields = "n_descsz"),
    CASE("Xen note n_namesz 0x40 (past the note segment)", .p = {XEN(0, 4, 0x40)},
         .rc = -ENOEXEC, .fields = "n_namesz"),
    CASE("Xen note n_descsz 2 (entry needs 4)", .p = {XEN(4, 4, 2)}, .rc = -ENOEXEC,
         .fields = "n_descsz"),
    CASE("Xen note n_descsz 0", .p = {XEN(4, 4, 0)}, .rc = -ENOEXEC, .fields = "n_descsz"),
    CASE("Xen note n_type 17 (no PHYS32_ENTRY note)", .p = {XEN(8, 4, 17)}, .rc = -ENOEXEC),
    CASE("Xen note name \"Xem\" (no PHYS32_ENTRY note)", .p = {XEN(14, 1, 'm')}, .rc = -ENOEXEC),
    CASE("PVH entry 0xfff00000 (not RAM)", .p = {XEN(16, 4, 0xfff00000u)}, .rc = -ENOEXEC,
         .rc2 = -ENOMEM, .fields = "entry|PHYS32_ENTRY|XEN_ELFNOTE_PHYS32_ENTRY"),
    CASE("PT_NOTE p_offset 0x10000 (past the file)", .p = {ELF(EF_P_OFFSET, PH_NOTE, 0x10000)},
         .rc = -ENOEXEC, .fields = "p_offset"),
    CASE("PT_NOTE p_filesz 0x10000 (past the file)", .p = {ELF(EF_P_FILESZ, PH_NOTE, 0x10000)},
         .rc = -ENOEXEC, .fields = "p_filesz|p_offset"),
    CASE("PT_NOTE p_filesz 2^64 - 1", .p = {ELF(EF_P_FILESZ, PH_NOTE, 0xffffffffffffffffull)},
         .rc = -ENOEXEC, .fields = "p_filesz|p_offset"),
    CASE("PT_NOTE p_filesz 11 (not even one note header)", .p = {ELF(EF_P_FILESZ, PH_NOTE, 11)},
         .rc = -ENOEXEC),
    CASE("PT_NOTE p_type PT_NULL (no notes at all)", .p = {ELF(EF_P_TYPE, PH_NOTE, 0)},
         .rc = -ENOEXEC),
};

static struct img g_elf64, g_elf32;

static int setup(void **state)
{
    (void)state;
    img_build(&g_elf64, IMG_ELF64_PVH, NULL);
    img_build(&g_elf32, IMG_ELF32_PVH, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    img_free(&g_elf64);
    img_free(&g_elf32);
    return 0;
}

static void run_all_cases(const struct img *img, uint32_t platform)
{
    struct lvm v;
    lvm_new(&v, platform, L_RAM);
    l_run_cases(&v, img, elf_cases, sizeof elf_cases / sizeof elf_cases[0]);
    uint64_t text = img_elf_get(img, EF_P_PADDR, PH_TEXT);
    const struct mcase more[] = {
        /* The other class in e_ident: the headers no longer parse. */
        CASE("e_ident[EI_CLASS] of the other class", .p = {ABS(4, 1, img->elf64 ? 1 : 2)},
             .rc = -ENOEXEC, .cfg = C_AUTO_ANY),
        CASE("data p_paddr = text p_paddr (same range)", .p = {ELF(EF_P_PADDR, PH_DATA, text)},
             .rc = -ENOEXEC, .fields = "p_paddr|overlap|overlaps"),
        CASE("data starts in the last byte of text",
             .p = {ELF(EF_P_PADDR, PH_DATA, text + IMG_ELF_TEXT_SIZE - 1)}, .rc = -ENOEXEC,
             .fields = "p_paddr|overlap|overlaps"),
        CASE("valid, data right after text (touching, not overlapping)",
             .p = {ELF(EF_P_PADDR, PH_DATA, text + IMG_ELF_TEXT_SIZE)}),
    };
    l_run_cases(&v, img, more, sizeof more / sizeof more[0]);
    lvm_free(&v);
}

static void test_elf64_pc(void **state)
{
    (void)state;
    run_all_cases(&g_elf64, VMM_PLATFORM_PC);
}

static void test_elf64_none(void **state)
{
    (void)state;
    run_all_cases(&g_elf64, VMM_PLATFORM_NONE);
}

static void test_elf32_pc(void **state)
{
    (void)state;
    run_all_cases(&g_elf32, VMM_PLATFORM_PC);
}

static void test_elf32_none(void **state)
{
    (void)state;
    run_all_cases(&g_elf32, VMM_PLATFORM_NONE);
}

/* x86-64 vmlinux carries the entry as an 8-byte value (Linux
 * arch/x86/platform/pvh/head.S: _ASM_PTR). */
static void test_desc8(void **state)
{
    (void)state;
    struct img img;
    struct img_opts o = {0};
    o.pvh_desc8 = 1;
    struct lvm v;
    lvm_new(&v, VMM_PLATFORM_PC, L_RAM); /* first: it skips without KVM */
    img_build(&img, IMG_ELF64_PVH, &o);
    const struct mcase cases[] = {
        CASE("valid, 8-byte PHYS32_ENTRY descriptor", .check = check_loaded_as_built),
        CASE("8-byte PHYS32_ENTRY above 4 GiB", .p = {XEN(20, 4, 1)}, .rc = -ENOEXEC,
             .rc2 = -ENOMEM, .fields = "entry|PHYS32_ENTRY|XEN_ELFNOTE_PHYS32_ENTRY"),
    };
    l_run_cases(&v, &img, cases, sizeof cases / sizeof cases[0]);
    lvm_free(&v);
    img_free(&img);
}

/* @img with its program headers (and, with @notes, the note segment)
 * copied to an odd offset past the end of the file: the loader must read
 * headers without assuming alignment (UBSan checks it in the sanitizer
 * build). */
static void unaligned_copy(struct img *dst, const struct img *src, int notes)
{
    size_t ph_len = src->phnum * src->phentsize;
    size_t ph_at = src->size + 1;
    size_t note_at = ph_at + ph_len + 2; /* odd again */
    dst->kind = src->kind;
    img_copy(dst, src);
    dst->size = note_at + (notes ? src->note_len : 0);
    uint8_t *b = calloc(1, dst->size);
    assert_non_null(b);
    memcpy(b, src->buf, src->size);
    memcpy(b + ph_at, src->buf + src->phoff, ph_len);
    free(dst->buf);
    dst->buf = b;
    img_elf_put(dst, EF_E_PHOFF, 0, ph_at);
    dst->phoff = ph_at;
    if (notes) {
        memcpy(b + note_at, src->buf + src->note_off, src->note_len);
        img_elf_put(dst, EF_P_OFFSET, PH_NOTE, note_at);
        dst->note_off = note_at;
        dst->xen_note_off = note_at + (src->xen_note_off - src->note_off);
    }
}

static void test_unaligned(void **state)
{
    (void)state;
    struct lvm v;
    lvm_new(&v, VMM_PLATFORM_PC, L_RAM);
    const struct img *bases[] = {&g_elf64, &g_elf32};
    for (int k = 0; k < 2; k++) {
        struct img u;
        unaligned_copy(&u, bases[k], 0);
        const struct mcase c1[] = {
            CASE("valid, program headers at an odd file offset", .check = check_loaded_as_built),
        };
        l_run_cases(&v, &u, c1, 1);
        img_free(&u);
        unaligned_copy(&u, bases[k], 1);
        /* gABI: notes are 4-byte aligned; a loader may refuse an odd
         * PT_NOTE, or read it carefully. */
        const struct mcase c2[] = {
            CASE("program headers and PT_NOTE at odd file offsets", .rc = R_ANY),
        };
        l_run_cases(&v, &u, c2, 1);
        img_free(&u);
    }
    lvm_free(&v);
}

static void test_truncations(void **state)
{
    (void)state;
    struct lvm v;
    lvm_new(&v, VMM_PLATFORM_NONE, L_RAM);
    l_fuzz_truncations(&v, &g_elf64, 1, 0, 0);
    l_fuzz_truncations(&v, &g_elf32, 1, 0, 0);
    lvm_free(&v);
}

static void test_header_flips(void **state)
{
    (void)state;
    struct lvm v;
    lvm_new(&v, VMM_PLATFORM_PC, L_RAM);
    /* ELF header, program headers and the notes */
    l_fuzz_flips(&v, &g_elf64, 0, g_elf64.note_off + g_elf64.note_len, 0, 0);
    l_fuzz_flips(&v, &g_elf32, 0, g_elf32.note_off + g_elf32.note_len, 0, 0);
    lvm_free(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_elf64_pc, l_teardown),
        cmocka_unit_test_teardown(test_elf64_none, l_teardown),
        cmocka_unit_test_teardown(test_elf32_pc, l_teardown),
        cmocka_unit_test_teardown(test_elf32_none, l_teardown),
        cmocka_unit_test_teardown(test_desc8, l_teardown),
        cmocka_unit_test_teardown(test_unaligned, l_teardown),
        cmocka_unit_test_teardown(test_truncations, l_teardown),
        cmocka_unit_test_teardown(test_header_flips, l_teardown),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
