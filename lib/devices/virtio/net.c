/* vmm_virtio_net_attach(): a virtio-net NIC (virtio 1.2 section 5.1) over a
 * TAP device: queue 0 receives, queue 1 transmits; no control queue, no
 * multiqueue, no offloads. Features: MAC and STATUS (link always up).
 *
 * Frames cross the TAP with a 12-byte virtio_net_hdr_v1 in front
 * (IFF_VNET_HDR, TUNSETVNETHDRSZ 12), the same size as the guest's header,
 * so received frames are read straight into the guest's buffer. No offload
 * is negotiated, so the header carries nothing: the device writes an
 * all-zero one (num_buffers 1) on receive and, on transmit, hands the TAP
 * its own zero header instead of the guest's, so a hostile guest cannot
 * reach the kernel's GSO/checksum parsing.
 *
 * Privileges: creating a TAP (tap_name that does not exist) needs
 * CAP_NET_ADMIN; attaching to a persistent TAP made beforehand with
 * `ip tuntap add dev NAME mode tap user UID vnet_hdr` needs none for that
 * user. With tap_fd the caller has opened it: it must be a TAP with
 * IFF_TAP | IFF_NO_PI | IFF_VNET_HDR (its header size is set to 12), or any
 * other packet-oriented fd (SOCK_SEQPACKET / SOCK_DGRAM socket) that
 * carries each frame as one message led by the same 12-byte header; this
 * is what the unit tests use. The fd is made non-blocking (a flag it
 * shares with the caller's descriptor).
 *
 * Receive runs on the VM's I/O thread, which watches the TAP only while
 * the driver has receive buffers posted: with none, the watch is dropped
 * (no busy loop on a readable TAP) until the driver kicks the receive
 * queue. Transmit drops (and counts) frames the TAP will not take now. */
#include <vmm/vmm.h>
#include <vmm/devices/virtio.h>

#include "core/config.h"
#include "core/error.h"
#include "devices/virtio/virtio_dev.h"
#include "devices/virtio/virtio_spec.h"
#include "devices/virtio/virtqueue.h"
#include "io/iothread.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define NET_RXQ 0
#define NET_TXQ 1
/* 5.1.5: num_buffers sits at byte 10 of struct virtio_net_hdr_v1. */
#define NET_HDR_NUM_BUFFERS 10
/* 5.1.4: struct virtio_net_config up to status (no MQ, MTU, ...). */
#define NET_CFG_MAC 0
#define NET_CFG_STATUS 6
#define NET_CFG_SIZE 8
#define NET_QUEUE_MAX VMM_VIRTIO_QUEUE_SIZE_DEFAULT

struct net {
    int fd;
    bool is_tap;   /* a real TAP (else a packet socket given as tap_fd) */
    uint8_t mac[6];
    /* Receive watch state (d->lock): want_rx says the driver may have
     * buffers posted; watched says the fd is registered with the I/O
     * thread. Only the I/O thread's callback, destroy, or a path where the
     * callback cannot be waiting for d->lock removes the watch. */
    bool want_rx;
    bool watched;
    struct iovec *iov; /* iov_cap entries: one frame's segments */
    size_t iov_cap;
    /* Statistics (d->lock). */
    uint64_t rx_frames, tx_frames, tx_dropped, tx_errors, rx_errors;
};

static void net_config_read(struct virtio_dev *d, uint32_t off, void *data, uint32_t len)
{
    struct net *n = d->backend;
    uint8_t cfg[NET_CFG_SIZE];
    memcpy(cfg + NET_CFG_MAC, n->mac, sizeof(n->mac));
    uint16_t status = htole16(VIRTIO_NET_S_LINK_UP);
    memcpy(cfg + NET_CFG_STATUS, &status, sizeof(status));
    if (off > NET_CFG_SIZE || len > NET_CFG_SIZE - off) {
        memset(data, 0, len);
        return;
    }
    memcpy(data, cfg + off, len);
}

static void net_rx_ready(int fd, void *ctx);

/* Starts watching the fd for received frames (d->lock held). */
static void net_watch(struct virtio_dev *d, struct net *n)
{
    n->want_rx = true;
    if (n->watched)
        return;
    if (vmm_iothread_add(d->vm, n->fd, EPOLLIN, net_rx_ready, d, "virtio-net") < 0) {
        /* Receive cannot work without the I/O thread; the device stays
         * usable for transmit. The sentence is in vmm_last_error(). */
        vmm_log(VMM_LOG_WARN, "%s: cannot watch the TAP for received frames: %s", d->name,
                vmm_last_error());
        n->want_rx = false;
        return;
    }
    n->watched = true;
}

/* Whether the receive queue can take frames now. */
static bool net_rx_ready_queue(struct virtio_dev *d)
{
    return !d->broken && (d->status & VIRTIO_STATUS_DRIVER_OK) && d->num_queues > NET_RXQ &&
           d->vqs[NET_RXQ].enabled;
}

/* Whether a frame is waiting on the fd (only the I/O thread reads it, so
 * a frame seen here is still there for the readv). */
static bool net_frame_waiting(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int r;
    do
        r = poll(&p, 1, 0);
    while (r < 0 && errno == EINTR);
    return r > 0 && (p.revents & POLLIN);
}

/* Builds the iovec for @c's writable segments. 0 if it does not fit. */
static size_t net_iov_in(struct net *n, const struct virtq_chain *c)
{
    if (c->n_in > n->iov_cap || c->n_in > IOV_MAX)
        return 0;
    for (uint16_t i = 0; i < c->n_in; i++) {
        n->iov[i].iov_base = c->seg[c->n_out + i].base;
        n->iov[i].iov_len = c->seg[c->n_out + i].len;
    }
    return c->n_in;
}

/* Moves waiting frames into posted receive buffers (d->lock held). With
 * no buffer posted, stops watching until the driver kicks queue 0.
 * @on_iothread: called from the watch callback (which may remove itself). */
static void net_rx(struct virtio_dev *d, struct net *n, bool on_iothread)
{
    /* Bounded per call so one busy TAP cannot starve the other devices on
     * the I/O thread; level-triggered epoll calls again. */
    unsigned budget = d->vqs[NET_RXQ].max_size;
    bool pushed = false;
    for (;;) {
        if (!net_rx_ready_queue(d)) {
            n->want_rx = false;
            break;
        }
        if (budget-- == 0 || !net_frame_waiting(n->fd))
            break;
        struct virtq_chain *c;
        int r = virtio_dev_pop(d, NET_RXQ, &c);
        if (r < 0) {
            n->want_rx = false; /* broken: the core logged why */
            break;
        }
        if (r == 0) {
            /* Interrupts for what was pushed, re-arms the kick, and
             * re-checks the ring so a buffer posted meanwhile is seen. */
            pushed = false;
            if (virtio_dev_done(d, NET_RXQ))
                continue;
            n->want_rx = false; /* no buffer: wait for the driver's kick */
            break;
        }
        /* 5.1.6.3: receive buffers are device-writable and must hold at
         * least the header. */
        if (c->n_out != 0 || c->in_bytes < VIRTIO_NET_HDR_BYTES) {
            virtio_dev_fail(d, "%s: receive buffer (head %u) has %u readable and %u writable "
                            "bytes; it needs only writable ones, at least %u",
                            d->name, (unsigned)c->head, c->out_bytes, c->in_bytes,
                            VIRTIO_NET_HDR_BYTES);
            n->want_rx = false;
            break;
        }
        uint32_t len = 0;
        size_t cnt = net_iov_in(n, c);
        if (cnt > 0) {
            ssize_t got;
            do
                got = readv(n->fd, n->iov, (int)cnt);
            while (got < 0 && errno == EINTR);
            if (got >= VIRTIO_NET_HDR_BYTES) {
                /* 5.1.6.4: no offloads, so an empty header; without
                 * MRG_RXBUF num_buffers is 1. The TAP may leave bytes of
                 * it untouched, so it is written whole. */
                uint8_t hdr[VIRTIO_NET_HDR_BYTES] = { 0 };
                uint16_t one = htole16(1);
                memcpy(hdr + NET_HDR_NUM_BUFFERS, &one, sizeof(one));
                virtq_chain_write(c, 0, hdr, sizeof(hdr));
                len = (uint32_t)got;
                n->rx_frames++;
            } else {
                n->rx_errors++; /* a read error or runt: the buffer goes back empty */
            }
        } else {
            n->rx_errors++;
        }
        virtq_push(&d->vqs[NET_RXQ], c->head, len);
        pushed = true;
    }
    if (pushed)
        virtio_dev_done(d, NET_RXQ);
    if (!n->want_rx && n->watched && on_iothread) {
        vmm_iothread_remove(d->vm, n->fd);
        n->watched = false;
    }
}

static void net_rx_locked(struct virtio_dev *d, void *arg)
{
    (void)arg;
    struct net *n = d->backend;
    if (n->want_rx) {
        net_rx(d, n, true);
    } else if (n->watched) {
        vmm_iothread_remove(d->vm, n->fd);
        n->watched = false;
    }
}

/* I/O thread: the fd is readable (or the watch outlived want_rx). */
static void net_rx_ready(int fd, void *ctx)
{
    (void)fd;
    virtio_dev_run_locked(ctx, net_rx_locked, NULL);
}

/* Sends one transmit chain: a zero header of our own, then the guest's
 * frame after its header. Returns false after virtio_dev_fail(). */
static bool net_tx_one(struct virtio_dev *d, struct net *n, const struct virtq_chain *c)
{
    /* 5.1.6.2: every packet is preceded by the header. */
    if (c->out_bytes < VIRTIO_NET_HDR_BYTES) {
        virtio_dev_fail(d, "%s: transmit chain (head %u) has %u readable bytes, fewer than "
                        "the %u-byte header", d->name, (unsigned)c->head, c->out_bytes,
                        VIRTIO_NET_HDR_BYTES);
        return false;
    }
    static const uint8_t zero_hdr[VIRTIO_NET_HDR_BYTES];
    if (n->iov_cap == 0) {
        n->tx_dropped++; /* not activated (cannot happen: activate runs first) */
        return true;
    }
    n->iov[0].iov_base = (void *)zero_hdr;
    n->iov[0].iov_len = sizeof(zero_hdr);
    size_t cnt = 1, skip = VIRTIO_NET_HDR_BYTES;
    for (uint16_t i = 0; i < c->n_out; i++) {
        size_t sl = c->seg[i].len;
        if (skip >= sl) {
            skip -= sl;
            continue;
        }
        if (cnt == n->iov_cap || cnt == IOV_MAX) {
            n->tx_dropped++; /* more pieces than one writev takes */
            return true;
        }
        n->iov[cnt].iov_base = c->seg[i].base + skip;
        n->iov[cnt].iov_len = sl - skip;
        cnt++;
        skip = 0;
    }
    ssize_t r;
    do
        r = writev(n->fd, n->iov, (int)cnt);
    while (r < 0 && errno == EINTR);
    if (r >= 0)
        n->tx_frames++;
    else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
        n->tx_dropped++; /* the TAP is full: dropped, as a NIC would */
    else
        n->tx_errors++;  /* EINVAL (runt), EIO (interface down), ... */
    return true;
}

static void net_tx(struct virtio_dev *d, struct net *n)
{
    do {
        struct virtq_chain *c;
        int r;
        while ((r = virtio_dev_pop(d, NET_TXQ, &c)) == 1) {
            if (!net_tx_one(d, n, c))
                return;
            virtq_push(&d->vqs[NET_TXQ], c->head, 0);
        }
        if (r < 0)
            return;
    } while (virtio_dev_done(d, NET_TXQ));
}

static void net_queue_notify(struct virtio_dev *d, uint16_t q)
{
    struct net *n = d->backend;
    if (q == NET_TXQ) {
        net_tx(d, n);
    } else if (q == NET_RXQ) {
        /* New receive buffers: deliver what waits, then watch again. */
        n->want_rx = true;
        net_rx(d, n, false);
        if (n->want_rx)
            net_watch(d, n);
    }
}

static int net_activate(struct virtio_dev *d)
{
    struct net *n = d->backend;
    size_t need = (size_t)d->vqs[NET_TXQ].max_size + 1; /* + our header */
    if (d->vqs[NET_RXQ].max_size + 1u > need)
        need = d->vqs[NET_RXQ].max_size + 1u;
    if (n->iov_cap < need) {
        struct iovec *iov = realloc(n->iov, need * sizeof(*iov));
        if (!iov)
            return vmm_err(-ENOMEM, "%s: out of memory for a %zu-entry iovec", d->name, need);
        n->iov = iov;
        n->iov_cap = need;
    }
    net_watch(d, n);
    return 0;
}

/* Reset (d->lock held, possibly on a vCPU thread): the watch callback may
 * be waiting for d->lock, so the watch is not removed here (that would
 * wait for the callback); the callback drops it the next time it runs. */
static void net_reset(struct virtio_dev *d)
{
    struct net *n = d->backend;
    n->want_rx = false;
}

static void net_free(struct net *n)
{
    if (n->fd >= 0)
        close(n->fd);
    free(n->iov);
    free(n);
}

static void net_destroy(struct virtio_dev *d)
{
    struct net *n = d->backend;
    virtio_dev_lock(d);
    bool watched = n->watched;
    n->watched = false;
    n->want_rx = false;
    virtio_dev_unlock(d);
    if (watched)
        vmm_iothread_remove(d->vm, n->fd); /* waits out a running callback */
    net_free(n);
}

static const struct virtio_backend_ops net_ops = {
    .device_id = VIRTIO_ID_NET,
    .num_queues = 2,
    .queue_max = NET_QUEUE_MAX,
    .config_size = NET_CFG_SIZE,
    .features = (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_STATUS),
    .config_read = net_config_read,
    .queue_notify = net_queue_notify,
    .activate = net_activate,
    .reset = net_reset,
    .destroy = net_destroy,
};

/* Makes the TAP's header the 12-byte virtio one and turns offloads off (so
 * the kernel never hands us a frame whose header asks for work). */
static int net_tap_setup(int fd, const char *what, const char *fn)
{
    int hdr_sz = VIRTIO_NET_HDR_BYTES;
    if (ioctl(fd, TUNSETVNETHDRSZ, &hdr_sz) < 0) {
        int e = errno;
        return vmm_err(-e, "%s: TUNSETVNETHDRSZ %d on %s: %s", fn, hdr_sz, what, strerror(e));
    }
    if (ioctl(fd, TUNSETOFFLOAD, 0ul) < 0) {
        int e = errno;
        return vmm_err(-e, "%s: TUNSETOFFLOAD 0 on %s: %s", fn, what, strerror(e));
    }
    return 0;
}

static int net_open_tap(struct net *n, const char *name, const char *fn)
{
    struct ifreq ifr;
    if (strlen(name) >= sizeof(ifr.ifr_name))
        return vmm_err(-EINVAL, "%s: tap_name \"%s\" is longer than %zu bytes", fn, name,
                       sizeof(ifr.ifr_name) - 1);
    n->fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (n->fd < 0) {
        int e = errno;
        return vmm_err(e == ENOENT ? -ENODEV : -e, "%s: cannot open /dev/net/tun: %s", fn,
                       strerror(e));
    }
    memset(&ifr, 0, sizeof(ifr));
    strcpy(ifr.ifr_name, name);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    if (ioctl(n->fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        if (e == EPERM)
            return vmm_err(-EPERM, "%s: TUNSETIFF on \"%s\": creating a TAP needs "
                           "CAP_NET_ADMIN (or make it persistent beforehand with "
                           "`ip tuntap add dev %s mode tap user <uid> vnet_hdr`)", fn, name,
                           name);
        return vmm_err(-e, "%s: TUNSETIFF on \"%s\": %s", fn, name, strerror(e));
    }
    n->is_tap = true;
    return net_tap_setup(n->fd, name, fn);
}

static int net_use_fd(struct net *n, int tap_fd, const char *fn)
{
    n->fd = fcntl(tap_fd, F_DUPFD_CLOEXEC, 0);
    if (n->fd < 0) {
        int e = errno;
        return vmm_err(e == EBADF ? -EINVAL : -e, "%s: cannot duplicate tap_fd %d: %s", fn,
                       tap_fd, strerror(e));
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    if (ioctl(n->fd, TUNGETIFF, &ifr) == 0) {
        unsigned need = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
        if (((unsigned)ifr.ifr_flags & need) != need)
            return vmm_err(-EINVAL, "%s: tap_fd %d (%.*s) has flags 0x%x; it needs IFF_TAP | "
                           "IFF_NO_PI | IFF_VNET_HDR", fn, tap_fd, (int)sizeof(ifr.ifr_name),
                           ifr.ifr_name, (unsigned)ifr.ifr_flags & 0xffffu);
        n->is_tap = true;
        int r = net_tap_setup(n->fd, "tap_fd", fn);
        if (r < 0)
            return r;
    } else {
        int type = 0;
        socklen_t tl = sizeof(type);
        if (getsockopt(n->fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 ||
            (type != SOCK_SEQPACKET && type != SOCK_DGRAM))
            return vmm_err(-EINVAL, "%s: tap_fd %d is neither a TAP nor a packet socket", fn,
                           tap_fd);
    }
    int fl = fcntl(n->fd, F_GETFL);
    if (fl < 0 || fcntl(n->fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        int e = errno;
        return vmm_err(-e, "%s: cannot make tap_fd %d non-blocking: %s", fn, tap_fd,
                       strerror(e));
    }
    return 0;
}

int vmm_virtio_net_attach(vmm_vm *vm, const struct vmm_virtio_net_config *cfg,
                          vmm_device **out)
{
    static const char fn[] = "vmm_virtio_net_attach";
    VMM_CHECK_ARG(vm, fn, "vm is NULL");
    VMM_CHECK_ARG(cfg, fn, "cfg is NULL");
    struct vmm_virtio_net_config c;
    int r = vmm_config_copy(cfg, &c, sizeof(c), "config", "VMM_VIRTIO_NET_CONFIG_INIT", fn);
    if (r < 0)
        return r;
    if (c.flags != 0)
        return vmm_err(-EINVAL, "%s: flags is 0x%x; none are defined", fn, c.flags);
    if (c.reserved0 != 0)
        return vmm_err(-EINVAL, "%s: reserved0 is %u, must be 0", fn, (unsigned)c.reserved0);
    bool by_name = c.tap_name && c.tap_name[0];
    if (by_name && c.tap_fd != -1)
        return vmm_err(-EINVAL, "%s: both tap_name and tap_fd %d are set; give one", fn,
                       (int)c.tap_fd);
    if (!by_name && c.tap_fd < 0)
        return vmm_err(-EINVAL, "%s: no TAP: set tap_name or tap_fd (tap_fd is %d)", fn,
                       (int)c.tap_fd);
    static const uint8_t zero_mac[6];
    bool random_mac = memcmp(c.mac, zero_mac, sizeof(zero_mac)) == 0;
    if (!random_mac && (c.mac[0] & 1))
        return vmm_err(-EINVAL, "%s: mac %02x:%02x:%02x:%02x:%02x:%02x is a multicast address",
                       fn, c.mac[0], c.mac[1], c.mac[2], c.mac[3], c.mac[4], c.mac[5]);

    struct net *n = calloc(1, sizeof(*n));
    if (!n)
        return vmm_err(-ENOMEM, "%s: out of memory", fn);
    n->fd = -1;
    if (random_mac) {
        /* 52:54:00 is the locally used QEMU/KVM prefix guests expect. */
        n->mac[0] = 0x52;
        n->mac[1] = 0x54;
        n->mac[2] = 0x00;
        if (getrandom(n->mac + 3, 3, 0) != 3) {
            int e = errno;
            net_free(n);
            return vmm_err(-e, "%s: getrandom for a MAC address: %s", fn, strerror(e));
        }
    } else {
        memcpy(n->mac, c.mac, sizeof(n->mac));
    }
    r = by_name ? net_open_tap(n, c.tap_name, fn) : net_use_fd(n, c.tap_fd, fn);
    if (r < 0) {
        net_free(n);
        return r;
    }
    return virtio_attach_common(vm, "virtio-net", &net_ops, n, &c.transport, fn, out);
}
