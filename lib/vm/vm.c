/* VM life cycle: config validation, creation of the KVM VM and its vCPUs,
 * stop requests, statistics and destruction. */
#include "vm/vm.h"

#include "core/config.h"
#include "core/error.h"
#include "io/iothread.h"
#include "kvm/kvm.h"
#include "x86/pc.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Where KVM may put the three pages its VMX real-mode emulation needs
 * (api.rst KVM_SET_TSS_ADDR): just below the BIOS area, as QEMU and
 * Firecracker do, and the one page of its EPT identity map right below
 * (KVM_SET_IDENTITY_MAP_ADDR, KVM's own default, stated rather than
 * assumed: api.rst calls both "required on Intel-based hosts"). Guests
 * must not map RAM at [0xfffbc000, 0xfffc0000). */
#define VMM_KVM_TSS_ADDR 0xfffbd000ul
#define VMM_KVM_IDENTITY_MAP_ADDR 0xfffbc000ull

VMM_API void vmm_vm_config_init(struct vmm_vm_config *cfg)
{
    if (cfg)
        *cfg = (struct vmm_vm_config)VMM_VM_CONFIG_INIT;
}

/* Checks that need no KVM; the KVM vCPU limit is checked after probing. */
static int validate_config(struct vmm_vm_config *c, const char *fn)
{
    if (c->flags & ~VMM_VM_F_OPEN_BUS)
        return vmm_err(-EINVAL, "%s: unknown config flags 0x%x", fn, c->flags & ~VMM_VM_F_OPEN_BUS);
    if (c->platform != VMM_PLATFORM_NONE && c->platform != VMM_PLATFORM_PC)
        return vmm_err(-EINVAL, "%s: unknown platform %u", fn, c->platform);
    if (c->num_vcpus == 0 || c->num_vcpus > VMM_MAX_VCPUS)
        return vmm_err(-EINVAL, "%s: num_vcpus %u is outside 1..%u", fn, c->num_vcpus,
                       VMM_MAX_VCPUS);
    if (c->hypercall_port > 0xfffc)
        return vmm_err(-EINVAL, "%s: hypercall_port 0x%x: the doorbell needs 4 ports below 0x10000",
                       fn, c->hypercall_port);
    if (c->reserved0)
        return vmm_err(-EINVAL, "%s: reserved0 must be 0", fn);
    if (c->kick_signal == 0)
        c->kick_signal = SIGRTMAX - 1;
    else if (c->kick_signal == VMM_KICK_SIGNAL_NONE)
        c->kick_signal = 0;
    else if (c->kick_signal < 1 || c->kick_signal > SIGRTMAX || c->kick_signal == SIGKILL ||
             c->kick_signal == SIGSTOP)
        return vmm_err(-EINVAL, "%s: kick_signal %d is not a usable signal", fn, c->kick_signal);
    return 0;
}

VMM_API int vmm_vm_create(const struct vmm_vm_config *cfg, vmm_vm **out)
{
    static const char fn[] = "vmm_vm_create";
    if (!cfg || !out)
        return vmm_err(-EINVAL, "%s: cfg and out must not be NULL", fn);
    struct vmm_vm_config c;
    int r = vmm_config_copy(cfg, &c, sizeof(c), "config", "VMM_VM_CONFIG_INIT", fn);
    if (r < 0)
        return r;
    r = validate_config(&c, fn);
    if (r < 0)
        return r;
    const struct vmm_kvm_caps *caps;
    r = vmm_kvm_caps_get(&caps, fn);
    if (r < 0)
        return r;
    if (c.num_vcpus > caps->max_vcpus)
        return vmm_err(-EINVAL, "%s: num_vcpus %u, but this KVM allows %u", fn, c.num_vcpus,
                       caps->max_vcpus);
    if (c.kick_signal) {
        r = vmm_kick_signal_install(c.kick_signal, fn);
        if (r < 0)
            return r;
    }

    vmm_vm *vm = calloc(1, sizeof(*vm));
    vmm_vcpu **vcpus = calloc(c.num_vcpus, sizeof(*vcpus));
    if (!vm || !vcpus) {
        free(vm);
        free(vcpus);
        return vmm_err(-ENOMEM, "%s: out of memory", fn);
    }
    vm->platform = c.platform;
    vm->num_vcpus = c.num_vcpus;
    vm->open_bus = c.flags & VMM_VM_F_OPEN_BUS;
    vm->hypercall_port = c.hypercall_port;
    vm->kick_signal = c.kick_signal;
    vm->vcpus = vcpus;
    pthread_mutex_init(&vm->change_lock, NULL);
    pthread_mutex_init(&vm->irq_lock, NULL);
    vm->fd = vmm_kvm_create_vm(fn);
    if (vm->fd < 0) {
        r = vm->fd;
        vm->fd = -1;
        goto fail;
    }
    if (caps->set_tss_addr) {
        r = vmm_kvm_ioctl(vm->fd, KVM_SET_TSS_ADDR, (void *)VMM_KVM_TSS_ADDR,
                          "vmm_vm_create: KVM_SET_TSS_ADDR");
        if (r < 0)
            goto fail;
    }
    if (caps->identity_map_addr) {
        /* Before any vCPU exists (api.rst). */
        uint64_t addr = VMM_KVM_IDENTITY_MAP_ADDR;
        r = vmm_kvm_ioctl(vm->fd, KVM_SET_IDENTITY_MAP_ADDR, &addr,
                          "vmm_vm_create: KVM_SET_IDENTITY_MAP_ADDR");
        if (r < 0)
            goto fail;
    }
    if (c.platform == VMM_PLATFORM_PC) {
        r = vmm_pc_init(vm);
        if (r < 0)
            goto fail;
    }
    for (uint32_t i = 0; i < c.num_vcpus; i++) {
        r = vmm_vcpu_create(vm, i, &vm->vcpus[i]);
        if (r < 0)
            goto fail;
        if (c.platform == VMM_PLATFORM_PC) {
            r = vmm_pc_vcpu_init(vm->vcpus[i]);
            if (r < 0)
                goto fail;
        }
    }
    if (vm->hypercall_port) {
        r = vmm_hypercall_attach_doorbell(vm);
        if (r < 0)
            goto fail;
    }
    *out = vm;
    return 0;
fail:
    vmm_vm_destroy(vm);
    return r;
}

VMM_API void vmm_vm_destroy(vmm_vm *vm)
{
    if (!vm)
        return;
    vmm_devices_destroy_all(vm);
    /* Devices removed their fds first; no I/O callback runs past this. */
    vmm_iothread_stop(vm);
    vmm_pci_host_free(vm);
    vmm_hypercalls_free(vm);
    vmm_range_map_free(&vm->pio);
    vmm_range_map_free(&vm->mmio);
    for (uint32_t i = 0; i < vm->num_vcpus; i++)
        vmm_vcpu_free(vm->vcpus[i]);
    free(vm->vcpus);
    /* Closing the VM fd drops every memory slot; then the backing can go. */
    if (vm->fd >= 0)
        close(vm->fd);
    vmm_memory_fini(&vm->memory);
    vmm_irq_routes_free(vm);
    pthread_mutex_destroy(&vm->change_lock);
    pthread_mutex_destroy(&vm->irq_lock);
    free(vm);
}

int vmm_vm_begin_change(vmm_vm *vm, const char *caller)
{
    if (vmm_vm_io_held(vm))
        return vmm_err(-EDEADLK, "%s: called from I/O work on guest memory (between "
                       "vmm_vm_io_enter() and vmm_vm_io_leave()), which it would wait for",
                       caller);
    pthread_mutex_lock(&vm->change_lock);
    __atomic_add_fetch(&vm->changing, 1, __ATOMIC_SEQ_CST);
    int r = vmm_vm_check_idle(vm, caller);
    if (r < 0) {
        vmm_vm_end_change(vm);
        return r;
    }
    /* Dekker pair with vmm_vm_io_enter() (lib/io/iothread.c): we raised
     * `changing`, then read io_users; it raises io_users, then reads
     * `changing` and backs off while it is set (all seq_cst). So once
     * io_users reads 0 here, no I/O work is on guest memory and none can
     * start until vmm_vm_end_change(). I/O work is short and changes are
     * rare: yielding is enough. */
    while (__atomic_load_n(&vm->io_users, __ATOMIC_SEQ_CST))
        sched_yield();
    return 0;
}

void vmm_vm_end_change(vmm_vm *vm)
{
    __atomic_sub_fetch(&vm->changing, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&vm->change_lock);
}

int vmm_vm_check_idle(const vmm_vm *vm, const char *caller)
{
    int running = __atomic_load_n(&vm->running_vcpus, __ATOMIC_ACQUIRE);
    if (running)
        return vmm_err(-EBUSY, "%s: %d vCPU(s) of this VM are running; stop them first", caller,
                       running);
    return 0;
}

VMM_API int vmm_vm_num_vcpus(const vmm_vm *vm)
{
    if (!vm)
        return vmm_err(-EINVAL, "vmm_vm_num_vcpus: vm is NULL");
    return (int)vm->num_vcpus;
}

VMM_API int vmm_vm_get_vcpu(vmm_vm *vm, uint32_t index, vmm_vcpu **out)
{
    if (!vm || !out)
        return vmm_err(-EINVAL, "vmm_vm_get_vcpu: vm and out must not be NULL");
    if (index >= vm->num_vcpus)
        return vmm_err(-ENOENT, "vmm_vm_get_vcpu: index %u, but the VM has %u vCPU(s)", index,
                       vm->num_vcpus);
    *out = vm->vcpus[index];
    return 0;
}

VMM_API int vmm_vm_stop(vmm_vm *vm)
{
    if (!vm)
        return vmm_err(-EINVAL, "vmm_vm_stop: vm is NULL");
    for (uint32_t i = 0; i < vm->num_vcpus; i++)
        vmm_vcpu_request(vm->vcpus[i], VMM_REQ_STOP);
    return 0;
}

VMM_API int vmm_vm_reset_devices(vmm_vm *vm)
{
    static const char fn[] = "vmm_vm_reset_devices";
    if (!vm)
        return vmm_err(-EINVAL, "%s: vm is NULL", fn);
    int r = vmm_vm_begin_change(vm, fn);
    if (r < 0)
        return r;
    for (vmm_device *d = vm->devices_head; d; d = d->next)
        if (d->ops.reset)
            d->ops.reset(d, d->user);
    vmm_vm_end_change(vm);
    return 0;
}

VMM_API int vmm_vm_get_stats(const vmm_vm *vm, struct vmm_vm_stats *stats)
{
    static const char fn[] = "vmm_vm_get_stats";
    if (!vm || !stats)
        return vmm_err(-EINVAL, "%s: vm and stats must not be NULL", fn);
    if (stats->struct_size < sizeof(*stats))
        return vmm_err(-EINVAL, "%s: stats struct_size %u is smaller than version 1 (%zu)", fn,
                       stats->struct_size, sizeof(*stats));
    struct vmm_vm_stats s = { .struct_size = stats->struct_size };
    for (uint32_t i = 0; i < vm->num_vcpus; i++) {
        const vmm_vcpu *v = vm->vcpus[i];
        for (int k = 0; k < VMM_STAT_EXIT_COUNT; k++)
            s.exits[k] += __atomic_load_n(&v->exits[k], __ATOMIC_RELAXED);
    }
    /* Every return from KVM_RUN lands in exactly one of the KVM-reason
     * categories; HYPERCALL and UNHANDLED are subsets of PIO/MMIO. */
    for (int k = 0; k < VMM_STAT_EXIT_COUNT; k++)
        if (k != VMM_STAT_EXIT_HYPERCALL && k != VMM_STAT_EXIT_UNHANDLED)
            s.exits_total += s.exits[k];
    memcpy(stats, &s, sizeof(s));
    return 0;
}
