/**
 * @file device.h
 * @brief Device models: an ops table of callbacks plus user data, claiming
 *        port-I/O and MMIO ranges that the exit dispatcher routes to it.
 *
 * Threading: attach, map, unmap and detach are refused with -EBUSY while any
 * vCPU of the VM runs. Callbacks of one device are serialised by the library
 * (a per-device lock, skipped when the VM has one vCPU) unless the device
 * sets VMM_DEVICE_F_CONCURRENT.
 */
#ifndef VMM_DEVICE_H
#define VMM_DEVICE_H

#include <vmm/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Address space of an access. */
enum vmm_space {
    VMM_SPACE_PIO = 0,  /**< x86 port I/O */
    VMM_SPACE_MMIO = 1, /**< memory-mapped I/O */
};

/** One guest access handed to a device callback. */
struct vmm_io {
    uint64_t addr;    /**< port or guest physical address accessed */
    uint64_t offset;  /**< addr minus the base of the range the device mapped */
    void *data;       /**< @c len bytes: the value written, or where to put the value read */
    uint32_t len;     /**< 1, 2 or 4 (PIO); 1, 2, 4 or 8 (MMIO) */
    uint8_t is_write; /**< VMM_IO_WRITE or VMM_IO_READ */
    uint8_t space;    /**< an enum vmm_space value */
    uint16_t reserved0; /**< 0 */
};

/**
 * A PIO or MMIO callback. @p io and its data are borrowed for the call; a
 * read must fill io->data (it is pre-filled with 0xff). Runs on the thread of
 * the vCPU that made the access.
 * @return 0 (handled), VMM_UNHANDLED (the exit goes back to the caller of
 *         vmm_vcpu_run()), or a negative errno (the vCPU stops with it; if
 *         it is run again, the access counts as done: a write is dropped, a
 *         read returns what is in io->data, 0xff bytes unless the callback
 *         wrote some).
 */
typedef int (*vmm_io_fn)(vmm_device *dev, vmm_vcpu *vcpu,
                         const struct vmm_io *io, void *user);

/** Callbacks of one device may run concurrently on several vCPUs. */
#define VMM_DEVICE_F_CONCURRENT (1u << 0)

/**
 * A device model. Initialise with VMM_DEVICE_OPS_INIT; copied by
 * vmm_device_attach(), so it may live on the stack.
 */
struct vmm_device_ops {
    uint32_t struct_size; /**< sizeof(struct vmm_device_ops) */
    uint32_t flags;       /**< 0 or VMM_DEVICE_F_CONCURRENT */
    /** Name used in errors and statistics (1-63 bytes); copied. */
    const char *name;
    vmm_io_fn pio;  /**< port I/O to a mapped port, or NULL */
    vmm_io_fn mmio; /**< MMIO to a mapped range, or NULL */
    /** Snapshot support (reserved: no snapshot API calls it yet). */
    int (*save)(vmm_device *dev, vmm_snapshot_writer *w, void *user);
    /** Snapshot support (reserved: no snapshot API calls it yet). */
    int (*restore)(vmm_device *dev, vmm_snapshot_reader *r, void *user);
    /** Called by vmm_vm_reset_devices(); may be NULL. */
    void (*reset)(vmm_device *dev, void *user);
    /** Called exactly once, when the device is detached or its VM destroyed
     *  (also when vmm_device_attach() fails after taking @p user); may be NULL. */
    void (*destroy)(void *user);
};

/** Static initialiser for struct vmm_device_ops: set name and callbacks after. */
#define VMM_DEVICE_OPS_INIT \
    { sizeof(struct vmm_device_ops), 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL }

/**
 * @brief Attach a device model to a VM. It claims no addresses until mapped.
 * @param ops  Copied (name included).
 * @param user Handed to every callback; ownership passes to the device: its
 *        destroy callback runs exactly once, even if attaching fails; the
 *        exceptions are a NULL @p vm/@p ops/@p out or an @p ops whose
 *        struct_size is too small to hold destroy, where nothing is taken.
 * @param[out] out Receives the device, owned by the VM.
 * @return 0; -EINVAL (bad ops: struct_size, flags, name); -EBUSY (running);
 *         -ENOMEM.
 */
VMM_API int vmm_device_attach(vmm_vm *vm, const struct vmm_device_ops *ops,
                              void *user, vmm_device **out);

/**
 * @brief Detach a device: unmap all its ranges, call destroy, free it.
 * @return 0; -EINVAL (NULL); -EBUSY (a vCPU is running).
 */
VMM_API int vmm_device_detach(vmm_device *dev);

/**
 * @brief Claim ports [port, port + len) for @p dev.
 * @param len 1 .. 65536 - port.
 * @return 0; -EINVAL (bad range, device has no pio callback); -EBUSY
 *         (overlaps another range: vmm_last_error() names both devices, or
 *         a vCPU is running); -ENOMEM.
 */
VMM_API int vmm_device_map_pio(vmm_device *dev, uint16_t port, uint32_t len);

/**
 * @brief Claim guest physical addresses [gpa, gpa + len) for @p dev. The
 *        range should not be guest RAM (KVM only exits on addresses without
 *        a writable memory slot); over a VMM_MEM_READONLY region it receives
 *        the guest's writes.
 * @param len Non-zero; gpa + len must not wrap past 2^64.
 * @return As vmm_device_map_pio().
 */
VMM_API int vmm_device_map_mmio(vmm_device *dev, uint64_t gpa, uint64_t len);

/**
 * @brief Release the range of @p space that @p dev mapped starting at @p addr.
 * @return 0; -EINVAL (NULL, bad space); -ENOENT (no such range of this
 *         device); -EBUSY (running).
 */
VMM_API int vmm_device_unmap(vmm_device *dev, uint32_t space, uint64_t addr);

/**
 * @brief Drive an interrupt line of the VM's in-kernel irqchip
 *        (KVM_IRQ_LINE): GSI 0-15 reach the PIC and IOAPIC, 16-23 the
 *        IOAPIC.
 * @param gsi   Global system interrupt number, 0 .. 23.
 * @param level 1 to assert, 0 to deassert (edge-triggered lines: assert
 *              then deassert). Lines are wired-OR, like a shared ISA or PCI
 *              INTx line: the GSI stays high while any device asserts it,
 *              and a device that is detached lets go of its lines.
 * @return 0; -EINVAL (NULL, gsi out of range); -ENODEV (the VM has no
 *         irqchip: platform NONE); KVM's errno.
 * Thread-safe: callable from callbacks and from device threads.
 */
VMM_API int vmm_device_set_irq(vmm_device *dev, uint32_t gsi, int level);

/** @brief The user pointer given to vmm_device_attach(), or NULL for NULL. */
VMM_API void *vmm_device_user(const vmm_device *dev);
/** @brief The device's name (owned by the device), or NULL for NULL. */
VMM_API const char *vmm_device_name(const vmm_device *dev);
/** @brief The VM the device is attached to, or NULL for NULL. */
VMM_API vmm_vm *vmm_device_vm(const vmm_device *dev);

/** Per-device access counts. */
struct vmm_device_stats {
    uint32_t struct_size; /**< set by the caller: sizeof(struct vmm_device_stats) */
    uint32_t reserved0;   /**< 0 */
    /** Callback invocations (one per REP element). @{ */
    uint64_t pio_reads, pio_writes;
    uint64_t mmio_reads, mmio_writes;
    /** @} */
    uint64_t errors;      /**< callbacks that returned a negative errno */
    uint64_t unhandled;   /**< callbacks that returned VMM_UNHANDLED */
};

/**
 * @brief Read the device's counters (always on).
 * @return 0, -EINVAL (NULL, struct_size too small).
 */
VMM_API int vmm_device_get_stats(const vmm_device *dev,
                                 struct vmm_device_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* VMM_DEVICE_H */
