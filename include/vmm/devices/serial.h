/**
 * @file serial.h
 * @brief Built-in 16550A UART (COM1-COM4), written against the public device
 *        API: full register set (DLAB divisor latch, IER, IIR/FCR with
 *        FIFOs, LCR, MCR with loopback, LSR, MSR, SCR), interrupts on its IRQ
 *        line, output to an fd or a callback, input from an fd or
 *        vmm_serial_input().
 */
#ifndef VMM_DEVICES_SERIAL_H
#define VMM_DEVICES_SERIAL_H

#include <vmm/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VMM_SERIAL_COM1_PORT 0x3f8 /**< COM1 base port (8 ports) */
#define VMM_SERIAL_COM2_PORT 0x2f8 /**< COM2 base port */
#define VMM_SERIAL_COM3_PORT 0x3e8 /**< COM3 base port */
#define VMM_SERIAL_COM4_PORT 0x2e8 /**< COM4 base port */
#define VMM_SERIAL_COM1_IRQ 4 /**< IRQ of COM1 (and, by convention, COM3) */
#define VMM_SERIAL_COM2_IRQ 3 /**< IRQ of COM2 (and COM4) */
/** vmm_serial_config::irq value for a UART without an interrupt line (polling only). */
#define VMM_SERIAL_NO_IRQ 0xffffffffu

/**
 * Receives bytes the guest transmitted, on the thread of @p vcpu, the vCPU
 * that wrote THR (during its register access, like a device callback).
 * @param data Borrowed for the call.
 * @return 0, or a negative errno: the guest's write then fails as a device
 *         callback's would (vmm_vcpu_run() ends with VMM_EXIT_DEVICE_ERROR
 *         and that error); the bytes count as transmitted.
 */
typedef int (*vmm_serial_output_fn)(vmm_vcpu *vcpu, const uint8_t *data, size_t len,
                                    void *user);

/** Configuration for vmm_serial_attach(); initialise with VMM_SERIAL_CONFIG_INIT. */
struct vmm_serial_config {
    uint32_t struct_size; /**< sizeof(struct vmm_serial_config) */
    uint32_t flags;       /**< none defined yet: must be 0 */
    uint16_t port;        /**< base port (8 ports); default COM1 */
    uint16_t reserved0;   /**< must be 0 */
    uint32_t irq;         /**< GSI; needs an irqchip (platform PC); VMM_SERIAL_NO_IRQ for none */
    /** Guest output is written here (blocking writes, from the vCPU thread);
     *  -1 for none. Borrowed: must stay open while the device exists. */
    int32_t out_fd;
    /** Guest input is read from here by a library thread; -1 for none.
     *  Borrowed like out_fd. */
    int32_t in_fd;
    vmm_serial_output_fn out_fn; /**< called with guest output; may be NULL */
    void *out_user;              /**< passed to out_fn */
};

/** Static initialiser: COM1, IRQ 4, no output, no input. */
#define VMM_SERIAL_CONFIG_INIT                                               \
    {                                                                        \
        sizeof(struct vmm_serial_config), 0, VMM_SERIAL_COM1_PORT, 0,        \
            VMM_SERIAL_COM1_IRQ, -1, -1, NULL, NULL                          \
    }

/**
 * @brief Attach a 16550A UART and map its 8 ports.
 * @param cfg Borrowed for the call.
 * @param[out] out Receives the device (owned by the VM; may be NULL).
 * @return 0; -EINVAL (bad config, or an irq on a VM without an irqchip);
 *         -EBUSY (ports taken); -ENOMEM.
 */
VMM_API int vmm_serial_attach(vmm_vm *vm, const struct vmm_serial_config *cfg,
                              vmm_device **out);

/**
 * @brief Queue bytes for the guest to receive (into the 16-byte receive FIFO
 *        and a host-side buffer behind it of 4096 bytes), raising the receive
 *        interrupt if enabled.
 * @param dev A device from vmm_serial_attach().
 * @return The number of bytes accepted (less than @p len when the buffer is
 *         full); -EINVAL (NULL, not a serial device).
 * Thread-safe.
 */
VMM_API int vmm_serial_input(vmm_device *dev, const void *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* VMM_DEVICES_SERIAL_H */
