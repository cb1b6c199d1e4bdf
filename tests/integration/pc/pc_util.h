/* Helpers for the platform-PC integration tests. */
#ifndef TEST_PC_UTIL_H
#define TEST_PC_UTIL_H

#include <errno.h>

#include "harness.h"
#include "pc_guest.h"

/* A VMM_PLATFORM_PC VM with @nvcpus vCPUs and @ram bytes from
 * vmm_pc_add_ram(). Asserts. */
vmm_vm *pc_vm_new(uint32_t nvcpus, uint64_t ram);
/* Copies pc/<name>.bin to GUEST_LOAD_GPA; returns its size. Asserts. */
size_t pc_load(vmm_vm *vm, const char *name);
/* A device on [PC_REPORT_PORT, PC_EXIT_PORT]: logs every access (h_dev),
 * and a write to PC_EXIT_PORT ends the run with VMM_REQUEST_DEBUG_EXIT
 * and the value written. @hook (may be NULL) sees the other accesses. */
struct h_dev *pc_ports_dev(vmm_vm *vm, h_hook_fn hook, void *hook_data);
/* The @hook_data given to pc_ports_dev(), for use inside @hook. */
void *pc_hook_data(const struct h_dev *d);
/* The 4-byte values written to @port, in order, into @out (at most @max);
 * returns how many. */
size_t pc_reports(const struct h_dev *d, uint16_t port, int vcpu, uint32_t *out, size_t max);
/* Runs vCPU 0 on this thread until the guest writes PC_EXIT_PORT; returns
 * the value written. Asserts on any other end. */
uint64_t pc_run_to_exit(vmm_vcpu *vcpu);

#endif
