/* See fake_vm.h. Builds the few parts of struct vmm_vm that the device
 * stack touches, the way vmm_vm_create() and vmm_memory_add_host() would,
 * minus every KVM call. */
#include "fake_vm.h"

#include "io/iothread.h"
#include "vm/vm.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FAKE_MAX_MSI 256

struct fake_irqs {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int level[24];
    unsigned pulses[24];
    struct { uint64_t addr; uint32_t data; unsigned count; } msi[FAKE_MAX_MSI];
    unsigned msi_total;
    unsigned events;
    struct vmm_region region;
};

static void die(const char *what)
{
    fprintf(stderr, "fake_vm: %s\n", what);
    abort();
}

static int record_irq(vmm_vm *vm, int kind, uint64_t a, uint64_t b)
{
    struct fake_irqs *f = vm->irq_hook_user;
    pthread_mutex_lock(&f->lock);
    if (kind == VMM_IRQ_HOOK_LINE && a < 24) {
        if (b && !f->level[a]) {
            f->pulses[a]++;
            f->events++;
        }
        f->level[a] = b != 0;
    } else if (kind == VMM_IRQ_HOOK_MSI) {
        unsigned i;
        for (i = 0; i < FAKE_MAX_MSI && f->msi[i].count; i++)
            if (f->msi[i].addr == a && f->msi[i].data == (uint32_t)b)
                break;
        if (i < FAKE_MAX_MSI) {
            f->msi[i].addr = a;
            f->msi[i].data = (uint32_t)b;
            f->msi[i].count++;
        }
        f->msi_total++;
        f->events++;
    }
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->lock);
    return 0;
}

vmm_vm *fake_vm_new(uint64_t ram_size)
{
    vmm_vm *vm = calloc(1, sizeof(*vm));
    struct fake_irqs *f = calloc(1, sizeof(*f));
    if (!vm || !f || !ram_size || (ram_size & 4095))
        die("bad size or out of memory");
    vm->fd = -1;
    vm->platform = VMM_PLATFORM_PC;
    /* One vCPU that never runs (no KVM fd): what the dispatcher's caches and
     * the MP table builder (vCPU 0's CPUID: none here) look at. */
    vm->num_vcpus = 1;
    vm->vcpus = calloc(1, sizeof(*vm->vcpus));
    if (!vm->vcpus || !(vm->vcpus[0] = calloc(1, sizeof(*vm->vcpus[0]))))
        die("out of memory");
    vm->vcpus[0]->vm = vm;
    vm->vcpus[0]->fd = -1;
    pthread_mutex_init(&vm->change_lock, NULL);
    pthread_mutex_init(&vm->irq_lock, NULL);
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->cond, NULL);
    /* An irqchip whose lines and MSIs record_irq() receives. */
    vm->has_irqchip = true;
    vm->irq_hook = record_irq;
    vm->irq_hook_user = f;
    f->region.gpa = 0;
    f->region.size = ram_size;
    f->region.hva = aligned_alloc(4096, ram_size);
    f->region.host_writable = true;
    if (!f->region.hva)
        die("out of memory for guest RAM");
    memset(f->region.hva, 0, ram_size);
    const struct vmm_range *hit;
    if (vmm_range_map_insert(&vm->memory.map, 0, ram_size, &f->region, &hit) < 0)
        die("cannot map RAM");
    return vm;
}

uint8_t *fake_vm_ram(vmm_vm *vm)
{
    return ((struct fake_irqs *)vm->irq_hook_user)->region.hva;
}

uint64_t fake_vm_ram_size(vmm_vm *vm)
{
    return ((struct fake_irqs *)vm->irq_hook_user)->region.size;
}

void fake_vm_free(vmm_vm *vm)
{
    if (!vm)
        return;
    struct fake_irqs *f = vm->irq_hook_user;
    vmm_devices_destroy_all(vm);
    vmm_pci_host_free(vm);
    vmm_iothread_stop(vm);
    vmm_range_map_free(&vm->pio);
    vmm_range_map_free(&vm->mmio);
    vmm_range_map_free(&vm->memory.map);
    free(vm->memory.slot_used);
    free(f->region.hva);
    pthread_mutex_destroy(&f->lock);
    pthread_cond_destroy(&f->cond);
    free(f);
    pthread_mutex_destroy(&vm->change_lock);
    pthread_mutex_destroy(&vm->irq_lock);
    free(vm->vcpus[0]);
    free(vm->vcpus);
    free(vm);
}

static int access(vmm_vm *vm, struct vmm_range_map *map, uint32_t space, uint64_t addr,
                  void *data, uint32_t len, bool is_write)
{
    const struct vmm_range *r = vmm_range_map_find_span(map, addr, len);
    if (!r)
        return -ENOENT;
    vmm_device *dev = r->owner;
    vmm_io_fn fn = space == VMM_SPACE_PIO ? dev->ops.pio : dev->ops.mmio;
    if (!fn)
        return -ENOENT;
    if (!is_write)
        memset(data, 0xff, len);
    struct vmm_io io = { .addr = addr, .offset = addr - r->base, .data = data, .len = len,
                         .is_write = is_write ? VMM_IO_WRITE : VMM_IO_READ,
                         .space = (uint8_t)space };
    (void)vm;
    if (dev->serialize)
        pthread_mutex_lock(&dev->lock);
    int rc = fn(dev, NULL, &io, dev->user);
    if (dev->serialize)
        pthread_mutex_unlock(&dev->lock);
    return rc;
}

int fake_vm_mmio(vmm_vm *vm, uint64_t gpa, void *data, uint32_t len, bool is_write)
{
    return access(vm, &vm->mmio, VMM_SPACE_MMIO, gpa, data, len, is_write);
}

int fake_vm_pio(vmm_vm *vm, uint16_t port, void *data, uint32_t len, bool is_write)
{
    return access(vm, &vm->pio, VMM_SPACE_PIO, port, data, len, is_write);
}

uint32_t fake_vm_mmio_read32(vmm_vm *vm, uint64_t gpa)
{
    uint32_t v = 0xffffffffu;
    fake_vm_mmio(vm, gpa, &v, 4, false);
    return v;
}

void fake_vm_mmio_write32(vmm_vm *vm, uint64_t gpa, uint32_t v)
{
    fake_vm_mmio(vm, gpa, &v, 4, true);
}

int fake_vm_irq_level(vmm_vm *vm, uint32_t gsi)
{
    struct fake_irqs *f = vm->irq_hook_user;
    if (gsi >= 24)
        return 0;
    pthread_mutex_lock(&f->lock);
    int l = f->level[gsi];
    pthread_mutex_unlock(&f->lock);
    return l;
}

unsigned fake_vm_irq_pulses(vmm_vm *vm, uint32_t gsi)
{
    struct fake_irqs *f = vm->irq_hook_user;
    if (gsi >= 24)
        return 0;
    pthread_mutex_lock(&f->lock);
    unsigned n = f->pulses[gsi];
    pthread_mutex_unlock(&f->lock);
    return n;
}

unsigned fake_vm_msi_count(vmm_vm *vm, uint64_t addr, uint32_t data)
{
    struct fake_irqs *f = vm->irq_hook_user;
    unsigned n = 0;
    pthread_mutex_lock(&f->lock);
    for (unsigned i = 0; i < FAKE_MAX_MSI && f->msi[i].count; i++)
        if (f->msi[i].addr == addr && f->msi[i].data == data)
            n = f->msi[i].count;
    pthread_mutex_unlock(&f->lock);
    return n;
}

unsigned fake_vm_msi_total(vmm_vm *vm)
{
    struct fake_irqs *f = vm->irq_hook_user;
    pthread_mutex_lock(&f->lock);
    unsigned n = f->msi_total;
    pthread_mutex_unlock(&f->lock);
    return n;
}

unsigned fake_vm_wait_irqs(vmm_vm *vm, unsigned seen, int ms)
{
    struct fake_irqs *f = vm->irq_hook_user;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&f->lock);
    while (f->events <= seen)
        if (pthread_cond_timedwait(&f->cond, &f->lock, &until) == ETIMEDOUT)
            break;
    unsigned n = f->events;
    pthread_mutex_unlock(&f->lock);
    return n;
}
