//! `ceremony verify`: is this root (chain) trustworthy? Prints what it checked.

use crate::cli::VerifyArgs;
use crate::error::{Error, Result};
use crate::inputs::read_root;
use crate::tuf::key::{derived_id, unsupported};
use crate::tuf::time::parse_user_time;
use crate::tuf::verify::{
    ChainOptions, ChainReport, RoleCheck, SignatureStatus, Verified, short, verify_chain,
};
use chrono::Utc;

pub use crate::inputs::{check_named_version, read_root_dir, root_files_in};

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
