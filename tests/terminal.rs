//! The real terminal UI, driven through a pseudo-terminal the way a person would:
//! reading the screens, confirming, typing a passphrase wrong once.

mod common;

use common::*;
use expectrl::{Eof, Expect, Session};
use std::path::Path;
use std::time::Duration;

#[test]
fn a_person_runs_refresh_expiry_at_the_terminal_and_mistypes_once() {
    let d = tempfile::tempdir().unwrap();
    let current = d.path().join("current");
    std::fs::create_dir(&current).unwrap();
    let v1 = current.join("1.root.json");
    create_root(&v1, &["root-a", "root-b"], 2, &next_year());
    sign(&v1, "root-a", None);
    sign(&v1, "root-b", None);
    let k = keys();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("ceremony-scripts/refresh-expiry.toml");
    let out = d.path().join("export");
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("ceremony"));
    cmd.arg("run")
        .arg(&script)
        .arg("--workdir")
        .arg(d.path().join("work"))
        .arg("--out")
        .arg(&out)
        .arg("--current")
        .arg(&current)
        .arg("--trusted")
        .arg(&v1)
        .arg("--allow-network")
        .arg("--token")
        .arg(format!("root-1={}", k.token("root-a")))
        .arg("--token")
        .arg(format!("root-2={}", k.token("root-b")));
    let mut p = Session::spawn(cmd).unwrap();
    p.set_expect_timeout(Some(Duration::from_secs(60)));
    p.expect("step 1 of 8").unwrap();
    p.expect("--allow-network: continuing").unwrap();
    p.expect("READ ALOUD").unwrap();
    p.expect("changes from version 1:").unwrap();
    p.expect("everyone present agrees").unwrap();
    p.send("y").unwrap();
    p.expect("sign with key root-1").unwrap();
    p.expect("Passphrase for").unwrap();
    p.send_line("this is not the passphrase").unwrap();
    p.expect("wrong passphrase").unwrap();
    p.expect("try again (1 of 3 attempts used)").unwrap();
    p.expect("Passphrase for").unwrap();
    p.send_line(PASSPHRASE).unwrap();
    p.expect("signed root version 2 with root-1").unwrap();
    p.expect("Passphrase for").unwrap();
    p.send_line(PASSPHRASE).unwrap();
    p.expect("signed root version 2 with root-2").unwrap();
    p.expect("trustworthy: tuf root version 2").unwrap();
    p.expect("Witnesses: write down the transcript hash")
        .unwrap();
    let found = p.expect("transcript hash: ").unwrap();
    let _ = found;
    p.expect(Eof).unwrap();
    // What the person did is on record: the retry, and no passphrase.
    let transcript = std::fs::read_to_string(out.join("transcript.jsonl")).unwrap();
    assert!(
        transcript.contains("\"kind\":\"retry\""),
        "the retry is recorded"
    );
    assert!(!transcript.contains("this is not the passphrase"));
    assert!(!transcript.contains(PASSPHRASE));
    ok(&[
        "verify",
        "--trusted",
        v1.to_str().unwrap(),
        out.join("2.root.json").to_str().unwrap(),
    ]);
    let (accepted, msg) = python_tuf(&[&v1, &out.join("2.root.json")]);
    assert!(accepted, "{msg}");
}
