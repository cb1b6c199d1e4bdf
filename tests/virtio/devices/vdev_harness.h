/* A minimal virtio driver for backend tests: attaches nothing itself; given
 * a device made by a vmm_virtio_*_attach() call (virtio-mmio, INLINE, on a
 * fake VM), it negotiates features, lays split queues out in fake guest
 * RAM, posts descriptor chains and reads the used rings, through the same
 * virtio_dev_* calls a transport makes on a guest's behalf. */
#ifndef TEST_VDEV_HARNESS_H
#define TEST_VDEV_HARNESS_H

#include <vmm/vmm.h>

#include "devices/virtio/virtio_dev.h"

#include <stdbool.h>
#include <stdint.h>

#define VH_RAM_SIZE (4u << 20)
#define VH_QUEUE_SIZE 16
#define VH_MMIO_BASE 0xd0000000ull

struct vh_queue {
    uint64_t desc, avail, used;
    uint16_t avail_idx;  /* next avail slot we fill */
    uint16_t used_seen;  /* used entries consumed */
    uint16_t next_desc;  /* descriptor allocator (free-running mod size) */
};

struct vh {
    vmm_vm *vm;
    vmm_device *dev;
    struct virtio_dev *d;
    uint8_t *ram;
    uint64_t heap;       /* bump allocator for buffers */
    struct vh_queue q[2];
};

/* One buffer of a chain: guest address, length, device-writable. */
struct vh_buf {
    uint64_t gpa;
    uint32_t len;
    bool write;
};

/* A fake VM with 4 MiB RAM; the attach call then fills h->dev. */
void vh_init(struct vh *h);
/* After the attach: negotiate VERSION_1 plus @features (which must be
 * offered), set up @nq queues of VH_QUEUE_SIZE, set DRIVER_OK. Returns
 * the status read back. */
uint8_t vh_start(struct vh *h, uint64_t features, unsigned nq);
void vh_fini(struct vh *h);

/* A zeroed guest buffer of @len bytes (16-aligned); its host pointer. */
uint64_t vh_alloc(struct vh *h, uint32_t len);
static inline void *vh_ptr(struct vh *h, uint64_t gpa) { return h->ram + gpa; }

/* Writes the chain's descriptors and publishes it; returns the head. */
uint16_t vh_post(struct vh *h, unsigned q, const struct vh_buf *bufs, unsigned n);
/* virtio_dev_kick(), as a write to the notify register would. */
void vh_kick(struct vh *h, unsigned q);
/* Takes the next used element: true with id/len, false if none. */
bool vh_used(struct vh *h, unsigned q, uint32_t *id, uint32_t *len);
/* Waits up to @ms for a used element (work on the I/O thread). */
bool vh_wait_used(struct vh *h, unsigned q, uint32_t *id, uint32_t *len, int ms);
/* Device status as the driver reads it; whether NEEDS_RESET is set. */
uint8_t vh_status(struct vh *h);
bool vh_broken(struct vh *h);
/* Reads the device config space. */
void vh_config(struct vh *h, uint32_t off, void *data, uint32_t len);
/* Offered features (both words). */
uint64_t vh_device_features(struct vh *h);

#endif
