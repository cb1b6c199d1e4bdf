/* memory_overhead: host memory each idle VM costs beyond the guest RAM it
 * touched, with many VMs alive at once.
 *
 * In a fresh child process per measurement: create and destroy one VM (so
 * that one-time, per-process work is not counted), read the resident set
 * size, then create VMS VMs (1 vCPU, 1 MiB RAM at GPA 0 each), load a
 * one-byte guest (hlt) at 0x1000 in each and run it to HLT, and keep them
 * all alive. Read the RSS again and subtract the guest RAM pages that are
 * resident (counted exactly with mincore() over every VM's RAM mapping):
 *     per VM = (RSS after - RSS before - resident guest RAM) / VMS
 * The libvmm side is compared with raw-ioctl VMs (bench_common.h) measured
 * the same way. RSS comes from /proc/self/statm; the Anonymous and file
 * (kvm_run mappings, shared libraries) parts from /proc/self/smaps_rollup.
 * Kernel memory (KVM's per-VM and per-vCPU structures, its page tables) is
 * not in the RSS; the system-wide growth of Slab + PageTables + SecPageTables
 * in /proc/meminfo is printed as an indication only.
 *
 * Usage: memory_overhead [-v VMS] [-r REPS]   (defaults 100 and 5) */
#include "bench_common.h"

#include <dirent.h>
#include <sys/wait.h>
#include <vmm/vmm.h>

#define LOAD_GPA 0x1000
#define RAM_SIZE (1u << 20)

static const uint8_t hlt = 0xf4;
static long page_size;

struct sample {
    double rss_kib;      /* statm resident */
    double anon_kib;     /* smaps_rollup Anonymous */
    double kernel_kib;   /* meminfo Slab + PageTables + SecPageTables (system-wide) */
    long fds;
};

struct result {
    double per_vm_kib;       /* (RSS delta - guest RAM resident) / VMs */
    double anon_per_vm_kib;  /* (Anonymous delta - guest RAM resident) / VMs */
    double guest_kib_per_vm; /* resident guest RAM per VM */
    double kernel_per_vm_kib;
    double fds_per_vm;
};

static double field_kib(const char *path, const char *const *keys)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[256];
    double sum = 0;
    while (fgets(line, sizeof(line), f)) {
        for (const char *const *k = keys; *k; k++) {
            size_t n = strlen(*k);
            if (!strncmp(line, *k, n) && line[n] == ':')
                sum += strtod(line + n + 1, NULL);
        }
    }
    fclose(f);
    return sum;
}

static long count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    long n = 0;
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n - 2;
}

static struct sample take_sample(void)
{
    static const char *const anon[] = { "Anonymous", NULL };
    static const char *const kern[] = { "Slab", "PageTables", "SecPageTables", NULL };
    struct sample s = { 0 };
    unsigned long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%lu %lu", &size, &resident) != 2)
        bench_die("cannot read /proc/self/statm");
    fclose(f);
    s.rss_kib = (double)resident * (double)page_size / 1024.0;
    s.anon_kib = field_kib("/proc/self/smaps_rollup", anon);
    s.kernel_kib = field_kib("/proc/meminfo", kern);
    s.fds = count_fds();
    return s;
}

/* Resident pages of [p, p + len). */
static long resident_pages(void *p, size_t len)
{
    size_t n = (len + (size_t)page_size - 1) / (size_t)page_size;
    unsigned char vec[RAM_SIZE / 4096 + 1];
    if (n > sizeof(vec))
        bench_die("mapping too large for mincore buffer");
    if (mincore(p, len, vec) < 0)
        bench_die("mincore: %s", strerror(errno));
    long r = 0;
    for (size_t i = 0; i < n; i++)
        r += vec[i] & 1;
    return r;
}

/* ---- one VM of each kind ---- */

static struct raw_ctx raw;

static void raw_make(struct raw_vm *vm)
{
    uint64_t sink = 0;
    raw_vm_create(&raw, vm, RAM_SIZE);
    vm->mem[LOAD_GPA] = hlt;
    raw_vm_real_mode(vm, LOAD_GPA);
    raw_vm_run_to_hlt(vm, &sink);
}

static void lib_make(vmm_vm **out, void **hva)
{
    struct vmm_vm_config cfg = VMM_VM_CONFIG_INIT;
    struct vmm_cpu_mode_config mode = VMM_CPU_MODE_CONFIG_INIT(VMM_CPU_MODE_REAL);
    struct vmm_exit exit;
    vmm_vcpu *vcpu;
    CHECK(vmm_vm_create(&cfg, out));
    CHECK(vmm_memory_add_ram(*out, 0, RAM_SIZE, 0, hva));
    CHECK(vmm_memory_write(*out, LOAD_GPA, &hlt, 1));
    CHECK(vmm_vm_get_vcpu(*out, 0, &vcpu));
    CHECK(vmm_vcpu_set_cpu_mode(vcpu, &mode));
    CHECK(vmm_vcpu_set_reg(vcpu, VMM_REG_RIP, LOAD_GPA));
    CHECK(vmm_vcpu_run(vcpu, &exit));
    if (exit.reason != VMM_EXIT_HLT)
        bench_die("lib: guest stopped with %s, expected hlt", vmm_exit_reason_name(exit.reason));
}

/* Runs in the child: measures one side. */
static struct result measure(int lib, int nvms)
{
    struct raw_vm *rvms = calloc((size_t)nvms + 1, sizeof(*rvms));
    vmm_vm **lvms = calloc((size_t)nvms + 1, sizeof(*lvms));
    void **hvas = calloc((size_t)nvms + 1, sizeof(*hvas));
    if (!rvms || !lvms || !hvas)
        bench_die("out of memory");
    if (!lib)
        raw_ctx_open(&raw, 0);
    /* Warm-up VM: one-time per-process costs (capability probe, CPUID table,
     * signal handler, library pages) stay out of the per-VM figure. */
    if (lib) {
        lib_make(&lvms[0], &hvas[0]);
        vmm_vm_destroy(lvms[0]);
    } else {
        raw_make(&rvms[0]);
        raw_vm_destroy(&rvms[0]);
    }

    struct sample before = take_sample();
    for (int i = 0; i < nvms; i++) {
        if (lib)
            lib_make(&lvms[i], &hvas[i]);
        else
            raw_make(&rvms[i]);
    }
    struct sample after = take_sample();
    long guest_pages = 0;
    for (int i = 0; i < nvms; i++)
        guest_pages += lib ? resident_pages(hvas[i], RAM_SIZE)
                           : resident_pages(rvms[i].mem, RAM_SIZE);
    double guest_kib = (double)guest_pages * (double)page_size / 1024.0;

    struct result r = {
        .per_vm_kib = (after.rss_kib - before.rss_kib - guest_kib) / nvms,
        .anon_per_vm_kib = (after.anon_kib - before.anon_kib - guest_kib) / nvms,
        .guest_kib_per_vm = guest_kib / nvms,
        .kernel_per_vm_kib = (after.kernel_kib - before.kernel_kib) / nvms,
        .fds_per_vm = (double)(after.fds - before.fds) / nvms,
    };
    for (int i = 0; i < nvms; i++) {
        if (lib)
            vmm_vm_destroy(lvms[i]);
        else
            raw_vm_destroy(&rvms[i]);
    }
    if (!lib)
        raw_ctx_close(&raw);
    free(rvms);
    free(lvms);
    free(hvas);
    return r;
}

static struct result measure_in_child(int lib, int nvms)
{
    int p[2];
    if (pipe(p) < 0)
        bench_die("pipe: %s", strerror(errno));
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        bench_die("fork: %s", strerror(errno));
    if (pid == 0) {
        close(p[0]);
        struct result r = measure(lib, nvms);
        if (write(p[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
            _exit(1);
        _exit(0);
    }
    close(p[1]);
    struct result r;
    ssize_t got = read(p[0], &r, sizeof(r));
    close(p[0]);
    int status;
    waitpid(pid, &status, 0);
    if (got != (ssize_t)sizeof(r) || !WIFEXITED(status) || WEXITSTATUS(status))
        bench_die("%s measurement failed", lib ? "libvmm" : "raw");
    return r;
}

static void report(const char *name, struct result *v, int reps)
{
    double per[reps], anon[reps], guest[reps], kern[reps], fds[reps];
    for (int i = 0; i < reps; i++) {
        per[i] = v[i].per_vm_kib;
        anon[i] = v[i].anon_per_vm_kib;
        guest[i] = v[i].guest_kib_per_vm;
        kern[i] = v[i].kernel_per_vm_kib;
        fds[i] = v[i].fds_per_vm;
    }
    double m = bench_median(per, (size_t)reps);
    printf("%-7s RSS per VM beyond guest RAM: median %7.1f KiB (min %7.1f, max %7.1f);"
           " anonymous %6.1f KiB; guest RAM resident %5.1f KiB; fds %.1f;"
           " kernel (indicative) %7.1f KiB\n",
           name, m, per[0], per[reps - 1], bench_median(anon, (size_t)reps),
           bench_median(guest, (size_t)reps), bench_median(fds, (size_t)reps),
           bench_median(kern, (size_t)reps));
}

int main(int argc, char **argv)
{
    int nvms = 100, reps = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-v") && i + 1 < argc)
            nvms = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-r") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: memory_overhead [-v VMS] [-r REPS]\n");
            return 2;
        }
    }
    if (nvms < 1 || reps < 1 || reps > 100)
        bench_die("VMS and REPS must be positive (REPS at most 100)");
    page_size = sysconf(_SC_PAGESIZE);
    /* Each VM holds a VM fd and a vCPU fd (and the library maybe more). */
    bench_need_fds((unsigned long)nvms * 4 + 64);

    struct result raw_r[reps], lib_r[reps];
    for (int i = 0; i < reps; i++) {
        raw_r[i] = measure_in_child(0, nvms);
        lib_r[i] = measure_in_child(1, nvms);
    }
    printf("memory_overhead: %d idle VMs alive (1 vCPU, 1 MiB RAM, ran a hlt guest), %d reps"
           " per side, each in a fresh process\n", nvms, reps);
    report("raw", raw_r, reps);
    report("libvmm", lib_r, reps);
    double per_raw[reps], per_lib[reps];
    for (int i = 0; i < reps; i++) {
        per_raw[i] = raw_r[i].per_vm_kib;
        per_lib[i] = lib_r[i].per_vm_kib;
    }
    double mr = bench_median(per_raw, (size_t)reps), ml = bench_median(per_lib, (size_t)reps);
    printf("libvmm - raw: %+.1f KiB per VM; ratio libvmm/raw: %.2f\n", ml - mr,
           mr > 0 ? ml / mr : 0.0);
    printf("target: libvmm <= 256 KiB per VM: %s\n", ml <= 256 ? "met" : "MISSED");
    return 0;
}
