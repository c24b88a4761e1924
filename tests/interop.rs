//! Interop against independent implementations — the judges:
//! securesystemslib (canonical JSON), python-tuf (roots and chains, both ways),
//! and the real Notary server and client (Debian package `notary`).
//!
//! All slow interop lives in this one test binary.

mod common;
#[path = "interop/differential.rs"]
mod differential;
#[path = "interop/real_roots.rs"]
mod real_roots;

use ceremony::tuf::cjson;
use common::*;
use serde_json::{Map, Value, json};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

// ---------------------------------------------------------------------------
// Canonical JSON, differentially against securesystemslib.

/// splitmix64: a small deterministic generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Characters chosen to break encoders: below `"`, quotes, backslashes, controls,
/// combining marks (non-NFC), precomposed forms, non-BMP, U+2028, BOM, etc.
const NASTY: &[&str] = &[
    "\u{0}",
    "\u{1}",
    "\u{1f}",
    " ",
    "!",
    "\"",
    "#",
    "\\",
    "/",
    "\n",
    "\r",
    "\t",
    "\u{7f}",
    "e\u{301}",
    "\u{e9}",
    "A\u{30a}",
    "\u{212b}",
    "\u{fb01}",
    "\u{2028}",
    "\u{2029}",
    "\u{feff}",
    "\u{1f600}",
    "\u{10ffff}",
    "\u{ffff}",
    "<",
    ">",
    "&",
    "a",
    "Z",
    "_",
    "0",
    "~",
    "\u{3b1}",
    "\u{4e2d}",
];

fn string(rng: &mut Rng) -> String {
    let len = rng.below(6);
    (0..len)
        .map(|_| NASTY[rng.below(NASTY.len() as u64) as usize])
        .collect()
}

fn value(rng: &mut Rng, depth: u32) -> Value {
    let leaf = depth >= 6 || rng.below(3) == 0;
    let kind = if leaf { rng.below(5) } else { 5 + rng.below(2) };
    match kind {
        0 => Value::Null,
        1 => Value::Bool(rng.below(2) == 0),
        2 => match rng.below(6) {
            0 => json!(i64::MIN),
            1 => json!(u64::MAX),
            2 => json!(0),
            _ => json!((rng.next() as i64) >> rng.below(60)),
        },
        3 | 4 => Value::String(string(rng)),
        5 => Value::Array((0..rng.below(5)).map(|_| value(rng, depth + 1)).collect()),
        _ => {
            let mut m = Map::new();
            for _ in 0..rng.below(6) {
                m.insert(string(rng), value(rng, depth + 1));
            }
            Value::Object(m)
        }
    }
}

#[test]
fn canonical_json_matches_securesystemslib_on_10000_adversarial_documents() {
    let mut rng = Rng(0x5eed_cafe);
    let mut docs: Vec<Value> = (0..10_000).map(|_| value(&mut rng, 0)).collect();
    // Floats must be refused by both.
    docs.push(json!({"a": 1.5}));
    docs.push(json!([1e300]));
    let mut child = Command::new(python())
        .arg(interop_script("cjson_reference.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = Vec::new();
    for d in &docs {
        serde_json::to_writer(&mut input, d).unwrap();
        input.push(b'\n');
    }
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success());
    let lines: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    assert_eq!(lines.len(), docs.len());
    let mut refused = 0;
    for (i, (doc, reference)) in docs.iter().zip(lines).enumerate() {
        match cjson::encode(doc) {
            Ok(bytes) => assert_eq!(
                hex::encode(&bytes),
                reference,
                "document {i} differs: {}",
                serde_json::to_string(doc).unwrap()
            ),
            Err(_) => {
                refused += 1;
                assert_eq!(
                    reference, "ERR",
                    "document {i}: we refused, securesystemslib did not"
                );
            }
        }
    }
    assert_eq!(refused, 2, "exactly the two float documents are refused");
}

// ---------------------------------------------------------------------------
// python-tuf makes roots; we verify them.

#[test]
fn roots_and_chains_made_by_python_tuf_are_accepted_and_forgeries_refused() {
    let d = tempfile::tempdir().unwrap();
    let out = Command::new(python())
        .arg(interop_script("tuf_make.py"))
        .arg(d.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let chain = d.path().join("chain");
    let text = ok(&["verify", p(&chain)]);
    assert!(text.contains("trustworthy: tuf root version 3"), "{text}");
    ok(&["verify", p(&d.path().join("single/root.json"))]);
    // Continuing from a trusted v1.
    ok(&[
        "verify",
        "--trusted",
        p(&chain.join("1.root.json")),
        p(&chain.join("2.root.json")),
        p(&chain.join("3.root.json")),
    ]);
    // v2 signed only by the new key: refused.
    let err = refused(&[
        "verify",
        p(&chain.join("1.root.json")),
        p(&d.path().join("bad/2.root.json")),
    ]);
    assert!(
        err.contains("from the root keys of version 1, below the threshold of 2"),
        "{err}"
    );
    // We can add our own signature to a python-made root without disturbing it.
    let v1 = chain.join("1.root.json");
    let before: Value = serde_json::from_slice(&fs::read(&v1).unwrap()).unwrap();
    let text = ok(&["root", "inspect", p(&v1)]);
    assert!(
        text.contains("role root: threshold 2 of 3 key(s)"),
        "{text}"
    );
    let _ = before;
}

/// Every key form real roots use, made by python-tuf (securesystemslib signers):
/// RSA-PSS (3072), RSA PKCS#1 v1.5, ECDSA P-384 under `ecdsa` and the legacy
/// `ecdsa-sha2-nistp384` key type, P-256 under `ecdsa-sha2-nistp256` with
/// `keyid_hash_algorithms` in the ID, tuf-on-ci style IDs over `x-tuf-on-ci-*`
/// fields, and a 2-of-3 mixing ed25519, RSA and P-384: each chain (a root-key
/// rotation) is verified. A 1024-bit RSA key is refused by name (python-tuf takes
/// it); an online key of a type nobody verifies leaves the root readable (python-tuf
/// refuses the whole root) and is named.
#[test]
fn roots_in_every_key_form_python_tuf_writes_are_verified() {
    let d = tempfile::tempdir().unwrap();
    sh(Command::new(python())
        .arg(interop_script("tuf_make_forms.py"))
        .arg(d.path()));
    for form in [
        "rsa-pss",
        "rsa-pkcs1v15",
        "ecdsa-p384",
        "ecdsa-p384-legacy-keytype",
        "ecdsa-p256-legacy-keytype",
        "ed25519-tuf-on-ci-ids",
        "mixed-2-of-3",
    ] {
        let dir = d.path().join(form);
        assert!(python_tuf(&[&dir.join("1.root.json"), &dir.join("2.root.json")]).0);
        let out = ok(&["verify", p(&dir)]);
        assert!(
            out.contains("trustworthy: tuf root version 2"),
            "{form}: {out}"
        );
        assert!(!out.contains("not derived"), "{form}: {out}");
    }
    let err = refused(&["verify", p(&d.path().join("rsa-1024"))]);
    assert!(
        err.contains("malformed rsa public key: an RSA key of 1024 bits is a weak key: at least 2048 bits are needed"),
        "{err}"
    );
    let odd = d.path().join("unsupported-online-key/1.root.json");
    let (accepted, why) = python_tuf(&[&odd]);
    assert!(!accepted, "python-tuf refuses an unknown key type: {why}");
    let out = ok(&["verify", p(&odd)]);
    assert!(
        out.contains(
            "key type \"sphincs\" with scheme \"sphincs-shake-256s\" is not one we verify"
        ) && out.contains("a signature by it counts as none"),
        "{out}"
    );
}

/// Countersign what others drafted: python-tuf drafts a rotation (a key added, the
/// expiry moved) and signs it with its own keys; our key, a root key of version 1,
/// adds its signature with `root sign --previous`, which first shows what version 2
/// changes against version 1 and changes nothing but the signatures. python-tuf
/// then accepts the chain.
#[test]
fn a_rotation_python_tuf_drafted_is_countersigned_without_change() {
    let d = tempfile::tempdir().unwrap();
    let k = keys();
    let token = k.token("root-a");
    let shown = ok(&["key", "show", "--token", &token]);
    let mut key: Value = serde_json::from_str(&shown).unwrap();
    key["keyid"] = json!(cjson_keyid(&key));
    let key_file = d.path().join("ours.json");
    fs::write(&key_file, key.to_string()).unwrap();
    sh(Command::new(python())
        .arg(interop_script("tuf_countersign.py"))
        .arg(d.path())
        .arg(&key_file));
    let (v1, v2) = (d.path().join("1.root.json"), d.path().join("2.root.json"));
    let err = refused(&["verify", p(d.path())]);
    assert!(err.contains("version 1 has 1 valid signature(s)"), "{err}");
    let v2_signed_before: Value = serde_json::from_slice(&fs::read(&v2).unwrap()).unwrap();

    ok(&[
        "root",
        "sign",
        p(&v1),
        "--token",
        &token,
        "--passphrase-file",
        k.pass(),
    ]);
    let out = ok(&[
        "root",
        "sign",
        p(&v2),
        "--token",
        &token,
        "--previous",
        p(&v1),
        "--passphrase-file",
        k.pass(),
    ]);
    assert!(
        out.contains("against version 1 (read it before the key signs):"),
        "{out}"
    );
    assert!(out.contains("changes from version 1:"), "{out}");
    assert!(
        out.contains("  root: key ") && out.contains(" ADDED"),
        "{out}"
    );
    assert!(out.contains("  expiry 20"), "{out}");
    assert!(out.contains("root: 2 of 3 key(s)"), "{out}");
    let v2_after: Value = serde_json::from_slice(&fs::read(&v2).unwrap()).unwrap();
    assert_eq!(
        v2_after["signed"], v2_signed_before["signed"],
        "nothing but signatures"
    );
    assert_eq!(
        v2_after["signatures"].as_array().unwrap().len(),
        v2_signed_before["signatures"].as_array().unwrap().len() + 1
    );
    let text = ok(&["verify", p(d.path())]);
    assert!(text.contains("trustworthy: tuf root version 2"), "{text}");
    let (accepted, why) = python_tuf(&[&v1, &v2]);
    assert!(accepted, "{why}");
}

/// The standard key ID of a key object (sha256 of its canonical form).
fn cjson_keyid(key: &Value) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(cjson::encode(key).unwrap()))
}

// ---------------------------------------------------------------------------
// The real Notary server and client.

struct NotaryServer {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Drop for NotaryServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sh(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl NotaryServer {
    /// Start notary-server on loopback with memory storage, the local trust
    /// service and a TLS certificate made here.
    fn start() -> NotaryServer {
        assert!(
            Path::new("/usr/bin/notary-server").exists(),
            "notary-server is missing: run scripts/test-all, which installs Debian's notary"
        );
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let openssl = |args: &[&str]| sh(Command::new("openssl").args(args).current_dir(d));
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "30",
            "-subj",
            "/CN=ceremony test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ]);
        fs::write(
            d.join("server.ext"),
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "30",
            "-sha256",
            "-extfile",
            "server.ext",
        ]);
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let config = json!({
            "server": {
                "http_addr": format!("127.0.0.1:{port}"),
                "tls_cert_file": d.join("server.crt"),
                "tls_key_file": d.join("server.key"),
            },
            "trust_service": {"type": "local", "hostname": "", "port": "", "key_algorithm": "ed25519"},
            "logging": {"level": "info"},
            "storage": {"backend": "memory"},
        });
        fs::write(d.join("server.json"), config.to_string()).unwrap();
        let log = fs::File::create(d.join("server.log")).unwrap();
        let child = Command::new("notary-server")
            .arg("-config")
            .arg(d.join("server.json"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let server = NotaryServer { child, dir, port };
        for _ in 0..100 {
            if server
                .curl(&["-sf", &server.url("/_notary_server/health")])
                .status
                .success()
            {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!(
            "notary-server did not come up:\n{}",
            fs::read_to_string(server.dir.path().join("server.log")).unwrap_or_default()
        );
    }

    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    fn curl(&self, args: &[&str]) -> std::process::Output {
        Command::new("curl")
            .arg("--cacert")
            .arg(self.ca())
            .args(args)
            .output()
            .unwrap()
    }

    /// A fresh notary client: its own trust directory and config.
    fn client(&self, name: &str) -> NotaryClient {
        let trust = self.dir.path().join(format!("client-{name}"));
        fs::create_dir_all(&trust).unwrap();
        let config = trust.join("config.json");
        fs::write(
            &config,
            json!({
                "trust_dir": trust.join("trust"),
                "remote_server": {"url": self.url(""), "root_ca": self.ca()},
            })
            .to_string(),
        )
        .unwrap();
        NotaryClient {
            config,
            trust: trust.join("trust"),
        }
    }
}

struct NotaryClient {
    config: PathBuf,
    trust: PathBuf,
}

impl NotaryClient {
    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("notary")
            .arg("-c")
            .arg(&self.config)
            .args(args)
            .env("NOTARY_ROOT_PASSPHRASE", "root-fixture-passphrase")
            .env("NOTARY_TARGETS_PASSPHRASE", "targets-fixture-passphrase")
            .env("NOTARY_SNAPSHOT_PASSPHRASE", "snapshot-fixture-passphrase")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

fn text(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

/// Sign a Notary `targets.json` (no targets) with a software key, through the
/// library: canonical bytes, sign on the token, verified before use.
fn notary_targets(key_token: &str, expires: &str) -> Vec<u8> {
    notary_targets_version(key_token, expires, 1)
}

fn notary_targets_version(key_token: &str, expires: &str, version: u64) -> Vec<u8> {
    let path = key_token.strip_prefix("soft:").unwrap();
    signed_targets(Path::new(path), &keys().passphrase_file, expires, version)
}

/// A Notary targets.json (no targets) signed with a software key file.
fn signed_targets(key: &Path, pass_file: &Path, expires: &str, version: u64) -> Vec<u8> {
    use ceremony::tokens::Signer;
    use ceremony::tokens::soft::SoftToken;
    use ceremony::tuf::key::{key_id, notary_key};
    use ceremony::tuf::metadata::Flavour;
    let pass = ceremony::secret::Secret::from_file(pass_file).unwrap();
    let mut token = SoftToken::open(key, &pass).unwrap();
    let keyid = key_id(&notary_key(token.public_key()), Flavour::Notary);
    let signed = json!({
        "_type": "Targets",
        "delegations": {"keys": {}, "roles": []},
        "expires": expires,
        "targets": {},
        "version": version,
    });
    let bytes = cjson::encode(&signed).unwrap();
    let sig =
        ceremony::tuf::sign::sign_message(&bytes, &mut token, Flavour::Notary, keyid).unwrap();
    let mut out = b"{\"signed\":".to_vec();
    out.extend(&bytes);
    out.extend(b",\"signatures\":");
    out.extend(serde_json::to_vec(&vec![sig]).unwrap());
    out.push(b'}');
    out
}

/// The Notary key substitution against the real Notary server and the stock
/// client: a root holding the publisher's "keys"/"roles" followed by "Keys"/"Roles"
/// naming an attacker's certificate and targets key, signed by the publisher's root
/// key (as a room shown the real keys would) and the attacker's. We refuse it
/// naming the field; the server takes it and a fresh stock client, trusting it on
/// first use, lists a target signed only by the attacker's targets key.
#[test]
fn a_shadow_field_root_is_read_by_the_notary_client_with_the_attackers_keys_and_refused_by_us() {
    let server = NotaryServer::start();
    let gun = "example.com/shadow/app";
    let key = |role: &str| {
        let o = server.curl(&[
            "-sf",
            &server.url(&format!("/v2/{gun}/_trust/tuf/{role}.key")),
        ]);
        assert!(o.status.success(), "{role}.key: {}", text(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    let out = tempfile::tempdir().unwrap();
    sh(Command::new(python())
        .arg(interop_script("notary_shadow.py"))
        .arg(out.path())
        .arg(gun)
        .arg(key("timestamp")));
    let root = out.path().join("root.json");

    let err = refused(&["verify", "--gun", gun, p(&root)]);
    assert!(
        err.contains("root.json: field \"Keys\" at $.signed shadows \"keys\""),
        "{err}"
    );

    let upload = server.curl(&[
        "-sf",
        "-X",
        "POST",
        "-F",
        &format!("files=@{};filename=root", p(&root)),
        "-F",
        &format!(
            "files=@{};filename=targets",
            p(&out.path().join("targets.json"))
        ),
        "-F",
        &format!(
            "files=@{};filename=snapshot",
            p(&out.path().join("snapshot.json"))
        ),
        &server.url(&format!("/v2/{gun}/_trust/tuf/")),
    ]);
    assert!(upload.status.success(), "upload: {}", text(&upload));
    let listed = server.client("victim").run(&["list", gun]);
    assert!(
        listed.status.success() && text(&listed).contains("attacker-image"),
        "the stock client should trust the attacker's targets key: {}",
        text(&listed)
    );
}

#[test]
fn notary_init_root_is_parsed_and_verified() {
    let server = NotaryServer::start();
    let client = server.client("init");
    let gun = "example.com/ceremony/init";
    let o = client.run(&["init", gun, "-p"]);
    assert!(o.status.success(), "notary init failed: {}", text(&o));
    let root = client.trust.join(format!("tuf/{gun}/metadata/root.json"));
    let out = ok(&["verify", "--gun", gun, p(&root)]);
    assert!(out.contains("trustworthy: notary root version 1"), "{out}");
    let inspect = ok(&["root", "inspect", p(&root)]);
    assert!(
        inspect.contains(&format!("certificate CN={gun}")),
        "{inspect}"
    );
    // The wrong repository name is refused, naming the certificate's CN.
    let err = refused(&["verify", "--gun", "example.com/someone/else", p(&root)]);
    assert!(
        err.contains(&format!(
            "certificate CN \"{gun}\" does not match the repository \"example.com/someone/else\""
        )),
        "{err}"
    );
    let err = refused(&["verify", p(&root)]);
    assert!(err.contains("give --gun"), "{err}");
}

#[test]
fn notary_server_and_client_accept_a_root_we_make() {
    let server = NotaryServer::start();
    let gun = "example.com/ceremony/ours";
    let d = tempfile::tempdir().unwrap();
    // The server's online keys, as the online side would fetch them.
    for role in ["timestamp", "snapshot"] {
        let o = server.curl(&[
            "-sf",
            &server.url(&format!("/v2/{gun}/_trust/tuf/{role}.key")),
        ]);
        assert!(o.status.success());
        fs::write(d.path().join(format!("{role}.key.json")), &o.stdout).unwrap();
    }
    let k = keys();
    let root = d.path().join("root.json");
    let expires = next_year();
    ok(&[
        "root",
        "create",
        "--flavour",
        "notary",
        "--gun",
        gun,
        "--out",
        p(&root),
        "--expires",
        &expires,
        "--key",
        &format!("root={}", k.token("root-p1")),
        "--key",
        &format!("targets={}", k.token("targets")),
        "--key",
        &format!(
            "snapshot=keyfile:{}",
            p(&d.path().join("snapshot.key.json"))
        ),
        "--key",
        &format!(
            "timestamp=keyfile:{}",
            p(&d.path().join("timestamp.key.json"))
        ),
        "--passphrase-file",
        k.pass(),
    ]);
    sign(&root, "root-p1", None);
    ok(&["verify", "--gun", gun, p(&root)]);
    let targets = d.path().join("targets.json");
    fs::write(
        &targets,
        notary_targets(&k.token("targets"), &format!("{expires}T00:00:00Z")),
    )
    .unwrap();
    let upload = server.curl(&[
        "-s",
        "-w",
        "\n%{http_code}",
        "-F",
        &format!("files=@{};filename=root", p(&root)),
        "-F",
        &format!("files=@{};filename=targets", p(&targets)),
        &server.url(&format!("/v2/{gun}/_trust/tuf/")),
    ]);
    let body = text(&upload);
    assert!(body.trim_end().ends_with("200"), "upload refused: {body}");
    // The stock client, with a fresh trust directory, trusts it on first use.
    let client = server.client("fresh");
    let o = client.run(&["list", gun]);
    assert!(o.status.success(), "notary list failed: {}", text(&o));
    assert!(text(&o).contains("No targets present"), "{}", text(&o));
    let cached = fs::read(client.trust.join(format!("tuf/{gun}/metadata/root.json"))).unwrap();
    assert_eq!(
        cached,
        fs::read(&root).unwrap(),
        "the client caches our exact bytes"
    );
}

/// The guided ceremony's Notary roots, judged by the real server and client: a
/// root-init ceremony's root is accepted and trusted on first use; after the
/// responder's revoke-tagging-key ceremony, the same client follows the new root.
#[test]
fn notary_client_follows_roots_from_the_guided_ceremonies() {
    let server = NotaryServer::start();
    let gun = "example.com/ceremony/guided";
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    for role in ["timestamp", "snapshot"] {
        let o = server.curl(&[
            "-sf",
            &server.url(&format!("/v2/{gun}/_trust/tuf/{role}.key")),
        ]);
        assert!(o.status.success());
        fs::write(dir.join(format!("{role}.json")), &o.stdout).unwrap();
    }
    let k = keys();
    for (name, fixture) in [("targets", "targets"), ("targets-new", "root-p2")] {
        let o = run(&[
            "key",
            "show",
            "--token",
            &k.token(fixture),
            "--flavour",
            "notary",
        ]);
        assert!(o.status.success());
        fs::write(dir.join(format!("{name}.json")), &o.stdout).unwrap();
    }
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("ceremony-scripts");
    let mut answers = String::from("[confirm]\ndefault = true\n[secrets]\n");
    let tokens: Vec<String> = (1..=3)
        .map(|i| format!("soft:{}", dir.join(format!("root-{i}.age")).display()))
        .collect();
    for (i, t) in tokens.iter().enumerate() {
        answers.push_str(&format!("{t:?} = \"guided-{i}-passphrase\"\n"));
    }
    let answers_file = dir.join("answers.toml");
    fs::write(&answers_file, answers).unwrap();
    let e1 = dir.join("export-1");
    let mut args: Vec<String> = vec![
        "run".into(),
        p(&scripts.join("root-init.toml")).into(),
        "--workdir".into(),
        p(&dir.join("work-1")).into(),
        "--out".into(),
        p(&e1).into(),
        "--set".into(),
        "flavour=notary".into(),
        "--set".into(),
        format!("repository={gun}"),
        "--allow-network".into(),
        "--answers".into(),
        p(&answers_file).into(),
    ];
    for (i, t) in tokens.iter().enumerate() {
        args.push("--token".into());
        args.push(format!("root-{}={t}", i + 1));
    }
    for role in ["targets", "snapshot", "timestamp"] {
        args.push("--key".into());
        args.push(format!(
            "{role}=keyfile:{}",
            p(&dir.join(format!("{role}.json")))
        ));
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&refs);
    let expires = format!("{}T00:00:00Z", next_year());
    let upload = |root: &Path, targets: &[u8], name: &str| {
        let t = dir.join(name);
        fs::write(&t, targets).unwrap();
        let o = server.curl(&[
            "-s",
            "-w",
            "\n%{http_code}",
            "-F",
            &format!("files=@{};filename=root", p(root)),
            "-F",
            &format!("files=@{};filename=targets", p(&t)),
            &server.url(&format!("/v2/{gun}/_trust/tuf/")),
        ]);
        let body = text(&o);
        assert!(body.trim_end().ends_with("200"), "upload refused: {body}");
    };
    upload(
        &e1.join("root.json"),
        &notary_targets_version(&k.token("targets"), &expires, 1),
        "t1.json",
    );
    let client = server.client("guided");
    let o = client.run(&["list", gun]);
    assert!(o.status.success(), "notary list failed: {}", text(&o));
    let cached = client.trust.join(format!("tuf/{gun}/metadata/root.json"));
    assert_eq!(
        fs::read(&cached).unwrap(),
        fs::read(e1.join("1.root.json")).unwrap()
    );
    // The tagging key leaks: the responder's ceremony.
    let old_targets = {
        let v: Value = serde_json::from_slice(&fs::read(e1.join("root.json")).unwrap()).unwrap();
        v["signed"]["roles"]["targets"]["keyids"][0]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let e2 = dir.join("export-2");
    let (script2, work2, trusted, targets_new) = (
        scripts.join("revoke-tagging-key.toml"),
        dir.join("work-2"),
        e1.join("1.root.json"),
        dir.join("targets-new.json"),
    );
    let refs = [
        "run",
        p(&script2),
        "--workdir",
        p(&work2),
        "--out",
        p(&e2),
        "--set",
        "flavour=notary",
        "--set",
        &format!("repository={gun}"),
        "--current",
        p(&e1),
        "--trusted",
        p(&trusted),
        "--revoke",
        &old_targets,
        "--key",
        &format!("targets-new=keyfile:{}", p(&targets_new)),
        "--token",
        &format!("root-1={}", tokens[0]),
        "--token",
        &format!("root-2={}", tokens[2]),
        "--allow-network",
        "--answers",
        p(&answers_file),
    ];
    ok(&refs);
    upload(
        &e2.join("root.json"),
        &notary_targets_version(&k.token("root-p2"), &expires, 2),
        "t2.json",
    );
    let o = client.run(&["list", gun]);
    assert!(
        o.status.success(),
        "notary list after the revocation failed: {}",
        text(&o)
    );
    assert_eq!(
        fs::read(&cached).unwrap(),
        fs::read(e2.join("2.root.json")).unwrap(),
        "the client followed the new root"
    );
    // A client that trusted the old root refuses targets signed with the revoked key.
    let stale = dir.join("stale-targets.json");
    fs::write(
        &stale,
        notary_targets_version(&k.token("targets"), &expires, 3),
    )
    .unwrap();
    let o = server.curl(&[
        "-s",
        "-w",
        "\n%{http_code}",
        "-F",
        &format!("files=@{};filename=targets", p(&stale)),
        &server.url(&format!("/v2/{gun}/_trust/tuf/")),
    ]);
    let body = text(&o);
    assert!(
        !body.trim_end().ends_with("200"),
        "the server accepted targets signed with the revoked key: {body}"
    );
}

// ---------------------------------------------------------------------------
// The whole loop across the air gap, judged by the real Notary server and client:
// request (online) → ceremony on SoftHSM (offline) → publish (online).

struct Loop<'a> {
    server: &'a NotaryServer,
    hsm: SoftHsm,
    dir: PathBuf,
    gun: String,
    pins: Vec<(String, String)>,
    keystore: PathBuf,
    pass_file: PathBuf,
}

impl Loop<'_> {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn request(&self, name: &str, extra: &[&str]) -> String {
        let url = self.server.url("");
        let ca = self.server.ca();
        let mut args = vec![
            "request",
            "--flavour",
            "notary",
            "--repository",
            &self.gun,
            "--server",
            &url,
            "--server-ca",
            p(&ca),
            "--keystore",
            p(&self.keystore),
            "--passphrase-file",
            p(&self.pass_file),
        ];
        let out = self.path(name);
        args.extend(["--out", p(&out)]);
        args.extend(extra);
        ok(&args)
    }

    fn ceremony(
        &self,
        script: &str,
        work: &str,
        out: &str,
        request: &str,
        extra: &[String],
    ) -> String {
        let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("ceremony-scripts");
        let mut answers = String::from("[confirm]\ndefault = true\n[secrets]\n");
        for (uri, pin) in &self.pins {
            answers.push_str(&format!("{uri:?} = {pin:?}\n"));
        }
        let answers_file = self.path(&format!("{work}-answers.toml"));
        fs::write(&answers_file, answers).unwrap();
        let mut args: Vec<String> = vec![
            p(&scripts.join(script)).into(),
            "--workdir".into(),
            p(&self.path(work)).into(),
            "--out".into(),
            p(&self.path(out)).into(),
            "--request".into(),
            p(&self.path(request)).into(),
            "--allow-network".into(),
            "--answers".into(),
            p(&answers_file).into(),
        ];
        args.extend(extra.iter().cloned());
        let o = self.hsm.run(&args);
        assert!(o.status.success(), "ceremony {script} failed: {}", text(&o));
        text(&o)
    }

    /// `keystore export --format notary` of the key `keyid` to `out`, under the
    /// passphrase the stock client is given (written to the file `pass_name`).
    fn export_key(&self, keyid: &str, out: &Path, pass_name: &str) -> String {
        let pass = self.path(pass_name);
        fs::write(&pass, "targets-fixture-passphrase\n").unwrap();
        ok(&[
            "keystore",
            "export",
            "--keystore",
            p(&self.keystore),
            "--repository",
            &self.gun,
            "--key",
            &keyid[..12],
            "--format",
            "notary",
            "--out",
            p(out),
            "--passphrase-file",
            p(&self.pass_file),
            "--new-passphrase-file",
            p(&pass),
        ])
    }

    fn publish(&self, bundle: &str, extra: &[&str]) -> std::process::Output {
        let url = self.server.url("");
        let ca = self.server.ca();
        let b = self.path(bundle);
        let mut args = vec![
            "publish",
            p(&b),
            "--notary",
            &url,
            "--server-ca",
            p(&ca),
            "--repository",
            &self.gun,
            "--keystore",
            p(&self.keystore),
            "--passphrase-file",
            p(&self.pass_file),
        ];
        args.extend(extra);
        run(&args)
    }
}

fn root_keyids(export: &Path, role: &str) -> Vec<String> {
    let v: Value = serde_json::from_slice(&fs::read(export.join("root.json")).unwrap()).unwrap();
    v["signed"]["roles"][role]["keyids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn request_ceremony_publish_with_the_real_notary_server_and_client() {
    let server = NotaryServer::start();
    let d = tempfile::tempdir().unwrap();
    let hsm = SoftHsm::new();
    let mut pins = Vec::new();
    for (i, label) in ["root-1", "root-2", "root-3", "root-4"].iter().enumerate() {
        let pin = format!("{}{}", 582_113 + i * 577, "9");
        hsm.init(label, &pin);
        pins.push((format!("pkcs11:token={label};object=root-key"), pin));
    }
    let pass_file = d.path().join("online-passphrase");
    fs::write(&pass_file, "online key store fixture passphrase 51d2\n").unwrap();
    let l = Loop {
        server: &server,
        hsm,
        dir: d.path().to_owned(),
        gun: "example.com/ceremony/loop".into(),
        pins,
        keystore: d.path().join("keystore"),
        pass_file,
    };
    let tokens = |names: &[(&str, usize)]| -> Vec<String> {
        names
            .iter()
            .flat_map(|(k, i)| ["--token".to_owned(), format!("{k}={}", l.pins[*i].0)])
            .collect()
    };

    // 1. A new repository: a tagging key in the online key store, the timestamp and
    //    snapshot keys held by the server.
    let out = l.request("request-1", &["--new-key", "targets"]);
    assert!(out.contains("current root chain: none"), "{out}");
    assert!(out.contains("timestamp: held by the server"), "{out}");
    l.ceremony(
        "root-init.toml",
        "work-1",
        "export-1",
        "request-1",
        &tokens(&[("root-1", 0), ("root-2", 1), ("root-3", 2)]),
    );
    let e1 = l.path("export-1");
    let manifest_hash = {
        let o = ok(&["bundle-verify", p(&e1)]);
        o.lines()
            .find_map(|line| line.strip_prefix("bundle hash: "))
            .unwrap()
            .to_owned()
    };
    // The first publish must be told that this is a new repository.
    let o = l.publish("export-1", &[]);
    assert!(!o.status.success());
    assert!(text(&o).contains("--first-root"), "{}", text(&o));
    let artifact = l.path("app-1.0.tar");
    fs::write(&artifact, b"release 1.0 of the app").unwrap();
    let o = l.publish(
        "export-1",
        &[
            "--first-root",
            "--expect-bundle",
            &manifest_hash,
            "--add-target",
            &format!("v1.0={}", p(&artifact)),
        ],
    );
    assert!(o.status.success(), "publish failed: {}", text(&o));
    let client = server.client("loop");
    let o = client.run(&["list", &l.gun]);
    assert!(o.status.success(), "notary list failed: {}", text(&o));
    assert!(text(&o).contains("v1.0"), "{}", text(&o));
    let cached = client
        .trust
        .join(format!("tuf/{}/metadata/root.json", l.gun));
    assert_eq!(
        fs::read(&cached).unwrap(),
        fs::read(e1.join("1.root.json")).unwrap()
    );

    // 2. The tagging key leaks. The attacker takes it into the stock Notary client
    //    and publishes a build of their own with it (targets.json version 2),
    //    indistinguishable on the server from the publisher's own.
    let old_targets = root_keyids(&e1, "targets")[0].clone();
    let leaked = l.path("leaked-tagging-key.pem");
    l.export_key(&old_targets, &leaked, "attacker-passphrase");
    let attacker = server.client("attacker");
    let o = attacker.run(&["key", "import", p(&leaked)]);
    assert!(o.status.success(), "notary key import: {}", text(&o));
    let evil = l.path("evil.tar");
    fs::write(&evil, b"the attacker's build").unwrap();
    let o = attacker.run(&["add", &l.gun, "v1.0-hotfix", p(&evil)]);
    assert!(o.status.success(), "notary add: {}", text(&o));
    let o = attacker.run(&["publish", &l.gun]);
    assert!(
        o.status.success(),
        "the attacker's notary publish: {}",
        text(&o)
    );

    // The responder asks for a replacement, the old key named. The request reviews
    // the current targets from the server's history: each with the version it was
    // added in, when, and the key that signed it.
    let out = l.request(
        "request-2",
        &["--new-key", "targets", "--revoke", &old_targets],
    );
    assert!(out.contains("current root chain: versions 1 to 1"), "{out}");
    assert!(
        out.contains("targets review: 2 target(s) of targets.json version 2"),
        "{out}"
    );
    let review: Value =
        serde_json::from_slice(&fs::read(l.path("request-2").join("targets-review.json")).unwrap())
            .unwrap();
    let reviewed = |name: &str| -> Value {
        review["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("{name} reviewed: {review}"))
            .clone()
    };
    assert_eq!(reviewed("v1.0")["since_version"], 1, "{review}");
    assert_eq!(reviewed("v1.0-hotfix")["since_version"], 2, "{review}");
    for name in ["v1.0", "v1.0-hotfix"] {
        assert_eq!(
            reviewed(name)["signed_by"],
            json!([old_targets]),
            "{review}"
        );
        assert_eq!(reviewed(name)["by_revoked_key"], true, "{review}");
        assert!(reviewed(name)["published"].is_string(), "{review}");
    }
    // Nothing is re-signed without a decision: the ceremony refuses before it
    // starts, listing each target and where it came from.
    let work_undecided = l.path("work-undecided");
    let o = l.hsm.run(&[
        p(&Path::new(env!("CARGO_MANIFEST_DIR")).join("ceremony-scripts/revoke-tagging-key.toml"))
            .to_owned(),
        "--workdir".into(),
        p(&work_undecided).into(),
        "--out".into(),
        p(&l.path("export-undecided")).into(),
        "--request".into(),
        p(&l.path("request-2")).into(),
        "--allow-network".into(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("undecided: v1.0 (sha256")
            && text(&o).contains("v1.0-hotfix (sha256")
            && text(&o).contains("listed since targets version 2")
            && text(&o).contains("THE KEY BEING REVOKED"),
        "{}",
        text(&o)
    );
    assert!(!work_undecided.exists());
    // The room keeps what was there before the attacker's version.
    let ceremony_out = l.ceremony(
        "revoke-tagging-key.toml",
        "work-2",
        "export-2",
        "request-2",
        &[
            &[
                "--trusted".to_owned(),
                p(&e1.join("1.root.json")).to_owned(),
                "--keep-targets-before".to_owned(),
                "2".to_owned(),
            ][..],
            &tokens(&[("root-1", 0), ("root-2", 2)]),
        ]
        .concat(),
    );
    assert!(
        ceremony_out.contains("kept: v1.0 (sha256")
            && ceremony_out.contains("dropped: v1.0-hotfix (sha256"),
        "{ceremony_out}"
    );
    let e2 = l.path("export-2");
    assert!(!root_keyids(&e2, "targets").contains(&old_targets));
    // The transcript names what was kept and what was dropped.
    let decided = fs::read_to_string(e2.join("transcript.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|e| e["data"].get("targets_decision").is_some())
        .expect("the decision is in the transcript");
    assert_eq!(
        decided["data"]["targets_decision"]["dropped"][0]["name"],
        "v1.0-hotfix"
    );
    assert_eq!(
        decided["data"]["targets_decision"]["kept"][0]["name"],
        "v1.0"
    );
    let artifact2 = l.path("app-1.1.tar");
    fs::write(&artifact2, b"release 1.1 of the app").unwrap();
    // Publish cannot keep what the room dropped; the refusal publishes nothing.
    let o = l.publish(
        "export-2",
        &[
            "--add-target",
            &format!("v1.1={}", p(&artifact2)),
            "--keep-target",
            "v1.0-hotfix",
        ],
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("cannot add to it") && text(&o).contains("nothing was published"),
        "{}",
        text(&o)
    );
    let served = server.curl(&[
        "-sf",
        &server.url(&format!("/v2/{}/_trust/tuf/root.json", l.gun)),
    ]);
    assert_eq!(served.stdout, fs::read(e1.join("1.root.json")).unwrap());
    let o = l.publish(
        "export-2",
        &["--add-target", &format!("v1.1={}", p(&artifact2))],
    );
    assert!(o.status.success(), "publish failed: {}", text(&o));
    assert!(
        text(&o).contains("kept 1 target(s) from targets.json version 2, re-signed: v1.0")
            && text(&o).contains("dropped 1 target(s) from targets.json version 2: v1.0-hotfix"),
        "{}",
        text(&o)
    );
    let o = client.run(&["list", &l.gun]);
    assert!(
        o.status.success(),
        "notary list after the revocation: {}",
        text(&o)
    );
    assert!(
        text(&o).contains("v1.0") && text(&o).contains("v1.1"),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains("v1.0-hotfix"), "{}", text(&o));
    // A fresh client, too, sees only what was kept.
    let fresh = server.client("fresh-after-revocation");
    let o = fresh.run(&["list", &l.gun]);
    assert!(
        o.status.success() && text(&o).contains("v1.1") && !text(&o).contains("v1.0-hotfix"),
        "{}",
        text(&o)
    );
    // The leaked key can no longer publish.
    let o = attacker.run(&["add", &l.gun, "v9-evil", p(&evil)]);
    assert!(o.status.success(), "{}", text(&o));
    let o = attacker.run(&["publish", &l.gun]);
    assert!(
        !o.status.success(),
        "the leaked key still publishes: {}",
        text(&o)
    );
    assert_eq!(
        fs::read(&cached).unwrap(),
        fs::read(e2.join("2.root.json")).unwrap()
    );
    // The publisher takes the new tagging key into the stock Notary client and
    // publishes with it: `keystore export --format notary`, `notary key import`,
    // `notary add` and `notary publish` (which decrypts the key with the new
    // passphrase and signs targets.json with it); a fresh client lists the target.
    let new_targets = root_keyids(&e2, "targets")[0].clone();
    let handed = l.path("tagging-key.pem");
    let out = l.export_key(&new_targets, &handed, "export-passphrase");
    assert!(out.contains(&new_targets), "{out}");
    let pem = fs::read_to_string(&handed).unwrap();
    assert!(
        pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
            && pem.contains(&format!("path: {new_targets}\n")),
        "{pem}"
    );
    let o = client.run(&["key", "import", p(&handed)]);
    assert!(o.status.success(), "notary key import: {}", text(&o));
    let o = client.run(&["key", "list"]);
    assert!(
        text(&o).contains(&new_targets) && text(&o).contains(&l.gun),
        "{}",
        text(&o)
    );
    let artifact3 = l.path("app-1.2.tar");
    fs::write(
        &artifact3,
        b"release 1.2, published by the publisher's own client",
    )
    .unwrap();
    let o = client.run(&["add", &l.gun, "v1.2", p(&artifact3)]);
    assert!(o.status.success(), "notary add: {}", text(&o));
    let o = client.run(&["publish", &l.gun]);
    assert!(
        o.status.success(),
        "notary publish with the exported key: {}",
        text(&o)
    );
    let fresh = server.client("fresh-after-publisher");
    let o = fresh.run(&["list", &l.gun]);
    assert!(
        o.status.success() && text(&o).contains("v1.2") && text(&o).contains("v1.1"),
        "{}",
        text(&o)
    );
    // A wrong passphrase for the export file is refused by Notary's own decoder.
    let o = Command::new("notary")
        .arg("-c")
        .arg(&client.config)
        .args(["key", "passwd", &new_targets])
        .env("NOTARY_TARGETS_PASSPHRASE", "not the export passphrase")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", text(&o));

    // Metadata signed with the revoked key is refused.
    let old_key = fs::read_dir(l.keystore.join("example.com%2Fceremony%2Floop"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.starts_with(&format!("targets-{}", &old_targets[..16])) && n.ends_with(".age")
        })
        .expect("the old tagging key is still in the store");
    let stale = l.path("stale-targets.json");
    fs::write(
        &stale,
        signed_targets(
            &old_key,
            &l.pass_file,
            &format!("{}T00:00:00Z", next_year()),
            3,
        ),
    )
    .unwrap();
    let o = server.curl(&[
        "-s",
        "-w",
        "\n%{http_code}",
        "-F",
        &format!("files=@{};filename=targets", p(&stale)),
        &server.url(&format!("/v2/{}/_trust/tuf/", l.gun)),
    ]);
    assert!(
        !text(&o).trim_end().ends_with("200"),
        "the server accepted targets signed with the revoked key: {}",
        text(&o)
    );
    let o = client.run(&["list", &l.gun]);
    assert!(text(&o).contains("v1.1"), "{}", text(&o));

    // 3. A root-key rotation: a new root key joins on a fourth token.
    l.request("request-3", &[]);
    l.ceremony(
        "root-rotate.toml",
        "work-3",
        "export-3",
        "request-3",
        &[
            &[
                "--trusted".to_owned(),
                p(&e2.join("2.root.json")).to_owned(),
            ][..],
            &tokens(&[("root-1", 0), ("root-2", 2), ("root-new", 3)]),
        ]
        .concat(),
    );
    let o = l.publish("export-3", &["--keep-all-targets"]);
    assert!(o.status.success(), "publish failed: {}", text(&o));
    let o = client.run(&["list", &l.gun]);
    assert!(
        o.status.success(),
        "notary list after the rotation: {}",
        text(&o)
    );
    assert!(text(&o).contains("v1.1"), "{}", text(&o));
    let e3 = l.path("export-3");
    assert_eq!(
        fs::read(&cached).unwrap(),
        fs::read(e3.join("3.root.json")).unwrap()
    );
    assert_eq!(root_keyids(&e3, "root").len(), 4);

    // 4. Publishing the same bundle again, or an older one, changes nothing.
    for (bundle, needle) in [
        ("export-3", "nothing new to publish"),
        ("export-2", "rollback"),
    ] {
        let o = l.publish(bundle, &[]);
        assert!(!o.status.success());
        assert!(text(&o).contains(needle), "{bundle}: {}", text(&o));
    }
    let served = server.curl(&[
        "-sf",
        &server.url(&format!("/v2/{}/_trust/tuf/root.json", l.gun)),
    ]);
    assert_eq!(served.stdout, fs::read(e3.join("3.root.json")).unwrap());

    // No PIN and no passphrase in anything any step wrote or printed.
    let mut everything = String::new();
    for e in [
        "export-1",
        "export-2",
        "export-3",
        "request-1",
        "request-2",
        "request-3",
    ] {
        for f in walk(&l.path(e)) {
            everything.push_str(&String::from_utf8_lossy(&fs::read(f).unwrap()));
        }
    }
    for (_, pin) in &l.pins {
        assert!(!everything.contains(pin.as_str()), "a PIN leaked");
    }
    assert!(!everything.contains("online key store fixture passphrase"));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The TUF side of the loop, judged by python-tuf's ngclient `Updater`: the online
/// repository (python-tuf, its own online keys) asks for ceremonies, publishes what
/// they export to its metadata directory, and a client that trusts only root
/// version 1 updates through every root version over HTTP on loopback. Chains with
/// a missing or forged intermediate root are refused.
#[test]
fn python_tuf_updater_follows_every_root_we_publish_to_a_tuf_repository() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let py = |args: &[&str]| -> std::process::Output {
        Command::new(python())
            .arg(interop_script("tuf_online.py"))
            .args(args)
            .output()
            .unwrap()
    };
    let must = |o: std::process::Output| -> String {
        assert!(o.status.success(), "tuf_online.py failed: {}", text(&o));
        text(&o)
    };
    let online1 = dir.join("online-1");
    let online2 = dir.join("online-2");
    must(py(&[
        "keys",
        p(&online1),
        "targets",
        "snapshot",
        "timestamp",
    ]));
    must(py(&["keys", p(&online2), "targets"]));
    let repo = dir.join("repo");
    let meta = repo.join("metadata");
    let repo_name = "example.com/tuf-loop";
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("ceremony-scripts");
    let tokens: Vec<String> = (1..=4)
        .map(|i| format!("soft:{}", dir.join(format!("root-{i}.age")).display()))
        .collect();
    let mut answers = String::from("[confirm]\ndefault = true\n[secrets]\n");
    for (i, t) in tokens.iter().enumerate() {
        answers.push_str(&format!("{t:?} = \"tuf-loop-{i}-passphrase\"\n"));
    }
    let answers_file = dir.join("answers.toml");
    fs::write(&answers_file, answers).unwrap();
    let ceremony = |script: &str, n: usize, extra: &[String]| {
        let mut args: Vec<String> = vec![
            "run".into(),
            p(&scripts.join(script)).into(),
            "--workdir".into(),
            p(&dir.join(format!("work-{n}"))).into(),
            "--out".into(),
            p(&dir.join(format!("export-{n}"))).into(),
            "--request".into(),
            p(&dir.join(format!("request-{n}"))).into(),
            "--allow-network".into(),
            "--answers".into(),
            p(&answers_file).into(),
        ];
        args.extend(extra.iter().cloned());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(&refs);
        dir.join(format!("export-{n}"))
    };
    let keyfile =
        |d: &Path, role: &str| format!("{role}=keyfile:{}", p(&d.join(format!("{role}.json"))));
    let token_args = |pairs: &[(&str, usize)]| -> Vec<String> {
        pairs
            .iter()
            .flat_map(|(k, i)| ["--token".to_owned(), format!("{k}={}", tokens[*i])])
            .collect()
    };

    // 1. A new repository.
    ok(&[
        "request",
        "--repository",
        repo_name,
        "--out",
        p(&dir.join("request-1")),
        "--key",
        &keyfile(&online1, "targets"),
        "--key",
        &keyfile(&online1, "snapshot"),
        "--key",
        &keyfile(&online1, "timestamp"),
    ]);
    let e1 = ceremony(
        "root-init.toml",
        1,
        &token_args(&[("root-1", 0), ("root-2", 1), ("root-3", 2)]),
    );
    ok(&["publish", p(&e1), "--tuf-repo", p(&meta), "--first-root"]);
    must(py(&["sign-top", p(&meta), p(&online1)]));

    // 2. A root-key rotation (a fourth key joins).
    ok(&[
        "request",
        "--repository",
        repo_name,
        "--out",
        p(&dir.join("request-2")),
        "--current",
        p(&meta),
    ]);
    let trusted = vec![
        "--trusted".to_owned(),
        p(&e1.join("1.root.json")).to_owned(),
    ];
    let e2 = ceremony(
        "root-rotate.toml",
        2,
        &[
            trusted.clone(),
            token_args(&[("root-1", 0), ("root-2", 1), ("root-new", 3)]),
        ]
        .concat(),
    );
    ok(&["publish", p(&e2), "--tuf-repo", p(&meta)]);
    must(py(&["sign-top", p(&meta), p(&online1)]));

    // 3. The tagging key leaks: the online side's replacement, the old key named.
    let old_targets = root_keyids(&meta, "targets")[0].clone();
    ok(&[
        "request",
        "--repository",
        repo_name,
        "--out",
        p(&dir.join("request-3")),
        "--current",
        p(&meta),
        "--key",
        &keyfile(&online2, "targets"),
        "--revoke",
        &old_targets,
    ]);
    let e3 = ceremony(
        "revoke-tagging-key.toml",
        3,
        &[trusted, token_args(&[("root-1", 0), ("root-2", 1)])].concat(),
    );
    ok(&["publish", p(&e3), "--tuf-repo", p(&meta)]);
    must(py(&["sign-top", p(&meta), p(&online1), p(&online2)]));
    for v in 1..=3 {
        assert!(meta.join(format!("{v}.root.json")).is_file());
    }

    // The judge: a client that trusts version 1 follows the chain over HTTP.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut http = Command::new(python())
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
            "--directory",
            p(&repo),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let serve = |sub: &str| format!("http://127.0.0.1:{port}/{sub}");
    let update = |sub: &str, n: &str| {
        py(&[
            "update",
            &serve(sub),
            p(&e1.join("1.root.json")),
            p(&dir.join(n)),
        ])
    };
    let o = update("metadata", "client-1");
    let verdict = text(&o);
    // Variants of the repository: one without 2.root.json, one with it forged.
    let missing = repo.join("missing");
    let forged = repo.join("forged");
    for (variant, change) in [(&missing, "drop"), (&forged, "forge")] {
        fs::create_dir_all(variant).unwrap();
        for f in fs::read_dir(&meta).unwrap() {
            let f = f.unwrap().path();
            fs::copy(&f, variant.join(f.file_name().unwrap())).unwrap();
        }
        let two = variant.join("2.root.json");
        if change == "drop" {
            fs::remove_file(&two).unwrap();
        } else {
            let mut v: Value = serde_json::from_slice(&fs::read(&two).unwrap()).unwrap();
            v["signed"]["expires"] = json!("2099-01-01T00:00:00Z");
            fs::write(&two, serde_json::to_vec(&v).unwrap()).unwrap();
        }
    }
    let o_missing = update("missing", "client-2");
    let o_forged = update("forged", "client-3");
    let _ = http.kill();
    let _ = http.wait();
    assert!(
        o.status.success(),
        "python-tuf refused our chain: {verdict}"
    );
    assert!(verdict.contains("ACCEPTED root version 3"), "{verdict}");
    assert!(
        !o_missing.status.success(),
        "a chain without 2.root.json was accepted: {}",
        text(&o_missing)
    );
    assert!(
        text(&o_missing).contains("REFUSED UnsignedMetadataError: targets was signed by 0/1 keys"),
        "{}",
        text(&o_missing)
    );
    assert!(
        !o_forged.status.success(),
        "a forged 2.root.json was accepted: {}",
        text(&o_forged)
    );
    assert!(
        text(&o_forged).contains("REFUSED UnsignedMetadataError: root was signed by 0/2 keys"),
        "{}",
        text(&o_forged)
    );
}
