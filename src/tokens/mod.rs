//! Where private keys live. A token is anything that can sign with a key it never
//! reveals: a PKCS#11 HSM, a YubiKey, or (for rehearsals and tests) an
//! age-encrypted software key file.
//!
//! Backends only sign. Core code (`tuf::sign`) canonicalises, asks the token to
//! sign, verifies the result in software and checks the key is authorised.

pub mod reference;
pub mod soft;

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
}

/// A private key held somewhere that can sign.
///
/// `sign` returns, for Ed25519, the 64-byte signature over `message`; for ECDSA
/// P-256, the raw r‖s signature over SHA-256(`message`). The caller must verify
/// every signature before trusting it.
pub trait Signer {
    /// The public half, as read from the token when it was opened.
    fn public_key(&self) -> &PublicKey;

    /// A human-readable description: the reference and what is known of the device.
    fn describe(&self) -> String;

    fn algorithm(&self) -> Algorithm {
        self.public_key().algorithm()
    }

    fn sign(&mut self, message: &[u8]) -> Result<Vec<u8>, TokenError>;
}
