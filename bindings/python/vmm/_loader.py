"""Loading a guest (loader.h): Linux bzImage, ELF with a PVH note,
Multiboot and raw images, from bytes or from files."""

import ctypes
import dataclasses
import enum
import errno as _errno
import os

from . import _lib
from ._errors import InvalidArgumentError, _call


class ImageFormat(enum.IntEnum):
    """Image formats vm.boot_load() takes (enum vmm_image_format)."""
    AUTO = _lib.VMM_IMAGE_AUTO
    BZIMAGE = _lib.VMM_IMAGE_BZIMAGE
    ELF_PVH = _lib.VMM_IMAGE_ELF_PVH
    MULTIBOOT = _lib.VMM_IMAGE_MULTIBOOT
    RAW = _lib.VMM_IMAGE_RAW


class Compression(enum.IntEnum):
    """Compression of a bzImage's payload, from its magic bytes (enum
    vmm_compression)."""
    NONE = _lib.VMM_COMPRESSION_NONE
    GZIP = _lib.VMM_COMPRESSION_GZIP
    XZ = _lib.VMM_COMPRESSION_XZ
    ZSTD = _lib.VMM_COMPRESSION_ZSTD
    LZ4 = _lib.VMM_COMPRESSION_LZ4
    BZIP2 = _lib.VMM_COMPRESSION_BZIP2
    LZMA = _lib.VMM_COMPRESSION_LZMA
    LZO = _lib.VMM_COMPRESSION_LZO
    UNKNOWN = _lib.VMM_COMPRESSION_UNKNOWN


class BootFlags(enum.IntFlag):
    """VMM_BOOT_F_* flags of vm.boot_load() and vm.boot_load_files()."""
    NONE = 0
    #: bzImage: enter through the 32-bit entry (code32_start).
    BZIMAGE_ENTRY32 = _lib.VMM_BOOT_F_BZIMAGE_ENTRY32
    #: bzImage: decompress the payload on the host, enter its PVH note.
    BZIMAGE_EXTRACT = _lib.VMM_BOOT_F_BZIMAGE_EXTRACT


def _enum_or_int(cls, value):
    return cls(value) if value in cls._value2member_map_ else value


@dataclasses.dataclass(frozen=True)
class BootInfo:
    """What a load did (struct vmm_boot_info). Addresses are guest
    physical; 0 means "none" for initrd_gpa, cmdline_gpa and
    boot_params_gpa."""
    format: int            #: the ImageFormat entered (never AUTO)
    entry: int             #: vCPU 0's initial RIP
    kernel_gpa: int        #: first byte of the loaded kernel
    kernel_end: int        #: one past its last byte (init_size / memsz included)
    initrd_gpa: int
    initrd_size: int
    cmdline_gpa: int
    boot_params_gpa: int   #: zero page, hvm_start_info or multiboot_info
    protocol_version: int  #: bzImage boot protocol version, else 0
    compression: int       #: a Compression (bzImage payload)
    extracted_size: int    #: BZIMAGE_EXTRACT: bytes decompressed, else 0

    @classmethod
    def _from_c(cls, c):
        values = {n: getattr(c, n) for n in _lib.BOOT_INFO_FIELDS}
        values["format"] = _enum_or_int(ImageFormat, values["format"])
        values["compression"] = _enum_or_int(Compression, values["compression"])
        return cls(**values)


def _boot_info():
    return _lib.vmm_boot_info(struct_size=ctypes.sizeof(_lib.vmm_boot_info))


def _cmdline(cmdline):
    """A command line as NUL-free bytes (None stays None)."""
    if cmdline is None:
        return None
    data = os.fsencode(cmdline) if isinstance(cmdline, str) else bytes(cmdline)
    if b"\0" in data:
        raise InvalidArgumentError(_errno.EINVAL, "the command line contains a NUL byte")
    return data


def _module(item):
    """(data bytes, cmdline bytes or None) of a boot_load(modules=) item."""
    if isinstance(item, tuple):
        data, cmdline = item
        return bytes(data), _cmdline(cmdline)
    return bytes(item), None


def _path(path):
    return None if path is None else os.fsencode(path)


class _LoaderMixin:
    """VM methods that load a guest (mixed into vmm.VM)."""

    def boot_load(self, kernel, initrd=None, cmdline=None, *,
                  format=ImageFormat.AUTO, flags=0, raw_gpa=0, raw_entry=None,
                  raw_cpu_mode=0, modules=()):
        """Load an image (bytes-like) into guest RAM and set up vCPU 0 to
        enter it (vmm_boot_load()); return a BootInfo.

        @initrd: bytes-like or None. @cmdline: str or bytes, or None.
        @modules: more modules after the initrd (which is the first), each
        bytes-like or a (data, cmdline) tuple: Multiboot and PVH list each
        one, a bzImage gets them appended to the initrd; needs an initrd.
        @format: an ImageFormat. @flags: BootFlags. For ImageFormat.RAW the
        image is copied to @raw_gpa and entered at @raw_entry (default
        raw_gpa) in @raw_cpu_mode (a vmm.CpuMode). The images are copied;
        nothing is kept. Raises vmm.Error (ENOEXEC for an image that is not
        a supported or well-formed one; the detail names the field)."""
        h = self._h()
        kernel = bytes(kernel)
        initrd = None if initrd is None else bytes(initrd)
        cfg = _lib.vmm_boot_config(struct_size=ctypes.sizeof(_lib.vmm_boot_config))
        cfg.flags = int(flags)
        cfg.format = int(format)
        # c_char_p of a bytes object points into it: no copy, and the local
        # names keep the objects alive for the call.
        cfg.kernel = ctypes.cast(ctypes.c_char_p(kernel), ctypes.c_void_p)
        cfg.kernel_size = len(kernel)
        if initrd is not None:
            cfg.initrd = ctypes.cast(ctypes.c_char_p(initrd), ctypes.c_void_p)
            cfg.initrd_size = len(initrd)
        cfg.cmdline = _cmdline(cmdline)
        cfg.raw_gpa = raw_gpa
        cfg.raw_entry = raw_gpa if raw_entry is None else raw_entry
        cfg.raw_cpu_mode = int(raw_cpu_mode)
        mods = [_module(m) for m in modules]  # kept alive for the call
        if mods:
            arr = (_lib.vmm_boot_module * len(mods))()
            for c, (data, mod_cmdline) in zip(arr, mods):
                c.data = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p)
                c.size = len(data)
                c.cmdline = mod_cmdline
            cfg.modules = arr
            cfg.num_modules = len(mods)
        info = _boot_info()
        _call("vmm_boot_load", h, ctypes.byref(cfg), ctypes.byref(info))
        return BootInfo._from_c(info)

    def boot_load_files(self, kernel_path, initrd_path=None, cmdline=None, *,
                        flags=0):
        """vm.boot_load() with the kernel and initrd read from files by the
        library (vmm_boot_load_files(); format AUTO); return a BootInfo.
        Paths are str, bytes or os.PathLike."""
        info = _boot_info()
        _call("vmm_boot_load_files", self._h(), _path(kernel_path), _path(initrd_path),
              _cmdline(cmdline), int(flags), ctypes.byref(info))
        return BootInfo._from_c(info)
