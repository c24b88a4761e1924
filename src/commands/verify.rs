//! `ceremony verify`: is this root (chain) trustworthy? Prints what it checked.

use super::read_root;
use crate::cli::VerifyArgs;
use crate::error::{Error, Result};
use crate::tuf::document::RootDocument;
use crate::tuf::key::{derived_id, unsupported};
use crate::tuf::metadata::MetadataError;
use crate::tuf::time::parse_user_time;
use crate::tuf::verify::{
    ChainOptions, ChainReport, RoleCheck, SignatureStatus, Verified, short, verify_chain,
};
use chrono::Utc;
use std::path::{Path, PathBuf};

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

fn describe_check(check: &RoleCheck) -> String {
    let rejected = check
        .signatures
        .iter()
        .filter(|(_, s)| matches!(s, SignatureStatus::Rejected(_)))
        .count();
    let mut s = format!("{} valid, {} required", check.valid.len(), check.threshold);
    if rejected > 0 {
        s.push_str(&format!(", {rejected} signature(s) not counted"));
    }
    s
}

pub fn print_report(report: &Verified<ChainReport>) {
    match report.trusted_start {
        Some(v) => println!("trusted root: version {v} (given with --trusted)"),
        None => println!(
            "no trusted root given: version {} is trusted on first use",
            report.steps.first().map(|s| s.version).unwrap_or(0)
        ),
    }
    for step in &report.steps {
        let prev = step
            .by_previous
            .as_ref()
            .map(|c| {
                format!(
                    "; by version {}'s root keys: {}",
                    step.version - 1,
                    describe_check(c)
                )
            })
            .unwrap_or_default();
        println!(
            "ok  version {} ({}): signed by its own root keys: {}{prev}",
            step.version,
            step.file,
            describe_check(&step.by_self)
        );
    }
    let latest = &report.latest;
    for (keyid, key) in &latest.root().keys {
        if !derived_id(key, keyid, latest.flavour()) {
            println!(
                "note: key ID {keyid} is not derived from its key by a rule we know; \
                 it is taken as given (TAP 12), and its key counts once"
            );
        }
        if let Some(reason) = unsupported(key, latest.flavour()) {
            println!(
                "note: key {}: {reason}; a signature by it counts as none",
                short(keyid)
            );
        }
    }
    println!(
        "trustworthy: {} root version {}, expires {}",
        latest.flavour(),
        latest.version(),
        latest.root().expires
    );
}

pub fn run(args: VerifyArgs) -> Result<()> {
    let trusted = args.trusted.as_deref().map(read_root).transpose()?;
    // A directory is a repository's history: versions before the trusted one are
    // what the client already walked past, and are not read. Files named one by
    // one are checked strictly (an older one is a rollback).
    let from = trusted.as_ref().map(|t| t.version());
    let mut chain = Vec::new();
    for p in &args.files {
        if p.is_dir() {
            let all = root_files_in(p)?.len();
            let docs = read_root_dir(p, from)?;
            if all > docs.len() {
                println!(
                    "skipped {} root version(s) older than the trusted version {}",
                    all - docs.len(),
                    from.unwrap_or(0)
                );
            }
            chain.extend(docs);
        } else {
            chain.push(read_root(p)?);
        }
    }
    let now = match &args.at {
        Some(t) => parse_user_time(t).map_err(Error::Usage)?,
        None => Utc::now(),
    };
    let options = ChainOptions {
        now,
        gun: args.gun.clone(),
    };
    let report = verify_chain(trusted, chain, &options)?;
    print_report(&report);
    Ok(())
}
