/* SMP start-up on platform PC: vCPU 0 runs, the others wait in KVM for
 * INIT/SIPI (KVM_MP_STATE_UNINITIALIZED). The BSP guest wakes each AP
 * through its in-kernel LAPIC's ICR; each AP reports the APIC ids its
 * CPUID gives it. */
#include "pc_util.h"

#include <string.h>

static void check_smp_start(uint32_t ncpus)
{
    h_require_kvm();
    vmm_vm *vm = pc_vm_new(ncpus, 2 << 20);
    size_t size = pc_load(vm, "pc_smp");
    assert_true(size > PC_TRAMPOLINE - GUEST_LOAD_GPA); /* the trampoline page is there */
    h_setup_vcpu(h_vcpu(vm, 0), VMM_CPU_MODE_PROTECTED, 0); /* only the BSP */
    struct h_dev *d = pc_ports_dev(vm, NULL, NULL);

    struct vmm_exit e;
    memset(&e, 0, sizeof e);
    double t0 = h_now();
    H_OK(vmm_vm_run(vm, &e));
    print_message("%u vCPUs: exit %u, value %llu after %.3f s\n", ncpus, e.reason,
                  (unsigned long long)e.request.value, h_now() - t0);
    assert_int_equal(e.reason, VMM_EXIT_REQUEST);
    assert_int_equal(e.request.kind, VMM_REQUEST_DEBUG_EXIT);
    assert_int_equal(e.vcpu_index, 0);
    /* The BSP saw every AP check in... */
    assert_int_equal(e.request.value, ncpus - 1);
    /* ...and each AP, on its own vCPU, reported its own ids. */
    assert_int_equal(pc_reports(d, PC_AP_PORT, 0, NULL, 0), 0);
    for (uint32_t i = 1; i < ncpus; i++) {
        uint32_t id[2], x2id[2];
        assert_int_equal(pc_reports(d, PC_AP_PORT, (int)i, id, 2), 1);
        assert_int_equal(pc_reports(d, PC_AP_PORT + 4, (int)i, x2id, 2), 1);
        assert_int_equal(id[0], i);
        assert_int_equal(x2id[0], i);
    }
    assert_int_equal(pc_reports(d, PC_AP_PORT, -1, NULL, 0), ncpus - 1);
    assert_int_equal(d->bad_args, 0);
    vmm_vm_destroy(vm);
    h_dev_free(d);
}

static void test_smp_2(void **state)
{
    (void)state;
    check_smp_start(2);
}

static void test_smp_4(void **state)
{
    (void)state;
    check_smp_start(4);
}

/* Without INIT/SIPI the APs never run: a BSP that wakes nobody (one that
 * reports at once) ends the run with every AP silent. */
static void test_aps_wait(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = pc_vm_new(3, 2 << 20);
    pc_load(vm, "pc_cpuid");
    for (uint32_t i = 0; i < 3; i++)
        h_setup_vcpu(h_vcpu(vm, i), VMM_CPU_MODE_PROTECTED, 0); /* the APs too */
    struct h_dev *d = pc_ports_dev(vm, NULL, NULL);
    struct vmm_exit e;
    memset(&e, 0, sizeof e);
    H_OK(vmm_vm_run(vm, &e));
    assert_int_equal(e.reason, VMM_EXIT_REQUEST);
    assert_int_equal(e.vcpu_index, 0);
    assert_true(pc_reports(d, PC_REPORT_PORT, 0, NULL, 0) > 0);
    assert_int_equal(pc_reports(d, PC_REPORT_PORT, 1, NULL, 0), 0);
    assert_int_equal(pc_reports(d, PC_REPORT_PORT, 2, NULL, 0), 0);
    vmm_vm_destroy(vm);
    h_dev_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aps_wait),
        cmocka_unit_test(test_smp_2),
        cmocka_unit_test(test_smp_4),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
