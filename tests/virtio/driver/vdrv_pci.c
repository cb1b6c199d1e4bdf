/* Modern virtio-pci transport from the driver side (virtio 1.2 §4.1):
 * configuration mechanism #1 (PCI Local Bus 3.0 §3.2.2.3.2), the vendor
 * capabilities (4.1.4), BAR placement below 4 GiB, optional MSI-X. */
#include "vdrv_int.h"

#define CFG_ADDR 0xcf8
#define CFG_DATA 0xcfc

#define PCI_VENDOR 0x00
#define PCI_DEVICE 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_BAR0 0x10
#define PCI_CAP_PTR 0x34
#define PCI_CMD_MEM 0x2u
#define PCI_CMD_MASTER 0x4u
#define PCI_STATUS_CAPS 0x10u
#define PCI_CAP_VNDR 0x09
#define PCI_CAP_MSIX 0x11

#define CAP_COMMON 1
#define CAP_NOTIFY 2
#define CAP_ISR 3
#define CAP_DEVICE 4

/* 4.1.4.3 struct virtio_pci_common_cfg */
#define CC_DFSELECT 0x00
#define CC_DF 0x04
#define CC_GFSELECT 0x08
#define CC_GF 0x0c
#define CC_MSIX 0x10
#define CC_NUMQ 0x12
#define CC_STATUS 0x14
#define CC_Q_SELECT 0x16
#define CC_Q_SIZE 0x18
#define CC_Q_MSIX 0x1a
#define CC_Q_ENABLE 0x1c
#define CC_Q_NOFF 0x1e
#define CC_Q_DESC 0x20
#define CC_Q_DRIVER 0x28
#define CC_Q_DEVICE 0x30
#define NO_VECTOR 0xffffu

/* The window we place unassigned (or above-4-GiB) BARs in: the guest runs
 * with paging off and cannot reach anything higher. */
#define BAR_WINDOW_BASE 0xe0000000u
#define BAR_WINDOW_END 0xf0000000u

#define MSI_ADDR 0xfee00000u  /* LAPIC, destination ID 0 (SDM vol. 3 §11.11.1) */

struct pci_fn {
    struct vdrv_run *r;
    uint8_t slot;
    uint64_t bar[6];   /* resolved memory BAR addresses, 0 if unusable */
    int bar_done[6];
};

static uint32_t cfg_read(struct vdrv_run *r, uint8_t slot, uint8_t off, uint32_t len)
{
    const struct vdrv_bus *b = r->bus;
    b->pio_write(b->ctx, CFG_ADDR, 4, 0x80000000u | (uint32_t)slot << 11 | (off & 0xfcu));
    return b->pio_read(b->ctx, (uint16_t)(CFG_DATA + (off & 3u)), len);
}

static void cfg_write(struct vdrv_run *r, uint8_t slot, uint8_t off, uint32_t len, uint32_t val)
{
    const struct vdrv_bus *b = r->bus;
    b->pio_write(b->ctx, CFG_ADDR, 4, 0x80000000u | (uint32_t)slot << 11 | (off & 0xfcu));
    b->pio_write(b->ctx, (uint16_t)(CFG_DATA + (off & 3u)), len, val);
}

/* Returns the memory BAR's address, assigning one in the window when the
 * firmware left it at 0 or above 4 GiB; 0 when it is unusable. */
static uint64_t bar_addr(struct pci_fn *f, uint8_t i)
{
    struct vdrv_run *r = f->r;
    if (i > 5)
        return 0;
    if (f->bar_done[i])
        return f->bar[i];
    f->bar_done[i] = 1;
    uint8_t off = (uint8_t)(PCI_BAR0 + 4 * i);
    uint32_t lo = cfg_read(r, f->slot, off, 4);
    if (lo & 1u) {
        vd_log(r->bus, "vdrv: virtio structure in an I/O BAR\n");
        return 0;
    }
    int is64 = ((lo >> 1) & 3u) == 2;
    if (is64 && i == 5)
        return 0;
    uint32_t hi = is64 ? cfg_read(r, f->slot, (uint8_t)(off + 4), 4) : 0;
    uint64_t addr = ((uint64_t)hi << 32) | (lo & ~0xfu);

    /* Size it (PCI 3.0 §6.2.5.1) with decoding off. */
    uint32_t cmd = cfg_read(r, f->slot, PCI_COMMAND, 2);
    cfg_write(r, f->slot, PCI_COMMAND, 2, cmd & ~PCI_CMD_MEM);
    cfg_write(r, f->slot, off, 4, 0xffffffffu);
    uint64_t mask = cfg_read(r, f->slot, off, 4) & ~0xfu;
    if (is64) {
        cfg_write(r, f->slot, (uint8_t)(off + 4), 4, 0xffffffffu);
        mask |= (uint64_t)cfg_read(r, f->slot, (uint8_t)(off + 4), 4) << 32;
    } else {
        mask |= 0xffffffff00000000ull;
    }
    uint64_t size = ~mask + 1;
    if (mask == 0 || size == 0 || size > (BAR_WINDOW_END - BAR_WINDOW_BASE))
        size = 0;

    if (size != 0 && (addr == 0 || addr + size > 0x100000000ull)) {
        uint64_t a = (r->bar_next + size - 1) & ~(size - 1);
        if (a + size <= BAR_WINDOW_END) {
            addr = a;
            r->bar_next = a + size;
        } else {
            vd_log(r->bus, "vdrv: no room for a BAR below 4 GiB\n");
            addr = 0;
        }
    }
    cfg_write(r, f->slot, off, 4, (uint32_t)addr | (lo & 0xfu));
    if (is64)
        cfg_write(r, f->slot, (uint8_t)(off + 4), 4, (uint32_t)(addr >> 32));
    cfg_write(r, f->slot, PCI_COMMAND, 2, cmd);
    f->bar[i] = size == 0 ? 0 : addr;
    return f->bar[i];
}

static uint64_t cc_rd(struct vdrv_dev *d, uint32_t off, uint32_t len)
{
    return d->bus->mmio_read(d->bus->ctx, d->common + off, len);
}

static void cc_wr(struct vdrv_dev *d, uint32_t off, uint32_t len, uint64_t v)
{
    d->bus->mmio_write(d->bus->ctx, d->common + off, len, v);
}

static uint8_t pci_get_status(struct vdrv_dev *d)
{
    return (uint8_t)cc_rd(d, CC_STATUS, 1);
}

static void pci_set_status(struct vdrv_dev *d, uint8_t st)
{
    cc_wr(d, CC_STATUS, 1, st);
}

static uint32_t pci_get_features(struct vdrv_dev *d, uint32_t sel)
{
    cc_wr(d, CC_DFSELECT, 4, sel);
    return (uint32_t)cc_rd(d, CC_DF, 4);
}

static void pci_set_features(struct vdrv_dev *d, uint32_t sel, uint32_t val)
{
    cc_wr(d, CC_GFSELECT, 4, sel);
    cc_wr(d, CC_GF, 4, val);
}

static uint32_t pci_queue_max(struct vdrv_dev *d, struct vdrv_vq *vq)
{
    if (vq->index >= cc_rd(d, CC_NUMQ, 2))
        return 0;
    cc_wr(d, CC_Q_SELECT, 2, vq->index);
    return (uint32_t)cc_rd(d, CC_Q_SIZE, 2);
}

static int pci_queue_enable(struct vdrv_dev *d, struct vdrv_vq *vq)
{
    cc_wr(d, CC_Q_SELECT, 2, vq->index);
    cc_wr(d, CC_Q_SIZE, 2, vq->size);
    /* 64-bit fields as two 32-bit writes: 4.1.3.1 lets the driver use
     * either, and two halves is what a 32-bit guest does. */
    cc_wr(d, CC_Q_DESC, 4, (uint32_t)vq->desc_gpa);
    cc_wr(d, CC_Q_DESC + 4, 4, (uint32_t)(vq->desc_gpa >> 32));
    cc_wr(d, CC_Q_DRIVER, 4, (uint32_t)vq->avail_gpa);
    cc_wr(d, CC_Q_DRIVER + 4, 4, (uint32_t)(vq->avail_gpa >> 32));
    cc_wr(d, CC_Q_DEVICE, 4, (uint32_t)vq->used_gpa);
    cc_wr(d, CC_Q_DEVICE + 4, 4, (uint32_t)(vq->used_gpa >> 32));
    if (d->msix_vectors > 0) {
        /* Vector n+1 for queue n (0 is the config vector), or the last. */
        uint16_t vec = (uint16_t)(vq->index + 1 < d->msix_vectors ? vq->index + 1
                                                                  : d->msix_vectors - 1);
        cc_wr(d, CC_Q_MSIX, 2, vec);
        struct vstr v;
        vs_init(&v);
        uint16_t got = (uint16_t)cc_rd(d, CC_Q_MSIX, 2);
        vs_str(&v, "q=");
        vs_dec(&v, vq->index);
        vs_str(&v, " vector=");
        vs_dec(&v, got);
        vs_str(&v, " lapic_vector=");
        vs_hex(&v, MSI_VECTOR_BASE + vec);
        vd_result(d, "msix_queue", got == vec, v.buf);
    }
    vq->notify_off = (uint16_t)cc_rd(d, CC_Q_NOFF, 2);
    cc_wr(d, CC_Q_ENABLE, 2, 1);
    return cc_rd(d, CC_Q_ENABLE, 2) == 1 ? 0 : -1;
}

static void pci_notify(struct vdrv_dev *d, struct vdrv_vq *vq)
{
    /* 4.1.4.4: cap.offset + queue_notify_off * notify_off_multiplier. */
    uint64_t gpa = d->notify + (uint64_t)vq->notify_off * d->notify_mult;
    d->bus->mmio_write(d->bus->ctx, gpa, 2, vq->index);
}

static uint64_t pci_cfg_read(struct vdrv_dev *d, uint32_t off, uint32_t len)
{
    return d->bus->mmio_read(d->bus->ctx, d->devcfg + off, len);
}

static void pci_intr_ack(struct vdrv_dev *d)
{
    /* 4.1.4.5: reading the ISR deasserts INTx; unused with MSI-X. */
    if (d->msix_vectors == 0 && d->isr != 0)
        (void)d->bus->mmio_read(d->bus->ctx, d->isr, 1);
}


/* Programs MSI-X table entries 0..n-1 to LAPIC vectors 0x40+n and enables
 * MSI-X (PCI 3.0 §6.8.2); called by vdrv_init() before the queues are set
 * up. The guest runs with IF=0, so nothing is taken; the host side checks
 * where the messages go. */
static void pci_prepare(struct vdrv_dev *d)
{
    struct vdrv_run *r = d->run;
    if (d->msix_cap == 0 || !d->opts->msix)
        return;
    uint8_t cap = d->msix_cap;
    uint32_t ctrl = cfg_read(r, d->slot, (uint8_t)(cap + 2), 2);
    uint32_t n = (ctrl & 0x7ffu) + 1;
    struct vstr v;
    vs_init(&v);
    if (d->msix_table == 0) {
        vd_result(d, "msix", 0, "table BAR unusable");
        return;
    }
    if (n > 8)
        n = 8;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t e = d->msix_table + 16 * i;
        d->bus->mmio_write(d->bus->ctx, e, 4, MSI_ADDR);
        d->bus->mmio_write(d->bus->ctx, e + 4, 4, 0);
        d->bus->mmio_write(d->bus->ctx, e + 8, 4, MSI_VECTOR_BASE + i);
        d->bus->mmio_write(d->bus->ctx, e + 12, 4, 0); /* unmasked */
    }
    /* Enable (bit 15), function mask (bit 14) clear. */
    cfg_write(r, d->slot, (uint8_t)(cap + 2), 2, (ctrl | 0x8000u) & ~0x4000u);
    d->msix_vectors = (int)n;
    cc_wr(d, CC_MSIX, 2, 0);
    uint16_t got = (uint16_t)cc_rd(d, CC_MSIX, 2);
    vs_str(&v, "table_entries=");
    vs_dec(&v, (ctrl & 0x7ffu) + 1);
    vs_str(&v, " config_vector=");
    vs_dec(&v, got);
    if (!vd_result(d, "msix", got == 0, v.buf))
        d->msix_vectors = 0;
}

static void pci_disable(struct vdrv_dev *d)
{
    if (d->msix_cap != 0) {
        uint32_t ctrl = cfg_read(d->run, d->slot, (uint8_t)(d->msix_cap + 2), 2);
        cfg_write(d->run, d->slot, (uint8_t)(d->msix_cap + 2), 2, ctrl & ~0x8000u);
    }
    d->msix_vectors = 0;
}

static const struct vdrv_ops pci_ops = {
    pci_get_status, pci_set_status, pci_get_features, pci_set_features,
    pci_queue_max, pci_queue_enable, pci_notify, pci_cfg_read, pci_intr_ack,
    pci_prepare, pci_disable,
};

static void probe_fn(struct vdrv_run *r, uint8_t slot, uint16_t devid)
{
    struct pci_fn f;
    struct vdrv_dev d;
    vd_memset(&f, 0, sizeof(f));
    vd_memset(&d, 0, sizeof(d));
    f.r = r;
    f.slot = slot;
    d.slot = slot;
    d.run = r;
    d.bus = r->bus;
    d.opts = r->opts;
    d.ops = &pci_ops;
    d.tname = "pci";
    d.device_id = devid >= 0x1040 ? devid - 0x1040u : 0;
    uint8_t msix_cap = 0;
    int have_common = 0, have_notify = 0, have_devcfg = 0;

    /* Transitional IDs (4.1.2.1): 0x1000 + n maps to the legacy subsystem
     * device ID = virtio device type. */
    if (devid < 0x1040)
        d.device_id = cfg_read(r, slot, 0x2e, 2);

    if ((cfg_read(r, slot, PCI_STATUS, 2) & PCI_STATUS_CAPS) == 0)
        goto no_caps;
    uint8_t cap = (uint8_t)(cfg_read(r, slot, PCI_CAP_PTR, 1) & 0xfcu);
    /* Bounded walk: a looping list must not hang the guest. */
    for (int guard = 0; cap >= 0x40 && guard < 48; guard++) {
        uint8_t id = (uint8_t)cfg_read(r, slot, cap, 1);
        uint8_t next = (uint8_t)(cfg_read(r, slot, (uint8_t)(cap + 1), 1) & 0xfcu);
        if (id == PCI_CAP_MSIX) {
            msix_cap = cap;
        } else if (id == PCI_CAP_VNDR) {
            uint8_t type = (uint8_t)cfg_read(r, slot, (uint8_t)(cap + 3), 1);
            uint8_t bar = (uint8_t)cfg_read(r, slot, (uint8_t)(cap + 4), 1);
            uint32_t off = cfg_read(r, slot, (uint8_t)(cap + 8), 4);
            /* 4.1.4.1: the driver MUST use the first capability of each
             * type it can use, and ignore BAR values it does not know. */
            uint64_t base = (type >= CAP_COMMON && type <= CAP_DEVICE) ? bar_addr(&f, bar) : 0;
            if (base != 0) {
                if (type == CAP_COMMON && !have_common) {
                    d.common = base + off;
                    have_common = 1;
                } else if (type == CAP_NOTIFY && !have_notify) {
                    d.notify = base + off;
                    d.notify_mult = cfg_read(r, slot, (uint8_t)(cap + 16), 4);
                    have_notify = 1;
                } else if (type == CAP_ISR && d.isr == 0) {
                    d.isr = base + off;
                } else if (type == CAP_DEVICE && !have_devcfg) {
                    d.devcfg = base + off;
                    have_devcfg = 1;
                }
            }
        }
        cap = next;
    }
no_caps:
    vd_memcpy(d.name, "pci", 4);
    if (!have_common || !have_notify) {
        if (devid >= 0x1040)
            vd_result(&d, "caps", 0, "no common/notify capability");
        else
            vd_log(r->bus, "vdrv: transitional device without modern caps skipped\n");
        return;
    }
    (void)have_devcfg;
    if (msix_cap != 0) {
        uint32_t tbl = cfg_read(r, slot, (uint8_t)(msix_cap + 4), 4);
        uint64_t base = bar_addr(&f, (uint8_t)(tbl & 7u));
        d.msix_cap = msix_cap;
        d.msix_table = base == 0 ? 0 : base + (tbl & ~7u);
    }
    cfg_write(r, slot, PCI_COMMAND, 2,
              cfg_read(r, slot, PCI_COMMAND, 2) | PCI_CMD_MEM | PCI_CMD_MASTER);
    vdrv_test_device(&d);
}

void vdrv_pci_scan(struct vdrv_run *r)
{
    /* Bus 0, slots 0-31, function 0 only. */
    for (uint8_t slot = 0; slot < 32; slot++) {
        uint32_t id = cfg_read(r, slot, PCI_VENDOR, 4);
        uint16_t vendor = (uint16_t)id, devid = (uint16_t)(id >> 16);
        if (vendor != 0x1af4)
            continue;
        if (devid >= 0x1000 && devid <= 0x107f)
            probe_fn(r, slot, devid);
    }
}
