/* See vt_stack.h. */
#include "vt_stack.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int console_out(const uint8_t *data, size_t len, void *user)
{
    struct vt_stack *s = user;
    pthread_mutex_lock(&s->lock);
    if (len > sizeof(s->hvc) - 1 - s->hvc_len)
        len = sizeof(s->hvc) - 1 - s->hvc_len;
    memcpy(s->hvc + s->hvc_len, data, len);
    s->hvc_len += len;
    s->hvc[s->hvc_len] = 0;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

/* The network's far end: every frame the guest sends gets one ARP reply
 * from 10.0.2.2 (12-byte virtio-net header first, as on a TAP with
 * IFF_VNET_HDR), as QEMU's slirp answers the driver's ARP request. */
static void *net_peer(void *arg)
{
    struct vt_stack *s = arg;
    uint8_t frame[2048];
    for (;;) {
        ssize_t n = recv(s->net_peer, frame, sizeof(frame), 0);
        if (n <= 0)
            return NULL;
        __atomic_fetch_add(&s->net_frames, 1, __ATOMIC_SEQ_CST);
        if (n < 12 + 42)
            continue;
        uint8_t reply[12 + 42] = { 0 };
        uint8_t *eth = reply + 12;
        const uint8_t *req = frame + 12;
        memcpy(eth, req + 6, 6);
        memcpy(eth + 6, "\x52\x55\x0a\x00\x02\x02", 6);
        memcpy(eth + 12, "\x08\x06\x00\x01\x08\x00\x06\x04\x00\x02", 10);
        memcpy(eth + 22, "\x52\x55\x0a\x00\x02\x02\x0a\x00\x02\x02", 10);
        memcpy(eth + 32, req + 22, 10); /* the requester's MAC and IP */
        if (send(s->net_peer, reply, sizeof(reply), 0) < 0)
            return NULL;
    }
}

static int temp_image(void)
{
    char path[] = "/tmp/vmm-vt-disk-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(ftruncate(fd, VT_DISK_BYTES), 0);
    return fd;
}

void vt_stack_attach(vmm_vm *vm, struct vt_stack *s, uint32_t transport, uint32_t flags)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    struct vmm_virtio_transport_config t = VMM_VIRTIO_TRANSPORT_INIT;
    t.transport = transport;
    t.flags = flags;
    const char *tname = transport == VMM_VIRTIO_TRANSPORT_PCI ? "pci" : "mmio";
    char serial[24];

    s->disk = temp_image();
    struct vmm_virtio_blk_config bc = VMM_VIRTIO_BLK_CONFIG_INIT;
    bc.transport = t;
    bc.fd = s->disk;
    snprintf(serial, sizeof(serial), "vdrv%s0", tname);
    bc.serial = serial;
    assert_int_equal(vmm_virtio_blk_attach(vm, &bc, &s->blk), 0);
    s->disk_ro = temp_image();
    bc.fd = s->disk_ro;
    bc.flags = VMM_VIRTIO_BLK_F_READONLY;
    snprintf(serial, sizeof(serial), "vdrv%s1", tname);
    assert_int_equal(vmm_virtio_blk_attach(vm, &bc, &s->blk_ro), 0);

    struct vmm_virtio_rng_config rc = VMM_VIRTIO_RNG_CONFIG_INIT;
    rc.transport = t;
    assert_int_equal(vmm_virtio_rng_attach(vm, &rc, &s->rng), 0);

    struct vmm_virtio_console_config cc = VMM_VIRTIO_CONSOLE_CONFIG_INIT;
    cc.transport = t;
    cc.out_fn = console_out;
    cc.out_user = s;
    assert_int_equal(vmm_virtio_console_attach(vm, &cc, &s->con), 0);
    assert_int_equal(vmm_virtio_console_input(s->con, "ping\n", 5), 5);

    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    struct vmm_virtio_net_config nc = VMM_VIRTIO_NET_CONFIG_INIT;
    nc.transport = t;
    nc.tap_fd = sv[0];
    memcpy(nc.mac, "\x52\x54\x00\x12\x34\x56", 6);
    assert_int_equal(vmm_virtio_net_attach(vm, &nc, &s->net), 0);
    close(sv[0]); /* the device holds a duplicate */
    s->net_peer = sv[1];
    assert_int_equal(pthread_create(&s->net_thread, NULL, net_peer, s), 0);
}

void vt_stack_cmdline(vmm_vm *vm, const char *tname, const char *extra, char *buf, size_t size)
{
    int n = snprintf(buf, size, "vt.transport=%s vt.dev=all vt.console_rx=1 vt.net_rx=1 "
                     "vt.expect=5 %s ", tname, extra);
    assert_true(n > 0 && (size_t)n < size);
    int m = vmm_virtio_mmio_cmdline(vm, buf + n, size - (size_t)n);
    assert_true(m >= 0 && (size_t)(n + m) < size);
}

static void expect_ok(const char *log, const char *tname, const char *dev, const char *checks)
{
    char want[96], list[256];
    snprintf(list, sizeof(list), "%s", checks);
    for (char *save, *c = strtok_r(list, " ", &save); c; c = strtok_r(NULL, " ", &save)) {
        snprintf(want, sizeof(want), "VT %s %s %s ok", tname, dev, c);
        if (!strstr(log, want))
            fail_msg("the driver did not report \"%s\"; its output:\n%s", want, log);
    }
}

/* The console echoed "ping" back to the host, and the NIC sent a frame. */
static void check_console_and_net(struct vt_stack *s)
{
    pthread_mutex_lock(&s->lock);
    int echoed = strstr(s->hvc, "ping") != NULL;
    pthread_mutex_unlock(&s->lock);
    if (!echoed)
        fail_msg("console: the echo of \"ping\" never reached the host (got \"%s\")", s->hvc);
    assert_true(__atomic_load_n(&s->net_frames, __ATOMIC_SEQ_CST) >= 1);
}

/* The devices besides the first disk passed their tests, and the run ended. */
static void expect_others_and_done(const char *log, const char *tname)
{
    expect_ok(log, tname, "blk1", "init capacity ro read get_id");
    expect_ok(log, tname, "rng", "init entropy");
    expect_ok(log, tname, "console", "init tx rx echo");
    expect_ok(log, tname, "net", "init tx rx");
    if (!strstr(log, "VT done pass=") || strstr(log, "FAIL"))
        fail_msg("the driver reported a failure or did not finish:\n%s", log);
}

void vt_stack_check(struct vt_stack *s, const char *tname, const char *log)
{
    expect_ok(log, tname, "blk", "init capacity write read flush get_id discard");
    expect_others_and_done(log, tname);

    /* vdrv_blk.c writes sectors 0-7: byte o = (o*13 + (o/512)*7 + 0x5a) mod 256. */
    uint8_t img[4096];
    assert_int_equal(pread(s->disk, img, sizeof(img), 0), (ssize_t)sizeof(img));
    for (uint32_t o = 0; o < sizeof(img); o++)
        if (img[o] != (uint8_t)(o * 13u + (o / 512u) * 7u + 0x5au))
            fail_msg("disk byte %u is 0x%02x, not what the driver wrote", o, img[o]);
    assert_int_equal(pread(s->disk_ro, img, sizeof(img), 0), (ssize_t)sizeof(img));
    for (uint32_t o = 0; o < sizeof(img); o++)
        if (img[o])
            fail_msg("the read-only disk was written at byte %u", o);
    check_console_and_net(s);

    vmm_device *devs[] = { s->blk, s->blk_ro, s->rng, s->con, s->net };
    for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++) {
        struct vmm_virtio_info info = { .struct_size = sizeof(info) };
        assert_int_equal(vmm_virtio_get_info(devs[i], &info), 0);
        if (info.needs_reset || info.violations)
            fail_msg("%s: needs_reset %u, %llu violations", vmm_device_name(devs[i]),
                     info.needs_reset, (unsigned long long)info.violations);
        if (!info.requests)
            fail_msg("%s: no request completed", vmm_device_name(devs[i]));
        /* The driver resets every device when it is done with it. */
        if (info.status)
            fail_msg("%s: status 0x%02x after the driver's final reset", vmm_device_name(devs[i]),
                     info.status);
    }
}

void vt_stack_close(struct vt_stack *s)
{
    shutdown(s->net_peer, SHUT_RDWR);
    pthread_join(s->net_thread, NULL);
    close(s->net_peer);
    close(s->disk);
    close(s->disk_ro);
    pthread_mutex_destroy(&s->lock);
}

/* vt.hostile=1 (vdrv_hostile.c): the attacks on the first blk. */
static const char *const hostile_attacks[] = {
    "loop", "outside_ram", "len_near_4g", "bad_head", "bad_next", "nested_indirect",
    "indirect_not_negotiated", "readable_after_writable", "avail_jump", "used_over_desc",
    "queue_size_0", "queue_size_65535",
};
#define HOSTILE_ATTACKS (sizeof(hostile_attacks) / sizeof(hostile_attacks[0]))

void vt_stack_check_hostile(struct vt_stack *s, const char *tname, const char *log)
{
    char want[128];
    for (size_t i = 0; i < HOSTILE_ATTACKS; i++) {
        snprintf(want, sizeof(want), "VT %s blk hostile_%s ok broken=1 used=0 ", tname,
                 hostile_attacks[i]);
        if (!strstr(log, want))
            fail_msg("the driver did not report \"%s\"; its output:\n%s", want, log);
    }
    snprintf(want, sizeof(want), "VT %s blk hostile_recover ok attacks=%zu recovered=%zu",
             tname, HOSTILE_ATTACKS, HOSTILE_ATTACKS);
    if (!strstr(log, want))
        fail_msg("the driver did not report \"%s\"; its output:\n%s", want, log);
    expect_others_and_done(log, tname);

    /* The host side: the attacked device counted every attack, is healthy
     * after the driver's last reset and served the recovery requests; the
     * attacks carried GET_IDs only, so its disk is untouched. */
    struct vmm_virtio_info info = { .struct_size = sizeof(info) };
    assert_int_equal(vmm_virtio_get_info(s->blk, &info), 0);
    if (info.violations < HOSTILE_ATTACKS || info.needs_reset || info.status ||
        info.requests < HOSTILE_ATTACKS)
        fail_msg("blk: %llu violations for %zu attacks, needs_reset %u, status 0x%02x, "
                 "%llu requests", (unsigned long long)info.violations, HOSTILE_ATTACKS,
                 info.needs_reset, info.status, (unsigned long long)info.requests);
    uint8_t img[4096];
    assert_int_equal(pread(s->disk, img, sizeof(img), 0), (ssize_t)sizeof(img));
    for (uint32_t o = 0; o < sizeof(img); o++)
        if (img[o])
            fail_msg("the attacked disk was written at byte %u", o);
    vmm_device *devs[] = { s->blk_ro, s->rng, s->con, s->net };
    for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++) {
        assert_int_equal(vmm_virtio_get_info(devs[i], &info), 0);
        if (info.needs_reset || info.violations || !info.requests || info.status)
            fail_msg("%s: needs_reset %u, %llu violations, %llu requests, status 0x%02x",
                     vmm_device_name(devs[i]), info.needs_reset,
                     (unsigned long long)info.violations, (unsigned long long)info.requests,
                     info.status);
    }
    check_console_and_net(s);
}
