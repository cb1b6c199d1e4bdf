/* The exit dispatcher's hot half, inline into the run loop: one PIO or MMIO
 * exit becomes one callback on the device that mapped the address.
 *
 * Everything read from kvm_run here was written by KVM, but its values come
 * from the instruction the guest ran (sizes, counts, offsets), so sizes and
 * the data window are checked before use.
 *
 * docs/performance.md counts this path's instructions. The common case, one
 * element to a device that needs no lock, is a straight line; REP string
 * accesses, locked devices and every error report are out of line in
 * dispatch.c. Each vCPU remembers the last range it hit per address space,
 * so a guest talking to one device skips the binary search. */
#ifndef VMM_LIB_DISPATCH_H
#define VMM_LIB_DISPATCH_H

#include "vm/vm.h"

#include <string.h>

#define VMM_LIKELY(x) __builtin_expect(!!(x), 1)
#define VMM_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Out of line (dispatch.c). */
int vmm_dispatch_callback_failed(vmm_device *dev, vmm_vcpu *vcpu, const struct vmm_io *io, int r)
    __attribute__((cold));
int vmm_dispatch_call_slow(vmm_device *dev, vmm_vcpu *vcpu, vmm_io_fn fn, struct vmm_io *io,
                           uint8_t *data, uint32_t n);
int vmm_dispatch_bad_pio(const vmm_vcpu *vcpu) __attribute__((cold));
int vmm_dispatch_bad_mmio(const vmm_vcpu *vcpu) __attribute__((cold));

static inline void vmm_device_count(vmm_device *dev, uint64_t *counter)
{
    if (dev->racy_counters)
        __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
    else
        VMM_STAT_INC(*counter);
}

/* The range of @map holding [addr, addr + len), through the vCPU's cache.
 * Returns false if no single range holds it (an access straddling a range's
 * end is nobody's). */
static inline bool vmm_dispatch_lookup(struct vmm_range_cache *cache,
                                       const struct vmm_range_map *map, uint64_t addr,
                                       uint32_t len)
{
    if (VMM_UNLIKELY(addr - cache->base >= cache->len)) {
        const struct vmm_range *r = vmm_range_map_find(map, addr);
        if (!r)
            return false;
        *cache = (struct vmm_range_cache){ .base = r->base, .len = r->len, .dev = r->owner };
    }
    /* addr - base < len holds; the last byte must be inside too. */
    return len - 1 < cache->len - (addr - cache->base);
}

static inline int vmm_dispatch_call(vmm_device *dev, vmm_vcpu *vcpu, vmm_io_fn fn,
                                    struct vmm_io *io, uint8_t *data, uint32_t n)
{
    if (VMM_UNLIKELY(n != 1 || dev->serialize))
        return vmm_dispatch_call_slow(dev, vcpu, fn, io, data, n);
    io->data = data;
    vmm_device_count(dev, &dev->accesses[VMM_ACCESS_INDEX(io->space, io->is_write)]);
    int r = fn(dev, vcpu, io, dev->user);
    return VMM_LIKELY(r == 0) ? 0 : vmm_dispatch_callback_failed(dev, vcpu, io, r);
}

/* Returns 0 (consumed: resume the guest), VMM_UNHANDLED (return the exit to
 * the caller) or a negative errno (vmm_last_error() names the device). */
static inline int vmm_dispatch_pio(vmm_vcpu *vcpu)
{
    struct kvm_run *run = vcpu->run;
    uint32_t size = run->io.size, n = run->io.count;
    uint64_t offset = run->io.data_offset;
    /* size must be 1, 2 or 4 (bits 1, 2 and 4 of 0x16); the data window
     * must lie inside the run page. */
    if (VMM_UNLIKELY(size > 4 || !((0x16u >> size) & 1) || n == 0 || offset > vcpu->run_size ||
                     (uint64_t)size * n > vcpu->run_size - offset))
        return vmm_dispatch_bad_pio(vcpu);
    uint8_t *data = (uint8_t *)run + offset;
    bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
    vcpu->read_pending = !is_write;
    if (!is_write)
        memset(data, 0xff, (size_t)size * n); /* open bus unless someone answers */
    uint16_t port = run->io.port;
    if (!vmm_dispatch_lookup(&vcpu->pio_cache, &vcpu->vm->pio, port, size))
        return VMM_UNHANDLED;
    vmm_device *dev = vcpu->pio_cache.dev;
    struct vmm_io io = {
        .addr = port, .offset = port - vcpu->pio_cache.base, .len = size,
        .is_write = is_write, .space = VMM_SPACE_PIO,
    };
    return vmm_dispatch_call(dev, vcpu, dev->ops.pio, &io, data, n);
}

static inline int vmm_dispatch_mmio(vmm_vcpu *vcpu)
{
    struct kvm_run *run = vcpu->run;
    uint32_t len = run->mmio.len;
    if (VMM_UNLIKELY(len == 0 || len > sizeof(run->mmio.data)))
        return vmm_dispatch_bad_mmio(vcpu);
    uint64_t gpa = run->mmio.phys_addr;
    bool is_write = run->mmio.is_write;
    vcpu->read_pending = !is_write;
    if (!is_write)
        memset(run->mmio.data, 0xff, len);
    if (!vmm_dispatch_lookup(&vcpu->mmio_cache, &vcpu->vm->mmio, gpa, len))
        return VMM_UNHANDLED;
    vmm_device *dev = vcpu->mmio_cache.dev;
    struct vmm_io io = {
        .addr = gpa, .offset = gpa - vcpu->mmio_cache.base, .len = len,
        .is_write = is_write, .space = VMM_SPACE_MMIO,
    };
    return vmm_dispatch_call(dev, vcpu, dev->ops.mmio, &io, run->mmio.data, 1);
}

/* Forgets every vCPU's cached ranges; called whenever a map changes (which
 * only happens while no vCPU runs). */
static inline void vmm_dispatch_forget_ranges(vmm_vm *vm)
{
    for (uint32_t i = 0; i < vm->num_vcpus; i++) {
        if (!vm->vcpus[i])
            continue;
        vm->vcpus[i]->pio_cache = (struct vmm_range_cache){ 0 };
        vm->vcpus[i]->mmio_cache = (struct vmm_range_cache){ 0 };
    }
}

#endif
