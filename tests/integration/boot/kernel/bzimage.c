/* bzImage test kernel, 64-bit part: reports the entry state recorded by
 * bzimage_head.S and what the loader put in boot_params (the "zero page",
 * Documentation/arch/x86/zero-page.rst), the command line and the initrd,
 * as "key=value" lines. Reading them also proves they are identity-mapped. */
#include "bzimage.h"
#include "report.h"

extern char startup_32[] __attribute__((visibility("hidden")));

/* zero-page.rst offsets */
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_SENTINEL 0x1ef
#define BP_HDR 0x1f1
#define BP_E820_TABLE 0x2d0
#define E820_MAX 128
/* boot.rst setup header offsets (in boot_params) */
#define H_SETUP_SECTS 0x1f1
#define H_VID_MODE 0x1fa
#define H_BOOT_FLAG 0x1fe
#define H_HEADER 0x202
#define H_VERSION 0x206
#define H_TYPE_OF_LOADER 0x210
#define H_LOADFLAGS 0x211
#define H_CODE32_START 0x214
#define H_RAMDISK_IMAGE 0x218
#define H_RAMDISK_SIZE 0x21c
#define H_CMD_LINE_PTR 0x228
#define H_INITRD_ADDR_MAX 0x22c
#define H_KERNEL_ALIGNMENT 0x230
#define H_RELOCATABLE 0x234
#define H_XLOADFLAGS 0x236
#define H_CMDLINE_SIZE 0x238
#define H_HARDWARE_SUBARCH 0x23c
#define H_SETUP_DATA 0x250
#define H_PREF_ADDRESS 0x258
#define H_INIT_SIZE 0x260

static uint64_t rd(const uint8_t *p, int len)
{
    uint64_t v = 0;
    for (int i = len - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

void kmain(struct entry_state *st);

void kmain(struct entry_state *st)
{
    const uint8_t *bp = (const uint8_t *)st->rsi;

    r_str("kernel=bzimage\n");
    r_kv("entry_bits", st->kind);
    r_kv("entry", st->entry);
    r_kv("load", (uint64_t)startup_32);
    r_kv("rsi", st->rsi);
    r_kv("rflags", st->rflags);
    if (st->kind == 32) {
        r_kv("rbx", st->rbx);
        r_kv("rbp", st->rbp);
        r_kv("rdi", st->rdi);
    }
    r_kv("cs", st->cs);
    r_kv("ds", st->ds);
    r_kv("es", st->es);
    r_kv("ss", st->ss);
    r_kv("cr0", st->cr0);
    r_kv("cr4", st->cr4);
    r_kv("efer", st->efer);
    r_kv("cs_desc", st->cs_desc);
    r_kv("ds_desc", st->ds_desc);

    r_kv("bp.sentinel", bp[BP_SENTINEL]);
    r_kv("bp.setup_sects", bp[H_SETUP_SECTS]);
    r_kv("bp.vid_mode", rd(bp + H_VID_MODE, 2));
    r_kv("bp.boot_flag", rd(bp + H_BOOT_FLAG, 2));
    r_kv("bp.header", rd(bp + H_HEADER, 4));
    r_kv("bp.version", rd(bp + H_VERSION, 2));
    r_kv("bp.type_of_loader", bp[H_TYPE_OF_LOADER]);
    r_kv("bp.loadflags", bp[H_LOADFLAGS]);
    r_kv("bp.code32_start", rd(bp + H_CODE32_START, 4));
    r_kv("bp.initrd_addr_max", rd(bp + H_INITRD_ADDR_MAX, 4));
    r_kv("bp.kernel_alignment", rd(bp + H_KERNEL_ALIGNMENT, 4));
    r_kv("bp.relocatable_kernel", bp[H_RELOCATABLE]);
    r_kv("bp.xloadflags", rd(bp + H_XLOADFLAGS, 2));
    r_kv("bp.cmdline_size", rd(bp + H_CMDLINE_SIZE, 4));
    r_kv("bp.hardware_subarch", rd(bp + H_HARDWARE_SUBARCH, 4));
    r_kv("bp.setup_data", rd(bp + H_SETUP_DATA, 8));
    r_kv("bp.pref_address", rd(bp + H_PREF_ADDRESS, 8));
    r_kv("bp.init_size", rd(bp + H_INIT_SIZE, 4));

    uint64_t cmdline = rd(bp + H_CMD_LINE_PTR, 4) | rd(bp + BP_EXT_CMD_LINE_PTR, 4) << 32;
    uint64_t initrd = rd(bp + H_RAMDISK_IMAGE, 4) | rd(bp + BP_EXT_RAMDISK_IMAGE, 4) << 32;
    uint64_t initrd_size = rd(bp + H_RAMDISK_SIZE, 4) | rd(bp + BP_EXT_RAMDISK_SIZE, 4) << 32;
    r_kv("bp.cmd_line_ptr", cmdline);
    r_kv("bp.ramdisk_image", initrd);
    r_kv("bp.ramdisk_size", initrd_size);

    uint32_t n = bp[BP_E820_ENTRIES];
    r_kv("bp.e820_entries", n);
    for (uint32_t i = 0; i < n && i < E820_MAX; i++) {
        const uint8_t *e = bp + BP_E820_TABLE + 20 * i;
        r_kiv("e820.", i, "addr", rd(e, 8));
        r_kiv("e820.", i, "size", rd(e + 8, 8));
        r_kiv("e820.", i, "type", rd(e + 16, 4));
    }

    if (cmdline != 0)
        r_kstr("cmdline", (const char *)cmdline, (uint32_t)rd(bp + H_CMDLINE_SIZE, 4) + 1);
    if (initrd != 0)
        r_kv("initrd_fnv", fnv1a((const void *)initrd, initrd_size));
    r_done();
}
