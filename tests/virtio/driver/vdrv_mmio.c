/* virtio-mmio version 2 from the driver side (virtio 1.2 §4.2.2, §4.2.3),
 * at the windows named by virtio_mmio.device= words. */
#include "vdrv_int.h"

#define R_MAGIC 0x000
#define R_VERSION 0x004
#define R_DEVICE_ID 0x008
#define R_DEV_FEATURES 0x010
#define R_DEV_FEATURES_SEL 0x014
#define R_DRV_FEATURES 0x020
#define R_DRV_FEATURES_SEL 0x024
#define R_QUEUE_SEL 0x030
#define R_QUEUE_NUM_MAX 0x034
#define R_QUEUE_NUM 0x038
#define R_QUEUE_READY 0x044
#define R_QUEUE_NOTIFY 0x050
#define R_INT_STATUS 0x060
#define R_INT_ACK 0x064
#define R_STATUS 0x070
#define R_QUEUE_DESC 0x080
#define R_QUEUE_DRIVER 0x090
#define R_QUEUE_DEVICE 0x0a0
#define R_CONFIG 0x100
#define MAGIC 0x74726976u /* "virt" */

static uint32_t rd(struct vdrv_dev *d, uint32_t off)
{
    return (uint32_t)d->bus->mmio_read(d->bus->ctx, d->base + off, 4);
}

static void wr(struct vdrv_dev *d, uint32_t off, uint32_t v)
{
    d->bus->mmio_write(d->bus->ctx, d->base + off, 4, v);
}

static uint8_t mmio_get_status(struct vdrv_dev *d)
{
    return (uint8_t)rd(d, R_STATUS);
}

static void mmio_set_status(struct vdrv_dev *d, uint8_t st)
{
    wr(d, R_STATUS, st);
}

static uint32_t mmio_get_features(struct vdrv_dev *d, uint32_t sel)
{
    wr(d, R_DEV_FEATURES_SEL, sel);
    return rd(d, R_DEV_FEATURES);
}

static void mmio_set_features(struct vdrv_dev *d, uint32_t sel, uint32_t val)
{
    wr(d, R_DRV_FEATURES_SEL, sel);
    wr(d, R_DRV_FEATURES, val);
}

static uint32_t mmio_queue_max(struct vdrv_dev *d, struct vdrv_vq *vq)
{
    wr(d, R_QUEUE_SEL, vq->index);
    /* 4.2.3.2: the queue must not be in use already. */
    if (rd(d, R_QUEUE_READY) != 0)
        return 0;
    return rd(d, R_QUEUE_NUM_MAX);
}

static int mmio_queue_enable(struct vdrv_dev *d, struct vdrv_vq *vq)
{
    wr(d, R_QUEUE_SEL, vq->index);
    wr(d, R_QUEUE_NUM, vq->size);
    wr(d, R_QUEUE_DESC, (uint32_t)vq->desc_gpa);
    wr(d, R_QUEUE_DESC + 4, (uint32_t)(vq->desc_gpa >> 32));
    wr(d, R_QUEUE_DRIVER, (uint32_t)vq->avail_gpa);
    wr(d, R_QUEUE_DRIVER + 4, (uint32_t)(vq->avail_gpa >> 32));
    wr(d, R_QUEUE_DEVICE, (uint32_t)vq->used_gpa);
    wr(d, R_QUEUE_DEVICE + 4, (uint32_t)(vq->used_gpa >> 32));
    wr(d, R_QUEUE_READY, 1);
    return rd(d, R_QUEUE_READY) == 1 ? 0 : -1;
}

static void mmio_notify(struct vdrv_dev *d, struct vdrv_vq *vq)
{
    wr(d, R_QUEUE_NOTIFY, vq->index);
}

static uint64_t mmio_cfg_read(struct vdrv_dev *d, uint32_t off, uint32_t len)
{
    return d->bus->mmio_read(d->bus->ctx, d->base + R_CONFIG + off, len);
}

static void mmio_intr_ack(struct vdrv_dev *d)
{
    /* 4.2.2: writing the bits read from InterruptStatus deasserts the line. */
    uint32_t st = rd(d, R_INT_STATUS);
    if (st != 0)
        wr(d, R_INT_ACK, st);
}

static const struct vdrv_ops mmio_ops = {
    mmio_get_status, mmio_set_status, mmio_get_features, mmio_set_features,
    mmio_queue_max, mmio_queue_enable, mmio_notify, mmio_cfg_read, mmio_intr_ack,
    NULL, NULL,
};

void vdrv_mmio_probe(struct vdrv_run *r)
{
    const struct vdrv_opts *o = r->opts;

    for (uint32_t i = 0; i < o->nmmio && i < VDRV_MAX_MMIO; i++) {
        struct vdrv_dev d;
        vd_memset(&d, 0, sizeof(d));
        d.run = r;
        d.bus = r->bus;
        d.opts = o;
        d.ops = &mmio_ops;
        d.tname = "mmio";
        d.base = o->mmio[i].base;
        vd_memcpy(d.name, "mmio", 5);
        if (o->mmio[i].size < R_CONFIG || d.base >= 0x100000000ull) {
            vd_result(&d, "window", 0, "window too small or above 4 GiB");
            continue;
        }
        uint32_t magic = rd(&d, R_MAGIC), version = rd(&d, R_VERSION);
        struct vstr v;
        vs_init(&v);
        vs_str(&v, "base=");
        vs_hex(&v, d.base);
        if (magic != MAGIC) {
            vs_str(&v, " bad magic ");
            vs_hex(&v, magic);
            vd_result(&d, "magic", 0, v.buf);
            continue;
        }
        if (version != 2) {
            /* Legacy (version 1) is not what we test: say so, go on. */
            vs_str(&v, " version=");
            vs_dec(&v, version);
            vs_str(&v, " skipped (not virtio 1.x)\n");
            vd_log(r->bus, "vdrv: ");
            vd_log(r->bus, v.buf);
            continue;
        }
        d.device_id = rd(&d, R_DEVICE_ID);
        if (d.device_id == 0)
            continue; /* 4.2.3.1.1: a placeholder with no device */
        vdrv_test_device(&d);
    }
}
