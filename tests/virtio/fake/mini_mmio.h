/* A minimal virtio-mmio driver for host-side tests and benchmarks: the
 * 3.1.1 init sequence through the registers of a device on a fake VM, one
 * split queue at caller-chosen GPAs, and raw descriptor/avail-ring writes
 * (so hostile tests can post anything). Not a model driver: see
 * tests/virtio/driver for that. */
#ifndef TEST_MINI_MMIO_H
#define TEST_MINI_MMIO_H

#include <vmm/vmm.h>

#include <stdint.h>

struct mini_q {
    vmm_vm *vm;
    uint64_t base;               /* the device's register page */
    uint64_t desc, avail, used;  /* ring GPAs */
    uint16_t size;               /* as written to QueueNum */
    uint16_t avail_idx;          /* next avail->idx to publish */
};

/* Reset, negotiate VERSION_1 plus @features_lo (bits 0-31), set up queue 0
 * of @size entries at the GPAs in @q (desc/avail/used; rings zeroed first),
 * DRIVER_OK. Returns the Status register read back (0xf when accepted). */
uint32_t mini_mmio_init(struct mini_q *q, uint16_t size, uint32_t features_lo);
void mini_put_desc(struct mini_q *q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                   uint16_t next);
/* Adds @head to the avail ring (not yet visible to the device). */
void mini_add(struct mini_q *q, uint16_t head);
/* Publishes avail->idx and writes QueueNotify. */
void mini_kick(struct mini_q *q);
/* mini_add + mini_kick; returns used->idx afterwards. */
uint16_t mini_post(struct mini_q *q, uint16_t head);
uint16_t mini_used_idx(const struct mini_q *q);
/* Length the device wrote for used-ring slot @slot. */
uint32_t mini_used_len(const struct mini_q *q, uint16_t slot);
uint32_t mini_reg(const struct mini_q *q, uint32_t off);
void mini_set_reg(struct mini_q *q, uint32_t off, uint32_t v);

#endif
