/* libFuzzer target for the PCI host bridge (lib/devices/pci/pci_host.c)
 * and the virtio-pci transport (lib/devices/virtio/virtio_pci.c), with the
 * virtio-rng and virtio-console backends behind two functions (slots 1
 * and 2, BAR 0 at the window's base and +32 KiB), on the fake VM.
 *
 * The input is a guest memory image and a list of accesses:
 *   bytes 0-1    length N of the RAM image (le16), then N bytes copied to
 *                GPA 0 of a 64 KiB RAM (the rest is zero)
 *   then 8-byte records, one each:
 *     byte  0    bits 0-1: kind: 0 MMIO at window base + offset (20 bits:
 *                the first MiB, where the BARs are unless the guest moves
 *                them), 1 port 0xCF8 + (offset & 7), 2 a config access
 *                (CONFIG_ADDRESS from the offset: slot bits 0-4, function
 *                5-7, register 8-15, bus 16; then CONFIG_DATA), 3 queue
 *                (value & 0xff) bytes of console input;
 *                bit 2: write; bits 3-4: width 1, 2, 4 or 8 (4 for ports)
 *     bytes 1-3  offset (le24)
 *     bytes 4-7  value (le32; an 8-byte write repeats it)
 * Queue work runs in line (VMM_VIRTIO_F_INLINE). RAM is an exact-size heap
 * block: ASan/UBSan catch any stray access. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vmm/vmm.h>
#include <vmm/devices/virtio.h>

#include "fuzz_vm.h"
#include "vm/vm.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vmm_vm *vm = fuzz_vm_from_input(&data, &size);
    if (!vm)
        return 0;

    vmm_device *rng = NULL, *console = NULL;
    fuzz_attach_devices(vm, VMM_VIRTIO_TRANSPORT_PCI, &rng, &console);

    static const uint32_t widths[4] = { 1, 2, 4, 8 };
    for (; size >= 8; data += 8, size -= 8) {
        uint8_t kind = data[0];
        uint32_t off = (uint32_t)data[1] | (uint32_t)data[2] << 8 | (uint32_t)data[3] << 16;
        uint32_t value = (uint32_t)data[4] | (uint32_t)data[5] << 8 | (uint32_t)data[6] << 16 |
                         (uint32_t)data[7] << 24;
        bool is_write = kind & 4;
        uint32_t len = widths[(kind >> 3) & 3];
        uint8_t buf[8];
        memcpy(buf, &value, 4);
        memcpy(buf + 4, &value, 4);
        switch (kind & 3) {
        case 0:
            fake_vm_mmio(vm, VMM_VIRTIO_PCI_MMIO_BASE + (off & 0xfffff), buf, len, is_write);
            break;
        case 1:
            fake_vm_pio(vm, (uint16_t)(0xcf8 + (off & 7)), buf, len > 4 ? 4 : len, is_write);
            break;
        case 2: {
            uint32_t reg = (off >> 8) & 0xff;
            uint32_t addr = 0x80000000u | ((off >> 16) & 1) << 16 | (off & 31) << 11 |
                            ((off >> 5) & 7) << 8 | (reg & 0xfc);
            fake_vm_pio(vm, 0xcf8, &addr, 4, true);
            fake_vm_pio(vm, (uint16_t)(0xcfc + (reg & 3)), buf, len > 4 ? 4 : len, is_write);
            break;
        }
        default: {
            static const uint8_t input[256] = { 'x' };
            vmm_virtio_console_input(console, input, value & 0xff);
            break;
        }
        }
    }
    /* Detach as an application would (see fuzz_mmio.c), the host's device
     * last as at VM destruction. */
    vmm_device_detach(console);
    vmm_device_detach(rng);
    fake_vm_free(vm);
    return 0;
}
