/* vCPU life cycle and the run loop: KVM_RUN, hand each exit to the
 * dispatcher, return to the caller only what nobody consumed. */
#include "vm/vm.h"

#include "dispatch/dispatch.h"

#include "core/error.h"
#include "kvm/kvm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int vmm_vcpu_create(vmm_vm *vm, uint32_t index, vmm_vcpu **out)
{
    vmm_vcpu *vcpu = calloc(1, sizeof(*vcpu));
    if (!vcpu)
        return vmm_err(-ENOMEM, "vmm_vm_create: out of memory");
    const struct vmm_kvm_caps *caps;
    int r = vmm_kvm_caps_get(&caps, "vmm_vm_create");
    if (r < 0)
        goto fail;
    vcpu->vm = vm;
    vcpu->index = index;
    vcpu->run_size = caps->vcpu_mmap_size;
    pthread_mutex_init(&vcpu->thread_lock, NULL);
    r = vmm_kvm_create_vcpu(vm->fd, index, &vcpu->fd, &vcpu->run);
    if (r < 0) {
        pthread_mutex_destroy(&vcpu->thread_lock);
        goto fail;
    }
    r = vmm_x86_cpuid_init(vcpu);
    if (r < 0) {
        vmm_vcpu_free(vcpu);
        return r;
    }
    *out = vcpu;
    return 0;
fail:
    free(vcpu);
    return r;
}

void vmm_vcpu_free(vmm_vcpu *vcpu)
{
    if (!vcpu)
        return;
    munmap(vcpu->run, vcpu->run_size);
    close(vcpu->fd);
    pthread_mutex_destroy(&vcpu->thread_lock);
    free(vcpu->cpuid);
    free(vcpu);
}

VMM_API int vmm_vcpu_index(const vmm_vcpu *vcpu)
{
    if (!vcpu)
        return vmm_err(-EINVAL, "vmm_vcpu_index: vcpu is NULL");
    return (int)vcpu->index;
}

VMM_API vmm_vm *vmm_vcpu_vm(const vmm_vcpu *vcpu)
{
    return vcpu ? vcpu->vm : NULL;
}

/* Reports a KVM exit the dispatcher did not consume. */
static void fill_exit(vmm_vcpu *vcpu, struct vmm_exit *exit)
{
    struct kvm_run *run = vcpu->run;
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        exit->reason = VMM_EXIT_PIO;
        exit->pio.port = run->io.port;
        exit->pio.size = run->io.size;
        exit->pio.is_write = run->io.direction == KVM_EXIT_IO_OUT;
        exit->pio.count = run->io.count;
        exit->pio.data = (uint8_t *)run + run->io.data_offset;
        break;
    case KVM_EXIT_MMIO:
        exit->reason = VMM_EXIT_MMIO;
        exit->mmio.gpa = run->mmio.phys_addr;
        exit->mmio.len = run->mmio.len;
        exit->mmio.is_write = run->mmio.is_write;
        exit->mmio.data = run->mmio.data;
        break;
    case KVM_EXIT_HLT:
        exit->reason = VMM_EXIT_HLT;
        break;
    case KVM_EXIT_SHUTDOWN:
        exit->reason = VMM_EXIT_SHUTDOWN;
        break;
    case KVM_EXIT_INTERNAL_ERROR: {
        exit->reason = VMM_EXIT_INTERNAL_ERROR;
        exit->internal.suberror = run->internal.suberror;
        uint32_t n = run->internal.ndata < 4 ? run->internal.ndata : 4;
        exit->internal.ndata = n;
        memcpy(exit->internal.data, run->internal.data, n * sizeof(uint64_t));
        break;
    }
    case KVM_EXIT_FAIL_ENTRY:
        exit->reason = VMM_EXIT_FAIL_ENTRY;
        exit->fail_entry.hardware_reason = run->fail_entry.hardware_entry_failure_reason;
        exit->fail_entry.cpu = run->fail_entry.cpu;
        break;
    case KVM_EXIT_SYSTEM_EVENT: {
        exit->reason = VMM_EXIT_SYSTEM_EVENT;
        exit->system_event.type = run->system_event.type;
        uint32_t n = run->system_event.ndata < 4 ? run->system_event.ndata : 4;
        exit->system_event.ndata = n;
        memcpy(exit->system_event.data, run->system_event.data, n * sizeof(uint64_t));
        break;
    }
    default:
        exit->reason = VMM_EXIT_UNKNOWN;
        exit->unknown.kvm_reason = run->exit_reason;
        break;
    }
}

/* Statistics category of each KVM exit reason (table, not a switch: this
 * runs on every exit). Reasons past the table count as OTHER. */
static const uint8_t stat_of_reason[] = {
    [KVM_EXIT_UNKNOWN] = VMM_STAT_EXIT_OTHER,
    [KVM_EXIT_EXCEPTION] = VMM_STAT_EXIT_OTHER,
    [KVM_EXIT_IO] = VMM_STAT_EXIT_PIO,
    [KVM_EXIT_HYPERCALL] = VMM_STAT_EXIT_OTHER,
    [KVM_EXIT_DEBUG] = VMM_STAT_EXIT_OTHER,
    [KVM_EXIT_HLT] = VMM_STAT_EXIT_HLT,
    [KVM_EXIT_MMIO] = VMM_STAT_EXIT_MMIO,
    [KVM_EXIT_IRQ_WINDOW_OPEN] = VMM_STAT_EXIT_OTHER,
    [KVM_EXIT_SHUTDOWN] = VMM_STAT_EXIT_SHUTDOWN,
    [KVM_EXIT_FAIL_ENTRY] = VMM_STAT_EXIT_FAIL_ENTRY,
    [KVM_EXIT_INTR] = VMM_STAT_EXIT_INTR,
    [KVM_EXIT_SET_TPR] = VMM_STAT_EXIT_OTHER,
    [KVM_EXIT_TPR_ACCESS] = VMM_STAT_EXIT_OTHER,
    [KVM_EXIT_S390_SIEIC] = VMM_STAT_EXIT_OTHER,
    [KVM_EXIT_S390_RESET] = VMM_STAT_EXIT_OTHER,
    [KVM_EXIT_DCR] = VMM_STAT_EXIT_OTHER,
    [KVM_EXIT_NMI] = VMM_STAT_EXIT_OTHER,
    [KVM_EXIT_INTERNAL_ERROR] = VMM_STAT_EXIT_INTERNAL_ERROR,
    [KVM_EXIT_OSI] = VMM_STAT_EXIT_OTHER,
    [KVM_EXIT_PAPR_HCALL] = VMM_STAT_EXIT_OTHER,
    [KVM_EXIT_S390_UCONTROL] = VMM_STAT_EXIT_OTHER,
    [KVM_EXIT_WATCHDOG] = VMM_STAT_EXIT_OTHER,
    [KVM_EXIT_S390_TSCH] = VMM_STAT_EXIT_OTHER,
    [KVM_EXIT_EPR] = VMM_STAT_EXIT_OTHER,
    [KVM_EXIT_SYSTEM_EVENT] = VMM_STAT_EXIT_SYSTEM_EVENT,
};

static inline unsigned stat_of(uint32_t kvm_reason)
{
    return kvm_reason < sizeof(stat_of_reason) ? stat_of_reason[kvm_reason]
                                               : VMM_STAT_EXIT_OTHER;
}

/* Reports a request made by another thread: a stop first, then a kick. */
static __attribute__((noinline)) bool take_request_slow(vmm_vcpu *vcpu, struct vmm_exit *exit)
{
    /* A device's exit request first: it finishes what the guest asked for. */
    uint32_t was = __atomic_fetch_and(&vcpu->requests, ~VMM_REQ_EXIT, __ATOMIC_SEQ_CST);
    if (was & VMM_REQ_EXIT) {
        exit->reason = VMM_EXIT_REQUEST;
        exit->request.kind = vcpu->exit_request_kind;
        exit->request.value = vcpu->exit_request_value;
        return true;
    }
    was = __atomic_fetch_and(&vcpu->requests, ~VMM_REQ_STOP, __ATOMIC_SEQ_CST);
    if (!(was & VMM_REQ_STOP))
        was = __atomic_fetch_and(&vcpu->requests, ~VMM_REQ_KICK, __ATOMIC_SEQ_CST);
    if (was & VMM_REQ_STOP)
        exit->reason = VMM_EXIT_STOPPED;
    else if (was & VMM_REQ_KICK)
        exit->reason = VMM_EXIT_KICKED;
    else
        return false;
    return true;
}

/* Checked before every entry: one load when nobody asked for anything. */
static inline bool take_request(vmm_vcpu *vcpu, struct vmm_exit *exit)
{
    if (VMM_LIKELY(!__atomic_load_n(&vcpu->requests, __ATOMIC_SEQ_CST)))
        return false;
    return take_request_slow(vcpu, exit);
}

/* The loop proper; vmm_vcpu_run() wraps it with the bookkeeping. */
static int run_loop(vmm_vcpu *vcpu, struct vmm_exit *exit)
{
    struct kvm_run *run = vcpu->run;
    /* 1 when completing a read already produced the next exit. */
    int have_exit = 0;
    if (vcpu->read_pending) {
        /* The caller answered an unhandled read; finish it first. */
        have_exit = vmm_vcpu_complete_read(vcpu);
        if (have_exit < 0)
            return have_exit;
    }
    for (;;) {
        int r;
        if (!have_exit) {
            if (take_request(vcpu, exit))
                return 0;
            r = vmm_kvm_run(vcpu->fd);
            if (r < 0) {
                if (r == -EINTR || r == -EAGAIN) {
                    /* A kick or stray signal: clear the latch, look at requests. */
                    __atomic_store_n(&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
                    VMM_STAT_INC(vcpu->exits[VMM_STAT_EXIT_INTR]);
                    continue;
                }
                return vmm_err(r, "vmm_vcpu_run: KVM_RUN on vCPU %u failed: %s", vcpu->index,
                               vmm_strerror(r));
            }
        }
        have_exit = 0;
        uint32_t reason = run->exit_reason;
        VMM_STAT_INC(vcpu->exits[stat_of(reason)]);
        if (reason == KVM_EXIT_IO)
            r = vmm_dispatch_pio(vcpu);
        else if (reason == KVM_EXIT_MMIO)
            r = vmm_dispatch_mmio(vcpu);
        else if (reason == KVM_EXIT_INTR)
            continue;
        else
            r = VMM_UNHANDLED;
        if (r == 0) {
            if (vcpu->read_pending) {
                have_exit = vmm_vcpu_complete_read(vcpu);
                if (have_exit < 0)
                    return have_exit;
            }
            continue;
        }
        if (r < 0) {
            exit->reason = VMM_EXIT_DEVICE_ERROR;
            exit->error = r;
            return r;
        }
        if (reason == KVM_EXIT_IO || reason == KVM_EXIT_MMIO) {
            if (vcpu->vm->open_bus) {
                /* Nobody answered: the dispatcher left all-ones in a
                 * read's data; complete it like a handled access. */
                VMM_STAT_INC(vcpu->exits[VMM_STAT_EXIT_OPEN_BUS]);
                if (vcpu->read_pending) {
                    have_exit = vmm_vcpu_complete_read(vcpu);
                    if (have_exit < 0)
                        return have_exit;
                }
                continue;
            }
            VMM_STAT_INC(vcpu->exits[VMM_STAT_EXIT_UNHANDLED]);
        }
        fill_exit(vcpu, exit);
        return 0;
    }
}

VMM_API int vmm_vcpu_request_exit(vmm_vcpu *vcpu, uint32_t kind, uint64_t value)
{
    if (!vcpu || kind == 0)
        return vmm_err(-EINVAL, "vmm_vcpu_request_exit: vcpu must not be NULL and kind not 0");
    /* Only the vCPU's own thread (in a callback) or an idle vCPU gets here,
     * so the fields need no lock; the request bit publishes them. */
    vcpu->exit_request_kind = kind;
    vcpu->exit_request_value = value;
    __atomic_fetch_or(&vcpu->requests, VMM_REQ_EXIT, __ATOMIC_SEQ_CST);
    return 0;
}

VMM_API int vmm_vcpu_run(vmm_vcpu *vcpu, struct vmm_exit *exit)
{
    if (!vcpu || !exit)
        return vmm_err(-EINVAL, "vmm_vcpu_run: vcpu and exit must not be NULL");
    if (__atomic_exchange_n(&vcpu->running, 1, __ATOMIC_ACQUIRE))
        return vmm_err(-EBUSY, "vmm_vcpu_run: vCPU %u is already running on another thread",
                       vcpu->index);
    vmm_vm *vm = vcpu->vm;
    __atomic_add_fetch(&vm->running_vcpus, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&vm->changing, __ATOMIC_SEQ_CST)) {
        __atomic_sub_fetch(&vm->running_vcpus, 1, __ATOMIC_SEQ_CST);
        __atomic_store_n(&vcpu->running, 0, __ATOMIC_RELEASE);
        return vmm_err(-EBUSY, "vmm_vcpu_run: another thread is changing the VM's memory, "
                       "devices or hypercalls");
    }
    pthread_mutex_lock(&vcpu->thread_lock);
    vcpu->thread = pthread_self();
    vcpu->has_thread = true;
    pthread_mutex_unlock(&vcpu->thread_lock);

    memset(exit, 0, sizeof(*exit));
    exit->vcpu_index = vcpu->index;
    int r = run_loop(vcpu, exit);

    pthread_mutex_lock(&vcpu->thread_lock);
    vcpu->has_thread = false;
    pthread_mutex_unlock(&vcpu->thread_lock);
    __atomic_sub_fetch(&vm->running_vcpus, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&vcpu->running, 0, __ATOMIC_RELEASE);
    return r;
}
