/* See boot_util.h. */
#include "boot_util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vmm/pc.h>

#ifndef BOOT_KERNELS_DIR
#error "BOOT_KERNELS_DIR must name the build directory of the test kernels"
#endif

double boot_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- capture device ------------------------------------------------------ */

static int cap_pio(vmm_device *dev, vmm_vcpu *vcpu, const struct vmm_io *io, void *user)
{
    (void)dev;
    struct boot_cap *c = user;
    if (io->addr == BOOT_REPORT_PORT) {
        if (!io->is_write) {
            memset(io->data, 0, io->len);
            return 0;
        }
        if (c->t_first == 0)
            c->t_first = boot_now();
        if (io->len != 1 || c->len + 1 >= sizeof c->text) {
            c->overflow = 1;
            return 0;
        }
        c->text[c->len++] = *(const char *)io->data;
        c->text[c->len] = '\0';
        return 0;
    }
    if (io->addr == BOOT_EXIT_PORT && io->is_write) {
        uint32_t v = 0;
        memcpy(&v, io->data, io->len <= 4 ? io->len : 4);
        c->exited = 1;
        c->exit_code = v;
        return vmm_vcpu_request_exit(vcpu, VMM_REQUEST_DEBUG_EXIT, v);
    }
    if (!io->is_write)
        memset(io->data, 0xff, io->len);
    return 0;
}

static void cap_destroy(void *user)
{
    free(user);
}

static void cap_attach(struct boot_vm *b)
{
    struct vmm_device_ops ops = VMM_DEVICE_OPS_INIT;
    vmm_device *dev = NULL;
    ops.name = "boot-capture";
    ops.pio = cap_pio;
    ops.destroy = cap_destroy;
    b->cap = calloc(1, sizeof *b->cap);
    assert_non_null(b->cap);
    int rc = vmm_device_attach(b->vm, &ops, b->cap, &dev);
    if (rc != 0)
        fail_msg("attach capture device: %s", vmm_last_error());
    if (vmm_device_map_pio(dev, BOOT_REPORT_PORT, 8) != 0 ||
        vmm_device_map_pio(dev, BOOT_EXIT_PORT, 4) != 0)
        fail_msg("map capture ports: %s", vmm_last_error());
}

/* ---- VMs ----------------------------------------------------------------- */

static void fill_garbage(vmm_vm *vm, uint64_t gpa, uint64_t len)
{
    void *hva = NULL;
    int rc = vmm_memory_translate(vm, gpa, len, &hva);
    if (rc != 0)
        fail_msg("translate [%#" PRIx64 ", +%#" PRIx64 "): %s", gpa, len, vmm_last_error());
    memset(hva, BOOT_GARBAGE, len);
}

void boot_require_kvm(void)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        print_message("SKIP: /dev/kvm is not usable here (%s); the boot tests run "
                      "their kernels on KVM\n", strerror(errno));
        skip();
    }
    close(fd);
}

void boot_vm_new(struct boot_vm *b, uint32_t platform, uint32_t nvcpus, uint64_t ram)
{
    struct vmm_vm_config cfg = VMM_VM_CONFIG_INIT;
    memset(b, 0, sizeof *b);
    boot_require_kvm();
    cfg.platform = platform;
    cfg.num_vcpus = nvcpus;
    b->ram = ram;
    b->t_create = boot_now();
    int rc = vmm_vm_create(&cfg, &b->vm);
    if (rc != 0)
        fail_msg("vmm_vm_create: %s", vmm_last_error());
    if (platform == VMM_PLATFORM_PC) {
        rc = vmm_pc_add_ram(b->vm, ram);
        if (rc != 0)
            fail_msg("vmm_pc_add_ram: %s", vmm_last_error());
    } else {
        rc = vmm_memory_add_ram(b->vm, 0, ram, 0, NULL);
        if (rc != 0)
            fail_msg("vmm_memory_add_ram: %s", vmm_last_error());
    }
    /* RAM is not promised to be zero: whatever the loaders hand over (zero
     * page, start info, ELF .bss) they must write themselves. */
    double t0 = boot_now();
    uint32_t n = 0;
    struct vmm_e820_entry *map = boot_e820(b->vm, &n);
    for (uint32_t i = 0; i < n; i++)
        if (map[i].type == VMM_E820_RAM)
            fill_garbage(b->vm, map[i].addr, map[i].size);
    free(map);
    b->t_fill = boot_now() - t0;
    cap_attach(b);
}

void boot_vm_free(struct boot_vm *b)
{
    vmm_vm_destroy(b->vm); /* frees the capture buffer */
    b->vm = NULL;
    b->cap = NULL;
}

/* ---- files ----------------------------------------------------------------- */

const char *boot_kernel_path(const char *name)
{
    static __thread char path[4096];
    const char *dir = getenv("VMM_TEST_BOOT_KERNELS");
    if (dir == NULL || dir[0] == '\0')
        dir = BOOT_KERNELS_DIR;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

uint8_t *boot_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    for (;;) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        cap *= 2;
        buf = realloc(buf, cap);
        assert_non_null(buf);
    }
    fclose(f);
    *size = n;
    return buf;
}

static void fill_seeded(uint8_t *buf, size_t len, uint32_t x)
{
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (uint8_t)x;
    }
}

void boot_fill_initrd(uint8_t *buf, size_t len)
{
    fill_seeded(buf, len, 0x12345678u);
}

const struct vmm_boot_module *boot_modules(void)
{
    static uint8_t one[5001], two[777];
    static struct vmm_boot_module mods[BOOT_NUM_MODULES];
    if (mods[0].data == NULL) {
        fill_seeded(one, sizeof one, 0x9e3779b9u);
        fill_seeded(two, sizeof two, 0x7f4a7c15u);
        mods[0] = (struct vmm_boot_module){ one, sizeof one, "mod-one a=1" };
        mods[1] = (struct vmm_boot_module){ two, sizeof two, NULL };
    }
    return mods;
}

uint8_t *boot_concat_modules(size_t *size)
{
    const struct vmm_boot_module *m = boot_modules();
    size_t pad0 = (BOOT_INITRD_SIZE + 3) & ~(size_t)3, pad1 = (m[0].size + 3) & ~(size_t)3;
    *size = pad0 + pad1 + m[1].size;
    uint8_t *buf = calloc(1, *size);
    assert_non_null(buf);
    boot_fill_initrd(buf, BOOT_INITRD_SIZE);
    memcpy(buf + pad0, m[0].data, m[0].size);
    memcpy(buf + pad0 + pad1, m[1].data, m[1].size);
    return buf;
}

uint32_t boot_fnv1a(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint32_t h = 0x811c9dc5u;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x01000193u;
    }
    return h;
}

/* ---- running and the report ------------------------------------------------ */

void boot_run_ok(struct boot_vm *b, struct vmm_exit *exit)
{
    memset(exit, 0, sizeof *exit);
    int rc = vmm_vm_run(b->vm, exit);
    const struct boot_cap *c = b->cap;
    int ok = rc == 0 && exit->reason == VMM_EXIT_REQUEST &&
             exit->request.kind == VMM_REQUEST_DEBUG_EXIT &&
             exit->request.value == BOOT_EXIT_OK && c->exited && !c->overflow &&
             c->len >= 5 && strcmp(c->text + c->len - 5, "done\n") == 0;
    if (!ok) {
        print_message("---- kernel report (%zu bytes) ----\n%s\n----\n", c->len, c->text);
        fail_msg("run: rc %d (%s%s%s), exit %s (kind %u value %#" PRIx64 "), vcpu %u, "
                 "exit port %s (0x600d = all reported, 0xbad1 = entered at the PVH "
                 "kernel's e_entry)",
                 rc, vmm_strerror(rc), rc ? ": " : "", rc ? vmm_last_error() : "",
                 vmm_exit_reason_name(exit->reason), exit->request.kind,
                 (uint64_t)exit->request.value, exit->vcpu_index,
                 c->exited ? "written" : "never written");
    }
}

const char *boot_get(const struct boot_cap *c, const char *key)
{
    static __thread char val[4096];
    size_t klen = strlen(key);
    const char *p = c->text;
    while (*p != '\0') {
        const char *eol = strchr(p, '\n');
        size_t llen = eol ? (size_t)(eol - p) : strlen(p);
        if (llen > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
            size_t vlen = llen - klen - 1;
            if (vlen >= sizeof val)
                vlen = sizeof val - 1;
            memcpy(val, p + klen + 1, vlen);
            val[vlen] = '\0';
            return val;
        }
        if (eol == NULL)
            break;
        p = eol + 1;
    }
    return NULL;
}

uint64_t boot_value(const struct boot_cap *c, const char *key)
{
    const char *v = boot_get(c, key);
    if (v == NULL) {
        print_message("---- kernel report ----\n%s----\n", c->text);
        fail_msg("the kernel did not report \"%s\"", key);
    }
    char *end = NULL;
    uint64_t x = strtoull(v, &end, 16);
    if (strncmp(v, "0x", 2) != 0 || end == NULL || *end != '\0')
        fail_msg("\"%s\" is not a hex number: \"%s\"", key, v);
    return x;
}

void boot_expect(const struct boot_cap *c, const char *key, uint64_t v)
{
    uint64_t got = boot_value(c, key);
    if (got != v)
        fail_msg("%s: the kernel saw %#" PRIx64 ", expected %#" PRIx64, key, got, v);
}

void boot_expect_str(const struct boot_cap *c, const char *key, const char *s)
{
    const char *v = boot_get(c, key);
    if (v == NULL)
        fail_msg("the kernel did not report \"%s\"", key);
    if (strcmp(v, s) != 0)
        fail_msg("%s: the kernel saw \"%s\", expected \"%s\"", key, v, s);
}

uint64_t boot_value_i(const struct boot_cap *c, const char *prefix, uint32_t i, const char *field)
{
    char key[128];
    snprintf(key, sizeof key, "%s%u.%s", prefix, i, field);
    return boot_value(c, key);
}

void boot_expect_i(const struct boot_cap *c, const char *prefix, uint32_t i, const char *field,
                   uint64_t v)
{
    char key[128];
    snprintf(key, sizeof key, "%s%u.%s", prefix, i, field);
    boot_expect(c, key, v);
}

struct vmm_e820_entry *boot_e820(vmm_vm *vm, uint32_t *count)
{
    uint32_t n = 0;
    int rc = vmm_pc_e820(vm, NULL, &n);
    if (rc != -E2BIG && rc != 0)
        fail_msg("vmm_pc_e820: %s", vmm_last_error());
    struct vmm_e820_entry *map = calloc(n ? n : 1, sizeof *map);
    assert_non_null(map);
    rc = vmm_pc_e820(vm, map, &n);
    if (rc != 0)
        fail_msg("vmm_pc_e820: %s", vmm_last_error());
    *count = n;
    return map;
}

int boot_in_ram(const struct vmm_e820_entry *map, uint32_t n, uint64_t addr, uint64_t len)
{
    for (uint32_t i = 0; i < n; i++)
        if (map[i].type == VMM_E820_RAM && addr >= map[i].addr && len <= map[i].size &&
            addr - map[i].addr <= map[i].size - len)
            return 1;
    return 0;
}

void boot_expect_flat_desc(uint64_t d, int code, int bits, const char *what)
{
    /* Intel SDM vol. 3 §3.4.5: limit 15:0 | base 23:0 | type | S | DPL | P |
     * limit 19:16 | AVL | L | D/B | G | base 31:24. */
    uint64_t limit = (d & 0xffff) | ((d >> 32) & 0xf0000);
    uint64_t base = ((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000);
    unsigned type = (unsigned)(d >> 40) & 0xf;
    unsigned s = (unsigned)(d >> 44) & 1, p = (unsigned)(d >> 47) & 1;
    unsigned l = (unsigned)(d >> 53) & 1, db = (unsigned)(d >> 54) & 1;
    unsigned g = (unsigned)(d >> 55) & 1;
    if (!p || !s)
        fail_msg("%s descriptor %#" PRIx64 ": not a present code/data segment", what, d);
    if (code && (type & 0xa) != 0xa)
        fail_msg("%s descriptor %#" PRIx64 ": not execute/read code", what, d);
    if (!code && (type & 0xa) != 0x2)
        fail_msg("%s descriptor %#" PRIx64 ": not read/write data", what, d);
    if (base != 0 || limit != 0xfffff || !g)
        fail_msg("%s descriptor %#" PRIx64 ": not flat 4 GiB (base %#" PRIx64 ", limit %#" PRIx64
                 ", G %u)", what, d, base, limit, g);
    if (bits == 64 && !(l == 1 && db == 0))
        fail_msg("%s descriptor %#" PRIx64 ": not 64-bit code (L %u, D %u)", what, d, l, db);
    if (bits == 32 && !(l == 0 && db == 1))
        fail_msg("%s descriptor %#" PRIx64 ": not 32-bit (L %u, D %u)", what, d, l, db);
}

void boot_print_stats(const struct boot_vm *b, const char *what)
{
    struct vmm_vm_stats st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    assert_int_equal(vmm_vm_get_stats(b->vm, &st), 0);
    print_message("%s: vmm_vm_create to first serial byte %.0f us; %" PRIu64
                  " exits (%" PRIu64 " port I/O) for the whole check, %zu report bytes\n",
                  what, (b->cap->t_first - b->t_create - b->t_fill) * 1e6, st.exits_total,
                  st.exits[VMM_STAT_EXIT_PIO], b->cap->len);
}

void boot_kernel_and_check(const char *kernel, uint32_t platform, uint32_t nvcpus, uint64_t ram,
                           uint32_t format, uint32_t flags, uint32_t opts, boot_check_fn check,
                           const char *what)
{
    boot_require_kvm(); /* before anything is allocated: skip() does not return */
    size_t size = 0;
    uint8_t *img = boot_read_file(boot_kernel_path(kernel), &size);
    struct boot_vm b;
    struct vmm_boot_info info;
    struct vmm_exit exit;
    boot_vm_new(&b, platform, nvcpus, ram);
    boot_load(&b, img, size, format, flags, opts, &info);
    for (uint32_t i = 1; i < nvcpus; i++)
        boot_expect_reset_state(b.vm, i);
    boot_run_ok(&b, &exit);
    assert_int_equal(exit.vcpu_index, 0);
    check(&b, &info, img, size, opts);
    boot_print_stats(&b, what);
    boot_vm_free(&b);
    free(img);
}

void boot_load(struct boot_vm *b, const uint8_t *kernel, size_t size, uint32_t format,
               uint32_t flags, uint32_t opts, struct vmm_boot_info *info)
{
    static uint8_t initrd[BOOT_INITRD_SIZE];
    struct vmm_boot_config cfg = VMM_BOOT_CONFIG_INIT;
    boot_fill_initrd(initrd, sizeof initrd);
    cfg.format = format;
    cfg.flags = flags;
    cfg.kernel = kernel;
    cfg.kernel_size = size;
    if (!(opts & BOOT_NO_INITRD)) {
        cfg.initrd = initrd;
        cfg.initrd_size = sizeof initrd;
    }
    if (!(opts & BOOT_NO_CMDLINE))
        cfg.cmdline = BOOT_CMDLINE;
    if (opts & BOOT_MODULES) {
        cfg.modules = boot_modules();
        cfg.num_modules = BOOT_NUM_MODULES;
    }
    memset(info, 0, sizeof *info);
    info->struct_size = sizeof *info;
    int rc = vmm_boot_load(b->vm, &cfg, info);
    if (rc != 0)
        fail_msg("vmm_boot_load: %d (%s): %s", rc, vmm_strerror(rc), vmm_last_error());
}

void boot_expect_disjoint(const char *an, uint64_t a, uint64_t alen, const char *bn, uint64_t b,
                          uint64_t blen)
{
    if (alen == 0 || blen == 0)
        return;
    if (a < b + blen && b < a + alen)
        fail_msg("%s [%#" PRIx64 ", %#" PRIx64 ") overlaps %s [%#" PRIx64 ", %#" PRIx64 ")", an, a,
                 a + alen, bn, b, b + blen);
}

void boot_expect_reset_state(vmm_vm *vm, uint32_t index)
{
    vmm_vcpu *vcpu = NULL;
    struct vmm_regs r;
    struct vmm_sregs s;
    assert_int_equal(vmm_vm_get_vcpu(vm, index, &vcpu), 0);
    assert_int_equal(vmm_vcpu_get_regs(vcpu, &r), 0);
    assert_int_equal(vmm_vcpu_get_sregs(vcpu, &s), 0);
    /* Intel SDM vol. 3 §9.1.1, "Processor State After Reset". */
    if (r.rip != 0xfff0 || s.cs.selector != 0xf000 || (s.cr0 & 1) != 0 || s.efer != 0)
        fail_msg("vCPU %u is not in its reset state after loading: rip %#" PRIx64
                 " cs %#x cr0 %#" PRIx64 " efer %#" PRIx64, index, (uint64_t)r.rip,
                 s.cs.selector, (uint64_t)s.cr0, (uint64_t)s.efer);
}
