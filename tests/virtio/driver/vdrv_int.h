/* vdrv internals shared by the driver's files: spec constants (an
 * independent reading of virtio 1.2, deliberately not the device side's
 * lib/devices/virtio/virtio_spec.h, so the QEMU cross-check tests both), the
 * transport operations, split virtqueues, the arena and result reporting. */
#ifndef VDRV_INT_H
#define VDRV_INT_H

#include "vdrv.h"

/* 2.1 Device Status Field */
#define ST_ACKNOWLEDGE 1u
#define ST_DRIVER 2u
#define ST_DRIVER_OK 4u
#define ST_FEATURES_OK 8u
#define ST_NEEDS_RESET 64u
#define ST_FAILED 128u

/* 6 Reserved Feature Bits */
#define F_INDIRECT_DESC 28
#define F_EVENT_IDX 29
#define F_VERSION_1 32
#define FBIT(n) ((uint64_t)1 << (n))

/* 5 Device Types */
#define ID_NET 1
#define ID_BLOCK 2
#define ID_CONSOLE 3
#define ID_RNG 4

/* 2.7.5 descriptor flags */
#define DESC_F_NEXT 1u
#define DESC_F_WRITE 2u
#define DESC_F_INDIRECT 4u
#define USED_F_NO_NOTIFY 1u

#define VDRV_LAPIC_BASE 0xfee00000u
#define MSI_VECTOR_BASE 0x40u /* vector n of a device's MSI-X table: LAPIC vector 0x40 + n */

#define VQ_SIZE_WANT 16u   /* queue size we pick: min(max, this) */
#define VQ_MAX 3
#define VQ_INDIRECT_MAX 8  /* entries in a queue's indirect table */

struct vdrv_run;
struct vdrv_dev;

/* A split virtqueue (2.7), polled. Ring memory is in the arena; the host
 * pointers come from bus->ram(). */
struct vdrv_vq {
    uint16_t index, size, notify_off;
    uint64_t desc_gpa, avail_gpa, used_gpa, ind_gpa;
    uint8_t *desc, *avail, *used, *ind;
    uint16_t free_head, nfree, avail_idx, last_used;
    uint16_t chain_len[VQ_SIZE_WANT];
    int ready;
};

/* One buffer of a chain: guest physical address, length, device-writable. */
struct vdrv_buf {
    uint64_t gpa;
    uint32_t len;
    int write;
};

struct vdrv_ops {
    uint8_t (*get_status)(struct vdrv_dev *d);
    void (*set_status)(struct vdrv_dev *d, uint8_t st);
    uint32_t (*get_features)(struct vdrv_dev *d, uint32_t sel);
    void (*set_features)(struct vdrv_dev *d, uint32_t sel, uint32_t val);
    /* Selects queue vq->index and returns its maximum size (0: absent). */
    uint32_t (*queue_max)(struct vdrv_dev *d, struct vdrv_vq *vq);
    /* Writes size and ring addresses, enables; 0 or -1 (logged by caller). */
    int (*queue_enable)(struct vdrv_dev *d, struct vdrv_vq *vq);
    void (*notify)(struct vdrv_dev *d, struct vdrv_vq *vq);
    uint64_t (*cfg_read)(struct vdrv_dev *d, uint32_t off, uint32_t len);
    /* Acknowledge/deassert a pending INTx (ISR read / InterruptACK). */
    void (*intr_ack)(struct vdrv_dev *d);
    /* After FEATURES_OK, before the queues (PCI: MSI-X); may be NULL. */
    void (*prepare)(struct vdrv_dev *d);
    /* After the final reset (PCI: MSI-X off); may be NULL. */
    void (*disable)(struct vdrv_dev *d);
};

struct vdrv_dev {
    struct vdrv_run *run;
    const struct vdrv_bus *bus;
    const struct vdrv_opts *opts;
    const struct vdrv_ops *ops;
    const char *tname;          /* "pci" or "mmio" */
    char name[12];              /* "blk", "blk1", ... */
    uint32_t device_id;
    uint64_t features;          /* negotiated */
    /* PCI: structure addresses from the capabilities (4.1.4); MMIO: base. */
    uint64_t base, common, notify, isr, devcfg;
    uint32_t notify_mult;
    int msix_vectors;           /* PCI, 0 when MSI-X is not in use */
    uint8_t slot, msix_cap;     /* PCI: bus 0 slot, MSI-X capability offset */
    uint64_t msix_table;        /* PCI: GPA of the MSI-X table, 0 if none */
    struct vdrv_vq vq[VQ_MAX];
};

/* State of one vdrv_run(): counts, arena bump pointer, BAR window. */
struct vdrv_run {
    const struct vdrv_bus *bus;
    const struct vdrv_opts *opts;
    uint64_t arena_next;
    uint64_t bar_next;
    uint32_t pass, fail, found;
    uint32_t seen[5];           /* devices of each ID found, for names */
};

/* ---- util (vdrv_util.c) ---- */
void vd_memset(void *d, int c, size_t n);
void vd_memcpy(void *d, const void *s, size_t n);
int vd_memcmp(const void *a, const void *b, size_t n);
size_t vd_strlen(const char *s);
int vd_strncmp(const char *a, const char *b, size_t n);
void vd_mb(void);

/* A small string builder for result details (truncates, always NUL-ends). */
struct vstr {
    char buf[256];
    uint32_t n;
};
void vs_init(struct vstr *v);
void vs_str(struct vstr *v, const char *s);
void vs_dec(struct vstr *v, uint64_t x);
void vs_hex(struct vstr *v, uint64_t x);
void vs_char(struct vstr *v, char c);

/* Allocates len bytes aligned to align (a power of two) from the arena,
 * zeroed; returns the GPA and sets *hva, or 0 when the arena is full. */
uint64_t vd_alloc(struct vdrv_run *r, uint64_t len, uint64_t align, uint8_t **hva);
/* "VT <t> <dev> <check> ok|FAIL <detail>"; counts it; returns ok. */
int vd_result(struct vdrv_dev *d, const char *check, int ok, const char *detail);
void vd_log(const struct vdrv_bus *bus, const char *s);

/* Little-endian accessors for ring memory (volatile: the device writes it
 * concurrently). 16- and 32-bit fields are one access each, never bytes: a
 * ring index written a byte at a time could be seen half-updated by the
 * device (0x00ff -> 0x0100 read as 0x0000) and taken for a runaway index.
 * x86 is little-endian and the ring fields are naturally aligned. */
typedef uint16_t __attribute__((may_alias, aligned(1))) vd_u16;
typedef uint32_t __attribute__((may_alias, aligned(1))) vd_u32;
static inline uint16_t ld16(const uint8_t *p)
{
    return *(const volatile vd_u16 *)p;
}
static inline uint32_t ld32(const uint8_t *p)
{
    return *(const volatile vd_u32 *)p;
}
static inline void st16(uint8_t *p, uint16_t v)
{
    *(volatile vd_u16 *)p = v;
}
static inline void st32(uint8_t *p, uint32_t v)
{
    *(volatile vd_u32 *)p = v;
}
static inline void st64(uint8_t *p, uint64_t v)
{
    st32(p, (uint32_t)v);
    st32(p + 4, (uint32_t)(v >> 32));
}

/* ---- common device init (vdrv_init.c) ---- */
/* 3.1.1 up to FEATURES_OK (reports "init"); then vdrv_queue_setup() per
 * queue and vdrv_driver_ok(). want: device-specific bits to accept. */
int vdrv_init(struct vdrv_dev *d, uint64_t want);
int vdrv_queue_setup(struct vdrv_dev *d, uint16_t index);
int vdrv_driver_ok(struct vdrv_dev *d);
void vdrv_reset(struct vdrv_dev *d);
/* Runs the device's tests (dispatch on device_id), then resets it. */
void vdrv_test_device(struct vdrv_dev *d);

/* ---- split virtqueue (vdrv_virtq.c) ---- */
int vq_alloc(struct vdrv_dev *d, struct vdrv_vq *vq, uint16_t size);
/* Makes a chain of n buffers available (indirect when use_ind and the
 * feature was negotiated) and notifies unless suppressed; returns the head
 * id or -1 when out of descriptors. */
int vq_submit(struct vdrv_dev *d, struct vdrv_vq *vq, const struct vdrv_buf *b,
              uint32_t n, int use_ind);
/* Polls for the next used element: 0 with *id, *len; -1 after
 * opts->poll_spins empty polls (logged); frees the chain. */
int vq_poll(struct vdrv_dev *d, struct vdrv_vq *vq, uint32_t *id, uint32_t *len);

/* ---- transports ---- */
void vdrv_pci_scan(struct vdrv_run *r);
void vdrv_mmio_probe(struct vdrv_run *r);

/* ---- devices ---- */
void vdrv_blk_test(struct vdrv_dev *d);
/* vt.bench=N: timed requests instead of the tests (vdrv_bench.c). */
void vdrv_blk_bench(struct vdrv_dev *d);
/* vt.hostile=N: protocol attacks, each followed by a reset (vdrv_hostile.c). */
void vdrv_blk_hostile(struct vdrv_dev *d);
void vdrv_rng_test(struct vdrv_dev *d);
void vdrv_console_test(struct vdrv_dev *d);
void vdrv_net_test(struct vdrv_dev *d);

#endif
