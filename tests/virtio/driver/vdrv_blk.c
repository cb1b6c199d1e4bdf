/* virtio-blk tests from the driver side (virtio 1.2 §5.2): capacity, write
 * a pattern and read it back, flush, get-id, discard, read-only. The
 * pattern is what qemu-crosscheck.sh recomputes on the image file:
 * byte at image offset o = (o*13 + (o/512)*7 + 0x5a) mod 256. */
#include "vdrv_int.h"

#define BLK_F_RO 5
#define BLK_F_FLUSH 9
#define BLK_F_DISCARD 13
#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8
#define T_DISCARD 11
#define S_OK 0
#define S_IOERR 1
#define SECTOR 512u
#define ID_BYTES 20u

#define PATTERN_SECTOR 0u   /* first sector written */
#define PATTERN_SECTORS 8u
#define DISCARD_SECTOR 64u

/* config (5.2.4) */
#define C_CAPACITY 0
#define C_MAX_DISCARD_SECTORS 36
#define C_DISCARD_ALIGN 44

static uint8_t pattern_byte(uint64_t off)
{
    return (uint8_t)(off * 13u + (off / SECTOR) * 7u + 0x5au);
}

/* One request: header (device-readable), optional data, status
 * (device-writable). Returns the status byte, or -1 on a transport error. */
static int blk_req(struct vdrv_dev *d, uint32_t type, uint64_t sector,
                   uint64_t data_gpa, uint32_t data_len, int data_write, uint32_t *used_len)
{
    uint8_t *hdr, *st;
    uint64_t hdr_gpa = vd_alloc(d->run, 16, 16, &hdr);
    uint64_t st_gpa = vd_alloc(d->run, 1, 1, &st);
    if (hdr_gpa == 0 || st_gpa == 0)
        return -1;
    /* 5.2.6 struct virtio_blk_req: type, reserved, sector. */
    st32(hdr, type);
    st32(hdr + 4, 0);
    st64(hdr + 8, sector);
    st[0] = 0xff;
    struct vdrv_buf b[3];
    uint32_t n = 0;
    b[n++] = (struct vdrv_buf){ hdr_gpa, 16, 0 };
    if (data_len != 0)
        b[n++] = (struct vdrv_buf){ data_gpa, data_len, data_write };
    b[n++] = (struct vdrv_buf){ st_gpa, 1, 1 };
    struct vdrv_vq *vq = &d->vq[0];
    int head = vq_submit(d, vq, b, n, d->opts->indirect);
    uint32_t id = 0, len = 0;
    if (head < 0 || vq_poll(d, vq, &id, &len) != 0 || id != (uint32_t)head)
        return -1;
    if (used_len != NULL)
        *used_len = len;
    return ((volatile uint8_t *)st)[0];
}

static void detail_status(struct vstr *v, int status)
{
    vs_str(v, "status=");
    if (status < 0)
        vs_str(v, "timeout");
    else
        vs_dec(v, (uint64_t)status);
}

void vdrv_blk_test(struct vdrv_dev *d)
{
    struct vstr v;
    uint64_t want = FBIT(BLK_F_RO) | FBIT(BLK_F_FLUSH) | FBIT(BLK_F_DISCARD);

    if (vdrv_init(d, want) != 0 || vdrv_queue_setup(d, 0) != 0 || vdrv_driver_ok(d) != 0)
        return;

    uint64_t cap = d->ops->cfg_read(d, C_CAPACITY, 4) |
                   d->ops->cfg_read(d, C_CAPACITY + 4, 4) << 32;
    vs_init(&v);
    vs_str(&v, "sectors=");
    vs_dec(&v, cap);
    vd_result(d, "capacity", cap >= PATTERN_SECTOR + PATTERN_SECTORS, v.buf);

    uint32_t bytes = PATTERN_SECTORS * SECTOR;
    uint8_t *wbuf, *rbuf;
    uint64_t wgpa = vd_alloc(d->run, bytes, 16, &wbuf);
    uint64_t rgpa = vd_alloc(d->run, bytes, 16, &rbuf);
    if (wgpa == 0 || rgpa == 0)
        return (void)vd_result(d, "write", 0, "arena exhausted");
    for (uint32_t i = 0; i < bytes; i++)
        wbuf[i] = pattern_byte((uint64_t)PATTERN_SECTOR * SECTOR + i);

    int ro = (d->features & FBIT(BLK_F_RO)) != 0;
    if (ro) {
        /* 5.2.6.2: a write to a read-only device fails with IOERR. */
        int s = blk_req(d, T_OUT, PATTERN_SECTOR, wgpa, bytes, 0, NULL);
        vs_init(&v);
        detail_status(&v, s);
        vd_result(d, "ro", s == S_IOERR, v.buf);
    } else {
        int s = blk_req(d, T_OUT, PATTERN_SECTOR, wgpa, bytes, 0, NULL);
        vs_init(&v);
        detail_status(&v, s);
        vs_str(&v, " sectors=");
        vs_dec(&v, PATTERN_SECTORS);
        vd_result(d, "write", s == S_OK, v.buf);
    }

    uint32_t ulen = 0;
    int s = blk_req(d, T_IN, PATTERN_SECTOR, rgpa, bytes, 1, &ulen);
    vs_init(&v);
    detail_status(&v, s);
    vs_str(&v, " used_len=");
    vs_dec(&v, ulen);
    if (!ro) {
        int same = vd_memcmp(wbuf, rbuf, bytes) == 0;
        vs_str(&v, same ? " match" : " MISMATCH");
        vd_result(d, "read", s == S_OK && same && ulen >= bytes + 1, v.buf);
    } else {
        vd_result(d, "read", s == S_OK && ulen >= bytes + 1, v.buf);
    }

    if (d->features & FBIT(BLK_F_FLUSH)) {
        s = blk_req(d, T_FLUSH, 0, 0, 0, 0, NULL);
        vs_init(&v);
        detail_status(&v, s);
        vd_result(d, "flush", s == S_OK, v.buf);
    }

    uint8_t *id;
    uint64_t id_gpa = vd_alloc(d->run, ID_BYTES, 1, &id);
    if (id_gpa != 0) {
        s = blk_req(d, T_GET_ID, 0, id_gpa, ID_BYTES, 1, NULL);
        vs_init(&v);
        detail_status(&v, s);
        vs_str(&v, " id=");
        /* 5.2.6: up to 20 bytes, NUL-padded if shorter. */
        for (uint32_t i = 0; i < ID_BYTES && id[i] != 0; i++)
            vs_char(&v, id[i] >= 0x21 && id[i] < 0x7f ? (char)id[i] : '?');
        vd_result(d, "get_id", s == S_OK, v.buf);
    }

    if ((d->features & FBIT(BLK_F_DISCARD)) && !ro) {
        uint32_t align = (uint32_t)d->ops->cfg_read(d, C_DISCARD_ALIGN, 4);
        uint32_t max = (uint32_t)d->ops->cfg_read(d, C_MAX_DISCARD_SECTORS, 4);
        if (align == 0 || align > 4096)
            align = 1;
        uint32_t sector = (DISCARD_SECTOR + align - 1) / align * align;
        uint32_t num = align < 8 ? 8 : align;
        if (max != 0 && num > max)
            num = max;
        uint8_t *seg;
        uint64_t seg_gpa = vd_alloc(d->run, 16, 8, &seg);
        vs_init(&v);
        if (seg_gpa == 0 || sector + num > cap) {
            vs_str(&v, "skipped: no room");
            vd_log(d->bus, "vdrv: discard ");
            vd_log(d->bus, v.buf);
            vd_log(d->bus, "\n");
        } else {
            /* 5.2.6 struct virtio_blk_discard_write_zeroes */
            st64(seg, sector);
            st32(seg + 8, num);
            st32(seg + 12, 0);
            s = blk_req(d, T_DISCARD, 0, seg_gpa, 16, 0, NULL);
            detail_status(&v, s);
            vs_str(&v, " sector=");
            vs_dec(&v, sector);
            vs_str(&v, " num=");
            vs_dec(&v, num);
            vd_result(d, "discard", s == S_OK, v.buf);
        }
    }
}
