/* What every virtio attach call shares (virtio_dev.h): the transport
 * config checks and the hand-over to a transport; and
 * vmm_virtio_get_info(). */
#include "devices/virtio/virtio_dev.h"

#include "core/error.h"

#include <errno.h>
#include <string.h>

static int check_transport(const struct vmm_virtio_transport_config *t, const char *fn)
{
    if (t->transport != VMM_VIRTIO_TRANSPORT_PCI && t->transport != VMM_VIRTIO_TRANSPORT_MMIO)
        return vmm_err(-EINVAL, "%s: transport %u is neither VMM_VIRTIO_TRANSPORT_PCI nor _MMIO",
                       fn, t->transport);
    if (t->flags & ~VMM_VIRTIO_F_INLINE)
        return vmm_err(-EINVAL, "%s: unknown transport flags 0x%x", fn,
                       t->flags & ~VMM_VIRTIO_F_INLINE);
    if (t->reserved0)
        return vmm_err(-EINVAL, "%s: transport.reserved0 must be 0", fn);
    uint32_t q = t->queue_size;
    if (q && ((q & (q - 1)) || q > VMM_VIRTIO_QUEUE_SIZE_MAX))
        return vmm_err(-EINVAL, "%s: queue_size %u is not a power of two in 1..%u", fn, q,
                       VMM_VIRTIO_QUEUE_SIZE_MAX);
    return 0;
}

int virtio_attach_common(vmm_vm *vm, const char *name, const struct virtio_backend_ops *ops,
                         void *backend, const struct vmm_virtio_transport_config *t,
                         const char *caller, vmm_device **out)
{
    struct virtio_dev *d;
    int r = virtio_dev_create(vm, name, ops, backend, t->flags & VMM_VIRTIO_F_INLINE, &d);
    if (r < 0)
        return vmm_err(r, "%s: %s", caller, vmm_last_error());
    r = check_transport(t, caller);
    if (r == 0)
        r = virtio_dev_set_queue_max(d, (uint16_t)(t->queue_size ? t->queue_size
                                                                : VMM_VIRTIO_QUEUE_SIZE_DEFAULT));
    if (r < 0) {
        virtio_dev_free(d);
        return r;
    }
    r = t->transport == VMM_VIRTIO_TRANSPORT_MMIO ? virtio_mmio_attach(d, t, caller)
                                                   : virtio_pci_attach(d, t, caller);
    if (r < 0)
        return r; /* d is gone */
    if (out)
        *out = d->dev;
    return 0;
}

VMM_API int vmm_virtio_get_info(vmm_device *dev, struct vmm_virtio_info *info)
{
    static const char fn[] = "vmm_virtio_get_info";
    if (!dev || !info)
        return vmm_err(-EINVAL, "%s: dev and info must not be NULL", fn);
    if (info->struct_size < sizeof(*info))
        return vmm_err(-EINVAL, "%s: info->struct_size %u is smaller than this library's %zu",
                       fn, info->struct_size, sizeof(*info));
    struct virtio_dev *d = virtio_dev_from_device(dev);
    if (!d)
        return vmm_err(-EINVAL, "%s: device '%s' is not a virtio device", fn,
                       vmm_device_name(dev));
    uint32_t size = info->struct_size;
    memset(info, 0, size);
    info->struct_size = size;
    virtio_dev_lock(d);
    info->device_id = d->ops->device_id;
    info->status = d->status;
    info->needs_reset = d->broken;
    info->driver_features = d->driver_features;
    info->irq = VMM_VIRTIO_NO_IRQ;
    if (d->tops && d->tops->info)
        d->tops->info(d, info);
    virtio_dev_unlock(d);
    info->requests = __atomic_load_n(&d->requests, __ATOMIC_RELAXED);
    info->violations = __atomic_load_n(&d->violations, __ATOMIC_RELAXED);
    return 0;
}
