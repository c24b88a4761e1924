//! Where private keys live. A token is anything that can sign with a key it never
//! reveals: a PKCS#11 HSM, a YubiKey, or (for rehearsals and tests) an
//! age-encrypted software key file.
//!
//! Backends only sign. Core code (`tuf::sign`) canonicalises, asks the token to
//! sign, verifies the result in software and checks the key is authorised.

pub mod pkcs11;
pub mod reference;
pub mod soft;
pub mod yubikey;

use crate::keys::{Algorithm, PublicKey};

/// Errors a token can report. Messages name the token and the next step.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{token}: wrong passphrase (or not a ceremony key file)")]
    WrongPassphrase { token: String },
    #[error("{token}: {reason}")]
    Malformed { token: String, reason: String },
    #[error("{token}: {op} failed: {reason}")]
    Io {
        token: String,
        op: &'static str,
        reason: String,
    },
    #[error("{path} already exists; key material is never overwritten")]
    Exists { path: String },
    #[error("{token}: {what} is not supported by this token")]
    Unsupported { token: String, what: String },
    #[error("{token}: {reason}")]
    Device { token: String, reason: String },
    #[error("token reference {reference:?}: {reason}")]
    BadReference { reference: String, reason: String },
    /// A PKCS#11 call failed: the function and its return value.
    #[error("{token}: {function} returned {rv}{context}")]
    Pkcs11 {
        token: String,
        function: String,
        rv: String,
        context: String,
    },
    #[error("PKCS#11 module {path}: {reason}")]
    Module { path: String, reason: String },
    #[error("no token {wanted} is present ({detail})")]
    TokenNotFound {
        /// How the token was named, e.g. `labelled "root-a"`.
        wanted: String,
        detail: String,
    },
    #[error("{token}: no key with {key}{detail}")]
    KeyNotFound {
        token: String,
        key: String,
        detail: String,
    },
    #[error("{token} already holds an object with {what}; key material is never overwritten")]
    ObjectExists { token: String, what: String },
    #[error("{token}: wrong user PIN; {tries}")]
    WrongPin { token: String, tries: String },
    #[error("{token}: the user PIN is locked; no PIN was sent")]
    PinLocked { token: String },
    /// A YubiKey's PIV PIN is blocked (no tries left).
    #[error("{token}: the PIV PIN is blocked (no tries left); no PIN was sent")]
    PinBlocked { token: String },
    #[error("{token}: slot {slot} already holds {what}; key material is never overwritten")]
    SlotOccupied {
        token: String,
        slot: String,
        what: String,
    },
    #[error(
        "{token}: the PIV management key is the factory default; \
         a ceremony does not generate keys under it"
    )]
    DefaultManagementKey { token: String },
    /// The key's attestation is missing or does not verify: the key is not used.
    #[error("{token}: attestation of slot {slot} does not verify: {reason}")]
    Attestation {
        token: String,
        slot: String,
        reason: String,
    },
    /// The operator or the token's state says no.
    #[error("{token}: {reason}")]
    Refused { token: String, reason: String },
}

impl TokenError {
    /// Whether this is a device (or environment) failure rather than refused
    /// input: exit code 2 rather than 1.
    pub fn is_device_failure(&self) -> bool {
        matches!(
            self,
            TokenError::Device { .. }
                | TokenError::Io { .. }
                | TokenError::Pkcs11 { .. }
                | TokenError::Module { .. }
                | TokenError::TokenNotFound { .. }
                | TokenError::PinLocked { .. }
                | TokenError::PinBlocked { .. }
        )
    }

    /// One line saying what to do next, where we know.
    pub fn hint(&self) -> Option<String> {
        match self {
            TokenError::WrongPassphrase { .. } => Some(
                "check the passphrase with the key's custodian and run the command again".into(),
            ),
            TokenError::Exists { .. } => Some("nothing was written; pick a new output path".into()),
            TokenError::TokenNotFound { wanted, .. } => Some(format!(
                "insert (or initialise) the token {wanted} and run `ceremony tokens`"
            )),
            TokenError::KeyNotFound { .. } => {
                Some("run `ceremony tokens` to list the keys on each token".into())
            }
            TokenError::Module { .. } => Some(
                "install the token's PKCS#11 module and give its path with --module \
                 (or CEREMONY_PKCS11_MODULE); `ceremony tokens` shows what is found"
                    .into(),
            ),
            TokenError::ObjectExists { .. } => Some(
                "nothing was generated; choose an unused object= label (and id=), \
                 see `ceremony tokens`"
                    .into(),
            ),
            TokenError::WrongPin { .. } => Some(
                "check the PIN with the token's custodian before trying again: \
                 each wrong PIN brings the token closer to locking"
                    .into(),
            ),
            TokenError::PinLocked { .. } => Some(
                "the token's security officer must unlock (reset) the user PIN \
                 with the vendor's tools; then run `ceremony tokens`"
                    .into(),
            ),
            TokenError::PinBlocked { .. } => Some(
                "unblock the PIN with the PUK (`ykman piv access unblock-pin`), \
                 then run `ceremony tokens`; if the PUK is blocked too, the PIV applet must be reset"
                    .into(),
            ),
            TokenError::SlotOccupied { .. } => Some(
                "nothing was generated; choose a free slot (see `ceremony tokens`), or set \
                 overwrite = true for this key in the script (the operator must confirm)"
                    .into(),
            ),
            TokenError::DefaultManagementKey { .. } => Some(
                "change the management key first (`ykman piv access change-management-key \
                 --generate --protect`); a rehearsal may allow the default with \
                 allow_default_management_key = true in the script's [parameters]"
                    .into(),
            ),
            TokenError::Attestation { .. } => Some(
                "the key is not used and nothing was recorded as generated; check the YubiKey \
                 is genuine and run `ceremony tokens`"
                    .into(),
            ),
            TokenError::Pkcs11 { .. } => {
                Some("check the token is still inserted and run `ceremony tokens`".into())
            }
            _ => None,
        }
    }
}

/// A private key held somewhere that can sign.
///
/// `sign` returns, for Ed25519, the 64-byte signature over `message`; for ECDSA
/// P-256, the raw r‖s signature over SHA-256(`message`). The caller must verify
/// every signature before trusting it.
pub trait Signer: Send {
    /// The public half, as read from the token when it was opened.
    fn public_key(&self) -> &PublicKey;

    /// A human-readable description: the reference and what is known of the device.
    fn describe(&self) -> String;

    fn algorithm(&self) -> Algorithm {
        self.public_key().algorithm()
    }

    fn sign(&mut self, message: &[u8]) -> Result<Vec<u8>, TokenError>;

    /// Another handle on the same key for signing in parallel (a second session
    /// on a token that is already logged in), where the token allows it. It must
    /// be dropped before this signer. `None`: sign with this one only.
    fn fork(&self) -> Result<Option<Box<dyn Signer>>, TokenError> {
        Ok(None)
    }
}

/// The public key of the key a token reference names, read without a PIN or
/// passphrase.
pub fn public_key(
    reference: &str,
    registry: &pkcs11::registry::Registry,
) -> Result<crate::keys::PublicKey, TokenError> {
    match reference::TokenRef::parse(reference)? {
        reference::TokenRef::Soft(path) => soft::SoftToken::read_public(&path),
        reference::TokenRef::Pkcs11(uri) => registry.module_for(Some(&uri))?.read_public_key(&uri),
        reference::TokenRef::YubiKey(r) => yubikey::read_public_key(&r),
    }
}
