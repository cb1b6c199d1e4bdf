/* The exit dispatcher's cold half: REP string accesses, locked devices and
 * every error report. The hot half is inline in dispatch.h. */
#include "dispatch/dispatch.h"

#include "core/error.h"

#include <errno.h>
#include <string.h>

/* Turns a non-zero callback result into the verdict for the access. */
int vmm_dispatch_callback_failed(vmm_device *dev, vmm_vcpu *vcpu, const struct vmm_io *io, int r)
{
    if (r == VMM_UNHANDLED) {
        vmm_device_count(dev, &dev->unhandled);
        return r;
    }
    vmm_device_count(dev, &dev->errors);
    if (dev->own_errors)
        return r; /* the callback already said what failed */
    if (r > 0)
        return vmm_err(-EPROTO, "device '%s' returned %d, which is neither 0, VMM_UNHANDLED nor "
                       "a negative errno", dev->name, r);
    return vmm_err(r, "device '%s' failed a %u-byte %s %s 0x%llx on vCPU %u: %s", dev->name,
                   io->len, io->is_write ? "write to" : "read from",
                   io->space == VMM_SPACE_PIO ? "port" : "address",
                   (unsigned long long)io->addr, vcpu->index, vmm_strerror(r));
}

/* The general case: a lock to take, or a REP string access of @n elements. */
int vmm_dispatch_call_slow(vmm_device *dev, vmm_vcpu *vcpu, vmm_io_fn fn, struct vmm_io *io,
                           uint8_t *data, uint32_t n)
{
    uint64_t *counter = &dev->accesses[VMM_ACCESS_INDEX(io->space, io->is_write)];
    int r = 0;
    if (dev->serialize)
        pthread_mutex_lock(&dev->lock);
    for (uint32_t i = 0; i < n && r == 0; i++) {
        io->data = data + (size_t)i * io->len;
        vmm_device_count(dev, counter);
        r = fn(dev, vcpu, io, dev->user);
    }
    if (dev->serialize)
        pthread_mutex_unlock(&dev->lock);
    return r ? vmm_dispatch_callback_failed(dev, vcpu, io, r) : 0;
}

int vmm_dispatch_bad_pio(const vmm_vcpu *vcpu)
{
    const struct kvm_run *run = vcpu->run;
    return vmm_err(-EPROTO, "vCPU %u: KVM reported port I/O with size %u count %u at offset %llu "
                   "of the run page", vcpu->index, run->io.size, run->io.count,
                   (unsigned long long)run->io.data_offset);
}

int vmm_dispatch_bad_mmio(const vmm_vcpu *vcpu)
{
    return vmm_err(-EPROTO, "vCPU %u: KVM reported MMIO of %u bytes", vcpu->index,
                   vcpu->run->mmio.len);
}

