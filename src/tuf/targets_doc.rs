//! A signed targets document (`targets.json`, or a delegated role's metadata):
//! the `signed` value exactly as read, its typed view, and the signatures. Used
//! where targets metadata is kept offline and its delegations change in a
//! ceremony.

use super::document::{check_keys, check_role, check_version_and_expiry};
use super::envelope;
use super::fields;
use super::metadata::{Flavour, MetadataError, Signature, Targets};
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
        let targets: Targets = envelope::typed(&env.signed, name, "targets")?;
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
        fields::check_signed(&self.signed, fields::Kind::Targets, self.flavour).map_err(
            |error| MetadataError::Field {
                file: file.clone(),
                error,
            },
        )?;
        self.canonical_signed()?;
        check_version_and_expiry(file, t.version, &t.expires, self.flavour)?;
        if let Some(d) = &t.delegations {
            check_keys(file, &d.keys, self.flavour)?;
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
