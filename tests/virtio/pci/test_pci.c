/* The PCI host bridge (lib/devices/pci) and the modern virtio-pci
 * transport (lib/devices/virtio/virtio_pci.c) over the fake VM: the bus
 * scan Linux does through configuration mechanism #1, BAR sizing and
 * moves, the capability list, then a virtio device driven through its
 * common config, notify, ISR and MSI-X registers, and the guest's
 * mistakes. A tiny loopback backend stands in for a device type. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <vmm/vmm.h>
#include <vmm/devices/virtio.h>

#include "devices/pci/pci.h"
#include "devices/virtio/virtio_dev.h"
#include "devices/virtio/virtio_spec.h"
#include "fake_vm.h"
#include "vm/vm.h"
#include "x86/pc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define RAM_SIZE (1u << 20)
#define QSIZE 8u
#define NQ 2u
#define Q_DESC(q) (0x10000u + (q) * 0x4000u)
#define Q_AVAIL(q) (Q_DESC(q) + 0x1000u)
#define Q_USED(q) (Q_DESC(q) + 0x2000u)
#define BUF 0x40000u
#define WIN VMM_VIRTIO_PCI_MMIO_BASE
#define MSI_ADDR 0xfee00000u

/* ---- a loopback backend: fills each writable buffer with 0xab ---- */

static uint8_t test_config[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

static void lb_config_read(struct virtio_dev *d, uint32_t off, void *data, uint32_t len)
{
    (void)d;
    memcpy(data, test_config + off, len);
}

static void lb_config_write(struct virtio_dev *d, uint32_t off, const void *data, uint32_t len)
{
    (void)d;
    memcpy(test_config + off, data, len);
}

static void lb_notify(struct virtio_dev *d, uint16_t q)
{
    struct virtq_chain *c;
    while (virtio_dev_pop(d, q, &c) == 1) {
        uint8_t fill[64];
        memset(fill, 0xab, sizeof(fill));
        size_t n = virtq_chain_write(c, 0, fill, c->in_bytes < 64 ? c->in_bytes : 64);
        virtq_push(&d->vqs[q], c->head, (uint32_t)n);
    }
    virtio_dev_done(d, q);
}

static const struct virtio_backend_ops lb_ops = {
    .device_id = VIRTIO_ID_RNG,
    .num_queues = NQ,
    .queue_max = QSIZE,
    .config_size = sizeof(test_config),
    .config_read = lb_config_read,
    .config_write = lb_config_write,
    .queue_notify = lb_notify,
};

static vmm_vm *new_vm(void)
{
    vmm_vm *vm = fake_vm_new(RAM_SIZE);
    vm->has_irqchip = true; /* lines are recorded by the fake's irq_hook */
    return vm;
}

static int attach(vmm_vm *vm, uint32_t slot, uint32_t irq, uint64_t mmio_base, vmm_device **out)
{
    struct virtio_dev *d = NULL;
    int r = virtio_dev_create(vm, "virtio-test", &lb_ops, NULL, true, &d);
    if (r < 0)
        return r;
    struct vmm_virtio_transport_config t = VMM_VIRTIO_TRANSPORT_INIT;
    t.flags = VMM_VIRTIO_F_INLINE;
    t.pci_slot = slot;
    t.irq = irq;
    t.mmio_base = mmio_base;
    r = virtio_pci_attach(d, &t, "test");
    if (r == 0 && out)
        *out = d->dev;
    return r;
}

/* ---- configuration mechanism #1 ---- */

static uint32_t cfg_addr(uint32_t bus, uint32_t slot, uint32_t func, uint32_t reg)
{
    return 0x80000000u | bus << 16 | slot << 11 | func << 8 | (reg & 0xfc);
}

static uint32_t cfg_read_at(vmm_vm *vm, uint32_t addr, uint32_t reg, uint32_t len)
{
    assert_int_equal(fake_vm_pio(vm, 0xcf8, &addr, 4, true), 0);
    uint32_t v = 0;
    memset(&v, 0xff, sizeof(v));
    fake_vm_pio(vm, (uint16_t)(0xcfc + (reg & 3)), &v, len, false);
    return len == 4 ? v : v & ((1u << (8 * len)) - 1);
}

static uint32_t cfg_read(vmm_vm *vm, uint32_t slot, uint32_t reg, uint32_t len)
{
    return cfg_read_at(vm, cfg_addr(0, slot, 0, reg), reg, len);
}

static void cfg_write(vmm_vm *vm, uint32_t slot, uint32_t reg, uint32_t len, uint32_t v)
{
    uint32_t a = cfg_addr(0, slot, 0, reg);
    assert_int_equal(fake_vm_pio(vm, 0xcf8, &a, 4, true), 0);
    assert_int_equal(fake_vm_pio(vm, (uint16_t)(0xcfc + (reg & 3)), &v, len, true), 0);
}

static uint64_t bar0(vmm_vm *vm, uint32_t slot)
{
    return cfg_read(vm, slot, PCI_BAR0, 4) & ~0xfu;
}

static void test_config_address(void **state)
{
    (void)state;
    vmm_vm *vm = new_vm();
    assert_int_equal(attach(vm, 0, 0, 0, NULL), 0);
    uint32_t v = 0x80000000u;
    assert_int_equal(fake_vm_pio(vm, 0xcf8, &v, 4, true), 0);
    v = 0;
    assert_int_equal(fake_vm_pio(vm, 0xcf8, &v, 4, false), 0);
    assert_int_equal(v, 0x80000000u); /* Linux's pci_check_type1() */
    v = 0xffffffffu;
    fake_vm_pio(vm, 0xcf8, &v, 4, true);
    fake_vm_pio(vm, 0xcf8, &v, 4, false);
    assert_int_equal(v, 0x80fffffcu); /* reserved and type bits read 0 */
    /* Byte and word accesses at 0xCF8-0xCFB are not CONFIG_ADDRESS. */
    uint8_t b = 0x01;
    fake_vm_pio(vm, 0xcfb, &b, 1, true);
    b = 0;
    fake_vm_pio(vm, 0xcf8, &b, 1, false);
    assert_int_equal(b, 0xff);
    uint16_t w = 0;
    fake_vm_pio(vm, 0xcfa, &w, 2, false);
    assert_int_equal(w, 0xffff);
    fake_vm_pio(vm, 0xcf8, &v, 4, false);
    assert_int_equal(v, 0x80fffffcu);
    fake_vm_free(vm);
}

static void test_bus_scan(void **state)
{
    (void)state;
    vmm_vm *vm = new_vm();
    assert_int_equal(attach(vm, 5, 0, 0, NULL), 0);
    assert_int_equal(attach(vm, 0, 0, 0, NULL), 0); /* lowest free: 1 */
    for (uint32_t s = 0; s < 32; s++) {
        uint32_t id = cfg_read(vm, s, 0, 4);
        if (s == 0)
            assert_int_equal(id, 0x12378086u);
        else if (s == 1 || s == 5)
            assert_int_equal(id, 0x10441af4u); /* 0x1040 + VIRTIO_ID_RNG */
        else
            assert_int_equal(id, 0xffffffffu);
    }
    /* Host bridge: class 0x060000, header type 0. */
    assert_int_equal(cfg_read(vm, 0, 0x08, 4) >> 8, 0x060000u);
    assert_int_equal(cfg_read(vm, 0, PCI_HEADER_TYPE, 1), 0);
    /* virtio: revision 1, class unclassified, subsystem 1af4:1100. */
    assert_int_equal(cfg_read(vm, 1, 0x08, 4), 0x00ff0001u);
    assert_int_equal(cfg_read(vm, 1, PCI_SUBSYSTEM_VENDOR_ID, 4), 0x11001af4u);
    assert_int_equal(cfg_read(vm, 1, PCI_INTERRUPT_PIN, 1), 1);
    uint32_t line = cfg_read(vm, 1, PCI_INTERRUPT_LINE, 1);
    assert_true(line >= 16 && line <= 23);
    assert_int_not_equal(cfg_read(vm, 5, PCI_INTERRUPT_LINE, 1), line);
    /* Other functions, other buses, enable bit clear: master abort. */
    assert_int_equal(cfg_read_at(vm, cfg_addr(0, 1, 1, 0), 0, 4), 0xffffffffu);
    assert_int_equal(cfg_read_at(vm, cfg_addr(1, 1, 0, 0), 0, 4), 0xffffffffu);
    assert_int_equal(cfg_read_at(vm, cfg_addr(0, 1, 0, 0) & 0x7fffffffu, 0, 4), 0xffffffffu);
    /* Byte and word reads at every lane. */
    assert_int_equal(cfg_read(vm, 1, 1, 1), 0x1a);
    assert_int_equal(cfg_read(vm, 1, 2, 2), 0x1044);
    assert_int_equal(cfg_read(vm, 1, 3, 1), 0x10);
    fake_vm_free(vm);
}

static void test_bar_sizing(void **state)
{
    (void)state;
    vmm_vm *vm = new_vm();
    assert_int_equal(attach(vm, 0, 0, 0, NULL), 0);
    assert_int_equal(attach(vm, 0, 0, 0, NULL), 0);
    uint64_t a = bar0(vm, 1), b = bar0(vm, 2);
    assert_true(a >= WIN && a + 0x8000 <= WIN + VMM_VIRTIO_PCI_MMIO_SIZE);
    assert_int_equal(a & 0x7fff, 0);
    assert_int_equal(b & 0x7fff, 0);
    assert_true(a + 0x8000 <= b || b + 0x8000 <= a);
    assert_true(cfg_read(vm, 1, PCI_COMMAND, 2) & PCI_COMMAND_MEMORY); /* as firmware leaves it */
    /* PCI 3.0, 6.2.5.1: all-ones reads back the size mask. */
    cfg_write(vm, 1, PCI_COMMAND, 2, 0);
    cfg_write(vm, 1, PCI_BAR0, 4, 0xffffffffu);
    assert_int_equal(cfg_read(vm, 1, PCI_BAR0, 4), 0xffff8000u);
    cfg_write(vm, 1, PCI_BAR0, 4, (uint32_t)a);
    cfg_write(vm, 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    assert_int_equal(bar0(vm, 1), a);
    /* Unimplemented BARs and the ROM BAR stay 0. */
    for (uint32_t r = PCI_BAR0 + 4; r <= 0x30; r += 4) {
        if (r > 0x24 && r < 0x30)
            continue;
        cfg_write(vm, 1, r, 4, 0xffffffffu);
        assert_int_equal(cfg_read(vm, 1, r, 4), 0);
    }
    /* Read-only identity. */
    cfg_write(vm, 1, 0, 4, 0);
    assert_int_equal(cfg_read(vm, 1, 0, 4), 0x10441af4u);
    fake_vm_free(vm);
}

static void test_capabilities(void **state)
{
    (void)state;
    vmm_vm *vm = new_vm();
    assert_int_equal(attach(vm, 0, 0, 0, NULL), 0);
    assert_true(cfg_read(vm, 1, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
    uint32_t ptr = cfg_read(vm, 1, PCI_CAPABILITY_LIST, 1);
    unsigned seen[6] = { 0 }, msix = 0, n = 0;
    while (ptr) {
        assert_true(ptr >= 0x40 && ptr < 256 && (ptr & 3) == 0);
        assert_true(++n < 48); /* no loop */
        uint32_t id = cfg_read(vm, 1, ptr, 1);
        if (id == PCI_CAP_ID_VNDR) {
            uint32_t len = cfg_read(vm, 1, ptr + 2, 1), type = cfg_read(vm, 1, ptr + 3, 1);
            uint32_t bar = cfg_read(vm, 1, ptr + 4, 1);
            uint32_t off = cfg_read(vm, 1, ptr + 8, 4), blen = cfg_read(vm, 1, ptr + 12, 4);
            assert_true(type >= 1 && type <= 5);
            seen[type]++;
            assert_true(len >= 16);
            if (type == VIRTIO_PCI_CAP_PCI_CFG) {
                assert_int_equal(len, 20);
            } else {
                assert_int_equal(bar, 0);
                assert_true(blen > 0 && off + blen <= 0x8000);
            }
            if (type == VIRTIO_PCI_CAP_NOTIFY_CFG) {
                assert_int_equal(len, 20);
                assert_int_equal(cfg_read(vm, 1, ptr + 16, 4), 4);
                assert_true(blen >= NQ * 4);
            }
            if (type == VIRTIO_PCI_CAP_COMMON_CFG)
                assert_true(blen >= VIRTIO_PCI_COMMON_Q_USEDHI + 4);
            if (type == VIRTIO_PCI_CAP_DEVICE_CFG)
                assert_int_equal(blen, sizeof(test_config));
        } else if (id == PCI_CAP_ID_MSIX) {
            msix++;
            assert_int_equal(cfg_read(vm, 1, ptr + 2, 2) & 0x7ff, NQ); /* N - 1 */
            assert_int_equal(cfg_read(vm, 1, ptr + 4, 4), 0x4000); /* BIR 0 */
            assert_int_equal(cfg_read(vm, 1, ptr + 8, 4), 0x6000);
        }
        ptr = cfg_read(vm, 1, ptr + 1, 1);
    }
    for (unsigned t = 1; t <= 5; t++)
        assert_int_equal(seen[t], 1);
    assert_int_equal(msix, 1);
    fake_vm_free(vm);
}

static void test_window_routing(void **state)
{
    (void)state;
    vmm_vm *vm = new_vm();
    assert_int_equal(attach(vm, 0, 0, 0, NULL), 0);
    uint64_t a = bar0(vm, 1);
    /* num_queues at common config 0x12. */
    uint16_t nq = 0;
    assert_int_equal(fake_vm_mmio(vm, a + VIRTIO_PCI_COMMON_NUMQ, &nq, 2, false), 0);
    assert_int_equal(nq, NQ);
    /* Nothing decodes elsewhere in the window: all-ones. */
    assert_int_equal(fake_vm_mmio_read32(vm, WIN + 0x8000000), 0xffffffffu);
    /* Memory Space off: the BAR answers nothing. */
    cfg_write(vm, 1, PCI_COMMAND, 2, 0);
    nq = 0;
    fake_vm_mmio(vm, a + VIRTIO_PCI_COMMON_NUMQ, &nq, 2, false);
    assert_int_equal(nq, 0xffff);
    cfg_write(vm, 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    /* Moved within the window: it answers at the new place only. */
    uint64_t moved = WIN + 0x100000;
    cfg_write(vm, 1, PCI_BAR0, 4, (uint32_t)moved);
    fake_vm_mmio(vm, moved + VIRTIO_PCI_COMMON_NUMQ, &nq, 2, false);
    assert_int_equal(nq, NQ);
    fake_vm_mmio(vm, a + VIRTIO_PCI_COMMON_NUMQ, &nq, 2, false);
    assert_int_equal(nq, 0xffff);
    struct vmm_virtio_info info = { .struct_size = sizeof(info) };
    vmm_device *vdev = vm->devices_head; /* attached before the host it creates */
    while (vdev && vmm_virtio_get_info(vdev, &info) < 0)
        vdev = vdev->next;
    assert_non_null(vdev);
    assert_int_equal(info.mmio_base, moved);
    assert_int_equal(info.pci_slot, 1);
    /* Moved outside the window: not decoded (nothing maps there). */
    cfg_write(vm, 1, PCI_BAR0, 4, 0x80000000u);
    assert_int_equal(fake_vm_mmio(vm, 0x80000000u, &nq, 2, false), -ENOENT);
    assert_int_equal(fake_vm_mmio_read32(vm, moved), 0xffffffffu);
    /* Low bits are hardwired: an unaligned address lands on the 32 KiB
     * boundary below, here the window's last slot. */
    cfg_write(vm, 1, PCI_BAR0, 4, (uint32_t)(WIN + VMM_VIRTIO_PCI_MMIO_SIZE - 0x4000));
    assert_int_equal(bar0(vm, 1), WIN + VMM_VIRTIO_PCI_MMIO_SIZE - 0x8000);
    nq = 0;
    fake_vm_mmio(vm, WIN + VMM_VIRTIO_PCI_MMIO_SIZE - 0x8000 + VIRTIO_PCI_COMMON_NUMQ, &nq, 2,
                 false);
    assert_int_equal(nq, NQ);
    fake_vm_free(vm);
}

static void test_bad_accesses(void **state)
{
    (void)state;
    vmm_vm *vm = new_vm();
    assert_int_equal(attach(vm, 0, 0, 0, NULL), 0);
    uint32_t a = cfg_addr(0, 1, 0, 0xfc);
    fake_vm_pio(vm, 0xcf8, &a, 4, true);
    /* Straddling CONFIG_DATA's end: not a config access. */
    uint32_t v = 0;
    int r = fake_vm_pio(vm, 0xcfe, &v, 4, false);
    assert_true(r == 0 || r == -ENOENT);
    r = fake_vm_pio(vm, 0xcfe, &v, 4, true);
    assert_true(r == 0 || r == -ENOENT);
    /* Every config register can be written with garbage without harm. */
    for (uint32_t reg = 0x40; reg < 256; reg += 4)
        cfg_write(vm, 1, reg, 4, 0xdeadbeefu);
    assert_int_equal(cfg_read(vm, 1, 0, 4), 0x10441af4u);
    /* Host bridge registers are read-only. */
    cfg_write(vm, 0, 0, 4, 0);
    cfg_write(vm, 0, PCI_BAR0, 4, 0xffffffffu);
    assert_int_equal(cfg_read(vm, 0, 0, 4), 0x12378086u);
    assert_int_equal(cfg_read(vm, 0, PCI_BAR0, 4), 0);
    /* BAR 0: wrong widths and offsets in every region. */
    uint64_t base = bar0(vm, 1);
    for (uint32_t off = 0; off < 0x8000; off += 0x3f3) {
        for (uint32_t len = 1; len <= 8; len <<= 1) {
            uint8_t buf[8];
            memset(buf, 0x5a, sizeof(buf));
            if (off + len <= 0x8000) {
                fake_vm_mmio(vm, base + off, buf, len, false);
                if (off >= 0x1000 && off < 0x2000)
                    continue; /* the ISR read clears; writes there are ignored anyway */
                fake_vm_mmio(vm, base + off, buf, len, true);
            }
        }
    }
    /* Past the BAR's end: the window answers all-ones. */
    assert_int_equal(fake_vm_mmio_read32(vm, base + 0x8000), 0xffffffffu);
    fake_vm_free(vm);
}

static void test_attach_errors(void **state)
{
    (void)state;
    vmm_vm *vm = new_vm();
    assert_int_equal(attach(vm, 7, 0, 0, NULL), 0);
    assert_int_equal(attach(vm, 7, 0, 0, NULL), -EBUSY);
    assert_int_equal(attach(vm, 32, 0, 0, NULL), -EINVAL);
    assert_int_equal(attach(vm, 0, 0, 0xd0000000u, NULL), -EINVAL);
    assert_int_equal(attach(vm, 0, 24, 0, NULL), -EINVAL);
    assert_int_equal(attach(vm, 0, VMM_VIRTIO_NO_IRQ, 0, NULL), 0);
    assert_int_equal(cfg_read(vm, 1, PCI_INTERRUPT_PIN, 1), 0);
    assert_int_equal(cfg_read(vm, 1, PCI_INTERRUPT_LINE, 1), 0xff);
    /* Fill the bus (no INTx for the rest: only 8 lines). */
    for (int i = 0; i < 29; i++)
        assert_int_equal(attach(vm, 0, VMM_VIRTIO_NO_IRQ, 0, NULL), 0);
    assert_int_equal(attach(vm, 0, VMM_VIRTIO_NO_IRQ, 0, NULL), -ENOSPC);
    fake_vm_free(vm);
}

static void test_destroy_orders(void **state)
{
    (void)state;
    vmm_vm *vm = new_vm();
    vmm_device *a = NULL, *b = NULL;
    assert_int_equal(attach(vm, 0, 0, 0, &a), 0);
    assert_int_equal(attach(vm, 0, 0, 0, &b), 0);
    /* The host's device goes first; functions still unregister. */
    vmm_device *host = NULL;
    for (vmm_device *d = vm->devices_head; d; d = d->next)
        if (!strcmp(d->name, "pci-host"))
            host = d;
    assert_non_null(host);
    assert_int_equal(vmm_device_detach(host), 0);
    assert_int_equal(vmm_device_detach(a), 0);
    /* A new function brings the host's device back. */
    assert_int_equal(attach(vm, 0, 0, 0, NULL), 0);
    assert_int_equal(cfg_read(vm, 0, 0, 4), 0x12378086u);
    assert_int_equal(cfg_read(vm, 1, 0, 4), 0x10441af4u); /* slot 1 reused */
    assert_int_equal(cfg_read(vm, 2, 0, 4), 0x10441af4u);
    fake_vm_free(vm);
}

/* ---- a driver on the common config ---- */

struct drv {
    vmm_vm *vm;
    uint64_t bar;
};

static void w8(struct drv *v, uint32_t off, uint8_t x) { fake_vm_mmio(v->vm, v->bar + off, &x, 1, true); }
static void w16(struct drv *v, uint32_t off, uint16_t x) { fake_vm_mmio(v->vm, v->bar + off, &x, 2, true); }
static void w32(struct drv *v, uint32_t off, uint32_t x) { fake_vm_mmio(v->vm, v->bar + off, &x, 4, true); }
static uint8_t r8(struct drv *v, uint32_t off)
{
    uint8_t x = 0;
    fake_vm_mmio(v->vm, v->bar + off, &x, 1, false);
    return x;
}
static uint16_t r16(struct drv *v, uint32_t off)
{
    uint16_t x = 0;
    fake_vm_mmio(v->vm, v->bar + off, &x, 2, false);
    return x;
}
static uint32_t r32(struct drv *v, uint32_t off)
{
    uint32_t x = 0;
    fake_vm_mmio(v->vm, v->bar + off, &x, 4, false);
    return x;
}

/* 3.1.1 through the common config; queue q of QSIZE at Q_*(q). */
static void drv_init(struct drv *v)
{
    w8(v, VIRTIO_PCI_COMMON_STATUS, 0);
    assert_int_equal(r8(v, VIRTIO_PCI_COMMON_STATUS), 0);
    w8(v, VIRTIO_PCI_COMMON_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    w32(v, VIRTIO_PCI_COMMON_DFSELECT, 1);
    assert_true(r32(v, VIRTIO_PCI_COMMON_DF) & 1); /* VERSION_1 */
    w32(v, VIRTIO_PCI_COMMON_GFSELECT, 1);
    w32(v, VIRTIO_PCI_COMMON_GF, 1);
    assert_int_equal(r32(v, VIRTIO_PCI_COMMON_GF), 1);
    w8(v, VIRTIO_PCI_COMMON_STATUS,
       VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    assert_true(r8(v, VIRTIO_PCI_COMMON_STATUS) & VIRTIO_STATUS_FEATURES_OK);
    uint8_t *ram = fake_vm_ram(v->vm);
    for (uint16_t q = 0; q < NQ; q++) {
        memset(ram + Q_DESC(q), 0, 0x3000);
        w16(v, VIRTIO_PCI_COMMON_Q_SELECT, q);
        assert_int_equal(r16(v, VIRTIO_PCI_COMMON_Q_SIZE), QSIZE);
        assert_int_equal(r16(v, VIRTIO_PCI_COMMON_Q_NOFF), q);
        w32(v, VIRTIO_PCI_COMMON_Q_DESCLO, Q_DESC(q));
        w32(v, VIRTIO_PCI_COMMON_Q_DESCHI, 0);
        uint64_t avail = Q_AVAIL(q);
        fake_vm_mmio(v->vm, v->bar + VIRTIO_PCI_COMMON_Q_AVAILLO, &avail, 8, true);
        w32(v, VIRTIO_PCI_COMMON_Q_USEDLO, Q_USED(q));
        w32(v, VIRTIO_PCI_COMMON_Q_USEDHI, 0);
        w16(v, VIRTIO_PCI_COMMON_Q_ENABLE, 1);
        assert_int_equal(r16(v, VIRTIO_PCI_COMMON_Q_ENABLE), 1);
    }
    w8(v, VIRTIO_PCI_COMMON_STATUS, 0xf);
    assert_int_equal(r8(v, VIRTIO_PCI_COMMON_STATUS), 0xf);
}

/* One 16-byte writable buffer on queue q (head 0 / the n-th post). */
static uint16_t drv_post(struct drv *v, uint16_t q, uint16_t n)
{
    uint8_t *ram = fake_vm_ram(v->vm);
    uint16_t slot = n % QSIZE;
    struct virtq_desc dsc = { .addr = BUF + slot * 64u, .len = 16, .flags = VIRTQ_DESC_F_WRITE };
    memcpy(ram + Q_DESC(q) + slot * 16u, &dsc, sizeof(dsc));
    memcpy(ram + Q_AVAIL(q) + 4 + slot * 2u, &slot, 2);
    uint16_t idx = (uint16_t)(n + 1);
    memcpy(ram + Q_AVAIL(q) + 2, &idx, 2);
    w16(v, 0x3000 + q * 4u, q);
    uint16_t used;
    memcpy(&used, ram + Q_USED(q) + 2, 2);
    return used;
}

static void test_virtio_intx(void **state)
{
    (void)state;
    vmm_vm *vm = new_vm();
    assert_int_equal(attach(vm, 0, 17, 0, NULL), 0);
    struct drv v = { vm, bar0(vm, 1) };
    drv_init(&v);
    assert_int_equal(drv_post(&v, 0, 0), 1);
    assert_int_equal(fake_vm_ram(vm)[BUF], 0xab);
    assert_int_equal(fake_vm_irq_level(vm, 17), 1);
    assert_true(cfg_read(vm, 1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
    /* 4.1.4.5: the read returns the bits, clears them and drops INTx. */
    assert_int_equal(r8(&v, 0x1000), VIRTIO_ISR_QUEUE);
    assert_int_equal(fake_vm_irq_level(vm, 17), 0);
    assert_int_equal(r8(&v, 0x1000), 0);
    assert_false(cfg_read(vm, 1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
    /* Interrupt Disable gates the pin, not the status. */
    cfg_write(vm, 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_DISABLE);
    assert_int_equal(drv_post(&v, 1, 0), 1);
    assert_int_equal(fake_vm_irq_level(vm, 17), 0);
    assert_true(cfg_read(vm, 1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
    cfg_write(vm, 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    assert_int_equal(fake_vm_irq_level(vm, 17), 1);
    /* Device config through BAR 0. */
    assert_int_equal(r32(&v, 0x2004), 0x08070605u);
    w8(&v, 0x2000, 0x42);
    assert_int_equal(test_config[0], 0x42);
    /* Reset drops the line. */
    w8(&v, VIRTIO_PCI_COMMON_STATUS, 0);
    assert_int_equal(fake_vm_irq_level(vm, 17), 0);
    fake_vm_free(vm);
}

static void test_virtio_common_rules(void **state)
{
    (void)state;
    vmm_vm *vm = new_vm();
    assert_int_equal(attach(vm, 0, 0, 0, NULL), 0);
    struct drv v = { vm, bar0(vm, 1) };
    drv_init(&v);
    /* Enabled queue: size and addresses are frozen. */
    w16(&v, VIRTIO_PCI_COMMON_Q_SELECT, 0);
    w16(&v, VIRTIO_PCI_COMMON_Q_SIZE, 2);
    w32(&v, VIRTIO_PCI_COMMON_Q_DESCLO, 0x1230);
    assert_int_equal(r16(&v, VIRTIO_PCI_COMMON_Q_SIZE), QSIZE);
    assert_int_equal(r32(&v, VIRTIO_PCI_COMMON_Q_DESCLO), Q_DESC(0));
    /* queue_notify_off and num_queues are read-only. */
    w16(&v, VIRTIO_PCI_COMMON_Q_NOFF, 5);
    w16(&v, VIRTIO_PCI_COMMON_NUMQ, 9);
    assert_int_equal(r16(&v, VIRTIO_PCI_COMMON_Q_NOFF), 0);
    assert_int_equal(r16(&v, VIRTIO_PCI_COMMON_NUMQ), NQ);
    /* Out-of-range queue: size 0, writes ignored. */
    w16(&v, VIRTIO_PCI_COMMON_Q_SELECT, 99);
    assert_int_equal(r16(&v, VIRTIO_PCI_COMMON_Q_SIZE), 0);
    w16(&v, VIRTIO_PCI_COMMON_Q_ENABLE, 1);
    /* Vectors beyond the table read back NO_VECTOR (4.1.5.1.2). */
    w16(&v, VIRTIO_PCI_COMMON_Q_SELECT, 1);
    w16(&v, VIRTIO_PCI_COMMON_Q_MSIX, NQ + 1);
    assert_int_equal(r16(&v, VIRTIO_PCI_COMMON_Q_MSIX), VIRTIO_MSI_NO_VECTOR);
    w16(&v, VIRTIO_PCI_COMMON_MSIX, NQ);
    assert_int_equal(r16(&v, VIRTIO_PCI_COMMON_MSIX), NQ);
    /* Wrong widths: ignored, read 0. */
    assert_int_equal(r32(&v, VIRTIO_PCI_COMMON_NUMQ), 0);
    w32(&v, VIRTIO_PCI_COMMON_STATUS, 0);
    assert_int_equal(r8(&v, VIRTIO_PCI_COMMON_STATUS), 0xf);
    assert_int_equal(r8(&v, VIRTIO_PCI_COMMON_Q_SIZE), 0);
    /* Notifications for queues that do not exist, or misaligned. */
    w16(&v, 0x3000 + NQ * 4, 0);
    w16(&v, 0x3002, 0);
    w16(&v, 0x3ffe, 0);
    fake_vm_free(vm);
}

static uint32_t msix_cap(vmm_vm *vm)
{
    for (uint32_t p = cfg_read(vm, 1, PCI_CAPABILITY_LIST, 1); p; p = cfg_read(vm, 1, p + 1, 1))
        if (cfg_read(vm, 1, p, 1) == PCI_CAP_ID_MSIX)
            return p;
    fail();
    return 0;
}

static void test_virtio_msix(void **state)
{
    (void)state;
    vmm_vm *vm = new_vm();
    assert_int_equal(attach(vm, 0, 18, 0, NULL), 0);
    struct drv v = { vm, bar0(vm, 1) };
    uint32_t cap = msix_cap(vm);
    /* Vector n: address MSI_ADDR, data 0x40 + n; all masked at reset. */
    for (uint32_t n = 0; n <= NQ; n++) {
        assert_int_equal(r32(&v, 0x4000 + n * 16 + 12), 1);
        w32(&v, 0x4000 + n * 16, MSI_ADDR);
        w32(&v, 0x4000 + n * 16 + 4, 0);
        w32(&v, 0x4000 + n * 16 + 8, 0x40 + n);
        assert_int_equal(r32(&v, 0x4000 + n * 16 + 8), 0x40 + n);
    }
    /* Beyond the table: nothing. */
    w32(&v, 0x4000 + (NQ + 1) * 16, 1);
    assert_int_equal(r32(&v, 0x4000 + (NQ + 1) * 16), 0);
    cfg_write(vm, 1, cap + 2, 2, 0x8000); /* MSI-X Enable */
    drv_init(&v);
    w16(&v, VIRTIO_PCI_COMMON_Q_SELECT, 0);
    w16(&v, VIRTIO_PCI_COMMON_Q_MSIX, 0);
    w16(&v, VIRTIO_PCI_COMMON_Q_SELECT, 1);
    w16(&v, VIRTIO_PCI_COMMON_Q_MSIX, VIRTIO_MSI_NO_VECTOR);
    /* Vector 0 masked: the PBA bit is set, nothing sent. */
    assert_int_equal(drv_post(&v, 0, 0), 1);
    assert_int_equal(fake_vm_msi_total(vm), 0);
    assert_int_equal(r32(&v, 0x6000), 1);
    assert_int_equal(fake_vm_irq_level(vm, 18), 0); /* no INTx under MSI-X */
    /* Unmasking sends it. */
    w32(&v, 0x4000 + 12, 0);
    assert_int_equal(fake_vm_msi_count(vm, MSI_ADDR, 0x40), 1);
    assert_int_equal(r32(&v, 0x6000), 0);
    assert_int_equal(drv_post(&v, 0, 1), 2);
    assert_int_equal(fake_vm_msi_count(vm, MSI_ADDR, 0x40), 2);
    /* Function Mask holds it; clearing it delivers. */
    cfg_write(vm, 1, cap + 2, 2, 0xc000);
    assert_int_equal(drv_post(&v, 0, 2), 3);
    assert_int_equal(fake_vm_msi_count(vm, MSI_ADDR, 0x40), 2);
    cfg_write(vm, 1, cap + 2, 2, 0x8000);
    assert_int_equal(fake_vm_msi_count(vm, MSI_ADDR, 0x40), 3);
    /* Queue 1 has NO_VECTOR: no interrupt at all. */
    unsigned total = fake_vm_msi_total(vm);
    assert_int_equal(drv_post(&v, 1, 0), 1);
    assert_int_equal(fake_vm_msi_total(vm), total);
    /* The guest rewrites the entry: the new message is used. */
    w32(&v, 0x4000 + 8, 0x77);
    drv_post(&v, 0, 3);
    assert_int_equal(fake_vm_msi_count(vm, MSI_ADDR, 0x77), 1);
    /* MSI-X off again: INTx. */
    cfg_write(vm, 1, cap + 2, 2, 0);
    drv_post(&v, 0, 4);
    assert_int_equal(fake_vm_irq_level(vm, 18), 1);
    /* Reset keeps the table. */
    w8(&v, VIRTIO_PCI_COMMON_STATUS, 0);
    assert_int_equal(r32(&v, 0x4000 + 8), 0x77);
    fake_vm_free(vm);
}

/* 4.1.4.9: the PCI_CFG capability reaches BAR 0 through config space. */
static void test_pci_cfg_window(void **state)
{
    (void)state;
    vmm_vm *vm = new_vm();
    assert_int_equal(attach(vm, 0, 0, 0, NULL), 0);
    uint32_t p = cfg_read(vm, 1, PCI_CAPABILITY_LIST, 1);
    while (p && !(cfg_read(vm, 1, p, 1) == PCI_CAP_ID_VNDR &&
                  cfg_read(vm, 1, p + 3, 1) == VIRTIO_PCI_CAP_PCI_CFG))
        p = cfg_read(vm, 1, p + 1, 1);
    assert_int_not_equal(p, 0);
    cfg_write(vm, 1, p + 4, 1, 0);
    cfg_write(vm, 1, p + 8, 4, VIRTIO_PCI_COMMON_NUMQ);
    cfg_write(vm, 1, p + 12, 4, 2);
    assert_int_equal(cfg_read(vm, 1, p + 16, 2), NQ);
    /* A write goes through too: device_status. */
    cfg_write(vm, 1, p + 8, 4, VIRTIO_PCI_COMMON_STATUS);
    cfg_write(vm, 1, p + 12, 4, 1);
    cfg_write(vm, 1, p + 16, 1, VIRTIO_STATUS_ACKNOWLEDGE);
    uint64_t bar = bar0(vm, 1);
    uint8_t st = 0;
    fake_vm_mmio(vm, bar + VIRTIO_PCI_COMMON_STATUS, &st, 1, false);
    assert_int_equal(st, VIRTIO_STATUS_ACKNOWLEDGE);
    /* Bad windows are ignored: misaligned, too long, past the BAR, BAR 3. */
    cfg_write(vm, 1, p + 8, 4, 0x13);
    cfg_write(vm, 1, p + 12, 4, 2);
    cfg_read(vm, 1, p + 16, 4);
    cfg_write(vm, 1, p + 8, 4, 0x7ffe);
    cfg_write(vm, 1, p + 12, 4, 8);
    cfg_write(vm, 1, p + 16, 4, 0);
    cfg_write(vm, 1, p + 8, 4, 0xfffffffcu);
    cfg_write(vm, 1, p + 12, 4, 4);
    cfg_read(vm, 1, p + 16, 4);
    cfg_write(vm, 1, p + 4, 1, 3);
    cfg_write(vm, 1, p + 8, 4, 0);
    cfg_read(vm, 1, p + 16, 4);
    fake_vm_free(vm);
}

/* Without ACPI the MP table is how a guest learns where INTA# goes: one
 * PCI bus entry and an interrupt entry per function with INTx (MP spec
 * 1.4, 4.3.4: source IRQ = device << 2 | pin - 1), none for a function
 * without a line. */
static void test_mptable_intx_routes(void **state)
{
    (void)state;
    vmm_vm *vm = new_vm();
    assert_int_equal(attach(vm, 3, 0, 0, NULL), 0);                 /* GSI 16 */
    assert_int_equal(attach(vm, 7, 21, 0, NULL), 0);                /* GSI 21 */
    assert_int_equal(attach(vm, 9, VMM_VIRTIO_NO_IRQ, 0, NULL), 0); /* none */
    uint8_t *mp;
    size_t size;
    assert_int_equal(vmm_pc_build_mptable(vm, &mp, &size), 0);
    const uint8_t *t = mp + 16; /* the configuration table after the pointer */
    uint16_t count = (uint16_t)(t[34] | t[35] << 8);
    size_t off = 44;
    int pci_bus = -1, routes = 0;
    for (uint16_t i = 0; i < count; i++) {
        const uint8_t *e = t + off;
        if (e[0] == 0) {
            off += 20;
            continue;
        }
        if (e[0] == 1 && memcmp(e + 2, "PCI   ", 6) == 0)
            pci_bus = e[1];
        if (e[0] == 3 && e[4] == pci_bus) {
            /* e[1] INT, e[2..3] flags 0 (conform to PCI), e[5] source IRQ, e[7] pin */
            assert_int_equal(e[1], 0);
            assert_int_equal(e[2] | e[3], 0);
            if (e[5] == (3 << 2))
                assert_int_equal(e[7], 16);
            else if (e[5] == (7 << 2))
                assert_int_equal(e[7], 21);
            else
                fail_msg("unexpected PCI interrupt entry: source IRQ 0x%x", e[5]);
            routes++;
        }
        off += 8;
    }
    assert_int_equal(off, size - 16);
    assert_int_equal(pci_bus, 1);
    assert_int_equal(routes, 2);
    free(mp);
    fake_vm_free(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_address),
        cmocka_unit_test(test_bus_scan),
        cmocka_unit_test(test_bar_sizing),
        cmocka_unit_test(test_capabilities),
        cmocka_unit_test(test_window_routing),
        cmocka_unit_test(test_bad_accesses),
        cmocka_unit_test(test_attach_errors),
        cmocka_unit_test(test_destroy_orders),
        cmocka_unit_test(test_virtio_intx),
        cmocka_unit_test(test_virtio_common_rules),
        cmocka_unit_test(test_virtio_msix),
        cmocka_unit_test(test_pci_cfg_window),
        cmocka_unit_test(test_mptable_intx_routes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
