//! Ceremony scripts: the ceremonies people run, as data the engine executes.
//!
//! A script is TOML (format `ceremony-script/1`, documented in
//! `docs/script-format.md`). It is validated in full — unknown fields, impossible
//! thresholds, steps naming unknown people or keys — before the first step runs.

use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

pub const FORMAT: &str = "ceremony-script/1";

/// What a ceremony produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A new root (version 1) whose root keys are generated in the ceremony.
    RootInit,
    /// The next root version: root keys replaced, cross-signed by the old ones.
    RootRotate,
    /// The next root version without a compromised targets (tagging) key, with its
    /// replacement listed.
    RevokeTaggingKey,
    /// The next root version with a later expiry, nothing else changed.
    RefreshExpiry,
    /// The next targets version (targets kept offline): a delegated role's keys
    /// added, removed or replaced, and its threshold set.
    DelegationRotate,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::RootInit => "root-init",
            Kind::RootRotate => "root-rotate",
            Kind::RevokeTaggingKey => "revoke-tagging-key",
            Kind::RefreshExpiry => "refresh-expiry",
            Kind::DelegationRotate => "delegation-rotate",
        }
    }

    /// Does this ceremony start from a current root?
    pub fn needs_current_root(self) -> bool {
        !matches!(self, Kind::RootInit)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ParticipantRole {
    Administrator,
    Operator,
    Witness,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Participant {
    pub id: String,
    pub role: ParticipantRole,
    /// How the person is described on screen and in the transcript.
    #[serde(default)]
    pub title: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlavourParam {
    Tuf,
    Notary,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parameters {
    pub flavour: FlavourParam,
    /// Repository name (the GUN, for Notary).
    pub repository: String,
    /// How long the new root is valid.
    pub expires_days: u32,
    /// A fixed expiry instead (`YYYY-MM-DDTHH:MM:SSZ`): the same for every root a
    /// batch signs, and for a rerun of the same ceremony.
    #[serde(default)]
    pub expires: Option<String>,
    /// The root role's threshold in the new root (default: unchanged, or 1 for a
    /// new root).
    #[serde(default)]
    pub root_threshold: Option<u64>,
    /// delegation-rotate: the delegated role whose keys change.
    #[serde(default)]
    pub delegation: Option<String>,
    /// delegation-rotate: the delegated role's new threshold (default: unchanged).
    #[serde(default)]
    pub delegation_threshold: Option<u64>,
    /// YubiKey: generate keys even when a YubiKey still has the factory-default
    /// PIV management key (rehearsals only; recorded in the transcript).
    #[serde(default)]
    pub allow_default_management_key: bool,
}

/// A key the ceremony uses, by a name steps refer to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySpec {
    /// The role whose key this is in the new root (`root`, `targets`, …), or
    /// `outgoing-root` for a current root key that signs only as the previous root.
    pub role: String,
    /// `ed25519` or `ecdsa-p256`, for keys generated in the ceremony.
    #[serde(default)]
    pub algorithm: Option<String>,
    /// Generated on its token during the ceremony (otherwise it must exist).
    #[serde(default)]
    pub generate: bool,
    /// The participant who holds the token.
    #[serde(default)]
    pub custodian: Option<String>,
    /// Generate the key in software on the air-gapped machine, load it into its
    /// token, and write it age-encrypted to each backup recipient given at run
    /// time (`--backup NAME=RECIPIENT`). Each backup is opened and checked before
    /// the ceremony goes on. Keys generated on their token have no backup.
    #[serde(default)]
    pub backup: bool,
    /// YubiKey: the PIV slot to generate in (default 9c).
    #[serde(default)]
    pub slot: Option<String>,
    /// YubiKey: `always` (default) or `once`.
    #[serde(default)]
    pub pin_policy: Option<String>,
    /// YubiKey: `always` (default), `cached` or `never`.
    #[serde(default)]
    pub touch_policy: Option<String>,
    /// YubiKey: the slot may already hold a key, which is replaced after the
    /// operator confirms.
    #[serde(default)]
    pub overwrite: bool,
    /// YubiKey: `required` (default) or `not-available` (a device that cannot
    /// attest, e.g. an emulator in a rehearsal; recorded in the transcript).
    #[serde(default)]
    pub attestation: Option<String>,
}

impl KeySpec {
    /// Does the script set anything only a YubiKey uses?
    pub fn has_yubikey_settings(&self) -> bool {
        self.slot.is_some()
            || self.pin_policy.is_some()
            || self.touch_policy.is_some()
            || self.overwrite
            || self.attestation.is_some()
    }

    /// The attestation requirement (validated).
    pub fn attestation_required(&self) -> bool {
        self.attestation.as_deref() != Some("not-available")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// A person confirms a statement (a witness checks a bag serial).
    Confirm,
    /// Stop unless the machine has no network.
    CheckAirGap,
    /// Show the tokens and keys the ceremony will use.
    ListTokens,
    /// Generate a key on its token.
    GenerateKey,
    /// Build the new root (what depends on the ceremony kind).
    BuildRoot,
    /// Build the new targets metadata (delegation-rotate).
    BuildTargets,
    /// Show the summary and diff to be read aloud; everyone confirms.
    Review,
    /// Sign the new root with a key.
    Sign,
    /// Verify the new root (and the chain from the current one).
    Verify,
    /// Write the export.
    Export,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub id: String,
    pub action: Action,
    pub actor: String,
    /// What the actor is asked to confirm (for `confirm`), or extra guidance.
    #[serde(default)]
    pub text: Option<String>,
    /// The key this step acts on (`generate-key`, `sign`).
    #[serde(default)]
    pub key: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    pub format: String,
    pub name: String,
    pub kind: Kind,
    pub summary: String,
    pub parameters: Parameters,
    pub participants: Vec<Participant>,
    #[serde(default)]
    pub keys: BTreeMap<String, KeySpec>,
    pub steps: Vec<Step>,
}

impl Parameters {
    /// The expiry of what this ceremony signs, formatted for metadata.
    pub fn expires_at(&self, now: chrono::DateTime<chrono::Utc>) -> String {
        match &self.expires {
            Some(at) => at.clone(),
            None => crate::tuf::time::format_expires(
                now + chrono::Duration::days(i64::from(self.expires_days)),
            ),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{file}: {reason}")]
pub struct ScriptError {
    pub file: String,
    pub reason: String,
}

const ROLES: [&str; 6] = [
    "root",
    "targets",
    "snapshot",
    "timestamp",
    "outgoing-root",
    "delegation",
];

impl Script {
    /// Parse and validate a script. `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Script, ScriptError> {
        let err = |reason: String| ScriptError {
            file: file.to_owned(),
            reason,
        };
        let script: Script = toml::from_str(text)
            .map_err(|e| err(e.message().to_owned() + &location(text, e.span())))?;
        script.validate().map_err(err)?;
        Ok(script)
    }

    fn validate(&self) -> Result<(), String> {
        if self.format != FORMAT {
            return Err(format!(
                "format is {:?}; this version reads {FORMAT:?}",
                self.format
            ));
        }
        let mut people = BTreeSet::new();
        for p in &self.participants {
            if !people.insert(p.id.as_str()) {
                return Err(format!("participant {:?} is listed twice", p.id));
            }
        }
        if !self
            .participants
            .iter()
            .any(|p| p.role == ParticipantRole::Administrator)
        {
            return Err("no participant has the role administrator".into());
        }
        if let Some(at) = &self.parameters.expires {
            let t = crate::tuf::time::parse_expires(at, crate::tuf::metadata::Flavour::Tuf)
                .map_err(|f| format!("expires = {at:?} is not a time of the form {f}"))?;
            if t <= chrono::Utc::now() {
                return Err(format!("expires = {at:?} is in the past"));
            }
        }
        if self.parameters.expires_days == 0 || self.parameters.expires_days > 3650 * 2 {
            return Err(format!(
                "expires_days is {}; it must be between 1 and 7300",
                self.parameters.expires_days
            ));
        }
        if self.parameters.repository.trim().is_empty() {
            return Err("parameters.repository is empty".into());
        }
        for (name, k) in &self.keys {
            if !ROLES.contains(&k.role.as_str()) {
                return Err(format!(
                    "key {name:?} has role {:?}; roles are {}",
                    k.role,
                    ROLES.join(", ")
                ));
            }
            if k.generate {
                let alg = k
                    .algorithm
                    .as_deref()
                    .ok_or_else(|| format!("key {name:?} is generated but names no algorithm"))?;
                crate::keys::Algorithm::parse(alg).map_err(|e| format!("key {name:?}: {e}"))?;
                if self.parameters.flavour == FlavourParam::Notary
                    && k.role == "root"
                    && alg != "ecdsa-p256"
                {
                    return Err(format!(
                        "key {name:?}: Notary root keys are ecdsa-p256 (x509 certificates)"
                    ));
                }
            }
            if k.has_yubikey_settings() {
                if !k.generate {
                    return Err(format!(
                        "key {name:?}: slot, pin_policy, touch_policy, overwrite and attestation \
                         apply to keys generated in this ceremony (generate = true)"
                    ));
                }
                if k.backup {
                    return Err(format!(
                        "key {name:?}: a backed-up key is generated in software; \
                         YubiKey settings do not apply"
                    ));
                }
                if let Some(slot) = &k.slot {
                    crate::tokens::yubikey::parse_slot(slot)
                        .map_err(|e| format!("key {name:?}: {e}"))?;
                }
                match k.pin_policy.as_deref() {
                    None | Some("always") | Some("once") => {}
                    Some("never") => {
                        return Err(format!(
                            "key {name:?}: pin_policy \"never\" is refused: a root key must need the PIN"
                        ));
                    }
                    Some(other) => {
                        return Err(format!(
                            "key {name:?}: pin_policy {other:?}; use \"always\" (the default) or \"once\""
                        ));
                    }
                }
                if let Some(t) = &k.touch_policy {
                    crate::tokens::yubikey::parse_touch_policy(t)
                        .map_err(|e| format!("key {name:?}: {e}"))?;
                }
                match k.attestation.as_deref() {
                    None | Some("required") | Some("not-available") => {}
                    Some(other) => {
                        return Err(format!(
                            "key {name:?}: attestation {other:?}; use \"required\" (the default) \
                             or \"not-available\" (a device that cannot attest, rehearsals only)"
                        ));
                    }
                }
            }
            if k.backup && !k.generate {
                return Err(format!(
                    "key {name:?} has backup = true but is not generated in this ceremony"
                ));
            }
            if let Some(c) = &k.custodian
                && !people.contains(c.as_str())
            {
                return Err(format!(
                    "key {name:?} names custodian {c:?}, who is not a participant"
                ));
            }
        }
        let new_root_keys = self.keys.values().filter(|k| k.role == "root").count() as u64;
        if let Some(t) = self.parameters.root_threshold {
            if t == 0 {
                return Err("root_threshold is 0; it must be at least 1".into());
            }
            if self.kind == Kind::RootInit && t > new_root_keys {
                return Err(format!(
                    "root_threshold is {t} but the script creates only {new_root_keys} root key(s)"
                ));
            }
        }
        if self.kind == Kind::RootInit {
            if new_root_keys == 0 {
                return Err("a root-init ceremony needs at least one key with role root".into());
            }
            if let Some(k) = self
                .keys
                .iter()
                .find(|(_, k)| k.role == "root" && !k.generate)
            {
                return Err(format!(
                    "root-init generates every root key, but key {:?} has generate = false",
                    k.0
                ));
            }
        }
        let mut ids = BTreeSet::new();
        let mut generated = BTreeSet::new();
        let mut built = false;
        for s in &self.steps {
            if !ids.insert(s.id.as_str()) {
                return Err(format!("step id {:?} is used twice", s.id));
            }
            if !people.contains(s.actor.as_str()) {
                return Err(format!(
                    "step {:?}: actor {:?} is not a participant",
                    s.id, s.actor
                ));
            }
            let key = |what: &str| -> Result<&KeySpec, String> {
                let name = s
                    .key
                    .as_deref()
                    .ok_or_else(|| format!("step {:?}: {what} needs key = \"…\"", s.id))?;
                self.keys.get(name).ok_or_else(|| {
                    format!("step {:?}: key {name:?} is not declared in [keys]", s.id)
                })
            };
            match s.action {
                Action::Confirm if s.text.is_none() => {
                    return Err(format!(
                        "step {:?}: confirm needs text = \"what is confirmed\"",
                        s.id
                    ));
                }
                Action::GenerateKey => {
                    let k = key("generate-key")?;
                    if !k.generate {
                        return Err(format!(
                            "step {:?}: key {:?} is not marked generate = true",
                            s.id,
                            s.key.as_deref().unwrap_or("")
                        ));
                    }
                    if built {
                        return Err(format!(
                            "step {:?}: keys must be generated before build-root",
                            s.id
                        ));
                    }
                    generated.insert(s.key.clone().unwrap_or_default());
                }
                Action::Sign => {
                    let k = key("sign")?;
                    let signs_targets = self.kind == Kind::DelegationRotate;
                    if signs_targets && k.role != "targets" {
                        return Err(format!(
                            "step {:?}: delegation-rotate signs targets metadata; key {:?} is a {} key",
                            s.id,
                            s.key.as_deref().unwrap_or(""),
                            k.role
                        ));
                    }
                    if !signs_targets && !matches!(k.role.as_str(), "root" | "outgoing-root") {
                        return Err(format!(
                            "step {:?}: only root keys sign a root; {:?} is a {} key",
                            s.id,
                            s.key.as_deref().unwrap_or(""),
                            k.role
                        ));
                    }
                    if !built {
                        return Err(format!("step {:?}: sign comes after build-root", s.id));
                    }
                }
                Action::BuildRoot if self.kind == Kind::DelegationRotate => {
                    return Err(format!(
                        "step {:?}: delegation-rotate builds targets metadata: use build-targets",
                        s.id
                    ));
                }
                Action::BuildTargets if self.kind != Kind::DelegationRotate => {
                    return Err(format!(
                        "step {:?}: build-targets belongs to delegation-rotate ceremonies",
                        s.id
                    ));
                }
                Action::BuildRoot | Action::BuildTargets => built = true,
                Action::Review | Action::Verify | Action::Export if !built => {
                    let name = format!("{:?}", s.action).to_lowercase();
                    return Err(format!("step {:?}: {name} comes after build-root", s.id));
                }
                _ => {}
            }
        }
        if !built {
            return Err("the script has no build-root (or build-targets) step".into());
        }
        if self.kind == Kind::DelegationRotate {
            if self
                .parameters
                .delegation
                .as_deref()
                .unwrap_or("")
                .is_empty()
            {
                return Err(
                    "delegation-rotate needs parameters.delegation (the delegated role)".into(),
                );
            }
            if self.parameters.delegation_threshold == Some(0) {
                return Err("delegation_threshold is 0; it must be at least 1".into());
            }
        }
        for (name, k) in &self.keys {
            if k.generate && !generated.contains(name) {
                return Err(format!(
                    "key {name:?} is marked generate = true but no step generates it"
                ));
            }
        }
        Ok(())
    }

    pub fn participant(&self, id: &str) -> &Participant {
        self.participants
            .iter()
            .find(|p| p.id == id)
            .expect("validated")
    }
}

fn location(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(r) => {
            let line = text[..r.start.min(text.len())].matches('\n').count() + 1;
            format!(" (line {line})")
        }
        None => String::new(),
    }
}
