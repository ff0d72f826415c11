//! The jitp runtime behind a C ABI (`libjitp`, header `include/jitp.h`).
//!
//! A C program loads a verified bundle into an opaque [`JitpBundle`]
//! handle, decides JSON requests with it — into a buffer of its own
//! ([`jitp_decide`]) or into a string this library allocates
//! ([`jitp_decide_alloc`], freed by [`jitp_string_free`]) — and frees it
//! with [`jitp_bundle_free`].
//!
//! Every function returns a [`JitpStatus`]; on any status but
//! `JITP_STATUS_OK`, [`jitp_last_error`] gives the message (thread-local:
//! each thread sees the error of its own last call). No panic crosses the
//! boundary: each entry point runs under [`std::panic::catch_unwind`] and
//! reports a panic as `JITP_STATUS_PANIC`. Null pointers and invalid UTF-8
//! are errors (`JITP_STATUS_NULL_ARGUMENT`, `JITP_STATUS_INVALID_UTF8`),
//! never undefined behaviour. A bundle is immutable once loaded: any
//! number of threads may decide with one handle at once.
//!
//! Requests are decided exactly as `jitp eval` decides them: a request
//! that is not JSON (or larger than [`jitp_runtime::MAX_REQUEST_BYTES`])
//! is an error (`JITP_STATUS_REQUEST_ERROR`); a JSON request that does not
//! fit the policy's schema is decided — a deny with reason
//! `invalid_request` and the problem in `error`.

// This crate is an FFI boundary: it takes raw pointers from C and must
// export unmangled symbols, which needs `unsafe`. Every unsafe block says
// why it is sound; nothing else in jitp opts out of the workspace lint.
#![allow(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use jitp_runtime::{Bundle, DecisionRecord, RequestErrorKind};
use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What a call did. `JITP_STATUS_OK` is zero; every other value comes with
/// a message from [`jitp_last_error`].
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum JitpStatus {
    /// Success.
    Ok = 0,
    /// A required pointer argument was null.
    NullArgument = 1,
    /// A string argument (a path or a request) was not valid UTF-8.
    InvalidUtf8 = 2,
    /// The bundle could not be read, or failed verification.
    BundleError = 3,
    /// The request is not JSON, or is too large.
    RequestError = 4,
    /// The caller's buffer is too small: the needed length was written to
    /// the length out-parameter; call again with a larger buffer.
    BufferTooSmall = 5,
    /// jitp failed internally (a bug, reported rather than crashing the
    /// caller). The operation had no effect.
    Panic = 6,
}

/// A loaded, verified bundle: an opaque handle, created by
/// [`jitp_bundle_from_bytes`] or [`jitp_bundle_from_file`] and freed by
/// [`jitp_bundle_free`]. Deciding takes a `const` handle: any number of
/// threads may decide with one handle at once.
pub struct JitpBundle {
    bundle: Bundle,
}

thread_local! {
    /// The message of this thread's last failed call (empty after a
    /// successful one).
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: &str) {
    // An interior NUL cannot be represented in a C string: cut there.
    let text = message.split('\0').next().unwrap_or_default();
    let c = CString::new(text).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

fn clear_last_error() {
    LAST_ERROR.with(|e| {
        let mut e = e.borrow_mut();
        if !e.as_bytes().is_empty() {
            *e = CString::default();
        }
    });
}

/// An error of one call: its status and message.
struct Fail(JitpStatus, String);

type Res<T> = Result<T, Fail>;

/// Runs one entry point: clears the last error, catches panics, records
/// the message of a failure and returns its status.
fn entry(f: impl FnOnce() -> Res<()>) -> JitpStatus {
    clear_last_error();
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => JitpStatus::Ok,
        Ok(Err(Fail(status, message))) => {
            set_last_error(&message);
            status
        }
        Err(_) => {
            set_last_error("internal error in jitp (a panic was caught at the C boundary)");
            JitpStatus::Panic
        }
    }
}

fn null(what: &str) -> Fail {
    Fail(
        JitpStatus::NullArgument,
        format!("`{what}` is a null pointer"),
    )
}

/// The bytes `ptr[0..len]`, checked for null.
///
/// # Safety
/// `ptr` must be null or valid for reads of `len` bytes for `'a`.
unsafe fn bytes<'a>(ptr: *const u8, len: usize, what: &str) -> Res<&'a [u8]> {
    if ptr.is_null() {
        return Err(null(what));
    }
    // SAFETY: non-null, and the caller guarantees `len` readable bytes
    // that outlive `'a` and are not written meanwhile.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

fn utf8<'a>(b: &'a [u8], what: &str) -> Res<&'a str> {
    std::str::from_utf8(b).map_err(|e| {
        Fail(
            JitpStatus::InvalidUtf8,
            format!("{what} is not valid UTF-8 (at byte {})", e.valid_up_to()),
        )
    })
}

/// Stores `value` through `out`, checked for null.
///
/// # Safety
/// `out` must be null or valid for a write of one `T`.
unsafe fn put<T>(out: *mut T, value: T, what: &str) -> Res<()> {
    if out.is_null() {
        return Err(null(what));
    }
    // SAFETY: non-null and, as the caller guarantees, writable; `T` is a
    // plain pointer or integer here, so nothing is dropped.
    unsafe { out.write(value) };
    Ok(())
}

fn handle_of(b: Bundle) -> *mut JitpBundle {
    Box::into_raw(Box::new(JitpBundle { bundle: b }))
}

/// Loads and verifies a bundle from `len` bytes at `bytes`, exactly as
/// the Rust runtime's `Bundle::from_bytes` does, and stores a new handle
/// in `*out` (untouched on failure).
///
/// Returns `JITP_STATUS_BUNDLE_ERROR` for bytes that are not a valid
/// bundle (truncated, corrupt, forged, another format version).
///
/// # Safety
/// `bytes` must point to `len` readable bytes; `out` to a writable
/// `JitpBundle *`. Either being null is reported, not undefined.
#[no_mangle]
pub unsafe extern "C" fn jitp_bundle_from_bytes(
    bytes: *const u8,
    len: usize,
    out: *mut *mut JitpBundle,
) -> JitpStatus {
    entry(|| {
        if out.is_null() {
            return Err(null("out"));
        }
        // SAFETY: the caller's contract for `bytes` and `len`.
        let data = unsafe { self::bytes(bytes, len, "bytes") }?;
        let b =
            Bundle::from_bytes(data).map_err(|e| Fail(JitpStatus::BundleError, e.to_string()))?;
        // SAFETY: `out` was checked non-null; the caller guarantees it is
        // writable.
        unsafe { put(out, handle_of(b), "out") }
    })
}

/// Loads and verifies the bundle file at `path` (a NUL-terminated UTF-8
/// string) and stores a new handle in `*out` (untouched on failure).
///
/// Returns `JITP_STATUS_BUNDLE_ERROR` for a file that cannot be read or is
/// not a valid bundle; the message names the file.
///
/// # Safety
/// `path` must be a NUL-terminated string; `out` a writable
/// `JitpBundle *`. Null pointers are reported, not undefined.
#[no_mangle]
pub unsafe extern "C" fn jitp_bundle_from_file(
    path: *const c_char,
    out: *mut *mut JitpBundle,
) -> JitpStatus {
    entry(|| {
        if path.is_null() {
            return Err(null("path"));
        }
        if out.is_null() {
            return Err(null("out"));
        }
        // SAFETY: non-null, and the caller guarantees a NUL-terminated
        // string that stays unchanged during the call.
        let raw = unsafe { CStr::from_ptr(path) };
        let p = utf8(raw.to_bytes(), "the path")?;
        let b = Bundle::from_file(p).map_err(|e| Fail(JitpStatus::BundleError, e.to_string()))?;
        // SAFETY: `out` was checked non-null; the caller guarantees it is
        // writable.
        unsafe { put(out, handle_of(b), "out") }
    })
}

/// Frees a bundle handle. Null is ignored. The handle must not be used
/// afterwards, and no other thread may be deciding with it.
///
/// # Safety
/// `bundle` must be null or a handle from this library not yet freed.
#[no_mangle]
pub unsafe extern "C" fn jitp_bundle_free(bundle: *mut JitpBundle) {
    if bundle.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the handle came from `Box::into_raw` in `handle_of` and,
        // as the caller guarantees, is freed once and no longer in use.
        drop(unsafe { Box::from_raw(bundle) });
    }));
}

/// Decides `text` as `jitp eval` does; the decision as compact JSON.
fn decide_text(bundle: &Bundle, text: &str) -> Res<String> {
    let record = match bundle.bind_str(text) {
        Ok(req) => bundle.decide(&req).to_record(),
        Err(e)
            if matches!(
                e.kind,
                RequestErrorKind::Syntax { .. } | RequestErrorKind::TooLarge { .. }
            ) =>
        {
            return Err(Fail(JitpStatus::RequestError, e.to_string()));
        }
        Err(e) => DecisionRecord::invalid(e.to_string()),
    };
    // Through `to_json`, as `jitp eval` prints it: the same keys, in the
    // same (sorted) order.
    serde_json::to_string(&record.to_json())
        .map_err(|e| Fail(JitpStatus::Panic, format!("cannot write the decision: {e}")))
}

/// The bundle and the request text of a decide call, checked.
///
/// # Safety
/// As [`jitp_decide`] requires for `bundle`, `request` and `request_len`.
unsafe fn decide_args(
    bundle: *const JitpBundle,
    request: *const c_char,
    request_len: usize,
) -> Res<String> {
    if bundle.is_null() {
        return Err(null("bundle"));
    }
    // SAFETY: non-null; the caller guarantees a live handle from this
    // library. Deciding takes `&Bundle`, which is `Sync`.
    let b = unsafe { &(*bundle).bundle };
    // SAFETY: the caller guarantees `request_len` readable bytes.
    let raw = unsafe { bytes(request.cast::<u8>(), request_len, "request") }?;
    decide_text(b, utf8(raw, "the request")?)
}

/// Decides the JSON request of `request_len` bytes at `request` (UTF-8,
/// need not be NUL-terminated) and writes the decision — the JSON object
/// `jitp eval` prints, compact — into `buf` with a terminating NUL.
///
/// `*out_len` receives the decision's length in bytes, without the NUL.
/// When `buf_len` is less than that plus one, nothing is written to `buf`
/// and the call returns `JITP_STATUS_BUFFER_TOO_SMALL`: allocate
/// `*out_len + 1` bytes and call again. `buf` may be null when `buf_len`
/// is zero, to ask for the length.
///
/// # Safety
/// `bundle` must be a live handle; `request` must point to `request_len`
/// readable bytes; `buf` to `buf_len` writable bytes (or be null with
/// `buf_len` zero); `out_len` to a writable `size_t`.
#[no_mangle]
pub unsafe extern "C" fn jitp_decide(
    bundle: *const JitpBundle,
    request: *const c_char,
    request_len: usize,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> JitpStatus {
    entry(|| {
        if out_len.is_null() {
            return Err(null("out_len"));
        }
        // SAFETY: the caller's contract, passed on.
        let json = unsafe { decide_args(bundle, request, request_len) }?;
        // SAFETY: `out_len` checked non-null, writable per the contract.
        unsafe { put(out_len, json.len(), "out_len") }?;
        if buf_len <= json.len() {
            return Err(Fail(
                JitpStatus::BufferTooSmall,
                format!(
                    "the buffer of {buf_len} bytes is too small: the decision needs {}",
                    json.len() + 1
                ),
            ));
        }
        if buf.is_null() {
            return Err(null("buf"));
        }
        // SAFETY: `buf` is non-null and, per the contract, holds `buf_len`
        // writable bytes; `json.len() + 1 <= buf_len` was checked, and a
        // fresh `String` cannot overlap the caller's buffer.
        unsafe {
            std::ptr::copy_nonoverlapping(json.as_ptr(), buf.cast::<u8>(), json.len());
            buf.add(json.len()).write(0);
        }
        Ok(())
    })
}

/// Decides as [`jitp_decide`] does, into a NUL-terminated string this
/// library allocates: `*out` receives it (null on failure). Free it with
/// [`jitp_string_free`].
///
/// # Safety
/// `bundle` must be a live handle; `request` must point to `request_len`
/// readable bytes; `out` to a writable `char *`.
#[no_mangle]
pub unsafe extern "C" fn jitp_decide_alloc(
    bundle: *const JitpBundle,
    request: *const c_char,
    request_len: usize,
    out: *mut *mut c_char,
) -> JitpStatus {
    entry(|| {
        if out.is_null() {
            return Err(null("out"));
        }
        // SAFETY: `out` checked non-null, writable per the contract.
        unsafe { put(out, std::ptr::null_mut(), "out") }?;
        // SAFETY: the caller's contract, passed on.
        let json = unsafe { decide_args(bundle, request, request_len) }?;
        // JSON text escapes control characters: it holds no NUL.
        let c = CString::new(json)
            .map_err(|_| Fail(JitpStatus::Panic, "the decision holds a NUL byte".into()))?;
        // SAFETY: as above.
        unsafe { put(out, c.into_raw(), "out") }
    })
}

/// Frees a string from [`jitp_decide_alloc`]. Null is ignored.
///
/// # Safety
/// `s` must be null or a string from this library not yet freed.
#[no_mangle]
pub unsafe extern "C" fn jitp_string_free(s: *mut c_char) {
    if s.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `s` came from `CString::into_raw` in `jitp_decide_alloc`
        // and, as the caller guarantees, is freed once.
        drop(unsafe { CString::from_raw(s) });
    }));
}

/// The message of the calling thread's last failed call, as a
/// NUL-terminated UTF-8 string (empty if the last call succeeded). The
/// pointer stays valid until the thread's next call into this library;
/// copy the text to keep it. Never null.
#[no_mangle]
pub extern "C" fn jitp_last_error() -> *const c_char {
    static EMPTY: &CStr = c"";
    catch_unwind(|| LAST_ERROR.with(|e| e.borrow().as_ptr())).unwrap_or(EMPTY.as_ptr())
}

/// The version of this library, as a NUL-terminated string (static).
#[no_mangle]
pub extern "C" fn jitp_version() -> *const c_char {
    static VERSION: &CStr = {
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => c"",
        }
    };
    VERSION.as_ptr()
}
