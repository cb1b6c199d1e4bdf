//! The process-wide log callback (`vmm_set_log_callback`).
use std::cell::Cell;
use std::ffi::CStr;
use std::os::raw::{c_char, c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

use vmm_sys as sys;

use crate::error::{check, errno, Error, Result};

/// Severity of a library message (`enum vmm_log_level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(i32)]
pub enum LogLevel {
    Error = sys::VMM_LOG_ERROR,
    Warn = sys::VMM_LOG_WARN,
    Info = sys::VMM_LOG_INFO,
    Debug = sys::VMM_LOG_DEBUG,
}

type LogFn = Box<dyn Fn(LogLevel, &str) + Send + Sync>;

/// The installed callback; a Box<LogFn> so the pointer handed to C is thin.
static CURRENT: Mutex<Option<Box<LogFn>>> = Mutex::new(None);

thread_local! {
    static IN_CALLBACK: Cell<bool> = const { Cell::new(false) };
}

unsafe extern "C" fn log_trampoline(level: c_int, msg: *const c_char, user: *mut c_void) {
    // SAFETY: `user` is the Box<LogFn> in CURRENT, freed only after
    // vmm_set_log_callback has replaced it and waited for deliveries.
    let f = unsafe { &*(user as *const LogFn) };
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let level = match level {
            sys::VMM_LOG_ERROR => LogLevel::Error,
            sys::VMM_LOG_WARN => LogLevel::Warn,
            sys::VMM_LOG_INFO => LogLevel::Info,
            _ => LogLevel::Debug,
        };
        // SAFETY: a NUL-terminated message borrowed for the call.
        let text = unsafe { CStr::from_ptr(msg) }.to_string_lossy();
        IN_CALLBACK.with(|c| c.set(true));
        f(level, &text);
        IN_CALLBACK.with(|c| c.set(false));
    }));
    IN_CALLBACK.with(|c| c.set(false));
}

fn install(f: Option<LogFn>, max_level: LogLevel) -> Result<()> {
    if IN_CALLBACK.with(|c| c.get()) {
        return Err(Error::new(errno::EDEADLK, "the log callback cannot be changed from inside itself"));
    }
    let mut current = CURRENT.lock().unwrap_or_else(|e| e.into_inner());
    let new = f.map(Box::new);
    let user = new.as_ref().map_or(std::ptr::null_mut(), |b| &**b as *const LogFn as *mut c_void);
    let func: sys::vmm_log_fn = if new.is_some() { Some(log_trampoline) } else { None };
    check(unsafe { sys::vmm_set_log_callback(func, user, max_level as c_int) })?;
    // libvmm has waited for deliveries of the old callback: free it now.
    *current = new;
    Ok(())
}

/// Installs `f` as the process-wide receiver of library messages at or
/// below `max_level`. It may be called on any thread, concurrently, hence
/// `Send + Sync`; panics in it are swallowed. Replaces any earlier one.
/// Calling this from inside the callback fails with `EDEADLK`.
pub fn set_log_callback<F>(max_level: LogLevel, f: F) -> Result<()>
where
    F: Fn(LogLevel, &str) + Send + Sync + 'static,
{
    install(Some(Box::new(f)), max_level)
}

/// Removes the log callback.
pub fn clear_log_callback() -> Result<()> {
    install(None, LogLevel::Error)
}
