/* A PC VM's RAM layout and the e820 map that describes it (ACPI 6.5 §15,
 * "System Address Map Interfaces"; the Linux boot protocol's boot_params
 * e820_table carries the same entries). */
#include "x86/pc.h"

#include "core/error.h"

#include <errno.h>
#include <stdio.h>

#define TWO_MIB (2ull << 20)

VMM_API int vmm_pc_add_ram(vmm_vm *vm, uint64_t size)
{
    static const char fn[] = "vmm_pc_add_ram";
    if (!vm)
        return vmm_err(-EINVAL, "%s: vm is NULL", fn);
    if (vm->platform != VMM_PLATFORM_PC)
        return vmm_err(-EINVAL, "%s: the VM is not VMM_PLATFORM_PC", fn);
    if (size < TWO_MIB || size % TWO_MIB)
        return vmm_err(-EINVAL, "%s: size 0x%llx must be a non-zero multiple of 2 MiB", fn,
                       (unsigned long long)size);
    uint64_t low = size < VMM_PC_MMIO_HOLE_START ? size : VMM_PC_MMIO_HOLE_START;
    uint64_t high = size - low;
    if (high > UINT64_MAX - VMM_PC_HIGH_RAM_START)
        return vmm_err(-EINVAL, "%s: size 0x%llx runs past 2^64 above the MMIO hole", fn,
                       (unsigned long long)size);
    int r = vmm_memory_add_ram(vm, 0, low, 0, NULL);
    if (r < 0 || high == 0)
        return r;
    r = vmm_memory_add_ram(vm, VMM_PC_HIGH_RAM_START, high, 0, NULL);
    if (r < 0) {
        /* All or nothing: take the low part back, keeping the first error. */
        char why[256];
        snprintf(why, sizeof(why), "%s", vmm_last_error());
        vmm_memory_remove(vm, 0);
        vmm_err_set_text(why);
    }
    return r;
}

/* The map being built: entries go to out[] while they fit, and are
 * counted either way so a short buffer learns the exact size needed. */
struct e820_builder {
    struct vmm_e820_entry *out;
    uint32_t cap, n;
    struct vmm_e820_entry last;
};

/* Appends an entry, merging it into the previous one when both are RAM and
 * they touch. */
static void push(struct e820_builder *b, uint64_t addr, uint64_t size, uint32_t type)
{
    if (size == 0)
        return;
    if (b->n > 0 && type == VMM_E820_RAM && b->last.type == VMM_E820_RAM &&
        b->last.addr + b->last.size == addr) {
        b->last.size += size;
    } else {
        b->last = (struct vmm_e820_entry){ .addr = addr, .size = size, .type = type };
        b->n++;
    }
    if (b->n <= b->cap)
        b->out[b->n - 1] = b->last;
}

VMM_API int vmm_pc_e820(const vmm_vm *vm, struct vmm_e820_entry *entries, uint32_t *count)
{
    static const char fn[] = "vmm_pc_e820";
    if (!vm || !count || (!entries && *count))
        return vmm_err(-EINVAL, "%s: vm and count must not be NULL (entries only if *count "
                       "is 0)", fn);
    struct e820_builder b = { .out = entries, .cap = *count };
    const uint64_t legacy_size = VMM_PC_LEGACY_END - VMM_PC_LEGACY_START;
    bool legacy_done = false;
    /* Regions are sorted and never overlap; the legacy area goes in where
     * its address falls, cutting any RAM region that spans it. */
    const struct vmm_range_map *map = &vm->memory.map;
    for (size_t i = 0; i < map->count; i++) {
        const struct vmm_region *reg = map->ranges[i].owner;
        if (reg->flags & VMM_MEM_READONLY)
            continue;
        uint64_t start = reg->gpa, end = reg->gpa + reg->size; /* end may be 2^64 -> 0 */
        bool ends_at_top = end == 0;
        if (!legacy_done && start >= VMM_PC_LEGACY_START) {
            push(&b, VMM_PC_LEGACY_START, legacy_size, VMM_E820_RESERVED);
            legacy_done = true;
        }
        if (start < VMM_PC_LEGACY_START) {
            uint64_t below = (!ends_at_top && end < VMM_PC_LEGACY_START) ? end
                                                                        : VMM_PC_LEGACY_START;
            push(&b, start, below - start, VMM_E820_RAM);
            if (ends_at_top || end > VMM_PC_LEGACY_START) {
                push(&b, VMM_PC_LEGACY_START, legacy_size, VMM_E820_RESERVED);
                legacy_done = true;
            }
            start = VMM_PC_LEGACY_END;
        } else if (start < VMM_PC_LEGACY_END) {
            start = VMM_PC_LEGACY_END;
        }
        if (ends_at_top || end > start)
            push(&b, start, end - start, VMM_E820_RAM);
    }
    if (!legacy_done)
        push(&b, VMM_PC_LEGACY_START, legacy_size, VMM_E820_RESERVED);
    *count = b.n;
    if (b.n > b.cap)
        return vmm_err(-E2BIG, "%s: the map has %u entries, the buffer %u", fn, b.n, b.cap);
    return 0;
}
