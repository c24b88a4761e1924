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

/// The format name recorded in the `begin` entry.
pub const FORMAT: &str = "ceremony-transcript v1";

/// What the seal signature covers: the canonical JSON of
/// `{"chain_head": HEX, "count": N, "type": SEAL_SIGNATURE_TYPE}`.
pub const SEAL_SIGNATURE_TYPE: &str = "ceremony-transcript-seal v1";

/// The standard entry kinds. Kinds are free strings; these are the ones the tool
/// writes and `docs/transcript.md` describes.
pub mod kind {
    /// The first entry (seq 0): the ceremony, its script, the tool.
    pub const BEGIN: &str = "begin";
    /// A step of the script begins.
    pub const STEP_START: &str = "step-start";
    /// A person confirmed something (what was shown, who confirmed, the answer).
    pub const CONFIRMATION: &str = "confirmation";
    /// A token was found or used (label, serial, model, attestation).
    pub const TOKEN: &str = "token";
    /// A key was generated on a token (key ID, algorithm, public key, token serial).
    pub const KEY_GENERATED: &str = "key-generated";
    /// A file was written (`path`, `sha256`, `size`).
    pub const FILE_WRITTEN: &str = "file-written";
    /// A signature was made and verified (key ID, what was signed).
    pub const SIGNATURE: &str = "signature";
    /// Something failed (the message shown to the operator).
    pub const ERROR: &str = "error";
    /// A failed step was tried again.
    pub const RETRY: &str = "retry";
    /// The ceremony was interrupted (recorded on resume).
    pub const INTERRUPTION: &str = "interruption";
    /// An interrupted ceremony was resumed.
    pub const RESUME: &str = "resume";
    /// The operator ran with the network up (`--allow-network`, rehearsals only).
    pub const NETWORK_OVERRIDE: &str = "network-override";
    /// The last entry: the count and the chain head, optionally signed.
    pub const SEAL: &str = "seal";
}

/// Field names that must never appear in transcript data. A name matches when,
/// lowercased and with separators removed, it contains one of these…
const SECRET_SUBSTRINGS: [&str; 6] = [
    "passphrase",
    "password",
    "secret",
    "private",
    "mgmkey",
    "managementkey",
];
/// …or when one of its words (split at `_`, `-`, `.`, spaces and camelCase) is one
/// of these.
const SECRET_WORDS: [&str; 6] = ["pin", "pins", "pincode", "sopin", "userpin", "puk"];

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

/// The SHA-256 hash of one entry (the bytes of its line without the line ending).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EntryHash([u8; 32]);

impl EntryHash {
    /// The `prev` of the first entry.
    pub const ZERO: EntryHash = EntryHash([0; 32]);

    pub fn of(bytes: &[u8]) -> Self {
        EntryHash(Sha256::digest(bytes).into())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 12 hex digits, for messages.
    pub fn short(&self) -> String {
        self.to_hex()[..12].to_owned()
    }

    /// Parse a hash as written in an entry (64 lowercase hex digits).
    fn from_entry_hex(s: &str) -> Option<Self> {
        if s.len() != 64 || s.bytes().any(|b| !matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(EntryHash(out))
    }

    /// Parse a hash as a person wrote it down: 64 hex digits in any case, with
    /// spaces (or other whitespace) between groups.
    pub fn parse_witnessed(value: &str) -> Result<Self> {
        let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
        EntryHash::from_entry_hex(&compact.to_ascii_lowercase()).ok_or_else(|| {
            TranscriptError::BadHash {
                value: value.to_owned(),
            }
        })
    }
}

impl std::fmt::Display for EntryHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl std::fmt::Debug for EntryHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EntryHash({})", self.to_hex())
    }
}

/// The hash in groups of four hex digits, for witnesses to read aloud and write
/// down: `3fa2 91bc …` (16 groups).
pub fn witness_words(hash: &EntryHash) -> String {
    let hex = hash.to_hex();
    hex.as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).expect("hex is ASCII"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One entry, as it is stored. Every field is always present (`step` and `actor`
/// may be null).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub seq: u64,
    /// RFC 3339, UTC, whole seconds: `2030-01-31T09:00:00Z`.
    pub time: String,
    pub kind: String,
    pub step: Option<String>,
    pub actor: Option<String>,
    pub data: Value,
    /// The hash of the previous entry (64 zeros for entry 0), lowercase hex.
    pub prev: String,
}

impl Entry {
    fn to_value(&self) -> Value {
        json!({
            "seq": self.seq,
            "time": self.time,
            "kind": self.kind,
            "step": self.step,
            "actor": self.actor,
            "data": self.data,
            "prev": self.prev,
        })
    }
}

/// What the `begin` entry records about the ceremony. Only host-independent facts:
/// no host names, user names or paths.
#[derive(Debug, Clone)]
pub struct CeremonyMeta {
    /// The ceremony's name (e.g. the script's name, or "rotate root 2024-Q3").
    pub name: String,
    /// SHA-256 (hex) of the ceremony script as run.
    pub script_sha256: String,
    /// Anything else worth recording at the start (flavour, repository, threshold).
    pub extra: Map<String, Value>,
}

impl CeremonyMeta {
    pub fn new(name: impl Into<String>, script_sha256: impl Into<String>) -> Self {
        CeremonyMeta {
            name: name.into(),
            script_sha256: script_sha256.into(),
            extra: Map::new(),
        }
    }
}

/// SHA-256 of the program file running this ceremony, so compliance staff can tell
/// which build signed; or why it could not be read.
fn running_binary_sha256() -> Value {
    let hashed = std::env::current_exe()
        .and_then(|path| crate::transfer::bundle::hash_file(&path))
        .map(|(digest, _)| hex::encode(digest));
    match hashed {
        Ok(hex) => Value::String(hex),
        Err(e) => json!({"unreadable": e.to_string()}),
    }
}

/// A transcript open for appending.
#[derive(Debug)]
pub struct Transcript {
    path: PathBuf,
    file: File,
    next_seq: u64,
    head: EntryHash,
    broken: bool,
}

/// A sealed transcript: the final hash the witnesses write down.
#[derive(Debug, Clone)]
pub struct Sealed {
    pub path: PathBuf,
    /// The hash of the seal entry.
    pub final_hash: EntryHash,
    /// The number of entries, the seal included.
    pub entries: u64,
    /// The key that signed the seal, if one did.
    pub signed_by: Option<PublicKey>,
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn io<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(std::io::Error) -> TranscriptError + 'a {
    move |source| TranscriptError::Io {
        path: path.display().to_string(),
        op,
        source,
    }
}

fn sync_parent(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Split a field name into lowercase words at non-alphanumerics and camelCase
/// boundaries: `userPIN_code` → `user`, `pin`, `code`.
fn name_words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase() || c.is_numeric();
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// Whether a field name looks like it holds a secret.
pub fn is_secret_field_name(name: &str) -> bool {
    let compact: String = name
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_SUBSTRINGS.iter().any(|s| compact.contains(s))
        || name_words(name)
            .iter()
            .any(|w| SECRET_WORDS.contains(&w.as_str()))
}

/// Why `value` cannot go into a transcript, if it cannot: a field named like a
/// secret (unless its value is null, as in a Notary key object's
/// `"private": null`), or a control character, which canonical JSON would write
/// raw and so break the one-entry-per-line layout.
enum Unrecordable {
    Secret { field: String, at: String },
    Control { at: String },
}

fn check_recordable(value: &Value, at: &mut String) -> Option<Unrecordable> {
    match value {
        Value::String(s) => s
            .chars()
            .any(char::is_control)
            .then(|| Unrecordable::Control { at: at.clone() }),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let len = at.len();
            at.push_str(&format!("[{i}]"));
            let found = check_recordable(item, at);
            at.truncate(len);
            found
        }),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            let len = at.len();
            at.push('.');
            at.push_str(key);
            let found = if is_secret_field_name(key) && !item.is_null() {
                Some(Unrecordable::Secret {
                    field: key.clone(),
                    at: at.clone(),
                })
            } else if key.chars().any(char::is_control) {
                Some(Unrecordable::Control { at: at.clone() })
            } else {
                check_recordable(item, at)
            };
            at.truncate(len);
            found
        }),
        _ => None,
    }
}

/// Replace control characters (line breaks, tabs) with spaces, so that text such as
/// a multi-line error message can be recorded.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

impl Transcript {
    /// Create a new transcript at `path` (never over an existing file; mode 0644)
    /// and write its `begin` entry.
    pub fn create(path: &Path, meta: &CeremonyMeta) -> Result<Transcript> {
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .mode(0o644)
            .open(path)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    TranscriptError::Exists {
                        path: path.display().to_string(),
                    }
                } else {
                    io(path, "create")(e)
                }
            })?;
        sync_parent(path);
        let mut t = Transcript {
            path: path.to_owned(),
            file,
            next_seq: 0,
            head: EntryHash::ZERO,
            broken: false,
        };
        let mut data = meta.extra.clone();
        data.insert("format".into(), FORMAT.into());
        data.insert("ceremony".into(), meta.name.clone().into());
        data.insert("script_sha256".into(), meta.script_sha256.clone().into());
        data.insert(
            "tool".into(),
            json!({
                "name": env!("CARGO_PKG_NAME"),
                "version": env!("CARGO_PKG_VERSION"),
                "binary_sha256": running_binary_sha256(),
            }),
        );
        t.append(kind::BEGIN, None, None, Value::Object(data))?;
        Ok(t)
    }

    /// Open an existing transcript to continue it (on resume). The whole chain is
    /// verified first: a tampered or sealed transcript is never appended to.
    /// Nothing is recorded here; the engine records the interruption and resume.
    pub fn open_for_append(path: &Path) -> Result<Transcript> {
        let report = check_file_with(path, &VerifyOptions::default())?;
        if report.sealed {
            return Err(TranscriptError::AlreadySealed {
                path: path.display().to_string(),
            });
        }
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(io(path, "open for appending"))?;
        // The file could have changed between verifying and opening: check its
        // length is what was verified.
        let len = file.metadata().map_err(io(path, "stat"))?.len();
        if len != report.bytes {
            return Err(TranscriptError::Malformed {
                path: path.display().to_string(),
                line: report.count as usize + 1,
                reason: "the file changed while it was being opened".into(),
            });
        }
        Ok(Transcript {
            path: path.to_owned(),
            file,
            next_seq: report.count,
            head: report.final_hash,
            broken: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The hash of the last entry written.
    pub fn head(&self) -> EntryHash {
        self.head
    }

    /// The number of entries written so far.
    pub fn len(&self) -> u64 {
        self.next_seq
    }

    pub fn is_empty(&self) -> bool {
        self.next_seq == 0
    }

    /// Append one entry and fsync it. Returns the entry's hash.
    ///
    /// `data` must hold no secrets (fields named like PINs, passphrases, passwords,
    /// secrets or private keys are refused), only integer numbers, and no control
    /// characters (use [`one_line`] for free text).
    pub fn append(
        &mut self,
        kind: &str,
        step: Option<&str>,
        actor: Option<&str>,
        data: Value,
    ) -> Result<EntryHash> {
        self.check_not_seal(kind)?;
        self.append_entry(kind, step, actor, data)
    }

    /// Append one entry without waiting for the disk; [`Transcript::sync`] makes
    /// every entry so far durable. For one entry per repository in a batch, where
    /// the step's summary entry (appended with [`Transcript::append`]) syncs them all.
    pub fn append_deferred(
        &mut self,
        kind: &str,
        step: Option<&str>,
        actor: Option<&str>,
        data: Value,
    ) -> Result<EntryHash> {
        self.check_not_seal(kind)?;
        self.write_entry(kind, step, actor, data, false)
    }

    /// Make every entry appended so far durable.
    pub fn sync(&mut self) -> Result<()> {
        self.file.sync_all().map_err(|e| {
            self.broken = true;
            io(&self.path, "sync")(e)
        })
    }

    /// Record a file that was written: its path as given, SHA-256 and size.
    pub fn record_file(
        &mut self,
        step: Option<&str>,
        actor: Option<&str>,
        path: &str,
        bytes: &[u8],
    ) -> Result<EntryHash> {
        self.append(
            kind::FILE_WRITTEN,
            step,
            actor,
            json!({
                "path": path,
                "sha256": hex::encode(Sha256::digest(bytes)),
                "size": bytes.len(),
            }),
        )
    }

    fn check_not_seal(&self, kind: &str) -> Result<()> {
        if kind == kind::SEAL {
            return Err(self.not_recordable(kind, "a seal entry is written only by `seal`".into()));
        }
        Ok(())
    }

    fn not_recordable(&self, kind: &str, reason: String) -> TranscriptError {
        TranscriptError::NotRecordable {
            path: self.path.display().to_string(),
            kind: kind.to_owned(),
            reason,
        }
    }

    fn append_entry(
        &mut self,
        kind: &str,
        step: Option<&str>,
        actor: Option<&str>,
        data: Value,
    ) -> Result<EntryHash> {
        self.write_entry(kind, step, actor, data, true)
    }

    fn write_entry(
        &mut self,
        kind: &str,
        step: Option<&str>,
        actor: Option<&str>,
        data: Value,
        sync: bool,
    ) -> Result<EntryHash> {
        if self.broken {
            return Err(TranscriptError::Broken {
                path: self.path.display().to_string(),
            });
        }
        let entry = Entry {
            seq: self.next_seq,
            time: now(),
            kind: kind.to_owned(),
            step: step.map(str::to_owned),
            actor: actor.map(str::to_owned),
            data,
            prev: self.head.to_hex(),
        };
        let value = entry.to_value();
        match check_recordable(&value, &mut String::from("$")) {
            Some(Unrecordable::Secret { field, at }) => {
                return Err(TranscriptError::SecretField {
                    path: self.path.display().to_string(),
                    kind: kind.to_owned(),
                    field,
                    at,
                });
            }
            Some(Unrecordable::Control { at }) => {
                return Err(self.not_recordable(
                    kind,
                    format!("the text at {at} contains a control character (line break, tab)"),
                ));
            }
            None => {}
        }
        let mut line =
            cjson::encode(&value).map_err(|e| self.not_recordable(kind, e.to_string()))?;
        let hash = EntryHash::of(&line);
        line.push(b'\n');
        // One write of the whole line to a file opened with O_APPEND, then fsync.
        let written = self
            .file
            .write_all(&line)
            .and_then(|_| if sync { self.file.sync_all() } else { Ok(()) });
        if let Err(e) = written {
            self.broken = true;
            return Err(io(&self.path, "append")(e));
        }
        self.next_seq += 1;
        self.head = hash;
        Ok(hash)
    }

    /// Finish the transcript with a `seal` entry: the number of entries before it
    /// and the chain head (the hash of the last one). With a signer, the token signs
    /// [`seal_message`] of those two; the signature is verified in software before
    /// it is recorded, with the public key.
    ///
    /// Returns the final hash (of the seal entry) for the witnesses to write down.
    pub fn seal(mut self, signer: Option<&mut dyn Signer>) -> Result<Sealed> {
        let count = self.next_seq;
        let head = self.head;
        let mut data = Map::new();
        data.insert("count".into(), count.into());
        data.insert("chain_head".into(), head.to_hex().into());
        let mut signed_by = None;
        if let Some(signer) = signer {
            let message = seal_message(&head, count);
            let path = self.path.display().to_string();
            let signature = signer
                .sign(&message)
                .map_err(|source| TranscriptError::Token {
                    path: path.clone(),
                    source,
                })?;
            let public = signer.public_key().clone();
            public
                .verify(
                    &message,
                    &signature,
                    SignatureEncoding::raw_for(public.algorithm()),
                )
                .map_err(|e| TranscriptError::BadTokenSignature {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            data.insert(
                "signature".into(),
                json!({
                    "algorithm": public.algorithm().name(),
                    "public_key": hex::encode(public.as_bytes()),
                    "keyid": tuf_key_id(&public),
                    "signer": one_line(&signer.describe()),
                    "sig": hex::encode(&signature),
                }),
            );
            signed_by = Some(public);
        }
        let final_hash = self.append_entry(kind::SEAL, None, None, Value::Object(data))?;
        Ok(Sealed {
            path: self.path,
            final_hash,
            entries: count + 1,
            signed_by,
        })
    }
}

/// The bytes a seal signature covers: the canonical JSON of
/// `{"chain_head": HEX, "count": N, "type": "ceremony-transcript-seal v1"}`.
/// The `type` keeps a transcript signature from ever being mistaken for a
/// signature over metadata.
pub fn seal_message(head: &EntryHash, count: u64) -> Vec<u8> {
    cjson::encode(&json!({
        "chain_head": head.to_hex(),
        "count": count,
        "type": SEAL_SIGNATURE_TYPE,
    }))
    .expect("integers and strings only")
}

/// The TUF key ID of a public key, to match against the keys listed in root.json.
fn tuf_key_id(public: &PublicKey) -> String {
    crate::tuf::key::key_id(
        &crate::tuf::key::tuf_key(public),
        crate::tuf::metadata::Flavour::Tuf,
    )
}

/// The signature recorded in a seal, after it verified.
#[derive(Debug, Clone)]
pub struct SealSignature {
    pub public_key: PublicKey,
    /// TUF key ID of the public key.
    pub keyid: String,
    /// The token as it described itself.
    pub signer: String,
}

/// What [`verify_file`] checked.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    pub path: PathBuf,
    /// Every entry, in order (all verified). Empty from [`check_file_with`],
    /// which verifies every entry but keeps none (see `count`, `begin`, `last`).
    pub entries: Vec<Entry>,
    /// The number of entries verified.
    pub count: u64,
    /// The first entry (the `begin` entry) and the last.
    pub begin: Entry,
    pub last: Entry,
    /// The size of the file verified, in bytes.
    pub bytes: u64,
    /// The hash of the last entry: the seal's for a sealed transcript.
    pub final_hash: EntryHash,
    /// Whether the last entry is a seal.
    pub sealed: bool,
    /// The verified seal signature, if the seal was signed.
    pub signature: Option<SealSignature>,
    /// Whether the final hash matched the one the witnesses wrote down (None when
    /// none was given).
    pub expected_hash_matched: Option<bool>,
}

impl VerifyReport {
    /// The seq of the last entry.
    pub fn last_seq(&self) -> u64 {
        self.count - 1
    }

    /// The ceremony's name from the `begin` entry.
    pub fn ceremony(&self) -> &str {
        self.begin
            .data
            .get("ceremony")
            .and_then(Value::as_str)
            .unwrap_or("(unnamed)")
    }
}

/// What to check a transcript against, beyond its own chain.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// The final hash the witnesses wrote down at the ceremony.
    pub expect_hash: Option<EntryHash>,
    /// The TUF key ID of the key that must have signed the seal.
    pub expect_keyid: Option<String>,
}

/// Verify a transcript's chain. Any edit, removal, reordering, insertion or partial
/// truncation is an error naming the first bad entry. A transcript that is intact
/// but has no seal (an interrupted ceremony) verifies with `sealed: false`; cutting
/// off whole trailing entries is only detectable against the witnessed hash (see
/// [`verify_file_with`]).
pub fn verify_file(path: &Path) -> Result<VerifyReport> {
    verify_file_with(path, &VerifyOptions::default())
}

/// [`verify_file`], then compare the final hash with the one the witnesses wrote
/// down, and the seal's signer with the expected key: a mismatch is an error.
pub fn verify_file_with(path: &Path, options: &VerifyOptions) -> Result<VerifyReport> {
    verify_path(path, options, Some)
}

/// [`verify_file_with`] without keeping the entries: memory stays flat however
/// long the transcript (a batch ceremony writes one entry per repository).
pub fn check_file_with(path: &Path, options: &VerifyOptions) -> Result<VerifyReport> {
    verify_path(path, options, |_| None)
}

/// Verify the transcript at `path`, handing each entry to `each` as it is
/// verified (the entries it returns are kept in the report).
fn verify_path(
    path: &Path,
    options: &VerifyOptions,
    each: impl FnMut(Entry) -> Option<Entry>,
) -> Result<VerifyReport> {
    let file = std::fs::File::open(path).map_err(io(path, "read"))?;
    let mut report = verify_reader(path, std::io::BufReader::new(file), each)?;
    let name = path.display().to_string();
    if let Some(expected) = &options.expect_hash {
        if *expected != report.final_hash {
            let detail = match position_of(path, expected) {
                Some(seq) => format!(
                    "the witnessed hash is that of entry {seq}; entries {}..={} were added after it",
                    seq + 1,
                    report.last_seq()
                ),
                None if !report.sealed => format!(
                    "the transcript is not sealed and ends after entry {}: trailing entries \
                     (the seal among them) were removed, or this is not the witnessed transcript",
                    report.last_seq()
                ),
                None => "this is not the transcript the witnesses saw sealed \
                         (its chain was rewritten, or it is another ceremony's)"
                    .into(),
            };
            return Err(TranscriptError::HashMismatch {
                path: name,
                expected: expected.to_hex(),
                actual: report.final_hash.to_hex(),
                detail,
            });
        }
        report.expected_hash_matched = Some(true);
    }
    if let Some(keyid) = &options.expect_keyid {
        let found = report.signature.as_ref().map(|s| s.keyid.as_str());
        if found != Some(keyid.to_ascii_lowercase().as_str()) {
            return Err(TranscriptError::SignerMismatch {
                path: name,
                expected: keyid.clone(),
                found: match (found, report.sealed) {
                    (Some(k), _) => format!("it was signed by key {k}"),
                    (None, true) => "the seal is not signed".into(),
                    (None, false) => "the transcript is not sealed".into(),
                },
            });
        }
    }
    Ok(report)
}

/// The seq of the complete line whose hash is `hash` (used only to explain a
/// hash mismatch).
fn position_of(path: &Path, hash: &EntryHash) -> Option<u64> {
    let file = std::fs::File::open(path).ok()?;
    let mut reader = std::io::BufReader::new(file);
    let mut line = Vec::new();
    let mut seq = 0u64;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).ok()? == 0 {
            return None;
        }
        if line.pop() != Some(b'\n') {
            return None;
        }
        if !line.is_empty() {
            if EntryHash::of(&line) == *hash {
                return Some(seq);
            }
            seq += 1;
        }
    }
}

/// Verify the transcript read from `reader` one line at a time, handing each
/// verified entry to `keep` (what it returns is kept in the report).
fn verify_reader(
    path: &Path,
    mut reader: impl BufRead,
    mut keep: impl FnMut(Entry) -> Option<Entry>,
) -> Result<VerifyReport> {
    let mut chain = Chain::new(path);
    let mut entries = Vec::new();
    let mut line = Vec::new();
    let mut bytes = 0u64;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(io(path, "read"))?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        if line.last() != Some(&b'\n') {
            return Err(chain.incomplete());
        }
        line.pop();
        let entry = chain.push(&line)?;
        if let Some(e) = keep(entry) {
            entries.push(e);
        }
    }
    chain.report(bytes, entries)
}

/// A transcript's hash chain, checked one line at a time.
struct Chain {
    path: PathBuf,
    name: String,
    head: EntryHash,
    count: u64,
    begin: Option<Entry>,
    last: Option<Entry>,
    signature: Option<SealSignature>,
}

impl Chain {
    fn new(path: &Path) -> Chain {
        Chain {
            path: path.to_owned(),
            name: path.display().to_string(),
            head: EntryHash::ZERO,
            count: 0,
            begin: None,
            last: None,
            signature: None,
        }
    }

    /// Check the next line (without its line ending) and return its entry.
    fn push(&mut self, line: &[u8]) -> Result<Entry> {
        let name = self.name.clone();
        let line_no = self.count as usize + 1;
        let expected_seq = self.count;
        let malformed = |reason: String| TranscriptError::Malformed {
            path: name.clone(),
            line: line_no,
            reason,
        };
        if self.last.as_ref().is_some_and(|e| e.kind == kind::SEAL) {
            return Err(TranscriptError::AfterSeal {
                path: name,
                line: line_no,
                seq: expected_seq,
            });
        }
        if line.is_empty() {
            return Err(malformed("the line is empty".into()));
        }
        let value: Value =
            serde_json::from_slice(line).map_err(|e| malformed(format!("not JSON ({e})")))?;
        let entry: Entry =
            serde_json::from_value(value).map_err(|e| malformed(format!("not an entry ({e})")))?;
        let canonical = cjson::encode(&entry.to_value()).map_err(|e| malformed(e.to_string()))?;
        // Whitespace, key order, escapes, duplicate keys: all change the bytes.
        if canonical != *line {
            return Err(TranscriptError::NotCanonical {
                path: name,
                line: line_no,
                seq: entry.seq,
            });
        }
        if entry.seq != expected_seq {
            return Err(TranscriptError::SeqMismatch {
                path: name,
                line: line_no,
                found: entry.seq,
                expected: expected_seq,
            });
        }
        let bad = |reason: String| TranscriptError::BadEntry {
            path: name.clone(),
            line: line_no,
            seq: entry.seq,
            reason,
        };
        let prev = EntryHash::from_entry_hex(&entry.prev)
            .ok_or_else(|| bad("prev is not a SHA-256 hash in lowercase hex".into()))?;
        if prev != self.head {
            if entry.seq == 0 {
                return Err(bad("the first entry's prev must be 64 zeros".into()));
            }
            return Err(TranscriptError::PrevMismatch {
                path: name,
                line: line_no,
                seq: entry.seq,
                prev: prev.short(),
                actual: self.head.short(),
            });
        }
        if (entry.seq == 0) != (entry.kind == kind::BEGIN) {
            return Err(bad(if entry.seq == 0 {
                format!(
                    "the first entry must be a begin entry, not {:?}",
                    entry.kind
                )
            } else {
                "a begin entry appears after the first entry".into()
            }));
        }
        if entry.seq == 0 && entry.data.get("format").and_then(Value::as_str) != Some(FORMAT) {
            return Err(bad(format!(
                "the begin entry does not name the format {FORMAT:?}"
            )));
        }
        // Times are checked for form only: the clock of an offline machine may be
        // corrected during a ceremony, so order is not required.
        check_time(&entry.time).map_err(&bad)?;
        if entry.kind == kind::SEAL {
            self.signature = check_seal(&entry, &self.head).map_err(|e| match e {
                SealProblem::Entry(reason) => bad(reason),
                SealProblem::Signature(reason) => TranscriptError::BadSignature {
                    path: name.clone(),
                    line: line_no,
                    seq: entry.seq,
                    reason,
                },
            })?;
        }
        self.head = EntryHash::of(line);
        self.count += 1;
        if self.begin.is_none() {
            self.begin = Some(entry.clone());
        }
        self.last = Some(entry.clone());
        Ok(entry)
    }

    /// The error for a last line without a line ending.
    fn incomplete(&self) -> TranscriptError {
        let line = self.count as usize + 1;
        match &self.last {
            Some(last) => TranscriptError::IncompleteLine {
                path: self.name.clone(),
                line,
                after: last.seq,
            },
            None => TranscriptError::Malformed {
                path: self.name.clone(),
                line,
                reason: "the line is incomplete (no line ending)".into(),
            },
        }
    }

    fn report(self, bytes: u64, entries: Vec<Entry>) -> Result<VerifyReport> {
        let (Some(begin), Some(last)) = (self.begin, self.last) else {
            return Err(TranscriptError::Empty { path: self.name });
        };
        Ok(VerifyReport {
            path: self.path,
            entries,
            count: self.count,
            sealed: last.kind == kind::SEAL,
            begin,
            last,
            bytes,
            final_hash: self.head,
            signature: self.signature,
            expected_hash_matched: None,
        })
    }
}

fn check_time(time: &str) -> Result<(), String> {
    let parsed =
        DateTime::parse_from_rfc3339(time).map_err(|_| format!("time {time:?} is not RFC 3339"))?;
    let canonical = parsed
        .with_timezone(&Utc)
        .to_rfc3339_opts(SecondsFormat::Secs, true);
    if canonical != time {
        return Err(format!(
            "time {time:?} is not UTC in whole seconds (YYYY-MM-DDTHH:MM:SSZ)"
        ));
    }
    Ok(())
}

enum SealProblem {
    Entry(String),
    Signature(String),
}

fn check_seal(entry: &Entry, head: &EntryHash) -> Result<Option<SealSignature>, SealProblem> {
    let data = entry
        .data
        .as_object()
        .ok_or_else(|| SealProblem::Entry("the seal's data is not an object".into()))?;
    if data.get("count").and_then(Value::as_u64) != Some(entry.seq) {
        return Err(SealProblem::Entry(format!(
            "the seal counts {} entries, but {} precede it",
            data.get("count")
                .map(Value::to_string)
                .unwrap_or_else(|| "no".into()),
            entry.seq
        )));
    }
    if data.get("chain_head").and_then(Value::as_str) != Some(head.to_hex().as_str()) {
        return Err(SealProblem::Entry(
            "the seal's chain_head is not the hash of the entry before it".into(),
        ));
    }
    let Some(sig) = data.get("signature") else {
        return Ok(None);
    };
    let field = |name: &str| {
        sig.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| SealProblem::Signature(format!("the signature has no {name}")))
    };
    let algorithm =
        Algorithm::parse(field("algorithm")?).map_err(|e| SealProblem::Signature(e.to_string()))?;
    let raw_key = hex::decode(field("public_key")?)
        .map_err(|_| SealProblem::Signature("public_key is not hex".into()))?;
    let public = PublicKey::from_bytes(algorithm, &raw_key)
        .map_err(|e| SealProblem::Signature(e.to_string()))?;
    let keyid = tuf_key_id(&public);
    if field("keyid")? != keyid {
        return Err(SealProblem::Signature(format!(
            "the recorded keyid is not the key ID of the recorded public key ({keyid})"
        )));
    }
    let signature =
        hex::decode(field("sig")?).map_err(|_| SealProblem::Signature("sig is not hex".into()))?;
    public
        .verify(
            &seal_message(head, entry.seq),
            &signature,
            SignatureEncoding::raw_for(algorithm),
        )
        .map_err(|e| SealProblem::Signature(e.to_string()))?;
    Ok(Some(SealSignature {
        public_key: public,
        keyid,
        signer: field("signer")?.to_owned(),
    }))
}

// ---------------------------------------------------------------------------
// The readable report.

/// A Markdown report of a transcript for compliance staff: the ceremony, the
/// result of verifying the chain, every entry, the files written and the final
/// hash in witness groups. A transcript that fails verification still gets a
/// report, headed by the failure.
pub fn render_markdown(path: &Path) -> Result<String> {
    render_markdown_with(path, &VerifyOptions::default()).map(|(text, _)| text)
}

/// [`render_markdown`] with the checks of [`verify_file_with`]; also returns the
/// verification result.
pub fn render_markdown_with(
    path: &Path,
    options: &VerifyOptions,
) -> Result<(String, Result<VerifyReport>)> {
    let mut out = Vec::new();
    let verdict = render_markdown_to(path, options, &mut out)?;
    let text = String::from_utf8(out).expect("the report is UTF-8");
    Ok((text, verdict))
}

/// [`render_markdown_with`], written to `out` as it is made: a transcript is read
/// once, its rows rendered as each entry is verified (so the report shows exactly
/// what was verified) into an unnamed temporary file, never held whole in memory.
pub fn render_markdown_to(
    path: &Path,
    options: &VerifyOptions,
    out: &mut dyn Write,
) -> Result<Result<VerifyReport>> {
    let w = |e: std::io::Error| TranscriptError::Io {
        path: path.display().to_string(),
        op: "write the report of",
        source: e,
    };
    let row = |e: &Entry, out: &mut dyn Write| -> std::io::Result<()> {
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            e.seq,
            md_cell(&e.time),
            md_cell(&e.kind),
            md_cell(e.step.as_deref().unwrap_or("")),
            md_cell(e.actor.as_deref().unwrap_or("")),
            md_cell(&summarise(&e.data, 100)),
        )
    };
    // The rows, and the (few) file entries for the table after them.
    let mut rows = std::io::BufWriter::new(
        tempfile::tempfile_in(
            path.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new(".")),
        )
        .or_else(|_| tempfile::tempfile())
        .map_err(w)?,
    );
    let mut files: Vec<Entry> = Vec::new();
    let mut failed = None;
    let verdict = verify_path(path, options, |e| {
        if failed.is_none()
            && let Err(err) = row(&e, &mut rows)
        {
            failed = Some(err);
        }
        (e.kind == kind::FILE_WRITTEN).then_some(e)
    })
    .map(|mut report| {
        files = std::mem::take(&mut report.entries);
        report
    });
    // (A write error matters only for a verified transcript: one that fails is
    // shown from a fresh read below.)
    if let (Ok(_), Some(err)) = (&verdict, failed) {
        return Err(w(err));
    }
    // A transcript that fails shows what can be read, clearly marked as unverified.
    let unverified: Vec<Entry> = match &verdict {
        Ok(_) => Vec::new(),
        Err(_) => std::fs::read(path)
            .map_err(io(path, "read"))?
            .split(|&b| b == b'\n')
            .filter_map(|l| serde_json::from_slice(l).ok())
            .collect(),
    };
    let (first, last) = match &verdict {
        Ok(report) => (Some(&report.begin), Some(&report.last)),
        Err(_) => (unverified.first(), unverified.last()),
    };
    let ceremony = first
        .and_then(|e| e.data.get("ceremony"))
        .and_then(Value::as_str)
        .unwrap_or("(unknown)");
    let mut head = String::new();
    head.push_str(&format!("# Ceremony transcript: {}\n\n", md_cell(ceremony)));
    head.push_str(&format!("- File: `{}`\n", path.display()));
    if let Some(begin) = first.filter(|e| e.kind == kind::BEGIN) {
        head.push_str(&format!("- Started: {}\n", begin.time));
        if let Some(h) = begin.data.get("script_sha256").and_then(Value::as_str) {
            head.push_str(&format!("- Script SHA-256: `{}`\n", md_cell(h)));
        }
        if let Some(tool) = begin.data.get("tool") {
            head.push_str(&format!(
                "- Tool: {} {}\n",
                md_cell(tool.get("name").and_then(Value::as_str).unwrap_or("?")),
                md_cell(tool.get("version").and_then(Value::as_str).unwrap_or("?"))
            ));
        }
    }
    if let Some(last) = last {
        head.push_str(&format!("- Last entry: {} at {}\n", last.seq, last.time));
    }
    head.push_str("\n## Verification\n\n");
    match &verdict {
        Ok(report) => {
            head.push_str(&format!(
                "**Chain intact**: {} entries, each carrying the hash of the one before it.\n\n",
                report.count
            ));
            if report.sealed {
                head.push_str("- Sealed: yes\n");
            } else {
                head.push_str(&format!(
                    "- Sealed: **no** — the ceremony did not finish (interrupted after entry {}), \
                     or trailing entries were removed; compare the final hash with the one the \
                     witnesses wrote down\n",
                    report.last_seq()
                ));
            }
            match &report.signature {
                Some(sig) => head.push_str(&format!(
                    "- Seal signature: **valid**, {} key `{}` (key ID `{}`), {}\n",
                    sig.public_key.algorithm(),
                    hex::encode(sig.public_key.as_bytes()),
                    sig.keyid,
                    md_cell(&sig.signer)
                )),
                None if report.sealed => head.push_str("- Seal signature: none (unsigned seal)\n"),
                None => {}
            }
            if let Some(keyid) = &options.expect_keyid {
                head.push_str(&format!(
                    "- Seal signed by the expected key `{}`: yes\n",
                    md_cell(keyid)
                ));
            }
            match report.expected_hash_matched {
                Some(true) => head.push_str("- Final hash matches the witnessed hash: yes\n"),
                _ => head.push_str(
                    "- Final hash not compared with a witnessed hash: compare it with the one \
                     written down at the ceremony\n",
                ),
            }
        }
        Err(e) => {
            head.push_str(&format!(
                "**VERIFICATION FAILED — do not rely on this transcript.**\n\n> {}\n\n\
                 The entries below are shown as found in the file and are not verified.\n",
                md_cell(&e.to_string())
            ));
        }
    }
    head.push_str("\n## Entries\n\n");
    head.push_str("| seq | time | kind | step | actor | data |\n");
    head.push_str("|---:|---|---|---|---|---|\n");
    out.write_all(head.as_bytes()).map_err(w)?;
    drop(head);
    match &verdict {
        Ok(_) => {
            let mut rows = rows.into_inner().map_err(|e| w(e.into_error()))?;
            rows.seek(std::io::SeekFrom::Start(0)).map_err(w)?;
            std::io::copy(&mut rows, out).map_err(w)?;
        }
        Err(_) => {
            files.clear();
            for e in &unverified {
                row(e, out).map_err(w)?;
                if e.kind == kind::FILE_WRITTEN {
                    files.push(e.clone());
                }
            }
        }
    }
    let mut tail = String::new();
    tail.push_str("\n## Files written\n\n");
    if files.is_empty() {
        tail.push_str("None.\n");
    } else {
        tail.push_str("| seq | file | size | SHA-256 |\n|---:|---|---:|---|\n");
        for e in &files {
            let s = |k: &str| e.data.get(k).and_then(Value::as_str).unwrap_or("?");
            tail.push_str(&format!(
                "| {} | `{}` | {} | `{}` |\n",
                e.seq,
                md_cell(s("path")),
                e.data
                    .get("size")
                    .and_then(Value::as_u64)
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "?".into()),
                md_cell(s("sha256")),
            ));
        }
    }
    tail.push_str("\n## Final hash\n\n");
    match &verdict {
        Ok(report) => {
            tail.push_str(&format!(
                "{} of entry {}:\n\n```\n{}\n```\n",
                if report.sealed {
                    "The hash of the seal"
                } else {
                    "The hash of the last entry (not sealed)"
                },
                report.last_seq(),
                witness_words(&report.final_hash)
            ));
        }
        Err(_) => tail.push_str("None: the chain does not verify.\n"),
    }
    out.write_all(tail.as_bytes()).map_err(w)?;
    Ok(verdict)
}

/// One line summarising an entry's data: `key=value` pairs, nested values compact,
/// cut to about `max` characters.
fn summarise(data: &Value, max: usize) -> String {
    let text = match data {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    if text.chars().count() > max {
        let cut: String = text.chars().take(max).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// Text safe inside a Markdown table cell.
fn md_cell(text: &str) -> String {
    one_line(text).replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn summaries_are_one_line_and_short() {
        let s = summarise(&json!({"a": "x\ny", "b": 1}), 100);
        assert_eq!(s, "a=x\ny, b=1");
        assert_eq!(md_cell(&s), "a=x y, b=1");
        assert!(summarise(&json!({"a": "z".repeat(300)}), 10).ends_with('…'));
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
