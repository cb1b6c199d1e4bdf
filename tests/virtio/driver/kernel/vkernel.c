/* The vdrv test guest: a PVH kernel that runs the vdrv driver (../vdrv.h)
 * against whatever virtio devices the VMM gives it and reports on COM1.
 *
 * Entered in 32-bit protected mode with paging off (identity: GPA ==
 * pointer), IF=0 throughout. The command line (hvm_start_info
 * cmdline_paddr) says what to run; see vdrv_opts_parse(). Exit: the result
 * goes to port 0xf4 (QEMU isa-debug-exit; libvmm's debug-exit device):
 * 0x600d when every check passed, 0xbad0 otherwise, then cli; hlt. */
#include <stddef.h>
#include <stdint.h>

#include "vdrv.h"

#define COM1 0x3f8
#define COM1_LSR (COM1 + 5)
#define LSR_THRE 0x20
#define EXIT_PORT 0xf4
#define EXIT_OK 0x600d
#define EXIT_FAIL 0xbad0
#define SI_MAGIC 0x336ec578u  /* hvm_start_info.magic */
#define SI_CMDLINE_PADDR 24
#define ARENA_BYTES (1u << 20)
#define FOUR_GIB 0x100000000ull

static uint8_t arena[ARENA_BYTES] __attribute__((aligned(4096)));

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint16_t inw(uint16_t port) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint32_t inl(uint16_t port) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static void com1_putc(char c)
{
    /* Poll LSR.THRE, bounded: a VMM without LSR must not hang us. */
    for (uint32_t i = 0; i < 100000 && (inb(COM1_LSR) & LSR_THRE) == 0; i++)
        __asm__ volatile("pause");
    outb(COM1, (uint8_t)c);
}

static void g_log(void *ctx, const char *s)
{
    (void)ctx;
    while (*s != '\0')
        com1_putc(*s++);
}

static uint32_t g_pio_read(void *ctx, uint16_t port, uint32_t len)
{
    (void)ctx;
    return len == 1 ? inb(port) : len == 2 ? inw(port) : inl(port);
}

static void g_pio_write(void *ctx, uint16_t port, uint32_t len, uint32_t v)
{
    (void)ctx;
    if (len == 1)
        outb(port, (uint8_t)v);
    else if (len == 2)
        outw(port, (uint16_t)v);
    else
        outl(port, v);
}

/* Device registers: one access of exactly len bytes (volatile). 8-byte
 * accesses are two 4-byte ones, as a 32-bit CPU does them. */
static uint64_t g_mmio_read(void *ctx, uint64_t gpa, uint32_t len)
{
    (void)ctx;
    if (gpa >= FOUR_GIB)
        return ~(uint64_t)0;
    uintptr_t a = (uintptr_t)gpa;
    switch (len) {
    case 1: return *(volatile uint8_t *)a;
    case 2: return *(volatile uint16_t *)a;
    case 4: return *(volatile uint32_t *)a;
    default: return *(volatile uint32_t *)a | (uint64_t)*(volatile uint32_t *)(a + 4) << 32;
    }
}

static void g_mmio_write(void *ctx, uint64_t gpa, uint32_t len, uint64_t v)
{
    (void)ctx;
    if (gpa >= FOUR_GIB)
        return;
    uintptr_t a = (uintptr_t)gpa;
    switch (len) {
    case 1: *(volatile uint8_t *)a = (uint8_t)v; break;
    case 2: *(volatile uint16_t *)a = (uint16_t)v; break;
    case 4: *(volatile uint32_t *)a = (uint32_t)v; break;
    default:
        *(volatile uint32_t *)a = (uint32_t)v;
        *(volatile uint32_t *)(a + 4) = (uint32_t)(v >> 32);
        break;
    }
}

static void *g_ram(void *ctx, uint64_t gpa, uint64_t len)
{
    (void)ctx;
    if (gpa >= FOUR_GIB || len > FOUR_GIB - gpa)
        return NULL;
    return (void *)(uintptr_t)gpa;
}

static void g_relax(void *ctx)
{
    (void)ctx;
    __asm__ volatile("pause");
}

static const char *cmdline_of(uint32_t si)
{
    const volatile uint32_t *p = (const volatile uint32_t *)(uintptr_t)si;
    if (si == 0 || p[0] != SI_MAGIC)
        return "";
    uint64_t c = p[SI_CMDLINE_PADDR / 4] | (uint64_t)p[SI_CMDLINE_PADDR / 4 + 1] << 32;
    if (c == 0 || c >= FOUR_GIB)
        return "";
    return (const char *)(uintptr_t)c;
}

void vkmain(uint32_t start_info);
void vkmain(uint32_t start_info)
{
    struct vdrv_bus bus = {
        .ctx = NULL,
        .pio_read = g_pio_read, .pio_write = g_pio_write,
        .mmio_read = g_mmio_read, .mmio_write = g_mmio_write,
        .ram = g_ram, .log = g_log, .relax = g_relax,
        .arena_base = (uint64_t)(uintptr_t)arena, .arena_size = ARENA_BYTES,
    };
    struct vdrv_opts o;
    const char *cmdline = cmdline_of(start_info);

    g_log(NULL, "vdrv: guest up, cmdline: ");
    g_log(NULL, cmdline);
    g_log(NULL, "\n");
    vdrv_opts_default(&o);
    int bad = vdrv_opts_parse(&o, cmdline, &bus) != 0;
    int fail = vdrv_run(&bus, &o);
    outl(EXIT_PORT, (fail == 0 && !bad) ? EXIT_OK : EXIT_FAIL);
    for (;;)
        __asm__ volatile("cli; hlt");
}

/* gcc may emit calls to these even when freestanding. */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
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
