/* Platform PC: e820 layouts, the CPUID topology and policy as a guest sees
 * them, the MSR/FPU/LAPIC defaults, and interrupt lines observed from the
 * guest side of KVM's in-kernel 8259 and IOAPIC/LAPIC. */
#include "pc_util.h"

#include <stdlib.h>
#include <string.h>

#define MIB (1ull << 20)
#define GIB (1ull << 30)

/* ---- e820 ------------------------------------------------------------- */

static void expect_entry(const struct vmm_e820_entry *e, uint64_t addr, uint64_t size,
                         uint32_t type)
{
    if (e->addr != addr || e->size != size || e->type != type)
        fail_msg("e820 entry [0x%llx, +0x%llx) type %u, expected [0x%llx, +0x%llx) type %u",
                 (unsigned long long)e->addr, (unsigned long long)e->size, e->type,
                 (unsigned long long)addr, (unsigned long long)size, type);
}

static uint32_t get_e820(vmm_vm *vm, struct vmm_e820_entry *e, uint32_t cap)
{
    uint32_t n = cap;
    H_OK(vmm_pc_e820(vm, e, &n));
    return n;
}

static void test_e820_small_ram(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = pc_vm_new(1, 2 * MIB);
    struct vmm_e820_entry e[8];
    assert_int_equal(get_e820(vm, e, 8), 3);
    expect_entry(&e[0], 0, 0x9fc00, VMM_E820_RAM);
    expect_entry(&e[1], 0x9fc00, 0x100000 - 0x9fc00, VMM_E820_RESERVED);
    expect_entry(&e[2], 0x100000, MIB, VMM_E820_RAM);

    /* Too small a buffer: -E2BIG and the size needed; NULL with 0 asks. */
    uint32_t n = 2;
    H_EXPECT_ERR(-E2BIG, vmm_pc_e820(vm, e, &n));
    assert_int_equal(n, 3);
    n = 0;
    H_EXPECT_ERR(-E2BIG, vmm_pc_e820(vm, NULL, &n));
    assert_int_equal(n, 3);
    n = 1;
    H_EXPECT_ERR(-EINVAL, vmm_pc_e820(vm, NULL, &n));
    H_EXPECT_ERR(-EINVAL, vmm_pc_e820(vm, e, NULL));
    H_EXPECT_ERR(-EINVAL, vmm_pc_e820(NULL, e, &n));
    vmm_vm_destroy(vm);
}

/* 4 GiB of RAM: 3 GiB below the MMIO hole, 1 GiB from 4 GiB (MAP_NORESERVE
 * makes this cost nothing until touched). Regions the caller adds in the
 * hole show up as RAM, read-only ones do not. */
static void test_e820_across_hole(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = pc_vm_new(1, 4 * GIB);
    struct vmm_e820_entry e[8];
    assert_int_equal(get_e820(vm, e, 8), 4);
    expect_entry(&e[0], 0, 0x9fc00, VMM_E820_RAM);
    expect_entry(&e[1], 0x9fc00, 0x100000 - 0x9fc00, VMM_E820_RESERVED);
    expect_entry(&e[2], 0x100000, VMM_PC_MMIO_HOLE_START - 0x100000, VMM_E820_RAM);
    expect_entry(&e[3], VMM_PC_HIGH_RAM_START, GIB, VMM_E820_RAM);

    H_OK(vmm_memory_add_ram(vm, 0xd0000000, 2 * MIB, 0, NULL));
    if (vmm_has_feature(VMM_FEATURE_READONLY_MEMORY))
        H_OK(vmm_memory_add_ram(vm, 0xe0000000, 2 * MIB, VMM_MEM_READONLY, NULL));
    assert_int_equal(get_e820(vm, e, 8), 5);
    expect_entry(&e[3], 0xd0000000, 2 * MIB, VMM_E820_RAM);
    expect_entry(&e[4], VMM_PC_HIGH_RAM_START, GIB, VMM_E820_RAM);
    vmm_vm_destroy(vm);

    /* Exactly 3 GiB: nothing above the hole. */
    vm = pc_vm_new(1, 3 * GIB);
    assert_int_equal(get_e820(vm, e, 8), 3);
    expect_entry(&e[2], 0x100000, VMM_PC_MMIO_HOLE_START - 0x100000, VMM_E820_RAM);
    vmm_vm_destroy(vm);
}

/* Caller-made regions: touching RAM regions merge, the EBDA/BIOS area cuts
 * a region that spans it, and is listed even with no RAM below 1 MiB. */
static void test_e820_reserved_split(void **state)
{
    (void)state;
    h_require_kvm();
    struct vmm_vm_config cfg = VMM_VM_CONFIG_INIT;
    cfg.platform = VMM_PLATFORM_PC;
    vmm_vm *vm = NULL;
    H_OK(vmm_vm_create(&cfg, &vm));
    struct vmm_e820_entry e[8];

    H_OK(vmm_memory_add_ram(vm, 0x200000, 0x200000, 0, NULL));
    assert_int_equal(get_e820(vm, e, 8), 2);
    expect_entry(&e[0], 0x9fc00, 0x100000 - 0x9fc00, VMM_E820_RESERVED);
    expect_entry(&e[1], 0x200000, 0x200000, VMM_E820_RAM);

    H_OK(vmm_memory_add_ram(vm, 0, 0x80000, 0, NULL));
    H_OK(vmm_memory_add_ram(vm, 0x80000, 0x40000, 0, NULL)); /* runs into the EBDA */
    H_OK(vmm_memory_add_ram(vm, 0xf0000, 0x110000, 0, NULL)); /* BIOS area to 0x200000 */
    assert_int_equal(get_e820(vm, e, 8), 3);
    expect_entry(&e[0], 0, 0x9fc00, VMM_E820_RAM);
    expect_entry(&e[1], 0x9fc00, 0x100000 - 0x9fc00, VMM_E820_RESERVED);
    expect_entry(&e[2], 0x100000, 0x300000, VMM_E820_RAM); /* merged with 0x200000 */
    vmm_vm_destroy(vm);
}

static void test_add_ram_errors(void **state)
{
    (void)state;
    h_require_kvm();
    H_EXPECT_ERR(-EINVAL, vmm_pc_add_ram(NULL, 2 * MIB));
    vmm_vm *none = h_vm_new(1, 0); /* platform NONE */
    H_EXPECT_ERR(-EINVAL, vmm_pc_add_ram(none, 2 * MIB));
    vmm_vm_destroy(none);

    struct vmm_vm_config cfg = VMM_VM_CONFIG_INIT;
    cfg.platform = VMM_PLATFORM_PC;
    vmm_vm *vm = NULL;
    H_OK(vmm_vm_create(&cfg, &vm));
    H_EXPECT_ERR(-EINVAL, vmm_pc_add_ram(vm, 0));
    H_EXPECT_ERR(-EINVAL, vmm_pc_add_ram(vm, MIB));
    H_EXPECT_ERR(-EINVAL, vmm_pc_add_ram(vm, 3 * MIB));
    H_EXPECT_ERR(-EINVAL, vmm_pc_add_ram(vm, UINT64_MAX - 2 * MIB + 1));

    /* All or nothing: the high part collides, so the low part goes too. */
    H_OK(vmm_memory_add_ram(vm, VMM_PC_HIGH_RAM_START, 2 * MIB, 0, NULL));
    H_EXPECT_ERR(-EEXIST, vmm_pc_add_ram(vm, 3 * GIB + 2 * MIB));
    assert_non_null(strstr(vmm_last_error(), "overlaps"));
    H_EXPECT_ERR(-ENOENT, vmm_memory_remove(vm, 0));
    H_OK(vmm_pc_add_ram(vm, 2 * MIB));
    H_EXPECT_ERR(-EEXIST, vmm_pc_add_ram(vm, 2 * MIB));
    vmm_vm_destroy(vm);
}

/* ---- CPUID as the guest sees it ---------------------------------------- */

static const struct vmm_cpuid_entry *leaf(const struct vmm_cpuid_entry *e, uint32_t n,
                                          uint32_t fn, uint32_t idx)
{
    for (uint32_t i = 0; i < n; i++)
        if (e[i].function == fn && (!(e[i].flags & 1) || e[i].index == idx))
            return &e[i];
    return NULL;
}

struct guest_view {
    uint32_t l1[4], l4[4], b0[4], b1[4], b2[4], kvm0[4], kvm1[4], e8[4];
    uint32_t misc_lo, misc_hi, fcw, lint0, lint1;
};

/* Runs pc_cpuid on vCPU 0; the returned device is freed by the caller
 * after vmm_vm_destroy(). */
static struct h_dev *run_cpuid_guest(vmm_vm *vm, struct guest_view *v)
{
    pc_load(vm, "pc_cpuid");
    h_setup_vcpu(h_vcpu(vm, 0), VMM_CPU_MODE_PROTECTED, 0);
    struct h_dev *d = pc_ports_dev(vm, NULL, NULL);
    assert_int_equal(pc_run_to_exit(h_vcpu(vm, 0)), 0);
    uint32_t r[64];
    size_t n = pc_reports(d, PC_REPORT_PORT, 0, r, 64);
    assert_int_equal(n, sizeof(*v) / 4);
    memcpy(v, r, sizeof(*v));
    return d;
}

static uint32_t id_bits(uint32_t n)
{
    uint32_t b = 0;
    while ((1u << b) < n)
        b++;
    return b;
}

static void check_topology(uint32_t ncpus)
{
    h_require_kvm();
    vmm_vm *vm = pc_vm_new(ncpus, 2 * MIB);
    struct guest_view v;
    struct h_dev *d = run_cpuid_guest(vm, &v);

    /* Leaf 1: APIC id 0, ncpus logical processors, HTT if > 1, hypervisor.
     * (This nested host answers a CPL0 guest's CPUID.1 ECX/EDX with more
     * host feature bits than the table holds, HTT among them, so HTT = 0
     * for one vCPU is checked in the table below, not here.) */
    assert_int_equal(v.l1[1] >> 24, 0);
    assert_int_equal((v.l1[1] >> 16) & 0xff, ncpus);
    if (ncpus > 1)
        assert_true(v.l1[3] & (1u << 28));
    assert_true(v.l1[2] & (1u << 31));
    /* Leaf 4 (Intel; zeros on AMD hosts): cores per package. */
    if (v.l4[0] & 0x1f)
        assert_int_equal((v.l4[0] >> 26) + 1, ncpus);
    /* Leaf 0xB: SMT level of 1 thread, core level of ncpus, x2APIC id 0. */
    assert_int_equal(v.b0[0], 0);
    assert_int_equal(v.b0[1], 1);
    assert_int_equal(v.b0[2], 0x100);
    assert_int_equal(v.b0[3], 0);
    assert_int_equal(v.b1[0], id_bits(ncpus));
    assert_int_equal(v.b1[1], ncpus);
    assert_int_equal(v.b1[2], 0x201);
    assert_int_equal(v.b2[2], 2); /* level type 0: the end */
    /* KVM's paravirtual leaves, as KVM reports them: "KVMKVMKVM\0\0\0". */
    assert_true(v.kvm0[0] >= 0x40000001);
    assert_memory_equal(&v.kvm0[1], "KVMKVMKVM\0\0\0", 12);
    assert_true(v.kvm1[0] & (1u << 3)); /* KVM_FEATURE_CLOCKSOURCE2: kvmclock */
    /* MSR and FPU defaults, LAPIC virtual wire LINTs. */
    assert_true(v.misc_lo & 1);                       /* fast strings */
    assert_int_equal(v.fcw & 0xffff, 0x37f);
    assert_int_equal(v.lint0 & 0x700, 0x700);         /* ExtINT */
    assert_int_equal(v.lint1 & 0x700, 0x400);         /* NMI */

    /* Every vCPU's own table carries its own ids. */
    for (uint32_t i = 0; i < ncpus; i++) {
        struct vmm_cpuid_entry t[256];
        uint32_t n = 256;
        H_OK(vmm_vcpu_get_cpuid(h_vcpu(vm, i), t, &n));
        const struct vmm_cpuid_entry *l1 = leaf(t, n, 1, 0), *b1 = leaf(t, n, 0xb, 1);
        assert_non_null(l1);
        assert_non_null(b1);
        assert_int_equal(l1->ebx >> 24, i);
        assert_int_equal((l1->ebx >> 16) & 0xff, ncpus);
        assert_int_equal((l1->edx >> 28) & 1, ncpus > 1);
        assert_true(l1->ecx & (1u << 31));
        assert_int_equal(b1->edx, i);
        assert_int_equal(b1->ebx, ncpus);
        const struct vmm_cpuid_entry *v0 = leaf(t, 1, 0, 0);
        const struct vmm_cpuid_entry *e8 = leaf(t, n, 0x80000008, 0);
        if (v0 && v0->ebx == 0x68747541u && e8) /* AuthenticAMD: NC = cores - 1 */
            assert_int_equal(e8->ecx & 0xff, ncpus - 1);
    }
    vmm_vm_destroy(vm);
    h_dev_free(d);
}

static void test_topology_1(void **state)
{
    (void)state;
    check_topology(1);
}

static void test_topology_4(void **state)
{
    (void)state;
    check_topology(4);
}

/* ---- CPUID policy ------------------------------------------------------- */

static void snapshot_tables(vmm_vm *vm, struct vmm_cpuid_entry t[][256], uint32_t *n,
                            uint32_t ncpus)
{
    for (uint32_t i = 0; i < ncpus; i++) {
        n[i] = 256;
        H_OK(vmm_vcpu_get_cpuid(h_vcpu(vm, i), t[i], &n[i]));
    }
}

static void test_cpuid_policy(void **state)
{
    (void)state;
    h_require_kvm();
    enum { N = 2 };
    vmm_vm *vm = pc_vm_new(N, 2 * MIB);
    static struct vmm_cpuid_entry before[N][256], after[N][256];
    uint32_t nb[N], na[N];
    snapshot_tables(vm, before, nb, N);

    /* Bad arguments and an unknown leaf (after a good override): -EINVAL
     * / -ENOENT, and no vCPU changes. */
    struct vmm_cpuid_override ov[2] = {
        { .function = 1, .reg = VMM_CPUID_ECX, .clear = 1u << 31 },
        { .function = 0x4fff0000, .reg = VMM_CPUID_EAX, .set = 1 },
    };
    H_EXPECT_ERR(-EINVAL, vmm_vm_set_cpuid_policy(NULL, ov, 1));
    H_EXPECT_ERR(-EINVAL, vmm_vm_set_cpuid_policy(vm, NULL, 1));
    H_EXPECT_ERR(-EINVAL, vmm_vm_set_cpuid_policy(vm, ov, 0));
    H_EXPECT_ERR(-EINVAL, vmm_vm_set_cpuid_policy(vm, ov, 257));
    H_EXPECT_ERR(-ENOENT, vmm_vm_set_cpuid_policy(vm, ov, 2));
    assert_non_null(strstr(vmm_last_error(), "0x4fff0000"));
    ov[1] = (struct vmm_cpuid_override){ .function = 1, .reg = 4 };
    H_EXPECT_ERR(-EINVAL, vmm_vm_set_cpuid_policy(vm, ov, 2));
    snapshot_tables(vm, after, na, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(na[i], nb[i]);
        assert_memory_equal(after[i], before[i], nb[i] * sizeof(before[0][0]));
    }

    /* Hide the hypervisor bit, set a KVM hint bit, touch sub-leaf 1 of
     * leaf 7 only. */
    ov[1] = (struct vmm_cpuid_override){ .function = 0x40000001, .reg = VMM_CPUID_EDX,
                                         .set = 1 };
    struct vmm_cpuid_override sub = { .function = 7, .index = 1, .reg = VMM_CPUID_EBX,
                                      .clear = ~0u, .set = 0x5a };
    struct vmm_cpuid_override all[3] = { ov[0], ov[1], sub };
    H_OK(vmm_vm_set_cpuid_policy(vm, all, 3));
    snapshot_tables(vm, after, na, N);
    for (uint32_t i = 0; i < N; i++) {
        assert_false(leaf(after[i], na[i], 1, 0)->ecx & (1u << 31));
        assert_int_equal(leaf(after[i], na[i], 1, 0)->ebx >> 24, i); /* rest kept */
        assert_int_equal(leaf(after[i], na[i], 7, 1)->ebx, 0x5a);
        assert_int_equal(leaf(after[i], na[i], 7, 0)->ebx, leaf(before[i], nb[i], 7, 0)->ebx);
    }

    struct guest_view v;
    struct h_dev *d = run_cpuid_guest(vm, &v);
    assert_false(v.l1[2] & (1u << 31)); /* the guest sees it hidden */
    assert_true(v.kvm1[3] & 1);

    /* After a vCPU ran, KVM refuses a different table: an error, and the
     * tables are still those it ran with. */
    struct vmm_cpuid_override again = { .function = 1, .reg = VMM_CPUID_ECX, .set = 1u << 31 };
    snapshot_tables(vm, before, nb, N);
    int r = vmm_vm_set_cpuid_policy(vm, &again, 1);
    print_message("policy after run: %d (%s): %s\n", r, vmm_strerror(r), vmm_last_error());
    assert_true(r < 0);
    snapshot_tables(vm, after, na, N);
    for (int i = 0; i < N; i++)
        assert_memory_equal(after[i], before[i], nb[i] * sizeof(before[0][0]));
    vmm_vm_destroy(vm);
    h_dev_free(d);
}

/* ---- interrupt lines seen from the guest ------------------------------- */

struct irq_script {
    vmm_device *dev;
    uint32_t seen[3];
    int step;
    int err;
};

/* Each report is the master PIC's IRR (bits 7:0) and whether the LAPIC IRR
 * holds PC_IRQ_VECTOR (bit 8). Between reports the test moves lines. */
static int irq_hook(struct h_dev *d, vmm_vcpu *vcpu, const struct vmm_io *io)
{
    struct irq_script *s = pc_hook_data(d);
    if (io->addr != PC_REPORT_PORT || !io->is_write || s->step >= 3)
        return 0;
    s->seen[s->step] = (uint32_t)h_le(io->data, io->len);
    int r = 0;
    switch (s->step++) {
    case 0:
        r = vmm_device_set_irq(d->dev, PC_IRQ_PIC_ONLY, 1);
        break;
    case 1:
        r = vmm_device_set_irq(d->dev, PC_IRQ_PIC_ONLY, 0);
        if (r == 0)
            r = vmm_device_set_irq(d->dev, PC_IRQ_ROUTED, 1);
        break;
    default:
        r = vmm_vcpu_request_exit(vcpu, VMM_REQUEST_DEBUG_EXIT, 0);
        break;
    }
    if (r < 0)
        s->err = r;
    return 0;
}

static void test_irq_lines(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = pc_vm_new(1, 2 * MIB);
    pc_load(vm, "pc_irq");
    h_setup_vcpu(h_vcpu(vm, 0), VMM_CPU_MODE_PROTECTED, 0);
    struct irq_script s = { 0 };
    struct h_dev *d = pc_ports_dev(vm, irq_hook, &s);
    assert_int_equal(pc_run_to_exit(h_vcpu(vm, 0)), 0);
    assert_int_equal(s.err, 0);
    assert_int_equal(s.step, 3);
    const uint32_t pic4 = 1u << PC_IRQ_PIC_ONLY, pic5 = 1u << PC_IRQ_ROUTED, lapic = 0x100;
    print_message("reports: 0x%x 0x%x 0x%x\n", s.seen[0], s.seen[1], s.seen[2]);
    /* Nothing pending at first. */
    assert_int_equal(s.seen[0] & (pic4 | pic5 | lapic), 0);
    /* GSI 4: the 8259 latched it (edge); IOAPIC pin 4 is masked. */
    assert_int_equal(s.seen[1] & (pic4 | pic5 | lapic), pic4);
    /* GSI 5: the 8259 and, through IOAPIC pin 5, the LAPIC's IRR. GSI 4's
     * edge stays latched in the 8259 after the line drops. */
    assert_int_equal(s.seen[2] & (pic5 | lapic), pic5 | lapic);
    vmm_vm_destroy(vm);
    h_dev_free(d);
}

/* Two devices share a level-triggered line (as COM1 and COM3 share IRQ 4):
 * the line is the OR of both, so one letting go does not lower it while
 * the other still asserts it; detaching a device lets go of its lines. */
struct wired_or {
    vmm_device *a, *b;
    uint32_t seen[6];
    int step;
    int err;
};

static int wired_or_hook(struct h_dev *d, vmm_vcpu *vcpu, const struct vmm_io *io)
{
    struct wired_or *s = pc_hook_data(d);
    if (io->addr != PC_REPORT_PORT || !io->is_write || s->step >= 6)
        return 0;
    s->seen[s->step] = (uint32_t)h_le(io->data, io->len);
    int r = 0;
    switch (s->step++) {
    case 0: r = vmm_device_set_irq(s->a, PC_IRQ_LEVEL, 1); break;       /* A high */
    case 1: r = vmm_device_set_irq(s->b, PC_IRQ_LEVEL, 1); break;       /* A, B high */
    case 2: r = vmm_device_set_irq(s->a, PC_IRQ_LEVEL, 0); break;       /* B high */
    case 3: r = vmm_device_set_irq(s->b, PC_IRQ_LEVEL, 0); break;       /* none */
    case 4: r = vmm_device_set_irq(s->b, PC_IRQ_LEVEL, 1); break;       /* B high */
    default: r = vmm_vcpu_request_exit(vcpu, VMM_REQUEST_DEBUG_EXIT, 0); break;
    }
    if (r < 0)
        s->err = r;
    return 0;
}

static int nop_pio(vmm_device *dev, vmm_vcpu *vcpu, const struct vmm_io *io, void *user)
{
    (void)dev, (void)vcpu, (void)io, (void)user;
    return 0;
}

static vmm_device *line_holder(vmm_vm *vm, const char *name)
{
    struct vmm_device_ops ops = VMM_DEVICE_OPS_INIT;
    ops.name = name;
    ops.pio = nop_pio;
    vmm_device *dev = NULL;
    H_OK(vmm_device_attach(vm, &ops, NULL, &dev));
    return dev;
}

static void test_irq_wired_or(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = pc_vm_new(1, 2 * MIB);
    pc_load(vm, "pc_irq");
    h_setup_vcpu(h_vcpu(vm, 0), VMM_CPU_MODE_PROTECTED, 0);
    struct wired_or s = { .a = line_holder(vm, "holder-a"), .b = line_holder(vm, "holder-b") };
    struct h_dev *d = pc_ports_dev(vm, wired_or_hook, &s);
    assert_int_equal(pc_run_to_exit(h_vcpu(vm, 0)), 0);
    assert_int_equal(s.err, 0);
    const uint32_t bit = 1u << PC_IRQ_LEVEL;
    print_message("reports: 0x%x 0x%x 0x%x 0x%x 0x%x 0x%x\n", s.seen[0], s.seen[1], s.seen[2],
                  s.seen[3], s.seen[4], s.seen[5]);
    assert_int_equal(s.seen[0] & bit, 0);   /* nobody */
    assert_int_equal(s.seen[1] & bit, bit); /* A */
    assert_int_equal(s.seen[2] & bit, bit); /* A and B */
    assert_int_equal(s.seen[3] & bit, bit); /* B still holds it */
    assert_int_equal(s.seen[4] & bit, 0);   /* nobody */
    assert_int_equal(s.seen[5] & bit, bit); /* B again */

    /* B, detached while holding the line, lowers it: a last run reads it. */
    H_OK(vmm_device_detach(s.b));
    s.step = 5;
    assert_int_equal(pc_run_to_exit(h_vcpu(vm, 0)), 0);
    assert_int_equal(s.seen[5] & bit, 0);
    vmm_vm_destroy(vm);
    h_dev_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_e820_small_ram),
        cmocka_unit_test(test_e820_across_hole),
        cmocka_unit_test(test_e820_reserved_split),
        cmocka_unit_test(test_add_ram_errors),
        cmocka_unit_test(test_topology_1),
        cmocka_unit_test(test_topology_4),
        cmocka_unit_test(test_cpuid_policy),
        cmocka_unit_test(test_irq_lines),
        cmocka_unit_test(test_irq_wired_or),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
