/* virtio-console test from the driver side (virtio 1.2 §5.3), port 0
 * without MULTIPORT: receiveq0 = queue 0, transmitq0 = queue 1. Transmits
 * a greeting; with opts->console_rx, posts a receive buffer, waits for
 * input and transmits "echo:<input>" back. */
#include "vdrv_int.h"

#define CONSOLE_GREETING "VTCONSOLE hello from vdrv\n"
#define RX_BYTES 64u

static int tx(struct vdrv_dev *d, const char *s, uint32_t n)
{
    uint8_t *p;
    uint64_t gpa = vd_alloc(d->run, n, 1, &p);
    if (gpa == 0)
        return -1;
    vd_memcpy(p, s, n);
    struct vdrv_buf b = { gpa, n, 0 };
    uint32_t id = 0, len = 0;
    int head = vq_submit(d, &d->vq[1], &b, 1, 0);
    if (head < 0 || vq_poll(d, &d->vq[1], &id, &len) != 0 || id != (uint32_t)head)
        return -1;
    return 0;
}

void vdrv_console_test(struct vdrv_dev *d)
{
    struct vstr v;
    if (vdrv_init(d, 0) != 0 || vdrv_queue_setup(d, 0) != 0 ||
        vdrv_queue_setup(d, 1) != 0 || vdrv_driver_ok(d) != 0)
        return;

    /* Post the receive buffer first so no input is dropped meanwhile. */
    uint8_t *rx = NULL;
    uint64_t rx_gpa = vd_alloc(d->run, RX_BYTES, 16, &rx);
    int rx_head = -1;
    if (d->opts->console_rx && rx_gpa != 0) {
        struct vdrv_buf b = { rx_gpa, RX_BYTES, 1 };
        rx_head = vq_submit(d, &d->vq[0], &b, 1, 0);
    }

    vs_init(&v);
    vs_str(&v, "bytes=");
    vs_dec(&v, sizeof(CONSOLE_GREETING) - 1);
    vd_result(d, "tx", tx(d, CONSOLE_GREETING, sizeof(CONSOLE_GREETING) - 1) == 0, v.buf);

    if (!d->opts->console_rx)
        return;
    uint32_t id = 0, len = 0;
    vs_init(&v);
    if (rx_head < 0 || vq_poll(d, &d->vq[0], &id, &len) != 0 || id != (uint32_t)rx_head ||
        len == 0 || len > RX_BYTES) {
        vs_str(&v, "no input, len=");
        vs_dec(&v, len);
        vd_result(d, "rx", 0, v.buf);
        return;
    }
    vs_str(&v, "len=");
    vs_dec(&v, len);
    vs_str(&v, " data=");
    for (uint32_t i = 0; i < len && i < 32; i++)
        vs_char(&v, rx[i] >= 0x20 && rx[i] < 0x7f ? (char)rx[i] : '.');
    vd_result(d, "rx", 1, v.buf);

    char echo[5 + RX_BYTES + 1];
    vd_memcpy(echo, "echo:", 5);
    vd_memcpy(echo + 5, rx, len);
    uint32_t n = 5 + len;
    if (echo[n - 1] != '\n')
        echo[n++] = '\n';
    vs_init(&v);
    vs_str(&v, "bytes=");
    vs_dec(&v, n);
    vd_result(d, "echo", tx(d, echo, n) == 0, v.buf);
}
