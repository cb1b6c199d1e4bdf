/* Shared by the built-in devices: attach a device and claim its ports as
 * one step that either fully succeeds or leaves nothing behind. */
#ifndef VMM_LIB_DEVICES_ATTACH_H
#define VMM_LIB_DEVICES_ATTACH_H

#include <vmm/vmm.h>

#include <stddef.h>

struct vmm_port_range {
    uint16_t port;
    uint32_t len;
};

/* vmm_device_attach() then vmm_device_map_pio() for each range. On failure
 * the device is detached again (so ops->destroy has run on @user) and
 * vmm_last_error() says what failed; returns that errno. */
int vmm_devices_attach_pio(vmm_vm *vm, const struct vmm_device_ops *ops, void *user,
                           const struct vmm_port_range *ranges, size_t count,
                           vmm_device **out);

/* Detaches @dev after a later step of its attach failed with @err, keeping
 * that step's vmm_last_error() sentence; returns @err. */
int vmm_devices_undo_attach(vmm_device *dev, int err);

#endif
