/* Hypercalls through the port-I/O doorbell (include/vmm/hypercall.h). */
#include "harness.h"

#include <errno.h>
#include <string.h>

static const uint64_t args1[6] = {
    0x0102030405060708ull, 0x1112131415161718ull, 0x2122232425262728ull,
    0x3132333435363738ull, 0x4142434445464748ull, 0x5152535455565758ull,
};

struct hc_state {
    int calls[4];
    struct vmm_hypercall last[4];
    int vcpu_index[4];
    int nr3_mode;   /* 0: return 0x3333 + arg0; 1: VMM_UNHANDLED; 2: -EIO */
};

static uint64_t weigh(const uint64_t a[6])
{
    uint64_t r = 0;
    for (int i = 0; i < 6; i++)
        r += a[i] * (uint64_t)(i + 1);
    return r;
}

static int hc1(vmm_vcpu *vcpu, const struct vmm_hypercall *call,
               uint64_t *result, void *user)
{
    struct hc_state *s = user;
    s->calls[1]++;
    s->last[1] = *call;
    s->vcpu_index[1] = vmm_vcpu_index(vcpu);
    *result = weigh(call->args);
    return 0;
}

static int hc2(vmm_vcpu *vcpu, const struct vmm_hypercall *call,
               uint64_t *result, void *user)
{
    struct hc_state *s = user;
    (void)vcpu;
    s->calls[2]++;
    s->last[2] = *call;
    *result = call->args[0] * call->args[1];
    return 0;
}

static int hc3(vmm_vcpu *vcpu, const struct vmm_hypercall *call,
               uint64_t *result, void *user)
{
    struct hc_state *s = user;
    (void)vcpu;
    s->calls[3]++;
    s->last[3] = *call;
    switch (s->nr3_mode) {
    case 0:
        *result = 0x3333 + call->args[0];
        return 0;
    case 1:
        return VMM_UNHANDLED;
    default:
        return -EIO;
    }
}

static vmm_vm *setup(struct hc_state *s, struct h_dev **rep)
{
    vmm_vm *vm = h_guest_vm("hcall64", VMM_CPU_MODE_LONG, 0, 1);
    H_OK(vmm_hypercall_register(vm, 1, hc1, s));
    H_OK(vmm_hypercall_register(vm, 0x100000002ull, hc2, s));
    H_OK(vmm_hypercall_register(vm, 3, hc3, s));
    *rep = h_pio_dev(vm, "report", GUEST_HC_REPORT, 4);
    return vm;
}

static uint64_t report(const struct h_dev *rep, int i)
{
    return rep->log[2 * i].value | rep->log[2 * i + 1].value << 32;
}

static void test_hypercall_args_and_results(void **state)
{
    (void)state;
    h_require_kvm();
    struct hc_state s = { 0 };
    struct h_dev *rep;
    vmm_vm *vm = setup(&s, &rep);
    h_run_to_hlt(h_vcpu(vm, 0));

    assert_int_equal(s.calls[1], 1);
    assert_int_equal(s.last[1].nr, 1);
    for (int i = 0; i < 6; i++)
        assert_int_equal(s.last[1].args[i], args1[i]);
    assert_int_equal(s.vcpu_index[1], 0);
    assert_int_equal(s.calls[2], 1);
    assert_int_equal(s.last[2].nr, 0x100000002ull);
    assert_int_equal(s.last[2].args[0], 5);
    assert_int_equal(s.last[2].args[1], 7);
    assert_int_equal(s.calls[3], 1);
    assert_int_equal(s.last[3].args[0], 0x33);

    assert_int_equal(rep->n, 10);
    assert_int_equal(report(rep, 0), weigh(args1));       /* nr 1 result */
    assert_int_equal(report(rep, 1), 0);                  /* regs preserved */
    assert_int_equal(report(rep, 2), 35);                 /* 64-bit nr */
    assert_int_equal(report(rep, 3), (uint64_t)(int64_t)-ENOSYS);
    assert_int_equal(report(rep, 4), 0x3333 + 0x33);

    struct vmm_vm_stats vs = { .struct_size = sizeof vs };
    H_OK(vmm_vm_get_stats(vm, &vs));
    /* three registered calls; the unregistered one may or may not count */
    assert_in_range(vs.exits[VMM_STAT_EXIT_HYPERCALL], 3, 4);
    vmm_vm_destroy(vm);
    h_dev_free(rep);
}

static void test_hypercall_unhandled(void **state)
{
    (void)state;
    h_require_kvm();
    struct hc_state s = { .nr3_mode = 1 };
    struct h_dev *rep;
    vmm_vm *vm = setup(&s, &rep);
    vmm_vcpu *cpu = h_vcpu(vm, 0);
    struct vmm_exit e;
    h_run_expect(cpu, &e, VMM_EXIT_PIO);
    assert_int_equal(s.calls[3], 1);
    assert_int_equal(e.pio.port, VMM_HYPERCALL_PORT_DEFAULT);
    assert_int_equal(e.pio.size, 4);
    assert_int_equal(e.pio.is_write, VMM_IO_WRITE);
    assert_int_equal(e.pio.count, 1);
    assert_int_equal(h_le(e.pio.data, 4), 3);
    h_run_to_hlt(cpu);
    assert_int_equal(rep->n, 10);
    assert_int_equal(report(rep, 4), 3);   /* RAX untouched */
    vmm_vm_destroy(vm);
    h_dev_free(rep);
}

static void test_hypercall_error_stops_vcpu(void **state)
{
    (void)state;
    h_require_kvm();
    struct hc_state s = { .nr3_mode = 2 };
    struct h_dev *rep;
    vmm_vm *vm = setup(&s, &rep);
    struct vmm_exit e;
    memset(&e, 0, sizeof e);
    int rc = vmm_vcpu_run(h_vcpu(vm, 0), &e);
    assert_int_equal(rc, -EIO);
    assert_int_equal(e.reason, VMM_EXIT_DEVICE_ERROR);
    assert_int_equal(e.error, -EIO);
    assert_non_null(strstr(vmm_last_error(), "hypercall"));
    assert_int_equal(rep->n, 0);       /* the guest got no further */
    vmm_vm_destroy(vm);
    h_dev_free(rep);
}

static void test_hypercall_registration(void **state)
{
    (void)state;
    h_require_kvm();
    struct hc_state s = { 0 };
    vmm_vm *vm = h_vm_new(1, 0);
    H_OK(vmm_hypercall_register(vm, 7, hc1, &s));
    H_EXPECT_ERR(-EEXIST, vmm_hypercall_register(vm, 7, hc2, &s));
    H_EXPECT_ERR(-EINVAL, vmm_hypercall_register(vm, 8, NULL, &s));
    H_EXPECT_ERR(-ENOENT, vmm_hypercall_unregister(vm, 8));
    H_OK(vmm_hypercall_unregister(vm, 7));
    H_EXPECT_ERR(-ENOENT, vmm_hypercall_unregister(vm, 7));
    H_OK(vmm_hypercall_register(vm, 7, hc2, &s));

    /* the doorbell occupies [0x600, 0x604) like a device named "hypercall" */
    struct h_dev *d = h_dev_new("sneaky");
    h_dev_attach(vm, d);
    H_EXPECT_ERR(-EBUSY, vmm_device_map_pio(d->dev, 0x603, 1));
    assert_non_null(strstr(vmm_last_error(), "hypercall"));
    assert_non_null(strstr(vmm_last_error(), "sneaky"));
    H_EXPECT_ERR(-EBUSY, vmm_device_map_pio(d->dev, 0x5f0, 0x11));
    H_OK(vmm_device_map_pio(d->dev, 0x604, 1));
    H_OK(vmm_device_map_pio(d->dev, 0x5f0, 0x10));
    vmm_vm_destroy(vm);
    assert_int_equal(d->destroyed, 1);
    h_dev_free(d);
}

/* hypercall_port 0: no hypercalls, and port 0x600 is an ordinary port. */
static void test_hypercall_disabled(void **state)
{
    (void)state;
    h_require_kvm();
    struct vmm_vm_config cfg = VMM_VM_CONFIG_INIT;
    cfg.hypercall_port = 0;
    vmm_vm *vm = NULL;
    H_OK(vmm_vm_create(&cfg, &vm));
    H_EXPECT_ERR(-EINVAL, vmm_hypercall_register(vm, 1, hc1, NULL));
    struct h_dev *d = h_dev_new("plain");
    h_dev_attach(vm, d);
    H_OK(vmm_device_map_pio(d->dev, VMM_HYPERCALL_PORT_DEFAULT, 4));
    vmm_vm_destroy(vm);
    h_dev_free(d);
}

/* The doorbell moved to 0x700: the guest's writes to 0x600 reach a device. */
static void test_hypercall_custom_port(void **state)
{
    (void)state;
    h_require_kvm();
    struct vmm_vm_config cfg = VMM_VM_CONFIG_INIT;
    cfg.hypercall_port = 0x700;
    vmm_vm *vm = NULL;
    struct hc_state s = { 0 };
    H_OK(vmm_vm_create(&cfg, &vm));
    H_OK(vmm_memory_add_ram(vm, 0, H_RAM_SIZE, 0, NULL));
    h_load(vm, "hcall64");
    h_setup_vcpu(h_vcpu(vm, 0), VMM_CPU_MODE_LONG, 0);
    H_OK(vmm_hypercall_register(vm, 1, hc1, &s));
    struct h_dev *old = h_pio_dev(vm, "old-doorbell", 0x600, 4);
    struct h_dev *rep = h_pio_dev(vm, "report", GUEST_HC_REPORT, 4);
    h_run_to_hlt(h_vcpu(vm, 0));
    assert_int_equal(s.calls[1], 0);
    assert_int_equal(old->n, 4);
    const uint64_t eax[4] = { 1, 2, 0x99, 3 };
    for (int i = 0; i < 4; i++) {
        assert_true(old->log[i].is_write);
        assert_int_equal(old->log[i].len, 4);
        assert_int_equal(old->log[i].value, eax[i]);
    }
    /* RAX kept its value: the device is not a hypercall */
    assert_int_equal(report(rep, 0), 1);
    vmm_vm_destroy(vm);
    h_dev_free(old);
    h_dev_free(rep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hypercall_args_and_results),
        cmocka_unit_test(test_hypercall_unhandled),
        cmocka_unit_test(test_hypercall_error_stops_vcpu),
        cmocka_unit_test(test_hypercall_registration),
        cmocka_unit_test(test_hypercall_disabled),
        cmocka_unit_test(test_hypercall_custom_port),
    };
    return cmocka_run_group_tests_name("hypercall", tests, NULL, NULL);
}
