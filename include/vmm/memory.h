/**
 * @file memory.h
 * @brief Guest physical memory: regions backed by library-allocated RAM,
 *        caller memory or a file descriptor, and the bounds-checked helpers
 *        that are the only way the library touches guest memory.
 *
 * Regions never overlap. Addresses and sizes must be multiples of the host
 * page size (4096). Every region is one KVM memory slot.
 *
 * Threading: adding or removing regions is refused with -EBUSY while any
 * vCPU of the VM runs. vmm_memory_read(), vmm_memory_write() and
 * vmm_memory_translate() are safe from any thread, including callbacks.
 */
#ifndef VMM_MEMORY_H
#define VMM_MEMORY_H

#include <vmm/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The guest cannot write the region: its writes arrive as MMIO exits
 *  (dispatched to an MMIO device mapped there, or returned as
 *  VMM_EXIT_MMIO). Needs VMM_FEATURE_READONLY_MEMORY. */
#define VMM_MEM_READONLY (1u << 0)

/**
 * @brief Add guest RAM allocated by the library (anonymous, zero-filled,
 *        freed with the region).
 * @param gpa   Guest physical base, page-aligned.
 * @param size  Bytes, page-aligned, non-zero; gpa + size must not wrap.
 * @param flags 0 or VMM_MEM_READONLY.
 * @param[out] hva_out May be NULL; receives the host address of the region,
 *        valid until the region is removed or the VM destroyed.
 * @return 0; -EINVAL (bad argument), -EEXIST (overlaps a region), -ENOSPC
 *         (no KVM memory slot left), -ENOMEM, -EBUSY (vCPU running),
 *         -EOPNOTSUPP (read-only not supported by KVM).
 */
VMM_API int vmm_memory_add_ram(vmm_vm *vm, uint64_t gpa, uint64_t size,
                               uint32_t flags, void **hva_out);

/**
 * @brief Add guest memory backed by caller-owned host memory.
 * @param hva Page-aligned, @p size bytes, readable and writable; borrowed
 *        until the region is removed or the VM destroyed (the caller frees it
 *        after that).
 * Other parameters and errors as vmm_memory_add_ram().
 */
VMM_API int vmm_memory_add_host(vmm_vm *vm, uint64_t gpa, void *hva,
                                uint64_t size, uint32_t flags);

/**
 * @brief Add guest memory backed by a file descriptor (memfd, hugetlbfs,
 *        tmpfs or a regular file), mapped MAP_SHARED: the guest and every
 *        other mapping of the file see the same bytes.
 * @param fd Borrowed for the call: the library maps it and does not keep the
 *        descriptor. With VMM_MEM_READONLY it may be opened read-only, and
 *        host writes to the region (vmm_memory_write()) give -EACCES.
 * @param fd_offset Page-aligned offset into the file.
 * Other parameters and errors as vmm_memory_add_ram(); -EBADF for a bad fd.
 */
VMM_API int vmm_memory_add_fd(vmm_vm *vm, uint64_t gpa, uint64_t size, int fd,
                              uint64_t fd_offset, uint32_t flags, void **hva_out);

/**
 * @brief Remove the region that starts at @p gpa, and free what the library
 *        allocated for it.
 * @return 0; -EINVAL (NULL vm); -ENOENT (no region starts there); -EBUSY.
 */
VMM_API int vmm_memory_remove(vmm_vm *vm, uint64_t gpa);

/**
 * @brief Copy @p len bytes of guest memory at @p gpa into @p buf.
 * @return 0; -EFAULT if [gpa, gpa+len) is not wholly inside one region
 *         (including ranges that wrap at 2^64); -EINVAL for NULL arguments.
 *         len 0 succeeds when gpa lies inside a region.
 */
VMM_API int vmm_memory_read(vmm_vm *vm, uint64_t gpa, void *buf, size_t len);

/**
 * @brief Copy @p len bytes from @p buf into guest memory at @p gpa. The host
 *        may write read-only (ROM) regions unless they are fd-backed with a
 *        read-only mapping.
 * @return As vmm_memory_read(); -EACCES for a read-only fd mapping.
 */
VMM_API int vmm_memory_write(vmm_vm *vm, uint64_t gpa, const void *buf,
                             size_t len);

/**
 * @brief Translate the guest range [gpa, gpa+len) to a host pointer.
 * @param[out] hva_out Receives the host address of @p gpa; the range is
 *        contiguous there. Valid until the region is removed.
 * @return 0, or -EFAULT when the range is not wholly inside one region
 *         (the only check any guest-supplied address needs), -EINVAL (NULL).
 */
VMM_API int vmm_memory_translate(vmm_vm *vm, uint64_t gpa, uint64_t len,
                                 void **hva_out);

#ifdef __cplusplus
}
#endif

#endif /* VMM_MEMORY_H */
