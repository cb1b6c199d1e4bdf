/* Split virtqueues, device side (virtio 1.2 section 2.7): ring set-up
 * checks, chain walking with every guest value validated, the used ring,
 * and notification suppression (2.7.7, 2.7.10).
 *
 * Guest memory is shared with a guest that may be running on another CPU
 * and rewriting it while we look. Three rules keep that harmless:
 *  - every value that decides where the device reads or writes (a
 *    descriptor, a ring entry, avail->idx) is loaded exactly once, with a
 *    volatile or atomic load, into a local; checks and uses see the local;
 *  - host pointers come only from vq->mem->translate(), called on the
 *    checked (addr, len) local, so a segment is always inside guest RAM;
 *  - the device never reads back what it wrote (used->idx is our copy).
 * Buffer contents may of course change under the device: backends copy
 * what they parse (virtq_chain_read()) before validating it.
 *
 * The guest layout is little-endian (2.4: VERSION_1 devices); the
 * le*toh/htole* calls are no-ops on x86 but keep the intent visible. */
#include "devices/virtio/virtqueue.h"

#include "core/error.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* The popped chain handed out by virtq_pop() and its segment array live in
 * one allocation made by virtq_init(). struct virtq has room only for the
 * segment pointer, so the chain header sits just before the segments. */
struct virtq_chain_store {
    struct virtq_chain chain;
    struct virtq_seg seg[];
};

static struct virtq_chain *chain_of(struct virtq *vq)
{
    return &((struct virtq_chain_store *)((uint8_t *)vq->segs -
                                          offsetof(struct virtq_chain_store, seg)))
                ->chain;
}

/* Offsets inside the rings (2.7.6, 2.7.8). */
#define AVAIL_FLAGS 0u
#define AVAIL_IDX 2u
#define AVAIL_RING(i) (4u + 2u * (uint32_t)(i))
#define USED_FLAGS 0u
#define USED_IDX 2u
#define USED_ELEM(i) (4u + 8u * (uint32_t)(i))

/* Single loads and stores of guest memory. The ring fields are naturally
 * aligned: virtq_enable() checked the area alignment (2.7.2), and guest RAM
 * is mapped at page-aligned host addresses. */
static uint16_t load16(const uint8_t *p)
{
    return le16toh(__atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED));
}

static uint16_t load16_acquire(const uint8_t *p)
{
    return le16toh(__atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE));
}

static void store16(uint8_t *p, uint16_t v)
{
    __atomic_store_n((uint16_t *)p, htole16(v), __ATOMIC_RELAXED);
}

static void store16_release(uint8_t *p, uint16_t v)
{
    __atomic_store_n((uint16_t *)p, htole16(v), __ATOMIC_RELEASE);
}

static void store32(uint8_t *p, uint32_t v)
{
    __atomic_store_n((uint32_t *)p, htole32(v), __ATOMIC_RELAXED);
}

/* Reads one descriptor once into *d. Descriptor tables in the ring are
 * 16-byte aligned; an indirect table has no alignment rule in 2.7.5.3, so
 * an unaligned one is read byte by byte (still once, through volatile). */
static void read_desc(const uint8_t *p, struct virtq_desc *d)
{
    if (((uintptr_t)p & 7u) == 0) {
        const volatile struct virtq_desc *g = (const volatile struct virtq_desc *)p;
        d->addr = le64toh(g->addr);
        d->len = le32toh(g->len);
        d->flags = le16toh(g->flags);
        d->next = le16toh(g->next);
        return;
    }
    uint8_t raw[sizeof(*d)];
    const volatile uint8_t *g = p;
    for (size_t i = 0; i < sizeof(raw); i++)
        raw[i] = g[i];
    memcpy(d, raw, sizeof(raw));
    d->addr = le64toh(d->addr);
    d->len = le32toh(d->len);
    d->flags = le16toh(d->flags);
    d->next = le16toh(d->next);
}

/* Entries an indirect table may hold. Linux builds indirect chains longer
 * than the ring when a request has more segments than the queue has
 * entries (virtqueue_add_split() only warns for direct chains), so a table
 * may hold the queue size or 1024 entries, whichever is more: QEMU's
 * VIRTQUEUE_MAX_SIZE, the longest chain it accepts. */
#define VIRTQ_INDIRECT_FLOOR 1024u
#define VIRTQ_INDIRECT_MAX(size) \
    ((size) > VIRTQ_INDIRECT_FLOOR ? (uint32_t)(size) : VIRTQ_INDIRECT_FLOOR)

static bool is_pow2(uint32_t v)
{
    return v != 0 && (v & (v - 1)) == 0;
}

int virtq_init(struct virtq *vq, const char *dev_name, uint16_t index, uint16_t max_size)
{
    memset(vq, 0, sizeof(*vq));
    if (!is_pow2(max_size) || max_size > VIRTQ_MAX_SIZE)
        return vmm_err(-EINVAL, "virtq_init: %s queue %u: maximum size %u is not a power of two "
                                "in 1 .. %u",
                       dev_name, index, max_size, VIRTQ_MAX_SIZE);
    /* A chain: up to max_size direct descriptors, then an indirect table
     * of up to VIRTQ_INDIRECT_MAX(max_size) entries. */
    size_t nseg = (size_t)max_size + VIRTQ_INDIRECT_MAX(max_size);
    struct virtq_chain_store *store = calloc(1, sizeof(*store) + nseg * sizeof(store->seg[0]));
    if (!store)
        return vmm_err(-ENOMEM, "virtq_init: %s queue %u: no memory for %u segments",
                       dev_name, index, max_size);
    store->chain.seg = store->seg;
    vq->dev_name = dev_name;
    vq->index = index;
    vq->max_size = max_size;
    vq->segs = store->seg;
    virtq_reset(vq);
    return 0;
}

void virtq_fini(struct virtq *vq)
{
    if (vq->segs)
        free((uint8_t *)vq->segs - offsetof(struct virtq_chain_store, seg));
    vq->segs = NULL;
}

/* 2.7.6 / 2.7.8: both indices start at 0 when a queue goes live, and no
 * host pointer survives into its next life. */
static void ring_state_reset(struct virtq *vq)
{
    vq->last_avail = 0;
    vq->used_idx = 0;
    vq->signalled_used = 0;
    vq->signalled_valid = false;
    vq->desc = NULL;
    vq->avail = NULL;
    vq->used = NULL;
}

void virtq_reset(struct virtq *vq)
{
    vq->size = vq->max_size;
    vq->msix_vector = VIRTIO_MSI_NO_VECTOR;
    vq->desc_gpa = vq->avail_gpa = vq->used_gpa = 0;
    vq->enabled = false;
    vq->event_idx = false;
    vq->indirect = false;
    vq->mem = NULL;
    ring_state_reset(vq);
}

/* [a, a + alen) and [b, b + blen) intersect (neither wraps: checked). */
static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

/* One ring area: inside guest RAM as a whole (no wrap past 2^64). */
static int check_area(const struct virtq *vq, const struct virtio_mem *mem, const char *what,
                      uint64_t gpa, uint64_t len)
{
    if (gpa > UINT64_MAX - len || !mem->translate(mem->ctx, gpa, len))
        return vmm_err(-EPROTO, "%s queue %u: %s 0x%" PRIx64 " + %" PRIu64 " is outside guest RAM",
                       vq->dev_name, vq->index, what, gpa, len);
    return 0;
}

int virtq_enable(struct virtq *vq, const struct virtio_mem *mem, bool event_idx, bool indirect)
{
    vq->enabled = false;
    /* 2.7: Queue Size is a power of two, at most what the device offers;
     * 0 would make every index check (idx < size) meaningless. */
    if (!is_pow2(vq->size) || vq->size > vq->max_size)
        return vmm_err(-EPROTO, "%s queue %u: queue size %u is not a power of two in 1 .. %u",
                       vq->dev_name, vq->index, vq->size, vq->max_size);
    /* 2.7.2 Table "Virtqueue Part Alignment". */
    if (vq->desc_gpa & 15u)
        return vmm_err(-EPROTO,
                       "%s queue %u: descriptor table address 0x%" PRIx64 " is not 16-byte aligned",
                       vq->dev_name, vq->index, vq->desc_gpa);
    if (vq->avail_gpa & 1u)
        return vmm_err(-EPROTO,
                       "%s queue %u: available ring address 0x%" PRIx64 " is not 2-byte aligned",
                       vq->dev_name, vq->index, vq->avail_gpa);
    if (vq->used_gpa & 3u)
        return vmm_err(-EPROTO,
                       "%s queue %u: used ring address 0x%" PRIx64 " is not 4-byte aligned",
                       vq->dev_name, vq->index, vq->used_gpa);

    /* The event-index fields are always included: the layout reserves them
     * whether or not EVENT_IDX is negotiated. */
    uint64_t desc_len = VIRTQ_DESC_BYTES(vq->size);
    uint64_t avail_len = VIRTQ_AVAIL_BYTES(vq->size);
    uint64_t used_len = VIRTQ_USED_BYTES(vq->size);
    int rc = check_area(vq, mem, "descriptor table", vq->desc_gpa, desc_len);
    if (rc == 0)
        rc = check_area(vq, mem, "available ring", vq->avail_gpa, avail_len);
    if (rc == 0)
        rc = check_area(vq, mem, "used ring", vq->used_gpa, used_len);
    if (rc < 0)
        return rc;

    /* The used ring is the only area the device writes: if it overlapped
     * what the device reads, our own writes would forge descriptors or
     * avail entries. */
    if (ranges_overlap(vq->used_gpa, used_len, vq->desc_gpa, desc_len))
        return vmm_err(-EPROTO, "%s queue %u: used ring 0x%" PRIx64 " + %" PRIu64
                       " overlaps the descriptor table 0x%" PRIx64 " + %" PRIu64,
                       vq->dev_name, vq->index, vq->used_gpa, used_len, vq->desc_gpa, desc_len);
    if (ranges_overlap(vq->used_gpa, used_len, vq->avail_gpa, avail_len))
        return vmm_err(-EPROTO, "%s queue %u: used ring 0x%" PRIx64 " + %" PRIu64
                       " overlaps the available ring 0x%" PRIx64 " + %" PRIu64,
                       vq->dev_name, vq->index, vq->used_gpa, used_len, vq->avail_gpa, avail_len);

    vq->mem = mem;
    vq->event_idx = event_idx;
    vq->indirect = indirect;
    ring_state_reset(vq);
    vq->enabled = true;
    return 0;
}

int virtq_begin(struct virtq *vq)
{
    vq->desc = NULL;
    vq->avail = NULL;
    vq->used = NULL;
    if (!vq->enabled || !vq->mem)
        return vmm_err(-EPROTO, "%s queue %u: used before it was enabled", vq->dev_name, vq->index);
    const struct virtio_mem *mem = vq->mem;
    void *desc = mem->translate(mem->ctx, vq->desc_gpa, VIRTQ_DESC_BYTES(vq->size));
    void *avail = mem->translate(mem->ctx, vq->avail_gpa, VIRTQ_AVAIL_BYTES(vq->size));
    void *used = mem->translate(mem->ctx, vq->used_gpa, VIRTQ_USED_BYTES(vq->size));
    if (!desc || !avail || !used)
        return vmm_err(-EPROTO, "%s queue %u: rings (desc 0x%" PRIx64 ", avail 0x%" PRIx64
                       ", used 0x%" PRIx64 ") are no longer inside guest RAM",
                       vq->dev_name, vq->index, vq->desc_gpa, vq->avail_gpa, vq->used_gpa);
    /* The ring loads are naturally aligned only if the host mapping keeps
     * the guest alignment (RAM is page-aligned; a translator that is not
     * would make them misaligned). */
    if (((uintptr_t)desc & 15u) || ((uintptr_t)avail & 1u) || ((uintptr_t)used & 3u))
        return vmm_err(-EPROTO, "%s queue %u: rings are mapped at misaligned host addresses",
                       vq->dev_name, vq->index);
    vq->desc = desc;
    vq->avail = avail;
    vq->used = used;
    return 0;
}

/* Where the chain walk is, for error sentences. */
static const char *where(bool in_indirect)
{
    return in_indirect ? "indirect descriptor" : "descriptor";
}

/* 2.7.5 / 2.7.5.3: walks the chain at @head into vq's chain storage. */
static int walk_chain(struct virtq *vq, uint16_t head, struct virtq_chain *c)
{
    const struct virtio_mem *mem = vq->mem;
    const uint8_t *table = (const uint8_t *)vq->desc;
    uint32_t table_len = vq->size;
    bool in_indirect = false;
    bool seen_writable = false;
    uint32_t n_desc = 0;        /* descriptors seen in the current table, zero-length included */
    uint64_t out_bytes = 0, in_bytes = 0;
    uint16_t n_out = 0, n_in = 0;
    uint16_t i = head;

    for (;;) {
        struct virtq_desc d;
        read_desc(table + 16u * (uint32_t)i, &d);

        /* 2.7.5.3.2: zero or more direct descriptors, then one
         * descriptor referring to an indirect table (WRITE ignored). */
        if (d.flags & VIRTQ_DESC_F_INDIRECT) {
            if (!vq->indirect)
                return vmm_err(-EPROTO, "%s queue %u: descriptor %u has INDIRECT without "
                                        "VIRTIO_F_INDIRECT_DESC (flags 0x%x)",
                               vq->dev_name, vq->index, i, d.flags);
            if (in_indirect)
                return vmm_err(-EPROTO, "%s queue %u: indirect descriptor %u refers to an "
                                        "indirect table inside an indirect table (flags 0x%x)",
                               vq->dev_name, vq->index, i, d.flags);
            /* 2.7.5.3.1: the driver MUST NOT set both INDIRECT and NEXT. */
            if (d.flags & VIRTQ_DESC_F_NEXT)
                return vmm_err(-EPROTO, "%s queue %u: descriptor %u has both INDIRECT and NEXT "
                                        "(flags 0x%x)",
                               vq->dev_name, vq->index, i, d.flags);
            if (d.len == 0)
                return vmm_err(-EPROTO, "%s queue %u: descriptor %u refers to an empty indirect "
                                        "table (len 0)",
                               vq->dev_name, vq->index, i);
            if (d.len % sizeof(struct virtq_desc))
                return vmm_err(-EPROTO, "%s queue %u: descriptor %u: indirect table length %u is "
                                        "not a multiple of 16",
                               vq->dev_name, vq->index, i, d.len);
            if (d.len / sizeof(struct virtq_desc) > VIRTQ_INDIRECT_MAX(vq->size))
                return vmm_err(-EPROTO, "%s queue %u: descriptor %u: indirect table of %u entries "
                                        "is longer than %u",
                               vq->dev_name, vq->index, i, d.len / 16u,
                               VIRTQ_INDIRECT_MAX(vq->size));
            const uint8_t *ind = NULL;
            if (d.addr <= UINT64_MAX - d.len)
                ind = mem->translate(mem->ctx, d.addr, d.len);
            if (!ind)
                return vmm_err(-EPROTO, "%s queue %u: descriptor %u: indirect table 0x%" PRIx64
                                        " + %u is outside guest RAM",
                               vq->dev_name, vq->index, i, d.addr, d.len);
            table = ind;
            table_len = d.len / 16u;
            in_indirect = true;
            n_desc = 0; /* the table's own count, bounded by its length */
            i = 0; /* 2.7.5.3: the first indirect descriptor is at the start */
            continue;
        }

        /* 2.7.5.3.1 / 2.7.13.1: a direct chain is at most Queue Size
         * descriptors, an indirect one at most its table's length; with
         * unique indices this also catches every loop. */
        if (++n_desc > table_len)
            return vmm_err(-EPROTO, "%s queue %u: chain from head %u is longer than %u %s (a "
                                    "loop?)",
                           vq->dev_name, vq->index, head, table_len,
                           in_indirect ? "indirect descriptors" : "descriptors");

        bool writable = d.flags & VIRTQ_DESC_F_WRITE;
        /* 2.7.4.2: device-writable descriptors come after readable ones. */
        if (!writable && seen_writable)
            return vmm_err(-EPROTO, "%s queue %u: %s %u is readable after a writable one (flags "
                                    "0x%x)",
                           vq->dev_name, vq->index, where(in_indirect), i, d.flags);
        seen_writable |= writable;

        if (d.len != 0) {
            if (d.addr > UINT64_MAX - d.len)
                return vmm_err(-EPROTO,
                               "%s queue %u: %s %u: buffer 0x%" PRIx64 " + %u wraps past 2^64",
                               vq->dev_name, vq->index, where(in_indirect), i, d.addr, d.len);
            uint8_t *base = mem->translate(mem->ctx, d.addr, d.len);
            if (!base)
                return vmm_err(-EPROTO, "%s queue %u: %s %u: buffer 0x%" PRIx64
                                        " + %u is outside guest RAM",
                               vq->dev_name, vq->index, where(in_indirect), i, d.addr, d.len);
            if (writable) {
                in_bytes += d.len;
                if (in_bytes > UINT32_MAX)
                    return vmm_err(-EPROTO, "%s queue %u: chain from head %u has writable bytes "
                                            "over UINT32_MAX (%" PRIu64 ")",
                                   vq->dev_name, vq->index, head, in_bytes);
                n_in++;
            } else {
                out_bytes += d.len;
                if (out_bytes > UINT32_MAX)
                    return vmm_err(-EPROTO, "%s queue %u: chain from head %u has readable bytes "
                                            "over UINT32_MAX (%" PRIu64 ")",
                                   vq->dev_name, vq->index, head, out_bytes);
                n_out++;
            }
            /* n_out + n_in <= size + VIRTQ_INDIRECT_MAX(size): inside segs. */
            c->seg[n_out + n_in - 1] = (struct virtq_seg){ .base = base, .len = d.len };
        }

        if (!(d.flags & VIRTQ_DESC_F_NEXT))
            break;
        if (d.next >= table_len)
            return vmm_err(-EPROTO, "%s queue %u: %s %u: next index %u is outside the %s (%u "
                                    "entries)",
                           vq->dev_name, vq->index, where(in_indirect), i, d.next,
                           in_indirect ? "indirect table" : "queue", table_len);
        i = d.next;
    }

    c->head = head;
    c->n_out = n_out;
    c->n_in = n_in;
    c->out_bytes = (uint32_t)out_bytes;
    c->in_bytes = (uint32_t)in_bytes;
    return 0;
}

int virtq_pop(struct virtq *vq, struct virtq_chain **out)
{
    if (!vq->enabled || !vq->desc || !vq->avail)
        return vmm_err(-EPROTO, "%s queue %u: popped without virtq_begin() on an enabled queue",
                       vq->dev_name, vq->index);
    /* 2.7.13.3 (device side of 2.7.6): read idx, then the entries it
     * publishes; acquire orders the two. */
    uint16_t avail_idx = load16_acquire(vq->avail + AVAIL_IDX);
    uint16_t pending = (uint16_t)(avail_idx - vq->last_avail);
    if (pending > vq->size)
        return vmm_err(-EPROTO, "%s queue %u: avail idx %u is %u entries ahead of the %u consumed "
                                "(queue size %u)",
                       vq->dev_name, vq->index, avail_idx, pending, vq->last_avail, vq->size);
    if (pending == 0)
        return 0;

    uint16_t head = load16(vq->avail + AVAIL_RING(vq->last_avail & (vq->size - 1u)));
    vq->last_avail++; /* consumed even on a violation: the device is broken then */
    if (head >= vq->size)
        return vmm_err(-EPROTO, "%s queue %u: head descriptor index %u is outside the queue (size "
                                "%u)",
                       vq->dev_name, vq->index, head, vq->size);

    struct virtq_chain *c = chain_of(vq);
    int rc = walk_chain(vq, head, c);
    if (rc < 0)
        return rc;
    *out = c;
    return 1;
}

void virtq_push(struct virtq *vq, uint16_t head, uint32_t written)
{
    if (!vq->used)
        return; /* caller bug: no virtq_begin(); nothing safe to write to */
    /* 2.7.8 / 2.7.14: the element, then (release) the index that
     * publishes it. */
    uint8_t *elem = vq->used + USED_ELEM(vq->used_idx & (vq->size - 1u));
    store32(elem, head);
    store32(elem + 4, written);
    vq->used_idx++;
    store16_release(vq->used + USED_IDX, vq->used_idx);
}

/* 2.7.10: "new_idx - event_idx - 1 < new_idx - old_idx" in 16 bits: the
 * driver's used_event lies in [old, new). */
static bool vring_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx)
{
    return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old_idx);
}

bool virtq_should_notify(struct virtq *vq)
{
    if (!vq->used || !vq->avail)
        return false;
    /* Our used->idx store must be visible before we read the driver's
     * suppression state, or driver and device can each miss the other
     * (2.7.10: the driver re-checks after writing used_event). */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);

    uint16_t old_idx = vq->signalled_used;
    uint16_t new_idx = vq->used_idx;
    bool valid = vq->signalled_valid;
    bool notify;
    if (vq->event_idx) {
        uint16_t used_event = load16(vq->avail + AVAIL_RING(vq->size));
        notify = !valid || vring_need_event(used_event, new_idx, old_idx);
        /* As vhost and QEMU do: the window for the next check starts here,
         * whether or not this one fired. Otherwise a driver that suppresses
         * interrupts for 65536 buffers would wrap new - old to 0 and
         * never be notified again. */
        vq->signalled_used = new_idx;
        vq->signalled_valid = true;
        return notify;
    }
    /* 2.7.7: without EVENT_IDX the flag is the only hint. */
    if (valid && new_idx == old_idx)
        return false; /* nothing pushed since the last interrupt */
    notify = !(load16(vq->avail + AVAIL_FLAGS) & VIRTQ_AVAIL_F_NO_INTERRUPT);
    if (notify) {
        vq->signalled_used = new_idx;
        vq->signalled_valid = true;
    }
    return notify;
}

bool virtq_enable_notify(struct virtq *vq)
{
    if (!vq->used || !vq->avail)
        return false;
    if (vq->event_idx)
        store16(vq->used + USED_ELEM(vq->size), vq->last_avail); /* avail_event */
    else
        store16(vq->used + USED_FLAGS, 0); /* clear VIRTQ_USED_F_NO_NOTIFY */
    /* The store above must be visible before we look at avail->idx again:
     * a driver that added a buffer before seeing it did not kick. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return load16_acquire(vq->avail + AVAIL_IDX) != vq->last_avail;
}

/* Copies between a flat buffer and segments [first, first + n), starting
 * @off bytes into them: into the segments from @src, or out of them into
 * @dst (exactly one of the two is set). */
static size_t copy_segs(const struct virtq_chain *c, uint32_t first, uint32_t n, size_t off,
                        uint8_t *dst, const uint8_t *src, size_t len)
{
    size_t done = 0;
    for (uint32_t k = first; k < first + n && done < len; k++) {
        const struct virtq_seg *s = &c->seg[k];
        if (off >= s->len) {
            off -= s->len;
            continue;
        }
        size_t chunk = s->len - off;
        if (chunk > len - done)
            chunk = len - done;
        if (src)
            memcpy(s->base + off, src + done, chunk);
        else
            memcpy(dst + done, s->base + off, chunk);
        done += chunk;
        off = 0;
    }
    return done;
}

size_t virtq_chain_read(const struct virtq_chain *c, size_t off, void *dst, size_t len)
{
    return copy_segs(c, 0, c->n_out, off, dst, NULL, len);
}

size_t virtq_chain_write(const struct virtq_chain *c, size_t off, const void *src, size_t len)
{
    return copy_segs(c, c->n_out, c->n_in, off, NULL, src, len);
}
