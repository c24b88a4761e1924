//! The top-level error: every domain's error, an exit code, and a hint of what to
//! do next.

use crate::ceremony::transcript::TranscriptError;
use crate::fsio::FileError;
use crate::tokens::TokenError;
use crate::tuf::metadata::MetadataError;
use crate::tuf::notary::CertError;
use crate::tuf::sign::SignError;
use crate::tuf::verify::VerifyError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Certificate(#[from] CertError),
    #[error(transparent)]
    Transcript(#[from] TranscriptError),
    #[error(transparent)]
    Qr(#[from] crate::transfer::qr::QrError),
    #[error(transparent)]
    Bundle(#[from] crate::transfer::bundle::BundleError),
    #[error("{path}: {reason}")]
    Read { path: String, reason: String },
    /// A server we talked to could not be reached or answered nonsense.
    #[error("{what}: {reason}")]
    Remote { what: String, reason: String },
    /// Input the user gave that we refuse, with what to do instead.
    #[error("{0}")]
    Usage(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// A transcript that verifies, of a practice run presented as evidence.
    #[error("{0}")]
    Practice(String),
}

impl Error {
    /// 1: refused input or policy; 2: device or internal failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Token(e) | Error::Sign(SignError::Token(e)) if e.is_device_failure() => 2,
            Error::Sign(SignError::BadTokenSignature { .. }) => 2,
            Error::File(FileError::Io { .. }) => 2,
            Error::Bundle(crate::transfer::bundle::BundleError::Io { .. }) => 2,
            Error::Internal(_) => 2,
            Error::Practice(_) => 3,
            Error::Remote { .. } => 2,
            Error::Transcript(e) if e.is_internal() => 2,
            _ => 1,
        }
    }

    /// One line saying what to do next, where we know.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Token(e) | Error::Sign(SignError::Token(e)) if e.hint().is_some() => e.hint(),
            Error::Transcript(e) if e.hint().is_some() => e.hint(),
            Error::Bundle(e) if e.hint().is_some() => e.hint(),
            Error::Qr(e) if e.hint().is_some() => e.hint(),
            Error::File(FileError::Exists { .. }) => {
                Some("nothing was written; pick a new output path".into())
            }
            Error::Verify(VerifyError::BelowThreshold { .. }) => Some(
                "collect more signatures with `ceremony root sign` before publishing".into(),
            ),
            Error::Verify(VerifyError::Expired { .. }) => {
                Some("a new root with a later expiry must be signed (`ceremony root set-expiry`)".into())
            }
            Error::Sign(SignError::BadTokenSignature { .. }) => Some(
                "the token may be faulty or tampered with: stop and investigate before signing again"
                    .into(),
            ),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
