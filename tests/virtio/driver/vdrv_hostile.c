/* vt.hostile=N: the driver turned attacker, against the first block device
 * (the others run their usual tests, which shows the VMM kept working).
 * Each attack starts from a freshly initialised device (3.1.1), writes a
 * broken descriptor chain, avail entry or ring layout straight into ring
 * memory, notifies, and then watches the status register, at most
 * opts->poll_spins reads, for DEVICE_NEEDS_RESET (2.1.2), noting whether
 * the used ring moved. Then it resets the device and checks that a GET_ID
 * request works again. One line per attack:
 *   VT <t> blk hostile_<name> ok|FAIL broken=<0|1> used=<n>
 * where ok means "as the expectation table says" (vt.hostile=1), or always
 * (vt.hostile=2, for recording another implementation); and last
 *   VT <t> blk hostile_recover ok|FAIL attacks=<n> recovered=<n>
 *
 * Expectations. libvmm (vt.hostile_expect=libvmm, the default): every
 * attack sets DEVICE_NEEDS_RESET and completes nothing (used=0). QEMU 7.2
 * (vt.hostile_expect=qemu, measured with qemu-crosscheck.sh's hostile case
 * on virtio-blk-pci): see the qemu columns of attacks[]; virtio 1.2 only
 * says the device SHOULD set DEVICE_NEEDS_RESET, and QEMU does not check
 * everything. */
#include "vdrv_int.h"

#define DESC_BYTES 16u
#define T_GET_ID 8u
#define ID_BYTES 20u
/* In the 3-4 GiB hole and not RAM: below the IOAPIC (0xfec00000), above
 * vdrv's BAR window (vdrv_pci.c) and q35's ECAM (0xb0000000-0xbfffffff).
 * QEMU's q35 with 128 MiB maps nothing there ("info mtree -f"); libvmm's
 * guests here have far less RAM than 3.75 GiB. */
#define OUTSIDE_RAM_GPA 0xf0000000u
#define HUGE_LEN 0xfffffff0u
#define BAD_INDEX 200u       /* >= any queue size vdrv picks (VQ_SIZE_WANT) */
/* Status reads after the used ring moved before we believe the device
 * completed the request without complaint. */
#define SETTLE_SPINS 1000u

enum layout { L_NORMAL, L_USED_OVER_DESC, L_QSIZE_0, L_QSIZE_65535 };

/* The request buffers of one attack: a GET_ID (5.2.6) header, the 20-byte
 * id and the status byte, so a device that ignores the attack answers a
 * valid request and the used ring shows it. */
struct hreq {
    uint64_t hdr, id, st;
    uint8_t *hdr_p, *id_p, *st_p;
};

struct attack {
    const char *name;
    enum layout layout;
    int indirect;            /* negotiate VIRTIO_F_INDIRECT_DESC */
    void (*craft)(struct vdrv_dev *d, const struct hreq *q);
    int8_t qemu_broken;      /* QEMU 7.2: DEVICE_NEEDS_RESET set */
    int8_t qemu_used;        /* QEMU 7.2: used idx afterwards, -1 any */
};

static void put(uint8_t *table, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                uint16_t next)
{
    uint8_t *p = table + (uint32_t)i * DESC_BYTES;
    st64(p, addr);
    st32(p + 8, len);
    st16(p + 12, flags);
    st16(p + 14, next);
}

/* The valid GET_ID chain at entries a -> b -> c of @table. */
static void put_get_id(uint8_t *table, const struct hreq *q, uint16_t a, uint16_t b,
                       uint16_t c)
{
    put(table, a, q->hdr, 16, DESC_F_NEXT, b);
    put(table, b, q->id, ID_BYTES, DESC_F_WRITE | DESC_F_NEXT, c);
    put(table, c, q->st, 1, DESC_F_WRITE, 0);
}

/* 2.7.13: ring entry, barrier, idx, barrier, notify (always: the attack
 * must reach the device whatever it asked for). */
static void publish(struct vdrv_dev *d, uint16_t head, uint16_t idx)
{
    struct vdrv_vq *vq = &d->vq[0];
    st16(vq->avail + 4, head);
    vd_mb();
    st16(vq->avail + 2, idx);
    vd_mb();
    d->ops->notify(d, vq);
}

/* 2.7.5.3.1 / 2.7.4.2: a chain 0 -> 1 -> 0 that never ends. */
static void a_loop(struct vdrv_dev *d, const struct hreq *q)
{
    put(d->vq[0].desc, 0, q->hdr, 16, DESC_F_NEXT, 1);
    put(d->vq[0].desc, 1, q->hdr, 16, DESC_F_NEXT, 0);
    publish(d, 0, 1);
}

/* The header is not in guest RAM. */
static void a_outside_ram(struct vdrv_dev *d, const struct hreq *q)
{
    put_get_id(d->vq[0].desc, q, 0, 1, 2);
    put(d->vq[0].desc, 0, OUTSIDE_RAM_GPA, 16, DESC_F_NEXT, 1);
    publish(d, 0, 1);
}

/* The id buffer claims almost 4 GiB. */
static void a_len_near_4g(struct vdrv_dev *d, const struct hreq *q)
{
    put_get_id(d->vq[0].desc, q, 0, 1, 2);
    put(d->vq[0].desc, 1, q->id, HUGE_LEN, DESC_F_WRITE | DESC_F_NEXT, 2);
    publish(d, 0, 1);
}

/* 2.7.6: avail ring entries are descriptor indices below the queue size. */
static void a_bad_head(struct vdrv_dev *d, const struct hreq *q)
{
    put_get_id(d->vq[0].desc, q, 0, 1, 2);
    publish(d, BAD_INDEX, 1);
}

static void a_bad_next(struct vdrv_dev *d, const struct hreq *q)
{
    put_get_id(d->vq[0].desc, q, 0, 1, 2);
    put(d->vq[0].desc, 0, q->hdr, 16, DESC_F_NEXT, BAD_INDEX);
    publish(d, 0, 1);
}

/* 2.7.5.3.1: the driver MUST NOT set VIRTQ_DESC_F_INDIRECT in an indirect
 * descriptor. Table entry 0 points at a second table holding the chain. */
static void a_nested_indirect(struct vdrv_dev *d, const struct hreq *q)
{
    struct vdrv_vq *vq = &d->vq[0];
    put_get_id(vq->ind + 4 * DESC_BYTES, q, 0, 1, 2);
    put(vq->ind, 0, vq->ind_gpa + 4 * DESC_BYTES, 3 * DESC_BYTES, DESC_F_INDIRECT, 0);
    put(vq->desc, 0, vq->ind_gpa, DESC_BYTES, DESC_F_INDIRECT, 0);
    publish(d, 0, 1);
}

/* 2.7.5.3.1: without VIRTIO_F_INDIRECT_DESC the driver MUST NOT use
 * VIRTQ_DESC_F_INDIRECT. A well-formed table otherwise. */
static void a_indirect_not_negotiated(struct vdrv_dev *d, const struct hreq *q)
{
    struct vdrv_vq *vq = &d->vq[0];
    put_get_id(vq->ind, q, 0, 1, 2);
    put(vq->desc, 0, vq->ind_gpa, 3 * DESC_BYTES, DESC_F_INDIRECT, 0);
    publish(d, 0, 1);
}

/* 2.7.4.2: device-writable descriptors come after the readable ones. */
static void a_readable_after_writable(struct vdrv_dev *d, const struct hreq *q)
{
    uint8_t *t = d->vq[0].desc;
    put(t, 0, q->id, ID_BYTES, DESC_F_WRITE | DESC_F_NEXT, 1);
    put(t, 1, q->hdr, 16, DESC_F_NEXT, 2);
    put(t, 2, q->st, 1, DESC_F_WRITE, 0);
    publish(d, 0, 1);
}

/* 2.7.6: idx moves by one per entry added; this says size + 1 entries
 * (all head 0: the zeroed ring) were added at once. */
static void a_avail_jump(struct vdrv_dev *d, const struct hreq *q)
{
    put_get_id(d->vq[0].desc, q, 0, 1, 2);
    publish(d, 0, (uint16_t)(d->vq[0].size + 1));
}

/* The layout attacks were made at queue set-up (bring_up()); the request
 * shows whether the device went on using the queue anyway. For the used
 * ring over the descriptor table the chain keeps clear of what the used
 * ring covers (desc 1 .. 9 for 16 entries). */
static void a_used_over_desc(struct vdrv_dev *d, const struct hreq *q)
{
    put_get_id(d->vq[0].desc, q, 0, 12, 13);
    publish(d, 0, 1);
}

static void a_valid_request(struct vdrv_dev *d, const struct hreq *q)
{
    put_get_id(d->vq[0].desc, q, 0, 1, 2);
    publish(d, 0, 1);
}

/* The qemu columns are QEMU 7.2's virtio-blk-pci (TCG, q35), as measured
 * by qemu-crosscheck.sh's hostile case; its stderr names the check that
 * fired, quoted here. Where QEMU says nothing it serves the GET_ID. */
static const struct attack attacks[] = {
    /* name                      layout            ind craft                     qemu */
    { "loop",                    L_NORMAL,          0, a_loop,                    1, 0 },
    /* "Looped descriptor" */
    { "outside_ram",             L_NORMAL,          0, a_outside_ram,             0, 1 },
    /* unassigned space is mapped through its bounce buffer: served */
    { "len_near_4g",             L_NORMAL,          0, a_len_near_4g,             1, 0 },
    /* "virtio: bogus descriptor or out of resources" */
    { "bad_head",                L_NORMAL,          0, a_bad_head,                1, 0 },
    /* "Guest says index 200 is available" */
    { "bad_next",                L_NORMAL,          0, a_bad_next,                1, 0 },
    /* "Desc next is 200" */
    { "nested_indirect",         L_NORMAL,          1, a_nested_indirect,         1, 0 },
    /* "virtio-blk missing headers": the inner table is taken for data */
    { "indirect_not_negotiated", L_NORMAL,          0, a_indirect_not_negotiated, 0, 1 },
    /* the feature is not checked: served */
    { "readable_after_writable", L_NORMAL,          0, a_readable_after_writable, 1, 0 },
    /* "Incorrect order for descriptors" */
    { "avail_jump",              L_NORMAL,          0, a_avail_jump,              0, 17 },
    /* not checked on this path: head 0 is served size + 1 times */
    { "used_over_desc",          L_USED_OVER_DESC,  0, a_used_over_desc,          0, 1 },
    /* the layout is not checked: served */
    { "queue_size_0",            L_QSIZE_0,         0, a_valid_request,           0, 1 },
    { "queue_size_65535",        L_QSIZE_65535,     0, a_valid_request,           0, 1 },
    /* virtio_queue_set_num() ignores both: QEMU keeps its own size (256)
     * over our rings and serves the request */
};
#define NATTACKS (sizeof(attacks) / sizeof(attacks[0]))

/* 3.1.1 with queue 0 laid out as @a says: the size written to the device
 * and the used ring's place are the attack; the driver's own bookkeeping
 * keeps the real size. DRIVER_OK is written even when the device already
 * objected. Returns 0, or -1 when the device could not be set up at all. */
static int bring_up(struct vdrv_dev *d, const struct attack *a)
{
    if (vdrv_init(d, 0) != 0)
        return -1;
    struct vdrv_vq *vq = &d->vq[0];
    vd_memset(vq, 0, sizeof(*vq));
    uint32_t max = d->ops->queue_max(d, vq);
    if (max == 0)
        return vd_result(d, "queue", 0, "q=0 max=0") - 1;
    uint16_t size = (uint16_t)(max < VQ_SIZE_WANT ? max : VQ_SIZE_WANT);
    if (vq_alloc(d, vq, size) != 0)
        return vd_result(d, "queue", 0, "arena exhausted") - 1;
    if (a->layout == L_USED_OVER_DESC) {
        vq->used_gpa = vq->desc_gpa + DESC_BYTES;
        vq->used = vq->desc + DESC_BYTES;
    } else if (a->layout == L_QSIZE_0) {
        vq->size = 0;
    } else if (a->layout == L_QSIZE_65535) {
        vq->size = 65535;
    }
    (void)d->ops->queue_enable(d, vq); /* may fail: that is the point */
    vq->size = size;
    vq->ready = 1;
    d->ops->set_status(d, ST_ACKNOWLEDGE | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
    return 0;
}

static int alloc_req(struct vdrv_dev *d, struct hreq *q)
{
    q->hdr = vd_alloc(d->run, 16, 16, &q->hdr_p);
    q->id = vd_alloc(d->run, ID_BYTES, 4, &q->id_p);
    q->st = vd_alloc(d->run, 1, 1, &q->st_p);
    if (q->hdr == 0 || q->id == 0 || q->st == 0)
        return -1;
    st32(q->hdr_p, T_GET_ID);
    st32(q->hdr_p + 4, 0);
    st64(q->hdr_p + 8, 0);
    q->st_p[0] = 0xff;
    return 0;
}

/* Up to opts->poll_spins status reads: until DEVICE_NEEDS_RESET, or until
 * SETTLE_SPINS reads after the used ring moved (the device served the
 * request and said nothing). */
static int watch(struct vdrv_dev *d, uint16_t *used)
{
    const uint8_t *u = d->vq[0].used;
    uint32_t settle = 0;
    int broken = 0;
    for (uint32_t spin = 0; spin < d->opts->poll_spins; spin++) {
        if (d->ops->get_status(d) & ST_NEEDS_RESET) {
            broken = 1;
            break;
        }
        if (ld16(u + 2) != 0 && ++settle > SETTLE_SPINS)
            break;
        if (d->bus->relax != NULL)
            d->bus->relax(d->bus->ctx);
    }
    vd_mb();
    *used = ld16(u + 2);
    return broken;
}

/* After a reset: the device comes up again and answers GET_ID. */
static int recovers(struct vdrv_dev *d)
{
    struct hreq q;
    if (vdrv_init(d, 0) != 0 || vdrv_queue_setup(d, 0) != 0 || vdrv_driver_ok(d) != 0 ||
        alloc_req(d, &q) != 0)
        return 0;
    struct vdrv_buf b[3] = { { q.hdr, 16, 0 }, { q.id, ID_BYTES, 1 }, { q.st, 1, 1 } };
    uint32_t id = 0, len = 0;
    int head = vq_submit(d, &d->vq[0], b, 3, 0);
    if (head < 0 || vq_poll(d, &d->vq[0], &id, &len) != 0 || id != (uint32_t)head)
        return 0;
    return ((volatile uint8_t *)q.st_p)[0] == 0;
}

void vdrv_blk_hostile(struct vdrv_dev *d)
{
    const struct vdrv_opts *o = d->opts;
    struct vdrv_opts mine = *o;
    struct vstr v;
    uint32_t recovered = 0;

    /* Each attack chooses its features; EVENT_IDX stays off so that every
     * notification is plainly a notification. */
    mine.event_idx = 0;
    d->opts = &mine;
    for (uint32_t i = 0; i < NATTACKS; i++) {
        const struct attack *a = &attacks[i];
        uint64_t mark = d->run->arena_next;
        struct hreq q;
        uint16_t used = 0;
        int broken = 0;

        mine.indirect = a->indirect;
        vs_init(&v);
        vs_str(&v, "hostile_");
        vs_str(&v, a->name);
        if (bring_up(d, a) != 0 || alloc_req(d, &q) != 0) {
            vd_result(d, v.buf, 0, "set-up failed");
        } else {
            a->craft(d, &q);
            broken = watch(d, &used);
            int want_broken = 1, want_used = 0;
            if (o->hostile_expect == VDRV_EXPECT_QEMU) {
                want_broken = a->qemu_broken;
                want_used = a->qemu_used;
            }
            int ok = o->hostile == VDRV_HOSTILE_RECORD ||
                     (broken == want_broken && (want_used < 0 || used == want_used));
            struct vstr det;
            vs_init(&det);
            vs_str(&det, "broken=");
            vs_dec(&det, (uint64_t)broken);
            vs_str(&det, " used=");
            vs_dec(&det, used);
            vs_str(&det, " status=");
            vs_dec(&det, ((volatile uint8_t *)q.st_p)[0]);
            if (!ok) {
                vs_str(&det, " want broken=");
                vs_dec(&det, (uint64_t)want_broken);
                if (want_used >= 0) {
                    vs_str(&det, " used=");
                    vs_dec(&det, (uint64_t)want_used);
                }
            }
            vd_result(d, v.buf, ok, det.buf);
        }
        vdrv_reset(d);
        mine.indirect = 0;
        if (recovers(d)) {
            recovered++;
        } else {
            vs_init(&v);
            vs_str(&v, "after=");
            vs_str(&v, a->name);
            vd_result(d, "hostile_recover", 0, v.buf);
        }
        vdrv_reset(d);
        d->run->arena_next = mark;
    }
    d->opts = o;
    vs_init(&v);
    vs_str(&v, "attacks=");
    vs_dec(&v, NATTACKS);
    vs_str(&v, " recovered=");
    vs_dec(&v, recovered);
    vd_result(d, "hostile_recover", recovered == NATTACKS, v.buf);
}
