/* Raw flat images: the bytes at raw_gpa, vCPU 0 in raw_cpu_mode at
 * raw_entry. For protected and long mode the GDT, TSS and page tables are
 * built at LOADER_TABLES_GPA, which the image must leave free. */
#include "loader/loader.h"

#include "core/error.h"

#include <errno.h>

int loader_raw(struct load_ctx *ctx)
{
    const char *fn = ctx->plan.fn;
    const struct vmm_boot_config *c = ctx->cfg;
    if (c->raw_cpu_mode < VMM_CPU_MODE_REAL || c->raw_cpu_mode > VMM_CPU_MODE_LONG)
        return vmm_err(-EINVAL, "%s: raw_cpu_mode %u is not a vmm_cpu_mode", fn,
                       c->raw_cpu_mode);
    if (c->initrd || c->cmdline || c->num_modules)
        return vmm_err(-EINVAL, "%s: VMM_IMAGE_RAW takes no initrd, modules or cmdline (a flat "
                       "image has no way to be told where they are)", fn);
    if (c->raw_cpu_mode == VMM_CPU_MODE_REAL && c->raw_entry >= LOADER_HIGH_START)
        return vmm_err(-EINVAL, "%s: raw_entry 0x%llx is beyond real mode's first MiB", fn,
                       (unsigned long long)c->raw_entry);
    if (c->raw_cpu_mode != VMM_CPU_MODE_LONG && c->raw_entry > UINT32_MAX)
        return vmm_err(-EINVAL, "%s: raw_entry 0x%llx is beyond 4 GiB, out of 32-bit reach", fn,
                       (unsigned long long)c->raw_entry);
    if (ctx->image_size - 1 > UINT64_MAX - c->raw_gpa)
        return vmm_err(-EINVAL, "%s: raw_gpa 0x%llx + the %llu-byte image wraps past 2^64", fn,
                       (unsigned long long)c->raw_gpa, (unsigned long long)ctx->image_size);
    ctx->entry.rip = c->raw_entry;
    int r = loader_cpu_plan(ctx);
    if (r == 0)
        r = plan_add(&ctx->plan, c->raw_gpa, ctx->image_size, ctx->image, ctx->image_size,
                     PLAN_MEMORY, PLAN_KEEP, "raw image at raw_gpa");
    if (r < 0)
        return r;
    loader_report(ctx, VMM_IMAGE_RAW, c->raw_gpa, c->raw_gpa + ctx->image_size, 0);
    return 0;
}
