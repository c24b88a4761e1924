//! Ceremony scripts: the ceremonies people run, as data the engine executes.
//!
//! A script is TOML (format `ceremony-script/1`, documented in
//! `docs/script-format.md`). It is validated in full — unknown fields, impossible
//! thresholds, steps naming unknown people or keys — before the first step runs.

use crate::keys::Algorithm;
use crate::tokens::yubikey as yk;
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
    /// A further site of a signing event: the previous site's partly signed
    /// root is imported, checked and signed with this site's keys.
    RootCountersign,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::RootInit => "root-init",
            Kind::RootRotate => "root-rotate",
            Kind::RevokeTaggingKey => "revoke-tagging-key",
            Kind::RefreshExpiry => "refresh-expiry",
            Kind::DelegationRotate => "delegation-rotate",
            Kind::RootCountersign => "root-countersign",
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
    /// The first site of a signing event across sites: the export may be partly
    /// signed (below the new or the previous root's threshold), and further
    /// sites countersign it (`root-countersign`).
    #[serde(default)]
    pub signing_event: bool,
}

/// A key the ceremony uses, by a name steps refer to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySpec {
    /// The role whose key this is in the new root (`root`, `targets`, …), or
    /// `outgoing-root` for a current root key that signs only as the previous root.
    pub role: KeyRole,
    /// `ed25519`, `ecdsa-p256` or `rsa`, for keys generated in the ceremony
    /// (read once, when the script is parsed).
    #[serde(default, deserialize_with = "algorithm")]
    pub algorithm: Option<Algorithm>,
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
    #[serde(default, deserialize_with = "slot")]
    pub slot: Option<yk::SlotId>,
    /// YubiKey: `always` (default) or `once`.
    #[serde(default, deserialize_with = "pin_policy")]
    pub pin_policy: Option<yk::PinPolicy>,
    /// YubiKey: `always` (default), `cached` or `never`.
    #[serde(default, deserialize_with = "touch_policy")]
    pub touch_policy: Option<yk::TouchPolicy>,
    /// YubiKey: the slot may already hold a key, which is replaced after the
    /// operator confirms.
    #[serde(default)]
    pub overwrite: bool,
    /// YubiKey: `required` (default) or `not-available` (a device that cannot
    /// attest, e.g. an emulator in a rehearsal; recorded in the transcript).
    #[serde(default, deserialize_with = "attestation")]
    pub attestation: Option<yk::AttestationPolicy>,
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

    /// The attestation requirement.
    pub fn attestation_required(&self) -> bool {
        self.attestation != Some(yk::AttestationPolicy::NotAvailable)
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
    /// A typed fact recorded in the transcript (a tamper-evident bag's number,
    /// the operating system image's hash, the clock source), checked against the
    /// step's pattern and, with `retyped_by`, typed again by a second person.
    Record,
    /// Each participant types their name; the time is recorded.
    SignIn,
    /// Each participant who signed in confirms leaving; the time is recorded.
    SignOut,
}

/// A step as the script file writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    id: String,
    action: Action,
    actor: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    key: Option<String>,
    /// `record`: the pattern the value must match in full (a regular expression).
    #[serde(default)]
    pattern: Option<String>,
    /// `record`: a value that matches the pattern, shown with the question (and
    /// taken by a rehearsal).
    #[serde(default)]
    example: Option<String>,
    /// `record`: the participant who types the value again, as read aloud.
    #[serde(default)]
    retyped_by: Option<String>,
}

/// What a step does, with what it needs: fixed when the script is parsed, so
/// no step reads its settings again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// A person confirms this statement.
    Confirm {
        text: String,
    },
    CheckAirGap,
    ListTokens,
    /// Generate this script key on its token.
    GenerateKey {
        key: String,
    },
    BuildRoot,
    BuildTargets,
    Review,
    /// Sign with this script key.
    Sign {
        key: String,
    },
    Verify,
    Export,
    /// A typed fact, checked and recorded.
    Record(Fact),
    SignIn,
    SignOut,
}

/// What a `record` step asks for.
#[derive(Debug, Clone)]
pub struct Fact {
    /// What is asked, as shown and recorded.
    pub label: String,
    /// The pattern as the script gives it, and compiled to match a whole value.
    pub pattern: String,
    pub matcher: regex::Regex,
    pub example: String,
    pub retyped_by: Option<String>,
}

impl PartialEq for Fact {
    fn eq(&self, other: &Fact) -> bool {
        (&self.label, &self.pattern, &self.example, &self.retyped_by)
            == (
                &other.label,
                &other.pattern,
                &other.example,
                &other.retyped_by,
            )
    }
}

impl Eq for Fact {}

/// The longest value a `record` step or a sign-in takes.
pub const MAX_FACT: usize = 200;

impl Fact {
    /// Why `value` is not an answer to this step, if it is not.
    pub fn check(&self, value: &str) -> Result<(), String> {
        check_typed(value)?;
        if !self.matcher.is_match(value) {
            return Err(format!(
                "{value:?} does not have the form asked for ({}; for example {})",
                self.pattern, self.example
            ));
        }
        Ok(())
    }
}

/// Typed text the transcript records: printable, on one line, not too long.
pub fn check_typed(value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("nothing was typed".into());
    }
    if value.chars().any(char::is_control) {
        return Err("the value holds a control character".into());
    }
    if value.chars().count() > MAX_FACT {
        return Err(format!("the value is longer than {MAX_FACT} characters"));
    }
    Ok(())
}

/// A step of the script.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawStep")]
pub struct Step {
    pub id: String,
    pub actor: String,
    /// Extra guidance shown with the step (for `confirm`, the statement).
    pub text: Option<String>,
    pub plan: Plan,
}

impl TryFrom<RawStep> for Step {
    type Error = String;

    fn try_from(s: RawStep) -> Result<Step, String> {
        let key = |what: &str| {
            s.key
                .clone()
                .ok_or_else(|| format!("step {:?}: {what} needs key = \"…\"", s.id))
        };
        let plan = match s.action {
            Action::Confirm => Plan::Confirm {
                text: s.text.clone().ok_or_else(|| {
                    format!(
                        "step {:?}: confirm needs text = \"what is confirmed\"",
                        s.id
                    )
                })?,
            },
            Action::CheckAirGap => Plan::CheckAirGap,
            Action::ListTokens => Plan::ListTokens,
            Action::GenerateKey => Plan::GenerateKey {
                key: key("generate-key")?,
            },
            Action::BuildRoot => Plan::BuildRoot,
            Action::BuildTargets => Plan::BuildTargets,
            Action::Review => Plan::Review,
            Action::Sign => Plan::Sign { key: key("sign")? },
            Action::Verify => Plan::Verify,
            Action::Export => Plan::Export,
            Action::Record => Plan::Record(fact(&s)?),
            Action::SignIn => Plan::SignIn,
            Action::SignOut => Plan::SignOut,
        };
        if !matches!(plan, Plan::Record(_))
            && (s.pattern.is_some() || s.example.is_some() || s.retyped_by.is_some())
        {
            return Err(format!(
                "step {:?}: pattern, example and retyped_by belong to record steps",
                s.id
            ));
        }
        Ok(Step {
            id: s.id,
            actor: s.actor,
            text: s.text,
            plan,
        })
    }
}

/// A `record` step's question, checked when the script is parsed.
fn fact(s: &RawStep) -> Result<Fact, String> {
    let id = &s.id;
    let label = s
        .text
        .clone()
        .ok_or_else(|| format!("step {id:?}: record needs text = \"what is recorded\""))?;
    let pattern = s.pattern.clone().ok_or_else(|| {
        format!("step {id:?}: record needs pattern = \"…\" (the form of the value, a regular expression)")
    })?;
    let example = s.example.clone().ok_or_else(|| {
        format!("step {id:?}: record needs example = \"…\" (a value of that form)")
    })?;
    let matcher = regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(1 << 20)
        .build()
        .map_err(|e| {
            format!(
                "step {id:?}: pattern {pattern:?} is not a regular expression: {}",
                crate::ceremony::transcript::one_line(&e.to_string())
            )
        })?;
    let fact = Fact {
        label,
        pattern,
        matcher,
        example,
        retyped_by: s.retyped_by.clone(),
    };
    fact.check(&fact.example)
        .map_err(|e| format!("step {id:?}: the example does not fit: {e}"))?;
    if fact.retyped_by.as_deref() == Some(s.actor.as_str()) {
        return Err(format!(
            "step {id:?}: retyped_by names the actor; the value is typed again by someone else"
        ));
    }
    Ok(fact)
}

impl Step {
    /// The kind of step.
    pub fn action(&self) -> Action {
        match self.plan {
            Plan::Confirm { .. } => Action::Confirm,
            Plan::CheckAirGap => Action::CheckAirGap,
            Plan::ListTokens => Action::ListTokens,
            Plan::GenerateKey { .. } => Action::GenerateKey,
            Plan::BuildRoot => Action::BuildRoot,
            Plan::BuildTargets => Action::BuildTargets,
            Plan::Review => Action::Review,
            Plan::Sign { .. } => Action::Sign,
            Plan::Verify => Action::Verify,
            Plan::Export => Action::Export,
            Plan::Record(_) => Action::Record,
            Plan::SignIn => Action::SignIn,
            Plan::SignOut => Action::SignOut,
        }
    }

    /// The script key the step acts on (`generate-key`, `sign`).
    pub fn key(&self) -> Option<&str> {
        match &self.plan {
            Plan::GenerateKey { key } | Plan::Sign { key } => Some(key),
            _ => None,
        }
    }
}

/// A setting read with `parse` (its error names the setting and what it takes).
fn setting<'de, D, T>(d: D, parse: fn(&str) -> Result<T, String>) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let text: Option<String> = Option::deserialize(d)?;
    text.map(|t| parse(&t).map_err(serde::de::Error::custom))
        .transpose()
}

fn slot<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<yk::SlotId>, D::Error> {
    setting(d, yk::parse_slot)
}

fn pin_policy<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<yk::PinPolicy>, D::Error> {
    setting(d, yk::parse_pin_policy)
}

fn touch_policy<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<yk::TouchPolicy>, D::Error> {
    setting(d, yk::parse_touch_policy)
}

fn attestation<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<yk::AttestationPolicy>, D::Error> {
    setting(d, |s| match s {
        "required" => Ok(yk::AttestationPolicy::Required),
        "not-available" => Ok(yk::AttestationPolicy::NotAvailable),
        other => Err(format!(
            "attestation {other:?}: use \"required\" (the default) or \"not-available\" \
             (a device that cannot attest, rehearsals only)"
        )),
    })
}

fn algorithm<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Algorithm>, D::Error> {
    let name: Option<String> = Option::deserialize(d)?;
    name.map(|n| Algorithm::parse(&n).map_err(serde::de::Error::custom))
        .transpose()
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

/// What a script key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyRole {
    Root,
    Targets,
    Snapshot,
    Timestamp,
    /// A current root key that signs only as the previous root.
    OutgoingRoot,
    /// A delegated role's key (delegation-rotate).
    Delegation,
}

impl KeyRole {
    /// The name scripts use (for the top-level roles, the role's name in a root).
    pub fn name(self) -> &'static str {
        match self {
            KeyRole::Root => "root",
            KeyRole::Targets => "targets",
            KeyRole::Snapshot => "snapshot",
            KeyRole::Timestamp => "timestamp",
            KeyRole::OutgoingRoot => "outgoing-root",
            KeyRole::Delegation => "delegation",
        }
    }

    /// A root key of the new root or of the previous one: it signs a root.
    pub fn signs_root(self) -> bool {
        matches!(self, KeyRole::Root | KeyRole::OutgoingRoot)
    }
}

impl std::fmt::Display for KeyRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

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
            if p.id.is_empty()
                || p.id.len() > 64
                || !p
                    .id
                    .chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
            {
                return Err(format!(
                    "participant id {:?}: use 1 to 64 letters, digits, '-', '_' or '.'",
                    p.id
                ));
            }
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
        for (name, value) in [
            ("repository", Some(&self.parameters.repository)),
            ("delegation", self.parameters.delegation.as_ref()),
        ] {
            if let Some(value) = value
                && (value.chars().any(char::is_control) || value.len() > 255)
            {
                return Err(format!(
                    "parameters.{name} holds a control character or is longer than 255 bytes: \
                     a repository or role name is printable text"
                ));
            }
        }
        for (name, k) in &self.keys {
            if k.generate {
                let alg = k
                    .algorithm
                    .ok_or_else(|| format!("key {name:?} is generated but names no algorithm"))?;
                if self.parameters.flavour == FlavourParam::Notary
                    && k.role == KeyRole::Root
                    && alg != Algorithm::EcdsaP256
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
                if k.pin_policy == Some(yk::PinPolicy::Never) {
                    return Err(format!(
                        "key {name:?}: pin_policy \"never\" is refused: a root key must need the PIN"
                    ));
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
        let new_root_keys = self
            .keys
            .values()
            .filter(|k| k.role == KeyRole::Root)
            .count() as u64;
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
                .find(|(_, k)| k.role == KeyRole::Root && !k.generate)
            {
                return Err(format!(
                    "root-init generates every root key, but key {:?} has generate = false",
                    k.0
                ));
            }
        }
        if self.kind == Kind::RootCountersign {
            if let Some((name, _)) = self
                .keys
                .iter()
                .find(|(_, k)| k.generate || !k.role.signs_root())
            {
                return Err(format!(
                    "key {name:?}: a root-countersign ceremony only signs the root it imports, \
                     with root keys it already has (role root or outgoing-root, not generated)"
                ));
            }
            if self.parameters.root_threshold.is_some() || self.parameters.expires.is_some() {
                return Err(
                    "a root-countersign ceremony changes nothing in the root it imports: \
                     root_threshold and expires do not apply"
                        .into(),
                );
            }
        }
        if self.parameters.signing_event && self.kind == Kind::RootInit {
            return Err(
                "signing_event = true: a signing event countersigns the successor of a root \
                 every site already trusts; a new root (root-init) is made in one room"
                    .into(),
            );
        }
        if self.parameters.signing_event && self.kind == Kind::DelegationRotate {
            return Err(
                "signing_event = true: a signing event across sites signs a root; \
                 delegation-rotate signs targets metadata in one room"
                    .into(),
            );
        }
        let mut ids = BTreeSet::new();
        let mut generated = BTreeSet::new();
        let mut built = false;
        let mut signed_in = false;
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
            if let Plan::Record(Fact {
                retyped_by: Some(who),
                ..
            }) = &s.plan
                && !people.contains(who.as_str())
            {
                return Err(format!(
                    "step {:?}: retyped_by {who:?} is not a participant",
                    s.id
                ));
            }
            match s.action() {
                Action::SignIn => signed_in = true,
                Action::SignOut if !signed_in => {
                    return Err(format!(
                        "step {:?}: sign-out comes after a sign-in step",
                        s.id
                    ));
                }
                _ => {}
            }
            let key = |_what: &str| -> Result<&KeySpec, String> {
                let name = s.key().unwrap_or_default();
                self.keys.get(name).ok_or_else(|| {
                    format!("step {:?}: key {name:?} is not declared in [keys]", s.id)
                })
            };
            match s.action() {
                Action::GenerateKey => {
                    let k = key("generate-key")?;
                    if !k.generate {
                        return Err(format!(
                            "step {:?}: key {:?} is not marked generate = true",
                            s.id,
                            s.key().unwrap_or("")
                        ));
                    }
                    if built {
                        return Err(format!(
                            "step {:?}: keys must be generated before build-root",
                            s.id
                        ));
                    }
                    generated.insert(s.key().unwrap_or_default().to_owned());
                }
                Action::Sign => {
                    let k = key("sign")?;
                    let signs_targets = self.kind == Kind::DelegationRotate;
                    if signs_targets && k.role != KeyRole::Targets {
                        return Err(format!(
                            "step {:?}: delegation-rotate signs targets metadata; key {:?} is a {} key",
                            s.id,
                            s.key().unwrap_or(""),
                            k.role
                        ));
                    }
                    if !signs_targets && !k.role.signs_root() {
                        return Err(format!(
                            "step {:?}: only root keys sign a root; {:?} is a {} key",
                            s.id,
                            s.key().unwrap_or(""),
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
                    let name = format!("{:?}", s.action()).to_lowercase();
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

    /// The participant with this ID (every step's actor is one: checked when
    /// the script is parsed).
    pub fn participant(&self, id: &str) -> Option<&Participant> {
        self.participants.iter().find(|p| p.id == id)
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
