#include "core/range_map.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Index of the first range whose base is greater than @addr. */
static size_t upper_bound(const struct vmm_range_map *map, uint64_t addr)
{
    size_t lo = 0, hi = map->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (map->ranges[mid].base <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static uint64_t last_of(const struct vmm_range *r)
{
    return r->base + (r->len - 1);
}

/* The first range overlapping [base, last], given i = upper_bound(base). */
static const struct vmm_range *overlap_at(const struct vmm_range_map *map, size_t i,
                                          uint64_t base, uint64_t last)
{
    if (i > 0 && last_of(&map->ranges[i - 1]) >= base)
        return &map->ranges[i - 1];
    if (i < map->count && map->ranges[i].base <= last)
        return &map->ranges[i];
    return NULL;
}

int vmm_range_map_insert(struct vmm_range_map *map, uint64_t base, uint64_t len, void *owner,
                         const struct vmm_range **conflict)
{
    if (len == 0 || len - 1 > UINT64_MAX - base)
        return -EINVAL;
    size_t i = upper_bound(map, base);
    const struct vmm_range *hit = overlap_at(map, i, base, base + (len - 1));
    if (hit) {
        if (conflict)
            *conflict = hit;
        return -EBUSY;
    }
    if (map->count == map->capacity) {
        size_t cap = map->capacity ? map->capacity * 2 : 8;
        struct vmm_range *grown = realloc(map->ranges, cap * sizeof(*grown));
        if (!grown)
            return -ENOMEM;
        map->ranges = grown;
        map->capacity = cap;
    }
    memmove(&map->ranges[i + 1], &map->ranges[i], (map->count - i) * sizeof(map->ranges[0]));
    map->ranges[i] = (struct vmm_range){ .base = base, .len = len, .owner = owner };
    map->count++;
    return 0;
}

static void remove_at(struct vmm_range_map *map, size_t i)
{
    memmove(&map->ranges[i], &map->ranges[i + 1], (map->count - i - 1) * sizeof(map->ranges[0]));
    map->count--;
}

int vmm_range_map_remove(struct vmm_range_map *map, uint64_t base, const void *owner,
                         void **owner_out)
{
    size_t i = upper_bound(map, base);
    if (i == 0 || map->ranges[i - 1].base != base)
        return -ENOENT;
    if (owner && map->ranges[i - 1].owner != owner)
        return -ENOENT;
    if (owner_out)
        *owner_out = map->ranges[i - 1].owner;
    remove_at(map, i - 1);
    return 0;
}

size_t vmm_range_map_remove_owner(struct vmm_range_map *map, const void *owner)
{
    size_t kept = 0;
    for (size_t i = 0; i < map->count; i++)
        if (map->ranges[i].owner != owner)
            map->ranges[kept++] = map->ranges[i];
    size_t removed = map->count - kept;
    map->count = kept;
    return removed;
}

const struct vmm_range *vmm_range_map_find_span(const struct vmm_range_map *map, uint64_t addr,
                                                uint64_t len)
{
    const struct vmm_range *r = vmm_range_map_find(map, addr);
    /* Written as a subtraction so that no sum can wrap at 2^64. */
    if (!r || len > r->len - (addr - r->base))
        return NULL;
    return r;
}

void vmm_range_map_free(struct vmm_range_map *map)
{
    free(map->ranges);
    *map = (struct vmm_range_map){ 0 };
}
