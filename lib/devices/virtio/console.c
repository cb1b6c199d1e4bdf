/* vmm_virtio_console_attach(): the console device (virtio 1.2 section
 * 5.3) with a single port: no MULTIPORT, no SIZE (the config space still
 * reads cols 80, rows 25, max_nr_ports 1). Queue 0 (receiveq) carries host
 * input to the guest from a 64 KiB buffer fed by vmm_virtio_console_input()
 * and the in_fd; queue 1 (transmitq) carries guest output to out_fd and
 * out_fn.
 *
 * Threads and locks: queue work runs with d->lock held (I/O thread, or the
 * vCPU thread in inline mode). Host input never takes d->lock on the
 * caller's thread: it is appended to the buffer (rx_lock, a leaf lock) and
 * the I/O thread is woken through an eventfd to deliver it. So out_fn,
 * which runs with d->lock held, may echo into vmm_virtio_console_input(),
 * and no caller ever waits for a device that a detach is tearing down. */
#include "devices/virtio/virtio_dev.h"

#include "core/config.h"
#include "core/error.h"
#include "io/iothread.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONSOLE_RX_BYTES (64u * 1024u) /* host input buffered for the guest */
#define CONSOLE_RXQ 0
#define CONSOLE_TXQ 1
/* 5.3.4 struct virtio_console_config: le16 cols, le16 rows,
 * le32 max_nr_ports, le32 emerg_wr. */
#define CONSOLE_CONFIG_BYTES 12

struct console {
    /* Every live console (vmm_virtio_console_input() must not trust a
     * pointer it was handed until it is found here). */
    struct console *next, *prev;
    bool registered;
    vmm_device *dev;
    struct virtio_dev *d; /* set at the first activate (before any I/O callback) */

    int out_fd;
    bool out_sigpipe;     /* a pipe or socket: a write may raise SIGPIPE */
    bool out_failed;      /* a write failed: output to out_fd stopped */
    bool out_stalled;     /* the last write timed out: do not wait again */
    vmm_virtio_console_output_fn out_fn;
    void *out_user;

    /* Under d->lock. */
    int in_fd;
    bool in_watched;      /* in_fd is on the I/O thread */
    bool in_done;         /* EOF or a read error: not watched again */
    bool active;          /* between activate and reset */
    int wake_fd;          /* eventfd: host input waits for delivery */
    bool wake_watched;

    /* The receive buffer, a ring; rx_lock is taken last, never held while
     * taking another lock. */
    pthread_mutex_t rx_lock;
    uint8_t *rx;
    size_t rx_head, rx_count;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct console *registry;

static void registry_add(struct console *c)
{
    pthread_mutex_lock(&registry_lock);
    c->next = registry;
    c->prev = NULL;
    if (registry)
        registry->prev = c;
    registry = c;
    c->registered = true;
    pthread_mutex_unlock(&registry_lock);
}

static void registry_remove(struct console *c)
{
    pthread_mutex_lock(&registry_lock);
    if (c->registered) {
        if (c->prev)
            c->prev->next = c->next;
        else
            registry = c->next;
        if (c->next)
            c->next->prev = c->prev;
        c->registered = false;
    }
    pthread_mutex_unlock(&registry_lock);
}

/* ---- the receive buffer ------------------------------------------------ */

static size_t rx_room(struct console *c)
{
    pthread_mutex_lock(&c->rx_lock);
    size_t room = CONSOLE_RX_BYTES - c->rx_count;
    pthread_mutex_unlock(&c->rx_lock);
    return room;
}

static size_t rx_put(struct console *c, const uint8_t *data, size_t len)
{
    pthread_mutex_lock(&c->rx_lock);
    size_t room = CONSOLE_RX_BYTES - c->rx_count;
    size_t n = len < room ? len : room;
    for (size_t done = 0; done < n;) {
        size_t tail = (c->rx_head + c->rx_count) % CONSOLE_RX_BYTES;
        size_t run = CONSOLE_RX_BYTES - tail;
        if (run > n - done)
            run = n - done;
        memcpy(c->rx + tail, data + done, run);
        c->rx_count += run;
        done += run;
    }
    pthread_mutex_unlock(&c->rx_lock);
    return n;
}

/* Moves buffered input into @ch's writable segments; returns the bytes. */
static uint32_t rx_take(struct console *c, const struct virtq_chain *ch)
{
    pthread_mutex_lock(&c->rx_lock);
    size_t want = c->rx_count < ch->in_bytes ? c->rx_count : ch->in_bytes;
    size_t done = 0;
    while (done < want) {
        size_t run = CONSOLE_RX_BYTES - c->rx_head;
        if (run > want - done)
            run = want - done;
        done += virtq_chain_write(ch, done, c->rx + c->rx_head, run);
        c->rx_head = (c->rx_head + run) % CONSOLE_RX_BYTES;
        c->rx_count -= run;
    }
    pthread_mutex_unlock(&c->rx_lock);
    return (uint32_t)done;
}

/* ---- receiveq ------------------------------------------------------------ */

static void in_ready(int fd, void *ctx);

/* Puts in_fd (back) on the I/O thread when there is room for its input. */
static void watch_input(struct virtio_dev *d, struct console *c)
{
    if (c->in_fd < 0 || c->in_watched || c->in_done || !c->active || rx_room(c) == 0)
        return;
    if (vmm_iothread_add(d->vm, c->in_fd, EPOLLIN, in_ready, c, d->name) == 0)
        c->in_watched = true;
    else
        vmm_log(VMM_LOG_WARN, "%s: input from fd %d stops: %s", d->name, c->in_fd,
                vmm_last_error());
}

/* 5.3.6.1: fill the driver's receive buffers with buffered input, as much
 * as there is; input with no buffer posted waits for the next kick.
 * d->lock held, guest memory pinned. */
static void rx_deliver(struct virtio_dev *d)
{
    struct console *c = d->backend;
    if (!c->active)
        return;
    for (;;) {
        struct virtq_chain *ch;
        int r = 0;
        while (rx_room(c) < CONSOLE_RX_BYTES && (r = virtio_dev_pop(d, CONSOLE_RXQ, &ch)) == 1) {
            if (ch->n_in == 0) {
                virtio_dev_fail(d, "%s queue %u: receive buffer %u has no device-writable part",
                                d->name, CONSOLE_RXQ, ch->head);
                return;
            }
            virtq_push(&d->vqs[CONSOLE_RXQ], ch->head, rx_take(c, ch));
        }
        if (r < 0)
            return; /* the device is marked broken */
        if (!virtio_dev_done(d, CONSOLE_RXQ) || rx_room(c) == CONSOLE_RX_BYTES)
            break;
    }
    watch_input(d, c);
}

/* I/O thread: in_fd is readable. Reads what fits the buffer; when it is
 * full, in_fd leaves the I/O thread (it is level-triggered) until the
 * driver has taken some. */
static void in_read_locked(struct virtio_dev *d, void *arg)
{
    struct console *c = arg;
    size_t room = rx_room(c);
    if (!c->active || room == 0) {
        vmm_iothread_remove(d->vm, c->in_fd); /* from its own callback: no wait */
        c->in_watched = false;
        return;
    }
    uint8_t buf[4096];
    ssize_t n = read(c->in_fd, buf, room < sizeof(buf) ? room : sizeof(buf));
    if (n > 0) {
        rx_put(c, buf, (size_t)n);
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) {
        if (n < 0)
            vmm_log(VMM_LOG_WARN, "%s: reading input fd %d failed (%s); input from it stops",
                    d->name, c->in_fd, strerror(errno));
        vmm_iothread_remove(d->vm, c->in_fd);
        c->in_watched = false;
        c->in_done = true;
    }
    rx_deliver(d);
}

static void in_ready(int fd, void *ctx)
{
    (void)fd;
    struct console *c = ctx;
    virtio_dev_run_locked(c->d, in_read_locked, c);
}

static void wake_locked(struct virtio_dev *d, void *arg)
{
    (void)arg;
    rx_deliver(d);
}

/* I/O thread: vmm_virtio_console_input() queued bytes. */
static void wake_ready(int fd, void *ctx)
{
    struct console *c = ctx;
    uint64_t count;
    if (read(fd, &count, sizeof(count)) < 0)
        return; /* EAGAIN: drained by a racing call */
    virtio_dev_run_locked(c->d, wake_locked, NULL);
}

static void wake(struct console *c)
{
    uint64_t one = 1;
    while (write(c->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

/* ---- transmitq ---------------------------------------------------------- */

/* How long guest output may wait for a reader that is not reading, once;
 * until a write goes through again, later output is tried without waiting
 * (and dropped when it does not fit). The I/O thread serves every device
 * of the VM, and holds this one's lock meanwhile: a stalled reader must not
 * stall them, nor the vCPUs that touch this device's registers. */
#define CONSOLE_OUT_WAIT_MS 100

/* Writes all of @data to out_fd, waiting (at most CONSOLE_OUT_WAIT_MS, and
 * not at all while stalled) when the fd is full.
 * SIGPIPE from a reader that went away is blocked and consumed (it is
 * directed at this thread), as in serial.c. Returns 0 or a positive errno. */
static int write_all(struct console *c, const uint8_t *data, size_t len)
{
    sigset_t pipe_set, old_mask, pending;
    bool was_pending = false;
    if (c->out_sigpipe) {
        sigemptyset(&pipe_set);
        sigaddset(&pipe_set, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
        was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
    }
    int err = 0;
    while (len > 0) {
        ssize_t n = write(c->out_fd, data, len);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = { .fd = c->out_fd, .events = POLLOUT };
            int ready = poll(&p, 1, c->out_stalled ? 0 : CONSOLE_OUT_WAIT_MS);
            if (ready > 0 || (ready < 0 && errno == EINTR))
                continue;
            err = ETIMEDOUT;
            break;
        }
        err = n < 0 ? errno : EIO;
        break;
    }
    c->out_stalled = err == ETIMEDOUT;
    if (c->out_sigpipe) {
        if (err == EPIPE && !was_pending) {
            static const struct timespec zero = { 0, 0 };
            while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
                ;
        }
        pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    }
    return err;
}

/* Hands guest output (a host copy, so the guest cannot change it during
 * the call) to out_fd and out_fn. */
static void emit(struct virtio_dev *d, struct console *c, const uint8_t *data, size_t len)
{
    if (c->out_fd >= 0 && !c->out_failed) {
        bool was_stalled = c->out_stalled;
        int err = write_all(c, data, len);
        if (err == ETIMEDOUT) {
            if (!was_stalled)
                vmm_log(VMM_LOG_WARN, "%s: the reader of fd %d is not reading; guest output "
                        "is dropped until it does", d->name, c->out_fd);
        } else if (err) {
            /* The host's problem, not the guest's: stop writing to it. */
            c->out_failed = true;
            vmm_log(VMM_LOG_WARN, "%s: writing guest output to fd %d failed (%s); further "
                    "output to it is dropped", d->name, c->out_fd, strerror(err));
        }
    }
    if (c->out_fn) {
        int r = c->out_fn(data, len, c->out_user);
        if (r < 0)
            vmm_log(VMM_LOG_WARN, "%s: out_fn refused %zu bytes of guest output (%s); they are "
                    "dropped", d->name, len, strerror(-r));
    }
}

/* 5.3.6.2: send each buffer's bytes; nothing is written back. */
static void tx_process(struct virtio_dev *d)
{
    struct console *c = d->backend;
    uint8_t buf[4096];
    do {
        struct virtq_chain *ch;
        int r;
        while ((r = virtio_dev_pop(d, CONSOLE_TXQ, &ch)) == 1) {
            size_t off = 0, n;
            while ((n = virtq_chain_read(ch, off, buf, sizeof(buf))) > 0) {
                emit(d, c, buf, n);
                off += n;
            }
            virtq_push(&d->vqs[CONSOLE_TXQ], ch->head, 0);
        }
        if (r < 0)
            return;
    } while (virtio_dev_done(d, CONSOLE_TXQ));
}

/* ---- backend ops ---------------------------------------------------------- */

static void console_queue_notify(struct virtio_dev *d, uint16_t q)
{
    if (q == CONSOLE_RXQ)
        rx_deliver(d);
    else if (q == CONSOLE_TXQ)
        tx_process(d);
}

static void console_config_read(struct virtio_dev *d, uint32_t off, void *data, uint32_t len)
{
    (void)d;
    /* Little-endian (2.4); 5.3.4: emerg_wr reads 0. */
    static const uint8_t cfg[CONSOLE_CONFIG_BYTES] = { 80, 0, 25, 0, 1, 0, 0, 0, 0, 0, 0, 0 };
    memcpy(data, cfg + off, len); /* bounds checked by the core */
}

static int console_activate(struct virtio_dev *d)
{
    struct console *c = d->backend;
    c->d = d;
    c->active = true;
    if (!c->wake_watched) {
        int r = vmm_iothread_add(d->vm, c->wake_fd, EPOLLIN, wake_ready, c, d->name);
        if (r < 0)
            return r;
        c->wake_watched = true;
    }
    watch_input(d, c);
    return 0; /* the core then runs both queues: buffered input is delivered */
}

/* Input stays buffered across a reset (like bytes on a serial line). in_fd
 * is not taken off the I/O thread here: its callback may be waiting for
 * d->lock, which we hold; it leaves by itself when it sees !active. */
static void console_reset(struct virtio_dev *d)
{
    struct console *c = d->backend;
    c->active = false;
}

static void console_destroy(struct virtio_dev *d)
{
    struct console *c = d->backend;
    registry_remove(c);
    if (c->in_fd >= 0) {
        vmm_iothread_remove(d->vm, c->in_fd);
        close(c->in_fd);
    }
    if (c->out_fd >= 0)
        close(c->out_fd);
    if (c->wake_fd >= 0) {
        vmm_iothread_remove(d->vm, c->wake_fd);
        close(c->wake_fd);
    }
    pthread_mutex_destroy(&c->rx_lock);
    free(c->rx);
    free(c);
}

static const struct virtio_backend_ops console_ops = {
    .device_id = VIRTIO_ID_CONSOLE,
    .num_queues = 2,
    .queue_max = VMM_VIRTIO_QUEUE_SIZE_DEFAULT,
    .config_size = CONSOLE_CONFIG_BYTES,
    .features = 0,
    .config_read = console_config_read,
    .queue_notify = console_queue_notify,
    .activate = console_activate,
    .reset = console_reset,
    .destroy = console_destroy,
};

/* ---- public API ------------------------------------------------------------ */

/* An fd the caller lends must be open and usable in the direction needed. */
static int check_fd(int32_t fd, const char *field, int bad_mode, const char *fn)
{
    if (fd == -1)
        return 0;
    if (fd < -1)
        return vmm_err(-EINVAL, "%s: %s %d is neither -1 nor a file descriptor", fn, field, fd);
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return vmm_err(-EINVAL, "%s: %s %d is not an open file descriptor", fn, field, fd);
    if ((fl & O_ACCMODE) == bad_mode)
        return vmm_err(-EINVAL, "%s: %s %d is open %s", fn, field, fd,
                       bad_mode == O_RDONLY ? "read-only" : "write-only");
    return 0;
}

VMM_API int vmm_virtio_console_attach(vmm_vm *vm, const struct vmm_virtio_console_config *cfg,
                                      vmm_device **out)
{
    static const char fn[] = "vmm_virtio_console_attach";
    if (!vm || !cfg)
        return vmm_err(-EINVAL, "%s: vm and cfg must not be NULL", fn);
    struct vmm_virtio_console_config k;
    int r = vmm_config_copy(cfg, &k, sizeof(k), "config", "VMM_VIRTIO_CONSOLE_CONFIG_INIT", fn);
    if (r < 0)
        return r;
    if (k.flags)
        return vmm_err(-EINVAL, "%s: unknown flags 0x%x (none are defined)", fn, k.flags);
    r = check_fd(k.out_fd, "out_fd", O_RDONLY, fn);
    if (r == 0)
        r = check_fd(k.in_fd, "in_fd", O_WRONLY, fn);
    if (r < 0)
        return r;

    struct console *c = calloc(1, sizeof(*c));
    uint8_t *rx = malloc(CONSOLE_RX_BYTES);
    int wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    /* Our own descriptions of the caller's fds: the I/O thread watches in_fd
     * by number, which must not become someone else's fd if the caller
     * closes theirs. */
    int in_fd = k.in_fd >= 0 ? fcntl(k.in_fd, F_DUPFD_CLOEXEC, 0) : -1;
    int out_fd = k.out_fd >= 0 ? fcntl(k.out_fd, F_DUPFD_CLOEXEC, 0) : -1;
    if (!c || !rx || wake_fd < 0 || (k.in_fd >= 0 && in_fd < 0) ||
        (k.out_fd >= 0 && out_fd < 0)) {
        r = (wake_fd < 0 || (k.in_fd >= 0 && in_fd < 0) || (k.out_fd >= 0 && out_fd < 0))
                ? vmm_err(-errno, "%s: eventfd or dup: %s", fn, strerror(errno))
                : vmm_err(-ENOMEM, "%s: out of memory", fn);
        if (wake_fd >= 0)
            close(wake_fd);
        if (in_fd >= 0)
            close(in_fd);
        if (out_fd >= 0)
            close(out_fd);
        free(rx);
        free(c);
        return r;
    }
    c->rx = rx;
    c->wake_fd = wake_fd;
    c->out_fd = out_fd;
    c->out_fn = k.out_fn;
    c->out_user = k.out_user;
    c->in_fd = in_fd;
    struct stat st;
    c->out_sigpipe = k.out_fd >= 0 && fstat(k.out_fd, &st) == 0 &&
                     (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
    pthread_mutex_init(&c->rx_lock, NULL);

    vmm_device *dev = NULL;
    r = virtio_attach_common(vm, "virtio-console", &console_ops, c, &k.transport, fn, &dev);
    if (r < 0)
        return r; /* console_destroy() has freed c */
    c->dev = dev;
    registry_add(c);
    if (out)
        *out = dev;
    return 0;
}

VMM_API int vmm_virtio_console_input(vmm_device *dev, const void *data, size_t len)
{
    static const char fn[] = "vmm_virtio_console_input";
    if (!dev)
        return vmm_err(-EINVAL, "%s: dev is NULL", fn);
    if (!data && len)
        return vmm_err(-EINVAL, "%s: data is NULL", fn);
    if (len > INT_MAX)
        len = INT_MAX; /* the count must fit the return value */
    pthread_mutex_lock(&registry_lock);
    struct console *c = registry;
    while (c && c->dev != dev)
        c = c->next;
    /* Held while queuing: console_destroy() takes it first, so the console
     * stays. Without a match @dev may be freed memory: it is not looked at. */
    int r;
    if (!c) {
        r = vmm_err(-EINVAL, "%s: the device is not a live virtio-console from "
                    "vmm_virtio_console_attach()", fn);
    } else {
        r = (int)rx_put(c, data, len);
        if (r > 0)
            wake(c);
    }
    pthread_mutex_unlock(&registry_lock);
    return r;
}
