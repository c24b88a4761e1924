//! Token references as users write them: `soft:PATH` today; `pkcs11:` URIs and
//! `yubikey:` references for hardware backends.

use super::TokenError;
use std::path::PathBuf;

/// Where a key lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRef {
    /// An age-encrypted software key file (rehearsals, tests, backups).
    Soft(PathBuf),
}

impl TokenRef {
    pub fn parse(s: &str) -> Result<Self, TokenError> {
        if let Some(path) = s.strip_prefix("soft:") {
            if path.is_empty() {
                return Err(TokenError::BadReference {
                    reference: s.into(),
                    reason: "soft: needs a file path, e.g. soft:keys/root-1.age".into(),
                });
            }
            return Ok(TokenRef::Soft(PathBuf::from(path)));
        }
        let scheme = s.split(':').next().unwrap_or("");
        Err(TokenError::BadReference {
            reference: s.into(),
            reason: format!("unknown token kind {scheme:?}; use soft:PATH (software key file)"),
        })
    }
}

impl std::fmt::Display for TokenRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenRef::Soft(p) => write!(f, "soft:{}", p.display()),
        }
    }
}
