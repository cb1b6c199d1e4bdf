/* Linux bzImage, Documentation/arch/x86/boot.rst ("THE LINUX/x86 BOOT
 * PROTOCOL"): the real-mode setup header is parsed from the untrusted image,
 * the protected-mode kernel placed (at pref_address when it fits, else the
 * lowest kernel_alignment-aligned spot in RAM), the initrd placed below
 * initrd_addr_max, and the zero page (zero-page.rst) built from the header.
 * The 16-bit real-mode entry is not used: vCPU 0 starts at the 32- or
 * 64-bit entry with boot_params in RSI. */
#include "loader/elf.h"
#include "loader/extract.h"
#include "loader/loader.h"

#include "core/error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Setup header fields (boot.rst "THE REAL-MODE KERNEL HEADER"), as offsets
 * in the image and in boot_params alike. */
#define H_SETUP_SECTS 0x1f1
#define H_SYSSIZE 0x1f4
#define H_VID_MODE 0x1fa
#define H_BOOT_FLAG 0x1fe
#define H_JUMP 0x200
#define H_HEADER 0x202
#define H_VERSION 0x206
#define H_TYPE_OF_LOADER 0x210
#define H_LOADFLAGS 0x211
#define H_CODE32_START 0x214
#define H_RAMDISK_IMAGE 0x218
#define H_RAMDISK_SIZE 0x21c
#define H_HEAP_END_PTR 0x224
#define H_CMD_LINE_PTR 0x228
#define H_INITRD_ADDR_MAX 0x22c
#define H_KERNEL_ALIGNMENT 0x230
#define H_RELOCATABLE 0x234
#define H_MIN_ALIGNMENT 0x235
#define H_XLOADFLAGS 0x236
#define H_CMDLINE_SIZE 0x238
#define H_HARDWARE_SUBARCH 0x23c
#define H_PAYLOAD_OFFSET 0x248
#define H_PAYLOAD_LENGTH 0x24c
#define H_SETUP_DATA 0x250
#define H_PREF_ADDRESS 0x258
#define H_INIT_SIZE 0x260
#define H_END_MAX 0x290 /* boot_params' next field, edd_mbr_sig_buffer */
/* Image bytes every supported header has (through init_size's version). */
#define H_MIN_IMAGE 0x264

/* zero-page.rst */
#define BP_E820_ENTRIES 0x1e8
#define BP_E820_TABLE 0x2d0
#define BP_E820_MAX 128
#define BP_E820_ENTRY_SIZE 20

#define LOADED_HIGH 0x01
#define CAN_USE_HEAP 0x80
#define XLF_KERNEL_64 0x0001
/* 2.10 (Linux 2.6.31) brought init_size, pref_address and min_alignment:
 * without them a loader cannot know how much memory the kernel needs. */
#define OLDEST_VERSION 0x020a

struct setup_header {
    uint64_t setup_size;   /* (setup_sects + 1) * 512 */
    uint64_t pm_size;      /* the protected-mode kernel: the rest of the file */
    uint64_t hdr_end;      /* end of the header bytes copied to boot_params */
    uint16_t version;
    uint8_t loadflags;
    uint16_t xloadflags;
    uint32_t initrd_addr_max;
    uint32_t cmdline_size;
    uint64_t kernel_alignment, min_alignment; /* relocatable kernels */
    bool relocatable;
    uint64_t pref_address;
    uint64_t init_size;
};

bool loader_is_bzimage(const uint8_t *image, uint64_t size)
{
    return size >= H_HEADER + 4 && ld16(image + H_BOOT_FLAG) == 0xaa55 &&
           memcmp(image + H_HEADER, "HdrS", 4) == 0;
}

static bool is_pow2(uint64_t v)
{
    return v && !(v & (v - 1));
}

/* boot.rst fields, each checked before use; defaults for the older
 * versions that lack some. */
static int parse_header(const uint8_t *img, uint64_t size, struct setup_header *h, const char *fn)
{
    if (size < H_MIN_IMAGE)
        return vmm_err(-ENOEXEC, "%s: bzImage: the %llu-byte file is too short for a setup "
                       "header", fn, (unsigned long long)size);
    if (memcmp(img + H_HEADER, "HdrS", 4) != 0)
        return vmm_err(-ENOEXEC, "%s: bzImage: no \"HdrS\" magic in header at 0x202", fn);
    if (ld16(img + H_BOOT_FLAG) != 0xaa55)
        return vmm_err(-ENOEXEC, "%s: bzImage: boot_flag is 0x%04x, not 0xaa55", fn,
                       ld16(img + H_BOOT_FLAG));
    h->version = ld16(img + H_VERSION);
    if (h->version < OLDEST_VERSION)
        return vmm_err(-ENOEXEC, "%s: bzImage: boot protocol version 0x%04x is older than 2.10, "
                       "the oldest libvmm loads (it needs init_size)", fn, h->version);
    /* boot.rst: "If setup_sects is 0, the real value is 4." */
    uint64_t sects = img[H_SETUP_SECTS] ? img[H_SETUP_SECTS] : 4;
    h->setup_size = (sects + 1) * 512;
    if (h->setup_size >= size)
        return vmm_err(-ENOEXEC, "%s: bzImage: setup_sects %u puts the protected-mode kernel at "
                       "0x%llx, past the end of the %llu-byte file", fn, img[H_SETUP_SECTS],
                       (unsigned long long)h->setup_size, (unsigned long long)size);
    h->pm_size = size - h->setup_size;
    /* A file shorter than the header says is truncated (Linux pads the
     * protected-mode part to exactly syssize paragraphs). */
    uint64_t syssize = ld32(img + H_SYSSIZE);
    if (h->pm_size < syssize * 16)
        return vmm_err(-ENOEXEC, "%s: bzImage: syssize 0x%llx promises %llu bytes of "
                       "protected-mode kernel, the file has %llu: truncated", fn,
                       (unsigned long long)syssize, (unsigned long long)syssize * 16,
                       (unsigned long long)h->pm_size);
    /* boot.rst: the header ends at 0x202 + the jump's byte offset; it must
     * hold every field its version defines (init_size, 2.10, is the last
     * this loader reads). */
    h->hdr_end = H_HEADER + img[H_JUMP + 1];
    if (h->hdr_end < H_INIT_SIZE + 4)
        return vmm_err(-ENOEXEC, "%s: bzImage: the header ends at 0x%llx (the jump at 0x200), "
                       "before init_size, which boot protocol 0x%04x has at 0x260", fn,
                       (unsigned long long)h->hdr_end, h->version);
    if (h->hdr_end > H_END_MAX)
        h->hdr_end = H_END_MAX;
    h->loadflags = img[H_LOADFLAGS];
    if (!(h->loadflags & LOADED_HIGH))
        return vmm_err(-ENOEXEC, "%s: bzImage: loadflags 0x%02x lack LOADED_HIGH: a zImage, "
                       "which libvmm does not load", fn, h->loadflags);
    h->initrd_addr_max = ld32(img + H_INITRD_ADDR_MAX);
    h->cmdline_size = ld32(img + H_CMDLINE_SIZE);
    h->relocatable = img[H_RELOCATABLE] != 0;
    h->kernel_alignment = ld32(img + H_KERNEL_ALIGNMENT);
    h->xloadflags = h->version >= 0x020c ? ld16(img + H_XLOADFLAGS) : 0;
    if (h->relocatable && (!is_pow2(h->kernel_alignment) || h->kernel_alignment > (1u << 30)))
        return vmm_err(-ENOEXEC, "%s: bzImage: kernel_alignment 0x%llx is not a power of two "
                       "up to 1 GiB", fn, (unsigned long long)h->kernel_alignment);
    h->min_alignment = h->kernel_alignment;
    if (h->relocatable) {
        uint8_t shift = img[H_MIN_ALIGNMENT];
        if (shift < 12 || shift > 30 || (1ull << shift) > h->kernel_alignment)
            return vmm_err(-ENOEXEC, "%s: bzImage: min_alignment %u is not between 4 KiB and "
                           "kernel_alignment", fn, shift);
        h->min_alignment = 1ull << shift;
    }
    h->pref_address = ld64(img + H_PREF_ADDRESS);
    h->init_size = ld32(img + H_INIT_SIZE);
    if (h->init_size < h->pm_size)
        return vmm_err(-ENOEXEC, "%s: bzImage: init_size 0x%llx is smaller than the %llu bytes "
                       "of the protected-mode kernel", fn, (unsigned long long)h->init_size,
                       (unsigned long long)h->pm_size);
    return 0;
}

/* Where the protected-mode kernel goes; claims it and says in *align the
 * kernel_alignment to report in boot_params. */
static int place_kernel(struct load_ctx *ctx, const struct setup_header *h,
                        const uint8_t *pm, uint64_t *load, uint64_t *align)
{
    struct load_plan *p = &ctx->plan;
    uint64_t pref = h->pref_address;
    *align = h->kernel_alignment;
    if (!h->relocatable) {
        /* Loaded at 1 MiB; it moves itself to pref_address (its
         * LOAD_PHYSICAL_ADDR) and needs init_size from there. */
        if (pref < LOADER_HIGH_START || pref > LOADER_4G - h->init_size)
            return vmm_err(-ENOEXEC, "%s: bzImage: pref_address 0x%llx of a non-relocatable "
                           "kernel with init_size 0x%llx is not between 1 MiB and 4 GiB",
                           p->fn, (unsigned long long)pref, (unsigned long long)h->init_size);
        uint64_t end = pref + h->init_size;
        if (end < LOADER_HIGH_START + h->pm_size)
            end = LOADER_HIGH_START + h->pm_size;
        *load = LOADER_HIGH_START;
        return plan_add(p, LOADER_HIGH_START, end - LOADER_HIGH_START, pm, h->pm_size,
                        PLAN_RAM, PLAN_KEEP, "kernel (non-relocatable, init_size from "
                        "pref_address)");
    }
    /* boot.rst (init_size): a relocatable kernel runs at
     * align_up(max(load, pref_address), kernel_alignment) and needs
     * init_size from there. Loading below pref_address therefore saves
     * nothing, so the search starts at pref_address ("A relocating
     * bootloader should attempt to load at this address if possible"),
     * below 4 GiB (the identity map and code32_start's reach), trying
     * kernel_alignment and then each smaller power of two down to
     * min_alignment, which boot.rst then asks the loader to report as
     * kernel_alignment. */
    uint64_t from = pref > LOADER_HIGH_START ? pref : LOADER_HIGH_START;
    int r = -ENOMEM;
    for (; r < 0 && *align >= h->min_alignment; *align >>= 1)
        r = plan_place_low(p, h->init_size, *align, from, LOADER_4G, load, "kernel");
    if (r < 0)
        return vmm_err(-ENOMEM, "%s: bzImage: no room for the kernel's init_size 0x%llx at or "
                       "above pref_address 0x%llx and below 4 GiB in the VM's RAM (see "
                       "vmm_pc_e820())", p->fn, (unsigned long long)h->init_size,
                       (unsigned long long)pref);
    *align <<= 1; /* the loop halved it once more after the fit */
    /* Only the file's bytes are written; the rest of init_size is the
     * kernel's to use (its decompressor and .bss), claimed but not zeroed. */
    return plan_add(p, *load, h->init_size, pm, h->pm_size, PLAN_RAM, PLAN_KEEP,
                    "kernel (init_size 0x%llx)", (unsigned long long)h->init_size);
}

/* The payload (boot.rst payload_offset/payload_length, 2.08+): whether it
 * lies inside the protected-mode kernel. */
static bool payload_span(const struct load_ctx *ctx, const struct setup_header *h, uint64_t *off,
                         uint64_t *len)
{
    *off = ld32(ctx->image + H_PAYLOAD_OFFSET);
    *len = ld32(ctx->image + H_PAYLOAD_LENGTH);
    return *len != 0 && *off <= h->pm_size && *len <= h->pm_size - *off;
}

/* VMM_BOOT_F_BZIMAGE_EXTRACT: the payload, decompressed on the host,
 * booted as the PVH ELF it is. */
static int extract_and_load(struct load_ctx *ctx, const struct setup_header *h,
                            const uint8_t *pm)
{
    const char *fn = ctx->plan.fn;
    uint64_t off, len;
    if (!payload_span(ctx, h, &off, &len))
        return vmm_err(-ENOEXEC, "%s: bzImage: payload_offset 0x%llx + payload_length 0x%llx lie "
                       "outside the %llu-byte protected-mode kernel", fn,
                       (unsigned long long)off, (unsigned long long)len,
                       (unsigned long long)h->pm_size);
    const uint8_t *payload = pm + off;
    int r;
    uint32_t comp = vmm_loader_compression(payload, len);
    if (comp == VMM_COMPRESSION_UNKNOWN)
        return vmm_err(-ENOEXEC, "%s: bzImage: the payload (payload_offset 0x%llx) starts with "
                       "bytes %02x %02x %02x %02x, no compression format libvmm knows", fn,
                       (unsigned long long)off, payload[0], len > 1 ? payload[1] : 0,
                       len > 2 ? payload[2] : 0, len > 3 ? payload[3] : 0);
    const uint8_t *elf = payload;
    size_t elf_size = len;
    if (comp != VMM_COMPRESSION_NONE) {
        r = vmm_loader_decompress(payload, len, comp, ctx->plan.ram_bytes, &ctx->owned,
                                  &elf_size, "vmm_boot_load: bzImage payload");
        if (r < 0)
            return r;
        elf = ctx->owned;
    }
    ctx->image = elf;
    ctx->image_size = elf_size;
    if (!elf_is_elf(elf, elf_size))
        return vmm_err(-ENOEXEC, "%s: bzImage: the %s payload (%zu bytes) is not an ELF vmlinux",
                       fn, vmm_loader_compression_name(comp), elf_size);
    const struct elf_image *vmlinux;
    r = loader_elf(ctx, &vmlinux);
    if (r < 0)
        return r;
    if (!vmlinux->has_pvh)
        return vmm_err(-ENOEXEC, "%s: bzImage: the extracted vmlinux has no "
                       "XEN_ELFNOTE_PHYS32_ENTRY note (a kernel built without CONFIG_PVH): "
                       "load it without VMM_BOOT_F_BZIMAGE_EXTRACT", fn);
    r = loader_pvh(ctx);
    if (r < 0)
        return r;
    ctx->info.protocol_version = h->version;
    ctx->info.compression = comp;
    ctx->info.extracted_size = elf_size;
    return 0;
}

/* The payload's compression, for vmm_boot_info (nothing is checked: the
 * in-guest decompressor owns the payload when it is not extracted). */
static uint32_t payload_compression(const struct load_ctx *ctx, const struct setup_header *h,
                                    const uint8_t *pm)
{
    uint64_t off, len;
    return payload_span(ctx, h, &off, &len) ? vmm_loader_compression(pm + off, len)
                                            : VMM_COMPRESSION_NONE;
}

/* zero-page.rst: the e820 table. */
static int write_e820(struct load_ctx *ctx, uint8_t *bp)
{
    const struct load_plan *p = &ctx->plan;
    if (p->map_count > BP_E820_MAX)
        return vmm_err(-EINVAL, "%s: bzImage: the VM's memory map has %u entries; boot_params "
                       "holds %d", p->fn, p->map_count, BP_E820_MAX);
    for (uint32_t i = 0; i < p->map_count; i++) {
        uint8_t *e = bp + BP_E820_TABLE + i * BP_E820_ENTRY_SIZE;
        st64(e, p->map[i].addr);
        st64(e + 8, p->map[i].size);
        st32(e + 16, p->map[i].type);
    }
    bp[BP_E820_ENTRIES] = (uint8_t)p->map_count;
    return 0;
}

int loader_bzimage(struct load_ctx *ctx)
{
    const char *fn = ctx->plan.fn;
    const struct vmm_boot_config *cfg = ctx->cfg;
    const uint8_t *img = ctx->image;
    struct setup_header h;
    int r = parse_header(img, ctx->image_size, &h, fn);
    if (r < 0)
        return r;
    const uint8_t *pm = img + h.setup_size;
    /* The same kernel reads the command line whichever way it is entered. */
    if (ctx->cmdline_len > h.cmdline_size)
        return vmm_err(-EINVAL, "%s: the command line has %zu bytes, more than the kernel's "
                       "cmdline_size %u", fn, ctx->cmdline_len, h.cmdline_size);
    if (cfg->flags & VMM_BOOT_F_BZIMAGE_EXTRACT)
        return extract_and_load(ctx, &h, pm);

    bool entry32 = cfg->flags & VMM_BOOT_F_BZIMAGE_ENTRY32;
    if (!entry32 && !(h.xloadflags & XLF_KERNEL_64))
        return vmm_err(-ENOEXEC, "%s: bzImage: xloadflags 0x%x lack XLF_KERNEL_64 (boot protocol "
                       "0x%04x): the kernel has no 64-bit entry; use "
                       "VMM_BOOT_F_BZIMAGE_ENTRY32", fn, h.xloadflags, h.version);
    if (!entry32 && h.pm_size <= 0x200)
        return vmm_err(-ENOEXEC, "%s: bzImage: the %llu-byte protected-mode kernel ends before "
                       "its 64-bit entry at +0x200", fn, (unsigned long long)h.pm_size);
    /* boot.rst asks for a command line pointer even when there is none. */
    uint64_t cmdline = 0;
    r = loader_plan_cmdline(ctx, true, &cmdline);
    uint64_t load = 0, align = 0;
    if (r == 0)
        r = place_kernel(ctx, &h, pm, &load, &align);
    if (r == 0) {
        uint64_t max = h.initrd_addr_max < LOADER_4G - 1 ? h.initrd_addr_max : LOADER_4G - 1;
        r = loader_plan_modules(ctx, max + 1, true);
        if (r == -ENOMEM)
            r = vmm_err(r, "%s: bzImage: no room for the initrd%s (%llu bytes) in RAM between "
                        "1 MiB and initrd_addr_max 0x%x, clear of the kernel", fn,
                        cfg->num_modules ? " and modules" : "",
                        (unsigned long long)ctx->initrd_total, h.initrd_addr_max);
    }
    uint64_t initrd = ctx->mod_count ? ctx->mod_gpa[0] : 0;
    uint8_t *bp = ctx->info_page;
    if (r == 0)
        r = write_e820(ctx, bp);
    if (r < 0)
        return r;

    /* The header as the kernel wrote it, from 0x1f1 (and only from there:
     * zero-page.rst's sentinel at 0x1ef must stay 0), then the fields a
     * boot loader fills in ("Details of header fields": obligatory and
     * write fields). */
    memcpy(bp + H_SETUP_SECTS, img + H_SETUP_SECTS, h.hdr_end - H_SETUP_SECTS);
    st16(bp + H_VID_MODE, 0xffff);       /* "normal" */
    bp[H_TYPE_OF_LOADER] = 0xff;         /* no assigned boot loader id */
    bp[H_LOADFLAGS] = (uint8_t)(h.loadflags | CAN_USE_HEAP);
    st16(bp + H_HEAP_END_PTR, 0xfe00);   /* for the unused real-mode setup code */
    st32(bp + H_CODE32_START, (uint32_t)load);
    st32(bp + H_RAMDISK_IMAGE, (uint32_t)initrd);
    st32(bp + H_RAMDISK_SIZE, (uint32_t)ctx->initrd_total);
    st32(bp + H_CMD_LINE_PTR, (uint32_t)cmdline);
    if (h.relocatable)
        st32(bp + H_KERNEL_ALIGNMENT, (uint32_t)align);
    /* Everything is placed below 4 GiB: the ext_* high halves (0x0c0) stay
     * 0 from the zeroed page. */
    st32(bp + H_HARDWARE_SUBARCH, 0); /* X86_SUBARCH_PC */
    st64(bp + H_SETUP_DATA, 0);       /* no setup_data list */

    ctx->entry.rip = entry32 ? load : load + 0x200;
    ctx->entry.rsi = LOADER_INFO_GPA;
    /* A relocatable kernel is placed at or above pref_address, aligned, so
     * it runs where it was loaded; a non-relocatable one at pref_address. */
    uint64_t end = (h.relocatable ? load : h.pref_address) + h.init_size;
    loader_report(ctx, VMM_IMAGE_BZIMAGE, load, end > load + h.pm_size ? end : load + h.pm_size,
                  cmdline);
    ctx->info.protocol_version = h.version;
    ctx->info.compression = payload_compression(ctx, &h, pm);
    return 0;
}
