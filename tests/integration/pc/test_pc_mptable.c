/* The MP table (MP spec 1.4 chapter 4) a PC VM gets for its loaders,
 * parsed back from guest memory: signatures, checksums, one processor
 * entry per vCPU, the ISA and PCI buses, the IOAPIC and the interrupt
 * entries.
 * vmm_pc_write_mptable() is internal (the loaders call it), so this test
 * links the static library. */
#include "pc_util.h"

#include "x86/pc.h"

#include <string.h>

static uint8_t sum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++)
        s = (uint8_t)(s + p[i]);
    return s;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void check_table(uint32_t ncpus)
{
    h_require_kvm();
    vmm_vm *vm = pc_vm_new(ncpus, 2 << 20);
    H_OK(vmm_pc_write_mptable(vm));
    uint8_t mem[0x100000 - 0x9fc00];
    H_OK(vmm_memory_read(vm, 0x9fc00, mem, sizeof mem));

    /* Floating pointer (Table 4-1). */
    assert_memory_equal(mem, "_MP_", 4);
    assert_int_equal(mem[8], 1);         /* 16 bytes */
    assert_int_equal(mem[9], 4);         /* version 1.4 */
    assert_int_equal(sum(mem, 16), 0);
    assert_int_equal(mem[11], 0);        /* feature 1: a table follows */
    uint32_t physptr = le32(mem + 4);
    assert_true(physptr >= 0x9fc00 + 16 && physptr < 0x100000 - 44);
    const uint8_t *t = mem + (physptr - 0x9fc00);

    /* Header (Table 4-2). */
    assert_memory_equal(t, "PCMP", 4);
    uint16_t len = (uint16_t)(t[4] | t[5] << 8);
    assert_true(physptr + len <= 0x100000);
    assert_int_equal(t[6], 4);
    assert_int_equal(sum(t, len), 0);
    uint16_t count = (uint16_t)(t[34] | t[35] << 8);
    assert_int_equal(le32(t + 36), 0xfee00000);

    uint32_t cpus = 0, buses = 0, ioapics = 0, intsrc = 0, lint = 0, bsp = 0;
    uint8_t ioapic_id = 0xff;
    size_t off = 44;
    for (uint16_t i = 0; i < count; i++) {
        assert_true(off < len);
        const uint8_t *e = t + off;
        switch (e[0]) {
        case 0: /* processor: APIC id = index, enabled, BP only on 0 */
            assert_int_equal(e[1], cpus);
            assert_true(e[3] & 1);
            assert_int_equal(!!(e[3] & 2), e[1] == 0);
            bsp += !!(e[3] & 2);
            cpus++;
            off += 20;
            break;
        case 1: /* bus 0 ISA, bus 1 PCI (its INTx entries: tests/virtio/pci) */
            assert_int_equal(e[1], buses);
            assert_memory_equal(e + 2, buses == 0 ? "ISA   " : "PCI   ", 6);
            buses++;
            off += 8;
            break;
        case 2:
            ioapic_id = e[1];
            assert_true(e[3] & 1);
            assert_int_equal(le32(e + 4), 0xfec00000);
            ioapics++;
            off += 8;
            break;
        case 3: /* ISA IRQ n -> IOAPIC pin n (KVM's default GSI routing) */
            assert_int_equal(e[1], 0);
            assert_int_equal(e[4], 0);
            assert_int_equal(e[5], intsrc);
            assert_int_equal(e[6], ioapic_id);
            assert_int_equal(e[7], intsrc);
            intsrc++;
            off += 8;
            break;
        case 4: /* LINT0 ExtINT on the BSP, LINT1 NMI on all */
            if (lint == 0) {
                assert_int_equal(e[1], 3);
                assert_int_equal(e[6], 0);
                assert_int_equal(e[7], 0);
            } else {
                assert_int_equal(e[1], 1);
                assert_int_equal(e[6], 0xff);
                assert_int_equal(e[7], 1);
            }
            lint++;
            off += 8;
            break;
        default:
            fail_msg("entry %u has type %u", i, e[0]);
        }
    }
    assert_int_equal(off, len);
    assert_int_equal(cpus, ncpus);
    assert_int_equal(bsp, 1);
    assert_int_equal(buses, 2);
    assert_int_equal(ioapics, 1);
    assert_int_equal(ioapic_id, ncpus);
    assert_int_equal(intsrc, 16);
    assert_int_equal(lint, 2);
    vmm_vm_destroy(vm);
}

static void test_mptable_1(void **state)
{
    (void)state;
    check_table(1);
}

static void test_mptable_4(void **state)
{
    (void)state;
    check_table(4);
}

static void test_mptable_errors(void **state)
{
    (void)state;
    h_require_kvm();
    H_EXPECT_ERR(-EINVAL, vmm_pc_write_mptable(NULL));
    vmm_vm *none = h_vm_new(1, 0);
    H_EXPECT_ERR(-EINVAL, vmm_pc_write_mptable(none));
    vmm_vm_destroy(none);

    /* 48 processor entries make the table (1188 bytes) run past 0xa0000. */
    struct vmm_vm_config cfg = VMM_VM_CONFIG_INIT;
    cfg.platform = VMM_PLATFORM_PC;
    cfg.num_vcpus = 48;
    vmm_vm *vm = NULL;
    H_OK(vmm_vm_create(&cfg, &vm));
    H_EXPECT_ERR(-EFAULT, vmm_pc_write_mptable(vm)); /* no RAM at all */
    H_OK(vmm_memory_add_ram(vm, 0, 0x9f000, 0, NULL));
    H_EXPECT_ERR(-EFAULT, vmm_pc_write_mptable(vm)); /* RAM stops short */
    H_OK(vmm_memory_add_ram(vm, 0x9f000, 0x1000, 0, NULL));
    H_EXPECT_ERR(-EFAULT, vmm_pc_write_mptable(vm)); /* the table runs out of RAM */
    H_OK(vmm_memory_add_ram(vm, 0xa0000, 0x60000, 0, NULL));
    H_EXPECT_ERR(-EFAULT, vmm_pc_write_mptable(vm)); /* spans two regions */
    vmm_vm_destroy(vm);
    vm = pc_vm_new(48, 2 << 20);
    H_OK(vmm_pc_write_mptable(vm)); /* one region covers it */
    uint8_t t[1188 - 16];
    H_OK(vmm_memory_read(vm, 0x9fc10, t, sizeof t));
    assert_int_equal(sum(t, sizeof t), 0);
    vmm_vm_destroy(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mptable_1),
        cmocka_unit_test(test_mptable_4),
        cmocka_unit_test(test_mptable_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
