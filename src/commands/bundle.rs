//! `ceremony bundle-verify`: check a request or export bundle and list it.

use crate::cli::BundleVerifyArgs;
use crate::error::Result;
use crate::transfer::bundle::Bundle;

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
    println!("bundle hash: {}", bundle.hash());
    Ok(())
}
