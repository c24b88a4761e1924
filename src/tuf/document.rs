//! A signed metadata document as it is on disk: the `signed` value exactly as read
//! (so the bytes that were signed can be recomputed), the typed view of it, and the
//! signatures.

use super::cjson;
use super::json::parse_strict;
use super::key::{decode_key, key_id};
use super::metadata::{Flavour, MetadataError, Root, Signature, TOP_LEVEL_ROLES};
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
        let file = name.to_owned();
        let value = parse_strict(bytes).map_err(|e| MetadataError::Json {
            file: file.clone(),
            reason: e.to_string(),
        })?;
        let Value::Object(mut envelope) = value else {
            return Err(MetadataError::Envelope {
                file,
                reason: "the top level is not an object".into(),
            });
        };
        let signed = envelope.remove("signed").ok_or(MetadataError::Envelope {
            file: file.clone(),
            reason: "no \"signed\" field".into(),
        })?;
        let signatures = envelope
            .remove("signatures")
            .ok_or(MetadataError::Envelope {
                file: file.clone(),
                reason: "no \"signatures\" field".into(),
            })?;
        let signatures: Vec<Signature> =
            serde_json::from_value(signatures).map_err(|e| MetadataError::Malformed {
                file: file.clone(),
                what: "signatures".into(),
                reason: e.to_string(),
            })?;
        let type_name = signed
            .get("_type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let Some(flavour) = Flavour::from_type(&type_name, "root") else {
            return Err(MetadataError::WrongType {
                file,
                found: type_name,
                role: "root".into(),
                notary: "Root".into(),
            });
        };
        let root: Root =
            serde_json::from_value(signed.clone()).map_err(|e| MetadataError::Malformed {
                file: file.clone(),
                what: "root".into(),
                reason: e.to_string(),
            })?;
        let doc = RootDocument {
            name: file,
            signed,
            root,
            flavour,
            signatures,
            envelope_unknown: envelope,
        };
        doc.validate()?;
        Ok(doc)
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
        Ok(RootDocument {
            name: name.into(),
            signed,
            root,
            flavour,
            signatures: Vec::new(),
            envelope_unknown: Map::new(),
        })
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
        cjson::encode(&self.signed).map_err(|e| MetadataError::Canonical {
            file: self.name.clone(),
            reason: e.to_string(),
        })
    }

    /// The whole document, ready to write. TUF documents are pretty-printed;
    /// Notary documents are written exactly as Notary re-serialises them
    /// (`{"signed":<canonical>,"signatures":[...]}`, no whitespace), because the
    /// Notary server hashes its own re-serialisation when it builds snapshots.
    pub fn to_json(&self) -> Result<Vec<u8>, MetadataError> {
        match self.flavour {
            Flavour::Tuf => {
                let mut envelope = self.envelope_unknown.clone();
                envelope.insert(
                    "signatures".into(),
                    serde_json::to_value(&self.signatures).expect("signatures serialise"),
                );
                envelope.insert("signed".into(), self.signed.clone());
                let mut out =
                    serde_json::to_vec_pretty(&Value::Object(envelope)).expect("serialises");
                out.push(b'\n');
                Ok(out)
            }
            Flavour::Notary => {
                let mut out = b"{\"signed\":".to_vec();
                out.extend(self.canonical_signed()?);
                out.extend_from_slice(b",\"signatures\":");
                out.extend(serde_json::to_vec(&self.signatures).expect("signatures serialise"));
                out.push(b'}');
                Ok(out)
            }
        }
    }

    /// Full validation: structure, plus that the expiry parses and that the
    /// canonical form exists.
    pub fn validate(&self) -> Result<(), MetadataError> {
        self.validate_structure()?;
        self.canonical_signed()?;
        Ok(())
    }

    fn validate_structure(&self) -> Result<(), MetadataError> {
        let file = &self.name;
        let root = &self.root;
        if root.version == 0 {
            return Err(MetadataError::ZeroVersion { file: file.clone() });
        }
        parse_expires(&root.expires, self.flavour).map_err(|format| MetadataError::BadExpires {
            file: file.clone(),
            value: root.expires.clone(),
            format,
        })?;
        if self.flavour == Flavour::Tuf {
            if root.spec_version.is_none() {
                return Err(MetadataError::Malformed {
                    file: file.clone(),
                    what: "root".into(),
                    reason: "missing field `spec_version`".into(),
                });
            }
            if root.consistent_snapshot.is_none() {
                return Err(MetadataError::Malformed {
                    file: file.clone(),
                    what: "root".into(),
                    reason: "missing field `consistent_snapshot`".into(),
                });
            }
        }
        let mut seen_public: BTreeMap<Vec<u8>, String> = BTreeMap::new();
        for (keyid, key) in &root.keys {
            let decoded =
                decode_key(key, self.flavour).map_err(|reason| MetadataError::BadKey {
                    file: file.clone(),
                    keyid: keyid.clone(),
                    reason,
                })?;
            let computed = key_id(key, self.flavour);
            if &computed != keyid {
                return Err(MetadataError::KeyIdMismatch {
                    file: file.clone(),
                    keyid: keyid.clone(),
                    computed,
                });
            }
            if let Some(first) =
                seen_public.insert(decoded.public.as_bytes().to_vec(), keyid.clone())
            {
                return Err(MetadataError::DuplicateKey {
                    file: file.clone(),
                    first,
                    second: keyid.clone(),
                });
            }
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
