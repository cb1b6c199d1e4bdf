/* Guests in every CPU mode print through a PIO device: real, protected,
 * long (CPL0) and long at CPL3. The protected- and long-mode guests also
 * do 2- and 4-byte port I/O and REP INSB/OUTSB through devices. */
#include "harness.h"

#include <string.h>

static void run_hello(const char *guest, uint32_t mode, uint32_t flags,
                      const char *expect)
{
    h_require_kvm();
    vmm_vm *vm = h_guest_vm(guest, mode, flags, 1);
    struct h_dev *con = h_pio_dev(vm, "console", GUEST_CONSOLE_PORT, 1);
    h_run_to_hlt(h_vcpu(vm, 0));
    assert_string_equal(con->text, expect);
    assert_int_equal(con->n, strlen(expect));
    for (size_t i = 0; i < con->n; i++) {
        assert_int_equal(con->log[i].addr, GUEST_CONSOLE_PORT);
        assert_int_equal(con->log[i].offset, 0);
        assert_int_equal(con->log[i].len, 1);
        assert_true(con->log[i].is_write);
        assert_int_equal(con->log[i].vcpu, 0);
    }
    assert_int_equal(con->bad_args, 0);
    vmm_vm_destroy(vm);
    assert_int_equal(con->destroyed, 1);
    h_dev_free(con);
}

static void test_hello_real(void **state)
{
    (void)state;
    run_hello("hello16", VMM_CPU_MODE_REAL, 0, "Hello from real mode\n");
}

/* The string device returns 0xa0, 0xa1, ... for successive reads of its
 * first port: regs[0] is bumped after each read. */
static int str_hook(struct h_dev *d, vmm_vcpu *vcpu, const struct vmm_io *io)
{
    (void)vcpu;
    if (!io->is_write && io->offset == 0)
        d->regs[0]++;
    return 0;
}

/* hello32/hello64 print a first line byte by byte, then a second with REP
 * OUTSB, then do 2/4-byte port I/O and REP INSB/OUTSB (see guests). */
static void run_io_guest(const char *guest, uint32_t mode, const char *mode_name)
{
    char line1[64], line2[64], all[128];
    h_require_kvm();
    snprintf(line1, sizeof line1, "Hello from %s mode\n", mode_name);
    snprintf(line2, sizeof line2, "rep outsb in %s mode\n", mode_name);
    snprintf(all, sizeof all, "%s%s", line1, line2);

    vmm_vm *vm = h_guest_vm(guest, mode, 0, 1);
    struct h_dev *con = h_pio_dev(vm, "console", GUEST_CONSOLE_PORT, 1);
    /* 0x510..0x517: the 2/4-byte registers; reads return regs[] */
    struct h_dev *io = h_pio_dev(vm, "wide-io", GUEST_IO_PORT, 8);
    /* 0x518: rep insb source; 0x519: rep outsb sink */
    struct h_dev *str = h_pio_dev(vm, "string-io", GUEST_INSB_PORT, 2);
    io->no_store = 1;
    h_put_le(io->regs, 0xcafef00d, 4);
    str->regs[0] = 0xa0;
    str->hook = str_hook;

    struct vmm_exit e;
    /* wide-io's registers read 0xcafef00d at 0x510: a 2-byte read of 0x512
     * returns 0xcafe and a 4-byte read of 0x510 0xcafef00d. */
    h_run_expect(h_vcpu(vm, 0), &e, VMM_EXIT_HLT);

    assert_string_equal(con->text, all);
    assert_int_equal(con->n, strlen(all));

    /* wide-io: write2, write4, read2, echo2, read4, echo4 */
    assert_int_equal(io->n, 6);
    const struct { uint64_t port; uint32_t len; int w; uint64_t v; } want[] = {
        { GUEST_IO_PORT, 2, 1, 0x1234 },
        { GUEST_IO_PORT, 4, 1, 0xdeadbeef },
        { GUEST_IO_PORT + 2, 2, 0, 0xcafe },
        { GUEST_IO_ECHO_PORT, 2, 1, 0xcafe },
        { GUEST_IO_PORT, 4, 0, 0xcafef00d },
        { GUEST_IO_ECHO_PORT, 4, 1, 0xcafef00d },
    };
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(io->log[i].addr, want[i].port);
        assert_int_equal(io->log[i].offset, want[i].port - GUEST_IO_PORT);
        assert_int_equal(io->log[i].len, want[i].len);
        assert_int_equal(io->log[i].is_write, want[i].w);
        assert_int_equal(io->log[i].value, want[i].v);
    }

    /* string-io: 16 one-byte reads of 0x518 then 16 one-byte writes of the
     * same bytes to 0x519 (one callback per REP element). */
    assert_int_equal(str->n, 2 * GUEST_INSB_COUNT);
    for (int i = 0; i < GUEST_INSB_COUNT; i++) {
        const struct h_access *r = &str->log[i];
        const struct h_access *w = &str->log[GUEST_INSB_COUNT + i];
        assert_int_equal(r->addr, GUEST_INSB_PORT);
        assert_int_equal(r->len, 1);
        assert_false(r->is_write);
        assert_int_equal(r->value, (uint64_t)(0xa0 + i));
        assert_int_equal(w->addr, GUEST_OUTSB_PORT);
        assert_int_equal(w->offset, 1);
        assert_int_equal(w->len, 1);
        assert_true(w->is_write);
        assert_int_equal(w->value, (uint64_t)(0xa0 + i));
    }
    /* and the bytes REP INSB stored are in guest memory */
    uint8_t buf[GUEST_INSB_COUNT];
    H_OK(vmm_memory_read(vm, GUEST_INSB_BUF, buf, sizeof buf));
    for (int i = 0; i < GUEST_INSB_COUNT; i++)
        assert_int_equal(buf[i], 0xa0 + i);

    assert_int_equal(con->bad_args + io->bad_args + str->bad_args, 0);
    vmm_vm_destroy(vm);
    assert_int_equal(con->destroyed, 1);
    assert_int_equal(io->destroyed, 1);
    assert_int_equal(str->destroyed, 1);
    h_dev_free(con);
    h_dev_free(io);
    h_dev_free(str);
}

static void test_hello_protected(void **state)
{
    (void)state;
    run_io_guest("hello32", VMM_CPU_MODE_PROTECTED, "protected");
}

static void test_hello_long(void **state)
{
    (void)state;
    run_io_guest("hello64", VMM_CPU_MODE_LONG, "long");
}

/* CPL3: a million-iteration loop runs natively; the guest cannot HLT, so it
 * ends with an OUT to GUEST_DONE_PORT that no device claims. */
static void test_hello_user(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("user64", VMM_CPU_MODE_LONG, VMM_CPU_MODE_F_USER, 1);
    struct h_dev *con = h_pio_dev(vm, "console", GUEST_CONSOLE_PORT, 1);
    struct h_dev *res = h_pio_dev(vm, "result", GUEST_RESULT_PORT, 4);
    vmm_vcpu *cpu = h_vcpu(vm, 0);

    /* CPL3 really: the code segment's RPL and DPL are 3, and IOPL is 0 (the
     * ports come from the TSS I/O bitmap, so the guest cannot CLI/STI). */
    struct vmm_sregs s;
    H_OK(vmm_vcpu_get_sregs(cpu, &s));
    uint64_t rflags = 0;
    H_OK(vmm_vcpu_get_reg(cpu, VMM_REG_RFLAGS, &rflags));
    assert_int_equal((rflags >> 12) & 3, 0);
    assert_int_equal(s.cs.selector & 3, 3);
    assert_int_equal(s.cs.dpl, 3);
    assert_int_equal(s.cs.l, 1);
    assert_int_equal(s.ss.dpl, 3);

    struct vmm_exit e;
    double t0 = h_now();
    h_run_expect(cpu, &e, VMM_EXIT_PIO);
    double dt = h_now() - t0;
    assert_int_equal(e.pio.port, GUEST_DONE_PORT);
    assert_int_equal(e.pio.size, 1);
    assert_int_equal(e.pio.is_write, VMM_IO_WRITE);
    assert_int_equal(e.pio.count, 1);
    assert_non_null(e.pio.data);
    assert_int_equal(e.pio.data[0], 0x42);
    assert_int_equal(e.vcpu_index, 0);

    assert_string_equal(con->text, "Hello from user mode\n");
    assert_int_equal(res->n, 2);
    uint64_t n = GUEST_USER_N;
    uint64_t sum = res->log[0].value | (res->log[1].value << 32);
    assert_int_equal(sum, n * (n + 1) / 2);
    assert_int_equal(res->log[0].len, 4);

    /* the loop is 3M instructions: emulated CPL0 would take ~1.5 s */
    print_message("user64: %.3f s to the done port\n", dt);

    /* the guest keeps writing the done port on each resume */
    h_run_expect(cpu, &e, VMM_EXIT_PIO);
    assert_int_equal(e.pio.port, GUEST_DONE_PORT);
    vmm_vm_destroy(vm);
    h_dev_free(con);
    h_dev_free(res);
}

/* The table layout vcpu.h documents for struct vmm_cpu_mode_config: GDT at
 * +0 (0x08 code64, 0x10 data, 0x18 code32, 0x23 user data, 0x2b user
 * code64, 0x30 TSS), TSS at +0x100 with an I/O bitmap allowing every port,
 * PML4 at +0x3000, PDPT at +0x4000, page directories from +0x5000; nothing
 * written outside [gpa, gpa + size). */
static uint64_t gdt_desc(const uint8_t *t, unsigned sel)
{
    return h_le(t + (sel & ~7u), 8);
}

static void test_table_layout(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_vm_new(1, 0);
    void *p = NULL;
    H_OK(vmm_memory_translate(vm, 0, H_RAM_SIZE, &p));
    uint8_t *ram = p;
    memset(ram, 0xcc, H_RAM_SIZE);
    uint64_t size = 0;
    H_OK(vmm_cpu_mode_tables_size(VMM_CPU_MODE_LONG, 0, &size));
    h_setup_vcpu(h_vcpu(vm, 0), VMM_CPU_MODE_LONG, 0);
    const uint8_t *t = ram + H_TABLES_GPA;

    /* nothing outside the tables */
    for (uint64_t i = 0; i < H_TABLES_GPA; i++)
        if (ram[i] != 0xcc)
            fail_msg("byte at gpa %#llx written below tables_gpa", (unsigned long long)i);
    for (uint64_t i = H_TABLES_GPA + size; i < H_RAM_SIZE; i++)
        if (ram[i] != 0xcc)
            fail_msg("byte at gpa %#llx written past tables_gpa + size", (unsigned long long)i);

    struct vmm_sregs s;
    H_OK(vmm_vcpu_get_sregs(h_vcpu(vm, 0), &s));
    assert_int_equal(s.gdt.base, H_TABLES_GPA);
    assert_int_equal(s.cs.selector, 0x08);
    assert_int_equal(s.ds.selector, 0x10);
    assert_int_equal(s.tr.selector, 0x30);
    /* descriptor bits: 43 code, 44 S, 45-46 DPL, 47 P, 53 L, 54 D/B */
    uint64_t d;
    d = gdt_desc(t, 0x08);
    assert_true((d >> 43) & 1);
    assert_true((d >> 53) & 1);
    assert_int_equal((d >> 45) & 3, 0);
    d = gdt_desc(t, 0x10);
    assert_false((d >> 43) & 1);
    assert_true((d >> 47) & 1);
    d = gdt_desc(t, 0x18);
    assert_true((d >> 43) & 1);
    assert_true((d >> 54) & 1);
    assert_false((d >> 53) & 1);
    d = gdt_desc(t, 0x23);
    assert_false((d >> 43) & 1);
    assert_int_equal((d >> 45) & 3, 3);
    d = gdt_desc(t, 0x2b);
    assert_true((d >> 43) & 1);
    assert_true((d >> 53) & 1);
    assert_int_equal((d >> 45) & 3, 3);
    assert_int_equal(s.tr.base, H_TABLES_GPA + 0x100);
    /* TSS: I/O map base 0x68, bitmap of zeros (all ports allowed), 0xff after */
    assert_int_equal(s.tr.limit, 0x68 + 0x2000);
    assert_int_equal(h_le(t + 0x100 + 0x66, 2), 0x68);
    for (unsigned i = 0; i < 0x2000; i++)
        if (t[0x100 + 0x68 + i] != 0)
            fail_msg("I/O bitmap byte %u is %#x, not 0", i, t[0x100 + 0x68 + i]);
    assert_int_equal(t[0x100 + 0x68 + 0x2000], 0xff);
    assert_int_equal(s.cr3 & ~0xfffull, H_TABLES_GPA + 0x3000);
    assert_int_equal(size, 0x5000 + 4 * 0x1000);
    assert_int_equal(h_le(t + 0x3000, 8) & ~0xfffull, H_TABLES_GPA + 0x4000);
    assert_int_equal(h_le(t + 0x4000, 8) & ~0xfffull, H_TABLES_GPA + 0x5000);
    /* PD[1] maps 2 MiB..4 MiB with a large page */
    uint64_t pde1 = h_le(t + 0x5008, 8);
    assert_int_equal(pde1 & ~0xfffull, 2u << 20);
    assert_true(pde1 & 0x80);
    vmm_vm_destroy(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello_real),
        cmocka_unit_test(test_hello_protected),
        cmocka_unit_test(test_hello_long),
        cmocka_unit_test(test_hello_user),
        cmocka_unit_test(test_table_layout),
    };
    return cmocka_run_group_tests_name("modes", tests, NULL, NULL);
}
