//! The ceremony transcript: an append-only, hash-chained record of everything that
//! happened, for compliance staff to verify afterwards.
//!
//! The file is JSON lines. Each line is the canonical JSON ([`crate::tuf::cjson`]) of
//! one entry, followed by `\n`:
//!
//! ```text
//! {"actor":null,"data":{...},"kind":"begin","prev":"000…000","seq":0,"step":null,"time":"2030-01-31T09:00:00Z"}
//! ```
//!
//! An entry's hash is the SHA-256 of its line without the line ending. Every entry
//! carries the hash of the entry before it in `prev` (the first carries 64 zeros),
//! so editing, removing, inserting or reordering any entry breaks the chain at a
//! place [`verify_file`] names. The last entry of a finished ceremony is a `seal`,
//! optionally signed on a token; its hash is the *final hash* the witnesses write
//! down, which also detects whole trailing entries being cut off.
//!
//! No secret ever enters a transcript: [`Transcript::append`] refuses data with a
//! field named like a PIN, passphrase, password, secret or private key.
//!
//! The format and how to verify a transcript are described in `docs/transcript.md`.

use crate::keys::{Algorithm, PublicKey, SignatureEncoding};
use crate::tokens::{Signer, TokenError};
use crate::tuf::cjson;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

mod audit;
mod entry;
pub mod payload;
mod pdf;
mod report;
mod verify;
mod writer;

pub use entry::*;
pub use report::*;
pub use verify::*;
pub use writer::*;

/// The format name recorded in the `begin` entry.
pub const FORMAT: &str = "ceremony-transcript v1";

/// What the seal signature covers: the canonical JSON of
/// `{"chain_head": HEX, "count": N, "type": SEAL_SIGNATURE_TYPE}`.
pub const SEAL_SIGNATURE_TYPE: &str = "ceremony-transcript-seal v1";

/// What an entry records: its `kind` in the file. Readers accept any kind (a
/// newer tool may write more); the tool writes only these, each described in
/// `docs/transcript.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The first entry (seq 0): the ceremony, its script, the tool.
    Begin,
    /// An input the run was given (a file and its SHA-256, a request bundle).
    Input,
    /// The air-gap check: what was found.
    AirGap,
    /// The air-gap check failed and `--allow-network` overrode it.
    NetworkOverride,
    /// A step of the script begins.
    StepStart,
    /// A step of the script is done (recorded after the state file).
    StepDone,
    /// A person confirmed something (what was shown, who confirmed, the answer).
    Confirmation,
    /// A token was found or chosen (label, serial, model).
    Token,
    /// A key was generated on a token (key ID, algorithm, public key, evidence).
    KeyGenerated,
    /// An interrupted generation's leftovers were destroyed before it ran again.
    KeyDiscarded,
    /// An encrypted backup of a software key was written for a custodian.
    BackupWritten,
    /// A backup was opened again and holds the key.
    BackupVerified,
    /// The new metadata was built (version, expiry, roles, SHA-256 of `signed`).
    RootBuilt,
    /// A signature was made and verified (key ID, what was signed).
    Signature,
    /// The new metadata was verified as clients will verify it.
    Verified,
    /// A file was written (`path`, `sha256`, `size`).
    FileWritten,
    /// A batch export's files were staged.
    ExportStaged,
    /// One repository of a batch: what was done for it.
    Repository,
    /// Something failed (the message shown to the operator).
    Error,
    /// A failed step was tried again.
    Retry,
    /// The ceremony was interrupted (recorded on resume).
    Interruption,
    /// An interrupted ceremony was resumed.
    Resume,
    /// A typed fact (a bag number, the OS image hash, the clock source).
    Recorded,
    /// A participant signed in (name, role, the time of the entry).
    SignIn,
    /// A participant signed out.
    SignOut,
    /// A departure from the script (an interruption, a network override), with
    /// the reason and who approved going on.
    Deviation,
    /// The last entry: the count and the chain head, optionally signed.
    Seal,
}

impl Event {
    /// Every event, in the order `docs/transcript.md` lists them.
    pub const ALL: [Event; 27] = [
        Event::Begin,
        Event::Input,
        Event::AirGap,
        Event::NetworkOverride,
        Event::StepStart,
        Event::StepDone,
        Event::Confirmation,
        Event::Token,
        Event::KeyGenerated,
        Event::KeyDiscarded,
        Event::BackupWritten,
        Event::BackupVerified,
        Event::RootBuilt,
        Event::Signature,
        Event::Verified,
        Event::FileWritten,
        Event::ExportStaged,
        Event::Repository,
        Event::Error,
        Event::Retry,
        Event::Interruption,
        Event::Resume,
        Event::Recorded,
        Event::SignIn,
        Event::SignOut,
        Event::Deviation,
        Event::Seal,
    ];

    /// The `kind` written in the file.
    pub fn name(self) -> &'static str {
        match self {
            Event::Begin => "begin",
            Event::Input => "input",
            Event::AirGap => "air-gap",
            Event::NetworkOverride => "network-override",
            Event::StepStart => "step-start",
            Event::StepDone => "step-done",
            Event::Confirmation => "confirmation",
            Event::Token => "token",
            Event::KeyGenerated => "key-generated",
            Event::KeyDiscarded => "key-discarded",
            Event::BackupWritten => "backup-written",
            Event::BackupVerified => "backup-verified",
            Event::RootBuilt => "root-built",
            Event::Signature => "signature",
            Event::Verified => "verified",
            Event::FileWritten => "file-written",
            Event::ExportStaged => "export-staged",
            Event::Repository => "repository",
            Event::Error => "error",
            Event::Retry => "retry",
            Event::Interruption => "interruption",
            Event::Resume => "resume",
            Event::Recorded => "recorded",
            Event::SignIn => "sign-in",
            Event::SignOut => "sign-out",
            Event::Deviation => "deviation",
            Event::Seal => "seal",
        }
    }

    /// The event a `kind` names, if the tool writes it.
    pub fn from_name(kind: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.name() == kind)
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a transcript could not be written, or does not verify.
#[derive(Debug, thiserror::Error)]
pub enum TranscriptError {
    #[error("{path} already exists; a transcript is never overwritten")]
    Exists { path: String },
    #[error("{path}: {op}: {source}")]
    Io {
        path: String,
        op: &'static str,
        source: std::io::Error,
    },
    /// Not a file one can read a transcript from: a directory, a FIFO, a device, or
    /// larger than any transcript.
    #[error("{path}: {reason}")]
    NotAFile { path: String, reason: String },
    #[error("{path}: the transcript is empty (it has no begin entry)")]
    Empty { path: String },
    #[error(
        "{path}: line {line} is incomplete (no line ending) after entry {after}: \
         the transcript was truncated in the middle of an entry, or a write was interrupted"
    )]
    IncompleteLine {
        path: String,
        line: usize,
        after: u64,
    },
    #[error("{path}: line {line} is not a transcript entry: {reason}")]
    Malformed {
        path: String,
        line: usize,
        reason: String,
    },
    #[error(
        "{path}: entry {seq} (line {line}) is not in canonical form: \
         it was edited after it was written"
    )]
    NotCanonical { path: String, line: usize, seq: u64 },
    #[error(
        "{path}: line {line} holds entry {found}, but entry {expected} was expected there: \
         an entry was removed, inserted or reordered"
    )]
    SeqMismatch {
        path: String,
        line: usize,
        found: u64,
        expected: u64,
    },
    #[error(
        "{path}: entry {seq} (line {line}): prev is {prev}…, but entry {prev_seq} hashes to {actual}…: \
         an entry was edited, removed or reordered",
        prev_seq = seq - 1
    )]
    PrevMismatch {
        path: String,
        line: usize,
        seq: u64,
        /// Short forms (the first 12 hex digits).
        prev: String,
        actual: String,
    },
    #[error("{path}: entry {seq} (line {line}): {reason}")]
    BadEntry {
        path: String,
        line: usize,
        seq: u64,
        reason: String,
    },
    #[error(
        "{path}: entry {seq} (line {line}) comes after the seal: \
         entries were added after the ceremony was sealed"
    )]
    AfterSeal { path: String, line: usize, seq: u64 },
    #[error("{path}: the seal signature (entry {seq}, line {line}) does not verify: {reason}")]
    BadSignature {
        path: String,
        line: usize,
        seq: u64,
        reason: String,
    },
    #[error("{path}: the final hash is {actual}, but the witnesses recorded {expected}: {detail}")]
    HashMismatch {
        path: String,
        expected: String,
        actual: String,
        detail: String,
    },
    #[error(
        "{path}: not sealed: the ceremony did not finish (interrupted after entry {last_seq}); \
         resume it with `ceremony run --resume`"
    )]
    NotSealed { path: String, last_seq: u64 },
    #[error("{path}: the seal must be signed by key {expected}, but {found}")]
    SignerMismatch {
        path: String,
        expected: String,
        found: String,
    },
    #[error("{path} is sealed; nothing is ever appended to a sealed transcript")]
    AlreadySealed { path: String },
    #[error("{value:?} is not a SHA-256 hash (64 hex digits; spaces between groups are allowed)")]
    BadHash { value: String },
    #[error("{path}: sealing: {source}")]
    Token { path: String, source: TokenError },
    #[error("{path}: the token's seal signature does not verify in software: {reason}")]
    BadTokenSignature { path: String, reason: String },
    /// A caller tried to record a field named like a secret. A bug, never input.
    #[error(
        "internal error: {path}: refusing to record the field {field:?} (at {at}) in a {kind} entry: \
         secrets never enter the transcript"
    )]
    SecretField {
        path: String,
        kind: String,
        field: String,
        at: String,
    },
    /// A caller tried to record something the format cannot hold. A bug, never input.
    #[error("internal error: {path}: cannot record a {kind} entry: {reason}")]
    NotRecordable {
        path: String,
        kind: String,
        reason: String,
    },
    #[error(
        "internal error: {path}: an earlier write to the transcript failed; \
         nothing more is appended to it"
    )]
    Broken { path: String },
}

impl TranscriptError {
    /// Internal or device failures (exit code 2) rather than a refused transcript.
    pub fn is_internal(&self) -> bool {
        match self {
            TranscriptError::Io { .. }
            | TranscriptError::SecretField { .. }
            | TranscriptError::NotRecordable { .. }
            | TranscriptError::Broken { .. }
            | TranscriptError::BadTokenSignature { .. } => true,
            TranscriptError::Token { source, .. } => source.is_device_failure(),
            _ => false,
        }
    }

    /// Whether the error means the file was changed after it was written (as
    /// opposed to unreadable, unsealed, or a bug on our side).
    pub fn is_tampering(&self) -> bool {
        matches!(
            self,
            TranscriptError::IncompleteLine { .. }
                | TranscriptError::Malformed { .. }
                | TranscriptError::NotCanonical { .. }
                | TranscriptError::SeqMismatch { .. }
                | TranscriptError::PrevMismatch { .. }
                | TranscriptError::BadEntry { .. }
                | TranscriptError::AfterSeal { .. }
                | TranscriptError::BadSignature { .. }
                | TranscriptError::HashMismatch { .. }
                | TranscriptError::SignerMismatch { .. }
                | TranscriptError::Empty { .. }
        )
    }

    /// One line saying what to do next, where we know.
    pub fn hint(&self) -> Option<String> {
        if self.is_tampering() {
            return Some(
                "do not rely on this transcript: compare it with the copies made at the \
                 ceremony and report the difference to the security lead"
                    .into(),
            );
        }
        match self {
            TranscriptError::Token { source, .. } => source.hint(),
            TranscriptError::BadTokenSignature { .. } => Some(
                "the token may be faulty or tampered with: stop and investigate before signing again"
                    .into(),
            ),
            _ => None,
        }
    }
}

type Result<T, E = TranscriptError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_has_its_own_name() {
        for e in Event::ALL {
            assert_eq!(Event::from_name(e.name()), Some(e));
        }
        assert_eq!(Event::from_name("x"), None);
    }

    #[test]
    fn witness_words_are_groups_of_four() {
        let h = EntryHash::of(b"x");
        let words = witness_words(&h);
        assert_eq!(words.split(' ').count(), 16);
        assert!(words.split(' ').all(|w| w.len() == 4));
        assert_eq!(words.replace(' ', ""), h.to_hex());
        assert_eq!(
            EntryHash::parse_witnessed(&words.to_uppercase()).unwrap(),
            h
        );
        assert!(EntryHash::parse_witnessed("abcd").is_err());
    }

    #[test]
    fn secret_field_names() {
        for name in [
            "pin",
            "PIN",
            "user_pin",
            "userPin",
            "so-pin",
            "sopin",
            "Passphrase",
            "new_password",
            "client_secret",
            "private_key",
            "privateKey",
            "puk",
            "mgmKey",
            "management-key",
            "pass_phrase",
            "pin_tries_left",
        ] {
            assert!(is_secret_field_name(name), "{name} should be refused");
        }
        for name in [
            "mapping",
            "spinner",
            "pinned",
            "path",
            "sha256",
            "keyid",
            "public_key",
            "serial",
        ] {
            assert!(!is_secret_field_name(name), "{name} should be allowed");
        }
    }

    #[test]
    fn name_words_split_camel_and_separators() {
        assert_eq!(name_words("userPIN_code"), ["user", "pin", "code"]);
        assert_eq!(name_words("so-pin"), ["so", "pin"]);
        assert_eq!(name_words("sha256Sum"), ["sha256", "sum"]);
    }

    #[test]
    fn one_line_removes_control_characters() {
        assert_eq!(one_line("a\nb\tc"), "a b c");
    }

    #[test]
    fn summaries_are_whole_and_markdown_text_is_one_line() {
        let s = summarise(&json!({"a": "x\ny", "b": 1, "c": "z".repeat(300)}));
        assert!(s.starts_with("a=x\ny, b=1, c=zzz") && s.ends_with(&"z".repeat(300)));
        assert_eq!(audit::md_text("a|b\nc*d"), "a\\|b c\\*d");
    }

    #[test]
    fn wrapping_keeps_words_whole_and_cuts_only_longer_ones() {
        let lines = audit::wrap(&format!("- key ID: {} end", "a".repeat(64)), 40, "  ");
        assert!(lines.iter().all(|l| l.chars().count() <= 40), "{lines:?}");
        assert_eq!(
            lines.concat().replace(' ', ""),
            format!("-keyID:{}end", "a".repeat(64))
        );
        let lines = audit::wrap(&format!("x {}", "b".repeat(30)), 40, "  ");
        assert_eq!(lines, vec![format!("x {}", "b".repeat(30))]);
    }

    #[test]
    fn seal_message_is_domain_separated() {
        let m = seal_message(&EntryHash::ZERO, 3);
        assert_eq!(
            String::from_utf8(m).unwrap(),
            format!(
                "{{\"chain_head\":\"{}\",\"count\":3,\"type\":\"ceremony-transcript-seal v1\"}}",
                "0".repeat(64)
            )
        );
    }
}
