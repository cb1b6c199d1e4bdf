/* The exit dispatcher: one PIO or MMIO exit becomes one callback (or one per
 * element of a REP string access) on the device that mapped the address.
 *
 * Everything read from kvm_run here was written by KVM, but the page is
 * shared with the guest's behaviour (sizes, counts, offsets come from the
 * instruction it ran), so sizes and the data window are checked before use. */
#include "vm/vm.h"

#include "core/error.h"

#include <errno.h>
#include <string.h>

static inline void count_access(vmm_device *dev, uint8_t space, uint8_t is_write)
{
    uint64_t *c = space == VMM_SPACE_PIO ? (is_write ? &dev->pio_writes : &dev->pio_reads)
                                         : (is_write ? &dev->mmio_writes : &dev->mmio_reads);
    __atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

/* Calls @fn once per element; returns its verdict for the access. */
static int call_device(vmm_device *dev, vmm_vcpu *vcpu, vmm_io_fn fn, struct vmm_io *io,
                       uint8_t *data, uint32_t count)
{
    int r = 0;
    if (dev->serialize)
        pthread_mutex_lock(&dev->lock);
    for (uint32_t i = 0; i < count; i++) {
        io->data = data + (size_t)i * io->len;
        count_access(dev, io->space, io->is_write);
        r = fn(dev, vcpu, io, dev->user);
        if (r != 0)
            break;
    }
    if (dev->serialize)
        pthread_mutex_unlock(&dev->lock);
    if (r == VMM_UNHANDLED) {
        __atomic_fetch_add(&dev->unhandled, 1, __ATOMIC_RELAXED);
    } else if (r < 0) {
        __atomic_fetch_add(&dev->errors, 1, __ATOMIC_RELAXED);
        const char *what = io->space == VMM_SPACE_PIO ? "port" : "address";
        vmm_err(r, "device '%s' failed a %u-byte %s %s 0x%llx on vCPU %u: %s", dev->name,
                io->len, io->is_write ? "write to" : "read from", what,
                (unsigned long long)io->addr, vcpu->index, vmm_strerror(r));
    } else if (r > 0) {
        /* Not a value the contract allows: treat as a device error. */
        __atomic_fetch_add(&dev->errors, 1, __ATOMIC_RELAXED);
        r = vmm_err(-EPROTO, "device '%s' returned %d, which is neither 0, VMM_UNHANDLED nor a "
                    "negative errno", dev->name, r);
    }
    return r;
}

int vmm_dispatch_pio(vmm_vcpu *vcpu)
{
    struct kvm_run *run = vcpu->run;
    uint32_t size = run->io.size, count = run->io.count;
    uint64_t offset = run->io.data_offset;
    bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
    if ((size != 1 && size != 2 && size != 4) || count == 0 || offset > vcpu->run_size ||
        (uint64_t)size * count > vcpu->run_size - offset) {
        return vmm_err(-EPROTO, "vCPU %u: KVM reported port I/O with size %u count %u at offset "
                       "%llu of the run page", vcpu->index, size, count,
                       (unsigned long long)offset);
    }
    uint8_t *data = (uint8_t *)run + offset;
    vcpu->read_pending = !is_write;
    if (!is_write)
        memset(data, 0xff, (size_t)size * count); /* open bus unless someone answers */
    uint16_t port = run->io.port;
    const struct vmm_range *r = vmm_range_map_find(&vcpu->vm->pio, port);
    /* An access straddling the end of a device's ports is nobody's. */
    if (!r || port + size - 1u - r->base >= r->len)
        return VMM_UNHANDLED;
    vmm_device *dev = r->owner;
    struct vmm_io io = {
        .addr = port, .offset = port - r->base, .len = size,
        .is_write = is_write, .space = VMM_SPACE_PIO,
    };
    return call_device(dev, vcpu, dev->ops.pio, &io, data, count);
}

int vmm_dispatch_mmio(vmm_vcpu *vcpu)
{
    struct kvm_run *run = vcpu->run;
    uint32_t len = run->mmio.len;
    if (len == 0 || len > sizeof(run->mmio.data))
        return vmm_err(-EPROTO, "vCPU %u: KVM reported MMIO of %u bytes", vcpu->index, len);
    uint64_t gpa = run->mmio.phys_addr;
    vcpu->read_pending = !run->mmio.is_write;
    if (!run->mmio.is_write)
        memset(run->mmio.data, 0xff, len);
    const struct vmm_range *r = vmm_range_map_find(&vcpu->vm->mmio, gpa);
    if (!r || len - 1 > r->len - 1 - (gpa - r->base))
        return VMM_UNHANDLED;
    vmm_device *dev = r->owner;
    struct vmm_io io = {
        .addr = gpa, .offset = gpa - r->base, .len = len,
        .is_write = run->mmio.is_write, .space = VMM_SPACE_MMIO,
    };
    return call_device(dev, vcpu, dev->ops.mmio, &io, run->mmio.data, 1);
}
