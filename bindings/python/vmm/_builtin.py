"""Device models built into libvmm (devices/serial.h, devices/legacy.h):
the 16550A UART, the i8042 reset controller, the CMOS RTC and the
debug-exit port, attached with the vm.attach_*() methods."""

import codecs
import ctypes
import io

from . import _lib
from ._device import Device, _in_callback
from ._errors import _call, _error

_L = _lib.LIB

#: Standard PC serial ports (base of 8 ports each).
COM1_PORT = _lib.VMM_SERIAL_COM1_PORT
COM2_PORT = _lib.VMM_SERIAL_COM2_PORT
COM3_PORT = _lib.VMM_SERIAL_COM3_PORT
COM4_PORT = _lib.VMM_SERIAL_COM4_PORT
#: attach_serial(irq=SERIAL_NO_IRQ): a UART without an interrupt line.
SERIAL_NO_IRQ = _lib.VMM_SERIAL_NO_IRQ
#: QEMU's isa-debug-exit port, the default of attach_debug_exit().
DEBUG_EXIT_PORT = _lib.VMM_DEBUG_EXIT_PORT

# The PC's wiring: COM1 and COM3 share IRQ 4, COM2 and COM4 IRQ 3.
_STANDARD_IRQ = {COM1_PORT: _lib.VMM_SERIAL_COM1_IRQ, COM3_PORT: _lib.VMM_SERIAL_COM1_IRQ,
                 COM2_PORT: _lib.VMM_SERIAL_COM2_IRQ, COM4_PORT: _lib.VMM_SERIAL_COM2_IRQ}


class BuiltinDevice(Device):
    """A device model implemented inside libvmm. It is mapped already;
    map_pio()/unmap()/detach()/stats()/set_irq() work as for any Device,
    and the VM owns it like one. Not a base class for Python devices."""

    def __init__(self, vm, handle):
        self._vm = vm
        self._handle = handle
        self.name = (_L.vmm_device_name(handle) or b"?").decode(errors="replace")
        self._callbacks = ()  # C callbacks the library may call

    def detach(self):
        """Unmap everything and detach from the VM (idempotent)."""
        if self._handle is None:
            return
        _call("vmm_device_detach", self._handle)
        vm = self._vm
        vm._keepalive.extend(self._callbacks)  # to be safe until the VM closes
        vm._forget(self)

    def __repr__(self):
        state = "detached" if self._handle is None else "attached"
        return "<vmm.%s %r %s>" % (type(self).__name__, self.name, state)


class Serial(BuiltinDevice):
    """The built-in 16550A UART (vm.attach_serial()). input() queues bytes
    for the guest to receive."""

    def input(self, data):
        """Queue @data (bytes-like) for the guest: into the 16-byte receive
        FIFO and a 4096-byte host-side buffer behind it, raising the receive
        interrupt if the guest enabled it (vmm_serial_input()). Returns how
        many bytes were accepted (fewer than len(data) when the buffer is
        full). Thread-safe; also callable from callbacks."""
        data = bytes(data)
        return _call("vmm_serial_input", self._h(), data, len(data))


def _fd_of(obj, what):
    """An fd number from an int or an object with fileno()."""
    if isinstance(obj, int):
        return obj
    try:
        return obj.fileno()
    except (AttributeError, io.UnsupportedOperation, ValueError):
        raise TypeError("%s must be an fd or have a working fileno(), got %r"
                        % (what, obj)) from None


def _output_sink(out, what="attach_serial(out=)"):
    """(python callable taking bytes or None, out_fd) for attach_serial(out=)
    (and attach_virtio_console(out=), named by @what in errors)."""
    if out is None:
        return None, -1
    if isinstance(out, int):
        return None, out
    if callable(out):
        return out, -1
    if hasattr(out, "write"):
        if isinstance(out, io.TextIOBase):
            # Guest bytes come one at a time: decode across calls.
            decode = codecs.getincrementaldecoder("utf-8")("replace").decode

            def write_text(data):
                out.write(decode(data))
                out.flush()
            return write_text, -1

        def write_bytes(data):
            out.write(data)
            out.flush()
        return write_bytes, -1
    raise TypeError("%s takes None, an fd, a callable or a "
                    "file object, not %r" % (what, type(out)))


class _BuiltinDevicesMixin:
    """VM methods attaching built-in device models (mixed into vmm.VM)."""

    def attach_serial(self, port=COM1_PORT, irq=None, out=None, in_fd=None):
        """Attach a 16550A UART on ports [port, port+8) and return its
        Serial (vmm_serial_attach()).

        @irq: the GSI it raises; None picks the PC's line for COM1-COM4 (4
        or 3) on a VM with an irqchip (platform PC), SERIAL_NO_IRQ otherwise.
        @out: where guest output goes: None (dropped); an int fd (written by
        the library, blocking, on the vCPU thread: the fastest); a callable
        taking bytes; or a file object (binary ones get bytes, io.TextIOBase
        ones text decoded as UTF-8; flushed after each write). The callable
        or write() runs on the vCPU thread that wrote the byte; an exception
        in it fails that write, so the vCPU stops, and run() re-raises it. @in_fd: an fd or file object the library reads guest
        input from on its own thread. Fds are borrowed: keep them open while
        the device exists (a file object passed here is kept referenced).
        """
        h = self._h()
        cfg = _lib.serial_config_init()
        cfg.port = port
        if irq is None:
            has_irqchip = int(self.platform) == _lib.VMM_PLATFORM_PC
            irq = _STANDARD_IRQ.get(port, SERIAL_NO_IRQ) if has_irqchip else SERIAL_NO_IRQ
        cfg.irq = irq
        sink, cfg.out_fd = _output_sink(out)
        cfg.in_fd = -1 if in_fd is None else _fd_of(in_fd, "attach_serial(in_fd=)")
        callbacks = ()
        if sink is not None:
            cfg.out_fn = _lib.SERIAL_OUTPUT_FN(self._serial_trampoline(sink, port))
            callbacks = (cfg.out_fn,)
        dev = ctypes.c_void_p()
        rc = _L.vmm_serial_attach(h, ctypes.byref(cfg), ctypes.byref(dev))
        if rc < 0:
            raise _error(rc, "vmm_serial_attach")
        serial = self._register_builtin(Serial(self, dev.value))
        serial._callbacks = callbacks
        serial._files = tuple(f for f in (out, in_fd)
                              if f is not None and not isinstance(f, int) and not callable(f))
        return serial

    def attach_i8042(self):
        """Attach an i8042 keyboard controller on ports 0x60 and 0x64
        (vmm_i8042_attach()). The guest's command 0xFE (pulse reset) ends
        the run with ExitReason.REQUEST, RequestKind.RESET."""
        return self._attach_builtin("vmm_i8042_attach")

    def attach_rtc(self):
        """Attach a CMOS RTC on ports 0x70-0x71 showing the host's UTC time,
        with the memory-size bytes filled from the VM's RAM
        (vmm_rtc_attach())."""
        return self._attach_builtin("vmm_rtc_attach")

    def attach_debug_exit(self, port=DEBUG_EXIT_PORT):
        """Attach a debug-exit port on [port, port+4): a guest write of v (1,
        2 or 4 bytes) ends the run with ExitReason.REQUEST,
        RequestKind.DEBUG_EXIT and value v (vmm_debug_exit_attach())."""
        return self._attach_builtin("vmm_debug_exit_attach", port)

    # -- machinery
    def _attach_builtin(self, function, *args):
        dev = ctypes.c_void_p()
        _call(function, self._h(), *args, ctypes.byref(dev))
        return self._register_builtin(BuiltinDevice(self, dev.value))

    def _register_builtin(self, device):
        self._devices.append(device)
        return device

    def _serial_trampoline(self, sink, port):
        """The C output callback: never raises into C. An exception fails
        the guest's write (the vCPU stops with its errno, EIO by default)
        and run() re-raises it, as for a Device callback."""
        where = "serial@%#x output callback" % port
        string_at = ctypes.string_at
        vcpu_of = self._vcpu_of
        tls = _in_callback

        def tramp(vcpu_p, data, length, user):
            vcpu = None
            tls.vm = self
            try:
                vcpu = vcpu_of(vcpu_p)
                sink(string_at(data, length))
                return 0
            except BaseException as e:  # never unwind through C
                return self._stash(vcpu.index if vcpu else None, e, where)
            finally:
                tls.vm = None
        return tramp
