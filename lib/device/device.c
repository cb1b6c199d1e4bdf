/* Device attach/detach and address-range claims on the PIO and MMIO spaces. */
#include "vm/vm.h"

#include "dispatch/dispatch.h"

#include "core/config.h"
#include "core/error.h"
#include "kvm/kvm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KNOWN_DEVICE_FLAGS VMM_DEVICE_F_CONCURRENT

/* Reads the caller's ops table whatever version it was compiled against. */
static int read_ops(const struct vmm_device_ops *in, struct vmm_device_ops *out, const char *fn)
{
    int r = vmm_config_copy(in, out, sizeof(*out), "ops", "VMM_DEVICE_OPS_INIT", fn);
    if (r < 0)
        return r;
    if (out->flags & ~KNOWN_DEVICE_FLAGS)
        return vmm_err(-EINVAL, "%s: unknown device flags 0x%x", fn,
                       out->flags & ~KNOWN_DEVICE_FLAGS);
    if (!out->name || !out->name[0] || strnlen(out->name, 64) > 63)
        return vmm_err(-EINVAL, "%s: the device name must be 1 to 63 bytes", fn);
    return 0;
}

VMM_API int vmm_device_attach(vmm_vm *vm, const struct vmm_device_ops *ops, void *user,
                              vmm_device **out)
{
    static const char fn[] = "vmm_device_attach";
    if (!vm || !ops || !out)
        return vmm_err(-EINVAL, "%s: vm, ops and out must not be NULL", fn);
    struct vmm_device_ops o;
    int r = read_ops(ops, &o, fn);
    vmm_device *dev = r == 0 ? calloc(1, sizeof(*dev)) : NULL;
    if (r == 0 && !dev)
        r = vmm_err(-ENOMEM, "%s: out of memory", fn);
    if (r == 0) {
        r = vmm_vm_begin_change(vm, fn);
        if (r < 0)
            free(dev);
    }
    if (r < 0) {
        /* The device owns @user from the call on: release it as promised. */
        if (ops->struct_size >= sizeof(o) && ops->destroy)
            ops->destroy(user);
        return r;
    }
    dev->vm = vm;
    dev->ops = o;
    snprintf(dev->name, sizeof(dev->name), "%s", o.name);
    dev->ops.name = dev->name;
    dev->user = user;
    /* One vCPU cannot race with itself: skip the lock on the hot path. */
    dev->serialize = !(o.flags & VMM_DEVICE_F_CONCURRENT) && vm->num_vcpus > 1;
    dev->racy_counters = (o.flags & VMM_DEVICE_F_CONCURRENT) && vm->num_vcpus > 1;
    pthread_mutex_init(&dev->lock, NULL);
    dev->prev = vm->devices_tail;
    if (vm->devices_tail)
        vm->devices_tail->next = dev;
    else
        vm->devices_head = dev;
    vm->devices_tail = dev;
    vmm_vm_end_change(vm);
    *out = dev;
    return 0;
}

/* Raises or lowers @dev's hold on @gsi; the line follows the OR of all
 * holders. Call with vm->irq_lock held. */
static int drive_line(vmm_device *dev, uint32_t gsi, bool level)
{
    vmm_vm *vm = dev->vm;
    uint32_t bit = 1u << gsi;
    if (level == !!(dev->irq_asserted & bit))
        return 0; /* no change in this device's hold */
    uint16_t holders = vm->irq_holders[gsi];
    if (holders == (level ? 0 : 1)) {
        struct kvm_irq_level irq = { .irq = gsi, .level = level ? 1 : 0 };
        int r = vm->irq_hook ? vm->irq_hook(vm, VMM_IRQ_HOOK_LINE, gsi, irq.level)
                             : vmm_kvm_ioctl(vm->fd, KVM_IRQ_LINE, &irq,
                                             "vmm_device_set_irq: KVM_IRQ_LINE");
        if (r < 0)
            return r;
    }
    vm->irq_holders[gsi] = (uint16_t)(level ? holders + 1 : holders - 1);
    dev->irq_asserted ^= bit;
    return 0;
}

static void free_device(vmm_device *dev)
{
    vmm_vm *vm = dev->vm;
    /* A device that goes away lets go of its interrupt lines. */
    pthread_mutex_lock(&vm->irq_lock);
    for (uint32_t gsi = 0; dev->irq_asserted && gsi < 24; gsi++)
        if (dev->irq_asserted & (1u << gsi) && drive_line(dev, gsi, false) < 0)
            dev->irq_asserted &= ~(1u << gsi); /* KVM refused: forget it anyway */
    pthread_mutex_unlock(&vm->irq_lock);
    vmm_dispatch_forget_ranges(vm);
    vmm_range_map_remove_owner(&vm->pio, dev);
    vmm_range_map_remove_owner(&vm->mmio, dev);
    if (dev->prev)
        dev->prev->next = dev->next;
    else
        vm->devices_head = dev->next;
    if (dev->next)
        dev->next->prev = dev->prev;
    else
        vm->devices_tail = dev->prev;
    if (dev->ops.destroy)
        dev->ops.destroy(dev->user);
    pthread_mutex_destroy(&dev->lock);
    free(dev);
}

VMM_API int vmm_device_detach(vmm_device *dev)
{
    static const char fn[] = "vmm_device_detach";
    if (!dev)
        return vmm_err(-EINVAL, "%s: dev is NULL", fn);
    vmm_vm *vm = dev->vm;
    int r = vmm_vm_begin_change(vm, fn);
    if (r < 0)
        return r;
    free_device(dev);
    vmm_vm_end_change(vm);
    return 0;
}

void vmm_devices_destroy_all(vmm_vm *vm)
{
    /* Newest first, so a device never outlives one it was attached after. */
    while (vm->devices_tail)
        free_device(vm->devices_tail);
}

static int map_range(vmm_device *dev, uint32_t space, uint64_t base, uint64_t len, const char *fn)
{
    if (!dev)
        return vmm_err(-EINVAL, "%s: dev is NULL", fn);
    const char *unit = space == VMM_SPACE_PIO ? "ports" : "addresses";
    if ((space == VMM_SPACE_PIO ? dev->ops.pio : dev->ops.mmio) == NULL)
        return vmm_err(-EINVAL, "%s: device '%s' has no %s callback", fn, dev->name,
                       space == VMM_SPACE_PIO ? "pio" : "mmio");
    if (len == 0 || len - 1 > UINT64_MAX - base ||
        (space == VMM_SPACE_PIO && base + len > 0x10000))
        return vmm_err(-EINVAL, "%s: %s [0x%llx, +0x%llx) of device '%s' are empty or past the "
                       "end of the address space", fn, unit, (unsigned long long)base,
                       (unsigned long long)len, dev->name);
    int r = vmm_vm_begin_change(dev->vm, fn);
    if (r < 0)
        return r;
    struct vmm_range_map *map = space == VMM_SPACE_PIO ? &dev->vm->pio : &dev->vm->mmio;
    const struct vmm_range *hit;
    vmm_dispatch_forget_ranges(dev->vm);
    r = vmm_range_map_insert(map, base, len, dev, &hit);
    if (r == -EBUSY) {
        const vmm_device *other = hit->owner;
        r = vmm_err(-EBUSY, "%s: %s [0x%llx, +0x%llx) for device '%s' overlap [0x%llx, +0x%llx) "
                    "of device '%s'", fn, unit, (unsigned long long)base,
                    (unsigned long long)len, dev->name, (unsigned long long)hit->base,
                    (unsigned long long)hit->len, other->name);
    } else if (r < 0) {
        r = vmm_err(r, "%s: out of memory", fn);
    }
    vmm_vm_end_change(dev->vm);
    return r;
}

VMM_API int vmm_device_map_pio(vmm_device *dev, uint16_t port, uint32_t len)
{
    return map_range(dev, VMM_SPACE_PIO, port, len, "vmm_device_map_pio");
}

VMM_API int vmm_device_map_mmio(vmm_device *dev, uint64_t gpa, uint64_t len)
{
    return map_range(dev, VMM_SPACE_MMIO, gpa, len, "vmm_device_map_mmio");
}

VMM_API int vmm_device_unmap(vmm_device *dev, uint32_t space, uint64_t addr)
{
    static const char fn[] = "vmm_device_unmap";
    if (!dev)
        return vmm_err(-EINVAL, "%s: dev is NULL", fn);
    if (space != VMM_SPACE_PIO && space != VMM_SPACE_MMIO)
        return vmm_err(-EINVAL, "%s: space %u is neither VMM_SPACE_PIO nor VMM_SPACE_MMIO", fn,
                       space);
    int r = vmm_vm_begin_change(dev->vm, fn);
    if (r < 0)
        return r;
    struct vmm_range_map *map = space == VMM_SPACE_PIO ? &dev->vm->pio : &dev->vm->mmio;
    vmm_dispatch_forget_ranges(dev->vm);
    if (vmm_range_map_remove(map, addr, dev, NULL) < 0)
        r = vmm_err(-ENOENT, "%s: device '%s' has no range starting at 0x%llx", fn, dev->name,
                    (unsigned long long)addr);
    vmm_vm_end_change(dev->vm);
    return r;
}

VMM_API int vmm_device_set_irq(vmm_device *dev, uint32_t gsi, int level)
{
    static const char fn[] = "vmm_device_set_irq";
    if (!dev)
        return vmm_err(-EINVAL, "%s: dev is NULL", fn);
    if (!dev->vm->has_irqchip)
        return vmm_err(-ENODEV, "%s: device '%s': the VM has no irqchip (platform NONE)", fn,
                       dev->name);
    /* KVM's default routing: GSI 0-15 to PIC and IOAPIC, 16-23 IOAPIC only. */
    if (gsi > 23)
        return vmm_err(-EINVAL, "%s: device '%s': gsi %u is not 0-23", fn, dev->name, gsi);
    pthread_mutex_lock(&dev->vm->irq_lock);
    int r = drive_line(dev, gsi, level != 0);
    pthread_mutex_unlock(&dev->vm->irq_lock);
    return r < 0 ? r : 0;
}

VMM_API void *vmm_device_user(const vmm_device *dev)
{
    return dev ? dev->user : NULL;
}

VMM_API const char *vmm_device_name(const vmm_device *dev)
{
    return dev ? dev->name : NULL;
}

VMM_API vmm_vm *vmm_device_vm(const vmm_device *dev)
{
    return dev ? dev->vm : NULL;
}

VMM_API int vmm_device_get_stats(const vmm_device *dev, struct vmm_device_stats *stats)
{
    static const char fn[] = "vmm_device_get_stats";
    if (!dev || !stats)
        return vmm_err(-EINVAL, "%s: dev and stats must not be NULL", fn);
    if (stats->struct_size < sizeof(*stats))
        return vmm_err(-EINVAL, "%s: stats struct_size %u is smaller than version 1 (%zu)", fn,
                       stats->struct_size, sizeof(*stats));
    *stats = (struct vmm_device_stats){
        .struct_size = stats->struct_size,
#define ACCESSES(space, w) \
    __atomic_load_n(&dev->accesses[VMM_ACCESS_INDEX(space, w)], __ATOMIC_RELAXED)
        .pio_reads = ACCESSES(VMM_SPACE_PIO, 0),
        .pio_writes = ACCESSES(VMM_SPACE_PIO, 1),
        .mmio_reads = ACCESSES(VMM_SPACE_MMIO, 0),
        .mmio_writes = ACCESSES(VMM_SPACE_MMIO, 1),
#undef ACCESSES
        .errors = __atomic_load_n(&dev->errors, __ATOMIC_RELAXED),
        .unhandled = __atomic_load_n(&dev->unhandled, __ATOMIC_RELAXED),
    };
    return 0;
}
