//! The PC platform (`pc.h`): RAM laid out around the legacy area and the
//! MMIO hole, the e820 map the loaders hand to guests, the CPUID policy.
use vmm_sys as sys;

use crate::error::{check, errno, Error, Result};
use crate::vm::Vm;

/// Start of the PCI/MMIO hole below 4 GiB on a PC VM.
pub const PC_MMIO_HOLE_START: u64 = sys::VMM_PC_MMIO_HOLE_START;
/// Where RAM that does not fit below the hole continues.
pub const PC_HIGH_RAM_START: u64 = sys::VMM_PC_HIGH_RAM_START;

/// Type of an e820 entry (`enum vmm_e820_type`, ACPI §15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum E820Type {
    /// Usable RAM.
    Ram,
    /// Reserved: the legacy area (EBDA, VGA, BIOS) and the like.
    Reserved,
    /// A type this crate does not know.
    Other(u32),
}

impl E820Type {
    fn from_raw(t: u32) -> Self {
        match t {
            sys::VMM_E820_RAM => E820Type::Ram,
            sys::VMM_E820_RESERVED => E820Type::Reserved,
            t => E820Type::Other(t),
        }
    }
}

/// One entry of the guest's memory map (`struct vmm_e820_entry`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct E820Entry {
    /// First byte (guest physical).
    pub addr: u64,
    /// Length in bytes.
    pub size: u64,
    /// What the range is.
    pub kind: E820Type,
}

impl E820Entry {
    /// An entry, e.g. for comparing with [`Vm::e820`].
    pub fn new(addr: u64, size: u64, kind: E820Type) -> Self {
        E820Entry { addr, size, kind }
    }
    /// One past the last byte.
    pub fn end(&self) -> u64 {
        self.addr + self.size
    }
}

/// A register of a CPUID leaf (`enum vmm_cpuid_reg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum CpuidReg {
    /// EAX.
    Eax = sys::VMM_CPUID_EAX,
    /// EBX.
    Ebx = sys::VMM_CPUID_EBX,
    /// ECX.
    Ecx = sys::VMM_CPUID_ECX,
    /// EDX.
    Edx = sys::VMM_CPUID_EDX,
}

/// For CPUID leaf (`function`, `index`): clear the bits `clear` of `reg`,
/// then set the bits `set` (`struct vmm_cpuid_override`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CpuidOverride {
    /// The leaf (EAX input).
    pub function: u32,
    /// The subleaf (ECX input); ignored for leaves without subleaves.
    pub index: u32,
    /// The register changed.
    pub reg: CpuidReg,
    /// Bits cleared first.
    pub clear: u32,
    /// Bits set after clearing.
    pub set: u32,
}

impl CpuidOverride {
    /// An override of `reg` in leaf `function` (subleaf 0) that changes
    /// nothing yet; add [`clear_bits`](Self::clear_bits) and
    /// [`set_bits`](Self::set_bits).
    pub fn new(function: u32, reg: CpuidReg) -> Self {
        CpuidOverride { function, index: 0, reg, clear: 0, set: 0 }
    }
    /// The subleaf.
    pub fn subleaf(mut self, index: u32) -> Self {
        self.index = index;
        self
    }
    /// Bits to clear.
    pub fn clear_bits(mut self, bits: u32) -> Self {
        self.clear = bits;
        self
    }
    /// Bits to set (after clearing).
    pub fn set_bits(mut self, bits: u32) -> Self {
        self.set = bits;
        self
    }
    fn to_raw(self) -> sys::vmm_cpuid_override {
        sys::vmm_cpuid_override { function: self.function, index: self.index, reg: self.reg as u32, clear: self.clear, set: self.set }
    }
}

impl Vm {
    /// Gives a PC VM `size` bytes of library-allocated RAM (a multiple of
    /// 2 MiB): from 0 up to [`PC_MMIO_HOLE_START`], the rest from
    /// [`PC_HIGH_RAM_START`] (`vmm_pc_add_ram`). `EINVAL` on platform NONE.
    pub fn pc_add_ram(&mut self, size: u64) -> Result<()> {
        check(unsafe { sys::vmm_pc_add_ram(self.as_raw(), size) }).map(drop)
    }

    /// The memory map a loader reports to the guest (`vmm_pc_e820`): RAM
    /// regions split around the reserved legacy area `[0x9fc00, 0x100000)`,
    /// plus that area, sorted.
    pub fn e820(&self) -> Result<Vec<E820Entry>> {
        let mut count = 0u32;
        let mut raw: Vec<sys::vmm_e820_entry> = Vec::new();
        loop {
            raw.resize(count as usize, sys::vmm_e820_entry::default());
            let r = unsafe { sys::vmm_pc_e820(self.as_raw(), raw.as_mut_ptr(), &mut count) };
            if r == -errno::E2BIG {
                continue; // count now says how many are needed
            }
            check(r)?;
            raw.truncate(count as usize);
            return Ok(raw.iter().map(|e| E820Entry::new(e.addr, e.size, E820Type::from_raw(e.type_))).collect());
        }
    }

    /// Applies a CPUID policy to every vCPU before they first run
    /// (`vmm_vm_set_cpuid_policy`; 1 ..= 256 overrides). A leaf the vCPUs
    /// lack gives `ENOENT`, naming it; on error no vCPU changes.
    pub fn set_cpuid_policy(&mut self, overrides: &[CpuidOverride]) -> Result<()> {
        let raw: Vec<_> = overrides.iter().map(|o| o.to_raw()).collect();
        let count = u32::try_from(raw.len()).map_err(|_| Error::new(errno::EINVAL, "too many CPUID overrides"))?;
        check(unsafe { sys::vmm_vm_set_cpuid_policy(self.as_raw(), raw.as_ptr(), count) }).map(drop)
    }
}
