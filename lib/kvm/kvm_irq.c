/* Interrupt and notification plumbing of a VM's KVM fd: the GSI routing
 * table (irqchip defaults plus MSI routes), irqfd, ioeventfd and
 * KVM_SIGNAL_MSI (Documentation/virt/kvm/api.rst 4.52 KVM_SET_GSI_ROUTING,
 * 4.59 KVM_IOEVENTFD, 4.71 KVM_SIGNAL_MSI, 4.75 KVM_IRQFD). */
#include "kvm/kvm_irq.h"

#include "core/error.h"
#include "kvm/kvm.h"
#include "vm/vm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first GSI past the IOAPIC's 24 pins: MSI routes start here. */
#define VMM_IRQ_MSI_GSI_BASE 24u
/* MSI GSIs one VM may hold: plenty for virtio-pci (one per queue plus
 * config per device), and a bound on the table we rebuild per change. */
#define VMM_IRQ_MSI_MAX 1024u
/* KVM_IRQCHIP_PIC_MASTER/SLAVE/IOAPIC pins routed by default: 16 GSIs on
 * both a PIC and the IOAPIC, 8 on the IOAPIC alone. */
#define VMM_IRQ_DEFAULT_ROUTES (16u * 2u + 8u)

struct vmm_irq_msi_route {
    bool allocated; /* handed out by vmm_irq_msi_alloc() */
    bool routed;    /* has a message (vmm_irq_msi_set()) */
    uint32_t address_lo, address_hi, data;
};

struct vmm_irq_routes {
    pthread_mutex_t lock;         /* guards the rest; held across the ioctl */
    uint32_t limit;               /* slots may grow up to this many */
    uint32_t count;               /* slots[] length; slot i is GSI 24 + i */
    struct vmm_irq_msi_route *slots;
};

/* ---- the table, without KVM (tests reach these through vm.h) ---- */

struct vmm_irq_routes *vmm_irq_routes_new(uint32_t gsi_limit)
{
    struct vmm_irq_routes *rt = calloc(1, sizeof(*rt));
    if (!rt)
        return NULL;
    pthread_mutex_init(&rt->lock, NULL);
    uint32_t msi = gsi_limit > VMM_IRQ_MSI_GSI_BASE ? gsi_limit - VMM_IRQ_MSI_GSI_BASE : 0;
    rt->limit = msi < VMM_IRQ_MSI_MAX ? msi : VMM_IRQ_MSI_MAX;
    return rt;
}

void vmm_irq_routes_delete(struct vmm_irq_routes *rt)
{
    if (!rt)
        return;
    pthread_mutex_destroy(&rt->lock);
    free(rt->slots);
    free(rt);
}

int vmm_irq_routes_alloc(struct vmm_irq_routes *rt)
{
    for (uint32_t i = 0; i < rt->count; i++)
        if (!rt->slots[i].allocated) {
            rt->slots[i] = (struct vmm_irq_msi_route){ .allocated = true };
            return (int)(VMM_IRQ_MSI_GSI_BASE + i);
        }
    if (rt->count >= rt->limit)
        return -ENOSPC;
    uint32_t grown = rt->count ? rt->count * 2 : 8;
    if (grown > rt->limit)
        grown = rt->limit;
    struct vmm_irq_msi_route *s = realloc(rt->slots, grown * sizeof(*s));
    if (!s)
        return -ENOMEM;
    memset(s + rt->count, 0, (grown - rt->count) * sizeof(*s));
    rt->slots = s;
    uint32_t i = rt->count;
    rt->count = grown;
    s[i].allocated = true;
    return (int)(VMM_IRQ_MSI_GSI_BASE + i);
}

static struct vmm_irq_msi_route *slot_of(struct vmm_irq_routes *rt, uint32_t gsi)
{
    if (gsi < VMM_IRQ_MSI_GSI_BASE || gsi - VMM_IRQ_MSI_GSI_BASE >= rt->count)
        return NULL;
    struct vmm_irq_msi_route *s = &rt->slots[gsi - VMM_IRQ_MSI_GSI_BASE];
    return s->allocated ? s : NULL;
}

int vmm_irq_routes_set(struct vmm_irq_routes *rt, uint32_t gsi, uint64_t address, uint32_t data)
{
    struct vmm_irq_msi_route *s = slot_of(rt, gsi);
    if (!s)
        return -ENOENT;
    s->routed = true;
    s->address_lo = (uint32_t)address;
    s->address_hi = (uint32_t)(address >> 32);
    s->data = data;
    return 0;
}

int vmm_irq_routes_release(struct vmm_irq_routes *rt, uint32_t gsi)
{
    struct vmm_irq_msi_route *s = slot_of(rt, gsi);
    if (!s)
        return -ENOENT;
    *s = (struct vmm_irq_msi_route){ 0 };
    return 0;
}

static void put(struct kvm_irq_routing_entry *out, uint32_t max, uint32_t *n,
                const struct kvm_irq_routing_entry *e)
{
    if (*n < max)
        out[*n] = *e;
    (*n)++;
}

uint32_t vmm_irq_routes_build(const struct vmm_irq_routes *rt, struct kvm_irq_routing_entry *out,
                              uint32_t max)
{
    uint32_t n = 0;
    /* What KVM_CREATE_IRQCHIP installs on x86 (kvm_setup_default_irq_routing,
     * arch/x86/kvm/irq_comm.c default_routing[]): GSI 0-15 on IOAPIC pin
     * = GSI and on PIC master (0-7) / slave (8-15) pin GSI % 8 -- the
     * cascade GSI 2 included, KVM does not special-case it -- and GSI 16-23
     * on the IOAPIC only. Mirroring it exactly keeps KVM_IRQ_LINE on the
     * legacy GSIs behaving as before our first commit. */
    for (uint32_t gsi = 0; gsi < VMM_IRQ_MSI_GSI_BASE; gsi++) {
        struct kvm_irq_routing_entry e = {
            .gsi = gsi,
            .type = KVM_IRQ_ROUTING_IRQCHIP,
            .u.irqchip = { .irqchip = KVM_IRQCHIP_IOAPIC, .pin = gsi },
        };
        put(out, max, &n, &e);
        if (gsi < 16) {
            e.u.irqchip.irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
            e.u.irqchip.pin = gsi % 8;
            put(out, max, &n, &e);
        }
    }
    for (uint32_t i = 0; rt && i < rt->count; i++) {
        const struct vmm_irq_msi_route *s = &rt->slots[i];
        if (!s->routed)
            continue; /* allocated, no message yet: no route (an irqfd on it is inert) */
        struct kvm_irq_routing_entry e = {
            .gsi = VMM_IRQ_MSI_GSI_BASE + i,
            .type = KVM_IRQ_ROUTING_MSI,
            .u.msi = { .address_lo = s->address_lo, .address_hi = s->address_hi, .data = s->data },
        };
        put(out, max, &n, &e);
    }
    return n;
}

void vmm_irq_routes_free(vmm_vm *vm)
{
    vmm_irq_routes_delete(vm->irq_routes);
    vm->irq_routes = NULL;
}

/* ---- the VM's table and KVM ---- */

static const struct vmm_kvm_caps *kvm_caps(const vmm_vm *vm)
{
    if (vm->irq_hook || vm->fd < 0)
        return NULL; /* test VM: nothing reaches KVM */
    const struct vmm_kvm_caps *caps;
    /* The VM fd exists, so probing succeeded already: this cannot fail. */
    return vmm_kvm_caps_get(&caps, "vmm_vm_has_irqfd") == 0 ? caps : NULL;
}

bool vmm_vm_has_irqfd(const vmm_vm *vm)
{
    const struct vmm_kvm_caps *c = vm ? kvm_caps(vm) : NULL;
    return c && vm->has_irqchip && c->irqfd && c->irq_routes > VMM_IRQ_MSI_GSI_BASE;
}

bool vmm_vm_has_ioeventfd(const vmm_vm *vm)
{
    const struct vmm_kvm_caps *c = vm ? kvm_caps(vm) : NULL;
    return c && c->ioeventfd;
}

bool vmm_vm_has_msi(const vmm_vm *vm)
{
    /* MSIs land in the in-kernel local APICs, which come with the irqchip. */
    const struct vmm_kvm_caps *c = vm ? kvm_caps(vm) : NULL;
    return c && vm->has_irqchip && c->signal_msi;
}

/* KVM_SET_GSI_ROUTING with the whole table (api.rst 4.52: "replaces any
 * previous routing table"). rt->lock held. */
static int commit(vmm_vm *vm, struct vmm_irq_routes *rt, const char *caller)
{
    uint32_t n = vmm_irq_routes_build(rt, NULL, 0);
    struct kvm_irq_routing *table = calloc(1, sizeof(*table) + n * sizeof(table->entries[0]));
    if (!table)
        return vmm_err(-ENOMEM, "%s: out of memory for a %u-entry GSI routing table", caller, n);
    table->nr = vmm_irq_routes_build(rt, table->entries, n);
    char what[96];
    snprintf(what, sizeof(what), "%s: KVM_SET_GSI_ROUTING (%u entries)", caller, n);
    int r = vmm_kvm_ioctl(vm->fd, KVM_SET_GSI_ROUTING, table, what);
    free(table);
    return r < 0 ? r : 0;
}

/* The VM's table, created on first use; NULL with a sentence when @vm is
 * NULL or cannot have MSI routes. */
static struct vmm_irq_routes *routes_of(vmm_vm *vm, const char *caller, int *err)
{
    if (!vm) {
        *err = vmm_err(-EINVAL, "%s: vm is NULL", caller);
        return NULL;
    }
    const struct vmm_kvm_caps *c = kvm_caps(vm);
    if (!c || !vm->has_irqchip) {
        *err = vmm_err(-ENODEV, "%s: this VM has no in-kernel irqchip (platform PC) for MSI routes",
                       caller);
        return NULL;
    }
    if (c->irq_routes <= VMM_IRQ_MSI_GSI_BASE) {
        *err = vmm_err(-ENOTSUP, "%s: this KVM lacks KVM_CAP_IRQ_ROUTING", caller);
        return NULL;
    }
    pthread_mutex_lock(&vm->irq_lock);
    if (!vm->irq_routes)
        vm->irq_routes = vmm_irq_routes_new(c->irq_routes);
    struct vmm_irq_routes *rt = vm->irq_routes;
    pthread_mutex_unlock(&vm->irq_lock);
    if (!rt)
        *err = vmm_err(-ENOMEM, "%s: out of memory for the GSI routing table", caller);
    return rt;
}

int vmm_irq_msi_alloc(vmm_vm *vm, const char *caller)
{
    int r;
    struct vmm_irq_routes *rt = routes_of(vm, caller, &r);
    if (!rt)
        return r;
    pthread_mutex_lock(&rt->lock);
    /* Nothing to commit: an allocated GSI has no route until it is set. */
    r = vmm_irq_routes_alloc(rt);
    uint32_t limit = rt->limit;
    pthread_mutex_unlock(&rt->lock);
    if (r == -ENOSPC)
        return vmm_err(r, "%s: all %u MSI GSIs of this VM are in use", caller, limit);
    if (r < 0)
        return vmm_err(r, "%s: out of memory for an MSI GSI", caller);
    return r;
}

int vmm_irq_msi_set(vmm_vm *vm, uint32_t gsi, uint64_t address, uint32_t data,
                    const char *caller)
{
    int r;
    struct vmm_irq_routes *rt = routes_of(vm, caller, &r);
    if (!rt)
        return r;
    pthread_mutex_lock(&rt->lock);
    struct vmm_irq_msi_route *s = slot_of(rt, gsi);
    if (!s) {
        pthread_mutex_unlock(&rt->lock);
        return vmm_err(-ENOENT, "%s: GSI %u is not an allocated MSI GSI", caller, gsi);
    }
    struct vmm_irq_msi_route before = *s;
    vmm_irq_routes_set(rt, gsi, address, data);
    r = commit(vm, rt, caller);
    if (r < 0)
        *s = before; /* KVM kept the old table: so do we */
    pthread_mutex_unlock(&rt->lock);
    return r;
}

void vmm_irq_msi_free(vmm_vm *vm, uint32_t gsi)
{
    struct vmm_irq_routes *rt = vm ? vm->irq_routes : NULL;
    if (!rt)
        return;
    pthread_mutex_lock(&rt->lock);
    struct vmm_irq_msi_route *s = slot_of(rt, gsi);
    bool was_routed = s && s->routed;
    if (s)
        vmm_irq_routes_release(rt, gsi);
    /* If KVM refuses, the stale route stays in KVM until the next commit;
     * the GSI is free here either way, and nothing signals it any more. */
    if (was_routed && vm->fd >= 0 && !vm->irq_hook)
        commit(vm, rt, "vmm_irq_msi_free");
    pthread_mutex_unlock(&rt->lock);
}

int vmm_irqfd(vmm_vm *vm, int efd, uint32_t gsi, bool assign, const char *caller)
{
    if (!vm)
        return vmm_err(-EINVAL, "%s: vm is NULL", caller);
    if (efd < 0)
        return vmm_err(-EBADF, "%s: irqfd %d is not a file descriptor", caller, efd);
    const struct vmm_kvm_caps *c = kvm_caps(vm);
    if (!c || !vm->has_irqchip || !c->irqfd)
        return vmm_err(-ENODEV, "%s: this VM cannot use irqfd (no KVM irqchip or KVM_CAP_IRQFD)",
                       caller);
    if (gsi >= c->irq_routes && c->irq_routes)
        return vmm_err(-EINVAL, "%s: GSI %u is past KVM's %u routes", caller, gsi, c->irq_routes);
    struct kvm_irqfd req = {
        .fd = (uint32_t)efd,
        .gsi = gsi,
        .flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN,
    };
    char what[96];
    snprintf(what, sizeof(what), "%s: KVM_IRQFD (%s fd %d, GSI %u)", caller,
             assign ? "assign" : "deassign", efd, gsi);
    int r = vmm_kvm_ioctl(vm->fd, KVM_IRQFD, &req, what);
    return r < 0 ? r : 0;
}

int vmm_irq_signal_msi(vmm_vm *vm, uint64_t address, uint32_t data, const char *caller)
{
    if (!vm)
        return vmm_err(-EINVAL, "%s: vm is NULL", caller);
    if (vm->irq_hook)
        return vm->irq_hook(vm, VMM_IRQ_HOOK_MSI, address, data);
    if (!vmm_vm_has_msi(vm))
        return vmm_err(-ENODEV, "%s: this VM cannot inject MSIs (no KVM irqchip or "
                       "KVM_CAP_SIGNAL_MSI)", caller);
    struct kvm_msi msi = {
        .address_lo = (uint32_t)address,
        .address_hi = (uint32_t)(address >> 32),
        .data = data,
    };
    char what[112];
    snprintf(what, sizeof(what), "%s: KVM_SIGNAL_MSI (address 0x%llx, data 0x%x)", caller,
             (unsigned long long)address, data);
    /* api.rst 4.71: > 0 delivered, 0 blocked by the guest (e.g. masked in
     * its LAPIC), < 0 error. Blocking is the guest's business. */
    int r = vmm_kvm_ioctl(vm->fd, KVM_SIGNAL_MSI, &msi, what);
    return r < 0 ? r : 0;
}

int vmm_ioeventfd(vmm_vm *vm, int efd, uint64_t addr, uint32_t len, bool pio, bool match,
                  uint64_t datamatch, bool assign, const char *caller)
{
    if (!vm)
        return vmm_err(-EINVAL, "%s: vm is NULL", caller);
    if (efd < 0)
        return vmm_err(-EBADF, "%s: ioeventfd %d is not a file descriptor", caller, efd);
    if (len != 1 && len != 2 && len != 4 && len != 8)
        return vmm_err(-EINVAL, "%s: ioeventfd length %u is not 1, 2, 4 or 8", caller, len);
    if (pio ? (addr > 0x10000 - len) : (addr > UINT64_MAX - (len - 1)))
        return vmm_err(-EINVAL, "%s: ioeventfd %s 0x%llx + %u is past the end of the address "
                       "space", caller, pio ? "port" : "address", (unsigned long long)addr, len);
    if (match && len < 8 && datamatch >> (len * 8))
        return vmm_err(-EINVAL, "%s: ioeventfd datamatch 0x%llx does not fit %u byte(s)", caller,
                       (unsigned long long)datamatch, len);
    if (!vmm_vm_has_ioeventfd(vm))
        return vmm_err(-ENODEV, "%s: this VM cannot use ioeventfd (no KVM fd or "
                       "KVM_CAP_IOEVENTFD)", caller);
    struct kvm_ioeventfd req = {
        .datamatch = match ? datamatch : 0,
        .addr = addr,
        .len = len,
        .fd = efd,
        .flags = (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) | (match ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0) |
                 (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
    };
    char what[128];
    snprintf(what, sizeof(what), "%s: KVM_IOEVENTFD (%s fd %d, %s 0x%llx, len %u)", caller,
             assign ? "assign" : "deassign", efd, pio ? "port" : "gpa",
             (unsigned long long)addr, len);
    int r = vmm_kvm_ioctl(vm->fd, KVM_IOEVENTFD, &req, what);
    return r < 0 ? r : 0;
}
