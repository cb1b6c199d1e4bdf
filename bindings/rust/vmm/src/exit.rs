//! What a run returned: [`Exit`] mirrors `struct vmm_exit` as an enum.
use vmm_sys as sys;

/// Why [`Vcpu::run`](crate::Vcpu::run) or [`Vm::run`](crate::Vm::run)
/// returned. A callback failure or panic is not an `Exit` but an `Err`.
///
/// The `'a` borrow keeps the vCPU (or VM) borrowed while the exit's data
/// buffer, which lives in the vCPU's KVM run page, is in use: the vCPU
/// cannot run again until the `Exit` is dropped.
#[derive(Debug)]
#[non_exhaustive]
pub enum Exit<'a> {
    /// The guest executed HLT.
    Hlt,
    /// Shutdown: triple fault or similar.
    Shutdown,
    /// Port I/O that no device handled.
    Pio(PioExit<'a>),
    /// MMIO that no device handled.
    Mmio(MmioExit<'a>),
    /// `stop()` was called.
    Stopped,
    /// The vCPU was kicked ([`Kicker::kick`](crate::Kicker::kick)).
    Kicked,
    /// KVM could not emulate an instruction (KVM_EXIT_INTERNAL_ERROR).
    InternalError { suberror: u32, data: Vec<u64> },
    /// VM entry failed (KVM_EXIT_FAIL_ENTRY).
    FailEntry { hardware_reason: u64, cpu: u32 },
    /// A KVM system event (KVM_EXIT_SYSTEM_EVENT).
    SystemEvent { kind: u32, data: Vec<u64> },
    /// A KVM exit libvmm does not know.
    Unknown { kvm_reason: u32 },
    /// A device ended the run with a reason (`vmm_vcpu_request_exit`): the
    /// i8042 reset line, a debug-exit port, an application's device.
    Request {
        /// What the device asked for.
        kind: RequestKind,
        /// Passed through from the device (for a debug exit: the value written).
        value: u64,
    },
    /// A `vmm_exit_reason` this crate does not know (a newer library).
    Other(u32),
}

/// What a device asked for when it ended a run (`enum vmm_request_kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// The guest asked for a reset (i8042 command 0xFE).
    Reset,
    /// The guest asked to power off.
    PowerOff,
    /// A test payload ended the VM through a debug-exit port; the value is
    /// what it wrote.
    DebugExit,
    /// An application's own kind: `VMM_REQUEST_USER + n`.
    User(u32),
    /// A kind below `VMM_REQUEST_USER` that this crate does not know.
    Other(u32),
}

impl RequestKind {
    /// The kind from its C value.
    pub fn from_raw(kind: u32) -> Self {
        match kind {
            sys::VMM_REQUEST_RESET => RequestKind::Reset,
            sys::VMM_REQUEST_POWEROFF => RequestKind::PowerOff,
            sys::VMM_REQUEST_DEBUG_EXIT => RequestKind::DebugExit,
            k if k >= sys::VMM_REQUEST_USER => RequestKind::User(k - sys::VMM_REQUEST_USER),
            k => RequestKind::Other(k),
        }
    }

    /// The C value, or `None` for a `User(n)` past `u32::MAX`.
    pub fn to_raw(self) -> Option<u32> {
        match self {
            RequestKind::Reset => Some(sys::VMM_REQUEST_RESET),
            RequestKind::PowerOff => Some(sys::VMM_REQUEST_POWEROFF),
            RequestKind::DebugExit => Some(sys::VMM_REQUEST_DEBUG_EXIT),
            RequestKind::User(n) => sys::VMM_REQUEST_USER.checked_add(n),
            RequestKind::Other(k) => Some(k),
        }
    }
}

/// An unhandled port access. For a read (`!is_write`), put the value the
/// guest should see into `data` before the next run (it holds 0xff bytes).
#[derive(Debug)]
pub struct PioExit<'a> {
    pub port: u16,
    /// Bytes per element: 1, 2 or 4.
    pub size: u8,
    /// Elements (more than 1 for REP INS/OUTS).
    pub count: u32,
    pub is_write: bool,
    /// `size * count` bytes: what the guest wrote, or where its read's value goes.
    pub data: &'a mut [u8],
}

/// An unhandled MMIO access. For a read, fill `data` before the next run.
#[derive(Debug)]
pub struct MmioExit<'a> {
    pub gpa: u64,
    pub is_write: bool,
    /// 1, 2, 4 or 8 bytes.
    pub data: &'a mut [u8],
}

impl PioExit<'_> {
    /// The written value of a single-element access, little-endian.
    pub fn value(&self) -> u64 {
        le_value(self.data)
    }
    /// Answers a read of a single element.
    pub fn set_value(&mut self, value: u64) {
        set_le_value(self.data, value)
    }
}

impl MmioExit<'_> {
    /// The written value, little-endian.
    pub fn value(&self) -> u64 {
        le_value(self.data)
    }
    /// Answers a read.
    pub fn set_value(&mut self, value: u64) {
        set_le_value(self.data, value)
    }
}

pub(crate) fn le_value(data: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = data.len().min(8);
    b[..n].copy_from_slice(&data[..n]);
    u64::from_le_bytes(b)
}

pub(crate) fn set_le_value(data: &mut [u8], value: u64) {
    let n = data.len().min(8);
    data[..n].copy_from_slice(&value.to_le_bytes()[..n]);
}

impl<'a> Exit<'a> {
    /// Converts a filled `vmm_exit`.
    ///
    /// # Safety
    /// `raw` was filled by a successful run, and its data pointers stay
    /// valid and unaliased for `'a` (the caller holds the vCPU/VM borrow).
    pub(crate) unsafe fn from_raw(raw: &sys::vmm_exit) -> Exit<'a> {
        // SAFETY: the reason names the union member libvmm wrote; see above
        // for the data pointers.
        unsafe { match raw.reason {
            sys::VMM_EXIT_HLT => Exit::Hlt,
            sys::VMM_EXIT_SHUTDOWN => Exit::Shutdown,
            sys::VMM_EXIT_STOPPED => Exit::Stopped,
            sys::VMM_EXIT_KICKED => Exit::Kicked,
            sys::VMM_EXIT_PIO => {
                let p = raw.u.pio;
                let len = p.size as usize * p.count as usize;
                let data: &'a mut [u8] =
                    if len == 0 || p.data.is_null() { &mut [] } else { std::slice::from_raw_parts_mut(p.data, len) };
                Exit::Pio(PioExit { port: p.port, size: p.size, count: p.count, is_write: p.is_write != 0, data })
            }
            sys::VMM_EXIT_MMIO => {
                let m = raw.u.mmio;
                let len = (m.len as usize).min(8);
                let data: &'a mut [u8] =
                    if len == 0 || m.data.is_null() { &mut [] } else { std::slice::from_raw_parts_mut(m.data, len) };
                Exit::Mmio(MmioExit { gpa: m.gpa, is_write: m.is_write != 0, data })
            }
            sys::VMM_EXIT_INTERNAL_ERROR => {
                let i = raw.u.internal;
                Exit::InternalError { suberror: i.suberror, data: i.data[..(i.ndata as usize).min(4)].to_vec() }
            }
            sys::VMM_EXIT_FAIL_ENTRY => {
                let f = raw.u.fail_entry;
                Exit::FailEntry { hardware_reason: f.hardware_reason, cpu: f.cpu }
            }
            sys::VMM_EXIT_SYSTEM_EVENT => {
                let s = raw.u.system_event;
                Exit::SystemEvent { kind: s.type_, data: s.data[..(s.ndata as usize).min(4)].to_vec() }
            }
            sys::VMM_EXIT_UNKNOWN => Exit::Unknown { kvm_reason: raw.u.unknown.kvm_reason },
            sys::VMM_EXIT_REQUEST => {
                let r = raw.u.request;
                Exit::Request { kind: RequestKind::from_raw(r.kind), value: r.value }
            }
            other => Exit::Other(other),
        } }
    }

    /// The library's name for this exit ("hlt", "pio", ...).
    pub fn name(&self) -> &'static str {
        let reason = match self {
            Exit::Hlt => sys::VMM_EXIT_HLT,
            Exit::Shutdown => sys::VMM_EXIT_SHUTDOWN,
            Exit::Pio(_) => sys::VMM_EXIT_PIO,
            Exit::Mmio(_) => sys::VMM_EXIT_MMIO,
            Exit::Stopped => sys::VMM_EXIT_STOPPED,
            Exit::Kicked => sys::VMM_EXIT_KICKED,
            Exit::InternalError { .. } => sys::VMM_EXIT_INTERNAL_ERROR,
            Exit::FailEntry { .. } => sys::VMM_EXIT_FAIL_ENTRY,
            Exit::SystemEvent { .. } => sys::VMM_EXIT_SYSTEM_EVENT,
            Exit::Unknown { .. } => sys::VMM_EXIT_UNKNOWN,
            Exit::Request { .. } => sys::VMM_EXIT_REQUEST,
            Exit::Other(r) => *r,
        };
        // SAFETY: static string, never NULL.
        unsafe { std::ffi::CStr::from_ptr(sys::vmm_exit_reason_name(reason)) }.to_str().unwrap_or("invalid")
    }
}

/// What ended [`Vm::run`](crate::Vm::run): the exit and the vCPU it came from.
#[derive(Debug)]
pub struct VmExit<'a> {
    pub vcpu_index: u32,
    pub exit: Exit<'a>,
}
