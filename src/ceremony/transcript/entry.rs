//! One entry: its hash, the ceremony facts of the first entry, and the rule that nothing secret is recorded.

use super::*;

/// Field names that must never appear in transcript data. A name matches when,
/// lowercased and with separators removed, it contains one of these…
pub(super) const SECRET_SUBSTRINGS: [&str; 6] = [
    "passphrase",
    "password",
    "secret",
    "private",
    "mgmkey",
    "managementkey",
];
/// …or when one of its words (split at `_`, `-`, `.`, spaces and camelCase) is one
/// of these.
pub(super) const SECRET_WORDS: [&str; 6] = ["pin", "pins", "pincode", "sopin", "userpin", "puk"];

/// The SHA-256 hash of one entry (the bytes of its line without the line ending).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EntryHash([u8; 32]);

impl EntryHash {
    /// The `prev` of the first entry.
    pub const ZERO: EntryHash = EntryHash([0; 32]);

    pub fn of(bytes: &[u8]) -> Self {
        EntryHash(Sha256::digest(bytes).into())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 12 hex digits, for messages.
    pub fn short(&self) -> String {
        self.to_hex()[..12].to_owned()
    }

    /// Parse a hash as written in an entry (64 lowercase hex digits).
    pub(super) fn from_entry_hex(s: &str) -> Option<Self> {
        if s.len() != 64 || s.bytes().any(|b| !matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(EntryHash(out))
    }

    /// Parse a hash as a person wrote it down: 64 hex digits in any case, with
    /// spaces (or other whitespace) between groups.
    pub fn parse_witnessed(value: &str) -> Result<Self> {
        let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
        EntryHash::from_entry_hex(&compact.to_ascii_lowercase()).ok_or_else(|| {
            TranscriptError::BadHash {
                value: value.to_owned(),
            }
        })
    }
}

impl std::fmt::Display for EntryHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl std::fmt::Debug for EntryHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EntryHash({})", self.to_hex())
    }
}

/// The hash in groups of four hex digits, for witnesses to read aloud and write
/// down: `3fa2 91bc …` (16 groups).
pub fn witness_words(hash: &EntryHash) -> String {
    let hex = hash.to_hex();
    hex.as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).expect("hex is ASCII"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One entry, as it is stored. Every field is always present (`step` and `actor`
/// may be null).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub seq: u64,
    /// RFC 3339, UTC, whole seconds: `2030-01-31T09:00:00Z`.
    pub time: String,
    pub kind: String,
    pub step: Option<String>,
    pub actor: Option<String>,
    pub data: Value,
    /// The hash of the previous entry (64 zeros for entry 0), lowercase hex.
    pub prev: String,
}

impl Entry {
    pub(super) fn to_value(&self) -> Value {
        json!({
            "seq": self.seq,
            "time": self.time,
            "kind": self.kind,
            "step": self.step,
            "actor": self.actor,
            "data": self.data,
            "prev": self.prev,
        })
    }
}

/// What the `begin` entry records about the ceremony. Only host-independent facts:
/// no host names, user names or paths.
#[derive(Debug, Clone)]
pub struct CeremonyMeta {
    /// The ceremony's name (e.g. the script's name, or "rotate root 2024-Q3").
    pub name: String,
    /// SHA-256 (hex) of the ceremony script as run.
    pub script_sha256: String,
    /// Anything else worth recording at the start (flavour, repository, threshold).
    pub extra: Map<String, Value>,
}

impl CeremonyMeta {
    pub fn new(name: impl Into<String>, script_sha256: impl Into<String>) -> Self {
        CeremonyMeta {
            name: name.into(),
            script_sha256: script_sha256.into(),
            extra: Map::new(),
        }
    }
}

/// Split a field name into lowercase words at non-alphanumerics and camelCase
/// boundaries: `userPIN_code` → `user`, `pin`, `code`.
pub(super) fn name_words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase() || c.is_numeric();
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// Whether a field name looks like it holds a secret.
pub fn is_secret_field_name(name: &str) -> bool {
    let compact: String = name
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_SUBSTRINGS.iter().any(|s| compact.contains(s))
        || name_words(name)
            .iter()
            .any(|w| SECRET_WORDS.contains(&w.as_str()))
}

/// Why `value` cannot go into a transcript, if it cannot: a field named like a
/// secret (unless its value is null, as in a Notary key object's
/// `"private": null`), or a control character, which canonical JSON would write
/// raw and so break the one-entry-per-line layout.
pub(super) enum Unrecordable {
    Secret { field: String, at: String },
    Control { at: String },
}

pub(super) fn check_recordable(value: &Value, at: &mut String) -> Option<Unrecordable> {
    match value {
        Value::String(s) => s
            .chars()
            .any(char::is_control)
            .then(|| Unrecordable::Control { at: at.clone() }),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let len = at.len();
            at.push_str(&format!("[{i}]"));
            let found = check_recordable(item, at);
            at.truncate(len);
            found
        }),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            let len = at.len();
            at.push('.');
            at.push_str(key);
            let found = if is_secret_field_name(key) && !item.is_null() {
                Some(Unrecordable::Secret {
                    field: key.clone(),
                    at: at.clone(),
                })
            } else if key.chars().any(char::is_control) {
                Some(Unrecordable::Control { at: at.clone() })
            } else {
                check_recordable(item, at)
            };
            at.truncate(len);
            found
        }),
        _ => None,
    }
}

/// Replace control characters (line breaks, tabs) with spaces, so that text such as
/// a multi-line error message can be recorded.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
