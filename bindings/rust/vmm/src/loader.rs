//! Loading a guest (`loader.h`): Linux bzImage, ELF with a PVH note,
//! Multiboot and raw images, from memory or from files.
use std::ffi::CString;
use std::os::raw::c_char;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use vmm_sys as sys;

use crate::error::{check, errno, Error, Result};
use crate::vcpu::CpuMode;
use crate::vm::Vm;

/// An image format (`enum vmm_image_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ImageFormat {
    /// Detect: bzImage, then ELF with a PVH note, then Multiboot.
    #[default]
    Auto,
    /// Linux bzImage (Documentation/arch/x86/boot.rst).
    BzImage,
    /// ELF with a XEN_ELFNOTE_PHYS32_ENTRY note, entered per the PVH ABI.
    ElfPvh,
    /// Multiboot 0.6.96 kernel (ELF or a.out kludge).
    Multiboot,
    /// Flat bytes at [`BootConfig::raw`]'s address.
    Raw,
    /// A value this crate does not know (from a newer library).
    Other(u32),
}

impl ImageFormat {
    /// The C value.
    pub fn to_raw(self) -> u32 {
        match self {
            ImageFormat::Auto => sys::VMM_IMAGE_AUTO,
            ImageFormat::BzImage => sys::VMM_IMAGE_BZIMAGE,
            ImageFormat::ElfPvh => sys::VMM_IMAGE_ELF_PVH,
            ImageFormat::Multiboot => sys::VMM_IMAGE_MULTIBOOT,
            ImageFormat::Raw => sys::VMM_IMAGE_RAW,
            ImageFormat::Other(v) => v,
        }
    }
    /// The format of a C value.
    pub fn from_raw(v: u32) -> Self {
        match v {
            sys::VMM_IMAGE_AUTO => ImageFormat::Auto,
            sys::VMM_IMAGE_BZIMAGE => ImageFormat::BzImage,
            sys::VMM_IMAGE_ELF_PVH => ImageFormat::ElfPvh,
            sys::VMM_IMAGE_MULTIBOOT => ImageFormat::Multiboot,
            sys::VMM_IMAGE_RAW => ImageFormat::Raw,
            v => ImageFormat::Other(v),
        }
    }
}

/// Compression of a bzImage payload, from its magic bytes (`enum
/// vmm_compression`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Not a bzImage, or an uncompressed payload.
    None,
    /// gzip.
    Gzip,
    /// xz.
    Xz,
    /// zstd.
    Zstd,
    /// LZ4 legacy frame.
    Lz4,
    /// bzip2 (recognised, not extracted).
    Bzip2,
    /// Legacy .lzma (recognised, not extracted).
    Lzma,
    /// lzop (recognised, not extracted).
    Lzo,
    /// Magic bytes libvmm does not know (`VMM_COMPRESSION_UNKNOWN`).
    Unknown,
    /// A value this crate does not know (from a newer library).
    Other(u32),
}

impl Compression {
    /// The compression of a C value.
    pub fn from_raw(v: u32) -> Self {
        match v {
            sys::VMM_COMPRESSION_NONE => Compression::None,
            sys::VMM_COMPRESSION_GZIP => Compression::Gzip,
            sys::VMM_COMPRESSION_XZ => Compression::Xz,
            sys::VMM_COMPRESSION_ZSTD => Compression::Zstd,
            sys::VMM_COMPRESSION_LZ4 => Compression::Lz4,
            sys::VMM_COMPRESSION_BZIP2 => Compression::Bzip2,
            sys::VMM_COMPRESSION_LZMA => Compression::Lzma,
            sys::VMM_COMPRESSION_LZO => Compression::Lzo,
            sys::VMM_COMPRESSION_UNKNOWN => Compression::Unknown,
            v => Compression::Other(v),
        }
    }
}

/// `VMM_BOOT_F_*` flags; combine with `|`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BootFlags(u32);

impl BootFlags {
    /// No flags.
    pub const NONE: BootFlags = BootFlags(0);
    /// bzImage: enter through the 32-bit entry (code32_start).
    pub const BZIMAGE_ENTRY32: BootFlags = BootFlags(sys::VMM_BOOT_F_BZIMAGE_ENTRY32);
    /// bzImage: decompress the payload on the host and enter its PVH note.
    pub const BZIMAGE_EXTRACT: BootFlags = BootFlags(sys::VMM_BOOT_F_BZIMAGE_EXTRACT);
    /// The C bits.
    pub fn bits(self) -> u32 {
        self.0
    }
}

impl std::ops::BitOr for BootFlags {
    type Output = BootFlags;
    fn bitor(self, rhs: BootFlags) -> BootFlags {
        BootFlags(self.0 | rhs.0)
    }
}

/// What to load with [`Vm::boot_load`] (`struct vmm_boot_config`). The
/// images are borrowed for the call and copied into guest RAM.
#[derive(Debug, Clone)]
pub struct BootConfig<'a> {
    kernel: &'a [u8],
    initrd: Option<&'a [u8]>,
    modules: Vec<(&'a [u8], Option<&'a str>)>,
    cmdline: Option<&'a str>,
    format: ImageFormat,
    flags: BootFlags,
    raw_gpa: u64,
    raw_entry: Option<u64>,
    raw_cpu_mode: Option<CpuMode>,
}

impl<'a> BootConfig<'a> {
    /// `kernel` in a format to detect ([`ImageFormat::Auto`]).
    pub fn new(kernel: &'a [u8]) -> Self {
        BootConfig {
            kernel,
            initrd: None,
            modules: Vec::new(),
            cmdline: None,
            format: ImageFormat::Auto,
            flags: BootFlags::NONE,
            raw_gpa: 0,
            raw_entry: None,
            raw_cpu_mode: None,
        }
    }
    /// A flat image ([`ImageFormat::Raw`]) copied to `gpa` and entered
    /// there (see [`entry`](Self::entry)) in `mode`.
    pub fn raw(image: &'a [u8], gpa: u64, mode: CpuMode) -> Self {
        BootConfig { format: ImageFormat::Raw, raw_gpa: gpa, raw_cpu_mode: Some(mode), ..Self::new(image) }
    }
    /// The format, instead of detecting it.
    pub fn format(mut self, format: ImageFormat) -> Self {
        self.format = format;
        self
    }
    /// The initrd (or first Multiboot module).
    pub fn initrd(mut self, initrd: &'a [u8]) -> Self {
        self.initrd = Some(initrd);
        self
    }
    /// Appends a module after the initrd (which is the first), with its
    /// own command line: Multiboot and PVH list each one, a bzImage gets
    /// them appended to the initrd. Needs an initrd; not for RAW.
    pub fn module(mut self, data: &'a [u8], cmdline: Option<&'a str>) -> Self {
        self.modules.push((data, cmdline));
        self
    }
    /// The kernel command line (no NUL bytes).
    pub fn cmdline(mut self, cmdline: &'a str) -> Self {
        self.cmdline = Some(cmdline);
        self
    }
    /// `VMM_BOOT_F_*` flags.
    pub fn flags(mut self, flags: BootFlags) -> Self {
        self.flags = flags;
        self
    }
    /// RAW: the initial RIP, if not the load address.
    pub fn entry(mut self, rip: u64) -> Self {
        self.raw_entry = Some(rip);
        self
    }
}

/// What a load did (`struct vmm_boot_info`). Addresses are guest physical;
/// 0 means "none" for `initrd_gpa`, `cmdline_gpa` and `boot_params_gpa`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BootInfo {
    /// The format entered (never `Auto`; `ElfPvh` for an extracted bzImage).
    pub format: ImageFormat,
    /// vCPU 0's initial RIP.
    pub entry: u64,
    /// First byte of the loaded kernel.
    pub kernel_gpa: u64,
    /// One past its last byte (init_size / memsz included).
    pub kernel_end: u64,
    /// Where the initrd (or first module) is.
    pub initrd_gpa: u64,
    /// Its size in bytes.
    pub initrd_size: u64,
    /// Where the NUL-terminated command line is.
    pub cmdline_gpa: u64,
    /// The zero page, hvm_start_info or multiboot_info.
    pub boot_params_gpa: u64,
    /// bzImage: the boot protocol version (e.g. 0x020f).
    pub protocol_version: u32,
    /// bzImage: the payload's compression.
    pub compression: Compression,
    /// [`BootFlags::BZIMAGE_EXTRACT`]: bytes decompressed.
    pub extracted_size: u64,
}

impl BootInfo {
    fn from_raw(i: &sys::vmm_boot_info) -> Self {
        BootInfo {
            format: ImageFormat::from_raw(i.format),
            entry: i.entry,
            kernel_gpa: i.kernel_gpa,
            kernel_end: i.kernel_end,
            initrd_gpa: i.initrd_gpa,
            initrd_size: i.initrd_size,
            cmdline_gpa: i.cmdline_gpa,
            boot_params_gpa: i.boot_params_gpa,
            protocol_version: i.protocol_version,
            compression: Compression::from_raw(i.compression),
            extracted_size: i.extracted_size,
        }
    }
}

fn c_string(what: &str, s: &[u8]) -> Result<CString> {
    CString::new(s).map_err(|_| Error::new(errno::EINVAL, format!("{what} contains a NUL byte")))
}

fn opt_ptr(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr())
}

impl Vm {
    /// Loads an image into guest RAM and sets up vCPU 0 to enter it
    /// (`vmm_boot_load`). Add RAM first ([`Vm::pc_add_ram`]). `ENOEXEC`
    /// for an image that is not a supported or well-formed one, `ENOMEM`
    /// when it does not fit; the message names the field at fault.
    pub fn boot_load(&mut self, cfg: &BootConfig<'_>) -> Result<BootInfo> {
        let cmdline = cfg.cmdline.map(|c| c_string("the command line", c.as_bytes())).transpose()?;
        let mut raw = sys::vmm_boot_config::INIT;
        raw.flags = cfg.flags.bits();
        raw.format = cfg.format.to_raw();
        raw.kernel = cfg.kernel.as_ptr().cast();
        raw.kernel_size = cfg.kernel.len() as u64;
        if let Some(initrd) = cfg.initrd {
            raw.initrd = initrd.as_ptr().cast();
            raw.initrd_size = initrd.len() as u64;
        }
        raw.cmdline = opt_ptr(&cmdline);
        raw.raw_gpa = cfg.raw_gpa;
        raw.raw_entry = cfg.raw_entry.unwrap_or(cfg.raw_gpa);
        raw.raw_cpu_mode = cfg.raw_cpu_mode.map_or(0, |m| m as u32);
        let module_cmdlines = cfg
            .modules
            .iter()
            .map(|(_, c)| c.map(|c| c_string("a module command line", c.as_bytes())).transpose())
            .collect::<Result<Vec<_>>>()?;
        let modules: Vec<sys::vmm_boot_module> = cfg
            .modules
            .iter()
            .zip(&module_cmdlines)
            .map(|((data, _), c)| sys::vmm_boot_module { data: data.as_ptr().cast(), size: data.len() as u64, cmdline: opt_ptr(c) })
            .collect();
        if !modules.is_empty() {
            raw.modules = modules.as_ptr();
            raw.num_modules =
                u32::try_from(modules.len()).map_err(|_| Error::new(errno::EINVAL, "too many boot modules"))?;
        }
        let mut info = sys::vmm_boot_info::default();
        // SAFETY: every pointer in `raw` borrows from `cfg`, `cmdline`,
        // `modules` or `module_cmdlines`, which outlive the call; the
        // library copies what it needs.
        check(unsafe { sys::vmm_boot_load(self.as_raw(), &raw, &mut info) })?;
        Ok(BootInfo::from_raw(&info))
    }

    /// [`Vm::boot_load`] with the kernel and initrd read from files by the
    /// library (`vmm_boot_load_files`, format detected).
    pub fn boot_load_files(
        &mut self,
        kernel: &Path,
        initrd: Option<&Path>,
        cmdline: Option<&str>,
        flags: BootFlags,
    ) -> Result<BootInfo> {
        let kernel = c_string("the kernel path", kernel.as_os_str().as_bytes())?;
        let initrd = initrd.map(|p| c_string("the initrd path", p.as_os_str().as_bytes())).transpose()?;
        let cmdline = cmdline.map(|c| c_string("the command line", c.as_bytes())).transpose()?;
        let mut info = sys::vmm_boot_info::default();
        check(unsafe {
            sys::vmm_boot_load_files(self.as_raw(), kernel.as_ptr(), opt_ptr(&initrd), opt_ptr(&cmdline), flags.bits(), &mut info)
        })?;
        Ok(BootInfo::from_raw(&info))
    }
}
