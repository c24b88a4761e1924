//! What each kind of entry records: one type per payload, so a field is named once
//! and the engine cannot misspell it or record a kind with another kind's data.
//!
//! Each type serialises to exactly the `data` object described in
//! `docs/transcript.md`. Several types may share an [`Event`] (a root built, a
//! targets metadata built and a batch of roots built are all `root-built`).
//! [`Transcript::record`] writes them; readers keep reading `data` as JSON, since a
//! transcript may come from a newer tool that records more.

use super::Event;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A typed entry payload and the kind it is recorded as.
pub trait Payload: Serialize {
    const EVENT: Event;
}

macro_rules! payload {
    ($($ty:ident => $event:ident),* $(,)?) => {
        $(impl Payload for $ty {
            const EVENT: Event = Event::$event;
        })*
    };
}

payload! {
    Begin => Begin,
    RequestInput => Input,
    FileInput => Input,
    CurrentRoot => Input,
    TargetsDecided => Input,
    EventImported => Input,
    AirGap => AirGap,
    NetworkOverride => NetworkOverride,
    StepStart => StepStart,
    StepDone => StepDone,
    Confirmation => Confirmation,
    TokensBound => Token,
    TokenSelected => Token,
    KeyGenerated => KeyGenerated,
    KeyDiscarded => KeyDiscarded,
    BackupWritten => BackupWritten,
    BackupVerified => BackupVerified,
    RootBuilt => RootBuilt,
    TargetsBuilt => RootBuilt,
    BatchBuilt => RootBuilt,
    Signed => Signature,
    SignatureRecovered => Signature,
    TargetsSigned => Signature,
    BatchSigned => Signature,
    Verified => Verified,
    FileWritten => FileWritten,
    ExportStaged => ExportStaged,
    Repository => Repository,
    Failed => Error,
    Retry => Retry,
    Interruption => Interruption,
    Resume => Resume,
    Recorded => Recorded,
    SignedIn => SignIn,
    SignedOut => SignOut,
    Deviation => Deviation,
}

/// The program that wrote the transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
    /// SHA-256 (hex) of the program file that ran the ceremony, or
    /// `{"unreadable": why}`.
    pub binary_sha256: Value,
}

/// `begin`: always entry 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Begin {
    pub format: String,
    pub ceremony: String,
    pub script_sha256: String,
    pub tool: Tool,
    /// Host-independent parameters (flavour, repository, thresholds, participants).
    #[serde(flatten)]
    pub parameters: Map<String, Value>,
}

/// `input`: the request bundle the ceremony carries out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestInput {
    pub request_bundle: String,
    pub bundle_hash: String,
}

/// `input`: a file given on the command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FileInput {
    TrustedRoot {
        trusted_root: String,
        sha256: String,
    },
    CurrentTargets {
        current_targets: String,
        sha256: String,
    },
}

/// `input`: which of the repository's current targets the new tagging key
/// re-signs, each with where it came from (from the request's review).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetsDecided {
    pub targets_decision: crate::online::review::TargetsDecision,
}

/// `input`: one root of the current chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurrentRoot {
    pub file: String,
    pub version: u64,
    pub sha256: String,
    /// The latest current root's roles (the key hierarchy before the ceremony).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<BTreeMap<String, RoleKeys>>,
}

/// `air-gap`: the check found no network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AirGap {
    pub air_gapped: bool,
}

/// `network-override`: the check's findings, overridden by `--allow-network`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkOverride {
    pub findings: Vec<String>,
}

/// `step-start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepStart {
    pub action: String,
    /// 1-based position in the script, and the script's step count.
    pub number: usize,
    pub of: usize,
}

/// `step-done` (nothing more than the step and actor of the entry).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepDone {}

/// `resume` (the `interruption` entry before it says where).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resume {}

/// `confirmation`: what was asked, and the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confirmation {
    /// The statement as shown, on one line.
    pub statement: String,
    pub answer: String,
    /// For a read-aloud review: SHA-256 of the summary text that was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary_sha256: Option<String>,
    /// Who answered: `terminal` (a person typed it), `answers-file` or `rehearsal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_by: Option<String>,
}

/// `token`: which token or key file each script key is bound to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokensBound {
    pub bindings: BTreeMap<String, String>,
    pub keyfiles: BTreeMap<String, String>,
}

/// `token`: the token chosen for a key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenSelected {
    pub key: String,
    pub selected: String,
    pub token_serial: String,
    pub token_model: String,
}

/// `key-generated`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyGenerated {
    pub key: String,
    pub token: String,
    pub algorithm: String,
    /// The public key, hex.
    pub public: String,
    pub tuf_keyid: String,
    /// What the token proves about the key (a YubiKey's attestation; see
    /// `docs/transcript.md`).
    pub evidence: Value,
    pub committed_after_interruption: bool,
}

/// `key-discarded`: an interrupted generation's leftovers, destroyed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyDiscarded {
    pub key: String,
    pub token: String,
    /// The PKCS#11 `CKA_ID` the interrupted generation used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objects_destroyed: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unidentified_objects_left: Option<usize>,
    /// Software key files removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<Vec<String>>,
    pub reason: String,
}

/// `backup-written`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupWritten {
    pub key: String,
    pub recipient: String,
    pub file: String,
    pub sha256: String,
}

/// `backup-verified`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupVerified {
    pub key: String,
    pub file: String,
}

/// One role of a root: its key IDs and threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleKeys {
    pub keyids: Vec<String>,
    pub threshold: u64,
}

/// `root-built`: a new root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootBuilt {
    pub version: u64,
    pub expires: String,
    pub sha256_of_signed: String,
    pub roles: BTreeMap<String, RoleKeys>,
}

/// `root-built`: new targets metadata (`metadata` is `"targets"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetsBuilt {
    pub metadata: String,
    pub version: u64,
    pub expires: String,
    pub delegation: Option<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub sha256_of_signed: String,
}

/// `root-built`: the new roots of a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchBuilt {
    pub batch: bool,
    pub repositories: usize,
    /// The first distinct targets key IDs removed and added, and how many.
    pub removed: Vec<String>,
    pub removed_distinct: usize,
    pub added: Vec<String>,
    pub added_distinct: usize,
    /// The lowest and highest new version.
    pub versions: (u64, u64),
    pub expires: String,
    pub drafts_sha256: String,
}

/// `own_threshold` of a signature: how many valid signatures the role has now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdCount {
    pub valid: usize,
    pub required: u64,
}

/// `signature`: a root signed, and the signature verified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signed {
    pub key: String,
    pub keyid: String,
    pub token: String,
    pub version: u64,
    pub own_threshold: ThresholdCount,
}

/// `signature`: a signature found in the draft on resume, made before the
/// interruption.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignatureRecovered {
    pub key: String,
    pub keyid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
    pub version: u64,
    pub recovered_after_interruption: bool,
}

/// `signature`: targets metadata signed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetsSigned {
    pub key: String,
    pub keyid: String,
    pub token: String,
    pub metadata: String,
    pub version: u64,
}

/// `signature`: one key's signatures over every root of a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchSigned {
    pub key: String,
    pub token: String,
    pub batch: bool,
    pub signed: usize,
    pub signed_before_interruption: usize,
    pub journal_sha256: String,
}

/// `verified`: what verifying the new metadata found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verified {
    pub result: String,
    /// Root updates checked (a root ceremony).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<usize>,
    /// Roots checked (a batch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repositories: Option<usize>,
}

/// `file-written`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileWritten {
    pub path: String,
    pub sha256: String,
    pub size: u64,
}

/// `export-staged`: a batch's new roots, staged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportStaged {
    pub repositories: usize,
}

/// `repository`: one repository of a batch, and where its new root is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Repository {
    pub index: usize,
    pub repository: String,
    pub version: u64,
    pub signed_by: Vec<String>,
    pub targets_removed: Vec<String>,
    pub targets_added: Vec<String>,
    pub path: String,
    pub offset: u64,
    pub size: u64,
    pub sha256: String,
}

/// `error`: what failed, as shown to the operator (on one line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failed {
    pub error: String,
}

/// `retry`: a token operation failed and is tried again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Retry {
    pub token: String,
    pub error: String,
    pub attempt: u32,
}

/// `interruption`: recorded on resume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interruption {
    pub completed_steps: Vec<String>,
    pub next_step: Option<String>,
}

/// `recorded`: a typed fact, as checked against the script's pattern.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recorded {
    /// What was asked (the step's text).
    pub label: String,
    pub value: String,
    /// The form the value had to have (the script's pattern).
    pub pattern: String,
    /// The participant who typed it again, the same, as read aloud.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retyped_by: Option<String>,
    /// `terminal`, `answers-file` or `rehearsal`.
    pub answered_by: String,
    /// The script's example was taken (an unattended run).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub example: bool,
}

/// `sign-in`: a participant typed their name (the entry's time is the time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignedIn {
    pub participant: String,
    pub role: String,
    pub name: String,
    pub answered_by: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub example: bool,
}

/// `sign-out`: a participant who signed in confirmed leaving.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignedOut {
    pub participant: String,
    pub name: String,
    pub answered_by: String,
}

/// `deviation`: the run departed from the script; why, and who approved going on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deviation {
    /// `interruption` (a resume) or `network-override`.
    pub what: String,
    pub reason: String,
    pub approved_by: String,
    pub answered_by: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub example: bool,
}

/// `input`: root-countersign imported the previous site's export of a signing
/// event, after checking every site's transcript and the draft against them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventImported {
    /// The directory given with `--previous`.
    pub previous_export: String,
    pub bundle_hash: String,
    /// This site's place in the event (the lead is 1).
    pub site: u32,
    /// Every earlier site and the final hash of its transcript.
    pub sites: Vec<SiteHash>,
    pub version: u64,
    pub sha256_of_signed: String,
    /// Key IDs of the signatures the draft carried.
    pub signatures: Vec<String>,
    pub thresholds: Vec<crate::ceremony::event::Threshold>,
    /// Earlier sites that were practice runs, and why (none for a production event).
    pub practice: Vec<String>,
}

/// An earlier site of a signing event and its transcript's final hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteHash {
    pub site: u32,
    pub final_hash: String,
}
