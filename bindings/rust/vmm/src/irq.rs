//! Interrupt lines of the in-kernel irqchip (`vmm_device_set_irq`): from
//! the `Vm` by device id, or through an [`IrqLine`] handle that devices and
//! other threads keep.
use std::sync::Arc;

use vmm_sys as sys;

use crate::device::DeviceId;
use crate::error::{check, Result};
use crate::link::DeviceLink;
use crate::vm::Vm;

/// Drives the VM's interrupt lines on behalf of one device, from any
/// thread (a device callback, an I/O thread). `Clone + Send + Sync`; once
/// the device is detached or the VM dropped, [`IrqLine::set_irq`] fails
/// with `ENOENT` instead of touching freed memory.
///
/// ```no_run
/// # fn main() -> vmm::Result<()> {
/// use vmm::{Handled, Platform, Vm, VmConfig};
/// let mut vm = Vm::with_config(&VmConfig::new().platform(Platform::Pc))?;
/// let id = vm.attach_pio_fn("doorbell", 0x510, 1, |_, _| Ok(Handled::Yes))?;
/// let line = vm.irq_line(id)?;
/// std::thread::spawn(move || line.set_irq(5, true));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct IrqLine {
    link: Arc<DeviceLink>,
}

impl IrqLine {
    pub(crate) fn from_link(link: Arc<DeviceLink>) -> Self {
        IrqLine { link }
    }

    /// Asserts (`level` true) or deasserts GSI `gsi` (0-23; 0-15 reach the
    /// PIC and IOAPIC, 16-23 the IOAPIC). An edge-triggered line: assert,
    /// then deassert. `ENODEV` on a VM without an irqchip (platform NONE).
    pub fn set_irq(&self, gsi: u32, level: bool) -> Result<()> {
        self.link.with(|dev| set_irq(dev, gsi, level))
    }
}

impl std::fmt::Debug for IrqLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IrqLine").finish_non_exhaustive()
    }
}

fn set_irq(dev: *mut sys::vmm_device, gsi: u32, level: bool) -> Result<()> {
    // SAFETY: `dev` is attached (the caller checked it under the link or
    // the Vm borrow); vmm_device_set_irq is thread-safe.
    check(unsafe { sys::vmm_device_set_irq(dev, gsi, level.into()) }).map(drop)
}

impl Vm {
    /// Drives interrupt line `gsi` for device `id` (`vmm_device_set_irq`):
    /// see [`IrqLine::set_irq`]. Thread-safe, hence `&self`.
    pub fn set_irq(&self, id: DeviceId, gsi: u32, level: bool) -> Result<()> {
        set_irq(self.device(id)?, gsi, level)
    }

    /// A handle that drives interrupt lines for device `id` from any thread.
    pub fn irq_line(&self, id: DeviceId) -> Result<IrqLine> {
        Ok(IrqLine { link: self.device_link(id)? })
    }
}
