//! The step engine: runs a validated script, persisting its state after every step
//! so that `--resume` continues after a crash or power loss without generating a
//! second key or producing two different roots for the same version, and records
//! everything in the transcript.
//!
//! This module holds the loop, the state and its journal, start and resume. Each
//! step kind lives in its own module:
//!
//! | step | module |
//! |---|---|
//! | `confirm`, `check-air-gap`, `list-tokens`, `review` | `review` |
//! | `generate-key` (journaled; see `docs/threat-model.md`) | `generate`, with `backups` for software keys and `yubikey` for PIV slots |
//! | `build-root` | `build` |
//! | `sign` | `sign` |
//! | `verify` | `verify` |
//! | `export` and the end of a run | `export` |
//! | `build-targets` and the other steps of `delegation-rotate` | `targets` |
//! | every step of a batch over many repositories | `batch` (with `pipeline`) |
//!
//! Which token holds which key and opening it to sign: `signers`. The checks
//! made before anything is done: `bindings`. The read-aloud summaries:
//! `summary`.

use super::airgap;
use super::script::{Action, Fact, FlavourParam, KeyRole, Kind, Plan, Script, Step};
use super::transcript::{CeremonyMeta, Transcript, witness_words};
use super::ui::{OperatorUi, SecretKind, SecretRequest, UiError};
use crate::error::{Error, Result};
use crate::fsio;
use crate::keys::{Algorithm, PublicKey};
use crate::tokens::Signer;
use crate::tokens::pkcs11::registry::Registry;
use crate::tokens::reference::TokenRef;
use crate::tokens::soft::SoftToken;
use crate::transfer::bundle;
use crate::tuf::document::RootDocument;
use crate::tuf::edit::{self, remove_key};
use crate::tuf::key::{decode_key, key_id, notary_key, notary_x509_key, tuf_key};
use crate::tuf::metadata::{Flavour, Key, RoleKeys, Root, SPEC_VERSION, TOP_LEVEL_ROLES};
use crate::tuf::notary::build_root_certificate;
use crate::tuf::sign::{SignError, sign_root};
use crate::tuf::targets_doc::TargetsDocument;
use crate::tuf::verify::{ChainOptions, fingerprint, short, verify_chain};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Map, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

mod backups;
mod batch;
mod bindings;
mod build;
mod event;
mod export;
mod generate;
mod pipeline;
mod review;
mod sign;
mod signers;
mod summary;
mod targets;
mod verify;
mod witness;
mod yubikey;

use backups::*;
use bindings::*;
use build::*;
use export::*;
use signers::*;
pub use summary::{summary, targets_summary};
use targets::*;

const STATE_FORMAT: &str = "ceremony-state/2";

/// Transcript entries: what the engine records (see `docs/transcript.md`).
use super::transcript::payload as rec;

/// How a run is bound to the world: which token holds which key, where the
/// current roots and the online keys come from, where the export goes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Bindings {
    /// Script key name → token reference (`soft:…`, `pkcs11:…`).
    pub tokens: BTreeMap<String, String>,
    /// Script key name → a JSON key object file (public keys of online roles).
    pub keyfiles: BTreeMap<String, PathBuf>,
    /// The current root chain: a directory of `N.root.json`, or one root file.
    pub current: Option<PathBuf>,
    /// Key IDs (or unique prefixes) of compromised targets keys to remove.
    pub revoke: Vec<String>,
    /// The export directory (must not exist when the export step runs).
    pub out: PathBuf,
    /// Recorded when the air-gap check is overridden (rehearsals).
    pub allow_network: bool,
    /// delegation-rotate: the current (offline) targets metadata.
    #[serde(default)]
    pub targets: Option<PathBuf>,
    /// The root the key holders already trust (from offline storage, e.g. the
    /// previous ceremony's export): the current chain must continue from it.
    #[serde(default)]
    pub trusted: Option<PathBuf>,
    /// Script key name → backup recipients: `age1…` (a custodian's X25519 public
    /// key) or `passphrase:CUSTODIAN` (a passphrase that custodian types).
    #[serde(default)]
    pub backups: BTreeMap<String, Vec<String>>,
    /// Where backups are written (the custodians' media; never the export).
    #[serde(default)]
    pub backup_dir: Option<PathBuf>,
    /// The request bundle the online keys and current chain came from.
    #[serde(default)]
    pub request: Option<PathBuf>,
    /// One ceremony over every repository of the request bundle.
    #[serde(default)]
    pub batch: bool,
    /// Which of the repository's current targets the new tagging key re-signs, as
    /// decided from the request's review (recorded, read aloud and exported).
    #[serde(default)]
    pub targets_decision: Option<crate::online::review::TargetsDecision>,
    /// The script file as approved (byte for byte) and the parameters the run set
    /// over it (`--set`, or the request bundle): exported as `script.toml`.
    #[serde(default)]
    pub approved_script: Option<ApprovedScript>,
    /// root-countersign: the previous site's export of the signing event.
    #[serde(default)]
    pub previous: Option<PathBuf>,
    /// Witness participant → the key they sign the final transcript hash with:
    /// a token reference (`soft:…`, `pkcs11:…`, `yubikey:…`) or `ssh:PATH` (an
    /// OpenSSH private key; the signature is an `sshsig`).
    #[serde(default)]
    pub witnesses: BTreeMap<String, String>,
}

/// The script file as approved, before any parameter was set over it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApprovedScript {
    pub text: String,
    pub sha256: String,
    /// Parameters set over it: `--set KEY=VALUE`, and those a request bundle gives.
    pub overrides: BTreeMap<String, String>,
}

/// The approved script's file in an export.
pub const APPROVED_SCRIPT: &str = "script.toml";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct KeyRecord {
    token: String,
    algorithm: String,
    public: String,
}

/// A key generation the journal declared and has not seen committed.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PendingKey {
    /// The PKCS#11 ID (hex) chosen for the key, or `soft`, or `yubikey`.
    id: String,
    /// Set once the pair was made and checked, before it got its label.
    #[serde(default)]
    made: Option<MadeKey>,
    /// PKCS#11: how many objects with neither ID nor label the token held right
    /// before the pair was made.
    #[serde(default)]
    unidentified_before: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct MadeKey {
    algorithm: String,
    public: String,
    evidence: serde_json::Value,
}

impl MadeKey {
    fn public_key(&self) -> Result<PublicKey> {
        let raw = hex::decode(&self.public)
            .map_err(|_| Error::Internal("state: public key not hex".into()))?;
        let alg = Algorithm::parse(&self.algorithm).map_err(|e| Error::Internal(e.to_string()))?;
        PublicKey::from_bytes(alg, &raw).map_err(|e| Error::Internal(e.to_string()))
    }
}

/// Everything the engine needs to resume, written after every step.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    format: String,
    script_sha256: String,
    bindings: Bindings,
    completed: Vec<String>,
    keys: BTreeMap<String, KeyRecord>,
    /// The journal of key generations: started and not yet recorded as done.
    #[serde(default)]
    pending: BTreeMap<String, PendingKey>,
    /// SHA-256 of every current root file, as checked when the ceremony began.
    #[serde(default)]
    current_sha256: Vec<String>,
    /// SHA-256 of the new metadata's signed bytes, fixed when it was built.
    #[serde(default)]
    draft_sha256: Option<String>,
    /// Batch runs: how many repositories, the expiry they share.
    #[serde(default)]
    batch: Option<batch::BatchState>,
    /// Participant → the name they typed at sign-in (asked again at sign-out).
    #[serde(default)]
    signed_in: BTreeMap<String, String>,
    /// root-countersign: the key IDs whose signatures the imported draft carried.
    #[serde(default)]
    imported: Vec<String>,
    /// root-countersign: the bundle hash of the previous export the ceremony
    /// began with (the same export must be there at import and export).
    #[serde(default)]
    previous_bundle: Option<String>,
}

/// Where a run keeps its files.
struct Workdir(PathBuf);

/// What a work directory holds, as far as starting or resuming goes.
enum WorkdirContents {
    Absent,
    Empty,
    /// A ceremony that can be resumed (its state file exists).
    Ceremony,
    /// Only what a start writes before its state file (the script copy, the
    /// transcript's first entries, temporaries): a start that was killed.
    StartInterrupted(Vec<PathBuf>),
    /// Anything else.
    Other,
}

impl Workdir {
    fn contents(&self) -> Result<WorkdirContents> {
        let entries = match std::fs::read_dir(&self.0) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(WorkdirContents::Absent);
            }
            Err(e) => return Err(io_err(&self.0, e)),
        };
        let mut leftovers = Vec::new();
        let mut other = false;
        for entry in entries {
            let entry = entry.map_err(|e| io_err(&self.0, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "state.json" {
                return Ok(WorkdirContents::Ceremony);
            }
            let is_file = entry.file_type().is_ok_and(|t| t.is_file());
            if is_file
                && (name == "script.toml"
                    || name == "transcript.jsonl"
                    || fsio::is_temp_name(&name))
            {
                leftovers.push(entry.path());
            } else {
                other = true;
            }
        }
        // A start creates the transcript before it copies the script.
        let script_without_transcript = leftovers.iter().any(|p| p.ends_with("script.toml"))
            && !leftovers.iter().any(|p| p.ends_with("transcript.jsonl"));
        Ok(if other || script_without_transcript {
            WorkdirContents::Other
        } else if leftovers.is_empty() {
            WorkdirContents::Empty
        } else {
            WorkdirContents::StartInterrupted(leftovers)
        })
    }

    fn state(&self) -> PathBuf {
        self.0.join("state.json")
    }
    fn transcript(&self) -> PathBuf {
        self.0.join("transcript.jsonl")
    }
    fn draft(&self) -> PathBuf {
        self.0.join("new.root.json")
    }
    fn targets_draft(&self) -> PathBuf {
        self.0.join("new.targets.json")
    }
}

fn usage(msg: impl Into<String>) -> Error {
    Error::Usage(msg.into())
}

fn ui_err(e: UiError) -> Error {
    match e {
        UiError::Terminal(m) => Error::Internal(m),
        other => Error::Usage(other.to_string()),
    }
}

fn io_err(path: &Path, e: std::io::Error) -> Error {
    Error::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// The test-only fault-injection hook: `CEREMONY_TEST_CRASH=before-commit:STEP`
/// (the step's effects are on disk, its completion is not) or
/// `after-commit:STEP`. Only debug (test) builds honour it.
fn crash_point(when: &str, step: &str) {
    #[cfg(debug_assertions)]
    if let Ok(spec) = std::env::var("CEREMONY_TEST_CRASH")
        && spec == format!("{when}:{step}")
    {
        eprintln!("test fault injection: stopping {when} step {step}");
        std::process::exit(99);
    }
    let _ = (when, step);
}

/// A ceremony run.
pub struct Engine<'a> {
    script: Script,
    work: Workdir,
    state: State,
    transcript: Transcript,
    ui: &'a mut dyn OperatorUi,
    flavour: Flavour,
    current: Vec<RootDocument>,
    /// The last root key that signed in this process: it signs the transcript seal.
    seal_signer: Option<Box<dyn Signer>>,
    /// delegation-rotate: the current targets metadata (verified).
    current_targets: Option<TargetsDocument>,
    /// The step running now (its ID), for messages.
    running: Option<String>,
    /// The PKCS#11 modules of this run.
    registry: &'a Registry,
}

impl<'a> Engine<'a> {
    /// Start a new run in `workdir` (which must not exist, or be empty).
    pub fn start(
        script_text: &str,
        script_name: &str,
        workdir: &Path,
        bindings: Bindings,
        ui: &'a mut dyn OperatorUi,
        registry: &'a Registry,
    ) -> Result<Self> {
        let script = Script::parse(script_text, script_name).map_err(|e| usage(e.to_string()))?;
        let script_sha256 = hex::encode(Sha256::digest(script_text.as_bytes()));
        let flavour = flavour_of(&script);
        // Validate everything before anything is done.
        let (current, current_targets) =
            check_all_bindings(&script, &bindings, ui.interactive(), registry)?;
        witness::check_witnesses(&script, &bindings, registry)?;
        let work = Workdir(workdir.to_owned());
        match work.contents()? {
            WorkdirContents::Absent | WorkdirContents::Empty => {}
            WorkdirContents::StartInterrupted(files) => {
                // A start killed before its state was written did nothing but
                // write these: it is started again from nothing.
                for f in files {
                    std::fs::remove_file(&f).map_err(|e| io_err(&f, e))?;
                }
            }
            WorkdirContents::Ceremony | WorkdirContents::Other => {
                return Err(usage(format!(
                    "{} is not empty: it holds another run (continue it with --resume, or choose a new --workdir)",
                    workdir.display()
                )));
            }
        }
        std::fs::create_dir_all(workdir).map_err(|e| io_err(workdir, e))?;
        let mut meta = CeremonyMeta::new(script.name.clone(), script_sha256.clone());
        if let Some(approved) = &bindings.approved_script {
            meta.extra.insert(
                "approved_script_sha256".into(),
                json!(approved.sha256.clone()),
            );
            meta.extra
                .insert("overrides".into(), json!(approved.overrides.clone()));
        }
        meta.extra.insert("kind".into(), json!(script.kind.name()));
        let (site, previous_bundle) = event::begin_parameter(&script, &bindings)?;
        if let Some(site) = site {
            meta.extra
                .insert(crate::ceremony::event::BEGIN_PARAMETER.into(), site);
        }
        meta.extra.insert("flavour".into(), json!(flavour.name()));
        meta.extra
            .insert("repository".into(), json!(script.parameters.repository));
        meta.extra.insert(
            "participants".into(),
            json!(script
                .participants
                .iter()
                .map(|p| json!({"id": p.id, "role": format!("{:?}", p.role).to_lowercase(), "title": p.title}))
                .collect::<Vec<_>>()),
        );
        // The transcript is created first: a `script.toml` with no transcript
        // beside it was put there by someone else and is never removed.
        let mut transcript = Transcript::create(&work.transcript(), &meta)?;
        fsio::replace(&workdir.join("script.toml"), script_text.as_bytes(), 0o644)?;
        if let Some(dir) = &bindings.request {
            let request = crate::online::request::Request::open_shared(dir)?;
            transcript.record(
                None,
                None,
                &rec::RequestInput {
                    request_bundle: dir.display().to_string(),
                    bundle_hash: request.bundle.hash().to_owned(),
                },
            )?;
        }
        if let Some(decision) = &bindings.targets_decision {
            transcript.record(
                None,
                None,
                &rec::TargetsDecided {
                    targets_decision: decision.clone(),
                },
            )?;
        }
        let file_input = |path: &std::path::Path| -> Result<(String, String)> {
            let bytes = crate::inputs::read_file(path)?;
            Ok((
                path.display().to_string(),
                hex::encode(Sha256::digest(&bytes)),
            ))
        };
        if let Some(path) = &bindings.trusted {
            let (trusted_root, sha256) = file_input(path)?;
            transcript.record(
                None,
                None,
                &rec::FileInput::TrustedRoot {
                    trusted_root,
                    sha256,
                },
            )?;
        }
        if let Some(path) = &bindings.targets {
            let (current_targets, sha256) = file_input(path)?;
            transcript.record(
                None,
                None,
                &rec::FileInput::CurrentTargets {
                    current_targets,
                    sha256,
                },
            )?;
        }
        for (i, doc) in current.iter().enumerate() {
            let bytes = doc.to_json()?;
            transcript.record(
                None,
                None,
                &rec::CurrentRoot {
                    file: doc.name.clone(),
                    version: doc.version(),
                    sha256: hex::encode(Sha256::digest(&bytes)),
                    roles: (i + 1 == current.len()).then(|| role_keys(doc.root())),
                },
            )?;
        }
        let state = State {
            format: STATE_FORMAT.into(),
            script_sha256,
            bindings,
            completed: Vec::new(),
            keys: BTreeMap::new(),
            pending: BTreeMap::new(),
            current_sha256: Vec::new(),
            draft_sha256: None,
            batch: None,
            signed_in: BTreeMap::new(),
            imported: Vec::new(),
            previous_bundle: None,
        };
        let mut state = state;
        state.current_sha256 = current_hashes(&current)?;
        state.previous_bundle = previous_bundle;
        let engine = Engine {
            script,
            work,
            state,
            transcript,
            ui,
            flavour,
            current,
            seal_signer: None,
            current_targets,
            running: None,
            registry,
        };
        engine.save_state()?;
        Ok(engine)
    }

    /// Continue an interrupted run from its last completed step.
    /// Continue an interrupted ceremony. `allow_network` is this run's
    /// `--allow-network`: the air gap is checked again at every resume, and a
    /// networked machine needs the override again (recorded again).
    pub fn resume(
        workdir: &Path,
        allow_network: bool,
        ui: &'a mut dyn OperatorUi,
        registry: &'a Registry,
    ) -> Result<Self> {
        let work = Workdir(workdir.to_owned());
        match work.contents()? {
            WorkdirContents::Ceremony => {}
            WorkdirContents::StartInterrupted(_) | WorkdirContents::Empty => {
                return Err(usage(format!(
                    "{}: the ceremony stopped while it was starting, before its first step, and nothing was done; \
                     start it again with the same command without --resume (this work directory is reused)",
                    workdir.display()
                )));
            }
            WorkdirContents::Absent | WorkdirContents::Other => {
                return Err(usage(format!(
                    "{}: no ceremony state to resume; start the ceremony without --resume",
                    work.state().display()
                )));
            }
        }
        // Temporary files of writes the interruption cut short.
        fsio::remove_temps(workdir, false).map_err(|e| io_err(workdir, e))?;
        let state_bytes =
            fsio::read_regular(&work.state()).map_err(|e| io_err(&work.state(), e))?;
        let state: State = serde_json::from_slice(&state_bytes)
            .map_err(|e| usage(format!("{}: unreadable state: {e}", work.state().display())))?;
        if state.format != STATE_FORMAT {
            return Err(usage(format!(
                "{}: unknown state format",
                work.state().display()
            )));
        }
        let script_path = workdir.join("script.toml");
        let script_text =
            std::fs::read_to_string(&script_path).map_err(|e| io_err(&script_path, e))?;
        if hex::encode(Sha256::digest(script_text.as_bytes())) != state.script_sha256 {
            return Err(usage(format!(
                "{} changed since the ceremony started; a ceremony resumes only with the script it began with",
                script_path.display()
            )));
        }
        let script = Script::parse(&script_text, &script_path.display().to_string())
            .map_err(|e| usage(e.to_string()))?;
        let flavour = flavour_of(&script);
        let (current, current_targets) =
            check_all_bindings(&script, &state.bindings, ui.interactive(), registry)?;
        if current_hashes(&current)? != state.current_sha256 {
            return Err(usage(
                "the current roots changed since the ceremony began; resume only with the same --current files",
            ));
        }
        let mut transcript = Transcript::open_for_append(&work.transcript())?;
        transcript.record(
            None,
            None,
            &rec::Interruption {
                completed_steps: state.completed.clone(),
                next_step: script
                    .steps
                    .iter()
                    .map(|s| s.id.clone())
                    .find(|id| !state.completed.contains(id)),
            },
        )?;
        transcript.record(None, None, &rec::Resume {})?;
        let mut state = state;
        state.bindings.allow_network = allow_network;
        let engine = Engine {
            script,
            work,
            state,
            transcript,
            ui,
            flavour,
            current,
            seal_signer: None,
            current_targets,
            running: None,
            registry,
        };
        engine.save_state()?;
        let mut engine = engine;
        engine.deviation(
            "interruption",
            "Why the ceremony stopped, and why it may go on",
            "power cut; every token stayed in view",
        )?;
        engine.check_air_gap_on_resume()
    }

    fn save_state(&self) -> Result<()> {
        save_state(&self.work, &self.state)
    }

    /// Run every step not yet completed, then seal the transcript and finish the
    /// export. Returns the transcript's final hash.
    pub fn run(mut self) -> Result<String> {
        let total = self.script.steps.len();
        let steps = self.script.steps.clone();
        for (i, step) in steps.iter().enumerate() {
            if self.state.completed.contains(&step.id) {
                continue;
            }
            let actor = self.script.participant(&step.actor).ok_or_else(|| {
                usage(format!(
                    "step {}: actor {} is not a participant",
                    step.id, step.actor
                ))
            })?;
            let actor_desc = match &actor.title {
                Some(t) => format!("{} ({:?}, {t})", actor.id, actor.role).to_lowercase(),
                None => format!("{} ({:?})", actor.id, actor.role).to_lowercase(),
            };
            self.ui
                .header(i + 1, total, &title(step, self.script.kind), &actor_desc);
            self.transcript.record(
                Some(&step.id),
                Some(&step.actor),
                &rec::StepStart {
                    action: format!("{:?}", step.action()),
                    number: i + 1,
                    of: total,
                },
            )?;
            self.running = Some(step.id.clone());
            if let Err(e) = self.step(step) {
                let _ = self.transcript.record(
                    Some(&step.id),
                    Some(&step.actor),
                    &rec::Failed {
                        error: super::transcript::one_line(&e.to_string()),
                    },
                );
                return Err(e);
            }
            crash_point("before-commit", &step.id);
            self.state.completed.push(step.id.clone());
            self.save_state()?;
            self.transcript
                .record(Some(&step.id), Some(&step.actor), &rec::StepDone {})?;
            crash_point("after-commit", &step.id);
        }
        if self.event_mode() && self.seal_signer.is_none() {
            // A signing event's transcripts are sealed by a root key that signed
            // at the site (the next site checks it): after a resume, the last
            // key that signed here is opened again for the seal.
            let last_sign = self.script.steps.iter().rev().find_map(|s| match &s.plan {
                Plan::Sign { key } => Some(key.clone()),
                _ => None,
            });
            if let Some(key) = last_sign {
                self.ui.say(&format!(
                    "a signing event's transcript is sealed by a root key that signed here: \
                     key {key} signs the seal"
                ));
                let reference = self.token_ref("seal", &key)?;
                self.seal_signer = Some(self.open_signer("seal", &reference)?);
            }
        }
        let out = self.state.bindings.out.clone();
        let mut seal_signer = self.seal_signer.take();
        match &seal_signer {
            Some(signer) => self.ui.say(&format!(
                "sealing the transcript with {}",
                signer.describe()
            )),
            None => self.ui.say(
                "the transcript seal is not signed: no key signed in this session (its hash chain and the witnessed hash still protect it)",
            ),
        }
        let signer: Option<&mut dyn Signer> = match seal_signer.as_mut() {
            Some(s) => Some(s.as_mut()),
            None => None,
        };
        let sealed = self.transcript.seal(signer)?;
        crash_point("before-finish", "seal");
        witness::sign_witnesses(
            &out,
            &sealed.final_hash.to_hex(),
            &self.state.bindings,
            &self.state.signed_in,
            &mut *self.ui,
            self.registry,
        )?;
        let repositories = bundle_repositories(&self.script, &self.state.bindings)?;
        crate::online::request::Request::close_shared();
        finish(
            &sealed.path,
            &out,
            (&self.script, self.flavour, repositories),
            &mut *self.ui,
        )
    }

    /// Finish a run whose transcript was sealed before an interruption: the
    /// export gets the transcript and its report, and the final hash is shown.
    pub fn finish_sealed(
        workdir: &Path,
        ui: &mut dyn OperatorUi,
        registry: &Registry,
    ) -> Result<Option<String>> {
        let work = Workdir(workdir.to_owned());
        let sealed = match super::transcript::check_file_with(
            &work.transcript(),
            &super::transcript::VerifyOptions::default(),
        ) {
            Ok(report) if report.sealed => report,
            _ => return Ok(None),
        };
        let state: State = serde_json::from_slice(
            &std::fs::read(work.state()).map_err(|e| io_err(&work.state(), e))?,
        )
        .map_err(|e| usage(format!("{}: unreadable state: {e}", work.state().display())))?;
        ui.say(
            "the ceremony was complete and sealed before the interruption; finishing the export",
        );
        let text = std::fs::read_to_string(work.0.join("script.toml"))
            .map_err(|e| io_err(&work.0.join("script.toml"), e))?;
        let script = Script::parse(&text, "script.toml").map_err(|e| usage(e.to_string()))?;
        let flavour = flavour_of(&script);
        let repositories = bundle_repositories(&script, &state.bindings)?;
        crate::online::request::Request::close_shared();
        if bundle::is_staged(&state.bindings.out) {
            witness::sign_witnesses(
                &state.bindings.out,
                &sealed.final_hash.to_hex(),
                &state.bindings,
                &state.signed_in,
                ui,
                registry,
            )?;
        }
        finish(
            &sealed.path,
            &state.bindings.out,
            (&script, flavour, repositories),
            ui,
        )
        .map(Some)
    }

    fn step(&mut self, step: &Step) -> Result<()> {
        let batch = self.state.bindings.batch;
        let delegating = self.delegating();
        match &step.plan {
            Plan::Confirm { text } => {
                if self.script.kind == Kind::RevokeTaggingKey {
                    // What the room confirms against the incident ticket is shown
                    // first, in full: the key to remove and its replacement.
                    for line in self.incident_facts()? {
                        self.ui.say(&line);
                    }
                }
                let refusal = format!(
                    "not confirmed: {text:?}; nothing was signed (resume with --resume once resolved)"
                );
                self.confirm_recorded(step, text, &refusal, None)?;
            }
            Plan::CheckAirGap => self.check_air_gap(step)?,
            Plan::ListTokens => self.list_tokens(step)?,
            Plan::GenerateKey { key } => self.generate(step, key)?,
            Plan::BuildRoot if batch => self.batch_build(step)?,
            Plan::Review if batch => self.batch_review(step)?,
            Plan::Sign { key } if batch => self.batch_sign(step, key)?,
            Plan::Verify if batch => self.batch_verify(step)?,
            Plan::Export if batch => self.batch_export(step)?,
            Plan::BuildRoot if self.script.kind == Kind::RootCountersign => {
                self.import_event(step)?
            }
            Plan::BuildRoot => self.build_root(step)?,
            Plan::BuildTargets => self.build_targets(step)?,
            Plan::Review if delegating => self.review_targets(step)?,
            Plan::Sign { key } if delegating => self.sign_targets(step, key)?,
            Plan::Verify if delegating => self.verify_targets(step)?,
            Plan::Export if delegating => self.export_targets(step)?,
            Plan::Review => self.review(step)?,
            Plan::Sign { key } => self.sign(step, key)?,
            Plan::Verify if self.event_mode() => self.verify_event(step)?,
            Plan::Export if self.event_mode() => self.export_event(step)?,
            Plan::Verify => self.verify(step)?,
            Plan::Export => self.export(step)?,
            Plan::Record(fact) => self.record_fact(step, fact)?,
            Plan::SignIn => self.sign_in(step)?,
            Plan::SignOut => self.sign_out(step)?,
        }
        Ok(())
    }

    fn secret(
        &mut self,
        step: &str,
        token: &str,
        kind: SecretKind,
        confirm: bool,
    ) -> Result<crate::secret::Secret> {
        self.ui
            .secret(
                step,
                &SecretRequest {
                    token: token.to_owned(),
                    kind,
                    status: None,
                    test_token: false,
                    confirm,
                },
            )
            .map_err(ui_err)
    }
}

/// Each role of a root: its key IDs and threshold, as the transcript records them.
fn role_keys(root: &Root) -> BTreeMap<String, rec::RoleKeys> {
    root.roles
        .iter()
        .map(|(r, k)| {
            (
                r.clone(),
                rec::RoleKeys {
                    keyids: k.keyids.clone(),
                    threshold: k.threshold,
                },
            )
        })
        .collect()
}

fn save_state(work: &Workdir, state: &State) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(state).expect("state serialises");
    fsio::replace(&work.state(), &bytes, 0o600)?;
    Ok(())
}

fn title(step: &Step, kind: Kind) -> String {
    match step.action() {
        Action::Confirm => "confirm".into(),
        Action::CheckAirGap => "air-gap check".into(),
        Action::ListTokens => "tokens and keys".into(),
        Action::GenerateKey => format!("generate key {}", step.key().unwrap_or("")),
        Action::BuildRoot if kind == Kind::RootCountersign => "import the root being signed".into(),
        Action::BuildRoot => "build the new root".into(),
        Action::BuildTargets => "build the new targets metadata".into(),
        Action::Review => "read the new root aloud".into(),
        Action::Sign => format!("sign with key {}", step.key().unwrap_or("")),
        Action::Verify => "verify".into(),
        Action::Export => "export".into(),
        Action::Record => "record".into(),
        Action::SignIn => "sign in".into(),
        Action::SignOut => "sign out".into(),
    }
}
