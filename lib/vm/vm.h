/* The internal shape of the opaque handles: VM, vCPU, device. Only lib/
 * sees these. */
#ifndef VMM_LIB_VM_H
#define VMM_LIB_VM_H

#include <vmm/vmm.h>

#include "core/range_map.h"
#include "memory/memory.h"

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>

struct vmm_hypercall_entry {
    uint64_t nr;
    vmm_hypercall_fn fn;
    void *user;
};

struct vmm_device {
    vmm_vm *vm;
    struct vmm_device_ops ops; /* copied; ops.name points at name[] */
    char name[64];
    void *user;
    bool serialize;            /* take lock around callbacks */
    bool racy_counters;        /* callbacks may run concurrently: count atomically */
    bool own_errors;           /* its callbacks word their own vmm_last_error() */
    uint32_t irq_asserted;     /* GSIs this device holds high (vm->irq_lock) */
    pthread_mutex_t lock;
    struct vmm_device *prev, *next; /* attach order */
    /* Callback invocations, indexed by VMM_ACCESS_INDEX(space, is_write). */
    uint64_t accesses[4];
    uint64_t errors, unhandled;
};

/* A vCPU's memory of the last range it hit in one address space. len 0
 * never matches. */
struct vmm_range_cache {
    uint64_t base;
    uint64_t len;
    vmm_device *dev;
};

struct vmm_vcpu {
    vmm_vm *vm;
    uint32_t index;
    int fd;
    struct kvm_run *run;
    size_t run_size;

    struct vmm_range_cache pio_cache, mmio_cache;

    int running;          /* atomic: a thread is inside vmm_vcpu_run() */
    uint32_t requests;    /* atomic VMM_REQ_* bits from other threads */
    uint32_t exit_request_kind;  /* vmm_vcpu_request_exit(), with VMM_REQ_EXIT */
    uint64_t exit_request_value;
    pthread_mutex_t thread_lock; /* guards thread/has_thread for signalling */
    pthread_t thread;
    bool has_thread;

    /* An IN or MMIO read is waiting for the next KVM_RUN to complete it.
     * KVM_SET_REGS before then loses the read value (api.rst, KVM_RUN: "the
     * corresponding operations are complete only after userspace has
     * re-entered the kernel"), so register writes made meanwhile are kept
     * here, as the fields that differ from KVM's state, and applied once the
     * access has completed. */
    bool read_pending;
    uint32_t deferred_mask;      /* bit i: field i of struct vmm_regs */
    struct vmm_regs deferred;

    struct vmm_cpuid_entry *cpuid;
    uint32_t cpuid_count;

    /* Written only by the running thread, read by anyone: relaxed atomics.
     * The total is derived when read, so each exit costs one add. */
    uint64_t exits[VMM_STAT_EXIT_COUNT];
};

/* vmm_vm::irq_hook kinds. */
#define VMM_IRQ_HOOK_LINE 0 /* a = gsi, b = level (vmm_device_set_irq) */
#define VMM_IRQ_HOOK_MSI 1  /* a = address, b = data (vmm_irq_signal_msi) */

struct vmm_iothread;

struct vmm_vm {
    int fd;
    /* Tests without KVM (tests/virtio/fake): interrupts go here instead of
     * to KVM. NULL on every real VM. */
    int (*irq_hook)(vmm_vm *vm, int kind, uint64_t a, uint64_t b);
    void *irq_hook_user;
    /* The I/O thread (lib/io), started by the first device that needs it. */
    struct vmm_iothread *iothread;
    /* Guest-memory users off the vCPU threads (vmm_vm_io_enter()); a change
     * (vmm_vm_begin_change()) waits for them to leave. Atomic. */
    int io_users;
    /* --- lib/kvm/kvm_irq.c: the GSI routing table (KVM_SET_GSI_ROUTING
     * replaces it wholesale, so the VM keeps the whole of it). Created by
     * the first vmm_irq_msi_alloc() (under irq_lock), then guarded by its
     * own mutex; freed by vmm_vm_destroy() (vmm_irq_routes_free()). --- */
    struct vmm_irq_routes *irq_routes;
    /* GSIs handed to virtio devices (lib/devices/virtio/virtio_irq.c),
     * under irq_lock. */
    uint32_t virtio_irqs;
    /* The PCI host bridge (lib/devices/pci), created with the first PCI
     * device; freed by vmm_vm_destroy() after the devices. */
    void *pci_host;
    uint32_t platform;
    uint32_t num_vcpus;
    uint16_t hypercall_port;
    int kick_signal; /* 0: none */
    bool has_irqchip; /* KVM_CREATE_IRQCHIP done (platform PC) */
    bool open_bus;    /* VMM_VM_F_OPEN_BUS */
    /* Interrupt lines are wired-OR: KVM_IRQ_LINE from user space has one
     * source, so a GSI is raised when its first device asserts it and
     * lowered when its last one lets go. */
    pthread_mutex_t irq_lock;
    uint16_t irq_holders[24];
    vmm_vcpu **vcpus;

    struct vmm_memory memory;
    struct vmm_range_map pio;  /* owner: vmm_device * */
    struct vmm_range_map mmio; /* owner: vmm_device * */
    vmm_device *devices_head, *devices_tail;

    struct vmm_hypercall_entry *hypercalls; /* sorted by nr */
    size_t hypercall_count, hypercall_capacity;

    int running_vcpus;  /* atomic: vCPUs inside vmm_vcpu_run() */
    /* Changes to the memory map, the address spaces and the hypercall table
     * happen only while no vCPU runs. change_lock serialises changers;
     * `changing` and running_vcpus form a Dekker pair (each side raises its
     * own count, then checks the other's), so a vCPU cannot start while a
     * change is under way, and a change cannot start while a vCPU runs. */
    pthread_mutex_t change_lock;
    int changing;       /* atomic */
};

/* vmm_vcpu::requests: vmm_vm_stop() and vmm_vcpu_kick() not yet reported. */
#define VMM_REQ_STOP (1u << 0)
#define VMM_REQ_KICK (1u << 1)
#define VMM_REQ_EXIT (1u << 2) /* vmm_vcpu_request_exit(): set by the vCPU's own thread */

/* Index into vmm_device::accesses: PIO read, PIO write, MMIO read, MMIO write. */
#define VMM_ACCESS_INDEX(space, is_write) (((space) << 1) | ((is_write) ? 1 : 0))

/* Relaxed single-writer counter bump: a plain add, but tear-free for readers. */
#define VMM_STAT_INC(field) \
    __atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED)

/* -EBUSY with a sentence if any vCPU of @vm is running (a snapshot: use
 * vmm_vm_begin_change() to keep it so). */
int vmm_vm_check_idle(const vmm_vm *vm, const char *caller);
/* Starts a change of the VM's maps or tables: 0 with no vCPU running and
 * none able to start until vmm_vm_end_change(), or -EBUSY. */
int vmm_vm_begin_change(vmm_vm *vm, const char *caller);
void vmm_vm_end_change(vmm_vm *vm);

/* lib/vcpu: creation and teardown, used by vm.c. */
int vmm_vcpu_create(vmm_vm *vm, uint32_t index, vmm_vcpu **out);
void vmm_vcpu_free(vmm_vcpu *vcpu);
/* Posts VMM_REQ_* bits and pulls the vCPU out of KVM_RUN (immediate_exit
 * plus the kick signal) so that it sees them. */
void vmm_vcpu_request(vmm_vcpu *vcpu, uint32_t requests);
/* Installs the no-op handler for @sig if its disposition is the default. */
int vmm_kick_signal_install(int sig, const char *caller);

/* lib/vcpu/regs.c: finish a pending read (see read_pending) and apply the
 * register writes deferred behind it. Returns 0, a negative errno, or 1 if
 * completing it produced a new exit (a REP INS that needs another round),
 * which the caller must dispatch; deferred writes then stay pending. */
int vmm_vcpu_complete_read(vmm_vcpu *vcpu);

/* lib/x86: the initial CPUID table of a new vCPU. */
int vmm_x86_cpuid_init(vmm_vcpu *vcpu);

/* lib/device: internal attach (no user-facing checks on the name prefix),
 * and teardown of every device at VM destruction. */
void vmm_devices_destroy_all(vmm_vm *vm);
/* lib/devices/pci: frees vm->pci_host, after every device is gone. */
void vmm_pci_host_free(vmm_vm *vm);

/* --- lib/kvm/kvm_irq.c internals (kvm_irq.h is the fixed contract; these
 * are for vm.c and the unit test tests/virtio/iothread). --- */
struct kvm_irq_routing_entry;
/* Frees vm->irq_routes (VM destruction). */
void vmm_irq_routes_free(vmm_vm *vm);
/* A routing table with MSI GSIs 24 .. @gsi_limit - 1 (KVM_CAP_IRQ_ROUTING);
 * NULL when out of memory. */
struct vmm_irq_routes *vmm_irq_routes_new(uint32_t gsi_limit);
void vmm_irq_routes_delete(struct vmm_irq_routes *rt);
/* The lowest free MSI GSI, now allocated (no route yet), or -ENOSPC /
 * -ENOMEM; no error sentence (the caller words it). */
int vmm_irq_routes_alloc(struct vmm_irq_routes *rt);
/* Routes allocated @gsi to (address, data); -ENOENT if not allocated. */
int vmm_irq_routes_set(struct vmm_irq_routes *rt, uint32_t gsi, uint64_t address, uint32_t data);
/* Frees @gsi and its route; -ENOENT if not allocated. */
int vmm_irq_routes_release(struct vmm_irq_routes *rt, uint32_t gsi);
/* Writes the table KVM gets into @out (room for @max entries): the
 * irqchip defaults, then one MSI entry per routed GSI in GSI order.
 * Returns the number of entries the table has (may exceed @max). */
uint32_t vmm_irq_routes_build(const struct vmm_irq_routes *rt, struct kvm_irq_routing_entry *out,
                              uint32_t max);

/* --- lib/io/iothread.c: whether the calling thread is between
 * vmm_vm_io_enter(@vm) and vmm_vm_io_leave(@vm) (vmm_vm_begin_change()
 * would wait for itself). --- */
bool vmm_vm_io_held(const vmm_vm *vm);

/* lib/dispatch: the dispatcher itself is inline, in dispatch/dispatch.h.
 * The doorbell device that serves hypercalls. */
int vmm_hypercall_attach_doorbell(vmm_vm *vm);
void vmm_hypercalls_free(vmm_vm *vm);

#endif
