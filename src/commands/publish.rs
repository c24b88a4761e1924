//! `ceremony publish` (online machine).

use super::passphrase;
use crate::cli::PublishArgs;
use crate::error::{Error, Result};
use crate::online::keystore::KeyStore;
use crate::online::notary_api::NotaryApi;
use crate::online::publish::{Export, NotaryTarget, TargetsChoice, to_notary, to_tuf_repo};
use std::path::Path;

pub fn run(args: PublishArgs) -> Result<()> {
    if let Some(checkout) = &args.tuf_on_ci {
        let written = crate::online::signing_event::publish_tuf_on_ci(&args.bundle, checkout)?;
        if written.added.is_empty() {
            println!(
                "already there: {} holds every signature of this export; nothing was written",
                checkout.join("metadata/root.json").display()
            );
        } else {
            println!(
                "added the signature(s) of {} to the tuf-on-ci signing event",
                crate::online::signing_event::describe_added(&written.added)
            );
            for f in &written.files {
                println!("wrote {f}");
            }
        }
        for t in &written.thresholds {
            println!("  {}", t.describe());
        }
        println!(
            "commit and push the change with git; tuf-on-ci takes the signing event from there"
        );
        return Ok(());
    }
    let export = Export::open(
        &args.bundle,
        args.expect_bundle.as_deref(),
        args.repository.as_deref(),
    )?;
    println!(
        "export bundle {}: {} ({}), {} file(s), bundle hash {}",
        args.bundle.display(),
        export.repository,
        export.flavour.name(),
        export.bundle.len(),
        export.bundle.hash()
    );
    println!("  transcript hash: {}", export.transcript_hash);
    let published = if let Some(repo) = &args.tuf_repo {
        if export.flavour != crate::tuf::metadata::Flavour::Tuf {
            return Err(Error::Usage(format!(
                "export bundle {} holds Notary metadata; publish it with --notary",
                args.bundle.display()
            )));
        }
        if !args.add_targets.is_empty()
            || !args.keep_targets.is_empty()
            || !args.drop_targets.is_empty()
            || args.keep_all_targets
        {
            return Err(Error::Usage(
                "--add-target, --keep-target, --drop-target and --keep-all-targets are for \
                 Notary; a TUF repository's targets are signed by its own tooling"
                    .into(),
            ));
        }
        to_tuf_repo(&export, repo, args.trusted.as_deref(), args.first_root)?
    } else {
        let url = args
            .notary
            .as_deref()
            .expect("clap requires --notary or --tuf-repo");
        if export.flavour != crate::tuf::metadata::Flavour::Notary {
            return Err(Error::Usage(format!(
                "export bundle {} holds TUF metadata; publish it with --tuf-repo",
                args.bundle.display()
            )));
        }
        let store = args.keystore.as_deref().ok_or_else(|| {
            Error::Usage(
                "--notary needs --keystore DIR: the tagging key re-signs targets.json".into(),
            )
        })?;
        let mut add_targets = Vec::new();
        for pair in &args.add_targets {
            let (name, path) = pair.split_once('=').ok_or_else(|| {
                Error::Usage(format!("--add-target {pair:?} must look like NAME=PATH"))
            })?;
            if name.is_empty() {
                return Err(Error::Usage(format!(
                    "--add-target {pair:?}: the target needs a name"
                )));
            }
            add_targets.push((name.to_owned(), super::read_file(Path::new(path))?));
        }
        let api = NotaryApi::new(url, args.server_ca.as_deref())?;
        let store = KeyStore::new(store);
        let secrets = args.secrets.clone();
        let ask = move || passphrase("the online key store", &secrets, false);
        to_notary(
            &export,
            NotaryTarget {
                api: &api,
                keystore: &store,
                passphrase: &ask,
                trusted: args.trusted.as_deref(),
                first_root: args.first_root,
                add_targets,
                targets_choice: TargetsChoice {
                    keep_all: args.keep_all_targets,
                    keep: args.keep_targets.clone(),
                    drop: args.drop_targets.clone(),
                },
                expires_days: args.expires_days,
            },
        )?
    };
    for line in &published.lines {
        println!("  {line}");
    }
    if published.versions.is_empty() {
        println!("{} already holds this bundle", export.repository);
        return Ok(());
    }
    println!(
        "published root version(s) {} of {}",
        published
            .versions
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        export.repository
    );
    Ok(())
}
