/* PVH: an ELF kernel (a vmlinux built with CONFIG_PVH) entered in 32-bit
 * protected mode at the address of its XEN_ELFNOTE_PHYS32_ENTRY note, with
 * an hvm_start_info in EBX — Xen's docs/misc/pvh.pandoc and
 * public/arch-x86/hvm/start_info.h (version 1, with the memory map). */
#include "loader/elf.h"
#include "loader/loader.h"

#include "core/error.h"

#include <errno.h>

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
    struct elf_image elf;
    int r = elf_parse(ctx->image, ctx->image_size, &elf, fn);
    if (r < 0)
        return r;
    if (!elf.has_pvh)
        return vmm_err(-ENOEXEC, "%s: PVH: the ELF image has no XEN_ELFNOTE_PHYS32_ENTRY note",
                       fn);
    if (!entry_loaded(&elf, elf.pvh_entry))
        return vmm_err(-ENOEXEC, "%s: PVH: the XEN_ELFNOTE_PHYS32_ENTRY note's entry 0x%x is "
                       "outside every PT_LOAD segment", fn, elf.pvh_entry);
    uint64_t cmdline = 0, lo = 0, hi = 0, initrd = 0;
    r = loader_plan_cmdline(ctx, false, &cmdline);
    if (r == 0)
        r = elf_plan_segments(&ctx->plan, ctx->image, &elf, LOADER_4G, &lo, &hi);
    if (r == 0)
        r = loader_plan_initrd(ctx, LOADER_4G, &initrd);
    if (r < 0)
        return r;

    /* The memory map, then the module list, in the aux page. */
    const struct load_plan *p = &ctx->plan;
    uint64_t memmap_bytes = (uint64_t)p->map_count * MEMMAP_ENTRY;
    uint64_t modlist_off = (memmap_bytes + MODLIST_ENTRY - 1) & ~(uint64_t)(MODLIST_ENTRY - 1);
    if (modlist_off + MODLIST_ENTRY > LOADER_AUX_SIZE)
        return vmm_err(-EINVAL, "%s: PVH: the VM's memory map has %u entries, more than the "
                       "boot memory map page holds", fn, p->map_count);
    for (uint32_t i = 0; i < p->map_count; i++) {
        uint8_t *e = ctx->aux + i * MEMMAP_ENTRY;
        st64(e, p->map[i].addr);
        st64(e + 8, p->map[i].size);
        st32(e + 16, p->map[i].type); /* e820 type numbers, as start_info.h says */
    }
    if (initrd) {
        uint8_t *m = ctx->aux + modlist_off;
        st64(m, initrd);
        st64(m + 8, ctx->cfg->initrd_size);
    }

    uint8_t *si = ctx->info_page;
    st32(si, HVM_START_MAGIC);
    st32(si + 4, 1);                     /* version */
    st32(si + 8, 0);                     /* flags */
    st32(si + 12, initrd ? 1 : 0);       /* nr_modules */
    st64(si + 16, initrd ? LOADER_AUX_GPA + modlist_off : 0);
    st64(si + 24, cmdline);
    st64(si + 32, 0);                    /* rsdp_paddr: no ACPI tables */
    st64(si + 40, LOADER_AUX_GPA);       /* memmap_paddr */
    st32(si + 48, p->map_count);

    ctx->entry = (struct loader_entry){ .kind = ENTRY_PVH, .rip = elf.pvh_entry,
                                        .rbx = LOADER_INFO_GPA };
    ctx->info.format = VMM_IMAGE_ELF_PVH;
    ctx->info.entry = elf.pvh_entry;
    ctx->info.kernel_gpa = lo;
    ctx->info.kernel_end = hi;
    ctx->info.initrd_gpa = initrd;
    ctx->info.initrd_size = initrd ? ctx->cfg->initrd_size : 0;
    ctx->info.cmdline_gpa = cmdline;
    ctx->info.boot_params_gpa = LOADER_INFO_GPA;
    return 0;
}
