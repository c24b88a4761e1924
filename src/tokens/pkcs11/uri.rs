//! RFC 7512 `pkcs11:` URIs: how users name a token and a key on it.
//!
//! Tokens are found by label, serial, manufacturer and model, never by slot
//! number (slot numbers change between runs). Keys are found by label (`object=`)
//! and/or ID (`id=`). A PIN never appears in a URI: `pin-value` and `pin-source`
//! are refused, because a URI ends up in argv, shell history and transcripts.

use std::fmt::Write as _;
use std::path::PathBuf;

/// A parsed `pkcs11:` URI, restricted to what a key ceremony needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// Token label (`token=`).
    pub token: Option<String>,
    /// Token serial number (`serial=`).
    pub serial: Option<String>,
    /// Token manufacturer (`manufacturer=`).
    pub manufacturer: Option<String>,
    /// Token model (`model=`).
    pub model: Option<String>,
    /// Key label (`object=`).
    pub object: Option<String>,
    /// Key ID (`id=`), raw bytes.
    pub id: Option<Vec<u8>>,
    /// Object type (`type=`): only `private` and `public` are meaningful here.
    pub object_type: Option<String>,
    /// The PKCS#11 module to load (`?module-path=`).
    pub module_path: Option<PathBuf>,
}

/// Why a `pkcs11:` URI was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UriError(pub String);

fn err(msg: impl Into<String>) -> UriError {
    UriError(msg.into())
}

/// Decode RFC 3986 percent-encoding into bytes.
fn percent_decode(s: &str, attr: &str) -> Result<Vec<u8>, UriError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    err(format!(
                        "{attr}: bad percent-encoding (the value is not shown)"
                    ))
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn decode_text(s: &str, attr: &str) -> Result<String, UriError> {
    String::from_utf8(percent_decode(s, attr)?)
        .map_err(|_| err(format!("{attr}: value is not UTF-8 after percent-decoding")))
}

/// Percent-encode everything but RFC 3986 unreserved characters.
fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Encode an ID as RFC 7512 does: every byte percent-encoded.
fn encode_id(id: &[u8]) -> String {
    let mut out = String::with_capacity(id.len() * 3);
    for b in id {
        let _ = write!(out, "%{b:02X}");
    }
    out
}

fn set<T>(slot: &mut Option<T>, value: T, attr: &str) -> Result<(), UriError> {
    if slot.is_some() {
        return Err(err(format!("{attr} is given twice")));
    }
    *slot = Some(value);
    Ok(())
}

/// Whether `name` looks like an attribute name (lowercase letters and hyphens), and
/// so can be shown: a numeric PIN typed in its place cannot.
pub fn plain_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '-')
}

impl Pkcs11Uri {
    /// Parse a `pkcs11:` URI.
    pub fn parse(s: &str) -> Result<Self, UriError> {
        let rest = s
            .strip_prefix("pkcs11:")
            .ok_or_else(|| err("a PKCS#11 URI starts with \"pkcs11:\""))?;
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let mut uri = Pkcs11Uri::default();
        for (n, attr) in path.split(';').filter(|a| !a.is_empty()).enumerate() {
            // Never echo what a person typed where a name was due: it may be a PIN.
            let (name, value) = attr.split_once('=').ok_or_else(|| {
                err(format!(
                    "attribute {} (not shown) must look like NAME=VALUE",
                    n + 1
                ))
            })?;
            match name {
                "pin-value" | "pin-source" => {
                    return Err(err(format!(
                        "{name} is refused: a PIN never goes into a token reference; \
                         you will be asked for it (or give --pin-file in a rehearsal)"
                    )));
                }
                "token" => set(&mut uri.token, decode_text(value, name)?, name)?,
                "serial" => set(&mut uri.serial, decode_text(value, name)?, name)?,
                "manufacturer" => set(&mut uri.manufacturer, decode_text(value, name)?, name)?,
                "model" => set(&mut uri.model, decode_text(value, name)?, name)?,
                "object" => set(&mut uri.object, decode_text(value, name)?, name)?,
                "id" => {
                    let id = percent_decode(value, name)?;
                    if id.is_empty() {
                        return Err(err("id= is empty"));
                    }
                    set(&mut uri.id, id, name)?
                }
                "type" => {
                    let t = decode_text(value, name)?;
                    if t != "private" && t != "public" {
                        return Err(err(
                            "type= names no key: only type=private or type=public do",
                        ));
                    }
                    set(&mut uri.object_type, t, name)?
                }
                "slot-id" | "slot-description" | "slot-manufacturer" => {
                    return Err(err(format!(
                        "{name}= is not accepted: slot numbers and slots change between runs; \
                         name the token with token= (label) or serial="
                    )));
                }
                "library-manufacturer" | "library-description" | "library-version" => {
                    return Err(err(format!(
                        "{name}= is not supported; choose the module with --module or ?module-path="
                    )));
                }
                other if other.starts_with("x-") && plain_name(other) => {
                    return Err(err(format!("vendor attribute {other}= is not supported")));
                }
                other if plain_name(other) => {
                    return Err(err(format!("unknown PKCS#11 URI attribute {other:?}")));
                }
                _ => {
                    return Err(err(format!(
                        "attribute {} has a name that is not an attribute name (not shown)",
                        n + 1
                    )));
                }
            }
        }
        if let Some(query) = query {
            for attr in query.split('&').filter(|a| !a.is_empty()) {
                let (name, value) = attr.split_once('=').unwrap_or((attr, ""));
                match name {
                    "module-path" => {
                        let p = decode_text(value, name)?;
                        if p.is_empty() {
                            return Err(err("module-path= is empty"));
                        }
                        set(&mut uri.module_path, PathBuf::from(p), name)?
                    }
                    "pin-value" | "pin-source" => {
                        return Err(err(format!(
                            "{name} is refused: a PIN never goes into a token reference; \
                             you will be asked for it (or give --pin-file in a rehearsal)"
                        )));
                    }
                    other if plain_name(other) => {
                        return Err(err(format!(
                            "unsupported PKCS#11 URI query attribute {other:?}"
                        )));
                    }
                    _ => {
                        return Err(err(
                            "a query attribute has a name that is not an attribute name (not shown)",
                        ));
                    }
                }
            }
        }
        if uri.token.is_none() && uri.serial.is_none() {
            return Err(err(
                "name the token with token=LABEL or serial=SERIAL (run `ceremony tokens` to list them)",
            ));
        }
        Ok(uri)
    }

    /// The key selector part, for messages: `object=root-1;id=%01`.
    pub fn key_description(&self) -> String {
        let mut parts = Vec::new();
        if let Some(o) = &self.object {
            parts.push(format!("label {o:?}"));
        }
        if let Some(id) = &self.id {
            parts.push(format!("ID {}", hex::encode(id)));
        }
        if parts.is_empty() {
            "no label or ID".into()
        } else {
            parts.join(" and ")
        }
    }

    /// How to name the token to a person: its label, else its serial.
    pub fn token_name(&self) -> String {
        match (&self.token, &self.serial) {
            (Some(l), Some(s)) => format!("labelled {l:?} (serial {s})"),
            (Some(l), None) => format!("labelled {l:?}"),
            (None, Some(s)) => format!("with serial {s}"),
            (None, None) => "named".into(),
        }
    }
}

impl std::fmt::Display for Pkcs11Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        let text = [
            ("token", &self.token),
            ("manufacturer", &self.manufacturer),
            ("model", &self.model),
            ("serial", &self.serial),
            ("object", &self.object),
            ("type", &self.object_type),
        ];
        for (name, value) in text {
            if let Some(v) = value {
                parts.push(format!("{name}={}", percent_encode(v.as_bytes())));
            }
        }
        if let Some(id) = &self.id {
            parts.push(format!("id={}", encode_id(id)));
        }
        write!(f, "pkcs11:{}", parts.join(";"))?;
        if let Some(p) = &self.module_path {
            write!(
                f,
                "?module-path={}",
                percent_encode(p.to_string_lossy().as_bytes()).replace("%2F", "/")
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_token_object_and_id() {
        let u = Pkcs11Uri::parse("pkcs11:token=Root%20A;object=root-1;id=%01%02%ff").unwrap();
        assert_eq!(u.token.as_deref(), Some("Root A"));
        assert_eq!(u.object.as_deref(), Some("root-1"));
        assert_eq!(u.id.as_deref(), Some(&[1u8, 2, 0xff][..]));
        assert_eq!(
            u.to_string(),
            "pkcs11:token=Root%20A;object=root-1;id=%01%02%FF"
        );
    }

    #[test]
    fn round_trips() {
        for s in [
            "pkcs11:token=a;serial=0123abcd;object=k",
            "pkcs11:serial=42;id=%AB",
            "pkcs11:token=a%3Bb;object=x%3Dy?module-path=/usr/lib/softhsm/libsofthsm2.so",
        ] {
            let u = Pkcs11Uri::parse(s).unwrap();
            assert_eq!(Pkcs11Uri::parse(&u.to_string()).unwrap(), u, "{s}");
        }
    }

    #[test]
    fn module_path_query() {
        let u = Pkcs11Uri::parse("pkcs11:token=a?module-path=/opt/x/lib.so").unwrap();
        assert_eq!(u.module_path, Some(PathBuf::from("/opt/x/lib.so")));
    }

    #[test]
    fn refuses_pins_slots_and_junk() {
        for (s, needle) in [
            ("pkcs11:token=a?pin-value=1234", "PIN never goes"),
            ("pkcs11:token=a?pin-source=file:/p", "PIN never goes"),
            ("pkcs11:slot-id=3;object=k", "slot numbers"),
            ("pkcs11:object=k", "name the token"),
            ("pkcs11:token=a;token=b", "given twice"),
            ("pkcs11:token=a;colour=red", "unknown"),
            ("pkcs11:token=%zz", "percent-encoding"),
            ("pkcs11:token=%4", "percent-encoding"),
            ("pkcs11:token=%ff", "not UTF-8"),
            ("pkcs11:token=a;type=secret-key", "type="),
            ("pkcs11:token", "NAME=VALUE"),
            ("soft:x", "starts with"),
        ] {
            let e = Pkcs11Uri::parse(s).unwrap_err().0;
            assert!(e.contains(needle), "{s}: {e}");
            assert!(!e.contains("1234"), "{e}");
        }
    }

    #[test]
    fn never_panics_on_odd_input() {
        for s in [
            "pkcs11:",
            "pkcs11:;;;",
            "pkcs11:?",
            "pkcs11:=",
            "pkcs11:token=%",
            "pkcs11:id=",
            "pkcs11:token=ä;object=%C3%A4",
            "pkcs11:token=a?&&",
            "pkcs11:token=a?module-path",
        ] {
            let _ = Pkcs11Uri::parse(s);
        }
    }
}
