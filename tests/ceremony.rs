//! The guided ceremony, unattended: every shipped script end to end on software
//! tokens, judged by python-tuf (and Notary's rules); resume after a crash at
//! every step; bad scripts; no secret in any output.

mod common;

use ceremony::tuf::verify::fingerprint;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ceremony-scripts")
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn ceremony_run(args: &[String], crash: Option<&str>) -> Output {
    let mut cmd = ceremony();
    cmd.arg("run").args(args);
    if let Some(c) = crash {
        cmd.env("CEREMONY_TEST_CRASH", c);
    }
    cmd.output().unwrap()
}

#[track_caller]
fn succeed(o: &Output) -> String {
    assert!(
        o.status.success(),
        "ceremony run failed ({:?}):\n{}\n{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

fn s(v: &str) -> String {
    v.to_owned()
}

fn root_init_args(room: &mut Room, work: &str, out: &str, flavour: &str) -> Vec<String> {
    let mut a = vec![
        p(&scripts().join("root-init.toml")).to_owned(),
        s("--workdir"),
        p(&room.path(work)).to_owned(),
        s("--out"),
        p(&room.path(out)).to_owned(),
        s("--allow-network"),
        s("--set"),
        format!("flavour={flavour}"),
        s("--set"),
        s("repository=example.com/ceremony/app"),
    ];
    for k in ["root-1", "root-2", "root-3"] {
        let t = room.token(&format!("{work}-{k}"));
        a.push(s("--token"));
        a.push(format!("{k}={t}"));
    }
    for role in ["targets", "snapshot", "timestamp"] {
        a.push(s("--key"));
        a.push(format!(
            "{role}=keyfile:{}",
            p(&room.keyfile(role, flavour))
        ));
    }
    let answers = room.answers(&format!("{work}-answers.toml"), "");
    a.push(s("--answers"));
    a.push(p(&answers).to_owned());
    a
}

/// The TUF key ID of the key on soft token `token`, which `export`'s root lists.
fn keyid_in(export: &Path, token: &str) -> String {
    let o = run(&["key", "show", "--token", token]);
    assert!(o.status.success());
    let tuf_id = stderr(&o)
        .trim()
        .strip_prefix("key ID: ")
        .unwrap()
        .to_owned();
    let root: serde_json::Value =
        serde_json::from_slice(&fs::read(export.join("root.json")).unwrap()).unwrap();
    assert!(
        root["signed"]["keys"].get(&tuf_id).is_some(),
        "key {token} ({tuf_id}) is not in {}",
        export.display()
    );
    tuf_id
}

#[test]
fn every_shipped_script_runs_end_to_end_and_python_tuf_follows_the_chain() {
    let mut room = Room::new();
    // 1. root-init
    let args = root_init_args(&mut room, "init", "export-1", "tuf");
    let out = succeed(&ceremony_run(&args, None));
    assert!(out.contains("READ ALOUD"), "{out}");
    assert!(
        out.contains("a new root: there is no previous version"),
        "{out}"
    );
    assert!(
        out.contains("Witnesses: write down the transcript hash"),
        "{out}"
    );
    let e1 = room.path("export-1");
    // 2. root-rotate: root-3 retires, root-new joins.
    let retiring = keyid_in(&e1, &room.token("init-root-3"));
    let mut a = vec![
        p(&scripts().join("root-rotate.toml")).to_owned(),
        s("--workdir"),
        p(&room.path("rotate")).to_owned(),
        s("--out"),
        p(&room.path("export-2")).to_owned(),
        s("--current"),
        p(&e1).to_owned(),
        s("--trusted"),
        p(&e1.join("1.root.json")).to_owned(),
        s("--revoke"),
        retiring[..12].to_owned(),
        s("--allow-network"),
    ];
    for (k, t) in [
        ("root-1", "init-root-1"),
        ("root-2", "init-root-2"),
        ("root-new", "rotate-root-new"),
    ] {
        let tok = room.token(t);
        a.push(s("--token"));
        a.push(format!("{k}={tok}"));
    }
    a.push(s("--answers"));
    a.push(p(&room.answers("rotate-answers.toml", "")).to_owned());
    let out = succeed(&ceremony_run(&a, None));
    assert!(
        out.contains(&format!("root: key {} REMOVED", fingerprint(&retiring))),
        "{out}"
    );
    let e2 = room.path("export-2");
    // 3. revoke-tagging-key: the targets key leaks; a new one replaces it.
    let old_targets = targets_keyid(&e2);
    let new_targets = room.keyfile("root-p2", "tuf");
    let mut a = vec![
        p(&scripts().join("revoke-tagging-key.toml")).to_owned(),
        s("--workdir"),
        p(&room.path("revoke")).to_owned(),
        s("--out"),
        p(&room.path("export-3")).to_owned(),
        s("--current"),
        p(&e2).to_owned(),
        s("--trusted"),
        p(&e2.join("1.root.json")).to_owned(),
        s("--revoke"),
        old_targets.clone(),
        s("--key"),
        format!("targets-new=keyfile:{}", p(&new_targets)),
        s("--allow-network"),
    ];
    for (k, t) in [("root-1", "init-root-1"), ("root-2", "rotate-root-new")] {
        let tok = room.token(t);
        a.push(s("--token"));
        a.push(format!("{k}={tok}"));
    }
    a.push(s("--answers"));
    a.push(p(&room.answers("revoke-answers.toml", "")).to_owned());
    let out = succeed(&ceremony_run(&a, None));
    assert!(
        out.contains(&format!(
            "targets: key {} REMOVED",
            fingerprint(&old_targets)
        )),
        "{out}"
    );
    assert!(
        out.contains("targets: key") && out.contains("ADDED"),
        "{out}"
    );
    let e3 = room.path("export-3");
    // 4. refresh-expiry
    let mut a = vec![
        p(&scripts().join("refresh-expiry.toml")).to_owned(),
        s("--workdir"),
        p(&room.path("refresh")).to_owned(),
        s("--out"),
        p(&room.path("export-4")).to_owned(),
        s("--current"),
        p(&e3).to_owned(),
        s("--trusted"),
        p(&e3.join("1.root.json")).to_owned(),
        s("--allow-network"),
        s("--set"),
        s("expires_days=730"),
    ];
    for (k, t) in [("root-1", "init-root-2"), ("root-2", "rotate-root-new")] {
        let tok = room.token(t);
        a.push(s("--token"));
        a.push(format!("{k}={tok}"));
    }
    a.push(s("--answers"));
    a.push(p(&room.answers("refresh-answers.toml", "")).to_owned());
    let out = succeed(&ceremony_run(&a, None));
    assert!(out.contains("no key or threshold changes"), "{out}");
    let e4 = room.path("export-4");
    // The last export carries the whole chain; both judges follow it.
    let chain: Vec<PathBuf> = (1..=4).map(|v| e4.join(format!("{v}.root.json"))).collect();
    let refs: Vec<&Path> = chain.iter().map(PathBuf::as_path).collect();
    let (accepted, msg) = python_tuf(&refs);
    assert!(accepted, "python-tuf: {msg}");
    let v = ok(&["verify", p(&e4)]);
    assert!(v.contains("trustworthy: tuf root version 4"), "{v}");
    // Every transcript verifies and is sealed.
    for e in [&e1, &e2, &e3, &e4] {
        let t = ok(&[
            "transcript",
            "verify",
            "--accept-practice",
            p(&e.join("transcript.jsonl")),
        ]);
        assert!(t.contains("final hash"), "{t}");
        assert!(e.join("transcript.md").exists());
    }
    // No passphrase from the answers files leaked into any output or file.
    let mut everything = String::new();
    for e in [&e1, &e2, &e3, &e4] {
        for f in fs::read_dir(e).unwrap() {
            everything.push_str(&fs::read_to_string(f.unwrap().path()).unwrap());
        }
    }
    for run_dir in ["init", "rotate", "revoke", "refresh"] {
        everything.push_str(&fs::read_to_string(room.path(run_dir).join("state.json")).unwrap());
    }
    for (_, secret) in &room.secrets {
        assert!(!everything.contains(secret.as_str()), "secret leaked");
    }
}

#[test]
fn notary_flavour_ceremonies_produce_roots_notary_rules_accept() {
    let mut room = Room::new();
    let args = root_init_args(&mut room, "init", "export-1", "notary");
    let out = succeed(&ceremony_run(&args, None));
    let e1 = room.path("export-1");
    // One ID per key as people see it: generation shows the public key's ID (as
    // `notary key list` does); the summary shows each root certificate's ID with
    // that same public key ID beside it.
    let root: serde_json::Value =
        serde_json::from_slice(&fs::read(e1.join("1.root.json")).unwrap()).unwrap();
    for id in root["signed"]["roles"]["root"]["keyids"]
        .as_array()
        .unwrap()
    {
        let id = id.as_str().unwrap();
        let cert: ceremony::tuf::metadata::Key =
            serde_json::from_value(root["signed"]["keys"][id].clone()).unwrap();
        let public =
            ceremony::tuf::key::decode_key(&cert, ceremony::tuf::metadata::Flavour::Notary)
                .unwrap()
                .public;
        let public_id = ceremony::tuf::key::key_id(
            &ceremony::tuf::key::notary_key(&public),
            ceremony::tuf::metadata::Flavour::Notary,
        );
        assert!(
            out.contains(&format!(" key {} on ", fingerprint(&public_id)))
                && out.contains(&format!(
                    "{} (public key {})",
                    fingerprint(id),
                    fingerprint(&public_id)
                )),
            "{id} / {public_id}:\n{out}"
        );
    }
    let gun = "example.com/ceremony/app";
    let v = ok(&["verify", "--gun", gun, p(&e1)]);
    assert!(v.contains("trustworthy: notary root version 1"), "{v}");
    let inspect = ok(&["root", "inspect", p(&e1.join("root.json"))]);
    assert_eq!(
        inspect.matches(&format!("certificate CN={gun}")).count(),
        3,
        "{inspect}"
    );
    // Revoke the tagging key.
    let old_targets = targets_keyid(&e1);
    let mut a = vec![
        p(&scripts().join("revoke-tagging-key.toml")).to_owned(),
        s("--workdir"),
        p(&room.path("revoke")).to_owned(),
        s("--out"),
        p(&room.path("export-2")).to_owned(),
        s("--current"),
        p(&e1).to_owned(),
        s("--trusted"),
        p(&e1.join("1.root.json")).to_owned(),
        s("--revoke"),
        old_targets,
        s("--key"),
        format!(
            "targets-new=keyfile:{}",
            p(&room.keyfile("root-p2", "notary"))
        ),
        s("--set"),
        s("flavour=notary"),
        s("--set"),
        format!("repository={gun}"),
        s("--allow-network"),
    ];
    for (k, t) in [("root-1", "init-root-1"), ("root-2", "init-root-3")] {
        let tok = room.token(t);
        a.push(s("--token"));
        a.push(format!("{k}={tok}"));
    }
    a.push(s("--answers"));
    a.push(p(&room.answers("revoke-answers.toml", "")).to_owned());
    succeed(&ceremony_run(&a, None));
    let e2 = room.path("export-2");
    let v = ok(&["verify", "--gun", gun, p(&e2)]);
    assert!(v.contains("trustworthy: notary root version 2"), "{v}");
    let bytes = fs::read(e2.join("2.root.json")).unwrap();
    assert!(
        bytes.starts_with(b"{\"signed\":{\"_type\":\"Root\""),
        "Notary bytes"
    );
}

#[test]
fn bad_scripts_are_refused_before_anything_is_done() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/scripts");
    let mut count = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = fs::read_to_string(&path).unwrap();
        let expected = text
            .lines()
            .next()
            .and_then(|l| l.split_once("expected error contains: "))
            .map(|(_, e)| e.trim().to_owned())
            .unwrap_or_else(|| panic!("{} names no expected error", path.display()));
        let room = tempfile::tempdir().unwrap();
        let work = room.path().join("work");
        let out_dir = room.path().join("out");
        let answers = room.path().join("answers.toml");
        fs::write(&answers, "[confirm]\ndefault = true\n").unwrap();
        let o = run(&[
            "run",
            p(&path),
            "--workdir",
            p(&work),
            "--out",
            p(&out_dir),
            "--allow-network",
            "--answers",
            p(&answers),
        ]);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{}: {}",
            path.display(),
            stderr(&o)
        );
        let err = stderr(&o);
        assert!(
            err.contains(&expected),
            "{}: expected {expected:?} in:\n{err}",
            path.display()
        );
        assert!(
            !work.exists() && !out_dir.exists(),
            "{}: something was done",
            path.display()
        );
        count += 1;
    }
    assert!(count >= 15, "the catalogue has {count} fixtures");
}

#[test]
fn missing_or_wrong_bindings_are_refused_before_anything_is_done() {
    let mut room = Room::new();
    let base = root_init_args(&mut room, "init", "export", "tuf");
    let work = room.path("init");
    // Drop the token of root-2.
    let without: Vec<String> = base
        .iter()
        .filter(|a| !a.starts_with("root-2="))
        .cloned()
        .collect();
    let without: Vec<String> = {
        let mut v = Vec::new();
        let mut skip = false;
        for (i, a) in without.iter().enumerate() {
            if skip {
                skip = false;
                continue;
            }
            if a == "--token" && without.get(i + 1).is_some_and(|n| n.starts_with("--")) {
                continue;
            }
            if a == "--token" && without.get(i + 1).is_none() {
                skip = true;
                continue;
            }
            v.push(a.clone());
        }
        v
    };
    let o = ceremony_run(&without, None);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(
            "key root-2 is generated in this ceremony: say on which token with --token root-2=REF"
        ),
        "{}",
        stderr(&o)
    );
    assert!(!work.exists());
    // An unknown key name.
    let mut extra = base.clone();
    extra.push(s("--token"));
    extra.push(s("root-9=soft:/nonexistent"));
    let o = ceremony_run(&extra, None);
    assert!(
        stderr(&o).contains("the script declares no key \"root-9\""),
        "{}",
        stderr(&o)
    );
    // --current given to root-init; a rotation without --current.
    let mut cur = base.clone();
    cur.push(s("--current"));
    cur.push(p(room.dir.path()).to_owned());
    let o = ceremony_run(&cur, None);
    assert!(
        stderr(&o).contains("--current is not used"),
        "{}",
        stderr(&o)
    );
    let answers = room.answers("any.toml", "");
    let o = run(&[
        "run",
        p(&scripts().join("refresh-expiry.toml")),
        "--workdir",
        p(&work),
        "--out",
        p(&room.path("o")),
        "--token",
        "root-1=soft:/x",
        "--token",
        "root-2=soft:/y",
        "--answers",
        p(&answers),
    ]);
    assert!(
        stderr(&o).contains("starts from the current root: give --current DIR"),
        "{}",
        stderr(&o)
    );
    assert!(!work.exists());
    // No answers file and no terminal: a clear error, not a hang.
    let o = run(&[
        "run",
        p(&scripts().join("root-init.toml")),
        "--workdir",
        p(&work),
        "--out",
        p(&room.path("o")),
    ]);
    assert!(
        stderr(&o).contains("needs people at a terminal"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_refused_confirmation_stops_before_signing_and_resume_continues() {
    let mut room = Room::new();
    let mut args = root_init_args(&mut room, "init", "export", "tuf");
    let no = room.answers("no.toml", "review = false");
    let pos = args.iter().position(|a| a == "--answers").unwrap();
    args[pos + 1] = p(&no).to_owned();
    // Started on an air-gapped machine (a network namespace with no network).
    args.retain(|a| a != "--allow-network");
    let mut start = std::process::Command::new(assert_cmd::cargo::cargo_bin("ceremony"));
    start.arg("run").args(&args);
    let o = in_netns(&start, false).output().expect("unshare runs");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the summary was not agreed; nothing was signed"),
        "{}",
        stderr(&o)
    );
    let draft: serde_json::Value =
        serde_json::from_slice(&fs::read(room.path("init/new.root.json")).unwrap()).unwrap();
    assert_eq!(draft["signatures"].as_array().unwrap().len(), 0);
    let yes = room.answers("yes.toml", "");
    // Options a resume would not honour are refused by name, with the command
    // that works; nothing is recorded.
    let transcript = room.path("init/transcript.jsonl");
    let before = fs::read(&transcript).unwrap();
    let o = run(&[
        "run",
        "--resume",
        "--allow-network",
        "--workdir",
        p(&room.path("init")),
        "--answers",
        p(&yes),
        "--revoke",
        "0123abcd",
        "--set",
        "expires=2031-01-01T00:00:00Z",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("does not take --revoke, --set")
            && stderr(&o).contains(&format!(
                "ceremony run --resume --workdir {}",
                room.path("init").display()
            )),
        "{}",
        stderr(&o)
    );
    assert_eq!(fs::read(&transcript).unwrap(), before);
    // The air gap is checked again on resume: on a networked machine (a network
    // namespace with an interface up and a default route) the resume needs
    // --allow-network again, and says exactly what to run.
    let networked = |args: &[&str]| {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("ceremony"));
        c.args(args);
        in_netns(&c, true).output().expect("unshare runs")
    };
    {
        let o = networked(&[
            "run",
            "--resume",
            "--workdir",
            p(&room.path("init")),
            "--answers",
            p(&yes),
        ]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("this machine is not air-gapped")
                && stderr(&o).contains(&format!(
                    "continue with: ceremony run --resume --workdir {} (for a rehearsal only, add --allow-network)",
                    room.path("init").display()
                )),
            "{}",
            stderr(&o)
        );
        let draft: serde_json::Value =
            serde_json::from_slice(&fs::read(room.path("init/new.root.json")).unwrap()).unwrap();
        assert_eq!(draft["signatures"].as_array().unwrap().len(), 0);
    }
    let o = networked(&[
        "run",
        "--resume",
        "--allow-network",
        "--workdir",
        p(&room.path("init")),
        "--answers",
        p(&yes),
    ]);
    succeed(&o);
    ok(&["verify", p(&room.path("export"))]);
    {
        // Each resume's finding is recorded: the refused one as an error, the
        // override as a network-override entry after the resume entry.
        let t = fs::read_to_string(room.path("export/transcript.jsonl")).unwrap();
        let kinds: Vec<String> = t
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["kind"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        // After the resume: why it went on (a deviation), then the override and
        // why the run goes on on a networked machine (a deviation too).
        let last_resume = kinds.iter().rposition(|k| k == "resume").unwrap();
        assert_eq!(
            kinds[last_resume + 1..last_resume + 4],
            ["deviation", "network-override", "deviation"],
            "{kinds:?}"
        );
        assert!(t.contains("this machine is not air-gapped"), "{t}");
        // And the override marks the record as no production ceremony.
        let o = run(&[
            "transcript",
            "verify",
            p(&room.path("export/transcript.jsonl")),
        ]);
        assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
        assert!(
            stdout(&o).contains("the air-gap check was overridden"),
            "{}",
            stdout(&o)
        );
    }
    let t = fs::read_to_string(room.path("export/transcript.jsonl")).unwrap();
    assert!(
        t.contains("\"kind\":\"error\""),
        "the refusal is in the transcript"
    );
    assert!(t.contains("\"kind\":\"interruption\""));
}

/// Software tokens: crash inside root-init at a few points (key generation, a
/// signature, the export), resume, and check the outcome (the SoftHSM test below
/// covers every step).
#[test]
fn resume_after_a_crash_on_software_tokens() {
    let points = [
        "generated:generate-root-2",
        "after-commit:sign-root-1",
        "before-commit:export",
    ];
    std::thread::scope(|scope| {
        for point in points {
            scope.spawn(move || crash_and_resume(point));
        }
    });
}

/// Crash root-init at every step on SoftHSM tokens (after the step's effects are on
/// disk but before its completion is recorded, and right after), resume, and check
/// the result is what an uninterrupted run gives: one key per token, one root,
/// every judge satisfied, the transcript intact with the interruption recorded.
#[test]
fn resume_after_a_crash_at_every_step_of_root_init() {
    let script = fs::read_to_string(scripts().join("root-init.toml")).unwrap();
    let table: toml::Table = script.parse().unwrap();
    // Every step that touches a token, a draft or a file; of the steps that only
    // record what people type, one of each kind (they all commit the same way).
    let steps: Vec<String> = table["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|st| {
            let id = st["id"].as_str().unwrap();
            !matches!(
                st["action"].as_str(),
                Some("record" | "sign-in" | "sign-out")
            ) || matches!(id, "sign-in" | "bag-in-2" | "sign-out")
        })
        .map(|st| st["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(steps.len(), 17);
    let points: Vec<String> = steps
        .iter()
        .flat_map(|st| [format!("before-commit:{st}"), format!("after-commit:{st}")])
        .chain([
            "generated:generate-root-2".to_owned(),
            "before-finish:seal".to_owned(),
        ])
        .collect();
    for point in points {
        let room = Room::new();
        let work = room.path("init");
        let export = room.path("export");
        let (hsm, _, args) = root_init_on_softhsm(&room, 6_120_071, &work, &export, "answers.toml");
        let answers = room.path("answers.toml");
        let o = ceremony()
            .arg("run")
            .args(&args)
            .env("SOFTHSM2_CONF", &hsm.conf)
            .env("CEREMONY_PKCS11_MODULE", SOFTHSM_MODULE)
            .env("CEREMONY_TEST_CRASH", &point)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(99), "{point}: {}", stderr(&o));
        // The export appears whole or not at all: an interrupted run leaves no
        // export directory, at most its hidden partial sibling.
        assert!(!export.exists(), "{point}: a partial export is visible");
        let o = ceremony()
            .args([
                "run",
                "--resume",
                "--allow-network",
                "--workdir",
                p(&work),
                "--answers",
                p(&answers),
            ])
            .env("SOFTHSM2_CONF", &hsm.conf)
            .env("CEREMONY_PKCS11_MODULE", SOFTHSM_MODULE)
            .output()
            .unwrap();
        succeed(&o);
        // One key per token: no slot got a second key.
        let listing = ceremony()
            .arg("tokens")
            .env("SOFTHSM2_CONF", &hsm.conf)
            .env("CEREMONY_PKCS11_MODULE", SOFTHSM_MODULE)
            .output()
            .unwrap();
        let listing = stdout(&listing);
        assert_eq!(
            listing.matches("object=ceremony-root").count(),
            3,
            "{point}: {listing}"
        );
        check_root_init_export(&export, &point);
        assert!(!room.path(".export.partial").exists(), "{point}");
        let v = ok(&["bundle-verify", p(&export)]);
        assert!(v.contains("5 file(s) match the manifest"), "{point}: {v}");
        assert!(
            v.contains("script: script.toml, the approved script"),
            "{point}: {v}"
        );
    }
}

fn check_root_init_export(export: &Path, point: &str) {
    // A crash after the seal leaves nothing to record: resume only finishes.
    let expect_interruption = !point.starts_with("before-finish");
    let root: serde_json::Value =
        serde_json::from_slice(&fs::read(export.join("root.json")).unwrap()).unwrap();
    assert_eq!(root["signed"]["version"], 1, "{point}");
    assert_eq!(
        root["signed"]["roles"]["root"]["keyids"]
            .as_array()
            .unwrap()
            .len(),
        3,
        "{point}"
    );
    assert_eq!(root["signed"]["roles"]["root"]["threshold"], 2, "{point}");
    assert_eq!(
        root["signatures"].as_array().unwrap().len(),
        3,
        "{point}: one signature per key"
    );
    let (accepted, msg) = python_tuf(&[&export.join("1.root.json")]);
    assert!(accepted, "{point}: {msg}");
    let t = ok(&[
        "transcript",
        "verify",
        "--accept-practice",
        p(&export.join("transcript.jsonl")),
    ]);
    assert!(t.contains("final hash"), "{point}: {t}");
    let text = fs::read_to_string(export.join("transcript.jsonl")).unwrap();
    assert_eq!(
        text.contains("\"kind\":\"interruption\""),
        expect_interruption,
        "{point}: interruption recorded or not"
    );
    assert_eq!(
        fs::read(export.join("root.json")).unwrap(),
        fs::read(export.join("1.root.json")).unwrap()
    );
}

fn crash_and_resume(point: &str) {
    let mut room = Room::new();
    let args = root_init_args(&mut room, "init", "export", "tuf");
    let o = ceremony_run(&args, Some(point));
    assert_eq!(o.status.code(), Some(99), "{point}: {}", stderr(&o));
    let answers = room.answers("init-answers.toml", "");
    let o = run(&[
        "run",
        "--resume",
        "--allow-network",
        "--workdir",
        p(&room.path("init")),
        "--answers",
        p(&answers),
    ]);
    succeed(&o);
    let export = room.path("export");
    // Exactly three key files: no second key for any slot.
    let keys = fs::read_dir(room.dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".age")
        })
        .count();
    assert_eq!(keys, 3, "{point}: generated {keys} keys");
    check_root_init_export(&export, point);
}

#[test]
fn root_init_and_revocation_on_softhsm_tokens() {
    let mut room = Room::new();
    let (hsm, pins, e1, out) = softhsm_root(&mut room);
    assert!(out.contains("sealing the transcript with"), "{out}");
    let (accepted, msg) = python_tuf(&[&e1.join("1.root.json")]);
    assert!(accepted, "{msg}");
    // The transcript holds the generation evidence from the token.
    let t = fs::read_to_string(e1.join("transcript.jsonl")).unwrap();
    assert_eq!(
        t.matches("\"never_extractable\":true").count(),
        3,
        "evidence for three keys"
    );
    assert!(t.contains("\"token_manufacturer\":\"SoftHSM project\""));
    let v = ok(&[
        "transcript",
        "verify",
        "--accept-practice",
        p(&e1.join("transcript.jsonl")),
    ]);
    assert!(v.contains("signed"), "{v}");
    // Revoke the tagging key, signing on two of the tokens.
    let old_targets = targets_keyid(&e1);
    let mut args = vec![
        p(&scripts().join("revoke-tagging-key.toml")).to_owned(),
        s("--workdir"),
        p(&room.path("revoke")).to_owned(),
        s("--out"),
        p(&room.path("export-2")).to_owned(),
        s("--current"),
        p(&e1).to_owned(),
        s("--trusted"),
        p(&e1.join("1.root.json")).to_owned(),
        s("--revoke"),
        old_targets[..10].to_owned(),
        s("--key"),
        format!("targets-new=keyfile:{}", p(&room.keyfile("root-p1", "tuf"))),
        s("--token"),
        format!("root-1={}", pins[0].0),
        s("--token"),
        format!("root-2={}", pins[2].0),
        s("--allow-network"),
        s("--answers"),
        p(&hsm_answers(&room, &pins, "a2.toml")).to_owned(),
    ];
    let _ = &mut args;
    let out2 = succeed(&hsm.run(&args));
    // Before the room confirms the incident, the key to remove is shown in full
    // (resolved from the prefix given) and as read aloud, with its replacement.
    let facts = out2
        .find("key to remove from targets (root version 1): ")
        .expect("the key to remove is shown");
    let asked = out2
        .find("The compromised key ID was confirmed")
        .expect("the incident confirmation is asked");
    assert!(facts < asked, "{out2}");
    assert!(
        out2.contains(&format!(
            "key to remove from targets (root version 1): {old_targets}"
        )) && out2.contains(&format!("read aloud: {}", fingerprint(&old_targets))),
        "{out2}"
    );
    assert!(
        out2.contains("replacement targets key (targets-new, from "),
        "{out2}"
    );
    let e2 = room.path("export-2");
    let (accepted, msg) = python_tuf(&[&e2.join("1.root.json"), &e2.join("2.root.json")]);
    assert!(accepted, "{msg}");
    // No PIN anywhere in what the ceremony wrote.
    let mut everything = String::new();
    for e in [&e1, &e2] {
        for f in fs::read_dir(e).unwrap() {
            everything.push_str(&fs::read_to_string(f.unwrap().path()).unwrap());
        }
    }
    everything.push_str(&out);
    for (_, pin) in &pins {
        assert!(!everything.contains(pin.as_str()), "a PIN leaked");
    }
}

#[test]
fn an_answers_file_cannot_hold_the_pin_of_a_real_token() {
    // The scripted UI refuses secrets for tokens that are not software or test
    // tokens; the engine marks only SoftHSM tokens as test tokens.
    use ceremony::ceremony::ui::{Answers, OperatorUi, ScriptedUi, SecretKind, SecretRequest};
    let answers = Answers::parse(
        "[confirm]\ndefault = true\n[secrets]\n\"pkcs11:token=prod;object=root\" = \"123456\"\n",
        "answers.toml",
    )
    .unwrap();
    let mut out = Vec::new();
    let mut ui = ScriptedUi::new(answers, &mut out);
    let err = ui
        .secret(
            "sign-root-1",
            &SecretRequest {
                token: "pkcs11:token=prod;object=root".into(),
                kind: SecretKind::Pin,
                status: None,
                test_token: false,
                confirm: false,
            },
        )
        .map(|_| ())
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("needs its PIN typed at the terminal"),
        "{err}"
    );
    // And the final PIN try is never confirmed by a default answer.
    let err = ui
        .confirm("sign-root-1-final-pin-try", "final try?")
        .unwrap_err();
    assert!(err.to_string().contains("has no answer"), "{err}");
    drop(ui);
    assert!(!String::from_utf8(out).unwrap().contains("123456"));
}

/// root-init on three SoftHSM tokens; returns the HSM, the room, the token URIs
/// with their PINs, and the export directory.
fn softhsm_root(room: &mut Room) -> (SoftHsm, Vec<(String, String)>, PathBuf, String) {
    let (hsm, pins, args) = root_init_on_softhsm(
        room,
        7_312_053,
        &room.path("init"),
        &room.path("export-1"),
        "init-answers.toml",
    );
    let out = succeed(&hsm.run(&args));
    let e1 = room.path("export-1");
    (hsm, pins, e1, out)
}

/// Three fresh SoftHSM2 tokens (root-1..3, PINs from `pin_base`), the answers
/// file holding their PINs, and the arguments of a root-init run over them with
/// the fixture online keys. Returns the tokens, the (URI, PIN) pairs and the
/// arguments.
fn root_init_on_softhsm(
    room: &Room,
    pin_base: usize,
    work: &Path,
    export: &Path,
    answers_name: &str,
) -> (SoftHsm, Vec<(String, String)>, Vec<String>) {
    let hsm = SoftHsm::new();
    let mut pins = Vec::new();
    for (i, label) in ["root-1", "root-2", "root-3"].iter().enumerate() {
        let pin = (pin_base + i * 23).to_string();
        hsm.init(label, &pin);
        pins.push((format!("pkcs11:token={label};object=ceremony-root"), pin));
    }
    let answers = hsm_answers(room, &pins, answers_name);
    let mut args = vec![
        p(&scripts().join("root-init.toml")).to_owned(),
        s("--workdir"),
        p(work).to_owned(),
        s("--out"),
        p(export).to_owned(),
        s("--allow-network"),
        s("--answers"),
        p(&answers).to_owned(),
    ];
    for (i, (uri, _)) in pins.iter().enumerate() {
        args.push(s("--token"));
        args.push(format!("root-{}={uri}", i + 1));
    }
    for role in ["targets", "snapshot", "timestamp"] {
        args.push(s("--key"));
        args.push(format!("{role}=keyfile:{}", p(&room.keyfile(role, "tuf"))));
    }
    (hsm, pins, args)
}

fn hsm_answers(room: &Room, pins: &[(String, String)], name: &str) -> PathBuf {
    let mut text = String::from("[confirm]\ndefault = true\n[secrets]\n");
    for (k, v) in pins {
        text.push_str(&format!("{k:?} = {v:?}\n"));
    }
    let path = room.path(name);
    fs::write(&path, text).unwrap();
    path
}

/// Crash the responder's revoke-tagging-key ceremony at every step (before and
/// after each step's completion is recorded), resume, and check the outcome is
/// the uninterrupted one: one root version 2 without the leaked key, with the
/// replacement, signed once by each root token, accepted by python-tuf, and a
/// sealed transcript that records the interruption.
#[test]
fn resume_after_a_crash_at_every_step_of_revoke_tagging_key() {
    let script = fs::read_to_string(scripts().join("revoke-tagging-key.toml")).unwrap();
    let table: toml::Table = script.parse().unwrap();
    let steps: Vec<String> = table["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|st| st["id"].as_str().unwrap().to_owned())
        .collect();
    let mut room = Room::new();
    let (hsm, pins, e1, _) = softhsm_root(&mut room);
    let old_targets = targets_keyid(&e1);
    let replacement = room.keyfile("root-p1", "tuf");
    let answers = hsm_answers(&room, &pins, "revoke-answers.toml");
    let mut reference: Option<serde_json::Value> = None;
    for (n, point) in steps
        .iter()
        .flat_map(|st| [format!("before-commit:{st}"), format!("after-commit:{st}")])
        .enumerate()
    {
        let work = room.path(&format!("revoke-{n}"));
        let out = room.path(&format!("revoked-{n}"));
        let args = vec![
            p(&scripts().join("revoke-tagging-key.toml")).to_owned(),
            s("--workdir"),
            p(&work).to_owned(),
            s("--out"),
            p(&out).to_owned(),
            s("--current"),
            p(&e1).to_owned(),
            s("--trusted"),
            p(&e1.join("1.root.json")).to_owned(),
            s("--revoke"),
            old_targets.clone(),
            s("--key"),
            format!("targets-new=keyfile:{}", p(&replacement)),
            s("--token"),
            format!("root-1={}", pins[0].0),
            s("--token"),
            format!("root-2={}", pins[1].0),
            s("--allow-network"),
            s("--answers"),
            p(&answers).to_owned(),
        ];
        let mut cmd = ceremony();
        cmd.arg("run")
            .args(&args)
            .env("SOFTHSM2_CONF", &hsm.conf)
            .env("CEREMONY_PKCS11_MODULE", SOFTHSM_MODULE)
            .env("CEREMONY_TEST_CRASH", &point);
        let o = cmd.output().unwrap();
        assert_eq!(o.status.code(), Some(99), "{point}: {}", stderr(&o));
        // The export appears whole or not at all: an interrupted run leaves no
        // export directory, at most its hidden partial sibling.
        assert!(!out.exists(), "{point}: a partial export is visible");
        let o = ceremony()
            .args([
                "run",
                "--resume",
                "--allow-network",
                "--workdir",
                p(&work),
                "--answers",
                p(&answers),
            ])
            .env("SOFTHSM2_CONF", &hsm.conf)
            .env("CEREMONY_PKCS11_MODULE", SOFTHSM_MODULE)
            .output()
            .unwrap();
        succeed(&o);
        let root: serde_json::Value =
            serde_json::from_slice(&fs::read(out.join("2.root.json")).unwrap()).unwrap();
        let targets = root["signed"]["roles"]["targets"]["keyids"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(targets.len(), 1, "{point}");
        assert_ne!(
            targets[0].as_str().unwrap(),
            old_targets,
            "{point}: the leaked key is gone"
        );
        assert_eq!(
            root["signatures"].as_array().unwrap().len(),
            2,
            "{point}: one signature per token"
        );
        // Equal to every other run, modulo expiry (ECDSA signatures are randomised).
        let mut shape = root["signed"].clone();
        shape["expires"] = serde_json::json!("");
        match &reference {
            None => reference = Some(shape),
            Some(r) => assert_eq!(r, &shape, "{point}: a different root"),
        }
        let (accepted, msg) = python_tuf(&[&out.join("1.root.json"), &out.join("2.root.json")]);
        assert!(accepted, "{point}: {msg}");
        let t = ok(&[
            "transcript",
            "verify",
            "--accept-practice",
            p(&out.join("transcript.jsonl")),
        ]);
        assert!(t.contains("final hash"), "{point}: {t}");
        assert!(
            fs::read_to_string(out.join("transcript.jsonl"))
                .unwrap()
                .contains("\"kind\":\"interruption\"")
        );
    }
}

/// Offline targets: a delegated role's key is replaced in a delegation-rotate
/// ceremony, signed by the offline targets key; python-tuf accepts the result.
#[test]
fn delegation_rotate_replaces_a_delegated_key() {
    use ceremony::tokens::Signer;
    use ceremony::tokens::soft::SoftToken;
    use ceremony::tuf::cjson;
    use ceremony::tuf::key::{key_id, tuf_key};
    use ceremony::tuf::metadata::Flavour;
    let mut room = Room::new();
    let k = keys();
    let current = room.path("current");
    fs::create_dir(&current).unwrap();
    let root = current.join("1.root.json");
    create_root(&root, &["root-a"], 1, &next_year());
    sign(&root, "root-a", None);
    // Current targets.json: role "releases" delegated to root-c's key, signed by
    // the fixture's targets key.
    let pass = ceremony::secret::Secret::from_file(&k.passphrase_file).unwrap();
    let delegate_old = tuf_key(&SoftToken::read_public(&k.dir.join("root-c.age")).unwrap());
    let old_id = key_id(&delegate_old, Flavour::Tuf);
    let signed = serde_json::json!({
        "_type": "targets",
        "spec_version": "1.0.31",
        "version": 1,
        "expires": format!("{}T00:00:00Z", next_year()),
        "targets": {"app-1.0.tar.gz": {"length": 3, "hashes": {"sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}}},
        "delegations": {
            "keys": {old_id.clone(): delegate_old},
            "roles": [{"name": "releases", "keyids": [old_id.clone()], "threshold": 1, "terminating": true, "paths": ["releases/*"]}],
        },
    });
    let mut token = SoftToken::open(&k.dir.join("targets.age"), &pass).unwrap();
    let targets_id = key_id(&tuf_key(token.public_key()), Flavour::Tuf);
    let sig = ceremony::tuf::sign::sign_message(
        &cjson::encode(&signed).unwrap(),
        &mut token,
        Flavour::Tuf,
        targets_id,
    )
    .unwrap();
    let targets_file = room.path("targets.json");
    fs::write(
        &targets_file,
        serde_json::to_vec_pretty(&serde_json::json!({"signatures": [sig], "signed": signed}))
            .unwrap(),
    )
    .unwrap();
    // The ceremony: root-d's key replaces root-c's.
    let new_key = room.keyfile("root-d", "tuf");
    let new_id = {
        let o = run(&["key", "show", "--token", &k.token("root-d")]);
        stderr(&o)
            .trim()
            .strip_prefix("key ID: ")
            .unwrap()
            .to_owned()
    };
    room.secrets
        .push((k.token("targets"), PASSPHRASE.to_owned()));
    let answers = room.answers("answers.toml", "");
    let out = room.path("export");
    let o = run(&[
        "run",
        p(&scripts().join("delegation-rotate.toml")),
        "--workdir",
        p(&room.path("work")),
        "--out",
        p(&out),
        "--current",
        p(&current),
        "--trusted",
        p(&root),
        "--targets",
        p(&targets_file),
        "--token",
        &format!("targets={}", k.token("targets")),
        "--key",
        &format!("delegate-new=keyfile:{}", p(&new_key)),
        "--revoke",
        &old_id[..10],
        "--allow-network",
        "--answers",
        p(&answers),
    ]);
    let text = succeed(&o);
    assert!(
        text.contains(&format!("releases: key {} REMOVED", fingerprint(&old_id))),
        "{text}"
    );
    assert!(
        text.contains(&format!("releases: key {} ADDED", fingerprint(&new_id))),
        "{text}"
    );
    let judge = std::process::Command::new(python())
        .arg(interop_script("tuf_verify_targets.py"))
        .arg(&root)
        .arg(out.join("targets.json"))
        .arg("releases")
        .arg(&new_id)
        .output()
        .unwrap();
    assert!(
        judge.status.success(),
        "{}",
        String::from_utf8_lossy(&judge.stdout)
    );
    let new: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("2.targets.json")).unwrap()).unwrap();
    assert_eq!(
        new["signed"]["targets"], signed["targets"],
        "the targets listed are unchanged"
    );
    ok(&[
        "transcript",
        "verify",
        "--accept-practice",
        p(&out.join("transcript.jsonl")),
    ]);
    // A forged current targets file is refused up front, nothing done.
    let mut forged: serde_json::Value =
        serde_json::from_slice(&fs::read(&targets_file).unwrap()).unwrap();
    forged["signed"]["delegations"]["roles"][0]["threshold"] = serde_json::json!(1);
    forged["signed"]["version"] = serde_json::json!(7);
    let forged_file = room.path("forged-targets.json");
    fs::write(&forged_file, serde_json::to_vec(&forged).unwrap()).unwrap();
    let o = run(&[
        "run",
        p(&scripts().join("delegation-rotate.toml")),
        "--workdir",
        p(&room.path("work2")),
        "--out",
        p(&room.path("export2")),
        "--current",
        p(&current),
        "--trusted",
        p(&root),
        "--targets",
        p(&forged_file),
        "--token",
        &format!("targets={}", k.token("targets")),
        "--key",
        &format!("delegate-new=keyfile:{}", p(&new_key)),
        "--revoke",
        &old_id[..10],
        "--allow-network",
        "--answers",
        p(&answers),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("signed by 0 of the 1 targets key(s) the current root requires"),
        "{}",
        stderr(&o)
    );
    assert!(!room.path("work2").exists());
}

/// The online side hands over a "current" version 2 that adds an attacker's key
/// at threshold 1, signed only by that key. Checked against the root the key
/// holders trust (version 1, 2-of-2), it is refused before anything is done; and a
/// ceremony that starts from a current root must be given a trusted one.
#[test]
fn a_forged_current_root_is_refused_against_the_trusted_one() {
    let mut room = Room::new();
    let current = room.path("current");
    fs::create_dir(&current).unwrap();
    let v1 = current.join("1.root.json");
    create_root(&v1, &["root-a", "root-b"], 2, &next_year());
    sign(&v1, "root-a", None);
    sign(&v1, "root-b", None);
    let v2 = current.join("2.root.json");
    ok(&["root", "bump-version", p(&v1), "--out", p(&v2)]);
    let k = keys();
    ok(&[
        "root",
        "add-key",
        p(&v2),
        "--role",
        "root",
        "--key",
        &k.token("root-c"),
    ]);
    ok(&["root", "set-threshold", p(&v2), "--role", "root", "1"]);
    sign(&v2, "root-c", None);
    let trusted = room.path("trusted-1.root.json");
    fs::copy(&v1, &trusted).unwrap();
    room.secrets
        .push((k.token("root-a"), PASSPHRASE.to_owned()));
    room.secrets
        .push((k.token("root-b"), PASSPHRASE.to_owned()));
    let answers = room.answers("answers.toml", "");
    let work = room.path("work");
    let base = |extra: &[&str]| {
        let mut a: Vec<String> = vec![
            p(&scripts().join("refresh-expiry.toml")).to_owned(),
            s("--workdir"),
            p(&work).to_owned(),
            s("--out"),
            p(&room.path("out")).to_owned(),
            s("--current"),
            p(&current).to_owned(),
            s("--token"),
            format!("root-1={}", k.token("root-a")),
            s("--token"),
            format!("root-2={}", k.token("root-b")),
            s("--allow-network"),
            s("--answers"),
            p(&answers).to_owned(),
        ];
        a.extend(extra.iter().map(|x| x.to_string()));
        a
    };
    let o = ceremony_run(&base(&["--trusted", p(&trusted)]), None);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("version 2 has 0 valid signature(s) from the root keys of version 1, below the threshold of 2"),
        "{}",
        stderr(&o)
    );
    assert!(!work.exists());
    let o = ceremony_run(&base(&[]), None);
    assert!(
        stderr(&o).contains("needs --trusted ROOT"),
        "{}",
        stderr(&o)
    );
    assert!(!work.exists());
}

/// The online side hands over a current root that carries a shadow field
/// ("Roles" beside "roles": a Go client reads the attacker's roles, we and
/// python-tuf the real ones). The ceremony stops before anything is done, naming
/// the field, the file and where in it; nothing is reviewed or signed.
#[test]
fn a_current_root_with_a_shadow_field_stops_the_ceremony_before_the_review() {
    let mut room = Room::new();
    let current = room.path("current");
    fs::create_dir(&current).unwrap();
    let v1 = current.join("1.root.json");
    create_root(&v1, &["root-a", "root-b"], 2, &next_year());
    sign(&v1, "root-a", None);
    sign(&v1, "root-b", None);
    let trusted = room.path("trusted-1.root.json");
    fs::copy(&v1, &trusted).unwrap();
    let v2 = current.join("2.root.json");
    ok(&["root", "bump-version", p(&v1), "--out", p(&v2)]);
    sign(&v2, "root-a", None);
    sign(&v2, "root-b", None);
    let mut doc: serde_json::Value = serde_json::from_slice(&fs::read(&v2).unwrap()).unwrap();
    let mut roles = doc["signed"]["roles"].clone();
    roles["targets"]["keyids"] = roles["root"]["keyids"].clone();
    doc["signed"]["Roles"] = roles;
    fs::write(&v2, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();

    let k = keys();
    room.secrets
        .push((k.token("root-a"), PASSPHRASE.to_owned()));
    room.secrets
        .push((k.token("root-b"), PASSPHRASE.to_owned()));
    let answers = room.answers("answers.toml", "");
    let work = room.path("work");
    let args: Vec<String> = vec![
        p(&scripts().join("refresh-expiry.toml")).to_owned(),
        s("--workdir"),
        p(&work).to_owned(),
        s("--out"),
        p(&room.path("out")).to_owned(),
        s("--current"),
        p(&current).to_owned(),
        s("--trusted"),
        p(&trusted).to_owned(),
        s("--token"),
        format!("root-1={}", k.token("root-a")),
        s("--token"),
        format!("root-2={}", k.token("root-b")),
        s("--allow-network"),
        s("--answers"),
        p(&answers).to_owned(),
    ];
    let o = ceremony_run(&args, None);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "{}: field \"Roles\" at $.signed shadows \"roles\": clients that decode JSON the way \
             Go does (Notary, go-tuf) read it as \"roles\"",
            v2.display()
        )),
        "{err}"
    );
    assert!(!work.exists());
    assert!(!room.path("out").exists());
}

/// A script that backs up a root key: the key is generated in software, loaded
/// into its token, written encrypted to each custodian (an age X25519 recipient
/// and a passphrase), and every backup is opened and checked before the ceremony
/// goes on. The backups hold the key the root lists, and nothing else is in clear.
#[test]
fn backups_are_encrypted_to_each_custodian_and_checked() {
    use age::secrecy::ExposeSecret;
    let mut room = Room::new();
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/root-init-with-backup.toml");
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let id_text = identity.to_string().expose_secret().to_owned();
    let mut args = root_init_args(&mut room, "init", "export", "tuf");
    args[0] = p(&script).to_owned();
    let backup_pass = "custodian-2 backup passphrase 5511".to_owned();
    room.secrets
        .push((format!("backup:root-1:{recipient}"), id_text.clone()));
    room.secrets.push((
        "backup:root-1:passphrase:custodian-2".into(),
        backup_pass.clone(),
    ));
    let answers = room.answers("backup-answers.toml", "");
    let pos = args.iter().position(|a| a == "--answers").unwrap();
    args[pos + 1] = p(&answers).to_owned();
    let backups = room.path("custodian-media");
    // Without a place for the backups: refused before anything is done.
    let mut without = args.clone();
    without.extend([s("--backup"), format!("root-1={recipient}")]);
    let o = ceremony_run(&without, None);
    assert!(
        stderr(&o).contains("say where with --backup-dir DIR"),
        "{}",
        stderr(&o)
    );
    assert!(!room.path("init").exists());
    args.extend([
        s("--backup"),
        format!("root-1={recipient}"),
        s("--backup"),
        s("root-1=passphrase:custodian-2"),
        s("--backup-dir"),
        p(&backups).to_owned(),
    ]);
    let out = succeed(&ceremony_run(&args, None));
    assert!(
        out.contains("backed up: root-1 (2 encrypted backup(s))"),
        "{out}"
    );
    let export = room.path("export");
    let (accepted, msg) = python_tuf(&[&export.join("1.root.json")]);
    assert!(accepted, "{msg}");
    let t = fs::read_to_string(export.join("transcript.jsonl")).unwrap();
    assert_eq!(t.matches("\"kind\":\"backup-written\"").count(), 2);
    assert_eq!(t.matches("\"kind\":\"backup-verified\"").count(), 2);
    // Each backup opens with its custodian's secret and holds root key 1.
    let root1 = fs::read_to_string(format!(
        "{}.pub",
        room.token("init-root-1").strip_prefix("soft:").unwrap()
    ))
    .unwrap();
    let root1: serde_json::Value = serde_json::from_str(&root1).unwrap();
    use std::os::unix::fs::PermissionsExt;
    for (file, plain) in [
        (
            "root-1-backup-1.age",
            age::decrypt(
                &identity,
                &fs::read(backups.join("root-1-backup-1.age")).unwrap(),
            )
            .unwrap(),
        ),
        (
            "root-1-backup-2.age",
            age::decrypt(
                &age::scrypt::Identity::new(age::secrecy::SecretString::from(backup_pass.clone())),
                &fs::read(backups.join("root-1-backup-2.age")).unwrap(),
            )
            .unwrap(),
        ),
    ] {
        let mode = fs::metadata(backups.join(file))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{file}");
        let text = String::from_utf8(plain).unwrap();
        assert!(
            text.starts_with("ceremony-soft-key v1\nalgorithm ecdsa-p256\nprivate "),
            "{file}"
        );
        let private = text
            .lines()
            .nth(2)
            .unwrap()
            .strip_prefix("private ")
            .unwrap()
            .to_owned();
        // The private key is nowhere in clear: not in the export, transcript, state or output.
        let mut everything = out.clone();
        for f in fs::read_dir(&export).unwrap() {
            everything.push_str(&fs::read_to_string(f.unwrap().path()).unwrap());
        }
        everything.push_str(&fs::read_to_string(room.path("init/state.json")).unwrap());
        assert!(
            !everything.contains(&private),
            "{file}: the private key leaked"
        );
        assert!(!everything.contains(&id_text) && !everything.contains(&backup_pass));
        let _ = &root1;
    }
    assert!(root1["public"].as_str().is_some());
}

#[test]
fn a_backup_that_does_not_open_stops_the_ceremony() {
    let mut room = Room::new();
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/root-init-with-backup.toml");
    let identity = age::x25519::Identity::generate();
    let other = age::x25519::Identity::generate();
    use age::secrecy::ExposeSecret;
    let recipient = identity.to_public().to_string();
    let mut args = root_init_args(&mut room, "init", "export", "tuf");
    args[0] = p(&script).to_owned();
    // The custodian brings the wrong identity.
    room.secrets.push((
        format!("backup:root-1:{recipient}"),
        other.to_string().expose_secret().to_owned(),
    ));
    let answers = room.answers("bad-answers.toml", "");
    let pos = args.iter().position(|a| a == "--answers").unwrap();
    args[pos + 1] = p(&answers).to_owned();
    args.extend([
        s("--backup"),
        format!("root-1={recipient}"),
        s("--backup-dir"),
        p(&room.path("media")).to_owned(),
    ]);
    let o = ceremony_run(&args, None);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the backup does not open with the custodian's identity"),
        "{}",
        stderr(&o)
    );
    assert!(!room.path("export").exists(), "nothing exported");
}

/// The key ID of the (first) targets key in an export's `root.json`.
fn targets_keyid(export: &Path) -> String {
    let v: serde_json::Value =
        serde_json::from_slice(&fs::read(export.join("root.json")).unwrap()).unwrap();
    v["signed"]["roles"]["targets"]["keyids"][0]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A work directory changed between a kill and the resume: the draft root is
/// edited after one key signed it. The resume refuses at the next sign step,
/// naming the step and the file; nothing more is signed and no export appears.
#[test]
fn a_draft_changed_between_a_kill_and_the_resume_is_refused_and_nothing_is_signed() {
    let room = Room::new();
    let work = room.path("init");
    let export = room.path("export");
    let (hsm, _, args) = root_init_on_softhsm(&room, 5_831_179, &work, &export, "answers.toml");
    let answers = room.path("answers.toml");
    let o = ceremony()
        .arg("run")
        .args(&args)
        .env("SOFTHSM2_CONF", &hsm.conf)
        .env("CEREMONY_PKCS11_MODULE", SOFTHSM_MODULE)
        .env("CEREMONY_TEST_CRASH", "after-commit:sign-root-1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(99), "{}", stderr(&o));
    let draft = work.join("new.root.json");
    let mut doc: serde_json::Value = serde_json::from_slice(&fs::read(&draft).unwrap()).unwrap();
    assert_eq!(doc["signatures"].as_array().unwrap().len(), 1);
    doc["signed"]["expires"] = serde_json::json!("2035-01-01T00:00:00Z");
    fs::write(&draft, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let o = ceremony()
        .args([
            "run",
            "--resume",
            "--allow-network",
            "--workdir",
            p(&work),
            "--answers",
            p(&answers),
        ])
        .env("SOFTHSM2_CONF", &hsm.conf)
        .env("CEREMONY_PKCS11_MODULE", SOFTHSM_MODULE)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains("step sign-root-2:")
            && err.contains("new.root.json changed since it was built"),
        "{err}"
    );
    assert!(err.contains("nothing more is signed"), "{err}");
    let after: serde_json::Value = serde_json::from_slice(&fs::read(&draft).unwrap()).unwrap();
    assert_eq!(after, doc, "the changed draft is left as it was found");
    assert!(!export.exists() && !room.path(".export.partial").exists());
    let text = fs::read_to_string(work.join("transcript.jsonl")).unwrap();
    assert_eq!(text.matches("\"kind\":\"signature\"").count(), 1);
}

/// The auditor's PDF of a root-init on SoftHSM2 tokens, read back with poppler
/// as its reader sees it: every token serial, key ID and file hash and the
/// repository are in its text; no word leaves the page; each page says which of
/// how many it is; every page renders.
#[test]
fn the_printed_report_holds_every_fact_and_fits_the_page() {
    let room = Room::new();
    let work = room.path("init");
    let export = room.path("export");
    let (hsm, _, args) = root_init_on_softhsm(&room, 4_410_017, &work, &export, "answers.toml");
    let o = ceremony()
        .arg("run")
        .args(&args)
        .env("SOFTHSM2_CONF", &hsm.conf)
        .env("CEREMONY_PKCS11_MODULE", SOFTHSM_MODULE)
        .output()
        .unwrap();
    succeed(&o);
    let transcript = export.join("transcript.jsonl");
    let pdf = room.path("report.pdf");
    let o = run(&[
        "transcript",
        "report",
        p(&transcript),
        "--accept-practice",
        "--pdf",
        p(&pdf),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let poppler = |tool: &str, args: &[&str]| {
        let o = std::process::Command::new(tool)
            .args(args)
            .output()
            .unwrap_or_else(|e| {
                panic!("{tool} (poppler-utils; scripts/test-all installs it): {e}")
            });
        assert!(o.status.success(), "{tool}: {}", stderr(&o));
        stdout(&o)
    };
    let text = poppler("pdftotext", &["-raw", p(&pdf), "-"]);
    // The facts, from the transcript and the export themselves.
    let mut facts = Vec::new();
    for line in fs::read_to_string(&transcript).unwrap().lines() {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        match e["kind"].as_str().unwrap() {
            "begin" => facts.push(e["data"]["repository"].as_str().unwrap().into()),
            "key-generated" => {
                facts.push(
                    e["data"]["evidence"]["token_serial"]
                        .as_str()
                        .unwrap()
                        .into(),
                );
                facts.push(e["data"]["tuf_keyid"].as_str().unwrap().into());
            }
            "file-written" => facts.push(e["data"]["sha256"].as_str().unwrap().into()),
            _ => {}
        }
    }
    let root: serde_json::Value =
        serde_json::from_slice(&fs::read(export.join("1.root.json")).unwrap()).unwrap();
    for keyid in root["signed"]["keys"].as_object().unwrap().keys() {
        facts.push(keyid.clone());
    }
    assert!(facts.len() > 10, "{facts:?}");
    for f in &facts {
        assert!(
            text.contains(f.as_str()),
            "{f} is not in the PDF's text:\n{text}"
        );
    }
    // Every page says which of how many it is, and renders.
    let info = poppler("pdfinfo", &[p(&pdf)]);
    let pages: usize = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(info.contains("595.28 x 841.89 pts (A4)"), "{info}");
    for n in 1..=pages {
        let page = poppler(
            "pdftotext",
            &["-f", &n.to_string(), "-l", &n.to_string(), p(&pdf), "-"],
        );
        assert!(
            page.contains(&format!("Page {n} of {pages}")),
            "page {n}:\n{page}"
        );
    }
    let images = room.path("pages");
    fs::create_dir(&images).unwrap();
    poppler(
        "pdftoppm",
        &["-r", "30", "-png", p(&pdf), p(&images.join("page"))],
    );
    assert_eq!(fs::read_dir(&images).unwrap().count(), pages);
    // No word leaves the page (nor the margins, but for a hair).
    let boxes = poppler("pdftotext", &["-bbox", p(&pdf), "-"]);
    let mut words = 0;
    for line in boxes.lines().filter(|l| l.contains("<word ")) {
        let attr = |name: &str| -> f64 {
            let at = line.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
            line[at..].split('"').next().unwrap().parse().unwrap()
        };
        assert!(
            attr("xMin") >= 45.0 && attr("xMax") <= 595.28 - 45.0,
            "a word leaves the page's width: {line}"
        );
        assert!(
            attr("yMin") >= 20.0 && attr("yMax") <= 841.89 - 20.0,
            "a word leaves the page's height: {line}"
        );
        words += 1;
    }
    assert!(words > 500, "{words} words");
}
