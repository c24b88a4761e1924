//! Token references as users write them: `soft:PATH` today; `pkcs11:` URIs and
//! `yubikey:` references for hardware backends.

use super::TokenError;
use super::pkcs11::Pkcs11Uri;
use super::yubikey::YubiKeyRef;
use std::path::PathBuf;

/// Where a key lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRef {
    /// An age-encrypted software key file (rehearsals, tests, backups).
    Soft(PathBuf),
    /// A key on a PKCS#11 token, named by an RFC 7512 URI.
    Pkcs11(Pkcs11Uri),
    /// A key in a YubiKey's PIV slot: `yubikey:serial=NNN;slot=9c`.
    YubiKey(YubiKeyRef),
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
        if s.starts_with("pkcs11:") {
            return Pkcs11Uri::parse(s).map(TokenRef::Pkcs11).map_err(|e| {
                TokenError::BadReference {
                    reference: redact_query(s),
                    reason: e.0,
                }
            });
        }
        if s.starts_with("yubikey:") {
            return YubiKeyRef::parse(s)
                .map(TokenRef::YubiKey)
                .map_err(|reason| TokenError::BadReference {
                    reference: s.split(';').next().unwrap_or(s).to_owned() + ";…",
                    reason,
                });
        }
        let scheme = s.split(':').next().unwrap_or("");
        Err(TokenError::BadReference {
            reference: s.into(),
            reason: format!(
                "unknown token kind {scheme:?}; use pkcs11:token=LABEL;object=KEY \
                 (a PKCS#11 token), yubikey:serial=NNN;slot=9c (a YubiKey) \
                 or soft:PATH (software key file)"
            ),
        })
    }
}

/// A URI for messages: its query (where a `pin-value` could hide) is dropped, and
/// in its path only the attributes that name a token or a key keep their values
/// (a PIN put anywhere else, as `pin-value=` or mistyped, is never shown).
fn redact_query(s: &str) -> String {
    let (path, query) = match s.split_once('?') {
        Some((path, _)) => (path, "?<query not shown>"),
        None => (s, ""),
    };
    let rest = path.strip_prefix("pkcs11:").unwrap_or(path);
    let shown: Vec<String> = rest
        .split(';')
        .map(|attr| match attr.split_once('=') {
            Some(("token" | "serial" | "manufacturer" | "model" | "object" | "id" | "type", _)) => {
                attr.to_owned()
            }
            Some((name, _)) if crate::tokens::pkcs11::uri::plain_name(name) => {
                format!("{name}=<not shown>")
            }
            _ => "<not shown>".to_owned(),
        })
        .collect();
    format!("pkcs11:{}{query}", shown.join(";"))
}

impl std::fmt::Display for TokenRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenRef::Soft(p) => write!(f, "soft:{}", p.display()),
            TokenRef::Pkcs11(u) => write!(f, "{u}"),
            TokenRef::YubiKey(y) => write!(f, "{y}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pkcs11_uris() {
        let r = TokenRef::parse("pkcs11:token=root-a;object=root-1").unwrap();
        assert!(matches!(r, TokenRef::Pkcs11(ref u) if u.object.as_deref() == Some("root-1")));
        assert_eq!(r.to_string(), "pkcs11:token=root-a;object=root-1");
    }

    #[test]
    fn a_pin_in_a_uri_never_reaches_a_message() {
        for uri in [
            "pkcs11:token=a;object=k?pin-value=73915",
            "pkcs11:token=a;pin-value=73915",
            "pkcs11:token=a;object=k;pin-source=file:/run/73915",
            "pkcs11:token=a;73915",
            "pkcs11:token=a;pinvalue=73915",
            "pkcs11:token=a;73915=x",
        ] {
            let msg = TokenRef::parse(uri).unwrap_err().to_string();
            assert!(!msg.contains("73915"), "{uri}: {msg}");
            assert!(msg.contains("pkcs11:token=a"), "{uri}: {msg}");
        }
        let msg = TokenRef::parse("pkcs11:token=a;pin-value=73915")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("PIN never goes"), "{msg}");
    }
}
