/* virtio_blk_guest: the test guest's blk benchmark (tests/virtio/driver,
 * vt.bench=N) on a libvmm PC VM, for bench/virtio_blk_guest.sh, which runs
 * the same kernel and command line under QEMU on the same image and prints
 * the ratios. Needs /dev/kvm (exits 77 with the reason without it).
 *
 *   virtio_blk_guest KERNEL IMAGE REQS [pci|mmio] [fast|inline]
 *
 * Prints "tsc_hz <hz>" (the host TSC, which the guest reads) and the
 * guest's "VT ... bench_<phase> ok reqs=R bytes=B cycles=C" lines. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <vmm/vmm.h>

static char out[1 << 16];
static size_t out_len;

static int serial_out(vmm_vcpu *vcpu, const uint8_t *data, size_t len, void *user)
{
    (void)vcpu;
    (void)user;
    if (len > sizeof(out) - 1 - out_len)
        len = sizeof(out) - 1 - out_len;
    memcpy(out + out_len, data, len);
    out_len += len;
    return 0;
}

static void die(const char *what, int err)
{
    fprintf(stderr, "virtio_blk_guest: %s: %s: %s\n", what, vmm_strerror(err), vmm_last_error());
    exit(1);
}

static uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static double tsc_hz(void)
{
    double t0 = now_s();
    uint64_t c0 = rdtsc();
    struct timespec nap = { 0, 200000000 };
    nanosleep(&nap, NULL);
    return (rdtsc() - c0) / (now_s() - t0);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s KERNEL IMAGE REQS [pci|mmio] [fast|inline]\n", argv[0]);
        return 2;
    }
    int mmio = argc > 4 && strcmp(argv[4], "mmio") == 0;
    int inl = argc > 5 && strcmp(argv[5], "inline") == 0;
    struct vmm_vm_config cfg = VMM_VM_CONFIG_INIT;
    cfg.platform = VMM_PLATFORM_PC;
    cfg.flags = VMM_VM_F_OPEN_BUS;
    vmm_vm *vm;
    int r = vmm_vm_create(&cfg, &vm);
    if (r < 0) {
        printf("skipped: cannot create a VM here (%s: %s)\n", vmm_strerror(r), vmm_last_error());
        return 77;
    }
    if ((r = vmm_pc_add_ram(vm, 256u << 20)) < 0)
        die("vmm_pc_add_ram", r);
    struct vmm_serial_config sc = VMM_SERIAL_CONFIG_INIT;
    sc.out_fn = serial_out;
    if ((r = vmm_serial_attach(vm, &sc, NULL)) < 0)
        die("vmm_serial_attach", r);
    if ((r = vmm_debug_exit_attach(vm, VMM_DEBUG_EXIT_PORT, NULL)) < 0)
        die("vmm_debug_exit_attach", r);
    struct vmm_virtio_blk_config bc = VMM_VIRTIO_BLK_CONFIG_INIT;
    bc.path = argv[2];
    bc.transport.transport = mmio ? VMM_VIRTIO_TRANSPORT_MMIO : VMM_VIRTIO_TRANSPORT_PCI;
    bc.transport.flags = inl ? VMM_VIRTIO_F_INLINE : 0;
    if ((r = vmm_virtio_blk_attach(vm, &bc, NULL)) < 0)
        die("vmm_virtio_blk_attach", r);
    char cmdline[512];
    int n = snprintf(cmdline, sizeof(cmdline), "vt.transport=%s vt.dev=blk vt.expect=1 vt.bench=%s ",
                     mmio ? "mmio" : "pci", argv[3]);
    vmm_virtio_mmio_cmdline(vm, cmdline + n, sizeof(cmdline) - (size_t)n);
    if ((r = vmm_boot_load_files(vm, argv[1], NULL, cmdline, 0, NULL)) < 0)
        die("vmm_boot_load_files", r);
    struct vmm_exit e;
    if ((r = vmm_vm_run(vm, &e)) < 0)
        die("vmm_vm_run", r);
    out[out_len] = 0;
    printf("tsc_hz %.0f\n%s", tsc_hz(), out);
    vmm_vm_destroy(vm);
    return e.reason == VMM_EXIT_REQUEST && e.request.value == 0x600d ? 0 : 1;
}
