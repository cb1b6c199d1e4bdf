/* vCPU 0 at a kernel's entry point, in the machine state its boot protocol
 * promises. The registers are computed while the load is planned (with the
 * descriptor and page tables from lib/x86/cpu_mode.c going into the plan
 * like any other bytes), and set only once the whole load has been
 * checked. */
#include "loader/loader.h"
#include "x86/pc.h"

#include "core/error.h"

#include <errno.h>
#include <string.h>

#define CR0_PE (1ull << 0)
#define CR0_ET (1ull << 4)

static uint32_t entry_mode(const struct loader_entry *e)
{
    switch (e->kind) {
    case ENTRY_LINUX64: return VMM_CPU_MODE_LONG;
    case ENTRY_RAW: return e->raw_mode;
    default: return VMM_CPU_MODE_PROTECTED;
    }
}

int loader_cpu_plan(struct load_ctx *ctx)
{
    const struct loader_entry *e = &ctx->entry;
    struct load_plan *p = &ctx->plan;
    struct vmm_cpu_mode_config mode = VMM_CPU_MODE_CONFIG_INIT(entry_mode(e));
    mode.tables_gpa = LOADER_TABLES_GPA;
    mode.tables_size = LOADER_TABLES_SIZE;
    uint64_t need = 0;
    /* The default identity map (4 GiB) covers everything the loaders place:
     * kernels, initrds and boot data all stay below 4 GiB. */
    int r = vmm_cpu_mode_tables_size(mode.mode, 0, &need);
    if (r == 0)
        r = vmm_vcpu_get_sregs(p->vm->vcpus[0], &ctx->sregs);
    if (r == 0)
        r = vmm_x86_cpu_mode_state(&mode, e->kind == ENTRY_LINUX64 || e->kind == ENTRY_LINUX32,
                                   need ? ctx->tables : NULL, &ctx->sregs, p->fn);
    if (r < 0 || need == 0)
        return r;
    if (e->kind == ENTRY_PVH) {
        /* pvh.pandoc: "cr0: PE set, all other writeable bits are cleared";
         * "TR: a 32-bit TSS in active state with base 0 and limit 0x67". */
        ctx->sregs.cr0 = CR0_PE | CR0_ET;
        ctx->sregs.tr.base = 0;
        ctx->sregs.tr.limit = 0x67;
    }
    return plan_add(p, LOADER_TABLES_GPA, need, ctx->tables, need, PLAN_RAM, PLAN_KEEP,
                    "CPU tables (GDT, TSS, page tables)");
}

int loader_entry_apply(vmm_vcpu *vcpu, const struct load_ctx *ctx)
{
    const struct loader_entry *e = &ctx->entry;
    struct vmm_sregs s = ctx->sregs, old_s;
    struct vmm_regs regs, old_regs;
    uint64_t rip = e->rip;
    if (e->kind == ENTRY_RAW && e->raw_mode == VMM_CPU_MODE_REAL) {
        /* Real mode reaches the first MiB through CS: a segment whose base
         * is the entry's 64 KiB page. */
        s.cs.selector = (uint16_t)((rip >> 4) & 0xf000);
        s.cs.base = (uint64_t)s.cs.selector << 4;
        rip -= s.cs.base;
    }
    /* Every register the protocol does not name is 0 (boot.rst asks for
     * EBP, EDI and EBX = 0 at the 32-bit entry; the others say
     * "undefined", and zero is the honest undefined). IF is clear. */
    memset(&regs, 0, sizeof(regs));
    regs.rip = rip;
    regs.rax = e->rax;
    regs.rbx = e->rbx;
    regs.rsi = e->rsi;
    regs.rflags = 2;
    int r = vmm_vcpu_get_sregs(vcpu, &old_s);
    if (r == 0)
        r = vmm_vcpu_get_regs(vcpu, &old_regs);
    if (r < 0)
        return r;
    r = vmm_vcpu_set_sregs(vcpu, &s);
    if (r == 0)
        r = vmm_vcpu_set_regs(vcpu, &regs);
    if (r < 0) {
        /* KVM refused a state it should accept: leave vCPU 0 as it was,
         * keeping the first error's sentence. */
        char why[256];
        memcpy(why, vmm_last_error(), sizeof(why));
        why[sizeof(why) - 1] = '\0';
        vmm_vcpu_set_sregs(vcpu, &old_s);
        vmm_vcpu_set_regs(vcpu, &old_regs);
        vmm_err_set_text(why);
    }
    return r;
}
