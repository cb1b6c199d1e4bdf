/* Helpers for the platform-PC integration tests; see pc_util.h. */
#include "pc_util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifndef PC_GUESTS_DIR
#error "PC_GUESTS_DIR must name the build directory of tests/integration/pc"
#endif

vmm_vm *pc_vm_new(uint32_t nvcpus, uint64_t ram)
{
    struct vmm_vm_config cfg = VMM_VM_CONFIG_INIT;
    cfg.platform = VMM_PLATFORM_PC;
    cfg.num_vcpus = nvcpus;
    vmm_vm *vm = NULL;
    H_OK(vmm_vm_create(&cfg, &vm));
    assert_non_null(vm);
    H_OK(vmm_pc_add_ram(vm, ram));
    return vm;
}

size_t pc_load(vmm_vm *vm, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.bin", PC_GUESTS_DIR, name);
    return h_load_file(vm, path);
}

struct ports_hook {
    h_hook_fn user_hook;
    void *user_data;
};

static int ports_hook(struct h_dev *d, vmm_vcpu *vcpu, const struct vmm_io *io)
{
    struct ports_hook *h = d->hook_data;
    if (io->addr == PC_EXIT_PORT && io->is_write)
        return vmm_vcpu_request_exit(vcpu, VMM_REQUEST_DEBUG_EXIT, h_le(io->data, io->len));
    return h->user_hook ? h->user_hook(d, vcpu, io) : 0;
}

void *pc_hook_data(const struct h_dev *d)
{
    return ((const struct ports_hook *)d->hook_data)->user_data;
}

struct h_dev *pc_ports_dev(vmm_vm *vm, h_hook_fn hook, void *hook_data)
{
    static __thread struct ports_hook hooks[8];
    static __thread int next;
    struct ports_hook *h = &hooks[next++ % 8];
    h->user_hook = hook;
    h->user_data = hook_data;
    struct h_dev *d = h_pio_dev(vm, "pc-ports", PC_REPORT_PORT,
                                PC_EXIT_PORT + 4 - PC_REPORT_PORT);
    d->hook = ports_hook;
    d->hook_data = h;
    return d;
}

size_t pc_reports(const struct h_dev *d, uint16_t port, int vcpu, uint32_t *out, size_t max)
{
    size_t k = 0;
    size_t n = d->n < H_LOG_MAX ? d->n : H_LOG_MAX;
    for (size_t i = 0; i < n; i++) {
        const struct h_access *a = &d->log[i];
        if (a->addr != port || !a->is_write || (vcpu >= 0 && a->vcpu != vcpu))
            continue;
        if (k < max)
            out[k] = (uint32_t)a->value;
        k++;
    }
    return k;
}

uint64_t pc_run_to_exit(vmm_vcpu *vcpu)
{
    struct vmm_exit e;
    for (int i = 0; i < 1000; i++) {
        memset(&e, 0, sizeof e);
        int r = vmm_vcpu_run(vcpu, &e);
        if (r != 0)
            fail_msg("vmm_vcpu_run: %d (%s): %s", r, vmm_strerror(r), vmm_last_error());
        if (e.reason == VMM_EXIT_REQUEST) {
            assert_int_equal(e.request.kind, VMM_REQUEST_DEBUG_EXIT);
            return e.request.value;
        }
        if (e.reason != VMM_EXIT_KICKED)
            fail_msg("unexpected exit reason %u before the guest's exit port", e.reason);
    }
    fail_msg("the guest never wrote its exit port");
    return 0;
}
