/* A vmm_vm without KVM, for testing the device stack in the test process:
 * guest RAM at GPA 0 (host memory), the VM's PIO/MMIO maps and device
 * list, no vCPUs. Interrupts are recorded (vm->irq_hook) instead of
 * reaching an irqchip, so tests can count them. Accesses are made with
 * fake_vm_mmio()/fake_vm_pio(), as a vCPU's exit would be dispatched. */
#ifndef TEST_FAKE_VM_H
#define TEST_FAKE_VM_H

#include <vmm/vmm.h>

#include <stdbool.h>
#include <stdint.h>

/* RAM of @ram_size bytes (a multiple of 4096) at GPA 0, zero-filled.
 * Aborts the test process on allocation failure. */
vmm_vm *fake_vm_new(uint64_t ram_size);
uint8_t *fake_vm_ram(vmm_vm *vm);
uint64_t fake_vm_ram_size(vmm_vm *vm);
/* Destroys the devices (their destroy callbacks run), the PCI host and the
 * I/O thread, then frees the VM. */
void fake_vm_free(vmm_vm *vm);

/* One guest access through the VM's maps. Reads are pre-filled with 0xff.
 * Returns the callback's result (0, VMM_UNHANDLED, -errno), or -ENOENT when
 * no device maps [addr, addr + len). */
int fake_vm_mmio(vmm_vm *vm, uint64_t gpa, void *data, uint32_t len, bool is_write);
int fake_vm_pio(vmm_vm *vm, uint16_t port, void *data, uint32_t len, bool is_write);

/* Convenience: 32-bit accesses (reads return the value; all-ones when
 * nothing answered). */
uint32_t fake_vm_mmio_read32(vmm_vm *vm, uint64_t gpa);
void fake_vm_mmio_write32(vmm_vm *vm, uint64_t gpa, uint32_t v);

/* Interrupts seen. Thread-safe (devices may signal from the I/O thread). */
int fake_vm_irq_level(vmm_vm *vm, uint32_t gsi);
unsigned fake_vm_irq_pulses(vmm_vm *vm, uint32_t gsi); /* 0 -> 1 transitions */
unsigned fake_vm_msi_count(vmm_vm *vm, uint64_t addr, uint32_t data);
unsigned fake_vm_msi_total(vmm_vm *vm);
/* Waits up to @ms for fake_vm_msi_total() + pulses on any line to exceed
 * @seen; returns the new total (for work done on the I/O thread). */
unsigned fake_vm_wait_irqs(vmm_vm *vm, unsigned seen, int ms);

#endif
