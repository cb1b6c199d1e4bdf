/* Built-in devices under bad configurations, port conflicts, a guest
 * hammering every UART register while the host feeds input from two sides,
 * a console whose reader went away, and teardown with a live input thread
 * (no thread, fd or memory left behind). */
#include "dev_util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

static void test_serial_bad_configs(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_vm_new(1, 0);
    struct vmm_serial_config cfg = VMM_SERIAL_CONFIG_INIT;
    cfg.irq = VMM_SERIAL_NO_IRQ;
    vmm_device *dev = NULL;

    H_EXPECT_ERR(-EINVAL, vmm_serial_attach(NULL, &cfg, &dev));
    H_EXPECT_ERR(-EINVAL, vmm_serial_attach(vm, NULL, &dev));

    struct vmm_serial_config c = cfg;
    c.struct_size = 8;
    H_EXPECT_ERR(-EINVAL, vmm_serial_attach(vm, &c, &dev));
    assert_non_null(strstr(vmm_last_error(), "struct_size"));
    c = cfg;
    c.flags = 1;
    H_EXPECT_ERR(-EINVAL, vmm_serial_attach(vm, &c, &dev));
    c = cfg;
    c.reserved0 = 1;
    H_EXPECT_ERR(-EINVAL, vmm_serial_attach(vm, &c, &dev));
    c = cfg;
    c.port = 0xfff9;
    H_EXPECT_ERR(-EINVAL, vmm_serial_attach(vm, &c, &dev));
    assert_non_null(strstr(vmm_last_error(), "0xfff9"));
    c.port = 0xfff8; /* the last 8 ports fit */
    H_OK(vmm_serial_attach(vm, &c, &dev));
    c = cfg;
    c.irq = 24;
    H_EXPECT_ERR(-EINVAL, vmm_serial_attach(vm, &c, &dev));
    c = cfg;
    c.out_fd = -2;
    H_EXPECT_ERR(-EINVAL, vmm_serial_attach(vm, &c, &dev));
    c = cfg;
    c.in_fd = 1000000; /* not open */
    H_EXPECT_ERR(-EINVAL, vmm_serial_attach(vm, &c, &dev));
    assert_non_null(strstr(vmm_last_error(), "in_fd"));
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    c = cfg;
    c.out_fd = p[0]; /* read-only end */
    H_EXPECT_ERR(-EINVAL, vmm_serial_attach(vm, &c, &dev));
    c = cfg;
    c.in_fd = p[1]; /* write-only end */
    H_EXPECT_ERR(-EINVAL, vmm_serial_attach(vm, &c, &dev));

    /* A bigger struct from a newer caller: fine if the tail is zero. */
    struct {
        struct vmm_serial_config cfg;
        uint64_t future;
    } big;
    memset(&big, 0, sizeof big);
    big.cfg = cfg;
    big.cfg.struct_size = sizeof big;
    big.cfg.port = 0x3e8;
    H_OK(vmm_serial_attach(vm, &big.cfg, NULL));
    big.cfg.port = 0x2e8;
    big.future = 1;
    H_EXPECT_ERR(-EINVAL, vmm_serial_attach(vm, &big.cfg, NULL));

    /* vmm_serial_input() on what is not a serial device */
    struct h_dev *other = h_pio_dev(vm, "not-serial", 0x700, 1);
    H_EXPECT_ERR(-EINVAL, vmm_serial_input(other->dev, "x", 1));
    H_EXPECT_ERR(-EINVAL, vmm_serial_input(NULL, "x", 1));
    H_EXPECT_ERR(-EINVAL, vmm_serial_input(dev, NULL, 1));
    assert_int_equal(vmm_serial_input(dev, NULL, 0), 0);

    vmm_vm_destroy(vm);
    close(p[0]);
    close(p[1]);
    h_dev_free(other);
}

static void test_port_conflicts(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_vm_new(1, 0);
    struct vmm_serial_config cfg = VMM_SERIAL_CONFIG_INIT;
    cfg.irq = VMM_SERIAL_NO_IRQ;
    H_OK(vmm_serial_attach(vm, &cfg, NULL));
    H_EXPECT_ERR(-EBUSY, vmm_serial_attach(vm, &cfg, NULL));
    assert_non_null(strstr(vmm_last_error(), "serial@0x3f8"));
    cfg.port = 0x3f1; /* [0x3f1, 0x3f9) overlaps 0x3f8 by one port */
    H_EXPECT_ERR(-EBUSY, vmm_serial_attach(vm, &cfg, NULL));

    H_OK(vmm_i8042_attach(vm, NULL));
    H_EXPECT_ERR(-EBUSY, vmm_i8042_attach(vm, NULL));
    H_OK(vmm_rtc_attach(vm, NULL));
    H_EXPECT_ERR(-EBUSY, vmm_rtc_attach(vm, NULL));
    H_OK(vmm_debug_exit_attach(vm, VMM_DEBUG_EXIT_PORT, NULL));
    H_EXPECT_ERR(-EBUSY, vmm_debug_exit_attach(vm, VMM_DEBUG_EXIT_PORT + 3, NULL));
    H_EXPECT_ERR(-EBUSY, vmm_debug_exit_attach(vm, 0x3fc, NULL)); /* into COM1 */
    H_EXPECT_ERR(-EBUSY, vmm_debug_exit_attach(vm, 0x6e, NULL));  /* into the RTC */
    H_EXPECT_ERR(-EINVAL, vmm_debug_exit_attach(vm, 0xfffd, NULL));
    H_OK(vmm_debug_exit_attach(vm, 0xfffc, NULL));
    H_EXPECT_ERR(-EINVAL, vmm_debug_exit_attach(NULL, 0x500, NULL));
    H_EXPECT_ERR(-EINVAL, vmm_i8042_attach(NULL, NULL));
    H_EXPECT_ERR(-EINVAL, vmm_rtc_attach(NULL, NULL));

    /* i8042 takes 0x60 and 0x64 only: 0x61 (port B) stays free. */
    struct h_dev *portb = h_pio_dev(vm, "port-b", 0x61, 1);
    vmm_vm_destroy(vm);
    h_dev_free(portb);
}

/* ---- hammering ------------------------------------------------------------ */

struct feeder {
    vmm_device *serial;
    int fd;
    atomic_int stop;
    long fed;
};

static void *feed_main(void *arg)
{
    struct feeder *f = arg;
    uint8_t buf[64];
    for (unsigned i = 0; !atomic_load(&f->stop); i++) {
        memset(buf, (int)i, sizeof buf);
        int n = vmm_serial_input(f->serial, buf, 1 + i % sizeof buf);
        assert_true(n >= 0);
        f->fed += n;
        if (write(f->fd, buf, 1 + i % 7) < 0)
            break;
        if (n == 0)
            usleep(100);
    }
    return NULL;
}

static size_t sink_bytes;
static int sink(vmm_vcpu *vcpu, const uint8_t *data, size_t len, void *user)
{
    (void)vcpu;
    (void)data;
    (void)user;
    sink_bytes += len;
    return 0;
}

static void test_hammer(void **state)
{
    (void)state;
    h_require_kvm();
    long threads0 = dev_thread_count();
    vmm_vm *vm = dev_vm_new(VMM_PLATFORM_PC, 4u << 20, "uart_hammer", 30000);
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    assert_true(devnull >= 0);
    struct vmm_serial_config cfg = VMM_SERIAL_CONFIG_INIT; /* IRQ 4 */
    cfg.out_fd = devnull;
    cfg.in_fd = p[0];
    cfg.out_fn = sink;
    vmm_device *dev = NULL;
    H_OK(vmm_serial_attach(vm, &cfg, &dev));
    assert_int_equal(dev_thread_count(), threads0 + 1);

    static struct feeder f;
    memset(&f, 0, sizeof f);
    f.serial = dev;
    f.fd = p[1];
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, feed_main, &f), 0);
    sink_bytes = 0;
    assert_int_equal(dev_run_to_exit(h_vcpu(vm, 0)), DEV_EXIT_OK);
    atomic_store(&f.stop, 1);
    pthread_join(t, NULL);
    assert_true(f.fed > 0);
    assert_true(sink_bytes > 0);

    struct vmm_device_stats st = { .struct_size = sizeof st };
    H_OK(vmm_device_get_stats(dev, &st));
    assert_int_equal(st.errors, 0);
    assert_int_equal(st.unhandled, 0);
    assert_true(st.pio_reads + st.pio_writes >= 30000);

    vmm_vm_destroy(vm);
    assert_int_equal(dev_thread_count(), threads0);
    close(p[0]);
    close(p[1]);
    close(devnull);
}

/* ---- teardown and broken consoles ------------------------------------------ */

/* Destroying a VM (or detaching the device) while the reader thread waits
 * in poll() or for room in a full queue stops and joins it; no thread or fd
 * is left behind, across many rounds. */
static void test_destroy_with_live_reader(void **state)
{
    (void)state;
    h_require_kvm();
    long threads0 = dev_thread_count();
    long fds0 = h_fd_count();
    static uint8_t junk[8192];
    for (int round = 0; round < 20; round++) {
        vmm_vm *vm = h_vm_new(1, 0);
        int p[2];
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        if (round % 2) /* more than the queue holds: the reader waits for room */
            assert_int_equal(write(p[1], junk, sizeof junk), (ssize_t)sizeof junk);
        struct vmm_serial_config cfg = VMM_SERIAL_CONFIG_INIT;
        cfg.irq = VMM_SERIAL_NO_IRQ;
        cfg.in_fd = p[0];
        vmm_device *dev = NULL;
        H_OK(vmm_serial_attach(vm, &cfg, &dev));
        assert_int_equal(dev_thread_count(), threads0 + 1);
        if (round % 2)
            usleep(2000);
        if (round % 4 == 3)
            H_OK(vmm_device_detach(dev));
        vmm_vm_destroy(vm);
        assert_int_equal(dev_thread_count(), threads0);
        close(p[0]);
        close(p[1]);
    }
    assert_int_equal(h_fd_count(), fds0);

    /* A failed attach after the thread would have started leaves nothing
     * either: the port conflict is found before, the fd check before that. */
    vmm_vm *vm = h_vm_new(1, 0);
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    struct vmm_serial_config cfg = VMM_SERIAL_CONFIG_INIT;
    cfg.irq = VMM_SERIAL_NO_IRQ;
    cfg.in_fd = p[0];
    H_OK(vmm_serial_attach(vm, &cfg, NULL));
    H_EXPECT_ERR(-EBUSY, vmm_serial_attach(vm, &cfg, NULL));
    cfg.port = 0x2f8;
    cfg.irq = 3; /* no irqchip */
    H_EXPECT_ERR(-EINVAL, vmm_serial_attach(vm, &cfg, NULL));
    assert_int_equal(dev_thread_count(), threads0 + 1);
    vmm_vm_destroy(vm);
    assert_int_equal(dev_thread_count(), threads0);
    close(p[0]);
    close(p[1]);
    assert_int_equal(h_fd_count(), fds0);
}

static int warnings;
static void count_warnings(int level, const char *msg, void *user)
{
    (void)user;
    if (level == VMM_LOG_WARN && strstr(msg, "serial@0x3f8"))
        warnings++;
}

/* Guest output to a pipe nobody reads any more: no SIGPIPE kills the host,
 * one warning is logged, the callback still gets every byte. */
static size_t cb_bytes;
static int count_cb(vmm_vcpu *vcpu, const uint8_t *data, size_t len, void *user)
{
    (void)vcpu;
    (void)data;
    (void)user;
    cb_bytes += len;
    return 0;
}

static void test_output_reader_gone(void **state)
{
    (void)state;
    h_require_kvm();
    struct sigaction dfl = { .sa_handler = SIG_DFL }, old;
    sigaction(SIGPIPE, &dfl, &old); /* the default kills: prove we never get it */
    vmm_vm *vm = dev_vm_new(VMM_PLATFORM_NONE, H_RAM_SIZE, "uart_regs", 0);
    struct h_dev *rep = dev_report_dev(vm, NULL, NULL);
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    close(p[0]);
    struct vmm_serial_config cfg = VMM_SERIAL_CONFIG_INIT;
    cfg.irq = VMM_SERIAL_NO_IRQ;
    cfg.out_fd = p[1];
    cfg.out_fn = count_cb;
    H_OK(vmm_serial_attach(vm, &cfg, NULL));
    warnings = 0;
    cb_bytes = 0;
    H_OK(vmm_set_log_callback(count_warnings, NULL, VMM_LOG_WARN));
    assert_int_equal(dev_run_to_exit(h_vcpu(vm, 0)), DEV_EXIT_OK);
    H_OK(vmm_set_log_callback(NULL, NULL, VMM_LOG_ERROR));
    assert_int_equal(warnings, 1);
    assert_int_equal(cb_bytes, strlen("Hello from the 16550A\n"));
    sigset_t pending;
    sigpending(&pending);
    assert_false(sigismember(&pending, SIGPIPE));
    vmm_vm_destroy(vm);
    close(p[1]);
    h_dev_free(rep);
    sigaction(SIGPIPE, &old, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serial_bad_configs),
        cmocka_unit_test(test_port_conflicts),
        cmocka_unit_test(test_hammer),
        cmocka_unit_test(test_destroy_with_live_reader),
        cmocka_unit_test(test_output_reader_gone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
