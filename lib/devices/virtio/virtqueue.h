/* Split virtqueues (virtio 1.2 section 2.7), device side.
 *
 * The guest is hostile: everything read from the rings is validated before
 * it is used, each descriptor is read exactly once (into a local copy, so a
 * guest rewriting it concurrently cannot change what was checked), and host
 * pointers into guest memory come only from the virtio_mem translator,
 * which refuses any range not wholly inside guest RAM. A violation returns
 * -EPROTO with a vmm_last_error() sentence naming the queue and the value;
 * the device core then marks the device DEVICE_NEEDS_RESET (2.1.2).
 *
 * Not thread-safe: the device core serialises every call on one queue
 * (its device lock). Host pointers (ring areas, chain segments) are valid
 * only until the caller drops that lock, because guest memory may be
 * remapped while no device work is in flight; virtq_begin() translates the
 * rings again for each batch. */
#ifndef VMM_LIB_VIRTQUEUE_H
#define VMM_LIB_VIRTQUEUE_H

#include "devices/virtio/virtio_spec.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Guest memory as the virtqueue sees it: production code wraps the VM's
 * memory map; unit tests and fuzzers give a fake one. translate() returns a
 * host pointer to [gpa, gpa + len) if that range is wholly inside one
 * region (len 0 is allowed and checks gpa alone), else NULL. It must not
 * set an error text. */
struct virtio_mem {
    void *(*translate)(void *ctx, uint64_t gpa, uint64_t len);
    void *ctx;
};

/* One buffer segment of a chain, in host memory. */
struct virtq_seg {
    uint8_t *base;
    uint32_t len;
};

/* A popped descriptor chain: the device-readable segments first
 * (seg[0 .. n_out)), then the device-writable ones (seg[n_out .. n_out +
 * n_in)). Zero-length descriptors are dropped. */
struct virtq_chain {
    uint16_t head;      /* descriptor index to hand back in virtq_push() */
    uint16_t n_out, n_in;
    uint32_t out_bytes; /* sum of readable lengths (checked <= UINT32_MAX) */
    uint32_t in_bytes;  /* sum of writable lengths (checked <= UINT32_MAX) */
    struct virtq_seg *seg; /* storage owned by the queue (size entries) */
};

struct virtq {
    /* Identity, for error sentences: "<dev_name> queue <index>: ...". */
    const char *dev_name;
    uint16_t index;
    uint16_t max_size;  /* device maximum (a power of two, <= 32768) */

    /* Written by the transport on the driver's behalf before enable. */
    uint16_t size;      /* driver's choice; reset value max_size */
    uint16_t msix_vector;
    uint64_t desc_gpa, avail_gpa, used_gpa;

    /* Set by virtq_enable(). */
    bool enabled;
    bool event_idx;     /* VIRTIO_F_EVENT_IDX negotiated */
    bool indirect;      /* VIRTIO_F_INDIRECT_DESC negotiated */
    const struct virtio_mem *mem;

    /* Ring state. */
    uint16_t last_avail;    /* next available-ring slot to consume */
    uint16_t used_idx;      /* our copy of used->idx */
    uint16_t signalled_used; /* used_idx at the last interrupt (EVENT_IDX) */
    bool signalled_valid;

    /* Host pointers for the current batch (virtq_begin()). */
    struct virtq_desc *desc;
    uint8_t *avail; /* struct layout: le16 flags, le16 idx, le16 ring[], le16 used_event */
    uint8_t *used;  /* le16 flags, le16 idx, {le32 id, le32 len}[], le16 avail_event */

    struct virtq_seg *segs; /* max_size entries, allocated by virtq_init() */
};

/* Sets up @vq (zeroed, index/name/max_size recorded, segment storage
 * allocated). max_size must be a power of two in 1 .. 32768. Returns 0 or
 * -ENOMEM / -EINVAL (with a sentence). */
int virtq_init(struct virtq *vq, const char *dev_name, uint16_t index, uint16_t max_size);
/* Frees what virtq_init() allocated. Safe on a zeroed struct. */
void virtq_fini(struct virtq *vq);

/* Back to the reset state (2.1.2 / 4.x: size = max_size, addresses 0,
 * vector NO_VECTOR, not enabled, indices 0). */
void virtq_reset(struct virtq *vq);

/* The driver enabled the queue (QueueReady / queue_enable = 1). Validates
 * size (a power of two, 1 .. max_size: a size of 0 is an error), the
 * alignment of the three areas (2.7.2: 16, 2, 4), that each area lies
 * inside guest RAM (including the event-index fields), and that the used
 * ring (the only area the device writes) overlaps neither the descriptor
 * table nor the available ring. Returns 0 or -EPROTO with a sentence. */
int virtq_enable(struct virtq *vq, const struct virtio_mem *mem, bool event_idx, bool indirect);

/* Translates the ring areas for one batch of pops and pushes. 0 or
 * -EPROTO (the memory map no longer holds them). */
int virtq_begin(struct virtq *vq);

/* Takes the next available chain. Returns 1 with *out filled (valid until
 * the next virtq_pop() on this queue), 0 if the ring holds none, or -EPROTO
 * on a violation: avail->idx more than size ahead of what was consumed, a
 * head or next index >= size, a chain longer than size descriptors (this
 * is also how loops are caught), INDIRECT without the feature, INDIRECT
 * together with NEXT, an indirect table inside an indirect table, an
 * indirect table whose length is 0, not a multiple of 16 or more than
 * size entries, addr + len wrapping or outside guest RAM, a readable
 * descriptor after a writable one, totals over UINT32_MAX. The consumed
 * slot is not given back on a violation (the device is broken anyway). */
int virtq_pop(struct virtq *vq, struct virtq_chain **out);

/* Returns chain @head to the driver with @written bytes written into its
 * writable segments (2.7.8: the element first, then, after a release
 * barrier, used->idx). */
void virtq_push(struct virtq *vq, uint16_t head, uint32_t written);

/* After a batch: whether the driver wants an interrupt for the buffers
 * pushed since the last one (2.7.7 / 2.7.10: used_event with EVENT_IDX,
 * else the NO_INTERRUPT flag), with the full barrier the check needs.
 * Updates signalled_used when it returns true. */
bool virtq_should_notify(struct virtq *vq);

/* Before going idle: tell the driver we want its next notification
 * (avail_event = last_avail with EVENT_IDX; used->flags cleared
 * otherwise), then re-check the ring. Returns true if more chains arrived
 * meanwhile (the caller must pop again), so no kick is lost. */
bool virtq_enable_notify(struct virtq *vq);

/* Copies from / into a chain's segments, bounded by the segments: returns
 * the bytes copied. @off counts from the first readable (copy_from) or
 * first writable (copy_to) byte. */
size_t virtq_chain_read(const struct virtq_chain *c, size_t off, void *dst, size_t len);
size_t virtq_chain_write(const struct virtq_chain *c, size_t off, const void *src, size_t len);

#endif
