/*
 * layout.c - print the C ABI facts of the public libvmm headers, one per
 * line, so that language bindings (bindings/python, bindings/rust) can check
 * their hand-written mirrors against what the C compiler sees.
 *
 * Build: cc -I include bindings/layout/layout.c -o layout   (no -lvmm needed:
 * functions are only named, never called or referenced)
 *
 * Output format (one fact per line, fields separated by one space):
 *   struct <name> size <bytes>
 *   field <struct>.<field> offset <bytes> size <bytes>
 *   const <NAME> <decimal value>
 *   function <name>
 *   init <struct>.<field> <decimal value>
 * "init" lines give the value a field has in the header's initialiser
 * (VMM_VIRTIO_BLK_CONFIG_INIT, ...): pointers print 0 when NULL, 1
 * otherwise; fields of a nested struct are <struct>.<member>.<field>;
 * array elements <struct>.<field>.<index>.
 * Nested members of the anonymous union in struct vmm_exit are named
 * vmm_exit.<member>.<field> and their offsets are from the start of
 * struct vmm_exit; the union members themselves (vmm_exit.pio, ...) are
 * listed too. Array fields are listed once with the size of the whole array.
 *
 * Keep this file in step with the headers in include/vmm: bindings/python's layout
 * test also cross-checks the function list against the headers and
 * `nm -D libvmm.so`, and every struct size catches a field missing here.
 */
#include <stddef.h>
#include <stdio.h>
#include <vmm/vmm.h>

#define STRUCT(s) printf("struct %s size %zu\n", #s, sizeof(struct s))
#define FIELD(s, f)                                                    \
    printf("field %s.%s offset %zu size %zu\n", #s, #f,                \
           offsetof(struct s, f), sizeof(((struct s *)0)->f))
#define CONST(c) printf("const %s %lld\n", #c, (long long)(c))
/* sizeof(&fn) checks that the header declares fn without referencing it. */
#define FUNCTION(fn) ((void)sizeof(&fn), printf("function %s\n", #fn))
/* The value a field of initialiser variable v (of struct s) has. */
#define INIT(s, v, f) printf("init %s.%s %lld\n", #s, #f, (long long)(v).f)
#define INIT_PTR(s, v, f) printf("init %s.%s %d\n", #s, #f, (v).f != NULL)
#define INIT_TRANSPORT(s, v)                \
    do {                                    \
        INIT(s, v, transport.transport);    \
        INIT(s, v, transport.flags);        \
        INIT(s, v, transport.mmio_base);    \
        INIT(s, v, transport.irq);          \
        INIT(s, v, transport.pci_slot);     \
        INIT(s, v, transport.queue_size);   \
        INIT(s, v, transport.reserved0);    \
    } while (0)

static void structs(void)
{
    /* device.h */
    STRUCT(vmm_io);
    FIELD(vmm_io, addr);
    FIELD(vmm_io, offset);
    FIELD(vmm_io, data);
    FIELD(vmm_io, len);
    FIELD(vmm_io, is_write);
    FIELD(vmm_io, space);
    FIELD(vmm_io, reserved0);

    STRUCT(vmm_device_ops);
    FIELD(vmm_device_ops, struct_size);
    FIELD(vmm_device_ops, flags);
    FIELD(vmm_device_ops, name);
    FIELD(vmm_device_ops, pio);
    FIELD(vmm_device_ops, mmio);
    FIELD(vmm_device_ops, save);
    FIELD(vmm_device_ops, restore);
    FIELD(vmm_device_ops, reset);
    FIELD(vmm_device_ops, destroy);

    STRUCT(vmm_device_stats);
    FIELD(vmm_device_stats, struct_size);
    FIELD(vmm_device_stats, reserved0);
    FIELD(vmm_device_stats, pio_reads);
    FIELD(vmm_device_stats, pio_writes);
    FIELD(vmm_device_stats, mmio_reads);
    FIELD(vmm_device_stats, mmio_writes);
    FIELD(vmm_device_stats, errors);
    FIELD(vmm_device_stats, unhandled);

    /* exit.h */
    STRUCT(vmm_exit);
    FIELD(vmm_exit, reason);
    FIELD(vmm_exit, vcpu_index);
    FIELD(vmm_exit, error);
    FIELD(vmm_exit, reserved0);
    FIELD(vmm_exit, pio);
    FIELD(vmm_exit, pio.port);
    FIELD(vmm_exit, pio.size);
    FIELD(vmm_exit, pio.is_write);
    FIELD(vmm_exit, pio.count);
    FIELD(vmm_exit, pio.data);
    FIELD(vmm_exit, mmio);
    FIELD(vmm_exit, mmio.gpa);
    FIELD(vmm_exit, mmio.data);
    FIELD(vmm_exit, mmio.len);
    FIELD(vmm_exit, mmio.is_write);
    FIELD(vmm_exit, internal);
    FIELD(vmm_exit, internal.suberror);
    FIELD(vmm_exit, internal.ndata);
    FIELD(vmm_exit, internal.data);
    FIELD(vmm_exit, fail_entry);
    FIELD(vmm_exit, fail_entry.hardware_reason);
    FIELD(vmm_exit, fail_entry.cpu);
    FIELD(vmm_exit, system_event);
    FIELD(vmm_exit, system_event.type);
    FIELD(vmm_exit, system_event.ndata);
    FIELD(vmm_exit, system_event.data);
    FIELD(vmm_exit, request);
    FIELD(vmm_exit, request.kind);
    FIELD(vmm_exit, request.reserved0);
    FIELD(vmm_exit, request.value);
    FIELD(vmm_exit, unknown);
    FIELD(vmm_exit, unknown.kvm_reason);
    FIELD(vmm_exit, reserved);

    /* devices/serial.h */
    STRUCT(vmm_serial_config);
    FIELD(vmm_serial_config, struct_size);
    FIELD(vmm_serial_config, flags);
    FIELD(vmm_serial_config, port);
    FIELD(vmm_serial_config, reserved0);
    FIELD(vmm_serial_config, irq);
    FIELD(vmm_serial_config, out_fd);
    FIELD(vmm_serial_config, in_fd);
    FIELD(vmm_serial_config, out_fn);
    FIELD(vmm_serial_config, out_user);

    /* devices/virtio.h */
    STRUCT(vmm_virtio_transport_config);
    FIELD(vmm_virtio_transport_config, transport);
    FIELD(vmm_virtio_transport_config, flags);
    FIELD(vmm_virtio_transport_config, mmio_base);
    FIELD(vmm_virtio_transport_config, irq);
    FIELD(vmm_virtio_transport_config, pci_slot);
    FIELD(vmm_virtio_transport_config, queue_size);
    FIELD(vmm_virtio_transport_config, reserved0);

    STRUCT(vmm_virtio_info);
    FIELD(vmm_virtio_info, struct_size);
    FIELD(vmm_virtio_info, device_id);
    FIELD(vmm_virtio_info, transport);
    FIELD(vmm_virtio_info, irq);
    FIELD(vmm_virtio_info, mmio_base);
    FIELD(vmm_virtio_info, pci_slot);
    FIELD(vmm_virtio_info, status);
    FIELD(vmm_virtio_info, needs_reset);
    FIELD(vmm_virtio_info, reserved0);
    FIELD(vmm_virtio_info, driver_features);
    FIELD(vmm_virtio_info, requests);
    FIELD(vmm_virtio_info, violations);

    STRUCT(vmm_virtio_blk_config);
    FIELD(vmm_virtio_blk_config, struct_size);
    FIELD(vmm_virtio_blk_config, flags);
    FIELD(vmm_virtio_blk_config, transport);
    FIELD(vmm_virtio_blk_config, path);
    FIELD(vmm_virtio_blk_config, fd);
    FIELD(vmm_virtio_blk_config, reserved0);
    FIELD(vmm_virtio_blk_config, serial);

    STRUCT(vmm_virtio_console_config);
    FIELD(vmm_virtio_console_config, struct_size);
    FIELD(vmm_virtio_console_config, flags);
    FIELD(vmm_virtio_console_config, transport);
    FIELD(vmm_virtio_console_config, out_fd);
    FIELD(vmm_virtio_console_config, in_fd);
    FIELD(vmm_virtio_console_config, out_fn);
    FIELD(vmm_virtio_console_config, out_user);

    STRUCT(vmm_virtio_rng_config);
    FIELD(vmm_virtio_rng_config, struct_size);
    FIELD(vmm_virtio_rng_config, flags);
    FIELD(vmm_virtio_rng_config, transport);

    STRUCT(vmm_virtio_net_config);
    FIELD(vmm_virtio_net_config, struct_size);
    FIELD(vmm_virtio_net_config, flags);
    FIELD(vmm_virtio_net_config, transport);
    FIELD(vmm_virtio_net_config, tap_name);
    FIELD(vmm_virtio_net_config, tap_fd);
    FIELD(vmm_virtio_net_config, mac);
    FIELD(vmm_virtio_net_config, reserved0);

    /* hypercall.h */
    STRUCT(vmm_hypercall);
    FIELD(vmm_hypercall, nr);
    FIELD(vmm_hypercall, args);

    /* loader.h */
    STRUCT(vmm_boot_config);
    FIELD(vmm_boot_config, struct_size);
    FIELD(vmm_boot_config, flags);
    FIELD(vmm_boot_config, format);
    FIELD(vmm_boot_config, reserved0);
    FIELD(vmm_boot_config, kernel);
    FIELD(vmm_boot_config, kernel_size);
    FIELD(vmm_boot_config, initrd);
    FIELD(vmm_boot_config, initrd_size);
    FIELD(vmm_boot_config, cmdline);
    FIELD(vmm_boot_config, raw_gpa);
    FIELD(vmm_boot_config, raw_entry);
    FIELD(vmm_boot_config, raw_cpu_mode);
    FIELD(vmm_boot_config, reserved1);
    FIELD(vmm_boot_config, modules);
    FIELD(vmm_boot_config, num_modules);
    FIELD(vmm_boot_config, reserved2);

    STRUCT(vmm_boot_module);
    FIELD(vmm_boot_module, data);
    FIELD(vmm_boot_module, size);
    FIELD(vmm_boot_module, cmdline);

    STRUCT(vmm_boot_info);
    FIELD(vmm_boot_info, struct_size);
    FIELD(vmm_boot_info, format);
    FIELD(vmm_boot_info, entry);
    FIELD(vmm_boot_info, kernel_gpa);
    FIELD(vmm_boot_info, kernel_end);
    FIELD(vmm_boot_info, initrd_gpa);
    FIELD(vmm_boot_info, initrd_size);
    FIELD(vmm_boot_info, cmdline_gpa);
    FIELD(vmm_boot_info, boot_params_gpa);
    FIELD(vmm_boot_info, protocol_version);
    FIELD(vmm_boot_info, compression);
    FIELD(vmm_boot_info, extracted_size);

    /* pc.h */
    STRUCT(vmm_e820_entry);
    FIELD(vmm_e820_entry, addr);
    FIELD(vmm_e820_entry, size);
    FIELD(vmm_e820_entry, type);
    FIELD(vmm_e820_entry, reserved0);

    STRUCT(vmm_cpuid_override);
    FIELD(vmm_cpuid_override, function);
    FIELD(vmm_cpuid_override, index);
    FIELD(vmm_cpuid_override, reg);
    FIELD(vmm_cpuid_override, clear);
    FIELD(vmm_cpuid_override, set);

    /* vcpu.h */
    STRUCT(vmm_regs);
    FIELD(vmm_regs, rax);
    FIELD(vmm_regs, rbx);
    FIELD(vmm_regs, rcx);
    FIELD(vmm_regs, rdx);
    FIELD(vmm_regs, rsi);
    FIELD(vmm_regs, rdi);
    FIELD(vmm_regs, rsp);
    FIELD(vmm_regs, rbp);
    FIELD(vmm_regs, r8);
    FIELD(vmm_regs, r9);
    FIELD(vmm_regs, r10);
    FIELD(vmm_regs, r11);
    FIELD(vmm_regs, r12);
    FIELD(vmm_regs, r13);
    FIELD(vmm_regs, r14);
    FIELD(vmm_regs, r15);
    FIELD(vmm_regs, rip);
    FIELD(vmm_regs, rflags);

    STRUCT(vmm_segment);
    FIELD(vmm_segment, base);
    FIELD(vmm_segment, limit);
    FIELD(vmm_segment, selector);
    FIELD(vmm_segment, type);
    FIELD(vmm_segment, present);
    FIELD(vmm_segment, dpl);
    FIELD(vmm_segment, db);
    FIELD(vmm_segment, s);
    FIELD(vmm_segment, l);
    FIELD(vmm_segment, g);
    FIELD(vmm_segment, avl);
    FIELD(vmm_segment, unusable);
    FIELD(vmm_segment, reserved0);

    STRUCT(vmm_dtable);
    FIELD(vmm_dtable, base);
    FIELD(vmm_dtable, limit);
    FIELD(vmm_dtable, reserved0);

    STRUCT(vmm_sregs);
    FIELD(vmm_sregs, cs);
    FIELD(vmm_sregs, ds);
    FIELD(vmm_sregs, es);
    FIELD(vmm_sregs, fs);
    FIELD(vmm_sregs, gs);
    FIELD(vmm_sregs, ss);
    FIELD(vmm_sregs, tr);
    FIELD(vmm_sregs, ldt);
    FIELD(vmm_sregs, gdt);
    FIELD(vmm_sregs, idt);
    FIELD(vmm_sregs, cr0);
    FIELD(vmm_sregs, cr2);
    FIELD(vmm_sregs, cr3);
    FIELD(vmm_sregs, cr4);
    FIELD(vmm_sregs, cr8);
    FIELD(vmm_sregs, efer);
    FIELD(vmm_sregs, apic_base);

    STRUCT(vmm_cpu_mode_config);
    FIELD(vmm_cpu_mode_config, struct_size);
    FIELD(vmm_cpu_mode_config, mode);
    FIELD(vmm_cpu_mode_config, flags);
    FIELD(vmm_cpu_mode_config, reserved0);
    FIELD(vmm_cpu_mode_config, tables_gpa);
    FIELD(vmm_cpu_mode_config, tables_size);
    FIELD(vmm_cpu_mode_config, identity_map_size);

    STRUCT(vmm_cpuid_entry);
    FIELD(vmm_cpuid_entry, function);
    FIELD(vmm_cpuid_entry, index);
    FIELD(vmm_cpuid_entry, flags);
    FIELD(vmm_cpuid_entry, eax);
    FIELD(vmm_cpuid_entry, ebx);
    FIELD(vmm_cpuid_entry, ecx);
    FIELD(vmm_cpuid_entry, edx);
    FIELD(vmm_cpuid_entry, reserved0);

    /* vm.h */
    STRUCT(vmm_vm_config);
    FIELD(vmm_vm_config, struct_size);
    FIELD(vmm_vm_config, flags);
    FIELD(vmm_vm_config, platform);
    FIELD(vmm_vm_config, num_vcpus);
    FIELD(vmm_vm_config, hypercall_port);
    FIELD(vmm_vm_config, reserved0);
    FIELD(vmm_vm_config, kick_signal);

    STRUCT(vmm_vm_stats);
    FIELD(vmm_vm_stats, struct_size);
    FIELD(vmm_vm_stats, reserved0);
    FIELD(vmm_vm_stats, exits_total);
    FIELD(vmm_vm_stats, exits);
}

static void consts(void)
{
    /* common.h */
    CONST(VMM_UNHANDLED);
    /* device.h */
    CONST(VMM_SPACE_PIO);
    CONST(VMM_SPACE_MMIO);
    CONST(VMM_DEVICE_F_CONCURRENT);
    /* devices/legacy.h */
    CONST(VMM_DEBUG_EXIT_PORT);
    /* devices/serial.h */
    CONST(VMM_SERIAL_COM1_PORT);
    CONST(VMM_SERIAL_COM2_PORT);
    CONST(VMM_SERIAL_COM3_PORT);
    CONST(VMM_SERIAL_COM4_PORT);
    CONST(VMM_SERIAL_COM1_IRQ);
    CONST(VMM_SERIAL_COM2_IRQ);
    CONST(VMM_SERIAL_NO_IRQ);
    /* devices/virtio.h */
    CONST(VMM_VIRTIO_TRANSPORT_PCI);
    CONST(VMM_VIRTIO_TRANSPORT_MMIO);
    CONST(VMM_VIRTIO_F_INLINE);
    CONST(VMM_VIRTIO_NO_IRQ);
    CONST(VMM_VIRTIO_MMIO_BASE);
    CONST(VMM_VIRTIO_PCI_MMIO_BASE);
    CONST(VMM_VIRTIO_PCI_MMIO_SIZE);
    CONST(VMM_VIRTIO_QUEUE_SIZE_DEFAULT);
    CONST(VMM_VIRTIO_QUEUE_SIZE_MAX);
    CONST(VMM_VIRTIO_BLK_F_READONLY);
    /* error.h */
    CONST(VMM_LOG_ERROR);
    CONST(VMM_LOG_WARN);
    CONST(VMM_LOG_INFO);
    CONST(VMM_LOG_DEBUG);
    /* exit.h */
    CONST(VMM_EXIT_NONE);
    CONST(VMM_EXIT_HLT);
    CONST(VMM_EXIT_SHUTDOWN);
    CONST(VMM_EXIT_PIO);
    CONST(VMM_EXIT_MMIO);
    CONST(VMM_EXIT_STOPPED);
    CONST(VMM_EXIT_KICKED);
    CONST(VMM_EXIT_INTERNAL_ERROR);
    CONST(VMM_EXIT_FAIL_ENTRY);
    CONST(VMM_EXIT_DEVICE_ERROR);
    CONST(VMM_EXIT_SYSTEM_EVENT);
    CONST(VMM_EXIT_UNKNOWN);
    CONST(VMM_EXIT_REQUEST);
    CONST(VMM_REQUEST_RESET);
    CONST(VMM_REQUEST_POWEROFF);
    CONST(VMM_REQUEST_DEBUG_EXIT);
    CONST(VMM_REQUEST_USER);
    CONST(VMM_IO_READ);
    CONST(VMM_IO_WRITE);
    /* loader.h */
    CONST(VMM_IMAGE_AUTO);
    CONST(VMM_IMAGE_BZIMAGE);
    CONST(VMM_IMAGE_ELF_PVH);
    CONST(VMM_IMAGE_MULTIBOOT);
    CONST(VMM_IMAGE_RAW);
    CONST(VMM_BOOT_F_BZIMAGE_ENTRY32);
    CONST(VMM_BOOT_F_BZIMAGE_EXTRACT);
    CONST(VMM_BOOT_MAX_MODULES);
    CONST(VMM_COMPRESSION_NONE);
    CONST(VMM_COMPRESSION_GZIP);
    CONST(VMM_COMPRESSION_XZ);
    CONST(VMM_COMPRESSION_ZSTD);
    CONST(VMM_COMPRESSION_LZ4);
    CONST(VMM_COMPRESSION_BZIP2);
    CONST(VMM_COMPRESSION_LZMA);
    CONST(VMM_COMPRESSION_LZO);
    CONST(VMM_COMPRESSION_UNKNOWN);
    /* memory.h */
    CONST(VMM_MEM_READONLY);
    /* pc.h */
    CONST(VMM_PC_MMIO_HOLE_START);
    CONST(VMM_PC_HIGH_RAM_START);
    CONST(VMM_E820_RAM);
    CONST(VMM_E820_RESERVED);
    CONST(VMM_CPUID_EAX);
    CONST(VMM_CPUID_EBX);
    CONST(VMM_CPUID_ECX);
    CONST(VMM_CPUID_EDX);
    /* vcpu.h */
    CONST(VMM_REG_RAX);
    CONST(VMM_REG_RBX);
    CONST(VMM_REG_RCX);
    CONST(VMM_REG_RDX);
    CONST(VMM_REG_RSI);
    CONST(VMM_REG_RDI);
    CONST(VMM_REG_RSP);
    CONST(VMM_REG_RBP);
    CONST(VMM_REG_R8);
    CONST(VMM_REG_R9);
    CONST(VMM_REG_R10);
    CONST(VMM_REG_R11);
    CONST(VMM_REG_R12);
    CONST(VMM_REG_R13);
    CONST(VMM_REG_R14);
    CONST(VMM_REG_R15);
    CONST(VMM_REG_RIP);
    CONST(VMM_REG_RFLAGS);
    CONST(VMM_REG_CR0);
    CONST(VMM_REG_CR2);
    CONST(VMM_REG_CR3);
    CONST(VMM_REG_CR4);
    CONST(VMM_REG_CR8);
    CONST(VMM_REG_EFER);
    CONST(VMM_REG_COUNT);
    CONST(VMM_CPU_MODE_REAL);
    CONST(VMM_CPU_MODE_PROTECTED);
    CONST(VMM_CPU_MODE_LONG);
    CONST(VMM_CPU_MODE_F_USER);
    /* version.h */
    CONST(VMM_VERSION_MAJOR);
    CONST(VMM_VERSION_MINOR);
    CONST(VMM_VERSION_PATCH);
    CONST(VMM_VERSION_NUMBER);
    CONST(VMM_FEATURE_READONLY_MEMORY);
    CONST(VMM_FEATURE_HYPERCALLS);
    CONST(VMM_FEATURE_VM_RUN);
    CONST(VMM_FEATURE_KICK);
    CONST(VMM_FEATURE_LONG_MODE);
    CONST(VMM_FEATURE_PLATFORM_PC);
    CONST(VMM_FEATURE_EXTRACT_GZIP);
    CONST(VMM_FEATURE_EXTRACT_XZ);
    CONST(VMM_FEATURE_EXTRACT_ZSTD);
    CONST(VMM_FEATURE_EXTRACT_LZ4);
    /* vm.h */
    CONST(VMM_PLATFORM_NONE);
    CONST(VMM_PLATFORM_PC);
    CONST(VMM_MAX_VCPUS);
    CONST(VMM_HYPERCALL_PORT_DEFAULT);
    CONST(VMM_KICK_SIGNAL_NONE);
    CONST(VMM_STAT_EXIT_PIO);
    CONST(VMM_STAT_EXIT_MMIO);
    CONST(VMM_STAT_EXIT_HYPERCALL);
    CONST(VMM_STAT_EXIT_HLT);
    CONST(VMM_STAT_EXIT_SHUTDOWN);
    CONST(VMM_STAT_EXIT_INTR);
    CONST(VMM_STAT_EXIT_INTERNAL_ERROR);
    CONST(VMM_STAT_EXIT_FAIL_ENTRY);
    CONST(VMM_STAT_EXIT_SYSTEM_EVENT);
    CONST(VMM_STAT_EXIT_OTHER);
    CONST(VMM_STAT_EXIT_UNHANDLED);
    CONST(VMM_STAT_EXIT_OPEN_BUS);
    CONST(VMM_VM_F_OPEN_BUS);
    CONST(VMM_STAT_EXIT_COUNT);
}

static void functions(void)
{
    /* device.h */
    FUNCTION(vmm_device_attach);
    FUNCTION(vmm_device_detach);
    FUNCTION(vmm_device_map_pio);
    FUNCTION(vmm_device_map_mmio);
    FUNCTION(vmm_device_unmap);
    FUNCTION(vmm_device_user);
    FUNCTION(vmm_device_name);
    FUNCTION(vmm_device_vm);
    FUNCTION(vmm_device_get_stats);
    FUNCTION(vmm_device_set_irq);
    /* devices/legacy.h */
    FUNCTION(vmm_i8042_attach);
    FUNCTION(vmm_rtc_attach);
    FUNCTION(vmm_debug_exit_attach);
    /* devices/serial.h */
    FUNCTION(vmm_serial_attach);
    FUNCTION(vmm_serial_input);
    /* devices/virtio.h */
    FUNCTION(vmm_virtio_get_info);
    FUNCTION(vmm_virtio_mmio_cmdline);
    FUNCTION(vmm_virtio_blk_attach);
    FUNCTION(vmm_virtio_console_attach);
    FUNCTION(vmm_virtio_console_input);
    FUNCTION(vmm_virtio_rng_attach);
    FUNCTION(vmm_virtio_net_attach);
    /* error.h */
    FUNCTION(vmm_strerror);
    FUNCTION(vmm_last_error);
    FUNCTION(vmm_set_log_callback);
    /* exit.h */
    FUNCTION(vmm_exit_reason_name);
    /* hypercall.h */
    FUNCTION(vmm_hypercall_register);
    FUNCTION(vmm_hypercall_unregister);
    /* loader.h */
    FUNCTION(vmm_boot_load);
    FUNCTION(vmm_boot_load_files);
    /* memory.h */
    FUNCTION(vmm_memory_add_ram);
    FUNCTION(vmm_memory_add_host);
    FUNCTION(vmm_memory_add_fd);
    FUNCTION(vmm_memory_remove);
    FUNCTION(vmm_memory_read);
    FUNCTION(vmm_memory_write);
    FUNCTION(vmm_memory_translate);
    /* pc.h */
    FUNCTION(vmm_pc_add_ram);
    FUNCTION(vmm_pc_e820);
    FUNCTION(vmm_vm_set_cpuid_policy);
    /* vcpu.h */
    FUNCTION(vmm_vcpu_get_regs);
    FUNCTION(vmm_vcpu_set_regs);
    FUNCTION(vmm_vcpu_get_sregs);
    FUNCTION(vmm_vcpu_set_sregs);
    FUNCTION(vmm_vcpu_get_reg);
    FUNCTION(vmm_vcpu_set_reg);
    FUNCTION(vmm_vcpu_index);
    FUNCTION(vmm_vcpu_vm);
    FUNCTION(vmm_cpu_mode_tables_size);
    FUNCTION(vmm_vcpu_set_cpu_mode);
    FUNCTION(vmm_vcpu_get_cpuid);
    FUNCTION(vmm_vcpu_set_cpuid);
    FUNCTION(vmm_vcpu_run);
    FUNCTION(vmm_vcpu_request_exit);
    FUNCTION(vmm_vcpu_kick);
    /* version.h */
    FUNCTION(vmm_version);
    FUNCTION(vmm_version_string);
    FUNCTION(vmm_has_feature);
    /* vm.h */
    FUNCTION(vmm_vm_config_init);
    FUNCTION(vmm_vm_create);
    FUNCTION(vmm_vm_destroy);
    FUNCTION(vmm_vm_num_vcpus);
    FUNCTION(vmm_vm_get_vcpu);
    FUNCTION(vmm_vm_run);
    FUNCTION(vmm_vm_stop);
    FUNCTION(vmm_vm_reset_devices);
    FUNCTION(vmm_vm_get_stats);
}

/* The header initialisers' values, field by field. */
static void inits(void)
{
    /* devices/virtio.h */
    struct vmm_virtio_transport_config t = VMM_VIRTIO_TRANSPORT_INIT;
    INIT(vmm_virtio_transport_config, t, transport);
    INIT(vmm_virtio_transport_config, t, flags);
    INIT(vmm_virtio_transport_config, t, mmio_base);
    INIT(vmm_virtio_transport_config, t, irq);
    INIT(vmm_virtio_transport_config, t, pci_slot);
    INIT(vmm_virtio_transport_config, t, queue_size);
    INIT(vmm_virtio_transport_config, t, reserved0);

    struct vmm_virtio_blk_config blk = VMM_VIRTIO_BLK_CONFIG_INIT;
    INIT(vmm_virtio_blk_config, blk, struct_size);
    INIT(vmm_virtio_blk_config, blk, flags);
    INIT_TRANSPORT(vmm_virtio_blk_config, blk);
    INIT_PTR(vmm_virtio_blk_config, blk, path);
    INIT(vmm_virtio_blk_config, blk, fd);
    INIT(vmm_virtio_blk_config, blk, reserved0);
    INIT_PTR(vmm_virtio_blk_config, blk, serial);

    struct vmm_virtio_console_config con = VMM_VIRTIO_CONSOLE_CONFIG_INIT;
    INIT(vmm_virtio_console_config, con, struct_size);
    INIT(vmm_virtio_console_config, con, flags);
    INIT_TRANSPORT(vmm_virtio_console_config, con);
    INIT(vmm_virtio_console_config, con, out_fd);
    INIT(vmm_virtio_console_config, con, in_fd);
    INIT_PTR(vmm_virtio_console_config, con, out_fn);
    INIT_PTR(vmm_virtio_console_config, con, out_user);

    struct vmm_virtio_rng_config rng = VMM_VIRTIO_RNG_CONFIG_INIT;
    INIT(vmm_virtio_rng_config, rng, struct_size);
    INIT(vmm_virtio_rng_config, rng, flags);
    INIT_TRANSPORT(vmm_virtio_rng_config, rng);

    struct vmm_virtio_net_config net = VMM_VIRTIO_NET_CONFIG_INIT;
    INIT(vmm_virtio_net_config, net, struct_size);
    INIT(vmm_virtio_net_config, net, flags);
    INIT_TRANSPORT(vmm_virtio_net_config, net);
    INIT_PTR(vmm_virtio_net_config, net, tap_name);
    INIT(vmm_virtio_net_config, net, tap_fd);
    for (size_t i = 0; i < sizeof(net.mac); i++)
        printf("init vmm_virtio_net_config.mac.%zu %d\n", i, net.mac[i]);
    INIT(vmm_virtio_net_config, net, reserved0);
}

int main(void)
{
    structs();
    consts();
    functions();
    inits();
    return ferror(stdout) ? 1 : 0;
}
