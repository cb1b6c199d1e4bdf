/* CPUID as the guest sees it: each vCPU's APIC id is its index, and a table
 * set with vmm_vcpu_set_cpuid() before the first run is what the guest
 * gets. Also hypercalls from CPL3. */
#include "harness.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void vendor_of(const struct h_dev *d, int cpu, char out[13])
{
    int k = 0;
    for (size_t i = 0; i < d->n && k < 3; i++) {
        if (d->log[i].vcpu != cpu)
            continue;
        h_put_le(out + 4 * k, d->log[i].value, 4);
        k++;
    }
    out[12] = '\0';
}

static uint64_t apic_id_of(const struct h_dev *d, int cpu)
{
    int k = 0;
    for (size_t i = 0; i < d->n; i++)
        if (d->log[i].vcpu == cpu && k++ == 3)
            return d->log[i].value;
    fail_msg("no APIC id reported by vCPU %d", cpu);
    return 0;
}

static void test_cpuid_default_and_apic_ids(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("cpuid64", VMM_CPU_MODE_LONG, 0, 3);
    struct h_dev *d = h_pio_dev(vm, "cpuid-report", GUEST_CPUID_REPORT, 4);
    H_OK(vmm_vm_run(vm, NULL));
    assert_int_equal(d->n, 3 * 4);
    char v0[13];
    vendor_of(d, 0, v0);
    /* the host's vendor (whatever KVM reports), the same on every vCPU */
    assert_true(strcmp(v0, "GenuineIntel") == 0 || strcmp(v0, "AuthenticAMD") == 0 ||
                strlen(v0) == 12);
    for (int c = 0; c < 3; c++) {
        char v[13];
        vendor_of(d, c, v);
        assert_string_equal(v, v0);
        assert_int_equal(apic_id_of(d, c), (uint64_t)c);
    }
    vmm_vm_destroy(vm);
    h_dev_free(d);
}

static void test_cpuid_set_before_run(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("cpuid64", VMM_CPU_MODE_LONG, 0, 1);
    struct h_dev *d = h_pio_dev(vm, "cpuid-report", GUEST_CPUID_REPORT, 4);
    vmm_vcpu *cpu = h_vcpu(vm, 0);
    uint32_t n = 0;
    assert_int_equal(vmm_vcpu_get_cpuid(cpu, NULL, &n), -E2BIG);
    struct vmm_cpuid_entry *e = calloc(n, sizeof *e);
    assert_non_null(e);
    H_OK(vmm_vcpu_get_cpuid(cpu, e, &n));
    int found = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (e[i].function == 0) {
            /* "libvmm-test!" as EBX EDX ECX */
            memcpy(&e[i].ebx, "libv", 4);
            memcpy(&e[i].edx, "mm-t", 4);
            memcpy(&e[i].ecx, "est!", 4);
            found = 1;
        }
    }
    assert_true(found);
    H_OK(vmm_vcpu_set_cpuid(cpu, e, n));
    /* read back */
    uint32_t n2 = n;
    struct vmm_cpuid_entry *e2 = calloc(n, sizeof *e2);
    assert_non_null(e2);
    H_OK(vmm_vcpu_get_cpuid(cpu, e2, &n2));
    assert_int_equal(n2, n);
    h_run_to_hlt(cpu);
    char v[13];
    vendor_of(d, 0, v);
    assert_string_equal(v, "libvmm-test!");
    assert_int_equal(apic_id_of(d, 0), 0);
    free(e);
    free(e2);
    vmm_vm_destroy(vm);
    h_dev_free(d);
}

static int hc_add(vmm_vcpu *vcpu, const struct vmm_hypercall *call,
                  uint64_t *result, void *user)
{
    (void)vcpu;
    (void)user;
    *result = call->args[0] + call->args[1] + call->args[2] + call->args[3] +
              call->args[4] + call->args[5];
    return 0;
}

/* The sandbox case: hypercalls from CPL3. hcall64 ends with HLT, which at
 * CPL3 faults; with no IDT that is a triple fault. */
static void test_hypercall_from_user_mode(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("hcall64", VMM_CPU_MODE_LONG, VMM_CPU_MODE_F_USER, 1);
    H_OK(vmm_hypercall_register(vm, 1, hc_add, NULL));
    H_OK(vmm_hypercall_register(vm, 0x100000002ull, hc_add, NULL));
    H_OK(vmm_hypercall_register(vm, 3, hc_add, NULL));
    struct h_dev *rep = h_pio_dev(vm, "report", GUEST_HC_REPORT, 4);
    struct vmm_exit e;
    memset(&e, 0, sizeof e);
    int rc = vmm_vcpu_run(h_vcpu(vm, 0), &e);
    assert_int_equal(rc, 0);
    assert_true(e.reason == VMM_EXIT_SHUTDOWN || e.reason == VMM_EXIT_HLT);
    assert_int_equal(rep->n, 10);
    uint64_t sum = 0x0102030405060708ull + 0x1112131415161718ull +
                   0x2122232425262728ull + 0x3132333435363738ull +
                   0x4142434445464748ull + 0x5152535455565758ull;
    assert_int_equal(rep->log[0].value | rep->log[1].value << 32, sum);
    assert_int_equal(rep->log[2].value | rep->log[3].value << 32, 0);  /* regs kept */
    vmm_vm_destroy(vm);
    h_dev_free(rep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpuid_default_and_apic_ids),
        cmocka_unit_test(test_cpuid_set_before_run),
        cmocka_unit_test(test_hypercall_from_user_mode),
    };
    return cmocka_run_group_tests_name("cpuid", tests, NULL, NULL);
}
