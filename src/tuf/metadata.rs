//! The metadata model for both wire flavours: TUF 1.0 (`"root"`) and Notary v1
//! (`"Root"`). Every struct keeps the fields it does not model in `unknown`, so a
//! load → save round trip leaves the signed bytes unchanged.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Which implementation family a document belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flavour {
    /// TUF 1.0: python-tuf, go-tuf, tough.
    Tuf,
    /// Notary v1 / Docker Content Trust.
    Notary,
}

impl Flavour {
    pub fn name(self) -> &'static str {
        match self {
            Flavour::Tuf => "tuf",
            Flavour::Notary => "notary",
        }
    }

    /// The `_type` a role's metadata carries in this flavour.
    pub fn type_name(self, role: &str) -> String {
        match self {
            Flavour::Tuf => role.to_owned(),
            Flavour::Notary => {
                let mut c = role.chars();
                match c.next() {
                    Some(first) => first.to_uppercase().collect::<String>() + c.as_str(),
                    None => String::new(),
                }
            }
        }
    }

    pub fn from_type(type_name: &str, role: &str) -> Option<Flavour> {
        if type_name == Flavour::Tuf.type_name(role) {
            Some(Flavour::Tuf)
        } else if type_name == Flavour::Notary.type_name(role) {
            Some(Flavour::Notary)
        } else {
            None
        }
    }
}

impl std::fmt::Display for Flavour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The top-level roles every root lists.
pub const TOP_LEVEL_ROLES: [&str; 4] = ["root", "targets", "snapshot", "timestamp"];

/// The TUF specification version we write.
pub const SPEC_VERSION: &str = "1.0.31";

/// A key as it appears in `keys`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Key {
    pub keytype: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    pub keyval: KeyVal,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyVal {
    /// Absent in keys of some types we do not verify (Sigstore's `sigstore-oidc`
    /// keys name an identity and an issuer instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<String>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// A top-level role in root: which keys, how many must sign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleKeys {
    pub keyids: Vec<String>,
    pub threshold: u64,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// `root.json`'s signed part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Root {
    #[serde(rename = "_type")]
    pub type_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistent_snapshot: Option<bool>,
    pub version: u64,
    pub expires: String,
    pub keys: BTreeMap<String, Key>,
    pub roles: BTreeMap<String, RoleKeys>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// A signature entry in the envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    pub keyid: String,
    /// Notary names the scheme here (`ecdsa`, `ed25519`); TUF leaves it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    pub sig: String,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// Hashes and length of a file, as targets and snapshot list them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetFile {
    pub length: u64,
    pub hashes: BTreeMap<String, String>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// A delegated role in targets metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DelegatedRole {
    pub name: String,
    pub keyids: Vec<String>,
    pub threshold: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminating: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_hash_prefixes: Option<Vec<String>>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delegations {
    pub keys: BTreeMap<String, Key>,
    pub roles: Vec<DelegatedRole>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// `targets.json` (or a delegated role's metadata): its signed part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Targets {
    #[serde(rename = "_type")]
    pub type_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_version: Option<String>,
    pub version: u64,
    pub expires: String,
    pub targets: BTreeMap<String, TargetFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegations: Option<Delegations>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// What snapshot and timestamp say about another metadata file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashes: Option<BTreeMap<String, String>>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// `snapshot.json` and `timestamp.json`: their signed part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    #[serde(rename = "_type")]
    pub type_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_version: Option<String>,
    pub version: u64,
    pub expires: String,
    pub meta: BTreeMap<String, MetaFile>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// Timestamp metadata has the shape of snapshot metadata.
pub type Timestamp = Snapshot;

/// Errors in the shape or content of a metadata document.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MetadataError {
    #[error("{file}: not valid JSON: {reason}")]
    Json { file: String, reason: String },
    #[error("{file}: not a signed metadata document: {reason}")]
    Envelope { file: String, reason: String },
    #[error("{file}: _type is {found:?}, expected \"{role}\" (TUF) or \"{notary}\" (Notary)")]
    WrongType {
        file: String,
        found: String,
        role: String,
        notary: String,
    },
    #[error("{file}: malformed {what}: {reason}")]
    Malformed {
        file: String,
        what: String,
        reason: String,
    },
    #[error("{file}: role {role} is missing")]
    MissingRole { file: String, role: String },
    #[error("{file}: role {role} has threshold {threshold}, must be at least 1")]
    ZeroThreshold {
        file: String,
        role: String,
        threshold: u64,
    },
    #[error("{file}: role {role} has {keys} key(s), fewer than its threshold {threshold}")]
    ThresholdAboveKeys {
        file: String,
        role: String,
        keys: usize,
        threshold: u64,
    },
    #[error("{file}: role {role} lists key ID {keyid} twice")]
    DuplicateKeyId {
        file: String,
        role: String,
        keyid: String,
    },
    #[error("{file}: role {role} lists key ID {keyid}, which is not in keys")]
    UnlistedKey {
        file: String,
        role: String,
        keyid: String,
    },
    #[error("{file}: key {keyid}: {reason}")]
    BadKey {
        file: String,
        keyid: String,
        reason: String,
    },
    #[error("{file}: key ID {keyid} does not match its key (the key hashes to {computed})")]
    KeyIdMismatch {
        file: String,
        keyid: String,
        computed: String,
    },
    #[error("{file}: the same public key is listed twice, as {first} and {second}")]
    DuplicateKey {
        file: String,
        first: String,
        second: String,
    },
    #[error("{file}: expires {value:?} is not in the format {format}")]
    BadExpires {
        file: String,
        value: String,
        format: &'static str,
    },
    #[error("{file}: version must be at least 1")]
    ZeroVersion { file: String },
    #[error("{file}: {reason}")]
    Canonical { file: String, reason: String },
    #[error("{file}: {error}")]
    Field {
        file: String,
        error: super::fields::FieldError,
    },
    #[error(
        "{file}: role {role:?} is not a top-level role: a root lists exactly root, targets, snapshot and timestamp"
    )]
    UnknownRole { file: String, role: String },
    #[error(
        "{file}: spec_version {value:?} is not a TUF 1.x version (1.MINOR or 1.MINOR.PATCH, ASCII digits)"
    )]
    BadSpecVersion { file: String, value: String },
    #[error(
        "{file}: {field} is {value}, above {max}, the largest integer every client holds exactly"
    )]
    NumberTooLarge {
        file: String,
        field: String,
        value: u64,
        max: u64,
    },
    #[error(
        "{file}: the file is named for version {named} but holds version {found}: clients fetch N.root.json by name and would never find it"
    )]
    NamedVersion {
        file: String,
        named: u64,
        found: u64,
    },
    #[error("{file}: the signature by key ID {keyid} appears twice")]
    DuplicateSignature { file: String, keyid: String },
}
