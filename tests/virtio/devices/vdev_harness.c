/* See vdev_harness.h. */
#include "vdev_harness.h"

#include "fake_vm.h"
#include "vm/vm.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

/* Queue areas from 64 KiB, buffers from 1 MiB. */
#define VH_RING_BASE 0x10000u
#define VH_RING_STRIDE 0x2000u
#define VH_HEAP_BASE 0x100000u

void vh_init(struct vh *h)
{
    memset(h, 0, sizeof(*h));
    h->vm = fake_vm_new(VH_RAM_SIZE);
    h->ram = fake_vm_ram(h->vm);
    h->heap = VH_HEAP_BASE;
}

void vh_fini(struct vh *h)
{
    fake_vm_free(h->vm);
    memset(h, 0, sizeof(*h));
}

uint64_t vh_alloc(struct vh *h, uint32_t len)
{
    uint64_t gpa = h->heap;
    h->heap = (h->heap + len + 15) & ~15ull;
    assert_true(h->heap <= VH_RAM_SIZE);
    memset(h->ram + gpa, 0, len);
    return gpa;
}

uint64_t vh_device_features(struct vh *h)
{
    struct virtio_dev *d = h->d;
    virtio_dev_lock(d);
    d->device_features_sel = 0;
    uint64_t f = virtio_dev_features_read(d);
    d->device_features_sel = 1;
    f |= (uint64_t)virtio_dev_features_read(d) << 32;
    virtio_dev_unlock(d);
    return f;
}

uint8_t vh_start(struct vh *h, uint64_t features, unsigned nq)
{
    assert_non_null(h->dev);
    h->d = virtio_dev_from_device(h->dev);
    assert_non_null(h->d);
    struct virtio_dev *d = h->d;
    uint64_t want = features | (1ull << VIRTIO_F_VERSION_1);
    assert_int_equal(vh_device_features(h) & want, want);

    virtio_dev_lock(d);
    virtio_dev_status_write(d, VIRTIO_STATUS_ACKNOWLEDGE);
    virtio_dev_status_write(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    d->driver_features_sel = 0;
    virtio_dev_features_write(d, (uint32_t)want);
    d->driver_features_sel = 1;
    virtio_dev_features_write(d, (uint32_t)(want >> 32));
    uint8_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK;
    virtio_dev_status_write(d, st);
    for (unsigned i = 0; i < nq; i++) {
        struct vh_queue *q = &h->q[i];
        uint64_t base = VH_RING_BASE + i * VH_RING_STRIDE;
        q->desc = base;
        q->avail = base + 0x400;
        q->used = base + 0x800;
        memset(h->ram + base, 0, VH_RING_STRIDE);
        d->queue_sel = (uint16_t)i;
        struct virtq *vq = virtio_dev_selected(d);
        assert_non_null(vq);
        vq->size = VH_QUEUE_SIZE;
        vq->desc_gpa = q->desc;
        vq->avail_gpa = q->avail;
        vq->used_gpa = q->used;
        virtio_dev_queue_enable(d, vq);
    }
    virtio_dev_status_write(d, st | VIRTIO_STATUS_DRIVER_OK);
    uint8_t got = virtio_dev_status_read(d);
    virtio_dev_unlock(d);
    return got;
}

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }

uint16_t vh_post(struct vh *h, unsigned qi, const struct vh_buf *bufs, unsigned n)
{
    struct vh_queue *q = &h->q[qi];
    assert_true(n >= 1 && n <= VH_QUEUE_SIZE);
    uint16_t head = q->next_desc % VH_QUEUE_SIZE;
    for (unsigned i = 0; i < n; i++) {
        uint16_t idx = (uint16_t)((q->next_desc + i) % VH_QUEUE_SIZE);
        uint16_t next = (uint16_t)((q->next_desc + i + 1) % VH_QUEUE_SIZE);
        struct virtq_desc desc = {
            .addr = bufs[i].gpa,
            .len = bufs[i].len,
            .flags = (uint16_t)((i + 1 < n ? VIRTQ_DESC_F_NEXT : 0) |
                                (bufs[i].write ? VIRTQ_DESC_F_WRITE : 0)),
            .next = i + 1 < n ? next : 0,
        };
        memcpy(h->ram + q->desc + 16u * idx, &desc, sizeof(desc));
    }
    q->next_desc = (uint16_t)(q->next_desc + n);
    uint8_t *avail = h->ram + q->avail;
    put16(avail + 4 + 2 * (q->avail_idx % VH_QUEUE_SIZE), head);
    q->avail_idx++;
    __atomic_thread_fence(__ATOMIC_RELEASE);
    put16(avail + 2, q->avail_idx);
    return head;
}

void vh_kick(struct vh *h, unsigned q)
{
    virtio_dev_kick(h->d, (uint16_t)q);
}

bool vh_used(struct vh *h, unsigned qi, uint32_t *id, uint32_t *len)
{
    struct vh_queue *q = &h->q[qi];
    const uint8_t *used = h->ram + q->used;
    uint16_t idx = __atomic_load_n((const uint16_t *)(used + 2), __ATOMIC_ACQUIRE);
    if (idx == q->used_seen)
        return false;
    struct virtq_used_elem e;
    memcpy(&e, used + 4 + 8 * (q->used_seen % VH_QUEUE_SIZE), sizeof(e));
    q->used_seen++;
    if (id)
        *id = e.id;
    if (len)
        *len = e.len;
    return true;
}

bool vh_wait_used(struct vh *h, unsigned q, uint32_t *id, uint32_t *len, int ms)
{
    for (int i = 0; i < ms; i++) {
        if (vh_used(h, q, id, len))
            return true;
        struct timespec ts = { 0, 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    return vh_used(h, q, id, len);
}

uint8_t vh_status(struct vh *h)
{
    virtio_dev_lock(h->d);
    uint8_t s = virtio_dev_status_read(h->d);
    virtio_dev_unlock(h->d);
    return s;
}

bool vh_broken(struct vh *h)
{
    return (vh_status(h) & VIRTIO_STATUS_DEVICE_NEEDS_RESET) != 0;
}

void vh_config(struct vh *h, uint32_t off, void *data, uint32_t len)
{
    virtio_dev_lock(h->d);
    virtio_dev_config_read(h->d, off, data, len);
    virtio_dev_unlock(h->d);
}
