"""libvmm for Python: build a virtual machine monitor out of Python objects.

    import vmm
    with vmm.VM() as vm:
        mem = vm.add_ram(0, 0x10000)          # a memoryview of guest RAM
        mem[0x1000:0x1000 + len(code)] = code
        vm.attach(Console()).map_pio(0x3f8)   # Console subclasses vmm.Device
        vcpu = vm.vcpus[0]
        vcpu.set_cpu_mode("real")
        vcpu.set_reg("rip", 0x1000)
        exit = vcpu.run()                     # vmm.Exit(reason=ExitReason.HLT ...)

Errors raise vmm.Error subclasses carrying errno and the library's detail
sentence. An exception raised by a device or hypercall callback stops the
vCPU and is re-raised, with its traceback, by the run() that ran it.
See docs/bindings-python.md.
"""

import atexit
import ctypes
import dataclasses
import enum
import errno as _errno
import mmap
import threading
import weakref

from . import _lib
from ._builtin import (COM1_PORT, COM2_PORT, COM3_PORT, COM4_PORT,
                       DEBUG_EXIT_PORT, SERIAL_NO_IRQ, BuiltinDevice, Serial,
                       _BuiltinDevicesMixin)
from ._device import UNHANDLED, Device, Io, Space, _in_callback, _to_bytes
from ._errors import (AccessError, BusyError, ClosedError,
                      DeviceCallbackError, Error, ExistsError, FaultError,
                      InvalidArgumentError, NoMemoryError, NoSpaceError,
                      NotFoundError, NotSupportedError, _call, _error)
from ._lib import IncompatibleLibraryError, LibraryNotFoundError
from ._loader import BootFlags, BootInfo, Compression, ImageFormat, _LoaderMixin
from ._pc import (CpuidOverride, CpuidReg, E820Entry, E820Type,
                  PC_HIGH_RAM_START, PC_MMIO_HOLE_START, _PcMixin)
from ._virtio import (VIRTIO_MMIO_BASE, VIRTIO_NO_IRQ, VIRTIO_PCI_MMIO_BASE,
                      VIRTIO_PCI_MMIO_SIZE, VIRTIO_QUEUE_SIZE_DEFAULT,
                      VIRTIO_QUEUE_SIZE_MAX, VirtioBlk, VirtioConsole,
                      VirtioDevice, VirtioDeviceId, VirtioInfo, VirtioNet,
                      VirtioRng, VirtioTransport, _VirtioDevicesMixin)

__version__ = "0.3.0"

__all__ = [
    "VM", "VCPU", "Device", "Regs", "Exit", "Io", "HypercallArgs", "Request",
    "ExitReason", "CpuMode", "Feature", "Space", "Platform", "RequestKind",
    "UNHANDLED", "PLATFORM_NONE", "PLATFORM_PC",
    "E820Entry", "E820Type", "CpuidOverride", "CpuidReg",
    "PC_MMIO_HOLE_START", "PC_HIGH_RAM_START",
    "BootInfo", "BootFlags", "ImageFormat", "Compression",
    "BuiltinDevice", "Serial", "COM1_PORT", "COM2_PORT", "COM3_PORT",
    "COM4_PORT", "SERIAL_NO_IRQ", "DEBUG_EXIT_PORT",
    "VirtioDevice", "VirtioBlk", "VirtioConsole", "VirtioRng", "VirtioNet",
    "VirtioInfo", "VirtioTransport", "VirtioDeviceId", "VIRTIO_NO_IRQ",
    "VIRTIO_MMIO_BASE", "VIRTIO_PCI_MMIO_BASE", "VIRTIO_PCI_MMIO_SIZE",
    "VIRTIO_QUEUE_SIZE_DEFAULT", "VIRTIO_QUEUE_SIZE_MAX",
    "Error", "InvalidArgumentError", "BusyError", "NotFoundError",
    "ExistsError", "FaultError", "NoMemoryError", "NoSpaceError",
    "AccessError", "NotSupportedError", "DeviceCallbackError", "ClosedError",
    "IncompatibleLibraryError", "LibraryNotFoundError",
    "library_version", "library_version_string", "has_feature",
    "set_log_handler",
]

_L = _lib.LIB
_U64 = (1 << 64) - 1

# Classes defined in the private modules present themselves as vmm.X (in
# reprs and tracebacks), where applications find them.
for _cls in (BuiltinDevice, Serial, Device, Io, Space, AccessError, BusyError,
             ClosedError, DeviceCallbackError, Error, ExistsError, FaultError,
             InvalidArgumentError, NoMemoryError, NoSpaceError, NotFoundError,
             NotSupportedError, BootFlags, BootInfo, Compression, ImageFormat,
             CpuidOverride, CpuidReg, E820Entry, E820Type, VirtioDevice,
             VirtioBlk, VirtioConsole, VirtioRng, VirtioNet, VirtioInfo,
             VirtioTransport, VirtioDeviceId):
    _cls.__module__ = __name__
del _cls


# ------------------------------------------------------------------ enums
class ExitReason(enum.IntEnum):
    """Why a run returned (enum vmm_exit_reason)."""
    NONE = _lib.VMM_EXIT_NONE
    HLT = _lib.VMM_EXIT_HLT
    SHUTDOWN = _lib.VMM_EXIT_SHUTDOWN
    PIO = _lib.VMM_EXIT_PIO
    MMIO = _lib.VMM_EXIT_MMIO
    STOPPED = _lib.VMM_EXIT_STOPPED
    KICKED = _lib.VMM_EXIT_KICKED
    INTERNAL_ERROR = _lib.VMM_EXIT_INTERNAL_ERROR
    FAIL_ENTRY = _lib.VMM_EXIT_FAIL_ENTRY
    DEVICE_ERROR = _lib.VMM_EXIT_DEVICE_ERROR
    SYSTEM_EVENT = _lib.VMM_EXIT_SYSTEM_EVENT
    UNKNOWN = _lib.VMM_EXIT_UNKNOWN
    REQUEST = _lib.VMM_EXIT_REQUEST


class RequestKind(enum.IntEnum):
    """What a device asked for when it ended a run (enum vmm_request_kind).
    Kinds from USER up are the application's own: USER + n (a plain int
    when n > 0)."""
    RESET = _lib.VMM_REQUEST_RESET
    POWEROFF = _lib.VMM_REQUEST_POWEROFF
    DEBUG_EXIT = _lib.VMM_REQUEST_DEBUG_EXIT
    USER = _lib.VMM_REQUEST_USER


class Platform(enum.IntEnum):
    """Which built-in machine a VM starts as (enum vmm_platform)."""
    NONE = _lib.VMM_PLATFORM_NONE
    PC = _lib.VMM_PLATFORM_PC


#: VM(platform=PLATFORM_NONE): nothing but what the caller attaches.
PLATFORM_NONE = Platform.NONE
#: VM(platform=PLATFORM_PC): in-kernel irqchip and PIT, CPUID and MSRs of a PC.
PLATFORM_PC = Platform.PC


class CpuMode(enum.IntEnum):
    """Modes VCPU.set_cpu_mode() establishes (enum vmm_cpu_mode)."""
    REAL = _lib.VMM_CPU_MODE_REAL
    PROTECTED = _lib.VMM_CPU_MODE_PROTECTED
    LONG = _lib.VMM_CPU_MODE_LONG


class Feature(enum.IntEnum):
    """Capabilities has_feature() probes (enum vmm_feature)."""
    READONLY_MEMORY = _lib.VMM_FEATURE_READONLY_MEMORY
    HYPERCALLS = _lib.VMM_FEATURE_HYPERCALLS
    VM_RUN = _lib.VMM_FEATURE_VM_RUN
    KICK = _lib.VMM_FEATURE_KICK
    LONG_MODE = _lib.VMM_FEATURE_LONG_MODE
    PLATFORM_PC = _lib.VMM_FEATURE_PLATFORM_PC
    EXTRACT_GZIP = _lib.VMM_FEATURE_EXTRACT_GZIP
    EXTRACT_XZ = _lib.VMM_FEATURE_EXTRACT_XZ
    EXTRACT_ZSTD = _lib.VMM_FEATURE_EXTRACT_ZSTD
    EXTRACT_LZ4 = _lib.VMM_FEATURE_EXTRACT_LZ4


# ------------------------------------------------------ module functions
def library_version():
    """(major, minor, patch) of the loaded libvmm."""
    n = _L.vmm_version()
    return n >> 16, (n >> 8) & 0xff, n & 0xff


def library_version_string():
    """The loaded libvmm's version text, e.g. "0.1.0"."""
    return _L.vmm_version_string().decode()


def has_feature(feature):
    """Whether libvmm on this host's KVM provides @feature (a Feature)."""
    return _call("vmm_has_feature", int(feature)) == 1


_log_fn = None  # the installed CFUNCTYPE: must outlive its registration
# vmm_set_log_callback() says a message being delivered concurrently may still
# reach the previous callback, and gives no way to know when that is over, so
# a replaced callback object is kept for the life of the process.
_log_fns_retired = []


def set_log_handler(handler, max_level=_lib.VMM_LOG_WARN):
    """Deliver library log messages to handler(level, message) (any thread;
    exceptions it raises are swallowed), or remove the handler with None."""
    global _log_fn
    if _log_fn is not None:
        _log_fns_retired.append(_log_fn)
    if handler is None:
        _call("vmm_set_log_callback", _lib.LOG_FN(), None, int(max_level))
        _log_fn = None
        return

    def tramp(level, msg, user):
        try:
            handler(level, msg.decode(errors="replace"))
        except BaseException:  # noqa: never unwind into C
            pass
    fn = _lib.LOG_FN(tramp)
    _call("vmm_set_log_callback", fn, None, int(max_level))
    _log_fn = fn


# --------------------------------------------------------- value classes
@dataclasses.dataclass
class Regs:
    """General-purpose registers, RIP and RFLAGS (struct vmm_regs)."""
    rax: int = 0
    rbx: int = 0
    rcx: int = 0
    rdx: int = 0
    rsi: int = 0
    rdi: int = 0
    rsp: int = 0
    rbp: int = 0
    r8: int = 0
    r9: int = 0
    r10: int = 0
    r11: int = 0
    r12: int = 0
    r13: int = 0
    r14: int = 0
    r15: int = 0
    rip: int = 0
    rflags: int = 2

    @classmethod
    def _from_c(cls, c):
        return cls(*(getattr(c, n) for n in _lib.REGS_FIELDS))

    def _to_c(self):
        return _lib.vmm_regs(*((getattr(self, n) & _U64)
                               for n in _lib.REGS_FIELDS))


@dataclasses.dataclass(frozen=True)
class HypercallArgs:
    """What the guest passed to a hypercall: nr (RAX), args (RDI, RSI, RCX,
    RBX, R8, R9)."""
    nr: int
    args: tuple


@dataclasses.dataclass(frozen=True)
class Request:
    """Why a device ended the run (struct vmm_exit_request): kind (a
    RequestKind, or an int for RequestKind.USER + n with n > 0) and value
    (for DEBUG_EXIT, the value the guest wrote)."""
    kind: int
    value: int


def _request_kind(kind):
    return RequestKind(kind) if kind in RequestKind._value2member_map_ else kind


class Exit:
    """What a vCPU did that nothing consumed (struct vmm_exit).

    reason (ExitReason), vcpu_index, error (negative errno for
    DEVICE_ERROR). PIO exits: port, size, count, is_write, data (bytes
    written). MMIO exits: gpa, len, is_write, data. REQUEST exits: request
    (a Request: kind and value; also value). For a guest read, call
    respond(value) before the vCPU runs again: the guest reads that value.
    """

    def __init__(self, c, vcpu):
        self.reason = ExitReason(c.reason) if c.reason in ExitReason._value2member_map_ else c.reason
        self.vcpu_index = c.vcpu_index
        self.error = c.error
        self._vcpu = vcpu
        self._generation = vcpu._generation if vcpu is not None else None
        self._buf = None
        self.port = self.gpa = self.size = self.count = self.len = None
        self.is_write = None
        self.data = None
        self.suberror = self.hardware_reason = self.kvm_reason = None
        self.request = None
        if self.reason == ExitReason.PIO:
            p = c.pio
            self.port, self.size, self.count = p.port, p.size, p.count
            self.is_write = bool(p.is_write)
            self.len = p.size * p.count
            self._buf = ctypes.cast(p.data, ctypes.c_void_p).value
        elif self.reason == ExitReason.MMIO:
            m = c.mmio
            self.gpa, self.len = m.gpa, m.len
            self.is_write = bool(m.is_write)
            self._buf = ctypes.cast(m.data, ctypes.c_void_p).value
        elif self.reason == ExitReason.INTERNAL_ERROR:
            self.suberror = c.internal.suberror
        elif self.reason == ExitReason.FAIL_ENTRY:
            self.hardware_reason = c.fail_entry.hardware_reason
        elif self.reason == ExitReason.UNKNOWN:
            self.kvm_reason = c.unknown.kvm_reason
        elif self.reason == ExitReason.REQUEST:
            self.request = Request(_request_kind(c.request.kind), c.request.value)
        if self._buf and self.is_write:
            self.data = ctypes.string_at(self._buf, self.len)

    @property
    def value(self):
        """The written value of a PIO/MMIO write as an unsigned int; for a
        REQUEST exit, request.value."""
        if self.request is not None:
            return self.request.value
        return None if self.data is None else int.from_bytes(self.data, "little")

    def respond(self, value):
        """Answer an unhandled guest read with @value (int or bytes of the
        access's length). Only valid until the vCPU runs again."""
        if self._buf is None or self.is_write:
            raise InvalidArgumentError(_errno.EINVAL, "respond(): not a guest read")
        v = self._vcpu
        if v._vm._handle is None or v._generation != self._generation:
            raise ClosedError("exit record (the vCPU ran again or the VM closed)")
        data = _to_bytes(value, self.len, "respond()")
        ctypes.memmove(self._buf, data, self.len)

    def __repr__(self):
        name = self.reason.name if isinstance(self.reason, ExitReason) else self.reason
        more = ""
        if self.reason == ExitReason.PIO:
            more = " port=%#x size=%d %s" % (self.port, self.size,
                                             "write" if self.is_write else "read")
        elif self.reason == ExitReason.MMIO:
            more = " gpa=%#x len=%d %s" % (self.gpa, self.len,
                                           "write" if self.is_write else "read")
        elif self.reason == ExitReason.DEVICE_ERROR:
            more = " error=%d" % self.error
        elif self.request is not None:
            kind = getattr(self.request.kind, "name", self.request.kind)
            more = " kind=%s value=%#x" % (kind, self.request.value)
        return "<vmm.Exit %s vcpu=%d%s>" % (name, self.vcpu_index, more)


# ------------------------------------------------------------------ vCPU
class VCPU:
    """A virtual CPU, owned by its VM (vm.vcpus[i]). Not thread-safe: run
    it on one thread at a time; kick() may be called from any thread."""

    def __init__(self, vm, handle, index):
        self._vm = vm
        self._handle_ = handle
        self.index = index
        self._generation = 0  # bumped per run: stale Exit records refuse respond()

    @property
    def vm(self):
        """The VM this vCPU belongs to."""
        return self._vm

    def _h(self):
        self._vm._h()
        return self._handle_

    def __repr__(self):
        return "<vmm.VCPU %d>" % self.index

    # registers
    def get_regs(self):
        """The general registers as a Regs."""
        c = _lib.vmm_regs()
        _call("vmm_vcpu_get_regs", self._h(), ctypes.byref(c))
        return Regs._from_c(c)

    def set_regs(self, regs):
        """Write every general register from a Regs."""
        _call("vmm_vcpu_set_regs", self._h(), ctypes.byref(regs._to_c()))

    regs = property(get_regs, set_regs, doc="The general registers (Regs).")

    def get_sregs(self):
        """Segment/control registers as the ctypes struct vmm_sregs mirror
        (mutable; pass it back to set_sregs())."""
        s = _lib.vmm_sregs()
        _call("vmm_vcpu_get_sregs", self._h(), ctypes.byref(s))
        return s

    def set_sregs(self, sregs):
        """Write the segment/control registers from a vmm_sregs mirror."""
        _call("vmm_vcpu_set_sregs", self._h(), ctypes.byref(sregs))

    @staticmethod
    def _reg(name):
        if isinstance(name, str):
            try:
                return _lib.REG_NAMES.index(name.upper())
            except ValueError:
                raise InvalidArgumentError(_errno.EINVAL,
                                           "unknown register %r" % name) from None
        return int(name)

    def get_reg(self, name):
        """One register by name ("rip", "cr0", "efer", ...)."""
        v = ctypes.c_uint64()
        _call("vmm_vcpu_get_reg", self._h(), self._reg(name), ctypes.byref(v))
        return v.value

    def set_reg(self, name, value):
        """Write one register by name (masked to 64 bits)."""
        _call("vmm_vcpu_set_reg", self._h(), self._reg(name), value & _U64)

    def set_cpu_mode(self, mode, *, user=False, tables_gpa=0, tables_size=0,
                     identity_map_size=0):
        """Enter CpuMode @mode (or "real"/"protected"/"long"); PROTECTED and
        LONG write their tables at tables_gpa (see vmm_vcpu_set_cpu_mode())."""
        if isinstance(mode, str):
            mode = CpuMode[mode.upper()]
        cfg = _lib.vmm_cpu_mode_config(
            struct_size=ctypes.sizeof(_lib.vmm_cpu_mode_config), mode=int(mode),
            flags=_lib.VMM_CPU_MODE_F_USER if user else 0,
            tables_gpa=tables_gpa, tables_size=tables_size,
            identity_map_size=identity_map_size)
        _call("vmm_vcpu_set_cpu_mode", self._h(), ctypes.byref(cfg))

    def get_cpuid(self):
        """The CPUID table as a list of struct vmm_cpuid_entry mirrors."""
        n = ctypes.c_uint32(0)
        rc = _L.vmm_vcpu_get_cpuid(self._h(), None, ctypes.byref(n))
        if rc < 0 and rc != -_errno.E2BIG:
            raise _error(rc, "vmm_vcpu_get_cpuid")
        arr = (_lib.vmm_cpuid_entry * n.value)()
        _call("vmm_vcpu_get_cpuid", self._h(), arr, ctypes.byref(n))
        return list(arr[:n.value])

    def set_cpuid(self, entries):
        """Replace the CPUID table (before the vCPU first runs)."""
        arr = (_lib.vmm_cpuid_entry * len(entries))(*entries)
        _call("vmm_vcpu_set_cpuid", self._h(), arr, len(entries))

    # running
    def run(self):
        """Run on this thread until something nothing consumed happens;
        return it as an Exit. Re-raises an exception a callback raised."""
        vm = self._vm
        c = _lib.vmm_exit()
        with vm._running():
            self._generation += 1
            rc = _L.vmm_vcpu_run(self._handle_, ctypes.byref(c))
            err = None if rc >= 0 else _error(rc, "vmm_vcpu_run")
        vm._raise_pending(self.index)
        if err is not None:
            if c.reason == _lib.VMM_EXIT_DEVICE_ERROR:
                raise DeviceCallbackError(err.errno, err.detail, err.function)
            raise err
        return Exit(c, self)

    def kick(self):
        """Make the vCPU's current (or next) run return ExitReason.KICKED."""
        _call("vmm_vcpu_kick", self._h())

    def request_exit(self, kind, value=0):
        """End this vCPU's run with ExitReason.REQUEST and Request(kind,
        value) once the current access is handled (vmm_vcpu_request_exit()):
        how a device stops the guest with a reason. @kind is a RequestKind
        or RequestKind.USER + n. Call it from a callback running on this
        vCPU, or while it does not run (its next run() then returns at once).
        A later request before the run returns replaces an earlier one."""
        _call("vmm_vcpu_request_exit", self._h(), int(kind), value & _U64)


# -------------------------------------------------------------------- VM
class _Region:
    __slots__ = ("gpa", "size", "mmap", "anchor", "views")

    def __init__(self, gpa, size, m, anchor):
        self.gpa, self.size, self.mmap, self.anchor = gpa, size, m, anchor
        self.views = []

    def release(self):
        """Invalidate every view handed out, then unmap if nothing else
        holds the memory (a buffer the caller derived keeps it mapped, and
        so safe, until it goes away)."""
        for v in reversed(self.views):
            try:
                v.release()
            except BufferError:
                pass  # exported further (e.g. numpy): stays valid, not guest RAM
        self.views.clear()
        self.anchor = None
        try:
            self.mmap.close()
        except BufferError:
            pass


_live_vms = weakref.WeakSet()


@atexit.register
def _close_all_at_exit():
    for vm in list(_live_vms):
        try:
            vm.close()
        except BaseException:
            pass


class VM(_PcMixin, _LoaderMixin, _BuiltinDevicesMixin, _VirtioDevicesMixin):
    """A virtual machine and its vCPUs (vmm_vm_create()).

    VM(num_vcpus=1, *, vcpus=None, platform=PLATFORM_NONE,
    hypercall_port=0x600, kick_signal=0, open_bus=False); vcpus= is another
    spelling of num_vcpus; open_bus=True answers port I/O and MMIO that no
    device claims as an open bus (VMM_VM_F_OPEN_BUS: reads all-ones, writes
    dropped) instead of returning them from run(). Use as a context manager, or call close(); close() is
    idempotent and also runs when the object is collected or at interpreter
    exit.
    """

    def __init__(self, num_vcpus=1, *, vcpus=None,
                 hypercall_port=_lib.VMM_HYPERCALL_PORT_DEFAULT,
                 kick_signal=0, platform=_lib.VMM_PLATFORM_NONE, open_bus=False):
        if vcpus is not None:
            if num_vcpus not in (1, vcpus):
                raise TypeError("VM() got both num_vcpus=%r and vcpus=%r"
                                % (num_vcpus, vcpus))
            num_vcpus = vcpus
        self._handle = None
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._runners = 0
        self._runner_threads = set()
        self._pending = []           # [(vcpu index or None, exception)]
        self._devices = []           # attached Device objects
        self._hypercalls = {}        # nr -> HYPERCALL_FN (kept alive)
        self._regions = []           # _Region, sorted by insertion
        self._keepalive = []         # C callbacks of detached built-in devices
        self._destroy = _L.vmm_vm_destroy  # usable from __del__ at shutdown
        cfg = _lib.vmm_vm_config()
        _L.vmm_vm_config_init(ctypes.byref(cfg))
        cfg.num_vcpus = num_vcpus
        cfg.hypercall_port = hypercall_port
        cfg.kick_signal = kick_signal
        cfg.platform = platform
        cfg.flags = _lib.VMM_VM_F_OPEN_BUS if open_bus else 0
        h = ctypes.c_void_p()
        _call("vmm_vm_create", ctypes.byref(cfg), ctypes.byref(h))
        self._handle = h.value
        self.platform = Platform(platform) if platform in Platform._value2member_map_ else platform
        _live_vms.add(self)
        vcpus = []
        for i in range(num_vcpus):
            v = ctypes.c_void_p()
            _call("vmm_vm_get_vcpu", self._handle, i, ctypes.byref(v))
            vcpus.append(VCPU(self, v.value, i))
        self.vcpus = tuple(vcpus)
        self._vcpu_by_ptr = {v._handle_: v for v in vcpus}

    # life cycle
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except BaseException:
            pass

    @property
    def closed(self):
        """Whether close() has run."""
        return self._handle is None

    def _h(self):
        h = self._handle
        if h is None:
            raise ClosedError()
        return h

    def close(self):
        """Destroy the VM: stop and wait for any running vCPU, detach every
        device, invalidate every memoryview of its RAM. Idempotent."""
        with self._lock:
            h = self._handle
            if h is None:
                return
            if (threading.get_ident() in self._runner_threads
                    or getattr(_in_callback, "vm", None) is self):
                raise BusyError(_errno.EBUSY, "VM.close() from one of its own "
                                "callbacks or vCPU threads: call stop() instead")
            while self._runners:
                _L.vmm_vm_stop(h)
                self._idle.wait(0.05)
            self._handle = None
        self._destroy(h)  # runs each device's destroy callback (kept alive below)
        for d in self._devices:
            d._handle = None
            d._vm = None
        self._devices.clear()
        self._keepalive.clear()
        self._hypercalls.clear()
        for r in self._regions:
            r.release()
        self._regions.clear()
        _live_vms.discard(self)

    def __repr__(self):
        state = "closed" if self._handle is None else "%d vCPUs" % len(self.vcpus)
        return "<vmm.VM %s>" % state

    # memory
    def add_ram(self, gpa, size, *, readonly=False):
        """Add @size bytes of zeroed guest RAM at @gpa (both page-aligned) and
        return a memoryview of it. The view is released (unusable) when the
        region is removed or the VM closed."""
        h = self._h()
        m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE)
        anchor = ctypes.c_char.from_buffer(m)  # pins m: it cannot be unmapped
        flags = _lib.VMM_MEM_READONLY if readonly else 0
        rc = _L.vmm_memory_add_host(h, gpa, ctypes.addressof(anchor), size, flags)
        if rc < 0:
            err = _error(rc, "vmm_memory_add_host")
            del anchor
            m.close()
            raise err
        self._regions.append(_Region(gpa, size, m, anchor))
        return self.memory(gpa, size)

    def add_fd(self, gpa, size, fd, offset=0, *, readonly=False):
        """Add guest memory mapped from file descriptor @fd (MAP_SHARED).
        Access it with read()/write() (no memoryview)."""
        flags = _lib.VMM_MEM_READONLY if readonly else 0
        _call("vmm_memory_add_fd", self._h(), gpa, size, fd, offset, flags, None)

    def remove_memory(self, gpa):
        """Remove the region starting at @gpa; its memoryviews are released."""
        _call("vmm_memory_remove", self._h(), gpa)
        for r in self._regions:
            if r.gpa == gpa:
                self._regions.remove(r)
                r.release()
                break

    def memory(self, gpa, size):
        """A memoryview of guest RAM [gpa, gpa+size) inside one region added
        by add_ram(); released when that region or the VM goes away."""
        self._h()
        for r in self._regions:
            if r.gpa <= gpa and size >= 0 and gpa + size <= r.gpa + r.size:
                base = memoryview(r.mmap)
                view = base[gpa - r.gpa:gpa - r.gpa + size]
                r.views += (base, view)
                return view
        raise FaultError(_errno.EFAULT, "guest range [%#x, %#x) is not inside "
                         "one region added by add_ram()" % (gpa, gpa + size))

    def read(self, gpa, size):
        """Copy @size bytes of guest memory at @gpa (any region)."""
        buf = ctypes.create_string_buffer(size)
        _call("vmm_memory_read", self._h(), gpa, buf, size)
        return buf.raw

    def write(self, gpa, data):
        """Copy @data (bytes-like) into guest memory at @gpa."""
        data = bytes(data)
        _call("vmm_memory_write", self._h(), gpa, data, len(data))

    # devices and hypercalls
    def attach(self, device):
        """Attach @device (a Device instance) and return it. The VM keeps it
        (and its callbacks) alive until it is detached or the VM closed."""
        h = self._h()
        if not isinstance(device, Device) or isinstance(device, BuiltinDevice):
            raise TypeError("attach() needs a vmm.Device subclass written in "
                            "Python, got %r" % type(device))
        if device._handle is not None:
            raise BusyError(_errno.EBUSY, "device %r is already attached" % device._name())
        cls = type(device)
        ops = _lib.vmm_device_ops(struct_size=ctypes.sizeof(_lib.vmm_device_ops))
        ops.flags = _lib.VMM_DEVICE_F_CONCURRENT if device.concurrent else 0
        ops.name = device._name().encode()
        if cls.pio is not Device.pio:
            ops.pio = _lib.IO_FN(self._io_trampoline(device, device.pio, "pio"))
        if cls.mmio is not Device.mmio:
            ops.mmio = _lib.IO_FN(self._io_trampoline(device, device.mmio, "mmio"))
        if cls.reset is not Device.reset:
            ops.reset = _lib.RESET_FN(self._reset_trampoline(device))
        ops.destroy = _lib.DESTROY_FN(self._destroy_trampoline(device))
        # ops is copied by the library; the CFUNCTYPE objects must live on:
        device._callbacks = (ops.pio, ops.mmio, ops.reset, ops.destroy)
        out = ctypes.c_void_p()
        device._vm = self
        self._devices.append(device)
        rc = _L.vmm_device_attach(h, ctypes.byref(ops), None, ctypes.byref(out))
        if rc < 0:
            err = _error(rc, "vmm_device_attach")
            self._forget(device)  # destroy ran (or nothing was taken)
            raise err
        device._handle = out.value
        return device

    def _forget(self, device):
        device._handle = None
        device._vm = None
        if device in self._devices:
            self._devices.remove(device)

    def hypercall(self, nr):
        """Decorator registering fn(vcpu, call) for hypercall @nr; call is a
        HypercallArgs. fn returns the int put in the guest's RAX (None means
        0) or UNHANDLED; raising stops the vCPU."""
        def register(fn):
            self.register_hypercall(nr, fn)
            return fn
        return register

    def register_hypercall(self, nr, fn):
        """Register fn(vcpu, call) for hypercall @nr (see hypercall())."""
        cb = _lib.HYPERCALL_FN(self._hypercall_trampoline(nr, fn))
        _call("vmm_hypercall_register", self._h(), nr, cb, None)
        self._hypercalls[nr] = cb

    def unregister_hypercall(self, nr):
        """Remove the handler of hypercall @nr (NotFoundError if none)."""
        _call("vmm_hypercall_unregister", self._h(), nr)
        self._hypercalls.pop(nr, None)

    # running
    def run_all(self):
        """Run every vCPU on library threads (vmm_vm_run()) until all halt
        or one ends the run; return the Exit that ended it. Re-raises the
        first exception a callback raised."""
        c = _lib.vmm_exit()
        with self._running():
            for v in self.vcpus:
                v._generation += 1
            rc = _L.vmm_vm_run(self._handle, ctypes.byref(c))
            err = None if rc >= 0 else _error(rc, "vmm_vm_run")
        self._raise_pending(None)
        if err is not None:
            if c.reason == _lib.VMM_EXIT_DEVICE_ERROR:
                raise DeviceCallbackError(err.errno, err.detail, err.function)
            raise err
        vcpu = self.vcpus[c.vcpu_index] if c.vcpu_index < len(self.vcpus) else None
        return Exit(c, vcpu)

    def stop(self):
        """Ask every vCPU to return ExitReason.STOPPED (any thread; also
        from callbacks). Returns without waiting."""
        _call("vmm_vm_stop", self._h())

    def reset_devices(self):
        """Call every attached device's reset(), in attach order."""
        _call("vmm_vm_reset_devices", self._h())
        self._raise_pending(None)

    def stats(self):
        """Exit counters: {"total": n, "pio": n, "mmio": n, ...}."""
        s = _lib.vmm_vm_stats(struct_size=ctypes.sizeof(_lib.vmm_vm_stats))
        _call("vmm_vm_get_stats", self._h(), ctypes.byref(s))
        d = {"total": s.exits_total}
        for i, n in enumerate(_lib.STAT_EXIT_NAMES):
            d[n.lower()] = s.exits[i]
        return d

    # -- machinery
    class _RunGuard:
        __slots__ = ("vm",)

        def __init__(self, vm):
            self.vm = vm

        def __enter__(self):
            vm = self.vm
            with vm._lock:
                if vm._handle is None:
                    raise ClosedError()
                vm._runners += 1
                vm._runner_threads.add(threading.get_ident())

        def __exit__(self, *exc):
            vm = self.vm
            with vm._lock:
                vm._runners -= 1
                vm._runner_threads.discard(threading.get_ident())
                vm._idle.notify_all()

    def _running(self):
        return VM._RunGuard(self)

    def _stash(self, index, exc, where):
        """Keep an exception a callback raised, for run() to re-raise."""
        try:
            exc.add_note("(raised in %s%s)" % (
                where, "" if index is None else " on vCPU %s" % index))
        except Exception:
            pass
        with self._lock:
            self._pending.append((index, exc))
        if isinstance(exc, OSError) and exc.errno:
            return -abs(exc.errno)
        if isinstance(exc, Error):
            return -exc.errno
        return -_errno.EIO

    def _raise_pending(self, index):
        with self._lock:
            for i, (idx, exc) in enumerate(self._pending):
                if index is None or idx == index or idx is None:
                    del self._pending[i]
                    break
            else:
                return
            if index is None:
                self._pending.clear()  # one run_all raises one exception
        try:
            raise exc  # keeps exc.__traceback__: the callback's frames
        finally:
            exc = None

    def _vcpu_of(self, ptr):
        return self._vcpu_by_ptr.get(ptr)

    def _io_trampoline(self, device, method, kind):
        where = "%s.%s()" % (type(device).__name__, kind)
        string_at, memmove = ctypes.string_at, ctypes.memmove
        vcpu_of = self._vcpu_by_ptr.get

        tls = _in_callback

        def tramp(dev_p, vcpu_p, io_p, user):
            vcpu = None
            tls.vm = self
            try:
                vcpu = vcpu_of(vcpu_p)
                c = io_p[0]
                n = c.len
                if c.is_write:
                    ret = method(vcpu, Io(c.addr, c.offset, n, True, c.space,
                                          string_at(c.data, n)))
                    if ret is None or ret is UNHANDLED or ret == 0:
                        return 1 if ret is UNHANDLED else 0
                    raise TypeError("%s: a write callback returns None or "
                                    "vmm.UNHANDLED, not %r" % (where, ret))
                ret = method(vcpu, Io(c.addr, c.offset, n, False, c.space, None))
                if ret is UNHANDLED:
                    return 1
                if ret is not None:
                    memmove(c.data, _to_bytes(ret, n, where), n)
                return 0
            except BaseException as e:  # never unwind through C
                return self._stash(vcpu.index if vcpu else None, e, where)
            finally:
                tls.vm = None
        return tramp

    def _reset_trampoline(self, device):
        def tramp(dev_p, user):
            try:
                device.reset()
            except BaseException as e:
                self._stash(None, e, "%s.reset()" % type(device).__name__)
        return tramp

    def _destroy_trampoline(self, device):
        vm_ref = weakref.ref(self)

        def tramp(user):
            try:
                vm = vm_ref()
                if vm is not None and device._vm is vm and vm._handle is not None:
                    vm._forget(device)  # detached (vmm_device_detach)
            except BaseException:
                pass
        return tramp

    def _hypercall_trampoline(self, nr, fn):
        where = "hypercall %#x handler %s()" % (nr, getattr(fn, "__name__", "?"))
        vcpu_of = self._vcpu_by_ptr.get

        tls = _in_callback

        def tramp(vcpu_p, call_p, result_p, user):
            vcpu = None
            tls.vm = self
            try:
                vcpu = vcpu_of(vcpu_p)
                c = call_p[0]
                ret = fn(vcpu, HypercallArgs(c.nr, tuple(c.args)))
                if ret is UNHANDLED:
                    return 1
                result_p[0] = 0 if ret is None else int(ret) & _U64
                return 0
            except BaseException as e:
                return self._stash(vcpu.index if vcpu else None, e, where)
            finally:
                tls.vm = None
        return tramp
