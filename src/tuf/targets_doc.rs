//! A signed targets document (`targets.json`, or a delegated role's metadata):
//! the `signed` value exactly as read, its typed view, and the signatures. Used
//! where targets metadata is kept offline and its delegations change in a
//! ceremony.

use super::cjson;
use super::document::check_role;
use super::json::parse_strict;
use super::key::{decode_key, key_id};
use super::metadata::{Flavour, MetadataError, Signature, Targets};
use super::time::parse_expires;
use serde_json::{Map, Value};

#[derive(Debug, Clone)]
pub struct TargetsDocument {
    pub name: String,
    signed: Value,
    targets: Targets,
    flavour: Flavour,
    pub signatures: Vec<Signature>,
    envelope_unknown: Map<String, Value>,
}

impl TargetsDocument {
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
        let Some(flavour) = Flavour::from_type(&type_name, "targets") else {
            return Err(MetadataError::WrongType {
                file,
                found: type_name,
                role: "targets".into(),
                notary: "Targets".into(),
            });
        };
        let targets: Targets =
            serde_json::from_value(signed.clone()).map_err(|e| MetadataError::Malformed {
                file: file.clone(),
                what: "targets".into(),
                reason: e.to_string(),
            })?;
        let doc = TargetsDocument {
            name: file,
            signed,
            targets,
            flavour,
            signatures,
            envelope_unknown: envelope,
        };
        doc.validate()?;
        Ok(doc)
    }

    pub fn targets(&self) -> &Targets {
        &self.targets
    }

    pub fn flavour(&self) -> Flavour {
        self.flavour
    }

    pub fn version(&self) -> u64 {
        self.targets.version
    }

    /// Change the signed content; every signature is dropped.
    pub fn edit(&mut self, f: impl FnOnce(&mut Targets)) -> Result<(), MetadataError> {
        let mut targets = self.targets.clone();
        f(&mut targets);
        let candidate = TargetsDocument {
            name: self.name.clone(),
            signed: serde_json::to_value(&targets).expect("targets serialise"),
            targets,
            flavour: self.flavour,
            signatures: Vec::new(),
            envelope_unknown: self.envelope_unknown.clone(),
        };
        candidate.validate()?;
        *self = candidate;
        Ok(())
    }

    pub fn canonical_signed(&self) -> Result<Vec<u8>, MetadataError> {
        cjson::encode(&self.signed).map_err(|e| MetadataError::Canonical {
            file: self.name.clone(),
            reason: e.to_string(),
        })
    }

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

    /// Structure: version, expiry format, and every delegated role's keys and
    /// threshold (keys listed, key IDs matching their keys, thresholds possible).
    pub fn validate(&self) -> Result<(), MetadataError> {
        let file = &self.name;
        let t = &self.targets;
        if t.version == 0 {
            return Err(MetadataError::ZeroVersion { file: file.clone() });
        }
        parse_expires(&t.expires, self.flavour).map_err(|format| MetadataError::BadExpires {
            file: file.clone(),
            value: t.expires.clone(),
            format,
        })?;
        if let Some(d) = &t.delegations {
            for (keyid, key) in &d.keys {
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
            }
            let mut names = std::collections::BTreeSet::new();
            for role in &d.roles {
                if !names.insert(role.name.as_str()) {
                    return Err(MetadataError::Malformed {
                        file: file.clone(),
                        what: "delegations".into(),
                        reason: format!("role {} is delegated twice", role.name),
                    });
                }
                if role.paths.is_some() && role.path_hash_prefixes.is_some() {
                    return Err(MetadataError::Malformed {
                        file: file.clone(),
                        what: "delegations".into(),
                        reason: format!("role {} has both paths and path_hash_prefixes", role.name),
                    });
                }
                check_role(file, &role.name, &role.keyids, role.threshold, |k| {
                    d.keys.contains_key(k)
                })?;
            }
        }
        self.canonical_signed()?;
        Ok(())
    }
}
