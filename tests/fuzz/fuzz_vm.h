/* What the register fuzzers share: a fake VM whose RAM starts with the
 * input's first bytes (a 2-byte length, then that much RAM image, so the
 * fuzzer controls the rings the registers point at), and a console output
 * sink. */
#ifndef FUZZ_VM_H
#define FUZZ_VM_H

#include "../virtio/fake/fake_vm.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_RAM_BYTES 65536u

/* NULL when the input is too short; else a fake VM, *data and *size past
 * the RAM image. */
static inline vmm_vm *fuzz_vm_from_input(const uint8_t **data, size_t *size)
{
    if (*size < 2)
        return NULL;
    size_t ram_len = (size_t)(*data)[0] | (size_t)(*data)[1] << 8;
    *data += 2;
    *size -= 2;
    if (ram_len > *size)
        ram_len = *size;
    vmm_vm *vm = fake_vm_new(FUZZ_RAM_BYTES);
    memcpy(fake_vm_ram(vm), *data, ram_len);
    *data += ram_len;
    *size -= ram_len;
    return vm;
}

static inline int fuzz_discard_output(const uint8_t *out, size_t len, void *user)
{
    (void)out;
    (void)len;
    (void)user;
    return 0;
}

/* The devices under fuzz: an entropy device and a console (two queues, host
 * input) on @transport, in line (no I/O thread: runs are deterministic),
 * 16-entry queues. Aborts if either attach fails. */
static inline void fuzz_attach_devices(vmm_vm *vm, uint32_t transport, vmm_device **rng,
                                       vmm_device **console)
{
    struct vmm_virtio_rng_config rc = VMM_VIRTIO_RNG_CONFIG_INIT;
    rc.transport.transport = transport;
    rc.transport.flags = VMM_VIRTIO_F_INLINE;
    rc.transport.queue_size = 16;
    struct vmm_virtio_console_config cc = VMM_VIRTIO_CONSOLE_CONFIG_INIT;
    cc.transport = rc.transport;
    cc.out_fn = fuzz_discard_output;
    if (vmm_virtio_rng_attach(vm, &rc, rng) < 0 || vmm_virtio_console_attach(vm, &cc, console) < 0)
        abort();
}

#endif
