/* vdrv entry points: options (from a kernel command line) and the run over
 * the selected transports. */
#include "vdrv_int.h"

void vdrv_opts_default(struct vdrv_opts *o)
{
    vd_memset(o, 0, sizeof(*o));
    o->transports = VDRV_T_PCI | VDRV_T_MMIO;
    o->devs = VDRV_DEV_ALL;
    o->event_idx = 1;
    o->indirect = 1;
    o->msix = 1;
    o->console_rx = 0;
    o->expect_net_rx = 0;
    o->poll_spins = 20000000u;
}

/* Parses a number (decimal, or hex with 0x) with an optional K/M/G suffix
 * when suffix is set; advances *s. Returns 0 or -1. */
static int parse_num(const char **s, uint64_t *out, int suffix)
{
    const char *p = *s;
    uint64_t v = 0;
    int base = 10, digits = 0;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
    }
    for (;; p++, digits++) {
        int c = *p, dv;
        if (c >= '0' && c <= '9')
            dv = c - '0';
        else if (base == 16 && c >= 'a' && c <= 'f')
            dv = c - 'a' + 10;
        else if (base == 16 && c >= 'A' && c <= 'F')
            dv = c - 'A' + 10;
        else
            break;
        /* Overflow check without 64-bit division (absent in the guest). */
        uint64_t limit = base == 16 ? (~(uint64_t)0 >> 4) : 0x1999999999999999ull;
        if (v > limit)
            return -1;
        uint64_t nv = (base == 16 ? v << 4 : (v << 3) + (v << 1)) + (uint64_t)dv;
        if (nv < v)
            return -1;
        v = nv;
    }
    if (digits == 0)
        return -1;
    if (suffix) {
        int shift = *p == 'K' || *p == 'k' ? 10 : *p == 'M' || *p == 'm' ? 20
                  : *p == 'G' || *p == 'g' ? 30 : 0;
        if (shift != 0) {
            if (v > (~(uint64_t)0 >> shift))
                return -1;
            v <<= shift;
            p++;
        }
    }
    *s = p;
    *out = v;
    return 0;
}

static int word_is(const char *w, size_t n, const char *key, const char **val)
{
    size_t k = vd_strlen(key);
    if (n < k || vd_strncmp(w, key, k) != 0)
        return 0;
    *val = w + k;
    return 1;
}

static int at_end(const char *p, const char *end)
{
    return p == end;
}

static uint32_t parse_devs(const char *p, const char *end)
{
    uint32_t devs = 0;
    while (p < end) {
        const char *q = p;
        while (q < end && *q != ',')
            q++;
        size_t n = (size_t)(q - p);
        if (n == 3 && vd_strncmp(p, "blk", 3) == 0) devs |= VDRV_DEV_BLK;
        else if (n == 3 && vd_strncmp(p, "rng", 3) == 0) devs |= VDRV_DEV_RNG;
        else if (n == 7 && vd_strncmp(p, "console", 7) == 0) devs |= VDRV_DEV_CONSOLE;
        else if (n == 3 && vd_strncmp(p, "net", 3) == 0) devs |= VDRV_DEV_NET;
        else if (n == 3 && vd_strncmp(p, "all", 3) == 0) devs |= VDRV_DEV_ALL;
        else return 0;
        p = q < end ? q + 1 : q;
    }
    return devs;
}

static int parse_word(struct vdrv_opts *o, const char *w, size_t n)
{
    const char *end = w + n, *v;
    uint64_t x;

    if (word_is(w, n, "virtio_mmio.device=", &v)) {
        uint64_t size, base, irq;
        /* <size>@<base>:<irq>[:<id>] (Linux drivers/virtio/virtio_mmio.c) */
        if (parse_num(&v, &size, 1) != 0 || *v++ != '@' || parse_num(&v, &base, 1) != 0 ||
            *v++ != ':' || parse_num(&v, &irq, 0) != 0 || (v != end && *v != ':'))
            return -1;
        if (o->nmmio < VDRV_MAX_MMIO) {
            o->mmio[o->nmmio].size = size;
            o->mmio[o->nmmio].base = base;
            o->mmio[o->nmmio].irq = (uint32_t)irq;
            o->nmmio++;
        }
        return 0;
    }
    if (word_is(w, n, "vt.transport=", &v)) {
        size_t k = (size_t)(end - v);
        if (k == 3 && vd_strncmp(v, "pci", 3) == 0) o->transports = VDRV_T_PCI;
        else if (k == 4 && vd_strncmp(v, "mmio", 4) == 0) o->transports = VDRV_T_MMIO;
        else if (k == 4 && vd_strncmp(v, "both", 4) == 0) o->transports = VDRV_T_PCI | VDRV_T_MMIO;
        else return -1;
        return 0;
    }
    if (word_is(w, n, "vt.hostile_expect=", &v)) {
        size_t k = (size_t)(end - v);
        if (k == 6 && vd_strncmp(v, "libvmm", 6) == 0) o->hostile_expect = VDRV_EXPECT_LIBVMM;
        else if (k == 4 && vd_strncmp(v, "qemu", 4) == 0) o->hostile_expect = VDRV_EXPECT_QEMU;
        else return -1;
        return 0;
    }
    if (word_is(w, n, "vt.hostile=", &v)) {
        if (parse_num(&v, &x, 0) != 0 || !at_end(v, end) || x > VDRV_HOSTILE_RECORD)
            return -1;
        o->hostile = (uint32_t)x;
        return 0;
    }
    if (word_is(w, n, "vt.dev=", &v)) {
        o->devs = parse_devs(v, end);
        return o->devs == 0 ? -1 : 0;
    }
    static const struct { const char *key; int is_spins; } nums[] = {
        { "vt.event_idx=", 0 }, { "vt.indirect=", 0 }, { "vt.msix=", 0 },
        { "vt.console_rx=", 0 }, { "vt.net_rx=", 0 }, { "vt.spins=", 1 }, { "vt.expect=", 1 },
        { "vt.bench=", 1 }, { "vt.irr=", 0 },
    };
    for (uint32_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        if (!word_is(w, n, nums[i].key, &v))
            continue;
        if (parse_num(&v, &x, 0) != 0 || !at_end(v, end) || x > 0xffffffffu ||
            (!nums[i].is_spins && x > 1))
            return -1;
        switch (i) {
        case 0: o->event_idx = (int)x; break;
        case 1: o->indirect = (int)x; break;
        case 2: o->msix = (int)x; break;
        case 3: o->console_rx = (int)x; break;
        case 4: o->expect_net_rx = (uint32_t)x; break;
        case 5: o->poll_spins = (uint32_t)x; break;
        case 6: o->expect = (uint32_t)x; break;
        case 7: o->bench = (uint32_t)x; break;
        default: o->check_irr = (int)x; break;
        }
        return 0;
    }
    return 0; /* not ours */
}

int vdrv_opts_parse(struct vdrv_opts *o, const char *cmdline, const struct vdrv_bus *bus)
{
    const char *p = cmdline;
    int rc = 0;
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        const char *w = p;
        while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\n')
            p++;
        if (p > w && parse_word(o, w, (size_t)(p - w)) != 0) {
            vd_log(bus, "vdrv: bad command-line word: ");
            struct vstr v;
            vs_init(&v);
            for (const char *q = w; q < p; q++)
                vs_char(&v, *q);
            vd_log(bus, v.buf);
            vd_log(bus, "\n");
            rc = -1;
        }
    }
    return rc;
}

int vdrv_run(const struct vdrv_bus *bus, const struct vdrv_opts *o)
{
    struct vdrv_run r;
    vd_memset(&r, 0, sizeof(r));
    r.bus = bus;
    r.opts = o;
    r.arena_next = bus->arena_base;
    r.bar_next = 0xe0000000u;
    /* A software-disabled local APIC drops fixed interrupts (SDM 10.4.7.2),
     * so enable it (SVR bit 8, spurious vector 0xff) for vt.irr; with IF=0
     * nothing is delivered, and MSIs stay pending in the IRR. */
    if (o->check_irr)
        bus->mmio_write(bus->ctx, VDRV_LAPIC_BASE + 0xf0, 4, 0x1ff);

    if (o->transports & VDRV_T_PCI)
        vdrv_pci_scan(&r);
    if (o->transports & VDRV_T_MMIO)
        vdrv_mmio_probe(&r);

    struct vstr v;
    if (o->expect != 0 && r.found != o->expect) {
        vs_init(&v);
        vs_str(&v, "VT all devices found FAIL found=");
        vs_dec(&v, r.found);
        vs_str(&v, " expected=");
        vs_dec(&v, o->expect);
        vs_char(&v, '\n');
        vd_log(bus, v.buf);
        r.fail++;
    }
    vs_init(&v);
    vs_str(&v, "VT done pass=");
    vs_dec(&v, r.pass);
    vs_str(&v, " fail=");
    vs_dec(&v, r.fail);
    vs_char(&v, '\n');
    vd_log(bus, v.buf);
    return (int)r.fail;
}
