/* Guest physical memory map: regions, KVM slots, and the one bounds-checked
 * GPA -> host translation every other module uses. */
#ifndef VMM_LIB_MEMORY_H
#define VMM_LIB_MEMORY_H

#include "core/range_map.h"

#include <stdbool.h>
#include <stdint.h>

struct vmm_region {
    uint64_t gpa;
    uint64_t size;
    uint8_t *hva;
    uint32_t flags;     /* VMM_MEM_* */
    uint32_t slot;      /* KVM memory slot */
    bool owned;         /* the library mmapped it and munmaps it */
    bool host_writable; /* false for read-only fd mappings */
};

struct vmm_memory {
    struct vmm_range_map map; /* owner: struct vmm_region * */
    uint8_t *slot_used;       /* slot_used[i] != 0 if slot i is taken */
    uint32_t slot_capacity;
};

/* Unmaps everything the library allocated. KVM slots go with the VM fd. */
void vmm_memory_fini(struct vmm_memory *mem);

/* Host address of [gpa, gpa+len) if wholly inside one region, else NULL.
 * Sets no error text: the one check guest-supplied addresses go through. */
static inline void *vmm_memory_hva(const struct vmm_memory *mem, uint64_t gpa, uint64_t len)
{
    const struct vmm_range *r = vmm_range_map_find_span(&mem->map, gpa, len);
    if (!r)
        return 0;
    const struct vmm_region *region = r->owner;
    return region->hva + (gpa - region->gpa);
}

#endif
