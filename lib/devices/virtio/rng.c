/* vmm_virtio_rng_attach(): the entropy device (virtio 1.2 section 5.4).
 * One queue (requestq), no feature bits, no config space; each buffer the
 * driver posts is filled from getrandom(2). */
#include "devices/virtio/virtio_dev.h"

#include "core/config.h"
#include "core/error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* 5.4.6.1: the device MAY use less than the whole buffer. A cap keeps one
 * request from a hostile driver (up to 4 GiB of writable segments) from
 * holding the queue's thread for seconds. */
#define RNG_MAX_PER_REQUEST (64u * 1024u)

struct rng {
    bool warned; /* getrandom() failed once: logged */
};

/* Fills @len bytes from the kernel's CSPRNG. getrandom() without
 * GRND_NONBLOCK waits only until the pool is first initialised (early
 * boot); afterwards it never blocks, but a large read may return short or
 * be interrupted by a signal (EINTR). Returns the bytes filled. */
static size_t fill_random(struct rng *s, const char *name, uint8_t *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = getrandom(buf + done, len - done, 0);
        if (n > 0) {
            done += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            if (!s->warned)
                vmm_log(VMM_LOG_WARN, "%s: getrandom() failed: %s", name,
                        n < 0 ? strerror(errno) : "no bytes");
            s->warned = true;
            break;
        }
    }
    return done;
}

/* 5.4.6: fill every device-writable segment, up to RNG_MAX_PER_REQUEST. */
static void rng_queue_notify(struct virtio_dev *d, uint16_t q)
{
    struct rng *s = d->backend;
    struct virtq_chain *c;
    do {
        int r;
        while ((r = virtio_dev_pop(d, q, &c)) == 1) {
            if (c->n_in == 0) {
                /* 5.4.6.1: the device MUST place one or more random bytes:
                 * a buffer it cannot write is a driver bug. */
                virtio_dev_fail(d, "%s queue %u: request %u has no device-writable buffer",
                                d->name, q, c->head);
                return;
            }
            uint32_t written = 0;
            for (uint16_t i = 0; i < c->n_in && written < RNG_MAX_PER_REQUEST; i++) {
                const struct virtq_seg *seg = &c->seg[c->n_out + i];
                uint32_t want = seg->len;
                if (want > RNG_MAX_PER_REQUEST - written)
                    want = RNG_MAX_PER_REQUEST - written;
                size_t n = fill_random(s, d->name, seg->base, want);
                written += (uint32_t)n;
                if (n < want)
                    break;
            }
            virtq_push(&d->vqs[q], c->head, written);
        }
        if (r < 0)
            return; /* the device is marked broken */
    } while (virtio_dev_done(d, q));
}

static void rng_destroy(struct virtio_dev *d)
{
    free(d->backend);
}

static const struct virtio_backend_ops rng_ops = {
    .device_id = VIRTIO_ID_RNG,
    .num_queues = 1,
    .queue_max = VMM_VIRTIO_QUEUE_SIZE_DEFAULT,
    .config_size = 0,
    .features = 0,
    .queue_notify = rng_queue_notify,
    .destroy = rng_destroy,
};

VMM_API int vmm_virtio_rng_attach(vmm_vm *vm, const struct vmm_virtio_rng_config *cfg,
                                  vmm_device **out)
{
    static const char fn[] = "vmm_virtio_rng_attach";
    if (!vm || !cfg)
        return vmm_err(-EINVAL, "%s: vm and cfg must not be NULL", fn);
    struct vmm_virtio_rng_config c;
    int r = vmm_config_copy(cfg, &c, sizeof(c), "config", "VMM_VIRTIO_RNG_CONFIG_INIT", fn);
    if (r < 0)
        return r;
    if (c.flags)
        return vmm_err(-EINVAL, "%s: unknown flags 0x%x (none are defined)", fn, c.flags);
    struct rng *s = calloc(1, sizeof(*s));
    if (!s)
        return vmm_err(-ENOMEM, "%s: out of memory", fn);
    return virtio_attach_common(vm, "virtio-rng", &rng_ops, s, &c.transport, fn, out);
}
