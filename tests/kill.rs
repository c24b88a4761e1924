//! Real kills. A ceremony on SoftHSM2 tokens (root-init, revoke-tagging-key, and a
//! batch over several repositories; and then `publish`, `qr decode` and `request`,
//! with and without a new key in the online key store, on the online side,
//! finished by running them again) is run once under Debian's `strace`
//! to list every side-effecting system call it makes (write, pwrite, ftruncate,
//! rename, link, unlink, mkdir, fsync/fdatasync, and every open that creates);
//! then, for each of them, a fresh copy of the room runs the same ceremony and
//! `strace --inject=CALL:signal=KILL:when=N` kills it with SIGKILL at exactly that
//! call. The ceremony is then resumed as its messages say (some resumes are
//! killed too) until it finishes, and judged:
//!
//! - python-tuf accepts the export (one python-tuf run judges every case);
//! - the transcript verifies, and the one on disk at the kill is a prefix of the
//!   final one (whole lines: a line is written by one call);
//! - every key shown to the room at the kill is a key of the final root: no key
//!   shown is ever generated again;
//! - each token holds exactly one key pair, private half included, labelled as
//!   the script says, and it is the key the final root lists for that token;
//! - no temporary or partial file remains; nothing beside the work directory
//!   and the export changed.
//!
//! Every one of the tool's own calls is killed at. Calls SoftHSM makes inside
//! its own object files are sampled (there are hundreds); its token file
//! (`token.object`, rewritten at every login) is skipped: a kill inside that
//! write destroys the token, SoftHSM's own weakness (see
//! `docs/threat-model.md`). The counts are printed.

mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The calls a kill lands on.
const CALLS: &[&str] = &[
    "write",
    "pwrite64",
    "writev",
    "pwritev",
    "ftruncate",
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "unlink",
    "unlinkat",
    "mkdir",
    "mkdirat",
    "fsync",
    "fdatasync",
    "openat",
];

/// At most this many kills inside SoftHSM's object files per ceremony (evenly
/// spread over them).
const MODULE_SAMPLE: usize = 40;

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ceremony-scripts")
}

/// A shipped script, written to `room`, with the facts the room types trimmed to
/// one step of each kind (sign-in, the first record, sign-out): they commit as every
/// step does, and each adds a dozen calls to kill at. Returns its name in `room`.
fn lean_script(name: &str, room: &Path) -> String {
    let text = fs::read_to_string(scripts().join(name)).unwrap();
    let mut doc: toml::Table = text.parse().unwrap();
    let steps = doc["steps"].as_array_mut().unwrap();
    let mut recorded = false;
    steps.retain(|st| match st["action"].as_str() {
        Some("record") => !std::mem::replace(&mut recorded, true),
        _ => true,
    });
    assert!(recorded, "{name} records a fact");
    fs::write(room.join(name), toml::to_string(&doc).unwrap()).unwrap();
    name.to_owned()
}

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("ceremony")
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn strace_available() {
    let ok = Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "strace is not installed: run scripts/test-all, which installs it"
    );
}

/// A room: the SoftHSM configuration and tokens (`hsm/`), and the directory the
/// ceremony works in (`room/`: its inputs, work directory and export).
#[derive(Clone)]
struct Case {
    dir: PathBuf,
}

impl Case {
    fn hsm(&self) -> PathBuf {
        self.dir.join("hsm")
    }
    fn room(&self) -> PathBuf {
        self.dir.join("room")
    }
    fn conf(&self) -> PathBuf {
        self.hsm().join("softhsm2.conf")
    }
    fn work(&self) -> PathBuf {
        self.room().join("work")
    }
    fn export(&self) -> PathBuf {
        self.room().join("export")
    }
    fn answers(&self) -> PathBuf {
        self.room().join("answers.toml")
    }

    /// A copy of `template` at `dir` (SoftHSM's configuration names its token
    /// directory by path, so it is written anew).
    fn copy_of(template: &Case, dir: PathBuf) -> Case {
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let o = Command::new("cp")
            .arg("-a")
            .arg(template.hsm())
            .arg(template.room())
            .arg(&dir)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let case = Case { dir };
        case.write_conf();
        case
    }

    fn write_conf(&self) {
        write_softhsm_conf(&self.conf(), &self.hsm().join("tokens"));
    }

    fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        c.current_dir(self.room())
            .env("SOFTHSM2_CONF", self.conf())
            .env("CEREMONY_PKCS11_MODULE", SOFTHSM_MODULE)
            .stdin(Stdio::null());
        c
    }

    fn ceremony(&self, args: &[String]) -> Output {
        self.command(&bin()).args(args).output().unwrap()
    }

    /// Run `ceremony ARGS` under strace; with `kill`, SIGKILLed at that call.
    fn traced(&self, args: &[String], log: &Path, kill: Option<(&str, usize)>) -> Output {
        let mut c = self.command(Path::new("strace"));
        c.arg("-o").arg(log);
        match kill {
            None => {
                c.args(["-y", "-qq", "-e", &format!("trace={}", CALLS.join(","))]);
            }
            Some((call, n)) => {
                c.args([
                    "-y",
                    "-qq",
                    "-e",
                    &format!("trace={call}"),
                    "-e",
                    &format!("inject={call}:signal=KILL:when={n}"),
                ]);
            }
        }
        c.arg("--").arg(bin()).args(args).output().unwrap()
    }

    /// What each token holds: (class, label, ID hex) per object, read with
    /// OpenSC's pkcs11-tool (an independent PKCS#11 client) after logging in.
    fn token_objects(&self, label: &str, pin: &str) -> Vec<(String, String, String)> {
        let o = self
            .command(Path::new("pkcs11-tool"))
            .args([
                "--module",
                SOFTHSM_MODULE,
                "--token-label",
                label,
                "--login",
                "--pin",
                pin,
                "--list-objects",
            ])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "pkcs11-tool on {label}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let mut out = Vec::new();
        for line in String::from_utf8_lossy(&o.stdout).lines() {
            if line.ends_with("Object") || line.contains(" Object;") {
                out.push((
                    line.split(" Object").next().unwrap().trim().to_owned(),
                    String::new(),
                    String::new(),
                ));
            } else if let Some(last) = out.last_mut() {
                let t = line.trim();
                if let Some(l) = t.strip_prefix("label:") {
                    last.1 = l.trim().to_owned();
                } else if let Some(i) = t.strip_prefix("ID:") {
                    last.2 = i.trim().to_owned();
                }
            }
        }
        out
    }
}

/// One side-effecting call of the traced run.
#[derive(Debug, Clone)]
struct Event {
    call: String,
    /// Which call of this name it is (from 1), as strace's `when=` counts.
    nth: usize,
    whose: Whose,
    line: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Whose {
    Own,
    /// Inside SoftHSM's files for its objects.
    ModuleObject,
    /// Inside SoftHSM's token file: skipped.
    ModuleToken,
}

fn events(log: &Path, tokens_dir: &Path) -> Vec<Event> {
    let text = fs::read_to_string(log).unwrap();
    let tokens = tokens_dir.display().to_string();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(open) = line.find('(') else { continue };
        let call = &line[..open];
        if !CALLS.contains(&call) {
            continue;
        }
        let nth = {
            let c = counts.entry(call.to_owned()).or_default();
            *c += 1;
            *c
        };
        if call == "openat" && !line.contains("O_CREAT") {
            continue;
        }
        let whose = if !line.contains(&tokens) {
            Whose::Own
        } else if line.contains("token.object") || line.contains("token.lock") {
            Whose::ModuleToken
        } else {
            Whose::ModuleObject
        };
        out.push(Event {
            call: call.to_owned(),
            nth,
            whose,
            line: line.chars().take(160).collect(),
        });
    }
    out
}

/// The kills to make: every own call, a spread sample of SoftHSM's object-file
/// calls. Returns them and how many module calls were skipped.
fn plan(events: &[Event]) -> (Vec<Event>, usize, usize) {
    let own: Vec<Event> = events
        .iter()
        .filter(|e| e.whose == Whose::Own)
        .cloned()
        .collect();
    let objects: Vec<&Event> = events
        .iter()
        .filter(|e| e.whose == Whose::ModuleObject)
        .collect();
    let token_file = events
        .iter()
        .filter(|e| e.whose == Whose::ModuleToken)
        .count();
    let step = objects.len().div_ceil(MODULE_SAMPLE).max(1);
    let sampled: Vec<Event> = objects.iter().step_by(step).map(|e| (*e).clone()).collect();
    let skipped = token_file + objects.len() - sampled.len();
    let mut all = own;
    all.extend(sampled);
    (all, skipped, token_file)
}

/// A ceremony under test: how to run it and how to judge its export.
struct Scenario {
    name: &'static str,
    args: Vec<String>,
    /// Token label → PIN.
    tokens: Vec<(String, String)>,
    /// The script keys generated in it, by token label.
    generated: BTreeMap<String, String>,
    /// How python-tuf judges the output.
    verdict: Verdict,
    /// How a killed run is finished: `--resume` (a ceremony), or the same command
    /// again (publish, qr decode: they promise that running again completes).
    rerun: bool,
    /// What the command writes (in the room); everything else must not change.
    outputs: Vec<&'static str>,
    /// The directory judged (and kept for python-tuf).
    output: &'static str,
    /// Further checks of a finished run.
    judge: fn(&Case) -> Result<(), String>,
    /// Run again after its output was moved into place, the command refuses to
    /// write it twice ("already exists"): the output there is the finished one.
    exists_is_done: bool,
}

/// How python-tuf judges what a scenario wrote.
enum Verdict {
    /// It walks this chain of roots (relative to the output), the last one the
    /// new root; the keys that root lists are then looked for on the tokens.
    Chain(Vec<&'static str>),
    /// A batch export: every new root must follow its repository's current root
    /// in the request (`tests/interop/tuf_verify_batch.py`), and the export must
    /// be byte-identical to an uninterrupted run's.
    Batch { request: &'static str },
}

/// A request's bundle in the room verifies (`bundle-verify --kind request`).
fn request_bundle_verifies(case: &Case) -> Result<(), String> {
    let o = case.ceremony(&["bundle-verify", "--kind", "request", "req"].map(String::from));
    if o.status.success() {
        Ok(())
    } else {
        Err(format!("bundle-verify: {}", stderr(&o)))
    }
}

fn no_more_checks(_: &Case) -> Result<(), String> {
    Ok(())
}

fn sha(path: &Path) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(fs::read(path).unwrap()).to_vec()
}

/// The inputs in the room (everything there before the run), with their hashes.
fn inputs(room: &Path, outputs: &[&str]) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![room.to_owned()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(room).unwrap().display().to_string();
            if outputs.contains(&rel.as_str()) {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                out.insert(rel, Vec::new());
                stack.push(e.path());
            } else {
                out.insert(rel, sha(&e.path()));
            }
        }
    }
    out
}

fn leftovers(dir: &Path, found: &mut Vec<String>) {
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".tmp") || name.ends_with(".partial") || name.starts_with(".ceremony") {
            found.push(e.path().display().to_string());
        }
        if e.file_type().unwrap().is_dir() {
            leftovers(&e.path(), found);
        }
    }
}

/// Whole lines of a transcript.
fn whole_lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    if lines.last().is_some_and(|l| !l.ends_with('\n')) {
        lines.pop();
    }
    lines
}

/// Key IDs shown to the room as generated, as fingerprints (hex digits only).
fn shown_keys(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .filter_map(|l| {
            let (name, rest) = l.split_once(": ")?;
            let rest = rest.split_once(" key ")?.1;
            let (fp, on) = rest.split_once(" on ")?;
            on.starts_with("pkcs11:")
                .then(|| (name.trim().to_owned(), fp.replace(' ', "")))
        })
        .collect()
}

fn percent_decode_id(uri: &str) -> String {
    let id = uri.split(";id=").nth(1).unwrap_or_default();
    let id = id.split(';').next().unwrap_or_default();
    id.replace('%', "").to_lowercase()
}

enum Outcome {
    /// Finished and judged: the output kept for python-tuf, and how many
    /// recovery runs it took.
    Finished { export: PathBuf, resumes: usize },
    /// The kill landed inside SoftHSM's token file (see below): not judged.
    LandedInTokenFile,
}

/// Kill the scenario at `event` in a fresh copy of `template`, resume until it
/// finishes, and judge everything but python-tuf (judged for all at the end).
fn kill_and_recover(
    sc: &Scenario,
    template: &Case,
    dir: PathBuf,
    event: &Event,
    kill_resume_at: Option<usize>,
) -> Result<Outcome, String> {
    let case = Case::copy_of(template, dir);
    let before = inputs(&case.room(), &sc.outputs);
    let log = case.dir.join("kill.log");
    let o = case.traced(&sc.args, &log, Some((&event.call, event.nth)));
    let what = format!(
        "{} killed at {} #{} ({})",
        sc.name, event.call, event.nth, event.line
    );
    let killed = o.status.signal() == Some(9);
    // Where the kill landed: the count of a call can differ by one or two
    // between runs (a progress line drawn or not). A kill that landed inside
    // SoftHSM's token file destroys the token (its own weakness): skipped.
    if killed
        && fs::read_to_string(&log).is_ok_and(|t| {
            t.lines()
                .rev()
                .find(|l| l.starts_with(event.call.as_str()))
                .is_some_and(|l| l.contains("token.object") || l.contains("token.lock"))
        })
    {
        return Ok(Outcome::LandedInTokenFile);
    }
    if !killed && !o.status.success() {
        return Err(format!("{what}: the run failed by itself:\n{}", stderr(&o)));
    }
    let shown = shown_keys(&stdout(&o));
    let state_existed = case.work().join("state.json").exists();
    let transcript_at_kill = fs::read_to_string(case.work().join("transcript.jsonl")).ok();
    let mut resumes = 0;
    let resume_args: Vec<String> = [
        "run",
        "--resume",
        "--allow-network",
        "--workdir",
        p(&case.work()),
        "--answers",
        p(&case.answers()),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut finished = !killed;
    let mut kill_next = kill_resume_at;
    if sc.rerun {
        while !finished {
            resumes += 1;
            if resumes > 3 {
                return Err(format!("{what}: still not finished after 3 runs"));
            }
            let o = match kill_next.take() {
                Some(n) => {
                    let o = case.traced(&sc.args, &case.dir.join("rerun.log"), Some(("fsync", n)));
                    if o.status.signal() == Some(9) {
                        continue;
                    }
                    o
                }
                None => case.ceremony(&sc.args),
            };
            let done_before = sc.exists_is_done
                && stderr(&o).contains("already exists")
                && case.room().join(sc.output).join("manifest.json").is_file();
            if !o.status.success() && !done_before {
                return Err(format!(
                    "{what}: running it again failed:\n{}{}",
                    stdout(&o),
                    stderr(&o)
                ));
            }
            finished = true;
        }
        (sc.judge)(&case).map_err(|e| format!("{what}: {e}"))?;
        let mut stray = Vec::new();
        leftovers(&case.room(), &mut stray);
        if !stray.is_empty() {
            return Err(format!("{what}: left behind: {stray:?}"));
        }
        if inputs(&case.room(), &sc.outputs) != before {
            return Err(format!("{what}: an input changed"));
        }
        return Ok(Outcome::Finished {
            export: case.room().join(sc.output),
            resumes,
        });
    }
    while !finished {
        resumes += 1;
        if resumes > 4 {
            return Err(format!("{what}: still not finished after 4 resumes"));
        }
        let o = match kill_next.take() {
            Some(n) => {
                // At one of its fsyncs: every fsync is the tool's own (SoftHSM
                // never syncs), so the kill never lands inside SoftHSM's files.
                let o = case.traced(
                    &resume_args,
                    &case.dir.join("resume.log"),
                    Some(("fsync", n)),
                );
                if o.status.signal() == Some(9) {
                    continue;
                }
                o
            }
            None => case.ceremony(&resume_args),
        };
        if o.status.success() {
            finished = true;
        } else if stderr(&o).contains("without --resume") {
            // Killed while starting: the message says what to do, and we do it.
            let o = case.ceremony(&sc.args);
            if !o.status.success() {
                return Err(format!("{what}: starting again failed:\n{}", stderr(&o)));
            }
            finished = true;
        } else {
            return Err(format!(
                "{what}: resume {resumes} failed:\n{}{}",
                stdout(&o),
                stderr(&o)
            ));
        }
    }
    (sc.judge)(&case).map_err(|e| format!("{what}: {e}"))?;
    let export = case.export();
    let transcript = fs::read_to_string(export.join("transcript.jsonl"))
        .map_err(|e| format!("{what}: no exported transcript: {e}"))?;
    let v = case.ceremony(&[
        "transcript".into(),
        "verify".into(),
        "--accept-practice".into(),
        p(&export.join("transcript.jsonl")).into(),
    ]);
    if !v.status.success() {
        return Err(format!("{what}: transcript verify: {}", stderr(&v)));
    }
    if state_existed && let Some(at_kill) = &transcript_at_kill {
        let prefix: String = whole_lines(at_kill).concat();
        if !transcript.starts_with(&prefix) {
            return Err(format!(
                "{what}: the transcript at the kill is not a prefix of the final one"
            ));
        }
    }
    // Keys: the last key-generated entry per script key is the one kept.
    let root_keyids: BTreeSet<String> = match sc.verdict {
        Verdict::Chain(_) => {
            let root: serde_json::Value =
                serde_json::from_slice(&fs::read(export.join("root.json")).unwrap()).unwrap();
            root["signed"]["roles"]["root"]["keyids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k.as_str().unwrap().to_owned())
                .collect()
        }
        Verdict::Batch { .. } => BTreeSet::new(),
    };
    let mut kept: BTreeMap<String, (String, String)> = BTreeMap::new();
    for line in transcript.lines() {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        if e["kind"] == "key-generated" {
            let d = &e["data"];
            kept.insert(
                d["key"].as_str().unwrap().to_owned(),
                (
                    d["tuf_keyid"].as_str().unwrap().to_owned(),
                    percent_decode_id(d["evidence"]["uri"].as_str().unwrap_or_default()),
                ),
            );
        }
        if let Some(id) = e["data"]["keyid"].as_str()
            && id.len() != 64
        {
            return Err(format!(
                "{what}: a transcript entry names key {id:?}, not its full ID"
            ));
        }
    }
    for (key, fp) in &shown {
        let Some((keyid, _)) = kept.get(key) else {
            return Err(format!("{what}: {key} was shown but is not recorded"));
        };
        if !keyid.starts_with(fp.as_str()) || !root_keyids.contains(keyid) {
            return Err(format!(
                "{what}: {key} was shown as {fp} and generated again ({keyid})"
            ));
        }
    }
    for (label, pin) in &sc.tokens {
        let objects = case.token_objects(label, pin);
        let private: Vec<_> = objects.iter().filter(|o| o.0 == "Private Key").collect();
        let public: Vec<_> = objects.iter().filter(|o| o.0 == "Public Key").collect();
        let ([k], [pk]) = (private.as_slice(), public.as_slice()) else {
            return Err(format!("{what}: token {label} holds {objects:?}"));
        };
        if k.1 != "ceremony-root" || pk.1 != "ceremony-root" || k.2 != pk.2 {
            return Err(format!("{what}: token {label} holds {objects:?}"));
        }
        if let Some(key) = sc.generated.get(label) {
            let (keyid, id) = &kept[key];
            if !root_keyids.contains(keyid) || *id != k.2.to_lowercase() {
                return Err(format!(
                    "{what}: token {label} holds {objects:?}, the root lists {keyid} (id {id})"
                ));
            }
        }
    }
    let mut stray = Vec::new();
    leftovers(&case.room(), &mut stray);
    if !stray.is_empty() {
        return Err(format!("{what}: left behind: {stray:?}"));
    }
    let after = inputs(&case.room(), &sc.outputs);
    if after != before {
        let changed: Vec<_> = after
            .iter()
            .filter(|(k, v)| before.get(*k) != Some(v))
            .map(|(k, _)| k.clone())
            .chain(before.keys().filter(|k| !after.contains_key(*k)).cloned())
            .collect();
        return Err(format!(
            "{what}: changed beside the work directory and export: {changed:?}"
        ));
    }
    Ok(Outcome::Finished { export, resumes })
}

/// Run every planned kill of `sc` over two threads; judge every export with
/// python-tuf at the end. Panics with every failure.
fn kill_everywhere(sc: &Scenario, template: &Case, scratch: &Path) {
    let traced = Case::copy_of(template, scratch.join("traced"));
    let log = traced.dir.join("trace.log");
    let o = traced.traced(&sc.args, &log, None);
    assert!(
        o.status.success(),
        "{}: traced run: {}",
        sc.name,
        stderr(&o)
    );
    let all = events(&log, &traced.hsm().join("tokens"));
    let (planned, skipped, token_file) = plan(&all);
    let own = planned.iter().filter(|e| e.whose == Whose::Own).count();
    println!(
        "{}: {} side-effecting calls; killing at all {own} of the tool's own and {} of SoftHSM's object-file calls; {skipped} of SoftHSM's skipped ({token_file} in its token file)",
        sc.name,
        all.len(),
        planned.len() - own,
    );
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let exports = Mutex::new(Vec::new());
    let resumes = AtomicUsize::new(0);
    let landed_in_token_file = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for t in 0..2 {
            let (next, failures, exports, resumes, planned, landed_in_token_file) = (
                &next,
                &failures,
                &exports,
                &resumes,
                &planned,
                &landed_in_token_file,
            );
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(event) = planned.get(i) else { break };
                    // Every fifth case, the first resume is killed too.
                    let kill_resume = (i % 5 == 4).then_some(1 + (i * 7919) % 40);
                    let dir = scratch.join(format!("case-{t}"));
                    match kill_and_recover(sc, template, dir.clone(), event, kill_resume) {
                        Ok(Outcome::LandedInTokenFile) => {
                            landed_in_token_file.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(Outcome::Finished { export, resumes: n }) => {
                            resumes.fetch_add(n, Ordering::SeqCst);
                            // Keep the export for python-tuf.
                            let keep = scratch.join(format!("export-{i}"));
                            fs::rename(&export, &keep).unwrap();
                            exports.lock().unwrap().push(keep);
                        }
                        Err(e) => failures.lock().unwrap().push(e),
                    }
                    let _ = fs::remove_dir_all(&dir);
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{}: {} of {} kills went wrong:\n{}",
        sc.name,
        failures.len(),
        planned.len(),
        failures.join("\n\n")
    );
    let exports = exports.into_inner().unwrap();
    let list = scratch.join("outputs.txt");
    let o = match &sc.verdict {
        Verdict::Chain(chain) => {
            let mut text = String::new();
            for e in &exports {
                let chain: Vec<String> = chain.iter().map(|f| p(&e.join(f)).to_owned()).collect();
                text.push_str(&chain.join(" "));
                text.push('\n');
            }
            fs::write(&list, text).unwrap();
            Command::new(python())
                .arg(interop_script("tuf_verify.py"))
                .arg("--chains")
                .arg(&list)
                .output()
                .unwrap()
        }
        Verdict::Batch { request } => {
            // Ed25519 signatures are deterministic and the expiry is fixed: a
            // resumed batch writes exactly what the uninterrupted run wrote.
            let uninterrupted = traced.room().join(sc.output);
            for e in &exports {
                for f in ["roots.pack", "roots.jsonl"] {
                    assert!(
                        fs::read(e.join(f)).unwrap() == fs::read(uninterrupted.join(f)).unwrap(),
                        "{}: {f} of {} differs from the uninterrupted run's",
                        sc.name,
                        e.display()
                    );
                }
            }
            let text: String = exports.iter().map(|e| format!("{}\n", p(e))).collect();
            fs::write(&list, text).unwrap();
            Command::new(python())
                .arg(interop_script("tuf_verify_batch.py"))
                .arg(template.room().join(request))
                .arg("--exports")
                .arg(&list)
                .output()
                .unwrap()
        }
    };
    assert!(
        o.status.success(),
        "{}: python-tuf refused an export:\n{}",
        sc.name,
        stdout(&o)
    );
    let landed = landed_in_token_file.load(Ordering::SeqCst);
    println!(
        "{}: {} kills, {} resumes, python-tuf accepted all {} exports; {landed} kill(s) landed inside SoftHSM's token file (skipped)",
        sc.name,
        planned.len(),
        resumes.load(Ordering::SeqCst),
        exports.len()
    );
    assert!(
        landed * 20 <= planned.len(),
        "{}: too many kills ({landed}) landed elsewhere than planned",
        sc.name
    );
}

const PINS: [&str; 3] = ["460193", "460287", "460311"];

/// Three root tokens and an online token with the three online keys; their key
/// files in the room with the answers.
fn root_init_template(dir: &Path) -> (Case, Scenario) {
    let case = Case {
        dir: dir.to_owned(),
    };
    fs::create_dir_all(case.hsm().join("tokens")).unwrap();
    fs::create_dir_all(case.room()).unwrap();
    case.write_conf();
    let init = |label: &str, pin: &str| init_softhsm_token(&case.conf(), label, pin);
    let mut tokens = Vec::new();
    let mut answers = String::from("[confirm]\ndefault = true\n[secrets]\n");
    for (i, pin) in PINS.iter().enumerate() {
        let label = format!("root-{}", i + 1);
        init(&label, pin);
        answers.push_str(&format!(
            "\"pkcs11:token={label};object=ceremony-root\" = \"{pin}\"\n"
        ));
        tokens.push((label, pin.to_string()));
    }
    init("online", "470001");
    let pin_file = case.dir.join("online-pin");
    fs::write(&pin_file, "470001\n").unwrap();
    for role in ["targets", "snapshot", "timestamp", "targets-new"] {
        let uri = format!("pkcs11:token=online;object={role}");
        let o = case.ceremony(&[
            "key".into(),
            "generate".into(),
            "--token".into(),
            uri.clone(),
            "--algorithm".into(),
            "ecdsa-p256".into(),
            "--pin-file".into(),
            p(&pin_file).into(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let o = case.ceremony(&[
            "key".into(),
            "show".into(),
            "--token".into(),
            uri,
            "--flavour".into(),
            "tuf".into(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        fs::write(case.room().join(format!("{role}.json")), &o.stdout).unwrap();
    }
    fs::write(case.answers(), answers).unwrap();
    let mut args: Vec<String> = vec![
        "run".into(),
        lean_script("root-init.toml", &case.room()),
        "--workdir".into(),
        "work".into(),
        "--out".into(),
        "export".into(),
        "--allow-network".into(),
        "--answers".into(),
        "answers.toml".into(),
    ];
    for (label, _) in &tokens {
        args.push("--token".into());
        args.push(format!("{label}=pkcs11:token={label};object=ceremony-root"));
    }
    for role in ["targets", "snapshot", "timestamp"] {
        args.push("--key".into());
        args.push(format!("{role}=keyfile:{role}.json"));
    }
    let generated = tokens.iter().map(|(l, _)| (l.clone(), l.clone())).collect();
    let sc = Scenario {
        name: "root-init",
        args,
        tokens,
        generated,
        verdict: Verdict::Chain(vec!["1.root.json"]),
        rerun: false,
        outputs: vec!["work", "export"],
        output: "export",
        judge: no_more_checks,
        exists_is_done: false,
    };
    (case, sc)
}

/// Kill root-init on three SoftHSM2 tokens at every side-effecting call, then
/// kill the responder's revoke-tagging-key ceremony over its export the same way.
#[test]
fn a_ceremony_killed_at_any_call_resumes_to_a_correct_end() {
    strace_available();
    let scratch = tempfile::tempdir().unwrap();
    let (template, init) = root_init_template(&scratch.path().join("template"));
    kill_everywhere(&init, &template, &scratch.path().join("init"));

    // The revocation starts from a finished root-init (run once, not killed).
    let o = template.ceremony(&init.args);
    assert!(o.status.success(), "{}", stderr(&o));
    let e1 = template.room().join("e1");
    fs::rename(template.export(), &e1).unwrap();
    fs::remove_dir_all(template.work()).unwrap();
    let root: serde_json::Value =
        serde_json::from_slice(&fs::read(e1.join("1.root.json")).unwrap()).unwrap();
    let leaked = root["signed"]["roles"]["targets"]["keyids"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let mut args: Vec<String> = vec![
        "run".into(),
        lean_script("revoke-tagging-key.toml", &template.room()),
        "--workdir".into(),
        "work".into(),
        "--out".into(),
        "export".into(),
        "--current".into(),
        "e1".into(),
        "--trusted".into(),
        "e1/1.root.json".into(),
        "--revoke".into(),
        leaked,
        "--key".into(),
        "targets-new=keyfile:targets-new.json".into(),
        "--allow-network".into(),
        "--answers".into(),
        "answers.toml".into(),
    ];
    for label in ["root-1", "root-2"] {
        args.push("--token".into());
        args.push(format!("{label}=pkcs11:token={label};object=ceremony-root"));
    }
    let revoke = Scenario {
        name: "revoke-tagging-key",
        args,
        tokens: init.tokens.clone(),
        generated: BTreeMap::new(),
        verdict: Verdict::Chain(vec!["1.root.json", "2.root.json"]),
        rerun: false,
        outputs: vec!["work", "export"],
        output: "export",
        judge: no_more_checks,
        exists_is_done: false,
    };
    kill_everywhere(&revoke, &template, &scratch.path().join("revoke"));

    // The online side: publishing the revocation to a TUF repository, and
    // rebuilding the export from its QR codes. Killed anywhere, running the same
    // command again finishes the job.
    let o = template.ceremony(&revoke.args);
    assert!(o.status.success(), "{}", stderr(&o));
    fs::rename(template.export(), template.room().join("e2")).unwrap();
    fs::remove_dir_all(template.work()).unwrap();
    let repo = template.room().join("repo");
    fs::create_dir(&repo).unwrap();
    for f in ["1.root.json", "root.json"] {
        fs::copy(e1.join(f), repo.join(f)).unwrap();
    }
    let publish = Scenario {
        name: "publish",
        args: ["publish", "e2", "--tuf-repo", "repo"]
            .map(String::from)
            .to_vec(),
        tokens: Vec::new(),
        generated: BTreeMap::new(),
        verdict: Verdict::Chain(vec!["1.root.json", "2.root.json"]),
        rerun: true,
        outputs: vec!["repo"],
        output: "repo",
        judge: |case| {
            let room = case.room();
            let new = fs::read(room.join("e2/2.root.json")).unwrap();
            for f in ["2.root.json", "root.json"] {
                if fs::read(room.join("repo").join(f)).ok().as_ref() != Some(&new) {
                    return Err(format!("repo/{f} is not the new root"));
                }
            }
            if fs::read(room.join("repo/1.root.json")).unwrap()
                != fs::read(room.join("e1/1.root.json")).unwrap()
            {
                return Err("repo/1.root.json changed".into());
            }
            Ok(())
        },
        exists_is_done: false,
    };
    kill_everywhere(&publish, &template, &scratch.path().join("publish"));
    fs::remove_dir_all(&repo).unwrap();

    let o = template.ceremony(&["qr", "encode", "e2", "--out", "frames"].map(String::from));
    assert!(o.status.success(), "{}", stderr(&o));
    let mut frames: Vec<String> = fs::read_dir(template.room().join("frames"))
        .unwrap()
        .map(|e| format!("frames/{}", e.unwrap().file_name().to_string_lossy()))
        .filter(|f| f.ends_with(".png"))
        .collect();
    frames.sort();
    let mut args: Vec<String> = ["qr", "decode", "--out", "received"]
        .map(String::from)
        .to_vec();
    args.extend(frames);
    let decode = Scenario {
        name: "qr decode",
        args,
        tokens: Vec::new(),
        generated: BTreeMap::new(),
        verdict: Verdict::Chain(vec!["1.root.json", "2.root.json"]),
        rerun: true,
        outputs: vec!["received"],
        output: "received",
        judge: |case| {
            let room = case.room();
            let o = case.ceremony(&["bundle-verify".into(), p(&room.join("received")).into()]);
            if !o.status.success() {
                return Err(format!("bundle-verify: {}", stderr(&o)));
            }
            for f in ["2.root.json", "transcript.jsonl", "manifest.json"] {
                if fs::read(room.join("received").join(f)).ok()
                    != fs::read(room.join("e2").join(f)).ok()
                {
                    return Err(format!("received/{f} differs from the export"));
                }
            }
            Ok(())
        },
        exists_is_done: false,
    };
    kill_everywhere(&decode, &template, &scratch.path().join("decode"));

    // The responder's request bundle for the next revocation, made from the
    // published chain: killed anywhere, running it again finishes (or finds
    // the finished bundle in place and refuses to make a second).
    let o = template.ceremony(
        &[
            "key",
            "show",
            "--token",
            "pkcs11:token=online;object=snapshot",
            "--flavour",
            "tuf",
        ]
        .map(String::from),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    fs::write(template.room().join("replacement.json"), &o.stdout).unwrap();
    let root2: serde_json::Value =
        serde_json::from_slice(&fs::read(template.room().join("e2/2.root.json")).unwrap()).unwrap();
    let leaked2 = root2["signed"]["roles"]["targets"]["keyids"][0]
        .as_str()
        .unwrap()
        .to_owned();
    // A request for the next revocation, its tagging key given by `keys`.
    let request_args = |keys: &[&str]| -> Vec<String> {
        let mut args = vec![
            "request",
            "--repository",
            "example.com/app",
            "--current",
            "e2",
        ];
        args.extend(keys);
        args.extend(["--revoke", &leaked2, "--out", "req"]);
        args.into_iter().map(String::from).collect()
    };
    let request = Scenario {
        name: "request",
        args: request_args(&["--key", "targets=keyfile:replacement.json"]),
        tokens: Vec::new(),
        generated: BTreeMap::new(),
        verdict: Verdict::Chain(vec!["current/1.root.json", "current/2.root.json"]),
        rerun: true,
        outputs: vec!["req"],
        output: "req",
        judge: request_bundle_verifies,
        exists_is_done: true,
    };
    kill_everywhere(&request, &template, &scratch.path().join("request"));

    // The same request with a new tagging key made in the online key store:
    // killed anywhere, running it again leaves exactly one key in the store, the
    // one the bundle names (a key made by the killed run is removed, never kept
    // beside the new one).
    fs::write(
        template.room().join("store-passphrase"),
        "a rehearsal passphrase for the key store\n",
    )
    .unwrap();
    let new_key = Scenario {
        name: "request --new-key",
        args: request_args(&[
            "--new-key",
            "targets",
            "--keystore",
            "store",
            "--passphrase-file",
            "store-passphrase",
        ]),
        outputs: vec!["req", "store"],
        judge: |case| {
            request_bundle_verifies(case)?;
            let room = case.room();
            let dir = room.join("store/example.com%2Fapp");
            let mut names: Vec<String> = fs::read_dir(&dir)
                .map_err(|e| format!("{}: {e}", dir.display()))?
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            let [key, public] = names.as_slice() else {
                return Err(format!("the key store holds {names:?}"));
            };
            // Key files are named by the first 16 hex digits of their key ID.
            let bundled: ceremony::tuf::metadata::Key =
                serde_json::from_slice(&fs::read(room.join("req/keys/targets.json")).unwrap())
                    .unwrap();
            let id = ceremony::tuf::key::key_id(&bundled, ceremony::tuf::metadata::Flavour::Tuf);
            if *key != format!("targets-{}.age", &id[..16]) || *public != format!("{key}.pub") {
                return Err(format!(
                    "the key store holds {names:?}, not the key the bundle names ({id})"
                ));
            }
            if fs::read_dir(room.join("store"))
                .unwrap()
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with(".request-"))
            {
                return Err("the request's key journal is still there".into());
            }
            Ok(())
        },
        ..request
    };
    kill_everywhere(&new_key, &template, &scratch.path().join("request-new-key"));

    // A signing event across sites: the revocation's lead site (signing_event =
    // true), then a further site countersigning with root-3, killed anywhere in
    // its import, signature, export and seal (sealed by root-3 again after a
    // resume), resumed: its export is the complete event and the chain of the
    // two sites' transcripts verifies.
    let mut lead_args = revoke.args.clone();
    for (flag, value) in [("--out", "lead"), ("--workdir", "lead-work")] {
        let at = lead_args.iter().position(|a| a == flag).unwrap() + 1;
        lead_args[at] = value.into();
    }
    lead_args.extend(["--set".into(), "signing_event=true".into()]);
    let o = template.ceremony(&lead_args);
    assert!(o.status.success(), "{}", stderr(&o));
    let countersign = Scenario {
        name: "root-countersign",
        args: vec![
            "run".into(),
            lean_script("root-countersign.toml", &template.room()),
            "--workdir".into(),
            "work".into(),
            "--out".into(),
            "export".into(),
            "--previous".into(),
            "lead".into(),
            "--trusted".into(),
            "e1/1.root.json".into(),
            "--token".into(),
            "keyholder=pkcs11:token=root-3;object=ceremony-root".into(),
            "--allow-network".into(),
            "--answers".into(),
            "answers.toml".into(),
        ],
        tokens: init.tokens.clone(),
        generated: BTreeMap::new(),
        verdict: Verdict::Chain(vec!["1.root.json", "2.root.json"]),
        rerun: false,
        outputs: vec!["work", "export"],
        output: "export",
        judge: |case| {
            let o = case.ceremony(&[
                "transcript".into(),
                "verify".into(),
                "export".into(),
                "--accept-practice".into(),
            ]);
            let out = String::from_utf8_lossy(&o.stdout).into_owned();
            if !o.status.success() || !out.contains("2 site(s); complete") {
                return Err(format!("transcript verify export: {out}{}", stderr(&o)));
            }
            let root: serde_json::Value =
                serde_json::from_slice(&fs::read(case.room().join("export/2.root.json")).unwrap())
                    .unwrap();
            if root["signatures"].as_array().map(Vec::len) != Some(3) {
                return Err(format!("{} signature(s), not 3", root["signatures"]));
            }
            Ok(())
        },
        exists_is_done: false,
    };
    kill_everywhere(&countersign, &template, &scratch.path().join("countersign"));
}

/// A responder's batch: revoke-tagging-key over four repositories, on two
/// SoftHSM2 tokens that already hold the room's root keys. Killed at every call,
/// resumed until done: python-tuf accepts every new root against its
/// repository's current root, and the export is byte-identical to the run that
/// was never killed.
#[test]
fn a_batch_killed_at_any_call_resumes_to_the_export_of_an_uninterrupted_run() {
    strace_available();
    let scratch = tempfile::tempdir().unwrap();
    let case = Case {
        dir: scratch.path().join("template"),
    };
    fs::create_dir_all(case.hsm().join("tokens")).unwrap();
    fs::create_dir_all(case.room()).unwrap();
    case.write_conf();
    let pin_file = case.dir.join("pin");
    fs::write(&pin_file, format!("{}\n", PINS[0])).unwrap();
    let mut answers = String::from("[confirm]\ndefault = true\n[secrets]\n");
    let mut refs = Vec::new();
    for label in ["root-1", "root-2"] {
        init_softhsm_token(&case.conf(), label, PINS[0]);
        let uri = format!("pkcs11:token={label};object=root");
        let o = case.ceremony(
            &["key", "generate", "--token", &uri, "--algorithm", "ed25519"]
                .map(String::from)
                .into_iter()
                .chain(["--pin-file".into(), p(&pin_file).into()])
                .collect::<Vec<_>>(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        answers.push_str(&format!("{uri:?} = {:?}\n", PINS[0]));
        refs.push((label, uri));
    }
    fs::write(case.answers(), answers).unwrap();
    let mut synth = case.command(Path::new(env!("CARGO_BIN_EXE_ceremony-bench")));
    synth.args(["synth", "--out", "request", "--repositories", "4"]);
    for (_, uri) in &refs {
        synth.args(["--root", uri]);
    }
    let o = synth.arg("--pin-file").arg(&pin_file).output().unwrap();
    assert!(o.status.success(), "synth: {}", stderr(&o));

    let script = lean_script("revoke-tagging-key.toml", &case.room());
    let mut args: Vec<String> = [
        "run",
        &script,
        "--workdir",
        "work",
        "--out",
        "export",
        "--request",
        "request",
        "--set",
        "expires=2031-06-30T00:00:00Z",
        "--allow-network",
        "--answers",
        "answers.toml",
    ]
    .map(String::from)
    .to_vec();
    for (label, uri) in &refs {
        args.push("--token".into());
        args.push(format!("{label}={uri}"));
    }
    let batch = Scenario {
        name: "batch revoke-tagging-key",
        args,
        // Nothing is generated: each token must still hold its one pair.
        tokens: Vec::new(),
        generated: BTreeMap::new(),
        verdict: Verdict::Batch { request: "request" },
        rerun: false,
        outputs: vec!["work", "export"],
        output: "export",
        judge: |case| {
            for label in ["root-1", "root-2"] {
                let objects = case.token_objects(label, PINS[0]);
                let kinds: Vec<(&str, &str)> = objects
                    .iter()
                    .map(|o| (o.0.as_str(), o.1.as_str()))
                    .collect();
                if kinds.len() != 2
                    || !kinds.contains(&("Private Key", "root"))
                    || !kinds.contains(&("Public Key", "root"))
                {
                    return Err(format!("token {label} holds {objects:?}"));
                }
            }
            Ok(())
        },
        exists_is_done: false,
    };
    kill_everywhere(&batch, &case, &scratch.path().join("batch"));
}
