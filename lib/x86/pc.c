/* The PC platform: KVM's in-kernel irqchip and PIT, and the state each
 * vCPU starts with (CPUID topology, MSRs, FPU, LAPIC, MP state). */
#include "x86/pc.h"

#include "core/error.h"
#include "kvm/kvm.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* MSR numbers (SDM vol. 4, "Model-Specific Registers"). */
#define MSR_IA32_TSC 0x10u
#define MSR_IA32_SYSENTER_CS 0x174u
#define MSR_IA32_SYSENTER_ESP 0x175u
#define MSR_IA32_SYSENTER_EIP 0x176u
#define MSR_IA32_MISC_ENABLE 0x1a0u
#define MSR_MTRR_DEF_TYPE 0x2ffu
#define MSR_STAR 0xc0000081u
#define MSR_LSTAR 0xc0000082u
#define MSR_CSTAR 0xc0000083u
#define MSR_SYSCALL_MASK 0xc0000084u
#define MSR_KERNEL_GS_BASE 0xc0000102u

#define MISC_ENABLE_FAST_STRING (1ull << 0)
#define MTRR_DEF_TYPE_E (1ull << 11) /* MTRRs enabled */
#define MTRR_TYPE_WB 6ull

/* Local APIC register offsets and LVT delivery modes (SDM vol. 3A
 * §11.5.1, Figure 11-8). */
#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_DM_MASK 0x700u
#define APIC_DM_NMI 0x400u
#define APIC_DM_EXTINT 0x700u

/* Largest MSR index list we ask KVM for; KVM reports a few dozen. */
#define MAX_MSR_INDICES 1024

int vmm_pc_init(vmm_vm *vm)
{
    int r = vmm_kvm_ioctl(vm->fd, KVM_CREATE_IRQCHIP, NULL, "vmm_vm_create: KVM_CREATE_IRQCHIP");
    if (r < 0)
        return r;
    vm->has_irqchip = true;
    /* PIT with the speaker dummy port, as QEMU and Firecracker create it. */
    struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
    r = vmm_kvm_ioctl(vm->fd, KVM_CREATE_PIT2, &pit, "vmm_vm_create: KVM_CREATE_PIT2");
    return r < 0 ? r : 0;
}

/* struct kvm_msrs with its flexible array holding one entry: the same
 * layout (api.rst, KVM_GET_MSRS), as a plain struct, since a struct with a
 * flexible array member cannot be nested in another. */
struct one_msr {
    uint32_t nmsrs;
    uint32_t pad;
    struct kvm_msr_entry e;
};
_Static_assert(offsetof(struct one_msr, e) == offsetof(struct kvm_msrs, entries),
               "struct one_msr must match struct kvm_msrs");

static int msr_supported(const struct kvm_msr_list *list, uint32_t index)
{
    for (uint32_t i = 0; i < list->nmsrs; i++)
        if (list->indices[i] == index)
            return 1;
    return 0;
}

/* The MSR values a vCPU boots with, as Firecracker's boot MSR set
 * (arch/x86_64/msr.rs) and kvmtool's (x86/kvm-cpu.c): SYSENTER/SYSCALL
 * state cleared, TSC 0, fast strings on, MTRRs on with write-back default.
 * Only MSRs that KVM_GET_MSR_INDEX_LIST reports (the guest MSRs KVM
 * supports, api.rst) are set, except MTRRdefType: KVM emulates the MTRRs
 * but never lists them (arch/x86/kvm/x86.c msrs_to_save), so it is set on
 * its own whenever CPUID advertises MTRRs, and a refusal is not fatal.
 * IA32_MISC_ENABLE keeps the bits KVM already set (e.g. PEBS/BTS
 * unavailable). */
/* CPUID.1:EDX[12], MTRR, in the vCPU's table. */
static bool has_mtrr(const vmm_vcpu *vcpu)
{
    for (uint32_t i = 0; i < vcpu->cpuid_count; i++)
        if (vcpu->cpuid[i].function == 1)
            return vcpu->cpuid[i].edx & (1u << 12);
    return false;
}

static int set_msrs(vmm_vcpu *vcpu)
{
    static const char fn[] = "vmm_vm_create";
    static const struct { uint32_t index; uint64_t value; } defaults[] = {
        { MSR_IA32_SYSENTER_CS, 0 },  { MSR_IA32_SYSENTER_ESP, 0 },
        { MSR_IA32_SYSENTER_EIP, 0 }, { MSR_STAR, 0 },
        { MSR_CSTAR, 0 },             { MSR_KERNEL_GS_BASE, 0 },
        { MSR_SYSCALL_MASK, 0 },      { MSR_LSTAR, 0 },
        { MSR_IA32_TSC, 0 },
        { MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING },
        { MSR_MTRR_DEF_TYPE, MTRR_DEF_TYPE_E | MTRR_TYPE_WB },
    };
    enum { N = sizeof(defaults) / sizeof(defaults[0]) };
    const struct vmm_kvm_caps *caps;
    int r = vmm_kvm_caps_get(&caps, fn);
    if (r < 0)
        return r;
    struct kvm_msr_list *list = calloc(1, sizeof(*list) + MAX_MSR_INDICES * sizeof(uint32_t));
    struct kvm_msrs *msrs = calloc(1, sizeof(*msrs) + N * sizeof(struct kvm_msr_entry));
    if (!list || !msrs) {
        r = vmm_err(-ENOMEM, "%s: out of memory", fn);
        goto out;
    }
    list->nmsrs = MAX_MSR_INDICES;
    r = vmm_kvm_ioctl(caps->sys_fd, KVM_GET_MSR_INDEX_LIST, list,
                      "vmm_vm_create: KVM_GET_MSR_INDEX_LIST");
    if (r < 0)
        goto out;
    for (uint32_t i = 0; i < N; i++) {
        if (defaults[i].index != MSR_MTRR_DEF_TYPE && msr_supported(list, defaults[i].index))
            msrs->entries[msrs->nmsrs++] =
                (struct kvm_msr_entry){ .index = defaults[i].index, .data = defaults[i].value };
    }
    /* Read the current IA32_MISC_ENABLE to OR the fast-string bit in. */
    for (uint32_t i = 0; i < msrs->nmsrs; i++) {
        if (msrs->entries[i].index != MSR_IA32_MISC_ENABLE)
            continue;
        struct one_msr one = { .nmsrs = 1, .e.index = MSR_IA32_MISC_ENABLE };
        r = vmm_kvm_ioctl(vcpu->fd, KVM_GET_MSRS, &one, "vmm_vm_create: KVM_GET_MSRS");
        if (r < 0)
            goto out;
        if (r == 1)
            msrs->entries[i].data |= one.e.data;
    }
    r = vmm_kvm_ioctl(vcpu->fd, KVM_SET_MSRS, msrs, "vmm_vm_create: KVM_SET_MSRS");
    if (r >= 0 && (uint32_t)r != msrs->nmsrs)
        /* KVM_SET_MSRS stops at the first MSR it refuses and returns how
         * many it set (api.rst, KVM_SET_MSRS). */
        r = vmm_err(-EINVAL, "%s: KVM refused MSR 0x%x for vCPU %u", fn,
                    msrs->entries[r].index, vcpu->index);
    else if (r > 0)
        r = 0;
    if (r == 0 && has_mtrr(vcpu)) {
        /* Without it the guest sees MTRRs, all disabled: every access
         * uncached, and Linux then also skips PAT. */
        struct one_msr mtrr = {
            .nmsrs = 1,
            .e = { .index = MSR_MTRR_DEF_TYPE, .data = MTRR_DEF_TYPE_E | MTRR_TYPE_WB },
        };
        if (vmm_kvm_ioctl(vcpu->fd, KVM_SET_MSRS, &mtrr, "vmm_vm_create: KVM_SET_MSRS") != 1)
            vmm_log(VMM_LOG_DEBUG, "vCPU %u: KVM did not take MTRRdefType; the guest's MTRRs "
                    "stay disabled", vcpu->index);
    }
out:
    free(list);
    free(msrs);
    return r;
}

/* The x87/SSE state after FNINIT and reset (SDM vol. 1 §8.1.5, §10.2.3.1):
 * FCW 0x37f (all exceptions masked, 64-bit precision), MXCSR 0x1f80. KVM
 * starts there too; set it explicitly as Firecracker's setup_fpu does. */
static int set_fpu(vmm_vcpu *vcpu)
{
    struct kvm_fpu fpu;
    memset(&fpu, 0, sizeof(fpu));
    fpu.fcw = 0x37f;
    fpu.mxcsr = 0x1f80;
    int r = vmm_kvm_ioctl(vcpu->fd, KVM_SET_FPU, &fpu, "vmm_vm_create: KVM_SET_FPU");
    return r < 0 ? r : 0;
}

static uint32_t lapic_reg(const struct kvm_lapic_state *s, unsigned off)
{
    uint32_t v;
    memcpy(&v, s->regs + off, sizeof(v));
    return v;
}

static void lapic_set_reg(struct kvm_lapic_state *s, unsigned off, uint32_t v)
{
    memcpy(s->regs + off, &v, sizeof(v));
}

/* LINT0 delivers the 8259's INTR as ExtINT, LINT1 NMI: the "virtual wire"
 * wiring of MP spec 1.4 §3.6.2.2 (Figure 3-3) that PC firmware sets up and
 * that our MP table's local interrupt entries describe. Only the delivery
 * mode changes; the mask bit stays as reset left it (masked) for the OS to
 * clear, as Firecracker's set_lint and kvmtool do. */
static int set_lint(vmm_vcpu *vcpu)
{
    struct kvm_lapic_state s;
    int r = vmm_kvm_ioctl(vcpu->fd, KVM_GET_LAPIC, &s, "vmm_vm_create: KVM_GET_LAPIC");
    if (r < 0)
        return r;
    lapic_set_reg(&s, APIC_LVT_LINT0,
                  (lapic_reg(&s, APIC_LVT_LINT0) & ~APIC_DM_MASK) | APIC_DM_EXTINT);
    lapic_set_reg(&s, APIC_LVT_LINT1,
                  (lapic_reg(&s, APIC_LVT_LINT1) & ~APIC_DM_MASK) | APIC_DM_NMI);
    r = vmm_kvm_ioctl(vcpu->fd, KVM_SET_LAPIC, &s, "vmm_vm_create: KVM_SET_LAPIC");
    return r < 0 ? r : 0;
}

/* vCPU 0 is the bootstrap processor; the others wait for INIT and SIPI
 * (MP spec 1.4 §B.4). With an in-kernel irqchip KVM already creates them
 * that way (api.rst, KVM_GET_MP_STATE: "KVM_MP_STATE_UNINITIALIZED: the
 * vcpu is an application processor (AP) which has not yet received an INIT
 * signal"); KVM_SET_MP_STATE says so explicitly rather than rely on it. An
 * AP's KVM_RUN then sleeps in the kernel until the BSP's SIPI arrives. */
static int set_mp_state(vmm_vcpu *vcpu)
{
    struct kvm_mp_state mp = { .mp_state = vcpu->index == 0 ? KVM_MP_STATE_RUNNABLE
                                                            : KVM_MP_STATE_UNINITIALIZED };
    int r = vmm_kvm_ioctl(vcpu->fd, KVM_SET_MP_STATE, &mp, "vmm_vm_create: KVM_SET_MP_STATE");
    return r < 0 ? r : 0;
}

int vmm_pc_vcpu_init(vmm_vcpu *vcpu)
{
    int r = vmm_pc_cpuid_topology(vcpu);
    if (r == 0)
        r = set_msrs(vcpu);
    if (r == 0)
        r = set_fpu(vcpu);
    if (r == 0)
        r = set_lint(vcpu);
    if (r == 0)
        r = set_mp_state(vcpu);
    return r;
}
