//! Request bundles: what the online side hands to the ceremony. For each
//! repository: its current root chain (every `N.root.json`), the public keys of its
//! online roles (a new tagging key generated in the online key store, the snapshot
//! key, the timestamp key the Notary server holds), and the key IDs the ceremony is
//! asked to remove. `request.json` lists where each thing is in the bundle.

use crate::error::{Error, Result};
use crate::transfer::bundle::{self, Bundle};
use crate::tuf::metadata::{Flavour, Key};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

pub const REQUEST_FORMAT: &str = "ceremony-request/1";
pub const REQUEST_FILE: &str = "request.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestFile {
    pub format: String,
    pub flavour: String,
    pub repositories: Vec<RepositoryRequest>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositoryRequest {
    pub repository: String,
    /// Bundle paths of the current root chain, oldest first (empty: a new repository).
    pub current: Vec<String>,
    /// Online role → bundle path of its public key object.
    pub keys: BTreeMap<String, String>,
    /// Key IDs the ceremony is asked to remove (a compromised tagging key).
    #[serde(default)]
    pub revoke: Vec<String>,
    /// A batch request keeps its repositories' roots and keys in pack files, not
    /// one file each: each name in `current` and `keys` is then a part of a pack,
    /// found here.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub packed: BTreeMap<String, Part>,
    /// Bundle path of the review of the repository's current targets (Notary, from
    /// the server's targets history): see [`crate::online::review`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets_review: Option<String>,
}

/// Where a named file of a batch request is: `size` bytes at `offset` in the
/// bundle's file `file`, with SHA-256 `sha256`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Part {
    pub file: String,
    pub offset: u64,
    pub size: u64,
    pub sha256: String,
}

/// The pack files of a batch request.
pub const CURRENT_PACK: &str = "current.pack";
pub const KEYS_PACK: &str = "keys.pack";

/// What one repository of the request holds, read and checked.
pub struct RepositoryInput {
    pub repository: String,
    /// Path of the directory holding the current chain inside the bundle, if any.
    pub current_dir: Option<std::path::PathBuf>,
    pub keys: BTreeMap<String, std::path::PathBuf>,
    pub revoke: Vec<String>,
    /// The review of the current targets, read and checked.
    pub targets_review: Option<crate::online::review::TargetsReview>,
}

/// The request [`Request::open_shared`] opened.
#[allow(clippy::type_complexity)]
static SHARED: std::sync::Mutex<Option<(std::path::PathBuf, std::sync::Arc<Request>)>> =
    std::sync::Mutex::new(None);

/// An opened, checked request bundle. Its repositories are not held in memory (a
/// batch request lists tens of thousands): [`Request::repositories`] reads them
/// again, one at a time, checking `request.json` against the manifest.
pub struct Request {
    pub bundle: Bundle,
    pub flavour: Flavour,
    count: usize,
    /// The repository of a one-repository request.
    only: Option<RepositoryRequest>,
    /// The pack files parts are read from, open (read at an offset, from any thread).
    packs: BTreeMap<String, std::fs::File>,
}

fn bad(dir: &Path, reason: impl Into<String>) -> Error {
    Error::Usage(format!(
        "request bundle {}: {}",
        dir.display(),
        reason.into()
    ))
}

impl Request {
    /// Open a request bundle: its manifest and files, then `request.json` and every
    /// file it names (roots parse, keys decode in the bundle's flavour).
    /// [`Request::open`], once per process: later calls for the same directory get
    /// the request opened first (a batch ceremony reads its request in several
    /// steps). Every file is still read and checked against the manifest first
    /// seen when it is used, so a bundle changed under a running ceremony is
    /// refused, not followed.
    pub fn open_shared(dir: &Path) -> Result<std::sync::Arc<Request>> {
        let key = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
        let mut opened = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((path, request)) = opened.as_ref()
            && *path == key
        {
            return Ok(std::sync::Arc::clone(request));
        }
        let request = std::sync::Arc::new(Request::open(dir)?);
        *opened = Some((key, std::sync::Arc::clone(&request)));
        Ok(request)
    }

    /// Let go of the request [`Request::open_shared`] keeps (its index of files
    /// is the largest thing a batch holds): the ceremony is done reading it.
    pub fn close_shared() {
        SHARED.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    pub fn open(dir: &Path) -> Result<Request> {
        let bundle = Bundle::open(dir, "request")?;
        if !bundle.contains(REQUEST_FILE) {
            return Err(bad(dir, format!("no {REQUEST_FILE}")));
        }
        // Duplicate keys anywhere are refused (serde keeps the last silently).
        crate::tuf::json::check_no_duplicates(std::io::BufReader::with_capacity(
            64 << 10,
            bundle.reader(REQUEST_FILE)?,
        ))
        .map_err(|e| bad(dir, format!("{REQUEST_FILE}: {e}")))?;
        // Every file named is in the bundle (and was checked against the manifest);
        // roots and keys are parsed where they are used.
        let mut first = None;
        let mut packs: BTreeMap<String, std::fs::File> = BTreeMap::new();
        let header = stream(&bundle, &mut |i, repo| {
            for (name, part) in &repo.packed {
                let Some((_, size)) = bundle.expected(&part.file) else {
                    return Err(format!(
                        "{}: {name} is in {}, which is not in the bundle",
                        repo.repository, part.file
                    ));
                };
                if part
                    .offset
                    .checked_add(part.size)
                    .is_none_or(|end| end > size)
                {
                    return Err(format!(
                        "{}: {name} lies outside {}",
                        repo.repository, part.file
                    ));
                }
                // Lowercase, as it is compared with the digest of the part read.
                if part.sha256.len() != 64
                    || !part
                        .sha256
                        .bytes()
                        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                {
                    return Err(format!(
                        "{}: {name}: sha256 is not 64 lowercase hex digits",
                        repo.repository
                    ));
                }
                if !packs.contains_key(&part.file) {
                    let f = std::fs::File::open(bundle.dir().join(&part.file))
                        .map_err(|e| format!("{}: {e}", part.file))?;
                    packs.insert(part.file.clone(), f);
                }
            }
            for path in repo.current.iter().chain(repo.keys.values()) {
                if !bundle.contains(path) && !repo.packed.contains_key(path) {
                    return Err(format!("{}: {path} is not in the bundle", repo.repository));
                }
            }
            for role in repo.keys.keys() {
                if !super::keystore::ONLINE_ROLES.contains(&role.as_str()) {
                    return Err(format!("{}: {role} is not an online role", repo.repository));
                }
            }
            if i == 0 {
                first = Some(repo);
            }
            Ok(())
        })?;
        if header.format != REQUEST_FORMAT {
            return Err(bad(
                dir,
                format!(
                    "{REQUEST_FILE}: format {:?} is not {REQUEST_FORMAT:?}",
                    header.format
                ),
            ));
        }
        let flavour = match header.flavour.as_str() {
            "tuf" => Flavour::Tuf,
            "notary" => Flavour::Notary,
            other => {
                return Err(bad(
                    dir,
                    format!("flavour {other:?} is neither tuf nor notary"),
                ));
            }
        };
        if header.flavour != bundle.manifest().flavour {
            return Err(bad(
                dir,
                "request.json and the manifest name different flavours",
            ));
        }
        if header.count == 0 {
            return Err(bad(dir, "it names no repository"));
        }
        if header.count == 1 && first.as_ref().is_some_and(|r| !r.packed.is_empty()) {
            return Err(bad(
                dir,
                "a one-repository request keeps its roots and keys as files, not packed",
            ));
        }
        Ok(Request {
            bundle,
            flavour,
            count: header.count,
            only: first.filter(|_| header.count == 1),
            packs,
        })
    }

    /// The bytes of `name`, a file of `repo`: a part of a pack, or a file of the
    /// bundle; checked against its SHA-256 either way.
    pub fn read(&self, repo: &RepositoryRequest, name: &str) -> Result<Vec<u8>> {
        match repo.packed.get(name) {
            Some(part) => self.read_part(name, part),
            None => Ok(self.bundle.read(name)?),
        }
    }

    /// The bytes of a part of one of the request's packs, checked.
    pub fn read_part(&self, name: &str, part: &Part) -> Result<Vec<u8>> {
        let dir = self.bundle.dir();
        let file = self.packs.get(&part.file).ok_or_else(|| {
            bad(
                dir,
                format!("{name} is in {}, which is not one of its packs", part.file),
            )
        })?;
        bundle::read_part(file, part.offset, part.size, &part.sha256).map_err(|p| match p {
            bundle::PartProblem::Unreadable(e) => bad(dir, format!("{name} in {}: {e}", part.file)),
            bundle::PartProblem::Hash => bad(
                dir,
                format!(
                    "{name} in {} does not have the SHA-256 request.json gives: the bundle changed, stop and investigate",
                    part.file
                ),
            ),
        })
    }

    /// How many repositories the request names.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Every repository of the request, in order, read from `request.json` as they
    /// are used (on a thread of their own, a few dozen ahead). The file is checked
    /// against the manifest as it is read: if it changed, the last item is an
    /// error, so a caller must use every item before acting on any.
    pub fn repositories(&self) -> impl Iterator<Item = Result<RepositoryRequest>> + Send + use<> {
        // Sent in chunks: one hand-off between threads per repository would cost
        // more than reading it.
        const CHUNK: usize = 32;
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Result<RepositoryRequest>>>(4);
        let dir = self.bundle.dir().to_owned();
        let reader = self.bundle.reader(REQUEST_FILE);
        std::thread::spawn(move || {
            let mut chunk = Vec::with_capacity(CHUNK);
            let run = || -> Result<()> {
                let mut reader = reader?;
                let mut stopped = false;
                parse(&mut reader, &mut |_, repo| {
                    chunk.push(Ok(repo));
                    if chunk.len() == CHUNK
                        && tx
                            .send(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK)))
                            .is_err()
                    {
                        stopped = true;
                        return Err("stopped".to_string());
                    }
                    Ok(())
                })
                .or_else(|e| {
                    if stopped {
                        Ok(Header::default())
                    } else {
                        Err(e)
                    }
                })
                .map_err(|e| bad(&dir, format!("{REQUEST_FILE}: {e}")))?;
                if !stopped {
                    reader.finish()?;
                }
                Ok(())
            };
            // The file is checked against the manifest before its last chunk goes:
            // a changed file ends with an error.
            if let Err(e) = run() {
                chunk.push(Err(e));
            }
            let _ = tx.send(chunk);
        });
        rx.into_iter().flatten()
    }

    /// The single repository of a one-repository request.
    pub fn single(&self) -> Result<RepositoryInput> {
        let dir = self.bundle.dir();
        match &self.only {
            Some(repo) => {
                let mut input = self.input(repo);
                if let Some(path) = &repo.targets_review {
                    let bytes = self.bundle.read(path)?;
                    let review = crate::online::review::TargetsReview::from_slice(&bytes)
                        .map_err(|e| bad(dir, format!("{path}: {e}")))?;
                    if review.repository != repo.repository {
                        return Err(bad(
                            dir,
                            format!(
                                "{path} reviews {}, not {}",
                                review.repository, repo.repository
                            ),
                        ));
                    }
                    input.targets_review = Some(review);
                }
                Ok(input)
            }
            None => Err(bad(
                dir,
                format!(
                    "it names {} repositories; this ceremony takes one",
                    self.count
                ),
            )),
        }
    }

    fn input(&self, repo: &RepositoryRequest) -> RepositoryInput {
        let dir = self.bundle.dir();
        let current_dir = repo.current.first().map(|p| {
            dir.join(p)
                .parent()
                .map(Path::to_owned)
                .unwrap_or_else(|| dir.to_owned())
        });
        RepositoryInput {
            repository: repo.repository.clone(),
            current_dir,
            keys: repo
                .keys
                .iter()
                .map(|(r, p)| (r.clone(), dir.join(p)))
                .collect(),
            revoke: repo.revoke.clone(),
            targets_review: None,
        }
    }
}

/// What `request.json` says besides its repositories.
#[derive(Default)]
struct Header {
    format: String,
    flavour: String,
    count: usize,
}

/// Read `request.json` of `bundle` once, handing each repository to `each`.
fn stream(
    bundle: &Bundle,
    each: &mut dyn FnMut(usize, RepositoryRequest) -> std::result::Result<(), String>,
) -> Result<Header> {
    let mut reader = bundle.reader(REQUEST_FILE)?;
    let header =
        parse(&mut reader, each).map_err(|e| bad(bundle.dir(), format!("{REQUEST_FILE}: {e}")))?;
    reader.finish()?;
    Ok(header)
}

/// Parse the bytes of a `request.json`, as [`Request::open`] does, and return
/// how many repositories it lists (the fuzz targets use it).
pub fn parse_request_file(bytes: &[u8]) -> std::result::Result<usize, String> {
    let mut n = 0;
    let mut reader = bytes;
    parse(&mut reader, &mut |_, _| {
        n += 1;
        Ok(())
    })?;
    Ok(n)
}

/// Parse `request.json` from `reader`, one repository at a time.
fn parse(
    reader: &mut dyn std::io::Read,
    each: &mut dyn FnMut(usize, RepositoryRequest) -> std::result::Result<(), String>,
) -> std::result::Result<Header, String> {
    use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
    struct Top<'a>(&'a mut dyn FnMut(usize, RepositoryRequest) -> std::result::Result<(), String>);
    struct Repos<'a>(
        &'a mut dyn FnMut(usize, RepositoryRequest) -> std::result::Result<(), String>,
    );
    impl<'de> Visitor<'de> for Top<'_> {
        type Value = Header;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a request object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Header, A::Error> {
            let (mut format, mut flavour, mut count) = (None, None, None);
            while let Some(key) = map.next_key::<String>()? {
                match key.as_str() {
                    "format" => format = Some(map.next_value::<String>()?),
                    "flavour" => flavour = Some(map.next_value::<String>()?),
                    "repositories" => count = Some(map.next_value_seed(Repos(&mut *self.0))?),
                    other => {
                        return Err(A::Error::unknown_field(
                            other,
                            &["format", "flavour", "repositories"],
                        ));
                    }
                }
            }
            Ok(Header {
                format: format.ok_or_else(|| A::Error::missing_field("format"))?,
                flavour: flavour.ok_or_else(|| A::Error::missing_field("flavour"))?,
                count: count.ok_or_else(|| A::Error::missing_field("repositories"))?,
            })
        }
    }
    impl<'de> DeserializeSeed<'de> for Repos<'_> {
        type Value = usize;
        fn deserialize<D: serde::Deserializer<'de>>(
            self,
            d: D,
        ) -> std::result::Result<usize, D::Error> {
            d.deserialize_seq(self)
        }
    }
    impl<'de> Visitor<'de> for Repos<'_> {
        type Value = usize;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of repositories")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<usize, A::Error> {
            let mut i = 0;
            while let Some(repo) = seq.next_element::<RepositoryRequest>()? {
                (self.0)(i, repo).map_err(A::Error::custom)?;
                i += 1;
            }
            Ok(i)
        }
    }
    let mut de =
        serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(64 << 10, reader));
    let header =
        serde::Deserializer::deserialize_map(&mut de, Top(each)).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(header)
}

pub fn read_key(bytes: &[u8], flavour: Flavour) -> std::result::Result<Key, String> {
    crate::tuf::key::read_key_object(bytes, flavour)
}

/// What goes into a new request bundle for one repository.
pub struct NewRepository {
    pub repository: String,
    /// The current chain (verified by the caller as far as it can), oldest first.
    pub current: Vec<(u64, Vec<u8>)>,
    pub keys: BTreeMap<String, Key>,
    pub revoke: Vec<String>,
    pub targets_review: Option<crate::online::review::TargetsReview>,
}

/// Write a request bundle for `repos` to `out` (all or nothing). One repository's
/// roots and keys are files; a batch's go into two pack files
/// ([`CURRENT_PACK`], [`KEYS_PACK`]), each repository's parts listed in its entry.
pub fn write(out: &Path, flavour: Flavour, repos: &[NewRepository]) -> Result<Bundle> {
    use sha2::Digest;
    let single = repos.len() == 1;
    let mut entries = Vec::new();
    let mut packs: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
    for repo in repos {
        let mut packed = BTreeMap::new();
        let mut put = |name: String, bytes: &[u8], pack: &'static str| -> Result<String> {
            if single {
                bundle::stage(out, &name, bytes)?;
            } else {
                let buf = packs.entry(pack).or_default();
                packed.insert(
                    name.clone(),
                    Part {
                        file: pack.to_owned(),
                        offset: buf.len() as u64,
                        size: bytes.len() as u64,
                        sha256: hex::encode(sha2::Sha256::digest(bytes)),
                    },
                );
                buf.extend_from_slice(bytes);
            }
            Ok(name)
        };
        let mut current = Vec::new();
        for (version, bytes) in &repo.current {
            current.push(put(
                format!("current/{version}.root.json"),
                bytes,
                CURRENT_PACK,
            )?);
        }
        let mut keys = BTreeMap::new();
        for (role, key) in &repo.keys {
            let mut bytes = serde_json::to_vec_pretty(key).expect("a key serialises");
            bytes.push(b'\n');
            keys.insert(
                role.clone(),
                put(format!("keys/{role}.json"), &bytes, KEYS_PACK)?,
            );
        }
        let targets_review = match &repo.targets_review {
            Some(review) => {
                let mut bytes = serde_json::to_vec_pretty(review).expect("a review serialises");
                bytes.push(b'\n');
                Some(put(
                    crate::online::review::TARGETS_REVIEW.to_owned(),
                    &bytes,
                    CURRENT_PACK,
                )?)
            }
            None => None,
        };
        entries.push(RepositoryRequest {
            repository: repo.repository.clone(),
            current,
            keys,
            revoke: repo.revoke.clone(),
            packed,
            targets_review,
        });
    }
    for (name, bytes) in &packs {
        bundle::stage(out, name, bytes)?;
    }
    drop(packs);
    let file = RequestFile {
        format: REQUEST_FORMAT.into(),
        flavour: flavour.name().into(),
        repositories: entries,
    };
    let mut bytes = serde_json::to_vec_pretty(&file).expect("a request serialises");
    bytes.push(b'\n');
    bundle::stage(out, REQUEST_FILE, &bytes)?;
    Ok(bundle::commit(
        out,
        "request",
        flavour.name(),
        repos.iter().map(|r| r.repository.clone()).collect(),
        None,
    )?)
}

/// A request interrupted before its bundle was moved into place (its manifest
/// written or not) left staged files that were never a bundle anyone could use:
/// they are removed, so the request is made again. Only a staging directory that
/// holds nothing but what the request stages (`ours`, and temporary files) is
/// removed; anything else is refused as a partial bundle. Returns whether one was
/// removed.
pub fn clear_interrupted(out: &Path, ours: impl Fn(&str) -> bool) -> Result<bool> {
    let staging = crate::transfer::bundle::staging_dir(out);
    if !crate::fsio::occupied(&staging) {
        return Ok(false);
    }
    let only_ours = std::fs::read_dir(&staging).is_ok_and(|entries| {
        entries.flatten().all(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            ours(&name) || crate::fsio::is_temp_name(&name)
        })
    });
    if !staging.is_dir() || !only_ours {
        return Err(crate::transfer::bundle::BundleError::Partial {
            path: staging.display().to_string(),
        }
        .into());
    }
    std::fs::remove_dir_all(&staging).map_err(|e| Error::Read {
        path: staging.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(true)
}
