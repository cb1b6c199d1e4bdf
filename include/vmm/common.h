/**
 * @file common.h
 * @brief Definitions shared by every libvmm header: the export macro, the
 *        opaque handle types and the callback return convention.
 */
#ifndef VMM_COMMON_H
#define VMM_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Marks a function exported from libvmm.so; everything else is hidden. */
#if defined(VMM_BUILDING_LIBRARY)
#define VMM_API __attribute__((visibility("default")))
#else
#define VMM_API
#endif

/** A virtual machine: memory map, devices, vCPUs. Created by vmm_vm_create(). */
typedef struct vmm_vm vmm_vm;
/** A virtual CPU of a vmm_vm. Owned by its VM; never freed separately. */
typedef struct vmm_vcpu vmm_vcpu;
/** A device model attached to a VM with vmm_device_attach(). */
typedef struct vmm_device vmm_device;
/** Opaque state writer passed to vmm_device_ops::save (snapshot support). */
typedef struct vmm_snapshot_writer vmm_snapshot_writer;
/** Opaque state reader passed to vmm_device_ops::restore (snapshot support). */
typedef struct vmm_snapshot_reader vmm_snapshot_reader;

/**
 * Returned by a device or hypercall callback that declines an access: the
 * exit is not consumed and goes back to the caller of vmm_vcpu_run().
 * Callbacks otherwise return 0 (handled) or a negative errno (the vCPU stops
 * with that error).
 */
#define VMM_UNHANDLED 1

#ifdef __cplusplus
}
#endif

#endif /* VMM_COMMON_H */
