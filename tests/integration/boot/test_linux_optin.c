/* Opt-in: boot a real Linux kernel on platform PC with the built-in 16550A
 * on COM1 and wait for a marker on the serial console (printed by your
 * initramfs). Not part of CI: on the development machines guest CPL0 code
 * is emulated (docs/testing.md), so a stock kernel takes many minutes or does not
 * get through at all. See docs/testing-boot.md.
 *
 *   VMM_TEST_LINUX_KERNEL   bzImage / vmlinux (required, else the test skips)
 *   VMM_TEST_LINUX_INITRD   initramfs (optional)
 *   VMM_TEST_LINUX_MARKER   string to wait for (default "libvmm-initramfs-ok")
 *   VMM_TEST_LINUX_TIMEOUT  seconds (default 900)
 *   VMM_TEST_LINUX_CMDLINE  (default "console=ttyS0 panic=-1 reboot=k")
 *   VMM_TEST_LINUX_RAM_MIB  (default 512)
 *   VMM_TEST_LINUX_VCPUS    (default 1)
 *   VMM_TEST_LINUX_ECHO     set to 1 to copy the console to stderr
 *   VMM_TEST_LINUX_EXTRACT  set to 1 to decompress a bzImage on the host and
 *                           enter its vmlinux through PVH
 *                           (VMM_BOOT_F_BZIMAGE_EXTRACT)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vmm/vmm.h>
#include <vmm/devices/legacy.h>
#include <vmm/devices/serial.h>
#include <vmm/loader.h>
#include <vmm/pc.h>

#define CONSOLE_MAX (4u << 20) /* keep the last 4 MiB of console output */

struct console {
    pthread_mutex_t lock;
    char *buf;
    size_t len;
    int echo;
    double t_first;
};

struct runner {
    vmm_vm *vm;
    struct vmm_exit exit;
    int rc;
    int done; /* set by the run thread (atomic) */
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return (v != NULL && v[0] != '\0') ? v : dflt;
}

static int console_out(vmm_vcpu *vcpu, const uint8_t *data, size_t len, void *user)
{
    (void)vcpu;
    struct console *c = user;
    pthread_mutex_lock(&c->lock);
    if (c->t_first == 0)
        c->t_first = now();
    if (c->len + len > CONSOLE_MAX) {
        /* Drop the oldest half; the marker is looked for as text arrives. */
        size_t keep = CONSOLE_MAX / 2;
        memmove(c->buf, c->buf + c->len - keep, keep);
        c->len = keep;
    }
    if (len > CONSOLE_MAX / 2)
        len = CONSOLE_MAX / 2;
    memcpy(c->buf + c->len, data, len);
    c->len += len;
    c->buf[c->len] = '\0';
    pthread_mutex_unlock(&c->lock);
    if (c->echo)
        (void)!fwrite(data, 1, len, stderr);
    return 0;
}

static void *run_thread(void *arg)
{
    struct runner *r = arg;
    r->rc = vmm_vm_run(r->vm, &r->exit);
    __atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void test_boot_linux(void **state)
{
    (void)state;
    const char *kernel = getenv("VMM_TEST_LINUX_KERNEL");
    if (kernel == NULL || kernel[0] == '\0') {
        print_message("SKIP: opt-in test. Set VMM_TEST_LINUX_KERNEL=/path/to/bzImage (and "
                      "optionally VMM_TEST_LINUX_INITRD=/path/to/initramfs whose init prints "
                      "VMM_TEST_LINUX_MARKER, default \"libvmm-initramfs-ok\"; "
                      "VMM_TEST_LINUX_TIMEOUT seconds, default 900) to boot it; see "
                      "docs/testing-boot.md\n");
        skip();
    }
    const char *initrd = getenv("VMM_TEST_LINUX_INITRD");
    if (initrd != NULL && initrd[0] == '\0')
        initrd = NULL;
    const char *marker = env_or("VMM_TEST_LINUX_MARKER", "libvmm-initramfs-ok");
    const char *cmdline = env_or("VMM_TEST_LINUX_CMDLINE", "console=ttyS0 panic=-1 reboot=k");
    double timeout = strtod(env_or("VMM_TEST_LINUX_TIMEOUT", "900"), NULL);
    uint64_t ram_mib = strtoull(env_or("VMM_TEST_LINUX_RAM_MIB", "512"), NULL, 10);
    uint32_t vcpus = (uint32_t)strtoul(env_or("VMM_TEST_LINUX_VCPUS", "1"), NULL, 10);
    uint32_t flags = atoi(env_or("VMM_TEST_LINUX_EXTRACT", "0")) == 1 ? VMM_BOOT_F_BZIMAGE_EXTRACT
                                                                       : 0;
    assert_true(timeout > 0 && ram_mib >= 2 && ram_mib % 2 == 0 && vcpus >= 1);

    struct console con = { .echo = atoi(env_or("VMM_TEST_LINUX_ECHO", "0")) == 1 };
    pthread_mutex_init(&con.lock, NULL);
    con.buf = malloc(CONSOLE_MAX + 1);
    assert_non_null(con.buf);
    con.buf[0] = '\0';

    double t0 = now();
    struct vmm_vm_config cfg = VMM_VM_CONFIG_INIT;
    cfg.platform = VMM_PLATFORM_PC;
    cfg.flags = VMM_VM_F_OPEN_BUS; /* Linux probes ports nothing claims */
    cfg.num_vcpus = vcpus;
    vmm_vm *vm = NULL;
    int rc = vmm_vm_create(&cfg, &vm);
    if (rc != 0) {
        print_message("SKIP: cannot create a PC VM here: %s\n", vmm_last_error());
        skip();
    }
    struct vmm_serial_config sc = VMM_SERIAL_CONFIG_INIT;
    sc.out_fn = console_out;
    sc.out_user = &con;
    struct vmm_boot_info info = { .struct_size = sizeof info };
    if ((rc = vmm_pc_add_ram(vm, ram_mib << 20)) != 0 ||
        (rc = vmm_serial_attach(vm, &sc, NULL)) != 0 || (rc = vmm_i8042_attach(vm, NULL)) != 0 ||
        (rc = vmm_rtc_attach(vm, NULL)) != 0 ||
        (rc = vmm_boot_load_files(vm, kernel, initrd, cmdline, flags, &info)) != 0)
        fail_msg("setting up the VM: %s", vmm_last_error());
    double t_loaded = now();
    print_message("loaded %s (format %u, entry %#" PRIx64 ", kernel at %#" PRIx64 ") in %.1f ms; "
                  "waiting up to %.0f s for \"%s\"\n", kernel, info.format, (uint64_t)info.entry,
                  (uint64_t)info.kernel_gpa, (t_loaded - t0) * 1e3, timeout, marker);

    struct runner r = { .vm = vm };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_thread, &r), 0);
    int found = 0;
    double t_found = 0;
    while (!__atomic_load_n(&r.done, __ATOMIC_ACQUIRE) && now() - t0 < timeout) {
        usleep(100 * 1000);
        pthread_mutex_lock(&con.lock);
        found = strstr(con.buf, marker) != NULL;
        pthread_mutex_unlock(&con.lock);
        if (found) {
            t_found = now();
            break;
        }
    }
    vmm_vm_stop(vm);
    pthread_join(th, NULL);
    if (!found) /* the guest may have printed it and powered off at once */
        found = strstr(con.buf, marker) != NULL;
    if (found && t_found == 0)
        t_found = now();

    if (con.t_first != 0)
        print_message("first console byte after %.2f s; ", con.t_first - t0);
    print_message("run ended: %s (rc %d)\n", r.done ? vmm_exit_reason_name(r.exit.reason)
                                                    : "still running, stopped", r.rc);
    if (!found) {
        size_t tail = con.len > 4096 ? con.len - 4096 : 0;
        print_message("---- last console output ----\n%s\n----\n", con.buf + tail);
        fail_msg("\"%s\" did not appear within %.0f s", marker, timeout);
    }
    print_message("marker \"%s\" after %.2f s from vmm_vm_create\n", marker, t_found - t0);
    vmm_vm_destroy(vm);
    free(con.buf);
    pthread_mutex_destroy(&con.lock);
}

int main(void)
{
    const char *kernel = getenv("VMM_TEST_LINUX_KERNEL");
    if (kernel == NULL || kernel[0] == '\0') {
        /* 77: meson reports the test as skipped, not passed. */
        printf("SKIP: opt-in test. Set VMM_TEST_LINUX_KERNEL=/path/to/bzImage (see "
               "docs/testing-boot.md, \"Opt-in: booting a real Linux kernel\")\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_boot_linux),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
