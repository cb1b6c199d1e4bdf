/* Helpers for the built-in-device integration tests. */
#ifndef TEST_DEV_UTIL_H
#define TEST_DEV_UTIL_H

#include "harness.h"
#include "dev_guest.h"

/* A VM of @platform (VMM_PLATFORM_NONE or _PC) with @ram bytes at GPA 0
 * (vmm_pc_add_ram() for PC), the device guest @name loaded and vCPU 0 in
 * 64-bit long mode at its entry, %rbx = @rbx, and a debug-exit device on
 * DEV_EXIT_PORT. Asserts. */
vmm_vm *dev_vm_new(uint32_t platform, uint64_t ram, const char *name, uint64_t rbx);

/* Values the guest reported on DEV_REPORT_PORT, by tag. */
struct dev_reports {
    int seen[256];
    uint8_t value[256];
};
/* Attach the report device (DEV_REPORT_PORT .. DEV_REQ_PORT, logging); the
 * hook, if any, sees every access. Free with h_dev_free() after the VM. */
struct h_dev *dev_report_dev(vmm_vm *vm, h_hook_fn hook, void *hook_data);
void dev_reports_get(const struct h_dev *d, struct dev_reports *out);
/* Assert that tag @tag was reported with @value. */
#define DEV_EXPECT(r, tag, val)                                                 \
    do {                                                                        \
        if (!(r)->seen[(tag)])                                                  \
            fail_msg("%s:%d: tag 0x%02x was never reported", __FILE__, __LINE__, \
                     (unsigned)(tag));                                          \
        if ((r)->value[(tag)] != (uint8_t)(val))                                \
            fail_msg("%s:%d: tag 0x%02x: got 0x%02x, expected 0x%02x",          \
                     __FILE__, __LINE__, (unsigned)(tag), (r)->value[(tag)],    \
                     (unsigned)(uint8_t)(val));                                 \
    } while (0)

/* Run vCPU 0 until a VMM_EXIT_REQUEST (kicks aside); returns it in @e.
 * Asserts on any other end. */
void dev_run_to_request(vmm_vcpu *vcpu, struct vmm_exit *e);
/* Run until the guest's debug-exit; asserts it is DEBUG_EXIT and returns
 * the value. */
uint64_t dev_run_to_exit(vmm_vcpu *vcpu);

/* Threads of this process (entries in /proc/self/task). */
long dev_thread_count(void);

#endif
