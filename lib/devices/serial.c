/* vmm_serial_attach(): the 16550A model of uart16550.c as a device on the
 * public device API, with its interrupt line, guest output to an fd and/or
 * a callback, and guest input from vmm_serial_input() and an fd reader
 * thread. See docs/devices.md. */
#include <vmm/vmm.h>

#include "core/config.h"
#include "core/error.h"
#include "devices/attach.h"
#include "devices/uart16550.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#define UART_PORTS 8

struct serial {
    /* Every live serial device, so vmm_serial_input() can tell them from
     * other devices without trusting another device's user pointer. */
    struct serial *next, *prev;
    bool registered;

    vmm_device *dev;
    char name[32];
    uint32_t irq; /* VMM_SERIAL_NO_IRQ for none */

    /* The UART is reached from vCPU threads (register accesses), from the
     * reader thread and from any thread calling vmm_serial_input(). */
    pthread_mutex_t lock;
    pthread_cond_t room; /* receive queue drained, or stop */
    struct uart uart;
    bool irq_level;      /* level last driven on the line */

    int out_fd;
    bool out_sigpipe;    /* out_fd is a pipe or socket: may raise SIGPIPE */
    bool out_failed;     /* a write failed: output to out_fd stopped */
    vmm_serial_output_fn out_fn;
    void *out_user;

    int in_fd;
    int wake_fd;         /* eventfd: tells the reader thread to stop */
    bool stop;
    bool has_reader;
    pthread_t reader;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct serial *registry;

static void registry_add(struct serial *s)
{
    pthread_mutex_lock(&registry_lock);
    s->next = registry;
    s->prev = NULL;
    if (registry)
        registry->prev = s;
    registry = s;
    s->registered = true;
    pthread_mutex_unlock(&registry_lock);
}

static void registry_remove(struct serial *s)
{
    pthread_mutex_lock(&registry_lock);
    if (s->registered) {
        if (s->prev)
            s->prev->next = s->next;
        else
            registry = s->next;
        if (s->next)
            s->next->prev = s->prev;
        s->registered = false;
    }
    pthread_mutex_unlock(&registry_lock);
}

/* Drives the interrupt line to the UART's level when it changed. Called
 * with s->lock held, so line changes happen in register-state order. */
static int update_irq(struct serial *s)
{
    bool level = uart_irq_level(&s->uart);
    if (s->irq == VMM_SERIAL_NO_IRQ || level == s->irq_level)
        return 0;
    int r = vmm_device_set_irq(s->dev, s->irq, level);
    if (r == 0)
        s->irq_level = level;
    return r;
}

/* Writes all of @data to out_fd, waiting (like a blocking write) when a
 * non-blocking fd is full. A reader that went away must not kill the host
 * process: SIGPIPE is blocked around the write and, if the write raised it,
 * consumed (it is directed at this thread). Returns 0 or a positive errno. */
static int write_all(struct serial *s, const uint8_t *data, size_t len)
{
    sigset_t pipe_set, old_mask, pending;
    bool was_pending = false;
    if (s->out_sigpipe) {
        sigemptyset(&pipe_set);
        sigaddset(&pipe_set, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
        was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
    }
    int err = 0;
    while (len > 0) {
        ssize_t n = write(s->out_fd, data, len);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = { .fd = s->out_fd, .events = POLLOUT };
            if (poll(&p, 1, -1) >= 0 || errno == EINTR)
                continue;
        }
        err = n < 0 ? errno : EIO;
        break;
    }
    if (s->out_sigpipe) {
        if (err == EPIPE && !was_pending) {
            static const struct timespec zero = { 0, 0 };
            while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
                ;
        }
        pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    }
    return err;
}

/* Hands transmitted bytes to out_fd and out_fn, outside s->lock so that
 * out_fn may call vmm_serial_input() (an echo, say). Returns out_fn's
 * result. */
static int emit(struct serial *s, vmm_vcpu *vcpu, const uint8_t *data, size_t len)
{
    if (s->out_fd >= 0 && !s->out_failed) {
        int err = write_all(s, data, len);
        if (err) {
            /* A console that cannot be written is the host's problem, not
             * the guest's: stop writing to it and let the guest go on. */
            s->out_failed = true;
            vmm_log(VMM_LOG_WARN, "%s: writing guest output to fd %d failed (%s); "
                    "further output to it is dropped", s->name, s->out_fd, strerror(err));
        }
    }
    /* A failure (or a bad return value) is worded by the dispatcher, as
     * for any device callback. */
    return s->out_fn ? s->out_fn(vcpu, data, len, s->out_user) : 0;
}

/* Port I/O on [port, port + 8). The UART sits on an 8-bit bus: a 2- or
 * 4-byte access is split into byte accesses to consecutive registers, as
 * the PC's bus does; bytes past the eighth register read 0xff. */
static int serial_pio(vmm_device *dev, vmm_vcpu *vcpu, const struct vmm_io *io, void *user)
{
    (void)dev;
    struct serial *s = user;
    uint8_t *data = io->data;
    uint8_t out[4];
    size_t nout = 0;
    pthread_mutex_lock(&s->lock);
    size_t room_before = uart_input_room(&s->uart);
    for (uint32_t i = 0; i < io->len && i < sizeof(out); i++) {
        uint64_t offset = io->offset + i;
        if (offset >= UART_PORTS) {
            if (!io->is_write)
                data[i] = 0xff;
        } else if (io->is_write) {
            if (uart_write(&s->uart, (unsigned)offset, data[i], &out[nout]))
                nout++;
        } else {
            data[i] = uart_read(&s->uart, (unsigned)offset);
        }
    }
    if (uart_input_room(&s->uart) > room_before)
        pthread_cond_broadcast(&s->room);
    int r = update_irq(s);
    pthread_mutex_unlock(&s->lock);
    if (nout && r == 0)
        r = emit(s, vcpu, out, nout);
    else if (nout)
        emit(s, vcpu, out, nout);
    return r;
}

static void serial_reset(vmm_device *dev, void *user)
{
    (void)dev;
    struct serial *s = user;
    pthread_mutex_lock(&s->lock);
    uart_reset(&s->uart, true);
    pthread_cond_broadcast(&s->room);
    update_irq(s);
    pthread_mutex_unlock(&s->lock);
}

/* Queues bytes for the guest; returns how many fitted. */
static size_t serial_feed(struct serial *s, const uint8_t *data, size_t len)
{
    pthread_mutex_lock(&s->lock);
    size_t n = uart_input(&s->uart, data, len);
    if (n)
        update_irq(s); /* a failure is KVM's; the bytes are queued anyway */
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* The in_fd reader: reads what arrives and feeds it to the UART, waiting
 * for the guest to drain the receive queue when it is full (so nothing read
 * is ever dropped). Ends at EOF, on a read error, or when told to stop. */
static void *reader_main(void *arg)
{
    struct serial *s = arg;
    uint8_t buf[512];
    size_t have = 0, done = 0;
    for (;;) {
        if (done < have) {
            pthread_mutex_lock(&s->lock);
            while (!s->stop && uart_input_room(&s->uart) == 0)
                pthread_cond_wait(&s->room, &s->lock);
            bool stop = s->stop;
            if (!stop) {
                done += uart_input(&s->uart, buf + done, have - done);
                update_irq(s);
            }
            pthread_mutex_unlock(&s->lock);
            if (stop)
                break;
            continue;
        }
        struct pollfd p[2] = {
            { .fd = s->in_fd, .events = POLLIN },
            { .fd = s->wake_fd, .events = POLLIN },
        };
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents)
            break;
        if (p[0].revents & POLLNVAL)
            break;
        if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        ssize_t n = read(s->in_fd, buf, sizeof(buf));
        if (n > 0) {
            have = (size_t)n;
            done = 0;
        } else if (n == 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) {
            break; /* EOF or a hard error: no more input from this fd */
        }
    }
    return NULL;
}

static int start_reader(struct serial *s, const char *fn)
{
    s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->wake_fd < 0)
        return vmm_err(-errno, "%s: eventfd for the input thread: %s", fn, strerror(errno));
    /* The thread takes no signals: the application's (and the kick signal)
     * belong to its own threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&s->reader, NULL, reader_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err)
        return vmm_err(-err, "%s: cannot start the input thread: %s", fn, strerror(err));
    s->has_reader = true;
    return 0;
}

static void stop_reader(struct serial *s)
{
    if (s->has_reader) {
        pthread_mutex_lock(&s->lock);
        s->stop = true;
        pthread_cond_broadcast(&s->room);
        pthread_mutex_unlock(&s->lock);
        uint64_t one = 1;
        while (write(s->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
            ;
        pthread_join(s->reader, NULL);
        s->has_reader = false;
    }
    if (s->wake_fd >= 0)
        close(s->wake_fd);
    s->wake_fd = -1;
}

static void serial_destroy(void *user)
{
    struct serial *s = user;
    registry_remove(s);
    stop_reader(s);
    pthread_cond_destroy(&s->room);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

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

static int read_config(const struct vmm_serial_config *in, struct vmm_serial_config *c,
                       const char *fn)
{
    int r = vmm_config_copy(in, c, sizeof(*c), "config", "VMM_SERIAL_CONFIG_INIT", fn);
    if (r < 0)
        return r;
    if (c->flags)
        return vmm_err(-EINVAL, "%s: unknown flags 0x%x (none are defined)", fn, c->flags);
    if (c->reserved0)
        return vmm_err(-EINVAL, "%s: reserved0 must be 0", fn);
    if ((uint32_t)c->port + UART_PORTS > 0x10000)
        return vmm_err(-EINVAL, "%s: ports [0x%x, 0x%x) run past the last port 0xffff", fn,
                       c->port, (uint32_t)c->port + UART_PORTS);
    if (c->irq != VMM_SERIAL_NO_IRQ && c->irq > 23)
        return vmm_err(-EINVAL, "%s: irq %u is neither a GSI (0-23) nor VMM_SERIAL_NO_IRQ", fn,
                       c->irq);
    r = check_fd(c->out_fd, "out_fd", O_RDONLY, fn);
    if (r == 0)
        r = check_fd(c->in_fd, "in_fd", O_WRONLY, fn);
    return r;
}

VMM_API int vmm_serial_attach(vmm_vm *vm, const struct vmm_serial_config *cfg,
                              vmm_device **out)
{
    static const char fn[] = "vmm_serial_attach";
    if (!vm || !cfg)
        return vmm_err(-EINVAL, "%s: vm and cfg must not be NULL", fn);
    struct vmm_serial_config c;
    int r = read_config(cfg, &c, fn);
    if (r < 0)
        return r;
    struct serial *s = calloc(1, sizeof(*s));
    if (!s)
        return vmm_err(-ENOMEM, "%s: out of memory", fn);
    snprintf(s->name, sizeof(s->name), "serial@0x%x", c.port);
    s->irq = c.irq;
    s->out_fd = c.out_fd;
    s->out_fn = c.out_fn;
    s->out_user = c.out_user;
    s->in_fd = c.in_fd;
    s->wake_fd = -1;
    struct stat st;
    s->out_sigpipe = c.out_fd >= 0 && fstat(c.out_fd, &st) == 0 &&
                     (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
    uart_reset(&s->uart, false);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->room, NULL);

    struct vmm_device_ops ops = VMM_DEVICE_OPS_INIT;
    ops.name = s->name;
    ops.pio = serial_pio;
    ops.reset = serial_reset;
    ops.destroy = serial_destroy;
    const struct vmm_port_range ports[] = { { c.port, UART_PORTS } };
    vmm_device *dev = NULL;
    r = vmm_devices_attach_pio(vm, &ops, s, ports, 1, &dev);
    if (r < 0)
        return r; /* serial_destroy() has freed s */
    s->dev = dev;
    if (c.irq != VMM_SERIAL_NO_IRQ) {
        /* Also tells whether the VM has an irqchip at all. */
        r = vmm_device_set_irq(dev, c.irq, 0);
        if (r == -ENODEV)
            r = vmm_err(-EINVAL, "%s: irq %u needs an interrupt controller, but the VM has "
                        "none (platform NONE); use VMM_SERIAL_NO_IRQ", fn, c.irq);
        if (r < 0)
            return vmm_devices_undo_attach(dev, r);
    }
    if (c.in_fd >= 0) {
        r = start_reader(s, fn);
        if (r < 0)
            return vmm_devices_undo_attach(dev, r);
    }
    registry_add(s);
    if (out)
        *out = dev;
    return 0;
}

VMM_API int vmm_serial_input(vmm_device *dev, const void *data, size_t len)
{
    static const char fn[] = "vmm_serial_input";
    if (!dev)
        return vmm_err(-EINVAL, "%s: dev is NULL", fn);
    if (!data && len)
        return vmm_err(-EINVAL, "%s: data is NULL", fn);
    if (len > INT_MAX)
        len = INT_MAX; /* the count must fit the return value */
    pthread_mutex_lock(&registry_lock);
    struct serial *s = registry;
    while (s && s->dev != dev)
        s = s->next;
    /* Held until the bytes are queued: the device cannot be destroyed
     * meanwhile (serial_destroy() takes this lock first). */
    /* Without a match @dev may be freed memory: it is not looked at. */
    int r = s ? (int)serial_feed(s, data, len)
              : vmm_err(-EINVAL, "%s: the device is not a live serial device from "
                        "vmm_serial_attach()", fn);
    pthread_mutex_unlock(&registry_lock);
    return r;
}
