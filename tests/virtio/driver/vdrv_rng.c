/* virtio-rng test from the driver side (virtio 1.2 §5.4): one
 * device-writable buffer; the device fills up to its length. */
#include "vdrv_int.h"

#define RNG_BYTES 64u

void vdrv_rng_test(struct vdrv_dev *d)
{
    if (vdrv_init(d, 0) != 0 || vdrv_queue_setup(d, 0) != 0 || vdrv_driver_ok(d) != 0)
        return;
    uint8_t *buf;
    uint64_t gpa = vd_alloc(d->run, RNG_BYTES, 16, &buf);
    if (gpa == 0)
        return (void)vd_result(d, "entropy", 0, "arena exhausted");
    struct vdrv_buf b = { gpa, RNG_BYTES, 1 };
    struct vdrv_vq *vq = &d->vq[0];
    uint32_t id = 0, len = 0;
    struct vstr v;
    vs_init(&v);
    int head = vq_submit(d, vq, &b, 1, 0);
    if (head < 0 || vq_poll(d, vq, &id, &len) != 0 || id != (uint32_t)head)
        return (void)vd_result(d, "entropy", 0, "timeout");
    uint32_t nonzero = 0;
    for (uint32_t i = 0; i < len && i < RNG_BYTES; i++)
        nonzero += buf[i] != 0;
    vs_str(&v, "len=");
    vs_dec(&v, len);
    vs_str(&v, " nonzero=");
    vs_dec(&v, nonzero);
    vd_result(d, "entropy", len > 0 && len <= RNG_BYTES && nonzero > 0, v.buf);
}
