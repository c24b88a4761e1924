//! The real terminal UI, driven through a pseudo-terminal the way a person would:
//! reading the screens, confirming, typing a passphrase wrong once.

mod common;

use common::*;
use expectrl::process::Termios;
use expectrl::{Eof, Expect, Session};
use std::path::Path;
use std::time::{Duration, Instant};

/// Start `cmd` on a terminal with echo on, as a person's terminal is (the pty
/// library turns it off), so that [`type_secret`] can see a hidden prompt turn
/// it off.
fn spawn(cmd: std::process::Command) -> expectrl::session::OsSession {
    let mut p = Session::spawn(cmd).unwrap();
    p.get_process_mut().set_echo(true).unwrap();
    p.set_expect_timeout(Some(Duration::from_secs(60)));
    p
}

/// Type a secret at a hidden prompt the way a person would: once the prompt is
/// on the screen (the caller expects it) and reading. The ceremony keeps the
/// terminal from echoing between questions and throws away what was typed
/// before a question was asked, so typing earlier would be lost: a person takes
/// a moment to start typing, and so does this.
fn type_secret(p: &mut expectrl::session::OsSession, secret: &str) {
    let start = Instant::now();
    while p.get_process().is_echo().unwrap_or(true) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the terminal still echoes at a secret prompt"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(500));
    p.send_line(secret).unwrap();
}

/// Type a visible answer once its question is on the screen.
fn answer(p: &mut expectrl::session::OsSession, question: &str, value: &str) {
    p.expect(question).unwrap();
    p.send_line(value).unwrap();
}

/// Every participant types their name at the sign-in step.
fn sign_in(p: &mut expectrl::session::OsSession, people: &[(&str, &str)]) {
    for (id, name) in people {
        answer(p, &format!("Full name of {id}"), name);
    }
}

/// Every participant who signed in signs out (in the order of their IDs).
fn sign_out(p: &mut expectrl::session::OsSession, people: &[(&str, &str)]) {
    let mut ids: Vec<&str> = people.iter().map(|(id, _)| *id).collect();
    ids.sort();
    for id in ids {
        answer(p, &format!("({id}) signs out and leaves the room"), "yes");
    }
}

const OS_IMAGE: &str = "4b1e0c2a7d9f3e5b6a8c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a";

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
        .arg("--token")
        .arg(format!("root-1={}", k.token("root-a")))
        .arg("--token")
        .arg(format!("root-2={}", k.token("root-b")));
    // On a machine with no network, as a real ceremony runs.
    let mut p = spawn(in_netns(&cmd, false));
    p.expect("step 1 of 11").unwrap();
    p.expect("air-gapped: no network interface but lo").unwrap();
    sign_in(&mut p, &PEOPLE[..3]);
    sign_in(&mut p, &PEOPLE[4..]);
    // A value not of the form asked for is refused and asked again.
    answer(
        &mut p,
        "SHA-256 of the operating system image",
        "not a hash",
    );
    p.expect("does not have the form asked for").unwrap();
    answer(&mut p, "SHA-256 of the operating system image", OS_IMAGE);
    p.expect("READ ALOUD").unwrap();
    p.expect("changes from version 1:").unwrap();
    p.expect("everyone present agrees").unwrap();
    // One key and a stray Enter do not answer: a word and Enter do.
    p.send("y\r").unwrap();
    p.expect("please type yes or no, then Enter").unwrap();
    p.send("\r").unwrap();
    p.expect("please type yes or no, then Enter").unwrap();
    p.send("yes\r").unwrap();
    p.expect("sign with key root-1").unwrap();
    p.expect("Passphrase for").unwrap();
    type_secret(&mut p, "this is not the passphrase");
    p.expect("wrong passphrase").unwrap();
    p.expect("try again (1 of 3 attempts used)").unwrap();
    p.expect("Passphrase for").unwrap();
    type_secret(&mut p, PASSPHRASE);
    // Typed ahead while the key file is opened and the root signed, as soon as
    // the passphrase has been read (the prompt says "[hidden]"): the next
    // custodian's passphrase, a moment early, and a "yes", not yet ended with
    // Enter (the terminal's line mode does not count such a line as input
    // waiting). (Typed before the read, it is taken and dropped by the
    // passphrase prompt itself.) The terminal does not show it, and it answers
    // nothing: it is thrown away before the next question (kept, it would run
    // into the next passphrase, which would then be wrong: a second retry).
    const TYPED_AHEAD: &str = "typed-ahead 5521 yes";
    p.expect("[hidden]").unwrap();
    p.send(TYPED_AHEAD).unwrap();
    let mut screen = String::new();
    let mut seen = |m: expectrl::Captures| screen.push_str(&String::from_utf8_lossy(m.before()));
    seen(p.expect("signed root version 2 with root-1").unwrap());
    seen(p.expect("Passphrase for").unwrap());
    type_secret(&mut p, PASSPHRASE);
    seen(p.expect("signed root version 2 with root-2").unwrap());
    seen(p.expect("trustworthy: tuf root version 2").unwrap());
    sign_out(&mut p, &[PEOPLE[0], PEOPLE[1], PEOPLE[2], PEOPLE[4]]);
    seen(
        p.expect("Witnesses: write down the transcript hash")
            .unwrap(),
    );
    seen(p.expect("transcript hash: ").unwrap());
    seen(p.expect(Eof).unwrap());
    assert!(
        // (Only the words: four digits turn up by chance in the hashes shown.)
        !screen.contains("typed-ahead"),
        "text typed while the tool was busy was shown:\n{screen}"
    );
    // The person is told it was thrown away, once, before the next question.
    assert_eq!(
        screen
            .matches("keys typed while the tool was busy were thrown away unseen")
            .count(),
        1,
        "the discarded typed-ahead input is said, once:\n{screen}"
    );
    // What the person did is on record: the retry, and no passphrase.
    let transcript = std::fs::read_to_string(out.join("transcript.jsonl")).unwrap();
    assert_eq!(
        transcript.matches("\"kind\":\"retry\"").count(),
        1,
        "the one mistyped passphrase is recorded as a retry, and the typed-ahead line \
         answered nothing"
    );
    assert!(!transcript.contains("this is not the passphrase"));
    assert!(!transcript.contains(PASSPHRASE));
    // The facts typed are on record, as typed by a person, and so are the times
    // each person signed in and out.
    assert!(transcript.contains(OS_IMAGE) && transcript.contains("Dana Kowalski"));
    assert_eq!(transcript.matches("\"kind\":\"sign-in\"").count(), 4);
    assert_eq!(transcript.matches("\"kind\":\"sign-out\"").count(), 4);
    assert!(!transcript.contains("\"example\":true"));
    ok(&[
        "verify",
        "--trusted",
        v1.to_str().unwrap(),
        out.join("2.root.json").to_str().unwrap(),
    ]);
    let (accepted, msg) = python_tuf(&[&v1, &out.join("2.root.json")]);
    assert!(accepted, "{msg}");
}

const PEOPLE: [(&str, &str); 5] = [
    ("administrator", "Ada Okafor"),
    ("custodian-1", "Bo Lindqvist"),
    ("custodian-2", "Chen Wei"),
    ("custodian-3", "Émile Durand"),
    ("witness", "Dana Kowalski"),
];

/// At a terminal, a key with no `--token` is bound to a connected token the
/// operator selects (here a SoftHSM token), and PINs are typed at the prompt.
#[test]
fn a_person_selects_the_token_and_types_pins() {
    let d = tempfile::tempdir().unwrap();
    let hsm = SoftHsm::new();
    let pin = "730155";
    hsm.init("vault-a", pin);
    let k = keys();
    let mut key_files = Vec::new();
    for role in ["targets", "snapshot", "timestamp"] {
        let o = run(&["key", "show", "--token", &k.token(role)]);
        let f = d.path().join(format!("{role}.json"));
        std::fs::write(&f, &o.stdout).unwrap();
        key_files.push(format!("{role}=keyfile:{}", f.display()));
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("ceremony-scripts/root-init.toml");
    let out = d.path().join("export");
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("ceremony"));
    cmd.arg("run")
        .arg(&script)
        .arg("--workdir")
        .arg(d.path().join("work"))
        .arg("--out")
        .arg(&out)
        .env("SOFTHSM2_CONF", &hsm.conf)
        .env("CEREMONY_PKCS11_MODULE", SOFTHSM_MODULE);
    for f in &key_files {
        cmd.arg("--key").arg(f);
    }
    // On a machine with no network, as a real ceremony runs: then the only
    // practice mark is the SoftHSM tokens.
    let mut p = spawn(in_netns(&cmd, false));
    sign_in(&mut p, &PEOPLE);
    answer(&mut p, "SHA-256 of the operating system image", OS_IMAGE);
    answer(&mut p, "(typed again by witness)", OS_IMAGE);
    answer(&mut p, "Time source the clock", "GPS receiver, 15:02 UTC");
    // Bag numbers are read aloud, typed by the custodian and again by the
    // witness; the first bag's two typings differ and both are asked again.
    answer(&mut p, "bag root token 1 came in", "TEB-4411");
    answer(&mut p, "(typed again by witness)", "TEB-4417");
    p.expect("the two entries differ").unwrap();
    answer(&mut p, "bag root token 1 came in", "TEB-4411");
    answer(&mut p, "(typed again by witness)", "TEB-4411");
    for (n, bag) in [(2, "TEB-4412"), (3, "TEB-4413")] {
        answer(&mut p, &format!("bag root token {n} came in"), bag);
        answer(&mut p, "(typed again by witness)", bag);
    }
    p.expect("tamper-evident bag was intact").unwrap();
    p.send("yes\r").unwrap();
    p.expect("root-1 (root): token to be selected when it is needed")
        .unwrap();
    // The first PIN is mistyped: the step stops (a PIN is never retried for the
    // operator: each try counts on the token), and the ceremony is resumed.
    p.expect("Which token holds key root-1?").unwrap();
    p.expect("vault-a").unwrap();
    p.send("\r").unwrap();
    p.expect("PIN for").unwrap();
    type_secret(&mut p, "999999");
    p.expect("wrong user PIN").unwrap();
    p.expect(Eof).unwrap();
    let mut resume = std::process::Command::new(assert_cmd::cargo::cargo_bin("ceremony"));
    resume
        .args(["run", "--resume", "--workdir"])
        .arg(d.path().join("work"))
        .env("SOFTHSM2_CONF", &hsm.conf)
        .env("CEREMONY_PKCS11_MODULE", SOFTHSM_MODULE);
    let mut p = spawn(in_netns(&resume, false));
    // Going on after the interruption is a deviation: why, and who approves.
    answer(
        &mut p,
        "Why the ceremony stopped",
        "custodian-1 mistyped the PIN of vault-a",
    );
    answer(&mut p, "Name of who approves going on", "Ada Okafor");
    for n in 1..=3 {
        if n > 1 {
            p.expect(format!("Which token holds key root-{n}?").as_str())
                .unwrap();
            p.expect("vault-a").unwrap();
            p.send("\r").unwrap();
        }
        p.expect("PIN for").unwrap();
        type_secret(&mut p, pin);
        p.expect(format!("root-{n}: ecdsa-p256 key").as_str())
            .unwrap();
    }
    p.expect("READ ALOUD").unwrap();
    p.expect("everyone present agrees").unwrap();
    p.send("yes\r").unwrap();
    for n in 1..=3 {
        p.expect("PIN for").unwrap();
        type_secret(&mut p, pin);
        p.expect(format!("signed root version 1 with root-{n}").as_str())
            .unwrap();
    }
    p.expect("trustworthy: tuf root version 1").unwrap();
    p.expect("new tamper-evident bag").unwrap();
    p.send("yes\r").unwrap();
    for n in 1..=3 {
        let bag = format!("TEB-5{n}{n}{n}");
        answer(&mut p, &format!("sealing root token {n}"), &bag);
        answer(&mut p, "(typed again by witness)", &bag);
    }
    sign_out(&mut p, &PEOPLE);
    p.expect("Witnesses: write down the transcript hash")
        .unwrap();
    p.expect("transcript hash: ").unwrap();
    p.expect(Eof).unwrap();
    let transcript = std::fs::read_to_string(out.join("transcript.jsonl")).unwrap();
    assert_eq!(
        transcript.matches("\"selected\":\"pkcs11:").count(),
        3,
        "selections recorded"
    );
    assert!(!shows_secret(&transcript, pin) && !shows_secret(&transcript, "999999"));
    // Typed by a person: the confirmations say so, and the transcript is practice
    // only for its SoftHSM tokens, not for its answers or a network.
    assert!(transcript.contains("\"answered_by\":\"terminal\""));
    assert!(!transcript.contains("\"answered_by\":\"answers-file\""));
    let o = run(&[
        "transcript",
        "verify",
        out.join("transcript.jsonl").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let why = stdout(&o);
    assert!(why.contains("SoftHSM test tokens"), "{why}");
    assert!(
        !why.contains("answers file")
            && !why.contains("software keys")
            && !why.contains("air-gap check was overridden"),
        "{why}"
    );
    // Each bag number once, as both typed it; the mismatched typing is not kept.
    for bag in [
        "TEB-4411", "TEB-4412", "TEB-4413", "TEB-5111", "TEB-5222", "TEB-5333",
    ] {
        assert_eq!(transcript.matches(bag).count(), 1, "{bag}");
    }
    assert!(!transcript.contains("TEB-4417"));
    // The export's report lists them, who typed them, and the deviation under
    // Exceptions, with its reason and who approved going on.
    let report = std::fs::read_to_string(out.join("transcript.md")).unwrap();
    let facts = &report[report.find("## Facts recorded in the room").unwrap()..];
    for bag in ["TEB-4411", "TEB-5333"] {
        assert!(facts.contains(bag), "{report}");
    }
    assert!(report.contains("typed again, the same, by: `witness`"));
    let exceptions = &report[report.find("## Exceptions").unwrap()..];
    assert!(
        exceptions.contains("deviation: interruption")
            && exceptions.contains("custodian-1 mistyped the PIN of vault-a")
            && exceptions.contains("approved by: Ada Okafor"),
        "{report}"
    );
    assert!(report.contains("Émile Durand"));
    assert!(transcript.contains("\"kind\":\"deviation\""));
    assert!(transcript.contains("custodian-1 mistyped the PIN of vault-a"));
    assert!(transcript.contains("\"kind\":\"interruption\""));
    assert!(
        transcript.contains("wrong user PIN"),
        "the wrong PIN is on record"
    );
    let (accepted, msg) = python_tuf(&[&out.join("1.root.json")]);
    assert!(accepted, "{msg}");
}

/// The responder's revocation at a terminal, as people type: the confirmations
/// take a word, the passphrases are typed at hidden prompts, and what a custodian
/// types ahead while a signature is made is never shown and answers nothing.
#[test]
fn a_responder_revokes_the_tagging_key_at_the_terminal_typing_ahead() {
    let d = tempfile::tempdir().unwrap();
    let current = d.path().join("current");
    std::fs::create_dir(&current).unwrap();
    let v1 = current.join("1.root.json");
    create_root(&v1, &["root-a", "root-b"], 2, &next_year());
    sign(&v1, "root-a", None);
    sign(&v1, "root-b", None);
    let old: serde_json::Value = serde_json::from_slice(&std::fs::read(&v1).unwrap()).unwrap();
    let leaked = old["signed"]["roles"]["targets"]["keyids"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let k = keys();
    let replacement = d.path().join("targets-new.json");
    let o = run(&["key", "show", "--token", &k.token("root-p1")]);
    std::fs::write(&replacement, &o.stdout).unwrap();
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("ceremony-scripts/revoke-tagging-key.toml");
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
        .arg("--revoke")
        .arg(&leaked)
        .arg("--key")
        .arg(format!("targets-new=keyfile:{}", replacement.display()))
        .arg("--token")
        .arg(format!("root-1={}", k.token("root-a")))
        .arg("--token")
        .arg(format!("root-2={}", k.token("root-b")));
    let mut p = spawn(in_netns(&cmd, false));
    let people = [("responder", "Rui Costa"), PEOPLE[1], PEOPLE[2], PEOPLE[4]];
    sign_in(&mut p, &people);
    answer(&mut p, "SHA-256 of the operating system image", OS_IMAGE);
    let mut screen = String::new();
    grab(&mut screen, p.expect("compromised key ID").unwrap());
    grab(&mut screen, p.expect("(type yes or no)").unwrap());
    // The key to be removed is on the screen before the room confirms it.
    assert!(
        screen.contains(&leaked) || screen.contains(&ceremony::tuf::verify::fingerprint(&leaked)),
        "the compromised key is not shown before its confirmation:\n{screen}"
    );
    p.send("yes\r").unwrap();
    grab(&mut screen, p.expect("READ ALOUD").unwrap());
    grab(&mut screen, p.expect("everyone present agrees").unwrap());
    p.send("yes\r").unwrap();
    const TYPED_AHEAD: &str = "typed-ahead custodian 2 yes";
    for (n, custodian) in [(1, "root-1"), (2, "root-2")] {
        grab(
            &mut screen,
            p.expect(format!("sign with key {custodian}").as_str())
                .unwrap(),
        );
        grab(&mut screen, p.expect("Passphrase for").unwrap());
        type_secret(&mut p, PASSPHRASE);
        if n == 1 {
            // The next custodian starts typing while the first signature is made.
            grab(&mut screen, p.expect("[hidden]").unwrap());
            p.send(TYPED_AHEAD).unwrap();
        }
        grab(
            &mut screen,
            p.expect(format!("signed root version 2 with {custodian}").as_str())
                .unwrap(),
        );
    }
    grab(
        &mut screen,
        p.expect("trustworthy: tuf root version 2").unwrap(),
    );
    sign_out(&mut p, &people);
    grab(&mut screen, p.expect("transcript hash: ").unwrap());
    grab(&mut screen, p.expect(Eof).unwrap());
    assert!(
        !screen.contains("typed-ahead"),
        "text typed ahead was shown:\n{screen}"
    );
    assert_eq!(
        screen
            .matches("keys typed while the tool was busy were thrown away unseen")
            .count(),
        1,
        "{screen}"
    );
    // The key being removed was on the screen, in full or as its fingerprint.
    assert!(
        screen.contains(&leaked) || screen.contains(&ceremony::tuf::verify::fingerprint(&leaked)),
        "{screen}"
    );
    let new: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("2.root.json")).unwrap()).unwrap();
    let targets = new["signed"]["roles"]["targets"]["keyids"].to_string();
    assert!(!targets.contains(&leaked), "{targets}");
    let transcript = std::fs::read_to_string(out.join("transcript.jsonl")).unwrap();
    assert!(!transcript.contains(PASSPHRASE) && !transcript.contains("typed-ahead"));
    let (accepted, msg) = python_tuf(&[&v1, &out.join("2.root.json")]);
    assert!(accepted, "{msg}");
}

/// Keep what the screen showed before a match.
fn grab(screen: &mut String, m: expectrl::Captures) {
    screen.push_str(&String::from_utf8_lossy(m.before()));
}

/// What `qr show` printed, as the codes a camera sees: each block of half-block
/// lines (a glyph lights its half of the cell, a blank stays dark) drawn light on
/// dark, 4 pixels a module, and read by zbarimg (the reference decoder).
fn codes_on_screen(screen: &str, dir: &Path) -> Vec<String> {
    let mut texts = Vec::new();
    let mut block: Vec<&str> = Vec::new();
    for line in screen.lines() {
        let line = line.trim_end_matches('\r');
        if line.chars().any(|c| matches!(c, '█' | '▀' | '▄')) {
            block.push(line);
            continue;
        }
        if block.is_empty() {
            continue;
        }
        let width = block.iter().map(|l| l.chars().count()).max().unwrap();
        let scale = 4u32;
        let mut img = image::GrayImage::from_pixel(
            (width as u32 + 8) * scale,
            (block.len() as u32 * 2 + 8) * scale,
            image::Luma([0u8]),
        );
        for (y, l) in block.iter().enumerate() {
            for (x, c) in l.chars().enumerate() {
                let (top, bottom) = match c {
                    '█' => (true, true),
                    '▀' => (true, false),
                    '▄' => (false, true),
                    _ => (false, false),
                };
                for (half, lit) in [(0, top), (1, bottom)] {
                    if !lit {
                        continue;
                    }
                    for dy in 0..scale {
                        for dx in 0..scale {
                            img.put_pixel(
                                (x as u32 + 4) * scale + dx,
                                ((y * 2 + half) as u32 + 4) * scale + dy,
                                image::Luma([255u8]),
                            );
                        }
                    }
                }
            }
        }
        let path = dir.join(format!("screen-{}.png", texts.len()));
        img.save(&path).unwrap();
        let o = std::process::Command::new("zbarimg")
            .args(["-q", "--raw", "-Sbinary"])
            .arg(&path)
            .output()
            .expect("zbarimg runs (zbar-tools; scripts/test-all installs it)");
        let read = String::from_utf8_lossy(&o.stdout).trim().to_owned();
        assert!(
            !read.is_empty(),
            "zbarimg cannot read the code on screen:\n{}",
            block.join("\n")
        );
        texts.push(read);
        block.clear();
    }
    texts
}

/// `qr show` in the terminals people have: at 80 by 24 the hash code fits and is
/// read from the screen, a frame cannot fit and the size it needs is said; at 200
/// by 60 the frames are cut to fit and every one read from the screen rebuilds the
/// bundle.
#[test]
fn qr_show_fits_the_terminal_and_its_codes_are_read_from_the_screen() {
    let d = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("ceremony");
    let rehearsal = rehearsal(d.path());
    let export = rehearsal.join("root-init");
    let show = |cols: u16, rows: u16, extra: &[&str]| -> String {
        // The window's size is set before the program starts (it reads it once).
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c")
            .arg(format!("stty cols {cols} rows {rows}; exec \"$0\" \"$@\""))
            .arg(&bin)
            .args(["qr", "show", "--all"])
            .args(extra)
            .arg(&export);
        let mut p = Session::spawn(cmd).unwrap();
        p.set_expect_timeout(Some(Duration::from_secs(60)));
        let m = p.expect(Eof).unwrap();
        let mut seen = m.before().to_vec();
        seen.extend_from_slice(m.get(0).unwrap_or_default());
        String::from_utf8_lossy(&seen).into_owned()
    };
    // 80 by 24: the hash codes; and a frame's need, said.
    let screen = show(80, 24, &["--hash-only"]);
    let texts = codes_on_screen(&screen, d.path());
    assert_eq!(texts.len(), 2, "screen:\n{screen}");
    assert!(texts[0].starts_with("ceremony-hash:bundle:"), "{texts:?}");
    for line in screen.lines() {
        assert!(line.trim_end_matches('\r').chars().count() <= 80, "{line}");
    }
    let screen = show(80, 24, &[]);
    assert!(
        screen.contains("this terminal is 80 columns by 24 rows")
            && screen.contains("needs at least"),
        "{screen}"
    );
    // 200 by 60: frames of 768 bytes (133 by 68) are cut to fit, and the screen's
    // codes rebuild the bundle.
    let screen = show(200, 60, &["--chunk", "768"]);
    assert!(screen.contains("fit this terminal"), "{screen}");
    let texts = codes_on_screen(&screen, d.path());
    let frames: Vec<&String> = texts
        .iter()
        .filter(|t| t.starts_with("ceremony-frame:"))
        .collect();
    assert!(frames.len() > 10, "{}", frames.len());
    let scanned = d.path().join("scanned.txt");
    std::fs::write(
        &scanned,
        frames.iter().map(|t| format!("{t}\n")).collect::<String>(),
    )
    .unwrap();
    let received = d.path().join("received");
    let o = std::process::Command::new(&bin)
        .args(["qr", "decode", "--texts"])
        .arg(&scanned)
        .arg("--out")
        .arg(&received)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read(received.join("1.root.json")).unwrap(),
        std::fs::read(export.join("1.root.json")).unwrap()
    );
}

/// The animated, fountain-coded stream (`qr show --animate`): with a third of its
/// codes dropped at random, what the screen showed still rebuilds the bundle; a
/// stream of another bundle is refused by its hash.
#[test]
fn a_fountain_coded_stream_survives_a_third_of_its_codes_lost() {
    let d = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("ceremony");
    let rehearsal = rehearsal(d.path());
    let stream = |bundle: &str, parts: usize| -> Vec<String> {
        let o = std::process::Command::new(&bin)
            .args([
                "qr",
                "show",
                "--animate",
                "--interval-ms",
                "50",
                "--chunk",
                "768",
            ])
            .args(["--parts", &parts.to_string()])
            .arg(rehearsal.join(bundle))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let screen = String::from_utf8_lossy(&o.stdout).into_owned();
        let dir = d.path().join(format!("screens-{bundle}"));
        std::fs::create_dir_all(&dir).unwrap();
        codes_on_screen(&screen, &dir)
    };
    // 19 fragments of 768 bytes, shown as 75 codes.
    let a = stream("root-init", 75);
    assert_eq!(a.len(), 75);
    assert!(
        a.iter().all(|t| t.starts_with("ur:ceremony-bundle/")),
        "{a:?}"
    );
    // A third lost, at random (seeded), the rest in another order.
    let mut kept: Vec<(u64, &String)> = a
        .iter()
        .enumerate()
        .map(|(i, t)| ((i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 7, t))
        .collect();
    kept.sort();
    kept.truncate(50);
    let texts: String = kept.iter().map(|(_, t)| format!("{t}\n")).collect();
    let file = d.path().join("caught.txt");
    std::fs::write(&file, &texts).unwrap();
    let manifest = std::fs::read(rehearsal.join("root-init/manifest.json")).unwrap();
    use sha2::Digest;
    let hash = hex::encode(sha2::Sha256::digest(&manifest));
    let received = d.path().join("received");
    let o = std::process::Command::new(&bin)
        .args(["qr", "decode", "--expect-bundle", &hash, "--texts"])
        .arg(&file)
        .arg("--out")
        .arg(&received)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read(received.join("1.root.json")).unwrap(),
        std::fs::read(rehearsal.join("root-init/1.root.json")).unwrap()
    );
    // Too few codes: how far it got, and the next step.
    let few = d.path().join("few.txt");
    std::fs::write(&few, a[..5].join("\n")).unwrap();
    let o = std::process::Command::new(&bin)
        .args(["qr", "decode", "--texts"])
        .arg(&few)
        .arg("--out")
        .arg(d.path().join("never-written"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("not enough yet") && err.contains("let the camera read more"),
        "{err}"
    );
    // Another bundle's stream, expecting this one: refused by its hash.
    let b = stream("root-rotate", 45);
    let other = d.path().join("other.txt");
    std::fs::write(&other, b.join("\n")).unwrap();
    let o = std::process::Command::new(&bin)
        .args(["qr", "decode", "--expect-bundle", &hash, "--texts"])
        .arg(&other)
        .arg("--out")
        .arg(d.path().join("never-written"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the codes carry another bundle than the expected"),
        "{err}"
    );
    assert!(!d.path().join("never-written").exists());
}

/// A lead site's script for [`a_keyholder_countersigns_alone_at_the_terminal`]:
/// a refresh-expiry signing event where only root-1's keyholder is present.
const LEAD: &str = r#"
format = "ceremony-script/1"
name = "refresh-expiry-lead"
kind = "refresh-expiry"
summary = "Lead site: new expiry, signed by the keyholder here"

[parameters]
flavour = "tuf"
repository = "example.com/far-apart"
expires_days = 200
signing_event = true

[[participants]]
id = "administrator"
role = "administrator"

[[participants]]
id = "keyholder-1"
role = "operator"

[keys.root-1]
role = "root"
custodian = "keyholder-1"

[[steps]]
id = "build"
action = "build-root"
actor = "administrator"

[[steps]]
id = "sign-root-1"
action = "sign"
actor = "keyholder-1"
key = "root-1"

[[steps]]
id = "verify"
action = "verify"
actor = "administrator"

[[steps]]
id = "export"
action = "export"
actor = "administrator"
"#;

/// The keyholder of root-2 countersigns the lead's partial export on their own,
/// offline, at a terminal: names, the bag numbers typed and typed again by the
/// witness, the changes read aloud against the root they trust, the passphrase.
#[test]
fn a_keyholder_countersigns_alone_at_the_terminal() {
    let d = tempfile::tempdir().unwrap();
    let v1 = d.path().join("1.root.json");
    create_root(&v1, &["root-a", "root-b"], 2, &next_year());
    sign(&v1, "root-a", None);
    sign(&v1, "root-b", None);
    let k = keys();
    let lead_script = d.path().join("lead.toml");
    std::fs::write(&lead_script, LEAD).unwrap();
    let answers = d.path().join("answers.toml");
    std::fs::write(
        &answers,
        format!(
            "[confirm]\ndefault = true\n[secrets]\n{:?} = {PASSPHRASE:?}\n",
            k.token("root-a")
        ),
    )
    .unwrap();
    let lead = d.path().join("lead-export");
    ok(&[
        "run",
        lead_script.to_str().unwrap(),
        "--workdir",
        d.path().join("lead-work").to_str().unwrap(),
        "--out",
        lead.to_str().unwrap(),
        "--allow-network",
        "--answers",
        answers.to_str().unwrap(),
        "--current",
        v1.to_str().unwrap(),
        "--trusted",
        v1.to_str().unwrap(),
        "--token",
        &format!("root-1={}", k.token("root-a")),
    ]);
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("ceremony-scripts/root-countersign.toml");
    let out = d.path().join("export");
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("ceremony"));
    cmd.arg("run")
        .arg(&script)
        .arg("--workdir")
        .arg(d.path().join("work"))
        .arg("--out")
        .arg(&out)
        .arg("--previous")
        .arg(&lead)
        .arg("--trusted")
        .arg(&v1)
        .arg("--token")
        .arg(format!("keyholder={}", k.token("root-b")));
    let mut p = spawn(in_netns(&cmd, false));
    p.expect("air-gapped: no network interface but lo").unwrap();
    sign_in(
        &mut p,
        &[
            ("administrator", "Ada Okafor"),
            ("keyholder", "Bo Lindqvist"),
            ("witness", "Dana Kowalski"),
        ],
    );
    answer(
        &mut p,
        "Number on the tamper-evident bag the token came in",
        "TEB-310042",
    );
    answer(&mut p, "(typed again by witness)", "TEB-310042");
    p.expect("site 1: transcript verified").unwrap();
    p.expect("as site 2 of its signing event").unwrap();
    p.expect("READ ALOUD").unwrap();
    p.expect("changes from version 1:").unwrap();
    p.expect("everyone present agrees").unwrap();
    p.send("yes\r").unwrap();
    p.expect("Passphrase for").unwrap();
    type_secret(&mut p, PASSPHRASE);
    p.expect("signed root version 2 with keyholder").unwrap();
    p.expect("both thresholds are met").unwrap();
    answer(&mut p, "Number on the new tamper-evident bag", "TEB-410042");
    answer(&mut p, "(typed again by witness)", "TEB-410042");
    for id in ["administrator", "keyholder", "witness"] {
        answer(
            &mut p,
            &format!("({id}) signs out and leaves the room"),
            "yes",
        );
    }
    p.expect("transcript hash: ").unwrap();
    p.expect(Eof).unwrap();
    let transcript = std::fs::read_to_string(out.join("transcript.jsonl")).unwrap();
    assert!(transcript.contains("TEB-310042") && transcript.contains("Bo Lindqvist"));
    assert!(!transcript.contains(PASSPHRASE));
    let (accepted, msg) = python_tuf(&[&v1, &out.join("2.root.json")]);
    assert!(accepted, "{msg}");
    let verified = ok(&[
        "transcript",
        "verify",
        out.to_str().unwrap(),
        "--accept-practice",
    ]);
    assert!(verified.contains("2 site(s); complete"), "{verified}");
}
