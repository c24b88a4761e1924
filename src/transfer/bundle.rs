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
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Component, Path, PathBuf};

pub const FORMAT: &str = "ceremony-bundle/1";
pub const MANIFEST: &str = "manifest.json";
/// No single file of a bundle may be larger (a transcript of a large batch is the
/// biggest thing a bundle holds).
const MAX_FILE: u64 = 256 << 20;

/// "a" or "an" before a bundle kind (an export bundle, a request bundle).
fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

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
    #[error(
        "bundle {dir}: {path:?} and {under:?} cannot both be files of one bundle \
         (a name given twice, or a file with files under it)"
    )]
    Collides {
        dir: String,
        path: String,
        under: String,
    },
    #[error(
        "bundle {dir} is {} {actual} bundle, expected {} {expected} bundle",
        article(actual),
        article(expected)
    )]
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
            | BundleError::UnsafePath { .. }
            | BundleError::Collides { .. } => Some(
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
    files: Index,
}

/// A manifest's file list, compact (a request for thousands of repositories lists
/// tens of thousands of files): every path in one string, entries sorted by path.
#[derive(Debug, Default)]
struct Index {
    names: String,
    /// (start and length of the path in `names`, SHA-256, size).
    entries: Vec<(u32, u32, [u8; 32], u64)>,
}

impl Index {
    fn name(&self, e: &(u32, u32, [u8; 32], u64)) -> &str {
        &self.names[e.0 as usize..(e.0 + e.1) as usize]
    }

    /// Add an entry (call [`Index::finish`] once all are in).
    fn push(&mut self, path: &str, sha256: [u8; 32], size: u64) -> Result<(), String> {
        let start = u32::try_from(self.names.len()).map_err(|_| "too many files".to_string())?;
        let len = u32::try_from(path.len()).map_err(|_| "path too long".to_string())?;
        // Every entry's end must fit too (names are sliced by start + len).
        start
            .checked_add(len)
            .ok_or_else(|| "too many files".to_string())?;
        self.names.push_str(path);
        self.entries.push((start, len, sha256, size));
        Ok(())
    }

    /// Sort by path; a path listed twice is refused.
    fn finish(&mut self) -> Result<(), String> {
        let names = &self.names;
        let name = |e: &(u32, u32, [u8; 32], u64)| &names[e.0 as usize..(e.0 + e.1) as usize];
        self.entries.sort_by(|a, b| name(a).cmp(name(b)));
        if let Some(w) = self.entries.windows(2).find(|w| name(&w[0]) == name(&w[1])) {
            return Err(format!("lists {} twice", name(&w[0])));
        }
        self.names.shrink_to_fit();
        self.entries.shrink_to_fit();
        Ok(())
    }

    fn get(&self, path: &str) -> Option<([u8; 32], u64)> {
        self.entries
            .binary_search_by(|e| self.name(e).cmp(path))
            .ok()
            .map(|i| (self.entries[i].2, self.entries[i].3))
    }

    fn iter(&self) -> impl Iterator<Item = (&str, &[u8; 32], u64)> {
        self.entries.iter().map(|e| (self.name(e), &e.2, e.3))
    }

    fn len(&self) -> usize {
        self.entries.len()
    }
}

impl<'de> Deserialize<'de> for Index {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Index, D::Error> {
        struct Files;
        impl<'de> serde::de::Visitor<'de> for Files {
            type Value = Index;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of files")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Index, A::Error> {
                use serde::de::Error as _;
                let mut index = Index::default();
                while let Some(f) = seq.next_element::<FileEntry>()? {
                    let sha = check_entry(&f).map_err(A::Error::custom)?;
                    index.push(&f.path, sha, f.size).map_err(A::Error::custom)?;
                }
                index.finish().map_err(A::Error::custom)?;
                Ok(index)
            }
        }
        d.deserialize_seq(Files)
    }
}

/// `manifest.json` as read: the file list goes straight into an [`Index`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a manifest object")]
struct ManifestIn {
    format: String,
    kind: String,
    flavour: String,
    repositories: Vec<String>,
    created: String,
    #[serde(default)]
    ceremony: Option<CeremonyInfo>,
    files: Index,
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
        let opened = || -> std::io::Result<Box<dyn std::io::Read>> {
            Ok(Box::new(std::io::BufReader::with_capacity(
                64 << 10,
                crate::fsio::open_regular(&mpath)?,
            )))
        };
        match fs::symlink_metadata(&mpath) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BundleError::NoManifest { dir: d });
            }
            Err(e) => {
                return Err(BundleError::Io {
                    path: mpath.display().to_string(),
                    reason: e.to_string(),
                });
            }
        }
        let (manifest, index, hash) =
            parse_manifest_from(&opened).map_err(|reason| BundleError::Manifest {
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
        for (rel, sha, size) in index.iter() {
            let path = dir.join(rel);
            let meta = match fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(_) => {
                    return Err(BundleError::Missing {
                        dir: d,
                        path: rel.into(),
                    });
                }
            };
            if !meta.is_file() {
                return Err(BundleError::NotAFile {
                    dir: d,
                    path: rel.into(),
                });
            }
            if meta.len() != size {
                return Err(BundleError::Size {
                    dir: d,
                    path: rel.into(),
                    expected: size,
                    actual: meta.len(),
                });
            }
            let (digest, _) = hash_file(&path).map_err(|e| BundleError::Io {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            if digest != *sha {
                return Err(BundleError::Hash {
                    dir: d,
                    path: rel.into(),
                    expected: hex::encode(sha),
                    actual: hex::encode(digest),
                });
            }
        }
        let files = index;
        walk_each(dir, &mut |found| {
            if found != MANIFEST && files.get(&found).is_none() {
                return Err(BundleError::Extra {
                    dir: d.clone(),
                    path: found,
                });
            }
            Ok(())
        })?;
        // The file list lives on in the index only (a batch bundle lists tens of
        // thousands of files).
        Ok(Bundle {
            dir: dir.to_owned(),
            hash,
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
        self.files.len() == 0
    }

    /// Every file as the manifest lists it: path, SHA-256 (hex) and size.
    pub fn entries(&self) -> impl Iterator<Item = FileEntry> + '_ {
        self.files.iter().map(|(path, sha, size)| FileEntry {
            path: path.to_owned(),
            sha256: hex::encode(sha),
            size,
        })
    }

    /// Whether the manifest lists `path`.
    pub fn contains(&self, path: &str) -> bool {
        self.files.get(path).is_some()
    }

    /// Every file's path (the manifest is not among them), in path order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.files.iter().map(|(path, _, _)| path)
    }

    /// The SHA-256 and size the manifest gives for `path`.
    pub fn expected(&self, path: &str) -> Option<([u8; 32], u64)> {
        self.files.get(path)
    }

    /// A file, to read as a stream and check against the manifest again with
    /// [`CheckedReader::finish`] once read.
    pub fn reader(&self, path: &str) -> Result<CheckedReader, BundleError> {
        let d = self.dir.display().to_string();
        let missing = || BundleError::Missing {
            dir: d.clone(),
            path: path.into(),
        };
        let expected = self.files.get(path).ok_or_else(missing)?;
        let file = crate::fsio::open_regular(&self.dir.join(path)).map_err(|_| missing())?;
        Ok(CheckedReader {
            inner: HashRead::new(file),
            dir: d.clone(),
            path: path.into(),
            expected,
        })
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
        let bytes = crate::fsio::read_regular(&full).map_err(|_| BundleError::Missing {
            dir: d.clone(),
            path: path.into(),
        })?;
        let actual: [u8; 32] = Sha256::digest(&bytes).into();
        if actual != expected || bytes.len() as u64 != size {
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

/// Parse a manifest from its bytes, as [`Bundle::open`] does (the fuzz targets
/// and tests use it).
pub fn parse_manifest(bytes: &[u8]) -> Result<Manifest, String> {
    parse_manifest_from(&|| Ok(Box::new(bytes) as Box<dyn std::io::Read + '_>)).map(|(m, _, _)| m)
}

/// Parse a manifest read (twice, streamed) from `open`: well-formed JSON with no
/// duplicate keys, then the typed manifest with its file list as an [`Index`].
/// Returns the manifest (its `files` empty), the index and the manifest's SHA-256
/// (the bundle hash), the same in both readings.
fn parse_manifest_from<'a>(
    open: &dyn Fn() -> std::io::Result<Box<dyn std::io::Read + 'a>>,
) -> Result<(Manifest, Index, String), String> {
    let read = |e: std::io::Error| format!("cannot be read: {e}");
    let reader = || open().map(HashRead::new).map_err(read);
    let digest = |r: HashRead<Box<dyn std::io::Read + 'a>>| {
        r.finish().map(|(d, _)| hex::encode(d)).map_err(read)
    };
    let mut r = reader()?;
    crate::tuf::json::check_no_duplicates(&mut r).map_err(|e| format!("not valid JSON: {e}"))?;
    let hash = digest(r)?;
    let mut r = reader()?;
    let mut de = serde_json::Deserializer::from_reader(&mut r);
    let m = ManifestIn::deserialize(&mut de)
        .and_then(|m| de.end().map(|()| m))
        .map_err(|e| format!("not a bundle manifest: {e}"))?;
    if digest(r)? != hash {
        return Err("changed while it was being read".into());
    }
    if m.format != FORMAT {
        return Err(format!(
            "format {:?} is not {FORMAT:?} (written by another version of ceremony?)",
            m.format
        ));
    }
    if !matches!(m.kind.as_str(), "request" | "export") {
        return Err(format!("kind {:?} is neither request nor export", m.kind));
    }
    if !matches!(m.flavour.as_str(), "tuf" | "notary") {
        return Err(format!("flavour {:?} is neither tuf nor notary", m.flavour));
    }
    let manifest = Manifest {
        format: m.format,
        kind: m.kind,
        flavour: m.flavour,
        repositories: m.repositories,
        created: m.created,
        ceremony: m.ceremony,
        files: Vec::new(),
    };
    Ok((manifest, m.files, hash))
}

/// Check one file entry of a manifest; returns its SHA-256.
fn check_entry(f: &FileEntry) -> Result<[u8; 32], String> {
    check_relative(&f.path)?;
    if f.path == MANIFEST {
        return Err(format!("lists {MANIFEST} itself"));
    }
    let sha = (f.sha256.len() == 64
        && f.sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then(|| hex::decode(&f.sha256).ok())
    .flatten()
    .and_then(|v| <[u8; 32]>::try_from(v).ok())
    .ok_or_else(|| {
        format!(
            "{}: sha256 {:?} is not 64 lowercase hex digits",
            f.path, f.sha256
        )
    })?;
    if f.size > MAX_FILE {
        return Err(format!(
            "{}: {} bytes is more than a bundle file may hold",
            f.path, f.size
        ));
    }
    Ok(sha)
}

/// Hashes and counts what is read through it.
pub struct HashRead<R> {
    inner: R,
    hash: Sha256,
    len: u64,
}

impl<R: std::io::Read> HashRead<R> {
    pub fn new(inner: R) -> Self {
        HashRead {
            inner,
            hash: Sha256::new(),
            len: 0,
        }
    }

    /// Read what is left, then the SHA-256 and length of everything read.
    pub fn finish(mut self) -> std::io::Result<([u8; 32], u64)> {
        std::io::copy(&mut self, &mut std::io::sink())?;
        Ok((self.hash.finalize().into(), self.len))
    }
}

impl<R: std::io::Read> std::io::Read for HashRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

/// A file of a bundle read as a stream (a batch's `request.json` is megabytes),
/// hashed as it is read; [`CheckedReader::finish`] compares it with the manifest.
pub struct CheckedReader {
    inner: HashRead<fs::File>,
    dir: String,
    path: String,
    expected: ([u8; 32], u64),
}

impl std::io::Read for CheckedReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf)
    }
}

impl CheckedReader {
    /// The open file, to read parts of at an offset (each part checked on its own).
    pub fn into_file(self) -> fs::File {
        self.inner.inner
    }

    /// Read what is left and check it all against the manifest.
    pub fn finish(self) -> Result<(), BundleError> {
        let (actual, len) = self.inner.finish().map_err(|e| BundleError::Io {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        if (actual, len) != self.expected {
            return Err(BundleError::Hash {
                dir: self.dir,
                path: self.path,
                expected: hex::encode(self.expected.0),
                actual: hex::encode(actual),
            });
        }
        Ok(())
    }
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

/// Every regular file under `dir`, as `/`-separated relative paths, sorted.
/// Anything that is not a regular file or a directory is refused.
fn walk(dir: &Path) -> Result<Vec<String>, BundleError> {
    let mut out = Vec::new();
    walk_each(dir, &mut |rel| {
        out.push(rel);
        Ok(())
    })?;
    out.sort();
    Ok(out)
}

/// [`walk`], handing each path to `each` as it is found (in no set order).
fn walk_each(
    dir: &Path,
    each: &mut dyn FnMut(String) -> Result<(), BundleError>,
) -> Result<(), BundleError> {
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
                each(rel)?;
            } else {
                return Err(BundleError::NotAFile {
                    dir: dir.display().to_string(),
                    path: rel,
                });
            }
        }
    }
    Ok(())
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
    // Written under a temporary name and linked into place: a staged file is
    // whole or absent, whenever the run stops. Staged files are not synced one
    // by one: `commit` syncs the whole staging directory once before the
    // manifest is written and the bundle appears.
    let io = |e: fsio::FileError| BundleError::File(e);
    let tmp = fsio::write_temp_unsynced(&target, bytes, 0o644).map_err(io)?;
    let linked = fs::hard_link(&tmp, &target);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            // Staged before an interruption. The staging directory is this
            // run's own and nothing in it is published before `commit`: a file
            // that does not hold what the step writes now (a write the disk lost
            // in a power cut) is replaced with it.
            if fs::read(&target).ok().as_deref() != Some(bytes) {
                fsio::replace(&target, bytes, 0o644).map_err(io)?;
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

// ---------------------------------------------------------------------------
// A batch export's packed roots.

/// The file of a batch export holding every new root, one after the other, in
/// repository order, each exactly as it is published.
pub const PACK: &str = "roots.pack";
/// The index of [`PACK`]: one JSON line per repository ([`PackEntry`]).
pub const PACK_INDEX: &str = "roots.jsonl";

/// Why a part of a pack could not be read.
#[derive(Debug)]
pub enum PartProblem {
    /// It lies outside the file, or the file cannot be read.
    Unreadable(String),
    /// Its bytes do not have the SHA-256 they should.
    Hash,
}

/// `size` bytes at `offset` of the pack `file`, checked against `sha256` (hex).
/// The range is checked against the file's length before anything is allocated.
pub fn read_part(
    file: &fs::File,
    offset: u64,
    size: u64,
    sha256: &str,
) -> Result<Vec<u8>, PartProblem> {
    use std::os::unix::fs::FileExt;
    let unreadable = |e: std::io::Error| PartProblem::Unreadable(e.to_string());
    let len = file.metadata().map_err(unreadable)?.len();
    if offset.checked_add(size).is_none_or(|end| end > len) {
        return Err(PartProblem::Unreadable(format!(
            "bytes {offset}+{size} lie outside the file ({len} bytes)"
        )));
    }
    let mut bytes = vec![0u8; size as usize];
    file.read_exact_at(&mut bytes, offset).map_err(unreadable)?;
    if hex::encode(Sha256::digest(&bytes)) != sha256 {
        return Err(PartProblem::Hash);
    }
    Ok(bytes)
}

/// One line of [`PACK_INDEX`]: where repository `index`'s new root is in the pack.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackEntry {
    /// The repository's position in the request (from 0).
    pub index: usize,
    pub repository: String,
    pub version: u64,
    /// Where its bytes start in the pack, and how many there are.
    pub offset: u64,
    pub size: u64,
    /// SHA-256 of those bytes.
    pub sha256: String,
}

/// Add a copy of the file at `src` (written elsewhere, piece by piece) to the
/// bundle being assembled for `out`, as `path`, streamed, not read whole. A file
/// already staged as `path` is never replaced: it must hold the same bytes.
pub fn stage_copy(out: &Path, path: &str, src: &Path) -> Result<PathBuf, BundleError> {
    check_relative(path).map_err(|_| BundleError::UnsafePath {
        dir: out.display().to_string(),
        path: path.into(),
    })?;
    let target = staging_dir(out).join(path);
    let io = |p: &Path, e: std::io::Error| BundleError::Io {
        path: p.display().to_string(),
        reason: e.to_string(),
    };
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
    }
    // Copied whole under a fresh temporary name beside the target (created
    // exclusively, never through a link someone left there), then linked into
    // place: an interrupted copy never leaves a partial file staged (its
    // temporary is removed by the next `commit`), and a link never replaces a
    // file already there.
    let mut from = fsio::open_regular(src).map_err(|e| io(src, e))?;
    let (tmp, mut file) = fsio::create_temp(&target, 0o644).map_err(BundleError::File)?;
    let copied = std::io::copy(&mut from, &mut file).map_err(|e| io(&target, e));
    drop(file);
    let placed = copied.and_then(|_| match fs::hard_link(&tmp, &target) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            if same_contents(src, &target).map_err(|e| io(&target, e))? {
                Ok(())
            } else {
                // The staging directory is this run's own (see `stage`).
                fs::rename(&tmp, &target).map_err(|e| io(&target, e))
            }
        }
        Err(e) => Err(io(&target, e)),
    });
    let _ = fs::remove_file(&tmp);
    placed.map(|()| target)
}

/// SHA-256 and size of a file, read in pieces (a batch's pack is tens of MB).
pub fn hash_file(path: &Path) -> std::io::Result<([u8; 32], u64)> {
    HashRead::new(std::io::BufReader::with_capacity(
        64 << 10,
        fs::File::open(path)?,
    ))
    .finish()
}

/// Whether two files hold the same bytes (read in pieces).
fn same_contents(a: &Path, b: &Path) -> std::io::Result<bool> {
    use std::io::Read;
    let (fa, fb) = (fs::File::open(a)?, fs::File::open(b)?);
    if fa.metadata()?.len() != fb.metadata()?.len() {
        return Ok(false);
    }
    let (mut ra, mut rb) = (std::io::BufReader::new(fa), std::io::BufReader::new(fb));
    let (mut ba, mut bb) = (vec![0u8; 64 << 10], vec![0u8; 64 << 10]);
    loop {
        let n = ra.read(&mut ba)?;
        if n == 0 {
            return Ok(true);
        }
        rb.read_exact(&mut bb[..n])?;
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
    }
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
    fsio::new_output(out).map_err(BundleError::File)?;
    // Temporary files of writes an interruption cut short are not part of it.
    fsio::remove_temps(&staging, true).map_err(|e| BundleError::Io {
        path: staging.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut files = Vec::new();
    for rel in walk(&staging)? {
        if rel == MANIFEST {
            continue;
        }
        let path = staging.join(&rel);
        let (digest, size) = hash_file(&path).map_err(|e| BundleError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        files.push(FileEntry {
            sha256: hex::encode(digest),
            size,
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

/// Refuse a list of paths where one is named twice, or is both a file and a
/// directory holding others (`a` and `a/b`): it could only half be written.
fn check_no_collision<'a>(
    out: &Path,
    paths: impl Iterator<Item = &'a str>,
) -> Result<(), BundleError> {
    let paths: Vec<&str> = paths.collect();
    let all: std::collections::BTreeSet<&str> = paths.iter().copied().collect();
    let dir = out.display().to_string();
    if all.len() != paths.len() {
        let mut seen = std::collections::BTreeSet::new();
        let twice = paths.iter().find(|p| !seen.insert(**p)).expect("a repeat");
        return Err(BundleError::Collides {
            dir,
            path: (*twice).into(),
            under: (*twice).into(),
        });
    }
    for path in &paths {
        for (at, _) in path.match_indices('/') {
            if all.contains(&path[..at]) {
                return Err(BundleError::Collides {
                    dir,
                    path: path[..at].into(),
                    under: (*path).into(),
                });
            }
        }
    }
    Ok(())
}

/// Write a whole bundle, its manifest included, exactly as received (from QR
/// codes), all or nothing; then open it, which checks every file against the
/// manifest. A bundle that does not check out is not left in place.
pub fn write_received(out: &Path, files: &[(String, Vec<u8>)]) -> Result<Bundle, BundleError> {
    if fsio::occupied(out) {
        // Received before (a run interrupted after its rename, run again): the
        // same files, and nothing else, are already there.
        let same = out.is_dir()
            && walk(out).is_ok_and(|found| {
                found.len() == files.len()
                    && files
                        .iter()
                        .all(|(p, b)| fs::read(out.join(p)).ok().as_deref() == Some(b.as_slice()))
            });
        if same {
            return Bundle::open_any(out);
        }
        return Err(BundleError::File(fsio::FileError::Exists {
            path: out.display().to_string(),
        }));
    }
    fsio::new_output(out).map_err(BundleError::File)?;
    check_no_collision(out, files.iter().map(|(p, _)| p.as_str()))?;
    let staging = staging_dir(out);
    if fsio::occupied(&staging) {
        // An earlier write of this same bundle that was interrupted holds only
        // files of it (and temporaries): it is made again from nothing. Anything
        // else there is not ours to remove.
        fsio::remove_temps(&staging, true).map_err(|e| BundleError::Io {
            path: staging.display().to_string(),
            reason: e.to_string(),
        })?;
        let ours = staging.is_dir()
            && walk(&staging)
                .is_ok_and(|found| found.iter().all(|f| files.iter().any(|(p, _)| p == f)));
        if !ours {
            return Err(BundleError::Partial {
                path: staging.display().to_string(),
            });
        }
        fs::remove_dir_all(&staging).map_err(|e| BundleError::Io {
            path: staging.display().to_string(),
            reason: e.to_string(),
        })?;
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
    let moved = sync_tree(&staging).and_then(|_| {
        fs::rename(&staging, out).map_err(|e| BundleError::Io {
            path: out.display().to_string(),
            reason: format!("moving the received bundle into place: {e}"),
        })
    });
    if let Err(e) = moved {
        let _ = fs::remove_dir_all(&staging);
        return Err(e);
    }
    Bundle::open_any(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_received_bundle_holding_a_file_and_a_file_under_it_is_refused_whole() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("received");
        for files in [
            vec![
                ("a".to_string(), b"1".to_vec()),
                ("a/b".to_string(), b"2".to_vec()),
            ],
            vec![
                ("a/b".to_string(), b"2".to_vec()),
                ("a".to_string(), b"1".to_vec()),
            ],
            vec![
                ("x".to_string(), b"1".to_vec()),
                ("x".to_string(), b"2".to_vec()),
            ],
        ] {
            let err = write_received(&out, &files).unwrap_err();
            assert!(matches!(err, BundleError::Collides { .. }), "{err}");
            assert!(err.to_string().contains("cannot both be files"), "{err}");
            assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
        }
    }

    fn make(dir: &Path) -> PathBuf {
        let out = dir.join("export");
        stage(&out, "1.root.json", b"{\"a\":1}").unwrap();
        stage(&out, "repos/x/root.json", b"{}").unwrap();
        commit(&out, "export", "tuf", vec!["r".into()], None).unwrap();
        out
    }

    #[test]
    fn a_bundle_of_the_wrong_kind_is_named_in_plain_words() {
        let d = tempfile::tempdir().unwrap();
        let out = make(d.path());
        let e = Bundle::open(&out, "request").err().unwrap().to_string();
        assert!(
            e.ends_with("is an export bundle, expected a request bundle"),
            "{e}"
        );
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
            e.contains("is an export bundle") || e.contains("missing"),
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
            (
                "\"text\"",
                "invalid type: string \"text\", expected a manifest object",
            ),
        ] {
            let e = parse_manifest(text.as_bytes()).unwrap_err();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn a_part_of_a_pack_is_read_only_within_the_file_and_checked() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("p.pack");
        fs::write(&path, b"aaaabbbb").unwrap();
        let f = fs::File::open(&path).unwrap();
        let sha = hex::encode(Sha256::digest(b"bbbb"));
        assert_eq!(read_part(&f, 4, 4, &sha).unwrap(), b"bbbb");
        assert!(matches!(read_part(&f, 0, 4, &sha), Err(PartProblem::Hash)));
        // A size no file holds is refused before anything is allocated.
        for (offset, size) in [(4, 5), (u64::MAX, 2), (0, u64::MAX)] {
            assert!(matches!(
                read_part(&f, offset, size, &sha),
                Err(PartProblem::Unreadable(_))
            ));
        }
    }

    #[test]
    fn restaging_rewrites_what_the_step_writes_now_and_leaves_no_temporaries() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("o");
        stage(&out, "a.json", b"1").unwrap();
        stage(&out, "a.json", b"1").unwrap();
        // A file cut short (a write lost in a power cut) is rewritten.
        fs::write(staging_dir(&out).join("a.json"), b"").unwrap();
        stage(&out, "a.json", b"12").unwrap();
        assert_eq!(fs::read(staging_dir(&out).join("a.json")).unwrap(), b"12");
        assert!(stage(&out, "../a.json", b"2").is_err());
        // A temporary left by a kill is never listed in the manifest.
        fs::write(staging_dir(&out).join(".b.json.0123456789abcdef.tmp"), b"x").unwrap();
        let src = d.path().join("src");
        fs::write(&src, b"copied").unwrap();
        stage_copy(&out, "c.json", &src).unwrap();
        stage_copy(&out, "c.json", &src).unwrap();
        let made = commit(&out, "export", "tuf", vec!["r".into()], None).unwrap();
        assert_eq!(made.paths().collect::<Vec<_>>(), ["a.json", "c.json"]);
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 2, "only o and src");
    }
}
