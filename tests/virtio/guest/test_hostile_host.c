/* A hostile driver against the library's virtio devices on a fake VM:
 * descriptor loops, buffers outside RAM, lengths near 2^32, bad indices,
 * nested indirect tables, a used ring over the descriptor table, queue
 * sizes of 0 and 65535, a runaway avail index. For each: the device under
 * attack marks itself DEVICE_NEEDS_RESET (virtio 1.2, 2.1.2) without
 * touching memory outside guest RAM (ASan watches), another device on the
 * same VM keeps working, and the broken one works again after a reset.
 * Driven over virtio-mmio registers (the simplest transport to program by
 * hand); the PCI transport shares the core that does the checking, and its
 * register handlers are fuzzed (tests/fuzz). Needs no KVM. */
#include "fake_vm.h"
#include "mini_mmio.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RAM (4u << 20)
#define QSIZE 8

/* Rings and buffers of each device (GPAs). */
#define BLK_DESC 0x10000
#define BLK_AVAIL 0x11000
#define BLK_USED 0x12000
#define BLK_IND 0x13000
#define BLK_BUF 0x20000
#define RNG_BUF 0x40000

static vmm_vm *vm;
static vmm_device *blk, *rng;

/* The last "needs reset" sentence the log callback got (VMM_LOG_WARN). */
static char last_warn[512];
static unsigned warns;

static void on_log(int level, const char *msg, void *user)
{
    (void)user;
    if (level == VMM_LOG_WARN && strstr(msg, "device needs reset")) {
        snprintf(last_warn, sizeof(last_warn), "%s", msg);
        warns++;
        if (getenv("VT_SHOW_LOG")) /* what an application's log would show */
            fprintf(stderr, "log: %s\n", msg);
    }
}
static struct mini_q qb, qr;

static uint8_t *ram(uint64_t gpa)
{
    return fake_vm_ram(vm) + gpa;
}

/* Brings blk up with its used ring at @used (normally BLK_USED). */
static uint32_t blk_init(uint16_t size, uint32_t features_lo, uint64_t used)
{
    qb.used = used;
    return mini_mmio_init(&qb, size, features_lo);
}

static void put_desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    mini_put_desc(&qb, i, addr, len, flags, next);
}

static void expect_broken(vmm_device *dev, const struct mini_q *q, const char *what,
                          unsigned warns_before)
{
    struct vmm_virtio_info info = { .struct_size = sizeof(info) };
    assert_int_equal(vmm_virtio_get_info(dev, &info), 0);
    if (!info.needs_reset)
        fail_msg("%s: the device did not mark itself broken (status 0x%02x)", what, info.status);
    if (!(mini_reg(q, 0x70) & 0x40))
        fail_msg("%s: Status does not show DEVICE_NEEDS_RESET", what);
    /* Reported once through the log callback, naming the device and queue
     * (or the register) that was wrong. */
    if (warns != warns_before + 1 || !strstr(last_warn, "virtio-blk"))
        fail_msg("%s: %u log messages, last \"%s\"", what, warns - warns_before, last_warn);
    assert_int_equal(info.violations >= 1, 1);
}

static void expect_healthy(vmm_device *dev, const char *what)
{
    struct vmm_virtio_info info = { .struct_size = sizeof(info) };
    assert_int_equal(vmm_virtio_get_info(dev, &info), 0);
    if (info.needs_reset)
        fail_msg("%s: %s is broken: %s", what, vmm_device_name(dev), vmm_last_error());
}

/* A GET_ID request on blk: answers the 20-byte serial and status OK. */
static void blk_works(const char *what)
{
    assert_int_equal(blk_init(QSIZE, 0, BLK_USED), 0xf);
    uint8_t hdr[16] = { 8 }; /* VIRTIO_BLK_T_GET_ID */
    memcpy(ram(BLK_BUF), hdr, 16);
    memset(ram(BLK_BUF + 0x100), 0xee, 0x20);
    put_desc(0, BLK_BUF, 16, 1, 1);
    put_desc(1, BLK_BUF + 0x100, 20, 3, 2);
    put_desc(2, BLK_BUF + 0x200, 1, 2, 0);
    ram(BLK_BUF + 0x200)[0] = 0xff;
    assert_int_equal(mini_post(&qb, 0), 1);
    if (ram(BLK_BUF + 0x200)[0] != 0 || memcmp(ram(BLK_BUF + 0x100), "hostile", 7))
        fail_msg("%s: blk GET_ID after reset: status %u", what, ram(BLK_BUF + 0x200)[0]);
    expect_healthy(blk, what);
}

/* 16 random bytes from rng. */
static void rng_works(const char *what)
{
    assert_int_equal(mini_mmio_init(&qr, QSIZE, 0), 0xf);
    memset(ram(RNG_BUF), 0, 16);
    mini_put_desc(&qr, 0, RNG_BUF, 16, 2, 0);
    assert_int_equal(mini_post(&qr, 0), 1);
    if (mini_used_len(&qr, 0) != 16)
        fail_msg("%s: rng wrote %u bytes, not 16", what, mini_used_len(&qr, 0));
    expect_healthy(rng, what);
}

static int setup(void **state)
{
    (void)state;
    assert_int_equal(vmm_set_log_callback(on_log, NULL, VMM_LOG_WARN), 0);
    vm = fake_vm_new(RAM);
    struct vmm_virtio_blk_config bc = VMM_VIRTIO_BLK_CONFIG_INIT;
    bc.transport.transport = VMM_VIRTIO_TRANSPORT_MMIO;
    bc.transport.flags = VMM_VIRTIO_F_INLINE;
    bc.transport.queue_size = QSIZE;
    char path[] = "/tmp/vmm-hostile-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(ftruncate(fd, 1 << 20), 0);
    bc.fd = fd;
    bc.serial = "hostile";
    assert_int_equal(vmm_virtio_blk_attach(vm, &bc, &blk), 0);
    close(fd);
    struct vmm_virtio_rng_config rc = VMM_VIRTIO_RNG_CONFIG_INIT;
    rc.transport = bc.transport;
    assert_int_equal(vmm_virtio_rng_attach(vm, &rc, &rng), 0);
    struct vmm_virtio_info info = { .struct_size = sizeof(info) };
    assert_int_equal(vmm_virtio_get_info(blk, &info), 0);
    qb = (struct mini_q){ .vm = vm, .base = info.mmio_base, .desc = BLK_DESC,
                          .avail = BLK_AVAIL, .used = BLK_USED };
    assert_int_equal(vmm_virtio_get_info(rng, &info), 0);
    qr = (struct mini_q){ .vm = vm, .base = info.mmio_base, .desc = 0x30000, .avail = 0x31000,
                          .used = 0x32000 };
    assert_int_equal(mini_reg(&qb, 0), 0x74726976);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fake_vm_free(vm);
    vmm_set_log_callback(NULL, NULL, VMM_LOG_WARN);
    return 0;
}

/* Every attack: bring blk up, run @attack, expect it broken, then check
 * rng and a reset blk. */
static void attack(void (*fn)(void), const char *what)
{
    unsigned before = warns;
    fn();
    expect_broken(blk, &qb, what, before);
    rng_works(what);
    blk_works(what);
}

static void a_loop(void)
{
    blk_init(QSIZE, 0, BLK_USED);
    put_desc(0, BLK_BUF, 16, 1, 1);
    put_desc(1, BLK_BUF, 16, 1, 0);
    mini_post(&qb, 0);
}

static void a_outside_ram(void)
{
    blk_init(QSIZE, 0, BLK_USED);
    put_desc(0, RAM + 0x1000, 16, 1, 1);
    put_desc(1, BLK_BUF + 0x200, 1, 2, 0);
    mini_post(&qb, 0);
}

static void a_straddles_ram_end(void)
{
    blk_init(QSIZE, 0, BLK_USED);
    put_desc(0, RAM - 8, 16, 1, 1);
    put_desc(1, BLK_BUF + 0x200, 1, 2, 0);
    mini_post(&qb, 0);
}

static void a_len_near_4g(void)
{
    blk_init(QSIZE, 0, BLK_USED);
    put_desc(0, BLK_BUF, 16, 1, 1);
    put_desc(1, BLK_BUF + 0x100, 0xfffffff0u, 3, 2);
    put_desc(2, BLK_BUF + 0x200, 1, 2, 0);
    mini_post(&qb, 0);
}

static void a_addr_wraps(void)
{
    blk_init(QSIZE, 0, BLK_USED);
    put_desc(0, ~0ull - 4, 16, 1, 0);
    mini_post(&qb, 0);
}

static void a_bad_head(void)
{
    blk_init(QSIZE, 0, BLK_USED);
    mini_post(&qb, 200);
}

static void a_bad_next(void)
{
    blk_init(QSIZE, 0, BLK_USED);
    put_desc(0, BLK_BUF, 16, 1, 100);
    mini_post(&qb, 0);
}

static void a_nested_indirect(void)
{
    blk_init(QSIZE, 1u << 28, BLK_USED);
    put_desc(0, BLK_IND, 32, 4, 0);
    /* The table's first entry is itself INDIRECT (2.7.5.3.1: MUST NOT). */
    struct mini_q table = qb;
    table.desc = BLK_IND;
    mini_put_desc(&table, 0, BLK_IND + 64, 32, 4, 0);
    mini_put_desc(&table, 1, BLK_BUF, 16, 0, 0);
    mini_post(&qb, 0);
}

static void a_indirect_not_negotiated(void)
{
    blk_init(QSIZE, 0, BLK_USED);
    put_desc(0, BLK_IND, 32, 4, 0);
    mini_post(&qb, 0);
}

static void a_readable_after_writable(void)
{
    blk_init(QSIZE, 0, BLK_USED);
    put_desc(0, BLK_BUF + 0x200, 1, 3, 1);
    put_desc(1, BLK_BUF, 16, 0, 0);
    mini_post(&qb, 0);
}

static void a_used_over_desc(void)
{
    blk_init(QSIZE, 0, BLK_DESC + 16);
}

static void a_queue_size_0(void)
{
    blk_init(0, 0, BLK_USED);
}

static void a_queue_size_65535(void)
{
    blk_init(65535, 0, BLK_USED);
}

static void a_avail_runaway(void)
{
    blk_init(QSIZE, 0, BLK_USED);
    uint16_t idx = 100;
    memcpy(ram(BLK_AVAIL + 2), &idx, 2);
    mini_set_reg(&qb, 0x50, 0);
}

static void a_ring_outside_ram(void)
{
    blk_init(QSIZE, 0, RAM - 8);
}

#define ATTACK(name)                  \
    static void test_##name(void **s) \
    {                                 \
        (void)s;                      \
        attack(a_##name, #name);      \
    }
ATTACK(loop)
ATTACK(outside_ram)
ATTACK(straddles_ram_end)
ATTACK(len_near_4g)
ATTACK(addr_wraps)
ATTACK(bad_head)
ATTACK(bad_next)
ATTACK(nested_indirect)
ATTACK(indirect_not_negotiated)
ATTACK(readable_after_writable)
ATTACK(used_over_desc)
ATTACK(queue_size_0)
ATTACK(queue_size_65535)
ATTACK(avail_runaway)
ATTACK(ring_outside_ram)

/* A request the device can answer is failed, not fatal: a read past the
 * end of the disk gets VIRTIO_BLK_S_IOERR and the device stays healthy. */
static void test_bad_sector_is_ioerr(void **s)
{
    (void)s;
    blk_init(QSIZE, 0, BLK_USED);
    uint8_t hdr[16] = { 0 };
    uint64_t sector = (1u << 20) / 512; /* one past the end */
    memcpy(hdr + 8, &sector, 8);
    memcpy(ram(BLK_BUF), hdr, 16);
    put_desc(0, BLK_BUF, 16, 1, 1);
    put_desc(1, BLK_BUF + 0x1000, 512, 3, 2);
    put_desc(2, BLK_BUF + 0x200, 1, 2, 0);
    ram(BLK_BUF + 0x200)[0] = 0xff;
    assert_int_equal(mini_post(&qb, 0), 1);
    assert_int_equal(ram(BLK_BUF + 0x200)[0], 1); /* VIRTIO_BLK_S_IOERR */
    expect_healthy(blk, "bad sector");
}

/* Registers poked at random widths and offsets never bring the host down. */
static void test_register_garbage(void **s)
{
    (void)s;
    uint32_t seed = 12345;
    for (int i = 0; i < 20000; i++) {
        seed = seed * 1103515245u + 12345u;
        uint32_t off = (seed >> 8) % 0x1000;
        static const uint32_t widths[] = { 1, 2, 4, 8 };
        uint32_t len = widths[(seed >> 4) & 3];
        uint64_t v = ((uint64_t)seed << 32) | (seed * 7u);
        if (off + len > 0x1000)
            continue;
        fake_vm_mmio(vm, qb.base + off, &v, len, (seed & 1) != 0);
    }
    blk_works("after register garbage");
    rng_works("after register garbage");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loop),
        cmocka_unit_test(test_outside_ram),
        cmocka_unit_test(test_straddles_ram_end),
        cmocka_unit_test(test_len_near_4g),
        cmocka_unit_test(test_addr_wraps),
        cmocka_unit_test(test_bad_head),
        cmocka_unit_test(test_bad_next),
        cmocka_unit_test(test_nested_indirect),
        cmocka_unit_test(test_indirect_not_negotiated),
        cmocka_unit_test(test_readable_after_writable),
        cmocka_unit_test(test_used_over_desc),
        cmocka_unit_test(test_queue_size_0),
        cmocka_unit_test(test_queue_size_65535),
        cmocka_unit_test(test_avail_runaway),
        cmocka_unit_test(test_ring_outside_ram),
        cmocka_unit_test(test_bad_sector_is_ioerr),
        cmocka_unit_test(test_register_garbage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
