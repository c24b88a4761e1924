//! Publishing an export bundle, after checking it in full: the manifest and every
//! file, the transcript and its final hash, every signature, and the whole root
//! chain from the root the online side already trusts. Only then is anything
//! written (a TUF repository directory) or uploaded (a Notary server); a bundle
//! that fails a check changes nothing.

use super::keystore::KeyStore;
use super::notary_api::NotaryApi;
use crate::error::{Error, Result};
use crate::fsio;
use crate::secret::Secret;
use crate::tokens::Signer;
use crate::tokens::soft::SoftToken;
use crate::transfer::bundle::{Bundle, PACK, PACK_INDEX, PackEntry};
use crate::tuf::cjson;
use crate::tuf::document::RootDocument;
use crate::tuf::key::key_id;
use crate::tuf::metadata::{Flavour, Signature};
use crate::tuf::sign::sign_message;
use crate::tuf::targets_doc::TargetsDocument;
use crate::tuf::time::format_expires;
use crate::tuf::verify::{ChainOptions, ChainReport, Verified, check_role, verify_chain};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::Utc;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256, Sha512};
use std::path::Path;

/// A root and the exact bytes it came in.
pub type SignedRoot = (RootDocument, Vec<u8>);

/// An export bundle whose files, transcript and roots were checked.
pub struct Export {
    pub bundle: Bundle,
    pub flavour: Flavour,
    pub repository: String,
    /// Every `N.root.json`, in version order, with its bytes.
    pub roots: Vec<SignedRoot>,
    pub transcript_hash: String,
}

fn refuse(bundle: &Path, reason: impl std::fmt::Display) -> Error {
    Error::Usage(format!(
        "export bundle {}: {reason}; nothing was published",
        bundle.display()
    ))
}

/// Repository `i`'s new root from a batch export's pack, checked against its
/// index entry.
fn packed_root(
    bundle: &Bundle,
    i: usize,
    repository: &str,
    flavour: Flavour,
) -> Result<SignedRoot> {
    let dir = bundle.dir();
    for file in [PACK, PACK_INDEX] {
        if !bundle.contains(file) {
            return Err(refuse(dir, format!("it is a batch export without {file}")));
        }
    }
    let index = bundle.read(PACK_INDEX)?;
    let line = index
        .split(|b| *b == b'\n')
        .nth(i)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| refuse(dir, format!("{PACK_INDEX} has no line for repository {i}")))?;
    let entry: PackEntry = serde_json::from_slice(line)
        .map_err(|e| refuse(dir, format!("{PACK_INDEX} line {}: {e}", i + 1)))?;
    if entry.index != i || entry.repository != repository {
        return Err(refuse(
            dir,
            format!(
                "{PACK_INDEX} line {} is for repository {} ({}), not {repository} ({i})",
                i + 1,
                entry.index,
                entry.repository
            ),
        ));
    }
    // Only this repository's bytes are read, and checked against the index line
    // (the index itself was checked against the manifest).
    let pack = bundle.reader(PACK)?.into_file();
    let bytes = crate::transfer::bundle::read_part(&pack, entry.offset, entry.size, &entry.sha256)
        .map_err(|p| match p {
            crate::transfer::bundle::PartProblem::Unreadable(e) => refuse(
                dir,
                format!("{PACK_INDEX} points {repository}'s root outside {PACK} ({e})"),
            ),
            crate::transfer::bundle::PartProblem::Hash => refuse(
                dir,
                format!("{repository}'s root in {PACK} does not have the SHA-256 its index gives"),
            ),
        })?;
    let name = format!("{}/{PACK}[{repository}]", dir.display());
    let doc = RootDocument::from_slice(&bytes, &name)?;
    if doc.version() != entry.version {
        return Err(refuse(
            dir,
            format!(
                "{repository}'s root in {PACK} is version {}, its index says {}",
                doc.version(),
                entry.version
            ),
        ));
    }
    if doc.flavour() != flavour {
        return Err(refuse(
            dir,
            format!("{repository}'s root is not {} metadata", flavour.name()),
        ));
    }
    Ok((doc, bytes))
}

impl Export {
    /// Open an export bundle for publishing `repository` (required for a batch
    /// bundle of several repositories; checked against a one-repository bundle).
    pub fn open(dir: &Path, expect_hash: Option<&str>, repository: Option<&str>) -> Result<Export> {
        let bundle = Bundle::open(dir, "export")?;
        // The bundle's own hash is never shown here: a person comparing would be
        // invited to paste it back, which defeats the check against the hash the
        // witnesses wrote down.
        if let Some(expected) = expect_hash {
            if expected.len() != 64 || !expected.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(refuse(
                    dir,
                    format!(
                        "--expect-bundle {expected:?} is not a bundle hash: give all 64 hex \
                         digits the witnesses wrote down (a prefix is not enough)"
                    ),
                ));
            }
            if !expected.eq_ignore_ascii_case(bundle.hash()) {
                return Err(refuse(
                    dir,
                    format!(
                        "its hash is not {expected}, the hash read out at the ceremony: this is \
                         not that bundle (its own hash is not shown: compare only with what the \
                         witnesses wrote down)"
                    ),
                ));
            }
        }
        if bundle.contains(crate::ceremony::event::EVENT_FILE) {
            // A signing event across sites: publishable once both thresholds are
            // met (recomputed here, not taken from its file), with every site's
            // transcript in one chain sealed by root keys, and the root the lead
            // built with only signatures added.
            let event = crate::ceremony::event::Previous::open(dir)?;
            event.check_draft()?;
            let thresholds =
                crate::ceremony::event::thresholds(event.current.last(), &event.draft)?;
            if thresholds.iter().any(|t| !t.met()) {
                return Err(refuse(
                    dir,
                    crate::ceremony::event::below_threshold(
                        &format!("root version {}", event.draft.version()),
                        &thresholds,
                    ),
                ));
            }
        }
        let m = bundle.manifest();
        let flavour = match m.flavour.as_str() {
            "notary" => Flavour::Notary,
            _ => Flavour::Tuf,
        };
        // A one-repository bundle keeps its roots at the top; a batch bundle keeps
        // every repository's new root in one pack (repository i's at line i of the
        // pack's index).
        let batch = !bundle.contains("root.json");
        let (repository, batch_index) = match (m.repositories.as_slice(), repository) {
            ([one], wanted) if !batch => {
                if let Some(w) = wanted
                    && w != one
                {
                    return Err(refuse(dir, format!("it is for repository {one}, not {w}")));
                }
                (one.clone(), None)
            }
            (many, Some(w)) => match many.iter().position(|r| r == w) {
                Some(i) => (w.to_owned(), Some(i)),
                None => {
                    return Err(refuse(
                        dir,
                        format!("its {} repositories do not include {w}", many.len()),
                    ));
                }
            },
            (many, None) => {
                return Err(refuse(
                    dir,
                    format!(
                        "it is a batch of {} repositories: say which to publish with --repository",
                        many.len()
                    ),
                ));
            }
        };
        let ceremony = m
            .ceremony
            .clone()
            .ok_or_else(|| refuse(dir, "its manifest names no ceremony"))?;
        // The transcript travels with the bundle: its hash chain must hold and end
        // where the manifest (and the witnesses) say.
        if !bundle.contains("transcript.jsonl") {
            return Err(refuse(dir, "it has no transcript.jsonl"));
        }
        let report = crate::ceremony::transcript::check_file_with(
            &dir.join("transcript.jsonl"),
            &Default::default(),
        )?;
        if !report.sealed {
            return Err(refuse(dir, "its transcript is not sealed"));
        }
        if report.final_hash.to_hex() != ceremony.transcript_hash {
            return Err(refuse(
                dir,
                format!(
                    "its transcript ends in {}, the manifest says {}",
                    report.final_hash.to_hex(),
                    ceremony.transcript_hash
                ),
            ));
        }
        let mut roots = Vec::new();
        if let Some(i) = batch_index {
            roots.push(packed_root(&bundle, i, &repository, flavour)?);
        }
        for path in bundle.paths().filter(|_| batch_index.is_none()) {
            let n = match Some(path)
                .filter(|rest| !rest.contains('/'))
                .and_then(crate::inputs::root_file_version)
            {
                Some(Ok(n)) => n,
                Some(Err(reason)) => return Err(refuse(dir, format!("{path}: {reason}"))),
                None => continue,
            };
            let bytes = &bundle.read(path)?;
            let doc = RootDocument::from_slice(bytes, &format!("{}/{path}", dir.display()))?;
            if doc.version() != n {
                return Err(refuse(
                    dir,
                    format!("{path} holds version {}", doc.version()),
                ));
            }
            if doc.flavour() != flavour {
                return Err(refuse(
                    dir,
                    format!("{path} is not {} metadata", flavour.name()),
                ));
            }
            roots.push((doc, bytes.to_vec()));
        }
        roots.sort_by_key(|(d, _)| d.version());
        let Some((_, latest)) = roots.last() else {
            return Err(refuse(dir, "it holds no N.root.json"));
        };
        if !batch && bundle.read("root.json")? != *latest {
            return Err(refuse(dir, "root.json is not its newest N.root.json"));
        }
        Ok(Export {
            bundle,
            flavour,
            repository,
            roots,
            transcript_hash: ceremony.transcript_hash,
        })
    }

    /// The roots newer than `trusted`, verified as a chain continuing from it (or,
    /// for a new repository, from the bundle's first root on first use).
    pub fn new_roots(
        &self,
        trusted: Option<&RootDocument>,
        trusted_bytes: Option<&[u8]>,
        first_root: bool,
    ) -> Result<(Vec<SignedRoot>, Verified<ChainReport>)> {
        let dir = self.bundle.dir();
        let options = ChainOptions {
            now: Utc::now(),
            gun: (self.flavour == Flavour::Notary).then(|| self.repository.clone()),
        };
        let latest = self.roots.last().expect("checked on open").0.version();
        match (trusted, first_root) {
            (Some(t), false) => {
                if t.flavour() != self.flavour {
                    return Err(refuse(dir, "the trusted root is of the other flavour"));
                }
                if latest < t.version() {
                    return Err(refuse(
                        dir,
                        format!(
                            "rollback: its newest root is version {latest}, and version {} is already trusted",
                            t.version()
                        ),
                    ));
                }
                for (doc, bytes) in &self.roots {
                    if doc.version() == t.version() && Some(bytes.as_slice()) != trusted_bytes {
                        return Err(refuse(
                            dir,
                            format!(
                                "its {}.root.json differs from the trusted root of that version: a fork",
                                doc.version()
                            ),
                        ));
                    }
                }
                if latest == t.version() {
                    return Err(refuse(
                        dir,
                        format!("version {latest} is already trusted: there is nothing new to publish"),
                    ));
                }
                let newer: Vec<_> = self
                    .roots
                    .iter()
                    .filter(|(d, _)| d.version() > t.version())
                    .cloned()
                    .collect();
                let report = verify_chain(
                    Some(t.clone()),
                    newer.iter().map(|(d, _)| d.clone()).collect(),
                    &options,
                )?;
                Ok((newer, report))
            }
            (None, true) => {
                let report = verify_chain(
                    None,
                    self.roots.iter().map(|(d, _)| d.clone()).collect(),
                    &options,
                )?;
                Ok((self.roots.clone(), report))
            }
            (Some(_), true) => Err(Error::Usage(
                "--first-root is for a repository with no trusted root yet, and one is trusted".into(),
            )),
            (None, false) => Err(Error::Usage(
                "no trusted root for this repository: give --trusted ROOT (the root you already trust), \
                 or --first-root to accept the bundle's first root for a new repository"
                    .into(),
            )),
        }
    }
}

fn read_trusted(path: &Path) -> Result<(RootDocument, Vec<u8>)> {
    let bytes = crate::inputs::read_file(path)?;
    let doc = RootDocument::from_slice(&bytes, &path.display().to_string())?;
    Ok((doc, bytes))
}

/// What a publish did, for the summary.
pub struct Published {
    pub versions: Vec<u64>,
    pub lines: Vec<String>,
}

/// Publish to a TUF repository's metadata directory: every new `N.root.json`
/// (never over a different file of that name), then `root.json`, atomically.
pub fn to_tuf_repo(
    export: &Export,
    repo: &Path,
    trusted: Option<&Path>,
    first_root: bool,
) -> Result<Published> {
    if fsio::occupied(repo) && !repo.is_dir() {
        return Err(Error::Usage(format!(
            "--tuf-repo {}: not a directory; give the repository's metadata directory \
             (nothing was published)",
            repo.display()
        )));
    }
    let current = repo.join("root.json");
    let trusted = match trusted {
        Some(p) => Some(read_trusted(p)?),
        None if fsio::occupied(&current) => Some(read_trusted(&current)?),
        None => None,
    };
    // The same bundle published before (a publish interrupted after its last
    // rename, run again): the repository already holds exactly its roots.
    if let Some((doc, bytes)) = &trusted
        && let Some((latest, latest_bytes)) = export.roots.last()
        && doc.version() == latest.version()
        && bytes == latest_bytes
        && present(&current).ok().flatten().as_deref() == Some(latest_bytes.as_slice())
        && export.roots.iter().all(|(d, b)| {
            present(&repo.join(format!("{}.root.json", d.version())))
                .ok()
                .flatten()
                .as_deref()
                == Some(b.as_slice())
        })
    {
        for path in export
            .roots
            .iter()
            .map(|(d, _)| repo.join(format!("{}.root.json", d.version())))
            .chain([current.clone()])
        {
            let _ = fsio::remove_temps_for(&path);
        }
        return Ok(Published {
            versions: Vec::new(),
            lines: vec![format!(
                "already published: {} holds every root of this bundle and root.json is version {}; nothing was written",
                repo.display(),
                latest.version()
            )],
        });
    }
    let (newer, _) = export.new_roots(
        trusted.as_ref().map(|(d, _)| d),
        trusted.as_ref().map(|(_, b)| b.as_slice()),
        first_root,
    )?;
    // Check every target name before writing anything: each is absent, or a
    // regular file holding exactly these bytes. A symlink (dangling or not), a
    // directory or anything else at a name is refused, so a refusal never leaves
    // the repository half-written and a success never skips a file.
    let mut to_write = Vec::new();
    for (doc, bytes) in &newer {
        let path = repo.join(format!("{}.root.json", doc.version()));
        match present(&path).map_err(|reason| refuse(export.bundle.dir(), reason))? {
            None => to_write.push((path, bytes)),
            Some(existing) if existing == *bytes => {}
            Some(_) => {
                return Err(refuse(
                    export.bundle.dir(),
                    format!("{} exists with other contents: a fork", path.display()),
                ));
            }
        }
    }
    present(&current).map_err(|reason| refuse(export.bundle.dir(), reason))?;
    std::fs::create_dir_all(repo).map_err(|e| Error::Read {
        path: repo.display().to_string(),
        reason: e.to_string(),
    })?;
    // Temporary files a publish killed before its rename left beside these.
    for path in newer
        .iter()
        .map(|(doc, _)| repo.join(format!("{}.root.json", doc.version())))
        .chain([current.clone()])
    {
        fsio::remove_temps_for(&path).map_err(|e| Error::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
    }
    let mut lines = Vec::new();
    for (path, bytes) in to_write {
        fsio::write_new(&path, bytes, 0o644)?;
        lines.push(format!("wrote {}", path.display()));
    }
    let (latest, bytes) = newer.last().expect("at least one new root");
    fsio::replace(&current, bytes, 0o644)?;
    lines.push(format!(
        "root.json is now version {} ({})",
        latest.version(),
        current.display()
    ));
    Ok(Published {
        versions: newer.iter().map(|(d, _)| d.version()).collect(),
        lines,
    })
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// What is at `path` in a repository: nothing (`None`), or a regular file's bytes.
/// Anything else there is an error naming it.
fn present(path: &Path) -> std::result::Result<Option<Vec<u8>>, String> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
        Ok(m) if m.file_type().is_symlink() => Err(format!(
            "{} is a symbolic link: a repository file is never written through one; remove it \
             (nothing was written)",
            path.display()
        )),
        Ok(m) if !m.is_file() => Err(format!(
            "{} is not a regular file: remove it (nothing was written)",
            path.display()
        )),
        Ok(_) => fsio::read_regular(path)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
    }
}

/// How to publish to a Notary server.
pub struct NotaryTarget<'a> {
    pub api: &'a NotaryApi,
    pub keystore: &'a KeyStore,
    pub passphrase: &'a dyn Fn() -> Result<Secret>,
    pub trusted: Option<&'a Path>,
    pub first_root: bool,
    pub add_targets: Vec<(String, Vec<u8>)>,
    pub targets_choice: TargetsChoice,
    pub expires_days: u32,
}

/// Which of the server's current targets the new tagging key re-signs: the
/// publisher's decision, by name. Nothing is carried over by default: after a
/// tagging key leaked, any current target may be the attacker's.
#[derive(Debug, Clone, Default)]
pub struct TargetsChoice {
    pub keep_all: bool,
    pub keep: Vec<String>,
    pub drop: Vec<String>,
}

/// The ceremony's decision on the current targets (`targets-decision.json` in the
/// export), as the choice publish carries out: what it kept must still be on the
/// server unchanged, and anything added since the review must be dropped here by
/// name (keeping it takes a new review); publish cannot keep what the room did not.
fn ceremony_decision(
    export: &Export,
    gun: &str,
    current: Option<&TargetsDocument>,
    given: &TargetsChoice,
) -> Result<Option<TargetsChoice>> {
    use crate::online::review::{TARGETS_DECISION, TargetsDecision};
    let dir = export.bundle.dir();
    if !export.bundle.contains(TARGETS_DECISION) {
        return Ok(None);
    }
    let decision = TargetsDecision::from_slice(&export.bundle.read(TARGETS_DECISION)?)
        .map_err(|e| refuse(dir, format!("{TARGETS_DECISION}: {e}")))?;
    if decision.repository != gun {
        return Err(refuse(
            dir,
            format!(
                "{TARGETS_DECISION} is for {}, not {gun}",
                decision.repository
            ),
        ));
    }
    if given.keep_all || !given.keep.is_empty() {
        return Err(refuse(
            dir,
            "the ceremony decided which current targets are re-signed (targets-decision.json): \
             --keep-target and --keep-all-targets cannot add to it (a target it dropped stays \
             dropped; to keep it, review the targets again in a new ceremony)",
        ));
    }
    let empty = std::collections::BTreeMap::new();
    let on_server = current.map(|c| &c.targets().targets).unwrap_or(&empty);
    let mut keep = Vec::new();
    for t in &decision.kept {
        match on_server.get(&t.name) {
            Some(file) if t.matches(file) => keep.push(t.name.clone()),
            Some(_) => {
                return Err(refuse(
                    dir,
                    format!(
                        "target {} changed on the server since the ceremony reviewed it \
                         (targets.json version {}): it is not what the room decided to keep",
                        t.name, decision.targets_version
                    ),
                ));
            }
            None => {}
        }
    }
    let decided: Vec<&String> = decision
        .kept
        .iter()
        .chain(&decision.dropped)
        .map(|t| &t.name)
        .collect();
    let added: Vec<&String> = on_server
        .keys()
        .filter(|n| !decided.contains(n) && !given.drop.contains(n))
        .collect();
    if !added.is_empty() {
        return Err(refuse(
            dir,
            format!(
                "target(s) added on the server after the ceremony reviewed targets.json \
                 version {}: {}. Drop each with --drop-target NAME (keeping one takes a new \
                 review)",
                decision.targets_version,
                added
                    .iter()
                    .map(|n| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let mut drop: Vec<String> = decision
        .dropped
        .iter()
        .map(|t| t.name.clone())
        .chain(given.drop.iter().cloned())
        .filter(|n| on_server.contains_key(n))
        .collect();
    drop.sort();
    drop.dedup();
    Ok(Some(TargetsChoice {
        keep_all: false,
        keep,
        drop,
    }))
}

/// Publish to a Notary server: the new roots, then `targets.json` re-signed with
/// the tagging key the newest root lists (from the key store), and `snapshot.json`
/// where the publisher holds the snapshot key (otherwise the server signs it).
pub fn to_notary(export: &Export, to: NotaryTarget) -> Result<Published> {
    let gun = &export.repository;
    let dir = export.bundle.dir();
    let trusted = match to.trusted {
        Some(p) => Some(read_trusted(p)?),
        None => match to.keystore.trusted_root(gun) {
            Some(p) => Some(read_trusted(&p)?),
            None => None,
        },
    };
    let (newer, _) = export.new_roots(
        trusted.as_ref().map(|(d, _)| d),
        trusted.as_ref().map(|(_, b)| b.as_slice()),
        to.first_root,
    )?;
    let (latest, latest_bytes) = newer.last().cloned().expect("at least one new root");

    // What the server has now.
    let server_root = match to.api.get(gun, "root.json")? {
        Some(b) => Some(RootDocument::from_slice(
            &b,
            &format!("{gun} root.json on the server"),
        )?),
        None => None,
    };
    if to.first_root
        && let Some(r) = &server_root
    {
        return Err(refuse(
            dir,
            format!(
                "the server already has root version {} for {gun}: give --trusted with the root you trust",
                r.version()
            ),
        ));
    }
    let server_version = server_root.as_ref().map_or(0, |r| r.version());
    let uploads: Vec<&SignedRoot> = newer
        .iter()
        .filter(|(d, _)| d.version() > server_version)
        .collect();

    // targets.json: the current targets carried over, the new ones added, signed
    // with the tagging key the new root lists.
    let current_targets = match to.api.get(gun, "targets.json")? {
        Some(b) => Some(TargetsDocument::from_slice(
            &b,
            &format!("{gun} targets.json on the server"),
        )?),
        None => None,
    };
    let mut targets: Map<String, Value> = Map::new();
    let mut delegations = json!({"keys": {}, "roles": []});
    let mut version = 1;
    let mut lines = Vec::new();
    let current_names: Vec<String> = current_targets
        .as_ref()
        .map(|c| c.targets().targets.keys().cloned().collect())
        .unwrap_or_default();
    let decided = ceremony_decision(export, gun, current_targets.as_ref(), &to.targets_choice)?;
    let choice = decided.as_ref().unwrap_or(&to.targets_choice);
    for name in choice.keep.iter().chain(&choice.drop) {
        if !current_names.contains(name) {
            return Err(refuse(
                dir,
                format!(
                    "--keep-target/--drop-target {name}: the server's targets.json has no such \
                     target (it has: {})",
                    list_or_none(&current_names)
                ),
            ));
        }
        if choice.keep.contains(name) && choice.drop.contains(name) {
            return Err(refuse(
                dir,
                format!("target {name} is both kept and dropped"),
            ));
        }
    }
    if let Some(cur) = &current_targets {
        version = cur.version() + 1;
        let undecided: Vec<String> = current_names
            .iter()
            .filter(|n| !choice.keep_all && !choice.keep.contains(n) && !choice.drop.contains(n))
            .cloned()
            .collect();
        if !undecided.is_empty() {
            return Err(refuse(
                dir,
                format!(
                    "targets.json version {} on the server holds target(s) the new tagging key \
                     would re-sign: {}. After a leak any of them may be the attacker's: decide \
                     for each with --keep-target NAME or --drop-target NAME (or \
                     --keep-all-targets once every one is checked)",
                    cur.version(),
                    undecided.join(", ")
                ),
            ));
        }
        let mut kept = Vec::new();
        for (name, file) in &cur.targets().targets {
            if choice.drop.contains(name) {
                continue;
            }
            kept.push(name.clone());
            targets.insert(
                name.clone(),
                serde_json::to_value(file).expect("serialises"),
            );
        }
        if let Some(d) = &cur.targets().delegations {
            delegations = serde_json::to_value(d).expect("serialises");
        }
        if !kept.is_empty() {
            lines.push(format!(
                "kept {} target(s) from targets.json version {}, re-signed: {}",
                kept.len(),
                cur.version(),
                kept.join(", ")
            ));
        }
        if !choice.drop.is_empty() {
            lines.push(format!(
                "dropped {} target(s) from targets.json version {}: {}",
                choice.drop.len(),
                cur.version(),
                choice.drop.join(", ")
            ));
        }
    }
    for (name, bytes) in &to.add_targets {
        targets.insert(
            name.clone(),
            json!({
                "hashes": {
                    "sha256": B64.encode(Sha256::digest(bytes)),
                    "sha512": B64.encode(Sha512::digest(bytes)),
                },
                "length": bytes.len(),
            }),
        );
        lines.push(format!("added target {name} ({} bytes)", bytes.len()));
    }
    let expires = format_expires(Utc::now() + chrono::Duration::days(to.expires_days.into()));
    let targets_signed = json!({
        "_type": "Targets",
        "delegations": delegations,
        "expires": expires,
        "targets": targets,
        "version": version,
    });
    let targets_bytes = sign_online(&latest, "targets", &targets_signed, gun, &to)?;
    TargetsDocument::from_slice(&targets_bytes, "targets.json")?;

    // snapshot.json, where the publisher holds the snapshot key.
    let mut files: Vec<(&str, Vec<u8>)> = Vec::new();
    let snapshot_keyids = &latest.root().roles["snapshot"].keyids;
    let publisher_snapshot = snapshot_keyids.iter().any(|id| {
        to.keystore
            .find(gun, "snapshot", id, Flavour::Notary)
            .is_some()
    });
    if publisher_snapshot {
        let current = match to.api.get(gun, "snapshot.json")? {
            Some(b) => parse_version(&b).unwrap_or(0),
            None => 0,
        };
        let meta = |bytes: &[u8]| {
            json!({
                "hashes": {
                    "sha256": B64.encode(Sha256::digest(bytes)),
                    "sha512": B64.encode(Sha512::digest(bytes)),
                },
                "length": bytes.len(),
            })
        };
        let snapshot_signed = json!({
            "_type": "Snapshot",
            "expires": expires,
            "meta": {"root": meta(&latest_bytes), "targets": meta(&targets_bytes)},
            "version": current + 1,
        });
        let bytes = sign_online(&latest, "snapshot", &snapshot_signed, gun, &to)?;
        files.push(("snapshot", bytes));
        lines.push(format!("signed snapshot.json version {}", current + 1));
    } else {
        lines.push("snapshot.json: signed by the server, which holds the snapshot key".into());
    }
    lines.push(format!(
        "signed targets.json version {version} with the tagging key of root version {}",
        latest.version()
    ));

    // Upload: intermediate roots one at a time, then the newest with the rest.
    let (last, between) = match uploads.split_last() {
        Some((last, between)) => (Some(last), between),
        None => (None, &[][..]),
    };
    for (doc, bytes) in between {
        to.api.publish(gun, &[("root", bytes)])?;
        lines.push(format!("uploaded root version {}", doc.version()));
    }
    let mut batch: Vec<(&str, &[u8])> = Vec::new();
    if let Some((_, bytes)) = last {
        batch.push(("root", bytes));
    }
    batch.push(("targets", &targets_bytes));
    for (role, bytes) in &files {
        batch.push((role, bytes));
    }
    to.api.publish(gun, &batch)?;
    if let Some((doc, _)) = last {
        lines.push(format!("uploaded root version {}", doc.version()));
    }
    // The server now serves the new root, byte for byte.
    let served = to.api.get(gun, "root.json")?.unwrap_or_default();
    if served != latest_bytes {
        return Err(Error::Remote {
            what: format!("{gun} root.json"),
            reason: "after the upload the server serves a different root than the one published"
                .into(),
        });
    }
    let path = to.keystore.set_trusted_root(gun, &latest_bytes)?;
    lines.push(format!(
        "the online side now trusts root version {} ({})",
        latest.version(),
        path.display()
    ));
    Ok(Published {
        versions: newer.iter().map(|(d, _)| d.version()).collect(),
        lines,
    })
}

fn parse_version(bytes: &[u8]) -> Option<u64> {
    let v: Value = serde_json::from_slice(bytes).ok()?;
    v["signed"]["version"].as_u64()
}

/// Sign an online role's metadata with the keys of that role in `root` found in
/// the key store, until the role's threshold is met; every signature is checked.
fn sign_online(
    root: &RootDocument,
    role: &str,
    signed: &Value,
    gun: &str,
    to: &NotaryTarget,
) -> Result<Vec<u8>> {
    let role_keys = &root.root().roles[role];
    let message = cjson::encode(signed).map_err(|e| Error::Internal(e.to_string()))?;
    let mut signatures: Vec<Signature> = Vec::new();
    let mut pass: Option<Secret> = None;
    for id in &role_keys.keyids {
        if signatures.len() as u64 >= role_keys.threshold {
            break;
        }
        let Some(path) = to.keystore.find(gun, role, id, Flavour::Notary) else {
            continue;
        };
        if pass.is_none() {
            pass = Some((to.passphrase)()?);
        }
        let mut token = SoftToken::open(&path, pass.as_ref().expect("set above"))?;
        let keyid = key_id(
            &super::keystore::key_object(token.public_key(), Flavour::Notary),
            Flavour::Notary,
        );
        signatures.push(sign_message(&message, &mut token, Flavour::Notary, keyid)?);
    }
    let check = check_role(
        &message,
        &signatures,
        &root.root().keys,
        &role_keys.keyids,
        role_keys.threshold,
        Flavour::Notary,
    );
    if !check.met() {
        return Err(Error::Usage(format!(
            "root version {} lists {} key(s) for {role} ({}), and the key store {} holds {} of them; \
             {} are needed: nothing was published (make the key with `ceremony request --new-key {role}` \
             before the ceremony)",
            root.version(),
            role_keys.keyids.len(),
            role_keys
                .keyids
                .iter()
                .map(|k| crate::tuf::verify::short(k))
                .collect::<Vec<_>>()
                .join(", "),
            to.keystore.dir().display(),
            check.valid.len(),
            role_keys.threshold
        )));
    }
    let mut out = b"{\"signed\":".to_vec();
    out.extend(&message);
    out.extend(b",\"signatures\":");
    out.extend(serde_json::to_vec(&signatures).expect("signatures serialise"));
    out.push(b'}');
    Ok(out)
}
