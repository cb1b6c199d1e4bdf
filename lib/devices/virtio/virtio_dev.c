/* The transport-independent virtio device (virtio_dev.h): the device
 * status state machine (virtio 1.2, 2.1 and 3.1.1), feature negotiation
 * (2.2), queue enable, config space bounds (2.5), kicks, and
 * DEVICE_NEEDS_RESET (2.1.2). */
#include "devices/virtio/virtio_dev.h"

#include "core/error.h"
#include "core/range_map.h"
#include "io/iothread.h"
#include "memory/memory.h"
#include "vm/vm.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* What the I/O thread's callback for a queue's kick eventfd gets. */
struct virtio_kick {
    struct virtio_dev *d;
    uint16_t q;
};

/* Bits the core itself implements (lib/devices/virtio/virtqueue.c). */
#define CORE_FEATURES                                                                 \
    ((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_INDIRECT_DESC) |                \
     (1ull << VIRTIO_F_EVENT_IDX))

/* Guest RAM as the virtqueues see it: the VM's memory map, RAM only.
 * Memory is not remapped while device work runs (vmm_vm_io_enter() or a
 * running vCPU). Regions the guest may not write (VMM_MEM_READONLY) or the
 * host cannot (a read-only fd mapping: a store there is SIGSEGV) are not
 * virtqueue memory: a ring or buffer there is a protocol violation. */
static void *vm_translate(void *ctx, uint64_t gpa, uint64_t len)
{
    vmm_vm *vm = ctx;
    const struct vmm_range *r = vmm_range_map_find_span(&vm->memory.map, gpa, len ? len : 1);
    if (!r)
        return NULL;
    const struct vmm_region *region = r->owner;
    if (!region->host_writable || (region->flags & VMM_MEM_READONLY))
        return NULL;
    return region->hva + (gpa - region->gpa);
}

static bool queues_may_run(const struct virtio_dev *d)
{
    return (d->status & VIRTIO_STATUS_DRIVER_OK) && !d->broken;
}

/* Runs the backend on queue @q if the driver has it live; d->lock held. */
static void process_queue(struct virtio_dev *d, uint16_t q)
{
    if (q < d->num_queues && queues_may_run(d) && d->vqs[q].enabled)
        d->ops->queue_notify(d, q);
}

static void kick_ready(int fd, void *ctx)
{
    struct virtio_kick *k = ctx;
    uint64_t count;
    /* Drains the eventfd; a failed read (EAGAIN) means a racing drain. */
    if (read(fd, &count, sizeof(count)) < 0)
        return;
    vmm_vm_io_enter(k->d->vm);
    virtio_dev_lock(k->d);
    process_queue(k->d, k->q);
    virtio_dev_unlock(k->d);
    vmm_vm_io_leave(k->d->vm);
}

/* Stops the I/O thread's kick watches: afterwards no kick callback runs.
 * The fds stay open until free_queues() (the transport deassigns its
 * ioeventfds by fd, after this). */
static void stop_kicks(struct virtio_dev *d)
{
    for (uint16_t i = 0; d->kick_fds && i < d->num_queues; i++)
        if (d->kick_fds[i] >= 0)
            vmm_iothread_remove(d->vm, d->kick_fds[i]);
}

static void free_queues(struct virtio_dev *d)
{
    stop_kicks(d);
    for (uint16_t i = 0; d->kick_fds && i < d->num_queues; i++)
        if (d->kick_fds[i] >= 0)
            close(d->kick_fds[i]);
    for (uint16_t i = 0; d->vqs && i < d->num_queues; i++)
        virtq_fini(&d->vqs[i]);
    free(d->vqs);
    free(d->kick_fds);
    free(d->kicks);
    free(d->counted);
    d->vqs = NULL;
    d->kick_fds = NULL;
    d->kicks = NULL;
    d->counted = NULL;
}

static int alloc_queues(struct virtio_dev *d, uint16_t max, const char *caller)
{
    uint16_t n = d->num_queues;
    d->vqs = calloc(n, sizeof(*d->vqs));
    d->kick_fds = malloc(n * sizeof(*d->kick_fds));
    d->kicks = calloc(n, sizeof(*d->kicks));
    d->counted = calloc(n, sizeof(*d->counted));
    if (!d->vqs || !d->kick_fds || !d->kicks || !d->counted) {
        free_queues(d);
        return vmm_err(-ENOMEM, "%s: out of memory", caller);
    }
    for (uint16_t i = 0; i < n; i++)
        d->kick_fds[i] = -1;
    for (uint16_t i = 0; i < n; i++) {
        int r = virtq_init(&d->vqs[i], d->name, i, max);
        if (r < 0) {
            free_queues(d);
            return r;
        }
        d->vqs[i].msix_vector = VIRTIO_MSI_NO_VECTOR;
        if (d->inline_mode)
            continue;
        d->kicks[i] = (struct virtio_kick){ .d = d, .q = i };
        d->kick_fds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (d->kick_fds[i] < 0) {
            r = vmm_err(-errno, "%s: eventfd for %s queue %u: %s", caller, d->name, i,
                        strerror(errno));
            free_queues(d);
            return r;
        }
        r = vmm_iothread_add(d->vm, d->kick_fds[i], EPOLLIN, kick_ready, &d->kicks[i], caller);
        if (r < 0) {
            close(d->kick_fds[i]);
            d->kick_fds[i] = -1;
            free_queues(d);
            return r;
        }
    }
    return 0;
}

int virtio_dev_create(vmm_vm *vm, const char *name, const struct virtio_backend_ops *ops,
                      void *backend, bool inline_mode, struct virtio_dev **out)
{
    static const char fn[] = "virtio_dev_create";
    struct virtio_dev *d = calloc(1, sizeof(*d));
    if (!d) {
        struct virtio_dev tmp = { .vm = vm, .ops = ops, .backend = backend };
        if (ops->destroy)
            ops->destroy(&tmp);
        return vmm_err(-ENOMEM, "%s: out of memory", fn);
    }
    d->vm = vm;
    snprintf(d->name, sizeof(d->name), "%s", name);
    d->ops = ops;
    d->backend = backend;
    d->inline_mode = inline_mode;
    pthread_mutex_init(&d->lock, NULL);
    d->mem = (struct virtio_mem){ .translate = vm_translate, .ctx = vm };
    d->device_features = ops->features | CORE_FEATURES;
    d->config_vector = VIRTIO_MSI_NO_VECTOR;
    d->num_queues = ops->num_queues;
    int r = alloc_queues(d, ops->queue_max, fn);
    if (r < 0) {
        virtio_dev_free(d);
        return r;
    }
    *out = d;
    return 0;
}

int virtio_dev_set_queue_max(struct virtio_dev *d, uint16_t max)
{
    static const char fn[] = "virtio_dev_set_queue_max";
    if (!max || (max & (max - 1)) || max > VIRTQ_MAX_SIZE)
        return vmm_err(-EINVAL, "%s: queue size %u is not a power of two in 1..32768", fn, max);
    /* Only the sizes change: the kick fds and their watches stay. */
    for (uint16_t i = 0; i < d->num_queues; i++) {
        struct virtq fresh;
        int r = virtq_init(&fresh, d->name, i, max);
        if (r < 0)
            return r;
        virtq_fini(&d->vqs[i]);
        d->vqs[i] = fresh;
        d->vqs[i].msix_vector = VIRTIO_MSI_NO_VECTOR;
    }
    return 0;
}

void virtio_dev_free(struct virtio_dev *d)
{
    if (!d)
        return;
    /* Nothing may run on the I/O thread for this device before its parts
     * go: the kick watches first, then the backend (it stops its own
     * watches, which may pop and interrupt), then the transport (it
     * deassigns its ioeventfds, which needs the kick fds still open), then
     * the queues. */
    stop_kicks(d);
    if (d->ops->destroy)
        d->ops->destroy(d);
    if (d->tops && d->tops->detach)
        d->tops->detach(d);
    free_queues(d);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

/* ---- the vmm_device that stands for it --------------------------------- */

static void device_reset(struct virtio_dev *d);

/* vmm_vm_reset_devices(): it holds the VM's change lock, which already
 * keeps the I/O thread out of guest memory (vmm_vm_io_enter() here would
 * wait for that change to end: for ever). */
static void reset_cb(vmm_device *dev, void *user)
{
    (void)dev;
    struct virtio_dev *d = user;
    virtio_dev_lock(d);
    device_reset(d);
    virtio_dev_unlock(d);
}

static void destroy_cb(void *user)
{
    virtio_dev_free(user);
}

int virtio_dev_attach_device(struct virtio_dev *d, vmm_io_fn mmio, const char *caller)
{
    struct vmm_device_ops ops = VMM_DEVICE_OPS_INIT;
    ops.name = d->name;
    ops.mmio = mmio;
    /* d->lock serialises what needs it; accesses may come from any vCPU. */
    ops.flags = VMM_DEVICE_F_CONCURRENT;
    ops.reset = reset_cb;
    ops.destroy = destroy_cb;
    int r = vmm_device_attach(d->vm, &ops, d, &d->dev);
    if (r < 0)
        return vmm_err(r, "%s: %s", caller, vmm_last_error()); /* destroy_cb freed d */
    return 0;
}

struct virtio_dev *virtio_dev_from_device(vmm_device *dev)
{
    return dev && dev->ops.destroy == destroy_cb ? dev->user : NULL;
}

/* ---- registers ------------------------------------------------------- */

uint32_t virtio_dev_features_read(struct virtio_dev *d)
{
    switch (d->device_features_sel) {
    case 0:
        return (uint32_t)d->device_features;
    case 1:
        return (uint32_t)(d->device_features >> 32);
    default:
        return 0;
    }
}

void virtio_dev_features_write(struct virtio_dev *d, uint32_t v)
{
    /* 2.2.1: features are fixed once FEATURES_OK is set. */
    if (d->status & VIRTIO_STATUS_FEATURES_OK) {
        virtio_dev_guest_error(d, "driver features written after FEATURES_OK: ignored");
        return;
    }
    switch (d->driver_features_sel) {
    case 0:
        d->driver_features = (d->driver_features & ~0xffffffffull) | v;
        break;
    case 1:
        d->driver_features = (d->driver_features & 0xffffffffull) | ((uint64_t)v << 32);
        break;
    default:
        if (v)
            virtio_dev_guest_error(d, "driver features word %u = 0x%x: no such features",
                                   d->driver_features_sel, v);
        break;
    }
}

uint8_t virtio_dev_status_read(struct virtio_dev *d)
{
    return d->status;
}

static void device_reset(struct virtio_dev *d)
{
    for (uint16_t i = 0; i < d->num_queues; i++) {
        if (d->vqs[i].enabled && d->tops && d->tops->queue_stop)
            d->tops->queue_stop(d, i);
        virtq_reset(&d->vqs[i]);
        d->vqs[i].msix_vector = VIRTIO_MSI_NO_VECTOR;
        d->counted[i] = 0;
    }
    d->driver_features = 0;
    d->device_features_sel = d->driver_features_sel = 0;
    d->status = 0;
    d->isr = 0;
    d->queue_sel = 0;
    d->config_vector = VIRTIO_MSI_NO_VECTOR;
    d->broken = false;
    if (d->ops->reset)
        d->ops->reset(d);
    if (d->tops && d->tops->reset)
        d->tops->reset(d);
}

/* 3.1.1 step 5-6: what FEATURES_OK needs. Returns NULL or why not. */
static const char *features_refused(const struct virtio_dev *d)
{
    if (d->driver_features & ~d->device_features)
        return "the driver accepted features the device did not offer";
    if (!virtio_dev_has(d, VIRTIO_F_VERSION_1))
        return "the driver did not accept VIRTIO_F_VERSION_1 (legacy drivers are not supported)";
    return NULL;
}

static void driver_ok(struct virtio_dev *d)
{
    for (uint16_t i = 0; i < d->num_queues; i++) {
        if (d->vqs[i].enabled && d->tops && d->tops->queue_start &&
            d->tops->queue_start(d, i) < 0)
            vmm_log(VMM_LOG_WARN, "%s queue %u: no ioeventfd (%s); notifications exit", d->name,
                    i, vmm_last_error());
    }
    if (d->ops->activate) {
        int r = d->ops->activate(d);
        if (r < 0) {
            virtio_dev_fail(d, "%s: the device could not start: %s", d->name, vmm_last_error());
            return;
        }
    }
    /* Buffers posted before DRIVER_OK were not touched (3.1.1); serve them. */
    for (uint16_t i = 0; i < d->num_queues; i++)
        process_queue(d, i);
}

void virtio_dev_status_write(struct virtio_dev *d, uint8_t v)
{
    if (v == 0) {
        device_reset(d);
        return;
    }
    uint8_t old = d->status;
    if ((old & ~v) & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET) {
        /* 2.1.1: the driver MUST NOT clear a status bit (other than by
         * reset). Keep what was set. */
        virtio_dev_guest_error(d, "status 0x%02x would clear bits of 0x%02x: ignored", v, old);
        return;
    }
    uint8_t set = v & ~old;
    uint8_t next = old | (v & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    if (set & VIRTIO_STATUS_FEATURES_OK) {
        const char *why = features_refused(d);
        if (why) {
            /* 3.1.1 step 6: the driver re-reads and sees FEATURES_OK clear. */
            virtio_dev_guest_error(d, "FEATURES_OK refused: %s (0x%llx, offered 0x%llx)", why,
                                   (unsigned long long)d->driver_features,
                                   (unsigned long long)d->device_features);
            next &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
            set &= (uint8_t)~(VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
            next &= (uint8_t)~VIRTIO_STATUS_DRIVER_OK;
        }
    }
    d->status = next;
    if (set & VIRTIO_STATUS_DRIVER_OK) {
        if (!(next & VIRTIO_STATUS_FEATURES_OK)) {
            virtio_dev_fail(d, "%s: DRIVER_OK without FEATURES_OK", d->name);
            return;
        }
        driver_ok(d);
    }
}

struct virtq *virtio_dev_selected(struct virtio_dev *d)
{
    return d->queue_sel < d->num_queues ? &d->vqs[d->queue_sel] : NULL;
}

void virtio_dev_queue_enable(struct virtio_dev *d, struct virtq *vq)
{
    if (vq->enabled)
        return;
    int r = virtq_enable(vq, &d->mem, virtio_dev_has(d, VIRTIO_F_EVENT_IDX),
                         virtio_dev_has(d, VIRTIO_F_INDIRECT_DESC));
    if (r < 0) {
        virtio_dev_fail(d, "%s", vmm_last_error());
        return;
    }
    d->counted[vq->index] = 0;
    /* A queue enabled after DRIVER_OK (allowed for queues the driver
     * brings up later) starts at once. */
    if (d->status & VIRTIO_STATUS_DRIVER_OK) {
        if (d->tops && d->tops->queue_start)
            d->tops->queue_start(d, vq->index);
        process_queue(d, vq->index);
    }
}

static bool config_access_ok(const struct virtio_dev *d, uint32_t off, uint32_t len)
{
    return (len == 1 || len == 2 || len == 4 || len == 8) && off <= d->ops->config_size &&
           len <= d->ops->config_size - off;
}

void virtio_dev_config_read(struct virtio_dev *d, uint32_t off, void *data, uint32_t len)
{
    memset(data, 0, len);
    if (!config_access_ok(d, off, len)) {
        virtio_dev_guest_error(d, "config read of %u bytes at 0x%x is outside its %u bytes", len,
                               off, d->ops->config_size);
        return;
    }
    if (d->ops->config_read)
        d->ops->config_read(d, off, data, len);
}

void virtio_dev_config_write(struct virtio_dev *d, uint32_t off, const void *data, uint32_t len)
{
    if (!config_access_ok(d, off, len) || !d->ops->config_write) {
        virtio_dev_guest_error(d, "config write of %u bytes at 0x%x: not writable", len, off);
        return;
    }
    d->ops->config_write(d, off, data, len);
}

uint8_t virtio_dev_isr_take(struct virtio_dev *d)
{
    uint8_t v = d->isr;
    d->isr = 0;
    return v;
}

/* ---- queue work -------------------------------------------------------- */

void virtio_dev_kick(struct virtio_dev *d, uint16_t q)
{
    if (q >= d->num_queues) {
        virtio_dev_guest_error(d, "notification for queue %u, but it has %u", q, d->num_queues);
        return;
    }
    if (d->kick_fds[q] >= 0) {
        uint64_t one = 1;
        /* Cannot fail short of an overflowing counter (then it is set). */
        if (write(d->kick_fds[q], &one, sizeof(one)) < 0 && errno != EAGAIN)
            vmm_log(VMM_LOG_WARN, "%s queue %u: kick lost: %s", d->name, q, strerror(errno));
        return;
    }
    vmm_vm_io_enter(d->vm);
    virtio_dev_lock(d);
    process_queue(d, q);
    virtio_dev_unlock(d);
    vmm_vm_io_leave(d->vm);
}

void virtio_dev_run_locked(struct virtio_dev *d, void (*fn)(struct virtio_dev *d, void *arg),
                           void *arg)
{
    vmm_vm_io_enter(d->vm);
    virtio_dev_lock(d);
    fn(d, arg);
    virtio_dev_unlock(d);
    vmm_vm_io_leave(d->vm);
}

int virtio_dev_pop(struct virtio_dev *d, uint16_t q, struct virtq_chain **out)
{
    if (q >= d->num_queues || !queues_may_run(d) || !d->vqs[q].enabled)
        return 0;
    struct virtq *vq = &d->vqs[q];
    /* The ring's host addresses, again for this batch (memory may have been
     * remapped since the last one). */
    int r = virtq_begin(vq);
    if (r == 0)
        r = virtq_pop(vq, out);
    if (r < 0)
        virtio_dev_fail(d, "%s", vmm_last_error());
    return r;
}

bool virtio_dev_done(struct virtio_dev *d, uint16_t q)
{
    if (q >= d->num_queues || !d->vqs[q].enabled || d->broken)
        return false;
    struct virtq *vq = &d->vqs[q];
    /* The ring's host addresses for this batch: a backend may get here
     * without having popped (nothing to deliver), and memory may have been
     * remapped since its last batch. */
    if (virtq_begin(vq) < 0) {
        virtio_dev_fail(d, "%s", vmm_last_error());
        return false;
    }
    uint16_t pushed = (uint16_t)(vq->used_idx - d->counted[q]);
    d->counted[q] = vq->used_idx;
    if (pushed)
        __atomic_fetch_add(&d->requests, pushed, __ATOMIC_RELAXED);
    if (pushed && virtq_should_notify(vq)) {
        d->isr |= VIRTIO_ISR_QUEUE;
        d->tops->interrupt(d, VIRTIO_ISR_QUEUE, vq->msix_vector);
    }
    return virtq_enable_notify(vq);
}

void virtio_dev_config_changed(struct virtio_dev *d)
{
    d->config_generation++;
    if (!(d->status & VIRTIO_STATUS_DRIVER_OK))
        return;
    d->isr |= VIRTIO_ISR_CONFIG;
    if (d->tops && d->tops->interrupt)
        d->tops->interrupt(d, VIRTIO_ISR_CONFIG, d->config_vector);
}

void virtio_dev_guest_error(struct virtio_dev *d, const char *fmt, ...)
{
    unsigned n = __atomic_add_fetch(&d->guest_errors, 1, __ATOMIC_RELAXED);
    if (n > VIRTIO_GUEST_ERROR_LOG_LIMIT)
        return;
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    vmm_log(VMM_LOG_WARN, "%s%s%s%s: %s%s", d->name, d->where[0] ? " (" : "", d->where,
            d->where[0] ? ")" : "", text,
            n == VIRTIO_GUEST_ERROR_LOG_LIMIT ? "; further driver errors of this device are "
                                                "not logged" : "");
}

void virtio_dev_fail(struct virtio_dev *d, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    __atomic_fetch_add(&d->violations, 1, __ATOMIC_RELAXED);
    vmm_err_set_text(msg);
    if (d->broken)
        return;
    vmm_log(VMM_LOG_WARN, "%s: device needs reset: %s", d->name, msg);
    d->broken = true;
    d->status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
    /* 2.1.2: a device that sets NEEDS_RESET after DRIVER_OK SHOULD send a
     * configuration change notification. */
    virtio_dev_config_changed(d);
}
