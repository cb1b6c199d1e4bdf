/* exit_roundtrip: cost of one port-I/O exit handled by a libvmm device
 * callback, against the same guest driven by a minimal raw-ioctl loop.
 *
 * The guest (real mode, loaded at 0x1000, RAM at GPA 0) is
 *     mov $N, %ecx
 *  1: out %al, $0x10
 *     dec %ecx
 *     jnz 1b
 *     hlt
 * so one run is N PIO exits and one HLT exit. The library side maps port
 * 0x10 to a callback device and calls vmm_vcpu_run() once (the exits are
 * consumed inside); the raw side loops on KVM_RUN handling KVM_EXIT_IO. Both
 * consume each write the same way (add the byte to a sink).
 *
 * Usage: exit_roundtrip [--mode both|raw|lib] [-n N] [-r RUNS]   (N 20000, RUNS 21)
 *   both (default): RUNS runs per side, interleaved raw/lib, after one
 *     warm-up run each; prints median ns per exit and the ratio.
 *   raw | lib: only that side, RUNS runs (default 1), no warm-up; for
 *     callgrind (bench/callgrind_per_exit.sh), which counts the user-space
 *     instructions of N and 2N exits and divides the difference by N. */
#include "bench_common.h"

#include <vmm/vmm.h>

#define LOAD_GPA 0x1000
#define RAM_SIZE 0x10000
#define PORT 0x10

static uint8_t guest[] = {
    0x66, 0xb9, 0, 0, 0, 0, /* mov $N, %ecx (patched) */
    0xe6, PORT,             /* 1: out %al, $0x10 */
    0x66, 0x49,             /* dec %ecx */
    0x75, 0xfa,             /* jnz 1b */
    0xf4,                   /* hlt */
};

static void set_count(uint32_t n)
{
    memcpy(&guest[2], &n, sizeof(n));
}

/* ---- raw side ---- */

struct raw_side {
    struct raw_ctx ctx;
    struct raw_vm vm;
    uint64_t sink;
};

static void raw_setup(struct raw_side *s)
{
    raw_ctx_open(&s->ctx, 0);
    raw_vm_create(&s->ctx, &s->vm, RAM_SIZE);
    memcpy(s->vm.mem + LOAD_GPA, guest, sizeof(guest));
    raw_vm_real_mode(&s->vm, LOAD_GPA);
}

/* One run; returns its wall time in ns. */
static uint64_t raw_once(struct raw_side *s, uint32_t n)
{
    raw_vm_set_rip(&s->vm, LOAD_GPA);
    uint64_t t0 = bench_now_ns();
    uint64_t ios = raw_vm_run_to_hlt(&s->vm, &s->sink);
    uint64_t t1 = bench_now_ns();
    if (ios != n)
        bench_die("raw: %llu port exits, expected %u", (unsigned long long)ios, n);
    return t1 - t0;
}

static void raw_teardown(struct raw_side *s)
{
    raw_vm_destroy(&s->vm);
    raw_ctx_close(&s->ctx);
}

/* ---- library side ---- */

struct lib_side {
    vmm_vm *vm;
    vmm_vcpu *vcpu;
    vmm_device *dev;
    uint64_t sink;
};

static int sink_pio(vmm_device *dev, vmm_vcpu *vcpu, const struct vmm_io *io, void *user)
{
    (void)dev, (void)vcpu;
    if (!io->is_write)
        return VMM_UNHANDLED;
    *(uint64_t *)user += *(const uint8_t *)io->data;
    return 0;
}

static void lib_setup(struct lib_side *s)
{
    struct vmm_vm_config cfg = VMM_VM_CONFIG_INIT;
    struct vmm_device_ops ops = VMM_DEVICE_OPS_INIT;
    struct vmm_cpu_mode_config mode = VMM_CPU_MODE_CONFIG_INIT(VMM_CPU_MODE_REAL);
    ops.name = "sink";
    ops.pio = sink_pio;
    CHECK(vmm_vm_create(&cfg, &s->vm));
    CHECK(vmm_memory_add_ram(s->vm, 0, RAM_SIZE, 0, NULL));
    CHECK(vmm_memory_write(s->vm, LOAD_GPA, guest, sizeof(guest)));
    CHECK(vmm_device_attach(s->vm, &ops, &s->sink, &s->dev));
    CHECK(vmm_device_map_pio(s->dev, PORT, 1));
    CHECK(vmm_vm_get_vcpu(s->vm, 0, &s->vcpu));
    CHECK(vmm_vcpu_set_cpu_mode(s->vcpu, &mode));
}

static uint64_t lib_once(struct lib_side *s, uint32_t n)
{
    struct vmm_exit exit;
    struct vmm_device_stats before = { .struct_size = sizeof(before) }, after = before;
    CHECK(vmm_device_get_stats(s->dev, &before));
    CHECK(vmm_vcpu_set_reg(s->vcpu, VMM_REG_RIP, LOAD_GPA));
    uint64_t t0 = bench_now_ns();
    int r = vmm_vcpu_run(s->vcpu, &exit);
    uint64_t t1 = bench_now_ns();
    CHECK(r);
    if (exit.reason != VMM_EXIT_HLT)
        bench_die("lib: guest stopped with %s, expected hlt", vmm_exit_reason_name(exit.reason));
    CHECK(vmm_device_get_stats(s->dev, &after));
    if (after.pio_writes - before.pio_writes != n)
        bench_die("lib: %llu port writes, expected %u",
                  (unsigned long long)(after.pio_writes - before.pio_writes), n);
    return t1 - t0;
}

static void lib_teardown(struct lib_side *s)
{
    vmm_vm_destroy(s->vm);
}

static void usage(void)
{
    fprintf(stderr, "usage: exit_roundtrip [--mode both|raw|lib] [-n N] [-r RUNS]\n");
    exit(2);
}

static void report(const char *name, double *v, size_t n)
{
    double med = bench_median(v, n);
    printf("%-16s median %8.1f ns/exit   (p10 %8.1f, p90 %8.1f, min %8.1f)\n", name, med,
           bench_quantile(v, n, 0.1), bench_quantile(v, n, 0.9), v[0]);
}

int main(int argc, char **argv)
{
    const char *mode = "both";
    long n = 20000, runs = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mode") && i + 1 < argc)
            mode = argv[++i];
        else if (!strncmp(argv[i], "--mode=", 7))
            mode = argv[i] + 7;
        else if (!strcmp(argv[i], "-n") && i + 1 < argc)
            n = strtol(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "-r") && i + 1 < argc)
            runs = strtol(argv[++i], NULL, 0);
        else
            usage();
    }
    if (n < 1 || n > 0x7fffffff)
        bench_die("N must be 1 .. 2^31-1");
    set_count((uint32_t)n);

    if (!strcmp(mode, "raw") || !strcmp(mode, "lib")) {
        if (runs < 1)
            runs = 1;
        uint64_t total = 0;
        if (mode[0] == 'r') {
            struct raw_side s;
            raw_setup(&s);
            for (long i = 0; i < runs; i++)
                total += raw_once(&s, (uint32_t)n);
            raw_teardown(&s);
        } else {
            struct lib_side s = { 0 };
            lib_setup(&s);
            for (long i = 0; i < runs; i++)
                total += lib_once(&s, (uint32_t)n);
            lib_teardown(&s);
        }
        printf("%s: %ld run(s) of %ld port exits: %.1f ns/exit\n", mode, runs, n,
               (double)total / (double)(runs * n));
        return 0;
    }
    if (strcmp(mode, "both"))
        usage();
    if (runs < 1)
        runs = 21;

    struct raw_side rs;
    struct lib_side ls = { 0 };
    raw_setup(&rs);
    lib_setup(&ls);
    raw_once(&rs, (uint32_t)n); /* warm-up: page faults, caches, branch predictors */
    lib_once(&ls, (uint32_t)n);

    double *raw = calloc((size_t)runs, sizeof(double));
    double *lib = calloc((size_t)runs, sizeof(double));
    double *pair = calloc((size_t)runs, sizeof(double));
    if (!raw || !lib || !pair)
        bench_die("out of memory");
    for (long i = 0; i < runs; i++) {
        /* Alternate which side goes first so that drift hits both alike. */
        if (i % 2) {
            lib[i] = (double)lib_once(&ls, (uint32_t)n) / (double)n;
            raw[i] = (double)raw_once(&rs, (uint32_t)n) / (double)n;
        } else {
            raw[i] = (double)raw_once(&rs, (uint32_t)n) / (double)n;
            lib[i] = (double)lib_once(&ls, (uint32_t)n) / (double)n;
        }
        pair[i] = lib[i] / raw[i];
    }
    lib_teardown(&ls);
    raw_teardown(&rs);

    printf("exit_roundtrip: %ld port-write exits per run, %ld runs per side (interleaved)\n", n,
           runs);
    report("raw ioctl loop", raw, (size_t)runs);
    report("libvmm device", lib, (size_t)runs);
    double ratio = bench_median(lib, (size_t)runs) / bench_median(raw, (size_t)runs);
    double pmed = bench_median(pair, (size_t)runs);
    printf("ratio libvmm/raw: %.3f (median of per-run pairs %.3f; target <= 1.05): %s\n", ratio,
           pmed, ratio <= 1.05 ? "met" : "MISSED");
    free(raw);
    free(lib);
    free(pair);
    return 0;
}
