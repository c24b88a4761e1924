//! Reading what a command or a ceremony is given: whole input files (regular
//! files only, size-capped), root files, and directories of `N.root.json`.

use crate::error::{Error, Result};
use crate::fsio;
use crate::tuf::document::RootDocument;
use crate::tuf::metadata::MetadataError;
use std::path::{Path, PathBuf};

/// Read a file, naming it in the error.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    fsio::read_regular(path).map_err(|e| Error::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// Read a text file (a script, an answers file), naming it in the error. The text
/// is wiped from memory when dropped: an answers file may hold passphrases.
pub fn read_text(path: &Path) -> Result<zeroize::Zeroizing<String>> {
    let bytes = read_file(path)?;
    String::from_utf8(bytes)
        .map(zeroize::Zeroizing::new)
        .map_err(|e| {
            let mut bytes = e.into_bytes();
            zeroize::Zeroize::zeroize(&mut bytes);
            Error::Read {
                path: path.display().to_string(),
                reason: "not UTF-8 text".into(),
            }
        })
}

/// Read and validate a root file.
pub fn read_root(path: &Path) -> Result<RootDocument> {
    let bytes = read_file(path)?;
    Ok(RootDocument::from_slice(
        &bytes,
        &path.display().to_string(),
    )?)
}

/// The `N.root.json` files of a directory, in version order, each with the
/// version its name gives (a lone `root.json` has none).
pub fn root_files_in(dir: &Path) -> Result<Vec<(Option<u64>, PathBuf)>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::Read {
        path: dir.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut found: Vec<(u64, PathBuf)> = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        match root_file_version(&name) {
            Some(Ok(n)) => found.push((n, entry.path())),
            Some(Err(reason)) => {
                return Err(Error::Usage(format!(
                    "{}: {reason}",
                    entry.path().display()
                )));
            }
            None => {}
        }
    }
    if found.is_empty() {
        let single = dir.join("root.json");
        if single.exists() {
            return Ok(vec![(None, single)]);
        }
        return Err(Error::Usage(format!(
            "{}: no N.root.json (or root.json) files in this directory",
            dir.display()
        )));
    }
    found.sort();
    Ok(found.into_iter().map(|(n, p)| (Some(n), p)).collect())
}

/// The version a file name `N.root.json` gives: `None` for a name of another kind,
/// an error for a name that looks like a version but is not written as a client
/// fetches it (`04.root.json`, `+4.root.json`, a number beyond any version), which
/// is refused rather than skipped or read as another version.
pub fn root_file_version(name: &str) -> Option<Result<u64, String>> {
    let stem = name.strip_suffix(".root.json")?;
    let digits = stem.strip_prefix(['+', '-']).unwrap_or(stem);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let canonical = stem == digits && (digits == "0" || !digits.starts_with('0'));
    match digits.parse::<u64>() {
        Ok(n) if canonical => Some(Ok(n)),
        Ok(_) => Some(Err(
            "the name gives a version as no client writes it (versions are named \
             1.root.json, 2.root.json, ... without sign or leading zeros): rename or remove it"
                .into(),
        )),
        Err(_) => Some(Err(
            "the name gives a version beyond any root version (2^64): remove it".into(),
        )),
    }
}

/// A root read from a file whose name gives its version: the two must agree.
pub fn check_named_version(doc: &RootDocument, named: Option<u64>) -> Result<()> {
    match named {
        Some(n) if n != doc.version() => Err(MetadataError::NamedVersion {
            file: doc.name.clone(),
            named: n,
            found: doc.version(),
        }
        .into()),
        _ => Ok(()),
    }
}

/// The roots of a repository directory from version `from` on (files named for
/// older versions are not read: a client that trusts `from` never fetches them),
/// each checked to hold the version its name gives.
pub fn read_root_dir(dir: &Path, from: Option<u64>) -> Result<Vec<RootDocument>> {
    let mut docs = Vec::new();
    for (named, path) in root_files_in(dir)? {
        if let (Some(n), Some(from)) = (named, from)
            && n < from
        {
            continue;
        }
        let doc = read_root(&path)?;
        check_named_version(&doc, named)?;
        docs.push(doc);
    }
    Ok(docs)
}
