//! The YubiKey (PIV) backend through a real PC/SC stack: Debian's `pcscd` with the
//! `vsmartcard-vpcd` virtual reader, and virtual PIV cards (`test-support/piv-vcard`,
//! the crates.io `piv-authenticator` on a virtual trussed platform) that answer the
//! YubiKey instructions the `yubikey` crate sends. The same code path talks to a
//! physical YubiKey.
//!
//! `scripts/test-all` builds the card and names it in `PIV_VCARD_BIN`. Without that
//! variable these tests say so loudly and pass without running (a developer's
//! `cargo test` without the card); CI always sets it.
//!
//! One `pcscd` runs at a time (its socket path is fixed), so the tests here take a
//! lock, start `pcscd` (unless one is already running) and their cards, and stop
//! them when done. Each card is a fresh card: PIN 123456, the default 3DES
//! management key, empty slots.
//!
//! The emulator cannot attest (it answers `6A88`) or make Ed25519 keys: those
//! paths run against crafted certificates here, and against a physical YubiKey in
//! the two ignored hardware tests at the end (selected by `YUBIKEY_SERIAL`).

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Proc, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

const PIN: &str = "123456";
const DEFAULT_MGMT_KEY: &str = "010203040506070801020304050607080102030405060708";

static PCSC: Mutex<()> = Mutex::new(());

/// The virtual card binary, or `None` (with a loud message) when not built.
fn vcard_bin() -> Option<PathBuf> {
    match std::env::var_os("PIV_VCARD_BIN") {
        Some(p) => {
            let p = PathBuf::from(p);
            assert!(
                p.is_file(),
                "PIV_VCARD_BIN={} is not a file: build it with \
                 cargo build --manifest-path test-support/piv-vcard/Cargo.toml",
                p.display()
            );
            Some(p)
        }
        None => {
            // A test that cannot run fails with the set-up it needs, unless the
            // person opts out explicitly (and is told, where it is seen).
            let built = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("test-support/piv-vcard/target/debug/piv-vcard");
            if built.is_file() {
                return Some(built);
            }
            if std::env::var_os("CEREMONY_SKIP_VCARD_TESTS").is_some() {
                println!(
                    "SKIPPED (CEREMONY_SKIP_VCARD_TESTS is set): this YubiKey test needs the \
                     virtual PIV card"
                );
                return None;
            }
            panic!(
                "the YubiKey tests need the virtual PIV card: run scripts/test-all (it builds \
                 test-support/piv-vcard and sets PIV_VCARD_BIN), or set \
                 CEREMONY_SKIP_VCARD_TESTS=1 to skip them knowingly"
            );
        }
    }
}

/// An allocator that, while a test asks for it on its own thread, searches every
/// heap block that thread frees for a secret: a secret wiped before its memory is
/// freed is never found.
mod freed_memory {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    pub struct Searching;

    thread_local! {
        static NEEDLE: Cell<&'static [u8]> = const { Cell::new(&[]) };
        static FOUND: Cell<usize> = const { Cell::new(0) };
    }

    unsafe impl GlobalAlloc for Searching {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            let _ = NEEDLE.try_with(|n| {
                let needle = n.get();
                if !needle.is_empty() && layout.size() >= needle.len() {
                    // SAFETY: the block is still allocated, `layout.size()` bytes.
                    let block = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
                    if block.windows(needle.len()).any(|w| w == needle) {
                        FOUND.with(|f| f.set(f.get() + 1));
                    }
                }
            });
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    /// Run `f` searching the blocks this thread frees for `needle`; how many held it.
    pub fn blocks_freed_holding(needle: &'static [u8], f: impl FnOnce()) -> usize {
        FOUND.with(|c| c.set(0));
        NEEDLE.with(|n| n.set(needle));
        f();
        NEEDLE.with(|n| n.set(&[]));
        FOUND.with(Cell::get)
    }
}

#[global_allocator]
static ALLOCATOR: freed_memory::Searching = freed_memory::Searching;

/// pcscd and virtual cards, stopped when dropped.
struct Pcsc {
    pcscd: Option<Child>,
    cards: Vec<(u32, Child)>,
    dir: tempfile::TempDir,
    _lock: MutexGuard<'static, ()>,
}

const SOCKET: &str = "/run/pcscd/pcscd.comm";

fn pcscd_running() -> bool {
    std::os::unix::net::UnixStream::connect(SOCKET).is_ok()
}

impl Pcsc {
    /// Start pcscd (if none runs) and one card per serial, on vpcd's ports in order.
    fn start(serials: &[u32]) -> Option<Pcsc> {
        let bin = vcard_bin()?;
        let lock = PCSC.lock().unwrap_or_else(|p| p.into_inner());
        let pcscd = if pcscd_running() {
            None
        } else {
            let child = Proc::new("pcscd")
                .arg("--foreground")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("pcscd starts (install pcscd and vsmartcard-vpcd: scripts/test-all)");
            let t = Instant::now();
            while !pcscd_running() {
                assert!(
                    t.elapsed() < Duration::from_secs(10),
                    "pcscd did not open {SOCKET}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            Some(child)
        };
        let mut pcsc = Pcsc {
            pcscd,
            cards: Vec::new(),
            dir: tempfile::tempdir().unwrap(),
            _lock: lock,
        };
        empty_softhsm_conf(&pcsc.path("no-softhsm.conf"));
        for (i, serial) in serials.iter().enumerate() {
            let child = Proc::new(&bin)
                .arg(format!("127.0.0.1:{}", 35963 + i))
                .env("PIV_VCARD_SERIAL", serial.to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("piv-vcard starts");
            pcsc.cards.push((*serial, child));
        }
        pcsc.wait_for(serials);
        Some(pcsc)
    }

    /// Wait until every serial is listed by `ceremony tokens`.
    fn wait_for(&mut self, serials: &[u32]) {
        let t = Instant::now();
        loop {
            let listing = stdout(&self.run(&["tokens"]));
            if serials
                .iter()
                .all(|s| listing.contains(&format!("YubiKey serial {s},")))
            {
                return;
            }
            for (s, c) in &mut self.cards {
                assert!(
                    c.try_wait().unwrap().is_none(),
                    "the virtual card {s} exited"
                );
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "virtual cards {serials:?} not listed:\n{listing}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Take a card out: its process ends, the reader reports no card.
    fn remove(&mut self, serial: u32) {
        let i = self.cards.iter().position(|(s, _)| *s == serial).unwrap();
        let (_, mut c) = self.cards.remove(i);
        c.kill().unwrap();
        c.wait().unwrap();
        let t = Instant::now();
        while stdout(&self.run(&["tokens"])).contains(&format!("YubiKey serial {serial},")) {
            assert!(t.elapsed() < Duration::from_secs(10), "card still listed");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn file(&self, name: &str, text: &str) -> String {
        let p = self.path(name);
        fs::write(&p, text).unwrap();
        p.display().to_string()
    }

    fn run(&self, args: &[&str]) -> Output {
        ceremony()
            .args(args)
            .env("CEREMONY_PKCS11_MODULE", SOFTHSM_MODULE)
            .env("SOFTHSM2_CONF", self.path("no-softhsm.conf"))
            .current_dir(self.dir.path())
            .output()
            .unwrap()
    }

    /// Run, require exit `code`, check no secret leaked; stdout + stderr.
    #[track_caller]
    fn expect(&self, code: i32, args: &[&str]) -> String {
        let o = self.run(args);
        let text = format!("{}{}", stdout(&o), stderr(&o));
        assert_eq!(o.status.code(), Some(code), "ceremony {args:?}:\n{text}");
        assert_no_secret(&text);
        text
    }
}

impl Drop for Pcsc {
    fn drop(&mut self) {
        for (_, c) in &mut self.cards {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(mut p) = self.pcscd.take() {
            let _ = Proc::new("kill")
                .args(["-TERM", &p.id().to_string()])
                .status();
            let t = Instant::now();
            while p.try_wait().ok().flatten().is_none() && t.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = p.kill();
            let _ = p.wait();
            let _ = fs::remove_file(SOCKET);
        }
    }
}

/// A SoftHSM configuration with no tokens (so `ceremony tokens` lists none).
fn empty_softhsm_conf(path: &Path) {
    write_softhsm_conf(path, &path.with_extension("d"));
}

#[track_caller]
fn assert_no_secret(text: &str) {
    assert!(
        !text.contains(PIN),
        "the PIN appears in the output:\n{text}"
    );
    assert!(
        !text.to_lowercase().contains(DEFAULT_MGMT_KEY),
        "the management key appears in the output:\n{text}"
    );
}

fn key(serial: u32) -> String {
    format!("yubikey:serial={serial};slot=9c")
}

fn root_init_script(yk_settings: &str, parameters: &str) -> String {
    let text = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("ceremony-scripts/root-init.toml"),
    )
    .unwrap();
    text.replace(
        "root_threshold = 2\n",
        &format!("root_threshold = 2\n{parameters}\n"),
    )
    .replace(
        "custodian = \"custodian-1\"\n",
        &format!("custodian = \"custodian-1\"\n{yk_settings}\n"),
    )
}

/// The rehearsal settings the virtual card needs: it cannot attest, and it has
/// the default management key.
const REHEARSAL_KEY: &str = "attestation = \"not-available\"";
const REHEARSAL_PARAMS: &str = "allow_default_management_key = true";

struct Run {
    args: Vec<String>,
    softhsm_conf: PathBuf,
}

/// root-init with root-1 on the YubiKey, root-2 on SoftHSM, root-3 software.
fn root_init_run(pcsc: &Pcsc, serial: u32, script: &str, flavour: &str, extra: &str) -> Run {
    let script_path = pcsc.file("root-init.toml", script);
    // SoftHSM token for root-2.
    let hsm = SoftHsm::in_dir(&pcsc.path(""));
    let softhsm_conf = hsm.conf.clone();
    let hsm_pin = "hsm-pin-60661-secret";
    if !pcsc.path("softhsm-ready").exists() {
        hsm.init("root-2", hsm_pin);
        fs::write(pcsc.path("softhsm-ready"), "").unwrap();
    }
    let yk = key(serial);
    let hsm = "pkcs11:token=root-2;object=ceremony-root-2".to_owned();
    let soft = format!("soft:{}", pcsc.path("root-3.age").display());
    let answers = pcsc.file(
        "answers.toml",
        &format!(
            "[confirm]\ndefault = true\n{extra}\n[secrets]\n{yk:?} = {PIN:?}\n{hsm:?} = {hsm_pin:?}\n{soft:?} = \"soft-pass-1-secret\"\n"
        ),
    );
    let mut args = vec![
        script_path,
        "--workdir".into(),
        pcsc.path("work").display().to_string(),
        "--out".into(),
        pcsc.path("export").display().to_string(),
        "--allow-network".into(),
        "--set".into(),
        format!("flavour={flavour}"),
        "--set".into(),
        "repository=example.com/yubikey/app".into(),
        "--token".into(),
        format!("root-1={yk}"),
        "--token".into(),
        format!("root-2={hsm}"),
        "--token".into(),
        format!("root-3={soft}"),
        "--answers".into(),
        answers,
    ];
    for role in ["targets", "snapshot", "timestamp"] {
        let kf = pcsc.path(&format!("{role}.json"));
        if !kf.exists() {
            let o = run(&[
                "key",
                "show",
                "--token",
                &keys().token(role),
                "--flavour",
                flavour,
            ]);
            assert!(o.status.success(), "{}", stderr(&o));
            fs::write(&kf, &o.stdout).unwrap();
        }
        args.push("--key".into());
        args.push(format!("{role}=keyfile:{}", kf.display()));
    }
    Run { args, softhsm_conf }
}

fn ceremony_run(pcsc: &Pcsc, run: &Run) -> Output {
    ceremony()
        .arg("run")
        .args(&run.args)
        .env("SOFTHSM2_CONF", &run.softhsm_conf)
        .env("CEREMONY_PKCS11_MODULE", SOFTHSM_MODULE)
        .current_dir(pcsc.dir.path())
        .output()
        .unwrap()
}

fn output_text(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

#[test]
fn tokens_lists_virtual_yubikeys_without_a_pin_and_selects_by_serial() {
    let Some(mut pcsc) = Pcsc::start(&[5437001, 5437002]) else {
        return;
    };
    let listing = pcsc.expect(0, &["tokens"]);
    assert!(listing.contains("YubiKeys (PIV over PC/SC)"), "{listing}");
    for s in [5437001, 5437002] {
        assert!(
            listing.contains(&format!("YubiKey serial {s}, firmware 5.4.3")),
            "{listing}"
        );
        assert!(
            listing.contains(&format!("reference: yubikey:serial={s};slot=9c")),
            "{listing}"
        );
    }
    assert!(listing.contains("PIN: 3 tries left"), "{listing}");
    assert!(
        listing.contains("signing slots with keys: none"),
        "{listing}"
    );
    // Listing spent no PIN try.
    let again = pcsc.expect(0, &["tokens"]);
    assert_eq!(again.matches("PIN: 3 tries left").count(), 2, "{again}");

    // A serial that is not connected is named, with what is connected.
    let e = pcsc.expect(2, &["key", "show", "--token", "yubikey:serial=999;slot=9c"]);
    assert!(
        e.contains("no token YubiKey with serial 999 is present"),
        "{e}"
    );
    assert!(
        e.contains("connected: serial 5437001, serial 5437002"),
        "{e}"
    );
    // An empty slot on the second card, selected by serial.
    let e = pcsc.expect(1, &["key", "show", "--token", &key(5437002)]);
    assert!(
        e.contains("YubiKey serial 5437002: no key with slot 9c"),
        "{e}"
    );

    // Cards another program holds exclusively (as gpg-agent's scdaemon does) are
    // named as held, with how to release them, not as absent.
    {
        let ctx = pcsc::Context::establish(pcsc::Scope::System).expect("PC/SC context");
        let mut names = vec![0u8; ctx.list_readers_len().expect("readers")];
        let readers: Vec<std::ffi::CString> = ctx
            .list_readers(&mut names)
            .expect("readers")
            .map(|r| r.to_owned())
            .collect();
        let held: Vec<pcsc::Card> = readers
            .iter()
            .filter_map(|r| {
                ctx.connect(r, pcsc::ShareMode::Exclusive, pcsc::Protocols::ANY)
                    .ok()
            })
            .collect();
        assert_eq!(held.len(), 2, "both virtual cards held exclusively");
        let listing = pcsc.expect(0, &["tokens"]);
        assert_eq!(
            listing
                .matches("its card is held by another program")
                .count(),
            2,
            "{listing}"
        );
        assert!(listing.contains("gpgconf --kill scdaemon"), "{listing}");
        let e = pcsc.expect(2, &["key", "show", "--token", &key(5437001)]);
        assert!(
            e.contains("another program holds the YubiKey exclusively"),
            "{e}"
        );
        assert!(e.contains("gpgconf --kill scdaemon"), "{e}");
        drop(held);
        // Released, the card answers again.
        let listing = pcsc.expect(0, &["tokens"]);
        assert!(
            listing.contains("YubiKey serial 5437001,") && !listing.contains("held by"),
            "{listing}"
        );
    }

    pcsc.remove(5437002);
    let listing = pcsc.expect(0, &["tokens"]);
    assert!(!listing.contains("5437002"), "{listing}");
}

#[test]
fn no_pcsc_service_is_said_plainly_and_pkcs11_listing_still_works() {
    let Some(_bin) = vcard_bin() else { return };
    let _lock = PCSC.lock().unwrap_or_else(|p| p.into_inner());
    if pcscd_running() {
        eprintln!("a pcscd not started by these tests is running: cannot test without one");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    empty_softhsm_conf(&dir.path().join("none.conf"));
    let o = ceremony()
        .arg("tokens")
        .env("CEREMONY_PKCS11_MODULE", SOFTHSM_MODULE)
        .env("SOFTHSM2_CONF", dir.path().join("none.conf"))
        .output()
        .unwrap();
    let text = output_text(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(
        text.contains("none listed: no PC/SC service is running (start pcscd)"),
        "{text}"
    );
    assert!(
        text.contains("module /usr/lib/softhsm/libsofthsm2.so"),
        "{text}"
    );
    let e = output_text(
        &ceremony()
            .args(["key", "show", "--token", "yubikey:serial=1;slot=9c"])
            .output()
            .unwrap(),
    );
    assert!(e.contains("no PC/SC service is running"), "{e}");
}

#[test]
fn a_2_of_3_root_across_a_virtual_yubikey_softhsm_and_a_software_key() {
    // Two cards connected, as in a ceremony: the key goes to the one named by serial
    // (the second reader).
    let Some(mut pcsc) = Pcsc::start(&[5437100, 5437101]) else {
        return;
    };
    let run = root_init_run(
        &pcsc,
        5437101,
        &root_init_script(REHEARSAL_KEY, REHEARSAL_PARAMS),
        "tuf",
        "",
    );
    let o = ceremony_run(&pcsc, &run);
    let text = output_text(&o);
    assert!(o.status.success(), "{text}");
    assert_no_secret(&text);
    assert!(text.contains("NO ATTESTATION"), "{text}");
    let export = pcsc.path("export");
    let (accepted, msg) = python_tuf(&[&export.join("1.root.json")]);
    assert!(accepted, "{msg}");
    let root: serde_json::Value =
        serde_json::from_slice(&fs::read(export.join("1.root.json")).unwrap()).unwrap();
    assert_eq!(root["signatures"].as_array().unwrap().len(), 3);
    // The transcript records the YubiKey, its policies and the missing attestation.
    let t = fs::read_to_string(export.join("transcript.jsonl")).unwrap();
    assert_no_secret(&t);
    for want in [
        "\"kind\":\"yubikey\"",
        "\"serial\":5437101",
        "\"reader\":\"Virtual PCD 00 01\"",
        "\"firmware\":\"5.4.3\"",
        "\"policy\":\"PIN always, touch always\"",
        "\"status\":\"not-available\"",
        "factory default (allowed by the script: rehearsal only)",
    ] {
        assert!(t.contains(want), "{want} not in the transcript");
    }
    // The slot holds the key's certificate (CN = the repository) for other PIV tools.
    let listing = pcsc.expect(0, &["tokens"]);
    assert!(
        listing.contains("9c: certificate CN=example.com/yubikey/app"),
        "{listing}"
    );
    assert_eq!(
        listing.matches("signing slots with keys: none").count(),
        1,
        "the other card is untouched:\n{listing}"
    );
    // The key reads back without a PIN and is the one in the root.
    let shown = pcsc.expect(0, &["key", "show", "--token", &key(5437101)]);
    let id = shown
        .lines()
        .find_map(|l| l.strip_prefix("key ID: "))
        .unwrap();
    assert!(root["signed"]["keys"].get(id).is_some(), "{shown}");
    // Card taken out after listing: signing names the card, writes nothing.
    pcsc.remove(5437101);
    let copy = pcsc.path("again.json");
    fs::copy(export.join("1.root.json"), &copy).unwrap();
    let before = fs::read(&copy).unwrap();
    let pin_file = pcsc.file("pin", &format!("{PIN}\n"));
    let e = pcsc.expect(
        2,
        &[
            "root",
            "sign",
            copy.to_str().unwrap(),
            "--token",
            &key(5437101),
            "--pin-file",
            &pin_file,
        ],
    );
    assert!(
        e.contains("no token YubiKey with serial 5437101 is present"),
        "{e}"
    );
    assert_eq!(fs::read(&copy).unwrap(), before);
}

#[test]
fn a_notary_root_signed_on_the_virtual_yubikey() {
    let Some(_pcsc) = Pcsc::start(&[5437201]) else {
        return;
    };
    let pcsc = _pcsc;
    let run = root_init_run(
        &pcsc,
        5437201,
        &root_init_script(REHEARSAL_KEY, REHEARSAL_PARAMS),
        "notary",
        "",
    );
    let o = ceremony_run(&pcsc, &run);
    let text = output_text(&o);
    assert!(o.status.success(), "{text}");
    assert_no_secret(&text);
    let root: serde_json::Value =
        serde_json::from_slice(&fs::read(pcsc.path("export/1.root.json")).unwrap()).unwrap();
    assert_eq!(root["signed"]["_type"], "Root");
    let keys = root["signed"]["keys"].as_object().unwrap();
    assert_eq!(
        keys.values()
            .filter(|k| k["keytype"] == "ecdsa-x509")
            .count(),
        3
    );
    for sig in root["signatures"].as_array().unwrap() {
        assert_eq!(sig["method"], "ecdsa");
    }
    let v = pcsc.expect(
        0,
        &[
            "verify",
            pcsc.path("export/1.root.json").to_str().unwrap(),
            "--gun",
            "example.com/yubikey/app",
        ],
    );
    assert!(!v.is_empty());
}

#[test]
fn generation_fails_closed_without_attestation_or_with_the_default_management_key() {
    let Some(pcsc) = Pcsc::start(&[5437301]) else {
        return;
    };
    // The default: attestation required. The emulator cannot attest: stop.
    let run = root_init_run(
        &pcsc,
        5437301,
        &root_init_script("", REHEARSAL_PARAMS),
        "tuf",
        "",
    );
    let o = ceremony_run(&pcsc, &run);
    let text = output_text(&o);
    assert_ne!(o.status.code(), Some(0), "{text}");
    assert!(
        text.contains("attestation of slot 9c does not verify: the device did not attest the key"),
        "{text}"
    );
    assert!(!pcsc.path("export").exists());
    let t = fs::read_to_string(pcsc.path("work/transcript.jsonl")).unwrap();
    assert!(
        !t.contains("\"kind\":\"yubikey\""),
        "no key recorded as generated"
    );
    assert_no_secret(&text);

    // The factory-default management key, not allowed by the script: refused
    // before any PIN try, the slot left empty.
    let pin_before = pcsc.expect(0, &["tokens"]);
    fs::remove_dir_all(pcsc.path("work")).unwrap();
    let run = root_init_run(
        &pcsc,
        5437301,
        &root_init_script(REHEARSAL_KEY, ""),
        "tuf",
        "",
    );
    let o = ceremony_run(&pcsc, &run);
    let text = output_text(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains("the PIV management key is the factory default"),
        "{text}"
    );
    assert!(text.contains("change-management-key"), "{text}");
    assert_no_secret(&text);
    let after = pcsc.expect(0, &["tokens"]);
    assert!(
        !after.contains("BLOCKED") && !after.contains("2 tries") && !after.contains("ONE try"),
        "{after}\n{pin_before}"
    );

    // `ceremony key generate` uses the root-key defaults: refused the same way.
    let pin_file = pcsc.file("pin", &format!("{PIN}\n"));
    let e = pcsc.expect(
        1,
        &[
            "key",
            "generate",
            "--token",
            "yubikey:serial=5437301;slot=9a",
            "--algorithm",
            "ecdsa-p256",
            "--pin-file",
            &pin_file,
        ],
    );
    assert!(e.contains("factory default"), "{e}");
    // Ed25519 on firmware 5.4.3: refused clearly.
    let e = pcsc.expect(
        1,
        &[
            "key",
            "generate",
            "--token",
            "yubikey:serial=5437301;slot=9a",
            "--algorithm",
            "ed25519",
            "--pin-file",
            &pin_file,
        ],
    );
    assert!(e.contains("Ed25519 (needs firmware 5.7 or later"), "{e}");
}

#[test]
fn an_occupied_slot_is_refused_unless_the_script_allows_it_and_the_operator_confirms() {
    let Some(pcsc) = Pcsc::start(&[5437401]) else {
        return;
    };
    let script = root_init_script(REHEARSAL_KEY, REHEARSAL_PARAMS);
    let run = root_init_run(&pcsc, 5437401, &script, "tuf", "");
    let o = ceremony_run(&pcsc, &run);
    assert!(o.status.success(), "{}", output_text(&o));
    let first = pcsc.expect(0, &["key", "show", "--token", &key(5437401)]);

    // A second ceremony on the same card: slot 9c is taken.
    let redo = |name: &str, script: &str, extra: &str| {
        for d in ["work", "export"] {
            let _ = fs::remove_dir_all(pcsc.path(d));
        }
        let _ = fs::remove_file(pcsc.path("root-3.age"));
        let _ = fs::remove_file(pcsc.path("root-3.age.pub"));
        let _ = name;
        let mut run = root_init_run(&pcsc, 5437401, script, "tuf", extra);
        // A fresh SoftHSM object label each time.
        for a in &mut run.args {
            *a = a.replace("object=ceremony-root-2", &format!("object=root-2-{name}"));
        }
        let answers_pos = run.args.iter().position(|a| a == "--answers").unwrap() + 1;
        let text = fs::read_to_string(&run.args[answers_pos])
            .unwrap()
            .replace("object=ceremony-root-2", &format!("object=root-2-{name}"));
        fs::write(&run.args[answers_pos], text).unwrap();
        ceremony_run(&pcsc, &run)
    };
    let o = redo("b", &script, "");
    let text = output_text(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("slot 9c already holds"), "{text}");
    assert!(text.contains("overwrite = true"), "{text}");
    assert_no_secret(&text);

    let overwrite = root_init_script(
        &format!("{REHEARSAL_KEY}\noverwrite = true"),
        REHEARSAL_PARAMS,
    );
    // The script allows it, the operator says no: refused, the old key stays.
    let o = redo("c", &overwrite, "generate-root-1-overwrite-slot = false");
    let text = output_text(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains("the operator did not confirm overwriting slot 9c"),
        "{text}"
    );
    assert_eq!(
        pcsc.expect(0, &["key", "show", "--token", &key(5437401)]),
        first
    );
    // Allowed and confirmed: a new key, and the transcript says what it replaced.
    let o = redo("d", &overwrite, "generate-root-1-overwrite-slot = true");
    let text = output_text(&o);
    assert!(o.status.success(), "{text}");
    assert_ne!(
        pcsc.expect(0, &["key", "show", "--token", &key(5437401)]),
        first
    );
    let t = fs::read_to_string(pcsc.path("export/transcript.jsonl")).unwrap();
    assert!(
        t.contains("\"overwrote\":\"slot 9c (certificate CN="),
        "{t}"
    );
}

/// A PIN prompt for the library: answers with `pin`, confirms the final try.
struct Prompt {
    pin: String,
    confirm: bool,
    notices: Vec<String>,
}

impl ceremony::tokens::pkcs11::PinPrompt for Prompt {
    fn notice(&mut self, message: &str) {
        self.notices.push(message.to_owned());
    }
    fn confirm_final_try(&mut self, _: &str) -> Result<bool, ceremony::tokens::TokenError> {
        Ok(self.confirm)
    }
    fn user_pin(
        &mut self,
        _: &str,
    ) -> Result<ceremony::secret::Secret, ceremony::tokens::TokenError> {
        Ok(ceremony::secret::Secret::new(self.pin.clone()))
    }
}

#[test]
fn wrong_pin_final_try_and_blocked_pin() {
    let Some(pcsc) = Pcsc::start(&[5437501]) else {
        return;
    };
    let run = root_init_run(
        &pcsc,
        5437501,
        &root_init_script(REHEARSAL_KEY, REHEARSAL_PARAMS),
        "tuf",
        "",
    );
    let o = ceremony_run(&pcsc, &run);
    assert!(o.status.success(), "{}", output_text(&o));
    let root = pcsc.path("export/1.root.json");
    let target = pcsc.path("resign.json");
    fs::copy(&root, &target).unwrap();
    let before = fs::read(&target).unwrap();
    let t = target.to_str().unwrap();
    let wrong = pcsc.file("wrong-pin", "654321\n");
    let sign = |pin_file: &str| {
        let o = pcsc.run(&[
            "root",
            "sign",
            t,
            "--token",
            &key(5437501),
            "--pin-file",
            pin_file,
        ]);
        let text = output_text(&o);
        assert_no_secret(&text);
        assert!(!text.contains("654321"), "{text}");
        (o.status.code(), text)
    };
    // Wrong PIN: the tries left are shown.
    let (code, e) = sign(&wrong);
    assert_eq!(code, Some(1), "{e}");
    assert!(e.contains("wrong user PIN; 2 tries left"), "{e}");
    assert!(e.contains("PIV PIN: "), "{e}");
    let (_, e) = sign(&wrong);
    assert!(e.contains("wrong user PIN; ONE try left"), "{e}");
    // Final try: a PIN file cannot confirm it; no try is spent.
    let (code, e) = sign(&wrong);
    assert_eq!(code, Some(1), "{e}");
    assert!(e.contains("a PIN file cannot"), "{e}");
    assert!(pcsc.expect(0, &["tokens"]).contains("PIN: ONE try left"));
    // The operator confirms the final try (library prompt) and the PIN is wrong:
    // blocked, and the message names the PUK.
    let r = ceremony::tokens::yubikey::YubiKeyRef::parse(&key(5437501)).unwrap();
    let mut prompt = Prompt {
        pin: "654321".into(),
        confirm: true,
        notices: Vec::new(),
    };
    let e = ceremony::tokens::yubikey::open_signer(&r, &mut prompt).unwrap_err();
    assert!(e.to_string().contains("PIN is now BLOCKED"), "{e}");
    assert!(e.to_string().contains("PUK"), "{e}");
    assert!(prompt.notices.iter().any(|n| n.contains("ONE try left")));
    // Now blocked: refused before any PIN is asked, with the recovery path.
    let good = pcsc.file("pin", &format!("{PIN}\n"));
    let (code, e) = sign(&good);
    assert_eq!(code, Some(2), "{e}");
    assert!(
        e.contains("the PIV PIN is blocked (no tries left); no PIN was sent"),
        "{e}"
    );
    assert!(e.contains("PUK"), "{e}");
    assert!(
        pcsc.expect(0, &["tokens"])
            .contains("PIN: BLOCKED (unblock with the PUK)")
    );
    assert_eq!(fs::read(&target).unwrap(), before, "nothing was written");
}

/// A management key set on the card (3DES, 24 bytes), as a production
/// ceremony's preparation would (here through the library, as a setup step).
const CHANGED_MGMT_KEY: &str = "5f1c2a9e7b3d4c8a0e6f2b1d9c7a3e5b4d8c6a2f0e1b3d5c";

fn set_management_key(serial: u32, hex_key: &str) {
    let mut yk = yubikey::YubiKey::open_by_serial(yubikey::Serial(serial)).unwrap();
    yk.authenticate(&yubikey::MgmKey::get_default(&yk).unwrap())
        .unwrap();
    let key = yubikey::MgmKey::from_bytes(
        hex::decode(hex_key).unwrap(),
        Some(yubikey::MgmAlgorithmId::ThreeDes),
    )
    .unwrap();
    key.set_manual(&mut yk, false).unwrap();
}

#[test]
fn a_changed_management_key_is_asked_for_and_never_shown() {
    let Some(pcsc) = Pcsc::start(&[5437601]) else {
        return;
    };
    set_management_key(5437601, CHANGED_MGMT_KEY);
    let reference = key(5437601);
    let script = root_init_script("attestation = \"not-available\"", "");
    // A wrong management key: refused, nothing generated.
    let run = root_init_run(&pcsc, 5437601, &script, "tuf", "");
    let answers_at = run.args.iter().position(|a| a == "--answers").unwrap() + 1;
    let answers = fs::read_to_string(&run.args[answers_at]).unwrap();
    let wrong = "00112233445566778899aabbccddeeff0011223344556677";
    fs::write(
        &run.args[answers_at],
        format!("{answers}\"{reference}#management-key\" = {wrong:?}\n"),
    )
    .unwrap();
    let o = ceremony_run(&pcsc, &run);
    let text = output_text(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains("the YubiKey did not accept the management key; nothing was generated"),
        "{text}"
    );
    assert!(!text.contains(wrong), "{text}");
    assert!(
        pcsc.expect(0, &["tokens"])
            .contains("signing slots with keys: none")
    );

    // The right one: generated; the transcript says how, never what.
    fs::remove_dir_all(pcsc.path("work")).unwrap();
    fs::write(
        &run.args[answers_at],
        format!("{answers}\"{reference}#management-key\" = {CHANGED_MGMT_KEY:?}\n"),
    )
    .unwrap();
    let o = ceremony_run(&pcsc, &run);
    let text = output_text(&o);
    assert!(o.status.success(), "{text}");
    assert!(!text.to_lowercase().contains(CHANGED_MGMT_KEY), "{text}");
    assert!(!text.contains("factory default"), "{text}");
    let mut everything = text;
    for f in fs::read_dir(pcsc.path("export")).unwrap() {
        everything.push_str(&fs::read_to_string(f.unwrap().path()).unwrap());
    }
    everything.push_str(&fs::read_to_string(pcsc.path("work/state.json")).unwrap());
    assert!(!everything.to_lowercase().contains(CHANGED_MGMT_KEY));
    assert_no_secret(&everything);
    assert!(
        everything.contains("\"admin_key\":\"entered by the operator (3DES)\""),
        "transcript"
    );
}

/// Needs no card: checked before anything touches a token.
#[test]
fn yubikey_settings_need_a_yubikey_and_references_need_a_serial() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("root-init.toml");
    fs::write(&script, root_init_script("touch_policy = \"cached\"", "")).unwrap();
    let answers = dir.path().join("answers.toml");
    fs::write(&answers, "[confirm]\ndefault = true\n").unwrap();
    let soft = |n: &str| format!("soft:{}", dir.path().join(n).display());
    let o = run(&[
        "run",
        script.to_str().unwrap(),
        "--workdir",
        dir.path().join("work").to_str().unwrap(),
        "--out",
        dir.path().join("out").to_str().unwrap(),
        "--allow-network",
        "--token",
        &format!("root-1={}", soft("r1.age")),
        "--token",
        &format!("root-2={}", soft("r2.age")),
        "--token",
        &format!("root-3={}", soft("r3.age")),
        "--key",
        "targets=keyfile:/nonexistent/targets.json",
        "--answers",
        answers.to_str().unwrap(),
    ]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains("key root-1 has YubiKey settings in the script"),
        "{e}"
    );
    assert!(!dir.path().join("work").exists());

    let e = refused(&["key", "show", "--token", "yubikey:slot=9c"]);
    assert!(e.contains("serial= is required"), "{e}");
    let e = refused(&["key", "show", "--token", "yubikey:serial=12;pin=123456"]);
    assert!(e.contains("never goes in a reference"), "{e}");
    assert!(!e.contains(PIN), "{e}");
}

#[test]
fn in_a_ceremony_the_final_pin_try_needs_its_own_answer() {
    let Some(pcsc) = Pcsc::start(&[5437801]) else {
        return;
    };
    // Two wrong PINs before the ceremony: one try left.
    {
        let mut yk = yubikey::YubiKey::open_by_serial(yubikey::Serial(5437801)).unwrap();
        for _ in 0..2 {
            assert!(yk.verify_pin(b"000000").is_err());
        }
    }
    assert!(pcsc.expect(0, &["tokens"]).contains("PIN: ONE try left"));
    let script = root_init_script(REHEARSAL_KEY, REHEARSAL_PARAMS);
    // `default = true` does not answer the final try: stopped, no try spent.
    let run = root_init_run(&pcsc, 5437801, &script, "tuf", "");
    let o = ceremony_run(&pcsc, &run);
    let text = output_text(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("generate-root-1-final-pin-try"), "{text}");
    assert!(text.contains("ONE try left"), "{text}");
    assert_no_secret(&text);
    let listing = pcsc.expect(0, &["tokens"]);
    assert!(listing.contains("PIN: ONE try left"), "{listing}");
    assert!(
        listing.contains("signing slots with keys: none"),
        "{listing}"
    );
    // An explicit answer for that step: the right PIN goes in, the ceremony runs.
    fs::remove_dir_all(pcsc.path("work")).unwrap();
    let run = root_init_run(
        &pcsc,
        5437801,
        &script,
        "tuf",
        "generate-root-1-final-pin-try = true",
    );
    let o = ceremony_run(&pcsc, &run);
    let text = output_text(&o);
    assert!(o.status.success(), "{text}");
    assert_no_secret(&text);
}

// ------------------------------------------------- physical YubiKey (manual)

fn hardware_serial() -> u32 {
    std::env::var("YUBIKEY_SERIAL")
        .expect(
            "set YUBIKEY_SERIAL to the serial of a SPARE YubiKey whose slot 9a may be overwritten",
        )
        .parse()
        .expect("YUBIKEY_SERIAL is a number")
}

/// On a spare physical YubiKey (any firmware: before 5.7.4 it attests under
/// "Yubico PIV Root CA Serial 263751", from 5.7.4 under "Yubico Attestation Root 1",
/// both shipped), with a non-default management key typed at the terminal:
/// generate P-256 in the empty retired slot 82, verify the attestation chain, sign
/// and verify.
#[test]
#[ignore = "needs a spare physical YubiKey: YUBIKEY_SERIAL=N cargo test --test yubikey -- --ignored --test-threads=1"]
fn hardware_p256_generation_is_attested_by_yubico() {
    let serial = hardware_serial();
    let o = Proc::new(env!("CARGO_BIN_EXE_ceremony"))
        .args([
            "key",
            "generate",
            "--token",
            &format!("yubikey:serial={serial};slot=82"),
            "--algorithm",
            "ecdsa-p256",
        ])
        .stdin(Stdio::inherit())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("attestation: verified to CN=Yubico PIV Root CA Serial 263751")
            || out.contains("attestation: verified to CN=Yubico Attestation Root 1"),
        "{out}"
    );
}

/// Ed25519 needs firmware 5.7 or later; the emulator has none.
#[test]
#[ignore = "needs a spare physical YubiKey with firmware 5.7+: YUBIKEY_SERIAL=N cargo test --test yubikey -- --ignored --test-threads=1"]
fn hardware_ed25519_generation_on_firmware_5_7() {
    let serial = hardware_serial();
    let o = Proc::new(env!("CARGO_BIN_EXE_ceremony"))
        .args([
            "key",
            "generate",
            "--token",
            &format!("yubikey:serial={serial};slot=83"),
            "--algorithm",
            "ed25519",
        ])
        .stdin(Stdio::inherit())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("generated ed25519 key in the YubiKey"),
        "{out}"
    );
}

/// The `yubikey` crate keeps a copy of the PIN after verifying it (to verify it
/// again after a reconnect). Upstream frees that copy unwiped; the patched crate
/// (`crates/yubikey/PATCHED.md`) wipes it. Every heap block freed while a PIN is
/// verified, the card reconnected and the session dropped is searched for the PIN.
#[test]
fn the_pin_the_yubikey_crate_caches_is_wiped_before_its_memory_is_freed() {
    let Some(_pcsc) = Pcsc::start(&[5437011]) else {
        return;
    };
    let found = freed_memory::blocks_freed_holding(PIN.as_bytes(), || {
        let mut yk = yubikey::YubiKey::open_by_serial(yubikey::Serial(5437011)).unwrap();
        yk.verify_pin(PIN.as_bytes()).unwrap();
        yk.reconnect().unwrap();
        yk.verify_pin(PIN.as_bytes()).unwrap();
        drop(yk);
    });
    assert_eq!(
        found, 0,
        "{found} freed heap block(s) still held the PIN: the yubikey crate's cached PIN was not wiped"
    );
}
