/* The hypercall doorbell (guest ABI in include/vmm/hypercall.h): an internal
 * PIO device whose 4-byte write reads the call from the vCPU's registers,
 * runs the registered handler and returns its result in RAX. */
#include "vm/vm.h"

#include "core/error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Index of the first entry with nr >= @nr. */
static size_t lower_bound(const vmm_vm *vm, uint64_t nr)
{
    size_t lo = 0, hi = vm->hypercall_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (vm->hypercalls[mid].nr < nr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int doorbell_pio(vmm_device *dev, vmm_vcpu *vcpu, const struct vmm_io *io, void *user)
{
    (void)user;
    vmm_vm *vm = dev->vm;
    /* Only the documented doorbell: a 4-byte OUT to the base port. */
    if (!io->is_write || io->len != 4 || io->offset != 0)
        return VMM_UNHANDLED;
    struct vmm_regs regs;
    int r = vmm_vcpu_get_regs(vcpu, &regs);
    if (r < 0)
        return r;
    const struct vmm_hypercall call = {
        .nr = regs.rax,
        .args = { regs.rdi, regs.rsi, regs.rcx, regs.rbx, regs.r8, regs.r9 },
    };
    VMM_STAT_INC(vcpu->exits[VMM_STAT_EXIT_HYPERCALL]);
    size_t i = lower_bound(vm, call.nr);
    uint64_t result = (uint64_t)(int64_t)-ENOSYS;
    if (i < vm->hypercall_count && vm->hypercalls[i].nr == call.nr) {
        const struct vmm_hypercall_entry *e = &vm->hypercalls[i];
        r = e->fn(vcpu, &call, &result, e->user);
        if (r == VMM_UNHANDLED)
            return r;
        if (r < 0)
            return vmm_err(r, "hypercall %llu on vCPU %u failed: %s",
                           (unsigned long long)call.nr, vcpu->index, vmm_strerror(r));
        if (r > 0)
            return vmm_err(-EPROTO, "hypercall %llu handler returned %d, which is neither 0, "
                           "VMM_UNHANDLED nor a negative errno", (unsigned long long)call.nr, r);
    }
    regs.rax = result;
    return vmm_vcpu_set_regs(vcpu, &regs);
}

int vmm_hypercall_attach_doorbell(vmm_vm *vm)
{
    struct vmm_device_ops ops = VMM_DEVICE_OPS_INIT;
    ops.name = "hypercall";
    /* Handlers run concurrently by contract; the table only changes while idle. */
    ops.flags = VMM_DEVICE_F_CONCURRENT;
    ops.pio = doorbell_pio;
    vmm_device *dev;
    int r = vmm_device_attach(vm, &ops, NULL, &dev);
    if (r < 0)
        return r;
    dev->own_errors = true; /* "hypercall N failed: ..." says more than "device 'hypercall'" */
    return vmm_device_map_pio(dev, vm->hypercall_port, 4);
}

void vmm_hypercalls_free(vmm_vm *vm)
{
    free(vm->hypercalls);
    vm->hypercalls = NULL;
    vm->hypercall_count = vm->hypercall_capacity = 0;
}

VMM_API int vmm_hypercall_register(vmm_vm *vm, uint64_t nr, vmm_hypercall_fn fn, void *user)
{
    static const char fn_name[] = "vmm_hypercall_register";
    if (!vm || !fn)
        return vmm_err(-EINVAL, "%s: vm and fn must not be NULL", fn_name);
    if (!vm->hypercall_port)
        return vmm_err(-EINVAL, "%s: this VM was created with hypercall_port 0 (no hypercalls)",
                       fn_name);
    int r = vmm_vm_begin_change(vm, fn_name);
    if (r < 0)
        return r;
    size_t i = lower_bound(vm, nr);
    if (i < vm->hypercall_count && vm->hypercalls[i].nr == nr) {
        r = vmm_err(-EEXIST, "%s: hypercall %llu is already registered", fn_name,
                    (unsigned long long)nr);
        goto out;
    }
    if (vm->hypercall_count == vm->hypercall_capacity) {
        size_t cap = vm->hypercall_capacity ? vm->hypercall_capacity * 2 : 8;
        struct vmm_hypercall_entry *grown = realloc(vm->hypercalls, cap * sizeof(*grown));
        if (!grown) {
            r = vmm_err(-ENOMEM, "%s: out of memory", fn_name);
            goto out;
        }
        vm->hypercalls = grown;
        vm->hypercall_capacity = cap;
    }
    memmove(&vm->hypercalls[i + 1], &vm->hypercalls[i],
            (vm->hypercall_count - i) * sizeof(vm->hypercalls[0]));
    vm->hypercalls[i] = (struct vmm_hypercall_entry){ .nr = nr, .fn = fn, .user = user };
    vm->hypercall_count++;
out:
    vmm_vm_end_change(vm);
    return r;
}

VMM_API int vmm_hypercall_unregister(vmm_vm *vm, uint64_t nr)
{
    static const char fn_name[] = "vmm_hypercall_unregister";
    if (!vm)
        return vmm_err(-EINVAL, "%s: vm is NULL", fn_name);
    int r = vmm_vm_begin_change(vm, fn_name);
    if (r < 0)
        return r;
    size_t i = lower_bound(vm, nr);
    if (i >= vm->hypercall_count || vm->hypercalls[i].nr != nr) {
        r = vmm_err(-ENOENT, "%s: hypercall %llu is not registered", fn_name,
                    (unsigned long long)nr);
    } else {
        memmove(&vm->hypercalls[i], &vm->hypercalls[i + 1],
                (vm->hypercall_count - i - 1) * sizeof(vm->hypercalls[0]));
        vm->hypercall_count--;
    }
    vmm_vm_end_change(vm);
    return r;
}
