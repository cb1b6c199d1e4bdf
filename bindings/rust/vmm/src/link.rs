//! `DeviceLink`: a device pointer that handles on other threads share, and
//! that the `Vm` severs before the device is detached or destroyed, so that
//! a handle outliving its device fails instead of touching freed memory.
use std::sync::RwLock;

use vmm_sys as sys;

use crate::error::{errno, Error, Result};

pub(crate) struct DeviceLink {
    /// The `vmm_device *` as an address; 0 once severed. Callers hold the
    /// read lock for the whole C call, so severing waits for them.
    dev: RwLock<usize>,
}

impl DeviceLink {
    pub(crate) fn new(dev: *mut sys::vmm_device) -> Self {
        DeviceLink { dev: RwLock::new(dev as usize) }
    }

    /// Runs `f` with the device pointer while the device cannot go away.
    pub(crate) fn with<R>(&self, f: impl FnOnce(*mut sys::vmm_device) -> Result<R>) -> Result<R> {
        let dev = self.dev.read().unwrap_or_else(|e| e.into_inner());
        if *dev == 0 {
            return Err(Error::new(errno::ENOENT, "the device was detached or its VM dropped"));
        }
        f(*dev as *mut sys::vmm_device)
    }

    /// Makes every later `with` fail; waits for calls in progress.
    pub(crate) fn sever(&self) {
        *self.dev.write().unwrap_or_else(|e| e.into_inner()) = 0;
    }

    /// Undoes `sever` (a detach the library refused).
    pub(crate) fn restore(&self, dev: *mut sys::vmm_device) {
        *self.dev.write().unwrap_or_else(|e| e.into_inner()) = dev as usize;
    }
}

// The address is only dereferenced by libvmm calls that are thread-safe
// (vmm_device_set_irq, vmm_serial_input, vmm_virtio_get_info,
// vmm_virtio_console_input), under the read lock.
