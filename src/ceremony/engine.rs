//! The step engine: runs a validated script, persisting its state after every step
//! so that `--resume` continues after a crash or power loss without generating a
//! second key or producing two different roots for the same version, and records
//! everything in the transcript.

use super::airgap;
use super::script::{Action, FlavourParam, Kind, Script, Step};
use super::transcript::{CeremonyMeta, Transcript, witness_words};
use super::ui::{OperatorUi, SecretKind, SecretRequest, UiError};
use crate::error::{Error, Result};
use crate::fsio;
use crate::keys::{Algorithm, PublicKey};
use crate::tokens::Signer;
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

#[path = "batch.rs"]
mod batch;
#[path = "pipeline.rs"]
mod pipeline;
#[path = "engine_yubikey.rs"]
mod yubikey_steps;

const STATE_FORMAT: &str = "ceremony-state/2";

/// Transcript entry kinds the engine writes (see `docs/transcript.md`).
mod tkind {
    pub use crate::ceremony::transcript::kind::*;
    pub const STEP_DONE: &str = "step-done";
    pub const AIR_GAP: &str = "air-gap";
    pub const ROOT_BUILT: &str = "root-built";
    pub const VERIFIED: &str = "verified";
    pub const INPUT: &str = "input";
    pub const KEY_DISCARDED: &str = "key-discarded";
}

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
}

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
        Ok(if other {
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
}

impl<'a> Engine<'a> {
    /// Start a new run in `workdir` (which must not exist, or be empty).
    pub fn start(
        script_text: &str,
        script_name: &str,
        workdir: &Path,
        bindings: Bindings,
        ui: &'a mut dyn OperatorUi,
    ) -> Result<Self> {
        let script = Script::parse(script_text, script_name).map_err(|e| usage(e.to_string()))?;
        let script_sha256 = hex::encode(Sha256::digest(script_text.as_bytes()));
        let flavour = flavour_of(&script);
        // Validate everything before anything is done.
        let (current, current_targets) = if bindings.batch {
            check_batch_bindings(&script, &bindings)?;
            (Vec::new(), None)
        } else {
            check_bindings(&script, &bindings, ui.interactive())?
        };
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
        fsio::replace(&workdir.join("script.toml"), script_text.as_bytes(), 0o644)?;
        let mut meta = CeremonyMeta::new(script.name.clone(), script_sha256.clone());
        meta.extra.insert("kind".into(), json!(script.kind.name()));
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
        let mut transcript = Transcript::create(&work.transcript(), &meta)?;
        if let Some(dir) = &bindings.request {
            let request = crate::online::request::Request::open_shared(dir)?;
            transcript.append(
                tkind::INPUT,
                None,
                None,
                json!({"request_bundle": dir.display().to_string(), "bundle_hash": request.bundle.hash()}),
            )?;
        }
        for (field, given) in [
            ("trusted_root", &bindings.trusted),
            ("current_targets", &bindings.targets),
        ] {
            if let Some(path) = given {
                let bytes = crate::commands::read_file(path)?;
                transcript.append(
                    tkind::INPUT,
                    None,
                    None,
                    json!({field: path.display().to_string(), "sha256": hex::encode(Sha256::digest(&bytes))}),
                )?;
            }
        }
        for doc in &current {
            let bytes = doc.to_json()?;
            transcript.append(
                tkind::INPUT,
                None,
                None,
                json!({"file": doc.name, "version": doc.version(), "sha256": hex::encode(Sha256::digest(&bytes))}),
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
        };
        let mut state = state;
        state.current_sha256 = current_hashes(&current)?;
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
        };
        engine.save_state()?;
        Ok(engine)
    }

    /// Continue an interrupted run from its last completed step.
    pub fn resume(workdir: &Path, ui: &'a mut dyn OperatorUi) -> Result<Self> {
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
        let (current, current_targets) = if state.bindings.batch {
            check_batch_bindings(&script, &state.bindings)?;
            (Vec::new(), None)
        } else {
            check_bindings(&script, &state.bindings, ui.interactive())?
        };
        if current_hashes(&current)? != state.current_sha256 {
            return Err(usage(
                "the current roots changed since the ceremony began; resume only with the same --current files",
            ));
        }
        let mut transcript = Transcript::open_for_append(&work.transcript())?;
        transcript.append(
            tkind::INTERRUPTION,
            None,
            None,
            json!({"completed_steps": state.completed, "next_step": script.steps.iter().map(|s| s.id.clone()).find(|id| !state.completed.contains(id))}),
        )?;
        transcript.append(tkind::RESUME, None, None, json!({}))?;
        Ok(Engine {
            script,
            work,
            state,
            transcript,
            ui,
            flavour,
            current,
            seal_signer: None,
            current_targets,
        })
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
            let actor = self.script.participant(&step.actor);
            let actor_desc = match &actor.title {
                Some(t) => format!("{} ({:?}, {t})", actor.id, actor.role).to_lowercase(),
                None => format!("{} ({:?})", actor.id, actor.role).to_lowercase(),
            };
            self.ui.header(i + 1, total, &title(step), &actor_desc);
            self.transcript.append(
                tkind::STEP_START,
                Some(&step.id),
                Some(&step.actor),
                json!({"action": format!("{:?}", step.action), "number": i + 1, "of": total}),
            )?;
            if let Err(e) = self.step(step) {
                let _ = self.transcript.append(
                    tkind::ERROR,
                    Some(&step.id),
                    Some(&step.actor),
                    json!({"error": super::transcript::one_line(&e.to_string())}),
                );
                return Err(e);
            }
            crash_point("before-commit", &step.id);
            self.state.completed.push(step.id.clone());
            self.save_state()?;
            self.transcript.append(
                tkind::STEP_DONE,
                Some(&step.id),
                Some(&step.actor),
                json!({}),
            )?;
            crash_point("after-commit", &step.id);
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
    pub fn finish_sealed(workdir: &Path, ui: &mut dyn OperatorUi) -> Result<Option<String>> {
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
        finish(
            &sealed.path,
            &state.bindings.out,
            (&script, flavour, repositories),
            ui,
        )
        .map(Some)
    }

    fn step(&mut self, step: &Step) -> Result<()> {
        match step.action {
            Action::Confirm => {
                let text = step.text.as_deref().unwrap_or_default();
                let refusal = format!(
                    "not confirmed: {text:?}; nothing was signed (resume with --resume once resolved)"
                );
                self.confirm_recorded(step, text, &refusal, json!({}))?;
            }
            Action::CheckAirGap => self.check_air_gap(step)?,
            Action::ListTokens => self.list_tokens(step)?,
            Action::GenerateKey => self.generate(step)?,
            Action::BuildRoot if self.state.bindings.batch => self.batch_build(step)?,
            Action::Review if self.state.bindings.batch => self.batch_review(step)?,
            Action::Sign if self.state.bindings.batch => self.batch_sign(step)?,
            Action::Verify if self.state.bindings.batch => self.batch_verify(step)?,
            Action::Export if self.state.bindings.batch => self.batch_export(step)?,
            Action::BuildRoot => self.build_root(step)?,
            Action::BuildTargets => self.build_targets(step)?,
            Action::Review if self.delegating() => self.review_targets(step)?,
            Action::Sign if self.delegating() => self.sign_targets(step)?,
            Action::Verify if self.delegating() => self.verify_targets(step)?,
            Action::Export if self.delegating() => self.export_targets(step)?,
            Action::Review => self.review(step)?,
            Action::Sign => self.sign(step)?,
            Action::Verify => self.verify(step)?,
            Action::Export => self.export(step)?,
        }
        Ok(())
    }

    fn check_air_gap(&mut self, step: &Step) -> Result<()> {
        let report = airgap::check_this_machine();
        let text = report.to_string();
        for line in text.lines() {
            self.ui.say(line);
        }
        if report.is_air_gapped() {
            self.transcript.append(
                tkind::AIR_GAP,
                Some(&step.id),
                Some(&step.actor),
                json!({"air_gapped": true}),
            )?;
            return Ok(());
        }
        if self.state.bindings.allow_network {
            self.ui.say(
                "--allow-network: continuing on a networked machine (recorded in the transcript)",
            );
            self.transcript.append(
                tkind::NETWORK_OVERRIDE,
                Some(&step.id),
                Some(&step.actor),
                json!({"findings": text.lines().collect::<Vec<_>>()}),
            )?;
            return Ok(());
        }
        Err(usage(format!(
            "this machine is not air-gapped:\n{}unplug every network cable, disable wireless, and run the ceremony again \
             (--allow-network exists for rehearsals only)",
            text
        )))
    }

    fn list_tokens(&mut self, step: &Step) -> Result<()> {
        let names: Vec<String> = self.script.keys.keys().cloned().collect();
        for name in names {
            let spec = self.script.keys[&name].clone();
            let line = match (
                self.state.bindings.tokens.get(&name),
                self.state.bindings.keyfiles.get(&name),
            ) {
                (Some(t), _) => {
                    let have = if spec.generate {
                        "key to be generated"
                    } else {
                        "holds the key"
                    };
                    format!("{name} ({}): {t} — {have}", spec.role)
                }
                (None, Some(f)) => {
                    format!("{name} ({}): public key from {}", spec.role, f.display())
                }
                (None, None)
                    if spec.generate || matches!(spec.role.as_str(), "root" | "outgoing-root") =>
                {
                    format!(
                        "{name} ({}): token to be selected when it is needed",
                        spec.role
                    )
                }
                (None, None) => format!("{name} ({}): from the current root", spec.role),
            };
            self.ui.say(&line);
        }
        self.transcript.append(
            tkind::TOKEN,
            Some(&step.id),
            Some(&step.actor),
            json!({"bindings": self.state.bindings.tokens, "keyfiles": self.state.bindings.keyfiles.iter().map(|(k, v)| (k.clone(), v.display().to_string())).collect::<BTreeMap<_, _>>()}),
        )?;
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

    fn generate(&mut self, step: &Step) -> Result<()> {
        let name = step.key.clone().expect("validated");
        let spec = self.script.keys[&name].clone();
        let alg = Algorithm::parse(spec.algorithm.as_deref().expect("validated"))
            .map_err(|e| usage(e.to_string()))?;
        if let Some(done) = self.state.keys.get(&name) {
            self.ui
                .say(&format!("{name}: already generated on {}", done.token));
            return Ok(());
        }
        let reference = self.token_ref(&step.id, &name)?;
        // A generation this ceremony started and did not see finish (a kill, a
        // power cut). Its key was never shown to the room nor used: what it made
        // is destroyed and the key generated again, unless the journal recorded
        // the pair whole and checked (then it is committed, as it would have been).
        let pending = self.state.pending.get(&name).cloned();
        let (public, evidence, recovered) = match TokenRef::parse(&reference)? {
            TokenRef::Soft(path) => {
                if pending.is_some() {
                    self.discard_soft(step, &name, &path)?;
                }
                if fsio::occupied(&path) {
                    return Err(usage(format!(
                        "{} already exists and was not generated by this ceremony; \
                         choose a new key file (key material is never overwritten or adopted)",
                        path.display()
                    )));
                }
                self.ui
                    .say("software key: for rehearsals and tests only, never a production root");
                let pass = self.secret(&step.id, &reference, SecretKind::Passphrase, true)?;
                self.begin_generation(&name, "soft")?;
                let result = if spec.backup {
                    self.generate_with_backups(step, &name, &path, alg, &pass)
                } else {
                    SoftToken::generate(&path, alg, &pass).map_err(Error::from)
                };
                crash_point("generated", &step.id);
                let public = match result {
                    Ok(p) => p,
                    Err(e) => {
                        // A refused key stays refused: never adopted later.
                        self.state.pending.remove(&name);
                        self.save_state()?;
                        return Err(e);
                    }
                };
                (
                    public,
                    json!({
                        "kind": "software key file",
                        "mode": "0600",
                        "key_file_derivation": crate::tokens::soft::key_file_kdf(),
                    }),
                    false,
                )
            }
            TokenRef::YubiKey(r) => {
                // A slot this run was writing is written again (the key it held
                // was never shown): the script's overwrite rule is for what was
                // there before the ceremony.
                let again = pending.is_some();
                if again {
                    self.transcript.append(
                        tkind::KEY_DISCARDED,
                        Some(&step.id),
                        Some(&step.actor),
                        json!({"key": name, "token": reference,
                               "reason": "the generation was interrupted; the slot it was writing is generated again"}),
                    )?;
                }
                let (public, evidence) =
                    self.generate_yubikey(&step.id, &name, &reference, r, alg, again)?;
                (public, evidence, false)
            }
            TokenRef::Pkcs11(uri) => {
                self.generate_pkcs11(step, &name, &reference, uri, alg, pending)?
            }
        };
        if public.algorithm() != alg {
            return Err(usage(format!(
                "{reference} holds a {} key, the script asks for {alg}",
                public.algorithm()
            )));
        }
        let keyid = key_id(&tuf_key(&public), Flavour::Tuf);
        self.transcript.append(
            tkind::KEY_GENERATED,
            Some(&step.id),
            Some(&step.actor),
            json!({"key": name, "token": reference, "algorithm": alg.name(), "public": hex::encode(public.as_bytes()),
                   "tuf_keyid": keyid, "evidence": evidence, "committed_after_interruption": recovered}),
        )?;
        self.state.pending.remove(&name);
        self.state.keys.insert(
            name.clone(),
            KeyRecord {
                token: reference.clone(),
                algorithm: alg.name().into(),
                public: hex::encode(public.as_bytes()),
            },
        );
        self.save_state()?;
        // Shown to the room only once recorded: a key anyone has seen is never
        // generated again.
        self.ui.say(&format!(
            "{name}: {alg} key {} on {reference}",
            fingerprint(&keyid),
        ));
        Ok(())
    }

    /// Record in the journal that a generation is about to start.
    fn begin_generation(&mut self, name: &str, id: &str) -> Result<()> {
        self.state.pending.insert(
            name.to_owned(),
            PendingKey {
                id: id.to_owned(),
                made: None,
                unidentified_before: None,
            },
        );
        self.save_state()
    }

    /// Remove what an interrupted software-key generation wrote: the key file,
    /// its public half, its backups and temporaries. This run created them (the
    /// file did not exist when the generation began) and showed them to no one.
    fn discard_soft(&mut self, step: &Step, name: &str, path: &Path) -> Result<()> {
        let mut removed = Vec::new();
        let mut files = vec![path.to_owned(), crate::tokens::soft::public_path(path)];
        if let Some(dir) = &self.state.bindings.backup_dir {
            let n = self.state.bindings.backups.get(name).map_or(0, Vec::len);
            files.extend((1..=n).map(|i| dir.join(format!("{name}-backup-{i}.age"))));
        }
        for f in &files {
            let _ = fsio::remove_temps_for(f);
            match std::fs::remove_file(f) {
                Ok(()) => removed.push(f.display().to_string()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(f, e)),
            }
            fsio::sync_dir(f);
        }
        self.transcript.append(
            tkind::KEY_DISCARDED,
            Some(&step.id),
            Some(&step.actor),
            json!({"key": name, "token": format!("soft:{}", path.display()), "removed": removed,
                   "reason": "the generation was interrupted before the key was recorded; it is generated again"}),
        )?;
        self.state.pending.remove(name);
        self.save_state()
    }

    /// Generate key `name` on a PKCS#11 token, journaled: the pair is made under
    /// a provisional label, recorded, then given its label.
    fn generate_pkcs11(
        &mut self,
        step: &Step,
        name: &str,
        reference: &str,
        mut uri: crate::tokens::pkcs11::Pkcs11Uri,
        alg: Algorithm,
        pending: Option<PendingKey>,
    ) -> Result<(PublicKey, serde_json::Value, bool)> {
        let module = crate::commands::tokens::module_for(Some(&uri))?;
        let test_token = module.find_token(&uri)?.manufacturer.starts_with("SoftHSM");
        let chosen_id = uri.id.clone();
        if let Some(p) = pending {
            let id = hex::decode(&p.id)
                .map_err(|_| Error::Internal("state: pending key ID is not hex".into()))?;
            let mut at = uri.clone();
            at.id = Some(id);
            let mut prompt = UiPin {
                ui: &mut *self.ui,
                step: step.id.clone(),
                reference: reference.to_owned(),
                test_token,
            };
            let committed = match &p.made {
                Some(made) => {
                    let public = made.public_key()?;
                    match module.commit_uncommitted(&at, &public, &mut prompt) {
                        Ok(()) => Some((public, made.evidence.clone())),
                        // Not whole any more (the module was killed inside its
                        // own write while labelling): never shown, so made again.
                        Err(crate::tokens::TokenError::KeyNotFound { .. }) => None,
                        Err(e) => return Err(e.into()),
                    }
                }
                None => None,
            };
            match committed {
                Some((public, evidence)) => return Ok((public, evidence, true)),
                None => {
                    let (destroyed, left) =
                        module.discard_uncommitted(&at, p.unidentified_before, &mut prompt)?;
                    self.transcript.append(
                        tkind::KEY_DISCARDED,
                        Some(&step.id),
                        Some(&step.actor),
                        json!({"key": name, "token": reference, "id": p.id, "objects_destroyed": destroyed,
                               "unidentified_objects_left": left,
                               "reason": "the generation was interrupted before the key pair was recorded whole; it is generated again"}),
                    )?;
                    if left > 0 {
                        self.ui.say(&format!(
                            "{name}: the token holds {left} object(s) with neither ID nor label, as it did before; \
                             they may include what the interruption left; they are not used (list them with the vendor's tool)"
                        ));
                    }
                    if destroyed > 0 {
                        self.ui.say(&format!(
                            "{name}: the interrupted generation left {destroyed} object(s) on the token; destroyed (never shown or used), generating again"
                        ));
                    }
                    self.state.pending.remove(name);
                    self.save_state()?;
                }
            }
        }
        let id = match chosen_id {
            Some(id) => id,
            None => {
                let mut id = vec![0u8; 16];
                getrandom::fill(&mut id).expect("system randomness");
                id
            }
        };
        uri.id = Some(id.clone());
        self.begin_generation(name, &hex::encode(&id))?;
        let mut prompt = UiPin {
            ui: &mut *self.ui,
            step: step.id.clone(),
            reference: reference.to_owned(),
            test_token,
        };
        let (work, state) = (&self.work, &mut self.state);
        let mut journal = |unidentified: usize| {
            if let Some(p) = state.pending.get_mut(name) {
                p.unidentified_before = Some(unidentified);
            }
            save_state(work, state).map_err(|e| crate::tokens::TokenError::Device {
                token: reference.to_owned(),
                reason: format!("the work directory's journal could not be written: {e}"),
            })
        };
        let made = match module.generate_uncommitted(&uri, alg, &mut prompt, &mut journal) {
            Ok(m) => m,
            Err(e) => {
                // A refused key stays refused: never adopted later.
                self.state.pending.remove(name);
                self.save_state()?;
                return Err(e.into());
            }
        };
        crash_point("generated", &step.id);
        let ev = made.evidence();
        let evidence = json!({
            "kind": "pkcs11",
            "uri": ev.uri.to_string(),
            "token_label": ev.token_label,
            "token_serial": ev.token_serial,
            "token_manufacturer": ev.token_manufacturer,
            "token_model": ev.token_model,
            "ec_params": ev.ec_params,
            "local": ev.local,
            "always_sensitive": ev.always_sensitive,
            "never_extractable": ev.never_extractable,
            "sensitive": ev.sensitive,
            "extractable": ev.extractable,
            "self_test_verified": ev.self_test_verified,
        });
        let public = ev.public.clone();
        if let Some(p) = self.state.pending.get_mut(name) {
            p.made = Some(MadeKey {
                algorithm: alg.name().into(),
                public: hex::encode(public.as_bytes()),
                evidence: evidence.clone(),
            });
        }
        self.save_state()?;
        made.commit()?;
        Ok((public, evidence, false))
    }

    /// Generate a key in software, load it into its software token, write it
    /// encrypted to every backup recipient, and open each backup to check it
    /// holds the key. The plaintext key zeroizes when this returns.
    fn generate_with_backups(
        &mut self,
        step: &Step,
        name: &str,
        path: &Path,
        alg: Algorithm,
        pass: &crate::secret::Secret,
    ) -> Result<PublicKey> {
        use crate::tokens::soft::{BackupIdentity, BackupRecipient, GeneratedKey, check_backup};
        let key = GeneratedKey::generate(alg)?;
        let public = key.public();
        key.load_into_soft_token(path, pass)?;
        let dir = self
            .state
            .bindings
            .backup_dir
            .clone()
            .expect("checked up front");
        std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        let recipients = self
            .state
            .bindings
            .backups
            .get(name)
            .cloned()
            .unwrap_or_default();
        let mut written = Vec::new();
        for (i, r) in recipients.iter().enumerate() {
            let (to, who) = match parse_recipient(r).map_err(usage)? {
                Recipient::X25519(x) => (BackupRecipient::X25519(x), r.clone()),
                Recipient::Passphrase(label) => {
                    let secret = self.backup_secret(step, name, r, &label, true)?;
                    (
                        BackupRecipient::Passphrase(secret),
                        format!("a passphrase held by {label}"),
                    )
                }
            };
            let ciphertext = key.encrypt_backup(&to)?;
            let file = dir.join(format!("{name}-backup-{}.age", i + 1));
            fsio::write_new(&file, &ciphertext, 0o600)?;
            self.ui.say(&format!(
                "backup {} of {name} written for {who}: {}",
                i + 1,
                file.display()
            ));
            self.transcript.append(
                "backup-written",
                Some(&step.id),
                Some(&step.actor),
                json!({"key": name, "recipient": who, "file": file.display().to_string(),
                       "sha256": hex::encode(Sha256::digest(&ciphertext))}),
            )?;
            written.push((file, ciphertext, r.clone()));
        }
        drop(key);
        for (file, ciphertext, r) in written {
            let identity = match parse_recipient(&r).map_err(usage)? {
                Recipient::X25519(_) => {
                    BackupIdentity::X25519(self.backup_secret(step, name, &r, &r, false)?)
                }
                Recipient::Passphrase(label) => {
                    BackupIdentity::Passphrase(self.backup_secret(step, name, &r, &label, false)?)
                }
            };
            check_backup(&ciphertext, &identity, &public, &file.display().to_string())?;
            self.ui.say(&format!(
                "backup {} opens and holds the key",
                file.display()
            ));
            self.transcript.append(
                "backup-verified",
                Some(&step.id),
                Some(&step.actor),
                json!({"key": name, "file": file.display().to_string()}),
            )?;
        }
        Ok(public)
    }

    /// A custodian's backup passphrase (new: asked twice) or age identity.
    fn backup_secret(
        &mut self,
        step: &Step,
        name: &str,
        recipient: &str,
        custodian: &str,
        new: bool,
    ) -> Result<crate::secret::Secret> {
        let key_token = self.state.bindings.tokens[name].clone();
        let what = if recipient.starts_with("passphrase:") {
            if new {
                format!(
                    "backup:{name}:{recipient} (custodian {custodian}: choose the backup passphrase)"
                )
            } else {
                format!(
                    "backup:{name}:{recipient} (custodian {custodian}: type it again to open the backup)"
                )
            }
        } else {
            format!("backup:{name}:{recipient} (the custodian's age identity, to open the backup)")
        };
        self.ui
            .secret(
                &step.id,
                &SecretRequest {
                    token: format!("backup:{name}:{recipient}"),
                    kind: SecretKind::Passphrase,
                    status: Some(what),
                    // Backups exist only for software-token keys (rehearsals, tests).
                    test_token: key_token.starts_with("soft:"),
                    confirm: new,
                },
            )
            .map_err(ui_err)
    }

    /// The token holding (or to hold) script key `name`: the one bound with
    /// `--token`, or — at a terminal — one the operator selects from the tokens
    /// connected now (recorded in the transcript and the state).
    fn token_ref(&mut self, step: &str, name: &str) -> Result<String> {
        if let Some(t) = self.state.bindings.tokens.get(name) {
            return Ok(t.clone());
        }
        if !self.ui.interactive() {
            return Err(usage(format!(
                "key {name} has no token: bind it with --token {name}=REF"
            )));
        }
        let generate = self.script.keys[name].generate;
        let module = crate::commands::tokens::module_for(None)?;
        let tokens = module.tokens()?;
        if tokens.is_empty() {
            return Err(usage(format!(
                "no PKCS#11 token is connected for key {name}: connect it and run `ceremony tokens`, or bind one with --token {name}=REF"
            )));
        }
        let labels: Vec<String> = tokens
            .iter()
            .map(|t| {
                format!(
                    "{} (serial {}, {} {})",
                    t.label, t.serial, t.manufacturer, t.model
                )
            })
            .collect();
        let chosen = self
            .ui
            .select(step, &format!("Which token holds key {name}?"), &labels)
            .map_err(ui_err)?;
        let token = &tokens[chosen];
        let uri = if generate {
            token.key_uri(&format!("ceremony-{name}"), &[])
        } else {
            let keys = module.public_keys(token)?;
            if keys.is_empty() {
                return Err(usage(format!("{} holds no key to sign with", token.name())));
            }
            let labels: Vec<String> = keys
                .iter()
                .map(|k| format!("{} (id {})", k.label, hex::encode(&k.id)))
                .collect();
            let k = self
                .ui
                .select(
                    step,
                    &format!("Which key on {} is {name}?", token.label),
                    &labels,
                )
                .map_err(ui_err)?;
            token.key_uri(&keys[k].label, &keys[k].id)
        };
        let reference = uri.to_string();
        self.transcript.append(
            tkind::TOKEN,
            Some(step),
            None,
            json!({"key": name, "selected": reference, "token_serial": token.serial, "token_model": token.model}),
        )?;
        self.state
            .bindings
            .tokens
            .insert(name.to_owned(), reference.clone());
        self.save_state()?;
        Ok(reference)
    }

    /// The public key of a script key, wherever it comes from.
    fn public_of(&self, name: &str) -> Result<PublicKey> {
        if let Some(rec) = self.state.keys.get(name) {
            let raw = hex::decode(&rec.public)
                .map_err(|_| Error::Internal("state: public key not hex".into()))?;
            let alg =
                Algorithm::parse(&rec.algorithm).map_err(|e| Error::Internal(e.to_string()))?;
            return PublicKey::from_bytes(alg, &raw).map_err(|e| Error::Internal(e.to_string()));
        }
        if let Some(t) = self.state.bindings.tokens.get(name) {
            return crate::commands::token_public_key(t);
        }
        Err(usage(format!(
            "key {name} has no token bound (--token {name}=REF)"
        )))
    }

    fn key_object(&mut self, name: &str, role: &str, step: &str) -> Result<Key> {
        if let Some(path) = self.state.bindings.keyfiles.get(name) {
            return read_keyfile(path, self.flavour);
        }
        let public = self.public_of(name)?;
        Ok(match (self.flavour, role) {
            (Flavour::Tuf, _) => tuf_key(&public),
            (Flavour::Notary, "root") => {
                let reference = self.token_ref(step, name)?;
                let mut signer = self.open_signer(step, &reference)?;
                let now = Utc::now();
                let cert = build_root_certificate(
                    &self.script.parameters.repository,
                    signer.as_mut(),
                    now,
                    now + chrono::Duration::days(3650),
                )?;
                notary_x509_key(&cert.pem)
            }
            (Flavour::Notary, _) => notary_key(&public),
        })
    }

    /// Open a token's key for signing. A wrong passphrase or PIN typed at the
    /// terminal is recorded and asked again (up to three attempts; the token's own
    /// PIN flags still guard its last try); an answers file gets one attempt.
    fn open_signer(&mut self, step: &str, reference: &str) -> Result<Box<dyn Signer>> {
        let attempts = if self.ui.interactive() { 3 } else { 1 };
        let mut attempt = 1;
        loop {
            let result = self.open_signer_once(step, reference);
            match result {
                // Only a passphrase is asked again here: a wrong PIN spends one of
                // the token's tries, so the operator decides (by resuming) after
                // seeing the token's PIN state again.
                Err(Error::Token(e @ crate::tokens::TokenError::WrongPassphrase { .. }))
                    if attempt < attempts =>
                {
                    self.ui.say(&format!(
                        "{e}; try again ({attempt} of {attempts} attempts used)"
                    ));
                    self.transcript.append(
                        tkind::RETRY,
                        Some(step),
                        None,
                        json!({"token": reference, "error": super::transcript::one_line(&e.to_string()), "attempt": attempt}),
                    )?;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    fn open_signer_once(&mut self, step: &str, reference: &str) -> Result<Box<dyn Signer>> {
        match TokenRef::parse(reference)? {
            TokenRef::Soft(path) => {
                let pass = self.secret(step, reference, SecretKind::Passphrase, false)?;
                Ok(Box::new(SoftToken::open(&path, &pass)?))
            }
            TokenRef::Pkcs11(uri) => {
                let module = crate::commands::tokens::module_for(Some(&uri))?;
                let test_token = module.find_token(&uri)?.manufacturer.starts_with("SoftHSM");
                let mut prompt = UiPin {
                    ui: &mut *self.ui,
                    step: step.to_owned(),
                    reference: reference.to_owned(),
                    test_token,
                };
                Ok(Box::new(module.open_signer(&uri, &mut prompt)?))
            }
            TokenRef::YubiKey(r) => Ok(Box::new(self.open_yubikey(step, reference, &r)?)),
        }
    }

    fn build_root(&mut self, step: &Step) -> Result<()> {
        let draft_path = self.work.draft();
        if draft_path.exists() {
            // Built before an interruption: the content is fixed, never rebuilt.
            let doc = crate::commands::read_root(&draft_path)?;
            self.fix_draft(&doc.canonical_signed()?)?;
            self.ui.say(&format!(
                "root version {} was built before the interruption; continuing with it",
                doc.version()
            ));
            return Ok(());
        }
        let params = self.script.parameters.clone();
        let expires = params.expires_at(Utc::now());
        let kind = self.script.kind;
        let mut root = match self.current.last() {
            Some(cur) => {
                let mut r = cur.root().clone();
                r.version += 1;
                r
            }
            None => Root {
                type_name: self.flavour.type_name("root"),
                spec_version: (self.flavour == Flavour::Tuf).then(|| SPEC_VERSION.to_owned()),
                consistent_snapshot: Some(false),
                version: 1,
                expires: String::new(),
                keys: BTreeMap::new(),
                roles: BTreeMap::new(),
                unknown: Map::new(),
            },
        };
        root.expires = expires;
        let names: Vec<(String, String, bool)> = self
            .script
            .keys
            .iter()
            .map(|(n, k)| (n.clone(), k.role.clone(), k.generate))
            .collect();
        let add = |root: &mut Root, role: &str, id: String, key: Key| {
            root.keys.insert(id.clone(), key);
            let entry = root
                .roles
                .entry(role.to_owned())
                .or_insert_with(|| RoleKeys {
                    keyids: Vec::new(),
                    threshold: 1,
                    unknown: Map::new(),
                });
            if !entry.keyids.contains(&id) {
                entry.keyids.push(id);
            }
        };
        match kind {
            Kind::RootInit => {
                for (name, role, _) in &names {
                    let key = self.key_object(name, role, &step.id)?;
                    let id = key_id(&key, self.flavour);
                    add(&mut root, role, id, key);
                }
            }
            Kind::RootRotate => {
                for given in self.state.bindings.revoke.clone() {
                    let id = edit::resolve_keyid(
                        &root.keys,
                        &root.roles["root"].keyids,
                        self.flavour,
                        "root",
                        &given,
                    )
                    .map_err(|e| usage(format!("--revoke {given}: the current root's {e}")))?;
                    edit::revoke(&mut root, "root", &id, self.flavour)
                        .map_err(|e| usage(format!("--revoke {given}: {e}")))?;
                    self.ui.say(&format!("root key {} goes", short(&id)));
                }
                for (name, role, generate) in &names {
                    match role.as_str() {
                        "outgoing-root" => {
                            let public = self.public_of(name)?;
                            // Every ID the root role lists the key under goes.
                            let ids = edit::ids_of_key(&root, "root", &public, self.flavour);
                            if ids.is_empty() {
                                return Err(usage(format!(
                                    "outgoing key {name} is not a root key of the current root"
                                )));
                            }
                            for id in ids {
                                remove_key(&mut root, "root", &id);
                            }
                        }
                        "root" if *generate => {
                            let key = self.key_object(name, role, &step.id)?;
                            let id = key_id(&key, self.flavour);
                            add(&mut root, "root", id, key);
                        }
                        "root" => {
                            let public = self.public_of(name)?;
                            find_root_keyid(&root, &public, self.flavour).ok_or_else(|| {
                                usage(format!(
                                    "key {name} stays a root key but is not one in the current root"
                                ))
                            })?;
                        }
                        _ => {
                            let key = self.key_object(name, role, &step.id)?;
                            let id = key_id(&key, self.flavour);
                            replace_role_keys(&mut root, role);
                            add(&mut root, role, id, key);
                        }
                    }
                }
            }
            Kind::RevokeTaggingKey => {
                let mut replacement = None;
                for (name, role, _) in &names {
                    if role == "targets" {
                        let key = self.key_object(name, role, &step.id)?;
                        replacement = Some((key_id(&key, self.flavour), key));
                    }
                }
                let (new_id, new_key) = replacement.ok_or_else(|| {
                    usage("revoke-tagging-key needs a key with role targets (the replacement)")
                })?;
                if root.roles["targets"].keyids.contains(&new_id) {
                    return Err(usage(format!(
                        "the replacement targets key {} is already listed in the current root",
                        short(&new_id)
                    )));
                }
                let revoke = self.state.bindings.revoke.clone();
                if revoke.is_empty() {
                    return Err(usage(
                        "name the compromised targets key with --revoke KEYID",
                    ));
                }
                for given in &revoke {
                    let id = edit::resolve_keyid(
                        &root.keys,
                        &root.roles["targets"].keyids,
                        self.flavour,
                        "targets",
                        given,
                    )
                    .map_err(|e| usage(format!("--revoke {given}: the current root's {e}")))?;
                    edit::revoke(&mut root, "targets", &id, self.flavour)
                        .map_err(|e| usage(format!("the compromised {e}")))?;
                    let id = &id;
                    self.ui.say(&format!("targets key {} goes", short(id)));
                }
                self.ui
                    .say(&format!("targets key {} comes", short(&new_id)));
                add(&mut root, "targets", new_id, new_key);
            }
            Kind::RefreshExpiry => {}
            Kind::DelegationRotate => unreachable!("validated: delegation-rotate builds targets"),
        }
        if let Some(t) = params.root_threshold {
            root.roles.get_mut("root").expect("root role").threshold = t;
        }
        let doc = RootDocument::draft(root, "new.root.json")?;
        doc.validate()?;
        fsio::write_new(&draft_path, &doc.to_json()?, 0o644)?;
        self.fix_draft(&doc.canonical_signed()?)?;
        self.transcript.append(
            tkind::ROOT_BUILT,
            Some(&step.id),
            Some(&step.actor),
            json!({"version": doc.version(), "expires": doc.root().expires, "sha256_of_signed": hex::encode(Sha256::digest(doc.canonical_signed()?)),
                   "roles": doc.root().roles.iter().map(|(r, k)| (r.clone(), json!({"keyids": k.keyids, "threshold": k.threshold}))).collect::<BTreeMap<_, _>>()}),
        )?;
        self.ui.say(&format!(
            "built root version {}, expires {}",
            doc.version(),
            doc.root().expires
        ));
        Ok(())
    }

    fn delegating(&self) -> bool {
        self.script.kind == Kind::DelegationRotate
    }

    fn targets_draft(&self) -> Result<TargetsDocument> {
        let path = self.work.targets_draft();
        let bytes = crate::commands::read_file(&path)?;
        let doc = TargetsDocument::from_slice(&bytes, "new.targets.json")?;
        self.check_draft(&doc.canonical_signed()?)?;
        Ok(doc)
    }

    fn build_targets(&mut self, step: &Step) -> Result<()> {
        let path = self.work.targets_draft();
        if path.exists() {
            let bytes = crate::commands::read_file(&path)?;
            let doc = TargetsDocument::from_slice(&bytes, "new.targets.json")?;
            self.fix_draft(&doc.canonical_signed()?)?;
            self.ui.say(&format!(
                "targets version {} was built before the interruption; continuing with it",
                doc.version()
            ));
            return Ok(());
        }
        let params = self.script.parameters.clone();
        let role_name = params.delegation.clone().expect("validated");
        let mut doc = self.current_targets.clone().expect("checked up front");
        let mut added = Vec::new();
        let names: Vec<String> = self
            .script
            .keys
            .iter()
            .filter(|(_, k)| k.role == "delegation")
            .map(|(n, _)| n.clone())
            .collect();
        for name in &names {
            let key = match self.state.bindings.keyfiles.get(name) {
                Some(path) => read_keyfile(path, self.flavour)?,
                None => tuf_key(&self.public_of(name)?),
            };
            added.push((key_id(&key, self.flavour), key));
        }
        let mut removed = Vec::new();
        {
            let current = doc
                .targets()
                .delegations
                .as_ref()
                .expect("checked up front");
            let role = current
                .roles
                .iter()
                .find(|r| r.name == role_name)
                .expect("checked");
            for given in &self.state.bindings.revoke {
                let id = edit::resolve_keyid(
                    &current.keys,
                    &role.keyids,
                    self.flavour,
                    &format!("{role_name} (delegated)"),
                    given,
                )
                .map_err(|e| usage(format!("--revoke {given}: {e}")))?;
                removed.push(id);
            }
            for (id, _) in &added {
                if role.keyids.contains(id) {
                    return Err(usage(format!(
                        "key {} is already a key of delegated role {role_name}",
                        short(id)
                    )));
                }
            }
        }
        let expires = params.expires_at(Utc::now());
        let added_for_edit = added.clone();
        let removed_for_edit = removed.clone();
        let threshold = params.delegation_threshold;
        doc.edit(|t| {
            t.version += 1;
            t.expires = expires;
            let d = t.delegations.as_mut().expect("checked");
            for (id, key) in added_for_edit {
                d.keys.insert(id.clone(), key);
                let role = d
                    .roles
                    .iter_mut()
                    .find(|r| r.name == role_name)
                    .expect("checked");
                role.keyids.push(id);
            }
            for id in &removed_for_edit {
                let role = d
                    .roles
                    .iter_mut()
                    .find(|r| r.name == role_name)
                    .expect("checked");
                role.keyids.retain(|k| k != id);
                if !d.roles.iter().any(|r| r.keyids.contains(id)) {
                    d.keys.remove(id);
                }
            }
            if let Some(n) = threshold {
                d.roles
                    .iter_mut()
                    .find(|r| r.name == role_name)
                    .expect("checked")
                    .threshold = n;
            }
        })?;
        doc.name = "new.targets.json".into();
        fsio::write_new(&path, &doc.to_json()?, 0o644)?;
        self.fix_draft(&doc.canonical_signed()?)?;
        self.transcript.append(
            tkind::ROOT_BUILT,
            Some(&step.id),
            Some(&step.actor),
            json!({"metadata": "targets", "version": doc.version(), "expires": doc.targets().expires,
                   "delegation": params.delegation, "added": added.iter().map(|(i, _)| i.clone()).collect::<Vec<_>>(),
                   "removed": removed,
                   "sha256_of_signed": hex::encode(Sha256::digest(doc.canonical_signed()?))}),
        )?;
        self.ui.say(&format!(
            "built targets version {}, expires {}",
            doc.version(),
            doc.targets().expires
        ));
        Ok(())
    }

    fn review_targets(&mut self, step: &Step) -> Result<()> {
        let doc = self.targets_draft()?;
        let text = targets_summary(&doc, self.current_targets.as_ref().expect("checked"));
        self.read_aloud_and_confirm(step, &text)
    }

    fn sign_targets(&mut self, step: &Step) -> Result<()> {
        let name = step.key.clone().expect("validated");
        let reference = self.token_ref(&step.id, &name)?;
        let mut doc = self.targets_draft()?;
        let root = self.current.last().cloned().expect("checked");
        // Close the previous signer first: logging out of a PKCS#11 token ends
        // every session on it, including one opened after it.
        self.seal_signer = None;
        let mut signer = self.open_signer(&step.id, &reference)?;
        let role = &root.root().roles["targets"];
        let keyid = role
            .keyids
            .iter()
            .find(|id| {
                root.root()
                    .keys
                    .get(*id)
                    .and_then(|k| decode_key(k, self.flavour).ok())
                    .is_some_and(|d| &d.public == signer.public_key())
            })
            .cloned()
            .ok_or_else(|| {
                usage(format!(
                    "the key on {reference} is not a targets key of the current root"
                ))
            })?;
        if doc.signatures.iter().any(|s| s.keyid == keyid) {
            self.ui.say(&format!(
                "{name} had already signed before the interruption"
            ));
            self.transcript.append(
                tkind::SIGNATURE,
                Some(&step.id),
                Some(&step.actor),
                json!({"key": name, "keyid": keyid, "metadata": "targets", "version": doc.version(),
                       "recovered_after_interruption": true}),
            )?;
            self.seal_signer = Some(signer);
            return Ok(());
        }
        let message = doc.canonical_signed()?;
        let signature =
            crate::tuf::sign::sign_message(&message, signer.as_mut(), self.flavour, keyid.clone())?;
        let decoded = decode_key(&root.root().keys[&keyid], self.flavour).expect("decoded above");
        crate::tuf::verify::verify_one(&message, &signature, &decoded, self.flavour).map_err(
            |reason| {
                Error::Sign(SignError::BadTokenSignature {
                    token: signer.describe(),
                    reason,
                })
            },
        )?;
        doc.signatures.push(signature);
        fsio::replace(&self.work.targets_draft(), &doc.to_json()?, 0o644)?;
        self.ui.say(&format!(
            "signed targets version {} with {name} ({})",
            doc.version(),
            short(&keyid)
        ));
        self.transcript.append(
            tkind::SIGNATURE,
            Some(&step.id),
            Some(&step.actor),
            json!({"key": name, "keyid": keyid, "token": signer.describe(), "metadata": "targets", "version": doc.version()}),
        )?;
        self.seal_signer = Some(signer);
        Ok(())
    }

    fn verify_targets(&mut self, step: &Step) -> Result<()> {
        let line = self.check_targets_draft()?;
        self.ui.say(&line);
        self.transcript.append(
            tkind::VERIFIED,
            Some(&step.id),
            Some(&step.actor),
            json!({"result": line}),
        )?;
        Ok(())
    }

    /// The draft targets metadata meets the current root's targets threshold.
    fn check_targets_draft(&self) -> Result<String> {
        let doc = self.targets_draft()?;
        let root = self.current.last().expect("checked");
        let check = targets_check(&doc, root)?;
        if !check.met() {
            return Err(usage(format!(
                "new targets version {} has {} valid signature(s) from the root's targets keys, below the threshold of {}",
                doc.version(),
                check.valid.len(),
                check.threshold
            )));
        }
        Ok(format!(
            "trustworthy: targets version {}, signed by {} of {} required targets key(s)",
            doc.version(),
            check.valid.len(),
            check.threshold
        ))
    }

    fn export_targets(&mut self, step: &Step) -> Result<()> {
        // Verified again right before it is written.
        self.check_targets_draft()?;
        let out = self.state.bindings.out.clone();
        let doc = self.targets_draft()?;
        let bytes = doc.to_json()?;
        for name in [
            format!("{}.targets.json", doc.version()),
            "targets.json".to_owned(),
        ] {
            let path = bundle::stage(&out, &name, &bytes)?;
            self.transcript
                .record_file(Some(&step.id), Some(&step.actor), &name, &bytes)?;
            self.ui.say(&format!("wrote {}", path.display()));
        }
        bundle::sync_staged(&out)?;
        Ok(())
    }

    fn draft(&self) -> Result<RootDocument> {
        let doc = crate::commands::read_root(&self.work.draft())?;
        self.check_draft(&doc.canonical_signed()?)?;
        Ok(doc)
    }

    /// The draft's signed bytes must be the ones built (and reviewed).
    fn check_draft(&self, signed: &[u8]) -> Result<()> {
        match &self.state.draft_sha256 {
            Some(h) if *h != hex::encode(Sha256::digest(signed)) => Err(usage(format!(
                "{} changed since it was built; nothing more is signed (start a new ceremony)",
                self.work.0.display()
            ))),
            _ => Ok(()),
        }
    }

    fn fix_draft(&mut self, signed: &[u8]) -> Result<()> {
        if self.state.draft_sha256.is_none() {
            self.state.draft_sha256 = Some(hex::encode(Sha256::digest(signed)));
            self.save_state()?;
        }
        Ok(())
    }

    fn review(&mut self, step: &Step) -> Result<()> {
        let doc = self.draft()?;
        let backed_up: Vec<String> = self
            .script
            .keys
            .iter()
            .filter(|(_, k)| k.backup)
            .map(|(n, _)| {
                let count = self
                    .state
                    .bindings
                    .backups
                    .get(n)
                    .map(Vec::len)
                    .unwrap_or(0);
                format!("{n} ({count} encrypted backup(s))")
            })
            .collect();
        let backups = if backed_up.is_empty() {
            "no key is backed up: every key generated here was born on its token and never leaves it".to_owned()
        } else {
            format!(
                "backed up: {}; every other key generated here was born on its token, with no backup",
                backed_up.join(", ")
            )
        };
        let text = summary(&doc, self.current.last(), &backups);
        self.read_aloud_and_confirm(step, &text)
    }

    /// Show what will be signed, to be read aloud, and have everyone agree.
    fn read_aloud_and_confirm(&mut self, step: &Step, text: &str) -> Result<()> {
        self.ui.read_aloud(text);
        self.confirm_recorded(
            step,
            "The administrator has read this aloud and everyone present agrees it is what we intend to sign",
            "the summary was not agreed; nothing was signed",
            json!({"summary_sha256": hex::encode(Sha256::digest(text.as_bytes()))}),
        )
    }

    /// Ask the step's actor to confirm `statement`; a "no" stops the ceremony with
    /// `refusal`, a "yes" is recorded (with `extra` fields) in the transcript.
    fn confirm_recorded(
        &mut self,
        step: &Step,
        statement: &str,
        refusal: &str,
        extra: serde_json::Value,
    ) -> Result<()> {
        if !self.ui.confirm(&step.id, statement).map_err(ui_err)? {
            return Err(usage(format!("step {}: {refusal}", step.id)));
        }
        let mut data =
            json!({"statement": super::transcript::one_line(statement), "answer": "yes"});
        if let (Some(d), serde_json::Value::Object(e)) = (data.as_object_mut(), extra) {
            d.extend(e);
        }
        self.transcript
            .append(tkind::CONFIRMATION, Some(&step.id), Some(&step.actor), data)?;
        Ok(())
    }

    fn sign(&mut self, step: &Step) -> Result<()> {
        let name = step.key.clone().expect("validated");
        let reference = self.token_ref(&step.id, &name)?;
        let mut doc = self.draft()?;
        let previous = self.current.last().cloned();
        // Close the previous signer first: logging out of a PKCS#11 token ends
        // every session on it, including one opened after it.
        self.seal_signer = None;
        let mut signer = self.open_signer(&step.id, &reference)?;
        let keyid = match sign_root(&mut doc, signer.as_mut(), previous.as_ref()) {
            Ok(id) => id,
            Err(SignError::AlreadySigned { keyid, .. }) => {
                // Signed before an interruption; the signature is on disk.
                self.ui.say(&format!(
                    "{name} had already signed before the interruption ({})",
                    fingerprint(&keyid)
                ));
                self.transcript.append(
                    tkind::SIGNATURE,
                    Some(&step.id),
                    Some(&step.actor),
                    json!({"key": name, "keyid": keyid, "version": doc.version(),
                           "recovered_after_interruption": true}),
                )?;
                self.seal_signer = Some(signer);
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        fsio::replace(&self.work.draft(), &doc.to_json()?, 0o644)?;
        self.ui.say(&format!(
            "signed root version {} with {name} ({}) on {}",
            doc.version(),
            short(&keyid),
            signer.describe()
        ));
        let own = crate::tuf::verify::check_self(&doc)?;
        self.ui.progress(
            own.valid.len(),
            own.threshold as usize,
            &format!(
                "{} signature(s) from the new root's keys; {} required",
                own.valid.len(),
                own.threshold
            ),
        );
        self.transcript.append(
            tkind::SIGNATURE,
            Some(&step.id),
            Some(&step.actor),
            json!({"key": name, "keyid": keyid, "token": signer.describe(), "version": doc.version(),
                   "own_threshold": {"valid": own.valid.len(), "required": own.threshold}}),
        )?;
        self.seal_signer = Some(signer);
        Ok(())
    }

    fn verify(&mut self, step: &Step) -> Result<()> {
        let doc = self.draft()?;
        let options = ChainOptions {
            now: Utc::now(),
            gun: (self.flavour == Flavour::Notary)
                .then(|| self.script.parameters.repository.clone()),
        };
        let report = verify_chain(self.current.last().cloned(), vec![doc.clone()], &options)?;
        let line = format!(
            "trustworthy: {} root version {}, expires {}",
            doc.flavour(),
            doc.version(),
            doc.root().expires
        );
        self.ui.say(&line);
        if self.flavour == Flavour::Tuf {
            self.ui.say("checked: its own root threshold and, for a new version, the previous root's threshold");
        }
        self.transcript.append(
            tkind::VERIFIED,
            Some(&step.id),
            Some(&step.actor),
            json!({"result": line, "steps": report.steps.len()}),
        )?;
        Ok(())
    }

    fn export(&mut self, step: &Step) -> Result<()> {
        let out = self.state.bindings.out.clone();
        let doc = self.draft()?;
        // Verified again right before it is written.
        let options = ChainOptions {
            now: Utc::now(),
            gun: (self.flavour == Flavour::Notary)
                .then(|| self.script.parameters.repository.clone()),
        };
        let verified = verify_chain(self.current.last().cloned(), vec![doc.clone()], &options)?;
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        for cur in &self.current {
            files.push((format!("{}.root.json", cur.version()), cur.to_json()?));
        }
        let bytes = verified.latest_json()?;
        files.push((format!("{}.root.json", doc.version()), bytes.clone()));
        files.push(("root.json".into(), bytes));
        for (name, bytes) in files {
            let path = bundle::stage(&out, &name, &bytes)?;
            self.transcript
                .record_file(Some(&step.id), Some(&step.actor), &name, &bytes)?;
            self.ui.say(&format!("wrote {}", path.display()));
        }
        bundle::sync_staged(&out)?;
        Ok(())
    }
}

fn save_state(work: &Workdir, state: &State) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(state).expect("state serialises");
    fsio::replace(&work.state(), &bytes, 0o600)?;
    Ok(())
}

/// Create `path` anew, for writing. An old file of that name (from an interrupted
/// run) is unlinked first, never written through: it may be linked into a staged
/// export.
fn fresh_file(path: &Path) -> Result<std::fs::File> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(path, e)),
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| io_err(path, e))?;
    Ok(file)
}

/// The sealed transcript and its report travel with the export, the manifest is
/// written over everything, and the bundle moves into place in one rename; the
/// final hash and the bundle hash are shown for the witnesses.
fn finish(
    transcript: &Path,
    out: &Path,
    info: (&Script, Flavour, Vec<String>),
    ui: &mut dyn OperatorUi,
) -> Result<String> {
    let (script, flavour, repositories) = info;
    let staged = bundle::is_staged(out);
    // The transcript is verified and rendered for the export as it is read: a
    // batch's transcript has an entry per repository and is never held whole.
    let md_path = transcript.with_extension("md");
    let verdict = {
        let mut md = std::io::BufWriter::new(fresh_file(&md_path)?);
        let verdict = super::transcript::render_markdown_to(
            transcript,
            &super::transcript::VerifyOptions::default(),
            &mut md,
        )?;
        let file = md
            .into_inner()
            .map_err(|e| io_err(&md_path, e.into_error()))?;
        file.sync_all().map_err(|e| io_err(&md_path, e))?;
        verdict
    };
    let report = verdict?;
    let hash = report.final_hash;
    drop(report);
    if staged || out.join(bundle::MANIFEST).is_file() {
        if staged {
            bundle::stage_copy(out, "transcript.jsonl", transcript)?;
            bundle::stage_copy(out, "transcript.md", &md_path)?;
        }
        let made = bundle::commit(
            out,
            "export",
            flavour.name(),
            repositories,
            Some(bundle::CeremonyInfo {
                name: script.name.clone(),
                kind: script.kind.name().into(),
                transcript_hash: hash.to_hex(),
            }),
        )?;
        ui.say(&format!(
            "export bundle {}: {} files, bundle hash {}",
            out.display(),
            made.len(),
            made.hash()
        ));
    }
    ui.finish(&hash.to_hex(), &witness_words(&hash));
    Ok(hash.to_hex())
}

/// The repositories an export bundle is about: the script's, or a batch's.
fn bundle_repositories(script: &Script, b: &Bindings) -> Result<Vec<String>> {
    if !b.batch {
        return Ok(vec![script.parameters.repository.clone()]);
    }
    // The staged index of new roots names them in order (and is what the export
    // lists); reading it is cheaper than reading the request again.
    let index = bundle::staging_dir(&b.out).join(bundle::PACK_INDEX);
    match std::fs::File::open(&index) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(&index, e)),
        Ok(file) => {
            use std::io::BufRead;
            return std::io::BufReader::new(file)
                .lines()
                .map(|line| {
                    let line = line.map_err(|e| io_err(&index, e))?;
                    serde_json::from_str::<bundle::PackEntry>(&line)
                        .map(|e| e.repository)
                        .map_err(|e| usage(format!("{}: {e}", index.display())))
                })
                .collect();
        }
    }
    let dir = b
        .request
        .as_ref()
        .ok_or_else(|| usage("a batch ceremony reads its repositories from --request DIR"))?;
    crate::online::request::Request::open_shared(dir)?
        .repositories()
        .map(|r| r.map(|r| r.repository))
        .collect()
}

/// What a batch ceremony needs bound before it starts.
fn check_batch_bindings(script: &Script, b: &Bindings) -> Result<()> {
    if !matches!(script.kind, Kind::RevokeTaggingKey | Kind::RefreshExpiry) {
        return Err(usage(format!(
            "a request bundle of several repositories is a batch; batches run revoke-tagging-key or refresh-expiry, not {}",
            script.kind.name()
        )));
    }
    if b.request.is_none() {
        return Err(usage(
            "a batch ceremony reads its repositories from --request DIR",
        ));
    }
    if b.current.is_some() || !b.keyfiles.is_empty() {
        return Err(usage(
            "a batch ceremony takes the current roots and the replacement keys from the request bundle; --current and --key are not used",
        ));
    }
    for (name, spec) in &script.keys {
        if spec.generate {
            return Err(usage(format!(
                "key {name} is generated: a batch ceremony generates no keys"
            )));
        }
        if spec.role == "root" {
            let t = b.tokens.get(name).ok_or_else(|| {
                usage(format!(
                    "a batch ceremony needs every root token bound up front: --token {name}=REF"
                ))
            })?;
            crate::commands::token_public_key(t)?;
        }
    }
    Ok(())
}

/// A backup recipient as given on the command line.
enum Recipient {
    X25519(Box<age::x25519::Recipient>),
    Passphrase(String),
}

fn parse_recipient(r: &str) -> std::result::Result<Recipient, String> {
    if let Some(label) = r.strip_prefix("passphrase:") {
        if label.is_empty() {
            return Err("--backup NAME=passphrase:CUSTODIAN needs the custodian's name".into());
        }
        return Ok(Recipient::Passphrase(label.to_owned()));
    }
    r.parse::<age::x25519::Recipient>()
        .map(|x| Recipient::X25519(Box::new(x)))
        .map_err(|_| format!("backup recipient {r:?} is neither an age X25519 recipient (age1…) nor passphrase:CUSTODIAN"))
}

fn current_hashes(current: &[RootDocument]) -> Result<Vec<String>> {
    current
        .iter()
        .map(|d| Ok(hex::encode(Sha256::digest(d.to_json()?))))
        .collect()
}

fn flavour_of(script: &Script) -> Flavour {
    match script.parameters.flavour {
        FlavourParam::Tuf => Flavour::Tuf,
        FlavourParam::Notary => Flavour::Notary,
    }
}

fn read_keyfile(path: &Path, flavour: Flavour) -> Result<Key> {
    let bytes = crate::commands::read_file(path)?;
    crate::tuf::key::read_key_object(&bytes, flavour).map_err(|reason| Error::Read {
        path: path.display().to_string(),
        reason,
    })
}

/// Everything checked before the first step: every key has what it needs, the
/// current roots verify. Returns the current chain.
fn check_bindings(
    script: &Script,
    b: &Bindings,
    interactive: bool,
) -> Result<(Vec<RootDocument>, Option<TargetsDocument>)> {
    let flavour = flavour_of(script);
    let delegating = script.kind == Kind::DelegationRotate;
    if delegating && flavour == Flavour::Notary {
        return Err(usage(
            "delegation-rotate supports TUF targets metadata; Notary delegations are not supported yet",
        ));
    }
    for (name, spec) in &script.keys {
        let signs = matches!(spec.role.as_str(), "root" | "outgoing-root")
            || (delegating && spec.role == "targets");
        let online = !signs;
        let has_token = b.tokens.contains_key(name);
        let has_file = b.keyfiles.contains_key(name);
        // At a terminal, the operator may select a connected token when the key
        // is first needed; unattended runs must bind every token up front.
        if (spec.generate || spec.backup) && !has_token && (!interactive || spec.backup) {
            return Err(usage(format!(
                "key {name} is generated in this ceremony: say on which token with --token {name}=REF"
            )));
        }
        if !online && !has_token && !interactive {
            return Err(usage(format!(
                "root key {name} signs in this ceremony: bind its token with --token {name}=REF"
            )));
        }
        if online && !has_token && !has_file {
            return Err(usage(format!(
                "online key {name} ({}): give --key {name}=keyfile:PATH or --token {name}=REF",
                spec.role
            )));
        }
        if let Some(t) = b.tokens.get(name) {
            TokenRef::parse(t)?;
            if spec.has_yubikey_settings() && !t.starts_with("yubikey:") {
                return Err(usage(format!(
                    "key {name} has YubiKey settings in the script (slot, pin_policy, touch_policy, \
                     overwrite, attestation) but is bound to {t}: bind a yubikey:serial=NNN token"
                )));
            }
            if !spec.generate && online {
                crate::commands::token_public_key(t)?;
            }
        }
        if let Some(f) = b.keyfiles.get(name) {
            read_keyfile(f, flavour)?;
        }
    }
    for (name, spec) in &script.keys {
        let recipients = b.backups.get(name).map(Vec::as_slice).unwrap_or_default();
        if !spec.backup {
            if !recipients.is_empty() {
                return Err(usage(format!(
                    "--backup {name}=…: the script does not back up key {name} (it is generated on its token, which never lets it out)"
                )));
            }
            continue;
        }
        let token = &b.tokens[name];
        if !token.starts_with("soft:") {
            return Err(usage(format!(
                "key {name} is backed up, so it is generated in software and loaded into its token; \
                 loading into a PKCS#11 token is not supported yet: bind a soft: token, or generate the key on the token without a backup"
            )));
        }
        if recipients.is_empty() {
            return Err(usage(format!(
                "key {name} is backed up: give each custodian's recipient with --backup {name}=age1… or --backup {name}=passphrase:CUSTODIAN"
            )));
        }
        for r in recipients {
            parse_recipient(r).map_err(usage)?;
        }
        if b.backup_dir.is_none() {
            return Err(usage(
                "this ceremony writes backups: say where with --backup-dir DIR (the custodians' media, not the export)",
            ));
        }
    }
    for name in b
        .tokens
        .keys()
        .chain(b.keyfiles.keys())
        .chain(b.backups.keys())
    {
        if !script.keys.contains_key(name) {
            return Err(usage(format!(
                "--token/--key {name}: the script declares no key {name:?} (it declares {})",
                script.keys.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
    }
    let current = match (&b.current, script.kind.needs_current_root()) {
        (None, true) => {
            return Err(usage(format!(
                "a {} ceremony starts from the current root: give --current DIR",
                script.kind.name()
            )));
        }
        (Some(_), false) => {
            return Err(usage(
                "a root-init ceremony makes a new root; --current is not used",
            ));
        }
        (None, false) => Vec::new(),
        (Some(path), true) => {
            let trusted_path = b.trusted.as_ref().ok_or_else(|| {
                usage(format!(
                    "a {} ceremony needs --trusted ROOT: the root your key holders already trust, \
                     from offline storage (e.g. the previous ceremony's export); the current roots \
                     from the online side are checked against it",
                    script.kind.name()
                ))
            })?;
            let trusted = crate::commands::read_root(trusted_path)?;
            let docs = if path.is_dir() {
                crate::commands::verify::read_root_dir(path, None)?
            } else {
                vec![crate::commands::read_root(path)?]
            };
            if let Some(first) = docs.first()
                && first.flavour() != flavour
            {
                return Err(usage(format!(
                    "{} is {} metadata; the script is for {}",
                    first.name,
                    first.flavour(),
                    flavour
                )));
            }
            let now = Utc::now();
            // An expired current root is allowed (refreshing expiry is a reason to
            // be here); everything else is checked as a client would.
            let latest_expiry = docs
                .last()
                .and_then(|d| crate::tuf::time::parse_expires(&d.root().expires, flavour).ok())
                .map(|t| t - chrono::Duration::seconds(1))
                .unwrap_or(now)
                .min(now);
            let options = ChainOptions {
                now: latest_expiry,
                gun: (flavour == Flavour::Notary).then(|| script.parameters.repository.clone()),
            };
            let newer: Vec<RootDocument> = docs
                .iter()
                .filter(|d| d.version() >= trusted.version())
                .cloned()
                .collect();
            if newer.is_empty() {
                return Err(usage(format!(
                    "the current roots end at version {}, older than the trusted version {} (rollback refused)",
                    docs.last().map(|d| d.version()).unwrap_or(0),
                    trusted.version()
                )));
            }
            verify_chain(Some(trusted), newer, &options)?;
            docs
        }
    };
    let targets = match (&b.targets, delegating) {
        (None, true) => {
            return Err(usage(
                "a delegation-rotate ceremony starts from the current targets metadata: give --targets FILE",
            ));
        }
        (Some(_), false) => return Err(usage("--targets is used only by delegation-rotate")),
        (None, false) => None,
        (Some(path), true) => {
            let bytes = crate::commands::read_file(path)?;
            let doc = TargetsDocument::from_slice(&bytes, &path.display().to_string())?;
            let root = current
                .last()
                .expect("delegation-rotate has a current root");
            let check = targets_check(&doc, root)?;
            if !check.met() {
                return Err(usage(format!(
                    "{}: signed by {} of the {} targets key(s) the current root requires; refusing to build on it",
                    doc.name,
                    check.valid.len(),
                    check.threshold
                )));
            }
            let role = script.parameters.delegation.as_deref().unwrap_or_default();
            if !doc
                .targets()
                .delegations
                .as_ref()
                .is_some_and(|d| d.roles.iter().any(|r| r.name == role))
            {
                return Err(usage(format!(
                    "{}: delegates no role named {role:?}",
                    doc.name
                )));
            }
            Some(doc)
        }
    };
    Ok((current, targets))
}

/// Check targets metadata against the targets role of `root`.
fn targets_check(
    doc: &TargetsDocument,
    root: &RootDocument,
) -> Result<crate::tuf::verify::RoleCheck> {
    let role = &root.root().roles["targets"];
    Ok(crate::tuf::verify::check_role(
        &doc.canonical_signed()?,
        &doc.signatures,
        &root.root().keys,
        &role.keyids,
        role.threshold,
        doc.flavour(),
    ))
}

fn find_root_keyid(root: &Root, public: &PublicKey, flavour: Flavour) -> Option<String> {
    root.roles["root"]
        .keyids
        .iter()
        .find(|id| {
            root.keys
                .get(*id)
                .and_then(|k| decode_key(k, flavour).ok())
                .is_some_and(|d| &d.public == public)
        })
        .cloned()
}

fn replace_role_keys(root: &mut Root, role: &str) {
    let ids: Vec<String> = root
        .roles
        .get(role)
        .map(|r| r.keyids.clone())
        .unwrap_or_default();
    for id in ids {
        remove_key(root, role, &id);
    }
}

fn title(step: &Step) -> String {
    match step.action {
        Action::Confirm => "confirm".into(),
        Action::CheckAirGap => "air-gap check".into(),
        Action::ListTokens => "tokens and keys".into(),
        Action::GenerateKey => format!("generate key {}", step.key.as_deref().unwrap_or("")),
        Action::BuildRoot => "build the new root".into(),
        Action::BuildTargets => "build the new targets metadata".into(),
        Action::Review => "read the new root aloud".into(),
        Action::Sign => format!("sign with key {}", step.key.as_deref().unwrap_or("")),
        Action::Verify => "verify".into(),
        Action::Export => "export".into(),
    }
}

/// What the administrator reads aloud: version, expiry, every role's keys and
/// threshold, any fields no client models (so nobody signs what they were not
/// told of), and what changed against the previous root.
pub fn summary(new: &RootDocument, previous: Option<&RootDocument>, backups: &str) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let root = new.root();
    let _ = writeln!(s, "{} root, version {}", new.flavour(), root.version);
    let _ = writeln!(s, "expires {}", root.expires);
    // What the room compares by eye and voice is computed from the key material,
    // never taken from the stated key ID (a producer's IDs may hash anything).
    let spoken = |doc: &RootDocument, keyid: &str| -> String {
        doc.root()
            .keys
            .get(keyid)
            .map(|k| fingerprint(&key_id(k, doc.flavour())))
            .unwrap_or_else(|| fingerprint(keyid))
    };
    for role in TOP_LEVEL_ROLES {
        let r = &root.roles[role];
        let ids: Vec<String> = r.keyids.iter().map(|k| spoken(new, k)).collect();
        let _ = writeln!(
            s,
            "{role}: {} of {} key(s): {}",
            r.threshold,
            r.keyids.len(),
            ids.join(", ")
        );
    }
    let unknown = new.unknown_fields();
    if !unknown.is_empty() {
        let _ = writeln!(
            s,
            "other fields, signed as they are (no client acts on them): {}",
            unknown.join(", ")
        );
    }
    match previous {
        None => {
            let _ = writeln!(s, "a new root: there is no previous version");
        }
        Some(prev) => {
            let _ = writeln!(s, "changes from version {}:", prev.version());
            let mut any = false;
            for role in TOP_LEVEL_ROLES {
                let old: BTreeSet<&String> = prev.root().roles[role].keyids.iter().collect();
                let newk: BTreeSet<&String> = root.roles[role].keyids.iter().collect();
                for k in newk.difference(&old) {
                    let _ = writeln!(s, "  {role}: key {} ADDED", spoken(new, k));
                    any = true;
                }
                for k in old.difference(&newk) {
                    let _ = writeln!(s, "  {role}: key {} REMOVED", spoken(prev, k));
                    any = true;
                }
                let (ot, nt) = (
                    prev.root().roles[role].threshold,
                    root.roles[role].threshold,
                );
                if ot != nt {
                    let _ = writeln!(s, "  {role}: threshold {ot} -> {nt}");
                    any = true;
                }
            }
            if prev.root().expires != root.expires {
                let _ = writeln!(s, "  expiry {} -> {}", prev.root().expires, root.expires);
            }
            if !any {
                let _ = writeln!(s, "  no key or threshold changes");
            }
        }
    }
    let _ = writeln!(s, "{backups}");
    s
}

/// What the administrator reads aloud for a delegation change.
pub fn targets_summary(new: &TargetsDocument, previous: &TargetsDocument) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "targets metadata, version {}", new.version());
    let _ = writeln!(s, "expires {}", new.targets().expires);
    let old_roles = previous
        .targets()
        .delegations
        .as_ref()
        .map(|d| d.roles.clone())
        .unwrap_or_default();
    if let Some(d) = &new.targets().delegations {
        for r in &d.roles {
            let ids: Vec<String> = r.keyids.iter().map(|k| fingerprint(k)).collect();
            let _ = writeln!(
                s,
                "delegated role {}: {} of {} key(s): {}",
                r.name,
                r.threshold,
                r.keyids.len(),
                ids.join(", ")
            );
            if let Some(old) = old_roles.iter().find(|o| o.name == r.name) {
                for k in r.keyids.iter().filter(|k| !old.keyids.contains(k)) {
                    let _ = writeln!(s, "  {}: key {} ADDED", r.name, fingerprint(k));
                }
                for k in old.keyids.iter().filter(|k| !r.keyids.contains(k)) {
                    let _ = writeln!(s, "  {}: key {} REMOVED", r.name, fingerprint(k));
                }
                if old.threshold != r.threshold {
                    let _ = writeln!(
                        s,
                        "  {}: threshold {} -> {}",
                        r.name, old.threshold, r.threshold
                    );
                }
            }
        }
    }
    let _ = writeln!(
        s,
        "the targets files listed are unchanged ({} target(s))",
        new.targets().targets.len()
    );
    s
}

/// Asks the operator UI for PKCS#11 PINs.
struct UiPin<'u> {
    ui: &'u mut dyn OperatorUi,
    step: String,
    /// The token reference as the run names it (answers files key PINs by it).
    reference: String,
    /// A SoftHSM token: its PIN may come from an answers file.
    test_token: bool,
}

impl crate::tokens::pkcs11::PinPrompt for UiPin<'_> {
    fn notice(&mut self, message: &str) {
        self.ui.say(message);
    }

    fn confirm_final_try(
        &mut self,
        token: &str,
    ) -> std::result::Result<bool, crate::tokens::TokenError> {
        self.ui
            .confirm(
                &format!("{}-final-pin-try", self.step),
                &format!("{token}: this is the FINAL PIN try; a wrong PIN locks the token. Go on?"),
            )
            .map_err(|e| crate::tokens::TokenError::Refused {
                token: token.to_owned(),
                reason: e.to_string(),
            })
    }

    fn user_pin(
        &mut self,
        token: &str,
    ) -> std::result::Result<crate::secret::Secret, crate::tokens::TokenError> {
        self.ui
            .secret(
                &self.step,
                &SecretRequest {
                    token: self.reference.clone(),
                    kind: SecretKind::Pin,
                    status: Some(token.to_owned()),
                    test_token: self.test_token,
                    confirm: false,
                },
            )
            .map_err(|e| crate::tokens::TokenError::Refused {
                token: token.to_owned(),
                reason: e.to_string(),
            })
    }
}
