"""Device models written in Python: the Device base class, the Io record
handed to its callbacks, and the UNHANDLED sentinel."""

import ctypes
import enum
import threading

from . import _lib
from ._errors import ClosedError, _call

#: .vm is set while a callback of that VM runs on this thread (VM.close()
#: refuses to run from inside one).
_in_callback = threading.local()

class _Unhandled:
    """Type of UNHANDLED (a singleton)."""
    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self):
        return "vmm.UNHANDLED"

    def __reduce__(self):
        return (_Unhandled, ())


#: Returned by a callback that declines an access: the exit goes back to the
#: caller of run() (VMM_UNHANDLED). A sentinel, not an int, so that a device
#: read can return any integer value.
UNHANDLED = _Unhandled()


class Space(enum.IntEnum):
    """Address space of an access (enum vmm_space)."""
    PIO = _lib.VMM_SPACE_PIO
    MMIO = _lib.VMM_SPACE_MMIO



class Io:
    """One guest access handed to Device.pio()/mmio().

    addr, offset (from the base of the mapped range), len (bytes), space
    (Space), is_write; for writes, data (bytes) and value (little-endian int).
    """
    __slots__ = ("addr", "offset", "len", "is_write", "space", "data")

    def __init__(self, addr, offset, length, is_write, space, data):
        self.addr, self.offset, self.len = addr, offset, length
        self.is_write, self.space, self.data = is_write, space, data

    @property
    def value(self):
        """The written value as an unsigned int (None for a read)."""
        return None if self.data is None else int.from_bytes(self.data, "little")

    def __repr__(self):
        kind = "write %#x" % self.value if self.is_write else "read"
        return "<vmm.Io %s %#x+%d %s>" % (Space(self.space).name, self.addr,
                                          self.len, kind)



def _to_bytes(value, length, what):
    """A callback's read value as exactly @length little-endian bytes."""
    if isinstance(value, int):
        if value < 0:
            value &= (1 << (8 * length)) - 1
        return value.to_bytes(length, "little")  # OverflowError if too big
    data = bytes(value)
    if len(data) != length:
        raise ValueError("%s returned %d bytes for a %d-byte read"
                         % (what, len(data), length))
    return data



class Device:
    """Base class of device models. Subclass it and override pio() and/or
    mmio() (and optionally reset()), attach with vm.attach(dev), then claim
    addresses with map_pio()/map_mmio().

    pio(vcpu, io) / mmio(vcpu, io) run on the thread of the vCPU that made
    the access. For a write, return None (handled) or UNHANDLED. For a read,
    return the value the guest gets (an int, or bytes of length io.len),
    None (handled: the guest reads all-ones), or UNHANDLED. Raising stops the
    vCPU; run() re-raises the exception.

    Class attributes: name (default: the class name), concurrent (True lets
    the library call this device's callbacks on several vCPUs at once).
    """
    name = None
    concurrent = False

    def pio(self, vcpu, io):
        """Port I/O to a port this device mapped (override it)."""
        return UNHANDLED

    def mmio(self, vcpu, io):
        """MMIO to a range this device mapped (override it)."""
        return UNHANDLED

    def reset(self):
        """Called by VM.reset_devices()."""

    # -- everything below is machinery; subclasses need not touch it
    _vm = None
    _handle = None

    @property
    def vm(self):
        """The VM this device is attached to (None before attach/after detach)."""
        return self._vm

    def _h(self):
        if self._handle is None:
            raise ClosedError("device %r (not attached)" % self._name())
        return self._handle

    def _name(self):
        return self.name or type(self).__name__

    def map_pio(self, port, length=1):
        """Claim ports [port, port+length). Returns self."""
        _call("vmm_device_map_pio", self._h(), port, length)
        return self

    def map_mmio(self, gpa, length):
        """Claim guest physical [gpa, gpa+length). Returns self."""
        _call("vmm_device_map_mmio", self._h(), gpa, length)
        return self

    def unmap(self, space, addr):
        """Release the range of @space (Space) this device mapped at @addr."""
        _call("vmm_device_unmap", self._h(), int(space), addr)

    def detach(self):
        """Unmap everything and detach from the VM (idempotent)."""
        if self._handle is not None:
            _call("vmm_device_detach", self._handle)  # destroy callback clears

    def set_irq(self, gsi, level):
        """Drive interrupt line @gsi (0-23) of the VM's in-kernel irqchip:
        @level true asserts, false deasserts (an edge-triggered line: assert,
        then deassert) (vmm_device_set_irq()). Callable from callbacks and
        any thread. A VM without an irqchip (platform NONE) raises
        NotSupportedError with errno ENODEV."""
        _call("vmm_device_set_irq", self._h(), gsi, 1 if level else 0)

    def stats(self):
        """Access counters as a dict (struct vmm_device_stats)."""
        s = _lib.vmm_device_stats(struct_size=ctypes.sizeof(_lib.vmm_device_stats))
        _call("vmm_device_get_stats", self._h(), ctypes.byref(s))
        return {n: getattr(s, n) for n, _ in s._fields_
                if n not in ("struct_size", "reserved0")}

