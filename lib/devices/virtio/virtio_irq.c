/* Interrupt lines handed out to virtio devices (virtio_dev.h). The lines
 * themselves are driven through vmm_device_set_irq() or an irqfd; this only
 * keeps two virtio devices from being given the same GSI by default. */
#include "devices/virtio/virtio_dev.h"

#include "core/error.h"
#include "vm/vm.h"

#include <errno.h>

static int claim(vmm_vm *vm, uint32_t gsi, const uint8_t *candidates, size_t n,
                 const char *caller)
{
    int r;
    pthread_mutex_lock(&vm->irq_lock);
    if (gsi) {
        if (gsi > 23)
            r = vmm_err(-EINVAL, "%s: irq %u is neither a GSI (1-23), 0 (pick one) nor "
                        "VMM_VIRTIO_NO_IRQ", caller, gsi);
        else if (vm->virtio_irqs & (1u << gsi))
            r = vmm_err(-EBUSY, "%s: irq %u is already used by another virtio device", caller,
                        gsi);
        else
            r = (int)gsi;
    } else {
        r = vmm_err(-ENOSPC, "%s: every interrupt line virtio devices may use is taken "
                             "(give irq explicitly)", caller);
        for (size_t i = 0; i < n; i++) {
            if (candidates[i] < 24 && !(vm->virtio_irqs & (1u << candidates[i]))) {
                r = candidates[i];
                break;
            }
        }
    }
    if (r >= 0)
        vm->virtio_irqs |= 1u << r;
    pthread_mutex_unlock(&vm->irq_lock);
    return r;
}

void virtio_irq_release(vmm_vm *vm, uint32_t gsi)
{
    if (gsi > 23)
        return;
    pthread_mutex_lock(&vm->irq_lock);
    vm->virtio_irqs &= ~(1u << gsi);
    pthread_mutex_unlock(&vm->irq_lock);
}

int virtio_irq_pick(vmm_vm *vm, uint32_t want, const uint8_t *candidates, size_t n,
                    const char *caller, uint32_t *out)
{
    if (want == VMM_VIRTIO_NO_IRQ) {
        *out = VMM_VIRTIO_NO_IRQ;
        return 0;
    }
    /* A test VM without KVM records its lines (vm->irq_hook). */
    if (!vm->has_irqchip && !vm->irq_hook)
        return vmm_err(-EINVAL, "%s: irq %u needs an interrupt controller, but the VM has "
                       "none (platform NONE); use VMM_VIRTIO_NO_IRQ", caller, want);
    int r = claim(vm, want, candidates, n, caller);
    if (r < 0)
        return r;
    *out = (uint32_t)r;
    return 0;
}
