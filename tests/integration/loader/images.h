/* Minimal valid guest images built in memory, for the hostile-input tests
 * of the loaders: each builder produces the smallest image of its format
 * that vmm_boot_load() must accept, with every byte of the file referenced
 * by its headers (so that any truncation is a malformed image), and
 * records where its headers are so that a test can change one field.
 *
 * Layouts (offsets are file offsets):
 *
 * bzImage (Documentation/arch/x86/boot.rst, protocol 2.15): setup_sects 1
 *   (boot sector + one setup sector = 1 KiB), setup header at 0x1f1, a
 *   protected-mode part of IMG_BZ_PM_SIZE bytes at 0x400 (32-bit entry at
 *   +0, 64-bit entry at +0x200, kernel_info at +0x300), optionally
 *   followed by a payload (payload_offset/payload_length).
 *
 * ELF PVH (ELF64 or ELF32): ELF header, program headers PT_LOAD text,
 *   PT_LOAD data (+ bss), PT_NOTE, PT_GNU_STACK; the note segment holds a
 *   "GNU" build-id note (6-byte desc, padded) and then the Xen
 *   XEN_ELFNOTE_PHYS32_ENTRY note; text, then data, end the file. Physical
 *   addresses are 1 MiB + file offset (congruent modulo p_align 4 KiB);
 *   virtual addresses differ (as in vmlinux), so a loader that uses p_vaddr
 *   puts the kernel in the wrong place. e_entry deliberately points
 *   elsewhere than the note.
 *
 * Multiboot ELF: ELF32 with PT_LOAD text (starting with the Multiboot
 *   0.6.96 header, flags 0|1), PT_LOAD data + bss, PT_GNU_STACK.
 *
 * Multiboot a.out kludge: a flat file of IMG_AOUT_SIZE bytes, the header
 *   (flags 0|1|16) at IMG_AOUT_HDR_OFF, load_addr IMG_AOUT_LOAD,
 *   load_end_addr = load_addr + file size, a 4 KiB bss, entry inside. */
#ifndef LOADER_IMAGES_H
#define LOADER_IMAGES_H

#include <stddef.h>
#include <stdint.h>

enum img_kind {
    IMG_BZIMAGE = 1,
    IMG_ELF64_PVH,
    IMG_ELF32_PVH,
    IMG_MB_ELF,
    IMG_MB_AOUT,
};

/* ---- bzImage setup header offsets (boot.rst "THE REAL-MODE KERNEL HEADER") */
#define BZ_SETUP_SECTS 0x1f1        /* u8 */
#define BZ_SYSSIZE 0x1f4            /* u32 */
#define BZ_VID_MODE 0x1fa           /* u16 */
#define BZ_BOOT_FLAG 0x1fe          /* u16 0xaa55 */
#define BZ_JUMP 0x200               /* u16: 0xeb, header length - 2 */
#define BZ_HEADER 0x202             /* u32 "HdrS" */
#define BZ_VERSION 0x206            /* u16 */
#define BZ_KERNEL_VERSION 0x20e     /* u16 */
#define BZ_TYPE_OF_LOADER 0x210     /* u8 */
#define BZ_LOADFLAGS 0x211          /* u8 */
#define BZ_CODE32_START 0x214       /* u32 */
#define BZ_RAMDISK_IMAGE 0x218      /* u32 */
#define BZ_RAMDISK_SIZE 0x21c       /* u32 */
#define BZ_CMD_LINE_PTR 0x228       /* u32 */
#define BZ_INITRD_ADDR_MAX 0x22c    /* u32 */
#define BZ_KERNEL_ALIGNMENT 0x230   /* u32 */
#define BZ_RELOCATABLE 0x234        /* u8 */
#define BZ_MIN_ALIGNMENT 0x235      /* u8 */
#define BZ_XLOADFLAGS 0x236         /* u16 */
#define BZ_CMDLINE_SIZE 0x238       /* u32 */
#define BZ_HW_SUBARCH 0x23c         /* u32 */
#define BZ_PAYLOAD_OFFSET 0x248     /* u32 */
#define BZ_PAYLOAD_LENGTH 0x24c     /* u32 */
#define BZ_SETUP_DATA 0x250         /* u64 */
#define BZ_PREF_ADDRESS 0x258       /* u64 */
#define BZ_INIT_SIZE 0x260          /* u32 */
#define BZ_HANDOVER_OFFSET 0x264    /* u32 */
#define BZ_KERNEL_INFO_OFFSET 0x268 /* u32 */
#define BZ_HDR_END 0x26c

/* Values of the valid image. */
#define IMG_BZ_SETUP_SECTS 1
#define IMG_BZ_SETUP_SIZE ((IMG_BZ_SETUP_SECTS + 1) * 512)
#define IMG_BZ_PM_SIZE 0x400
#define IMG_BZ_VERSION 0x020f
#define IMG_BZ_LOADED_HIGH 0x01
#define IMG_BZ_XLF_KERNEL_64 0x0001
#define IMG_BZ_XLF_ABOVE_4G 0x0002
#define IMG_BZ_INITRD_ADDR_MAX 0x7fffffffu
#define IMG_BZ_KERNEL_ALIGNMENT 0x200000u
#define IMG_BZ_MIN_ALIGNMENT 21
#define IMG_BZ_CMDLINE_SIZE 2047u
#define IMG_BZ_PREF_ADDRESS 0x200000ull  /* runtime start 2 MiB: fits the 4 MiB test VMs */
#define IMG_BZ_INIT_SIZE 0x100000u
#define IMG_BZ_ENTRY64_OFF 0x200
#define IMG_BZ_KERNEL_INFO_OFF 0x300

/* ---- ELF (System V gABI, "ELF Header" and "Program Header") ------------- */
enum elf_field {
    /* ELF header */
    EF_E_TYPE = 1, EF_E_MACHINE, EF_E_VERSION, EF_E_ENTRY, EF_E_PHOFF, EF_E_SHOFF,
    EF_E_FLAGS, EF_E_EHSIZE, EF_E_PHENTSIZE, EF_E_PHNUM, EF_E_SHENTSIZE, EF_E_SHNUM,
    EF_E_SHSTRNDX,
    /* program header */
    EF_P_TYPE, EF_P_FLAGS, EF_P_OFFSET, EF_P_VADDR, EF_P_PADDR, EF_P_FILESZ, EF_P_MEMSZ,
    EF_P_ALIGN,
};

#define ELF_PT_LOAD 1u
#define ELF_PT_NOTE 4u
#define ELF_PT_GNU_STACK 0x6474e551u
#define XEN_ELFNOTE_PHYS32_ENTRY 18u

/* Program header indexes of the ELF images. */
#define PH_TEXT 0
#define PH_DATA 1
#define PH_NOTE 2        /* PVH only; Multiboot ELF: PH_MB_STACK = 2 */
#define PH_STACK 3       /* PVH */
#define PH_MB_STACK 2

#define IMG_ELF_BASE 0x100000ull  /* paddr = base + file offset */
#define IMG_ELF_TEXT_SIZE 0x40
#define IMG_ELF_DATA_SIZE 0x40
#define IMG_ELF_BSS_SIZE 0xfc0    /* data memsz = 0x1000 */
#define IMG_ELF64_VOFF 0xffffffff80000000ull /* p_vaddr - p_paddr (ELF64) */
#define IMG_ELF32_VOFF 0xc0000000u           /* p_vaddr - p_paddr (ELF32 PVH) */

/* ---- Multiboot 0.6.96 §3.1 ----------------------------------------------- */
#define MB_MAGIC 0x1badb002u
#define MB_F_PAGE_ALIGN (1u << 0)
#define MB_F_MEMORY_INFO (1u << 1)
#define MB_F_VIDEO_MODE (1u << 2)
#define MB_F_AOUT_KLUDGE (1u << 16)
/* offsets inside the header */
#define MB_H_MAGIC 0
#define MB_H_FLAGS 4
#define MB_H_CHECKSUM 8
#define MB_H_HEADER_ADDR 12
#define MB_H_LOAD_ADDR 16
#define MB_H_LOAD_END_ADDR 20
#define MB_H_BSS_END_ADDR 24
#define MB_H_ENTRY_ADDR 28

#define IMG_AOUT_SIZE 0x80
#define IMG_AOUT_HDR_OFF 0x10
#define IMG_AOUT_LOAD 0x200000u
#define IMG_AOUT_BSS 0x1000u
#define IMG_AOUT_ENTRY_OFF 0x40

/* Builder options (all zero: the default valid image). */
struct img_opts {
    int pvh_desc8;            /* PVH: 8-byte note descriptor, as x86-64 vmlinux has */
    const uint8_t *payload;   /* bzImage: appended to the protected-mode part */
    size_t payload_len;
    uint64_t aout_load;       /* a.out: load_addr (0: IMG_AOUT_LOAD) */
};

struct img {
    enum img_kind kind;
    uint8_t *buf;
    size_t size;
    uint32_t format;          /* the explicit enum vmm_image_format */
    const char *name;
    /* ELF */
    int elf64;
    size_t phoff, phentsize;
    uint32_t phnum;
    size_t note_off;          /* PT_NOTE contents */
    size_t note_len;
    size_t xen_note_off;      /* the Xen note's header (n_namesz) */
    size_t text_off, data_off;
    /* Multiboot */
    size_t mb_off;            /* the Multiboot header */
    /* what a correct load does */
    uint64_t entry;           /* vCPU 0's RIP (bzImage: relative to the load address) */
    uint64_t kernel_gpa;      /* 0 for a relocatable bzImage */
    uint64_t kernel_end;      /* idem */
    size_t payload_off;       /* bzImage: file offset of the payload, 0 if none */
};

/* Build a fresh valid image (img->buf malloc'ed; free with img_free()). */
void img_build(struct img *img, enum img_kind kind, const struct img_opts *opts);
void img_free(struct img *img);
/* A malloc'ed copy of @src (same layout facts, own buffer). */
void img_copy(struct img *dst, const struct img *src);

/* Little-endian field access, bounds-checked against the image (asserts). */
uint64_t img_get(const struct img *img, size_t off, unsigned width);
void img_put(struct img *img, size_t off, unsigned width, uint64_t v);

/* ELF header / program header @ph field, in the image's class. */
size_t img_elf_off(const struct img *img, enum elf_field f, uint32_t ph, unsigned *width);
uint64_t img_elf_get(const struct img *img, enum elf_field f, uint32_t ph);
void img_elf_put(struct img *img, enum elf_field f, uint32_t ph, uint64_t v);

/* Multiboot: recompute the checksum after changing magic or flags. */
void img_mb_fix_checksum(struct img *img);

/* Gzip member (RFC 1952) holding @len bytes in stored deflate blocks
 * (RFC 1951 §3.2.4), then Linux's 4-byte little-endian decompressed size;
 * malloc'ed. */
uint8_t *img_gzip_stored(const uint8_t *data, size_t len, size_t *out_len);

#endif
