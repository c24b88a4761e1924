//! Virtual PIV card: piv-authenticator on a virtual (RAM) trussed platform,
//! exposed to PC/SC through vsmartcard's vpcd (TCP 127.0.0.1:35963).
//!
//! Usage: piv-vcard [HOST:PORT]   (default localhost:35963)
//! RUST_LOG=piv_authenticator=info to see parsed commands.

use heapless::Vec as HVec;
use iso7816::{command::CommandView, Status};
use piv_authenticator::{Authenticator, Options};
use trussed::{
    backend::{Backend as _, BackendId},
    serde_extensions::{ExtensionDispatch, ExtensionId, ExtensionImpl},
    service::ServiceResources,
    types::Context,
    virt::{self, StoreConfig},
    Platform,
};
use trussed_auth::AuthExtension;
use trussed_auth_backend::{AuthBackend, AuthContext, FilesystemLayout};
use trussed_chunked::ChunkedExtension;
use trussed_core::{
    api::{reply, request, Reply, Request},
    types::Location,
    Error,
};
use trussed_hpke::HpkeExtension;
use trussed_staging::{StagingBackend, StagingContext};
use trussed_wrap_key_to_file::WrapKeyToFileExtension;

// ---------------------------------------------------------------- dispatch
// Backends piv-authenticator 0.7 needs (see `piv_authenticator::Client`):
// core + AuthExtension (trussed-auth-backend) + Chunked/WrapKeyToFile/Hpke
// (trussed-staging).

pub struct Dispatch {
    #[cfg(feature = "rsa")]
    rsa: trussed_rsa_alloc::SoftwareRsa,
    auth: AuthBackend,
    staging: StagingBackend,
}

impl Default for Dispatch {
    fn default() -> Self {
        Self {
            #[cfg(feature = "rsa")]
            rsa: trussed_rsa_alloc::SoftwareRsa,
            auth: AuthBackend::new(Location::Internal, FilesystemLayout::V1),
            staging: StagingBackend::default(),
        }
    }
}

#[derive(Default)]
pub struct DispatchContext {
    auth: AuthContext,
    staging: StagingContext,
}

pub enum BackendIds {
    #[cfg(feature = "rsa")]
    Rsa,
    Auth,
    Staging,
}

pub enum ExtensionIds {
    Auth,
    Chunked,
    WrapKeyToFile,
    Hpke,
}

impl From<ExtensionIds> for u8 {
    fn from(id: ExtensionIds) -> u8 {
        match id {
            ExtensionIds::Auth => 0,
            ExtensionIds::Chunked => 1,
            ExtensionIds::WrapKeyToFile => 2,
            ExtensionIds::Hpke => 3,
        }
    }
}

impl TryFrom<u8> for ExtensionIds {
    type Error = Error;
    fn try_from(v: u8) -> Result<Self, Error> {
        Ok(match v {
            0 => Self::Auth,
            1 => Self::Chunked,
            2 => Self::WrapKeyToFile,
            3 => Self::Hpke,
            _ => return Err(Error::FunctionNotSupported),
        })
    }
}

impl ExtensionId<AuthExtension> for Dispatch {
    type Id = ExtensionIds;
    const ID: ExtensionIds = ExtensionIds::Auth;
}
impl ExtensionId<ChunkedExtension> for Dispatch {
    type Id = ExtensionIds;
    const ID: ExtensionIds = ExtensionIds::Chunked;
}
impl ExtensionId<WrapKeyToFileExtension> for Dispatch {
    type Id = ExtensionIds;
    const ID: ExtensionIds = ExtensionIds::WrapKeyToFile;
}
impl ExtensionId<HpkeExtension> for Dispatch {
    type Id = ExtensionIds;
    const ID: ExtensionIds = ExtensionIds::Hpke;
}

impl ExtensionDispatch for Dispatch {
    type BackendId = BackendIds;
    type Context = DispatchContext;
    type ExtensionId = ExtensionIds;

    fn core_request<P: Platform>(
        &mut self,
        backend: &BackendIds,
        ctx: &mut Context<DispatchContext>,
        request: &Request,
        resources: &mut ServiceResources<P>,
    ) -> Result<Reply, Error> {
        match backend {
            #[cfg(feature = "rsa")]
            BackendIds::Rsa => self.rsa.request(&mut ctx.core, &mut (), request, resources),
            BackendIds::Auth => Err(Error::RequestNotAvailable),
            BackendIds::Staging => {
                self.staging
                    .request(&mut ctx.core, &mut ctx.backends.staging, request, resources)
            }
        }
    }

    fn extension_request<P: Platform>(
        &mut self,
        backend: &BackendIds,
        extension: &ExtensionIds,
        ctx: &mut Context<DispatchContext>,
        request: &request::SerdeExtension,
        resources: &mut ServiceResources<P>,
    ) -> Result<reply::SerdeExtension, Error> {
        let core = &mut ctx.core;
        match (backend, extension) {
            (BackendIds::Auth, ExtensionIds::Auth) => {
                ExtensionImpl::<AuthExtension>::extension_request_serialized(
                    &mut self.auth,
                    core,
                    &mut ctx.backends.auth,
                    request,
                    resources,
                )
            }
            (BackendIds::Staging, ExtensionIds::Chunked) => {
                ExtensionImpl::<ChunkedExtension>::extension_request_serialized(
                    &mut self.staging,
                    core,
                    &mut ctx.backends.staging,
                    request,
                    resources,
                )
            }
            (BackendIds::Staging, ExtensionIds::WrapKeyToFile) => {
                ExtensionImpl::<WrapKeyToFileExtension>::extension_request_serialized(
                    &mut self.staging,
                    core,
                    &mut ctx.backends.staging,
                    request,
                    resources,
                )
            }
            (BackendIds::Staging, ExtensionIds::Hpke) => {
                ExtensionImpl::<HpkeExtension>::extension_request_serialized(
                    &mut self.staging,
                    core,
                    &mut ctx.backends.staging,
                    request,
                    resources,
                )
            }
            _ => Err(Error::RequestNotAvailable),
        }
    }
}

const BACKENDS: &[BackendId<BackendIds>] = &[
    #[cfg(feature = "rsa")]
    BackendId::Custom(BackendIds::Rsa),
    BackendId::Custom(BackendIds::Auth),
    BackendId::Custom(BackendIds::Staging),
    BackendId::Core,
];

// ---------------------------------------------------------------- vpicc adapter
// Handles ISO 7816 command chaining (CLA bit 0x10) and response chaining
// (61xx + GET RESPONSE) in front of the PIV app, like apdu-dispatch would.

const REPLY_CAP: usize = 7609; // max PIV object + TLV overhead
const CHUNK: usize = 256;
const PIV_FULL_AID: [u8; 11] = [0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00];

struct VCard<T: piv_authenticator::Client> {
    app: Authenticator<T>,
    /// Answer to YubiKey GET VERSION (INS 0xFD). piv-authenticator says 6.6.6,
    /// which the `yubikey` crate 0.9.0-rc.0 rejects (get_serial only knows 4.x/5.x).
    version: [u8; 3],
    /// Answer to YubiKey GET SERIAL (INS 0xF8), big-endian u32.
    serial: u32,
    chain: Option<iso7816::command::Command<REPLY_CAP>>,
    pending: Vec<u8>,
}

fn status_bytes(s: Status) -> Vec<u8> {
    let b: [u8; 2] = s.into();
    b.to_vec()
}

impl<T: piv_authenticator::Client> VCard<T> {
    fn emit(&mut self, mut data: Vec<u8>) -> Vec<u8> {
        if data.len() <= CHUNK {
            data.extend_from_slice(&[0x90, 0x00]);
            return data;
        }
        let rest = data.split_off(CHUNK);
        let remaining = rest.len();
        self.pending = rest;
        data.extend_from_slice(&[0x61, if remaining > 255 { 0 } else { remaining as u8 }]);
        data
    }

    fn handle(&mut self, msg: &[u8]) -> Vec<u8> {
        let view = match CommandView::try_from(msg) {
            Ok(v) => v,
            Err(_) => return status_bytes(Status::WrongLength),
        };
        let ins: u8 = view.instruction().into();

        // GET RESPONSE
        if ins == 0xC0 {
            if self.pending.is_empty() {
                return status_bytes(Status::ConditionsOfUseNotSatisfied);
            }
            let data = std::mem::take(&mut self.pending);
            return self.emit(data);
        }
        self.pending.clear();

        // YubiKey vendor commands whose emulated answers we override
        if ins == 0xFD && !view.class().chain().not_the_last() {
            return self.emit(self.version.to_vec());
        }
        if ins == 0xF8 && !view.class().chain().not_the_last() {
            return self.emit(self.serial.to_be_bytes().to_vec());
        }

        // command chaining
        if view.class().chain().not_the_last() {
            let r = match &mut self.chain {
                Some(c) => c.extend_from_command_view(view).map_err(|_| ()),
                None => view.to_owned().map(|c| self.chain = Some(c)).map_err(|_| ()),
            };
            return match r {
                Ok(()) => status_bytes(Status::Success),
                Err(()) => {
                    self.chain = None;
                    status_bytes(Status::NotEnoughMemory)
                }
            };
        }
        let full = match self.chain.take() {
            Some(mut c) => {
                if c.extend_from_command_view(view).is_err() {
                    return status_bytes(Status::NotEnoughMemory);
                }
                c
            }
            None => match view.to_owned::<REPLY_CAP>() {
                Ok(c) => c,
                Err(_) => return status_bytes(Status::WrongLength),
            },
        };

        // SELECT by (partial) AID: piv-authenticator 0.7 only accepts AIDs of at
        // least the truncated PIV AID (9 bytes), but the yubikey crate (like
        // ykman / yubico-piv-tool) selects with the 5-byte RID A000000308.  A real
        // YubiKey (and apdu-dispatch) does prefix matching, so emulate that.
        let full = if ins == 0xA4 && full.p1 == 0x04 {
            let d: &[u8] = full.data();
            if d.len() >= 5 && PIV_FULL_AID.starts_with(d) {
                let mut apdu = vec![0x00, 0xA4, 0x04, 0x00, PIV_FULL_AID.len() as u8];
                apdu.extend_from_slice(&PIV_FULL_AID);
                apdu.push(0x00);
                iso7816::command::Command::<REPLY_CAP>::try_from(&apdu[..]).unwrap()
            } else {
                return status_bytes(Status::NotFound);
            }
        } else {
            full
        };

        let mut reply: HVec<u8, REPLY_CAP> = HVec::new();
        let res = self.app.respond(full.as_view(), &mut reply);
        log::debug!("APDU {:02x?} -> {:?} ({} bytes)", &msg[..msg.len().min(5)], res, reply.len());
        match res {
            Ok(()) => self.emit(reply.to_vec()),
            Err(s) => status_bytes(s),
        }
    }
}

impl<T: piv_authenticator::Client> vpicc::VSmartCard for VCard<T> {
    fn power_off(&mut self) {
        self.chain = None;
        self.pending.clear();
    }
    fn reset(&mut self) {
        self.power_off();
    }
    fn execute(&mut self, msg: &[u8]) -> Vec<u8> {
        let r = self.handle(msg);
        log::info!("C: {}  R: {}", hex(msg), hex(&r));
        r
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn main() {
    env_logger::init();
    let addr = std::env::args().nth(1).unwrap_or_else(|| "localhost:35963".into());
    // 5.4.3: 3DES default management key (what piv-authenticator uses), GET METADATA
    // allowed (>= 5.3). 5.7+ would make MgmKey::get_default pick AES-192.
    let version: [u8; 3] = std::env::var("PIV_VCARD_VERSION")
        .unwrap_or_else(|_| "5.4.3".into())
        .split('.')
        .map(|p| p.parse::<u8>().expect("PIV_VCARD_VERSION=a.b.c"))
        .collect::<Vec<_>>()
        .try_into()
        .expect("PIV_VCARD_VERSION=a.b.c");
    let serial: u32 = std::env::var("PIV_VCARD_SERIAL")
        .map(|s| s.parse().expect("PIV_VCARD_SERIAL=<u32>"))
        .unwrap_or(0x0052_f743);
    virt::with_platform(StoreConfig::ram(), |platform| {
        platform.run_client_with_backends("piv", Dispatch::default(), BACKENDS, |client| {
            let app = Authenticator::new(client, Options::default());
            let mut card = VCard { app, version, serial, chain: None, pending: Vec::new() };
            let conn = vpicc::connect_socket(addr.as_str()).expect("connect to vpcd");
            eprintln!("piv-vcard: connected to vpcd at {addr}");
            conn.run(&mut card).expect("vpicc run");
        })
    });
}
