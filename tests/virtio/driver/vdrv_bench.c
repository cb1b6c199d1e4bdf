/* vt.bench=N: the virtio-blk benchmark from the guest side, for
 * bench/virtio_blk_guest.sh (libvmm against QEMU on the same image, same
 * kernel, same command line). Three timed phases at queue depth 1, one
 * request in flight as a simple guest's synchronous I/O has:
 *   randread4k   N reads of 4 KiB at pseudo-random 4 KiB-aligned offsets
 *   seqread64k   N/8 reads of 64 KiB, sequential
 *   seqwrite64k  N/8 writes of 64 KiB, sequential
 * Each reports "VT <t> blk bench_<phase> ok reqs=R bytes=B cycles=C" with
 * C in TSC cycles (rdtsc); the host converts with its TSC frequency. Header
 * and status live in one preallocated slot, so the arena does not grow with
 * N. */
#include "vdrv_int.h"

#define SECTOR 512u
#define T_IN 0
#define T_OUT 1
#define BUF_BYTES 65536u

/* Plain rdtsc: no lfence before it, which KVM's instruction emulator (it
 * runs CPL0 code on our nested hosts) does not implement. The requests are
 * waited for one by one, so there is nothing to order it against. */
static uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
}

struct slot {
    uint64_t hdr_gpa, st_gpa, buf_gpa;
    uint8_t *hdr, *st, *buf;
};

/* One request, waited for; 0 on success. */
static int request(struct vdrv_dev *d, struct slot *s, uint32_t type, uint64_t sector,
                   uint32_t len)
{
    st32(s->hdr, type);
    st32(s->hdr + 4, 0);
    st64(s->hdr + 8, sector);
    s->st[0] = 0xff;
    struct vdrv_buf b[3] = {
        { s->hdr_gpa, 16, 0 },
        { s->buf_gpa, len, type == T_IN },
        { s->st_gpa, 1, 1 },
    };
    uint32_t id, ulen;
    if (vq_submit(d, &d->vq[0], b, 3, d->opts->indirect) < 0 ||
        vq_poll(d, &d->vq[0], &id, &ulen) != 0)
        return -1;
    return ((volatile uint8_t *)s->st)[0] == 0 ? 0 : -1;
}

/* @shift: log2 of the request's sectors (32-bit arithmetic only: the guest
 * is 32-bit and has no libgcc for 64-bit division). */
static void phase(struct vdrv_dev *d, struct slot *s, const char *name, uint32_t type,
                  uint32_t shift, uint32_t reqs, uint64_t capacity, int random)
{
    uint32_t len = SECTOR << shift;
    uint64_t nblocks = capacity >> shift;
    uint32_t blocks = nblocks > 0x7fffffffu ? 0x7fffffffu : (uint32_t)nblocks, seed = 1;
    struct vstr v;
    if (blocks == 0)
        return (void)vd_result(d, name, 0, "disk too small");
    uint64_t t0 = rdtsc();
    for (uint32_t i = 0, block = 0; i < reqs; i++) {
        if (random) {
            seed = seed * 1103515245u + 12345u;
            block = (seed >> 4) % blocks;
        } else {
            block = block + 1 < blocks ? block + 1 : 0;
        }
        if (request(d, s, type, (uint64_t)block << shift, len) != 0) {
            vs_init(&v);
            vs_str(&v, "request ");
            vs_dec(&v, i);
            vs_str(&v, " failed");
            return (void)vd_result(d, name, 0, v.buf);
        }
    }
    uint64_t cycles = rdtsc() - t0;
    vs_init(&v);
    vs_str(&v, "reqs=");
    vs_dec(&v, reqs);
    vs_str(&v, " bytes=");
    vs_dec(&v, (uint64_t)reqs * len);
    vs_str(&v, " cycles=");
    vs_dec(&v, cycles);
    vd_result(d, name, 1, v.buf);
}

void vdrv_blk_bench(struct vdrv_dev *d)
{
    /* VIRTIO_BLK_F_RO (5.2.3): a read-only disk gets the read phases only. */
    if (vdrv_init(d, FBIT(5)) != 0 || vdrv_queue_setup(d, 0) != 0 || vdrv_driver_ok(d) != 0)
        return;
    uint64_t capacity = d->ops->cfg_read(d, 0, 4) | d->ops->cfg_read(d, 4, 4) << 32;
    struct slot s;
    s.hdr_gpa = vd_alloc(d->run, 16, 16, &s.hdr);
    s.st_gpa = vd_alloc(d->run, 1, 1, &s.st);
    s.buf_gpa = vd_alloc(d->run, BUF_BYTES, 4096, &s.buf);
    if (s.hdr_gpa == 0 || s.st_gpa == 0 || s.buf_gpa == 0)
        return (void)vd_result(d, "bench", 0, "arena exhausted");
    uint32_t n = d->opts->bench;
    phase(d, &s, "bench_randread4k", T_IN, 3, n, capacity, 1);
    phase(d, &s, "bench_seqread64k", T_IN, 7, n / 8 ? n / 8 : 1, capacity, 0);
    if (!(d->features & FBIT(5)))
        phase(d, &s, "bench_seqwrite64k", T_OUT, 7, n / 8 ? n / 8 : 1, capacity, 0);
}
