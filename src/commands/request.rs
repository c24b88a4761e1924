//! `ceremony request` (online machine): what the ceremony needs, in a bundle.

use super::{key::algorithm, passphrase};
use crate::cli::RequestArgs;
use crate::error::{Error, Result};
use crate::online::keystore::{KeyStore, ONLINE_ROLES};
use crate::online::notary_api::NotaryApi;
use crate::online::request::{NewRepository, read_key, write};
use crate::transfer::bundle::{BundleError, staging_dir};
use crate::tuf::document::RootDocument;
use crate::tuf::key::key_id;
use crate::tuf::metadata::{Flavour, Key};
use std::collections::BTreeMap;

pub fn run(args: RequestArgs) -> Result<()> {
    let flavour = super::flavour(args.flavour);
    if args.out.exists() {
        return Err(Error::File(crate::fsio::FileError::Exists {
            path: args.out.display().to_string(),
        }));
    }
    if staging_dir(&args.out).exists() {
        return Err(BundleError::Partial {
            path: staging_dir(&args.out).display().to_string(),
        }
        .into());
    }
    let api = match (&args.server, flavour) {
        (Some(url), Flavour::Notary) => Some(NotaryApi::new(url, args.server_ca.as_deref())?),
        (Some(_), Flavour::Tuf) => {
            return Err(Error::Usage(
                "--server is for Notary repositories; for TUF give --current and --key".into(),
            ));
        }
        (None, _) => None,
    };
    let repo = &args.repository;

    // The current chain.
    let mut current: Vec<(u64, Vec<u8>)> = Vec::new();
    if let Some(dir) = &args.current {
        for path in super::verify::root_files_in(dir)? {
            let bytes = super::read_file(&path)?;
            let doc = RootDocument::from_slice(&bytes, &path.display().to_string())?;
            current.push((doc.version(), bytes));
        }
    } else if let Some(api) = &api
        && let Some(latest) = api.get(repo, "root.json")?
    {
        let doc = RootDocument::from_slice(&latest, &format!("{repo} root.json"))?;
        for v in 1..=doc.version() {
            let name = format!("{v}.root.json");
            let bytes = api.get(repo, &name)?.ok_or_else(|| Error::Remote {
                what: format!("{repo} {name}"),
                reason: "the server does not have this version of the root".into(),
            })?;
            RootDocument::from_slice(&bytes, &format!("{repo} {name}"))?;
            current.push((v, bytes));
        }
    }
    for pair in current.windows(2) {
        if pair[1].0 != pair[0].0 + 1 {
            return Err(Error::Usage(format!(
                "the current chain of {repo} jumps from version {} to {}: every N.root.json is needed",
                pair[0].0, pair[1].0
            )));
        }
    }

    // The online keys.
    let mut keys: BTreeMap<String, Key> = BTreeMap::new();
    let mut made = Vec::new();
    for pair in &args.keys {
        let (role, path) = pair
            .split_once('=')
            .and_then(|(r, v)| v.strip_prefix("keyfile:").map(|p| (r, p)))
            .ok_or_else(|| {
                Error::Usage(format!("--key {pair:?} must look like ROLE=keyfile:PATH"))
            })?;
        check_role(role)?;
        let bytes = super::read_file(std::path::Path::new(path))?;
        let key = read_key(&bytes, flavour).map_err(|e| Error::Read {
            path: path.into(),
            reason: e,
        })?;
        if keys.insert(role.to_owned(), key).is_some() {
            return Err(Error::Usage(format!("the key for {role} is given twice")));
        }
    }
    if !args.new_keys.is_empty() {
        let store = args.keystore.as_deref().ok_or_else(|| {
            Error::Usage("--new-key needs --keystore DIR: where the online keys are kept".into())
        })?;
        let store = KeyStore::new(store);
        for role in &args.new_keys {
            check_role(role)?;
        }
        let pass = passphrase("the online key store", &args.secrets, true)?;
        for role in &args.new_keys {
            if keys.contains_key(role) {
                return Err(Error::Usage(format!("the key for {role} is given twice")));
            }
            let (path, public) =
                store.generate(repo, role, algorithm(args.algorithm), flavour, &pass)?;
            made.push(format!("{role}: new key in {}", path.display()));
            keys.insert(
                role.clone(),
                crate::online::keystore::key_object(&public, flavour),
            );
        }
    }
    if let Some(api) = &api {
        for role in ["timestamp", "snapshot"] {
            if !keys.contains_key(role) {
                keys.insert(role.into(), api.server_key(repo, role)?);
                made.push(format!("{role}: held by the server"));
            }
        }
    }
    for id in &args.revoke {
        if id.len() < 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::Usage(format!(
                "--revoke {id:?}: a key ID, or a prefix of at least 8 hex digits"
            )));
        }
    }

    let bundle = write(
        &args.out,
        flavour,
        &[NewRepository {
            repository: repo.clone(),
            current: current.clone(),
            keys: keys.clone(),
            revoke: args.revoke.clone(),
        }],
    )?;
    println!(
        "request bundle {} for {repo} ({})",
        args.out.display(),
        flavour.name()
    );
    match current.last() {
        Some((v, _)) => println!("  current root chain: versions 1 to {v}"),
        None => println!("  current root chain: none (a new repository)"),
    }
    for (role, key) in &keys {
        println!("  {role} key: {}", key_id(key, flavour));
    }
    for line in made {
        println!("  {line}");
    }
    for id in &args.revoke {
        println!("  to remove: {id}");
    }
    println!("bundle hash: {}", bundle.hash());
    Ok(())
}

fn check_role(role: &str) -> Result<()> {
    if ONLINE_ROLES.contains(&role) {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "{role:?} is not an online role: targets, snapshot or timestamp"
        )))
    }
}
