/* Multiboot (version 1, specification 0.6.96): the header in the image's
 * first 8 KiB (§3.1), the kernel loaded from its ELF program headers or
 * from the header's a.out kludge address fields (§3.1.3), entered in
 * 32-bit protected mode with EAX = 0x2BADB002 and EBX = the
 * multiboot_info (§3.2, §3.3). */
#include "loader/elf.h"
#include "loader/loader.h"

#include "core/error.h"

#include <errno.h>
#include <string.h>

#define MB_HEADER_MAGIC 0x1badb002u
#define MB_BOOT_MAGIC 0x2badb002u
#define MB_SEARCH 8192
/* Header flags (§3.1.2): bits 0-15 are requirements a loader must meet or
 * refuse; bits 16-31 are optional. */
#define MBH_PAGE_ALIGN (1u << 0)
#define MBH_MEMORY_INFO (1u << 1)
#define MBH_VIDEO_MODE (1u << 2)
#define MBH_AOUT_KLUDGE (1u << 16)
#define MBH_SUPPORTED_REQUIRED (MBH_PAGE_ALIGN | MBH_MEMORY_INFO)
/* multiboot_info flags (§3.3) */
#define MBI_MEM (1u << 0)
#define MBI_CMDLINE (1u << 2)
#define MBI_MODS (1u << 3)
#define MBI_MMAP (1u << 6)
#define MBI_LOADER_NAME (1u << 9)
#define MMAP_ENTRY 24 /* size field (20) + base_addr + length + type */
#define MOD_ENTRY 16

int64_t loader_find_multiboot(const uint8_t *image, uint64_t size)
{
    /* §3.1.1: "contained completely within the first 8192 bytes". */
    for (uint64_t off = 0; off + 12 <= size && off + 12 <= MB_SEARCH; off += 4) {
        uint32_t magic = ld32(image + off), flags = ld32(image + off + 4);
        if (magic == MB_HEADER_MAGIC && (uint32_t)(magic + flags + ld32(image + off + 8)) == 0)
            return (int64_t)off;
    }
    return -1;
}

/* §3.1.3: header_addr, load_addr, load_end_addr, bss_end_addr and
 * entry_addr give where the file's bytes go. */
static int plan_aout(struct load_ctx *ctx, uint64_t hdr_off, uint64_t *lo, uint64_t *hi,
                     uint64_t *entry)
{
    const char *fn = ctx->plan.fn;
    const uint8_t *h = ctx->image + hdr_off;
    uint64_t size = ctx->image_size;
    if (hdr_off + 32 > size || hdr_off + 32 > MB_SEARCH)
        return vmm_err(-ENOEXEC, "%s: Multiboot: the header at 0x%llx sets flags bit 16 but "
                       "its address fields (header_addr..entry_addr) run past the end of the "
                       "file or of its first 8 KiB", fn, (unsigned long long)hdr_off);
    uint64_t header_addr = ld32(h + 12), load_addr = ld32(h + 16);
    uint64_t load_end_addr = ld32(h + 20), bss_end_addr = ld32(h + 24);
    *entry = ld32(h + 28);
    if (load_addr > header_addr || header_addr - load_addr > hdr_off)
        return vmm_err(-ENOEXEC, "%s: Multiboot: load_addr 0x%llx and header_addr 0x%llx put the "
                       "load before the start of the file (header at offset 0x%llx)", fn,
                       (unsigned long long)load_addr, (unsigned long long)header_addr,
                       (unsigned long long)hdr_off);
    uint64_t file_off = hdr_off - (header_addr - load_addr);
    /* load_end_addr 0: the text and data run to the end of the file. */
    uint64_t load_len = load_end_addr ? load_end_addr - load_addr : size - file_off;
    if (load_end_addr && load_end_addr < load_addr)
        return vmm_err(-ENOEXEC, "%s: Multiboot: load_end_addr 0x%llx is below load_addr 0x%llx",
                       fn, (unsigned long long)load_end_addr, (unsigned long long)load_addr);
    if (load_len > size - file_off)
        return vmm_err(-ENOEXEC, "%s: Multiboot: load_end_addr 0x%llx asks for %llu bytes from "
                       "file offset 0x%llx, past the end of the %llu-byte file", fn,
                       (unsigned long long)load_end_addr, (unsigned long long)load_len,
                       (unsigned long long)file_off, (unsigned long long)size);
    uint64_t end = load_addr + load_len;
    /* bss_end_addr 0: no bss. */
    if (bss_end_addr && bss_end_addr < end)
        return vmm_err(-ENOEXEC, "%s: Multiboot: bss_end_addr 0x%llx is below the end of the "
                       "loaded bytes 0x%llx", fn, (unsigned long long)bss_end_addr,
                       (unsigned long long)end);
    uint64_t mem_end = bss_end_addr ? bss_end_addr : end;
    if (mem_end > LOADER_4G)
        return vmm_err(-ENOEXEC, "%s: Multiboot: load_end_addr/bss_end_addr end the kernel at "
                       "0x%llx, above 4 GiB, out of the 32-bit entry's reach", fn,
                       (unsigned long long)mem_end);
    if (*entry < load_addr || *entry >= end)
        return vmm_err(-ENOEXEC, "%s: Multiboot: entry_addr 0x%llx is outside the loaded bytes "
                       "[0x%llx, 0x%llx)", fn, (unsigned long long)*entry,
                       (unsigned long long)load_addr, (unsigned long long)end);
    *lo = load_addr;
    *hi = mem_end;
    return plan_add(&ctx->plan, load_addr, mem_end - load_addr, ctx->image + file_off, load_len,
                    PLAN_RAM, PLAN_ZERO, "Multiboot kernel (load_addr 0x%llx, bss_end_addr "
                    "0x%llx)", (unsigned long long)load_addr, (unsigned long long)mem_end);
}

/* The ELF's entry as a physical address: e_entry is virtual for kernels
 * linked high with p_vaddr != p_paddr. */
static int elf_entry(const struct elf_image *elf, uint64_t *entry, const char *fn)
{
    for (uint32_t i = 0; i < elf->nseg; i++) {
        const struct elf_segment *s = &elf->seg[i];
        if (elf->entry >= s->vaddr && elf->entry - s->vaddr < s->memsz) {
            *entry = s->paddr + (elf->entry - s->vaddr);
            return 0;
        }
    }
    return vmm_err(-ENOEXEC, "%s: Multiboot: the ELF e_entry 0x%llx is outside every PT_LOAD "
                   "segment", fn, (unsigned long long)elf->entry);
}

/* A module's string (§3.3 "mods"): "initrd" for the initrd, else the
 * module's command line, "" without one. */
static const char *module_string(const struct load_ctx *ctx, uint32_t i)
{
    const char *text = loader_module_cmdline(ctx, i);
    return text ? text : i ? "" : "initrd";
}

/* §3.3: mem_lower is the RAM from 0 (at most 640 KiB), mem_upper the RAM
 * from 1 MiB to the first hole, both in KiB. */
static void memory_sizes(const struct load_plan *p, uint32_t *lower, uint32_t *upper)
{
    *lower = *upper = 0;
    for (uint32_t i = 0; i < p->map_count; i++) {
        const struct vmm_e820_entry *e = &p->map[i];
        if (e->type != VMM_E820_RAM)
            continue;
        if (e->addr == 0)
            *lower = (uint32_t)(e->size / 1024 < 640 ? e->size / 1024 : 640);
        if (e->addr == LOADER_HIGH_START)
            *upper = (uint32_t)(e->size / 1024 < UINT32_MAX ? e->size / 1024 : UINT32_MAX);
    }
}

int loader_multiboot(struct load_ctx *ctx)
{
    const char *fn = ctx->plan.fn;
    int64_t hdr = loader_find_multiboot(ctx->image, ctx->image_size);
    if (hdr < 0)
        return vmm_err(-ENOEXEC, "%s: Multiboot: no header (magic 0x1BADB002 with a matching "
                       "checksum) in the first 8 KiB", fn);
    uint32_t flags = ld32(ctx->image + hdr + 4);
    uint32_t unmet = flags & 0xffffu & ~MBH_SUPPORTED_REQUIRED;
    if (unmet)
        return vmm_err(-ENOEXEC, "%s: Multiboot: header flags 0x%x require %s (bit %d), which "
                       "libvmm cannot provide", fn, flags,
                       (unmet & MBH_VIDEO_MODE) ? "a video mode" : "an unknown feature",
                       __builtin_ctz(unmet));
    uint64_t cmdline = 0, lo = 0, hi = 0, entry = 0;
    int r = loader_plan_cmdline(ctx, false, &cmdline);
    if (r < 0)
        return r;
    if (flags & MBH_AOUT_KLUDGE) {
        r = plan_aout(ctx, (uint64_t)hdr, &lo, &hi, &entry);
    } else {
        const struct elf_image *elf;
        if (!elf_is_elf(ctx->image, ctx->image_size))
            return vmm_err(-ENOEXEC, "%s: Multiboot: header flags 0x%x lack bit 16 (a.out "
                           "kludge) and the image is not an ELF", fn, flags);
        r = loader_elf(ctx, &elf);
        if (r == 0)
            r = elf_entry(elf, &entry, fn);
        if (r == 0)
            r = elf_plan_segments(&ctx->plan, ctx->image, elf, LOADER_4G, &lo, &hi);
    }
    /* Modules are page-aligned whether or not the header asks (bit 0). */
    if (r == 0)
        r = loader_plan_modules(ctx, LOADER_4G, false);
    if (r < 0)
        return r;

    /* aux page: the memory map, the module list, then strings (the boot
     * loader's name, each module's string; "initrd" for the first). */
    const struct load_plan *p = &ctx->plan;
    uint64_t mmap_len = (uint64_t)p->map_count * MMAP_ENTRY;
    uint64_t mods_off = mmap_len, strings_off = mods_off + (uint64_t)ctx->mod_count * MOD_ENTRY;
    static const char loader_name[] = "libvmm";
    uint64_t need = strings_off + sizeof(loader_name);
    for (uint32_t i = 0; i < ctx->mod_count; i++)
        need += strlen(module_string(ctx, i)) + 1;
    if (need > LOADER_AUX_SIZE)
        return vmm_err(-EINVAL, "%s: Multiboot: the memory map (%u entries), %u modules and "
                       "their strings need more than the %llu-byte boot memory map page", fn,
                       p->map_count, ctx->mod_count, (unsigned long long)LOADER_AUX_SIZE);
    for (uint32_t i = 0; i < p->map_count; i++) {
        uint8_t *e = ctx->aux + i * MMAP_ENTRY;
        st32(e, MMAP_ENTRY - 4); /* size: the bytes after this field */
        st64(e + 4, p->map[i].addr);
        st64(e + 12, p->map[i].size);
        st32(e + 20, p->map[i].type);
    }
    uint64_t name_off = strings_off;
    memcpy(ctx->aux + strings_off, loader_name, sizeof(loader_name));
    strings_off += sizeof(loader_name);
    for (uint32_t i = 0; i < ctx->mod_count; i++) {
        const char *text = module_string(ctx, i);
        uint8_t *m = ctx->aux + mods_off + i * MOD_ENTRY;
        st32(m, (uint32_t)ctx->mod_gpa[i]);
        st32(m + 4, (uint32_t)(ctx->mod_gpa[i] + loader_module_size(ctx, i)));
        st32(m + 8, (uint32_t)(LOADER_AUX_GPA + strings_off));
        memcpy(ctx->aux + strings_off, text, strlen(text) + 1);
        strings_off += strlen(text) + 1;
    }

    uint8_t *mbi = ctx->info_page;
    uint32_t lower, upper;
    memory_sizes(p, &lower, &upper);
    st32(mbi, MBI_MEM | MBI_MODS | MBI_MMAP | MBI_LOADER_NAME | (cmdline ? MBI_CMDLINE : 0));
    st32(mbi + 4, lower);
    st32(mbi + 8, upper);
    st32(mbi + 16, (uint32_t)cmdline);
    st32(mbi + 20, ctx->mod_count);                        /* mods_count */
    st32(mbi + 24, (uint32_t)(LOADER_AUX_GPA + mods_off)); /* mods_addr */
    st32(mbi + 44, (uint32_t)mmap_len);
    st32(mbi + 48, (uint32_t)LOADER_AUX_GPA);
    st32(mbi + 64, (uint32_t)(LOADER_AUX_GPA + name_off));

    ctx->entry.rip = entry;
    ctx->entry.rax = MB_BOOT_MAGIC;
    ctx->entry.rbx = LOADER_INFO_GPA;
    loader_report(ctx, VMM_IMAGE_MULTIBOOT, lo, hi, cmdline);
    return 0;
}
