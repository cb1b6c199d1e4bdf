/* Hostile input: NULL and garbage arguments to every public function give
 * -EINVAL (or the documented code) and leave a fresh vmm_last_error(). */
#include "harness.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static vmm_vm *g_vm;       /* a 1-vCPU VM with H_RAM_SIZE of RAM */
static vmm_vcpu *g_cpu;
static char g_sentinel[512];

/* Provoke a known error so that a stale message cannot pass for a new one. */
static void sentinel(void)
{
    vmm_vcpu *v = NULL;
    int rc = vmm_vm_get_vcpu(g_vm, 0x7eadbeef, &v);
    assert_int_equal(rc, -ENOENT);
    snprintf(g_sentinel, sizeof g_sentinel, "%s", vmm_last_error());
}

#define E(expected, call)                                                   \
    do {                                                                    \
        sentinel();                                                         \
        int rc_ = (call);                                                   \
        if (rc_ != (expected))                                              \
            fail_msg("line %d: %s returned %d (%s), expected %d (%s); "    \
                     "last error \"%s\"", __LINE__, #call, rc_,             \
                     vmm_strerror(rc_), (expected), vmm_strerror(expected), \
                     vmm_last_error());                                     \
        const char *m_ = vmm_last_error();                                  \
        if (m_ == NULL || m_[0] == '\0' || strcmp(m_, g_sentinel) == 0)     \
            fail_msg("line %d: %s left no error message of its own "       \
                     "(\"%s\")", __LINE__, #call, m_ ? m_ : "(null)");      \
    } while (0)

static int setup(void **state)
{
    (void)state;
    if (access("/dev/kvm", R_OK | W_OK) != 0)
        return 0;                 /* tests skip themselves */
    g_vm = h_vm_new(1, 0);
    g_cpu = h_vcpu(g_vm, 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    vmm_vm_destroy(g_vm);
    g_vm = NULL;
    return 0;
}

static int dummy_io(vmm_device *d, vmm_vcpu *c, const struct vmm_io *io, void *u)
{
    (void)d; (void)c; (void)io; (void)u;
    return 0;
}
static int dummy_hc(vmm_vcpu *c, const struct vmm_hypercall *h, uint64_t *r, void *u)
{
    (void)c; (void)h; (void)r; (void)u;
    return 0;
}

static void test_error_version_exit_names(void **state)
{
    (void)state;
    h_require_kvm();
    const int errs[] = { 0, -EINVAL, EINVAL, INT_MIN, INT_MAX, -99999, 99999, -1 };
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        const char *s = vmm_strerror(errs[i]);
        assert_non_null(s);
        assert_true(s[0] != '\0');
    }
    assert_string_equal(vmm_strerror(EINVAL), vmm_strerror(-EINVAL));
    assert_non_null(vmm_last_error());

    E(-EINVAL, vmm_set_log_callback(NULL, NULL, -1));
    E(-EINVAL, vmm_set_log_callback(NULL, NULL, VMM_LOG_DEBUG + 1));
    E(-EINVAL, vmm_set_log_callback(NULL, NULL, INT_MAX));

    for (uint32_t r = VMM_EXIT_HLT; r <= VMM_EXIT_REQUEST; r++) {
        assert_non_null(vmm_exit_reason_name(r));
        assert_string_not_equal(vmm_exit_reason_name(r), "invalid");
    }
    assert_string_equal(vmm_exit_reason_name(VMM_EXIT_REQUEST + 1), "invalid");
    assert_string_equal(vmm_exit_reason_name(0xffffffffu), "invalid");

    assert_int_equal(vmm_version(), VMM_VERSION_NUMBER);
    char version[32];
    snprintf(version, sizeof version, "%d.%d.%d", VMM_VERSION_MAJOR, VMM_VERSION_MINOR,
             VMM_VERSION_PATCH);
    assert_string_equal(vmm_version_string(), version);
    assert_int_equal(vmm_has_feature(0), 0);
    assert_int_equal(vmm_has_feature(9999), 0);
    assert_int_equal(vmm_has_feature(0xffffffffu), 0);
    assert_int_equal(vmm_has_feature(VMM_FEATURE_HYPERCALLS), 1);
    assert_int_equal(vmm_has_feature(VMM_FEATURE_LONG_MODE), 1);
}

static void test_vm_calls(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = (vmm_vm *)0x1;
    struct vmm_vm_config cfg;

    vmm_vm_config_init(NULL);           /* ignored, must not crash */
    vmm_vm_destroy(NULL);               /* nothing happens */
    memset(&cfg, 0x5a, sizeof cfg);
    vmm_vm_config_init(&cfg);
    assert_int_equal(cfg.struct_size, sizeof cfg);
    assert_int_equal(cfg.num_vcpus, 1);
    assert_int_equal(cfg.hypercall_port, VMM_HYPERCALL_PORT_DEFAULT);
    assert_int_equal(cfg.flags, 0);
    assert_int_equal(cfg.reserved0, 0);

    E(-EINVAL, vmm_vm_create(NULL, &vm));
    assert_ptr_equal(vm, (vmm_vm *)0x1);
    E(-EINVAL, vmm_vm_create(&cfg, NULL));
#define BAD_CFG(field, value)                                               \
    do {                                                                    \
        vmm_vm_config_init(&cfg);                                           \
        cfg.field = value;                                                  \
        E(-EINVAL, vmm_vm_create(&cfg, &vm));                               \
    } while (0)
    BAD_CFG(struct_size, 0);
    BAD_CFG(struct_size, 4);
    BAD_CFG(flags, 2); /* bit 0 is VMM_VM_F_OPEN_BUS */
    BAD_CFG(flags, 0x80000000u);
    BAD_CFG(platform, 77);
    BAD_CFG(platform, 0xffffffffu);
    BAD_CFG(num_vcpus, 0);
    BAD_CFG(num_vcpus, VMM_MAX_VCPUS + 1);
    BAD_CFG(num_vcpus, 0xffffffffu);
    BAD_CFG(reserved0, 1);

    /* a larger struct from a newer caller: fine if the tail is zero */
    union { struct vmm_vm_config c; uint8_t raw[256]; } big;
    memset(&big, 0, sizeof big);
    vmm_vm_config_init(&big.c);
    big.c.struct_size = sizeof big;
    vm = NULL;
    H_OK(vmm_vm_create(&big.c, &vm));
    vmm_vm_destroy(vm);
    big.raw[200] = 1;
    E(-EINVAL, vmm_vm_create(&big.c, &vm));

    vmm_vcpu *cpu = NULL;
    E(-EINVAL, vmm_vm_num_vcpus(NULL));
    assert_int_equal(vmm_vm_num_vcpus(g_vm), 1);
    E(-EINVAL, vmm_vm_get_vcpu(NULL, 0, &cpu));
    E(-EINVAL, vmm_vm_get_vcpu(g_vm, 0, NULL));
    E(-ENOENT, vmm_vm_get_vcpu(g_vm, 1, &cpu));
    E(-ENOENT, vmm_vm_get_vcpu(g_vm, 0xffffffffu, &cpu));
    struct vmm_exit ex;
    E(-EINVAL, vmm_vm_run(NULL, &ex));
    E(-EINVAL, vmm_vm_stop(NULL));
    E(-EINVAL, vmm_vm_reset_devices(NULL));
    struct vmm_vm_stats vs = { .struct_size = sizeof vs };
    E(-EINVAL, vmm_vm_get_stats(NULL, &vs));
    E(-EINVAL, vmm_vm_get_stats(g_vm, NULL));
    vs.struct_size = 0;
    E(-EINVAL, vmm_vm_get_stats(g_vm, &vs));
    vs.struct_size = 4;
    E(-EINVAL, vmm_vm_get_stats(g_vm, &vs));
}

static void test_memory_calls(void **state)
{
    (void)state;
    h_require_kvm();
    void *hva = NULL;
    uint8_t buf[64] = { 0 };
    const uint64_t top = 0xfffffffffffff000ull;

    E(-EINVAL, vmm_memory_add_ram(NULL, 0x400000, 0x1000, 0, NULL));
    E(-EINVAL, vmm_memory_add_ram(g_vm, 0x400001, 0x1000, 0, NULL));
    E(-EINVAL, vmm_memory_add_ram(g_vm, 0x400000, 0, 0, NULL));
    E(-EINVAL, vmm_memory_add_ram(g_vm, 0x400000, 0x1001, 0, NULL));
    E(-EINVAL, vmm_memory_add_ram(g_vm, top, 0x2000, 0, NULL));
    E(-EINVAL, vmm_memory_add_ram(g_vm, 0x400000, 0x1000, 2, NULL));
    E(-EINVAL, vmm_memory_add_ram(g_vm, 0x400000, 0x1000, 0x80000000u, NULL));
    E(-EEXIST, vmm_memory_add_ram(g_vm, 0, 0x1000, 0, NULL));
    E(-EEXIST, vmm_memory_add_ram(g_vm, H_RAM_SIZE - 0x1000, 0x2000, 0, NULL));

    void *page = mmap(NULL, 0x2000, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(page != MAP_FAILED);
    E(-EINVAL, vmm_memory_add_host(NULL, 0x400000, page, 0x1000, 0));
    E(-EINVAL, vmm_memory_add_host(g_vm, 0x400000, NULL, 0x1000, 0));
    E(-EINVAL, vmm_memory_add_host(g_vm, 0x400000, (char *)page + 8, 0x1000, 0));
    E(-EINVAL, vmm_memory_add_host(g_vm, 0x400000, page, 0x800, 0));
    E(-EINVAL, vmm_memory_add_host(g_vm, 0x400800, page, 0x1000, 0));
    E(-EINVAL, vmm_memory_add_host(g_vm, 0x400000, page, 0x1000, 4));
    E(-EEXIST, vmm_memory_add_host(g_vm, 0x1000, page, 0x1000, 0));

    E(-EBADF, vmm_memory_add_fd(g_vm, 0x400000, 0x1000, -1, 0, 0, &hva));
    E(-EBADF, vmm_memory_add_fd(g_vm, 0x400000, 0x1000, 987654, 0, 0, &hva));
    E(-EINVAL, vmm_memory_add_fd(NULL, 0x400000, 0x1000, 0, 0, 0, &hva));
    int mfd = memfd_create("itest", MFD_CLOEXEC);
    assert_true(mfd >= 0);
    assert_int_equal(ftruncate(mfd, 0x4000), 0);
    E(-EINVAL, vmm_memory_add_fd(g_vm, 0x400000, 0x1000, mfd, 0x10, 0, &hva));
    E(-EINVAL, vmm_memory_add_fd(g_vm, 0x400000, 0, mfd, 0, 0, &hva));
    E(-EINVAL, vmm_memory_add_fd(g_vm, 0x400000, 0x1000, mfd, 0, 8, &hva));
    E(-EEXIST, vmm_memory_add_fd(g_vm, 0, 0x1000, mfd, 0, 0, &hva));

    E(-EINVAL, vmm_memory_remove(NULL, 0));
    E(-ENOENT, vmm_memory_remove(g_vm, 0x1000));     /* inside, not a start */
    E(-ENOENT, vmm_memory_remove(g_vm, 0x40000000));

    E(-EINVAL, vmm_memory_read(NULL, 0, buf, 8));
    E(-EINVAL, vmm_memory_read(g_vm, 0, NULL, 8));
    E(-EFAULT, vmm_memory_read(g_vm, H_RAM_SIZE, buf, 1));
    E(-EFAULT, vmm_memory_read(g_vm, H_RAM_SIZE - 4, buf, 8));
    E(-EFAULT, vmm_memory_read(g_vm, 0xffffffffffffff00ull, buf, 0x200));
    E(-EFAULT, vmm_memory_read(g_vm, 0x1000, buf, SIZE_MAX));
    E(-EFAULT, vmm_memory_read(g_vm, 0x40000000, buf, 0));
    H_OK(vmm_memory_read(g_vm, 0x1000, buf, 0));
    H_OK(vmm_memory_read(g_vm, H_RAM_SIZE - 8, buf, 8));
    E(-EINVAL, vmm_memory_write(NULL, 0, buf, 8));
    E(-EINVAL, vmm_memory_write(g_vm, 0, NULL, 8));
    E(-EFAULT, vmm_memory_write(g_vm, H_RAM_SIZE - 4, buf, 8));
    E(-EFAULT, vmm_memory_write(g_vm, 0xfffffffffffffff8ull, buf, 16));
    E(-EFAULT, vmm_memory_write(g_vm, 8, buf, SIZE_MAX - 4));
    E(-EINVAL, vmm_memory_translate(NULL, 0, 8, &hva));
    E(-EINVAL, vmm_memory_translate(g_vm, 0, 8, NULL));
    E(-EFAULT, vmm_memory_translate(g_vm, H_RAM_SIZE - 4, 8, &hva));
    E(-EFAULT, vmm_memory_translate(g_vm, 0x10, UINT64_MAX, &hva));
    E(-EFAULT, vmm_memory_translate(g_vm, UINT64_MAX, 2, &hva));
    H_OK(vmm_memory_translate(g_vm, 0x10, 8, &hva));

    /* a failed add left nothing behind: the range is still free */
    H_OK(vmm_memory_add_ram(g_vm, 0x400000, 0x1000, 0, NULL));
    H_OK(vmm_memory_remove(g_vm, 0x400000));
    H_OK(vmm_memory_add_fd(g_vm, 0x400000, 0x2000, mfd, 0x1000, 0, &hva));
    H_OK(vmm_memory_remove(g_vm, 0x400000));
    close(mfd);
    munmap(page, 0x2000);
}

static void test_vcpu_calls(void **state)
{
    (void)state;
    h_require_kvm();
    struct vmm_regs r;
    struct vmm_sregs s;
    uint64_t v = 0;

    E(-EINVAL, vmm_vcpu_get_regs(NULL, &r));
    E(-EINVAL, vmm_vcpu_get_regs(g_cpu, NULL));
    E(-EINVAL, vmm_vcpu_set_regs(NULL, &r));
    E(-EINVAL, vmm_vcpu_set_regs(g_cpu, NULL));
    E(-EINVAL, vmm_vcpu_get_sregs(NULL, &s));
    E(-EINVAL, vmm_vcpu_get_sregs(g_cpu, NULL));
    E(-EINVAL, vmm_vcpu_set_sregs(NULL, &s));
    E(-EINVAL, vmm_vcpu_set_sregs(g_cpu, NULL));
    E(-EINVAL, vmm_vcpu_get_reg(NULL, VMM_REG_RAX, &v));
    E(-EINVAL, vmm_vcpu_get_reg(g_cpu, VMM_REG_RAX, NULL));
    E(-EINVAL, vmm_vcpu_get_reg(g_cpu, VMM_REG_COUNT, &v));
    E(-EINVAL, vmm_vcpu_get_reg(g_cpu, 0xffffffffu, &v));
    E(-EINVAL, vmm_vcpu_set_reg(NULL, VMM_REG_RAX, 1));
    E(-EINVAL, vmm_vcpu_set_reg(g_cpu, VMM_REG_COUNT, 1));
    E(-EINVAL, vmm_vcpu_set_reg(g_cpu, 0x80000000u, 1));
    E(-EINVAL, vmm_vcpu_index(NULL));
    assert_null(vmm_vcpu_vm(NULL));
    assert_int_equal(vmm_vcpu_index(g_cpu), 0);
    assert_ptr_equal(vmm_vcpu_vm(g_cpu), g_vm);

    /* registers round-trip */
    H_OK(vmm_vcpu_set_reg(g_cpu, VMM_REG_R13, 0x1122334455667788ull));
    H_OK(vmm_vcpu_get_reg(g_cpu, VMM_REG_R13, &v));
    assert_int_equal(v, 0x1122334455667788ull);
    H_OK(vmm_vcpu_get_regs(g_cpu, &r));
    assert_int_equal(r.r13, 0x1122334455667788ull);

    uint64_t sz = 0;
    E(-EINVAL, vmm_cpu_mode_tables_size(0, 0, &sz));
    E(-EINVAL, vmm_cpu_mode_tables_size(4, 0, &sz));
    E(-EINVAL, vmm_cpu_mode_tables_size(0xffffffffu, 0, &sz));
    E(-EINVAL, vmm_cpu_mode_tables_size(VMM_CPU_MODE_LONG, 0, NULL));
    E(-EINVAL, vmm_cpu_mode_tables_size(VMM_CPU_MODE_LONG, 1u << 20, &sz));
    E(-EINVAL, vmm_cpu_mode_tables_size(VMM_CPU_MODE_LONG, 513ull << 30, &sz));
    E(-EINVAL, vmm_cpu_mode_tables_size(VMM_CPU_MODE_LONG, UINT64_MAX & ~((2ull << 20) - 1), &sz));
    H_OK(vmm_cpu_mode_tables_size(VMM_CPU_MODE_REAL, 0, &sz));
    assert_int_equal(sz, 0);
    H_OK(vmm_cpu_mode_tables_size(VMM_CPU_MODE_LONG, 0, &sz));
    assert_true(sz >= 0x3000 + 4 * 0x1000);    /* 4 GiB: 4 page directories */
    uint64_t tsize = sz;

    struct vmm_cpu_mode_config mc;
#define BAD_MODE(expected, field, value)                                    \
    do {                                                                    \
        struct vmm_cpu_mode_config init_ = VMM_CPU_MODE_CONFIG_INIT(VMM_CPU_MODE_LONG); \
        mc = init_;                                                         \
        mc.tables_gpa = H_TABLES_GPA;                                       \
        mc.tables_size = tsize;                                             \
        mc.field = value;                                                   \
        E(expected, vmm_vcpu_set_cpu_mode(g_cpu, &mc));                     \
    } while (0)
    E(-EINVAL, vmm_vcpu_set_cpu_mode(NULL, &mc));
    E(-EINVAL, vmm_vcpu_set_cpu_mode(g_cpu, NULL));
    BAD_MODE(-EINVAL, struct_size, 0);
    BAD_MODE(-EINVAL, struct_size, 8);
    BAD_MODE(-EINVAL, mode, 0);
    BAD_MODE(-EINVAL, mode, 17);
    BAD_MODE(-EINVAL, flags, 2);
    BAD_MODE(-EINVAL, flags, 0x80000000u);
    BAD_MODE(-EINVAL, reserved0, 1);
    BAD_MODE(-EINVAL, tables_gpa, H_TABLES_GPA + 8);
    BAD_MODE(-EFAULT, tables_gpa, 0x40000000);
    BAD_MODE(-EFAULT, tables_gpa, H_RAM_SIZE - 0x1000);
    BAD_MODE(-EFAULT, tables_gpa, 0xfffffffffffff000ull);
    BAD_MODE(-EINVAL, tables_size, 0x1000);
    BAD_MODE(-EINVAL, identity_map_size, 3u << 20);
    BAD_MODE(-EINVAL, identity_map_size, 1024ull << 30);
    {
        struct vmm_cpu_mode_config p_ = VMM_CPU_MODE_CONFIG_INIT(VMM_CPU_MODE_PROTECTED);
        p_.tables_gpa = H_TABLES_GPA;
        p_.tables_size = tsize;
        p_.flags = VMM_CPU_MODE_F_USER;     /* LONG only */
        E(-EINVAL, vmm_vcpu_set_cpu_mode(g_cpu, &p_));
        struct vmm_cpu_mode_config r_ = VMM_CPU_MODE_CONFIG_INIT(VMM_CPU_MODE_REAL);
        r_.flags = VMM_CPU_MODE_F_USER;
        E(-EINVAL, vmm_vcpu_set_cpu_mode(g_cpu, &r_));
    }
    /* and a good config still works after all that */
    {
        struct vmm_cpu_mode_config ok_ = VMM_CPU_MODE_CONFIG_INIT(VMM_CPU_MODE_LONG);
        ok_.tables_gpa = H_TABLES_GPA;
        ok_.tables_size = tsize;
        H_OK(vmm_vcpu_set_cpu_mode(g_cpu, &ok_));
    }

    /* CPUID */
    uint32_t count = 0;
    E(-EINVAL, vmm_vcpu_get_cpuid(NULL, NULL, &count));
    E(-EINVAL, vmm_vcpu_get_cpuid(g_cpu, NULL, NULL));
    count = 5;
    E(-EINVAL, vmm_vcpu_get_cpuid(g_cpu, NULL, &count));
    count = 0;
    E(-E2BIG, vmm_vcpu_get_cpuid(g_cpu, NULL, &count));
    assert_true(count > 0 && count <= 256);
    struct vmm_cpuid_entry *ents = calloc(count, sizeof *ents);
    assert_non_null(ents);
    uint32_t small = 1;
    E(-E2BIG, vmm_vcpu_get_cpuid(g_cpu, ents, &small));
    assert_int_equal(small, count);
    H_OK(vmm_vcpu_get_cpuid(g_cpu, ents, &count));
    int has_leaf0 = 0;
    for (uint32_t i = 0; i < count; i++)
        has_leaf0 |= ents[i].function == 0;
    assert_true(has_leaf0);
    E(-EINVAL, vmm_vcpu_set_cpuid(NULL, ents, count));
    E(-EINVAL, vmm_vcpu_set_cpuid(g_cpu, NULL, count));
    E(-EINVAL, vmm_vcpu_set_cpuid(g_cpu, ents, 0));
    E(-EINVAL, vmm_vcpu_set_cpuid(g_cpu, ents, 257));
    E(-EINVAL, vmm_vcpu_set_cpuid(g_cpu, ents, 0xffffffffu));
    free(ents);

    struct vmm_exit ex;
    E(-EINVAL, vmm_vcpu_run(NULL, &ex));
    E(-EINVAL, vmm_vcpu_run(g_cpu, NULL));
    E(-EINVAL, vmm_vcpu_kick(NULL));
}

static void test_device_and_hypercall_calls(void **state)
{
    (void)state;
    h_require_kvm();
    struct vmm_device_ops ops = VMM_DEVICE_OPS_INIT;
    ops.name = "hostile";
    ops.pio = dummy_io;
    ops.mmio = dummy_io;
    vmm_device *d = NULL;
    H_OK(vmm_device_attach(g_vm, &ops, NULL, &d));

    E(-EINVAL, vmm_device_attach(NULL, &ops, NULL, &d));
    E(-EINVAL, vmm_device_attach(g_vm, NULL, NULL, &d));
    E(-EINVAL, vmm_device_attach(g_vm, &ops, NULL, NULL));
    E(-EINVAL, vmm_device_detach(NULL));
    E(-EINVAL, vmm_device_map_pio(NULL, 0x80, 1));
    E(-EINVAL, vmm_device_map_pio(d, 0x80, 0));
    E(-EINVAL, vmm_device_map_pio(d, 0xffff, 2));
    E(-EINVAL, vmm_device_map_pio(d, 0, 0xffffffffu));
    E(-EINVAL, vmm_device_map_mmio(NULL, 0xd0000000, 1));
    E(-EINVAL, vmm_device_map_mmio(d, 0xd0000000, 0));
    E(-EINVAL, vmm_device_map_mmio(d, UINT64_MAX, 2));
    E(-EINVAL, vmm_device_map_mmio(d, 2, UINT64_MAX));   /* wraps past 2^64 */
    E(-EINVAL, vmm_device_unmap(NULL, VMM_SPACE_PIO, 0x80));
    E(-EINVAL, vmm_device_unmap(d, 2, 0x80));
    E(-EINVAL, vmm_device_unmap(d, 0xffffffffu, 0x80));
    E(-ENOENT, vmm_device_unmap(d, VMM_SPACE_PIO, 0x80));
    E(-ENOENT, vmm_device_unmap(d, VMM_SPACE_MMIO, 0xd0000000));
    H_OK(vmm_device_map_pio(d, 0x80, 4));
    E(-ENOENT, vmm_device_unmap(d, VMM_SPACE_PIO, 0x81));   /* not its start */
    E(-ENOENT, vmm_device_unmap(d, VMM_SPACE_MMIO, 0x80));  /* other space */
    H_OK(vmm_device_unmap(d, VMM_SPACE_PIO, 0x80));
    assert_null(vmm_device_user(NULL));
    assert_null(vmm_device_name(NULL));
    assert_null(vmm_device_vm(NULL));
    struct vmm_device_stats st = { .struct_size = sizeof st };
    E(-EINVAL, vmm_device_get_stats(NULL, &st));
    E(-EINVAL, vmm_device_get_stats(d, NULL));
    st.struct_size = 0;
    E(-EINVAL, vmm_device_get_stats(d, &st));
    st.struct_size = 3;
    E(-EINVAL, vmm_device_get_stats(d, &st));

    E(-EINVAL, vmm_hypercall_register(NULL, 1, dummy_hc, NULL));
    E(-EINVAL, vmm_hypercall_register(g_vm, 1, NULL, NULL));
    E(-EINVAL, vmm_hypercall_unregister(NULL, 1));
    E(-ENOENT, vmm_hypercall_unregister(g_vm, 0xffffffffffffffffull));
    H_OK(vmm_device_detach(d));
}

/* ---- calls that are refused while a vCPU runs --------------------------- */

struct bg {
    vmm_vcpu *cpu;
    int rc;
    struct vmm_exit exit;
    atomic_int done;
};

static void *bg_run(void *arg)
{
    struct bg *b = arg;
    b->rc = vmm_vcpu_run(b->cpu, &b->exit);
    atomic_store(&b->done, 1);
    return NULL;
}

static void test_busy_while_running(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("spin", VMM_CPU_MODE_LONG, VMM_CPU_MODE_F_USER, 1);
    vmm_vcpu *cpu = h_vcpu(vm, 0);
    struct vmm_device_ops ops = VMM_DEVICE_OPS_INIT;
    ops.name = "late";
    ops.pio = dummy_io;
    vmm_device *d = NULL;
    H_OK(vmm_device_attach(vm, &ops, NULL, &d));

    struct bg b = { .cpu = cpu };
    atomic_store(&b.done, 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, bg_run, &b), 0);
    struct timespec ts = { 0, 100 * 1000000L };
    nanosleep(&ts, NULL);
    assert_false(atomic_load(&b.done));

    struct vmm_exit ex;
    vmm_device *d2 = NULL;
    struct vmm_device_ops ops2 = ops;
    ops2.name = "late2";
    int rcs[8];
    rcs[0] = vmm_vcpu_run(cpu, &ex);
    rcs[1] = vmm_vm_run(vm, &ex);
    rcs[2] = vmm_memory_add_ram(vm, 0x400000, 0x1000, 0, NULL);
    rcs[3] = vmm_device_map_pio(d, 0x80, 1);
    rcs[4] = vmm_device_attach(vm, &ops2, NULL, &d2);
    rcs[5] = vmm_hypercall_register(vm, 9, dummy_hc, NULL);
    rcs[6] = vmm_vm_reset_devices(vm);
    rcs[7] = vmm_device_detach(d);

    H_OK(vmm_vm_stop(vm));
    for (int i = 0; i < 5000 && !atomic_load(&b.done); i++)
        nanosleep(&(struct timespec){ 0, 1000000L }, NULL);
    assert_true(atomic_load(&b.done));
    pthread_join(t, NULL);
    assert_int_equal(b.rc, 0);
    assert_int_equal(b.exit.reason, VMM_EXIT_STOPPED);

    const char *what[8] = { "vcpu_run", "vm_run", "memory_add_ram", "map_pio",
                            "device_attach", "hypercall_register",
                            "reset_devices", "device_detach" };
    for (int i = 0; i < 8; i++)
        if (rcs[i] != -EBUSY)
            fail_msg("%s while a vCPU runs returned %d, expected -EBUSY",
                     what[i], rcs[i]);
    /* and after the run they work */
    H_OK(vmm_device_map_pio(d, 0x80, 1));
    H_OK(vmm_memory_add_ram(vm, 0x400000, 0x1000, 0, NULL));
    vmm_vm_destroy(vm);
}

/* ---- the log callback gets every error ---------------------------------- */

static int n_logged;
static int last_level;
static void log_fn(int level, const char *msg, void *user)
{
    (void)user;
    assert_non_null(msg);
    n_logged++;
    last_level = level;
}

static void test_errors_are_logged(void **state)
{
    (void)state;
    h_require_kvm();
    n_logged = 0;
    H_OK(vmm_set_log_callback(log_fn, NULL, VMM_LOG_ERROR));
    int rc = vmm_memory_read(g_vm, H_RAM_SIZE, (uint8_t[4]){ 0 }, 4);
    int rc2 = vmm_vm_get_vcpu(NULL, 0, NULL);
    H_OK(vmm_set_log_callback(NULL, NULL, VMM_LOG_ERROR));
    assert_int_equal(rc, -EFAULT);
    assert_int_equal(rc2, -EINVAL);
    assert_true(n_logged >= 2);
    assert_int_equal(last_level, VMM_LOG_ERROR);
    int before = n_logged;
    rc = vmm_vm_stop(NULL);
    assert_int_equal(rc, -EINVAL);
    assert_int_equal(n_logged, before);   /* removed: no more calls */
}

/* The last error is per thread. */
static void *other_thread(void *arg)
{
    (void)arg;
    const char *m = vmm_last_error();
    return (void *)(intptr_t)(m != NULL && m[0] == '\0');
}

static void test_last_error_thread_local(void **state)
{
    (void)state;
    h_require_kvm();
    E(-EINVAL, vmm_vm_stop(NULL));
    pthread_t t;
    void *empty = NULL;
    assert_int_equal(pthread_create(&t, NULL, other_thread, NULL), 0);
    pthread_join(t, &empty);
    assert_true((intptr_t)empty);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_version_exit_names),
        cmocka_unit_test(test_vm_calls),
        cmocka_unit_test(test_memory_calls),
        cmocka_unit_test(test_vcpu_calls),
        cmocka_unit_test(test_device_and_hypercall_calls),
        cmocka_unit_test(test_busy_while_running),
        cmocka_unit_test(test_errors_are_logged),
        cmocka_unit_test(test_last_error_thread_local),
    };
    return cmocka_run_group_tests_name("hostile", tests, setup, teardown);
}
