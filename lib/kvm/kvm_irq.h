/* Interrupt and notification plumbing of a VM's KVM fd: GSI routing (MSI
 * routes beside the irqchip's default ones), irqfd and ioeventfd
 * (Documentation/virt/kvm/api.rst 4.52 KVM_SET_GSI_ROUTING, 4.75
 * KVM_IRQFD, 4.59 KVM_IOEVENTFD, 4.71 KVM_SIGNAL_MSI). */
#ifndef VMM_LIB_KVM_IRQ_H
#define VMM_LIB_KVM_IRQ_H

#include <vmm/vmm.h>

#include <stdbool.h>
#include <stdint.h>

/* Whether @vm can use them: KVM_CAP_IRQFD (+ KVM_CAP_IRQ_ROUTING for MSI
 * routes), KVM_CAP_IOEVENTFD, KVM_CAP_SIGNAL_MSI, probed once per process
 * (KVM_CHECK_EXTENSION), and the VM has an in-kernel irqchip (ioeventfd:
 * any VM with a KVM fd). False for a test VM with an irq_hook (see
 * vm.h), whose interrupts are recorded instead. */
bool vmm_vm_has_irqfd(const vmm_vm *vm);
bool vmm_vm_has_ioeventfd(const vmm_vm *vm);
bool vmm_vm_has_msi(const vmm_vm *vm);

/* A GSI routed to an MSI message. The VM keeps the full routing table
 * (KVM replaces it wholesale): the irqchip's defaults as KVM installs
 * them (GSI 0-15 to a PIC pin and the IOAPIC pin, cascade GSI 2 included;
 * GSI 16-23 to the IOAPIC only) plus one entry per
 * allocated MSI GSI (24 and up). Thread-safe (vm->irq_lock). Returns the
 * GSI or a negative errno; -ENODEV on a VM without irqchip. */
int vmm_irq_msi_alloc(vmm_vm *vm, const char *caller);
/* Points @gsi at the message (address, data) and commits the table. */
int vmm_irq_msi_set(vmm_vm *vm, uint32_t gsi, uint64_t address, uint32_t data,
                    const char *caller);
/* Releases @gsi (its route goes; the table is committed). */
void vmm_irq_msi_free(vmm_vm *vm, uint32_t gsi);

/* KVM_IRQFD: a write to @efd raises @gsi (edge: assert then deassert; MSI
 * routes inject the message). assign false removes it. */
int vmm_irqfd(vmm_vm *vm, int efd, uint32_t gsi, bool assign, const char *caller);

/* KVM_SIGNAL_MSI: inject one message now (no route needed). With
 * vm->irq_hook set, the hook gets (VMM_IRQ_HOOK_MSI, address, data). */
int vmm_irq_signal_msi(vmm_vm *vm, uint64_t address, uint32_t data, const char *caller);

/* KVM_IOEVENTFD: a guest write of @len bytes (1, 2, 4, 8) to @addr (MMIO,
 * or a port if @pio) signals @efd without an exit; with @match, only
 * writes of value @datamatch. assign false removes the same registration. */
int vmm_ioeventfd(vmm_vm *vm, int efd, uint64_t addr, uint32_t len, bool pio, bool match,
                  uint64_t datamatch, bool assign, const char *caller);

#endif
