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
