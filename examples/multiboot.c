/* multiboot: load a Multiboot (version 1) kernel and its modules from
 * memory into a small VM without an interrupt controller, its COM1 output
 * on stdout, and run it until it writes the debug-exit port (0xf4).
 *
 *   multiboot KERNEL [MODULE...]     (at most 9 modules)
 */
#include <stdio.h>
#include <stdlib.h>
#include <vmm/vmm.h>

/* The whole file in a malloc'ed buffer; exits if it cannot be read. */
static void *slurp(const char *path, uint64_t *size)
{
    FILE *f = fopen(path, "rb");
    long n = f && fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    char *buf = n > 0 ? malloc((size_t)n) : NULL;
    if (!buf || fseek(f, 0, SEEK_SET) != 0 || fread(buf, 1, (size_t)n, f) != (size_t)n)
        perror(path), exit(1);
    fclose(f);
    *size = (uint64_t)n;
    return buf;
}

int main(int argc, char **argv)
{
    struct vmm_vm_config cfg = VMM_VM_CONFIG_INIT; /* platform NONE, 1 vCPU */
    struct vmm_serial_config com1 = VMM_SERIAL_CONFIG_INIT;
    struct vmm_boot_config boot = VMM_BOOT_CONFIG_INIT;
    struct vmm_boot_module mods[8] = { 0 };
    struct vmm_exit exit = { 0 };
    vmm_vm *vm = NULL;
    if (argc < 2 || argc > 11)
        return fprintf(stderr, "usage: %s KERNEL [MODULE...]\n", argv[0]), 2;
    com1.irq = VMM_SERIAL_NO_IRQ; /* platform NONE has no irqchip: the guest polls */
    com1.out_fd = 1;
    boot.format = VMM_IMAGE_MULTIBOOT;
    boot.cmdline = "hello from the multiboot example";
    boot.kernel = slurp(argv[1], &boot.kernel_size);
    if (argc > 2) /* the first module travels as the initrd, the others in modules[] */
        boot.initrd = slurp(argv[2], &boot.initrd_size);
    for (int i = 3; i < argc; i++, boot.num_modules++, boot.modules = mods) {
        mods[i - 3].data = slurp(argv[i], &mods[i - 3].size);
        mods[i - 3].cmdline = argv[i]; /* the module's string: its file name */
    }
    int err = vmm_vm_create(&cfg, &vm);
    if (err == 0 && (err = vmm_memory_add_ram(vm, 0, 64u << 20, 0, NULL)) == 0 &&
        (err = vmm_serial_attach(vm, &com1, NULL)) == 0 &&
        (err = vmm_debug_exit_attach(vm, VMM_DEBUG_EXIT_PORT, NULL)) == 0 &&
        (err = vmm_boot_load(vm, &boot, NULL)) == 0)
        err = vmm_vm_run(vm, &exit);
    fprintf(stderr, "guest ended: %s, value 0x%llx%s%s\n", vmm_exit_reason_name(exit.reason),
            (unsigned long long)exit.request.value, err ? "; " : "", err ? vmm_last_error() : "");
    vmm_vm_destroy(vm);
    while (boot.num_modules--)
        free((void *)mods[boot.num_modules].data);
    free((void *)boot.kernel), free((void *)boot.initrd);
    return err < 0;
}
