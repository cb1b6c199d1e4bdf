/* Debian 12's stock kernel (linux-image-amd64, an XZ bzImage) loaded by
 * vmm_boot_load() into a 256 MiB PC VM and checked WITHOUT running it: every
 * fact is read back from guest memory and vCPU 0's registers and compared
 * with what the image's own headers and Documentation/arch/x86/boot.rst (the
 * 64-bit boot protocol), zero-page.rst and Xen's pvh.pandoc (PVH entry for
 * VMM_BOOT_F_BZIMAGE_EXTRACT) say. The payload is decompressed a second time
 * here, with liblzma, and its ELF notes parsed here, so that the loader's
 * extraction is checked against an independent one.
 *
 * The kernel: $VMM_TEST_DEBIAN_KERNEL, else DEBIAN_KERNEL_DEFAULT
 * (build/debian-kernel/vmlinuz, written by scripts/fetch-debian-kernel.sh).
 * Without one every test skips and says why. See docs/testing-boot.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vmm/vmm.h>
#include <vmm/pc.h>

#ifdef HAVE_LZMA
#include <lzma.h>
#endif

#ifndef DEBIAN_KERNEL_DEFAULT
#error "DEBIAN_KERNEL_DEFAULT must name the default kernel path"
#endif

#define MiB (1ull << 20)
#define RAM_SIZE (256 * MiB)
#define INITRD_SIZE MiB
#define CMDLINE "console=ttyS0 earlyprintk=ttyS0 panic=-1 libvmm-linux-image-test=1"
#define GARBAGE 0xa5 /* RAM is filled with this before loading */

/* boot.rst "32-bit BOOT PROTOCOL" / "64-bit BOOT PROTOCOL" */
#define BOOT_CS 0x10
#define BOOT_DS 0x18
/* Setup header (boot.rst, "The Real-Mode Kernel Header"), file offsets =
 * boot_params offsets. */
#define H_SETUP_SECTS 0x1f1
#define H_VID_MODE 0x1fa
#define H_BOOT_FLAG 0x1fe
#define H_JUMP 0x200
#define H_HEADER 0x202
#define H_VERSION 0x206
#define H_KERNEL_VERSION 0x20e
#define H_TYPE_OF_LOADER 0x210
#define H_LOADFLAGS 0x211
#define H_CODE32_START 0x214
#define H_RAMDISK_IMAGE 0x218
#define H_RAMDISK_SIZE 0x21c
#define H_HEAP_END_PTR 0x224
#define H_EXT_LOADER_VER 0x226
#define H_EXT_LOADER_TYPE 0x227
#define H_CMD_LINE_PTR 0x228
#define H_INITRD_ADDR_MAX 0x22c
#define H_KERNEL_ALIGNMENT 0x230
#define H_RELOCATABLE 0x234
#define H_MIN_ALIGNMENT 0x235
#define H_XLOADFLAGS 0x236
#define H_CMDLINE_SIZE 0x238
#define H_HARDWARE_SUBARCH 0x23c
#define H_HARDWARE_SUBARCH_DATA 0x240
#define H_PAYLOAD_OFFSET 0x248
#define H_PAYLOAD_LENGTH 0x24c
#define H_SETUP_DATA 0x250
#define H_PREF_ADDRESS 0x258
#define H_INIT_SIZE 0x260
#define LOADED_HIGH 0x01
#define CAN_USE_HEAP 0x80
#define XLF_KERNEL_64 0x1
/* boot_params outside the header (zero-page.rst). */
#define BP_SCREEN_INFO 0x000
#define BP_ACPI_RSDP_ADDR 0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_ALT_MEM_K 0x1e0
#define BP_E820_ENTRIES 0x1e8
#define BP_SENTINEL 0x1ef
#define BP_E820_TABLE 0x2d0
#define BP_E820_MAX 128
#define BP_SIZE 4096
/* Xen public/arch-x86/hvm/start_info.h */
#define PVH_MAGIC 0x336ec578u
#define XEN_ELFNOTE_PHYS32_ENTRY 18

#define CR0_PE 0x1ull
#define CR0_PG 0x80000000ull
#define CR4_PAE 0x20ull
#define EFER_LME 0x100ull
#define EFER_LMA 0x400ull
#define RFLAGS_TF 0x100ull
#define RFLAGS_IF 0x200ull
#define RFLAGS_VM 0x20000ull

/* ---- the image ------------------------------------------------------------ */

static struct {
    char path[4096];
    uint8_t *data;
    size_t size;
    char why[1024]; /* non-empty: no usable kernel, and why */
} img;

static uint8_t initrd[INITRD_SIZE];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p) { return (uint32_t)le16(p) | (uint32_t)le16(p + 2) << 16; }
static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

/* Header fields of the file (bounds checked once in setup_image()). */
static uint32_t h8(size_t off) { return img.data[off]; }
static uint32_t h16(size_t off) { return le16(img.data + off); }
static uint32_t h32(size_t off) { return le32(img.data + off); }
static uint64_t h64(size_t off) { return le64(img.data + off); }

static size_t setup_sects(void) { return h8(H_SETUP_SECTS) ? h8(H_SETUP_SECTS) : 4; }
/* Offset of the protected-mode part in the file. */
static size_t pm_offset(void) { return (setup_sects() + 1) * 512; }
/* One past the setup header: boot.rst "0x0202 + byte value at offset 0x0201". */
static size_t header_end(void) { return 0x202 + h8(H_JUMP + 1); }

static void why(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(img.why, sizeof img.why, fmt, ap);
    va_end(ap);
}

static int read_file(const char *path, uint8_t **out, size_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t cap = 16 * MiB, n = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (buf == NULL) {
            close(fd);
            return -ENOMEM;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0) {
            int e = -errno;
            free(buf);
            close(fd);
            return e;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == cap) {
            cap *= 2;
            uint8_t *nb = realloc(buf, cap);
            if (nb == NULL)
                free(buf);
            buf = nb;
        }
    }
    close(fd);
    *out = buf;
    *size = n;
    return 0;
}

/* Finds and reads the kernel; on any problem leaves img.why set (the tests
 * then skip or fail with it). */
static int setup_image(void **state)
{
    (void)state;
    uint32_t x = 0x2545f491u;
    for (size_t i = 0; i < sizeof initrd; i++) { /* xorshift32: deterministic bytes */
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        initrd[i] = (uint8_t)(x >> 11);
    }

    const char *env = getenv("VMM_TEST_DEBIAN_KERNEL");
    const char *path = env != NULL && env[0] != '\0' ? env : DEBIAN_KERNEL_DEFAULT;
    snprintf(img.path, sizeof img.path, "%s", path);
    int rc = read_file(img.path, &img.data, &img.size);
    if (rc != 0) {
        char reason[600] = "";
        if (env == NULL || env[0] == '\0') {
            /* scripts/fetch-debian-kernel.sh leaves its reason beside the
             * default path when it fails. */
            char up[4200];
            snprintf(up, sizeof up, "%s", DEBIAN_KERNEL_DEFAULT);
            char *slash = strrchr(up, '/');
            if (slash != NULL) {
                snprintf(slash + 1, sizeof up - (size_t)(slash + 1 - up), "unavailable.txt");
                FILE *f = fopen(up, "r");
                if (f != NULL) {
                    if (fgets(reason, sizeof reason, f) == NULL)
                        reason[0] = '\0';
                    reason[strcspn(reason, "\n")] = '\0';
                    fclose(f);
                }
            }
        }
        why("no Debian kernel at %s (%s)%s%s%s. To enable this test run "
            "scripts/fetch-debian-kernel.sh (downloads linux-image-amd64's bzImage into "
            "build/debian-kernel/; needs apt and a Debian 12 mirror, not root), or set "
            "VMM_TEST_DEBIAN_KERNEL=/path/to/vmlinuz; see docs/testing-boot.md",
            img.path, strerror(-rc), reason[0] ? "; scripts/fetch-debian-kernel.sh said: \"" : "",
            reason, reason[0] ? "\"" : "");
        return 0;
    }
    if (img.size < 0x270 || le16(img.data + H_BOOT_FLAG) != 0xaa55 ||
        le32(img.data + H_HEADER) != 0x53726448) {
        why("%s (%zu bytes) is not a bzImage: no 0xAA55 at 0x1fe and \"HdrS\" at 0x202", img.path,
            img.size);
        return 0;
    }
    if (h16(H_VERSION) < 0x020c || header_end() > 0x290 || pm_offset() >= img.size ||
        !(h8(H_LOADFLAGS) & LOADED_HIGH) || !(h16(H_XLOADFLAGS) & XLF_KERNEL_64)) {
        why("%s is a bzImage this test does not cover: boot protocol %#x (needs >= 2.12), "
            "header end %#zx, setup_sects %zu, loadflags %#x, xloadflags %#x (needs LOADED_HIGH "
            "and XLF_KERNEL_64)", img.path, h16(H_VERSION), header_end(), setup_sects(),
            h8(H_LOADFLAGS), h16(H_XLOADFLAGS));
        return 0;
    }
    uint64_t po = pm_offset() + (uint64_t)h32(H_PAYLOAD_OFFSET), pl = h32(H_PAYLOAD_LENGTH);
    if (pl < 16 || po + pl > img.size) {
        why("%s: payload_offset %#x + payload_length %#x run past the %zu-byte file", img.path,
            h32(H_PAYLOAD_OFFSET), h32(H_PAYLOAD_LENGTH), img.size);
        return 0;
    }
    return 0;
}

static int free_image(void **state)
{
    (void)state;
    free(img.data);
    img.data = NULL;
    return 0;
}

/* Skip (no kernel was found) or fail (one was found but is unusable). */
static void need_image(void)
{
    if (img.data == NULL) {
        print_message("SKIP: %s\n", img.why);
        skip();
    }
    if (img.why[0] != '\0')
        fail_msg("%s", img.why);
}

static const uint8_t *payload(void) { return img.data + pm_offset() + h32(H_PAYLOAD_OFFSET); }

/* ---- VMs and guest memory --------------------------------------------------- */

struct lvm {
    vmm_vm *vm;
    vmm_vcpu *vcpu;
    struct vmm_e820_entry *map;
    uint32_t nmap;
};

static void lvm_new(struct lvm *l)
{
    memset(l, 0, sizeof *l);
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        print_message("SKIP: /dev/kvm is not usable here (%s); loading needs a VM\n",
                      strerror(errno));
        skip();
    }
    close(fd);
    struct vmm_vm_config cfg = VMM_VM_CONFIG_INIT;
    cfg.platform = VMM_PLATFORM_PC;
    if (vmm_vm_create(&cfg, &l->vm) != 0)
        fail_msg("vmm_vm_create (platform PC): %s", vmm_last_error());
    if (vmm_pc_add_ram(l->vm, RAM_SIZE) != 0)
        fail_msg("vmm_pc_add_ram(256 MiB): %s", vmm_last_error());
    assert_int_equal(vmm_vm_get_vcpu(l->vm, 0, &l->vcpu), 0);
    uint32_t n = 0;
    int rc = vmm_pc_e820(l->vm, NULL, &n);
    if (rc != 0 && rc != -E2BIG)
        fail_msg("vmm_pc_e820: %s", vmm_last_error());
    l->map = calloc(n ? n : 1, sizeof *l->map);
    assert_non_null(l->map);
    if (vmm_pc_e820(l->vm, l->map, &n) != 0)
        fail_msg("vmm_pc_e820: %s", vmm_last_error());
    l->nmap = n;
    /* RAM is not promised to be zero: whatever the loader hands over
     * (boot_params, start_info, a segment's zeroed tail) it must write. */
    for (uint32_t i = 0; i < n; i++) {
        if (l->map[i].type != VMM_E820_RAM)
            continue;
        void *hva = NULL;
        if (vmm_memory_translate(l->vm, l->map[i].addr, l->map[i].size, &hva) != 0)
            fail_msg("translate e820 RAM entry %u: %s", i, vmm_last_error());
        memset(hva, GARBAGE, l->map[i].size);
    }
}

static void lvm_free(struct lvm *l)
{
    vmm_vm_destroy(l->vm);
    free(l->map);
    memset(l, 0, sizeof *l);
}

static int in_ram(const struct lvm *l, uint64_t addr, uint64_t len)
{
    for (uint32_t i = 0; i < l->nmap; i++) {
        const struct vmm_e820_entry *e = &l->map[i];
        if (e->type == VMM_E820_RAM && addr >= e->addr && len <= e->size &&
            addr - e->addr <= e->size - len)
            return 1;
    }
    return 0;
}

static void expect_disjoint(const char *an, uint64_t a, uint64_t alen, const char *bn, uint64_t b,
                            uint64_t blen)
{
    if (alen != 0 && blen != 0 && a < b + blen && b < a + alen)
        fail_msg("%s [%#" PRIx64 ", %#" PRIx64 ") overlaps %s [%#" PRIx64 ", %#" PRIx64 ")", an, a,
                 a + alen, bn, b, b + blen);
}

static void guest_read(const struct lvm *l, uint64_t gpa, void *buf, size_t len, const char *what)
{
    if (vmm_memory_read(l->vm, gpa, buf, len) != 0)
        fail_msg("reading %s [%#" PRIx64 ", +%#zx) back: %s", what, gpa, len, vmm_last_error());
}

/* Guest memory at @gpa holds exactly @want (@want NULL: @len zero bytes). */
static void expect_guest(const struct lvm *l, uint64_t gpa, const uint8_t *want, uint64_t len,
                         const char *what)
{
    static uint8_t chunk[1 << 20];
    static const uint8_t zero[1 << 20];
    for (uint64_t done = 0; done < len;) {
        size_t n = len - done < sizeof chunk ? (size_t)(len - done) : sizeof chunk;
        guest_read(l, gpa + done, chunk, n, what);
        const uint8_t *w = want != NULL ? want + done : zero;
        if (memcmp(chunk, w, n) != 0) {
            size_t i = 0;
            while (chunk[i] == w[i])
                i++;
            fail_msg("%s: guest byte at %#" PRIx64 " (offset %#" PRIx64 ") is %#04x, expected "
                     "%#04x%s", what, gpa + done + i, done + i, chunk[i], w[i],
                     chunk[i] == GARBAGE ? " (never written: RAM was filled with 0xa5)" : "");
        }
        done += n;
    }
}

static void load(struct lvm *l, const uint8_t *kernel, size_t size, uint32_t format,
                 uint32_t flags, struct vmm_boot_info *info, double *seconds)
{
    struct vmm_boot_config cfg = VMM_BOOT_CONFIG_INIT;
    cfg.format = format;
    cfg.flags = flags;
    cfg.kernel = kernel;
    cfg.kernel_size = size;
    cfg.initrd = initrd;
    cfg.initrd_size = sizeof initrd;
    cfg.cmdline = CMDLINE;
    memset(info, 0, sizeof *info);
    info->struct_size = sizeof *info;
    double t0 = now_s();
    int rc = vmm_boot_load(l->vm, &cfg, info);
    if (seconds != NULL)
        *seconds = now_s() - t0;
    if (rc != 0)
        fail_msg("vmm_boot_load(%s, format %u, flags %#x): %d (%s): %s", img.path, format, flags,
                 rc, vmm_strerror(rc), vmm_last_error());
}

/* ---- CPU state -------------------------------------------------------------- */

/* A segment register holds a present, flat 4 GiB segment (base 0, limit
 * 0xffffffff): code (execute/read) or data (read/write); @bits 64 (L=1,
 * D=0), 32 (D=1, L=0) or 0 (data: D=1 in 32-bit mode, ignored in 64-bit). */
static void expect_flat_seg(const struct vmm_segment *s, int code, int bits, const char *what)
{
    if (!s->present || !s->s || s->unusable)
        fail_msg("%s: not a present code/data segment (present %u s %u unusable %u)", what,
                 s->present, s->s, s->unusable);
    if (code ? (s->type & 0xa) != 0xa : (s->type & 0xa) != 0x2)
        fail_msg("%s: type %#x is not %s", what, s->type, code ? "execute/read code" :
                 "read/write data");
    if (s->base != 0 || s->limit != 0xffffffffu || !s->g)
        fail_msg("%s: not flat 4 GiB (base %#" PRIx64 ", limit %#x, G %u)", what,
                 (uint64_t)s->base, s->limit, s->g);
    if (bits == 64 && !(s->l == 1 && s->db == 0))
        fail_msg("%s: not 64-bit code (L %u, D %u)", what, s->l, s->db);
    if (bits == 32 && !(s->l == 0 && s->db == 1))
        fail_msg("%s: not 32-bit (L %u, D %u)", what, s->l, s->db);
}

/* The GDT entry for @sel agrees with the cached segment register (what the
 * kernel gets when it reloads the selector). Intel SDM vol. 3 §3.4.5. */
static void expect_gdt_entry(const struct lvm *l, const struct vmm_sregs *sr, uint16_t sel,
                             const struct vmm_segment *s, const char *what)
{
    if ((uint32_t)sel + 7 > sr->gdt.limit)
        fail_msg("%s: selector %#x lies outside the GDT (limit %#x)", what, sel, sr->gdt.limit);
    uint8_t b[8];
    guest_read(l, sr->gdt.base + sel, b, 8, "the GDT");
    uint64_t d = le64(b);
    uint64_t limit = (d & 0xffff) | ((d >> 32) & 0xf0000);
    uint64_t base = ((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000);
    unsigned g = (unsigned)(d >> 55) & 1;
    uint64_t bytes = g ? (limit << 12) | 0xfff : limit;
    if (base != s->base || bytes != s->limit || ((d >> 40) & 0xf) != s->type ||
        ((d >> 44) & 1) != s->s || ((d >> 47) & 1) != s->present || ((d >> 53) & 1) != s->l ||
        ((d >> 54) & 1) != s->db || g != s->g)
        fail_msg("%s: GDT entry %#x (%#018" PRIx64 ") disagrees with the loaded segment "
                 "(base %#" PRIx64 " limit %#x type %#x L %u D %u G %u)", what, sel, d,
                 (uint64_t)s->base, s->limit, s->type, s->l, s->db, s->g);
}

/* Walks the 4-level page tables at @cr3 for @va; returns 1 and the physical
 * address, page size and writability, or 0 if not mapped. */
static int walk(const struct lvm *l, uint64_t cr3, uint64_t va, uint64_t *pa, uint64_t *page,
                int *writable)
{
    uint64_t table = cr3 & 0x000ffffffffff000ull;
    int w = 1;
    for (int level = 4; level >= 1; level--) {
        unsigned shift = 12 + 9 * (unsigned)(level - 1);
        uint8_t b[8];
        guest_read(l, table + ((va >> shift) & 0x1ff) * 8, b, 8, "a page-table entry");
        uint64_t e = le64(b);
        if (!(e & 1))
            return 0;
        w &= (int)((e >> 1) & 1);
        uint64_t addr = e & 0x000ffffffffff000ull;
        if (level == 1 || ((level == 2 || level == 3) && (e & 0x80))) {
            uint64_t size = 1ull << shift;
            *pa = (addr & ~(size - 1)) + (va & (size - 1));
            *page = size;
            *writable = w;
            return 1;
        }
        table = addr;
    }
    return 0;
}

/* boot.rst, 64-bit protocol: [gpa, gpa+len) is identity mapped (and
 * writable: the kernel's stack is in the range). */
static void expect_identity(const struct lvm *l, uint64_t cr3, uint64_t gpa, uint64_t len,
                            const char *what)
{
    for (uint64_t va = gpa; va < gpa + len;) {
        uint64_t pa = 0, page = 0;
        int w = 0;
        if (!walk(l, cr3, va, &pa, &page, &w))
            fail_msg("%s: %#" PRIx64 " is not mapped by the loader's page tables", what, va);
        if (pa != va || !w)
            fail_msg("%s: %#" PRIx64 " maps to %#" PRIx64 "%s, expected an identity mapping",
                     what, va, pa, w ? "" : " read-only");
        va = (va | (page - 1)) + 1;
    }
}

/* ---- the bzImage, 64-bit entry ---------------------------------------------- */

struct field {
    uint32_t off, len;
    const char *name;
};

/* Setup-header fields a boot loader writes or may modify (boot.rst, "Details
 * of Header Fields": type "write", "modify", plus kernel_alignment, which a
 * relocating loader may lower). Everything else in [0x1f1, header end) must
 * be the file's bytes. root_flags, root_dev and realmode_swtch are "modify
 * (optional)" too, but libvmm has no reason to touch them: compared. */
static const struct field loader_fields[] = {
    { H_VID_MODE, 2, "vid_mode" },
    { H_TYPE_OF_LOADER, 1, "type_of_loader" },
    { H_LOADFLAGS, 1, "loadflags" },
    { H_CODE32_START, 4, "code32_start" },
    { H_RAMDISK_IMAGE, 4, "ramdisk_image" },
    { H_RAMDISK_SIZE, 4, "ramdisk_size" },
    { H_HEAP_END_PTR, 2, "heap_end_ptr" },
    { H_EXT_LOADER_VER, 1, "ext_loader_ver" },
    { H_EXT_LOADER_TYPE, 1, "ext_loader_type" },
    { H_CMD_LINE_PTR, 4, "cmd_line_ptr" },
    { H_KERNEL_ALIGNMENT, 4, "kernel_alignment" },
    { H_HARDWARE_SUBARCH, 4, "hardware_subarch" },
    { H_HARDWARE_SUBARCH_DATA, 8, "hardware_subarch_data" },
    { H_SETUP_DATA, 8, "setup_data" },
};

static const char *loader_field(size_t off)
{
    for (size_t i = 0; i < sizeof loader_fields / sizeof loader_fields[0]; i++)
        if (off >= loader_fields[i].off && off < loader_fields[i].off + loader_fields[i].len)
            return loader_fields[i].name;
    return NULL;
}

/* boot_params outside the setup header that a loader may fill
 * (zero-page.rst); the rest of the page must be zero (boot.rst: "allocated
 * and initialized to all zero"). The e820 table is added per map size. */
static const char *zero_page_field(size_t off, uint32_t n820)
{
    static const struct field f[] = {
        { BP_SCREEN_INFO, 0x40, "screen_info" },
        { BP_ACPI_RSDP_ADDR, 8, "acpi_rsdp_addr" },
        { BP_EXT_RAMDISK_IMAGE, 4, "ext_ramdisk_image" },
        { BP_EXT_RAMDISK_SIZE, 4, "ext_ramdisk_size" },
        { BP_EXT_CMD_LINE_PTR, 4, "ext_cmd_line_ptr" },
        { BP_ALT_MEM_K, 4, "alt_mem_k" },
        { BP_E820_ENTRIES, 1, "e820_entries" },
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (off >= f[i].off && off < f[i].off + f[i].len)
            return f[i].name;
    if (off >= BP_E820_TABLE && off < BP_E820_TABLE + 20ull * n820)
        return "e820_table";
    return NULL;
}

static void check_bzimage(struct lvm *l, const struct vmm_boot_info *info)
{
    uint64_t pref = h64(H_PREF_ADDRESS), init_size = h32(H_INIT_SIZE);
    uint64_t align = h32(H_KERNEL_ALIGNMENT), min_align = 1ull << h8(H_MIN_ALIGNMENT);
    uint64_t pm_size = img.size - pm_offset();

    /* What the loader says it did. */
    assert_int_equal(info->format, VMM_IMAGE_BZIMAGE);
    assert_int_equal(info->protocol_version, h16(H_VERSION));
    /* The payload's magic, read here: fd 37 7a 58 5a 00 is xz. */
    assert_memory_equal(payload(), "\xfd" "7zXZ\0", 6);
    assert_int_equal(info->compression, VMM_COMPRESSION_XZ);
    assert_int_equal(info->extracted_size, 0);

    /* Where the kernel is: pref_address when it fits (boot.rst:
     * "should attempt to load at this address if possible"), else aligned. */
    uint64_t k = info->kernel_gpa;
    if (in_ram(l, pref, init_size) && k != pref)
        fail_msg("kernel at %#" PRIx64 ", but pref_address %#" PRIx64 " + init_size %#" PRIx64
                 " fits in RAM", k, pref, init_size);
    if (k % min_align != 0)
        fail_msg("kernel at %#" PRIx64 " is not aligned to 1 << min_alignment = %#" PRIx64, k,
                 min_align);
    if (!in_ram(l, k, init_size))
        fail_msg("kernel [%#" PRIx64 ", +init_size %#" PRIx64 ") is not RAM", k, init_size);
    assert_true(info->kernel_end >= k + init_size && info->kernel_end >= k + pm_size);
    /* The protected-mode part, byte for byte. */
    expect_guest(l, k, img.data + pm_offset(), pm_size, "protected-mode kernel");

    /* boot_params: the header copied from 0x1f1 up to its end. */
    uint64_t bpa = info->boot_params_gpa;
    assert_true(bpa != 0 && in_ram(l, bpa, BP_SIZE));
    uint8_t bp[BP_SIZE];
    guest_read(l, bpa, bp, sizeof bp, "boot_params");
    for (size_t off = H_SETUP_SECTS; off < header_end(); off++)
        if (loader_field(off) == NULL && bp[off] != img.data[off])
            fail_msg("boot_params byte %#zx (setup header) is %#04x, the image has %#04x there",
                     off, bp[off], img.data[off]);

    /* The fields the loader writes. */
    uint64_t rd = (uint64_t)le32(bp + BP_EXT_RAMDISK_IMAGE) << 32 | le32(bp + H_RAMDISK_IMAGE);
    uint64_t rd_size = (uint64_t)le32(bp + BP_EXT_RAMDISK_SIZE) << 32 | le32(bp + H_RAMDISK_SIZE);
    uint64_t cmd = (uint64_t)le32(bp + BP_EXT_CMD_LINE_PTR) << 32 | le32(bp + H_CMD_LINE_PTR);
    assert_int_equal(bp[H_TYPE_OF_LOADER], 0xff);   /* no assigned loader id */
    assert_int_equal(le16(bp + H_VID_MODE), 0xffff); /* "normal" (boot.rst: vid_mode obligatory) */
    /* loadflags: LOADED_HIGH (read) and KASLR_FLAG (kernel internal) as in
     * the file; QUIET/CAN_USE_HEAP are the loader's. */
    assert_int_equal(bp[H_LOADFLAGS] & 0x03, img.data[H_LOADFLAGS] & 0x03);
    if (bp[H_LOADFLAGS] & CAN_USE_HEAP)
        assert_true(le16(bp + H_HEAP_END_PTR) != 0);
    assert_int_equal(le32(bp + H_CODE32_START), k); /* boot.rst: relocatable => load address */
    uint32_t bp_align = le32(bp + H_KERNEL_ALIGNMENT);
    if (bp_align != align &&
        !(bp_align >= min_align && (bp_align & (bp_align - 1)) == 0 && k % bp_align == 0))
        fail_msg("kernel_alignment %#x: neither the image's %#" PRIx64 " nor a power of two >= "
                 "1 << min_alignment that the load address meets", bp_align, align);
    assert_int_equal(le32(bp + H_HARDWARE_SUBARCH), 0); /* x86/PC */
    assert_int_equal(le64(bp + H_HARDWARE_SUBARCH_DATA), 0);
    assert_int_equal(le64(bp + H_SETUP_DATA), 0); /* libvmm adds no setup_data (yet) */
    assert_int_equal(bp[BP_SENTINEL], 0);         /* the image's 0xff must not be copied */

    /* The rest of the zero page is zero. */
    uint32_t n = l->nmap;
    for (size_t off = 0; off < BP_SIZE; off++) {
        if (off >= H_SETUP_SECTS && off < header_end())
            continue;
        if (bp[off] != 0 && zero_page_field(off, n) == NULL)
            fail_msg("boot_params byte %#zx is %#04x: outside the fields a loader fills it must "
                     "be zero%s", off, bp[off], bp[off] == GARBAGE ? " (never written)" : "");
    }

    /* e820: exactly vmm_pc_e820(). */
    assert_true(n <= BP_E820_MAX);
    assert_int_equal(bp[BP_E820_ENTRIES], n);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = bp + BP_E820_TABLE + 20 * i;
        if (le64(e) != l->map[i].addr || le64(e + 8) != l->map[i].size ||
            le32(e + 16) != l->map[i].type)
            fail_msg("boot_params e820 entry %u: [%#" PRIx64 ", +%#" PRIx64 ") type %u, "
                     "vmm_pc_e820() says [%#" PRIx64 ", +%#" PRIx64 ") type %u", i, le64(e),
                     le64(e + 8), le32(e + 16), l->map[i].addr, l->map[i].size, l->map[i].type);
    }

    /* Command line: at cmd_line_ptr, NUL-terminated, within cmdline_size. */
    size_t clen = strlen(CMDLINE);
    assert_int_equal(cmd, info->cmdline_gpa);
    assert_true(clen <= h32(H_CMDLINE_SIZE) && in_ram(l, cmd, clen + 1));
    expect_guest(l, cmd, (const uint8_t *)CMDLINE, clen + 1, "command line");

    /* initrd: where vmm_boot_info says, below initrd_addr_max, intact. */
    assert_int_equal(rd, info->initrd_gpa);
    assert_int_equal(rd_size, INITRD_SIZE);
    assert_int_equal(info->initrd_size, INITRD_SIZE);
    if (rd + rd_size - 1 > h32(H_INITRD_ADDR_MAX))
        fail_msg("initrd [%#" PRIx64 ", %#" PRIx64 ") ends above initrd_addr_max %#x", rd,
                 rd + rd_size, h32(H_INITRD_ADDR_MAX));
    assert_true(in_ram(l, rd, rd_size));
    expect_guest(l, rd, initrd, rd_size, "initrd");

    /* Nothing overlaps the kernel's init_size or each other. */
    expect_disjoint("initrd", rd, rd_size, "kernel+init_size", k, init_size);
    expect_disjoint("boot_params", bpa, BP_SIZE, "kernel+init_size", k, init_size);
    expect_disjoint("command line", cmd, clen + 1, "kernel+init_size", k, init_size);
    expect_disjoint("initrd", rd, rd_size, "boot_params", bpa, BP_SIZE);
    expect_disjoint("initrd", rd, rd_size, "command line", cmd, clen + 1);
    expect_disjoint("boot_params", bpa, BP_SIZE, "command line", cmd, clen + 1);

    /* vCPU 0: boot.rst "64-bit BOOT PROTOCOL". */
    struct vmm_regs r;
    struct vmm_sregs s;
    assert_int_equal(vmm_vcpu_get_regs(l->vcpu, &r), 0);
    assert_int_equal(vmm_vcpu_get_sregs(l->vcpu, &s), 0);
    assert_int_equal(info->entry, k + 0x200);
    assert_int_equal(r.rip, k + 0x200);
    assert_int_equal(r.rsi, bpa);
    assert_int_equal(r.rflags & RFLAGS_IF, 0);
    assert_true((s.cr0 & (CR0_PE | CR0_PG)) == (CR0_PE | CR0_PG));
    assert_true(s.cr4 & CR4_PAE);
    assert_true((s.efer & (EFER_LME | EFER_LMA)) == (EFER_LME | EFER_LMA));
    assert_int_equal(s.cs.selector, BOOT_CS);
    assert_int_equal(s.ds.selector, BOOT_DS);
    assert_int_equal(s.es.selector, BOOT_DS);
    assert_int_equal(s.ss.selector, BOOT_DS);
    expect_flat_seg(&s.cs, 1, 64, "CS (__BOOT_CS)");
    expect_flat_seg(&s.ds, 0, 0, "DS (__BOOT_DS)");
    expect_flat_seg(&s.es, 0, 0, "ES");
    expect_flat_seg(&s.ss, 0, 0, "SS");
    expect_gdt_entry(l, &s, BOOT_CS, &s.cs, "__BOOT_CS");
    expect_gdt_entry(l, &s, BOOT_DS, &s.ds, "__BOOT_DS");
    /* "The range with setup_header.init_size from start address of loaded
     * kernel and zero page and command line buffer get ident mapping". */
    expect_identity(l, s.cr3, k, init_size, "kernel+init_size");
    expect_identity(l, s.cr3, bpa, BP_SIZE, "boot_params");
    expect_identity(l, s.cr3, cmd, clen + 1, "command line");
}

static void kernel_version(char *buf, size_t len)
{
    size_t off = 0x200 + (size_t)h16(H_KERNEL_VERSION);
    buf[0] = '\0';
    if (h16(H_KERNEL_VERSION) != 0 && off < pm_offset())
        snprintf(buf, len, "%.*s", (int)strnlen((const char *)img.data + off, pm_offset() - off),
                 (const char *)img.data + off);
}

static void test_bzimage_64(void **state)
{
    (void)state;
    need_image();
    char ver[160];
    kernel_version(ver, sizeof ver);
    print_message("kernel: %s (%zu bytes), %s\n", img.path, img.size, ver);
    const uint32_t formats[] = { VMM_IMAGE_AUTO, VMM_IMAGE_BZIMAGE };
    for (size_t i = 0; i < 2; i++) {
        struct lvm l;
        struct vmm_boot_info info;
        double t = 0;
        lvm_new(&l);
        load(&l, img.data, img.size, formats[i], 0, &info, &t);
        print_message("format %s: loaded in %.2f ms: kernel %#" PRIx64 "..%#" PRIx64 ", "
                      "boot_params %#" PRIx64 ", cmdline %#" PRIx64 ", initrd %#" PRIx64 "\n",
                      i ? "BZIMAGE" : "AUTO", t * 1e3, info.kernel_gpa, info.kernel_end,
                      info.boot_params_gpa, info.cmdline_gpa, info.initrd_gpa);
        check_bzimage(&l, &info);
        lvm_free(&l);
    }
}

/* ---- the extracted vmlinux, PVH entry ---------------------------------------- */

#ifdef HAVE_LZMA
/* The payload decompressed here, independently of the library: an xz
 * stream followed by the 4-byte little-endian decompressed size. */
static uint8_t *xz_decode(size_t *out_len)
{
    const uint8_t *in = payload();
    size_t in_len = h32(H_PAYLOAD_LENGTH);
    size_t want = le32(in + in_len - 4);
    if (want < 64 || want > RAM_SIZE)
        fail_msg("payload: the decompressed size in its last 4 bytes is %zu", want);
    uint8_t *out = malloc(want + 1);
    assert_non_null(out);
    lzma_stream s = LZMA_STREAM_INIT;
    if (lzma_stream_decoder(&s, UINT64_MAX, 0) != LZMA_OK)
        fail_msg("lzma_stream_decoder failed");
    s.next_in = in;
    s.avail_in = in_len;
    s.next_out = out;
    s.avail_out = want + 1; /* one spare byte: more output than announced is an error */
    lzma_ret ret = lzma_code(&s, LZMA_FINISH);
    size_t n = s.total_out;
    lzma_end(&s);
    if (ret != LZMA_STREAM_END)
        fail_msg("liblzma could not decompress the payload: lzma_ret %d after %zu bytes", ret, n);
    if (n != want)
        fail_msg("payload decompressed to %zu bytes; its size field says %zu", n, want);
    *out_len = n;
    return out;
}
#endif

struct elf_info {
    uint64_t phys32_entry;
    int have_entry;
    uint16_t phnum;
    uint64_t phoff;
    uint64_t lo, hi; /* PT_LOAD physical extent */
};

#define ELF_PHDR_SIZE 56

/* ELF64 header and program headers, checked against the buffer; the
 * XEN_ELFNOTE_PHYS32_ENTRY note found in the PT_NOTE segments (ELF gABI
 * "Note Section": namesz, descsz, type, name and desc each 4-byte aligned). */
static void elf_parse(const uint8_t *e, size_t len, struct elf_info *ei)
{
    memset(ei, 0, sizeof *ei);
    ei->lo = UINT64_MAX;
    if (len < 64 || memcmp(e, "\x7f" "ELF", 4) != 0 || e[4] != 2 || e[5] != 1)
        fail_msg("the payload is not a little-endian ELF64");
    assert_int_equal(le16(e + 18), 62); /* EM_X86_64 */
    ei->phoff = le64(e + 32);
    ei->phnum = le16(e + 56);
    assert_int_equal(le16(e + 54), ELF_PHDR_SIZE);
    if (ei->phnum == 0 || ei->phoff > len || (len - ei->phoff) / ELF_PHDR_SIZE < ei->phnum)
        fail_msg("vmlinux: %u program headers at %#" PRIx64 " do not fit", ei->phnum, ei->phoff);
    for (uint16_t i = 0; i < ei->phnum; i++) {
        const uint8_t *ph = e + ei->phoff + (size_t)i * ELF_PHDR_SIZE;
        uint32_t type = le32(ph);
        uint64_t off = le64(ph + 8), paddr = le64(ph + 24), filesz = le64(ph + 32),
                 memsz = le64(ph + 40);
        if (off > len || filesz > len - off || filesz > memsz)
            fail_msg("vmlinux: program header %u runs past the file", i);
        if (type == 1 /* PT_LOAD */ && memsz != 0) {
            if (paddr < ei->lo)
                ei->lo = paddr;
            if (paddr + memsz > ei->hi)
                ei->hi = paddr + memsz;
        }
        if (type != 4 /* PT_NOTE */)
            continue;
        for (uint64_t p = off; p + 12 <= off + filesz;) {
            uint32_t namesz = le32(e + p), descsz = le32(e + p + 4), ntype = le32(e + p + 8);
            uint64_t name = p + 12, desc = name + ((namesz + 3ull) & ~3ull);
            uint64_t next = desc + ((descsz + 3ull) & ~3ull);
            if (next > off + filesz)
                break;
            if (namesz == 4 && memcmp(e + name, "Xen", 4) == 0 &&
                ntype == XEN_ELFNOTE_PHYS32_ENTRY && (descsz == 4 || descsz == 8)) {
                ei->phys32_entry = descsz == 4 ? le32(e + desc) : le64(e + desc);
                ei->have_entry = 1;
            }
            p = next;
        }
    }
}

static void test_bzimage_extract(void **state)
{
    (void)state;
    need_image();
    if (!vmm_has_feature(VMM_FEATURE_EXTRACT_XZ)) {
        print_message("SKIP: this libvmm was built without the xz decompressor "
                      "(VMM_FEATURE_EXTRACT_XZ): install liblzma-dev and reconfigure "
                      "(meson setup --reconfigure BUILD -Dextract_xz=enabled)\n");
        skip();
    }
#ifndef HAVE_LZMA
    print_message("SKIP: this test was built without liblzma, which it needs to decompress the "
                  "payload independently: install liblzma-dev and reconfigure\n");
    skip();
#else
    size_t vlen = 0;
    double t0 = now_s();
    uint8_t *vmlinux = xz_decode(&vlen);
    double t_ref = now_s() - t0;
    struct elf_info ei;
    elf_parse(vmlinux, vlen, &ei);
    if (!ei.have_entry)
        fail_msg("the vmlinux has no XEN_ELFNOTE_PHYS32_ENTRY note (a kernel without "
                 "CONFIG_PVH?)");

    struct lvm l;
    struct vmm_boot_info info;
    double t = 0;
    lvm_new(&l);
    load(&l, img.data, img.size, VMM_IMAGE_AUTO, VMM_BOOT_F_BZIMAGE_EXTRACT, &info, &t);
    print_message("extracted: %zu-byte vmlinux, PVH entry %#" PRIx64 "; vmm_boot_load took "
                  "%.1f ms (liblzma alone here: %.1f ms); kernel %#" PRIx64 "..%#" PRIx64
                  ", start_info %#" PRIx64 "\n", vlen, ei.phys32_entry, t * 1e3, t_ref * 1e3,
                  info.kernel_gpa, info.kernel_end, info.boot_params_gpa);

    assert_int_equal(info.format, VMM_IMAGE_ELF_PVH);
    assert_int_equal(info.compression, VMM_COMPRESSION_XZ);
    assert_int_equal(info.extracted_size, vlen);
    assert_true(info.extracted_size > img.size);
    assert_int_equal(info.entry, ei.phys32_entry);
    assert_true(info.kernel_gpa <= ei.lo && info.kernel_end >= ei.hi);

    /* Every PT_LOAD segment at its p_paddr, its tail beyond p_filesz zeroed. */
    for (uint16_t i = 0; i < ei.phnum; i++) {
        const uint8_t *ph = vmlinux + ei.phoff + (size_t)i * ELF_PHDR_SIZE;
        if (le32(ph) != 1)
            continue;
        uint64_t off = le64(ph + 8), paddr = le64(ph + 24), filesz = le64(ph + 32),
                 memsz = le64(ph + 40);
        char what[96];
        snprintf(what, sizeof what, "PT_LOAD %u at p_paddr %#" PRIx64, i, paddr);
        if (!in_ram(&l, paddr, memsz))
            fail_msg("%s (+%#" PRIx64 ") is not RAM", what, memsz);
        expect_guest(&l, paddr, vmlinux + off, filesz, what);
        expect_guest(&l, paddr + filesz, NULL, memsz - filesz, what);
    }

    /* hvm_start_info (start_info.h), its module list and memory map. */
    uint64_t si = info.boot_params_gpa;
    uint8_t b[56];
    guest_read(&l, si, b, sizeof b, "hvm_start_info");
    assert_int_equal(le32(b), PVH_MAGIC);
    assert_true(le32(b + 4) >= 1); /* version 1: memmap fields */
    uint32_t nr_modules = le32(b + 12);
    uint64_t modlist = le64(b + 16), cmd = le64(b + 24), memmap = le64(b + 40);
    uint32_t memmap_entries = le32(b + 48);
    size_t clen = strlen(CMDLINE);
    assert_int_equal(cmd, info.cmdline_gpa);
    expect_guest(&l, cmd, (const uint8_t *)CMDLINE, clen + 1, "command line");
    assert_int_equal(nr_modules, 1);
    uint8_t mod[32];
    guest_read(&l, modlist, mod, sizeof mod, "hvm_modlist_entry 0");
    assert_int_equal(le64(mod), info.initrd_gpa);
    assert_int_equal(le64(mod + 8), INITRD_SIZE);
    assert_int_equal(info.initrd_size, INITRD_SIZE);
    assert_true(in_ram(&l, info.initrd_gpa, INITRD_SIZE));
    expect_guest(&l, info.initrd_gpa, initrd, INITRD_SIZE, "initrd (module 0)");
    assert_int_equal(memmap_entries, l.nmap);
    for (uint32_t i = 0; i < l.nmap; i++) {
        uint8_t e[24];
        guest_read(&l, memmap + 24ull * i, e, sizeof e, "hvm_memmap_table_entry");
        if (le64(e) != l.map[i].addr || le64(e + 8) != l.map[i].size ||
            le32(e + 16) != l.map[i].type)
            fail_msg("PVH memmap entry %u: [%#" PRIx64 ", +%#" PRIx64 ") type %u, vmm_pc_e820() "
                     "says [%#" PRIx64 ", +%#" PRIx64 ") type %u", i, le64(e), le64(e + 8),
                     le32(e + 16), l.map[i].addr, l.map[i].size, l.map[i].type);
    }
    uint64_t klo = info.kernel_gpa, klen = info.kernel_end - info.kernel_gpa;
    expect_disjoint("initrd", info.initrd_gpa, INITRD_SIZE, "kernel", klo, klen);
    expect_disjoint("start_info", si, 56, "kernel", klo, klen);
    expect_disjoint("command line", cmd, clen + 1, "kernel", klo, klen);
    expect_disjoint("memory map", memmap, 24ull * l.nmap, "kernel", klo, klen);
    expect_disjoint("initrd", info.initrd_gpa, INITRD_SIZE, "start_info", si, 56);
    expect_disjoint("initrd", info.initrd_gpa, INITRD_SIZE, "command line", cmd, clen + 1);

    /* vCPU 0: pvh.pandoc's machine state. */
    struct vmm_regs r;
    struct vmm_sregs s;
    assert_int_equal(vmm_vcpu_get_regs(l.vcpu, &r), 0);
    assert_int_equal(vmm_vcpu_get_sregs(l.vcpu, &s), 0);
    assert_int_equal(r.rip, ei.phys32_entry);
    assert_int_equal(r.rbx & 0xffffffffu, si);
    assert_int_equal(r.rflags & (RFLAGS_IF | RFLAGS_TF | RFLAGS_VM), 0);
    assert_true((s.cr0 & CR0_PE) && !(s.cr0 & CR0_PG));
    assert_int_equal(s.cr4, 0);
    assert_int_equal(s.efer & EFER_LMA, 0);
    expect_flat_seg(&s.cs, 1, 32, "CS");
    expect_flat_seg(&s.ds, 0, 32, "DS");
    expect_flat_seg(&s.es, 0, 32, "ES");
    expect_flat_seg(&s.ss, 0, 32, "SS");
    if (!s.tr.present || s.tr.s || s.tr.type != 0xb || s.tr.base != 0 || s.tr.limit != 0x67)
        fail_msg("TR: pvh.pandoc asks for an active 32-bit TSS with base 0 and limit 0x67; got "
                 "present %u type %#x base %#" PRIx64 " limit %#x", s.tr.present, s.tr.type,
                 (uint64_t)s.tr.base, s.tr.limit);
    lvm_free(&l);
    free(vmlinux);
#endif
}

/* ---- truncated copies are refused ------------------------------------------ */

static void expect_refused(size_t len, uint32_t flags, const char *what)
{
    struct lvm l;
    struct vmm_boot_config cfg = VMM_BOOT_CONFIG_INIT;
    struct vmm_boot_info info = { .struct_size = sizeof info };
    uint8_t *copy = malloc(len);
    assert_non_null(copy);
    memcpy(copy, img.data, len); /* an exact-size buffer: overreads are ASan's to catch */
    cfg.flags = flags;
    cfg.kernel = copy;
    cfg.kernel_size = len;
    cfg.initrd = initrd;
    cfg.initrd_size = sizeof initrd;
    cfg.cmdline = CMDLINE;
    lvm_new(&l);
    int rc = vmm_boot_load(l.vm, &cfg, &info);
    if (rc != -ENOEXEC && rc != -EINVAL)
        fail_msg("%s (%zu of %zu bytes, flags %#x): vmm_boot_load returned %d (%s), expected "
                 "-ENOEXEC or -EINVAL", what, len, img.size, flags, rc, vmm_strerror(rc));
    print_message("%s: %s\n", what, vmm_last_error());
    lvm_free(&l);
    free(copy);
}

static void test_truncated(void **state)
{
    (void)state;
    need_image();
    expect_refused(header_end() - 1, 0, "cut inside the setup header");
    expect_refused(pm_offset() - 1, 0, "cut inside the setup sectors");
    if (vmm_has_feature(VMM_FEATURE_EXTRACT_XZ))
        expect_refused(pm_offset() + h32(H_PAYLOAD_OFFSET) + h32(H_PAYLOAD_LENGTH) / 2,
                       VMM_BOOT_F_BZIMAGE_EXTRACT, "EXTRACT, payload cut in half");
}

/* A file shorter than its protected-mode part: syssize (boot.rst: "The size
 * of the protected-mode code in units of 16-byte paragraphs", 2.04+) and
 * payload_offset + payload_length both say more bytes follow. loader.h
 * promises that truncated images are refused, also without EXTRACT. */
static void test_truncated_pm(void **state)
{
    (void)state;
    need_image();
    uint64_t pm_size = 16ull * h32(0x1f4);
    if (pm_offset() + pm_size > img.size)
        fail_msg("the image itself is shorter than setup + syssize * 16 (%" PRIu64 " bytes)",
                 pm_offset() + pm_size);
    expect_refused(pm_offset() + pm_size - 1, 0, "one byte short of setup + syssize * 16");
    expect_refused(pm_offset() + h32(H_PAYLOAD_OFFSET) + 3, 0, "cut inside the payload's magic");
}

int main(void)
{
    /* Nothing to check without a kernel or KVM: exit 77, which meson
     * reports as SKIP, after saying why. */
    setup_image(NULL);
    if (img.data == NULL) {
        printf("SKIP: %s\n", img.why);
        return 77;
    }
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) {
        printf("SKIP: /dev/kvm is not usable here (%s); loading needs a VM\n", strerror(errno));
        free(img.data);
        return 77;
    }
    close(kvm);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bzimage_64),
        cmocka_unit_test(test_bzimage_extract),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_truncated_pm),
    };
    return cmocka_run_group_tests(tests, NULL, free_image);
}
