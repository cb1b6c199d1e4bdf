/* vmm_vm_stop() and vmm_vcpu_kick(): from other threads, before a run,
 * from a device callback, and inside vmm_vm_run(). */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#define PROMPT_S 0.5   /* "promptly": well under a second */

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

struct runner {
    vmm_vm *vm;
    vmm_vcpu *cpu;       /* NULL: vmm_vm_run(vm) */
    int rc;
    struct vmm_exit exit;
    atomic_int done;
    double t_end;
};

static void *runner_main(void *arg)
{
    struct runner *r = arg;
    memset(&r->exit, 0, sizeof r->exit);
    if (r->cpu)
        r->rc = vmm_vcpu_run(r->cpu, &r->exit);
    else
        r->rc = vmm_vm_run(r->vm, &r->exit);
    r->t_end = h_now();
    atomic_store(&r->done, 1);
    return NULL;
}

static void start(struct runner *r, pthread_t *t, vmm_vm *vm, vmm_vcpu *cpu)
{
    r->vm = vm;
    r->cpu = cpu;
    r->rc = 12345;
    atomic_store(&r->done, 0);
    assert_int_equal(pthread_create(t, NULL, runner_main, r), 0);
}

/* Wait up to @s seconds for the runner to finish; returns whether it did. */
static int wait_done(struct runner *r, double s)
{
    double until = h_now() + s;
    while (!atomic_load(&r->done) && h_now() < until)
        sleep_ms(1);
    return atomic_load(&r->done);
}

static void stop_spinner(uint32_t flags, uint32_t ncpu, int use_vm_run)
{
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("spin", VMM_CPU_MODE_LONG, flags, ncpu);
    struct runner r;
    pthread_t t;
    start(&r, &t, vm, use_vm_run ? NULL : h_vcpu(vm, 0));
    sleep_ms(150);
    assert_false(atomic_load(&r.done));      /* it really spins */
    double t0 = h_now();
    H_OK(vmm_vm_stop(vm));
    int finished = wait_done(&r, 5.0);
    if (!finished) {
        /* do not leave a thread spinning inside a VM we free */
        fail_msg("vmm_vm_stop() did not end the run within 5 s");
    }
    pthread_join(t, NULL);
    double dt = r.t_end - t0;
    print_message("stop latency (%s, %u vCPU%s, %s): %.1f ms\n",
                  flags ? "CPL3" : "CPL0", ncpu, ncpu > 1 ? "s" : "",
                  use_vm_run ? "vmm_vm_run" : "vmm_vcpu_run", dt * 1e3);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.exit.reason, VMM_EXIT_STOPPED);
    assert_true(dt < PROMPT_S);
    vmm_vm_destroy(vm);
}

static void test_stop_spin_cpl0(void **state)
{
    (void)state;
    stop_spinner(0, 1, 0);
}

static void test_stop_spin_cpl3(void **state)
{
    (void)state;
    stop_spinner(VMM_CPU_MODE_F_USER, 1, 0);
}

static void test_stop_vm_run_4_spinners(void **state)
{
    (void)state;
    stop_spinner(0, 4, 1);
}

static void test_stop_vm_run_cpl3(void **state)
{
    (void)state;
    stop_spinner(VMM_CPU_MODE_F_USER, 2, 1);
}

/* A stop while nothing runs is taken by the next run, once. */
static void test_stop_before_run(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("hello16", VMM_CPU_MODE_REAL, 0, 1);
    struct h_dev *con = h_pio_dev(vm, "console", GUEST_CONSOLE_PORT, 1);
    vmm_vcpu *cpu = h_vcpu(vm, 0);
    struct vmm_exit e;
    H_OK(vmm_vm_stop(vm));
    h_run_expect(cpu, &e, VMM_EXIT_STOPPED);
    assert_int_equal(con->n, 0);
    h_run_to_hlt(cpu);
    assert_string_equal(con->text, "Hello from real mode\n");
    vmm_vm_destroy(vm);
    h_dev_free(con);
}

static int stop_on_3rd(struct h_dev *d, vmm_vcpu *vcpu, const struct vmm_io *io)
{
    (void)io;
    if (d->n == 3)
        assert_int_equal(vmm_vm_stop(vmm_vcpu_vm(vcpu)), 0);
    return 0;
}

/* vmm_vm_stop() from a device callback: the access completes, then the run
 * returns STOPPED; resuming continues where the guest was. */
static void test_stop_from_callback(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("hello16", VMM_CPU_MODE_REAL, 0, 1);
    struct h_dev *con = h_pio_dev(vm, "console", GUEST_CONSOLE_PORT, 1);
    con->hook = stop_on_3rd;
    vmm_vcpu *cpu = h_vcpu(vm, 0);
    struct vmm_exit e;
    h_run_expect(cpu, &e, VMM_EXIT_STOPPED);
    assert_string_equal(con->text, "Hel");
    h_run_to_hlt(cpu);
    assert_string_equal(con->text, "Hello from real mode\n");
    vmm_vm_destroy(vm);
    h_dev_free(con);
}

/* vmm_vm_stop() from a callback inside vmm_vm_run(). */
static void test_stop_from_callback_vm_run(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("hello16", VMM_CPU_MODE_REAL, 0, 1);
    struct h_dev *con = h_pio_dev(vm, "console", GUEST_CONSOLE_PORT, 1);
    con->hook = stop_on_3rd;
    struct vmm_exit e;
    memset(&e, 0, sizeof e);
    H_OK(vmm_vm_run(vm, &e));
    assert_int_equal(e.reason, VMM_EXIT_STOPPED);
    assert_string_equal(con->text, "Hel");
    vmm_vm_destroy(vm);
    h_dev_free(con);
}

/* ---- kick ---------------------------------------------------------------- */

static void test_kick_before_run(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("hello16", VMM_CPU_MODE_REAL, 0, 1);
    struct h_dev *con = h_pio_dev(vm, "console", GUEST_CONSOLE_PORT, 1);
    vmm_vcpu *cpu = h_vcpu(vm, 0);
    struct vmm_exit e;
    H_OK(vmm_vcpu_kick(cpu));
    H_OK(vmm_vcpu_kick(cpu));      /* kicks do not queue up: one return */
    h_run_expect(cpu, &e, VMM_EXIT_KICKED);
    assert_int_equal(e.vcpu_index, 0);
    assert_int_equal(con->n, 0);
    h_run_to_hlt(cpu);
    assert_string_equal(con->text, "Hello from real mode\n");
    vmm_vm_destroy(vm);
    h_dev_free(con);
}

static void kick_spinner(uint32_t flags)
{
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("spin", VMM_CPU_MODE_LONG, flags, 1);
    vmm_vcpu *cpu = h_vcpu(vm, 0);
    for (int round = 0; round < 3; round++) {
        struct runner r;
        pthread_t t;
        start(&r, &t, vm, cpu);
        sleep_ms(50);
        assert_false(atomic_load(&r.done));
        double t0 = h_now();
        H_OK(vmm_vcpu_kick(cpu));
        if (!wait_done(&r, 5.0)) {
            vmm_vm_stop(vm);
            wait_done(&r, 5.0);
            fail_msg("vmm_vcpu_kick() did not end the run within 5 s");
        }
        pthread_join(t, NULL);
        double dt = r.t_end - t0;
        assert_int_equal(r.rc, 0);
        assert_int_equal(r.exit.reason, VMM_EXIT_KICKED);
        assert_true(dt < PROMPT_S);
        if (round == 0)
            print_message("kick latency (%s): %.1f ms\n", flags ? "CPL3" : "CPL0",
                          dt * 1e3);
    }
    /* the guest is still where it was: spinning at the entry point */
    uint64_t rip = 0;
    H_OK(vmm_vcpu_get_reg(cpu, VMM_REG_RIP, &rip));
    assert_int_equal(rip, GUEST_LOAD_GPA);
    vmm_vm_destroy(vm);
}

static void test_kick_spin_cpl0(void **state)
{
    (void)state;
    kick_spinner(0);
}

static void test_kick_spin_cpl3(void **state)
{
    (void)state;
    kick_spinner(VMM_CPU_MODE_F_USER);
}

/* Inside vmm_vm_run() a kick does not end the run. */
static void test_kick_inside_vm_run(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("spin", VMM_CPU_MODE_LONG, VMM_CPU_MODE_F_USER, 2);
    struct runner r;
    pthread_t t;
    start(&r, &t, vm, NULL);
    for (int i = 0; i < 10; i++) {
        sleep_ms(20);
        H_OK(vmm_vcpu_kick(h_vcpu(vm, (uint32_t)(i & 1))));
    }
    sleep_ms(50);
    int early = atomic_load(&r.done);
    H_OK(vmm_vm_stop(vm));
    if (!wait_done(&r, 5.0))
        fail_msg("vmm_vm_stop() did not end vmm_vm_run within 5 s");
    pthread_join(t, NULL);
    assert_false(early);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.exit.reason, VMM_EXIT_STOPPED);
    vmm_vm_destroy(vm);
}

/* Stop and kick racing the start of a run: the run must always end (a
 * request that arrives before the vCPU enters the guest is kept for it),
 * and a consumed request must not leak into the following run. */
static void race(int use_vm_run, int use_kick, int rounds)
{
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("spin", VMM_CPU_MODE_LONG, VMM_CPU_MODE_F_USER,
                            use_vm_run ? 2 : 1);
    vmm_vcpu *cpu = h_vcpu(vm, 0);
    double worst = 0;
    for (int i = 0; i < rounds; i++) {
        struct runner r;
        pthread_t t;
        start(&r, &t, vm, use_vm_run ? NULL : cpu);
        if (i & 1)
            sleep_ms(0);
        double t0 = h_now();
        if (use_kick)
            H_OK(vmm_vcpu_kick(cpu));
        else
            H_OK(vmm_vm_stop(vm));
        if (!wait_done(&r, 3.0)) {
            vmm_vm_stop(vm);
            wait_done(&r, 3.0);
            fail_msg("round %d: the run did not end within 3 s of the %s",
                     i, use_kick ? "kick" : "stop");
        }
        pthread_join(t, NULL);
        if (r.t_end - t0 > worst)
            worst = r.t_end - t0;
        assert_int_equal(r.rc, 0);
        assert_int_equal(r.exit.reason,
                         use_kick ? VMM_EXIT_KICKED : VMM_EXIT_STOPPED);
    }
    print_message("%d %s races (%s): worst %.1f ms\n", rounds,
                  use_kick ? "kick" : "stop",
                  use_vm_run ? "vmm_vm_run" : "vmm_vcpu_run", worst * 1e3);
    /* nothing left pending: a kick-less run of a halting guest would tell,
     * but this guest spins, so check with a bounded run instead */
    struct runner r;
    pthread_t t;
    start(&r, &t, vm, use_vm_run ? NULL : cpu);
    sleep_ms(100);
    int ended_early = atomic_load(&r.done);
    vmm_vm_stop(vm);
    wait_done(&r, 3.0);
    pthread_join(t, NULL);
    assert_false(ended_early);
    vmm_vm_destroy(vm);
}

static void test_stop_race_vcpu_run(void **state)
{
    (void)state;
    race(0, 0, 200);
}

static void test_stop_race_vm_run(void **state)
{
    (void)state;
    race(1, 0, 50);
}

static void test_kick_race_vcpu_run(void **state)
{
    (void)state;
    race(0, 1, 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stop_spin_cpl0),
        cmocka_unit_test(test_stop_spin_cpl3),
        cmocka_unit_test(test_stop_vm_run_4_spinners),
        cmocka_unit_test(test_stop_vm_run_cpl3),
        cmocka_unit_test(test_stop_before_run),
        cmocka_unit_test(test_stop_from_callback),
        cmocka_unit_test(test_stop_from_callback_vm_run),
        cmocka_unit_test(test_kick_before_run),
        cmocka_unit_test(test_kick_spin_cpl0),
        cmocka_unit_test(test_kick_spin_cpl3),
        cmocka_unit_test(test_kick_inside_vm_run),
        cmocka_unit_test(test_stop_race_vcpu_run),
        cmocka_unit_test(test_stop_race_vm_run),
        cmocka_unit_test(test_kick_race_vcpu_run),
    };
    return cmocka_run_group_tests_name("stop", tests, NULL, NULL);
}
