/**
 * @file vcpu.h
 * @brief Virtual CPUs: registers, CPU mode set-up, CPUID, and running one
 *        vCPU on the caller's thread.
 *
 * vCPUs are created with their VM (vmm_vm_config::num_vcpus) and owned by
 * it. Functions here must not be called on a vCPU while another thread runs
 * it, except vmm_vcpu_kick(). Register functions are also valid inside that
 * vCPU's own device callbacks.
 *
 * Registers during a guest read: while an IN or MMIO read is in flight (in
 * its device callback, or returned to the caller as VMM_EXIT_PIO/MMIO), the
 * instruction has not completed: RIP points at it and its destination
 * register holds the old value. General registers written then are applied
 * after the read completes, on top of its result, so a callback may both
 * answer a read and change other registers (KVM would otherwise drop the
 * read). vmm_vcpu_get_regs() shows such pending writes.
 */
#ifndef VMM_VCPU_H
#define VMM_VCPU_H

#include <vmm/common.h>
#include <vmm/exit.h>

#ifdef __cplusplus
extern "C" {
#endif

/** General-purpose registers, instruction pointer and flags. */
struct vmm_regs {
    /** General-purpose registers, named as in 64-bit mode. @{ */
    uint64_t rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
    uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
    /** @} */
    uint64_t rip;    /**< instruction pointer */
    uint64_t rflags; /**< flags; bit 1 always reads as 1 */
};

/** One segment register, hidden part included (Intel SDM vol. 3 §3.4). */
struct vmm_segment {
    uint64_t base;     /**< linear base address */
    uint32_t limit;    /**< byte-granular limit (already scaled if g = 1) */
    uint16_t selector; /**< visible selector */
    uint8_t type;      /**< 4-bit descriptor type */
    /** Descriptor bits, 0 or 1 each (dpl: 0-3): present, privilege level,
     *  default size, system (0) / code-data (1), 64-bit code, granularity,
     *  available. @{ */
    uint8_t present, dpl, db, s, l, g, avl;
    /** @} */
    uint8_t unusable;  /**< 1 for a null/unusable segment */
    uint8_t reserved0; /**< must be 0 */
};

/** A descriptor-table register (GDTR, IDTR). */
struct vmm_dtable {
    uint64_t base;          /**< linear base address */
    uint16_t limit;         /**< size in bytes minus 1 */
    uint16_t reserved0[3];  /**< must be 0 */
};

/** Segment, control and system registers. */
struct vmm_sregs {
    /** Segment registers, task register and LDT register. @{ */
    struct vmm_segment cs, ds, es, fs, gs, ss, tr, ldt;
    /** @} */
    /** Descriptor-table registers. @{ */
    struct vmm_dtable gdt, idt;
    /** @} */
    /** Control registers. @{ */
    uint64_t cr0, cr2, cr3, cr4, cr8;
    /** @} */
    uint64_t efer;      /**< extended feature enable MSR (0xc0000080) */
    uint64_t apic_base; /**< APIC base MSR (0x1b) */
};

/** Names for vmm_vcpu_get_reg()/vmm_vcpu_set_reg(). */
enum vmm_reg {
    VMM_REG_RAX = 0, VMM_REG_RBX, VMM_REG_RCX, VMM_REG_RDX,
    VMM_REG_RSI, VMM_REG_RDI, VMM_REG_RSP, VMM_REG_RBP,
    VMM_REG_R8, VMM_REG_R9, VMM_REG_R10, VMM_REG_R11,
    VMM_REG_R12, VMM_REG_R13, VMM_REG_R14, VMM_REG_R15,
    VMM_REG_RIP, VMM_REG_RFLAGS,
    VMM_REG_CR0, VMM_REG_CR2, VMM_REG_CR3, VMM_REG_CR4, VMM_REG_CR8,
    VMM_REG_EFER,
    VMM_REG_COUNT /**< number of names in this version */
};

/**
 * @brief Read the general registers.
 * @param[out] regs Written on success.
 * @return 0, -EINVAL (NULL), or KVM's negative errno.
 */
VMM_API int vmm_vcpu_get_regs(vmm_vcpu *vcpu, struct vmm_regs *regs);
/**
 * @brief Write the general registers.
 * @param regs Borrowed for the call. rflags bit 1 is forced to 1.
 * @return 0, -EINVAL (NULL), or KVM's negative errno.
 */
VMM_API int vmm_vcpu_set_regs(vmm_vcpu *vcpu, const struct vmm_regs *regs);
/**
 * @brief Read the segment, control and system registers.
 * @return 0, -EINVAL (NULL), or KVM's negative errno.
 */
VMM_API int vmm_vcpu_get_sregs(vmm_vcpu *vcpu, struct vmm_sregs *sregs);
/**
 * @brief Write the segment, control and system registers.
 * @return 0, -EINVAL (NULL, or KVM rejected the state).
 */
VMM_API int vmm_vcpu_set_sregs(vmm_vcpu *vcpu, const struct vmm_sregs *sregs);
/**
 * @brief Read one register by name (one KVM call; use vmm_vcpu_get_regs()
 *        for many).
 * @param reg An enum vmm_reg value.
 * @return 0, -EINVAL (NULL, unknown @p reg).
 */
VMM_API int vmm_vcpu_get_reg(vmm_vcpu *vcpu, uint32_t reg, uint64_t *value);
/**
 * @brief Write one register by name (a read-modify-write of its group).
 * @return 0, -EINVAL (NULL, unknown @p reg, value KVM rejects).
 */
VMM_API int vmm_vcpu_set_reg(vmm_vcpu *vcpu, uint32_t reg, uint64_t value);

/**
 * @brief The vCPU's index in its VM (also its initial APIC id).
 * @return The index, or -EINVAL for NULL.
 */
VMM_API int vmm_vcpu_index(const vmm_vcpu *vcpu);
/** @brief The VM owning @p vcpu, or NULL for NULL. */
VMM_API vmm_vm *vmm_vcpu_vm(const vmm_vcpu *vcpu);

/** CPU modes vmm_vcpu_set_cpu_mode() can establish. */
enum vmm_cpu_mode {
    VMM_CPU_MODE_REAL = 1,      /**< real mode, segments at base 0 */
    VMM_CPU_MODE_PROTECTED = 2, /**< 32-bit flat protected mode, paging off */
    VMM_CPU_MODE_LONG = 3,      /**< 64-bit long mode, identity-mapped paging */
};

/** VMM_CPU_MODE_LONG only: run at CPL3 with user segments and
 *  user-accessible page tables. IOPL stays 0, but the TSS's I/O permission
 *  bitmap allows every port, so the guest can use port I/O (and the
 *  hypercall doorbell) without a kernel, and cannot use CLI/STI. HLT at CPL3
 *  faults: end such a guest with a port write. */
#define VMM_CPU_MODE_F_USER (1u << 0)

/**
 * Configuration for vmm_vcpu_set_cpu_mode(). Initialise with
 * VMM_CPU_MODE_CONFIG_INIT(mode).
 *
 * Layout the library writes at @c tables_gpa (PROTECTED and LONG): the GDT
 * at +0 (selectors 0x08 code64, 0x10 data, 0x18 code32, 0x23 user data,
 * 0x2b user code64, 0x30 TSS), the TSS at +0x100 followed by an I/O
 * permission bitmap allowing every port (to +0x2169), and for LONG the PML4
 * at +0x3000, the PDPT at +0x4000 and one page directory per GiB from
 * +0x5000, mapping [0, identity_map_size) with 2 MiB pages. No IDT is set
 * up: exceptions triple-fault (VMM_EXIT_SHUTDOWN) until the guest loads one.
 */
struct vmm_cpu_mode_config {
    uint32_t struct_size; /**< sizeof(struct vmm_cpu_mode_config) */
    uint32_t mode;        /**< an enum vmm_cpu_mode value */
    uint32_t flags;       /**< 0 or VMM_CPU_MODE_F_USER */
    uint32_t reserved0;   /**< must be 0 */
    /** PROTECTED/LONG: page-aligned guest address of the tables, inside one
     *  RAM region. Ignored for REAL. */
    uint64_t tables_gpa;
    /** Bytes available at tables_gpa; see vmm_cpu_mode_tables_size(). */
    uint64_t tables_size;
    /** LONG: bytes identity-mapped from address 0, a multiple of 2 MiB, at
     *  most 512 GiB; 0 means 4 GiB. */
    uint64_t identity_map_size;
};

/** Static initialiser for struct vmm_cpu_mode_config. */
#define VMM_CPU_MODE_CONFIG_INIT(m) \
    { sizeof(struct vmm_cpu_mode_config), (m), 0, 0, 0, 0, 0 }

/**
 * @brief Bytes of guest memory vmm_vcpu_set_cpu_mode() needs at tables_gpa.
 * @param mode An enum vmm_cpu_mode value.
 * @param identity_map_size As in struct vmm_cpu_mode_config.
 * @param[out] size Receives the byte count (0 for REAL).
 * @return 0, -EINVAL (unknown mode, bad size, NULL).
 */
VMM_API int vmm_cpu_mode_tables_size(uint32_t mode, uint64_t identity_map_size,
                                     uint64_t *size);

/**
 * @brief Put the vCPU in a CPU mode: writes the GDT/TSS (and page tables)
 *        into guest memory, then sets segment, control registers, EFER and
 *        RFLAGS. RIP, RSP and the other general registers are left to the
 *        caller. Several vCPUs may share the same tables.
 * @param cfg Borrowed for the call.
 * @return 0; -EINVAL (bad config, with the field named); -EFAULT (tables not
 *         inside one RAM region); KVM's errno if it rejects the state.
 */
VMM_API int vmm_vcpu_set_cpu_mode(vmm_vcpu *vcpu,
                                  const struct vmm_cpu_mode_config *cfg);

/** One CPUID leaf as the guest sees it (function/index = EAX/ECX input). */
struct vmm_cpuid_entry {
    uint32_t function; /**< leaf: EAX input */
    uint32_t index;    /**< sub-leaf: ECX input (when flags says it matters) */
    uint32_t flags; /**< 1 if the leaf depends on index (KVM_CPUID_FLAG_SIGNIFCANT_INDEX) */
    /** Output registers. @{ */
    uint32_t eax, ebx, ecx, edx;
    /** @} */
    uint32_t reserved0; /**< must be 0 */
};

/**
 * @brief Read the vCPU's CPUID table. Each vCPU starts with everything KVM
 *        supports (KVM_GET_SUPPORTED_CPUID), its APIC id set to its index.
 * @param[out] entries Array of @p *count entries; may be NULL if *count is 0.
 * @param[in,out] count In: capacity. Out: number of entries in the table.
 * @return 0; -E2BIG if the capacity is too small (*count then holds the
 *         number needed); -EINVAL (NULL).
 */
VMM_API int vmm_vcpu_get_cpuid(vmm_vcpu *vcpu, struct vmm_cpuid_entry *entries,
                               uint32_t *count);
/**
 * @brief Replace the vCPU's CPUID table. Must happen before the vCPU first
 *        runs (KVM refuses later changes).
 * @param entries Borrowed for the call; 1 .. 256 entries.
 * @return 0; -EINVAL (NULL, bad count, KVM rejected it).
 */
VMM_API int vmm_vcpu_set_cpuid(vmm_vcpu *vcpu,
                               const struct vmm_cpuid_entry *entries,
                               uint32_t count);

/**
 * @brief Run the vCPU on the calling thread until something the dispatcher
 *        did not consume happens.
 *
 * Port I/O, MMIO and hypercalls claimed by devices are handled inside and
 * the guest resumes. An unhandled read left in the previous exit record is
 * completed with whatever the caller wrote to its data buffer.
 *
 * @param[out] exit Receives what happened (required).
 * @return 0 with @p exit filled; the callback's negative errno when a device
 *         or hypercall callback failed (exit->reason VMM_EXIT_DEVICE_ERROR,
 *         vmm_last_error() names the device); -EBUSY if another thread is
 *         running this vCPU; -EINVAL (NULL); KVM's errno if KVM_RUN fails.
 */
VMM_API int vmm_vcpu_run(vmm_vcpu *vcpu, struct vmm_exit *exit);

/**
 * @brief End the vCPU's run with VMM_EXIT_REQUEST once the current access
 *        has been handled: how a device (i8042 reset, a debug-exit port, an
 *        application's own "done" register) stops the guest with a reason.
 *        vmm_vm_run() ends for every vCPU with that exit.
 * @param kind  An enum vmm_request_kind value (or VMM_REQUEST_USER + n).
 * @param value Passed through in vmm_exit::request.
 * @return 0, -EINVAL (NULL vcpu, kind 0). A later request before the run
 *         returns replaces an earlier one.
 * Call from a callback running on @p vcpu, or while it does not run (its next
 * vmm_vcpu_run() then returns at once).
 */
VMM_API int vmm_vcpu_request_exit(vmm_vcpu *vcpu, uint32_t kind, uint64_t value);

/**
 * @brief Make the vCPU return VMM_EXIT_KICKED from vmm_vcpu_run() once:
 *        now if it is running (through the VM's kick signal), else at the
 *        start of its next run. Inside vmm_vm_run() a kick only makes the
 *        library thread go round its loop.
 * @return 0, -EINVAL (NULL).
 * Thread-safe; callable from any thread.
 */
VMM_API int vmm_vcpu_kick(vmm_vcpu *vcpu);

#ifdef __cplusplus
}
#endif

#endif /* VMM_VCPU_H */
