/* Reporting for the boot-protocol test kernels: "key=value\n" lines written
 * to the COM1 data port one `out` per byte (no LSR polling, so it works with
 * a real 16550A or a plain capture device), and an exit code written to the
 * debug-exit port. Freestanding; built for both -m32 and -m64. */
#ifndef BOOT_KERNEL_REPORT_H
#define BOOT_KERNEL_REPORT_H

#include <stddef.h>
#include <stdint.h>

#define REPORT_PORT 0x3f8     /* COM1 THR */
#define EXIT_PORT 0xf4        /* QEMU isa-debug-exit / vmm_debug_exit_attach */
#define EXIT_OK 0x600d        /* "good": every line was written */

static inline void out8(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void out32(uint16_t port, uint32_t v)
{
    __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

void r_str(const char *s);
void r_hex(uint64_t v);                 /* 0x-prefixed lower-case hex */
/* key=0x<hex>\n */
void r_kv(const char *key, uint64_t v);
/* <prefix><index>.<field>=0x<hex>\n, e.g. "e820.3.addr=0x100000" */
void r_kiv(const char *prefix, uint32_t index, const char *field, uint64_t v);
/* key=<bytes up to NUL or max, '\n' and non-printables as \xNN>\n */
void r_kstr(const char *key, const char *s, uint32_t max);
/* FNV-1a, 32 bits, over n bytes. */
uint32_t fnv1a(const void *p, uint64_t n);
/* 1 if the n bytes at p are all zero. */
int all_zero(const void *p, uint64_t n);
/* "done\n", then the exit code; never returns (hlt loop if the write does
 * not end the VM). */
void r_done(void) __attribute__((noreturn));

/* gcc may emit calls to these even when freestanding. */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);

#endif
