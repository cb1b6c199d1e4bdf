/**
 * @file version.h
 * @brief Library version and feature queries, for bindings and plug-ins that
 *        must check at run time what they were loaded against.
 */
#ifndef VMM_VERSION_H
#define VMM_VERSION_H

#include <vmm/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Major version; also the soname's ABI number (libvmm.so.MAJOR). */
#define VMM_VERSION_MAJOR 0
/** Minor version: grows with compatible additions. */
#define VMM_VERSION_MINOR 3
/** Patch version: fixes only. */
#define VMM_VERSION_PATCH 0
/** The version as one number: (major << 16) | (minor << 8) | patch. */
#define VMM_VERSION_NUMBER \
    ((VMM_VERSION_MAJOR << 16) | (VMM_VERSION_MINOR << 8) | VMM_VERSION_PATCH)

/**
 * @brief The version of the library actually loaded.
 * @return (major << 16) | (minor << 8) | patch, comparable with
 *         VMM_VERSION_NUMBER from the headers a program was built with.
 * Thread-safe; never fails.
 */
VMM_API uint32_t vmm_version(void);

/**
 * @brief The loaded library's version as text, e.g. "0.1.0".
 * @return A static string; never NULL; do not free. Thread-safe.
 */
VMM_API const char *vmm_version_string(void);

/** Optional capabilities a program can probe with vmm_has_feature(). */
enum vmm_feature {
    /** vmm_memory_add_*() accept VMM_MEM_READONLY (needs KVM_CAP_READONLY_MEM). */
    VMM_FEATURE_READONLY_MEMORY = 1,
    /** The port-I/O hypercall doorbell (always present in this version). */
    VMM_FEATURE_HYPERCALLS = 2,
    /** vmm_vm_run() runs every vCPU on library threads. */
    VMM_FEATURE_VM_RUN = 3,
    /** vmm_vcpu_kick()/vmm_vm_stop() interrupt a vCPU that is inside the
     *  guest (needs KVM_CAP_IMMEDIATE_EXIT). */
    VMM_FEATURE_KICK = 4,
    /** vmm_vcpu_set_cpu_mode() accepts VMM_CPU_MODE_LONG. */
    VMM_FEATURE_LONG_MODE = 5,
    /** VMM_PLATFORM_PC: in-kernel irqchip and PIT (needs KVM_CAP_IRQCHIP
     *  and KVM_CAP_PIT2). */
    VMM_FEATURE_PLATFORM_PC = 6,
    /** VMM_BOOT_F_BZIMAGE_EXTRACT handles gzip payloads (built with zlib). */
    VMM_FEATURE_EXTRACT_GZIP = 7,
    /** ... xz payloads (built with liblzma). */
    VMM_FEATURE_EXTRACT_XZ = 8,
    /** ... zstd payloads (built with libzstd). */
    VMM_FEATURE_EXTRACT_ZSTD = 9,
    /** ... LZ4 payloads (built with liblz4). */
    VMM_FEATURE_EXTRACT_LZ4 = 10,
};

/**
 * @brief Whether this library, on this host's KVM, provides @p feature.
 * @param feature A value of enum vmm_feature.
 * @return 1 if available, 0 if not (or @p feature is unknown to this
 *         version), a negative errno if @p feature depends on KVM and
 *         /dev/kvm cannot be opened (with vmm_last_error() saying why).
 *         The VMM_FEATURE_EXTRACT_* answers and unknown features need no
 *         KVM: they are answered on any host.
 * Thread-safe. For the KVM features, opens /dev/kvm once and caches the
 * answers.
 */
VMM_API int vmm_has_feature(uint32_t feature);

#ifdef __cplusplus
}
#endif

#endif /* VMM_VERSION_H */
