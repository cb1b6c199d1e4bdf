/* The virtio-mmio transport, register layout version 2 (virtio 1.2
 * section 4.2): one 4 KiB register page per device, an edge-triggered
 * interrupt line, and vmm_virtio_mmio_cmdline() for the Linux command-line
 * words that tell the guest where the pages are. The register semantics
 * shared with PCI (features, status, queues, config space) live in
 * virtio_dev.c; this file only decodes offsets. */
#include "devices/virtio/virtio_dev.h"

#include "core/error.h"
#include "devices/attach.h"
#include "kvm/kvm_irq.h"
#include "vm/vm.h"

#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* What the device reports as VendorID (4.2.2): QEMU's "QEMU" value, which
 * Linux ignores and nothing matches on. */
#define MMIO_VENDOR_ID 0x554d4551u

/* The interrupt lines a virtio-mmio device gets by default: the ISA lines
 * no PC device uses. The device pulses its line (an edge), which is what
 * these pins are (edge-triggered, as the MP table's ISA entries say); on a
 * level-triggered pin (GSI 16-23 as PCI uses them) a pulse that arrives
 * while the previous one is unacknowledged would be lost, so those are
 * only used when asked for explicitly. */
static const uint8_t mmio_irq_candidates[] = { 5, 6, 7, 9, 10, 11 };

struct mmio_state {
    uint64_t base;     /* GPA of the register page */
    uint32_t gsi;      /* VMM_VIRTIO_NO_IRQ for none */
    int irq_efd;       /* eventfd bound to gsi with KVM_IRQFD, or -1 */
    bool irqfd_bound;
    uint32_t shm_sel;  /* SHMSel: no shared memory regions exist */
    bool *ioeventfd_on; /* per queue: an ioeventfd is registered */
};

static const struct virtio_transport_ops mmio_ops;

/* 4.2.2: registers the driver may read. *handled is false for offsets that
 * name no readable register. */
static uint32_t reg_read(struct virtio_dev *d, uint32_t off, bool *handled)
{
    struct mmio_state *st = d->transport;
    struct virtq *vq = virtio_dev_selected(d);
    *handled = true;
    switch (off) {
    case VIRTIO_MMIO_MAGIC_VALUE:
        return VIRTIO_MMIO_MAGIC;
    case VIRTIO_MMIO_VERSION:
        return 2;
    case VIRTIO_MMIO_DEVICE_ID:
        return d->ops->device_id;
    case VIRTIO_MMIO_VENDOR_ID:
        return MMIO_VENDOR_ID;
    case VIRTIO_MMIO_DEVICE_FEATURES:
        return virtio_dev_features_read(d);
    case VIRTIO_MMIO_QUEUE_NUM_MAX:
        /* 4.2.3.2: 0 tells the driver the queue does not exist. */
        return vq ? vq->max_size : 0;
    case VIRTIO_MMIO_QUEUE_READY:
        return vq && vq->enabled ? 1 : 0;
    case VIRTIO_MMIO_INTERRUPT_STATUS:
        return d->isr;
    case VIRTIO_MMIO_STATUS:
        return virtio_dev_status_read(d);
    case VIRTIO_MMIO_SHM_LEN_LOW:
    case VIRTIO_MMIO_SHM_LEN_HIGH:
    case VIRTIO_MMIO_SHM_BASE_LOW:
    case VIRTIO_MMIO_SHM_BASE_HIGH:
        /* 4.2.2: a non-existent region reads a length of all ones (-1). */
        (void)st;
        return 0xffffffffu;
    case VIRTIO_MMIO_QUEUE_RESET:
        return 0; /* VIRTIO_F_RING_RESET is not offered */
    case VIRTIO_MMIO_CONFIG_GENERATION:
        return d->config_generation;
    case VIRTIO_MMIO_QUEUE_NUM:
    case VIRTIO_MMIO_QUEUE_DESC_LOW:
    case VIRTIO_MMIO_QUEUE_DESC_HIGH:
    case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
    case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
    case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
    case VIRTIO_MMIO_QUEUE_DEVICE_HIGH: {
        /* Write-only in 4.2.2, but reading back what was written is what
         * QEMU does for the addresses and is harmless. */
        if (!vq)
            return 0;
        switch (off) {
        case VIRTIO_MMIO_QUEUE_NUM: return vq->size;
        case VIRTIO_MMIO_QUEUE_DESC_LOW: return (uint32_t)vq->desc_gpa;
        case VIRTIO_MMIO_QUEUE_DESC_HIGH: return (uint32_t)(vq->desc_gpa >> 32);
        case VIRTIO_MMIO_QUEUE_DRIVER_LOW: return (uint32_t)vq->avail_gpa;
        case VIRTIO_MMIO_QUEUE_DRIVER_HIGH: return (uint32_t)(vq->avail_gpa >> 32);
        case VIRTIO_MMIO_QUEUE_DEVICE_LOW: return (uint32_t)vq->used_gpa;
        default: return (uint32_t)(vq->used_gpa >> 32);
        }
    }
    default:
        *handled = false;
        return 0;
    }
}

/* Sets the low or high half of a ring address (4.2.2 QueueDesc/Driver/
 * Device Low/High). */
static void set_half(uint64_t *gpa, bool high, uint32_t v)
{
    if (high)
        *gpa = (*gpa & 0xffffffffull) | ((uint64_t)v << 32);
    else
        *gpa = (*gpa & ~0xffffffffull) | v;
}

/* The driver disabled a queue (QueueReady = 0). virtio 1.2 leaves the
 * effect open short of QueueReset; like QEMU, the queue stops being
 * processed and keeps its addresses, so setting QueueReady again resumes
 * from the reset ring state that virtq_enable() sets up. */
static void queue_disable(struct virtio_dev *d, struct virtq *vq)
{
    if (!vq->enabled)
        return;
    if (d->tops->queue_stop)
        d->tops->queue_stop(d, vq->index);
    vq->enabled = false;
}

/* 4.2.2: registers the driver may write. Returns the queue to kick
 * (QueueNotify) or -1. */
static int reg_write(struct virtio_dev *d, uint32_t off, uint32_t v)
{
    struct mmio_state *st = d->transport;
    struct virtq *vq = virtio_dev_selected(d);
    switch (off) {
    case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
        d->device_features_sel = v;
        return -1;
    case VIRTIO_MMIO_DRIVER_FEATURES:
        virtio_dev_features_write(d, v);
        return -1;
    case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
        d->driver_features_sel = v;
        return -1;
    case VIRTIO_MMIO_QUEUE_SEL:
        /* Kept even when out of range: the queue registers then read 0 and
         * ignore writes (virtio_dev_selected() is NULL), as 4.2.3.2 expects
         * of a queue that does not exist. */
        d->queue_sel = v > 0xffff ? 0xffff : (uint16_t)v;
        return -1;
    case VIRTIO_MMIO_QUEUE_NOTIFY:
        /* No VIRTIO_F_NOTIFICATION_DATA: the value is the queue index. */
        if (v >= d->num_queues) {
            virtio_dev_guest_error(d, "QueueNotify for queue %u, but the device has %u", v,
                        d->num_queues);
            return -1;
        }
        return (int)v;
    case VIRTIO_MMIO_INTERRUPT_ACK:
        d->isr &= (uint8_t)~v;
        return -1;
    case VIRTIO_MMIO_STATUS:
        virtio_dev_status_write(d, (uint8_t)v);
        return -1;
    case VIRTIO_MMIO_SHM_SEL:
        st->shm_sel = v;
        return -1;
    case VIRTIO_MMIO_QUEUE_NUM:
    case VIRTIO_MMIO_QUEUE_READY:
    case VIRTIO_MMIO_QUEUE_DESC_LOW:
    case VIRTIO_MMIO_QUEUE_DESC_HIGH:
    case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
    case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
    case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
    case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
        break;
    case VIRTIO_MMIO_QUEUE_RESET:
        virtio_dev_guest_error(d, "QueueReset written, but VIRTIO_F_RING_RESET is not offered");
        return -1;
    default:
        virtio_dev_guest_error(d, "write of 0x%x to read-only or reserved register 0x%03x", v, off);
        return -1;
    }
    if (!vq) {
        virtio_dev_guest_error(d, "write to queue register 0x%03x with QueueSel %u, but the device has "
                    "%u queues", off, d->queue_sel, d->num_queues);
        return -1;
    }
    if (off == VIRTIO_MMIO_QUEUE_READY) {
        if (v == 1 && !vq->enabled)
            virtio_dev_queue_enable(d, vq); /* validates size and areas */
        else if (v == 0)
            queue_disable(d, vq);
        return -1;
    }
    /* 4.2.2.2 (device requirements of QueueReady): a ready queue's size
     * and addresses do not change under the device. */
    if (vq->enabled) {
        virtio_dev_guest_error(d, "write to register 0x%03x of queue %u while it is ready", off,
                    vq->index);
        return -1;
    }
    switch (off) {
    case VIRTIO_MMIO_QUEUE_NUM:
        /* Checked against max_size when the queue is enabled. */
        vq->size = v > 0xffff ? 0 : (uint16_t)v;
        break;
    case VIRTIO_MMIO_QUEUE_DESC_LOW:
    case VIRTIO_MMIO_QUEUE_DESC_HIGH:
        set_half(&vq->desc_gpa, off == VIRTIO_MMIO_QUEUE_DESC_HIGH, v);
        break;
    case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
    case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
        set_half(&vq->avail_gpa, off == VIRTIO_MMIO_QUEUE_DRIVER_HIGH, v);
        break;
    default:
        set_half(&vq->used_gpa, off == VIRTIO_MMIO_QUEUE_DEVICE_HIGH, v);
        break;
    }
    return -1;
}

/* The register page. Every guest mistake is answered like hardware would
 * (reads 0, writes dropped) and logged; the vCPU never stops over one. */
static int mmio_access(vmm_device *dev, vmm_vcpu *vcpu, const struct vmm_io *io, void *user)
{
    (void)dev;
    (void)vcpu;
    struct virtio_dev *d = user;
    uint64_t off = io->offset;
    int kick = -1;
    virtio_dev_lock(d);
    if (off >= VIRTIO_MMIO_CONFIG) {
        /* 4.2.2.2: config fields are accessed with their own width
         * (1, 2, or 4 bytes for 32- and 64-bit fields), aligned. */
        bool ok = (io->len == 1 || io->len == 2 || io->len == 4) && (off & (io->len - 1)) == 0 &&
                  off + io->len <= VIRTIO_MMIO_SIZE;
        if (!ok) {
            virtio_dev_guest_error(d, "%u-byte %s at config offset 0x%llx: only aligned 1, 2 and 4-byte "
                        "accesses are allowed", io->len, io->is_write ? "write" : "read",
                        (unsigned long long)(off - VIRTIO_MMIO_CONFIG));
            if (!io->is_write)
                memset(io->data, 0, io->len);
        } else if (io->is_write) {
            virtio_dev_config_write(d, (uint32_t)(off - VIRTIO_MMIO_CONFIG), io->data, io->len);
        } else {
            virtio_dev_config_read(d, (uint32_t)(off - VIRTIO_MMIO_CONFIG), io->data, io->len);
        }
    } else if (io->len != 4 || (off & 3)) {
        /* 4.2.2.2: the control registers take 32-bit aligned accesses only. */
        virtio_dev_guest_error(d, "%u-byte %s at register offset 0x%03llx: only aligned 32-bit accesses "
                    "are allowed", io->len, io->is_write ? "write" : "read",
                    (unsigned long long)off);
        if (!io->is_write)
            memset(io->data, 0, io->len);
    } else if (io->is_write) {
        uint32_t v;
        memcpy(&v, io->data, 4);
        kick = reg_write(d, (uint32_t)off, le32toh(v));
    } else {
        bool handled;
        uint32_t v = htole32(reg_read(d, (uint32_t)off, &handled));
        if (!handled)
            virtio_dev_guest_error(d, "read of write-only or reserved register 0x%03llx",
                        (unsigned long long)off);
        memcpy(io->data, &v, 4);
    }
    virtio_dev_unlock(d);
    if (kick >= 0)
        virtio_dev_kick(d, (uint16_t)kick);
    return 0;
}

/* 4.2.2 InterruptStatus, then an edge on the line (Linux's vm_interrupt
 * reads and acknowledges the status on each edge). Called with d->lock. */
static void mmio_interrupt(struct virtio_dev *d, uint32_t isr_bit, uint16_t vector)
{
    (void)vector;
    struct mmio_state *st = d->transport;
    d->isr |= (uint8_t)isr_bit;
    if (!st || st->gsi == VMM_VIRTIO_NO_IRQ)
        return;
    if (st->irqfd_bound) {
        /* KVM asserts and deasserts the GSI for each write (api.rst 4.75). */
        uint64_t one = 1;
        while (write(st->irq_efd, &one, sizeof(one)) < 0 && errno == EINTR)
            ;
        return;
    }
    if (vmm_device_set_irq(d->dev, st->gsi, 1) == 0)
        vmm_device_set_irq(d->dev, st->gsi, 0);
}

/* Notifications without an exit: an ioeventfd on QueueNotify matching the
 * queue's index (4.2.2: the value written is the queue index). */
static int mmio_queue_start(struct virtio_dev *d, uint16_t q)
{
    struct mmio_state *st = d->transport;
    if (!st || q >= d->num_queues || st->ioeventfd_on[q] || !d->kick_fds ||
        d->kick_fds[q] < 0 || !vmm_vm_has_ioeventfd(d->vm))
        return 0;
    int r = vmm_ioeventfd(d->vm, d->kick_fds[q], st->base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, false,
                          true, q, true, d->name);
    if (r < 0) {
        /* Not fatal: the write then exits and mmio_access() kicks. */
        vmm_log(VMM_LOG_WARN, "%s: queue %u notifications will exit to user space (%s)",
                d->name, q, vmm_last_error());
        return 0;
    }
    st->ioeventfd_on[q] = true;
    return 0;
}

static void mmio_queue_stop(struct virtio_dev *d, uint16_t q)
{
    struct mmio_state *st = d->transport;
    if (!st || q >= d->num_queues || !st->ioeventfd_on[q])
        return;
    vmm_ioeventfd(d->vm, d->kick_fds[q], st->base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, false, true, q,
                  false, d->name);
    st->ioeventfd_on[q] = false;
}

/* Transport-private registers back to their reset values. */
static void mmio_reset(struct virtio_dev *d)
{
    struct mmio_state *st = d->transport;
    if (st)
        st->shm_sel = 0;
}

/* Releases what the transport holds; safe to call again (st is gone). */
static void mmio_detach(struct virtio_dev *d)
{
    struct mmio_state *st = d->transport;
    if (!st)
        return;
    for (uint16_t q = 0; q < d->num_queues; q++)
        mmio_queue_stop(d, q);
    if (st->irqfd_bound)
        vmm_irqfd(d->vm, st->irq_efd, st->gsi, false, d->name);
    if (st->irq_efd >= 0)
        close(st->irq_efd);
    if (st->gsi != VMM_VIRTIO_NO_IRQ)
        virtio_irq_release(d->vm, st->gsi);
    free(st->ioeventfd_on);
    free(st);
    d->transport = NULL;
}

/* vmm_virtio_get_info(): where the device is. */
static void mmio_info(struct virtio_dev *d, struct vmm_virtio_info *info)
{
    const struct mmio_state *st = d->transport;
    info->transport = VMM_VIRTIO_TRANSPORT_MMIO;
    info->pci_slot = 0;
    if (st) {
        info->irq = st->gsi;
        info->mmio_base = st->base;
    }
}

static const struct virtio_transport_ops mmio_ops = {
    .info = mmio_info,
    .interrupt = mmio_interrupt,
    .queue_start = mmio_queue_start,
    .queue_stop = mmio_queue_stop,
    .detach = mmio_detach,
    .reset = mmio_reset,
};

/* Whether [base, base + len) overlaps any range of @map (set-up time only:
 * a linear walk). */
static bool map_overlaps(const struct vmm_range_map *map, uint64_t base, uint64_t len)
{
    for (size_t i = 0; i < map->count; i++) {
        const struct vmm_range *r = &map->ranges[i];
        /* Inclusive ends: a range may end exactly at 2^64. */
        if (r->base <= base + (len - 1) && base <= r->base + (r->len - 1))
            return true;
    }
    return false;
}

/* The register page: the first free one from VMM_VIRTIO_MMIO_BASE up to
 * the PCI window, or the caller's, checked. */
static int pick_base(vmm_vm *vm, uint64_t want, const char *caller, uint64_t *out)
{
    if (want == 0) {
        for (uint64_t b = VMM_VIRTIO_MMIO_BASE; b < VMM_VIRTIO_PCI_MMIO_BASE;
             b += VIRTIO_MMIO_SIZE) {
            if (!map_overlaps(&vm->mmio, b, VIRTIO_MMIO_SIZE) &&
                !map_overlaps(&vm->memory.map, b, VIRTIO_MMIO_SIZE)) {
                *out = b;
                return 0;
            }
        }
        return vmm_err(-ENOSPC, "%s: no free 4 KiB page for a virtio-mmio device between "
                       "0x%llx and 0x%llx (give mmio_base explicitly)", caller,
                       VMM_VIRTIO_MMIO_BASE, VMM_VIRTIO_PCI_MMIO_BASE);
    }
    if (want & (VIRTIO_MMIO_SIZE - 1))
        return vmm_err(-EINVAL, "%s: mmio_base 0x%llx is not 4 KiB-aligned", caller,
                       (unsigned long long)want);
    if (want > UINT64_MAX - VIRTIO_MMIO_SIZE + 1)
        return vmm_err(-EINVAL, "%s: mmio_base 0x%llx leaves no room for the 4 KiB register "
                       "page", caller, (unsigned long long)want);
    if (map_overlaps(&vm->memory.map, want, VIRTIO_MMIO_SIZE))
        return vmm_err(-EBUSY, "%s: mmio_base 0x%llx is guest RAM", caller,
                       (unsigned long long)want);
    *out = want; /* overlaps with devices are reported by vmm_device_map_mmio() */
    return 0;
}

int virtio_mmio_attach(struct virtio_dev *d, const struct vmm_virtio_transport_config *t,
                       const char *caller)
{
    vmm_vm *vm = d->vm;
    uint64_t base = 0;
    uint32_t gsi = VMM_VIRTIO_NO_IRQ;
    int r = 0;
    if (t->pci_slot)
        r = vmm_err(-EINVAL, "%s: pci_slot %u given for a virtio-mmio device (must be 0)",
                    caller, t->pci_slot);
    if (r == 0)
        r = pick_base(vm, t->mmio_base, caller, &base);
    if (r == 0)
        r = virtio_irq_pick(vm, t->irq, mmio_irq_candidates, sizeof(mmio_irq_candidates),
                            caller, &gsi);
    if (r < 0) {
        virtio_dev_free(d);
        return r;
    }

    struct mmio_state *st = calloc(1, sizeof(*st));
    bool *on = calloc(d->num_queues ? d->num_queues : 1, sizeof(*on));
    if (!st || !on) {
        free(st);
        free(on);
        if (gsi != VMM_VIRTIO_NO_IRQ)
            virtio_irq_release(vm, gsi);
        virtio_dev_free(d);
        return vmm_err(-ENOMEM, "%s: out of memory", caller);
    }
    st->base = base;
    snprintf(d->where, sizeof(d->where), "virtio-mmio @0x%llx", (unsigned long long)base);
    st->gsi = gsi;
    st->irq_efd = -1;
    st->ioeventfd_on = on;
    d->tops = &mmio_ops;
    d->transport = st;

    if (gsi != VMM_VIRTIO_NO_IRQ && vmm_vm_has_irqfd(vm)) {
        st->irq_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (st->irq_efd < 0)
            r = vmm_err(-errno, "%s: eventfd for the interrupt of %s: %s", caller, d->name,
                        strerror(errno));
        else
            r = vmm_irqfd(vm, st->irq_efd, gsi, true, caller);
        if (r < 0) {
            mmio_detach(d);
            virtio_dev_free(d);
            return r;
        }
        st->irqfd_bound = true;
    }

    r = virtio_dev_attach_device(d, mmio_access, caller);
    if (r < 0)
        return r; /* d (and st, through mmio_detach) is freed */
    r = vmm_device_map_mmio(d->dev, base, VIRTIO_MMIO_SIZE);
    if (r < 0) /* the sentence names the public call, then what the map said */
        return vmm_devices_undo_attach(d->dev, vmm_err(r, "%s: %s", caller, vmm_last_error()));
    return 0;
}

/* The transport state of a virtio-mmio device, or NULL. */
static const struct mmio_state *mmio_of(vmm_device *dev)
{
    struct virtio_dev *d = virtio_dev_from_device(dev);
    return d && d->tops == &mmio_ops ? d->transport : NULL;
}

VMM_API int vmm_virtio_mmio_cmdline(vmm_vm *vm, char *buf, size_t size)
{
    static const char fn[] = "vmm_virtio_mmio_cmdline";
    if (!vm)
        return vmm_err(-EINVAL, "%s: vm is NULL", fn);
    if (!buf && size)
        return vmm_err(-EINVAL, "%s: buf is NULL but size is %zu", fn, size);
    size_t len = 0;
    if (size)
        buf[0] = '\0';
    for (vmm_device *dev = vm->devices_head; dev; dev = dev->next) {
        const struct mmio_state *st = mmio_of(dev);
        /* Linux's syntax (drivers/virtio/virtio_mmio.c, vm_cmdline_set():
         * <size>@<baseaddr>:<irq>[:<id>]) cannot say "no interrupt": a
         * device without a line is left out. */
        if (!st || st->gsi == VMM_VIRTIO_NO_IRQ)
            continue;
        char word[64];
        int n = snprintf(word, sizeof(word), "%svirtio_mmio.device=4K@0x%llx:%u",
                         len ? " " : "", (unsigned long long)st->base, st->gsi);
        if (n < 0)
            continue;
        if (len + (size_t)n < size)
            memcpy(buf + len, word, (size_t)n + 1);
        else if (len < size)
            buf[len] = '\0'; /* only whole words: a cut one would mislead the guest */
        len += (size_t)n;
        if (len > INT_MAX)
            return vmm_err(-EOVERFLOW, "%s: the command line is longer than INT_MAX", fn);
    }
    return (int)len;
}
