/* Interrupt lines handed out to virtio devices (virtio_dev.h). The lines
 * themselves are driven through vmm_device_set_irq() or an irqfd; this only
 * keeps two virtio devices from being given the same GSI by default. */
#include "devices/virtio/virtio_dev.h"

#include "core/error.h"
#include "vm/vm.h"

#include <errno.h>

int virtio_irq_claim(vmm_vm *vm, uint32_t gsi, const uint8_t *candidates, size_t n,
                     const char *caller)
{
    int r;
    pthread_mutex_lock(&vm->irq_lock);
    if (gsi) {
        if (gsi > 23)
            r = vmm_err(-EINVAL, "%s: irq %u is not a GSI of the irqchip (0-23)", caller, gsi);
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
