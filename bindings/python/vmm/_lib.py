"""Raw ctypes declarations of libvmm's C API (include/vmm/*.h).

This module mirrors the headers one to one: struct layouts, constants, and
an explicit restype/argtypes for every exported function (FUNCTIONS). The
layout test (tests/test_layout.py) checks all of it against the output of
bindings/layout/layout.c, so keep the names here the C names.

Nothing here is safe to use directly: the classes in vmm/__init__.py are the
public interface.
"""

import ctypes
import ctypes.util
import os
import shlex
import shutil
import subprocess
from ctypes import (CFUNCTYPE, POINTER, Structure, Union, c_char_p, c_int,
                    c_int32, c_size_t, c_uint8, c_uint16, c_uint32, c_uint64,
                    c_void_p)

# The library version this binding was written against: a library with the
# same major and at least this minor is compatible (version.h).
EXPECTED_MAJOR = 0
EXPECTED_MINOR = 3

# --------------------------------------------------------------- constants
# common.h
VMM_UNHANDLED = 1
# device.h
VMM_SPACE_PIO = 0
VMM_SPACE_MMIO = 1
VMM_DEVICE_F_CONCURRENT = 1 << 0
# devices/legacy.h
VMM_DEBUG_EXIT_PORT = 0xf4
# devices/serial.h
VMM_SERIAL_COM1_PORT = 0x3f8
VMM_SERIAL_COM2_PORT = 0x2f8
VMM_SERIAL_COM3_PORT = 0x3e8
VMM_SERIAL_COM4_PORT = 0x2e8
VMM_SERIAL_COM1_IRQ = 4
VMM_SERIAL_COM2_IRQ = 3
VMM_SERIAL_NO_IRQ = 0xffffffff
# devices/virtio.h
VMM_VIRTIO_TRANSPORT_PCI = 0
VMM_VIRTIO_TRANSPORT_MMIO = 1
VMM_VIRTIO_F_INLINE = 1 << 0
VMM_VIRTIO_NO_IRQ = 0xffffffff
VMM_VIRTIO_MMIO_BASE = 0xd0000000
VMM_VIRTIO_PCI_MMIO_BASE = 0xe0000000
VMM_VIRTIO_PCI_MMIO_SIZE = 0x10000000
VMM_VIRTIO_QUEUE_SIZE_DEFAULT = 256
VMM_VIRTIO_QUEUE_SIZE_MAX = 32768
VMM_VIRTIO_BLK_F_READONLY = 1 << 0
# error.h
VMM_LOG_ERROR = 0
VMM_LOG_WARN = 1
VMM_LOG_INFO = 2
VMM_LOG_DEBUG = 3
# exit.h
VMM_EXIT_NONE = 0
VMM_EXIT_HLT = 1
VMM_EXIT_SHUTDOWN = 2
VMM_EXIT_PIO = 3
VMM_EXIT_MMIO = 4
VMM_EXIT_STOPPED = 5
VMM_EXIT_KICKED = 6
VMM_EXIT_INTERNAL_ERROR = 7
VMM_EXIT_FAIL_ENTRY = 8
VMM_EXIT_DEVICE_ERROR = 9
VMM_EXIT_SYSTEM_EVENT = 10
VMM_EXIT_UNKNOWN = 11
VMM_EXIT_REQUEST = 12
VMM_REQUEST_RESET = 1
VMM_REQUEST_POWEROFF = 2
VMM_REQUEST_DEBUG_EXIT = 3
VMM_REQUEST_USER = 0x10000
VMM_IO_READ = 0
VMM_IO_WRITE = 1
# loader.h
VMM_IMAGE_AUTO = 0
VMM_IMAGE_BZIMAGE = 1
VMM_IMAGE_ELF_PVH = 2
VMM_IMAGE_MULTIBOOT = 3
VMM_IMAGE_RAW = 4
VMM_BOOT_F_BZIMAGE_ENTRY32 = 1 << 0
VMM_BOOT_F_BZIMAGE_EXTRACT = 1 << 1
VMM_BOOT_MAX_MODULES = 64
VMM_COMPRESSION_NONE = 0
VMM_COMPRESSION_GZIP = 1
VMM_COMPRESSION_XZ = 2
VMM_COMPRESSION_ZSTD = 3
VMM_COMPRESSION_LZ4 = 4
VMM_COMPRESSION_BZIP2 = 5
VMM_COMPRESSION_LZMA = 6
VMM_COMPRESSION_LZO = 7
VMM_COMPRESSION_UNKNOWN = 0xff
# memory.h
VMM_MEM_READONLY = 1 << 0
# pc.h
VMM_PC_MMIO_HOLE_START = 0xc0000000
VMM_PC_HIGH_RAM_START = 0x100000000
VMM_E820_RAM = 1
VMM_E820_RESERVED = 2
VMM_CPUID_EAX = 0
VMM_CPUID_EBX = 1
VMM_CPUID_ECX = 2
VMM_CPUID_EDX = 3
# vcpu.h (enum vmm_reg)
REG_NAMES = ("RAX", "RBX", "RCX", "RDX", "RSI", "RDI", "RSP", "RBP",
             "R8", "R9", "R10", "R11", "R12", "R13", "R14", "R15",
             "RIP", "RFLAGS", "CR0", "CR2", "CR3", "CR4", "CR8", "EFER")
for _i, _n in enumerate(REG_NAMES):
    globals()["VMM_REG_" + _n] = _i
VMM_REG_COUNT = len(REG_NAMES)
VMM_CPU_MODE_REAL = 1
VMM_CPU_MODE_PROTECTED = 2
VMM_CPU_MODE_LONG = 3
VMM_CPU_MODE_F_USER = 1 << 0
# version.h
VMM_VERSION_MAJOR = 0
VMM_VERSION_MINOR = 3
VMM_VERSION_PATCH = 0
VMM_VERSION_NUMBER = (VMM_VERSION_MAJOR << 16) | (VMM_VERSION_MINOR << 8) | VMM_VERSION_PATCH
VMM_FEATURE_READONLY_MEMORY = 1
VMM_FEATURE_HYPERCALLS = 2
VMM_FEATURE_VM_RUN = 3
VMM_FEATURE_KICK = 4
VMM_FEATURE_LONG_MODE = 5
VMM_FEATURE_PLATFORM_PC = 6
VMM_FEATURE_EXTRACT_GZIP = 7
VMM_FEATURE_EXTRACT_XZ = 8
VMM_FEATURE_EXTRACT_ZSTD = 9
VMM_FEATURE_EXTRACT_LZ4 = 10
# vm.h
VMM_PLATFORM_NONE = 0
VMM_PLATFORM_PC = 1
VMM_MAX_VCPUS = 256
VMM_HYPERCALL_PORT_DEFAULT = 0x0600
VMM_KICK_SIGNAL_NONE = -1
VMM_VM_F_OPEN_BUS = 1 << 0
STAT_EXIT_NAMES = ("PIO", "MMIO", "HYPERCALL", "HLT", "SHUTDOWN", "INTR",
                   "INTERNAL_ERROR", "FAIL_ENTRY", "SYSTEM_EVENT", "OTHER",
                   "UNHANDLED", "OPEN_BUS")
for _i, _n in enumerate(STAT_EXIT_NAMES):
    globals()["VMM_STAT_EXIT_" + _n] = _i
VMM_STAT_EXIT_COUNT = len(STAT_EXIT_NAMES)
del _i, _n

# Every constant above, by C name (the layout test compares them).
CONSTANTS = {k: v for k, v in globals().items()
             if k.startswith("VMM_") and isinstance(v, int)}

# ----------------------------------------------------------------- structs
# Python attribute names are the C field names, so the layout test can look
# each "field <struct>.<field>" line up with getattr(cls, field).


class vmm_io(Structure):
    _fields_ = [("addr", c_uint64), ("offset", c_uint64), ("data", c_void_p),
                ("len", c_uint32), ("is_write", c_uint8), ("space", c_uint8),
                ("reserved0", c_uint16)]


IO_FN = CFUNCTYPE(c_int, c_void_p, c_void_p, POINTER(vmm_io), c_void_p)
SAVE_FN = CFUNCTYPE(c_int, c_void_p, c_void_p, c_void_p)
RESTORE_FN = CFUNCTYPE(c_int, c_void_p, c_void_p, c_void_p)
RESET_FN = CFUNCTYPE(None, c_void_p, c_void_p)
DESTROY_FN = CFUNCTYPE(None, c_void_p)
LOG_FN = CFUNCTYPE(None, c_int, c_char_p, c_void_p)


class vmm_device_ops(Structure):
    _fields_ = [("struct_size", c_uint32), ("flags", c_uint32),
                ("name", c_char_p), ("pio", IO_FN), ("mmio", IO_FN),
                ("save", SAVE_FN), ("restore", RESTORE_FN),
                ("reset", RESET_FN), ("destroy", DESTROY_FN)]


class vmm_device_stats(Structure):
    _fields_ = [("struct_size", c_uint32), ("reserved0", c_uint32),
                ("pio_reads", c_uint64), ("pio_writes", c_uint64),
                ("mmio_reads", c_uint64), ("mmio_writes", c_uint64),
                ("errors", c_uint64), ("unhandled", c_uint64)]


class _exit_pio(Structure):
    _fields_ = [("port", c_uint16), ("size", c_uint8), ("is_write", c_uint8),
                ("count", c_uint32), ("data", POINTER(c_uint8))]


class _exit_mmio(Structure):
    _fields_ = [("gpa", c_uint64), ("data", POINTER(c_uint8)),
                ("len", c_uint32), ("is_write", c_uint8)]


class _exit_internal(Structure):
    _fields_ = [("suberror", c_uint32), ("ndata", c_uint32),
                ("data", c_uint64 * 4)]


class _exit_fail_entry(Structure):
    _fields_ = [("hardware_reason", c_uint64), ("cpu", c_uint32)]


class _exit_system_event(Structure):
    _fields_ = [("type", c_uint32), ("ndata", c_uint32),
                ("data", c_uint64 * 4)]


class _exit_request(Structure):
    _fields_ = [("kind", c_uint32), ("reserved0", c_uint32),
                ("value", c_uint64)]


class _exit_unknown(Structure):
    _fields_ = [("kvm_reason", c_uint32)]


class _exit_union(Union):
    _fields_ = [("pio", _exit_pio), ("mmio", _exit_mmio),
                ("internal", _exit_internal), ("fail_entry", _exit_fail_entry),
                ("system_event", _exit_system_event),
                ("request", _exit_request), ("unknown", _exit_unknown), ("reserved", c_uint64 * 12)]


class vmm_exit(Structure):
    _anonymous_ = ("u",)
    _fields_ = [("reason", c_uint32), ("vcpu_index", c_uint32),
                ("error", c_int32), ("reserved0", c_uint32),
                ("u", _exit_union)]


class vmm_hypercall(Structure):
    _fields_ = [("nr", c_uint64), ("args", c_uint64 * 6)]


# devices/serial.h: vmm_serial_output_fn
SERIAL_OUTPUT_FN = CFUNCTYPE(c_int, c_void_p, POINTER(c_uint8), c_size_t, c_void_p)


class vmm_serial_config(Structure):
    _fields_ = [("struct_size", c_uint32), ("flags", c_uint32),
                ("port", c_uint16), ("reserved0", c_uint16),
                ("irq", c_uint32), ("out_fd", c_int32), ("in_fd", c_int32),
                ("out_fn", SERIAL_OUTPUT_FN), ("out_user", c_void_p)]


def serial_config_init():
    """A vmm_serial_config as VMM_SERIAL_CONFIG_INIT makes it."""
    return vmm_serial_config(
        struct_size=ctypes.sizeof(vmm_serial_config), port=VMM_SERIAL_COM1_PORT,
        irq=VMM_SERIAL_COM1_IRQ, out_fd=-1, in_fd=-1)


# devices/virtio.h
class vmm_virtio_transport_config(Structure):
    _fields_ = [("transport", c_uint32), ("flags", c_uint32),
                ("mmio_base", c_uint64), ("irq", c_uint32),
                ("pci_slot", c_uint32), ("queue_size", c_uint32),
                ("reserved0", c_uint32)]


VIRTIO_INFO_FIELDS = ("device_id", "transport", "irq", "mmio_base", "pci_slot",
                      "status", "needs_reset", "driver_features", "requests",
                      "violations")


class vmm_virtio_info(Structure):
    _fields_ = [("struct_size", c_uint32), ("device_id", c_uint32),
                ("transport", c_uint32), ("irq", c_uint32),
                ("mmio_base", c_uint64), ("pci_slot", c_uint32),
                ("status", c_uint8), ("needs_reset", c_uint8),
                ("reserved0", c_uint16), ("driver_features", c_uint64),
                ("requests", c_uint64), ("violations", c_uint64)]


class vmm_virtio_blk_config(Structure):
    _fields_ = [("struct_size", c_uint32), ("flags", c_uint32),
                ("transport", vmm_virtio_transport_config),
                ("path", c_char_p), ("fd", c_int32), ("reserved0", c_uint32),
                ("serial", c_char_p)]


# vmm_virtio_console_output_fn
VIRTIO_CONSOLE_OUTPUT_FN = CFUNCTYPE(c_int, POINTER(c_uint8), c_size_t, c_void_p)


class vmm_virtio_console_config(Structure):
    _fields_ = [("struct_size", c_uint32), ("flags", c_uint32),
                ("transport", vmm_virtio_transport_config),
                ("out_fd", c_int32), ("in_fd", c_int32),
                ("out_fn", VIRTIO_CONSOLE_OUTPUT_FN), ("out_user", c_void_p)]


class vmm_virtio_rng_config(Structure):
    _fields_ = [("struct_size", c_uint32), ("flags", c_uint32),
                ("transport", vmm_virtio_transport_config)]


class vmm_virtio_net_config(Structure):
    _fields_ = [("struct_size", c_uint32), ("flags", c_uint32),
                ("transport", vmm_virtio_transport_config),
                ("tap_name", c_char_p), ("tap_fd", c_int32),
                ("mac", c_uint8 * 6), ("reserved0", c_uint16)]


def virtio_transport_init():
    """A vmm_virtio_transport_config as VMM_VIRTIO_TRANSPORT_INIT makes it."""
    return vmm_virtio_transport_config(transport=VMM_VIRTIO_TRANSPORT_PCI)


def virtio_blk_config_init():
    """VMM_VIRTIO_BLK_CONFIG_INIT."""
    return vmm_virtio_blk_config(struct_size=ctypes.sizeof(vmm_virtio_blk_config),
                                 transport=virtio_transport_init(), fd=-1)


def virtio_console_config_init():
    """VMM_VIRTIO_CONSOLE_CONFIG_INIT."""
    return vmm_virtio_console_config(
        struct_size=ctypes.sizeof(vmm_virtio_console_config),
        transport=virtio_transport_init(), out_fd=-1, in_fd=-1)


def virtio_rng_config_init():
    """VMM_VIRTIO_RNG_CONFIG_INIT."""
    return vmm_virtio_rng_config(struct_size=ctypes.sizeof(vmm_virtio_rng_config),
                                 transport=virtio_transport_init())


def virtio_net_config_init():
    """VMM_VIRTIO_NET_CONFIG_INIT."""
    return vmm_virtio_net_config(struct_size=ctypes.sizeof(vmm_virtio_net_config),
                                 transport=virtio_transport_init(), tap_fd=-1)


# The initialiser of each struct that has one (the layout test compares
# them with layout.c's "init" lines).
INITS = {
    "vmm_virtio_transport_config": virtio_transport_init,
    "vmm_virtio_blk_config": virtio_blk_config_init,
    "vmm_virtio_console_config": virtio_console_config_init,
    "vmm_virtio_rng_config": virtio_rng_config_init,
    "vmm_virtio_net_config": virtio_net_config_init,
}


# loader.h
class vmm_boot_module(Structure):
    _fields_ = [("data", c_void_p), ("size", c_uint64), ("cmdline", c_char_p)]


class vmm_boot_config(Structure):
    _fields_ = [("struct_size", c_uint32), ("flags", c_uint32),
                ("format", c_uint32), ("reserved0", c_uint32),
                ("kernel", c_void_p), ("kernel_size", c_uint64),
                ("initrd", c_void_p), ("initrd_size", c_uint64),
                ("cmdline", c_char_p), ("raw_gpa", c_uint64),
                ("raw_entry", c_uint64), ("raw_cpu_mode", c_uint32),
                ("reserved1", c_uint32), ("modules", POINTER(vmm_boot_module)),
                ("num_modules", c_uint32), ("reserved2", c_uint32)]


BOOT_INFO_FIELDS = ("format", "entry", "kernel_gpa", "kernel_end", "initrd_gpa",
                    "initrd_size", "cmdline_gpa", "boot_params_gpa",
                    "protocol_version", "compression", "extracted_size")


class vmm_boot_info(Structure):
    _fields_ = [("struct_size", c_uint32), ("format", c_uint32),
                ("entry", c_uint64), ("kernel_gpa", c_uint64),
                ("kernel_end", c_uint64), ("initrd_gpa", c_uint64),
                ("initrd_size", c_uint64), ("cmdline_gpa", c_uint64),
                ("boot_params_gpa", c_uint64), ("protocol_version", c_uint32),
                ("compression", c_uint32), ("extracted_size", c_uint64)]


# pc.h
class vmm_e820_entry(Structure):
    _fields_ = [("addr", c_uint64), ("size", c_uint64), ("type", c_uint32),
                ("reserved0", c_uint32)]


class vmm_cpuid_override(Structure):
    _fields_ = [("function", c_uint32), ("index", c_uint32), ("reg", c_uint32),
                ("clear", c_uint32), ("set", c_uint32)]


HYPERCALL_FN = CFUNCTYPE(c_int, c_void_p, POINTER(vmm_hypercall),
                         POINTER(c_uint64), c_void_p)

REGS_FIELDS = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp",
               "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
               "rip", "rflags")


class vmm_regs(Structure):
    _fields_ = [(n, c_uint64) for n in REGS_FIELDS]


class vmm_segment(Structure):
    _fields_ = [("base", c_uint64), ("limit", c_uint32), ("selector", c_uint16),
                ("type", c_uint8), ("present", c_uint8), ("dpl", c_uint8),
                ("db", c_uint8), ("s", c_uint8), ("l", c_uint8), ("g", c_uint8),
                ("avl", c_uint8), ("unusable", c_uint8), ("reserved0", c_uint8)]


class vmm_dtable(Structure):
    _fields_ = [("base", c_uint64), ("limit", c_uint16),
                ("reserved0", c_uint16 * 3)]


class vmm_sregs(Structure):
    _fields_ = ([(n, vmm_segment) for n in
                 ("cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt")] +
                [("gdt", vmm_dtable), ("idt", vmm_dtable)] +
                [(n, c_uint64) for n in
                 ("cr0", "cr2", "cr3", "cr4", "cr8", "efer", "apic_base")])


class vmm_cpu_mode_config(Structure):
    _fields_ = [("struct_size", c_uint32), ("mode", c_uint32),
                ("flags", c_uint32), ("reserved0", c_uint32),
                ("tables_gpa", c_uint64), ("tables_size", c_uint64),
                ("identity_map_size", c_uint64)]


class vmm_cpuid_entry(Structure):
    _fields_ = [("function", c_uint32), ("index", c_uint32),
                ("flags", c_uint32), ("eax", c_uint32), ("ebx", c_uint32),
                ("ecx", c_uint32), ("edx", c_uint32), ("reserved0", c_uint32)]


class vmm_vm_config(Structure):
    _fields_ = [("struct_size", c_uint32), ("flags", c_uint32),
                ("platform", c_uint32), ("num_vcpus", c_uint32),
                ("hypercall_port", c_uint16), ("reserved0", c_uint16),
                ("kick_signal", c_int32)]


class vmm_vm_stats(Structure):
    _fields_ = [("struct_size", c_uint32), ("reserved0", c_uint32),
                ("exits_total", c_uint64), ("exits", c_uint64 * 32)]


# Every struct mirror, by C name (for the layout test).
STRUCTS = {cls.__name__: cls for cls in (
    vmm_io, vmm_device_ops, vmm_device_stats, vmm_exit, vmm_hypercall,
    vmm_serial_config, vmm_virtio_transport_config, vmm_virtio_info,
    vmm_virtio_blk_config, vmm_virtio_console_config, vmm_virtio_rng_config,
    vmm_virtio_net_config, vmm_boot_module, vmm_boot_config, vmm_boot_info, vmm_e820_entry,
    vmm_cpuid_override, vmm_regs, vmm_segment, vmm_dtable, vmm_sregs,
    vmm_cpu_mode_config, vmm_cpuid_entry, vmm_vm_config, vmm_vm_stats)}

# --------------------------------------------------------------- functions
_vm = c_void_p      # vmm_vm *
_vcpu = c_void_p    # vmm_vcpu *
_dev = c_void_p     # vmm_device *
_out = POINTER(c_void_p)

# name: (restype, argtypes) -- exactly the prototypes in include/vmm/*.h.
FUNCTIONS = {
    # device.h
    "vmm_device_attach": (c_int, [_vm, POINTER(vmm_device_ops), c_void_p, _out]),
    "vmm_device_detach": (c_int, [_dev]),
    "vmm_device_map_pio": (c_int, [_dev, c_uint16, c_uint32]),
    "vmm_device_map_mmio": (c_int, [_dev, c_uint64, c_uint64]),
    "vmm_device_unmap": (c_int, [_dev, c_uint32, c_uint64]),
    "vmm_device_user": (c_void_p, [_dev]),
    "vmm_device_name": (c_char_p, [_dev]),
    "vmm_device_vm": (c_void_p, [_dev]),
    "vmm_device_get_stats": (c_int, [_dev, POINTER(vmm_device_stats)]),
    "vmm_device_set_irq": (c_int, [_dev, c_uint32, c_int]),
    # devices/legacy.h
    "vmm_i8042_attach": (c_int, [_vm, _out]),
    "vmm_rtc_attach": (c_int, [_vm, _out]),
    "vmm_debug_exit_attach": (c_int, [_vm, c_uint16, _out]),
    # devices/serial.h
    "vmm_serial_attach": (c_int, [_vm, POINTER(vmm_serial_config), _out]),
    "vmm_serial_input": (c_int, [_dev, c_void_p, c_size_t]),
    # devices/virtio.h
    "vmm_virtio_get_info": (c_int, [_dev, POINTER(vmm_virtio_info)]),
    "vmm_virtio_mmio_cmdline": (c_int, [_vm, c_char_p, c_size_t]),
    "vmm_virtio_blk_attach": (c_int, [_vm, POINTER(vmm_virtio_blk_config), _out]),
    "vmm_virtio_console_attach": (c_int, [_vm, POINTER(vmm_virtio_console_config), _out]),
    "vmm_virtio_console_input": (c_int, [_dev, c_void_p, c_size_t]),
    "vmm_virtio_rng_attach": (c_int, [_vm, POINTER(vmm_virtio_rng_config), _out]),
    "vmm_virtio_net_attach": (c_int, [_vm, POINTER(vmm_virtio_net_config), _out]),
    # error.h
    "vmm_strerror": (c_char_p, [c_int]),
    "vmm_last_error": (c_char_p, []),
    "vmm_set_log_callback": (c_int, [LOG_FN, c_void_p, c_int]),
    # exit.h
    "vmm_exit_reason_name": (c_char_p, [c_uint32]),
    # hypercall.h
    "vmm_hypercall_register": (c_int, [_vm, c_uint64, HYPERCALL_FN, c_void_p]),
    "vmm_hypercall_unregister": (c_int, [_vm, c_uint64]),
    # loader.h
    "vmm_boot_load": (c_int, [_vm, POINTER(vmm_boot_config), POINTER(vmm_boot_info)]),
    "vmm_boot_load_files": (c_int, [_vm, c_char_p, c_char_p, c_char_p, c_uint32,
                                    POINTER(vmm_boot_info)]),
    # memory.h
    "vmm_memory_add_ram": (c_int, [_vm, c_uint64, c_uint64, c_uint32, _out]),
    "vmm_memory_add_host": (c_int, [_vm, c_uint64, c_void_p, c_uint64, c_uint32]),
    "vmm_memory_add_fd": (c_int, [_vm, c_uint64, c_uint64, c_int, c_uint64,
                                  c_uint32, _out]),
    "vmm_memory_remove": (c_int, [_vm, c_uint64]),
    "vmm_memory_read": (c_int, [_vm, c_uint64, c_void_p, c_size_t]),
    "vmm_memory_write": (c_int, [_vm, c_uint64, c_void_p, c_size_t]),
    "vmm_memory_translate": (c_int, [_vm, c_uint64, c_uint64, _out]),
    # pc.h
    "vmm_pc_add_ram": (c_int, [_vm, c_uint64]),
    "vmm_pc_e820": (c_int, [_vm, POINTER(vmm_e820_entry), POINTER(c_uint32)]),
    "vmm_vm_set_cpuid_policy": (c_int, [_vm, POINTER(vmm_cpuid_override), c_uint32]),
    # vcpu.h
    "vmm_vcpu_get_regs": (c_int, [_vcpu, POINTER(vmm_regs)]),
    "vmm_vcpu_set_regs": (c_int, [_vcpu, POINTER(vmm_regs)]),
    "vmm_vcpu_get_sregs": (c_int, [_vcpu, POINTER(vmm_sregs)]),
    "vmm_vcpu_set_sregs": (c_int, [_vcpu, POINTER(vmm_sregs)]),
    "vmm_vcpu_get_reg": (c_int, [_vcpu, c_uint32, POINTER(c_uint64)]),
    "vmm_vcpu_set_reg": (c_int, [_vcpu, c_uint32, c_uint64]),
    "vmm_vcpu_index": (c_int, [_vcpu]),
    "vmm_vcpu_vm": (c_void_p, [_vcpu]),
    "vmm_cpu_mode_tables_size": (c_int, [c_uint32, c_uint64, POINTER(c_uint64)]),
    "vmm_vcpu_set_cpu_mode": (c_int, [_vcpu, POINTER(vmm_cpu_mode_config)]),
    "vmm_vcpu_get_cpuid": (c_int, [_vcpu, POINTER(vmm_cpuid_entry), POINTER(c_uint32)]),
    "vmm_vcpu_set_cpuid": (c_int, [_vcpu, POINTER(vmm_cpuid_entry), c_uint32]),
    "vmm_vcpu_run": (c_int, [_vcpu, POINTER(vmm_exit)]),
    "vmm_vcpu_request_exit": (c_int, [_vcpu, c_uint32, c_uint64]),
    "vmm_vcpu_kick": (c_int, [_vcpu]),
    # version.h
    "vmm_version": (c_uint32, []),
    "vmm_version_string": (c_char_p, []),
    "vmm_has_feature": (c_int, [c_uint32]),
    # vm.h
    "vmm_vm_config_init": (None, [POINTER(vmm_vm_config)]),
    "vmm_vm_create": (c_int, [POINTER(vmm_vm_config), _out]),
    "vmm_vm_destroy": (None, [_vm]),
    "vmm_vm_num_vcpus": (c_int, [_vm]),
    "vmm_vm_get_vcpu": (c_int, [_vm, c_uint32, _out]),
    "vmm_vm_run": (c_int, [_vm, POINTER(vmm_exit)]),
    "vmm_vm_stop": (c_int, [_vm]),
    "vmm_vm_reset_devices": (c_int, [_vm]),
    "vmm_vm_get_stats": (c_int, [_vm, POINTER(vmm_vm_stats)]),
}


# ----------------------------------------------------------------- loading
class LibraryNotFoundError(ImportError):
    """libvmm.so could not be found or loaded."""


class IncompatibleLibraryError(ImportError):
    """The libvmm.so found has an ABI this binding cannot use."""


def _pkg_config(*args):
    """Output of `pkg-config ARGS vmm` ($PKG_CONFIG, else pkg-config), or ""
    if it is missing or does not know vmm."""
    tool = os.environ.get("PKG_CONFIG") or "pkg-config"
    if not shutil.which(tool):
        return ""
    try:
        out = subprocess.run([tool, *args, "vmm"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def _source_tree():
    """The libvmm source tree this package was imported from
    (<tree>/bindings/python/vmm/), or None when it is installed elsewhere."""
    tree = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                         "..", "..", ".."))
    if (os.path.isfile(os.path.join(tree, "include", "vmm", "vmm.h"))
            and os.path.isfile(os.path.join(tree, "meson.build"))):
        return tree
    return None


def _candidates():
    """Where to look for libvmm, in order:
    1. $VMM_LIBRARY: a file, or a directory holding libvmm.so.0; when set,
       nothing else is tried;
    2. pkg-config's libdir for `vmm` (an installed prefix);
    3. each -L directory of `pkg-config --libs-only-L vmm`: with
       PKG_CONFIG_PATH=BUILD/meson-uninstalled, meson's vmm-uninstalled.pc
       names BUILD/lib there (its libdir variable names a directory that
       does not exist in the build tree);
    4. when imported from a libvmm source tree, <tree>/build/lib/libvmm.so.0;
    5. the dynamic linker's search (find_library, then the soname itself)."""
    soname = "libvmm.so.%d" % EXPECTED_MAJOR
    env = os.environ.get("VMM_LIBRARY")
    if env:
        if os.path.isdir(env):
            return [os.path.join(env, soname), os.path.join(env, "libvmm.so")]
        return [env]  # explicit: nothing else is tried
    found = []
    libdir = _pkg_config("--variable=libdir")
    if libdir:
        found.append(os.path.join(libdir, soname))
    for arg in shlex.split(_pkg_config("--libs-only-L")):
        if arg.startswith("-L") and len(arg) > 2:
            found.append(os.path.join(arg[2:], soname))
    tree = _source_tree()
    if tree:
        found.append(os.path.join(tree, "build", "lib", soname))
    name = ctypes.util.find_library("vmm")
    if name:
        found.append(name)
    found.append(soname)
    return list(dict.fromkeys(found))  # first occurrence of each, in order


def declare(lib):
    """Set restype/argtypes of every function in FUNCTIONS on @lib."""
    for name, (restype, argtypes) in FUNCTIONS.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            raise IncompatibleLibraryError(
                "%s does not export %s (built from an older libvmm?)"
                % (getattr(lib, "_name", lib), name)) from None
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


def check_version(lib):
    """Refuse a library whose major differs from EXPECTED_MAJOR or whose
    minor is older than EXPECTED_MINOR (version.h: minors add, never break)."""
    number = lib.vmm_version()
    major, minor, patch = number >> 16, (number >> 8) & 0xff, number & 0xff
    if major != EXPECTED_MAJOR or minor < EXPECTED_MINOR:
        raise IncompatibleLibraryError(
            "libvmm %d.%d.%d at %s is incompatible with this binding, which "
            "needs %d.x with x >= %d (set VMM_LIBRARY to a compatible "
            "libvmm.so)" % (major, minor, patch, getattr(lib, "_name", "?"),
                            EXPECTED_MAJOR, EXPECTED_MINOR))
    return major, minor, patch


def load():
    """Find, declare and version-check libvmm; return the CDLL."""
    errors = []
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            errors.append("%s: %s" % (path, e))
            continue
        declare(lib)
        check_version(lib)
        return lib
    raise LibraryNotFoundError(
        "cannot load libvmm (set VMM_LIBRARY to the path of libvmm.so, or "
        "PKG_CONFIG_PATH to the directory of its vmm.pc, for a build tree "
        "BUILD/meson-uninstalled): "
        + "; ".join(errors))


LIB = load()
