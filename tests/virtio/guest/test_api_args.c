/* The public virtio API refuses bad arguments with -EINVAL/-EBUSY/-ENOSPC
 * and a sentence naming the function and the field, and a refused attach
 * leaves nothing behind: no device, no interrupt line, no PCI slot, no
 * MMIO range (checked by attaching the same thing correctly afterwards).
 * On a fake VM (no KVM). */
#include "fake_vm.h"

#include "vm/vm.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RAM (4u << 20)

static vmm_vm *vm;

static unsigned device_count(void)
{
    unsigned n = 0;
    for (vmm_device *d = vm->devices_head; d; d = d->next)
        n++;
    return n;
}

/* @call must fail with @err, name @fn and contain @what, and change nothing. */
#define EXPECT_REFUSED(call, err, fn, what)                                               \
    do {                                                                                  \
        unsigned before = device_count();                                                 \
        uint32_t irqs = vm->virtio_irqs;                                                  \
        int r_ = (call);                                                                  \
        if (r_ != (err) || !strstr(vmm_last_error(), (fn)) || !strstr(vmm_last_error(), (what))) \
            fail_msg("%s: got %d \"%s\", expected %d naming %s and \"%s\"", #call, r_,    \
                     vmm_last_error(), (err), (fn), (what));                              \
        assert_int_equal(device_count(), before);                                         \
        assert_int_equal(vm->virtio_irqs, irqs);                                          \
    } while (0)

static int setup(void **state)
{
    (void)state;
    vm = fake_vm_new(RAM);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fake_vm_free(vm);
    return 0;
}

static void test_null_and_size(void **state)
{
    (void)state;
    struct vmm_virtio_rng_config rc = VMM_VIRTIO_RNG_CONFIG_INIT;
    EXPECT_REFUSED(vmm_virtio_rng_attach(NULL, &rc, NULL), -EINVAL, "vmm_virtio_rng_attach",
                   "NULL");
    EXPECT_REFUSED(vmm_virtio_rng_attach(vm, NULL, NULL), -EINVAL, "vmm_virtio_rng_attach",
                   "NULL");
    struct vmm_virtio_blk_config bc = VMM_VIRTIO_BLK_CONFIG_INIT;
    EXPECT_REFUSED(vmm_virtio_blk_attach(NULL, &bc, NULL), -EINVAL, "vmm_virtio_blk_attach", "");
    struct vmm_virtio_console_config cc = VMM_VIRTIO_CONSOLE_CONFIG_INIT;
    EXPECT_REFUSED(vmm_virtio_console_attach(vm, NULL, NULL), -EINVAL,
                   "vmm_virtio_console_attach", "");
    struct vmm_virtio_net_config nc = VMM_VIRTIO_NET_CONFIG_INIT;
    EXPECT_REFUSED(vmm_virtio_net_attach(NULL, &nc, NULL), -EINVAL, "vmm_virtio_net_attach", "");
    rc.struct_size = 8;
    EXPECT_REFUSED(vmm_virtio_rng_attach(vm, &rc, NULL), -EINVAL, "vmm_virtio_rng_attach",
                   "struct_size");
    cc.flags = 1;
    EXPECT_REFUSED(vmm_virtio_console_attach(vm, &cc, NULL), -EINVAL,
                   "vmm_virtio_console_attach", "flags");
}

static void test_transport_fields(void **state)
{
    (void)state;
    static const char fn[] = "vmm_virtio_rng_attach";
    struct vmm_virtio_rng_config rc = VMM_VIRTIO_RNG_CONFIG_INIT;
    rc.transport.transport = 7;
    EXPECT_REFUSED(vmm_virtio_rng_attach(vm, &rc, NULL), -EINVAL, fn, "transport 7");
    rc.transport.transport = VMM_VIRTIO_TRANSPORT_PCI;
    rc.transport.flags = 0x80;
    EXPECT_REFUSED(vmm_virtio_rng_attach(vm, &rc, NULL), -EINVAL, fn, "flags 0x80");
    rc.transport.flags = 0;
    rc.transport.reserved0 = 1;
    EXPECT_REFUSED(vmm_virtio_rng_attach(vm, &rc, NULL), -EINVAL, fn, "reserved0");
    rc.transport.reserved0 = 0;
    rc.transport.queue_size = 3;
    EXPECT_REFUSED(vmm_virtio_rng_attach(vm, &rc, NULL), -EINVAL, fn, "queue_size 3");
    rc.transport.queue_size = 65536;
    EXPECT_REFUSED(vmm_virtio_rng_attach(vm, &rc, NULL), -EINVAL, fn, "queue_size 65536");
    rc.transport.queue_size = 0;
    rc.transport.irq = 24;
    EXPECT_REFUSED(vmm_virtio_rng_attach(vm, &rc, NULL), -EINVAL, fn, "irq 24");
    rc.transport.irq = 0;

    /* PCI: no mmio_base, slots 1-31, one device per slot. */
    rc.transport.mmio_base = 0xd0000000;
    EXPECT_REFUSED(vmm_virtio_rng_attach(vm, &rc, NULL), -EINVAL, fn, "mmio_base");
    rc.transport.mmio_base = 0;
    rc.transport.pci_slot = 32;
    EXPECT_REFUSED(vmm_virtio_rng_attach(vm, &rc, NULL), -EINVAL, fn, "pci_slot 32");
    rc.transport.pci_slot = 4;
    vmm_device *first;
    assert_int_equal(vmm_virtio_rng_attach(vm, &rc, &first), 0);
    EXPECT_REFUSED(vmm_virtio_rng_attach(vm, &rc, NULL), -EBUSY, fn, "4");
    assert_int_equal(vmm_device_detach(first), 0);
    assert_int_equal(vmm_virtio_rng_attach(vm, &rc, &first), 0); /* the slot came back */

    /* MMIO: no pci_slot, a page-aligned base outside RAM, one device per page. */
    rc.transport = (struct vmm_virtio_transport_config)VMM_VIRTIO_TRANSPORT_INIT;
    rc.transport.transport = VMM_VIRTIO_TRANSPORT_MMIO;
    rc.transport.pci_slot = 2;
    EXPECT_REFUSED(vmm_virtio_rng_attach(vm, &rc, NULL), -EINVAL, fn, "pci_slot");
    rc.transport.pci_slot = 0;
    rc.transport.mmio_base = 0xd0000010;
    EXPECT_REFUSED(vmm_virtio_rng_attach(vm, &rc, NULL), -EINVAL, fn, "0xd0000010");
    rc.transport.mmio_base = 0x1000; /* guest RAM */
    EXPECT_REFUSED(vmm_virtio_rng_attach(vm, &rc, NULL), -EBUSY, fn, "RAM");
    rc.transport.mmio_base = 0xd0010000;
    rc.transport.irq = 9;
    assert_int_equal(vmm_virtio_rng_attach(vm, &rc, NULL), 0);
    rc.transport.irq = 10;
    EXPECT_REFUSED(vmm_virtio_rng_attach(vm, &rc, NULL), -EBUSY, fn, "overlap");
    rc.transport.mmio_base = 0xd0011000;
    rc.transport.irq = 9;
    EXPECT_REFUSED(vmm_virtio_rng_attach(vm, &rc, NULL), -EBUSY, fn, "irq 9");
}

static void test_backing(void **state)
{
    (void)state;
    struct vmm_virtio_blk_config bc = VMM_VIRTIO_BLK_CONFIG_INIT;
    EXPECT_REFUSED(vmm_virtio_blk_attach(vm, &bc, NULL), -EINVAL, "vmm_virtio_blk_attach", "");
    bc.path = "/nonexistent/disk.img";
    EXPECT_REFUSED(vmm_virtio_blk_attach(vm, &bc, NULL), -ENOENT, "vmm_virtio_blk_attach",
                   "/nonexistent/disk.img");
    bc.path = NULL;
    bc.fd = 1000; /* not open: a bad config, like every other field */
    EXPECT_REFUSED(vmm_virtio_blk_attach(vm, &bc, NULL), -EINVAL, "vmm_virtio_blk_attach",
                   "fd 1000");
    struct vmm_virtio_console_config cc = VMM_VIRTIO_CONSOLE_CONFIG_INIT;
    cc.in_fd = 1000;
    EXPECT_REFUSED(vmm_virtio_console_attach(vm, &cc, NULL), -EINVAL,
                   "vmm_virtio_console_attach", "in_fd");
    struct vmm_virtio_net_config nc = VMM_VIRTIO_NET_CONFIG_INIT;
    memcpy(nc.mac, "\x01\x00\x00\x00\x00\x01", 6); /* multicast */
    nc.tap_fd = 0;
    EXPECT_REFUSED(vmm_virtio_net_attach(vm, &nc, NULL), -EINVAL, "vmm_virtio_net_attach", "");
}

static void test_info_and_input(void **state)
{
    (void)state;
    struct vmm_virtio_info info = { .struct_size = sizeof(info) };
    assert_int_equal(vmm_virtio_get_info(NULL, &info), -EINVAL);
    struct vmm_device_ops ops = VMM_DEVICE_OPS_INIT;
    ops.name = "plain";
    vmm_device *plain;
    assert_int_equal(vmm_device_attach(vm, &ops, NULL, &plain), 0);
    assert_int_equal(vmm_virtio_get_info(plain, &info), -EINVAL);
    assert_non_null(strstr(vmm_last_error(), "not a virtio device"));
    struct vmm_virtio_rng_config rc = VMM_VIRTIO_RNG_CONFIG_INIT;
    vmm_device *rng;
    assert_int_equal(vmm_virtio_rng_attach(vm, &rc, &rng), 0);
    assert_int_equal(vmm_virtio_get_info(rng, NULL), -EINVAL);
    info.struct_size = 8;
    assert_int_equal(vmm_virtio_get_info(rng, &info), -EINVAL);
    assert_non_null(strstr(vmm_last_error(), "struct_size"));
    assert_int_equal(vmm_virtio_console_input(rng, "x", 1), -EINVAL);
    assert_non_null(strstr(vmm_last_error(), "vmm_virtio_console_input"));
    char buf[8];
    assert_int_equal(vmm_virtio_mmio_cmdline(vm, NULL, 8), -EINVAL);
    assert_int_equal(vmm_virtio_mmio_cmdline(vm, buf, sizeof(buf)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_null_and_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transport_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_info_and_input, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
