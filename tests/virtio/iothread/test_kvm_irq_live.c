/* lib/kvm/kvm_irq.c against real KVM: a platform-PC VM (in-kernel irqchip)
 * made through the public API, an MSI GSI routed and re-routed
 * (KVM_SET_GSI_ROUTING), irqfd and ioeventfd assigned and deassigned,
 * KVM_SIGNAL_MSI, and the I/O thread watching an ioeventfd's eventfd.
 * Skips (exit 77) without /dev/kvm. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <vmm/vmm.h>

#include "io/iothread.h"
#include "kvm/kvm_irq.h"
#include "vm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

static vmm_vm *pc_vm(void)
{
    struct vmm_vm_config cfg;
    vmm_vm_config_init(&cfg);
    cfg.platform = VMM_PLATFORM_PC;
    cfg.num_vcpus = 1;
    vmm_vm *vm = NULL;
    int r = vmm_vm_create(&cfg, &vm);
    if (r < 0)
        fail_msg("vmm_vm_create: %s", vmm_last_error());
    return vm;
}

static void test_capabilities(void **state)
{
    (void)state;
    vmm_vm *vm = pc_vm();
    assert_true(vmm_vm_has_irqfd(vm));
    assert_true(vmm_vm_has_ioeventfd(vm));
    assert_true(vmm_vm_has_msi(vm));
    vmm_vm_destroy(vm);
}

static void test_msi_routes_and_irqfd(void **state)
{
    (void)state;
    vmm_vm *vm = pc_vm();
    int gsi = vmm_irq_msi_alloc(vm, "test");
    if (gsi < 0)
        fail_msg("vmm_irq_msi_alloc: %s", vmm_last_error());
    assert_int_equal(gsi, 24);
    int gsi2 = vmm_irq_msi_alloc(vm, "test");
    assert_int_equal(gsi2, 25);
    if (vmm_irq_msi_set(vm, (uint32_t)gsi, 0xfee00000ull, 0x30, "test") < 0)
        fail_msg("vmm_irq_msi_set: %s", vmm_last_error());
    /* Re-pointing commits the whole table again. */
    assert_int_equal(vmm_irq_msi_set(vm, (uint32_t)gsi, 0xfee00000ull, 0x31, "test"), 0);
    assert_int_equal(vmm_irq_msi_set(vm, (uint32_t)gsi2, 0xfee00000ull, 0x32, "test"), 0);
    assert_int_equal(vmm_irq_msi_set(vm, 26, 0xfee00000ull, 0x33, "test"), -ENOENT);

    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    assert_true(efd >= 0);
    if (vmm_irqfd(vm, efd, (uint32_t)gsi, true, "test") < 0)
        fail_msg("vmm_irqfd assign: %s", vmm_last_error());
    /* A write injects the MSI (the guest is not running; KVM queues it). */
    uint64_t one = 1;
    assert_int_equal(write(efd, &one, sizeof(one)), sizeof(one));
    if (vmm_irqfd(vm, efd, (uint32_t)gsi, false, "test") < 0)
        fail_msg("vmm_irqfd deassign: %s", vmm_last_error());
    /* A legacy line works through irqfd as well (IOAPIC/PIC defaults). */
    assert_int_equal(vmm_irqfd(vm, efd, 5, true, "test"), 0);
    assert_int_equal(vmm_irqfd(vm, efd, 5, false, "test"), 0);

    vmm_irq_msi_free(vm, (uint32_t)gsi);
    assert_int_equal(vmm_irq_msi_alloc(vm, "test"), gsi); /* reused */
    vmm_irq_msi_free(vm, (uint32_t)gsi);
    vmm_irq_msi_free(vm, (uint32_t)gsi2);
    close(efd);
    vmm_vm_destroy(vm);
}

static void test_signal_msi(void **state)
{
    (void)state;
    vmm_vm *vm = pc_vm();
    /* Delivered (> 0) or blocked by the guest (0): both are success. */
    if (vmm_irq_signal_msi(vm, 0xfee00000ull, 0x40, "test") < 0)
        fail_msg("vmm_irq_signal_msi: %s", vmm_last_error());
    vmm_vm_destroy(vm);
}

struct hits {
    int calls;
};

static void drain(int fd, void *ctx)
{
    struct hits *h = ctx;
    uint64_t v;
    if (read(fd, &v, sizeof(v)) == sizeof(v))
        __atomic_add_fetch(&h->calls, 1, __ATOMIC_SEQ_CST);
}

static void test_ioeventfd(void **state)
{
    (void)state;
    vmm_vm *vm = pc_vm();
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (vmm_ioeventfd(vm, efd, 0xd0000000ull, 4, false, false, 0, true, "test") < 0)
        fail_msg("vmm_ioeventfd mmio assign: %s", vmm_last_error());
    /* The same registration twice: KVM says EEXIST. */
    assert_int_equal(vmm_ioeventfd(vm, efd, 0xd0000000ull, 4, false, false, 0, true, "test"),
                     -EEXIST);
    assert_int_equal(vmm_ioeventfd(vm, efd, 0xd0000000ull, 4, false, false, 0, false, "test"), 0);
    /* Deassigning what is not there: KVM says ENOENT. */
    assert_int_equal(vmm_ioeventfd(vm, efd, 0xd0000000ull, 4, false, false, 0, false, "test"),
                     -ENOENT);
    if (vmm_ioeventfd(vm, efd, 0x5000, 2, true, true, 0x1234, true, "test") < 0)
        fail_msg("vmm_ioeventfd pio assign: %s", vmm_last_error());

    /* The I/O thread watches the eventfd; a host-side write stands in for
     * the guest's notify. The VM is destroyed with the watch in place. */
    struct hits h = { 0 };
    assert_int_equal(vmm_iothread_add(vm, efd, EPOLLIN, drain, &h, "test"), 0);
    uint64_t one = 1;
    assert_int_equal(write(efd, &one, sizeof(one)), sizeof(one));
    for (int i = 0; i < 2000 && !__atomic_load_n(&h.calls, __ATOMIC_SEQ_CST); i++) {
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    assert_int_equal(__atomic_load_n(&h.calls, __ATOMIC_SEQ_CST), 1);
    assert_int_equal(vmm_ioeventfd(vm, efd, 0x5000, 2, true, true, 0x1234, false, "test"), 0);
    vmm_vm_destroy(vm);
    close(efd);
}

int main(void)
{
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        printf("SKIP: /dev/kvm is not available (%s); the KVM irq/ioeventfd tests need it\n",
               strerror(errno));
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capabilities),
        cmocka_unit_test(test_msi_routes_and_irqfd),
        cmocka_unit_test(test_signal_msi),
        cmocka_unit_test(test_ioeventfd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
