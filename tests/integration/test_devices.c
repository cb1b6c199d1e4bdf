/* Device attach/map/unmap/detach rules: overlap refusal naming both
 * devices, destroy exactly once, accessors, reset, re-mapping. */
#include "harness.h"

#include <errno.h>
#include <string.h>

static void test_overlap_refused(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_vm_new(1, 0);
    struct h_dev *a = h_pio_dev(vm, "alpha-uart", 0x3f8, 8);
    struct h_dev *b = h_dev_new("beta-timer");
    h_dev_attach(vm, b);

    /* PIO: any overlap with [0x3f8, 0x400) is refused */
    const struct { uint16_t port; uint32_t len; } bad[] = {
        { 0x3f8, 1 }, { 0x3ff, 1 }, { 0x3f0, 9 }, { 0x3f0, 0x20 }, { 0x3fa, 2 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        H_EXPECT_ERR(-EBUSY, vmm_device_map_pio(b->dev, bad[i].port, bad[i].len));
        assert_non_null(strstr(vmm_last_error(), "alpha-uart"));
        assert_non_null(strstr(vmm_last_error(), "beta-timer"));
    }
    /* adjacent ranges are fine */
    H_OK(vmm_device_map_pio(b->dev, 0x3f0, 8));
    H_OK(vmm_device_map_pio(b->dev, 0x400, 1));
    /* a device may not overlap itself either */
    H_EXPECT_ERR(-EBUSY, vmm_device_map_pio(b->dev, 0x3f4, 2));

    /* MMIO */
    H_OK(vmm_device_map_mmio(a->dev, 0xd0000000, 0x1000));
    H_EXPECT_ERR(-EBUSY, vmm_device_map_mmio(b->dev, 0xd0000fff, 0x10));
    assert_non_null(strstr(vmm_last_error(), "alpha-uart"));
    assert_non_null(strstr(vmm_last_error(), "beta-timer"));
    H_EXPECT_ERR(-EBUSY, vmm_device_map_mmio(b->dev, 0xcfff0000, 0x20000));
    H_OK(vmm_device_map_mmio(b->dev, 0xd0001000, 0x1000));
    H_OK(vmm_device_map_mmio(b->dev, 0xcffff000, 0x1000));
    /* PIO and MMIO are separate spaces: port 0x3f8 vs gpa 0x3f8 */
    H_OK(vmm_device_map_mmio(b->dev, 0x3f8, 8));

    /* after an unmap the range is free again */
    H_EXPECT_ERR(-ENOENT, vmm_device_unmap(b->dev, VMM_SPACE_PIO, 0x3f8));
    H_OK(vmm_device_unmap(a->dev, VMM_SPACE_PIO, 0x3f8));
    H_EXPECT_ERR(-ENOENT, vmm_device_unmap(a->dev, VMM_SPACE_PIO, 0x3f8));
    H_OK(vmm_device_map_pio(b->dev, 0x3f8, 8));
    H_EXPECT_ERR(-EBUSY, vmm_device_map_pio(a->dev, 0x3f8, 1));
    assert_non_null(strstr(vmm_last_error(), "beta-timer"));

    /* detaching frees every range of the device */
    H_OK(vmm_device_detach(b->dev));
    assert_int_equal(b->destroyed, 1);
    H_OK(vmm_device_map_pio(a->dev, 0x3f0, 0x20));
    H_OK(vmm_device_map_mmio(a->dev, 0xd0001000, 0x1000));

    vmm_vm_destroy(vm);
    assert_int_equal(a->destroyed, 1);
    assert_int_equal(b->destroyed, 1);
    h_dev_free(a);
    h_dev_free(b);
}

/* Range edges: the last port, the top of the address space. */
static void test_range_edges(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_vm_new(1, 0);
    struct h_dev *a = h_dev_new("edges");
    h_dev_attach(vm, a);
    H_EXPECT_ERR(-EINVAL, vmm_device_map_pio(a->dev, 0xfff0, 0x11));
    H_OK(vmm_device_map_pio(a->dev, 0xffff, 1));
    H_EXPECT_ERR(-EINVAL, vmm_device_map_pio(a->dev, 0x100, 0));
    H_EXPECT_ERR(-EINVAL, vmm_device_map_pio(a->dev, 0, 65537));
    H_OK(vmm_device_map_pio(a->dev, 0, 0x10));
    H_EXPECT_ERR(-EINVAL, vmm_device_map_mmio(a->dev, 0xfffffffffffff000ull, 0x2000));
    H_EXPECT_ERR(-EINVAL, vmm_device_map_mmio(a->dev, 0xffffffffffffffffull, 2));
    /* ends exactly at 2^64: does not wrap past it */
    H_OK(vmm_device_map_mmio(a->dev, 0xfffffffffffff000ull, 0x1000));
    H_EXPECT_ERR(-EINVAL, vmm_device_map_mmio(a->dev, 0x10000000, 0));
    vmm_vm_destroy(vm);
    h_dev_free(a);
}

static int n_destroy;
static void count_destroy(void *user)
{
    (void)user;
    n_destroy++;
}
static int noop_io(vmm_device *dev, vmm_vcpu *vcpu, const struct vmm_io *io,
                   void *user)
{
    (void)dev; (void)vcpu; (void)io; (void)user;
    return 0;
}
static int n_reset;
static void count_reset(vmm_device *dev, void *user)
{
    (void)dev;
    n_reset += (int)(intptr_t)user;
}

/* destroy runs exactly once: on detach, on VM destroy, and when attach
 * fails after taking user (but not for NULL vm/ops/out). */
static void test_destroy_once(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_vm_new(1, 0);
    struct vmm_device_ops ops = VMM_DEVICE_OPS_INIT;
    ops.name = "d";
    ops.pio = noop_io;
    ops.destroy = count_destroy;
    vmm_device *d = NULL;

    n_destroy = 0;
    H_OK(vmm_device_attach(vm, &ops, NULL, &d));
    assert_string_equal(vmm_device_name(d), "d");
    assert_ptr_equal(vmm_device_vm(d), vm);
    assert_null(vmm_device_user(d));
    H_OK(vmm_device_detach(d));
    assert_int_equal(n_destroy, 1);

    /* bad ops: destroy still runs once */
    n_destroy = 0;
    struct vmm_device_ops bad = ops;
    bad.flags = 0x80;
    H_EXPECT_ERR(-EINVAL, vmm_device_attach(vm, &bad, NULL, &d));
    assert_int_equal(n_destroy, 1);
    bad = ops;
    bad.name = "";
    H_EXPECT_ERR(-EINVAL, vmm_device_attach(vm, &bad, NULL, &d));
    assert_int_equal(n_destroy, 2);
    bad = ops;
    bad.name = NULL;
    H_EXPECT_ERR(-EINVAL, vmm_device_attach(vm, &bad, NULL, &d));
    assert_int_equal(n_destroy, 3);
    char longname[80];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    bad = ops;
    bad.name = longname;
    H_EXPECT_ERR(-EINVAL, vmm_device_attach(vm, &bad, NULL, &d));
    assert_int_equal(n_destroy, 4);
    /* (a struct_size too small to hold the destroy field cannot promise
     * the library a destroy pointer, so only the error is checked) */
    bad = ops;
    bad.struct_size = 4;
    H_EXPECT_ERR(-EINVAL, vmm_device_attach(vm, &bad, NULL, &d));
    assert_in_range(n_destroy, 4, 5);

    /* NULL vm / ops / out: nothing taken */
    n_destroy = 0;
    H_EXPECT_ERR(-EINVAL, vmm_device_attach(NULL, &ops, NULL, &d));
    H_EXPECT_ERR(-EINVAL, vmm_device_attach(vm, NULL, NULL, &d));
    H_EXPECT_ERR(-EINVAL, vmm_device_attach(vm, &ops, NULL, NULL));
    assert_int_equal(n_destroy, 0);

    /* a 63-byte name is fine, and the ops/name are copied */
    char name63[64];
    memset(name63, 'n', 63);
    name63[63] = '\0';
    ops.name = name63;
    H_OK(vmm_device_attach(vm, &ops, (void *)0x1234, &d));
    name63[0] = 'Z';
    ops.name = "changed";
    assert_int_equal(strlen(vmm_device_name(d)), 63);
    assert_int_equal(vmm_device_name(d)[0], 'n');
    assert_ptr_equal(vmm_device_user(d), (void *)0x1234);

    /* no mmio callback: map_mmio refused; no pio callback: map_pio refused */
    H_EXPECT_ERR(-EINVAL, vmm_device_map_mmio(d, 0xd0000000, 0x1000));
    struct vmm_device_ops mm = VMM_DEVICE_OPS_INIT;
    mm.name = "mmio-only";
    mm.mmio = noop_io;
    mm.destroy = count_destroy;
    vmm_device *d2 = NULL;
    H_OK(vmm_device_attach(vm, &mm, NULL, &d2));
    H_EXPECT_ERR(-EINVAL, vmm_device_map_pio(d2, 0x80, 1));
    H_OK(vmm_device_map_mmio(d2, 0xd0000000, 0x1000));

    vmm_vm_destroy(vm);
    assert_int_equal(n_destroy, 2);
}

static void test_reset_devices(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_vm_new(1, 0);
    struct vmm_device_ops ops = VMM_DEVICE_OPS_INIT;
    ops.name = "r1";
    ops.pio = noop_io;
    ops.reset = count_reset;
    vmm_device *d;
    H_OK(vmm_device_attach(vm, &ops, (void *)(intptr_t)1, &d));
    ops.name = "r2";
    H_OK(vmm_device_attach(vm, &ops, (void *)(intptr_t)10, &d));
    ops.name = "no-reset";
    ops.reset = NULL;
    H_OK(vmm_device_attach(vm, &ops, NULL, &d));
    n_reset = 0;
    H_OK(vmm_vm_reset_devices(vm));
    assert_int_equal(n_reset, 11);
    H_OK(vmm_vm_reset_devices(vm));
    assert_int_equal(n_reset, 22);
    vmm_vm_destroy(vm);
}

/* A device detached before the run no longer receives accesses. */
static void test_detached_device_gets_nothing(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("hello16", VMM_CPU_MODE_REAL, 0, 1);
    struct h_dev *old = h_pio_dev(vm, "old-console", GUEST_CONSOLE_PORT, 1);
    H_OK(vmm_device_detach(old->dev));
    assert_int_equal(old->destroyed, 1);
    struct h_dev *con = h_pio_dev(vm, "new-console", GUEST_CONSOLE_PORT, 1);
    h_run_to_hlt(h_vcpu(vm, 0));
    assert_int_equal(old->n, 0);
    assert_string_equal(con->text, "Hello from real mode\n");
    vmm_vm_destroy(vm);
    assert_int_equal(old->destroyed, 1);
    h_dev_free(old);
    h_dev_free(con);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_overlap_refused),
        cmocka_unit_test(test_range_edges),
        cmocka_unit_test(test_destroy_once),
        cmocka_unit_test(test_reset_devices),
        cmocka_unit_test(test_detached_device_gets_nothing),
    };
    return cmocka_run_group_tests_name("devices", tests, NULL, NULL);
}
