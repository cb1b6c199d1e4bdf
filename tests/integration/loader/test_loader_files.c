/* vmm_boot_load_files() with hostile paths and files: missing files and
 * directories are refused naming the path; an empty file is not an image;
 * a file bigger than RAM (sparse, up to 64 GiB) is refused without being
 * read; /dev/zero does not make it read forever; nothing is written to the
 * guest and no descriptor is leaked. */
#include "loader_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char g_dir[64];
static struct img g_bz, g_pvh;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    long n = 0;
    if (d == NULL)
        return -1;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

static const char *path_of(const char *name)
{
    static __thread char p[4][256];
    static __thread int i;
    i = (i + 1) % 4;
    snprintf(p[i], sizeof p[i], "%s/%s", g_dir, name);
    return p[i];
}

static void write_file(const char *name, const void *data, size_t len)
{
    FILE *f = fopen(path_of(name), "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void sparse_file(const char *name, off_t size, const void *head, size_t head_len)
{
    int fd = open(path_of(name), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    if (head_len)
        assert_int_equal(write(fd, head, head_len), (ssize_t)head_len);
    assert_int_equal(ftruncate(fd, size), 0);
    close(fd);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/libvmm-loader-XXXXXX");
    if (mkdtemp(g_dir) == NULL)
        return -1;
    img_build(&g_bz, IMG_BZIMAGE, NULL);
    img_build(&g_pvh, IMG_ELF64_PVH, NULL);
    write_file("bzImage", g_bz.buf, g_bz.size);
    write_file("pvh.elf", g_pvh.buf, g_pvh.size);
    write_file("initrd", l_initrd(), L_INITRD_SIZE);
    write_file("empty", "", 0);
    assert_int_equal(mkdir(path_of("a-directory"), 0755), 0);
    sparse_file("big-kernel", (off_t)L_RAM + 4096, g_bz.buf, g_bz.size);
    sparse_file("huge-kernel", (off_t)64 << 30, g_bz.buf, g_bz.size);
    sparse_file("big-initrd", (off_t)L_RAM + 4096, NULL, 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    static const char *names[] = {"bzImage", "pvh.elf", "initrd", "empty", "big-kernel",
                                  "huge-kernel", "big-initrd"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        unlink(path_of(names[i]));
    rmdir(path_of("a-directory"));
    rmdir(g_dir);
    img_free(&g_bz);
    img_free(&g_pvh);
    return 0;
}

/* One vmm_boot_load_files() with the invariants of lvm_load(). */
static int load_files(struct lvm *v, const char *kernel, const char *initrd, const char *cmdline,
                      char *msg, const char *what)
{
    struct lvm_mark m;
    struct vmm_boot_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    lvm_mark(v, &m, 1);
    double t0 = now();
    int rc = vmm_boot_load_files(v->vm, kernel, initrd, cmdline, 0, &info);
    double dt = now() - t0;
    snprintf(msg, 512, "%s", vmm_last_error());
    l_report(what, rc, msg);
    v->loads++;
    if (rc == 0)
        v->ok++;
    else
        v->failed++;
    if (dt > 5.0)
        fail_msg("%s: took %.1f s", what, dt);
    if (rc == 0) {
        lvm_restore(v);
        return 0;
    }
    lvm_expect_unchanged(v, &m, rc, msg, what);
    return rc;
}

static void expect_names(const char *what, const char *msg, const char *path)
{
    if (strstr(msg, path) == NULL)
        fail_msg("%s: the message does not name %s: \"%s\"", what, path, msg);
}

static void files_cases(uint32_t platform)
{
    struct lvm v;
    char msg[512];
    int rc;
    lvm_new(&v, platform, L_RAM);
    print_message("vmm_boot_load_files on platform %s:\n", lvm_platform_name(&v));
    long fds = fd_count();

    /* The good ones load, and lvm_check_loaded() agrees with the bytes. */
    {
        struct vmm_boot_info info;
        memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        rc = vmm_boot_load_files(v.vm, path_of("bzImage"), path_of("initrd"), L_CMDLINE, 0,
                                 &info);
        l_report("bzImage + initrd files", rc, vmm_last_error());
        if (rc != 0)
            fail_msg("bzImage + initrd files: %s", vmm_last_error());
        struct vmm_boot_config c = l_cfg(&g_bz, VMM_IMAGE_AUTO);
        lvm_check_loaded(&v, &c, &info, "bzImage + initrd files");
        lvm_restore(&v);
    }
    rc = load_files(&v, path_of("pvh.elf"), NULL, NULL, msg, "pvh.elf, no initrd, no cmdline");
    l_expect("pvh.elf", rc, msg, 0, 0, NULL);

    const char *missing = path_of("no-such-kernel");
    rc = load_files(&v, missing, NULL, NULL, msg, "missing kernel file");
    l_expect("missing kernel file", rc, msg, -ENOENT, 0, NULL);
    expect_names("missing kernel file", msg, missing);

    const char *missing_rd = path_of("no-such-initrd");
    rc = load_files(&v, path_of("bzImage"), missing_rd, NULL, msg, "missing initrd file");
    l_expect("missing initrd file", rc, msg, -ENOENT, 0, NULL);
    expect_names("missing initrd file", msg, missing_rd);

    rc = load_files(&v, path_of("a-directory"), NULL, NULL, msg, "kernel path is a directory");
    if (rc != -EISDIR && rc != -EINVAL && rc != -ENOEXEC)
        fail_msg("a directory: %s (%s), expected -EISDIR, -EINVAL or -ENOEXEC", l_errname(rc),
                 msg);
    expect_names("kernel path is a directory", msg, path_of("a-directory"));
    rc = load_files(&v, path_of("bzImage"), path_of("a-directory"), NULL, msg,
                    "initrd path is a directory");
    if (rc != -EISDIR && rc != -EINVAL && rc != -ENOEXEC)
        fail_msg("a directory: %s (%s), expected -EISDIR, -EINVAL or -ENOEXEC", l_errname(rc),
                 msg);
    expect_names("initrd path is a directory", msg, path_of("a-directory"));

    rc = load_files(&v, path_of("empty"), NULL, NULL, msg, "empty kernel file");
    l_expect("empty kernel file", rc, msg, -ENOEXEC, 0, NULL);
    rc = load_files(&v, path_of("bzImage"), path_of("empty"), NULL, msg, "empty initrd file");
    l_expect("empty initrd file", rc, msg, R_ANY, 0, NULL);

    rc = load_files(&v, path_of("big-kernel"), NULL, NULL, msg,
                    "kernel file of RAM + 4 KiB (sparse)");
    l_expect("kernel file of RAM + 4 KiB", rc, msg, -ENOMEM, 0, NULL);
    rc = load_files(&v, path_of("huge-kernel"), NULL, NULL, msg, "kernel file of 64 GiB (sparse)");
    l_expect("kernel file of 64 GiB", rc, msg, -ENOMEM, 0, NULL);
    rc = load_files(&v, path_of("bzImage"), path_of("big-initrd"), NULL, msg,
                    "initrd file of RAM + 4 KiB (sparse)");
    l_expect("initrd file of RAM + 4 KiB", rc, msg, -ENOMEM, 0, NULL);

    /* A character device that never ends: bounded by RAM, or refused. */
    rc = load_files(&v, "/dev/zero", NULL, NULL, msg, "kernel /dev/zero");
    if (rc == 0)
        fail_msg("/dev/zero loaded as a kernel");
    rc = load_files(&v, path_of("bzImage"), "/dev/zero", NULL, msg, "initrd /dev/zero");
    l_expect("initrd /dev/zero", rc, msg, R_ANY, 0, NULL);

    /* Odd paths. */
    rc = load_files(&v, "", NULL, NULL, msg, "kernel path \"\"");
    l_expect("kernel path \"\"", rc, msg, -ENOENT, 0, NULL);
    char *longp = malloc(PATH_MAX + 64);
    assert_non_null(longp);
    memset(longp, 'a', PATH_MAX + 63);
    longp[0] = '/';
    longp[PATH_MAX + 63] = '\0';
    rc = load_files(&v, longp, NULL, NULL, msg, "kernel path longer than PATH_MAX");
    if (rc >= 0)
        fail_msg("a path longer than PATH_MAX loaded");
    free(longp);

    struct lvm_mark m;
    lvm_mark(&v, &m, 1);
    rc = vmm_boot_load_files(v.vm, NULL, NULL, NULL, 0, NULL);
    snprintf(msg, sizeof msg, "%s", vmm_last_error());
    l_report("kernel_path NULL", rc, msg);
    l_expect("kernel_path NULL", rc, msg, -EINVAL, 0, NULL);
    lvm_expect_unchanged(&v, &m, rc, msg, "kernel_path NULL");
    rc = vmm_boot_load_files(NULL, path_of("bzImage"), NULL, NULL, 0, NULL);
    l_expect("vm NULL", rc, vmm_last_error(), -EINVAL, 0, NULL);
    lvm_mark(&v, &m, 1);
    rc = vmm_boot_load_files(v.vm, path_of("bzImage"), NULL, NULL, 1u << 30, NULL);
    snprintf(msg, sizeof msg, "%s", vmm_last_error());
    l_report("flags bit 30 (unknown)", rc, msg);
    l_expect("flags bit 30", rc, msg, -EINVAL, 0, "flags");
    lvm_expect_unchanged(&v, &m, rc, msg, "flags bit 30");

    long fds_after = fd_count();
    if (fds_after != fds)
        fail_msg("vmm_boot_load_files leaked descriptors: %ld before, %ld after", fds, fds_after);
    lvm_free(&v);
}

static void test_files_pc(void **state)
{
    (void)state;
    files_cases(VMM_PLATFORM_PC);
}

static void test_files_none(void **state)
{
    (void)state;
    files_cases(VMM_PLATFORM_NONE);
}

/* Unreadable file (skipped as root, who reads anything). */
static void test_unreadable(void **state)
{
    (void)state;
    if (geteuid() == 0) {
        print_message("SKIP: running as root, permissions do not apply\n");
        skip();
    }
    struct lvm v;
    char msg[512];
    lvm_new(&v, VMM_PLATFORM_NONE, L_RAM);
    const char *p = path_of("unreadable");
    write_file("unreadable", g_bz.buf, g_bz.size);
    assert_int_equal(chmod(p, 0), 0);
    int rc = load_files(&v, p, NULL, NULL, msg, "unreadable kernel file");
    unlink(p);
    l_expect("unreadable kernel file", rc, msg, -EACCES, 0, NULL);
    expect_names("unreadable kernel file", msg, p);
    lvm_free(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_files_pc, l_teardown),
        cmocka_unit_test_teardown(test_files_none, l_teardown),
        cmocka_unit_test_teardown(test_unreadable, l_teardown),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
