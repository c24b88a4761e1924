//! Batch ceremonies: one revoke-tagging-key or refresh-expiry ceremony over every
//! repository of a request bundle. The script's steps keep their meaning; the
//! root-building, review, signing, verification and export steps act on all N
//! repositories, one repository at a time, so memory stays flat in N:
//!
//! - `build-root` checks all N up front (the current root is signed by a threshold
//!   of the root keys in this room, the compromised key is listed, the replacement
//!   is not) and writes the N unsigned drafts, one per line, to `batch/drafts.jsonl`.
//!   One failing repository stops the ceremony before anything is signed.
//! - `review` reads one summary aloud.
//! - each `sign` step logs in once and signs all N drafts, in parallel sessions
//!   where the token allows; every signature is verified in software, and
//!   journalled in repository order to `batch/sig-<step>.jsonl` (synced every few
//!   hundred), so an interrupted step resumes after the last durable signature.
//! - `verify` assembles and verifies each new root against its current one and
//!   stages it in the export, with one transcript entry per repository.
//!
//! This is a child module of the engine: it uses the engine's state, transcript,
//! operator UI and token opening.

use super::pipeline::{self, Ended, Flow};
use super::{Engine, Step, io_err, rec, usage};
use crate::ceremony::script::Kind;
use crate::error::{Error, Result};
use crate::keys::PublicKey;
use crate::online::request::{Request, read_key};
use crate::transfer::bundle::{self, PACK, PACK_INDEX, PackEntry};
use crate::tuf::document::RootDocument;
use crate::tuf::edit;
use crate::tuf::key::key_id;
use crate::tuf::metadata::{Flavour, Key, Root, Signature};
use crate::tuf::sign::sign_message_checking;
use crate::tuf::verify::{ChainOptions, CheckCache, check_role_cached, short, verify_successor};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Signatures are made durable at least this often.
const SYNC_EVERY: usize = 100;

/// Distinct key IDs a batch's summary names; the rest are counted (each
/// repository's transcript entry names its own).
const SHOWN: usize = 16;

/// Distinct key IDs over a batch: the first [`SHOWN`] kept, every one counted by
/// a 64-bit hash under a key drawn for this process (so a request cannot be made
/// to collide two), about 16 bytes per key instead of the key ID.
struct Distinct {
    shown: Vec<String>,
    seen: std::collections::HashSet<u64>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for Distinct {
    fn default() -> Self {
        Distinct {
            shown: Vec::new(),
            seen: Default::default(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }
}

impl Distinct {
    fn add(&mut self, id: String) {
        use std::hash::BuildHasher;
        if self.seen.insert(self.hasher.hash_one(&id)) && self.shown.len() < SHOWN {
            self.shown.push(id);
        }
    }

    fn count(&self) -> usize {
        self.seen.len()
    }
}

/// What a batch run keeps in its state besides the engine's.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct BatchState {
    /// How many repositories.
    pub count: usize,
    /// The expiry every new root carries, fixed when the drafts were built.
    pub expires: Option<String>,
    /// The targets keys removed from, and added to, the roots: the first
    /// [`SHOWN`] distinct key IDs of each, and how many distinct there are.
    #[serde(default)]
    pub removed: Vec<String>,
    #[serde(default)]
    pub added: Vec<String>,
    #[serde(default)]
    pub removed_distinct: usize,
    #[serde(default)]
    pub added_distinct: usize,
    /// The lowest and highest new root version.
    #[serde(default)]
    pub versions: (u64, u64),
    /// SHA-256 of `batch/messages.jsonl`: what each root token signs.
    #[serde(default)]
    pub messages_sha256: Option<String>,
    /// Each root key in the room when the drafts were built (hex public key).
    #[serde(default)]
    pub room: BTreeMap<String, String>,
}

/// What the root tokens sign for one repository: the canonical bytes of its new
/// root's signed part, and the key ID each root key has in it. Written once when
/// the drafts are built, so signing does no JSON work.
#[derive(Serialize, Deserialize)]
struct ToSign {
    i: usize,
    keyids: BTreeMap<String, String>,
    /// Base64.
    message: String,
}

#[derive(Serialize, Deserialize)]
struct Draft {
    i: usize,
    repository: String,
    /// The current root the draft was built from (its name in the request, and
    /// the part of a pack holding it) and its SHA-256: its signatures by the
    /// room's root keys were checked then.
    current: String,
    #[serde(default)]
    current_part: Option<crate::online::request::Part>,
    current_sha256: String,
    root: Root,
}

#[derive(Serialize, Deserialize)]
struct Journalled {
    i: usize,
    sig: Signature,
}

fn drafts_path(work: &Path) -> PathBuf {
    work.join("batch").join("drafts.jsonl")
}

fn messages_path(work: &Path) -> PathBuf {
    work.join("batch").join("messages.jsonl")
}

fn journal_path(work: &Path, step: &str) -> PathBuf {
    work.join("batch").join(format!("sig-{step}.jsonl"))
}

/// How many signing sessions to run per token: `CEREMONY_SIGN_SESSIONS`, or the
/// number of CPUs (at most 4).
fn sessions() -> usize {
    std::env::var("CEREMONY_SIGN_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
        .clamp(1, 4)
}

fn progress_bar(total: usize, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total as u64),
        indicatif::ProgressDrawTarget::stderr_with_hz(4),
    );
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "   {msg} {bar:30} {pos}/{len} ({per_sec}, {eta} left)",
        )
        .expect("valid template"),
    );
    bar.set_message(what.to_owned());
    bar
}

/// The test-only hook `CEREMONY_TEST_CRASH=batch-signed:STEP:N`: stop once N
/// signatures of step STEP are durable. Debug builds only.
fn crash_due(step: &str, done: usize) -> bool {
    #[cfg(debug_assertions)]
    if let Ok(spec) = std::env::var("CEREMONY_TEST_CRASH") {
        return spec == format!("batch-signed:{step}:{done}");
    }
    let _ = (step, done);
    false
}

fn add_key(root: &mut Root, role: &str, id: String, key: Key) {
    root.keys.insert(id.clone(), key);
    if let Some(r) = root.roles.get_mut(role)
        && !r.keyids.contains(&id)
    {
        r.keyids.push(id);
    }
}

impl Engine<'_> {
    fn request(&self) -> Result<std::sync::Arc<Request>> {
        let dir =
            self.state.bindings.request.as_ref().ok_or_else(|| {
                usage("a batch ceremony reads its repositories from --request DIR")
            })?;
        Request::open_shared(dir)
    }

    /// The public keys of the root tokens bound for this ceremony (no PIN needed).
    fn room_root_keys(&self) -> Result<BTreeMap<String, PublicKey>> {
        let mut out = BTreeMap::new();
        for (name, spec) in &self.script.keys {
            if spec.role != super::KeyRole::Root {
                continue;
            }
            let reference = self.state.bindings.tokens.get(name).ok_or_else(|| {
                usage(format!(
                    "a batch ceremony needs every root token bound up front: --token {name}=REF"
                ))
            })?;
            out.insert(
                name.clone(),
                crate::tokens::public_key(reference, self.registry)?,
            );
        }
        Ok(out)
    }

    pub(super) fn batch_build(&mut self, step: &Step) -> Result<()> {
        let request = self.request()?;
        let kind = self.script.kind;
        let flavour = self.flavour;
        let room = self.room_root_keys()?;
        let expires = self.script.parameters.expires_at(Utc::now());
        let count = request.len();
        let path = drafts_path(&self.work.0);
        std::fs::create_dir_all(path.parent().expect("has a parent"))
            .map_err(|e| io_err(&path, e))?;
        let file = std::fs::File::create(&path).map_err(|e| io_err(&path, e))?;
        let mut out = BufWriter::new(file);
        let messages = messages_path(&self.work.0);
        let file = std::fs::File::create(&messages).map_err(|e| io_err(&messages, e))?;
        let mut to_sign = BufWriter::new(file);
        let mut problems: Vec<String> = Vec::new();
        let mut removed = Distinct::default();
        let mut added = Distinct::default();
        let (mut low, mut high) = (u64::MAX, 0u64);
        let bar = progress_bar(count, "checking");
        let ctx = BuildCtx {
            request: &request,
            room: &room,
            kind,
            flavour,
            revoke: self.state.bindings.revoke.clone(),
            expires: expires.clone(),
        };
        let ctx = &ctx;
        pipeline::ordered(
            vec![(); cpus()],
            request.repositories().enumerate(),
            // The lines are made by the workers; the sink only writes them.
            |_, (i, repo)| {
                repo.map(|repo| {
                    let check = draft_one(ctx, &repo).map(|built| drafted(i, &repo, built));
                    (repo.repository, check)
                })
            },
            |item| {
                // A request that cannot be read stops the ceremony outright.
                let (name, check) = item?;
                bar.inc(1);
                match check {
                    Ok(d) => {
                        d.removed.into_iter().for_each(|id| removed.add(id));
                        d.added.into_iter().for_each(|id| added.add(id));
                        low = low.min(d.version);
                        high = high.max(d.version);
                        writeln!(to_sign, "{}", d.to_sign).map_err(|e| io_err(&messages, e))?;
                        writeln!(out, "{}", d.draft).map_err(|e| io_err(&path, e))?;
                    }
                    Err(reason) => problems.push(format!("repository {name}: {reason}")),
                }
                Ok(Flow::Continue)
            },
        )?;
        bar.finish_and_clear();
        if !problems.is_empty() {
            drop(out);
            drop(to_sign);
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::remove_file(&messages);
            let shown: Vec<&str> = problems.iter().take(10).map(String::as_str).collect();
            return Err(usage(format!(
                "{} of {count} repositories cannot be part of this ceremony; nothing was signed:\n  {}{}",
                problems.len(),
                shown.join("\n  "),
                if problems.len() > shown.len() {
                    format!("\n  … and {} more", problems.len() - shown.len())
                } else {
                    String::new()
                }
            )));
        }
        let file = out
            .into_inner()
            .map_err(|e| io_err(&path, e.into_error()))?;
        file.sync_all().map_err(|e| io_err(&path, e))?;
        let file = to_sign
            .into_inner()
            .map_err(|e| io_err(&messages, e.into_error()))?;
        file.sync_all().map_err(|e| io_err(&messages, e))?;
        let digest = sha256_file(&path)?;
        self.state.draft_sha256 = Some(digest.clone());
        self.state.batch = Some(BatchState {
            count,
            expires: Some(expires.clone()),
            removed: removed.shown.clone(),
            added: added.shown.clone(),
            removed_distinct: removed.count(),
            added_distinct: added.count(),
            versions: (low, high),
            messages_sha256: Some(sha256_file(&messages)?),
            room: room
                .iter()
                .map(|(name, public)| (name.clone(), hex::encode(public.as_bytes())))
                .collect(),
        });
        self.ui.say(&format!(
            "{count} repositories checked; {count} new roots built (versions {low} to {high}), nothing signed yet"
        ));
        self.transcript.record(
            Some(&step.id),
            Some(&step.actor),
            &rec::BatchBuilt {
                batch: true,
                repositories: count,
                removed: removed.shown.clone(),
                removed_distinct: removed.count(),
                added: added.shown.clone(),
                added_distinct: added.count(),
                versions: (low, high),
                expires: expires.clone(),
                drafts_sha256: digest,
            },
        )?;
        Ok(())
    }

    fn batch_state(&self) -> Result<BatchState> {
        self.state
            .batch
            .clone()
            .filter(|b| b.count > 0)
            .ok_or_else(|| {
                usage("the batch drafts were not built: the build-root step comes first")
            })
    }

    /// Open the drafts (JSON lines of [`Draft`]), checking they are the ones built.
    fn drafts(&self) -> Result<impl Iterator<Item = Result<String>> + Send + use<>> {
        pinned_lines(
            drafts_path(&self.work.0),
            self.state.draft_sha256.as_deref(),
        )
    }

    /// Open what the root tokens sign (JSON lines of [`ToSign`]), checking it is
    /// what was built.
    fn messages(
        &self,
        state: &BatchState,
    ) -> Result<impl Iterator<Item = Result<String>> + Send + use<>> {
        pinned_lines(
            messages_path(&self.work.0),
            state.messages_sha256.as_deref(),
        )
    }

    pub(super) fn batch_review(&mut self, step: &Step) -> Result<()> {
        let state = self.batch_state()?;
        // The drafts are the ones built (their hash is checked).
        drop(self.drafts()?);
        let (low, high) = state.versions;
        let signers: Vec<String> = self
            .script
            .steps
            .iter()
            .filter_map(|s| s.key().map(str::to_owned))
            .collect();
        let mut text = format!(
            "Batch ceremony {} ({}) over {} repositories ({} metadata).\n",
            self.script.name,
            self.script.kind.name(),
            state.count,
            self.flavour
        );
        if self.script.kind == Kind::RevokeTaggingKey {
            // A state written before the counts were kept counts its list.
            let list = |ids: &[String], distinct: usize| {
                let distinct = distinct.max(ids.len());
                let shown: Vec<&str> = ids.iter().take(5).map(|k| short(k)).collect();
                format!(
                    "{}{} ({distinct} distinct)",
                    shown.join(", "),
                    if distinct > shown.len() { ", …" } else { "" }
                )
            };
            text.push_str(&format!(
                "targets key(s) that go: {}\n",
                list(&state.removed, state.removed_distinct)
            ));
            text.push_str(&format!(
                "targets key(s) that come: {}\n",
                list(&state.added, state.added_distinct)
            ));
        }
        text.push_str(&format!(
            "new root versions: {low} to {high} (each repository's current version + 1)\n"
        ));
        text.push_str(&format!(
            "new expiry: {}\n",
            state.expires.as_deref().unwrap_or("?")
        ));
        text.push_str(&format!(
            "signed by: {} (each logs in once and signs all {} roots)",
            signers.join(", "),
            state.count
        ));
        self.read_aloud_and_confirm(step, &text)
    }

    pub(super) fn batch_sign(&mut self, step: &Step, name: &str) -> Result<()> {
        let state = self.batch_state()?;
        let name = name.to_owned();
        let reference = self.token_ref(&step.id, &name)?;
        let journal = journal_path(&self.work.0, &step.id);
        // What is durable already: a prefix 0..done, in order (a torn last line
        // from an interruption is cut off).
        let done = recover_journal(&journal)?;
        if done == state.count {
            self.ui.say(&format!(
                "{name} had signed all {done} roots before the interruption"
            ));
            return Ok(());
        }
        self.seal_signer = None;
        let mut signer = self.open_signer(&step.id, &reference)?;
        let public = hex::encode(signer.public_key().as_bytes());
        if state.room.get(&name) != Some(&public) {
            return Err(usage(format!(
                "{name} ({}) does not hold the root key the drafts were built for: bind the same token as at the build-root step",
                signer.describe()
            )));
        }
        let flavour = self.flavour;
        let mut forks: Vec<Box<dyn crate::tokens::Signer>> = Vec::new();
        for _ in 1..sessions() {
            match signer.fork()? {
                Some(f) => forks.push(f),
                None => break,
            }
        }
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&journal)
            .map_err(|e| io_err(&journal, e))?;
        let mut out = BufWriter::new(file);
        if done > 0 {
            self.ui.say(&format!(
                "{name}: {done} of {} roots were signed before the interruption; continuing",
                state.count
            ));
        }
        self.ui.say(&format!(
            "signing {} roots with {name} on {} session(s)",
            state.count - done,
            forks.len() + 1
        ));
        let bar = progress_bar(state.count, &format!("signing with {name}"));
        bar.set_position(done as u64);
        let messages = self.messages(&state)?.skip(done);
        let messages_file = messages_path(&self.work.0);
        let mut workers: Vec<(&mut dyn crate::tokens::Signer, bool)> =
            vec![(signer.as_mut(), true)];
        for f in forks.iter_mut() {
            workers.push((f.as_mut(), true));
        }
        let mut next = done;
        let ended = pipeline::ordered(
            workers,
            messages,
            // Each session's first signature is checked here, so a token that signs
            // wrongly stops the step at once; every signature is verified in the
            // verify step, before anything is exported.
            |(session, check), line| -> Result<(usize, Signature)> {
                let m: ToSign = parse_line(&messages_file, &line?)?;
                let message = B64
                    .decode(&m.message)
                    .map_err(|e| usage(format!("{}: {e}", messages_file.display())))?;
                let keyid = m.keyids.get(&name).cloned().ok_or_else(|| {
                    usage(format!("root {}: key {name} is not a root key of it", m.i))
                })?;
                let sig = sign_message_checking(&message, &mut **session, flavour, keyid, *check)?;
                *check = false;
                Ok((m.i, sig))
            },
            |signed| {
                let (i, sig) = signed?;
                if i != next {
                    return Err(usage(format!(
                        "{}: out of order at root {next}",
                        messages_file.display()
                    )));
                }
                let line =
                    serde_json::to_string(&Journalled { i, sig }).expect("a signature serialises");
                writeln!(out, "{line}").map_err(|e| io_err(&journal, e))?;
                next += 1;
                bar.set_position(next as u64);
                if (next - done).is_multiple_of(SYNC_EVERY) {
                    out.flush().map_err(|e| io_err(&journal, e))?;
                    out.get_ref().sync_data().map_err(|e| io_err(&journal, e))?;
                    if crash_due(&step.id, next) {
                        return Ok(Flow::Stop);
                    }
                }
                Ok(Flow::Continue)
            },
        );
        // What was signed before a failure is kept: the step resumes after it. (A
        // signing failure is the error to report; the journal's own comes after.)
        let kept = out
            .flush()
            .and_then(|()| out.get_ref().sync_data())
            .map_err(|e| io_err(&journal, e));
        let ended = ended?;
        kept?;
        if ended == Ended::Stopped {
            eprintln!("test fault injection: stopping in step {}", step.id);
            std::process::exit(99);
        }
        bar.finish_and_clear();
        drop(forks);
        let signed = next;
        if signed != state.count {
            return Err(Error::Internal(format!(
                "{name} signed {signed} of {} roots",
                state.count
            )));
        }
        self.ui.say(&format!(
            "{name} signed {} roots ({})",
            state.count - done,
            signer.describe()
        ));
        self.transcript.record(
            Some(&step.id),
            Some(&step.actor),
            &rec::BatchSigned {
                key: name.to_owned(),
                token: signer.describe(),
                batch: true,
                signed: state.count - done,
                signed_before_interruption: done,
                journal_sha256: sha256_file(&journal)?,
            },
        )?;
        self.seal_signer = Some(signer);
        Ok(())
    }

    /// Assemble, verify against its current root, stage in the export, and record,
    /// every repository's new root.
    pub(super) fn batch_verify(&mut self, step: &Step) -> Result<()> {
        let state = self.batch_state()?;
        let request = self.request()?;
        let sign_steps: Vec<String> = self
            .script
            .steps
            .iter()
            .filter(|s| s.action() == super::Action::Sign)
            .map(|s| s.id.clone())
            .collect();
        let mut journals = Vec::new();
        for s in &sign_steps {
            let p = journal_path(&self.work.0, s);
            let f = std::fs::File::open(&p).map_err(|e| io_err(&p, e))?;
            journals.push((p, BufReader::new(f).lines()));
        }
        let out = self.state.bindings.out.clone();
        let options = ChainOptions {
            now: Utc::now(),
            gun: None,
        };
        let bar = progress_bar(state.count, "verifying");
        let flavour = self.flavour;
        let mut drafts = self.drafts()?;
        let drafts_file = drafts_path(&self.work.0);
        // Each draft's line with its signatures' lines, read in repository order
        // (the workers parse them).
        let mut at = 0usize;
        let jobs = std::iter::from_fn(move || {
            let d = drafts.next()?;
            at += 1;
            Some((|| -> Result<(String, Vec<(PathBuf, String)>)> {
                let d = d?;
                let mut sigs = Vec::new();
                for (p, lines) in journals.iter_mut() {
                    let line = lines
                        .next()
                        .ok_or_else(|| {
                            usage(format!(
                                "{}: ends before repository {}",
                                p.display(),
                                at - 1
                            ))
                        })?
                        .map_err(|e| io_err(p, e))?;
                    sigs.push((p.clone(), line));
                }
                Ok((d, sigs))
            })())
        });
        let request = &*request;
        let mut verified = 0usize;
        let transcript = &mut self.transcript;
        // The new roots go, in repository order, into one pack with an index line
        // each (creating one file per repository costs more than signing it). They
        // are written in the work directory, then copied into the export whole.
        let batch_dir = self.work.0.join("batch");
        let pack_path = batch_dir.join(PACK);
        let index_path = batch_dir.join(PACK_INDEX);
        let mut pack = BufWriter::with_capacity(256 << 10, super::fresh_file(&pack_path)?);
        let mut index = BufWriter::with_capacity(256 << 10, super::fresh_file(&index_path)?);
        let mut offset = 0u64;
        // Workers verify; the pack, its index and the transcript take them in order.
        let drafts_file = &drafts_file;
        pipeline::ordered(
            vec![(); cpus()],
            jobs,
            |_, job| {
                let (d, sigs) = job?;
                let d: Draft = parse_line(drafts_file, &d)?;
                let mut signatures = Vec::new();
                for (p, line) in sigs {
                    let j: Journalled = parse_line(&p, &line)?;
                    if j.i != d.i {
                        return Err(usage(format!(
                            "{}: out of order at repository {}",
                            p.display(),
                            d.i
                        )));
                    }
                    signatures.push(j.sig);
                }
                check_one(request, flavour, &options, d, signatures)
            },
            |checked| {
                let c = checked?;
                let size = c.bytes.len() as u64;
                pack.write_all(&c.bytes)
                    .map_err(|e| io_err(&pack_path, e))?;
                let line = serde_json::to_string(&PackEntry {
                    index: c.i,
                    repository: c.repository.clone(),
                    version: c.version,
                    offset,
                    size,
                    sha256: c.sha256.clone(),
                })
                .expect("an index entry serialises");
                writeln!(index, "{line}").map_err(|e| io_err(&index_path, e))?;
                transcript.record_deferred(
                    Some(&step.id),
                    Some(&step.actor),
                    &rec::Repository {
                        index: c.i,
                        repository: c.repository.clone(),
                        version: c.version,
                        signed_by: c.signed_by.clone(),
                        targets_removed: c.removed.clone(),
                        targets_added: c.added.clone(),
                        path: PACK.into(),
                        offset,
                        size,
                        sha256: c.sha256.clone(),
                    },
                )?;
                offset += size;
                verified += 1;
                bar.inc(1);
                Ok(Flow::Continue)
            },
        )?;
        bar.finish_and_clear();
        if verified != state.count {
            return Err(Error::Internal(format!(
                "verified {verified} of {} roots",
                state.count
            )));
        }
        for (path, file) in [(&pack_path, pack), (&index_path, index)] {
            let file = file
                .into_inner()
                .map_err(|e| io_err(path, e.into_error()))?;
            file.sync_all().map_err(|e| io_err(path, e))?;
        }
        self.transcript.sync()?;
        // Copied, not linked: the export must not share its bytes with a work
        // file (wiping the work directory in place would wipe the export too).
        bundle::stage_copy(&out, PACK, &pack_path)?;
        bundle::stage_copy(&out, PACK_INDEX, &index_path)?;
        bundle::sync_staged(&out)?;
        self.ui.say(&format!(
            "all {verified} new roots verify: each is signed by the threshold of its previous root's keys and of its own"
        ));
        self.transcript.record(
            Some(&step.id),
            Some(&step.actor),
            &rec::Verified {
                result: format!("{verified} roots verified"),
                steps: None,
                repositories: Some(verified),
            },
        )?;
        Ok(())
    }

    pub(super) fn batch_export(&mut self, step: &Step) -> Result<()> {
        let state = self.batch_state()?;
        let out = self.state.bindings.out.clone();
        if !bundle::is_staged(&out) {
            return Err(usage(
                "nothing is staged for the export: the verify step comes first",
            ));
        }
        self.ui.say(&format!(
            "{} new roots staged for {}; the bundle is completed with the transcript when the ceremony is sealed",
            state.count,
            out.display()
        ));
        self.transcript.record(
            Some(&step.id),
            Some(&step.actor),
            &rec::ExportStaged {
                repositories: state.count,
            },
        )?;
        Ok(())
    }
}

/// What checking and drafting one repository of a batch needs.
struct BuildCtx<'a> {
    request: &'a Request,
    room: &'a BTreeMap<String, PublicKey>,
    kind: Kind,
    flavour: Flavour,
    revoke: Vec<String>,
    expires: String,
}

thread_local! {
    /// Each worker thread's decoded root keys (a batch's roots share them).
    static CACHE: std::cell::RefCell<CheckCache> = std::cell::RefCell::new(CheckCache::default());
}

/// One repository's new root, built and checked.
struct Built {
    root: Root,
    /// SHA-256 of the current root checked.
    current_sha256: String,
    /// The targets key IDs removed and added.
    removed: Vec<String>,
    added: Option<String>,
    /// Each room root key's key ID in the new root.
    keyids: BTreeMap<String, String>,
    /// The canonical bytes of the new root's signed part.
    message: Vec<u8>,
}

/// Check one repository of a batch (its current root is ours, the compromised key
/// is listed, the replacement is not, every root key in the room is a root key of
/// it) and build its new root, or say why the repository cannot be part of the
/// ceremony.
fn draft_one(
    ctx: &BuildCtx,
    repo: &crate::online::request::RepositoryRequest,
) -> std::result::Result<Built, String> {
    let mut removed = Vec::new();
    let mut added = None;
    let latest = repo
        .current
        .last()
        .ok_or("the request holds no current root for it")?;
    let bytes = ctx.request.read(repo, latest).map_err(|e| e.to_string())?;
    let doc = RootDocument::from_slice(
        &bytes,
        &format!("{}/{latest}", ctx.request.bundle.dir().display()),
    )
    .map_err(|e| e.to_string())?;
    if doc.flavour() != ctx.flavour {
        return Err(format!("{latest} is not {} metadata", ctx.flavour));
    }
    // The anchor: the current root is signed by a threshold of the root
    // keys in this room (a root anyone could write is not enough).
    let role = &doc.root().roles["root"];
    let ours: Vec<String> = ctx
        .room
        .values()
        .filter_map(|pk| super::find_root_keyid(doc.root(), pk, ctx.flavour))
        .collect();
    let message = doc.canonical_signed().map_err(|e| e.to_string())?;
    let by_room = CACHE.with_borrow_mut(|cache| {
        cache.new_message();
        check_role_cached(
            &message,
            &doc.signatures,
            &doc.root().keys,
            &ours,
            role.threshold,
            ctx.flavour,
            cache,
        )
    });
    if !by_room.met() {
        return Err(format!(
            "its current root (version {}) is not signed by {} of the root keys in this room ({} valid): refused as not ours",
            doc.version(),
            role.threshold,
            by_room.valid.len()
        ));
    }
    let mut root = doc.root().clone();
    if ctx.kind == Kind::RevokeTaggingKey {
        if ctx.revoke.is_empty() && repo.revoke.is_empty() {
            return Err("no compromised key is named (--revoke KEYID)".into());
        }
        let given: Vec<String> = if ctx.revoke.is_empty() {
            repo.revoke.clone()
        } else {
            ctx.revoke.clone()
        };
        for g in &given {
            let id = edit::resolve_keyid(
                &root.keys,
                &root.roles["targets"].keyids,
                ctx.flavour,
                "targets",
                g,
            )
            .map_err(|e| format!("the compromised key {}: its current root's {e}", short(g)))?;
            edit::revoke(&mut root, "targets", &id, ctx.flavour)
                .map_err(|e| format!("the compromised {e}"))?;
            removed.push(id);
        }
        let key_path = repo
            .keys
            .get("targets")
            .ok_or("the request holds no replacement targets key for it")?;
        let key_bytes = ctx
            .request
            .read(repo, key_path)
            .map_err(|e| e.to_string())?;
        let key = read_key(&key_bytes, ctx.flavour).map_err(|e| format!("{key_path}: {e}"))?;
        let id = key_id(&key, ctx.flavour);
        if doc.root().keys.contains_key(&id) {
            return Err(format!(
                "the replacement targets key {} is already in its current root",
                short(&id)
            ));
        }
        added = Some(id.clone());
        add_key(&mut root, "targets", id, key);
    }
    root.version = doc.version() + 1;
    root.expires = ctx.expires.clone();
    // Validate the new root as a whole.
    let new = RootDocument::draft(root, "new root").map_err(|e| e.to_string())?;
    let mut keyids = BTreeMap::new();
    for (name, public) in ctx.room {
        let id = super::find_root_keyid(new.root(), public, ctx.flavour).ok_or_else(|| {
            format!("root key {name} in this room is not a root key of its new root")
        })?;
        keyids.insert(name.clone(), id);
    }
    let message = new.canonical_signed().map_err(|e| e.to_string())?;
    Ok(Built {
        root: new.root().clone(),
        current_sha256: hex::encode(Sha256::digest(&bytes)),
        removed,
        added,
        keyids,
        message,
    })
}

/// One repository's drafted lines: what its tokens sign, and its draft.
struct Drafted {
    version: u64,
    removed: Vec<String>,
    added: Option<String>,
    /// A [`ToSign`] line and a [`Draft`] line.
    to_sign: String,
    draft: String,
}

fn drafted(i: usize, repo: &crate::online::request::RepositoryRequest, b: Built) -> Drafted {
    let to_sign = serde_json::to_string(&ToSign {
        i,
        keyids: b.keyids,
        message: B64.encode(&b.message),
    })
    .expect("a message serialises");
    let version = b.root.version;
    let current = repo.current.last();
    let draft = serde_json::to_string(&Draft {
        i,
        repository: repo.repository.clone(),
        current: current.cloned().unwrap_or_default(),
        current_part: current.and_then(|c| repo.packed.get(c)).cloned(),
        current_sha256: b.current_sha256,
        root: b.root,
    })
    .expect("a draft serialises");
    Drafted {
        version,
        removed: b.removed,
        added: b.added,
        to_sign,
        draft,
    }
}

/// Worker threads for checking: one per CPU, up to four.
fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// One repository's new root, verified.
struct Checked {
    i: usize,
    repository: String,
    version: u64,
    signed_by: Vec<String>,
    removed: Vec<String>,
    added: Vec<String>,
    bytes: Vec<u8>,
    sha256: String,
}

/// Assemble repository `d`'s new root from its draft and signatures and verify it
/// as the next version of its current root.
fn check_one(
    request: &Request,
    flavour: Flavour,
    options: &ChainOptions,
    d: Draft,
    signatures: Vec<Signature>,
) -> Result<Checked> {
    let mut doc = RootDocument::draft(d.root, &format!("{} root", d.repository))?;
    doc.signatures = signatures;
    let latest = &d.current;
    let current_bytes = match &d.current_part {
        Some(part) => request.read_part(latest, part)?,
        None => request.bundle.read(latest)?,
    };
    // The current root must be the one whose signatures were checked when the
    // draft was built; it then need not be checked again.
    if hex::encode(Sha256::digest(&current_bytes)) != d.current_sha256 {
        return Err(usage(format!(
            "repository {}: {latest} in the request changed after the drafts were built: stop and investigate",
            d.repository
        )));
    }
    let current = RootDocument::from_slice_validated_before(&current_bytes, latest)?;
    let mut options = options.clone();
    if flavour == Flavour::Notary {
        options.gun = Some(d.repository.clone());
    }
    let before: BTreeSet<String> = current.root().roles["targets"]
        .keyids
        .iter()
        .cloned()
        .collect();
    let report = CACHE
        .with_borrow_mut(|cache| verify_successor(current, doc, &options, cache))?
        .into_inner();
    let doc = report.latest;
    let bytes = doc.to_json()?;
    let after: BTreeSet<String> = doc.root().roles["targets"].keyids.iter().cloned().collect();
    Ok(Checked {
        i: d.i,
        repository: d.repository,
        version: doc.version(),
        signed_by: doc.signatures.iter().map(|s| s.keyid.clone()).collect(),
        removed: before.difference(&after).cloned().collect(),
        added: after.difference(&before).cloned().collect(),
        sha256: hex::encode(Sha256::digest(&bytes)),
        bytes,
    })
}

/// SHA-256 of a file, in hex.
fn sha256_file(path: &Path) -> Result<String> {
    let (digest, _) = bundle::hash_file(path).map_err(|e| io_err(path, e))?;
    Ok(hex::encode(digest))
}

/// The lines of a work file an earlier step wrote, once the file is checked to be
/// the one whose SHA-256 that step pinned in the state.
fn pinned_lines(
    path: PathBuf,
    pinned: Option<&str>,
) -> Result<impl Iterator<Item = Result<String>> + Send + use<>> {
    if pinned.is_none() || pinned != Some(sha256_file(&path)?.as_str()) {
        return Err(usage(format!(
            "{} changed after it was built: stop and investigate",
            path.display()
        )));
    }
    let file = std::fs::File::open(&path).map_err(|e| io_err(&path, e))?;
    Ok(BufReader::new(file)
        .lines()
        .map(move |line| line.map_err(|e| io_err(&path, e))))
}

/// One JSON line of work file `path`.
fn parse_line<T: serde::de::DeserializeOwned>(path: &Path, line: &str) -> Result<T> {
    serde_json::from_str(line).map_err(|e| usage(format!("{}: {e}", path.display())))
}

/// Read a signature journal: the number of complete, in-order entries. A torn last
/// line (the process stopped while writing it) is cut off the file.
fn recover_journal(path: &Path) -> Result<usize> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io_err(path, e)),
    };
    let mut good = 0usize;
    let mut count = 0usize;
    for line in bytes.split_inclusive(|b| *b == b'\n') {
        if !line.ends_with(b"\n") {
            break;
        }
        match serde_json::from_slice::<Journalled>(line) {
            Ok(j) if j.i == count => {
                count += 1;
                good += line.len();
            }
            _ => break,
        }
    }
    if good != bytes.len() {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| io_err(path, e))?;
        f.set_len(good as u64).map_err(|e| io_err(path, e))?;
        f.sync_all().map_err(|e| io_err(path, e))?;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_key_ids_are_counted_and_only_the_first_few_kept() {
        let mut d = Distinct::default();
        for i in 0..10_000 {
            d.add(format!("{:064x}", i % 2500));
        }
        assert_eq!(d.count(), 2500);
        assert_eq!(d.shown.len(), SHOWN);
        assert_eq!(d.shown[3], format!("{:064x}", 3));
    }
}
