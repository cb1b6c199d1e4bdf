/* Helpers for the hostile-input tests of the loaders: a small VM whose RAM
 * is filled with a pseudo-random pattern and snapshotted, so that after
 * every failed vmm_boot_load() the test can prove that guest RAM (byte for
 * byte, every region) and vCPU 0's registers are exactly what they were;
 * after every successful one, that everything the loader reported lies in
 * RAM, that the pieces are disjoint and that no byte outside them changed.
 * Then the VM is put back (RAM from the snapshot, vCPU 0's registers) and
 * reused for the next image. */
#ifndef LOADER_UTIL_H
#define LOADER_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <vmm/vmm.h>
#include <vmm/pc.h>

#include "images.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)

/* RAM of the VMs the tests use (small: every failed load compares it all). */
#define L_RAM (4 * MiB)
/* The loaders' fixed boot-data area (loader.h): boot structure, memory
 * map, GDT/page tables, command line. */
#define L_BOOT_AREA_START 0x7000ull
#define L_BOOT_AREA_END 0x30000ull
/* EBDA .. 1 MiB: the MP table on platform PC (lib/x86: 0x9fc00). */
#define L_LEGACY_START 0x9fc00ull
#define L_LEGACY_END 0x100000ull

#define L_CMDLINE "console=ttyS0 libvmm-hostile=1"
#define L_INITRD_SIZE (4096 + 123)

#define L_MAX_REGIONS 4

struct lvm_region {
    uint64_t gpa, size;
    uint8_t *hva;   /* through vmm_memory_translate() */
    uint8_t *snap;  /* what the region holds before each load */
};

struct lvm {
    vmm_vm *vm;
    vmm_vcpu *cpu;
    uint32_t platform;
    uint32_t nregions;
    struct lvm_region r[L_MAX_REGIONS];
    struct vmm_e820_entry *map;
    uint32_t nmap;
    struct vmm_regs regs0;   /* vCPU 0 as created */
    struct vmm_sregs sregs0;
    char sentinel[512];      /* a known earlier error, to catch stale messages */
    unsigned long loads, ok, failed;
    int slot;                /* in the table l_teardown() cleans up */
};

/* Skip the calling test if /dev/kvm is not usable. */
void l_require_kvm(void);

/* A 1-vCPU VM: platform PC with vmm_pc_add_ram(@ram), or NONE with one
 * region at 0. Asserts. */
void lvm_new(struct lvm *v, uint32_t platform, uint64_t ram);
/* Platform @platform, RAM regions [gpa, gpa + size) as given (NONE: each a
 * vmm_memory_add_ram(); PC: likewise, no vmm_pc_add_ram()). */
void lvm_new_regions(struct lvm *v, uint32_t platform, const uint64_t (*regions)[2], uint32_t n);
void lvm_free(struct lvm *v);
/* cmocka teardown: frees the VMs a failed test could not (fail_msg()
 * leaves the test function early), so LeakSanitizer reports real leaks
 * only. Use with cmocka_unit_test_teardown(). */
int l_teardown(void **state);
const char *lvm_platform_name(const struct lvm *v);

/* The default initrd: L_INITRD_SIZE pseudo-random bytes (static). */
const uint8_t *l_initrd(void);
/* @n pseudo-random bytes, malloc'ed. */
uint8_t *l_bytes(size_t n, uint32_t seed);

/* A config loading @img (format @format) with L_CMDLINE and the default
 * initrd. */
struct vmm_boot_config l_cfg(const struct img *img, uint32_t format);

/* One vmm_boot_load() with every invariant checked:
 *  - failure: a non-empty vmm_last_error() of its own, RAM and vCPU 0's
 *    regs/sregs unchanged;
 *  - success: lvm_check_loaded(), then the VM is put back.
 * Returns the return code; @info (may be NULL) receives what was loaded;
 * @msg (may be NULL, 512 bytes) the error sentence. @what names the case
 * in failures. */
int lvm_load(struct lvm *v, const struct vmm_boot_config *cfg, struct vmm_boot_info *info,
             char *msg, const char *what);

/* After a successful load (before the VM is put back): the kernel (each
 * PT_LOAD segment for ELF kernels), the entry, the initrd and modules
 * (bytes equal, module list and strings in [0x8000, 0x10000)), the command
 * line (bytes equal, in [0x20000, 0x30000)) and the boot structure lie in
 * e820 RAM; kernel, modules, command line and boot-data area are disjoint;
 * the registers and boot structure say what info says (bzImage: boot.rst's
 * runtime rule for init_size, alignment, ramdisk/cmd_line_ptr/setup_data
 * fields); every RAM byte that changed is inside one of them, the
 * boot-data area, or the legacy area (MP table). Asserts. */
void lvm_check_loaded(struct lvm *v, const struct vmm_boot_config *cfg,
                      const struct vmm_boot_info *info, const char *what);
/* Put RAM and vCPU 0 back as they were before the load. */
void lvm_restore(struct lvm *v);

/* For calls other than vmm_boot_load() (vmm_boot_load_files(), odd
 * arguments): lvm_mark() before, lvm_expect_unchanged() after a failure
 * (a fresh message, RAM and vCPU 0 as marked). @regs 0: vCPU 0 is running,
 * registers not compared. */
struct lvm_mark {
    struct vmm_regs regs;
    struct vmm_sregs sregs;
    int have_regs;
};
void lvm_mark(struct lvm *v, struct lvm_mark *m, int regs);
void lvm_expect_unchanged(struct lvm *v, const struct lvm_mark *m, int rc, const char *msg,
                          const char *what);
/* Make the current RAM contents the reference (after a load the test
 * keeps), and the current vCPU 0 state the one lvm_restore() puts back. */
void lvm_resnapshot(struct lvm *v);

/* Is @rc one of vmm_boot_load()'s documented failures (ENOEXEC, EINVAL,
 * ENOMEM)? */
int l_rc_documented(int rc);
/* "-ENOEXEC" etc. */
const char *l_errname(int rc);
/* Does @msg name one of the fields in @fields ("a|b|c"), as a whole word? */
int l_names_field(const char *msg, const char *fields);
/* print_message() one outcome (always for table cases). */
void l_report(const char *what, int rc, const char *msg);
/* Whether LOADER_TEST_VERBOSE is set (every fuzz outcome printed). */
int l_verbose(void);

/* As l_expect(), returning 0 with the reason in @why instead of failing. */
int l_check(char *why, size_t whylen, const char *what, int rc, const char *msg, int want,
            int want2, const char *fields);
/* Assert a loaded-or-failed outcome against an expectation: @rc must be
 * @want or @want2 (0 if none), and when failing @msg must name one of
 * @fields (NULL: any). */
void l_expect(const char *what, int rc, const char *msg, int want, int want2,
              const char *fields);

/* ---- table-driven mutations -------------------------------------------- */

enum patch_kind {
    P_END = 0,
    P_ABS,    /* a = file offset, w = width */
    P_ELF,    /* a = enum elf_field, ph = program header */
    P_MB,     /* a = offset inside the Multiboot header, w = 4 */
    P_NOTE,   /* a = offset inside the PT_NOTE contents, w = width */
    P_XEN,    /* a = offset from the Xen note's header, w = width */
    P_FIXSUM, /* recompute the Multiboot checksum (apply last) */
};

struct patch {
    enum patch_kind kind;
    uint32_t a;
    uint32_t ph;
    unsigned w;
    uint64_t v;
};

#define R_ANY 1        /* any documented failure, or a load that passes the checks */
#define R_FAIL 2       /* any documented failure */

/* Config tweaks for a case. */
#define C_NO_INITRD (1u << 0)
#define C_NO_CMDLINE (1u << 1)
#define C_NO_AUTO (1u << 2)   /* do not also load it with VMM_IMAGE_AUTO */
#define C_AUTO_ANY (1u << 3)  /* AUTO may not recognise it: any documented failure */

struct mcase {
    const char *name;
    struct patch p[6];
    int rc, rc2;             /* expected (R_ANY / R_FAIL / 0 / -errno), alternative */
    const char *fields;      /* "a|b": vmm_last_error() names one (failures) */
    uint32_t flags;          /* VMM_BOOT_F_* */
    uint32_t cfg;            /* C_* */
    const char *cmdline;     /* NULL: L_CMDLINE */
    uint64_t initrd_size;    /* 0: the default initrd */
    /* Extra checks after a successful load (before the VM is put back). */
    void (*check)(struct lvm *v, const struct img *img, const struct vmm_boot_info *info);
};

/* A table entry: CASE("name", .p = {ABS(...)}, .rc = -ENOEXEC, .fields = "x"). */
#define CASE(nm, ...) {.name = (nm), __VA_ARGS__}
#define ABS(off, width, val) {P_ABS, (off), 0, (width), (val)}

/* Apply a case's patches to @img. */
void l_apply(struct img *img, const struct patch *p, size_t np);
/* Run every case on @base (copied, patched, loaded with its explicit
 * format and with AUTO) on @v. */
void l_run_cases(struct lvm *v, const struct img *base, const struct mcase *cases, size_t n);

/* Load every truncation of @base to a length in [from, to) (to 0: the
 * image's size; every @step-th length plus the first and last 64): each
 * must fail with -ENOEXEC (the images have no byte their headers do not
 * claim). */
void l_fuzz_truncations(struct lvm *v, const struct img *base, size_t step, size_t from,
                        size_t to);
/* XOR each byte in [from, to) with 0xff and with each single bit: each
 * load must pass lvm_load()'s checks and fail, if it fails, with a
 * documented code. @fixsum: recompute the Multiboot checksum after each
 * flip outside the checksum (so flips reach the fields behind it). */
void l_fuzz_flips(struct lvm *v, const struct img *base, size_t from, size_t to,
                  uint32_t flags, int fixsum);

#endif
