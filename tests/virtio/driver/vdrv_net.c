/* virtio-net test from the driver side (virtio 1.2 §5.1), one queue pair
 * (receiveq1 = 0, transmitq1 = 1), no offloads: every frame carries the
 * 12-byte struct virtio_net_hdr (5.1.6, num_buffers present with
 * VERSION_1). Transmits an ARP request for 10.0.2.2 from 10.0.2.15 (the
 * QEMU user-network gateway answers it) and, with opts->expect_net_rx,
 * waits for a frame and reports its ethertype and length. */
#include "vdrv_int.h"

#define NET_F_MAC 5
#define NET_HDR 12u
#define RX_BUF (NET_HDR + 1514u + 64u) /* 5.1.6.3.1: >= 1526 without offloads */
#define RX_POSTED 4u
#define ARP_FRAME 42u

static const uint8_t default_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

void vdrv_net_test(struct vdrv_dev *d)
{
    struct vstr v;
    if (vdrv_init(d, FBIT(NET_F_MAC)) != 0 || vdrv_queue_setup(d, 0) != 0 ||
        vdrv_queue_setup(d, 1) != 0)
        return;

    /* 5.1.6.3: post receive buffers before DRIVER_OK where possible. */
    uint8_t *rx[RX_POSTED];
    int rx_head[RX_POSTED];
    for (uint32_t i = 0; i < RX_POSTED; i++) {
        uint64_t gpa = vd_alloc(d->run, RX_BUF, 16, &rx[i]);
        struct vdrv_buf b = { gpa, RX_BUF, 1 };
        rx_head[i] = gpa == 0 ? -1 : vq_submit(d, &d->vq[0], &b, 1, 0);
    }
    if (vdrv_driver_ok(d) != 0)
        return;

    uint8_t mac[6];
    for (uint32_t i = 0; i < 6; i++)
        mac[i] = (d->features & FBIT(NET_F_MAC)) ? (uint8_t)d->ops->cfg_read(d, i, 1)
                                                 : default_mac[i];
    vs_init(&v);
    vs_str(&v, "mac=");
    for (uint32_t i = 0; i < 6; i++) {
        vs_char(&v, "0123456789abcdef"[mac[i] >> 4]);
        vs_char(&v, "0123456789abcdef"[mac[i] & 15]);
        if (i < 5)
            vs_char(&v, ':');
    }
    char macs[24];
    vd_memcpy(macs, v.buf, v.n + 1);

    uint8_t *f;
    uint64_t gpa = vd_alloc(d->run, NET_HDR + ARP_FRAME, 16, &f);
    if (gpa == 0)
        return (void)vd_result(d, "tx", 0, "arena exhausted");
    uint8_t *e = f + NET_HDR; /* header stays all zero: no offloads */
    vd_memset(e, 0xff, 6);
    vd_memcpy(e + 6, mac, 6);
    put_be16(e + 12, 0x0806);
    uint8_t *a = e + 14; /* RFC 826 */
    put_be16(a, 1);
    put_be16(a + 2, 0x0800);
    a[4] = 6;
    a[5] = 4;
    put_be16(a + 6, 1);
    vd_memcpy(a + 8, mac, 6);
    a[14] = 10; a[15] = 0; a[16] = 2; a[17] = 15;
    vd_memset(a + 18, 0, 6);
    a[24] = 10; a[25] = 0; a[26] = 2; a[27] = 2;
    /* 5.1.6.2: header and packet in one buffer is allowed (VERSION_1). */
    struct vdrv_buf b = { gpa, NET_HDR + ARP_FRAME, 0 };
    uint32_t id = 0, len = 0;
    int head = vq_submit(d, &d->vq[1], &b, 1, 0);
    vd_result(d, "tx", head >= 0 && vq_poll(d, &d->vq[1], &id, &len) == 0 &&
                           id == (uint32_t)head, macs);

    if (!d->opts->expect_net_rx)
        return;
    /* Look at up to RX_POSTED frames for the ARP reply; report the first. */
    vs_init(&v);
    int ok = 0;
    for (uint32_t n = 0; n < RX_POSTED && !ok; n++) {
        if (vq_poll(d, &d->vq[0], &id, &len) != 0) {
            vs_str(&v, " timeout");
            break;
        }
        uint8_t *p = NULL;
        for (uint32_t i = 0; i < RX_POSTED; i++)
            if (rx_head[i] == (int)id)
                p = rx[i];
        if (p == NULL || len < NET_HDR + 14 || len > RX_BUF) {
            vs_str(&v, " bad_frame len=");
            vs_dec(&v, len);
            continue;
        }
        uint8_t *fe = p + NET_HDR;
        uint16_t type = (uint16_t)(fe[12] << 8 | fe[13]);
        vs_str(&v, " ethertype=");
        vs_hex(&v, type);
        vs_str(&v, " len=");
        vs_dec(&v, len - NET_HDR);
        /* ARP reply (op 2) from 10.0.2.2 */
        if (type == 0x0806 && len >= NET_HDR + ARP_FRAME && fe[20] == 0 && fe[21] == 2 &&
            fe[28] == 10 && fe[29] == 0 && fe[30] == 2 && fe[31] == 2) {
            vs_str(&v, " arp_reply");
            ok = 1;
        }
    }
    vd_result(d, "rx", ok, v.buf + (v.n > 0 && v.buf[0] == ' '));
}
