/* The modern virtio-pci transport (virtio 1.2 section 4.1, no legacy I/O
 * BAR): a PCI function on the host bridge of lib/devices/pci with the
 * virtio vendor capabilities (4.1.4), an MSI-X capability (PCI Local Bus
 * 3.0, 6.8.2) and one 32-bit memory BAR:
 *
 *   BAR 0 (32 KiB)  0x0000 common config      (4.1.4.3)
 *                   0x1000 ISR status         (4.1.4.5)
 *                   0x2000 device config      (4.1.4.6)
 *                   0x3000 notifications      (4.1.4.4: queue q at q * 4)
 *                   0x4000 MSI-X table        (16 bytes per vector)
 *                   0x6000 MSI-X PBA
 *
 * Register semantics shared with virtio-mmio live in virtio_dev.c; this
 * file decodes offsets, keeps the MSI-X table, and delivers interrupts:
 * MSI-X (irqfd on an MSI route, or KVM_SIGNAL_MSI) or, while MSI-X is
 * off, a level-triggered INTx line held until the driver reads the ISR.
 *
 * Locking: the host lock (config space callbacks) is taken before d->lock;
 * BAR accesses arrive without the host lock. */
#include "devices/virtio/virtio_dev.h"

#include "core/error.h"
#include "devices/attach.h"
#include "devices/pci/pci.h"
#include "kvm/kvm_irq.h"
#include "vm/vm.h"

#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define BAR_SIZE 0x8000u
#define REGION_SIZE 0x1000u
#define COMMON_OFF 0x0000u
#define ISR_OFF 0x1000u
#define DEVICE_OFF 0x2000u
#define NOTIFY_OFF 0x3000u
#define NOTIFY_MULTIPLIER 4u
#define MSIX_TABLE_OFF 0x4000u
#define MSIX_PBA_OFF 0x6000u
#define MSIX_ENTRY_SIZE 16u
/* What fits between the table and the PBA. */
#define MSIX_MAX_VECTORS ((MSIX_PBA_OFF - MSIX_TABLE_OFF) / MSIX_ENTRY_SIZE)
/* What fits in the notification region. */
#define NOTIFY_MAX_QUEUES (REGION_SIZE / NOTIFY_MULTIPLIER)

/* PCI 3.0, 6.8.2.3 Message Control. */
#define MSIX_CTRL_ENABLE 0x8000u
#define MSIX_CTRL_MASKALL 0x4000u
/* PCI 3.0, 6.8.2.9 Vector Control: bit 0 masks; the rest is reserved. */
#define MSIX_VECTOR_MASKED 1u

/* 4.1.2.1: non-transitional devices have revision >= 1 and a subsystem
 * device ID >= 0x40; 0x1100 is QEMU's value for its modern devices. */
#define VIRTIO_PCI_REVISION 1
#define VIRTIO_PCI_SUBSYS_ID 0x1100

/* struct virtio_pci_cap (4.1.4) after cap_vndr and cap_next. */
struct virtio_cap_body {
    uint8_t cap_len, cfg_type, bar, id, padding[2];
    uint32_t offset, length;   /* little-endian */
    uint32_t extra;            /* notify_off_multiplier or pci_cfg_data */
} __attribute__((packed));
#define VIRTIO_CAP_LEN 16u
#define VIRTIO_CAP_LEN_EXT 20u /* struct virtio_pci_notify_cap / virtio_pci_cfg_cap */

/* PCI interrupt lines virtio-pci devices get by default: the IOAPIC-only
 * ones, which are level-triggered and active-low by default as PCI's are. */
static const uint8_t pci_irq_candidates[] = { 16, 17, 18, 19, 20, 21, 22, 23 };

struct msix_vector {
    /* The table entry as the guest wrote it (host byte order). */
    uint32_t addr_lo, addr_hi, data, ctrl;
    /* With irqfd: an eventfd bound to an MSI GSI, and the message that
     * GSI's route was last set to. */
    int efd;
    int gsi;
    bool routed;
    uint64_t route_addr;
    uint32_t route_data;
};

struct pci_state {
    struct pci_function fn; /* its config image; fn.user is this */
    struct virtio_dev *d;
    vmm_vm *vm;
    uint32_t gsi;           /* INTx line, or VMM_VIRTIO_NO_IRQ */
    uint8_t msix_cap, cfg_cap; /* config offsets of MSI-X and PCI_CFG caps */

    /* Under d->lock: copies of config bits (written under the host lock
     * first, then copied here), the MSI-X table, and delivery state. */
    bool intx_disabled;     /* Command bit 10 */
    bool msix_enabled;      /* Message Control bit 15 */
    bool msix_masked;       /* Message Control bit 14 (Function Mask) */
    bool intx_level;        /* level we drive on gsi */
    uint64_t bar_gpa;       /* BAR 0 as decoded, or PCI_BAR_UNMAPPED */
    uint16_t nvec;
    struct msix_vector *vec;
    uint64_t pba[MSIX_MAX_VECTORS / 64];
    bool *queue_started;    /* per queue: queue_start() without queue_stop() */
    uint64_t *ioeventfd_gpa; /* per queue: registered ioeventfd address, or 0 */
};

static const struct virtio_transport_ops pci_ops;

/* ---- interrupts (d->lock held) ------------------------------------------ */

/* INTx follows the ISR while MSI-X is off (4.1.4.5, 4.1.5.3): level, held
 * until the driver reads the ISR; Command's Interrupt Disable gates the
 * pin but not Status bit 3 (PCI 3.0, 6.2.2-6.2.3). */
static void intx_update(struct pci_state *st)
{
    struct virtio_dev *d = st->d;
    bool pending = !st->msix_enabled && d->isr != 0;
    pci_function_intx_status(&st->fn, pending);
    bool level = pending && !st->intx_disabled && st->gsi != VMM_VIRTIO_NO_IRQ;
    if (level == st->intx_level || !d->dev)
        return;
    if (vmm_device_set_irq(d->dev, st->gsi, level) == 0)
        st->intx_level = level;
    else
        virtio_dev_guest_error(st->d, "INTx line %u: %s", st->gsi, vmm_last_error());
}

/* Binds vector @v to an MSI GSI through an irqfd (Documentation/virt/kvm/
 * api.rst 4.75 KVM_IRQFD, 4.52 KVM_SET_GSI_ROUTING), routed to the
 * entry's current message. Returns 0 or a negative errno. */
static int msix_irqfd_setup(struct pci_state *st, struct msix_vector *v, uint64_t addr)
{
    const char *who = st->d->name;
    if (v->gsi < 0) {
        int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (efd < 0)
            return vmm_err(-errno, "%s: eventfd for an MSI-X vector: %s", who, strerror(errno));
        int gsi = vmm_irq_msi_alloc(st->vm, who);
        if (gsi < 0) {
            close(efd);
            return gsi;
        }
        int r = vmm_irq_msi_set(st->vm, (uint32_t)gsi, addr, v->data, who);
        if (r == 0)
            r = vmm_irqfd(st->vm, efd, (uint32_t)gsi, true, who);
        if (r < 0) {
            vmm_irq_msi_free(st->vm, (uint32_t)gsi);
            close(efd);
            return r;
        }
        v->efd = efd;
        v->gsi = gsi;
        v->routed = true;
        v->route_addr = addr;
        v->route_data = v->data;
        return 0;
    }
    if (v->routed && v->route_addr == addr && v->route_data == v->data)
        return 0;
    /* The guest rewrote the entry since the route was set. */
    int r = vmm_irq_msi_set(st->vm, (uint32_t)v->gsi, addr, v->data, who);
    v->routed = r == 0;
    v->route_addr = addr;
    v->route_data = v->data;
    return r;
}

static void msix_release(struct pci_state *st, struct msix_vector *v)
{
    if (v->gsi >= 0) {
        vmm_irqfd(st->vm, v->efd, (uint32_t)v->gsi, false, st->d->name);
        vmm_irq_msi_free(st->vm, (uint32_t)v->gsi);
    }
    if (v->efd >= 0)
        close(v->efd);
    v->efd = -1;
    v->gsi = -1;
    v->routed = false;
}

/* Sends vector @n's message now. */
static void msix_deliver(struct pci_state *st, uint16_t n)
{
    struct msix_vector *v = &st->vec[n];
    uint64_t addr = (uint64_t)v->addr_hi << 32 | v->addr_lo;
    if (vmm_vm_has_irqfd(st->vm)) {
        if (msix_irqfd_setup(st, v, addr) == 0) {
            uint64_t one = 1;
            while (write(v->efd, &one, sizeof(one)) < 0 && errno == EINTR)
                ;
            return;
        }
        virtio_dev_guest_error(st->d, "MSI-X vector %u: no irqfd (%s); injecting directly", n,
                    vmm_last_error());
    }
    if (vmm_irq_signal_msi(st->vm, addr, v->data, st->d->name) < 0)
        virtio_dev_guest_error(st->d, "MSI-X vector %u (address 0x%llx, data 0x%x) not delivered: %s", n,
                    (unsigned long long)addr, v->data, vmm_last_error());
}

static bool pba_test(const struct pci_state *st, uint16_t n)
{
    return (st->pba[n / 64] >> (n % 64)) & 1u;
}

static void pba_set(struct pci_state *st, uint16_t n, bool on)
{
    if (on)
        st->pba[n / 64] |= 1ull << (n % 64);
    else
        st->pba[n / 64] &= ~(1ull << (n % 64));
}

/* PCI 3.0, 6.8.2.9: a vector that becomes unmasked with its pending bit
 * set sends its message then. */
static void msix_flush_pending(struct pci_state *st)
{
    if (!st->msix_enabled || st->msix_masked)
        return;
    for (uint16_t n = 0; n < st->nvec; n++) {
        if (pba_test(st, n) && !(st->vec[n].ctrl & MSIX_VECTOR_MASKED)) {
            pba_set(st, n, false);
            msix_deliver(st, n);
        }
    }
}

static void pci_interrupt(struct virtio_dev *d, uint32_t isr_bit, uint16_t vector)
{
    struct pci_state *st = d->transport;
    if (!st)
        return;
    d->isr |= (uint8_t)isr_bit; /* the core did too; harmless */
    if (!st->msix_enabled) {
        intx_update(st);
        return;
    }
    /* 4.1.5.1.2: no vector, no interrupt. */
    if (vector == VIRTIO_MSI_NO_VECTOR || vector >= st->nvec)
        return;
    if (st->msix_masked || (st->vec[vector].ctrl & MSIX_VECTOR_MASKED)) {
        pba_set(st, vector, true);
        return;
    }
    msix_deliver(st, vector);
}

/* ---- notifications ------------------------------------------------------ */

static uint64_t notify_gpa(const struct pci_state *st, uint16_t q)
{
    return st->bar_gpa + NOTIFY_OFF + (uint64_t)q * NOTIFY_MULTIPLIER;
}

/* Registers the queue's ioeventfd at the current BAR address when the
 * queue is started and the BAR decodes (d->lock held). */
static void ioeventfd_sync(struct pci_state *st, uint16_t q)
{
    struct virtio_dev *d = st->d;
    bool want = st->queue_started[q] && st->bar_gpa != PCI_BAR_UNMAPPED && d->kick_fds &&
                d->kick_fds[q] >= 0 && vmm_vm_has_ioeventfd(st->vm);
    uint64_t gpa = want ? notify_gpa(st, q) : 0;
    if (st->ioeventfd_gpa[q] == gpa)
        return;
    if (st->ioeventfd_gpa[q]) {
        vmm_ioeventfd(st->vm, d->kick_fds[q], st->ioeventfd_gpa[q], 2, false, false, 0, false,
                      d->name);
        st->ioeventfd_gpa[q] = 0;
    }
    if (!gpa)
        return;
    /* 4.1.4.4: the driver writes the 16-bit queue index there; any 2-byte
     * write to the address is a notification for this queue. */
    if (vmm_ioeventfd(st->vm, d->kick_fds[q], gpa, 2, false, false, 0, true, d->name) == 0)
        st->ioeventfd_gpa[q] = gpa;
    else
        /* Rate-limited: a guest can cause this (a BAR moved so that two
         * devices' notify addresses overlap) on every BAR write. */
        virtio_dev_guest_error(st->d, "queue %u notifications will exit to user space (%s)", q,
                    vmm_last_error());
}

static int pci_queue_start(struct virtio_dev *d, uint16_t q)
{
    struct pci_state *st = d->transport;
    if (!st || q >= d->num_queues)
        return 0;
    st->queue_started[q] = true;
    ioeventfd_sync(st, q);
    return 0;
}

static void pci_queue_stop(struct virtio_dev *d, uint16_t q)
{
    struct pci_state *st = d->transport;
    if (!st || q >= d->num_queues)
        return;
    st->queue_started[q] = false;
    ioeventfd_sync(st, q);
}

/* ---- BAR 0 registers (d->lock held) ------------------------------------- */

static uint64_t get_le(const void *data, uint32_t len)
{
    uint8_t b[8] = { 0 };
    memcpy(b, data, len > 8 ? 8 : len);
    uint64_t v;
    memcpy(&v, b, 8);
    return le64toh(v);
}

static void put_le(void *data, uint32_t len, uint64_t v)
{
    v = htole64(v);
    memcpy(data, &v, len > 8 ? 8 : len);
}

/* 4.1.4.3 field widths; 64-bit fields may also be accessed as two 32-bit
 * halves (4.1.3.1). Returns whether [off, off + len) is one whole field. */
static bool common_access_ok(uint32_t off, uint32_t len)
{
    switch (off) {
    case VIRTIO_PCI_COMMON_DFSELECT:
    case VIRTIO_PCI_COMMON_DF:
    case VIRTIO_PCI_COMMON_GFSELECT:
    case VIRTIO_PCI_COMMON_GF:
    case VIRTIO_PCI_COMMON_Q_DESCHI:
    case VIRTIO_PCI_COMMON_Q_AVAILHI:
    case VIRTIO_PCI_COMMON_Q_USEDHI:
        return len == 4;
    case VIRTIO_PCI_COMMON_Q_DESCLO:
    case VIRTIO_PCI_COMMON_Q_AVAILLO:
    case VIRTIO_PCI_COMMON_Q_USEDLO:
        return len == 4 || len == 8;
    case VIRTIO_PCI_COMMON_MSIX:
    case VIRTIO_PCI_COMMON_NUMQ:
    case VIRTIO_PCI_COMMON_Q_SELECT:
    case VIRTIO_PCI_COMMON_Q_SIZE:
    case VIRTIO_PCI_COMMON_Q_MSIX:
    case VIRTIO_PCI_COMMON_Q_ENABLE:
    case VIRTIO_PCI_COMMON_Q_NOFF:
    case VIRTIO_PCI_COMMON_Q_NDATA:
    case VIRTIO_PCI_COMMON_Q_RESET:
        return len == 2;
    case VIRTIO_PCI_COMMON_STATUS:
    case VIRTIO_PCI_COMMON_CFGGENERATION:
        return len == 1;
    default:
        return false;
    }
}

static uint64_t common_read(struct pci_state *st, uint32_t off, uint32_t len)
{
    struct virtio_dev *d = st->d;
    struct virtq *vq = virtio_dev_selected(d);
    switch (off) {
    case VIRTIO_PCI_COMMON_DFSELECT:
        return d->device_features_sel;
    case VIRTIO_PCI_COMMON_DF:
        return virtio_dev_features_read(d);
    case VIRTIO_PCI_COMMON_GFSELECT:
        return d->driver_features_sel;
    case VIRTIO_PCI_COMMON_GF:
        return d->driver_features_sel < 2 ? (uint32_t)(d->driver_features >>
                                                       (32 * d->driver_features_sel))
                                          : 0;
    case VIRTIO_PCI_COMMON_MSIX:
        return d->config_vector;
    case VIRTIO_PCI_COMMON_NUMQ:
        return d->num_queues;
    case VIRTIO_PCI_COMMON_STATUS:
        return virtio_dev_status_read(d);
    case VIRTIO_PCI_COMMON_CFGGENERATION:
        return (uint8_t)d->config_generation;
    case VIRTIO_PCI_COMMON_Q_SELECT:
        return d->queue_sel;
    case VIRTIO_PCI_COMMON_Q_RESET:
        return 0; /* VIRTIO_F_RING_RESET is not offered */
    case VIRTIO_PCI_COMMON_Q_NDATA:
        return 0; /* VIRTIO_F_NOTIF_CONFIG_DATA is not offered */
    default:
        break;
    }
    /* 4.1.4.3.1: a queue that does not exist reads queue_size 0. */
    if (!vq)
        return 0;
    switch (off) {
    case VIRTIO_PCI_COMMON_Q_SIZE:
        return vq->size;
    case VIRTIO_PCI_COMMON_Q_MSIX:
        return vq->msix_vector;
    case VIRTIO_PCI_COMMON_Q_ENABLE:
        return vq->enabled;
    case VIRTIO_PCI_COMMON_Q_NOFF:
        return vq->index; /* times notify_off_multiplier: its own address */
    case VIRTIO_PCI_COMMON_Q_DESCLO:
        return len == 8 ? vq->desc_gpa : (uint32_t)vq->desc_gpa;
    case VIRTIO_PCI_COMMON_Q_DESCHI:
        return vq->desc_gpa >> 32;
    case VIRTIO_PCI_COMMON_Q_AVAILLO:
        return len == 8 ? vq->avail_gpa : (uint32_t)vq->avail_gpa;
    case VIRTIO_PCI_COMMON_Q_AVAILHI:
        return vq->avail_gpa >> 32;
    case VIRTIO_PCI_COMMON_Q_USEDLO:
        return len == 8 ? vq->used_gpa : (uint32_t)vq->used_gpa;
    default: /* VIRTIO_PCI_COMMON_Q_USEDHI */
        return vq->used_gpa >> 32;
    }
}

/* Sets bytes [lo_byte, lo_byte + len) of a 64-bit ring address. */
static void set_part(uint64_t *gpa, uint32_t shift, uint32_t len, uint64_t v)
{
    uint64_t mask = len == 8 ? ~0ull : 0xffffffffull << shift;
    *gpa = (*gpa & ~mask) | ((v << shift) & mask);
}

/* 4.1.5.1.2: a vector the device cannot use reads back as NO_VECTOR. */
static uint16_t vector_checked(const struct pci_state *st, uint64_t v)
{
    return v < st->nvec ? (uint16_t)v : VIRTIO_MSI_NO_VECTOR;
}

static void common_write(struct pci_state *st, uint32_t off, uint32_t len, uint64_t v)
{
    struct virtio_dev *d = st->d;
    struct virtq *vq = virtio_dev_selected(d);
    switch (off) {
    case VIRTIO_PCI_COMMON_DFSELECT:
        d->device_features_sel = (uint32_t)v;
        return;
    case VIRTIO_PCI_COMMON_GFSELECT:
        d->driver_features_sel = (uint32_t)v;
        return;
    case VIRTIO_PCI_COMMON_GF:
        virtio_dev_features_write(d, (uint32_t)v);
        return;
    case VIRTIO_PCI_COMMON_MSIX:
        d->config_vector = vector_checked(st, v);
        return;
    case VIRTIO_PCI_COMMON_STATUS:
        virtio_dev_status_write(d, (uint8_t)v);
        return;
    case VIRTIO_PCI_COMMON_Q_SELECT:
        /* Out-of-range selections read queue_size 0 (4.1.4.3.1). */
        d->queue_sel = (uint16_t)v;
        return;
    case VIRTIO_PCI_COMMON_Q_SIZE:
    case VIRTIO_PCI_COMMON_Q_MSIX:
    case VIRTIO_PCI_COMMON_Q_ENABLE:
    case VIRTIO_PCI_COMMON_Q_DESCLO:
    case VIRTIO_PCI_COMMON_Q_DESCHI:
    case VIRTIO_PCI_COMMON_Q_AVAILLO:
    case VIRTIO_PCI_COMMON_Q_AVAILHI:
    case VIRTIO_PCI_COMMON_Q_USEDLO:
    case VIRTIO_PCI_COMMON_Q_USEDHI:
        break;
    default:
        virtio_dev_guest_error(st->d, "write of 0x%llx to read-only common config field 0x%02x",
                    (unsigned long long)v, off);
        return;
    }
    if (!vq) {
        virtio_dev_guest_error(st->d, "write to queue field 0x%02x with queue_select %u, but the device has "
                    "%u queues", off, d->queue_sel, d->num_queues);
        return;
    }
    if (off == VIRTIO_PCI_COMMON_Q_MSIX) {
        /* Interrupt routing, not ring layout: allowed at any time (as in
         * QEMU), checked against the table size. */
        vq->msix_vector = vector_checked(st, v);
        return;
    }
    if (off == VIRTIO_PCI_COMMON_Q_ENABLE) {
        /* 4.1.4.3.2: the driver MUST NOT write 0; queue reset is
         * VIRTIO_F_RING_RESET, which is not offered. */
        if (v == 1)
            virtio_dev_queue_enable(d, vq); /* validates size and areas */
        else
            virtio_dev_guest_error(st->d, "queue_enable = %llu for queue %u ignored", (unsigned long long)v,
                        vq->index);
        return;
    }
    /* The device reads a live queue's layout once (virtq_enable()); it
     * must not change under it. */
    if (vq->enabled) {
        virtio_dev_guest_error(st->d, "write to field 0x%02x of queue %u while it is enabled", off,
                    vq->index);
        return;
    }
    switch (off) {
    case VIRTIO_PCI_COMMON_Q_SIZE:
        vq->size = (uint16_t)v; /* checked against max_size at enable */
        break;
    case VIRTIO_PCI_COMMON_Q_DESCLO:
    case VIRTIO_PCI_COMMON_Q_DESCHI:
        set_part(&vq->desc_gpa, off == VIRTIO_PCI_COMMON_Q_DESCHI ? 32 : 0, len, v);
        break;
    case VIRTIO_PCI_COMMON_Q_AVAILLO:
    case VIRTIO_PCI_COMMON_Q_AVAILHI:
        set_part(&vq->avail_gpa, off == VIRTIO_PCI_COMMON_Q_AVAILHI ? 32 : 0, len, v);
        break;
    default:
        set_part(&vq->used_gpa, off == VIRTIO_PCI_COMMON_Q_USEDHI ? 32 : 0, len, v);
        break;
    }
}

/* PCI 3.0, 6.8.2: the table takes aligned DWORD and QWORD accesses. */
static void msix_table_access(struct pci_state *st, uint32_t off, void *data, uint32_t len,
                              bool is_write)
{
    if ((len != 4 && len != 8) || (off & (len - 1)) ||
        off / MSIX_ENTRY_SIZE >= st->nvec) {
        virtio_dev_guest_error(st->d, "%u-byte %s at MSI-X table offset 0x%x ignored", len,
                    is_write ? "write" : "read", off);
        if (!is_write)
            memset(data, 0, len);
        return;
    }
    struct msix_vector *v = &st->vec[off / MSIX_ENTRY_SIZE];
    uint32_t *field[4] = { &v->addr_lo, &v->addr_hi, &v->data, &v->ctrl };
    uint32_t first = (off % MSIX_ENTRY_SIZE) / 4;
    uint64_t val = is_write ? get_le(data, len) : 0;
    bool was_masked = v->ctrl & MSIX_VECTOR_MASKED;
    for (uint32_t i = 0; i < len / 4; i++) {
        uint32_t *f = field[first + i];
        if (is_write)
            *f = first + i == 3 ? (uint32_t)(val >> (32 * i)) & MSIX_VECTOR_MASKED
                                : (uint32_t)(val >> (32 * i));
        else
            val |= (uint64_t)*f << (32 * i);
    }
    if (!is_write)
        put_le(data, len, val);
    else if (was_masked && !(v->ctrl & MSIX_VECTOR_MASKED))
        msix_flush_pending(st);
}

static void pba_read(struct pci_state *st, uint32_t off, void *data, uint32_t len)
{
    uint32_t words = (st->nvec + 63u) / 64u;
    if ((len != 4 && len != 8) || (off & (len - 1)) || off / 8 >= words) {
        memset(data, 0, len);
        return;
    }
    uint64_t v = st->pba[off / 8];
    put_le(data, len, len == 8 ? v : (uint32_t)(v >> (8 * (off & 4))));
}

/* One access to BAR 0. Returns the queue to kick after d->lock is
 * dropped, or -1. */
static int bar0_access(struct pci_state *st, uint32_t off, void *data, uint32_t len,
                       bool is_write)
{
    struct virtio_dev *d = st->d;
    uint32_t reg = off % REGION_SIZE;
    if (off < ISR_OFF) {
        if (!common_access_ok(reg, len)) {
            virtio_dev_guest_error(st->d, "%u-byte %s at common config offset 0x%x: not a field of that width",
                        len, is_write ? "write" : "read", reg);
            if (!is_write)
                memset(data, 0, len);
        } else if (is_write) {
            common_write(st, reg, len, get_le(data, len));
        } else {
            put_le(data, len, common_read(st, reg, len));
        }
    } else if (off < DEVICE_OFF) {
        if (is_write)
            return -1; /* read-only */
        memset(data, 0, len);
        if (reg == 0) {
            /* 4.1.4.5: reading clears the ISR and deasserts INTx. */
            *(uint8_t *)data = virtio_dev_isr_take(d);
            intx_update(st);
        }
    } else if (off < NOTIFY_OFF) {
        /* 4.1.3.1: fields are accessed with their natural, aligned width. */
        if ((reg & (len - 1)) != 0) {
            virtio_dev_guest_error(st->d, "unaligned %u-byte access at device config offset 0x%x", len, reg);
            if (!is_write)
                memset(data, 0, len);
        } else if (is_write) {
            virtio_dev_config_write(d, reg, data, len);
        } else {
            virtio_dev_config_read(d, reg, data, len);
        }
    } else if (off < MSIX_TABLE_OFF) {
        if (!is_write) {
            memset(data, 0, len);
            return -1;
        }
        uint32_t q = reg / NOTIFY_MULTIPLIER;
        if (reg % NOTIFY_MULTIPLIER || q >= d->num_queues) {
            virtio_dev_guest_error(st->d, "notification at offset 0x%x names no queue (%u queues)", reg,
                        d->num_queues);
            return -1;
        }
        return (int)q;
    } else if (off < MSIX_PBA_OFF) {
        msix_table_access(st, off - MSIX_TABLE_OFF, data, len, is_write);
    } else if (!is_write) {
        pba_read(st, off - MSIX_PBA_OFF, data, len);
    }
    return -1;
}

static void pci_bar_access(struct pci_function *fn, unsigned bar, uint64_t off, void *data,
                           uint32_t len, bool is_write)
{
    struct pci_state *st = fn->user;
    if (bar != 0 || off >= BAR_SIZE || len == 0 || len > 8 || len > BAR_SIZE - off) {
        if (!is_write)
            memset(data, 0xff, len);
        return;
    }
    virtio_dev_lock(st->d);
    int kick = bar0_access(st, (uint32_t)off, data, len, is_write);
    virtio_dev_unlock(st->d);
    if (kick >= 0)
        virtio_dev_kick(st->d, (uint16_t)kick); /* takes d->lock itself */
}

/* ---- config space callbacks (host lock held) ---------------------------- */

static void pci_bar_moved(struct pci_function *fn, unsigned bar, uint64_t gpa)
{
    struct pci_state *st = fn->user;
    if (bar != 0)
        return;
    virtio_dev_lock(st->d);
    st->bar_gpa = gpa;
    for (uint16_t q = 0; q < st->d->num_queues; q++)
        ioeventfd_sync(st, q);
    virtio_dev_unlock(st->d);
}

/* 4.1.4.9: the PCI_CFG capability's window onto the BARs. Returns whether
 * bar/offset/length name an aligned 1, 2 or 4-byte access inside BAR 0. */
static bool cfg_window(const struct pci_state *st, uint32_t *off, uint32_t *len)
{
    const uint8_t *c = st->fn.config + st->cfg_cap;
    *off = pci_cfg_get32(c, 8);
    *len = pci_cfg_get32(c, 12);
    return c[4] == 0 && (*len == 1 || *len == 2 || *len == 4) && (*off & (*len - 1)) == 0 &&
           *off < BAR_SIZE && *len <= BAR_SIZE - *off;
}

static bool touches_cfg_data(const struct pci_state *st, uint32_t off, uint32_t len)
{
    uint32_t data = st->cfg_cap + 16u;
    return off < data + 4 && data < off + len;
}

static void pci_config_read(struct pci_function *fn, uint32_t off, uint32_t len)
{
    struct pci_state *st = fn->user;
    uint32_t boff, blen;
    if (!touches_cfg_data(st, off, len) || !cfg_window(st, &boff, &blen))
        return;
    uint8_t *out = fn->config + st->cfg_cap + 16;
    uint8_t val[4] = { 0 };
    pci_bar_access(fn, 0, boff, val, blen, false);
    memcpy(out, val, 4);
}

static void pci_config_written(struct pci_function *fn, uint32_t off, uint32_t len)
{
    struct pci_state *st = fn->user;
    struct virtio_dev *d = st->d;
    uint16_t cmd = pci_cfg_get16(fn->config, PCI_COMMAND);
    uint16_t ctrl = pci_cfg_get16(fn->config, st->msix_cap + 2u);
    virtio_dev_lock(d);
    st->intx_disabled = cmd & PCI_COMMAND_INTX_DISABLE;
    st->msix_enabled = ctrl & MSIX_CTRL_ENABLE;
    st->msix_masked = ctrl & MSIX_CTRL_MASKALL;
    intx_update(st); /* MSI-X on turns INTx off (PCI 3.0, 6.8.2) */
    msix_flush_pending(st);
    virtio_dev_unlock(d);

    uint32_t boff, blen;
    if (touches_cfg_data(st, off, len) && cfg_window(st, &boff, &blen)) {
        uint8_t val[4];
        memcpy(val, fn->config + st->cfg_cap + 16, 4);
        pci_bar_access(fn, 0, boff, val, blen, true);
    }
}

static const struct pci_function_ops function_ops = {
    .bar_access = pci_bar_access,
    .bar_moved = pci_bar_moved,
    .config_read = pci_config_read,
    .config_written = pci_config_written,
};

/* ---- transport ops ------------------------------------------------------ */

static void pci_reset(struct virtio_dev *d)
{
    struct pci_state *st = d->transport;
    if (!st)
        return;
    /* The MSI-X table and enable bits stay (they are PCI state, reset only
     * with the function); what was pending belongs to the old device. */
    memset(st->pba, 0, sizeof(st->pba));
    intx_update(st); /* the core cleared the ISR */
}

static void pci_detach(struct virtio_dev *d)
{
    struct pci_state *st = d->transport;
    if (!st)
        return;
    /* Off the bus first (host lock, which comes before d->lock), then out
     * of reach of an I/O thread that might still signal (d->lock). */
    pci_host_unregister(&st->fn);
    virtio_dev_lock(d);
    d->transport = NULL;
    virtio_dev_unlock(d);
    for (uint16_t q = 0; st->queue_started && q < d->num_queues; q++) {
        st->queue_started[q] = false;
        ioeventfd_sync(st, q);
    }
    for (uint16_t n = 0; st->vec && n < st->nvec; n++)
        msix_release(st, &st->vec[n]);
    if (st->gsi != VMM_VIRTIO_NO_IRQ)
        virtio_irq_release(st->vm, st->gsi);
    free(st->vec);
    free(st->queue_started);
    free(st->ioeventfd_gpa);
    free(st);
}

static void pci_info(struct virtio_dev *d, struct vmm_virtio_info *info)
{
    const struct pci_state *st = d->transport;
    info->transport = VMM_VIRTIO_TRANSPORT_PCI;
    if (!st)
        return;
    info->irq = st->gsi;
    info->pci_slot = st->fn.slot;
    info->mmio_base = st->bar_gpa == PCI_BAR_UNMAPPED ? 0 : st->bar_gpa;
}

static const struct virtio_transport_ops pci_ops = {
    .interrupt = pci_interrupt,
    .queue_start = pci_queue_start,
    .queue_stop = pci_queue_stop,
    .detach = pci_detach,
    .reset = pci_reset,
    .info = pci_info,
};

/* ---- attach ------------------------------------------------------------- */

/* Class codes as QEMU gives its virtio-pci devices. */
static uint32_t class_of(uint32_t device_id)
{
    switch (device_id) {
    case VIRTIO_ID_NET:
        return 0x020000;  /* network, Ethernet */
    case VIRTIO_ID_BLOCK:
        return 0x010000;  /* mass storage, SCSI */
    case VIRTIO_ID_CONSOLE:
        return 0x078000;  /* communication, other */
    case VIRTIO_ID_RNG:
        return 0x00ff00;  /* unclassified */
    default:
        return 0xff0000;  /* device does not fit any class */
    }
}

static int add_virtio_cap(struct pci_function *fn, uint8_t cfg_type, uint32_t offset,
                          uint32_t length, uint8_t cap_len, uint32_t extra, const char *caller)
{
    struct virtio_cap_body b = {
        .cap_len = cap_len,
        .cfg_type = cfg_type,
        .bar = 0,
        .offset = htole32(offset),
        .length = htole32(length),
        .extra = htole32(extra),
    };
    return pci_function_add_cap(fn, PCI_CAP_ID_VNDR, &b, cap_len, caller);
}

/* The configuration image: identity, BAR 0, capabilities, INTx. */
static int build_function(struct pci_state *st, const char *caller)
{
    struct virtio_dev *d = st->d;
    struct pci_function *fn = &st->fn;
    pci_function_init(fn, VIRTIO_PCI_VENDOR_ID,
                      (uint16_t)(VIRTIO_PCI_DEVICE_ID_BASE + d->ops->device_id),
                      class_of(d->ops->device_id), VIRTIO_PCI_REVISION,
                      VIRTIO_PCI_SUBSYS_VENDOR, VIRTIO_PCI_SUBSYS_ID, &function_ops, st);
    pci_function_set_intx(fn, st->gsi);
    int r = pci_function_add_bar32(fn, 0, BAR_SIZE, caller);
    uint32_t notify_len = (d->num_queues ? d->num_queues : 1u) * NOTIFY_MULTIPLIER;
    if (r == 0)
        r = add_virtio_cap(fn, VIRTIO_PCI_CAP_COMMON_CFG, COMMON_OFF, VIRTIO_PCI_COMMON_SIZE,
                           VIRTIO_CAP_LEN, 0, caller);
    if (r >= 0)
        r = add_virtio_cap(fn, VIRTIO_PCI_CAP_NOTIFY_CFG, NOTIFY_OFF, notify_len,
                           VIRTIO_CAP_LEN_EXT, NOTIFY_MULTIPLIER, caller);
    if (r >= 0)
        r = add_virtio_cap(fn, VIRTIO_PCI_CAP_ISR_CFG, ISR_OFF, 1, VIRTIO_CAP_LEN, 0, caller);
    if (r >= 0 && d->ops->config_size)
        r = add_virtio_cap(fn, VIRTIO_PCI_CAP_DEVICE_CFG, DEVICE_OFF,
                           d->ops->config_size < REGION_SIZE ? d->ops->config_size : REGION_SIZE,
                           VIRTIO_CAP_LEN, 0, caller);
    if (r >= 0) {
        r = add_virtio_cap(fn, VIRTIO_PCI_CAP_PCI_CFG, 0, 0, VIRTIO_CAP_LEN_EXT, 0, caller);
        if (r >= 0) {
            /* 4.1.4.9: bar, offset, length and pci_cfg_data are the
             * driver's to write. */
            st->cfg_cap = (uint8_t)r;
            fn->wmask[r + 4] = 0xff;
            memset(fn->wmask + r + 8, 0xff, 12);
        }
    }
    if (r >= 0) {
        /* PCI 3.0, 6.8.2: Message Control (table size N - 1, read-only;
         * Function Mask and Enable writable), table and PBA in BAR 0. */
        uint8_t msix[10];
        pci_cfg_set16(msix, 0, (uint16_t)(st->nvec - 1));
        pci_cfg_set32(msix, 2, MSIX_TABLE_OFF | 0);
        pci_cfg_set32(msix, 6, MSIX_PBA_OFF | 0);
        r = pci_function_add_cap(fn, PCI_CAP_ID_MSIX, msix, 12, caller);
        if (r >= 0) {
            st->msix_cap = (uint8_t)r;
            fn->wmask[r + 3] = (MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL) >> 8;
        }
    }
    return r < 0 ? r : 0;
}

int virtio_pci_attach(struct virtio_dev *d, const struct vmm_virtio_transport_config *t,
                      const char *caller)
{
    vmm_vm *vm = d->vm;
    int r = 0;
    uint32_t gsi = VMM_VIRTIO_NO_IRQ;
    if (t->mmio_base)
        r = vmm_err(-EINVAL, "%s: mmio_base 0x%llx given for a virtio-pci device (must be 0: "
                    "the BAR is assigned in the PCI window)", caller,
                    (unsigned long long)t->mmio_base);
    else if (t->pci_slot >= PCI_SLOTS)
        r = vmm_err(-EINVAL, "%s: pci_slot %u is not 1-31 (or 0 for the next free)", caller,
                    t->pci_slot);
    else if (d->num_queues + 1u > MSIX_MAX_VECTORS || d->num_queues > NOTIFY_MAX_QUEUES)
        r = vmm_err(-EINVAL, "%s: %s has %u queues; virtio-pci supports at most %u", caller,
                    d->name, d->num_queues, MSIX_MAX_VECTORS - 1);
    if (r == 0)
        r = virtio_irq_pick(vm, t->irq, pci_irq_candidates, sizeof(pci_irq_candidates),
                            caller, &gsi);
    if (r < 0) {
        virtio_dev_free(d);
        return r;
    }

    struct pci_state *st = calloc(1, sizeof(*st));
    uint16_t nvec = (uint16_t)(d->num_queues + 1u);
    size_t nq = d->num_queues ? d->num_queues : 1;
    if (st) {
        st->vec = calloc(nvec, sizeof(*st->vec));
        st->queue_started = calloc(nq, sizeof(*st->queue_started));
        st->ioeventfd_gpa = calloc(nq, sizeof(*st->ioeventfd_gpa));
    }
    if (!st || !st->vec || !st->queue_started || !st->ioeventfd_gpa) {
        if (st) {
            free(st->vec);
            free(st->queue_started);
            free(st->ioeventfd_gpa);
            free(st);
        }
        if (gsi != VMM_VIRTIO_NO_IRQ)
            virtio_irq_release(vm, gsi);
        virtio_dev_free(d);
        return vmm_err(-ENOMEM, "%s: out of memory", caller);
    }
    st->d = d;
    st->vm = vm;
    st->gsi = gsi;
    st->nvec = nvec;
    st->bar_gpa = PCI_BAR_UNMAPPED;
    for (uint16_t n = 0; n < nvec; n++) {
        /* PCI 3.0, 6.8.2.9: every vector starts masked. */
        st->vec[n].ctrl = MSIX_VECTOR_MASKED;
        st->vec[n].efd = -1;
        st->vec[n].gsi = -1;
    }
    d->tops = &pci_ops;
    d->transport = st;

    r = build_function(st, caller);
    if (r < 0) {
        pci_detach(d);
        virtio_dev_free(d);
        return r;
    }
    /* The device first (refused while a vCPU runs), the bus after: once on
     * the bus, vCPUs may be inside pci_bar_access() (it runs without the
     * host lock), so the function must never be unpublished and freed on a
     * failure path that could race with them. On failure the destroy
     * callback ran pci_detach() and freed d. No ranges of its own: the
     * host routes BAR 0 accesses to us. */
    r = virtio_dev_attach_device(d, NULL, caller);
    if (r < 0)
        return r;
    r = pci_host_register(vm, &st->fn, t->pci_slot, caller);
    if (r < 0)
        return vmm_devices_undo_attach(d->dev, r);
    snprintf(d->where, sizeof(d->where), "virtio-pci 00:%02x.0", st->fn.slot);
    return 0;
}
