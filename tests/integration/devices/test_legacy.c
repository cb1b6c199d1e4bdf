/* i8042, CMOS RTC and debug-exit driven by real guests. */
#include "dev_util.h"

#include <errno.h>
#include <string.h>
#include <time.h>

/* ---- i8042 ------------------------------------------------------------ */

static void run_i8042(uint64_t mode)
{
    vmm_vm *vm = dev_vm_new(VMM_PLATFORM_NONE, H_RAM_SIZE, "i8042", mode);
    struct h_dev *rep = dev_report_dev(vm, NULL, NULL);
    H_OK(vmm_i8042_attach(vm, NULL));

    struct vmm_exit e;
    dev_run_to_request(h_vcpu(vm, 0), &e);
    if (e.request.kind != VMM_REQUEST_RESET)
        fail_msg("mode %llu: request kind %u value %#llx, expected a reset",
                 (unsigned long long)mode, e.request.kind,
                 (unsigned long long)e.request.value);

    struct dev_reports r;
    dev_reports_get(rep, &r);
    DEV_EXPECT(&r, 0x01, 0x14); /* SYS | UNLOCKED, buffers empty */
    DEV_EXPECT(&r, 0x02, 0x1d); /* + OBF, last write a command */
    DEV_EXPECT(&r, 0x03, 0x55); /* self-test passed */
    DEV_EXPECT(&r, 0x04, 0x1c); /* OBF cleared by the read */
    DEV_EXPECT(&r, 0x05, 0x00); /* interface test passed */
    DEV_EXPECT(&r, 0x06, 0x45); /* command byte: KBDINT | SYS | XLATE */
    DEV_EXPECT(&r, 0x07, 0x14); /* last write was data */
    DEV_EXPECT(&r, 0x08, 0x74);
    DEV_EXPECT(&r, 0x09, 0x64); /* 0xae: keyboard enabled */
    DEV_EXPECT(&r, 0x0a, 0x74); /* 0xad: disabled */
    DEV_EXPECT(&r, 0x0b, 0x54); /* 0xa8: aux enabled */
    DEV_EXPECT(&r, 0x0c, 0x74); /* 0xa7: disabled */
    DEV_EXPECT(&r, 0x0d, 0x03); /* output port: reset line high, A20 */
    DEV_EXPECT(&r, 0x0e, 0x01);
    DEV_EXPECT(&r, 0x0f, 0x15);
    DEV_EXPECT(&r, 0x10, 0xab);
    DEV_EXPECT(&r, 0x11, 0x35); /* aux data */
    DEV_EXPECT(&r, 0x12, 0xcd);
    DEV_EXPECT(&r, 0x13, 0xcd); /* empty buffer: last byte again */
    DEV_EXPECT(&r, 0x14, 0x14);
    vmm_vm_destroy(vm);
    h_dev_free(rep);
}

static void test_i8042_pulse_reset(void **state)
{
    (void)state;
    h_require_kvm();
    run_i8042(0);
}

static void test_i8042_output_port_reset(void **state)
{
    (void)state;
    h_require_kvm();
    run_i8042(1);
}

/* On platform PC the output buffer drives IRQ 12 (AUX data) or IRQ 1
 * (keyboard data) while full and enabled in the command byte. */
static void test_i8042_irqs(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = dev_vm_new(VMM_PLATFORM_PC, 4u << 20, "i8042_irq", 0);
    struct h_dev *rep = dev_report_dev(vm, NULL, NULL);
    H_OK(vmm_i8042_attach(vm, NULL));
    assert_int_equal(dev_run_to_exit(h_vcpu(vm, 0)), DEV_EXIT_OK);
    struct dev_reports r;
    dev_reports_get(rep, &r);
    const uint8_t irq1 = 1u << 1, irq12 = 1u << (12 - 8);
    assert_int_equal(r.value[0x01] & irq1, 0);
    assert_int_equal(r.value[0x02] & irq12, 0);
    assert_int_equal(r.value[0x03] & irq12, irq12); /* AUX byte waiting */
    DEV_EXPECT(&r, 0x04, 0xa5);
    assert_int_equal(r.value[0x05] & irq12, 0);     /* read: line low */
    assert_int_equal(r.value[0x06] & irq1, irq1);   /* self-test reply: IRQ 1's edge */
    DEV_EXPECT(&r, 0x07, 0x55);
    assert_int_equal(r.value[0x09] & irq12, 0);     /* AUXINT off */
    DEV_EXPECT(&r, 0x0a, 0x5a);
    vmm_vm_destroy(vm);
    h_dev_free(rep);
}

/* ---- RTC -------------------------------------------------------------- */

static int bcd(uint8_t v)
{
    assert_true((v & 0x0f) <= 9 && (v >> 4) <= 9);
    return (v >> 4) * 10 + (v & 0x0f);
}

/* The clock reported from @tag (see CLOCK in rtc.S), as a time_t. */
static time_t reported_time(const struct dev_reports *r, int tag, int is_bcd, int *wday)
{
    int v[8];
    for (int i = 0; i < 8; i++) {
        assert_true(r->seen[tag + i]);
        v[i] = is_bcd ? bcd(r->value[tag + i]) : r->value[tag + i];
    }
    struct tm tm = {
        .tm_sec = v[0], .tm_min = v[1], .tm_hour = v[2], .tm_mday = v[3],
        .tm_mon = v[4] - 1, .tm_year = v[6] * 100 + v[5] - 1900,
    };
    *wday = v[7];
    return timegm(&tm);
}

static void expect_near(time_t t, time_t lo, time_t hi, const char *what)
{
    if (t < lo - 2 || t > hi + 2)
        fail_msg("%s: guest time %lld is not within [%lld, %lld] (+-2 s)", what,
                 (long long)t, (long long)lo, (long long)hi);
}

/* DEV_REQ_INPUT from rtc.S: wait long enough for a running clock to tick. */
static int sleep_hook(struct h_dev *d, vmm_vcpu *vcpu, const struct vmm_io *io)
{
    (void)d, (void)vcpu;
    if (io->is_write && io->addr == DEV_REQ_PORT && h_le(io->data, io->len) == DEV_REQ_INPUT) {
        struct timespec ts = { 1, 200 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    return 0;
}

static void test_rtc(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = dev_vm_new(VMM_PLATFORM_NONE, 32u << 20, "rtc", 0);
    /* RAM above 4 GiB too, for the memory-size bytes. */
    H_OK(vmm_memory_add_ram(vm, 1ull << 32, 64u << 20, 0, NULL));
    struct h_dev *rep = dev_report_dev(vm, sleep_hook, NULL);
    vmm_device *dev = NULL;
    H_OK(vmm_rtc_attach(vm, &dev));
    assert_non_null(dev);

    time_t before = time(NULL);
    assert_int_equal(dev_run_to_exit(h_vcpu(vm, 0)), DEV_EXIT_OK);
    time_t after = time(NULL);
    struct dev_reports r;
    dev_reports_get(rep, &r);

    DEV_EXPECT(&r, 0x01, 0x26); /* A: divider, no UIP */
    DEV_EXPECT(&r, 0x02, 0x02); /* B: 24-hour BCD */
    DEV_EXPECT(&r, 0x03, 0x00);
    DEV_EXPECT(&r, 0x04, 0x80); /* D: valid */

    int wday_bcd, wday_bin;
    time_t t_bcd = reported_time(&r, 0x10, 1, &wday_bcd);
    time_t t_bin = reported_time(&r, 0x20, 0, &wday_bin);
    expect_near(t_bcd, before, after, "BCD clock");
    expect_near(t_bin, before, after, "binary clock");
    struct tm tm;
    gmtime_r(&t_bin, &tm);
    assert_int_equal(wday_bin, tm.tm_wday + 1);
    assert_int_equal(wday_bcd, wday_bin);

    /* 12-hour mode: 12, 1..11 with bit 7 for PM; same hour as the binary
     * read (or the next, if the hour turned in between). */
    int h24 = r.value[0x22];
    for (int k = 0; k < 2; k++) {
        uint8_t raw = r.value[0x30 + k];
        int h12 = k == 0 ? (raw & 0x7f) : bcd(raw & 0x7f);
        assert_true(h12 >= 1 && h12 <= 12);
        int h = h12 % 12 + ((raw & 0x80) ? 12 : 0);
        if (h != h24 && h != (h24 + 1) % 24)
            fail_msg("12-hour %s read 0x%02x (hour %d), 24-hour read %d",
                     k == 0 ? "binary" : "BCD", raw, h, h24);
    }
    DEV_EXPECT(&r, 0x05, 0x02);
    DEV_EXPECT(&r, 0x06, 0x26); /* UIP not writable */
    /* CMOS memory */
    DEV_EXPECT(&r, 0x40, 0x5a);
    DEV_EXPECT(&r, 0x41, 0xa5);
    DEV_EXPECT(&r, 0x42, 0x11);
    DEV_EXPECT(&r, 0x43, 0x5a);
    DEV_EXPECT(&r, 0x44, 0xff);
    DEV_EXPECT(&r, 0x45, 0x80);
    DEV_EXPECT(&r, 0x46, 0x00); /* 31 MiB = 0x7c00 KiB: low byte 0 */
    /* memory size: 639 KiB base, 31 MiB above 1 MiB, 16 MiB above 16 MiB
     * (256 blocks of 64 KiB), 64 MiB above 4 GiB (1024 blocks) */
    DEV_EXPECT(&r, 0x50, 0x7f);
    DEV_EXPECT(&r, 0x51, 0x02);
    DEV_EXPECT(&r, 0x52, 0x00);
    DEV_EXPECT(&r, 0x53, 0x7c);
    DEV_EXPECT(&r, 0x54, 0x00);
    DEV_EXPECT(&r, 0x55, 0x7c);
    DEV_EXPECT(&r, 0x56, 0x00);
    DEV_EXPECT(&r, 0x57, 0x01);
    DEV_EXPECT(&r, 0x58, 0x00);
    DEV_EXPECT(&r, 0x59, 0x04);
    DEV_EXPECT(&r, 0x5a, 0x00);
    /* setting the clock */
    gmtime_r(&after, &tm);
    DEV_EXPECT(&r, 0x60, 0x42);
    DEV_EXPECT(&r, 0x61, ((tm.tm_year + 1900) / 1000) << 4 | ((tm.tm_year + 1900) / 100 % 10));
    DEV_EXPECT(&r, 0x62, 0x42);
    DEV_EXPECT(&r, 0x63, 0x21);
    DEV_EXPECT(&r, 0x64, 0x42); /* invalid BCD ignored */
    /* SET held the clock through the 1.2 s sleep, and nothing was
     * normalised between the field writes. */
    DEV_EXPECT(&r, 0x70, 0x56);
    DEV_EXPECT(&r, 0x71, 0x02);
    DEV_EXPECT(&r, 0x72, 0x10);
    struct tm set_tm = { .tm_sec = 56, .tm_min = 34, .tm_hour = 12, .tm_mday = 10, .tm_mon = 1,
                         .tm_year = 2131 - 1900 };
    time_t want = timegm(&set_tm);
    int wday_set;
    time_t got = reported_time(&r, 0x78, 1, &wday_set);
    if (got < want || got > want + 3)
        fail_msg("after setting the clock it reads %lld, expected %lld (+3 s)", (long long)got,
                 (long long)want);

    vmm_vm_destroy(vm);
    h_dev_free(rep);
}

/* ---- debug-exit --------------------------------------------------------- */

static void test_debug_exit(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = dev_vm_new(VMM_PLATFORM_NONE, H_RAM_SIZE, "dbgexit", 0);
    vmm_vcpu *vcpu = h_vcpu(vm, 0);
    static const uint64_t want[] = { 0x2a, 0x1234, 0xdeadbeef, 0xffffffff, 7 };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_int_equal(dev_run_to_exit(vcpu), want[i]);
    h_run_to_hlt(vcpu);
    vmm_vm_destroy(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_i8042_pulse_reset),
        cmocka_unit_test(test_i8042_irqs),
        cmocka_unit_test(test_i8042_output_port_reset),
        cmocka_unit_test(test_rtc),
        cmocka_unit_test(test_debug_exit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
