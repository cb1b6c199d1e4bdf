/* Shared helpers for the integration tests: make a VM with RAM and a CPU
 * mode, load a guest payload from tests/guests, record device accesses. */
#ifndef ITEST_HARNESS_H
#define ITEST_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <vmm/vmm.h>

#include "guest.h" /* tests/guests/guest.h: ports and addresses */

#define H_RAM_SIZE   (2u << 20)   /* RAM at GPA 0 */
#define H_TABLES_GPA 0x100000u    /* GDT/TSS/page tables */
#define H_STACK_TOP  0x80000u     /* vCPU n gets RSP = top - n * 0x1000 */

/* Skip the calling test (cmocka skip()) if /dev/kvm cannot be used. */
void h_require_kvm(void);

/* Path of a built guest payload, e.g. h_guest_path("hello16"). Static buffer. */
const char *h_guest_path(const char *name);

/* Create a VM (platform NONE, @nvcpus vCPUs) with @ram bytes at GPA 0
 * (0: H_RAM_SIZE). Asserts on failure. */
vmm_vm *h_vm_new(uint32_t nvcpus, uint64_t ram);
/* Copy guests/<name>.bin to GUEST_LOAD_GPA. Asserts. */
void h_load(vmm_vm *vm, const char *name);
/* Copy the flat guest binary at @path to GUEST_LOAD_GPA; returns its size.
 * Asserts. */
size_t h_load_file(vmm_vm *vm, const char *path);
/* Put vCPU in @mode (+ @flags), RIP = GUEST_LOAD_GPA, RSP per index,
 * RDI = its index. Asserts. */
void h_setup_vcpu(vmm_vcpu *vcpu, uint32_t mode, uint32_t flags);
/* All of the above for every vCPU. */
vmm_vm *h_guest_vm(const char *name, uint32_t mode, uint32_t flags,
                   uint32_t nvcpus);
vmm_vcpu *h_vcpu(vmm_vm *vm, uint32_t index);

/* ---- a recording device ------------------------------------------------ */

#define H_LOG_MAX 16384

struct h_access {
    uint8_t space;    /* VMM_SPACE_* */
    uint8_t is_write;
    uint32_t len;
    uint64_t addr, offset;
    uint64_t value;   /* little-endian value written / returned */
    int vcpu;         /* vmm_vcpu_index() of the caller */
};

struct h_dev;
/* Optional per-access hook; returns what the callback returns. Called after
 * the access is logged (for reads: after io->data is filled from regs). */
typedef int (*h_hook_fn)(struct h_dev *d, vmm_vcpu *vcpu, const struct vmm_io *io);

struct h_dev {
    char name[64];
    vmm_device *dev;
    vmm_vm *vm;
    size_t n;                  /* accesses logged (may exceed H_LOG_MAX) */
    struct h_access log[H_LOG_MAX];
    char text[16384];          /* bytes of 1-byte PIO writes, NUL-terminated */
    size_t text_len;
    uint8_t regs[8192];        /* reads return regs[offset..]; writes store */
    int ret;                   /* what callbacks return when no hook */
    int no_store;              /* writes do not update regs[] */
    int no_fill;               /* reads leave io->data as the library gave it */
    h_hook_fn hook;
    void *hook_data;
    int destroyed;             /* destroy callback invocations */
    int bad_args;              /* callback saw inconsistent vmm_io fields */
};

/* calloc'ed; free with h_dev_free() after the VM is destroyed. */
struct h_dev *h_dev_new(const char *name);
void h_dev_free(struct h_dev *d);
/* Attach with pio and mmio callbacks. Asserts. */
void h_dev_attach(vmm_vm *vm, struct h_dev *d);
void h_dev_pio(struct h_dev *d, uint16_t port, uint32_t len);   /* map, asserts */
void h_dev_mmio(struct h_dev *d, uint64_t gpa, uint64_t len);   /* map, asserts */
/* Attach + map a port range in one go. */
struct h_dev *h_pio_dev(vmm_vm *vm, const char *name, uint16_t port, uint32_t len);
struct h_dev *h_mmio_dev(vmm_vm *vm, const char *name, uint64_t gpa, uint64_t len);
/* Accesses in the log matching a filter (is_write < 0: both). */
size_t h_dev_count(const struct h_dev *d, int space, int is_write);

uint64_t h_le(const void *p, uint32_t len);
void h_put_le(void *p, uint64_t v, uint32_t len);

/* ---- running ------------------------------------------------------------- */

/* One vmm_vcpu_run(); asserts rc == 0 and exit->reason == @reason. */
void h_run_expect(vmm_vcpu *vcpu, struct vmm_exit *exit, uint32_t reason);
/* Run until the guest halts, with a bound on unexpected exits. Asserts. */
void h_run_to_hlt(vmm_vcpu *vcpu);

double h_now(void);            /* CLOCK_MONOTONIC seconds */
long h_fd_count(void);         /* entries in /proc/self/fd */
long h_rss_kib(void);          /* VmRSS from /proc/self/status */

/* Assert that a libvmm call failed with @expected and left a non-empty
 * vmm_last_error(). */
#define H_EXPECT_ERR(expected, call)                                        \
    do {                                                                    \
        int h_rc_ = (call);                                                 \
        if (h_rc_ != (expected))                                            \
            fail_msg("%s:%d: %s returned %d (%s), expected %d (%s); "      \
                     "last error \"%s\"", __FILE__, __LINE__, #call, h_rc_, \
                     vmm_strerror(h_rc_), (expected),                       \
                     vmm_strerror(expected), vmm_last_error());             \
        const char *h_msg_ = vmm_last_error();                              \
        if (h_msg_ == NULL || h_msg_[0] == '\0')                            \
            fail_msg("%s:%d: %s set no vmm_last_error()", __FILE__,         \
                     __LINE__, #call);                                      \
    } while (0)

/* Assert a libvmm call returned 0, printing vmm_last_error() otherwise. */
#define H_OK(call)                                                          \
    do {                                                                    \
        int h_rc_ = (call);                                                 \
        if (h_rc_ != 0)                                                     \
            fail_msg("%s:%d: %s returned %d (%s): %s", __FILE__, __LINE__,  \
                     #call, h_rc_, vmm_strerror(h_rc_), vmm_last_error());  \
    } while (0)

#endif
