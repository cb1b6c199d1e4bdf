/* vmm_device_get_stats() and vmm_vm_get_stats() count what the guest did. */
#include "harness.h"

#include <string.h>

static uint64_t partition_sum(const struct vmm_vm_stats *vs)
{
    /* every KVM_RUN return falls in exactly one of these */
    static const int cats[] = {
        VMM_STAT_EXIT_PIO, VMM_STAT_EXIT_MMIO, VMM_STAT_EXIT_HLT,
        VMM_STAT_EXIT_SHUTDOWN, VMM_STAT_EXIT_INTR,
        VMM_STAT_EXIT_INTERNAL_ERROR, VMM_STAT_EXIT_FAIL_ENTRY,
        VMM_STAT_EXIT_SYSTEM_EVENT, VMM_STAT_EXIT_OTHER,
    };
    uint64_t s = 0;
    for (size_t i = 0; i < sizeof cats / sizeof cats[0]; i++)
        s += vs->exits[cats[i]];
    return s;
}

static void test_stats_hello_real(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("hello16", VMM_CPU_MODE_REAL, 0, 1);
    struct h_dev *con = h_pio_dev(vm, "console", GUEST_CONSOLE_PORT, 1);
    struct h_dev *idle = h_pio_dev(vm, "idle", 0x80, 1);

    struct vmm_vm_stats vs;
    memset(&vs, 0xaa, sizeof vs);
    vs.struct_size = sizeof vs;
    H_OK(vmm_vm_get_stats(vm, &vs));
    assert_int_equal(vs.exits_total, 0);
    for (int i = 0; i < 32; i++)
        assert_int_equal(vs.exits[i], 0);

    h_run_to_hlt(h_vcpu(vm, 0));
    const size_t n = strlen("Hello from real mode\n");

    struct vmm_device_stats ds;
    memset(&ds, 0xaa, sizeof ds);
    ds.struct_size = sizeof ds;
    H_OK(vmm_device_get_stats(con->dev, &ds));
    assert_int_equal(ds.pio_writes, n);
    assert_int_equal(ds.pio_reads, 0);
    assert_int_equal(ds.mmio_reads, 0);
    assert_int_equal(ds.mmio_writes, 0);
    assert_int_equal(ds.errors, 0);
    assert_int_equal(ds.unhandled, 0);
    memset(&ds, 0xaa, sizeof ds);
    ds.struct_size = sizeof ds;
    H_OK(vmm_device_get_stats(idle->dev, &ds));
    assert_int_equal(ds.pio_writes + ds.pio_reads + ds.mmio_reads +
                     ds.mmio_writes + ds.errors + ds.unhandled, 0);

    memset(&vs, 0xaa, sizeof vs);
    vs.struct_size = sizeof vs;
    H_OK(vmm_vm_get_stats(vm, &vs));
    assert_int_equal(vs.exits[VMM_STAT_EXIT_PIO], n);
    assert_int_equal(vs.exits[VMM_STAT_EXIT_HLT], 1);
    assert_int_equal(vs.exits[VMM_STAT_EXIT_MMIO], 0);
    assert_int_equal(vs.exits[VMM_STAT_EXIT_HYPERCALL], 0);
    assert_int_equal(vs.exits[VMM_STAT_EXIT_SHUTDOWN], 0);
    assert_true(vs.exits_total >= n + 1);
    assert_int_equal(vs.exits_total, partition_sum(&vs));
    for (int i = VMM_STAT_EXIT_COUNT; i < 32; i++)
        assert_int_equal(vs.exits[i], 0);

    /* counts accumulate over runs */
    h_setup_vcpu(h_vcpu(vm, 0), VMM_CPU_MODE_REAL, 0);
    h_run_to_hlt(h_vcpu(vm, 0));
    H_OK(vmm_device_get_stats(con->dev, &ds));
    assert_int_equal(ds.pio_writes, 2 * n);
    H_OK(vmm_vm_get_stats(vm, &vs));
    assert_int_equal(vs.exits[VMM_STAT_EXIT_PIO], 2 * n);
    assert_int_equal(vs.exits[VMM_STAT_EXIT_HLT], 2);
    vmm_vm_destroy(vm);
    h_dev_free(con);
    h_dev_free(idle);
}

/* REP string I/O counts one callback per element. */
static void test_stats_string_io(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("hello64", VMM_CPU_MODE_LONG, 0, 1);
    struct h_dev *con = h_pio_dev(vm, "console", GUEST_CONSOLE_PORT, 1);
    struct h_dev *io = h_pio_dev(vm, "wide-io", GUEST_IO_PORT, 8);
    struct h_dev *str = h_pio_dev(vm, "string-io", GUEST_INSB_PORT, 2);
    h_run_to_hlt(h_vcpu(vm, 0));

    const size_t l1 = strlen("Hello from long mode\n");
    const size_t l2 = strlen("rep outsb in long mode\n");
    struct vmm_device_stats ds = { .struct_size = sizeof ds };
    H_OK(vmm_device_get_stats(con->dev, &ds));
    assert_int_equal(ds.pio_writes, l1 + l2);
    H_OK(vmm_device_get_stats(io->dev, &ds));
    assert_int_equal(ds.pio_writes, 4);
    assert_int_equal(ds.pio_reads, 2);
    H_OK(vmm_device_get_stats(str->dev, &ds));
    assert_int_equal(ds.pio_writes, GUEST_INSB_COUNT);
    assert_int_equal(ds.pio_reads, GUEST_INSB_COUNT);

    struct vmm_vm_stats vs = { .struct_size = sizeof vs };
    H_OK(vmm_vm_get_stats(vm, &vs));
    /* single OUT/IN: l1 + 6; REP: at least one exit each, at most one per
     * element */
    assert_in_range(vs.exits[VMM_STAT_EXIT_PIO], l1 + 6 + 3,
                    l1 + 6 + l2 + 2 * GUEST_INSB_COUNT);
    assert_int_equal(vs.exits[VMM_STAT_EXIT_HLT], 1);
    assert_int_equal(vs.exits_total, partition_sum(&vs));
    vmm_vm_destroy(vm);
    h_dev_free(con);
    h_dev_free(io);
    h_dev_free(str);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats_hello_real),
        cmocka_unit_test(test_stats_string_io),
    };
    return cmocka_run_group_tests_name("stats", tests, NULL, NULL);
}
