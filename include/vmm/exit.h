/**
 * @file exit.h
 * @brief The exit record: what a vCPU did that no device consumed.
 */
#ifndef VMM_EXIT_H
#define VMM_EXIT_H

#include <vmm/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Why vmm_vcpu_run() or vmm_vm_run() returned. */
enum vmm_exit_reason {
    VMM_EXIT_NONE = 0,           /**< nothing happened (never returned) */
    VMM_EXIT_HLT = 1,            /**< the guest executed HLT */
    VMM_EXIT_SHUTDOWN = 2,       /**< shutdown: triple fault or similar */
    VMM_EXIT_PIO = 3,            /**< port I/O no device handled; see vmm_exit::pio */
    VMM_EXIT_MMIO = 4,           /**< MMIO no device handled; see vmm_exit::mmio */
    VMM_EXIT_STOPPED = 5,        /**< vmm_vm_stop() was called */
    VMM_EXIT_KICKED = 6,         /**< vmm_vcpu_kick() was called */
    VMM_EXIT_INTERNAL_ERROR = 7, /**< KVM could not emulate; see vmm_exit::internal */
    VMM_EXIT_FAIL_ENTRY = 8,     /**< VM entry failed; see vmm_exit::fail_entry */
    VMM_EXIT_DEVICE_ERROR = 9,   /**< a callback failed; vmm_exit::error holds its errno */
    VMM_EXIT_SYSTEM_EVENT = 10,  /**< KVM system event; see vmm_exit::system_event */
    VMM_EXIT_UNKNOWN = 11,       /**< a KVM exit libvmm does not know; see vmm_exit::unknown */
    VMM_EXIT_REQUEST = 12,       /**< a device asked to end the run; see vmm_exit::request */
};

/** What a device asked for with vmm_vcpu_request_exit(). */
enum vmm_request_kind {
    VMM_REQUEST_RESET = 1,      /**< the guest asked for a reset (e.g. i8042 0xFE) */
    VMM_REQUEST_POWEROFF = 2,   /**< the guest asked to power off */
    VMM_REQUEST_DEBUG_EXIT = 3, /**< a test payload ended the VM; value is its code */
    VMM_REQUEST_USER = 0x10000, /**< first kind free for applications' own devices */
};

/** Direction of an access, as seen from the guest. */
#define VMM_IO_READ 0
/** Direction of an access, as seen from the guest. */
#define VMM_IO_WRITE 1

/**
 * What a vCPU did. Pointers inside point into the vCPU's KVM run page and
 * stay valid until that vCPU runs again or the VM is destroyed.
 */
struct vmm_exit {
    uint32_t reason;     /**< an enum vmm_exit_reason value */
    uint32_t vcpu_index; /**< which vCPU (index as in vmm_vm_get_vcpu()) */
    int32_t error;       /**< VMM_EXIT_DEVICE_ERROR: the callback's negative errno */
    uint32_t reserved0;  /**< 0 */
    union {
        /** VMM_EXIT_PIO. For a guest read (IN/INS), write @c size * @c count
         *  bytes to @c data before the next vmm_vcpu_run(); it is pre-filled
         *  with 0xff (open bus). */
        struct vmm_exit_pio {
            uint16_t port;    /**< first port accessed */
            uint8_t size;     /**< 1, 2 or 4 bytes per element */
            uint8_t is_write; /**< VMM_IO_WRITE (OUT/OUTS) or VMM_IO_READ */
            uint32_t count;   /**< elements (more than 1 for REP INS/OUTS) */
            uint8_t *data;    /**< size * count bytes */
        } pio;
        /** VMM_EXIT_MMIO. For a read, write @c len bytes to @c data before
         *  the next vmm_vcpu_run(); it is pre-filled with 0xff. */
        struct vmm_exit_mmio {
            uint64_t gpa;     /**< guest physical address */
            uint8_t *data;    /**< len bytes */
            uint32_t len;     /**< 1, 2, 4 or 8 */
            uint8_t is_write; /**< VMM_IO_WRITE or VMM_IO_READ */
        } mmio;
        /** VMM_EXIT_INTERNAL_ERROR (KVM_EXIT_INTERNAL_ERROR). */
        struct vmm_exit_internal {
            uint32_t suberror; /**< KVM_INTERNAL_ERROR_* */
            uint32_t ndata;    /**< valid entries of data (at most 4 copied) */
            uint64_t data[4];
        } internal;
        /** VMM_EXIT_FAIL_ENTRY (KVM_EXIT_FAIL_ENTRY). */
        struct vmm_exit_fail_entry {
            uint64_t hardware_reason; /**< VMX/SVM exit qualification */
            uint32_t cpu;             /**< host CPU */
        } fail_entry;
        /** VMM_EXIT_SYSTEM_EVENT (KVM_EXIT_SYSTEM_EVENT). */
        struct vmm_exit_system_event {
            uint32_t type;  /**< KVM_SYSTEM_EVENT_* */
            uint32_t ndata; /**< valid entries of data (at most 4 copied) */
            uint64_t data[4];
        } system_event;
        /** VMM_EXIT_REQUEST. */
        struct vmm_exit_request {
            uint32_t kind;   /**< an enum vmm_request_kind value, or VMM_REQUEST_USER + n */
            uint32_t reserved0;
            uint64_t value;  /**< meaning set by the kind (DEBUG_EXIT: the code written) */
        } request;
        /** VMM_EXIT_UNKNOWN. */
        struct vmm_exit_unknown {
            uint32_t kvm_reason; /**< the raw KVM_EXIT_* value */
        } unknown;
        uint64_t reserved[12]; /**< room for growth; keeps the size fixed */
    };
};

/**
 * @brief Name an exit reason.
 * @return A static string such as "hlt" or "pio"; "invalid" for unknown
 *         values. Never NULL. Thread-safe.
 */
VMM_API const char *vmm_exit_reason_name(uint32_t reason);

#ifdef __cplusplus
}
#endif

#endif /* VMM_EXIT_H */
