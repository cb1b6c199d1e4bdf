//! Device models: Rust types (or closures) behind libvmm's callback ops
//! table, reached through `extern "C"` trampolines that catch panics.
use std::os::raw::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use vmm_sys as sys;

use crate::error::{errno, Error, Result};
use crate::exit::{le_value, set_le_value};
use crate::vcpu::Vcpu;
use crate::vm::Failures;

/// What a device callback did with an access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Handled {
    /// The access is done; the guest resumes (returns 0 to libvmm).
    Yes,
    /// Declined: the exit goes back to the caller of `run()` as
    /// [`Exit::Pio`](crate::Exit::Pio)/[`Exit::Mmio`](crate::Exit::Mmio)
    /// (`VMM_UNHANDLED`).
    No,
}

/// Address space of an access (`enum vmm_space`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Space {
    Pio = sys::VMM_SPACE_PIO,
    Mmio = sys::VMM_SPACE_MMIO,
}

/// Per-device access counts (`struct vmm_device_stats`).
pub use sys::vmm_device_stats as DeviceStats;

/// One guest access handed to a device callback (`struct vmm_io`).
pub struct Io<'a> {
    raw: &'a sys::vmm_io,
}

impl Io<'_> {
    /// Port or guest physical address accessed.
    pub fn addr(&self) -> u64 {
        self.raw.addr
    }
    /// `addr` minus the base of the range the device mapped.
    pub fn offset(&self) -> u64 {
        self.raw.offset
    }
    /// Bytes accessed: 1, 2 or 4 (PIO); 1, 2, 4 or 8 (MMIO).
    pub fn len(&self) -> usize {
        self.raw.len as usize
    }
    /// Always false (an access has at least one byte); for clippy.
    pub fn is_empty(&self) -> bool {
        self.raw.len == 0
    }
    /// Whether the guest writes (OUT, store) rather than reads.
    pub fn is_write(&self) -> bool {
        self.raw.is_write != 0
    }
    /// PIO or MMIO.
    pub fn space(&self) -> Space {
        if self.raw.space as u32 == sys::VMM_SPACE_MMIO {
            Space::Mmio
        } else {
            Space::Pio
        }
    }
    /// The bytes: the value written, or (for a read) 0xff until set.
    pub fn data(&self) -> &[u8] {
        // SAFETY: libvmm lends `len` bytes at `data` for the call.
        unsafe { std::slice::from_raw_parts(self.raw.data as *const u8, self.raw.len as usize) }
    }
    /// Where a read's value goes.
    pub fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: as data(); the buffer is writable and only this call uses it.
        unsafe { std::slice::from_raw_parts_mut(self.raw.data as *mut u8, self.raw.len as usize) }
    }
    /// The written value, little-endian (x86 byte order).
    pub fn value(&self) -> u64 {
        le_value(self.data())
    }
    /// Answers a read with `value` (truncated to `len()` bytes).
    pub fn set_value(&mut self, value: u64) {
        set_le_value(self.data_mut(), value)
    }
}

impl std::fmt::Debug for Io<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Io")
            .field("space", &self.space())
            .field("addr", &format_args!("{:#x}", self.addr()))
            .field("offset", &self.offset())
            .field("is_write", &self.is_write())
            .field("data", &self.data())
            .finish()
    }
}

/// A device model whose callbacks take `&mut self`.
///
/// The binding keeps the device in a `Mutex`, so callbacks of one device
/// never overlap even when several vCPU threads access it, and the device
/// only has to be `Send` (it may be called on, and dropped on, any thread).
/// It must be `'static`: libvmm owns it until it is detached or the VM is
/// dropped. Use [`ConcurrentDevice`] for a device that handles concurrent
/// accesses itself.
///
/// A callback that returns `Err` or panics stops the vCPU that made the
/// access: its `run()` returns the error (EIO and the payload for a panic).
/// A device that panicked stays poisoned (its later callbacks fail with
/// EIO) until [`DeviceHandle::clear_poison`].
///
/// ```compile_fail
/// // Device state must be Send: an Rc cannot go to a vCPU thread.
/// struct D(std::rc::Rc<u8>);
/// impl vmm::Device for D {}
/// ```
pub trait Device: Send + 'static {
    /// Name used in libvmm's errors and statistics (1-63 bytes, no NUL).
    fn name(&self) -> &str {
        "rust-device"
    }
    /// Port I/O to a port this device mapped.
    fn pio(&mut self, vcpu: &Vcpu<'_>, io: &mut Io<'_>) -> Result<Handled> {
        let _ = (vcpu, io);
        Ok(Handled::No)
    }
    /// MMIO to a range this device mapped.
    fn mmio(&mut self, vcpu: &Vcpu<'_>, io: &mut Io<'_>) -> Result<Handled> {
        let _ = (vcpu, io);
        Ok(Handled::No)
    }
    /// Called by [`Vm::reset_devices`](crate::Vm::reset_devices).
    fn reset(&mut self) {}
}

/// A device model whose callbacks take `&self` and may run concurrently on
/// several vCPU threads (`VMM_DEVICE_F_CONCURRENT`): it must be `Sync` and
/// do its own locking.
///
/// ```compile_fail
/// // Cell is not Sync, so it cannot be shared by vCPU threads.
/// struct D(std::cell::Cell<u8>);
/// impl vmm::ConcurrentDevice for D {}
/// ```
pub trait ConcurrentDevice: Send + Sync + 'static {
    /// As [`Device::name`].
    fn name(&self) -> &str {
        "rust-device"
    }
    /// As [`Device::pio`], possibly on several threads at once.
    fn pio(&self, vcpu: &Vcpu<'_>, io: &mut Io<'_>) -> Result<Handled> {
        let _ = (vcpu, io);
        Ok(Handled::No)
    }
    /// As [`Device::mmio`], possibly on several threads at once.
    fn mmio(&self, vcpu: &Vcpu<'_>, io: &mut Io<'_>) -> Result<Handled> {
        let _ = (vcpu, io);
        Ok(Handled::No)
    }
    /// As [`Device::reset`].
    fn reset(&self) {}
}

impl<T: ConcurrentDevice + ?Sized> ConcurrentDevice for Arc<T> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn pio(&self, vcpu: &Vcpu<'_>, io: &mut Io<'_>) -> Result<Handled> {
        (**self).pio(vcpu, io)
    }
    fn mmio(&self, vcpu: &Vcpu<'_>, io: &mut Io<'_>) -> Result<Handled> {
        (**self).mmio(vcpu, io)
    }
    fn reset(&self) {
        (**self).reset()
    }
}

/// A device built from a closure (see [`Vm::attach_pio_fn`](crate::Vm::attach_pio_fn)).
pub struct FnDevice<F> {
    name: String,
    space: Space,
    f: F,
}

impl<F> FnDevice<F>
where
    F: FnMut(&Vcpu<'_>, &mut Io<'_>) -> Result<Handled> + Send + 'static,
{
    /// A device whose `space` accesses all go to `f`.
    pub fn new(name: impl Into<String>, space: Space, f: F) -> Self {
        FnDevice { name: name.into(), space, f }
    }
}

impl<F> Device for FnDevice<F>
where
    F: FnMut(&Vcpu<'_>, &mut Io<'_>) -> Result<Handled> + Send + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }
    fn pio(&mut self, vcpu: &Vcpu<'_>, io: &mut Io<'_>) -> Result<Handled> {
        if self.space == Space::Pio { (self.f)(vcpu, io) } else { Ok(Handled::No) }
    }
    fn mmio(&mut self, vcpu: &Vcpu<'_>, io: &mut Io<'_>) -> Result<Handled> {
        if self.space == Space::Mmio { (self.f)(vcpu, io) } else { Ok(Handled::No) }
    }
}

/// Identifies a device attached to a [`Vm`](crate::Vm). Ids are never
/// reused, so a stale id gives `ENOENT`, never another device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId(pub(crate) u64);

/// A [`Device`] attached to a VM: its id, and shared access to its state.
pub struct DeviceHandle<D> {
    pub(crate) id: DeviceId,
    pub(crate) state: Arc<DeviceCell<D>>,
}

impl<D> DeviceHandle<D> {
    /// The id to map, unmap, detach or query the device with.
    pub fn id(&self) -> DeviceId {
        self.id
    }
    /// Locks the device state (blocks while a callback runs). The state of
    /// a poisoned device (a callback panicked) is entered anyway.
    pub fn lock(&self) -> MutexGuard<'_, D> {
        self.state.lock()
    }
    /// Whether a callback of this device panicked (so that its later
    /// callbacks fail with EIO) since it was attached or last cleared with
    /// [`clear_poison`](Self::clear_poison).
    pub fn is_poisoned(&self) -> bool {
        self.state.poisoned.load(Ordering::Acquire)
    }
    /// Lets callbacks run again after one panicked.
    pub fn clear_poison(&self) {
        self.state.poisoned.store(false, Ordering::Release)
    }
}

impl<D> Clone for DeviceHandle<D> {
    fn clone(&self) -> Self {
        DeviceHandle { id: self.id, state: self.state.clone() }
    }
}

/// The callback target behind the `void *user` of one attached device.
pub(crate) trait Dispatch: Send + Sync + 'static {
    fn pio(&self, vcpu: &Vcpu<'_>, io: &mut Io<'_>) -> Result<Handled>;
    fn mmio(&self, vcpu: &Vcpu<'_>, io: &mut Io<'_>) -> Result<Handled>;
    fn reset(&self);
}

#[cold]
fn poisoned() -> Error {
    Error::new(errno::EIO, "device state is poisoned by an earlier panic in a callback")
}

/// A [`Device`] in its Mutex, with the binding's own poison flag: set when
/// a callback panics, cleared by [`DeviceHandle::clear_poison`]. (The
/// Mutex's own poisoning is ignored: `Mutex::clear_poison` needs Rust 1.77,
/// and this crate supports 1.63.)
pub(crate) struct DeviceCell<D> {
    device: Mutex<D>,
    poisoned: AtomicBool,
}

/// Marks the device poisoned when dropped: only while a callback unwinds,
/// since [`DeviceCell::call`] forgets it when the callback returns.
struct PoisonOnUnwind<'a>(&'a AtomicBool);

impl Drop for PoisonOnUnwind<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

impl<D> DeviceCell<D> {
    pub(crate) fn new(device: D) -> Self {
        DeviceCell { device: Mutex::new(device), poisoned: AtomicBool::new(false) }
    }

    fn lock(&self) -> MutexGuard<'_, D> {
        self.device.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs one callback on the locked device, unless it is poisoned.
    #[inline]
    fn call<R>(&self, f: impl FnOnce(&mut D) -> Result<R>) -> Result<R> {
        let mut device = self.lock();
        if self.poisoned.load(Ordering::Acquire) {
            return Err(poisoned());
        }
        let unwind = PoisonOnUnwind(&self.poisoned);
        let result = f(&mut device);
        std::mem::forget(unwind);
        result
    }
}

impl<D: Device> Dispatch for DeviceCell<D> {
    fn pio(&self, vcpu: &Vcpu<'_>, io: &mut Io<'_>) -> Result<Handled> {
        self.call(|d| d.pio(vcpu, io))
    }
    fn mmio(&self, vcpu: &Vcpu<'_>, io: &mut Io<'_>) -> Result<Handled> {
        self.call(|d| d.mmio(vcpu, io))
    }
    fn reset(&self) {
        let _ = self.call(|d| {
            d.reset();
            Ok(())
        });
    }
}

/// Newtype so that ConcurrentDevice and Device impls of Dispatch differ.
pub(crate) struct Concurrent<D>(pub(crate) D);

impl<D: ConcurrentDevice> Dispatch for Concurrent<D> {
    fn pio(&self, vcpu: &Vcpu<'_>, io: &mut Io<'_>) -> Result<Handled> {
        self.0.pio(vcpu, io)
    }
    fn mmio(&self, vcpu: &Vcpu<'_>, io: &mut Io<'_>) -> Result<Handled> {
        self.0.mmio(vcpu, io)
    }
    fn reset(&self) {
        self.0.reset()
    }
}

/// What `user` points to: a Box released by the destroy trampoline.
pub(crate) struct DeviceUser {
    pub(crate) dispatch: Arc<dyn Dispatch>,
    pub(crate) failures: Arc<Failures>,
}

/// The ops table every Rust device uses. Serialisation is done by the Rust
/// side (the Mutex around a Device, or the ConcurrentDevice itself), so the
/// library's own per-device lock is switched off with F_CONCURRENT.
pub(crate) fn ops(name: &std::ffi::CStr) -> sys::vmm_device_ops {
    let mut ops = sys::vmm_device_ops::INIT;
    ops.flags = sys::VMM_DEVICE_F_CONCURRENT;
    ops.name = name.as_ptr();
    ops.pio = Some(pio_trampoline);
    ops.mmio = Some(mmio_trampoline);
    ops.reset = Some(reset_trampoline);
    ops.destroy = Some(destroy_trampoline);
    ops
}

unsafe extern "C" fn pio_trampoline(
    _dev: *mut sys::vmm_device,
    vcpu: *mut sys::vmm_vcpu,
    io: *const sys::vmm_io,
    user: *mut c_void,
) -> c_int {
    // SAFETY: libvmm's callback contract (see io_trampoline).
    unsafe { io_trampoline(vcpu, io, user, Space::Pio) }
}

unsafe extern "C" fn mmio_trampoline(
    _dev: *mut sys::vmm_device,
    vcpu: *mut sys::vmm_vcpu,
    io: *const sys::vmm_io,
    user: *mut c_void,
) -> c_int {
    // SAFETY: libvmm's callback contract (see io_trampoline).
    unsafe { io_trampoline(vcpu, io, user, Space::Mmio) }
}

/// Runs one callback; never unwinds into C.
#[inline]
unsafe fn io_trampoline(vcpu: *mut sys::vmm_vcpu, io: *const sys::vmm_io, user: *mut c_void, space: Space) -> c_int {
    // SAFETY: `user` is the DeviceUser this device was attached with; it
    // lives until the destroy callback, which cannot overlap a callback.
    let user = unsafe { &*(user as *const DeviceUser) };
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: libvmm lends the vCPU and the access for this call.
        let vcpu = unsafe { Vcpu::borrowed(vcpu) };
        let mut io = Io { raw: unsafe { &*io } };
        match space {
            Space::Pio => user.dispatch.pio(&vcpu, &mut io),
            Space::Mmio => user.dispatch.mmio(&vcpu, &mut io),
        }
    }));
    finish(result, vcpu, &user.failures, || "device callback".into())
}

/// Maps a callback's outcome to libvmm's convention, stashing errors and
/// panic payloads for the run() that will report them.
pub(crate) fn finish(
    result: std::thread::Result<Result<Handled>>,
    vcpu: *mut sys::vmm_vcpu,
    failures: &Failures,
    what: impl FnOnce() -> String,
) -> c_int {
    let err = match result {
        Ok(Ok(Handled::Yes)) => return 0,
        Ok(Ok(Handled::No)) => return sys::VMM_UNHANDLED,
        Ok(Err(e)) => e,
        Err(payload) => Error::from_panic(payload, &what()),
    };
    let raw = err.to_raw();
    // Recording must not unwind either (it only locks a Mutex and moves).
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: valid vCPU lent for the call.
        let index = unsafe { sys::vmm_vcpu_index(vcpu) };
        failures.record(index as u32, err);
    }));
    raw
}

unsafe extern "C" fn reset_trampoline(_dev: *mut sys::vmm_device, user: *mut c_void) {
    // SAFETY: as in io_trampoline.
    let user = unsafe { &*(user as *const DeviceUser) };
    // A panicking reset is swallowed: vmm_vm_reset_devices has no way to
    // report it, and the device's Mutex stays poisoned as a record.
    let _ = catch_unwind(AssertUnwindSafe(|| user.dispatch.reset()));
}

unsafe extern "C" fn destroy_trampoline(user: *mut c_void) {
    // SAFETY: called exactly once per attach; takes back the Box.
    let user = unsafe { Box::from_raw(user as *mut DeviceUser) };
    // Dropping the device runs user Drop code: keep any panic out of C.
    let _ = catch_unwind(AssertUnwindSafe(move || drop(user)));
}
