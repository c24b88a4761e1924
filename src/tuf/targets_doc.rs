//! A signed targets document (`targets.json`, or a delegated role's metadata):
//! the `signed` value exactly as read, its typed view, and the signatures. Used
//! where targets metadata is kept offline and its delegations change in a
//! ceremony.

use super::document::check_role;
use super::envelope;
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
        let env = envelope::parse(bytes, name, "targets")?;
        let targets: Targets = envelope::typed(env.signed.clone(), name, "targets")?;
        let doc = TargetsDocument {
            name: name.to_owned(),
            signed: env.signed,
            targets,
            flavour: env.flavour,
            signatures: env.signatures,
            envelope_unknown: env.unknown,
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
        envelope::canonical(&self.signed, &self.name)
    }

    pub fn to_json(&self) -> Result<Vec<u8>, MetadataError> {
        envelope::write(
            self.flavour,
            &self.signed,
            &self.signatures,
            &self.envelope_unknown,
            &self.name,
        )
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
