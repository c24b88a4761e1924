//! Responders at scale: one revoke-tagging-key ceremony over 200 repositories on
//! SoftHSM tokens. Every new root is judged by python-tuf; a batch with a forged
//! or unrelated repository is refused up front with nothing signed; an interrupted
//! batch resumes to exactly the output of an uninterrupted one, and parallel
//! signing sessions give exactly what one session gives. A refresh-expiry batch
//! changes nothing but versions and expiry; a Notary batch keeps each repository's
//! own root certificates.

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const N: usize = 200;
const PIN: &str = "735102";
/// A fixed expiry: Ed25519 signatures are deterministic, so two runs over the same
/// drafts give byte-identical roots.
const EXPIRES: &str = "2031-06-30T00:00:00Z";

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

struct Room {
    hsm: SoftHsm,
    dir: tempfile::TempDir,
    refs: Vec<String>,
}

impl Room {
    fn new() -> Room {
        Room::with("ed25519")
    }

    /// Two root tokens, each holding a root key of `algorithm`.
    fn with(algorithm: &str) -> Room {
        let hsm = SoftHsm::new();
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("pin"), format!("{PIN}\n")).unwrap();
        let mut refs = Vec::new();
        for label in ["batch-root-1", "batch-root-2"] {
            hsm.init(label, PIN);
            let r = format!("pkcs11:token={label};object=root");
            let o = self_cmd(&hsm, "ceremony")
                .args(["key", "generate", "--token", &r, "--algorithm", algorithm])
                .args(["--pin-file", p(&dir.path().join("pin"))])
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", stderr(&o));
            refs.push(r);
        }
        let mut answers = String::from("[confirm]\ndefault = true\n[secrets]\n");
        for r in &refs {
            answers.push_str(&format!("{r:?} = {PIN:?}\n"));
        }
        fs::write(dir.path().join("answers.toml"), answers).unwrap();
        Room { hsm, dir, refs }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn synth(&self, name: &str, extra: &[&str]) -> PathBuf {
        self.synth_n(name, N, extra)
    }

    fn synth_n(&self, name: &str, n: usize, extra: &[&str]) -> PathBuf {
        let out = self.path(name);
        let mut c = self_cmd(&self.hsm, "ceremony-bench");
        c.args(["synth", "--out", p(&out), "--repositories", &n.to_string()]);
        for r in &self.refs {
            c.args(["--root", r]);
        }
        c.args(["--pin-file", p(&self.path("pin"))]).args(extra);
        let o = c.output().unwrap();
        assert!(o.status.success(), "synth: {}", stderr(&o));
        out
    }

    fn batch(&self, request: &Path, name: &str, env: &[(&str, &str)]) -> Output {
        self.batch_of("revoke-tagging-key.toml", request, name, env)
    }

    fn batch_of(&self, script: &str, request: &Path, name: &str, env: &[(&str, &str)]) -> Output {
        let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("ceremony-scripts");
        let mut c = self_cmd(&self.hsm, "ceremony");
        c.arg("run")
            .arg(scripts.join(script))
            .args(["--workdir", p(&self.path(&format!("work-{name}")))])
            .args(["--out", p(&self.path(&format!("export-{name}")))])
            .args(["--request", p(request)])
            .args(["--set", &format!("expires={EXPIRES}")])
            .args(["--token", &format!("root-1={}", self.refs[0])])
            .args(["--token", &format!("root-2={}", self.refs[1])])
            .args([
                "--allow-network",
                "--answers",
                p(&self.path("answers.toml")),
            ]);
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    fn resume(&self, name: &str) -> Output {
        self_cmd(&self.hsm, "ceremony")
            .args([
                "run",
                "--resume",
                "--allow-network",
                "--workdir",
                p(&self.path(&format!("work-{name}"))),
            ])
            .args(["--answers", p(&self.path("answers.toml"))])
            .output()
            .unwrap()
    }
}

fn self_cmd(hsm: &SoftHsm, bin: &str) -> Command {
    let exe = match bin {
        "ceremony" => env!("CARGO_BIN_EXE_ceremony"),
        _ => env!("CARGO_BIN_EXE_ceremony-bench"),
    };
    let mut c = Command::new(exe);
    c.env("SOFTHSM2_CONF", &hsm.conf)
        .env("CEREMONY_PKCS11_MODULE", SOFTHSM_MODULE);
    c
}

/// Repository `i`'s current root in a batch request: a part of `current.pack`.
/// python-tuf's verdict on a batch export (`tests/interop/tuf_verify_batch.py`):
/// whether it accepts every new root, and what it printed.
fn judge(request: &Path, export: &Path, extra: &[&str]) -> (bool, String) {
    let o = Command::new(python())
        .arg(interop_script("tuf_verify_batch.py"))
        .args([p(request), p(export)])
        .args(extra)
        .output()
        .unwrap();
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

fn current_root(req: &Path, i: usize) -> Vec<u8> {
    let r: serde_json::Value =
        serde_json::from_slice(&fs::read(req.join("request.json")).unwrap()).unwrap();
    let repo = &r["repositories"][i];
    let name = repo["current"][0].as_str().unwrap();
    let part = &repo["packed"][name];
    let pack = fs::read(req.join(part["file"].as_str().unwrap())).unwrap();
    let start = part["offset"].as_u64().unwrap() as usize;
    pack[start..start + part["size"].as_u64().unwrap() as usize].to_vec()
}

/// Every new root in a batch export, in request order, cut from `roots.pack` at
/// the places `roots.jsonl` gives (each checked against its SHA-256).
fn roots(export: &Path) -> Vec<Vec<u8>> {
    roots_n(export, N)
}

fn roots_n(export: &Path, n: usize) -> Vec<Vec<u8>> {
    use sha2::Digest;
    let pack = fs::read(export.join("roots.pack")).unwrap();
    let index = fs::read_to_string(export.join("roots.jsonl")).unwrap();
    let out: Vec<Vec<u8>> = index
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let e: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(e["index"], i);
            assert_eq!(e["version"], 2);
            let start = e["offset"].as_u64().unwrap() as usize;
            let bytes = pack[start..start + e["size"].as_u64().unwrap() as usize].to_vec();
            assert_eq!(
                hex::encode(sha2::Sha256::digest(&bytes)),
                e["sha256"].as_str().unwrap()
            );
            bytes
        })
        .collect();
    assert_eq!(out.len(), n);
    assert_eq!(out.iter().map(Vec::len).sum::<usize>(), pack.len());
    out
}

#[test]
fn a_batch_of_200_repositories_is_signed_verified_and_resumes_identically() {
    let room = Room::new();
    let req = room.synth("request", &[]);

    // Uninterrupted, on two sessions per token.
    let o = room.batch(&req, "a", &[("CEREMONY_SIGN_SESSIONS", "2")]);
    assert!(o.status.success(), "batch: {}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains(&format!("over {N} repositories")), "{out}");
    assert!(out.contains("on 2 session(s)"), "{out}");
    // Every repository of this request lists the same compromised key and gets
    // the same replacement: the summary read aloud says so.
    assert!(out.contains("targets key(s) that go: "), "{out}");
    assert!(out.contains(" (1 distinct)"), "{out}");
    let a = room.path("export-a");
    let (accepted, said) = judge(&req, &a, &[]);
    assert!(accepted, "python-tuf: {said}");
    assert!(said.contains(&format!("OK: {N} repositories")), "{said}");
    // The judge's refresh mode is not fooled: these roots changed their keys.
    let (accepted, said) = judge(&req, &a, &["--refresh"]);
    assert!(!accepted);
    assert!(said.contains("keys changed in a refresh"), "{said}");
    // One transcript entry per repository, each giving where its root is in the
    // pack; the bundle is the pack, its index and the transcript with its report.
    let t = fs::read_to_string(a.join("transcript.jsonl")).unwrap();
    assert_eq!(t.matches("\"kind\":\"repository\"").count(), N);
    assert_eq!(t.matches("\"path\":\"roots.pack\"").count(), N);
    // The build entry counts the distinct keys (and names only the first few,
    // so its size does not grow with the batch).
    let built = t
        .lines()
        .find(|l| l.contains("\"removed_distinct\""))
        .expect("the build entry");
    assert!(built.contains("\"removed_distinct\":1"), "{built}");
    assert!(built.contains("\"added_distinct\":1"), "{built}");
    let v = ok(&["bundle-verify", p(&a)]);
    assert!(v.contains("4 file(s) match"), "{v}");
    for f in [
        "roots.pack",
        "roots.jsonl",
        "transcript.jsonl",
        "transcript.md",
    ] {
        assert!(v.contains(f), "{v}");
    }
    ok(&[
        "transcript",
        "verify",
        "--accept-practice",
        p(&a.join("transcript.jsonl")),
    ]);

    // One repository of the batch is published to its TUF repository, which
    // trusts that repository's current root.
    let tuf = room.path("tuf-repo-5");
    fs::create_dir_all(&tuf).unwrap();
    fs::write(tuf.join("root.json"), current_root(&req, 5)).unwrap();
    let err = refused(&["publish", p(&a), "--tuf-repo", p(&tuf)]);
    assert!(
        err.contains("a batch of 200 repositories: say which"),
        "{err}"
    );
    let out = ok(&[
        "publish",
        p(&a),
        "--tuf-repo",
        p(&tuf),
        "--repository",
        "example.com/bench/repo-00005",
    ]);
    assert!(out.contains("published root version(s) 2"), "{out}");
    assert_eq!(fs::read(tuf.join("root.json")).unwrap(), roots(&a)[5]);
    // Publishing it again (a publish interrupted after its last write, run
    // again) changes nothing and says so.
    let before = fs::read(tuf.join("root.json")).unwrap();
    let out = ok(&[
        "publish",
        p(&a),
        "--tuf-repo",
        p(&tuf),
        "--repository",
        "example.com/bench/repo-00005",
    ]);
    assert!(
        out.contains("already published") && out.contains("nothing was written"),
        "{out}"
    );
    assert_eq!(fs::read(tuf.join("root.json")).unwrap(), before);

    // Interrupted after 100 signatures of the first key, on one session, resumed.
    let o = room.batch(
        &req,
        "b",
        &[
            ("CEREMONY_SIGN_SESSIONS", "1"),
            ("CEREMONY_TEST_CRASH", "batch-signed:sign-root-1:100"),
        ],
    );
    assert_eq!(o.status.code(), Some(99), "{}", stderr(&o));
    assert!(!room.path("export-b").exists());
    let o = room.resume("b");
    assert!(o.status.success(), "resume: {}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!(
            "100 of {N} roots were signed before the interruption"
        )),
        "{}",
        stdout(&o)
    );
    let b = room.path("export-b");
    // Serial and parallel, interrupted and not: the same roots, byte for byte.
    assert!(roots(&a) == roots(&b), "the two runs' roots differ");
    let t = fs::read_to_string(b.join("transcript.jsonl")).unwrap();
    assert!(
        t.contains("\"signed_before_interruption\":100"),
        "the resumed step did not re-sign"
    );

    // Interrupted after the verify step staged the export but before it was
    // recorded as done: the step runs again over the same signatures and gives
    // the same roots; the bundle and its transcript verify.
    let o = room.batch(
        &req,
        "c",
        &[("CEREMONY_TEST_CRASH", "before-commit:verify")],
    );
    assert_eq!(o.status.code(), Some(99), "{}", stderr(&o));
    let o = room.resume("c");
    assert!(o.status.success(), "resume: {}", stderr(&o));
    let c = room.path("export-c");
    assert!(
        roots(&a) == roots(&c),
        "the resumed verify step's roots differ"
    );
    ok(&["bundle-verify", p(&c)]);
    ok(&[
        "transcript",
        "verify",
        "--accept-practice",
        p(&c.join("transcript.jsonl")),
    ]);
    let t = fs::read_to_string(c.join("transcript.jsonl")).unwrap();
    assert!(t.contains("\"kind\":\"interruption\""));

    // No PIN in anything the batch wrote or printed.
    let mut everything = stdout(&o) + &stderr(&o);
    for f in ["transcript.jsonl", "transcript.md", "manifest.json"] {
        everything.push_str(&fs::read_to_string(a.join(f)).unwrap());
    }
    assert!(!shows_secret(&everything, PIN));
}

#[test]
fn a_batch_with_a_forged_unrelated_or_already_replaced_repository_is_refused_before_anything_is_signed()
 {
    let room = Room::new();
    let req = room.synth(
        "request",
        &[
            "--forge-at",
            "37",
            "--unlisted-at",
            "158",
            "--replaced-at",
            "190",
        ],
    );
    let o = room.batch(&req, "bad", &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains("3 of 200 repositories cannot be part of this ceremony; nothing was signed"),
        "{err}"
    );
    assert!(
        err.contains("repository example.com/bench/repo-00190: the replacement targets key"),
        "{err}"
    );
    assert!(err.contains("is already in its current root"), "{err}");
    assert!(
        err.contains("repository example.com/bench/repo-00037: its current root (version 1) is not signed by 2 of the root keys in this room"),
        "{err}"
    );
    assert!(
        err.contains("repository example.com/bench/repo-00158: the compromised key")
            && err.contains("its current root's role targets lists no key"),
        "{err}"
    );
    let work = room.path("work-bad");
    assert!(!work.join("batch/sig-sign-root-1.jsonl").exists());
    assert!(!work.join("batch/drafts.jsonl").exists());
    assert!(!room.path("export-bad").exists());
}

/// Write `bundle`'s manifest again over its files as they are now (a tampering
/// that the manifest check alone would not see).
fn rehash_manifest(bundle: &Path) {
    use sha2::Digest;
    let path = bundle.join("manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    for f in m["files"].as_array_mut().unwrap() {
        let bytes = fs::read(bundle.join(f["path"].as_str().unwrap())).unwrap();
        f["sha256"] = hex::encode(sha2::Sha256::digest(&bytes)).into();
        f["size"] = bytes.len().into();
    }
    fs::write(&path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

#[test]
fn a_tampered_pack_in_the_request_is_refused_naming_the_repository_with_nothing_signed() {
    let room = Room::new();
    let req = room.synth("request", &[]);
    let r: serde_json::Value =
        serde_json::from_slice(&fs::read(req.join("request.json")).unwrap()).unwrap();

    // One byte of repository 12's current root changes inside current.pack, and
    // the manifest is made to match: the part's own SHA-256 in request.json
    // still catches it, before anything is signed.
    let repo = &r["repositories"][12];
    let part = &repo["packed"][repo["current"][0].as_str().unwrap()];
    let mut pack = fs::read(req.join("current.pack")).unwrap();
    let at = part["offset"].as_u64().unwrap() as usize + 40;
    pack[at] = if pack[at] == b' ' { b'\t' } else { b' ' };
    fs::write(req.join("current.pack"), &pack).unwrap();
    rehash_manifest(&req);
    let o = room.batch(&req, "tampered", &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains("1 of 200 repositories cannot be part of this ceremony; nothing was signed"),
        "{err}"
    );
    assert!(
        err.contains("repository example.com/bench/repo-00012:")
            && err.contains(
                "current/1.root.json in current.pack does not have the SHA-256 request.json gives"
            ),
        "{err}"
    );
    let work = room.path("work-tampered");
    assert!(!work.join("batch/drafts.jsonl").exists());
    assert!(!work.join("batch/sig-sign-root-1.jsonl").exists());
    assert!(!room.path("export-tampered").exists());

    // A part that points outside its pack is refused when the request is opened.
    let req = room.synth("request-2", &[]);
    let text = fs::read_to_string(req.join("request.json")).unwrap();
    let mut r: serde_json::Value = serde_json::from_str(&text).unwrap();
    let name = r["repositories"][3]["current"][0]
        .as_str()
        .unwrap()
        .to_owned();
    r["repositories"][3]["packed"][&name]["offset"] = 999_999_999u64.into();
    fs::write(
        req.join("request.json"),
        serde_json::to_vec_pretty(&r).unwrap(),
    )
    .unwrap();
    rehash_manifest(&req);
    let o = room.batch(&req, "outside", &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains("example.com/bench/repo-00003: current/1.root.json lies outside current.pack"),
        "{err}"
    );
    assert!(!room.path("export-outside").exists());
}

#[test]
fn a_token_that_no_longer_holds_the_room_key_is_refused_at_its_signing_step() {
    let room = Room::new();
    let req = room.synth("request", &[]);
    // Stop after 100 signatures by root-1 ...
    let o = room.batch(
        &req,
        "swap",
        &[("CEREMONY_TEST_CRASH", "batch-signed:sign-root-1:100")],
    );
    assert_eq!(o.status.code(), Some(99), "{}", stderr(&o));
    // ... then the token bound as root-2 is replaced by another with the same
    // label and a new key.
    room.hsm.delete("batch-root-2");
    room.hsm.init("batch-root-2", PIN);
    let o = self_cmd(&room.hsm, "ceremony")
        .args([
            "key",
            "generate",
            "--token",
            &room.refs[1],
            "--algorithm",
            "ed25519",
        ])
        .args(["--pin-file", p(&room.path("pin"))])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = room.resume("swap");
    assert!(!o.status.success(), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains("root-2")
            && err.contains("does not hold the root key the drafts were built for"),
        "{err}"
    );
    // root-1 finished its roots; root-2 signed none; nothing was exported.
    let work = room.path("work-swap");
    let journal = |k: &str| {
        fs::read_to_string(work.join(format!("batch/sig-sign-{k}.jsonl"))).unwrap_or_default()
    };
    assert_eq!(journal("root-1").lines().count(), N);
    assert_eq!(journal("root-2").lines().count(), 0);
    assert!(!room.path("export-swap").exists());
}

/// A Docker Content Trust publisher's batch: Notary roots whose root keys are
/// certificates, one per repository (GUN), made on the same P-256 tokens. The new
/// roots keep each repository's certificates and verify for their own GUN only.
/// (Judged here by our verifier, `ceremony verify --gun`: the real Notary server
/// and client judge revocations of single repositories in `tests/interop.rs`.)
#[test]
fn a_notary_batch_keeps_each_repositorys_root_certificates_and_verifies_for_its_gun() {
    const REPOS: usize = 12;
    let room = Room::with("ecdsa-p256");
    let req = room.synth_n("request", REPOS, &["--flavour", "notary"]);
    let o = room.batch(&req, "n", &[]);
    assert!(o.status.success(), "batch: {}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!("over {REPOS} repositories (notary metadata)")),
        "{out}"
    );
    let new = roots_n(&room.path("export-n"), REPOS);
    let gun = |i: usize| format!("example.com/bench/repo-{i:05}");
    for (i, bytes) in new.iter().enumerate() {
        let dir = room.path(&format!("chain-{i}"));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("1.root.json"), current_root(&req, i)).unwrap();
        fs::write(dir.join("2.root.json"), bytes).unwrap();
        let old: serde_json::Value = serde_json::from_slice(&current_root(&req, i)).unwrap();
        let v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        assert_eq!(v["signed"]["_type"], "Root");
        // The root role's certificates are the repository's own, carried over.
        assert_eq!(
            v["signed"]["roles"]["root"], old["signed"]["roles"]["root"],
            "repository {i}"
        );
        assert_ne!(
            v["signed"]["roles"]["targets"], old["signed"]["roles"]["targets"],
            "repository {i}"
        );
        let o = self_cmd(&room.hsm, "ceremony")
            .args(["verify", "--gun", &gun(i), "--trusted"])
            .arg(dir.join("1.root.json"))
            .arg(dir.join("2.root.json"))
            .output()
            .unwrap();
        assert!(o.status.success(), "repository {i}: {}", stderr(&o));
    }
    // A repository's new root does not pass for another repository.
    let o = self_cmd(&room.hsm, "ceremony")
        .args(["verify", "--gun", &gun(1), "--trusted"])
        .arg(room.path("chain-0").join("1.root.json"))
        .arg(room.path("chain-0").join("2.root.json"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains(&gun(1)), "{}", stderr(&o));
}

/// The other batch: refresh-expiry over every repository. Only the version and
/// the expiry change; python-tuf accepts every new root as the next of its current
/// one, with the same keys and roles.
#[test]
fn a_refresh_expiry_batch_changes_only_version_and_expiry_and_python_tuf_accepts_every_root() {
    const REPOS: usize = 40;
    let room = Room::new();
    let req = room.synth_n("request", REPOS, &[]);
    let o = room.batch_of("refresh-expiry.toml", &req, "r", &[]);
    assert!(o.status.success(), "batch: {}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains(&format!("over {REPOS} repositories")), "{out}");
    assert!(!out.contains("targets key(s) that go"), "{out}");
    let r = room.path("export-r");
    let (accepted, said) = judge(&req, &r, &["--refresh"]);
    assert!(accepted, "python-tuf: {said}");
    assert!(
        said.contains(&format!("OK: {REPOS} repositories")),
        "{said}"
    );
    for (i, bytes) in roots_n(&r, REPOS).iter().enumerate() {
        let v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        assert_eq!(v["signed"]["expires"], EXPIRES, "repository {i}");
    }
    ok(&["bundle-verify", p(&r)]);
}
