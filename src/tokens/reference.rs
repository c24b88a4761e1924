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
        Self::parse_unguarded(s).map_err(|e| guard_pins(s, e))
    }

    fn parse_unguarded(s: &str) -> Result<Self, TokenError> {
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
                    // Only a serial that reads as one is repeated.
                    reference: match s
                        .strip_prefix("yubikey:serial=")
                        .and_then(|r| r.split(';').next())
                        .filter(|n| n.len() <= 10 && n.bytes().all(|b| b.is_ascii_digit()))
                    {
                        Some(serial) => format!("yubikey:serial={serial};…"),
                        None => "yubikey:…".to_owned(),
                    },
                    reason,
                });
        }
        // Not a reference we know: nothing of it is repeated but a plain scheme
        // name (a mistyped `pkcs11:` URI may carry a `pin-value`).
        let scheme = s.split(':').next().unwrap_or("");
        let plain = !scheme.is_empty()
            && scheme.len() <= 16
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        let (reference, kind) = if plain && s.contains(':') {
            (
                format!("{scheme}:…"),
                format!("unknown token kind {scheme:?}"),
            )
        } else {
            (
                "<not shown>".to_owned(),
                "not a token reference (it has no known kind: followed by a colon)".to_owned(),
            )
        };
        Err(TokenError::BadReference {
            reference,
            reason: format!(
                "{kind}; use pkcs11:token=LABEL;object=KEY \
                 (a PKCS#11 token), yubikey:serial=NNN;slot=9c (a YubiKey) \
                 or soft:PATH (software key file)"
            ),
        })
    }
}

/// The values given to a secret's attribute anywhere in `s` (`pin-value=`,
/// `pin-source=`, `pin=`, `management-key=`, in any case), as far as the next
/// separator.
fn pin_values(s: &str) -> Vec<&str> {
    let lower = s.to_ascii_lowercase();
    let mut values = Vec::new();
    for attr in ["pin-value=", "pin-source=", "pin=", "management-key="] {
        for (at, _) in lower.match_indices(attr) {
            let rest = &s[at + attr.len()..];
            let end = rest.find([';', '&', '?']).unwrap_or(rest.len());
            values.push(&rest[..end]);
        }
    }
    values
}

/// The last line of defence: an error about a reference that holds a PIN never
/// contains that PIN, wherever else in the reference the same characters appear
/// (as a label or a serial typed after it, say). Such an error is replaced whole.
fn guard_pins(s: &str, e: TokenError) -> TokenError {
    let message = e.to_string();
    let leaks = pin_values(s)
        .into_iter()
        .any(|pin| pin.len() >= 4 && message.contains(pin));
    if !leaks {
        return e;
    }
    TokenError::BadReference {
        reference: "<not shown>".to_owned(),
        reason: "it holds a PIN or management key (pin-value=, pin-source=, pin= or \
                 management-key=), and neither ever goes into a token reference: remove \
                 it; you will be asked for it"
            .to_owned(),
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
            // An ID is shown only as the percent-encoded bytes it should be.
            Some(("id", value))
                if value.len() % 3 == 0
                    && value.as_bytes().chunks(3).all(|c| {
                        c[0] == b'%' && c[1].is_ascii_hexdigit() && c[2].is_ascii_hexdigit()
                    }) =>
            {
                attr.to_owned()
            }
            // A name is shown unless it looks like it holds another attribute
            // (a PIN run into it: `object=k?pin-value=…`, `token=a pin=…`).
            Some(("token" | "serial" | "manufacturer" | "model" | "object" | "type", value))
                if !value.contains('=')
                    && !value.contains('?')
                    && !value.to_ascii_lowercase().contains("pin") =>
            {
                attr.to_owned()
            }
            Some((
                name @ ("token" | "serial" | "manufacturer" | "model" | "object" | "type" | "id"),
                _,
            )) => format!("{name}=<not shown>"),
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

    /// Found by the `token_reference` fuzz target: a reference whose kind is
    /// mistyped was repeated whole, with the PIN in it.
    #[test]
    fn a_mistyped_kind_never_repeats_the_reference() {
        for given in [
            "pkc\u{1}\u{4}n=root-a;object=root-1;id=%01?pin-value=739150",
            "pkcs:token=a;pin-value=739150",
            "PKCS11:token=a?pin-value=739150",
            "pin-value=739150",
            "yubikey:12?pin-value=739150;s,ot=9c",
            "yubikey:serial=1;739150",
            "yubikey:serial=1;x?pin-value=739150",
            "pkcs11:tokea;object=root-1;id=%01;id=%011pin-value=739150",
            "yubikey:serial=6ppin-value=739150;;;;ogep",
            "yubikey:slot=00ct=%01?pin-value=739150",
            "pkcs11:token=r=%00=%0pin-value=739150",
            "pkcs11:token=a;type=pin-value=739150",
            "pkcs11:token=a?x=1&q?pin-value=739150",
        ] {
            let msg = TokenRef::parse(given).unwrap_err().to_string();
            assert!(!msg.contains("739150"), "{msg}");
        }
        let msg = TokenRef::parse("pkcs:token=a").unwrap_err().to_string();
        assert!(msg.contains("unknown token kind \"pkcs\""), "{msg}");
    }

    /// Found by the `token_reference` fuzz target: a PIN given before a label
    /// holding the same digits came back through the label.
    #[test]
    fn a_pin_repeated_elsewhere_in_the_reference_is_never_shown() {
        for given in [
            "pkcs11:pin-value=739150;token=7391501",
            "pkcs11:token=a;object=739150;pin-value=739150",
            "pkcs11:token=739150?PIN-VALUE=739150",
            "yubikey:serial=739150;pin-value=739150",
            "yubikey:serial=739150000;pin=739150",
            "739150:pin-value=739150",
            "yubikey:serial=739150;management-key=739150",
        ] {
            let msg = TokenRef::parse(given).unwrap_err().to_string();
            assert!(!msg.contains("739150"), "{given}: {msg}");
            assert!(msg.contains("PIN"), "{given}: {msg}");
        }
        // A reference without a PIN keeps its helpful message.
        let msg = TokenRef::parse("pkcs11:token=739150;colour=red")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("token=739150"), "{msg}");
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
