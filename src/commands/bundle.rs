//! `ceremony bundle-verify`: check a request or export bundle and list it.

use crate::cli::BundleVerifyArgs;
use crate::error::{Error, Result};
use crate::online::request::{Request, read_key};
use crate::transfer::bundle::Bundle;
use crate::tuf::key::key_id;
use crate::tuf::metadata::Flavour;

pub fn verify(args: BundleVerifyArgs) -> Result<()> {
    let bundle = Bundle::open(&args.bundle, &args.kind)?;
    let m = bundle.manifest();
    println!(
        "{} bundle {}: {} file(s) match the manifest, nothing extra",
        m.kind,
        args.bundle.display(),
        bundle.len()
    );
    println!("  flavour: {}", m.flavour);
    match m.repositories.as_slice() {
        [one] => println!("  repository: {one}"),
        many => {
            let shown: Vec<&str> = many.iter().take(5).map(String::as_str).collect();
            println!(
                "  repositories: {} ({}{})",
                many.len(),
                shown.join(", "),
                if many.len() > shown.len() {
                    ", …"
                } else {
                    ""
                }
            );
        }
    }
    if let Some(c) = &m.ceremony {
        println!("  ceremony: {} ({})", c.name, c.kind);
        println!("  transcript hash: {}", c.transcript_hash);
    }
    for f in bundle.entries() {
        println!("  {}  {:>8}  {}", f.sha256, f.size, f.path);
    }
    if m.kind == "export" {
        check_approved_script(&bundle)?;
    }
    // A one-repository request: the key IDs it carries, in full, so they can be
    // compared with the incident ticket before the bundle crosses the air gap.
    if m.kind == "request" {
        let flavour = match m.flavour.as_str() {
            "notary" => Flavour::Notary,
            _ => Flavour::Tuf,
        };
        let request = Request::open(&args.bundle)?;
        if let Ok(one) = request.single() {
            for (role, path) in &one.keys {
                let key =
                    read_key(&super::read_file(path)?, flavour).map_err(|reason| Error::Read {
                        path: path.display().to_string(),
                        reason,
                    })?;
                println!("  {role} key: {}", key_id(&key, flavour));
            }
            for id in &one.revoke {
                println!("  to remove from targets: {id}");
            }
        }
    }
    println!("bundle hash: {}", bundle.hash());
    Ok(())
}

/// An export's `script.toml` must be the script its transcript says was approved:
/// the SHA-256 the `begin` entry records, and the parameters set over it, shown.
fn check_approved_script(bundle: &Bundle) -> Result<()> {
    use crate::ceremony::engine::APPROVED_SCRIPT;
    use sha2::Digest;
    use std::io::BufRead;
    if !bundle.contains(APPROVED_SCRIPT) || !bundle.contains("transcript.jsonl") {
        return Ok(());
    }
    let script = bundle.read(APPROVED_SCRIPT)?;
    let actual = hex::encode(sha2::Sha256::digest(&script));
    let mut first = String::new();
    std::io::BufReader::new(std::io::Read::take(
        bundle.reader("transcript.jsonl")?,
        16 << 20,
    ))
    .read_line(&mut first)
    .map_err(|e| Error::Read {
        path: bundle.dir().join("transcript.jsonl").display().to_string(),
        reason: e.to_string(),
    })?;
    let begin: serde_json::Value = serde_json::from_str(&first).unwrap_or_default();
    let recorded = begin
        .pointer("/data/approved_script_sha256")
        .and_then(serde_json::Value::as_str);
    if recorded != Some(actual.as_str()) {
        return Err(Error::Usage(format!(
            "export bundle {}: {APPROVED_SCRIPT} is not the script its transcript records as \
             approved (SHA-256 {actual}, the transcript says {}): do not rely on this bundle",
            bundle.dir().display(),
            recorded.unwrap_or("nothing")
        )));
    }
    let overrides = begin
        .pointer("/data/overrides")
        .and_then(serde_json::Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    println!(
        "  script: {APPROVED_SCRIPT}, the approved script the transcript records (SHA-256 {actual}){}",
        if overrides.is_empty() {
            String::new()
        } else {
            format!(", with parameters set over it: {overrides}")
        }
    );
    Ok(())
}
