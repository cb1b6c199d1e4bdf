/* Port I/O nobody handles comes back to the caller with the right port,
 * size, direction and data; what the caller writes for an IN reaches the
 * guest. Also a device declining with VMM_UNHANDLED. */
#include "harness.h"

#include <string.h>

#define U(off) (GUEST_UNH_BASE + (off))

static void expect_pio(vmm_vcpu *cpu, struct vmm_exit *e, uint16_t port,
                       uint8_t size, uint8_t is_write, uint32_t count)
{
    h_run_expect(cpu, e, VMM_EXIT_PIO);
    assert_int_equal(e->pio.port, port);
    assert_int_equal(e->pio.size, size);
    assert_int_equal(e->pio.is_write, is_write);
    assert_int_equal(e->pio.count, count);
    assert_non_null(e->pio.data);
    assert_int_equal(e->vcpu_index, 0);
    if (!is_write)
        for (uint32_t i = 0; i < (uint32_t)size * count; i++)
            assert_int_equal(e->pio.data[i], 0xff);   /* pre-filled */
}

/* Drives pio64 through all its exits. @decliner: a device is mapped over
 * the whole range but returns VMM_UNHANDLED, which must look the same. */
static void run_unhandled(struct h_dev *decliner, vmm_vm *vm)
{
    vmm_vcpu *cpu = h_vcpu(vm, 0);
    struct vmm_exit e;

    expect_pio(cpu, &e, U(0), 1, VMM_IO_WRITE, 1);
    assert_int_equal(e.pio.data[0], 0x77);
    expect_pio(cpu, &e, U(2), 2, VMM_IO_WRITE, 1);
    assert_int_equal(h_le(e.pio.data, 2), 0xbeef);
    expect_pio(cpu, &e, U(4), 4, VMM_IO_WRITE, 1);
    assert_int_equal(h_le(e.pio.data, 4), 0xdeadbeef);

    expect_pio(cpu, &e, U(6), 1, VMM_IO_READ, 1);
    e.pio.data[0] = 0x9c;
    expect_pio(cpu, &e, U(0x10), 1, VMM_IO_WRITE, 1);   /* echo */
    assert_int_equal(e.pio.data[0], 0x9c);

    expect_pio(cpu, &e, U(8), 2, VMM_IO_READ, 1);
    h_put_le(e.pio.data, 0x4e21, 2);
    expect_pio(cpu, &e, U(0x10), 2, VMM_IO_WRITE, 1);
    assert_int_equal(h_le(e.pio.data, 2), 0x4e21);

    expect_pio(cpu, &e, U(0xc), 4, VMM_IO_READ, 1);
    h_put_le(e.pio.data, 0x600dcafe, 4);
    expect_pio(cpu, &e, U(0x10), 4, VMM_IO_WRITE, 1);
    assert_int_equal(h_le(e.pio.data, 4), 0x600dcafe);

    expect_pio(cpu, &e, U(0x14), 4, VMM_IO_READ, 1);    /* left as is */
    expect_pio(cpu, &e, U(0x10), 4, VMM_IO_WRITE, 1);
    assert_int_equal(h_le(e.pio.data, 4), 0xffffffff);

    /* REP INSB of 4 bytes: KVM may report it as one exit with count 4 or
     * as several; answer each element with 0xd0 + its index. */
    uint32_t got = 0;
    while (got < 4) {
        h_run_expect(cpu, &e, VMM_EXIT_PIO);
        assert_int_equal(e.pio.port, U(0x18));
        assert_int_equal(e.pio.size, 1);
        assert_int_equal(e.pio.is_write, VMM_IO_READ);
        assert_true(e.pio.count >= 1 && got + e.pio.count <= 4);
        for (uint32_t i = 0; i < e.pio.count; i++)
            e.pio.data[i] = (uint8_t)(0xd0 + got + i);
        got += e.pio.count;
    }
    got = 0;
    while (got < 4) {
        h_run_expect(cpu, &e, VMM_EXIT_PIO);
        assert_int_equal(e.pio.port, U(0x19));
        assert_int_equal(e.pio.size, 1);
        assert_int_equal(e.pio.is_write, VMM_IO_WRITE);
        assert_true(e.pio.count >= 1 && got + e.pio.count <= 4);
        for (uint32_t i = 0; i < e.pio.count; i++)
            assert_int_equal(e.pio.data[i], 0xd0 + got + i);
        got += e.pio.count;
    }
    h_run_to_hlt(cpu);

    if (decliner) {
        /* 13 single accesses, each offered to the device first, and at
         * least one element of each REP (whether the library offers the
         * rest of a declined REP exit is its choice) */
        assert_in_range(decliner->n, 13 + 2, 13 + 8);
        struct vmm_device_stats st = { .struct_size = sizeof st };
        H_OK(vmm_device_get_stats(decliner->dev, &st));
        assert_int_equal(st.unhandled, decliner->n);
        assert_int_equal(st.errors, 0);
    }
}

static void test_pio_unhandled(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("pio64", VMM_CPU_MODE_LONG, 0, 1);
    run_unhandled(NULL, vm);
    struct vmm_vm_stats vs = { .struct_size = sizeof vs };
    H_OK(vmm_vm_get_stats(vm, &vs));
    assert_true(vs.exits[VMM_STAT_EXIT_PIO] >= 15);
    assert_true(vs.exits[VMM_STAT_EXIT_UNHANDLED] >= 15);
    vmm_vm_destroy(vm);
}

static int decline(struct h_dev *d, vmm_vcpu *vcpu, const struct vmm_io *io)
{
    (void)d;
    (void)vcpu;
    (void)io;
    return VMM_UNHANDLED;
}

static void test_pio_declined_by_device(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("pio64", VMM_CPU_MODE_LONG, 0, 1);
    struct h_dev *d = h_pio_dev(vm, "decliner", GUEST_UNH_BASE, 0x20);
    d->hook = decline;
    d->no_fill = 1;
    run_unhandled(d, vm);
    vmm_vm_destroy(vm);
    h_dev_free(d);
}

/* The caller answers an unhandled IN and also changes a register before
 * resuming: the guest must get both. */
static void test_pio_answer_and_set_register(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("pio64", VMM_CPU_MODE_LONG, 0, 1);
    vmm_vcpu *cpu = h_vcpu(vm, 0);
    struct vmm_exit e;
    for (int i = 0; i < 3; i++)
        h_run_expect(cpu, &e, VMM_EXIT_PIO);          /* the three OUTs */
    expect_pio(cpu, &e, U(6), 1, VMM_IO_READ, 1);
    e.pio.data[0] = 0x9c;
    H_OK(vmm_vcpu_set_reg(cpu, VMM_REG_R15, 0x5151));
    expect_pio(cpu, &e, U(0x10), 1, VMM_IO_WRITE, 1);
    assert_int_equal(e.pio.data[0], 0x9c);
    uint64_t r15 = 0;
    H_OK(vmm_vcpu_get_reg(cpu, VMM_REG_R15, &r15));
    assert_int_equal(r15, 0x5151);
    vmm_vm_destroy(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pio_unhandled),
        cmocka_unit_test(test_pio_declined_by_device),
        cmocka_unit_test(test_pio_answer_and_set_register),
    };
    return cmocka_run_group_tests_name("pio", tests, NULL, NULL);
}
