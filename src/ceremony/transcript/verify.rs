//! Verifying a transcript: the hash chain, the sequence, the times, the seal and its signature.

use super::*;

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
    /// Why this is not a production ceremony, where it is not: answers from a file
    /// or a rehearsal, the air-gap check overridden, software keys, test tokens.
    pub practice: Vec<String>,
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
pub(super) fn verify_path(
    path: &Path,
    options: &VerifyOptions,
    each: impl FnMut(Entry) -> Option<Entry>,
) -> Result<VerifyReport> {
    let file = open(path)?;
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

/// Open a transcript: a regular file only (a FIFO or a device would block or never
/// end), refused by name otherwise.
pub(super) fn open(path: &Path) -> Result<std::fs::File> {
    crate::fsio::open_regular(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidInput => TranscriptError::NotAFile {
            path: path.display().to_string(),
            reason: e.to_string(),
        },
        _ => io(path, "read")(e),
    })
}

/// The longest line a transcript entry may take: far above any entry the engine
/// writes; a longer "line" (a giant file without line ends) is refused, not read.
const MAX_LINE: u64 = 16 << 20;

/// The seq of the complete line whose hash is `hash` (used only to explain a
/// hash mismatch).
pub(super) fn position_of(path: &Path, hash: &EntryHash) -> Option<u64> {
    let file = open(path).ok()?;
    let mut reader = std::io::BufReader::new(file);
    let mut line = Vec::new();
    let mut seq = 0u64;
    loop {
        line.clear();
        let n = std::io::Read::take(&mut reader, MAX_LINE + 1)
            .read_until(b'\n', &mut line)
            .ok()?;
        if n == 0 || n as u64 > MAX_LINE {
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
pub(super) fn verify_reader(
    path: &Path,
    mut reader: impl BufRead,
    mut keep: impl FnMut(Entry) -> Option<Entry>,
) -> Result<VerifyReport> {
    let mut chain = Chain::new(path);
    let mut entries = Vec::new();
    let mut line = Vec::new();
    let mut bytes = 0u64;
    let mut number = 0usize;
    loop {
        line.clear();
        number += 1;
        let n = std::io::Read::take(&mut reader, MAX_LINE + 1)
            .read_until(b'\n', &mut line)
            .map_err(io(path, "read"))?;
        if n == 0 {
            break;
        }
        if n as u64 > MAX_LINE {
            return Err(TranscriptError::Malformed {
                path: path.display().to_string(),
                line: number,
                reason: format!("longer than {} MiB: refused", MAX_LINE >> 20),
            });
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
pub(super) struct Chain {
    path: PathBuf,
    name: String,
    head: EntryHash,
    count: u64,
    begin: Option<Entry>,
    last: Option<Entry>,
    signature: Option<SealSignature>,
    practice: std::collections::BTreeSet<String>,
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
            practice: Default::default(),
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
        if self
            .last
            .as_ref()
            .is_some_and(|e| e.kind == Event::Seal.name())
        {
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
        if (entry.seq == 0) != (entry.kind == Event::Begin.name()) {
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
        if entry.kind == Event::Seal.name() {
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
        self.note_practice(&entry);
        Ok(entry)
    }

    /// Note what makes the run a practice one, from the entry's recorded facts.
    fn note_practice(&mut self, entry: &Entry) {
        let data = &entry.data;
        let mut note = |why: &str| {
            self.practice.insert(why.to_owned());
        };
        if entry.kind == Event::NetworkOverride.name() {
            note("the air-gap check was overridden (--allow-network)");
        }
        // Any answer (a confirmation, a typed fact, a sign-in, a deviation's reason).
        match data.get("answered_by").and_then(Value::as_str) {
            Some("answers-file") => {
                note("answers came from an answers file, not from people at the terminal")
            }
            Some("rehearsal") => note("a rehearsal: its answers were given by --yes"),
            _ => {}
        }
        let token = data.get("token").and_then(Value::as_str).unwrap_or("");
        if token.starts_with("soft:") {
            note("software keys (soft:), which live in files, not on tokens");
        }
        let manufacturer = data
            .pointer("/evidence/token_manufacturer")
            .and_then(Value::as_str)
            .unwrap_or("");
        if token.contains(" key on SoftHSM") || manufacturer.starts_with("SoftHSM") {
            note("SoftHSM test tokens, which keep keys in files");
        }
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
            sealed: last.kind == Event::Seal.name(),
            begin,
            last,
            bytes,
            final_hash: self.head,
            signature: self.signature,
            expected_hash_matched: None,
            practice: self.practice.into_iter().collect(),
        })
    }
}

pub(super) fn check_time(time: &str) -> Result<(), String> {
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

pub(super) enum SealProblem {
    Entry(String),
    Signature(String),
}

pub(super) fn check_seal(
    entry: &Entry,
    head: &EntryHash,
) -> Result<Option<SealSignature>, SealProblem> {
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
