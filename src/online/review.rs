//! After a tagging key leaks, anything its holder published may be the attacker's:
//! the review of a repository's current targets, each with where it came from, and
//! the responder's decision on which the new tagging key re-signs.
//!
//! `request` builds the review from the server's targets history (every version of
//! `targets.json` it keeps, and when each was stored); the ceremony shows it, takes
//! the decision (`--keep-target`, `--drop-target`, `--keep-targets-before`), records
//! it in the transcript and puts it in the export; `publish` re-signs exactly what
//! was kept, and only if the server still holds it unchanged.

use crate::tuf::metadata::TargetFile;
use crate::tuf::targets_doc::TargetsDocument;
use crate::tuf::verify::fingerprint;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The review's file in a request bundle.
pub const TARGETS_REVIEW: &str = "targets-review.json";
/// The decision's file in an export bundle.
pub const TARGETS_DECISION: &str = "targets-decision.json";
const REVIEW_FORMAT: &str = "ceremony-targets-review/1";
const DECISION_FORMAT: &str = "ceremony-targets-decision/1";

/// One current target and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewedTarget {
    pub name: String,
    /// SHA-256 (hex) and length as the current targets.json lists it.
    pub sha256: String,
    pub length: u64,
    /// The targets.json version from which the target has been listed as it is now.
    pub since_version: u64,
    /// Key IDs that signed that version.
    pub signed_by: Vec<String>,
    /// When the server stored that version (RFC 3339), where it says.
    pub published: Option<String>,
    /// Whether a key being revoked signed that version.
    pub by_revoked_key: bool,
}

impl ReviewedTarget {
    /// One line for the room: the name, since when, by which key, and the hash.
    pub fn describe(&self) -> String {
        let signers: Vec<String> = self.signed_by.iter().map(|k| fingerprint(k)).collect();
        format!(
            "{} (sha256 {}, {} bytes): listed since targets version {}{}, signed by {}{}",
            self.name,
            fingerprint(&self.sha256),
            self.length,
            self.since_version,
            self.published
                .as_deref()
                .map(|t| format!(" (stored {t})"))
                .unwrap_or_default(),
            if signers.is_empty() {
                "no key".to_owned()
            } else {
                signers.join(", ")
            },
            if self.by_revoked_key {
                ", THE KEY BEING REVOKED"
            } else {
                ""
            }
        )
    }

    /// Whether the server's `file` is still this target, unchanged.
    pub fn matches(&self, file: &TargetFile) -> bool {
        file.length == self.length && hex_sha256(file).as_deref() == Some(self.sha256.as_str())
    }
}

/// The current targets of one repository, each with its provenance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetsReview {
    pub format: String,
    pub repository: String,
    /// The current targets.json version.
    pub targets_version: u64,
    pub targets: Vec<ReviewedTarget>,
}

/// Which reviewed targets the new tagging key re-signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetsDecision {
    pub format: String,
    pub repository: String,
    pub targets_version: u64,
    pub kept: Vec<ReviewedTarget>,
    pub dropped: Vec<ReviewedTarget>,
}

/// One version of targets.json as the server keeps it, and when it was stored.
pub struct Version {
    pub doc: TargetsDocument,
    pub stored: Option<String>,
}

/// A target's SHA-256 in hex (Notary lists it in base64, TUF in hex).
fn hex_sha256(file: &TargetFile) -> Option<String> {
    use base64::Engine;
    let value = file.hashes.get("sha256")?;
    if value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some(value.to_ascii_lowercase());
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(value)
        .ok()?;
    (raw.len() == 32).then(|| hex::encode(raw))
}

/// The review of `current` given the older versions the server keeps (any order,
/// any gaps): for each current target, the oldest version of an unbroken run of
/// versions up to the current one that list it exactly as it is now.
pub fn review(
    repository: &str,
    current: &Version,
    history: &[Version],
    revoked: &[String],
) -> TargetsReview {
    let by_version: BTreeMap<u64, &Version> = history
        .iter()
        .chain(std::iter::once(current))
        .map(|v| (v.doc.version(), v))
        .collect();
    let mut targets = Vec::new();
    for (name, file) in &current.doc.targets().targets {
        let mut since = current;
        let mut v = current.doc.version();
        while v > 1 {
            match by_version.get(&(v - 1)) {
                Some(older) if older.doc.targets().targets.get(name) == Some(file) => {
                    since = older;
                    v -= 1;
                }
                _ => break,
            }
        }
        let signed_by: Vec<String> = since
            .doc
            .signatures
            .iter()
            .map(|s| s.keyid.clone())
            .collect();
        targets.push(ReviewedTarget {
            name: name.clone(),
            sha256: hex_sha256(file).unwrap_or_default(),
            length: file.length,
            since_version: since.doc.version(),
            by_revoked_key: signed_by.iter().any(|k| revoked.contains(k)),
            signed_by,
            published: since.stored.clone(),
        });
    }
    TargetsReview {
        format: REVIEW_FORMAT.into(),
        repository: repository.into(),
        targets_version: current.doc.version(),
        targets,
    }
}

/// Parse one of this module's files, checking the format it names.
fn parse<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    expected: &str,
    format: impl Fn(&T) -> &str,
) -> Result<T, String> {
    let doc: T = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if format(&doc) != expected {
        return Err(format!("format {:?} is not {expected:?}", format(&doc)));
    }
    Ok(doc)
}

impl TargetsReview {
    pub fn from_slice(bytes: &[u8]) -> Result<TargetsReview, String> {
        parse(bytes, REVIEW_FORMAT, |r: &TargetsReview| &r.format)
    }

    /// The responder's decision: every target kept or dropped, by name, or by the
    /// version it has been listed since (`keep_before`: kept if listed since a
    /// version older than that one). A target left undecided, a name that is not a
    /// target, or a name both kept and dropped is refused, all named at once.
    pub fn decide(
        &self,
        keep: &[String],
        drop: &[String],
        keep_before: Option<u64>,
    ) -> Result<TargetsDecision, String> {
        let names: Vec<&str> = self.targets.iter().map(|t| t.name.as_str()).collect();
        let mut problems = Vec::new();
        for name in keep.iter().chain(drop) {
            if !names.contains(&name.as_str()) {
                problems.push(format!(
                    "{name} is not one of the reviewed targets ({})",
                    names.join(", ")
                ));
            }
            if keep.contains(name) && drop.contains(name) {
                problems.push(format!("{name} is both kept and dropped"));
            }
        }
        let mut kept = Vec::new();
        let mut dropped = Vec::new();
        let mut undecided = Vec::new();
        for t in &self.targets {
            if drop.contains(&t.name) {
                dropped.push(t.clone());
            } else if keep.contains(&t.name)
                || keep_before.is_some_and(|before| t.since_version < before)
            {
                kept.push(t.clone());
            } else if keep_before.is_some() {
                dropped.push(t.clone());
            } else {
                undecided.push(t.describe());
            }
        }
        if !undecided.is_empty() {
            problems.push(format!(
                "undecided: {}. After a leak any of them may be the attacker's: keep or drop \
                 each with --keep-target NAME / --drop-target NAME, or keep those listed \
                 before a version with --keep-targets-before VERSION",
                undecided.join("; ")
            ));
        }
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        Ok(TargetsDecision {
            format: DECISION_FORMAT.into(),
            repository: self.repository.clone(),
            targets_version: self.targets_version,
            kept,
            dropped,
        })
    }
}

impl TargetsDecision {
    pub fn from_slice(bytes: &[u8]) -> Result<TargetsDecision, String> {
        parse(bytes, DECISION_FORMAT, |d: &TargetsDecision| &d.format)
    }

    /// What the room hears before agreeing.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "targets of {} (targets.json version {}) the new tagging key re-signs:\n",
            self.repository, self.targets_version
        );
        for (what, list) in [("kept", &self.kept), ("dropped", &self.dropped)] {
            if list.is_empty() {
                s.push_str(&format!("  {what}: none\n"));
            }
            for t in list {
                s.push_str(&format!("  {what}: {}\n", t.describe()));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str, since: u64, revoked: bool) -> ReviewedTarget {
        ReviewedTarget {
            name: name.into(),
            sha256: "ab".repeat(32),
            length: 3,
            since_version: since,
            signed_by: vec!["cd".repeat(32)],
            published: None,
            by_revoked_key: revoked,
        }
    }

    fn sample() -> TargetsReview {
        TargetsReview {
            format: REVIEW_FORMAT.into(),
            repository: "example.com/app".into(),
            targets_version: 3,
            targets: vec![target("v1", 1, true), target("evil", 3, true)],
        }
    }

    #[test]
    fn every_target_must_be_decided_and_undecided_ones_are_described() {
        let err = sample().decide(&["v1".into()], &[], None).unwrap_err();
        assert!(
            err.contains("undecided: evil (sha256 abab abab abab abab"),
            "{err}"
        );
        assert!(err.contains("listed since targets version 3"), "{err}");
        assert!(err.contains("THE KEY BEING REVOKED"), "{err}");
        let err = sample()
            .decide(&["v1".into(), "nope".into()], &["v1".into()], None)
            .unwrap_err();
        assert!(
            err.contains("nope is not one of the reviewed targets"),
            "{err}"
        );
        assert!(err.contains("v1 is both kept and dropped"), "{err}");
    }

    #[test]
    fn keep_before_a_version_keeps_the_older_and_drops_the_newer() {
        let d = sample().decide(&[], &[], Some(2)).unwrap();
        assert_eq!(d.kept.len(), 1);
        assert_eq!(d.kept[0].name, "v1");
        assert_eq!(d.dropped[0].name, "evil");
        let d = sample()
            .decide(&["evil".into()], &["v1".into()], Some(2))
            .unwrap();
        assert_eq!(d.kept[0].name, "evil");
        assert_eq!(d.dropped[0].name, "v1");
    }
}
