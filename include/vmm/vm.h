/**
 * @file vm.h
 * @brief Virtual machines: creation from a versioned config, running every
 *        vCPU on library threads, stopping, statistics and destruction.
 */
#ifndef VMM_VM_H
#define VMM_VM_H

#include <vmm/common.h>
#include <vmm/exit.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Which built-in machine a VM starts as. */
enum vmm_platform {
    /** Nothing but what the caller maps and attaches: no irqchip, no
     *  devices. The cheapest VM to create. */
    VMM_PLATFORM_NONE = 0,
    /** A PC for stock operating systems (see pc.h): KVM's in-kernel
     *  irqchip (PIC, IOAPIC, LAPICs) and PIT, CPUID with the KVM paravirtual
     *  leaves and a topology matching num_vcpus, MSR defaults, vCPU 0 as the
     *  bootstrap processor and the others waiting for INIT/SIPI. Devices
     *  (serial, i8042, RTC) and memory are added by the caller. */
    VMM_PLATFORM_PC = 1,
};

/** Most vCPUs a VM may have (KVM may allow fewer; vmm_vm_create() checks). */
#define VMM_MAX_VCPUS 256

/** Port of the hypercall doorbell unless the config names another (see hypercall.h). */
#define VMM_HYPERCALL_PORT_DEFAULT 0x0600

/** Value of vmm_vm_config::kick_signal meaning "no signal": vmm_vm_stop()
 *  and vmm_vcpu_kick() then take effect only at the vCPU's next exit. */
#define VMM_KICK_SIGNAL_NONE (-1)

/**
 * vmm_vm_config::flags: port I/O and MMIO that no device claims behave as
 * an open bus, as on a PC: reads return all-ones, writes are dropped, and
 * the access is counted (VMM_STAT_EXIT_OPEN_BUS) instead of ending
 * vmm_vcpu_run() with VMM_EXIT_PIO / VMM_EXIT_MMIO. A stock operating
 * system probes ports nothing answers (PCI configuration at 0xcf8, COM2-4,
 * the 0x80 delay port), as QEMU and Firecracker let it; without this flag
 * each probe comes back to the caller.
 */
#define VMM_VM_F_OPEN_BUS (1u << 0)

/**
 * Configuration for vmm_vm_create(). Initialise with VMM_VM_CONFIG_INIT or
 * vmm_vm_config_init(), then change fields: fields added by later versions go
 * at the end and the library reads only @c struct_size bytes.
 */
struct vmm_vm_config {
    uint32_t struct_size; /**< sizeof(struct vmm_vm_config) as compiled by the caller */
    uint32_t flags;       /**< VMM_VM_F_* (unknown bits give -EINVAL) */
    uint32_t platform;    /**< an enum vmm_platform value */
    uint32_t num_vcpus;   /**< 1 .. VMM_MAX_VCPUS; vCPUs are created with the VM */
    /** Base of the 4-port hypercall doorbell [port, port+4), or 0 for no
     *  hypercalls. Default VMM_HYPERCALL_PORT_DEFAULT. At most 0xfffc. */
    uint16_t hypercall_port;
    uint16_t reserved0; /**< must be 0 */
    /**
     * Signal the library may use to pull a vCPU thread out of the guest
     * (vmm_vcpu_kick(), vmm_vm_stop()). 0 picks the default, SIGRTMAX - 1;
     * VMM_KICK_SIGNAL_NONE uses none. The library installs an empty handler
     * (process-wide, without SA_RESTART) only if the signal's disposition is
     * SIG_DFL or SIG_IGN; a handler the application installed is left alone
     * and interrupts KVM_RUN just as well. The signal must not be blocked in
     * threads that call vmm_vcpu_run() (library threads unblock it).
     */
    int32_t kick_signal;
};

/** Static initialiser for struct vmm_vm_config: one vCPU, platform NONE. */
#define VMM_VM_CONFIG_INIT                                                   \
    {                                                                        \
        sizeof(struct vmm_vm_config), 0, VMM_PLATFORM_NONE, 1,               \
            VMM_HYPERCALL_PORT_DEFAULT, 0, 0                                 \
    }

/**
 * @brief Fill @p cfg with the defaults of VMM_VM_CONFIG_INIT.
 * @param cfg Written; may not be NULL (ignored if it is).
 */
VMM_API void vmm_vm_config_init(struct vmm_vm_config *cfg);

/**
 * @brief Create a VM and its vCPUs.
 * @param cfg Borrowed for the call. struct_size must be at least the size of
 *            version 1 of the struct and at most what this library knows
 *            (larger sizes are accepted only if the extra bytes are zero).
 * @param[out] out Receives the VM; the caller owns it and frees it with
 *            vmm_vm_destroy(). Untouched on failure.
 *
 * Guest physical [0xfffbc000, 0xfffc0000) is reserved for KVM's real-mode
 * TSS and identity map (KVM_SET_TSS_ADDR) on hosts that need it: do not put
 * RAM there.
 * @return 0; -EINVAL for a bad config (unknown flag, platform, vCPU count,
 *         struct_size); -ENODEV/-EACCES if /dev/kvm cannot be opened;
 *         another negative errno if KVM refuses. Nothing is leaked on error.
 * Thread-safe.
 */
VMM_API int vmm_vm_create(const struct vmm_vm_config *cfg, vmm_vm **out);

/**
 * @brief Destroy a VM: detaches every device (each destroy callback runs
 *        exactly once), frees memory it allocated, closes every fd.
 * @param vm May be NULL (nothing happens). No vCPU of @p vm may be running:
 *        call vmm_vm_stop() and wait for the runners to return first.
 */
VMM_API void vmm_vm_destroy(vmm_vm *vm);

/**
 * @brief Number of vCPUs the VM has.
 * @return The count, or -EINVAL if @p vm is NULL.
 */
VMM_API int vmm_vm_num_vcpus(const vmm_vm *vm);

/**
 * @brief The vCPU with index @p index (0-based, the order of creation; the
 *        index is also its APIC id).
 * @param[out] out Receives a handle owned by the VM (valid until
 *        vmm_vm_destroy()).
 * @return 0, or -EINVAL (NULL argument) / -ENOENT (no such index).
 */
VMM_API int vmm_vm_get_vcpu(vmm_vm *vm, uint32_t index, vmm_vcpu **out);

/**
 * @brief Run every vCPU, each on a library thread, until the VM is done.
 *
 * Returns when every vCPU has halted (no interrupt can wake it on platform
 * NONE), or when one vCPU ends the run for all: shutdown (triple fault), an
 * access no device handled, an internal or entry error, a device callback
 * error, or vmm_vm_stop(). The other vCPUs are then stopped and joined.
 *
 * @param vm The VM; no vCPU of it may already be running.
 * @param[out] exit May be NULL. Receives the exit that ended the run
 *        (reason VMM_EXIT_HLT with the last vCPU to halt when all halted).
 *        Data pointers in it stay valid until the next run of that vCPU.
 * @return 0 when the run ended for a guest reason or a stop; the callback's
 *         negative errno if a device callback failed (exit->reason is then
 *         VMM_EXIT_DEVICE_ERROR); -EBUSY if a vCPU is already running;
 *         another negative errno if a thread could not be started.
 * Call from one thread at a time. vmm_vm_stop() may be called from any
 * thread, including from device callbacks.
 */
VMM_API int vmm_vm_run(vmm_vm *vm, struct vmm_exit *exit);

/**
 * @brief Ask every vCPU of the VM to stop: each returns VMM_EXIT_STOPPED from
 *        its current (or, if not running, its next) vmm_vcpu_run() once.
 * @return 0, or -EINVAL if @p vm is NULL.
 * Async-signal-unsafe but thread-safe: call it from any thread, including a
 * device callback. Returns without waiting.
 */
VMM_API int vmm_vm_stop(vmm_vm *vm);

/**
 * @brief Call every attached device's reset callback, in attach order.
 * @return 0, -EINVAL (NULL), -EBUSY if a vCPU is running.
 */
VMM_API int vmm_vm_reset_devices(vmm_vm *vm);

/** Categories counted by struct vmm_vm_stats::exits. */
enum vmm_stat_exit {
    VMM_STAT_EXIT_PIO = 0,       /**< port I/O exits (all, handled or not) */
    VMM_STAT_EXIT_MMIO,          /**< MMIO exits */
    VMM_STAT_EXIT_HYPERCALL,     /**< doorbell writes dispatched to a hypercall */
    VMM_STAT_EXIT_HLT,           /**< HLT */
    VMM_STAT_EXIT_SHUTDOWN,      /**< shutdown / triple fault */
    VMM_STAT_EXIT_INTR,          /**< KVM_RUN interrupted by a signal (kick, stop) */
    VMM_STAT_EXIT_INTERNAL_ERROR,/**< KVM internal error */
    VMM_STAT_EXIT_FAIL_ENTRY,    /**< failed VM entry */
    VMM_STAT_EXIT_SYSTEM_EVENT,  /**< KVM system event */
    VMM_STAT_EXIT_OTHER,         /**< anything else KVM reported */
    VMM_STAT_EXIT_UNHANDLED,     /**< exits returned to the caller undispatched */
    VMM_STAT_EXIT_OPEN_BUS,      /**< unclaimed accesses answered as open bus (VMM_VM_F_OPEN_BUS) */
    VMM_STAT_EXIT_COUNT          /**< number of categories in this version */
};

/** Per-VM exit counts, summed over vCPUs. */
struct vmm_vm_stats {
    uint32_t struct_size; /**< set by the caller: sizeof(struct vmm_vm_stats) */
    uint32_t reserved0;   /**< 0 */
    uint64_t exits_total; /**< every return from KVM_RUN */
    /** Indexed by enum vmm_stat_exit; entries past VMM_STAT_EXIT_COUNT are 0. */
    uint64_t exits[32];
};

/**
 * @brief Read the VM's exit counters. Always on; counting costs one add per
 *        exit. Counts taken while vCPUs run are a consistent-enough snapshot
 *        (each counter is read atomically, not all together).
 * @param[out] stats Caller sets struct_size; the library fills at most that
 *        many bytes.
 * @return 0, or -EINVAL (NULL, struct_size too small).
 */
VMM_API int vmm_vm_get_stats(const vmm_vm *vm, struct vmm_vm_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* VMM_VM_H */
