/* Integration-test harness; see harness.h. */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef TEST_GUESTS_DIR
#error "TEST_GUESTS_DIR must name the build directory of tests/guests"
#endif

void h_require_kvm(void)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        print_message("SKIP: /dev/kvm is not usable here (%s); "
                      "integration tests need KVM\n", strerror(errno));
        skip();
    }
    close(fd);
}

const char *h_guest_path(const char *name)
{
    static __thread char path[4096];
    const char *dir = getenv("VMM_TEST_GUESTS");
    if (dir == NULL || dir[0] == '\0')
        dir = TEST_GUESTS_DIR;
    snprintf(path, sizeof path, "%s/%s.bin", dir, name);
    return path;
}

vmm_vm *h_vm_new(uint32_t nvcpus, uint64_t ram)
{
    struct vmm_vm_config cfg = VMM_VM_CONFIG_INIT;
    vmm_vm *vm = NULL;
    cfg.num_vcpus = nvcpus;
    H_OK(vmm_vm_create(&cfg, &vm));
    assert_non_null(vm);
    H_OK(vmm_memory_add_ram(vm, 0, ram ? ram : H_RAM_SIZE, 0, NULL));
    return vm;
}

size_t h_load_file(vmm_vm *vm, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open guest %s: %s", path, strerror(errno));
    static uint8_t buf[64 * 1024];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_true(n > 0 && n < sizeof buf);
    H_OK(vmm_memory_write(vm, GUEST_LOAD_GPA, buf, n));
    return n;
}

void h_load(vmm_vm *vm, const char *name)
{
    h_load_file(vm, h_guest_path(name));
}

void h_setup_vcpu(vmm_vcpu *vcpu, uint32_t mode, uint32_t flags)
{
    struct vmm_cpu_mode_config mc = VMM_CPU_MODE_CONFIG_INIT(mode);
    uint64_t tsize = 0;
    int idx = vmm_vcpu_index(vcpu);
    assert_true(idx >= 0);
    H_OK(vmm_cpu_mode_tables_size(mode, 0, &tsize));
    mc.flags = flags;
    if (mode != VMM_CPU_MODE_REAL) {
        mc.tables_gpa = H_TABLES_GPA;
        mc.tables_size = tsize;
    }
    H_OK(vmm_vcpu_set_cpu_mode(vcpu, &mc));

    struct vmm_regs r;
    H_OK(vmm_vcpu_get_regs(vcpu, &r));
    r.rip = GUEST_LOAD_GPA;
    r.rsp = H_STACK_TOP - (uint64_t)idx * 0x1000;
    r.rdi = (uint64_t)idx;
    H_OK(vmm_vcpu_set_regs(vcpu, &r));
}

vmm_vcpu *h_vcpu(vmm_vm *vm, uint32_t index)
{
    vmm_vcpu *v = NULL;
    H_OK(vmm_vm_get_vcpu(vm, index, &v));
    assert_non_null(v);
    return v;
}

vmm_vm *h_guest_vm(const char *name, uint32_t mode, uint32_t flags,
                   uint32_t nvcpus)
{
    vmm_vm *vm = h_vm_new(nvcpus, 0);
    h_load(vm, name);
    for (uint32_t i = 0; i < nvcpus; i++)
        h_setup_vcpu(h_vcpu(vm, i), mode, flags);
    return vm;
}

/* ---- recording device ---------------------------------------------------- */

uint64_t h_le(const void *p, uint32_t len)
{
    const uint8_t *b = p;
    uint64_t v = 0;
    for (uint32_t i = 0; i < len && i < 8; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

void h_put_le(void *p, uint64_t v, uint32_t len)
{
    uint8_t *b = p;
    for (uint32_t i = 0; i < len && i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

static int h_io(vmm_device *dev, vmm_vcpu *vcpu, const struct vmm_io *io,
                void *user, uint8_t space)
{
    struct h_dev *d = user;
    if (io == NULL || io->data == NULL || io->space != space ||
        (io->len != 1 && io->len != 2 && io->len != 4 && io->len != 8) ||
        (space == VMM_SPACE_PIO && io->len == 8) || dev != d->dev ||
        io->offset > io->addr) {
        d->bad_args++;
        return -EPROTO;
    }
    if (io->is_write && !d->no_store && io->offset + io->len <= sizeof d->regs)
        memcpy(d->regs + io->offset, io->data, io->len);
    if (!io->is_write && !d->no_fill) {
        if (io->offset + io->len <= sizeof d->regs)
            memcpy(io->data, d->regs + io->offset, io->len);
    }
    if (d->n < H_LOG_MAX) {
        struct h_access *a = &d->log[d->n];
        a->space = space;
        a->is_write = io->is_write;
        a->len = io->len;
        a->addr = io->addr;
        a->offset = io->offset;
        a->value = h_le(io->data, io->len);
        a->vcpu = vmm_vcpu_index(vcpu);
    }
    d->n++;
    if (space == VMM_SPACE_PIO && io->is_write && io->len == 1 &&
        d->text_len + 1 < sizeof d->text) {
        d->text[d->text_len++] = (char)*(uint8_t *)io->data;
        d->text[d->text_len] = '\0';
    }
    if (d->hook)
        return d->hook(d, vcpu, io);
    return d->ret;
}

static int h_pio_cb(vmm_device *dev, vmm_vcpu *vcpu, const struct vmm_io *io,
                    void *user)
{
    return h_io(dev, vcpu, io, user, VMM_SPACE_PIO);
}

static int h_mmio_cb(vmm_device *dev, vmm_vcpu *vcpu, const struct vmm_io *io,
                     void *user)
{
    return h_io(dev, vcpu, io, user, VMM_SPACE_MMIO);
}

static void h_destroy_cb(void *user)
{
    struct h_dev *d = user;
    d->destroyed++;
}

struct h_dev *h_dev_new(const char *name)
{
    struct h_dev *d = calloc(1, sizeof *d);
    assert_non_null(d);
    snprintf(d->name, sizeof d->name, "%s", name);
    return d;
}

void h_dev_free(struct h_dev *d)
{
    free(d);
}

void h_dev_attach(vmm_vm *vm, struct h_dev *d)
{
    struct vmm_device_ops ops = VMM_DEVICE_OPS_INIT;
    ops.name = d->name;
    ops.pio = h_pio_cb;
    ops.mmio = h_mmio_cb;
    ops.destroy = h_destroy_cb;
    d->vm = vm;
    H_OK(vmm_device_attach(vm, &ops, d, &d->dev));
    assert_non_null(d->dev);
}

void h_dev_pio(struct h_dev *d, uint16_t port, uint32_t len)
{
    H_OK(vmm_device_map_pio(d->dev, port, len));
}

void h_dev_mmio(struct h_dev *d, uint64_t gpa, uint64_t len)
{
    H_OK(vmm_device_map_mmio(d->dev, gpa, len));
}

struct h_dev *h_pio_dev(vmm_vm *vm, const char *name, uint16_t port, uint32_t len)
{
    struct h_dev *d = h_dev_new(name);
    h_dev_attach(vm, d);
    h_dev_pio(d, port, len);
    return d;
}

struct h_dev *h_mmio_dev(vmm_vm *vm, const char *name, uint64_t gpa, uint64_t len)
{
    struct h_dev *d = h_dev_new(name);
    h_dev_attach(vm, d);
    h_dev_mmio(d, gpa, len);
    return d;
}

size_t h_dev_count(const struct h_dev *d, int space, int is_write)
{
    size_t c = 0, n = d->n < H_LOG_MAX ? d->n : H_LOG_MAX;
    for (size_t i = 0; i < n; i++)
        if (d->log[i].space == space && (is_write < 0 || d->log[i].is_write == is_write))
            c++;
    return c;
}

/* ---- running ------------------------------------------------------------- */

static const char *h_describe(const struct vmm_exit *e)
{
    static __thread char buf[256];
    switch (e->reason) {
    case VMM_EXIT_PIO:
        snprintf(buf, sizeof buf, "pio port %#x size %u %s count %u",
                 e->pio.port, e->pio.size, e->pio.is_write ? "write" : "read",
                 e->pio.count);
        break;
    case VMM_EXIT_MMIO:
        snprintf(buf, sizeof buf, "mmio gpa %#llx len %u %s",
                 (unsigned long long)e->mmio.gpa, e->mmio.len,
                 e->mmio.is_write ? "write" : "read");
        break;
    case VMM_EXIT_INTERNAL_ERROR:
        snprintf(buf, sizeof buf, "internal error suberror %u", e->internal.suberror);
        break;
    default:
        snprintf(buf, sizeof buf, "%s (%u)", vmm_exit_reason_name(e->reason), e->reason);
    }
    return buf;
}

void h_run_expect(vmm_vcpu *vcpu, struct vmm_exit *exit, uint32_t reason)
{
    memset(exit, 0, sizeof *exit);
    int rc = vmm_vcpu_run(vcpu, exit);
    if (rc != 0)
        fail_msg("vmm_vcpu_run returned %d (%s): %s", rc, vmm_strerror(rc),
                 vmm_last_error());
    if (exit->reason != reason) {
        uint64_t rip = 0;
        vmm_vcpu_get_reg(vcpu, VMM_REG_RIP, &rip);
        fail_msg("vmm_vcpu_run: exit %s at rip %#llx, expected %s",
                 h_describe(exit), (unsigned long long)rip,
                 vmm_exit_reason_name(reason));
    }
}

void h_run_to_hlt(vmm_vcpu *vcpu)
{
    struct vmm_exit e;
    h_run_expect(vcpu, &e, VMM_EXIT_HLT);
}

double h_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

long h_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    long n = 0;
    if (d == NULL)
        return -1;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

long h_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}
