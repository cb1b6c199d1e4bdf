/* loader: how long vmm_boot_load() takes for a real kernel, against the
 * least any loader must do, and how long libvmm and QEMU take from process
 * start to a guest's first serial byte.
 *
 * 1. Load time, in-process, each run into a fresh 256 MiB PC VM (VM creation
 *    and RAM are not timed; the VM is destroyed after each run):
 *      bzImage  vmm_boot_load() of the bzImage + a 1 MiB initrd + command line
 *      memcpy   the same bytes (protected-mode part, initrd, setup header,
 *               command line) copied into the same guest addresses
 *      EXTRACT  vmm_boot_load() with VMM_BOOT_F_BZIMAGE_EXTRACT
 *      xz+copy  liblzma decoding the payload into a host buffer, then the
 *               PT_LOAD segments copied (and their tails zeroed) into RAM
 *    Sides alternate run by run so drift hits both; one warm-up run each.
 *    The bzImage pair runs three times, with RAM prepared (untimed) three
 *    ways: fresh (as libvmm maps it: 2 MiB-aligned with MADV_HUGEPAGE, page
 *    faults on first touch), pre-touched, and MADV_NOHUGEPAGE (4 KiB pages
 *    only: what a loader pays without transparent huge pages).
 * 2. Fork to first serial byte, each side a child process whose stdout is
 *    the guest's COM1 (the parent times fork() to the first byte on the pipe,
 *    and to a marker string, then kills the child):
 *      a tiny Multiboot payload of our own (the boot tests' multiboot.elf,
 *      which writes its report to port 0x3f8 at once): libvmm (this program
 *      re-executed as the VMM) against qemu-system-x86_64 -M microvm and -M pc;
 *      the Debian bzImage: libvmm's 64-bit entry against QEMU's
 *      (real-mode setup code first); and its vmlinux entered through PVH:
 *      libvmm's EXTRACT against QEMU given the extracted vmlinux.
 *    QEMU is optional: without qemu-system-x86_64 on PATH that part is
 *    skipped (Debian package qemu-system-x86).
 *
 * Usage: loader [-k BZIMAGE] [-p PAYLOAD] [-r RUNS] [-t SECONDS] [--no-boot]
 *   -k  kernel (default $VMM_TEST_DEBIAN_KERNEL, else build/debian-kernel/vmlinuz
 *       from scripts/fetch-debian-kernel.sh)
 *   -p  Multiboot payload (default the build's tests/integration/boot/multiboot.elf)
 *   -r  runs per side for the load times (default 21)
 *   -t  timeout for a Linux kernel's first serial byte / marker (default 60)
 *   --no-boot  only part 1
 *   --no-linux-boot  part 2 with the tiny payload only
 * Internal: loader --child KERNEL INITRD|- CMDLINE FLAGS  (the libvmm VMM of
 * part 2: guest COM1 on stdout; accesses no device claims, such as the PCI
 * configuration ports, are answered as QEMU answers unassigned I/O). */
#include "bench_common.h"

#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#include <vmm/vmm.h>
#include <vmm/pc.h>
#include <vmm/devices/legacy.h>
#include <vmm/devices/serial.h>

#ifdef BENCH_HAVE_LZMA
#include <lzma.h>
#endif

#ifndef BENCH_DEBIAN_KERNEL
#define BENCH_DEBIAN_KERNEL "build/debian-kernel/vmlinuz"
#endif
#ifndef BENCH_BOOT_KERNELS_DIR
#define BENCH_BOOT_KERNELS_DIR "build/tests/integration/boot"
#endif

#define MiB (1ull << 20)
#define RAM_SIZE (256 * MiB)
#define INITRD_SIZE MiB
#define CMDLINE "console=ttyS0 earlyprintk=ttyS0"
#define LINUX_MARKER "Linux version"
#define PAYLOAD_MARKER "kernel=multiboot"

static uint8_t *read_whole(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 16 * MiB, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf != NULL) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        cap *= 2;
        uint8_t *nb = realloc(buf, cap);
        if (nb == NULL)
            free(buf);
        buf = nb;
    }
    fclose(f);
    if (buf == NULL)
        bench_die("out of memory reading %s", path);
    *size = n;
    return buf;
}

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p) { return (uint32_t)le16(p) | (uint32_t)le16(p + 2) << 16; }
static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

static vmm_vm *pc_vm(void)
{
    struct vmm_vm_config cfg = VMM_VM_CONFIG_INIT;
    vmm_vm *vm = NULL;
    cfg.platform = VMM_PLATFORM_PC;
    cfg.flags = VMM_VM_F_OPEN_BUS;
    CHECK(vmm_vm_create(&cfg, &vm));
    CHECK(vmm_pc_add_ram(vm, RAM_SIZE));
    return vm;
}

/* How guest RAM is prepared (not timed) before a load is timed. */
enum prep {
    PREP_FRESH,   /* as vmm_pc_add_ram() leaves it: nothing faulted in yet */
    PREP_TOUCHED, /* every page written once: no page faults left to take */
    PREP_SMALL,   /* madvise(MADV_NOHUGEPAGE): 4 KiB pages only */
    PREP_COUNT
};
static const char *const prep_names[PREP_COUNT] = { "fresh RAM", "pre-touched RAM",
                                                    "RAM with MADV_NOHUGEPAGE" };

static void *guest(vmm_vm *vm, uint64_t gpa, uint64_t len);

static vmm_vm *pc_vm_prepared(enum prep prep)
{
    vmm_vm *vm = pc_vm();
    uint64_t low = RAM_SIZE < VMM_PC_MMIO_HOLE_START ? RAM_SIZE : VMM_PC_MMIO_HOLE_START;
    if (prep == PREP_TOUCHED)
        memset(guest(vm, 0, low), 0, low);
    else if (prep == PREP_SMALL && madvise(guest(vm, 0, low), low, MADV_NOHUGEPAGE) != 0)
        bench_die("madvise(MADV_NOHUGEPAGE): %s", strerror(errno));
    return vm;
}

/* ---- part 1: load times ----------------------------------------------------- */

struct image {
    const uint8_t *data;
    size_t size;
    size_t pm_off;              /* (setup_sects + 1) * 512 */
    size_t hdr_end;             /* 0x202 + byte at 0x201 */
    const uint8_t *payload;
    size_t payload_len;
};

static void image_parse(struct image *im, const uint8_t *d, size_t n, const char *path)
{
    memset(im, 0, sizeof *im);
    if (n < 0x270 || le16(d + 0x1fe) != 0xaa55 || le32(d + 0x202) != 0x53726448)
        bench_die("%s is not a bzImage", path);
    im->data = d;
    im->size = n;
    im->pm_off = ((size_t)(d[0x1f1] ? d[0x1f1] : 4) + 1) * 512;
    im->hdr_end = 0x202 + (size_t)d[0x201];
    size_t po = im->pm_off + le32(d + 0x248), pl = le32(d + 0x24c);
    if (im->pm_off >= n || po > n || pl > n - po)
        bench_die("%s: setup_sects or payload fields run past the file", path);
    im->payload = d + po;
    im->payload_len = pl;
}

static uint8_t initrd[INITRD_SIZE];

static double time_load(const struct image *im, uint32_t flags, struct vmm_boot_info *info,
                        enum prep prep)
{
    vmm_vm *vm = pc_vm_prepared(prep);
    struct vmm_boot_config cfg = VMM_BOOT_CONFIG_INIT;
    cfg.flags = flags;
    cfg.kernel = im->data;
    cfg.kernel_size = im->size;
    cfg.initrd = initrd;
    cfg.initrd_size = sizeof initrd;
    cfg.cmdline = CMDLINE;
    memset(info, 0, sizeof *info);
    info->struct_size = sizeof *info;
    uint64_t t0 = bench_now_ns();
    CHECK(vmm_boot_load(vm, &cfg, info));
    uint64_t t1 = bench_now_ns();
    vmm_vm_destroy(vm);
    return (double)(t1 - t0) / 1e3;
}

static void *guest(vmm_vm *vm, uint64_t gpa, uint64_t len)
{
    void *hva = NULL;
    CHECK(vmm_memory_translate(vm, gpa, len, &hva));
    return hva;
}

/* The bytes any bzImage loader must place, copied where vmm_boot_load() put
 * them (@where: a previous load's info). */
static double time_memcpy(const struct image *im, const struct vmm_boot_info *where,
                          enum prep prep)
{
    vmm_vm *vm = pc_vm_prepared(prep);
    size_t clen = strlen(CMDLINE) + 1;
    uint64_t t0 = bench_now_ns();
    memcpy(guest(vm, where->kernel_gpa, im->size - im->pm_off), im->data + im->pm_off,
           im->size - im->pm_off);
    memcpy(guest(vm, where->initrd_gpa, sizeof initrd), initrd, sizeof initrd);
    memcpy((uint8_t *)guest(vm, where->boot_params_gpa, 4096) + 0x1f1, im->data + 0x1f1,
           im->hdr_end - 0x1f1);
    memcpy(guest(vm, where->cmdline_gpa, clen), CMDLINE, clen);
    uint64_t t1 = bench_now_ns();
    vmm_vm_destroy(vm);
    return (double)(t1 - t0) / 1e3;
}

#ifdef BENCH_HAVE_LZMA
/* liblzma alone: the payload into a malloc'ed buffer. */
static uint8_t *xz_decode(const struct image *im, size_t *out_len)
{
    size_t want = le32(im->payload + im->payload_len - 4);
    uint8_t *out = malloc(want + 1);
    lzma_stream s = LZMA_STREAM_INIT;
    if (out == NULL || lzma_stream_decoder(&s, UINT64_MAX, 0) != LZMA_OK)
        bench_die("liblzma set-up failed");
    s.next_in = im->payload;
    s.avail_in = im->payload_len;
    s.next_out = out;
    s.avail_out = want + 1;
    lzma_ret r = lzma_code(&s, LZMA_FINISH);
    *out_len = s.total_out;
    lzma_end(&s);
    if (r != LZMA_STREAM_END || *out_len != want)
        bench_die("liblzma: payload did not decompress (%d, %zu of %zu bytes)", r, *out_len, want);
    return out;
}

/* Decode + place every PT_LOAD segment (ELF64 program headers). */
static double time_xz_copy(const struct image *im, double *decode_us)
{
    vmm_vm *vm = pc_vm_prepared(PREP_FRESH);
    size_t n = 0;
    uint64_t t0 = bench_now_ns();
    uint8_t *e = xz_decode(im, &n);
    uint64_t t1 = bench_now_ns();
    uint64_t phoff = le64(e + 32);
    uint16_t phnum = le16(e + 56);
    for (uint16_t i = 0; i < phnum; i++) {
        const uint8_t *ph = e + phoff + (size_t)i * 56;
        if (le32(ph) != 1)
            continue;
        uint64_t off = le64(ph + 8), paddr = le64(ph + 24), filesz = le64(ph + 32),
                 memsz = le64(ph + 40);
        uint8_t *dst = guest(vm, paddr, memsz);
        memcpy(dst, e + off, filesz);
        memset(dst + filesz, 0, memsz - filesz);
    }
    uint64_t t2 = bench_now_ns();
    free(e);
    vmm_vm_destroy(vm);
    *decode_us = (double)(t1 - t0) / 1e3;
    return (double)(t2 - t0) / 1e3;
}
#endif

struct stats {
    double med, min, max;
};

static struct stats stats_of(double *v, size_t n)
{
    struct stats s;
    s.med = bench_median(v, n);
    s.min = v[0];
    s.max = v[n - 1];
    return s;
}

static void print_stats(const char *name, struct stats s, const char *unit, double scale)
{
    printf("  %-34s median %9.2f %s   (min %9.2f, max %9.2f)\n", name, s.med / scale, unit,
           s.min / scale, s.max / scale);
}

static void part_load(const struct image *im, int runs)
{
    double *lib = calloc((size_t)runs, sizeof(double));
    double *base = calloc((size_t)runs, sizeof(double));
    double *aux = calloc((size_t)runs, sizeof(double));
    struct vmm_boot_info info, where;
    if (lib == NULL || base == NULL || aux == NULL)
        bench_die("out of memory");

    /* VM creation + 256 MiB RAM: context, not part of any figure below. */
    for (int i = 0; i < runs; i++) {
        uint64_t t0 = bench_now_ns();
        vmm_vm *vm = pc_vm();
        aux[i] = (double)(bench_now_ns() - t0) / 1e3;
        vmm_vm_destroy(vm);
    }
    struct stats create = stats_of(aux, (size_t)runs);

    printf("loader: Debian bzImage (%zu bytes) + %llu KiB initrd + command line into a fresh "
           "256 MiB PC VM each run, %d runs per side (interleaved)\n", im->size,
           (unsigned long long)(INITRD_SIZE >> 10), runs);
    print_stats("VM create + 256 MiB RAM (not timed)", create, "ms", 1e3);
    struct stats sl, sb;
    for (int p = 0; p < PREP_COUNT; p++) {
        time_load(im, 0, &where, (enum prep)p); /* warm-up, and where the bytes go */
        time_memcpy(im, &where, (enum prep)p);
        for (int i = 0; i < runs; i++) {
            if (i % 2) {
                base[i] = time_memcpy(im, &where, (enum prep)p);
                lib[i] = time_load(im, 0, &info, (enum prep)p);
            } else {
                lib[i] = time_load(im, 0, &info, (enum prep)p);
                base[i] = time_memcpy(im, &where, (enum prep)p);
            }
            if (info.kernel_gpa != where.kernel_gpa || info.initrd_gpa != where.initrd_gpa)
                bench_die("vmm_boot_load placed the kernel differently from run to run");
        }
        sl = stats_of(lib, (size_t)runs);
        sb = stats_of(base, (size_t)runs);
        printf(" %s:\n", prep_names[p]);
        print_stats("vmm_boot_load (bzImage, 64-bit)", sl, "ms", 1e3);
        print_stats("memcpy of the same bytes", sb, "ms", 1e3);
        printf("  ratio vmm_boot_load/memcpy: %.2f; vmm_boot_load - memcpy: %.2f ms; target "
               "bzImage load < 5 ms: %s\n", sl.med / sb.med, (sl.med - sb.med) / 1e3,
               sl.med < 5000 ? "met" : "MISSED");
    }

    if (!vmm_has_feature(VMM_FEATURE_EXTRACT_XZ)) {
        printf("  EXTRACT: skipped (libvmm built without liblzma)\n");
        goto out;
    }
#ifdef BENCH_HAVE_LZMA
    double *dec = calloc((size_t)runs, sizeof(double));
    if (dec == NULL)
        bench_die("out of memory");
    double d0;
    time_load(im, VMM_BOOT_F_BZIMAGE_EXTRACT, &info, PREP_FRESH); /* warm-up */
    time_xz_copy(im, &d0);
    for (int i = 0; i < runs; i++) {
        if (i % 2) {
            base[i] = time_xz_copy(im, &dec[i]);
            lib[i] = time_load(im, VMM_BOOT_F_BZIMAGE_EXTRACT, &info, PREP_FRESH);
        } else {
            lib[i] = time_load(im, VMM_BOOT_F_BZIMAGE_EXTRACT, &info, PREP_FRESH);
            base[i] = time_xz_copy(im, &dec[i]);
        }
    }
    sl = stats_of(lib, (size_t)runs);
    sb = stats_of(base, (size_t)runs);
    struct stats sd = stats_of(dec, (size_t)runs);
    printf("loader: the same with VMM_BOOT_F_BZIMAGE_EXTRACT (%llu-byte vmlinux, entered "
           "through PVH), fresh RAM, %d runs per side\n", (unsigned long long)info.extracted_size, runs);
    print_stats("vmm_boot_load (EXTRACT)", sl, "ms", 1e3);
    print_stats("liblzma decode + segment copy", sb, "ms", 1e3);
    print_stats("  of which liblzma decode", sd, "ms", 1e3);
    printf("  ratio vmm_boot_load/(decode + copy): %.2f\n", sl.med / sb.med);
    free(dec);
#else
    printf("  EXTRACT: skipped (bench built without liblzma for its baseline)\n");
#endif
out:
    free(lib);
    free(base);
    free(aux);
}

/* ---- part 2: fork to first serial byte ----------------------------------------- */

/* The libvmm side: a PC VM with COM1 on stdout, the i8042, the RTC and the
 * debug-exit port, the image loaded, all vCPUs run. */
static int child_main(int argc, char **argv)
{
    if (argc != 6)
        bench_die("usage: loader --child KERNEL INITRD|- CMDLINE FLAGS");
    size_t ksize = 0, isize = 0;
    uint8_t *k = read_whole(argv[2], &ksize), *rd = NULL;
    if (k == NULL)
        bench_die("cannot read %s", argv[2]);
    if (strcmp(argv[3], "-") != 0 && (rd = read_whole(argv[3], &isize)) == NULL)
        bench_die("cannot read %s", argv[3]);
    vmm_vm *vm = pc_vm();
    struct vmm_serial_config sc = VMM_SERIAL_CONFIG_INIT;
    sc.out_fd = 1;
    CHECK(vmm_serial_attach(vm, &sc, NULL));
    CHECK(vmm_i8042_attach(vm, NULL));
    CHECK(vmm_rtc_attach(vm, NULL));
    CHECK(vmm_debug_exit_attach(vm, VMM_DEBUG_EXIT_PORT, NULL));
    struct vmm_boot_config cfg = VMM_BOOT_CONFIG_INIT;
    struct vmm_boot_info info = { .struct_size = sizeof info };
    cfg.kernel = k;
    cfg.kernel_size = ksize;
    cfg.initrd = rd;
    cfg.initrd_size = isize;
    cfg.cmdline = argv[4];
    cfg.flags = (uint32_t)strtoul(argv[5], NULL, 0);
    CHECK(vmm_boot_load(vm, &cfg, &info));
    free(k);
    free(rd);
    /* Every vCPU on library threads; accesses no device claims are
     * answered as an open bus (the VM has VMM_VM_F_OPEN_BUS, as QEMU
     * answers unassigned I/O). */
    struct vmm_exit exit;
    memset(&exit, 0, sizeof exit);
    int rc = vmm_vm_run(vm, &exit);
    vmm_vcpu *vcpu = NULL;
    uint64_t rip = 0;
    if (vmm_vm_get_vcpu(vm, exit.vcpu_index, &vcpu) == 0)
        vmm_vcpu_get_reg(vcpu, VMM_REG_RIP, &rip);
    struct vmm_vm_stats st = { .struct_size = sizeof st };
    vmm_vm_get_stats(vm, &st);
    fprintf(stderr, "guest run ended: rc %d, %s, vCPU %u at rip %#" PRIx64 ", after %llu "
            "open-bus accesses\n", rc, vmm_exit_reason_name(exit.reason), exit.vcpu_index, rip,
            (unsigned long long)st.exits[VMM_STAT_EXIT_OPEN_BUS]);
    vmm_vm_destroy(vm);
    return 0;
}

struct fb {
    double first;  /* s from fork to the first byte; < 0: none */
    double marker; /* s to the marker; < 0: not seen */
    char head[48]; /* the first bytes, printable */
    char err[160]; /* the child's first stderr line if it produced no byte */
};

/* fork + exec @argv with stdout on a pipe; time the first byte and @marker;
 * kill the child at the marker, at EOF or after @timeout seconds. */
static void first_byte(char *const argv[], const char *marker, double timeout, struct fb *r)
{
    static char buf[1 << 16];
    size_t len = 0;
    int p[2];
    FILE *errf = tmpfile();
    if (pipe2(p, O_CLOEXEC) < 0 || errf == NULL)
        bench_die("pipe/tmpfile: %s", strerror(errno));
    memset(r, 0, sizeof *r);
    r->first = r->marker = -1;
    fflush(stdout);
    uint64_t t0 = bench_now_ns();
    pid_t pid = fork();
    if (pid < 0)
        bench_die("fork: %s", strerror(errno));
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        dup2(p[1], 1);
        dup2(fileno(errf), 2);
        execv(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    for (;;) {
        double left = timeout - (double)(bench_now_ns() - t0) / 1e9;
        if (left <= 0)
            break;
        struct pollfd pfd = { .fd = p[0], .events = POLLIN };
        int n = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        ssize_t got = read(p[0], buf + len, sizeof buf - 1 - len);
        double t = (double)(bench_now_ns() - t0) / 1e9;
        if (got <= 0)
            break;
        if (r->first < 0)
            r->first = t;
        len += (size_t)got;
        buf[len] = '\0';
        if (memmem(buf, len, marker, strlen(marker)) != NULL) {
            r->marker = t;
            break;
        }
        if (len >= sizeof buf - 1)
            len = 0; /* keep reading; the marker will not straddle in practice */
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(p[0]);
    size_t h = 0;
    for (size_t i = 0; i < len && h + 1 < sizeof r->head; i++)
        r->head[h++] = buf[i] >= 0x20 && buf[i] < 0x7f ? buf[i] : '.';
    r->head[h] = '\0';
    if (r->first < 0) {
        rewind(errf);
        if (fgets(r->err, sizeof r->err, errf) == NULL)
            r->err[0] = '\0';
        r->err[strcspn(r->err, "\n")] = '\0';
    }
    fclose(errf);
}

static char *find_in_path(const char *name)
{
    static char path[4096];
    const char *env = getenv("PATH");
    if (env == NULL)
        return NULL;
    for (const char *p = env; *p;) {
        size_t n = strcspn(p, ":");
        snprintf(path, sizeof path, "%.*s/%s", (int)n, p, name);
        if (access(path, X_OK) == 0)
            return path;
        p += n + (p[n] == ':');
    }
    return NULL;
}

struct side {
    const char *name;
    char *argv[24];
};

static void side_qemu(struct side *s, const char *qemu, const char *machine, const char *kernel,
                      const char *initrd, const char *cmdline)
{
    int i = 0;
    s->argv[i++] = (char *)qemu;
    s->argv[i++] = "-M";
    s->argv[i++] = (char *)machine;
    s->argv[i++] = "-accel";
    s->argv[i++] = "kvm";
    s->argv[i++] = "-m";
    s->argv[i++] = "256";
    s->argv[i++] = "-nodefaults";
    s->argv[i++] = "-no-user-config";
    s->argv[i++] = "-nographic";
    s->argv[i++] = "-serial";
    s->argv[i++] = "stdio";
    s->argv[i++] = "-kernel";
    s->argv[i++] = (char *)kernel;
    if (initrd != NULL) {
        s->argv[i++] = "-initrd";
        s->argv[i++] = (char *)initrd;
    }
    s->argv[i++] = "-append";
    s->argv[i++] = (char *)cmdline;
    s->argv[i] = NULL;
}

static void side_lib(struct side *s, const char *self, const char *kernel, const char *initrd,
                     const char *cmdline, const char *flags)
{
    s->argv[0] = (char *)self;
    s->argv[1] = "--child";
    s->argv[2] = (char *)kernel;
    s->argv[3] = (char *)(initrd != NULL ? initrd : "-");
    s->argv[4] = (char *)cmdline;
    s->argv[5] = (char *)flags;
    s->argv[6] = NULL;
}

/* Runs each side @runs times (rotating), prints medians. */
static void race(const char *title, struct side *sides, int nsides, int runs, const char *marker,
                 double timeout)
{
    printf("%s\n", title);
    double first[8][32], mark[8][32];
    int nf[8] = { 0 }, nm[8] = { 0 };
    struct fb last[8];
    if (runs > 32)
        runs = 32;
    for (int r = 0; r < runs; r++)
        for (int j = 0; j < nsides; j++) {
            int i = (j + r) % nsides;
            first_byte(sides[i].argv, marker, timeout, &last[i]);
            if (last[i].first >= 0)
                first[i][nf[i]++] = last[i].first;
            if (last[i].marker >= 0)
                mark[i][nm[i]++] = last[i].marker;
        }
    for (int i = 0; i < nsides; i++) {
        printf("  %-22s", sides[i].name);
        if (nf[i] == 0) {
            printf(" no byte within %.0f s%s%s%s\n", timeout, last[i].err[0] ? " (stderr: " : "",
                   last[i].err, last[i].err[0] ? ")" : "");
            continue;
        }
        struct stats f = stats_of(first[i], (size_t)nf[i]);
        printf(" first byte %8.1f ms (min %8.1f, max %8.1f; %d/%d runs)", f.med * 1e3,
               f.min * 1e3, f.max * 1e3, nf[i], runs);
        if (nm[i] > 0) {
            struct stats m = stats_of(mark[i], (size_t)nm[i]);
            printf("; \"%s\" %8.1f ms", marker, m.med * 1e3);
        } else {
            printf("; no \"%s\" within %.0f s", marker, timeout);
        }
        printf("\n  %-22s first bytes: \"%s\"\n", "", last[i].head);
    }
}

static void part_boot(const char *self, const char *kpath, const struct image *im,
                      const char *payload, double timeout, int linux_boot)
{
    const char *qemu = find_in_path("qemu-system-x86_64");
    char *q = qemu != NULL ? strdup(qemu) : NULL;
    if (q == NULL)
        printf("first serial byte: qemu-system-x86_64 not on PATH (Debian package "
               "qemu-system-x86): QEMU side skipped\n");
    char dir[] = "/tmp/libvmm-bench-loader.XXXXXX";
    if (mkdtemp(dir) == NULL)
        bench_die("mkdtemp: %s", strerror(errno));
    char initrd_path[sizeof dir + 16], vmlinux_path[sizeof dir + 16];
    snprintf(initrd_path, sizeof initrd_path, "%s/initrd", dir);
    snprintf(vmlinux_path, sizeof vmlinux_path, "%s/vmlinux", dir);
    FILE *f = fopen(initrd_path, "wb");
    if (f == NULL || fwrite(initrd, 1, sizeof initrd, f) != sizeof initrd || fclose(f) != 0)
        bench_die("writing %s", initrd_path);

    struct side s[3];
    if (access(payload, R_OK) == 0) {
        memset(s, 0, sizeof s);
        s[0].name = "libvmm";
        side_lib(&s[0], self, payload, initrd_path, "console=ttyS0", "0");
        int n = 1;
        if (q != NULL) {
            s[1].name = "qemu -M microvm";
            side_qemu(&s[1], q, "microvm", payload, initrd_path, "console=ttyS0");
            s[2].name = "qemu -M pc";
            side_qemu(&s[2], q, "pc", payload, initrd_path, "console=ttyS0");
            n = 3;
        }
        char title[4300];
        snprintf(title, sizeof title, "first serial byte: fork to the first COM1 byte of %s "
                 "(Multiboot, 256 MiB, 1 MiB module), 11 runs per side", payload);
        race(title, s, n, 11, PAYLOAD_MARKER, 10);
    } else {
        printf("first serial byte: no payload at %s (build the tests, or pass -p): skipped\n",
               payload);
    }
    if (!linux_boot)
        goto out;

    memset(s, 0, sizeof s);
    s[0].name = "libvmm (64-bit entry)";
    side_lib(&s[0], self, kpath, initrd_path, CMDLINE, "0");
    if (q != NULL) {
        s[1].name = "qemu -M microvm";
        side_qemu(&s[1], q, "microvm", kpath, initrd_path, CMDLINE);
    }
    char title[4300];
    snprintf(title, sizeof title, "first serial byte: the Debian bzImage, -append '%s', "
             "1 run per side, %.0f s timeout", CMDLINE, timeout);
    race(title, s, q != NULL ? 2 : 1, 1, LINUX_MARKER, timeout);

#ifdef BENCH_HAVE_LZMA
    if (vmm_has_feature(VMM_FEATURE_EXTRACT_XZ)) {
        size_t n = 0;
        uint8_t *v = xz_decode(im, &n);
        f = fopen(vmlinux_path, "wb");
        if (f == NULL || fwrite(v, 1, n, f) != n || fclose(f) != 0)
            bench_die("writing %s", vmlinux_path);
        free(v);
        memset(s, 0, sizeof s);
        s[0].name = "libvmm (EXTRACT, PVH)";
        char flags[16];
        snprintf(flags, sizeof flags, "%#x", VMM_BOOT_F_BZIMAGE_EXTRACT);
        side_lib(&s[0], self, kpath, initrd_path, CMDLINE, flags);
        if (q != NULL) {
            s[1].name = "qemu microvm vmlinux";
            side_qemu(&s[1], q, "microvm", vmlinux_path, initrd_path, CMDLINE);
        }
        snprintf(title, sizeof title, "first serial byte: its vmlinux through PVH (libvmm "
                 "extracts the bzImage; QEMU gets the vmlinux file), 1 run per side, %.0f s "
                 "timeout", timeout);
        race(title, s, q != NULL ? 2 : 1, 1, LINUX_MARKER, timeout);
        unlink(vmlinux_path);
    }
#else
    (void)im;
#endif
out:
    unlink(initrd_path);
    rmdir(dir);
    free(q);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--child") == 0)
        return child_main(argc, argv);

    const char *kpath = getenv("VMM_TEST_DEBIAN_KERNEL");
    if (kpath == NULL || kpath[0] == '\0')
        kpath = BENCH_DEBIAN_KERNEL;
    const char *payload = BENCH_BOOT_KERNELS_DIR "/multiboot.elf";
    int runs = 21, boot = 1, linux_boot = 1;
    double timeout = 60;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-k") == 0 && i + 1 < argc)
            kpath = argv[++i];
        else if (strcmp(argv[i], "-p") == 0 && i + 1 < argc)
            payload = argv[++i];
        else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
            timeout = atof(argv[++i]);
        else if (strcmp(argv[i], "--no-boot") == 0)
            boot = 0;
        else if (strcmp(argv[i], "--no-linux-boot") == 0)
            linux_boot = 0;
        else
            bench_die("usage: loader [-k BZIMAGE] [-p PAYLOAD] [-r RUNS] [-t SECONDS] "
                      "[--no-boot] [--no-linux-boot]");
    }
    if (runs < 1 || timeout <= 0)
        bench_die("-r needs at least 1 run and -t a positive timeout");

    size_t ksize = 0;
    uint8_t *k = read_whole(kpath, &ksize);
    if (k == NULL)
        bench_die("no kernel at %s (%s): run scripts/fetch-debian-kernel.sh or pass -k",
                  kpath, strerror(errno));
    char kabs[4096];
    if (realpath(kpath, kabs) == NULL)
        snprintf(kabs, sizeof kabs, "%s", kpath);
    struct image im;
    image_parse(&im, k, ksize, kabs);
    uint32_t x = 0x2545f491u;
    for (size_t i = 0; i < sizeof initrd; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        initrd[i] = (uint8_t)(x >> 11);
    }
    printf("kernel: %s\n", kabs);

    part_load(&im, runs);
    if (boot) {
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0)
            bench_die("readlink /proc/self/exe: %s", strerror(errno));
        self[n] = '\0';
        part_boot(self, kabs, &im, payload, timeout, linux_boot);
    }
    free(k);
    return 0;
}
