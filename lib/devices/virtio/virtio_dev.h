/* The transport-independent part of a virtio device (virtio 1.2 sections
 * 2 and 3): feature negotiation, device status, the queues, config space
 * bounds, interrupts, and DEVICE_NEEDS_RESET. Transports (virtio_mmio.c,
 * virtio_pci.c) map their registers onto these calls; backends (blk.c,
 * console.c, rng.c, net.c) implement struct virtio_backend_ops.
 *
 * Locking: d->lock guards everything below it. Transport register handlers
 * take it (virtio_dev_lock()) around each access; backends' queue_notify,
 * activate, reset and config callbacks are called with it held. Queue work
 * runs on the VM's I/O thread (or, with VMM_VIRTIO_F_INLINE or without
 * eventfd support, on the vCPU thread that kicked), bracketed by
 * vmm_vm_io_enter()/vmm_vm_io_leave() so guest memory cannot be remapped
 * under it. */
#ifndef VMM_LIB_VIRTIO_DEV_H
#define VMM_LIB_VIRTIO_DEV_H

#include <vmm/vmm.h>
#include <vmm/devices/virtio.h>

#include "devices/virtio/virtqueue.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct virtio_dev;
struct virtio_kick;

/* What a device type implements. Callbacks run with d->lock held. */
struct virtio_backend_ops {
    uint32_t device_id;   /* VIRTIO_ID_* */
    uint16_t num_queues;
    uint16_t queue_max;   /* max size of every queue (power of two) */
    uint32_t config_size; /* bytes of device-specific config space */
    uint64_t features;    /* device-specific feature bits offered; the core
                           * adds VERSION_1, INDIRECT_DESC, EVENT_IDX */
    /* Fill @len bytes at @off of the config space (the core checked
     * off + len <= config_size). */
    void (*config_read)(struct virtio_dev *d, uint32_t off, void *data, uint32_t len);
    /* The driver wrote config space (already bounds-checked); NULL: ignored. */
    void (*config_write)(struct virtio_dev *d, uint32_t off, const void *data, uint32_t len);
    /* Queue @q has work (a kick, or activate). Pop with virtio_dev_pop(),
     * push with virtq_push(), then call virtio_dev_done(). */
    void (*queue_notify)(struct virtio_dev *d, uint16_t q);
    /* DRIVER_OK was set with every negotiated queue valid; may be NULL.
     * Returns 0 or a negative errno (the device is then marked broken). */
    int (*activate)(struct virtio_dev *d);
    /* Device reset (status 0, or the VM's device reset); may be NULL. */
    void (*reset)(struct virtio_dev *d);
    /* Free the backend; called once at detach, after the transport can no
     * longer call in and the I/O thread no longer holds any of its fds. */
    void (*destroy)(struct virtio_dev *d);
};

/* What the core needs from a transport. */
struct virtio_transport_ops {
    /* Deliver an interrupt: @isr_bit is VIRTIO_ISR_QUEUE (then @vector is
     * the queue's MSI-X vector) or VIRTIO_ISR_CONFIG (the config vector).
     * Called with d->lock held, from any thread. */
    void (*interrupt)(struct virtio_dev *d, uint32_t isr_bit, uint16_t vector);
    /* Queue @q became ready / was reset: start or stop the ioeventfd for
     * its notify address. May be NULL. Called with d->lock held. */
    int (*queue_start)(struct virtio_dev *d, uint16_t q);
    void (*queue_stop)(struct virtio_dev *d, uint16_t q);
    /* The device is being destroyed: release everything the transport
     * holds (PCI slot, ioeventfds, irqfds, MSI routes, its state). Called
     * once, before the backend is destroyed, without d->lock. */
    void (*detach)(struct virtio_dev *d);
    /* Device reset by the VM (vmm_vm_reset_devices()) or status 0: reset
     * transport-private registers (MSI-X table stays, as on PCI). May be NULL. */
    void (*reset)(struct virtio_dev *d);
    /* Fill the transport's fields of vmm_virtio_get_info() (transport,
     * irq, mmio_base, pci_slot). d->lock held. May be NULL. */
    void (*info)(struct virtio_dev *d, struct vmm_virtio_info *info);
};

struct virtio_dev {
    vmm_vm *vm;
    vmm_device *dev;      /* the transport's vmm_device */
    char name[64];        /* e.g. "virtio-blk" */
    const struct virtio_backend_ops *ops;
    void *backend;        /* backend state, freed by ops->destroy */
    const struct virtio_transport_ops *tops;
    void *transport;      /* transport state (owned by the transport) */
    bool inline_mode;     /* VMM_VIRTIO_F_INLINE: queue work on the vCPU thread */

    pthread_mutex_t lock;
    struct virtio_mem mem;

    uint64_t device_features;
    uint64_t driver_features;
    uint32_t device_features_sel, driver_features_sel;
    uint8_t status;
    uint8_t isr;          /* VIRTIO_ISR_* pending (read-to-clear on PCI) */
    uint32_t config_generation;
    uint16_t queue_sel;
    uint16_t config_vector; /* MSI-X vector for config changes (PCI) */
    uint16_t num_queues;
    struct virtq *vqs;
    int *kick_fds;        /* one eventfd per queue, or -1 (inline mode) */
    struct virtio_kick *kicks; /* per queue: what the I/O thread callback gets */
    uint16_t *counted;    /* per queue: used_idx already counted in requests */
    bool broken;          /* NEEDS_RESET set; queues are not processed */
    uint64_t requests;    /* chains pushed (atomic: read by vmm_virtio_get_info) */
    uint64_t violations;  /* virtio_dev_fail() calls */
    /* Where the transport put the device, for log lines ("virtio-mmio
     * @0xd0000000", "virtio-pci 00:03.0"); "" until it says. */
    char where[48];
    unsigned guest_errors; /* virtio_dev_guest_error() calls (atomic) */
};

/* Creates the core for a backend (ops must outlive it; @backend is owned
 * from here on: ops->destroy runs in virtio_dev_free(), also on failure).
 * Returns 0 or a negative errno with a sentence. */
int virtio_dev_create(vmm_vm *vm, const char *name, const struct virtio_backend_ops *ops,
                      void *backend, bool inline_mode, struct virtio_dev **out);
/* Stops the queues' fds on the I/O thread, destroys the backend, frees. */
void virtio_dev_free(struct virtio_dev *d);
/* Sets the largest queue size offered (a power of two, 1 .. 32768) before
 * the device is attached. Returns 0 or -EINVAL/-ENOMEM with a sentence. */
int virtio_dev_set_queue_max(struct virtio_dev *d, uint16_t max);
/* Runs @fn with d->lock held and guest memory pinned (vmm_vm_io_enter()):
 * how backends do queue work that does not start with a kick (TAP
 * readable, host input), from any thread but a vCPU's inside a callback. */
void virtio_dev_run_locked(struct virtio_dev *d, void (*fn)(struct virtio_dev *d, void *arg),
                           void *arg);

static inline void virtio_dev_lock(struct virtio_dev *d) { pthread_mutex_lock(&d->lock); }
static inline void virtio_dev_unlock(struct virtio_dev *d) { pthread_mutex_unlock(&d->lock); }

/* For transports: attach the vmm_device that represents @d (name d->name,
 * user d, @mmio as its MMIO callback or NULL), with destroy and reset
 * callbacks that call tops->detach/reset and virtio_dev_free(). On failure
 * @d has been freed (backend destroyed too). d->tops and d->transport must
 * be set first. */
int virtio_dev_attach_device(struct virtio_dev *d, vmm_io_fn mmio, const char *caller);
/* The virtio_dev behind a vmm_device, or NULL if @dev is not a virtio device. */
struct virtio_dev *virtio_dev_from_device(vmm_device *dev);

/* The public attach calls' common half (attach.c): checks the transport
 * config @t (transport, flags, reserved fields, queue_size), creates the
 * virtio_dev (inline when VMM_VIRTIO_F_INLINE) and puts it on the
 * transport. @backend is owned from here on: ops->destroy runs on failure
 * too. *out (may be NULL) receives the vmm_device. */
int virtio_attach_common(vmm_vm *vm, const char *name, const struct virtio_backend_ops *ops,
                         void *backend, const struct vmm_virtio_transport_config *t,
                         const char *caller, vmm_device **out);

/* Transports, one call each: put @d on the VM over the transport that
 * @t asks for (fields already checked for reserved bits by the caller,
 * range-checked by the transport). On failure @d has been freed. */
int virtio_mmio_attach(struct virtio_dev *d, const struct vmm_virtio_transport_config *t,
                       const char *caller);
int virtio_pci_attach(struct virtio_dev *d, const struct vmm_virtio_transport_config *t,
                      const char *caller);

/* Interrupt lines handed out to virtio devices on @vm (a bitmask per VM):
 * for @want VMM_VIRTIO_NO_IRQ, *out = VMM_VIRTIO_NO_IRQ; else claims @want
 * (a GSI, 1-23) or, with @want 0, the first free of @candidates, on a VM
 * with an irqchip. Returns 0, or -EINVAL / -EBUSY / -ENOSPC with a
 * sentence. */
int virtio_irq_pick(vmm_vm *vm, uint32_t want, const uint8_t *candidates, size_t n,
                    const char *caller, uint32_t *out);
void virtio_irq_release(vmm_vm *vm, uint32_t gsi);

/* Register semantics shared by both transports (d->lock held). */
uint32_t virtio_dev_features_read(struct virtio_dev *d);   /* 32 bits at device_features_sel */
void virtio_dev_features_write(struct virtio_dev *d, uint32_t v); /* at driver_features_sel */
uint8_t virtio_dev_status_read(struct virtio_dev *d);
/* 3.1.1 / 2.1: 0 resets; FEATURES_OK is kept only if the driver's features
 * are a subset of the device's and include VERSION_1; DRIVER_OK activates
 * the backend; clearing bits other than by reset is ignored. */
void virtio_dev_status_write(struct virtio_dev *d, uint8_t v);
/* Queue selected by queue_sel, or NULL if out of range. */
struct virtq *virtio_dev_selected(struct virtio_dev *d);
/* The driver set queue_enable/QueueReady on the selected queue. */
void virtio_dev_queue_enable(struct virtio_dev *d, struct virtq *vq);
/* Config space access: out of range reads give 0, writes are dropped (and
 * logged as a guest error). */
void virtio_dev_config_read(struct virtio_dev *d, uint32_t off, void *data, uint32_t len);
void virtio_dev_config_write(struct virtio_dev *d, uint32_t off, const void *data, uint32_t len);
/* Reading the ISR clears it (4.1.4.5); returns the old bits. */
uint8_t virtio_dev_isr_take(struct virtio_dev *d);

/* The driver wrote the notify register for queue @q (without ioeventfd):
 * wakes the I/O thread, or runs the queue in line. Takes d->lock itself:
 * call it without. */
void virtio_dev_kick(struct virtio_dev *d, uint16_t q);

/* For backends (d->lock held): pop the next chain of queue @q, marking the
 * device broken on a violation. Returns 1, 0 or a negative errno. */
int virtio_dev_pop(struct virtio_dev *d, uint16_t q, struct virtq_chain **out);
/* After pushing: interrupt the driver if it asked (EVENT_IDX), and
 * re-enable notifications. Returns true if the queue has more chains. */
bool virtio_dev_done(struct virtio_dev *d, uint16_t q);
/* Sends a configuration change interrupt (config_generation bumped). */
void virtio_dev_config_changed(struct virtio_dev *d);
/* The guest broke the protocol: set DEVICE_NEEDS_RESET (2.1.2), stop
 * processing, send a config interrupt if DRIVER_OK, and log the sentence
 * (vmm_last_error() of the calling thread and the log callback, level
 * WARN). printf-style. */
void virtio_dev_fail(struct virtio_dev *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The driver made a mistake the device shrugs off (a wrong register width,
 * a write to a read-only field, a notification for no queue, ...): logged
 * at WARN as "<name> (<where>): <sentence>", the first
 * VIRTIO_GUEST_ERROR_LOG_LIMIT per device only, so a hostile guest cannot
 * flood the host's log. Any thread, any lock state. printf-style. */
#define VIRTIO_GUEST_ERROR_LOG_LIMIT 16
void virtio_dev_guest_error(struct virtio_dev *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Whether feature bit @bit was negotiated. */
static inline bool virtio_dev_has(const struct virtio_dev *d, unsigned bit)
{
    return (d->driver_features >> bit) & 1u;
}

#endif
