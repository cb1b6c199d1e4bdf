/* CPUID: every vCPU starts with what KVM supports, with its own APIC id. */
#include "vm/vm.h"
#include "x86/pc.h"

#include "core/error.h"
#include "kvm/kvm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>


_Static_assert(KVM_CPUID_FLAG_SIGNIFCANT_INDEX == 1, "vmm_cpuid_entry.flags documents 1");

/* Gives each vCPU its APIC id in the leaves that report it (SDM vol. 2A
 * CPUID: leaf 1 EBX[31:24]; leaves 0xB and 0x1F EDX = x2APIC id). */
static void set_apic_id(struct vmm_cpuid_entry *e, uint32_t count, uint32_t id)
{
    for (uint32_t i = 0; i < count; i++) {
        if (e[i].function == 1)
            e[i].ebx = (e[i].ebx & 0x00ffffffu) | (id << 24);
        else if (e[i].function == 0xb || e[i].function == 0x1f)
            e[i].edx = id;
    }
}

int vmm_x86_cpuid_apply(vmm_vcpu *vcpu, const struct vmm_cpuid_entry *entries, uint32_t count,
                        const char *fn)
{
    struct kvm_cpuid2 *k = calloc(1, sizeof(*k) + count * sizeof(k->entries[0]));
    struct vmm_cpuid_entry *copy = malloc(count * sizeof(*copy));
    if (!k || !copy) {
        free(k);
        free(copy);
        return vmm_err(-ENOMEM, "%s: out of memory", fn);
    }
    k->nent = count;
    for (uint32_t i = 0; i < count; i++) {
        k->entries[i] = (struct kvm_cpuid_entry2){
            .function = entries[i].function, .index = entries[i].index,
            .flags = entries[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
            .eax = entries[i].eax, .ebx = entries[i].ebx,
            .ecx = entries[i].ecx, .edx = entries[i].edx,
        };
        copy[i] = entries[i];
        copy[i].flags &= KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
        copy[i].reserved0 = 0;
    }
    int r = vmm_kvm_ioctl(vcpu->fd, KVM_SET_CPUID2, k, "KVM_SET_CPUID2");
    free(k);
    if (r < 0) {
        free(copy);
        return vmm_err(r, "%s: KVM refused the CPUID table for vCPU %u (%s); CPUID can only be "
                       "changed before the vCPU first runs", fn, vcpu->index, vmm_strerror(r));
    }
    free(vcpu->cpuid);
    vcpu->cpuid = copy;
    vcpu->cpuid_count = count;
    return 0;
}

int vmm_x86_cpuid_init(vmm_vcpu *vcpu)
{
    const struct vmm_kvm_caps *caps;
    int r = vmm_kvm_caps_get(&caps, "vmm_vm_create");
    if (r < 0)
        return r;
    uint32_t n = caps->cpuid_count < VMM_X86_MAX_CPUID_ENTRIES ? caps->cpuid_count
                                                               : VMM_X86_MAX_CPUID_ENTRIES;
    struct vmm_cpuid_entry *e = calloc(n ? n : 1, sizeof(*e));
    if (!e)
        return vmm_err(-ENOMEM, "vmm_vm_create: out of memory");
    for (uint32_t i = 0; i < n; i++) {
        const struct kvm_cpuid_entry2 *s = &caps->cpuid[i];
        e[i] = (struct vmm_cpuid_entry){ .function = s->function, .index = s->index,
                                         .flags = s->flags, .eax = s->eax, .ebx = s->ebx,
                                         .ecx = s->ecx, .edx = s->edx };
    }
    set_apic_id(e, n, vcpu->index);
    r = vmm_x86_cpuid_apply(vcpu, e, n, "vmm_vm_create");
    free(e);
    return r;
}

VMM_API int vmm_vcpu_get_cpuid(vmm_vcpu *vcpu, struct vmm_cpuid_entry *entries, uint32_t *count)
{
    static const char fn[] = "vmm_vcpu_get_cpuid";
    if (!vcpu || !count || (!entries && *count))
        return vmm_err(-EINVAL, "%s: vcpu and count must not be NULL (entries only if *count is 0)",
                       fn);
    uint32_t capacity = *count;
    *count = vcpu->cpuid_count;
    if (capacity < vcpu->cpuid_count)
        return vmm_err(-E2BIG, "%s: the table has %u entries, the buffer %u", fn,
                       vcpu->cpuid_count, capacity);
    memcpy(entries, vcpu->cpuid, vcpu->cpuid_count * sizeof(*entries));
    return 0;
}

VMM_API int vmm_vcpu_set_cpuid(vmm_vcpu *vcpu, const struct vmm_cpuid_entry *entries,
                               uint32_t count)
{
    static const char fn[] = "vmm_vcpu_set_cpuid";
    if (!vcpu || !entries)
        return vmm_err(-EINVAL, "%s: vcpu and entries must not be NULL", fn);
    if (count == 0 || count > VMM_X86_MAX_CPUID_ENTRIES)
        return vmm_err(-EINVAL, "%s: count %u is outside 1..%d", fn, count,
                       VMM_X86_MAX_CPUID_ENTRIES);
    return vmm_x86_cpuid_apply(vcpu, entries, count, fn);
}
