//! The hostile-input catalogue (tests/data/hostile): every case is a directory named by
//! the failure it proves, run here as its own test. See tests/data/hostile/make.py for
//! what a case holds; this driver builds each case's workspace, runs `ceremony` in it
//! with no terminal, and holds the result to the same bar:
//!
//! - the expected exit code; never a panic, never "internal error";
//! - an end within [`BOUND`] (a FIFO or a device where a file belongs must not hang us);
//! - a short error naming the object at fault;
//! - the workspace exactly as before (nothing written, nothing left behind), except the
//!   paths a successful case may write;
//! - no secret of the case in any output.

mod common;

use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long any case may take. Generous for a loaded 2-core machine: what it catches
/// is a read that never ends, not slowness.
const BOUND: Duration = Duration::from_secs(60);
/// An error a person reads in the room: a few lines, not a dump.
const MAX_ERROR_LINES: usize = 12;
const MAX_ERROR_BYTES: usize = 2000;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn main() {
    let args = Arguments::from_args();
    let root = data().join("hostile");
    let mut cases = Vec::new();
    collect(&root, &root, &mut cases);
    cases.sort();
    assert!(
        cases.len() >= 300,
        "the catalogue holds {} cases; run tests/data/hostile/make.py",
        cases.len()
    );
    let trials = cases
        .into_iter()
        .map(|(name, dir)| Trial::test(name, move || run_case(&dir)))
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    if dir.join("case.json").is_file() {
        let name = dir
            .strip_prefix(root)
            .unwrap()
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("::");
        out.push((name, dir.to_path_buf()));
        return;
    }
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(root, &path, out);
        }
    }
}

/// One rehearsal export, made once for the whole catalogue and copied into each case
/// that starts from it (its roots expire, so it is made fresh rather than kept in git).
fn rehearsal() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("ceremony-hostile-rehearsal")
            .tempdir()
            .unwrap()
            .keep();
        let out = dir.join("rehearsal");
        let o = Command::new(env!("CARGO_BIN_EXE_ceremony"))
            .args(["rehearse", "--yes", "--out"])
            .arg(&out)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        out
    })
}

fn run_case(dir: &Path) -> Result<(), Failed> {
    let spec: Value = serde_json::from_slice(&fs::read(dir.join("case.json")).unwrap())
        .map_err(|e| format!("case.json: {e}"))?;
    let ws = tempfile::Builder::new()
        .prefix("ceremony-hostile")
        .tempdir()
        .unwrap();
    let w = ws.path();
    for pair in spec["copy"].as_array().unwrap() {
        let from = data().join(pair[0].as_str().unwrap());
        let to = w.join(pair[1].as_str().unwrap());
        if from.is_dir() {
            common::copy_dir(&from, &to);
        } else {
            fs::create_dir_all(to.parent().unwrap()).unwrap();
            fs::copy(&from, &to).unwrap();
        }
    }
    common::copy_dir(dir, w);
    fs::remove_file(w.join("case.json")).unwrap();
    for dir in [".home", ".tmp"] {
        fs::create_dir(w.join(dir)).unwrap();
    }
    common::write_softhsm_conf(&w.join(".softhsm2.conf"), &w.join(".softhsm-tokens"));
    for op in spec["setup"].as_array().unwrap() {
        setup(w, op)?;
    }

    let before = snapshot(w);
    // `glob:DIR/*.EXT` stands for the files of DIR ending in .EXT, sorted, as a
    // shell would expand it (frames made on the spot have no fixed count).
    let mut args: Vec<String> = Vec::new();
    for a in spec["args"].as_array().unwrap() {
        let a = a.as_str().unwrap();
        match a.strip_prefix("glob:").and_then(|g| g.split_once("/*")) {
            Some((dir, ext)) => {
                let mut found: Vec<String> = fs::read_dir(w.join(dir))
                    .unwrap()
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(ext))
                    .map(|n| format!("{dir}/{n}"))
                    .collect();
                found.sort();
                args.extend(found);
            }
            None => args.push(a.to_string()),
        }
    }
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ceremony"));
    cmd.args(&args)
        .current_dir(w)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("HOME", w.join(".home"))
        .env("TMPDIR", w.join(".tmp"))
        .env("SOFTHSM2_CONF", w.join(".softhsm2.conf"))
        .env("CEREMONY_PKCS11_MODULE", common::SOFTHSM_MODULE);
    let (code, out, err) = run_bounded(cmd)?;
    let shown = format!("ceremony {args:?}\nexit {code:?}\nstdout:\n{out}\nstderr:\n{err}");

    let expected = spec["exit"].as_i64().unwrap() as i32;
    if err.contains("panicked") || code == Some(101) {
        return Err(format!("panic\n{shown}").into());
    }
    if err.contains("internal error") {
        return Err(format!("an internal error, not a clear refusal\n{shown}").into());
    }
    if code != Some(expected) {
        return Err(format!("expected exit {expected}\n{shown}").into());
    }
    for secret in spec["secrets"].as_array().unwrap() {
        let secret = secret.as_str().unwrap();
        if common::shows_secret(&out, secret) || common::shows_secret(&err, secret) {
            return Err(format!("the secret {secret:?} is shown\n{shown}").into());
        }
    }
    // Only the outputs a case names may appear (a report written for a transcript
    // that fails, with exit 1 saying not to rely on it); nothing else may change.
    let after = snapshot(w);
    let writes: Vec<String> = spec["writes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let stray: Vec<String> = diff(&before, &after)
        .into_iter()
        .filter(|change| {
            !writes.iter().any(|allowed| {
                change == &format!("{allowed} (new)") || change.starts_with(&format!("{allowed}/"))
            })
        })
        .collect();
    if !stray.is_empty() {
        return Err(format!("the workspace changed: {stray:?}\n{shown}").into());
    }
    if expected == 0 {
        return Ok(());
    }
    let err = err.trim();
    if err.is_empty() {
        return Err(format!("refused without a word\n{shown}").into());
    }
    if err.lines().count() > MAX_ERROR_LINES || err.len() > MAX_ERROR_BYTES {
        return Err(format!(
            "the error is not short ({} lines, {} bytes)\n{shown}",
            err.lines().count(),
            err.len()
        )
        .into());
    }
    for name in spec["names"].as_array().unwrap() {
        let name = name.as_str().unwrap();
        if !err.contains(name) {
            return Err(format!("the error does not name {name:?}\n{shown}").into());
        }
    }
    Ok(())
}

type Outcome = (Option<i32>, String, String);

/// Run to the end or kill at [`BOUND`]: a case that hangs fails, it does not hang
/// the suite.
fn run_bounded(mut cmd: Command) -> Result<Outcome, Failed> {
    let mut child = cmd.spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = stdout.read_to_end(&mut b);
        b
    });
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = stderr.read_to_end(&mut b);
        b
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > BOUND {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("did not finish within {} s: killed", BOUND.as_secs()).into());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = String::from_utf8_lossy(&out.join().unwrap()).into_owned();
    let err = String::from_utf8_lossy(&err.join().unwrap()).into_owned();
    Ok((status.code(), out, err))
}

/// What the workspace holds: for each path its kind and content (hashed; a file too
/// large to hash quickly, i.e. a sparse giant, by size and modification time).
fn snapshot(w: &Path) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    walk(w, w, &mut map);
    map
}

fn walk(root: &Path, dir: &Path, map: &mut BTreeMap<String, String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        let meta = fs::symlink_metadata(&path).unwrap();
        let ft = meta.file_type();
        let what = if ft.is_symlink() {
            format!("symlink to {}", fs::read_link(&path).unwrap().display())
        } else if ft.is_dir() {
            walk(root, &path, map);
            "directory".to_string()
        } else if ft.is_fifo() {
            "fifo".to_string()
        } else if meta.len() > 64 << 20 {
            format!(
                "large file {} bytes, mtime {}",
                meta.len(),
                meta.mtime_nsec()
            )
        } else {
            let bytes = fs::read(&path).unwrap();
            format!("file {}", hex::encode(sha256(&bytes)))
        };
        map.insert(rel, what);
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

fn diff(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Vec<String> {
    let mut changed: Vec<String> = Vec::new();
    for (path, what) in after {
        match before.get(path) {
            None => changed.push(format!("{path} (new)")),
            Some(old) if old != what => changed.push(format!("{path} (changed: {what})")),
            _ => {}
        }
    }
    for path in before.keys() {
        if !after.contains_key(path) {
            changed.push(format!("{path} (removed)"));
        }
    }
    changed
}

fn s<'a>(op: &'a Value, key: &str) -> &'a str {
    op[key]
        .as_str()
        .unwrap_or_else(|| panic!("setup {op}: {key}"))
}

/// Build what git cannot hold, or what is made from the rehearsal on the spot.
fn setup(w: &Path, op: &Value) -> Result<(), Failed> {
    const KINDS: &[&str] = &[
        "fifo",
        "symlink",
        "mkdir",
        "sparse",
        "remove",
        "remove_dir",
        "write",
        "copy",
        "rename",
        "rehearsal",
        "qr_encode",
        "truncate",
        "flip",
        "replace",
        "replace_all",
        "set_number",
        "set_string",
        "lines",
        "rehash",
    ];
    let obj = op.as_object().unwrap();
    let kind = obj
        .keys()
        .find(|k| KINDS.contains(&k.as_str()))
        .unwrap_or_else(|| panic!("unknown setup operation {op}"));
    let path = w.join(s(op, kind));
    match kind.as_str() {
        "fifo" => {
            let status = Command::new("mkfifo").arg(&path).status().unwrap();
            assert!(status.success());
        }
        "symlink" => std::os::unix::fs::symlink(s(op, "to"), &path).unwrap(),
        "mkdir" => fs::create_dir_all(&path).unwrap(),
        "sparse" => {
            let f = fs::File::create(&path).unwrap();
            f.set_len(op["size"].as_u64().unwrap()).unwrap();
        }
        "remove" => fs::remove_file(&path).unwrap(),
        "remove_dir" => fs::remove_dir(&path).unwrap(),
        "write" => fs::write(&path, s(op, "text")).unwrap(),
        "copy" => {
            fs::copy(&path, w.join(s(op, "to"))).unwrap();
        }
        "rename" => fs::rename(&path, w.join(s(op, "to"))).unwrap(),
        "rehearsal" => common::copy_dir(rehearsal(), &path),
        "qr_encode" => {
            let o = Command::new(env!("CARGO_BIN_EXE_ceremony"))
                .args(["qr", "encode"])
                .arg(&path)
                .arg("--out")
                .arg(w.join(s(op, "to_dir")))
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
        "truncate" => {
            let len = fs::metadata(&path).unwrap().len() as i64;
            let to = op["to"].as_i64().unwrap();
            let to = if to < 0 { len + to } else { to };
            fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .unwrap()
                .set_len(to as u64)
                .unwrap();
        }
        "flip" => {
            let mut bytes = fs::read(&path).unwrap();
            let at = op["at"].as_u64().unwrap() as usize;
            bytes[at] ^= 0x01;
            fs::write(&path, bytes).unwrap();
        }
        "replace" | "replace_all" => {
            let bytes = fs::read(&path).unwrap();
            let from = s(op, "from").as_bytes();
            let to = match op.get("to_hex") {
                Some(h) => hex::decode(h.as_str().unwrap()).unwrap(),
                None => s(op, "to").as_bytes().to_vec(),
            };
            let mut out = Vec::new();
            let mut rest = &bytes[..];
            let mut found = 0;
            while let Some(at) = find(rest, from) {
                out.extend_from_slice(&rest[..at]);
                out.extend_from_slice(&to);
                rest = &rest[at + from.len()..];
                found += 1;
                if kind == "replace" {
                    break;
                }
            }
            assert!(found > 0, "setup {op}: {:?} not found", s(op, "from"));
            out.extend_from_slice(rest);
            fs::write(&path, out).unwrap();
        }
        "set_number" | "set_string" => {
            let text = fs::read_to_string(&path).unwrap();
            let key = format!("\"{}\":", s(op, "key"));
            let at = text.find(&key).unwrap_or_else(|| panic!("setup {op}")) + key.len();
            let rest = &text[at..];
            let value_start = rest.len() - rest.trim_start().len();
            let value = &rest[value_start..];
            let value_len = if kind == "set_number" {
                value
                    .find(|c: char| !(c.is_ascii_digit() || "-+.eE".contains(c)))
                    .unwrap()
            } else {
                1 + value[1..].find('"').unwrap() + 1
            };
            let new = if kind == "set_number" {
                s(op, "to").to_string()
            } else {
                format!("\"{}\"", s(op, "to"))
            };
            let out = format!(
                "{}{}{}",
                &text[..at + value_start],
                new,
                &value[value_len..]
            );
            fs::write(&path, out).unwrap();
        }
        "lines" => {
            let text = fs::read_to_string(&path).unwrap();
            let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
            if let Some(n) = op.get("drop") {
                lines.remove(n.as_u64().unwrap() as usize);
            } else if let Some(n) = op.get("dup") {
                let n = n.as_u64().unwrap() as usize;
                lines.insert(n, lines[n].clone());
            } else if let Some(pair) = op.get("swap") {
                lines.swap(
                    pair[0].as_u64().unwrap() as usize,
                    pair[1].as_u64().unwrap() as usize,
                );
            } else if let Some(ins) = op.get("insert") {
                lines.insert(
                    ins[0].as_u64().unwrap() as usize,
                    ins[1].as_str().unwrap().to_string(),
                );
            } else if op.get("keep") == Some(&Value::from("all-but-last")) {
                lines.pop();
            } else {
                panic!("setup {op}");
            }
            fs::write(&path, lines.join("\n") + "\n").unwrap();
        }
        "rehash" => {
            let bytes = fs::read(&path).unwrap();
            let manifest = w.join(s(op, "manifest"));
            let mut m: Value = serde_json::from_slice(&fs::read(&manifest).unwrap()).unwrap();
            let name = path.file_name().unwrap().to_str().unwrap();
            let entry = serde_json::json!({
                "path": name,
                "sha256": hex::encode(sha256(&bytes)),
                "size": bytes.len(),
            });
            let files = m["files"].as_array_mut().unwrap();
            // A file the manifest does not list yet is added to it.
            match files.iter_mut().find(|e| e["path"] == name) {
                Some(e) => *e = entry,
                None => files.push(entry),
            }
            fs::write(&manifest, serde_json::to_string_pretty(&m).unwrap() + "\n").unwrap();
        }
        _ => unreachable!(),
    }
    Ok(())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
