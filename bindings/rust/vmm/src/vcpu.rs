//! vCPU handles: registers, CPU mode set-up, CPUID, running on the caller's
//! thread, and kicking from another thread.
use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr::NonNull;

use vmm_sys as sys;

use crate::error::{check, Error, Result};
use crate::exit::{Exit, RequestKind};
use crate::vm::Vm;

/// General-purpose registers, RIP and RFLAGS (`struct vmm_regs`).
pub use sys::vmm_regs as Regs;
/// Segment, control and system registers (`struct vmm_sregs`).
pub use sys::vmm_sregs as Sregs;
/// One segment register (`struct vmm_segment`).
pub use sys::vmm_segment as Segment;
/// GDTR/IDTR (`struct vmm_dtable`).
pub use sys::vmm_dtable as DTable;
/// One CPUID leaf (`struct vmm_cpuid_entry`).
pub use sys::vmm_cpuid_entry as CpuidEntry;

/// A register name for [`Vcpu::reg`] / [`Vcpu::set_reg`] (`enum vmm_reg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Reg {
    Rax = sys::VMM_REG_RAX,
    Rbx = sys::VMM_REG_RBX,
    Rcx = sys::VMM_REG_RCX,
    Rdx = sys::VMM_REG_RDX,
    Rsi = sys::VMM_REG_RSI,
    Rdi = sys::VMM_REG_RDI,
    Rsp = sys::VMM_REG_RSP,
    Rbp = sys::VMM_REG_RBP,
    R8 = sys::VMM_REG_R8,
    R9 = sys::VMM_REG_R9,
    R10 = sys::VMM_REG_R10,
    R11 = sys::VMM_REG_R11,
    R12 = sys::VMM_REG_R12,
    R13 = sys::VMM_REG_R13,
    R14 = sys::VMM_REG_R14,
    R15 = sys::VMM_REG_R15,
    Rip = sys::VMM_REG_RIP,
    Rflags = sys::VMM_REG_RFLAGS,
    Cr0 = sys::VMM_REG_CR0,
    Cr2 = sys::VMM_REG_CR2,
    Cr3 = sys::VMM_REG_CR3,
    Cr4 = sys::VMM_REG_CR4,
    Cr8 = sys::VMM_REG_CR8,
    Efer = sys::VMM_REG_EFER,
}

/// A CPU mode `vmm_vcpu_set_cpu_mode()` can establish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum CpuMode {
    /// Real mode, segments at base 0.
    Real = sys::VMM_CPU_MODE_REAL,
    /// 32-bit flat protected mode, paging off.
    Protected = sys::VMM_CPU_MODE_PROTECTED,
    /// 64-bit long mode with identity-mapped paging.
    Long = sys::VMM_CPU_MODE_LONG,
}

/// Input of [`Vcpu::set_cpu_mode`] (`struct vmm_cpu_mode_config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CpuModeConfig {
    pub mode: CpuMode,
    /// LONG only: run at CPL3 (`VMM_CPU_MODE_F_USER`); such a guest can do
    /// port I/O but not HLT: end it with a port write.
    pub user: bool,
    /// Page-aligned guest address for the GDT/TSS/page tables (not REAL).
    pub tables_gpa: u64,
    /// Bytes available there; see [`cpu_mode_tables_size`].
    pub tables_size: u64,
    /// LONG: bytes identity-mapped from 0 (multiple of 2 MiB); 0 = 4 GiB.
    pub identity_map_size: u64,
}

impl CpuModeConfig {
    /// Real mode.
    pub fn real() -> Self {
        Self { mode: CpuMode::Real, user: false, tables_gpa: 0, tables_size: 0, identity_map_size: 0 }
    }
    /// 32-bit flat protected mode, tables at `tables_gpa`.
    pub fn protected(tables_gpa: u64, tables_size: u64) -> Self {
        Self { mode: CpuMode::Protected, tables_gpa, tables_size, ..Self::real() }
    }
    /// 64-bit long mode, tables at `tables_gpa`.
    pub fn long(tables_gpa: u64, tables_size: u64) -> Self {
        Self { mode: CpuMode::Long, tables_gpa, tables_size, ..Self::real() }
    }
    /// Run at CPL3 (long mode only).
    pub fn user(mut self, user: bool) -> Self {
        self.user = user;
        self
    }
    /// Bytes identity-mapped from address 0 (long mode).
    pub fn identity_map_size(mut self, size: u64) -> Self {
        self.identity_map_size = size;
        self
    }

    fn to_raw(self) -> sys::vmm_cpu_mode_config {
        let mut c = sys::vmm_cpu_mode_config::init(self.mode as u32);
        c.flags = if self.user { sys::VMM_CPU_MODE_F_USER } else { 0 };
        c.tables_gpa = self.tables_gpa;
        c.tables_size = self.tables_size;
        c.identity_map_size = self.identity_map_size;
        c
    }
}

/// Bytes of guest memory [`Vcpu::set_cpu_mode`] needs at `tables_gpa`.
pub fn cpu_mode_tables_size(mode: CpuMode, identity_map_size: u64) -> Result<u64> {
    let mut size = 0u64;
    // SAFETY: plain out-parameter.
    check(unsafe { sys::vmm_cpu_mode_tables_size(mode as u32, identity_map_size, &mut size) })?;
    Ok(size)
}

/// A handle to one vCPU of a [`Vm`].
///
/// Obtained from [`Vm::vcpu`] (at most one handle per vCPU at a time) or
/// lent, as `&Vcpu`, to device and hypercall callbacks for the vCPU that
/// made the access. It borrows the VM, so it cannot outlive it.
///
/// `Vcpu` is `Send` (move it to a thread and [`run`](Vcpu::run) it there)
/// but not `Sync`: libvmm forbids calls on a vCPU while another thread runs
/// it. The only cross-thread operation, kicking, goes through a
/// [`Kicker`]. Operations that change what the vCPU runs (`run`,
/// `set_cpu_mode`, `set_cpuid`) take `&mut self`, so callbacks, which get
/// `&Vcpu`, can read and write registers but not re-enter the run loop.
///
/// ```compile_fail
/// // A Vcpu cannot outlive its Vm.
/// let vcpu = { let vm = vmm::Vm::new().unwrap(); vm.vcpu(0).unwrap() };
/// ```
///
/// ```compile_fail
/// // A Vcpu is not Sync: it cannot be shared between threads.
/// fn shared<T: Sync>(_: &T) {}
/// let vm = vmm::Vm::new().unwrap();
/// shared(&vm.vcpu(0).unwrap());
/// ```
pub struct Vcpu<'vm> {
    raw: NonNull<sys::vmm_vcpu>,
    /// Cached for owned handles (u32::MAX in a callback's view).
    index: u32,
    /// The owning VM for handles from Vm::vcpu (releases the claim on drop);
    /// None for the borrowed view passed to callbacks.
    vm: Option<&'vm Vm>,
    _not_sync: PhantomData<Cell<()>>,
}

// SAFETY: libvmm lets any one thread at a time use a vCPU; Vcpu is !Sync,
// so moving it is the only way to reach it from another thread.
unsafe impl Send for Vcpu<'_> {}

impl<'vm> Vcpu<'vm> {
    pub(crate) fn owned(raw: NonNull<sys::vmm_vcpu>, index: u32, vm: &'vm Vm) -> Self {
        Vcpu { raw, index, vm: Some(vm), _not_sync: PhantomData }
    }

    /// The view lent to a callback.
    ///
    /// # Safety
    /// `raw` is the vCPU on whose thread the callback runs, valid for `'vm`.
    pub(crate) unsafe fn borrowed(raw: *mut sys::vmm_vcpu) -> Self {
        Vcpu { raw: unsafe { NonNull::new_unchecked(raw) }, index: u32::MAX, vm: None, _not_sync: PhantomData }
    }

    /// The raw handle, for calls through `vmm_sys`. Owned by the VM.
    pub fn as_raw(&self) -> *mut sys::vmm_vcpu {
        self.raw.as_ptr()
    }

    /// The vCPU's index in its VM (also its initial APIC id).
    pub fn index(&self) -> u32 {
        if self.index != u32::MAX {
            return self.index;
        }
        // SAFETY: valid handle; never fails for non-NULL.
        unsafe { sys::vmm_vcpu_index(self.raw.as_ptr()) as u32 }
    }

    /// Reads the general registers.
    pub fn regs(&self) -> Result<Regs> {
        let mut r = Regs::default();
        check(unsafe { sys::vmm_vcpu_get_regs(self.raw.as_ptr(), &mut r) })?;
        Ok(r)
    }

    /// Writes the general registers (RFLAGS bit 1 is forced to 1). Inside
    /// a callback for a guest read, the writes apply after the read.
    pub fn set_regs(&self, regs: &Regs) -> Result<()> {
        check(unsafe { sys::vmm_vcpu_set_regs(self.raw.as_ptr(), regs) }).map(drop)
    }

    /// Reads the segment, control and system registers.
    pub fn sregs(&self) -> Result<Sregs> {
        let mut s = Sregs::default();
        check(unsafe { sys::vmm_vcpu_get_sregs(self.raw.as_ptr(), &mut s) })?;
        Ok(s)
    }

    /// Writes the segment, control and system registers.
    pub fn set_sregs(&self, sregs: &Sregs) -> Result<()> {
        check(unsafe { sys::vmm_vcpu_set_sregs(self.raw.as_ptr(), sregs) }).map(drop)
    }

    /// Reads one register (one KVM call).
    pub fn reg(&self, reg: Reg) -> Result<u64> {
        let mut v = 0;
        check(unsafe { sys::vmm_vcpu_get_reg(self.raw.as_ptr(), reg as u32, &mut v) })?;
        Ok(v)
    }

    /// Writes one register.
    pub fn set_reg(&self, reg: Reg, value: u64) -> Result<()> {
        check(unsafe { sys::vmm_vcpu_set_reg(self.raw.as_ptr(), reg as u32, value) }).map(drop)
    }

    /// Puts the vCPU in a CPU mode, writing GDT/TSS/page tables into guest
    /// memory at `cfg.tables_gpa`. RIP, RSP and the other general registers
    /// are left to the caller.
    pub fn set_cpu_mode(&mut self, cfg: &CpuModeConfig) -> Result<()> {
        let raw = cfg.to_raw();
        check(unsafe { sys::vmm_vcpu_set_cpu_mode(self.raw.as_ptr(), &raw) }).map(drop)
    }

    /// The vCPU's CPUID table.
    pub fn cpuid(&self) -> Result<Vec<CpuidEntry>> {
        let mut count = 0u32;
        let r = unsafe { sys::vmm_vcpu_get_cpuid(self.raw.as_ptr(), std::ptr::null_mut(), &mut count) };
        if r < 0 && r != -crate::errno::E2BIG {
            return Err(Error::last(r));
        }
        loop {
            let mut v = vec![CpuidEntry::default(); count as usize];
            let mut n = count;
            let r = unsafe { sys::vmm_vcpu_get_cpuid(self.raw.as_ptr(), v.as_mut_ptr(), &mut n) };
            if r == -crate::errno::E2BIG {
                count = n;
                continue;
            }
            check(r)?;
            v.truncate(n as usize);
            return Ok(v);
        }
    }

    /// Replaces the CPUID table (before the vCPU first runs).
    pub fn set_cpuid(&mut self, entries: &[CpuidEntry]) -> Result<()> {
        let count = u32::try_from(entries.len()).map_err(|_| Error::new(crate::errno::EINVAL, "too many CPUID entries"))?;
        check(unsafe { sys::vmm_vcpu_set_cpuid(self.raw.as_ptr(), entries.as_ptr(), count) }).map(drop)
    }

    /// Runs the vCPU on this thread until something no device consumed
    /// happens. Devices, hypercalls and the guest's unhandled reads answered
    /// through the previous [`Exit`] are handled inside.
    ///
    /// A callback that returned an error, or panicked, makes this return
    /// `Err` with the callback's errno (EIO for a panic) and message; the
    /// panic payload is in the error ([`Error::resume_panic`]).
    pub fn run(&mut self) -> Result<Exit<'_>> {
        let vm = self.vm.expect("a Vcpu lent to a callback cannot run");
        let index = self.index();
        vm.failures().clear(index);
        let mut exit = sys::vmm_exit::default();
        let r = unsafe { sys::vmm_vcpu_run(self.raw.as_ptr(), &mut exit) };
        if r < 0 {
            let err = Error::last(r);
            return Err(match vm.failures().take(index) {
                Some(cb) if exit.reason == sys::VMM_EXIT_DEVICE_ERROR => cb.with_context(err.message()),
                _ => err,
            });
        }
        // SAFETY: filled by a successful run; the data lives in the run
        // page, which only this vCPU's next run (needing &mut self) changes.
        Ok(unsafe { Exit::from_raw(&exit) })
    }

    /// Ends this vCPU's run with [`Exit::Request`] once the current access
    /// has been handled (`vmm_vcpu_request_exit`): how a device stops the
    /// guest with a reason. Call it from a callback running on this vCPU,
    /// or while it does not run (its next run then returns at once). A
    /// later request before the run returns replaces an earlier one.
    pub fn request_exit(&self, kind: RequestKind, value: u64) -> Result<()> {
        let raw = kind
            .to_raw()
            .ok_or_else(|| Error::new(crate::errno::EINVAL, format!("request kind {kind:?} does not fit 32 bits")))?;
        check(unsafe { sys::vmm_vcpu_request_exit(self.raw.as_ptr(), raw, value) }).map(drop)
    }

    /// A handle that can kick this vCPU from any thread while it runs.
    pub fn kicker(&self) -> Kicker<'vm> {
        Kicker { raw: self.raw, _vm: PhantomData }
    }

    /// Asks every vCPU of the VM to stop (`vmm_vm_stop`), e.g. from a
    /// callback: each returns [`Exit::Stopped`] once.
    pub fn stop_vm(&self) -> Result<()> {
        check(unsafe { sys::vmm_vm_stop(sys::vmm_vcpu_vm(self.raw.as_ptr())) }).map(drop)
    }

    /// Copies guest memory at `gpa` into `buf` (safe from callbacks).
    pub fn read_memory(&self, gpa: u64, buf: &mut [u8]) -> Result<()> {
        crate::vm::memory_read(unsafe { sys::vmm_vcpu_vm(self.raw.as_ptr()) }, gpa, buf)
    }

    /// Copies `buf` into guest memory at `gpa` (safe from callbacks).
    pub fn write_memory(&self, gpa: u64, buf: &[u8]) -> Result<()> {
        crate::vm::memory_write(unsafe { sys::vmm_vcpu_vm(self.raw.as_ptr()) }, gpa, buf)
    }
}

impl Drop for Vcpu<'_> {
    fn drop(&mut self) {
        if let Some(vm) = self.vm {
            vm.release_vcpu(self.index());
        }
    }
}

impl std::fmt::Debug for Vcpu<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vcpu").field("index", &self.index()).finish()
    }
}

/// Kicks one vCPU from any thread: its current (or next) run returns
/// [`Exit::Kicked`] once. `Copy`, `Send` and `Sync`; borrows the VM.
#[derive(Clone, Copy, Debug)]
pub struct Kicker<'vm> {
    raw: NonNull<sys::vmm_vcpu>,
    _vm: PhantomData<&'vm Vm>,
}

// SAFETY: vmm_vcpu_kick is thread-safe, and the borrow keeps the VM alive.
unsafe impl Send for Kicker<'_> {}
unsafe impl Sync for Kicker<'_> {}

impl Kicker<'_> {
    /// `vmm_vcpu_kick()`.
    pub fn kick(&self) -> Result<()> {
        check(unsafe { sys::vmm_vcpu_kick(self.raw.as_ptr()) }).map(drop)
    }
}
