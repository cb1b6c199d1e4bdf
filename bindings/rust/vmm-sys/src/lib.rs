//! Raw FFI declarations for libvmm, mirroring `include/vmm/*.h` one to one.
//!
//! Everything here is `unsafe` to use and follows the C contract exactly:
//! read the header comments for ownership and threading rules. The safe API
//! is the `vmm` crate. Names keep their C spelling so that grep finds both.
//!
//! Drift between these mirrors and the headers is caught by `tests/layout.rs`,
//! which compiles `bindings/layout/layout.c` and compares every struct size,
//! field offset, constant and function name with what is declared here
//! ([`CONSTANTS`], [`FUNCTIONS`]).
#![allow(non_camel_case_types)]
#![no_std]

use core::ffi::c_void;
use core::fmt;

// C's `int` and `char` on Linux. `core::ffi::{c_int, c_char}` would say the
// same but are stable only since Rust 1.64, and this crate supports 1.63
// (Debian 12's rustc); in a `no_std` crate `std::os::raw` is not available.
type c_int = i32;
#[cfg(any(
    target_arch = "aarch64",
    target_arch = "arm",
    target_arch = "powerpc",
    target_arch = "powerpc64",
    target_arch = "riscv32",
    target_arch = "riscv64",
    target_arch = "s390x"
))]
type c_char = u8;
#[cfg(not(any(
    target_arch = "aarch64",
    target_arch = "arm",
    target_arch = "powerpc",
    target_arch = "powerpc64",
    target_arch = "riscv32",
    target_arch = "riscv64",
    target_arch = "s390x"
)))]
type c_char = i8;

// ---------------------------------------------------------------- common.h

/// Opaque `vmm_vm`.
#[repr(C)]
pub struct vmm_vm {
    _opaque: [u8; 0],
    _pin: core::marker::PhantomData<(*mut u8, core::marker::PhantomPinned)>,
}
/// Opaque `vmm_vcpu`.
#[repr(C)]
pub struct vmm_vcpu {
    _opaque: [u8; 0],
    _pin: core::marker::PhantomData<(*mut u8, core::marker::PhantomPinned)>,
}
/// Opaque `vmm_device`.
#[repr(C)]
pub struct vmm_device {
    _opaque: [u8; 0],
    _pin: core::marker::PhantomData<(*mut u8, core::marker::PhantomPinned)>,
}
/// Opaque `vmm_snapshot_writer`.
#[repr(C)]
pub struct vmm_snapshot_writer {
    _opaque: [u8; 0],
    _pin: core::marker::PhantomData<(*mut u8, core::marker::PhantomPinned)>,
}
/// Opaque `vmm_snapshot_reader`.
#[repr(C)]
pub struct vmm_snapshot_reader {
    _opaque: [u8; 0],
    _pin: core::marker::PhantomData<(*mut u8, core::marker::PhantomPinned)>,
}

/// Declares `pub const`s and the [`CONSTANTS`] table (name, value as i64)
/// that the layout test compares with layout.c's `const` lines.
macro_rules! constants {
    ($( $(#[$m:meta])* $name:ident : $ty:ty = $val:expr; )*) => {
        $( $(#[$m])* pub const $name: $ty = $val; )*
        /// Every constant of the headers that this crate mirrors, by C name.
        pub const CONSTANTS: &[(&str, i64)] = &[ $( (stringify!($name), $name as i64) ),* ];
    };
}

constants! {
    // common.h
    /// A callback declines the access: it goes back to the vmm_vcpu_run() caller.
    VMM_UNHANDLED: c_int = 1;
    // device.h: enum vmm_space
    VMM_SPACE_PIO: u32 = 0;
    VMM_SPACE_MMIO: u32 = 1;
    /// Callbacks of one device may run concurrently on several vCPUs.
    VMM_DEVICE_F_CONCURRENT: u32 = 1 << 0;
    // devices/legacy.h
    /// QEMU's isa-debug-exit port, the usual one for vmm_debug_exit_attach().
    VMM_DEBUG_EXIT_PORT: u16 = 0xf4;
    // devices/serial.h
    VMM_SERIAL_COM1_PORT: u16 = 0x3f8;
    VMM_SERIAL_COM2_PORT: u16 = 0x2f8;
    VMM_SERIAL_COM3_PORT: u16 = 0x3e8;
    VMM_SERIAL_COM4_PORT: u16 = 0x2e8;
    /// IRQ of COM1 (and COM3).
    VMM_SERIAL_COM1_IRQ: u32 = 4;
    /// IRQ of COM2 (and COM4).
    VMM_SERIAL_COM2_IRQ: u32 = 3;
    /// `vmm_serial_config::irq` of a UART without an interrupt line.
    VMM_SERIAL_NO_IRQ: u32 = 0xffff_ffff;
    // devices/virtio.h: enum vmm_virtio_transport
    /// Modern virtio-pci (the default).
    VMM_VIRTIO_TRANSPORT_PCI: u32 = 0;
    /// virtio-mmio, register layout version 2.
    VMM_VIRTIO_TRANSPORT_MMIO: u32 = 1;
    /// Serve queue notifications on the vCPU thread (no I/O thread).
    VMM_VIRTIO_F_INLINE: u32 = 1 << 0;
    /// `vmm_virtio_transport_config::irq` of a device without an interrupt line.
    VMM_VIRTIO_NO_IRQ: u32 = 0xffff_ffff;
    /// Default base of virtio-mmio devices: device n at base + n * 4 KiB.
    VMM_VIRTIO_MMIO_BASE: u64 = 0xd000_0000;
    /// The window PCI BARs are assigned from and decoded in.
    VMM_VIRTIO_PCI_MMIO_BASE: u64 = 0xe000_0000;
    VMM_VIRTIO_PCI_MMIO_SIZE: u64 = 0x1000_0000;
    /// Queue size offered unless the transport config says otherwise.
    VMM_VIRTIO_QUEUE_SIZE_DEFAULT: u32 = 256;
    /// Largest queue size (split rings hold at most 32768 entries).
    VMM_VIRTIO_QUEUE_SIZE_MAX: u32 = 32768;
    /// The disk is read-only (VIRTIO_BLK_F_RO).
    VMM_VIRTIO_BLK_F_READONLY: u32 = 1 << 0;
    // error.h: enum vmm_log_level
    VMM_LOG_ERROR: c_int = 0;
    VMM_LOG_WARN: c_int = 1;
    VMM_LOG_INFO: c_int = 2;
    VMM_LOG_DEBUG: c_int = 3;
    // exit.h: enum vmm_exit_reason
    VMM_EXIT_NONE: u32 = 0;
    VMM_EXIT_HLT: u32 = 1;
    VMM_EXIT_SHUTDOWN: u32 = 2;
    VMM_EXIT_PIO: u32 = 3;
    VMM_EXIT_MMIO: u32 = 4;
    VMM_EXIT_STOPPED: u32 = 5;
    VMM_EXIT_KICKED: u32 = 6;
    VMM_EXIT_INTERNAL_ERROR: u32 = 7;
    VMM_EXIT_FAIL_ENTRY: u32 = 8;
    VMM_EXIT_DEVICE_ERROR: u32 = 9;
    VMM_EXIT_SYSTEM_EVENT: u32 = 10;
    VMM_EXIT_UNKNOWN: u32 = 11;
    VMM_EXIT_REQUEST: u32 = 12;
    // exit.h: enum vmm_request_kind
    VMM_REQUEST_RESET: u32 = 1;
    VMM_REQUEST_POWEROFF: u32 = 2;
    VMM_REQUEST_DEBUG_EXIT: u32 = 3;
    /// First request kind free for applications' own devices.
    VMM_REQUEST_USER: u32 = 0x10000;
    VMM_IO_READ: u8 = 0;
    VMM_IO_WRITE: u8 = 1;
    // loader.h: enum vmm_image_format
    VMM_IMAGE_AUTO: u32 = 0;
    VMM_IMAGE_BZIMAGE: u32 = 1;
    VMM_IMAGE_ELF_PVH: u32 = 2;
    VMM_IMAGE_MULTIBOOT: u32 = 3;
    VMM_IMAGE_RAW: u32 = 4;
    // loader.h: VMM_BOOT_F_*
    VMM_BOOT_F_BZIMAGE_ENTRY32: u32 = 1 << 0;
    VMM_BOOT_F_BZIMAGE_EXTRACT: u32 = 1 << 1;
    /// Most entries in `vmm_boot_config::modules`.
    VMM_BOOT_MAX_MODULES: u32 = 64;
    // loader.h: enum vmm_compression
    VMM_COMPRESSION_NONE: u32 = 0;
    VMM_COMPRESSION_GZIP: u32 = 1;
    VMM_COMPRESSION_XZ: u32 = 2;
    VMM_COMPRESSION_ZSTD: u32 = 3;
    VMM_COMPRESSION_LZ4: u32 = 4;
    VMM_COMPRESSION_BZIP2: u32 = 5;
    VMM_COMPRESSION_LZMA: u32 = 6;
    VMM_COMPRESSION_LZO: u32 = 7;
    VMM_COMPRESSION_UNKNOWN: u32 = 0xff;
    // memory.h
    VMM_MEM_READONLY: u32 = 1 << 0;
    // pc.h
    VMM_PC_MMIO_HOLE_START: u64 = 0xc000_0000;
    VMM_PC_HIGH_RAM_START: u64 = 0x1_0000_0000;
    // pc.h: enum vmm_e820_type
    VMM_E820_RAM: u32 = 1;
    VMM_E820_RESERVED: u32 = 2;
    // pc.h: enum vmm_cpuid_reg
    VMM_CPUID_EAX: u32 = 0;
    VMM_CPUID_EBX: u32 = 1;
    VMM_CPUID_ECX: u32 = 2;
    VMM_CPUID_EDX: u32 = 3;
    // vcpu.h: enum vmm_reg
    VMM_REG_RAX: u32 = 0;
    VMM_REG_RBX: u32 = 1;
    VMM_REG_RCX: u32 = 2;
    VMM_REG_RDX: u32 = 3;
    VMM_REG_RSI: u32 = 4;
    VMM_REG_RDI: u32 = 5;
    VMM_REG_RSP: u32 = 6;
    VMM_REG_RBP: u32 = 7;
    VMM_REG_R8: u32 = 8;
    VMM_REG_R9: u32 = 9;
    VMM_REG_R10: u32 = 10;
    VMM_REG_R11: u32 = 11;
    VMM_REG_R12: u32 = 12;
    VMM_REG_R13: u32 = 13;
    VMM_REG_R14: u32 = 14;
    VMM_REG_R15: u32 = 15;
    VMM_REG_RIP: u32 = 16;
    VMM_REG_RFLAGS: u32 = 17;
    VMM_REG_CR0: u32 = 18;
    VMM_REG_CR2: u32 = 19;
    VMM_REG_CR3: u32 = 20;
    VMM_REG_CR4: u32 = 21;
    VMM_REG_CR8: u32 = 22;
    VMM_REG_EFER: u32 = 23;
    VMM_REG_COUNT: u32 = 24;
    // vcpu.h: enum vmm_cpu_mode
    VMM_CPU_MODE_REAL: u32 = 1;
    VMM_CPU_MODE_PROTECTED: u32 = 2;
    VMM_CPU_MODE_LONG: u32 = 3;
    VMM_CPU_MODE_F_USER: u32 = 1 << 0;
    // version.h
    VMM_VERSION_MAJOR: u32 = 0;
    VMM_VERSION_MINOR: u32 = 3;
    VMM_VERSION_PATCH: u32 = 0;
    VMM_VERSION_NUMBER: u32 = (VMM_VERSION_MAJOR << 16) | (VMM_VERSION_MINOR << 8) | VMM_VERSION_PATCH;
    VMM_FEATURE_READONLY_MEMORY: u32 = 1;
    VMM_FEATURE_HYPERCALLS: u32 = 2;
    VMM_FEATURE_VM_RUN: u32 = 3;
    VMM_FEATURE_KICK: u32 = 4;
    VMM_FEATURE_LONG_MODE: u32 = 5;
    VMM_FEATURE_PLATFORM_PC: u32 = 6;
    VMM_FEATURE_EXTRACT_GZIP: u32 = 7;
    VMM_FEATURE_EXTRACT_XZ: u32 = 8;
    VMM_FEATURE_EXTRACT_ZSTD: u32 = 9;
    VMM_FEATURE_EXTRACT_LZ4: u32 = 10;
    // vm.h
    VMM_PLATFORM_NONE: u32 = 0;
    VMM_PLATFORM_PC: u32 = 1;
    VMM_MAX_VCPUS: u32 = 256;
    VMM_HYPERCALL_PORT_DEFAULT: u16 = 0x0600;
    VMM_KICK_SIGNAL_NONE: i32 = -1;
    VMM_VM_F_OPEN_BUS: u32 = 1 << 0;
    VMM_STAT_EXIT_PIO: u32 = 0;
    VMM_STAT_EXIT_MMIO: u32 = 1;
    VMM_STAT_EXIT_HYPERCALL: u32 = 2;
    VMM_STAT_EXIT_HLT: u32 = 3;
    VMM_STAT_EXIT_SHUTDOWN: u32 = 4;
    VMM_STAT_EXIT_INTR: u32 = 5;
    VMM_STAT_EXIT_INTERNAL_ERROR: u32 = 6;
    VMM_STAT_EXIT_FAIL_ENTRY: u32 = 7;
    VMM_STAT_EXIT_SYSTEM_EVENT: u32 = 8;
    VMM_STAT_EXIT_OTHER: u32 = 9;
    VMM_STAT_EXIT_UNHANDLED: u32 = 10;
    VMM_STAT_EXIT_OPEN_BUS: u32 = 11;
    VMM_STAT_EXIT_COUNT: u32 = 12;
}

// ---------------------------------------------------------------- device.h

/// `struct vmm_io`: one guest access handed to a device callback.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct vmm_io {
    pub addr: u64,
    pub offset: u64,
    pub data: *mut c_void,
    pub len: u32,
    pub is_write: u8,
    pub space: u8,
    pub reserved0: u16,
}

/// `vmm_io_fn`: a PIO or MMIO callback.
pub type vmm_io_fn = Option<
    unsafe extern "C" fn(
        dev: *mut vmm_device,
        vcpu: *mut vmm_vcpu,
        io: *const vmm_io,
        user: *mut c_void,
    ) -> c_int,
>;

/// `struct vmm_device_ops`: a device model's callbacks.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct vmm_device_ops {
    pub struct_size: u32,
    pub flags: u32,
    pub name: *const c_char,
    pub pio: vmm_io_fn,
    pub mmio: vmm_io_fn,
    pub save: Option<
        unsafe extern "C" fn(dev: *mut vmm_device, w: *mut vmm_snapshot_writer, user: *mut c_void) -> c_int,
    >,
    pub restore: Option<
        unsafe extern "C" fn(dev: *mut vmm_device, r: *mut vmm_snapshot_reader, user: *mut c_void) -> c_int,
    >,
    pub reset: Option<unsafe extern "C" fn(dev: *mut vmm_device, user: *mut c_void)>,
    pub destroy: Option<unsafe extern "C" fn(user: *mut c_void)>,
}

impl vmm_device_ops {
    /// `VMM_DEVICE_OPS_INIT`.
    pub const INIT: Self = Self {
        struct_size: core::mem::size_of::<Self>() as u32,
        flags: 0,
        name: core::ptr::null(),
        pio: None,
        mmio: None,
        save: None,
        restore: None,
        reset: None,
        destroy: None,
    };
}

/// `struct vmm_device_stats`: per-device access counts.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct vmm_device_stats {
    pub struct_size: u32,
    pub reserved0: u32,
    pub pio_reads: u64,
    pub pio_writes: u64,
    pub mmio_reads: u64,
    pub mmio_writes: u64,
    pub errors: u64,
    pub unhandled: u64,
}

// ---------------------------------------------------------------- devices/serial.h

/// `vmm_serial_output_fn`: receives bytes the guest transmitted.
pub type vmm_serial_output_fn =
    Option<unsafe extern "C" fn(vcpu: *mut vmm_vcpu, data: *const u8, len: usize, user: *mut c_void) -> c_int>;

/// `struct vmm_serial_config`: input of vmm_serial_attach().
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct vmm_serial_config {
    pub struct_size: u32,
    pub flags: u32,
    pub port: u16,
    pub reserved0: u16,
    pub irq: u32,
    pub out_fd: i32,
    pub in_fd: i32,
    pub out_fn: vmm_serial_output_fn,
    pub out_user: *mut c_void,
}

impl vmm_serial_config {
    /// `VMM_SERIAL_CONFIG_INIT`: COM1, IRQ 4, no output, no input.
    pub const INIT: Self = Self {
        struct_size: core::mem::size_of::<Self>() as u32,
        flags: 0,
        port: VMM_SERIAL_COM1_PORT,
        reserved0: 0,
        irq: VMM_SERIAL_COM1_IRQ,
        out_fd: -1,
        in_fd: -1,
        out_fn: None,
        out_user: core::ptr::null_mut(),
    };
}

// ---------------------------------------------------------------- devices/virtio.h

/// `struct vmm_virtio_transport_config`: where a virtio device appears.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct vmm_virtio_transport_config {
    pub transport: u32,
    pub flags: u32,
    pub mmio_base: u64,
    pub irq: u32,
    pub pci_slot: u32,
    pub queue_size: u32,
    pub reserved0: u32,
}

impl vmm_virtio_transport_config {
    /// `VMM_VIRTIO_TRANSPORT_INIT`: PCI, next free slot, IRQ picked, 256-entry queues.
    pub const INIT: Self =
        Self { transport: VMM_VIRTIO_TRANSPORT_PCI, flags: 0, mmio_base: 0, irq: 0, pci_slot: 0, queue_size: 0, reserved0: 0 };
}

impl Default for vmm_virtio_transport_config {
    fn default() -> Self {
        Self::INIT
    }
}

/// `struct vmm_virtio_info`: what vmm_virtio_get_info() reports.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct vmm_virtio_info {
    pub struct_size: u32,
    pub device_id: u32,
    pub transport: u32,
    pub irq: u32,
    pub mmio_base: u64,
    pub pci_slot: u32,
    pub status: u8,
    pub needs_reset: u8,
    pub reserved0: u16,
    pub driver_features: u64,
    pub requests: u64,
    pub violations: u64,
}

impl Default for vmm_virtio_info {
    /// Zeroed, with `struct_size` set as the library requires.
    fn default() -> Self {
        Self {
            struct_size: core::mem::size_of::<Self>() as u32,
            device_id: 0,
            transport: 0,
            irq: 0,
            mmio_base: 0,
            pci_slot: 0,
            status: 0,
            needs_reset: 0,
            reserved0: 0,
            driver_features: 0,
            requests: 0,
            violations: 0,
        }
    }
}

/// `struct vmm_virtio_blk_config`: input of vmm_virtio_blk_attach().
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct vmm_virtio_blk_config {
    pub struct_size: u32,
    pub flags: u32,
    pub transport: vmm_virtio_transport_config,
    pub path: *const c_char,
    pub fd: i32,
    pub reserved0: u32,
    pub serial: *const c_char,
}

impl vmm_virtio_blk_config {
    /// `VMM_VIRTIO_BLK_CONFIG_INIT`: PCI, no backing, read-write.
    pub const INIT: Self = Self {
        struct_size: core::mem::size_of::<Self>() as u32,
        flags: 0,
        transport: vmm_virtio_transport_config::INIT,
        path: core::ptr::null(),
        fd: -1,
        reserved0: 0,
        serial: core::ptr::null(),
    };
}

/// `vmm_virtio_console_output_fn`: receives bytes the guest wrote to the console.
pub type vmm_virtio_console_output_fn =
    Option<unsafe extern "C" fn(data: *const u8, len: usize, user: *mut c_void) -> c_int>;

/// `struct vmm_virtio_console_config`: input of vmm_virtio_console_attach().
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct vmm_virtio_console_config {
    pub struct_size: u32,
    pub flags: u32,
    pub transport: vmm_virtio_transport_config,
    pub out_fd: i32,
    pub in_fd: i32,
    pub out_fn: vmm_virtio_console_output_fn,
    pub out_user: *mut c_void,
}

impl vmm_virtio_console_config {
    /// `VMM_VIRTIO_CONSOLE_CONFIG_INIT`: PCI, no output, no input.
    pub const INIT: Self = Self {
        struct_size: core::mem::size_of::<Self>() as u32,
        flags: 0,
        transport: vmm_virtio_transport_config::INIT,
        out_fd: -1,
        in_fd: -1,
        out_fn: None,
        out_user: core::ptr::null_mut(),
    };
}

/// `struct vmm_virtio_rng_config`: input of vmm_virtio_rng_attach().
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct vmm_virtio_rng_config {
    pub struct_size: u32,
    pub flags: u32,
    pub transport: vmm_virtio_transport_config,
}

impl vmm_virtio_rng_config {
    /// `VMM_VIRTIO_RNG_CONFIG_INIT`: PCI.
    pub const INIT: Self = Self {
        struct_size: core::mem::size_of::<Self>() as u32,
        flags: 0,
        transport: vmm_virtio_transport_config::INIT,
    };
}

/// `struct vmm_virtio_net_config`: input of vmm_virtio_net_attach().
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct vmm_virtio_net_config {
    pub struct_size: u32,
    pub flags: u32,
    pub transport: vmm_virtio_transport_config,
    pub tap_name: *const c_char,
    pub tap_fd: i32,
    pub mac: [u8; 6],
    pub reserved0: u16,
}

impl vmm_virtio_net_config {
    /// `VMM_VIRTIO_NET_CONFIG_INIT`: PCI, no TAP, random MAC.
    pub const INIT: Self = Self {
        struct_size: core::mem::size_of::<Self>() as u32,
        flags: 0,
        transport: vmm_virtio_transport_config::INIT,
        tap_name: core::ptr::null(),
        tap_fd: -1,
        mac: [0; 6],
        reserved0: 0,
    };
}

// ---------------------------------------------------------------- error.h

/// `vmm_log_fn`: receives library log messages.
pub type vmm_log_fn =
    Option<unsafe extern "C" fn(level: c_int, msg: *const c_char, user: *mut c_void)>;

// ---------------------------------------------------------------- exit.h

/// `struct vmm_exit_pio` (member `pio` of the union in `struct vmm_exit`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct vmm_exit_pio {
    pub port: u16,
    pub size: u8,
    pub is_write: u8,
    pub count: u32,
    pub data: *mut u8,
}

/// `struct vmm_exit_mmio`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct vmm_exit_mmio {
    pub gpa: u64,
    pub data: *mut u8,
    pub len: u32,
    pub is_write: u8,
}

/// `struct vmm_exit_internal`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct vmm_exit_internal {
    pub suberror: u32,
    pub ndata: u32,
    pub data: [u64; 4],
}

/// `struct vmm_exit_fail_entry`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct vmm_exit_fail_entry {
    pub hardware_reason: u64,
    pub cpu: u32,
}

/// `struct vmm_exit_system_event`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct vmm_exit_system_event {
    pub type_: u32,
    pub ndata: u32,
    pub data: [u64; 4],
}

/// `struct vmm_exit_request`: why a device ended the run.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct vmm_exit_request {
    pub kind: u32,
    pub reserved0: u32,
    pub value: u64,
}

/// `struct vmm_exit_unknown`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct vmm_exit_unknown {
    pub kvm_reason: u32,
}

/// The anonymous union of `struct vmm_exit`. C code names its members
/// directly (`exit.pio`); here they are reached through [`vmm_exit::u`].
#[repr(C)]
#[derive(Clone, Copy)]
pub union vmm_exit_union {
    pub pio: vmm_exit_pio,
    pub mmio: vmm_exit_mmio,
    pub internal: vmm_exit_internal,
    pub fail_entry: vmm_exit_fail_entry,
    pub system_event: vmm_exit_system_event,
    pub request: vmm_exit_request,
    pub unknown: vmm_exit_unknown,
    pub reserved: [u64; 12],
}

/// `struct vmm_exit`: what a vCPU did that no device consumed.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct vmm_exit {
    pub reason: u32,
    pub vcpu_index: u32,
    pub error: i32,
    pub reserved0: u32,
    /// The C struct's anonymous union.
    pub u: vmm_exit_union,
}

impl Default for vmm_exit {
    fn default() -> Self {
        Self { reason: 0, vcpu_index: 0, error: 0, reserved0: 0, u: vmm_exit_union { reserved: [0; 12] } }
    }
}

impl fmt::Debug for vmm_exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("vmm_exit");
        d.field("reason", &self.reason).field("vcpu_index", &self.vcpu_index).field("error", &self.error);
        // SAFETY: every member is plain data; the reason says which one the
        // library wrote, and the rest of the union is zero or stale bytes.
        unsafe {
            match self.reason {
                VMM_EXIT_PIO => d.field("pio", &self.u.pio),
                VMM_EXIT_MMIO => d.field("mmio", &self.u.mmio),
                VMM_EXIT_INTERNAL_ERROR => d.field("internal", &self.u.internal),
                VMM_EXIT_FAIL_ENTRY => d.field("fail_entry", &self.u.fail_entry),
                VMM_EXIT_SYSTEM_EVENT => d.field("system_event", &self.u.system_event),
                VMM_EXIT_REQUEST => d.field("request", &self.u.request),
                VMM_EXIT_UNKNOWN => d.field("unknown", &self.u.unknown),
                _ => &mut d,
            };
        }
        d.finish()
    }
}

// ---------------------------------------------------------------- hypercall.h

/// `struct vmm_hypercall`: what the guest passed (RAX; RDI, RSI, RCX, RBX, R8, R9).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct vmm_hypercall {
    pub nr: u64,
    pub args: [u64; 6],
}

/// `vmm_hypercall_fn`: a hypercall handler.
pub type vmm_hypercall_fn = Option<
    unsafe extern "C" fn(
        vcpu: *mut vmm_vcpu,
        call: *const vmm_hypercall,
        result: *mut u64,
        user: *mut c_void,
    ) -> c_int,
>;

// ---------------------------------------------------------------- loader.h

/// `struct vmm_boot_module`: a module after the initrd.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct vmm_boot_module {
    pub data: *const c_void,
    pub size: u64,
    pub cmdline: *const c_char,
}

/// `struct vmm_boot_config`: input of vmm_boot_load().
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct vmm_boot_config {
    pub struct_size: u32,
    pub flags: u32,
    pub format: u32,
    pub reserved0: u32,
    pub kernel: *const c_void,
    pub kernel_size: u64,
    pub initrd: *const c_void,
    pub initrd_size: u64,
    pub cmdline: *const c_char,
    pub raw_gpa: u64,
    pub raw_entry: u64,
    pub raw_cpu_mode: u32,
    pub reserved1: u32,
    pub modules: *const vmm_boot_module,
    pub num_modules: u32,
    pub reserved2: u32,
}

impl vmm_boot_config {
    /// `VMM_BOOT_CONFIG_INIT` (format AUTO, no images).
    pub const INIT: Self = Self {
        struct_size: core::mem::size_of::<Self>() as u32,
        flags: 0,
        format: VMM_IMAGE_AUTO,
        reserved0: 0,
        kernel: core::ptr::null(),
        kernel_size: 0,
        initrd: core::ptr::null(),
        initrd_size: 0,
        cmdline: core::ptr::null(),
        raw_gpa: 0,
        raw_entry: 0,
        raw_cpu_mode: 0,
        reserved1: 0,
        modules: core::ptr::null(),
        num_modules: 0,
        reserved2: 0,
    };
}

/// `struct vmm_boot_info`: what vmm_boot_load() did.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct vmm_boot_info {
    pub struct_size: u32,
    pub format: u32,
    pub entry: u64,
    pub kernel_gpa: u64,
    pub kernel_end: u64,
    pub initrd_gpa: u64,
    pub initrd_size: u64,
    pub cmdline_gpa: u64,
    pub boot_params_gpa: u64,
    pub protocol_version: u32,
    pub compression: u32,
    pub extracted_size: u64,
}

impl Default for vmm_boot_info {
    /// Zeroed, with `struct_size` set as the library requires.
    fn default() -> Self {
        Self {
            struct_size: core::mem::size_of::<Self>() as u32,
            format: 0,
            entry: 0,
            kernel_gpa: 0,
            kernel_end: 0,
            initrd_gpa: 0,
            initrd_size: 0,
            cmdline_gpa: 0,
            boot_params_gpa: 0,
            protocol_version: 0,
            compression: 0,
            extracted_size: 0,
        }
    }
}

// ---------------------------------------------------------------- pc.h

/// `struct vmm_e820_entry`: one entry of the guest's memory map.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct vmm_e820_entry {
    pub addr: u64,
    pub size: u64,
    pub type_: u32,
    pub reserved0: u32,
}

/// `struct vmm_cpuid_override`: clear, then set, bits of one CPUID register.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct vmm_cpuid_override {
    pub function: u32,
    pub index: u32,
    pub reg: u32,
    pub clear: u32,
    pub set: u32,
}

// ---------------------------------------------------------------- vcpu.h

/// `struct vmm_regs`: general-purpose registers, RIP and RFLAGS.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct vmm_regs {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rsp: u64,
    pub rbp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rip: u64,
    pub rflags: u64,
}

/// `struct vmm_segment`: one segment register, hidden part included.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct vmm_segment {
    pub base: u64,
    pub limit: u32,
    pub selector: u16,
    pub type_: u8,
    pub present: u8,
    pub dpl: u8,
    pub db: u8,
    pub s: u8,
    pub l: u8,
    pub g: u8,
    pub avl: u8,
    pub unusable: u8,
    pub reserved0: u8,
}

/// `struct vmm_dtable`: GDTR or IDTR.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct vmm_dtable {
    pub base: u64,
    pub limit: u16,
    pub reserved0: [u16; 3],
}

/// `struct vmm_sregs`: segment, control and system registers.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct vmm_sregs {
    pub cs: vmm_segment,
    pub ds: vmm_segment,
    pub es: vmm_segment,
    pub fs: vmm_segment,
    pub gs: vmm_segment,
    pub ss: vmm_segment,
    pub tr: vmm_segment,
    pub ldt: vmm_segment,
    pub gdt: vmm_dtable,
    pub idt: vmm_dtable,
    pub cr0: u64,
    pub cr2: u64,
    pub cr3: u64,
    pub cr4: u64,
    pub cr8: u64,
    pub efer: u64,
    pub apic_base: u64,
}

/// `struct vmm_cpu_mode_config`: input of vmm_vcpu_set_cpu_mode().
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct vmm_cpu_mode_config {
    pub struct_size: u32,
    pub mode: u32,
    pub flags: u32,
    pub reserved0: u32,
    pub tables_gpa: u64,
    pub tables_size: u64,
    pub identity_map_size: u64,
}

impl vmm_cpu_mode_config {
    /// `VMM_CPU_MODE_CONFIG_INIT(mode)`.
    pub const fn init(mode: u32) -> Self {
        Self {
            struct_size: core::mem::size_of::<Self>() as u32,
            mode,
            flags: 0,
            reserved0: 0,
            tables_gpa: 0,
            tables_size: 0,
            identity_map_size: 0,
        }
    }
}

/// `struct vmm_cpuid_entry`: one CPUID leaf.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct vmm_cpuid_entry {
    pub function: u32,
    pub index: u32,
    pub flags: u32,
    pub eax: u32,
    pub ebx: u32,
    pub ecx: u32,
    pub edx: u32,
    pub reserved0: u32,
}

// ---------------------------------------------------------------- vm.h

/// `struct vmm_vm_config`: input of vmm_vm_create().
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct vmm_vm_config {
    pub struct_size: u32,
    pub flags: u32,
    pub platform: u32,
    pub num_vcpus: u32,
    pub hypercall_port: u16,
    pub reserved0: u16,
    pub kick_signal: i32,
}

impl vmm_vm_config {
    /// `VMM_VM_CONFIG_INIT`: one vCPU, platform NONE, default doorbell.
    pub const INIT: Self = Self {
        struct_size: core::mem::size_of::<Self>() as u32,
        flags: 0,
        platform: VMM_PLATFORM_NONE,
        num_vcpus: 1,
        hypercall_port: VMM_HYPERCALL_PORT_DEFAULT,
        reserved0: 0,
        kick_signal: 0,
    };
}

impl Default for vmm_vm_config {
    fn default() -> Self {
        Self::INIT
    }
}

/// `struct vmm_vm_stats`: per-VM exit counts.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct vmm_vm_stats {
    pub struct_size: u32,
    pub reserved0: u32,
    pub exits_total: u64,
    pub exits: [u64; 32],
}

impl Default for vmm_vm_stats {
    fn default() -> Self {
        Self { struct_size: core::mem::size_of::<Self>() as u32, reserved0: 0, exits_total: 0, exits: [0; 32] }
    }
}

// ---------------------------------------------------------------- functions

/// Declares the extern block and the [`FUNCTIONS`] name list from one list,
/// so the two cannot disagree.
macro_rules! functions {
    ($( $(#[$m:meta])* pub fn $name:ident ( $($arg:ident : $ty:ty),* $(,)? ) $(-> $ret:ty)?; )*) => {
        extern "C" {
            $( $(#[$m])* pub fn $name($($arg: $ty),*) $(-> $ret)?; )*
        }
        /// Every function this crate declares, by C name.
        pub const FUNCTIONS: &[&str] = &[ $( stringify!($name) ),* ];
        /// The address of every declared function: calling this makes the
        /// linker resolve each one against the libvmm it links with.
        pub fn function_addresses() -> [(&'static str, usize); FUNCTIONS.len()] {
            [ $( (stringify!($name), $name as *const () as usize) ),* ]
        }
    };
}

functions! {
    // device.h
    pub fn vmm_device_attach(vm: *mut vmm_vm, ops: *const vmm_device_ops, user: *mut c_void, out: *mut *mut vmm_device) -> c_int;
    pub fn vmm_device_detach(dev: *mut vmm_device) -> c_int;
    pub fn vmm_device_map_pio(dev: *mut vmm_device, port: u16, len: u32) -> c_int;
    pub fn vmm_device_map_mmio(dev: *mut vmm_device, gpa: u64, len: u64) -> c_int;
    pub fn vmm_device_unmap(dev: *mut vmm_device, space: u32, addr: u64) -> c_int;
    pub fn vmm_device_user(dev: *const vmm_device) -> *mut c_void;
    pub fn vmm_device_name(dev: *const vmm_device) -> *const c_char;
    pub fn vmm_device_vm(dev: *const vmm_device) -> *mut vmm_vm;
    pub fn vmm_device_get_stats(dev: *const vmm_device, stats: *mut vmm_device_stats) -> c_int;
    pub fn vmm_device_set_irq(dev: *mut vmm_device, gsi: u32, level: c_int) -> c_int;
    // devices/legacy.h
    pub fn vmm_i8042_attach(vm: *mut vmm_vm, out: *mut *mut vmm_device) -> c_int;
    pub fn vmm_rtc_attach(vm: *mut vmm_vm, out: *mut *mut vmm_device) -> c_int;
    pub fn vmm_debug_exit_attach(vm: *mut vmm_vm, port: u16, out: *mut *mut vmm_device) -> c_int;
    // devices/serial.h
    pub fn vmm_serial_attach(vm: *mut vmm_vm, cfg: *const vmm_serial_config, out: *mut *mut vmm_device) -> c_int;
    pub fn vmm_serial_input(dev: *mut vmm_device, data: *const c_void, len: usize) -> c_int;
    // devices/virtio.h
    pub fn vmm_virtio_get_info(dev: *mut vmm_device, info: *mut vmm_virtio_info) -> c_int;
    pub fn vmm_virtio_mmio_cmdline(vm: *mut vmm_vm, buf: *mut c_char, size: usize) -> c_int;
    pub fn vmm_virtio_blk_attach(vm: *mut vmm_vm, cfg: *const vmm_virtio_blk_config, out: *mut *mut vmm_device) -> c_int;
    pub fn vmm_virtio_console_attach(vm: *mut vmm_vm, cfg: *const vmm_virtio_console_config, out: *mut *mut vmm_device) -> c_int;
    pub fn vmm_virtio_console_input(dev: *mut vmm_device, data: *const c_void, len: usize) -> c_int;
    pub fn vmm_virtio_rng_attach(vm: *mut vmm_vm, cfg: *const vmm_virtio_rng_config, out: *mut *mut vmm_device) -> c_int;
    pub fn vmm_virtio_net_attach(vm: *mut vmm_vm, cfg: *const vmm_virtio_net_config, out: *mut *mut vmm_device) -> c_int;
    // error.h
    pub fn vmm_strerror(err: c_int) -> *const c_char;
    pub fn vmm_last_error() -> *const c_char;
    pub fn vmm_set_log_callback(f: vmm_log_fn, user: *mut c_void, max_level: c_int) -> c_int;
    // exit.h
    pub fn vmm_exit_reason_name(reason: u32) -> *const c_char;
    // hypercall.h
    pub fn vmm_hypercall_register(vm: *mut vmm_vm, nr: u64, f: vmm_hypercall_fn, user: *mut c_void) -> c_int;
    pub fn vmm_hypercall_unregister(vm: *mut vmm_vm, nr: u64) -> c_int;
    // loader.h
    pub fn vmm_boot_load(vm: *mut vmm_vm, cfg: *const vmm_boot_config, info: *mut vmm_boot_info) -> c_int;
    pub fn vmm_boot_load_files(vm: *mut vmm_vm, kernel_path: *const c_char, initrd_path: *const c_char, cmdline: *const c_char, flags: u32, info: *mut vmm_boot_info) -> c_int;
    // memory.h
    pub fn vmm_memory_add_ram(vm: *mut vmm_vm, gpa: u64, size: u64, flags: u32, hva_out: *mut *mut c_void) -> c_int;
    pub fn vmm_memory_add_host(vm: *mut vmm_vm, gpa: u64, hva: *mut c_void, size: u64, flags: u32) -> c_int;
    pub fn vmm_memory_add_fd(vm: *mut vmm_vm, gpa: u64, size: u64, fd: c_int, fd_offset: u64, flags: u32, hva_out: *mut *mut c_void) -> c_int;
    pub fn vmm_memory_remove(vm: *mut vmm_vm, gpa: u64) -> c_int;
    pub fn vmm_memory_read(vm: *mut vmm_vm, gpa: u64, buf: *mut c_void, len: usize) -> c_int;
    pub fn vmm_memory_write(vm: *mut vmm_vm, gpa: u64, buf: *const c_void, len: usize) -> c_int;
    pub fn vmm_memory_translate(vm: *mut vmm_vm, gpa: u64, len: u64, hva_out: *mut *mut c_void) -> c_int;
    // pc.h
    pub fn vmm_pc_add_ram(vm: *mut vmm_vm, size: u64) -> c_int;
    pub fn vmm_pc_e820(vm: *const vmm_vm, entries: *mut vmm_e820_entry, count: *mut u32) -> c_int;
    pub fn vmm_vm_set_cpuid_policy(vm: *mut vmm_vm, overrides: *const vmm_cpuid_override, count: u32) -> c_int;
    // vcpu.h
    pub fn vmm_vcpu_get_regs(vcpu: *mut vmm_vcpu, regs: *mut vmm_regs) -> c_int;
    pub fn vmm_vcpu_set_regs(vcpu: *mut vmm_vcpu, regs: *const vmm_regs) -> c_int;
    pub fn vmm_vcpu_get_sregs(vcpu: *mut vmm_vcpu, sregs: *mut vmm_sregs) -> c_int;
    pub fn vmm_vcpu_set_sregs(vcpu: *mut vmm_vcpu, sregs: *const vmm_sregs) -> c_int;
    pub fn vmm_vcpu_get_reg(vcpu: *mut vmm_vcpu, reg: u32, value: *mut u64) -> c_int;
    pub fn vmm_vcpu_set_reg(vcpu: *mut vmm_vcpu, reg: u32, value: u64) -> c_int;
    pub fn vmm_vcpu_index(vcpu: *const vmm_vcpu) -> c_int;
    pub fn vmm_vcpu_vm(vcpu: *const vmm_vcpu) -> *mut vmm_vm;
    pub fn vmm_cpu_mode_tables_size(mode: u32, identity_map_size: u64, size: *mut u64) -> c_int;
    pub fn vmm_vcpu_set_cpu_mode(vcpu: *mut vmm_vcpu, cfg: *const vmm_cpu_mode_config) -> c_int;
    pub fn vmm_vcpu_get_cpuid(vcpu: *mut vmm_vcpu, entries: *mut vmm_cpuid_entry, count: *mut u32) -> c_int;
    pub fn vmm_vcpu_set_cpuid(vcpu: *mut vmm_vcpu, entries: *const vmm_cpuid_entry, count: u32) -> c_int;
    pub fn vmm_vcpu_run(vcpu: *mut vmm_vcpu, exit: *mut vmm_exit) -> c_int;
    pub fn vmm_vcpu_request_exit(vcpu: *mut vmm_vcpu, kind: u32, value: u64) -> c_int;
    pub fn vmm_vcpu_kick(vcpu: *mut vmm_vcpu) -> c_int;
    // version.h
    pub fn vmm_version() -> u32;
    pub fn vmm_version_string() -> *const c_char;
    pub fn vmm_has_feature(feature: u32) -> c_int;
    // vm.h
    pub fn vmm_vm_config_init(cfg: *mut vmm_vm_config);
    pub fn vmm_vm_create(cfg: *const vmm_vm_config, out: *mut *mut vmm_vm) -> c_int;
    pub fn vmm_vm_destroy(vm: *mut vmm_vm);
    pub fn vmm_vm_num_vcpus(vm: *const vmm_vm) -> c_int;
    pub fn vmm_vm_get_vcpu(vm: *mut vmm_vm, index: u32, out: *mut *mut vmm_vcpu) -> c_int;
    pub fn vmm_vm_run(vm: *mut vmm_vm, exit: *mut vmm_exit) -> c_int;
    pub fn vmm_vm_stop(vm: *mut vmm_vm) -> c_int;
    pub fn vmm_vm_reset_devices(vm: *mut vmm_vm) -> c_int;
    pub fn vmm_vm_get_stats(vm: *const vmm_vm, stats: *mut vmm_vm_stats) -> c_int;
}
