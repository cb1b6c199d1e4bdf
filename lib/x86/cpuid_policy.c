/* vmm_vm_set_cpuid_policy(): one set of bit overrides applied to every
 * vCPU's CPUID table, all or nothing. */
#include "x86/pc.h"

#include "core/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OVERRIDES 256

/* The entry a guest's CPUID(function, index) reads: the index matters only
 * for leaves flagged KVM_CPUID_FLAG_SIGNIFCANT_INDEX (api.rst,
 * KVM_SET_CPUID2). */
static struct vmm_cpuid_entry *find_leaf(struct vmm_cpuid_entry *e, uint32_t count,
                                         uint32_t function, uint32_t index)
{
    for (uint32_t i = 0; i < count; i++) {
        if (e[i].function != function)
            continue;
        if (!(e[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e[i].index == index)
            return &e[i];
    }
    return NULL;
}

static uint32_t *reg_of(struct vmm_cpuid_entry *e, uint32_t reg)
{
    switch (reg) {
    case VMM_CPUID_EAX: return &e->eax;
    case VMM_CPUID_EBX: return &e->ebx;
    case VMM_CPUID_ECX: return &e->ecx;
    default: return &e->edx;
    }
}

/* A copy of @vcpu's table with the overrides applied, or NULL with the
 * error in *err. */
static struct vmm_cpuid_entry *with_policy(const vmm_vcpu *vcpu,
                                           const struct vmm_cpuid_override *ov, uint32_t count,
                                           int *err, const char *fn)
{
    struct vmm_cpuid_entry *e = malloc(vcpu->cpuid_count * sizeof(*e));
    if (!e) {
        *err = vmm_err(-ENOMEM, "%s: out of memory", fn);
        return NULL;
    }
    memcpy(e, vcpu->cpuid, vcpu->cpuid_count * sizeof(*e));
    for (uint32_t i = 0; i < count; i++) {
        struct vmm_cpuid_entry *leaf = find_leaf(e, vcpu->cpuid_count, ov[i].function,
                                                 ov[i].index);
        if (!leaf) {
            free(e);
            *err = vmm_err(-ENOENT, "%s: override %u: vCPU %u has no CPUID leaf 0x%x "
                           "(sub-leaf %u)", fn, i, vcpu->index, ov[i].function, ov[i].index);
            return NULL;
        }
        uint32_t *r = reg_of(leaf, ov[i].reg);
        *r = (*r & ~ov[i].clear) | ov[i].set;
    }
    return e;
}

VMM_API int vmm_vm_set_cpuid_policy(vmm_vm *vm, const struct vmm_cpuid_override *overrides,
                                    uint32_t count)
{
    static const char fn[] = "vmm_vm_set_cpuid_policy";
    if (!vm || !overrides)
        return vmm_err(-EINVAL, "%s: vm and overrides must not be NULL", fn);
    if (count == 0 || count > MAX_OVERRIDES)
        return vmm_err(-EINVAL, "%s: count %u is outside 1..%d", fn, count, MAX_OVERRIDES);
    for (uint32_t i = 0; i < count; i++)
        if (overrides[i].reg > VMM_CPUID_EDX)
            return vmm_err(-EINVAL, "%s: override %u: reg %u is not a vmm_cpuid_reg", fn, i,
                           overrides[i].reg);
    /* Held throughout: no vCPU may start, and no other change run, between
     * the tables' check and their installation. */
    int r = vmm_vm_begin_change(vm, fn);
    if (r < 0)
        return r;

    /* Every table is built (and every leaf found) before KVM sees any. */
    const uint32_t n = vm->num_vcpus;
    struct vmm_cpuid_entry **next = calloc(n, sizeof(*next));
    struct vmm_cpuid_entry **old = calloc(n, sizeof(*old));
    uint32_t *old_count = calloc(n, sizeof(*old_count));
    if (!next || !old || !old_count) {
        r = vmm_err(-ENOMEM, "%s: out of memory", fn);
        goto out;
    }
    for (uint32_t v = 0; v < n; v++) {
        const vmm_vcpu *vcpu = vm->vcpus[v];
        next[v] = with_policy(vcpu, overrides, count, &r, fn);
        old[v] = malloc(vcpu->cpuid_count * sizeof(**old));
        if (!next[v])
            goto out;
        if (!old[v]) {
            r = vmm_err(-ENOMEM, "%s: out of memory", fn);
            goto out;
        }
        memcpy(old[v], vcpu->cpuid, vcpu->cpuid_count * sizeof(**old));
        old_count[v] = vcpu->cpuid_count;
    }
    for (uint32_t v = 0; v < n; v++) {
        r = vmm_x86_cpuid_apply(vm->vcpus[v], next[v], old_count[v], fn);
        if (r < 0) {
            /* KVM refused this vCPU (typically: it has run). Put back the
             * tables of those already changed, keeping this error. */
            char why[256];
            snprintf(why, sizeof(why), "%s", vmm_last_error());
            for (uint32_t u = 0; u < v; u++)
                vmm_x86_cpuid_apply(vm->vcpus[u], old[u], old_count[u], fn);
            vmm_err_set_text(why);
            goto out;
        }
    }
out:
    for (uint32_t v = 0; next && old && v < n; v++) {
        free(next[v]);
        free(old[v]);
    }
    free(next);
    free(old);
    free(old_count);
    vmm_vm_end_change(vm);
    return r;
}
