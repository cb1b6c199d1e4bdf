/* Four vCPUs, each writing 0..GUEST_SMP_ITERS-1 to its own port
 * (GUEST_SMP_PORT + index), run by vmm_vm_run() or by caller threads. */
#include "harness.h"

#include <pthread.h>
#include <string.h>

#define NCPU 4

static void check_port_log(const struct h_dev *d, int cpu, int shared)
{
    size_t seen = 0;
    size_t n = d->n < H_LOG_MAX ? d->n : H_LOG_MAX;
    for (size_t i = 0; i < n; i++) {
        const struct h_access *a = &d->log[i];
        if (a->addr != (uint64_t)(GUEST_SMP_PORT + cpu))
            continue;
        assert_true(a->is_write);
        assert_int_equal(a->len, 1);
        assert_int_equal(a->vcpu, cpu);            /* the right vCPU */
        assert_int_equal(a->value, seen);          /* in order */
        if (!shared)
            assert_int_equal(a->offset, 0);
        seen++;
    }
    assert_int_equal(seen, GUEST_SMP_ITERS);
}

static void test_smp_vm_run_own_devices(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("smp64", VMM_CPU_MODE_LONG, 0, NCPU);
    assert_int_equal(vmm_vm_num_vcpus(vm), NCPU);
    struct h_dev *d[NCPU];
    for (int i = 0; i < NCPU; i++) {
        char name[32];
        snprintf(name, sizeof name, "port-%d", i);
        d[i] = h_pio_dev(vm, name, GUEST_SMP_PORT + i, 1);
    }
    struct vmm_exit e;
    memset(&e, 0, sizeof e);
    double t0 = h_now();
    H_OK(vmm_vm_run(vm, &e));
    print_message("4 vCPUs x %d writes: %.3f s\n", GUEST_SMP_ITERS, h_now() - t0);
    assert_int_equal(e.reason, VMM_EXIT_HLT);
    assert_in_range(e.vcpu_index, 0, NCPU - 1);
    for (int i = 0; i < NCPU; i++) {
        assert_int_equal(d[i]->n, GUEST_SMP_ITERS);
        check_port_log(d[i], i, 0);
        assert_int_equal(d[i]->bad_args, 0);
    }
    vmm_vm_destroy(vm);
    for (int i = 0; i < NCPU; i++) {
        assert_int_equal(d[i]->destroyed, 1);
        h_dev_free(d[i]);
    }
}

/* One device (not VMM_DEVICE_F_CONCURRENT) over all four ports: the library
 * serialises its callbacks, so its unlocked log must come out consistent. */
static void test_smp_vm_run_shared_device(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("smp64", VMM_CPU_MODE_LONG, 0, NCPU);
    struct h_dev *d = h_pio_dev(vm, "shared", GUEST_SMP_PORT, NCPU);
    struct vmm_exit e;
    memset(&e, 0, sizeof e);
    H_OK(vmm_vm_run(vm, &e));
    assert_int_equal(e.reason, VMM_EXIT_HLT);
    assert_int_equal(d->n, NCPU * GUEST_SMP_ITERS);
    for (int i = 0; i < NCPU; i++)
        check_port_log(d, i, 1);
    struct vmm_device_stats st = { .struct_size = sizeof st };
    H_OK(vmm_device_get_stats(d->dev, &st));
    assert_int_equal(st.pio_writes, NCPU * GUEST_SMP_ITERS);
    struct vmm_vm_stats vs = { .struct_size = sizeof vs };
    H_OK(vmm_vm_get_stats(vm, &vs));
    assert_int_equal(vs.exits[VMM_STAT_EXIT_PIO], NCPU * GUEST_SMP_ITERS);
    assert_int_equal(vs.exits[VMM_STAT_EXIT_HLT], NCPU);
    vmm_vm_destroy(vm);
    h_dev_free(d);
}

struct runner {
    vmm_vcpu *cpu;
    int rc;
    struct vmm_exit exit;
};

static void *run_thread(void *arg)
{
    struct runner *r = arg;
    r->rc = vmm_vcpu_run(r->cpu, &r->exit);
    return NULL;
}

/* The caller's own threads, one vmm_vcpu_run() each. */
static void test_smp_caller_threads(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("smp64", VMM_CPU_MODE_LONG, 0, NCPU);
    struct h_dev *d = h_pio_dev(vm, "shared", GUEST_SMP_PORT, NCPU);
    struct runner r[NCPU];
    pthread_t t[NCPU];
    for (int i = 0; i < NCPU; i++) {
        memset(&r[i], 0, sizeof r[i]);
        r[i].cpu = h_vcpu(vm, (uint32_t)i);
        assert_int_equal(pthread_create(&t[i], NULL, run_thread, &r[i]), 0);
    }
    for (int i = 0; i < NCPU; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(r[i].rc, 0);
        assert_int_equal(r[i].exit.reason, VMM_EXIT_HLT);
        assert_int_equal(r[i].exit.vcpu_index, i);
    }
    assert_int_equal(d->n, NCPU * GUEST_SMP_ITERS);
    for (int i = 0; i < NCPU; i++)
        check_port_log(d, i, 1);
    vmm_vm_destroy(vm);
    h_dev_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smp_vm_run_own_devices),
        cmocka_unit_test(test_smp_vm_run_shared_device),
        cmocka_unit_test(test_smp_caller_threads),
    };
    return cmocka_run_group_tests_name("smp", tests, NULL, NULL);
}
