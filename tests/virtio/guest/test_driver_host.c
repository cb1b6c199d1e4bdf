/* The test guest's virtio driver (tests/virtio/driver), compiled for the
 * host and pointed at the library's devices on a fake VM: the same probe,
 * negotiation and requests the guest kernel makes, over both transports,
 * with the queues served by the I/O thread (or in line), checked from both
 * sides (vt_stack_check(): the driver's own results, the disk images, the
 * console bytes, the network frames) and the interrupts the devices raised
 * as the driver configured them (MSI-X messages, the INTx line, the
 * virtio-mmio line pulses). Needs no KVM. */
#include "fake_vm.h"
#include "vdrv.h"
#include "vt_stack.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define RAM (16u << 20)
#define ARENA_BASE (4u << 20)
#define ARENA_SIZE (8u << 20)

struct host {
    vmm_vm *vm;
    char log[1 << 16];
    size_t log_len;
};

static uint32_t h_pio_read(void *ctx, uint16_t port, uint32_t len)
{
    struct host *h = ctx;
    uint32_t v = 0xffffffffu;
    fake_vm_pio(h->vm, port, &v, len, false);
    return len == 4 ? v : v & ((1u << (8 * len)) - 1);
}

static void h_pio_write(void *ctx, uint16_t port, uint32_t len, uint32_t val)
{
    struct host *h = ctx;
    fake_vm_pio(h->vm, port, &val, len, true);
}

static uint64_t h_mmio_read(void *ctx, uint64_t gpa, uint32_t len)
{
    struct host *h = ctx;
    uint64_t v = ~0ull;
    fake_vm_mmio(h->vm, gpa, &v, len, false);
    return len == 8 ? v : v & ((1ull << (8 * len)) - 1);
}

static void h_mmio_write(void *ctx, uint64_t gpa, uint32_t len, uint64_t val)
{
    struct host *h = ctx;
    fake_vm_mmio(h->vm, gpa, &val, len, true);
}

static void *h_ram(void *ctx, uint64_t gpa, uint64_t len)
{
    struct host *h = ctx;
    uint64_t size = fake_vm_ram_size(h->vm);
    if (gpa > size || len > size - gpa)
        return NULL;
    return fake_vm_ram(h->vm) + gpa;
}

static void h_log(void *ctx, const char *s)
{
    struct host *h = ctx;
    size_t n = strlen(s);
    if (n > sizeof(h->log) - 1 - h->log_len)
        n = sizeof(h->log) - 1 - h->log_len;
    memcpy(h->log + h->log_len, s, n);
    h->log_len += n;
    h->log[h->log_len] = 0;
}

static void h_relax(void *ctx)
{
    (void)ctx;
    sched_yield();
}

/* The driver's view of the fake VM. */
static struct vdrv_bus host_bus(struct host *h)
{
    return (struct vdrv_bus){
        .ctx = h, .pio_read = h_pio_read, .pio_write = h_pio_write,
        .mmio_read = h_mmio_read, .mmio_write = h_mmio_write, .ram = h_ram,
        .log = h_log, .relax = h_relax, .arena_base = ARENA_BASE, .arena_size = ARENA_SIZE,
    };
}

/* Runs the driver over the fake VM with @cmdline; fails on any failed check. */
static void drive(struct host *h, const char *cmdline)
{
    struct vdrv_bus bus = host_bus(h);
    struct vdrv_opts o;
    vdrv_opts_default(&o);
    assert_int_equal(vdrv_opts_parse(&o, cmdline, &bus), 0);
    int failed = vdrv_run(&bus, &o);
    if (failed)
        fail_msg("%d driver checks failed (cmdline: %s):\n%s", failed, cmdline, h->log);
}

struct variant {
    uint32_t transport;
    const char *tname;
    uint32_t flags; /* VMM_VIRTIO_F_* */
    int event_idx, indirect, msix;
};

static void run(const struct variant *v)
{
    static struct host h;
    static struct vt_stack s;
    memset(&h, 0, sizeof(h));
    h.vm = fake_vm_new(RAM);
    vt_stack_attach(h.vm, &s, v->transport, v->flags);

    char extra[128], cmdline[1024];
    snprintf(extra, sizeof(extra), "vt.event_idx=%d vt.indirect=%d vt.msix=%d vt.spins=50000000",
             v->event_idx, v->indirect, v->msix);
    vt_stack_cmdline(h.vm, v->tname, extra, cmdline, sizeof(cmdline));
    drive(&h, cmdline);
    vt_stack_check(&s, v->tname, h.log);

    /* Interrupts: the driver polls, but never sets NO_INTERRUPT, so each
     * device must have signalled the way the driver set it up. */
    vmm_device *devs[] = { s.blk, s.blk_ro, s.rng, s.con, s.net };
    for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++) {
        struct vmm_virtio_info info = { .struct_size = sizeof(info) };
        assert_int_equal(vmm_virtio_get_info(devs[i], &info), 0);
        if (v->transport == VMM_VIRTIO_TRANSPORT_MMIO && !fake_vm_irq_pulses(h.vm, info.irq))
            fail_msg("%s: no pulse on its line %u", vmm_device_name(devs[i]), info.irq);
        if (v->transport == VMM_VIRTIO_TRANSPORT_PCI && !v->msix &&
            !fake_vm_irq_pulses(h.vm, info.irq))
            fail_msg("%s: INTx line %u never asserted", vmm_device_name(devs[i]), info.irq);
    }
    if (v->transport == VMM_VIRTIO_TRANSPORT_PCI && v->msix) {
        /* vdrv programs vector n of each device with data 0x40 + n. */
        if (fake_vm_msi_total(h.vm) < 5)
            fail_msg("only %u MSI-X messages for five devices", fake_vm_msi_total(h.vm));
        assert_true(fake_vm_msi_count(h.vm, 0xfee00000u, 0x41) > 0 ||
                    fake_vm_msi_count(h.vm, 0xfee00000u, 0x40) > 0);
    } else {
        assert_int_equal(fake_vm_msi_total(h.vm), 0);
    }
    fake_vm_free(h.vm);
    vt_stack_close(&s);
}

#define VARIANT(name, ...)                           \
    static void name(void **state)                   \
    {                                                \
        (void)state;                                 \
        static const struct variant v = __VA_ARGS__; \
        run(&v);                                     \
    }

VARIANT(test_pci_msix, { VMM_VIRTIO_TRANSPORT_PCI, "pci", 0, 1, 1, 1 })
VARIANT(test_pci_intx, { VMM_VIRTIO_TRANSPORT_PCI, "pci", 0, 0, 0, 0 })
VARIANT(test_pci_inline, { VMM_VIRTIO_TRANSPORT_PCI, "pci", VMM_VIRTIO_F_INLINE, 1, 0, 1 })
VARIANT(test_mmio, { VMM_VIRTIO_TRANSPORT_MMIO, "mmio", 0, 1, 1, 0 })
VARIANT(test_mmio_plain, { VMM_VIRTIO_TRANSPORT_MMIO, "mmio", 0, 0, 0, 0 })
VARIANT(test_mmio_inline, { VMM_VIRTIO_TRANSPORT_MMIO, "mmio", VMM_VIRTIO_F_INLINE, 0, 1, 0 })

/* The benchmark mode (vt.bench, bench/virtio_blk_guest.sh) works: its
 * three phases complete against our virtio-blk. */
static void test_bench_mode(void **state)
{
    (void)state;
    static struct host h;
    static struct vt_stack s;
    memset(&h, 0, sizeof(h));
    h.vm = fake_vm_new(RAM);
    vt_stack_attach(h.vm, &s, VMM_VIRTIO_TRANSPORT_PCI, 0);
    drive(&h, "vt.transport=pci vt.dev=blk vt.bench=300");
    /* 300 requests: the ring indices cross 0xff -> 0x100 (written as one
     * 16-bit store each, or the device could see them half-done). */
    static const char *const phases[] = { "bench_randread4k ok reqs=300 bytes=1228800",
                                          "bench_seqread64k ok reqs=37 bytes=2424832",
                                          "bench_seqwrite64k ok reqs=37 bytes=2424832" };
    for (size_t i = 0; i < 3; i++)
        if (!strstr(h.log, phases[i]))
            fail_msg("no \"%s\" in:\n%s", phases[i], h.log);
    fake_vm_free(h.vm);
    vt_stack_close(&s);
}


static void run_hostile(uint32_t transport, const char *tname, uint32_t flags)
{
    static struct host h;
    static struct vt_stack s;
    memset(&h, 0, sizeof(h));
    h.vm = fake_vm_new(RAM);
    vt_stack_attach(h.vm, &s, transport, flags);
    char cmdline[1024];
    vt_stack_cmdline(h.vm, tname, "vt.hostile=1 vt.msix=1", cmdline, sizeof(cmdline));
    drive(&h, cmdline);
    vt_stack_check_hostile(&s, tname, h.log);
    fake_vm_free(h.vm);
    vt_stack_close(&s);
}

static void test_hostile_guest(void **state)
{
    (void)state;
    run_hostile(VMM_VIRTIO_TRANSPORT_PCI, "pci", 0);
}

static void test_hostile_guest_mmio(void **state)
{
    (void)state;
    run_hostile(VMM_VIRTIO_TRANSPORT_MMIO, "mmio", 0);
}

static void test_hostile_guest_inline(void **state)
{
    (void)state;
    run_hostile(VMM_VIRTIO_TRANSPORT_PCI, "pci", VMM_VIRTIO_F_INLINE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pci_msix),   cmocka_unit_test(test_pci_intx),
        cmocka_unit_test(test_pci_inline), cmocka_unit_test(test_mmio),
        cmocka_unit_test(test_mmio_plain), cmocka_unit_test(test_mmio_inline),
        cmocka_unit_test(test_bench_mode),
        cmocka_unit_test(test_hostile_guest),
        cmocka_unit_test(test_hostile_guest_mmio),
        cmocka_unit_test(test_hostile_guest_inline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
