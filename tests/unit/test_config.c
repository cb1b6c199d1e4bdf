/* Versioned config structs: wrong sizes, unknown flags and out-of-range
 * values are refused with -EINVAL and a sentence naming the field. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <vmm/vmm.h>

static void expect_create_fails(const struct vmm_vm_config *cfg, const char *needle)
{
    vmm_vm *vm = (vmm_vm *)0x1; /* must stay untouched */
    assert_int_equal(vmm_vm_create(cfg, &vm), -EINVAL);
    assert_ptr_equal(vm, (vmm_vm *)0x1);
    if (!strstr(vmm_last_error(), needle))
        fail_msg("error '%s' does not mention '%s'", vmm_last_error(), needle);
}

static void test_vm_config_is_validated(void **state)
{
    (void)state;
    struct vmm_vm_config c = VMM_VM_CONFIG_INIT;
    struct vmm_vm_config d;
    vmm_vm_config_init(&d);
    assert_memory_equal(&c, &d, sizeof(c));

    c.struct_size = 8;
    expect_create_fails(&c, "struct_size");
    c = d, c.flags = 0x4;
    expect_create_fails(&c, "flags");
    c = d, c.platform = 77;
    expect_create_fails(&c, "platform");
    c = d, c.num_vcpus = 0;
    expect_create_fails(&c, "num_vcpus");
    c = d, c.num_vcpus = VMM_MAX_VCPUS + 1;
    expect_create_fails(&c, "num_vcpus");
    c = d, c.hypercall_port = 0xfffe;
    expect_create_fails(&c, "hypercall_port");
    c = d, c.reserved0 = 1;
    expect_create_fails(&c, "reserved0");
    c = d, c.kick_signal = 9; /* SIGKILL */
    expect_create_fails(&c, "kick_signal");
    c = d, c.kick_signal = 1000;
    expect_create_fails(&c, "kick_signal");
    assert_int_equal(vmm_vm_create(NULL, NULL), -EINVAL);
}

/* A caller built against a newer header passes a bigger struct. */
struct newer_config {
    struct vmm_vm_config v1;
    uint64_t future_field;
};

static void test_newer_struct_sizes(void **state)
{
    (void)state;
    struct newer_config n = { .v1 = VMM_VM_CONFIG_INIT };
    n.v1.struct_size = sizeof(n);
    n.future_field = 1;
    expect_create_fails(&n.v1, "does not know");
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        print_message("skipped the accepting half: /dev/kvm is not accessible\n");
        return;
    }
    n.future_field = 0; /* zeroed extras mean "default": accepted */
    vmm_vm *vm = NULL;
    assert_int_equal(vmm_vm_create(&n.v1, &vm), 0);
    assert_int_equal(vmm_vm_num_vcpus(vm), 1);
    vmm_vm_destroy(vm);
}

static void test_cpu_mode_config_is_validated(void **state)
{
    (void)state;
    uint64_t size = 0;
    assert_int_equal(vmm_cpu_mode_tables_size(VMM_CPU_MODE_REAL, 0, &size), 0);
    assert_int_equal(size, 0);
    assert_int_equal(vmm_cpu_mode_tables_size(VMM_CPU_MODE_PROTECTED, 0, &size), 0);
    assert_int_equal(size, 0x3000);
    /* Default 4 GiB: GDT+TSS+I/O bitmap, PML4, PDPT and four page directories. */
    assert_int_equal(vmm_cpu_mode_tables_size(VMM_CPU_MODE_LONG, 0, &size), 0);
    assert_int_equal(size, 0x9000);
    assert_int_equal(vmm_cpu_mode_tables_size(VMM_CPU_MODE_LONG, 2 << 20, &size), 0);
    assert_int_equal(size, 0x6000);
    assert_int_equal(vmm_cpu_mode_tables_size(VMM_CPU_MODE_LONG, 3 << 20, &size), -EINVAL);
    assert_int_equal(vmm_cpu_mode_tables_size(VMM_CPU_MODE_LONG, 513ull << 30, &size), -EINVAL);
    assert_int_equal(vmm_cpu_mode_tables_size(9, 0, &size), -EINVAL);
    assert_int_equal(vmm_cpu_mode_tables_size(VMM_CPU_MODE_LONG, 0, NULL), -EINVAL);
}

static void test_device_ops_are_validated(void **state)
{
    (void)state;
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        print_message("skipped: /dev/kvm is not accessible, so no VM can be created\n");
        skip();
    }
    struct vmm_vm_config c = VMM_VM_CONFIG_INIT;
    vmm_vm *vm;
    assert_int_equal(vmm_vm_create(&c, &vm), 0);
    vmm_device *dev;
    struct vmm_device_ops ops = VMM_DEVICE_OPS_INIT;
    assert_int_equal(vmm_device_attach(vm, &ops, NULL, &dev), -EINVAL); /* no name */
    ops.name = "";
    assert_int_equal(vmm_device_attach(vm, &ops, NULL, &dev), -EINVAL);
    ops.name = "a-name-that-is-far-too-long-to-be-a-useful-device-name-in-errors!";
    assert_int_equal(vmm_device_attach(vm, &ops, NULL, &dev), -EINVAL);
    ops.name = "ok";
    ops.flags = 0x100;
    assert_int_equal(vmm_device_attach(vm, &ops, NULL, &dev), -EINVAL);
    assert_non_null(strstr(vmm_last_error(), "flags"));
    ops.flags = 0;
    ops.struct_size = 4;
    assert_int_equal(vmm_device_attach(vm, &ops, NULL, &dev), -EINVAL);
    assert_non_null(strstr(vmm_last_error(), "struct_size"));
    ops.struct_size = sizeof(ops);
    assert_int_equal(vmm_device_attach(vm, &ops, NULL, &dev), 0);
    /* No pio/mmio callback: mapping is refused. */
    assert_int_equal(vmm_device_map_pio(dev, 0x10, 1), -EINVAL);
    assert_int_equal(vmm_device_map_mmio(dev, 0x10000, 1), -EINVAL);
    vmm_vm_destroy(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vm_config_is_validated),
        cmocka_unit_test(test_newer_struct_sizes),
        cmocka_unit_test(test_cpu_mode_config_is_validated),
        cmocka_unit_test(test_device_ops_are_validated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
