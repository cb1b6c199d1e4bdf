/* virtio-mmio transport (lib/devices/virtio/virtio_mmio.c) and the
 * virtio-rng and virtio-console backends, driven at register level over
 * the fake VM the way Linux's drivers/virtio/virtio_mmio.c does: probe,
 * feature negotiation, queue set-up through QueueSel/QueueNum/Queue*Low/
 * High/QueueReady, requests, interrupts, and the guest's mistakes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <vmm/vmm.h>
#include <vmm/devices/virtio.h>

#include "devices/virtio/virtio_dev.h"
#include "devices/virtio/virtio_spec.h"
#include "fake_vm.h"
#include "vm/vm.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RAM_SIZE (1u << 20)
#define BASE0 VMM_VIRTIO_MMIO_BASE
#define QSIZE 8u
/* Per queue q: descriptors, avail ring, used ring, then data buffers. */
#define Q_DESC(q) (0x10000u + (q) * 0x4000u)
#define Q_AVAIL(q) (Q_DESC(q) + 0x1000u)
#define Q_USED(q) (Q_DESC(q) + 0x2000u)
#define BUF(n) (0x40000u + (n) * 0x1000u)

static vmm_vm *new_vm(void)
{
    return fake_vm_new(RAM_SIZE);
}

static uint32_t rd(vmm_vm *vm, uint64_t base, uint32_t off)
{
    return fake_vm_mmio_read32(vm, base + off);
}

static void wr(vmm_vm *vm, uint64_t base, uint32_t off, uint32_t v)
{
    fake_vm_mmio_write32(vm, base + off, v);
}

static unsigned device_count(vmm_vm *vm)
{
    unsigned n = 0;
    for (vmm_device *d = vm->devices_head; d; d = d->next)
        n++;
    return n;
}

static struct vmm_virtio_transport_config mmio_transport(uint64_t base, uint32_t irq)
{
    struct vmm_virtio_transport_config t = VMM_VIRTIO_TRANSPORT_INIT;
    t.transport = VMM_VIRTIO_TRANSPORT_MMIO;
    t.flags = VMM_VIRTIO_F_INLINE; /* queue work on this thread: deterministic */
    t.mmio_base = base;
    t.irq = irq;
    t.queue_size = QSIZE;
    return t;
}

static vmm_device *attach_rng(vmm_vm *vm, uint64_t base, uint32_t irq, int *err)
{
    struct vmm_virtio_rng_config c = VMM_VIRTIO_RNG_CONFIG_INIT;
    c.transport = mmio_transport(base, irq);
    vmm_device *dev = NULL;
    int r = vmm_virtio_rng_attach(vm, &c, &dev);
    if (err)
        *err = r;
    return r == 0 ? dev : NULL;
}

/* 3.1.1 steps 1-6 as Linux does them; returns the final status. */
static uint32_t negotiate(vmm_vm *vm, uint64_t base, uint64_t accept)
{
    wr(vm, base, VIRTIO_MMIO_STATUS, 0);
    wr(vm, base, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    wr(vm, base, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    wr(vm, base, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    uint64_t offered = (uint64_t)rd(vm, base, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
    wr(vm, base, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    offered |= rd(vm, base, VIRTIO_MMIO_DEVICE_FEATURES);
    accept &= offered;
    wr(vm, base, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    wr(vm, base, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(accept >> 32));
    wr(vm, base, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    wr(vm, base, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)accept);
    wr(vm, base, VIRTIO_MMIO_STATUS,
       VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    return rd(vm, base, VIRTIO_MMIO_STATUS);
}

static void setup_queue(vmm_vm *vm, uint64_t base, uint32_t q)
{
    wr(vm, base, VIRTIO_MMIO_QUEUE_SEL, q);
    assert_int_equal(rd(vm, base, VIRTIO_MMIO_QUEUE_READY), 0);
    assert_int_equal(rd(vm, base, VIRTIO_MMIO_QUEUE_NUM_MAX), QSIZE);
    wr(vm, base, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
    wr(vm, base, VIRTIO_MMIO_QUEUE_DESC_LOW, Q_DESC(q));
    wr(vm, base, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
    wr(vm, base, VIRTIO_MMIO_QUEUE_DRIVER_LOW, Q_AVAIL(q));
    wr(vm, base, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 0);
    wr(vm, base, VIRTIO_MMIO_QUEUE_DEVICE_LOW, Q_USED(q));
    wr(vm, base, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 0);
    wr(vm, base, VIRTIO_MMIO_QUEUE_READY, 1);
    assert_int_equal(rd(vm, base, VIRTIO_MMIO_QUEUE_READY), 1);
}

/* Negotiates VERSION_1 only, sets up @nq queues, DRIVER_OK. */
static void bring_up(vmm_vm *vm, uint64_t base, uint32_t nq)
{
    uint32_t s = negotiate(vm, base, 1ull << VIRTIO_F_VERSION_1);
    assert_true(s & VIRTIO_STATUS_FEATURES_OK);
    for (uint32_t q = 0; q < nq; q++)
        setup_queue(vm, base, q);
    wr(vm, base, VIRTIO_MMIO_STATUS, s | VIRTIO_STATUS_DRIVER_OK);
    assert_int_equal(rd(vm, base, VIRTIO_MMIO_STATUS), s | VIRTIO_STATUS_DRIVER_OK);
}

/* Guest-side rings (little-endian; the host is x86). */
struct ring_state {
    uint16_t avail_idx;
};
static struct ring_state rings[4];

static void post(vmm_vm *vm, uint32_t q, uint16_t head, uint32_t gpa, uint32_t len, bool writable)
{
    uint8_t *ram = fake_vm_ram(vm);
    struct virtq_desc d = { .addr = gpa, .len = len,
                            .flags = writable ? VIRTQ_DESC_F_WRITE : 0, .next = 0 };
    memcpy(ram + Q_DESC(q) + 16u * head, &d, sizeof(d));
    uint16_t idx = rings[q].avail_idx;
    memcpy(ram + Q_AVAIL(q) + 4 + 2u * (idx % QSIZE), &head, 2);
    idx++;
    __atomic_thread_fence(__ATOMIC_RELEASE);
    memcpy(ram + Q_AVAIL(q) + 2, &idx, 2);
    rings[q].avail_idx = idx;
}

static uint16_t used_idx(vmm_vm *vm, uint32_t q)
{
    uint16_t v;
    __atomic_load(( uint16_t *)(fake_vm_ram(vm) + Q_USED(q) + 2), &v, __ATOMIC_ACQUIRE);
    return v;
}

static struct virtq_used_elem used_elem(vmm_vm *vm, uint32_t q, uint16_t i)
{
    struct virtq_used_elem e;
    memcpy(&e, fake_vm_ram(vm) + Q_USED(q) + 4 + 8u * (i % QSIZE), sizeof(e));
    return e;
}

static bool wait_used(vmm_vm *vm, uint32_t q, uint16_t want)
{
    for (int i = 0; i < 2000; i++) {
        if (used_idx(vm, q) == want)
            return true;
        struct timespec ms = { 0, 1000000 };
        nanosleep(&ms, NULL);
    }
    return false;
}

static int setup(void **state)
{
    (void)state;
    memset(rings, 0, sizeof(rings));
    return 0;
}

/* ---- probing and features ------------------------------------------------ */

static void test_probe(void **state)
{
    (void)state;
    vmm_vm *vm = new_vm();
    vmm_device *dev = attach_rng(vm, 0, 0, NULL);
    assert_non_null(dev);
    assert_int_equal(rd(vm, BASE0, VIRTIO_MMIO_MAGIC_VALUE), VIRTIO_MMIO_MAGIC);
    assert_int_equal(rd(vm, BASE0, VIRTIO_MMIO_VERSION), 2);
    assert_int_equal(rd(vm, BASE0, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_RNG);
    assert_int_equal(rd(vm, BASE0, VIRTIO_MMIO_VENDOR_ID), 0x554d4551u);
    wr(vm, BASE0, VIRTIO_MMIO_QUEUE_SEL, 0);
    assert_int_equal(rd(vm, BASE0, VIRTIO_MMIO_QUEUE_NUM_MAX), QSIZE);
    wr(vm, BASE0, VIRTIO_MMIO_QUEUE_SEL, 1); /* rng has one queue */
    assert_int_equal(rd(vm, BASE0, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
    assert_int_equal(rd(vm, BASE0, VIRTIO_MMIO_QUEUE_READY), 0);
    /* 4.2.2: no shared memory regions: length all ones. */
    wr(vm, BASE0, VIRTIO_MMIO_SHM_SEL, 0);
    assert_int_equal(rd(vm, BASE0, VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffffu);
    assert_int_equal(rd(vm, BASE0, VIRTIO_MMIO_SHM_LEN_HIGH), 0xffffffffu);
    assert_int_equal(rd(vm, BASE0, VIRTIO_MMIO_STATUS), 0);

    struct vmm_virtio_info info = { .struct_size = sizeof(info) };
    assert_int_equal(vmm_virtio_get_info(dev, &info), 0);
    assert_int_equal(info.device_id, VIRTIO_ID_RNG);
    assert_int_equal(info.transport, VMM_VIRTIO_TRANSPORT_MMIO);
    assert_int_equal(info.irq, 5);
    assert_int_equal(info.mmio_base, BASE0);
    fake_vm_free(vm);
}

static void test_features(void **state)
{
    (void)state;
    vmm_vm *vm = new_vm();
    assert_non_null(attach_rng(vm, 0, 0, NULL));
    wr(vm, BASE0, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    assert_true(rd(vm, BASE0, VIRTIO_MMIO_DEVICE_FEATURES) & 1u); /* VERSION_1 = bit 32 */
    wr(vm, BASE0, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    uint32_t lo = rd(vm, BASE0, VIRTIO_MMIO_DEVICE_FEATURES);
    assert_true(lo & (1u << VIRTIO_F_EVENT_IDX));
    assert_true(lo & (1u << VIRTIO_F_INDIRECT_DESC));
    wr(vm, BASE0, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 7);
    assert_int_equal(rd(vm, BASE0, VIRTIO_MMIO_DEVICE_FEATURES), 0);
    /* Without VERSION_1 (a legacy driver) FEATURES_OK does not stick. */
    assert_false(negotiate(vm, BASE0, 0) & VIRTIO_STATUS_FEATURES_OK);
    assert_true(negotiate(vm, BASE0, 1ull << VIRTIO_F_VERSION_1) & VIRTIO_STATUS_FEATURES_OK);
    /* Status 0 resets. */
    wr(vm, BASE0, VIRTIO_MMIO_STATUS, 0);
    assert_int_equal(rd(vm, BASE0, VIRTIO_MMIO_STATUS), 0);
    fake_vm_free(vm);
}

/* ---- virtio-rng ------------------------------------------------------------ */

static void test_rng_request(void **state)
{
    (void)state;
    vmm_vm *vm = new_vm();
    assert_non_null(attach_rng(vm, 0, 0, NULL));
    bring_up(vm, BASE0, 1);
    uint8_t *ram = fake_vm_ram(vm);
    uint8_t zero[64] = { 0 };
    post(vm, 0, 0, BUF(0), 64, true);
    unsigned pulses = fake_vm_irq_pulses(vm, 5);
    wr(vm, BASE0, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_true(wait_used(vm, 0, 1));
    struct virtq_used_elem e = used_elem(vm, 0, 0);
    assert_int_equal(e.id, 0);
    assert_int_equal(e.len, 64);
    assert_memory_not_equal(ram + BUF(0), zero, 64);
    /* The interrupt: status bit, one edge on the line, which is low again. */
    assert_int_equal(rd(vm, BASE0, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_ISR_QUEUE,
                     VIRTIO_ISR_QUEUE);
    assert_int_equal(fake_vm_irq_pulses(vm, 5), pulses + 1);
    assert_int_equal(fake_vm_irq_level(vm, 5), 0);
    wr(vm, BASE0, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_ISR_QUEUE);
    assert_int_equal(rd(vm, BASE0, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
    /* A second request in two segments (a chain). */
    struct virtq_desc d0 = { BUF(1), 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2 };
    struct virtq_desc d2 = { BUF(2), 16, VIRTQ_DESC_F_WRITE, 0 };
    memcpy(ram + Q_DESC(0) + 16, &d0, 16);
    memcpy(ram + Q_DESC(0) + 32, &d2, 16);
    uint16_t head = 1, idx = 2;
    memcpy(ram + Q_AVAIL(0) + 4 + 2, &head, 2);
    memcpy(ram + Q_AVAIL(0) + 2, &idx, 2);
    wr(vm, BASE0, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_true(wait_used(vm, 0, 2));
    e = used_elem(vm, 0, 1);
    assert_int_equal(e.id, 1);
    assert_int_equal(e.len, 32);
    fake_vm_free(vm);
}

static void test_rng_readonly_buffer(void **state)
{
    (void)state;
    vmm_vm *vm = new_vm();
    vmm_device *dev = attach_rng(vm, 0, 0, NULL);
    bring_up(vm, BASE0, 1);
    post(vm, 0, 0, BUF(0), 64, false); /* device-readable: a driver bug */
    wr(vm, BASE0, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_true(rd(vm, BASE0, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    assert_true(rd(vm, BASE0, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_ISR_CONFIG);
    struct vmm_virtio_info info = { .struct_size = sizeof(info) };
    assert_int_equal(vmm_virtio_get_info(dev, &info), 0);
    assert_int_equal(info.needs_reset, 1);
    assert_true(info.violations >= 1);
    /* The driver resets and starts over: the device works again. */
    memset(rings, 0, sizeof(rings));
    memset(fake_vm_ram(vm) + Q_DESC(0), 0, 0x3000);
    bring_up(vm, BASE0, 1);
    post(vm, 0, 0, BUF(0), 8, true);
    wr(vm, BASE0, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_true(wait_used(vm, 0, 1));
    fake_vm_free(vm);
}

/* ---- virtio-console ---------------------------------------------------- */

struct sink {
    pthread_mutex_t lock;
    char buf[256];
    size_t len;
};

static int sink_fn(const uint8_t *data, size_t len, void *user)
{
    struct sink *s = user;
    pthread_mutex_lock(&s->lock);
    size_t n = len < sizeof(s->buf) - s->len ? len : sizeof(s->buf) - s->len;
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static vmm_device *attach_console(vmm_vm *vm, struct sink *s, int in_fd, int out_fd)
{
    struct vmm_virtio_console_config c = VMM_VIRTIO_CONSOLE_CONFIG_INIT;
    c.transport = mmio_transport(0, 0);
    c.out_fn = s ? sink_fn : NULL;
    c.out_user = s;
    c.in_fd = in_fd;
    c.out_fd = out_fd;
    vmm_device *dev = NULL;
    assert_int_equal(vmm_virtio_console_attach(vm, &c, &dev), 0);
    return dev;
}

static void test_console_tx(void **state)
{
    (void)state;
    vmm_vm *vm = new_vm();
    struct sink s = { .lock = PTHREAD_MUTEX_INITIALIZER };
    int p[2];
    assert_int_equal(pipe(p), 0);
    attach_console(vm, &s, -1, p[1]);
    assert_int_equal(rd(vm, BASE0, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_CONSOLE);
    /* Config space: cols 80, rows 25 (16-bit fields), max_nr_ports 1. */
    uint16_t cols = 0, rows = 0;
    assert_int_equal(fake_vm_mmio(vm, BASE0 + 0x100, &cols, 2, false), 0);
    assert_int_equal(fake_vm_mmio(vm, BASE0 + 0x102, &rows, 2, false), 0);
    assert_int_equal(cols, 80);
    assert_int_equal(rows, 25);
    assert_int_equal(rd(vm, BASE0, 0x104), 1);
    bring_up(vm, BASE0, 2);
    memcpy(fake_vm_ram(vm) + BUF(0), "hello, host", 11);
    post(vm, 1, 0, BUF(0), 11, false);
    wr(vm, BASE0, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
    assert_true(wait_used(vm, 1, 1));
    assert_int_equal(used_elem(vm, 1, 0).len, 0);
    pthread_mutex_lock(&s.lock);
    assert_int_equal(s.len, 11);
    assert_memory_equal(s.buf, "hello, host", 11);
    pthread_mutex_unlock(&s.lock);
    char out[16] = { 0 };
    assert_int_equal(read(p[0], out, sizeof(out)), 11);
    assert_memory_equal(out, "hello, host", 11);
    fake_vm_free(vm);
    close(p[0]);
    close(p[1]);
}

static void test_console_rx(void **state)
{
    (void)state;
    vmm_vm *vm = new_vm();
    int p[2];
    assert_int_equal(pipe(p), 0);
    vmm_device *dev = attach_console(vm, NULL, p[0], -1);
    /* Input before the driver is there is kept. */
    assert_int_equal(vmm_virtio_console_input(dev, "abc", 3), 3);
    bring_up(vm, BASE0, 2);
    post(vm, 0, 0, BUF(0), 16, true);
    wr(vm, BASE0, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_true(wait_used(vm, 0, 1));
    assert_int_equal(used_elem(vm, 0, 0).len, 3);
    assert_memory_equal(fake_vm_ram(vm) + BUF(0), "abc", 3);
    /* Input with a buffer posted arrives by itself (I/O thread). */
    post(vm, 0, 1, BUF(1), 16, true);
    wr(vm, BASE0, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_int_equal(vmm_virtio_console_input(dev, "xy", 2), 2);
    assert_true(wait_used(vm, 0, 2));
    assert_int_equal(used_elem(vm, 0, 1).len, 2);
    assert_memory_equal(fake_vm_ram(vm) + BUF(1), "xy", 2);
    /* And from in_fd. */
    post(vm, 0, 2, BUF(2), 16, true);
    wr(vm, BASE0, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_int_equal(write(p[1], "pipe", 4), 4);
    assert_true(wait_used(vm, 0, 3));
    assert_int_equal(used_elem(vm, 0, 2).len, 4);
    assert_memory_equal(fake_vm_ram(vm) + BUF(2), "pipe", 4);
    /* The buffer holds 64 KiB; the rest is refused. */
    static uint8_t big[70000];
    assert_int_equal(vmm_virtio_console_input(dev, big, sizeof(big)), 65536);
    /* Not a console. */
    vmm_device *rng = attach_rng(vm, 0, 0, NULL);
    assert_non_null(rng);
    assert_int_equal(vmm_virtio_console_input(rng, "x", 1), -EINVAL);
    assert_int_equal(vmm_virtio_console_input(NULL, "x", 1), -EINVAL);
    /* Detached (a VM change keeps the I/O thread out), the console is gone. */
    assert_int_equal(vmm_device_detach(dev), 0);
    assert_int_equal(vmm_virtio_console_input(dev, "x", 1), -EINVAL);
    fake_vm_free(vm);
    close(p[0]);
    close(p[1]);
}

static void test_console_bad_config(void **state)
{
    (void)state;
    vmm_vm *vm = new_vm();
    struct vmm_virtio_console_config c = VMM_VIRTIO_CONSOLE_CONFIG_INIT;
    c.transport = mmio_transport(0, 0);
    c.out_fd = 12345; /* not open */
    assert_int_equal(vmm_virtio_console_attach(vm, &c, NULL), -EINVAL);
    c.out_fd = -2;
    assert_int_equal(vmm_virtio_console_attach(vm, &c, NULL), -EINVAL);
    c.out_fd = -1;
    c.flags = 1;
    assert_int_equal(vmm_virtio_console_attach(vm, &c, NULL), -EINVAL);
    assert_int_equal(device_count(vm), 0);
    fake_vm_free(vm);
}

/* ---- the guest's mistakes ----------------------------------------------- */

static void test_bad_accesses(void **state)
{
    (void)state;
    vmm_vm *vm = new_vm();
    assert_non_null(attach_rng(vm, 0, 0, NULL));
    uint64_t v8 = ~0ull;
    uint16_t v2 = 0xffff;
    uint8_t v1 = 0xff;
    /* Registers take aligned 32-bit accesses only: others read 0. */
    assert_int_equal(fake_vm_mmio(vm, BASE0, &v1, 1, false), 0);
    assert_int_equal(v1, 0);
    assert_int_equal(fake_vm_mmio(vm, BASE0, &v2, 2, false), 0);
    assert_int_equal(v2, 0);
    assert_int_equal(fake_vm_mmio(vm, BASE0, &v8, 8, false), 0);
    assert_int_equal(v8, 0);
    uint32_t v4 = 0xffffffffu;
    assert_int_equal(fake_vm_mmio(vm, BASE0 + 2, &v4, 4, false), 0);
    assert_int_equal(v4, 0);
    v1 = VIRTIO_STATUS_ACKNOWLEDGE;
    assert_int_equal(fake_vm_mmio(vm, BASE0 + VIRTIO_MMIO_STATUS, &v1, 1, true), 0);
    assert_int_equal(rd(vm, BASE0, VIRTIO_MMIO_STATUS), 0); /* dropped */
    /* Reserved and write-only registers read 0; writes to read-only ones
     * are dropped. */
    assert_int_equal(rd(vm, BASE0, 0x018), 0);
    assert_int_equal(rd(vm, BASE0, VIRTIO_MMIO_DRIVER_FEATURES), 0);
    wr(vm, BASE0, VIRTIO_MMIO_MAGIC_VALUE, 0);
    wr(vm, BASE0, VIRTIO_MMIO_QUEUE_NUM_MAX, 1);
    assert_int_equal(rd(vm, BASE0, VIRTIO_MMIO_MAGIC_VALUE), VIRTIO_MMIO_MAGIC);
    /* Config space of a device with none; past the page. */
    assert_int_equal(rd(vm, BASE0, 0x100), 0);
    assert_int_equal(rd(vm, BASE0, 0xffc), 0);
    wr(vm, BASE0, 0x100, 1);
    assert_int_equal(fake_vm_mmio(vm, BASE0 + 0x100, &v8, 8, false), 0);
    assert_int_equal(v8, 0);
    assert_int_equal(fake_vm_mmio(vm, BASE0 + 0x101, &v2, 2, false), 0);
    assert_int_equal(fake_vm_mmio(vm, BASE0 + 0x1000, &v4, 4, false), -ENOENT);
    /* Queues that do not exist. */
    wr(vm, BASE0, VIRTIO_MMIO_QUEUE_SEL, 5);
    wr(vm, BASE0, VIRTIO_MMIO_QUEUE_NUM, 4);
    wr(vm, BASE0, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1000);
    wr(vm, BASE0, VIRTIO_MMIO_QUEUE_READY, 1);
    assert_int_equal(rd(vm, BASE0, VIRTIO_MMIO_QUEUE_READY), 0);
    assert_int_equal(rd(vm, BASE0, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
    wr(vm, BASE0, VIRTIO_MMIO_QUEUE_SEL, 0xffffffffu);
    assert_int_equal(rd(vm, BASE0, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
    wr(vm, BASE0, VIRTIO_MMIO_QUEUE_NOTIFY, 7);
    wr(vm, BASE0, VIRTIO_MMIO_QUEUE_NOTIFY, 0xffffffffu);
    /* A notify before the queue is live does nothing. */
    wr(vm, BASE0, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    /* A ready queue's registers are fixed (4.2.2.2). */
    bring_up(vm, BASE0, 1);
    wr(vm, BASE0, VIRTIO_MMIO_QUEUE_SEL, 0);
    wr(vm, BASE0, VIRTIO_MMIO_QUEUE_NUM, 2);
    wr(vm, BASE0, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x80000);
    assert_int_equal(rd(vm, BASE0, VIRTIO_MMIO_QUEUE_NUM), QSIZE);
    assert_int_equal(rd(vm, BASE0, VIRTIO_MMIO_QUEUE_DESC_LOW), Q_DESC(0));
    /* Still a working device. */
    post(vm, 0, 0, BUF(0), 8, true);
    wr(vm, BASE0, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_true(wait_used(vm, 0, 1));
    /* Disabling the queue (Linux's vm_del_vq) reads back 0. */
    wr(vm, BASE0, VIRTIO_MMIO_QUEUE_READY, 0);
    assert_int_equal(rd(vm, BASE0, VIRTIO_MMIO_QUEUE_READY), 0);
    fake_vm_free(vm);
}

static void test_bad_queue_setup(void **state)
{
    (void)state;
    vmm_vm *vm = new_vm();
    assert_non_null(attach_rng(vm, 0, 0, NULL));
    assert_true(negotiate(vm, BASE0, 1ull << VIRTIO_F_VERSION_1) & VIRTIO_STATUS_FEATURES_OK);
    wr(vm, BASE0, VIRTIO_MMIO_QUEUE_SEL, 0);
    wr(vm, BASE0, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
    /* Rings outside RAM. */
    wr(vm, BASE0, VIRTIO_MMIO_QUEUE_DESC_LOW, 0);
    wr(vm, BASE0, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0x100);
    wr(vm, BASE0, VIRTIO_MMIO_QUEUE_DRIVER_LOW, Q_AVAIL(0));
    wr(vm, BASE0, VIRTIO_MMIO_QUEUE_DEVICE_LOW, Q_USED(0));
    wr(vm, BASE0, VIRTIO_MMIO_QUEUE_READY, 1);
    assert_int_equal(rd(vm, BASE0, VIRTIO_MMIO_QUEUE_READY), 0);
    assert_true(rd(vm, BASE0, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    fake_vm_free(vm);
}

/* ---- attach, command line ------------------------------------------------ */

static void test_cmdline(void **state)
{
    (void)state;
    vmm_vm *vm = new_vm();
    assert_int_equal(vmm_virtio_mmio_cmdline(vm, NULL, 0), 0);
    assert_non_null(attach_rng(vm, 0, 0, NULL));
    assert_non_null(attach_rng(vm, 0, 9, NULL));
    assert_non_null(attach_rng(vm, 0xd0010000ull, VMM_VIRTIO_NO_IRQ, NULL)); /* left out */
    assert_non_null(attach_rng(vm, 0, 0, NULL));
    const char *want = "virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:9 "
                       "virtio_mmio.device=4K@0xd0002000:6";
    int n = vmm_virtio_mmio_cmdline(vm, NULL, 0);
    assert_int_equal(n, (int)strlen(want));
    char buf[256];
    assert_int_equal(vmm_virtio_mmio_cmdline(vm, buf, sizeof(buf)), n);
    assert_string_equal(buf, want);
    /* Too small: whole words only, still NUL-terminated. */
    assert_int_equal(vmm_virtio_mmio_cmdline(vm, buf, 40), n);
    assert_string_equal(buf, "virtio_mmio.device=4K@0xd0000000:5");
    assert_int_equal(vmm_virtio_mmio_cmdline(vm, buf, 1), n);
    assert_string_equal(buf, "");
    assert_int_equal(vmm_virtio_mmio_cmdline(vm, NULL, 4), -EINVAL);
    assert_int_equal(vmm_virtio_mmio_cmdline(NULL, buf, 4), -EINVAL);
    fake_vm_free(vm);
}

static void test_attach_errors(void **state)
{
    (void)state;
    vmm_vm *vm = new_vm();
    assert_non_null(attach_rng(vm, 0, 7, NULL));
    uint32_t irqs = vm->virtio_irqs;
    int r;
    assert_null(attach_rng(vm, BASE0 + 0x800, 0, &r)); /* not aligned */
    assert_int_equal(r, -EINVAL);
    assert_null(attach_rng(vm, 0x1000, 0, &r)); /* guest RAM */
    assert_int_equal(r, -EBUSY);
    assert_null(attach_rng(vm, BASE0, 0, &r)); /* the first device's page */
    assert_int_equal(r, -EBUSY);
    assert_null(attach_rng(vm, 0, 7, &r)); /* irq taken */
    assert_int_equal(r, -EBUSY);
    assert_null(attach_rng(vm, 0, 24, &r));
    assert_int_equal(r, -EINVAL);
    struct vmm_virtio_rng_config c = VMM_VIRTIO_RNG_CONFIG_INIT;
    c.transport = mmio_transport(0, 0);
    c.transport.pci_slot = 3;
    assert_int_equal(vmm_virtio_rng_attach(vm, &c, NULL), -EINVAL);
    c.transport.pci_slot = 0;
    c.flags = 1;
    assert_int_equal(vmm_virtio_rng_attach(vm, &c, NULL), -EINVAL);
    /* Nothing was left behind: no device, no interrupt line. */
    assert_int_equal(device_count(vm), 1);
    assert_int_equal(vm->virtio_irqs, irqs);
    assert_int_equal(vm->mmio.count, 1);
    /* A VM without an interrupt controller takes only NO_IRQ. */
    int (*hook)(vmm_vm *, int, uint64_t, uint64_t) = vm->irq_hook;
    vm->irq_hook = NULL;
    vm->has_irqchip = false;
    assert_null(attach_rng(vm, 0, 0, &r));
    assert_int_equal(r, -EINVAL);
    vmm_device *quiet = attach_rng(vm, 0, VMM_VIRTIO_NO_IRQ, &r);
    assert_non_null(quiet);
    vm->irq_hook = hook;
    vm->has_irqchip = true;
    /* A detached device gives back its line and its page. */
    assert_int_equal(vmm_device_detach(quiet), 0);
    vmm_device *first = vm->devices_head;
    assert_int_equal(vmm_device_detach(first), 0);
    assert_int_equal(vm->virtio_irqs, 0);
    assert_non_null(attach_rng(vm, BASE0, 7, NULL));
    fake_vm_free(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_probe, setup),
        cmocka_unit_test_setup(test_features, setup),
        cmocka_unit_test_setup(test_rng_request, setup),
        cmocka_unit_test_setup(test_rng_readonly_buffer, setup),
        cmocka_unit_test_setup(test_console_tx, setup),
        cmocka_unit_test_setup(test_console_rx, setup),
        cmocka_unit_test_setup(test_console_bad_config, setup),
        cmocka_unit_test_setup(test_bad_accesses, setup),
        cmocka_unit_test_setup(test_bad_queue_setup, setup),
        cmocka_unit_test_setup(test_cmdline, setup),
        cmocka_unit_test_setup(test_attach_errors, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
