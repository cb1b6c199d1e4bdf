/* Freestanding helpers for vdrv: memory and string functions under our own
 * names (the host build links libc; the guest provides memset/memcpy for
 * the compiler), a detail-string builder, the arena, and result lines. */
#include "vdrv_int.h"

void vd_memset(void *d, int c, size_t n)
{
    volatile uint8_t *p = d;
    while (n-- > 0)
        *p++ = (uint8_t)c;
}

void vd_memcpy(void *d, const void *s, size_t n)
{
    volatile uint8_t *p = d;
    const volatile uint8_t *q = s;
    while (n-- > 0)
        *p++ = *q++;
}

int vd_memcmp(const void *a, const void *b, size_t n)
{
    const volatile uint8_t *p = a, *q = b;
    for (size_t i = 0; i < n; i++)
        if (p[i] != q[i])
            return p[i] < q[i] ? -1 : 1;
    return 0;
}

size_t vd_strlen(const char *s)
{
    size_t n = 0;
    while (s[n] != '\0')
        n++;
    return n;
}

int vd_strncmp(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i] != b[i])
            return (uint8_t)a[i] < (uint8_t)b[i] ? -1 : 1;
        if (a[i] == '\0')
            return 0;
    }
    return 0;
}

/* Orders ring writes against the device (2.7.13: the driver MUST perform a
 * suitable memory barrier before the idx update and before notifying). */
void vd_mb(void)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

void vs_init(struct vstr *v)
{
    v->n = 0;
    v->buf[0] = '\0';
}

void vs_char(struct vstr *v, char c)
{
    if (v->n + 1 < sizeof(v->buf)) {
        v->buf[v->n++] = c;
        v->buf[v->n] = '\0';
    }
}

void vs_str(struct vstr *v, const char *s)
{
    while (*s != '\0')
        vs_char(v, *s++);
}

/* x / 10 by shift-and-subtract: the 32-bit guest has no libgcc for
 * 64-bit division. */
static uint64_t div10(uint64_t x, uint32_t *rem)
{
    uint64_t q = 0, r = 0;
    for (int i = 63; i >= 0; i--) {
        r = r << 1 | ((x >> i) & 1);
        if (r >= 10) {
            r -= 10;
            q |= (uint64_t)1 << i;
        }
    }
    *rem = (uint32_t)r;
    return q;
}

void vs_dec(struct vstr *v, uint64_t x)
{
    char t[21];
    int n = 0;
    do {
        uint32_t rem;
        x = div10(x, &rem);
        t[n++] = (char)('0' + (int)rem);
    } while (x != 0);
    while (n > 0)
        vs_char(v, t[--n]);
}

void vs_hex(struct vstr *v, uint64_t x)
{
    int shift = 60;
    vs_str(v, "0x");
    while (shift > 0 && ((x >> shift) & 0xf) == 0)
        shift -= 4;
    for (; shift >= 0; shift -= 4)
        vs_char(v, "0123456789abcdef"[(x >> shift) & 0xf]);
}

void vd_log(const struct vdrv_bus *bus, const char *s)
{
    bus->log(bus->ctx, s);
}

uint64_t vd_alloc(struct vdrv_run *r, uint64_t len, uint64_t align, uint8_t **hva)
{
    const struct vdrv_bus *bus = r->bus;
    uint64_t gpa = (r->arena_next + align - 1) & ~(align - 1);
    uint64_t end = bus->arena_base + bus->arena_size;

    *hva = NULL;
    if (len == 0 || gpa < r->arena_next || gpa > end || len > end - gpa) {
        vd_log(bus, "vdrv: arena exhausted\n");
        return 0;
    }
    uint8_t *p = bus->ram(bus->ctx, gpa, len);
    if (p == NULL) {
        vd_log(bus, "vdrv: arena is not guest RAM\n");
        return 0;
    }
    vd_memset(p, 0, (size_t)len);
    r->arena_next = gpa + len;
    *hva = p;
    return gpa;
}

int vd_result(struct vdrv_dev *d, const char *check, int ok, const char *detail)
{
    struct vstr v;
    vs_init(&v);
    vs_str(&v, "VT ");
    vs_str(&v, d->tname);
    vs_char(&v, ' ');
    vs_str(&v, d->name);
    vs_char(&v, ' ');
    vs_str(&v, check);
    vs_str(&v, ok ? " ok" : " FAIL");
    if (detail != NULL && detail[0] != '\0') {
        vs_char(&v, ' ');
        vs_str(&v, detail);
    }
    vd_log(d->bus, v.buf);
    vd_log(d->bus, "\n");
    if (ok)
        d->run->pass++;
    else
        d->run->fail++;
    return ok;
}
