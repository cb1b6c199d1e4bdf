/* Split virtqueues from the driver side (virtio 1.2 §2.7), polled: rings in
 * the arena, a free list of descriptors, optional indirect tables (2.7.5.3)
 * and EVENT_IDX notification suppression (2.7.7, 2.7.10). */
#include "vdrv_int.h"

#define DESC_BYTES 16u
#define D_ADDR 0
#define D_LEN 8
#define D_FLAGS 12
#define D_NEXT 14

int vq_alloc(struct vdrv_dev *d, struct vdrv_vq *vq, uint16_t size)
{
    struct vdrv_run *r = d->run;

    vq->size = size;
    /* 2.7 table "Virtqueue Part Alignment": desc 16, avail 2, used 4. */
    vq->desc_gpa = vd_alloc(r, (uint64_t)DESC_BYTES * size, 16, &vq->desc);
    vq->avail_gpa = vd_alloc(r, 6u + 2u * (uint64_t)size, 2, &vq->avail);
    vq->used_gpa = vd_alloc(r, 6u + 8u * (uint64_t)size, 4, &vq->used);
    vq->ind_gpa = vd_alloc(r, (uint64_t)DESC_BYTES * VQ_INDIRECT_MAX * size, 16, &vq->ind);
    if (vq->desc_gpa == 0 || vq->avail_gpa == 0 || vq->used_gpa == 0 || vq->ind_gpa == 0)
        return -1;
    for (uint16_t i = 0; i < size; i++)
        st16(vq->desc + i * DESC_BYTES + D_NEXT, (uint16_t)(i + 1));
    vq->free_head = 0;
    vq->nfree = size;
    vq->avail_idx = 0;
    vq->last_used = 0;
    return 0;
}

static void put_desc(uint8_t *p, const struct vdrv_buf *b, uint16_t flags, uint16_t next)
{
    st64(p + D_ADDR, b->gpa);
    st32(p + D_LEN, b->len);
    st16(p + D_FLAGS, (uint16_t)(flags | (b->write ? DESC_F_WRITE : 0)));
    st16(p + D_NEXT, next);
}

/* 2.7.10.1 (vring_need_event): notify iff avail_event lies in (old, new]. */
static int need_notify(struct vdrv_dev *d, struct vdrv_vq *vq, uint16_t old_idx)
{
    if (d->features & FBIT(F_EVENT_IDX)) {
        uint16_t event = ld16(vq->used + 4 + 8u * vq->size);
        return (uint16_t)(vq->avail_idx - event - 1) < (uint16_t)(vq->avail_idx - old_idx);
    }
    return (ld16(vq->used) & USED_F_NO_NOTIFY) == 0;
}

int vq_submit(struct vdrv_dev *d, struct vdrv_vq *vq, const struct vdrv_buf *b,
              uint32_t n, int use_ind)
{
    int ind = use_ind && (d->features & FBIT(F_INDIRECT_DESC)) && n > 1 &&
              n <= VQ_INDIRECT_MAX;
    uint32_t need = ind ? 1 : n;

    if (n == 0 || need > vq->nfree)
        return -1;
    uint16_t head = vq->free_head;
    if (ind) {
        /* 2.7.5.3.1: the table's entries chain by index within the table;
         * the one ring descriptor has only VIRTQ_DESC_F_INDIRECT. */
        uint8_t *t = vq->ind + (uint32_t)head * VQ_INDIRECT_MAX * DESC_BYTES;
        for (uint32_t i = 0; i < n; i++)
            put_desc(t + i * DESC_BYTES, &b[i], i + 1 < n ? DESC_F_NEXT : 0,
                     (uint16_t)(i + 1 < n ? i + 1 : 0));
        struct vdrv_buf tb = { vq->ind_gpa + (uint64_t)head * VQ_INDIRECT_MAX * DESC_BYTES,
                               n * DESC_BYTES, 0 };
        uint8_t *p = vq->desc + head * DESC_BYTES;
        vq->free_head = ld16(p + D_NEXT);
        put_desc(p, &tb, DESC_F_INDIRECT, 0);
    } else {
        uint16_t id = head;
        for (uint32_t i = 0; i < n; i++) {
            uint8_t *p = vq->desc + id * DESC_BYTES;
            uint16_t next = ld16(p + D_NEXT);
            put_desc(p, &b[i], i + 1 < n ? DESC_F_NEXT : 0, i + 1 < n ? next : 0);
            if (i + 1 == n)
                vq->free_head = next;
            id = next;
        }
    }
    vq->nfree = (uint16_t)(vq->nfree - need);
    vq->chain_len[head] = (uint16_t)need;

    /* 2.7.13: ring entry, barrier, idx, barrier, then check for notify. */
    uint16_t old = vq->avail_idx;
    st16(vq->avail + 4 + 2u * (old % vq->size), head);
    vd_mb();
    vq->avail_idx = (uint16_t)(old + 1);
    st16(vq->avail + 2, vq->avail_idx);
    vd_mb();
    if (need_notify(d, vq, old))
        d->ops->notify(d, vq);
    return head;
}

int vq_poll(struct vdrv_dev *d, struct vdrv_vq *vq, uint32_t *id, uint32_t *len)
{
    const struct vdrv_bus *bus = d->bus;

    for (uint32_t spin = 0; spin < d->opts->poll_spins; spin++) {
        if (ld16(vq->used + 2) == vq->last_used) {
            if (bus->relax != NULL)
                bus->relax(bus->ctx);
            continue;
        }
        vd_mb(); /* read the element only after seeing idx move */
        const uint8_t *e = vq->used + 4 + 8u * (vq->last_used % vq->size);
        *id = ld32(e);
        *len = ld32(e + 4);
        vq->last_used++;
        if (d->features & FBIT(F_EVENT_IDX))
            st16(vq->avail + 4 + 2u * vq->size, vq->last_used);
        d->ops->intr_ack(d);
        if (*id >= vq->size || vq->chain_len[*id] == 0) {
            vd_log(bus, "vdrv: device returned a bad used id\n");
            return -1;
        }
        /* Give the chain back to the free list. */
        uint16_t last = (uint16_t)*id;
        for (uint16_t i = 1; i < vq->chain_len[*id]; i++)
            last = ld16(vq->desc + last * DESC_BYTES + D_NEXT);
        st16(vq->desc + last * DESC_BYTES + D_NEXT, vq->free_head);
        vq->free_head = (uint16_t)*id;
        vq->nfree = (uint16_t)(vq->nfree + vq->chain_len[*id]);
        vq->chain_len[*id] = 0;
        return 0;
    }
    vd_log(bus, "vdrv: timeout waiting for the used ring\n");
    return -1;
}
