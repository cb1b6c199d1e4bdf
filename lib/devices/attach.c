/* See attach.h. */
#include "devices/attach.h"

#include "core/error.h"

#include <stdio.h>

int vmm_devices_undo_attach(vmm_device *dev, int err)
{
    char why[512];
    snprintf(why, sizeof(why), "%s", vmm_last_error());
    /* Fails only if a vCPU started meanwhile: the device then stays, with
     * no ports, until the VM is destroyed and frees it. */
    vmm_device_detach(dev);
    vmm_err_set_text(why);
    return err;
}

int vmm_devices_attach_pio(vmm_vm *vm, const struct vmm_device_ops *ops, void *user,
                           const struct vmm_port_range *ranges, size_t count,
                           vmm_device **out)
{
    vmm_device *dev = NULL;
    int r = vmm_device_attach(vm, ops, user, &dev);
    if (r < 0)
        return r; /* ops->destroy(user) has run */
    for (size_t i = 0; i < count; i++) {
        r = vmm_device_map_pio(dev, ranges[i].port, ranges[i].len);
        if (r < 0)
            return vmm_devices_undo_attach(dev, r);
    }
    *out = dev;
    return 0;
}
