/* vmm_boot_load() and vmm_boot_load_files(): the configuration, format
 * detection, and the steps every format shares — plan, check, write, then
 * enter. */
#include "loader/elf.h"
#include "loader/loader.h"
#include "x86/pc.h"

#include "core/config.h"
#include "core/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KNOWN_FLAGS (VMM_BOOT_F_BZIMAGE_ENTRY32 | VMM_BOOT_F_BZIMAGE_EXTRACT)

static int check_config(const struct vmm_boot_config *c, const char *fn)
{
    if (c->flags & ~KNOWN_FLAGS)
        return vmm_err(-EINVAL, "%s: unknown flags 0x%x", fn, c->flags & ~KNOWN_FLAGS);
    if ((c->flags & VMM_BOOT_F_BZIMAGE_ENTRY32) && (c->flags & VMM_BOOT_F_BZIMAGE_EXTRACT))
        return vmm_err(-EINVAL, "%s: VMM_BOOT_F_BZIMAGE_ENTRY32 and _EXTRACT exclude each other "
                       "(an extracted kernel is entered through PVH)", fn);
    if (c->format > VMM_IMAGE_RAW)
        return vmm_err(-EINVAL, "%s: format %u is not a vmm_image_format", fn, c->format);
    if (c->reserved0 || c->reserved1)
        return vmm_err(-EINVAL, "%s: reserved0 and reserved1 must be 0", fn);
    if (!c->kernel || c->kernel_size == 0)
        return vmm_err(-EINVAL, "%s: kernel must not be NULL and kernel_size not 0", fn);
    if (!c->initrd != !c->initrd_size)
        return vmm_err(-EINVAL, "%s: initrd and initrd_size must be both set or both 0 "
                       "(initrd %s, initrd_size %llu)", fn, c->initrd ? "set" : "NULL",
                       (unsigned long long)c->initrd_size);
    if (c->cmdline && strnlen(c->cmdline, LOADER_CMDLINE_MAX) == LOADER_CMDLINE_MAX)
        return vmm_err(-EINVAL, "%s: cmdline is longer than the %llu bytes libvmm reserves for "
                       "it", fn, (unsigned long long)LOADER_CMDLINE_MAX - 1);
    if (c->reserved2)
        return vmm_err(-EINVAL, "%s: reserved2 must be 0", fn);
    if (c->num_modules > VMM_BOOT_MAX_MODULES || (c->num_modules && (!c->modules || !c->initrd)))
        return vmm_err(-EINVAL, "%s: num_modules %u: at most %d, with modules set and an initrd "
                       "as the first module", fn, c->num_modules, VMM_BOOT_MAX_MODULES);
    if (!c->num_modules && c->modules)
        return vmm_err(-EINVAL, "%s: modules is set but num_modules is 0", fn);
    for (uint32_t i = 0; i < c->num_modules; i++) {
        const struct vmm_boot_module *m = &c->modules[i];
        if (!m->data || !m->size)
            return vmm_err(-EINVAL, "%s: modules[%u]: data must not be NULL and size not 0", fn,
                           i);
        if (m->cmdline && strnlen(m->cmdline, LOADER_MODULE_CMDLINE_MAX) ==
                              LOADER_MODULE_CMDLINE_MAX)
            return vmm_err(-EINVAL, "%s: modules[%u]: cmdline is longer than %d bytes", fn, i,
                           LOADER_MODULE_CMDLINE_MAX - 1);
    }
    if (c->format != VMM_IMAGE_RAW && (c->raw_gpa || c->raw_entry || c->raw_cpu_mode))
        return vmm_err(-EINVAL, "%s: raw_gpa, raw_entry and raw_cpu_mode are for "
                       "VMM_IMAGE_RAW only", fn);
    return 0;
}

int loader_plan_cmdline(struct load_ctx *ctx, bool always, uint64_t *gpa)
{
    *gpa = 0;
    if (!ctx->cfg->cmdline && !always)
        return 0;
    static const char empty[] = "";
    const char *text = ctx->cfg->cmdline ? ctx->cfg->cmdline : empty;
    *gpa = LOADER_CMDLINE_GPA;
    return plan_add(&ctx->plan, LOADER_CMDLINE_GPA, ctx->cmdline_len + 1, text,
                    ctx->cmdline_len + 1, PLAN_RAM, PLAN_ZERO, "command line");
}

void loader_report(struct load_ctx *ctx, uint32_t format, uint64_t kernel_gpa,
                   uint64_t kernel_end, uint64_t cmdline_gpa)
{
    struct vmm_boot_info *i = &ctx->info;
    i->format = format;
    i->entry = ctx->entry.rip;
    i->kernel_gpa = kernel_gpa;
    i->kernel_end = kernel_end;
    i->initrd_gpa = ctx->mod_count ? ctx->mod_gpa[0] : 0;
    i->initrd_size = ctx->mod_count ? ctx->initrd_total : 0;
    i->cmdline_gpa = cmdline_gpa;
    i->boot_params_gpa = format == VMM_IMAGE_RAW ? 0 : LOADER_INFO_GPA;
}

const void *loader_module_data(const struct load_ctx *ctx, uint32_t i)
{
    return i == 0 ? ctx->cfg->initrd : ctx->cfg->modules[i - 1].data;
}

uint64_t loader_module_size(const struct load_ctx *ctx, uint32_t i)
{
    return i == 0 ? ctx->cfg->initrd_size : ctx->cfg->modules[i - 1].size;
}

const char *loader_module_cmdline(const struct load_ctx *ctx, uint32_t i)
{
    return i == 0 ? NULL : ctx->cfg->modules[i - 1].cmdline;
}

int loader_plan_modules(struct load_ctx *ctx, uint64_t limit, bool contiguous)
{
    struct load_plan *p = &ctx->plan;
    const struct vmm_boot_config *c = ctx->cfg;
    if (!c->initrd)
        return 0;
    uint32_t n = 1 + c->num_modules;
    if (!contiguous) {
        for (uint32_t i = 0; i < n; i++) {
            uint64_t size = loader_module_size(ctx, i);
            int r = plan_place_high(p, size, 4096, limit, &ctx->mod_gpa[i],
                                    i ? "module" : "initrd");
            if (r == 0)
                r = plan_add(p, ctx->mod_gpa[i], size, loader_module_data(ctx, i), size, PLAN_RAM,
                             PLAN_KEEP, i ? "module %u" : "initrd", i);
            if (r < 0)
                return r;
        }
        ctx->mod_count = n;
        ctx->initrd_total = c->initrd_size;
        return 0;
    }
    /* One block: every piece but the last padded with zeros to 4 bytes. */
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t size = loader_module_size(ctx, i);
        uint64_t padded = i + 1 < n ? (size + 3) & ~3ull : size;
        if (size > p->ram_bytes || padded > p->ram_bytes - total)
            return vmm_err(-ENOMEM, "%s: the initrd and modules (%u) add up to more than the "
                           "VM's %llu bytes of RAM", p->fn, n, (unsigned long long)p->ram_bytes);
        total += padded;
    }
    uint64_t gpa;
    ctx->initrd_total = total; /* also for the caller's error sentence */
    int r = plan_place_high(p, total, 4096, limit, &gpa, n > 1 ? "initrd and modules" : "initrd");
    for (uint32_t i = 0; r == 0 && i < n; i++) {
        uint64_t size = loader_module_size(ctx, i);
        uint64_t padded = i + 1 < n ? (size + 3) & ~3ull : size;
        ctx->mod_gpa[i] = gpa;
        r = plan_add(p, gpa, padded, loader_module_data(ctx, i), size, PLAN_RAM, PLAN_ZERO,
                     i ? "module %u" : "initrd", i);
        gpa += padded;
    }
    if (r < 0)
        return r;
    ctx->mod_count = n;
    return 0;
}

int loader_elf(struct load_ctx *ctx, const struct elf_image **elf)
{
    if (!ctx->elf_parsed) {
        int r = elf_parse(ctx->image, ctx->image_size, &ctx->elf, ctx->plan.fn);
        if (r < 0)
            return r;
        ctx->elf_parsed = true;
    }
    *elf = &ctx->elf;
    return 0;
}

/* Claims the boot data before the image is placed, so that an image whose
 * segments reach into it is told so by name: the boot information page
 * and the memory-map page (filled by the format before the commit), the
 * CPU tables and vCPU 0's registers, and on platform PC the MP table. */
static int plan_boot_area(struct load_ctx *ctx)
{
    struct load_plan *p = &ctx->plan;
    int r = plan_add(p, LOADER_INFO_GPA, LOADER_INFO_SIZE, ctx->info_page, LOADER_INFO_SIZE,
                     PLAN_RAM, PLAN_ZERO, "boot information page");
    if (r == 0)
        r = plan_add(p, LOADER_AUX_GPA, LOADER_AUX_SIZE, ctx->aux, LOADER_AUX_SIZE, PLAN_RAM,
                     PLAN_ZERO, "boot memory map and module list");
    if (r == 0)
        r = loader_cpu_plan(ctx);
    if (r == 0 && p->vm->platform == VMM_PLATFORM_PC) {
        size_t size = 0;
        r = vmm_pc_build_mptable(p->vm, &ctx->mptable, &size);
        if (r == 0)
            r = plan_add(p, VMM_PC_MPTABLE_GPA, size, ctx->mptable, size, PLAN_MEMORY,
                         PLAN_KEEP, "MP table");
    }
    return r;
}

static const char *const format_names[] = {
    [VMM_IMAGE_BZIMAGE] = "bzImage", [VMM_IMAGE_ELF_PVH] = "PVH ELF",
    [VMM_IMAGE_MULTIBOOT] = "Multiboot", [VMM_IMAGE_RAW] = "raw",
};

static int detect(struct load_ctx *ctx, uint32_t *format, const char *fn)
{
    const uint8_t *img = ctx->image;
    uint64_t size = ctx->image_size;
    if (loader_is_bzimage(img, size)) {
        *format = VMM_IMAGE_BZIMAGE;
        return 0;
    }
    if (elf_is_elf(img, size)) {
        const struct elf_image *elf;
        int r = loader_elf(ctx, &elf);
        if (r < 0)
            return r;
        if (elf->has_pvh) {
            *format = VMM_IMAGE_ELF_PVH;
            return 0;
        }
        if (loader_find_multiboot(img, size) >= 0) {
            *format = VMM_IMAGE_MULTIBOOT;
            return 0;
        }
        return vmm_err(-ENOEXEC, "%s: the ELF image has neither a XEN_ELFNOTE_PHYS32_ENTRY note "
                       "(PVH) nor a Multiboot header in its first 8 KiB", fn);
    }
    if (loader_find_multiboot(img, size) >= 0) {
        *format = VMM_IMAGE_MULTIBOOT;
        return 0;
    }
    return vmm_err(-ENOEXEC, "%s: the %llu-byte image is not a bzImage (no \"HdrS\" header at "
                   "0x202), not an ELF and has no Multiboot header; use VMM_IMAGE_RAW for a flat "
                   "binary", fn, (unsigned long long)size);
}

/* How vCPU 0 enters a kernel of @format loaded with @flags. */
static uint32_t entry_kind(uint32_t format, uint32_t flags)
{
    switch (format) {
    case VMM_IMAGE_BZIMAGE:
        if (flags & VMM_BOOT_F_BZIMAGE_EXTRACT)
            return ENTRY_PVH;
        return (flags & VMM_BOOT_F_BZIMAGE_ENTRY32) ? ENTRY_LINUX32 : ENTRY_LINUX64;
    case VMM_IMAGE_ELF_PVH: return ENTRY_PVH;
    case VMM_IMAGE_MULTIBOOT: return ENTRY_MULTIBOOT;
    default: return ENTRY_RAW;
    }
}

/* Parses, places and checks; writes nothing. */
static int plan_load(struct load_ctx *ctx, const char *fn)
{
    const struct vmm_boot_config *c = ctx->cfg;
    uint32_t format = c->format;
    int r = 0;
    if (format == VMM_IMAGE_AUTO)
        r = detect(ctx, &format, fn);
    if (r < 0)
        return r;
    if (format != VMM_IMAGE_BZIMAGE && (c->flags & KNOWN_FLAGS))
        return vmm_err(-EINVAL, "%s: flags 0x%x are for bzImages; this is a %s image", fn,
                       c->flags, format_names[format]);
    ctx->entry.kind = entry_kind(format, c->flags);
    ctx->entry.raw_mode = c->raw_cpu_mode;
    if (format == VMM_IMAGE_RAW)
        return loader_raw(ctx);
    r = plan_boot_area(ctx);
    if (r < 0)
        return r;
    switch (format) {
    case VMM_IMAGE_BZIMAGE: return loader_bzimage(ctx);
    case VMM_IMAGE_ELF_PVH: return loader_pvh(ctx);
    default: return loader_multiboot(ctx);
    }
}

VMM_API int vmm_boot_load(vmm_vm *vm, const struct vmm_boot_config *cfg,
                          struct vmm_boot_info *info)
{
    static const char fn[] = "vmm_boot_load";
    if (!vm || !cfg)
        return vmm_err(-EINVAL, "%s: vm and cfg must not be NULL", fn);
    struct vmm_boot_config c;
    int r = vmm_config_copy(cfg, &c, sizeof(c), "config", "VMM_BOOT_CONFIG_INIT", fn);
    if (r == 0 && info && (info->struct_size < sizeof(*info) || info->struct_size > 4096))
        r = vmm_err(-EINVAL, "%s: info struct_size %u is not between version 1 (%zu) and 4096",
                    fn, info->struct_size, sizeof(*info));
    if (r == 0)
        r = check_config(&c, fn);
    if (r < 0)
        return r;

    struct load_ctx *ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return vmm_err(-ENOMEM, "%s: out of memory", fn);
    ctx->cfg = &c;
    ctx->image = c.kernel;
    ctx->image_size = c.kernel_size;
    ctx->cmdline_len = c.cmdline ? strlen(c.cmdline) : 0;
    ctx->info.struct_size = sizeof(ctx->info);
    /* No vCPU may run while memory and vCPU 0 are rewritten. */
    r = vmm_vm_begin_change(vm, fn);
    if (r < 0) {
        free(ctx);
        return r;
    }
    r = plan_init(&ctx->plan, vm, fn);
    if (r == 0)
        r = plan_load(ctx, fn);
    /* vCPU 0 first: it is the one step that can still fail (KVM), and it
     * undoes itself. Writing the plan cannot fail. */
    if (r == 0)
        r = loader_entry_apply(vm->vcpus[0], ctx);
    if (r == 0)
        plan_commit(&ctx->plan);
    if (r == 0 && info) {
        uint32_t size = info->struct_size;
        memset(info, 0, size);
        memcpy(info, &ctx->info, sizeof(*info));
        info->struct_size = size;
    }
    vmm_vm_end_change(vm);
    plan_fini(&ctx->plan);
    free(ctx->owned);
    free(ctx->mptable);
    free(ctx);
    return r;
}

/* Reads a whole file of at most @max bytes into a malloc'ed buffer. */
static int read_file(const char *path, const char *what, uint64_t max, uint8_t **out,
                     uint64_t *size, const char *fn)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vmm_err(-errno, "%s: cannot open the %s '%s': %s", fn, what, path,
                       vmm_strerror(-errno));
    struct stat st;
    int r = 0;
    uint8_t *buf = NULL;
    if (fstat(fd, &st) < 0) {
        r = vmm_err(-errno, "%s: cannot stat the %s '%s'", fn, what, path);
    } else if (!S_ISREG(st.st_mode)) {
        r = vmm_err(-EINVAL, "%s: the %s '%s' is not a regular file", fn, what, path);
    } else if ((uint64_t)st.st_size > max) {
        r = vmm_err(-ENOMEM, "%s: the %s '%s' has %llu bytes, more than the VM's %llu bytes of "
                    "RAM", fn, what, path, (unsigned long long)st.st_size,
                    (unsigned long long)max);
    } else if (!(buf = malloc(st.st_size ? (size_t)st.st_size : 1))) {
        r = vmm_err(-ENOMEM, "%s: out of memory for the %s '%s'", fn, what, path);
    }
    uint64_t n = 0;
    while (r == 0 && n < (uint64_t)st.st_size) {
        ssize_t got = pread(fd, buf + n, (size_t)st.st_size - n, (off_t)n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            r = vmm_err(-errno, "%s: reading the %s '%s' failed", fn, what, path);
        else if (got == 0)
            r = vmm_err(-EIO, "%s: the %s '%s' shrank while being read", fn, what, path);
        else
            n += (uint64_t)got;
    }
    close(fd);
    if (r < 0) {
        free(buf);
        return r;
    }
    *out = buf;
    *size = n;
    return 0;
}

VMM_API int vmm_boot_load_files(vmm_vm *vm, const char *kernel_path, const char *initrd_path,
                                const char *cmdline, uint32_t flags,
                                struct vmm_boot_info *info)
{
    static const char fn[] = "vmm_boot_load_files";
    if (!vm || !kernel_path)
        return vmm_err(-EINVAL, "%s: vm and kernel_path must not be NULL", fn);
    struct load_plan p;
    int r = plan_init(&p, vm, fn);
    if (r < 0)
        return r;
    uint64_t ram = p.ram_bytes;
    plan_fini(&p);
    uint8_t *kernel = NULL, *initrd = NULL;
    uint64_t kernel_size = 0, initrd_size = 0;
    r = read_file(kernel_path, "kernel", ram, &kernel, &kernel_size, fn);
    if (r == 0 && kernel_size == 0)
        r = vmm_err(-ENOEXEC, "%s: the kernel '%s' is empty", fn, kernel_path);
    if (r == 0 && initrd_path)
        r = read_file(initrd_path, "initrd", ram, &initrd, &initrd_size, fn);
    if (r == 0 && initrd_path && initrd_size == 0)
        r = vmm_err(-EINVAL, "%s: the initrd '%s' is empty", fn, initrd_path);
    if (r == 0) {
        struct vmm_boot_config c = VMM_BOOT_CONFIG_INIT;
        c.flags = flags;
        c.kernel = kernel;
        c.kernel_size = kernel_size;
        c.initrd = initrd;
        c.initrd_size = initrd_size;
        c.cmdline = cmdline;
        r = vmm_boot_load(vm, &c, info);
    }
    free(kernel);
    free(initrd);
    return r;
}
