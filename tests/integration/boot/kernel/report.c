/* See report.h. Kept tiny: this code runs at CPL0, which the development
 * machines emulate at about 2 million instructions per second. */
#include "report.h"

static void r_char(char c)
{
    out8(REPORT_PORT, (uint8_t)c);
}

void r_str(const char *s)
{
    while (*s != '\0')
        r_char(*s++);
}

void r_hex(uint64_t v)
{
    int shift = 60;
    r_str("0x");
    while (shift > 0 && ((v >> shift) & 0xf) == 0)
        shift -= 4;
    for (; shift >= 0; shift -= 4)
        r_char("0123456789abcdef"[(v >> shift) & 0xf]);
}

static void r_dec(uint32_t v)
{
    char buf[11];
    int n = 0;
    do {
        buf[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0)
        r_char(buf[--n]);
}

void r_kv(const char *key, uint64_t v)
{
    r_str(key);
    r_char('=');
    r_hex(v);
    r_char('\n');
}

void r_kiv(const char *prefix, uint32_t index, const char *field, uint64_t v)
{
    r_str(prefix);
    r_dec(index);
    r_char('.');
    r_kv(field, v);
}

void r_kstr(const char *key, const char *s, uint32_t max)
{
    r_str(key);
    r_char('=');
    for (uint32_t i = 0; i < max && s[i] != '\0'; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c < 0x20 || c >= 0x7f || c == '\\') {
            r_str("\\x");
            r_char("0123456789abcdef"[c >> 4]);
            r_char("0123456789abcdef"[c & 0xf]);
        } else {
            r_char((char)c);
        }
    }
    r_char('\n');
}

uint32_t fnv1a(const void *p, uint64_t n)
{
    const uint8_t *b = p;
    uint32_t h = 0x811c9dc5u;
    for (uint64_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x01000193u;
    }
    return h;
}

int all_zero(const void *p, uint64_t n)
{
    const uint8_t *b = p;
    for (uint64_t i = 0; i < n; i++)
        if (b[i] != 0)
            return 0;
    return 1;
}

void r_done(void)
{
    r_str("done\n");
    out32(EXIT_PORT, EXIT_OK);
    for (;;)
        __asm__ volatile("cli; hlt");
}

void *memset(void *d, int c, size_t n)
{
    uint8_t *p = d;
    while (n-- > 0)
        *p++ = (uint8_t)c;
    return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
    uint8_t *p = d;
    const uint8_t *q = s;
    while (n-- > 0)
        *p++ = *q++;
    return d;
}
