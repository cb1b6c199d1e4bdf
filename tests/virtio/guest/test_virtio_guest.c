/* The test guest (tests/virtio/driver: vdrv.elf, a PVH kernel) run inside
 * a real PC VM on KVM against the library's devices, over each transport,
 * with the fast paths (ioeventfd, irqfd, I/O thread) and in line: the guest
 * reports `VT <transport> <device> <check> ok|FAIL ...` lines on COM1 and
 * exits through the debug port; vt_stack_check() asserts every expected
 * line and then what the guest did from the host side (disk images,
 * console bytes, network frames, device state). The same kernel runs under
 * QEMU in virtio_qemu. Needs /dev/kvm: skips without it. */
#include "harness.h"
#include "vt_stack.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef VIRTIO_GUEST_ELF
#error "VIRTIO_GUEST_ELF must name the guest kernel"
#endif

#define RAM (64u << 20)

struct out_buf {
    char text[65536];
    size_t len;
};

static int serial_out(vmm_vcpu *vcpu, const uint8_t *data, size_t len, void *user)
{
    (void)vcpu;
    struct out_buf *o = user;
    size_t room = sizeof(o->text) - 1 - o->len;
    if (len > room)
        len = room;
    memcpy(o->text + o->len, data, len);
    o->len += len;
    o->text[o->len] = 0;
    return 0;
}


typedef void (*check_fn)(struct vt_stack *s, const char *tname, const char *log);

static void run_guest_checked(uint32_t transport, const char *tname, uint32_t flags,
                              const char *extra, check_fn check)
{
    h_require_kvm();
    struct vmm_vm_config cfg = VMM_VM_CONFIG_INIT;
    cfg.platform = VMM_PLATFORM_PC;
    cfg.flags = VMM_VM_F_OPEN_BUS;
    vmm_vm *vm;
    assert_int_equal(vmm_vm_create(&cfg, &vm), 0);
    assert_int_equal(vmm_pc_add_ram(vm, RAM), 0);
    static struct out_buf com1;
    memset(&com1, 0, sizeof(com1));
    struct vmm_serial_config sc = VMM_SERIAL_CONFIG_INIT;
    sc.out_fn = serial_out;
    sc.out_user = &com1;
    assert_int_equal(vmm_serial_attach(vm, &sc, NULL), 0);
    assert_int_equal(vmm_debug_exit_attach(vm, VMM_DEBUG_EXIT_PORT, NULL), 0);
    static struct vt_stack s;
    vt_stack_attach(vm, &s, transport, flags);
    char cmdline[1024];
    vt_stack_cmdline(vm, tname, extra, cmdline, sizeof(cmdline));
    assert_int_equal(vmm_boot_load_files(vm, VIRTIO_GUEST_ELF, NULL, cmdline, 0, NULL), 0);

    struct vmm_exit e;
    int r = vmm_vm_run(vm, &e);
    if (r < 0 || e.reason != VMM_EXIT_REQUEST)
        fail_msg("guest did not reach its debug exit (r=%d, %s, %s); output:\n%s", r,
                 vmm_last_error(), vmm_exit_reason_name(e.reason), com1.text);
    /* vkernel.c: 0x600d when every check passed. */
    if (e.request.value != 0x600d)
        fail_msg("guest exit value 0x%llx; output:\n%s", (unsigned long long)e.request.value,
                 com1.text);
    check(&s, tname, com1.text);
    /* vt.irr=1: the guest read its LAPIC's IRR after each device (IF=0, so
     * the MSI-X vector stays pending): the irqfd/MSI route reached the CPU. */
    if (strstr(extra, "vt.irr=1")) {
        static const char *const devs[] = { "blk", "rng", "console", "net" };
        char want[64];
        for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++) {
            snprintf(want, sizeof(want), "VT %s %s irr ok", tname, devs[i]);
            if (!strstr(com1.text, want))
                fail_msg("no \"%s\": the MSI-X vector did not reach the LAPIC:\n%s", want,
                         com1.text);
        }
    }
    vmm_vm_destroy(vm);
    vt_stack_close(&s);
}

static void run_guest(uint32_t transport, const char *tname, uint32_t flags, const char *extra)
{
    run_guest_checked(transport, tname, flags, extra, vt_stack_check);
}

static void test_pci(void **state)
{
    (void)state;
    /* vt.spins: a wait gives up after about 15 s of emulated CPL0 code, so
     * a failure prints the guest's report well inside the test's timeout. */
    run_guest(VMM_VIRTIO_TRANSPORT_PCI, "pci", 0,
              "vt.msix=1 vt.irr=1 vt.event_idx=1 vt.indirect=1 vt.spins=2000000");
}

static void test_mmio(void **state)
{
    (void)state;
    run_guest(VMM_VIRTIO_TRANSPORT_MMIO, "mmio", 0,
              "vt.event_idx=1 vt.indirect=1 vt.spins=2000000");
}

static void test_pci_inline(void **state)
{
    (void)state;
    run_guest(VMM_VIRTIO_TRANSPORT_PCI, "pci", VMM_VIRTIO_F_INLINE,
              "vt.msix=0 vt.spins=2000000");
}

static void test_mmio_inline(void **state)
{
    (void)state;
    run_guest(VMM_VIRTIO_TRANSPORT_MMIO, "mmio", VMM_VIRTIO_F_INLINE,
              "vt.event_idx=0 vt.spins=2000000");
}

/* The driver's attacks (vdrv_hostile.c) on KVM: ioeventfd notifications,
 * the I/O thread, MSI-X through irqfd; then in line, over virtio-mmio. */
static void test_pci_hostile(void **state)
{
    (void)state;
    run_guest_checked(VMM_VIRTIO_TRANSPORT_PCI, "pci", 0,
                      "vt.hostile=1 vt.msix=1 vt.spins=2000000", vt_stack_check_hostile);
}

static void test_mmio_hostile_inline(void **state)
{
    (void)state;
    run_guest_checked(VMM_VIRTIO_TRANSPORT_MMIO, "mmio", VMM_VIRTIO_F_INLINE,
                      "vt.hostile=1 vt.spins=2000000", vt_stack_check_hostile);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pci),
        cmocka_unit_test(test_mmio),
        cmocka_unit_test(test_pci_inline),
        cmocka_unit_test(test_mmio_inline),
        cmocka_unit_test(test_pci_hostile),
        cmocka_unit_test(test_mmio_hostile_inline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
