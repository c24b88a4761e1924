//! Shared test helpers: the binary, the Python judge, software-key fixtures.
#![allow(dead_code)]

use assert_cmd::Command;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

pub const PASSPHRASE: &str = "rehearsal passphrase 7f3a-never-in-argv";

/// The `ceremony` binary.
pub fn ceremony() -> Command {
    Command::cargo_bin("ceremony").expect("binary builds")
}

/// Run `ceremony` with args; returns the output (never panics on failure).
pub fn run(args: &[&str]) -> Output {
    ceremony().args(args).output().expect("runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Assert success and return stdout.
#[track_caller]
pub fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(
        o.status.success(),
        "ceremony {args:?} failed ({:?}):\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// Assert exit code 1 (refused) and return stderr.
#[track_caller]
pub fn refused(args: &[&str]) -> String {
    let o = run(args);
    assert_eq!(
        o.status.code(),
        Some(1),
        "ceremony {args:?} should be refused:\nstdout:\n{}\nstderr:\n{}",
        stdout(&o),
        stderr(&o)
    );
    stderr(&o)
}

/// The Python interpreter with python-tuf installed (set up by scripts/test-all).
pub fn python() -> PathBuf {
    let candidate = std::env::var_os("CEREMONY_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
    let ok = std::process::Command::new(&candidate)
        .args(["-c", "import tuf, securesystemslib"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "python-tuf is not available at {}: run scripts/test-all, which installs it",
        candidate.display()
    );
    candidate
}

pub fn interop_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(name)
}

/// Does python-tuf accept this chain of roots? Returns (accepted, its message).
pub fn python_tuf(paths: &[&Path]) -> (bool, String) {
    let out = std::process::Command::new(python())
        .arg(interop_script("tuf_verify.py"))
        .args(paths)
        .output()
        .expect("python runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// A directory of software keys made once per test binary (scrypt makes each key
/// take about a second): root-a..root-d (ed25519), root-p1, root-p2 (P-256),
/// targets, snapshot, timestamp (P-256). All share [`PASSPHRASE`].
pub struct Keys {
    pub dir: PathBuf,
    pub passphrase_file: PathBuf,
}

impl Keys {
    pub fn token(&self, name: &str) -> String {
        format!("soft:{}", self.dir.join(format!("{name}.age")).display())
    }

    pub fn pass(&self) -> &str {
        self.passphrase_file.to_str().unwrap()
    }
}

pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("ceremony-test-keys")
            .tempdir()
            .unwrap()
            .keep();
        let passphrase_file = dir.join("passphrase");
        std::fs::write(&passphrase_file, format!("{PASSPHRASE}\n")).unwrap();
        let keys = Keys {
            dir,
            passphrase_file,
        };
        let specs = [
            ("root-a", "ed25519"),
            ("root-b", "ed25519"),
            ("root-c", "ed25519"),
            ("root-d", "ed25519"),
            ("root-p1", "ecdsa-p256"),
            ("root-p2", "ecdsa-p256"),
            ("targets", "ecdsa-p256"),
            ("snapshot", "ecdsa-p256"),
            ("timestamp", "ecdsa-p256"),
        ];
        std::thread::scope(|s| {
            for (name, alg) in specs {
                let keys = &keys;
                s.spawn(move || {
                    ok(&[
                        "key",
                        "generate",
                        "--token",
                        &keys.token(name),
                        "--algorithm",
                        alg,
                        "--passphrase-file",
                        keys.pass(),
                    ]);
                });
            }
        });
        keys
    })
}

/// Create an unsigned TUF root with the given root keys (by fixture name) and
/// root threshold, and the fixture's online keys.
pub fn create_root(out: &Path, root_keys: &[&str], threshold: u64, expires: &str) {
    let k = keys();
    let mut args: Vec<String> = vec![
        "root".into(),
        "create".into(),
        "--out".into(),
        out.display().to_string(),
        "--expires".into(),
        expires.into(),
        "--threshold".into(),
        format!("root={threshold}"),
        "--passphrase-file".into(),
        k.pass().into(),
    ];
    for r in root_keys {
        args.push("--key".into());
        args.push(format!("root={}", k.token(r)));
    }
    for r in ["targets", "snapshot", "timestamp"] {
        args.push("--key".into());
        args.push(format!("{r}={}", k.token(r)));
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&refs);
}

pub fn sign(file: &Path, key: &str, previous: Option<&Path>) -> String {
    let k = keys();
    let token = k.token(key);
    let mut args = vec![
        "root",
        "sign",
        file.to_str().unwrap(),
        "--token",
        &token,
        "--passphrase-file",
        k.pass(),
    ];
    if let Some(p) = previous {
        args.push("--previous");
        args.push(p.to_str().unwrap());
    }
    ok(&args)
}

/// A date a year from now, as YYYY-MM-DD.
pub fn next_year() -> String {
    (chrono::Utc::now() + chrono::Duration::days(365))
        .format("%Y-%m-%d")
        .to_string()
}

/// A ceremony's world: a directory for software tokens, their passphrases in an
/// answers file, online keys' key files, and runs.
pub struct Room {
    pub dir: tempfile::TempDir,
    pub secrets: Vec<(String, String)>,
}

impl Room {
    pub fn new() -> Room {
        Room {
            dir: tempfile::tempdir().unwrap(),
            secrets: Vec::new(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A software token reference in this room, with a passphrase in the answers.
    pub fn token(&mut self, name: &str) -> String {
        let t = format!("soft:{}", self.path(&format!("{name}.age")).display());
        if !self.secrets.iter().any(|(k, _)| k == &t) {
            self.secrets.push((
                t.clone(),
                format!("pass-{name}-{}", self.secrets.len() * 7919 + 104729),
            ));
        }
        t
    }

    pub fn answers(&self, name: &str, extra: &str) -> PathBuf {
        let mut text = format!("[confirm]\ndefault = true\n{extra}\n[secrets]\n");
        for (k, v) in &self.secrets {
            text.push_str(&format!("{k:?} = {v:?}\n"));
        }
        let path = self.path(name);
        fs::write(&path, text).unwrap();
        path
    }

    /// A key file (TUF or Notary key object) for an online key of the test fixture.
    pub fn keyfile(&self, fixture_key: &str, flavour: &str) -> PathBuf {
        let path = self.path(&format!("{fixture_key}-{flavour}.json"));
        if !path.exists() {
            let o = run(&[
                "key",
                "show",
                "--token",
                &keys().token(fixture_key),
                "--flavour",
                flavour,
            ]);
            assert!(o.status.success(), "{}", stderr(&o));
            fs::write(&path, &o.stdout).unwrap();
        }
        path
    }
}

pub const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// The security officer PIN of every disposable test token.
pub const SO_PIN: &str = "so-pin-fixture-0000";

/// Fail, with the set-up it needs, where SoftHSM2 is not installed.
pub fn require_softhsm() {
    let util = std::process::Command::new("softhsm2-util")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        util && Path::new(SOFTHSM_MODULE).is_file(),
        "SoftHSM2 (softhsm2-util and {SOFTHSM_MODULE}) is not installed: run scripts/test-all, \
         the project's test command, which installs it"
    );
}

/// Write a SoftHSM2 configuration at `conf` keeping its tokens in `tokendir`
/// (created if need be).
pub fn write_softhsm_conf(conf: &Path, tokendir: &Path) {
    fs::create_dir_all(tokendir).unwrap();
    fs::write(
        conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokendir.display()
        ),
    )
    .unwrap();
}

/// A private SoftHSM2 configuration with its own token directory: the one set-up
/// of real PKCS#11 tokens every test binary shares.
pub struct SoftHsm {
    pub conf: PathBuf,
    pub tokendir: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl SoftHsm {
    /// In a temporary directory of its own, removed with it.
    pub fn new() -> SoftHsm {
        let dir = tempfile::tempdir().unwrap();
        let mut hsm = SoftHsm::in_dir(dir.path());
        hsm._dir = Some(dir);
        hsm
    }

    /// In `dir` (`softhsm2.conf`, `softhsm-tokens/`), kept with it.
    pub fn in_dir(dir: &Path) -> SoftHsm {
        require_softhsm();
        let conf = dir.join("softhsm2.conf");
        let tokendir = dir.join("softhsm-tokens");
        write_softhsm_conf(&conf, &tokendir);
        SoftHsm {
            conf,
            tokendir,
            _dir: None,
        }
    }

    /// A fresh token (SoftHSM's tool takes the test PINs as arguments; these are
    /// fixtures for disposable test tokens, not how `ceremony` takes PINs).
    pub fn init(&self, label: &str, pin: &str) {
        init_softhsm_token(&self.conf, label, pin);
    }

    /// Remove the token labelled `label` (a token replaced, or taken away).
    pub fn delete(&self, label: &str) {
        let o = std::process::Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &self.conf)
            .args(["--delete-token", "--token", label])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    /// The `ceremony` binary, talking to this SoftHSM only.
    pub fn ceremony(&self) -> Command {
        let mut c = ceremony();
        c.env("SOFTHSM2_CONF", &self.conf)
            .env("CEREMONY_PKCS11_MODULE", SOFTHSM_MODULE);
        c
    }

    /// `ceremony run ARGS` against this SoftHSM.
    pub fn run(&self, args: &[String]) -> Output {
        self.ceremony().arg("run").args(args).output().unwrap()
    }
}

/// A fresh SoftHSM2 token under the configuration `conf` (SoftHSM's tool takes
/// the test PINs as arguments: fixtures for disposable test tokens, not how
/// `ceremony` takes PINs).
pub fn init_softhsm_token(conf: &Path, label: &str, pin: &str) {
    let o = std::process::Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", conf)
        .args([
            "--init-token",
            "--free",
            "--label",
            label,
            "--so-pin",
            SO_PIN,
            "--pin",
            pin,
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Whether `secret` shows in `text` as itself: not as a chance run inside a longer
/// hex, base64 or decimal string (a 6-digit PIN turns up in a page of hashes by
/// chance about once in a few hundred runs).
#[allow(dead_code)]
pub fn shows_secret(text: &str, secret: &str) -> bool {
    let part_of_token = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=');
    text.match_indices(secret).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + secret.len()..].chars().next();
        !before.is_some_and(part_of_token) && !after.is_some_and(part_of_token)
    })
}

/// Copy a directory tree (regular files and directories).
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// `cmd` run in a network namespace of its own, with a sysfs of that namespace
/// mounted for it (the air-gap check reads both): with `networked` false, a
/// machine with no network at all (only `lo`); with it true, a machine with an
/// interface up and a default route. Needs root, util-linux `unshare` and
/// iproute2 `ip` (scripts/test-all installs them; CI runs as root).
pub fn in_netns(cmd: &std::process::Command, networked: bool) -> std::process::Command {
    let mut setup = String::from("set -e; mount -t sysfs sysfs /sys; ");
    if networked {
        setup.push_str(
            "ip link add wan0 type veth peer name wan1; ip link set wan1 up; \
             ip link set wan0 up; ip addr add 10.77.0.2/24 dev wan0; \
             ip route add default via 10.77.0.1; ",
        );
    }
    setup.push_str("exec \"$0\" \"$@\"");
    let mut wrapped = std::process::Command::new("unshare");
    wrapped
        .args(["--net", "--mount", "--propagation", "private", "sh", "-c"])
        .arg(setup)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    wrapped
}

/// A rehearsal's exports (`root-init` and `root-rotate`) made under `dir`: real
/// bundles to carry as QR codes. Returns the rehearsal's directory.
pub fn rehearsal(dir: &Path) -> PathBuf {
    let out = dir.join("rehearsal");
    let o = std::process::Command::new(assert_cmd::cargo::cargo_bin("ceremony"))
        .args(["rehearse", "--yes", "--out"])
        .arg(&out)
        .output()
        .expect("runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}
