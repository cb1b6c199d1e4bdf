/* Register access through libvmm's own structs. struct vmm_regs and the
 * segment/dtable structs mirror KVM's layout on purpose (checked below), so
 * conversion is a copy; struct vmm_sregs leaves out KVM's interrupt bitmap,
 * which set_sregs preserves. */
#include "vm/vm.h"

#include "core/error.h"
#include "kvm/kvm.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

_Static_assert(sizeof(struct vmm_regs) == sizeof(struct kvm_regs), "vmm_regs mirrors kvm_regs");
_Static_assert(offsetof(struct vmm_regs, rip) == offsetof(struct kvm_regs, rip), "rip");
_Static_assert(offsetof(struct vmm_regs, r8) == offsetof(struct kvm_regs, r8), "r8");
_Static_assert(sizeof(struct vmm_segment) == sizeof(struct kvm_segment), "segment");
_Static_assert(offsetof(struct vmm_segment, unusable) == offsetof(struct kvm_segment, unusable),
               "segment.unusable");
_Static_assert(sizeof(struct vmm_dtable) == sizeof(struct kvm_dtable), "dtable");
_Static_assert(offsetof(struct vmm_sregs, apic_base) == offsetof(struct kvm_sregs, apic_base),
               "sregs prefix mirrors kvm_sregs");

#define NUM_REG_FIELDS (sizeof(struct vmm_regs) / sizeof(uint64_t))
_Static_assert(NUM_REG_FIELDS <= 32, "deferred_mask has a bit per field");

static int kvm_get_regs(vmm_vcpu *vcpu, struct vmm_regs *regs, const char *fn)
{
    struct kvm_regs k;
    int r = vmm_kvm_ioctl(vcpu->fd, KVM_GET_REGS, &k, fn);
    if (r < 0)
        return r;
    memcpy(regs, &k, sizeof(k));
    return 0;
}

static int kvm_set_regs(vmm_vcpu *vcpu, const struct vmm_regs *regs, const char *fn)
{
    struct kvm_regs k;
    memcpy(&k, regs, sizeof(k));
    k.rflags |= 2; /* bit 1 is reserved and always set (SDM vol. 1 §3.4.3) */
    int r = vmm_kvm_ioctl(vcpu->fd, KVM_SET_REGS, &k, fn);
    return r < 0 ? r : 0;
}

/* Lays the deferred writes over registers read from KVM. */
static void overlay_deferred(const vmm_vcpu *vcpu, struct vmm_regs *regs)
{
    const uint64_t *from = (const uint64_t *)&vcpu->deferred;
    uint64_t *to = (uint64_t *)regs;
    for (unsigned i = 0; i < NUM_REG_FIELDS; i++)
        if (vcpu->deferred_mask & (1u << i))
            to[i] = from[i];
}

VMM_API int vmm_vcpu_get_regs(vmm_vcpu *vcpu, struct vmm_regs *regs)
{
    if (!vcpu || !regs)
        return vmm_err(-EINVAL, "vmm_vcpu_get_regs: vcpu and regs must not be NULL");
    int r = kvm_get_regs(vcpu, regs, "vmm_vcpu_get_regs: KVM_GET_REGS");
    if (r == 0 && vcpu->read_pending)
        overlay_deferred(vcpu, regs);
    return r;
}

VMM_API int vmm_vcpu_set_regs(vmm_vcpu *vcpu, const struct vmm_regs *regs)
{
    static const char fn[] = "vmm_vcpu_set_regs: KVM_SET_REGS";
    if (!vcpu || !regs)
        return vmm_err(-EINVAL, "vmm_vcpu_set_regs: vcpu and regs must not be NULL");
    if (!vcpu->read_pending)
        return kvm_set_regs(vcpu, regs, fn);
    /* Keep what differs from KVM's state for after the read completes. */
    struct vmm_regs now;
    int r = kvm_get_regs(vcpu, &now, fn);
    if (r < 0)
        return r;
    const uint64_t *want = (const uint64_t *)regs, *have = (const uint64_t *)&now;
    uint64_t *keep = (uint64_t *)&vcpu->deferred;
    vcpu->deferred_mask = 0;
    for (unsigned i = 0; i < NUM_REG_FIELDS; i++) {
        if (want[i] != have[i]) {
            keep[i] = want[i];
            vcpu->deferred_mask |= 1u << i;
        }
    }
    return 0;
}

int vmm_vcpu_complete_read(vmm_vcpu *vcpu)
{
    vcpu->read_pending = false;
    if (!vcpu->deferred_mask)
        return 0; /* the next KVM_RUN completes it */
    /* api.rst (kvm_run::immediate_exit): KVM_RUN with immediate_exit set
     * finishes the pending operation and returns -EINTR without running
     * further guest instructions. */
    struct kvm_run *run = vcpu->run;
    __atomic_store_n(&run->immediate_exit, 1, __ATOMIC_SEQ_CST);
    int r = vmm_kvm_run(vcpu->fd);
    __atomic_store_n(&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
    if (r == 0) {
        /* Completing it took the guest to a new exit (another round of a
         * REP INS): keep the writes until that one completes. */
        vcpu->read_pending = true;
        return 1;
    }
    if (r != -EINTR)
        return vmm_err(r, "vmm_vcpu_run: completing a read on vCPU %u failed: %s", vcpu->index,
                       vmm_strerror(r));
    struct vmm_regs regs;
    r = kvm_get_regs(vcpu, &regs, "vmm_vcpu_run: KVM_GET_REGS");
    if (r < 0)
        return r;
    overlay_deferred(vcpu, &regs);
    vcpu->deferred_mask = 0;
    return kvm_set_regs(vcpu, &regs, "vmm_vcpu_run: KVM_SET_REGS");
}

VMM_API int vmm_vcpu_get_sregs(vmm_vcpu *vcpu, struct vmm_sregs *sregs)
{
    if (!vcpu || !sregs)
        return vmm_err(-EINVAL, "vmm_vcpu_get_sregs: vcpu and sregs must not be NULL");
    struct kvm_sregs k;
    int r = vmm_kvm_ioctl(vcpu->fd, KVM_GET_SREGS, &k, "vmm_vcpu_get_sregs: KVM_GET_SREGS");
    if (r < 0)
        return r;
    memcpy(sregs, &k, sizeof(*sregs));
    return 0;
}

VMM_API int vmm_vcpu_set_sregs(vmm_vcpu *vcpu, const struct vmm_sregs *sregs)
{
    if (!vcpu || !sregs)
        return vmm_err(-EINVAL, "vmm_vcpu_set_sregs: vcpu and sregs must not be NULL");
    struct kvm_sregs k;
    int r = vmm_kvm_ioctl(vcpu->fd, KVM_GET_SREGS, &k, "vmm_vcpu_set_sregs: KVM_GET_SREGS");
    if (r < 0)
        return r;
    memcpy(&k, sregs, sizeof(*sregs));
    r = vmm_kvm_ioctl(vcpu->fd, KVM_SET_SREGS, &k, "vmm_vcpu_set_sregs: KVM_SET_SREGS");
    return r < 0 ? r : 0;
}

/* Where each named register lives: an offset into vmm_regs or vmm_sregs. */
static const struct {
    uint8_t in_sregs;
    uint16_t offset;
} reg_table[VMM_REG_COUNT] = {
#define G(name, field) [name] = { 0, offsetof(struct vmm_regs, field) }
#define S(name, field) [name] = { 1, offsetof(struct vmm_sregs, field) }
    G(VMM_REG_RAX, rax), G(VMM_REG_RBX, rbx), G(VMM_REG_RCX, rcx), G(VMM_REG_RDX, rdx),
    G(VMM_REG_RSI, rsi), G(VMM_REG_RDI, rdi), G(VMM_REG_RSP, rsp), G(VMM_REG_RBP, rbp),
    G(VMM_REG_R8, r8),   G(VMM_REG_R9, r9),   G(VMM_REG_R10, r10), G(VMM_REG_R11, r11),
    G(VMM_REG_R12, r12), G(VMM_REG_R13, r13), G(VMM_REG_R14, r14), G(VMM_REG_R15, r15),
    G(VMM_REG_RIP, rip), G(VMM_REG_RFLAGS, rflags),
    S(VMM_REG_CR0, cr0), S(VMM_REG_CR2, cr2), S(VMM_REG_CR3, cr3), S(VMM_REG_CR4, cr4),
    S(VMM_REG_CR8, cr8), S(VMM_REG_EFER, efer),
#undef G
#undef S
};

/* Reads or writes one register by a get/modify/set of its group. */
static int access_reg(vmm_vcpu *vcpu, uint32_t reg, uint64_t *value, bool write, const char *fn)
{
    if (!vcpu || !value)
        return vmm_err(-EINVAL, "%s: vcpu and value must not be NULL", fn);
    if (reg >= VMM_REG_COUNT)
        return vmm_err(-EINVAL, "%s: register %u is not a vmm_reg", fn, reg);
    union {
        struct vmm_regs regs;
        struct vmm_sregs sregs;
    } u;
    bool in_sregs = reg_table[reg].in_sregs;
    int r = in_sregs ? vmm_vcpu_get_sregs(vcpu, &u.sregs) : vmm_vcpu_get_regs(vcpu, &u.regs);
    if (r < 0)
        return r;
    uint64_t *slot = (uint64_t *)((uint8_t *)&u + reg_table[reg].offset);
    if (!write) {
        *value = *slot;
        return 0;
    }
    *slot = *value;
    return in_sregs ? vmm_vcpu_set_sregs(vcpu, &u.sregs) : vmm_vcpu_set_regs(vcpu, &u.regs);
}

VMM_API int vmm_vcpu_get_reg(vmm_vcpu *vcpu, uint32_t reg, uint64_t *value)
{
    return access_reg(vcpu, reg, value, false, "vmm_vcpu_get_reg");
}

VMM_API int vmm_vcpu_set_reg(vmm_vcpu *vcpu, uint32_t reg, uint64_t value)
{
    return access_reg(vcpu, reg, &value, true, "vmm_vcpu_set_reg");
}
