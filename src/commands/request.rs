//! `ceremony request` (online machine): what the ceremony needs, in a bundle.

use super::{key::algorithm, passphrase};
use crate::cli::RequestArgs;
use crate::error::{Error, Result};
use crate::online::keystore::{KeyStore, ONLINE_ROLES};
use crate::online::notary_api::NotaryApi;
use crate::online::request::{NewRepository, read_key, write};
use crate::transfer::bundle::staging_dir;
use crate::tuf::document::RootDocument;
use crate::tuf::key::key_id;
use crate::tuf::metadata::{Flavour, Key};
use std::collections::BTreeMap;

pub fn run(args: RequestArgs) -> Result<()> {
    if let Some(source) = &args.signing_event {
        let [repository] = args.repositories.as_slice() else {
            return Err(Error::Usage(
                "--signing-event carries one repository's event: give one --repository".into(),
            ));
        };
        let made = crate::online::signing_event::request(source, repository, &args.out)?;
        println!(
            "request bundle {}: {} file(s), bundle hash {}",
            args.out.display(),
            made.len(),
            made.hash()
        );
        println!(
            "the next site countersigns it: ceremony run ceremony-scripts/root-countersign.toml \
             --previous {} …",
            args.out.display()
        );
        return Ok(());
    }
    let flavour = super::flavour(args.flavour);
    let store = args.keystore.as_deref().map(KeyStore::new);
    if let Some(store) = &store
        && store.dir().is_dir()
    {
        store.settle_request(&args.out)?;
    }
    crate::fsio::new_output(&args.out)?;
    // Only what a request stages is removed: anything else there (a ceremony's
    // export being assembled under the same name) is not ours.
    let requests_own = |name: &str| {
        ["current", "keys", crate::transfer::bundle::MANIFEST].contains(&name)
            || name == crate::online::request::REQUEST_FILE
            || name.ends_with(".pack")
    };
    if crate::online::request::clear_interrupted(&args.out, requests_own)? {
        eprintln!(
            "{}: the staged files of an interrupted request were removed; making the request again",
            staging_dir(&args.out).display()
        );
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
    let repos = &args.repositories;
    let several = repos.len() > 1;

    // The current chains first, and every --revoke checked against them, before
    // anything is made (a new key, a key on the server) for a repository.
    let bar = indicatif::ProgressBar::new(repos.len() as u64);
    if !several {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut chains = Vec::new();
    let mut revoke_ids: Vec<Vec<String>> = Vec::new();
    for repo in repos {
        bar.inc(1);
        // The current chain.
        let mut current: Vec<(u64, Vec<u8>)> = Vec::new();
        if let Some(base) = &args.current {
            let dir = if several {
                KeyStore::repository_dir(base, repo)
            } else {
                base.clone()
            };
            for (named, path) in super::verify::root_files_in(&dir)? {
                let bytes = super::read_file(&path)?;
                let doc = RootDocument::from_slice(&bytes, &path.display().to_string())?;
                super::verify::check_named_version(&doc, named)?;
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
                    "the current chain of {repo} has no {}.root.json (it jumps from version {} \
                     to {}): every N.root.json is needed",
                    pair[0].0 + 1,
                    pair[0].0,
                    pair[1].0
                )));
            }
        }
        revoke_ids.push(resolve_revoked(repo, &current, &args.revoke)?);
        chains.push(current);
    }
    bar.finish_and_clear();

    // The online keys every repository gets.
    let mut shared: BTreeMap<String, Key> = BTreeMap::new();
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
        if shared.insert(role.to_owned(), key).is_some() {
            return Err(Error::Usage(format!("the key for {role} is given twice")));
        }
    }
    let mut journaled = None;
    if !args.new_keys.is_empty() {
        let store = store.as_ref().ok_or_else(|| {
            Error::Usage("--new-key needs --keystore DIR: where the online keys are kept".into())
        })?;
        for role in &args.new_keys {
            check_role(role)?;
            if shared.contains_key(role) {
                return Err(Error::Usage(format!("the key for {role} is given twice")));
            }
        }
        let pass = passphrase("the online key store", &args.secrets, true)?;
        let mut keys = store.for_request(&args.out)?;
        for role in &args.new_keys {
            let (path, public) =
                keys.generate(repos, role, algorithm(args.algorithm), flavour, &pass)?;
            made.push(format!("{role}: new key in {}", path.display()));
            shared.insert(
                role.clone(),
                crate::online::keystore::key_object(&public, flavour),
            );
        }
        journaled = Some(keys);
    }

    let mut entries = Vec::new();
    for ((repo, current), revoke) in repos.iter().zip(chains).zip(revoke_ids) {
        let mut keys = shared.clone();
        if let Some(api) = &api {
            for role in ["timestamp", "snapshot"] {
                if !keys.contains_key(role) {
                    keys.insert(role.into(), api.server_key(repo, role)?);
                    if !several {
                        made.push(format!("{role}: held by the server"));
                    }
                }
            }
        }
        // What the repository's current targets are and where each came from, for
        // the room to decide what the new tagging key re-signs.
        // Only where the tagging key changes (a new one, or one revoked): the new
        // key then re-signs what is kept.
        let tagging_key_changes =
            !revoke.is_empty() || args.new_keys.iter().any(|r| r == "targets");
        let targets_review = match &api {
            Some(api) if !several && !current.is_empty() && tagging_key_changes => {
                targets_review(api, repo, &revoke)?
            }
            _ => None,
        };
        if let Some(review) = &targets_review {
            made.push(format!(
                "targets review: {} target(s) of targets.json version {}, each with the \
                 version it was added in and the key that signed it",
                review.targets.len(),
                review.targets_version
            ));
        }
        entries.push(NewRepository {
            repository: repo.clone(),
            current,
            keys,
            revoke,
            targets_review,
        });
    }
    let bundle = write(&args.out, flavour, &entries)?;
    if let Some(keys) = journaled {
        keys.done()?;
    }
    if let [one] = entries.as_slice() {
        println!(
            "request bundle {} for {} ({})",
            args.out.display(),
            one.repository,
            flavour.name()
        );
        match one.current.last() {
            Some((v, _)) => println!("  current root chain: versions 1 to {v}"),
            None => println!("  current root chain: none (a new repository)"),
        }
        for (role, key) in &one.keys {
            println!("  {role} key: {}", key_id(key, flavour));
        }
    } else {
        println!(
            "request bundle {} for {} repositories ({}): a batch",
            args.out.display(),
            entries.len(),
            flavour.name()
        );
        for (role, key) in &shared {
            println!("  {role} key (every repository): {}", key_id(key, flavour));
        }
    }
    for line in made {
        println!("  {line}");
    }
    if let [one] = entries.as_slice() {
        for id in &one.revoke {
            println!("  to remove from targets: {id}");
        }
    } else if !args.revoke.is_empty() {
        println!("  to remove from targets: {}", args.revoke.join(", "));
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

/// The full key IDs `--revoke` names in a repository's current root (its targets
/// role), checked here, on the online side, so a typo costs no trip across the
/// air gap. A repository with no current root cannot have a key revoked: its name
/// is probably wrong.
fn resolve_revoked(
    repo: &str,
    current: &[(u64, Vec<u8>)],
    revoke: &[String],
) -> Result<Vec<String>> {
    if revoke.is_empty() {
        return Ok(Vec::new());
    }
    let Some((version, bytes)) = current.last() else {
        return Err(Error::Usage(format!(
            "repository {repo} has no current root, so it has no key to revoke: check the \
             repository name (nothing was made for it)"
        )));
    };
    let doc = RootDocument::from_slice(bytes, &format!("{repo} {version}.root.json"))?;
    let root = doc.root();
    revoke
        .iter()
        .map(|given| {
            crate::tuf::edit::resolve_keyid(
                &root.keys,
                &root.roles["targets"].keyids,
                doc.flavour(),
                "targets",
                given,
            )
            .map_err(|e| {
                Error::Usage(format!(
                    "--revoke {given}: {repo}'s current root (version {version}): {e}"
                ))
            })
        })
        .collect()
}

/// The review of `repo`'s current targets from the server's history of
/// targets.json (every version it keeps), or none if it has no targets yet.
fn targets_review(
    api: &crate::online::notary_api::NotaryApi,
    repo: &str,
    revoked: &[String],
) -> Result<Option<crate::online::review::TargetsReview>> {
    use crate::online::review::{Version, review};
    use crate::tuf::targets_doc::TargetsDocument;
    let Some((bytes, stored)) = api.get_stored(repo, "targets.json")? else {
        return Ok(None);
    };
    let current = Version {
        doc: TargetsDocument::from_slice(&bytes, &format!("{repo} targets.json"))?,
        stored,
    };
    let mut history = Vec::new();
    // Back from the newest, while some current target is still listed as it is now
    // (a target's provenance is the oldest version of that unbroken run).
    let mut open: Vec<&String> = current.doc.targets().targets.keys().collect();
    for v in (1..current.doc.version()).rev() {
        if open.is_empty() {
            break;
        }
        let name = format!("{v}.targets.json");
        // A server that has pruned its history ends the review where it ends.
        let Some((bytes, stored)) = api.get_stored(repo, &name)? else {
            break;
        };
        let doc = TargetsDocument::from_slice(&bytes, &format!("{repo} {name}"))?;
        // The server serves each version under its number: another version there
        // would give a target a provenance it does not have.
        if doc.version() != v {
            return Err(Error::Remote {
                what: format!("{repo} {name}"),
                reason: format!("it holds targets version {}", doc.version()),
            });
        }
        open.retain(|t| doc.targets().targets.get(*t) == current.doc.targets().targets.get(*t));
        history.push(Version { doc, stored });
    }
    Ok(Some(review(repo, &current, &history, revoked)))
}
