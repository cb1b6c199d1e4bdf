/* A sorted array of non-overlapping [base, base+len) ranges over a 64-bit
 * address space, each with an owner pointer. Lookup is a binary search
 * (O(log n)); insert and remove shift the array (O(n)), which is fine: maps
 * change at set-up time, lookups happen on every exit.
 *
 * Used for the PIO and MMIO address spaces (owner: a device) and the guest
 * memory map (owner: a region). Ranges may end exactly at 2^64 but never
 * wrap past it. */
#ifndef VMM_LIB_CORE_RANGE_MAP_H
#define VMM_LIB_CORE_RANGE_MAP_H

#include <stddef.h>
#include <stdint.h>

struct vmm_range {
    uint64_t base;
    uint64_t len; /* never 0 */
    void *owner;
};

struct vmm_range_map {
    struct vmm_range *ranges; /* sorted by base */
    size_t count;
    size_t capacity;
};

/* Adds a range. Returns 0, -EINVAL (len 0 or wraps past 2^64), -EBUSY
 * (overlaps: *conflict, if non-NULL, points at the first range hit, valid
 * until the map changes) or -ENOMEM. Sets no error text: callers word it. */
int vmm_range_map_insert(struct vmm_range_map *map, uint64_t base, uint64_t len, void *owner,
                         const struct vmm_range **conflict);

/* Removes the range starting at @base, if @owner is NULL or owns it.
 * Returns 0 (and the owner in *owner_out if non-NULL) or -ENOENT. */
int vmm_range_map_remove(struct vmm_range_map *map, uint64_t base, const void *owner,
                         void **owner_out);

/* Removes every range of @owner; returns how many. */
size_t vmm_range_map_remove_owner(struct vmm_range_map *map, const void *owner);

/* The range containing @addr, or NULL. Inline: it runs on every exit. */
static inline const struct vmm_range *vmm_range_map_find(const struct vmm_range_map *map,
                                                         uint64_t addr)
{
    /* Binary search for the last range whose base is <= addr. */
    const struct vmm_range *lo = map->ranges;
    size_t n = map->count;
    while (n > 0) {
        size_t half = n / 2;
        if (lo[half].base <= addr) {
            lo += half + 1;
            n -= half + 1;
        } else {
            n = half;
        }
    }
    if (lo == map->ranges)
        return NULL;
    const struct vmm_range *r = lo - 1;
    return addr - r->base < r->len ? r : NULL;
}

/* The range wholly containing [addr, addr+len), or NULL (also when the span
 * crosses into a neighbour or wraps past 2^64). len 0 means "addr only". */
const struct vmm_range *vmm_range_map_find_span(const struct vmm_range_map *map, uint64_t addr,
                                                uint64_t len);

void vmm_range_map_free(struct vmm_range_map *map);

#endif
