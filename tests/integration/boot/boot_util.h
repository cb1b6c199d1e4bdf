/* Helpers for the boot-protocol tests: VMs whose RAM starts out as garbage,
 * a capture device for the test kernels' report lines (COM1 data port) and
 * exit code (debug-exit port), and parsing of the "key=value" lines. */
#ifndef BOOT_UTIL_H
#define BOOT_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <vmm/vmm.h>

#define BOOT_CMDLINE "console=ttyS0 libvmm-test=1 x=12345"
#define BOOT_INITRD_SIZE (4096 + 123)  /* not a whole page: the size must be exact */
#define BOOT_EXIT_OK 0x600d            /* kernel/report.h EXIT_OK */
#define BOOT_REPORT_PORT 0x3f8
#define BOOT_EXIT_PORT 0xf4
#define BOOT_GARBAGE 0xa5              /* RAM is filled with this before loading */

struct boot_cap {
    char text[65536];   /* everything written to the report port */
    size_t len;
    int overflow;
    double t_first;     /* h_now() of the first byte, 0 if none */
    int exited;         /* the exit port was written */
    uint32_t exit_code;
};

struct boot_vm {
    vmm_vm *vm;
    struct boot_cap *cap;  /* owned by the capture device */
    double t_create;       /* just before vmm_vm_create() */
    double t_fill;         /* seconds spent filling RAM with garbage (not
                              counted in the reported boot time) */
    uint64_t ram;
};

double boot_now(void);

/* Skip the calling test (cmocka skip(), which longjmps out) if /dev/kvm
 * cannot be used. Call it before allocating anything the test would free. */
void boot_require_kvm(void);

/* A VM with @ram bytes of RAM (platform PC: vmm_pc_add_ram(); NONE: one
 * region at 0), every byte set to BOOT_GARBAGE, and the capture device on
 * the report and exit ports. Asserts. */
void boot_vm_new(struct boot_vm *b, uint32_t platform, uint32_t nvcpus, uint64_t ram);
void boot_vm_free(struct boot_vm *b);

/* Path of a built test kernel (e.g. "bzImage"); static buffer. */
const char *boot_kernel_path(const char *name);
/* The whole file, malloc'ed; asserts. */
uint8_t *boot_read_file(const char *path, size_t *size);
/* Deterministic initrd bytes. */
void boot_fill_initrd(uint8_t *buf, size_t len);
uint32_t boot_fnv1a(const void *p, size_t n);

/* Run the VM (vmm_vm_run) and assert it ended with the kernel's debug-exit
 * write of BOOT_EXIT_OK and a final "done" line; prints the report on
 * failure. */
void boot_run_ok(struct boot_vm *b, struct vmm_exit *exit);

/* The value of "key=" in the report (NULL if absent); static buffer. */
const char *boot_get(const struct boot_cap *c, const char *key);
/* Assert "key=0x<v>" is in the report. */
void boot_expect(const struct boot_cap *c, const char *key, uint64_t v);
/* Assert "key=<s>" is in the report. */
void boot_expect_str(const struct boot_cap *c, const char *key, const char *s);
/* The numeric value of "key"; asserts it is present. */
uint64_t boot_value(const struct boot_cap *c, const char *key);
/* Same for "<prefix><i>.<field>". */
uint64_t boot_value_i(const struct boot_cap *c, const char *prefix, uint32_t i, const char *field);
void boot_expect_i(const struct boot_cap *c, const char *prefix, uint32_t i, const char *field,
                   uint64_t v);

/* The e820 map of the VM (vmm_pc_e820), malloc'ed; asserts. */
struct vmm_e820_entry *boot_e820(vmm_vm *vm, uint32_t *count);
/* 1 if [addr, addr+len) lies inside one RAM entry of the map. */
int boot_in_ram(const struct vmm_e820_entry *map, uint32_t n, uint64_t addr, uint64_t len);

/* A GDT descriptor (raw 8 bytes) is a present, flat 4 GiB segment: base 0,
 * limit 0xfffff with 4 KiB granularity. @code: code (execute/read) or data
 * (read/write). @bits: 32 (D=1, L=0) or 64 (L=1, D=0); 0 for data. */
void boot_expect_flat_desc(uint64_t desc, int code, int bits, const char *what);

/* vmm_boot_load() the image with BOOT_CMDLINE and a BOOT_INITRD_SIZE
 * initrd from boot_fill_initrd() (each left out when the flag says so);
 * asserts success and fills @info. */
#define BOOT_NO_INITRD (1u << 0)
#define BOOT_NO_CMDLINE (1u << 1)
#define BOOT_MODULES (1u << 2) /* also BOOT_NUM_MODULES modules after the initrd */
void boot_load(struct boot_vm *b, const uint8_t *kernel, size_t size, uint32_t format,
               uint32_t flags, uint32_t opts, struct vmm_boot_info *info);

/* The modules BOOT_MODULES adds (sizes not multiples of 4, one with a
 * command line, one without), their bytes from boot_fill_initrd()'s
 * generator with other seeds. */
#define BOOT_NUM_MODULES 2
const struct vmm_boot_module *boot_modules(void);
/* The bytes a bzImage kernel sees at ramdisk_image with BOOT_MODULES: the
 * initrd and the modules, each but the last padded with zeros to 4 bytes;
 * malloc'ed, *size set. */
uint8_t *boot_concat_modules(size_t *size);

/* Assert [a, a+alen) and [b, b+blen) do not overlap. */
void boot_expect_disjoint(const char *an, uint64_t a, uint64_t alen, const char *bn, uint64_t b,
                          uint64_t blen);

/* Assert vCPU @index is still in its reset state (real mode at
 * 0xf000:0xfff0): the loaders set up vCPU 0 only. */
void boot_expect_reset_state(vmm_vm *vm, uint32_t index);

/* Checks what the kernel reported after a boot of @img (@size bytes)
 * loaded with @opts. */
typedef void (*boot_check_fn)(struct boot_vm *b, const struct vmm_boot_info *info,
                              const uint8_t *img, size_t size, uint32_t opts);

/* The whole round for the built kernel @kernel: a VM of @platform with
 * @nvcpus and @ram (garbage-filled), vmm_boot_load() with @format, @flags
 * and @opts, the other vCPUs still in reset, a run to the kernel's OK
 * exit on vCPU 0, @check, the timing line for @what. Asserts. */
void boot_kernel_and_check(const char *kernel, uint32_t platform, uint32_t nvcpus, uint64_t ram,
                           uint32_t format, uint32_t flags, uint32_t opts, boot_check_fn check,
                           const char *what);

/* print_message() the boot timing: vmm_vm_create to first report byte, and
 * the exits the whole check took. */
void boot_print_stats(const struct boot_vm *b, const char *what);

#endif
