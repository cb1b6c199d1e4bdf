/* virtio-net backend (lib/devices/virtio/net.c) on a fake VM, with a
 * SOCK_SEQPACKET socketpair standing in for the TAP (a packet fd carrying
 * the 12-byte virtio_net_hdr_v1 before each frame, as a TAP with
 * IFF_VNET_HDR does): transmit, receive through the I/O thread, no busy
 * loop while the driver has no receive buffer, config space, attach
 * checks, and a real TAP where this host lets us make one. */
#include <vmm/vmm.h>
#include <vmm/devices/virtio.h>

#include "vdev_harness.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#define RXQ 0
#define TXQ 1
#define HDR 12
#define F_MAC 5
#define F_STATUS 16

struct net_t {
    struct vh h;
    int peer; /* the test's end of the socketpair: "the network" */
};

static struct vmm_virtio_net_config net_cfg(int fd)
{
    struct vmm_virtio_net_config c = VMM_VIRTIO_NET_CONFIG_INIT;
    c.tap_fd = fd;
    c.transport.transport = VMM_VIRTIO_TRANSPORT_MMIO;
    c.transport.flags = VMM_VIRTIO_F_INLINE;
    c.transport.mmio_base = VH_MMIO_BASE;
    c.transport.irq = VMM_VIRTIO_NO_IRQ;
    c.transport.queue_size = VH_QUEUE_SIZE;
    return c;
}

static int setup(void **state)
{
    struct net_t *t = calloc(1, sizeof(*t));
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    vh_init(&t->h);
    struct vmm_virtio_net_config c = net_cfg(sv[0]);
    memcpy(c.mac, "\x02\x11\x22\x33\x44\x55", 6);
    assert_int_equal(vmm_virtio_net_attach(t->h.vm, &c, &t->h.dev), 0);
    close(sv[0]); /* duplicated by the attach */
    t->peer = sv[1];
    uint8_t st = vh_start(&t->h, (1ull << F_MAC) | (1ull << F_STATUS), 2);
    assert_true(st & VIRTIO_STATUS_DRIVER_OK);
    *state = t;
    return 0;
}

static int setup_bare(void **state)
{
    struct net_t *t = calloc(1, sizeof(*t));
    vh_init(&t->h);
    t->peer = -1;
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct net_t *t = *state;
    vh_fini(&t->h);
    if (t->peer >= 0)
        close(t->peer);
    free(t);
    return 0;
}

static void frame_fill(uint8_t *p, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(seed + i * 3);
}

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_config(void **state)
{
    struct net_t *t = *state;
    uint8_t mac[6];
    vh_config(&t->h, 0, mac, 4);
    vh_config(&t->h, 4, mac + 4, 2);
    assert_memory_equal(mac, "\x02\x11\x22\x33\x44\x55", 6);
    uint16_t status;
    vh_config(&t->h, 6, &status, 2);
    assert_int_equal(status, 1); /* VIRTIO_NET_S_LINK_UP */
    uint64_t f = vh_device_features(&t->h);
    assert_true(f & (1ull << F_MAC));
    assert_true(f & (1ull << F_STATUS));
    assert_false(f & 1ull); /* no CSUM offload */
}

static void test_tx(void **state)
{
    struct net_t *t = *state;
    struct vh *h = &t->h;
    /* Header with garbage the device must not pass on, frame in two pieces. */
    uint64_t hdr = vh_alloc(h, HDR), a = vh_alloc(h, 20), b = vh_alloc(h, 40);
    memset(vh_ptr(h, hdr), 0xab, HDR);
    frame_fill(vh_ptr(h, a), 20, 1);
    frame_fill(vh_ptr(h, b), 40, 21);
    struct vh_buf bufs[] = { { hdr, HDR, false }, { a, 20, false }, { b, 40, false } };
    uint16_t head = vh_post(h, TXQ, bufs, 3);
    vh_kick(h, TXQ);
    uint32_t id, len;
    assert_true(vh_used(h, TXQ, &id, &len));
    assert_int_equal(id, head);
    assert_int_equal(len, 0);
    uint8_t got[256], zero[HDR] = { 0 };
    ssize_t n = recv(t->peer, got, sizeof(got), MSG_DONTWAIT);
    assert_int_equal(n, HDR + 60);
    assert_memory_equal(got, zero, HDR);
    assert_memory_equal(got + HDR, vh_ptr(h, a), 20);
    assert_memory_equal(got + HDR + 20, vh_ptr(h, b), 40);

    /* Header and frame in one descriptor. */
    uint64_t one = vh_alloc(h, HDR + 64);
    frame_fill((uint8_t *)vh_ptr(h, one) + HDR, 64, 9);
    struct vh_buf ob[] = { { one, HDR + 64, false } };
    vh_post(h, TXQ, ob, 1);
    vh_kick(h, TXQ);
    assert_true(vh_used(h, TXQ, NULL, NULL));
    n = recv(t->peer, got, sizeof(got), MSG_DONTWAIT);
    assert_int_equal(n, HDR + 64);
    assert_memory_equal(got + HDR, (uint8_t *)vh_ptr(h, one) + HDR, 64);
    assert_false(vh_broken(h));
}

static void test_tx_full_drops(void **state)
{
    struct net_t *t = *state;
    struct vh *h = &t->h;
    /* The peer reads nothing while the device transmits 2000 frames: the
     * socket fills, and the device must drop (EAGAIN) rather than block,
     * still completing every chain. */
    uint8_t junk[HDR + 60];
    uint64_t fr = vh_alloc(h, HDR + 1500);
    for (int i = 0; i < 2000; i++) {
        struct vh_buf b[] = { { fr, HDR + 1500, false } };
        vh_post(h, TXQ, b, 1);
        vh_kick(h, TXQ);
        assert_true(vh_used(h, TXQ, NULL, NULL));
    }
    assert_false(vh_broken(h));
    /* Some frames made it, fewer than were sent. */
    int got = 0;
    while (recv(t->peer, junk, sizeof(junk), MSG_DONTWAIT | MSG_TRUNC) > 0)
        got++;
    assert_true(got > 0);
    assert_true(got < 2000);
}

static void test_tx_short_header(void **state)
{
    struct net_t *t = *state;
    struct vh *h = &t->h;
    uint64_t b = vh_alloc(h, 8);
    struct vh_buf bufs[] = { { b, 8, false } };
    vh_post(h, TXQ, bufs, 1);
    vh_kick(h, TXQ);
    assert_false(vh_used(h, TXQ, NULL, NULL));
    assert_true(vh_broken(h));
}

static void send_frame(struct net_t *t, uint8_t seed, size_t frame_len)
{
    uint8_t buf[2048];
    memset(buf, 0xcd, HDR); /* garbage header: the device rewrites it */
    frame_fill(buf + HDR, frame_len, seed);
    assert_int_equal(send(t->peer, buf, HDR + frame_len, 0), (ssize_t)(HDR + frame_len));
}

static void check_rx(struct vh *h, uint64_t buf, uint32_t len, uint8_t seed, size_t frame_len)
{
    assert_int_equal(len, HDR + frame_len);
    const uint8_t *p = vh_ptr(h, buf);
    uint8_t want_hdr[HDR] = { 0 };
    want_hdr[10] = 1; /* num_buffers */
    assert_memory_equal(p, want_hdr, HDR);
    uint8_t want[2048];
    frame_fill(want, frame_len, seed);
    assert_memory_equal(p + HDR, want, frame_len);
}

static void test_rx(void **state)
{
    struct net_t *t = *state;
    struct vh *h = &t->h;
    uint64_t buf = vh_alloc(h, 1526);
    struct vh_buf b[] = { { buf, 1526, true } };
    uint16_t head = vh_post(h, RXQ, b, 1);
    vh_kick(h, RXQ);
    send_frame(t, 5, 60);
    uint32_t id, len;
    assert_true(vh_wait_used(h, RXQ, &id, &len, 2000));
    assert_int_equal(id, head);
    check_rx(h, buf, len, 5, 60);

    /* Two buffers, two frames, split buffer (header alone first). */
    uint64_t h2 = vh_alloc(h, HDR), d2 = vh_alloc(h, 1514);
    struct vh_buf b2[] = { { h2, HDR, true }, { d2, 1514, true } };
    vh_post(h, RXQ, b2, 2);
    uint64_t buf3 = vh_alloc(h, 1526);
    struct vh_buf b3[] = { { buf3, 1526, true } };
    vh_post(h, RXQ, b3, 1);
    vh_kick(h, RXQ);
    send_frame(t, 7, 1514);
    send_frame(t, 8, 42);
    assert_true(vh_wait_used(h, RXQ, NULL, &len, 2000));
    assert_int_equal(len, HDR + 1514);
    uint8_t want[1514];
    frame_fill(want, 1514, 7);
    assert_memory_equal(vh_ptr(h, d2), want, 1514);
    assert_int_equal(((uint8_t *)vh_ptr(h, h2))[10], 1);
    assert_true(vh_wait_used(h, RXQ, NULL, &len, 2000));
    check_rx(h, buf3, len, 8, 42);
    assert_false(vh_broken(h));
}

/* A frame arrives while the driver has no buffer: the I/O thread must not
 * spin on the readable fd, and the frame is delivered once one is posted. */
static void test_rx_no_buffer(void **state)
{
    struct net_t *t = *state;
    struct vh *h = &t->h;
    send_frame(t, 3, 100);
    struct timespec settle = { 0, 50 * 1000 * 1000 };
    nanosleep(&settle, NULL);
    double c0 = cpu_seconds();
    struct timespec wait = { 0, 300 * 1000 * 1000 };
    nanosleep(&wait, NULL);
    double used = cpu_seconds() - c0;
    assert_true(used < 0.1); /* a spinning I/O thread would burn ~0.3 s */
    assert_false(vh_used(h, RXQ, NULL, NULL));

    uint64_t buf = vh_alloc(h, 1526);
    struct vh_buf b[] = { { buf, 1526, true } };
    vh_post(h, RXQ, b, 1);
    vh_kick(h, RXQ);
    uint32_t len;
    assert_true(vh_wait_used(h, RXQ, NULL, &len, 2000));
    check_rx(h, buf, len, 3, 100);

    /* And the watch is back: the next frame goes to a new buffer. */
    uint64_t buf2 = vh_alloc(h, 1526);
    struct vh_buf b2[] = { { buf2, 1526, true } };
    vh_post(h, RXQ, b2, 1);
    vh_kick(h, RXQ);
    send_frame(t, 4, 64);
    assert_true(vh_wait_used(h, RXQ, NULL, &len, 2000));
    check_rx(h, buf2, len, 4, 64);
}

static void test_rx_bad_buffer(void **state)
{
    struct net_t *t = *state;
    struct vh *h = &t->h;
    uint64_t buf = vh_alloc(h, 1526);
    struct vh_buf b[] = { { buf, 1526, false } }; /* readable: not a receive buffer */
    vh_post(h, RXQ, b, 1);
    vh_kick(h, RXQ);
    send_frame(t, 1, 60);
    for (int i = 0; i < 2000 && !vh_broken(h); i++) {
        struct timespec ts = { 0, 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    assert_true(vh_broken(h));
    assert_false(vh_used(h, RXQ, NULL, NULL));
}

/* Reset while a frame waits, then a fresh start delivers it. */
static void test_reset_and_restart(void **state)
{
    struct net_t *t = *state;
    struct vh *h = &t->h;
    virtio_dev_lock(h->d);
    virtio_dev_status_write(h->d, 0);
    virtio_dev_unlock(h->d);
    send_frame(t, 11, 80);
    struct timespec ts = { 0, 20 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    memset(h->q, 0, sizeof(h->q));
    assert_true(vh_start(h, (1ull << F_MAC) | (1ull << F_STATUS), 2) & VIRTIO_STATUS_DRIVER_OK);
    uint64_t buf = vh_alloc(h, 1526);
    struct vh_buf b[] = { { buf, 1526, true } };
    vh_post(h, RXQ, b, 1);
    vh_kick(h, RXQ);
    uint32_t len;
    assert_true(vh_wait_used(h, RXQ, NULL, &len, 2000));
    check_rx(h, buf, len, 11, 80);
}

static void test_attach_errors(void **state)
{
    struct net_t *t = *state;
    vmm_vm *vm = t->h.vm;
    vmm_device *dev = NULL;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    struct vmm_virtio_net_config c = net_cfg(sv[0]);
    c.flags = 1;
    assert_int_equal(vmm_virtio_net_attach(vm, &c, &dev), -EINVAL);
    c = net_cfg(sv[0]);
    c.reserved0 = 1;
    assert_int_equal(vmm_virtio_net_attach(vm, &c, &dev), -EINVAL);
    c = net_cfg(sv[0]);
    c.tap_name = "tap0";
    assert_int_equal(vmm_virtio_net_attach(vm, &c, &dev), -EINVAL); /* both */
    c = net_cfg(-1);
    assert_int_equal(vmm_virtio_net_attach(vm, &c, &dev), -EINVAL); /* neither */
    c = net_cfg(-1);
    c.tap_name = "a-name-longer-than-ifnamsiz";
    assert_int_equal(vmm_virtio_net_attach(vm, &c, &dev), -EINVAL);
    c = net_cfg(sv[0]);
    memcpy(c.mac, "\x01\x00\x5e\x00\x00\x01", 6); /* multicast */
    assert_int_equal(vmm_virtio_net_attach(vm, &c, &dev), -EINVAL);
    int file = open("/dev/null", O_RDWR | O_CLOEXEC);
    c = net_cfg(file);
    assert_int_equal(vmm_virtio_net_attach(vm, &c, &dev), -EINVAL); /* not a packet fd */
    close(file);
    int stream[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, stream), 0);
    c = net_cfg(stream[0]);
    assert_int_equal(vmm_virtio_net_attach(vm, &c, &dev), -EINVAL); /* stream, not packets */
    close(stream[0]);
    close(stream[1]);
    c = net_cfg(9999);
    assert_int_equal(vmm_virtio_net_attach(vm, &c, &dev), -EINVAL);

    /* A random MAC is 52:54:00:xx:xx:xx. */
    c = net_cfg(sv[0]);
    assert_int_equal(vmm_virtio_net_attach(vm, &c, &dev), 0);
    t->h.dev = dev;
    t->h.d = virtio_dev_from_device(dev);
    uint8_t mac[6];
    vh_config(&t->h, 0, mac, 2);
    vh_config(&t->h, 2, mac + 2, 4);
    assert_memory_equal(mac, "\x52\x54\x00", 3);
    close(sv[0]);
    close(sv[1]);
}

/* Brings @name up and returns a packet socket bound to it, or -1. */
static int tap_up_and_capture(const char *name)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    int ok = ioctl(s, SIOCGIFFLAGS, &ifr) == 0;
    ifr.ifr_flags |= IFF_UP;
    ok = ok && ioctl(s, SIOCSIFFLAGS, &ifr) == 0 && ioctl(s, SIOCGIFINDEX, &ifr) == 0;
    close(s);
    if (!ok)
        return -1;
    int p = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (p < 0)
        return -1;
    struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
                               .sll_ifindex = ifr.ifr_ifindex };
    if (bind(p, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
        close(p);
        return -1;
    }
    return p;
}

#define TEST_ETHERTYPE 0x88b5 /* IEEE local experimental */

static void test_frame(uint8_t *f, size_t len, uint8_t seed)
{
    memset(f, 0xff, 6);                            /* broadcast */
    memcpy(f + 6, "\x02\x11\x22\x33\x44\x55", 6);
    f[12] = TEST_ETHERTYPE >> 8;
    f[13] = TEST_ETHERTYPE & 0xff;
    frame_fill(f + 14, len - 14, seed);
}

/* A real TAP, where this host allows making one (CAP_NET_ADMIN and
 * /dev/net/tun; else skipped): the device creates it by name; a packet
 * socket on the interface sees what the guest sends and injects what the
 * guest receives. */
static void test_real_tap(void **state)
{
    struct net_t *t = *state;
    struct vh *h = &t->h;
    char name[IFNAMSIZ];
    snprintf(name, sizeof(name), "vmmt%d", (int)getpid() % 100000);
    struct vmm_virtio_net_config c = net_cfg(-1);
    c.tap_name = name;
    int r = vmm_virtio_net_attach(h->vm, &c, &h->dev);
    if (r == -EPERM || r == -ENODEV || r == -EACCES) {
        print_message("no TAP here (%s): skipped\n", vmm_last_error());
        skip();
    }
    assert_int_equal(r, 0);
    assert_true(vh_start(h, 1ull << F_MAC, 2) & VIRTIO_STATUS_DRIVER_OK);
    int cap = tap_up_and_capture(name);
    if (cap < 0) {
        print_message("cannot bring %s up or capture on it: skipped\n", name);
        skip();
    }
    /* Receive buffers first (the kernel may send its own frames too). */
    uint64_t rx[8];
    for (int i = 0; i < 8; i++) {
        rx[i] = vh_alloc(h, 1526);
        struct vh_buf b[] = { { rx[i], 1526, true } };
        vh_post(h, RXQ, b, 1);
    }
    vh_kick(h, RXQ);

    /* Guest -> network. */
    uint64_t fr = vh_alloc(h, HDR + 60);
    test_frame((uint8_t *)vh_ptr(h, fr) + HDR, 60, 0x40);
    struct vh_buf b[] = { { fr, HDR + 60, false } };
    vh_post(h, TXQ, b, 1);
    vh_kick(h, TXQ);
    assert_true(vh_used(h, TXQ, NULL, NULL));
    bool seen = false;
    for (int i = 0; i < 200 && !seen; i++) {
        uint8_t got[2048];
        ssize_t n = recv(cap, got, sizeof(got), MSG_DONTWAIT);
        if (n == 60 && memcmp(got, (uint8_t *)vh_ptr(h, fr) + HDR, 60) == 0) {
            seen = true;
            break;
        }
        if (n < 0) {
            struct timespec ts = { 0, 10 * 1000 * 1000 };
            nanosleep(&ts, NULL);
        }
    }
    assert_true(seen);

    /* Network -> guest. */
    uint8_t in[64];
    test_frame(in, sizeof(in), 0x70);
    assert_int_equal(send(cap, in, sizeof(in), 0), (ssize_t)sizeof(in));
    bool got_it = false;
    for (int i = 0; i < 8 && !got_it; i++) {
        uint32_t id, len;
        if (!vh_wait_used(h, RXQ, &id, &len, 2000))
            break;
        assert_true(id < VH_QUEUE_SIZE);
        if (len == HDR + sizeof(in) && memcmp((uint8_t *)vh_ptr(h, rx[id]) + HDR, in,
                                              sizeof(in)) == 0) {
            assert_int_equal(((uint8_t *)vh_ptr(h, rx[id]))[10], 1);
            got_it = true;
        }
    }
    assert_true(got_it);
    close(cap);
    assert_false(vh_broken(h));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_full_drops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_short_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_no_buffer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_bad_buffer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_and_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attach_errors, setup_bare, teardown),
        cmocka_unit_test_setup_teardown(test_real_tap, setup_bare, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
