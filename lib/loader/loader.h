/* What the loaders share: the fixed guest addresses of the boot data, the
 * load plan (every byte a loader will write, checked before any is
 * written), the vCPU entry description, and each format's entry point. */
#ifndef VMM_LIB_LOADER_H
#define VMM_LIB_LOADER_H

#include "loader/elf.h"
#include "vm/vm.h"

#include <vmm/loader.h>
#include <vmm/pc.h>

#include <stdbool.h>
#include <stdint.h>

/* Boot data, all below the 640 KiB base memory (documented in
 * include/vmm/loader.h). The area must be RAM in the e820 map. */
#define LOADER_INFO_GPA 0x7000ull      /* boot_params, hvm_start_info, multiboot_info */
#define LOADER_INFO_SIZE 0x1000ull
#define LOADER_AUX_GPA 0x8000ull       /* memory map, module list, strings */
#define LOADER_AUX_SIZE 0x8000ull
#define LOADER_TABLES_GPA 0x10000ull   /* GDT, TSS, page tables (lib/x86/cpu_mode.c) */
#define LOADER_TABLES_SIZE 0x10000ull
#define LOADER_CMDLINE_GPA 0x20000ull
#define LOADER_CMDLINE_MAX 0x10000ull  /* bytes, the NUL included */
#define LOADER_MODULE_CMDLINE_MAX 4096 /* per module, the NUL included */
/* Kernels and initrds go at or above 1 MiB (boot.rst: the protected-mode
 * kernel's traditional home; below it lie the BIOS and VGA areas). */
#define LOADER_HIGH_START 0x100000ull
#define LOADER_4G 0x100000000ull

/* ---- the load plan (plan.c) ----------------------------------------------- */

/* Where a chunk must lie. */
enum plan_where {
    PLAN_RAM,    /* inside one RAM entry of the e820 map the guest is given */
    PLAN_MEMORY, /* anywhere in writable guest memory (the MP table, in reserved space) */
};

/* What happens to [gpa + len, gpa + memsz). */
enum plan_tail {
    PLAN_ZERO, /* zero-filled (ELF .bss, boot structures) */
    PLAN_KEEP, /* claimed but left as it is (a bzImage's init_size) */
};

struct plan_chunk {
    uint64_t gpa, memsz;   /* the range claimed, memsz > 0 */
    const uint8_t *src;    /* the first len bytes; borrowed until the commit */
    uint64_t len;
    uint8_t where, tail;
    char what[80];         /* "ELF segment 1 (p_paddr 0x1000000)": for error sentences */
};

/* Boot data (information page, aux page, CPU tables, MP table, command
 * line), every ELF segment, the initrd and every module. */
#define PLAN_MAX_CHUNKS (5 + ELF_MAX_SEGMENTS + 1 + VMM_BOOT_MAX_MODULES)

struct load_plan {
    vmm_vm *vm;
    const char *fn;                 /* public function, for error sentences */
    struct vmm_e820_entry *map;     /* vmm_pc_e820(): what the guest is told */
    uint32_t map_count;
    uint64_t ram_bytes;             /* sum of the RAM entries */
    struct plan_chunk chunks[PLAN_MAX_CHUNKS];
    uint32_t count;
};

int plan_init(struct load_plan *p, vmm_vm *vm, const char *fn);
void plan_fini(struct load_plan *p);

/* Claims [gpa, gpa + memsz), the first @len bytes from @src. Refuses, with
 * a sentence naming @what: a range that wraps (-ENOEXEC), one outside RAM
 * or memory (-ENOMEM), one overlapping a chunk already claimed (-ENOEXEC:
 * the image asks for the same bytes twice, or for the loader's own). */
int plan_add(struct load_plan *p, uint64_t gpa, uint64_t memsz, const void *src, uint64_t len,
             enum plan_where where, enum plan_tail tail, const char *what_fmt, ...)
    __attribute__((format(printf, 8, 9)));

/* The highest @align-aligned gpa >= LOADER_HIGH_START with [gpa, gpa +
 * size) in RAM, ending at or below @limit, clear of every chunk; or
 * -ENOMEM with a sentence naming @what. */
int plan_place_high(struct load_plan *p, uint64_t size, uint64_t align, uint64_t limit,
                    uint64_t *gpa, const char *what);

/* The lowest such gpa at or above @min, ending at or below @limit. */
int plan_place_low(struct load_plan *p, uint64_t size, uint64_t align, uint64_t min,
                   uint64_t limit, uint64_t *gpa, const char *what);

/* Whether [gpa, gpa + size) lies in one RAM entry and is clear of every
 * chunk. */
bool plan_fits(const struct load_plan *p, uint64_t gpa, uint64_t size);

/* Writes every chunk into guest memory. Cannot fail once plan_add()
 * accepted them (the VM's map is frozen by vmm_vm_begin_change()). */
void plan_commit(const struct load_plan *p);

/* ---- entering the kernel (entry.c) ---------------------------------------- */

enum loader_entry_kind {
    ENTRY_LINUX64,  /* boot.rst "64-bit BOOT PROTOCOL" */
    ENTRY_LINUX32,  /* boot.rst "32-bit BOOT PROTOCOL" */
    ENTRY_PVH,      /* Xen docs/misc/pvh.pandoc */
    ENTRY_MULTIBOOT, /* Multiboot 0.6.96 §3.2 */
    ENTRY_RAW,      /* a vmm_cpu_mode, RIP = the entry */
};

struct loader_entry {
    uint32_t kind;      /* enum loader_entry_kind */
    uint32_t raw_mode;  /* ENTRY_RAW: an enum vmm_cpu_mode value */
    uint64_t rip;
    uint64_t rax, rbx, rsi;
};

struct load_ctx;

/* Computes vCPU 0's segment and control registers for ctx->entry.kind
 * into ctx->sregs and claims the CPU tables that go with them (built into
 * ctx->tables) at LOADER_TABLES_GPA. Changes nothing yet. */
int loader_cpu_plan(struct load_ctx *ctx);

/* Puts vCPU 0 at the entry (registers only; the tables are in the plan).
 * On failure vCPU 0 is given back the registers it had. */
int loader_entry_apply(vmm_vcpu *vcpu, const struct load_ctx *ctx);

/* ---- one load --------------------------------------------------------------- */

struct load_ctx {
    struct load_plan plan;
    const struct vmm_boot_config *cfg; /* validated */
    const uint8_t *image;              /* the image being loaded (may be an extracted vmlinux) */
    uint64_t image_size;
    size_t cmdline_len;                /* strlen(cfg->cmdline), 0 without one */
    struct vmm_boot_info info;         /* filled by the format */
    struct loader_entry entry;         /* kind set before the format runs */
    struct vmm_sregs sregs;            /* vCPU 0's, from loader_cpu_plan() */
    struct elf_image elf;              /* ctx->image's, once parsed (elf_parsed) */
    bool elf_parsed;
    uint64_t mod_gpa[1 + VMM_BOOT_MAX_MODULES]; /* initrd, then cfg->modules */
    uint32_t mod_count;
    uint64_t initrd_total;             /* bytes from mod_gpa[0] that hold them all (contiguous) */
    uint8_t *owned;                    /* freed after the load (extracted vmlinux) */
    uint8_t *mptable;                  /* platform PC: the MP table, malloc'ed */
    /* Written at LOADER_INFO_GPA and LOADER_AUX_GPA (claimed before the
     * format runs, filled by it before the commit; zero where unused). */
    uint8_t info_page[LOADER_INFO_SIZE];
    uint8_t aux[LOADER_AUX_SIZE];
    uint8_t tables[LOADER_TABLES_SIZE]; /* written at LOADER_TABLES_GPA */
};

/* ctx->image parsed as an ELF once (elf_parse()); 0 or its error. */
int loader_elf(struct load_ctx *ctx, const struct elf_image **elf);

/* Each format: parses ctx->image, fills the plan, ctx->info and
 * ctx->entry's registers. Returns 0 or a negative errno with a sentence. */
int loader_bzimage(struct load_ctx *ctx);
int loader_pvh(struct load_ctx *ctx);
int loader_multiboot(struct load_ctx *ctx);
int loader_raw(struct load_ctx *ctx);

/* Detection for VMM_IMAGE_AUTO. */
bool loader_is_bzimage(const uint8_t *image, uint64_t size);
/* Offset of a Multiboot header with a valid checksum in the first 8 KiB,
 * or -1. */
int64_t loader_find_multiboot(const uint8_t *image, uint64_t size);

/* Claims the command line at LOADER_CMDLINE_GPA (an empty string if the
 * config has none and @always) and returns its gpa (0 if none). */
int loader_plan_cmdline(struct load_ctx *ctx, bool always, uint64_t *gpa);

/* Fills ctx->info for what the format planned: @format, the entry from
 * ctx->entry, the kernel's extent, the command line, the initrd from the
 * placed modules and the boot structure at LOADER_INFO_GPA (none for
 * RAW). */
void loader_report(struct load_ctx *ctx, uint32_t format, uint64_t kernel_gpa,
                   uint64_t kernel_end, uint64_t cmdline_gpa);

/* Places the initrd and the modules after it (page-aligned, as high as
 * possible below @limit, clear of everything claimed so far) and claims
 * them, filling ctx->mod_gpa[] and ctx->mod_count (0 without an initrd).
 * @contiguous (bzImage): one block, each piece but the last padded to 4
 * bytes; ctx->mod_gpa[0] and ctx->initrd_total then describe it all. */
int loader_plan_modules(struct load_ctx *ctx, uint64_t limit, bool contiguous);

/* Module @i (0: the initrd): its bytes, size and command line (NULL for
 * the initrd and for modules without one). */
const void *loader_module_data(const struct load_ctx *ctx, uint32_t i);
uint64_t loader_module_size(const struct load_ctx *ctx, uint32_t i);
const char *loader_module_cmdline(const struct load_ctx *ctx, uint32_t i);

/* Little-endian reads from bytes already bounds-checked by the caller. */
static inline uint16_t ld16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}
static inline uint32_t ld32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t ld64(const uint8_t *p)
{
    return (uint64_t)ld32(p) | (uint64_t)ld32(p + 4) << 32;
}
static inline void st16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void st32(uint8_t *p, uint32_t v)
{
    st16(p, (uint16_t)v);
    st16(p + 2, (uint16_t)(v >> 16));
}
static inline void st64(uint8_t *p, uint64_t v)
{
    st32(p, (uint32_t)v);
    st32(p + 4, (uint32_t)(v >> 32));
}

#endif
