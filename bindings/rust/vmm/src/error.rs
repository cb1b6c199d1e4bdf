//! `vmm::Error`: a libvmm errno plus the library's detail sentence, or an
//! error (or caught panic) raised by a Rust callback.
use std::any::Any;
use std::ffi::CStr;
use std::fmt;
use std::os::raw::c_int;
use std::sync::Mutex;

use vmm_sys as sys;

/// Result of every fallible call in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// errno values used by this crate and useful in callbacks (Linux x86-64).
pub mod errno {
    pub const ENOENT: i32 = 2;
    pub const EIO: i32 = 5;
    pub const E2BIG: i32 = 7;
    pub const EBADF: i32 = 9;
    pub const ENOMEM: i32 = 12;
    pub const EACCES: i32 = 13;
    pub const EFAULT: i32 = 14;
    pub const EBUSY: i32 = 16;
    pub const EEXIST: i32 = 17;
    pub const EINVAL: i32 = 22;
    pub const ENOSPC: i32 = 28;
    pub const EPERM: i32 = 1;
    pub const EDEADLK: i32 = 35;
    pub const ENOSYS: i32 = 38;
    pub const EPROTO: i32 = 71;
    pub const EOPNOTSUPP: i32 = 95;
}

/// An error from libvmm or from a callback.
///
/// Carries a positive errno ([`Error::errno`]) and a message: for library
/// failures, the thread-local `vmm_last_error()` sentence read right after
/// the failing call; for a callback that failed, the library's sentence
/// naming the device followed by the callback's own message. If a callback
/// panicked, the panic payload travels here too ([`Error::take_panic`],
/// [`Error::resume_panic`]).
pub struct Error {
    errno: i32,
    message: String,
    // Mutex only to make Error Sync (Box<dyn Any + Send> is not).
    panic: Option<Mutex<Option<Box<dyn Any + Send>>>>,
}

impl Error {
    /// An error with `errno` (positive, e.g. [`errno::EINVAL`]; a negative
    /// value is negated, 0 becomes EIO) and a message. Return this from a
    /// device or hypercall callback to stop the vCPU with that errno.
    pub fn new(errno: i32, message: impl Into<String>) -> Self {
        let errno = match errno {
            0 => errno::EIO,
            e if e < 0 => e.checked_neg().unwrap_or(errno::EIO),
            e => e,
        };
        Error { errno, message: message.into(), panic: None }
    }

    /// An error with `errno` and no message beyond its name.
    pub fn from_errno(errno: i32) -> Self {
        Self::new(errno, String::new())
    }

    /// The error a libvmm call just returned (`ret` < 0), with the calling
    /// thread's `vmm_last_error()` sentence.
    pub(crate) fn last(ret: c_int) -> Self {
        // SAFETY: vmm_last_error never returns NULL; the string is valid
        // until the next failing call on this thread, and is copied here.
        let msg = unsafe { CStr::from_ptr(sys::vmm_last_error()) }.to_string_lossy().into_owned();
        Self::new(ret, msg)
    }

    pub(crate) fn from_panic(payload: Box<dyn Any + Send>, what: &str) -> Self {
        let text = panic_text(&*payload);
        Error {
            errno: errno::EIO,
            message: format!("{what} panicked: {text}"),
            panic: Some(Mutex::new(Some(payload))),
        }
    }

    /// Prefixes the library's sentence to a callback's error (keeping the
    /// callback's errno and panic payload).
    pub(crate) fn with_context(mut self, context: &str) -> Self {
        if !context.is_empty() {
            self.message = if self.message.is_empty() {
                context.to_owned()
            } else {
                format!("{context}: {}", self.message)
            };
        }
        self
    }

    /// The positive errno value (`EINVAL` is 22).
    pub fn errno(&self) -> i32 {
        self.errno
    }

    /// The negative errno a C callback would return for this error.
    pub fn to_raw(&self) -> c_int {
        -self.errno
    }

    /// The detail sentence (may be empty).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The errno's name, from `vmm_strerror()` (e.g. "Invalid argument").
    pub fn errno_name(&self) -> String {
        strerror(self.errno)
    }

    /// Whether this error is a panic caught in a callback.
    pub fn is_panic(&self) -> bool {
        self.panic.is_some()
    }

    /// Takes the payload of a panic caught in a callback (once).
    pub fn take_panic(&self) -> Option<Box<dyn Any + Send>> {
        let slot = self.panic.as_ref()?;
        slot.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// If a callback panicked, continue that panic on this thread
    /// (`std::panic::resume_unwind`); otherwise return the error unchanged.
    /// `vcpu.run().map_err(Error::resume_panic)?` makes callback panics
    /// behave as if the callback had been called directly.
    pub fn resume_panic(self) -> Self {
        if let Some(payload) = self.take_panic() {
            std::panic::resume_unwind(payload);
        }
        self
    }
}

/// `vmm_strerror()` as a String.
pub fn strerror(errno: i32) -> String {
    // SAFETY: returns a static string, never NULL.
    unsafe { CStr::from_ptr(sys::vmm_strerror(errno)) }.to_string_lossy().into_owned()
}

pub(crate) fn panic_text(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(non-string panic payload)"
    }
}

/// Turns a libvmm return value into a Result.
#[inline]
pub(crate) fn check(ret: c_int) -> Result<c_int> {
    if ret < 0 {
        Err(Error::last(ret))
    } else {
        Ok(ret)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.errno_name())
        } else {
            write!(f, "{} ({})", self.message, self.errno_name())
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("errno", &self.errno)
            .field("name", &self.errno_name())
            .field("message", &self.message)
            .field("panic", &self.is_panic())
            .finish()
    }
}

impl std::error::Error for Error {}

/// An I/O error as a `vmm::Error`, so that `?` works on `std::io` calls
/// inside callbacks: the errno is the OS error code (`raw_os_error()`), or
/// EIO for an error that has none; the message is the I/O error's text. An
/// `io::Error` made from a `vmm::Error` (the `From` impl below) gives the
/// original back, errno, message and panic payload included.
///
/// ```
/// use std::io::Write;
/// fn pio(io: &vmm::Io<'_>) -> vmm::Result<vmm::Handled> {
///     std::io::stdout().write_all(io.data())?;
///     Ok(vmm::Handled::Yes)
/// }
/// let e = vmm::Error::from(std::io::Error::from_raw_os_error(vmm::errno::EPERM));
/// assert_eq!(e.errno(), vmm::errno::EPERM);
/// let e = vmm::Error::from(std::io::Error::new(std::io::ErrorKind::Other, "no such thing"));
/// assert_eq!((e.errno(), e.message()), (vmm::errno::EIO, "no such thing"));
/// let io: std::io::Error = vmm::Error::new(vmm::errno::EBUSY, "busy here").into();
/// let e = vmm::Error::from(io);
/// assert_eq!((e.errno(), e.message()), (vmm::errno::EBUSY, "busy here"));
/// ```
impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        let code = e.raw_os_error().unwrap_or(errno::EIO);
        let message = e.to_string();
        match e.into_inner().map(|inner| inner.downcast::<Error>()) {
            Some(Ok(original)) => *original,
            _ => Error::new(code, message),
        }
    }
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        std::io::Error::new(std::io::Error::from_raw_os_error(e.errno).kind(), e)
    }
}
