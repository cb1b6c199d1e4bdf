/* vmm_debug_exit_attach(): QEMU's isa-debug-exit idea for test payloads. A
 * guest write of value v (1, 2 or 4 bytes, at any of the 4 ports) ends the
 * run with VMM_EXIT_REQUEST, kind VMM_REQUEST_DEBUG_EXIT, value v (QEMU
 * instead exits the process with status (v << 1) | 1; here the caller gets
 * v itself and decides). Reads return 0xff bytes. */
#include <vmm/vmm.h>

#include "core/error.h"
#include "devices/attach.h"

#include <errno.h>
#include <string.h>

#define DEBUG_EXIT_PORTS 4

static int debug_exit_pio(vmm_device *dev, vmm_vcpu *vcpu, const struct vmm_io *io, void *user)
{
    (void)dev;
    (void)user;
    if (!io->is_write) {
        memset(io->data, 0xff, io->len);
        return 0;
    }
    uint64_t v = 0;
    const uint8_t *data = io->data;
    for (uint32_t i = 0; i < io->len && i < 8; i++)
        v |= (uint64_t)data[i] << (8 * i); /* x86 port I/O is little-endian */
    return vmm_vcpu_request_exit(vcpu, VMM_REQUEST_DEBUG_EXIT, v);
}

VMM_API int vmm_debug_exit_attach(vmm_vm *vm, uint16_t port, vmm_device **out)
{
    static const char fn[] = "vmm_debug_exit_attach";
    if (!vm)
        return vmm_err(-EINVAL, "%s: vm is NULL", fn);
    if ((uint32_t)port + DEBUG_EXIT_PORTS > 0x10000)
        return vmm_err(-EINVAL, "%s: ports [0x%x, 0x%x) run past the last port 0xffff", fn,
                       port, (uint32_t)port + DEBUG_EXIT_PORTS);
    struct vmm_device_ops ops = VMM_DEVICE_OPS_INIT;
    ops.name = "debug-exit";
    ops.pio = debug_exit_pio;
    const struct vmm_port_range ports[] = { { port, DEBUG_EXIT_PORTS } };
    vmm_device *dev = NULL;
    int r = vmm_devices_attach_pio(vm, &ops, NULL, ports, 1, &dev);
    if (r < 0)
        return r;
    if (out)
        *out = dev;
    return 0;
}
