/* Device initialization common to both transports (virtio 1.2 §3.1.1) and
 * the per-device dispatch. */
#include "vdrv_int.h"

void vdrv_reset(struct vdrv_dev *d)
{
    d->ops->set_status(d, 0);
    /* 4.1.4.3.2 / 4.2.3.1: after writing 0 the driver MUST wait for the
     * status to read back 0 before reinitializing. */
    for (uint32_t i = 0; i < d->opts->poll_spins && d->ops->get_status(d) != 0; i++)
        if (d->bus->relax != NULL)
            d->bus->relax(d->bus->ctx);
}

int vdrv_init(struct vdrv_dev *d, uint64_t want)
{
    struct vstr v;
    vs_init(&v);

    vdrv_reset(d);
    if (d->ops->get_status(d) != 0)
        return vd_result(d, "init", 0, "reset did not complete") - 1;
    d->ops->set_status(d, ST_ACKNOWLEDGE);
    d->ops->set_status(d, ST_ACKNOWLEDGE | ST_DRIVER);

    uint64_t offered = (uint64_t)d->ops->get_features(d, 1) << 32 | d->ops->get_features(d, 0);
    if ((offered & FBIT(F_VERSION_1)) == 0) {
        vs_str(&v, "no VERSION_1: features=");
        vs_hex(&v, offered);
        d->ops->set_status(d, ST_FAILED);
        return vd_result(d, "init", 0, v.buf) - 1;
    }
    want |= FBIT(F_VERSION_1);
    if (d->opts->event_idx)
        want |= FBIT(F_EVENT_IDX);
    if (d->opts->indirect)
        want |= FBIT(F_INDIRECT_DESC);
    d->features = offered & want;
    d->ops->set_features(d, 0, (uint32_t)d->features);
    d->ops->set_features(d, 1, (uint32_t)(d->features >> 32));
    d->ops->set_status(d, ST_ACKNOWLEDGE | ST_DRIVER | ST_FEATURES_OK);
    /* 3.1.1 step 6: re-read status; FEATURES_OK must still be set. */
    uint8_t st = d->ops->get_status(d);
    vs_str(&v, "offered=");
    vs_hex(&v, offered);
    vs_str(&v, " accepted=");
    vs_hex(&v, d->features);
    if ((st & ST_FEATURES_OK) == 0) {
        vs_str(&v, " FEATURES_OK not kept, status=");
        vs_hex(&v, st);
        d->ops->set_status(d, ST_FAILED);
        return vd_result(d, "init", 0, v.buf) - 1;
    }
    vd_result(d, "init", 1, v.buf);
    if (d->ops->prepare != NULL)
        d->ops->prepare(d);
    return 0;
}

int vdrv_queue_setup(struct vdrv_dev *d, uint16_t index)
{
    struct vdrv_vq *vq = &d->vq[index];
    struct vstr v;
    vs_init(&v);

    vd_memset(vq, 0, sizeof(*vq));
    vq->index = index;
    uint32_t max = d->ops->queue_max(d, vq);
    vs_str(&v, "q=");
    vs_dec(&v, index);
    vs_str(&v, " max=");
    vs_dec(&v, max);
    if (max == 0)
        return vd_result(d, "queue", 0, v.buf) - 1;
    uint16_t size = (uint16_t)(max < VQ_SIZE_WANT ? max : VQ_SIZE_WANT);
    if (vq_alloc(d, vq, size) != 0 || d->ops->queue_enable(d, vq) != 0) {
        vs_str(&v, " setup failed");
        return vd_result(d, "queue", 0, v.buf) - 1;
    }
    vq->ready = 1;
    return 0;
}

int vdrv_driver_ok(struct vdrv_dev *d)
{
    d->ops->set_status(d, ST_ACKNOWLEDGE | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
    uint8_t st = d->ops->get_status(d);
    if ((st & (ST_NEEDS_RESET | ST_FAILED)) != 0 || (st & ST_DRIVER_OK) == 0) {
        struct vstr v;
        vs_init(&v);
        vs_str(&v, "status=");
        vs_hex(&v, st);
        return vd_result(d, "driver_ok", 0, v.buf) - 1;
    }
    return 0;
}

void vdrv_test_device(struct vdrv_dev *d)
{
    struct vdrv_run *r = d->run;
    uint32_t want = 0;
    const char *base = "?";
    uint32_t slot = 0;

    switch (d->device_id) {
    case ID_BLOCK: want = VDRV_DEV_BLK; base = "blk"; slot = 1; break;
    case ID_RNG: want = VDRV_DEV_RNG; base = "rng"; slot = 2; break;
    case ID_CONSOLE: want = VDRV_DEV_CONSOLE; base = "console"; slot = 3; break;
    case ID_NET: want = VDRV_DEV_NET; base = "net"; slot = 4; break;
    default: break;
    }
    if (slot == 0 || (d->opts->devs & want) == 0)
        return;
    /* Name: "blk" for the first block device, "blk1" for the next, ... */
    struct vstr v;
    vs_init(&v);
    vs_str(&v, base);
    if (r->seen[slot] > 0)
        vs_dec(&v, r->seen[slot]);
    r->seen[slot]++;
    vd_memcpy(d->name, v.buf, v.n + 1 <= sizeof(d->name) ? v.n + 1 : sizeof(d->name));
    d->name[sizeof(d->name) - 1] = '\0';
    r->found++;

    /* Everything a device is given comes back after its reset. */
    uint64_t mark = r->arena_next;
    switch (d->device_id) {
    case ID_BLOCK:
        /* vt.hostile: the first block device is attacked, the others are
         * tested as usual (they show the VMM kept working). */
        if (r->opts->hostile != VDRV_HOSTILE_OFF && r->seen[slot] == 1)
            vdrv_blk_hostile(d);
        else if (r->opts->bench)
            vdrv_blk_bench(d);
        else
            vdrv_blk_test(d);
        break;
    case ID_RNG: vdrv_rng_test(d); break;
    case ID_CONSOLE: vdrv_console_test(d); break;
    case ID_NET: vdrv_net_test(d); break;
    default: break;
    }
    /* Routing as the CPU sees it: queue 0 signals vector 1 (LAPIC vector
     * 0x41, vdrv_pci.c); with IF=0 it stays pending in the IRR (SDM 10.8.4:
     * IRR bit v%32 of the register at 0x200 + (v/32)*0x10). */
    if (d->opts->check_irr && d->msix_vectors > 1) {
        uint32_t vec = MSI_VECTOR_BASE + 1;
        uint64_t irr = d->bus->mmio_read(d->bus->ctx, VDRV_LAPIC_BASE + 0x200 + (vec / 32) * 0x10,
                                         4);
        struct vstr iv;
        vs_init(&iv);
        vs_str(&iv, "vector=");
        vs_hex(&iv, vec);
        vs_str(&iv, " irr=");
        vs_hex(&iv, irr);
        vd_result(d, "irr", (int)((irr >> (vec % 32)) & 1), iv.buf);
    }
    vdrv_reset(d);
    if (d->ops->disable != NULL)
        d->ops->disable(d);
    r->arena_next = mark;
}
