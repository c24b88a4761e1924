//! The batch benchmark harness and its fixture maker (see docs/performance.md).
//!
//!   ceremony-bench synth --out REQ --repositories N --root REF... [--threshold T]
//!       A request bundle of N synthetic TUF repositories whose current roots are
//!       signed by the given root tokens, all listing one compromised targets key,
//!       each with its own snapshot and timestamp keys and expiry, all with one
//!       replacement (as `ceremony request` gives several repositories). `--forge-at I` breaks repository I's signatures;
//!       `--unlisted-at I` leaves the compromised key out of repository I;
//!       `--replaced-at I` lists the replacement in repository I's root already.
//!       `--flavour notary` makes Notary roots: each root key a certificate for the
//!       repository's GUN made on its token (P-256 root keys), P-256 online keys.
//!
//!   ceremony-bench run [--n 1000 --n 10000] [--repeat 3]
//!       SoftHSM tokens made on the spot; for each N, side by side: the raw signing
//!       floor (one session per token, and for reference as many as the ceremony
//!       uses), the batch ceremony, python-tuf's Metadata API (software keys; and, if
//!       PyKCS11 is installed, the same SoftHSM keys, without and with the checks the
//!       ceremony makes), a tuftool script (if tuftool is installed); then a
//!       1,000-version chain verified by us and by python-tuf.
//!       Prints the figures and ratios: the median of `--repeat` runs of each
//!       (tuftool, which takes minutes, runs once).
//!
//!   ceremony-bench rehearse [--repeat 5]
//!       `ceremony rehearse --yes` (the README's first command), its wall time and
//!       peak memory, side by side with `ceremony key generate` of one `soft:` key
//!       at age's default work factor (what each of the rehearsal's keys would cost
//!       without the rehearsal's low one). The median of `--repeat` runs of each.

use ceremony::cli::SecretArgs;
use ceremony::commands::open_signer;
use ceremony::keys::Algorithm;
use ceremony::online::request::{NewRepository, write};
use ceremony::tokens::Signer;
use ceremony::tokens::soft::GeneratedKey;
use ceremony::tuf::document::RootDocument;
use ceremony::tuf::key::{key_id, notary_key, notary_x509_key, tuf_key};
use ceremony::tuf::metadata::{Flavour, Key, RoleKeys, Root, SPEC_VERSION};
use ceremony::tuf::notary::build_root_certificate;
use ceremony::tuf::sign::sign_root;
use ceremony::tuf::time::format_expires;
use serde_json::Map;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("synth") => synth(&args[1..]),
        Some("run") => run(&args[1..]),
        Some("floor") => floor(&args[1..]),
        Some("rehearse") => rehearse(&args[1..]),
        _ => Err(
            "usage: ceremony-bench synth … | ceremony-bench run [--n N]… | ceremony-bench rehearse [--repeat N]"
                .into(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type R<T> = Result<T, String>;

fn values(args: &[String], flag: &str) -> Vec<String> {
    args.windows(2)
        .filter(|w| w[0] == flag)
        .map(|w| w[1].clone())
        .collect()
}

fn value(args: &[String], flag: &str) -> Option<String> {
    values(args, flag).into_iter().next()
}

fn role(keyids: Vec<String>, threshold: u64) -> RoleKeys {
    RoleKeys {
        keyids,
        threshold,
        unknown: Map::new(),
    }
}

fn synth(args: &[String]) -> R<()> {
    let out = PathBuf::from(value(args, "--out").ok_or("--out DIR")?);
    let n: usize = value(args, "--repositories")
        .ok_or("--repositories N")?
        .parse()
        .map_err(|e| format!("--repositories: {e}"))?;
    let roots = values(args, "--root");
    let threshold: u64 = value(args, "--threshold")
        .map(|t| t.parse().map_err(|e| format!("--threshold: {e}")))
        .transpose()?
        .unwrap_or(roots.len() as u64);
    let forge: Vec<usize> = values(args, "--forge-at")
        .iter()
        .filter_map(|v| v.parse().ok())
        .collect();
    let unlisted: Vec<usize> = values(args, "--unlisted-at")
        .iter()
        .filter_map(|v| v.parse().ok())
        .collect();
    let replaced: Vec<usize> = values(args, "--replaced-at")
        .iter()
        .filter_map(|v| v.parse().ok())
        .collect();
    let flavour = match value(args, "--flavour").as_deref() {
        None | Some("tuf") => Flavour::Tuf,
        Some("notary") => Flavour::Notary,
        Some(other) => return Err(format!("--flavour {other}: tuf or notary")),
    };
    let secrets = SecretArgs {
        passphrase_file: value(args, "--passphrase-file").map(PathBuf::from),
        pin_file: value(args, "--pin-file").map(PathBuf::from),
    };
    let mut signers: Vec<Box<dyn Signer>> = Vec::new();
    let registry = ceremony::tokens::pkcs11::registry::Registry::default();
    for r in &roots {
        signers.push(open_signer(r, &secrets, &registry).map_err(|e| e.to_string())?);
    }
    let (online_alg, online_key): (Algorithm, fn(&ceremony::keys::PublicKey) -> Key) = match flavour
    {
        Flavour::Tuf => (Algorithm::Ed25519, tuf_key),
        Flavour::Notary => (Algorithm::EcdsaP256, notary_key),
    };
    let online = || {
        online_key(
            &GeneratedKey::generate(online_alg)
                .expect("software keys of this algorithm")
                .public(),
        )
    };
    let compromised = online();
    let compromised_id = key_id(&compromised, flavour);
    let other_targets = online();
    let replacement = online();
    let now = chrono::Utc::now();
    let mut repos = Vec::with_capacity(n);
    for i in 0..n {
        // Like real repositories, each has its own snapshot and timestamp keys and
        // its own expiry: no two current roots are the same.
        let snapshot = online();
        let timestamp = online();
        let name = format!("example.com/bench/repo-{i:05}");
        let expires =
            format_expires(now + chrono::Duration::days(365) + chrono::Duration::seconds(i as i64));
        let mut keys: BTreeMap<String, Key> = BTreeMap::new();
        let mut root_ids = Vec::new();
        for s in signers.iter_mut() {
            let k = match flavour {
                Flavour::Tuf => tuf_key(s.public_key()),
                Flavour::Notary => {
                    let cert = build_root_certificate(
                        &name,
                        s.as_mut(),
                        now - chrono::Duration::days(1),
                        now + chrono::Duration::days(3650),
                    )
                    .map_err(|e| format!("{name}: root certificate: {e}"))?;
                    notary_x509_key(&cert.pem)
                }
            };
            let id = key_id(&k, flavour);
            keys.insert(id.clone(), k);
            root_ids.push(id);
        }
        let targets = if unlisted.contains(&i) {
            &other_targets
        } else {
            &compromised
        };
        let mut roles = BTreeMap::new();
        roles.insert("root".to_owned(), role(root_ids, threshold));
        for (name, k) in [
            ("targets", targets),
            ("snapshot", &snapshot),
            ("timestamp", &timestamp),
        ] {
            let id = key_id(k, flavour);
            keys.insert(id.clone(), k.clone());
            roles.insert(name.to_owned(), role(vec![id], 1));
        }
        if replaced.contains(&i) {
            // The replacement already signs targets here, beside the compromised key.
            let id = key_id(&replacement, flavour);
            keys.insert(id.clone(), replacement.clone());
            if let Some(r) = roles.get_mut("targets") {
                r.keyids.push(id);
            }
        }
        let root = Root {
            type_name: flavour.type_name("root"),
            spec_version: (flavour == Flavour::Tuf).then(|| SPEC_VERSION.into()),
            consistent_snapshot: Some(false),
            version: 1,
            expires: expires.clone(),
            keys,
            roles,
            unknown: Map::new(),
        };
        let mut doc = RootDocument::draft(root, &name).map_err(|e| e.to_string())?;
        for s in signers.iter_mut() {
            sign_root(&mut doc, s.as_mut(), None).map_err(|e| e.to_string())?;
        }
        let mut bytes = doc.to_json().map_err(|e| e.to_string())?;
        if forge.contains(&i) {
            // Same signatures over other content: no longer signed by anyone.
            let text = String::from_utf8(bytes).map_err(|e| e.to_string())?;
            bytes = text
                .replacen(&expires, "2099-12-31T00:00:00Z", 1)
                .into_bytes();
        }
        let mut repo_keys = BTreeMap::new();
        repo_keys.insert("targets".to_owned(), replacement.clone());
        repos.push(NewRepository {
            repository: name,
            current: vec![(1, bytes)],
            keys: repo_keys,
            revoke: vec![compromised_id.clone()],
            targets_review: None,
        });
    }
    let bundle = write(&out, flavour, &repos).map_err(|e| e.to_string())?;
    println!("request bundle {} with {n} repositories", out.display());
    println!("compromised targets key: {compromised_id}");
    println!("bundle hash: {}", bundle.hash());
    Ok(())
}

// ---------------------------------------------------------------------------
// The benchmark.

const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "246813"; // a disposable benchmark token's PIN

struct Hsm {
    dir: PathBuf,
    conf: PathBuf,
}

impl Hsm {
    fn new(dir: &Path) -> R<Hsm> {
        let tokens = dir.join("tokens");
        std::fs::create_dir_all(&tokens).map_err(|e| e.to_string())?;
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .map_err(|e| e.to_string())?;
        Ok(Hsm {
            dir: dir.to_owned(),
            conf,
        })
    }

    fn cmd(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        c.env("SOFTHSM2_CONF", &self.conf)
            .env("CEREMONY_PKCS11_MODULE", SOFTHSM_MODULE);
        c
    }
}

fn sh(c: &mut Command) -> R<String> {
    // Named by its program only: some commands carry a token's PIN in their
    // arguments (softhsm2-util knows no other way).
    let name = c.get_program().to_string_lossy().into_owned();
    let o = c.output().map_err(|e| format!("{name}: {e}"))?;
    if !o.status.success() {
        return Err(format!(
            "{name} failed:\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Run a command to completion, measuring wall time and the peak resident memory
/// (the kernel's high-water mark, sampled until it exits).
fn measure(c: &mut Command) -> R<(Duration, u64)> {
    let start = Instant::now();
    let mut child = c
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", c.get_program().to_string_lossy()))?;
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status_path)
            && let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kb);
        }
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            if !status.success() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                return Err(format!(
                    "{} failed: {err}",
                    c.get_program().to_string_lossy()
                ));
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((start.elapsed(), peak))
}

fn exe(name: &str) -> PathBuf {
    let me = std::env::current_exe().expect("own path");
    me.with_file_name(name)
}

fn python() -> PathBuf {
    std::env::var_os("CEREMONY_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".venv/bin/python"))
}

fn run(args: &[String]) -> R<()> {
    let mut ns: Vec<usize> = values(args, "--n")
        .iter()
        .map(|v| v.parse().map_err(|e| format!("--n: {e}")))
        .collect::<R<_>>()?;
    if ns.is_empty() {
        ns = vec![1000, 10_000];
    }
    let repeat: usize = value(args, "--repeat")
        .map(|v| v.parse().map_err(|e| format!("--repeat: {e}")))
        .transpose()?
        .unwrap_or(3);
    let ceremony = exe("ceremony");
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("ceremony-scripts");
    let helper = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/tuf_batch.py");
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let hsm = Hsm::new(tmp.path())?;
    let pin_file = tmp.path().join("pin");
    std::fs::write(&pin_file, format!("{PIN}\n")).map_err(|e| e.to_string())?;
    let mut refs = Vec::new();
    for label in ["bench-root-1", "bench-root-2"] {
        sh(Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &hsm.conf)
            .args([
                "--init-token",
                "--free",
                "--label",
                label,
                "--so-pin",
                "13579135",
                "--pin",
                PIN,
            ]))?;
        let r = format!("pkcs11:token={label};object=root");
        sh(hsm.cmd(&ceremony).args([
            "key",
            "generate",
            "--token",
            &r,
            "--algorithm",
            "ed25519",
            "--pin-file",
            pin_file.to_str().unwrap(),
        ]))?;
        refs.push(r);
    }
    println!("machine: {} CPUs; {}", cpus(), cpu_model());
    println!(
        "tokens: SoftHSM2 ({SOFTHSM_MODULE}), two Ed25519 root keys, threshold 2; each figure the median of {repeat} runs"
    );
    let mut peaks = Vec::new();
    for &n in &ns {
        let dir = hsm.dir.join(format!("n{n}"));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let req = dir.join("request");
        let mut c = hsm.cmd(&exe("ceremony-bench"));
        c.args([
            "synth",
            "--out",
            req.to_str().unwrap(),
            "--repositories",
            &n.to_string(),
        ]);
        for r in &refs {
            c.args(["--root", r]);
        }
        c.args(["--pin-file", pin_file.to_str().unwrap()]);
        sh(&mut c)?;

        // The peers, measured in turn `repeat` times (so a slower spell of the
        // machine falls on all of them alike); each figure is the median.
        let sessions = std::thread::available_parallelism()
            .map_or(1, |c| c.get())
            .clamp(1, 4);
        let mut answers = String::from("[confirm]\ndefault = true\n[secrets]\n");
        for r in &refs {
            answers.push_str(&format!("{r:?} = {PIN:?}\n"));
        }
        let answers_file = dir.join("answers.toml");
        std::fs::write(&answers_file, answers).map_err(|e| e.to_string())?;
        let mut ceremony_run = hsm.cmd(&ceremony);
        ceremony_run.args([
            "run",
            scripts.join("revoke-tagging-key.toml").to_str().unwrap(),
            "--workdir",
            dir.join("work").to_str().unwrap(),
            "--out",
            dir.join("export").to_str().unwrap(),
            "--request",
            req.to_str().unwrap(),
            "--token",
            &format!("root-1={}", refs[0]),
            "--token",
            &format!("root-2={}", refs[1]),
            "--allow-network",
            "--answers",
            answers_file.to_str().unwrap(),
        ]);
        let mut py_run = Command::new(python());
        py_run.args([
            helper.to_str().unwrap(),
            "python-tuf",
            req.to_str().unwrap(),
            dir.join("py-out").to_str().unwrap(),
        ]);
        // python-tuf on the same SoftHSM keys, if PyKCS11 is installed.
        let has_pykcs11 = Command::new(python())
            .args(["-c", "import PyKCS11"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        // Signing on the tokens, without and with the checks the ceremony makes
        // (before and after the edit).
        let py_on_tokens = |mode: &str, out: &str| {
            let mut c = hsm.cmd(&python());
            c.args([
                helper.to_str().unwrap(),
                mode,
                req.to_str().unwrap(),
                dir.join(out).to_str().unwrap(),
                SOFTHSM_MODULE,
                pin_file.to_str().unwrap(),
                "bench-root-1",
                "bench-root-2",
            ]);
            c
        };
        let mut py_hsm_run = py_on_tokens("python-tuf-hsm", "py-hsm-out");
        let mut py_checked_run = py_on_tokens("python-tuf-hsm-checked", "py-checked-out");
        let mut peak = 0;
        let (mut floors, mut floors_parallel, mut ourses, mut pys, mut py_hsms, mut py_checkeds) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for _ in 0..repeat.max(1) {
            // 1. The raw floor: only the token's sign, same keys, same count (and,
            // for reference, on as many sessions per token as the ceremony uses).
            floors.push(raw_floor(&hsm, &refs, &pin_file, n, 1)?);
            floors_parallel.push(raw_floor(&hsm, &refs, &pin_file, n, sessions)?);
            // 2. Our batch ceremony, unattended.
            for d in ["work", "export"] {
                let _ = std::fs::remove_dir_all(dir.join(d));
            }
            let (took, p) = measure(&mut ceremony_run)?;
            peak = peak.max(p);
            ourses.push(took);
            // 3. python-tuf's Metadata API: the same edit + sign + write.
            pys.push(measure(&mut py_run)?.0);
            if has_pykcs11 {
                py_hsms.push(measure(&mut py_hsm_run)?.0);
                py_checkeds.push(measure(&mut py_checked_run)?.0);
            }
        }
        let (floor, floor_parallel, ours, py) = (
            median(floors),
            median(floors_parallel),
            median(ourses),
            median(pys),
        );
        peaks.push((n, peak));

        println!();
        println!("N = {n} repositories (2 signatures each)");
        println!(
            "  raw floor (token sign only)   {:>8.2} s   one session per token, as a plain loop",
            floor.as_secs_f64()
        );
        println!(
            "    on {sessions} sessions per token  {:>8.2} s   (for reference: the ceremony signs on {sessions})",
            floor_parallel.as_secs_f64()
        );
        println!(
            "  ceremony batch (unattended)   {:>8.2} s   {:.2}x the floor   peak RSS {} MiB",
            ours.as_secs_f64(),
            ours.as_secs_f64() / floor.as_secs_f64(),
            peak / 1024
        );
        println!(
            "  python-tuf Metadata API       {:>8.2} s   ours is {:.1}x faster   (software keys in the Python process)",
            py.as_secs_f64(),
            py.as_secs_f64() / ours.as_secs_f64()
        );
        if has_pykcs11 {
            let py_hsm = median(py_hsms);
            println!(
                "    with the same SoftHSM keys  {:>8.2} s   ours is {:.1}x faster   (PyKCS11, one session per token)",
                py_hsm.as_secs_f64(),
                py_hsm.as_secs_f64() / ours.as_secs_f64()
            );
            let py_checked = median(py_checkeds);
            println!(
                "    and the ceremony's checks   {:>8.2} s   ours is {:.1}x faster   (each current root verified, each new root by the old and new root keys)",
                py_checked.as_secs_f64(),
                py_checked.as_secs_f64() / ours.as_secs_f64()
            );
        } else {
            println!(
                "    with the same SoftHSM keys  not run: PyKCS11 is not installed (.venv/bin/pip install PyKCS11)"
            );
        }
        match which("tuftool") {
            Some(t) => {
                let took = tuftool_script(&t, &dir.join("tuftool"), n)?;
                println!(
                    "  tuftool root script           {:>8.2} s   ours is {:.1}x faster",
                    took.as_secs_f64(),
                    took.as_secs_f64() / ours.as_secs_f64()
                );
            }
            None => println!(
                "  tuftool root script           not run: tuftool is not installed (cargo install --locked tuftool)"
            ),
        }
    }
    if let (Some((n0, p0)), Some((n1, p1))) = (peaks.first(), peaks.last())
        && n0 != n1
    {
        println!();
        println!(
            "peak memory: {} MiB at N = {n1} vs {} MiB at N = {n0}: {:.2}x",
            p1 / 1024,
            p0 / 1024,
            *p1 as f64 / *p0 as f64
        );
    }

    // 5. A 1,000-version chain: ours and python-tuf's verification.
    let chain = tmp.path().join("chain");
    sh(Command::new(python()).args([
        helper.to_str().unwrap(),
        "make-chain",
        chain.to_str().unwrap(),
        "1000",
    ]))?;
    let (mut ourses, mut pys) = (vec![], vec![]);
    for _ in 0..repeat.max(1) {
        ourses.push(
            measure(Command::new(&ceremony).args([
                "verify",
                "--trusted",
                chain.join("1.root.json").to_str().unwrap(),
                chain.to_str().unwrap(),
            ]))?
            .0,
        );
        pys.push(
            measure(Command::new(python()).args([
                helper.to_str().unwrap(),
                "verify-chain",
                chain.to_str().unwrap(),
            ]))?
            .0,
        );
    }
    let (ours, py) = (median(ourses), median(pys));
    println!();
    println!("verifying a 1,000-version root chain");
    println!(
        "  ceremony verify               {:>8.2} s",
        ours.as_secs_f64()
    );
    println!(
        "  python-tuf                    {:>8.2} s   ours is {:.1}x faster",
        py.as_secs_f64(),
        py.as_secs_f64() / ours.as_secs_f64()
    );
    Ok(())
}

/// The tuftool peer: a shell script running `tuftool root` once per step for each
/// of `n` repositories (copy the current root, remove the compromised targets key,
/// add the replacement, bump the version, set the expiry, sign with both root
/// keys). tuftool has no PKCS#11: its keys are software Ed25519 keys (PKCS#8 DER
/// made by openssl). Every repository starts from the same current root, made by
/// tuftool outside the timing.
fn tuftool_script(tuftool: &Path, dir: &Path, n: usize) -> R<Duration> {
    std::fs::create_dir_all(dir.join("repos")).map_err(|e| e.to_string())?;
    let key = |name: &str| dir.join(format!("{name}.der"));
    let source = |name: &str| format!("file://{}", key(name).display());
    for name in ["root-1", "root-2", "online", "targets-old", "targets-new"] {
        sh(Command::new("openssl").args([
            "genpkey",
            "-algorithm",
            "ed25519",
            "-outform",
            "DER",
            "-out",
            key(name).to_str().unwrap(),
        ]))?;
    }
    let template = dir.join("current.root.json");
    let t = template.to_str().unwrap();
    let tt = |args: &[&str]| {
        let mut c = Command::new(tuftool);
        c.arg("root").args(args);
        sh(&mut c)
    };
    tt(&["init", t])?;
    tt(&["expire", t, "2030-01-01T00:00:00Z"])?;
    for role in ["root", "snapshot", "targets", "timestamp"] {
        tt(&[
            "set-threshold",
            t,
            role,
            if role == "root" { "2" } else { "1" },
        ])?;
    }
    tt(&[
        "add-key",
        t,
        "-k",
        &source("root-1"),
        "-k",
        &source("root-2"),
        "-r",
        "root",
    ])?;
    tt(&[
        "add-key",
        t,
        "-k",
        &source("online"),
        "-r",
        "snapshot",
        "-r",
        "timestamp",
    ])?;
    let added = tt(&["add-key", t, "-k", &source("targets-old"), "-r", "targets"])?;
    let old_id = added
        .split_whitespace()
        .last()
        .ok_or("tuftool add-key printed no key ID")?
        .to_owned();
    tt(&["sign", t, "-k", &source("root-1"), "-k", &source("root-2")])?;
    let mut script = String::from("set -e\n");
    let tool = tuftool.display();
    for i in 0..n {
        let f = dir.join("repos").join(format!("{i}.root.json"));
        let f = f.display();
        script.push_str(&format!(
            "cp {t} {f}\n{tool} root remove-key {f} {old_id} >/dev/null\n\
             {tool} root add-key {f} -k {} -r targets >/dev/null\n\
             {tool} root bump-version {f}\n{tool} root expire {f} 2031-01-01T00:00:00Z\n\
             {tool} root sign {f} -k {} -k {}\n",
            source("targets-new"),
            source("root-1"),
            source("root-2"),
        ));
    }
    let path = dir.join("script.sh");
    std::fs::write(&path, script).map_err(|e| e.to_string())?;
    let (took, _) = measure(Command::new("sh").arg(&path))?;
    Ok(took)
}

/// `ceremony rehearse --yes` against one production software key, side by side.
fn rehearse(args: &[String]) -> R<()> {
    let repeat: usize = value(args, "--repeat")
        .map(|v| v.parse().map_err(|e| format!("--repeat: {e}")))
        .transpose()?
        .unwrap_or(5);
    let ceremony = exe("ceremony");
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let pass = dir.path().join("passphrase");
    std::fs::write(&pass, "a benchmark passphrase, not a secret\n").map_err(|e| e.to_string())?;
    let (mut rehearsal, mut rehearsal_mem) = (Vec::new(), 0u64);
    let (mut one_key, mut one_key_mem) = (Vec::new(), 0u64);
    for i in 0..repeat {
        let out = dir.path().join(format!("rehearsal-{i}"));
        let (t, kb) = measure(
            Command::new(&ceremony)
                .args(["rehearse", "--yes", "--out"])
                .arg(&out),
        )?;
        rehearsal.push(t);
        rehearsal_mem = rehearsal_mem.max(kb);
        let key = dir.path().join(format!("key-{i}.age"));
        let (t, kb) = measure(
            Command::new(&ceremony)
                .args(["key", "generate", "--algorithm", "ed25519", "--token"])
                .arg(format!("soft:{}", key.display()))
                .arg("--passphrase-file")
                .arg(&pass),
        )?;
        one_key.push(t);
        one_key_mem = one_key_mem.max(kb);
    }
    let (r, k) = (median(rehearsal), median(one_key));
    println!("median of {repeat} runs each; peak memory is the highest VmHWM seen");
    println!(
        "  ceremony rehearse --yes                      {:>8.2} s  {:>6} MB peak",
        r.as_secs_f64(),
        rehearsal_mem / 1024
    );
    println!(
        "  ceremony key generate (one soft: key)        {:>8.2} s  {:>6} MB peak",
        k.as_secs_f64(),
        one_key_mem / 1024
    );
    println!(
        "  the whole rehearsal costs {:.2}x one production software key",
        r.as_secs_f64() / k.as_secs_f64()
    );
    println!(
        "  against the targets (5 s, 200 MB): {:.0}% of the time, {:.0}% of the memory",
        100.0 * r.as_secs_f64() / 5.0,
        100.0 * (rehearsal_mem as f64 / 1024.0) / 200.0
    );
    Ok(())
}

/// The median of some measurements (this machine's timings vary from run to run).
fn median(mut all: Vec<Duration>) -> Duration {
    all.sort();
    all.get(all.len() / 2).copied().unwrap_or_default()
}

fn raw_floor(
    hsm: &Hsm,
    refs: &[String],
    pin_file: &Path,
    n: usize,
    sessions: usize,
) -> R<Duration> {
    // In a child process, which gets SOFTHSM2_CONF before the module loads.
    let mut c = hsm.cmd(&exe("ceremony-bench"));
    c.env("FLOOR_SESSIONS", sessions.to_string());
    c.args(["floor", &n.to_string(), pin_file.to_str().unwrap()]);
    c.args(refs);
    let out = sh(&mut c)?;
    let secs: f64 = out
        .trim()
        .parse()
        .map_err(|e| format!("floor output {out:?}: {e}"))?;
    Ok(Duration::from_secs_f64(secs))
}

/// `floor N PIN_FILE TOKEN_LABEL…`: N signatures with each token's key, calling
/// nothing but PKCS#11 C_Sign (CKM_EDDSA) in a loop on one session per token.
/// Prints the seconds taken.
fn floor(args: &[String]) -> R<()> {
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    use cryptoki::mechanism::Mechanism;
    use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
    use cryptoki::object::{Attribute, ObjectClass};
    use cryptoki::session::UserType;
    use cryptoki::types::AuthPin;
    let n: usize = args
        .first()
        .ok_or("N")?
        .parse()
        .map_err(|e| format!("N: {e}"))?;
    let pin = std::fs::read_to_string(args.get(1).ok_or("PIN_FILE")?).map_err(|e| e.to_string())?;
    let pkcs11 = Pkcs11::new(SOFTHSM_MODULE).map_err(|e| e.to_string())?;
    pkcs11
        .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .map_err(|e| e.to_string())?;
    let sessions: usize = std::env::var("FLOOR_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let mut slots = Vec::new();
    for r in &args[2..] {
        let label = r
            .strip_prefix("pkcs11:token=")
            .and_then(|r| r.split(';').next())
            .ok_or("a pkcs11:token=LABEL;… reference")?;
        let slot = pkcs11
            .get_slots_with_token()
            .map_err(|e| e.to_string())?
            .into_iter()
            .find(|s| {
                pkcs11
                    .get_token_info(*s)
                    .map(|i| i.label().trim() == label)
                    .unwrap_or(false)
            })
            .ok_or(format!("no token {label}"))?;
        slots.push(slot);
    }
    // One session per token per thread; the first logs in for the token.
    let mut per_thread = Vec::new();
    for t in 0..sessions {
        let mut keys = Vec::new();
        for slot in &slots {
            let session = pkcs11.open_ro_session(*slot).map_err(|e| e.to_string())?;
            if t == 0 {
                session
                    .login(UserType::User, Some(&AuthPin::from(pin.trim().to_owned())))
                    .map_err(|e| e.to_string())?;
            }
            let key = session
                .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
                .map_err(|e| e.to_string())?
                .into_iter()
                .next()
                .ok_or("no private key")?;
            keys.push((session, key));
        }
        per_thread.push(keys);
    }
    // A message the size of a canonical root with four keys.
    let message = vec![b'x'; 1400];
    let start = Instant::now();
    std::thread::scope(|scope| -> R<()> {
        let mut handles = Vec::new();
        for (t, keys) in per_thread.into_iter().enumerate() {
            let message = &message;
            // Thread t makes its share of the n signatures with each key.
            let share = n / sessions + usize::from(t < n % sessions);
            handles.push(scope.spawn(move || -> R<()> {
                let mechanism = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
                for _ in 0..share {
                    for (session, key) in &keys {
                        session
                            .sign(&mechanism, *key, message)
                            .map_err(|e| e.to_string())?;
                    }
                }
                Ok(())
            }));
        }
        for h in handles {
            h.join().map_err(|_| "a signing thread panicked")??;
        }
        Ok(())
    })?;
    println!("{}", start.elapsed().as_secs_f64());
    Ok(())
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

fn cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
