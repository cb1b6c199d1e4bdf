/* MMIO: 1/2/4/8-byte reads and writes through a device and, without one,
 * returned to the caller; read-only memory whose writes arrive as MMIO. */
#include "harness.h"

#include <string.h>

static const struct { uint64_t off; uint32_t len; uint64_t val; } writes[] = {
    { 0x0, 1, 0x11 },
    { 0x2, 2, 0x2233 },
    { 0x4, 4, 0x44556677 },
    { 0x8, 8, 0x8899aabbccddeeffull },
};
#define PRESET 0x0123456789abcdefull /* what the device holds at +0x10 */

/* The report port log of mmio64: 1, 2, 4, 4+4 (8-byte value), 4+4 (+0x10). */
static void check_report(const struct h_dev *rep, const uint64_t readback[5])
{
    assert_int_equal(rep->n, 7);
    assert_int_equal(rep->log[0].len, 1);
    assert_int_equal(rep->log[0].value, readback[0]);
    assert_int_equal(rep->log[1].len, 2);
    assert_int_equal(rep->log[1].value, readback[1]);
    assert_int_equal(rep->log[2].len, 4);
    assert_int_equal(rep->log[2].value, readback[2]);
    for (int i = 3; i < 7; i++)
        assert_int_equal(rep->log[i].len, 4);
    assert_int_equal(rep->log[3].value | rep->log[4].value << 32, readback[3]);
    assert_int_equal(rep->log[5].value | rep->log[6].value << 32, readback[4]);
}

static void test_mmio_device(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("mmio64", VMM_CPU_MODE_LONG, 0, 1);
    struct h_dev *mm = h_mmio_dev(vm, "regs", GUEST_MMIO_BASE, 0x1000);
    struct h_dev *rep = h_pio_dev(vm, "report", GUEST_MMIO_REPORT, 4);
    h_put_le(mm->regs + 0x10, PRESET, 8);

    h_run_to_hlt(h_vcpu(vm, 0));

    /* 4 writes, then 5 reads, each one callback with the right width */
    assert_int_equal(mm->n, 9);
    for (int i = 0; i < 4; i++) {
        const struct h_access *a = &mm->log[i];
        assert_int_equal(a->space, VMM_SPACE_MMIO);
        assert_true(a->is_write);
        assert_int_equal(a->addr, GUEST_MMIO_BASE + writes[i].off);
        assert_int_equal(a->offset, writes[i].off);
        assert_int_equal(a->len, writes[i].len);
        assert_int_equal(a->value, writes[i].val);
        const struct h_access *r = &mm->log[4 + i];
        assert_false(r->is_write);
        assert_int_equal(r->offset, writes[i].off);
        assert_int_equal(r->len, writes[i].len);
        assert_int_equal(r->value, writes[i].val);
    }
    assert_false(mm->log[8].is_write);
    assert_int_equal(mm->log[8].offset, 0x10);
    assert_int_equal(mm->log[8].len, 8);

    const uint64_t readback[5] = { 0x11, 0x2233, 0x44556677,
                                   0x8899aabbccddeeffull, PRESET };
    check_report(rep, readback);
    assert_int_equal(mm->bad_args + rep->bad_args, 0);

    struct vmm_device_stats st = { .struct_size = sizeof st };
    H_OK(vmm_device_get_stats(mm->dev, &st));
    assert_int_equal(st.mmio_writes, 4);
    assert_int_equal(st.mmio_reads, 5);
    assert_int_equal(st.pio_reads + st.pio_writes, 0);
    vmm_vm_destroy(vm);
    h_dev_free(mm);
    h_dev_free(rep);
}

/* No device at the MMIO range: every access comes back as VMM_EXIT_MMIO;
 * the caller's answers to reads reach the guest, and a read the caller does
 * not answer sees the 0xff pre-fill. */
static void test_mmio_unhandled(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("mmio64", VMM_CPU_MODE_LONG, 0, 1);
    struct h_dev *rep = h_pio_dev(vm, "report", GUEST_MMIO_REPORT, 4);
    vmm_vcpu *cpu = h_vcpu(vm, 0);
    struct vmm_exit e;
    const uint64_t answers[4] = { 0x5a, 0x6b7c, 0x8d9eafb0, 0xc1d2e3f405162738ull };

    for (int i = 0; i < 4; i++) {
        h_run_expect(cpu, &e, VMM_EXIT_MMIO);
        assert_int_equal(e.mmio.gpa, GUEST_MMIO_BASE + writes[i].off);
        assert_int_equal(e.mmio.len, writes[i].len);
        assert_int_equal(e.mmio.is_write, VMM_IO_WRITE);
        assert_non_null(e.mmio.data);
        assert_int_equal(h_le(e.mmio.data, e.mmio.len), writes[i].val);
    }
    for (int i = 0; i < 4; i++) {
        h_run_expect(cpu, &e, VMM_EXIT_MMIO);
        assert_int_equal(e.mmio.gpa, GUEST_MMIO_BASE + writes[i].off);
        assert_int_equal(e.mmio.len, writes[i].len);
        assert_int_equal(e.mmio.is_write, VMM_IO_READ);
        for (uint32_t b = 0; b < e.mmio.len; b++)
            assert_int_equal(e.mmio.data[b], 0xff);  /* pre-filled */
        h_put_le(e.mmio.data, answers[i], e.mmio.len);
    }
    h_run_expect(cpu, &e, VMM_EXIT_MMIO);      /* +0x10: left unanswered */
    assert_int_equal(e.mmio.gpa, GUEST_MMIO_BASE + 0x10);
    assert_int_equal(e.mmio.len, 8);
    assert_int_equal(e.mmio.is_write, VMM_IO_READ);
    h_run_to_hlt(cpu);

    const uint64_t readback[5] = { answers[0], answers[1], answers[2],
                                   answers[3], ~0ull };
    check_report(rep, readback);

    struct vmm_vm_stats vs = { .struct_size = sizeof vs };
    H_OK(vmm_vm_get_stats(vm, &vs));
    assert_int_equal(vs.exits[VMM_STAT_EXIT_MMIO], 9);
    assert_in_range(vs.exits[VMM_STAT_EXIT_UNHANDLED], 9, 10); /* +HLT? */
    vmm_vm_destroy(vm);
    h_dev_free(rep);
}

/* A read-only region: the guest reads the bytes the host put there, its
 * writes come back as MMIO (to the caller, or to a device mapped over the
 * region), and the region is unchanged. */
static void run_rom(int with_device)
{
    h_require_kvm();
    int f = vmm_has_feature(VMM_FEATURE_READONLY_MEMORY);
    assert_true(f >= 0);
    if (f == 0) {
        print_message("SKIP: KVM has no read-only memory here\n");
        skip();
    }
    vmm_vm *vm = h_guest_vm("rom64", VMM_CPU_MODE_LONG, 0, 1);
    void *hva = NULL;
    H_OK(vmm_memory_add_ram(vm, GUEST_ROM_GPA, 0x1000, VMM_MEM_READONLY, &hva));
    assert_non_null(hva);
    uint8_t rom[0x40];
    for (unsigned i = 0; i < sizeof rom; i++)
        rom[i] = (uint8_t)(0x30 + i);
    H_OK(vmm_memory_write(vm, GUEST_ROM_GPA, rom, sizeof rom));
    assert_memory_equal(hva, rom, sizeof rom);

    struct h_dev *rep = h_pio_dev(vm, "report", GUEST_ROM_REPORT, 4);
    struct h_dev *dev = NULL;
    vmm_vcpu *cpu = h_vcpu(vm, 0);
    struct vmm_exit e;
    if (with_device) {
        dev = h_mmio_dev(vm, "rom-writes", GUEST_ROM_GPA, 0x1000);
        h_run_to_hlt(cpu);
        assert_int_equal(dev->n, 2);          /* the two writes, no reads */
        assert_true(dev->log[0].is_write);
        assert_int_equal(dev->log[0].offset, 0x10);
        assert_int_equal(dev->log[0].addr, GUEST_ROM_GPA + 0x10);
        assert_int_equal(dev->log[0].len, 4);
        assert_int_equal(dev->log[0].value, 0x12345678);
        assert_true(dev->log[1].is_write);
        assert_int_equal(dev->log[1].offset, 0x21);
        assert_int_equal(dev->log[1].len, 1);
        assert_int_equal(dev->log[1].value, 0xaa);
    } else {
        h_run_expect(cpu, &e, VMM_EXIT_MMIO);
        assert_int_equal(e.mmio.gpa, GUEST_ROM_GPA + 0x10);
        assert_int_equal(e.mmio.len, 4);
        assert_int_equal(e.mmio.is_write, VMM_IO_WRITE);
        assert_int_equal(h_le(e.mmio.data, 4), 0x12345678);
        h_run_expect(cpu, &e, VMM_EXIT_MMIO);
        assert_int_equal(e.mmio.gpa, GUEST_ROM_GPA + 0x21);
        assert_int_equal(e.mmio.len, 1);
        assert_int_equal(e.mmio.is_write, VMM_IO_WRITE);
        assert_int_equal(e.mmio.data[0], 0xaa);
        h_run_to_hlt(cpu);
    }
    /* reported: ROM bytes 0..7, then bytes 0x10..0x13 after the write */
    assert_int_equal(rep->n, 3);
    assert_int_equal(rep->log[0].value | rep->log[1].value << 32, h_le(rom, 8));
    assert_int_equal(rep->log[2].value, h_le(rom + 0x10, 4));
    uint8_t now[sizeof rom];
    H_OK(vmm_memory_read(vm, GUEST_ROM_GPA, now, sizeof now));
    assert_memory_equal(now, rom, sizeof rom);
    vmm_vm_destroy(vm);
    h_dev_free(rep);
    if (dev)
        h_dev_free(dev);
}

static void test_rom_write_to_caller(void **state)
{
    (void)state;
    run_rom(0);
}

static void test_rom_write_to_device(void **state)
{
    (void)state;
    run_rom(1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mmio_device),
        cmocka_unit_test(test_mmio_unhandled),
        cmocka_unit_test(test_rom_write_to_caller),
        cmocka_unit_test(test_rom_write_to_device),
    };
    return cmocka_run_group_tests_name("mmio", tests, NULL, NULL);
}
