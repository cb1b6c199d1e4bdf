/* The C baseline of examples/bench_exit.rs: the same device as the Rust one
 * there (count the guest's port writes), as a plain libvmm callback. Built
 * by build.rs and linked into the examples only. */
#include <vmm/vmm.h>

int vmm_rs_bench_c_pio(vmm_device *dev, vmm_vcpu *vcpu, const struct vmm_io *io, void *user)
{
    (void)dev, (void)vcpu;
    if (!io->is_write)
        return VMM_UNHANDLED;
    *(volatile unsigned long long *)user += *(const unsigned char *)io->data;
    return 0;
}
