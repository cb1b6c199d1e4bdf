/* See mini_mmio.h. Register offsets: virtio 1.2, 4.2.2. */
#include "mini_mmio.h"

#include "fake_vm.h"

#include <string.h>

static uint8_t *ram(const struct mini_q *q, uint64_t gpa)
{
    return fake_vm_ram(q->vm) + gpa;
}

uint32_t mini_reg(const struct mini_q *q, uint32_t off)
{
    return fake_vm_mmio_read32(q->vm, q->base + off);
}

void mini_set_reg(struct mini_q *q, uint32_t off, uint32_t v)
{
    fake_vm_mmio_write32(q->vm, q->base + off, v);
}

uint32_t mini_mmio_init(struct mini_q *q, uint16_t size, uint32_t features_lo)
{
    uint64_t ram_size = fake_vm_ram_size(q->vm);
    uint64_t ring_bytes[3] = { 16u * (uint64_t)size, 6 + 2u * (uint64_t)size,
                               6 + 8u * (uint64_t)size };
    uint64_t ring_gpa[3] = { q->desc, q->avail, q->used };
    for (int i = 0; i < 3; i++)
        if (ring_gpa[i] < ram_size && ring_bytes[i] <= ram_size - ring_gpa[i])
            memset(ram(q, ring_gpa[i]), 0, ring_bytes[i]);
    q->size = size;
    q->avail_idx = 0;
    mini_set_reg(q, 0x70, 0); /* reset */
    mini_set_reg(q, 0x70, 1); /* ACKNOWLEDGE */
    mini_set_reg(q, 0x70, 3); /* DRIVER */
    mini_set_reg(q, 0x24, 1);
    mini_set_reg(q, 0x20, 1); /* VIRTIO_F_VERSION_1 (bit 32) */
    mini_set_reg(q, 0x24, 0);
    mini_set_reg(q, 0x20, features_lo);
    mini_set_reg(q, 0x70, 0xb); /* FEATURES_OK */
    mini_set_reg(q, 0x30, 0);
    mini_set_reg(q, 0x38, size);
    mini_set_reg(q, 0x80, (uint32_t)q->desc);
    mini_set_reg(q, 0x84, (uint32_t)(q->desc >> 32));
    mini_set_reg(q, 0x90, (uint32_t)q->avail);
    mini_set_reg(q, 0x94, (uint32_t)(q->avail >> 32));
    mini_set_reg(q, 0xa0, (uint32_t)q->used);
    mini_set_reg(q, 0xa4, (uint32_t)(q->used >> 32));
    mini_set_reg(q, 0x44, 1);   /* QueueReady */
    mini_set_reg(q, 0x70, 0xf); /* DRIVER_OK */
    return mini_reg(q, 0x70);
}

void mini_put_desc(struct mini_q *q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                   uint16_t next)
{
    uint8_t d[16];
    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
    memcpy(ram(q, q->desc + 16u * i), d, 16);
}

void mini_add(struct mini_q *q, uint16_t head)
{
    uint16_t slot = q->size ? (uint16_t)(q->avail_idx % q->size) : 0;
    memcpy(ram(q, q->avail + 4 + 2u * slot), &head, 2);
    q->avail_idx++;
}

void mini_kick(struct mini_q *q)
{
    __atomic_store_n((uint16_t *)(void *)ram(q, q->avail + 2), q->avail_idx, __ATOMIC_RELEASE);
    mini_set_reg(q, 0x50, 0);
}

uint16_t mini_post(struct mini_q *q, uint16_t head)
{
    mini_add(q, head);
    mini_kick(q);
    return mini_used_idx(q);
}

uint16_t mini_used_idx(const struct mini_q *q)
{
    return __atomic_load_n((uint16_t *)(void *)ram(q, q->used + 2), __ATOMIC_ACQUIRE);
}

uint32_t mini_used_len(const struct mini_q *q, uint16_t slot)
{
    uint32_t len;
    memcpy(&len, ram(q, q->used + 4 + 8u * (slot % q->size) + 4), 4);
    return len;
}
