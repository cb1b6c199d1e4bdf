/* See images.h. */
#include "images.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <vmm/loader.h>

static size_t align_up(size_t v, size_t a)
{
    return (v + a - 1) / a * a;
}

uint64_t img_get(const struct img *img, size_t off, unsigned width)
{
    if (off > img->size || width > img->size - off)
        fail_msg("%s: read of %u bytes at %#zx is outside the %zu-byte image", img->name, width,
                 off, img->size);
    uint64_t v = 0;
    for (unsigned i = 0; i < width; i++)
        v |= (uint64_t)img->buf[off + i] << (8 * i);
    return v;
}

void img_put(struct img *img, size_t off, unsigned width, uint64_t v)
{
    if (off > img->size || width > img->size - off)
        fail_msg("%s: write of %u bytes at %#zx is outside the %zu-byte image", img->name,
                 width, off, img->size);
    for (unsigned i = 0; i < width; i++)
        img->buf[off + i] = (uint8_t)(v >> (8 * i));
}

/* ---- ELF ------------------------------------------------------------------ */

size_t img_elf_off(const struct img *img, enum elf_field f, uint32_t ph, unsigned *width)
{
    /* gABI "ELF Header" and "Program Header": Elf64_* / Elf32_* layouts. */
    static const struct { uint8_t off64, w64, off32, w32; } eh[] = {
        [EF_E_TYPE] = {16, 2, 16, 2},      [EF_E_MACHINE] = {18, 2, 18, 2},
        [EF_E_VERSION] = {20, 4, 20, 4},   [EF_E_ENTRY] = {24, 8, 24, 4},
        [EF_E_PHOFF] = {32, 8, 28, 4},     [EF_E_SHOFF] = {40, 8, 32, 4},
        [EF_E_FLAGS] = {48, 4, 36, 4},     [EF_E_EHSIZE] = {52, 2, 40, 2},
        [EF_E_PHENTSIZE] = {54, 2, 42, 2}, [EF_E_PHNUM] = {56, 2, 44, 2},
        [EF_E_SHENTSIZE] = {58, 2, 46, 2}, [EF_E_SHNUM] = {60, 2, 48, 2},
        [EF_E_SHSTRNDX] = {62, 2, 50, 2},
        [EF_P_TYPE] = {0, 4, 0, 4},        [EF_P_FLAGS] = {4, 4, 24, 4},
        [EF_P_OFFSET] = {8, 8, 4, 4},      [EF_P_VADDR] = {16, 8, 8, 4},
        [EF_P_PADDR] = {24, 8, 12, 4},     [EF_P_FILESZ] = {32, 8, 16, 4},
        [EF_P_MEMSZ] = {40, 8, 20, 4},     [EF_P_ALIGN] = {48, 8, 28, 4},
    };
    if ((unsigned)f >= sizeof eh / sizeof eh[0] || eh[f].w64 == 0)
        fail_msg("bad ELF field %d", (int)f);
    size_t base = 0;
    if (f >= EF_P_TYPE)
        base = img->phoff + (size_t)ph * img->phentsize;
    *width = img->elf64 ? eh[f].w64 : eh[f].w32;
    return base + (img->elf64 ? eh[f].off64 : eh[f].off32);
}

uint64_t img_elf_get(const struct img *img, enum elf_field f, uint32_t ph)
{
    unsigned w;
    size_t off = img_elf_off(img, f, ph, &w);
    return img_get(img, off, w);
}

void img_elf_put(struct img *img, enum elf_field f, uint32_t ph, uint64_t v)
{
    unsigned w;
    size_t off = img_elf_off(img, f, ph, &w);
    img_put(img, off, w, v);
}

static void put_phdr(struct img *img, uint32_t i, uint32_t type, uint32_t flags, uint64_t off,
                     uint64_t vaddr, uint64_t paddr, uint64_t filesz, uint64_t memsz,
                     uint64_t align)
{
    img_elf_put(img, EF_P_TYPE, i, type);
    img_elf_put(img, EF_P_FLAGS, i, flags);
    img_elf_put(img, EF_P_OFFSET, i, off);
    img_elf_put(img, EF_P_VADDR, i, vaddr);
    img_elf_put(img, EF_P_PADDR, i, paddr);
    img_elf_put(img, EF_P_FILESZ, i, filesz);
    img_elf_put(img, EF_P_MEMSZ, i, memsz);
    img_elf_put(img, EF_P_ALIGN, i, align);
}

/* One ELF note (gABI "Note Section"): namesz, descsz, type, name and desc
 * each padded to 4 bytes. Returns the bytes written. */
static size_t put_note(struct img *img, size_t off, const char *name, uint32_t type,
                       const uint8_t *desc, uint32_t descsz)
{
    uint32_t namesz = (uint32_t)strlen(name) + 1;
    img_put(img, off, 4, namesz);
    img_put(img, off + 4, 4, descsz);
    img_put(img, off + 8, 4, type);
    memcpy(img->buf + off + 12, name, namesz);
    size_t d = off + 12 + align_up(namesz, 4);
    memcpy(img->buf + d, desc, descsz);
    return d + align_up(descsz, 4) - off;
}

static void build_elf(struct img *img, int elf64, int pvh, const struct img_opts *o)
{
    img->elf64 = elf64;
    size_t ehsize = elf64 ? 64 : 52;
    img->phentsize = elf64 ? 56 : 32;
    img->phnum = pvh ? 4 : 3;
    img->phoff = ehsize;
    size_t after_ph = img->phoff + img->phnum * img->phentsize;
    uint32_t desc_len = pvh && o->pvh_desc8 ? 8 : 4;
    if (pvh) {
        img->note_off = after_ph;
        img->note_len = (12 + 4 + 8) + (12 + 4 + desc_len);
        img->xen_note_off = img->note_off + 24;
        img->text_off = align_up(img->note_off + img->note_len, 16);
    } else {
        img->text_off = align_up(after_ph, 16);
    }
    img->data_off = img->text_off + IMG_ELF_TEXT_SIZE;
    img->size = img->data_off + IMG_ELF_DATA_SIZE;
    img->buf = calloc(1, img->size);
    assert_non_null(img->buf);

    uint64_t voff = 0;
    if (pvh)
        voff = elf64 ? IMG_ELF64_VOFF : IMG_ELF32_VOFF;
    uint64_t text_pa = IMG_ELF_BASE + img->text_off, data_pa = IMG_ELF_BASE + img->data_off;

    static const uint8_t ident[] = {0x7f, 'E', 'L', 'F'};
    memcpy(img->buf, ident, 4);
    img->buf[4] = elf64 ? 2 : 1; /* EI_CLASS: ELFCLASS64 / ELFCLASS32 */
    img->buf[5] = 1;             /* EI_DATA: ELFDATA2LSB */
    img->buf[6] = 1;             /* EI_VERSION: EV_CURRENT */
    img_elf_put(img, EF_E_TYPE, 0, 2); /* ET_EXEC */
    img_elf_put(img, EF_E_MACHINE, 0, elf64 ? 62 : 3); /* EM_X86_64 / EM_386 */
    img_elf_put(img, EF_E_VERSION, 0, 1);
    img_elf_put(img, EF_E_PHOFF, 0, img->phoff);
    img_elf_put(img, EF_E_EHSIZE, 0, ehsize);
    img_elf_put(img, EF_E_PHENTSIZE, 0, img->phentsize);
    img_elf_put(img, EF_E_PHNUM, 0, img->phnum);
    img_elf_put(img, EF_E_SHENTSIZE, 0, elf64 ? 64 : 40);

    put_phdr(img, PH_TEXT, ELF_PT_LOAD, 5, img->text_off, text_pa + voff, text_pa,
             IMG_ELF_TEXT_SIZE, IMG_ELF_TEXT_SIZE, 0x1000);
    put_phdr(img, PH_DATA, ELF_PT_LOAD, 6, img->data_off, data_pa + voff, data_pa,
             IMG_ELF_DATA_SIZE, IMG_ELF_DATA_SIZE + IMG_ELF_BSS_SIZE, 0x1000);
    uint32_t stack_ph = PH_MB_STACK;
    if (pvh) {
        stack_ph = PH_STACK;
        put_phdr(img, PH_NOTE, ELF_PT_NOTE, 4, img->note_off, IMG_ELF_BASE + img->note_off + voff,
                 IMG_ELF_BASE + img->note_off, img->note_len, img->note_len, 4);
    }
    put_phdr(img, stack_ph, ELF_PT_GNU_STACK, 6, 0, 0, 0, 0, 0, 16);

    /* text: hlt; data: a recognisable pattern */
    memset(img->buf + img->text_off, 0xf4, IMG_ELF_TEXT_SIZE);
    for (size_t i = 0; i < IMG_ELF_DATA_SIZE; i++)
        img->buf[img->data_off + i] = (uint8_t)(0x40 + i);

    if (pvh) {
        static const uint8_t build_id[6] = {1, 2, 3, 4, 5, 6};
        uint8_t desc[8] = {0};
        img->entry = text_pa + 0x10;
        for (unsigned i = 0; i < 8; i++)
            desc[i] = (uint8_t)(img->entry >> (8 * i));
        size_t n = put_note(img, img->note_off, "GNU", 3 /* NT_GNU_BUILD_ID */, build_id, 6);
        n += put_note(img, img->note_off + n, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, desc, desc_len);
        assert_int_equal(n, img->note_len);
        /* As in vmlinux, e_entry is not the PVH entry (and is virtual). */
        img_elf_put(img, EF_E_ENTRY, 0, text_pa + voff + 0x20);
        img->format = VMM_IMAGE_ELF_PVH;
    } else {
        /* Multiboot header at the start of text: §3.1.1, 4-byte aligned,
         * within the first 8 KiB. */
        img->mb_off = img->text_off;
        img_put(img, img->mb_off + MB_H_MAGIC, 4, MB_MAGIC);
        img_put(img, img->mb_off + MB_H_FLAGS, 4, MB_F_PAGE_ALIGN | MB_F_MEMORY_INFO);
        img_mb_fix_checksum(img);
        img->entry = text_pa + 0x10;
        img_elf_put(img, EF_E_ENTRY, 0, img->entry);
        img->format = VMM_IMAGE_MULTIBOOT;
    }
    img->kernel_gpa = text_pa;
    img->kernel_end = data_pa + IMG_ELF_DATA_SIZE + IMG_ELF_BSS_SIZE;
}

/* ---- Multiboot ------------------------------------------------------------- */

void img_mb_fix_checksum(struct img *img)
{
    uint32_t magic = (uint32_t)img_get(img, img->mb_off + MB_H_MAGIC, 4);
    uint32_t flags = (uint32_t)img_get(img, img->mb_off + MB_H_FLAGS, 4);
    img_put(img, img->mb_off + MB_H_CHECKSUM, 4, (uint32_t)(0u - (magic + flags)));
}

static void build_aout(struct img *img, const struct img_opts *o)
{
    uint32_t load = o->aout_load ? (uint32_t)o->aout_load : IMG_AOUT_LOAD;
    img->size = IMG_AOUT_SIZE;
    img->buf = malloc(img->size);
    assert_non_null(img->buf);
    memset(img->buf, 0xf4, img->size);
    img->mb_off = IMG_AOUT_HDR_OFF;
    size_t h = img->mb_off;
    img_put(img, h + MB_H_MAGIC, 4, MB_MAGIC);
    img_put(img, h + MB_H_FLAGS, 4, MB_F_PAGE_ALIGN | MB_F_MEMORY_INFO | MB_F_AOUT_KLUDGE);
    img_mb_fix_checksum(img);
    img_put(img, h + MB_H_HEADER_ADDR, 4, load + IMG_AOUT_HDR_OFF);
    img_put(img, h + MB_H_LOAD_ADDR, 4, load);
    img_put(img, h + MB_H_LOAD_END_ADDR, 4, load + IMG_AOUT_SIZE);
    img_put(img, h + MB_H_BSS_END_ADDR, 4, load + IMG_AOUT_SIZE + IMG_AOUT_BSS);
    img_put(img, h + MB_H_ENTRY_ADDR, 4, load + IMG_AOUT_ENTRY_OFF);
    img->entry = load + IMG_AOUT_ENTRY_OFF;
    img->kernel_gpa = load;
    img->kernel_end = load + IMG_AOUT_SIZE + IMG_AOUT_BSS;
    img->format = VMM_IMAGE_MULTIBOOT;
}

/* ---- bzImage ----------------------------------------------------------------- */

static void build_bz(struct img *img, const struct img_opts *o)
{
    size_t pm = IMG_BZ_PM_SIZE + align_up(o->payload_len, 16);
    img->size = IMG_BZ_SETUP_SIZE + pm;
    img->buf = calloc(1, img->size);
    assert_non_null(img->buf);
    /* A boot sector that only halts (cli; hlt; jmp $-2). */
    static const uint8_t boot[] = {0xfa, 0xf4, 0xeb, 0xfd};
    memcpy(img->buf, boot, sizeof boot);
    img->buf[0x1ef] = 0xff; /* as Linux: must not reach boot_params (sentinel) */
    img->buf[0x1f0] = 0xff;
    img_put(img, BZ_SETUP_SECTS, 1, IMG_BZ_SETUP_SECTS);
    img_put(img, BZ_SYSSIZE, 4, pm / 16);
    img_put(img, BZ_VID_MODE, 2, 0xffff);
    img_put(img, BZ_BOOT_FLAG, 2, 0xaa55);
    img->buf[BZ_JUMP] = 0xeb;                       /* jmp short */
    img->buf[BZ_JUMP + 1] = BZ_HDR_END - 0x202;     /* boot.rst: header end = 0x202 + this */
    memcpy(img->buf + BZ_HEADER, "HdrS", 4);
    img_put(img, BZ_VERSION, 2, IMG_BZ_VERSION);
    img_put(img, 0x20c, 2, 0x1000);                 /* start_sys_seg */
    img_put(img, BZ_KERNEL_VERSION, 2, 0x280 - 0x200);
    static const char kver[] = "libvmm hostile-input test 1.0";
    memcpy(img->buf + 0x280, kver, sizeof kver);
    img_put(img, BZ_LOADFLAGS, 1, IMG_BZ_LOADED_HIGH);
    img_put(img, 0x212, 2, 0x8000);                 /* setup_move_size */
    img_put(img, BZ_CODE32_START, 4, 0x100000);
    img_put(img, BZ_INITRD_ADDR_MAX, 4, IMG_BZ_INITRD_ADDR_MAX);
    img_put(img, BZ_KERNEL_ALIGNMENT, 4, IMG_BZ_KERNEL_ALIGNMENT);
    img_put(img, BZ_RELOCATABLE, 1, 1);
    img_put(img, BZ_MIN_ALIGNMENT, 1, IMG_BZ_MIN_ALIGNMENT);
    img_put(img, BZ_XLOADFLAGS, 2, IMG_BZ_XLF_KERNEL_64 | IMG_BZ_XLF_ABOVE_4G);
    img_put(img, BZ_CMDLINE_SIZE, 4, IMG_BZ_CMDLINE_SIZE);
    img_put(img, BZ_PREF_ADDRESS, 8, IMG_BZ_PREF_ADDRESS);
    img_put(img, BZ_INIT_SIZE, 4, IMG_BZ_INIT_SIZE);
    img_put(img, BZ_KERNEL_INFO_OFFSET, 4, IMG_BZ_KERNEL_INFO_OFF);

    /* Protected-mode part: hlt everywhere (entries at +0 and +0x200), a
     * kernel_info (boot.rst "THE KERNEL_INFO") at +0x300. */
    uint8_t *p = img->buf + IMG_BZ_SETUP_SIZE;
    memset(p, 0xf4, IMG_BZ_PM_SIZE);
    memcpy(p + IMG_BZ_KERNEL_INFO_OFF, "LToP", 4);
    img_put(img, IMG_BZ_SETUP_SIZE + IMG_BZ_KERNEL_INFO_OFF + 4, 4, 16);  /* size */
    img_put(img, IMG_BZ_SETUP_SIZE + IMG_BZ_KERNEL_INFO_OFF + 8, 4, 16);  /* size_total */
    img_put(img, IMG_BZ_SETUP_SIZE + IMG_BZ_KERNEL_INFO_OFF + 12, 4, 7);  /* setup_type_max */
    if (o->payload_len) {
        memcpy(p + IMG_BZ_PM_SIZE, o->payload, o->payload_len);
        img_put(img, BZ_PAYLOAD_OFFSET, 4, IMG_BZ_PM_SIZE);
        img_put(img, BZ_PAYLOAD_LENGTH, 4, o->payload_len);
        img->payload_off = IMG_BZ_SETUP_SIZE + IMG_BZ_PM_SIZE;
    }
    img->entry = IMG_BZ_ENTRY64_OFF;
    img->format = VMM_IMAGE_BZIMAGE;
}

/* ---- all ------------------------------------------------------------------------ */

void img_build(struct img *img, enum img_kind kind, const struct img_opts *opts)
{
    static const struct img_opts none;
    if (opts == NULL)
        opts = &none;
    memset(img, 0, sizeof *img);
    img->kind = kind;
    switch (kind) {
    case IMG_BZIMAGE:
        img->name = "bzImage";
        build_bz(img, opts);
        break;
    case IMG_ELF64_PVH:
        img->name = "ELF64 PVH";
        build_elf(img, 1, 1, opts);
        break;
    case IMG_ELF32_PVH:
        img->name = "ELF32 PVH";
        build_elf(img, 0, 1, opts);
        break;
    case IMG_MB_ELF:
        img->name = "Multiboot ELF";
        build_elf(img, 0, 0, opts);
        break;
    case IMG_MB_AOUT:
        img->name = "Multiboot a.out";
        build_aout(img, opts);
        break;
    default:
        fail_msg("unknown image kind %d", (int)kind);
    }
}

void img_free(struct img *img)
{
    free(img->buf);
    img->buf = NULL;
    img->size = 0;
}

void img_copy(struct img *dst, const struct img *src)
{
    *dst = *src;
    dst->buf = malloc(src->size ? src->size : 1);
    assert_non_null(dst->buf);
    memcpy(dst->buf, src->buf, src->size);
}

/* ---- gzip ------------------------------------------------------------------------ */

static uint32_t crc32_ieee(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return ~c;
}

uint8_t *img_gzip_stored(const uint8_t *data, size_t len, size_t *out_len)
{
    size_t blocks = len / 65535 + 1;
    size_t cap = 10 + blocks * 5 + len + 8 + 4;
    uint8_t *o = malloc(cap), *w = o;
    assert_non_null(o);
    /* RFC 1952 §2.3: ID1 ID2 CM=8 FLG=0 MTIME=0 XFL=0 OS=255 */
    static const uint8_t hdr[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
    memcpy(w, hdr, sizeof hdr);
    w += sizeof hdr;
    size_t done = 0;
    do {
        size_t n = len - done > 65535 ? 65535 : len - done;
        int final = done + n == len;
        *w++ = (uint8_t)final; /* BFINAL, BTYPE 00 (stored), then byte-aligned */
        *w++ = (uint8_t)n;
        *w++ = (uint8_t)(n >> 8);
        *w++ = (uint8_t)~n;
        *w++ = (uint8_t)(~n >> 8);
        memcpy(w, data + done, n);
        w += n;
        done += n;
    } while (done < len);
    uint32_t crc = crc32_ieee(data, len);
    uint32_t isize = (uint32_t)len;
    for (int i = 0; i < 4; i++)
        *w++ = (uint8_t)(crc >> (8 * i));
    for (int i = 0; i < 4; i++)
        *w++ = (uint8_t)(isize >> (8 * i));
    for (int i = 0; i < 4; i++) /* Linux appends the decompressed size */
        *w++ = (uint8_t)(isize >> (8 * i));
    *out_len = (size_t)(w - o);
    return o;
}
