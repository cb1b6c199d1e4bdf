/* PVH: an ELF kernel (a vmlinux built with CONFIG_PVH) entered in 32-bit
 * protected mode at the address of its XEN_ELFNOTE_PHYS32_ENTRY note, with
 * an hvm_start_info in EBX — Xen's docs/misc/pvh.pandoc and
 * public/arch-x86/hvm/start_info.h (version 1, with the memory map). */
#include "loader/elf.h"
#include "loader/loader.h"

#include "core/error.h"

#include <errno.h>
#include <string.h>

#define HVM_START_MAGIC 0x336ec578u
#define MODLIST_ENTRY 32    /* struct hvm_modlist_entry */
#define MEMMAP_ENTRY 24     /* struct hvm_memmap_table_entry */

/* Whether @entry lies inside a loaded segment. */
static bool entry_loaded(const struct elf_image *elf, uint64_t entry)
{
    for (uint32_t i = 0; i < elf->nseg; i++)
        if (entry >= elf->seg[i].paddr && entry - elf->seg[i].paddr < elf->seg[i].memsz)
            return true;
    return false;
}

int loader_pvh(struct load_ctx *ctx)
{
    const char *fn = ctx->plan.fn;
    const struct elf_image *elf;
    int r = loader_elf(ctx, &elf);
    if (r < 0)
        return r;
    if (!elf->has_pvh)
        return vmm_err(-ENOEXEC, "%s: PVH: the ELF image has no XEN_ELFNOTE_PHYS32_ENTRY note",
                       fn);
    if (!entry_loaded(elf, elf->pvh_entry))
        return vmm_err(-ENOEXEC, "%s: PVH: the XEN_ELFNOTE_PHYS32_ENTRY note's entry 0x%x is "
                       "outside every PT_LOAD segment", fn, elf->pvh_entry);
    uint64_t cmdline = 0, lo = 0, hi = 0;
    r = loader_plan_cmdline(ctx, false, &cmdline);
    if (r == 0)
        r = elf_plan_segments(&ctx->plan, ctx->image, elf, LOADER_4G, &lo, &hi);
    if (r == 0)
        r = loader_plan_modules(ctx, LOADER_4G, false);
    if (r < 0)
        return r;

    /* The aux page: the memory map, the module list, the modules' command
     * lines; sized first. */
    const struct load_plan *p = &ctx->plan;
    uint64_t memmap_bytes = (uint64_t)p->map_count * MEMMAP_ENTRY;
    uint64_t modlist_off = (memmap_bytes + MODLIST_ENTRY - 1) & ~(uint64_t)(MODLIST_ENTRY - 1);
    uint64_t strings_off = modlist_off + (uint64_t)ctx->mod_count * MODLIST_ENTRY;
    uint64_t need = strings_off;
    for (uint32_t i = 0; i < ctx->mod_count; i++) {
        const char *text = loader_module_cmdline(ctx, i);
        need += text ? strlen(text) + 1 : 0;
    }
    if (need > LOADER_AUX_SIZE)
        return vmm_err(-EINVAL, "%s: PVH: the memory map (%u entries), %u modules and their "
                       "command lines need more than the %llu-byte boot memory map page", fn,
                       p->map_count, ctx->mod_count, (unsigned long long)LOADER_AUX_SIZE);
    for (uint32_t i = 0; i < p->map_count; i++) {
        uint8_t *e = ctx->aux + i * MEMMAP_ENTRY;
        st64(e, p->map[i].addr);
        st64(e + 8, p->map[i].size);
        st32(e + 16, p->map[i].type); /* e820 type numbers, as start_info.h says */
    }
    for (uint32_t i = 0; i < ctx->mod_count; i++) {
        uint8_t *m = ctx->aux + modlist_off + i * MODLIST_ENTRY;
        st64(m, ctx->mod_gpa[i]);
        st64(m + 8, loader_module_size(ctx, i));
        const char *text = loader_module_cmdline(ctx, i);
        if (text) {
            memcpy(ctx->aux + strings_off, text, strlen(text) + 1);
            st64(m + 16, LOADER_AUX_GPA + strings_off);
            strings_off += strlen(text) + 1;
        }
    }

    uint8_t *si = ctx->info_page;
    st32(si, HVM_START_MAGIC);
    st32(si + 4, 1);                     /* version */
    st32(si + 8, 0);                     /* flags */
    st32(si + 12, ctx->mod_count);       /* nr_modules */
    st64(si + 16, ctx->mod_count ? LOADER_AUX_GPA + modlist_off : 0);
    st64(si + 24, cmdline);
    st64(si + 32, 0);                    /* rsdp_paddr: no ACPI tables */
    st64(si + 40, LOADER_AUX_GPA);       /* memmap_paddr */
    st32(si + 48, p->map_count);

    ctx->entry.rip = elf->pvh_entry;
    ctx->entry.rbx = LOADER_INFO_GPA;
    loader_report(ctx, VMM_IMAGE_ELF_PVH, lo, hi, cmdline);
    return 0;
}
