//! The PKCS#11 backend against real SoftHSM2 tokens.
//!
//! Every test makes its own SoftHSM2 configuration and token directory in a
//! temporary directory. SoftHSM reads `SOFTHSM2_CONF` from the process
//! environment and a PKCS#11 module is initialised once per process, so tests
//! run the `ceremony` binary as a subprocess with that variable set for it, and
//! tests that must drive the library in-process re-run this test binary as a
//! child process (see [`in_child`]). Tests therefore run in parallel safely.
//!
//! PINs only ever travel in files (`--pin-file`), never in argv, and every test
//! checks that no PIN appears in anything the program printed.

mod common;

use assert_cmd::Command;
use common::{SO_PIN, SOFTHSM_MODULE as MODULE, SoftHsm};
use std::path::{Path, PathBuf};
use std::process::Output;

const PASSPHRASE: &str = "soft passphrase 9d41-never-in-argv";

/// Flags SoftHSM keeps in its token file (`CK_TOKEN_INFO.flags`).
const CKF_USER_PIN_FINAL_TRY: u64 = 0x0002_0000;
const CKF_USER_PIN_LOCKED: u64 = 0x0004_0000;

/// A private SoftHSM2 installation (the shared set-up) and its PIN files.
struct Hsm {
    dir: tempfile::TempDir,
    hsm: SoftHsm,
}

impl Hsm {
    fn new() -> Hsm {
        let dir = tempfile::tempdir().expect("tempdir");
        let hsm = SoftHsm::in_dir(dir.path());
        Hsm { dir, hsm }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn path_str(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    /// Initialise a token labelled `label` with user PIN `pin`; returns the
    /// path of a file holding the PIN.
    fn init_token(&self, label: &str, pin: &str) -> String {
        self.hsm.init(label, pin);
        let file = self.path(&format!("{label}.pin"));
        std::fs::write(&file, format!("{pin}\n")).expect("pin file");
        file.display().to_string()
    }

    /// The `ceremony` binary, talking to this SoftHSM only.
    fn ceremony(&self) -> Command {
        let mut c = self.hsm.ceremony();
        c.current_dir(self.dir.path());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.ceremony().args(args).output().expect("runs")
    }

    /// Run and require exit code `code`; returns stdout + stderr, checked for PINs.
    #[track_caller]
    fn expect(&self, code: i32, args: &[&str], secrets: &[&str]) -> String {
        let o = self.run(args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(
            o.status.code(),
            Some(code),
            "ceremony {args:?}: expected exit {code}, output:\n{text}"
        );
        assert_no_secret(&text, secrets);
        text
    }

    /// The directory SoftHSM keeps the token labelled `label` in.
    fn token_dir(&self, label: &str) -> PathBuf {
        for entry in std::fs::read_dir(&self.hsm.tokendir).expect("token dir") {
            let dir = entry.expect("entry").path();
            let object = std::fs::read(dir.join("token.object")).unwrap_or_default();
            let mut padded = label.as_bytes().to_vec();
            padded.resize(32, b' ');
            if object.windows(32).any(|w| w == padded.as_slice()) {
                return dir;
            }
        }
        panic!("no SoftHSM token directory for {label}");
    }

    /// Set user-PIN flags in a token's file. SoftHSM2 never sets FINAL_TRY or
    /// LOCKED by itself (it only ever reports COUNT_LOW, however many wrong PINs
    /// are entered), but it reports whatever flags its token file holds, which is
    /// how these states are reproduced here.
    fn set_token_flags(&self, label: &str, flags: u64) {
        let path = self.token_dir(label).join("token.object");
        let mut bytes = std::fs::read(&path).expect("token.object");
        // Each attribute: type (u64 BE), kind (u64 BE), value. The token flags are
        // CKA_OS_TOKENFLAGS = 0x8000534b, stored as an unsigned long (kind 2).
        let tag: Vec<u8> = [0x8000_534b_u64.to_be_bytes(), 2u64.to_be_bytes()].concat();
        let at = bytes
            .windows(tag.len())
            .position(|w| w == tag.as_slice())
            .expect("token flags attribute in SoftHSM's token file")
            + tag.len();
        let old = u64::from_be_bytes(bytes[at..at + 8].try_into().unwrap());
        bytes[at..at + 8].copy_from_slice(&(old | flags).to_be_bytes());
        std::fs::write(&path, bytes).expect("write token.object");
    }
}

#[track_caller]
fn assert_no_secret(text: &str, secrets: &[&str]) {
    for s in secrets.iter().chain([&SO_PIN, &PASSPHRASE]) {
        assert!(
            !text.contains(s),
            "a secret appeared in the output:\n{text}"
        );
    }
}

fn line_with<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line {prefix:?} in:\n{text}"))
        .trim()
}

/// Run the python-tuf verifier on `path` when the project has it: the script
/// must exist and an interpreter (CEREMONY_PYTHON, else .venv/bin/python) must
/// accept the root. Without the script there is nothing to run.
fn python_tuf_accepts(path: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("tests/interop/tuf_verify.py");
    if !script.exists() {
        return;
    }
    let python = std::env::var_os("CEREMONY_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv/bin/python"));
    let out = std::process::Command::new(&python)
        .arg(&script)
        .arg(path)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): run scripts/test-all, which installs python-tuf",
                python.display()
            )
        });
    assert!(
        out.status.success(),
        "python-tuf rejects {}:\n{}{}",
        path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Run `test` (this test's own name) again in a child process with
/// `SOFTHSM2_CONF` set for it; in the child, `body` runs. Lets a test drive the
/// library in-process with its own SoftHSM configuration.
fn in_child(test: &str, hsm: &Hsm, vars: &[(&str, &str)], body: impl FnOnce()) {
    if std::env::var_os("CEREMONY_PKCS11_CHILD").is_some() {
        body();
        return;
    }
    let mut cmd = std::process::Command::new(std::env::current_exe().expect("test binary"));
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("CEREMONY_PKCS11_CHILD", "1")
        .env("SOFTHSM2_CONF", &hsm.hsm.conf);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("child test runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("1 passed"),
        "child test failed:\n{text}"
    );
}

fn is_child() -> bool {
    std::env::var_os("CEREMONY_PKCS11_CHILD").is_some()
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set for the child"))
}

/// Generate a key on a token through the CLI; returns the printed evidence.
fn generate(hsm: &Hsm, uri: &str, algorithm: &str, pin_file: &str, pins: &[&str]) -> String {
    hsm.expect(
        0,
        &[
            "key",
            "generate",
            "--token",
            uri,
            "--algorithm",
            algorithm,
            "--pin-file",
            pin_file,
        ],
        pins,
    )
}

fn soft_key(hsm: &Hsm, name: &str) -> String {
    let pass = hsm.path("passphrase");
    if !pass.exists() {
        std::fs::write(&pass, format!("{PASSPHRASE}\n")).expect("passphrase file");
    }
    let reference = format!("soft:{}", hsm.path_str(name));
    hsm.expect(
        0,
        &[
            "key",
            "generate",
            "--token",
            &reference,
            "--algorithm",
            "ed25519",
            "--passphrase-file",
            &pass.display().to_string(),
        ],
        &[],
    );
    reference
}

#[test]
fn two_tokens_and_a_software_key_make_a_2_of_3_root_that_verifies() {
    let hsm = Hsm::new();
    let (pin_a, pin_b) = ("pin-a-31337-secret", "pin-b-80085-secret");
    let pins = [pin_a, pin_b];
    let file_a = hsm.init_token("root-a", pin_a);
    let file_b = hsm.init_token("root-b", pin_b);
    let key_a = "pkcs11:token=root-a;object=root-1";
    let key_b = "pkcs11:token=root-b;object=root-2;id=%02";

    let ev_a = generate(&hsm, key_a, "ed25519", &file_a, &pins);
    let ev_b = generate(&hsm, key_b, "ecdsa-p256", &file_b, &pins);
    for ev in [&ev_a, &ev_b] {
        assert_eq!(line_with(ev, "generated on the token (CKA_LOCAL):"), "yes");
        assert_eq!(
            line_with(ev, "always sensitive (CKA_ALWAYS_SENSITIVE):"),
            "yes"
        );
        assert_eq!(
            line_with(ev, "never extractable (CKA_NEVER_EXTRACTABLE):"),
            "yes"
        );
        assert_eq!(line_with(ev, "sensitive:"), "yes, extractable: NO");
        assert_eq!(
            line_with(ev, "self-test: signed on the token, verified in software:"),
            "yes"
        );
        assert!(
            line_with(ev, "token:").contains("model \"SoftHSM v2\""),
            "{ev}"
        );
    }
    assert!(ev_a.contains("generated ed25519 key"), "{ev_a}");
    assert!(ev_b.contains("generated ecdsa-p256 key"), "{ev_b}");
    assert!(
        line_with(&ev_b, "key:").ends_with(";object=root-2;id=%02"),
        "{ev_b}"
    );

    // The public keys are listed, and shown, without any PIN.
    let listing = hsm.expect(0, &["tokens"], &pins);
    let id_a = line_with(&ev_a, "key ID (TUF):");
    let id_b = line_with(&ev_b, "key ID (TUF):");
    assert!(
        listing.contains(id_a) && listing.contains(id_b),
        "{listing}"
    );
    assert!(listing.contains("token \"root-a\""), "{listing}");
    let shown = hsm.expect(0, &["key", "show", "--token", key_b], &pins);
    assert!(
        shown.contains("ecdsa-sha2-nistp256") && shown.contains(id_b),
        "{shown}"
    );

    let key_c = soft_key(&hsm, "root-c.age");
    let targets = soft_key(&hsm, "targets.age");
    let snapshot = soft_key(&hsm, "snapshot.age");
    let timestamp = soft_key(&hsm, "timestamp.age");

    let root = hsm.path_str("root.json");
    hsm.expect(
        0,
        &[
            "root",
            "create",
            "--out",
            &root,
            "--expires",
            "2099-01-01",
            "--key",
            &format!("root={key_a}"),
            "--key",
            &format!("root={key_b}"),
            "--key",
            &format!("root={key_c}"),
            "--threshold",
            "root=2",
            "--key",
            &format!("targets={targets}"),
            "--key",
            &format!("snapshot={snapshot}"),
            "--key",
            &format!("timestamp={timestamp}"),
        ],
        &pins,
    );
    // Below threshold before anyone signs.
    assert_ne!(hsm.run(&["verify", &root]).status.code(), Some(0));

    hsm.expect(
        0,
        &[
            "root",
            "sign",
            &root,
            "--token",
            key_a,
            "--pin-file",
            &file_a,
        ],
        &pins,
    );
    hsm.expect(
        0,
        &[
            "root",
            "sign",
            &root,
            "--token",
            key_b,
            "--pin-file",
            &file_b,
        ],
        &pins,
    );
    let verified = hsm.expect(0, &["verify", &root], &pins);
    assert!(!verified.is_empty());

    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&root).expect("root")).expect("json");
    let sigs = doc["signatures"].as_array().expect("signatures");
    assert_eq!(sigs.len(), 2);
    let keyids: Vec<&str> = sigs.iter().map(|s| s["keyid"].as_str().unwrap()).collect();
    assert!(
        keyids.contains(&id_a) && keyids.contains(&id_b),
        "{keyids:?}"
    );
    python_tuf_accepts(Path::new(&root));
}

#[test]
fn generated_keys_are_sensitive_never_extractable_and_sign_only() {
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    use cryptoki::object::{Attribute, AttributeInfo, AttributeType, ObjectClass};
    use cryptoki::session::UserType;
    use cryptoki::types::AuthPin;

    let hsm = Hsm::new();
    let pin = "pin-attrs-46302";
    let pin_file = if is_child() {
        String::new()
    } else {
        let f = hsm.init_token("attrs", pin);
        generate(&hsm, "pkcs11:token=attrs;object=ed", "ed25519", &f, &[pin]);
        generate(
            &hsm,
            "pkcs11:token=attrs;object=p256",
            "ecdsa-p256",
            &f,
            &[pin],
        );
        f
    };
    in_child(
        "generated_keys_are_sensitive_never_extractable_and_sign_only",
        &hsm,
        &[("TEST_PIN_FILE", &pin_file)],
        || {
            let pin = std::fs::read_to_string(var("TEST_PIN_FILE")).unwrap();
            let ctx = Pkcs11::new(MODULE).unwrap();
            ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
                .unwrap();
            let slot = ctx
                .get_slots_with_token()
                .unwrap()
                .into_iter()
                .find(|s| ctx.get_token_info(*s).unwrap().label() == "attrs")
                .expect("token attrs");
            let session = ctx.open_ro_session(slot).unwrap();
            session
                .login(UserType::User, Some(&AuthPin::from(pin.trim().to_owned())))
                .unwrap();
            for label in ["ed", "p256"] {
                let private = session
                    .find_objects(&[
                        Attribute::Class(ObjectClass::PRIVATE_KEY),
                        Attribute::Label(label.as_bytes().to_vec()),
                    ])
                    .unwrap();
                assert_eq!(private.len(), 1, "{label}");
                let key = private[0];
                // Reading the private value fails: the token calls it sensitive.
                let info = session
                    .get_attribute_info(key, &[AttributeType::Value])
                    .unwrap();
                assert!(
                    matches!(info.as_slice(), [AttributeInfo::Sensitive]),
                    "{label}: {info:?}"
                );
                let value = session
                    .get_attributes(key, &[AttributeType::Value])
                    .unwrap();
                assert!(value.is_empty(), "{label}: CKA_VALUE was readable");
                let attrs = session
                    .get_attributes(
                        key,
                        &[
                            AttributeType::Token,
                            AttributeType::Private,
                            AttributeType::Sensitive,
                            AttributeType::AlwaysSensitive,
                            AttributeType::Extractable,
                            AttributeType::NeverExtractable,
                            AttributeType::Local,
                            AttributeType::Sign,
                            AttributeType::Decrypt,
                            AttributeType::Unwrap,
                            AttributeType::Derive,
                        ],
                    )
                    .unwrap();
                for a in &attrs {
                    let ok = match a {
                        Attribute::Token(v)
                        | Attribute::Private(v)
                        | Attribute::Sensitive(v)
                        | Attribute::AlwaysSensitive(v)
                        | Attribute::NeverExtractable(v)
                        | Attribute::Local(v)
                        | Attribute::Sign(v) => *v,
                        Attribute::Extractable(v)
                        | Attribute::Decrypt(v)
                        | Attribute::Unwrap(v)
                        | Attribute::Derive(v) => !*v,
                        _ => true,
                    };
                    assert!(ok, "{label}: {a:?}");
                }
                assert_eq!(attrs.len(), 11, "{label}: {attrs:?}");
                let public = session
                    .find_objects(&[
                        Attribute::Class(ObjectClass::PUBLIC_KEY),
                        Attribute::Label(label.as_bytes().to_vec()),
                    ])
                    .unwrap();
                let attrs = session
                    .get_attributes(
                        public[0],
                        &[
                            AttributeType::Encrypt,
                            AttributeType::Wrap,
                            AttributeType::Derive,
                        ],
                    )
                    .unwrap();
                for a in &attrs {
                    assert!(
                        matches!(
                            a,
                            Attribute::Encrypt(false)
                                | Attribute::Wrap(false)
                                | Attribute::Derive(false)
                        ),
                        "{label} public: {a:?}"
                    );
                }
            }
            session.logout().unwrap();
            drop(session);
            ctx.finalize().unwrap();
        },
    );
}

/// A test-only signer that asks the token to sign the wrong bytes.
struct SignsOtherBytes(ceremony::tokens::pkcs11::Pkcs11Signer);

impl ceremony::tokens::Signer for SignsOtherBytes {
    fn public_key(&self) -> &ceremony::keys::PublicKey {
        self.0.public_key()
    }
    fn describe(&self) -> String {
        self.0.describe()
    }
    fn sign(&mut self, _message: &[u8]) -> Result<Vec<u8>, ceremony::tokens::TokenError> {
        // A genuine token signature (SHA-256 of these bytes through CKM_ECDSA),
        // but over something other than the metadata.
        self.0.sign(b"some other bytes entirely")
    }
}

struct PinFromFile(PathBuf);

impl ceremony::tokens::pkcs11::PinPrompt for PinFromFile {
    fn notice(&mut self, _: &str) {}
    fn confirm_final_try(&mut self, _: &str) -> Result<bool, ceremony::tokens::TokenError> {
        Ok(false)
    }
    fn user_pin(
        &mut self,
        _: &str,
    ) -> Result<ceremony::secret::Secret, ceremony::tokens::TokenError> {
        Ok(ceremony::secret::Secret::from_file(&self.0).expect("pin file"))
    }
}

#[test]
fn an_ecdsa_signature_over_the_wrong_bytes_is_rejected_and_nothing_is_written() {
    use ceremony::tokens::pkcs11::{Module, Pkcs11Uri};
    use ceremony::tuf::sign::{SignError, sign_root};

    let hsm = Hsm::new();
    let pin = "pin-wrongbytes-99120";
    let key = "pkcs11:token=wb;object=root-p256";
    let (pin_file, root) = if is_child() {
        (String::new(), String::new())
    } else {
        let f = hsm.init_token("wb", pin);
        generate(&hsm, key, "ecdsa-p256", &f, &[pin]);
        let targets = soft_key(&hsm, "targets.age");
        let root = hsm.path_str("root.json");
        let mut args = vec![
            "root".to_string(),
            "create".into(),
            "--out".into(),
            root.clone(),
            "--expires".into(),
            "2099-01-01".into(),
            "--key".into(),
            format!("root={key}"),
        ];
        for role in ["targets", "snapshot", "timestamp"] {
            args.push("--key".into());
            args.push(format!("{role}={targets}"));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        hsm.expect(0, &args, &[pin]);
        (f, root)
    };
    in_child(
        "an_ecdsa_signature_over_the_wrong_bytes_is_rejected_and_nothing_is_written",
        &hsm,
        &[("TEST_PIN_FILE", &pin_file), ("TEST_ROOT", &root)],
        || {
            let root = PathBuf::from(var("TEST_ROOT"));
            let before = std::fs::read(&root).unwrap();
            let mut doc = ceremony::commands::read_root(&root).unwrap();
            let module = Module::load(Path::new(MODULE)).unwrap();
            let uri = Pkcs11Uri::parse(key).unwrap();
            let signer = module
                .open_signer(&uri, &mut PinFromFile(var("TEST_PIN_FILE").into()))
                .unwrap();
            let mut wrong = SignsOtherBytes(signer);
            let err = sign_root(&mut doc, &mut wrong, None).unwrap_err();
            assert!(
                matches!(err, SignError::BadTokenSignature { .. }),
                "expected BadTokenSignature, got {err}"
            );
            assert!(doc.signatures.is_empty(), "the bad signature was kept");
            assert_eq!(std::fs::read(&root).unwrap(), before, "the root changed");
            // The honest path on the same open key works.
            let mut honest = wrong.0;
            sign_root(&mut doc, &mut honest, None).unwrap();
            assert_eq!(doc.signatures.len(), 1);
        },
    );
}

#[test]
fn an_existing_label_or_id_is_refused() {
    let hsm = Hsm::new();
    let pin = "pin-exists-12077";
    let f = hsm.init_token("ex", pin);
    generate(
        &hsm,
        "pkcs11:token=ex;object=root-1;id=%01",
        "ed25519",
        &f,
        &[pin],
    );
    for (uri, what) in [
        ("pkcs11:token=ex;object=root-1", "label \"root-1\""),
        ("pkcs11:token=ex;object=root-9;id=%01", "ID 01"),
    ] {
        let out = hsm.expect(
            1,
            &[
                "key",
                "generate",
                "--token",
                uri,
                "--algorithm",
                "ecdsa-p256",
                "--pin-file",
                &f,
            ],
            &[pin],
        );
        assert!(
            out.contains(&format!(
                "already holds an object with {what}; key material is never overwritten"
            )),
            "{out}"
        );
        assert!(out.contains("hint: nothing was generated"), "{out}");
    }
    let listing = hsm.expect(0, &["tokens"], &[pin]);
    assert_eq!(listing.matches("object=").count(), 1, "{listing}");
}

#[test]
fn a_wrong_pin_says_what_the_token_reports_about_tries_left() {
    let hsm = Hsm::new();
    let pin = "pin-right-66211";
    let wrong = "pin-wrong-40913";
    let f = hsm.init_token("wp", pin);
    let key = "pkcs11:token=wp;object=k";
    generate(&hsm, key, "ed25519", &f, &[pin]);
    let wrong_file = hsm.path_str("wrong.pin");
    std::fs::write(&wrong_file, wrong).unwrap();
    let root = hsm.path_str("root.json");
    hsm.expect(
        0,
        &[
            "root",
            "create",
            "--out",
            &root,
            "--expires",
            "2099-01-01",
            "--key",
            &format!("root={key}"),
            "--key",
            &format!("targets={key}"),
            "--key",
            &format!("snapshot={key}"),
            "--key",
            &format!("timestamp={key}"),
        ],
        &[pin],
    );
    let before = std::fs::read(&root).unwrap();
    let out = hsm.expect(
        1,
        &[
            "root",
            "sign",
            &root,
            "--token",
            key,
            "--pin-file",
            &wrong_file,
        ],
        &[pin, wrong],
    );
    // SoftHSM2 does not count tries; after a wrong PIN it sets COUNT_LOW, which
    // is what we can report.
    assert!(out.contains("token \"wp\""), "{out}");
    assert!(
        out.contains("wrong user PIN; the token reports its PIN retry count as low"),
        "{out}"
    );
    assert!(
        out.contains("hint: check the PIN with the token's custodian"),
        "{out}"
    );
    assert_eq!(std::fs::read(&root).unwrap(), before);
    // The flag is shown before the next attempt, and by `ceremony tokens`.
    let listing = hsm.expect(0, &["tokens"], &[pin, wrong]);
    assert!(
        listing.contains("a wrong PIN was entered since the last login"),
        "{listing}"
    );
    let out = hsm.expect(
        0,
        &["root", "sign", &root, "--token", key, "--pin-file", &f],
        &[pin, wrong],
    );
    assert!(
        out.contains("a wrong PIN was entered since the last login"),
        "{out}"
    );
    let listing = hsm.expect(0, &["tokens"], &[pin, wrong]);
    assert!(listing.contains("user PIN ok"), "{listing}");
}

#[test]
fn on_the_final_try_a_pin_file_cannot_confirm() {
    let hsm = Hsm::new();
    let pin = "pin-final-55012";
    let f = hsm.init_token("ft", pin);
    let key = "pkcs11:token=ft;object=k";
    generate(&hsm, key, "ed25519", &f, &[pin]);
    // SoftHSM2 never reaches the final try by itself: set the flag it reports.
    hsm.set_token_flags("ft", CKF_USER_PIN_FINAL_TRY);
    let listing = hsm.expect(0, &["tokens"], &[pin]);
    assert!(listing.contains("FINAL TRY"), "{listing}");
    let out = hsm.expect(
        1,
        &[
            "key",
            "generate",
            "--token",
            "pkcs11:token=ft;object=k2",
            "--algorithm",
            "ed25519",
            "--pin-file",
            &f,
        ],
        &[pin],
    );
    assert!(
        out.contains("FINAL TRY (one more wrong PIN locks the token)"),
        "{out}"
    );
    assert!(
        out.contains("needs a person at a terminal to confirm"),
        "{out}"
    );
    // Nothing was tried and nothing generated.
    let listing = hsm.expect(0, &["tokens"], &[pin]);
    assert!(!listing.contains("object=k2"), "{listing}");
}

#[test]
fn a_locked_token_is_a_clear_error_and_no_pin_is_sent() {
    let hsm = Hsm::new();
    let pin = "pin-locked-20456";
    let f = hsm.init_token("lk", pin);
    let key = "pkcs11:token=lk;object=k";
    generate(&hsm, key, "ecdsa-p256", &f, &[pin]);
    // SoftHSM2 never locks a PIN by itself: set the flag it reports (and which
    // it does not enforce, so refusing is entirely up to us).
    hsm.set_token_flags("lk", CKF_USER_PIN_LOCKED);
    let out = hsm.expect(
        2,
        &[
            "key",
            "generate",
            "--token",
            "pkcs11:token=lk;object=k2",
            "--algorithm",
            "ed25519",
            "--pin-file",
            &f,
        ],
        &[pin],
    );
    assert!(out.contains("token \"lk\""), "{out}");
    assert!(
        out.contains("the user PIN is locked; no PIN was sent"),
        "{out}"
    );
    assert!(
        out.contains("hint: the token's security officer must unlock"),
        "{out}"
    );
    // Reading public keys needs no PIN and still works.
    hsm.expect(0, &["key", "show", "--token", key], &[pin]);
}

#[test]
fn a_missing_module_is_a_clear_error() {
    let hsm = Hsm::new();
    let out = hsm.expect(2, &["tokens", "--module", "/nonexistent/libpkcs11.so"], &[]);
    assert!(
        out.contains("error: PKCS#11 module /nonexistent/libpkcs11.so: no such file"),
        "{out}"
    );
    assert!(
        out.contains("hint: install the token's PKCS#11 module"),
        "{out}"
    );

    let not_a_module = hsm.path_str("softhsm2.conf");
    let out = hsm.expect(
        2,
        &[
            "key",
            "show",
            "--token",
            "pkcs11:token=x;object=y",
            "--module",
            &not_a_module,
        ],
        &[],
    );
    assert!(out.contains("cannot load it as a PKCS#11 module"), "{out}");

    let out = hsm
        .ceremony()
        .env("CEREMONY_PKCS11_MODULE", "/nonexistent/env.so")
        .args(["key", "show", "--token", "pkcs11:token=x;object=y"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/env.so: no such file"));
}

#[test]
fn a_token_removed_between_listing_and_signing_is_named() {
    let hsm = Hsm::new();
    let pin = "pin-removed-73001";
    let f = hsm.init_token("gone", pin);
    let key = "pkcs11:token=gone;object=k";
    generate(&hsm, key, "ed25519", &f, &[pin]);
    let root = hsm.path_str("root.json");
    hsm.expect(
        0,
        &[
            "root",
            "create",
            "--out",
            &root,
            "--expires",
            "2099-01-01",
            "--key",
            &format!("root={key}"),
            "--key",
            &format!("targets={key}"),
            "--key",
            &format!("snapshot={key}"),
            "--key",
            &format!("timestamp={key}"),
        ],
        &[pin],
    );
    let listing = hsm.expect(0, &["tokens"], &[pin]);
    assert!(listing.contains("token \"gone\""), "{listing}");
    let before = std::fs::read(&root).unwrap();

    std::fs::remove_dir_all(hsm.token_dir("gone")).unwrap();

    let out = hsm.expect(
        2,
        &["root", "sign", &root, "--token", key, "--pin-file", &f],
        &[pin],
    );
    assert!(
        out.contains("error: no token labelled \"gone\" is present"),
        "{out}"
    );
    assert!(
        out.contains(
            "hint: insert (or initialise) the token labelled \"gone\" and run `ceremony tokens`"
        ),
        "{out}"
    );
    assert_eq!(std::fs::read(&root).unwrap(), before, "nothing is written");
}

#[test]
fn unknown_keys_and_pins_in_uris_are_refused() {
    let hsm = Hsm::new();
    let pin = "pin-uri-11922";
    hsm.init_token("u", pin);
    let out = hsm.expect(
        1,
        &["key", "show", "--token", "pkcs11:token=u;object=nope"],
        &[pin],
    );
    assert!(out.contains("token \"u\""), "{out}");
    assert!(out.contains("no key with label \"nope\""), "{out}");
    assert!(out.contains("hint: run `ceremony tokens`"), "{out}");

    let out = hsm.expect(
        1,
        &[
            "key",
            "show",
            "--token",
            "pkcs11:token=u;object=k?pin-value=48213",
        ],
        &["48213"],
    );
    assert!(
        out.contains("a PIN never goes into a token reference"),
        "{out}"
    );

    let out = hsm.expect(
        1,
        &["key", "show", "--token", "pkcs11:slot-id=0;object=k"],
        &[],
    );
    assert!(out.contains("slot numbers"), "{out}");
}

#[test]
fn a_notary_root_certificate_is_signed_on_the_token() {
    let hsm = Hsm::new();
    let pin = "pin-notary-61840";
    let f = hsm.init_token("nt", pin);
    let key = "pkcs11:token=nt;object=root";
    generate(&hsm, key, "ecdsa-p256", &f, &[pin]);
    let online = soft_key(&hsm, "online.age");
    let root = hsm.path_str("root.json");
    let gun = "example.com/ceremony/app";
    let mut args = vec![
        "root".to_string(),
        "create".into(),
        "--flavour".into(),
        "notary".into(),
        "--gun".into(),
        gun.into(),
        "--out".into(),
        root.clone(),
        "--expires".into(),
        "2099-01-01".into(),
        "--key".into(),
        format!("root={key}"),
        "--pin-file".into(),
        f.clone(),
    ];
    for role in ["targets", "snapshot", "timestamp"] {
        args.push("--key".into());
        args.push(format!("{role}={online}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    hsm.expect(0, &args, &[pin]);
    hsm.expect(
        0,
        &["root", "sign", &root, "--token", key, "--pin-file", &f],
        &[pin],
    );
    hsm.expect(0, &["verify", "--gun", gun, &root], &[pin]);
}

/// Edit without loss: the newest root of every production history in
/// `tests/data/real-roots` (Sigstore's production and staging, the tuf-on-ci
/// deployments), bumped, given a new expiry, given a root key generated on a
/// SoftHSM token, and signed with it. The result equals the original but for the
/// version, the expiry, the added key and the signatures: producers' key IDs,
/// `x-tuf-on-ci-*` and `keyid_hash_algorithms` fields, unknown top-level fields and
/// keys of types we do not verify all stay. python-tuf reads each result it could
/// read before, and the new signature verifies under the added key.
#[test]
fn every_production_root_is_edited_without_loss() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/real-roots");
    let sources = std::fs::read_to_string(corpus.join("SOURCES.tsv")).expect("SOURCES.tsv");
    let mut newest: std::collections::BTreeMap<String, (u64, PathBuf)> = Default::default();
    for line in sources.lines().skip(1) {
        let path = line.split('\t').next().unwrap();
        let (dir, file) = path.rsplit_once('/').unwrap();
        let production = dir.starts_with("sigstore/root-signing-") && !dir.contains("legacy")
            || (dir.starts_with("tuf-on-ci/") && !dir.starts_with("tuf-on-ci/tests-"));
        let Some(v) = file
            .strip_suffix(".root.json")
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        if production && newest.get(dir).is_none_or(|(n, _)| *n < v) {
            newest.insert(dir.to_owned(), (v, corpus.join(path)));
        }
    }
    assert!(newest.len() >= 10, "{} production histories", newest.len());

    let hsm = Hsm::new();
    let pin = "pin-edit-4242-secret";
    let pin_file = hsm.init_token("editor", pin);
    let key = "pkcs11:token=editor;object=root-new";
    generate(&hsm, key, "ecdsa-p256", &pin_file, &[pin]);
    let python = std::env::var_os("CEREMONY_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
    let python_reads = |path: &Path, added: Option<&str>| -> Result<(), String> {
        let out = std::process::Command::new(&python)
            .args([
                "-c",
                "import sys\nfrom tuf.api.metadata import Metadata, Root\n\
                 md = Metadata[Root].from_file(sys.argv[1])\n\
                 if len(sys.argv) > 2:\n    \
                 md.signed.keys[sys.argv[2]].verify_signature(md.signatures[sys.argv[2]], md.signed_bytes)\n",
            ])
            .arg(path)
            .args(added)
            .output()
            .expect("python runs");
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    };
    let json = |p: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    };
    let mut python_checked = 0;
    for (dir, (_, original)) in &newest {
        let draft = hsm.path(&format!("{}.json", dir.replace('/', "-")));
        let d = draft.display().to_string();
        let o = original.display().to_string();
        hsm.expect(0, &["root", "bump-version", &o, "--out", &d], &[pin]);
        hsm.expect(
            0,
            &["root", "set-expiry", &d, "2031-01-01T00:00:00Z"],
            &[pin],
        );
        hsm.expect(
            0,
            &["root", "add-key", &d, "--role", "root", "--key", key],
            &[pin],
        );
        hsm.expect(
            0,
            &["root", "sign", &d, "--token", key, "--pin-file", &pin_file],
            &[pin],
        );

        let (before, after) = (json(original), json(&draft));
        let (b, a) = (&before["signed"], &after["signed"]);
        assert_eq!(a["version"], b["version"].as_u64().unwrap() + 1, "{dir}");
        assert_eq!(a["expires"], "2031-01-01T00:00:00Z", "{dir}");
        let added: Vec<&String> = a["keys"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| b["keys"].get(k.as_str()).is_none())
            .collect();
        assert_eq!(added.len(), 1, "{dir}: one key added");
        let added = added[0].clone();
        let mut expected = b.clone();
        expected["version"] = a["version"].clone();
        expected["expires"] = a["expires"].clone();
        expected["keys"][&added] = a["keys"][&added].clone();
        expected["roles"]["root"]["keyids"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::Value::String(added.clone()));
        assert_eq!(
            a, &expected,
            "{dir}: only the version, expiry and added key change"
        );
        let sigs = after["signatures"].as_array().unwrap();
        assert_eq!(
            sigs.len(),
            1,
            "{dir}: the old signatures went with the old content"
        );
        assert_eq!(sigs[0]["keyid"], added.as_str(), "{dir}");
        let envelope = |v: &serde_json::Value| {
            let mut v = v.as_object().unwrap().clone();
            v.remove("signed");
            v.remove("signatures");
            v
        };
        assert_eq!(
            envelope(&before),
            envelope(&after),
            "{dir}: other envelope fields"
        );
        if python_reads(original, None).is_ok() {
            python_reads(&draft, Some(&added)).unwrap_or_else(|e| panic!("{dir}: {e}"));
            python_checked += 1;
        }
    }
    assert!(
        python_checked >= 8,
        "python-tuf read {python_checked} of the results"
    );
    eprintln!(
        "edited {} production roots without loss; python-tuf read {python_checked} of them",
        newest.len()
    );
}

/// RSA on PKCS#11, where an HSM policy requires it: an RSA-3072 key generated on
/// a SoftHSM token (sensitive, never extractable, self-tested), listed in a root as
/// `rsa`/`rsassa-pss-sha256`, and signing RSASSA-PSS with SHA-256 on the token;
/// the root verifies, and python-tuf accepts it.
#[test]
fn an_rsa_3072_key_on_a_token_signs_a_root_python_tuf_accepts() {
    let hsm = Hsm::new();
    let pin = "pin-rsa-7331-secret";
    let pin_file = hsm.init_token("rsa-root", pin);
    let key = "pkcs11:token=rsa-root;object=root-rsa";
    let ev = generate(&hsm, key, "rsa", &pin_file, &[pin]);
    assert!(ev.contains("generated rsa key"), "{ev}");
    assert_eq!(
        line_with(&ev, "never extractable (CKA_NEVER_EXTRACTABLE):"),
        "yes"
    );
    assert_eq!(
        line_with(&ev, "self-test: signed on the token, verified in software:"),
        "yes"
    );
    let shown = hsm.expect(0, &["key", "show", "--token", key], &[pin]);
    assert!(
        shown.contains("\"keytype\": \"rsa\"")
            && shown.contains("\"scheme\": \"rsassa-pss-sha256\""),
        "{shown}"
    );
    let online: Vec<String> = ["targets", "snapshot", "timestamp"]
        .iter()
        .map(|r| soft_key(&hsm, &format!("{r}.age")))
        .collect();
    let root = hsm.path_str("root.json");
    hsm.expect(
        0,
        &[
            "root",
            "create",
            "--out",
            &root,
            "--expires",
            "2099-01-01",
            "--key",
            &format!("root={key}"),
            "--threshold",
            "root=1",
            "--key",
            &format!("targets={}", online[0]),
            "--key",
            &format!("snapshot={}", online[1]),
            "--key",
            &format!("timestamp={}", online[2]),
        ],
        &[pin],
    );
    hsm.expect(
        0,
        &[
            "root",
            "sign",
            &root,
            "--token",
            key,
            "--pin-file",
            &pin_file,
        ],
        &[pin],
    );
    let verified = hsm.expect(0, &["verify", &root], &[pin]);
    assert!(
        verified.contains("trustworthy: tuf root version 1"),
        "{verified}"
    );
    python_tuf_accepts(Path::new(&root));
}
