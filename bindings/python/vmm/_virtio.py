"""The built-in virtio 1.2 devices (devices/virtio.h): block, console,
entropy and network, over virtio-pci or virtio-mmio, attached with the
vm.attach_virtio_*() methods.

The config builders (transport_config(), blk_config(), ...) check their
arguments before anything reaches the library: ctypes would otherwise cut
an out-of-range int to the field's width without a word."""

import ctypes
import dataclasses
import enum
import errno as _errno
import os

from . import _lib
from ._builtin import BuiltinDevice, _fd_of, _output_sink
from ._device import _in_callback
from ._errors import InvalidArgumentError, _call, _error

_L = _lib.LIB

#: irq=VIRTIO_NO_IRQ: a device without an interrupt line (polling guests).
VIRTIO_NO_IRQ = _lib.VMM_VIRTIO_NO_IRQ
#: Where virtio-mmio devices go by default: device n at base + n * 4 KiB.
VIRTIO_MMIO_BASE = _lib.VMM_VIRTIO_MMIO_BASE
#: The window virtio-pci BARs are assigned from.
VIRTIO_PCI_MMIO_BASE = _lib.VMM_VIRTIO_PCI_MMIO_BASE
VIRTIO_PCI_MMIO_SIZE = _lib.VMM_VIRTIO_PCI_MMIO_SIZE
#: Queue size offered when queue_size=0; the largest one allowed.
VIRTIO_QUEUE_SIZE_DEFAULT = _lib.VMM_VIRTIO_QUEUE_SIZE_DEFAULT
VIRTIO_QUEUE_SIZE_MAX = _lib.VMM_VIRTIO_QUEUE_SIZE_MAX

_U32 = (1 << 32) - 1
_U64 = (1 << 64) - 1
_PAGE = 4096
_BLK_SERIAL_MAX = 20   # VIRTIO_BLK_ID_BYTES (virtio 1.2, 5.2.6)
_IFNAMSIZ = 16         # Linux: interface names have at most 15 bytes


class VirtioTransport(enum.IntEnum):
    """Transport of a virtio device (enum vmm_virtio_transport)."""
    PCI = _lib.VMM_VIRTIO_TRANSPORT_PCI
    MMIO = _lib.VMM_VIRTIO_TRANSPORT_MMIO


class VirtioDeviceId(enum.IntEnum):
    """Virtio device types of the built-in devices (virtio 1.2, 5)."""
    NET = 1
    BLOCK = 2
    CONSOLE = 3
    ENTROPY = 4


def _enum_or_int(cls, value):
    return cls(value) if value in cls._value2member_map_ else value


@dataclasses.dataclass(frozen=True)
class VirtioInfo:
    """What a virtio device is and where it ended up (struct
    vmm_virtio_info, from VirtioDevice.info())."""
    device_id: int        #: a VirtioDeviceId
    transport: int        #: a VirtioTransport
    irq: int              #: the GSI, or VIRTIO_NO_IRQ
    mmio_base: int        #: MMIO: the register page; PCI: BAR 0 as it is now
    pci_slot: int         #: PCI: the device number on bus 0; MMIO: 0
    status: int           #: the device status byte as the driver set it
    needs_reset: bool     #: the guest broke the virtqueue protocol
    driver_features: int  #: the feature bits the driver accepted
    requests: int         #: chains completed, all queues
    violations: int       #: protocol violations seen

    @classmethod
    def _from_c(cls, c):
        values = {n: getattr(c, n) for n in _lib.VIRTIO_INFO_FIELDS}
        values["device_id"] = _enum_or_int(VirtioDeviceId, values["device_id"])
        values["transport"] = _enum_or_int(VirtioTransport, values["transport"])
        values["needs_reset"] = bool(values["needs_reset"])
        return cls(**values)


class VirtioDevice(BuiltinDevice):
    """A built-in virtio device (vm.attach_virtio_*()). info() reports
    where it is and what the guest's driver did with it."""

    def info(self):
        """A VirtioInfo (vmm_virtio_get_info()). Thread-safe."""
        c = _lib.vmm_virtio_info(struct_size=ctypes.sizeof(_lib.vmm_virtio_info))
        _call("vmm_virtio_get_info", self._h(), ctypes.byref(c))
        return VirtioInfo._from_c(c)


class VirtioBlk(VirtioDevice):
    """A virtio-blk disk (vm.attach_virtio_blk())."""


class VirtioConsole(VirtioDevice):
    """A virtio-console with one port (vm.attach_virtio_console());
    input() queues bytes for the guest."""

    def input(self, data):
        """Queue @data (bytes-like) for the guest: into a 64 KiB host
        buffer, delivered as the driver posts receive buffers
        (vmm_virtio_console_input()). Returns how many bytes were accepted
        (fewer than len(data) when the buffer is full). Thread-safe."""
        data = bytes(data)
        return _call("vmm_virtio_console_input", self._h(), data, len(data))


class VirtioRng(VirtioDevice):
    """A virtio entropy device (vm.attach_virtio_rng())."""


class VirtioNet(VirtioDevice):
    """A virtio-net NIC on a TAP device (vm.attach_virtio_net())."""


# ------------------------------------------------------------ builders
def _invalid(fn, text):
    return InvalidArgumentError(_errno.EINVAL, "%s: %s" % (fn, text), fn)


def _uint(fn, name, value, limit):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("%s: %s must be an int, not %r" % (fn, name, type(value)))
    if not 0 <= value <= limit:
        raise _invalid(fn, "%s %r is out of range 0..%#x" % (name, value, limit))
    return value


def _transport_kind(fn, transport):
    if isinstance(transport, str):
        try:
            return VirtioTransport[transport.upper()]
        except KeyError:
            pass
    elif isinstance(transport, int) and not isinstance(transport, bool):
        if transport in VirtioTransport._value2member_map_:
            return VirtioTransport(transport)
    else:
        raise TypeError("%s: transport must be \"pci\", \"mmio\" or a "
                        "VirtioTransport, not %r" % (fn, type(transport)))
    raise _invalid(fn, "transport %r is neither \"pci\" nor \"mmio\"" % (transport,))


def transport_config(transport="pci", *, inline=False, irq=None, mmio_base=0,
                     pci_slot=0, queue_size=0, has_irqchip=True,
                     fn="attach_virtio"):
    """A vmm_virtio_transport_config from the attach_virtio_*() keywords.
    @irq None picks a line (0) when @has_irqchip, else VIRTIO_NO_IRQ."""
    kind = _transport_kind(fn, transport)
    t = _lib.virtio_transport_init()
    t.transport = int(kind)
    t.flags = _lib.VMM_VIRTIO_F_INLINE if inline else 0
    if irq is None:
        irq = 0 if has_irqchip else VIRTIO_NO_IRQ
    t.irq = _uint(fn, "irq", irq, _U32)
    mmio_base = _uint(fn, "mmio_base", mmio_base, _U64)
    if mmio_base and kind != VirtioTransport.MMIO:
        raise _invalid(fn, "mmio_base is for transport \"mmio\" only (PCI BARs "
                       "are assigned by the library)")
    if mmio_base % _PAGE:
        raise _invalid(fn, "mmio_base %#x is not 4 KiB-aligned" % mmio_base)
    t.mmio_base = mmio_base
    pci_slot = _uint(fn, "pci_slot", pci_slot, 31)
    if pci_slot and kind != VirtioTransport.PCI:
        raise _invalid(fn, "pci_slot is for transport \"pci\" only")
    t.pci_slot = pci_slot
    queue_size = _uint(fn, "queue_size", queue_size, VIRTIO_QUEUE_SIZE_MAX)
    if queue_size & (queue_size - 1):
        raise _invalid(fn, "queue_size %d is not a power of two" % queue_size)
    t.queue_size = queue_size
    return t


def _name_bytes(fn, name, value, limit):
    data = os.fsencode(value) if isinstance(value, (str, os.PathLike)) else value
    if not isinstance(data, bytes):
        raise TypeError("%s: %s must be str, bytes or os.PathLike, not %r"
                        % (fn, name, type(value)))
    if b"\0" in data:
        raise _invalid(fn, "%s contains a NUL byte" % name)
    if limit is not None and len(data) > limit:
        raise _invalid(fn, "%s is %d bytes long; at most %d fit"
                       % (name, len(data), limit))
    return data


def blk_config(path=None, fd=None, *, readonly=False, serial=None,
               fn="attach_virtio_blk", **transport):
    """A vmm_virtio_blk_config: exactly one of @path and @fd."""
    cfg = _lib.virtio_blk_config_init()
    cfg.transport = transport_config(fn=fn, **transport)
    if (path is None) == (fd is None):
        raise _invalid(fn, "give exactly one of path and fd")
    if path is not None:
        cfg.path = _name_bytes(fn, "path", path, None)
        if not cfg.path:
            raise _invalid(fn, "path is empty")
    else:
        cfg.fd = _uint(fn, "fd", _fd_of(fd, "%s(fd=)" % fn), 0x7fffffff)
    cfg.flags = _lib.VMM_VIRTIO_BLK_F_READONLY if readonly else 0
    if serial is not None:
        cfg.serial = _name_bytes(fn, "serial", serial, _BLK_SERIAL_MAX)
    return cfg


def console_config(out=None, in_fd=None, *, fn="attach_virtio_console", **transport):
    """(vmm_virtio_console_config, python output callable or None); out_fn
    is left for the caller to set from the callable."""
    cfg = _lib.virtio_console_config_init()
    cfg.transport = transport_config(fn=fn, **transport)
    sink, out_fd = _output_sink(out, "%s(out=)" % fn)
    cfg.out_fd = _uint(fn, "out fd", out_fd, 0x7fffffff) if out_fd != -1 else -1
    if in_fd is not None:
        cfg.in_fd = _uint(fn, "in_fd", _fd_of(in_fd, "%s(in_fd=)" % fn), 0x7fffffff)
    return cfg, sink


def rng_config(*, fn="attach_virtio_rng", **transport):
    """A vmm_virtio_rng_config."""
    cfg = _lib.virtio_rng_config_init()
    cfg.transport = transport_config(fn=fn, **transport)
    return cfg


def _mac_bytes(fn, mac):
    if isinstance(mac, str):
        parts = mac.split(":")
        try:
            data = bytes(int(p, 16) for p in parts if len(p) in (1, 2))
        except ValueError:
            data = b""
        if len(parts) != 6 or len(data) != 6:
            raise _invalid(fn, "mac %r is not six hex bytes separated by ':'" % mac)
        return data
    try:
        if isinstance(mac, int):  # bytes(52) would be 52 zero bytes
            raise TypeError
        data = bytes(mac)
    except TypeError:
        raise TypeError("%s: mac must be str or 6 bytes, not %r"
                        % (fn, type(mac))) from None
    if len(data) != 6:
        raise _invalid(fn, "mac has %d bytes, not 6" % len(data))
    return data


def net_config(tap_name=None, tap_fd=None, *, mac=None, fn="attach_virtio_net",
               **transport):
    """A vmm_virtio_net_config: exactly one of @tap_name and @tap_fd; @mac
    None (or all zero) lets the library pick 52:54:00:xx:xx:xx."""
    cfg = _lib.virtio_net_config_init()
    cfg.transport = transport_config(fn=fn, **transport)
    if (tap_name is None) == (tap_fd is None):
        raise _invalid(fn, "give exactly one of tap_name and tap_fd")
    if tap_name is not None:
        cfg.tap_name = _name_bytes(fn, "tap_name", tap_name, _IFNAMSIZ - 1)
        if not cfg.tap_name:
            raise _invalid(fn, "tap_name is empty")
    else:
        cfg.tap_fd = _uint(fn, "tap_fd", _fd_of(tap_fd, "%s(tap_fd=)" % fn), 0x7fffffff)
    if mac is not None:
        data = _mac_bytes(fn, mac)
        if data[0] & 1:
            raise _invalid(fn, "mac %s is a multicast address"
                           % ":".join("%02x" % b for b in data))
        cfg.mac[:] = list(data)
    return cfg


# ------------------------------------------------------------ VM methods
class _VirtioDevicesMixin:
    """VM methods attaching built-in virtio devices (mixed into vmm.VM).

    Every attach_virtio_*() takes the transport keywords:
    transport ("pci", the default, or "mmio"; or a VirtioTransport);
    inline (True serves queue notifications on the vCPU thread instead of
    the library's I/O thread: VMM_VIRTIO_F_INLINE); irq (the GSI; 0 picks a
    free one; VIRTIO_NO_IRQ for none; None, the default, is 0 on a VM with
    an irqchip and VIRTIO_NO_IRQ on platform NONE); mmio_base (MMIO only: a
    4 KiB-aligned GPA outside RAM, 0 for the next free page from
    VIRTIO_MMIO_BASE); pci_slot (PCI only: 1-31, 0 for the next free);
    queue_size (a power of two up to VIRTIO_QUEUE_SIZE_MAX, 0 for 256).
    Bad keywords raise TypeError or InvalidArgumentError before the library
    is called."""

    def attach_virtio_blk(self, path=None, fd=None, *, readonly=False, serial=None,
                          **transport):
        """Attach a virtio-blk disk backed by the raw image or block device
        at @path (opened by the library) or the open @fd (duplicated: close
        yours when you like); return its VirtioBlk
        (vmm_virtio_blk_attach()). @readonly offers VIRTIO_BLK_F_RO;
        @serial (str or bytes, up to 20 bytes) answers GET_ID ("libvmm" if
        None)."""
        cfg = blk_config(path, fd, readonly=readonly, serial=serial,
                         has_irqchip=self._has_irqchip(), **transport)
        return self._attach_virtio("vmm_virtio_blk_attach", cfg, VirtioBlk)

    def attach_virtio_console(self, out=None, in_fd=None, **transport):
        """Attach a virtio-console (one port: /dev/hvc0 in Linux); return
        its VirtioConsole (vmm_virtio_console_attach()).

        @out: where guest output goes, as for attach_serial(): None, an int
        fd (written by the library), a callable taking bytes, or a file
        object. The callable runs on the library's I/O thread (the vCPU
        thread with inline=True). An exception in it drops those bytes,
        stops the VM (as vm.stop()) and is re-raised by the run() that
        returns next. @in_fd: an fd or file object the library reads guest
        input from. Fds are borrowed: keep them open while the device
        exists (a file object passed here is kept referenced)."""
        cfg, sink = console_config(out, in_fd, has_irqchip=self._has_irqchip(),
                                   **transport)
        callbacks = ()
        if sink is not None:
            cfg.out_fn = _lib.VIRTIO_CONSOLE_OUTPUT_FN(self._virtio_console_trampoline(sink))
            callbacks = (cfg.out_fn,)
        dev = self._attach_virtio("vmm_virtio_console_attach", cfg, VirtioConsole)
        dev._callbacks = callbacks
        dev._files = tuple(f for f in (out, in_fd)
                           if f is not None and not isinstance(f, int) and not callable(f))
        return dev

    def attach_virtio_rng(self, **transport):
        """Attach a virtio entropy device fed by getrandom(2); return its
        VirtioRng (vmm_virtio_rng_attach())."""
        cfg = rng_config(has_irqchip=self._has_irqchip(), **transport)
        return self._attach_virtio("vmm_virtio_rng_attach", cfg, VirtioRng)

    def attach_virtio_net(self, tap_name=None, tap_fd=None, *, mac=None, **transport):
        """Attach a virtio-net NIC on the TAP interface @tap_name (created
        if missing, which needs CAP_NET_ADMIN) or the open TAP @tap_fd
        (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR; duplicated); return its
        VirtioNet (vmm_virtio_net_attach()). @mac: "52:54:00:12:34:56" or 6
        bytes; None picks 52:54:00:xx:xx:xx at random."""
        cfg = net_config(tap_name, tap_fd, mac=mac, has_irqchip=self._has_irqchip(),
                         **transport)
        return self._attach_virtio("vmm_virtio_net_attach", cfg, VirtioNet)

    def virtio_mmio_cmdline(self):
        """The Linux command-line words describing every virtio-mmio device
        ("virtio_mmio.device=4K@0xd0000000:5 ..."; "" if none)
        (vmm_virtio_mmio_cmdline()). Append them to the kernel's command
        line; virtio-pci devices need none."""
        h = self._h()
        size = _call("vmm_virtio_mmio_cmdline", h, None, 0) + 1
        while True:
            buf = ctypes.create_string_buffer(size)
            n = _call("vmm_virtio_mmio_cmdline", h, buf, size)
            if n < size:
                return buf.value.decode()
            size = n + 1  # a device was attached in between

    # -- machinery
    def _has_irqchip(self):
        return int(self.platform) == _lib.VMM_PLATFORM_PC

    def _attach_virtio(self, function, cfg, cls):
        h = self._h()
        dev = ctypes.c_void_p()
        rc = getattr(_L, function)(h, ctypes.byref(cfg), ctypes.byref(dev))
        if rc < 0:
            raise _error(rc, function)
        return self._register_builtin(cls(self, dev.value))

    def _virtio_console_trampoline(self, sink):
        """The C output callback: never raises into C. An exception drops
        the bytes (the library logs it), stops the VM and waits for run()
        to re-raise it."""
        where = "virtio-console output callback"
        string_at = ctypes.string_at
        tls = _in_callback

        def tramp(data, length, user):
            tls.vm = self
            try:
                sink(string_at(data, length) if length else b"")
                return 0
            except BaseException as e:  # never unwind through C
                try:
                    rc = self._stash(None, e, where)
                    with self._lock:  # close() clears _handle under it first
                        if self._handle is not None:
                            _L.vmm_vm_stop(self._handle)
                    return rc if rc < 0 else -_errno.EIO
                except BaseException:
                    return -_errno.EIO
            finally:
                tls.vm = None
        return tramp
