/* Host unit test of vdrv's command-line parsing (vdrv_opts_parse), the
 * contract between qemu-crosscheck.sh / the VMM tests and the guest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "vdrv.h"

static void quiet_log(void *ctx, const char *s)
{
    (void)ctx;
    (void)s;
}

static const struct vdrv_bus bus = { .log = quiet_log };

static void test_defaults_and_words(void **state)
{
    (void)state;
    struct vdrv_opts o;
    vdrv_opts_default(&o);
    assert_int_equal(o.transports, VDRV_T_PCI | VDRV_T_MMIO);
    assert_int_equal(o.devs, VDRV_DEV_ALL);
    assert_int_equal(vdrv_opts_parse(&o,
        "console=ttyS0 vt.transport=mmio vt.dev=blk,rng vt.indirect=0 vt.event_idx=0 "
        "vt.msix=0 vt.console_rx=1 vt.net_rx=1 vt.spins=1000 vt.expect=3 "
        "virtio_mmio.device=512@0xfeb00000:12 virtio_mmio.device=4K@0xd0000000:5:3", &bus), 0);
    assert_int_equal(o.transports, VDRV_T_MMIO);
    assert_int_equal(o.devs, VDRV_DEV_BLK | VDRV_DEV_RNG);
    assert_int_equal(o.indirect, 0);
    assert_int_equal(o.event_idx, 0);
    assert_int_equal(o.msix, 0);
    assert_int_equal(o.console_rx, 1);
    assert_int_equal(o.expect_net_rx, 1);
    assert_int_equal(o.poll_spins, 1000);
    assert_int_equal(o.expect, 3);
    assert_int_equal(o.nmmio, 2);
    assert_int_equal(o.mmio[0].size, 512);
    assert_int_equal(o.mmio[0].base, 0xfeb00000u);
    assert_int_equal(o.mmio[0].irq, 12);
    assert_int_equal(o.mmio[1].size, 4096);
    assert_int_equal(o.mmio[1].base, 0xd0000000u);
    assert_int_equal(o.mmio[1].irq, 5);
}

/* The modes the benchmark, the IRR check and the attacks use. */
static void test_mode_words(void **state)
{
    (void)state;
    struct vdrv_opts o;
    vdrv_opts_default(&o);
    assert_int_equal(o.bench, 0);
    assert_int_equal(o.check_irr, 0);
    assert_int_equal(o.hostile, 0);
    assert_int_equal(vdrv_opts_parse(&o, "vt.bench=20000 vt.irr=1 vt.hostile=2", &bus), 0);
    assert_int_equal(o.bench, 20000);
    assert_int_equal(o.check_irr, 1);
    assert_int_equal(o.hostile, 2);
    assert_int_equal(vdrv_opts_parse(&o, "vt.hostile=1 vt.hostile_expect=qemu", &bus), 0);
    assert_int_equal(o.hostile, 1);
    assert_int_equal(o.hostile_expect, VDRV_EXPECT_QEMU);
}

static void test_bad_words(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "vt.transport=usb", "vt.dev=floppy", "vt.indirect=2", "vt.spins=x",
        "virtio_mmio.device=512", "virtio_mmio.device=512@0xfeb00000",
        "virtio_mmio.device=@0x1000:5", "vt.spins=99999999999999999999999",
        "vt.irr=2", "vt.hostile=3", "vt.hostile_expect=xen", "vt.bench=-1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct vdrv_opts o;
        vdrv_opts_default(&o);
        assert_int_equal(vdrv_opts_parse(&o, bad[i], &bus), -1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_words),
        cmocka_unit_test(test_mode_words),
        cmocka_unit_test(test_bad_words),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
