/* A guest hammering unmapped ports and MMIO addresses does not disturb the
 * host: every access comes back as an exit, the caller resumes, the counts
 * are exact, RAM outside what the guest wrote is untouched. */
#include "harness.h"

#include <string.h>

#define MAX_EXITS 40000
#define CANARY_GPA 0x180000
#define CANARY_LEN 0x40000

struct tally {
    uint64_t pio_single, pio_rep_out, pio_rep_in, mmio, hlt, other;
};

static void canary_fill(vmm_vm *vm)
{
    static uint8_t c[CANARY_LEN];
    for (size_t i = 0; i < sizeof c; i++)
        c[i] = (uint8_t)(i * 7 + 3);
    H_OK(vmm_memory_write(vm, CANARY_GPA, c, sizeof c));
}

static void canary_check(vmm_vm *vm)
{
    static uint8_t c[CANARY_LEN];
    H_OK(vmm_memory_read(vm, CANARY_GPA, c, sizeof c));
    for (size_t i = 0; i < sizeof c; i++)
        if (c[i] != (uint8_t)(i * 7 + 3))
            fail_msg("RAM canary changed at gpa %#zx", CANARY_GPA + i);
}

static void hammer(vmm_vm *vm, struct tally *t, int ports_mapped, int mmio_mapped)
{
    vmm_vcpu *cpu = h_vcpu(vm, 0);
    struct vmm_exit e;
    memset(t, 0, sizeof *t);
    for (int n = 0; n < MAX_EXITS; n++) {
        memset(&e, 0, sizeof e);
        int rc = vmm_vcpu_run(cpu, &e);
        if (rc != 0)
            fail_msg("vmm_vcpu_run: %d (%s) after %d exits: %s", rc,
                     vmm_strerror(rc), n, vmm_last_error());
        switch (e.reason) {
        case VMM_EXIT_HLT:
            t->hlt++;
            return;
        case VMM_EXIT_PIO:
            assert_non_null(e.pio.data);
            if (e.pio.port == 0x1234) {
                assert_true(e.pio.is_write);
                assert_int_equal(e.pio.size, 1);
                t->pio_rep_out += e.pio.count;
            } else if (e.pio.port == 0x1235) {
                assert_false(e.pio.is_write);
                assert_int_equal(e.pio.size, 1);
                t->pio_rep_in += e.pio.count;
            } else if (e.pio.port == 0xffff) {
                assert_int_equal(e.pio.count, 1);
                assert_int_equal(e.pio.size, e.pio.is_write ? 4 : 2);
                if (e.pio.is_write)
                    assert_int_equal(h_le(e.pio.data, 4), 0xa5a5a5a5);
                t->pio_single++;
            } else {
                assert_false(ports_mapped);
                assert_in_range(e.pio.port, GUEST_HAMMER_PORT,
                                GUEST_HAMMER_PORT + GUEST_HAMMER_PORTS - 1);
                assert_int_equal(e.pio.size, 1);
                assert_int_equal(e.pio.count, 1);
                if (e.pio.is_write)
                    assert_int_equal(e.pio.data[0], e.pio.port & 0xff);
                t->pio_single++;
            }
            break;
        case VMM_EXIT_MMIO:
            assert_non_null(e.mmio.data);
            if (e.mmio.gpa == 0xfffffff8) {
                assert_int_equal(e.mmio.len, 8);
            } else {
                assert_false(mmio_mapped);
                assert_in_range(e.mmio.gpa, GUEST_HAMMER_MMIO,
                                GUEST_HAMMER_MMIO +
                                (GUEST_HAMMER_MMIO_PAGES - 1) * 0x1000ull);
                assert_int_equal(e.mmio.gpa & 0xfff, 0);
                assert_int_equal(e.mmio.len, e.mmio.is_write ? 8 : 1);
                if (e.mmio.is_write)
                    assert_int_equal(h_le(e.mmio.data, 8), e.mmio.gpa);
            }
            t->mmio++;
            break;
        default:
            fail_msg("unexpected exit %s after %d exits",
                     vmm_exit_reason_name(e.reason), n);
        }
    }
    fail_msg("no HLT after %d exits", MAX_EXITS);
}

static void test_hammer_unmapped(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("hammer64", VMM_CPU_MODE_LONG, 0, 1);
    struct h_dev *bystander = h_pio_dev(vm, "bystander", GUEST_CONSOLE_PORT, 8);
    h_dev_mmio(bystander, 0xd0000000, 0x1000);
    canary_fill(vm);
    struct tally t;
    double t0 = h_now();
    hammer(vm, &t, 0, 0);
    print_message("hammer: %.3f s\n", h_now() - t0);
    assert_int_equal(t.pio_single, 2 * GUEST_HAMMER_PORTS + 2);
    assert_int_equal(t.pio_rep_out, 4096);
    assert_int_equal(t.pio_rep_in, 4096);
    assert_int_equal(t.mmio, 2 * GUEST_HAMMER_MMIO_PAGES + 2);
    assert_int_equal(t.hlt, 1);
    assert_int_equal(bystander->n, 0);
    canary_check(vm);
    /* REP INSB stored the open-bus 0xff the caller left in place */
    uint8_t buf[4096];
    H_OK(vmm_memory_read(vm, 0x10000, buf, sizeof buf));
    for (size_t i = 0; i < sizeof buf; i++)
        assert_int_equal(buf[i], 0xff);
    /* and the guest code is intact */
    uint8_t code[4];
    H_OK(vmm_memory_read(vm, GUEST_LOAD_GPA, code, sizeof code));
    assert_int_equal(code[0], 0xfc);            /* cld */

    struct vmm_vm_stats vs = { .struct_size = sizeof vs };
    H_OK(vmm_vm_get_stats(vm, &vs));
    assert_int_equal(vs.exits[VMM_STAT_EXIT_MMIO], t.mmio);
    assert_true(vs.exits[VMM_STAT_EXIT_PIO] >= t.pio_single + 2);
    vmm_vm_destroy(vm);
    h_dev_free(bystander);
}

/* With VMM_VM_F_OPEN_BUS the same flood never leaves vmm_vcpu_run(): every
 * unclaimed access is answered as an open bus (reads all-ones, writes
 * dropped) and counted, and the guest reaches its HLT in one run. */
static void test_hammer_open_bus(void **state)
{
    (void)state;
    h_require_kvm();
    struct vmm_vm_config cfg = VMM_VM_CONFIG_INIT;
    cfg.flags = VMM_VM_F_OPEN_BUS;
    vmm_vm *vm = NULL;
    H_OK(vmm_vm_create(&cfg, &vm));
    H_OK(vmm_memory_add_ram(vm, 0, H_RAM_SIZE, 0, NULL));
    h_load(vm, "hammer64");
    h_setup_vcpu(h_vcpu(vm, 0), VMM_CPU_MODE_LONG, 0);
    struct h_dev *bystander = h_pio_dev(vm, "bystander", GUEST_CONSOLE_PORT, 8);
    canary_fill(vm);
    struct vmm_exit e;
    memset(&e, 0, sizeof e);
    H_OK(vmm_vcpu_run(h_vcpu(vm, 0), &e));
    assert_int_equal(e.reason, VMM_EXIT_HLT);
    assert_int_equal(bystander->n, 0);
    canary_check(vm);
    uint8_t buf[4096];
    H_OK(vmm_memory_read(vm, 0x10000, buf, sizeof buf));
    for (size_t i = 0; i < sizeof buf; i++)
        assert_int_equal(buf[i], 0xff); /* REP INSB read the open bus */
    struct vmm_vm_stats vs = { .struct_size = sizeof vs };
    H_OK(vmm_vm_get_stats(vm, &vs));
    assert_int_equal(vs.exits[VMM_STAT_EXIT_UNHANDLED], 0);
    assert_int_equal(vs.exits[VMM_STAT_EXIT_MMIO], 2 * GUEST_HAMMER_MMIO_PAGES + 2);
    assert_true(vs.exits[VMM_STAT_EXIT_PIO] >= 2 * GUEST_HAMMER_PORTS + 4);
    assert_int_equal(vs.exits[VMM_STAT_EXIT_OPEN_BUS],
                     vs.exits[VMM_STAT_EXIT_PIO] + vs.exits[VMM_STAT_EXIT_MMIO]);
    vmm_vm_destroy(vm);
    h_dev_free(bystander);
}

/* The same flood with devices over the hammered ranges: they get exactly
 * the accesses, the rest still comes back to the caller. */
static void test_hammer_mapped(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("hammer64", VMM_CPU_MODE_LONG, 0, 1);
    struct h_dev *pd = h_pio_dev(vm, "port-sink", GUEST_HAMMER_PORT, GUEST_HAMMER_PORTS);
    struct h_dev *md = h_mmio_dev(vm, "mmio-sink", GUEST_HAMMER_MMIO,
                                  GUEST_HAMMER_MMIO_PAGES * 0x1000ull);
    struct tally t;
    hammer(vm, &t, 1, 1);
    assert_int_equal(t.pio_single, 2);
    assert_int_equal(t.pio_rep_out, 4096);
    assert_int_equal(t.pio_rep_in, 4096);
    assert_int_equal(t.mmio, 2);
    struct vmm_device_stats st = { .struct_size = sizeof st };
    H_OK(vmm_device_get_stats(pd->dev, &st));
    assert_int_equal(st.pio_writes, GUEST_HAMMER_PORTS);
    assert_int_equal(st.pio_reads, GUEST_HAMMER_PORTS);
    H_OK(vmm_device_get_stats(md->dev, &st));
    assert_int_equal(st.mmio_writes, GUEST_HAMMER_MMIO_PAGES);
    assert_int_equal(st.mmio_reads, GUEST_HAMMER_MMIO_PAGES);
    for (size_t i = 0; i < md->n; i++) {
        assert_int_equal(md->log[i].offset, md->log[i].addr - GUEST_HAMMER_MMIO);
        assert_int_equal(md->log[i].offset & 0xfff, 0);
    }
    assert_int_equal(pd->bad_args + md->bad_args, 0);
    vmm_vm_destroy(vm);
    h_dev_free(pd);
    h_dev_free(md);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hammer_unmapped),
        cmocka_unit_test(test_hammer_mapped),
        cmocka_unit_test(test_hammer_open_bus),
    };
    return cmocka_run_group_tests_name("hammer", tests, NULL, NULL);
}
