/* libFuzzer target for the split virtqueue (lib/devices/virtio/virtqueue.c).
 *
 * The input is a queue set-up and a guest memory image:
 *   byte  0      flags: bit 0 EVENT_IDX, bit 1 INDIRECT_DESC, bit 2 write
 *                into writable segments, bit 3 the "guest" flips RAM bytes
 *                whenever the device translates (a concurrent rewrite),
 *                bits 4-7 log2 of the device's max queue size (capped at 10)
 *   bytes 1-2    queue size the driver chose (any value: enable checks it)
 *   bytes 3-8    desc, avail, used GPAs (le16 each)
 *   bytes 9-10   RAM length (le16; 0 means 65536)
 *   bytes 11-    RAM contents from GPA 0 (the rest is zero)
 * It enables the queue, pops every chain (a few rounds, re-arming
 * notifications in between), pushes each back, asks whether to interrupt
 * every other chain, and aborts if a segment
 * or ring pointer lies outside the fake RAM or a chain's counts are off.
 * RAM is an exact-size heap block, so ASan also catches any stray access. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio/virtqueue.h"

struct fuzz_ram {
    uint8_t *base;
    uint64_t len;
    bool flip;        /* rewrite guest memory during translations */
    uint64_t flips;
};

static void *fuzz_translate(void *ctx, uint64_t gpa, uint64_t len)
{
    struct fuzz_ram *r = ctx;
    if (r->flip && r->len) {
        /* The guest changes something somewhere in RAM: rings, tables or
         * descriptors the device may be in the middle of reading. */
        r->flips = r->flips * 6364136223846793005ull + 1442695040888963407ull;
        r->base[(r->flips >> 33) % r->len] ^= (uint8_t)(r->flips >> 24);
    }
    if (len > r->len || gpa > r->len - len)
        return NULL;
    return r->base + gpa;
}

static void check_inside(const struct fuzz_ram *r, const void *p, uint64_t len)
{
    const uint8_t *b = p;
    if (!b || b < r->base || len > r->len || (uint64_t)(b - r->base) > r->len - len)
        abort();
}

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static void check_chain(const struct virtq *vq, const struct fuzz_ram *r,
                        const struct virtq_chain *c)
{
    if ((uint32_t)c->n_out + c->n_in > vq->size || c->head >= vq->size)
        abort();
    uint64_t out = 0, in = 0;
    for (uint32_t k = 0; k < (uint32_t)c->n_out + c->n_in; k++) {
        if (c->seg[k].len == 0)
            abort(); /* zero-length descriptors are dropped */
        check_inside(r, c->seg[k].base, c->seg[k].len);
        if (k < c->n_out)
            out += c->seg[k].len;
        else
            in += c->seg[k].len;
    }
    if (out != c->out_bytes || in != c->in_bytes)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum { HDR = 11 };
    if (size < HDR)
        return 0;
    uint8_t flags = data[0];
    unsigned max_log2 = flags >> 4;
    if (max_log2 > 10)
        max_log2 = 10;
    uint64_t ram_len = le16(data + 9);
    if (ram_len == 0)
        ram_len = 65536;

    struct fuzz_ram r = { .len = ram_len, .flip = flags & 8u };
    r.base = calloc(1, ram_len);
    if (!r.base)
        return 0;
    size_t image = size - HDR < ram_len ? size - HDR : ram_len;
    memcpy(r.base, data + HDR, image);
    const struct virtio_mem mem = { .translate = fuzz_translate, .ctx = &r };

    struct virtq vq;
    if (virtq_init(&vq, "fuzz", 0, (uint16_t)(1u << max_log2)) != 0)
        abort();
    vq.size = le16(data + 1);
    vq.desc_gpa = le16(data + 3);
    vq.avail_gpa = le16(data + 5);
    vq.used_gpa = le16(data + 7);

    static uint8_t scratch[4096];
    if (virtq_enable(&vq, &mem, flags & 1u, flags & 2u) == 0) {
        for (int round = 0; round < 3; round++) {
            if (virtq_begin(&vq) != 0)
                break;
            check_inside(&r, vq.desc, VIRTQ_DESC_BYTES(vq.size));
            check_inside(&r, vq.avail, VIRTQ_AVAIL_BYTES(vq.size));
            check_inside(&r, vq.used, VIRTQ_USED_BYTES(vq.size));
            struct virtq_chain *c;
            int rc = 0;
            /* Writes into segments can move avail->idx: bound the pops. */
            for (unsigned n = 0; n < 4u * vq.size + 4u; n++) {
                rc = virtq_pop(&vq, &c);
                if (rc <= 0)
                    break;
                check_chain(&vq, &r, c);
                size_t want = c->out_bytes < sizeof(scratch) ? c->out_bytes : sizeof(scratch);
                if (virtq_chain_read(c, c->out_bytes - want, scratch, sizeof(scratch)) != want)
                    abort();
                uint32_t written = 0;
                if (flags & 4u) {
                    memset(scratch, 0xa5, sizeof(scratch));
                    want = c->in_bytes < sizeof(scratch) ? c->in_bytes : sizeof(scratch);
                    written = (uint32_t)virtq_chain_write(c, 0, scratch, sizeof(scratch));
                    if (written != want)
                        abort();
                }
                virtq_push(&vq, c->head, written);
                if (n & 1u)
                    virtq_should_notify(&vq); /* an interrupt per two chains */
            }
            virtq_should_notify(&vq);
            if (rc < 0 || !virtq_enable_notify(&vq))
                break;
        }
    }
    virtq_fini(&vq);
    free(r.base);
    return 0;
}
