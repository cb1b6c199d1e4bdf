/* COM1's interrupt line on a VMM_PLATFORM_PC VM, observed by the guest in
 * the 8259's IRR (it never takes the interrupt: IF=0), and the IRQ line's
 * configuration rules. */
#include "dev_util.h"

#include <errno.h>
#include <string.h>

struct irq_ctx {
    vmm_device *serial;
    int inputs;
};

/* DEV_REQ_INPUT: host input arriving while the guest runs. */
static int req_hook(struct h_dev *d, vmm_vcpu *vcpu, const struct vmm_io *io)
{
    (void)vcpu;
    struct irq_ctx *c = d->hook_data;
    if (io->is_write && io->addr == DEV_REQ_PORT && h_le(io->data, io->len) == DEV_REQ_INPUT) {
        c->inputs++;
        return vmm_serial_input(c->serial, "z", 1) == 1 ? 0 : -EIO;
    }
    return 0;
}

static void test_irq_line(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = dev_vm_new(VMM_PLATFORM_PC, 4u << 20, "uart_irq", 0);
    static struct irq_ctx c;
    memset(&c, 0, sizeof c);
    struct h_dev *rep = dev_report_dev(vm, req_hook, &c);
    struct vmm_serial_config cfg = VMM_SERIAL_CONFIG_INIT; /* COM1, IRQ 4 */
    H_OK(vmm_serial_attach(vm, &cfg, &c.serial));

    assert_int_equal(dev_run_to_exit(h_vcpu(vm, 0)), DEV_EXIT_OK);
    assert_int_equal(c.inputs, 2);
    struct dev_reports r;
    dev_reports_get(rep, &r);
    DEV_EXPECT(&r, 0x01, 0);    /* THRE pending, OUT2 off: line gated */
    DEV_EXPECT(&r, 0x02, 1);    /* OUT2 on */
    DEV_EXPECT(&r, 0x03, 0xc2);
    DEV_EXPECT(&r, 0x04, 0);    /* IIR read cleared THRE */
    DEV_EXPECT(&r, 0x05, 1);    /* loopback byte */
    DEV_EXPECT(&r, 0x06, 0xc4);
    DEV_EXPECT(&r, 0x07, 'x');
    DEV_EXPECT(&r, 0x08, 0xc2);
    DEV_EXPECT(&r, 0x09, 0);
    DEV_EXPECT(&r, 0x0a, 1);    /* vmm_serial_input() raised it */
    DEV_EXPECT(&r, 0x0b, 0xc4);
    DEV_EXPECT(&r, 0x0c, 'z');
    DEV_EXPECT(&r, 0x0d, 0);
    DEV_EXPECT(&r, 0x0e, 0);    /* ERBFI off */
    DEV_EXPECT(&r, 0x0f, 1);    /* ERBFI on */
    DEV_EXPECT(&r, 0x10, 0);    /* OUT2 off */
    DEV_EXPECT(&r, 0x11, 1);
    DEV_EXPECT(&r, 0x12, 0);    /* byte read */
    DEV_EXPECT(&r, 0x13, 1);    /* overrun, ELSI */
    DEV_EXPECT(&r, 0x14, 0xc6);
    DEV_EXPECT(&r, 0x15, 0);    /* LSR read */
    DEV_EXPECT(&r, 0x16, 0);
    DEV_EXPECT(&r, 0x17, 1);    /* modem status change, EDSSI */
    DEV_EXPECT(&r, 0x18, 0xc0);
    DEV_EXPECT(&r, 0x19, 0);    /* MSR read */

    vmm_vm_destroy(vm);
    h_dev_free(rep);
}

/* An IRQ needs an irqchip: refused on platform NONE, fine without one. */
static void test_irq_needs_irqchip(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_vm_new(1, 0);
    struct vmm_serial_config cfg = VMM_SERIAL_CONFIG_INIT;
    vmm_device *dev = NULL;
    H_EXPECT_ERR(-EINVAL, vmm_serial_attach(vm, &cfg, &dev));
    assert_non_null(strstr(vmm_last_error(), "irq 4"));
    assert_null(dev);
    /* Nothing was left claimed: the ports are free for a polled UART. */
    cfg.irq = VMM_SERIAL_NO_IRQ;
    H_OK(vmm_serial_attach(vm, &cfg, &dev));
    assert_non_null(dev);
    vmm_vm_destroy(vm);

    /* COM2 on IRQ 3 and a GSI above 15 on a PC VM. */
    vm = dev_vm_new(VMM_PLATFORM_PC, 4u << 20, "uart_irq", 0);
    cfg.port = VMM_SERIAL_COM2_PORT;
    cfg.irq = VMM_SERIAL_COM2_IRQ;
    H_OK(vmm_serial_attach(vm, &cfg, NULL));
    cfg.port = 0x2000;
    cfg.irq = 23;
    H_OK(vmm_serial_attach(vm, &cfg, NULL));
    cfg.port = 0x2010;
    cfg.irq = 24;
    H_EXPECT_ERR(-EINVAL, vmm_serial_attach(vm, &cfg, NULL));
    vmm_vm_destroy(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_irq_line),
        cmocka_unit_test(test_irq_needs_irqchip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
