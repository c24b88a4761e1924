//! Bundles: the directories that cross the air gap. A request bundle goes from the
//! online machine to the ceremony; an export bundle comes back. Both are a
//! directory of files and a `manifest.json` naming every file with its SHA-256 and
//! size. The bundle's identity is the SHA-256 of its manifest's bytes.
//!
//! Writing is all or nothing: files are staged in a hidden sibling directory
//! (`.NAME.partial`, on the same medium) and the directory is renamed into place
//! only once the manifest is written and everything is synced. Reading refuses a
//! bundle with a missing, changed, extra or oddly named file before anything in it
//! is used. See `docs/formats.md`.

use crate::fsio;
use crate::tuf::json::from_slice_strict;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Component, Path, PathBuf};

pub const FORMAT: &str = "ceremony-bundle/1";
pub const MANIFEST: &str = "manifest.json";
/// No single file of a bundle may be larger (a transcript of a large batch is the
/// biggest thing a bundle holds).
const MAX_FILE: u64 = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error(
        "{dir}: no {MANIFEST}: this is not a ceremony bundle, or it was not written completely"
    )]
    NoManifest { dir: String },
    #[error("{dir}/{MANIFEST}: {reason}")]
    Manifest { dir: String, reason: String },
    #[error("bundle {dir}: {path}: listed in the manifest but missing")]
    Missing { dir: String, path: String },
    #[error(
        "bundle {dir}: {path}: SHA-256 is {actual}, the manifest says {expected}: the file was changed after the ceremony"
    )]
    Hash {
        dir: String,
        path: String,
        expected: String,
        actual: String,
    },
    #[error("bundle {dir}: {path}: {actual} bytes, the manifest says {expected}")]
    Size {
        dir: String,
        path: String,
        expected: u64,
        actual: u64,
    },
    #[error(
        "bundle {dir}: {path} is not in the manifest: a bundle holds exactly the files it lists"
    )]
    Extra { dir: String, path: String },
    #[error("bundle {dir}: {path} is not a regular file")]
    NotAFile { dir: String, path: String },
    #[error("bundle {dir}: {path:?} is not a safe relative path")]
    UnsafePath { dir: String, path: String },
    #[error("bundle {dir} is a {actual} bundle, expected a {expected} bundle")]
    Kind {
        dir: String,
        expected: String,
        actual: String,
    },
    #[error(
        "{path} exists: a partial bundle from an interrupted run (resume that run, or move it away)"
    )]
    Partial { path: String },
    #[error(transparent)]
    File(#[from] fsio::FileError),
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
}

impl BundleError {
    pub fn hint(&self) -> Option<String> {
        match self {
            BundleError::Hash { .. }
            | BundleError::Size { .. }
            | BundleError::Missing { .. }
            | BundleError::Extra { .. }
            | BundleError::NotAFile { .. }
            | BundleError::UnsafePath { .. } => Some(
                "nothing was used from this bundle; copy it again from the ceremony's media (or decode its QR codes) and compare the bundle hash read out at the ceremony".into(),
            ),
            _ => None,
        }
    }
}

/// One file of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub path: String,
    pub sha256: String,
    pub size: u64,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    /// "request" or "export".
    pub kind: String,
    /// "tuf" or "notary".
    pub flavour: String,
    /// The repositories (GUNs, or TUF repository names) the bundle is about.
    pub repositories: Vec<String>,
    /// When it was written (UTC, RFC 3339).
    pub created: String,
    /// Export bundles: the ceremony that made it and its transcript's final hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ceremony: Option<CeremonyInfo>,
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CeremonyInfo {
    pub name: String,
    pub kind: String,
    /// The transcript's final hash: the one read aloud to the witnesses.
    pub transcript_hash: String,
}

/// A bundle whose every file matched its manifest when it was opened.
#[derive(Debug)]
pub struct Bundle {
    dir: PathBuf,
    manifest: Manifest,
    hash: String,
    /// Path → (SHA-256, size) as checked when the bundle was opened. The bytes are
    /// not kept (a bundle may hold thousands of repositories); [`Bundle::read`]
    /// reads a file again and checks it again.
    files: BTreeMap<String, ([u8; 32], u64)>,
}

impl Bundle {
    /// Open and check a bundle: manifest well formed, every listed file present with
    /// its size and SHA-256, nothing else in the directory.
    pub fn open(dir: &Path, kind: &str) -> Result<Bundle, BundleError> {
        Self::open_inner(dir, Some(kind))
    }

    /// Open and check a bundle of either kind.
    pub fn open_any(dir: &Path) -> Result<Bundle, BundleError> {
        Self::open_inner(dir, None)
    }

    fn open_inner(dir: &Path, kind: Option<&str>) -> Result<Bundle, BundleError> {
        let d = dir.display().to_string();
        let mpath = dir.join(MANIFEST);
        let mbytes = match fs::read(&mpath) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BundleError::NoManifest { dir: d });
            }
            Err(e) => {
                return Err(BundleError::Io {
                    path: mpath.display().to_string(),
                    reason: e.to_string(),
                });
            }
        };
        let manifest = parse_manifest(&mbytes).map_err(|reason| BundleError::Manifest {
            dir: d.clone(),
            reason,
        })?;
        if let Some(kind) = kind
            && manifest.kind != kind
        {
            return Err(BundleError::Kind {
                dir: d,
                expected: kind.into(),
                actual: manifest.kind,
            });
        }
        let mut files = BTreeMap::new();
        for entry in &manifest.files {
            let path = dir.join(&entry.path);
            let meta = match fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(_) => {
                    return Err(BundleError::Missing {
                        dir: d,
                        path: entry.path.clone(),
                    });
                }
            };
            if !meta.is_file() {
                return Err(BundleError::NotAFile {
                    dir: d,
                    path: entry.path.clone(),
                });
            }
            if meta.len() != entry.size {
                return Err(BundleError::Size {
                    dir: d,
                    path: entry.path.clone(),
                    expected: entry.size,
                    actual: meta.len(),
                });
            }
            let bytes = fs::read(&path).map_err(|e| BundleError::Io {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            let actual = hex::encode(Sha256::digest(&bytes));
            if actual != entry.sha256 {
                return Err(BundleError::Hash {
                    dir: d,
                    path: entry.path.clone(),
                    expected: entry.sha256.clone(),
                    actual,
                });
            }
            files.insert(
                entry.path.clone(),
                (Sha256::digest(&bytes).into(), entry.size),
            );
        }
        for found in walk(dir)? {
            if found != MANIFEST && !files.contains_key(&found) {
                return Err(BundleError::Extra {
                    dir: d,
                    path: found,
                });
            }
        }
        // The file list lives on in the index only (a batch bundle lists tens of
        // thousands of files).
        let mut manifest = manifest;
        manifest.files = Vec::new();
        Ok(Bundle {
            dir: dir.to_owned(),
            hash: hex::encode(Sha256::digest(&mbytes)),
            manifest,
            files,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest, without its file list (see [`Bundle::entries`]).
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// SHA-256 of `manifest.json`: what the ceremony reads aloud and shows as a QR code.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// How many files the manifest lists (the manifest itself not counted).
    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Every file as the manifest lists it: path, SHA-256 (hex) and size.
    pub fn entries(&self) -> impl Iterator<Item = FileEntry> + '_ {
        self.files.iter().map(|(path, (sha, size))| FileEntry {
            path: path.clone(),
            sha256: hex::encode(sha),
            size: *size,
        })
    }

    /// Whether the manifest lists `path`.
    pub fn contains(&self, path: &str) -> bool {
        self.files.contains_key(path)
    }

    /// Every file's path (the manifest is not among them), in path order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// A file's bytes, read now and checked against the manifest again.
    pub fn read(&self, path: &str) -> Result<Vec<u8>, BundleError> {
        let d = self.dir.display().to_string();
        let Some((expected, size)) = self.files.get(path) else {
            return Err(BundleError::Missing {
                dir: d,
                path: path.into(),
            });
        };
        let full = self.dir.join(path);
        let bytes = fs::read(&full).map_err(|_| BundleError::Missing {
            dir: d.clone(),
            path: path.into(),
        })?;
        let actual: [u8; 32] = Sha256::digest(&bytes).into();
        if actual != *expected || bytes.len() as u64 != *size {
            return Err(BundleError::Hash {
                dir: d,
                path: path.into(),
                expected: hex::encode(expected),
                actual: hex::encode(actual),
            });
        }
        Ok(bytes)
    }
}

fn parse_manifest(bytes: &[u8]) -> Result<Manifest, String> {
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
        return Err(format!("not valid JSON: {e}"));
    }
    let manifest: Manifest = from_slice_strict(bytes).map_err(|e| {
        if e.to_string().starts_with("duplicate key") {
            format!("not valid JSON: {e}")
        } else {
            format!("not a bundle manifest: {e}")
        }
    })?;
    if manifest.format != FORMAT {
        return Err(format!(
            "format {:?} is not {FORMAT:?} (written by another version of ceremony?)",
            manifest.format
        ));
    }
    if !matches!(manifest.kind.as_str(), "request" | "export") {
        return Err(format!(
            "kind {:?} is neither request nor export",
            manifest.kind
        ));
    }
    if !matches!(manifest.flavour.as_str(), "tuf" | "notary") {
        return Err(format!(
            "flavour {:?} is neither tuf nor notary",
            manifest.flavour
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for f in &manifest.files {
        check_relative(&f.path)?;
        if f.path == MANIFEST {
            return Err(format!("lists {MANIFEST} itself"));
        }
        if !seen.insert(f.path.as_str()) {
            return Err(format!("lists {} twice", f.path));
        }
        if f.sha256.len() != 64
            || !f
                .sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(format!(
                "{}: sha256 {:?} is not 64 lowercase hex digits",
                f.path, f.sha256
            ));
        }
        if f.size > MAX_FILE {
            return Err(format!(
                "{}: {} bytes is more than a bundle file may hold",
                f.path, f.size
            ));
        }
    }
    Ok(manifest)
}

/// A bundle path: relative, `/`-separated, no `.`/`..`, no empty or hidden parts.
pub fn check_relative(path: &str) -> Result<(), String> {
    let ok = !path.is_empty()
        && !path.contains('\\')
        && path
            .split('/')
            .all(|part| !part.is_empty() && !part.starts_with('.') && !part.contains('\0'))
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    if ok {
        Ok(())
    } else {
        Err(format!("{path:?} is not a safe relative path"))
    }
}

/// Every regular file under `dir`, as `/`-separated relative paths. Anything that
/// is not a regular file or a directory is refused.
fn walk(dir: &Path) -> Result<Vec<String>, BundleError> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_owned(), String::new())];
    while let Some((d, prefix)) = stack.pop() {
        let entries = fs::read_dir(&d).map_err(|e| BundleError::Io {
            path: d.display().to_string(),
            reason: e.to_string(),
        })?;
        for entry in entries {
            let entry = entry.map_err(|e| BundleError::Io {
                path: d.display().to_string(),
                reason: e.to_string(),
            })?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let ft = entry.file_type().map_err(|e| BundleError::Io {
                path: entry.path().display().to_string(),
                reason: e.to_string(),
            })?;
            if ft.is_dir() {
                stack.push((entry.path(), rel));
            } else if ft.is_file() {
                out.push(rel);
            } else {
                return Err(BundleError::NotAFile {
                    dir: dir.display().to_string(),
                    path: rel,
                });
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Where a bundle bound for `out` is assembled: a hidden sibling, so the final
/// rename never crosses file systems.
pub fn staging_dir(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bundle".into());
    out.with_file_name(format!(".{name}.partial"))
}

/// Add a file to the bundle being assembled for `out`. Adding the same bytes again
/// (a step resumed after an interruption) is fine; different bytes are refused.
pub fn stage(out: &Path, path: &str, bytes: &[u8]) -> Result<PathBuf, BundleError> {
    check_relative(path).map_err(|_| BundleError::UnsafePath {
        dir: out.display().to_string(),
        path: path.into(),
    })?;
    let staging = staging_dir(out);
    let target = staging.join(path);
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent).map_err(|e| BundleError::Io {
            path: parent.display().to_string(),
            reason: e.to_string(),
        })?;
    }
    // Staged files are not synced one by one: `commit` syncs the whole staging
    // directory once before the manifest is written and the bundle appears.
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let created = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&target);
    match created {
        Ok(mut f) => f.write_all(bytes).map_err(|e| BundleError::Io {
            path: target.display().to_string(),
            reason: e.to_string(),
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            if fs::read(&target).ok().as_deref() != Some(bytes) {
                return Err(BundleError::File(fsio::FileError::Exists {
                    path: target.display().to_string(),
                }));
            }
        }
        Err(e) => {
            return Err(BundleError::Io {
                path: target.display().to_string(),
                reason: e.to_string(),
            });
        }
    }
    Ok(target)
}

/// Make every file staged for `out` durable: a step that staged files calls
/// this before it is recorded as done.
pub fn sync_staged(out: &Path) -> Result<(), BundleError> {
    let staging = staging_dir(out);
    if staging.is_dir() {
        sync_tree(&staging)?;
    }
    Ok(())
}

/// Make everything under `dir` durable: one `syncfs` on Linux, every file and
/// directory synced elsewhere.
fn sync_tree(dir: &Path) -> Result<(), BundleError> {
    let io = |e: std::io::Error| BundleError::Io {
        path: dir.display().to_string(),
        reason: format!("sync: {e}"),
    };
    #[cfg(target_os = "linux")]
    {
        let d = fs::File::open(dir).map_err(io)?;
        rustix::fs::syncfs(&d).map_err(|e| io(e.into()))?;
    }
    #[cfg(not(target_os = "linux"))]
    {
        let mut stack = vec![dir.to_owned()];
        while let Some(d) = stack.pop() {
            for entry in fs::read_dir(&d).map_err(io)? {
                let path = entry.map_err(io)?.path();
                if path.is_dir() {
                    stack.push(path.clone());
                }
                fs::File::open(&path)
                    .and_then(|f| f.sync_all())
                    .map_err(io)?;
            }
            fs::File::open(&d).and_then(|f| f.sync_all()).map_err(io)?;
        }
    }
    Ok(())
}

/// Whether a bundle for `out` is being assembled.
pub fn is_staged(out: &Path) -> bool {
    staging_dir(out).is_dir()
}

/// Write the manifest over everything staged for `out` and move the bundle into
/// place. If `out` is already a complete bundle (the rename happened before an
/// interruption) it is checked and returned.
pub fn commit(
    out: &Path,
    kind: &str,
    flavour: &str,
    repositories: Vec<String>,
    ceremony: Option<CeremonyInfo>,
) -> Result<Bundle, BundleError> {
    let staging = staging_dir(out);
    if !staging.is_dir() && out.join(MANIFEST).is_file() {
        return Bundle::open(out, kind);
    }
    if out.exists() {
        return Err(BundleError::File(fsio::FileError::Exists {
            path: out.display().to_string(),
        }));
    }
    let mut files = Vec::new();
    for rel in walk(&staging)? {
        if rel == MANIFEST {
            continue;
        }
        let path = staging.join(&rel);
        let bytes = fs::read(&path).map_err(|e| BundleError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        files.push(FileEntry {
            sha256: hex::encode(Sha256::digest(&bytes)),
            size: bytes.len() as u64,
            path: rel,
        });
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        kind: kind.into(),
        flavour: flavour.into(),
        repositories,
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ceremony,
        files,
    };
    let mut bytes = serde_json::to_vec_pretty(&manifest).expect("a manifest serialises");
    bytes.push(b'\n');
    sync_tree(&staging)?;
    let mpath = staging.join(MANIFEST);
    // An interrupted commit may have left a manifest: it is rewritten from the files.
    fsio::replace(&mpath, &bytes, 0o644)?;
    fs::rename(&staging, out).map_err(|e| BundleError::Io {
        path: out.display().to_string(),
        reason: format!("moving the finished bundle into place: {e}"),
    })?;
    if let Some(parent) = out.parent()
        && let Ok(d) = fs::File::open(if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        })
    {
        let _ = d.sync_all();
    }
    Bundle::open(out, kind)
}

/// Write a whole bundle, its manifest included, exactly as received (from QR
/// codes), all or nothing; then open it, which checks every file against the
/// manifest. A bundle that does not check out is not left in place.
pub fn write_received(out: &Path, files: &[(String, Vec<u8>)]) -> Result<Bundle, BundleError> {
    if out.exists() {
        return Err(BundleError::File(fsio::FileError::Exists {
            path: out.display().to_string(),
        }));
    }
    let staging = staging_dir(out);
    if staging.exists() {
        return Err(BundleError::Partial {
            path: staging.display().to_string(),
        });
    }
    let result = (|| {
        for (path, bytes) in files {
            stage(out, path, bytes)?;
        }
        // Check before anything is moved into place.
        Bundle::open_any(&staging)
    })();
    if let Err(e) = result {
        let _ = fs::remove_dir_all(&staging);
        return Err(e);
    }
    sync_tree(&staging)?;
    fs::rename(&staging, out).map_err(|e| BundleError::Io {
        path: out.display().to_string(),
        reason: format!("moving the received bundle into place: {e}"),
    })?;
    Bundle::open_any(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make(dir: &Path) -> PathBuf {
        let out = dir.join("export");
        stage(&out, "1.root.json", b"{\"a\":1}").unwrap();
        stage(&out, "repos/x/root.json", b"{}").unwrap();
        commit(&out, "export", "tuf", vec!["r".into()], None).unwrap();
        out
    }

    #[test]
    fn a_committed_bundle_opens_and_lists_its_files() {
        let d = tempfile::tempdir().unwrap();
        let out = make(d.path());
        assert!(!staging_dir(&out).exists());
        let b = Bundle::open(&out, "export").unwrap();
        assert_eq!(b.read("1.root.json").unwrap(), b"{\"a\":1}");
        assert_eq!(b.len(), 2);
        assert_eq!(
            b.hash(),
            hex::encode(Sha256::digest(fs::read(out.join(MANIFEST)).unwrap()))
        );
        // committing again is idempotent
        commit(&out, "export", "tuf", vec!["r".into()], None).unwrap();
    }

    #[test]
    fn changes_are_each_named() {
        let d = tempfile::tempdir().unwrap();
        let out = make(d.path());
        fs::write(out.join("1.root.json"), b"{\"a\":2}").unwrap();
        let e = Bundle::open(&out, "export").unwrap_err().to_string();
        assert!(e.contains("1.root.json: SHA-256 is"), "{e}");
        fs::write(out.join("1.root.json"), b"{\"a\":1}").unwrap();
        fs::write(out.join("extra.json"), b"{}").unwrap();
        let e = Bundle::open(&out, "export").unwrap_err().to_string();
        assert!(e.contains("extra.json is not in the manifest"), "{e}");
        fs::remove_file(out.join("extra.json")).unwrap();
        fs::write(out.join("1.root.json"), b"{\"a\"").unwrap();
        let e = Bundle::open(&out, "export").unwrap_err().to_string();
        assert!(e.contains("4 bytes, the manifest says 7"), "{e}");
        fs::write(out.join("1.root.json"), b"{\"a\":1}").unwrap();
        fs::remove_file(out.join("repos/x/root.json")).unwrap();
        let e = Bundle::open(&out, "export").unwrap_err().to_string();
        assert!(
            e.contains("repos/x/root.json: listed in the manifest but missing"),
            "{e}"
        );
        let e = Bundle::open(&out, "request").unwrap_err().to_string();
        assert!(
            e.contains("is a export bundle") || e.contains("missing"),
            "{e}"
        );
    }

    #[test]
    fn unsafe_paths_and_bad_manifests_are_refused() {
        for bad in [
            "../x",
            "/etc/passwd",
            "a//b",
            ".hidden",
            "a/./b",
            "",
            "a\\b",
        ] {
            assert!(check_relative(bad).is_err(), "{bad:?}");
        }
        for (text, needle) in [
            ("{", "not valid JSON"),
            ("{\"format\":\"x\"}", "not a bundle manifest"),
            (
                r#"{"format":"ceremony-bundle/1","kind":"export","flavour":"tuf","repositories":[],"created":"","files":[{"path":"../x","sha256":"00","size":1}]}"#,
                "not a safe relative path",
            ),
            (
                r#"{"format":"ceremony-bundle/1","kind":"export","flavour":"tuf","repositories":[],"created":"","files":[],"files":[]}"#,
                "duplicate",
            ),
            (
                r#"{"format":"ceremony-bundle/2","kind":"export","flavour":"tuf","repositories":[],"created":"","files":[]}"#,
                "is not \"ceremony-bundle/1\"",
            ),
        ] {
            let e = parse_manifest(text.as_bytes()).unwrap_err();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn restaging_the_same_bytes_is_fine_and_different_bytes_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("o");
        stage(&out, "a.json", b"1").unwrap();
        stage(&out, "a.json", b"1").unwrap();
        assert!(stage(&out, "a.json", b"2").is_err());
        assert!(stage(&out, "../a.json", b"2").is_err());
    }
}
