/* See loader_util.h. */
#include "loader_util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- VMs ------------------------------------------------------------------- */

void l_require_kvm(void)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        print_message("SKIP: /dev/kvm is not usable here (%s)\n", strerror(errno));
        skip();
    }
    close(fd);
}

static void fill_pattern(uint8_t *p, uint64_t len, uint64_t seed)
{
    /* xorshift64*: no run of equal bytes a loader could write unnoticed. */
    uint64_t x = seed * 0x9e3779b97f4a7c15ull | 1;
    for (uint64_t i = 0; i + 8 <= len; i += 8) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        uint64_t v = x * 0x2545f4914f6cdd1dull;
        memcpy(p + i, &v, 8);
    }
}

/* What each live lvm owns, outside the test function's stack frame. */
#define MAX_LIVE 8
static struct {
    int used;
    vmm_vm *vm;
    uint8_t *snap[L_MAX_REGIONS];
    struct vmm_e820_entry *map;
} g_live[MAX_LIVE];

static void live_free(int slot)
{
    if (slot < 0 || slot >= MAX_LIVE || !g_live[slot].used)
        return;
    vmm_vm_destroy(g_live[slot].vm);
    for (int i = 0; i < L_MAX_REGIONS; i++)
        free(g_live[slot].snap[i]);
    free(g_live[slot].map);
    memset(&g_live[slot], 0, sizeof g_live[slot]);
}

static void live_update(const struct lvm *v)
{
    g_live[v->slot].vm = v->vm;
    for (uint32_t i = 0; i < v->nregions; i++)
        g_live[v->slot].snap[i] = v->r[i].snap;
    g_live[v->slot].map = v->map;
}

int l_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < MAX_LIVE; i++)
        live_free(i);
    return 0;
}

static void set_sentinel(struct lvm *v)
{
    vmm_vcpu *x = NULL;
    int rc = vmm_vm_get_vcpu(v->vm, 0x7eadbeef, &x);
    assert_int_equal(rc, -ENOENT);
    snprintf(v->sentinel, sizeof v->sentinel, "%s", vmm_last_error());
}

static void lvm_finish(struct lvm *v)
{
    for (uint32_t i = 0; i < v->nregions; i++) {
        struct lvm_region *r = &v->r[i];
        void *hva = NULL;
        int rc = vmm_memory_translate(v->vm, r->gpa, r->size, &hva);
        if (rc != 0)
            fail_msg("translate [%#" PRIx64 ", +%#" PRIx64 "): %s", r->gpa, r->size,
                     vmm_last_error());
        r->hva = hva;
        fill_pattern(r->hva, r->size, r->gpa + 1);
        r->snap = malloc(r->size);
        assert_non_null(r->snap);
        live_update(v);
        memcpy(r->snap, r->hva, r->size);
    }
    uint32_t n = 0;
    int rc = vmm_pc_e820(v->vm, NULL, &n);
    if (rc != 0 && rc != -E2BIG)
        fail_msg("vmm_pc_e820: %s", vmm_last_error());
    v->map = calloc(n ? n : 1, sizeof *v->map);
    assert_non_null(v->map);
    if (n && vmm_pc_e820(v->vm, v->map, &n) != 0)
        fail_msg("vmm_pc_e820: %s", vmm_last_error());
    v->nmap = n;
    live_update(v);
    assert_int_equal(vmm_vm_get_vcpu(v->vm, 0, &v->cpu), 0);
    assert_int_equal(vmm_vcpu_get_regs(v->cpu, &v->regs0), 0);
    assert_int_equal(vmm_vcpu_get_sregs(v->cpu, &v->sregs0), 0);
}

static void lvm_create(struct lvm *v, uint32_t platform)
{
    l_require_kvm();
    memset(v, 0, sizeof *v);
    struct vmm_vm_config cfg = VMM_VM_CONFIG_INIT;
    cfg.platform = platform;
    cfg.num_vcpus = 1;
    v->platform = platform;
    v->slot = -1;
    for (int i = 0; i < MAX_LIVE && v->slot < 0; i++)
        if (!g_live[i].used)
            v->slot = i;
    assert_true(v->slot >= 0);
    int rc = vmm_vm_create(&cfg, &v->vm);
    if (rc != 0)
        fail_msg("vmm_vm_create: %s", vmm_last_error());
    g_live[v->slot].used = 1;
    live_update(v);
}

void lvm_new(struct lvm *v, uint32_t platform, uint64_t ram)
{
    lvm_create(v, platform);
    int rc = platform == VMM_PLATFORM_PC ? vmm_pc_add_ram(v->vm, ram)
                                         : vmm_memory_add_ram(v->vm, 0, ram, 0, NULL);
    if (rc != 0)
        fail_msg("adding %" PRIu64 " MiB of RAM: %s", ram >> 20, vmm_last_error());
    v->nregions = 1;
    v->r[0].gpa = 0;
    v->r[0].size = ram;
    lvm_finish(v);
}

void lvm_new_regions(struct lvm *v, uint32_t platform, const uint64_t (*regions)[2], uint32_t n)
{
    assert_true(n <= L_MAX_REGIONS);
    lvm_create(v, platform);
    for (uint32_t i = 0; i < n; i++) {
        int rc = vmm_memory_add_ram(v->vm, regions[i][0], regions[i][1], 0, NULL);
        if (rc != 0)
            fail_msg("vmm_memory_add_ram(%#" PRIx64 ", %#" PRIx64 "): %s", regions[i][0],
                     regions[i][1], vmm_last_error());
        v->r[i].gpa = regions[i][0];
        v->r[i].size = regions[i][1];
    }
    v->nregions = n;
    lvm_finish(v);
}

void lvm_free(struct lvm *v)
{
    if (v->vm == NULL)
        return;
    if (v->loads)
        print_message("  [%s VM: %lu loads, %lu loaded, %lu refused]\n", lvm_platform_name(v),
                      v->loads, v->ok, v->failed);
    live_free(v->slot);
    memset(v, 0, sizeof *v);
}

const char *lvm_platform_name(const struct lvm *v)
{
    return v->platform == VMM_PLATFORM_PC ? "PC" : "NONE";
}

/* ---- inputs ------------------------------------------------------------------ */

uint8_t *l_bytes(size_t n, uint32_t seed)
{
    uint8_t *p = malloc(n ? n : 1);
    assert_non_null(p);
    uint32_t x = seed | 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
    return p;
}

const uint8_t *l_initrd(void)
{
    static uint8_t buf[L_INITRD_SIZE];
    static int done;
    if (!done) {
        uint8_t *p = l_bytes(sizeof buf, 0x1234567);
        memcpy(buf, p, sizeof buf);
        free(p);
        done = 1;
    }
    return buf;
}

struct vmm_boot_config l_cfg(const struct img *img, uint32_t format)
{
    struct vmm_boot_config cfg = VMM_BOOT_CONFIG_INIT;
    cfg.format = format;
    cfg.kernel = img->buf;
    cfg.kernel_size = img->size;
    cfg.initrd = l_initrd();
    cfg.initrd_size = L_INITRD_SIZE;
    cfg.cmdline = L_CMDLINE;
    return cfg;
}

/* ---- checks -------------------------------------------------------------------- */

int l_rc_documented(int rc)
{
    return rc == -ENOEXEC || rc == -EINVAL || rc == -ENOMEM;
}

const char *l_errname(int rc)
{
    switch (rc) {
    case 0: return "0";
    case -ENOEXEC: return "-ENOEXEC";
    case -EINVAL: return "-EINVAL";
    case -ENOMEM: return "-ENOMEM";
    case -EFAULT: return "-EFAULT";
    case -EBUSY: return "-EBUSY";
    case -ENOENT: return "-ENOENT";
    case -EISDIR: return "-EISDIR";
    case -ENOTSUP: return "-ENOTSUP";
    case -E2BIG: return "-E2BIG";
    case -EFBIG: return "-EFBIG";
    case -ERANGE: return "-ERANGE";
    case -EOVERFLOW: return "-EOVERFLOW";
    default: {
        static __thread char buf[32];
        snprintf(buf, sizeof buf, "%d", rc);
        return buf;
    }
    }
}

static int is_word(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

int l_names_field(const char *msg, const char *fields)
{
    if (fields == NULL)
        return 1;
    const char *f = fields;
    for (;;) {
        const char *bar = strchr(f, '|');
        size_t len = bar ? (size_t)(bar - f) : strlen(f);
        char word[64];
        if (len > 0 && len < sizeof word) {
            memcpy(word, f, len);
            word[len] = '\0';
            for (const char *p = strstr(msg, word); p != NULL; p = strstr(p + 1, word))
                if ((p == msg || !is_word(p[-1])) && !is_word(p[len]))
                    return 1;
        }
        if (bar == NULL)
            return 0;
        f = bar + 1;
    }
}

int l_verbose(void)
{
    static int v = -1;
    if (v < 0) {
        const char *e = getenv("LOADER_TEST_VERBOSE");
        v = e != NULL && e[0] != '\0' && e[0] != '0';
    }
    return v;
}

void l_report(const char *what, int rc, const char *msg)
{
    if (rc == 0)
        print_message("  %-58s loaded\n", what);
    else
        print_message("  %-58s %s: %.300s\n", what, l_errname(rc), msg);
}

int l_check(char *why, size_t whylen, const char *what, int rc, const char *msg, int want,
            int want2, const char *fields)
{
    int ok;
    if (want == R_ANY)
        ok = rc == 0 || l_rc_documented(rc);
    else if (want == R_FAIL)
        ok = rc != 0 && l_rc_documented(rc);
    else
        ok = rc == want || (want2 != 0 && rc == want2);
    if (!ok) {
        snprintf(why, whylen, "%s: got %s (\"%s\"), expected %s%s%s", what, l_errname(rc),
                 rc ? msg : "", want == R_ANY ? "a load or a documented error"
                 : want == R_FAIL ? "a documented error" : l_errname(want),
                 want2 ? " or " : "", want2 ? l_errname(want2) : "");
        return 0;
    }
    if (rc != 0 && fields != NULL && !l_names_field(msg, fields)) {
        snprintf(why, whylen, "%s: %s, but the message does not name \"%s\": \"%s\"", what,
                 l_errname(rc), fields, msg);
        return 0;
    }
    return 1;
}

void l_expect(const char *what, int rc, const char *msg, int want, int want2,
              const char *fields)
{
    char why[1024];
    if (!l_check(why, sizeof why, what, rc, msg, want, want2, fields))
        fail_msg("%s", why);
}

static int in_ram(const struct lvm *v, uint64_t addr, uint64_t len)
{
    if (len == 0)
        len = 1;
    for (uint32_t i = 0; i < v->nmap; i++) {
        const struct vmm_e820_entry *e = &v->map[i];
        if (e->type == VMM_E820_RAM && addr >= e->addr && len <= e->size &&
            addr - e->addr <= e->size - len)
            return 1;
    }
    return 0;
}

static int overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return alen && blen && a < b + blen && b < a + alen;
}

static void expect_disjoint(const char *what, const char *an, uint64_t a, uint64_t alen,
                            const char *bn, uint64_t b, uint64_t blen)
{
    if (overlap(a, alen, b, blen))
        fail_msg("%s: %s [%#" PRIx64 ", %#" PRIx64 ") overlaps %s [%#" PRIx64 ", %#" PRIx64 ")",
                 what, an, a, a + alen, bn, b, b + blen);
}

static const uint8_t *ram_at(const struct lvm *v, uint64_t gpa, uint64_t len)
{
    void *hva = NULL;
    if (vmm_memory_translate(v->vm, gpa, len ? len : 1, &hva) != 0)
        return NULL;
    return hva;
}

/* Does guest RAM at [gpa, gpa + len) hold @bytes? (may span adjacent
 * regions) */
static int ram_holds(const struct lvm *v, uint64_t gpa, const void *bytes, uint64_t len)
{
    const uint8_t *b = bytes;
    while (len) {
        const struct lvm_region *r = NULL;
        for (uint32_t i = 0; i < v->nregions; i++)
            if (gpa >= v->r[i].gpa && gpa - v->r[i].gpa < v->r[i].size)
                r = &v->r[i];
        if (r == NULL)
            return 0;
        uint64_t off = gpa - r->gpa, n = r->size - off < len ? r->size - off : len;
        if (memcmp(r->hva + off, b, n) != 0)
            return 0;
        gpa += n;
        b += n;
        len -= n;
    }
    return 1;
}

static uint64_t le(const uint8_t *p, unsigned w)
{
    uint64_t x = 0;
    for (unsigned i = 0; i < w; i++)
        x |= (uint64_t)p[i] << (8 * i);
    return x;
}

struct range {
    uint64_t a, len;
};

/* bzImage facts from the (possibly mutated) header, boot.rst. */
static void check_bzimage(struct lvm *v, const struct vmm_boot_config *cfg,
                          const struct vmm_boot_info *info, const struct vmm_regs *regs,
                          const char *what)
{
    const uint8_t *k = cfg->kernel;
    uint16_t version = (uint16_t)le(k + BZ_VERSION, 2);
    const uint8_t *bp = ram_at(v, info->boot_params_gpa, 4096);
    if (bp == NULL)
        fail_msg("%s: boot_params at %#" PRIx64 " is not in RAM", what, info->boot_params_gpa);
    if (regs->rsi != info->boot_params_gpa)
        fail_msg("%s: RSI %#" PRIx64 " is not boot_params %#" PRIx64, what, regs->rsi,
                 info->boot_params_gpa);
    uint64_t entry_off = (cfg->flags & VMM_BOOT_F_BZIMAGE_ENTRY32) ? 0 : IMG_BZ_ENTRY64_OFF;
    if (info->entry != info->kernel_gpa + entry_off)
        fail_msg("%s: entry %#" PRIx64 ", kernel at %#" PRIx64 ": not the %s entry", what,
                 info->entry, info->kernel_gpa, entry_off ? "64-bit (+0x200)" : "32-bit (+0)");
    if (info->protocol_version != version)
        fail_msg("%s: protocol_version %#x, header says %#x", what, info->protocol_version,
                 version);
    /* ramdisk_image/size: what the loader put, or 0 (zero-page.rst). */
    uint64_t rd = le(bp + BZ_RAMDISK_IMAGE, 4), rs = le(bp + BZ_RAMDISK_SIZE, 4);
    if (cfg->initrd_size) {
        if (rd != info->initrd_gpa || rs != info->initrd_size)
            fail_msg("%s: boot_params ramdisk %#" PRIx64 "+%#" PRIx64 ", loader says %#" PRIx64
                     "+%#" PRIx64, what, rd, rs, info->initrd_gpa, info->initrd_size);
        uint64_t max = version >= 0x0203 ? le(k + BZ_INITRD_ADDR_MAX, 4) : 0x37ffffff;
        if (info->initrd_gpa + info->initrd_size - 1 > max)
            fail_msg("%s: initrd [%#" PRIx64 ", +%#" PRIx64 ") ends above initrd_addr_max %#"
                     PRIx64, what, info->initrd_gpa, info->initrd_size, max);
    } else if (rd != 0 || rs != 0) {
        fail_msg("%s: no initrd, but boot_params has ramdisk_image %#" PRIx64 " size %#" PRIx64
                 " (copied from the image?)", what, rd, rs);
    }
    if (cfg->cmdline != NULL) {
        if (le(bp + BZ_CMD_LINE_PTR, 4) != info->cmdline_gpa)
            fail_msg("%s: boot_params cmd_line_ptr %#" PRIx64 ", loader says %#" PRIx64, what,
                     le(bp + BZ_CMD_LINE_PTR, 4), info->cmdline_gpa);
        if (version >= 0x0206 && strlen(cfg->cmdline) > le(k + BZ_CMDLINE_SIZE, 4))
            fail_msg("%s: a %zu-byte command line loaded, cmdline_size is %" PRIu64, what,
                     strlen(cfg->cmdline), le(k + BZ_CMDLINE_SIZE, 4));
    }
    if (le(bp + BZ_SETUP_DATA, 8) != 0)
        fail_msg("%s: boot_params setup_data %#" PRIx64 " (the image's value?)", what,
                 le(bp + BZ_SETUP_DATA, 8));
    /* boot.rst (init_size): the kernel runs at
     *   relocatable: align_up(max(load, pref_address), kernel_alignment)
     *   else:        pref_address
     * and needs init_size from there; the reported kernel range must cover
     * it, so that nothing else (the initrd) is put inside. kernel_alignment
     * is boot_params' (a loader may lower it towards min_alignment and
     * report that; the decompressor reads it from there). */
    int reloc = version >= 0x0205 && k[BZ_RELOCATABLE];
    uint64_t kal = le(bp + BZ_KERNEL_ALIGNMENT, 4);
    if (version >= 0x020a) {
        uint64_t pref = le(k + BZ_PREF_ADDRESS, 8), init = le(k + BZ_INIT_SIZE, 4);
        uint64_t rt = pref;
        if (reloc) {
            rt = info->kernel_gpa > pref ? info->kernel_gpa : pref;
            if (kal && (kal & (kal - 1)) == 0)
                rt = (rt + kal - 1) & ~(kal - 1);
        }
        if (rt < info->kernel_gpa || rt + init > info->kernel_end || rt + init < rt)
            fail_msg("%s: the kernel runs at %#" PRIx64 " with init_size %#" PRIx64 " (boot.rst's "
                     "runtime rule), outside the reported [%#" PRIx64 ", %#" PRIx64 ")", what, rt,
                     init, info->kernel_gpa, info->kernel_end);
    }
    if (reloc) {
        /* aligned to kernel_alignment as reported, at least min_alignment */
        unsigned minal = version >= 0x020a ? k[BZ_MIN_ALIGNMENT] : 0;
        if (kal == 0 || (kal & (kal - 1)) != 0 || (minal && minal < 32 && kal < (1ull << minal)))
            fail_msg("%s: boot_params kernel_alignment %#" PRIx64 " (min_alignment %u)", what, kal,
                     minal);
        if (info->kernel_gpa % kal)
            fail_msg("%s: relocatable kernel at %#" PRIx64 ", not aligned to kernel_alignment %#"
                     PRIx64, what, info->kernel_gpa, kal);
    } else if (info->kernel_gpa != 0x100000) {
        fail_msg("%s: non-relocatable kernel loaded at %#" PRIx64 ", boot.rst says 0x100000",
                 what, info->kernel_gpa);
    }
    /* The protected-mode part is what the kernel starts with. */
    uint64_t setup = ((uint64_t)(k[BZ_SETUP_SECTS] ? k[BZ_SETUP_SECTS] : 4) + 1) * 512;
    uint64_t pm = cfg->kernel_size > setup ? cfg->kernel_size - setup : 0;
    if (pm && !ram_holds(v, info->kernel_gpa, k + setup, pm))
        fail_msg("%s: RAM at %#" PRIx64 " is not the protected-mode part", what,
                 info->kernel_gpa);
}

/* The pieces of a load, for the placement checks. */
#define MAX_PIECES 80
struct pieces {
    struct range r[MAX_PIECES];
    const char *name[MAX_PIECES];
    int kind[MAX_PIECES]; /* PK_* */
    unsigned n;
};
enum { PK_KERNEL = 1, PK_MODULE, PK_CMDLINE, PK_BOOT, PK_AREA };

static void add_piece(struct pieces *p, int kind, const char *name, uint64_t a, uint64_t len)
{
    if (len == 0 || p->n == MAX_PIECES)
        return;
    p->r[p->n].a = a;
    p->r[p->n].len = len;
    p->name[p->n] = name;
    p->kind[p->n] = kind;
    p->n++;
}

/* The Multiboot header in the first 8 KiB (§3.1.1), or -1. */
static long find_mb_header(const uint8_t *k, uint64_t size)
{
    for (uint64_t off = 0; off + 12 <= size && off + 12 <= 8192; off += 4) {
        uint32_t magic = (uint32_t)le(k + off, 4), flags = (uint32_t)le(k + off + 4, 4);
        if (magic == 0x1badb002u && (uint32_t)(magic + flags + (uint32_t)le(k + off + 8, 4)) == 0)
            return (long)off;
    }
    return -1;
}

/* PT_LOAD segments of an ELF kernel (gABI), as the loader must have loaded
 * them; 0 if @k is not one the checker can read. */
static unsigned elf_segments(const uint8_t *k, uint64_t size, struct pieces *p)
{
    if (size < 52 || memcmp(k, "\x7f" "ELF", 4) != 0 || (k[4] != 1 && k[4] != 2))
        return 0;
    int e64 = k[4] == 2;
    uint64_t phoff = e64 ? le(k + 32, 8) : le(k + 28, 4);
    unsigned phentsize = (unsigned)le(k + (e64 ? 54 : 42), 2);
    unsigned phnum = (unsigned)le(k + (e64 ? 56 : 44), 2);
    unsigned n = 0;
    for (unsigned i = 0; i < phnum; i++) {
        uint64_t o = phoff + (uint64_t)i * phentsize;
        if (o > size || size - o < (e64 ? 56u : 32u))
            return 0;
        const uint8_t *ph = k + o;
        if (le(ph, 4) != 1)
            continue;
        uint64_t paddr = e64 ? le(ph + 24, 8) : le(ph + 12, 4);
        uint64_t memsz = e64 ? le(ph + 40, 8) : le(ph + 20, 4);
        if (memsz == 0)
            continue;
        add_piece(p, PK_KERNEL, "ELF segment", paddr, memsz);
        n++;
    }
    return n;
}

/* Modules after the initrd: PVH hvm_start_info's module list (Xen
 * public/arch-x86/hvm/start_info.h), Multiboot's mods (§3.3); each one's
 * bytes and string are the input's. */
static void check_module_list(struct lvm *v, const struct vmm_boot_config *cfg,
                              const struct vmm_boot_info *info, struct pieces *p,
                              const char *what)
{
    int pvh = info->format == VMM_IMAGE_ELF_PVH;
    const uint8_t *bi = ram_at(v, info->boot_params_gpa, pvh ? 56 : 48);
    if (bi == NULL)
        fail_msg("%s: the boot structure is not in RAM", what);
    uint32_t want = cfg->initrd_size ? 1 + cfg->num_modules : 0;
    uint64_t count, list;
    unsigned esz;
    if (pvh) {
        count = le(bi + 12, 4);
        list = le(bi + 16, 8);
        esz = 32;
    } else {
        count = (le(bi, 4) & (1u << 3)) ? le(bi + 20, 4) : 0;
        list = le(bi + 24, 4);
        esz = 16;
    }
    if (count != want)
        fail_msg("%s: %" PRIu64 " modules listed, %u given (initrd + modules)", what, count, want);
    if (count == 0)
        return;
    const uint8_t *l = ram_at(v, list, count * esz);
    if (l == NULL)
        fail_msg("%s: module list at %#" PRIx64 " is not in RAM", what, list);
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *e = l + (size_t)i * esz;
        uint64_t a = pvh ? le(e, 8) : le(e, 4);
        uint64_t len = pvh ? le(e + 8, 8) : le(e + 4, 4) - a;
        uint64_t str = pvh ? le(e + 16, 8) : le(e + 8, 4);
        const void *data = i == 0 ? cfg->initrd : cfg->modules[i - 1].data;
        uint64_t size = i == 0 ? cfg->initrd_size : cfg->modules[i - 1].size;
        const char *mstr = i == 0 ? NULL : cfg->modules[i - 1].cmdline;
        if (i == 0 && (a != info->initrd_gpa || len != info->initrd_size))
            fail_msg("%s: module 0 [%#" PRIx64 ", +%#" PRIx64 ") is not the initrd the loader "
                     "reported", what, a, len);
        if (len != size || !in_ram(v, a, len) || !ram_holds(v, a, data, len))
            fail_msg("%s: module %u [%#" PRIx64 ", +%#" PRIx64 ") is not the %" PRIu64
                     " given bytes in RAM", what, i, a, len, size);
        if (i > 0)
            add_piece(p, PK_MODULE, "module", a, len);
        if (mstr != NULL) {
            if (str == 0 || !ram_holds(v, str, mstr, strlen(mstr) + 1))
                fail_msg("%s: module %u's string at %#" PRIx64 " is not \"%.40s\"", what, i, str,
                         mstr);
            /* loader.h: module strings at 0x8000, below the tables at 0x10000 */
            if (str < 0x8000 || str + strlen(mstr) + 1 > 0x10000)
                fail_msg("%s: module %u's string [%#" PRIx64 ", +%#zx) is outside the module "
                         "area [0x8000, 0x10000)", what, i, str, strlen(mstr) + 1);
            add_piece(p, PK_CMDLINE, "module string", str, strlen(mstr) + 1);
        }
    }
    if (list < 0x8000 || list + count * esz > 0x10000)
        fail_msg("%s: module list [%#" PRIx64 ", +%#" PRIx64 ") is outside [0x8000, 0x10000)",
                 what, list, count * esz);
}

void lvm_check_loaded(struct lvm *v, const struct vmm_boot_config *cfg,
                      const struct vmm_boot_info *info, const char *what)
{
    struct vmm_regs regs;
    memset(&regs, 0, sizeof regs);
    assert_int_equal(vmm_vcpu_get_regs(v->cpu, &regs), 0);
    if (info->format < VMM_IMAGE_BZIMAGE || info->format > VMM_IMAGE_RAW)
        fail_msg("%s: loaded, info.format %u", what, info->format);
    if (cfg->format != VMM_IMAGE_AUTO && info->format != cfg->format &&
        !(cfg->flags & VMM_BOOT_F_BZIMAGE_EXTRACT))
        fail_msg("%s: asked for format %u, info.format %u", what, cfg->format, info->format);
    if (regs.rip != info->entry)
        fail_msg("%s: RIP %#" PRIx64 ", info.entry %#" PRIx64, what, regs.rip, info->entry);
    int raw = info->format == VMM_IMAGE_RAW;
    /* (RAW: raw_entry is the caller's to choose, e.g. a ROM region.) */
    if (!raw && !in_ram(v, info->entry, 1))
        fail_msg("%s: entry %#" PRIx64 " is not in RAM", what, info->entry);
    const uint8_t *k = cfg->kernel;
    struct pieces p;
    memset(&p, 0, sizeof p);

    /* The kernel: its PT_LOAD segments (ELF PVH, Multiboot ELF), else the
     * reported range (bzImage init_size, a.out load..bss_end, RAW). */
    if (info->kernel_end <= info->kernel_gpa)
        fail_msg("%s: kernel [%#" PRIx64 ", %#" PRIx64 ") is empty", what, info->kernel_gpa,
                 info->kernel_end);
    unsigned nseg = 0;
    long mb = -1;
    if (info->format == VMM_IMAGE_MULTIBOOT)
        mb = find_mb_header(k, cfg->kernel_size);
    int aout = mb >= 0 && (le(k + mb + 4, 4) & (1u << 16));
    if ((info->format == VMM_IMAGE_ELF_PVH && !(cfg->flags & VMM_BOOT_F_BZIMAGE_EXTRACT)) ||
        (info->format == VMM_IMAGE_MULTIBOOT && !aout))
        nseg = elf_segments(k, cfg->kernel_size, &p);
    if (nseg) {
        uint64_t lo = UINT64_MAX, hi = 0;
        for (unsigned i = 0; i < p.n; i++) {
            lo = p.r[i].a < lo ? p.r[i].a : lo;
            hi = p.r[i].a + p.r[i].len > hi ? p.r[i].a + p.r[i].len : hi;
        }
        if (info->kernel_gpa != lo || info->kernel_end != hi)
            fail_msg("%s: info says kernel [%#" PRIx64 ", %#" PRIx64 "), the PT_LOAD segments "
                     "span [%#" PRIx64 ", %#" PRIx64 ")", what, info->kernel_gpa,
                     info->kernel_end, lo, hi);
    } else {
        add_piece(&p, PK_KERNEL, "kernel", info->kernel_gpa,
                  info->kernel_end - info->kernel_gpa);
    }

    /* The initrd (for a bzImage with modules: all of them, each padded to 4). */
    if (cfg->initrd_size) {
        uint64_t total = cfg->initrd_size, padded = cfg->initrd_size;
        if (info->format == VMM_IMAGE_BZIMAGE) {
            for (uint32_t i = 0; i < cfg->num_modules; i++) {
                padded = (padded + 3) / 4 * 4;
                total = padded + cfg->modules[i].size;
                padded = total;
            }
            if (info->initrd_size != total && info->initrd_size != (total + 3) / 4 * 4)
                fail_msg("%s: initrd + modules are %" PRIu64 " bytes, info says %" PRIu64, what,
                         total, info->initrd_size);
            uint64_t off = (cfg->initrd_size + 3) / 4 * 4;
            for (uint32_t i = 0; i < cfg->num_modules; i++) {
                if (!ram_holds(v, info->initrd_gpa + off, cfg->modules[i].data,
                               cfg->modules[i].size))
                    fail_msg("%s: module %u is not at initrd + %#" PRIx64, what, i + 1, off);
                off = (off + cfg->modules[i].size + 3) / 4 * 4;
            }
        } else if (info->initrd_size != cfg->initrd_size) {
            fail_msg("%s: initrd of %" PRIu64 " bytes, info says %" PRIu64, what,
                     (uint64_t)cfg->initrd_size, info->initrd_size);
        }
        if (!in_ram(v, info->initrd_gpa, info->initrd_size))
            fail_msg("%s: initrd [%#" PRIx64 ", +%#" PRIx64 ") is not in RAM", what,
                     info->initrd_gpa, info->initrd_size);
        if (!ram_holds(v, info->initrd_gpa, cfg->initrd, cfg->initrd_size))
            fail_msg("%s: the initrd's bytes at %#" PRIx64 " differ from the input", what,
                     info->initrd_gpa);
        add_piece(&p, PK_MODULE, "initrd", info->initrd_gpa, info->initrd_size);
    } else if (info->initrd_gpa != 0 || info->initrd_size != 0) {
        fail_msg("%s: no initrd given, info says %#" PRIx64 "+%#" PRIx64, what, info->initrd_gpa,
                 info->initrd_size);
    }

    if (info->cmdline_gpa) {
        const char *str = cfg->cmdline ? cfg->cmdline : "";
        uint64_t len = strlen(str) + 1;
        if (!in_ram(v, info->cmdline_gpa, len))
            fail_msg("%s: command line at %#" PRIx64 " is not in RAM", what, info->cmdline_gpa);
        if (!ram_holds(v, info->cmdline_gpa, str, len))
            fail_msg("%s: the command line at %#" PRIx64 " is not the input's bytes", what,
                     info->cmdline_gpa);
        if (!raw && (info->cmdline_gpa < 0x20000 || info->cmdline_gpa + len > 0x30000))
            fail_msg("%s: command line [%#" PRIx64 ", +%#" PRIx64 ") is outside [0x20000, "
                     "0x30000)", what, info->cmdline_gpa, len);
        add_piece(&p, PK_CMDLINE, "command line", info->cmdline_gpa, len);
    } else if (cfg->cmdline != NULL && !raw) {
        fail_msg("%s: a command line was given, info.cmdline_gpa is 0", what);
    }

    if (!raw) {
        uint64_t bp = info->boot_params_gpa;
        uint64_t bplen = info->format == VMM_IMAGE_BZIMAGE ? 4096
                         : info->format == VMM_IMAGE_ELF_PVH ? 56 : 88;
        if (bp == 0 || !in_ram(v, bp, bplen))
            fail_msg("%s: boot structure [%#" PRIx64 ", +%#" PRIx64 ") is not in RAM", what, bp,
                     bplen);
        const uint8_t *bs = ram_at(v, bp, bplen);
        if (info->format == VMM_IMAGE_ELF_PVH && (bs == NULL || le(bs, 4) != 0x336ec578))
            fail_msg("%s: no hvm_start_info magic at %#" PRIx64, what, bp);
        if (info->format != VMM_IMAGE_BZIMAGE && regs.rbx != bp)
            fail_msg("%s: EBX %#" PRIx64 " is not the boot structure %#" PRIx64, what, regs.rbx,
                     bp);
        if (info->format == VMM_IMAGE_MULTIBOOT && (uint32_t)regs.rax != 0x2badb002u)
            fail_msg("%s: EAX %#" PRIx64 " is not the Multiboot magic 0x2badb002", what,
                     regs.rax);
        if (info->format == VMM_IMAGE_BZIMAGE)
            check_bzimage(v, cfg, info, &regs, what);
        else
            check_module_list(v, cfg, info, &p, what);
        add_piece(&p, PK_BOOT, "boot structure", bp, bplen);
        add_piece(&p, PK_AREA, "boot-data area", L_BOOT_AREA_START,
                  L_BOOT_AREA_END - L_BOOT_AREA_START);
    } else if (info->kernel_gpa != cfg->raw_gpa ||
               !ram_holds(v, cfg->raw_gpa, cfg->kernel, cfg->kernel_size)) {
        fail_msg("%s: RAW image not intact at raw_gpa %#" PRIx64, what, cfg->raw_gpa);
    }

    /* Placement: kernel pieces and modules in RAM; kernel, modules, command
     * line, boot structure and boot-data area pairwise disjoint (command
     * line, module strings and boot structure live in the area). */
    for (unsigned i = 0; i < p.n; i++) {
        if ((p.kind[i] == PK_KERNEL || p.kind[i] == PK_MODULE) &&
            !in_ram(v, p.r[i].a, p.r[i].len))
            fail_msg("%s: %s [%#" PRIx64 ", %#" PRIx64 ") is not (wholly) in RAM", what,
                     p.name[i], p.r[i].a, p.r[i].a + p.r[i].len);
        for (unsigned j = i + 1; j < p.n; j++) {
            int inside_area = (p.kind[i] == PK_AREA || p.kind[j] == PK_AREA) &&
                              (p.kind[i] == PK_CMDLINE || p.kind[j] == PK_CMDLINE ||
                               p.kind[i] == PK_BOOT || p.kind[j] == PK_BOOT);
            int same_kernel = p.kind[i] == PK_KERNEL && p.kind[j] == PK_KERNEL;
            if (!inside_area && !same_kernel)
                expect_disjoint(what, p.name[i], p.r[i].a, p.r[i].len, p.name[j], p.r[j].a,
                                p.r[j].len);
        }
    }

    /* Nothing else changed. */
    if (raw) /* GDT/TSS/page tables at 0x10000 (PROTECTED, LONG) */
        add_piece(&p, PK_AREA, "boot-data area", L_BOOT_AREA_START,
                  L_BOOT_AREA_END - L_BOOT_AREA_START);
    add_piece(&p, PK_AREA, "legacy area", L_LEGACY_START, L_LEGACY_END - L_LEGACY_START);
    for (uint32_t i = 0; i < v->nregions; i++) {
        const struct lvm_region *r = &v->r[i];
        for (uint64_t off = 0; off < r->size; off += 4096) {
            uint64_t n = r->size - off < 4096 ? r->size - off : 4096;
            if (memcmp(r->hva + off, r->snap + off, n) == 0)
                continue;
            for (uint64_t j = 0; j < n; j++) {
                if (r->hva[off + j] == r->snap[off + j])
                    continue;
                uint64_t gpa = r->gpa + off + j;
                int ok = 0;
                for (unsigned a = 0; a < p.n && !ok; a++)
                    ok = gpa >= p.r[a].a && gpa - p.r[a].a < p.r[a].len;
                if (!ok)
                    fail_msg("%s: loaded, but guest RAM at %#" PRIx64 " changed, outside the "
                             "kernel [%#" PRIx64 ", %#" PRIx64 "), initrd, modules, command "
                             "line, boot structure and boot-data area", what, gpa,
                             info->kernel_gpa, info->kernel_end);
            }
        }
    }
}

void lvm_restore(struct lvm *v)
{
    for (uint32_t i = 0; i < v->nregions; i++)
        memcpy(v->r[i].hva, v->r[i].snap, v->r[i].size);
    int rc = vmm_vcpu_set_sregs(v->cpu, &v->sregs0);
    if (rc != 0)
        fail_msg("restoring vCPU 0's sregs: %s", vmm_last_error());
    rc = vmm_vcpu_set_regs(v->cpu, &v->regs0);
    if (rc != 0)
        fail_msg("restoring vCPU 0's regs: %s", vmm_last_error());
}

static void expect_ram_unchanged(const struct lvm *v, const char *what, int rc, const char *msg)
{
    for (uint32_t i = 0; i < v->nregions; i++) {
        const struct lvm_region *r = &v->r[i];
        if (memcmp(r->hva, r->snap, r->size) == 0)
            continue;
        uint64_t first = UINT64_MAX, last = 0, count = 0;
        for (uint64_t j = 0; j < r->size; j++) {
            if (r->hva[j] != r->snap[j]) {
                if (first == UINT64_MAX)
                    first = j;
                last = j;
                count++;
            }
        }
        fail_msg("%s: the failed load (%s: \"%s\") changed %" PRIu64 " bytes of guest RAM in "
                 "[%#" PRIx64 ", %#" PRIx64 "]", what, l_errname(rc), msg, count, r->gpa + first,
                 r->gpa + last);
    }
}

void lvm_mark(struct lvm *v, struct lvm_mark *m, int regs)
{
    memset(m, 0, sizeof *m);
    m->have_regs = regs;
    if (regs) {
        assert_int_equal(vmm_vcpu_get_regs(v->cpu, &m->regs), 0);
        assert_int_equal(vmm_vcpu_get_sregs(v->cpu, &m->sregs), 0);
    }
    set_sentinel(v);
}

void lvm_expect_unchanged(struct lvm *v, const struct lvm_mark *m, int rc, const char *msg,
                          const char *what)
{
    if (msg[0] == '\0' || strcmp(msg, v->sentinel) == 0)
        fail_msg("%s: returned %s and set no error message of its own (\"%s\")", what,
                 l_errname(rc), msg);
    expect_ram_unchanged(v, what, rc, msg);
    if (!m->have_regs)
        return;
    struct vmm_regs r1;
    struct vmm_sregs s1;
    memset(&r1, 0, sizeof r1);
    memset(&s1, 0, sizeof s1);
    assert_int_equal(vmm_vcpu_get_regs(v->cpu, &r1), 0);
    assert_int_equal(vmm_vcpu_get_sregs(v->cpu, &s1), 0);
    if (memcmp(&m->regs, &r1, sizeof r1) != 0)
        fail_msg("%s: the failed load (%s: \"%s\") changed vCPU 0's registers (RIP %#" PRIx64
                 " -> %#" PRIx64 ", RSI %#" PRIx64 " -> %#" PRIx64 ")", what, l_errname(rc), msg,
                 m->regs.rip, r1.rip, m->regs.rsi, r1.rsi);
    if (memcmp(&m->sregs, &s1, sizeof s1) != 0)
        fail_msg("%s: the failed load (%s: \"%s\") changed vCPU 0's sregs (CR0 %#" PRIx64
                 " -> %#" PRIx64 ", EFER %#" PRIx64 " -> %#" PRIx64 ", CS %#x -> %#x)", what,
                 l_errname(rc), msg, m->sregs.cr0, s1.cr0, m->sregs.efer, s1.efer,
                 m->sregs.cs.selector, s1.cs.selector);
}

void lvm_resnapshot(struct lvm *v)
{
    for (uint32_t i = 0; i < v->nregions; i++)
        memcpy(v->r[i].snap, v->r[i].hva, v->r[i].size);
    assert_int_equal(vmm_vcpu_get_regs(v->cpu, &v->regs0), 0);
    assert_int_equal(vmm_vcpu_get_sregs(v->cpu, &v->sregs0), 0);
}

static int load(struct lvm *v, const struct vmm_boot_config *cfg, struct vmm_boot_info *info,
                char *msg, const char *what, int keep)
{
    struct vmm_boot_info local;
    struct lvm_mark m;
    char mbuf[512];
    if (info == NULL)
        info = &local;
    if (msg == NULL)
        msg = mbuf;
    lvm_mark(v, &m, 1);
    memset(info, 0, sizeof *info);
    info->struct_size = sizeof *info;

    int rc = vmm_boot_load(v->vm, cfg, info);
    snprintf(msg, 512, "%s", vmm_last_error());
    v->loads++;
    if (rc == 0) {
        v->ok++;
        lvm_check_loaded(v, cfg, info, what);
        if (!keep)
            lvm_restore(v);
        return 0;
    }
    v->failed++;
    lvm_expect_unchanged(v, &m, rc, msg, what);
    return rc;
}

int lvm_load(struct lvm *v, const struct vmm_boot_config *cfg, struct vmm_boot_info *info,
             char *msg, const char *what)
{
    return load(v, cfg, info, msg, what, 0);
}

/* ---- mutations --------------------------------------------------------------------- */

void l_apply(struct img *img, const struct patch *p, size_t np)
{
    int fix = 0;
    for (size_t i = 0; i < np && p[i].kind != P_END; i++) {
        switch (p[i].kind) {
        case P_ABS:
            img_put(img, p[i].a, p[i].w, p[i].v);
            break;
        case P_ELF:
            img_elf_put(img, (enum elf_field)p[i].a, p[i].ph, p[i].v);
            break;
        case P_MB:
            img_put(img, img->mb_off + p[i].a, 4, p[i].v);
            break;
        case P_NOTE:
            img_put(img, img->note_off + p[i].a, p[i].w, p[i].v);
            break;
        case P_XEN:
            img_put(img, img->xen_note_off + p[i].a, p[i].w, p[i].v);
            break;
        case P_FIXSUM:
            fix = 1;
            break;
        default:
            fail_msg("bad patch kind %d", (int)p[i].kind);
        }
    }
    if (fix)
        img_mb_fix_checksum(img);
}

void l_run_cases(struct lvm *v, const struct img *base, const struct mcase *cases, size_t n)
{
    char why[1024];
    unsigned bad = 0;
    print_message("%s on platform %s:\n", base->name, lvm_platform_name(v));
    for (size_t i = 0; i < n; i++) {
        const struct mcase *c = &cases[i];
        struct img im;
        img_copy(&im, base);
        l_apply(&im, c->p, sizeof c->p / sizeof c->p[0]);
        uint8_t *big = NULL;
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 1 && (c->cfg & C_NO_AUTO))
                break;
            struct vmm_boot_config cfg = l_cfg(&im, pass == 0 ? im.format : VMM_IMAGE_AUTO);
            cfg.flags = c->flags;
            if (c->cmdline)
                cfg.cmdline = c->cmdline;
            if (c->cfg & C_NO_CMDLINE)
                cfg.cmdline = NULL;
            if (c->initrd_size) {
                if (big == NULL)
                    big = l_bytes(c->initrd_size, 77);
                cfg.initrd = big;
                cfg.initrd_size = c->initrd_size;
            }
            if (c->cfg & C_NO_INITRD) {
                cfg.initrd = NULL;
                cfg.initrd_size = 0;
            }
            char what[160], msg[512];
            snprintf(what, sizeof what, "%s%s", c->name, pass ? " [AUTO]" : "");
            struct vmm_boot_info info;
            int rc = load(v, &cfg, &info, msg, what, 1);
            if (memcmp(cfg.kernel, im.buf, im.size) != 0)
                fail_msg("%s: vmm_boot_load changed the caller's image", what);
            l_report(what, rc, msg);
            if (rc == 0 && c->check)
                c->check(v, &im, &info);
            if (rc == 0)
                lvm_restore(v);
            int ok;
            if (pass == 0) {
                ok = l_check(why, sizeof why, what, rc, msg, c->rc, c->rc2, c->fields);
            } else if (c->cfg & C_AUTO_ANY) {
                ok = l_check(why, sizeof why, what, rc, msg,
                             c->rc == 0 ? 0 : c->rc == R_ANY ? R_ANY : R_FAIL, 0, NULL);
            } else {
                ok = l_check(why, sizeof why, what, rc, msg, c->rc, c->rc2, NULL);
                if (ok && rc == 0 && info.format != im.format) {
                    snprintf(why, sizeof why, "%s: AUTO detected format %u, expected %u", what,
                             info.format, im.format);
                    ok = 0;
                }
            }
            if (!ok) {
                /* Carry on: one disagreement must not hide the next. */
                print_message("  MISMATCH: %s\n", why);
                bad++;
            }
        }
        free(big);
        img_free(&im);
    }
    if (bad)
        fail_msg("%s on %s: %u outcomes differ from the expectation (MISMATCH lines above)",
                 base->name, lvm_platform_name(v), bad);
}

/* ---- fuzz-ish loops -------------------------------------------------------------------- */

struct tally {
    unsigned long n, ok, enoexec, einval, enomem, other;
    unsigned bad;          /* outcomes against the expectation */
    char first_bad[3][256];
};

static void tally_add(struct tally *t, int rc)
{
    t->n++;
    if (rc == 0)
        t->ok++;
    else if (rc == -ENOEXEC)
        t->enoexec++;
    else if (rc == -EINVAL)
        t->einval++;
    else if (rc == -ENOMEM)
        t->enomem++;
    else
        t->other++;
}

static void tally_bad(struct tally *t, const char *fmt, ...)
{
    if (t->bad < 3) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(t->first_bad[t->bad], sizeof t->first_bad[0], fmt, ap);
        va_end(ap);
    }
    t->bad++;
}

static void tally_end(const struct tally *t, const char *what)
{
    print_message("  %-58s %lu loads: %lu loaded, %lu -ENOEXEC, %lu -EINVAL, %lu -ENOMEM, "
                  "%lu other\n", what, t->n, t->ok, t->enoexec, t->einval, t->enomem, t->other);
    if (t->bad)
        fail_msg("%s: %u of %lu outcomes are wrong, e.g. %s%s%s%s%s", what, t->bad, t->n,
                 t->first_bad[0], t->bad > 1 ? "; " : "", t->bad > 1 ? t->first_bad[1] : "",
                 t->bad > 2 ? "; " : "", t->bad > 2 ? t->first_bad[2] : "");
}

void l_fuzz_truncations(struct lvm *v, const struct img *base, size_t step, size_t from,
                        size_t to)
{
    if (to == 0 || to > base->size)
        to = base->size;
    if (from == 0)
        from = 1;
    for (int pass = 0; pass < 2; pass++) {
        uint32_t format = pass == 0 ? base->format : VMM_IMAGE_AUTO;
        struct tally t;
        memset(&t, 0, sizeof t);
        for (size_t len = from; len < to; len++) {
            if (step > 1 && len % step != 0 && len + 64 < to && len > from + 64)
                continue;
            /* An exact-size copy, so that ASan sees any read past the end. */
            uint8_t *k = malloc(len);
            assert_non_null(k);
            memcpy(k, base->buf, len);
            struct img im = *base;
            im.buf = k;
            im.size = len;
            struct vmm_boot_config cfg = l_cfg(&im, format);
            char what[128], msg[512];
            snprintf(what, sizeof what, "%s truncated to %zu of %zu bytes%s", base->name, len,
                     base->size, pass ? " [AUTO]" : "");
            int rc = lvm_load(v, &cfg, NULL, msg, what);
            tally_add(&t, rc);
            if (l_verbose())
                l_report(what, rc, msg);
            if (rc != -ENOEXEC)
                tally_bad(&t, "%zu bytes: %s (%s)", len, l_errname(rc), rc ? msg : "loaded");
            free(k);
        }
        char what[128];
        snprintf(what, sizeof what, "%s, truncated to [%zu, %zu) bytes%s (%s)", base->name,
                 from, to, pass ? " [AUTO]" : "", lvm_platform_name(v));
        tally_end(&t, what);
    }
}

void l_fuzz_flips(struct lvm *v, const struct img *base, size_t from, size_t to, uint32_t flags,
                  int fixsum)
{
    static const uint8_t masks[] = {0xff, 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80};
    struct tally t;
    memset(&t, 0, sizeof t);
    uint8_t *k = malloc(base->size);
    assert_non_null(k);
    if (to > base->size)
        to = base->size;
    for (size_t off = from; off < to; off++) {
        for (size_t m = 0; m < sizeof masks; m++) {
            for (int pass = 0; pass < (m == 0 ? 2 : 1); pass++) {
                memcpy(k, base->buf, base->size);
                struct img im = *base;
                im.buf = k;
                k[off] ^= masks[m];
                if (fixsum && !(off >= base->mb_off + MB_H_CHECKSUM &&
                                off < base->mb_off + MB_H_CHECKSUM + 4))
                    img_mb_fix_checksum(&im);
                uint8_t before[4096];
                assert_true(base->size <= sizeof before);
                memcpy(before, k, base->size);
                struct vmm_boot_config cfg = l_cfg(&im, pass ? VMM_IMAGE_AUTO : base->format);
                cfg.flags = flags;
                char what[128], msg[512];
                snprintf(what, sizeof what, "%s byte %#zx ^= %#x%s", base->name, off, masks[m],
                         pass ? " [AUTO]" : "");
                int rc = lvm_load(v, &cfg, NULL, msg, what);
                tally_add(&t, rc);
                if (l_verbose())
                    l_report(what, rc, msg);
                if (memcmp(before, k, base->size) != 0)
                    fail_msg("%s: vmm_boot_load changed the caller's image", what);
                if (rc != 0 && !l_rc_documented(rc))
                    tally_bad(&t, "%s: %s (%s)", what, l_errname(rc), msg);
            }
        }
    }
    free(k);
    char what[128];
    snprintf(what, sizeof what, "%s, flips of [%#zx, %#zx) (%s)", base->name, from, to,
             lvm_platform_name(v));
    tally_end(&t, what);
}
