/* Resources: creating and destroying many VMs leaks no fds, memory or
 * threads. */
#include "harness.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static long h_threads(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long n = -1;
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %ld", &n) == 1)
            break;
    fclose(f);
    return n;
}

static int nop_io(vmm_device *d, vmm_vcpu *c, const struct vmm_io *io, void *u)
{
    (void)d; (void)c; (void)io; (void)u;
    return 0;
}
static int nop_hc(vmm_vcpu *c, const struct vmm_hypercall *h, uint64_t *r, void *u)
{
    (void)c; (void)h; (void)u;
    *r = 0;
    return 0;
}
static int destroyed;
static void on_destroy(void *u)
{
    (void)u;
    destroyed++;
}

static void one_vm(int i)
{
    struct vmm_vm_config cfg = VMM_VM_CONFIG_INIT;
    vmm_vm *vm = NULL;
    H_OK(vmm_vm_create(&cfg, &vm));
    H_OK(vmm_memory_add_ram(vm, 0, H_RAM_SIZE, 0, NULL));
    if (i % 4 == 0) {
        struct vmm_device_ops ops = VMM_DEVICE_OPS_INIT;
        ops.name = "leak-check";
        ops.pio = nop_io;
        ops.destroy = on_destroy;
        vmm_device *d;
        H_OK(vmm_device_attach(vm, &ops, NULL, &d));
        H_OK(vmm_device_map_pio(d, 0x3f8, 8));
        H_OK(vmm_hypercall_register(vm, 1, nop_hc, NULL));
    }
    if (i % 8 == 0)
        h_setup_vcpu(h_vcpu(vm, 0), VMM_CPU_MODE_LONG, 0);
    vmm_vm_destroy(vm);
}

#if defined(__SANITIZE_ADDRESS__)
/* ASan keeps freed blocks in quarantine (up to 256 MiB), so RSS grows here
 * without a leak; in that build LeakSanitizer is the leak check. */
#define RSS_SLACK_KIB (64 * 1024)
#else
#define RSS_SLACK_KIB (8 * 1024)
#endif

static void test_create_destroy_1000(void **state)
{
    (void)state;
    h_require_kvm();
    for (int i = 0; i < 32; i++)            /* warm-up: caches, first mmaps */
        one_vm(i);
    long fd0 = h_fd_count(), rss0 = h_rss_kib(), thr0 = h_threads();
    destroyed = 0;
    double t0 = h_now();
    for (int i = 0; i < 1000; i++)
        one_vm(i);
    double dt = h_now() - t0;
    long fd1 = h_fd_count(), rss1 = h_rss_kib(), thr1 = h_threads();
    print_message("1000 VMs: %.2f s; fds %ld -> %ld; RSS %ld -> %ld KiB; "
                  "threads %ld -> %ld\n", dt, fd0, fd1, rss0, rss1, thr0, thr1);
    assert_int_equal(destroyed, 250);
    assert_int_equal(fd1, fd0);
    assert_int_equal(thr1, thr0);
    assert_true(rss1 - rss0 < RSS_SLACK_KIB);
}

/* VMs that run (vmm_vm_run starts library threads): no thread, fd or
 * memory growth either. */
static void test_run_and_destroy(void **state)
{
    (void)state;
    h_require_kvm();
    long fd0 = 0, rss0 = 0, thr0 = 0;
    for (int i = 0; i < 110; i++) {
        if (i == 10) {
            fd0 = h_fd_count();
            rss0 = h_rss_kib();
            thr0 = h_threads();
        }
        vmm_vm *vm = h_guest_vm("smp64", VMM_CPU_MODE_LONG, 0, 2);
        struct vmm_device_ops ops = VMM_DEVICE_OPS_INIT;
        ops.name = "ports";
        ops.pio = nop_io;
        vmm_device *d;
        H_OK(vmm_device_attach(vm, &ops, NULL, &d));
        H_OK(vmm_device_map_pio(d, GUEST_SMP_PORT, 2));
        struct vmm_exit e;
        if (i % 2) {
            H_OK(vmm_vm_run(vm, &e));
        } else {
            h_run_to_hlt(h_vcpu(vm, 0));
            h_run_to_hlt(h_vcpu(vm, 1));
        }
        vmm_vm_destroy(vm);
    }
    long fd1 = h_fd_count(), rss1 = h_rss_kib(), thr1 = h_threads();
    print_message("100 runs: fds %ld -> %ld; RSS %ld -> %ld KiB; threads %ld -> %ld\n",
                  fd0, fd1, rss0, rss1, thr0, thr1);
    assert_int_equal(fd1, fd0);
    assert_int_equal(thr1, thr0);
    assert_true(rss1 - rss0 < RSS_SLACK_KIB);
}

/* Many VMs alive at once, then destroyed: every fd comes back. */
static void test_many_live_vms(void **state)
{
    (void)state;
    h_require_kvm();
    enum { N = 64 };
    vmm_vm *vms[N];
    long fd0 = h_fd_count();
    for (int i = 0; i < N; i++) {
        struct vmm_vm_config cfg = VMM_VM_CONFIG_INIT;
        cfg.num_vcpus = 2;
        vms[i] = NULL;
        H_OK(vmm_vm_create(&cfg, &vms[i]));
        H_OK(vmm_memory_add_ram(vms[i], 0, 0x10000, 0, NULL));
    }
    assert_true(h_fd_count() > fd0);
    for (int i = 0; i < N; i++)
        vmm_vm_destroy(vms[i]);
    assert_int_equal(h_fd_count(), fd0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_destroy_1000),
        cmocka_unit_test(test_run_and_destroy),
        cmocka_unit_test(test_many_live_vms),
    };
    return cmocka_run_group_tests_name("resources", tests, NULL, NULL);
}
