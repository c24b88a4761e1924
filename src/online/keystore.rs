//! The online key store: the keys of the online roles (the tagging/targets key, and
//! the snapshot key where the publisher holds it), each an age-encrypted key file,
//! never written in the clear. Layout: `STORE/<repository>/<role>-<keyid16>.age`
//! (with its public half next to it), where `/` in a repository name is `%2F`. The
//! store also keeps, per repository, the root the online side trusts
//! (`trusted.root.json`), advanced by every successful publish.

use crate::error::{Error, Result};
use crate::fsio;
use crate::keys::{Algorithm, PublicKey};
use crate::secret::Secret;
use crate::tokens::soft::SoftToken;
use crate::tuf::key::{key_id, notary_key, tuf_key};
use crate::tuf::metadata::{Flavour, Key};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

pub const ONLINE_ROLES: [&str; 3] = ["targets", "snapshot", "timestamp"];

pub struct KeyStore {
    dir: PathBuf,
}

/// The key object an online role's public key has in metadata of `flavour`.
pub fn key_object(public: &PublicKey, flavour: Flavour) -> Key {
    match flavour {
        Flavour::Tuf => tuf_key(public),
        Flavour::Notary => notary_key(public),
    }
}

fn escape(repository: &str) -> String {
    repository.replace('%', "%25").replace('/', "%2F")
}

impl KeyStore {
    pub fn new(dir: &Path) -> KeyStore {
        KeyStore {
            dir: dir.to_owned(),
        }
    }

    fn repo_dir(&self, repository: &str) -> PathBuf {
        self.dir.join(escape(repository))
    }

    /// Generate a new key for `role` of `repository`, encrypted to `passphrase`.
    /// Returns the token reference and the public key.
    pub fn generate(
        &self,
        repository: &str,
        role: &str,
        algorithm: Algorithm,
        flavour: Flavour,
        passphrase: &Secret,
        before_link: &mut dyn FnMut(&Path) -> Result<()>,
    ) -> Result<(PathBuf, PublicKey)> {
        if !ONLINE_ROLES.contains(&role) {
            return Err(Error::Usage(format!(
                "{role} is not an online role (targets, snapshot, timestamp): root keys are made in the ceremony, on hardware"
            )));
        }
        let dir = self.repo_dir(repository);
        std::fs::create_dir_all(&dir).map_err(|e| Error::Read {
            path: dir.display().to_string(),
            reason: e.to_string(),
        })?;
        remove_interrupted(&dir, role)?;
        let tmp = dir.join(format!(".{role}-new-{}.age", random_hex()));
        let public = SoftToken::generate(&tmp, algorithm, passphrase)?;
        let id = key_id(&key_object(&public, flavour), flavour);
        let path = dir.join(format!("{role}-{}.age", &id[..16]));
        let pairs = [
            (
                crate::tokens::soft::public_path(&tmp),
                crate::tokens::soft::public_path(&path),
            ),
            (tmp.clone(), path.clone()),
        ];
        // Linked into place (a link never replaces an existing key file); the
        // temporary names go whatever happens.
        let mut result = before_link(&path);
        for (from, to) in pairs.iter().take_while(|_| result.is_ok()) {
            if let Err(e) = std::fs::hard_link(from, to) {
                result = Err(match e.kind() {
                    std::io::ErrorKind::AlreadyExists => Error::File(fsio::FileError::Exists {
                        path: to.display().to_string(),
                    }),
                    _ => Error::Read {
                        path: to.display().to_string(),
                        reason: e.to_string(),
                    },
                });
                break;
            }
        }
        for (from, _) in &pairs {
            let _ = std::fs::remove_file(from);
        }
        result.map(|()| (path, public))
    }

    /// The journal of the keys made for the request bundle at `out`.
    fn request_journal(&self, out: &Path) -> Result<(PathBuf, PathBuf)> {
        let out = std::path::absolute(out).map_err(|e| Error::Read {
            path: out.display().to_string(),
            reason: e.to_string(),
        })?;
        let digest = hex::encode(Sha256::digest(out.as_os_str().as_encoded_bytes()));
        Ok((
            self.dir.join(format!(".request-{}.json", &digest[..16])),
            out,
        ))
    }

    /// Settle what an earlier run of the request for `out` left: if its bundle is
    /// in place, its keys are kept and the journal goes; if not, the keys it made
    /// are removed (no bundle names them, and none was shown). Called before
    /// anything else a request does.
    pub fn settle_request(&self, out: &Path) -> Result<()> {
        let (journal, out) = self.request_journal(out)?;
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |e: std::io::Error| Error::Read {
                path,
                reason: e.to_string(),
            }
        };
        let _ = fsio::remove_temps_for(&journal);
        if !journal.exists() {
            return Ok(());
        }
        let bytes = crate::inputs::read_file(&journal)?;
        let old: RequestJournal = serde_json::from_slice(&bytes).map_err(|e| Error::Read {
            path: journal.display().to_string(),
            reason: format!("not a request journal ({e}); move it away to go on"),
        })?;
        if !out.join(crate::transfer::bundle::MANIFEST).is_file() {
            let mut removed = 0;
            for rel in &old.keys {
                let key = self.dir.join(rel);
                for f in [crate::tokens::soft::public_path(&key), key] {
                    let _ = fsio::remove_temps_for(&f);
                    match std::fs::remove_file(&f) {
                        Ok(()) => removed += 1,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(io(&f)(e)),
                    }
                    fsio::sync_dir(&f);
                }
            }
            if removed > 0 {
                eprintln!(
                    "{}: removed the {removed} key file(s) an interrupted request made for {} (no bundle names them)",
                    self.dir.display(),
                    out.display()
                );
            }
        }
        std::fs::remove_file(&journal).map_err(io(&journal))?;
        fsio::sync_dir(&journal);
        Ok(())
    }

    /// Begin journaling the keys of the request bundle at `out` (after
    /// [`KeyStore::settle_request`]).
    pub fn for_request(&self, out: &Path) -> Result<RequestKeys<'_>> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::Read {
            path: self.dir.display().to_string(),
            reason: e.to_string(),
        })?;
        let (journal, out) = self.request_journal(out)?;
        Ok(RequestKeys {
            store: self,
            journal,
            record: RequestJournal {
                out: out.display().to_string(),
                keys: Vec::new(),
            },
        })
    }

    /// File the key at `path` (made by [`KeyStore::generate`] for another
    /// repository) under `repository` too: one tagging key for many repositories.
    pub fn share(&self, path: &Path, repository: &str) -> Result<PathBuf> {
        let dir = self.repo_dir(repository);
        std::fs::create_dir_all(&dir).map_err(|e| Error::Read {
            path: dir.display().to_string(),
            reason: e.to_string(),
        })?;
        let name = path.file_name().expect("a key file name");
        let target = dir.join(name);
        for (from, to) in [
            (
                crate::tokens::soft::public_path(path),
                crate::tokens::soft::public_path(&target),
            ),
            (path.to_owned(), target.clone()),
        ] {
            let bytes = crate::inputs::read_file(&from)?;
            fsio::write_new(&to, &bytes, 0o600)?;
        }
        Ok(target)
    }

    /// The directory of one repository's current chain under a per-repository tree.
    pub fn repository_dir(base: &Path, repository: &str) -> PathBuf {
        base.join(escape(repository))
    }

    /// The key file in the store whose key ID (in `flavour`) is `keyid`.
    pub fn find(
        &self,
        repository: &str,
        role: &str,
        keyid: &str,
        flavour: Flavour,
    ) -> Option<PathBuf> {
        let dir = self.repo_dir(repository);
        let entries = std::fs::read_dir(&dir).ok()?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !(name.starts_with(&format!("{role}-")) && name.ends_with(".age")) {
                continue;
            }
            let path = entry.path();
            if let Ok(public) = SoftToken::read_public(&path)
                && key_id(&key_object(&public, flavour), flavour) == keyid
            {
                return Some(path);
            }
        }
        None
    }

    /// Every key file the store holds for `role` of `repository`, with its
    /// public key (read from the `.pub` beside it; no passphrase needed).
    pub fn keys(&self, repository: &str, role: &str) -> Result<Vec<(PathBuf, PublicKey)>> {
        let dir = self.repo_dir(repository);
        let entries = std::fs::read_dir(&dir).map_err(|e| Error::Read {
            path: dir.display().to_string(),
            reason: format!("{e}: no keys for {repository} in this key store"),
        })?;
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&format!("{role}-")) && name.ends_with(".age") {
                let path = entry.path();
                out.push((path.clone(), SoftToken::read_public(&path)?));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The root this online machine trusts for `repository`, if it has one.
    pub fn trusted_root(&self, repository: &str) -> Option<PathBuf> {
        let p = self.repo_dir(repository).join("trusted.root.json");
        p.is_file().then_some(p)
    }

    /// Record the newest root published for `repository` (atomic replace).
    pub fn set_trusted_root(&self, repository: &str, bytes: &[u8]) -> Result<PathBuf> {
        let dir = self.repo_dir(repository);
        std::fs::create_dir_all(&dir).map_err(|e| Error::Read {
            path: dir.display().to_string(),
            reason: e.to_string(),
        })?;
        let p = dir.join("trusted.root.json");
        fsio::replace(&p, bytes, 0o644)?;
        Ok(p)
    }
}

#[derive(Serialize, Deserialize)]
struct RequestJournal {
    /// The bundle the keys are for.
    out: String,
    /// Every key file made or about to be linked, relative to the store.
    keys: Vec<String>,
}

/// The keys made for one request bundle: see [`KeyStore::for_request`].
pub struct RequestKeys<'a> {
    store: &'a KeyStore,
    journal: PathBuf,
    record: RequestJournal,
}

impl RequestKeys<'_> {
    /// Generate a key for `role` in the first repository's directory and file it
    /// under every other repository, each file journaled before it is made.
    pub fn generate(
        &mut self,
        repositories: &[String],
        role: &str,
        algorithm: Algorithm,
        flavour: Flavour,
        passphrase: &Secret,
    ) -> Result<(PathBuf, PublicKey)> {
        let Some((first, others)) = repositories.split_first() else {
            return Err(Error::Internal("a key for no repository".into()));
        };
        let store = self.store;
        let (path, public) =
            store.generate(first, role, algorithm, flavour, passphrase, &mut |path| {
                let name = path
                    .file_name()
                    .expect("a key file name")
                    .to_string_lossy()
                    .into_owned();
                for repo in repositories {
                    self.record.keys.push(format!("{}/{name}", escape(repo)));
                }
                self.save()
            })?;
        for other in others {
            store.share(&path, other)?;
        }
        Ok((path, public))
    }

    fn save(&self) -> Result<()> {
        let mut bytes = serde_json::to_vec_pretty(&self.record).expect("a journal serialises");
        bytes.push(b'\n');
        fsio::replace(&self.journal, &bytes, 0o600)?;
        Ok(())
    }

    /// The bundle is in place: its keys are no longer provisional.
    pub fn done(self) -> Result<()> {
        match std::fs::remove_file(&self.journal) {
            Ok(()) => {
                fsio::sync_dir(&self.journal);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::Read {
                path: self.journal.display().to_string(),
                reason: e.to_string(),
            }),
        }
    }
}

/// Remove what a generation killed before its links left in `dir`: its
/// temporary key files (`.ROLE-new-<16 hex>.age` and their public halves) and
/// the temporaries of their writes.
fn remove_interrupted(dir: &Path, role: &str) -> Result<()> {
    let io = |e: std::io::Error| Error::Read {
        path: dir.display().to_string(),
        reason: e.to_string(),
    };
    fsio::remove_temps(dir, false).map_err(io)?;
    let prefix = format!(".{role}-new-");
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let rnd = rest.split('.').next().unwrap_or_default();
        if rnd.len() == 16
            && rnd.bytes().all(|b| b.is_ascii_hexdigit())
            && rest[16..].starts_with(".age")
            && entry.file_type().is_ok_and(|t| t.is_file())
        {
            std::fs::remove_file(entry.path()).map_err(io)?;
        }
    }
    Ok(())
}

fn random_hex() -> String {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("system randomness");
    hex::encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request killed after its key was linked but before its bundle was in
    /// place: running it again removes that key; once the bundle is in place, its
    /// keys are kept.
    #[test]
    fn keys_of_a_request_that_never_reached_its_bundle_are_removed() {
        let d = tempfile::tempdir().unwrap();
        let store = KeyStore::new(&d.path().join("store"));
        let out = d.path().join("req");
        let pass = Secret::new("a test passphrase".to_owned());
        let repos = ["example.com/a".to_owned(), "example.com/b".to_owned()];
        let count = |repo: &str| {
            std::fs::read_dir(store.repo_dir(repo))
                .map(|e| e.count())
                .unwrap_or(0)
        };
        // Killed before `done`: the keys stay, named by the journal only.
        let mut keys = store.for_request(&out).unwrap();
        keys.generate(&repos, "targets", Algorithm::Ed25519, Flavour::Tuf, &pass)
            .unwrap();
        drop(keys);
        assert_eq!((count(&repos[0]), count(&repos[1])), (2, 2));
        store.settle_request(&out).unwrap();
        assert_eq!((count(&repos[0]), count(&repos[1])), (0, 0));

        // Killed after the bundle was moved into place: its keys are kept.
        let mut keys = store.for_request(&out).unwrap();
        keys.generate(&repos, "targets", Algorithm::Ed25519, Flavour::Tuf, &pass)
            .unwrap();
        drop(keys);
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join(crate::transfer::bundle::MANIFEST), b"{}").unwrap();
        store.settle_request(&out).unwrap();
        assert_eq!((count(&repos[0]), count(&repos[1])), (2, 2));
        let journals = std::fs::read_dir(store.dir())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".request-"))
            .count();
        assert_eq!(journals, 0);
    }

    #[test]
    fn an_interrupted_generation_leaves_nothing_for_the_next() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        for name in [
            ".targets-new-0123456789abcdef.age",
            ".targets-new-0123456789abcdef.age.pub",
            ".targets-0123456789abcdef.age.0123456789abcdef.tmp",
        ] {
            std::fs::write(dir.join(name), b"left by a kill").unwrap();
        }
        // Not ours: another role's, a finished key, a name that only looks close.
        for name in [
            ".snapshot-new-0123456789abcdef.age",
            "targets-0123456789abcdef.age",
            ".targets-new-xyz.age",
        ] {
            std::fs::write(dir.join(name), b"kept").unwrap();
        }
        remove_interrupted(dir, "targets").unwrap();
        let mut left: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                ".snapshot-new-0123456789abcdef.age",
                ".targets-new-xyz.age",
                "targets-0123456789abcdef.age"
            ]
        );
    }
}
