/**
 * @file hypercall.h
 * @brief Calls from the guest to host functions through a port-I/O doorbell.
 *
 * KVM handles VMCALL/VMMCALL itself, so libvmm's guest ABI is a port write.
 * Guest ABI (version 1):
 *  - put the call number in RAX and up to six arguments in RDI, RSI, RCX,
 *    RBX, R8, R9 (in 32-bit code only the low halves; R8/R9 read as whatever
 *    they hold);
 *  - write EAX to the doorbell port with a 4-byte OUT
 *    (`mov $port, %dx; out %eax, %dx`), port = vmm_vm_config::hypercall_port
 *    (default VMM_HYPERCALL_PORT_DEFAULT, 0x600);
 *  - on return RAX holds the result; every other register is preserved.
 *    An unregistered call number returns -ENOSYS (as a 64-bit two's
 *    complement value) in RAX. Writes of other sizes to the doorbell and
 *    reads from it are unhandled accesses.
 *
 * The doorbell occupies ports [port, port + 4) in the PIO space like a device
 * named "hypercall", so devices cannot map over it.
 */
#ifndef VMM_HYPERCALL_H
#define VMM_HYPERCALL_H

#include <vmm/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/** What the guest passed to a hypercall. */
struct vmm_hypercall {
    uint64_t nr;      /**< call number (RAX) */
    uint64_t args[6]; /**< RDI, RSI, RCX, RBX, R8, R9 */
};

/**
 * A hypercall handler. Runs on the calling vCPU's thread; handlers for
 * different vCPUs may run concurrently.
 * @param call Borrowed for the call.
 * @param[out] result Written to the guest's RAX when the handler returns 0.
 * @return 0; VMM_UNHANDLED (the doorbell write returns to the caller of
 *         vmm_vcpu_run() as VMM_EXIT_PIO); a negative errno (the vCPU stops).
 */
typedef int (*vmm_hypercall_fn)(vmm_vcpu *vcpu, const struct vmm_hypercall *call,
                                uint64_t *result, void *user);

/**
 * @brief Register @p fn for call number @p nr.
 * @param user Borrowed for as long as the registration lasts.
 * @return 0; -EINVAL (NULL, hypercalls disabled by hypercall_port 0);
 *         -EEXIST (nr taken); -EBUSY (a vCPU is running); -ENOMEM.
 */
VMM_API int vmm_hypercall_register(vmm_vm *vm, uint64_t nr, vmm_hypercall_fn fn,
                                   void *user);

/**
 * @brief Remove the handler of call number @p nr.
 * @return 0; -EINVAL (NULL); -ENOENT (not registered); -EBUSY (running).
 */
VMM_API int vmm_hypercall_unregister(vmm_vm *vm, uint64_t nr);

#ifdef __cplusplus
}
#endif

#endif /* VMM_HYPERCALL_H */
