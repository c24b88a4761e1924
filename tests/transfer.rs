//! Across the air gap: export bundles and their manifests, publishing to a TUF
//! repository directory, bad bundles refused with nothing changed, QR codes there
//! and back, request bundles consumed by `run`.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A rehearsal (root-init, then root-rotate) made once per test binary: two
/// export bundles of one TUF repository, versions 1 and 1 → 2.
fn rehearsal() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("rehearsal");
        ok(&["rehearse", "--yes", "--out", p(&out)]);
        (d, out)
    })
    .1
}

/// A private copy of one of the rehearsal's bundles.
fn copy_bundle(name: &str, to: &Path) -> PathBuf {
    let from = rehearsal().join(name);
    let dest = to.join(name);
    copy_dir(&from, &dest);
    dest
}

/// Every file under `dir` with its bytes: what "unchanged" is checked against.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    if !dir.exists() {
        return out;
    }
    for e in fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            out.extend(snapshot(&path));
        } else {
            out.insert(path.clone(), fs::read(&path).unwrap());
        }
    }
    out
}

fn bundle_hash(dir: &Path) -> String {
    ok(&["bundle-verify", p(dir)])
        .lines()
        .find_map(|l| l.strip_prefix("bundle hash: "))
        .unwrap()
        .to_owned()
}

#[test]
fn an_export_bundle_lists_every_file_and_publishes_to_a_tuf_repository() {
    let d = tempfile::tempdir().unwrap();
    let init = copy_bundle("root-init", d.path());
    let rotate = copy_bundle("root-rotate", d.path());
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(init.join("manifest.json")).unwrap()).unwrap();
    let files: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        [
            "1.root.json",
            "root.json",
            "script.toml",
            "transcript.jsonl",
            "transcript.md"
        ]
    );
    assert_eq!(manifest["kind"], "export");
    assert_eq!(manifest["ceremony"]["kind"], "root-init");
    let out = ok(&["bundle-verify", p(&init)]);
    assert!(
        out.contains("export bundle") && out.contains("5 file(s) match the manifest"),
        "{out}"
    );
    // No partial directory is left beside a finished bundle.
    assert!(!d.path().join(".root-init.partial").exists());

    let repo = d.path().join("repo/metadata");
    let hash = bundle_hash(&init);
    let out = ok(&[
        "publish",
        p(&init),
        "--tuf-repo",
        p(&repo),
        "--first-root",
        "--expect-bundle",
        &hash,
    ]);
    assert!(out.contains("published root version(s) 1"), "{out}");
    let out = ok(&["publish", p(&rotate), "--tuf-repo", p(&repo)]);
    assert!(out.contains("published root version(s) 2"), "{out}");
    assert_eq!(
        fs::read(repo.join("root.json")).unwrap(),
        fs::read(rotate.join("2.root.json")).unwrap()
    );
    assert_eq!(
        fs::read(repo.join("1.root.json")).unwrap(),
        fs::read(init.join("1.root.json")).unwrap()
    );
    let (accepted, msg) = python_tuf(&[&repo.join("1.root.json"), &repo.join("2.root.json")]);
    assert!(accepted, "{msg}");
}

/// Each way a bundle can be wrong, refused with its reason, and the repository
/// (holding version 1) left exactly as it was.
#[test]
fn bad_bundles_are_refused_and_the_repository_is_unchanged() {
    let d = tempfile::tempdir().unwrap();
    let init = copy_bundle("root-init", d.path());
    let repo = d.path().join("repo");
    ok(&["publish", p(&init), "--tuf-repo", p(&repo), "--first-root"]);
    let before = snapshot(&repo);
    type Damage = fn(&Path);
    let cases: Vec<(&str, Damage, &str)> = vec![
        (
            "tampered file",
            |b| {
                // One digit changed: same size, other bytes.
                let f = b.join("2.root.json");
                let mut bytes = fs::read(&f).unwrap();
                let i = bytes
                    .iter()
                    .rposition(|c| (b'0'..=b'8').contains(c))
                    .unwrap();
                bytes[i] += 1;
                fs::write(f, bytes).unwrap();
            },
            "2.root.json: SHA-256 is",
        ),
        (
            "manifest mismatch",
            |b| {
                let f = b.join("manifest.json");
                let mut m: serde_json::Value =
                    serde_json::from_slice(&fs::read(&f).unwrap()).unwrap();
                m["files"][0]["size"] = serde_json::json!(1);
                fs::write(f, serde_json::to_vec(&m).unwrap()).unwrap();
            },
            "bytes, the manifest says 1",
        ),
        (
            "extra file",
            |b| fs::write(b.join("notes.txt"), "unlisted").unwrap(),
            "notes.txt is not in the manifest",
        ),
        (
            "truncated file",
            |b| {
                let f = b.join("transcript.jsonl");
                let bytes = fs::read(&f).unwrap();
                fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
            },
            "transcript.jsonl:",
        ),
        (
            "missing file",
            |b| fs::remove_file(b.join("2.root.json")).unwrap(),
            "2.root.json: listed in the manifest but missing",
        ),
        (
            "no manifest",
            |b| fs::remove_file(b.join("manifest.json")).unwrap(),
            "no manifest.json",
        ),
        (
            "a signature removed, manifest rewritten to match",
            |b| {
                let f = b.join("2.root.json");
                let mut v: serde_json::Value =
                    serde_json::from_slice(&fs::read(&f).unwrap()).unwrap();
                v["signatures"].as_array_mut().unwrap().truncate(1);
                let bytes = serde_json::to_vec(&v).unwrap();
                fs::write(&f, &bytes).unwrap();
                fs::write(b.join("root.json"), &bytes).unwrap();
                rewrite_manifest(b);
            },
            "version 2",
        ),
    ];
    for (name, damage, needle) in cases {
        let case = d.path().join(format!("case-{}", name.replace(' ', "-")));
        let bundle = copy_bundle("root-rotate", &case);
        damage(&bundle);
        let err = refused(&["publish", p(&bundle), "--tuf-repo", p(&repo)]);
        assert!(err.contains(needle), "{name}: {err}");
        assert_eq!(snapshot(&repo), before, "{name}: the repository changed");
    }
    // The wrong repository.
    let bundle = copy_bundle("root-rotate", &d.path().join("wrong-repo"));
    let err = refused(&[
        "publish",
        p(&bundle),
        "--tuf-repo",
        p(&repo),
        "--repository",
        "example.com/another",
    ]);
    assert!(err.contains("not example.com/another"), "{err}");
    // Another bundle than the one read out at the ceremony.
    let err = refused(&[
        "publish",
        p(&bundle),
        "--tuf-repo",
        p(&repo),
        "--expect-bundle",
        &"ab".repeat(32),
    ]);
    assert!(err.contains("this is not that bundle"), "{err}");
    let real = bundle_hash(&bundle);
    assert!(!err.contains(&real), "the real hash is never shown: {err}");
    // A prefix of the real hash: refused, and the rest of the hash not shown.
    let err = refused(&[
        "publish",
        p(&bundle),
        "--tuf-repo",
        p(&repo),
        "--expect-bundle",
        &real[..12],
    ]);
    assert!(
        err.contains("give all 64 hex digits the witnesses wrote down"),
        "{err}"
    );
    assert!(!err.contains(&real[12..]), "{err}");
    assert_eq!(snapshot(&repo), before);
    // Rollback: version 2 published, then the version 1 bundle again.
    ok(&["publish", p(&bundle), "--tuf-repo", p(&repo)]);
    let after = snapshot(&repo);
    let err = refused(&["publish", p(&init), "--tuf-repo", p(&repo)]);
    assert!(err.contains("rollback"), "{err}");
    assert_eq!(snapshot(&repo), after);
    // A different root for a published version: a fork.
    let other = d.path().join("other-repo");
    fs::create_dir_all(&other).unwrap();
    fs::copy(bundle.join("1.root.json"), other.join("root.json")).unwrap();
    fs::write(other.join("2.root.json"), b"{}").unwrap();
    let err = refused(&["publish", p(&bundle), "--tuf-repo", p(&other)]);
    assert!(err.contains("exists with other contents: a fork"), "{err}");
}

/// Recompute the manifest over the files as they are now (what an attacker with
/// write access to the media can do): the signatures still decide.
fn rewrite_manifest(bundle: &Path) {
    use sha2::{Digest, Sha256};
    let f = bundle.join("manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(&fs::read(&f).unwrap()).unwrap();
    for entry in m["files"].as_array_mut().unwrap() {
        let bytes = fs::read(bundle.join(entry["path"].as_str().unwrap())).unwrap();
        entry["sha256"] = serde_json::json!(hex::encode(Sha256::digest(&bytes)));
        entry["size"] = serde_json::json!(bytes.len());
    }
    fs::write(f, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

#[test]
fn a_bundle_crosses_as_qr_images_and_comes_back_byte_identical() {
    let d = tempfile::tempdir().unwrap();
    let bundle = copy_bundle("root-rotate", d.path());
    let hash = bundle_hash(&bundle);
    let images = d.path().join("qr");
    let out = ok(&[
        "qr",
        "encode",
        p(&bundle),
        "--out",
        p(&images),
        "--chunk",
        "1200",
    ]);
    assert!(out.contains(&hash), "{out}");
    let mut pngs: Vec<PathBuf> = fs::read_dir(&images)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().unwrap() == "png")
        .collect();
    pngs.sort();
    assert!(pngs.len() > 1, "a bundle of several frames");
    assert_eq!(
        fs::read_dir(&images).unwrap().count(),
        2 * pngs.len(),
        "an SVG for every PNG"
    );
    // Scanned in another order, one frame missing: the missing frame is named.
    let mut shuffled = pngs.clone();
    shuffled.reverse();
    let dropped = shuffled.remove(1);
    let n = pngs.len();
    let index = pngs.iter().position(|p| *p == dropped).unwrap() + 1;
    let mut args = vec!["qr", "decode", "--out"];
    let received = d.path().join("received");
    args.push(p(&received));
    args.extend(shuffled.iter().map(|p| p.to_str().unwrap()));
    let err = refused(&args);
    assert!(
        err.contains(&format!("missing frame {index} of {n}")),
        "{err}"
    );
    assert!(
        !received.exists(),
        "nothing is written from an incomplete set"
    );
    // All frames, any order: the bundle, byte for byte.
    let mut args = vec!["qr", "decode", "--expect-bundle", &hash, "--out"];
    args.push(p(&received));
    let mut all = pngs.clone();
    all.rotate_left(n / 2);
    args.extend(all.iter().map(|p| p.to_str().unwrap()));
    let out = ok(&args);
    assert!(out.contains(&format!("bundle {hash} rebuilt")), "{out}");
    assert_eq!(snapshot_rel(&received), snapshot_rel(&bundle));
    // A frame of another bundle among them is set aside by name, and said.
    let other = copy_bundle("root-init", d.path());
    let other_images = d.path().join("qr-other");
    ok(&["qr", "encode", p(&other), "--out", p(&other_images)]);
    let foreign = other_images.join("frame-001.png");
    let again = d.path().join("received-again");
    let mut args = vec!["qr", "decode", "--expect-bundle", &hash, "--out", p(&again)];
    args.extend(pngs.iter().map(|p| p.to_str().unwrap()));
    args.push(p(&foreign));
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("1 frame(s) of another bundle than the expected one set aside")
            && stderr(&o).contains(&format!("{} (frame 1 of", foreign.display())),
        "{}",
        stderr(&o)
    );
    assert_eq!(snapshot_rel(&again), snapshot_rel(&bundle));
    // Without the expected hash, the frame of another bundle is refused by name.
    let mut args = vec!["qr", "decode", "--out", "never-written"];
    args.extend(pngs.iter().map(|p| p.to_str().unwrap()));
    args.push(p(&foreign));
    let err = refused(&args);
    assert!(
        err.contains("belongs to bundle") && err.contains(&format!("is {}", foreign.display())),
        "{err}"
    );
}

fn snapshot_rel(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    snapshot(dir)
        .into_iter()
        .map(|(k, v)| (k.strip_prefix(dir).unwrap().to_owned(), v))
        .collect()
}

#[test]
fn a_tampered_request_bundle_is_refused_before_the_ceremony_starts() {
    let d = tempfile::tempdir().unwrap();
    let k = keys();
    let mut key_args: Vec<String> = Vec::new();
    for role in ["targets", "snapshot", "timestamp"] {
        let o = run(&["key", "show", "--token", &k.token(role)]);
        assert!(o.status.success());
        let f = d.path().join(format!("{role}.json"));
        fs::write(&f, &o.stdout).unwrap();
        key_args.push("--key".into());
        key_args.push(format!("{role}=keyfile:{}", p(&f)));
    }
    let req = d.path().join("request");
    let mut args = vec![
        "request",
        "--repository",
        "example.com/req",
        "--out",
        p(&req),
    ];
    args.extend(key_args.iter().map(String::as_str));
    let out = ok(&args);
    assert!(out.contains("current root chain: none"), "{out}");
    // Same output again: refused, the first is kept.
    let err = refused(&args);
    assert!(err.contains("already exists"), "{err}");
    // A key swapped on the way.
    let other = fs::read(d.path().join("snapshot.json")).unwrap();
    fs::write(req.join("keys/targets.json"), other).unwrap();
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("ceremony-scripts");
    let work = d.path().join("work");
    fs::write(d.path().join("a.toml"), "[confirm]\ndefault = true\n").unwrap();
    let err = refused(&[
        "run",
        p(&scripts.join("root-init.toml")),
        "--workdir",
        p(&work),
        "--out",
        p(&d.path().join("export")),
        "--request",
        p(&req),
        "--answers",
        p(&d.path().join("a.toml")),
    ]);
    assert!(err.contains("keys/targets.json: SHA-256 is"), "{err}");
    assert!(!work.exists(), "no ceremony state was made");
    // A request for another repository than the one set.
    let req2 = d.path().join("request-2");
    let mut args = vec![
        "request",
        "--repository",
        "example.com/req",
        "--out",
        p(&req2),
    ];
    args.extend(key_args.iter().map(String::as_str));
    ok(&args);
    let err = refused(&[
        "run",
        p(&scripts.join("root-init.toml")),
        "--workdir",
        p(&work),
        "--out",
        p(&d.path().join("export")),
        "--request",
        p(&req2),
        "--set",
        "repository=example.com/other",
        "--answers",
        p(&d.path().join("a.toml")),
    ]);
    assert!(
        err.contains("but the request bundle is for repository example.com/req"),
        "{err}"
    );
    // Bad request options.
    let err = refused(&[
        "request",
        "--repository",
        "r",
        "--out",
        p(&d.path().join("r3")),
        "--new-key",
        "root",
        "--keystore",
        p(&d.path().join("ks")),
    ]);
    assert!(err.contains("not an online role"), "{err}");
    let err = refused(&[
        "request",
        "--repository",
        "r",
        "--out",
        p(&d.path().join("r4")),
        "--revoke",
        "xyz",
    ]);
    assert!(
        err.contains("repository r has no current root, so it has no key to revoke"),
        "{err}"
    );
    assert!(!d.path().join("r4").exists());
}

#[test]
fn a_request_for_several_repositories_is_a_batch() {
    let d = tempfile::tempdir().unwrap();
    let init = copy_bundle("root-init", d.path());
    let rotate = copy_bundle("root-rotate", d.path());
    // The current chains, one directory per repository.
    let current = d.path().join("current");
    for (repo, bundle) in [("example.com/a", &init), ("example.com/b", &rotate)] {
        let dir = current.join(repo.replace('/', "%2F"));
        fs::create_dir_all(&dir).unwrap();
        for f in fs::read_dir(bundle).unwrap() {
            let f = f.unwrap().path();
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".root.json") && name != "root.json" {
                fs::copy(&f, dir.join(&name)).unwrap();
            }
        }
    }
    let k = keys();
    let o = run(&["key", "show", "--token", &k.token("targets")]);
    let key = d.path().join("targets.json");
    fs::write(&key, &o.stdout).unwrap();
    let req = d.path().join("request");
    // The targets key both repositories' current roots list (the rehearsal's).
    let first: serde_json::Value = serde_json::from_slice(
        &fs::read(current.join("example.com%2Fa").join("1.root.json")).unwrap(),
    )
    .unwrap();
    let compromised = first["signed"]["roles"]["targets"]["keyids"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let out = ok(&[
        "request",
        "--repository",
        "example.com/a",
        "--repository",
        "example.com/b",
        "--current",
        p(&current),
        "--key",
        &format!("targets=keyfile:{}", p(&key)),
        "--revoke",
        &compromised[..16],
        "--out",
        p(&req),
    ]);
    assert!(out.contains("for 2 repositories (tuf): a batch"), "{out}");
    let r: serde_json::Value =
        serde_json::from_slice(&fs::read(req.join("request.json")).unwrap()).unwrap();
    assert_eq!(r["repositories"][0]["repository"], "example.com/a");
    // A batch keeps its roots and keys in two packs; each repository names the
    // parts that are its files.
    let b = &r["repositories"][1];
    assert_eq!(
        b["current"],
        serde_json::json!(["current/1.root.json", "current/2.root.json"])
    );
    assert_eq!(b["keys"]["targets"], "keys/targets.json");
    assert_eq!(b["packed"]["current/2.root.json"]["file"], "current.pack");
    assert_eq!(b["packed"]["keys/targets.json"]["file"], "keys.pack");
    let pack = fs::read(req.join("current.pack")).unwrap();
    let part = &b["packed"]["current/2.root.json"];
    let (at, size) = (
        part["offset"].as_u64().unwrap() as usize,
        part["size"].as_u64().unwrap() as usize,
    );
    assert_eq!(
        &pack[at..at + size],
        &fs::read(current.join("example.com%2Fb").join("2.root.json")).unwrap()[..]
    );
    let mut listed: Vec<String> = fs::read_dir(&req)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        ["current.pack", "keys.pack", "manifest.json", "request.json"]
    );
    ok(&["bundle-verify", "--kind", "request", p(&req)]);
    // A batch runs only the scripts that make sense over many repositories.
    fs::write(d.path().join("a.toml"), "[confirm]\ndefault = true\n").unwrap();
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("ceremony-scripts");
    let err = refused(&[
        "run",
        p(&scripts.join("root-rotate.toml")),
        "--workdir",
        p(&d.path().join("w")),
        "--out",
        p(&d.path().join("e")),
        "--request",
        p(&req),
        "--answers",
        p(&d.path().join("a.toml")),
    ]);
    assert!(
        err.contains("batches run revoke-tagging-key or refresh-expiry, not root-rotate"),
        "{err}"
    );
}

/// A responder's slips are caught on the online side, before anything is made or
/// carried across the air gap: a `--revoke` that names no targets key of the
/// current root is refused listing the keys it has; a `--revoke` for a repository
/// with no current root (a wrong name) is refused before any key is made for it;
/// a prefix that names the key is written into the request as the full key ID.
#[test]
fn a_revoke_typo_or_a_wrong_repository_is_caught_before_the_air_gap() {
    let d = tempfile::tempdir().unwrap();
    let init = copy_bundle("root-init", d.path());
    let current = d.path().join("current");
    fs::create_dir_all(&current).unwrap();
    for f in fs::read_dir(&init).unwrap() {
        let f = f.unwrap().path();
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".root.json") {
            fs::copy(&f, current.join(&name)).unwrap();
        }
    }
    let root: Value =
        serde_json::from_slice(&fs::read(current.join("1.root.json")).unwrap()).unwrap();
    let targets_id = root["signed"]["roles"]["targets"]["keyids"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let k = keys();
    let o = run(&["key", "show", "--token", &k.token("targets")]);
    let key = d.path().join("targets.json");
    fs::write(&key, &o.stdout).unwrap();
    let keyarg = format!("targets=keyfile:{}", p(&key));
    let req = d.path().join("request");
    let request = |repo: &str, revoke: &str, cur: Option<&Path>| {
        let mut a = vec![
            "request".to_string(),
            "--repository".into(),
            repo.into(),
            "--out".into(),
            p(&req).into(),
            "--key".into(),
            keyarg.clone(),
            "--revoke".into(),
            revoke.into(),
        ];
        if let Some(c) = cur {
            a.push("--current".into());
            a.push(p(c).into());
        }
        a
    };
    let typo = request("example.com/app", "0123456789ab", Some(&current));
    let err = refused(&typo.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        err.contains("--revoke 0123456789ab: example.com/app's current root (version 1): role targets lists no key 0123456789ab (its keys: ")
            && err.contains(&targets_id[..8]),
        "{err}"
    );
    assert!(!req.exists(), "nothing written");

    let wrong = request("example.com/typo", &targets_id[..12], None);
    let err = refused(&wrong.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        err.contains("repository example.com/typo has no current root, so it has no key to revoke"),
        "{err}"
    );
    assert!(!req.exists(), "nothing written");

    let good = request("example.com/app", &targets_id[..12], Some(&current));
    let out = ok(&good.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        out.contains(&format!("to remove from targets: {targets_id}")),
        "{out}"
    );
    // bundle-verify names every key ID the request carries, in full.
    let listed = ok(&["bundle-verify", "--kind", "request", p(&req)]);
    assert!(
        listed.contains(&format!("to remove from targets: {targets_id}")),
        "{listed}"
    );
    assert!(listed.contains("  targets key: "), "{listed}");
}

/// Publishing into a TUF repository where something other than a regular file
/// stands at a name it must write: refused before anything is written, whatever
/// it is (a dangling symlink made `1.root.json` appear before the refusal; a
/// directory made publish report success without writing `2.root.json`).
#[test]
fn publish_refuses_a_symlink_or_directory_at_a_root_name_and_writes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let rotate = copy_bundle("root-rotate", d.path());
    for (name, plant) in [
        (
            "dangling symlink",
            (|p: &Path| std::os::unix::fs::symlink("/nonexistent/target", p).unwrap()) as fn(&Path),
        ),
        ("directory", |p: &Path| fs::create_dir(p).unwrap()),
    ] {
        let repo = d.path().join(format!("repo-{}", name.replace(' ', "-")));
        fs::create_dir_all(&repo).unwrap();
        plant(&repo.join("2.root.json"));
        let before = fs::read_dir(&repo).unwrap().count();
        let err = refused(&[
            "publish",
            p(&rotate),
            "--tuf-repo",
            p(&repo),
            "--first-root",
        ]);
        assert!(
            err.contains("2.root.json is") && err.contains("nothing was written"),
            "{name}: {err}"
        );
        assert_eq!(fs::read_dir(&repo).unwrap().count(), before, "{name}");
        assert!(!repo.join("1.root.json").exists(), "{name}");
        assert!(!repo.join("root.json").exists(), "{name}");
    }
    // A regular file given as the repository directory.
    let file = d.path().join("not-a-dir");
    fs::write(&file, b"x").unwrap();
    let err = refused(&[
        "publish",
        p(&rotate),
        "--tuf-repo",
        p(&file),
        "--first-root",
    ]);
    assert!(
        err.contains("not a directory; give the repository's metadata directory"),
        "{err}"
    );
    assert_eq!(fs::read(&file).unwrap(), b"x");
}

/// Refusals leave nothing behind: an output path that is a dangling symlink is
/// refused before anything is staged (`request`, `qr decode`), and a `--chunk`
/// too large for one QR code is refused before the output directory is made.
#[test]
fn refusals_leave_nothing_behind() {
    let d = tempfile::tempdir().unwrap();
    let init = copy_bundle("root-init", d.path());
    let dangling = d.path().join("L");
    std::os::unix::fs::symlink("/nonexistent/target", &dangling).unwrap();
    let listing = |dir: &Path| {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let before = listing(d.path());

    let err = refused(&[
        "request",
        "--repository",
        "example.com/a",
        "--out",
        p(&dangling),
    ]);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(listing(d.path()), before);

    let too_big = d.path().join("frames-big");
    let err = refused(&[
        "qr",
        "encode",
        p(&init),
        "--out",
        p(&too_big),
        "--chunk",
        "4000",
    ]);
    assert!(
        err.contains("4000 is not a payload size from 64 to 1600 bytes"),
        "{err}"
    );
    assert_eq!(listing(d.path()), before);

    let frames = d.path().join("frames");
    ok(&["qr", "encode", p(&init), "--out", p(&frames)]);
    let mut pngs: Vec<PathBuf> = fs::read_dir(&frames)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().unwrap() == "png")
        .collect();
    pngs.sort();
    let mut args = vec!["qr", "decode", "--out", p(&dangling)];
    args.extend(pngs.iter().map(|p| p.to_str().unwrap()));
    let err = refused(&args);
    assert!(err.contains("already exists"), "{err}");
    assert!(!d.path().join(".L.partial").exists());
}
