/* Helpers for the built-in-device integration tests; see dev_util.h. */
#include "dev_util.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifndef DEV_GUESTS_DIR
#error "DEV_GUESTS_DIR must name the build directory of tests/integration/devices"
#endif

vmm_vm *dev_vm_new(uint32_t platform, uint64_t ram, const char *name, uint64_t rbx)
{
    struct vmm_vm_config cfg = VMM_VM_CONFIG_INIT;
    cfg.platform = platform;
    vmm_vm *vm = NULL;
    H_OK(vmm_vm_create(&cfg, &vm));
    assert_non_null(vm);
    if (platform == VMM_PLATFORM_PC)
        H_OK(vmm_pc_add_ram(vm, ram));
    else
        H_OK(vmm_memory_add_ram(vm, 0, ram, 0, NULL));

    char path[4096];
    snprintf(path, sizeof path, "%s/dev_%s.bin", DEV_GUESTS_DIR, name);
    h_load_file(vm, path);

    vmm_vcpu *vcpu = h_vcpu(vm, 0);
    h_setup_vcpu(vcpu, VMM_CPU_MODE_LONG, 0);
    H_OK(vmm_vcpu_set_reg(vcpu, VMM_REG_RBX, rbx));
    H_OK(vmm_debug_exit_attach(vm, DEV_EXIT_PORT, NULL));
    return vm;
}

struct h_dev *dev_report_dev(vmm_vm *vm, h_hook_fn hook, void *hook_data)
{
    struct h_dev *d = h_pio_dev(vm, "reports", DEV_REPORT_PORT,
                                DEV_REQ_PORT + 4 - DEV_REPORT_PORT);
    d->hook = hook;
    d->hook_data = hook_data;
    return d;
}

void dev_reports_get(const struct h_dev *d, struct dev_reports *out)
{
    memset(out, 0, sizeof *out);
    size_t n = d->n < H_LOG_MAX ? d->n : H_LOG_MAX;
    for (size_t i = 0; i < n; i++) {
        const struct h_access *a = &d->log[i];
        if (a->addr != DEV_REPORT_PORT || !a->is_write || a->len != 4)
            continue;
        unsigned tag = (unsigned)(a->value >> 8) & 0xff;
        if (out->seen[tag])
            fail_msg("tag 0x%02x reported twice", tag);
        out->seen[tag] = 1;
        out->value[tag] = (uint8_t)a->value;
    }
}

void dev_run_to_request(vmm_vcpu *vcpu, struct vmm_exit *e)
{
    for (int i = 0; i < 1000; i++) {
        memset(e, 0, sizeof *e);
        int r = vmm_vcpu_run(vcpu, e);
        if (r != 0)
            fail_msg("vmm_vcpu_run: %d (%s): %s", r, vmm_strerror(r), vmm_last_error());
        if (e->reason == VMM_EXIT_REQUEST)
            return;
        if (e->reason != VMM_EXIT_KICKED) {
            uint64_t rip = 0;
            vmm_vcpu_get_reg(vcpu, VMM_REG_RIP, &rip);
            fail_msg("unexpected exit %s (%u) at rip %#llx before the guest's exit",
                     vmm_exit_reason_name(e->reason), e->reason, (unsigned long long)rip);
        }
    }
    fail_msg("the guest never ended its run");
}

uint64_t dev_run_to_exit(vmm_vcpu *vcpu)
{
    struct vmm_exit e;
    dev_run_to_request(vcpu, &e);
    assert_int_equal(e.request.kind, VMM_REQUEST_DEBUG_EXIT);
    return e.request.value;
}

long dev_thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    long n = 0;
    if (d == NULL)
        return -1;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}
