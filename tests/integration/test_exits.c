/* Exit reasons: triple fault -> VMM_EXIT_SHUTDOWN; a failing device
 * callback stops the vCPU with its errno (VMM_EXIT_DEVICE_ERROR). */
#include "harness.h"

#include <errno.h>
#include <string.h>

static void test_triple_fault_shutdown(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("triple64", VMM_CPU_MODE_LONG, 0, 1);
    struct vmm_exit e;
    h_run_expect(h_vcpu(vm, 0), &e, VMM_EXIT_SHUTDOWN);
    assert_int_equal(e.vcpu_index, 0);
    struct vmm_vm_stats vs = { .struct_size = sizeof vs };
    H_OK(vmm_vm_get_stats(vm, &vs));
    assert_int_equal(vs.exits[VMM_STAT_EXIT_SHUTDOWN], 1);
    vmm_vm_destroy(vm);
}

static void test_triple_fault_vm_run(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("triple64", VMM_CPU_MODE_LONG, 0, 1);
    struct vmm_exit e;
    memset(&e, 0, sizeof e);
    H_OK(vmm_vm_run(vm, &e));
    assert_int_equal(e.reason, VMM_EXIT_SHUTDOWN);
    vmm_vm_destroy(vm);
}

/* The console fails on its 6th byte. */
static int fail_6th(struct h_dev *d, vmm_vcpu *vcpu, const struct vmm_io *io)
{
    (void)vcpu;
    (void)io;
    return d->n == 6 ? -EIO : 0;
}

static void test_device_error_stops_vcpu(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("hello16", VMM_CPU_MODE_REAL, 0, 1);
    struct h_dev *con = h_pio_dev(vm, "flaky-uart", GUEST_CONSOLE_PORT, 1);
    con->hook = fail_6th;
    vmm_vcpu *cpu = h_vcpu(vm, 0);
    struct vmm_exit e;
    memset(&e, 0, sizeof e);
    int rc = vmm_vcpu_run(cpu, &e);
    assert_int_equal(rc, -EIO);
    assert_int_equal(e.reason, VMM_EXIT_DEVICE_ERROR);
    assert_int_equal(e.error, -EIO);
    assert_int_equal(e.vcpu_index, 0);
    const char *msg = vmm_last_error();
    assert_non_null(strstr(msg, "flaky-uart"));
    assert_string_equal(con->text, "Hello ");
    struct vmm_device_stats st = { .struct_size = sizeof st };
    H_OK(vmm_device_get_stats(con->dev, &st));
    assert_int_equal(st.errors, 1);
    assert_int_equal(st.pio_writes, 6);

    /* the vCPU can be run again: the failed OUT is not replayed, the guest
     * goes on with the next byte (or, if the library re-executes, repeats
     * the space); either way it ends at HLT with the rest of the line */
    con->hook = NULL;
    h_run_to_hlt(cpu);
    assert_true(strcmp(con->text, "Hello from real mode\n") == 0 ||
                strcmp(con->text, "Hello  from real mode\n") == 0);
    vmm_vm_destroy(vm);
    h_dev_free(con);
}

static void test_device_error_vm_run(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("hello16", VMM_CPU_MODE_REAL, 0, 1);
    struct h_dev *con = h_pio_dev(vm, "flaky-uart", GUEST_CONSOLE_PORT, 1);
    con->hook = fail_6th;
    struct vmm_exit e;
    memset(&e, 0, sizeof e);
    int rc = vmm_vm_run(vm, &e);
    assert_int_equal(rc, -EIO);
    assert_int_equal(e.reason, VMM_EXIT_DEVICE_ERROR);
    assert_int_equal(e.error, -EIO);
    assert_string_equal(con->text, "Hello ");
    vmm_vm_destroy(vm);
    h_dev_free(con);
}

/* vmm_vm_run() on a one-vCPU guest that halts: returns 0 with HLT. */
static void test_vm_run_hlt(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("hello16", VMM_CPU_MODE_REAL, 0, 1);
    struct h_dev *con = h_pio_dev(vm, "console", GUEST_CONSOLE_PORT, 1);
    struct vmm_exit e;
    memset(&e, 0, sizeof e);
    H_OK(vmm_vm_run(vm, &e));
    assert_int_equal(e.reason, VMM_EXIT_HLT);
    assert_int_equal(e.vcpu_index, 0);
    assert_string_equal(con->text, "Hello from real mode\n");
    vmm_vm_destroy(vm);
    h_dev_free(con);
}

/* vmm_vm_run() ends on an access nobody handles. */
static void test_vm_run_unhandled(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("hello16", VMM_CPU_MODE_REAL, 0, 1);
    struct vmm_exit e;
    memset(&e, 0, sizeof e);
    H_OK(vmm_vm_run(vm, &e));
    assert_int_equal(e.reason, VMM_EXIT_PIO);
    assert_int_equal(e.pio.port, GUEST_CONSOLE_PORT);
    assert_int_equal(e.pio.data[0], 'H');
    vmm_vm_destroy(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_triple_fault_shutdown),
        cmocka_unit_test(test_triple_fault_vm_run),
        cmocka_unit_test(test_device_error_stops_vcpu),
        cmocka_unit_test(test_device_error_vm_run),
        cmocka_unit_test(test_vm_run_hlt),
        cmocka_unit_test(test_vm_run_unhandled),
    };
    return cmocka_run_group_tests_name("exits", tests, NULL, NULL);
}
