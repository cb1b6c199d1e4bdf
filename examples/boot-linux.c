/* boot-linux: boot a Linux kernel on a PC VM with its console on this
 * terminal, and exit when the guest reboots (Linux "reboot=k" pulses the
 * i8042 reset line), triple-faults, or writes the debug-exit port.
 *
 *   boot-linux KERNEL [INITRD] [CMDLINE]     (VMM_VCPUS=n for SMP)
 *
 * VMM_DISK=image adds it as a virtio-blk disk on virtio-pci: Linux's
 * virtio_pci and virtio_blk drivers find it with no command-line help
 * (/dev/vda; built as modules in Debian's kernel, so from its initrd).
 *
 * KERNEL is a bzImage, an ELF vmlinux with a PVH note, or a Multiboot
 * kernel. Without ACPI, "poweroff" only halts the CPUs: use "reboot".
 */
#include <stdio.h>
#include <stdlib.h>
#include <vmm/vmm.h>

static int check(int err, const char *what)
{
    if (err < 0) {
        fprintf(stderr, "%s: %s: %s\n", what, vmm_strerror(err), vmm_last_error());
        exit(1);
    }
    return err;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s KERNEL [INITRD] [CMDLINE]\n", argv[0]);
        return 2;
    }
    struct vmm_vm_config cfg = VMM_VM_CONFIG_INIT;
    struct vmm_serial_config com1 = VMM_SERIAL_CONFIG_INIT; /* 0x3f8, IRQ 4 */
    struct vmm_exit exit;
    vmm_vm *vm;
    cfg.platform = VMM_PLATFORM_PC;
    cfg.flags = VMM_VM_F_OPEN_BUS; /* ports nobody claims read 0xff, as on a PC */
    cfg.num_vcpus = getenv("VMM_VCPUS") ? (uint32_t)atoi(getenv("VMM_VCPUS")) : 1;
    com1.out_fd = 1; /* guest output to stdout, our input to the guest */
    com1.in_fd = 0;
    check(vmm_vm_create(&cfg, &vm), "vmm_vm_create");
    check(vmm_pc_add_ram(vm, 512u << 20), "vmm_pc_add_ram");
    check(vmm_serial_attach(vm, &com1, NULL), "vmm_serial_attach");
    check(vmm_i8042_attach(vm, NULL), "vmm_i8042_attach");
    check(vmm_rtc_attach(vm, NULL), "vmm_rtc_attach");
    check(vmm_debug_exit_attach(vm, VMM_DEBUG_EXIT_PORT, NULL), "vmm_debug_exit_attach");
    if (getenv("VMM_DISK")) {
        struct vmm_virtio_blk_config disk = VMM_VIRTIO_BLK_CONFIG_INIT;
        disk.path = getenv("VMM_DISK");
        check(vmm_virtio_blk_attach(vm, &disk, NULL), "vmm_virtio_blk_attach");
    }
    check(vmm_boot_load_files(vm, argv[1], argc > 2 ? argv[2] : NULL,
                              argc > 3 ? argv[3] : "console=ttyS0 reboot=k panic=-1", 0, NULL),
          "vmm_boot_load_files");
    check(vmm_vm_run(vm, &exit), "vmm_vm_run");
    fprintf(stderr, "guest ended: %s", vmm_exit_reason_name(exit.reason));
    if (exit.reason == VMM_EXIT_REQUEST)
        fprintf(stderr, " (%s, value 0x%llx)", exit.request.kind == VMM_REQUEST_RESET ? "reset"
                : "debug-exit", (unsigned long long)exit.request.value);
    fprintf(stderr, "\n");
    vmm_vm_destroy(vm);
    return 0;
}
