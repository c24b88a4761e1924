//! A signed metadata document as it is on disk: the `signed` value exactly as read
//! (so the bytes that were signed can be recomputed), the typed view of it, and the
//! signatures.

use super::envelope;
use super::fields;
use super::key::{decode_key, key_id, unsupported};
use super::metadata::{Flavour, Key, MetadataError, Root, Signature, TOP_LEVEL_ROLES};
use super::time::parse_expires;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A root document: loaded from a file or built as a draft.
#[derive(Debug, Clone)]
pub struct RootDocument {
    /// Where it came from, for messages.
    pub name: String,
    signed: Value,
    root: Root,
    flavour: Flavour,
    pub signatures: Vec<Signature>,
    envelope_unknown: Map<String, Value>,
}

impl RootDocument {
    /// Parse and validate a root document. `name` names it in every error.
    pub fn from_slice(bytes: &[u8], name: &str) -> Result<Self, MetadataError> {
        let doc = Self::from_slice_validated_before(bytes, name)?;
        doc.validate()?;
        Ok(doc)
    }

    /// Parse a root document without validating it again: only for bytes the
    /// caller has matched, by SHA-256, with bytes it validated with
    /// [`RootDocument::from_slice`] (a batch ceremony re-reads each current root
    /// it checked when building, and every key in it would be decoded again).
    pub fn from_slice_validated_before(bytes: &[u8], name: &str) -> Result<Self, MetadataError> {
        let env = envelope::parse(bytes, name, "root")?;
        let root: Root = envelope::typed(&env.signed, name, "root")?;
        Ok(RootDocument {
            name: name.to_owned(),
            signed: env.signed,
            root,
            flavour: env.flavour,
            signatures: env.signatures,
            envelope_unknown: env.unknown,
        })
    }

    /// A new unsigned draft.
    pub fn draft(root: Root, name: &str) -> Result<Self, MetadataError> {
        let flavour =
            Flavour::from_type(&root.type_name, "root").ok_or(MetadataError::WrongType {
                file: name.into(),
                found: root.type_name.clone(),
                role: "root".into(),
                notary: "Root".into(),
            })?;
        let signed = serde_json::to_value(&root).expect("root serialises");
        let doc = RootDocument {
            name: name.into(),
            signed,
            root,
            flavour,
            signatures: Vec::new(),
            envelope_unknown: Map::new(),
        };
        // What we write follows the rules of what we read.
        doc.validate_structure()?;
        Ok(doc)
    }

    pub fn root(&self) -> &Root {
        &self.root
    }

    pub fn flavour(&self) -> Flavour {
        self.flavour
    }

    pub fn version(&self) -> u64 {
        self.root.version
    }

    /// Change the signed content. Every signature is dropped: they were over the old
    /// content. The result is validated before it replaces the current content.
    pub fn edit(&mut self, f: impl FnOnce(&mut Root)) -> Result<(), MetadataError> {
        let mut root = self.root.clone();
        f(&mut root);
        let candidate = RootDocument {
            name: self.name.clone(),
            signed: serde_json::to_value(&root).expect("root serialises"),
            root,
            flavour: self.flavour,
            signatures: Vec::new(),
            envelope_unknown: self.envelope_unknown.clone(),
        };
        candidate.validate_structure()?;
        *self = candidate;
        Ok(())
    }

    /// The exact bytes that signatures cover.
    pub fn canonical_signed(&self) -> Result<Vec<u8>, MetadataError> {
        envelope::canonical(&self.signed, &self.name)
    }

    /// The whole document, ready to write (see [`envelope::write`]).
    pub fn to_json(&self) -> Result<Vec<u8>, MetadataError> {
        envelope::write(
            self.flavour,
            &self.signed,
            &self.signatures,
            &self.envelope_unknown,
            &self.name,
        )
    }

    /// Full validation: structure, plus that the expiry parses and that the
    /// canonical form exists.
    pub fn validate(&self) -> Result<(), MetadataError> {
        self.validate_structure()?;
        self.canonical_signed()?;
        Ok(())
    }

    /// Fields of the signed part that no client models (TUF only; Notary roots
    /// have none): what the room hears about before it signs.
    pub fn unknown_fields(&self) -> Vec<String> {
        fields::unknown_fields(&self.signed, fields::Kind::Root, self.flavour)
    }

    fn validate_structure(&self) -> Result<(), MetadataError> {
        let file = &self.name;
        let root = &self.root;
        fields::check_signed(&self.signed, fields::Kind::Root, self.flavour).map_err(|error| {
            MetadataError::Field {
                file: file.clone(),
                error,
            }
        })?;
        // Before anything hashes a part of it: only integers have a canonical form.
        self.canonical_signed()?;
        check_version_and_expiry(file, root.version, &root.expires, self.flavour)?;
        if self.flavour == Flavour::Tuf {
            let Some(spec_version) = &root.spec_version else {
                return Err(MetadataError::Malformed {
                    file: file.clone(),
                    what: "root".into(),
                    reason: "missing field `spec_version`".into(),
                });
            };
            check_spec_version(file, spec_version)?;
            if root.consistent_snapshot.is_none() {
                return Err(MetadataError::Malformed {
                    file: file.clone(),
                    what: "root".into(),
                    reason: "missing field `consistent_snapshot`".into(),
                });
            }
        }
        check_keys(file, &root.keys, self.flavour)?;
        if let Some(role) = root
            .roles
            .keys()
            .find(|r| !TOP_LEVEL_ROLES.contains(&r.as_str()))
        {
            return Err(MetadataError::UnknownRole {
                file: file.clone(),
                role: role.clone(),
            });
        }
        for role in TOP_LEVEL_ROLES {
            let Some(r) = root.roles.get(role) else {
                return Err(MetadataError::MissingRole {
                    file: file.clone(),
                    role: role.into(),
                });
            };
            check_role(file, role, &r.keyids, r.threshold, |k| {
                root.keys.contains_key(k)
            })?;
        }
        Ok(())
    }
}

/// The largest integer every client holds exactly: Notary's verifier re-reads
/// numbers as 64-bit floats before it checks a signature, and JavaScript clients
/// hold nothing larger; go-tuf holds versions as signed 64-bit integers.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

fn check_safe_integer(file: &str, field: &str, value: u64) -> Result<(), MetadataError> {
    if value > MAX_SAFE_INTEGER {
        return Err(MetadataError::NumberTooLarge {
            file: file.into(),
            field: field.into(),
            value,
            max: MAX_SAFE_INTEGER,
        });
    }
    Ok(())
}

/// `spec_version` as python-tuf reads it (two or three dot-separated numbers,
/// major version 1), but with ASCII digits only: python-tuf's `isdigit` also
/// takes other scripts' digits, which no other client does.
fn check_spec_version(file: &str, value: &str) -> Result<(), MetadataError> {
    let parts: Vec<&str> = value.split('.').collect();
    let numeric = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !(2..=3).contains(&parts.len()) || !parts.iter().all(numeric) || parts[0] != "1" {
        return Err(MetadataError::BadSpecVersion {
            file: file.into(),
            value: value.into(),
        });
    }
    Ok(())
}

/// Version and expiry rules shared by every kind of metadata.
pub fn check_version_and_expiry(
    file: &str,
    version: u64,
    expires: &str,
    flavour: Flavour,
) -> Result<(), MetadataError> {
    if version == 0 {
        return Err(MetadataError::ZeroVersion { file: file.into() });
    }
    check_safe_integer(file, "version", version)?;
    parse_expires(expires, flavour).map_err(|format| MetadataError::BadExpires {
        file: file.into(),
        value: expires.into(),
        format,
    })?;
    Ok(())
}

/// Key rules shared by root keys and delegation keys.
///
/// Every key of a type we verify must decode (a malformed or weak key refuses the
/// document); a key of another type is kept, and a signature by it counts as none.
/// TUF key IDs are taken as given (TAP 12: producers hash different forms of the
/// key, and python-tuf never recomputes them); the verifier counts each public key
/// once whatever IDs it is listed under. Notary key IDs must be the hash Notary
/// computes (its client refuses a signature whose key ID is not), and a public key
/// is listed once.
pub fn check_keys(
    file: &str,
    keys: &BTreeMap<String, Key>,
    flavour: Flavour,
) -> Result<(), MetadataError> {
    let mut seen_public: BTreeMap<Vec<u8>, String> = BTreeMap::new();
    for (keyid, key) in keys {
        if unsupported(key, flavour).is_some() {
            continue;
        }
        let decoded = decode_key(key, flavour).map_err(|reason| MetadataError::BadKey {
            file: file.into(),
            keyid: keyid.clone(),
            reason,
        })?;
        if flavour == Flavour::Tuf {
            continue;
        }
        let computed = key_id(key, flavour);
        if &computed != keyid {
            return Err(MetadataError::KeyIdMismatch {
                file: file.into(),
                keyid: keyid.clone(),
                computed,
            });
        }
        if let Some(first) = seen_public.insert(decoded.public.as_bytes().to_vec(), keyid.clone()) {
            return Err(MetadataError::DuplicateKey {
                file: file.into(),
                first,
                second: keyid.clone(),
            });
        }
    }
    Ok(())
}

/// Threshold and key-list rules shared by top-level and delegated roles.
pub fn check_role(
    file: &str,
    role: &str,
    keyids: &[String],
    threshold: u64,
    known: impl Fn(&str) -> bool,
) -> Result<(), MetadataError> {
    if threshold == 0 {
        return Err(MetadataError::ZeroThreshold {
            file: file.into(),
            role: role.into(),
            threshold,
        });
    }
    check_safe_integer(file, &format!("role {role}'s threshold"), threshold)?;
    let mut seen = std::collections::BTreeSet::new();
    for k in keyids {
        if !seen.insert(k) {
            return Err(MetadataError::DuplicateKeyId {
                file: file.into(),
                role: role.into(),
                keyid: k.clone(),
            });
        }
        if !known(k) {
            return Err(MetadataError::UnlistedKey {
                file: file.into(),
                role: role.into(),
                keyid: k.clone(),
            });
        }
    }
    if (keyids.len() as u64) < threshold {
        return Err(MetadataError::ThresholdAboveKeys {
            file: file.into(),
            role: role.into(),
            keys: keyids.len(),
            threshold,
        });
    }
    Ok(())
}
