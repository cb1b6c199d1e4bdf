/* The load plan: a loader first claims every range it will write (kernel
 * segments, initrd, boot structures, CPU tables), each checked against the
 * RAM the guest is told about and against the others; only when the whole
 * image has been parsed and placed is anything written. A malformed image
 * therefore leaves guest memory as it was. */
#include "loader/loader.h"

#include "core/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int plan_init(struct load_plan *p, vmm_vm *vm, const char *fn)
{
    memset(p, 0, sizeof(*p));
    p->vm = vm;
    p->fn = fn;
    uint32_t n = 0;
    int r = vmm_pc_e820(vm, NULL, &n);
    if (r < 0 && r != -E2BIG)
        return r;
    p->map = calloc(n ? n : 1, sizeof(*p->map));
    if (!p->map)
        return vmm_err(-ENOMEM, "%s: out of memory", fn);
    r = vmm_pc_e820(vm, p->map, &n);
    if (r < 0) {
        free(p->map);
        p->map = NULL;
        return r;
    }
    p->map_count = n;
    for (uint32_t i = 0; i < n; i++)
        if (p->map[i].type == VMM_E820_RAM)
            p->ram_bytes += p->map[i].size;
    return 0;
}

void plan_fini(struct load_plan *p)
{
    free(p->map);
    p->map = NULL;
}

/* [gpa, gpa + size) inside one RAM entry; size > 0 and no wrap assumed. */
static bool in_ram(const struct load_plan *p, uint64_t gpa, uint64_t size)
{
    for (uint32_t i = 0; i < p->map_count; i++) {
        const struct vmm_e820_entry *e = &p->map[i];
        if (e->type == VMM_E820_RAM && gpa >= e->addr && gpa - e->addr <= e->size &&
            size <= e->size - (gpa - e->addr))
            return true;
    }
    return false;
}

/* Covered by host-writable guest memory, possibly several adjacent
 * regions. */
static bool in_memory(const struct load_plan *p, uint64_t gpa, uint64_t size)
{
    while (size > 0) {
        const struct vmm_range *r = vmm_range_map_find(&p->vm->memory.map, gpa);
        if (!r)
            return false;
        const struct vmm_region *reg = r->owner;
        if (!reg->host_writable || (reg->flags & VMM_MEM_READONLY))
            return false;
        uint64_t room = r->len - (gpa - r->base);
        if (room >= size)
            return true;
        gpa += room;
        size -= room;
    }
    return true;
}

static const struct plan_chunk *overlap(const struct load_plan *p, uint64_t gpa, uint64_t size)
{
    for (uint32_t i = 0; i < p->count; i++) {
        const struct plan_chunk *c = &p->chunks[i];
        if (gpa < c->gpa + c->memsz && c->gpa < gpa + size)
            return c;
    }
    return NULL;
}

bool plan_fits(const struct load_plan *p, uint64_t gpa, uint64_t size)
{
    return size > 0 && gpa + size > gpa && in_ram(p, gpa, size) && in_memory(p, gpa, size) &&
           !overlap(p, gpa, size);
}

int plan_add(struct load_plan *p, uint64_t gpa, uint64_t memsz, const void *src, uint64_t len,
             enum plan_where where, enum plan_tail tail, const char *what_fmt, ...)
{
    char what[sizeof(p->chunks[0].what)];
    va_list ap;
    va_start(ap, what_fmt);
    vsnprintf(what, sizeof(what), what_fmt, ap);
    va_end(ap);
    if (memsz == 0 || len > memsz)
        return vmm_err(-ENOEXEC, "%s: %s: %llu bytes to copy into %llu", p->fn, what,
                       (unsigned long long)len, (unsigned long long)memsz);
    if (memsz - 1 > UINT64_MAX - gpa)
        return vmm_err(-ENOEXEC, "%s: %s at 0x%llx, 0x%llx bytes, wraps past 2^64", p->fn, what,
                       (unsigned long long)gpa, (unsigned long long)memsz);
    if (where == PLAN_RAM && !in_ram(p, gpa, memsz))
        return vmm_err(-ENOMEM, "%s: %s [0x%llx, 0x%llx) is not inside the VM's RAM (see "
                       "vmm_pc_e820())", p->fn, what, (unsigned long long)gpa,
                       (unsigned long long)(gpa + memsz));
    if (!in_memory(p, gpa, memsz))
        return vmm_err(-ENOMEM, "%s: %s [0x%llx, 0x%llx) is not backed by writable guest memory",
                       p->fn, what, (unsigned long long)gpa, (unsigned long long)(gpa + memsz));
    const struct plan_chunk *hit = overlap(p, gpa, memsz);
    if (hit)
        return vmm_err(-ENOEXEC, "%s: %s [0x%llx, 0x%llx) overlaps %s [0x%llx, 0x%llx)", p->fn,
                       what, (unsigned long long)gpa, (unsigned long long)(gpa + memsz),
                       hit->what, (unsigned long long)hit->gpa,
                       (unsigned long long)(hit->gpa + hit->memsz));
    if (p->count == PLAN_MAX_CHUNKS)
        return vmm_err(-ENOEXEC, "%s: %s: the image needs more than %d pieces of memory", p->fn,
                       what, PLAN_MAX_CHUNKS);
    struct plan_chunk *c = &p->chunks[p->count++];
    *c = (struct plan_chunk){ .gpa = gpa, .memsz = memsz, .src = src, .len = len,
                              .where = (uint8_t)where, .tail = (uint8_t)tail };
    memcpy(c->what, what, sizeof(c->what));
    return 0;
}

static uint64_t align_down(uint64_t v, uint64_t align)
{
    return v & ~(align - 1);
}

/* Rounds up, or returns 0 if that passes 2^64. */
static uint64_t align_up(uint64_t v, uint64_t align)
{
    return v > UINT64_MAX - (align - 1) ? 0 : (v + align - 1) & ~(align - 1);
}

int plan_place_high(struct load_plan *p, uint64_t size, uint64_t align, uint64_t limit,
                    uint64_t *gpa, const char *what)
{
    /* RAM entries from the top; within one, try below its end (or the
     * limit), then below each chunk in the way. Each step moves the top
     * down past a chunk, so this ends. */
    for (uint32_t i = p->map_count; size > 0 && i-- > 0;) {
        const struct vmm_e820_entry *e = &p->map[i];
        if (e->type != VMM_E820_RAM)
            continue;
        uint64_t start = e->addr > LOADER_HIGH_START ? e->addr : LOADER_HIGH_START;
        uint64_t top = e->addr + e->size < limit ? e->addr + e->size : limit;
        while (top > start && top - start >= size) {
            uint64_t cand = align_down(top - size, align);
            if (cand < start)
                break;
            const struct plan_chunk *hit = overlap(p, cand, size);
            if (!hit && in_memory(p, cand, size)) {
                *gpa = cand;
                return 0;
            }
            top = hit ? hit->gpa : cand; /* not memory-backed: try lower */
        }
    }
    return vmm_err(-ENOMEM, "%s: no room for the %s (%llu bytes) in RAM between 1 MiB and "
                   "0x%llx, clear of the kernel", p->fn, what, (unsigned long long)size,
                   (unsigned long long)limit);
}

int plan_place_low(struct load_plan *p, uint64_t size, uint64_t align, uint64_t min,
                   uint64_t limit, uint64_t *gpa, const char *what)
{
    for (uint32_t i = 0; size > 0 && i < p->map_count; i++) {
        const struct vmm_e820_entry *e = &p->map[i];
        if (e->type != VMM_E820_RAM)
            continue;
        uint64_t end = e->addr + e->size < limit ? e->addr + e->size : limit;
        uint64_t cand = align_up(e->addr > min ? e->addr : min, align);
        while (cand != 0 && cand < end && end - cand >= size) {
            const struct plan_chunk *hit = overlap(p, cand, size);
            if (!hit && in_memory(p, cand, size)) {
                *gpa = cand;
                return 0;
            }
            cand = align_up(hit ? hit->gpa + hit->memsz : cand + align, align);
        }
    }
    return vmm_err(-ENOMEM, "%s: no room for the %s (%llu bytes, %llu-aligned) in the VM's RAM "
                   "between 0x%llx and 0x%llx", p->fn, what, (unsigned long long)size,
                   (unsigned long long)align, (unsigned long long)min,
                   (unsigned long long)limit);
}

/* Copies or zeroes [gpa, gpa + len) across the regions that cover it. */
static void write_span(vmm_vm *vm, uint64_t gpa, const uint8_t *src, uint64_t len)
{
    while (len > 0) {
        const struct vmm_range *r = vmm_range_map_find(&vm->memory.map, gpa);
        const struct vmm_region *reg = r->owner; /* checked by plan_add() */
        uint64_t n = r->len - (gpa - r->base);
        if (n > len)
            n = len;
        uint8_t *hva = reg->hva + (gpa - reg->gpa);
        if (src) {
            memcpy(hva, src, n);
            src += n;
        } else {
            memset(hva, 0, n);
        }
        gpa += n;
        len -= n;
    }
}

void plan_commit(const struct load_plan *p)
{
    for (uint32_t i = 0; i < p->count; i++) {
        const struct plan_chunk *c = &p->chunks[i];
        if (c->len)
            write_span(p->vm, c->gpa, c->src, c->len);
        if (c->tail == PLAN_ZERO && c->memsz > c->len)
            write_span(p->vm, c->gpa + c->len, NULL, c->memsz - c->len);
    }
}
