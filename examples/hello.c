/* hello: the smallest complete libvmm program.
 *
 * A 30-byte real-mode payload writes "Hello, world!\n" to port 0x3f8 one byte
 * at a time, then halts. A callback device claims that port and prints each
 * byte; the program then reports what the guest did and frees the VM.
 *
 * Build against an installed libvmm: cc hello.c $(pkg-config --cflags --libs vmm)
 */
#include <stdio.h>
#include <vmm/vmm.h>

#define CONSOLE_PORT 0x3f8
#define LOAD_GPA 0x1000 /* the payload is copied here and entered at 0:0x1000 */

/* 16-bit code: mov $0x100f,%si; mov $0x3f8,%dx; 1: lodsb; test %al,%al;
 * jz 2f; out %al,%dx; jmp 1b; 2: hlt -- then the NUL-terminated string,
 * which lands at 0x100f. */
static const char payload[] = "\xbe\x0f\x10\xba\xf8\x03\xac\x84\xc0\x74\x03\xee\xeb\xf8\xf4"
                              "Hello, world!\n";

/* The device model: each byte the guest writes to the port goes to stdout. */
static int console_pio(vmm_device *dev, vmm_vcpu *vcpu, const struct vmm_io *io,
                       void *user)
{
    (void)dev, (void)vcpu, (void)user;
    if (io->is_write)
        putchar(*(const unsigned char *)io->data);
    return io->is_write ? 0 : VMM_UNHANDLED; /* reads go back to vmm_vcpu_run()'s caller */
}

int main(void)
{
    struct vmm_vm_config cfg = VMM_VM_CONFIG_INIT; /* one vCPU, no platform devices */
    struct vmm_device_ops ops = VMM_DEVICE_OPS_INIT;
    struct vmm_cpu_mode_config mode = VMM_CPU_MODE_CONFIG_INIT(VMM_CPU_MODE_REAL);
    struct vmm_vm_stats stats = {.struct_size = sizeof(stats)};
    struct vmm_exit exit = {0};
    vmm_vm *vm = NULL;
    vmm_vcpu *vcpu;
    vmm_device *console;
    int err;

    ops.name = "console";
    ops.pio = console_pio;
    if ((err = vmm_vm_create(&cfg, &vm)) < 0 ||
        (err = vmm_memory_add_ram(vm, 0, 0x10000, 0, NULL)) < 0 ||
        (err = vmm_memory_write(vm, LOAD_GPA, payload, sizeof(payload))) < 0 ||
        (err = vmm_device_attach(vm, &ops, NULL, &console)) < 0 ||
        (err = vmm_device_map_pio(console, CONSOLE_PORT, 1)) < 0 ||
        (err = vmm_vm_get_vcpu(vm, 0, &vcpu)) < 0 ||
        (err = vmm_vcpu_set_cpu_mode(vcpu, &mode)) < 0 ||
        (err = vmm_vcpu_set_reg(vcpu, VMM_REG_RIP, LOAD_GPA)) < 0 ||
        (err = vmm_vcpu_run(vcpu, &exit)) < 0 || /* devices handle the OUTs inside */
        (err = vmm_vm_get_stats(vm, &stats)) < 0) {
        fprintf(stderr, "hello: %s: %s\n", vmm_strerror(err), vmm_last_error());
    } else if (exit.reason != VMM_EXIT_HLT) {
        fprintf(stderr, "hello: guest stopped: %s\n", vmm_exit_reason_name(exit.reason));
        err = -1;
    } else {
        printf("guest halted after %llu exits: %llu port writes to \"%s\", then hlt\n",
               (unsigned long long)stats.exits_total,
               (unsigned long long)stats.exits[VMM_STAT_EXIT_PIO], vmm_device_name(console));
    }
    vmm_vm_destroy(vm); /* also detaches the device */
    return err < 0;
}
