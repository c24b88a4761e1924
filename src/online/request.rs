//! Request bundles: what the online side hands to the ceremony. For each
//! repository: its current root chain (every `N.root.json`), the public keys of its
//! online roles (a new tagging key generated in the online key store, the snapshot
//! key, the timestamp key the Notary server holds), and the key IDs the ceremony is
//! asked to remove. `request.json` lists where each thing is in the bundle.

use crate::error::{Error, Result};
use crate::transfer::bundle::{self, Bundle};
use crate::tuf::json::parse_strict;
use crate::tuf::key::decode_key;
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
}

/// What one repository of the request holds, read and checked.
pub struct RepositoryInput {
    pub repository: String,
    /// Path of the directory holding the current chain inside the bundle, if any.
    pub current_dir: Option<std::path::PathBuf>,
    pub keys: BTreeMap<String, std::path::PathBuf>,
    pub revoke: Vec<String>,
}

/// An opened, checked request bundle.
pub struct Request {
    pub bundle: Bundle,
    pub flavour: Flavour,
    pub file: RequestFile,
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
    pub fn open(dir: &Path) -> Result<Request> {
        let bundle = Bundle::open(dir, "request")?;
        if !bundle.contains(REQUEST_FILE) {
            return Err(bad(dir, format!("no {REQUEST_FILE}")));
        }
        let bytes = bundle.read(REQUEST_FILE)?;
        let file: RequestFile = crate::tuf::json::from_slice_strict(&bytes)
            .map_err(|e| bad(dir, format!("{REQUEST_FILE}: {e}")))?;
        if file.format != REQUEST_FORMAT {
            return Err(bad(
                dir,
                format!(
                    "{REQUEST_FILE}: format {:?} is not {REQUEST_FORMAT:?}",
                    file.format
                ),
            ));
        }
        let flavour = match file.flavour.as_str() {
            "tuf" => Flavour::Tuf,
            "notary" => Flavour::Notary,
            other => {
                return Err(bad(
                    dir,
                    format!("flavour {other:?} is neither tuf nor notary"),
                ));
            }
        };
        if file.flavour != bundle.manifest().flavour {
            return Err(bad(
                dir,
                "request.json and the manifest name different flavours",
            ));
        }
        if file.repositories.is_empty() {
            return Err(bad(dir, "it names no repository"));
        }
        // Every file named is in the bundle (and was checked against the manifest);
        // roots and keys are parsed where they are used.
        for repo in &file.repositories {
            for path in repo.current.iter().chain(repo.keys.values()) {
                if !bundle.contains(path) {
                    return Err(bad(
                        dir,
                        format!("{}: {path} is not in the bundle", repo.repository),
                    ));
                }
            }
            for role in repo.keys.keys() {
                if !super::keystore::ONLINE_ROLES.contains(&role.as_str()) {
                    return Err(bad(
                        dir,
                        format!("{}: {role} is not an online role", repo.repository),
                    ));
                }
            }
        }
        Ok(Request {
            bundle,
            flavour,
            file,
        })
    }

    /// The single repository of a one-repository request.
    pub fn single(&self) -> Result<RepositoryInput> {
        let dir = self.bundle.dir();
        match self.file.repositories.as_slice() {
            [repo] => Ok(self.input(repo)),
            many => Err(bad(
                dir,
                format!(
                    "it names {} repositories; this ceremony takes one",
                    many.len()
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
        }
    }
}

pub fn read_key(bytes: &[u8], flavour: Flavour) -> std::result::Result<Key, String> {
    let value = parse_strict(bytes).map_err(|e| e.to_string())?;
    let key: Key = serde_json::from_value(value).map_err(|e| format!("not a key object: {e}"))?;
    decode_key(&key, flavour)?;
    Ok(key)
}

/// What goes into a new request bundle for one repository.
pub struct NewRepository {
    pub repository: String,
    /// The current chain (verified by the caller as far as it can), oldest first.
    pub current: Vec<(u64, Vec<u8>)>,
    pub keys: BTreeMap<String, Key>,
    pub revoke: Vec<String>,
}

/// Write a request bundle for `repos` to `out` (all or nothing).
pub fn write(out: &Path, flavour: Flavour, repos: &[NewRepository]) -> Result<Bundle> {
    let single = repos.len() == 1;
    let mut entries = Vec::new();
    for (i, repo) in repos.iter().enumerate() {
        let prefix = if single {
            String::new()
        } else {
            format!("repositories/{i}/")
        };
        let mut current = Vec::new();
        for (version, bytes) in &repo.current {
            let path = format!("{prefix}current/{version}.root.json");
            bundle::stage(out, &path, bytes)?;
            current.push(path);
        }
        let mut keys = BTreeMap::new();
        for (role, key) in &repo.keys {
            let path = format!("{prefix}keys/{role}.json");
            let mut bytes = serde_json::to_vec_pretty(key).expect("a key serialises");
            bytes.push(b'\n');
            bundle::stage(out, &path, &bytes)?;
            keys.insert(role.clone(), path);
        }
        entries.push(RepositoryRequest {
            repository: repo.repository.clone(),
            current,
            keys,
            revoke: repo.revoke.clone(),
        });
    }
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
