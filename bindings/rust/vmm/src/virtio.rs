//! The built-in virtio 1.2 devices (`devices/virtio.h`): block, console,
//! entropy and network, over modern virtio-pci or virtio-mmio.
//!
//! ```no_run
//! # fn main() -> vmm::Result<()> {
//! use vmm::{VirtioBlkConfig, VirtioConsoleConfig, VirtioTransport};
//! let mut vm = vmm::Vm::with_config(&vmm::VmConfig::new().platform(vmm::Platform::Pc))?;
//! let disk = vm.attach_virtio_blk(VirtioBlkConfig::path("disk.img").readonly(true))?;
//! let console = vm.attach_virtio_console(
//!     VirtioConsoleConfig::new()
//!         .output(|bytes| eprint!("{}", String::from_utf8_lossy(bytes)))
//!         .transport(VirtioTransport::mmio()),
//! )?;
//! console.input(b"root\n")?;
//! let cmdline = format!("console=hvc0 {}", vm.virtio_mmio_cmdline()?);
//! println!("{cmdline}; disk on slot {}", disk.info()?.pci_slot);
//! # Ok(()) }
//! ```
use std::ffi::{CString, OsStr};
use std::os::raw::{c_char, c_int, c_void};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::{AsRawFd, OwnedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Arc;

use vmm_sys as sys;

use crate::device::DeviceId;
use crate::error::{check, errno, Error, Result};
use crate::link::DeviceLink;
use crate::vm::Vm;

/// `irq` of a device without an interrupt line ([`VirtioTransport::no_irq`]).
pub const VIRTIO_NO_IRQ: u32 = sys::VMM_VIRTIO_NO_IRQ;
/// Default base of virtio-mmio devices: device n at base + n * 4 KiB.
pub const VIRTIO_MMIO_BASE: u64 = sys::VMM_VIRTIO_MMIO_BASE;
/// Start of the window virtio-pci BARs are assigned from.
pub const VIRTIO_PCI_MMIO_BASE: u64 = sys::VMM_VIRTIO_PCI_MMIO_BASE;
/// Size of that window.
pub const VIRTIO_PCI_MMIO_SIZE: u64 = sys::VMM_VIRTIO_PCI_MMIO_SIZE;
/// Largest queue size ([`VirtioTransport::queue_size`]).
pub const VIRTIO_QUEUE_SIZE_MAX: u32 = sys::VMM_VIRTIO_QUEUE_SIZE_MAX;

/// VIRTIO_BLK_ID_BYTES (virtio 1.2, 5.2.6): the longest serial.
const BLK_SERIAL_MAX: usize = 20;
/// Linux's IFNAMSIZ less the NUL.
const TAP_NAME_MAX: usize = 15;

/// Transport of a virtio device (`enum vmm_virtio_transport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum VirtioTransportKind {
    /// Modern virtio-pci, on bus 0 of the library's PCI host bridge.
    Pci = sys::VMM_VIRTIO_TRANSPORT_PCI,
    /// virtio-mmio (version 2): needs [`Vm::virtio_mmio_cmdline`] on Linux's command line.
    Mmio = sys::VMM_VIRTIO_TRANSPORT_MMIO,
}

/// Virtio device types of the built-in devices (virtio 1.2, 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum VirtioDeviceType {
    Net = 1,
    Block = 2,
    Console = 3,
    Entropy = 4,
}

/// Where a virtio device appears (`struct vmm_virtio_transport_config`);
/// every virtio config takes one through its `transport` method. The
/// default is PCI, next free slot, 256-entry queues, and an interrupt line
/// picked by the library on a VM with an irqchip (none on platform NONE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VirtioTransport {
    raw: sys::vmm_virtio_transport_config,
    irq: Option<u32>,
}

impl Default for VirtioTransport {
    fn default() -> Self {
        VirtioTransport { raw: sys::vmm_virtio_transport_config::INIT, irq: None }
    }
}

impl VirtioTransport {
    /// Modern virtio-pci (the default).
    pub fn pci() -> Self {
        Self::default()
    }
    /// virtio-mmio, a 4 KiB register page from [`VIRTIO_MMIO_BASE`] up.
    pub fn mmio() -> Self {
        let mut t = Self::default();
        t.raw.transport = sys::VMM_VIRTIO_TRANSPORT_MMIO;
        t
    }
    /// Serve queue notifications on the vCPU thread that wrote the notify
    /// register (`VMM_VIRTIO_F_INLINE`) instead of the library's I/O thread.
    pub fn inline(mut self, on: bool) -> Self {
        if on {
            self.raw.flags |= sys::VMM_VIRTIO_F_INLINE;
        } else {
            self.raw.flags &= !sys::VMM_VIRTIO_F_INLINE;
        }
        self
    }
    /// The GSI (MMIO: edge-triggered; PCI: the INTx line); 0 lets the
    /// library pick a free one. Needs an irqchip (platform PC).
    pub fn irq(mut self, gsi: u32) -> Self {
        self.irq = Some(gsi);
        self
    }
    /// No interrupt line: the guest polls the used rings.
    pub fn no_irq(self) -> Self {
        self.irq(VIRTIO_NO_IRQ)
    }
    /// MMIO only: the register page's GPA (4 KiB-aligned, outside RAM).
    pub fn mmio_base(mut self, gpa: u64) -> Self {
        self.raw.mmio_base = gpa;
        self
    }
    /// PCI only: the device number on bus 0 (1-31).
    pub fn pci_slot(mut self, slot: u32) -> Self {
        self.raw.pci_slot = slot;
        self
    }
    /// Largest queue size offered: a power of two up to [`VIRTIO_QUEUE_SIZE_MAX`].
    pub fn queue_size(mut self, n: u32) -> Self {
        self.raw.queue_size = n;
        self
    }
    /// The C struct for a VM with or without an irqchip.
    fn to_raw(self, has_irqchip: bool) -> sys::vmm_virtio_transport_config {
        let mut raw = self.raw;
        raw.irq = self.irq.unwrap_or(if has_irqchip { 0 } else { VIRTIO_NO_IRQ });
        raw
    }
}

/// A C string from `bytes`: EINVAL naming `what` if it has a NUL, is
/// empty, or is longer than `max`.
fn c_string(function: &str, what: &str, bytes: &[u8], max: Option<usize>) -> Result<CString> {
    if bytes.is_empty() {
        return Err(Error::new(errno::EINVAL, format!("{function}: {what} is empty")));
    }
    if let Some(max) = max {
        if bytes.len() > max {
            return Err(Error::new(
                errno::EINVAL,
                format!("{function}: {what} is {} bytes long; at most {max} fit", bytes.len()),
            ));
        }
    }
    CString::new(bytes).map_err(|_| Error::new(errno::EINVAL, format!("{function}: {what} contains a NUL byte")))
}

enum Backing {
    Path(CString),
    Fd(OwnedFd),
}

/// Configuration for [`Vm::attach_virtio_blk`] (`struct
/// vmm_virtio_blk_config`): a raw image or block device, read-write
/// unless [`readonly`](Self::readonly).
pub struct VirtioBlkConfig {
    backing: Result<Backing>,
    readonly: bool,
    serial: Option<Result<CString>>,
    transport: VirtioTransport,
}

impl VirtioBlkConfig {
    /// A disk the library opens at `path` (a path with a NUL byte makes
    /// the attach fail with EINVAL).
    pub fn path(path: impl AsRef<Path>) -> Self {
        let bytes = path.as_ref().as_os_str().as_bytes();
        Self::with(c_string("vmm_virtio_blk_attach", "path", bytes, None).map(Backing::Path))
    }
    /// A disk on an open file (read-write, or read-only with
    /// [`readonly`](Self::readonly)); the library duplicates it and this fd
    /// is closed after the attach.
    pub fn fd(fd: impl Into<OwnedFd>) -> Self {
        Self::with(Ok(Backing::Fd(fd.into())))
    }
    fn with(backing: Result<Backing>) -> Self {
        VirtioBlkConfig { backing, readonly: false, serial: None, transport: VirtioTransport::default() }
    }
    /// Offer VIRTIO_BLK_F_RO: the guest's writes fail.
    pub fn readonly(mut self, on: bool) -> Self {
        self.readonly = on;
        self
    }
    /// The GET_ID answer, up to 20 bytes ("libvmm" by default).
    pub fn serial(mut self, serial: impl AsRef<[u8]>) -> Self {
        self.serial = Some(c_string("vmm_virtio_blk_attach", "serial", serial.as_ref(), Some(BLK_SERIAL_MAX)));
        self
    }
    /// Where the device appears.
    pub fn transport(mut self, t: VirtioTransport) -> Self {
        self.transport = t;
        self
    }
}

impl std::fmt::Debug for VirtioBlkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backing = match &self.backing {
            Ok(Backing::Path(p)) => format!("path {p:?}"),
            Ok(Backing::Fd(fd)) => format!("fd {}", fd.as_raw_fd()),
            Err(e) => format!("invalid: {e}"),
        };
        f.debug_struct("VirtioBlkConfig")
            .field("backing", &backing)
            .field("readonly", &self.readonly)
            .field("transport", &self.transport)
            .finish()
    }
}

type OutputFn = dyn Fn(&[u8]) + Send + Sync;

/// Configuration for [`Vm::attach_virtio_console`] (`struct
/// vmm_virtio_console_config`): one port, `/dev/hvc0` in Linux.
#[derive(Default)]
pub struct VirtioConsoleConfig {
    output: Option<Box<OutputFn>>,
    out_fd: Option<OwnedFd>,
    in_fd: Option<OwnedFd>,
    transport: VirtioTransport,
}

impl VirtioConsoleConfig {
    /// No output, no input, PCI.
    pub fn new() -> Self {
        Self::default()
    }
    /// Calls `f` with the bytes the guest writes, on the library's I/O
    /// thread (the vCPU thread with [`VirtioTransport::inline`]). A panic
    /// in `f` is caught (nothing unwinds into C): those bytes are dropped
    /// and the library logs a warning.
    pub fn output(mut self, f: impl Fn(&[u8]) + Send + Sync + 'static) -> Self {
        self.output = Some(Box::new(f));
        self
    }
    /// Writes guest output to `fd`; the VM keeps it until the device is gone.
    pub fn output_fd(mut self, fd: impl Into<OwnedFd>) -> Self {
        self.out_fd = Some(fd.into());
        self
    }
    /// Feeds guest input from `fd` (read on the I/O thread); the VM keeps
    /// it until the device is gone.
    pub fn input_fd(mut self, fd: impl Into<OwnedFd>) -> Self {
        self.in_fd = Some(fd.into());
        self
    }
    /// Where the device appears.
    pub fn transport(mut self, t: VirtioTransport) -> Self {
        self.transport = t;
        self
    }
}

impl std::fmt::Debug for VirtioConsoleConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtioConsoleConfig")
            .field("output", &self.output.is_some())
            .field("out_fd", &self.out_fd)
            .field("in_fd", &self.in_fd)
            .field("transport", &self.transport)
            .finish()
    }
}

/// Configuration for [`Vm::attach_virtio_rng`] (`struct vmm_virtio_rng_config`).
#[derive(Debug, Clone, Copy, Default)]
pub struct VirtioRngConfig {
    transport: VirtioTransport,
}

impl VirtioRngConfig {
    /// PCI.
    pub fn new() -> Self {
        Self::default()
    }
    /// Where the device appears.
    pub fn transport(mut self, t: VirtioTransport) -> Self {
        self.transport = t;
        self
    }
}

enum Tap {
    Name(CString),
    Fd(OwnedFd),
}

/// Configuration for [`Vm::attach_virtio_net`] (`struct
/// vmm_virtio_net_config`): a NIC on a TAP device.
pub struct VirtioNetConfig {
    tap: Result<Tap>,
    mac: [u8; 6],
    transport: VirtioTransport,
}

impl VirtioNetConfig {
    /// The TAP interface `name` (created if missing, which needs
    /// CAP_NET_ADMIN); at most 15 bytes.
    pub fn tap_name(name: impl AsRef<OsStr>) -> Self {
        let bytes = name.as_ref().as_bytes();
        Self::with(c_string("vmm_virtio_net_attach", "tap_name", bytes, Some(TAP_NAME_MAX)).map(Tap::Name))
    }
    /// An open TAP (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR); the library
    /// duplicates it and this fd is closed after the attach.
    pub fn tap_fd(fd: impl Into<OwnedFd>) -> Self {
        Self::with(Ok(Tap::Fd(fd.into())))
    }
    fn with(tap: Result<Tap>) -> Self {
        VirtioNetConfig { tap, mac: [0; 6], transport: VirtioTransport::default() }
    }
    /// The guest's MAC; all zero (the default) picks 52:54:00:xx:xx:xx.
    pub fn mac(mut self, mac: [u8; 6]) -> Self {
        self.mac = mac;
        self
    }
    /// Where the device appears.
    pub fn transport(mut self, t: VirtioTransport) -> Self {
        self.transport = t;
        self
    }
}

impl std::fmt::Debug for VirtioNetConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tap = match &self.tap {
            Ok(Tap::Name(n)) => format!("name {n:?}"),
            Ok(Tap::Fd(fd)) => format!("fd {}", fd.as_raw_fd()),
            Err(e) => format!("invalid: {e}"),
        };
        f.debug_struct("VirtioNetConfig")
            .field("tap", &tap)
            .field("mac", &self.mac)
            .field("transport", &self.transport)
            .finish()
    }
}

/// What a virtio device is and where it ended up (`struct vmm_virtio_info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VirtioInfo {
    /// Virtio device type: 1 net, 2 block, 3 console, 4 entropy ([`VirtioInfo::device_type`]).
    pub device_id: u32,
    pub transport: VirtioTransportKind,
    /// The GSI, or [`VIRTIO_NO_IRQ`].
    pub irq: u32,
    /// MMIO: the register page; PCI: BAR 0 as it is now.
    pub mmio_base: u64,
    /// PCI: the device number on bus 0; MMIO: 0.
    pub pci_slot: u32,
    /// The device status byte as the driver set it.
    pub status: u8,
    /// The guest broke the virtqueue protocol: the device waits for a reset.
    pub needs_reset: bool,
    /// The feature bits the driver accepted.
    pub driver_features: u64,
    /// Chains completed, all queues.
    pub requests: u64,
    /// Protocol violations seen.
    pub violations: u64,
}

impl VirtioInfo {
    fn from_raw(r: &sys::vmm_virtio_info) -> Self {
        VirtioInfo {
            device_id: r.device_id,
            transport: if r.transport == sys::VMM_VIRTIO_TRANSPORT_MMIO {
                VirtioTransportKind::Mmio
            } else {
                VirtioTransportKind::Pci
            },
            irq: r.irq,
            mmio_base: r.mmio_base,
            pci_slot: r.pci_slot,
            status: r.status,
            needs_reset: r.needs_reset != 0,
            driver_features: r.driver_features,
            requests: r.requests,
            violations: r.violations,
        }
    }
    /// The device type, if it is one this crate names.
    pub fn device_type(&self) -> Option<VirtioDeviceType> {
        match self.device_id {
            1 => Some(VirtioDeviceType::Net),
            2 => Some(VirtioDeviceType::Block),
            3 => Some(VirtioDeviceType::Console),
            4 => Some(VirtioDeviceType::Entropy),
            _ => None,
        }
    }
}

/// A built-in virtio device attached with one of the `Vm::attach_virtio_*`
/// methods: its id (for `detach`, `device_stats`) and [`info`](Self::info)
/// from any thread. `Clone + Send + Sync`; after the device is detached or
/// the VM dropped, its methods fail with `ENOENT`.
#[derive(Clone)]
pub struct VirtioDevice {
    id: DeviceId,
    link: Arc<DeviceLink>,
}

impl VirtioDevice {
    /// The device id.
    pub fn id(&self) -> DeviceId {
        self.id
    }
    /// Identity and state (`vmm_virtio_get_info`).
    pub fn info(&self) -> Result<VirtioInfo> {
        self.link.with(|dev| {
            let mut raw = sys::vmm_virtio_info::default();
            // SAFETY: `dev` stays attached under the link's read lock;
            // vmm_virtio_get_info is thread-safe and fills `raw`.
            check(unsafe { sys::vmm_virtio_get_info(dev, &mut raw) })?;
            Ok(VirtioInfo::from_raw(&raw))
        })
    }
}

impl std::fmt::Debug for VirtioDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtioDevice").field("id", &self.id).finish()
    }
}

/// A virtio-console ([`Vm::attach_virtio_console`]): a [`VirtioDevice`]
/// (through `Deref`) that takes guest input from any thread.
#[derive(Clone, Debug)]
pub struct VirtioConsole {
    dev: VirtioDevice,
}

impl VirtioConsole {
    /// Queues `data` for the guest (a 64 KiB host buffer, delivered as the
    /// driver posts receive buffers; `vmm_virtio_console_input`). Returns
    /// how many bytes were accepted: fewer when the buffer is full.
    pub fn input(&self, data: &[u8]) -> Result<usize> {
        self.dev.link.with(|dev| {
            // SAFETY: `dev` is a virtio-console kept attached by the read
            // lock; the call is thread-safe and copies `data`.
            let n = check(unsafe { sys::vmm_virtio_console_input(dev, data.as_ptr().cast(), data.len()) })?;
            Ok(n as usize)
        })
    }
}

impl std::ops::Deref for VirtioConsole {
    type Target = VirtioDevice;
    fn deref(&self) -> &VirtioDevice {
        &self.dev
    }
}

/// The output closure: the `out_user` of the C config, kept by the Vm
/// until the device is destroyed.
struct ConsoleOutput {
    f: Box<OutputFn>,
}

/// What a virtio-console borrows from the binding for its lifetime.
struct ConsoleKeepAlive {
    _output: Option<Box<ConsoleOutput>>,
    _out_fd: Option<OwnedFd>,
    _in_fd: Option<OwnedFd>,
}

unsafe extern "C" fn console_output_trampoline(data: *const u8, len: usize, user: *mut c_void) -> c_int {
    // SAFETY: `user` is the ConsoleOutput the Vm keeps until the device is
    // destroyed, which cannot overlap a call of this.
    let out = unsafe { &*(user as *const ConsoleOutput) };
    let bytes: &[u8] = if len == 0 || data.is_null() {
        &[]
    } else {
        // SAFETY: libvmm lends `len` bytes at `data` for the call.
        unsafe { std::slice::from_raw_parts(data, len) }
    };
    // No vCPU to stop here (this runs on the I/O thread): a panic drops
    // the bytes, which the library logs; the panic hook has reported it.
    match catch_unwind(AssertUnwindSafe(|| (out.f)(bytes))) {
        Ok(()) => 0,
        Err(payload) => {
            // Dropping the payload runs foreign Drop code: keep it out of C too.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            -errno::EIO
        }
    }
}

/// The C struct of a blk config, and what must live until the call returns.
fn blk_raw(cfg: &VirtioBlkConfig, has_irqchip: bool) -> Result<sys::vmm_virtio_blk_config> {
    let mut raw = sys::vmm_virtio_blk_config::INIT;
    raw.transport = cfg.transport.to_raw(has_irqchip);
    match &cfg.backing {
        Ok(Backing::Path(p)) => raw.path = p.as_ptr(),
        Ok(Backing::Fd(fd)) => raw.fd = fd.as_raw_fd(),
        Err(e) => return Err(Error::new(e.errno(), e.message())),
    }
    if cfg.readonly {
        raw.flags |= sys::VMM_VIRTIO_BLK_F_READONLY;
    }
    match &cfg.serial {
        Some(Ok(s)) => raw.serial = s.as_ptr(),
        Some(Err(e)) => return Err(Error::new(e.errno(), e.message())),
        None => {}
    }
    Ok(raw)
}

fn net_raw(cfg: &VirtioNetConfig, has_irqchip: bool) -> Result<sys::vmm_virtio_net_config> {
    let mut raw = sys::vmm_virtio_net_config::INIT;
    raw.transport = cfg.transport.to_raw(has_irqchip);
    match &cfg.tap {
        Ok(Tap::Name(n)) => raw.tap_name = n.as_ptr(),
        Ok(Tap::Fd(fd)) => raw.tap_fd = fd.as_raw_fd(),
        Err(e) => return Err(Error::new(e.errno(), e.message())),
    }
    raw.mac = cfg.mac;
    Ok(raw)
}

impl Vm {
    /// Attaches a virtio-blk disk (`vmm_virtio_blk_attach`).
    pub fn attach_virtio_blk(&mut self, cfg: VirtioBlkConfig) -> Result<VirtioDevice> {
        let raw = blk_raw(&cfg, self.has_irqchip())?;
        // SAFETY: the strings and fd in `raw` belong to `cfg`, alive for the
        // call; the library copies or duplicates them.
        self.attach_virtio(|vm, out| unsafe { sys::vmm_virtio_blk_attach(vm, &raw, out) }, None)
    }

    /// Attaches a virtio-console with one port (`vmm_virtio_console_attach`).
    pub fn attach_virtio_console(&mut self, cfg: VirtioConsoleConfig) -> Result<VirtioConsole> {
        let mut raw = sys::vmm_virtio_console_config::INIT;
        raw.transport = cfg.transport.to_raw(self.has_irqchip());
        raw.out_fd = cfg.out_fd.as_ref().map_or(-1, |fd| fd.as_raw_fd());
        raw.in_fd = cfg.in_fd.as_ref().map_or(-1, |fd| fd.as_raw_fd());
        let output = cfg.output.map(|f| Box::new(ConsoleOutput { f }));
        if let Some(out) = &output {
            raw.out_fn = Some(console_output_trampoline);
            raw.out_user = &**out as *const ConsoleOutput as *mut c_void;
        }
        let keep = ConsoleKeepAlive { _output: output, _out_fd: cfg.out_fd, _in_fd: cfg.in_fd };
        // SAFETY: the closure and fds stay valid until the device is
        // destroyed: the Vm keeps `keep` with the device entry (and drops
        // it only after a failed attach returned).
        let dev = self.attach_virtio(
            |vm, out| unsafe { sys::vmm_virtio_console_attach(vm, &raw, out) },
            Some(Box::new(keep)),
        )?;
        Ok(VirtioConsole { dev })
    }

    /// Attaches a virtio entropy device fed by getrandom(2) (`vmm_virtio_rng_attach`).
    pub fn attach_virtio_rng(&mut self, cfg: VirtioRngConfig) -> Result<VirtioDevice> {
        let mut raw = sys::vmm_virtio_rng_config::INIT;
        raw.transport = cfg.transport.to_raw(self.has_irqchip());
        // SAFETY: plain data, read for the call.
        self.attach_virtio(|vm, out| unsafe { sys::vmm_virtio_rng_attach(vm, &raw, out) }, None)
    }

    /// Attaches a virtio-net NIC on a TAP device (`vmm_virtio_net_attach`).
    pub fn attach_virtio_net(&mut self, cfg: VirtioNetConfig) -> Result<VirtioDevice> {
        let raw = net_raw(&cfg, self.has_irqchip())?;
        // SAFETY: the name and fd in `raw` belong to `cfg`, alive for the
        // call; the library copies or duplicates them.
        self.attach_virtio(|vm, out| unsafe { sys::vmm_virtio_net_attach(vm, &raw, out) }, None)
    }

    /// The Linux command-line words describing every virtio-mmio device
    /// (`"virtio_mmio.device=4K@0xd0000000:5 ..."`, empty if none;
    /// `vmm_virtio_mmio_cmdline`). virtio-pci devices need none.
    pub fn virtio_mmio_cmdline(&self) -> Result<String> {
        // SAFETY: measuring: NULL buffer of size 0.
        let mut size = check(unsafe { sys::vmm_virtio_mmio_cmdline(self.as_raw(), std::ptr::null_mut(), 0) })? as usize + 1;
        loop {
            let mut buf = vec![0u8; size];
            // SAFETY: `buf` has `size` writable bytes.
            let n = check(unsafe { sys::vmm_virtio_mmio_cmdline(self.as_raw(), buf.as_mut_ptr() as *mut c_char, size) })?
                as usize;
            if n < size {
                buf.truncate(n);
                return Ok(String::from_utf8_lossy(&buf).into_owned());
            }
            size = n + 1;
        }
    }

    fn attach_virtio(
        &mut self,
        attach: impl FnOnce(*mut sys::vmm_vm, *mut *mut sys::vmm_device) -> c_int,
        keepalive: Option<crate::vm::KeepAlive>,
    ) -> Result<VirtioDevice> {
        let mut dev = std::ptr::null_mut();
        check(attach(self.as_raw(), &mut dev))?;
        let (id, link) = self.register_device(dev, keepalive);
        Ok(VirtioDevice { id, link })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(t: &sys::vmm_virtio_transport_config) -> (u32, u32, u64, u32, u32, u32, u32) {
        (t.transport, t.flags, t.mmio_base, t.irq, t.pci_slot, t.queue_size, t.reserved0)
    }

    #[test]
    fn transport_defaults_and_builder() {
        let init = sys::vmm_virtio_transport_config::INIT;
        assert_eq!(VirtioTransport::default().to_raw(true), init);
        assert_eq!(VirtioTransport::pci().to_raw(false).irq, VIRTIO_NO_IRQ);
        assert_eq!(VirtioTransport::pci().irq(0).to_raw(false).irq, 0);
        let t = VirtioTransport::mmio().inline(true).irq(5).mmio_base(0xd000_1000).queue_size(64).to_raw(true);
        assert_eq!(fields(&t), (sys::VMM_VIRTIO_TRANSPORT_MMIO, sys::VMM_VIRTIO_F_INLINE, 0xd000_1000, 5, 0, 64, 0));
        assert_eq!(VirtioTransport::mmio().inline(true).inline(false).to_raw(true).flags, 0);
        assert_eq!(VirtioTransport::pci().pci_slot(3).no_irq().to_raw(true).pci_slot, 3);
        assert_eq!(VirtioTransport::pci().no_irq().to_raw(true).irq, VIRTIO_NO_IRQ);
    }

    #[test]
    fn blk_config_to_raw() {
        let cfg = VirtioBlkConfig::path("/tmp/disk.img");
        let raw = blk_raw(&cfg, true).unwrap();
        let init = sys::vmm_virtio_blk_config::INIT;
        assert!(!raw.path.is_null());
        assert_eq!((raw.struct_size, raw.flags, raw.fd, raw.reserved0), (init.struct_size, 0, -1, 0));
        assert!(raw.serial.is_null());
        assert_eq!(raw.transport, init.transport);

        let file = std::fs::File::open("/dev/null").unwrap();
        let cfg = VirtioBlkConfig::fd(file).readonly(true).serial("disk-0").transport(VirtioTransport::mmio());
        let raw = blk_raw(&cfg, false).unwrap();
        assert!(raw.path.is_null() && raw.fd >= 0 && !raw.serial.is_null());
        assert_eq!(raw.flags, sys::VMM_VIRTIO_BLK_F_READONLY);
        assert_eq!((raw.transport.transport, raw.transport.irq), (sys::VMM_VIRTIO_TRANSPORT_MMIO, VIRTIO_NO_IRQ));
        // SAFETY: a NUL-terminated string owned by `cfg`.
        assert_eq!(unsafe { std::ffi::CStr::from_ptr(raw.serial) }.to_bytes(), b"disk-0");
        assert!(format!("{cfg:?}").contains("readonly: true"));
    }

    #[test]
    fn blk_config_errors_before_the_library() {
        for (cfg, text) in [
            (VirtioBlkConfig::path(""), "path is empty"),
            (VirtioBlkConfig::path("a\0b"), "path contains a NUL"),
            (VirtioBlkConfig::path("x").serial([b's'; 21]), "serial is 21 bytes long"),
            (VirtioBlkConfig::path("x").serial("a\0"), "serial contains a NUL"),
        ] {
            let e = blk_raw(&cfg, true).unwrap_err();
            assert_eq!(e.errno(), errno::EINVAL);
            assert!(e.message().starts_with("vmm_virtio_blk_attach: "), "{e}");
            assert!(e.message().contains(text), "{e}");
        }
        assert!(blk_raw(&VirtioBlkConfig::path("x").serial([b's'; 20]), true).is_ok());
    }

    #[test]
    fn console_and_rng_defaults() {
        let c = VirtioConsoleConfig::new();
        assert!(c.output.is_none() && c.out_fd.is_none() && c.in_fd.is_none());
        assert_eq!(c.transport.to_raw(true), sys::vmm_virtio_console_config::INIT.transport);
        let r = VirtioRngConfig::new().transport(VirtioTransport::mmio());
        assert_eq!(r.transport.to_raw(true).transport, sys::VMM_VIRTIO_TRANSPORT_MMIO);
    }

    #[test]
    fn net_config_to_raw_and_errors() {
        let raw = net_raw(&VirtioNetConfig::tap_name("tap0").mac([2, 0, 0, 0, 0, 1]), true).unwrap();
        assert!(!raw.tap_name.is_null());
        assert_eq!((raw.tap_fd, raw.mac, raw.reserved0), (-1, [2, 0, 0, 0, 0, 1], 0));
        let raw = net_raw(&VirtioNetConfig::tap_name("t".repeat(15)), true).unwrap();
        assert_eq!(raw.mac, sys::vmm_virtio_net_config::INIT.mac);
        for name in ["", "t23456789012345x", "ta\0p"] {
            let e = net_raw(&VirtioNetConfig::tap_name(name), true).unwrap_err();
            assert_eq!(e.errno(), errno::EINVAL, "{name:?}");
            assert!(e.message().starts_with("vmm_virtio_net_attach: tap_name"), "{e}");
        }
    }

    #[test]
    fn console_output_trampoline_catches_panics() {
        let out = ConsoleOutput { f: Box::new(|b| assert!(b.is_empty(), "boom")) };
        let user = &out as *const ConsoleOutput as *mut c_void;
        // SAFETY: `user` is a live ConsoleOutput; data/len describe `x`.
        unsafe {
            assert_eq!(console_output_trampoline(std::ptr::null(), 0, user), 0);
            let x = b"x";
            assert_eq!(console_output_trampoline(x.as_ptr(), 1, user), -errno::EIO);
        }
    }

    #[test]
    fn info_from_raw() {
        let raw = sys::vmm_virtio_info {
            device_id: 3,
            transport: sys::VMM_VIRTIO_TRANSPORT_MMIO,
            irq: 5,
            needs_reset: 1,
            requests: 7,
            ..Default::default()
        };
        let info = VirtioInfo::from_raw(&raw);
        assert_eq!(info.device_type(), Some(VirtioDeviceType::Console));
        assert_eq!((info.transport, info.irq, info.needs_reset, info.requests), (VirtioTransportKind::Mmio, 5, true, 7));
        assert_eq!(VirtioInfo::from_raw(&sys::vmm_virtio_info { device_id: 9, ..Default::default() }).device_type(), None);
    }
}
