/* libFuzzer target for the virtio-mmio register page
 * (lib/devices/virtio/virtio_mmio.c) with the virtio-rng and
 * virtio-console backends behind it, on the fake VM (no KVM).
 *
 * The input is a guest memory image and a list of register accesses:
 *   bytes 0-1    length N of the RAM image (le16), then N bytes copied to
 *                GPA 0 of a 64 KiB RAM (the rest is zero)
 *   then 8-byte records, one access each:
 *     byte  0    bit 0: device (0 rng at page 0, 1 console at page 1),
 *                bit 1: write, bits 2-3: width 1, 2, 4 or 8 bytes,
 *                bit 4: instead of an access, queue (value & 0xff) bytes
 *                of host input on the console
 *     bytes 1-2  offset into the page (le16, masked to 0x1fff: past the
 *                page reaches nothing or the next device)
 *     bytes 3-7  the value written (le, 5 bytes)
 * Queue work runs in line (VMM_VIRTIO_F_INLINE), so every notification
 * pops and pushes on this thread. RAM is an exact-size heap block and the
 * devices may touch nothing else: ASan/UBSan catch any stray access. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vmm/vmm.h>
#include <vmm/devices/virtio.h>

#include "fuzz_vm.h"
#include "vm/vm.h"

#define PAGE 0x1000u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vmm_vm *vm = fuzz_vm_from_input(&data, &size);
    if (!vm)
        return 0;

    vmm_device *rng = NULL, *console = NULL;
    fuzz_attach_devices(vm, VMM_VIRTIO_TRANSPORT_MMIO, &rng, &console);

    static const uint32_t widths[4] = { 1, 2, 4, 8 };
    for (; size >= 8; data += 8, size -= 8) {
        uint8_t kind = data[0];
        uint64_t value = 0;
        for (int i = 0; i < 5; i++)
            value |= (uint64_t)data[3 + i] << (8 * i);
        if (kind & 0x10) {
            static const uint8_t input[256] = { 'x' };
            vmm_virtio_console_input(console, input, value & 0xff);
            continue;
        }
        uint64_t off = ((uint32_t)data[1] | (uint32_t)data[2] << 8) & 0x1fffu;
        uint64_t gpa = VMM_VIRTIO_MMIO_BASE + (kind & 1) * PAGE + off;
        uint32_t len = widths[(kind >> 2) & 3];
        uint8_t buf[8];
        memcpy(buf, &value, sizeof(buf));
        fake_vm_mmio(vm, gpa, buf, len, (kind & 2) != 0);
    }
    /* Detach as an application would (a VM change: the I/O thread is kept
     * out while the devices go). fake_vm_free() alone would race the
     * console's I/O-thread watches with the core freeing its queues. */
    vmm_device_detach(console);
    vmm_device_detach(rng);
    fake_vm_free(vm);
    return 0;
}
