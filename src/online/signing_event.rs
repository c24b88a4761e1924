//! Signing events through the online side. `ceremony request --signing-event
//! DIR` carries an event to the next site in a request bundle: a previous
//! site's export (byte for byte, its manifest too), or a tuf-on-ci signing
//! event from a git checkout (its `metadata/root.json` byte for byte, with the
//! root history it continues). `ceremony publish --tuf-on-ci CHECKOUT` writes
//! the signatures a ceremony made back into that event's file, adding
//! signatures only and keeping the file exactly as tuf-on-ci writes it.

use crate::ceremony::event::{
    self as ev, CARRIED_DIR, Previous, TUF_ON_CI_DIR, TUF_ON_CI_FORMAT, TufOnCiEvent,
};
use crate::error::{Error, Result};
use crate::fsio;
use crate::transfer::bundle::{self, Bundle, MANIFEST};
use crate::tuf::document::RootDocument;
use crate::tuf::pyjson;
use crate::tuf::verify::fingerprint;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::Path;

/// Files of a bundle being made: path in the bundle, bytes.
type Files = Vec<(String, Vec<u8>)>;

fn refuse(what: &Path, reason: impl std::fmt::Display) -> Error {
    Error::Usage(format!("{}: {reason}", what.display()))
}

/// `ceremony request --signing-event SOURCE --repository NAME --out OUT`.
pub fn request(source: &Path, repository: &str, out: &Path) -> Result<Bundle> {
    fsio::new_output(out)?;
    crate::online::request::clear_interrupted(out, |n| {
        [CARRIED_DIR, TUF_ON_CI_DIR, MANIFEST].contains(&n)
    })?;
    let (files, flavour) = if source.join(MANIFEST).exists() {
        carry_export(source, repository)?
    } else if source.join("metadata/root.json").exists() {
        (carry_tuf_on_ci(source, repository)?, "tuf".to_owned())
    } else {
        return Err(refuse(
            source,
            "neither a signing event's export (it has no manifest.json) nor a tuf-on-ci \
             checkout (it has no metadata/root.json)",
        ));
    };
    for (name, bytes) in &files {
        bundle::stage(out, name, bytes)?;
    }
    bundle::sync_staged(out)?;
    Ok(bundle::commit(
        out,
        "request",
        &flavour,
        vec![repository.to_owned()],
        None,
    )?)
}

/// A previous site's export, checked as the next site will check it, carried
/// whole.
fn carry_export(source: &Path, repository: &str) -> Result<(Files, String)> {
    let previous = Previous::open(source)?;
    if previous.dir != source || previous.transcripts.is_empty() {
        return Err(refuse(
            source,
            "a request bundle already: give the export a site wrote (or pass this \
             request to the next site's --previous as it is)",
        ));
    }
    previous.check_draft()?;
    if previous.event.repository != repository {
        return Err(refuse(
            source,
            format!(
                "its signing event is for {}, not {repository}",
                previous.event.repository
            ),
        ));
    }
    let mut files = Vec::new();
    for path in previous.bundle.paths() {
        files.push((format!("{CARRIED_DIR}/{path}"), previous.bundle.read(path)?));
    }
    files.push((
        format!("{CARRIED_DIR}/{MANIFEST}"),
        fsio::read_regular(&source.join(MANIFEST)).map_err(|e| Error::Read {
            path: source.join(MANIFEST).display().to_string(),
            reason: e.to_string(),
        })?,
    ));
    for t in &previous.event.thresholds {
        println!("  {}", t.describe());
    }
    Ok((files, previous.event.flavour.clone()))
}

/// A file of a tuf-on-ci checkout, read whole: a regular file, not a symbolic
/// link (a link committed to the repository could point at any file of the
/// machine, which would then travel in the request or be written over).
fn read_plain(path: &Path) -> Result<Vec<u8>> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(refuse(
            path,
            "a symbolic link: a tuf-on-ci checkout's metadata files are read and written \
             only as plain files",
        )),
        _ => crate::inputs::read_file(path),
    }
}

/// A directory of a tuf-on-ci checkout (`metadata`, `root_history`): a real
/// directory, not a symbolic link.
fn checkout_dir(parent: &Path, name: &str) -> Result<std::path::PathBuf> {
    let path = parent.join(name);
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.is_dir() => Ok(path),
        Ok(_) => Err(refuse(
            &path,
            "not a directory (a symbolic link is not followed)",
        )),
        Err(e) => Err(Error::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        }),
    }
}

/// tuf-on-ci's signing event in a checkout: its root (placeholders and all),
/// the root history it continues, and where git says the checkout is.
fn carry_tuf_on_ci(checkout: &Path, repository: &str) -> Result<Files> {
    let metadata = checkout_dir(checkout, "metadata")?;
    let root_path = metadata.join("root.json");
    let bytes = read_plain(&root_path)?;
    check_tuf_on_ci_form(&root_path, &bytes)?;
    let doc = RootDocument::from_slice(&bytes, &root_path.display().to_string())?;
    let version = doc.version();
    let mut files = vec![(format!("{TUF_ON_CI_DIR}/root.json"), bytes.clone())];
    // The root history it continues: every `K.root.json` older than it, each a
    // root of that version (listed, never counted up to: versions are large).
    let history = metadata.join("root_history");
    let mut found: Vec<(u64, std::path::PathBuf)> = Vec::new();
    if std::fs::symlink_metadata(&history).is_ok() {
        checkout_dir(&metadata, "root_history")?;
        for (v, path) in crate::inputs::root_files_in(&history)? {
            if let Some(v) = v.filter(|v| *v < version) {
                found.push((v, path));
            }
        }
    }
    found.sort();
    if found.last().map(|(v, _)| *v) != Some(version - 1) {
        return Err(refuse(
            &history.join(format!("{}.root.json", version - 1)),
            format!(
                "missing: root version {version} is signed as the successor of version {}, \
                 and the next site checks it against that root",
                version - 1
            ),
        ));
    }
    for (v, path) in found {
        let b = read_plain(&path)?;
        let old = RootDocument::from_slice(&b, &path.display().to_string())?;
        if old.version() != v {
            return Err(refuse(
                &path,
                format!("holds root version {}", old.version()),
            ));
        }
        files.push((format!("{TUF_ON_CI_DIR}/root_history/{v}.root.json"), b));
    }
    let (branch, commit) = git_head(checkout);
    let event = TufOnCiEvent {
        format: TUF_ON_CI_FORMAT.into(),
        repository: repository.to_owned(),
        version,
        file_sha256: hex::encode(Sha256::digest(&bytes)),
        branch,
        commit,
    };
    let mut json = serde_json::to_vec_pretty(&event).expect("serialises");
    json.push(b'\n');
    files.push((format!("{TUF_ON_CI_DIR}/event.json"), json));
    let placeholders = doc.signatures.iter().filter(|s| s.sig.is_empty()).count();
    println!(
        "tuf-on-ci signing event: root version {version} of {repository}, {} signature(s) made, \
         {placeholders} awaited",
        doc.signatures.len() - placeholders
    );
    Ok(files)
}

/// The branch and commit a git checkout is at, read from `.git` (no git
/// needed). Only what looks like git's own is taken: a ref under `refs/`, a
/// commit of 40 hex digits, from regular files; anything else is unknown.
fn git_head(checkout: &Path) -> (Option<String>, Option<String>) {
    let git = checkout.join(".git");
    let read = |p: &Path| {
        fsio::read_regular(p)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
    };
    let is_commit = |c: &str| c.len() == 40 && c.bytes().all(|b| b.is_ascii_hexdigit());
    let Some(head) = read(&git.join("HEAD")) else {
        return (None, None);
    };
    let head = head.trim();
    let Some(r) = head.strip_prefix("ref: ") else {
        return (None, is_commit(head).then(|| head.to_owned()));
    };
    let safe = r.starts_with("refs/")
        && r.len() <= 255
        && !r.split('/').any(|c| c.is_empty() || c == "." || c == "..")
        && r.chars().all(|c| c.is_ascii_graphic());
    if !safe {
        return (None, None);
    }
    let branch = r.strip_prefix("refs/heads/").unwrap_or(r).to_owned();
    let commit = read(&git.join(r))
        .map(|c| c.trim().to_owned())
        .filter(|c| is_commit(c))
        .or_else(|| {
            read(&git.join("packed-refs"))?.lines().find_map(|l| {
                let (c, name) = l.split_once(' ')?;
                (name == r && is_commit(c)).then(|| c.to_owned())
            })
        });
    (Some(branch), commit)
}

/// A tuf-on-ci metadata file must be exactly as tuf-on-ci writes it, so that
/// adding signatures changes nothing else.
fn check_tuf_on_ci_form(path: &Path, bytes: &[u8]) -> Result<Value> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| refuse(path, format!("not JSON: {e}")))?;
    if pyjson::to_string(&value).as_bytes() != bytes {
        return Err(refuse(
            path,
            "it is not written as tuf-on-ci writes metadata (python-tuf's JSONSerializer: \
             sorted keys, one-space indent, no trailing newline), so signatures cannot be \
             added without changing other bytes; nothing was written",
        ));
    }
    Ok(value)
}

/// What `publish --tuf-on-ci` did.
pub struct Written {
    pub added: Vec<String>,
    pub files: Vec<String>,
    pub thresholds: Vec<ev::Threshold>,
}

/// Write the signatures of a signing event's export into the tuf-on-ci
/// checkout's `metadata/root.json` (and its `root_history` copy): each fills
/// its key's empty placeholder in place, or is appended; nothing else changes.
pub fn publish_tuf_on_ci(export: &Path, checkout: &Path) -> Result<Written> {
    let bundle = Bundle::open(export, "export")?;
    if !bundle.contains(ev::EVENT_FILE) {
        return Err(refuse(
            export,
            "not a signing event's export (it has no signing-event.json)",
        ));
    }
    drop(bundle);
    // Every site's transcript, sealed by root keys and chained; the draft with
    // only signatures added; every signature verifying.
    let event = Previous::open(export)?;
    event.check_draft()?;
    let origin = event.event.tuf_on_ci.clone().ok_or_else(|| {
        refuse(
            export,
            "its signing event did not come from tuf-on-ci (publish it with --tuf-repo)",
        )
    })?;
    let ours = &event.draft;
    if ours.version() != origin.version {
        return Err(refuse(
            export,
            format!(
                "it signs root version {}, but its tuf-on-ci event was for version {}",
                ours.version(),
                origin.version
            ),
        ));
    }
    let metadata = checkout_dir(checkout, "metadata")?;
    let root_path = metadata.join("root.json");
    // The root the signatures are checked against is the checkout's own
    // previous root, never the export's word for it.
    let history = checkout_dir(&metadata, "root_history")?;
    let previous_path = history.join(format!("{}.root.json", ours.version() - 1));
    let previous_bytes = read_plain(&previous_path)?;
    let previous = RootDocument::from_slice(&previous_bytes, &previous_path.display().to_string())?;
    if event.current.last().map(|d| d.to_json()).transpose()? != Some(previous.to_json()?) {
        return Err(refuse(
            &previous_path,
            "the export's previous root is not this checkout's: this export belongs to \
             another repository or another signing event; nothing was written",
        ));
    }
    let previous = Some(previous);
    ev::thresholds(previous.as_ref(), ours)?;
    let original = read_plain(&root_path)?;
    let mut value = check_tuf_on_ci_form(&root_path, &original)?;
    let theirs = RootDocument::from_slice(&original, &root_path.display().to_string())?;
    if theirs.canonical_signed()? != ours.canonical_signed()? {
        return Err(refuse(
            &root_path,
            format!(
                "its signed part is not the root the ceremony signed (root version {} of {}): \
                 the signing event changed since the request; nothing was written",
                origin.version, origin.repository
            ),
        ));
    }
    let ours_sigs: Vec<(String, String)> = ours
        .signatures
        .iter()
        .map(|s| (s.keyid.clone(), s.sig.clone()))
        .collect();
    let added = add_signatures(&mut value, &ours_sigs)
        .ok_or_else(|| refuse(&root_path, "it has no signatures list"))?;
    let bytes = pyjson::to_string(&value).into_bytes();
    let mut doc = RootDocument::from_slice(&bytes, &root_path.display().to_string())?;
    doc.signatures.retain(|s| !s.sig.is_empty());
    let thresholds = ev::thresholds(previous.as_ref(), &doc)?;
    let mut files = Vec::new();
    if !added.is_empty() {
        let history = history.join(format!("{}.root.json", origin.version));
        // tuf-on-ci keeps the root being signed in both places, identical.
        if history.exists() && read_plain(&history)? == original {
            fsio::replace(&history, &bytes, 0o644)?;
            files.push(history.display().to_string());
        }
        fsio::replace(&root_path, &bytes, 0o644)?;
        files.push(root_path.display().to_string());
    }
    Ok(Written {
        added,
        files,
        thresholds,
    })
}

/// Add `(keyid, sig)` signatures to a metadata file's JSON as tuf-on-ci's
/// signer does: a key's empty placeholder is filled in place, a key without one
/// is appended, a key that signed already is left as it is. Returns the key IDs
/// added (None: the file has no signatures list).
pub fn add_signatures(value: &mut Value, sigs: &[(String, String)]) -> Option<Vec<String>> {
    let list = value.get_mut("signatures")?.as_array_mut()?;
    let mut added = Vec::new();
    for (keyid, sig) in sigs {
        let slot = list
            .iter_mut()
            .find(|v| v.get("keyid").and_then(Value::as_str) == Some(keyid.as_str()));
        match slot {
            Some(v) if v.get("sig").and_then(Value::as_str) == Some("") => {
                v["sig"] = Value::from(sig.clone());
                added.push(keyid.clone());
            }
            // Signed already (there, or by an earlier publish).
            Some(_) => {}
            None => {
                let mut entry = serde_json::Map::new();
                entry.insert("keyid".into(), Value::from(keyid.clone()));
                entry.insert("sig".into(), Value::from(sig.clone()));
                list.push(Value::Object(entry));
                added.push(keyid.clone());
            }
        }
    }
    Some(added)
}

/// One line for each key added, for the operator.
pub fn describe_added(added: &[String]) -> String {
    added
        .iter()
        .map(|k| fingerprint(k))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn data(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(rel)
    }

    /// Every root tuf-on-ci wrote into a repository's `metadata/` that we hold
    /// (byte for byte from public repositories, see SOURCES.tsv) is written back
    /// identically: adding signatures changes nothing else. (Hand-written test
    /// fixtures of tuf-on-ci's own repository are not its writer's output.)
    #[test]
    fn every_real_tuf_on_ci_root_is_written_back_byte_for_byte() {
        let sources = std::fs::read_to_string(data("real-roots/SOURCES.tsv")).unwrap();
        let mut files: Vec<PathBuf> = sources
            .lines()
            .map(|l| l.split('\t').collect::<Vec<_>>())
            .filter(|f| f.len() > 4 && f[4] == "tuf-on-ci" && f[3].starts_with("metadata/"))
            .map(|f| data("real-roots").join(f[0]))
            .collect();
        files.push(data("tuf-on-ci-event/partly-signed.root.json"));
        files.push(data("tuf-on-ci-event/signed.root.json"));
        for path in &files {
            let bytes = std::fs::read(path).unwrap();
            check_tuf_on_ci_form(path, &bytes)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
        assert!(files.len() >= 20, "only {} files", files.len());
    }

    /// A real tuf-on-ci signing event (jku/tuf-demo): the partly signed root
    /// with the second keyholder's signature added is, byte for byte, the file
    /// tuf-on-ci's own signer wrote when that keyholder signed.
    #[test]
    fn adding_a_signature_to_a_real_tuf_on_ci_event_gives_the_file_tuf_on_ci_wrote() {
        let partly = std::fs::read(data("tuf-on-ci-event/partly-signed.root.json")).unwrap();
        let signed = std::fs::read(data("tuf-on-ci-event/signed.root.json")).unwrap();
        let full: Value = serde_json::from_slice(&signed).unwrap();
        let sigs: Vec<(String, String)> = full["signatures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["keyid"].as_str().unwrap().into(),
                    s["sig"].as_str().unwrap().into(),
                )
            })
            .collect();
        let mut value = check_tuf_on_ci_form(Path::new("partly"), &partly).unwrap();
        let added = add_signatures(&mut value, &sigs).unwrap();
        assert_eq!(added.len(), 1);
        assert_eq!(pyjson::to_string(&value).as_bytes(), &signed[..]);
        // Adding them again adds nothing.
        assert!(add_signatures(&mut value, &sigs).unwrap().is_empty());
    }

    #[test]
    fn a_file_not_written_as_tuf_on_ci_writes_it_is_refused() {
        let partly = std::fs::read(data("tuf-on-ci-event/partly-signed.root.json")).unwrap();
        let mut with_newline = partly.clone();
        with_newline.push(b'\n');
        let err = check_tuf_on_ci_form(Path::new("root.json"), &with_newline).unwrap_err();
        assert!(
            err.to_string().contains("not written as tuf-on-ci writes"),
            "{err}"
        );
    }
}
