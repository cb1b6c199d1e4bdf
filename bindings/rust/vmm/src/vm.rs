//! `Vm`: the owning handle of a libvmm VM, with memory, devices,
//! hypercalls and the all-vCPU run loop.
use std::any::Any;
use std::collections::HashMap;
use std::ffi::CString;
use std::os::raw::{c_int, c_void};
use std::os::unix::io::{AsFd, AsRawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use vmm_sys as sys;

use crate::device::{self, Concurrent, ConcurrentDevice, Device, DeviceCell, DeviceHandle, DeviceId, DeviceStats, DeviceUser, FnDevice, Handled, Io, Space};
use crate::error::{check, errno, Error, Result};
use crate::exit::{Exit, VmExit};
use crate::link::DeviceLink;
use crate::vcpu::Vcpu;

/// Per-VM exit counters (`struct vmm_vm_stats`); index `exits` with
/// `vmm_sys::VMM_STAT_EXIT_*`.
pub use sys::vmm_vm_stats as VmStats;
/// What the guest passed to a hypercall: `nr` (RAX) and `args` (RDI, RSI,
/// RCX, RBX, R8, R9).
pub use sys::vmm_hypercall as Hypercall;

/// Which signal libvmm may use to pull a vCPU thread out of the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KickSignal {
    /// SIGRTMAX - 1 (the library installs an empty handler if none is set).
    #[default]
    Default,
    /// No signal: stop and kick take effect at the vCPU's next exit only.
    None,
    /// This signal number.
    Signal(i32),
}

/// Which built-in machine a VM starts as (`enum vmm_platform`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u32)]
pub enum Platform {
    /// Nothing but what the caller maps and attaches: no irqchip, no
    /// devices. The cheapest VM to create.
    #[default]
    None = sys::VMM_PLATFORM_NONE,
    /// A PC: in-kernel irqchip (PIC, IOAPIC, LAPICs) and PIT, PC CPUID and
    /// MSRs, vCPU 0 as bootstrap processor. Add RAM with
    /// [`Vm::pc_add_ram`] and devices with [`Vm::attach_serial`] and its
    /// neighbours.
    Pc = sys::VMM_PLATFORM_PC,
}

/// Configuration for [`Vm::with_config`] (`struct vmm_vm_config`).
#[derive(Debug, Clone, Copy)]
pub struct VmConfig {
    raw: sys::vmm_vm_config,
}

impl Default for VmConfig {
    fn default() -> Self {
        VmConfig { raw: sys::vmm_vm_config::INIT }
    }
}

impl VmConfig {
    /// One vCPU, platform NONE, hypercall doorbell at port 0x600.
    pub fn new() -> Self {
        Self::default()
    }
    /// Number of vCPUs (1 ..= 256).
    pub fn vcpus(mut self, n: u32) -> Self {
        self.raw.num_vcpus = n;
        self
    }
    /// The platform ([`Platform::None`] unless set).
    pub fn platform(mut self, platform: Platform) -> Self {
        self.raw.platform = platform as u32;
        self
    }
    /// Answer port I/O and MMIO that no device claims as an open bus
    /// (`VMM_VM_F_OPEN_BUS`: reads all-ones, writes dropped, counted in
    /// the stats) instead of ending the run with them.
    pub fn open_bus(mut self, on: bool) -> Self {
        if on {
            self.raw.flags |= sys::VMM_VM_F_OPEN_BUS;
        } else {
            self.raw.flags &= !sys::VMM_VM_F_OPEN_BUS;
        }
        self
    }
    /// Base port of the 4-port hypercall doorbell, or `None` for no hypercalls.
    pub fn hypercall_port(mut self, port: Option<u16>) -> Self {
        self.raw.hypercall_port = port.unwrap_or(0);
        self
    }
    /// The kick signal.
    pub fn kick_signal(mut self, sig: KickSignal) -> Self {
        self.raw.kick_signal = match sig {
            KickSignal::Default => 0,
            KickSignal::None => sys::VMM_KICK_SIGNAL_NONE,
            KickSignal::Signal(n) => n,
        };
        self
    }
    /// The raw struct, for fields this crate does not wrap.
    pub fn as_raw_mut(&mut self) -> &mut sys::vmm_vm_config {
        &mut self.raw
    }
}

/// Callback failures (Err or panic) waiting for the run() that reports
/// them, one slot per vCPU index.
pub(crate) struct Failures {
    slots: Box<[Mutex<Option<Error>>]>,
    /// Filled slots: lets the run loops skip locking when nothing failed.
    pending: std::sync::atomic::AtomicUsize,
}

impl Failures {
    fn new(n: usize) -> Self {
        Failures {
            slots: (0..n).map(|_| Mutex::new(None)).collect(),
            pending: Default::default(),
        }
    }
    pub(crate) fn record(&self, index: u32, err: Error) {
        if let Some(slot) = self.slots.get(index as usize) {
            let mut s = slot.lock().unwrap_or_else(|e| e.into_inner());
            // Keep the first failure: it is what stopped the vCPU.
            if s.is_none() {
                *s = Some(err);
                self.pending.fetch_add(1, Ordering::AcqRel);
            }
        }
    }
    pub(crate) fn take(&self, index: u32) -> Option<Error> {
        if self.pending.load(Ordering::Acquire) == 0 {
            return None;
        }
        let e = self.slots.get(index as usize)?.lock().unwrap_or_else(|e| e.into_inner()).take();
        if e.is_some() {
            self.pending.fetch_sub(1, Ordering::AcqRel);
        }
        e
    }
    pub(crate) fn clear(&self, index: u32) {
        drop(self.take(index));
    }
}

/// Shared with StopHandles: the VM pointer, nulled when the VM is dropped.
struct StopShared {
    vm: Mutex<usize>,
}

/// Stops a VM from any thread, even while [`Vm::run`] holds `&mut Vm`.
/// `Clone + Send + Sync`; outliving the VM is harmless (`stop` then
/// returns false).
#[derive(Clone)]
pub struct StopHandle {
    shared: Arc<StopShared>,
}

impl StopHandle {
    /// `vmm_vm_stop()`: every vCPU returns [`Exit::Stopped`] from its
    /// current or next run. Returns false if the VM no longer exists.
    pub fn stop(&self) -> bool {
        let vm = self.shared.vm.lock().unwrap_or_else(|e| e.into_inner());
        if *vm == 0 {
            return false;
        }
        // SAFETY: the VM is alive while the lock is held (Vm::drop takes it
        // before destroying); vmm_vm_stop is thread-safe.
        unsafe { sys::vmm_vm_stop(*vm as *mut sys::vmm_vm) };
        true
    }
}

impl std::fmt::Debug for StopHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StopHandle").finish_non_exhaustive()
    }
}

type HypercallFn = dyn Fn(&Vcpu<'_>, &Hypercall) -> Result<u64> + Send + Sync;

/// A hypercall handler closure and the failure slots it reports into.
struct HypercallUser {
    f: Box<HypercallFn>,
    failures: Arc<Failures>,
}

static NEXT_DEVICE_ID: AtomicU64 = AtomicU64::new(1);

/// What the library may still use of a built-in device until it is
/// destroyed (an output closure, borrowed fds): dropped after the detach or
/// after `vmm_vm_destroy`.
pub(crate) type KeepAlive = Box<dyn Any + Send + Sync>;

/// One attached device.
struct DeviceEntry {
    raw: NonNull<sys::vmm_device>,
    /// Shared with handles usable from other threads (IrqLine, Serial);
    /// severed before the device goes away.
    link: Arc<DeviceLink>,
    _keepalive: Option<KeepAlive>,
}

/// A virtual machine (`vmm_vm`); dropping it destroys the VM, its devices
/// and memory.
///
/// Configuration (memory regions, devices, hypercalls) takes `&mut self`:
/// libvmm refuses it while a vCPU runs, and the borrow checker makes that
/// refusal impossible to hit, since every [`Vcpu`] borrows the `Vm`.
/// Thread-safe operations (guest memory access, statistics, stop) take
/// `&self`. `Vm` is `Send` and `Sync`: share `&Vm` with scoped threads that
/// each run one [`Vcpu`], or call [`Vm::run`] to let libvmm run them all.
///
/// ```compile_fail
/// // No configuration and no Vm::run while a Vcpu handle is alive.
/// let mut vm = vmm::Vm::new().unwrap();
/// let vcpu = vm.vcpu(0).unwrap();
/// vm.add_ram(0, 0x1000).unwrap();
/// drop(vcpu);
/// ```
///
/// ```compile_fail
/// // Hypercall handlers may run on several vCPU threads: they must be Sync.
/// let mut vm = vmm::Vm::new().unwrap();
/// let calls = std::cell::Cell::new(0u64);
/// vm.register_hypercall(1, move |_, _| { calls.set(calls.get() + 1); Ok(0) }).unwrap();
/// ```
pub struct Vm {
    raw: NonNull<sys::vmm_vm>,
    num_vcpus: u32,
    platform: u32,
    claims: Box<[AtomicBool]>,
    failures: Arc<Failures>,
    stop: Arc<StopShared>,
    devices: HashMap<DeviceId, DeviceEntry>,
    hypercalls: HashMap<u64, Box<HypercallUser>>,
}

// SAFETY: libvmm's VM functions reachable through &Vm are thread-safe
// (memory read/write, stats, stop, vCPU lookup); everything else needs
// &mut Vm. Devices and hypercall closures it owns are Send (+ Sync where
// they may run on several threads).
unsafe impl Send for Vm {}
unsafe impl Sync for Vm {}

impl Vm {
    /// A VM with one vCPU and the default configuration.
    pub fn new() -> Result<Vm> {
        Self::with_config(&VmConfig::default())
    }

    /// A VM with `n` vCPUs, otherwise defaults.
    pub fn with_vcpus(n: u32) -> Result<Vm> {
        Self::with_config(&VmConfig::new().vcpus(n))
    }

    /// `vmm_vm_create()`. The first VM of the process also checks that the
    /// loaded libvmm is one these bindings can use ([`check_version`](crate::check_version)):
    /// `EPROTO` if not.
    pub fn with_config(cfg: &VmConfig) -> Result<Vm> {
        crate::ensure_compatible()?;
        let mut raw = std::ptr::null_mut();
        check(unsafe { sys::vmm_vm_create(&cfg.raw, &mut raw) })?;
        let raw = NonNull::new(raw).expect("vmm_vm_create succeeded without a VM");
        let num_vcpus = unsafe { sys::vmm_vm_num_vcpus(raw.as_ptr()) }.max(0) as u32;
        Ok(Vm {
            raw,
            num_vcpus,
            platform: cfg.raw.platform,
            claims: (0..num_vcpus).map(|_| AtomicBool::new(false)).collect(),
            failures: Arc::new(Failures::new(num_vcpus as usize)),
            stop: Arc::new(StopShared { vm: Mutex::new(raw.as_ptr() as usize) }),
            devices: HashMap::new(),
            hypercalls: HashMap::new(),
        })
    }

    /// The raw handle, for calls through `vmm_sys`. Do not destroy it.
    pub fn as_raw(&self) -> *mut sys::vmm_vm {
        self.raw.as_ptr()
    }

    pub(crate) fn failures(&self) -> &Failures {
        &self.failures
    }

    pub(crate) fn failures_arc(&self) -> Arc<Failures> {
        self.failures.clone()
    }

    /// Whether the VM has an in-kernel irqchip (platform PC).
    pub(crate) fn has_irqchip(&self) -> bool {
        self.platform == sys::VMM_PLATFORM_PC
    }

    /// The platform the VM was created as.
    pub fn platform(&self) -> Platform {
        if self.platform == sys::VMM_PLATFORM_PC {
            Platform::Pc
        } else {
            Platform::None
        }
    }

    /// Number of vCPUs.
    pub fn num_vcpus(&self) -> u32 {
        self.num_vcpus
    }

    /// A handle to vCPU `index`. There is at most one handle per vCPU at a
    /// time: a second request gives `EBUSY` until the first is dropped.
    pub fn vcpu(&self, index: u32) -> Result<Vcpu<'_>> {
        let mut raw = std::ptr::null_mut();
        check(unsafe { sys::vmm_vm_get_vcpu(self.raw.as_ptr(), index, &mut raw) })?;
        if self.claims[index as usize].swap(true, Ordering::Acquire) {
            return Err(Error::new(errno::EBUSY, format!("vCPU {index} already has a handle")));
        }
        Ok(Vcpu::owned(NonNull::new(raw).expect("vCPU handle is NULL"), index, self))
    }

    /// Handles to every vCPU, in index order.
    pub fn vcpus(&self) -> Result<Vec<Vcpu<'_>>> {
        (0..self.num_vcpus).map(|i| self.vcpu(i)).collect()
    }

    pub(crate) fn release_vcpu(&self, index: u32) {
        if let Some(c) = self.claims.get(index as usize) {
            c.store(false, Ordering::Release);
        }
    }

    // ------------------------------------------------------------ memory

    /// Adds `size` bytes of zeroed guest RAM at `gpa` (both page-aligned).
    pub fn add_ram(&mut self, gpa: u64, size: u64) -> Result<()> {
        check(unsafe { sys::vmm_memory_add_ram(self.raw.as_ptr(), gpa, size, 0, std::ptr::null_mut()) }).map(drop)
    }

    /// Adds read-only guest memory (ROM): the guest's writes arrive as MMIO.
    /// Fill it with [`Vm::write`].
    pub fn add_rom(&mut self, gpa: u64, size: u64) -> Result<()> {
        check(unsafe {
            sys::vmm_memory_add_ram(self.raw.as_ptr(), gpa, size, sys::VMM_MEM_READONLY, std::ptr::null_mut())
        })
        .map(drop)
    }

    /// Adds guest memory backed by a file (memfd, tmpfs, hugetlbfs), mapped
    /// shared. The fd is only borrowed for the call.
    pub fn add_fd(&mut self, gpa: u64, size: u64, fd: impl AsFd, fd_offset: u64, readonly: bool) -> Result<()> {
        let flags = if readonly { sys::VMM_MEM_READONLY } else { 0 };
        let fd = fd.as_fd().as_raw_fd();
        check(unsafe {
            sys::vmm_memory_add_fd(self.raw.as_ptr(), gpa, size, fd, fd_offset, flags, std::ptr::null_mut())
        })
        .map(drop)
    }

    /// Adds guest memory backed by caller memory.
    ///
    /// # Safety
    /// `hva` must be page-aligned, `size` bytes, readable and writable, and
    /// stay mapped until the region is removed or the VM dropped. The guest
    /// writes it concurrently with the host.
    pub unsafe fn add_host(&mut self, gpa: u64, hva: *mut u8, size: u64, readonly: bool) -> Result<()> {
        let flags = if readonly { sys::VMM_MEM_READONLY } else { 0 };
        // SAFETY: the caller keeps the memory valid as documented.
        check(unsafe { sys::vmm_memory_add_host(self.raw.as_ptr(), gpa, hva.cast(), size, flags) }).map(drop)
    }

    /// Removes the region starting at `gpa`.
    pub fn remove_memory(&mut self, gpa: u64) -> Result<()> {
        check(unsafe { sys::vmm_memory_remove(self.raw.as_ptr(), gpa) }).map(drop)
    }

    /// Copies guest memory at `gpa` into `buf` (`EFAULT` unless the range is
    /// inside one region). Safe while vCPUs run.
    pub fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<()> {
        memory_read(self.raw.as_ptr(), gpa, buf)
    }

    /// Copies `buf` into guest memory at `gpa`. Safe while vCPUs run.
    pub fn write(&self, gpa: u64, buf: &[u8]) -> Result<()> {
        memory_write(self.raw.as_ptr(), gpa, buf)
    }

    /// Host address of guest range `[gpa, gpa+len)` (`vmm_memory_translate`).
    /// Dereferencing it is up to the caller (the guest may write it
    /// concurrently; it is unmapped when the region goes).
    pub fn translate(&self, gpa: u64, len: u64) -> Result<*mut u8> {
        let mut hva = std::ptr::null_mut();
        check(unsafe { sys::vmm_memory_translate(self.raw.as_ptr(), gpa, len, &mut hva) })?;
        Ok(hva.cast())
    }

    // ------------------------------------------------------------ devices

    /// Attaches a [`Device`]; map it with [`Vm::map_pio`]/[`Vm::map_mmio`].
    pub fn attach<D: Device>(&mut self, device: D) -> Result<DeviceHandle<D>> {
        let name = device_name(device.name())?;
        let state = Arc::new(DeviceCell::new(device));
        let id = self.attach_dispatch(&name, state.clone())?;
        Ok(DeviceHandle { id, state })
    }

    /// Attaches a [`ConcurrentDevice`], whose callbacks may run on several
    /// vCPU threads at once. Pass an `Arc<D>` to keep access to it.
    pub fn attach_concurrent<D: ConcurrentDevice>(&mut self, device: D) -> Result<DeviceId> {
        let name = device_name(device.name())?;
        self.attach_dispatch(&name, Arc::new(Concurrent(device)))
    }

    /// Attaches a closure handling port I/O to `[port, port+len)`.
    pub fn attach_pio_fn<F>(&mut self, name: &str, port: u16, len: u32, f: F) -> Result<DeviceId>
    where
        F: FnMut(&Vcpu<'_>, &mut Io<'_>) -> Result<Handled> + Send + 'static,
    {
        let id = self.attach(FnDevice::new(name, Space::Pio, f))?.id();
        if let Err(e) = self.map_pio(id, port, len) {
            let _ = self.detach(id);
            return Err(e);
        }
        Ok(id)
    }

    /// Attaches a closure handling MMIO to `[gpa, gpa+len)`.
    pub fn attach_mmio_fn<F>(&mut self, name: &str, gpa: u64, len: u64, f: F) -> Result<DeviceId>
    where
        F: FnMut(&Vcpu<'_>, &mut Io<'_>) -> Result<Handled> + Send + 'static,
    {
        let id = self.attach(FnDevice::new(name, Space::Mmio, f))?.id();
        if let Err(e) = self.map_mmio(id, gpa, len) {
            let _ = self.detach(id);
            return Err(e);
        }
        Ok(id)
    }

    fn attach_dispatch(&mut self, name: &CString, dispatch: Arc<dyn device::Dispatch>) -> Result<DeviceId> {
        let ops = device::ops(name);
        let user = Box::into_raw(Box::new(DeviceUser { dispatch, failures: self.failures.clone() }));
        let mut dev = std::ptr::null_mut();
        // On failure libvmm has already called destroy, which freed `user`.
        check(unsafe { sys::vmm_device_attach(self.raw.as_ptr(), &ops, user.cast(), &mut dev) })?;
        Ok(self.register_device(dev, None).0)
    }

    /// Records a device libvmm attached (a callback device, or a built-in
    /// one with what it must keep alive) under a fresh id.
    pub(crate) fn register_device(
        &mut self,
        dev: *mut sys::vmm_device,
        keepalive: Option<KeepAlive>,
    ) -> (DeviceId, Arc<DeviceLink>) {
        let raw = NonNull::new(dev).expect("libvmm attached a NULL device");
        let id = DeviceId(NEXT_DEVICE_ID.fetch_add(1, Ordering::Relaxed));
        let link = Arc::new(DeviceLink::new(raw.as_ptr()));
        self.devices.insert(id, DeviceEntry { raw, link: link.clone(), _keepalive: keepalive });
        (id, link)
    }

    pub(crate) fn device(&self, id: DeviceId) -> Result<*mut sys::vmm_device> {
        self.devices
            .get(&id)
            .map(|d| d.raw.as_ptr())
            .ok_or_else(|| Error::new(errno::ENOENT, format!("no device {:?} on this VM", id)))
    }

    pub(crate) fn device_link(&self, id: DeviceId) -> Result<Arc<DeviceLink>> {
        self.device(id)?;
        Ok(self.devices[&id].link.clone())
    }

    /// Claims ports `[port, port+len)` for the device.
    pub fn map_pio(&mut self, id: DeviceId, port: u16, len: u32) -> Result<()> {
        let dev = self.device(id)?;
        check(unsafe { sys::vmm_device_map_pio(dev, port, len) }).map(drop)
    }

    /// Claims guest physical `[gpa, gpa+len)` for the device.
    pub fn map_mmio(&mut self, id: DeviceId, gpa: u64, len: u64) -> Result<()> {
        let dev = self.device(id)?;
        check(unsafe { sys::vmm_device_map_mmio(dev, gpa, len) }).map(drop)
    }

    /// Releases the range the device mapped at `addr` in `space`.
    pub fn unmap(&mut self, id: DeviceId, space: Space, addr: u64) -> Result<()> {
        let dev = self.device(id)?;
        check(unsafe { sys::vmm_device_unmap(dev, space as u32, addr) }).map(drop)
    }

    /// Detaches the device (unmaps it and drops the Rust device once no
    /// handle holds it).
    pub fn detach(&mut self, id: DeviceId) -> Result<()> {
        let dev = self.device(id)?;
        // Handles on other threads must not reach the device from now on.
        let entry = &self.devices[&id];
        entry.link.sever();
        if let Err(e) = check(unsafe { sys::vmm_device_detach(dev) }) {
            entry.link.restore(dev);
            return Err(e);
        }
        // The device is destroyed: what it borrowed can go.
        self.devices.remove(&id);
        Ok(())
    }

    /// The device's access counters.
    pub fn device_stats(&self, id: DeviceId) -> Result<DeviceStats> {
        let dev = self.device(id)?;
        let mut s = DeviceStats { struct_size: std::mem::size_of::<DeviceStats>() as u32, ..Default::default() };
        check(unsafe { sys::vmm_device_get_stats(dev, &mut s) })?;
        Ok(s)
    }

    /// Calls every device's reset, in attach order.
    pub fn reset_devices(&mut self) -> Result<()> {
        check(unsafe { sys::vmm_vm_reset_devices(self.raw.as_ptr()) }).map(drop)
    }

    // ------------------------------------------------------------ hypercalls

    /// Registers `f` for hypercall number `nr`. Its `Ok(value)` goes to the
    /// guest's RAX; an `Err` (or panic) stops the calling vCPU. Handlers may
    /// run on several vCPU threads at once, hence `Fn + Send + Sync`.
    pub fn register_hypercall<F>(&mut self, nr: u64, f: F) -> Result<()>
    where
        F: Fn(&Vcpu<'_>, &Hypercall) -> Result<u64> + Send + Sync + 'static,
    {
        let user = Box::new(HypercallUser { f: Box::new(f), failures: self.failures.clone() });
        let ptr = &*user as *const HypercallUser as *mut c_void;
        check(unsafe { sys::vmm_hypercall_register(self.raw.as_ptr(), nr, Some(hypercall_trampoline), ptr) })?;
        self.hypercalls.insert(nr, user);
        Ok(())
    }

    /// Removes the handler of `nr`.
    pub fn unregister_hypercall(&mut self, nr: u64) -> Result<()> {
        check(unsafe { sys::vmm_hypercall_unregister(self.raw.as_ptr(), nr) })?;
        self.hypercalls.remove(&nr);
        Ok(())
    }

    // ------------------------------------------------------------ running

    /// Runs every vCPU on library threads until all halted, one ended the
    /// run (shutdown, unhandled access, error), or the VM was stopped.
    /// `&mut self` guarantees no [`Vcpu`] handle is in use meanwhile; stop
    /// it from another thread with a [`StopHandle`].
    ///
    /// A callback error or panic gives `Err` (see [`Vcpu::run`]).
    pub fn run(&mut self) -> Result<VmExit<'_>> {
        for i in 0..self.num_vcpus {
            self.failures.clear(i);
        }
        let mut exit = sys::vmm_exit::default();
        let r = unsafe { sys::vmm_vm_run(self.raw.as_ptr(), &mut exit) };
        if r < 0 {
            let err = Error::last(r);
            if exit.reason == sys::VMM_EXIT_DEVICE_ERROR {
                let cb = self
                    .failures
                    .take(exit.vcpu_index)
                    .or_else(|| (0..self.num_vcpus).find_map(|i| self.failures.take(i)));
                if let Some(cb) = cb {
                    return Err(cb.with_context(err.message()));
                }
            }
            return Err(err);
        }
        // SAFETY: filled by a successful run; data stays valid until the
        // next run, which needs &mut self again.
        Ok(VmExit { vcpu_index: exit.vcpu_index, exit: unsafe { Exit::from_raw(&exit) } })
    }

    /// `vmm_vm_stop()`: every vCPU returns [`Exit::Stopped`] from its
    /// current or next run. Thread-safe.
    pub fn stop(&self) -> Result<()> {
        check(unsafe { sys::vmm_vm_stop(self.raw.as_ptr()) }).map(drop)
    }

    /// A handle that stops this VM from any thread, also during [`Vm::run`].
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle { shared: self.stop.clone() }
    }

    /// The VM's exit counters.
    pub fn stats(&self) -> Result<VmStats> {
        let mut s = VmStats::default();
        check(unsafe { sys::vmm_vm_get_stats(self.raw.as_ptr(), &mut s) })?;
        Ok(s)
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        // Stop handles must not reach the VM once destruction starts.
        *self.stop.vm.lock().unwrap_or_else(|e| e.into_inner()) = 0;
        for d in self.devices.values() {
            d.link.sever();
        }
        // SAFETY: no Vcpu borrows self and Vm::run is not in progress (both
        // need a borrow), so no vCPU runs. Device destroy trampolines free
        // the Rust devices; hypercall closures are dropped after, with
        // self.hypercalls, and what built-in devices borrowed (output
        // closures, fds) with self.devices.
        unsafe { sys::vmm_vm_destroy(self.raw.as_ptr()) };
    }
}

impl std::fmt::Debug for Vm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vm")
            .field("num_vcpus", &self.num_vcpus)
            .field("devices", &self.devices.len())
            .field("hypercalls", &self.hypercalls.len())
            .finish()
    }
}

fn device_name(name: &str) -> Result<CString> {
    CString::new(name).map_err(|_| Error::new(errno::EINVAL, format!("device name {name:?} contains a NUL byte")))
}

pub(crate) fn memory_read(vm: *mut sys::vmm_vm, gpa: u64, buf: &mut [u8]) -> Result<()> {
    check(unsafe { sys::vmm_memory_read(vm, gpa, buf.as_mut_ptr().cast(), buf.len()) }).map(drop)
}

pub(crate) fn memory_write(vm: *mut sys::vmm_vm, gpa: u64, buf: &[u8]) -> Result<()> {
    check(unsafe { sys::vmm_memory_write(vm, gpa, buf.as_ptr().cast(), buf.len()) }).map(drop)
}

unsafe extern "C" fn hypercall_trampoline(
    vcpu: *mut sys::vmm_vcpu,
    call: *const sys::vmm_hypercall,
    result: *mut u64,
    user: *mut c_void,
) -> c_int {
    // SAFETY: `user` is the HypercallUser boxed in Vm::hypercalls, alive
    // until unregistered or the VM dropped (both impossible during a run).
    let user = unsafe { &*(user as *const HypercallUser) };
    // SAFETY: libvmm lends the vCPU, the call and the result slot.
    let call = unsafe { &*call };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let v = unsafe { Vcpu::borrowed(vcpu) };
        match (user.f)(&v, call) {
            Ok(value) => {
                unsafe { *result = value };
                Ok(Handled::Yes)
            }
            // libvmm reports a failed hypercall as a failed access to the
            // doorbell device; name the call here.
            Err(e) => Err(e.with_context(&format!("hypercall {}", call.nr))),
        }
    }));
    device::finish(outcome, vcpu, &user.failures, || format!("hypercall {} handler", call.nr))
}
