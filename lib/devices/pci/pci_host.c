/* The PCI host bridge: configuration mechanism #1 on ports 0xCF8-0xCFF and
 * the MMIO window the functions' BARs live in. See pci.h. */
#include "devices/pci/pci.h"

#include "core/error.h"
#include "devices/attach.h"
#include "vm/vm.h"

#include <vmm/devices/virtio.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_ADDRESS_PORT 0xcf8
#define CONFIG_DATA_PORT 0xcfc
/* PCI 3.0, 3.2.2.3.2: bit 31 enable, 23:16 bus, 15:11 device, 10:8
 * function, 7:2 register; 30:24 reserved and 1:0 read as 0. */
#define CONFIG_ADDRESS_MASK 0x80fffffcu
#define CONFIG_ADDRESS_ENABLE 0x80000000u

#define WINDOW_BASE VMM_VIRTIO_PCI_MMIO_BASE
#define WINDOW_END (VMM_VIRTIO_PCI_MMIO_BASE + VMM_VIRTIO_PCI_MMIO_SIZE)

/* Host bridge identity: the i440FX PMC (8086:1237), as QEMU's "pc"
 * machine. It is a conventional PCI host bridge reached through
 * mechanism #1 only, which is exactly what this bridge is; Q35's MCH
 * (8086:29c0) implies PCI Express and MMCONFIG, and Linux's intel-agp
 * driver claims that ID. Linux's pci_sanity_check() accepts either
 * (class HOST at 00:00.0, vendor Intel). */
#define BRIDGE_VENDOR 0x8086
#define BRIDGE_DEVICE 0x1237
#define BRIDGE_REVISION 0x02
#define BRIDGE_CLASS 0x060000

struct pci_host {
    vmm_vm *vm;
    vmm_device *dev;          /* NULL once its device has been destroyed */
    pthread_mutex_t lock;     /* everything below */
    uint32_t config_address;
    struct pci_function *slots[PCI_SLOTS];
    struct pci_function bridge; /* 00:00.0 */
};

/* Creation of vm->pci_host and its device (attach calls may race). */
static pthread_mutex_t create_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- function images ---- */

void pci_function_init(struct pci_function *fn, uint16_t vendor, uint16_t device,
                       uint32_t class_code, uint8_t revision, uint16_t subsys_vendor,
                       uint16_t subsys_id, const struct pci_function_ops *ops, void *user)
{
    memset(fn, 0, sizeof(*fn));
    uint8_t *c = fn->config;
    pci_cfg_set16(c, PCI_VENDOR_ID, vendor);
    pci_cfg_set16(c, PCI_DEVICE_ID, device);
    c[PCI_REVISION_ID] = revision;
    c[PCI_CLASS_PROG] = (uint8_t)class_code;
    c[PCI_CLASS_PROG + 1] = (uint8_t)(class_code >> 8);
    c[PCI_CLASS_PROG + 2] = (uint8_t)(class_code >> 16);
    c[PCI_HEADER_TYPE] = 0; /* type 0, single function */
    pci_cfg_set16(c, PCI_SUBSYSTEM_VENDOR_ID, subsys_vendor);
    pci_cfg_set16(c, PCI_SUBSYSTEM_ID, subsys_id);
    c[PCI_INTERRUPT_LINE] = 0xff;
    fn->intx_gsi = VMM_VIRTIO_NO_IRQ;
    /* Command: Memory Space, Bus Master, Interrupt Disable are ours to
     * honour; I/O Space stays 0 (no I/O BARs), the rest is hardwired. */
    pci_cfg_set16(fn->wmask, PCI_COMMAND,
                  PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
    fn->wmask[PCI_INTERRUPT_LINE] = 0xff; /* a scratch register for software */
    fn->cap_end = 0x40;
    fn->ops = ops;
    fn->user = user;
    for (unsigned b = 0; b < PCI_NUM_BARS; b++)
        fn->bar_gpa[b] = PCI_BAR_UNMAPPED;
}

int pci_function_add_bar32(struct pci_function *fn, unsigned bar, uint32_t size,
                           const char *caller)
{
    if (bar >= PCI_NUM_BARS || size < 16 || size > (1u << 30) || (size & (size - 1)))
        return vmm_err(-EINVAL, "%s: BAR %u of %u bytes is not a power of two of 16 bytes "
                       "to 1 GiB on BARs 0-5", caller, bar, size);
    fn->bar_size[bar] = size;
    /* PCI 3.0, 6.2.5.1: the address bits below the size are hardwired to
     * 0, so writing all-ones reads back the size mask; bits 3:0 say 32-bit
     * non-prefetchable memory (0). */
    pci_cfg_set32(fn->wmask, PCI_BAR0 + 4 * bar, ~(size - 1) & ~0xfu);
    pci_cfg_set32(fn->config, PCI_BAR0 + 4 * bar, 0);
    return 0;
}

int pci_function_add_cap(struct pci_function *fn, uint8_t cap_id, const void *body,
                         uint8_t len, const char *caller)
{
    /* Capabilities are dword-aligned (PCI 3.0, 6.7). */
    uint32_t off = fn->cap_end;
    if (len < 2 || off + len > PCI_CONFIG_SIZE)
        return vmm_err(-ENOSPC, "%s: no room for a %u-byte capability 0x%02x at config "
                       "offset 0x%x", caller, len, cap_id, off);
    fn->config[off] = cap_id;
    fn->config[off + 1] = 0;
    memcpy(fn->config + off + 2, body, len - 2u);
    /* Link it at the end of the list. */
    uint32_t link = PCI_CAPABILITY_LIST;
    while (fn->config[link])
        link = fn->config[link] + 1u;
    fn->config[link] = (uint8_t)off;
    pci_cfg_set16(fn->config, PCI_STATUS,
                  pci_cfg_get16(fn->config, PCI_STATUS) | PCI_STATUS_CAP_LIST);
    fn->cap_end = (uint8_t)((off + len + 3u) & ~3u);
    return (int)off;
}

void pci_function_set_intx(struct pci_function *fn, uint32_t gsi)
{
    bool none = gsi == VMM_VIRTIO_NO_IRQ || gsi > 0xfe;
    fn->config[PCI_INTERRUPT_LINE] = none ? 0xff : (uint8_t)gsi;
    fn->config[PCI_INTERRUPT_PIN] = none ? 0 : 1;
    fn->intx_gsi = none ? VMM_VIRTIO_NO_IRQ : gsi;
}

size_t pci_host_intx_routes(const vmm_vm *vm, struct pci_intx_route *out, size_t max)
{
    struct pci_host *h = vm->pci_host;
    size_t n = 0;
    if (!h)
        return 0;
    pthread_mutex_lock(&h->lock);
    for (unsigned slot = 1; slot < PCI_SLOTS; slot++) {
        const struct pci_function *fn = h->slots[slot];
        if (!fn || fn->intx_gsi == VMM_VIRTIO_NO_IRQ)
            continue;
        if (n < max)
            out[n] = (struct pci_intx_route){ .slot = (uint8_t)slot, .pin = 1,
                                              .gsi = fn->intx_gsi };
        n++;
    }
    pthread_mutex_unlock(&h->lock);
    return n;
}

void pci_function_intx_status(struct pci_function *fn, bool pending)
{
    __atomic_store_n(&fn->intx_pending, pending, __ATOMIC_RELAXED);
}

/* ---- config space accesses (host lock held) ---- */

/* Recomputes where each BAR decodes: only with Memory Space on and wholly
 * inside the window (a BAR the guest moved elsewhere, or one being sized,
 * answers nothing, as there is no decoder for it). */
static void update_bars(struct pci_function *fn)
{
    bool mem = pci_cfg_get16(fn->config, PCI_COMMAND) & PCI_COMMAND_MEMORY;
    for (unsigned b = 0; b < PCI_NUM_BARS; b++) {
        uint32_t size = fn->bar_size[b];
        if (!size)
            continue;
        uint64_t base = pci_cfg_get32(fn->config, PCI_BAR0 + 4 * b) & ~0xfu;
        uint64_t gpa = mem && base >= WINDOW_BASE && base + size <= WINDOW_END
                           ? base : PCI_BAR_UNMAPPED;
        if (gpa == fn->bar_gpa[b])
            continue;
        fn->bar_gpa[b] = gpa;
        if (fn->ops && fn->ops->bar_moved)
            fn->ops->bar_moved(fn, b, gpa);
    }
}

static void config_read(struct pci_function *fn, uint32_t off, uint8_t *data, uint32_t len)
{
    if (len == 0 || len > 4 || off >= PCI_CONFIG_SIZE || len > PCI_CONFIG_SIZE - off) {
        memset(data, 0xff, len);
        return;
    }
    if (fn->ops && fn->ops->config_read)
        fn->ops->config_read(fn, off, len);
    memcpy(data, fn->config + off, len);
    if (off <= PCI_STATUS && PCI_STATUS < off + len &&
        __atomic_load_n(&fn->intx_pending, __ATOMIC_RELAXED))
        data[PCI_STATUS - off] |= PCI_STATUS_INTERRUPT;
}

static void config_write(struct pci_function *fn, uint32_t off, const uint8_t *data,
                         uint32_t len)
{
    if (len == 0 || len > 4 || off >= PCI_CONFIG_SIZE || len > PCI_CONFIG_SIZE - off)
        return;
    for (uint32_t i = 0; i < len; i++) {
        uint8_t m = fn->wmask[off + i];
        fn->config[off + i] = (uint8_t)((fn->config[off + i] & ~m) | (data[i] & m));
    }
    if ((off < PCI_COMMAND + 2 && off + len > PCI_COMMAND) ||
        (off < PCI_BAR0 + 4 * PCI_NUM_BARS && off + len > PCI_BAR0))
        update_bars(fn);
    if (fn->ops && fn->ops->config_written)
        fn->ops->config_written(fn, off, len);
}

/* The function CONFIG_ADDRESS selects, or NULL: disabled, a bus other than
 * 0, a function other than 0 (every device is single-function), or an
 * empty slot. Host lock held. */
static struct pci_function *selected(struct pci_host *h)
{
    uint32_t a = h->config_address;
    if (!(a & CONFIG_ADDRESS_ENABLE) || ((a >> 16) & 0xff) != 0 || ((a >> 8) & 7) != 0)
        return NULL;
    return h->slots[(a >> 11) & 31];
}

static int host_pio(vmm_device *dev, vmm_vcpu *vcpu, const struct vmm_io *io, void *user)
{
    (void)dev;
    (void)vcpu;
    struct pci_host *h = user;
    uint8_t *data = io->data;
    pthread_mutex_lock(&h->lock);
    if (io->addr >= CONFIG_ADDRESS_PORT && io->addr < CONFIG_ADDRESS_PORT + 4) {
        /* Only a dword access at 0xCF8 is CONFIG_ADDRESS; byte and word
         * accesses there are ordinary I/O, which nothing here decodes. */
        if (io->addr == CONFIG_ADDRESS_PORT && io->len == 4) {
            if (io->is_write)
                h->config_address = pci_cfg_get32(data, 0) & CONFIG_ADDRESS_MASK;
            else
                pci_cfg_set32(data, 0, h->config_address);
        } else if (!io->is_write) {
            memset(data, 0xff, io->len);
        }
    } else {
        /* CONFIG_DATA: byte enables inside the dword at 0xCFC. */
        uint32_t lane = (uint32_t)(io->addr - CONFIG_DATA_PORT);
        struct pci_function *fn = lane < 4 && io->len <= 4 - lane ? selected(h) : NULL;
        uint32_t reg = (h->config_address & 0xfc) + lane;
        if (fn && io->is_write)
            config_write(fn, reg, data, io->len);
        else if (fn)
            config_read(fn, reg, data, io->len);
        else if (!io->is_write)
            memset(data, 0xff, io->len); /* master abort: all-ones */
    }
    pthread_mutex_unlock(&h->lock);
    return 0;
}

/* The function and BAR holding [gpa, gpa + len), or NULL. Host lock held. */
static struct pci_function *bar_lookup(struct pci_host *h, uint64_t gpa, uint32_t len,
                                       unsigned *bar)
{
    for (unsigned s = 1; s < PCI_SLOTS; s++) {
        struct pci_function *fn = h->slots[s];
        for (unsigned b = 0; fn && b < PCI_NUM_BARS; b++) {
            uint64_t base = fn->bar_gpa[b];
            if (base != PCI_BAR_UNMAPPED && gpa >= base && gpa - base < fn->bar_size[b] &&
                len <= fn->bar_size[b] - (gpa - base)) {
                *bar = b;
                return fn;
            }
        }
    }
    return NULL;
}

static int host_mmio(vmm_device *dev, vmm_vcpu *vcpu, const struct vmm_io *io, void *user)
{
    (void)dev;
    (void)vcpu;
    struct pci_host *h = user;
    unsigned bar = 0;
    pthread_mutex_lock(&h->lock);
    struct pci_function *fn = bar_lookup(h, io->addr, io->len, &bar);
    uint64_t off = fn ? io->addr - fn->bar_gpa[bar] : 0;
    pthread_mutex_unlock(&h->lock);
    /* Outside the lock: a function stays registered while vCPUs run. */
    if (fn && fn->ops && fn->ops->bar_access)
        fn->ops->bar_access(fn, bar, off, io->data, io->len, io->is_write);
    else if (!io->is_write)
        memset(io->data, 0xff, io->len);
    return 0;
}

static void host_reset(vmm_device *dev, void *user)
{
    (void)dev;
    struct pci_host *h = user;
    pthread_mutex_lock(&h->lock);
    h->config_address = 0;
    pthread_mutex_unlock(&h->lock);
}

/* The device goes (VM destruction or a detach); the state stays for the
 * functions that still unregister, until vmm_pci_host_free(). */
static void host_destroy(void *user)
{
    struct pci_host *h = user;
    h->dev = NULL;
}

/* ---- the host and its device ---- */

static struct pci_host *host_get(vmm_vm *vm, const char *caller, int *err)
{
    struct pci_host *h = vm->pci_host;
    if (!h) {
        h = calloc(1, sizeof(*h));
        if (!h) {
            *err = vmm_err(-ENOMEM, "%s: out of memory for the PCI host bridge", caller);
            return NULL;
        }
        h->vm = vm;
        pthread_mutex_init(&h->lock, NULL);
        pci_function_init(&h->bridge, BRIDGE_VENDOR, BRIDGE_DEVICE, BRIDGE_CLASS,
                          BRIDGE_REVISION, 0, 0, NULL, NULL);
        pci_cfg_set16(h->bridge.config, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
        h->bridge.host = h;
        h->slots[0] = &h->bridge;
        vm->pci_host = h;
    }
    if (!h->dev) {
        struct vmm_device_ops ops = VMM_DEVICE_OPS_INIT;
        ops.name = "pci-host";
        ops.flags = VMM_DEVICE_F_CONCURRENT; /* h->lock serialises what needs it */
        ops.pio = host_pio;
        ops.mmio = host_mmio;
        ops.reset = host_reset;
        ops.destroy = host_destroy;
        vmm_device *dev = NULL;
        int r = vmm_device_attach(vm, &ops, h, &dev);
        if (r < 0) {
            *err = r;
            return NULL;
        }
        h->dev = dev;
        r = vmm_device_map_pio(dev, CONFIG_ADDRESS_PORT, 4);
        if (r == 0)
            r = vmm_device_map_pio(dev, CONFIG_DATA_PORT, 4);
        if (r == 0)
            r = vmm_device_map_mmio(dev, WINDOW_BASE, VMM_VIRTIO_PCI_MMIO_SIZE);
        if (r < 0) {
            *err = vmm_devices_undo_attach(dev, r); /* host_destroy clears h->dev */
            return NULL;
        }
    }
    return h;
}

/* Whether [base, base + size) overlaps a BAR already placed (those of
 * other functions inside the window, and @fn's own BARs below @upto). */
static bool window_busy(struct pci_host *h, struct pci_function *fn, unsigned upto,
                        uint64_t base, uint64_t size)
{
    for (unsigned s = 1; s <= PCI_SLOTS; s++) {
        struct pci_function *o = s < PCI_SLOTS ? h->slots[s] : fn;
        if (!o || (o == fn && s < PCI_SLOTS))
            continue;
        for (unsigned b = 0; b < (o == fn ? upto : PCI_NUM_BARS); b++) {
            if (!o->bar_size[b])
                continue;
            uint64_t ob = pci_cfg_get32(o->config, PCI_BAR0 + 4 * b) & ~0xfu;
            if (ob < base + size && base < ob + o->bar_size[b])
                return true;
        }
    }
    return false;
}

/* Lowest naturally aligned free place for BAR @b of @fn: the window's
 * base or just past (aligned up) some placed BAR. 0 if none. */
static uint64_t window_alloc(struct pci_host *h, struct pci_function *fn, unsigned b)
{
    uint64_t size = fn->bar_size[b], best = 0;
    for (unsigned s = 0; s <= PCI_SLOTS; s++) {
        struct pci_function *o = s == 0 ? NULL : s < PCI_SLOTS ? h->slots[s] : fn;
        for (unsigned ob = 0; ob < (s == 0 ? 1 : PCI_NUM_BARS); ob++) {
            uint64_t cand = WINDOW_BASE;
            if (o) {
                if (!o->bar_size[ob] || (o == fn && ob >= b))
                    continue;
                uint64_t end = (pci_cfg_get32(o->config, PCI_BAR0 + 4 * ob) & ~0xfu) +
                               o->bar_size[ob];
                cand = (end + size - 1) & ~(size - 1);
            }
            if (cand >= WINDOW_BASE && cand + size <= WINDOW_END && (!best || cand < best) &&
                !window_busy(h, fn, b, cand, size))
                best = cand;
        }
    }
    return best;
}

int pci_host_register(vmm_vm *vm, struct pci_function *fn, uint32_t slot, const char *caller)
{
    if (slot >= PCI_SLOTS)
        return vmm_err(-EINVAL, "%s: PCI slot %u is not 1-31 (or 0 for the next free)",
                       caller, slot);
    int r = 0;
    pthread_mutex_lock(&create_lock);
    struct pci_host *h = host_get(vm, caller, &r);
    if (!h) {
        pthread_mutex_unlock(&create_lock);
        return r;
    }
    pthread_mutex_lock(&h->lock);
    if (slot == 0) {
        for (slot = 1; slot < PCI_SLOTS && h->slots[slot]; slot++)
            ;
        if (slot == PCI_SLOTS)
            r = vmm_err(-ENOSPC, "%s: all PCI slots 1-31 of bus 0 are taken", caller);
    } else if (h->slots[slot]) {
        r = vmm_err(-EBUSY, "%s: PCI slot %u is taken", caller, slot);
    }
    for (unsigned b = 0; r == 0 && b < PCI_NUM_BARS; b++) {
        if (!fn->bar_size[b])
            continue;
        uint64_t gpa = window_alloc(h, fn, b);
        if (!gpa)
            r = vmm_err(-ENOSPC, "%s: no room for a %u-byte BAR in the PCI window "
                        "[0x%llx, +0x%llx)", caller, fn->bar_size[b],
                        (unsigned long long)WINDOW_BASE,
                        (unsigned long long)VMM_VIRTIO_PCI_MMIO_SIZE);
        else
            pci_cfg_set32(fn->config, PCI_BAR0 + 4 * b, (uint32_t)gpa);
    }
    if (r == 0) {
        fn->slot = slot;
        fn->host = h;
        h->slots[slot] = fn;
        /* As firmware leaves it: BARs assigned, decoding on. */
        pci_cfg_set16(fn->config, PCI_COMMAND,
                      pci_cfg_get16(fn->config, PCI_COMMAND) | PCI_COMMAND_MEMORY);
        update_bars(fn);
    }
    pthread_mutex_unlock(&h->lock);
    pthread_mutex_unlock(&create_lock);
    return r;
}

void pci_host_unregister(struct pci_function *fn)
{
    struct pci_host *h = fn->host;
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    if (fn->slot < PCI_SLOTS && h->slots[fn->slot] == fn)
        h->slots[fn->slot] = NULL;
    pthread_mutex_unlock(&h->lock);
    fn->host = NULL;
}

void vmm_pci_host_free(vmm_vm *vm)
{
    struct pci_host *h = vm->pci_host;
    if (!h)
        return;
    /* Every device is gone, so no function is left registered; unlink any
     * anyway so a stale fn->host cannot point at freed memory. */
    for (unsigned s = 1; s < PCI_SLOTS; s++)
        if (h->slots[s])
            h->slots[s]->host = NULL;
    pthread_mutex_destroy(&h->lock);
    free(h);
    vm->pci_host = NULL;
}
