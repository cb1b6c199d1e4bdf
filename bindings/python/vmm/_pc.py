"""The PC platform (pc.h): RAM laid out around the legacy area and the MMIO
hole, the e820 map loaders hand to guests, and the CPUID policy."""

import ctypes
import dataclasses
import enum
import errno as _errno
import typing

from . import _lib
from ._errors import InvalidArgumentError, _call, _error

_L = _lib.LIB

#: Start of the PCI/MMIO hole below 4 GiB on a PC VM.
PC_MMIO_HOLE_START = _lib.VMM_PC_MMIO_HOLE_START
#: Where RAM that does not fit below the hole continues.
PC_HIGH_RAM_START = _lib.VMM_PC_HIGH_RAM_START


class E820Type(enum.IntEnum):
    """e820 entry types (enum vmm_e820_type; ACPI §15)."""
    RAM = _lib.VMM_E820_RAM
    RESERVED = _lib.VMM_E820_RESERVED


class E820Entry(typing.NamedTuple):
    """One entry of the guest's memory map (struct vmm_e820_entry): first
    byte, length in bytes, and E820Type (an int for types libvmm may add)."""
    addr: int
    size: int
    type: int

    @property
    def end(self):
        """One past the last byte."""
        return self.addr + self.size


class CpuidReg(enum.IntEnum):
    """Register a CpuidOverride changes (enum vmm_cpuid_reg)."""
    EAX = _lib.VMM_CPUID_EAX
    EBX = _lib.VMM_CPUID_EBX
    ECX = _lib.VMM_CPUID_ECX
    EDX = _lib.VMM_CPUID_EDX


@dataclasses.dataclass(frozen=True)
class CpuidOverride:
    """For CPUID leaf (function, index): clear the bits in @clear of @reg,
    then set the bits in @set (struct vmm_cpuid_override). @reg is a
    CpuidReg or its name ("ecx")."""
    function: int
    index: int = 0
    reg: int = CpuidReg.EAX
    clear: int = 0
    set: int = 0

    def _to_c(self):
        reg = self.reg
        if isinstance(reg, str):
            try:
                reg = CpuidReg[reg.upper()]
            except KeyError:
                raise InvalidArgumentError(
                    _errno.EINVAL, "unknown CPUID register %r" % self.reg) from None
        return _lib.vmm_cpuid_override(self.function, self.index, int(reg),
                                       self.clear & 0xffffffff, self.set & 0xffffffff)


def _override(entry):
    if isinstance(entry, CpuidOverride):
        return entry
    if isinstance(entry, dict):
        return CpuidOverride(**entry)
    return CpuidOverride(*entry)


class _PcMixin:
    """VM methods of the PC platform (mixed into vmm.VM)."""

    def pc_add_ram(self, size):
        """Give a PC VM @size bytes of library-allocated RAM (a multiple of
        2 MiB): from 0 up to PC_MMIO_HOLE_START, the rest from
        PC_HIGH_RAM_START (vmm_pc_add_ram()). Reach it with read() and
        write(); it has no memoryview (the library owns the mapping)."""
        _call("vmm_pc_add_ram", self._h(), size)

    def e820(self):
        """The memory map a loader reports to the guest (vmm_pc_e820()): a
        sorted list of E820Entry, RAM split around the reserved legacy area
        [0x9fc00, 0x100000)."""
        h = self._h()
        n = ctypes.c_uint32(0)
        while True:
            arr = (_lib.vmm_e820_entry * n.value)()
            rc = _L.vmm_pc_e820(h, arr, ctypes.byref(n))
            if rc == -_errno.E2BIG:
                continue  # n now says how many are needed
            if rc < 0:
                raise _error(rc, "vmm_pc_e820")
            return [E820Entry(e.addr, e.size,
                              E820Type(e.type) if e.type in E820Type._value2member_map_
                              else e.type)
                    for e in arr[:n.value]]

    def set_cpuid_policy(self, overrides):
        """Apply CPUID overrides to every vCPU before they first run
        (vmm_vm_set_cpuid_policy()). Each item is a CpuidOverride, a tuple
        (function, index, reg, clear, set) or a dict of those fields. A leaf
        the vCPUs lack raises NotFoundError; on error no vCPU changes."""
        items = [_override(o)._to_c() for o in overrides]
        arr = (_lib.vmm_cpuid_override * len(items))(*items)
        _call("vmm_vm_set_cpuid_policy", self._h(), arr, len(items))
