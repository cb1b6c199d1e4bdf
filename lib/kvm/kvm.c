/* /dev/kvm access: the process-wide system fd, capability probing, and thin
 * wrappers that turn ioctl failures into vmm_err() sentences. */
#include "kvm/kvm.h"

#include "core/error.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

static pthread_mutex_t caps_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vmm_kvm_caps caps = { .sys_fd = -1 };
static int caps_ready;

static int cap(int fd, long which)
{
    int r = ioctl(fd, KVM_CHECK_EXTENSION, which);
    return r < 0 ? 0 : r;
}

static int probe_cpuid(int fd, const char *caller)
{
    /* KVM answers E2BIG until the buffer is large enough (api.rst 4.46). */
    for (uint32_t n = 64; n <= 4096; n *= 2) {
        struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
        if (!c)
            return vmm_err(-ENOMEM, "%s: out of memory probing CPUID", caller);
        c->nent = n;
        if (ioctl(fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
            caps.cpuid = malloc(c->nent * sizeof(c->entries[0]));
            if (!caps.cpuid) {
                free(c);
                return vmm_err(-ENOMEM, "%s: out of memory probing CPUID", caller);
            }
            memcpy(caps.cpuid, c->entries, c->nent * sizeof(c->entries[0]));
            caps.cpuid_count = c->nent;
            free(c);
            return 0;
        }
        int e = errno;
        free(c);
        if (e != E2BIG)
            return vmm_err(-e, "%s: KVM_GET_SUPPORTED_CPUID failed: %s", caller, strerror(e));
    }
    return vmm_err(-E2BIG, "%s: KVM_GET_SUPPORTED_CPUID returns more than 4096 leaves", caller);
}

static int probe(const char *caller)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return vmm_err(-e, "%s: cannot open /dev/kvm: %s", caller, strerror(e));
    }
    int version = ioctl(fd, KVM_GET_API_VERSION, 0);
    if (version != KVM_API_VERSION) {
        close(fd);
        return vmm_err(-ENOTSUP, "%s: /dev/kvm speaks API version %d, libvmm needs %d", caller,
                       version, KVM_API_VERSION);
    }
    int mmap_size = ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (mmap_size < (int)sizeof(struct kvm_run)) {
        close(fd);
        return vmm_err(-ENOTSUP, "%s: KVM_GET_VCPU_MMAP_SIZE returned %d", caller, mmap_size);
    }
    caps.sys_fd = fd;
    caps.vcpu_mmap_size = (size_t)mmap_size;
    int max = cap(fd, KVM_CAP_MAX_VCPUS);
    caps.max_vcpus = (uint32_t)(max > 0 ? max : cap(fd, KVM_CAP_NR_VCPUS));
    if (caps.max_vcpus == 0)
        caps.max_vcpus = 4; /* api.rst: assume 4 when the capability is absent */
    int slots = cap(fd, KVM_CAP_NR_MEMSLOTS);
    caps.nr_memslots = (uint32_t)(slots > 0 ? slots : 32);
    caps.readonly_mem = cap(fd, KVM_CAP_READONLY_MEM) > 0;
    caps.immediate_exit = cap(fd, KVM_CAP_IMMEDIATE_EXIT) > 0;
    caps.set_tss_addr = cap(fd, KVM_CAP_SET_TSS_ADDR) > 0;
    caps.identity_map_addr = cap(fd, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0;
    caps.irqchip = cap(fd, KVM_CAP_IRQCHIP) > 0 && cap(fd, KVM_CAP_PIT2) > 0;
    caps.irqfd = cap(fd, KVM_CAP_IRQFD) > 0;
    caps.ioeventfd = cap(fd, KVM_CAP_IOEVENTFD) > 0;
    caps.ioeventfd_any_len = cap(fd, KVM_CAP_IOEVENTFD_ANY_LENGTH) > 0;
    caps.signal_msi = cap(fd, KVM_CAP_SIGNAL_MSI) > 0;
    /* api.rst 4.52: the value is the number of GSI routes (KVM_MAX_IRQ_ROUTES). */
    int routes = cap(fd, KVM_CAP_IRQ_ROUTING);
    caps.irq_routes = (uint32_t)(routes > 0 ? routes : 0);
    int r = probe_cpuid(fd, caller);
    if (r < 0) {
        close(fd);
        caps.sys_fd = -1;
        return r;
    }
    return 0;
}

int vmm_kvm_caps_get(const struct vmm_kvm_caps **out, const char *caller)
{
    /* Fast path without the lock once probing has succeeded. */
    if (__atomic_load_n(&caps_ready, __ATOMIC_ACQUIRE)) {
        *out = &caps;
        return 0;
    }
    pthread_mutex_lock(&caps_lock);
    int r = 0;
    if (!caps_ready) {
        r = probe(caller);
        if (r == 0)
            __atomic_store_n(&caps_ready, 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&caps_lock);
    if (r == 0)
        *out = &caps;
    return r;
}

int vmm_kvm_create_vm(const char *caller)
{
    const struct vmm_kvm_caps *c;
    int r = vmm_kvm_caps_get(&c, caller);
    if (r < 0)
        return r;
    int fd;
    do
        fd = ioctl(c->sys_fd, KVM_CREATE_VM, 0);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        int e = errno;
        return vmm_err(-e, "%s: KVM_CREATE_VM failed: %s", caller, strerror(e));
    }
    return fd;
}

int vmm_kvm_create_vcpu(int vm_fd, uint32_t id, int *fd_out, struct kvm_run **run_out)
{
    const struct vmm_kvm_caps *c;
    int r = vmm_kvm_caps_get(&c, "vmm_vm_create");
    if (r < 0)
        return r;
    int fd = ioctl(vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
    if (fd < 0) {
        int e = errno;
        return vmm_err(-e, "vmm_vm_create: KVM_CREATE_VCPU %u failed: %s", id, strerror(e));
    }
    void *run = mmap(NULL, c->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (run == MAP_FAILED) {
        int e = errno;
        close(fd);
        return vmm_err(-e, "vmm_vm_create: mapping kvm_run of vCPU %u failed: %s", id, strerror(e));
    }
    *fd_out = fd;
    *run_out = run;
    return 0;
}

int vmm_kvm_set_memory(int vm_fd, uint32_t slot, uint32_t flags, uint64_t gpa, uint64_t size,
                       void *hva, const char *caller)
{
    struct kvm_userspace_memory_region region = {
        .slot = slot,
        .flags = flags,
        .guest_phys_addr = gpa,
        .memory_size = size,
        .userspace_addr = (uint64_t)(uintptr_t)hva,
    };
    if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
        int e = errno;
        return vmm_err(-e, "%s: KVM_SET_USER_MEMORY_REGION (slot %u, gpa 0x%llx, size 0x%llx) failed: %s",
                       caller, slot, (unsigned long long)gpa, (unsigned long long)size, strerror(e));
    }
    return 0;
}

int vmm_kvm_ioctl(int fd, unsigned long req, void *arg, const char *what)
{
    int r;
    do
        r = ioctl(fd, req, arg);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
        int e = errno;
        return vmm_err(-e, "%s failed: %s", what, strerror(e));
    }
    return r;
}
