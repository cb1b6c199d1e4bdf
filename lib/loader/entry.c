/* vCPU 0 at a kernel's entry point, in the machine state its boot protocol
 * promises. The descriptor tables and page tables come from
 * lib/x86/cpu_mode.c, written at LOADER_TABLES_GPA. */
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

int loader_entry_plan(struct load_plan *p, const struct loader_entry *e)
{
    uint64_t need = 0;
    /* The default identity map (4 GiB) covers everything the loaders place:
     * they keep kernels, initrds and boot data below 4 GiB. */
    int r = vmm_cpu_mode_tables_size(entry_mode(e), 0, &need);
    if (r < 0 || need == 0)
        return r;
    return plan_add(p, LOADER_TABLES_GPA, need, NULL, 0, PLAN_RAM, PLAN_KEEP,
                    "CPU tables (GDT, TSS, page tables)");
}

int loader_entry_apply(vmm_vcpu *vcpu, const struct loader_entry *e, const char *fn)
{
    struct vmm_cpu_mode_config mode = VMM_CPU_MODE_CONFIG_INIT(entry_mode(e));
    mode.tables_gpa = LOADER_TABLES_GPA;
    mode.tables_size = LOADER_TABLES_SIZE;
    bool linux_gdt = e->kind == ENTRY_LINUX64 || e->kind == ENTRY_LINUX32;
    int r = vmm_x86_set_cpu_mode(vcpu, &mode, linux_gdt, fn);
    if (r < 0)
        return r;

    uint64_t rip = e->rip;
    if (e->kind == ENTRY_PVH || (e->kind == ENTRY_RAW && e->raw_mode == VMM_CPU_MODE_REAL)) {
        struct vmm_sregs s;
        r = vmm_vcpu_get_sregs(vcpu, &s);
        if (r < 0)
            return r;
        if (e->kind == ENTRY_PVH) {
            /* pvh.pandoc: "cr0: PE set, all other writeable bits are
             * cleared"; "TR: a 32-bit TSS in active state with base 0 and
             * limit 0x67". */
            s.cr0 = CR0_PE | CR0_ET;
            s.tr.base = 0;
            s.tr.limit = 0x67;
        } else {
            /* Real mode reaches the first MiB through CS: a segment whose
             * base is the entry's 64 KiB page. */
            s.cs.selector = (uint16_t)((rip >> 4) & 0xf000);
            s.cs.base = (uint64_t)s.cs.selector << 4;
            rip -= s.cs.base;
        }
        r = vmm_vcpu_set_sregs(vcpu, &s);
        if (r < 0)
            return r;
    }
    /* Every register the protocol does not name is 0 (boot.rst asks for
     * EBP, EDI and EBX = 0 at the 32-bit entry; the others say
     * "undefined", and zero is the honest undefined). IF is clear. */
    struct vmm_regs regs;
    memset(&regs, 0, sizeof(regs));
    regs.rip = rip;
    regs.rax = e->rax;
    regs.rbx = e->rbx;
    regs.rsi = e->rsi;
    regs.rflags = 2;
    return vmm_vcpu_set_regs(vcpu, &regs);
}
