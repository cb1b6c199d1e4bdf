/**
 * @file virtio.h
 * @brief Built-in virtio 1.2 devices (console, block, entropy, network)
 *        over modern virtio-pci or virtio-mmio (version 2), with split
 *        virtqueues validated against a hostile guest. See docs/virtio.md.
 *
 * One attach call per device; its versioned config embeds a
 * struct vmm_virtio_transport_config that picks the transport.
 *
 * **virtio-pci** devices sit on bus 0 of a PCI host bridge the library
 * creates with the first one (configuration mechanism #1, ports
 * 0xCF8-0xCFF; host bridge at 00:00.0). Each device has one 32-bit memory
 * BAR (BAR 0, assigned by the library inside VMM_VIRTIO_PCI_MMIO_BASE ..
 * + VMM_VIRTIO_PCI_MMIO_SIZE, as firmware would; the guest may move it
 * within that window), the virtio capabilities and an MSI-X capability.
 * A stock Linux finds them by scanning the bus: nothing on the command
 * line. Interrupts: MSI-X (through KVM GSI routing and irqfd) or, while
 * MSI-X is off, a level-triggered INTx line.
 *
 * **virtio-mmio** devices are 4 KiB register pages (default from
 * VMM_VIRTIO_MMIO_BASE up) with an edge-triggered interrupt line; Linux
 * needs them on its command line: vmm_virtio_mmio_cmdline() writes the
 * `virtio_mmio.device=` words. No ACPI description is generated.
 *
 * Queue work (disk and TAP I/O) runs on a library I/O thread per VM, woken
 * by ioeventfd (a guest notification costs no exit to user space) and
 * signalling through irqfd; where KVM lacks either, or with
 * VMM_VIRTIO_F_INLINE, the notification exits and is served on the vCPU
 * thread instead.
 *
 * A guest that breaks the virtqueue protocol (indices out of range,
 * descriptor loops, buffers outside RAM, ...) gets its device marked
 * DEVICE_NEEDS_RESET (virtio 1.2, 2.1.2): the request is not performed,
 * the device stops processing until the driver resets it, and a
 * VMM_LOG_WARN message names the violation. Host memory outside guest RAM
 * is never read or written.
 *
 * Interrupt lines and MSI-X need an irqchip (platform PC); on platform
 * NONE set irq to VMM_VIRTIO_NO_IRQ (guests then poll the used rings).
 * Threading: attach/detach like vmm_device_attach() (refused while a vCPU
 * runs); the input and info functions are thread-safe.
 */
#ifndef VMM_DEVICES_VIRTIO_H
#define VMM_DEVICES_VIRTIO_H

#include <vmm/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Transport of a virtio device. */
enum vmm_virtio_transport {
    VMM_VIRTIO_TRANSPORT_PCI = 0,  /**< modern virtio-pci (default) */
    VMM_VIRTIO_TRANSPORT_MMIO = 1, /**< virtio-mmio, register layout version 2 */
};

/** Serve queue notifications on the vCPU thread that wrote the notify
 *  register (an exit per notification; no I/O thread, no ioeventfd or
 *  irqfd). Deterministic, and the baseline the benchmarks compare with. */
#define VMM_VIRTIO_F_INLINE (1u << 0)

/** irq value for a device without an interrupt line (polling guests). */
#define VMM_VIRTIO_NO_IRQ 0xffffffffu
/** Default base of virtio-mmio devices: device n at base + n * 4 KiB. */
#define VMM_VIRTIO_MMIO_BASE 0xd0000000ull
/** The window PCI BARs are assigned from and decoded in. */
#define VMM_VIRTIO_PCI_MMIO_BASE 0xe0000000ull
#define VMM_VIRTIO_PCI_MMIO_SIZE 0x10000000ull /**< 256 MiB */
/** Queue size a device offers unless its transport config says otherwise. */
#define VMM_VIRTIO_QUEUE_SIZE_DEFAULT 256
/** Largest queue size (virtio 1.2, 2.7: split rings hold at most 32768). */
#define VMM_VIRTIO_QUEUE_SIZE_MAX 32768

/** Where a virtio device appears; embedded in every virtio device config. */
struct vmm_virtio_transport_config {
    uint32_t transport; /**< an enum vmm_virtio_transport value */
    uint32_t flags;     /**< VMM_VIRTIO_F_* */
    /** MMIO: base GPA (4 KiB-aligned, outside RAM); 0 takes the next free
     *  page from VMM_VIRTIO_MMIO_BASE. Must be 0 for PCI. */
    uint64_t mmio_base;
    /** MMIO: the GSI (the device pulses it: use an edge-triggered line);
     *  PCI: the INTx GSI (level). 0 picks a free one (MMIO: 5, 6, 7, 9, 10,
     *  11, then -ENOSPC; PCI: 16-23); VMM_VIRTIO_NO_IRQ for none. */
    uint32_t irq;
    /** PCI: device number on bus 0 (1-31); 0 takes the next free. */
    uint32_t pci_slot;
    /** Largest queue size offered: a power of two, 1-32768; 0 for 256. */
    uint32_t queue_size;
    uint32_t reserved0; /**< must be 0 */
};

/** Default transport: PCI, next free slot, IRQ picked, 256-entry queues. */
#define VMM_VIRTIO_TRANSPORT_INIT { VMM_VIRTIO_TRANSPORT_PCI, 0, 0, 0, 0, 0, 0 }

/** What a virtio device is and where it ended up (vmm_virtio_get_info()). */
struct vmm_virtio_info {
    uint32_t struct_size;   /**< set by the caller: sizeof(struct vmm_virtio_info) */
    uint32_t device_id;     /**< virtio device type: 1 net, 2 block, 3 console, 4 entropy */
    uint32_t transport;     /**< enum vmm_virtio_transport */
    uint32_t irq;           /**< GSI, or VMM_VIRTIO_NO_IRQ */
    uint64_t mmio_base;     /**< MMIO: register page; PCI: current BAR 0 */
    uint32_t pci_slot;      /**< PCI: device number; MMIO: 0 */
    uint8_t status;         /**< device status byte as the driver set it */
    uint8_t needs_reset;    /**< 1 once the guest broke the protocol */
    uint16_t reserved0;     /**< 0 */
    uint64_t driver_features; /**< what the driver accepted */
    uint64_t requests;      /**< chains completed, all queues */
    uint64_t violations;    /**< protocol violations seen */
};

/**
 * @brief Read a virtio device's identity and state.
 * @param dev  A device from one of the vmm_virtio_*_attach() calls.
 * @param[out] info Filled up to its struct_size (set by the caller).
 * @return 0; -EINVAL (NULL, struct_size too small, not a virtio device).
 * Thread-safe.
 */
VMM_API int vmm_virtio_get_info(vmm_device *dev, struct vmm_virtio_info *info);

/**
 * @brief Write the Linux command-line words that describe every
 *        virtio-mmio device of @p vm ("virtio_mmio.device=4K@0xd0000000:5"
 *        for each, space-separated), NUL-terminated. Devices without an
 *        interrupt line (VMM_VIRTIO_NO_IRQ) are left out: Linux's syntax
 *        needs one.
 * @param buf  Receives the string; may be NULL with @p size 0 to measure.
 * @return The string's length (without the NUL) even if it did not fit;
 *         -EINVAL (NULL vm, NULL buf with size > 0).
 */
VMM_API int vmm_virtio_mmio_cmdline(vmm_vm *vm, char *buf, size_t size);

/* ---- virtio-blk ------------------------------------------------------- */

/** The disk is read-only: VIRTIO_BLK_F_RO is offered and writes fail. */
#define VMM_VIRTIO_BLK_F_READONLY (1u << 0)

/** Configuration for vmm_virtio_blk_attach(); initialise with VMM_VIRTIO_BLK_CONFIG_INIT. */
struct vmm_virtio_blk_config {
    uint32_t struct_size; /**< sizeof(struct vmm_virtio_blk_config) */
    uint32_t flags;       /**< VMM_VIRTIO_BLK_F_* */
    struct vmm_virtio_transport_config transport; /**< where it appears */
    /** Raw image or block device to open (O_RDWR, or O_RDONLY with
     *  READONLY); NULL to use @c fd. Borrowed for the call. */
    const char *path;
    /** An open image when @c path is NULL: duplicated, so the caller may
     *  close it after the call. -1 otherwise. */
    int32_t fd;
    uint32_t reserved0; /**< must be 0 */
    /** VIRTIO_BLK_T_GET_ID answer, up to 20 bytes; NULL for "libvmm". Copied. */
    const char *serial;
};

/** Initialiser: PCI, no backing (set path or fd), read-write. */
#define VMM_VIRTIO_BLK_CONFIG_INIT \
    { sizeof(struct vmm_virtio_blk_config), 0, VMM_VIRTIO_TRANSPORT_INIT, NULL, -1, 0, NULL }

/**
 * @brief Attach a virtio-blk disk (read, write, flush, get-id, discard,
 *        write-zeroes). The capacity is the image size rounded down to 512
 *        bytes; requests are checked against it.
 * @param vm  The VM; the device is owned by it (freed with it or by
 *            vmm_device_detach()).
 * @param cfg Borrowed for the call (strings copied, fds duplicated).
 * @param[out] out Receives the device; may be NULL.
 * Threading: like vmm_device_attach() (refused while a vCPU runs).
 * @return 0; -EINVAL (bad config); -ENOENT/-EACCES/... (opening path);
 *         -EBUSY (address, slot or IRQ taken, or running); -ENOSPC (no
 *         free slot or IRQ); -ENOMEM.
 */
VMM_API int vmm_virtio_blk_attach(vmm_vm *vm, const struct vmm_virtio_blk_config *cfg,
                                  vmm_device **out);

/* ---- virtio-console ---------------------------------------------------- */

/**
 * Receives bytes the guest wrote to the console port, on the I/O thread
 * (or the vCPU thread in VMM_VIRTIO_F_INLINE mode).
 * @return 0, or a negative errno: the bytes are dropped and logged.
 */
typedef int (*vmm_virtio_console_output_fn)(const uint8_t *data, size_t len, void *user);

/** Configuration for vmm_virtio_console_attach(). */
struct vmm_virtio_console_config {
    uint32_t struct_size; /**< sizeof(struct vmm_virtio_console_config) */
    uint32_t flags;       /**< none defined: 0 */
    struct vmm_virtio_transport_config transport; /**< where it appears */
    /** Guest output is written here (on the I/O thread; a reader that does
     *  not keep up loses output rather than stalling the VM's devices); -1
     *  for none. Duplicated: the caller may close its own after the call. */
    int32_t out_fd;
    /** Guest input is read from here (on the I/O thread); -1 for none.
     *  Duplicated like out_fd. */
    int32_t in_fd;
    vmm_virtio_console_output_fn out_fn; /**< called with guest output; may be NULL */
    void *out_user;                      /**< passed to out_fn */
};

/** Initialiser: PCI, no output, no input. */
#define VMM_VIRTIO_CONSOLE_CONFIG_INIT \
    { sizeof(struct vmm_virtio_console_config), 0, VMM_VIRTIO_TRANSPORT_INIT, -1, -1, NULL, NULL }

/**
 * @brief Attach a virtio-console with one port (no MULTIPORT; /dev/hvc0 in Linux).
 * @param cfg Borrowed for the call; out_user is handed to out_fn for the
 *            device's lifetime (the caller keeps it alive).
 * Other parameters, threading and errors as vmm_virtio_blk_attach().
 */
VMM_API int vmm_virtio_console_attach(vmm_vm *vm, const struct vmm_virtio_console_config *cfg,
                                      vmm_device **out);

/**
 * @brief Queue bytes for the guest to receive on the console (a 64 KiB
 *        host buffer, delivered as the driver posts receive buffers).
 * @return Bytes accepted (fewer when the buffer is full); -EINVAL (NULL,
 *         not a virtio-console).
 * Thread-safe.
 */
VMM_API int vmm_virtio_console_input(vmm_device *dev, const void *data, size_t len);

/* ---- virtio-rng -------------------------------------------------------- */

/** Configuration for vmm_virtio_rng_attach(). */
struct vmm_virtio_rng_config {
    uint32_t struct_size; /**< sizeof(struct vmm_virtio_rng_config) */
    uint32_t flags;       /**< none defined: 0 */
    struct vmm_virtio_transport_config transport; /**< where it appears */
};

/** Initialiser: PCI. */
#define VMM_VIRTIO_RNG_CONFIG_INIT \
    { sizeof(struct vmm_virtio_rng_config), 0, VMM_VIRTIO_TRANSPORT_INIT }

/**
 * @brief Attach a virtio entropy device filled from getrandom(2).
 * Parameters, threading and errors as vmm_virtio_blk_attach().
 */
VMM_API int vmm_virtio_rng_attach(vmm_vm *vm, const struct vmm_virtio_rng_config *cfg,
                                  vmm_device **out);

/* ---- virtio-net -------------------------------------------------------- */

/** Configuration for vmm_virtio_net_attach(). */
struct vmm_virtio_net_config {
    uint32_t struct_size; /**< sizeof(struct vmm_virtio_net_config) */
    uint32_t flags;       /**< none defined: 0 */
    struct vmm_virtio_transport_config transport; /**< where it appears */
    /** TAP interface to attach to (created if it does not exist, which
     *  needs CAP_NET_ADMIN; an existing persistent TAP owned by the user
     *  needs no privilege); NULL or "" with @c tap_fd. Borrowed for the call. */
    const char *tap_name;
    /** An open TAP fd (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR) when tap_name is
     *  NULL: duplicated. -1 otherwise. */
    int32_t tap_fd;
    uint8_t mac[6];     /**< the guest's MAC; all zero picks 52:54:00:xx:xx:xx at random */
    uint16_t reserved0; /**< must be 0 */
};

/** Initialiser: PCI, no TAP (set tap_name or tap_fd), random MAC. */
#define VMM_VIRTIO_NET_CONFIG_INIT \
    { sizeof(struct vmm_virtio_net_config), 0, VMM_VIRTIO_TRANSPORT_INIT, NULL, -1, {0}, 0 }

/**
 * @brief Attach a virtio-net NIC backed by a TAP device (VIRTIO_NET_F_MAC,
 *        _STATUS; link always up; no offloads).
 * Parameters and threading as vmm_virtio_blk_attach().
 * @return As vmm_virtio_blk_attach(); -EPERM (creating the TAP needs
 *         CAP_NET_ADMIN); -ENODEV (no /dev/net/tun).
 */
VMM_API int vmm_virtio_net_attach(vmm_vm *vm, const struct vmm_virtio_net_config *cfg,
                                  vmm_device **out);

#ifdef __cplusplus
}
#endif

#endif /* VMM_DEVICES_VIRTIO_H */
