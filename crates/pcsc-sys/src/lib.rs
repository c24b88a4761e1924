//! A stand-in for `pcsc-sys` (through `[patch.crates-io]`): the same API, but
//! `libpcsclite.so.1` is opened at run time, on the first PC/SC call, instead of
//! being linked. So the `ceremony` binary starts, and every command that needs no
//! smart card works, on a machine without PC/SC (an offline machine used with a
//! PKCS#11 HSM only), and building it needs no system library or `-dev` package.
//!
//! Without the library, every call returns `SCARD_E_NO_SERVICE` and
//! [`load_error`] says why; callers turn that into "PC/SC is not installed".
//! Linux only (PC/SC lite); the types and constants are in [`abi`].

#![allow(bad_style)]

mod abi;
pub use abi::*;

use std::os::raw::{c_char, c_void};
use std::sync::OnceLock;

/// The library names tried, in order.
pub const LIBRARY_NAMES: [&str; 2] = ["libpcsclite.so.1", "libpcsclite.so"];

/// Environment variable naming another library to load instead (tests use it
/// to stand for a machine without PC/SC).
pub const LIBRARY_ENV: &str = "CEREMONY_PCSC_LIBRARY";

/// pcsc-lite's protocol control blocks: `{protocol, sizeof(SCARD_IO_REQUEST)}`.
/// The library reads only these two fields, so local copies serve as well as the
/// library's own exported ones.
pub static g_rgSCardT0Pci: SCARD_IO_REQUEST = SCARD_IO_REQUEST {
    dwProtocol: SCARD_PROTOCOL_T0,
    cbPciLength: std::mem::size_of::<SCARD_IO_REQUEST>() as DWORD,
};
pub static g_rgSCardT1Pci: SCARD_IO_REQUEST = SCARD_IO_REQUEST {
    dwProtocol: SCARD_PROTOCOL_T1,
    cbPciLength: std::mem::size_of::<SCARD_IO_REQUEST>() as DWORD,
};
pub static g_rgSCardRawPci: SCARD_IO_REQUEST = SCARD_IO_REQUEST {
    dwProtocol: SCARD_PROTOCOL_RAW,
    cbPciLength: std::mem::size_of::<SCARD_IO_REQUEST>() as DWORD,
};

static LIBRARY: OnceLock<Result<libloading::Library, String>> = OnceLock::new();

fn library() -> Result<&'static libloading::Library, &'static str> {
    LIBRARY
        .get_or_init(|| {
            let names: Vec<String> = match std::env::var(LIBRARY_ENV) {
                Ok(name) if !name.is_empty() => vec![name],
                _ => LIBRARY_NAMES.iter().map(|s| s.to_string()).collect(),
            };
            let mut errors = Vec::new();
            for name in &names {
                // SAFETY: loading pcsc-lite runs no initialisation code that
                // depends on our state; its symbols are resolved per call below.
                match unsafe { libloading::Library::new(name) } {
                    Ok(lib) => return Ok(lib),
                    Err(e) => errors.push(format!("{name}: {e}")),
                }
            }
            Err(errors.join("; "))
        })
        .as_ref()
        .map_err(String::as_str)
}

/// Why the PC/SC library could not be loaded, if it could not (it is loaded on
/// the first call; this loads it if no call has yet).
pub fn load_error() -> Option<&'static str> {
    library().err()
}

macro_rules! dynamic {
    ($( pub fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> LONG; )*) => {
        $(
            /// # Safety
            /// As the PC/SC function of this name: the pointers must be valid as
            /// pcsc-lite documents. Returns `SCARD_E_NO_SERVICE` when the library
            /// is not installed (see [`load_error`]).
            pub unsafe fn $name($($arg: $ty),*) -> LONG {
                type F = unsafe extern "C" fn($($ty),*) -> LONG;
                static SYMBOL: OnceLock<Option<F>> = OnceLock::new();
                let f = SYMBOL.get_or_init(|| {
                    let lib = library().ok()?;
                    // SAFETY: the symbol is pcsc-lite's function of this name, with
                    // this signature (winscard.h).
                    unsafe {
                        lib.get::<F>(concat!(stringify!($name), "\0").as_bytes())
                            .ok()
                            .map(|s| *s)
                    }
                });
                match f {
                    // SAFETY: the caller upholds the function's contract.
                    Some(f) => unsafe { f($($arg),*) },
                    None => SCARD_E_NO_SERVICE,
                }
            }
        )*
    };
}

dynamic! {
    pub fn SCardEstablishContext(
        dwScope: DWORD,
        pvReserved1: *const c_void,
        pvReserved2: *const c_void,
        phContext: *mut SCARDCONTEXT,
    ) -> LONG;
    pub fn SCardReleaseContext(hContext: SCARDCONTEXT) -> LONG;
    pub fn SCardIsValidContext(hContext: SCARDCONTEXT) -> LONG;
    pub fn SCardCancel(hContext: SCARDCONTEXT) -> LONG;
    pub fn SCardConnect(
        hContext: SCARDCONTEXT,
        szReader: *const c_char,
        dwShareMode: DWORD,
        dwPreferredProtocols: DWORD,
        phCard: *mut SCARDHANDLE,
        pdwActiveProtocol: *mut DWORD,
    ) -> LONG;
    pub fn SCardReconnect(
        hCard: SCARDHANDLE,
        dwShareMode: DWORD,
        dwPreferredProtocols: DWORD,
        dwInitialization: DWORD,
        pdwActiveProtocol: *mut DWORD,
    ) -> LONG;
    pub fn SCardDisconnect(hCard: SCARDHANDLE, dwDisposition: DWORD) -> LONG;
    pub fn SCardGetStatusChange(
        hContext: SCARDCONTEXT,
        dwTimeout: DWORD,
        rgReaderStates: *mut SCARD_READERSTATE,
        cReaders: DWORD,
    ) -> LONG;
    pub fn SCardListReaders(
        hContext: SCARDCONTEXT,
        mszGroups: *const c_char,
        mszReaders: *mut c_char,
        pcchReaders: *mut DWORD,
    ) -> LONG;
    pub fn SCardBeginTransaction(hCard: SCARDHANDLE) -> LONG;
    pub fn SCardEndTransaction(hCard: SCARDHANDLE, dwDisposition: DWORD) -> LONG;
    pub fn SCardStatus(
        hCard: SCARDHANDLE,
        szReaderName: *mut c_char,
        pcchReaderLen: *mut DWORD,
        pdwState: *mut DWORD,
        pdwProtocol: *mut DWORD,
        pbAtr: *mut u8,
        pcbAtrLen: *mut DWORD,
    ) -> LONG;
    pub fn SCardGetAttrib(
        hCard: SCARDHANDLE,
        dwAttrId: DWORD,
        pbAttr: *mut u8,
        pcbAttrLen: *mut DWORD,
    ) -> LONG;
    pub fn SCardSetAttrib(
        hCard: SCARDHANDLE,
        dwAttrId: DWORD,
        pbAttr: *const u8,
        pcbAttrLen: DWORD,
    ) -> LONG;
    pub fn SCardTransmit(
        hCard: SCARDHANDLE,
        pioSendPci: *const SCARD_IO_REQUEST,
        pbSendBuffer: *const u8,
        cbSendLength: DWORD,
        pioRecvPci: *mut SCARD_IO_REQUEST,
        pbRecvBuffer: *mut u8,
        pcbRecvLength: *mut DWORD,
    ) -> LONG;
    pub fn SCardControl(
        hCard: SCARDHANDLE,
        dwControlCode: DWORD,
        pbSendBuffer: *const u8,
        cbSendLength: DWORD,
        pbRecvBuffer: *mut u8,
        cbRecvLength: DWORD,
        lpBytesReturned: *mut DWORD,
    ) -> LONG;
}
