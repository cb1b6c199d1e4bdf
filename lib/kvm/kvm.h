/* The only code that talks to /dev/kvm. Every function returns 0 (or a
 * non-negative value) or a negative errno with vmm_last_error() set. */
#ifndef VMM_LIB_KVM_H
#define VMM_LIB_KVM_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

/* What the host's KVM offers, probed once per process. */
struct vmm_kvm_caps {
    int sys_fd;             /* /dev/kvm, shared by every VM of the process */
    size_t vcpu_mmap_size;  /* KVM_GET_VCPU_MMAP_SIZE */
    uint32_t max_vcpus;     /* KVM_CAP_MAX_VCPUS (or NR_VCPUS) */
    uint32_t nr_memslots;   /* KVM_CAP_NR_MEMSLOTS */
    int readonly_mem;       /* KVM_CAP_READONLY_MEM */
    int immediate_exit;     /* KVM_CAP_IMMEDIATE_EXIT */
    int set_tss_addr;       /* KVM_CAP_SET_TSS_ADDR */
    int identity_map_addr;  /* KVM_CAP_SET_IDENTITY_MAP_ADDR */
    int irqchip;            /* KVM_CAP_IRQCHIP and KVM_CAP_PIT2 (platform PC) */
    /* Interrupt and notification plumbing (lib/kvm/kvm_irq.c). */
    int irqfd;              /* KVM_CAP_IRQFD */
    int ioeventfd;          /* KVM_CAP_IOEVENTFD */
    int ioeventfd_any_len;  /* KVM_CAP_IOEVENTFD_ANY_LENGTH */
    int signal_msi;         /* KVM_CAP_SIGNAL_MSI */
    uint32_t irq_routes;    /* KVM_CAP_IRQ_ROUTING: max GSI routes (0: none) */
    /* KVM_GET_SUPPORTED_CPUID */
    struct kvm_cpuid_entry2 *cpuid;
    uint32_t cpuid_count;
};

/* Opens /dev/kvm and probes it on first use. @caller names the public
 * function for the error sentence. */
int vmm_kvm_caps_get(const struct vmm_kvm_caps **caps, const char *caller);

/* KVM_CREATE_VM, retried on EINTR. Returns the VM fd. */
int vmm_kvm_create_vm(const char *caller);

/* KVM_CREATE_VCPU plus the kvm_run mapping. */
int vmm_kvm_create_vcpu(int vm_fd, uint32_t id, int *fd_out, struct kvm_run **run_out);

/* KVM_SET_USER_MEMORY_REGION (size 0 deletes the slot). */
int vmm_kvm_set_memory(int vm_fd, uint32_t slot, uint32_t flags, uint64_t gpa,
                       uint64_t size, void *hva, const char *caller);

/* Any other VM or vCPU ioctl; @what names it in the error sentence. */
int vmm_kvm_ioctl(int fd, unsigned long req, void *arg, const char *what);

/* KVM_RUN without error reporting: returns 0 or -errno (-EINTR on a kick). */
static inline int vmm_kvm_run(int vcpu_fd);

#include <errno.h>
#include <sys/ioctl.h>
static inline int vmm_kvm_run(int vcpu_fd)
{
    return ioctl(vcpu_fd, KVM_RUN, 0) < 0 ? -errno : 0;
}

#endif
