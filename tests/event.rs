//! Signing events across sites and witnesses who sign: a 2-of-3 root rotated
//! to a new 2-of-3 root whose old and new keys sit at three different sites
//! (SoftHSM2 tokens and software keys), each site an offline ceremony of its
//! own; python-tuf is the judge of every export, `ssh-keygen -Y verify` of the
//! witnesses' OpenSSH signatures.

mod common;

use common::*;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn s(x: &str) -> String {
    x.to_owned()
}

#[track_caller]
fn succeed(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed ({:?}):\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

#[track_caller]
fn refusal(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(1),
        "should be refused:\nstdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
    stderr(o)
}

const LEAD_PIN: &str = "40917-lead";
const SITE3_PIN: &str = "73051-site3";

/// The lead site's script: root-a (old only) and the new root-d sign here;
/// root-b retires (removed by --revoke), root-c stays, root-e (a key site 3
/// made on its own token) comes in by its public key.
const LEAD_SCRIPT: &str = r#"
format = "ceremony-script/1"
name = "root-rotate-lead"
kind = "root-rotate"
summary = "Lead site of a signing event: build root v2, sign with the keys here"

[parameters]
flavour = "tuf"
repository = "example.com/event"
expires_days = 365
signing_event = true

[[participants]]
id = "administrator"
role = "administrator"

[[participants]]
id = "keyholder-a"
role = "operator"

[[participants]]
id = "keyholder-d"
role = "operator"

[[participants]]
id = "witness"
role = "witness"

[[participants]]
id = "witness-2"
role = "witness"

[keys.root-a]
role = "outgoing-root"
custodian = "keyholder-a"

[keys.root-c]
role = "root"

[keys.root-d]
role = "root"
algorithm = "ecdsa-p256"
generate = true
custodian = "keyholder-d"

[keys.root-e]
role = "root"

[[steps]]
id = "air-gap"
action = "check-air-gap"
actor = "administrator"

[[steps]]
id = "generate-root-d"
action = "generate-key"
actor = "keyholder-d"
key = "root-d"

[[steps]]
id = "build"
action = "build-root"
actor = "administrator"

[[steps]]
id = "review"
action = "review"
actor = "administrator"

[[steps]]
id = "sign-root-a"
action = "sign"
actor = "keyholder-a"
key = "root-a"

[[steps]]
id = "sign-root-d"
action = "sign"
actor = "keyholder-d"
key = "root-d"

[[steps]]
id = "verify"
action = "verify"
actor = "administrator"

[[steps]]
id = "export"
action = "export"
actor = "administrator"
"#;

/// The shipped countersign script.
fn countersign_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ceremony-scripts/root-countersign.toml")
}

/// The world of the event: the trusted root v1 (a, b, c; 2 of 3), the lead
/// site's token, site 3's token with its key root-e, and an answers file with
/// every secret.
struct World {
    room: Room,
    hsm: SoftHsm,
    trusted: PathBuf,
    answers: PathBuf,
    e_key: PathBuf,
}

fn world() -> World {
    let room = Room::new();
    let hsm = SoftHsm::new();
    let trusted = room.path("1.root.json");
    create_root(&trusted, &["root-a", "root-b", "root-c"], 2, &next_year());
    sign(&trusted, "root-a", None);
    sign(&trusted, "root-b", None);
    let (accepted, why) = python_tuf(&[&trusted]);
    assert!(accepted, "{why}");
    hsm.init("lead", LEAD_PIN);
    hsm.init("site3", SITE3_PIN);
    let pin_file = room.path("site3.pin");
    fs::write(&pin_file, format!("{SITE3_PIN}\n")).unwrap();
    succeed(
        &hsm.ceremony()
            .args([
                "key",
                "generate",
                "--token",
                "pkcs11:token=site3;object=root-e",
                "--algorithm",
                "ecdsa-p256",
                "--pin-file",
                p(&pin_file),
            ])
            .output()
            .unwrap(),
    );
    let shown = succeed(
        &hsm.ceremony()
            .args(["key", "show", "--token", "pkcs11:token=site3;object=root-e"])
            .output()
            .unwrap(),
    );
    let e_key = room.path("root-e.json");
    fs::write(&e_key, shown).unwrap();
    let k = keys();
    let mut text = String::from("[confirm]\ndefault = true\n[secrets]\n");
    for name in ["root-a", "root-b", "root-c"] {
        text.push_str(&format!("{:?} = {PASSPHRASE:?}\n", k.token(name)));
    }
    text.push_str(&format!(
        "\"pkcs11:token=lead;object=root-d\" = {LEAD_PIN:?}\n"
    ));
    text.push_str(&format!(
        "\"pkcs11:token=site3;object=root-e\" = {SITE3_PIN:?}\n"
    ));
    let answers = room.path("answers.toml");
    fs::write(&answers, text).unwrap();
    World {
        room,
        hsm,
        trusted,
        answers,
        e_key,
    }
}

fn keyid_of(root: &Path, key_file: &Path) -> String {
    let key: Value = serde_json::from_slice(&fs::read(key_file).unwrap()).unwrap();
    let root: Value = serde_json::from_slice(&fs::read(root).unwrap()).unwrap();
    root["signed"]["keys"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, v)| v["keyval"] == key["keyval"])
        .map(|(k, _)| k.clone())
        .expect("the key is in the root")
}

impl World {
    fn lead(&self, out: &Path, extra: &[String]) -> Output {
        let script = self.room.path("lead.toml");
        fs::write(&script, LEAD_SCRIPT).unwrap();
        let root_b = keyid_of(&self.trusted, &self.room.keyfile("root-b", "tuf"));
        let args = vec![
            s(p(&script)),
            s("--workdir"),
            format!("{}-work", p(out)),
            s("--out"),
            s(p(out)),
            s("--allow-network"),
            s("--answers"),
            s(p(&self.answers)),
            s("--current"),
            s(p(&self.trusted)),
            s("--trusted"),
            s(p(&self.trusted)),
            s("--revoke"),
            root_b,
            s("--token"),
            format!("root-a={}", keys().token("root-a")),
            s("--token"),
            s("root-d=pkcs11:token=lead;object=root-d"),
            s("--key"),
            format!("root-c=keyfile:{}", p(&self.room.keyfile("root-c", "tuf"))),
            s("--key"),
            format!("root-e=keyfile:{}", p(&self.e_key)),
        ];
        let mut args = args;
        args.extend_from_slice(extra);
        self.hsm.run(&args)
    }

    /// A further site: its key `token` countersigns the previous export.
    fn countersign(&self, site: &str, previous: &Path, token: &str, extra: &[String]) -> Output {
        self.hsm
            .run(&self.countersign_args(site, previous, token, extra))
    }

    /// [`World::countersign`], stopped by the test hook at `point`
    /// (`before-commit:STEP`, `after-commit:STEP`).
    fn countersign_stopped(&self, site: &str, previous: &Path, token: &str, point: &str) -> Output {
        self.hsm
            .ceremony()
            .env("CEREMONY_TEST_CRASH", point)
            .arg("run")
            .args(self.countersign_args(site, previous, token, &[]))
            .output()
            .unwrap()
    }

    /// Resume the site's stopped ceremony.
    fn resume(&self, site: &str) -> Output {
        self.hsm.run(&[
            s("--resume"),
            s("--workdir"),
            s(p(&self.room.path(&format!("{site}-work")))),
            s("--answers"),
            s(p(&self.answers)),
            s("--allow-network"),
        ])
    }

    fn countersign_args(
        &self,
        site: &str,
        previous: &Path,
        token: &str,
        extra: &[String],
    ) -> Vec<String> {
        let mut args = vec![
            s(p(&countersign_script())),
            s("--workdir"),
            s(p(&self.room.path(&format!("{site}-work")))),
            s("--out"),
            s(p(&self.room.path(site))),
            s("--allow-network"),
            s("--answers"),
            s(p(&self.answers)),
            s("--previous"),
            s(p(previous)),
            s("--trusted"),
            s(p(&self.trusted)),
            s("--token"),
            format!("keyholder={token}"),
        ];
        args.extend_from_slice(extra);
        args
    }
}

fn event_file(export: &Path) -> Value {
    serde_json::from_slice(&fs::read(export.join("signing-event.json")).unwrap()).unwrap()
}

/// Rewrite an export's manifest after its files were changed, as someone who
/// tampers with an export would: the bundle's own check then passes, and what
/// must catch the change is the event's check.
fn reseal_manifest(export: &Path) {
    let path = export.join("manifest.json");
    let mut m: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    for f in m["files"].as_array_mut().unwrap() {
        let bytes = fs::read(export.join(f["path"].as_str().unwrap())).unwrap();
        f["sha256"] = Value::from(hex_sha256(&bytes));
        f["size"] = Value::from(bytes.len());
    }
    fs::write(&path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn a_three_site_event_is_published_only_once_both_thresholds_are_met() {
    let w = world();
    let site1 = w.room.path("site1");
    let out = succeed(&w.lead(&site1, &[]));
    assert!(out.contains("below threshold"), "{out}");
    let ev = event_file(&site1);
    assert_eq!(ev["site"], 1);
    assert_eq!(ev["complete"], false);
    assert!(site1.join("draft.root.json").is_file());
    assert!(!site1.join("root.json").exists());
    // python-tuf refuses the partly signed root.
    let (accepted, why) = python_tuf(&[&w.trusted, &site1.join("draft.root.json")]);
    assert!(
        !accepted,
        "python-tuf accepted the lead's partial root: {why}"
    );
    // publish refuses it and names the missing keys.
    let tuf = w.room.path("tuf-repo");
    fs::create_dir_all(&tuf).unwrap();
    fs::copy(&w.trusted, tuf.join("root.json")).unwrap();
    fs::copy(&w.trusted, tuf.join("1.root.json")).unwrap();
    let err = refused(&["publish", p(&site1), "--tuf-repo", p(&tuf)]);
    assert!(err.contains("below threshold"), "{err}");
    assert!(err.contains("1 more needed"), "{err}");

    // The lead's export travels to site 2 in a request bundle (the online side
    // checks it on the way: every transcript, the draft against them).
    let carried = w.room.path("to-site2");
    let out = ok(&[
        "request",
        "--signing-event",
        p(&site1),
        "--repository",
        "example.com/event",
        "--out",
        p(&carried),
    ]);
    assert!(out.contains("the new root (version 2): 1 of 2"), "{out}");
    // Site 2: root-b, a key of the old root only.
    let site2 = w.room.path("site2");
    let out = succeed(&w.countersign("site2", &carried, &keys().token("root-b"), &[]));
    assert!(out.contains("site 1: transcript verified"), "{out}");
    let ev = event_file(&site2);
    assert_eq!(ev["site"], 2);
    assert_eq!(ev["complete"], false);
    let previous = ev["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["root"] == "previous")
        .unwrap();
    assert_eq!(previous["signed"].as_array().unwrap().len(), 2);
    let (accepted, why) = python_tuf(&[&w.trusted, &site2.join("draft.root.json")]);
    assert!(!accepted, "python-tuf accepted site 2's root: {why}");
    let err = refused(&["publish", p(&site2), "--tuf-repo", p(&tuf)]);
    assert!(err.contains("the new root (version 2): 1 of 2"), "{err}");
    // The whole chain verifies from site 2's export.
    let out = ok(&["transcript", "verify", p(&site2), "--accept-practice"]);
    assert!(out.contains("site 1: sites/1.transcript.jsonl"), "{out}");
    assert!(out.contains("site 2: transcript.jsonl"), "{out}");

    // Site 3: root-e on its own SoftHSM token, a key of the new root only.
    let site3 = w.room.path("site3");
    let out = succeed(&w.countersign("site3", &site2, "pkcs11:token=site3;object=root-e", &[]));
    assert!(out.contains("both thresholds are met"), "{out}");
    let ev = event_file(&site3);
    assert_eq!(ev["site"], 3);
    assert_eq!(ev["complete"], true);
    assert_eq!(ev["sites"].as_array().unwrap().len(), 2);
    let (accepted, why) = python_tuf(&[&w.trusted, &site3.join("2.root.json")]);
    assert!(accepted, "python-tuf refused the complete root: {why}");
    let out = ok(&["transcript", "verify", p(&site3), "--accept-practice"]);
    assert!(out.contains("3 site(s); complete"), "{out}");
    // The compliance report covers every site, in order.
    let report = ok(&["transcript", "report", p(&site3), "--accept-practice"]);
    for heading in ["# Site 1 of 3", "# Site 2 of 3", "# Site 3 of 3"] {
        assert!(
            report.contains(heading),
            "{heading} missing from the report"
        );
    }
    assert!(report.contains("Signing event across sites"), "{report}");
    let out = ok(&["publish", p(&site3), "--tuf-repo", p(&tuf)]);
    assert!(out.contains("published root version(s) 2"), "{out}");
    assert_eq!(
        fs::read(tuf.join("root.json")).unwrap(),
        fs::read(site3.join("2.root.json")).unwrap()
    );

    // One site's transcript altered in the last export: verification fails
    // at that site, even with the manifest rewritten over the change.
    let altered = w.room.path("site3-altered");
    copy_dir(&site3, &altered);
    let t = altered.join("sites/2.transcript.jsonl");
    let text = fs::read_to_string(&t)
        .unwrap()
        .replacen("root-b", "root-x", 1);
    fs::write(&t, text).unwrap();
    reseal_manifest(&altered);
    let err = refused(&["transcript", "verify", p(&altered), "--accept-practice"]);
    assert!(err.contains("site 2's transcript"), "{err}");
    let err = refused(&[
        "publish",
        p(&altered),
        "--tuf-repo",
        p(&w.room.path("tuf-2")),
    ]);
    assert!(err.contains("site 2's transcript"), "{err}");
}

#[test]
fn a_site_that_changes_the_draft_or_drops_a_signature_is_refused_by_name() {
    let w = world();
    let site1 = w.room.path("site1");
    succeed(&w.lead(&site1, &[]));

    // The draft edited (a longer expiry) and the manifest rewritten over it.
    let edited = w.room.path("edited");
    copy_dir(&site1, &edited);
    let draft = edited.join("draft.root.json");
    let mut doc: Value = serde_json::from_slice(&fs::read(&draft).unwrap()).unwrap();
    doc["signed"]["expires"] = Value::from("2099-01-01T00:00:00Z");
    fs::write(&draft, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    reseal_manifest(&edited);
    let err = refusal(&w.countersign("s-edited", &edited, &keys().token("root-b"), &[]));
    assert!(err.contains("is not the root the lead site built"), "{err}");
    assert!(err.contains("its expiry is 2099-01-01T00:00:00Z"), "{err}");

    // A signature dropped.
    let dropped = w.room.path("dropped");
    copy_dir(&site1, &dropped);
    let draft = dropped.join("draft.root.json");
    let mut doc: Value = serde_json::from_slice(&fs::read(&draft).unwrap()).unwrap();
    doc["signatures"].as_array_mut().unwrap().remove(0);
    fs::write(&draft, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    reseal_manifest(&dropped);
    let err = refusal(&w.countersign("s-dropped", &dropped, &keys().token("root-b"), &[]));
    assert!(err.contains("it was dropped"), "{err}");
    assert!(err.contains("that site 1 made (step sign-root-"), "{err}");

    // The previous export tampered with without rewriting its manifest.
    let tampered = w.room.path("tampered");
    copy_dir(&site1, &tampered);
    let t = tampered.join("transcript.jsonl");
    let text = fs::read_to_string(&t)
        .unwrap()
        .replacen("keyholder-a", "keyholder-z", 1);
    fs::write(&t, text).unwrap();
    let err = refusal(&w.countersign("s-tampered", &tampered, &keys().token("root-b"), &[]));
    assert!(err.contains("transcript.jsonl"), "{err}");

    // Its transcript rewritten and the manifest too: the chain breaks at site 1.
    reseal_manifest(&tampered);
    let err = refusal(&w.countersign("s-tampered2", &tampered, &keys().token("root-b"), &[]));
    assert!(err.contains("site 1's transcript"), "{err}");

    // A key that already signed at an earlier site signs nothing more.
    let err = refusal(&w.countersign("s-again", &site1, &keys().token("root-a"), &[]));
    assert!(err.contains("already signed at an earlier site"), "{err}");
    // Nothing of these was exported.
    for site in [
        "s-edited",
        "s-dropped",
        "s-tampered",
        "s-tampered2",
        "s-again",
    ] {
        assert!(!w.room.path(site).exists(), "{site} was exported");
    }
}

/// An OpenSSH key pair made by Debian's ssh-keygen (encrypted with `pass`).
fn ssh_keypair(dir: &Path, name: &str, pass: &str) -> PathBuf {
    let key = dir.join(name);
    let o = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", pass, "-C", name, "-f", p(&key)])
        .output()
        .expect("ssh-keygen runs (openssh-client, installed by scripts/test-all)");
    assert!(o.status.success(), "{}", stderr(&o));
    key
}

#[test]
fn witnesses_sign_the_final_hash_with_an_openssh_key_and_a_softhsm_key() {
    let w = world();
    let ssh_pass = "witness ssh passphrase 5519";
    let ssh = ssh_keypair(w.room.dir.path(), "witness_ed25519", ssh_pass);
    let other = ssh_keypair(w.room.dir.path(), "other_ed25519", "");
    // Witness 2's key lives on a SoftHSM token of their own.
    w.hsm.init("witness-2", "61283-w2");
    let pin_file = w.room.path("w2.pin");
    fs::write(&pin_file, "61283-w2\n").unwrap();
    let w2_uri = "pkcs11:token=witness-2;object=witness";
    succeed(
        &w.hsm
            .ceremony()
            .args([
                "key",
                "generate",
                "--token",
                w2_uri,
                "--algorithm",
                "ed25519",
            ])
            .args(["--pin-file", p(&pin_file)])
            .output()
            .unwrap(),
    );
    let w2_pub = w.room.path("witness-2.json");
    fs::write(
        &w2_pub,
        succeed(
            &w.hsm
                .ceremony()
                .args(["key", "show", "--token", w2_uri])
                .output()
                .unwrap(),
        ),
    )
    .unwrap();
    let mut answers = fs::read_to_string(&w.answers).unwrap();
    answers.push_str(&format!("\"ssh:{}\" = {ssh_pass:?}\n", p(&ssh)));
    answers.push_str(&format!("{w2_uri:?} = \"61283-w2\"\n"));
    fs::write(&w.answers, answers).unwrap();

    let export = w.room.path("site1");
    let out = succeed(&w.lead(
        &export,
        &[
            s("--witness-key"),
            format!("witness=ssh:{}", p(&ssh)),
            s("--witness-key"),
            format!("witness-2={w2_uri}"),
        ],
    ));
    assert!(out.contains("witness witness signed"), "{out}");
    assert!(
        !out.contains(ssh_pass) && !out.contains("61283-w2"),
        "{out}"
    );
    // Neither the OpenSSH key's passphrase nor its private key nor the PIN is
    // in any file the ceremony wrote.
    let private = fs::read_to_string(&ssh).unwrap();
    let private_body: String = private
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let mut dirs = vec![export.clone(), w.room.path("site1-work")];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let text = String::from_utf8_lossy(&fs::read(&path).unwrap()).into_owned();
            for secret in [ssh_pass, "61283-w2", &private_body[..40]] {
                assert!(!text.contains(secret), "{} holds a secret", path.display());
            }
        }
    }
    let pubkey = ssh.with_extension("pub");
    let out = ok(&[
        "transcript",
        "verify",
        p(&export),
        "--accept-practice",
        "--witness",
        p(&pubkey),
        "--witness",
        p(&w2_pub),
    ]);
    assert_eq!(
        out.matches("witness signature verified").count(),
        2,
        "{out}"
    );
    // The same with the transcript file named (the witness file beside it).
    ok(&[
        "transcript",
        "verify",
        p(&export.join("transcript.jsonl")),
        "--accept-practice",
        "--witness",
        p(&pubkey),
    ]);

    // The report lists each witness and what they signed.
    let report = ok(&["transcript", "report", p(&export), "--accept-practice"]);
    assert!(report.contains("Witness signatures"), "{report}");
    assert!(report.contains("witness-2"), "{report}");
    assert!(report.contains("sshsig"), "{report}");
    // Debian's ssh-keygen accepts the OpenSSH witness signature.
    let allowed = w.room.path("allowed_signers");
    let line = fs::read_to_string(&pubkey).unwrap();
    fs::write(&allowed, format!("witness {line}")).unwrap();
    let o = std::process::Command::new("ssh-keygen")
        .args(["-Y", "verify", "-f", p(&allowed), "-I", "witness"])
        .args(["-n", "ceremony-transcript-witness", "-s"])
        .arg(export.join("witnesses/witness.sig"))
        .stdin(fs::File::open(export.join("witnesses/message")).unwrap())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "ssh-keygen -Y verify: {}{}",
        stdout(&o),
        stderr(&o)
    );
    let message = fs::read_to_string(export.join("witnesses/message")).unwrap();
    let hash: Value = serde_json::from_str(&message).unwrap();
    let manifest: Value =
        serde_json::from_slice(&fs::read(export.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(hash["final_hash"], manifest["ceremony"]["transcript_hash"]);

    // A key that did not witness is refused.
    let err = refused(&[
        "transcript",
        "verify",
        p(&export),
        "--accept-practice",
        "--witness",
        p(&other.with_extension("pub")),
    ]);
    assert!(err.contains("no witness signature by OpenSSH key"), "{err}");
    // An altered transcript (its manifest rewritten too) is refused.
    let altered = w.room.path("altered");
    copy_dir(&export, &altered);
    let t = altered.join("transcript.jsonl");
    let text = fs::read_to_string(&t)
        .unwrap()
        .replacen("keyholder-a", "keyholder-z", 1);
    fs::write(&t, text).unwrap();
    reseal_manifest(&altered);
    let o = run(&[
        "transcript",
        "verify",
        p(&altered),
        "--accept-practice",
        "--witness",
        p(&pubkey),
    ]);
    assert!(!o.status.success(), "{}", stdout(&o));
    // A witness signature over another hash is refused, naming both hashes.
    let forged = w.room.path("forged");
    copy_dir(&export, &forged);
    let wf = forged.join("witnesses.json");
    let mut file: Value = serde_json::from_slice(&fs::read(&wf).unwrap()).unwrap();
    file["transcript_final_hash"] = Value::from("00".repeat(32));
    fs::write(&wf, serde_json::to_vec_pretty(&file).unwrap()).unwrap();
    reseal_manifest(&forged);
    let err = refused(&[
        "transcript",
        "verify",
        p(&forged),
        "--accept-practice",
        "--witness",
        p(&pubkey),
    ]);
    assert!(err.contains("they did not sign this transcript"), "{err}");
}

fn git(dir: &Path, args: &[&str]) {
    let o = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Alice",
            "-c",
            "user.email=alice@example.com",
        ])
        .args(args)
        .output()
        .expect("git runs (installed by scripts/test-all)");
    assert!(o.status.success(), "git {args:?}: {}", stderr(&o));
}

/// A tuf-on-ci signing event (python-tuf writes it as tuf-on-ci does, in a git
/// checkout on its signing branch) is carried by a request, countersigned on
/// SoftHSM2 at an offline ceremony, and published back: the file differs from
/// tuf-on-ci's only by the signature added in its placeholder, and python-tuf
/// accepts it once the threshold is met.
#[test]
fn a_tuf_on_ci_signing_event_round_trips_through_an_offline_countersign() {
    let w = world();
    w.hsm.init("erin", "58213-erin");
    let pin_file = w.room.path("erin.pin");
    fs::write(&pin_file, "58213-erin\n").unwrap();
    let erin = "pkcs11:token=erin;object=root-erin";
    succeed(
        &w.hsm
            .ceremony()
            .args([
                "key",
                "generate",
                "--token",
                erin,
                "--algorithm",
                "ecdsa-p256",
            ])
            .args(["--pin-file", p(&pin_file)])
            .output()
            .unwrap(),
    );
    let erin_pub = w.room.path("erin.json");
    fs::write(
        &erin_pub,
        succeed(
            &w.hsm
                .ceremony()
                .args(["key", "show", "--token", erin])
                .output()
                .unwrap(),
        ),
    )
    .unwrap();
    let checkout = w.room.path("tuf-on-ci-repo");
    fs::create_dir_all(&checkout).unwrap();
    let o = std::process::Command::new(python())
        .arg(interop_script("tuf_on_ci_event.py"))
        .arg(&checkout)
        .arg(&erin_pub)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    git(&checkout, &["init", "-q", "-b", "sign/root-v2"]);
    git(&checkout, &["add", "metadata"]);
    git(&checkout, &["commit", "-q", "-m", "Signature from @alice"]);
    let root_json = checkout.join("metadata/root.json");
    let v1 = checkout.join("metadata/root_history/1.root.json");
    let original = fs::read(&root_json).unwrap();
    let (accepted, why) = python_tuf(&[&v1, &root_json]);
    assert!(
        !accepted,
        "python-tuf accepted the event before Erin signed: {why}"
    );

    // Online: the event goes into a request bundle for the offline site.
    let request = w.room.path("toc-request");
    let out = ok(&[
        "request",
        "--signing-event",
        p(&checkout),
        "--repository",
        "example.com/toc",
        "--out",
        p(&request),
    ]);
    assert!(out.contains("1 awaited"), "{out}");
    // Offline: Erin's site countersigns, trusting root version 1 from its own
    // storage (here: the same file).
    let trusted = w.room.path("trusted-v1.root.json");
    fs::copy(&v1, &trusted).unwrap();
    let mut answers = fs::read_to_string(&w.answers).unwrap();
    answers.push_str(&format!("{erin:?} = \"58213-erin\"\n"));
    fs::write(&w.answers, answers).unwrap();
    let export = w.room.path("toc-export");
    let o = w.hsm.run(&[
        s(p(&countersign_script())),
        s("--workdir"),
        s(p(&w.room.path("toc-work"))),
        s("--out"),
        s(p(&export)),
        s("--allow-network"),
        s("--answers"),
        s(p(&w.answers)),
        s("--previous"),
        s(p(&request)),
        s("--trusted"),
        s(p(&trusted)),
        s("--token"),
        format!("keyholder={erin}"),
    ]);
    let out = succeed(&o);
    assert!(
        out.contains("from a tuf-on-ci signing event (branch sign/root-v2"),
        "{out}"
    );
    assert!(out.contains("both thresholds are met"), "{out}");
    // Online again: the signature goes back into the event's file.
    let out = ok(&["publish", p(&export), "--tuf-on-ci", p(&checkout)]);
    assert!(out.contains("added the signature(s)"), "{out}");
    let written = fs::read(&root_json).unwrap();
    assert_eq!(
        fs::read(checkout.join("metadata/root_history/2.root.json")).unwrap(),
        written
    );
    // Only the placeholder line changed: the file is otherwise tuf-on-ci's.
    let before: Vec<&str> = std::str::from_utf8(&original).unwrap().lines().collect();
    let after: Vec<&str> = std::str::from_utf8(&written).unwrap().lines().collect();
    assert_eq!(before.len(), after.len());
    let changed: Vec<(usize, &str, &str)> = before
        .iter()
        .zip(&after)
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, (a, b))| (i, *a, *b))
        .collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0].1.trim(), "\"sig\": \"\"");
    assert!(
        changed[0].2.trim().starts_with("\"sig\": \"30"),
        "{changed:?}"
    );
    assert_ne!(written.last(), Some(&b'\n'));
    let (accepted, why) = python_tuf(&[&v1, &root_json]);
    assert!(
        accepted,
        "python-tuf refused the event once Erin signed: {why}"
    );
    // Publishing again writes nothing.
    let out = ok(&["publish", p(&export), "--tuf-on-ci", p(&checkout)]);
    assert!(out.contains("nothing was written"), "{out}");
    // An event whose root changed since the request is refused, untouched.
    let mut doc: Value = serde_json::from_slice(&original).unwrap();
    doc["signed"]["expires"] = Value::from("2099-01-01T00:00:00Z");
    let changed_root = ceremony::tuf::pyjson::to_string(&doc).into_bytes();
    fs::write(&root_json, &changed_root).unwrap();
    let err = refused(&["publish", p(&export), "--tuf-on-ci", p(&checkout)]);
    assert!(
        err.contains("the signing event changed since the request"),
        "{err}"
    );
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(fs::read(&root_json).unwrap(), changed_root);
}

/// A countersign killed before and after each of its steps commits resumes to
/// the same outcome: one export, signed once by the site's key, its
/// transcript chained to the lead's.
#[test]
fn a_countersign_interrupted_at_every_step_resumes_to_one_export() {
    let w = world();
    let site1 = w.room.path("site1");
    succeed(&w.lead(&site1, &[]));
    let script = fs::read_to_string(countersign_script()).unwrap();
    let table: toml::Table = script.parse().unwrap();
    let steps: Vec<String> = table["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|st| st["id"].as_str().unwrap().to_owned())
        .collect();
    for point in steps
        .iter()
        .flat_map(|st| [format!("before-commit:{st}"), format!("after-commit:{st}")])
    {
        let name = point.replace(':', "-");
        let out = w.room.path(&name);
        let o = w.countersign_stopped(&name, &site1, &keys().token("root-b"), &point);
        assert_eq!(o.status.code(), Some(99), "{point}: {}", stderr(&o));
        let resumed = w.resume(&name);
        succeed(&resumed);
        let ev = event_file(&out);
        assert_eq!(ev["site"], 2, "{point}");
        let draft: Value =
            serde_json::from_slice(&fs::read(out.join("draft.root.json")).unwrap()).unwrap();
        assert_eq!(draft["signatures"].as_array().unwrap().len(), 3, "{point}");
        let verified = ok(&["transcript", "verify", p(&out), "--accept-practice"]);
        assert!(
            verified.contains("site 2: transcript.jsonl"),
            "{point}: {verified}"
        );
    }
}

/// Re-chain a transcript after changing it, as a forger without any root key
/// would: every entry's `prev` and the seal recomputed, the seal's signature
/// (which needs a root key) dropped. Returns the new final hash.
fn rechain_unsigned(path: &Path) -> String {
    use sha2::Digest;
    let text = fs::read_to_string(path).unwrap();
    let mut prev = "0".repeat(64);
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        let mut e: Value = serde_json::from_str(line).unwrap();
        e["prev"] = Value::from(prev.clone());
        if e["kind"] == "seal" {
            let data = e["data"].as_object_mut().unwrap();
            data.remove("signature");
            data.insert("chain_head".into(), Value::from(prev.clone()));
            data.insert("count".into(), Value::from(i));
        }
        let line = String::from_utf8(ceremony::tuf::cjson::encode(&e).unwrap()).unwrap();
        prev = hex::encode(sha2::Sha256::digest(line.as_bytes()));
        out.push_str(&line);
        out.push('\n');
    }
    fs::write(path, out).unwrap();
    prev
}

#[test]
fn a_site_transcript_rewritten_without_a_root_key_is_refused() {
    let w = world();
    let site1 = w.room.path("site1");
    succeed(&w.lead(&site1, &[]));
    // The lead's transcript rewritten (a keyholder's name changed), its chain
    // recomputed, the manifest rewritten to match: everything but the seal's
    // signature, which needs a root key.
    let forged = w.room.path("forged");
    copy_dir(&site1, &forged);
    let t = forged.join("transcript.jsonl");
    let text = fs::read_to_string(&t)
        .unwrap()
        .replacen("keyholder-a", "keyholder-z", 1);
    fs::write(&t, text).unwrap();
    let hash = rechain_unsigned(&t);
    let m = forged.join("manifest.json");
    let mut manifest: Value = serde_json::from_slice(&fs::read(&m).unwrap()).unwrap();
    manifest["ceremony"]["transcript_hash"] = Value::from(hash);
    fs::write(&m, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    reseal_manifest(&forged);
    // The transcript on its own verifies (its chain is whole) ...
    ok(&["transcript", "verify", p(&t), "--accept-practice"]);
    // ... but not as a site of a signing event.
    let err = refused(&["transcript", "verify", p(&forged), "--accept-practice"]);
    assert!(err.contains("its seal is not signed"), "{err}");
    let err = refusal(&w.countersign("s-forged", &forged, &keys().token("root-b"), &[]));
    assert!(err.contains("its seal is not signed"), "{err}");
    assert!(!w.room.path("s-forged").exists());
}

#[test]
fn a_previous_export_swapped_during_the_ceremony_is_refused() {
    let w = world();
    let site1 = w.room.path("site1");
    succeed(&w.lead(&site1, &[]));
    // Another signing event export: the one site 2 makes from the lead's.
    succeed(&w.countersign("other", &site1, &keys().token("root-b"), &[]));
    let other = w.room.path("other");
    let out = w.room.path("swap");
    let o = w.countersign_stopped(
        "swap",
        &site1,
        &keys().token("root-b"),
        "after-commit:import",
    );
    assert_eq!(o.status.code(), Some(99), "{}", stderr(&o));
    // That export put where the lead's was.
    fs::remove_dir_all(&site1).unwrap();
    copy_dir(&other, &site1);
    let o = w.resume("swap");
    let err = refusal(&o);
    assert!(
        err.contains("not the export this ceremony began with"),
        "{err}"
    );
    assert!(!out.exists());
}
