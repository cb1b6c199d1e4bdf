/* Public guest-memory API: regions backed by anonymous memory, caller memory
 * or a file, each one KVM slot; bounds-checked read/write/translate. */
#include "memory/memory.h"

#include "core/error.h"
#include "kvm/kvm.h"
#include "vm/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE_MASK 0xfffull

static int alloc_slot(struct vmm_memory *mem, uint32_t limit, uint32_t *slot, const char *caller)
{
    for (uint32_t i = 0; i < mem->slot_capacity; i++) {
        if (!mem->slot_used[i]) {
            mem->slot_used[i] = 1;
            *slot = i;
            return 0;
        }
    }
    if (mem->slot_capacity >= limit)
        return vmm_err(-ENOSPC, "%s: all %u KVM memory slots are in use", caller, limit);
    uint32_t cap = mem->slot_capacity ? mem->slot_capacity * 2 : 8;
    if (cap > limit)
        cap = limit;
    uint8_t *grown = realloc(mem->slot_used, cap);
    if (!grown)
        return vmm_err(-ENOMEM, "%s: out of memory", caller);
    memset(grown + mem->slot_capacity, 0, cap - mem->slot_capacity);
    *slot = mem->slot_capacity;
    grown[*slot] = 1;
    mem->slot_used = grown;
    mem->slot_capacity = cap;
    return 0;
}

/* Checks shared by every add: alignment, wrap, flags, overlap, support. */
static int check_add(vmm_vm *vm, uint64_t gpa, uint64_t size, uint32_t flags, const char *caller)
{
    if (!vm)
        return vmm_err(-EINVAL, "%s: vm is NULL", caller);
    if (flags & ~VMM_MEM_READONLY)
        return vmm_err(-EINVAL, "%s: unknown flags 0x%x", caller, flags & ~VMM_MEM_READONLY);
    if (size == 0)
        return vmm_err(-EINVAL, "%s: size is 0", caller);
    if ((gpa | size) & PAGE_MASK)
        return vmm_err(-EINVAL, "%s: gpa 0x%llx and size 0x%llx must be multiples of 4096", caller,
                       (unsigned long long)gpa, (unsigned long long)size);
    if (size - 1 > UINT64_MAX - gpa)
        return vmm_err(-EINVAL, "%s: gpa 0x%llx + size 0x%llx wraps past 2^64", caller,
                       (unsigned long long)gpa, (unsigned long long)size);
    if (size > (uint64_t)SIZE_MAX)
        return vmm_err(-EINVAL, "%s: size 0x%llx does not fit the host address space", caller,
                       (unsigned long long)size);
    const struct vmm_kvm_caps *caps;
    int r = vmm_kvm_caps_get(&caps, caller);
    if (r < 0)
        return r;
    if ((flags & VMM_MEM_READONLY) && !caps->readonly_mem)
        return vmm_err(-EOPNOTSUPP, "%s: this KVM has no read-only memory (KVM_CAP_READONLY_MEM)",
                       caller);
    return 0;
}

/* Registers a checked region with KVM and the map, refusing overlaps and
 * running vCPUs; frees nothing on error (the caller unmaps what it mapped). */
static int add_region(vmm_vm *vm, uint64_t gpa, uint64_t size, uint32_t flags, void *hva,
                      bool owned, bool host_writable, const char *caller)
{
    const struct vmm_kvm_caps *caps;
    int r = vmm_kvm_caps_get(&caps, caller);
    if (r < 0)
        return r;
    struct vmm_region *region = calloc(1, sizeof(*region));
    if (!region)
        return vmm_err(-ENOMEM, "%s: out of memory", caller);
    *region = (struct vmm_region){ .gpa = gpa, .size = size, .hva = hva, .flags = flags,
                                   .owned = owned, .host_writable = host_writable };
    r = vmm_vm_begin_change(vm, caller);
    if (r < 0)
        goto fail;
    r = alloc_slot(&vm->memory, caps->nr_memslots, &region->slot, caller);
    if (r < 0)
        goto fail_change;
    const struct vmm_range *hit;
    r = vmm_range_map_insert(&vm->memory.map, gpa, size, region, &hit);
    if (r == -EBUSY) {
        r = vmm_err(-EEXIST, "%s: [0x%llx, +0x%llx) overlaps the region at 0x%llx (+0x%llx)",
                    caller, (unsigned long long)gpa, (unsigned long long)size,
                    (unsigned long long)hit->base, (unsigned long long)hit->len);
        goto fail_slot;
    }
    if (r < 0) {
        r = vmm_err(r, "%s: out of memory", caller);
        goto fail_slot;
    }
    uint32_t kvm_flags = (flags & VMM_MEM_READONLY) ? KVM_MEM_READONLY : 0;
    r = vmm_kvm_set_memory(vm->fd, region->slot, kvm_flags, gpa, size, hva, caller);
    if (r < 0)
        goto fail_map;
    vmm_vm_end_change(vm);
    return 0;
fail_map:
    vmm_range_map_remove(&vm->memory.map, gpa, region, NULL);
fail_slot:
    vm->memory.slot_used[region->slot] = 0;
fail_change:
    vmm_vm_end_change(vm);
fail:
    free(region);
    return r;
}

#define HUGE_PAGE (2ull << 20)

/* Anonymous guest RAM (MAP_NORESERVE: guest RAM is usually sparse, and
 * pages cost only when touched). From 2 MiB up it is 2 MiB-aligned and
 * marked MADV_HUGEPAGE, as QEMU does for guest RAM: transparent huge pages
 * then back it where the host allows, which cuts page faults (a kernel
 * load into fresh RAM takes a third of the time) and lets KVM map the
 * guest with large pages. NULL if the mapping fails. */
static void *map_ram(uint64_t size)
{
    const int prot = PROT_READ | PROT_WRITE, flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
    if (size < HUGE_PAGE || size > UINT64_MAX - HUGE_PAGE) {
        void *hva = mmap(NULL, size, prot, flags, -1, 0);
        return hva == MAP_FAILED ? NULL : hva;
    }
    uint8_t *raw = mmap(NULL, size + HUGE_PAGE, prot, flags, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    uintptr_t start = ((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
    size_t head = start - (uintptr_t)raw;
    if (head)
        munmap(raw, head);
    munmap((uint8_t *)start + size, HUGE_PAGE - head);
    (void)madvise((void *)start, size, MADV_HUGEPAGE); /* a hint: hosts may refuse */
    return (void *)start;
}

VMM_API int vmm_memory_add_ram(vmm_vm *vm, uint64_t gpa, uint64_t size, uint32_t flags,
                               void **hva_out)
{
    static const char fn[] = "vmm_memory_add_ram";
    int r = check_add(vm, gpa, size, flags, fn);
    if (r < 0)
        return r;
    void *hva = map_ram(size);
    if (!hva)
        return vmm_err(-ENOMEM, "%s: cannot allocate 0x%llx bytes of guest RAM", fn,
                       (unsigned long long)size);
    r = add_region(vm, gpa, size, flags, hva, true, true, fn);
    if (r < 0) {
        munmap(hva, size);
        return r;
    }
    if (hva_out)
        *hva_out = hva;
    return 0;
}

VMM_API int vmm_memory_add_host(vmm_vm *vm, uint64_t gpa, void *hva, uint64_t size,
                                uint32_t flags)
{
    static const char fn[] = "vmm_memory_add_host";
    int r = check_add(vm, gpa, size, flags, fn);
    if (r < 0)
        return r;
    if (!hva || ((uintptr_t)hva & PAGE_MASK))
        return vmm_err(-EINVAL, "%s: hva %p must be non-NULL and page-aligned", fn, hva);
    if ((uintptr_t)hva + (size - 1) < (uintptr_t)hva)
        return vmm_err(-EINVAL, "%s: hva %p + size wraps", fn, hva);
    return add_region(vm, gpa, size, flags, hva, false, true, fn);
}

VMM_API int vmm_memory_add_fd(vmm_vm *vm, uint64_t gpa, uint64_t size, int fd,
                              uint64_t fd_offset, uint32_t flags, void **hva_out)
{
    static const char fn[] = "vmm_memory_add_fd";
    int r = check_add(vm, gpa, size, flags, fn);
    if (r < 0)
        return r;
    if (fd < 0)
        return vmm_err(-EBADF, "%s: fd %d is not a file descriptor", fn, fd);
    if (fd_offset & PAGE_MASK)
        return vmm_err(-EINVAL, "%s: fd_offset 0x%llx is not page-aligned", fn,
                       (unsigned long long)fd_offset);
    bool readonly = flags & VMM_MEM_READONLY;
    int prot = PROT_READ | (readonly ? 0 : PROT_WRITE);
    void *hva = mmap(NULL, size, prot, MAP_SHARED, fd, (off_t)fd_offset);
    if (hva == MAP_FAILED) {
        int e = errno;
        return vmm_err(-e, "%s: cannot map fd %d at offset 0x%llx: %s", fn, fd,
                       (unsigned long long)fd_offset, strerror(e));
    }
    r = add_region(vm, gpa, size, flags, hva, true, !readonly, fn);
    if (r < 0) {
        munmap(hva, size);
        return r;
    }
    if (hva_out)
        *hva_out = hva;
    return 0;
}

VMM_API int vmm_memory_remove(vmm_vm *vm, uint64_t gpa)
{
    static const char fn[] = "vmm_memory_remove";
    if (!vm)
        return vmm_err(-EINVAL, "%s: vm is NULL", fn);
    int r = vmm_vm_begin_change(vm, fn);
    if (r < 0)
        return r;
    const struct vmm_range *hit = vmm_range_map_find(&vm->memory.map, gpa);
    if (!hit || hit->base != gpa) {
        r = vmm_err(-ENOENT, "%s: no region starts at gpa 0x%llx", fn, (unsigned long long)gpa);
        goto out;
    }
    struct vmm_region *region = hit->owner;
    r = vmm_kvm_set_memory(vm->fd, region->slot, 0, gpa, 0, region->hva, fn);
    if (r < 0)
        goto out;
    vmm_range_map_remove(&vm->memory.map, gpa, region, NULL);
    vm->memory.slot_used[region->slot] = 0;
    if (region->owned)
        munmap(region->hva, region->size);
    free(region);
out:
    vmm_vm_end_change(vm);
    return r;
}

void vmm_memory_fini(struct vmm_memory *mem)
{
    for (size_t i = 0; i < mem->map.count; i++) {
        struct vmm_region *region = mem->map.ranges[i].owner;
        if (region->owned)
            munmap(region->hva, region->size);
        free(region);
    }
    vmm_range_map_free(&mem->map);
    free(mem->slot_used);
    mem->slot_used = NULL;
    mem->slot_capacity = 0;
}

static int span_error(const char *fn, uint64_t gpa, uint64_t len)
{
    return vmm_err(-EFAULT, "%s: [0x%llx, +0x%llx) is not wholly inside one memory region", fn,
                   (unsigned long long)gpa, (unsigned long long)len);
}

VMM_API int vmm_memory_translate(vmm_vm *vm, uint64_t gpa, uint64_t len, void **hva_out)
{
    static const char fn[] = "vmm_memory_translate";
    if (!vm || !hva_out)
        return vmm_err(-EINVAL, "%s: vm and hva_out must not be NULL", fn);
    void *hva = vmm_memory_hva(&vm->memory, gpa, len);
    if (!hva)
        return span_error(fn, gpa, len);
    *hva_out = hva;
    return 0;
}

VMM_API int vmm_memory_read(vmm_vm *vm, uint64_t gpa, void *buf, size_t len)
{
    static const char fn[] = "vmm_memory_read";
    if (!vm || (!buf && len))
        return vmm_err(-EINVAL, "%s: vm and buf must not be NULL", fn);
    void *hva = vmm_memory_hva(&vm->memory, gpa, len);
    if (!hva)
        return span_error(fn, gpa, len);
    memcpy(buf, hva, len);
    return 0;
}

VMM_API int vmm_memory_write(vmm_vm *vm, uint64_t gpa, const void *buf, size_t len)
{
    static const char fn[] = "vmm_memory_write";
    if (!vm || (!buf && len))
        return vmm_err(-EINVAL, "%s: vm and buf must not be NULL", fn);
    const struct vmm_range *r = vmm_range_map_find_span(&vm->memory.map, gpa, len);
    if (!r)
        return span_error(fn, gpa, len);
    struct vmm_region *region = r->owner;
    if (!region->host_writable)
        return vmm_err(-EACCES, "%s: the region at 0x%llx is a read-only file mapping", fn,
                       (unsigned long long)region->gpa);
    memcpy(region->hva + (gpa - region->gpa), buf, len);
    return 0;
}
