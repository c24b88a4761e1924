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
        if let Some(n) = name
            .strip_suffix(".root.json")
            .and_then(|n| n.parse::<u64>().ok())
        {
            found.push((n, entry.path()));
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
