/* Guest accesses that run past the end of a device's range must never
 * reach the device with offset + len beyond what it mapped (devices index
 * their registers by offset); they may be split, or returned to the caller. */
#include "harness.h"

#include <string.h>

static int violations;

static int check_bounds(struct h_dev *d, vmm_vcpu *vcpu, const struct vmm_io *io)
{
    (void)vcpu;
    uint64_t size = io->space == VMM_SPACE_MMIO ? 4 : 2;
    if (io->offset + io->len > size) {
        print_message("%s: callback got offset %llu len %u, range is %llu bytes\n",
                      d->name, (unsigned long long)io->offset, io->len,
                      (unsigned long long)size);
        violations++;
    }
    return 0;
}

static void test_straddling_accesses(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("straddle64", VMM_CPU_MODE_LONG, 0, 1);
    struct h_dev *mm = h_mmio_dev(vm, "tiny-mmio", GUEST_STRADDLE_MMIO, 4);
    struct h_dev *pd = h_pio_dev(vm, "tiny-pio", GUEST_STRADDLE_PORT, 2);
    mm->hook = check_bounds;
    pd->hook = check_bounds;
    violations = 0;

    vmm_vcpu *cpu = h_vcpu(vm, 0);
    struct vmm_exit e;
    int saw_mmio_outside = 0, saw_pio_outside = 0, n_exits = 0;
    for (;;) {
        memset(&e, 0, sizeof e);
        int rc = vmm_vcpu_run(cpu, &e);
        if (rc != 0)
            fail_msg("vmm_vcpu_run: %d (%s): %s", rc, vmm_strerror(rc),
                     vmm_last_error());
        if (e.reason == VMM_EXIT_HLT)
            break;
        assert_true(++n_exits < 32);
        if (e.reason == VMM_EXIT_MMIO) {
            print_message("to caller: mmio gpa +%#llx len %u %s\n",
                          (unsigned long long)(e.mmio.gpa - GUEST_STRADDLE_MMIO),
                          e.mmio.len, e.mmio.is_write ? "write" : "read");
            if (e.mmio.gpa == GUEST_STRADDLE_MMIO + 4 && e.mmio.len == 1) {
                assert_int_equal(e.mmio.data[0], 0xcc);
                saw_mmio_outside = 1;
            }
        } else if (e.reason == VMM_EXIT_PIO) {
            print_message("to caller: pio port +%u size %u %s\n",
                          e.pio.port - GUEST_STRADDLE_PORT, e.pio.size,
                          e.pio.is_write ? "write" : "read");
            if (e.pio.port == GUEST_STRADDLE_PORT + 2 && e.pio.size == 1) {
                assert_int_equal(e.pio.data[0], 0x33);
                saw_pio_outside = 1;
            }
        } else {
            fail_msg("unexpected exit %s", vmm_exit_reason_name(e.reason));
        }
    }
    for (size_t i = 0; i < mm->n; i++)
        print_message("tiny-mmio: +%llu len %u %s\n",
                      (unsigned long long)mm->log[i].offset, mm->log[i].len,
                      mm->log[i].is_write ? "write" : "read");
    for (size_t i = 0; i < pd->n; i++)
        print_message("tiny-pio: +%llu len %u %s\n",
                      (unsigned long long)pd->log[i].offset, pd->log[i].len,
                      pd->log[i].is_write ? "write" : "read");
    assert_int_equal(violations, 0);
    /* the accesses wholly outside came back; the ones wholly inside went to
     * the devices (as their last access) */
    assert_true(saw_mmio_outside);
    assert_true(saw_pio_outside);
    assert_true(mm->n >= 1);
    assert_int_equal(mm->log[mm->n - 1].offset, 3);
    assert_int_equal(mm->log[mm->n - 1].value, 0xdd);
    assert_true(pd->n >= 1);
    assert_int_equal(pd->log[pd->n - 1].offset, 1);
    assert_int_equal(pd->log[pd->n - 1].value, 0x22);
    vmm_vm_destroy(vm);
    h_dev_free(mm);
    h_dev_free(pd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_straddling_accesses),
    };
    return cmocka_run_group_tests_name("bounds", tests, NULL, NULL);
}
