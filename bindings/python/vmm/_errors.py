"""The vmm.Error hierarchy: a failing libvmm call as a Python exception
carrying the errno and the library's vmm_last_error() sentence."""

import errno as _errno

from . import _lib

_L = _lib.LIB


class Error(Exception):
    """A libvmm call failed.

    errno:    the positive errno value (e.g. errno.EINVAL)
    strerror: vmm_strerror() of it ("Invalid argument")
    detail:   vmm_last_error() at the time ("vmm_memory_read: ..."), or ""
    function: the C function that failed
    """

    def __init__(self, err, detail="", function=""):
        self.errno = abs(err)
        self.strerror = _L.vmm_strerror(-self.errno).decode(errors="replace")
        self.detail = detail
        self.function = function
        super().__init__(self.errno, detail or self.strerror)

    def __str__(self):
        name = _errno.errorcode.get(self.errno, str(self.errno))
        text = self.detail or ("%s: %s" % (self.function, self.strerror)
                               if self.function else self.strerror)
        return "%s [%s]" % (text, name)


class InvalidArgumentError(Error, ValueError):
    """EINVAL."""


class BusyError(Error):
    """EBUSY: a vCPU is running, or the address is taken."""


class NotFoundError(Error, LookupError):
    """ENOENT."""


class ExistsError(Error):
    """EEXIST."""


class FaultError(Error, IndexError):
    """EFAULT: a guest address range outside guest memory."""


class NoMemoryError(Error, MemoryError):
    """ENOMEM."""


class NoSpaceError(Error):
    """ENOSPC: no KVM memory slot left."""


class AccessError(Error, PermissionError):
    """EACCES/EPERM (e.g. /dev/kvm not accessible)."""


class NotSupportedError(Error):
    """EOPNOTSUPP/ENOSYS/ENODEV: the host or library cannot do it."""


class DeviceCallbackError(Error):
    """A device or hypercall callback failed without a Python exception."""


class ClosedError(Error):
    """The VM (or device) was closed."""

    def __init__(self, what="VM"):
        super().__init__(_errno.EBADF, "%s is closed" % what)


_ERRORS = {
    _errno.EINVAL: InvalidArgumentError, _errno.EBUSY: BusyError,
    _errno.ENOENT: NotFoundError, _errno.EEXIST: ExistsError,
    _errno.EFAULT: FaultError, _errno.ENOMEM: NoMemoryError,
    _errno.ENOSPC: NoSpaceError, _errno.EACCES: AccessError,
    _errno.EPERM: AccessError, _errno.EOPNOTSUPP: NotSupportedError,
    _errno.ENOSYS: NotSupportedError, _errno.ENODEV: NotSupportedError,
}


def _error(rc, function):
    """The exception for return value @rc of @function, with the calling
    thread's vmm_last_error() (read at once: the next failure replaces it)."""
    detail = (_L.vmm_last_error() or b"").decode(errors="replace")
    return _ERRORS.get(-rc, Error)(rc, detail, function)


def _check(rc, function):
    if rc < 0:
        raise _error(rc, function)
    return rc


def _call(name, *args):
    return _check(getattr(_L, name)(*args), name)

