/* Device callbacks may read and write their vCPU's registers; vmm_vm_run()
 * ends for all vCPUs when one of them hits something nobody handles, and
 * waits for every vCPU to halt. */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

static int regs_hook(struct h_dev *d, vmm_vcpu *vcpu, const struct vmm_io *io)
{
    struct vmm_regs r;
    if (vmm_vcpu_get_regs(vcpu, &r) != 0) {
        d->bad_args++;
        return 0;
    }
    /* the OUT's operands are in AL and DX */
    if ((r.rax & 0xff) != *(uint8_t *)io->data || (r.rdx & 0xffff) != GUEST_CONSOLE_PORT)
        d->bad_args++;
    uint64_t rsi = 0;
    if (vmm_vcpu_get_reg(vcpu, VMM_REG_RSI, &rsi) != 0 || rsi != r.rsi)
        d->bad_args++;
    /* after the first character, skip "ello f": SI moves on by 6 */
    if (d->n == 1 && vmm_vcpu_set_reg(vcpu, VMM_REG_RSI, r.rsi + 6) != 0)
        d->bad_args++;
    return 0;
}

static void test_registers_in_callback(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("hello16", VMM_CPU_MODE_REAL, 0, 1);
    struct h_dev *con = h_pio_dev(vm, "console", GUEST_CONSOLE_PORT, 1);
    con->hook = regs_hook;
    h_run_to_hlt(h_vcpu(vm, 0));
    assert_int_equal(con->bad_args, 0);
    assert_string_equal(con->text, "Hrom real mode\n");
    vmm_vm_destroy(vm);
    h_dev_free(con);
}

/* An MMIO read callback's value and a register it sets both arrive. */
static int mmio_reg_hook(struct h_dev *d, vmm_vcpu *vcpu, const struct vmm_io *io)
{
    (void)d;
    if (!io->is_write && io->offset == 0x10)
        vmm_vcpu_set_reg(vcpu, VMM_REG_R15, 0xfeedf00d);
    return 0;
}

static void test_mmio_callback_sets_register(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("mmio64", VMM_CPU_MODE_LONG, 0, 1);
    struct h_dev *mm = h_mmio_dev(vm, "regs", GUEST_MMIO_BASE, 0x1000);
    struct h_dev *rep = h_pio_dev(vm, "report", GUEST_MMIO_REPORT, 4);
    mm->hook = mmio_reg_hook;
    h_put_le(mm->regs + 0x10, 0x0102030405060708ull, 8);
    h_run_to_hlt(h_vcpu(vm, 0));
    uint64_t r15 = 0;
    H_OK(vmm_vcpu_get_reg(h_vcpu(vm, 0), VMM_REG_R15, &r15));
    assert_int_equal(r15, 0xfeedf00d);
    assert_int_equal(rep->n, 7);
    assert_int_equal(rep->log[5].value | rep->log[6].value << 32, 0x0102030405060708ull);
    vmm_vm_destroy(vm);
    h_dev_free(mm);
    h_dev_free(rep);
}

/* The same for a port read (hello64's 2-byte IN of GUEST_IO_PORT + 2). */
static int pio_reg_hook(struct h_dev *d, vmm_vcpu *vcpu, const struct vmm_io *io)
{
    (void)d;
    if (!io->is_write && io->len == 2)
        vmm_vcpu_set_reg(vcpu, VMM_REG_R15, 0xfeedf00d);
    return 0;
}

static void test_pio_callback_sets_register(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("hello64", VMM_CPU_MODE_LONG, 0, 1);
    struct h_dev *con = h_pio_dev(vm, "console", GUEST_CONSOLE_PORT, 1);
    struct h_dev *io = h_pio_dev(vm, "wide-io", GUEST_IO_PORT, 8);
    struct h_dev *str = h_pio_dev(vm, "string-io", GUEST_INSB_PORT, 2);
    io->no_store = 1;
    h_put_le(io->regs, 0xcafef00d, 4);
    io->hook = pio_reg_hook;
    h_run_to_hlt(h_vcpu(vm, 0));
    uint64_t r15 = 0;
    H_OK(vmm_vcpu_get_reg(h_vcpu(vm, 0), VMM_REG_R15, &r15));
    assert_int_equal(r15, 0xfeedf00d);
    assert_int_equal(io->n, 6);
    assert_int_equal(io->log[3].value, 0xcafe);   /* the echo of the IN */
    vmm_vm_destroy(vm);
    h_dev_free(con);
    h_dev_free(io);
    h_dev_free(str);
}

/* Two real-mode vCPUs: vCPU 0 runs hello16 (console unmapped), vCPU 1
 * spins at 0x2000. vmm_vm_run() returns the unhandled OUT of vCPU 0 and
 * stops vCPU 1. */
static vmm_vm *two_cpu_vm(void)
{
    vmm_vm *vm = h_guest_vm("hello16", VMM_CPU_MODE_REAL, 0, 2);
    const uint8_t spin[2] = { 0xeb, 0xfe };
    H_OK(vmm_memory_write(vm, 0x2000, spin, sizeof spin));
    H_OK(vmm_vcpu_set_reg(h_vcpu(vm, 1), VMM_REG_RIP, 0x2000));
    return vm;
}

static void test_vm_run_one_ends_all(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = two_cpu_vm();
    struct vmm_exit e;
    memset(&e, 0, sizeof e);
    double t0 = h_now();
    H_OK(vmm_vm_run(vm, &e));
    assert_true(h_now() - t0 < 2.0);
    assert_int_equal(e.reason, VMM_EXIT_PIO);
    assert_int_equal(e.vcpu_index, 0);
    assert_int_equal(e.pio.port, GUEST_CONSOLE_PORT);
    assert_int_equal(e.pio.data[0], 'H');
    /* vCPU 1 is stopped, still in its loop */
    uint64_t rip = 0;
    H_OK(vmm_vcpu_get_reg(h_vcpu(vm, 1), VMM_REG_RIP, &rip));
    assert_int_equal(rip, 0x2000);
    /* a second run carries on: the next character comes back */
    memset(&e, 0, sizeof e);
    H_OK(vmm_vm_run(vm, &e));
    assert_int_equal(e.reason, VMM_EXIT_PIO);
    assert_int_equal(e.vcpu_index, 0);
    assert_int_equal(e.pio.data[0], 'e');
    vmm_vm_destroy(vm);
}

struct bg {
    vmm_vm *vm;
    int rc;
    struct vmm_exit exit;
    atomic_int done;
};

static void *bg_vm_run(void *arg)
{
    struct bg *b = arg;
    b->rc = vmm_vm_run(b->vm, &b->exit);
    atomic_store(&b->done, 1);
    return NULL;
}

/* vCPU 0 halts, vCPU 1 spins: the run goes on until stopped. */
static void test_vm_run_waits_for_all(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = two_cpu_vm();
    struct h_dev *con = h_pio_dev(vm, "console", GUEST_CONSOLE_PORT, 1);
    struct bg b = { .vm = vm };
    atomic_store(&b.done, 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, bg_vm_run, &b), 0);
    double until = h_now() + 5;
    while (con->n < 21 && h_now() < until)
        nanosleep(&(struct timespec){ 0, 1000000L }, NULL);
    nanosleep(&(struct timespec){ 0, 100000000L }, NULL);
    int early = atomic_load(&b.done);
    H_OK(vmm_vm_stop(vm));
    until = h_now() + 5;
    while (!atomic_load(&b.done) && h_now() < until)
        nanosleep(&(struct timespec){ 0, 1000000L }, NULL);
    assert_true(atomic_load(&b.done));
    pthread_join(t, NULL);
    assert_false(early);
    assert_string_equal(con->text, "Hello from real mode\n");
    assert_int_equal(b.rc, 0);
    assert_int_equal(b.exit.reason, VMM_EXIT_STOPPED);
    vmm_vm_destroy(vm);
    h_dev_free(con);
}

/* vmm_vm_run(vm, NULL) is allowed. */
static void test_vm_run_null_exit(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("smp64", VMM_CPU_MODE_LONG, 0, 2);
    struct h_dev *d = h_pio_dev(vm, "ports", GUEST_SMP_PORT, 2);
    H_OK(vmm_vm_run(vm, NULL));
    assert_int_equal(d->n, 2 * GUEST_SMP_ITERS);
    vmm_vm_destroy(vm);
    h_dev_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registers_in_callback),
        cmocka_unit_test(test_mmio_callback_sets_register),
        cmocka_unit_test(test_pio_callback_sets_register),
        cmocka_unit_test(test_vm_run_one_ends_all),
        cmocka_unit_test(test_vm_run_waits_for_all),
        cmocka_unit_test(test_vm_run_null_exit),
    };
    return cmocka_run_group_tests_name("callbacks", tests, NULL, NULL);
}
