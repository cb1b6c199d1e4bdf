/* vm_lifecycle: the whole life of a tiny VM, timed end to end:
 *   create VM (1 vCPU) + add 1 MiB RAM at GPA 0 + load a 4 KiB payload at
 *   0x1000 + real mode at 0:0x1000 + run to HLT + destroy
 * with libvmm, against the same with raw ioctls (bench_common.h).
 *
 * Four variants run in rounds (each round runs every variant once, in a
 * rotating order, so drift on a noisy host hits all alike):
 *   raw           the minimal correct raw-ioctl VMM (the baseline)
 *   raw+cpuid     the same plus KVM_SET_CPUID2 with the supported CPUID,
 *                 which libvmm does for every vCPU
 *   libvmm        VMM_VM_CONFIG_INIT defaults (hypercall doorbell device,
 *                 kick signal)
 *   libvmm-min    hypercall_port = 0, kick_signal = VMM_KICK_SIGNAL_NONE
 * The first round is a warm-up and is not counted; one-time per-process work
 * (opening /dev/kvm, probing capabilities) happens there for every side.
 *
 * Usage: vm_lifecycle [-r ROUNDS]   (default 500) */
#include "bench_common.h"

#include <vmm/vmm.h>

#define LOAD_GPA 0x1000
#define RAM_SIZE (1u << 20)
#define PAYLOAD_SIZE 4096

static uint8_t payload[PAYLOAD_SIZE];

static struct raw_ctx raw_plain, raw_cpuid;

static void raw_life(const struct raw_ctx *ctx)
{
    struct raw_vm vm;
    uint64_t sink = 0;
    raw_vm_create(ctx, &vm, RAM_SIZE);
    memcpy(vm.mem + LOAD_GPA, payload, sizeof(payload));
    raw_vm_real_mode(&vm, LOAD_GPA);
    raw_vm_run_to_hlt(&vm, &sink);
    raw_vm_destroy(&vm);
}

static void lib_life(int minimal)
{
    struct vmm_vm_config cfg = VMM_VM_CONFIG_INIT;
    struct vmm_cpu_mode_config mode = VMM_CPU_MODE_CONFIG_INIT(VMM_CPU_MODE_REAL);
    struct vmm_exit exit;
    vmm_vm *vm;
    vmm_vcpu *vcpu;
    if (minimal) {
        cfg.hypercall_port = 0;
        cfg.kick_signal = VMM_KICK_SIGNAL_NONE;
    }
    CHECK(vmm_vm_create(&cfg, &vm));
    CHECK(vmm_memory_add_ram(vm, 0, RAM_SIZE, 0, NULL));
    CHECK(vmm_memory_write(vm, LOAD_GPA, payload, sizeof(payload)));
    CHECK(vmm_vm_get_vcpu(vm, 0, &vcpu));
    CHECK(vmm_vcpu_set_cpu_mode(vcpu, &mode));
    CHECK(vmm_vcpu_set_reg(vcpu, VMM_REG_RIP, LOAD_GPA));
    CHECK(vmm_vcpu_run(vcpu, &exit));
    if (exit.reason != VMM_EXIT_HLT)
        bench_die("lib: guest stopped with %s, expected hlt", vmm_exit_reason_name(exit.reason));
    vmm_vm_destroy(vm);
}

enum { V_RAW, V_RAW_CPUID, V_LIB, V_LIB_MIN, V_COUNT };
static const char *const names[V_COUNT] = { "raw", "raw+cpuid", "libvmm", "libvmm-min" };

static void run_variant(int v)
{
    switch (v) {
    case V_RAW: raw_life(&raw_plain); break;
    case V_RAW_CPUID: raw_life(&raw_cpuid); break;
    case V_LIB: lib_life(0); break;
    default: lib_life(1); break;
    }
}

int main(int argc, char **argv)
{
    long rounds = 500;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-r") && i + 1 < argc)
            rounds = strtol(argv[++i], NULL, 0);
        else {
            fprintf(stderr, "usage: vm_lifecycle [-r ROUNDS]\n");
            return 2;
        }
    }
    if (rounds < 1)
        rounds = 1;
    /* The payload: hlt, then filler that is never executed. */
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 37 + 11);
    payload[0] = 0xf4;

    raw_ctx_open(&raw_plain, 0);
    raw_ctx_open(&raw_cpuid, 1);
    for (int v = 0; v < V_COUNT; v++) /* warm-up round */
        run_variant(v);

    double *t[V_COUNT];
    for (int v = 0; v < V_COUNT; v++)
        if (!(t[v] = calloc((size_t)rounds, sizeof(double))))
            bench_die("out of memory");
    for (long r = 0; r < rounds; r++) {
        for (int k = 0; k < V_COUNT; k++) {
            int v = (int)((r + k) % V_COUNT);
            uint64_t t0 = bench_now_ns();
            run_variant(v);
            t[v][r] = (double)(bench_now_ns() - t0) / 1000.0;
        }
    }
    raw_ctx_close(&raw_plain);
    raw_ctx_close(&raw_cpuid);

    double med[V_COUNT];
    printf("vm_lifecycle: create + 1 MiB RAM + 4 KiB payload + real mode + run to hlt + destroy,"
           " %ld rounds\n", rounds);
    for (int v = 0; v < V_COUNT; v++) {
        med[v] = bench_median(t[v], (size_t)rounds);
        printf("%-11s median %9.1f us   (p10 %9.1f, p90 %9.1f)\n", names[v], med[v],
               bench_quantile(t[v], (size_t)rounds, 0.1), bench_quantile(t[v], (size_t)rounds, 0.9));
    }
    double ratio = med[V_LIB] / med[V_RAW];
    printf("ratio libvmm/raw: %.3f (target <= 1.2): %s\n", ratio, ratio <= 1.2 ? "met" : "MISSED");
    printf("ratio libvmm/raw+cpuid: %.3f   libvmm-min/raw: %.3f   libvmm-min/raw+cpuid: %.3f\n",
           med[V_LIB] / med[V_RAW_CPUID], med[V_LIB_MIN] / med[V_RAW],
           med[V_LIB_MIN] / med[V_RAW_CPUID]);
    for (int v = 0; v < V_COUNT; v++)
        free(t[v]);
    return 0;
}
