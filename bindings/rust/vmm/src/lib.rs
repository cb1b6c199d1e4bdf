//! Safe Rust API for libvmm, an embeddable hypervisor library over Linux
//! KVM (x86-64).
//!
//! ```no_run
//! use vmm::{CpuModeConfig, Exit, Handled, Reg, Vm};
//!
//! // Real-mode guest at 0x1000: mov $0x3f8,%dx; mov $'A',%al; out %al,(%dx); hlt
//! const GUEST: &[u8] = &[0xba, 0xf8, 0x03, 0xb0, b'A', 0xee, 0xf4];
//!
//! let mut vm = Vm::new()?;
//! vm.add_ram(0, 0x10000)?;
//! vm.write(0x1000, GUEST)?;
//! vm.attach_pio_fn("console", 0x3f8, 1, |_vcpu, io| {
//!     print!("{}", io.data()[0] as char);
//!     Ok(Handled::Yes)
//! })?;
//! let mut vcpu = vm.vcpu(0)?;
//! vcpu.set_cpu_mode(&CpuModeConfig::real())?;
//! vcpu.set_reg(Reg::Rip, 0x1000)?;
//! assert!(matches!(vcpu.run()?, Exit::Hlt));
//! # Ok::<(), vmm::Error>(())
//! ```
//!
//! Ownership and threads, in short (docs/bindings-rust.md has the rest):
//! - [`Vm`] owns the VM (`Drop` destroys it) and is `Send + Sync`;
//!   configuration takes `&mut Vm`, so it cannot race a running vCPU.
//! - [`Vcpu`] borrows the `Vm`, so it cannot outlive it; it is `Send` (run
//!   it on another thread) but not `Sync`. [`Kicker`] and [`StopHandle`]
//!   reach a running vCPU/VM from other threads.
//! - Devices are `Send + 'static` ([`Device`], kept in a `Mutex`) or
//!   `Send + Sync + 'static` ([`ConcurrentDevice`]); hypercall handlers are
//!   `Fn + Send + Sync + 'static`.
//! - Callbacks run behind `extern "C"` trampolines that catch panics: a
//!   panic stops the vCPU, and `run()` returns an [`Error`] carrying the
//!   payload ([`Error::resume_panic`]). Nothing unwinds into C.
#![deny(unsafe_op_in_unsafe_fn)]
#![allow(clippy::missing_safety_doc)]

mod builtin;
mod device;
mod error;
mod exit;
mod irq;
mod link;
mod loader;
mod log;
mod pc;
mod vcpu;
mod vm;
mod virtio;

use std::sync::atomic::{AtomicBool, Ordering};

pub use vmm_sys as sys;

pub use builtin::{Serial, SerialConfig, COM1_PORT, COM2_PORT, COM3_PORT, COM4_PORT, DEBUG_EXIT_PORT};
pub use device::{ConcurrentDevice, Device, DeviceHandle, DeviceId, DeviceStats, FnDevice, Handled, Io, Space};
pub use error::{errno, strerror, Error, Result};
pub use exit::{Exit, MmioExit, PioExit, RequestKind, VmExit};
pub use irq::IrqLine;
pub use loader::{BootConfig, BootFlags, BootInfo, Compression, ImageFormat};
pub use log::{clear_log_callback, set_log_callback, LogLevel};
pub use vcpu::{cpu_mode_tables_size, CpuMode, CpuModeConfig, CpuidEntry, DTable, Kicker, Reg, Regs, Segment, Sregs, Vcpu};
pub use pc::{CpuidOverride, CpuidReg, E820Entry, E820Type, PC_HIGH_RAM_START, PC_MMIO_HOLE_START};
pub use vm::{Hypercall, KickSignal, Platform, StopHandle, Vm, VmConfig, VmStats};
pub use virtio::{
    VirtioBlkConfig, VirtioConsole, VirtioConsoleConfig, VirtioDevice, VirtioDeviceType, VirtioInfo, VirtioNetConfig,
    VirtioRngConfig, VirtioTransport, VirtioTransportKind, VIRTIO_MMIO_BASE, VIRTIO_NO_IRQ, VIRTIO_PCI_MMIO_BASE,
    VIRTIO_PCI_MMIO_SIZE, VIRTIO_QUEUE_SIZE_MAX,
};

/// An optional capability ([`has_feature`], `enum vmm_feature`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Feature {
    /// Read-only memory regions (KVM_CAP_READONLY_MEM).
    ReadonlyMemory = sys::VMM_FEATURE_READONLY_MEMORY,
    /// The port-I/O hypercall doorbell.
    Hypercalls = sys::VMM_FEATURE_HYPERCALLS,
    /// [`Vm::run`] on library threads.
    VmRun = sys::VMM_FEATURE_VM_RUN,
    /// Kicking a vCPU inside the guest (KVM_CAP_IMMEDIATE_EXIT).
    Kick = sys::VMM_FEATURE_KICK,
    /// Long mode in [`Vcpu::set_cpu_mode`].
    LongMode = sys::VMM_FEATURE_LONG_MODE,
    /// [`Platform::Pc`]: in-kernel irqchip and PIT.
    PlatformPc = sys::VMM_FEATURE_PLATFORM_PC,
    /// [`BootFlags::BZIMAGE_EXTRACT`] handles gzip payloads.
    ExtractGzip = sys::VMM_FEATURE_EXTRACT_GZIP,
    /// ... xz payloads.
    ExtractXz = sys::VMM_FEATURE_EXTRACT_XZ,
    /// ... zstd payloads.
    ExtractZstd = sys::VMM_FEATURE_EXTRACT_ZSTD,
    /// ... LZ4 payloads.
    ExtractLz4 = sys::VMM_FEATURE_EXTRACT_LZ4,
}

/// Whether the loaded library, on this host's KVM, provides `feature`.
pub fn has_feature(feature: Feature) -> Result<bool> {
    error::check(unsafe { sys::vmm_has_feature(feature as u32) }).map(|r| r == 1)
}

/// The loaded library's version as (major, minor, patch).
pub fn version() -> (u32, u32, u32) {
    let v = unsafe { sys::vmm_version() };
    (v >> 16, (v >> 8) & 0xff, v & 0xff)
}

/// The loaded library's version text, e.g. "0.1.0".
pub fn version_string() -> &'static str {
    // SAFETY: a static string, never NULL.
    unsafe { std::ffi::CStr::from_ptr(sys::vmm_version_string()) }.to_str().unwrap_or("?")
}

/// Checks that the loaded libvmm has the ABI major these bindings were
/// written for and is at least as new as their headers; `EPROTO` with the
/// two versions in the message otherwise.
///
/// Creating a [`Vm`] runs this check itself (once per process, the first
/// time it passes), so an incompatible library is refused even if the
/// program never calls it; call it directly to fail earlier, e.g. at start-up.
pub fn check_version() -> Result<()> {
    compatible(unsafe { sys::vmm_version() })
}

/// Whether a library reporting `vmm_version()` = `v` can be used.
fn compatible(v: u32) -> Result<()> {
    if v >> 16 != sys::VMM_VERSION_MAJOR || v < sys::VMM_VERSION_NUMBER {
        return Err(Error::new(
            errno::EPROTO,
            format!(
                "libvmm {}.{}.{} is loaded, but these bindings need libvmm {}.x no older than {}.{}.{} \
                 (the ABI major must match)",
                v >> 16,
                (v >> 8) & 0xff,
                v & 0xff,
                sys::VMM_VERSION_MAJOR,
                sys::VMM_VERSION_MAJOR,
                sys::VMM_VERSION_MINOR,
                sys::VMM_VERSION_PATCH
            ),
        ));
    }
    Ok(())
}

/// [`check_version`], cached once it has passed (the loaded library cannot
/// change): what every VM creation runs first.
pub(crate) fn ensure_compatible() -> Result<()> {
    static COMPATIBLE: AtomicBool = AtomicBool::new(false);
    if COMPATIBLE.load(Ordering::Relaxed) {
        return Ok(());
    }
    check_version()?;
    COMPATIBLE.store(true, Ordering::Relaxed);
    Ok(())
}

#[cfg(test)]
mod static_checks {
    use super::*;
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    #[test]
    fn version_policy() {
        let (major, minor, patch) = (sys::VMM_VERSION_MAJOR, sys::VMM_VERSION_MINOR, sys::VMM_VERSION_PATCH);
        let v = |a: u32, b: u32, c: u32| (a << 16) | (b << 8) | c;
        assert!(compatible(v(major, minor, patch)).is_ok());
        assert!(compatible(v(major, minor, patch + 1)).is_ok());
        assert!(compatible(v(major, minor + 1, 0)).is_ok());
        let err = compatible(v(major + 1, 0, 0)).unwrap_err();
        assert_eq!(err.errno(), errno::EPROTO);
        assert!(err.message().contains(&format!("libvmm {}.0.0 is loaded", major + 1)), "{err}");
        if minor > 0 {
            assert!(compatible(v(major, minor - 1, 0)).is_err());
        }
        ensure_compatible().unwrap();
        ensure_compatible().unwrap();
    }
    #[test]
    fn auto_traits() {
        send::<Vm>();
        sync::<Vm>();
        send::<Vcpu<'static>>();
        send::<Kicker<'static>>();
        sync::<Kicker<'static>>();
        send::<StopHandle>();
        sync::<StopHandle>();
        send::<Error>();
        sync::<Error>();
        send::<Serial>();
        sync::<Serial>();
        send::<IrqLine>();
        sync::<IrqLine>();
        send::<SerialConfig>();
        send::<VirtioDevice>();
        sync::<VirtioDevice>();
        send::<VirtioConsole>();
        sync::<VirtioConsole>();
        send::<VirtioBlkConfig>();
        send::<VirtioConsoleConfig>();
        send::<VirtioNetConfig>();
    }
}
