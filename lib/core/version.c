/* Version and feature queries; names for exit reasons. */
#include <vmm/exit.h>
#include <vmm/version.h>

#include "kvm/kvm.h"
#include "loader/extract.h"

#define STR2(x) #x
#define STR(x) STR2(x)

VMM_API uint32_t vmm_version(void)
{
    return VMM_VERSION_NUMBER;
}

VMM_API const char *vmm_version_string(void)
{
    return STR(VMM_VERSION_MAJOR) "." STR(VMM_VERSION_MINOR) "." STR(VMM_VERSION_PATCH);
}

VMM_API int vmm_has_feature(uint32_t feature)
{
    /* What the build decided, and features this version does not know,
     * are answered without KVM: the loaders and decompressors work on a
     * host without /dev/kvm, and a negative errno here would read as
     * "yes" to a caller that tests the result for truth. */
    switch (feature) {
    case VMM_FEATURE_EXTRACT_GZIP: return vmm_loader_can_extract(VMM_COMPRESSION_GZIP);
    case VMM_FEATURE_EXTRACT_XZ: return vmm_loader_can_extract(VMM_COMPRESSION_XZ);
    case VMM_FEATURE_EXTRACT_ZSTD: return vmm_loader_can_extract(VMM_COMPRESSION_ZSTD);
    case VMM_FEATURE_EXTRACT_LZ4: return vmm_loader_can_extract(VMM_COMPRESSION_LZ4);
    case VMM_FEATURE_READONLY_MEMORY:
    case VMM_FEATURE_HYPERCALLS:
    case VMM_FEATURE_VM_RUN:
    case VMM_FEATURE_KICK:
    case VMM_FEATURE_LONG_MODE:
    case VMM_FEATURE_PLATFORM_PC: break;
    default: return 0;
    }
    /* The rest are about running guests: they need this host's KVM. */
    const struct vmm_kvm_caps *caps;
    int r = vmm_kvm_caps_get(&caps, "vmm_has_feature");
    if (r < 0)
        return r;
    switch (feature) {
    case VMM_FEATURE_READONLY_MEMORY: return caps->readonly_mem;
    case VMM_FEATURE_KICK: return caps->immediate_exit;
    case VMM_FEATURE_PLATFORM_PC: return caps->irqchip;
    default: return 1; /* HYPERCALLS, VM_RUN, LONG_MODE: always, given KVM */
    }
}

VMM_API const char *vmm_exit_reason_name(uint32_t reason)
{
    static const char *const names[] = {
        [VMM_EXIT_NONE] = "none",
        [VMM_EXIT_HLT] = "hlt",
        [VMM_EXIT_SHUTDOWN] = "shutdown",
        [VMM_EXIT_PIO] = "pio",
        [VMM_EXIT_MMIO] = "mmio",
        [VMM_EXIT_STOPPED] = "stopped",
        [VMM_EXIT_KICKED] = "kicked",
        [VMM_EXIT_INTERNAL_ERROR] = "internal-error",
        [VMM_EXIT_FAIL_ENTRY] = "fail-entry",
        [VMM_EXIT_DEVICE_ERROR] = "device-error",
        [VMM_EXIT_SYSTEM_EVENT] = "system-event",
        [VMM_EXIT_UNKNOWN] = "unknown",
        [VMM_EXIT_REQUEST] = "request",
    };
    if (reason >= sizeof(names) / sizeof(names[0]))
        return "invalid";
    return names[reason];
}
