//! The PKCS#11 backend: keys generated on, and used from, an HSM or smart card
//! through its vendor's PKCS#11 module (tested against SoftHSM2).
//!
//! - Tokens and keys are named by RFC 7512 URIs ([`Pkcs11Uri`]): label, serial,
//!   object label, ID. Never by slot number.
//! - One [`Module`] per module path per process, initialised once and finalised
//!   when the last user drops it.
//! - Listing tokens and reading public keys needs no PIN. Signing and generation
//!   log in (see [`pin`]); generation is the only thing that opens a read-write
//!   session.
//! - Ed25519 signs with `CKM_EDDSA` (pure). ECDSA P-256 hashes with SHA-256 in
//!   software and passes exactly 32 bytes to `CKM_ECDSA`. Every signature is
//!   checked in software against the key's public half before it is used, by the
//!   core code that asked for it (`tuf::sign::sign_message` and the like).
//! - Errors name the PKCS#11 function and its return value.

mod ec;
pub mod pin;
pub mod registry;
pub mod uri;

pub use pin::{LoginPlan, PinPrompt, PinStatus, login_plan};
pub use uri::Pkcs11Uri;

use super::{Signer, TokenError};
use crate::keys::{Algorithm, PublicKey, SignatureEncoding};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Function, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

/// Where PKCS#11 modules are usually installed on this platform, in the order
/// they are tried when no module is named.
pub fn default_module_paths() -> Vec<PathBuf> {
    let mut paths: Vec<String> = Vec::new();
    if cfg!(target_os = "linux") {
        let multiarch = match std::env::consts::ARCH {
            "x86_64" => "x86_64-linux-gnu",
            "aarch64" => "aarch64-linux-gnu",
            "arm" => "arm-linux-gnueabihf",
            "x86" => "i386-linux-gnu",
            "powerpc64" => "powerpc64le-linux-gnu",
            "s390x" => "s390x-linux-gnu",
            "riscv64" => "riscv64-linux-gnu",
            _ => "",
        };
        // Debian / Ubuntu
        paths.push("/usr/lib/softhsm/libsofthsm2.so".into());
        if !multiarch.is_empty() {
            paths.push(format!("/usr/lib/{multiarch}/softhsm/libsofthsm2.so"));
        }
        // Fedora / RHEL, Arch
        paths.push("/usr/lib64/pkcs11/libsofthsm2.so".into());
        paths.push("/usr/lib/pkcs11/libsofthsm2.so".into());
        // OpenSC (smart cards, PIV)
        if !multiarch.is_empty() {
            paths.push(format!("/usr/lib/{multiarch}/opensc-pkcs11.so"));
        }
        paths.push("/usr/lib64/opensc-pkcs11.so".into());
    } else if cfg!(target_os = "macos") {
        paths.push("/opt/homebrew/lib/softhsm/libsofthsm2.so".into());
        paths.push("/usr/local/lib/softhsm/libsofthsm2.so".into());
        paths.push("/Library/OpenSC/lib/opensc-pkcs11.so".into());
    } else if cfg!(target_os = "windows") {
        paths.push(r"C:\SoftHSM2\lib\softhsm2-x64.dll".into());
        paths.push(r"C:\Windows\System32\opensc-pkcs11.dll".into());
    } else {
        // The BSDs
        paths.push("/usr/local/lib/softhsm/libsofthsm2.so".into());
        paths.push("/usr/local/lib/opensc-pkcs11.so".into());
    }
    paths.into_iter().map(PathBuf::from).collect()
}

/// Decide which module to load: `--module` (or its environment variable), the
/// URI's `module-path`, or the first default that exists.
pub fn resolve_module_path(
    explicit: Option<&Path>,
    uri: Option<&Pkcs11Uri>,
) -> Result<PathBuf, TokenError> {
    let from_uri = uri.and_then(|u| u.module_path.as_deref());
    let chosen = match (explicit, from_uri) {
        (Some(a), Some(b)) if a != b => {
            return Err(TokenError::BadReference {
                reference: uri.map(|u| u.to_string()).unwrap_or_default(),
                reason: format!(
                    "its module-path {} differs from --module {}; give one of them",
                    b.display(),
                    a.display()
                ),
            });
        }
        (Some(a), _) => Some(a),
        (None, b) => b,
    };
    if let Some(path) = chosen {
        if !path.is_file() {
            return Err(TokenError::Module {
                path: path.display().to_string(),
                reason: "no such file".into(),
            });
        }
        return Ok(path.to_owned());
    }
    let defaults = default_module_paths();
    defaults
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| TokenError::Module {
            path: "(none given)".into(),
            reason: format!(
                "none was given and none is installed where modules usually are ({})",
                defaults
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
}

/// The PKCS#11 function name for a cryptoki function, e.g. `C_Login`.
fn function_name(f: Function) -> String {
    format!("C_{f:?}")
}

/// The PKCS#11 name of a return value, e.g. `CKR_PIN_INCORRECT`.
pub fn rv_name(rv: &RvError) -> String {
    match rv {
        RvError::VendorDefined(v) => format!("vendor-defined CKR 0x{v:08x}"),
        RvError::UnknownErrorCode(v) => format!("unknown CKR 0x{v:08x}"),
        other => {
            let camel = format!("{other:?}");
            let mut out = String::from("CKR");
            for c in camel.chars() {
                if c.is_ascii_uppercase() {
                    out.push('_');
                }
                out.push(c.to_ascii_uppercase());
            }
            out
        }
    }
}

/// Turn a cryptoki error into ours, naming the function and return value.
fn ck_err(token: &str, e: CkError) -> TokenError {
    match e {
        CkError::Pkcs11(rv, f) => {
            let context = match rv {
                RvError::DeviceRemoved
                | RvError::TokenNotPresent
                | RvError::SessionHandleInvalid
                | RvError::SessionClosed => {
                    " (the token was removed or closed; nothing was signed)".into()
                }
                RvError::UserNotLoggedIn => {
                    " (the token was logged out, perhaps by another program; run the command again)"
                        .into()
                }
                _ => String::new(),
            };
            TokenError::Pkcs11 {
                token: token.to_owned(),
                function: function_name(f),
                rv: rv_name(&rv),
                context,
            }
        }
        other => TokenError::Device {
            token: token.to_owned(),
            reason: other.to_string(),
        },
    }
}

/// A loaded and initialised PKCS#11 module. Finalised when dropped.
pub struct Module {
    path: PathBuf,
    ctx: Option<Pkcs11>,
    finalize_on_drop: bool,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module").field("path", &self.path).finish()
    }
}

/// Modules this process has loaded and still uses: one per path.
static LOADED: Mutex<Vec<(PathBuf, Weak<Module>)>> = Mutex::new(Vec::new());

impl Module {
    /// Load and initialise the module at `path`, or return the one this process
    /// already has for it.
    pub fn load(path: &Path) -> Result<Arc<Module>, TokenError> {
        let module_err = |reason: String| TokenError::Module {
            path: path.display().to_string(),
            reason,
        };
        let key = path
            .canonicalize()
            .map_err(|e| module_err(format!("cannot open it: {e}")))?;
        let mut loaded = LOADED.lock().unwrap_or_else(|p| p.into_inner());
        loaded.retain(|(_, w)| w.strong_count() > 0);
        if let Some(m) = loaded
            .iter()
            .find(|(p, _)| *p == key)
            .and_then(|(_, w)| w.upgrade())
        {
            return Ok(m);
        }
        let ctx = Pkcs11::new(&key)
            .map_err(|e| module_err(format!("cannot load it as a PKCS#11 module: {e}")))?;
        let finalize_on_drop =
            match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
                Ok(()) => true,
                // Someone else in this process initialised it: leave it to them.
                Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => false,
                Err(e) => return Err(ck_err(&format!("module {}", path.display()), e)),
            };
        let module = Arc::new(Module {
            path: path.to_owned(),
            ctx: Some(ctx),
            finalize_on_drop,
        });
        loaded.push((key, Arc::downgrade(&module)));
        Ok(module)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn ctx(&self) -> &Pkcs11 {
        self.ctx.as_ref().expect("present until dropped")
    }

    fn name(&self) -> String {
        format!("module {}", self.path.display())
    }

    /// The library's own description: manufacturer, description, versions.
    pub fn describe(&self) -> Result<String, TokenError> {
        let info = self
            .ctx()
            .get_library_info()
            .map_err(|e| ck_err(&self.name(), e))?;
        Ok(format!(
            "{} {} (library {}, PKCS#11 {})",
            info.manufacturer_id(),
            info.library_description(),
            info.library_version(),
            info.cryptoki_version()
        ))
    }

    /// Every token present, with what it says about itself. Needs no PIN.
    pub fn tokens(&self) -> Result<Vec<TokenSummary>, TokenError> {
        let slots = self
            .ctx()
            .get_slots_with_token()
            .map_err(|e| ck_err(&self.name(), e))?;
        let mut out = Vec::new();
        for slot in slots {
            let info = match self.ctx().get_token_info(slot) {
                Ok(i) => i,
                // Removed between listing slots and asking: skip it.
                Err(CkError::Pkcs11(RvError::TokenNotPresent | RvError::DeviceRemoved, _)) => {
                    continue;
                }
                Err(e) => return Err(ck_err(&self.name(), e)),
            };
            out.push(TokenSummary {
                slot,
                label: info.label().to_owned(),
                serial: info.serial_number().to_owned(),
                manufacturer: info.manufacturer_id().to_owned(),
                model: info.model().to_owned(),
                pin: PinStatus::from_token_info(&info),
                initialized: info.token_initialized(),
                login_required: info.login_required(),
                write_protected: info.write_protected(),
            });
        }
        Ok(out)
    }

    /// The one token `uri` names.
    pub fn find_token(&self, uri: &Pkcs11Uri) -> Result<TokenSummary, TokenError> {
        let tokens = self.tokens()?;
        let matching: Vec<&TokenSummary> = tokens
            .iter()
            .filter(|t| {
                uri.token.as_ref().is_none_or(|l| *l == t.label)
                    && uri.serial.as_ref().is_none_or(|s| *s == t.serial)
                    && uri
                        .manufacturer
                        .as_ref()
                        .is_none_or(|m| *m == t.manufacturer)
                    && uri.model.as_ref().is_none_or(|m| *m == t.model)
            })
            .collect();
        match matching.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(TokenError::TokenNotFound {
                wanted: uri.token_name(),
                detail: if tokens.is_empty() {
                    format!("{} sees no tokens at all", self.name())
                } else {
                    format!(
                        "{} sees {}",
                        self.name(),
                        tokens
                            .iter()
                            .map(|t| t.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                },
            }),
            several => Err(TokenError::BadReference {
                reference: uri.to_string(),
                reason: format!(
                    "{} tokens match ({}); add serial= to choose one",
                    several.len(),
                    several
                        .iter()
                        .map(|t| t.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        }
    }

    /// The public keys on `token`, readable without a PIN.
    pub fn public_keys(&self, token: &TokenSummary) -> Result<Vec<KeyObject>, TokenError> {
        let name = token.name();
        let session = self
            .ctx()
            .open_ro_session(token.slot)
            .map_err(|e| ck_err(&name, e))?;
        let handles = session
            .find_objects(&[Attribute::Class(ObjectClass::PUBLIC_KEY)])
            .map_err(|e| ck_err(&name, e))?;
        let mut out = Vec::new();
        for h in handles {
            out.push(read_key_object(&session, h, &name)?);
        }
        Ok(out)
    }

    /// The public key `uri` names, read without a PIN.
    pub fn read_public_key(&self, uri: &Pkcs11Uri) -> Result<PublicKey, TokenError> {
        let token = self.find_token(uri)?;
        let session = self
            .ctx()
            .open_ro_session(token.slot)
            .map_err(|e| ck_err(&token.name(), e))?;
        let (_, object) = find_public(&session, &token, uri)?;
        object.public.map_err(|reason| TokenError::Malformed {
            token: token.name(),
            reason,
        })
    }

    /// Open the key `uri` names for signing: find the token, read the public key,
    /// log in (asking `prompt`), and find the private key.
    pub fn open_signer(
        self: &Arc<Self>,
        uri: &Pkcs11Uri,
        prompt: &mut dyn PinPrompt,
    ) -> Result<Pkcs11Signer, TokenError> {
        let token = self.find_token(uri)?;
        let name = token.name();
        let session = self
            .ctx()
            .open_ro_session(token.slot)
            .map_err(|e| ck_err(&name, e))?;
        let (_, object) = find_public(&session, &token, uri)?;
        let public = object.public.map_err(|reason| TokenError::Malformed {
            token: name.clone(),
            reason,
        })?;
        let session = self.login(session, &token, prompt)?;
        let selector = KeySelector {
            label: object.label.clone(),
            id: object.id.clone(),
        };
        let mut signer = Pkcs11Signer {
            session,
            key: None,
            selector,
            uri: token.key_uri(&object.label, &object.id),
            token,
            public,
            module: Arc::clone(self),
        };
        signer.private_key()?;
        Ok(signer)
    }

    /// Log `session` in as the user, after reading and showing the PIN flags.
    fn login(
        &self,
        session: Session,
        token: &TokenSummary,
        prompt: &mut dyn PinPrompt,
    ) -> Result<LoggedIn, TokenError> {
        let name = token.name();
        let status = self.pin_status(token)?;
        prompt.notice(&format!("{name}: {}", status.describe()));
        let plan = login_plan(&name, &status)?;
        if plan.needs_confirmation() && !prompt.confirm_final_try(&name)? {
            return Err(TokenError::Refused {
                token: name,
                reason: "not logging in: the final PIN try was not confirmed".into(),
            });
        }
        let result = if plan.uses_pin_pad() {
            prompt.notice(&format!("enter the user PIN on the PIN pad of {name}"));
            session.login(UserType::User, None)
        } else {
            let pin = prompt.user_pin(&name)?;
            let auth = AuthPin::from(pin.expose_secret().to_owned());
            drop(pin);
            session.login(UserType::User, Some(&auth))
        };
        match result {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {
                Ok(LoggedIn { session })
            }
            Err(CkError::Pkcs11(
                RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange,
                _,
            )) => {
                let tries = match self.pin_status(token) {
                    Ok(now) => now.tries_left(),
                    Err(_) => "the token's PIN status could not be read afterwards".into(),
                };
                Err(TokenError::WrongPin { token: name, tries })
            }
            Err(CkError::Pkcs11(RvError::PinLocked, _)) => {
                Err(TokenError::PinLocked { token: name })
            }
            Err(e) => Err(ck_err(&name, e)),
        }
    }

    /// The token's PIN flags, read fresh.
    pub fn pin_status(&self, token: &TokenSummary) -> Result<PinStatus, TokenError> {
        let info = self
            .ctx()
            .get_token_info(token.slot)
            .map_err(|e| ck_err(&token.name(), e))?;
        Ok(PinStatus::from_token_info(&info))
    }

    /// Generate a key pair on the token `uri` names, labelled `object=` (and with
    /// `id=`, or a fresh random ID), test-sign with it, and return the evidence.
    pub fn generate(
        self: &Arc<Self>,
        uri: &Pkcs11Uri,
        algorithm: Algorithm,
        prompt: &mut dyn PinPrompt,
    ) -> Result<GenerationEvidence, TokenError> {
        self.generate_uncommitted(uri, algorithm, prompt, &mut |_| Ok(()))?
            .commit()
    }

    /// Generate a key pair as [`Module::generate`] does, but leave both halves
    /// under the provisional label [`uncommitted_label`] until
    /// [`Uncommitted::commit`] gives them their own. A run interrupted before
    /// then leaves objects no one can take for a finished key; they are found by
    /// their ID and destroyed ([`Module::discard_uncommitted`]), or, if the
    /// caller recorded the finished pair, committed ([`Module::commit_uncommitted`]).
    ///
    /// `before` is called once logged in, right before the pair is made, with
    /// how many key objects on the token have neither ID nor label (see
    /// [`Module::discard_uncommitted`]): the caller's journal records it.
    pub fn generate_uncommitted(
        self: &Arc<Self>,
        uri: &Pkcs11Uri,
        algorithm: Algorithm,
        prompt: &mut dyn PinPrompt,
        before: &mut dyn FnMut(usize) -> Result<(), TokenError>,
    ) -> Result<Uncommitted, TokenError> {
        let label = uri.object.clone().ok_or_else(|| TokenError::BadReference {
            reference: uri.to_string(),
            reason: "name the new key with object=LABEL".into(),
        })?;
        let token = self.find_token(uri)?;
        let name = token.name();
        let (keygen, sign) = match algorithm {
            Algorithm::Ed25519 => (
                MechanismType::ECC_EDWARDS_KEY_PAIR_GEN,
                MechanismType::EDDSA,
            ),
            Algorithm::EcdsaP256 => (MechanismType::ECC_KEY_PAIR_GEN, MechanismType::ECDSA),
            // Where an HSM policy requires RSA: RSA-3072, signing RSASSA-PSS with
            // SHA-256 on the token (securesystemslib's rsassa-pss-sha256).
            Algorithm::Rsa => (
                MechanismType::RSA_PKCS_KEY_PAIR_GEN,
                MechanismType::SHA256_RSA_PKCS_PSS,
            ),
            Algorithm::EcdsaP384 => {
                return Err(TokenError::Unsupported {
                    token: name,
                    what: format!("generating {algorithm} keys (ed25519, ecdsa-p256 and rsa are)"),
                });
            }
        };
        let mechanisms = self
            .ctx()
            .get_mechanism_list(token.slot)
            .map_err(|e| ck_err(&name, e))?;
        for m in [keygen, sign] {
            if !mechanisms.contains(&m) {
                return Err(TokenError::Unsupported {
                    token: name,
                    what: format!("{algorithm} keys ({m} is missing)"),
                });
            }
        }
        let id = match &uri.id {
            Some(id) => id.clone(),
            None => {
                let mut id = vec![0u8; 16];
                getrandom::fill(&mut id).map_err(|e| TokenError::Device {
                    token: name.clone(),
                    reason: format!("no system randomness for the key ID: {e}"),
                })?;
                id
            }
        };
        let session = self
            .ctx()
            .open_rw_session(token.slot)
            .map_err(|e| ck_err(&name, e))?;
        let user = self.login(session, &token, prompt)?;
        let s = &user.session;
        for (what, attr) in [
            (
                format!("label {label:?}"),
                Attribute::Label(label.as_bytes().to_vec()),
            ),
            (
                format!("ID {}", hex::encode(&id)),
                Attribute::Id(id.clone()),
            ),
        ] {
            let found = s.find_objects(&[attr]).map_err(|e| ck_err(&name, e))?;
            if !found.is_empty() {
                return Err(TokenError::ObjectExists { token: name, what });
            }
        }
        before(self.unidentified_objects(&user, &name)?.len())?;
        let provisional = uncommitted_label(&label);
        let (public_handle, private_handle, ec_params) =
            generate_pair(s, algorithm, &provisional, &id).map_err(|e| ck_err(&name, e))?;
        let object = read_key_object(s, public_handle, &name)?;
        let public = object.public.map_err(|reason| TokenError::Malformed {
            token: name.clone(),
            reason: format!("the new public key: {reason}"),
        })?;
        if public.algorithm() != algorithm {
            return Err(TokenError::Malformed {
                token: name,
                reason: format!(
                    "asked for {algorithm}, the token made {}",
                    public.algorithm()
                ),
            });
        }
        let attrs = PrivateAttributes::read(s, private_handle, &name)?;
        let key_uri = token.key_uri(&label, &id);
        let left = format!(
            "; the key pair labelled {provisional:?} with ID {} was left on the token for investigation: do not use it",
            hex::encode(&id)
        );
        if let Some(problem) = attrs.problem() {
            return Err(TokenError::Refused {
                token: name,
                reason: format!("the new private key {problem}{left}"),
            });
        }
        // Test-sign a fresh message and verify it in software.
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).map_err(|e| TokenError::Device {
            token: name.clone(),
            reason: format!("no system randomness: {e}"),
        })?;
        let mut message = b"ceremony key generation self-test ".to_vec();
        message.extend_from_slice(hex::encode(nonce).as_bytes());
        let signature =
            raw_sign(s, private_handle, algorithm, &message).map_err(|e| ck_err(&name, e))?;
        verify_raw(&public, &message, &signature).map_err(|reason| TokenError::Refused {
            token: name.clone(),
            reason: format!("the test signature does not verify ({reason}){left}"),
        })?;
        let evidence = GenerationEvidence {
            uri: key_uri,
            algorithm,
            public,
            token_label: token.label,
            token_serial: token.serial,
            token_manufacturer: token.manufacturer,
            token_model: token.model,
            ec_params,
            local: attrs.local == Some(true),
            always_sensitive: attrs.always_sensitive == Some(true),
            never_extractable: attrs.never_extractable == Some(true),
            sensitive: attrs.sensitive == Some(true),
            extractable: attrs.extractable == Some(true),
            self_test_verified: true,
        };
        Ok(Uncommitted {
            user,
            handles: [public_handle, private_handle],
            label,
            evidence,
        })
    }

    /// A read-write session on the token `uri` names, logged in as the user;
    /// with the token's name for messages.
    fn login_rw(
        &self,
        uri: &Pkcs11Uri,
        prompt: &mut dyn PinPrompt,
    ) -> Result<(String, LoggedIn), TokenError> {
        let token = self.find_token(uri)?;
        let name = token.name();
        let session = self
            .ctx()
            .open_rw_session(token.slot)
            .map_err(|e| ck_err(&name, e))?;
        let user = self.login(session, &token, prompt)?;
        Ok((name, user))
    }

    /// Objects with the key ID of `uri` (which names the key's final label and
    /// its ID), read while logged in so private objects show too.
    fn objects_by_id(
        &self,
        user: &LoggedIn,
        name: &str,
        uri: &Pkcs11Uri,
    ) -> Result<Vec<(ObjectHandle, String, ObjectClass)>, TokenError> {
        let id = uri.id.clone().ok_or_else(|| TokenError::BadReference {
            reference: uri.to_string(),
            reason: "an uncommitted key is found by its ID".into(),
        })?;
        let s = &user.session;
        let handles = s
            .find_objects(&[Attribute::Id(id)])
            .map_err(|e| ck_err(name, e))?;
        let mut out = Vec::new();
        for h in handles {
            let (mut label, mut class) = (String::new(), None);
            for a in s
                .get_attributes(h, &[AttributeType::Label, AttributeType::Class])
                .unwrap_or_default()
            {
                match a {
                    Attribute::Label(l) => label = String::from_utf8_lossy(&l).into_owned(),
                    Attribute::Class(c) => class = Some(c),
                    _ => {}
                }
            }
            out.push((h, label, class.unwrap_or(ObjectClass::DATA)));
        }
        Ok(out)
    }

    /// Destroy what an interrupted generation left under the ID `uri` names: only
    /// objects still carrying the provisional label (a half pair, or a pair never
    /// recorded). Returns how many objects were destroyed. An object with that ID
    /// and any other label is never touched: that is refused.
    ///
    /// A module killed inside its own writes of a new object can leave an object
    /// without ID or label (the attributes it had not written yet). Where the
    /// token held no such object when the generation began (`unidentified_before`
    /// is 0, as the caller's journal recorded), every such object is the
    /// interrupted generation's and is destroyed too; otherwise they are left
    /// (which one is whose cannot be told) and counted in the second number.
    pub fn discard_uncommitted(
        self: &Arc<Self>,
        uri: &Pkcs11Uri,
        unidentified_before: Option<usize>,
        prompt: &mut dyn PinPrompt,
    ) -> Result<(usize, usize), TokenError> {
        let label = uri.object.clone().unwrap_or_default();
        let provisional = uncommitted_label(&label);
        let (name, user) = self.login_rw(uri, prompt)?;
        let found = self.objects_by_id(&user, &name, uri)?;
        // The ID was chosen at random for this generation: an object with it is
        // the generation's whether its label was written yet or not.
        if let Some((_, other, _)) = found
            .iter()
            .find(|(_, l, _)| *l != provisional && *l != label && !l.is_empty())
        {
            return Err(TokenError::ObjectExists {
                token: name,
                what: format!(
                    "an object labelled {other:?} with the ID {} of an interrupted key generation (it is left alone: remove it or choose another token)",
                    hex::encode(uri.id.as_deref().unwrap_or_default())
                ),
            });
        }
        let unidentified = self.unidentified_objects(&user, &name)?;
        let (torn, left) = match unidentified_before {
            Some(0) => (unidentified, 0),
            _ => (Vec::new(), unidentified.len()),
        };
        for h in found.iter().map(|(h, _, _)| *h).chain(torn.iter().copied()) {
            user.session
                .destroy_object(h)
                .map_err(|e| ck_err(&name, e))?;
        }
        Ok((found.len() + torn.len(), left))
    }

    /// Objects with neither ID nor label.
    fn unidentified_objects(
        &self,
        user: &LoggedIn,
        name: &str,
    ) -> Result<Vec<ObjectHandle>, TokenError> {
        let s = &user.session;
        let mut out = Vec::new();
        for h in s.find_objects(&[]).map_err(|e| ck_err(name, e))? {
            // An object whose attributes cannot even be read (a module killed
            // inside its write of it) counts as unidentified.
            let attrs = s
                .get_attributes(h, &[AttributeType::Id, AttributeType::Label])
                .unwrap_or_default();
            let empty = attrs.iter().all(|a| match a {
                Attribute::Id(v) | Attribute::Label(v) => v.is_empty(),
                _ => true,
            });
            if empty {
                out.push(h);
            }
        }
        Ok(out)
    }

    /// Finish a generation recorded as made but interrupted before its objects
    /// got their label: both halves must be there with the ID `uri` names, the
    /// public one holding `public`; each gets the label `uri` names.
    pub fn commit_uncommitted(
        self: &Arc<Self>,
        uri: &Pkcs11Uri,
        public: &PublicKey,
        prompt: &mut dyn PinPrompt,
    ) -> Result<(), TokenError> {
        let label = uri.object.clone().unwrap_or_default();
        let provisional = uncommitted_label(&label);
        let (name, user) = self.login_rw(uri, prompt)?;
        let found = self.objects_by_id(&user, &name, uri)?;
        let ours = |l: &str| l == provisional || l == label || l.is_empty();
        let public_h: Vec<_> = found
            .iter()
            .filter(|(_, l, c)| ours(l) && *c == ObjectClass::PUBLIC_KEY)
            .collect();
        let private_h: Vec<_> = found
            .iter()
            .filter(|(_, l, c)| ours(l) && *c == ObjectClass::PRIVATE_KEY)
            .collect();
        let incomplete = || TokenError::KeyNotFound {
            token: name.clone(),
            key: uri.key_description(),
            detail: " (the interrupted generation's key pair is not whole)".into(),
        };
        let ([(ph, _, _)], [(kh, _, _)]) = (public_h.as_slice(), private_h.as_slice()) else {
            return Err(incomplete());
        };
        let object = read_key_object(&user.session, *ph, &name)?;
        if object.public.as_ref().ok() != Some(public) {
            return Err(incomplete());
        }
        relabel(&user.session, &[*ph, *kh], &label).map_err(|e| ck_err(&name, e))
    }
}

/// The label a new key's objects carry from their generation until the run that
/// made them has recorded them.
pub fn uncommitted_label(label: &str) -> String {
    format!("uncommitted:{label}")
}

fn relabel(session: &Session, handles: &[ObjectHandle], label: &str) -> Result<(), CkError> {
    for h in handles {
        session.update_attributes(*h, &[Attribute::Label(label.as_bytes().to_vec())])?;
    }
    Ok(())
}

/// A key pair generated and checked, still under its provisional label.
pub struct Uncommitted {
    user: LoggedIn,
    handles: [ObjectHandle; 2],
    label: String,
    evidence: GenerationEvidence,
}

impl Uncommitted {
    /// What the generation proved (the key is not yet committed).
    pub fn evidence(&self) -> &GenerationEvidence {
        &self.evidence
    }

    /// Give both halves their own label: the key is finished.
    pub fn commit(self) -> Result<GenerationEvidence, TokenError> {
        relabel(&self.user.session, &self.handles, &self.label).map_err(|e| {
            ck_err(
                &format!(
                    "token {:?} (serial {})",
                    self.evidence.token_label, self.evidence.token_serial
                ),
                e,
            )
        })?;
        drop(self.user);
        Ok(self.evidence)
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        if let Some(ctx) = self.ctx.take()
            && self.finalize_on_drop
        {
            let _ = ctx.finalize();
        }
    }
}

/// A token as it describes itself.
#[derive(Debug, Clone)]
pub struct TokenSummary {
    slot: Slot,
    pub label: String,
    pub serial: String,
    pub manufacturer: String,
    pub model: String,
    pub pin: PinStatus,
    pub initialized: bool,
    pub login_required: bool,
    pub write_protected: bool,
}

impl TokenSummary {
    /// How to name it to a person: `token "root-a" (serial 1234)`.
    pub fn name(&self) -> String {
        format!("token {:?} (serial {})", self.label, self.serial)
    }

    /// The URI of the token itself.
    pub fn uri(&self) -> Pkcs11Uri {
        Pkcs11Uri {
            token: Some(self.label.clone()),
            serial: Some(self.serial.clone()),
            ..Pkcs11Uri::default()
        }
    }

    /// The URI of a key on it.
    pub fn key_uri(&self, label: &str, id: &[u8]) -> Pkcs11Uri {
        Pkcs11Uri {
            object: (!label.is_empty()).then(|| label.to_owned()),
            id: (!id.is_empty()).then(|| id.to_vec()),
            ..self.uri()
        }
    }

    /// Its flags, for people.
    pub fn flags(&self) -> String {
        let mut f = Vec::new();
        f.push(if self.initialized {
            "initialised"
        } else {
            "NOT initialised"
        });
        if self.login_required {
            f.push("login required");
        }
        if self.write_protected {
            f.push("write-protected");
        }
        let mut s = f.join(", ");
        s.push_str(", ");
        s.push_str(&self.pin.describe());
        s
    }
}

/// A key object on a token: label, ID and public key (or why it is unusable).
#[derive(Debug, Clone)]
pub struct KeyObject {
    pub label: String,
    pub id: Vec<u8>,
    pub public: Result<PublicKey, String>,
}

fn read_key_object(
    session: &Session,
    handle: ObjectHandle,
    token: &str,
) -> Result<KeyObject, TokenError> {
    let attrs = session
        .get_attributes(
            handle,
            &[
                AttributeType::Label,
                AttributeType::Id,
                AttributeType::KeyType,
                AttributeType::EcParams,
                AttributeType::EcPoint,
                AttributeType::Modulus,
                AttributeType::PublicExponent,
            ],
        )
        .map_err(|e| ck_err(token, e))?;
    let (mut label, mut id, mut key_type, mut params, mut point) =
        (String::new(), Vec::new(), None, None, None);
    let (mut modulus, mut exponent) = (None, None);
    for a in attrs {
        match a {
            Attribute::Label(l) => label = String::from_utf8_lossy(&l).into_owned(),
            Attribute::Id(i) => id = i,
            Attribute::KeyType(k) => key_type = Some(k),
            Attribute::EcParams(p) => params = Some(p),
            Attribute::EcPoint(p) => point = Some(p),
            Attribute::Modulus(m) => modulus = Some(m),
            Attribute::PublicExponent(e) => exponent = Some(e),
            _ => {}
        }
    }
    let public = (|| {
        let key_type = key_type.ok_or("no CKA_KEY_TYPE")?;
        if key_type == KeyType::RSA {
            let (n, e) = modulus
                .zip(exponent)
                .ok_or("no CKA_MODULUS or CKA_PUBLIC_EXPONENT")?;
            return PublicKey::rsa_from_components(&n, &e).map_err(|e| e.to_string());
        }
        if key_type != KeyType::EC && key_type != KeyType::EC_EDWARDS {
            return Err(format!(
                "a {key_type} key; ceremony uses ed25519, ecdsa-p256 and rsa"
            ));
        }
        let params = params.ok_or("no CKA_EC_PARAMS")?;
        let algorithm = ec::algorithm_from_params(&params)
            .ok_or_else(|| format!("curve {} is not ed25519 or P-256", hex::encode(&params)))?;
        let point = point.ok_or("no CKA_EC_POINT")?;
        ec::public_key_from_point(algorithm, &point)
    })();
    Ok(KeyObject { label, id, public })
}

/// Find the single public key object `uri` names.
fn find_public(
    session: &Session,
    token: &TokenSummary,
    uri: &Pkcs11Uri,
) -> Result<(ObjectHandle, KeyObject), TokenError> {
    let name = token.name();
    if uri.object.is_none() && uri.id.is_none() {
        return Err(TokenError::BadReference {
            reference: uri.to_string(),
            reason: "name the key with object=LABEL and/or id=ID".into(),
        });
    }
    let mut template = vec![Attribute::Class(ObjectClass::PUBLIC_KEY)];
    if let Some(l) = &uri.object {
        template.push(Attribute::Label(l.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        template.push(Attribute::Id(id.clone()));
    }
    let found = session
        .find_objects(&template)
        .map_err(|e| ck_err(&name, e))?;
    match found.as_slice() {
        [h] => Ok((*h, read_key_object(session, *h, &name)?)),
        [] => Err(TokenError::KeyNotFound {
            token: name,
            key: uri.key_description(),
            detail: " (no public key object matches)".into(),
        }),
        several => Err(TokenError::BadReference {
            reference: uri.to_string(),
            reason: format!(
                "{} keys on {name} match; add id= to choose one",
                several.len()
            ),
        }),
    }
}

/// How a private key is found again: the label and ID of its public half.
#[derive(Debug, Clone)]
struct KeySelector {
    label: String,
    id: Vec<u8>,
}

/// A logged-in session; logs out when dropped (which logs out every session of
/// this application on the token) and then closes.
struct LoggedIn {
    session: Session,
}

impl Drop for LoggedIn {
    fn drop(&mut self) {
        let _ = self.session.logout();
    }
}

/// The private key's security attributes, as the token reports them.
#[derive(Debug, Default)]
struct PrivateAttributes {
    local: Option<bool>,
    always_sensitive: Option<bool>,
    never_extractable: Option<bool>,
    sensitive: Option<bool>,
    extractable: Option<bool>,
    decrypt: Option<bool>,
    unwrap: Option<bool>,
    derive: Option<bool>,
}

impl PrivateAttributes {
    fn read(session: &Session, key: ObjectHandle, token: &str) -> Result<Self, TokenError> {
        let attrs = session
            .get_attributes(
                key,
                &[
                    AttributeType::Local,
                    AttributeType::AlwaysSensitive,
                    AttributeType::NeverExtractable,
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                    AttributeType::Decrypt,
                    AttributeType::Unwrap,
                    AttributeType::Derive,
                ],
            )
            .map_err(|e| ck_err(token, e))?;
        let mut p = PrivateAttributes::default();
        for a in attrs {
            match a {
                Attribute::Local(v) => p.local = Some(v),
                Attribute::AlwaysSensitive(v) => p.always_sensitive = Some(v),
                Attribute::NeverExtractable(v) => p.never_extractable = Some(v),
                Attribute::Sensitive(v) => p.sensitive = Some(v),
                Attribute::Extractable(v) => p.extractable = Some(v),
                Attribute::Decrypt(v) => p.decrypt = Some(v),
                Attribute::Unwrap(v) => p.unwrap = Some(v),
                Attribute::Derive(v) => p.derive = Some(v),
                _ => {}
            }
        }
        Ok(p)
    }

    /// What is wrong with a freshly generated key, if anything.
    fn problem(&self) -> Option<String> {
        let must = [
            ("CKA_LOCAL", self.local, true),
            ("CKA_SENSITIVE", self.sensitive, true),
            ("CKA_ALWAYS_SENSITIVE", self.always_sensitive, true),
            ("CKA_EXTRACTABLE", self.extractable, false),
            ("CKA_NEVER_EXTRACTABLE", self.never_extractable, true),
            ("CKA_DECRYPT", self.decrypt.or(Some(false)), false),
            ("CKA_UNWRAP", self.unwrap.or(Some(false)), false),
            ("CKA_DERIVE", self.derive.or(Some(false)), false),
        ];
        let bad: Vec<String> = must
            .iter()
            .filter(|(_, got, want)| *got != Some(*want))
            .map(|(name, got, want)| match got {
                Some(v) => format!("{name} is {v} (must be {want})"),
                None => format!("{name} is not reported (must be {want})"),
            })
            .collect();
        (!bad.is_empty()).then(|| bad.join(", "))
    }
}

/// Generate the pair. Ed25519 sends the RFC 8410 OID first and falls back to
/// the `edwards25519` printable string for tokens that only know that.
/// The RSA modulus size keys are generated with.
const RSA_BITS: u64 = 3072;

fn generate_pair(
    session: &Session,
    algorithm: Algorithm,
    label: &str,
    id: &[u8],
) -> Result<(ObjectHandle, ObjectHandle, &'static str), CkError> {
    let private = vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Decrypt(false),
        Attribute::Unwrap(false),
        Attribute::Derive(false),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id.to_vec()),
    ];
    let public = |params: &[u8]| {
        vec![
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::Encrypt(false),
            Attribute::Wrap(false),
            Attribute::Derive(false),
            Attribute::EcParams(params.to_vec()),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.to_vec()),
        ]
    };
    match algorithm {
        Algorithm::EcdsaP256 => {
            let (p, k) = session.generate_key_pair(
                &Mechanism::EccKeyPairGen,
                &public(ec::P256_PARAMS),
                &private,
            )?;
            Ok((p, k, "P-256 (OID 1.2.840.10045.3.1.7)"))
        }
        Algorithm::Ed25519 => {
            match session.generate_key_pair(
                &Mechanism::EccEdwardsKeyPairGen,
                &public(ec::ED25519_OID_PARAMS),
                &private,
            ) {
                Ok((p, k)) => Ok((p, k, "Ed25519 (RFC 8410 OID 1.3.101.112)")),
                Err(CkError::Pkcs11(
                    RvError::AttributeValueInvalid
                    | RvError::DomainParamsInvalid
                    | RvError::CurveNotSupported
                    | RvError::TemplateInconsistent,
                    _,
                )) => {
                    let (p, k) = session.generate_key_pair(
                        &Mechanism::EccEdwardsKeyPairGen,
                        &public(ec::ED25519_NAME_PARAMS),
                        &private,
                    )?;
                    Ok((p, k, "Ed25519 (printable string edwards25519)"))
                }
                Err(e) => Err(e),
            }
        }
        Algorithm::Rsa => {
            let public = vec![
                Attribute::Token(true),
                Attribute::Private(false),
                Attribute::Verify(true),
                Attribute::Encrypt(false),
                Attribute::Wrap(false),
                Attribute::ModulusBits(RSA_BITS.into()),
                Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Id(id.to_vec()),
            ];
            let (p, k) =
                session.generate_key_pair(&Mechanism::RsaPkcsKeyPairGen, &public, &private)?;
            Ok((p, k, "RSA 3072 (e = 65537)"))
        }
        // Refused by the caller before a session is used.
        Algorithm::EcdsaP384 => Err(CkError::NotSupported),
    }
}

/// Sign on the token: pure EdDSA, or ECDSA over a SHA-256 computed here.
fn raw_sign(
    session: &Session,
    key: ObjectHandle,
    algorithm: Algorithm,
    message: &[u8],
) -> Result<Vec<u8>, CkError> {
    match algorithm {
        Algorithm::Ed25519 => session.sign(
            &Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
            key,
            message,
        ),
        Algorithm::EcdsaP256 => {
            let digest: [u8; 32] = Sha256::digest(message).into();
            session.sign(&Mechanism::Ecdsa, key, &digest)
        }
        Algorithm::EcdsaP384 => {
            let digest: [u8; 48] = sha2::Sha384::digest(message).into();
            session.sign(&Mechanism::Ecdsa, key, &digest)
        }
        Algorithm::Rsa => session.sign(
            &Mechanism::Sha256RsaPkcsPss(PkcsPssParams {
                hash_alg: MechanismType::SHA256,
                mgf: PkcsMgfType::MGF1_SHA256,
                s_len: 32.into(),
            }),
            key,
            message,
        ),
    }
}

fn verify_raw(public: &PublicKey, message: &[u8], signature: &[u8]) -> Result<(), String> {
    public
        .verify(
            message,
            signature,
            SignatureEncoding::raw_for(public.algorithm()),
        )
        .map_err(|e| e.to_string())
}

/// A key on a PKCS#11 token, logged in and ready to sign.
pub struct Pkcs11Signer {
    // Field order is drop order: log out and close the session before the
    // module can be finalised.
    session: LoggedIn,
    key: Option<ObjectHandle>,
    selector: KeySelector,
    uri: Pkcs11Uri,
    token: TokenSummary,
    public: PublicKey,
    module: Arc<Module>,
}

impl std::fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Signer")
            .field("uri", &self.uri.to_string())
            .field("public", &self.public)
            .field("module", &self.module.path)
            .finish_non_exhaustive()
    }
}

impl Pkcs11Signer {
    /// The token this key lives on.
    pub fn token(&self) -> &TokenSummary {
        &self.token
    }

    /// The key's URI (token label and serial, key label and ID).
    pub fn uri(&self) -> &Pkcs11Uri {
        &self.uri
    }

    /// The private key's handle, found again whenever it is not known (after a
    /// login, or when the token said the old handle is no longer valid).
    fn private_key(&mut self) -> Result<ObjectHandle, TokenError> {
        if let Some(k) = self.key {
            return Ok(k);
        }
        let name = self.token.name();
        let mut template = vec![Attribute::Class(ObjectClass::PRIVATE_KEY)];
        if !self.selector.label.is_empty() {
            template.push(Attribute::Label(self.selector.label.as_bytes().to_vec()));
        }
        if !self.selector.id.is_empty() {
            template.push(Attribute::Id(self.selector.id.clone()));
        }
        let found = self
            .session
            .session
            .find_objects(&template)
            .map_err(|e| ck_err(&name, e))?;
        match found.as_slice() {
            [k] => {
                self.key = Some(*k);
                Ok(*k)
            }
            [] => Err(TokenError::KeyNotFound {
                token: name,
                key: self.uri.key_description(),
                detail: " (the public key is there but no private key matches it)".into(),
            }),
            several => Err(TokenError::BadReference {
                reference: self.uri.to_string(),
                reason: format!("{} private keys on {name} match", several.len()),
            }),
        }
    }
}

/// A second session on the token of a logged-in [`Pkcs11Signer`], for signing in
/// parallel. PKCS#11 login state belongs to the application, not the session, so
/// it needs no PIN; dropping it closes only its own session (no logout).
struct Pkcs11Fork {
    session: Session,
    key: ObjectHandle,
    public: PublicKey,
    description: String,
    token: String,
    _module: Arc<Module>,
}

impl Signer for Pkcs11Fork {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn describe(&self) -> String {
        self.description.clone()
    }

    fn sign(&mut self, message: &[u8]) -> Result<Vec<u8>, TokenError> {
        // Checked by the caller, as every signature is (`tuf::sign::sign_message`).
        raw_sign(&self.session, self.key, self.public.algorithm(), message)
            .map_err(|e| ck_err(&self.token, e))
    }
}

impl Signer for Pkcs11Signer {
    fn fork(&self) -> Result<Option<Box<dyn Signer>>, TokenError> {
        let name = self.token.name();
        let session = self
            .module
            .ctx()
            .open_ro_session(self.token.slot)
            .map_err(|e| ck_err(&name, e))?;
        let key = match self.key {
            Some(k) => k,
            None => return Ok(None),
        };
        Ok(Some(Box::new(Pkcs11Fork {
            session,
            key,
            public: self.public.clone(),
            description: self.describe(),
            token: name,
            _module: Arc::clone(&self.module),
        })))
    }

    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn describe(&self) -> String {
        format!(
            "{} ({} key on {} {}, {})",
            self.uri,
            self.public.algorithm(),
            self.token.manufacturer,
            self.token.model,
            self.token.name()
        )
    }

    fn sign(&mut self, message: &[u8]) -> Result<Vec<u8>, TokenError> {
        let name = self.token.name();
        let algorithm = self.public.algorithm();
        let key = self.private_key()?;
        let signature = match raw_sign(&self.session.session, key, algorithm, message) {
            Err(CkError::Pkcs11(RvError::KeyHandleInvalid | RvError::ObjectHandleInvalid, _)) => {
                self.key = None;
                let key = self.private_key()?;
                raw_sign(&self.session.session, key, algorithm, message)
            }
            other => other,
        }
        .map_err(|e| ck_err(&name, e))?;
        // Checked in software by the caller before it is used, as every signature
        // is (`tuf::sign::sign_message`, the transcript seal, the certificate
        // builder): core code owns that invariant, once per signature.
        Ok(signature)
    }
}

/// What a key generation proves, for the transcript.
#[derive(Debug, Clone)]
pub struct GenerationEvidence {
    /// The key's URI: token label and serial, key label and ID.
    pub uri: Pkcs11Uri,
    pub algorithm: Algorithm,
    pub public: PublicKey,
    pub token_label: String,
    pub token_serial: String,
    pub token_manufacturer: String,
    pub token_model: String,
    /// The curve parameters the token accepted.
    pub ec_params: &'static str,
    /// `CKA_LOCAL`: generated on the token.
    pub local: bool,
    /// `CKA_ALWAYS_SENSITIVE`.
    pub always_sensitive: bool,
    /// `CKA_NEVER_EXTRACTABLE`.
    pub never_extractable: bool,
    /// `CKA_SENSITIVE`.
    pub sensitive: bool,
    /// `CKA_EXTRACTABLE`.
    pub extractable: bool,
    /// A fresh message was signed on the token and verified in software.
    pub self_test_verified: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_values_are_named_as_in_the_specification() {
        assert_eq!(rv_name(&RvError::PinIncorrect), "CKR_PIN_INCORRECT");
        assert_eq!(rv_name(&RvError::DeviceRemoved), "CKR_DEVICE_REMOVED");
        assert_eq!(
            rv_name(&RvError::VendorDefined(0x8000_0001)),
            "vendor-defined CKR 0x80000001"
        );
        assert_eq!(function_name(Function::Login), "C_Login");
    }

    #[test]
    fn missing_module_is_a_clear_error() {
        let e =
            resolve_module_path(Some(Path::new("/nonexistent/libpkcs11.so")), None).unwrap_err();
        assert!(matches!(e, TokenError::Module { .. }));
        assert!(
            e.to_string()
                .contains("/nonexistent/libpkcs11.so: no such file"),
            "{e}"
        );
        assert!(e.is_device_failure());
        assert!(e.hint().unwrap().contains("--module"));
    }

    #[test]
    fn conflicting_module_paths_are_refused() {
        let uri = Pkcs11Uri::parse("pkcs11:token=a?module-path=/a.so").unwrap();
        let e = resolve_module_path(Some(Path::new("/b.so")), Some(&uri)).unwrap_err();
        assert!(e.to_string().contains("differs"), "{e}");
    }

    #[test]
    fn generated_key_attributes_are_checked() {
        let good = PrivateAttributes {
            local: Some(true),
            always_sensitive: Some(true),
            never_extractable: Some(true),
            sensitive: Some(true),
            extractable: Some(false),
            decrypt: Some(false),
            unwrap: None,
            derive: Some(false),
        };
        assert_eq!(good.problem(), None);
        let bad = PrivateAttributes {
            extractable: Some(true),
            never_extractable: None,
            ..good
        };
        let p = bad.problem().unwrap();
        assert!(p.contains("CKA_EXTRACTABLE is true"), "{p}");
        assert!(p.contains("CKA_NEVER_EXTRACTABLE is not reported"), "{p}");
    }
}
