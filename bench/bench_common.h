/* Shared helpers for the benchmarks: clocks, medians, and a minimal raw-ioctl
 * KVM VM used as the baseline every library figure is compared with.
 *
 * The raw VM does what the KVM API documentation (api.rst) asks of the
 * smallest correct VMM running a real-mode guest, and nothing else:
 *   /dev/kvm: KVM_GET_API_VERSION, KVM_GET_VCPU_MMAP_SIZE (once per process)
 *   KVM_CREATE_VM, KVM_SET_TSS_ADDR (required on Intel hosts),
 *   anonymous RAM + KVM_SET_USER_MEMORY_REGION,
 *   KVM_CREATE_VCPU + mmap of its kvm_run,
 *   KVM_GET_SREGS/KVM_SET_SREGS (cs.base = 0, cs.selector = 0),
 *   KVM_SET_REGS (rip = entry, rflags = 2),
 *   KVM_RUN until KVM_EXIT_HLT.
 * Optionally (raw_ctx.set_cpuid) it also gives the vCPU the host's supported
 * CPUID with KVM_SET_CPUID2, which libvmm does for every vCPU it creates. */
#ifndef VMM_BENCH_COMMON_H
#define VMM_BENCH_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* Same address libvmm uses (lib/vm/vm.c), outside any RAM we map. */
#define RAW_TSS_ADDR 0xfffbd000ul

static inline void bench_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

/* A libvmm call that must succeed (the file includes <vmm/vmm.h>). */
#define CHECK(call)                                                                  \
    do {                                                                             \
        int err_ = (call);                                                           \
        if (err_ < 0)                                                                \
            bench_die("%s: %s (%s)", #call, vmm_strerror(err_), vmm_last_error());   \
    } while (0)

static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Sorts @v in place; returns the median. */
static inline double bench_median(double *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), bench_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* After bench_median(): the value at quantile @q (0..1) of the sorted @v. */
static inline double bench_quantile(const double *v, size_t n, double q)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

/* Raises the soft fd limit to the hard one if fewer than @need are allowed. */
static inline void bench_need_fds(unsigned long need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < need)
            bench_die("need %lu open files, ulimit -n allows %lu", need,
                      (unsigned long)rl.rlim_cur);
    }
}

/* ---- the raw-ioctl baseline ---- */

struct raw_ctx {
    int kvm_fd;
    size_t run_size;
    int set_cpuid;             /* also KVM_SET_CPUID2 on each vCPU */
    struct kvm_cpuid2 *cpuid;  /* KVM_GET_SUPPORTED_CPUID, if set_cpuid */
};

struct raw_vm {
    int vm_fd, vcpu_fd;
    struct kvm_run *run;
    size_t run_size;
    uint8_t *mem;
    size_t mem_size;
};

static inline void raw_ctx_open(struct raw_ctx *ctx, int set_cpuid)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (ctx->kvm_fd < 0)
        bench_die("open /dev/kvm: %s", strerror(errno));
    if (ioctl(ctx->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
        bench_die("unexpected KVM API version");
    int sz = ioctl(ctx->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (sz < (int)sizeof(struct kvm_run))
        bench_die("KVM_GET_VCPU_MMAP_SIZE: %d", sz);
    ctx->run_size = (size_t)sz;
    ctx->set_cpuid = set_cpuid;
    if (set_cpuid) {
        for (uint32_t n = 64;; n *= 2) {
            struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
            if (!c)
                bench_die("out of memory");
            c->nent = n;
            if (ioctl(ctx->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
                ctx->cpuid = c;
                break;
            }
            free(c);
            if (errno != E2BIG || n >= 4096)
                bench_die("KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
        }
    }
}

static inline void raw_ctx_close(struct raw_ctx *ctx)
{
    free(ctx->cpuid);
    close(ctx->kvm_fd);
}

/* A VM with @mem_size bytes of RAM at GPA 0 and one vCPU. */
static inline void raw_vm_create(const struct raw_ctx *ctx, struct raw_vm *vm, size_t mem_size)
{
    vm->vm_fd = ioctl(ctx->kvm_fd, KVM_CREATE_VM, 0);
    if (vm->vm_fd < 0)
        bench_die("KVM_CREATE_VM: %s", strerror(errno));
    if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, RAW_TSS_ADDR) < 0)
        bench_die("KVM_SET_TSS_ADDR: %s", strerror(errno));
    uint64_t identity_map = RAW_TSS_ADDR - 0x1000; /* KVM's default, as libvmm sets it */
    if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity_map) < 0)
        bench_die("KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
    vm->mem_size = mem_size;
    vm->mem = mmap(NULL, mem_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (vm->mem == MAP_FAILED)
        bench_die("mmap guest RAM: %s", strerror(errno));
    struct kvm_userspace_memory_region region = {
        .slot = 0,
        .guest_phys_addr = 0,
        .memory_size = mem_size,
        .userspace_addr = (uint64_t)(uintptr_t)vm->mem,
    };
    if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        bench_die("KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
    vm->vcpu_fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0);
    if (vm->vcpu_fd < 0)
        bench_die("KVM_CREATE_VCPU: %s", strerror(errno));
    vm->run_size = ctx->run_size;
    vm->run = mmap(NULL, ctx->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpu_fd, 0);
    if (vm->run == MAP_FAILED)
        bench_die("mmap kvm_run: %s", strerror(errno));
    if (ctx->set_cpuid && ioctl(vm->vcpu_fd, KVM_SET_CPUID2, ctx->cpuid) < 0)
        bench_die("KVM_SET_CPUID2: %s", strerror(errno));
}

/* Real mode, CS:IP = 0:@entry, flat segments at base 0. */
static inline void raw_vm_real_mode(struct raw_vm *vm, uint64_t entry)
{
    struct kvm_sregs sregs;
    if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
        bench_die("KVM_GET_SREGS: %s", strerror(errno));
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
        bench_die("KVM_SET_SREGS: %s", strerror(errno));
    struct kvm_regs regs = { .rip = entry, .rflags = 2 };
    if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs) < 0)
        bench_die("KVM_SET_REGS: %s", strerror(errno));
}

static inline void raw_vm_set_rip(struct raw_vm *vm, uint64_t rip)
{
    struct kvm_regs regs = { .rip = rip, .rflags = 2 };
    if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs) < 0)
        bench_die("KVM_SET_REGS: %s", strerror(errno));
}

static inline void raw_vm_destroy(struct raw_vm *vm)
{
    munmap(vm->run, vm->run_size);
    close(vm->vcpu_fd);
    close(vm->vm_fd);
    munmap(vm->mem, vm->mem_size);
}

/* Runs until HLT; port writes are consumed by adding their first data byte
 * to *@sink (the same work the library benchmark's device callback does).
 * Returns the number of KVM_EXIT_IO exits. */
static inline uint64_t raw_vm_run_to_hlt(struct raw_vm *vm, uint64_t *sink)
{
    struct kvm_run *run = vm->run;
    uint64_t ios = 0;
    for (;;) {
        if (ioctl(vm->vcpu_fd, KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            bench_die("KVM_RUN: %s", strerror(errno));
        }
        switch (run->exit_reason) {
        case KVM_EXIT_IO:
            if (run->io.direction == KVM_EXIT_IO_OUT)
                *sink += *((uint8_t *)run + run->io.data_offset);
            ios++;
            break;
        case KVM_EXIT_HLT:
            return ios;
        default:
            bench_die("raw guest: unexpected exit reason %u", run->exit_reason);
        }
    }
}

#endif
