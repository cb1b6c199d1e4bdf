//! Device models built into libvmm (`devices/serial.h`,
//! `devices/legacy.h`): the 16550A UART, the i8042 reset controller, the
//! CMOS RTC and the debug-exit port.
use std::os::raw::{c_int, c_void};
use std::os::unix::io::{AsRawFd, OwnedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use vmm_sys as sys;

use crate::device::{finish, DeviceId, Handled};
use crate::error::{check, Result};
use crate::irq::IrqLine;
use crate::link::DeviceLink;
use crate::vm::{Failures, Vm};

/// Base port of COM1 (8 ports).
pub const COM1_PORT: u16 = sys::VMM_SERIAL_COM1_PORT;
/// Base port of COM2.
pub const COM2_PORT: u16 = sys::VMM_SERIAL_COM2_PORT;
/// Base port of COM3.
pub const COM3_PORT: u16 = sys::VMM_SERIAL_COM3_PORT;
/// Base port of COM4.
pub const COM4_PORT: u16 = sys::VMM_SERIAL_COM4_PORT;
/// QEMU's isa-debug-exit port, the usual one for [`Vm::attach_debug_exit`].
pub const DEBUG_EXIT_PORT: u16 = sys::VMM_DEBUG_EXIT_PORT;

type OutputFn = dyn Fn(&[u8]) + Send + Sync;

/// Configuration for [`Vm::attach_serial`] (`struct vmm_serial_config`).
///
/// ```no_run
/// # fn main() -> vmm::Result<()> {
/// use std::io::Write;
/// let mut vm = vmm::Vm::new()?;
/// let com1 = vm.attach_serial(vmm::SerialConfig::new().output(|bytes| {
///     let _ = std::io::stdout().write_all(bytes);
/// }))?;
/// com1.input(b"root\n")?;
/// # Ok(()) }
/// ```
pub struct SerialConfig {
    port: u16,
    irq: Option<u32>,
    output: Option<Box<OutputFn>>,
    out_fd: Option<OwnedFd>,
    in_fd: Option<OwnedFd>,
}

impl Default for SerialConfig {
    fn default() -> Self {
        SerialConfig { port: COM1_PORT, irq: None, output: None, out_fd: None, in_fd: None }
    }
}

impl SerialConfig {
    /// COM1, the standard IRQ if the VM has an irqchip, no output, no input.
    pub fn new() -> Self {
        Self::default()
    }
    /// Base port of the 8 registers. COM1-COM4 get their PC IRQ (4 or 3)
    /// by default on platform PC; other ports none.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }
    /// The GSI the UART raises (needs an irqchip: platform PC).
    pub fn irq(mut self, gsi: u32) -> Self {
        self.irq = Some(gsi);
        self
    }
    /// No interrupt line: the guest polls.
    pub fn no_irq(mut self) -> Self {
        self.irq = Some(sys::VMM_SERIAL_NO_IRQ);
        self
    }
    /// Calls `f` with the bytes the guest transmits, on the vCPU thread
    /// that wrote them (possibly several at once, hence `Sync`). A panic in
    /// `f` is caught: it fails the guest's write, so that vCPU stops, and
    /// its `run()` returns it as an [`Error`](crate::Error) (see [`Error::resume_panic`](crate::Error::resume_panic)).
    pub fn output(mut self, f: impl Fn(&[u8]) + Send + Sync + 'static) -> Self {
        self.output = Some(Box::new(f));
        self
    }
    /// Writes guest output to `fd` (blocking writes by the library, on the
    /// vCPU thread). The VM keeps the fd until the device is gone; for
    /// stdout pass `std::io::stdout().as_fd().try_clone_to_owned()?`.
    pub fn output_fd(mut self, fd: impl Into<OwnedFd>) -> Self {
        self.out_fd = Some(fd.into());
        self
    }
    /// Feeds guest input from `fd`, read by a library thread. The VM keeps
    /// the fd until the device is gone.
    pub fn input_fd(mut self, fd: impl Into<OwnedFd>) -> Self {
        self.in_fd = Some(fd.into());
        self
    }
}

impl std::fmt::Debug for SerialConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SerialConfig")
            .field("port", &format_args!("{:#x}", self.port))
            .field("irq", &self.irq)
            .field("output", &self.output.is_some())
            .field("out_fd", &self.out_fd)
            .field("in_fd", &self.in_fd)
            .finish()
    }
}

/// A 16550A UART attached with [`Vm::attach_serial`]: its id (for
/// `map_pio`, `detach`, `device_stats`, `set_irq`) and guest input from any
/// thread. `Clone + Send + Sync`; after the device is detached or the VM
/// dropped, [`Serial::input`] fails with `ENOENT`.
#[derive(Clone)]
pub struct Serial {
    id: DeviceId,
    link: Arc<DeviceLink>,
}

impl Serial {
    /// The device id.
    pub fn id(&self) -> DeviceId {
        self.id
    }

    /// Queues `data` for the guest to receive (into the 16-byte receive
    /// FIFO and a 4096-byte host buffer behind it), raising the receive
    /// interrupt if enabled (`vmm_serial_input`). Returns how many bytes
    /// were accepted: fewer than `data.len()` when the buffer is full.
    pub fn input(&self, data: &[u8]) -> Result<usize> {
        self.link.with(|dev| {
            // SAFETY: `dev` is a serial device, kept attached by the link's
            // read lock; vmm_serial_input is thread-safe and copies `data`.
            let n = check(unsafe { sys::vmm_serial_input(dev, data.as_ptr().cast(), data.len()) })?;
            Ok(n as usize)
        })
    }

    /// A handle driving interrupt lines on this device's behalf.
    pub fn irq_line(&self) -> IrqLine {
        IrqLine::from_link(self.link.clone())
    }
}

impl std::fmt::Debug for Serial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serial").field("id", &self.id).finish()
    }
}

/// The output closure and where its panics go: the `out_user` of the C
/// config, kept alive by the Vm until the device is destroyed.
struct SerialOutput {
    f: Box<OutputFn>,
    failures: Arc<Failures>,
}

/// What a serial device borrows from the binding for its lifetime.
struct SerialKeepAlive {
    _output: Option<Box<SerialOutput>>,
    _out_fd: Option<OwnedFd>,
    _in_fd: Option<OwnedFd>,
}

unsafe extern "C" fn serial_output_trampoline(
    vcpu: *mut sys::vmm_vcpu,
    data: *const u8,
    len: usize,
    user: *mut c_void,
) -> c_int {
    // SAFETY: `user` is the SerialOutput the Vm keeps until the device is
    // destroyed, which cannot overlap a call of this.
    let out = unsafe { &*(user as *const SerialOutput) };
    let bytes: &[u8] = if len == 0 || data.is_null() {
        &[]
    } else {
        // SAFETY: libvmm lends `len` bytes at `data` for the call.
        unsafe { std::slice::from_raw_parts(data, len) }
    };
    // A panic fails the guest's write like a device callback's would: the
    // vCPU stops with EIO and its run() reports the panic.
    let result = catch_unwind(AssertUnwindSafe(|| (out.f)(bytes))).map(|()| Ok(Handled::Yes));
    finish(result, vcpu, &out.failures, || "serial output callback".into())
}

impl Vm {
    /// Attaches a 16550A UART on `[port, port+8)` (`vmm_serial_attach`).
    pub fn attach_serial(&mut self, cfg: SerialConfig) -> Result<Serial> {
        let mut raw = sys::vmm_serial_config::INIT;
        raw.port = cfg.port;
        raw.irq = cfg.irq.unwrap_or_else(|| self.standard_serial_irq(cfg.port));
        raw.out_fd = cfg.out_fd.as_ref().map_or(-1, |fd| fd.as_raw_fd());
        raw.in_fd = cfg.in_fd.as_ref().map_or(-1, |fd| fd.as_raw_fd());
        let output = cfg.output.map(|f| Box::new(SerialOutput { f, failures: self.failures_arc() }));
        if let Some(out) = &output {
            raw.out_fn = Some(serial_output_trampoline);
            raw.out_user = &**out as *const SerialOutput as *mut c_void;
        }
        let mut dev = std::ptr::null_mut();
        // SAFETY: the config's pointers (closure, fds) stay valid until the
        // device is destroyed: the Vm keeps them with the device entry.
        check(unsafe { sys::vmm_serial_attach(self.as_raw(), &raw, &mut dev) })?;
        let keep = SerialKeepAlive { _output: output, _out_fd: cfg.out_fd, _in_fd: cfg.in_fd };
        let (id, link) = self.register_device(dev, Some(Box::new(keep)));
        Ok(Serial { id, link })
    }

    /// Attaches an i8042 keyboard controller on ports 0x60 and 0x64
    /// (`vmm_i8042_attach`). The guest's command 0xFE ends the run with
    /// [`Exit::Request`](crate::Exit::Request) of kind
    /// [`RequestKind::Reset`](crate::RequestKind::Reset).
    pub fn attach_i8042(&mut self) -> Result<DeviceId> {
        self.attach_builtin(|vm, out| unsafe { sys::vmm_i8042_attach(vm, out) })
    }

    /// Attaches a CMOS RTC on ports 0x70-0x71 showing the host's UTC time,
    /// its memory-size bytes filled from the VM's RAM (`vmm_rtc_attach`).
    pub fn attach_rtc(&mut self) -> Result<DeviceId> {
        self.attach_builtin(|vm, out| unsafe { sys::vmm_rtc_attach(vm, out) })
    }

    /// Attaches a debug-exit port on `[port, port+4)`: a guest write of v
    /// (1, 2 or 4 bytes) ends the run with
    /// [`Exit::Request`](crate::Exit::Request) of kind
    /// [`RequestKind::DebugExit`](crate::RequestKind::DebugExit) and value
    /// v (`vmm_debug_exit_attach`).
    pub fn attach_debug_exit(&mut self, port: u16) -> Result<DeviceId> {
        self.attach_builtin(|vm, out| unsafe { sys::vmm_debug_exit_attach(vm, port, out) })
    }

    fn attach_builtin(
        &mut self,
        attach: impl FnOnce(*mut sys::vmm_vm, *mut *mut sys::vmm_device) -> std::os::raw::c_int,
    ) -> Result<DeviceId> {
        let mut dev = std::ptr::null_mut();
        check(attach(self.as_raw(), &mut dev))?;
        Ok(self.register_device(dev, None).0)
    }

    /// The PC's wiring: COM1/COM3 on IRQ 4, COM2/COM4 on IRQ 3, on a VM
    /// with an irqchip; otherwise (and for other ports) no line.
    fn standard_serial_irq(&self, port: u16) -> u32 {
        match port {
            _ if !self.has_irqchip() => sys::VMM_SERIAL_NO_IRQ,
            COM1_PORT | COM3_PORT => sys::VMM_SERIAL_COM1_IRQ,
            COM2_PORT | COM4_PORT => sys::VMM_SERIAL_COM2_IRQ,
            _ => sys::VMM_SERIAL_NO_IRQ,
        }
    }
}
