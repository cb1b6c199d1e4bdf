/* virtio_blk: what the library's virtio-blk stack costs per request, against
 * the same I/O done with plain preadv/pwritev in the same run.
 *
 * A driver in this process (tests/virtio/fake/mini_mmio: the registers of a
 * virtio-mmio device on a fake VM, rings in its RAM) posts requests to a
 * vmm_virtio_blk_attach() disk backed by a file on tmpfs (/dev/shm), kicks
 * the queue through its notify register and waits for the used ring, so
 * everything but the guest's exits is the real path: the notify handler,
 * the I/O thread's wake-up (eventfd + epoll), chain validation, preadv into
 * guest RAM, the used ring, the interrupt. Two modes: the default (queue
 * work on the I/O thread) and VMM_VIRTIO_F_INLINE (served during the notify
 * write, as without ioeventfd).
 *
 * Workloads: 4 KiB random reads at queue depth 1 and 32; 64 KiB sequential
 * reads and writes at depth 8. Baseline: the same offsets with preadv/
 * pwritev on the same file, one request per syscall. Reported: the median
 * of 5 rounds, and the ratio library/baseline (throughput; >= 1 is "as fast
 * as the syscalls alone", which a VMM cannot beat at depth 1).
 *
 * What it cannot show on a machine without KVM: the guest side (exits,
 * ioeventfd/irqfd). bench/virtio_blk_guest.sh runs the test guest under
 * libvmm and under QEMU on KVM for that (docs/performance.md).
 *
 *   ./build/bench/virtio_blk [rounds]
 */
#include "bench_common.h"
#include "fake_vm.h"
#include "mini_mmio.h"

#include <sched.h>
#include <sys/uio.h>
#include <vmm/vmm.h>

#define RAM (96u << 20)
#define DISK_BYTES (64u << 20)
#define QSIZE 256u
#define DESC_GPA 0x100000u
#define AVAIL_GPA 0x110000u
#define USED_GPA 0x120000u
#define HDR_GPA 0x200000u    /* 16 bytes per slot */
#define STATUS_GPA 0x210000u /* 1 byte per slot (at 16-byte steps) */
#define DATA_GPA 0x1000000u  /* 64 KiB per slot */
#define SLOT_DATA 0x10000u
#define MAX_DEPTH 32u

enum { OP_READ = 0, OP_WRITE = 1 };

struct workload {
    const char *name;
    uint32_t op, bytes, depth, count;
    int random;
};

static const struct workload workloads[] = {
    { "4k-randread-qd1", OP_READ, 4096, 1, 20000, 1 },
    { "4k-randread-qd32", OP_READ, 4096, 32, 40000, 1 },
    { "64k-seqread-qd8", OP_READ, 65536, 8, 4000, 0 },
    { "64k-seqwrite-qd8", OP_WRITE, 65536, 8, 4000, 0 },
};

static uint64_t offset_of(const struct workload *w, uint32_t i, uint32_t *seed)
{
    uint64_t blocks = DISK_BYTES / w->bytes;
    if (!w->random)
        return (i % blocks) * w->bytes;
    *seed = *seed * 1103515245u + 12345u;
    return ((*seed >> 4) % blocks) * w->bytes;
}

struct bench_vm {
    vmm_vm *vm;
    struct mini_q q;
    int fd;
};

static void bvm_open(struct bench_vm *b, int disk, uint32_t flags)
{
    b->vm = fake_vm_new(RAM);
    struct vmm_virtio_blk_config bc = VMM_VIRTIO_BLK_CONFIG_INIT;
    bc.transport.transport = VMM_VIRTIO_TRANSPORT_MMIO;
    bc.transport.flags = flags;
    bc.transport.queue_size = QSIZE;
    bc.fd = disk;
    vmm_device *dev;
    if (vmm_virtio_blk_attach(b->vm, &bc, &dev) < 0)
        bench_die("vmm_virtio_blk_attach: %s\n", vmm_last_error());
    struct vmm_virtio_info info = { .struct_size = sizeof(info) };
    vmm_virtio_get_info(dev, &info);
    b->q = (struct mini_q){ .vm = b->vm, .base = info.mmio_base, .desc = DESC_GPA,
                            .avail = AVAIL_GPA, .used = USED_GPA };
    if (mini_mmio_init(&b->q, QSIZE, 0) != 0xf)
        bench_die("the device did not accept the driver\n");
    /* Slot s uses descriptors 3s..3s+2: header, data, status. */
    for (uint16_t s = 0; s < MAX_DEPTH; s++) {
        mini_put_desc(&b->q, (uint16_t)(3 * s), HDR_GPA + 16u * s, 16, 1, (uint16_t)(3 * s + 1));
        mini_put_desc(&b->q, (uint16_t)(3 * s + 2), STATUS_GPA + 16u * s, 1, 2, 0);
    }
}

/* One round of @w through the library; returns requests per second. */
static double run_lib(struct bench_vm *b, const struct workload *w)
{
    uint8_t *ram = fake_vm_ram(b->vm);
    uint32_t seed = 1, issued = 0, done = 0;
    uint16_t used_seen = mini_used_idx(&b->q);
    uint64_t t0 = bench_now_ns();
    while (done < w->count) {
        /* Refill every free slot (all of them: completions come back in
         * batches of the depth), then one kick. */
        uint32_t batch = w->depth;
        if (batch > w->count - issued)
            batch = w->count - issued;
        for (uint16_t s = 0; s < batch; s++) {
            uint8_t *hdr = ram + HDR_GPA + 16u * s;
            uint32_t type = w->op == OP_READ ? 0 : 1;
            uint64_t sector = offset_of(w, issued + s, &seed) / 512;
            memcpy(hdr, &type, 4);
            memset(hdr + 4, 0, 4);
            memcpy(hdr + 8, &sector, 8);
            mini_put_desc(&b->q, (uint16_t)(3 * s + 1), DATA_GPA + (uint64_t)SLOT_DATA * s,
                          w->bytes, (uint16_t)(1 | (w->op == OP_READ ? 2 : 0)),
                          (uint16_t)(3 * s + 2));
            mini_add(&b->q, (uint16_t)(3 * s));
        }
        issued += batch;
        mini_kick(&b->q);
        while ((uint16_t)(mini_used_idx(&b->q) - used_seen) < batch)
            sched_yield();
        used_seen = (uint16_t)(used_seen + batch);
        for (uint16_t s = 0; s < batch; s++)
            if (ram[STATUS_GPA + 16u * s] != 0)
                bench_die("%s: request failed with status %u\n", w->name,
                          ram[STATUS_GPA + 16u * s]);
        done += batch;
    }
    return w->count / ((bench_now_ns() - t0) / 1e9);
}

/* The same offsets with one preadv/pwritev each. */
static double run_raw(int fd, const struct workload *w, uint8_t *buf)
{
    uint32_t seed = 1;
    uint64_t t0 = bench_now_ns();
    for (uint32_t i = 0; i < w->count; i++) {
        struct iovec iov = { buf, w->bytes };
        off_t off = (off_t)offset_of(w, i, &seed);
        ssize_t n = w->op == OP_READ ? preadv(fd, &iov, 1, off) : pwritev(fd, &iov, 1, off);
        if (n != (ssize_t)w->bytes)
            bench_die("%s: raw I/O failed\n", w->name);
    }
    return w->count / ((bench_now_ns() - t0) / 1e9);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 5;
    if (rounds < 1 || rounds > 100)
        bench_die("usage: virtio_blk [rounds 1-100]\n");
    char path[] = "/dev/shm/vmm-bench-blk-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        bench_die("mkstemp %s: %s\n", path, strerror(errno));
    unlink(path);
    static uint8_t buf[SLOT_DATA];
    memset(buf, 0x5a, sizeof(buf));
    for (uint64_t o = 0; o < DISK_BYTES; o += sizeof(buf))
        if (pwrite(fd, buf, sizeof(buf), (off_t)o) != (ssize_t)sizeof(buf))
            bench_die("filling the image: %s\n", strerror(errno));

    static const struct { const char *name; uint32_t flags; } modes[] = {
        { "I/O thread", 0 },
        { "inline", VMM_VIRTIO_F_INLINE },
    };
    printf("virtio-blk on a %u MiB tmpfs image, median of %d rounds\n", DISK_BYTES >> 20,
           rounds);
    printf("%-18s %-11s %12s %12s %10s %8s %12s\n", "workload", "mode", "lib req/s",
           "raw req/s", "lib MB/s", "ratio", "us/req added");
    for (size_t wi = 0; wi < sizeof(workloads) / sizeof(workloads[0]); wi++) {
        const struct workload *w = &workloads[wi];
        for (size_t mi = 0; mi < sizeof(modes) / sizeof(modes[0]); mi++) {
            double lib[100], raw[100], ratio[100];
            struct bench_vm b;
            bvm_open(&b, fd, modes[mi].flags);
            for (int r = 0; r < rounds; r++) {
                /* Interleaved, so drift hits both alike. */
                raw[r] = run_raw(fd, w, buf);
                lib[r] = run_lib(&b, w);
                ratio[r] = lib[r] / raw[r];
            }
            fake_vm_free(b.vm);
            double ml = bench_median(lib, (size_t)rounds);
            double mr = bench_median(raw, (size_t)rounds);
            double mq = bench_median(ratio, (size_t)rounds);
            /* What a request costs beyond its syscall: the notification,
             * the wake-up, validation, the used ring and the interrupt. */
            double added_us = (1.0 / ml - 1.0 / mr) * 1e6;
            printf("%-18s %-11s %12.0f %12.0f %10.1f %8.2f %12.2f\n", w->name, modes[mi].name,
                   ml, mr, ml * w->bytes / 1e6, mq, added_us);
        }
    }
    close(fd);
    return 0;
}
