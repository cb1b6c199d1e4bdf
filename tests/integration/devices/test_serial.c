/* 16550A UART (vmm_serial_attach) driven by real guests: registers as
 * Linux's 8250 driver probes them, transmit to an fd and a callback,
 * receive from vmm_serial_input() and from an fd, device reset. */
#include "dev_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct capture {
    char buf[65536];
    size_t len;
    int calls;
    int fail_call; /* if non-zero, that call (1-based) returns -EIO */
};

static int capture_out(vmm_vcpu *vcpu, const uint8_t *data, size_t len, void *user)
{
    assert_non_null(vcpu);
    struct capture *c = user;
    assert_true(c->len + len <= sizeof c->buf);
    memcpy(c->buf + c->len, data, len);
    c->len += len;
    c->calls++;
    return c->calls == c->fail_call ? -EIO : 0;
}

/* Everything readable from a non-blocking fd. */
static size_t drain(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    return n;
}

static const char hello[] = "Hello from the 16550A\n";

/* Register values uart_regs.S must read (see the comments there). */
static void expect_register_reports(const struct dev_reports *r)
{
    /* reset values */
    DEV_EXPECT(r, 0x01, 0x60); /* LSR: THRE | TEMT */
    DEV_EXPECT(r, 0x02, 0x01); /* IIR: no interrupt, FIFOs off */
    DEV_EXPECT(r, 0x03, 0x00);
    DEV_EXPECT(r, 0x04, 0x00);
    DEV_EXPECT(r, 0x05, 0x00);
    DEV_EXPECT(r, 0x06, 0xb0); /* MSR: DCD | DSR | CTS */
    /* scratch */
    DEV_EXPECT(r, 0x07, 0x5a);
    DEV_EXPECT(r, 0x08, 0xa5);
    /* divisor latch */
    DEV_EXPECT(r, 0x09, 0x34);
    DEV_EXPECT(r, 0x0a, 0x12);
    DEV_EXPECT(r, 0x0b, 0x83);
    DEV_EXPECT(r, 0x0c, 0x00); /* IER again once DLAB is off */
    DEV_EXPECT(r, 0x0d, 0x34); /* divisor kept */
    DEV_EXPECT(r, 0x0e, 0x0f); /* IER bits 4-7 read 0 */
    /* loopback modem lines: Linux's autoconfig wants MSR & 0xf0 == 0x90 */
    DEV_EXPECT(r, 0x0f, 0x92); /* DCD | CTS, DSR dropped (DDSR) */
    DEV_EXPECT(r, 0x10, 0x90);
    DEV_EXPECT(r, 0x11, 0xb2); /* out of loopback: DSR back (DDSR) */
    /* FIFO identification and the 16550A variant probes */
    DEV_EXPECT(r, 0x12, 0xc1);
    DEV_EXPECT(r, 0x13, 0x01);
    DEV_EXPECT(r, 0x14, 0xc1); /* IIR >> 6 == 3: a 16550A */
    DEV_EXPECT(r, 0x15, 0xc1); /* no EFR under LCR 0x80 */
    DEV_EXPECT(r, 0x16, 0xc1); /* nor under LCR 0xbf */
    DEV_EXPECT(r, 0x17, 0xc1); /* no 64-byte FIFO: not a 16750 */
    DEV_EXPECT(r, 0x18, 0x00); /* IER.UUE does not stick: not an XScale */
    /* loopback echo */
    DEV_EXPECT(r, 0x19, 0x61);
    DEV_EXPECT(r, 0x1a, 'A');
    DEV_EXPECT(r, 0x1b, 'B');
    DEV_EXPECT(r, 0x1c, 0x60);
    DEV_EXPECT(r, 0x1d, 0xf0); /* MCR 0x1f: DCD, RI, DSR, CTS */
    DEV_EXPECT(r, 0x1e, 0x0f); /* all four dropped: DDCD, TERI, DDSR, DCTS */
    /* FIFO overrun */
    DEV_EXPECT(r, 0x1f, 0x63); /* DR | OE */
    DEV_EXPECT(r, 0x20, 0x61); /* OE cleared by the read */
    DEV_EXPECT(r, 0x21, 0x30);
    DEV_EXPECT(r, 0x22, 0x3f); /* 16 kept, the 17th lost */
    DEV_EXPECT(r, 0x23, 0x60);
    /* 16450 mode overrun */
    DEV_EXPECT(r, 0x24, 0x63);
    DEV_EXPECT(r, 0x25, 'y');
    DEV_EXPECT(r, 0x26, 0x60);
    DEV_EXPECT(r, 0x27, 0x60); /* FCR clear-RX */
    /* IIR priorities */
    DEV_EXPECT(r, 0x28, 0xc4); /* data over THRE */
    DEV_EXPECT(r, 0x29, 0xc2); /* THRE */
    DEV_EXPECT(r, 0x2a, 0xc1); /* THRE cleared by reading IIR */
    DEV_EXPECT(r, 0x2b, 0xcc); /* below trigger level 4: timeout */
    DEV_EXPECT(r, 0x2c, 0xc4);
    DEV_EXPECT(r, 0x2d, 0xc6); /* line status first */
    DEV_EXPECT(r, 0x2e, 0xc4);
    DEV_EXPECT(r, 0x2f, 0xc2);
    DEV_EXPECT(r, 0x30, 0xc0); /* modem status last */
    DEV_EXPECT(r, 0x31, 0x22); /* DSR | DDSR */
    DEV_EXPECT(r, 0x32, 0xc1);
}

static vmm_device *attach_serial(vmm_vm *vm, int out_fd, int in_fd, struct capture *cap)
{
    struct vmm_serial_config cfg = VMM_SERIAL_CONFIG_INIT;
    cfg.irq = VMM_SERIAL_NO_IRQ;
    cfg.out_fd = out_fd;
    cfg.in_fd = in_fd;
    if (cap) {
        cfg.out_fn = capture_out;
        cfg.out_user = cap;
    }
    vmm_device *dev = NULL;
    H_OK(vmm_serial_attach(vm, &cfg, &dev));
    assert_non_null(dev);
    return dev;
}

static void test_registers_and_output(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = dev_vm_new(VMM_PLATFORM_NONE, H_RAM_SIZE, "uart_regs", 0);
    struct h_dev *rep = dev_report_dev(vm, NULL, NULL);
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    static struct capture cap;
    memset(&cap, 0, sizeof cap);
    attach_serial(vm, p[1], -1, &cap);

    assert_int_equal(dev_run_to_exit(h_vcpu(vm, 0)), DEV_EXIT_OK);
    struct dev_reports r;
    dev_reports_get(rep, &r);
    expect_register_reports(&r);

    /* Only the transmitted line reaches the outputs: nothing written in
     * loopback or to the divisor latch. */
    char out[4096];
    size_t n = drain(p[0], out, sizeof out);
    assert_int_equal(n, strlen(hello));
    assert_memory_equal(out, hello, n);
    assert_int_equal(cap.len, strlen(hello));
    assert_memory_equal(cap.buf, hello, cap.len);
    assert_int_equal(cap.calls, (int)strlen(hello)); /* one call per THR write */

    vmm_vm_destroy(vm);
    close(p[0]);
    close(p[1]);
    h_dev_free(rep);
}

/* vmm_vm_reset_devices() puts the UART back to its power-on state: the same
 * guest, run again from the start, reads the same values. */
static void test_reset(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = dev_vm_new(VMM_PLATFORM_NONE, H_RAM_SIZE, "uart_regs", 0);
    struct h_dev *rep = dev_report_dev(vm, NULL, NULL);
    static struct capture cap;
    memset(&cap, 0, sizeof cap);
    attach_serial(vm, -1, -1, &cap);
    vmm_vcpu *vcpu = h_vcpu(vm, 0);
    assert_int_equal(dev_run_to_exit(vcpu), DEV_EXIT_OK);

    H_OK(vmm_vm_reset_devices(vm));
    h_setup_vcpu(vcpu, VMM_CPU_MODE_LONG, 0);
    rep->n = 0;
    cap.len = 0;
    assert_int_equal(dev_run_to_exit(vcpu), DEV_EXIT_OK);
    struct dev_reports r;
    dev_reports_get(rep, &r);
    expect_register_reports(&r);
    assert_int_equal(cap.len, strlen(hello));

    vmm_vm_destroy(vm);
    h_dev_free(rep);
}

static void fill_pattern(uint8_t *buf, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)(i * 7 + seed + (i >> 8));
}

/* What the uart_rx guest's DEV_REQ_INPUT request sends: bytes through
 * vmm_serial_input() (fd < 0) or written to the reader's pipe (fd >= 0,
 * closed afterwards if close_fd). The guest asks only after it has set up
 * and cleared its FIFOs, so no host byte is dropped by that clear. */
struct rx_ctx {
    vmm_device *serial;
    const uint8_t *data;
    size_t len;
    int fd;
    int close_fd;
    int accepted;     /* vmm_serial_input() result */
    int accepted_more; /* a further 1-byte vmm_serial_input() while full */
    int requests;
};

static int rx_hook(struct h_dev *d, vmm_vcpu *vcpu, const struct vmm_io *io)
{
    (void)vcpu;
    struct rx_ctx *c = d->hook_data;
    if (!io->is_write || io->addr != DEV_REQ_PORT || h_le(io->data, io->len) != DEV_REQ_INPUT)
        return 0;
    c->requests++;
    if (c->fd < 0) {
        c->accepted = vmm_serial_input(c->serial, c->data, c->len);
        c->accepted_more = vmm_serial_input(c->serial, c->data, 1);
        return 0;
    }
    if (write(c->fd, c->data, c->len) != (ssize_t)c->len) /* fits the pipe buffer */
        return -EIO;
    if (c->close_fd) {
        close(c->fd);
        c->fd = -1;
    }
    return 0;
}

/* Guest input from vmm_serial_input(): everything queued (the 16-byte FIFO
 * plus the 4096-byte host buffer) arrives in order, the overflow is
 * refused, not dropped silently. */
static void test_receive_input(void **state)
{
    (void)state;
    h_require_kvm();
    enum { CAP = 16 + 4096 };
    static uint8_t in[5000];
    fill_pattern(in, sizeof in, 3);
    static struct rx_ctx c;
    c = (struct rx_ctx){ .data = in, .len = sizeof in, .fd = -1 };
    vmm_vm *vm = dev_vm_new(VMM_PLATFORM_NONE, H_RAM_SIZE, "uart_rx", CAP);
    struct h_dev *rep = dev_report_dev(vm, rx_hook, &c);
    c.serial = attach_serial(vm, -1, -1, NULL);
    assert_int_equal(vmm_serial_input(c.serial, in, 0), 0);

    assert_int_equal(dev_run_to_exit(h_vcpu(vm, 0)), DEV_EXIT_OK);
    assert_int_equal(c.requests, 1);
    assert_int_equal(c.accepted, CAP);
    assert_int_equal(c.accepted_more, 0);
    assert_int_equal(rep->text_len, CAP);
    assert_memory_equal(rep->text, in, CAP);
    struct dev_reports r;
    dev_reports_get(rep, &r);
    DEV_EXPECT(&r, 0x01, 0x61); /* DR, THRE, TEMT; never an error bit */

    /* Drained: room again. */
    assert_int_equal(vmm_serial_input(c.serial, in, 100), 100);
    vmm_vm_destroy(vm);
    h_dev_free(rep);
}

/* Guest input from an fd: the reader thread delivers more than the receive
 * queue holds, waiting for the guest to drain it, losing nothing. */
static void test_receive_in_fd(void **state)
{
    (void)state;
    h_require_kvm();
    enum { N = 6000 };
    static uint8_t in[N];
    fill_pattern(in, sizeof in, 11);
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    static struct rx_ctx c;
    c = (struct rx_ctx){ .data = in, .len = N, .fd = p[1] };
    vmm_vm *vm = dev_vm_new(VMM_PLATFORM_NONE, H_RAM_SIZE, "uart_rx", N);
    struct h_dev *rep = dev_report_dev(vm, rx_hook, &c);
    attach_serial(vm, -1, p[0], NULL);

    assert_int_equal(dev_run_to_exit(h_vcpu(vm, 0)), DEV_EXIT_OK);
    assert_int_equal(c.requests, 1);
    assert_int_equal(rep->text_len, N);
    assert_memory_equal(rep->text, in, N);

    vmm_vm_destroy(vm);
    close(p[0]);
    close(p[1]);
    h_dev_free(rep);
}

/* A reader that reaches EOF stops on its own; destroying the VM later is
 * still clean. Bytes before the EOF arrive. */
static void test_in_fd_eof(void **state)
{
    (void)state;
    h_require_kvm();
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    static struct rx_ctx c;
    c = (struct rx_ctx){ .data = (const uint8_t *)"hello", .len = 5, .fd = p[1], .close_fd = 1 };
    vmm_vm *vm = dev_vm_new(VMM_PLATFORM_NONE, H_RAM_SIZE, "uart_rx", 5);
    struct h_dev *rep = dev_report_dev(vm, rx_hook, &c);
    attach_serial(vm, -1, p[0], NULL);
    assert_int_equal(dev_run_to_exit(h_vcpu(vm, 0)), DEV_EXIT_OK);
    assert_int_equal(c.fd, -1); /* the write end was closed: EOF */
    assert_int_equal(rep->text_len, 5);
    assert_memory_equal(rep->text, "hello", 5);
    vmm_vm_destroy(vm);
    close(p[0]);
    h_dev_free(rep);
}

/* An output callback's error fails the guest's THR write like a device
 * callback's: the run ends with VMM_EXIT_DEVICE_ERROR and that errno, the
 * byte counts as sent, and the guest continues when run again. */
static void test_output_callback_error(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = dev_vm_new(VMM_PLATFORM_NONE, H_RAM_SIZE, "uart_regs", 0);
    struct h_dev *rep = dev_report_dev(vm, NULL, NULL);
    static struct capture cap;
    memset(&cap, 0, sizeof cap);
    cap.fail_call = 3;
    attach_serial(vm, -1, -1, &cap);
    struct vmm_exit e;
    memset(&e, 0, sizeof e);
    int rc = vmm_vcpu_run(h_vcpu(vm, 0), &e);
    assert_int_equal(rc, -EIO);
    assert_int_equal(e.reason, VMM_EXIT_DEVICE_ERROR);
    assert_int_equal(e.error, -EIO);
    assert_non_null(strstr(vmm_last_error(), "serial@0x3f8"));
    assert_int_equal(cap.calls, 3);
    assert_memory_equal(cap.buf, hello, 3);

    assert_int_equal(dev_run_to_exit(h_vcpu(vm, 0)), DEV_EXIT_OK);
    assert_int_equal(cap.len, strlen(hello));
    assert_memory_equal(cap.buf, hello, strlen(hello));
    vmm_vm_destroy(vm);
    h_dev_free(rep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registers_and_output),
        cmocka_unit_test(test_output_callback_error),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_receive_input),
        cmocka_unit_test(test_receive_in_fd),
        cmocka_unit_test(test_in_fd_eof),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
